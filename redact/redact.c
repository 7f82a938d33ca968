/* redact.c: the rules file: parsing, compiling, printing, and the check that
 * no rule breaks the fields every record needs. */
#include "redact/redact_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

/* A rules file larger than this is refused before it is parsed. */
#define REDACT_FILE_MAX (1024 * 1024)
/* User text echoed in an error is cut after this many bytes. */
#define ECHO_MAX 64

/* Everything one load needs to report. */
struct load {
	struct redact *r;
	const char *name;
	redact_report_fn *report;
	void *arg;
	int errors;
	int have_key;
};

static void __attribute__((format(printf, 3, 4)))
lerr(struct load *l, unsigned long line, const char *fmt, ...)
{
	char what[1024], msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(msg, sizeof(msg), "%s:%lu: %s", l->name, line, what);
	else
		snprintf(msg, sizeof(msg), "%s: %s", l->name, what);
	if (l->report != NULL)
		l->report(msg, l->arg);
	l->errors++;
}

/* Copy s into out for an error message: cut, and only printable ASCII. */
static const char *
echo(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 4 < outlen && i < ECHO_MAX; i++)
		out[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	if (s[i] != '\0' && i + 4 <= outlen) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* [A-Za-z0-9_.-]{1,64}: a Prometheus label value needing no escape. */
static int
valid_name(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		        (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		        c == '-'))
			return 0;
	}
	return i >= 1 && i <= REDACT_NAME_MAX;
}

/* "123" as an array index, or SEG_NAME for any other name. */
static long
seg_index(const char *s)
{
	long v = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 9)
			return SEG_NAME;
		v = v * 10 + (s[i] - '0');
	}
	if (i == 0 || (i > 1 && s[0] == '0'))
		return SEG_NAME;
	return v;
}

/*
 * Split a field path into segments. Returns 0, or -1 with why set
 * (a static string) for an empty segment, a partial '*' or too many.
 */
static int
split_path(struct redact_rule *rule, const char *path, const char **why)
{
	size_t n = 1, i;
	char *p;

	for (i = 0; path[i] != '\0'; i++)
		n += path[i] == '.';
	if (n > REDACT_PATH_MAX) {
		*why = "more than 32 path segments";
		return -1;
	}
	rule->segbuf = strdup(path);
	rule->seg = calloc(n, sizeof(*rule->seg));
	rule->segidx = calloc(n, sizeof(*rule->segidx));
	if (rule->segbuf == NULL || rule->seg == NULL || rule->segidx == NULL) {
		*why = "out of memory";
		return -1;
	}
	rule->nseg = n;
	p = rule->segbuf;
	for (i = 0; i < n; i++) {
		char *dot = strchr(p, '.');

		if (dot != NULL)
			*dot = '\0';
		if (*p == '\0') {
			*why = "empty path segment";
			return -1;
		}
		if (strchr(p, '*') != NULL && strcmp(p, "*") != 0) {
			*why = "'*' must be a whole path segment";
			return -1;
		}
		rule->seg[i] = p;
		rule->segidx[i] = strcmp(p, "*") == 0 ? SEG_ANY : seg_index(p);
		p = dot != NULL ? dot + 1 : p + strlen(p);
	}
	return 0;
}

static void
parse_where(
    struct load *l, unsigned long line, struct redact_rule *rule, const char *f)
{
	char shown[ECHO_MAX + 8];
	const char *why = NULL;

	if (strcmp(f, "*") == 0) {
		rule->where = WHERE_ALL;
		return;
	}
	if (strncmp(f, "field:", 6) == 0) {
		rule->where = WHERE_FIELD;
		if (f[6] == '\0')
			why = "empty path";
		else if ((rule->target = strdup(f + 6)) == NULL)
			why = "out of memory";
		else
			split_path(rule, f + 6, &why);
	} else if (strncmp(f, "attr:", 5) == 0) {
		rule->where = WHERE_ATTR;
		if (f[5] == '\0')
			why = "empty attribute key";
		else if ((rule->target = strdup(f + 5)) == NULL)
			why = "out of memory";
	} else {
		lerr(l, line,
		    "rule %s: unknown where '%s' (expected *, field:PATH or "
		    "attr:KEY)",
		    rule->name, echo(shown, sizeof(shown), f));
		return;
	}
	if (why != NULL)
		lerr(l, line, "rule %s: %s: %s", rule->name,
		    echo(shown, sizeof(shown), f), why);
}

