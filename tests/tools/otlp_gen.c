/* otlp_gen.c: test and bench tool that writes OTLP trace exports, and prints
 * the spans of a protobuf export as JSON lines. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "common/buf.h"
#include "otlp/pb.h"
#include "otlp/pbjson.h"
#include "otlp/trace.pb-c.h"

/*
 * Writing: otlp_gen [-j] [-z gzip|deflate] [-n SPANS] [-r RESOURCES]
 * [-s SEED] [-a KEY=VALUE]... [-t TRACE_ID_HEX] [-N NAME] writes one
 * export to
 * stdout: protobuf, or with -j the OTLP JSON mapping (hex ids, 64-bit
 * integers as strings); -z compresses it. SPANS (default 3) are spread over
 * RESOURCES (default 1) resource_spans of one scope_spans each, the first
 * resources taking one more when they do not divide evenly.
 *
 * Ids, so that tests can predict them: every span's trace_id is
 * TRACE_ID_HEX, else the seed as 16 hex digits followed by
 * 0000000000000001; span i (0-based, counted across the export) has the
 * span_id of the seed's low 32 bits as 8 hex digits followed by i + 1 as 8;
 * span 0 has no parent, every other span has span 0 as its parent; every
 * third span (i % 3 == 2) links to span i - 1 of the same trace. Span i
 * is named "NAME i" (NAME: llm.chat).
 *
 * Each span carries gen_ai.* attributes (system, model, token counts,
 * temperature, a prompt), non-ASCII text ("héllo ✓ 日本"), a bool, an
 * array and a kvlist value, one event with an attribute, and the -a pairs
 * as string attributes (up to 16).
 *
 * Reading: otlp_gen -d [FILE] decodes a protobuf export (FILE or stdin;
 * not compressed) and prints one compact JSON line per span:
 * {"trace_id":hex,"span_id":hex,"parent_span_id":hex,"name":...,
 * "attributes":{key:value,...},"events":[{"name":...,"attributes":{...}}]}
 * with values as plain JSON (an int_value as a number, bytes as hex).
 * -D does the same on a concatenation of exports: repeated fields
 * concatenate, so that is one export of all their spans. -B reads lines of
 * base64, each one export (as tests/tools/fake_upstream logs a body), and
 * prints the spans of all.
 *
 * Exit 0, 1 on a failure (undecodable input, out of memory), 2 on a usage
 * error.
 */

#define MAX_EXTRA 16
#define BASE_TIME UINT64_C(1700000000000000000)

struct opts {
	int json;
	const char *zip; /* NULL, "gzip", "deflate" */
	unsigned long spans;
	unsigned long resources;
	uint64_t seed;
	const char *extra[MAX_EXTRA];
	size_t nextra;
	unsigned char trace_id[16];
	const char *name; /* span i is named "<name> <i>" */
};

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n > 0 ? n : 1, size);

	if (p == NULL) {
		fprintf(stderr, "otlp_gen: out of memory\n");
		exit(1);
	}
	return p;
}

static char *
xstrdup(const char *s)
{
	char *p = xcalloc(strlen(s) + 1, 1);

	memcpy(p, s, strlen(s));
	return p;
}

static ProtobufCBinaryData
bytes_of(const unsigned char *b, size_t n)
{
	ProtobufCBinaryData d;

	d.data = xcalloc(n, 1);
	memcpy(d.data, b, n);
	d.len = n;
	return d;
}

static Otlp__AnyValue *
any_new(void)
{
	Otlp__AnyValue *v = xcalloc(1, sizeof(*v));

	otlp__any_value__init(v);
	return v;
}

static Otlp__AnyValue *
any_str(const char *s)
{
	Otlp__AnyValue *v = any_new();

	v->value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = xstrdup(s);
	return v;
}

static Otlp__KeyValue *
kv(const char *key, Otlp__AnyValue *value)
{
	Otlp__KeyValue *k = xcalloc(1, sizeof(*k));

	otlp__key_value__init(k);
	k->key = xstrdup(key);
	k->value = value;
	return k;
}

static Otlp__KeyValue *
kv_int(const char *key, int64_t i)
{
	Otlp__AnyValue *v = any_new();

	v->value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
	v->int_value = i;
	return kv(key, v);
}

