/* lifecycle.c - how a task ended (see lifecycle.h). */
#include <stdio.h>
#include <string.h>

#include "poky/lifecycle.h"
#include "poky/store.h"
#include "poky/str.h"

const char *const lifecycle_reason_codes[] = { "lost", "timeout", "cancelled",
	"not_started", "oom", "signal", "exit_nonzero", "no_exit_code", NULL };

static void
verdict(struct task_verdict *v, const char *status, const char *code,
	const char *reason)
{
	v->status = status;
	v->reason_code = code;
	str_copy(v->reason, sizeof(v->reason), reason ? reason : "");
}

void
lifecycle_judge(const struct task_outcome *o, struct task_verdict *v)
{
	const char *detail = o->detail && *o->detail ? o->detail : NULL;
	char why[LIFECYCLE_REASON_MAX];

	if (o->lost) {
		verdict(v, TS_LOST, "lost", detail ? detail :
		    "the launcher no longer knows this task");
	} else if (o->timed_out) {
		snprintf(why, sizeof(why), "timeout after %ld s", o->timeout);
		verdict(v, TS_FAILED, "timeout", why);
	} else if (o->has_exit_code && o->exit_code == 0 && !o->oom &&
	    !o->never_started && o->signal <= 0) {
		verdict(v, TS_SUCCEEDED, NULL, NULL);
	} else if (o->cancelled_by != NULL) {
		snprintf(why, sizeof(why), "cancelled through the Poky API by %s",
		    o->cancelled_by);
		verdict(v, TS_CANCELLED, "cancelled", why);
	} else if (o->never_started) {
		verdict(v, TS_FAILED, "not_started", detail ? detail :
		    "the task never started");
	} else if (o->oom) {
		verdict(v, TS_FAILED, "oom", "OOM killed");
	} else if (o->signal > 0) {
		snprintf(why, sizeof(why), "killed by signal %d (%s)", o->signal,
		    strsignal(o->signal));
		verdict(v, TS_FAILED, "signal", why);
	} else if (o->has_exit_code) {
		snprintf(why, sizeof(why), "exited with status %d", o->exit_code);
		verdict(v, TS_FAILED, "exit_nonzero", why);
	} else {
		verdict(v, TS_FAILED, "no_exit_code", detail ? detail :
		    "ended without an exit status");
	}
}