static void
parse_regex(
    struct load *l, unsigned long line, struct redact_rule *rule, const char *f)
{
	char shown[ECHO_MAX + 8], err[256];
	const char *last = strrchr(f, '/'), *fl;
	uint32_t flags = 0;
	size_t nflags = 0;

	if (last == f) {
		lerr(l, line, "rule %s: expression %s has no closing '/'",
		    rule->name, echo(shown, sizeof(shown), f));
		return;
	}
	if (last == f + 1) {
		lerr(l, line, "rule %s: empty expression", rule->name);
		return;
	}
	for (fl = last + 1; *fl != '\0'; fl++) {
		uint32_t bit = *fl == 'i' ? PCRE2_CASELESS
		    : *fl == 'm'          ? PCRE2_MULTILINE
		    : *fl == 's'          ? PCRE2_DOTALL
		                          : 0;

		if (bit == 0 || (flags & bit)) {
			lerr(l, line,
			    "rule %s: expression %s: %s flag '%c' (i, m and s "
			    "are known, once each)",
			    rule->name, echo(shown, sizeof(shown), f),
			    bit == 0 ? "unknown" : "repeated",
			    isprint((unsigned char)*fl) ? *fl : '?');
			return;
		}
		flags |= bit;
		rule->re_flags[nflags++] = *fl;
	}
	rule->what = WHAT_REGEX;
	rule->re_src = strndup(f + 1, (size_t)(last - f - 1));
	if (rule->re_src == NULL) {
		lerr(l, line, "out of memory");
		return;
	}
	if (detect_compile(l->r->det, rule->re_src, strlen(rule->re_src), flags,
	        &rule->re, &rule->re_jit, err, sizeof(err)) == -1)
		lerr(l, line, "rule %s: expression %s: %s", rule->name,
		    echo(shown, sizeof(shown), f), err);
}

static void
parse_what(
    struct load *l, unsigned long line, struct redact_rule *rule, const char *f)
{
	char shown[ECHO_MAX + 8], err[256];

	if (f[0] == '/') {
		parse_regex(l, line, rule, f);
		return;
	}
	if (strcmp(f, "value") == 0) {
		rule->what = WHAT_VALUE;
		return;
	}
	if (detect_lookup(f, &rule->det) == -1) {
		lerr(l, line,
		    "rule %s: unknown detector '%s' (expected value, email, "
		    "card, bearer, apikey or /REGEX/)",
		    rule->name, echo(shown, sizeof(shown), f));
		return;
	}
	rule->what = WHAT_DETECTOR;
	if (detect_enable(l->r->det, rule->det, err, sizeof(err)) == -1)
		lerr(l, line, "rule %s: detector %s: %s", rule->name, f, err);
}

static void
parse_action(
    struct load *l, unsigned long line, struct redact_rule *rule, const char *f)
{
	char shown[ECHO_MAX + 8];

	if (strcmp(f, "mask") == 0) {
		rule->action = ACT_MASK;
	} else if (strcmp(f, "hash") == 0) {
		rule->action = ACT_HASH;
		if (!l->have_key)
			lerr(l, line,
			    "rule %s: hash needs a secret "
			    "(redact_hash_key_file)",
			    rule->name);
	} else if (strcmp(f, "drop") == 0) {
		rule->action = ACT_DROP;
	} else {
		lerr(l, line,
		    "rule %s: unknown action '%s' (expected mask, hash or "
		    "drop)",
		    rule->name, echo(shown, sizeof(shown), f));
	}
}

static void
rule_clear(struct redact_rule *rule)
{
	free(rule->target);
	free(rule->seg);
	free(rule->segidx);
	free(rule->segbuf);
	free(rule->re_src);
	pcre2_code_free(rule->re);
	free(rule->mask);
	memset(rule, 0, sizeof(*rule));
}

/*
 * Cut line (NUL-terminated, changed in place) into white-space separated
 * fields, up to a '#' that starts the line or follows white space: a '#'
 * inside a field (an expression's "[#]") is the field's. Returns the
 * number of fields; only the first 4 are stored.
 */
