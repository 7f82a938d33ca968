/* jsonscan.h: byte-level helpers over JSON text: strict RFC 8259 and UTF-8
 * checks, and finding a value's raw span. */
#ifndef TS_JSONSCAN_H
#define TS_JSONSCAN_H

#include <stddef.h>

/*
 * 1 if s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF), else 0. NUL bytes count as invalid:
 * JSON text never needs them raw.
 */
int json_utf8_valid(const char *s, size_t len);

/*
 * Whether s[0..len) is one JSON text as RFC 8259 writes it, strictly, for
 * the upstream that will read the bytes as they are:
 *   - white space only SP, HT, LF and CR; no byte order mark;
 *   - numbers -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: no "01",
 *     "-007", "1.", "-.5", "1.e5", "+1";
 *   - strings without a raw control character (U+0000 to U+001F), with
 *     only the escapes the grammar lists, a \u surrogate only as a high-low
 *     pair (cJSON refuses the others too), and valid UTF-8 (as
 *     json_utf8_valid);
 *   - the literals true, false, null; nothing after the value;
 *   - at most CJSON_NESTING_LIMIT (1000) nested arrays and objects.
 * cJSON accepts all of this, and more that a strict parser refuses.
 * Returns 0, or -1 with err set to "<what>: invalid JSON at byte N:
 * <reason>" (N from 0). Any thread; no allocation, no recursion.
 */
int json_check(
    const char *s, size_t len, const char *what, char *err, size_t errlen);

/*
 * The JSON text carried in a JSON string (the reference API's
 * {"event": "<the object as a string>"}): lit[0..litlen) is the string's
 * literal as the request has it, quotes included, from a text json_check
 * accepted; text is its value as cJSON decoded it, a C string. Fails when
 * the literal holds an escaped NUL (cJSON's C string would end there and
 * what follows would be dropped without a word; JSON text never holds a
 * raw NUL) or when text is not strict JSON (json_check). 0, or -1 with err
 * as json_check sets it.
 */
int json_check_embedded(const char *lit, size_t litlen, const char *text,
    const char *what, char *err, size_t errlen);

/*
 * The scanners below take text that cJSON has already parsed successfully
 * (so it is valid JSON, at most CJSON_NESTING_LIMIT deep) and report spans
 * as offsets into it. They must agree with cJSON on which member they pick:
 * the first member whose key, after decoding escapes, equals key exactly
 * (cJSON_GetObjectItemCaseSensitive). They do no allocation.
 */

/*
 * Within the object whose text starts at s (leading white space allowed),
 * find the value of member key. On success returns 0 with *off and *vlen
 * giving the value's text (no surrounding white space). -1 when absent or
 * when s is not an object.
 */
int json_member_span(
    const char *s, size_t len, const char *key, size_t *off, size_t *vlen);

/*
 * Within the array whose text starts at s (leading white space allowed),
 * give the span of each element, in order, into offs/lens (max entries).
 * Returns the element count, or -1 when s is not an array or it has more
 * than max elements.
 */
long json_array_spans(
    const char *s, size_t len, size_t *offs, size_t *lens, size_t max);

/*
 * Trim white space around s[0..*len): returns the new start. White space
 * here, as in the scanners, is every byte up to 0x20, as cJSON skips it.
 */
const char *json_trim(const char *s, size_t *len);

#endif
