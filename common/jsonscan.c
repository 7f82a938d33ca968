/* jsonscan.c: strict JSON and UTF-8 checks, and a view of JSON text cJSON
 * accepted: members, elements and raw value spans, without a tree. */
#include "common/jsonscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#if defined(__SSE2__) && !defined(JSONSCAN_PORTABLE)
#include <emmintrin.h>
#endif

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

/* cJSON skips a UTF-8 byte order mark at the very start of its text. */
static size_t
skip_bom_ws(const char *s, size_t len)
{
	size_t p = 0;

	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		p = 3;
	return json_skip_ws(s, len, p);
}

/*
 * Length of the valid UTF-8 sequence that starts at p (a byte of 0x80 or
 * more), or 0 when it is not one. RFC 3629 table 3.9: the range allowed
 * for the second byte rules out overlong forms (C0, C1, E0 80-9F,
 * F0 80-8F), surrogates (ED A0-BF) and code points above U+10FFFF
 * (F4 90-BF, F5-FF).
 */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = *p, lo = 0x80, hi = 0xBF;
	size_t n, i;

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
	return n + 1;
}

int
json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	size_t n;

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
		if (*p < 0x80) {
			if (*p == 0)
				return 0;
			p++;
			continue;
		}
		if ((n = utf8_seq(p, end)) == 0)
			return 0;
		p += n;
	}
	return 1;
}

/* Where and why a text is not strict JSON. */
struct jc_fail {
	size_t off;
	const char *why;
	int byte; /* the offending byte, shown when 0 or more */
};

static int
jc_fail(struct jc_fail *f, size_t off, const char *why, int byte)
{
	f->off = off;
	f->why = why;
	f->byte = byte;
	return -1;
}

/* The four white space bytes of RFC 8259 section 2. */
static int
jc_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
jc_hex4(const unsigned char *p, unsigned long *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		*v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			*v |= (unsigned long)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			*v |= (unsigned long)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			*v |= (unsigned long)(p[i] - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/*
 * The string scan's fast path: the length of the run of bytes at p[0..n)
 * that need no closer look inside a string (none below 0x20, none 0x80 or
 * above, no '"' and no backslash), so n when all of them are plain. JSON
 * is mostly such runs between short tokens, and this is where json_check
 * spends its time: sixteen bytes a step with SSE2 (baseline on x86_64),
 * else (or built with -DJSONSCAN_PORTABLE, to test it) eight as a 64-bit
 * word, and the first byte that needs a look found by counting trailing
 * zeros, not by a loop over bytes.
 */
#if defined(__SSE2__) && !defined(JSONSCAN_PORTABLE)
static size_t
jc_plain_run(const unsigned char *p, size_t n)
{
	const __m128i quote = _mm_set1_epi8('"');
	const __m128i bslash = _mm_set1_epi8('\\');
	const __m128i space = _mm_set1_epi8(0x20);
	size_t i = 0;

	while (n - i >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(p + i));
		/* Signed: below 0x20 is a control byte or one of 0x80 up. */
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote),
		                             _mm_cmpeq_epi8(v, bslash)),
		    _mm_cmplt_epi8(v, space));
		unsigned bits = (unsigned)_mm_movemask_epi8(m);

		if (bits != 0)
			return i + (size_t)__builtin_ctz(bits);
		i += 16;
	}
	while (
	    i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
}
#else
static size_t
jc_plain_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t high = 0x8080808080808080ULL;
	size_t i = 0;
	uint64_t v, q, b, m;

	while (n - i >= 8) {
		memcpy(&v, p + i, sizeof(v));
		q = v ^ (ones * '"');
		b = v ^ (ones * '\\');
		/*
		 * has-less-than and has-zero-byte tests: a false positive
		 * only ever sits above a true one, so the lowest bit set
		 * is the first byte that needs a look (little-endian).
		 */
		m = (v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) |
		        ((b - ones) & ~b)) &
		    high;
		if (m != 0) {
			if (__BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__)
				break;
			return i + (size_t)__builtin_ctzll(m) / 8;
		}
		i += 8;
	}
	while (
	    i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
		i++;
	return i;
}
#endif

/*
 * The escape whose backslash is at p, with a byte after it: *n its
 * length, *cp the code point of a \u escape (the pair's first, for a
 * surrogate pair), else 0. Only the escapes RFC 8259 lists; a surrogate
 * only as a high-low pair.
 */