static int
split_fields(char *line, char *field[4])
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (*p != '\0' && isspace((unsigned char)*p))
			p++;
		if (*p == '\0' || *p == '#')
			return n;
		if (n < 4)
			field[n] = p;
		n++;
		while (*p != '\0' && !isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return n;
		*p++ = '\0';
	}
}

static void
parse_line(struct load *l, unsigned long line, char *text)
{
	struct redact *r = l->r;
	struct redact_rule *rule;
	char *field[4], shown[ECHO_MAX + 8];
	int nf, before = l->errors;
	size_t i;

	nf = split_fields(text, field);
	if (nf == 0)
		return;
	if (nf != 4) {
		lerr(l, line,
		    "expected 4 fields (name where what action), found %d", nf);
		return;
	}
	if (r->n == REDACT_MAX_RULES) {
		lerr(l, line, "more than %d rules", REDACT_MAX_RULES);
		return;
	}
	rule = &r->rules[r->n];
	memset(rule, 0, sizeof(*rule));
	rule->line = line;
	if (!valid_name(field[0])) {
		lerr(l, line,
		    "bad rule name '%s' (1 to %d of A-Z a-z 0-9 _ . -)",
		    echo(shown, sizeof(shown), field[0]), REDACT_NAME_MAX);
		snprintf(rule->name, sizeof(rule->name), "?");
	} else {
		snprintf(rule->name, sizeof(rule->name), "%s", field[0]);
		for (i = 0; i < r->n; i++)
			if (strcmp(r->rules[i].name, rule->name) == 0) {
				lerr(l, line,
				    "duplicate rule name '%s' (first on line "
				    "%lu)",
				    rule->name, r->rules[i].line);
				break;
			}
	}
	parse_where(l, line, rule, field[1]);
	parse_what(l, line, rule, field[2]);
	parse_action(l, line, rule, field[3]);
	if (l->errors == before) {
		size_t len = strlen(rule->name) + sizeof("[REDACTED:]") - 1;

		if ((rule->mask = malloc(len + 1)) == NULL) {
			lerr(l, line, "out of memory");
		} else {
			snprintf(
			    rule->mask, len + 1, "[REDACTED:%s]", rule->name);
			rule->masklen = len;
		}
	}
	/* A bad rule is kept too, so that a later duplicate of its name is
	 * still reported; the load fails anyway. */
	r->n++;
}

static int
setup_hmac(struct redact *r, const void *key, size_t keylen)
{
	OSSL_PARAM params[2];
	char digest[] = "SHA256";

	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	r->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (r->mac == NULL || (r->hmac = EVP_MAC_CTX_new(r->mac)) == NULL)
		return -1;
	return EVP_MAC_init(r->hmac, key, keylen, params) == 1 ? 0 : -1;
}

/* 1 if a path segment of rule may be an array index. */
static int
has_index(const struct redact_rule *rule)
{
	size_t k;

	for (k = 0; k < rule->nseg; k++)
		if (rule->segidx[k] >= 0)
			return 1;
	return 0;
}

/*
 * Cut the rules into redact_tree's walks (struct redact_step). A new walk
 * starts at a field: "value" rule (alone in its own), after 64 field:
 * rules, and at a field: rule with an array index when a rule of the walk
 * so far drops: a drop renumbers the elements after it, and the index
 * must count them as the rules before left them.
 */
static int
make_steps(struct redact *r)
{
	struct redact_step *st = NULL;
	size_t i;
	int drops = 0;

	if (r->n == 0)
		return 0;
	if ((r->steps = calloc(r->n, sizeof(*r->steps))) == NULL)
		return -1;
	for (i = 0; i < r->n; i++) {
		struct redact_rule *rule = &r->rules[i];

		if (rule->where == WHERE_ATTR)
			continue;
		if (rule->where == WHERE_FIELD && rule->what == WHAT_VALUE) {
			st = &r->steps[r->nsteps++];
			st->from = i;
			st->to = i + 1;
			st->value = 1;
			st = NULL;
			continue;
		}
		if (st == NULL ||
		    (rule->where == WHERE_FIELD &&
		        (st->nfield == STEP_FIELDS ||
		            (drops && has_index(rule))))) {
			st = &r->steps[r->nsteps++];
			st->from = i;
			st->all_plain = 1;
			drops = 0;
		}
		st->to = i + 1;
		if (rule->where == WHERE_ALL) {
			st->has_all = 1;
			if (rule->what == WHAT_DETECTOR)
				st->all_want |= 1u << rule->det;
			else
				st->all_plain = 0;
		} else {
			rule->step_bit = (uint64_t)1 << st->nfield;
			if (rule->what == WHAT_DETECTOR)
				st->field_det |= rule->step_bit;
			st->field[st->nfield++] = i;
		}
		drops |= rule->action == ACT_DROP;
	}
	return 0;
}

