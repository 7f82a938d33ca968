/* buf.h: a growable byte buffer for building JSON text and wire messages. */
#ifndef TS_BUF_H
#define TS_BUF_H

#include <stddef.h>

/*
 * The caller owns the struct; data is heap memory owned by the buffer and is
 * always NUL-terminated after any successful call (the NUL is not counted in
 * len). A buffer is used by one thread at a time. Functions returning int
 * give 0, or -1 when memory ran out (the buffer then keeps what it had).
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Forget the contents, keep the memory for reuse. */
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included, escaping as needed. */
int buf_add_json_string(struct buf *b, const char *s);
/* Hand the memory to the caller (free() it); the buffer is left empty. */
char *buf_release(struct buf *b, size_t *len);

#endif
