/* fuzz_body.c: libFuzzer target for the ingest body path of POST /events and
 * /events/batch. */
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
 * for both routes (parse_body, handle_event / handle_batch, take_event):
 * UTF-8 check, cJSON parse, the raw spans of "event" or of each member of
 * "events", event_normalize. Every event that is accepted is then checked:
 * its normalized text must be valid UTF-8, parse as one object, carry the
 * ids event_normalize returned and the string defaults, and hold, after the
 * spliced defaults, exactly the members cJSON validated. Any violation
 * aborts, which libFuzzer reports as a crash.
 */

#define MAX_EVENT_BYTES (1024 * 1024)
#define DEFAULT_PROJECT "Proj \"q\" \\ \xc3\xa9"

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

/*
 * The normalized event text[0..len) of the object obj, with ids: check what
 * the upstream and the forwarder rely on.
 */
static void
check_normalized(const cJSON *obj, const char *text, size_t len,
    const struct event_ids *ids, const char *batch_session)
{
	const char *end = NULL;
	const cJSON *a, *b;
	cJSON *out;
	int nobj = 0, nout = 0, skip;

	if (!json_utf8_valid(text, len))
		violated("normalized text is valid UTF-8", text);
	out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (out == NULL || end != text + len)
		violated("normalized text parses whole", text);
	if (!cJSON_IsObject(out))
		violated("normalized text is an object", text);
	if (strcmp(member_string(out, "event_id", text), ids->event_id) != 0)
		violated("event_id equals the id returned", text);
	if (strcmp(member_string(out, "session_id", text), ids->session_id) !=
	    0)
		violated("session_id equals the id returned", text);
	member_string(out, "parent_id", text);
	member_string(out, "event_name", text);
	member_string(out, "source", text);
	if (!event_uuid_valid(ids->event_id) ||
	    !event_uuid_valid(ids->session_id))
		violated("returned ids are UUIDs", text);
	if (batch_session != NULL &&
	    strcmp(ids->session_id, batch_session) != 0)
		violated("a single-session batch keeps its session", text);
	if (cJSON_GetObjectItemCaseSensitive(obj, "project") == NULL &&
	    strcmp(member_string(out, "project", text), DEFAULT_PROJECT) != 0)
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
 * The same event through event_normalize's other path, without raw bytes
 * (the object printed): the result must mean the same. gen is the id
 * generator's state from before the first call, so the ids agree too.
 */
static void
check_printed_path(const cJSON *obj, const struct event_opts *opts,
    struct gen gen, const char *text, size_t len)
{
	struct event_opts o = *opts;
	struct event_ids ids;
	struct buf out;
	cJSON *a, *b;
	char err[512], *pa, *pb;

	o.uuid_arg = &gen;
	buf_init(&out);
	if (event_normalize(
	        obj, NULL, 0, &o, "event", &out, &ids, err, sizeof(err)) != 0)
		violated(
		    "the printed path accepts what the raw path did", text);
	a = cJSON_ParseWithLength(text, len);
	b = cJSON_ParseWithLength(out.data, out.len);
	pa = cJSON_PrintUnformatted(a);
	pb = cJSON_PrintUnformatted(b);
	if (b == NULL || (pa != NULL && pb != NULL && strcmp(pa, pb) != 0))
		violated("the printed path gives the same event", out.data);
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

/* ingest.c's take_event: an object, or a string holding one. */
static int
take_event(const cJSON *val, const char *raw, size_t rawlen,
    const struct event_opts *opts, struct buf *data, const char *batch_session)
{
	struct event_ids ids;
	struct gen gen = *(struct gen *)opts->uuid_arg;
	const cJSON *obj = val;
	cJSON *inner = NULL;
	const char *text = raw, *end = NULL;
	size_t len = rawlen, before = data->len;
	char err[512];
	int rc;

	if (cJSON_IsString(val)) {
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
	rc = event_normalize(
	    obj, text, len, opts, "event", data, &ids, err, sizeof(err));
	if (rc == 0) {
		check_normalized(obj, data->data + before, data->len - before,
		    &ids, batch_session);
		check_printed_path(
		    obj, opts, gen, data->data + before, data->len - before);
	} else if (data->len != before || err[0] == '\0' ||
	    !json_utf8_valid(err, strlen(err)))
		violated(
		    "a rejected event leaves the output alone and says why",
		    NULL);
	cJSON_Delete(inner);
	return rc == 0 ? 0 : 400;
}

/* ingest.c's parse_body. */
static cJSON *
parse_body(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;

	if (!json_utf8_valid(body, len))
		return NULL;
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root != NULL && !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* ingest.c's handle_event. */
static void
route_event(const char *body, size_t len, struct buf *data)
{
	struct event_opts opts;
	struct gen g = {0};
	const cJSON *ev;
	cJSON *root;
	size_t off = 0, vlen = 0;

	if ((root = parse_body(body, len)) == NULL)
		return;
	check_spans(root, body, len);
	ev = cJSON_GetObjectItemCaseSensitive(root, "event");
	if (ev != NULL) {
		if (cJSON_IsObject(ev) &&
		    json_member_span(body, len, "event", &off, &vlen) == -1)
			violated("jsonscan finds the member cJSON found", NULL);
		memset(&opts, 0, sizeof(opts));
		opts.default_project = DEFAULT_PROJECT;
		opts.uuid_gen = gen_uuid;
		opts.uuid_arg = &g;
		take_event(ev, body + off, vlen, &opts, data, NULL);
	}
	cJSON_Delete(root);
}

/* ingest.c's handle_batch. */
static void
route_batch(const char *body, size_t len, struct buf *data)
{
	const cJSON *events, *single, *e;
	struct event_opts opts;
	struct gen g = {0};
	char session[EVENT_UUID_LEN + 1];
	size_t *offs = NULL, *lens = NULL, off, vlen, n, i = 0;
	cJSON *root;

	if ((root = parse_body(body, len)) == NULL)
		return;
	events = cJSON_GetObjectItemCaseSensitive(root, "events");
	single = cJSON_GetObjectItemCaseSensitive(root, "is_single_session");
	if (!cJSON_IsArray(events) || (single != NULL && !cJSON_IsBool(single)))
		goto done;
	n = (size_t)cJSON_GetArraySize(events);
	offs = calloc(n ? n : 1, sizeof(*offs));
	lens = calloc(n ? n : 1, sizeof(*lens));
	if (offs == NULL || lens == NULL)
		goto done;
	if (json_member_span(body, len, "events", &off, &vlen) == -1 ||
	    json_array_spans(body + off, vlen, offs, lens, n) != (long)n)
		violated("jsonscan finds the array elements cJSON found", NULL);
	memset(&opts, 0, sizeof(opts));
	opts.default_project = DEFAULT_PROJECT;
	opts.uuid_gen = gen_uuid;
	opts.uuid_arg = &g;
	session[0] = '\0';
	if (cJSON_IsTrue(single)) {
		/* ingest.c's batch_session */
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
	cJSON_ArrayForEach(e, events)
	{
		if (take_event(e, body + off + offs[i], lens[i], &opts, data,
		        opts.session_id) != 0)
			break;
		i++;
	}
done:
	free(offs);
	free(lens);
	cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct buf data;
	char *body;

	/* A copy of exactly len bytes, so ASan sees any read past the end. */
	if ((body = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(body, in, len);
	buf_init(&data);
	route_event(body, len, &data);
	buf_reset(&data);
	route_batch(body, len, &data);
	buf_free(&data);
	free(body);
	return 0;
}
