/* test_store.c - the task store: deferred updates (queued, not awaited) and
 * the read-your-writes rule that makes them safe to answer from.
 *
 * To catch a deferred write before it commits, a second SQLite connection
 * holds the database's write lock (BEGIN IMMEDIATE): the store's writer then
 * waits (busy timeout) while WAL readers go on, so a read that did not wait
 * for the deferred write would see the old row at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include <sys/stat.h>

#include "poky/app.h"
#include "poky/log.h"
#include "poky/metrics.h"
#include "poky/retention.h"
#include "poky/store.h"

static char tmpdir[64];
static int dirs;

struct fixture {
	char dir[128];
	struct store *s;
	sqlite3 *blocker;               /* holds the write lock when asked */
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct poky_error e;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/s%d", tmpdir, dirs++);
	f->s = store_open(f->dir, &e);
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->blocker != NULL)
		sqlite3_close(f->blocker);
	store_close(f->s);
	free(f);
	return 0;
}

/* Take the database's write lock from another connection. */
static void
block_writer(struct fixture *f)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/poky.db", f->dir);
	assert_int_equal(sqlite3_open(path, &f->blocker), SQLITE_OK);
	assert_int_equal(sqlite3_exec(f->blocker, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
}

static void
unblock_writer(struct fixture *f)
{
	assert_int_equal(sqlite3_exec(f->blocker, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
}

static void
new_task(struct task *t, const char *id)
{
	task_init(t);
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->template_name, sizeof(t->template_name), "job");
	t->launcher = LAUNCHER_ECS;
	snprintf(t->status, sizeof(t->status), TS_STARTING);
	t->parameters = strdup("{}");
	t->client_token = strdup(id);
	t->created_at = t->updated_at = 1700000000.0;
}

static void
insert(struct fixture *f, struct task *t, const char *id)
{
	new_task(t, id);
	assert_int_equal(store_insert(f->s, t, NULL), POKY_OK);
}

static void
set_arn(struct task *t, const char *arn)
{
	free(t->ecs_task_arn);
	t->ecs_task_arn = strdup(arn);
	free(t->ecs_cluster);
	t->ecs_cluster = strdup("poky-cluster");
}

struct reader {
	struct store *s;
	const char *id;
	struct task t;
	enum poky_err rc;
	atomic_bool done;
};

static void *
read_main(void *p)
{
	struct reader *r = p;

	task_init(&r->t);
	r->rc = store_get(r->s, r->id, &r->t, NULL);
	atomic_store(&r->done, true);
	return NULL;
}

/* ---- tests ---- */

static void
test_deferred_update_is_queued_and_a_later_read_waits_for_it(void **state)
{
	struct fixture *f = *state;
	struct reader r = { .s = f->s, .id = "00000000-0000-7000-8000-000000000001" };
	struct task t;
	pthread_t th;
	double t0, before;

	insert(f, &t, r.id);
	before = t.updated_at;
	block_writer(f);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a1");
	t0 = mono();
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	/* Answered without the commit, which can't happen while blocked. */
	assert_true(mono() - t0 < 1.0);
	assert_true(t.updated_at > before);

	assert_int_equal(pthread_create(&th, NULL, read_main, &r), 0);
	usleep(300 * 1000);
	assert_false(atomic_load(&r.done));     /* waiting for the write */
	unblock_writer(f);
	pthread_join(th, NULL);
	assert_int_equal(r.rc, POKY_OK);
	assert_non_null(r.t.ecs_task_arn);
	assert_string_equal(r.t.ecs_task_arn, t.ecs_task_arn);
	assert_string_equal(r.t.ecs_cluster, "poky-cluster");
	/* The version the caller answered with is the stored one. */
	assert_true(r.t.updated_at == t.updated_at);
	assert_int_equal(store_deferred_failures(f->s), 0);
	task_cleanup(&r.t);
	task_cleanup(&t);
}

static void
test_reads_do_not_wait_when_nothing_is_deferred(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	double t0;

	insert(f, &t, "00000000-0000-7000-8000-000000000002");
	block_writer(f);
	task_init(&got);
	t0 = mono();
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_true(mono() - t0 < 0.5);
	assert_null(got.ecs_task_arn);
	unblock_writer(f);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* Unblock the writer after a moment, from another thread. */
static void *
release_main(void *p)
{
	struct fixture *f = p;

	usleep(200 * 1000);
	unblock_writer(f);
	return NULL;
}

static int
count_arn(void *ud, const struct task *t)
{
	int *n = ud;

	if (t->ecs_task_arn != NULL)
		(*n)++;
	return 0;
}

static void
test_list_oldest_and_unfinished_wait_for_deferred_updates(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	pthread_t th;
	int listed = 0, unfinished = 0;

	insert(f, &t, "00000000-0000-7000-8000-000000000003");
	block_writer(f);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a3");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	assert_int_equal(pthread_create(&th, NULL, release_main, f), 0);
	assert_int_equal(store_list(f->s, NULL, NULL, "", 10, count_arn, &listed,
	    NULL), POKY_OK);
	assert_int_equal(listed, 1);
	pthread_join(th, NULL);

	/* Again for the tracker's and the queue's reads. */
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a3b");
	assert_int_equal(sqlite3_exec(f->blocker, "BEGIN IMMEDIATE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	assert_int_equal(pthread_create(&th, NULL, release_main, f), 0);
	task_init(&got);
	assert_int_equal(store_oldest(f->s, TS_STARTING, "job", &got, NULL), POKY_OK);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	pthread_join(th, NULL);
	assert_int_equal(store_unfinished(f->s, count_arn, &unfinished, NULL), POKY_OK);
	assert_int_equal(unfinished, 1);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* A deferred update that finds the row changed (a cancel came first) does
 * nothing to it, and is not silent: logged as an error and counted. */
static void
test_deferred_conflict_is_logged_counted_and_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct task t, cancel, got;
	char logbuf[4096] = "";
	FILE *log = tmpfile();
	size_t n;

	assert_non_null(log);
	insert(f, &t, "00000000-0000-7000-8000-000000000004");
	new_task(&cancel, t.id);
	cancel.updated_at = t.updated_at;
	snprintf(cancel.status, sizeof(cancel.status), TS_CANCELLED);
	assert_int_equal(store_update(f->s, &cancel, TS_STARTING, NULL), POKY_OK);

	log_setup(log, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a4");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	log_setup(NULL, LOG_FORMAT_TEXT, LOG_LEVEL_WARN);
	assert_string_equal(got.status, TS_CANCELLED);
	assert_null(got.ecs_task_arn);
	assert_int_equal(store_deferred_failures(f->s), 1);
	rewind(log);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, log);
	logbuf[n] = '\0';
	fclose(log);
	assert_non_null(strstr(logbuf, t.id));
	assert_non_null(strstr(logbuf, "deferred update not stored"));
	assert_non_null(strstr(logbuf, "task/poky-cluster/a4"));
	task_cleanup(&got);
	task_cleanup(&cancel);
	task_cleanup(&t);
}

/* A synchronous write queued after a deferred one of the same row is
 * applied after it (the writer keeps queue order), with the version the
 * deferred one answered with. */
static void
test_sync_update_after_a_deferred_one_sees_its_version(void **state)
{
	struct fixture *f = *state;
	struct task t, got;

	insert(f, &t, "00000000-0000-7000-8000-000000000005");
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a5");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	snprintf(t.status, sizeof(t.status), TS_RUNNING);
	assert_int_equal(store_update(f->s, &t, TS_STARTING, NULL), POKY_OK);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_string_equal(got.status, TS_RUNNING);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	assert_int_equal(store_deferred_failures(f->s), 0);
	task_cleanup(&got);
	task_cleanup(&t);
}

/* Closing the store writes what is queued: a clean stop loses nothing. */
static void
test_close_commits_queued_deferred_updates(void **state)
{
	struct fixture *f = *state;
	struct task t, got;
	struct poky_error e;

	insert(f, &t, "00000000-0000-7000-8000-000000000006");
	set_arn(&t, "arn:aws:ecs:us-east-1:123456789012:task/poky-cluster/a6");
	assert_int_equal(store_update_deferred(f->s, &t, TS_STARTING, NULL), POKY_OK);
	store_close(f->s);
	f->s = store_open(f->dir, &e);
	assert_non_null(f->s);
	task_init(&got);
	assert_int_equal(store_get(f->s, t.id, &got, NULL), POKY_OK);
	assert_string_equal(got.ecs_task_arn, t.ecs_task_arn);
	task_cleanup(&got);
	task_cleanup(&t);
}

static void
test_deferred_update_needs_an_expected_status(void **state)
{
	struct fixture *f = *state;
	struct task t;
	struct poky_error e;

	insert(f, &t, "00000000-0000-7000-8000-000000000007");
	assert_int_equal(store_update_deferred(f->s, &t, NULL, &e), POKY_ERR_INVALID);
	task_cleanup(&t);
}

/* Many threads at once, each: insert, deferred update, then read back at
 * once - every read sees its own thread's write. */
#define RYW_THREADS 8
#define RYW_ROUNDS 150

struct ryw {
	struct store *s;
	int n;
	int bad;
};

static void *
ryw_main(void *p)
{
	struct ryw *w = p;

	for (int i = 0; i < RYW_ROUNDS; i++) {
		struct task t, got;
		char id[TASK_ID_LEN + 1], arn[96];

		snprintf(id, sizeof(id), "00000000-0000-7000-9%03d-%012d", w->n, i);
		snprintf(arn, sizeof(arn), "arn:aws:ecs:us-east-1:1:task/c/%d-%d", w->n, i);
		new_task(&t, id);
		task_init(&got);
		if (store_insert(w->s, &t, NULL) != POKY_OK)
			w->bad++;
		set_arn(&t, arn);
		if (store_update_deferred(w->s, &t, TS_STARTING, NULL) != POKY_OK)
			w->bad++;
		if (store_get(w->s, id, &got, NULL) != POKY_OK ||
		    got.ecs_task_arn == NULL || strcmp(got.ecs_task_arn, arn) != 0 ||
		    got.updated_at != t.updated_at)
			w->bad++;
		task_cleanup(&got);
		task_cleanup(&t);
	}
	return NULL;
}

static void
test_read_your_writes_under_concurrency(void **state)
{
	struct fixture *f = *state;
	struct ryw w[RYW_THREADS];
	pthread_t th[RYW_THREADS];
	int listed = 0;

	for (int i = 0; i < RYW_THREADS; i++) {
		w[i] = (struct ryw){ .s = f->s, .n = i };
		assert_int_equal(pthread_create(&th[i], NULL, ryw_main, &w[i]), 0);
	}
	for (int i = 0; i < RYW_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	assert_int_equal(store_list(f->s, NULL, NULL, "", RYW_THREADS * RYW_ROUNDS,
	    count_arn, &listed, NULL), POKY_OK);
	assert_int_equal(listed, RYW_THREADS * RYW_ROUNDS);
	assert_int_equal(store_deferred_failures(f->s), 0);
}

/* ---- retention: prune with a fixed clock, compact, backup ---- */

#define T0 1700000000.0                 /* new_task's created_at */
#define NOW (T0 + 10 * 86400)           /* the fixed clock */
#define KEEP (2 * 86400.0)              /* so the cutoff is T0 + 8 days */

struct kept {
	const char *id;
	const char *status;
	double finished_at;             /* 0: unset */
	const char *callback_state;     /* NULL: none */
	bool pruned;                    /* expected */
};

/* Old = finished on day 1, young = finished an hour before NOW. */
static const struct kept prune_cases[] = {
	{ "01-old-succeeded", TS_SUCCEEDED, T0 + 86400, NULL, true },
	{ "02-old-failed", TS_FAILED, T0 + 86400, NULL, true },
	{ "03-old-cancelled", TS_CANCELLED, T0 + 86400, NULL, true },
	{ "04-old-lost-no-finished-at", TS_LOST, 0, NULL, true },
	{ "05-old-delivered", TS_SUCCEEDED, T0 + 86400, "delivered", true },
	{ "06-old-webhook-failed", TS_FAILED, T0 + 86400, "failed", true },
	{ "07-old-webhook-pending", TS_SUCCEEDED, T0 + 86400, "pending", false },
	{ "08-young-succeeded", TS_SUCCEEDED, NOW - 3600, NULL, false },
	{ "09-old-running", TS_RUNNING, 0, NULL, false },
	{ "10-old-queued", TS_QUEUED, 0, NULL, false },
	{ "11-just-inside", TS_SUCCEEDED, NOW - KEEP + 1, NULL, false },
	{ "12-just-outside", TS_SUCCEEDED, NOW - KEEP - 1, NULL, true },
};
#define N_CASES (sizeof(prune_cases) / sizeof(prune_cases[0]))

static void
touch(const char *dir, const char *id, const char *suffix)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/logs/%s%s", dir, id, suffix);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("output\n", fp);
	fclose(fp);
}

static bool
exists(const char *dir, const char *id, const char *suffix)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/logs/%s%s", dir, id, suffix);
	return stat(path, &st) == 0;
}

/* Every case as a record (updated_at T0 + 1 day, so a final record
 * without finished_at counts as old) with a log and a status file. */
static void
insert_cases(struct fixture *f)
{
	char logs[160];

	snprintf(logs, sizeof(logs), "%s/logs", f->dir);
	assert_true(mkdir(logs, 0750) == 0);
	for (size_t i = 0; i < N_CASES; i++) {
		const struct kept *k = &prune_cases[i];
		struct task t;

		new_task(&t, k->id);
		snprintf(t.status, sizeof(t.status), "%s", k->status);
		t.updated_at = T0 + 86400;
		t.finished_at = k->finished_at;
		if (k->callback_state != NULL) {
			t.callback_url = strdup("https://hooks.example/x");
			t.callback_state = strdup(k->callback_state);
			t.callback_next_at = T0;
		}
		t.idem_owner = strdup("alice");
		t.idem_key = strdup(k->id);
		assert_int_equal(store_insert(f->s, &t, NULL), POKY_OK);
		task_cleanup(&t);
		touch(f->dir, k->id, ".log");
		touch(f->dir, k->id, ".status");
	}
}

static void
fake_app(struct app *app, struct fixture *f)
{
	memset(app, 0, sizeof(*app));
	app->store = f->s;
	snprintf(app->state_dir, sizeof(app->state_dir), "%s", f->dir);
}

static void
test_prune_takes_old_finished_records_and_their_files_only(void **state)
{
	struct fixture *f = *state;
	struct app app;
	size_t pruned = 0, want = 0;
	struct poky_error e;
	char *text;
	size_t len;

	insert_cases(f);
	fake_app(&app, f);
	app.metrics = metrics_new();
	assert_non_null(app.metrics);
	/* As retention_new does: only described metrics are rendered. */
	metrics_describe(app.metrics, "poky_store_pruned_total", "counter", "x");
	/* Batches of 2: the loop must go on past full batches. */
	assert_int_equal(retention_prune(&app, NOW, KEEP, 2, NULL, &pruned, &e),
	    POKY_OK);
	for (size_t i = 0; i < N_CASES; i++) {
		const struct kept *k = &prune_cases[i];
		struct task t;
		enum poky_err rc;

		task_init(&t);
		rc = store_get(f->s, k->id, &t, NULL);
		task_cleanup(&t);
		if (k->pruned) {
			want++;
			assert_int_equal(rc, POKY_ERR_NOTFOUND);
			/* The idempotency key went with the record. */
			assert_int_equal(store_get_by_idem(f->s, "alice", k->id, &t,
			    NULL), POKY_ERR_NOTFOUND);
		} else {
			if (rc != POKY_OK)
				fail_msg("%s was pruned", k->id);
		}
		if (exists(f->dir, k->id, ".log") != !k->pruned ||
		    exists(f->dir, k->id, ".status") != !k->pruned)
			fail_msg("%s: files %s", k->id, k->pruned ? "left" : "removed");
	}
	assert_int_equal(pruned, want);
	text = metrics_render(app.metrics, &len);
	assert_non_null(text);
	{
		char line[64];

		snprintf(line, sizeof(line), "poky_store_pruned_total %zu\n", want);
		if (strstr(text, line) == NULL)
			fail_msg("no '%s' in:\n%s", line, text);
	}
	free(text);
	metrics_free(app.metrics);

	/* Again: nothing left to prune. */
	app.metrics = NULL;
	assert_int_equal(retention_prune(&app, NOW, KEEP, 500, NULL, &pruned, &e),
	    POKY_OK);
	assert_int_equal(pruned, 0);
}

static void
test_keep_zero_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct app app;
	size_t pruned = 1;
	json_t *counts;
	json_int_t total = 0;
	const char *k;
	json_t *v;

	insert_cases(f);
	fake_app(&app, f);
	assert_int_equal(retention_prune(&app, NOW + 1e9, 0, 500, NULL, &pruned,
	    NULL), POKY_OK);
	assert_int_equal(pruned, 0);
	counts = store_counts(f->s);
	json_object_foreach(counts, k, v)
		total += json_integer_value(v);
	json_decref(counts);
	assert_int_equal(total, N_CASES);
	assert_true(exists(f->dir, "01-old-succeeded", ".log"));
}

/* The writer checks again: a record that became unprunable between the
 * choice and the delete (its webhook queued again) stays. */
static void
test_prune_checks_again_in_the_writer(void **state)
{
	struct fixture *f = *state;
	char ids[N_CASES][TASK_ID_LEN + 1];
	size_t n = 0, deleted = 0;
	struct task t;

	insert_cases(f);
	assert_int_equal(store_prunable(f->s, NOW - KEEP, ids, N_CASES, &n, NULL),
	    POKY_OK);
	assert_int_equal(n, 7);
	assert_string_equal(ids[0], "01-old-succeeded");
	task_init(&t);
	assert_int_equal(store_get(f->s, "01-old-succeeded", &t, NULL), POKY_OK);
	t.callback_url = strdup("https://hooks.example/x");
	t.callback_state = strdup("pending");
	assert_int_equal(store_update(f->s, &t, NULL, NULL), POKY_OK);
	task_cleanup(&t);
	assert_int_equal(store_prune(f->s, NOW - KEEP,
	    (const char (*)[TASK_ID_LEN + 1])ids, n, &deleted, NULL), POKY_OK);
	assert_int_equal(deleted, 6);
	task_init(&t);
	assert_int_equal(store_get(f->s, "01-old-succeeded", &t, NULL), POKY_OK);
	task_cleanup(&t);
	/* Bounded: a batch larger than the limit is refused. */
	assert_int_equal(store_prune(f->s, NOW, (const char (*)[TASK_ID_LEN + 1])ids,
	    STORE_PRUNE_BATCH_MAX + 1, &deleted, NULL), POKY_ERR_INVALID);
}

static long long
file_size(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static long long
pragma(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A new database is auto_vacuum=INCREMENTAL; compacting after deleting
 * most of it gives the pages back and leaves an empty WAL. */
static void
test_compact_shrinks_the_file_and_truncates_the_wal(void **state)
{
	struct fixture *f = *state;
	char path[160], big[4096];
	struct task t;
	sqlite3 *db;
	long long before, after;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 400; i++) {
		char id[TASK_ID_LEN + 1];

		snprintf(id, sizeof(id), "big-%04d", i);
		new_task(&t, id);
		free(t.parameters);
		t.parameters = strdup(big);
		assert_int_equal(store_insert(f->s, &t, NULL), POKY_OK);
		task_cleanup(&t);
	}
	assert_int_equal(store_compact(f->s, NULL), POKY_OK);
	before = file_size(f->dir, "poky.db");
	assert_int_equal(file_size(f->dir, "poky.db-wal"), 0);
	for (int i = 0; i < 400; i++) {
		char id[TASK_ID_LEN + 1];

		snprintf(id, sizeof(id), "big-%04d", i);
		assert_int_equal(store_delete(f->s, id, NULL), POKY_OK);
	}
	assert_true(file_size(f->dir, "poky.db-wal") > 0);
	assert_int_equal(store_compact(f->s, NULL), POKY_OK);
	after = file_size(f->dir, "poky.db");
	assert_int_equal(file_size(f->dir, "poky.db-wal"), 0);
	if (!(before > 1000000 && after < before / 2))
		fail_msg("poky.db %lld bytes before, %lld after", before, after);
	snprintf(path, sizeof(path), "%s/poky.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(pragma(db, "PRAGMA auto_vacuum"), 2);
	sqlite3_close(db);
}

static void
test_backup_copies_refuses_to_overwrite_and_replaces_with_force(void **state)
{
	struct fixture *f = *state;
	struct store_backup_stats st;
	struct poky_error e;
	char out[160];
	sqlite3 *db;

	insert_cases(f);
	snprintf(out, sizeof(out), "%s/backup.db", f->dir);
	assert_int_equal(store_backup(f->dir, out, false, &st, &e), POKY_OK);
	assert_true(st.pages > 0 && st.steps >= 1);
	assert_int_equal(sqlite3_open(out, &db), SQLITE_OK);
	assert_int_equal(pragma(db, "SELECT count(*) FROM tasks"), N_CASES);
	assert_int_equal(pragma(db, "PRAGMA user_version"), 4);
	sqlite3_close(db);
	/* Self-contained: no -wal beside it. */
	assert_int_equal(file_size(f->dir, "backup.db-wal"), -1);
	assert_int_equal(file_size(f->dir, "backup.db.tmp"), -1);

	assert_int_equal(store_backup(f->dir, out, false, &st, &e),
	    POKY_ERR_CONFLICT);
	assert_non_null(strstr(e.message, "--force"));
	assert_int_equal(store_delete(f->s, "01-old-succeeded", NULL), POKY_OK);
	assert_int_equal(store_backup(f->dir, out, true, &st, &e), POKY_OK);
	assert_int_equal(sqlite3_open(out, &db), SQLITE_OK);
	assert_int_equal(pragma(db, "SELECT count(*) FROM tasks"), N_CASES - 1);
	sqlite3_close(db);

	/* Never over the store itself, even with force. */
	snprintf(out, sizeof(out), "%s/poky.db", f->dir);
	assert_int_equal(store_backup(f->dir, out, true, &st, &e),
	    POKY_ERR_INVALID);
	/* No store: an error, not a new empty database. */
	snprintf(out, sizeof(out), "%s/other.db", f->dir);
	assert_int_equal(store_backup("/nonexistent-poky", out, false, &st, &e),
	    POKY_ERR_NOTFOUND);
	assert_int_equal(file_size(f->dir, "other.db"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_deferred_update_is_queued_and_a_later_read_waits_for_it,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reads_do_not_wait_when_nothing_is_deferred, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_list_oldest_and_unfinished_wait_for_deferred_updates,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deferred_conflict_is_logged_counted_and_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_sync_update_after_a_deferred_one_sees_its_version,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_close_commits_queued_deferred_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_deferred_update_needs_an_expected_status, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_read_your_writes_under_concurrency, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_prune_takes_old_finished_records_and_their_files_only,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_keep_zero_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_prune_checks_again_in_the_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_compact_shrinks_the_file_and_truncates_the_wal,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_backup_copies_refuses_to_overwrite_and_replaces_with_force,
		    setup, teardown),
	};
	char cmd[128];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/poky-unit-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rc = cmocka_run_group_tests_name("store", tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}
