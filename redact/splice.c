/* splice.c: the "*" and field: rules applied to a record's JSON text without
 * a tree, the client's bytes kept but for the strings a rule changed. */
#include "redact/redact_int.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonscan.h"

/*
 * The walk is one pass over the text with an explicit stack: no
 * recursion. A container at depth d (the record is at 0) keeps the
 * field: rules whose paths its path matches so far (a bit each, as
 * redact_splice_plan numbered them) and, in an array, the index of its
 * next element. Paths have at most REDACT_PATH_MAX segments, so below
 * that depth a container's rules are its parent's and nothing more is
 * kept per level than whether it is an array (a bit, up to
 * REDACT_MAX_DEPTH).
 */
#define LEVELS (REDACT_PATH_MAX + 1)
#define ARRBITS ((REDACT_MAX_DEPTH + 63) / 64)

/*
 * A number whose text cJSON reads as an infinity prints again as null:
 * the tree's record would hold null where the spliced one keeps the
 * client's text. Longer than this, a number is taken to be one without
 * looking (its text would not fit the buffer strtod reads).
 */
#define NUMBER_MAX 400

struct level {
	uint64_t rules; /* field: rules whose paths match down to here */
	long idx;       /* an array: the index of the element being read */
};

/* One redact_splice call. */
struct splice {
	struct redact *r;
	const char *text;
	size_t len;
	struct buf *out;
	size_t last;      /* text before this is in out */
	uint64_t changes; /* matches counted in r->splice_counts */
	int changed;      /* out holds the record so far */
	int nul;          /* a \u0000 escape somewhere */
	int infinite;     /* a number cJSON reads as an infinity */
	struct level lv[LEVELS];
	uint64_t arr[ARRBITS];
};

/* The bits of the field: rules whose paths have at most d segments. */
static uint64_t
done_by(const struct redact *r, size_t d)
{
	return d < LEVELS ? r->splice_le[d] : ~(uint64_t)0;
}

int
redact_splice_plan(struct redact *r)
{
	size_t i, s, d;

	r->splice_ok = 0;
	for (i = 0; i < r->n; i++) {
		const struct redact_rule *rule = &r->rules[i];

		r->splice_all |= rule->where == WHERE_ALL;
		if (rule->where != WHERE_FIELD)
			continue;
		if (r->nsplice == STEP_FIELDS)
			return 0; /* more than a mask holds: the tree */
		r->splice_rule[r->nsplice] = i;
		for (d = 0; d < LEVELS; d++) {
			if (rule->nseg <= d)
				r->splice_le[d] |= (uint64_t)1 << r->nsplice;
			if (rule->nseg == d && rule->what == WHAT_VALUE)
				r->splice_eq[d] |= (uint64_t)1 << r->nsplice;
		}
		if (rule->what == WHAT_VALUE)
			r->splice_value |= (uint64_t)1 << r->nsplice;
		else if (rule->what == WHAT_DETECTOR)
			r->splice_det |= (uint64_t)1 << r->nsplice;
		for (s = 0; s < r->nsteps; s++)
			if (r->steps[s].from <= i && i < r->steps[s].to)
				r->steps[s].splice_bits |= (uint64_t)1
				    << r->nsplice;
		r->nsplice++;
	}
	if (r->n > 0 &&
	    (r->splice_counts = calloc(r->n, sizeof(*r->splice_counts))) ==
	        NULL)
		return -1;
	r->splice_ok = 1;
	return 0;
}

/*
 * The end of the string literal opening at s[p] (one past its closing
 * quote), or 0 when it does not close. *esc is set when it holds an
 * escape; w->nul when one is a \u0000.
 */
static size_t
string_end(struct splice *w, size_t p, int *esc)
{
	const char *s = w->text;
	size_t len = w->len;

	*esc = 0;
	for (p++;; p += 2) {
		p = json_string_run(s, len, p);
		if (p >= len)
			return 0;
		if (s[p] == '"')
			return p + 1;
		*esc = 1;
		if (len - p > 5 && s[p + 1] == 'u' &&
		    memcmp(s + p + 2, "0000", 4) == 0)
			w->nul = 1;
	}
}

/* 1 if the member name s[a..b) (a literal, quotes in) is seg. */
static int
name_is(const char *s, size_t a, size_t b, int esc, const char *seg)
{
	struct json_member m;
	size_t n = b - a - 2;

	if (!esc)
		return (n == 0 || seg[0] == s[a + 1]) && strlen(seg) == n &&
		    memcmp(s + a + 1, seg, n) == 0;
	memset(&m, 0, sizeof(m));
	m.name.text = s + a;
	m.name.len = b - a;
	m.name.type = JSON_STRING;
	return json_name_is(&m, seg);
}

/*
 * The rules of the child of the container at depth pd: its name
 * s[a..b) in an object, its index in an array (a is 0 then).
 */
static uint64_t
child_rules(
    const struct splice *w, size_t pd, int array, size_t a, size_t b, int esc)
{
	const struct redact *r = w->r;
	const struct level *lv = &w->lv[pd < LEVELS ? pd : LEVELS - 1];
	uint64_t keep = lv->rules & done_by(r, pd);
	uint64_t need = lv->rules & ~keep;

	/* A rule in need has a segment pd: pd < REDACT_PATH_MAX. */
	for (; need != 0; need &= need - 1) {
		unsigned k = (unsigned)__builtin_ctzll(need);
		const struct redact_rule *rule = &r->rules[r->splice_rule[k]];
		long idx = rule->segidx[pd];

		if (idx == SEG_ANY ||
		    (array ? idx == lv->idx
		           : name_is(w->text, a, b, esc, rule->seg[pd])))
			keep |= (uint64_t)1 << k;
	}
	return keep;
}

/* Append s[0..len) to out as the JSON string literal cJSON would write. */
static void
put_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;

	buf_addch(out, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = {'\\', 0, '0', '0', 0, 0};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		buf_add(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			esc[1] = 'u';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			n = 6;
		}
		buf_add(out, esc, n);
	}
	buf_add(out, s + run, len - run);
	buf_addch(out, '"');
}

/*
 * The steps of the rules in order on the string cur[0..curlen), whose
 * field: rules reaching it are fields (their paths lie above it) and
 * values ("value" rules naming it). On REDACT_CHANGED, *res and *reslen
 * are the result, in r->splice_str.
 */
static enum redact_verdict
string_steps(struct splice *w, uint64_t fields, uint64_t values,
    const char *cur, size_t curlen, const char **res, size_t *reslen)
{
	struct redact *r = w->r;
	int which = 0, changed = 0;
	size_t s;

	for (s = 0; s < r->nsteps; s++) {
		const struct redact_step *st = &r->steps[s];
		struct apply_scope scope = {SCOPE_STEP, NULL, 0};
		const char *out;
		size_t outlen;
		uint64_t bits;
		enum redact_verdict v;

		if (st->value) {
			if (!(values & st->splice_bits))
				continue;
			scope.kind = SCOPE_FIELD;
		} else {
			for (bits = fields & st->splice_bits; bits != 0;
			     bits &= bits - 1)
				scope.fields |=
				    r->rules[r->splice_rule[__builtin_ctzll(
				                 bits)]]
				        .step_bit;
			if (!st->has_all && scope.fields == 0)
				continue;
		}
		v = redact_apply_string(r, st->from, st->to, &scope, cur,
		    curlen, r->splice_counts, &w->changes, &out, &outlen);
		if (v == REDACT_KEEP)
			continue;
		if (v != REDACT_CHANGED)
			return v;
		/* The next step's apply overwrites r->tmp: keep it here. */
		buf_reset(&r->splice_str[which]);
		if (buf_add(&r->splice_str[which], out, outlen) == -1)
			return REDACT_ERROR;
		cur = r->splice_str[which].data;
		curlen = outlen;
		which ^= 1;
		changed = 1;
	}
	if (!changed)
		return REDACT_KEEP;
	*res = cur;
	*reslen = curlen;
	return REDACT_CHANGED;
}

/*
 * The string value whose literal is text[a..b), at depth d, reached by
 * the field: rules in rules. Returns a redact_splice result.
 */
static enum redact_splice_result
splice_string(
    struct splice *w, size_t a, size_t b, int esc, uint64_t rules, size_t d)
{
	struct redact *r = w->r;
	uint64_t fields = rules & done_by(r, d) & ~r->splice_value;
	uint64_t values = d < LEVELS ? rules & r->splice_eq[d] : 0;
	struct json_value v = {w->text + a, b - a, JSON_STRING};
	const char *s = w->text + a + 1, *res = NULL;
	size_t len = b - a - 2, reslen = 0;
	unsigned want;
	enum redact_verdict verdict;

	if (!r->splice_all && fields == 0 && values == 0)
		return REDACT_SPLICE_KEEP;
	if (esc) {
		/* Decoded as cJSON decodes it: up to a \u0000. */
		if (buf_reserve(&r->splice_dec, len + 1) == -1)
			return REDACT_SPLICE_ERROR;
		if (json_string_get(&v, r->splice_dec.data, len + 1, &len) ==
		    -1)
			return REDACT_SPLICE_TREE;
		s = r->splice_dec.data;
	}
	/* Most strings match nothing: when only detectors reach this one,
	 * one pass over it says so. */
	if (r->all_plain && values == 0 && (fields & ~r->splice_det) == 0) {
		want = r->all_want;
		for (; fields != 0; fields &= fields - 1)
			want |= 1u
			    << r->rules[r->splice_rule[__builtin_ctzll(fields)]]
			           .det;
		if (detect_maybe(s, len, want) == 0)
			return REDACT_SPLICE_KEEP;
		fields = rules & done_by(r, d) & ~r->splice_value;
	}
	verdict = string_steps(w, fields, values, s, len, &res, &reslen);
	switch (verdict) {
	case REDACT_KEEP:
		return REDACT_SPLICE_KEEP;
	case REDACT_DROP:
		return REDACT_SPLICE_TREE;
	case REDACT_ERROR:
		return REDACT_SPLICE_ERROR;
	case REDACT_CHANGED:
		break;
	}
	/*
	 * Expressions run in PCRE2's UTF mode, so a match ends on a
	 * character; should a result still not be valid UTF-8, it would not
	 * be strict JSON spliced, and only the tree's record is that.
	 */
	if (!json_utf8_valid(res, reslen))
		return REDACT_SPLICE_TREE;
	if (!w->changed) {
		buf_reset(w->out);
		w->changed = 1;
	}
	buf_add(w->out, w->text + w->last, a - w->last);
	put_string(w->out, res, reslen);
	w->last = b;
	return buf_failed(w->out) ? REDACT_SPLICE_ERROR : REDACT_SPLICE_KEEP;
}

/*
 * The end of the number or literal at text[p] (its bytes are those of
 * a number, or letters); notes a number cJSON reads as an infinity.
 */
static size_t
scalar_end(struct splice *w, size_t p)
{
	const char *s = w->text;
	size_t a = p;
	int exp = 0;
	char num[NUMBER_MAX + 1];

	if (s[p] == 't' || s[p] == 'f' || s[p] == 'n') {
		while (p < w->len && s[p] >= 'a' && s[p] <= 'z')
			p++;
		return p;
	}
	while (p < w->len &&
	    ((s[p] >= '0' && s[p] <= '9') || s[p] == '-' || s[p] == '+' ||
	        s[p] == '.' || s[p] == 'e' || s[p] == 'E')) {
		exp |= s[p] == 'e' || s[p] == 'E';
		p++;
	}
	/* 309 digits or more before the point can be past DBL_MAX. */
	if (exp || p - a > 300) {
		if (p - a > NUMBER_MAX) {
			w->infinite = 1;
		} else {
			memcpy(num, s + a, p - a);
			num[p - a] = '\0';
			if (isinf(strtod(num, NULL)))
				w->infinite = 1;
		}
	}
	return p;
}

static int
is_array(const struct splice *w, size_t d)
{
	return (w->arr[d / 64] >> (d % 64)) & 1;
}

/*
 * The walk. At "value" a value starts at p, at depth d, reached by the
 * rules in rules; at "after" one ended at p, at depth d. Any text that is
 * not what json_check accepts ends it with REDACT_SPLICE_TREE.
 */
