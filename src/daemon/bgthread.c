/* bgthread.c - one background thread that sleeps between rounds of work
 * (see bgthread.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "poky/bgthread.h"

/* Longer sleeps are cut to this: the deadline must fit a time_t. */
#define WAIT_MAX 1e9

int
bgthread_init(struct bgthread *bg)
{
	pthread_condattr_t ca;
	int rc;

	memset(bg, 0, sizeof(*bg));
	atomic_init(&bg->stop, false);
	if ((rc = pthread_condattr_init(&ca)) != 0)
		return rc;
	if ((rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
	    (rc = pthread_cond_init(&bg->wake, &ca)) != 0)
		goto out;
	if ((rc = pthread_mutex_init(&bg->lock, NULL)) != 0)
		pthread_cond_destroy(&bg->wake);
out:
	pthread_condattr_destroy(&ca);
	return rc;
}

void
bgthread_destroy(struct bgthread *bg)
{
	bgthread_stop(bg);
	pthread_mutex_destroy(&bg->lock);
	pthread_cond_destroy(&bg->wake);
}

int
bgthread_start(struct bgthread *bg, void *(*fn)(void *), void *ud)
{
	int rc;

	if (bg->started)
		return EBUSY;
	if ((rc = pthread_create(&bg->thread, NULL, fn, ud)) == 0)
		bg->started = true;
	return rc;
}

void
bgthread_stop(struct bgthread *bg)
{
	/* Under the lock: the thread is either before its look at the flag
	 * or already asleep, never in between. */
	pthread_mutex_lock(&bg->lock);
	atomic_store(&bg->stop, true);
	pthread_cond_broadcast(&bg->wake);
	pthread_mutex_unlock(&bg->lock);
	if (bg->started) {
		pthread_join(bg->thread, NULL);
		bg->started = false;
	}
}

void
bgthread_kick(struct bgthread *bg)
{
	pthread_mutex_lock(&bg->lock);
	bg->kicked = true;
	pthread_cond_broadcast(&bg->wake);
	pthread_mutex_unlock(&bg->lock);
}

bool
bgthread_wait(struct bgthread *bg, double seconds)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (seconds > 0) {              /* false for NaN too */
		time_t whole;

		if (seconds > WAIT_MAX)
			seconds = WAIT_MAX;
		whole = (time_t)seconds;
		ts.tv_sec += whole;
		ts.tv_nsec += (long)((seconds - (double)whole) * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	/* Spurious wake-ups go back to sleep; a kick made while the thread
	 * worked ends this wait at once. */
	while (!atomic_load(&bg->stop) && !bg->kicked &&
	    pthread_cond_timedwait(&bg->wake, &bg->lock, &ts) == 0)
		;
	bg->kicked = false;
	return atomic_load(&bg->stop);
}

bool
bgthread_stopping(const struct bgthread *bg)
{
	return atomic_load(&bg->stop);
}
