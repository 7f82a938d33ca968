/* test_uuid.c: unit tests for UUID v4 ids: formatting, uniqueness, fork. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/uuid.h"
#include "tests/support/check.h"

/* 8-4-4-4-12 lower-case hex, version 4, variant 10xx. */
static int
is_v4(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-4xxx-vxxx-xxxxxxxxxxxx";
	size_t i;

	if (strlen(s) != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++) {
		if (shape[i] == 'x' && strchr("0123456789abcdef", s[i]) == NULL)
			return 0;
		if (shape[i] == 'v' && strchr("89ab", s[i]) == NULL)
			return 0;
		if (shape[i] != 'x' && shape[i] != 'v' && s[i] != shape[i])
			return 0;
	}
	return 1;
}

static void
test_uuid_format(void **state)
{
	unsigned char b[16];
	char out[UUID_LEN + 1];
	int i;

	(void)state;
	memset(b, 0, sizeof(b));
	uuid_format(b, out);
	CHECK(strcmp(out, "00000000-0000-4000-8000-000000000000") == 0,
	    "zero bytes formatted as %s", out);
	memset(b, 0xff, sizeof(b));
	uuid_format(b, out);
	CHECK(strcmp(out, "ffffffff-ffff-4fff-bfff-ffffffffffff") == 0,
	    "0xff bytes formatted as %s", out);
	for (i = 0; i < 16; i++)
		b[i] = (unsigned char)(i * 17);
	uuid_format(b, out);
	CHECK(strcmp(out, "00112233-4455-4677-8899-aabbccddeeff") == 0,
	    "counting bytes formatted as %s", out);
	CHECK(b[6] == 0x66 && b[8] == 0x88, "uuid_format changed its input");
}

static int
cmp_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Enough ids to refill the per-thread pool a few times; all distinct. */
static void
test_uuid_v4(void **state)
{
	enum { N = 2000 };
	char(*ids)[UUID_LEN + 1] = calloc(N, sizeof(*ids));
	size_t i;

	(void)state;
	assert_non_null(ids);
	for (i = 0; i < N; i++) {
		uuid_v4(ids[i], NULL);
		CHECK(is_v4(ids[i]), "uuid_v4 made %s, not a v4 UUID", ids[i]);
	}
	qsort(ids, N, sizeof(*ids), cmp_ids);
	for (i = 1; i < N; i++)
		CHECK(strcmp(ids[i - 1], ids[i]) != 0, "uuid_v4 repeated %s",
		    ids[i]);
	free(ids);
}

/* A forked child must not hand out the ids its parent is about to. */
static void
test_uuid_after_fork(void **state)
{
	char parent[UUID_LEN + 1], child[UUID_LEN + 1];
	int fds[2], status;
	pid_t pid;

	(void)state;
	uuid_v4(parent, NULL); /* the pool now holds the next ids */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		uuid_v4(child, NULL);
		_exit(write(fds[1], child, sizeof(child)) == sizeof(child) ? 0
		                                                           : 1);
	}
	close(fds[1]);
	uuid_v4(parent, NULL);
	CHECK(read(fds[0], child, sizeof(child)) == sizeof(child),
	    "no id from the child");
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	CHECK(is_v4(child), "child made %s, not a v4 UUID", child);
	CHECK(strcmp(parent, child) != 0,
	    "parent and forked child made the same id %s", child);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uuid_format),
	    cmocka_unit_test(test_uuid_v4),
	    cmocka_unit_test(test_uuid_after_fork),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
