/* test_jsonscan.c: unit tests for the strict JSON and UTF-8 checks and the JSON
 * span scanners. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/jsonscan.h"
#include "tests/support/check.h"
#include "tests/support/unit.h"

/*
 * A heap copy of exactly len bytes with no NUL after it, so AddressSanitizer
 * catches any read past the end.
 */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

/*
 * An independent UTF-8 check for the cross-check: decode the code point and
 * test its range, where the code under test uses RFC 3629's byte table.
 */
static int
ref_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	unsigned long cp, min;

	while (i < len) {
		unsigned char c = s[i];

		if (c < 0x80) {
			if (c == 0)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return 0;
		}
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return 0;
		i += n + 1;
	}
	return 1;
}

struct utf8_case {
	const char *name;
	const char *s;
	size_t len; /* 0: strlen(s) */
	int valid;
};

static void
test_utf8_table(void **state)
{
	static const struct utf8_case cases[] = {
	    {"empty", "", 0, 1},
	    {"ascii", "hello, world", 0, 1},
	    {"long ascii", "abcdefghijklmnopqrstuvwxyz0123456789", 0, 1},
	    {"U+0080", "\xC2\x80", 0, 1},
	    {"U+07FF", "\xDF\xBF", 0, 1},
	    {"U+0800", "\xE0\xA0\x80", 0, 1},
	    {"U+D7FF", "\xED\x9F\xBF", 0, 1},
	    {"U+E000", "\xEE\x80\x80", 0, 1},
	    {"U+FFFF", "\xEF\xBF\xBF", 0, 1},
	    {"U+10000", "\xF0\x90\x80\x80", 0, 1},
	    {"U+10FFFF", "\xF4\x8F\xBF\xBF", 0, 1},
	    {"mixed", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 ok", 0, 1},
	    {"overlong C0 80 (NUL)", "\xC0\x80", 0, 0},
	    {"overlong C1 BF", "\xC1\xBF", 0, 0},
	    {"overlong E0 80 80", "\xE0\x80\x80", 0, 0},
	    {"overlong E0 9F BF", "\xE0\x9F\xBF", 0, 0},
	    {"overlong F0 80 80 80", "\xF0\x80\x80\x80", 0, 0},
	    {"overlong F0 8F BF BF", "\xF0\x8F\xBF\xBF", 0, 0},
	    {"surrogate D800", "\xED\xA0\x80", 0, 0},
	    {"surrogate DFFF", "\xED\xBF\xBF", 0, 0},
	    {"surrogate pair as CESU-8", "\xED\xA0\xBD\xED\xB8\x80", 0, 0},
	    {"U+110000", "\xF4\x90\x80\x80", 0, 0},
	    {"F5 lead", "\xF5\x80\x80\x80", 0, 0},
	    {"FF byte", "\xFF", 0, 0},
	    {"FE byte", "\xFE", 0, 0},
	    {"lone continuation", "\x80", 0, 0},
	    {"continuation after ascii", "abc\xBF", 0, 0},
	    {"truncated 2 at end", "ab\xC3", 0, 0},
	    {"truncated 3 at end", "ab\xE2\x82", 0, 0},
	    {"truncated 4 at end", "ab\xF0\x9F\x98", 0, 0},
	    {"truncated 3 mid",
	        "\xE2\x82"
	        "abcdefghij",
	        0, 0},
	    {"truncated 4 mid", "\xF0\x9F\x98z", 0, 0},
	    {"raw NUL", "ab\0cd", 5, 0},
	    {"raw NUL in 8-byte run", "abcdefg\0hijklmnop", 17, 0},
	    {"NUL first", "\0", 1, 0},
	    {"bad byte after long ascii", "abcdefghijklmnopq\x80", 0, 0},
	    {"bad byte at word edge", "abcdefgh\xC0\xAFijklmnop", 0, 0},
	};
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].s);
		char *p = exact_copy(cases[i].s, len);
		int got = json_utf8_valid(p, len);

		free(p);
		CHECK(got == cases[i].valid,
		    "utf8 case \"%s\": json_utf8_valid gave %d, want %d",
		    cases[i].name, got, cases[i].valid);
	}
}

/*
 * Every sequence of one to three bytes with a non-ASCII lead, at the start
 * and after seven ASCII bytes (so the word-at-a-time path hands over to the
 * byte path at every offset), against the reference decoder.
 */
static void
test_utf8_exhaustive(void **state)
{
	unsigned char buf[16];
	unsigned a, b, c;
	size_t pre, len;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	for (pre = 0; pre <= 7; pre += 7) {
		for (a = 0; a < 256; a++) {
			buf[pre] = (unsigned char)a;
			CHECK(json_utf8_valid((char *)buf, pre + 1) ==
			        ref_utf8_valid(buf, pre + 1),
			    "utf8 disagrees on %02x after %zu ASCII", a, pre);
			if (a < 0x80)
				continue;
			for (b = 0; b < 256; b++) {
				buf[pre + 1] = (unsigned char)b;
				len = pre + 2;
				CHECK(json_utf8_valid((char *)buf, len) ==
				        ref_utf8_valid(buf, len),
				    "utf8 disagrees on %02x %02x", a, b);
				if (a < 0xE0)
					continue;
				for (c = 0; c < 256; c++) {
					buf[pre + 2] = (unsigned char)c;
					len = pre + 3;
					CHECK(
					    json_utf8_valid((char *)buf, len) ==
					        ref_utf8_valid(buf, len),
					    "utf8 disagrees on %02x %02x %02x",
					    a, b, c);
				}
			}
		}
	}
}

/* Four-byte sequences: every lead F0-F7 with every second byte. */
static void
test_utf8_four_byte(void **state)
{
	unsigned char buf[4];
	unsigned a, b;

	(void)state;
	for (a = 0xF0; a <= 0xF7; a++) {
		for (b = 0; b < 256; b++) {
			buf[0] = (unsigned char)a;
			buf[1] = (unsigned char)b;
			buf[2] = 0x80;
			buf[3] = 0xBF;
			CHECK(json_utf8_valid((char *)buf, 4) ==
			        ref_utf8_valid(buf, 4),
			    "utf8 disagrees on %02x %02x 80 bf", a, b);
		}
	}
}

/*
 * json_check: every production of RFC 8259's grammar, in forms that are
 * valid and forms that are not. off is where the refusal must point (the
 * byte that breaks the grammar); why is a piece of its reason.
 */
struct check_case {
	const char *name;
	const char *s;
	size_t len; /* 0: strlen(s) */
	int valid;
	size_t off;
	const char *why;
};

#define OK(name, s)                                                            \
	{                                                                      \
		name, s, 0, 1, 0, NULL                                         \
	}
#define BAD(name, s, off, why)                                                 \
	{                                                                      \
		name, s, 0, 0, off, why                                        \
	}

