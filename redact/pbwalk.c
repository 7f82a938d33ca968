/* pbwalk.c: the redaction rules over a protobuf trace export, as
 * redact_otlp_json applies them to the JSON one. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "otlp/pbjson.h"
#include "otlp/trace.pb-c.h"
#include "redact/redact.h"

/*
 * The message came from otlp_pb_decode, whose handle frees every block
 * with free(): what is put in is malloc'd, and what is taken out is freed
 * here. Empty strings may be protobuf-c's static "", which is never
 * freed. Nesting is bounded by the decoder (OTLP_MAX_DEPTH), so the
 * recursion below is too.
 */
struct pbwalk {
	struct redact *r;
	uint64_t *counts;
	struct buf out;  /* a changed string */
	struct buf text; /* a value's JSON, what hash is computed over */
	int changes;
};

static void
free_string(char *s)
{
	if (s != NULL && s != protobuf_c_empty_string)
		free(s);
}

/* Make *s a malloc'd copy of the walk's out. 0 or -1. */
static int
set_string(struct pbwalk *w, char **s)
{
	char *n = malloc(w->out.len + 1);

	if (n == NULL)
		return -1;
	memcpy(n, w->out.data != NULL ? w->out.data : "", w->out.len);
	n[w->out.len] = '\0';
	free_string(*s);
	*s = n;
	w->changes++;
	return 0;
}

/* Empty v of what it holds, so that it can take a string. */
static void
value_clear(Otlp__AnyValue *v)
{
	switch (v->value_case) {
	case OTLP__ANY_VALUE__VALUE_STRING_VALUE:
		free_string(v->string_value);
		break;
	case OTLP__ANY_VALUE__VALUE_BYTES_VALUE:
		free(v->bytes_value.data);
		break;
	case OTLP__ANY_VALUE__VALUE_ARRAY_VALUE:
		otlp__array_value__free_unpacked(v->array_value, NULL);
		break;
	case OTLP__ANY_VALUE__VALUE_KVLIST_VALUE:
		otlp__key_value_list__free_unpacked(v->kvlist_value, NULL);
		break;
	default:
		break;
	}
	v->value_case = OTLP__ANY_VALUE__VALUE__NOT_SET;
}

static int walk_kvs(
    struct pbwalk *w, const char *topkey, Otlp__KeyValue ***kvs, size_t *n);

/*
 * One attribute value under key (the top-level attribute's key, also for
 * values nested in arrays and kvlists). Returns 1 when what holds it must
 * go, 0, or -1 (out of memory).
 */
static int
walk_value(struct pbwalk *w, const char *key, Otlp__AnyValue *v, int nested)
{
	enum redact_verdict vd;
	size_t i, j;
	int rc;

	if (v == NULL)
		return 0;
	if (v->value_case == OTLP__ANY_VALUE__VALUE_STRING_VALUE) {
		vd = redact_attr(w->r, key, v->string_value,
		    strlen(v->string_value), &w->out, w->counts);
		if (vd == REDACT_CHANGED)
			return set_string(w, &v->string_value);
		if (vd == REDACT_DROP)
			w->changes++;
		return vd == REDACT_DROP ? 1 : vd == REDACT_ERROR ? -1 : 0;
	}
	if (!nested) {
		buf_reset(&w->text);
		if (otlp_pb_value_json(&w->text, v) == -1)
			return -1;
		vd = redact_attr_nonstring(
		    w->r, key, w->text.data, w->text.len, &w->out, w->counts);
		if (vd == REDACT_ERROR)
			return -1;
		if (vd == REDACT_DROP) {
			w->changes++;
			return 1;
		}
		if (vd == REDACT_CHANGED) {
			value_clear(v);
			v->value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
			v->string_value = NULL;
			return set_string(w, &v->string_value);
		}
	}
	if (v->value_case == OTLP__ANY_VALUE__VALUE_ARRAY_VALUE &&
	    v->array_value != NULL) {
		Otlp__ArrayValue *a = v->array_value;

		for (i = 0, j = 0; i < a->n_values; i++) {
			rc = walk_value(w, key, a->values[i], 1);
			if (rc == -1)
				return -1;
			if (rc == 1)
				otlp__any_value__free_unpacked(
				    a->values[i], NULL);
			else
				a->values[j++] = a->values[i];
		}
		a->n_values = j;
	} else if (v->value_case == OTLP__ANY_VALUE__VALUE_KVLIST_VALUE &&
	    v->kvlist_value != NULL) {
		if (walk_kvs(w, key, &v->kvlist_value->values,
		        &v->kvlist_value->n_values) == -1)
			return -1;
	}
	return 0;
}

