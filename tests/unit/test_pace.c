/* test_pace.c: the pace after a 429 (the share the remote gave) and after an
 * outage (doubling from one request a second). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>

#include "forwarder/pace.h"

#define NEAR(a, b) (fabs((a) - (b)) < 0.01)

/* n accepted requests a second over the seconds [from, to). */
static void
accept_per_second(struct pace *p, unsigned n, uint64_t from, uint64_t to)
{
	uint64_t s, i;

	for (s = from; s < to; s++)
		for (i = 0; i < n; i++)
			pace_accepted(p, s * 1000 + i * (1000 / n));
}

static void
test_not_pacing(void **state)
{
	struct pace p;

	(void)state;
	pace_init(&p);
	assert_true(pace_rate(&p, 5000, 100) == 0);
	assert_int_equal(pace_wait(&p, 5000, 100), 0);
	pace_sent(&p, 5000, 100);
	assert_int_equal(pace_wait(&p, 5001, 100), 0);
	/* Accepting alone never starts pacing. */
	accept_per_second(&p, 10, 1, 20);
	assert_true(pace_rate(&p, 20000, 100) == 0);
}

static void
test_throttle_sets_share(void **state)
{
	struct pace p;

	(void)state;
	pace_init(&p);
	/* 10 a second accepted for the last five seconds, then a 429. */
	accept_per_second(&p, 10, 10, 15);
	pace_throttled(&p, 14900, 15000);
	/* The window: the four seconds before this one (40), and this. */
	assert_true(NEAR(p.peak, 10));
	assert_true(NEAR(pace_rate(&p, 15000, 0), 10 * PACE_BACKOFF));
	assert_true(
	    NEAR(pace_rate(&p, 16000, 0), 10 * PACE_BACKOFF * (1 + PACE_GROW)));
	/* Requests no closer than the pace: 1000 / 7 ms apart. */
	pace_sent(&p, 15000, 0);
	assert_int_equal(pace_wait(&p, 15000, 0), 142);
	assert_int_equal(pace_wait(&p, 15100, 0), 42);
	assert_int_equal(pace_wait(&p, 15142, 0), 0);
}

static void
test_once_per_burst(void **state)
{
	struct pace p;
	double before;

	(void)state;
	pace_init(&p);
	accept_per_second(&p, 10, 10, 15);
	pace_throttled(&p, 14900, 15000);
	before = p.peak;
	/* Refusals of requests sent before the cut: the same burst. */
	pace_throttled(&p, 14950, 15050);
	assert_true(NEAR(p.peak, before));
	/* One sent after it is news: measured again. */
	pace_throttled(&p, 15500, 15600);
	assert_true(p.peak < before);
	assert_int_equal(p.cut_ms, 15600);
}

static void
test_refused_everything(void **state)
{
	struct pace p;

	(void)state;
	pace_init(&p);
	pace_throttled(&p, 999, 1000);
	assert_true(NEAR(p.peak, PACE_MIN_PER_S));
	assert_true(pace_rate(&p, 1000, 0) > 0);
}

static void
test_hold_and_ceiling(void **state)
{
	struct pace p;

	(void)state;
	pace_init(&p);
	accept_per_second(&p, 10, 10, 15);
	pace_throttled(&p, 14900, 15000);
	/* A Retry-After of 2 s: the pace grows from its end, not before. */
	pace_hold(&p, 17000);
	assert_true(NEAR(pace_rate(&p, 17000, 0), 10 * PACE_BACKOFF));
	assert_true(NEAR(pace_rate(&p, 16000, 0), 10 * PACE_BACKOFF));
	/* Far past what the concurrency sends anyway: pacing ends. */
	assert_true(pace_rate(&p, 17000, 1) == 0);
	assert_true(pace_rate(&p, 17000, 100) == 0);
}

static void
test_restart_ramp(void **state)
{
	struct pace p;

	(void)state;
	pace_init(&p);
	pace_restart(&p);
	pace_hold(&p, 10000);
	assert_true(NEAR(pace_rate(&p, 10000, 100), 1));
	assert_true(NEAR(pace_rate(&p, 11000, 100), 2));
	assert_true(NEAR(pace_rate(&p, 13000, 100), 8));
	/* Up to the concurrency's own rate, then not paced. */
	assert_true(pace_rate(&p, 17000, 100) == 0);
	/* A 429 during the ramp sets the share instead. */
	pace_restart(&p);
	pace_hold(&p, 20000);
	accept_per_second(&p, 2, 20, 23);
	pace_throttled(&p, 22900, 23000);
	assert_int_equal(p.ramp, 0);
	assert_true(NEAR(p.peak, 6.0 / 4.0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_pacing),
	    cmocka_unit_test(test_throttle_sets_share),
	    cmocka_unit_test(test_once_per_burst),
	    cmocka_unit_test(test_refused_everything),
	    cmocka_unit_test(test_hold_and_ceiling),
	    cmocka_unit_test(test_restart_ramp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
