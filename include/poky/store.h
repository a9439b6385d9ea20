/* store.h - durable task records in SQLite (WAL, synchronous=FULL).
 *
 * Every write is committed (and fsync'd) before the call returns, so an
 * answer sent after it can't be lost in a crash - except a deferred update
 * (store_update_deferred), which is only queued, for a change something
 * else recovers after a crash.  Reads see every deferred update queued
 * before they began.  Each thread gets its own connection for reads, on
 * first use; one writer thread commits every write, in queue order. */
#ifndef POKY_STORE_H
#define POKY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/err.h"

#define TASK_ID_LEN 36

/* Status values, in lifecycle order. */
#define TS_QUEUED "queued"
#define TS_STARTING "starting"
#define TS_RUNNING "running"
#define TS_SUCCEEDED "succeeded"
#define TS_FAILED "failed"
#define TS_CANCELLED "cancelled"
#define TS_LOST "lost"

struct task {
	char id[TASK_ID_LEN + 1];
	char template_name[65];
	enum launcher_kind launcher;    /* stored by name ("ecs", ...) */
	char status[16];
	char *parameters;               /* JSON object text */
	char *idem_key;                 /* NULL when none */
	char *idem_owner;
	char *request_hash;
	char *client_token;
	double created_at, updated_at, started_at, finished_at;  /* 0 unset */
	bool has_exit_code;
	int exit_code;
	char *stop_code;
	char *reason;
	char *ecs_task_arn;
	char *ecs_cluster;
	char *ecs_last_status;
	char *ecs_stopped_reason;
	char *capacity_provider;
	long local_pid;
	long long local_start_ticks;    /* /proc start time, to re-adopt */
	char *container_id;             /* docker: the container, once created */
	char *container_image;          /* docker: the image it was made from */
	long timeout_seconds;
	char *callback_url;
	char *callback_state;           /* NULL, "pending", "delivered", "failed" */
	int callback_attempts;
	double callback_next_at;
	char *created_by;
	char *cancel_requested_by;
	char *reason_code;              /* the lifecycle rule's, NULL until final */
	bool launch_pending;            /* ECS: outcome unknown, finish with the token */
	bool timed_out;                 /* Poky's timeout stopped it */
	char *result;                   /* the worker's JSON result line, or NULL */
	char *labels;                   /* JSON object of strings, or NULL */
	char *ecs_log_group;            /* ECS: the task's CloudWatch log group */
	char *ecs_log_stream;           /* ECS: its stream, or NULL */
};

void task_init(struct task *t);
void task_cleanup(struct task *t);
bool task_status_final(const char *status);

struct store;

/* Open (creating and migrating) dir/poky.db.  NULL with e set. */
struct store *store_open(const char *dir, struct poky_error *e);
void store_close(struct store *s);

/* True when the database accepts a write right now (readiness). */
bool store_writable(struct store *s);

enum poky_err store_insert(struct store *s, const struct task *t,
			   struct poky_error *e);

/* POKY_ERR_NOTFOUND when there is no such task. */
enum poky_err store_get(struct store *s, const char *id, struct task *t,
			struct poky_error *e);
enum poky_err store_get_by_idem(struct store *s, const char *owner,
				const char *key, struct task *t,
				struct poky_error *e);

/* Write every mutable field of t (status, times, launcher ids, ...) and set
 * updated_at, which is also the row's version: the write happens only if
 * the row is unchanged since t was read (and, when expect_status is not
 * NULL, still has that status); otherwise POKY_ERR_CONFLICT, and the caller
 * re-reads. */
enum poky_err store_update(struct store *s, struct task *t,
			   const char *expect_status, struct poky_error *e);

/* store_update without waiting for the commit: t is copied and queued, and
 * t->updated_at set to the version the row will have.  For a change that
 * may be lost in a crash because a restart recovers it (the ids of a
 * launch: the tracker relaunches with the same clientToken).  Every read
 * (get, list, oldest, unfinished, callbacks, counts) that begins after this
 * returns waits until the write is committed or has failed, so an answer
 * made from t is what any later reader sees; reads wait for nothing when no
 * deferred update is pending.  Writes keep queue order.  expect_status is
 * required.  A failure (the row changed: POKY_ERR_CONFLICT; or the commit
 * failed) can't be returned: it is logged as an error with the task's id
 * (and ECS task ARN) and counted (store_deferred_failures), and the row
 * keeps what it had.  POKY_ERR_NOMEM: nothing was queued. */
enum poky_err store_update_deferred(struct store *s, struct task *t,
				    const char *expect_status,
				    struct poky_error *e);

/* How many deferred updates failed since store_open. */
unsigned long long store_deferred_failures(struct store *s);

enum poky_err store_delete(struct store *s, const char *id,
			   struct poky_error *e);

