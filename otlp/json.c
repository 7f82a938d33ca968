/* json.c: the OTLP JSON mapping of a trace export: shapes and types. */
#include "otlp/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "otlp/otlp.h"

/*
 * The mapping as tables: each message is a shape, a list of the members
 * it documents with their kinds. One walk reads every shape, so a member
 * is described once, in the place a reader looks for it.
 */
enum kind {
	K_STRING,
	K_BOOL,
	K_INT64,
	K_UINT64,
	K_UINT32,
	K_ENUM,
	K_DOUBLE,
	K_BYTES,
	K_TRACE_ID,  /* 32 hex */
	K_SPAN_ID,   /* 16 hex */
	K_PARENT_ID, /* "" or 16 hex */
	K_MSG,       /* an object of shape */
	K_LIST,      /* an array of objects of shape */
};

struct shape;

struct member {
	const char *name;
	enum kind kind;
	const struct shape *shape; /* K_MSG, K_LIST */
	int required;
};

#define SHAPE_ONEOF 1u /* at most one member set (AnyValue's value) */
#define SHAPE_ANY 2u   /* an AnyValue: one level of nesting */
#define SHAPE_SPAN 4u  /* a span: counted */

struct shape {
	const struct member *m;
	size_t n;
	unsigned flags;
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct shape any_value, key_value;

static const struct member array_value_m[] = {
    {"values", K_LIST, &any_value, 0},
};
static const struct shape array_value = {
    array_value_m, NELEM(array_value_m), 0};

static const struct member kvlist_value_m[] = {
    {"values", K_LIST, &key_value, 0},
};
static const struct shape kvlist_value = {
    kvlist_value_m, NELEM(kvlist_value_m), 0};

static const struct member any_value_m[] = {
    {"stringValue", K_STRING, NULL, 0},
    {"boolValue", K_BOOL, NULL, 0},
    {"intValue", K_INT64, NULL, 0},
    {"doubleValue", K_DOUBLE, NULL, 0},
    {"arrayValue", K_MSG, &array_value, 0},
    {"kvlistValue", K_MSG, &kvlist_value, 0},
    {"bytesValue", K_BYTES, NULL, 0},
};
static const struct shape any_value = {
    any_value_m, NELEM(any_value_m), SHAPE_ONEOF | SHAPE_ANY};

static const struct member key_value_m[] = {
    {"key", K_STRING, NULL, 0},
    {"value", K_MSG, &any_value, 0},
};
static const struct shape key_value = {key_value_m, NELEM(key_value_m), 0};

static const struct member resource_m[] = {
    {"attributes", K_LIST, &key_value, 0},
    {"droppedAttributesCount", K_UINT32, NULL, 0},
};
static const struct shape resource = {resource_m, NELEM(resource_m), 0};

static const struct member scope_m[] = {
    {"name", K_STRING, NULL, 0},
    {"version", K_STRING, NULL, 0},
    {"attributes", K_LIST, &key_value, 0},
    {"droppedAttributesCount", K_UINT32, NULL, 0},
};
static const struct shape scope = {scope_m, NELEM(scope_m), 0};

static const struct member event_m[] = {
    {"timeUnixNano", K_UINT64, NULL, 0},
    {"name", K_STRING, NULL, 0},
    {"attributes", K_LIST, &key_value, 0},
    {"droppedAttributesCount", K_UINT32, NULL, 0},
};
static const struct shape event = {event_m, NELEM(event_m), 0};

static const struct member link_m[] = {
    {"traceId", K_TRACE_ID, NULL, 1},
    {"spanId", K_SPAN_ID, NULL, 1},
    {"traceState", K_STRING, NULL, 0},
    {"attributes", K_LIST, &key_value, 0},
    {"droppedAttributesCount", K_UINT32, NULL, 0},
    {"flags", K_UINT32, NULL, 0},
};
static const struct shape link = {link_m, NELEM(link_m), 0};

static const struct member status_m[] = {
    {"message", K_STRING, NULL, 0},
    {"code", K_ENUM, NULL, 0},
};
static const struct shape status = {status_m, NELEM(status_m), 0};

static const struct member span_m[] = {
    {"traceId", K_TRACE_ID, NULL, 1},
    {"spanId", K_SPAN_ID, NULL, 1},
    {"traceState", K_STRING, NULL, 0},
    {"parentSpanId", K_PARENT_ID, NULL, 0},
    {"name", K_STRING, NULL, 0},
    {"kind", K_ENUM, NULL, 0},
    {"startTimeUnixNano", K_UINT64, NULL, 0},
    {"endTimeUnixNano", K_UINT64, NULL, 0},
    {"attributes", K_LIST, &key_value, 0},
    {"droppedAttributesCount", K_UINT32, NULL, 0},
    {"events", K_LIST, &event, 0},
    {"droppedEventsCount", K_UINT32, NULL, 0},
    {"links", K_LIST, &link, 0},
    {"droppedLinksCount", K_UINT32, NULL, 0},
    {"status", K_MSG, &status, 0},
    {"flags", K_UINT32, NULL, 0},
};
static const struct shape span = {span_m, NELEM(span_m), SHAPE_SPAN};

static const struct member scope_spans_m[] = {
    {"scope", K_MSG, &scope, 0},
    {"spans", K_LIST, &span, 0},
    {"schemaUrl", K_STRING, NULL, 0},
};
static const struct shape scope_spans = {
    scope_spans_m, NELEM(scope_spans_m), 0};

static const struct member resource_spans_m[] = {
    {"resource", K_MSG, &resource, 0},
    {"scopeSpans", K_LIST, &scope_spans, 0},
    {"schemaUrl", K_STRING, NULL, 0},
};
static const struct shape resource_spans = {
    resource_spans_m, NELEM(resource_spans_m), 0};

static const struct member request_m[] = {
    {"resourceSpans", K_LIST, &resource_spans, 0},
};
static const struct shape request = {request_m, NELEM(request_m), 0};

/*
 * Path segments: a member's name, and its index when it is an array's
 * element. The deepest path is 6 segments to the first AnyValue
 * (resourceSpans[i], scopeSpans[j], spans[k], events[e], attributes[a],
 * value) and at most 3 per further level (kvlistValue, values[v], value),
 * plus the member being read: 6 + 3 * 31 + 1 = 100.
 */
#define MAX_SEGS 128

struct seg {
	const char *name;
	long idx; /* -1: not an element */
};

struct walk {
	struct seg segs[MAX_SEGS];
	size_t nseg;
	unsigned any; /* AnyValue levels open */
	size_t nspans;
	char *err;
	size_t errlen;
};

static int refuse(struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
refuse(struct walk *w, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0, i;
	int n;

	if (w->errlen == 0)
		return -1;
	w->err[0] = '\0';
	for (i = 0; i < w->nseg && off < w->errlen; i++) {
		const struct seg *s = &w->segs[i];

		if (s->idx >= 0)
			n = snprintf(w->err + off, w->errlen - off, "%s%s[%ld]",
			    i > 0 ? "." : "", s->name, s->idx);
		else
			n = snprintf(w->err + off, w->errlen - off, "%s%s",
			    i > 0 ? "." : "", s->name);
		if (n > 0)
			off += (size_t)n;
	}
	if (w->nseg == 0)
		off = (size_t)snprintf(w->err, w->errlen, "body");
	if (off + 2 < w->errlen) {
		memcpy(w->err + off, ": ", 3);
		off += 2;
		va_start(ap, fmt);
		vsnprintf(w->err + off, w->errlen - off, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
push(struct walk *w, const char *name)
{
	if (w->nseg == MAX_SEGS)
		return refuse(w, "nested deeper than %d members", MAX_SEGS);
	w->segs[w->nseg].name = name;
	w->segs[w->nseg].idx = -1;
	w->nseg++;
	return 0;
}

static int
is_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
		        (c >= 'A' && c <= 'F')))
			return 0;
	}
	return 1;
}

/* Standard or URL-safe base64 (not both), padding optional. */
static int
is_base64(const char *s)
{
	size_t n = strlen(s), data = n, i;
	int std = 0, url = 0;

	while (data > 0 && s[data - 1] == '=')
		data--;
	if (n - data > 2 || (n > data && n % 4 != 0) || data % 4 == 1)
		return 0;
	for (i = 0; i < data; i++) {
		char c = s[i];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (c == '+' || c == '/')
			std = 1;
		else if (c == '-' || c == '_')
			url = 1;
		else
			return 0;
	}
	return !(std && url);
}

/* Decimal digits only, at most max. */
static int
decimal_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * An unsigned integer no larger than max: an integral number (cJSON keeps a
 * double, so past 2^53 it is as near as a double gets) or a decimal string.
 */
static int
json_uint(const cJSON *v, uint64_t max)
{
	uint64_t u;

	if (cJSON_IsString(v))
		return decimal_uint(v->valuestring, max, &u);
	if (!cJSON_IsNumber(v))
		return -1;
	/* 2^64 and 2^32 are exact doubles; max is one of their predecessors. */
	if (!(v->valuedouble >= 0) || v->valuedouble != floor(v->valuedouble) ||
	    v->valuedouble >= (double)max + 1.0)
		return -1;
	return 0;
}

int
otlp_json_int64(const cJSON *v, int64_t *out)
{
	uint64_t u;

	if (cJSON_IsString(v)) {
		const char *s = v->valuestring;

		if (*s == '-') {
			if (decimal_uint(s + 1, (uint64_t)INT64_MAX + 1, &u) ==
			    -1)
				return -1;
			*out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN
			                                    : -(int64_t)u;
			return 0;
		}
		if (decimal_uint(s, INT64_MAX, &u) == -1)
			return -1;
		*out = (int64_t)u;
		return 0;
	}
	if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
	    !(v->valuedouble >= -9223372036854775808.0) ||
	    !(v->valuedouble < 9223372036854775808.0))
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int check_object(
    struct walk *w, const cJSON *obj, const struct shape *sh);

static int
check_list(struct walk *w, const cJSON *v, const struct shape *sh)
{
	const cJSON *e;
	long i = 0;

	if (!cJSON_IsArray(v))
		return refuse(w, "must be an array");
	cJSON_ArrayForEach(e, v) {
		w->segs[w->nseg - 1].idx = i++;
		if (check_object(w, e, sh) == -1)
			return -1;
	}
	return 0;
}

/* The value v of member m, whose segment is on top of the path. */
static int
check_value(struct walk *w, const cJSON *v, const struct member *m)
{
	int64_t i;

	switch (m->kind) {
	case K_STRING:
		if (!cJSON_IsString(v))
			return refuse(w, "must be a string");
		return 0;
	case K_BOOL:
		if (!cJSON_IsBool(v))
			return refuse(w, "must be true or false");
		return 0;
	case K_INT64:
		if (otlp_json_int64(v, &i) == -1)
			return refuse(w,
			    "must be a 64-bit integer (a number or "
			    "a decimal string)");
		return 0;
	case K_UINT64:
		if (json_uint(v, UINT64_MAX) == -1)
			return refuse(w,
			    "must be an unsigned 64-bit integer (a "
			    "number or a decimal string)");
		return 0;
	case K_UINT32:
		if (json_uint(v, UINT32_MAX) == -1)
			return refuse(w, "must be an unsigned 32-bit integer");
		return 0;
	case K_ENUM:
		if (!cJSON_IsNumber(v) ||
		    v->valuedouble != floor(v->valuedouble) ||
		    !(v->valuedouble >= -2147483648.0) ||
		    !(v->valuedouble <= 2147483647.0))
			return refuse(w, "must be an integer");
		return 0;
	case K_DOUBLE:
		if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
			return 0;
		if (cJSON_IsString(v) &&
		    (strcmp(v->valuestring, "NaN") == 0 ||
		        strcmp(v->valuestring, "Infinity") == 0 ||
		        strcmp(v->valuestring, "-Infinity") == 0))
			return 0;
		return refuse(w,
		    "must be a finite number, \"NaN\", "
		    "\"Infinity\" or \"-Infinity\"");
	case K_BYTES:
		if (!cJSON_IsString(v) || !is_base64(v->valuestring))
			return refuse(w, "must be a base64 string");
		return 0;
	case K_TRACE_ID:
		if (!cJSON_IsString(v) || !is_hex(v->valuestring, 32))
			return refuse(w, "must be 32 hex characters");
		return 0;
	case K_SPAN_ID:
		if (!cJSON_IsString(v) || !is_hex(v->valuestring, 16))
			return refuse(w, "must be 16 hex characters");
		return 0;
	case K_PARENT_ID:
		if (!cJSON_IsString(v) ||
		    (v->valuestring[0] != '\0' && !is_hex(v->valuestring, 16)))
			return refuse(w, "must be empty or 16 hex characters");
		return 0;
	case K_MSG:
		return check_object(w, v, m->shape);
	case K_LIST:
		return check_list(w, v, m->shape);
	}
	return refuse(w, "unknown kind");
}

static int
check_members(struct walk *w, const cJSON *obj, const struct shape *sh)
{
	const cJSON *c;
	const char *set_name = NULL;
	uint32_t seen = 0, set = 0;
	size_t i;

	for (c = obj->child; c != NULL; c = c->next) {
		for (i = 0; i < sh->n; i++)
			if (c->string != NULL &&
			    strcmp(c->string, sh->m[i].name) == 0)
				break;
		if (i == sh->n)
			continue; /* unknown: passes through */
		if (push(w, sh->m[i].name) == -1)
			return -1;
		if (seen & (1u << i))
			return refuse(w, "duplicate member");
		seen |= 1u << i;
		if (!cJSON_IsNull(c)) {
			if ((sh->flags & SHAPE_ONEOF) && set_name != NULL) {
				w->nseg--;
				return refuse(w,
				    "holds both %s and %s (at most one is "
				    "allowed)",
				    set_name, sh->m[i].name);
			}
			set |= 1u << i;
			set_name = sh->m[i].name;
			if (check_value(w, c, &sh->m[i]) == -1)
				return -1;
		}
		w->nseg--;
	}
	for (i = 0; i < sh->n; i++) {
		if (sh->m[i].required && !(set & (1u << i))) {
			if (push(w, sh->m[i].name) == -1)
				return -1;
			return refuse(w, "required");
		}
	}
	return 0;
}

static int
check_object(struct walk *w, const cJSON *obj, const struct shape *sh)
{
	int rc;

	if (!cJSON_IsObject(obj))
		return refuse(w, "must be an object");
	if (sh->flags & SHAPE_SPAN)
		w->nspans++;
	if (!(sh->flags & SHAPE_ANY))
		return check_members(w, obj, sh);
	if (w->any == OTLP_MAX_DEPTH)
		return refuse(
		    w, "values nested deeper than %d levels", OTLP_MAX_DEPTH);
	w->any++;
	rc = check_members(w, obj, sh);
	w->any--;
	return rc;
}

int
otlp_json_validate(const cJSON *root, size_t *nspans, char *err, size_t errlen)
{
	struct walk w;

	w.nseg = 0;
	w.any = 0;
	w.nspans = 0;
	w.err = err;
	w.errlen = errlen;
	if (check_object(&w, root, &request) == -1)
		return -1;
	*nspans = w.nspans;
	return 0;
}