static const struct check_case check_cases[] = {
    /* JSON-text = ws value ws */
    OK("value alone", "{}"),
    OK("ws before and after", " \t\r\n{} \t\r\n"),
    OK("top-level number", "5"),
    OK("top-level string", "\"s\""),
    OK("top-level literal", "null"),
    BAD("empty text", "", 0, "ends too early"),
    BAD("only white space", " \n", 2, "ends too early"),
    BAD("text after the value", "{} {}", 3, "text after the JSON value"),
    BAD("two numbers", "1 2", 2, "text after the JSON value"),
    BAD("byte order mark", "\xEF\xBB\xBF{}", 0, "byte order mark"),
    /* ws = *( SP / HTAB / LF / CR ) */
    OK("SP between tokens", "[1, 2]"),
    OK("HTAB between tokens", "[1,\t2]"),
    OK("LF between tokens", "[1,\n2]"),
    OK("CR between tokens", "[1,\r2]"),
    BAD("VT between tokens",
        "[1,\x0b"
        "2]",
        3, "not white space"),
    BAD("FF between tokens",
        "[1,\x0c"
        "2]",
        3, "not white space"),
    BAD("0x01 between tokens", "{\x01}", 1, "not white space"),
    BAD("ESC before the value", "\x1b{}", 0, "not white space"),
    BAD("0x1F after the value", "{}\x1f", 2, "not white space"),
    BAD("NBSP between tokens",
        "[1,\xC2\xA0"
        "2]",
        3, "no JSON value"),
    /* literals */
    OK("true", "[true]"),
    OK("false", "[false]"),
    OK("null", "[null]"),
    BAD("True", "[True]", 1, "no JSON value"),
    BAD("NULL", "NULL", 0, "no JSON value"),
    BAD("tru", "[tru]", 1, "no JSON value"),
    BAD("true and a letter", "[truee]", 5, "must follow an element"),
    BAD("nul at the end", "nul", 0, "no JSON value"),
    BAD("NaN", "[NaN]", 1, "no JSON value"),
    BAD("Infinity", "[Infinity]", 1, "no JSON value"),
    BAD("undefined", "[undefined]", 1, "no JSON value"),
    /* object = { [ member *( , member ) ] }; member = string : value */
    OK("empty object", "{}"),
    OK("empty object with ws", "{ \n }"),
    OK("one member", "{\"a\":1}"),
    OK("members with ws", "{ \"a\" : 1 , \"b\" : [ ] }"),
    OK("duplicate names (the grammar allows them)", "{\"a\":1,\"a\":2}"),
    OK("empty name", "{\"\":0}"),
    BAD("unclosed object", "{\"a\":1", 6, "ends too early"),
    BAD("trailing comma in object", "{\"a\":1,}", 7, "member name must"),
    BAD("leading comma in object", "{,\"a\":1}", 1, "member name must"),
    BAD("name without a value", "{\"a\"}", 4, "':' must follow"),
    BAD("name and colon only", "{\"a\":}", 5, "no JSON value"),
    BAD("number as a name", "{1:2}", 1, "member name must"),
    BAD("single-quoted name", "{'a':1}", 1, "member name must"),
    BAD("bare name", "{a:1}", 1, "member name must"),
    BAD("missing colon", "{\"a\" 1}", 5, "':' must follow"),
    BAD("missing comma between members", "{\"a\":1 \"b\":2}", 7, "',' or '}'"),
    BAD("object closed by ]", "{\"a\":1]", 6, "',' or '}'"),
    BAD("stray }", "}", 0, "no JSON value"),
    /* array = [ [ value *( , value ) ] ] */
    OK("empty array", "[]"),
    OK("empty array with ws", "[ \t ]"),
    OK("array of each kind", "[{}, [], \"s\", 1, true, false, null]"),
    BAD("unclosed array", "[1,2", 4, "ends too early"),
    BAD("trailing comma in array", "[1,]", 3, "no JSON value"),
    BAD("leading comma in array", "[,1]", 1, "no JSON value"),
    BAD("missing comma between elements", "[1 2]", 3, "',' or ']'"),
    BAD("array closed by }", "[1}", 2, "',' or ']'"),
    BAD("double comma", "[1,,2]", 3, "no JSON value"),
    /* number = [ minus ] int [ frac ] [ exp ] */
    OK("zero", "[0]"),
    OK("minus zero", "[-0]"),
    OK("integer", "[1234567890]"),
    OK("negative", "[-12]"),
    OK("fraction", "[0.5]"),
    OK("negative fraction", "[-0.5]"),
    OK("long fraction", "[3.14159265358979]"),
    OK("exponent e", "[1e5]"),
    OK("exponent E", "[1E5]"),
    OK("exponent e+", "[1e+5]"),
    OK("exponent e-", "[1e-5]"),
    OK("zero exponent", "[0e0]"),
    OK("fraction and exponent", "[-1.5e-10]"),
    OK("minus zero everything", "[-0.0e-0]"),
    OK("number at the very end", "12"),
    OK("fraction at the very end", "1.25"),
    BAD("leading zero", "[01]", 1, "may not start with 0"),
    BAD("minus leading zeros", "[-007]", 1, "may not start with 0"),
    BAD("double zero", "00", 0, "may not start with 0"),
    BAD("trailing dot", "[1.]", 3, "digit must follow '.'"),
    BAD("trailing dot at the end", "1.", 2, "digit must follow '.'"),
    BAD("minus then dot", "[-.5]", 2, "digit must follow '-'"),
    BAD("leading dot", "[.5]", 1, "no JSON value"),
    BAD("dot then exponent", "[1.e5]", 3, "digit must follow '.'"),
    BAD("plus sign", "[+1]", 1, "no JSON value"),
    BAD("lone minus", "[-]", 2, "digit must follow '-'"),
    BAD("double minus", "[--1]", 2, "digit must follow '-'"),
    BAD("exponent without digits", "[1e]", 3, "follow the exponent"),
    BAD("exponent sign without digits", "[1e+]", 4, "follow the exponent"),
    BAD("exponent at the end", "1E", 2, "follow the exponent"),
    BAD("hex", "[0x10]", 2, "',' or ']'"),
    BAD("two dots", "[1.5.5]", 4, "',' or ']'"),
    BAD("underscore", "[1_000]", 2, "',' or ']'"),
    /* string = " *char "; escapes */
    OK("empty string", "[\"\"]"),
    OK("plain string", "[\"hello, world\"]"),
    OK("long plain string", "[\"abcdefghijklmnopqrstuvwxyz0123456789\"]"),
    OK("escape quote", "[\"\\\"\"]"),
    OK("escape backslash", "[\"\\\\\"]"),
    OK("escape slash", "[\"\\/\"]"),
    OK("escape b", "[\"\\b\"]"),
    OK("escape f", "[\"\\f\"]"),
    OK("escape n", "[\"\\n\"]"),
    OK("escape r", "[\"\\r\"]"),
    OK("escape t", "[\"\\t\"]"),
    OK("escape u ASCII", "[\"\\u0041\"]"),
    OK("escape u lower hex", "[\"\\u00e9\"]"),
    OK("escape u upper hex", "[\"\\u00E9\"]"),
    OK("escape u NUL (valid JSON)", "[\"a\\u0000b\"]"),
    OK("escaped surrogate pair", "[\"\\uD83D\\uDE00\"]"),
    OK("DEL unescaped", "[\"\x7f\"]"),
    OK("UTF-8 two bytes", "[\"caf\xC3\xA9\"]"),
    OK("UTF-8 three bytes", "[\"\xE2\x82\xAC\"]"),
    OK("UTF-8 four bytes", "[\"\xF0\x9F\x98\x80\"]"),
    OK("quote after seven plain bytes", "\"abcdefg\""),
    OK("escape at a word's edge", "\"abcdefg\\nhijklmn\""),
    BAD("raw TAB in a string", "[\"a\tb\"]", 3, "must be escaped"),
    BAD("raw LF in a string", "[\"a\nb\"]", 3, "must be escaped"),
    BAD("raw CR in a string", "[\"a\rb\"]", 3, "must be escaped"),
    BAD("raw 0x01 in a string", "[\"\x01\"]", 2, "must be escaped"),
    BAD("raw ESC in a string", "[\"\x1b[0m\"]", 2, "must be escaped"),
    BAD("raw 0x1F in a long string", "[\"abcdefghijklmn\x1fop\"]", 16,
        "must be escaped"),
    BAD("unknown escape", "[\"\\x41\"]", 2, "unknown escape"),
    BAD("escaped single quote", "[\"\\'\"]", 2, "unknown escape"),
    BAD("escaped closing quote", "[\"\\\"]", 1, "not closed"),
    BAD("short \\u", "[\"\\u12\"]", 2, "four hex digits"),
    BAD("\\u at the end", "\"\\u12", 1, "four hex digits"),
    BAD("\\u with a non-hex digit", "[\"\\u12G4\"]", 2, "four hex digits"),
    BAD("lone high surrogate", "[\"\\uD83D\"]", 2, "high surrogate"),
    BAD("high surrogate then letter", "[\"\\uD83Dx\"]", 2, "high surrogate"),
    BAD("high surrogate then non-low", "[\"\\uD83D\\u0041\"]", 2,
        "high surrogate"),
    BAD("two high surrogates", "[\"\\uD83D\\uD83D\"]", 2, "high surrogate"),
    BAD("lone low surrogate", "[\"\\uDE00\"]", 2, "low surrogate"),
    BAD("unclosed string", "[\"abc", 1, "not closed"),
    BAD("unclosed after a backslash", "\"ab\\", 0, "not closed"),
    BAD("single-quoted string", "['a']", 1, "no JSON value"),
    BAD("invalid UTF-8 in a string", "[\"\xFF\"]", 2, "invalid UTF-8"),
    BAD("overlong UTF-8 in a string", "[\"\xC0\xAF\"]", 2, "invalid UTF-8"),
    BAD("UTF-8 surrogate in a string", "[\"\xED\xA0\x80\"]", 2,
        "invalid UTF-8"),
    BAD("truncated UTF-8 at the end", "\"\xE2\x82", 1, "invalid UTF-8"),
};