static Otlp__KeyValue *
kv_double(const char *key, double d)
{
	Otlp__AnyValue *v = any_new();

	v->value_case = OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE;
	v->double_value = d;
	return kv(key, v);
}

static Otlp__KeyValue *
kv_bool(const char *key, int b)
{
	Otlp__AnyValue *v = any_new();

	v->value_case = OTLP__ANY_VALUE__VALUE_BOOL_VALUE;
	v->bool_value = b;
	return kv(key, v);
}

/* ["retrieval", "<tag>"] */
static Otlp__KeyValue *
kv_tags(const char *key, const char *tag)
{
	Otlp__AnyValue *v = any_new();
	Otlp__ArrayValue *a = xcalloc(1, sizeof(*a));

	otlp__array_value__init(a);
	a->n_values = 2;
	a->values = xcalloc(2, sizeof(*a->values));
	a->values[0] = any_str("retrieval");
	a->values[1] = any_str(tag);
	v->value_case = OTLP__ANY_VALUE__VALUE_ARRAY_VALUE;
	v->array_value = a;
	return kv(key, v);
}

/* {"user": "<user>", "tier": 2} */
static Otlp__KeyValue *
kv_meta(const char *key, const char *user)
{
	Otlp__AnyValue *v = any_new();
	Otlp__KeyValueList *l = xcalloc(1, sizeof(*l));

	otlp__key_value_list__init(l);
	l->n_values = 2;
	l->values = xcalloc(2, sizeof(*l->values));
	l->values[0] = kv("user", any_str(user));
	l->values[1] = kv_int("tier", 2);
	v->value_case = OTLP__ANY_VALUE__VALUE_KVLIST_VALUE;
	v->kvlist_value = l;
	return kv(key, v);
}

