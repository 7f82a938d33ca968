/* test_buf.c: unit tests for struct buf: appends, JSON strings, and the
 * sticky failure that keeps a failed text from going out truncated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "tests/support/check.h"

/* More than any buffer can hold: buf_reserve refuses it without asking
 * malloc, the one way to make an append fail on demand. */
#define TOO_MUCH SIZE_MAX

static void
test_appends(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	CHECK(b.data == NULL && b.len == 0 && !buf_failed(&b),
	    "a new buffer is not empty and sound");
	CHECK(buf_addstr(&b, "ab") == 0 && buf_addch(&b, 'c') == 0 &&
	        buf_add(&b, "de", 2) == 0 && buf_printf(&b, "%d", 42) == 0,
	    "an append failed");
	CHECK(
	    b.len == 7 && strcmp(b.data, "abcde42") == 0, "got \"%s\"", b.data);
	buf_reset(&b);
	CHECK(b.len == 0 && b.data != NULL && b.data[0] == '\0',
	    "buf_reset did not empty the buffer");
	buf_free(&b);
}

static void
test_json_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	CHECK(buf_add_json_string(&b, "a\"b\\c\n\r\t\x01\xc3\xa9") == 0,
	    "buf_add_json_string failed");
	CHECK(strcmp(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\xc3\xa9\"") == 0,
	    "escaped as %s", b.data);
	buf_free(&b);
}

/* A failed append marks the buffer; later appends do nothing. */
static void
test_failure_is_sticky(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	CHECK(buf_addstr(&b, "{\"a\":") == 0, "first append failed");
	CHECK(buf_reserve(&b, TOO_MUCH) == -1, "an impossible reserve passed");
	CHECK(buf_failed(&b), "the failure was not kept");
	CHECK(buf_addstr(&b, "1}") == -1, "an append after the failure passed");
	CHECK(buf_addch(&b, '}') == -1 && buf_printf(&b, "%d", 1) == -1 &&
	        buf_add_json_string(&b, "x") == -1 && buf_add(&b, "y", 1) == -1,
	    "an append after the failure passed");
	CHECK(b.len == 5 && strcmp(b.data, "{\"a\":") == 0,
	    "a failed buffer holds \"%s\", not what it had at the failure",
	    b.data);
	CHECK(buf_failed(&b), "later appends cleared the failure");
	buf_free(&b);
}

/* buf_reset and buf_truncate forget the failure; the buffer works again. */
static void
test_failure_cleared(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	buf_addstr(&b, "keep");
	buf_reserve(&b, TOO_MUCH);
	buf_reset(&b);
	CHECK(!buf_failed(&b), "buf_reset kept the failure");
	CHECK(buf_addstr(&b, "abc") == 0 && strcmp(b.data, "abc") == 0,
	    "the buffer does not work after buf_reset");
	buf_reserve(&b, TOO_MUCH);
	buf_truncate(&b, 1);
	CHECK(!buf_failed(&b) && b.len == 1 && strcmp(b.data, "a") == 0,
	    "buf_truncate left \"%s\", failed %d", b.data, buf_failed(&b));
	buf_truncate(&b, 10);
	CHECK(b.len == 1, "buf_truncate lengthened the buffer to %zu", b.len);
	CHECK(buf_addch(&b, 'z') == 0 && strcmp(b.data, "az") == 0,
	    "the buffer does not work after buf_truncate");
	buf_free(&b);
}

static void
test_release(void **state)
{
	struct buf b;
	size_t len = 0;
	char *p;

	(void)state;
	buf_init(&b);
	buf_addstr(&b, "text");
	p = buf_release(&b, &len);
	CHECK(p != NULL, "buf_release gave NULL");
	CHECK(len == 4 && strcmp(p, "text") == 0,
	    "buf_release gave \"%s\" (%zu)", p, len);
	CHECK(b.data == NULL && b.len == 0 && !buf_failed(&b),
	    "the buffer is not empty after buf_release");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appends),
	    cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_failure_is_sticky),
	    cmocka_unit_test(test_failure_cleared),
	    cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
