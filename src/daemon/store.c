/* store.c - task records in SQLite (see store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "poky/clock.h"
#include "poky/log.h"
#include "poky/store.h"
#include "poky/str.h"

#define SCHEMA_VERSION 4
#define BUSY_TIMEOUT_MS 10000
/* The WAL is cut back to this when a checkpoint resets it: a burst (or a
 * long read holding checkpoints back, such as a backup) may grow it, and
 * without a limit the file keeps its largest size forever. */
#define WAL_SIZE_LIMIT "33554432"
/* Pages store_compact gives back to the file system per call (4 KiB each):
 * bounded, like the prune batches, so the writer's transaction stays short. */
#define VACUUM_PAGES_MAX 2048
/* How long a checkpoint after a prune waits for readers: it runs on the
 * writer thread, whose queue waits meanwhile; busy means "next time". */
#define CHECKPOINT_BUSY_MS 200
/* The change log (events) keeps this many entries: enough for a watcher
 * to reconnect after minutes of a busy day; older ids answer "re-list". */
#define EVENTS_KEEP 20000
/* Pruned once every this many events, in the writer's transaction. */
#define EVENTS_PRUNE_EVERY 500

struct store {
	char *path;
	pthread_key_t key;      /* this thread's sqlite3 * (reads) */
	pthread_mutex_t lock;
	sqlite3 **all;          /* every connection opened, to close them */
	size_t n_all, cap_all;
	/* Group commit: every write goes to one writer thread, which runs all
	 * the writes waiting at that moment in one transaction - one fsync
	 * for many tasks, and no two connections fighting for the lock. */
	pthread_t writer;
	bool writer_ok;
	sqlite3 *wdb;
	/* The writer's statements, prepared once (its thread only). */
	sqlite3_stmt *w_insert, *w_update, *w_delete, *w_prune, *w_event;
	int64_t events_since_prune;     /* writer thread only */
	/* Told of every committed change (store_set_notify); set before any
	 * write, read by the writer only. */
	store_notify_fn notify;
	void *notify_ud;
	pthread_mutex_t wlock;
	pthread_cond_t wwake;   /* the writer: work arrived */
	struct wop *whead, *wtail;
	bool wstop;
	/* Deferred updates (store_update_deferred): numbered as they are
	 * queued (under wlock); the writer sets def_done to the highest
	 * number of each batch it has finished, committed or not.  A read
	 * waits until def_done reaches the def_queued it saw when it began:
	 * the writer takes the queue in order, so every deferred write queued
	 * before the read is then in the database (or has failed, and was
	 * logged).  With none pending the two are equal and a read waits for
	 * nothing, not even the lock. */
	_Atomic uint64_t def_queued, def_done;
	_Atomic uint64_t def_failed;
	pthread_cond_t wdone;   /* readers: def_done moved */
};

enum wop_kind { WOP_INSERT, WOP_UPDATE, WOP_DELETE, WOP_PRUNE, WOP_COMPACT };

static void *writer_main(void *p);
static void await_deferred(struct store *s);

/* One write, waiting in the queue; lives on the caller's stack, or (a
 * deferred update) on the heap with its own copy of the task and status,
 * freed by the writer. */
struct wop {
	enum wop_kind kind;
	const struct task *ti;          /* insert */
	struct task *tu;                /* update */
	const char *expect;
	const char *id;                 /* delete */
	const char (*ids)[TASK_ID_LEN + 1];     /* prune: candidates */
	size_t n_ids;
	double cutoff;                  /* prune: finished before this */
	size_t pruned;                  /* prune: rows deleted */
	double read_at;                 /* update: t->updated_at before */
	int64_t event_seq;              /* insert/update: its change log entry */
	enum poky_err rc;
	struct poky_error err;
	uint64_t def_seq;               /* deferred: its number; 0 otherwise */
	struct task def_task;           /* deferred: tu points here */
	char def_expect[16];            /* deferred: expect points here */
	/* Posted once its batch is committed (or failed): each caller is
	 * woken alone, not every waiter on one condition, who would then all
	 * queue for the queue's mutex again. */
	sem_t done;
	struct wop *next;
};

/* The columns, in one place: the order here is the order of every SELECT
 * and of the bindings of INSERT and UPDATE. */
#define COLUMNS \
	"id, template, launcher, status, parameters, idem_key, idem_owner, " \
	"request_hash, client_token, created_at, updated_at, started_at, " \
	"finished_at, exit_code, stop_code, reason, ecs_task_arn, ecs_cluster, " \
	"ecs_last_status, ecs_stopped_reason, capacity_provider, local_pid, " \
	"local_start_ticks, timeout_seconds, callback_url, callback_state, " \
	"callback_attempts, callback_next_at, created_by, cancel_requested_by, " \
	"container_id, container_image, reason_code, launch_pending, timed_out, " \
	"result, labels, ecs_log_group, ecs_log_stream"
#define N_COLUMNS 39

#define STR_(x) #x
#define STR(x) STR_(x)

/* What a record must be to be pruned (?1: the cutoff): finished before the
 * cutoff - updated_at when finished_at is unset, so no final record is kept
 * forever for lack of it - and no webhook still to deliver. */
#define PRUNABLE \
	"status IN ('succeeded','failed','cancelled','lost') AND " \
	"COALESCE(finished_at, updated_at) < ?1 AND " \
	"(callback_state IS NULL OR callback_state <> 'pending')"

static const char schema_v1[] =
	"CREATE TABLE tasks ("
	" id TEXT PRIMARY KEY,"
	" template TEXT NOT NULL,"
	" launcher TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" parameters TEXT NOT NULL,"
	" idem_key TEXT, idem_owner TEXT, request_hash TEXT,"
	" client_token TEXT NOT NULL,"
	" created_at REAL NOT NULL, updated_at REAL NOT NULL,"
	" started_at REAL, finished_at REAL,"
	" exit_code INTEGER, stop_code TEXT, reason TEXT,"
	" ecs_task_arn TEXT, ecs_cluster TEXT, ecs_last_status TEXT,"
	" ecs_stopped_reason TEXT, capacity_provider TEXT,"
	" local_pid INTEGER, local_start_ticks INTEGER,"
	" timeout_seconds INTEGER,"
	" callback_url TEXT, callback_state TEXT,"
	" callback_attempts INTEGER NOT NULL DEFAULT 0, callback_next_at REAL,"
	" created_by TEXT, cancel_requested_by TEXT);"
	"CREATE UNIQUE INDEX tasks_idem ON tasks(idem_owner, idem_key)"
	" WHERE idem_key IS NOT NULL;"
	"CREATE INDEX tasks_status ON tasks(status, id);"
	"CREATE INDEX tasks_template ON tasks(template, id);"
	"CREATE INDEX tasks_callback ON tasks(callback_state, callback_next_at)"
	" WHERE callback_state = 'pending';";

/* v2: the Docker launcher's container.  Added as columns, so a v1 database
 * keeps its rows (NULL for them). */
static const char *const schema_v2_columns[] = { "container_id TEXT",
	"container_image TEXT", NULL };

