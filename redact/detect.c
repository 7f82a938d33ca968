/* detect.c: the built-in detectors (e-mail, card, bearer, API key) and the
 * PCRE2 matching that rules' expressions share with them. */
#include "redact/detect.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Under valgrind, PCRE2's JIT code cannot be checked: valgrind reports its
 * word-wise reads as uses of uninitialised memory. Valgrind's own header
 * tells whether we run under it (the Makefile defines HAVE_VALGRIND_H
 * when it is installed), so that the interpreter runs there.
 */
#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UNDER_VALGRIND() 0
#endif

/*
 * The detectors are PCRE2 expressions compiled in byte mode (no UTF-8
 * decoding: every byte of any string can be searched, and bytes >= 0x80
 * stand for the letters of other scripts). Each one is written so that
 * its cost stays linear in the string: a match may only start where its
 * first class does not continue from the byte before (a lookbehind), and
 * runs are possessive where giving characters back cannot help.
 */

/* Local part and domain as detect.h describes them. */
static const char email_pattern[] =
    "(?<![A-Za-z0-9._%+\\x80-\\xff-])"
    "[A-Za-z0-9._%+\\x80-\\xff-]++"
    "@(?:[A-Za-z0-9\\x80-\\xff-]++\\.)+"
    "(?:xn--[A-Za-z0-9-]++|[A-Za-z\\x80-\\xff]{2,}+)";

/*
 * A card number as people and forms write it: 13 to 19 digits in a row,
 * or groups of 4-4-4-4 (and 1 to 3 more), 4-6-5 or 4-6-4, all separated
 * by the same space or dash. Not inside a word or a dashed token: an id
 * such as a UUID (8-4-4-4-12 hex) can never be taken for one, whatever
 * its digits. (?C1) is the Luhn check (luhn_callout): failing it
 * backtracks to the next shorter span.
 */
static const char card_pattern[] =
    "(?<![0-9A-Za-z])(?<![0-9A-Za-z]-)"
    "(?:[2-6][0-9]{12,18}"
    "|[2-6][0-9]{3}([ -])[0-9]{4}\\1[0-9]{4}\\1[0-9]{4}(?:\\1[0-9]{1,3})?"
    "|[2-6][0-9]{3}([ -])[0-9]{6}\\2[0-9]{4,5})"
    "(?![0-9A-Za-z])(?!-[0-9A-Za-z])(?C1)";

/* \K: the match, and so what is masked, is the token alone. */
static const char bearer_pattern[] = "(?<![A-Za-z0-9])(?i:bearer)[ \\t]++\\K"
                                     "(?=[A-Za-z0-9._~+/-]{8})"
                                     "(?=[A-Za-z]*+[0-9._~+/-]|[A-Za-z]{20})"
                                     "[A-Za-z0-9._~+/-]++=*+";

/*
 * The key shapes. Each prefix is a provider's documented one; the body
 * lengths are the shortest real keys have (or less), high enough that
 * ordinary words and kebab-case names do not match. Fixed-length shapes
 * must not be followed by another body character.
 *
 * detect_maybe's exact filter depends on this: every shape but the PEM
 * block contains a run of at least 15 characters of [A-Za-z0-9_-] holding
 * a character outside [0-9a-fA-F-] (its prefix has one), and a PEM block
 * starts with five dashes. Keep that true when adding a shape.
 */
