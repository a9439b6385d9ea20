/* app.h - pokyd's shared state and its domain operations (L3).
 *
 * The configuration and the tokens can be replaced at run time (SIGHUP):
 * each request takes a reference to the current ones with app_config_get
 * and drops it with app_config_put, so a reload never pulls a template out
 * from under a request in flight. */
#ifndef POKY_APP_H
#define POKY_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/err.h"
#include "poky/launchq.h"
#include "poky/reason.h"
#include "poky/store.h"

struct auth_tokens;
struct aws_client;
struct local_runner;
struct docker_runner;
struct tracker;
struct launchq;
struct webhook;
struct metrics;

struct app_conf {
	struct config *cfg;
	struct auth_tokens *tokens;     /* NULL: no tokens file */
	int refs;
};

struct app {
	pthread_mutex_t conf_lock;
	struct app_conf *conf;
	struct store *store;
	struct aws_client *aws;         /* NULL until first needed by ECS/S3 */
	pthread_mutex_t aws_lock;
	struct local_runner *local;
	struct docker_runner *docker;
	struct tracker *tracker;
	struct launchq *launchq;
	struct webhook *webhook;
	struct metrics *metrics;
	struct watch *watch;            /* parked watchers (watch.h) */
	time_t started;
	atomic_bool stopping;
	char state_dir[2048];
};

struct app_conf *app_config_get(struct app *app);
void app_config_put(struct app *app, struct app_conf *c);

/* Swap in a new configuration and tokens (the old ones are freed when the
 * last request using them ends). */
void app_config_swap(struct app *app, struct config *cfg,
		     struct auth_tokens *tokens);

/* The AWS client, created on first use from the configuration.  NULL with
 * e set when it can't be built. */
struct aws_client *app_aws(struct app *app, struct poky_error *e);

/* ---- tasks (tasks.c) ------------------------------------------------------ */

/* The reason text of a record whose ECS launch may or may not have happened
 * (no answer, 5xx after every retry, or a restart mid-launch; the flag is
 * the record's launch_pending): the tracker finishes such launches with the
 * same clientToken. */
#define LAUNCH_PENDING_PREFIX "launch pending: "

struct submit {
	const char *template_name;
	json_t *parameters;             /* object of strings (borrowed) */
	const char *callback_url;
	long timeout_seconds;           /* 0: the template's */
	json_t *labels;                 /* object of strings (borrowed), or NULL */
	const char *idem_key;           /* NULL: none */
	const char *owner;              /* token name or "anonymous" */
	bool compat;                    /* POST /process_file wording */
	double wait_seconds;            /* > 0: wait this long for the launch */
};

struct submit_result {
	struct task task;
	bool replayed;                  /* the idempotent original came back */
	json_t *field_errors;           /* 400: [{field, message}] */
	json_t *run_response;           /* ECS RunTask answer, for /process_file */
	enum launch_result launch;      /* what became of the launch: STARTED
					 * for local and docker; for ECS only
					 * when the submit waited for it */
	enum poky_reason reason;        /* on error: what failed (the API's
					 * problem registry makes the answer
					 * from it and the enum poky_err) */
};

void submit_result_init(struct submit_result *r);
void submit_result_cleanup(struct submit_result *r);

/* Validate, record durably, launch (ECS: queue for launching, and wait
 * for it when s->wait_seconds asks).  POKY_OK: r->task holds the record.
 * Otherwise r->reason, the code returned and e say what failed. */
enum poky_err tasks_submit(struct app *app, const struct config *cfg,
			   const struct submit *s, struct submit_result *r,
			   struct poky_error *e);

/* Stop a task.  POKY_ERR_CONFLICT if it has already finished. */
enum poky_err tasks_cancel(struct app *app, const char *id, const char *by,
			   struct task *out, struct poky_error *e);

/* The API's view of a record. */
json_t *task_to_json(const struct task *t);

/* Move a record to the final status the lifecycle rule gives for o (with
 * its reason and reason code), owe its webhook, and log the change once.
 * POKY_ERR_CONFLICT when the row changed since t was read. */
struct task_outcome;
enum poky_err tasks_finish(struct app *app, struct task *t,
			   const struct task_outcome *o, struct poky_error *e);

/* The worker's result: the last line of a task's output that is a JSON
 * object.  At most TASK_RESULT_MAX bytes are kept; a larger last JSON line
 * is not stored (and logged).  Only the end of the output is looked at. */
#define TASK_RESULT_MAX (16u << 10)
#define TASK_RESULT_SCAN (64u << 10)

/* The last JSON-object line of text[0..n) (malloc'd, spaces around it
 * trimmed), or NULL; *too_big when that line was longer than max. */
char *tasks_result_from_text(const char *text, size_t n, size_t max,
			     bool *too_big);

/* t->result from the end of the file at path (local and docker output);
 * left as it is when the file has no result line. */
void tasks_result_from_file(struct task *t, const char *path);

/* t->result from the newest events of an ECS task's log stream (network
 * I/O: the tracker's thread only).  Left as it is on any failure. */
void tasks_result_from_ecs(struct app *app, struct task *t);

/* Record a non-final state change (starting -> running ...), logged once. */
enum poky_err tasks_set_status(struct app *app, struct task *t,
			       const char *status, struct poky_error *e);

/* Whether a submit may wait on the network (S3 existence checks, the
 * Docker engine, or a wait for the launch): the HTTP layer then runs it
 * off its request threads. */
bool tasks_submit_blocks(const struct config *cfg, const struct submit *s);

/* What one ECS launch attempt of the launch queue came to. */
enum tasks_launch {
	TL_LAUNCHED,            /* RunTask answered with the task; ids stored */
	TL_PENDING,             /* outcome unknown: the tracker finishes it */
	TL_GONE,                /* not queued any more (cancelled, finished) */
	TL_THROTTLED,           /* nothing started: ECS throttled every try */
	TL_RETRY,               /* nothing started: try again later */
	TL_REFUSED,             /* nothing started, and a retry won't start it */
};

/* Launch the stored record id (queued, or starting without a task ARN
 * after an interrupted launch) with its own clientToken.  After
 * THROTTLED, RETRY and REFUSED the record is left in starting for the
 * caller to requeue (tasks_requeue), fail or delete.  raw (may be NULL)
 * receives RunTask's answer; launched (may be NULL; task_init'ed, the
 * caller's to clean up) the record after TL_LAUNCHED. */
enum tasks_launch tasks_launch_ecs(struct app *app, const char *id,
				   json_t **raw, struct task *launched,
				   struct poky_error *e);

/* A launch that started nothing goes back to queued.  POKY_ERR_CONFLICT
 * when it was cancelled meanwhile. */
enum poky_err tasks_requeue(struct app *app, const char *id);

/* A launch that started nothing and won't: the task failed. */
void tasks_launch_failed(struct app *app, const char *id, const char *why);

#endif
