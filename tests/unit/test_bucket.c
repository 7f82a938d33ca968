/* test_bucket.c: the token bucket behind upload_rate_limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "forwarder/bucket.h"

static void
test_no_limit(void **state)
{
	struct bucket b;
	int i;

	(void)state;
	bucket_init(&b, 0, 1000);
	for (i = 0; i < 1000; i++) {
		assert_int_equal(bucket_wait(&b, 1000000, 1000), 0);
		bucket_take(&b, 1000000, 1000);
	}
}

static void
test_burst_then_rate(void **state)
{
	struct bucket b;

	(void)state;
	/* 100 a second: starts full, so 100 go at once. */
	bucket_init(&b, 100, 1000);
	assert_int_equal(bucket_wait(&b, 60, 1000), 0);
	bucket_take(&b, 60, 1000);
	assert_int_equal(bucket_wait(&b, 40, 1000), 0);
	bucket_take(&b, 40, 1000);
	/* Empty: 10 more take 100 ms. */
	assert_int_equal(bucket_wait(&b, 10, 1000), 100);
	assert_int_equal(bucket_wait(&b, 10, 1050), 50);
	assert_int_equal(bucket_wait(&b, 10, 1100), 0);
	bucket_take(&b, 10, 1100);
	/* Rounded up: 3 a second, one waits 334 ms, not 333. */
	bucket_init(&b, 3, 0);
	bucket_take(&b, 3, 0);
	assert_int_equal(bucket_wait(&b, 1, 0), 334);
	assert_int_equal(bucket_wait(&b, 1, 333), 1);
	assert_int_equal(bucket_wait(&b, 1, 334), 0);
}

/* A request larger than a second's worth goes, and the next pays for it. */
static void
test_large_cost_goes_into_debt(void **state)
{
	struct bucket b;

	(void)state;
	bucket_init(&b, 50, 0);
	assert_int_equal(bucket_wait(&b, 100, 0), 0);
	bucket_take(&b, 100, 0);
	/* -50: one second to get back to 0, another to hold 50. */
	assert_int_equal(bucket_wait(&b, 100, 0), 2000);
	assert_int_equal(bucket_wait(&b, 1, 0), 1020);
	/* Over ten seconds, ten seconds' worth (plus the first burst). */
	{
		uint64_t t = 0, sent = 100;

		for (;;) {
			uint64_t w = bucket_wait(&b, 100, t);

			if (t + w > 10000)
				break;
			t += w;
			bucket_take(&b, 100, t);
			sent += 100;
		}
		assert_true(sent <= 50 * 10 + 50 + 100);
		assert_true(sent >= 50 * 10);
	}
}

static void
test_refill_capped(void **state)
{
	struct bucket b;

	(void)state;
	bucket_init(&b, 10, 0);
	bucket_take(&b, 10, 0);
	/* An hour idle fills one second's worth, not an hour's. */
	assert_int_equal(bucket_wait(&b, 10, 3600000), 0);
	bucket_take(&b, 10, 3600000);
	assert_int_equal(bucket_wait(&b, 1, 3600000), 100);
	/* A clock that does not move (or steps back) adds nothing. */
	assert_int_equal(bucket_wait(&b, 1, 3599000), 100);
}

static void
test_set_rate(void **state)
{
	struct bucket b;

	(void)state;
	bucket_init(&b, 1000, 0);
	/* Lower: the level is cut to the new second's worth. */
	bucket_set_rate(&b, 10, 0);
	bucket_take(&b, 10, 0);
	assert_int_equal(bucket_wait(&b, 10, 0), 1000);
	/* Higher: kept, refilled at the new rate. */
	bucket_set_rate(&b, 100, 0);
	assert_int_equal(bucket_wait(&b, 10, 0), 100);
	/* Off. */
	bucket_set_rate(&b, 0, 0);
	assert_int_equal(bucket_wait(&b, 1000000, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_limit),
	    cmocka_unit_test(test_burst_then_rate),
	    cmocka_unit_test(test_large_cost_goes_into_debt),
	    cmocka_unit_test(test_refill_capped),
	    cmocka_unit_test(test_set_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
