/* watch.h - requests parked until a task changes or a deadline passes.
 *
 * A watch holds no thread: the HTTP layer suspends its connection and
 * parks a wake function here; the store's commit hook (watch_notify) or
 * the deadline calls it, exactly once, from another thread.  One thread
 * here keeps the deadlines.  Knows nothing of HTTP. */
#ifndef POKY_WATCH_H
#define POKY_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "poky/err.h"

struct watch;

typedef void (*watch_wake_fn)(void *ud);

enum watch_park {
	WATCH_PARKED,           /* fn will be called once, later */
	WATCH_CHANGED,          /* something changed since `seen`: not parked */
	WATCH_CLOSED,           /* shutting down: not parked, answer now */
};

/* A registry for at most max watchers (watch_enter).  NULL with e set. */
struct watch *watch_new(int max, struct poky_error *e);

/* Wake every parked watcher and refuse new parks (before the HTTP server
 * stops, so no connection stays suspended). */
void watch_close(struct watch *w);
void watch_free(struct watch *w);

/* The store's commit hook: wake the watchers of task_id and those of
 * every task (key NULL).  Any thread. */
void watch_notify(void *w, const char *task_id, int64_t seq);

/* The newest change seq notified: read it before reading the store, and
 * pass it to watch_park, so a change between the read and the park wakes
 * at once instead of being missed. */
int64_t watch_seq(struct watch *w);

/* Count a watcher in (false: max reached, answer 503) and out. */
bool watch_enter(struct watch *w);
void watch_leave(struct watch *w);
int watch_active(struct watch *w);

/* Park fn(ud) until task key (NULL: any task) changes after seq `seen`,
 * or until `deadline` (CLOCK_MONOTONIC seconds) passes. */
enum watch_park watch_park(struct watch *w, const char *key, int64_t seen,
			   double deadline, watch_wake_fn fn, void *ud);


#endif
