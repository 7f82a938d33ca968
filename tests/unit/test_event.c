/* test_event.c: unit tests for event validation and defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/uuid.h"
#include "daemon/event.h"
#include "tests/support/check.h"
#include "tests/support/unit.h"

#define REF_SESSION "caf77ace-3417-4da4-944d-f4a0688f3c23"
#define REF_EVENT "7f22137a-6911-4ed3-bc36-110f1dde6b66"
#define BATCH_SESSION "11111111-2222-4333-8444-555555555555"

/* Deterministic ids: 00000001-0000-4000-8000-000000000000, then 2, ... */
struct counter {
	unsigned n;
};

static void
counter_uuid(char *out, void *arg)
{
	struct counter *c = arg;

	c->n++;
	snprintf(
	    out, EVENT_UUID_LEN + 1, "%08x-0000-4000-8000-000000000000", c->n);
}

static void
bad_uuid(char *out, void *arg)
{
	(void)arg;
	snprintf(out, EVENT_UUID_LEN + 1, "not-a-uuid\"");
}

/*
 * One normalization, from the raw bytes when raw is set, else from the tree.
 * The counter restarts so both paths generate the same ids.
 */
struct result {
	int rc;
	struct buf out;
	struct event_ids ids;
	char err[256];
};

/*
 * The three ways to call a normalizer: the tree printed, the tree with its
 * raw bytes, the raw bytes alone (read without a tree).
 */
enum way { PRINTED, RAW, VIEW };

/* As normalize_one, with any of the normalizers, naming the body path. */
static void
normalize_kind(event_normalize_fn *fn, const char *path, const char *json,
    const struct event_opts *opts, enum way way, struct result *r)
{
	cJSON *obj = cJSON_Parse(json);
	struct event_opts o = *opts;
	struct counter c = {0};

	CHECK(obj != NULL, "test input is not JSON: %s", json);
	if (o.uuid_gen == counter_uuid)
		o.uuid_arg = &c;
	buf_init(&r->out);
	memset(&r->ids, 0, sizeof(r->ids));
	r->err[0] = '\0';
	r->rc = fn(way == VIEW ? NULL : obj, way != PRINTED ? json : NULL,
	    way != PRINTED ? strlen(json) : 0, &o, path, &r->out, &r->ids,
	    r->err, sizeof(r->err));
	cJSON_Delete(obj);
}

/*
 * The raw bytes read without a tree must give what they give with one:
 * the same verdict, error, ids and bytes.
 */
static void
view_agrees(event_normalize_fn *fn, const char *path, const char *json,
    const struct event_opts *opts, const struct result *r)
{
	struct result v;

	normalize_kind(fn, path, json, opts, VIEW, &v);
	CHECK(v.rc == r->rc && strcmp(v.err, r->err) == 0,
	    "tree and view disagree on %s: %d (%s) vs %d (%s)", json, r->rc,
	    r->err, v.rc, v.err);
	CHECK(strcmp(v.ids.event_id, r->ids.event_id) == 0 &&
	        strcmp(v.ids.session_id, r->ids.session_id) == 0,
	    "tree and view report different ids for %s", json);
	CHECK(v.out.len == r->out.len &&
	        (v.out.len == 0 ||
	            memcmp(v.out.data, r->out.data, v.out.len) == 0),
	    "tree and view give different bytes for %s:\n%.*s\n%.*s", json,
	    (int)r->out.len, r->out.data, (int)v.out.len, v.out.data);
	buf_free(&v.out);
}

static void
normalize_one(const char *json, const struct event_opts *opts, enum way way,
    struct result *r)
{
	normalize_kind(event_normalize, "event", json, opts, way, r);
}

/*
 * Normalize json both ways and check the two agree: same verdict, same error,
 * same ids, and outputs that are equal JSON. The raw result is kept in r.
 */
