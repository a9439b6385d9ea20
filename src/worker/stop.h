/* stop.h - how poky-worker stops (stop.c): SIGTERM and SIGINT seen as a
 * flag, the cleanup window around work that would leave something behind,
 * and the deadline on that cleanup.
 *
 * The strategies and the part machinery ask here whether to go on; only
 * main.c starts and finishes the stop machinery. */
#ifndef POKY_WORKER_STOP_H
#define POKY_WORKER_STOP_H

#include <stdbool.h>

struct wk_error;

/* Block SIGTERM and SIGINT in this thread and every thread started after
 * it, and take them on a thread of our own.  report writes the one error
 * line when a signal ends the run; it is called with the stop lock held, so
 * no second exit path can write a line after it.  0, or -1 with errno. */
int wk_stop_start(void (*report)(const struct wk_error *err));

/* The run is over (its result is about to be written): a signal from now
 * on neither ends the process nor starts the watchdog's countdown. */
void wk_stop_finish(void);

/* The signal that asked us to stop, or 0.  Checked between steps. */
int wk_stopping(void);

/* Around work that leaves something behind when cut short (a multipart
 * upload, a temporary file): while inside, a SIGTERM only sets the flag
 * and the code cleans up and returns; outside, the process exits at once.
 * enter returns false when a stop is already pending. */
bool wk_cleanup_enter(void);
void wk_cleanup_leave(void);

/* wk_fail with "stopped by signal <sig>; <what>" and exit 128 + sig. */
int wk_fail_stopped(struct wk_error *err, int sig, const char *what);

/* Report "stopped by signal N; what" and _exit at once. */
__attribute__((noreturn)) void wk_exit_stopped(const char *what);

#endif