static const char apikey_pattern[] =
    "(?<![A-Za-z0-9])(?:"
    /* OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-), Anthropic sk-ant- */
    "sk-[A-Za-z0-9_-]{32,}+"
    /* Stripe secret and restricted keys, live and test; webhook secret */
    "|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}+"
    "|whsec_[A-Za-z0-9]{32,}+"
    /* AWS access key ids, long-term and temporary */
    "|A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])"
    /* Google API keys */
    "|AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])"
    /* GitHub: personal, OAuth, user-to-server, server, refresh; fine-grained */
    "|gh[opsur]_[A-Za-z0-9]{36,}+"
    "|github_pat_[A-Za-z0-9_]{22,}+"
    /* GitLab personal access tokens */
    "|glpat-[A-Za-z0-9_-]{20,}+"
    /* Slack bot, user, app, refresh, config tokens; app-level tokens */
    "|xox[abeprs]-[A-Za-z0-9-]{10,}+"
    "|xapp-[0-9]+-[A-Za-z0-9-]{20,}+"
    /* Hugging Face, npm, PyPI */
    "|hf_[A-Za-z0-9]{30,}+"
    "|npm_[A-Za-z0-9]{36,}+"
    "|pypi-AgE[A-Za-z0-9_-]{50,}+"
    /* Groq, xAI, Replicate, Perplexity, LangSmith */
    "|gsk_[A-Za-z0-9]{40,}+"
    "|xai-[A-Za-z0-9]{40,}+"
    "|r8_[A-Za-z0-9]{30,}+"
    "|pplx-[A-Za-z0-9]{40,}+"
    "|lsv2_(?:pt|sk)_[A-Za-z0-9_]{32,}+"
    /* DigitalOcean, Shopify */
    "|do[opr]_v1_[a-f0-9]{64}"
    "|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"
    /* JSON Web Tokens: header and payload are base64url JSON objects */
    "|eyJ[A-Za-z0-9_-]{12,}+\\.eyJ[A-Za-z0-9_-]{12,}+\\.[A-Za-z0-9_-]*+"
    /* PEM private keys, to their END line or the end of the string */
    "|-----BEGIN[A-Z ]{0,32}PRIVATE KEY-----"
    "(?s:.*?-----END[A-Z ]{0,32}PRIVATE KEY-----|.*+)"
    ")";

static const struct {
	const char *name;
	const char *pattern;
	size_t len;
} detectors[DETECT_N] = {
    [DETECT_EMAIL] = {"email", email_pattern, sizeof(email_pattern) - 1},
    [DETECT_CARD] = {"card", card_pattern, sizeof(card_pattern) - 1},
    [DETECT_BEARER] = {"bearer", bearer_pattern, sizeof(bearer_pattern) - 1},
    [DETECT_APIKEY] = {"apikey", apikey_pattern, sizeof(apikey_pattern) - 1},
};

/* PCRE2's default; each match's effort is bounded by it, not by time. */
#define MATCH_LIMIT 10000000u
#define JIT_STACK_MIN (32 * 1024)
#define JIT_STACK_MAX (1024 * 1024)

struct detect {
	pcre2_code *code[DETECT_N];
	int code_jit[DETECT_N]; /* code[i] runs on the JIT */
	int jit;                /* everything compiled so far does */
	pcre2_match_data *md;
	pcre2_match_context *mctx;      /* no callouts */
	pcre2_match_context *mctx_card; /* with the Luhn callout */
	pcre2_jit_stack *jstack;
};

int
detect_lookup(const char *name, enum detect_kind *k)
{
	int i;

	for (i = 0; i < DETECT_N; i++)
		if (strcmp(name, detectors[i].name) == 0) {
			*k = (enum detect_kind)i;
			return 0;
		}
	return -1;
}

const char *
detect_name(enum detect_kind k)
{
	return detectors[k].name;
}

/*
 * The card pattern's callout: accept the span [start_match,
 * current_position) only when its digits pass the Luhn check. Returning
 * 1 makes PCRE2 backtrack, to a shorter span or the next start.
 */
static int
luhn_callout(pcre2_callout_block *cb, void *arg)
{
	const PCRE2_UCHAR *s = cb->subject;
	size_t i = cb->current_position;
	unsigned sum = 0, dbl = 0;

	(void)arg;
	while (i > cb->start_match) {
		unsigned d;

		i--;
		if (s[i] < '0' || s[i] > '9')
			continue;
		d = (unsigned)(s[i] - '0');
		if (dbl) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
		dbl = !dbl;
	}
	return sum % 10 == 0 ? 0 : 1;
}