static void
normalize_both_kind(event_normalize_fn *fn, const char *path, const char *json,
    const struct event_opts *opts, struct result *r)
{
	struct result t;
	cJSON *a, *b;
	char *pa, *pb;

	normalize_kind(fn, path, json, opts, RAW, r);
	normalize_kind(fn, path, json, opts, PRINTED, &t);
	view_agrees(fn, path, json, opts, r);
	CHECK(r->rc == t.rc,
	    "raw and printed paths disagree on %s: %d (%s) vs %d (%s)", json,
	    r->rc, r->err, t.rc, t.err);
	if (r->rc == -1) {
		CHECK(strcmp(r->err, t.err) == 0,
		    "raw and printed paths give different errors for %s: "
		    "\"%s\" vs \"%s\"",
		    json, r->err, t.err);
	} else {
		CHECK(strcmp(r->ids.event_id, t.ids.event_id) == 0 &&
		        strcmp(r->ids.session_id, t.ids.session_id) == 0,
		    "raw and printed paths report different ids for %s", json);
		a = cJSON_Parse(r->out.data);
		b = cJSON_Parse(t.out.data);
		CHECK(
		    a != NULL, "raw-path output is not JSON: %s", r->out.data);
		CHECK(b != NULL, "printed-path output is not JSON: %s",
		    t.out.data);
		/*
		 * Compared printed, not with cJSON_Compare: that looks members
		 * up by name, so it finds an object with a repeated unknown
		 * member unequal even to itself.
		 */
		pa = cJSON_PrintUnformatted(a);
		pb = cJSON_PrintUnformatted(b);
		CHECK(pa != NULL && pb != NULL && strcmp(pa, pb) == 0,
		    "raw and printed outputs differ for %s:\n%s\n%s", json,
		    r->out.data, t.out.data);
		cJSON_free(pa);
		cJSON_free(pb);
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
	buf_free(&t.out);
}

static void
normalize_both(
    const char *json, const struct event_opts *opts, struct result *r)
{
	normalize_both_kind(event_normalize, "event", json, opts, r);
}

static const struct event_opts plain_opts = {
    NULL, NULL, counter_uuid, NULL, NULL};

static void
test_reference_event_unchanged(void **state)
{
	struct event_opts o = {"Other project", NULL, counter_uuid, NULL, NULL};
	struct result r;
	cJSON *orig, *again;
	size_t len;
	char *ref = test_data_read("reference_event.json", &len);

	(void)state;
	normalize_both(ref, &o, &r);
	CHECK(r.rc == 0, "reference event rejected: %s", r.err);
	CHECK(r.out.len == len && memcmp(r.out.data, ref, len) == 0,
	    "reference event not passed through byte for byte:\n%s",
	    r.out.data);
	CHECK(strcmp(r.ids.event_id, REF_EVENT) == 0,
	    "reference event_id reported as %s", r.ids.event_id);
	CHECK(strcmp(r.ids.session_id, REF_SESSION) == 0,
	    "reference session_id reported as %s", r.ids.session_id);
	buf_free(&r.out);

	/* Without raw bytes the output is printed: equal JSON, other bytes. */
	normalize_one(ref, &o, PRINTED, &r);
	CHECK(r.rc == 0, "reference event rejected on the printed path: %s",
	    r.err);
	orig = cJSON_Parse(ref);
	again = cJSON_Parse(r.out.data);
	CHECK(again != NULL && cJSON_Compare(orig, again, 1),
	    "reference event printed is not the same JSON:\n%s", r.out.data);
	cJSON_Delete(orig);
	cJSON_Delete(again);
	buf_free(&r.out);

	/* The session it names is the batch's session: still unchanged. */
	o.session_id = REF_SESSION;
	normalize_both(ref, &o, &r);
	CHECK(
	    r.rc == 0 && r.out.len == len && memcmp(r.out.data, ref, len) == 0,
	    "reference event in its own single session changed: %s", r.err);
	buf_free(&r.out);
	free(ref);
}

/* White space around the raw object is dropped; the object stays as is. */
static void
test_raw_with_white_space(void **state)
{
	const char *obj =
	    "{\"event_type\":\"tool\",\"inputs\":{},"
	    "\"event_id\":\"" REF_EVENT "\",\"session_id\":\"" REF_SESSION
	    "\",\"parent_id\":\"" REF_SESSION
	    "\",\"event_name\":\"n\",\"source\":\"s\"}";
	char text[512];
	struct buf out;
	struct event_ids ids;
	char err[128];
	cJSON *tree;
	int rc;

	(void)state;
	snprintf(text, sizeof(text), " \n\t%s\r\n", obj);
	tree = cJSON_Parse(text);
	buf_init(&out);
	rc = event_normalize(tree, text, strlen(text), &plain_opts, "event",
	    &out, &ids, err, sizeof(err));
	CHECK(rc == 0, "padded raw object rejected: %s", err);
	CHECK(strcmp(out.data, obj) == 0,
	    "padded raw object: output is not the object itself: %s", out.data);
	buf_free(&out);
	cJSON_Delete(tree);
}

static int
is_v4(const char *s)
{
	return event_uuid_valid(s) && s[14] == '4' &&
	    strchr("89ab", s[19]) != NULL && s[19] != '\0';
}

static void
test_minimal_event_defaults(void **state)
{
	static const char *const want_keys[] = {"event_id", "session_id",
	    "parent_id", "event_name", "source", "event_type", "inputs"};
	struct event_opts o = {NULL, NULL, uuid_v4, NULL, NULL};
	const char *json = "{\"event_type\":\"chain\",\"inputs\":{}}";
	struct result r;
	const cJSON *c;
	cJSON *out;
	size_t i, n = 0;

	(void)state;
	normalize_one(json, &o, RAW, &r);
	CHECK(r.rc == 0, "minimal event rejected: %s", r.err);
	CHECK(is_v4(r.ids.event_id), "generated event_id %s is not a v4 UUID",
	    r.ids.event_id);
	CHECK(is_v4(r.ids.session_id),
	    "generated session_id %s is not a v4 UUID", r.ids.session_id);
	CHECK(strcmp(r.ids.event_id, r.ids.session_id) != 0,
	    "event_id and session_id generated equal");
	out = cJSON_Parse(r.out.data);
	CHECK(out != NULL, "minimal event output is not JSON: %s", r.out.data);
	for (c = out->child; c != NULL; c = c->next)
		n++;
	CHECK(n == 7, "minimal event output has %zu members, want 7: %s", n,
	    r.out.data);
	for (i = 0; i < 7; i++)
		CHECK(
		    cJSON_GetObjectItemCaseSensitive(out, want_keys[i]) != NULL,
		    "minimal event output lacks %s: %s", want_keys[i],
		    r.out.data);
	CHECK(
	    strcmp(
	        cJSON_GetObjectItemCaseSensitive(out, "event_id")->valuestring,
	        r.ids.event_id) == 0,
	    "event_id in output differs from the reported one");
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(out, "session_id")
	                 ->valuestring,
	          r.ids.session_id) == 0,
	    "session_id in output differs from the reported one");
	CHECK(
	    strcmp(
	        cJSON_GetObjectItemCaseSensitive(out, "parent_id")->valuestring,
	        r.ids.session_id) == 0,
	    "parent_id is not the session_id: %s", r.out.data);
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(out, "event_name")
	                 ->valuestring,
	          "unknown") == 0,
	    "event_name default is not \"unknown\"");
	CHECK(
	    strcmp(cJSON_GetObjectItemCaseSensitive(out, "source")->valuestring,
	        "unknown") == 0,
	    "source default is not \"unknown\"");
	cJSON_Delete(out);
	buf_free(&r.out);
}

/* The exact bytes: defaults first, then the client's text after its '{'. */
static void
test_minimal_event_exact_bytes(void **state)
{
	const char *json = "{\"event_type\":\"chain\", \"inputs\":{ }}";
	const char *want =
	    "{\"event_id\":\"00000001-0000-4000-8000-000000000000\","
	    "\"session_id\":\"00000002-0000-4000-8000-000000000000\","
	    "\"parent_id\":\"00000002-0000-4000-8000-000000000000\","
	    "\"event_name\":\"unknown\",\"source\":\"unknown\","
	    "\"project\":\"P\","
	    "\"event_type\":\"chain\", \"inputs\":{ }}";
	struct event_opts o = {"P", NULL, counter_uuid, NULL, NULL};
	struct result r;

	(void)state;
	normalize_both(json, &o, &r);
	CHECK(r.rc == 0, "minimal event rejected: %s", r.err);
	CHECK(strcmp(r.out.data, want) == 0,
	    "minimal event spliced wrong:\n got %s\nwant %s", r.out.data, want);
	buf_free(&r.out);
}

/* Only absent members are added, each given one is kept. */
static void
test_partial_defaults(void **state)
{
	const char *json = "{\"event_type\":\"tool\",\"inputs\":{},"
	                   "\"session_id\":\"" REF_SESSION "\","
	                   "\"source\":\"sdk\"}";
	const char *want =
	    "{\"event_id\":\"00000001-0000-4000-8000-000000000000\","
	    "\"parent_id\":\"" REF_SESSION "\","
	    "\"event_name\":\"unknown\","
	    "\"event_type\":\"tool\",\"inputs\":{},"
	    "\"session_id\":\"" REF_SESSION "\",\"source\":\"sdk\"}";
	struct result r;

	(void)state;
	normalize_both(json, &plain_opts, &r);
	CHECK(r.rc == 0, "event with some members rejected: %s", r.err);
	CHECK(strcmp(r.out.data, want) == 0,
	    "partial defaults spliced wrong:\n got %s\nwant %s", r.out.data,
	    want);
	CHECK(strcmp(r.ids.session_id, REF_SESSION) == 0,
	    "given session_id reported as %s", r.ids.session_id);
	buf_free(&r.out);
}