/* v3: the lifecycle rule's reason code; the launch-pending and timed-out
 * flags (once hidden in the reason's text); the worker's result line; the
 * record's labels (a JSON object of strings); an ECS task's CloudWatch log
 * group and stream. */
static const char *const schema_v3_columns[] = { "reason_code TEXT",
	"launch_pending INTEGER NOT NULL DEFAULT 0",
	"timed_out INTEGER NOT NULL DEFAULT 0", "result TEXT", "labels TEXT",
	"ecs_log_group TEXT", "ecs_log_stream TEXT", NULL };

/* v4: the change log behind GET /events and the watches: one row per
 * record written, in the same transaction as the write, so an event id
 * never names a change that did not commit. */
static const char schema_v4[] =
	"CREATE TABLE IF NOT EXISTS events ("
	" seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	" task_id TEXT NOT NULL, template TEXT NOT NULL,"
	" status TEXT NOT NULL, ts REAL NOT NULL);";

void
task_init(struct task *t)
{
	memset(t, 0, sizeof(*t));
}

void
task_cleanup(struct task *t)
{
	free(t->parameters);
	free(t->idem_key);
	free(t->idem_owner);
	free(t->request_hash);
	free(t->client_token);
	free(t->stop_code);
	free(t->reason);
	free(t->ecs_task_arn);
	free(t->ecs_cluster);
	free(t->ecs_last_status);
	free(t->ecs_stopped_reason);
	free(t->capacity_provider);
	free(t->callback_url);
	free(t->callback_state);
	free(t->created_by);
	free(t->cancel_requested_by);
	free(t->container_id);
	free(t->container_image);
	free(t->reason_code);
	free(t->result);
	free(t->labels);
	free(t->ecs_log_group);
	free(t->ecs_log_stream);
	memset(t, 0, sizeof(*t));
}

bool
task_status_final(const char *s)
{
	return strcmp(s, TS_SUCCEEDED) == 0 || strcmp(s, TS_FAILED) == 0 ||
	    strcmp(s, TS_CANCELLED) == 0 || strcmp(s, TS_LOST) == 0;
}

static enum poky_err
db_error(sqlite3 *db, struct poky_error *e, const char *what)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
	enum poky_err rc = POKY_ERR_IO;

	/* A full disk or a locked database is the operator's to fix, and
	 * clears: tell callers it is worth retrying (503). */
	if (code == SQLITE_FULL || code == SQLITE_BUSY || code == SQLITE_LOCKED ||
	    code == SQLITE_IOERR || code == SQLITE_CANTOPEN)
		rc = POKY_ERR_TRANSIENT;
	poky_error_set(e, rc, "task store: %s: %s", what,
	    db ? sqlite3_errmsg(db) : "no connection");
	if (e != NULL)
		e->retryable = rc == POKY_ERR_TRANSIENT;
	return rc;
}

static int
exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static sqlite3 *
db_open(struct store *s, struct poky_error *e)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		db_error(db, e, "open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* A new database frees pages to a list that store_compact gives back
	 * to the file system (PRAGMA incremental_vacuum).  Only possible
	 * before the file's first page is written - so before journal_mode,
	 * which writes it; on an older database (auto_vacuum NONE: freed pages
	 * are reused, the file never shrinks) this is a no-op until a VACUUM
	 * with pokyd stopped (README, "Retention and backup").
	 * WAL lets readers run beside the writer; FULL makes each commit
	 * durable before we answer. */
	if (exec(db, "PRAGMA auto_vacuum=INCREMENTAL") != SQLITE_OK ||
	    exec(db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    exec(db, "PRAGMA synchronous=FULL") != SQLITE_OK ||
	    exec(db, "PRAGMA journal_size_limit=" WAL_SIZE_LIMIT) != SQLITE_OK ||
	    exec(db, "PRAGMA foreign_keys=ON") != SQLITE_OK) {
		db_error(db, e, "configure");
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static sqlite3 *
conn(struct store *s, struct poky_error *e)
{
	sqlite3 *db = pthread_getspecific(s->key);

	if (db != NULL)
		return db;
	db = db_open(s, e);
	if (db == NULL)
		return NULL;
	pthread_mutex_lock(&s->lock);
	if (s->n_all == s->cap_all) {
		size_t cap = s->cap_all ? s->cap_all * 2 : 16;
		sqlite3 **v = realloc(s->all, cap * sizeof(sqlite3 *));

		if (v == NULL) {
			pthread_mutex_unlock(&s->lock);
			sqlite3_close(db);
			poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
			return NULL;
		}
		s->all = v;
		s->cap_all = cap;
	}
	s->all[s->n_all++] = db;
	pthread_mutex_unlock(&s->lock);
	pthread_setspecific(s->key, db);
	return db;
}

static bool
has_column(sqlite3 *db, const char *col)
{
	char sql[128];
	sqlite3_stmt *st = NULL;
	bool ok;

	snprintf(sql, sizeof(sql), "SELECT %s FROM tasks LIMIT 0", col);
	ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
	sqlite3_finalize(st);
	return ok;
}

/* ADD COLUMN each one not there yet ("name TYPE ..."). */
static int
add_columns(sqlite3 *db, const char *const *cols)
{
	char sql[160], name[64];
	int r = SQLITE_OK;

	for (int i = 0; cols[i] && r == SQLITE_OK; i++) {
		str_copy(name, sizeof(name), cols[i]);
		name[strcspn(name, " ")] = '\0';
		if (has_column(db, name))
			continue;
		snprintf(sql, sizeof(sql), "ALTER TABLE tasks ADD COLUMN %s", cols[i]);
		r = exec(db, sql);
	}
	return r;
}

/* v2 -> v3: the flags that lived in the reason's text become columns. */
static int
migrate_v3(sqlite3 *db)
{
	int r = add_columns(db, schema_v3_columns);

	if (r == SQLITE_OK)
		r = exec(db, "UPDATE tasks SET launch_pending = 1 "
		    "WHERE reason LIKE 'launch pending: %' AND ecs_task_arn IS NULL");
	if (r == SQLITE_OK)
		r = exec(db, "UPDATE tasks SET timed_out = 1 "
		    "WHERE reason LIKE 'timeout after %'");
	return r;
}

static enum poky_err
migrate(sqlite3 *db, struct poky_error *e)
{
	sqlite3_stmt *st = NULL;
	int version = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, e, "read schema version");
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "task store schema %d is newer than this pokyd (%d)", version,
		    SCHEMA_VERSION);
	if (version == SCHEMA_VERSION)
		return POKY_OK;
	/* One transaction per step: a crash mid-migration leaves the old
	 * version intact. */
	if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return db_error(db, e, "migrate");
	if (version < 1 && exec(db, schema_v1) != SQLITE_OK) {
		db_error(db, e, "create schema");
		exec(db, "ROLLBACK");
		return POKY_ERR_IO;
	}
	if (version < 2 && add_columns(db, schema_v2_columns) != SQLITE_OK) {
		db_error(db, e, "migrate to schema 2");
		exec(db, "ROLLBACK");
		return POKY_ERR_IO;
	}
	if (version < 3 && migrate_v3(db) != SQLITE_OK) {
		db_error(db, e, "migrate to schema 3");
		exec(db, "ROLLBACK");
		return POKY_ERR_IO;
	}
	if (version < 4 && exec(db, schema_v4) != SQLITE_OK) {
		db_error(db, e, "migrate to schema 4");
		exec(db, "ROLLBACK");
		return POKY_ERR_IO;
	}
	if (exec(db, "PRAGMA user_version=" STR(SCHEMA_VERSION)) != SQLITE_OK ||
	    exec(db, "COMMIT") != SQLITE_OK) {
		db_error(db, e, "migrate");
		exec(db, "ROLLBACK");
		return POKY_ERR_IO;
	}
	return POKY_OK;
}

struct store *
store_open(const char *dir, struct poky_error *e)
{
	struct store *s;
	sqlite3 *db;
	size_t n = strlen(dir) + sizeof("/poky.db");

	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		poky_error_set(e, POKY_ERR_IO, "state_dir %s: %s", dir, strerror(errno));
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = malloc(n)) == NULL) {
		free(s);
		poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
		return NULL;
	}
	snprintf(s->path, n, "%s/poky.db", dir);
	pthread_mutex_init(&s->lock, NULL);
	if (pthread_key_create(&s->key, NULL) != 0) {
		free(s->path);
		free(s);
		poky_error_set(e, POKY_ERR_NOMEM, "no thread key");
		return NULL;
	}
	pthread_mutex_init(&s->wlock, NULL);
	pthread_cond_init(&s->wwake, NULL);
	pthread_cond_init(&s->wdone, NULL);
	db = conn(s, e);
	if (db == NULL || migrate(db, e) != POKY_OK) {
		store_close(s);
		return NULL;
	}
	s->wdb = db_open(s, e);
	if (s->wdb == NULL) {
		store_close(s);
		return NULL;
	}
	if (pthread_create(&s->writer, NULL, writer_main, s) != 0) {
		poky_error_set(e, POKY_ERR_NOMEM, "cannot start the store's writer");
		store_close(s);
		return NULL;
	}
	s->writer_ok = true;
	return s;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->writer_ok) {
		/* Whatever is queued is written before the writer stops. */
		pthread_mutex_lock(&s->wlock);
		s->wstop = true;
		pthread_cond_signal(&s->wwake);
		pthread_mutex_unlock(&s->wlock);
		pthread_join(s->writer, NULL);
	}
	sqlite3_finalize(s->w_insert);
	sqlite3_finalize(s->w_update);
	sqlite3_finalize(s->w_delete);
	sqlite3_finalize(s->w_prune);
	sqlite3_finalize(s->w_event);
	sqlite3_close(s->wdb);
	pthread_mutex_destroy(&s->wlock);
	pthread_cond_destroy(&s->wwake);
	pthread_cond_destroy(&s->wdone);
	for (size_t i = 0; i < s->n_all; i++)
		sqlite3_close(s->all[i]);
	free(s->all);
	pthread_key_delete(s->key);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