static void
put_be(unsigned char *b, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--) {
		b[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static void
span_id(const struct opts *o, unsigned long i, unsigned char id[8])
{
	put_be(id, o->seed & 0xffffffffu, 4);
	put_be(id + 4, (uint64_t)i + 1, 4);
}

static Otlp__Span *
make_span(const struct opts *o, unsigned long i)
{
	Otlp__Span *s = xcalloc(1, sizeof(*s));
	Otlp__Span__Event *e = xcalloc(1, sizeof(*e));
	Otlp__Status *st = xcalloc(1, sizeof(*st));
	unsigned char id[8];
	char text[256];
	size_t k, n = 0;

	otlp__span__init(s);
	s->trace_id = bytes_of(o->trace_id, 16);
	span_id(o, i, id);
	s->span_id = bytes_of(id, 8);
	if (i > 0) {
		span_id(o, 0, id);
		s->parent_span_id = bytes_of(id, 8);
	}
	snprintf(text, sizeof(text), "%s %lu", o->name, i);
	s->name = xstrdup(text);
	s->kind = OTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
	s->start_time_unix_nano = BASE_TIME + (uint64_t)i * 1000000;
	s->end_time_unix_nano = s->start_time_unix_nano + 750000;
	s->attributes = xcalloc(11 + o->nextra, sizeof(*s->attributes));
	s->attributes[n++] = kv("gen_ai.system", any_str("openai"));
	s->attributes[n++] = kv("gen_ai.request.model", any_str("gpt-4o-mini"));
	s->attributes[n++] =
	    kv_int("gen_ai.usage.prompt_tokens", (int64_t)(o->seed % 1000 + i));
	s->attributes[n++] = kv_int("gen_ai.usage.completion_tokens", 42);
	s->attributes[n++] = kv_double("gen_ai.request.temperature", 0.7);
	snprintf(text, sizeof(text),
	    "Summarise this note for me, please: h\xc3\xa9llo \xe2\x9c\x93 "
	    "\xe6\x97\xa5\xe6\x9c\xac (%lu)",
	    i);
	s->attributes[n++] = kv("gen_ai.prompt.0.content", any_str(text));
	s->attributes[n++] = kv("gen_ai.prompt.0.role", any_str("user"));
	s->attributes[n++] = kv("text",
	    any_str("h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac"));
	s->attributes[n++] = kv_bool("llm.is_streaming", (int)(i % 2));
	s->attributes[n++] = kv_tags("honeyhive.tags", "t1");
	s->attributes[n++] = kv_meta("honeyhive.metadata", "u-1");
	for (k = 0; k < o->nextra; k++) {
		const char *eq = strchr(o->extra[k], '=');
		char *key = xstrdup(o->extra[k]);

		key[eq - o->extra[k]] = '\0';
		s->attributes[n++] = kv(key, any_str(eq + 1));
		free(key);
	}
	s->n_attributes = n;

	otlp__span__event__init(e);
	e->time_unix_nano = s->start_time_unix_nano + 500000;
	e->name = xstrdup("gen_ai.content.completion");
	snprintf(text, sizeof(text), "R\xc3\xa9ponse \xe2\x9c\x93 %lu", i);
	e->attributes = xcalloc(1, sizeof(*e->attributes));
	e->attributes[0] = kv("gen_ai.completion", any_str(text));
	e->n_attributes = 1;
	s->events = xcalloc(1, sizeof(*s->events));
	s->events[0] = e;
	s->n_events = 1;

	if (i % 3 == 2) {
		Otlp__Span__Link *l = xcalloc(1, sizeof(*l));

		otlp__span__link__init(l);
		l->trace_id = bytes_of(o->trace_id, 16);
		span_id(o, i - 1, id);
		l->span_id = bytes_of(id, 8);
		l->flags = 0x100;
		s->links = xcalloc(1, sizeof(*s->links));
		s->links[0] = l;
		s->n_links = 1;
	}
	otlp__status__init(st);
	st->code = OTLP__STATUS__STATUS_CODE__STATUS_CODE_OK;
	s->status = st;
	s->flags = 0x101;
	return s;
}

static Otlp__ExportTraceServiceRequest *
make_export(const struct opts *o)
{
	Otlp__ExportTraceServiceRequest *req = xcalloc(1, sizeof(*req));
	unsigned long r, i, next = 0;
	char text[64];

	otlp__export_trace_service_request__init(req);
	req->n_resource_spans = o->resources;
	req->resource_spans = xcalloc(o->resources, sizeof(void *));
	for (r = 0; r < o->resources; r++) {
		Otlp__ResourceSpans *rs = xcalloc(1, sizeof(*rs));
		Otlp__Resource *res = xcalloc(1, sizeof(*res));
		Otlp__ScopeSpans *ss = xcalloc(1, sizeof(*ss));
		Otlp__InstrumentationScope *sc = xcalloc(1, sizeof(*sc));
		unsigned long n =
		    o->spans / o->resources + (r < o->spans % o->resources);

		otlp__resource_spans__init(rs);
		otlp__resource__init(res);
		otlp__scope_spans__init(ss);
		otlp__instrumentation_scope__init(sc);
		snprintf(text, sizeof(text), "otlp-gen-%lu", r);
		res->attributes = xcalloc(2, sizeof(*res->attributes));
		res->attributes[0] = kv("service.name", any_str(text));
		res->attributes[1] = kv("telemetry.sdk.language", any_str("c"));
		res->n_attributes = 2;
		rs->resource = res;
		sc->name = xstrdup("otlp_gen");
		sc->version = xstrdup("1.0.0");
		ss->scope = sc;
		ss->spans = xcalloc(n, sizeof(*ss->spans));
		for (i = 0; i < n; i++)
			ss->spans[i] = make_span(o, next++);
		ss->n_spans = n;
		rs->scope_spans = xcalloc(1, sizeof(*rs->scope_spans));
		rs->scope_spans[0] = ss;
		rs->n_scope_spans = 1;
		req->resource_spans[r] = rs;
	}
	return req;
}

static void
add_hex(struct buf *b, const ProtobufCBinaryData *d)
{
	size_t i;

	buf_addch(b, '"');
	for (i = 0; i < d->len; i++)
		buf_printf(b, "%02x", d->data[i]);
	buf_addch(b, '"');
}

static void
json_span(struct buf *b, const Otlp__Span *s)
{
	size_t i;

	buf_addstr(b, "{\"traceId\":");
	add_hex(b, &s->trace_id);
	buf_addstr(b, ",\"spanId\":");
	add_hex(b, &s->span_id);
	if (s->parent_span_id.len > 0) {
		buf_addstr(b, ",\"parentSpanId\":");
		add_hex(b, &s->parent_span_id);
	}
	buf_addstr(b, ",\"name\":");
	buf_add_json_string(b, s->name);
	buf_printf(b,
	    ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64
	    "\",\"endTimeUnixNano\":\"%" PRIu64 "\",\"attributes\":",
	    (int)s->kind, s->start_time_unix_nano, s->end_time_unix_nano);
	otlp_pb_attrs_json(b, s->attributes, s->n_attributes);
	buf_addstr(b, ",\"events\":[");
	for (i = 0; i < s->n_events; i++) {
		const Otlp__Span__Event *e = s->events[i];

		buf_printf(b, "%s{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":",
		    i > 0 ? "," : "", e->time_unix_nano);
		buf_add_json_string(b, e->name);
		buf_addstr(b, ",\"attributes\":");
		otlp_pb_attrs_json(b, e->attributes, e->n_attributes);
		buf_addch(b, '}');
	}
	buf_addstr(b, "],\"links\":[");
	for (i = 0; i < s->n_links; i++) {
		buf_addstr(b, i > 0 ? ",{\"traceId\":" : "{\"traceId\":");
		add_hex(b, &s->links[i]->trace_id);
		buf_addstr(b, ",\"spanId\":");
		add_hex(b, &s->links[i]->span_id);
		buf_printf(b, ",\"flags\":%" PRIu32 "}", s->links[i]->flags);
	}
	buf_printf(b, "],\"status\":{\"code\":%d},\"flags\":%" PRIu32 "}",
	    s->status != NULL ? (int)s->status->code : 0, s->flags);
}

static void
json_export(struct buf *b, const Otlp__ExportTraceServiceRequest *req)
{
	size_t r, j, k;

	buf_addstr(b, "{\"resourceSpans\":[");
	for (r = 0; r < req->n_resource_spans; r++) {
		const Otlp__ResourceSpans *rs = req->resource_spans[r];

		buf_addstr(b,
		    r > 0 ? ",{\"resource\":{\"attributes\":"
		          : "{\"resource\":{\"attributes\":");
		otlp_pb_attrs_json(
		    b, rs->resource->attributes, rs->resource->n_attributes);
		buf_addstr(b, "},\"scopeSpans\":[");
		for (j = 0; j < rs->n_scope_spans; j++) {
			const Otlp__ScopeSpans *ss = rs->scope_spans[j];

			buf_addstr(b,
			    j > 0 ? ",{\"scope\":{\"name\":"
			          : "{\"scope\":{\"name\":");
			buf_add_json_string(b, ss->scope->name);
			buf_addstr(b, ",\"version\":");
			buf_add_json_string(b, ss->scope->version);
			buf_addstr(b, "},\"spans\":[");
			for (k = 0; k < ss->n_spans; k++) {
				if (k > 0)
					buf_addch(b, ',');
				json_span(b, ss->spans[k]);
			}
			buf_addstr(b, "]}");
		}
		buf_addstr(b, "]}");
	}
	buf_addstr(b, "]}\n");
}

static int
compress_to(const char *how, const struct buf *in, struct buf *out)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
	        strcmp(how, "gzip") == 0 ? 16 + MAX_WBITS : MAX_WBITS, 8,
	        Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	if (buf_reserve(out, deflateBound(&z, in->len)) == -1) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (unsigned char *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = (unsigned char *)out->data;
	z.avail_out = (uInt)(out->cap - 1);
	rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

static int
hex_id(const char *s, unsigned char *out, size_t n)
{
	size_t i;

	if (strlen(s) != 2 * n)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 ||
		    strchr("0123456789abcdefABCDEF", s[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", s[2 * i + 1]) == NULL)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int
generate(const struct opts *o)
{
	Otlp__ExportTraceServiceRequest *req = make_export(o);
	struct buf raw, zipped;
	const struct buf *w = &raw;
	int rc = 0;

	buf_init(&raw);
	buf_init(&zipped);
	if (o->json) {
		json_export(&raw, req);
	} else {
		size_t n =
		    otlp__export_trace_service_request__get_packed_size(req);

		if (buf_reserve(&raw, n) == 0) {
			otlp__export_trace_service_request__pack(
			    req, (uint8_t *)raw.data);
			raw.len = n;
		}
	}
	if (buf_failed(&raw)) {
		fprintf(stderr, "otlp_gen: out of memory\n");
		rc = 1;
	} else if (o->zip != NULL) {
		if (compress_to(o->zip, &raw, &zipped) == -1) {
			fprintf(stderr, "otlp_gen: compression failed\n");
			rc = 1;
		}
		w = &zipped;
	}
	if (rc == 0 && w->len > 0 &&
	    fwrite(w->data, 1, w->len, stdout) != w->len)
		rc = 1;
	otlp__export_trace_service_request__free_unpacked(req, NULL);
	buf_free(&raw);
	buf_free(&zipped);
	return rc;
}

/* An AnyValue as plain JSON. */
static void plain_any(struct buf *b, const Otlp__AnyValue *v);

static void
plain_attrs(struct buf *b, Otlp__KeyValue **kvs, size_t n)
{
	size_t i;

	buf_addch(b, '{');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_addch(b, ',');
		buf_add_json_string(b, kvs[i]->key);
		buf_addch(b, ':');
		plain_any(b, kvs[i]->value);
	}
	buf_addch(b, '}');
}

static void
plain_any(struct buf *b, const Otlp__AnyValue *v)
{
	size_t i;

	if (v == NULL) {
		buf_addstr(b, "null");
		return;
	}
	switch (v->value_case) {
	case OTLP__ANY_VALUE__VALUE_STRING_VALUE:
		buf_add_json_string(b, v->string_value);
		break;
	case OTLP__ANY_VALUE__VALUE_BOOL_VALUE:
		buf_addstr(b, v->bool_value ? "true" : "false");
		break;
	case OTLP__ANY_VALUE__VALUE_INT_VALUE:
		buf_printf(b, "%" PRId64, v->int_value);
		break;
	case OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
		otlp_pb_double_json(b, v->double_value);
		break;
	case OTLP__ANY_VALUE__VALUE_ARRAY_VALUE:
		buf_addch(b, '[');
		for (i = 0; i < v->array_value->n_values; i++) {
			if (i > 0)
				buf_addch(b, ',');
			plain_any(b, v->array_value->values[i]);
		}
		buf_addch(b, ']');
		break;
	case OTLP__ANY_VALUE__VALUE_KVLIST_VALUE:
		plain_attrs(
		    b, v->kvlist_value->values, v->kvlist_value->n_values);
		break;
	case OTLP__ANY_VALUE__VALUE_BYTES_VALUE:
		add_hex(b, &v->bytes_value);
		break;
	default:
		buf_addstr(b, "null");
	}
}

static void
print_span(struct buf *b, const Otlp__Span *s)
{
	size_t i;

	buf_reset(b);
	buf_addstr(b, "{\"trace_id\":");
	add_hex(b, &s->trace_id);
	buf_addstr(b, ",\"span_id\":");
	add_hex(b, &s->span_id);
	buf_addstr(b, ",\"parent_span_id\":");
	add_hex(b, &s->parent_span_id);
	buf_addstr(b, ",\"name\":");
	buf_add_json_string(b, s->name);
	buf_addstr(b, ",\"attributes\":");
	plain_attrs(b, s->attributes, s->n_attributes);
	buf_addstr(b, ",\"events\":[");
	for (i = 0; i < s->n_events; i++) {
		buf_addstr(b, i > 0 ? ",{\"name\":" : "{\"name\":");
		buf_add_json_string(b, s->events[i]->name);
		buf_addstr(b, ",\"attributes\":");
		plain_attrs(
		    b, s->events[i]->attributes, s->events[i]->n_attributes);
		buf_addch(b, '}');
	}
	buf_addstr(b, "]}\n");
	if (buf_failed(b))
		fputs("{\"error\":\"out of memory\"}\n", stdout);
	else
		fwrite(b->data, 1, b->len, stdout);
}

/* Print the spans of the protobuf export in[0..len) as JSON lines. */
static int
decode_buf(const char *in, size_t len)
{
	struct buf line;
	struct otlp_pb *pb;
	Otlp__ExportTraceServiceRequest *req;
	char err[512];
	size_t r, j, k;

	if (otlp_pb_decode(in, len, (size_t)1 << 30, &pb, err, sizeof(err)) !=
	    OTLP_OK) {
		fprintf(stderr, "otlp_gen: %s\n", err);
		return 1;
	}
	req = otlp_pb_request(pb);
	buf_init(&line);
	for (r = 0; r < req->n_resource_spans; r++)
		for (j = 0; j < req->resource_spans[r]->n_scope_spans; j++) {
			const Otlp__ScopeSpans *ss =
			    req->resource_spans[r]->scope_spans[j];

			for (k = 0; k < ss->n_spans; k++)
				print_span(&line, ss->spans[k]);
		}
	buf_free(&line);
	otlp_pb_free(pb);
	return 0;
}

static int
decode(const char *path)
{
	FILE *f = stdin;
	struct buf in;
	char chunk[65536];
	size_t n;
	int rc;

	if (path != NULL && (f = fopen(path, "rb")) == NULL) {
		perror(path);
		return 1;
	}
	buf_init(&in);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&in, chunk, n) == -1) {
			fprintf(stderr, "otlp_gen: out of memory\n");
			return 1;
		}
	if (f != stdin)
		fclose(f);
	rc = decode_buf(in.data != NULL ? in.data : "", in.len);
	buf_free(&in);
	return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

/* The value of a base64 digit, or -1. */
static int
b64_digit(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * -B: every line of stdin is one export in base64 (as the fake upstream
 * logs them): the spans of all, in one process.
 */
static int
decode_b64_lines(void)
{
	struct buf out;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	buf_init(&out);
	while ((n = getline(&line, &cap, stdin)) != -1) {
		unsigned v = 0, bits = 0;

		buf_reset(&out);
		for (ssize_t i = 0; i < n; i++) {
			int d = b64_digit((unsigned char)line[i]);

			if (d < 0)
				continue;
			v = (v << 6) | (unsigned)d;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				buf_addch(&out, (char)((v >> bits) & 0xff));
			}
		}
		if (buf_failed(&out))
			rc = 1;
		else if (decode_buf(out.data != NULL ? out.data : "", out.len))
			rc = 1;
	}
	free(line);
	buf_free(&out);
	return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: otlp_gen [-j] [-z gzip|deflate] [-n SPANS] [-r RESOURCES] "
	    "[-s SEED] [-a KEY=VALUE]... [-t TRACE_ID_HEX] [-N NAME]\n"
	    "       otlp_gen -d|-D [FILE]\n"
	    "       otlp_gen -B\n");
	return 2;
}

static int
count_arg(const char *s, unsigned long *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v > 10000000)
		return -1;
	*out = v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char *end;
	int ch, dec = 0, have_trace = 0;

	memset(&o, 0, sizeof(o));
	o.spans = 3;
	o.resources = 1;
	o.name = "llm.chat";
	while ((ch = getopt(argc, argv, "jz:n:r:s:a:t:N:dDB")) != -1) {
		switch (ch) {
		case 'j':
			o.json = 1;
			break;
		case 'z':
			if (strcmp(optarg, "gzip") != 0 &&
			    strcmp(optarg, "deflate") != 0)
				return usage();
			o.zip = optarg;
			break;
		case 'n':
			if (count_arg(optarg, &o.spans) == -1)
				return usage();
			break;
		case 'r':
			if (count_arg(optarg, &o.resources) == -1)
				return usage();
			break;
		case 's':
			o.seed = strtoull(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0')
				return usage();
			break;
		case 'a':
			if (o.nextra == MAX_EXTRA ||
			    strchr(optarg, '=') == NULL || optarg[0] == '=')
				return usage();
			o.extra[o.nextra++] = optarg;
			break;
		case 'N':
			o.name = optarg;
			break;
		case 't':
			if (hex_id(optarg, o.trace_id, 16) == -1)
				return usage();
			have_trace = 1;
			break;
		case 'd':
		case 'D':
			dec = 1;
			break;
		case 'B':
			dec = 2;
			break;
		default:
			return usage();
		}
	}
	if (dec == 2)
		return decode_b64_lines();
	if (dec)
		return decode(optind < argc ? argv[optind] : NULL);
	if (optind != argc || o.resources == 0)
		return usage();
	if (!have_trace) {
		put_be(o.trace_id, o.seed, 8);
		put_be(o.trace_id + 8, 1, 8);
	}
	return generate(&o);
}
