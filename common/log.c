/* log.c: one-line logging to stderr, shared by every thread of both programs.
 */
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_progname = "tracespool";
static atomic_int log_minlevel = LOG_LVL_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_init(const char *progname, int level)
{
	log_progname = progname;
	atomic_store(&log_minlevel, level);
}

void
log_setlevel(int level)
{
	atomic_store(&log_minlevel, level);
}

int
log_getlevel(void)
{
	return atomic_load(&log_minlevel);
}

int
log_level_parse(const char *name, int *level)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = i;
			return 0;
		}
	}
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || level > 3)
		return "unknown";
	return level_names[level];
}

/*
 * Format the whole line first so one write(2) carries it: stderr is
 * unbuffered and several threads log. Lines longer than the buffer are cut.
 */
static void
vlog(int level, int errnum, const char *fmt, va_list ap)
{
	char line[2048];
	size_t len;
	int n;

	if (level < atomic_load(&log_minlevel))
		return;
	n = snprintf(
	    line, sizeof(line), "%s: %s: ", log_progname, level_names[level]);
	if (n < 0)
		return;
	len = (size_t)n;
	n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 1)
		len = sizeof(line) - 1;
	if (errnum != 0) {
		char ebuf[128];
		const char *etext = strerror_r(errnum, ebuf, sizeof(ebuf));

		n = snprintf(line + len, sizeof(line) - len, ": %s", etext);
		if (n > 0)
			len += (size_t)n;
		if (len > sizeof(line) - 1)
			len = sizeof(line) - 1;
	}
	line[len++] = '\n';
	(void)!write(STDERR_FILENO, line, len);
}

#define LOG_FN(name, level, with_errno)                                        \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		vlog(level, with_errno ? saved : 0, fmt, ap);                  \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOG_FN(log_debug, LOG_LVL_DEBUG, 0)
LOG_FN(log_info, LOG_LVL_INFO, 0)
LOG_FN(log_warn, LOG_LVL_WARN, 1)
LOG_FN(log_warnx, LOG_LVL_WARN, 0)
LOG_FN(log_error, LOG_LVL_ERROR, 1)
LOG_FN(log_errorx, LOG_LVL_ERROR, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	atomic_store(&log_minlevel, LOG_LVL_DEBUG);
	vlog(LOG_LVL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	atomic_store(&log_minlevel, LOG_LVL_DEBUG);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