static void
test_default_project(void **state)
{
	const char *bare = "{\"event_type\":\"model\",\"inputs\":{}}";
	const char *named =
	    "{\"event_type\":\"model\",\"inputs\":{},\"project\":\"Mine\"}";
	struct event_opts o = {
	    "De\"fault\\ \xC3\xA9", NULL, counter_uuid, NULL, NULL};
	struct result r;
	const cJSON *p;
	cJSON *out;

	(void)state;
	normalize_both(bare, &o, &r);
	CHECK(r.rc == 0, "event without project rejected: %s", r.err);
	out = cJSON_Parse(r.out.data);
	CHECK(out != NULL, "output with default project is not JSON: %s",
	    r.out.data);
	p = cJSON_GetObjectItemCaseSensitive(out, "project");
	CHECK(
	    cJSON_IsString(p) && strcmp(p->valuestring, o.default_project) == 0,
	    "default project not filled in: %s", r.out.data);
	cJSON_Delete(out);
	buf_free(&r.out);

	normalize_both(named, &o, &r);
	CHECK(r.rc == 0, "event with project rejected: %s", r.err);
	out = cJSON_Parse(r.out.data);
	p = cJSON_GetObjectItemCaseSensitive(out, "project");
	CHECK(cJSON_IsString(p) && strcmp(p->valuestring, "Mine") == 0,
	    "event's own project overridden: %s", r.out.data);
	CHECK(strstr(r.out.data, "Default") == NULL,
	    "default project added beside the event's own: %s", r.out.data);
	cJSON_Delete(out);
	buf_free(&r.out);

	o.default_project = "";
	normalize_both(bare, &o, &r);
	CHECK(r.rc == 0 && strstr(r.out.data, "\"project\"") == NULL,
	    "empty default_project added a project: %s", r.out.data);
	buf_free(&r.out);

	o.default_project = NULL;
	normalize_both(bare, &o, &r);
	CHECK(r.rc == 0 && strstr(r.out.data, "\"project\"") == NULL,
	    "NULL default_project added a project: %s", r.out.data);
	buf_free(&r.out);
}

static void
test_single_session(void **state)
{
	struct event_opts o = {NULL, BATCH_SESSION, counter_uuid, NULL, NULL};
	struct result r;
	cJSON *out;

	(void)state;
	normalize_both("{\"event_type\":\"chain\",\"inputs\":{}}", &o, &r);
	CHECK(r.rc == 0, "single session: bare event rejected: %s", r.err);
	CHECK(strcmp(r.ids.session_id, BATCH_SESSION) == 0,
	    "single session: event got session %s, not the batch's",
	    r.ids.session_id);
	CHECK(
	    strcmp(r.ids.event_id, "00000001-0000-4000-8000-000000000000") == 0,
	    "single session: event_id %s is not the first generated id",
	    r.ids.event_id);
	out = cJSON_Parse(r.out.data);
	CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(out, "session_id")
	                 ->valuestring,
	          BATCH_SESSION) == 0 &&
	        strcmp(cJSON_GetObjectItemCaseSensitive(out, "parent_id")
	                   ->valuestring,
	            BATCH_SESSION) == 0,
	    "single session: session_id/parent_id not the batch's: %s",
	    r.out.data);
	cJSON_Delete(out);
	buf_free(&r.out);

	normalize_both("{\"event_type\":\"chain\",\"inputs\":{},"
	               "\"session_id\":\"" BATCH_SESSION "\"}",
	    &o, &r);
	CHECK(r.rc == 0,
	    "single session: event naming the batch's session "
	    "rejected: %s",
	    r.err);
	buf_free(&r.out);

	normalize_both("{\"event_type\":\"chain\",\"inputs\":{},"
	               "\"session_id\":\"" REF_SESSION "\"}",
	    &o, &r);
	CHECK(r.rc == -1 &&
	        strcmp(r.err,
	            "event.session_id: differs from the "
	            "batch's session") == 0,
	    "single session: foreign session not rejected right: rc %d, "
	    "\"%s\"",
	    r.rc, r.err);
	buf_free(&r.out);

	/* Ids compare byte for byte, as the upstream keeps them. */
	normalize_both(
	    "{\"event_type\":\"chain\",\"inputs\":{},"
	    "\"session_id\":\"11111111-2222-4333-8444-555555555555\","
	    "\"x\":0}",
	    &o, &r);
	CHECK(r.rc == 0, "single session: same session rejected: %s", r.err);
	buf_free(&r.out);
	o.session_id = "AAAAAAAA-2222-4333-8444-555555555555";
	normalize_both(
	    "{\"event_type\":\"chain\",\"inputs\":{},"
	    "\"session_id\":\"aaaaaaaa-2222-4333-8444-555555555555\"}",
	    &o, &r);
	CHECK(r.rc == -1,
	    "single session: session in other letter case "
	    "accepted");
	buf_free(&r.out);

	o.session_id = "not a uuid";
	normalize_both("{\"event_type\":\"chain\",\"inputs\":{}}", &o, &r);
	CHECK(r.rc == -1 && strstr(r.err, "event.session_id:") == r.err,
	    "single session: batch session that is no UUID accepted: %s",
	    r.err);
	buf_free(&r.out);
}

struct rule_case {
	const char *member; /* text after the required members, or "" */
	const char *want;   /* NULL: accepted; else the whole error text */
};

#define BASE "\"event_type\":\"chain\",\"inputs\":{}"

static void
run_kind_cases(event_normalize_fn *fn, const char *path, const char *what,
    const struct rule_case *cases, size_t n, const char *prefix)
{
	char json[512];
	struct result r;
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(json, sizeof(json), "{%s%s}", prefix, cases[i].member);
		normalize_both_kind(fn, path, json, &plain_opts, &r);
		if (cases[i].want == NULL)
			CHECK(r.rc == 0, "%s: %s rejected: %s", what, json,
			    r.err);
		else
			CHECK(r.rc == -1 && strcmp(r.err, cases[i].want) == 0,
			    "%s: %s gave rc %d \"%s\", want error \"%s\"", what,
			    json, r.rc, r.err, cases[i].want);
		buf_free(&r.out);
	}
}

static void
run_rule_cases(const char *what, const struct rule_case *cases, size_t n,
    const char *prefix)
{
	run_kind_cases(event_normalize, "event", what, cases, n, prefix);
}

