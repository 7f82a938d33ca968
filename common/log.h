/* log.h: one-line logging to stderr, shared by every thread of both programs.
 */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_DEBUG = 0,
	LOG_LVL_INFO = 1,
	LOG_LVL_WARN = 2,
	LOG_LVL_ERROR = 3,
};

/*
 * Set the program name printed in front of each line and the lowest level
 * that is printed. Call once before any thread starts; log_setlevel may be
 * called later from any thread (the level is an atomic int).
 */
void log_init(const char *progname, int level);
void log_setlevel(int level);
int log_getlevel(void);

/* Parse "debug", "info", "warn" or "error". Returns 0, or -1 if unknown. */
int log_level_parse(const char *name, int *level);
const char *log_level_name(int level);

/*
 * Each call writes one line with a single write(2), so lines from different
 * threads never interleave. log_warn and log_error append the errno text;
 * the x variants do not. fatal/fatalx exit(1): use them only at start-up or
 * for a broken invariant.
 */
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
