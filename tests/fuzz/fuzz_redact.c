/* fuzz_redact.c: libFuzzer target for redaction: a rules file and a JSON
 * record, loaded and applied. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "redact/detect.h"
#include "redact/redact.h"

/*
 * Each input is a rules file, a NUL byte, and a JSON text (without the
 * NUL, all of it is rules and the record is a fixed event). The rules are
 * loaded (errors are fine, but each must be reported), printed and
 * checked against the daemon's required fields; the record is redacted as
 * an event, as OTLP JSON, and string by string as attributes. Invariants,
 * whose violation aborts:
 *   - a load returns as many errors as it reports;
 *   - what redact_print writes loads again and prints the same;
 *   - the redacted tree prints as JSON that parses again;
 *   - when no rule drops, no path of the tree is invented or lost: every
 *     member or element path after redaction was there before, and every
 *     path before is still there or lies under a value a rule made a
 *     string;
 *   - redact_tree returns 0 exactly when the printed tree did not change;
 *   - detect_maybe's vector code equals its byte loop, and it never
 *     clears a detector whose expression matches the string.
 */

#define MAX_PATHS 4096

static const char fixed_record[] =
    "{\"event_type\":\"chain\",\"inputs\":{\"q\":\"mail a@example.com\","
    "\"card\":\"4111 1111 1111 1111\"},\"metadata\":{\"user_email\":"
    "\"b@example.com\",\"n\":[1,2,{\"x\":\"Bearer abcdef123456\"}]}}";

static struct detect *det;

static void __attribute__((noreturn))
violated(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_redact: invariant violated: %s\n", what);
	if (detail != NULL)
		fprintf(stderr, "fuzz_redact: %s\n", detail);
	abort();
}

static void
count(const char *msg, void *arg)
{
	(*(int *)arg)++;
	if (msg[0] == '\0')
		violated("an error message is empty", NULL);
}

/* One member or element path of a tree: length-prefixed segments, so
 * that no two paths spell alike. */
struct path {
	char *p;
	int is_string;
};

struct paths {
	struct path v[MAX_PATHS];
	size_t n;
	int full; /* too many or too deep to compare */
};

static void
collect(struct paths *ps, const cJSON *node, struct buf *prefix, int depth)
{
	const cJSON *c;
	size_t keep = prefix->len, idx = 0;

	if (depth > 64 || ps->n == MAX_PATHS) {
		ps->full = 1;
		return;
	}
	if (prefix->len > 0) {
		ps->v[ps->n].p = strndup(prefix->data, prefix->len);
		ps->v[ps->n].is_string = cJSON_IsString(node);
		if (ps->v[ps->n].p == NULL) {
			ps->full = 1;
			return;
		}
		ps->n++;
	}
	for (c = node->child; c != NULL; c = c->next, idx++) {
		int rc;

		if (cJSON_IsArray(node))
			rc = buf_printf(prefix, "#%zu/", idx);
		else
			rc = buf_printf(prefix, "%zu:%s/",
			    c->string != NULL ? strlen(c->string) : 0,
			    c->string != NULL ? c->string : "");
		if (rc == -1) {
			ps->full = 1;
			return;
		}
		collect(ps, c, prefix, depth + 1);
		prefix->len = keep;
		prefix->data[keep] = '\0';
	}
}

static int
cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct path *)a)->p, ((const struct path *)b)->p);
}

static void
paths_of(struct paths *ps, const cJSON *tree)
{
	struct buf prefix;

	memset(ps, 0, sizeof(*ps));
	buf_init(&prefix);
	if (buf_reserve(&prefix, 64) == -1) {
		ps->full = 1;
		return;
	}
	collect(ps, tree, &prefix, 0);
	buf_free(&prefix);
	qsort(ps->v, ps->n, sizeof(ps->v[0]), cmp_path);
}

static void
paths_free(struct paths *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		free(ps->v[i].p);
}

static const struct path *
find(const struct paths *ps, char *p)
{
	struct path key = {.p = p};

	return bsearch(&key, ps->v, ps->n, sizeof(ps->v[0]), cmp_path);
}

/* Is a shorter path ending at one of p's segment ends a string in ps? */
static int
under_string(const struct paths *ps, const char *p)
{
	char *copy = strdup(p), *slash;
	int found = 0;

	if (copy == NULL)
		return 1;
	for (slash = strchr(copy, '/');
	     slash != NULL && slash[1] != '\0' && !found;
	     slash = strchr(slash + 1, '/')) {
		char c = slash[1];
		const struct path *hit;

		slash[1] = '\0';
		hit = find(ps, copy);
		found = hit != NULL && hit->is_string;
		slash[1] = c;
	}
	free(copy);
	return found;
}

/*
 * Without drops (which renumber elements) every path after was there
 * before, and every path before is there after or lies under a value a
 * rule turned into a string.
 */
static void
check_paths(const struct paths *before, const struct paths *after)
{
	size_t i;

	if (before->full || after->full)
		return;
	for (i = 0; i < after->n; i++)
		if (find(before, after->v[i].p) == NULL)
			violated("redaction invented a path", after->v[i].p);
	for (i = 0; i < before->n; i++)
		if (find(after, before->v[i].p) == NULL &&
		    !under_string(after, before->v[i].p))
			violated("a path vanished without a drop rule",
			    before->v[i].p);
}

