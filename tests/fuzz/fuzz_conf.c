/* fuzz_conf.c: libFuzzer target for configuration files: load, check, print,
 * reload. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf/conf.h"

/*
 * Each input is the text of a configuration file. It is loaded into a fresh
 * configuration through a memory file, then checked and printed, as
 * `tracespoold -t` does. When it loaded without errors, what conf_print
 * wrote must itself load without errors and print the same: -t's output is
 * a valid configuration that means the same thing. A violation aborts.
 */

static int memfd = -1;
static char memfd_path[64];

static void
discard(const char *msg, void *arg)
{
	size_t *n = arg;

	(*n)++;
	/* Every message is text a terminal can show: no NUL cut it short. */
	if (msg[0] == '\0')
		abort();
}

/* Replace the memory file's contents with data[0..len). */
static int
set_file(const void *data, size_t len)
{
	const char *p = data;

	if (ftruncate(memfd, 0) == -1 || lseek(memfd, 0, SEEK_SET) == -1)
		return -1;
	while (len > 0) {
		ssize_t n = write(memfd, p, len);

		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* conf_print into a heap string; NULL if out of memory. */
static char *
print_conf(const struct conf *c, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);

	if (fp == NULL)
		return NULL;
	conf_print(c, fp);
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void __attribute__((noreturn))
violated(const char *what, const char *printed)
{
	fprintf(stderr, "fuzz_conf: invariant violated: %s\n", what);
	if (printed != NULL)
		fprintf(stderr, "fuzz_conf: printed:\n%s\n", printed);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	memfd = memfd_create("fuzz_conf", MFD_CLOEXEC);
	if (memfd == -1) {
		perror("fuzz_conf: memfd_create");
		exit(1);
	}
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct conf *c, *again;
	char *printed, *reprinted;
	size_t plen, rlen, msgs = 0;
	FILE *null;
	int errors;

	if (set_file(in, len) == -1 || (c = conf_new()) == NULL)
		return 0;
	errors = conf_load_file(c, memfd_path, 1, discard, &msgs);
	if (errors != 0 && msgs == 0)
		violated("every error is reported", NULL);
	conf_check(c, discard, &msgs);
	if ((null = fopen("/dev/null", "we")) != NULL) {
		conf_print(c, null);
		fclose(null);
	}
	if (errors != 0 || (printed = print_conf(c, &plen)) == NULL) {
		conf_free(c);
		return 0;
	}
	if (set_file(printed, plen) == -1 || (again = conf_new()) == NULL) {
		free(printed);
		conf_free(c);
		return 0;
	}
	if (conf_load_file(again, memfd_path, 1, discard, &msgs) != 0)
		violated("the printed configuration loads", printed);
	if ((reprinted = print_conf(again, &rlen)) != NULL) {
		if (rlen != plen || memcmp(printed, reprinted, plen) != 0)
			violated("the printed configuration means the same",
			    printed);
		free(reprinted);
	}
	free(printed);
	conf_free(again);
	conf_free(c);
	return 0;
}