/*
 * n arrays nested inside each other, around a 1: "[[...[1]...]]". The
 * caller frees it.
 */
static char *
nested(size_t n, size_t *len)
{
	char *s = malloc(2 * n + 1);

	assert_non_null(s);
	memset(s, '[', n);
	s[n] = '1';
	memset(s + n + 1, ']', n);
	*len = 2 * n + 1;
	return s;
}

static void
test_check_grammar_table(void **state)
{
	const struct check_case *c;
	char err[256], want[64];
	size_t i, len;
	cJSON *j;
	char *p;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		c = &check_cases[i];
		len = c->len != 0 ? c->len : strlen(c->s);
		p = exact_copy(c->s, len);
		err[0] = '\0';
		rc = json_check(p, len, "body", err, sizeof(err));
		if (c->valid) {
			CHECK(rc == 0, "json_check refuses valid JSON (%s): %s",
			    c->name, err);
			/* Strict JSON is a part of what cJSON accepts. */
			j = cJSON_ParseWithLength(p, len);
			CHECK(j != NULL,
			    "cJSON refuses what json_check took (%s)", c->name);
			cJSON_Delete(j);
		} else {
			CHECK(rc == -1, "json_check accepts invalid JSON (%s)",
			    c->name);
			snprintf(want, sizeof(want),
			    "body: invalid JSON at byte %zu: ", c->off);
			CHECK(strncmp(err, want, strlen(want)) == 0 &&
			        strstr(err, c->why) != NULL,
			    "%s: error \"%s\", want \"%s...%s...\"", c->name,
			    err, want, c->why);
		}
		free(p);
	}
}

/* Raw NUL bytes: in a string, between tokens, after the value. */
static void
test_check_nul(void **state)
{
	static const struct {
		const char *s;
		size_t len, off;
		const char *why;
	} cases[] = {
	    {"[\"a\0b\"]", 7, 3, "must be escaped"},
	    {"[1,\0 2]", 7, 3, "not white space"},
	    {"{}\0", 3, 2, "not white space"},
	    {"\0", 1, 0, "not white space"},
	};
	char err[256], want[64];
	size_t i;
	char *p;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = exact_copy(cases[i].s, cases[i].len);
		CHECK(json_check(p, cases[i].len, "x", err, sizeof(err)) == -1,
		    "json_check accepts a raw NUL (case %zu)", i);
		snprintf(want, sizeof(want),
		    "x: invalid JSON at byte %zu: ", cases[i].off);
		CHECK(strncmp(err, want, strlen(want)) == 0 &&
		        strstr(err, cases[i].why) != NULL,
		    "raw NUL case %zu: error \"%s\"", i, err);
		free(p);
	}
}

/*
 * The string scan steps over plain bytes sixteen (or eight) at a time: a
 * byte that needs a look is found at every offset in and across those
 * steps, and a refused one is named by its own offset.
 */
static void
test_check_string_offsets(void **state)
{
	static const struct {
		const char *ins; /* put into a run of 'a's */
		size_t n;
		int ok;
		const char *why; /* the refusal, at the insert's offset */
	} cases[] = {
	    {"\x01", 1, 0, "a control character in a string must be escaped"},
	    {"\x1f", 1, 0, "a control character in a string must be escaped"},
	    {"\x80", 1, 0, "invalid UTF-8"},
	    {"\xff", 1, 0, "invalid UTF-8"},
	    {"\\q", 2, 0, "unknown escape"},
	    {"\\n", 2, 1, NULL},
	    {"\\u00e9", 6, 1, NULL},
	    {"\xc3\xa9", 2, 1, NULL},
	    {"\x7f", 1, 1, NULL},
	    {" ", 1, 1, NULL},
	};
	char text[128], err[256], want[192];
	size_t i, at, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (at = 0; at < 40; at++) {
			/* ["aaa...<ins>aaa..."]: the string's body from byte 2.
			 */
			memset(text, 'a', sizeof(text));
			memcpy(text, "[\"", 2);
			memcpy(text + 2 + at, cases[i].ins, cases[i].n);
			len = 2 + 48 + cases[i].n;
			memcpy(text + len, "\"]", 2);
			len += 2;
			if (cases[i].ok) {
				CHECK(json_check(text, len, "x", err,
				          sizeof(err)) == 0,
				    "case %zu at %zu refused: %s", i, at, err);
				continue;
			}
			snprintf(want, sizeof(want),
			    "x: invalid JSON at byte %zu: %s", 2 + at,
			    cases[i].why);
			CHECK(json_check(text, len, "x", err, sizeof(err)) ==
			            -1 &&
			        strncmp(err, want, strlen(want)) == 0,
			    "case %zu at %zu: \"%s\", want \"%s\"", i, at, err,
			    want);
		}
	}
	/* A quote at each offset ends the string there. */
	for (at = 0; at < 40; at++) {
		memset(text, 'a', sizeof(text));
		memcpy(text, "[\"", 2);
		text[2 + at] = '"';
		memcpy(text + 2 + at + 1, "]", 1);
		CHECK(json_check(text, 2 + at + 2, "x", err, sizeof(err)) == 0,
		    "a string of %zu bytes refused: %s", at, err);
		CHECK(json_check(text, 2 + at + 1, "x", err, sizeof(err)) == -1,
		    "a string of %zu bytes in an unclosed array accepted", at);
	}
}

