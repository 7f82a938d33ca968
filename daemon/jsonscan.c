/* jsonscan.c: UTF-8 checks and raw value spans in JSON text cJSON accepted. */
#include "daemon/jsonscan.h"

#include <stdint.h>
#include <string.h>

/*
 * cJSON skips every byte up to 0x20 as white space, not only the four that
 * JSON names. The scanners run on text cJSON accepted, so they must skip the
 * same bytes or they would misread it.
 */
static int
is_ws(unsigned char c)
{
	return c <= 0x20;
}

static size_t
skip_ws(const char *s, size_t len, size_t p)
{
	while (p < len && is_ws((unsigned char)s[p]))
		p++;
	return p;
}

/* cJSON skips a UTF-8 byte order mark at the very start of its text. */
static size_t
skip_bom_ws(const char *s, size_t len)
{
	size_t p = 0;

	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		p = 3;
	return skip_ws(s, len, p);
}

int
json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	unsigned char c, lo, hi;
	size_t n, i;

	while (p < end) {
		/*
		 * Eight ASCII bytes at a time: a word without high bits and
		 * without a zero byte needs no closer look. Text is mostly
		 * ASCII, so this is where the time goes.
		 */
		while (end - p >= 8) {
			uint64_t v;

			memcpy(&v, p, sizeof(v));
			if ((v & 0x8080808080808080ULL) != 0 ||
			    ((v - 0x0101010101010101ULL) & ~v &
			        0x8080808080808080ULL) != 0)
				break;
			p += 8;
		}
		if (p == end)
			break;
		c = *p;
		if (c < 0x80) {
			if (c == 0)
				return 0;
			p++;
			continue;
		}
		/*
		 * RFC 3629 table 3.9: the range allowed for the second byte
		 * rules out overlong forms (C0, C1, E0 80-9F, F0 80-8F),
		 * surrogates (ED A0-BF) and code points above U+10FFFF
		 * (F4 90-BF, F5-FF).
		 */
		lo = 0x80;
		hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
		} else if (c == 0xE0) {
			n = 2;
			lo = 0xA0;
		} else if (c == 0xED) {
			n = 2;
			hi = 0x9F;
		} else if (c >= 0xE1 && c <= 0xEF) {
			n = 2;
		} else if (c == 0xF0) {
			n = 3;
			lo = 0x90;
		} else if (c >= 0xF1 && c <= 0xF3) {
			n = 3;
		} else if (c == 0xF4) {
			n = 3;
			hi = 0x8F;
		} else {
			return 0;
		}
		if ((size_t)(end - p) - 1 < n)
			return 0;
		if (p[1] < lo || p[1] > hi)
			return 0;
		for (i = 2; i <= n; i++)
			if ((p[i] & 0xC0) != 0x80)
				return 0;
		p += n + 1;
	}
	return 1;
}

/*
 * Offset of the quote that closes a string, searching from p (anywhere
 * inside the string body), or len when there is none. A quote is escaped
 * when an odd run of backslashes precedes it; this reads the text the way
 * cJSON finds a string's end (a backslash always takes the next byte), and
 * lets memchr do the search.
 */
static size_t
str_close(const char *s, size_t len, size_t p)
{
	const char *q;
	size_t i, bs;

	while (p < len) {
		q = memchr(s + p, '"', len - p);
		if (q == NULL)
			return len;
		i = (size_t)(q - s);
		bs = 0;
		while (bs < i && s[i - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return i;
		p = i + 1;
	}
	return len;
}

/*
 * Move *pos from the first byte of a value to just past it. Containers are
 * skipped by counting depth, so nesting costs no stack; the text is known
 * to be balanced, so brackets are not matched pairwise. Returns 0, or -1 if
 * the text ends first or no value starts at *pos.
 */
static int
skip_value(const char *s, size_t len, size_t *pos)
{
	size_t p = *pos, depth = 0;
	unsigned char c;

	if (p >= len)
		return -1;
	c = (unsigned char)s[p];
	if (c == '"') {
		p = str_close(s, len, p + 1);
		if (p >= len)
			return -1;
		*pos = p + 1;
		return 0;
	}
	if (c == '{' || c == '[') {
		while (p < len) {
			c = (unsigned char)s[p];
			if (c == '"') {
				p = str_close(s, len, p + 1);
				if (p >= len)
					return -1;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0) {
					*pos = p + 1;
					return 0;
				}
			}
			p++;
		}
		return -1;
	}
	/* A number or a literal, as cJSON starts them. */
	if (c != '-' && (c < '0' || c > '9') && c != 't' && c != 'f' &&
	    c != 'n')
		return -1;
	while (p < len) {
		c = (unsigned char)s[p];
		if (is_ws(c) || c == ',' || c == '}' || c == ']')
			break;
		p++;
	}
	*pos = p;
	return 0;
}

/* cJSON's parse_hex4: a digit that is not hex makes the whole value 0. */
static unsigned long
hex4(const unsigned char *p)
{
	unsigned long v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= (unsigned long)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= (unsigned long)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= (unsigned long)(p[i] - 'A' + 10);
		else
			return 0;
	}
	return v;
}