void
redact_free(struct redact *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++)
		rule_clear(&r->rules[i]);
	free(r->rules);
	free(r->steps);
	free(r->file);
	detect_free(r->det);
	EVP_MAC_CTX_free(r->hmac);
	EVP_MAC_free(r->mac);
	buf_free(&r->tmp[0]);
	buf_free(&r->tmp[1]);
	buf_free(&r->val);
	buf_free(&r->attr);
	free(r->splice_counts);
	buf_free(&r->splice_str[0]);
	buf_free(&r->splice_str[1]);
	buf_free(&r->splice_dec);
	free(r);
}

int
redact_load_string(struct redact **out, const char *name, const char *text,
    size_t len, const void *hash_key, size_t keylen, redact_report_fn *report,
    void *arg)
{
	struct load l = {.name = name, .report = report, .arg = arg};
	struct redact *r;
	struct redact_rule *rules;
	char *line = NULL;
	size_t pos = 0, i;
	unsigned long lineno = 0;

	*out = NULL;
	l.have_key = hash_key != NULL && keylen > 0;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->rules = calloc(REDACT_MAX_RULES, sizeof(*r->rules))) == NULL ||
	    (r->file = strdup(name)) == NULL ||
	    (r->det = detect_new()) == NULL ||
	    (line = malloc(REDACT_LINE_MAX + 1)) == NULL)
		goto nomem;
	l.r = r;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		lineno++;
		if (memchr(text + pos, '\0', n) != NULL) {
			lerr(&l, lineno, "contains a NUL byte");
		} else if (n > REDACT_LINE_MAX) {
			lerr(&l, lineno, "longer than %d bytes",
			    REDACT_LINE_MAX);
		} else {
			memcpy(line, text + pos, n);
			line[n] = '\0';
			parse_line(&l, lineno, line);
		}
		pos = end + 1;
	}
	free(line);
	line = NULL;
	if (l.errors > 0) {
		redact_free(r);
		return l.errors;
	}
	r->all_plain = r->attr_plain = 1;
	for (i = 0; i < r->n; i++) {
		const struct redact_rule *rule = &r->rules[i];
		unsigned bit =
		    rule->what == WHAT_DETECTOR ? 1u << rule->det : 0;

		r->has_tree |= rule->where != WHERE_ATTR;
		r->has_attr |= rule->where != WHERE_FIELD;
		if (rule->where == WHERE_ALL) {
			r->all_want |= bit;
			r->all_plain &= bit != 0;
		}
		if (rule->where != WHERE_FIELD) {
			r->attr_want |= bit;
			r->attr_plain &= bit != 0;
		}
		if (r->rules[i].action == ACT_HASH && r->hmac == NULL &&
		    setup_hmac(r, hash_key, keylen) == -1)
			goto nomem;
	}
	if (make_steps(r) == -1 || redact_splice_plan(r) == -1)
		goto nomem;
	/* Give back the slots of the rules the file did not have. */
	if (r->n > 0 &&
	    (rules = realloc(r->rules, r->n * sizeof(*rules))) != NULL)
		r->rules = rules;
	*out = r;
	return 0;
nomem:
	l.errors = 0;
	lerr(&l, 0, "out of memory");
	free(line);
	redact_free(r);
	return -1;
}

