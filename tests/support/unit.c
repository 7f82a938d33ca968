/* unit.c: test data files and report collectors for the unit tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/check.h"
#include "tests/support/unit.h"

char *
test_data_read(const char *name, size_t *len)
{
	const char *dir = getenv("TS_TEST_DATA");
	char path[4096];
	FILE *f;
	char *data;
	long n;

	if (dir == NULL || dir[0] == '\0')
		dir = "tests/data";
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	CHECK(f != NULL,
	    "cannot open %s (run from the repo root or set TS_TEST_DATA)",
	    path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	CHECK(fread(data, 1, (size_t)n, f) == (size_t)n, "short read of %s",
	    path);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

void
test_reports_add(const char *msg, void *arg)
{
	struct test_reports *r = arg;
	size_t len = strlen(r->text);

	r->n++;
	snprintf(r->text + len, sizeof(r->text) - len, "%s\n", msg);
}