static int
compile(struct detect *d, const char *src, size_t len, uint32_t opts,
    pcre2_code **out, int *jit, char *err, size_t errlen)
{
	pcre2_code *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int ec;

	re = pcre2_compile((PCRE2_SPTR)src, len, opts | PCRE2_NEVER_BACKSLASH_C,
	    &ec, &off, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			snprintf((char *)msg, sizeof(msg), "error %d", ec);
		snprintf(
		    err, errlen, "%s at offset %zu", (char *)msg, (size_t)off);
		return -1;
	}
	/*
	 * Without executable memory (MemoryDenyWriteExecute=yes) the JIT
	 * fails and pcre2_match interprets the same code: slower, same
	 * results. Anything else it refuses is also left to the interpreter.
	 */
	*jit =
	    !UNDER_VALGRIND() && pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
	if (!*jit)
		d->jit = 0;
	*out = re;
	return 0;
}

struct detect *
detect_new(void)
{
	struct detect *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->jit = 1;
	/* One pair: only the whole match's bounds are used. */
	d->md = pcre2_match_data_create(1, NULL);
	d->mctx = pcre2_match_context_create(NULL);
	d->mctx_card = pcre2_match_context_create(NULL);
	d->jstack = pcre2_jit_stack_create(JIT_STACK_MIN, JIT_STACK_MAX, NULL);
	if (d->md == NULL || d->mctx == NULL || d->mctx_card == NULL ||
	    d->jstack == NULL) {
		detect_free(d);
		return NULL;
	}
	pcre2_set_match_limit(d->mctx, MATCH_LIMIT);
	pcre2_set_match_limit(d->mctx_card, MATCH_LIMIT);
	pcre2_jit_stack_assign(d->mctx, NULL, d->jstack);
	pcre2_jit_stack_assign(d->mctx_card, NULL, d->jstack);
	pcre2_set_callout(d->mctx_card, luhn_callout, NULL);
	return d;
}

int
detect_enable(struct detect *d, enum detect_kind k, char *err, size_t errlen)
{
	if (d->code[k] != NULL)
		return 0;
	return compile(d, detectors[k].pattern, detectors[k].len, 0,
	    &d->code[k], &d->code_jit[k], err, errlen);
}

void
detect_free(struct detect *d)
{
	int i;

	if (d == NULL)
		return;
	for (i = 0; i < DETECT_N; i++)
		pcre2_code_free(d->code[i]);
	pcre2_match_data_free(d->md);
	pcre2_match_context_free(d->mctx);
	pcre2_match_context_free(d->mctx_card);
	pcre2_jit_stack_free(d->jstack);
	free(d);
}

int
detect_jit(const struct detect *d)
{
	return d->jit;
}

int
detect_compile(struct detect *d, const char *src, size_t len, uint32_t flags,
    pcre2_code **out, int *jit, char *err, size_t errlen)
{
	return compile(d, src, len, flags | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
	    out, jit, err, errlen);
}

#define BIT(k) (1u << (k))

/*
 * detect_maybe's filters. Each is a necessary condition of its pattern,
 * tested only where a byte could start (or anchor) a match:
 *   email   an '@';
 *   card    a digit 2-6 not after a digit, with 12 more digits after it,
 *           each after at most one space or dash (card_at);
 *   bearer  "bearer" in any case (bearer_at);
 *   apikey  one of apikey_pattern's prefixes, found from its '-', '_',
 *           'I' or 'J' (key_at), not after a letter or digit.
 * The byte loop is their definition; the SSE2 loop finds the same
 * candidates 16 bytes at a time.
 */

static int
is_digit(unsigned c)
{
	return c - '0' < 10;
}

static int
is_alnum(unsigned c)
{
	return is_digit(c) || (c | 0x20) - 'a' < 26;
}

/* 1 if s[i..] starts with "bearer" in any case. */
static int
bearer_at(const unsigned char *s, size_t len, size_t i)
{
	static const char word[] = "bearer";
	size_t k;

	if (len - i < sizeof(word) - 1)
		return 0;
	for (k = 0; k < sizeof(word) - 1; k++)
		if ((s[i + k] | 0x20) != word[k])
			return 0;
	return 1;
}

