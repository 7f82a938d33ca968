/* test_aimd.c: adaptive concurrency: slow start, additive increase,
 * multiplicative decrease on refusals and on rising latency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "forwarder/aimd.h"

/*
 * One period: as many answers as the limit, each rtt ms after it was
 * sent, spread over a second from *now (which moves on), the shortest a
 * period past slow start lasts. full: the caller had more to send.
 */
static void
period(struct aimd *a, uint64_t *now, uint64_t rtt, int full, int outcome)
{
	unsigned i, n = a->limit;

	if (full)
		aimd_full(a);
	for (i = 0; i < n; i++) {
		*now += AIMD_PERIOD_MIN_MS / n + 1;
		aimd_answer(a, *now - rtt, *now, outcome);
	}
}

static void
test_slow_start_to_max(void **state)
{
	struct aimd a;
	uint64_t now = 10000;

	(void)state;
	aimd_init(&a, 8);
	assert_int_equal(a.limit, 1);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 2);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 4);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 8);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 8);
	assert_int_equal((int)a.floor_ms, 100);
	assert_int_equal((int)a.rtt_ms, 100);
}

static void
test_no_growth_without_demand(void **state)
{
	struct aimd a;
	uint64_t now = 10000;
	int i;

	(void)state;
	aimd_init(&a, 8);
	for (i = 0; i < 10; i++)
		period(&a, &now, 50, 0, AIMD_OK);
	assert_int_equal(a.limit, 1);
}

static void
test_backoff_halves_once_per_burst(void **state)
{
	struct aimd a;
	uint64_t now = 10000;

	(void)state;
	aimd_init(&a, 8);
	while (a.limit < 8)
		period(&a, &now, 100, 1, AIMD_OK);
	/* Three refusals of requests sent together: one cut. */
	aimd_answer(&a, 10500, 10600, AIMD_BACKOFF);
	assert_int_equal(a.limit, 4);
	aimd_answer(&a, 10500, 10601, AIMD_BACKOFF);
	aimd_answer(&a, 10599, 10602, AIMD_BACKOFF);
	assert_int_equal(a.limit, 4);
	/* A request sent after the cut is news. */
	aimd_answer(&a, 10600, 10700, AIMD_BACKOFF);
	assert_int_equal(a.limit, 2);
	aimd_answer(&a, 10700, 10800, AIMD_BACKOFF);
	aimd_answer(&a, 10800, 10900, AIMD_BACKOFF);
	aimd_answer(&a, 10900, 11000, AIMD_BACKOFF);
	assert_int_equal(a.limit, 1);
	assert_int_equal(a.slow_start, 0);
}

static void
test_additive_after_a_cut(void **state)
{
	struct aimd a;
	uint64_t now = 10000;

	(void)state;
	aimd_init(&a, 16);
	while (a.limit < 8)
		period(&a, &now, 100, 1, AIMD_OK);
	now += 10;
	aimd_answer(&a, now - 1, now, AIMD_BACKOFF);
	assert_int_equal(a.limit, 4);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 5);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 6);
	/* An answer that says nothing about load holds the period back. */
	aimd_full(&a);
	aimd_answer(&a, now - 100, now + 1, AIMD_NEUTRAL);
	now += 1;
	period(&a, &now, 100, 0, AIMD_OK);
	assert_int_equal(a.limit, 6);
}

/* Past slow start, a burst of quick answers grows the limit once a second. */
static void
test_additive_at_most_one_a_second(void **state)
{
	struct aimd a;
	uint64_t now = 10000;
	int i;

	(void)state;
	aimd_init(&a, 16);
	period(&a, &now, 10, 1, AIMD_OK);
	now += 10;
	aimd_answer(&a, now - 1, now, AIMD_BACKOFF);
	assert_int_equal(a.limit, 1);
	/* Fifty answers 10 ms apart: half a second, one period. */
	aimd_full(&a);
	for (i = 0; i < 50; i++) {
		now += 10;
		aimd_answer(&a, now - 10, now, AIMD_OK);
	}
	assert_int_equal(a.limit, 1);
	now += 600;
	aimd_answer(&a, now - 10, now, AIMD_OK);
	assert_int_equal(a.limit, 2);
}

static void
test_latency(void **state)
{
	struct aimd a;
	uint64_t now = 10000;
	int i;

	(void)state;
	aimd_init(&a, 8);
	while (a.limit < 8)
		period(&a, &now, 100, 1, AIMD_OK);
	/* Between near the floor and rising: held. */
	period(&a, &now, 150, 1, AIMD_OK);
	assert_int_equal(a.limit, 8);
	/* Past twice the floor plus the slack: a quarter less. */
	period(&a, &now, 300, 1, AIMD_OK);
	assert_int_equal(a.limit, 6);
	assert_int_equal(a.slow_start, 0);
	/* Small limits still move. */
	aimd_set_max(&a, 2);
	assert_int_equal(a.limit, 2);
	period(&a, &now, 1000, 1, AIMD_OK);
	assert_int_equal(a.limit, 1);
	period(&a, &now, 1000, 1, AIMD_OK);
	assert_int_equal(a.limit, 1);

	/*
	 * A lasting change of the path: the floor follows the latency up,
	 * and once the latency is near it again the limit grows.
	 */
	aimd_init(&a, 8);
	period(&a, &now, 100, 1, AIMD_OK);
	assert_int_equal(a.limit, 2);
	for (i = 0; i < 40; i++)
		period(&a, &now, 180, 1, AIMD_OK);
	assert_true(a.floor_ms > 150);
	assert_true(a.limit >= 3);
}

static void
test_set_max(void **state)
{
	struct aimd a;
	uint64_t now = 10000;

	(void)state;
	aimd_init(&a, 0);
	assert_int_equal(a.max, 1);
	aimd_set_max(&a, 16);
	while (a.limit < 16)
		period(&a, &now, 10, 1, AIMD_OK);
	aimd_set_max(&a, 3);
	assert_int_equal(a.limit, 3);
	assert_true(a.left <= 3);
	aimd_set_max(&a, 0);
	assert_int_equal(a.limit, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_slow_start_to_max),
	    cmocka_unit_test(test_no_growth_without_demand),
	    cmocka_unit_test(test_backoff_halves_once_per_burst),
	    cmocka_unit_test(test_additive_after_a_cut),
	    cmocka_unit_test(test_additive_at_most_one_a_second),
	    cmocka_unit_test(test_latency),
	    cmocka_unit_test(test_set_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