/* CJSON_NESTING_LIMIT levels pass, one more does not; no recursion. */
static void
test_check_depth(void **state)
{
	char err[256];
	size_t len;
	char *s;
	const char *t;

	(void)state;
	s = nested(CJSON_NESTING_LIMIT, &len);
	CHECK(json_check(s, len, "body", err, sizeof(err)) == 0,
	    "1000 nested arrays refused: %s", err);
	free(s);
	s = nested(CJSON_NESTING_LIMIT + 1, &len);
	CHECK(json_check(s, len, "body", err, sizeof(err)) == -1,
	    "1001 nested arrays accepted");
	CHECK(
	    strstr(err, "at byte 1000: nested deeper than 1000 levels") != NULL,
	    "depth error: \"%s\"", err);
	free(s);
	/* Far deeper than any stack would take by recursion. */
	s = nested(1000000, &len);
	CHECK(json_check(s, len, "body", err, sizeof(err)) == -1,
	    "a million nested arrays accepted");
	free(s);
	/* Objects and arrays alternating, closed in the right order. */
	t = "{\"a\":[{\"b\":[1]},{}],\"c\":{}}";
	CHECK(json_check(t, strlen(t), "b", err, sizeof(err)) == 0,
	    "mixed nesting refused: %s", err);
	t = "{\"a\":[{\"b\":[1}]}";
	CHECK(json_check(t, strlen(t), "b", err, sizeof(err)) == -1,
	    "a bracket closing the wrong kind accepted");
}

/* The reference event and the grown cases of the span tests are strict. */
static void
test_check_reference(void **state)
{
	char err[256];
	size_t len;
	char *data = test_data_read("reference_event.json", &len);

	(void)state;
	CHECK(json_check(data, len, "body", err, sizeof(err)) == 0,
	    "the reference event is refused: %s", err);
	free(data);
}

/*
 * The string form: the text in the string is checked as strictly as a
 * body, and a \u0000 in the literal (which cJSON's C string would end at,
 * dropping the rest) is refused.
 */
static void
test_check_embedded(void **state)
{
	static const struct {
		const char *lit;
		const char *decoded;
		int valid;
		const char *why;
	} cases[] = {
	    {"\"{\\\"a\\\":1}\"", "{\"a\":1}", 1, NULL},
	    /* The inner text's own \u0000 escape is text here, not a NUL. */
	    {"\"{\\\"a\\\":\\\"\\\\u0000\\\"}\"", "{\"a\":\"\\u0000\"}", 1,
	        NULL},
	    /* An escaped backslash, then "u0000": no NUL either. */
	    {"\"{\\\"\\\\\\\\u0000\\\":1}\"", "{\"\\\\u0000\":1}", 1, NULL},
	    {"\"{\\\"a\\\":1}\\u0000GARBAGE\"", "{\"a\":1}", 0, "\\u0000"},
	    {"\"\\u0000\"", "", 0, "\\u0000"},
	    {"\"{}\\u000b\"", "{}\x0b", 0, "not white space"},
	    {"\"{\\\"n\\\":01}\"", "{\"n\":01}", 0, "may not start with 0"},
	    {"\"{\\\"s\\\":\\\"a\\tb\\\"}\"", "{\"s\":\"a\tb\"}", 0,
	        "must be escaped"},
	    {"\" {}\\n\"", " {}\n", 1, NULL},
	};
	char err[256];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		rc = json_check_embedded(cases[i].lit, strlen(cases[i].lit),
		    cases[i].decoded, "event", err, sizeof(err));
		if (cases[i].valid) {
			CHECK(rc == 0, "string form %s refused: %s",
			    cases[i].lit, err);
		} else {
			CHECK(
			    rc == -1, "string form %s accepted", cases[i].lit);
			CHECK(strncmp(err, "event: ", 7) == 0 &&
			        strstr(err, cases[i].why) != NULL,
			    "string form %s: error \"%s\", want \"%s\"",
			    cases[i].lit, err, cases[i].why);
		}
	}
}

/*
 * What cJSON decodes from each literal is what the table says it does, so
 * the cases above are the real inputs json_check_embedded gets.
 */
static void
test_check_embedded_decoding(void **state)
{
	static const char *const lits[] = {
	    "\"{\\\"a\\\":1}\\u0000GARBAGE\"",
	    "\"{\\\"\\\\\\\\u0000\\\":1}\"",
	};
	static const char *const want[] = {
	    "{\"a\":1}",
	    "{\"\\\\u0000\":1}",
	};
	size_t i;
	cJSON *j;

	(void)state;
	for (i = 0; i < 2; i++) {
		j = cJSON_Parse(lits[i]);
		assert_non_null(j);
		CHECK(cJSON_IsString(j) && strcmp(j->valuestring, want[i]) == 0,
		    "cJSON decodes %s as \"%s\"", lits[i],
		    cJSON_IsString(j) ? j->valuestring : "(not a string)");
		cJSON_Delete(j);
	}
}

/* Span of key in text, as a NUL-terminated copy, or NULL when absent. */
static char *
member(const char *text, size_t len, const char *key)
{
	char *p = exact_copy(text, len);
	size_t off = 0, vlen = 0;
	char *out = NULL;

	if (json_member_span(p, len, key, &off, &vlen) == 0) {
		CHECK(off + vlen <= len, "span of \"%s\" runs past the text",
		    key);
		out = malloc(vlen + 1);
		assert_non_null(out);
		memcpy(out, p + off, vlen);
		out[vlen] = '\0';
	}
	free(p);
	return out;
}

struct span_case {
	const char *name;
	const char *text;
	const char *key;
	const char *want; /* NULL: absent */
};