/* 1 if the digit at i (not after a digit) begins 13 digits with at most
 * one space or dash between each two. */
static int
card_at(const unsigned char *s, size_t len, size_t i)
{
	size_t n = 1, j = i + 1;

	while (n < 13 && j < len) {
		if (is_digit(s[j])) {
			j++;
		} else if ((s[j] == ' ' || s[j] == '-') && j + 1 < len &&
		    is_digit(s[j + 1])) {
			j += 2;
		} else {
			break;
		}
		n++;
	}
	return n >= 13;
}

/* 1 if no letter or digit is before q: apikey_pattern's lookbehind. */
static int
word_start(const unsigned char *s, size_t q)
{
	return q == 0 || !is_alnum(s[q - 1]);
}

/* 1 if the strlen(w) bytes before i are w and start a word. */
static inline int
before(const unsigned char *s, size_t i, const char *w)
{
	size_t n = strlen(w), k;

	if (i < n)
		return 0;
	for (k = 0; k < n; k++)
		if (s[i - n + k] != (unsigned char)w[k])
			return 0;
	return word_start(s, i - n);
}

/*
 * 1 if the anchor byte at i ends one of apikey_pattern's prefixes (the
 * byte before it picks the few that can): keep in step with the pattern.
 */
static int
key_at(const unsigned char *s, size_t len, size_t i)
{
	unsigned p1 = i >= 1 ? s[i - 1] : 0;

	switch (s[i]) {
	case '-':
		if (len - i >= 5 && memcmp(s + i, "-----", 5) == 0)
			return 1;
		switch (p1) {
		case 'k':
			return before(s, i, "sk");
		case 't':
			return before(s, i, "glpat");
		case 'a':
		case 'b':
		case 'e':
		case 'r':
		case 's':
			return before(s, i - 1, "xox");
		case 'p':
			return before(s, i, "xapp") || before(s, i - 1, "xox");
		case 'i':
			return before(s, i, "pypi") || before(s, i, "xai");
		case 'x':
			return before(s, i, "pplx");
		}
		return 0;
	case '_':
		switch (p1) {
		case 'k':
			return before(s, i, "rk") || before(s, i, "sk") ||
			    before(s, i, "gsk");
		case 'c':
			return before(s, i, "whsec");
		case 'o':
		case 'p':
		case 'r':
		case 's':
		case 'u':
			return before(s, i - 1, "gh") ||
			    (p1 != 'u' && p1 != 's' &&
			        before(s, i - 1, "do")) ||
			    (i >= 2 && before(s, i - 2, "shp"));
		case 'b':
			return before(s, i, "github");
		case 'f':
			return before(s, i, "hf");
		case 'm':
			return before(s, i, "npm");
		case '8':
			return before(s, i, "r8");
		case '2':
			return before(s, i, "lsv2");
		case 't':
		case 'a':
			return i >= 2 && before(s, i - 2, "shp");
		}
		return 0;
	case 'I':
		return (i + 1 < len && s[i + 1] == 'A' &&
		           (p1 == 'K' || p1 == 'S') && before(s, i - 1, "A")) ||
		    (len - i >= 3 && s[i + 1] == 'z' && s[i + 2] == 'a' &&
		        before(s, i, "A"));
	case 'J':
		return before(s, i, "ey");
	}
	return 0;
}

/* What a candidate byte at i adds; the byte loop's body. */
static unsigned
candidate(const unsigned char *s, size_t len, size_t i, unsigned want)
{
	unsigned c = s[i], got = 0;

	if (c == '@')
		got |= BIT(DETECT_EMAIL);
	if ((c | 0x20) == 'b' && (want & BIT(DETECT_BEARER)) &&
	    bearer_at(s, len, i))
		got |= BIT(DETECT_BEARER);
	if (c - '2' < 5 && (i == 0 || !is_digit(s[i - 1])) &&
	    (want & BIT(DETECT_CARD)) && card_at(s, len, i))
		got |= BIT(DETECT_CARD);
	if ((c == '-' || c == '_' || c == 'I' || c == 'J') &&
	    (want & BIT(DETECT_APIKEY)) && key_at(s, len, i))
		got |= BIT(DETECT_APIKEY);
	return got & want;
}