/* The filter invariants on one string, and the string as an attribute. */
static void
check_string(struct redact *r, const char *key, const char *s)
{
	size_t len = strlen(s), ms, me;
	unsigned may = detect_maybe(s, len, 15);
	struct buf out;
	int k;

	if (may != detect_maybe_bytes(s, len, 15))
		violated(
		    "detect_maybe's vector code differs from its bytes", s);
	for (k = 0; k < DETECT_N; k++)
		if (!(may & (1u << k)) &&
		    detect_next(
		        det, (enum detect_kind)k, s, len, 0, &ms, &me) == 1)
			violated("a filter cleared a detector that matches", s);
	buf_init(&out);
	redact_attr(r, key, s, len, &out, NULL);
	redact_attr_nonstring(r, key, s, len, &out, NULL);
	redact_span_string(r, s, len, &out, NULL);
	buf_free(&out);
}

static void
each_string(struct redact *r, const cJSON *node, const char *key, int depth)
{
	const cJSON *c;

	if (depth > 64)
		return;
	if (cJSON_IsString(node))
		check_string(r, key, node->valuestring);
	for (c = node->child; c != NULL; c = c->next)
		each_string(
		    r, c, c->string != NULL ? c->string : key, depth + 1);
}

/* What redact_print writes, as a heap string (NULL if out of memory). */
static char *
printed(const struct redact *r, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);

	if (fp == NULL)
		return NULL;
	redact_print(r, fp);
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Does a printed rule end in " drop"? */
static int
has_drop(const struct redact *r)
{
	size_t len;
	char *text = printed(r, &len);
	int drops = text == NULL || strstr(text, " drop\n") != NULL;

	free(text);
	return drops;
}

/* What redact_print writes loads as the same rules. */
static void
check_print(const struct redact *r)
{
	struct redact *again;
	size_t len, len2;
	char *text = printed(r, &len), *text2;
	int errors = 0;

	if (text == NULL)
		return;
	if (redact_load_string(&again, "printed", text, len, "fuzz-key", 8,
	        count, &errors) != 0)
		violated("the printed rules do not load", text);
	if ((text2 = printed(again, &len2)) != NULL) {
		if (len2 != len || memcmp(text, text2, len) != 0)
			violated("the printed rules print differently", text2);
		free(text2);
	}
	redact_free(again);
	free(text);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];
	int k;

	if ((det = detect_new()) == NULL)
		abort();
	for (k = 0; k < DETECT_N; k++)
		if (detect_enable(det, (enum detect_kind)k, err, sizeof(err)) ==
		    -1)
			violated("a detector does not compile", err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static const char *const required[] = {
	    "event_type=chain|model|tool|session", "inputs:object", NULL};
	const char *nul = memchr(in, '\0', len);
	size_t rlen = nul != NULL ? (size_t)(nul - (const char *)in) : len;
	const char *json = nul != NULL ? nul + 1 : fixed_record;
	size_t jlen = nul != NULL ? len - rlen - 1 : sizeof(fixed_record) - 1;
	struct redact *r;
	struct paths before, after;
	char err[512], *p1, *p2;
	int errors = 0, rc;
	cJSON *tree, *again;

	rc = redact_load_string(
	    &r, "fuzz", (const char *)in, rlen, "fuzz-key", 8, count, &errors);
	if (rc != errors && !(rc == -1 && errors == 1))
		violated("a load returns as many errors as it reports", NULL);
	if (rc != 0)
		return 0;
	check_print(r);
	redact_check_required(r, required, err, sizeof(err));
	tree = cJSON_ParseWithLength(json, jlen);
	if (tree == NULL) {
		redact_free(r);
		return 0;
	}
	each_string(r, tree, "", 0);
	paths_of(&before, tree);
	p1 = cJSON_PrintUnformatted(tree);
	rc = redact_tree(r, tree, NULL);
	p2 = cJSON_PrintUnformatted(tree);
	if (p1 == NULL || p2 == NULL)
		violated("the tree does not print", NULL);
	if ((again = cJSON_Parse(p2)) == NULL)
		violated("the redacted tree does not parse again", p2);
	cJSON_Delete(again);
	if (rc == 0 && strcmp(p1, p2) != 0)
		violated("redact_tree returned 0 but changed the tree", p2);
	if (rc >= 0 && !has_drop(r)) {
		paths_of(&after, tree);
		check_paths(&before, &after);
		paths_free(&after);
	}
	paths_free(&before);
	free(p1);
	free(p2);
	/* the same tree as OTLP JSON's resourceSpans, when an array */
	if (cJSON_IsArray(tree) && redact_otlp_json(r, tree, NULL) >= 0 &&
	    (p1 = cJSON_PrintUnformatted(tree)) != NULL) {
		if ((again = cJSON_Parse(p1)) == NULL)
			violated("the OTLP tree does not parse again", p1);
		cJSON_Delete(again);
		free(p1);
	}
	cJSON_Delete(tree);
	redact_free(r);
	return 0;
}
