/* buf.c: a growable byte buffer for building JSON text and wire messages. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->failed = 0;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void
buf_reset(struct buf *b)
{
	buf_truncate(b, 0);
}

void
buf_truncate(struct buf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
	if (b->data != NULL)
		b->data[b->len] = '\0';
	b->failed = 0;
}

int
buf_failed(const struct buf *b)
{
	return b->failed;
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *p;

	if (b->failed)
		return -1;
	if (extra > (size_t)-1 - b->len - 1) {
		b->failed = 1;
		return -1;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > (size_t)-1 / 2 ? need : ncap * 2;
	p = realloc(b->data, ncap);
	if (p == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) == -1)
		return -1;
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, char c)
{
	return buf_add(b, &c, 1);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		b->failed = 1;
	if (b->failed || buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_add_json_string(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;

	if (buf_addch(b, '"') == -1)
		return -1;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		char esc[6] = {'\\', 'u', '0', '0', 0, 0};
		int rc;

		switch (*p) {
		case '"':
			rc = buf_add(b, "\\\"", 2);
			break;
		case '\\':
			rc = buf_add(b, "\\\\", 2);
			break;
		case '\n':
			rc = buf_add(b, "\\n", 2);
			break;
		case '\r':
			rc = buf_add(b, "\\r", 2);
			break;
		case '\t':
			rc = buf_add(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 0xf];
				rc = buf_add(b, esc, 6);
			} else {
				rc = buf_addch(b, (char)*p);
			}
		}
		if (rc == -1)
			return -1;
	}
	return buf_addch(b, '"');
}

char *
buf_release(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (len != NULL)
		*len = b->len;
	buf_init(b);
	return p;
}