/* The lengths below which a detector cannot match at all. */
static unsigned
long_enough(size_t len)
{
	/* "a@b.cd"; 13 digits; "bearer", a space, 8 characters; the
	 * shortest key, "xoxb-" and 10 */
	return (len >= 6 ? BIT(DETECT_EMAIL) : 0) |
	    (len >= 13 ? BIT(DETECT_CARD) : 0) |
	    (len >= 15 ? BIT(DETECT_BEARER) | BIT(DETECT_APIKEY) : 0);
}

unsigned
detect_maybe_bytes(const char *str, size_t len, unsigned want)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned got = 0;
	size_t i;

	want &= long_enough(len);
	for (i = 0; i < len && got != want; i++)
		got |= candidate(s, len, i, want & ~got);
	return got;
}

#if defined(__SSE2__)
#include <emmintrin.h>

#define SPLAT(c) _mm_set1_epi8((char)(c))

/* A 16-byte block's candidates for each detector, a bit per byte. */
struct cand {
	unsigned at, card, b, key;
};

/*
 * The candidates of the block v into c; 0 when there are none, which is
 * most blocks, found with fewer instructions than the masks take.
 */
static inline int
block_candidates(__m128i v, struct cand *c)
{
	__m128i lo = _mm_or_si128(v, SPLAT(0x20));
	__m128i at = _mm_cmpeq_epi8(v, SPLAT('@'));
	__m128i b = _mm_cmpeq_epi8(lo, SPLAT('b'));
	__m128i t = _mm_and_si128(_mm_cmpgt_epi8(v, SPLAT('2' - 1)),
	    _mm_cmpgt_epi8(SPLAT('6' + 1), v));
	__m128i k = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, SPLAT('-')),
	                             _mm_cmpeq_epi8(v, SPLAT('_'))),
	    _mm_or_si128(
	        _mm_cmpeq_epi8(v, SPLAT('I')), _mm_cmpeq_epi8(v, SPLAT('J'))));
	__m128i d;

	if (_mm_movemask_epi8(
	        _mm_or_si128(_mm_or_si128(at, b), _mm_or_si128(t, k))) == 0)
		return 0;
	d = _mm_and_si128(_mm_cmpgt_epi8(v, SPLAT('0' - 1)),
	    _mm_cmpgt_epi8(SPLAT('9' + 1), v));
	c->at = (unsigned)_mm_movemask_epi8(at);
	c->b = (unsigned)_mm_movemask_epi8(b);
	c->key = (unsigned)_mm_movemask_epi8(k);
	/* a digit 2-6 first in the block is kept: block_verify checks the
	 * byte before it */
	c->card = (unsigned)_mm_movemask_epi8(t) &
	    ~((unsigned)_mm_movemask_epi8(d) << 1);
	return 1;
}

/* What the candidates c of the bytes at s + at add to got. */
static inline unsigned
block_verify(const unsigned char *s, size_t len, size_t at,
    const struct cand *c, unsigned want, unsigned got)
{
	unsigned m;

	want &= ~got;
	if ((want & BIT(DETECT_EMAIL)) && c->at != 0)
		got |= BIT(DETECT_EMAIL);
	if (want & BIT(DETECT_CARD))
		for (m = c->card; m != 0; m &= m - 1) {
			size_t i = at + (size_t)__builtin_ctz(m);

			if ((i == 0 || !is_digit(s[i - 1])) &&
			    card_at(s, len, i)) {
				got |= BIT(DETECT_CARD);
				break;
			}
		}
	if (want & BIT(DETECT_BEARER))
		for (m = c->b; m != 0; m &= m - 1)
			if (bearer_at(s, len, at + (size_t)__builtin_ctz(m))) {
				got |= BIT(DETECT_BEARER);
				break;
			}
	if (want & BIT(DETECT_APIKEY))
		for (m = c->key; m != 0; m &= m - 1)
			if (key_at(s, len, at + (size_t)__builtin_ctz(m))) {
				got |= BIT(DETECT_APIKEY);
				break;
			}
	return got;
}