static int
jc_escape(const unsigned char *s, size_t len, size_t p, size_t *n,
    unsigned long *cp, struct jc_fail *f)
{
	unsigned long lo;

	*cp = 0;
	if (strchr("\"\\/bfnrt", s[p + 1]) != NULL && s[p + 1] != 0) {
		*n = 2;
		return 0;
	}
	if (s[p + 1] != 'u')
		return jc_fail(f, p, "unknown escape", s[p + 1]);
	if (len - p < 6 || jc_hex4(s + p + 2, cp) == -1)
		return jc_fail(f, p, "\\u needs four hex digits", -1);
	if (*cp >= 0xDC00 && *cp <= 0xDFFF)
		return jc_fail(
		    f, p, "a low surrogate escape without a high one", -1);
	*n = 6;
	if (*cp >= 0xD800 && *cp <= 0xDBFF) {
		if (len - p < 12 || s[p + 6] != '\\' || s[p + 7] != 'u' ||
		    jc_hex4(s + p + 8, &lo) == -1 || lo < 0xDC00 || lo > 0xDFFF)
			return jc_fail(f, p,
			    "a high surrogate escape without a low one", -1);
		*n = 12;
	}
	return 0;
}

/*
 * The rest of a string, from p on, where a byte that needs a look is (or
 * the text ends): no raw control character, only the escapes RFC 8259
 * lists, a \u escape of a surrogate only as a high-low pair (cJSON
 * refuses the others too), valid UTF-8. *pos is the opening quote, and
 * moves to just past the closing one; *nul is set at a \u0000 escape.
 */
static __attribute__((noinline)) int
jc_string_rest(const unsigned char *s, size_t len, size_t *pos, size_t p,
    int *nul, struct jc_fail *f)
{
	const unsigned char *end = s + len;
	size_t n;
	unsigned long cp;

	for (;;) {
		if (p >= len)
			return jc_fail(f, *pos, "a string is not closed", -1);
		if (s[p] == '"')
			break;
		if (s[p] < 0x20)
			return jc_fail(f, p,
			    "a control character in a string must be escaped",
			    s[p]);
		if (s[p] >= 0x80) {
			if ((n = utf8_seq(s + p, end)) == 0)
				return jc_fail(f, p, "invalid UTF-8", s[p]);
			p += n;
		} else if (len - p < 2) {
			/* A backslash, the text's last byte. */
			return jc_fail(f, *pos, "a string is not closed", -1);
		} else if (jc_escape(s, len, p, &n, &cp, f) == -1) {
			return -1;
		} else {
			if (n == 6 && cp == 0)
				*nul = 1;
			p += n;
		}
		p += jc_plain_run(s + p, len - p);
	}
	*pos = p + 1;
	return 0;
}

/*
 * A string from its opening quote at *pos to just past its closing one.
 * Most strings are plain bytes to their closing quote: those are taken
 * here, where jc_text inlines it, and the rest by jc_string_rest.
 */
static inline int
jc_string(const unsigned char *s, size_t len, size_t *pos, int *nul,
    struct jc_fail *f)
{
	size_t p = *pos + 1;

	p += jc_plain_run(s + p, len - p);
	if (p < len && s[p] == '"') {
		*pos = p + 1;
		return 0;
	}
	return jc_string_rest(s, len, pos, p, nul, f);
}

static int
jc_digit(const unsigned char *s, size_t len, size_t p)
{
	return p < len && s[p] >= '0' && s[p] <= '9';
}

/*
 * A number from *pos: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * What follows it is the caller's to check, except a digit after a
 * leading zero, which is this rule's to refuse.
 */
static int
jc_number(const unsigned char *s, size_t len, size_t *pos, struct jc_fail *f)
{
	size_t p = *pos;

	if (s[p] == '-')
		p++;
	if (!jc_digit(s, len, p))
		return jc_fail(f, p, "a digit must follow '-'", -1);
	if (s[p] == '0') {
		p++;
		if (jc_digit(s, len, p))
			return jc_fail(
			    f, *pos, "a number may not start with 0", -1);
	} else {
		while (jc_digit(s, len, p))
			p++;
	}
	if (p < len && s[p] == '.') {
		p++;
		if (!jc_digit(s, len, p))
			return jc_fail(f, p, "a digit must follow '.'", -1);
		while (jc_digit(s, len, p))
			p++;
	}
	if (p < len && (s[p] == 'e' || s[p] == 'E')) {
		p++;
		if (p < len && (s[p] == '+' || s[p] == '-'))
			p++;
		if (!jc_digit(s, len, p))
			return jc_fail(
			    f, p, "a digit must follow the exponent", -1);
		while (jc_digit(s, len, p))
			p++;
	}
	*pos = p;
	return 0;
}

