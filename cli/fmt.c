/* fmt.c: readable sizes, ages, times and one-line text for the output. */
#include "cli/fmt.h"

#include <stdio.h>
#include <time.h>

const char *
fmt_bytes(uint64_t bytes, char *out, size_t outlen)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 1024) {
		snprintf(out, outlen, "%llu B", (unsigned long long)bytes);
		return out;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	snprintf(out, outlen, "%.1f %s", v, units[u]);
	return out;
}

const char *
fmt_age(uint64_t ms, char *out, size_t outlen)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(out, outlen, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(out, outlen, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(out, outlen, "%llum%02llus",
		    (unsigned long long)(s / 60), (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(out, outlen, "%lluh%02llum",
		    (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else
		snprintf(out, outlen, "%llud%02lluh",
		    (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
	return out;
}

const char *
fmt_time(uint64_t unix_ms, char *out, size_t outlen)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, outlen, "@%llu", (unsigned long long)unix_ms);
	return out;
}

const char *
fmt_clip(const char *s, size_t max, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0, chars = 0, cut = 0, total;

	if (outlen == 0)
		return out;
	total = fmt_width(s);
	while (*p != '\0') {
		size_t clen = 1;

		/* A UTF-8 sequence is copied whole or not at all. */
		while ((p[clen] & 0xc0) == 0x80)
			clen++;
		/* Room for "..." when the whole would not fit. */
		if ((total > max && chars + 3 >= max) ||
		    n + clen + 4 > outlen) {
			cut = 1;
			break;
		}
		if (clen == 1 && (*p < 0x20 || *p == 0x7f)) {
			out[n++] = ' ';
		} else {
			for (size_t i = 0; i < clen; i++)
				out[n++] = (char)p[i];
		}
		p += clen;
		chars++;
	}
	if (cut)
		for (size_t i = 0; i < 3 && chars < max && n + 1 < outlen;
		     i++) {
			out[n++] = '.';
			chars++;
		}
	out[n] = '\0';
	return out;
}

size_t
fmt_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

uint64_t
fmt_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
