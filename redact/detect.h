/* detect.h: the built-in detectors (e-mail, card, bearer, API key) and the
 * PCRE2 matching that rules' expressions share with them. */
#ifndef TS_DETECT_H
#define TS_DETECT_H

#include <stddef.h>

#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/*
 * What each detector reaches, exactly (redact/RULES.md says it for users):
 *
 * email   local@domain: the local part a run of [A-Za-z0-9._%+-] and bytes
 *         >= 0x80 (UTF-8 letters) that does not continue such a run; the
 *         domain one or more labels of [A-Za-z0-9-] and bytes >= 0x80,
 *         each followed by '.', then a top-level domain of two or more
 *         letters (or bytes >= 0x80), or an "xn--" one. So "a@b",
 *         "user@localhost" and "x@10.0.0.1" are not addresses.
 * card    13 to 19 digits, the first 2-6 (every payment brand: Visa,
 *         Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro),
 *         a single space or dash allowed between any two digits, passing
 *         the Luhn check, with no digit right before or after. Every such
 *         span is tried, longest first, so a card followed by " 123" is
 *         still found. Millisecond and nanosecond timestamps (which start
 *         with 1) are never cards.
 * bearer  "Bearer" (any case, not the end of a longer word), spaces or
 *         tabs, then a token of RFC 6750's characters [A-Za-z0-9._~+/-]
 *         and trailing '='; only the token is matched, so "Bearer " stays
 *         readable. The token has at least 8 characters and is not a
 *         plain word: it holds a digit or one of ._~+/- or is at least 20
 *         letters long ("Bearer of bad news" is not a token).
 * apikey  the shapes in detect.c's apikey_pattern: provider prefixes with
 *         a minimum body length, not continuing a word, JSON Web Tokens,
 *         and PEM private key blocks.
 */
enum detect_kind {
	DETECT_EMAIL,
	DETECT_CARD,
	DETECT_BEARER,
	DETECT_APIKEY,
	DETECT_N,
};

/*
 * The compiled detectors and the match state every expression uses.
 * Built once; matching uses its scratch, so one thread at a time.
 */
struct detect;

/* The detector called name, 0; or -1 when there is none. */
int detect_lookup(const char *name, enum detect_kind *k);
const char *detect_name(enum detect_kind k);

/* A new matcher with no detector compiled yet; NULL if out of memory. */
struct detect *detect_new(void);
void detect_free(struct detect *d);

/*
 * Compile detector k unless it is already. Returns 0, or -1 with err set
 * when memory ran out (a detector that does not compile is a bug, also
 * reported there).
 */
int detect_enable(
    struct detect *d, enum detect_kind k, char *err, size_t errlen);

/* 1 if everything compiled so far runs on the JIT. */
int detect_jit(const struct detect *d);

/*
 * Compile a rule's expression (len bytes; flags is PCRE2_CASELESS etc.) in
 * UTF-8 mode, where a string that is not valid UTF-8 can still be searched
 * (its invalid bytes match nothing). Returns 0 with *out (free with
 * pcre2_code_free) and *jit, or -1 with err set to "<PCRE2's message> at
 * offset N" or "out of memory".
 */
int detect_compile(struct detect *d, const char *src, size_t len,
    uint32_t flags, pcre2_code **out, int *jit, char *err, size_t errlen);

/*
 * Of the detectors in want (bit 1 << kind each), those that may match
 * s[0..len). Exact: a detector left out cannot match, so a caller may
 * skip detect_next for it. One pass over s for all of them.
 */
unsigned detect_maybe(const char *s, size_t len, unsigned want);

/*
 * detect_maybe one byte at a time: the definition the vector code of
 * detect_maybe must equal, for the tests and the fuzzer to hold it to.
 */
unsigned detect_maybe_bytes(const char *s, size_t len, unsigned want);

/*
 * The first non-empty match of detector k at or after off in s[0..len):
 * 1 with it in [*ms, *me); 0 when there is none; -1 when PCRE2 gave up
 * (a match, depth or heap limit) and the string cannot be cleared.
 */
int detect_next(struct detect *d, enum detect_kind k, const char *s, size_t len,
    size_t off, size_t *ms, size_t *me);

/* detect_next for a code from detect_compile. */
int detect_next_re(struct detect *d, const pcre2_code *re, int jit,
    const char *s, size_t len, size_t off, size_t *ms, size_t *me);

#endif