int
redact_load(struct redact **out, const char *path, const void *hash_key,
    size_t keylen, redact_report_fn *report, void *arg)
{
	struct load l = {.name = path, .report = report, .arg = arg};
	char *text = NULL, ebuf[128];
	size_t len = 0, n;
	FILE *fp;
	int rc;

	*out = NULL;
	if ((fp = fopen(path, "re")) == NULL) {
		lerr(&l, 0, "%s", strerror_r(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if ((text = malloc(REDACT_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		lerr(&l, 0, "out of memory");
		return -1;
	}
	while ((n = fread(text + len, 1, REDACT_FILE_MAX + 1 - len, fp)) > 0)
		len += n;
	if (ferror(fp)) {
		lerr(&l, 0, "%s", strerror_r(errno, ebuf, sizeof(ebuf)));
		rc = -1;
	} else if (len > REDACT_FILE_MAX) {
		lerr(&l, 0, "larger than %d bytes", REDACT_FILE_MAX);
		rc = -1;
	} else {
		rc = redact_load_string(
		    out, path, text, len, hash_key, keylen, report, arg);
	}
	fclose(fp);
	free(text);
	return rc;
}

size_t
redact_rules(const struct redact *r)
{
	return r->n;
}

const char *
redact_rule_name(const struct redact *r, size_t i)
{
	return r->rules[i].name;
}

int
redact_jit(const struct redact *r)
{
	return detect_jit(r->det);
}

static const char *const action_names[] = {
    [ACT_MASK] = "mask", [ACT_HASH] = "hash", [ACT_DROP] = "drop"};

void
redact_print(const struct redact *r, FILE *fp)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		const struct redact_rule *rule = &r->rules[i];

		fprintf(fp, "%s %s%s ", rule->name,
		    rule->where == WHERE_ALL         ? "*"
		        : rule->where == WHERE_FIELD ? "field:"
		                                     : "attr:",
		    rule->target != NULL ? rule->target : "");
		if (rule->what == WHAT_VALUE)
			fputs("value", fp);
		else if (rule->what == WHAT_DETECTOR)
			fputs(detect_name(rule->det), fp);
		else
			fprintf(fp, "/%s/%s", rule->re_src, rule->re_flags);
		fprintf(fp, " %s\n", action_names[rule->action]);
	}
}

/* One entry of redact_check_required's list. */
struct required {
	enum { REQ_ANY, REQ_OBJECT, REQ_STRING, REQ_ENUM } type;
	int optional;   /* "?PATH": may be dropped, must keep its type */
	char text[512]; /* the path, NUL-separated segments, then values */
	const char *seg[REDACT_PATH_MAX];
	size_t nseg;
	const char *values; /* REQ_ENUM: "a|b|c" */
	const char *path;   /* for messages: the path as given */
};

static int
parse_required(const char *entry, struct required *q, char *err, size_t errlen)
{
	char *p, *type = NULL, *dot;
	size_t len = strlen(entry);

	memset(q, 0, sizeof(*q));
	if (entry[0] == '?') {
		q->optional = 1;
		entry++;
		len--;
	}
	if (len == 0 || len >= sizeof(q->text) / 2) {
		snprintf(err, errlen, "required field '%s': bad length", entry);
		return -1;
	}
	/* text: the entry, then a copy of its path for messages */
	memcpy(q->text, entry, len + 1);
	if ((p = strchr(q->text, '=')) != NULL) {
		*p = '\0';
		q->type = REQ_ENUM;
		q->values = p + 1;
	} else if ((p = strchr(q->text, ':')) != NULL) {
		*p = '\0';
		type = p + 1;
		if (strcmp(type, "object") == 0 || strcmp(type, "array") == 0)
			q->type = REQ_OBJECT;
		else if (strcmp(type, "string") == 0)
			q->type = REQ_STRING;
		else {
			snprintf(err, errlen,
			    "required field '%s': unknown type '%s' (expected "
			    "object, array or string)",
			    entry, type);
			return -1;
		}
	}
	q->path = memcpy(q->text + len + 1, q->text, strlen(q->text) + 1);
	for (p = q->text;; p = dot + 1) {
		dot = strchr(p, '.');
		if (dot != NULL)
			*dot = '\0';
		if (*p == '\0' || q->nseg == REDACT_PATH_MAX) {
			snprintf(err, errlen,
			    "required field '%s': empty segment or more than "
			    "%d",
			    entry, REDACT_PATH_MAX);
			return -1;
		}
		q->seg[q->nseg++] = p;
		if (dot == NULL)
			return 0;
	}
}

/* How a rule reaches a required field. */
enum reach { REACH_NONE, REACH_FIELD, REACH_PARENT };

static enum reach
reach(const struct redact_rule *rule, const struct required *q)
{
	size_t j;

	if (rule->where == WHERE_ATTR)
		return REACH_NONE;
	if (rule->where == WHERE_ALL)
		return q->type == REQ_OBJECT ? REACH_NONE : REACH_FIELD;
	if (rule->nseg > q->nseg)
		return REACH_NONE;
	for (j = 0; j < rule->nseg; j++)
		if (rule->segidx[j] != SEG_ANY &&
		    strcmp(rule->seg[j], q->seg[j]) != 0)
			return REACH_NONE;
	return rule->nseg == q->nseg ? REACH_FIELD : REACH_PARENT;
}

/*
 * The enumerated value of q that rule i finds a match in, copied to
 * out; 0 if none.
 */
static int
enum_match(struct redact *r, size_t i, const struct required *q, char *out,
    size_t outlen)
{
	const char *v = q->values, *bar;

	for (;; v = bar + 1) {
		size_t n;

		bar = strchr(v, '|');
		n = bar != NULL ? (size_t)(bar - v) : strlen(v);
		if (redact_rule_finds(r, i, v, n)) {
			snprintf(out, outlen, "%.*s", (int)n, v);
			return 1;
		}
		if (bar == NULL)
			return 0;
	}
}

int
redact_check_required(
    struct redact *r, const char *const *required, char *err, size_t errlen)
{
	struct required q;
	char value[128];
	size_t i, k;

	for (i = 0; i < r->n; i++) {
		const struct redact_rule *rule = &r->rules[i];
		const char *act = action_names[rule->action];

		for (k = 0; required[k] != NULL; k++) {
			enum reach how;
			int refuse = 0, is_value = rule->what == WHAT_VALUE;

			if (parse_required(required[k], &q, err, errlen) == -1)
				return -1;
			how = reach(rule, &q);
			if (how == REACH_NONE)
				continue;
			/*
			 * An optional field may go, but a value mask or
			 * hash would turn an object or a number into a
			 * string, which its record's validation refuses.
			 */
			if (q.optional) {
				if (how == REACH_FIELD && is_value &&
				    rule->action != ACT_DROP &&
				    q.type != REQ_STRING) {
					snprintf(err, errlen,
					    "rule %s (%s:%lu): %s would make "
					    "the field %s a string, which its "
					    "records may not have",
					    rule->name, r->file, rule->line,
					    act, q.path);
					return -1;
				}
				continue;
			}
			/* A detector on a parent reaches the field's own
			 * strings, as one on the field does. */
			if (how == REACH_PARENT && is_value)
				refuse = 1;
			else if (q.type == REQ_OBJECT)
				refuse = how == REACH_FIELD && is_value;
			/*
			 * A "*" detector or expression with drop removes a
			 * free-text string only where it finds something
			 * (an e-mail address in a model name): it does not
			 * make every record invalid, so it is allowed.
			 */
			else if (q.type == REQ_STRING)
				refuse = rule->action == ACT_DROP &&
				    (is_value || rule->where != WHERE_ALL);
			else if (q.type == REQ_ANY)
				refuse = is_value ||
				    (rule->action == ACT_DROP &&
				        rule->where != WHERE_ALL);
			else if (is_value)
				refuse = 1;
			else if (enum_match(r, i, &q, value, sizeof(value))) {
				snprintf(err, errlen,
				    "rule %s (%s:%lu): %s would %s the "
				    "required field %s (it matches \"%s\")",
				    rule->name, r->file, rule->line, act,
				    rule->action == ACT_DROP ? "remove"
				                             : "change",
				    q.path, value);
				return -1;
			}
			if (refuse) {
				snprintf(err, errlen,
				    "rule %s (%s:%lu): %s would %s the "
				    "required field %s",
				    rule->name, r->file, rule->line, act,
				    rule->action == ACT_DROP ||
				            how == REACH_PARENT
				        ? "remove"
				        : "change",
				    q.path);
				return -1;
			}
		}
	}
	return 0;
}
