/* bgthread.h - one background thread that sleeps between rounds of work.
 *
 * The launchers' runners, the ECS tracker and the webhook sender each run a
 * thread that works, sleeps until a deadline, and wakes early when kicked
 * (new work) or stopped (shutdown).  A struct bgthread holds what that
 * takes: a mutex, a condition on CLOCK_MONOTONIC (a wall-clock step neither
 * stretches nor cuts a sleep), the stop and kick flags, the thread.
 *
 * The mutex is also the owner's: it guards whatever state the owner shares
 * with its thread, so a kick or a stop can never slip in between the thread
 * looking at that state and going to sleep.  A thread's loop:
 *
 *	pthread_mutex_lock(&bg->lock);
 *	while (!bgthread_stopping(bg)) {
 *		... work (the lock may be dropped around slow parts) ...
 *		bgthread_wait(bg, seconds);
 *	}
 *	pthread_mutex_unlock(&bg->lock);
 */
#ifndef POKY_BGTHREAD_H
#define POKY_BGTHREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct bgthread {
	pthread_mutex_t lock;   /* the flags below and the owner's state */
	pthread_cond_t wake;
	pthread_t thread;
	bool started;           /* thread is there to join */
	bool kicked;            /* a kick not yet seen by bgthread_wait */
	/* Read without the lock too (bgthread_stopping), also by code that
	 * takes a pointer to it to give up a long call. */
	atomic_bool stop;
};

/* Make the mutex and the condition; no thread yet.  0, else an errno
 * value (nothing to destroy then). */
int bgthread_init(struct bgthread *bg);

/* Stop the thread if it runs (bgthread_stop), then destroy the mutex and
 * the condition. */
void bgthread_destroy(struct bgthread *bg);

/* Run fn(ud) in a new thread.  0, else an errno value. */
int bgthread_start(struct bgthread *bg, void *(*fn)(void *), void *ud);

/* Tell the thread to stop, wake it and wait for it to return.  Called
 * without the lock.  Again, or with no thread started, only sets the flag. */
void bgthread_stop(struct bgthread *bg);

/* Wake the thread now: a bgthread_wait under way returns, and so does the
 * next one if the thread is busy meanwhile.  Called without the lock. */
void bgthread_kick(struct bgthread *bg);

/* Sleep, with the lock held (dropped meanwhile), for up to seconds, until a
 * kick or a stop; takes the kick.  True when the thread must stop. */
bool bgthread_wait(struct bgthread *bg, double seconds);

/* Whether bgthread_stop was called.  With or without the lock. */
bool bgthread_stopping(const struct bgthread *bg);

#endif