/* Newest first.  status/template may be NULL; cursor is the last id of the
 * previous page ("" for the first).  Appends records (as JSON via fn's
 * choice) by calling fn for each. */
enum poky_err store_list(struct store *s, const char *status,
			 const char *template_name, const char *cursor,
			 int limit, int (*fn)(void *ud, const struct task *t),
			 void *ud, struct poky_error *e);

/* store_list, also keeping only records that carry every label of the
 * JSON object text `labels` (NULL: no label filter). */
enum poky_err store_list_labeled(struct store *s, const char *status,
				 const char *template_name, const char *labels,
				 const char *cursor, int limit,
				 int (*fn)(void *ud, const struct task *t),
				 void *ud, struct poky_error *e);

/* The oldest task with this status and template (POKY_ERR_NOTFOUND when
 * there is none): the head of a FIFO queue. */
enum poky_err store_oldest(struct store *s, const char *status,
			   const char *template_name, struct task *t,
			   struct poky_error *e);

/* Every task not in a final status, oldest first. */
enum poky_err store_unfinished(struct store *s,
			       int (*fn)(void *ud, const struct task *t),
			       void *ud, struct poky_error *e);

/* Tasks whose webhook is due (callback_state pending, next_at <= now). */
enum poky_err store_callbacks_due(struct store *s, double now,
				  int (*fn)(void *ud, const struct task *t),
				  void *ud, struct poky_error *e);

/* Count of tasks per status, into a JSON object {status: n}. */
json_t *store_counts(struct store *s);

/* ---- the change log (GET /events, watches) ----
 *
 * Every insert and update adds an entry (seq strictly increasing, never
 * reused) in the same transaction; the log keeps the last ~20,000. */
struct store_event {
	int64_t seq;
	char task_id[TASK_ID_LEN + 1];
	char template_name[65];
	char status[16];
	double ts;                      /* the record's updated_at */
};

/* Called on the writer thread after each commit, once per record written
 * (before the writers waiting on it are released): keep it short and
 * never call the store from it.  Set once, before any write. */
typedef void (*store_notify_fn)(void *ud, const char *task_id, int64_t seq);
void store_set_notify(struct store *s, store_notify_fn fn, void *ud);

/* The oldest seq kept and the newest ever given (0 when none); first is
 * last + 1 when the log is empty. */
enum poky_err store_events_range(struct store *s, int64_t *first,
				 int64_t *last, struct poky_error *e);

/* Up to limit entries after seq `after`, oldest first; fn returning non-0
 * stops. */
enum poky_err store_events(struct store *s, int64_t after, int limit,
			   int (*fn)(void *ud, const struct store_event *ev),
			   void *ud, struct poky_error *e);

/* ---- retention ([store] keep_finished; retention.c drives these) ----
 *
 * A record may be pruned when its status is final, it finished (finished_at,
 * else updated_at) before a cutoff, and no webhook is pending for it.  Its
 * idempotency key goes with it: the same key then makes a new task. */
#define STORE_PRUNE_BATCH_MAX 1000

/* Up to max (<= STORE_PRUNE_BATCH_MAX) ids of prunable records, oldest
 * first, copied into ids; *n how many.  A read: nothing is held after it
 * returns, so the caller may then take its time over files. */
enum poky_err store_prunable(struct store *s, double cutoff,
			     char (*ids)[TASK_ID_LEN + 1], size_t max,
			     size_t *n, struct poky_error *e);

/* Delete those of ids that are still prunable at cutoff, in one writer
 * transaction; *deleted how many went. */
enum poky_err store_prune(struct store *s, double cutoff,
			  const char (*ids)[TASK_ID_LEN + 1], size_t n,
			  size_t *deleted, struct poky_error *e);

/* Give free pages back to the file system (PRAGMA incremental_vacuum, up to
 * 8 MiB a call; a no-op for a database made with auto_vacuum NONE, i.e.
 * before pokyd set it) and truncate the WAL (wal_checkpoint(TRUNCATE)).
 * On the writer thread, between transactions.  POKY_ERR_TRANSIENT when
 * readers kept the checkpoint from finishing: try again later. */
enum poky_err store_compact(struct store *s, struct poky_error *e);

struct store_backup_stats {
	int pages;                      /* in the copy */
	int steps;                      /* sqlite3_backup_step calls */
	int restarts;                   /* begun again: the source changed */
};

/* A consistent copy of dir/poky.db into dest, with the SQLite online
 * backup API: safe while pokyd runs and writes.  Written to dest.tmp
 * (fsync'd), then renamed over dest; an existing dest is refused unless
 * force (and never the store itself).  Needs no struct store: it is its own
 * process's connection. */
enum poky_err store_backup(const char *dir, const char *dest, bool force,
			   struct store_backup_stats *stats,
			   struct poky_error *e);

#endif
