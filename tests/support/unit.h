/* unit.h: what the cmocka unit tests share beside CHECK: the test data
 * files and a collector for the report callbacks of loaders. */
#ifndef TS_TEST_UNIT_H
#define TS_TEST_UNIT_H

#include <stddef.h>

/*
 * The file name of tests/data (or of $TS_TEST_DATA, when set), read whole
 * into a NUL-terminated heap copy (free it); *len gets its size. A file
 * that cannot be read fails the running test. Run from the tree's root.
 */
char *test_data_read(const char *name, size_t *len);

/* What a loader's report(msg, arg) callback was given: the count and the
 * messages, one a line (cut at the size of text). */
struct test_reports {
	int n;
	char text[8192];
};

/* The report callback: arg is a struct test_reports, zeroed before use. */
void test_reports_add(const char *msg, void *arg);

#endif