static void
test_required_rules(void **state)
{
	static const struct rule_case cases[] = {
	    {"\"event_type\":\"chain\",\"inputs\":{}", NULL},
	    {"\"event_type\":\"model\",\"inputs\":{\"q\":[1]}", NULL},
	    {"\"event_type\":\"tool\",\"inputs\":{}", NULL},
	    {"\"event_type\":\"session\",\"inputs\":{}", NULL},
	    {"\"inputs\":{}", "event.event_type: required"},
	    {"\"event_type\":\"chain\"", "event.inputs: required"},
	    {"", "event.event_type: required"},
	    {"\"event_type\":\"Chain\",\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":\"\",\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":\"chains\",\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":1,\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":null,\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":[\"chain\"],\"inputs\":{}",
	        "event.event_type: must be one of chain, model, tool, "
	        "session"},
	    {"\"event_type\":\"chain\",\"inputs\":[]",
	        "event.inputs: must be an object"},
	    {"\"event_type\":\"chain\",\"inputs\":\"{}\"",
	        "event.inputs: must be an object"},
	    {"\"event_type\":\"chain\",\"inputs\":null",
	        "event.inputs: must be an object"},
	    /* Names are case-sensitive: these are unknown extra members. */
	    {"\"Event_Type\":\"chain\",\"inputs\":{}",
	        "event.event_type: required"},
	    {"\"event_type\":\"chain\",\"INPUTS\":{}",
	        "event.inputs: required"},
	};

	(void)state;
	run_rule_cases(
	    "required rule", cases, sizeof(cases) / sizeof(cases[0]), "");
}

static void
test_optional_rules(void **state)
{
	static const struct rule_case cases[] = {
	    /* strings */
	    {",\"project\":\"p\"", NULL},
	    {",\"project\":\"\"", NULL},
	    {",\"project\":1", "event.project: must be a string"},
	    {",\"project\":null", "event.project: must be a string"},
	    {",\"project\":{}", "event.project: must be a string"},
	    {",\"source\":\"sdk-python\"", NULL},
	    {",\"source\":true", "event.source: must be a string"},
	    {",\"source\":null", "event.source: must be a string"},
	    {",\"event_name\":\"n\"", NULL},
	    {",\"event_name\":[]", "event.event_name: must be a string"},
	    {",\"event_name\":null", "event.event_name: must be a string"},
	    /* UUIDs */
	    {",\"event_id\":\"7f22137a-6911-4ed3-bc36-110f1dde6b66\"", NULL},
	    {",\"event_id\":\"7F22137A-6911-4ED3-BC36-110F1DDE6B66\"", NULL},
	    {",\"event_id\":\"c232ab00-9414-11ec-b3c8-9f6bdeced846\"", NULL},
	    {",\"event_id\":\"7f22137a69114ed3bc36110f1dde6b66\"",
	        "event.event_id: must be a UUID string"},
	    {",\"event_id\":\"7f22137a-6911-4ed3-bc36-110f1dde6b6g\"",
	        "event.event_id: must be a UUID string"},
	    {",\"event_id\":\"7f22137a-6911-4ed3-bc36-110f1dde6b66a\"",
	        "event.event_id: must be a UUID string"},
	    {",\"event_id\":\"{7f22137a-6911-4ed3-bc36-110f1dde6b66}\"",
	        "event.event_id: must be a UUID string"},
	    {",\"event_id\":\"\"", "event.event_id: must be a UUID string"},
	    {",\"event_id\":42", "event.event_id: must be a UUID string"},
	    {",\"event_id\":null", "event.event_id: must be a UUID string"},
	    {",\"session_id\":\"caf77ace-3417-4da4-944d-f4a0688f3c23\"", NULL},
	    {",\"session_id\":\"caf77ace-3417-4da4-944d\"",
	        "event.session_id: must be a UUID string"},
	    {",\"session_id\":null", "event.session_id: must be a UUID string"},
	    {",\"parent_id\":\"caf77ace-3417-4da4-944d-f4a0688f3c23\"", NULL},
	    {",\"parent_id\":\"caf77ace_3417_4da4_944d_f4a0688f3c23\"",
	        "event.parent_id: must be a UUID string"},
	    {",\"parent_id\":{}", "event.parent_id: must be a UUID string"},
	    /* children_ids */
	    {",\"children_ids\":[]", NULL},
	    {",\"children_ids\":[\"a\",\"b\"]", NULL},
	    {",\"children_ids\":[\"a\",1]",
	        "event.children_ids[1]: must be a string"},
	    {",\"children_ids\":[null]",
	        "event.children_ids[0]: must be a string"},
	    {",\"children_ids\":\"a\"",
	        "event.children_ids: must be an array of strings"},
	    {",\"children_ids\":{}",
	        "event.children_ids: must be an array of strings"},
	    {",\"children_ids\":null",
	        "event.children_ids: must be an array of strings"},
	    /* objects */
	    {",\"config\":{\"model\":\"x\"}", NULL},
	    {",\"config\":[]", "event.config: must be an object"},
	    {",\"config\":null", "event.config: must be an object"},
	    {",\"outputs\":{}", NULL},
	    {",\"outputs\":\"done\"", "event.outputs: must be an object"},
	    {",\"outputs\":null", "event.outputs: must be an object"},
	    {",\"metadata\":{\"cost\":1}", NULL},
	    {",\"metadata\":1", "event.metadata: must be an object"},
	    {",\"metadata\":null", "event.metadata: must be an object"},
	    {",\"metrics\":{}", NULL},
	    {",\"metrics\":[{}]", "event.metrics: must be an object"},
	    {",\"metrics\":null", "event.metrics: must be an object"},
	    {",\"feedback\":{}", NULL},
	    {",\"feedback\":false", "event.feedback: must be an object"},
	    {",\"feedback\":null", "event.feedback: must be an object"},
	    {",\"user_properties\":{\"u\":\"x\"}", NULL},
	    {",\"user_properties\":\"x\"",
	        "event.user_properties: must be an object"},
	    {",\"user_properties\":null",
	        "event.user_properties: must be an object"},
	    /* error */
	    {",\"error\":\"boom\"", NULL},
	    {",\"error\":null", NULL},
	    {",\"error\":1", "event.error: must be a string or null"},
	    {",\"error\":{}", "event.error: must be a string or null"},
	    {",\"error\":false", "event.error: must be a string or null"},
	    /* numbers */
	    {",\"duration\":999.8056", NULL},
	    {",\"duration\":0", NULL},
	    {",\"duration\":-1e3", NULL},
	    {",\"duration\":\"1\"", "event.duration: must be a number"},
	    {",\"duration\":null", "event.duration: must be a number"},
	    {",\"duration\":true", "event.duration: must be a number"},
	    {",\"start_time\":1714978764301", NULL},
	    {",\"start_time\":\"1714978764301\"",
	        "event.start_time: must be a number"},
	    {",\"start_time\":null", "event.start_time: must be a number"},
	    {",\"end_time\":1714978765301", NULL},
	    {",\"end_time\":[1]", "event.end_time: must be a number"},
	    {",\"end_time\":null", "event.end_time: must be a number"},
	    /* unknown members pass whatever they hold */
	    {",\"foo\":null", NULL},
	    {",\"Project\":1", NULL},
	    {",\"EVENT_ID\":\"x\"", NULL},
	    {",\"foo\":1,\"foo\":2", NULL},
	};

	(void)state;
	run_rule_cases(
	    "optional rule", cases, sizeof(cases) / sizeof(cases[0]), BASE);
}

/* Every documented member twice is refused, even written with escapes. */
static void
test_duplicates(void **state)
{
	static const char *const members[] = {
	    "\"event_type\":\"tool\"",
	    "\"inputs\":{}",
	    "\"project\":\"p\"",
	    "\"source\":\"s\"",
	    "\"event_name\":\"n\"",
	    "\"event_id\":\"" REF_EVENT "\"",
	    "\"session_id\":\"" REF_SESSION "\"",
	    "\"parent_id\":\"" REF_SESSION "\"",
	    "\"children_ids\":[]",
	    "\"config\":{}",
	    "\"outputs\":{}",
	    "\"metadata\":{}",
	    "\"metrics\":{}",
	    "\"feedback\":{}",
	    "\"user_properties\":{}",
	    "\"error\":null",
	    "\"duration\":1",
	    "\"start_time\":1",
	    "\"end_time\":1",
	};
	char json[512], want[128], name[32];
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		const char *end = strchr(members[i] + 1, '"');

		snprintf(name, sizeof(name), "%.*s",
		    (int)(end - members[i] - 1), members[i] + 1);
		snprintf(json, sizeof(json), "{%s,%s,%s}", BASE, members[i],
		    members[i]);
		snprintf(
		    want, sizeof(want), "event.%s: duplicate member", name);
		normalize_both(json, &plain_opts, &r);
		CHECK(r.rc == -1 && strcmp(r.err, want) == 0,
		    "duplicate %s: rc %d \"%s\", want \"%s\"", name, r.rc,
		    r.err, want);
		buf_free(&r.out);
	}
	normalize_both("{\"event_type\":\"chain\",\"ev\\u0065nt_type\":\"bad\","
	               "\"inputs\":{}}",
	    &plain_opts, &r);
	CHECK(r.rc == -1 &&
	        strcmp(r.err, "event.event_type: duplicate member") == 0,
	    "duplicate written with an escape: rc %d \"%s\"", r.rc, r.err);
	buf_free(&r.out);
	/* A duplicate is refused even when both copies would be valid. */
	normalize_both(
	    "{" BASE ",\"duration\":1,\"duration\":2}", &plain_opts, &r);
	CHECK(r.rc == -1, "valid duplicate duration accepted");
	buf_free(&r.out);
}