bool
store_writable(struct store *s)
{
	sqlite3 *db = conn(s, NULL);

	/* An empty write transaction takes the write lock and checks the
	 * file is writable without changing anything. */
	if (db == NULL || exec(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return false;
	return exec(db, "ROLLBACK") == SQLITE_OK;
}

/* ---- binding and reading -------------------------------------------------- */

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static void
bind_time(sqlite3_stmt *st, int i, double v)
{
	if (v <= 0)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_double(st, i, v);
}

/* Bind all N_COLUMNS fields starting at parameter 1, in COLUMNS order. */
static void
bind_task(sqlite3_stmt *st, const struct task *t)
{
	int i = 1;

	bind_text(st, i++, t->id);
	bind_text(st, i++, t->template_name);
	bind_text(st, i++, launcher_kind_name(t->launcher));
	bind_text(st, i++, t->status);
	bind_text(st, i++, t->parameters ? t->parameters : "{}");
	bind_text(st, i++, t->idem_key);
	bind_text(st, i++, t->idem_owner);
	bind_text(st, i++, t->request_hash);
	bind_text(st, i++, t->client_token ? t->client_token : t->id);
	sqlite3_bind_double(st, i++, t->created_at);
	sqlite3_bind_double(st, i++, t->updated_at);
	bind_time(st, i++, t->started_at);
	bind_time(st, i++, t->finished_at);
	if (t->has_exit_code)
		sqlite3_bind_int(st, i++, t->exit_code);
	else
		sqlite3_bind_null(st, i++);
	bind_text(st, i++, t->stop_code);
	bind_text(st, i++, t->reason);
	bind_text(st, i++, t->ecs_task_arn);
	bind_text(st, i++, t->ecs_cluster);
	bind_text(st, i++, t->ecs_last_status);
	bind_text(st, i++, t->ecs_stopped_reason);
	bind_text(st, i++, t->capacity_provider);
	if (t->local_pid > 0)
		sqlite3_bind_int64(st, i++, t->local_pid);
	else
		sqlite3_bind_null(st, i++);
	sqlite3_bind_int64(st, i++, t->local_start_ticks);
	sqlite3_bind_int64(st, i++, t->timeout_seconds);
	bind_text(st, i++, t->callback_url);
	bind_text(st, i++, t->callback_state);
	sqlite3_bind_int(st, i++, t->callback_attempts);
	bind_time(st, i++, t->callback_next_at);
	bind_text(st, i++, t->created_by);
	bind_text(st, i++, t->cancel_requested_by);
	bind_text(st, i++, t->container_id);
	bind_text(st, i++, t->container_image);
	bind_text(st, i++, t->reason_code);
	sqlite3_bind_int(st, i++, t->launch_pending ? 1 : 0);
	sqlite3_bind_int(st, i++, t->timed_out ? 1 : 0);
	bind_text(st, i++, t->result);
	bind_text(st, i++, t->labels);
	bind_text(st, i++, t->ecs_log_group);
	bind_text(st, i++, t->ecs_log_stream);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v ? strdup((const char *)v) : NULL;
}

static void
col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	str_copy(dst, cap, v ? (const char *)v : "");
}

static void
read_task(sqlite3_stmt *st, struct task *t)
{
	int i = 0;

	task_cleanup(t);
	col_copy(st, i++, t->id, sizeof(t->id));
	col_copy(st, i++, t->template_name, sizeof(t->template_name));
	{
		const unsigned char *v = sqlite3_column_text(st, i++);
		int k = launcher_kind_parse(v ? (const char *)v : "");

		/* A name this pokyd does not know is kept as ECS's never
		 * is: the store's CHECK-free column only ever holds ours. */
		t->launcher = k >= 0 ? (enum launcher_kind)k : LAUNCHER_ECS;
	}
	col_copy(st, i++, t->status, sizeof(t->status));
	t->parameters = col_dup(st, i++);
	t->idem_key = col_dup(st, i++);
	t->idem_owner = col_dup(st, i++);
	t->request_hash = col_dup(st, i++);
	t->client_token = col_dup(st, i++);
	t->created_at = sqlite3_column_double(st, i++);
	t->updated_at = sqlite3_column_double(st, i++);
	t->started_at = sqlite3_column_double(st, i++);
	t->finished_at = sqlite3_column_double(st, i++);
	t->has_exit_code = sqlite3_column_type(st, i) != SQLITE_NULL;
	t->exit_code = sqlite3_column_int(st, i++);
	t->stop_code = col_dup(st, i++);
	t->reason = col_dup(st, i++);
	t->ecs_task_arn = col_dup(st, i++);
	t->ecs_cluster = col_dup(st, i++);
	t->ecs_last_status = col_dup(st, i++);
	t->ecs_stopped_reason = col_dup(st, i++);
	t->capacity_provider = col_dup(st, i++);
	t->local_pid = (long)sqlite3_column_int64(st, i++);
	t->local_start_ticks = sqlite3_column_int64(st, i++);
	t->timeout_seconds = (long)sqlite3_column_int64(st, i++);
	t->callback_url = col_dup(st, i++);
	t->callback_state = col_dup(st, i++);
	t->callback_attempts = sqlite3_column_int(st, i++);
	t->callback_next_at = sqlite3_column_double(st, i++);
	t->created_by = col_dup(st, i++);
	t->cancel_requested_by = col_dup(st, i++);
	t->container_id = col_dup(st, i++);
	t->container_image = col_dup(st, i++);
	t->reason_code = col_dup(st, i++);
	t->launch_pending = sqlite3_column_int(st, i++) != 0;
	t->timed_out = sqlite3_column_int(st, i++) != 0;
	t->result = col_dup(st, i++);
	t->labels = col_dup(st, i++);
	t->ecs_log_group = col_dup(st, i++);
	t->ecs_log_stream = col_dup(st, i++);
}

/* ---- operations ----------------------------------------------------------- */

/* A writer statement: prepared on first use and kept in *cache (parsing the
 * 32-column INSERT and UPDATE cost more than running them).  NULL when it
 * cannot be prepared, with the error on db. */
static sqlite3_stmt *
cached_stmt(sqlite3 *db, sqlite3_stmt **cache, const char *sql)
{
	if (*cache == NULL && sqlite3_prepare_v3(db, sql, -1,
	    SQLITE_PREPARE_PERSISTENT, cache, NULL) != SQLITE_OK) {
		sqlite3_finalize(*cache);
		*cache = NULL;
	}
	return *cache;
}

/* Ready a cached statement for its next use (keeps no bound values). */
static void
release_stmt(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static enum poky_err
do_insert(sqlite3 *db, sqlite3_stmt **cache, const struct task *t,
	  struct poky_error *e)
{
	sqlite3_stmt *st;
	enum poky_err rc = POKY_OK;
	int r;

	st = cached_stmt(db, cache, "INSERT INTO tasks (" COLUMNS ") VALUES "
	    "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
	    "?,?,?,?,?,?,?)");
	if (st == NULL)
		return db_error(db, e, "insert");
	bind_task(st, t);
	r = sqlite3_step(st);
	if (r == SQLITE_CONSTRAINT)
		rc = poky_error_set(e, POKY_ERR_CONFLICT, "task already exists");
	else if (r != SQLITE_DONE)
		rc = db_error(db, e, "insert");
	release_stmt(st);
	return rc;
}

static enum poky_err
get_one(struct store *s, const char *where, const char *a, const char *b,
	struct task *t, struct poky_error *e)
{
	sqlite3 *db = conn(s, e);
	sqlite3_stmt *st = NULL;
	char sql[1024];
	enum poky_err rc;
	int r;

	if (db == NULL)
		return e ? e->code : POKY_ERR_IO;
	await_deferred(s);
	snprintf(sql, sizeof(sql), "SELECT " COLUMNS " FROM tasks WHERE %s", where);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(db, e, "read");
	bind_text(st, 1, a);
	if (b != NULL)
		bind_text(st, 2, b);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		read_task(st, t);
		rc = POKY_OK;
	} else if (r == SQLITE_DONE) {
		rc = poky_error_set(e, POKY_ERR_NOTFOUND, "no such task");
	} else {
		rc = db_error(db, e, "read");
	}
	sqlite3_finalize(st);
	return rc;
}

enum poky_err
store_get(struct store *s, const char *id, struct task *t, struct poky_error *e)
{
	return get_one(s, "id = ?1", id, NULL, t, e);
}

enum poky_err
store_get_by_idem(struct store *s, const char *owner, const char *key,
		  struct task *t, struct poky_error *e)
{
	return get_one(s, "idem_owner = ?1 AND idem_key = ?2", owner, key, t, e);
}

enum poky_err
store_oldest(struct store *s, const char *status, const char *template_name,
	     struct task *t, struct poky_error *e)
{
	return get_one(s, "status = ?1 AND template = ?2 ORDER BY id LIMIT 1",
	    status, template_name, t, e);
}

/* The version a row read at read_at gets when it is written now: updated_at
 * is also the record's version, strictly increasing, so two writes in one
 * millisecond still differ. */
static double
next_version(double read_at)
{
	double now = clock_real_ms();

	return now > read_at ? now : read_at + 0.001;
}

/* t->updated_at is already the new version; read_at the one t was read
 * with. */
static enum poky_err
do_update(sqlite3 *db, sqlite3_stmt **cache, const struct task *t,
	  const char *expect_status, double read_at, struct poky_error *e)
{
	sqlite3_stmt *st;
	enum poky_err rc = POKY_OK;

	/* Every row is rewritten whole, so with an expected status the row
	 * must also be the one t was read as; otherwise a writer holding an
	 * older copy (the tracker moving starting -> running) would undo
	 * another's change that kept the status (a cancel request).  Every
	 * column by position; ?40 is the expected status, ?41 the updated_at
	 * it was read with. */
	st = cached_stmt(db, cache, "UPDATE tasks SET (" COLUMNS ") = "
	    "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
	    "?19,?20,?21,?22,?23,?24,?25,?26,?27,?28,?29,?30,?31,?32,?33,?34,"
	    "?35,?36,?37,?38,?39) "
	    "WHERE id = ?1 AND (?40 IS NULL OR (status = ?40 AND updated_at = ?41))");
	if (st == NULL)
		return db_error(db, e, "update");
	bind_task(st, t);
	bind_text(st, N_COLUMNS + 1, expect_status);
	sqlite3_bind_double(st, N_COLUMNS + 2, read_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(db, e, "update");
	else if (sqlite3_changes(db) == 0)
		rc = poky_error_set(e, POKY_ERR_CONFLICT,
		    "task changed underneath the update");
	release_stmt(st);
	return rc;
}

static enum poky_err
do_delete(sqlite3 *db, sqlite3_stmt **cache, const char *id,
	  struct poky_error *e)
{
	sqlite3_stmt *st;
	enum poky_err rc = POKY_OK;

	st = cached_stmt(db, cache, "DELETE FROM tasks WHERE id = ?1");
	if (st == NULL)
		return db_error(db, e, "delete");
	bind_text(st, 1, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(db, e, "delete");
	release_stmt(st);
	return rc;
}

/* Delete those of op's ids still prunable: the condition is checked again
 * here, in the writer's transaction, so a record that changed since it was
 * chosen (a webhook queued again) stays. */
static enum poky_err
do_prune(sqlite3 *db, sqlite3_stmt **cache, struct wop *op,
	 struct poky_error *e)
{
	sqlite3_stmt *st;
	enum poky_err rc = POKY_OK;

	op->pruned = 0;
	st = cached_stmt(db, cache, "DELETE FROM tasks WHERE " PRUNABLE
	    " AND id = ?2");
	if (st == NULL)
		return db_error(db, e, "prune");
	for (size_t i = 0; i < op->n_ids && rc == POKY_OK; i++) {
		sqlite3_bind_double(st, 1, op->cutoff);
		bind_text(st, 2, op->ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = db_error(db, e, "prune");
		else
			op->pruned += (size_t)sqlite3_changes(db);
		release_stmt(st);
	}
	return rc;
}

/* ---- the writer ------------------------------------------------------------ */

/* The change log entry for a record just written (in the same
 * transaction, inside the op's savepoint: a failure undoes the write too,
 * as a change nobody is told of would leave watchers behind); pruned to
 * EVENTS_KEEP now and then. */
static enum poky_err
log_event(struct store *s, const struct task *t, struct wop *op)
{
	sqlite3_stmt *st;
	enum poky_err rc = POKY_OK;

	st = cached_stmt(s->wdb, &s->w_event, "INSERT INTO events (task_id, "
	    "template, status, ts) VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return db_error(s->wdb, &op->err, "change log");
	bind_text(st, 1, t->id);
	bind_text(st, 2, t->template_name);
	bind_text(st, 3, t->status);
	sqlite3_bind_double(st, 4, t->updated_at);
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = db_error(s->wdb, &op->err, "change log");
	else
		op->event_seq = sqlite3_last_insert_rowid(s->wdb);
	release_stmt(st);
	if (rc == POKY_OK && ++s->events_since_prune >= EVENTS_PRUNE_EVERY) {
		char sql[96];

		s->events_since_prune = 0;
		snprintf(sql, sizeof(sql), "DELETE FROM events WHERE seq <= %lld",
		    (long long)(op->event_seq - EVENTS_KEEP));
		exec(s->wdb, sql);      /* best effort: the log is only longer */
	}
	return rc;
}

static void
run_op(struct store *s, struct wop *op)
{
	sqlite3 *db = s->wdb;

	op->event_seq = 0;

	switch (op->kind) {
	case WOP_INSERT:
		exec(db, "SAVEPOINT op");
		op->rc = do_insert(db, &s->w_insert, op->ti, &op->err);
		if (op->rc == POKY_OK)
			op->rc = log_event(s, op->ti, op);
		if (op->rc != POKY_OK)
			exec(db, "ROLLBACK TO op");
		exec(db, "RELEASE op");
		break;
	case WOP_UPDATE:
		/* A deferred update got its version when it was queued (the
		 * caller answered with it). */
		if (op->def_seq == 0) {
			op->read_at = op->tu->updated_at;
			op->tu->updated_at = next_version(op->read_at);
		}
		exec(db, "SAVEPOINT op");
		op->rc = do_update(db, &s->w_update, op->tu, op->expect,
		    op->read_at, &op->err);
		if (op->rc == POKY_OK)
			op->rc = log_event(s, op->tu, op);
		if (op->rc != POKY_OK)
			exec(db, "ROLLBACK TO op");
		exec(db, "RELEASE op");
		if (op->rc != POKY_OK && op->def_seq == 0)
			op->tu->updated_at = op->read_at;
		break;
	case WOP_DELETE:
		op->rc = do_delete(db, &s->w_delete, op->id, &op->err);
		break;
	case WOP_PRUNE:
		op->rc = do_prune(db, &s->w_prune, op, &op->err);
		break;
	case WOP_COMPACT:
		/* Freed pages move to the end of the file in this transaction;
		 * the checkpoint after the commit (checkpoint_after) truncates
		 * it.  A no-op where auto_vacuum is NONE. */
		if (exec(db, "PRAGMA incremental_vacuum(" STR(VACUUM_PAGES_MAX)
		    ")") != SQLITE_OK)
			op->rc = db_error(db, &op->err, "incremental_vacuum");
		break;
	}
}

/* After a commit that had a WOP_COMPACT: copy the WAL into the database
 * and truncate it to zero bytes.  Outside any transaction (a checkpoint
 * can't run inside one), on the writer thread, so no write of ours
 * competes with it; readers make it wait CHECKPOINT_BUSY_MS at most, then
 * it gives up until the next prune (SQLite's own passive checkpoints go on
 * meanwhile). */
static void
checkpoint_after(struct store *s, struct wop *batch)
{
	struct wop *op;
	int r, n_log = 0, n_done = 0;

	for (op = batch; op != NULL && op->kind != WOP_COMPACT; op = op->next)
		;
	if (op == NULL || op->rc != POKY_OK)
		return;
	sqlite3_busy_timeout(s->wdb, CHECKPOINT_BUSY_MS);
	r = sqlite3_wal_checkpoint_v2(s->wdb, NULL, SQLITE_CHECKPOINT_TRUNCATE,
	    &n_log, &n_done);
	sqlite3_busy_timeout(s->wdb, BUSY_TIMEOUT_MS);
	if (r != SQLITE_OK)
		op->rc = db_error(s->wdb, &op->err, "wal_checkpoint(TRUNCATE)");
}

/* A batch whose commit failed: nothing of it happened. */
static void
fail_batch(struct wop *batch, sqlite3 *db, const char *what)
{
	for (struct wop *op = batch; op != NULL; op = op->next) {
		if (op->rc == POKY_OK && op->kind == WOP_UPDATE && op->def_seq == 0)
			op->tu->updated_at = op->read_at;
		if (op->rc == POKY_OK || op->rc == POKY_ERR_CONFLICT)
			op->rc = db_error(db, &op->err, what);
	}
}

/* A deferred update is done: nobody waits for its result, so a failure is
 * told here, loudly - the caller has already answered as if it had been
 * stored.  The row keeps what it had before (see store.h). */
static void
finish_deferred(struct store *s, struct wop *op)
{
	if (op->rc != POKY_OK) {
		atomic_fetch_add(&s->def_failed, 1);
		log_errorx("task %s: deferred update not stored (%s)%s%s; the "
		    "record keeps its previous state", op->def_task.id,
		    op->err.message, op->def_task.ecs_task_arn ? "; ECS task " : "",
		    op->def_task.ecs_task_arn ? op->def_task.ecs_task_arn : "");
	}
	task_cleanup(&op->def_task);
	free(op);
}

/* After a commit: tell the watchers, before any waiting caller is
 * released (so a client answered after its write finds its watch told). */
static void
notify_batch(struct store *s, struct wop *batch)
{
	if (s->notify == NULL)
		return;
	for (struct wop *op = batch; op != NULL; op = op->next) {
		const struct task *t = op->kind == WOP_INSERT ? op->ti : op->tu;

		if (op->rc == POKY_OK && op->event_seq > 0 && t != NULL)
			s->notify(s->notify_ud, t->id, op->event_seq);
	}
}

static void *
writer_main(void *p)
{
	struct store *s = p;

	pthread_mutex_lock(&s->wlock);
	for (;;) {
		struct wop *batch;
		uint64_t last_def = 0;

		while (s->whead == NULL && !s->wstop)
			pthread_cond_wait(&s->wwake, &s->wlock);
		if (s->whead == NULL)
			break;
		batch = s->whead;
		s->whead = s->wtail = NULL;
		pthread_mutex_unlock(&s->wlock);

		if (exec(s->wdb, "BEGIN IMMEDIATE") != SQLITE_OK) {
			fail_batch(batch, s->wdb, "begin");
		} else {
			/* A failing statement undoes only itself: the others
			 * of the batch still commit. */
			for (struct wop *op = batch; op != NULL; op = op->next)
				run_op(s, op);
			if (exec(s->wdb, "COMMIT") != SQLITE_OK) {
				fail_batch(batch, s->wdb, "commit");
				exec(s->wdb, "ROLLBACK");
			} else {
				checkpoint_after(s, batch);
				notify_batch(s, batch);
			}
		}

		for (struct wop *op = batch, *next; op != NULL; op = next) {
			next = op->next;
			if (op->def_seq != 0) {
				last_def = op->def_seq;
				finish_deferred(s, op);
			} else {
				sem_post(&op->done);    /* op may be gone after this */
			}
		}
		pthread_mutex_lock(&s->wlock);
		if (last_def != 0) {
			atomic_store(&s->def_done, last_def);
			pthread_cond_broadcast(&s->wdone);
		}
	}
	pthread_mutex_unlock(&s->wlock);
	return NULL;
}

/* Put op at the tail of the queue and wake the writer (wlock held). */
static void
enqueue(struct store *s, struct wop *op)
{
	op->next = NULL;
	if (s->wtail != NULL)
		s->wtail->next = op;
	else
		s->whead = op;
	s->wtail = op;
	pthread_cond_signal(&s->wwake);
}

/* Before a read: wait for every deferred update queued before it began
 * (read-your-writes for those whose callers answered without waiting). */
static void
await_deferred(struct store *s)
{
	uint64_t want = atomic_load(&s->def_queued);

	if (atomic_load(&s->def_done) >= want)
		return;
	pthread_mutex_lock(&s->wlock);
	while (atomic_load(&s->def_done) < want)
		pthread_cond_wait(&s->wdone, &s->wlock);
	pthread_mutex_unlock(&s->wlock);
}

/* Queue op and wait until its batch is committed (or failed). */
static enum poky_err
submit_op(struct store *s, struct wop *op, struct poky_error *e)
{
	memset(&op->err, 0, sizeof(op->err));
	sem_init(&op->done, 0, 0);
	pthread_mutex_lock(&s->wlock);
	enqueue(s, op);
	pthread_mutex_unlock(&s->wlock);
	while (sem_wait(&op->done) != 0 && errno == EINTR)
		continue;
	sem_destroy(&op->done);
	if (op->rc != POKY_OK && e != NULL)
		*e = op->err;
	return op->rc;
}

enum poky_err
store_insert(struct store *s, const struct task *t, struct poky_error *e)
{
	struct wop op = { .kind = WOP_INSERT, .ti = t };

	return submit_op(s, &op, e);
}

enum poky_err
store_update(struct store *s, struct task *t, const char *expect_status,
	     struct poky_error *e)
{
	struct wop op = { .kind = WOP_UPDATE, .tu = t, .expect = expect_status };

	return submit_op(s, &op, e);
}

static char *
dup_or_null(const char *v, bool *ok)
{
	char *d;

	if (v == NULL)
		return NULL;
	if ((d = strdup(v)) == NULL)
		*ok = false;
	return d;
}

/* A deep copy of src into dst (initialised); false when out of memory. */
static bool
task_copy(struct task *dst, const struct task *src)
{
	bool ok = true;

	*dst = *src;
	dst->parameters = dup_or_null(src->parameters, &ok);
	dst->idem_key = dup_or_null(src->idem_key, &ok);
	dst->idem_owner = dup_or_null(src->idem_owner, &ok);
	dst->request_hash = dup_or_null(src->request_hash, &ok);
	dst->client_token = dup_or_null(src->client_token, &ok);
	dst->stop_code = dup_or_null(src->stop_code, &ok);
	dst->reason = dup_or_null(src->reason, &ok);
	dst->ecs_task_arn = dup_or_null(src->ecs_task_arn, &ok);
	dst->ecs_cluster = dup_or_null(src->ecs_cluster, &ok);
	dst->ecs_last_status = dup_or_null(src->ecs_last_status, &ok);
	dst->ecs_stopped_reason = dup_or_null(src->ecs_stopped_reason, &ok);
	dst->capacity_provider = dup_or_null(src->capacity_provider, &ok);
	dst->callback_url = dup_or_null(src->callback_url, &ok);
	dst->callback_state = dup_or_null(src->callback_state, &ok);
	dst->created_by = dup_or_null(src->created_by, &ok);
	dst->cancel_requested_by = dup_or_null(src->cancel_requested_by, &ok);
	dst->container_id = dup_or_null(src->container_id, &ok);
	dst->container_image = dup_or_null(src->container_image, &ok);
	dst->reason_code = dup_or_null(src->reason_code, &ok);
	dst->result = dup_or_null(src->result, &ok);
	dst->labels = dup_or_null(src->labels, &ok);
	dst->ecs_log_group = dup_or_null(src->ecs_log_group, &ok);
	dst->ecs_log_stream = dup_or_null(src->ecs_log_stream, &ok);
	if (!ok)
		task_cleanup(dst);
	return ok;
}

enum poky_err
store_update_deferred(struct store *s, struct task *t,
		      const char *expect_status, struct poky_error *e)
{
	struct wop *op;
	double read_at = t->updated_at;

	if (expect_status == NULL || strlen(expect_status) >= sizeof(op->def_expect))
		return poky_error_set(e, POKY_ERR_INVALID,
		    "a deferred update needs the status it expects");
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	t->updated_at = next_version(read_at);
	if (!task_copy(&op->def_task, t)) {
		t->updated_at = read_at;
		free(op);
		return poky_error_set(e, POKY_ERR_NOMEM, "out of memory");
	}
	op->kind = WOP_UPDATE;
	op->tu = &op->def_task;
	str_copy(op->def_expect, sizeof(op->def_expect), expect_status);
	op->expect = op->def_expect;
	op->read_at = read_at;
	pthread_mutex_lock(&s->wlock);
	/* Numbered and queued at once, so the queue's order is the numbers'
	 * and def_queued never names a write that is not queued yet. */
	op->def_seq = atomic_load(&s->def_queued) + 1;
	enqueue(s, op);
	atomic_store(&s->def_queued, op->def_seq);
	pthread_mutex_unlock(&s->wlock);
	return POKY_OK;
}

unsigned long long
store_deferred_failures(struct store *s)
{
	return (unsigned long long)atomic_load(&s->def_failed);
}

enum poky_err
store_delete(struct store *s, const char *id, struct poky_error *e)
{
	struct wop op = { .kind = WOP_DELETE, .id = id };

	return submit_op(s, &op, e);
}

static enum poky_err
query_each(struct store *s, const char *sql, const char *const *args,
	   size_t n_args, long limit,
	   int (*fn)(void *ud, const struct task *t), void *ud,
	   struct poky_error *e)
{
	sqlite3 *db = conn(s, e);
	sqlite3_stmt *st = NULL;
	struct task t;
	enum poky_err rc = POKY_OK;
	int r;

	if (db == NULL)
		return e ? e->code : POKY_ERR_IO;
	await_deferred(s);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(db, e, "query");
	for (size_t i = 0; i < n_args; i++)
		bind_text(st, (int)i + 1, args[i]);
	if (limit > 0)
		sqlite3_bind_int64(st, (int)n_args + 1, limit);
	task_init(&t);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		read_task(st, &t);
		if (fn(ud, &t) != 0)
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = db_error(db, e, "query");
	task_cleanup(&t);
	sqlite3_finalize(st);
	return rc;
}

enum poky_err
store_list(struct store *s, const char *status, const char *template_name,
	   const char *cursor, int limit,
	   int (*fn)(void *ud, const struct task *t), void *ud,
	   struct poky_error *e)
{
	return store_list_labeled(s, status, template_name, NULL, cursor, limit,
	    fn, ud, e);
}

enum poky_err
store_list_labeled(struct store *s, const char *status,
		   const char *template_name, const char *labels,
		   const char *cursor, int limit,
		   int (*fn)(void *ud, const struct task *t), void *ud,
		   struct poky_error *e)
{
	/* UUIDv7 ids sort by creation time, so "id < cursor" pages newest
	 * first without a separate sequence.  ?4: every label asked for must
	 * be on the record with that value. */
	const char *args[4] = { status, template_name,
		cursor && *cursor ? cursor : NULL, labels };

	return query_each(s, "SELECT " COLUMNS " FROM tasks WHERE "
	    "(?1 IS NULL OR status = ?1) AND (?2 IS NULL OR template = ?2) AND "
	    "(?3 IS NULL OR id < ?3) AND (?4 IS NULL OR NOT EXISTS ("
	    "SELECT 1 FROM json_each(?4) f WHERE f.value IS NOT (SELECT l.value "
	    "FROM json_each(tasks.labels) l WHERE l.key = f.key))) "
	    "ORDER BY id DESC LIMIT ?5", args, 4, limit, fn, ud, e);
}

enum poky_err
store_unfinished(struct store *s, int (*fn)(void *ud, const struct task *t),
		 void *ud, struct poky_error *e)
{
	return query_each(s, "SELECT " COLUMNS " FROM tasks WHERE status NOT IN "
	    "('succeeded','failed','cancelled','lost') ORDER BY id", NULL, 0, 0,
	    fn, ud, e);
}

enum poky_err
store_callbacks_due(struct store *s, double now,
		    int (*fn)(void *ud, const struct task *t), void *ud,
		    struct poky_error *e)
{
	char when[32];
	const char *args[1] = { when };

	snprintf(when, sizeof(when), "%.3f", now);
	return query_each(s, "SELECT " COLUMNS " FROM tasks WHERE callback_state "
	    "= 'pending' AND callback_next_at <= CAST(?1 AS REAL) ORDER BY id",
	    args, 1, 0, fn, ud, e);
}

json_t *
store_counts(struct store *s)
{
	sqlite3 *db = conn(s, NULL);
	sqlite3_stmt *st = NULL;
	json_t *o = json_object();

	if (db != NULL)
		await_deferred(s);
	if (db == NULL || o == NULL || sqlite3_prepare_v2(db,
	    "SELECT status, count(*) FROM tasks GROUP BY status", -1, &st,
	    NULL) != SQLITE_OK)
		return o;
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
		    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_finalize(st);
	return o;
}

/* ---- the change log ----------------------------------------------------------- */

void
store_set_notify(struct store *s, store_notify_fn fn, void *ud)
{
	s->notify = fn;
	s->notify_ud = ud;
}

enum poky_err
store_events_range(struct store *s, int64_t *first, int64_t *last,
		   struct poky_error *e)
{
	sqlite3 *db = conn(s, e);
	sqlite3_stmt *st = NULL;
	enum poky_err rc = POKY_OK;

	*first = *last = 0;
	if (db == NULL)
		return e ? e->code : POKY_ERR_IO;
	await_deferred(s);
	/* The last seq ever given (sqlite_sequence) even when the log is
	 * empty, so "nothing since N" is told apart from "N is gone". */
	if (sqlite3_prepare_v2(db, "SELECT (SELECT min(seq) FROM events), "
	    "(SELECT seq FROM sqlite_sequence WHERE name = 'events')", -1, &st,
	    NULL) != SQLITE_OK)
		return db_error(db, e, "change log");
	if (sqlite3_step(st) == SQLITE_ROW) {
		*first = sqlite3_column_int64(st, 0);
		*last = sqlite3_column_int64(st, 1);
	} else {
		rc = db_error(db, e, "change log");
	}
	sqlite3_finalize(st);
	if (*first == 0)
		*first = *last + 1;
	return rc;
}

enum poky_err
store_events(struct store *s, int64_t after, int limit,
	     int (*fn)(void *ud, const struct store_event *ev), void *ud,
	     struct poky_error *e)
{
	sqlite3 *db = conn(s, e);
	sqlite3_stmt *st = NULL;
	enum poky_err rc = POKY_OK;
	struct store_event ev;
	int r;

	if (db == NULL)
		return e ? e->code : POKY_ERR_IO;
	await_deferred(s);
	if (sqlite3_prepare_v2(db, "SELECT seq, task_id, template, status, ts "
	    "FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2", -1, &st,
	    NULL) != SQLITE_OK)
		return db_error(db, e, "change log");
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, limit);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		ev.seq = sqlite3_column_int64(st, 0);
		col_copy(st, 1, ev.task_id, sizeof(ev.task_id));
		col_copy(st, 2, ev.template_name, sizeof(ev.template_name));
		col_copy(st, 3, ev.status, sizeof(ev.status));
		ev.ts = sqlite3_column_double(st, 4);
		if (fn(ud, &ev) != 0)
			break;
	}
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		rc = db_error(db, e, "change log");
	sqlite3_finalize(st);
	return rc;
}

/* ---- retention -------------------------------------------------------------- */

enum poky_err
store_prunable(struct store *s, double cutoff, char (*ids)[TASK_ID_LEN + 1],
	       size_t max, size_t *n, struct poky_error *e)
{
	sqlite3 *db = conn(s, e);
	sqlite3_stmt *st = NULL;
	enum poky_err rc = POKY_OK;
	int r = SQLITE_DONE;

	*n = 0;
	if (db == NULL)
		return e ? e->code : POKY_ERR_IO;
	await_deferred(s);
	/* The ids are copied out and the statement finalized before the
	 * caller touches a file: no read transaction stays open meanwhile. */
	if (sqlite3_prepare_v2(db, "SELECT id FROM tasks WHERE " PRUNABLE
	    " ORDER BY id LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return db_error(db, e, "prune query");
	sqlite3_bind_double(st, 1, cutoff);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while (*n < max && (r = sqlite3_step(st)) == SQLITE_ROW)
		col_copy(st, 0, ids[(*n)++], TASK_ID_LEN + 1);
	if (*n < max && r != SQLITE_DONE)
		rc = db_error(db, e, "prune query");
	sqlite3_finalize(st);
	return rc;
}

enum poky_err
store_prune(struct store *s, double cutoff, const char (*ids)[TASK_ID_LEN + 1],
	    size_t n, size_t *deleted, struct poky_error *e)
{
	struct wop op = { .kind = WOP_PRUNE, .ids = ids, .n_ids = n,
		.cutoff = cutoff };
	enum poky_err rc;

	*deleted = 0;
	if (n == 0)
		return POKY_OK;
	if (n > STORE_PRUNE_BATCH_MAX)
		return poky_error_set(e, POKY_ERR_INVALID,
		    "a prune batch is at most %d records", STORE_PRUNE_BATCH_MAX);
	if ((rc = submit_op(s, &op, e)) == POKY_OK)
		*deleted = op.pruned;
	return rc;
}

enum poky_err
store_compact(struct store *s, struct poky_error *e)
{
	struct wop op = { .kind = WOP_COMPACT };

	return submit_op(s, &op, e);
}

/* ---- backup ----------------------------------------------------------------- */

/* Pages per backup step (4 MiB of 4 KiB pages) and the pause between
 * steps, which lets pokyd's writer in; after BACKUP_RESTARTS_MAX restarts
 * (pokyd wrote meanwhile, and SQLite began again) the rest is copied in one
 * step: in WAL mode that is one read transaction, which does not block
 * pokyd's writes - it only holds its checkpoints back while it lasts. */
#define BACKUP_STEP_PAGES 1024
#define BACKUP_PAUSE_MS 10
#define BACKUP_RESTARTS_MAX 3

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* fsync a file or directory by path; 0, else -1 with errno. */
static int
sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

enum poky_err
store_backup(const char *dir, const char *dest, bool force,
	     struct store_backup_stats *stats, struct poky_error *e)
{
	char src_path[4096], tmp[4096], ddir[4096], *slash;
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	struct stat sst, dst_st;
	enum poky_err rc = POKY_OK;
	int last = -1, r = SQLITE_ERROR;

	memset(stats, 0, sizeof(*stats));
	if ((size_t)snprintf(src_path, sizeof(src_path), "%s/poky.db", dir) >=
	    sizeof(src_path) || (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp",
	    dest) >= sizeof(tmp))
		return poky_error_set(e, POKY_ERR_INVALID, "path too long");
	if (stat(src_path, &sst) != 0)
		return poky_error_set(e, POKY_ERR_NOTFOUND, "no task store: %s: %s",
		    src_path, strerror(errno));
	if (stat(dest, &dst_st) == 0) {
		if (dst_st.st_dev == sst.st_dev && dst_st.st_ino == sst.st_ino)
			return poky_error_set(e, POKY_ERR_INVALID,
			    "%s is the task store itself", dest);
		if (!force)
			return poky_error_set(e, POKY_ERR_CONFLICT,
			    "%s exists (--force replaces it)", dest);
		if (!S_ISREG(dst_st.st_mode))
			return poky_error_set(e, POKY_ERR_INVALID,
			    "%s is not a regular file", dest);
	}
	/* A .tmp left by an interrupted backup is ours to replace. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		return poky_error_set(e, POKY_ERR_IO, "%s: %s", tmp, strerror(errno));

	/* Read-write without CREATE: a WAL reader may need to write the -shm
	 * index; never makes a database where there was none. */
	if (sqlite3_open_v2(src_path, &src, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		rc = db_error(src, e, "open the task store");
		goto out;
	}
	sqlite3_busy_timeout(src, BUSY_TIMEOUT_MS);
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	    NULL) != SQLITE_OK) {
		rc = poky_error_set(e, POKY_ERR_IO, "%s: %s", tmp, dst ?
		    sqlite3_errmsg(dst) : "cannot open");
		goto out;
	}
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		rc = db_error(dst, e, "backup");
		goto out;
	}
	for (;;) {
		int step = stats->restarts >= BACKUP_RESTARTS_MAX ? -1 :
		    BACKUP_STEP_PAGES;
		int rem;

		r = sqlite3_backup_step(b, step);
		stats->steps++;
		if (r == SQLITE_DONE)
			break;
		if (r != SQLITE_OK && r != SQLITE_BUSY && r != SQLITE_LOCKED)
			break;
		/* More left than after the last step: the source changed and
		 * SQLite began again from page 1. */
		rem = sqlite3_backup_remaining(b);
		if (last >= 0 && rem > last)
			stats->restarts++;
		last = rem;
		pause_ms(BACKUP_PAUSE_MS);
	}
	stats->pages = sqlite3_backup_pagecount(b);
	if (sqlite3_backup_finish(b) != SQLITE_OK || r != SQLITE_DONE) {
		b = NULL;
		rc = db_error(dst, e, "backup");
		goto out;
	}
	b = NULL;
	/* The copy carries the source's WAL mode; a backup is one
	 * self-contained file, so it goes back to a rollback journal. */
	if (exec(dst, "PRAGMA journal_mode=DELETE") != SQLITE_OK) {
		rc = db_error(dst, e, "backup");
		goto out;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		rc = db_error(dst, e, "close the backup");
		goto out;
	}
	dst = NULL;
	/* The directory, to make the rename durable: "." or "/" or the part
	 * before the last '/'. */
	str_copy(ddir, sizeof(ddir), dest);
	slash = strrchr(ddir, '/');
	if (slash == NULL)
		str_copy(ddir, sizeof(ddir), ".");
	else
		slash[slash == ddir] = '\0';
	if (sync_path(tmp) != 0 || rename(tmp, dest) != 0 || sync_path(ddir) != 0)
		rc = poky_error_set(e, POKY_ERR_IO, "%s: %s", dest, strerror(errno));
out:
	if (b != NULL)
		sqlite3_backup_finish(b);
	sqlite3_close(dst);
	sqlite3_close(src);
	if (rc != POKY_OK)
		unlink(tmp);
	return rc;
}
