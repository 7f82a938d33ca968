/* fuzz_body.c: libFuzzer target for the request bodies of the ingest API. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "daemon/event.h"
#include "daemon/jsonscan.h"

/*
 * Each input is one request body. It goes through what daemon/ingest.c does
 * with a body (parse_body, the route handlers, take_event): UTF-8 check,
 * cJSON parse, the raw span of the member that holds the record (or of each
 * element of the array that holds them), the record's normalizer. That is
 * done for every route on every input: POST /events ("event"), POST
 * /events/batch ("events", with is_single_session), POST /session/start
 * ("session"), PUT /events (the body itself), POST /events/model
 * ("model_event") and its batch ("model_events").
 *
 * Then, for every record accepted: its normalized text must be valid UTF-8,
 * parse whole as one object, carry the ids the normalizer returned, begin
 * with nothing but spliced defaults and then hold exactly the members cJSON
 * validated, and mean the same as what the normalizer's other path (the
 * object printed, no raw bytes) gives. An event must have the string
 * members event_id, session_id, parent_id, event_name and source. For every
 * member of the body, jsonscan must find the value cJSON finds. A record
 * refused must leave the output as it was, with a reason. Any violation
 * aborts, which libFuzzer reports as a crash.
 */

#define MAX_EVENT_BYTES (1024 * 1024)
#define DEFAULT_PROJECT "Proj \"q\" \\ \xc3\xa9"

/* How one route finds and checks its records. */
struct kind {
	const char *member;            /* NULL: the body itself */
	event_normalize_fn *normalize; /* event.h */
	int string_form;               /* may be a string holding the object */
	int is_event;                  /* the defaults of a trace event */
};

static const struct kind kind_event = {"event", event_normalize, 1, 1};
static const struct kind kind_events = {"events", event_normalize, 1, 1};
static const struct kind kind_session = {
    "session", event_session_normalize, 0, 0};
static const struct kind kind_update = {NULL, event_update_normalize, 0, 0};
static const struct kind kind_model = {
    "model_event", event_model_normalize, 0, 0};
static const struct kind kind_models = {
    "model_events", event_model_normalize, 0, 0};

struct gen {
	uint32_t n;
};

/* Deterministic ids, so that a crash reproduces from its input alone. */
static void
gen_uuid(char *out, void *arg)
{
	struct gen *g = arg;
	unsigned char b[16] = {0};

	g->n++;
	memcpy(b, &g->n, sizeof(g->n));
	b[15] = 0x5a;
	event_uuid_format(b, out);
}

static void __attribute__((noreturn))
violated(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_body: invariant violated: %s\n", what);
	if (text != NULL)
		fprintf(stderr, "fuzz_body: normalized text: %.2000s\n", text);
	abort();
}

static const char *const default_names[] = {
    "event_id",
    "session_id",
    "parent_id",
    "event_name",
    "source",
    "project",
};

static int
is_default_name(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(default_names) / sizeof(default_names[0]); i++)
		if (strcmp(s, default_names[i]) == 0)
			return 1;
	return 0;
}

static const char *
member_string(const cJSON *o, const char *name, const char *text)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		violated(name, text);
	return v->valuestring;
}

/*
 * Printed, not cJSON_Compare: that says an infinity ("1e999") differs from
 * itself. Both trees come from the same bytes, so they print the same.
 */
static int
same_value(const cJSON *a, const cJSON *b)
{
	char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
	/* Out of memory leaves nothing to compare. */
	int same = pa == NULL || pb == NULL || strcmp(pa, pb) == 0;

	cJSON_free(pa);
	cJSON_free(pb);
	return same;
}

/* The returned id, when there is one, is the member's value. */
static void
check_id(const cJSON *out, const char *name, const char *id, const char *text)
{
	if (id[0] == '\0')
		return;
	if (!event_uuid_valid(id))
		violated("a returned id is a UUID", text);
	if (strcmp(member_string(out, name, text), id) != 0)
		violated("the record carries the id returned", text);
}

/*
 * The normalized record text[0..len) of the object obj, with ids: check
 * what the upstream and the forwarder rely on.
 */