static void
test_not_an_object(void **state)
{
	static const char *const texts[] = {"[]", "\"x\"", "1", "null", "true",
	    "[{\"event_type\":\"chain\",\"inputs\":{}}]"};
	struct buf out;
	char err[128];
	cJSON *obj;
	size_t i;
	int rc;

	(void)state;
	buf_init(&out);
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		obj = cJSON_Parse(texts[i]);
		rc = event_normalize(obj, texts[i], strlen(texts[i]),
		    &plain_opts, "events[3]", &out, NULL, err, sizeof(err));
		CHECK(rc == -1 &&
		        strcmp(err, "events[3]: must be an object") == 0,
		    "non-object %s: rc %d \"%s\"", texts[i], rc, err);
		rc = event_normalize(NULL, texts[i], strlen(texts[i]),
		    &plain_opts, "events[3]", &out, NULL, err, sizeof(err));
		CHECK(rc == -1 &&
		        strcmp(err, "events[3]: must be an object") == 0,
		    "non-object %s without a tree: rc %d \"%s\"", texts[i], rc,
		    err);
		cJSON_Delete(obj);
	}
	rc = event_normalize(
	    NULL, NULL, 0, &plain_opts, "event", &out, NULL, err, sizeof(err));
	CHECK(rc == -1 && strcmp(err, "event: must be an object") == 0,
	    "NULL tree: rc %d \"%s\"", rc, err);
	CHECK(out.len == 0, "rejected events wrote %zu bytes", out.len);
	buf_free(&out);
}

/* The path names the event, and a failure leaves out as it was. */
static void
test_error_path_and_out_unchanged(void **state)
{
	const char *json = "{\"event_type\":\"span\",\"inputs\":{}}";
	struct buf out;
	struct event_ids ids;
	char err[128];
	cJSON *obj = cJSON_Parse(json);
	int rc;

	(void)state;
	buf_init(&out);
	assert_int_equal(buf_addstr(&out, "[{\"earlier\":1},"), 0);
	rc = event_normalize(obj, json, strlen(json), &plain_opts, "events[3]",
	    &out, &ids, err, sizeof(err));
	CHECK(rc == -1, "bad event_type accepted");
	CHECK(strcmp(err,
	          "events[3].event_type: must be one of chain, model, "
	          "tool, session") == 0,
	    "error does not name the field: \"%s\"", err);
	CHECK(out.len == 15 && strcmp(out.data, "[{\"earlier\":1},") == 0,
	    "out changed by a rejected event: \"%s\"", out.data);

	rc = event_normalize(obj, json, strlen(json), &plain_opts, "events[3]",
	    &out, &ids, err, 8);
	CHECK(rc == -1 && strlen(err) == 7,
	    "short error buffer not cut to fit: \"%s\"", err);
	cJSON_Delete(obj);

	/* Raw text that is not the object is the caller's bug, refused. */
	json = "{\"event_type\":\"chain\",\"inputs\":{}}";
	obj = cJSON_Parse(json);
	rc = event_normalize(
	    obj, "[1]", 3, &plain_opts, "event", &out, &ids, err, sizeof(err));
	CHECK(rc == -1 && strcmp(err, "event: raw text is not an object") == 0,
	    "raw text that is no object: rc %d \"%s\"", rc, err);
	CHECK(out.len == 15, "out changed by a refused raw text");
	cJSON_Delete(obj);
	buf_free(&out);
}

/* A generator that breaks its contract must not put bad JSON in out. */
static void
test_bad_generator(void **state)
{
	const struct event_opts o = {NULL, NULL, bad_uuid, NULL, NULL};
	const struct event_opts none = {NULL, NULL, NULL, NULL, NULL};
	struct result r;

	(void)state;
	normalize_both("{" BASE "}", &o, &r);
	CHECK(r.rc == -1 &&
	        strcmp(r.err, "event: id generator made a bad id") == 0,
	    "bad generator: rc %d \"%s\"", r.rc, r.err);
	buf_free(&r.out);
	normalize_both("{" BASE "}", &none, &r);
	CHECK(r.rc == -1 && strcmp(r.err, "event: no id generator") == 0,
	    "no generator: rc %d \"%s\"", r.rc, r.err);
	buf_free(&r.out);
	/* With every id given, no generator is needed. */
	normalize_both("{" BASE ",\"event_id\":\"" REF_EVENT
	               "\",\"session_id\":\"" REF_SESSION "\"}",
	    &none, &r);
	CHECK(r.rc == 0, "ids given, no generator: %s", r.err);
	buf_free(&r.out);
}

/*
 * cJSON cuts strings at a NUL, so with raw bytes a NUL anywhere is refused:
 * the event cJSON checked would not be the one sent. The printed path needs
 * no such rule: it sends what cJSON holds.
 */
#define RAW_NUL "{" BASE ",\"source\":\"ab\0cd\"}"

static void
test_nul_refused(void **state)
{
	static const struct {
		const char *json;
		size_t len; /* 0: strlen */
		int ok;
	} cases[] = {
	    {"{" BASE ",\"session_id\":\"" REF_SESSION "\\u0000junk\"}", 0, 0},
	    {"{" BASE ",\"event_type\\u0000x\":\"bogus\"}", 0, 0},
	    {"{" BASE ",\"outputs\":{\"text\":\"a\\u0000b\"}}", 0, 0},
	    {"{" BASE ",\"outputs\":{\"text\":\"a\\uZZZZb\"}}", 0, 0},
	    {"{" BASE ",\"outputs\":{\"text\":\"a\\u00G0b\"}}", 0, 0},
	    {"{" BASE ",\"source\":\"a\\\\u0000\"}", 0, 1},
	    {"{" BASE ",\"source\":\"\\u0001\\u0100\\\"u0000\"}", 0, 1},
	    {RAW_NUL, sizeof(RAW_NUL) - 1, 0},
	};
	struct counter c = {0};
	struct event_opts o = {NULL, NULL, counter_uuid, &c, NULL};
	struct buf out;
	struct event_ids ids;
	char err[128];
	size_t i, len;
	cJSON *obj;
	int rc;

	(void)state;
	buf_init(&out);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].json);
		obj = cJSON_ParseWithLength(cases[i].json, len);
		CHECK(obj != NULL, "NUL case %zu: cJSON rejects %s", i,
		    cases[i].json);
		rc = event_normalize(obj, cases[i].json, len, &o, "event", &out,
		    &ids, err, sizeof(err));
		if (cases[i].ok)
			CHECK(rc == 0, "NUL case %zu: %s rejected: %s", i,
			    cases[i].json, err);
		else
			CHECK(rc == -1 &&
			        strcmp(err,
			            "event: must not contain NUL "
			            "characters (\\u0000)") == 0,
			    "NUL case %zu: %s gave rc %d \"%s\"", i,
			    cases[i].json, rc, rc == 0 ? "" : err);
		cJSON_Delete(obj);
		buf_reset(&out);
		/* Read without a tree, the verdict is the same. */
		rc = event_normalize(NULL, cases[i].json, len, &o, "event",
		    &out, &ids, err, sizeof(err));
		CHECK(cases[i].ok ? rc == 0
		                  : rc == -1 &&
		            strcmp(err,
		                "event: must not contain NUL "
		                "characters (\\u0000)") == 0,
		    "NUL case %zu without a tree: %s gave rc %d", i,
		    cases[i].json, rc);
		buf_reset(&out);
	}
	buf_free(&out);
}