/*
 * 16 bytes at a time: a mask of candidate bytes per detector and block,
 * each verified as candidate() would (few: most blocks have none). The
 * last partial block is the string's last 16 bytes, with the bytes
 * already seen masked off; a string shorter than 16 bytes is copied into
 * a zeroed block (a zero is no candidate).
 */
static unsigned
maybe_sse2(const unsigned char *s, size_t len, unsigned want)
{
	struct cand c;
	unsigned got = 0, keep;
	size_t i;

	if (len < 16) {
		unsigned char pad[16] = {0};

		memcpy(pad, s, len);
		if (!block_candidates(
		        _mm_loadu_si128((const __m128i *)pad), &c))
			return 0;
		return block_verify(s, len, 0, &c, want, 0);
	}
	for (i = 0; i + 16 <= len && got != want; i += 16)
		if (block_candidates(
		        _mm_loadu_si128((const __m128i *)(s + i)), &c))
			got = block_verify(s, len, i, &c, want, got);
	if (i < len && got != want &&
	    block_candidates(
	        _mm_loadu_si128((const __m128i *)(s + len - 16)), &c)) {
		keep = 0xffffu << (16 - (len - i));
		c.at &= keep;
		c.card &= keep;
		c.b &= keep;
		c.key &= keep;
		got = block_verify(s, len, len - 16, &c, want, got);
	}
	return got;
}
#endif

unsigned
detect_maybe(const char *s, size_t len, unsigned want)
{
	want &= long_enough(len);
	if (want == 0)
		return 0;
	/* Alone, the e-mail filter is glibc's memchr, faster still. */
	if (want == BIT(DETECT_EMAIL))
		return memchr(s, '@', len) != NULL ? want : 0;
#if defined(__SSE2__)
	return maybe_sse2((const unsigned char *)s, len, want);
#else
	return detect_maybe_bytes(s, len, want);
#endif
}

/*
 * The first non-empty match of re at or after off. PCRE2_NOTEMPTY makes
 * PCRE2 itself look past empty matches (they would mask nothing); the
 * loop only guards against a match that \K turned backwards.
 */
static int
next(struct detect *d, const pcre2_code *re, int jit, pcre2_match_context *mctx,
    const char *s, size_t len, size_t off, size_t *ms, size_t *me)
{
	PCRE2_SIZE *ov;
	int rc;

	while (off <= len) {
		if (jit)
			rc = pcre2_jit_match(re, (PCRE2_SPTR)s, len, off,
			    PCRE2_NOTEMPTY, d->md, mctx);
		else
			rc = pcre2_match(re, (PCRE2_SPTR)s, len, off,
			    PCRE2_NOTEMPTY, d->md, mctx);
		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc < 0)
			return -1;
		ov = pcre2_get_ovector_pointer(d->md);
		if (ov[0] < ov[1] && ov[1] <= len) {
			*ms = ov[0];
			*me = ov[1];
			return 1;
		}
		off = (ov[1] > off ? ov[1] : off) + 1;
	}
	return 0;
}

int
detect_next(struct detect *d, enum detect_kind k, const char *s, size_t len,
    size_t off, size_t *ms, size_t *me)
{
	return next(d, d->code[k], d->code_jit[k],
	    k == DETECT_CARD ? d->mctx_card : d->mctx, s, len, off, ms, me);
}

int
detect_next_re(struct detect *d, const pcre2_code *re, int jit, const char *s,
    size_t len, size_t off, size_t *ms, size_t *me)
{
	return next(d, re, jit, d->mctx, s, len, off, ms, me);
}