static void
test_member_span_table(void **state)
{
	static const struct span_case cases[] = {
	    {"simple", "{\"a\":1}", "a", "1"},
	    {"second", "{\"a\":1,\"b\":\"x\"}", "b", "\"x\""},
	    {"absent", "{\"a\":1}", "b", NULL},
	    {"empty object", "{}", "a", NULL},
	    {"empty object spaced", " { \n } ", "a", NULL},
	    {"nested object", "{\"a\":{\"b\":{\"c\":[1,{\"d\":2}]}},\"e\":3}",
	        "a", "{\"b\":{\"c\":[1,{\"d\":2}]}}"},
	    {"not nested key", "{\"a\":{\"e\":1},\"e\":2}", "e", "2"},
	    {"escaped key", "{\"ev\\u0065nt\":7}", "event", "7"},
	    {"escaped key uppercase hex", "{\"ev\\u0045nt\":7}", "evEnt", "7"},
	    {"key with \\n", "{\"a\\nb\":1}", "a\nb", "1"},
	    {"key with \\\"", "{\"a\\\"b\":1}", "a\"b", "1"},
	    {"key with \\\\", "{\"a\\\\\":1,\"b\":2}", "a\\", "1"},
	    {"key with \\/", "{\"\\/\":1}", "/", "1"},
	    {"key with \\t\\r\\b\\f", "{\"\\t\\r\\b\\f\":1}", "\t\r\b\f", "1"},
	    {"key U+00E9", "{\"\\u00e9\":1}", "\xC3\xA9", "1"},
	    {"key U+20AC", "{\"\\u20AC\":1}", "\xE2\x82\xAC", "1"},
	    {"key surrogate pair", "{\"\\ud83d\\ude00\":1}", "\xF0\x9F\x98\x80",
	        "1"},
	    {"raw utf8 key", "{\"\xC3\xA9\":1}", "\xC3\xA9", "1"},
	    {"prefix is not equal", "{\"ab\":1,\"a\":2}", "a", "2"},
	    {"longer is not equal", "{\"a\":1,\"ab\":2}", "ab", "2"},
	    {"case sensitive", "{\"Event\":1,\"event\":2}", "event", "2"},
	    {"duplicate first wins", "{\"a\":1,\"a\":2}", "a", "1"},
	    {"escaped duplicate first wins", "{\"\\u0061\":1,\"a\":2}", "a",
	        "1"},
	    {"string with braces and quotes",
	        "{\"s\":\"}{][\\\"\",\"t\":\"ok\"}", "t", "\"ok\""},
	    {"string value span", "{\"s\":\"a\\\"}b\"}", "s", "\"a\\\"}b\""},
	    {"string ending in backslash", "{\"s\":\"\\\\\",\"t\":1}", "t",
	        "1"},
	    {"key looks like value", "{\"x\":\"\\\"a\\\":9\",\"a\":{\"a\":3}}",
	        "a", "{\"a\":3}"},
	    {"whitespace everywhere",
	        " \t\r\n{ \n\"a\" \t: \r[ 1 , 2 ]\n ,\t\"b\"\n:\n{ } \n} \n",
	        "b", "{ }"},
	    {"value trailing spaces", "{\"a\":  true   ,\"b\":0}", "a", "true"},
	    {"number", "{\"n\":-1.5e+3,\"m\":0}", "n", "-1.5e+3"},
	    {"literal null", "{\"n\":null}", "n", "null"},
	    {"literal false", "{\"n\":false}", "n", "false"},
	    {"empty array", "{\"a\":[],\"b\":[ ]}", "b", "[ ]"},
	    {"array of objects", "{\"a\":[{\"b\":1},{\"c\":\"]\"}],\"z\":1}",
	        "a", "[{\"b\":1},{\"c\":\"]\"}]"},
	    {"byte order mark", "\xEF\xBB\xBF{\"a\":1}", "a", "1"},
	    {"array is not an object", "[{\"a\":1}]", "a", NULL},
	    {"string is not an object", "\"{\\\"a\\\":1}\"", "a", NULL},
	    {"empty text", "", "a", NULL},
	    {"only white space", "  \n ", "a", NULL},
	    {"empty key", "{\"\":5}", "", "5"},
	    {"empty key not matched by a", "{\"\":5}", "a", NULL},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got =
		    member(cases[i].text, strlen(cases[i].text), cases[i].key);

		if (cases[i].want == NULL)
			CHECK(got == NULL,
			    "span case \"%s\": found \"%s\", want absent",
			    cases[i].name, got);
		else
			CHECK(got != NULL && strcmp(got, cases[i].want) == 0,
			    "span case \"%s\": got \"%s\", want \"%s\"",
			    cases[i].name, got != NULL ? got : "(absent)",
			    cases[i].want);
		free(got);
	}
}

/* Text cJSON would reject must never make the scanners read past len. */
static void
test_member_span_truncated(void **state)
{
	static const char *const texts[] = {
	    "{",
	    "{\"a",
	    "{\"a\"",
	    "{\"a\":",
	    "{\"a\":\"x",
	    "{\"a\":\"x\\",
	    "{\"a\":{\"b\":[1,2",
	    "{\"a\":1,",
	    "{\"a\":1 ",
	    "{\"a\\u00",
	    "{\"a\" 1}",
	    "{\"a\":1 \"b\":2}",
	    "{\"a\":,\"b\":2}",
	};
	size_t i, off, vlen;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		char *p = exact_copy(texts[i], len);
		int rc = json_member_span(p, len, "b", &off, &vlen);

		free(p);
		CHECK(rc == -1, "truncated text \"%s\": span found", texts[i]);
	}
}

static void
test_reference_inputs_span(void **state)
{
	static const char want[] =
	    "{\n"
	    "\"context\": \"Hello world\",\n"
	    "\"question\": \"What is in the context?\",\n"
	    "\"chat_history\": [\n"
	    "{\n"
	    "\"role\": \"system\",\n"
	    "\"content\": \"Answer the user's question only using provided "
	    "context.\\n\\nContext: Hello world\"\n"
	    "},\n"
	    "{\n"
	    "\"role\": \"user\",\n"
	    "\"content\": \"What is in the context?\"\n"
	    "}\n"
	    "]\n"
	    "}";
	size_t len, off = 0, vlen = 0;
	char *text = test_data_read("reference_event.json", &len);

	(void)state;
	CHECK(json_member_span(text, len, "inputs", &off, &vlen) == 0,
	    "reference event: no \"inputs\" member found");
	CHECK(vlen == strlen(want) && memcmp(text + off, want, vlen) == 0,
	    "reference event: \"inputs\" span is %zu bytes at %zu, not the "
	    "exact object text",
	    vlen, off);
	CHECK(json_member_span(text, len, "children_ids", &off, &vlen) == 0 &&
	        vlen == 2 && memcmp(text + off, "[]", 2) == 0,
	    "reference event: \"children_ids\" span is not []");
	CHECK(json_member_span(text, len, "error", &off, &vlen) == 0 &&
	        vlen == 4 && memcmp(text + off, "null", 4) == 0,
	    "reference event: \"error\" span is not null");
	free(text);
}

/*
 * The member the scanner picks, re-parsed, must equal the one cJSON picks,
 * for every top-level key of each text plus some absent ones.
 */
static void
agree(const char *name, const char *text, size_t len, const char *key)
{
	cJSON *root, *span;
	const cJSON *item;
	char *p = exact_copy(text, len);
	size_t off = 0, vlen = 0;
	int rc;

	root = cJSON_ParseWithLength(p, len);
	CHECK(root != NULL, "agreement \"%s\": cJSON rejects the text", name);
	item = cJSON_GetObjectItemCaseSensitive(root, key);
	rc = json_member_span(p, len, key, &off, &vlen);
	if (item == NULL) {
		CHECK(rc == -1,
		    "agreement \"%s\" key \"%s\": cJSON finds nothing, the "
		    "scanner a span",
		    name, key);
	} else {
		CHECK(rc == 0,
		    "agreement \"%s\" key \"%s\": cJSON finds it, the scanner "
		    "not",
		    name, key);
		span = cJSON_ParseWithLength(p + off, vlen);
		CHECK(span != NULL,
		    "agreement \"%s\" key \"%s\": span does not parse", name,
		    key);
		CHECK(cJSON_Compare(span, item, 1),
		    "agreement \"%s\" key \"%s\": span differs from cJSON's "
		    "member",
		    name, key);
		cJSON_Delete(span);
	}
	cJSON_Delete(root);
	free(p);
}

static void
agree_all_keys(const char *name, const char *text, size_t len)
{
	static const char *const extra[] = {"", "missing", "A", "Inputs"};
	cJSON *root = cJSON_ParseWithLength(text, len);
	const cJSON *c;
	size_t i;

	CHECK(root != NULL, "agreement \"%s\": cJSON rejects the text", name);
	for (c = root->child; c != NULL; c = c->next)
		agree(name, text, len, c->string);
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		agree(name, text, len, extra[i]);
	cJSON_Delete(root);
}

