/* lifecycle.h - the one rule that decides how a task ended (L3).
 *
 * Every launcher describes what it saw as a struct task_outcome; the rule
 * turns that into the final status, a machine-readable reason code and the
 * human reason.  First match wins:
 *
 *   1. the launcher lost the task                 -> lost       "lost"
 *   2. Poky's timeout stopped it                  -> failed     "timeout"
 *   3. it exited 0 (and was not OOM-killed)       -> succeeded  (none)
 *      - even when a cancel came: the work was done before it took effect
 *   4. a cancel was requested                     -> cancelled  "cancelled"
 *   5. it never started (image, capacity, exec)   -> failed     "not_started"
 *   6. OOM-killed                                 -> failed     "oom"
 *   7. killed by a signal                         -> failed     "signal"
 *   8. exited non-zero                            -> failed     "exit_nonzero"
 *   9. ended without an exit status               -> failed     "no_exit_code"
 *
 * Pure: no store, no clock.  test/data/lifecycle/ holds its table. */
#ifndef POKY_LIFECYCLE_H
#define POKY_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

struct task_outcome {
	bool lost;
	bool timed_out;
	long timeout;                   /* seconds, for the reason */
	const char *cancelled_by;       /* a cancel was requested by this token */
	bool never_started;
	bool oom;
	int signal;                     /* > 0: killed by it */
	bool has_exit_code;
	int exit_code;
	/* The launcher's words for what went wrong ("task failed to start:
	 * ...", "cannot run the command: ...", "ECS no longer knows this
	 * task"); the reason when no rule above writes one of its own. */
	const char *detail;
};

#define LIFECYCLE_REASON_MAX 768

struct task_verdict {
	const char *status;             /* TS_SUCCEEDED, TS_FAILED, ... */
	const char *reason_code;        /* NULL for succeeded */
	char reason[LIFECYCLE_REASON_MAX]; /* "" for succeeded */
};

void lifecycle_judge(const struct task_outcome *o, struct task_verdict *v);

/* The reason codes a record can carry, NULL-terminated (for the API's
 * documentation and the tests). */
extern const char *const lifecycle_reason_codes[];

#endif