/* What the checker expects next. */
enum jc_state {
	JC_VALUE,        /* a value */
	JC_VALUE_OR_END, /* a value or ']' (just after '[') */
	JC_KEY,          /* a member name (after ',') */
	JC_KEY_OR_END,   /* a member name or '}' (just after '{') */
	JC_COLON,
	JC_AFTER, /* ',' or the closing bracket, or the end at depth 0 */
};

#define JC_DEPTH CJSON_NESTING_LIMIT
#define JC_STR(x) #x
#define JC_XSTR(x) JC_STR(x)

/*
 * The index as jc_text fills it: ix (NULL for none), the entry of each
 * open container up to JSON_INDEX_DEPTH deep (JC_NONE when it has none),
 * and whether a string held a \u0000 escape (noted with or without ix).
 */
struct jc_index {
	struct json_index *ix;
	size_t open[JSON_INDEX_DEPTH + 1];
	int nul;
};

#define JC_NONE SIZE_MAX

/* The container at depth opens at p: an entry, while there is room. */
static void
jc_note_open(struct jc_index *ci, size_t depth, size_t p)
{
	struct json_index *ix = ci->ix;

	if (ix == NULL || depth > JSON_INDEX_DEPTH)
		return;
	ci->open[depth] = JC_NONE;
	if (ix->n == ix->cap)
		return;
	ci->open[depth] = ix->n;
	ix->room[ix->n++].open = (uint32_t)p;
}

/* The container at depth closes at p: its entry completed, or dropped. */
static void
jc_note_close(struct jc_index *ci, size_t depth, size_t p)
{
	struct json_index *ix = ci->ix;
	size_t k;

	if (ix == NULL || depth > JSON_INDEX_DEPTH ||
	    (k = ci->open[depth]) == JC_NONE)
		return;
	if (p + 1 - ix->room[k].open < ix->min) {
		/* Those inside it were shorter still, and went: it is last. */
		ix->n = k;
		return;
	}
	ix->room[k].close = (uint32_t)p;
	ix->room[k].next = (uint32_t)ix->n;
}

/*
 * The grammar, without recursion: the open containers are a bit stack
 * (1: object), at most JC_DEPTH deep as cJSON allows.
 */