static void
test_member_span_agrees_with_cjson(void **state)
{
	static const struct {
		const char *name;
		const char *text;
	} cases[] = {
	    {"duplicates", "{\"a\":1,\"a\":2,\"b\":[1],\"b\":{}}"},
	    {"escaped duplicate",
	        "{\"ev\\u0065nt\":{\"x\":[1,2,{\"y\":\"}\"}]},\"event\":3}"},
	    {"raw and escaped e-acute", "{\"\\u00e9\":1,\"\xC3\xA9\":2}"},
	    {"surrogate pair key", "{\"\\ud83d\\ude00\":1,\"x\":2}"},
	    {"escaped NUL truncates the key", "{\"a\\u0000b\":1,\"a\":2}"},
	    {"bad hex reads as NUL", "{\"\\uZZZZ\":1,\"\":2}"},
	    {"escaped quote inside a \\u escape", "{\"\\uabc\\\":1,\":5}"},
	    {"strings with structure",
	        "{\"x\":\"a\\\"b\\\\\",\"y\":\"{[\","
	        "\"z\":true,\"w\":[\"]\",\"}\"]}"},
	    {"whitespace",
	        " \n{ \"a\" : [ 1 , 2 ] , \"b\" :\t{ } ,\"c\"\r:\"d\" } "},
	    {"control bytes as white space",
	        "\x01{\x02\"a\"\x1f:\x0b"
	        "1}"},
	    {"numbers", "{\"n\":-1.5e+3,\"m\":0,\"k\":1E-2}"},
	    {"empty", "{}"},
	    {"case", "{\"A\":1,\"a\":2}"},
	    {"bom", "\xEF\xBB\xBF{\"a\":1}"},
	};
	size_t i, len;
	char *ref;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		agree_all_keys(
		    cases[i].name, cases[i].text, strlen(cases[i].text));
	ref = test_data_read("reference_event.json", &len);
	agree_all_keys("reference event", ref, len);
	free(ref);
}

/*
 * The span of each element of the array text s (leading white space
 * allowed), in order, through the view, into offs/lens (max entries): the
 * element count, or -1 when s is not an array or has more than max.
 */
static long
array_spans(const char *s, size_t len, size_t *offs, size_t *lens, size_t max)
{
	struct json_view v;
	struct json_value e;
	size_t n = 0;
	int rc;

	if (json_view_array(&v, s, len) == -1)
		return -1;
	while ((rc = json_view_element(&v, &e)) == 1) {
		if (n >= max)
			return -1;
		offs[n] = (size_t)(e.text - s);
		lens[n] = e.len;
		n++;
	}
	return rc == 0 ? (long)n : -1;
}

struct array_case {
	const char *name;
	const char *text;
	long want; /* element count, or -1 */
	const char *elems[8];
};

static void
test_array_spans_table(void **state)
{
	static const struct array_case cases[] = {
	    {"empty", "[]", 0, {NULL}},
	    {"empty spaced", " [ \n ] ", 0, {NULL}},
	    {"scalars", "[1,\"x\",true,null,-2.5]", 5,
	        {"1", "\"x\"", "true", "null", "-2.5"}},
	    {"objects", "[{\"a\":[1,{\"b\":\"]\"}]},{},{\"c\":\"}\"}]", 3,
	        {"{\"a\":[1,{\"b\":\"]\"}]}", "{}", "{\"c\":\"}\"}"}},
	    {"nested arrays", "[[1,2],[],[[3]]]", 3, {"[1,2]", "[]", "[[3]]"}},
	    {"strings with commas", "[\"a,b\",\"c\\\",d\"]", 2,
	        {"\"a,b\"", "\"c\\\",d\""}},
	    {"whitespace", "\n[ 1 ,\t{ \"a\" : 2 } \n, \"x\" ]\n", 3,
	        {"1", "{ \"a\" : 2 }", "\"x\""}},
	    {"not an array", "{\"a\":[1]}", -1, {NULL}},
	    {"string", "\"[1]\"", -1, {NULL}},
	    {"empty text", "", -1, {NULL}},
	    {"truncated", "[1,2", -1, {NULL}},
	    {"truncated string", "[\"a", -1, {NULL}},
	    {"truncated after comma", "[1,", -1, {NULL}},
	};
	size_t offs[8], lens[8], i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);
		char *p = exact_copy(cases[i].text, len);
		long n = array_spans(p, len, offs, lens, 8);

		CHECK(n == cases[i].want,
		    "array case \"%s\": %ld elements, want %ld", cases[i].name,
		    n, cases[i].want);
		for (k = 0; n > 0 && k < (size_t)n; k++)
			CHECK(lens[k] == strlen(cases[i].elems[k]) &&
			        memcmp(p + offs[k], cases[i].elems[k],
			            lens[k]) == 0,
			    "array case \"%s\": element %zu is \"%.*s\", "
			    "want \"%s\"",
			    cases[i].name, k, (int)lens[k], p + offs[k],
			    cases[i].elems[k]);
		free(p);
	}
}

static void
test_array_spans_max(void **state)
{
	const char *text = "[1,2,3]";
	size_t offs[3], lens[3];

	(void)state;
	CHECK(array_spans(text, strlen(text), offs, lens, 3) == 3,
	    "array of 3 with max 3 not accepted");
	CHECK(array_spans(text, strlen(text), offs, lens, 2) == -1,
	    "array of 3 with max 2 not refused");
	CHECK(array_spans("[]", 2, offs, lens, 0) == 0,
	    "empty array with max 0 not accepted");
	CHECK(array_spans("[1]", 3, offs, lens, 0) == -1,
	    "array of 1 with max 0 not refused");
}

/* Each element span, re-parsed, equals cJSON's element. */
static void
test_array_spans_agree_with_cjson(void **state)
{
	size_t len, off, vlen, offs[16], lens[16];
	char *ref = test_data_read("reference_event.json", &len);
	char *batch;
	cJSON *root;
	char body[8192];
	size_t blen;
	long n, i;

	(void)state;
	/* A batch body: three copies of the reference event, one nested deep.
	 */
	blen = (size_t)snprintf(body, sizeof(body),
	    "{\"events\": [ %s,\n%s , {\"x\":[[[{\"y\":\"]]}\"}]]]}, %s ], "
	    "\"is_single_session\": true}",
	    ref, ref, ref);
	assert_true(blen < sizeof(body));
	batch = exact_copy(body, blen);
	CHECK(json_member_span(batch, blen, "events", &off, &vlen) == 0,
	    "batch: no events member");
	n = array_spans(batch + off, vlen, offs, lens, 16);
	CHECK(n == 4, "batch: %ld events, want 4", n);
	root = cJSON_ParseWithLength(batch + off, vlen);
	CHECK(root != NULL, "batch: cJSON rejects the events span");
	CHECK(cJSON_GetArraySize(root) == n,
	    "batch: cJSON counts %d events, the scanner %ld",
	    cJSON_GetArraySize(root), n);
	for (i = 0; i < n; i++) {
		cJSON *e =
		    cJSON_ParseWithLength(batch + off + offs[i], lens[i]);

		CHECK(e != NULL, "batch: element %ld does not parse", i);
		CHECK(cJSON_Compare(e, cJSON_GetArrayItem(root, (int)i), 1),
		    "batch: element %ld differs from cJSON's", i);
		cJSON_Delete(e);
	}
	CHECK(lens[0] == len && memcmp(batch + off + offs[0], ref, len) == 0,
	    "batch: element 0 is not the exact reference bytes");
	cJSON_Delete(root);
	free(batch);
	free(ref);
}

/* A value of text, typed as the view types it. */
static struct json_value
value_of(const char *text)
{
	struct json_value v;

	v.text = text;
	v.len = strlen(text);
	v.type = json_type_of(text, v.len);
	return v;
}

