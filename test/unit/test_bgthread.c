/* test_bgthread.c - unit tests for src/daemon/bgthread.c: start and stop,
 * kicks, timed waits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "poky/bgthread.h"

#define LONG_WAIT 60.0                  /* seconds: only a wake-up ends it */
#define PROMPT 5.0                      /* "at once", on a loaded machine */

struct waiter {
	struct bgthread bg;
	bool waiting;                   /* under bg.lock: about to sleep */
	bool stopped;                   /* what the wait returned */
	bool done;                      /* wait_once is over */
	int rounds;
	double slept;
};

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One long wait, timed. */
static void *
wait_once(void *p)
{
	struct waiter *w = p;
	double t0;

	pthread_mutex_lock(&w->bg.lock);
	w->waiting = true;
	t0 = mono();
	w->stopped = bgthread_wait(&w->bg, LONG_WAIT);
	w->slept = mono() - t0;
	w->done = true;
	pthread_mutex_unlock(&w->bg.lock);
	return NULL;
}

/* The users' loop: long waits until stopped. */
static void *
wait_loop(void *p)
{
	struct waiter *w = p;

	pthread_mutex_lock(&w->bg.lock);
	while (!bgthread_stopping(&w->bg)) {
		w->rounds++;
		w->waiting = true;
		w->stopped = bgthread_wait(&w->bg, LONG_WAIT);
	}
	pthread_mutex_unlock(&w->bg.lock);
	return NULL;
}

static void *
no_work(void *p)
{
	struct waiter *w = p;

	pthread_mutex_lock(&w->bg.lock);
	w->rounds++;
	pthread_mutex_unlock(&w->bg.lock);
	return NULL;
}

/* Until the thread is inside bgthread_wait: it holds the lock from setting
 * waiting until the wait releases it, so once we hold it, it sleeps. */
static void
until_waiting(struct waiter *w)
{
	for (;;) {
		bool in;

		pthread_mutex_lock(&w->bg.lock);
		in = w->waiting;
		pthread_mutex_unlock(&w->bg.lock);
		if (in)
			return;
		usleep(1000);
	}
}

static void
test_start_stop_without_work(void **state)
{
	struct waiter w = { .rounds = 0 };

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	assert_false(bgthread_stopping(&w.bg));
	assert_int_equal(bgthread_start(&w.bg, no_work, &w), 0);
	bgthread_stop(&w.bg);
	/* Joined: what the thread wrote is there. */
	assert_int_equal(w.rounds, 1);
	assert_false(w.bg.started);
	assert_true(bgthread_stopping(&w.bg));
	bgthread_stop(&w.bg);                   /* again: nothing to join */
	bgthread_destroy(&w.bg);
}

static void
test_start_twice_is_refused(void **state)
{
	struct waiter w = { .rounds = 0 };

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	assert_int_equal(bgthread_start(&w.bg, wait_loop, &w), 0);
	assert_int_not_equal(bgthread_start(&w.bg, wait_loop, &w), 0);
	until_waiting(&w);
	bgthread_destroy(&w.bg);                /* stops the one thread */
	assert_int_equal(w.rounds, 1);
}

static void
test_stop_when_never_started(void **state)
{
	struct waiter w = { .rounds = 0 };
	double t0;

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	bgthread_stop(&w.bg);
	bgthread_stop(&w.bg);
	assert_true(bgthread_stopping(&w.bg));
	/* A thread started now would not sleep at all. */
	pthread_mutex_lock(&w.bg.lock);
	t0 = mono();
	assert_true(bgthread_wait(&w.bg, LONG_WAIT));
	assert_true(mono() - t0 < PROMPT);
	pthread_mutex_unlock(&w.bg.lock);
	bgthread_destroy(&w.bg);
}

static void
test_kick_wakes_a_wait_early(void **state)
{
	struct waiter w = { .rounds = 0 };
	bool done = false;
	double t0;

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	assert_int_equal(bgthread_start(&w.bg, wait_once, &w), 0);
	until_waiting(&w);
	t0 = mono();
	bgthread_kick(&w.bg);
	/* No stop yet: only the kick can end the wait this soon. */
	while (!done && mono() - t0 < PROMPT) {
		usleep(1000);
		pthread_mutex_lock(&w.bg.lock);
		done = w.done;
		pthread_mutex_unlock(&w.bg.lock);
	}
	assert_true(done);
	assert_true(w.slept < PROMPT);
	assert_false(w.stopped);                /* a kick, not a stop */
	bgthread_destroy(&w.bg);
}

static void
test_kick_while_busy_ends_the_next_wait(void **state)
{
	struct waiter w = { .rounds = 0 };
	double t0;

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	bgthread_kick(&w.bg);
	pthread_mutex_lock(&w.bg.lock);
	t0 = mono();
	assert_false(bgthread_wait(&w.bg, LONG_WAIT));
	assert_true(mono() - t0 < PROMPT);
	/* The kick is taken: the next wait runs to its deadline. */
	t0 = mono();
	assert_false(bgthread_wait(&w.bg, 0.2));
	assert_true(mono() - t0 >= 0.2);
	pthread_mutex_unlock(&w.bg.lock);
	bgthread_destroy(&w.bg);
}

static void
test_timed_wait_returns_after_its_deadline(void **state)
{
	struct waiter w = { .rounds = 0 };
	double t0, slept;

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	pthread_mutex_lock(&w.bg.lock);
	t0 = mono();
	assert_false(bgthread_wait(&w.bg, 0.3));
	slept = mono() - t0;
	assert_true(slept >= 0.3);
	assert_true(slept < 0.3 + PROMPT);
	/* A deadline already past (or none): no sleep. */
	t0 = mono();
	assert_false(bgthread_wait(&w.bg, -1.0));
	assert_false(bgthread_wait(&w.bg, 0.0));
	assert_true(mono() - t0 < PROMPT);
	pthread_mutex_unlock(&w.bg.lock);
	bgthread_destroy(&w.bg);
}

static void
test_stop_wakes_a_waiter_and_joins(void **state)
{
	struct waiter w = { .rounds = 0 };
	double t0;

	(void)state;
	assert_int_equal(bgthread_init(&w.bg), 0);
	assert_int_equal(bgthread_start(&w.bg, wait_loop, &w), 0);
	until_waiting(&w);
	t0 = mono();
	bgthread_stop(&w.bg);
	assert_true(mono() - t0 < PROMPT);
	/* Joined, and the wait said why it ended. */
	assert_true(w.stopped);
	assert_int_equal(w.rounds, 1);
	assert_false(w.bg.started);
	bgthread_destroy(&w.bg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_stop_without_work),
		cmocka_unit_test(test_start_twice_is_refused),
		cmocka_unit_test(test_stop_when_never_started),
		cmocka_unit_test(test_kick_wakes_a_wait_early),
		cmocka_unit_test(test_kick_while_busy_ends_the_next_wait),
		cmocka_unit_test(test_timed_wait_returns_after_its_deadline),
		cmocka_unit_test(test_stop_wakes_a_waiter_and_joins),
	};

	return cmocka_run_group_tests_name("bgthread", tests, NULL, NULL);
}