static int
jc_text(
    const unsigned char *s, size_t len, struct jc_index *ci, struct jc_fail *f)
{
	unsigned char stack[(JC_DEPTH + 7) / 8];
	enum jc_state st = JC_VALUE;
	size_t p = 0, depth = 0;
	int in_obj = 0;
	unsigned char c;

	if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		return jc_fail(f, 0, "a byte order mark is not allowed", -1);
	for (;;) {
		/* Minified text has no white space: one test passes it by. */
		if (p == len || s[p] <= ' ') {
			while (p < len && jc_ws(s[p]))
				p++;
			if (p == len) {
				if (st == JC_AFTER && depth == 0)
					return 0;
				return jc_fail(
				    f, p, "the text ends too early", -1);
			}
			if (s[p] < 0x20)
				return jc_fail(f, p,
				    "a control character is not white space",
				    s[p]);
		}
		c = s[p];
		switch (st) {
		case JC_VALUE_OR_END:
		case JC_VALUE:
			if (c == ']' && st == JC_VALUE_OR_END)
				goto close;
			if (c == '{' || c == '[') {
				if (depth == JC_DEPTH)
					return jc_fail(f, p,
					    "nested deeper than " JC_XSTR(
					        JC_DEPTH) " levels",
					    -1);
				jc_note_open(ci, depth, p);
				in_obj = c == '{';
				if (in_obj)
					stack[depth / 8] |=
					    (unsigned char)(1u << (depth % 8));
				else
					stack[depth / 8] &=
					    (unsigned char)~(1u << (depth % 8));
				depth++;
				p++;
				st = in_obj ? JC_KEY_OR_END : JC_VALUE_OR_END;
				continue;
			}
			if (c == '"') {
				if (jc_string(s, len, &p, &ci->nul, f) == -1)
					return -1;
			} else if (c == '-' || (c >= '0' && c <= '9')) {
				if (jc_number(s, len, &p, f) == -1)
					return -1;
			} else if (len - p >= 4 &&
			    (memcmp(s + p, "true", 4) == 0 ||
			        memcmp(s + p, "null", 4) == 0)) {
				p += 4;
			} else if (len - p >= 5 &&
			    memcmp(s + p, "false", 5) == 0) {
				p += 5;
			} else {
				return jc_fail(
				    f, p, "no JSON value starts here", c);
			}
			st = JC_AFTER;
			continue;
		case JC_KEY_OR_END:
			if (c == '}')
				goto close;
			/* FALLTHROUGH */
		case JC_KEY:
			if (c != '"')
				return jc_fail(
				    f, p, "a member name must follow", c);
			if (jc_string(s, len, &p, &ci->nul, f) == -1)
				return -1;
			/* The colon right after the name, as minified text has
			 * it. */
			if (p < len && s[p] == ':') {
				p++;
				st = JC_VALUE;
			} else {
				st = JC_COLON;
			}
			continue;
		case JC_COLON:
			if (c != ':')
				return jc_fail(
				    f, p, "':' must follow a member name", c);
			p++;
			st = JC_VALUE;
			continue;
		case JC_AFTER:
			if (depth == 0)
				return jc_fail(
				    f, p, "text after the JSON value", c);
			if (c == ',') {
				p++;
				st = in_obj ? JC_KEY : JC_VALUE;
				continue;
			}
			if (c != (in_obj ? '}' : ']'))
				return jc_fail(f, p,
				    in_obj
				        ? "',' or '}' must follow a member"
				        : "',' or ']' must follow an element",
				    c);
			goto close;
		}
	close:
		/* c closes the innermost container, of the right kind. */
		jc_note_close(ci, depth - 1, p);
		p++;
		depth--;
		in_obj = depth > 0 &&
		    (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
		st = JC_AFTER;
	}
}

static int
jc_report(const struct jc_fail *f, const char *what, char *err, size_t errlen)
{
	if (f->byte >= 0)
		snprintf(err, errlen,
		    "%s: invalid JSON at byte %zu: %s (0x%02x)", what, f->off,
		    f->why, (unsigned)f->byte);
	else
		snprintf(err, errlen, "%s: invalid JSON at byte %zu: %s", what,
		    f->off, f->why);
	return -1;
}

int
json_check(
    const char *s, size_t len, const char *what, char *err, size_t errlen)
{
	return json_check_index(s, len, NULL, what, err, errlen);
}

int
json_check_index(const char *s, size_t len, struct json_index *ix,
    const char *what, char *err, size_t errlen)
{
	struct jc_index ci;
	struct jc_fail f;

	memset(&ci, 0, sizeof(ci));
	if (ix != NULL) {
		ix->text = NULL;
		ix->len = 0;
		ix->n = 0;
		ix->nul_escape = 0;
		/* Offsets and entry numbers are 32-bit. */
		if (len < UINT32_MAX && ix->cap > 0 && ix->cap < UINT32_MAX)
			ci.ix = ix;
	}
	if (jc_text((const unsigned char *)s, len, &ci, &f) == -1) {
		if (ix != NULL)
			ix->n = 0;
		return jc_report(&f, what, err, errlen);
	}
	if (ix != NULL) {
		ix->text = s;
		ix->len = len;
		ix->nul_escape = ci.nul;
	}
	return 0;
}

/* 1 if s[0..len) lies within the text ix indexed. */
static int
index_holds(const struct json_index *ix, const char *s, size_t len)
{
	uintptr_t a = (uintptr_t)s, t;

	if (ix == NULL || ix->text == NULL)
		return 0;
	t = (uintptr_t)ix->text;
	return a >= t && a - t <= ix->len && ix->len - (a - t) >= len;
}

int
json_index_nul_free(const struct json_index *ix, const char *s, size_t len)
{
	return index_holds(ix, s, len) && !ix->nul_escape;
}

int
json_check_embedded(const char *lit, size_t litlen, const char *text,
    const char *what, char *err, size_t errlen)
{
	size_t p;

	/* The literal passed json_check with its body: escapes are whole. */
	for (p = 0; p + 1 < litlen; p++) {
		if (lit[p] != '\\')
			continue;
		if (lit[p + 1] == 'u' && litlen - p >= 6 &&
		    memcmp(lit + p + 2, "0000", 4) == 0) {
			snprintf(err, errlen,
			    "%s: the string holds \\u0000, and JSON text "
			    "never does",
			    what);
			return -1;
		}
		p++;
	}
	return json_check(text, strlen(text), what, err, errlen);
}

/*
 * Offset of the quote that closes a string, searching from p (the first
 * byte of the string's body, or the first after an escape in it), or len
 * when there is none. A backslash takes the byte after it, as cJSON reads
 * a string to its end.
 */
static size_t
str_close(const char *s, size_t len, size_t p)
{
	while ((p = json_string_run(s, len, p)) < len && s[p] == '\\')
		p += 2;
	return p < len ? p : len;
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

/* The type of the value whose first byte is c. */
static enum json_type
type_at(char c)
{
	switch (c) {
	case '{':
		return JSON_OBJECT;
	case '[':
		return JSON_ARRAY;
	case '"':
		return JSON_STRING;
	case 't':
		return JSON_TRUE;
	case 'f':
		return JSON_FALSE;
	case 'n':
		return JSON_NULL;
	case '-':
		return JSON_NUMBER;
	default:
		return c >= '0' && c <= '9' ? JSON_NUMBER : JSON_NONE;
	}
}

enum json_type
json_node_type(const cJSON *c)
{
	if (cJSON_IsObject(c))
		return JSON_OBJECT;
	if (cJSON_IsArray(c))
		return JSON_ARRAY;
	if (cJSON_IsString(c))
		return JSON_STRING;
	if (cJSON_IsNumber(c))
		return JSON_NUMBER;
	if (cJSON_IsTrue(c))
		return JSON_TRUE;
	if (cJSON_IsFalse(c))
		return JSON_FALSE;
	return cJSON_IsNull(c) ? JSON_NULL : JSON_NONE;
}

enum json_type
json_type_of(const char *s, size_t len)
{
	size_t p = json_skip_ws(s, len, 0);

	return p < len ? type_at(s[p]) : JSON_NONE;
}

/* Where a walk is: before its first entry, after one, or ended. */
enum { VIEW_FIRST, VIEW_MORE, VIEW_ENDED };

static int
view_open(struct json_view *v, const char *s, size_t len, char open)
{
	size_t p = skip_bom_ws(s, len);

	v->s = s;
	v->len = len;
	v->pos = len;
	v->close = open == '{' ? '}' : ']';
	v->state = VIEW_ENDED;
	v->ix = NULL;
	v->base = 0;
	v->at = 0;
	if (p >= len || s[p] != open)
		return -1;
	v->pos = p + 1;
	v->state = VIEW_FIRST;
	return 0;
}

int
json_view_object(struct json_view *v, const char *s, size_t len)
{
	return view_open(v, s, len, '{');
}

int
json_view_array(struct json_view *v, const char *s, size_t len)
{
	return view_open(v, s, len, '[');
}

/*
 * To the next entry of the walk: 1 with *at on its first byte (a member's
 * name, an element's value), 0 at the closing bracket, -1 on text that is
 * not JSON here.
 */
static int
view_step(struct json_view *v, size_t *at)
{
	size_t p;

	if (v->state == VIEW_ENDED)
		return 0;
	p = json_skip_ws(v->s, v->len, v->pos);
	if (p < v->len && v->s[p] == v->close) {
		v->pos = p + 1;
		v->state = VIEW_ENDED;
		return 0;
	}
	if (v->state == VIEW_MORE) {
		if (p >= v->len || v->s[p] != ',')
			goto broken;
		p = json_skip_ws(v->s, v->len, p + 1);
	}
	if (p >= v->len)
		goto broken;
	*at = p;
	return 1;

broken:
	v->state = VIEW_ENDED;
	return -1;
}

void
json_view_use_index(struct json_view *v, const struct json_index *ix)
{
	size_t lo = 0, hi, mid, off;

	v->ix = NULL;
	if (v->state == VIEW_ENDED || ix == NULL || ix->n == 0 ||
	    !index_holds(ix, v->s, v->len))
		return;
	v->ix = ix;
	v->base = (size_t)((uintptr_t)v->s - (uintptr_t)ix->text);
	/* The first entry that opens at the walk's position or after it. */
	off = v->base + v->pos;
	hi = ix->n;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ix->room[mid].open < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	v->at = lo;
}

/*
 * Step *p over the container that opens there when the index noted it:
 * 0, or -1 when it did not (the caller scans). The walk's positions only
 * grow, so its place in the index moves forward only: past an entry that
 * closed before p with the entry's next, into one that holds p entry by
 * entry.
 */
static int
view_skip_noted(struct json_view *v, size_t *p)
{
	const struct json_index_entry *e;
	size_t off, n, at, c;
	char want;

	if (v->ix == NULL || *p >= v->len ||
	    (v->s[*p] != '{' && v->s[*p] != '['))
		return -1;
	e = v->ix->room;
	n = v->ix->n;
	off = v->base + *p;
	for (at = v->at; at < n && e[at].open < off;)
		at = e[at].close < off ? e[at].next : at + 1;
	v->at = at;
	if (at == n || e[at].open != off)
		return -1;
	/* An index of another text than this walk's is not followed. */
	c = e[at].close - v->base;
	want = v->s[*p] == '{' ? '}' : ']';
	if (c >= v->len || v->s[c] != want)
		return -1;
	v->at = e[at].next;
	*p = c + 1;
	return 0;
}

/* The value at *p into *e, and the walk past it: 0, or -1 when none is. */
static int
view_value(struct json_view *v, size_t p, struct json_value *e)
{
	size_t start = p;

	if (view_skip_noted(v, &p) == -1 &&
	    skip_value(v->s, v->len, &p) == -1) {
		v->state = VIEW_ENDED;
		return -1;
	}
	e->text = v->s + start;
	e->len = p - start;
	e->type = type_at(v->s[start]);
	v->pos = p;
	v->state = VIEW_MORE;
	return 0;
}

int
json_view_element(struct json_view *v, struct json_value *e)
{
	size_t p;
	int rc;

	if (v->close != ']')
		return -1;
	if ((rc = view_step(v, &p)) != 1)
		return rc;
	return view_value(v, p, e) == 0 ? 1 : -1;
}

int
json_view_member(struct json_view *v, struct json_member *m)
{
	const char *s = v->s;
	size_t p, kend;
	int rc;

	if (v->close != '}')
		return -1;
	if ((rc = view_step(v, &p)) != 1)
		return rc;
	if (s[p] != '"')
		goto broken;
	kend = str_close(s, v->len, p + 1);
	if (kend >= v->len)
		goto broken;
	m->name.text = s + p;
	m->name.len = kend + 1 - p;
	m->name.type = JSON_STRING;
	p = json_skip_ws(s, v->len, kend + 1);
	if (p >= v->len || s[p] != ':')
		goto broken;
	p = json_skip_ws(s, v->len, p + 1);
	return view_value(v, p, &m->value) == 0 ? 1 : -1;

broken:
	v->state = VIEW_ENDED;
	return -1;
}

int
json_name_is(const struct json_member *m, const char *key)
{
	const unsigned char *p = (const unsigned char *)m->name.text;

	return key_equals(p + 1, p + m->name.len - 1, key);
}

int
json_string_get(const struct json_value *v, char *out, size_t size, size_t *n)
{
	const unsigned char *p, *end;
	unsigned char u[4];
	size_t adv, k = 0, i, ulen;

	if (v->type != JSON_STRING || v->len < 2 || size == 0)
		return -1;
	p = (const unsigned char *)v->text + 1;
	end = (const unsigned char *)v->text + v->len - 1;
	/* Most strings hold no escape: their bytes are their value. */
	if (memchr(p, '\\', (size_t)(end - p)) == NULL) {
		const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));

		k = (size_t)((nul != NULL ? nul : end) - p);
		if (k >= size)
			return -1;
		memcpy(out, p, k);
		out[k] = '\0';
		*n = k;
		return 0;
	}
	while (p < end) {
		adv = decode_char(p, end, u, &ulen);
		if (adv == 0)
			return -1;
		p += adv;
		for (i = 0; i < ulen; i++) {
			if (u[i] == 0)
				goto done;
			if (k + 1 >= size)
				return -1;
			out[k++] = (char)u[i];
		}
	}
done:
	out[k] = '\0';
	*n = k;
	return 0;
}

int
json_member_span(
    const char *s, size_t len, const char *key, size_t *off, size_t *vlen)
{
	struct json_view v;
	struct json_member m;

	if (json_view_object(&v, s, len) == -1)
		return -1;
	while (json_view_member(&v, &m) == 1) {
		if (json_name_is(&m, key)) {
			*off = (size_t)(m.value.text - s);
			*vlen = m.value.len;
			return 0;
		}
	}
	return -1;
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
