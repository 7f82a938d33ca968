/* check.h: the CHECK macro of the C tests and test tools: a condition and
 * the message that says what failed. */
#ifndef TS_TEST_CHECK_H
#define TS_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/*
 * CHECK(cond, fmt, ...): when cond is false, fail with the printf-style
 * message, which should say what was expected and what came instead. In a
 * cmocka test (cmocka.h included before this header) the test fails and
 * the next one runs; in a tool or a fuzz target the message goes to
 * stderr with the file and line, and the process aborts (libFuzzer reports
 * an abort as a crash, with the input that caused it).
 */
#ifdef fail_msg
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			fail_msg(__VA_ARGS__);                                 \
	} while (0)
#else
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: ", __FILE__,     \
			    __LINE__);                                         \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			abort();                                               \
		}                                                              \
	} while (0)
#endif

/* The number of elements of an array (not of a pointer). */
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif
