/* redact_int.h: the compiled rules as the files of redact/ share them; not
 * for use outside redact/. */
#ifndef TS_REDACT_INT_H
#define TS_REDACT_INT_H

#include <openssl/evp.h>

#include "common/buf.h"
#include "redact/detect.h" /* pcre2.h, 8-bit */
#include "redact/redact.h"

enum redact_where {
	WHERE_ALL,   /* "*" */
	WHERE_FIELD, /* "field:PATH" */
	WHERE_ATTR,  /* "attr:KEY" */
};

enum redact_what {
	WHAT_VALUE,
	WHAT_DETECTOR, /* rule->det says which */
	WHAT_REGEX,
};

enum redact_action {
	ACT_MASK,
	ACT_HASH,
	ACT_DROP,
};

/* A field: path segment that is "*". */
#define SEG_ANY ((long)-2)
/* A segment that names members only (not decimal, or too long an index). */
#define SEG_NAME ((long)-1)

struct redact_rule {
	char name[REDACT_NAME_MAX + 1];
	unsigned long line;
	enum redact_where where;
	char *target; /* the path or key as written; NULL for "*" */
	char **seg;   /* field: its nseg segments, in segbuf */
	long *segidx; /* per segment: SEG_ANY, SEG_NAME or an index */
	size_t nseg;
	char *segbuf;
	enum redact_what what;
	enum detect_kind det; /* WHAT_DETECTOR */
	char *re_src;         /* WHAT_REGEX: between the slashes */
	char re_flags[4];     /* WHAT_REGEX: "", "i", "im", ... as written */
	pcre2_code *re;       /* WHAT_REGEX: owned */
	int re_jit;           /* re runs on the JIT */
	enum redact_action action;
	char *mask; /* "[REDACTED:<name>]" */
	size_t masklen;
	uint64_t step_bit; /* a field: rule in a walk step: its bit there */
};

/* At most this many field: rules share one walk (a bit each). */
#define STEP_FIELDS 64

/*
 * What redact_tree does in one walk of the tree: rules from..to, either a
 * run of "*" rules and field: rules with a detector or expression (each
 * acts on one string alone, so one walk applying them in file order to
 * each string it reaches does what a walk per rule would), or one
 * field: "value" rule (which may replace a whole object), walked along its
 * path. attr: rules in between are skipped.
 */
struct redact_step {
	size_t from, to;
	int value;          /* a field: "value" rule alone */
	int has_all;        /* a "*" rule: every string is visited */
	unsigned all_want;  /* the detectors of its "*" rules */
	int all_plain;      /* its "*" rules are all detectors */
	uint64_t field_det; /* the bits of its field: detector rules */
	size_t nfield;      /* its field: rules (rule indexes), a bit each */
	size_t field[STEP_FIELDS];
	uint64_t splice_bits; /* its field: rules in redact_splice's bits */
};

struct redact {
	char *file; /* the name errors and redact_print use */
	struct redact_rule *rules;
	size_t n;
	int has_tree; /* some "*" or field: rule */
	int has_attr; /* some "*" or attr: rule */
	/*
	 * The detectors the "*" rules use (all_want) and those of the "*"
	 * and attr: rules (attr_want); *_plain when those rules are all
	 * detectors, so that a string detect_maybe clears is left alone
	 * without looking at any rule.
	 */
	unsigned all_want, attr_want;
	int all_plain, attr_plain;
	struct redact_step *steps; /* what redact_tree walks */
	size_t nsteps;
	/* Scratch, used by one thread at a time (see redact.h). */
	struct detect *det; /* detectors used and PCRE2's match state */
	EVP_MAC *mac;
	EVP_MAC_CTX *hmac; /* keyed once, re-initialised per value; NULL
	                      without a key */
	struct buf tmp[2]; /* a string between two rules */
	struct buf val;    /* redact_apply_value's result */
	struct buf attr;   /* a changed OTLP JSON non-string attribute */
	/*
	 * redact_splice's plan (splice.c): each field: rule has a bit, in
	 * file order (splice_rule maps it back), so that one mask per level
	 * of a walk says which paths match there; with more than 64 such
	 * rules, splice_ok is 0 and every record takes the tree.
	 */
	int splice_ok;
	int splice_all; /* some "*" rule */
	size_t nsplice;
	size_t splice_rule[STEP_FIELDS];
	/* Per depth d: the rules whose paths have at most d segments, and
	 * the "value" rules with exactly d (they name values at depth d). */
	uint64_t splice_le[REDACT_PATH_MAX + 1], splice_eq[REDACT_PATH_MAX + 1];
	uint64_t splice_value; /* the "value" rules */
	uint64_t splice_det;   /* the detector rules */
	/* Scratch: a record's counts until it is known to splice, a string
	 * between two steps, a string decoded. */
	uint64_t *splice_counts;
	struct buf splice_str[2];
	struct buf splice_dec;
};

/* The string rules apply to (redact.c's apply functions, used by walk.c). */
/* Which of a range of rules apply to one string. */
enum scope_kind {
	SCOPE_ALL,   /* "*" rules */
	SCOPE_ATTR,  /* "*" rules and attr: rules whose KEY matches key */
	SCOPE_FIELD, /* every rule of the range (one field: rule) */
	SCOPE_STEP,  /* "*" rules and the field: rules whose step_bit is in
	                fields */
};

struct apply_scope {
	enum scope_kind kind;
	const char *key;
	uint64_t fields;
};

/*
 * Apply the rules from..to that scope selects to s[0..len): on
 * REDACT_CHANGED, res and reslen give the new string (NUL-terminated, in
 * r's scratch: valid until the next apply call). counts and changes grow
 * with the matches.
 */
enum redact_verdict redact_apply_string(struct redact *r, size_t from,
    size_t to, const struct apply_scope *scope, const char *s, size_t len,
    uint64_t *counts, uint64_t *changes, const char **res, size_t *reslen);

/*
 * Rule i's "value" action on a non-string value whose canonical text is
 * text: REDACT_DROP, or REDACT_CHANGED with the mask or the hash in res
 * and reslen (r's scratch, as above), or REDACT_ERROR.
 */
enum redact_verdict redact_apply_value(struct redact *r, size_t i,
    const char *text, size_t textlen, const char **res, size_t *reslen);

/*
 * 1 if rule i finds a match in s[0..len) ("value" always does; a string
 * PCRE2 gave up on counts as found), 0 if not.
 */
int redact_rule_finds(struct redact *r, size_t i, const char *s, size_t len);

/*
 * Number the field: rules for redact_splice, after the steps are made.
 * 0, or -1 when memory ran out.
 */
int redact_splice_plan(struct redact *r);

/* 1 if the attr: glob pat matches key. */
int redact_glob(const char *pat, const char *key);

#endif