static void
check_normalized(const struct kind *k, const cJSON *obj, const char *text,
    size_t len, const struct event_ids *ids, const char *batch_session)
{
	const char *end = NULL;
	const cJSON *a, *b, *project;
	cJSON *out;
	int nobj = 0, nout = 0, skip;

	if (!json_utf8_valid(text, len))
		violated("normalized text is valid UTF-8", text);
	out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (out == NULL || end != text + len)
		violated("normalized text parses whole", text);
	if (!cJSON_IsObject(out))
		violated("normalized text is an object", text);
	check_id(out, "event_id", ids->event_id, text);
	check_id(out, "session_id", ids->session_id, text);
	if (k->is_event) {
		if (ids->event_id[0] == '\0' || ids->session_id[0] == '\0')
			violated("an event has both ids", text);
		member_string(out, "parent_id", text);
		member_string(out, "event_name", text);
		member_string(out, "source", text);
	}
	if (batch_session != NULL &&
	    strcmp(ids->session_id, batch_session) != 0)
		violated("a single-session batch keeps its session", text);
	project = cJSON_GetObjectItemCaseSensitive(out, "project");
	if (cJSON_GetObjectItemCaseSensitive(obj, "project") == NULL &&
	    project != NULL &&
	    strcmp(member_string(out, "project", text), DEFAULT_PROJECT) != 0)
		violated("a project added is default_project", text);
	if (k->is_event && project == NULL)
		violated("default_project is filled in", text);

	/* The spliced defaults come first, then the client's members. */
	for (a = obj->child; a != NULL; a = a->next)
		nobj++;
	for (b = out->child; b != NULL; b = b->next)
		nout++;
	skip = nout - nobj;
	if (skip < 0 || skip > 6)
		violated("only the defaults are added", text);
	for (b = out->child; skip > 0; b = b->next, skip--)
		if (b->string == NULL || !is_default_name(b->string))
			violated("added members are defaults", text);
	for (a = obj->child; a != NULL; a = a->next, b = b->next) {
		if (a->string == NULL || b->string == NULL ||
		    strcmp(a->string, b->string) != 0 || !same_value(a, b))
			violated(
			    "the spooled bytes are the validated object", text);
	}
	cJSON_Delete(out);
}

/*
 * The same record through the normalizer's other path, without raw bytes
 * (the object printed): the result must mean the same. gen is the id
 * generator's state from before the first call, so the ids agree too.
 */
