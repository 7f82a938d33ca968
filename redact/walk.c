/* walk.c: where the rules apply: event trees by field path, span attributes,
 * and the attributes of OTLP JSON. */
#include "redact/redact_int.h"

#include <limits.h>
#include <string.h>

#include <cjson/cJSON.h>

/* One redact_tree or redact_otlp_json call. */
struct walk {
	struct redact *r;
	uint64_t *counts;
	uint64_t changes;
};

/*
 * Make node the string s[0..len), in place, so that it keeps its member
 * name and its place among its siblings; what it held is freed (unless it
 * was a reference, which owns nothing). Memory comes from cJSON's hooks.
 */
static int
set_string(cJSON *node, const char *s, size_t len)
{
	char *copy = cJSON_malloc(len + 1);

	if (copy == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	if (!(node->type & cJSON_IsReference)) {
		if (node->child != NULL)
			cJSON_Delete(node->child);
		if (node->valuestring != NULL)
			cJSON_free(node->valuestring);
	}
	node->child = NULL;
	node->valuestring = copy;
	node->valueint = 0;
	node->valuedouble = 0;
	node->type = cJSON_String | (node->type & cJSON_StringIsConst);
	return 0;
}

static void
drop(cJSON *parent, cJSON *node)
{
	cJSON_Delete(cJSON_DetachItemViaPointer(parent, node));
}

static int
finish(struct walk *w, int rc)
{
	if (rc == -1)
		return -1;
	return w->changes > INT_MAX ? INT_MAX : (int)w->changes;
}

/* cJSON's type tests are calls into the shared library; these are not.
 * The walks visit every node, so it shows. */
#define TYPE(node) ((node)->type & 0xff)
#define IS_CONTAINER(node)                                                     \
	(TYPE(node) == cJSON_Object || TYPE(node) == cJSON_Array)

/* Rules from..to of scope on the string node (a member or element of
 * parent), len bytes long. */
static int
tree_string(struct walk *w, size_t from, size_t to,
    const struct apply_scope *scope, cJSON *parent, cJSON *node, size_t len)
{
	const char *res;
	size_t reslen;

	switch (redact_apply_string(w->r, from, to, scope, node->valuestring,
	    len, w->counts, &w->changes, &res, &reslen)) {
	case REDACT_KEEP:
		return 0;
	case REDACT_CHANGED:
		return set_string(node, res, reslen);
	case REDACT_DROP:
		drop(parent, node);
		return 0;
	case REDACT_ERROR:
		break;
	}
	return -1;
}

/* Does segment k of rule's path name child (at index idx of node)? */
static int
seg_matches(const struct redact_rule *rule, size_t k, const cJSON *node,
    const cJSON *child, long idx)
{
	if (rule->segidx[k] == SEG_ANY)
		return 1;
	if (TYPE(node) == cJSON_Array)
		return rule->segidx[k] == idx;
	return child->string != NULL &&
	    strcmp(child->string, rule->seg[k]) == 0;
}

/*
 * A walk step's field: rules whose paths still match below child (at
 * index idx of node, at depth depth): of those in active, the ones with
 * the segment at depth naming child, and those already past their path.
 */
static uint64_t
step_active(const struct redact *r, const struct redact_step *st,
    uint64_t active, size_t depth, const cJSON *node, const cJSON *child,
    long idx)
{
	uint64_t next = 0, bits;

	for (bits = active; bits != 0; bits &= bits - 1) {
		unsigned k = (unsigned)__builtin_ctzll(bits);
		const struct redact_rule *rule = &r->rules[st->field[k]];

		if (depth >= rule->nseg ||
		    seg_matches(rule, depth, node, child, idx))
			next |= (uint64_t)1 << k;
	}
	return next;
}

/* The detectors of a walk step's field: rules whose bits are in fields. */
static unsigned
field_want(
    const struct redact *r, const struct redact_step *st, uint64_t fields)
{
	unsigned want = 0;

	for (; fields != 0; fields &= fields - 1)
		want |= 1u << r->rules[st->field[__builtin_ctzll(fields)]].det;
	return want;
}

/*
 * One walk step (not a "value" one) on node at depth depth below the
 * record, whose path the field: rules in active match so far. A string
 * gets the "*" rules and the field: rules whose whole path lies above it;
 * a subtree that no rule can reach is not entered.
 */
static int
step_walk(struct walk *w, const struct redact_step *st, cJSON *parent,
    cJSON *node, uint64_t active, size_t depth)
{
	cJSON *c, *next;
	long idx = 0;

	if (TYPE(node) == cJSON_String) {
		struct apply_scope scope = {SCOPE_STEP, NULL, 0};
		uint64_t bits;
		size_t len;

		if (node->valuestring == NULL)
			return 0;
		for (bits = active; bits != 0; bits &= bits - 1) {
			unsigned k = (unsigned)__builtin_ctzll(bits);

			if (depth >= w->r->rules[st->field[k]].nseg)
				scope.fields |= (uint64_t)1 << k;
		}
		if (!st->has_all && scope.fields == 0)
			return 0;
		len = strlen(node->valuestring);
		/* Most strings match nothing: when only detectors reach this
		 * one, one pass over it says so. */
		if (st->all_plain && (scope.fields & ~st->field_det) == 0 &&
		    detect_maybe(node->valuestring, len,
		        st->all_want | field_want(w->r, st, scope.fields)) == 0)
			return 0;
		return tree_string(
		    w, st->from, st->to, &scope, parent, node, len);
	}
	if (!IS_CONTAINER(node))
		return 0;
	if (depth >= REDACT_MAX_DEPTH)
		return -1;
	for (c = node->child; c != NULL; c = next, idx++) {
		uint64_t below = active == 0
		    ? 0
		    : step_active(w->r, st, active, depth, node, c, idx);

		next = c->next;
		if ((st->has_all || below != 0) &&
		    (TYPE(c) == cJSON_String || IS_CONTAINER(c)) &&
		    step_walk(w, st, node, c, below, depth + 1) == -1)
			return -1;
	}
	return 0;
}

/* A field: "value" rule i on node, a value its path names. */
static int
value_target(struct walk *w, size_t i, cJSON *parent, cJSON *node)
{
	const struct redact_rule *rule = &w->r->rules[i];
	struct apply_scope scope = {SCOPE_FIELD, NULL, 0};
	const char *res;
	char *text = NULL;
	size_t reslen;
	enum redact_verdict v;

	if (TYPE(node) == cJSON_String)
		return node->valuestring == NULL
		    ? 0
		    : tree_string(w, i, i + 1, &scope, parent, node,
		          strlen(node->valuestring));
	/* Anything but a string: the compact JSON text is what a hash is
	 * over. */
	if (rule->action == ACT_HASH &&
	    (text = cJSON_PrintUnformatted(node)) == NULL)
		return -1;
	v = redact_apply_value(
	    w->r, i, text, text != NULL ? strlen(text) : 0, &res, &reslen);
	if (text != NULL)
		cJSON_free(text);
	if (v == REDACT_ERROR)
		return -1;
	if (w->counts != NULL)
		w->counts[i]++;
	w->changes++;
	if (v == REDACT_DROP) {
		drop(parent, node);
		return 0;
	}
	return set_string(node, res, reslen);
}

/* A field: "value" rule i below node, whose path matched its first k
 * segments. */
static int
value_walk(struct walk *w, size_t i, cJSON *parent, cJSON *node, size_t k)
{
	const struct redact_rule *rule = &w->r->rules[i];
	cJSON *c, *next;
	long idx = 0;

	if (k == rule->nseg)
		return value_target(w, i, parent, node);
	if (!IS_CONTAINER(node))
		return 0;
	/* Indexes count the elements as they were: a dropped element does
	 * not renumber the ones after it. */
	for (c = node->child; c != NULL; c = next, idx++) {
		next = c->next;
		if (seg_matches(rule, k, node, c, idx) &&
		    value_walk(w, i, node, c, k + 1) == -1)
			return -1;
	}
	return 0;
}

int
redact_tree(struct redact *r, cJSON *record, uint64_t *counts)
{
	struct walk w = {.r = r, .counts = counts};
	size_t i;
	int rc = 0;

	if (!r->has_tree)
		return 0;
	if (!IS_CONTAINER(record))
		return -1;
	for (i = 0; i < r->nsteps && rc == 0; i++) {
		const struct redact_step *st = &r->steps[i];

		if (st->value)
			rc = value_walk(&w, st->from, NULL, record, 0);
		else
			rc = step_walk(&w, st, NULL, record,
			    st->nfield == STEP_FIELDS
			        ? ~(uint64_t)0
			        : ((uint64_t)1 << st->nfield) - 1,
			    0);
	}
	return finish(&w, rc);
}

static enum redact_verdict
copy_out(enum redact_verdict v, const char *res, size_t reslen, struct buf *out)
{
	if (v != REDACT_CHANGED)
		return v;
	buf_reset(out);
	if (buf_add(out, res, reslen) == -1)
		return REDACT_ERROR;
	return REDACT_CHANGED;
}

enum redact_verdict
redact_attr(struct redact *r, const char *key, const char *val, size_t len,
    struct buf *out, uint64_t *counts)
{
	struct apply_scope scope = {SCOPE_ATTR, key, 0};
	const char *res = NULL;
	size_t reslen = 0;
	uint64_t changes = 0;
	enum redact_verdict v;

	if (!r->has_attr ||
	    (r->attr_plain && detect_maybe(val, len, r->attr_want) == 0))
		return REDACT_KEEP;
	v = redact_apply_string(
	    r, 0, r->n, &scope, val, len, counts, &changes, &res, &reslen);
	return copy_out(v, res, reslen, out);
}

/* redact_attr_nonstring, also counting the changes. */
static enum redact_verdict
attr_nonstring(struct redact *r, const char *key, const char *text,
    size_t textlen, struct buf *out, uint64_t *counts, uint64_t *changes)
{
	struct apply_scope scope = {SCOPE_ATTR, key, 0};
	const char *res, *res2;
	size_t i, reslen, reslen2;
	enum redact_verdict v;

	for (i = 0; i < r->n; i++) {
		const struct redact_rule *rule = &r->rules[i];

		if (rule->where != WHERE_ATTR || rule->what != WHAT_VALUE ||
		    !redact_glob(rule->target, key))
			continue;
		v = redact_apply_value(r, i, text, textlen, &res, &reslen);
		if (v == REDACT_ERROR)
			return v;
		if (counts != NULL)
			counts[i]++;
		(*changes)++;
		if (v == REDACT_DROP)
			return v;
		/* Now a string: the rules after this one see it as one. */
		v = redact_apply_string(r, i + 1, r->n, &scope, res, reslen,
		    counts, changes, &res2, &reslen2);
		if (v == REDACT_KEEP)
			return copy_out(REDACT_CHANGED, res, reslen, out);
		return copy_out(v, res2, reslen2, out);
	}
	return REDACT_KEEP;
}

enum redact_verdict
redact_attr_nonstring(struct redact *r, const char *key, const char *text,
    size_t textlen, struct buf *out, uint64_t *counts)
{
	uint64_t changes = 0;

	return attr_nonstring(r, key, text, textlen, out, counts, &changes);
}

enum redact_verdict
redact_span_string(struct redact *r, const char *val, size_t len,
    struct buf *out, uint64_t *counts)
{
	struct apply_scope scope = {SCOPE_ALL, NULL, 0};
	const char *res = NULL;
	size_t reslen = 0;
	uint64_t changes = 0;
	enum redact_verdict v;

	if (r->all_want == 0 && r->all_plain)
		return REDACT_KEEP;
	if (r->all_plain && detect_maybe(val, len, r->all_want) == 0)
		return REDACT_KEEP;
	v = redact_apply_string(
	    r, 0, r->n, &scope, val, len, counts, &changes, &res, &reslen);
	return copy_out(v, res, reslen, out);
}

/*
 * OTLP JSON. Protobuf's JSON mapping accepts a field's lowerCamelCase
 * name and its proto name, and a hostile body may repeat a member, so
 * every member under either name is visited, not only the first.
 */
static int
named(const cJSON *c, const char *camel, const char *proto)
{
	return c->string != NULL &&
	    (strcmp(c->string, camel) == 0 ||
	        (proto != NULL && strcmp(c->string, proto) == 0));
}

static int otlp_kvlist(
    struct walk *w, cJSON *arr, const char *topkey, int depth);

/*
 * The verdict of a string attribute value for key: the string member
 * node of an AnyValue.
 */
static enum redact_verdict
otlp_string(struct walk *w, const char *key, cJSON *node)
{
	struct apply_scope scope = {SCOPE_ATTR, key, 0};
	const char *res;
	size_t len, reslen;
	enum redact_verdict v;

	if (node->valuestring == NULL)
		return REDACT_KEEP;
	len = strlen(node->valuestring);
	if (w->r->attr_plain &&
	    detect_maybe(node->valuestring, len, w->r->attr_want) == 0)
		return REDACT_KEEP;
	v = redact_apply_string(w->r, 0, w->r->n, &scope, node->valuestring,
	    len, w->counts, &w->changes, &res, &reslen);
	if (v == REDACT_CHANGED && set_string(node, res, reslen) == -1)
		return REDACT_ERROR;
	return v;
}

/*
 * A top-level attribute value that is not a string: attr: value rules.
 * Changed, it becomes {"stringValue": ...}.
 */
static enum redact_verdict
otlp_nonstring(struct walk *w, const char *key, cJSON *val)
{
	struct buf *out = &w->r->attr;
	char *text;
	size_t i;
	enum redact_verdict v;
	cJSON *s;

	for (i = 0; i < w->r->n; i++) {
		const struct redact_rule *rule = &w->r->rules[i];

		if (rule->where == WHERE_ATTR && rule->what == WHAT_VALUE &&
		    redact_glob(rule->target, key))
			break;
	}
	if (i == w->r->n)
		return REDACT_KEEP;
	if ((text = cJSON_PrintUnformatted(val)) == NULL)
		return REDACT_ERROR;
	v = attr_nonstring(
	    w->r, key, text, strlen(text), out, w->counts, &w->changes);
	cJSON_free(text);
	if (v != REDACT_CHANGED)
		return v;
	if ((s = cJSON_CreateNull()) == NULL ||
	    set_string(s, out->data, out->len) == -1) {
		cJSON_Delete(s);
		return REDACT_ERROR;
	}
	cJSON_Delete(val->child);
	val->child = NULL;
	if (!cJSON_AddItemToObject(val, "stringValue", s)) {
		cJSON_Delete(s);
		return REDACT_ERROR;
	}
	return REDACT_CHANGED;
}

/*
 * One AnyValue val held by holder (a KeyValue, or an array element that
 * is val itself). Returns 1 when holder must go, 0, or -1.
 */
static int
otlp_value(struct walk *w, const char *key, cJSON *val, int nested, int depth)
{
	cJSON *c, *next, *d, *dnext;
	int has_string = 0;

	if (depth > REDACT_MAX_DEPTH)
		return -1;
	if (!cJSON_IsObject(val))
		return 0;
	for (c = val->child; c != NULL; c = c->next)
		if (named(c, "stringValue", "string_value") &&
		    cJSON_IsString(c))
			has_string = 1;
	if (!has_string && !nested) {
		switch (otlp_nonstring(w, key, val)) {
		case REDACT_KEEP:
			break;
		case REDACT_CHANGED:
			return 0;
		case REDACT_DROP:
			return 1;
		case REDACT_ERROR:
			return -1;
		}
	}
	for (c = val->child; c != NULL; c = next) {
		next = c->next;
		if (named(c, "stringValue", "string_value") &&
		    cJSON_IsString(c)) {
			switch (otlp_string(w, key, c)) {
			case REDACT_KEEP:
			case REDACT_CHANGED:
				break;
			case REDACT_DROP:
				return 1;
			case REDACT_ERROR:
				return -1;
			}
		} else if (named(c, "arrayValue", "array_value")) {
			for (d = c->child; d != NULL; d = d->next) {
				cJSON *e, *enext;

				if (!named(d, "values", NULL))
					continue;
				for (e = d->child; e != NULL; e = enext) {
					int rc;

					enext = e->next;
					rc =
					    otlp_value(w, key, e, 1, depth + 1);
					if (rc == -1)
						return -1;
					if (rc == 1)
						drop(d, e);
				}
			}
		} else if (named(c, "kvlistValue", "kvlist_value")) {
			for (d = c->child; d != NULL; d = dnext) {
				dnext = d->next;
				if (named(d, "values", NULL) &&
				    otlp_kvlist(w, d, key, depth + 1) == -1)
					return -1;
			}
		}
	}
	return 0;
}

/*
 * Every "value" of the KeyValue kv under key. Returns 1 when kv must go,
 * 0, or -1.
 */
static int
otlp_kv_values(
    struct walk *w, cJSON *kv, const char *key, int nested, int depth)
{
	cJSON *v;
	int rc;

	for (v = kv->child; v != NULL; v = v->next) {
		if (!named(v, "value", NULL))
			continue;
		if ((rc = otlp_value(w, key, v, nested, depth)) != 0)
			return rc;
	}
	return 0;
}

/*
 * An array of KeyValue: each value under its own key, or under topkey
 * inside a kvlist. A KeyValue that repeats "key" is run through the rules
 * of each of its keys, and one without a key through those of "", so no
 * spelling hides a value.
 */
static int
otlp_kvlist(struct walk *w, cJSON *arr, const char *topkey, int depth)
{
	cJSON *kv, *next, *k;

	if (depth > REDACT_MAX_DEPTH)
		return -1;
	if (!cJSON_IsArray(arr))
		return 0;
	for (kv = arr->child; kv != NULL; kv = next) {
		int rc = 0, keys = 0;

		next = kv->next;
		if (!cJSON_IsObject(kv))
			continue;
		if (topkey != NULL) {
			rc = otlp_kv_values(w, kv, topkey, 1, depth);
		} else {
			for (k = kv->child; k != NULL && rc == 0; k = k->next) {
				if (!named(k, "key", NULL) ||
				    !cJSON_IsString(k))
					continue;
				keys++;
				rc = otlp_kv_values(
				    w, kv, k->valuestring, 0, depth);
			}
			if (keys == 0)
				rc = otlp_kv_values(w, kv, "", 0, depth);
		}
		if (rc == -1)
			return -1;
		if (rc == 1)
			drop(arr, kv);
	}
	return 0;
}

/* Every "attributes" member of obj. */
static int
otlp_attrs_of(struct walk *w, cJSON *obj)
{
	cJSON *c;

	if (!cJSON_IsObject(obj))
		return 0;
	for (c = obj->child; c != NULL; c = c->next)
		if (named(c, "attributes", NULL) &&
		    otlp_kvlist(w, c, NULL, 1) == -1)
			return -1;
	return 0;
}

/* Each element of every member of obj named camel or proto. */
#define EACH(c, e, obj, camel, proto)                                          \
	for (c = cJSON_IsObject(obj) ? (obj)->child : NULL; c != NULL;         \
	     c = c->next)                                                      \
		if (named(c, camel, proto))                                    \
			for (e = c->child; e != NULL; e = e->next)

static int
otlp_status(struct walk *w, cJSON *span)
{
	struct apply_scope scope = {SCOPE_ALL, NULL, 0};
	cJSON *c, *m;
	const char *res;
	size_t reslen;

	EACH(c, m, span, "status", NULL)
	{
		size_t len;

		if (!named(m, "message", NULL) || !cJSON_IsString(m) ||
		    m->valuestring == NULL)
			continue;
		len = strlen(m->valuestring);
		if (w->r->all_plain &&
		    detect_maybe(m->valuestring, len, w->r->all_want) == 0)
			continue;
		switch (redact_apply_string(w->r, 0, w->r->n, &scope,
		    m->valuestring, len, w->counts, &w->changes, &res,
		    &reslen)) {
		case REDACT_KEEP:
			break;
		case REDACT_CHANGED:
			if (set_string(m, res, reslen) == -1)
				return -1;
			break;
		case REDACT_DROP:
			if (set_string(m, "", 0) == -1)
				return -1;
			break;
		case REDACT_ERROR:
			return -1;
		}
	}
	return 0;
}

static int
otlp_span(struct walk *w, cJSON *span)
{
	cJSON *c, *e;

	if (otlp_attrs_of(w, span) == -1 || otlp_status(w, span) == -1)
		return -1;
	EACH(c, e, span, "events", NULL)
	{
		if (otlp_attrs_of(w, e) == -1)
			return -1;
	}
	EACH(c, e, span, "links", NULL)
	{
		if (otlp_attrs_of(w, e) == -1)
			return -1;
	}
	return 0;
}

int
redact_otlp_json(struct redact *r, cJSON *resource_spans, uint64_t *counts)
{
	struct walk w = {.r = r, .counts = counts};
	cJSON *rs, *c, *e, *ss, *sp;

	if (!r->has_attr || !cJSON_IsArray(resource_spans))
		return 0;
	for (rs = resource_spans->child; rs != NULL; rs = rs->next) {
		EACH(c, e, rs, "resource", NULL)
		{
			if (named(e, "attributes", NULL) &&
			    otlp_kvlist(&w, e, NULL, 1) == -1)
				return -1;
		}
		/* scopeSpans, and its name before OTLP 0.15 */
		for (c = cJSON_IsObject(rs) ? rs->child : NULL; c != NULL;
		     c = c->next) {
			if (!named(c, "scopeSpans", "scope_spans") &&
			    !named(c, "instrumentationLibrarySpans",
			        "instrumentation_library_spans"))
				continue;
			for (ss = c->child; ss != NULL; ss = ss->next) {
				EACH(e, sp, ss, "scope", NULL)
				{
					if (named(sp, "attributes", NULL) &&
					    otlp_kvlist(&w, sp, NULL, 1) == -1)
						return -1;
				}
				EACH(e, sp, ss, "spans", NULL)
				{
					if (otlp_span(&w, sp) == -1)
						return -1;
				}
			}
		}
	}
	return finish(&w, 0);
}
