/* stop.c - SIGTERM and SIGINT as a flag, the cleanup window, the watchdog.
 *
 * Both signals are blocked in every thread and taken by one thread with
 * sigwait, so the rest of the code sees them as a flag (wk_stopping).
 * Outside a cleanup window a signal ends the process at once: nothing is
 * half-made.  Inside one, the code that opened the window undoes its work
 * and returns; a watchdog makes sure that does not outlast the launcher's
 * patience. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "poky/log.h"
#include "stop.h"
#include "worker.h"

/* ECS sends SIGKILL 30 s after SIGTERM by default: leave before that. */
#define WK_STOP_DEADLINE_MS 25000L

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int stop_signal;                 /* guarded by state_lock */
static int cleanup_depth;               /* guarded by state_lock */
static int finished;                    /* guarded by state_lock */
static void (*report_fn)(const struct wk_error *err);  /* set before the thread */

int
wk_stopping(void)
{
	int s;

	pthread_mutex_lock(&state_lock);
	s = stop_signal;
	pthread_mutex_unlock(&state_lock);
	return s;
}

bool
wk_cleanup_enter(void)
{
	bool ok;

	pthread_mutex_lock(&state_lock);
	ok = stop_signal == 0;
	if (ok)
		cleanup_depth++;
	pthread_mutex_unlock(&state_lock);
	return ok;
}

void
wk_cleanup_leave(void)
{
	pthread_mutex_lock(&state_lock);
	cleanup_depth--;
	pthread_mutex_unlock(&state_lock);
}

void
wk_stop_finish(void)
{
	pthread_mutex_lock(&state_lock);
	finished = 1;
	pthread_mutex_unlock(&state_lock);
}

int
wk_fail_stopped(struct wk_error *err, int sig, const char *what)
{
	return wk_fail(err, WK_EXIT_SIGNAL + sig, "stopped by signal %d; %s", sig,
	    what);
}

void
wk_exit_stopped(const char *what)
{
	struct wk_error err;
	int sig = wk_stopping();

	wk_fail_stopped(&err, sig, what);
	/* Held until _exit: no other thread writes a line after this one. */
	pthread_mutex_lock(&state_lock);
	if (report_fn != NULL)
		report_fn(&err);
	_exit(WK_EXIT_SIGNAL + sig);
}

/* The code is cleaning up after a stop request; should that hang (a stuck
 * request), leave before the launcher's SIGKILL would (ECS: 30 s). */
static void
watchdog(void)
{
	struct timespec tick = { 0, 100 * 1000000L };

	for (long waited = 0; waited < WK_STOP_DEADLINE_MS; waited += 100) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&state_lock);
		if (finished) {
			pthread_mutex_unlock(&state_lock);
			return;
		}
		pthread_mutex_unlock(&state_lock);
	}
	wk_exit_stopped("cleanup did not finish in time; a multipart upload may "
	    "remain (a lifecycle rule will remove it)");
}

static void *
signal_thread(void *arg)
{
	const sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		pthread_mutex_lock(&state_lock);
		if (stop_signal == 0)
			stop_signal = sig;
		log_debug("signal %d: %s", sig, cleanup_depth > 0 ?
		    "cleaning up" : finished ? "already done" : "stopping");
		if (cleanup_depth == 0 && !finished) {
			struct wk_error err;

			/* Nothing is half-made: stop now. */
			wk_fail(&err, WK_EXIT_SIGNAL + sig, "stopped by signal %d (%s)",
			    sig, strsignal(sig));
			if (report_fn != NULL)
				report_fn(&err);
			_exit(WK_EXIT_SIGNAL + sig);
		}
		pthread_mutex_unlock(&state_lock);
		watchdog();
	}
	return NULL;
}

int
wk_stop_start(void (*report)(const struct wk_error *err))
{
	/* The signal thread reads the set for as long as the process lives. */
	static sigset_t set;
	pthread_t t;
	pthread_attr_t a;
	int rc;

	report_fn = report;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, signal_thread, &set);
	pthread_attr_destroy(&a);
	return rc == 0 ? 0 : -1;
}