static void
check_printed_path(const struct kind *k, const cJSON *obj,
    const struct event_opts *opts, struct gen gen, const char *text, size_t len)
{
	struct event_opts o = *opts;
	struct event_ids ids;
	struct buf out;
	cJSON *a, *b;
	char err[512], *pa, *pb;

	o.uuid_arg = &gen;
	buf_init(&out);
	if (k->normalize(
	        obj, NULL, 0, &o, "event", &out, &ids, err, sizeof(err)) != 0)
		violated(
		    "the printed path accepts what the raw path did", text);
	a = cJSON_ParseWithLength(text, len);
	b = cJSON_ParseWithLength(out.data, out.len);
	pa = cJSON_PrintUnformatted(a);
	pb = cJSON_PrintUnformatted(b);
	if (b == NULL || (pa != NULL && pb != NULL && strcmp(pa, pb) != 0))
		violated("the printed path gives the same record", out.data);
	cJSON_free(pa);
	cJSON_free(pb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	buf_free(&out);
}

/*
 * jsonscan must pick, for every member name of the object at body, the
 * value cJSON picks (the first with that name after decoding).
 */
static void
check_spans(const cJSON *root, const char *body, size_t len)
{
	const cJSON *c;
	size_t off, vlen;

	for (c = root->child; c != NULL; c = c->next) {
		const char *end = NULL;
		cJSON *v;

		if (c->string == NULL)
			continue;
		if (json_member_span(body, len, c->string, &off, &vlen) == -1)
			violated("jsonscan finds every member cJSON has", NULL);
		v = cJSON_ParseWithLengthOpts(body + off, vlen, &end, 0);
		if (v == NULL || end != body + off + vlen ||
		    !same_value(
		        v, cJSON_GetObjectItemCaseSensitive(root, c->string)))
			violated(
			    "jsonscan's span is the value cJSON picks", NULL);
		cJSON_Delete(v);
	}
}

/* ingest.c's take_event: an object, or (some kinds) a string holding one. */
static int
take_record(const struct kind *k, const cJSON *val, const char *raw,
    size_t rawlen, const struct event_opts *opts, struct buf *data,
    const char *batch_session)
{
	struct event_ids ids;
	struct gen gen = *(struct gen *)opts->uuid_arg;
	const cJSON *obj = val;
	cJSON *inner = NULL;
	const char *text = raw, *end = NULL;
	size_t len = rawlen, before = data->len;
	char err[512];
	int rc;

	if (k->string_form && cJSON_IsString(val)) {
		len = strlen(val->valuestring);
		text = json_trim(val->valuestring, &len);
		if (len > MAX_EVENT_BYTES)
			return 413;
		inner = cJSON_ParseWithLengthOpts(text, len, &end, 0);
		if (inner == NULL || end != text + len) {
			cJSON_Delete(inner);
			return 400;
		}
		obj = inner;
	} else if (cJSON_IsObject(val)) {
		if (rawlen > MAX_EVENT_BYTES)
			return 413;
	} else {
		return 400;
	}
	err[0] = '\0';
	memset(&ids, 0, sizeof(ids));
	rc = k->normalize(obj, text, len, opts, k->member ? "event" : "", data,
	    &ids, err, sizeof(err));
	if (rc == 0) {
		check_normalized(k, obj, data->data + before,
		    data->len - before, &ids, batch_session);
		check_printed_path(
		    k, obj, opts, gen, data->data + before, data->len - before);
	} else if (data->len != before || err[0] == '\0' ||
	    !json_utf8_valid(err, strlen(err))) {
		violated(
		    "a refused record leaves the output alone and says why",
		    NULL);
	}
	cJSON_Delete(inner);
	return rc == 0 ? 0 : 400;
}

/* ingest.c's parse_body: one JSON object, nothing after it. */
static cJSON *
parse_body(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;
	size_t rest;

	if (!json_utf8_valid(body, len))
		return NULL;
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL)
		return NULL;
	rest = (size_t)(body + len - end);
	(void)json_trim(end, &rest);
	if (rest != 0 || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static void
opts_init(struct event_opts *o, struct gen *g)
{
	memset(o, 0, sizeof(*o));
	o->default_project = DEFAULT_PROJECT;
	o->uuid_gen = gen_uuid;
	o->uuid_arg = g;
}

/* A route of one record: POST /events, /session/start, /events/model, PUT. */
static void
route_one(const struct kind *k, const cJSON *root, const char *body, size_t len,
    struct buf *data)
{
	struct event_opts opts;
	struct gen g = {0};
	const cJSON *rec = root;
	size_t off = 0, vlen = len;

	if (k->member != NULL) {
		rec = cJSON_GetObjectItemCaseSensitive(root, k->member);
		if (rec == NULL)
			return;
		vlen = 0;
		if (cJSON_IsObject(rec) &&
		    json_member_span(body, len, k->member, &off, &vlen) == -1)
			violated("jsonscan finds the member cJSON found", NULL);
	}
	opts_init(&opts, &g);
	buf_reset(data);
	take_record(k, rec, body + off, vlen, &opts, data, NULL);
}

/* A batch route: POST /events/batch, /events/model/batch. */
static void
route_batch(const struct kind *k, const cJSON *root, const char *body,
    size_t len, struct buf *data)
{
	const cJSON *events, *single, *e;
	struct event_opts opts;
	struct gen g = {0};
	char session[EVENT_UUID_LEN + 1];
	size_t *offs = NULL, *lens = NULL, off, vlen, n, i = 0;

	events = cJSON_GetObjectItemCaseSensitive(root, k->member);
	single = cJSON_GetObjectItemCaseSensitive(root, "is_single_session");
	if (!cJSON_IsArray(events) || (single != NULL && !cJSON_IsBool(single)))
		return;
	n = (size_t)cJSON_GetArraySize(events);
	offs = calloc(n ? n : 1, sizeof(*offs));
	lens = calloc(n ? n : 1, sizeof(*lens));
	if (offs == NULL || lens == NULL)
		goto done;
	if (json_member_span(body, len, k->member, &off, &vlen) == -1 ||
	    json_array_spans(body + off, vlen, offs, lens, n) != (long)n)
		violated("jsonscan finds the array elements cJSON found", NULL);
	opts_init(&opts, &g);
	session[0] = '\0';
	if (cJSON_IsTrue(single)) {
		/* ingest.c's batch_session, from the events */
		cJSON_ArrayForEach(e, events)
		{
			const cJSON *s = NULL;

			if (cJSON_IsObject(e))
				s = cJSON_GetObjectItemCaseSensitive(
				    e, "session_id");
			if (cJSON_IsString(s) &&
			    event_uuid_valid(s->valuestring)) {
				snprintf(session, sizeof(session), "%s",
				    s->valuestring);
				break;
			}
		}
		if (session[0] == '\0')
			gen_uuid(session, &g);
		opts.session_id = session;
	}
	buf_reset(data);
	cJSON_ArrayForEach(e, events)
	{
		if (take_record(k, e, body + off + offs[i], lens[i], &opts,
		        data, opts.session_id) != 0)
			break;
		i++;
	}
done:
	free(offs);
	free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct buf data;
	cJSON *root;
	char *body;

	/* A copy of exactly len bytes, so ASan sees any read past the end. */
	if ((body = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(body, in, len);
	if ((root = parse_body(body, len)) != NULL) {
		buf_init(&data);
		check_spans(root, body, len);
		route_one(&kind_event, root, body, len, &data);
		route_batch(&kind_events, root, body, len, &data);
		route_one(&kind_session, root, body, len, &data);
		route_one(&kind_update, root, body, len, &data);
		route_one(&kind_model, root, body, len, &data);
		route_batch(&kind_models, root, body, len, &data);
		buf_free(&data);
		cJSON_Delete(root);
	}
	free(body);
	return 0;
}
