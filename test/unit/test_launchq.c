/* test_launchq.c - the launch queue's token bucket, on a fixed clock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "poky/launchq.h"

static double
dabs(double x)
{
	return x < 0 ? -x : x;
}

#define NEAR(a, b) (dabs((a) - (b)) < 1e-9)

static void
test_a_full_bucket_gives_its_burst_at_once(void **state)
{
	struct tbucket b;
	double wait = -1;
	int n = 0;

	(void)state;
	tbucket_init(&b, 20, 100, 1000.0);
	while (tbucket_take(&b, 1000.0, &wait))
		n++;
	assert_int_equal(n, 100);
	/* The 101st waits one interval of the rate. */
	assert_true(NEAR(wait, 1.0 / 20));
}

static void
test_it_refills_at_the_rate_and_never_past_the_burst(void **state)
{
	struct tbucket b;
	double wait;
	int n = 0;

	(void)state;
	tbucket_init(&b, 20, 100, 0.0);
	while (tbucket_take(&b, 0.0, &wait))
		;
	/* 2.5 s later: 50 tokens. */
	while (tbucket_take(&b, 2.5, &wait))
		n++;
	assert_int_equal(n, 50);
	/* An hour idle refills to the burst, not more. */
	n = 0;
	while (tbucket_take(&b, 3600.0, &wait))
		n++;
	assert_int_equal(n, 100);
}

static void
test_1000_launches_take_burst_plus_the_rest_at_the_rate(void **state)
{
	struct tbucket b;
	double now = 0, wait;

	(void)state;
	tbucket_init(&b, 20, 100, 0.0);
	for (int i = 0; i < 1000; i++)
		while (!tbucket_take(&b, now, &wait))
			now += wait;
	/* The ideal the benchmark compares with: (1000 - 100) / 20 = 45 s. */
	assert_true(dabs(now - 45.0) < 1e-6);
}

static void
test_throttling_cuts_the_rate_and_empties_the_bucket(void **state)
{
	struct tbucket b;
	double wait;

	(void)state;
	tbucket_init(&b, 20, 100, 0.0);
	tbucket_throttled(&b, 0.0);
	assert_true(NEAR(b.rate, 14));
	assert_false(tbucket_take(&b, 0.0, &wait));
	assert_true(NEAR(wait, 1.0 / 14));
	tbucket_throttled(&b, 0.0);
	assert_true(NEAR(b.rate, 9.8));
}

static void
test_the_rate_never_falls_below_its_floor(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 20, 100, 0.0);
	for (int i = 0; i < 100; i++)
		tbucket_throttled(&b, 0.0);
	assert_true(NEAR(b.rate, 20.0 / 64));
}

static void
test_success_wins_the_rate_back_additively_up_to_the_configured(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 20, 100, 0.0);
	tbucket_throttled(&b, 0.0);            /* 14/s */
	tbucket_success(&b);
	assert_true(NEAR(b.rate, 15));
	for (int i = 0; i < 100; i++)
		tbucket_success(&b);
	assert_true(NEAR(b.rate, 20));
}

static void
test_time_going_backwards_adds_nothing(void **state)
{
	struct tbucket b;
	double wait;
	int n = 0;

	(void)state;
	tbucket_init(&b, 10, 1, 100.0);
	assert_true(tbucket_take(&b, 100.0, &wait));
	while (tbucket_take(&b, 50.0, &wait) && n < 5)
		n++;
	assert_int_equal(n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_full_bucket_gives_its_burst_at_once),
		cmocka_unit_test(test_it_refills_at_the_rate_and_never_past_the_burst),
		cmocka_unit_test(test_1000_launches_take_burst_plus_the_rest_at_the_rate),
		cmocka_unit_test(test_throttling_cuts_the_rate_and_empties_the_bucket),
		cmocka_unit_test(test_the_rate_never_falls_below_its_floor),
		cmocka_unit_test(test_success_wins_the_rate_back_additively_up_to_the_configured),
		cmocka_unit_test(test_time_going_backwards_adds_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