static void *
failing_malloc(size_t n)
{
	(void)n;
	return NULL;
}

/* When printing runs out of memory the error says so and out is kept. */
static void
test_out_of_memory(void **state)
{
	const char *json = "{\"event_type\":\"chain\",\"inputs\":{}}";
	cJSON_Hooks hooks = {failing_malloc, free};
	struct counter c = {0};
	struct event_opts o = {NULL, NULL, counter_uuid, &c, NULL};
	struct buf out;
	char err[128];
	cJSON *obj = cJSON_Parse(json);
	int rc;

	(void)state;
	buf_init(&out);
	assert_int_equal(buf_addstr(&out, "kept"), 0);
	cJSON_InitHooks(&hooks);
	rc = event_normalize(
	    obj, NULL, 0, &o, "events[0]", &out, NULL, err, sizeof(err));
	cJSON_InitHooks(NULL);
	CHECK(rc == -1 && strcmp(err, "events[0]: out of memory") == 0,
	    "failed print: rc %d \"%s\"", rc, err);
	CHECK(out.len == 4 && strcmp(out.data, "kept") == 0,
	    "failed print changed out: \"%s\"", out.data);
	cJSON_Delete(obj);
	buf_free(&out);
}

/* Extra members and odd formatting come through byte for byte. */
static void
test_unknown_members_pass_through(void **state)
{
	const char *json =
	    "{ \"x-trace\" : [1, {\"a\" :\"\\u00e9\\\"}\"}],\n\"event_type\":"
	    "\"tool\",\"inputs\":{\"k\":\"v\"},\"Event_Id\":\"whatever\" }";
	const char *tail = strchr(json, '{') + 1;
	struct result r;

	(void)state;
	normalize_both(json, &plain_opts, &r);
	CHECK(r.rc == 0, "event with extra members rejected: %s", r.err);
	CHECK(r.out.len > strlen(tail) &&
	        strcmp(r.out.data + r.out.len - strlen(tail), tail) == 0,
	    "client bytes after '{' not kept verbatim: %s", r.out.data);
	buf_free(&r.out);
}

