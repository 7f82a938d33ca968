/* buf.h: a growable byte buffer for building JSON text and wire messages. */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stddef.h>

/*
 * The caller owns the struct; data is heap memory owned by the buffer and is
 * always NUL-terminated after any successful call (the NUL is not counted in
 * len; data is NULL until the first one). A buffer is used by one thread at
 * a time.
 *
 * Failure is sticky: an append that runs out of memory leaves the contents
 * as they were and marks the buffer failed, and every later append does
 * nothing and fails too, so what the buffer holds is always a whole prefix
 * of what was appended. A caller builds a text with unchecked appends and
 * asks buf_failed once at the end, before it sends or keeps the text: a
 * failed append can never go out as truncated JSON. Functions returning int
 * give 0, or -1 when this call or an earlier one failed.
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
	int failed; /* an append failed since buf_init, buf_reset, buf_truncate
	             */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Forget the contents and any failure, keep the memory for reuse. */
void buf_reset(struct buf *b);
/*
 * Cut the contents back to len bytes (at most b->len) and forget a failure:
 * for a caller undoing what it appended since the length was len. Take len
 * while buf_failed(b) is 0, or an earlier failure is forgotten with it.
 */
void buf_truncate(struct buf *b, size_t len);
/* 1 when an append failed since buf_init, buf_reset or buf_truncate. */
int buf_failed(const struct buf *b);
/* Make room for extra more bytes; fails (and marks b) like an append. */
int buf_reserve(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included, escaping as needed. */
int buf_add_json_string(struct buf *b, const char *s);
/*
 * Hand the memory to the caller (free() it; NULL when nothing was ever
 * appended); the buffer is left empty and not failed. Ask buf_failed first.
 */
char *buf_release(struct buf *b, size_t *len);

#endif
