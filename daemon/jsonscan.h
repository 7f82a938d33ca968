/* jsonscan.h: byte-level helpers over JSON text: UTF-8 checking and finding a
 * value's raw span. */
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