static void
test_uuid_valid(void **state)
{
	static const struct {
		const char *s;
		int valid;
	} cases[] = {
	    {"7f22137a-6911-4ed3-bc36-110f1dde6b66", 1},
	    {"7F22137A-6911-4ED3-BC36-110F1DDE6B66", 1},
	    {"00000000-0000-0000-0000-000000000000", 1},
	    {"c232ab00-9414-11ec-b3c8-9f6bdeced846", 1},
	    {"", 0},
	    {"7f22137a-6911-4ed3-bc36-110f1dde6b6", 0},
	    {"7f22137a-6911-4ed3-bc36-110f1dde6b666", 0},
	    {"7f22137a-6911-4ed3-bc36_110f1dde6b66", 0},
	    {"7f22137a-6911-4ed3-bc3-6110f1dde6b66", 0},
	    {"7f22137a-6911-4ed3-bc36-110f1dde6b6z", 0},
	    {"7f22137a 6911 4ed3 bc36 110f1dde6b66", 0},
	    {"x7f22137a-6911-4ed3-bc36-110f1dde6b6", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(event_uuid_valid(cases[i].s) == cases[i].valid,
		    "event_uuid_valid(\"%s\") is not %d", cases[i].s,
		    cases[i].valid);
}

/* SESSION: every member optional, each documented one of its type. */
static void
test_session_rules(void **state)
{
	static const struct rule_case cases[] = {
	    {"", NULL},
	    {"\"project\":\"p\",\"session_name\":\"s\",\"source\":\"x\"", NULL},
	    {"\"session_id\":\"" REF_SESSION "\"", NULL},
	    {"\"session_id\":\"nope\"",
	        "session.session_id: must be a UUID string"},
	    {"\"session_id\":null",
	        "session.session_id: must be a UUID string"},
	    {"\"project\":1", "session.project: must be a string"},
	    {"\"session_name\":[]", "session.session_name: must be a string"},
	    {"\"source\":null", "session.source: must be a string"},
	    {"\"children_ids\":[\"a\",\"b\"]", NULL},
	    {"\"children_ids\":[\"a\",1]",
	        "session.children_ids[1]: must be a string"},
	    {"\"children_ids\":{}",
	        "session.children_ids: must be an array of strings"},
	    {"\"config\":{},\"inputs\":{},\"outputs\":{},\"metadata\":{},"
	     "\"metrics\":{},\"feedback\":{},\"user_properties\":{}",
	        NULL},
	    {"\"config\":[]", "session.config: must be an object"},
	    {"\"inputs\":\"q\"", "session.inputs: must be an object"},
	    {"\"outputs\":1", "session.outputs: must be an object"},
	    {"\"metadata\":null", "session.metadata: must be an object"},
	    {"\"metrics\":true", "session.metrics: must be an object"},
	    {"\"feedback\":[]", "session.feedback: must be an object"},
	    {"\"user_properties\":\"u\"",
	        "session.user_properties: must be an object"},
	    {"\"error\":null", NULL},
	    {"\"error\":\"boom\"", NULL},
	    {"\"error\":1", "session.error: must be a string or null"},
	    {"\"duration\":1.5,\"start_time\":1,\"end_time\":2", NULL},
	    {"\"duration\":\"1\"", "session.duration: must be a number"},
	    {"\"start_time\":null", "session.start_time: must be a number"},
	    {"\"end_time\":[]", "session.end_time: must be a number"},
	    {"\"session_name\":\"a\",\"session_name\":\"b\"",
	        "session.session_name: duplicate member"},
	    /* Not members of a session: they pass as they are. */
	    {"\"event_type\":1,\"model\":[],\"event_id\":\"x\"", NULL},
	};

	(void)state;
	run_kind_cases(event_session_normalize, "session", "session rule",
	    cases, sizeof(cases) / sizeof(cases[0]), "");
}

/* A session gets session_id (generated or the batch's) and the project. */
static void
test_session_defaults(void **state)
{
	static const struct {
		const char *json;
		const char *batch;
		const char *want;
	} cases[] = {
	    {"{}", NULL,
	        "{\"session_id\":\"00000001-0000-4000-8000-000000000000\","
	        "\"project\":\"P\"}"},
	    {"{ }", NULL,
	        "{\"session_id\":\"00000001-0000-4000-8000-000000000000\","
	        "\"project\":\"P\" }"},
	    {"{\"project\":\"Mine\",\"session_name\":\"s\"}", NULL,
	        "{\"session_id\":\"00000001-0000-4000-8000-000000000000\","
	        "\"project\":\"Mine\",\"session_name\":\"s\"}"},
	    {"{\"project\":\"Mine\",\"session_id\":\"" REF_SESSION "\"}", NULL,
	        "{\"project\":\"Mine\",\"session_id\":\"" REF_SESSION "\"}"},
	    {"{\"source\":\"x\"}", BATCH_SESSION,
	        "{\"session_id\":\"" BATCH_SESSION "\",\"project\":\"P\","
	        "\"source\":\"x\"}"},
	    {"{}", BATCH_SESSION,
	        "{\"session_id\":\"" BATCH_SESSION "\",\"project\":\"P\"}"},
	};
	struct event_opts o = {"P", NULL, counter_uuid, NULL, NULL};
	struct result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		o.session_id = cases[i].batch;
		normalize_both_kind(
		    event_session_normalize, "session", cases[i].json, &o, &r);
		CHECK(
		    r.rc == 0, "session %s rejected: %s", cases[i].json, r.err);
		CHECK(strcmp(r.out.data, cases[i].want) == 0,
		    "session %s spliced wrong:\n got %s\nwant %s",
		    cases[i].json, r.out.data, cases[i].want);
		CHECK(r.ids.event_id[0] == '\0',
		    "session %s reported an event_id %s", cases[i].json,
		    r.ids.event_id);
		CHECK(strlen(r.ids.session_id) == EVENT_UUID_LEN &&
		        strstr(r.out.data, r.ids.session_id) != NULL,
		    "session %s: reported session_id %s is not the one in %s",
		    cases[i].json, r.ids.session_id, r.out.data);
		buf_free(&r.out);
	}
	o.session_id = BATCH_SESSION;
	normalize_both_kind(event_session_normalize, "session_properties",
	    "{\"session_id\":\"" REF_SESSION "\"}", &o, &r);
	CHECK(r.rc == -1 &&
	        strcmp(r.err,
	            "session_properties.session_id: "
	            "differs from the batch's session") == 0,
	    "session naming another than the batch's: rc %d \"%s\"", r.rc,
	    r.err);
	buf_free(&r.out);
}

#define MODEL_BASE                                                             \
	"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],\"response\":{},"  \
	"\"duration\":1,\"usage\":{}"

/* A model event is the SDK's CreateModelEvent, ids checked like events'. */
static void
test_model_rules(void **state)
{
	static const struct rule_case required[] = {
	    {MODEL_BASE, NULL},
	    {"", "model_event.duration: required"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],"
	     "\"response\":{},\"duration\":1",
	        "model_event.usage: required"},
	    {"\"provider\":\"p\",\"messages\":[],\"response\":{},"
	     "\"duration\":1,\"usage\":{}",
	        "model_event.model: required"},
	    {"\"model\":\"m\",\"messages\":[],\"response\":{},\"duration\":1,"
	     "\"usage\":{}",
	        "model_event.provider: required"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"response\":{},"
	     "\"duration\":1,\"usage\":{}",
	        "model_event.messages: required"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],"
	     "\"duration\":1,\"usage\":{}",
	        "model_event.response: required"},
	    /* An event's requirements are not a model event's. */
	    {"\"event_type\":\"model\",\"inputs\":{}",
	        "model_event.duration: required"},
	};
	static const struct rule_case optional[] = {
	    {",\"event_type\":\"model\"", NULL},
	    {",\"event_type\":\"chain\"",
	        "model_event.event_type: must be model"},
	    {",\"event_type\":1", "model_event.event_type: must be model"},
	    {",\"event_type\":\"model\",\"event_type\":\"model\"",
	        "model_event.event_type: duplicate member"},
	    {",\"event_id\":\"" REF_EVENT "\",\"session_id\":\"" REF_SESSION
	     "\",\"parent_id\":\"" REF_SESSION "\"",
	        NULL},
	    {",\"event_id\":\"x\"",
	        "model_event.event_id: must be a UUID string"},
	    {",\"session_id\":1",
	        "model_event.session_id: must be a UUID string"},
	    {",\"parent_id\":\"\"",
	        "model_event.parent_id: must be a UUID string"},
	    {",\"project\":\"p\",\"source\":\"s\",\"event_name\":\"n\"", NULL},
	    {",\"project\":1", "model_event.project: must be a string"},
	    {",\"event_name\":null",
	        "model_event.event_name: must be a string"},
	    {",\"model\":1", "model_event.model: duplicate member"},
	    {",\"cost\":0.00008,\"error\":null,\"tool_choice\":\"auto\"", NULL},
	    {",\"cost\":\"1\"", "model_event.cost: must be a number"},
	    {",\"error\":\"e\"", NULL},
	    {",\"error\":{}", "model_event.error: must be a string or null"},
	    {",\"tool_choice\":1", "model_event.tool_choice: must be a string"},
	    {",\"tools\":[{},{\"key\":1}],\"template\":[{\"role\":\"system\"}]",
	        NULL},
	    {",\"tools\":[{},1]", "model_event.tools[1]: must be an object"},
	    {",\"template\":{}",
	        "model_event.template: must be an array of objects"},
	    {",\"template\":[[]]",
	        "model_event.template[0]: must be an object"},
	    {",\"hyperparameters\":{},\"template_inputs\":{},"
	     "\"response_format\":{}",
	        NULL},
	    {",\"hyperparameters\":1",
	        "model_event.hyperparameters: must be an object"},
	    {",\"template_inputs\":[]",
	        "model_event.template_inputs: must be an object"},
	    {",\"response_format\":\"json\"",
	        "model_event.response_format: must be an object"},
	    /* Not members of a model event: they pass as they are. */
	    {",\"inputs\":1,\"metadata\":[],\"session_name\":2", NULL},
	};
	static const struct rule_case types[] = {
	    {"\"model\":1,\"provider\":\"p\",\"messages\":[],\"response\":{},"
	     "\"duration\":1,\"usage\":{}",
	        "model_event.model: must be a string"},
	    {"\"model\":\"m\",\"provider\":null,\"messages\":[],"
	     "\"response\":{},\"duration\":1,\"usage\":{}",
	        "model_event.provider: must be a string"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[\"hi\"],"
	     "\"response\":{},\"duration\":1,\"usage\":{}",
	        "model_event.messages[0]: must be an object"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":{},"
	     "\"response\":{},\"duration\":1,\"usage\":{}",
	        "model_event.messages: must be an array of objects"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],"
	     "\"response\":\"r\",\"duration\":1,\"usage\":{}",
	        "model_event.response: must be an object"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],"
	     "\"response\":{},\"duration\":\"1\",\"usage\":{}",
	        "model_event.duration: must be a number"},
	    {"\"model\":\"m\",\"provider\":\"p\",\"messages\":[],"
	     "\"response\":{},\"duration\":1,\"usage\":[]",
	        "model_event.usage: must be an object"},
	};

	(void)state;
	run_kind_cases(event_model_normalize, "model_event", "model required",
	    required, sizeof(required) / sizeof(required[0]), "");
	run_kind_cases(event_model_normalize, "model_event", "model optional",
	    optional, sizeof(optional) / sizeof(optional[0]), MODEL_BASE);
	run_kind_cases(event_model_normalize, "model_event", "model type",
	    types, sizeof(types) / sizeof(types[0]), "");
}