/*
 * A list of attributes: each under its own key, or, inside a kvlist value,
 * under the top-level attribute's (topkey). Dropped ones are removed.
 */
static int
walk_kvs(struct pbwalk *w, const char *topkey, Otlp__KeyValue ***kvs, size_t *n)
{
	size_t i, j;
	int rc;

	for (i = 0, j = 0; i < *n; i++) {
		Otlp__KeyValue *kv = (*kvs)[i];

		rc = walk_value(w, topkey != NULL ? topkey : kv->key, kv->value,
		    topkey != NULL);
		if (rc == -1)
			return -1;
		if (rc == 1)
			otlp__key_value__free_unpacked(kv, NULL);
		else
			(*kvs)[j++] = kv;
	}
	*n = j;
	return 0;
}

static int
walk_span(struct pbwalk *w, Otlp__Span *s)
{
	enum redact_verdict vd;
	size_t i;

	if (walk_kvs(w, NULL, &s->attributes, &s->n_attributes) == -1)
		return -1;
	for (i = 0; i < s->n_events; i++) {
		if (walk_kvs(w, NULL, &s->events[i]->attributes,
		        &s->events[i]->n_attributes) == -1)
			return -1;
	}
	for (i = 0; i < s->n_links; i++) {
		if (walk_kvs(w, NULL, &s->links[i]->attributes,
		        &s->links[i]->n_attributes) == -1)
			return -1;
	}
	if (s->status == NULL || s->status->message == NULL ||
	    s->status->message[0] == '\0')
		return 0;
	vd = redact_span_string(w->r, s->status->message,
	    strlen(s->status->message), &w->out, w->counts);
	if (vd == REDACT_ERROR)
		return -1;
	if (vd == REDACT_DROP) {
		buf_reset(&w->out);
		vd = REDACT_CHANGED;
	}
	return vd == REDACT_CHANGED ? set_string(w, &s->status->message) : 0;
}

int
redact_otlp_pb(struct redact *r, struct Otlp__ExportTraceServiceRequest *req,
    uint64_t *counts)
{
	struct pbwalk w = {r, counts, {0}, {0}, 0};
	size_t i, j, k;
	int rc = 0;

	buf_init(&w.out);
	buf_init(&w.text);
	for (i = 0; rc == 0 && i < req->n_resource_spans; i++) {
		Otlp__ResourceSpans *rs = req->resource_spans[i];

		if (rs->resource != NULL)
			rc = walk_kvs(&w, NULL, &rs->resource->attributes,
			    &rs->resource->n_attributes);
		for (j = 0; rc == 0 && j < rs->n_scope_spans; j++) {
			Otlp__ScopeSpans *ss = rs->scope_spans[j];

			if (ss->scope != NULL)
				rc = walk_kvs(&w, NULL, &ss->scope->attributes,
				    &ss->scope->n_attributes);
			for (k = 0; rc == 0 && k < ss->n_spans; k++)
				rc = walk_span(&w, ss->spans[k]);
		}
	}
	buf_free(&w.out);
	buf_free(&w.text);
	return rc == -1 ? -1 : w.changes;
}