static size_t
utf8_encode(unsigned long cp, unsigned char *u)
{
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	u[0] = (unsigned char)(0xF0 | (cp >> 18));
	u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	u[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * Decode the character of a string body at p, a raw byte or an escape, into
 * u as UTF-8 (*n bytes). Returns how many bytes of text it took, 0 if the
 * text ends inside an escape or the escape is unknown.
 */
static size_t
decode_char(const unsigned char *p, const unsigned char *end, unsigned char *u,
    size_t *n)
{
	unsigned long cp, lo;
	size_t adv = 2;

	*n = 1;
	if (*p != '\\') {
		u[0] = *p;
		return 1;
	}
	if (end - p < 2)
		return 0;
	switch (p[1]) {
	case 'b':
		u[0] = '\b';
		break;
	case 'f':
		u[0] = '\f';
		break;
	case 'n':
		u[0] = '\n';
		break;
	case 'r':
		u[0] = '\r';
		break;
	case 't':
		u[0] = '\t';
		break;
	case '"':
	case '\\':
	case '/':
		u[0] = p[1];
		break;
	case 'u':
		if (end - p < 6)
			return 0;
		cp = hex4(p + 2);
		adv = 6;
		/* A high surrogate takes the low one that follows it. */
		if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 12 &&
		    p[6] == '\\' && p[7] == 'u') {
			lo = hex4(p + 8);
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 +
				    (((cp & 0x3FF) << 10) | (lo & 0x3FF));
				adv = 12;
			}
		}
		*n = utf8_encode(cp, u);
		break;
	default:
		return 0;
	}
	return adv;
}

/*
 * 1 if the string body p..end decodes to key, as cJSON decodes it: escapes
 * are undone on the fly, and a decoded NUL ends the string because cJSON
 * keeps keys as C strings (so "a\u0000b" is the key "a" to it).
 */
static int
key_equals(const unsigned char *p, const unsigned char *end, const char *key)
{
	const unsigned char *k = (const unsigned char *)key;
	unsigned char u[4];
	size_t adv, n, i;

	while (p < end) {
		adv = decode_char(p, end, u, &n);
		if (adv == 0)
			return 0;
		p += adv;
		for (i = 0; i < n; i++) {
			if (u[i] == 0)
				return *k == 0;
			if (*k != u[i])
				return 0;
			k++;
		}
	}
	return *k == 0;
}

int
json_member_span(
    const char *s, size_t len, const char *key, size_t *off, size_t *vlen)
{
	size_t p, kend, vstart;
	int match;

	p = skip_bom_ws(s, len);
	if (p >= len || s[p] != '{')
		return -1;
	p = skip_ws(s, len, p + 1);
	if (p < len && s[p] == '}')
		return -1;
	for (;;) {
		if (p >= len || s[p] != '"')
			return -1;
		kend = str_close(s, len, p + 1);
		if (kend >= len)
			return -1;
		match = key_equals((const unsigned char *)s + p + 1,
		    (const unsigned char *)s + kend, key);
		p = skip_ws(s, len, kend + 1);
		if (p >= len || s[p] != ':')
			return -1;
		p = skip_ws(s, len, p + 1);
		vstart = p;
		if (skip_value(s, len, &p) == -1)
			return -1;
		if (match) {
			*off = vstart;
			*vlen = p - vstart;
			return 0;
		}
		p = skip_ws(s, len, p);
		/* '}' here means the member is absent. */
		if (p >= len || s[p] != ',')
			return -1;
		p = skip_ws(s, len, p + 1);
	}
}

long
json_array_spans(
    const char *s, size_t len, size_t *offs, size_t *lens, size_t max)
{
	size_t p, vstart, n = 0;

	p = skip_bom_ws(s, len);
	if (p >= len || s[p] != '[')
		return -1;
	p = skip_ws(s, len, p + 1);
	if (p < len && s[p] == ']')
		return 0;
	for (;;) {
		vstart = p;
		if (skip_value(s, len, &p) == -1)
			return -1;
		if (n >= max)
			return -1;
		offs[n] = vstart;
		lens[n] = p - vstart;
		n++;
		p = skip_ws(s, len, p);
		if (p >= len)
			return -1;
		if (s[p] == ']')
			return (long)n;
		if (s[p] != ',')
			return -1;
		p = skip_ws(s, len, p + 1);
	}
}

const char *
json_trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && is_ws((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_ws((unsigned char)s[n - 1]))
		n--;
	*len = n;
	return s;
}
