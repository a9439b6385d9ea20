/* launchq.h - the ECS launch queue: admission control between a durable
 * record and RunTask (L3).
 *
 * POST /tasks answers once an ECS record is stored with status queued; the
 * launch happens here, later, on launch threads that never serve HTTP:
 *
 *   - FIFO per template, round robin across templates, so one template's
 *     burst does not starve another's;
 *   - a token bucket for RunTask ([aws] runtask_rate, runtask_burst) that
 *     cuts its rate on ThrottlingException and wins it back additively
 *     on success (the SDKs' adaptive retry mode works the same way), so a
 *     burst is paced instead of answered with errors;
 *   - per-template max_running (launched and not yet finished);
 *   - at most [aws] max_in_flight launches at once.
 *
 * Durability is the store's: a queued record is re-queued by launchq_new
 * after a restart; a record left in starting without a task ARN is finished
 * with the same clientToken (launchq_resume), so every 202 is launched
 * exactly once. */
#ifndef POKY_LAUNCHQ_H
#define POKY_LAUNCHQ_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "poky/err.h"
#include "poky/store.h"
#include "poky/tbucket.h"

struct app;
struct launchq;

/* ---- the queue ------------------------------------------------------------ */

/* What became of one launch, as a waiting request sees it. */
enum launch_result {
	LAUNCH_WAITING,         /* not decided yet (the wait ran out) */
	LAUNCH_STARTED,         /* RunTask answered with the task */
	LAUNCH_PENDING,         /* outcome unknown; finished with the same token */
	LAUNCH_REFUSED,         /* nothing started: the record is gone, e says why */
	LAUNCH_GONE,            /* cancelled (or finished) before it launched */
};

struct launch_outcome {
	enum launch_result result;
	struct poky_error e;    /* LAUNCH_REFUSED */
	json_t *raw;            /* RunTask's answer when asked for (owned) */
	/* LAUNCH_STARTED: the record as the launch left it (its ids may not
	 * be committed yet: a read of the store would wait for them). */
	struct task task;
	bool has_task;
};

void launch_outcome_cleanup(struct launch_outcome *o);

/* Queue every stored ECS record that is still queued, count the launched
 * ones per template, and start the dispatcher.  NULL on failure. */
struct launchq *launchq_new(struct app *app);
/* Stop dispatching; launches in flight end first.  Queued records stay
 * queued in the store. */
void launchq_free(struct launchq *q);

/* A stored record (status queued) to launch.  POKY_ERR_LIMIT when
 * max_queued tasks are waiting already. */
enum poky_err launchq_push(struct launchq *q, const char *id,
			   const char *template_name, struct poky_error *e);

/* A record in starting without a task ARN: launch it again with the same
 * clientToken (ECS answers with the task it already started).  Nothing
 * happens if it is queued or launching already. */
void launchq_resume(struct launchq *q, const char *id,
		    const char *template_name);

/* Whether id is waiting or launching here. */
bool launchq_has(struct launchq *q, const char *id);

/* Take id out of the queue if it has not begun launching (a cancel). */
void launchq_forget(struct launchq *q, const char *id);

/* A launched task of this template reached a final status. */
void launchq_ended(struct launchq *q, const char *template_name);

/* Ask to be told of id's launch before pushing it; then wait at most
 * seconds for the outcome.  A waiter present when a launch is refused
 * makes the record go (the waiting client gets the error, as a synchronous
 * launch answered it); without one, a refused launch is a failed task.
 * want_raw keeps RunTask's answer for the waiter. */
void launchq_watch(struct launchq *q, const char *id, bool want_raw);
/* Take back a launchq_watch whose push failed (nobody will wait). */
void launchq_unwatch(struct launchq *q, const char *id);
void launchq_wait(struct launchq *q, const char *id, double seconds,
		  struct launch_outcome *out);

/* Tasks waiting in the queue, all templates. */
size_t launchq_depth(struct launchq *q);

#endif
