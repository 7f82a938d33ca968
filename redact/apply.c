/* apply.c: what the rules do to one string: find the matches, mask, hash or
 * drop them. */
#include "redact/redact_int.h"

#include <string.h>

/*
 * A rule's output may grow a string (a one-byte match hashed is 64
 * bytes). Past GROWTH_MAX times the input and GROWTH_FLOOR bytes, the
 * whole string counts as one match instead, so that rules that chain
 * cannot blow a hostile string up geometrically.
 */
#define GROWTH_MAX 4
#define GROWTH_FLOOR (64 * 1024)

/* What rule_string found. */
enum found {
	FOUND_ERROR = -1,
	FOUND_NONE = 0,
	FOUND_CHANGED = 1, /* dst holds the new string */
	FOUND_DROP = 2,
};

/* The attr: glob: '*' matches any run of bytes, dots too, or none. */
int
redact_glob(const char *pat, const char *key)
{
	const char *star = NULL, *resume = NULL;

	while (*key != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = key;
		} else if (*pat == *key) {
			pat++;
			key++;
		} else if (star != NULL) {
			pat = star + 1;
			key = ++resume;
		} else {
			return 0;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* Append the lower-case hex HMAC-SHA-256 of s[0..len) to dst. */
static int
add_hash(struct redact *r, const char *s, size_t len, struct buf *dst)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	char text[64];
	size_t n = 0, i;

	/* A NULL key re-initialises with the key given at load. */
	if (r->hmac == NULL || EVP_MAC_init(r->hmac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(r->hmac, (const unsigned char *)s, len) != 1 ||
	    EVP_MAC_final(r->hmac, mac, &n, sizeof(mac)) != 1 ||
	    n != sizeof(mac))
		return -1;
	for (i = 0; i < sizeof(mac); i++) {
		text[2 * i] = hex[mac[i] >> 4];
		text[2 * i + 1] = hex[mac[i] & 0xf];
	}
	return buf_add(dst, text, sizeof(text));
}

/* Append what a match of rule s[0..len) becomes. */
static int
add_replacement(struct redact *r, const struct redact_rule *rule, const char *s,
    size_t len, struct buf *dst)
{
	if (rule->action == ACT_HASH)
		return add_hash(r, s, len, dst);
	return buf_add(dst, rule->mask, rule->masklen);
}

/* The next match of a detector or expression rule; as detect_next. */
static int
rule_next(struct redact *r, const struct redact_rule *rule, const char *s,
    size_t len, size_t off, size_t *ms, size_t *me)
{
	if (rule->what == WHAT_DETECTOR)
		return detect_next(r->det, rule->det, s, len, off, ms, me);
	return detect_next_re(
	    r->det, rule->re, rule->re_jit, s, len, off, ms, me);
}

/*
 * The whole string as one match: "value" rules, and the fallback when
 * PCRE2 gave up on a string or the output grew too much (fail closed:
 * what cannot be searched is not kept).
 */
static enum found
whole(struct redact *r, const struct redact_rule *rule, const char *s,
    size_t len, struct buf *dst, uint64_t *n)
{
	*n = 1;
	if (rule->action == ACT_DROP)
		return FOUND_DROP;
	buf_reset(dst);
	if (add_replacement(r, rule, s, len, dst) == -1)
		return FOUND_ERROR;
	return FOUND_CHANGED;
}

/*
 * Apply one rule to s[0..len), writing a changed string into dst (which
 * must not hold s). *n is the number of matches.
 */
static enum found
rule_string(struct redact *r, const struct redact_rule *rule, const char *s,
    size_t len, struct buf *dst, uint64_t *n)
{
	size_t off = 0, last = 0, ms, me, limit;
	uint64_t count = 0;
	int rc;

	*n = 0;
	if (rule->what == WHAT_VALUE)
		return whole(r, rule, s, len, dst, n);
	limit =
	    len < GROWTH_FLOOR / GROWTH_MAX ? GROWTH_FLOOR : len * GROWTH_MAX;
	while ((rc = rule_next(r, rule, s, len, off, &ms, &me)) == 1) {
		if (rule->action == ACT_DROP) {
			*n = 1;
			return FOUND_DROP;
		}
		if (count == 0)
			buf_reset(dst);
		if (buf_add(dst, s + last, ms - last) == -1 ||
		    add_replacement(r, rule, s + ms, me - ms, dst) == -1)
			return FOUND_ERROR;
		if (dst->len > limit)
			return whole(r, rule, s, len, dst, n);
		count++;
		last = off = me;
	}
	if (rc == -1)
		return whole(r, rule, s, len, dst, n);
	if (count == 0)
		return FOUND_NONE;
	if (buf_add(dst, s + last, len - last) == -1)
		return FOUND_ERROR;
	*n = count;
	return FOUND_CHANGED;
}

static int
in_scope(const struct redact_rule *rule, const struct apply_scope *scope)
{
	switch (scope->kind) {
	case SCOPE_ALL:
		return rule->where == WHERE_ALL;
	case SCOPE_ATTR:
		return rule->where == WHERE_ALL ||
		    (rule->where == WHERE_ATTR &&
		        redact_glob(rule->target, scope->key));
	case SCOPE_FIELD:
		return 1;
	case SCOPE_STEP:
		return rule->where == WHERE_ALL ||
		    (rule->step_bit & scope->fields) != 0;
	}
	return 0;
}

/*
 * The detectors rules from..to of scope may use (attr: and field: rules
 * whatever their key or path: a few more is only a little more scanning).
 */
static unsigned
want_of(const struct redact *r, size_t from, size_t to,
    const struct apply_scope *scope)
{
	unsigned want = 0;
	size_t i;

	for (i = from; i < to; i++) {
		const struct redact_rule *rule = &r->rules[i];

		if (rule->what == WHAT_DETECTOR &&
		    (scope->kind == SCOPE_FIELD || rule->where == WHERE_ALL ||
		        (scope->kind == SCOPE_ATTR &&
		            rule->where == WHERE_ATTR) ||
		        (scope->kind == SCOPE_STEP &&
		            rule->where == WHERE_FIELD)))
			want |= 1u << rule->det;
	}
	return want;
}

enum redact_verdict
redact_apply_string(struct redact *r, size_t from, size_t to,
    const struct apply_scope *scope, const char *s, size_t len,
    uint64_t *counts, uint64_t *changes, const char **res, size_t *reslen)
{
	const char *cur = s;
	size_t curlen = len, i;
	int which = 0, changed = 0, known = 0;
	unsigned may = 0;

	for (i = from; i < to; i++) {
		const struct redact_rule *rule = &r->rules[i];
		uint64_t n;
		enum found f;

		if (!in_scope(rule, scope))
			continue;
		/* One pass over the string clears every detector after this
		 * rule that cannot match, until a rule changes the string. */
		if (rule->what == WHAT_DETECTOR) {
			if (!known) {
				may = detect_maybe(
				    cur, curlen, want_of(r, i, to, scope));
				known = 1;
			}
			if (!(may & (1u << rule->det)))
				continue;
		}
		/* tmp[which] never holds cur: the two take turns. */
		f = rule_string(r, rule, cur, curlen, &r->tmp[which], &n);
		if (f == FOUND_ERROR)
			return REDACT_ERROR;
		if (f == FOUND_NONE)
			continue;
		if (counts != NULL)
			counts[i] += n;
		*changes += n;
		if (f == FOUND_DROP)
			return REDACT_DROP;
		cur = r->tmp[which].data;
		curlen = r->tmp[which].len;
		which ^= 1;
		changed = 1;
		known = 0;
	}
	if (!changed)
		return REDACT_KEEP;
	*res = cur;
	*reslen = curlen;
	return REDACT_CHANGED;
}

enum redact_verdict
redact_apply_value(struct redact *r, size_t i, const char *text, size_t textlen,
    const char **res, size_t *reslen)
{
	const struct redact_rule *rule = &r->rules[i];

	switch (rule->action) {
	case ACT_DROP:
		return REDACT_DROP;
	case ACT_MASK:
		*res = rule->mask;
		*reslen = rule->masklen;
		return REDACT_CHANGED;
	case ACT_HASH:
		buf_reset(&r->val);
		if (add_hash(r, text, textlen, &r->val) == -1)
			return REDACT_ERROR;
		*res = r->val.data;
		*reslen = r->val.len;
		return REDACT_CHANGED;
	}
	return REDACT_ERROR;
}

int
redact_rule_finds(struct redact *r, size_t i, const char *s, size_t len)
{
	const struct redact_rule *rule = &r->rules[i];
	size_t ms, me;

	if (rule->what == WHAT_VALUE)
		return 1;
	if (rule->what == WHAT_DETECTOR &&
	    !detect_maybe(s, len, 1u << rule->det))
		return 0;
	return rule_next(r, rule, s, len, 0, &ms, &me) != 0;
}