static void
test_view_types(void **state)
{
	static const struct {
		const char *text;
		enum json_type want;
	} cases[] = {
	    {"{}", JSON_OBJECT},
	    {" \n[1]", JSON_ARRAY},
	    {"\"x\"", JSON_STRING},
	    {"-1", JSON_NUMBER},
	    {"0", JSON_NUMBER},
	    {"9e9", JSON_NUMBER},
	    {"true", JSON_TRUE},
	    {"false", JSON_FALSE},
	    {"null", JSON_NULL},
	    {"", JSON_NONE},
	    {"  ", JSON_NONE},
	    {"+1", JSON_NONE},
	    {"}", JSON_NONE},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(json_type_of(cases[i].text, strlen(cases[i].text)) ==
		        cases[i].want,
		    "type of \"%s\": %d, want %d", cases[i].text,
		    json_type_of(cases[i].text, strlen(cases[i].text)),
		    cases[i].want);
}

/* A walk hands out each member and element, in order, with its type. */
static void
test_view_walk(void **state)
{
	static const char text[] =
	    " { \"a\" : 1 , \"b\\u0063\":[true,false,null,\"x\",{\"y\":[]},"
	    "-2e3] ,\"\":{ } } ";
	static const char *const names[] = {"a", "bc", ""};
	static const char *const values[] = {
	    "1", "[true,false,null,\"x\",{\"y\":[]},-2e3]", "{ }"};
	static const enum json_type types[] = {
	    JSON_NUMBER, JSON_ARRAY, JSON_OBJECT};
	static const enum json_type elems[] = {JSON_TRUE, JSON_FALSE, JSON_NULL,
	    JSON_STRING, JSON_OBJECT, JSON_NUMBER};
	char *p = exact_copy(text, sizeof(text) - 1);
	struct json_view v, a;
	struct json_member m;
	struct json_value e;
	size_t i = 0, k = 0;
	int rc;

	(void)state;
	CHECK(json_view_object(&v, p, sizeof(text) - 1) == 0,
	    "the object is not opened");
	CHECK(json_view_array(&a, p, sizeof(text) - 1) == -1,
	    "an object is opened as an array");
	while ((rc = json_view_member(&v, &m)) == 1) {
		CHECK(i < 3, "more than 3 members");
		CHECK(json_name_is(&m, names[i]), "member %zu is not \"%s\"", i,
		    names[i]);
		CHECK(m.value.len == strlen(values[i]) &&
		        memcmp(m.value.text, values[i], m.value.len) == 0 &&
		        m.value.type == types[i],
		    "member %zu: \"%.*s\" of type %d", i, (int)m.value.len,
		    m.value.text, m.value.type);
		if (i == 1) {
			CHECK(json_view_element(&v, &e) == -1,
			    "an object walk gives elements");
			CHECK(
			    json_view_array(&a, m.value.text, m.value.len) == 0,
			    "the array is not opened");
			while (json_view_element(&a, &e) == 1) {
				CHECK(k < 6 && e.type == elems[k],
				    "element %zu: type %d", k, e.type);
				k++;
			}
			CHECK(k == 6, "%zu elements, want 6", k);
		}
		i++;
	}
	CHECK(rc == 0 && i == 3, "the walk ended with %d after %zu members", rc,
	    i);
	CHECK(json_view_member(&v, &m) == 0, "an ended walk goes on");
	free(p);
}

/*
 * json_check_index notes the containers up to JSON_INDEX_DEPTH deep, in
 * the order they open, each with where it closes and the entry after
 * those inside it; not the shorter than min, not past its room.
 */
static void
test_index_entries(void **state)
{
	/* Depths: the object 0, [ 1, {"x" 2, [[ 3 and 4, {} 2, "b"'s {} 1. */
	static const char text[] = "{\"a\":[{\"x\":[[1]]},{}],\"b\":{}}";
	static const struct {
		size_t min, cap, n;
		uint32_t e[6][3]; /* open, close, next */
	} cases[] = {
	    {0, 8, 6,
	        {{0, 28, 6}, {5, 20, 5}, {6, 16, 4}, {11, 15, 4}, {18, 19, 5},
	            {26, 27, 6}}},
	    /* [[1]] is 5 bytes, {} 2: shorter than 6. */
	    {6, 8, 3, {{0, 28, 3}, {5, 20, 3}, {6, 16, 3}}},
	    /* {"x":[[1]]} is 11 bytes. */
	    {12, 8, 2, {{0, 28, 2}, {5, 20, 2}}},
	    /* No room past two: those inside the second are not noted. */
	    {0, 2, 2, {{0, 28, 2}, {5, 20, 2}}},
	};
	struct json_index_entry room[8];
	struct json_index ix;
	char err[256];
	char *p = exact_copy(text, sizeof(text) - 1);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&ix, 0, sizeof(ix));
		ix.room = room;
		ix.cap = cases[i].cap;
		ix.min = cases[i].min;
		CHECK(json_check_index(p, sizeof(text) - 1, &ix, "x", err,
		          sizeof(err)) == 0 &&
		        ix.text == p && ix.len == sizeof(text) - 1,
		    "case %zu: refused or not indexed: %s", i, err);
		CHECK(ix.n == cases[i].n, "case %zu: %zu entries, want %zu", i,
		    ix.n, cases[i].n);
		for (size_t k = 0; k < ix.n && k < cases[i].n; k++)
			CHECK(room[k].open == cases[i].e[k][0] &&
			        room[k].close == cases[i].e[k][1] &&
			        room[k].next == cases[i].e[k][2],
			    "case %zu entry %zu: %u %u %u, want %u %u %u", i, k,
			    room[k].open, room[k].close, room[k].next,
			    cases[i].e[k][0], cases[i].e[k][1],
			    cases[i].e[k][2]);
	}
	CHECK(json_check_index(
	          p, sizeof(text) - 2, &ix, "x", err, sizeof(err)) == -1 &&
	        ix.text == NULL && ix.n == 0,
	    "a refused text leaves an index");
	free(p);
}

/* Every member and element of the walks over s, depth first, into out. */
static void
walk_all(
    const char *s, size_t len, const struct json_index *ix, struct buf *out)
{
	struct json_view v;
	struct json_member m;
	struct json_value e;
	int rc;

	if (json_view_object(&v, s, len) == 0) {
		json_view_use_index(&v, ix);
		while ((rc = json_view_member(&v, &m)) == 1) {
			buf_add(out, m.name.text, m.name.len);
			buf_printf(out, "=%d:%.*s;", m.value.type,
			    (int)m.value.len, m.value.text);
			walk_all(m.value.text, m.value.len, ix, out);
		}
		buf_printf(out, "}%d;", rc);
	} else if (json_view_array(&v, s, len) == 0) {
		json_view_use_index(&v, ix);
		while ((rc = json_view_element(&v, &e)) == 1) {
			buf_printf(out, "%d:%.*s;", e.type, (int)e.len, e.text);
			walk_all(e.text, e.len, ix, out);
		}
		buf_printf(out, "]%d;", rc);
	}
}

/*
 * A walk reads the same with an index as without: whatever its room and
 * min, and over a value inside the indexed text; an index of another text
 * is not followed.
 */
