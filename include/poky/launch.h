/* launch.h - the launchers: ECS (RunTask over SigV4) and local processes.
 *
 * A launcher starts the task recorded in a struct task and fills in its
 * launcher ids; the caller then writes the record.  Environment values only
 * ever become environment variables (ECS container overrides, or the envp of
 * an execve without a shell). */
#ifndef POKY_LAUNCH_H
#define POKY_LAUNCH_H

#include <stddef.h>

#include <jansson.h>

#include "poky/config.h"
#include "poky/ecs.h"
#include "poky/err.h"
#include "poky/store.h"

struct app;

/* RunTask for t (clientToken = task->client_token, kept across retries;
 * capacity providers tried in order, each with its own token).  Sets
 * task->ecs_task_arn, ecs_cluster, ecs_last_status, capacity_provider.
 * raw (may be NULL) receives RunTask's answer. */
enum poky_err launch_ecs_start(struct app *app, const struct tmpl *t,
			       struct task *task, const struct ecs_kv *env,
			       size_t n_env, json_t **raw, struct poky_error *e);

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

/* Supervisor mode of pokyd (`pokyd --supervise ...`): run one command,
 * write its exit status, forward SIGTERM.  Returns the process exit code. */
int local_supervise_main(int argc, char **argv);

#endif
