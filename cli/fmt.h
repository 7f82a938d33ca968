/* fmt.h: readable sizes, ages, times and clipped text for the output. */
#ifndef TS_CLI_FMT_H
#define TS_CLI_FMT_H

#include <stddef.h>
#include <stdint.h>

/* Each writes into out (always NUL-terminated) and returns out. */

/* "512 B", "3.4 KiB", "1.0 GiB". */
const char *fmt_bytes(uint64_t bytes, char *out, size_t outlen);
/* "850ms", "42s", "3m12s", "2h05m", "3d04h". */
const char *fmt_age(uint64_t ms, char *out, size_t outlen);
/* Unix milliseconds as local time, "2024-05-01 12:00:03". */
const char *fmt_time(uint64_t unix_ms, char *out, size_t outlen);
/*
 * s in at most max characters (UTF-8 aware), the last three "..." when it
 * had to be cut; control characters become spaces, so one record stays
 * on one line.
 */
const char *fmt_clip(const char *s, size_t max, char *out, size_t outlen);
/* Characters (not bytes) in UTF-8 text, for padding columns. */
size_t fmt_width(const char *s);

/* Wall clock in Unix milliseconds. */
uint64_t fmt_now_ms(void);

#endif