static enum redact_splice_result
walk(struct splice *w)
{
	const struct redact *r = w->r;
	const char *s = w->text;
	size_t len = w->len, p = 0, d = 0, a = 0, b = 0, pd;
	/* Every path matches the record's own (empty) one. */
	uint64_t rules = r->nsplice == STEP_FIELDS
	    ? ~(uint64_t)0
	    : ((uint64_t)1 << r->nsplice) - 1;
	enum redact_splice_result rc;
	int esc = 0;

value:
	p = json_skip_ws(s, len, p);
	if (p >= len)
		return REDACT_SPLICE_TREE;
	/* A "value" rule naming anything but a string: the tree's. */
	if (s[p] != '"' && d < LEVELS && (rules & r->splice_eq[d]) != 0)
		return REDACT_SPLICE_TREE;
	switch (s[p]) {
	case '{':
	case '[':
		if (d + 1 >= REDACT_MAX_DEPTH)
			return REDACT_SPLICE_TREE;
		if (d < LEVELS) {
			w->lv[d].rules = rules;
			w->lv[d].idx = 0;
		}
		if (s[p] == '[')
			w->arr[d / 64] |= (uint64_t)1 << (d % 64);
		else
			w->arr[d / 64] &= ~((uint64_t)1 << (d % 64));
		p = json_skip_ws(s, len, p + 1);
		if (p < len && (s[p] == '}' || s[p] == ']')) {
			if ((s[p] == ']') != is_array(w, d))
				return REDACT_SPLICE_TREE;
			p++;
			goto after;
		}
		pd = d++;
		goto element;
	case '"':
		if ((b = string_end(w, p, &esc)) == 0)
			return REDACT_SPLICE_TREE;
		rc = splice_string(w, p, b, esc, rules, d);
		if (rc != REDACT_SPLICE_KEEP)
			return rc;
		p = b;
		goto after;
	default:
		b = scalar_end(w, p);
		if (b == p)
			return REDACT_SPLICE_TREE;
		p = b;
		goto after;
	}

element:
	/* The next child of the container at depth pd starts at p. */
	if (is_array(w, pd)) {
		rules = child_rules(w, pd, 1, 0, 0, 0);
		goto value;
	}
	p = json_skip_ws(s, len, p);
	if (p >= len || s[p] != '"' || (b = string_end(w, p, &esc)) == 0)
		return REDACT_SPLICE_TREE;
	a = p;
	p = json_skip_ws(s, len, b);
	if (p >= len || s[p] != ':')
		return REDACT_SPLICE_TREE;
	p++;
	rules = child_rules(w, pd, 0, a, b, esc);
	goto value;

after:
	if (d == 0) {
		if (json_skip_ws(s, len, p) != len)
			return REDACT_SPLICE_TREE;
		return REDACT_SPLICE_KEEP;
	}
	pd = d - 1;
	p = json_skip_ws(s, len, p);
	if (p >= len)
		return REDACT_SPLICE_TREE;
	if (s[p] == ',') {
		p++;
		if (pd < LEVELS && is_array(w, pd))
			w->lv[pd].idx++;
		goto element;
	}
	if ((s[p] == ']' && is_array(w, pd)) ||
	    (s[p] == '}' && !is_array(w, pd))) {
		p++;
		d = pd;
		goto after;
	}
	return REDACT_SPLICE_TREE;
}

enum redact_splice_result
redact_splice(struct redact *r, const char *text, size_t len, uint64_t *counts,
    struct buf *out)
{
	struct splice w;
	enum redact_splice_result rc;
	size_t i;

	if (!r->has_tree)
		return REDACT_SPLICE_KEEP;
	if (!r->splice_ok)
		return REDACT_SPLICE_TREE;
	memset(&w, 0, offsetof(struct splice, lv));
	w.r = r;
	w.text = text;
	w.len = len;
	w.out = out;
	rc = walk(&w);
	if (rc == REDACT_SPLICE_KEEP && w.changed) {
		/*
		 * The tree's record would drop what follows a \u0000 in the
		 * strings it prints and an infinity would print as null:
		 * only the tree gives that record.
		 */
		if (w.nul || w.infinite)
			rc = REDACT_SPLICE_TREE;
		else if (buf_add(out, text + w.last, len - w.last) == -1)
			rc = REDACT_SPLICE_ERROR;
		else
			rc = REDACT_SPLICE_CHANGED;
	}
	if (w.changes == 0)
		return rc;
	for (i = 0; i < r->n; i++) {
		if (counts != NULL &&
		    (rc == REDACT_SPLICE_KEEP || rc == REDACT_SPLICE_CHANGED))
			counts[i] += r->splice_counts[i];
		r->splice_counts[i] = 0;
	}
	return rc;
}
