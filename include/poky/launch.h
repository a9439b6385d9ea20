/* launch.h - the launchers: ECS (RunTask over SigV4), local processes and
 * Docker containers (the Engine API over its unix socket).
 *
 * A launcher starts the task recorded in a struct task and fills in its
 * launcher ids; the caller then writes the record.  Environment values only
 * ever become environment variables (ECS container overrides, or the envp of
 * an execve without a shell). */
#ifndef POKY_LAUNCH_H
#define POKY_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/ecs.h"
#include "poky/err.h"
#include "poky/reason.h"
#include "poky/store.h"

struct app;

/* ---- the interface every launcher implements ---------------------------- */

/* A task's output as its launcher keeps it: text in memory, or the last
 * bytes of a file, streamed from its descriptor. */
struct task_logs {
	char *text;                     /* malloc'd, NUL-terminated; or NULL */
	size_t text_len;
	int fd;                         /* >= 0: the file, owned by the caller */
	unsigned long long off, len;    /* the range of it to send */
};

/* What tasks.c asks of a launcher; one table (launcher_ops), so a new
 * launcher is one file and a line there. */
struct launcher_ops {
	/* A stored record (status queued): start it now, or queue it. */
	enum poky_err (*submit)(struct app *app, struct task *task,
				struct poky_error *e);
	/* True when submit only queued it and its launch is told to the
	 * launch queue's waiters (ECS): Prefer: wait waits there. */
	bool queued_launch;
	/* Whether nothing of the task runs yet that a cancel must stop: the
	 * cancel then just ends the record. */
	bool (*unstarted)(const struct task *task);
	/* Stop a started task; the cancel request is stored already. */
	enum poky_err (*stop)(struct app *app, const struct task *task,
			      const char *reason, struct poky_error *e);
	/* The launcher's part of the record, shown under its name. */
	json_t *(*detail_json)(const struct task *task);
	/* Reading logs waits on the network (ECS, the Docker engine): the
	 * HTTP layer runs logs() off its request threads. */
	bool logs_block;
	/* The task's output (its last max bytes) into out (out->fd starts at
	 * -1).  On failure *why names what failed, for the error registry. */
	enum poky_err (*logs)(struct app *app, const struct task *task,
			      size_t max, struct task_logs *out,
			      enum poky_reason *why, struct poky_error *e);
	/* The file the task's output grows in, for a follow; NULL: this
	 * launcher's logs cannot be followed. */
	void (*follow_path)(const struct app *app, const struct task *task,
			    char *out, size_t cap);
	/* Readiness of what this launcher needs for the templates of its
	 * kind in cfg (credentials, engines): its checks go into checks
	 * (details under *_error keys); false when not ready.  NULL: always
	 * ready. */
	bool (*ready)(struct app *app, const struct config *cfg, json_t *checks);
};

const struct launcher_ops *launcher_ops(enum launcher_kind kind);

extern const struct launcher_ops launch_ecs_ops, launch_local_ops,
       launch_docker_ops;

/* RunTask for t (clientToken = task->client_token, kept across retries;
 * capacity providers tried in order, each with its own token).  Sets
 * task->ecs_task_arn, ecs_cluster, ecs_last_status, capacity_provider.
 * raw (may be NULL) receives RunTask's answer. */
enum poky_err launch_ecs_start(struct app *app, const struct tmpl *t,
			       struct task *task, const struct ecs_kv *env,
			       size_t n_env, json_t **raw, struct poky_error *e);

/* Set task->ecs_log_group/ecs_log_stream: the template's log_group and
 * log_stream_prefix, else the awslogs options of its container in
 * task_definition (DescribeTaskDefinition, cached per revision).  Left
 * NULL when unknown (a failure is logged, never fatal). */
void launch_ecs_log_names(struct app *app, const struct tmpl *t,
			  struct task *task, const char *task_definition);

enum poky_err launch_ecs_stop(struct app *app, const struct task *task,
			      const char *reason, struct poky_error *e);

/* ---- local processes ---- */

struct local_runner;

struct local_runner *local_new(struct app *app);
/* Stop the supervision thread (running tasks keep running). */
void local_free(struct local_runner *r);

/* Start task now if its template has a free slot, else leave it queued.
 * The record must already be stored (status queued). */
enum poky_err local_submit(struct local_runner *r, struct task *task,
			   struct poky_error *e);

/* SIGTERM (then SIGKILL after the template's kill_grace), or drop it from
 * the queue. */
enum poky_err local_cancel(struct local_runner *r, const struct task *task,
			   struct poky_error *e);

/* The path of a task's log file into out. */
void local_log_path(const struct app *app, const char *id, char *out,
		    size_t cap);

/* The last max bytes of the log file at path (a task's output, local or
 * saved from a container): *out is malloc'd and NUL-terminated, *len its
 * length.  POKY_ERR_NOTFOUND when there is no such regular file. */
enum poky_err local_log_tail(const char *path, size_t max, char **out,
			     size_t *len, struct poky_error *e);

/* ---- Docker containers (launch_docker.c, docker_*.c) ---- */

struct docker_runner;

/* Pick up every unfinished docker task (its container is followed again,
 * found by its id or its poky.task-id label) and start the runner thread.
 * NULL on failure. */
struct docker_runner *docker_new(struct app *app);
/* Stop the runner thread (containers keep running). */
void docker_free(struct docker_runner *r);

/* Start task (stored, status queued) now if its template has a free place,
 * else leave it queued.  Engine errors: POKY_ERR_TRANSIENT when the engine
 * can't be reached, POKY_ERR_NOTFOUND for a missing image, POKY_ERR_REMOTE
 * for a refusal (e names the image or holds the engine's message); nothing
 * runs then, and the record is deleted.  On POKY_OK, task is the record as
 * stored now. */
enum poky_err docker_submit(struct docker_runner *r, struct task *task,
			    struct poky_error *e);

/* Stop the task's container: its stop signal, SIGKILL after kill_grace.
 * The record already carries cancel_requested_by. */
enum poky_err docker_cancel(struct docker_runner *r, const struct task *task,
			    struct poky_error *e);

/* A task's output, stdout and stderr in order: the file saved when it
 * ended, else the engine's log of its container; the last max bytes.
 * *out (NUL-terminated) is the caller's to free. */
enum poky_err docker_logs(struct app *app, const struct task *task, size_t max,
			  char **out, size_t *len, struct poky_error *e);

/* GET /_ping on a template's engine (readiness). */
enum poky_err docker_ping(const struct tmpl *t, struct poky_error *e);

/* Supervisor mode of pokyd (`pokyd --supervise ...`): run one command,
 * write its exit status, forward SIGTERM.  Returns the process exit code. */
int local_supervise_main(int argc, char **argv);

#endif
