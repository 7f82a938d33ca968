/* utf8.h: strict UTF-8 checks (RFC 3629) for the otlp layer. */
#ifndef TS_OTLP_UTF8_H
#define TS_OTLP_UTF8_H

#include <stddef.h>

/*
 * The length (1 to 4) of the well-formed UTF-8 character at s, of the len
 * bytes there, or 0 when there is none: an overlong form, a surrogate
 * (U+D800..U+DFFF), a code point past U+10FFFF, a stray continuation byte
 * or a sequence cut by len. U+0000 is a character (length 1). Pure.
 */
size_t otlp_utf8_char(const unsigned char *s, size_t len);

/* 1 when all len bytes at s are well-formed UTF-8, else 0. Pure. */
int otlp_utf8_valid(const void *s, size_t len);

#endif