static void
test_index_walk(void **state)
{
	static const char *const texts[] = {
	    "{\"events\":[{\"a\":{\"b\":[1,{\"c\":\"}]\\\"\"}]},\"s\":\"x\"},"
	    "[[],{}],\"t\",{\"u\":{\"v\":{\"w\":{}}}}],\"n\":{\"m\":[]}}",
	    " [ { } , [ [ ] , { \"k\" : [ 1 , 2 ] } ] , \"]\" , 0 ] ",
	    "{\"a\":1,\"b\":[],\"c\":{},\"d\":\"{[\"}",
	};
	struct json_index_entry room[32];
	struct json_index ix, other;
	struct buf want, got;
	char err[256];

	(void)state;
	buf_init(&want);
	buf_init(&got);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		char *p = exact_copy(texts[i], len);

		buf_reset(&want);
		walk_all(p, len, NULL, &want);
		for (size_t cap = 0; cap <= 32; cap++) {
			memset(&ix, 0, sizeof(ix));
			ix.room = room;
			ix.cap = cap;
			ix.min = cap % 3 == 0 ? 0 : 8;
			CHECK(json_check_index(
			          p, len, &ix, "x", err, sizeof(err)) == 0,
			    "text %zu refused: %s", i, err);
			buf_reset(&got);
			walk_all(p, len, &ix, &got);
			CHECK(got.len == want.len &&
			        memcmp(got.data, want.data, got.len) == 0,
			    "text %zu, room %zu: with the "
			    "index\n%.*s\nwithout\n"
			    "%.*s",
			    i, cap, (int)got.len, got.data, (int)want.len,
			    want.data);
		}
		/* An index of a copy: the walk over p does not follow it. */
		char *q = exact_copy(texts[i], len);

		memset(&other, 0, sizeof(other));
		other.room = room;
		other.cap = 32;
		assert_int_equal(
		    json_check_index(q, len, &other, "x", err, sizeof(err)), 0);
		buf_reset(&got);
		walk_all(p, len, &other, &got);
		CHECK(got.len == want.len &&
		        memcmp(got.data, want.data, got.len) == 0,
		    "text %zu: a walk followed another text's index", i);
		free(q);
		free(p);
	}
	buf_free(&want);
	buf_free(&got);
}

/* The index knows whether its text holds a \u0000, and of no other. */
static void
test_index_nul(void **state)
{
	static const struct {
		const char *text;
		int nul_free;
	} cases[] = {
	    {"{\"a\":\"x\"}", 1},
	    {"{\"a\":\"x\\u0000\"}", 0},
	    {"{\"a\\u0000\":1}", 0},
	    {"{\"a\":\"\\\\u0000\"}", 1}, /* a backslash, then "u0000" */
	    {"[\"\\u0001\",\"\\u0100\"]", 1},
	};
	struct json_index ix;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].text);

		memset(&ix, 0, sizeof(ix));
		CHECK(json_check_index(
		          cases[i].text, len, &ix, "x", err, sizeof(err)) == 0,
		    "%s refused: %s", cases[i].text, err);
		CHECK(json_index_nul_free(&ix, cases[i].text, len) ==
		        cases[i].nul_free,
		    "%s: nul_free %d", cases[i].text, !cases[i].nul_free);
		CHECK(json_index_nul_free(&ix, cases[i].text + 1, len - 2) ==
		        cases[i].nul_free,
		    "%s: a part of it is not the whole", cases[i].text);
		CHECK(!json_index_nul_free(&ix, "{}", 2),
		    "%s: the index answers for another text", cases[i].text);
	}
	CHECK(!json_index_nul_free(NULL, "{}", 2), "no index answers");
}

/* Text that ends early or breaks the grammar ends a walk with -1. */
static void
test_view_broken(void **state)
{
	static const char *const texts[] = {
	    "{",
	    "{\"a",
	    "{\"a\"",
	    "{\"a\":",
	    "{\"a\":1",
	    "{\"a\":1,",
	    "{\"a\":1,}",
	    "{\"a\":1 \"b\":2}",
	    "{\"a\" 1}",
	    "{1:2}",
	    "{\"a\":\"x\\",
	    "{\"a\":{\"b\":[1,2",
	};
	struct json_view v;
	struct json_member m;
	int rc;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		size_t len = strlen(texts[i]);
		char *p = exact_copy(texts[i], len);

		CHECK(json_view_object(&v, p, len) == 0, "\"%s\": not opened",
		    texts[i]);
		while ((rc = json_view_member(&v, &m)) == 1)
			;
		CHECK(rc == -1, "\"%s\": the walk ends with %d, not -1",
		    texts[i], rc);
		CHECK(json_view_member(&v, &m) == 0,
		    "\"%s\": a broken walk goes on", texts[i]);
		free(p);
	}
}

/* Strings decode as cJSON decodes them, and only into room enough. */
static void
test_view_string_get(void **state)
{
	static const struct {
		const char *text;
		size_t size;
		const char *want; /* NULL: -1 */
		size_t n;
	} cases[] = {
	    {"\"abc\"", 8, "abc", 3},
	    {"\"abc\"", 4, "abc", 3},
	    {"\"abc\"", 3, NULL, 0},
	    {"\"\"", 1, "", 0},
	    {"\"a\\u0000bc\"", 8, "a", 1},
	    {"\"a\\u0000 and then a long tail\"", 3, "a", 1},
	    {"\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\\b\\f\\r\\t\"", 32,
	        "\xC3\xA9\xF0\x9F\x98\x80\n\"\\/\b\f\r\t", 14},
	    {"\"\\u00e9\"", 2, NULL, 0},
	    {"\"\xC3\xA9\"", 3, "\xC3\xA9", 2},
	    {"12", 8, NULL, 0},
	    {"null", 8, NULL, 0},
	};
	char out[32];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_value v = value_of(cases[i].text);
		int rc = json_string_get(&v, out, cases[i].size, &n);

		if (cases[i].want == NULL) {
			CHECK(rc == -1, "string %s in %zu bytes: decoded",
			    cases[i].text, cases[i].size);
			continue;
		}
		CHECK(rc == 0 && n == cases[i].n &&
		        memcmp(out, cases[i].want, n + 1) == 0,
		    "string %s in %zu bytes: rc %d, %zu bytes", cases[i].text,
		    cases[i].size, rc, n);
	}
}

static void
test_trim(void **state)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"", ""},
	    {"   ", ""},
	    {"{}", "{}"},
	    {" \t\r\n{ }\n\t ", "{ }"},
	    {"\n\"a b\"", "\"a b\""},
	    {"x \n", "x"},
	    {"\x01\x1f{}\x0b\x0c", "{}"},
	};
	size_t i, len;
	const char *p;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].in);
		p = json_trim(cases[i].in, &len);
		CHECK(len == strlen(cases[i].want) &&
		        memcmp(p, cases[i].want, len) == 0,
		    "trim \"%s\": got \"%.*s\", want \"%s\"", cases[i].in,
		    (int)len, p, cases[i].want);
		CHECK(p >= cases[i].in &&
		        p + len <= cases[i].in + strlen(cases[i].in),
		    "trim \"%s\": result is not inside the input", cases[i].in);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8_table),
	    cmocka_unit_test(test_utf8_exhaustive),
	    cmocka_unit_test(test_utf8_four_byte),
	    cmocka_unit_test(test_check_grammar_table),
	    cmocka_unit_test(test_check_nul),
	    cmocka_unit_test(test_check_string_offsets),
	    cmocka_unit_test(test_check_depth),
	    cmocka_unit_test(test_check_reference),
	    cmocka_unit_test(test_check_embedded),
	    cmocka_unit_test(test_check_embedded_decoding),
	    cmocka_unit_test(test_member_span_table),
	    cmocka_unit_test(test_member_span_truncated),
	    cmocka_unit_test(test_reference_inputs_span),
	    cmocka_unit_test(test_member_span_agrees_with_cjson),
	    cmocka_unit_test(test_array_spans_table),
	    cmocka_unit_test(test_array_spans_max),
	    cmocka_unit_test(test_array_spans_agree_with_cjson),
	    cmocka_unit_test(test_view_types),
	    cmocka_unit_test(test_view_walk),
	    cmocka_unit_test(test_index_entries),
	    cmocka_unit_test(test_index_walk),
	    cmocka_unit_test(test_index_nul),
	    cmocka_unit_test(test_view_broken),
	    cmocka_unit_test(test_view_string_get),
	    cmocka_unit_test(test_trim),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
