/* inflate.h: gzip and deflate request bodies, decompressed under a size
 * limit that holds while inflating; pure, does no I/O. */
#ifndef TS_OTLP_INFLATE_H
#define TS_OTLP_INFLATE_H

#include <stddef.h>

#include "common/buf.h"
#include "otlp/otlp.h"

/*
 * Decompress the len bytes at in, coded as c, and append the result to out
 * (the caller's buffer; usually empty). OTLP_IDENTITY copies.
 *
 * OTLP_GZIP takes one gzip member (RFC 1952) or several concatenated, as
 * gzip(1) does. OTLP_DEFLATE takes the zlib format (RFC 1950, which is what
 * HTTP's "deflate" names) and, because some clients send it, raw deflate
 * (RFC 1951) when the body does not begin with a zlib header.
 *
 * max bounds what is appended. It is checked while inflating, so a small
 * body that would inflate to gigabytes costs at most max bytes: out's
 * capacity never passes its length on entry + max + 2 (one byte to see that
 * there was more, one for buf's NUL).
 *
 * Returns OTLP_OK; OTLP_E_TOOBIG when the output would pass max (the caller
 * answers 413); OTLP_E_BAD for a stream that is broken, truncated, fails
 * its checksum or has bytes after its end (400); OTLP_E_NOMEM. On error,
 * out holds what it held on entry (its capacity may have grown, within the
 * bound above) and err says why ("body: ..."). Any thread.
 */
int otlp_inflate(enum otlp_compression c, const void *in, size_t len,
    size_t max, struct buf *out, char *err, size_t errlen);

#endif