/* A model event gets event_id and project; session_id only in a batch's. */
static void
test_model_ids(void **state)
{
	struct event_opts o = {"P", NULL, counter_uuid, NULL, NULL};
	struct result r;

	(void)state;
	normalize_both_kind(
	    event_model_normalize, "model_event", "{" MODEL_BASE "}", &o, &r);
	CHECK(r.rc == 0 &&
	        strcmp(r.out.data,
	            "{\"event_id\":\"00000001-0000-4000-8000-000000000000\","
	            "\"project\":\"P\"," MODEL_BASE "}") == 0,
	    "model event spliced wrong: rc %d %s %s", r.rc, r.err, r.out.data);
	CHECK(strcmp(r.ids.event_id, "00000001-0000-4000-8000-000000000000") ==
	            0 &&
	        r.ids.session_id[0] == '\0',
	    "model event ids: \"%s\" \"%s\"", r.ids.event_id, r.ids.session_id);
	buf_free(&r.out);

	o.session_id = BATCH_SESSION;
	normalize_both_kind(event_model_normalize, "model_events[0]",
	    "{\"event_id\":\"" REF_EVENT "\"," MODEL_BASE "}", &o, &r);
	CHECK(r.rc == 0 &&
	        strcmp(r.out.data,
	            "{\"session_id\":\"" BATCH_SESSION
	            "\",\"project\":\"P\",\"event_id\":\"" REF_EVENT
	            "\"," MODEL_BASE "}") == 0,
	    "model event in a single session spliced wrong: rc %d %s %s", r.rc,
	    r.err, r.out.data);
	CHECK(strcmp(r.ids.event_id, REF_EVENT) == 0 &&
	        strcmp(r.ids.session_id, BATCH_SESSION) == 0,
	    "model event in a single session: ids \"%s\" \"%s\"",
	    r.ids.event_id, r.ids.session_id);
	buf_free(&r.out);

	normalize_both_kind(event_model_normalize, "model_events[1]",
	    "{\"session_id\":\"" REF_SESSION "\"," MODEL_BASE "}", &o, &r);
	CHECK(r.rc == -1 &&
	        strcmp(r.err,
	            "model_events[1].session_id: differs "
	            "from the batch's session") == 0,
	    "model event in another session: rc %d \"%s\"", r.rc, r.err);
	buf_free(&r.out);
}

/* PUT /events: the members are the body's own, named without a path. */
static void
test_update_rules(void **state)
{
	static const struct rule_case required[] = {
	    {"", "event_id: required"},
	    {"\"metadata\":{}", "event_id: required"},
	    {"\"event_id\":\"x\"", "event_id: must be a UUID string"},
	    {"\"event_id\":null", "event_id: must be a UUID string"},
	    {"\"event_id\":\"" REF_EVENT "\"", NULL},
	};
	static const struct rule_case optional[] = {
	    {",\"metadata\":{},\"feedback\":{},\"metrics\":{},\"outputs\":{},"
	     "\"config\":{},\"user_properties\":{},\"duration\":1",
	        NULL},
	    {",\"metadata\":[]", "metadata: must be an object"},
	    {",\"feedback\":\"good\"", "feedback: must be an object"},
	    {",\"metrics\":null", "metrics: must be an object"},
	    {",\"outputs\":1", "outputs: must be an object"},
	    {",\"config\":true", "config: must be an object"},
	    {",\"user_properties\":[]", "user_properties: must be an object"},
	    {",\"duration\":\"5\"", "duration: must be a number"},
	    {",\"event_id\":\"" REF_EVENT "\"", "event_id: duplicate member"},
	    /* Not members of an update: they pass as they are. */
	    {",\"inputs\":1,\"event_type\":\"x\",\"session_id\":2", NULL},
	};

	(void)state;
	run_kind_cases(event_update_normalize, "", "update required", required,
	    sizeof(required) / sizeof(required[0]), "");
	run_kind_cases(event_update_normalize, "", "update optional", optional,
	    sizeof(optional) / sizeof(optional[0]),
	    "\"event_id\":\"" REF_EVENT "\"");
}

/* An update is stored as the client sent it: nothing added, no project. */
static void
test_update_bytes(void **state)
{
	const char *json = " {\"event_id\":\"" REF_EVENT "\", \"x\" : [1]}\n";
	struct event_opts o = {"P", BATCH_SESSION, counter_uuid, NULL, NULL};
	struct buf out;
	struct event_ids ids;
	char err[128];
	cJSON *obj = cJSON_Parse(json);
	int rc;

	(void)state;
	buf_init(&out);
	rc = event_update_normalize(
	    obj, json, strlen(json), &o, "", &out, &ids, err, sizeof(err));
	CHECK(rc == 0 &&
	        strcmp(out.data,
	            "{\"event_id\":\"" REF_EVENT "\", \"x\" : [1]}") == 0,
	    "update not kept byte for byte: rc %d %s", rc, out.data);
	CHECK(strcmp(ids.event_id, REF_EVENT) == 0 && ids.session_id[0] == '\0',
	    "update ids: \"%s\" \"%s\"", ids.event_id, ids.session_id);
	buf_reset(&out);
	rc = event_update_normalize(
	    obj, json, strlen(json), NULL, NULL, &out, NULL, err, sizeof(err));
	CHECK(rc == 0, "update without opts, path or ids rejected: %s", err);
	cJSON_Delete(obj);

	json =
	    "{\"event_id\":\"" REF_EVENT "\",\"outputs\":{\"a\":\"\\u0000\"}}";
	obj = cJSON_Parse(json);
	buf_reset(&out);
	rc = event_update_normalize(
	    obj, json, strlen(json), NULL, "", &out, NULL, err, sizeof(err));
	CHECK(rc == -1 &&
	        strcmp(err,
	            "body: must not contain NUL characters "
	            "(\\u0000)") == 0,
	    "update with a NUL: rc %d \"%s\"", rc, err);
	CHECK(out.len == 0, "a refused update wrote %zu bytes", out.len);
	cJSON_Delete(obj);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_event_unchanged),
	    cmocka_unit_test(test_raw_with_white_space),
	    cmocka_unit_test(test_minimal_event_defaults),
	    cmocka_unit_test(test_minimal_event_exact_bytes),
	    cmocka_unit_test(test_partial_defaults),
	    cmocka_unit_test(test_default_project),
	    cmocka_unit_test(test_single_session),
	    cmocka_unit_test(test_required_rules),
	    cmocka_unit_test(test_optional_rules),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_not_an_object),
	    cmocka_unit_test(test_error_path_and_out_unchanged),
	    cmocka_unit_test(test_bad_generator),
	    cmocka_unit_test(test_nul_refused),
	    cmocka_unit_test(test_out_of_memory),
	    cmocka_unit_test(test_unknown_members_pass_through),
	    cmocka_unit_test(test_uuid_valid),
	    cmocka_unit_test(test_session_rules),
	    cmocka_unit_test(test_session_defaults),
	    cmocka_unit_test(test_model_rules),
	    cmocka_unit_test(test_model_ids),
	    cmocka_unit_test(test_update_rules),
	    cmocka_unit_test(test_update_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
