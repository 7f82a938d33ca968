/* utf8.c: strict UTF-8 checks (RFC 3629) for the otlp layer. */
#include "otlp/utf8.h"

#include <stdint.h>
#include <string.h>

/*
 * RFC 3629's table: the first byte fixes the length and the range of the
 * second byte; every later byte is 80..BF.
 */
size_t
otlp_utf8_char(const unsigned char *s, size_t len)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

int
otlp_utf8_valid(const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t i = 0, n;
	uint64_t w;

	while (i < len) {
		/* Most of a trace is ASCII: eight bytes at a time. */
		if (len - i >= 8) {
			memcpy(&w, p + i, 8);
			if ((w & UINT64_C(0x8080808080808080)) == 0) {
				i += 8;
				continue;
			}
		}
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		n = otlp_utf8_char(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}
