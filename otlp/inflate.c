/* inflate.c: gzip and deflate request bodies, decompressed under a size
 * limit that holds while inflating. */
#include "otlp/inflate.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

/* The first output block; it then doubles up to the limit. */
#define FIRST_BLOCK ((size_t)64 * 1024)

/*
 * Grow b's memory towards cap_max bytes in all (the NUL's byte included):
 * double it, start at FIRST_BLOCK, never past cap_max. buf_reserve cannot
 * do this: it doubles past any limit, and here the limit is the point.
 * Keeps buf's rules (data NUL-terminated, cap counts the NUL's byte).
 * Returns 0, or -1 when realloc fails (b unchanged) or b is at cap_max.
 */
static int
grow_capped(struct buf *b, size_t cap_max)
{
	size_t ncap;
	char *p;

	if (b->cap >= cap_max)
		return -1;
	if (b->cap < FIRST_BLOCK)
		ncap = FIRST_BLOCK;
	else if (b->cap > SIZE_MAX / 2)
		ncap = SIZE_MAX;
	else
		ncap = b->cap * 2;
	if (ncap > cap_max)
		ncap = cap_max;
	p = realloc(b->data, ncap);
	if (p == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	b->data[b->len] = '\0';
	return 0;
}

/*
 * 1 when the body begins with a zlib header (RFC 1950: method 8, a window
 * of at most 32 KiB, the check bits). A raw deflate stream never does in
 * practice: its first byte would have to open a stored block that is not
 * the last (BFINAL 0, BTYPE 00) with bit 3 set, and encoders fill the rest
 * of a stored block's header byte with zeros.
 */
static int
has_zlib_header(const unsigned char *p, size_t len)
{
	if (len < 2)
		return 0;
	return (p[0] & 0x0f) == 8 && (p[0] >> 4) <= 7 &&
	    ((unsigned)p[0] << 8 | p[1]) % 31 == 0;
}

/* Give out back its length on entry, say why, return rc. */
static int fail(struct buf *out, size_t base, int rc, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int
fail(struct buf *out, size_t base, int rc, char *err, size_t errlen,
    const char *fmt, ...)
{
	va_list ap;

	buf_truncate(out, base);
	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int
copy_identity(const void *in, size_t len, size_t max, struct buf *out,
    char *err, size_t errlen)
{
	size_t base = out->len;

	if (len > max)
		return fail(out, base, OTLP_E_TOOBIG, err, errlen,
		    "body: passes %zu bytes", max);
	while (out->cap < base + len + 1)
		if (grow_capped(out, base + len + 1) == -1)
			return fail(out, base, OTLP_E_NOMEM, err, errlen,
			    "body: out of memory");
	if (len > 0)
		memcpy(out->data + base, in, len);
	out->len = base + len;
	out->data[out->len] = '\0';
	return OTLP_OK;
}

int
otlp_inflate(enum otlp_compression c, const void *in, size_t len, size_t max,
    struct buf *out, char *err, size_t errlen)
{
	const unsigned char *p = in;
	const char *what = c == OTLP_GZIP ? "gzip" : "deflate";
	size_t base = out->len, cap_max, left = len;
	z_stream z;
	int wbits, rc, ret;

	if (c == OTLP_IDENTITY)
		return copy_identity(in, len, max, out, err, errlen);
	if (c != OTLP_GZIP && c != OTLP_DEFLATE)
		return fail(out, base, OTLP_E_BAD, err, errlen,
		    "body: unknown content encoding");
	/* Room for max bytes, one more to see that there was more, the NUL. */
	cap_max = max > SIZE_MAX - base - 2 ? SIZE_MAX : base + max + 2;
	if (c == OTLP_GZIP)
		wbits = 16 + MAX_WBITS;
	else
		wbits = has_zlib_header(p, len) ? MAX_WBITS : -MAX_WBITS;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, wbits) != Z_OK)
		return fail(out, base, OTLP_E_NOMEM, err, errlen,
		    "body: out of memory");
	z.next_in = (unsigned char *)p;
	for (;;) {
		size_t room, before;

		if (z.avail_in == 0 && left > 0) {
			z.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			left -= z.avail_in;
		}
		if (out->cap == 0 || out->cap - out->len - 1 == 0) {
			if (out->cap >= cap_max) {
				ret = OTLP_E_TOOBIG;
				break;
			}
			if (grow_capped(out, cap_max) == -1) {
				ret = OTLP_E_NOMEM;
				break;
			}
		}
		room = out->cap - out->len - 1;
		z.next_out = (unsigned char *)out->data + out->len;
		z.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
		before = z.avail_out;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += before - z.avail_out;
		out->data[out->len] = '\0';
		if (out->len - base > max) {
			ret = OTLP_E_TOOBIG;
			break;
		}
		if (rc == Z_STREAM_END) {
			if (z.avail_in == 0 && left == 0) {
				ret = OTLP_OK;
				break;
			}
			/* gzip(1) reads concatenated members as one file. */
			if (c == OTLP_GZIP && z.next_in[0] == 0x1f &&
			    inflateReset(&z) == Z_OK)
				continue;
			inflateEnd(&z);
			return fail(out, base, OTLP_E_BAD, err, errlen,
			    "body: bytes after the end of the %s stream", what);
		}
		if (rc == Z_OK || rc == Z_BUF_ERROR) {
			/* Room to write but nothing left to read: cut short. */
			if (z.avail_in == 0 && left == 0 && z.avail_out > 0) {
				inflateEnd(&z);
				return fail(out, base, OTLP_E_BAD, err, errlen,
				    "body: truncated %s stream", what);
			}
			continue;
		}
		if (rc == Z_MEM_ERROR) {
			ret = OTLP_E_NOMEM;
			break;
		}
		inflateEnd(&z);
		return fail(out, base, OTLP_E_BAD, err, errlen,
		    "body: broken %s stream (%s)", what,
		    rc == Z_NEED_DICT   ? "needs a preset dictionary"
		        : z.msg != NULL ? z.msg
		                        : "invalid data");
	}
	inflateEnd(&z);
	if (ret == OTLP_E_TOOBIG)
		return fail(out, base, ret, err, errlen,
		    "body: decompressed size passes %zu bytes", max);
	if (ret == OTLP_E_NOMEM)
		return fail(out, base, ret, err, errlen, "body: out of memory");
	return OTLP_OK;
}
