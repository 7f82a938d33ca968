/* test_body.c: unit tests for the body step (daemon/body.c) and the kind
 * table: routes, records, OTLP exports, limits, client keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "common/kind.h"
#include "daemon/body.h"
#include "otlp/trace.pb-c.h"
#include "redact/redact.h"
#include "tests/support/check.h"

struct fixture {
	struct body_out out;
	struct body_out tree; /* take_both's reading through a tree */
	struct body_opts opts;
	unsigned ids;
	char err[512];
};

static void
fixed_uuid(char *out, void *arg)
{
	struct fixture *fx = arg;

	snprintf(out, 37, "00000000-0000-4000-8000-%012u", ++fx->ids);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	body_out_init(&fx->out);
	body_out_init(&fx->tree);
	fx->opts.max_event_bytes = 1024 * 1024;
	fx->opts.max_body_bytes = 1024 * 1024;
	fx->opts.default_project = "dflt";
	fx->opts.uuid_gen = fixed_uuid;
	fx->opts.uuid_arg = fx;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	body_out_free(&fx->out);
	body_out_free(&fx->tree);
	free(fx);
	return 0;
}

/* body_take on method and path, as ingest routes it. */
static int
take(struct fixture *fx, const char *method, const char *path,
    const char *ctype, const char *cenc, const void *body, size_t len,
    const char *auth)
{
	const struct kind_route *r = NULL;
	struct body_req req;
	char allow[32];

	memset(&req, 0, sizeof(req));
	req.kind = kind_route(method, path, &r, allow, sizeof(allow));
	CHECK(req.kind != NULL, "%s %s has no route", method, path);
	req.route = r;
	req.body = body;
	req.len = len;
	req.content_type = ctype;
	req.content_encoding = cenc;
	req.auth = auth;
	req.auth_len = auth != NULL ? strlen(auth) : 0;
	fx->err[0] = '\0';
	return body_take(&fx->opts, &req, &fx->out, fx->err, sizeof(fx->err));
}

static int
take_json(
    struct fixture *fx, const char *method, const char *path, const char *body)
{
	return take(fx, method, path, "application/json", NULL, body,
	    strlen(body), NULL);
}

/*
 * The body read both ways: through a cJSON tree (tree_only, as with
 * redaction rules) and through the view, as the daemon reads it. The two
 * must give one outcome: status, error, records, bytes and ids, the ids
 * counted from 1 each time. Returns the status; fx->out and fx->err hold
 * the view's outcome.
 */
static int
take_both(struct fixture *fx, const char *method, const char *path,
    const char *body, size_t len)
{
	struct body_out view = fx->out;
	char err[sizeof(fx->err)];
	unsigned made;
	int st, tst;
	size_t i;

	fx->out = fx->tree;
	fx->ids = 0;
	fx->opts.tree_only = 1;
	tst = take(fx, method, path, "application/json", NULL, body, len, NULL);
	fx->opts.tree_only = 0;
	fx->tree = fx->out;
	fx->out = view;
	made = fx->ids;
	memcpy(err, fx->err, sizeof(err));
	fx->ids = 0;
	st = take(fx, method, path, "application/json", NULL, body, len, NULL);
	CHECK(st == tst && strcmp(fx->err, err) == 0,
	    "%s %s %.80s: view %d \"%s\", tree %d \"%s\"", method, path, body,
	    st, fx->err, tst, err);
	CHECK(fx->ids == made, "%s %.80s: view made %u ids, tree %u", path,
	    body, fx->ids, made);
	CHECK(fx->out.n == fx->tree.n && fx->out.lead == fx->tree.lead &&
	        fx->out.items == fx->tree.items &&
	        fx->out.single_session == fx->tree.single_session &&
	        strcmp(fx->out.session_id, fx->tree.session_id) == 0 &&
	        fx->out.bad_record == fx->tree.bad_record,
	    "%s %.80s: view and tree make other records", path, body);
	CHECK(fx->out.data.len == fx->tree.data.len &&
	        (fx->out.data.len == 0 ||
	            memcmp(fx->out.data.data, fx->tree.data.data,
	                fx->out.data.len) == 0),
	    "%s %.80s: view and tree spool other bytes:\n%.*s\n%.*s", path,
	    body, (int)fx->out.data.len, fx->out.data.data,
	    (int)fx->tree.data.len, fx->tree.data.data);
	for (i = 0; i < fx->out.n && i < fx->tree.n; i++)
		CHECK(fx->out.offs[i] == fx->tree.offs[i] &&
		        fx->out.recs[i].kind == fx->tree.recs[i].kind &&
		        strcmp(fx->out.ids[i].event_id,
		            fx->tree.ids[i].event_id) == 0 &&
		        strcmp(fx->out.ids[i].session_id,
		            fx->tree.ids[i].session_id) == 0,
		    "%s %.80s: record %zu differs between view and tree", path,
		    body, i);
	return st;
}

static int
take_both_str(
    struct fixture *fx, const char *method, const char *path, const char *body)
{
	return take_both(fx, method, path, body, strlen(body));
}

#define EV "\"event_type\":\"chain\",\"inputs\":{}"
/* A session id, and its text after the first digit (to write that escaped). */
#define SID_TAIL "1111111-2222-4333-8444-555555555555"
#define SID "1" SID_TAIL
#define NUL_ERR "must not contain NUL characters (\\u0000)"

struct both_case {
	const char *method, *path, *body;
	int status;
	const char *err; /* the whole error text when refused */
};

static void
run_both(struct fixture *fx, const char *what, const struct both_case *cases,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int st = take_both_str(
		    fx, cases[i].method, cases[i].path, cases[i].body);

		CHECK(st == cases[i].status,
		    "%s %zu, %s: status %d (%s), want %d", what, i,
		    cases[i].body, st, fx->err, cases[i].status);
		if (cases[i].status != 0)
			CHECK(strcmp(fx->err, cases[i].err) == 0,
			    "%s %zu, %s: error \"%s\", want \"%s\"", what, i,
			    cases[i].body, fx->err, cases[i].err);
	}
}

/* Names written with escapes are the names cJSON decodes them to. */
static void
test_both_escaped_names(void **state)
{
	static const struct both_case cases[] = {
	    {"POST", "/events", "{\"ev\\u0065nt\":{" EV "}}", 0, NULL},
	    {"POST", "/events",
	        "{\"event\":{\"event\\u005ftype\":\"tool\",\"inputs\":{}}}", 0,
	        NULL},
	    {"POST", "/events",
	        "{\"event\":{\"Event_Type\":\"chain\",\"inputs\":{}}}", 400,
	        "event.event_type: required"},
	    {"POST", "/events",
	        "{\"event\":{\"event_type\":\"ch\\u0061in\",\"inputs\":{}}}", 0,
	        NULL},
	    {"POST", "/events",
	        "{\"event\":{" EV ",\"event_id\":\"\\u0031" SID_TAIL "\"}}", 0,
	        NULL},
	    {"POST", "/events/batch",
	        "{\"ev\\u0065nts\":[{" EV "}],\"is\\u005fsingle_session\":1}",
	        400, "is_single_session: must be a boolean"},
	    {"POST", "/events/model",
	        "{\"model_event\":{\"m\\u0065ssages\":[{},1]}}", 400,
	        "model_event.messages[1]: must be an object"},
	};
	struct fixture *fx = *state;

	run_both(fx, "escaped name", cases, sizeof(cases) / sizeof(cases[0]));
	take_both_str(fx, "POST", "/events",
	    "{\"event\":{" EV ",\"event_id\":\"\\u0031" SID_TAIL "\"}}");
	CHECK(strcmp(fx->out.ids[0].event_id, SID) == 0,
	    "an escaped id is reported decoded: %s", fx->out.ids[0].event_id);
}

/*
 * A documented member twice is refused however it is written; the body's
 * own members, and unknown ones, may repeat (the first counts, as cJSON
 * takes it).
 */
static void
test_both_duplicates(void **state)
{
	static const struct both_case cases[] = {
	    {"POST", "/events", "{\"event\":{" EV ",\"inputs\":{}}}", 400,
	        "event.inputs: duplicate member"},
	    {"POST", "/events",
	        "{\"event\":{" EV ",\"event\\u005ftype\":\"tool\"}}", 400,
	        "event.event_type: duplicate member"},
	    {"POST", "/events",
	        "{\"event\":{" EV ",\"event_id\":\"" SID
	        "\",\"ev\\u0065nt_id\":\"" SID "\"}}",
	        400, "event.event_id: duplicate member"},
	    {"POST", "/events", "{\"event\":{" EV ",\"x\":1,\"x\":[]}}", 0,
	        NULL},
	    {"POST", "/events", "{\"event\":{" EV "},\"event\":1}", 0, NULL},
	    {"POST", "/events", "{\"event\":1,\"ev\\u0065nt\":{" EV "}}", 400,
	        "event: must be an object or a string holding one"},
	    {"POST", "/events/batch", "{\"events\":[],\"events\":[1]}", 0,
	        NULL},
	    {"PUT", "/events",
	        "{\"event_id\":\"" SID "\",\"metadata\":{},\"metadata\":{}}",
	        400, "metadata: duplicate member"},
	};
	struct fixture *fx = *state;

	run_both(fx, "duplicate", cases, sizeof(cases) / sizeof(cases[0]));
}

/*
 * An escaped NUL in a record is refused wherever it is; one in a name of
 * the body itself cuts the name, as cJSON reads it, and is not a record's.
 */
static void
test_both_nul(void **state)
{
	static const struct both_case cases[] = {
	    {"POST", "/events", "{\"event\":{" EV ",\"source\":\"a\\u0000b\"}}",
	        400, "event: " NUL_ERR},
	    {"POST", "/events", "{\"event\":{" EV ",\"x\\u0000\":1}}", 400,
	        "event: " NUL_ERR},
	    {"POST", "/events",
	        "{\"event\":{\"event_type\":\"chain\\u0000x\",\"inputs\":{}}}",
	        400, "event: " NUL_ERR},
	    {"POST", "/events",
	        "{\"event\":{" EV ",\"session_id\":\"" SID "\\u0000\"}}", 400,
	        "event: " NUL_ERR},
	    {"POST", "/events", "{\"event\\u0000junk\":{" EV "}}", 0, NULL},
	    {"POST", "/events/batch",
	        "{\"events\":[{" EV "}],\"is_single_session\":true,"
	        "\"session_properties\":{\"source\":\"\\u0000\"}}",
	        400, "session_properties: " NUL_ERR},
	    {"POST", "/events/batch",
	        "{\"events\":[{" EV ",\"session_id\":\"" SID
	        "\\u0000\"}],\"is_single_session\":true}",
	        400, "events[0]: " NUL_ERR},
	    {"POST", "/events",
	        "{\"event\":\"{\\\"event_type\\\":\\\"chain\\\","
	        "\\\"inputs\\\":{}}\\u0000\"}",
	        400,
	        "event: the string holds \\u0000, and JSON text never does"},
	};
	struct fixture *fx = *state;

	run_both(fx, "NUL", cases, sizeof(cases) / sizeof(cases[0]));
}

/* Empty objects and arrays, and batches with elements that are no events. */
static void
test_both_empty_and_elements(void **state)
{
	static const struct both_case cases[] = {
	    {"POST", "/events", "{}", 400, "event: required"},
	    {"POST", "/events", "{\"event\":{}}", 400,
	        "event.event_type: required"},
	    {"POST", "/session/start", "{\"session\":{}}", 0, NULL},
	    {"POST", "/session/start", "{\"session\":{ \n }}", 0, NULL},
	    {"PUT", "/events", "{}", 400, "event_id: required"},
	    {"POST", "/events/batch", "{\"events\":[]}", 0, NULL},
	    {"POST", "/events/batch", "{\"events\":[{}]}", 400,
	        "events[0].event_type: required"},
	    {"POST", "/events/batch", "{\"events\":[{" EV "},1]}", 400,
	        "events[1]: must be an object or a string holding one"},
	    {"POST", "/events/batch", "{\"events\":[null]}", 400,
	        "events[0]: must be an object or a string holding one"},
	    /* The index is written digit by digit: past one digit too. */
	    {"POST", "/events/batch",
	        "{\"events\":[{" EV "},{" EV "},{" EV "},{" EV "},{" EV "},{" EV
	        "},{" EV "},{" EV "},{" EV "},{" EV "},{" EV "},{" EV "},{}]}",
	        400, "events[12].event_type: required"},
	    {"POST", "/events/batch", "{\"events\":[[{" EV "}]]}", 400,
	        "events[0]: must be an object or a string holding one"},
	    {"POST", "/events/model/batch", "{\"model_events\":[\"{}\"]}", 400,
	        "model_events[0]: must be an object"},
	    {"POST", "/events/batch", "{\"events\":{}}", 400,
	        "events: must be an array"},
	    {"POST", "/events/batch", "{\"evento\":[]}", 400,
	        "events: required"},
	    {"POST", "/events/batch",
	        "{\"events\":[],\"is_single_session\":\"true\"}", 400,
	        "is_single_session: must be a boolean"},
	    {"POST", "/events/batch",
	        "{\"events\":[],\"is_single_session\":null}", 400,
	        "is_single_session: must be a boolean"},
	    {"POST", "/events/batch",
	        "{\"events\":[],\"session_properties\":[]}", 400,
	        "session_properties: must be an object"},
	    {"POST", "/events/batch",
	        "{\"events\":[1],\"session_properties\":{\"session_id\":1}}",
	        400, "events[0]: must be an object or a string holding one"},
	    {"POST", "/events/batch",
	        "{\"events\":[{" EV "}],\"is_single_session\":true,"
	        "\"session_properties\":{\"session_id\":1}}",
	        400, "session_properties.session_id: must be a UUID string"},
	    {"POST", "/events",
	        "{\"event\":{" EV ",\"children_ids\":[\"a\",1]}}", 400,
	        "event.children_ids[1]: must be a string"},
	    {"POST", "/events", "[]", 400, "body: must be a JSON object"},
	    {"POST", "/events", " \"x\" ", 400, "body: must be a JSON object"},
	    {"PUT", "/events", " \n{\"event_id\":\"" SID "\"}\r\n ", 0, NULL},
	    {"POST", "/events", " { \"event\" : { " EV " } } ", 0, NULL},
	};
	struct fixture *fx = *state;

	run_both(
	    fx, "empty or element", cases, sizeof(cases) / sizeof(cases[0]));
}

/* The reference API's form, an event as a JSON string, in both readings. */
static void
test_both_string_form(void **state)
{
	static const struct both_case cases[] = {
	    {"POST", "/events",
	        "{\"event\":\"{\\\"event_type\\\":\\\"chain\\\","
	        "\\\"inputs\\\":{}}\"}",
	        0, NULL},
	    {"POST", "/events",
	        "{\"event\":\" {\\\"ev\\\\u0065nt_type\\\":\\\"tool\\\","
	        "\\\"inputs\\\":{}} \"}",
	        0, NULL},
	    {"POST", "/events",
	        "{\"event\":\"{\\\"event_type\\\":\\\"chain\\\"}\"}", 400,
	        "event.inputs: required"},
	    {"POST", "/events", "{\"event\":\"[1]\"}", 400,
	        "event: must be an object"},
	    {"POST", "/events", "{\"event\":\"\"}", 400,
	        "event: invalid JSON at byte 0: the text ends too early"},
	    {"POST", "/events/batch",
	        "{\"events\":[\"{\\\"event_type\\\":\\\"chain\\\","
	        "\\\"inputs\\\":{}}\",{" EV "}],\"is_single_session\":true}",
	        0, NULL},
	    {"POST", "/session/start", "{\"session\":\"{}\"}", 400,
	        "session: must be an object"},
	};
	struct fixture *fx = *state;

	run_both(fx, "string form", cases, sizeof(cases) / sizeof(cases[0]));
	take_both_str(fx, "POST", "/events/batch", cases[5].body);
	CHECK(fx->out.n == 2 && fx->out.ids[0].session_id[0] != '\0' &&
	        strcmp(fx->out.ids[0].session_id, fx->out.ids[1].session_id) ==
	            0,
	    "a string-form event joins its batch's session");
}

/* Numbers of any size pass as the client wrote them. */
static void
test_both_huge_numbers(void **state)
{
	struct fixture *fx = *state;
	char body[2048], digits[801];
	size_t n;

	memset(digits, '9', sizeof(digits) - 1);
	digits[sizeof(digits) - 1] = '\0';
	n = (size_t)snprintf(body, sizeof(body),
	    "{\"event\":{" EV ",\"duration\":-%s.%se-%s,"
	    "\"metrics\":{\"x\":1E+999,\"y\":-0.0}}}",
	    digits, digits, digits + 600);
	assert_true(n < sizeof(body));
	CHECK(take_both(fx, "POST", "/events", body, n) == 0,
	    "huge numbers refused: %s", fx->err);
	body_seal(&fx->out, 1);
	CHECK(memmem(fx->out.recs[0].data, fx->out.recs[0].len, digits,
	          sizeof(digits) - 1) != NULL,
	    "the number is spooled as written");
	CHECK(take_both_str(fx, "POST", "/events",
	          "{\"event\":{" EV ",\"duration\":\"1\"}}") == 400 &&
	        strcmp(fx->err, "event.duration: must be a number") == 0,
	    "a number in a string is no number: %s", fx->err);
}

/*
 * Nesting: at cJSON's limit of 1000 levels a body is taken, one deeper
 * it is refused, in a record or beside one.
 */
static void
test_both_depth(void **state)
{
	static const char *const heads[] = {
	    "{\"event\":{" EV ",\"x\":",
	    "{\"events\":[{" EV "},{" EV ",\"x\":",
	    "{\"x\":",
	};
	static const char *const tails[] = {"}}", "}]}", "}"};
	static const int opened[] = {2, 3, 1};
	struct fixture *fx = *state;
	struct buf body;
	int depth, st;

	buf_init(&body);
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		for (depth = 999; depth <= 1001; depth++) {
			int inner = depth - opened[i];

			buf_reset(&body);
			buf_addstr(&body, heads[i]);
			for (int d = 0; d < inner; d++)
				buf_addch(&body, '[');
			for (int d = 0; d < inner; d++)
				buf_addch(&body, ']');
			buf_addstr(&body, tails[i]);
			assert_false(buf_failed(&body));
			st = take_both(fx, "POST",
			    i == 1 ? "/events/batch" : "/events", body.data,
			    body.len);
			if (depth <= 1000)
				CHECK(st == 0 ||
				        (i == 2 && st == 400 &&
				            strcmp(fx->err,
				                "event: required") == 0),
				    "case %zu: %d levels refused: %s", i, depth,
				    fx->err);
			else
				CHECK(st == 400 &&
				        strstr(fx->err,
				            "nested deeper than 1000 levels") !=
				            NULL,
				    "case %zu: %d levels: %d %s", i, depth, st,
				    fx->err);
		}
	}
	buf_free(&body);
}

/*
 * A single-session batch takes the session its properties name, else its
 * first event's, decoded; its session record takes the first event's
 * project when it names none.
 */
static void
test_both_batch_session(void **state)
{
	struct fixture *fx = *state;
	const char *escaped = "\\u0031" SID_TAIL;
	char body[1024];

	snprintf(body, sizeof(body),
	    "{\"events\":[{" EV "},{" EV ",\"session_id\":\"%s\","
	    "\"project\":\"Pr\\u00f6j\"}],\"is_single_session\":true,"
	    "\"session_properties\":{\"session_id\":\"no\"}}",
	    escaped);
	CHECK(take_both_str(fx, "POST", "/events/batch", body) == 400 &&
	        strcmp(fx->err,
	            "session_properties.session_id: must be a UUID string") ==
	            0,
	    "properties naming no UUID: %s", fx->err);
	snprintf(body, sizeof(body),
	    "{\"events\":[{" EV "},{" EV ",\"session_id\":\"%s\","
	    "\"project\":\"Pr\\u00f6j\"}],\"is_single_session\":true,"
	    "\"session_properties\":{\"x\":1}}",
	    escaped);
	CHECK(take_both_str(fx, "POST", "/events/batch", body) == 0,
	    "refused: %s", fx->err);
	CHECK(strcmp(fx->out.session_id, SID) == 0,
	    "the batch's session is the event's, decoded: %s",
	    fx->out.session_id);
	body_seal(&fx->out, 1);
	CHECK(memmem(fx->out.recs[0].data, fx->out.recs[0].len,
	          "\"project\":\"Pr\xc3\xb6j\"", 17) != NULL,
	    "the session takes the event's project: %.*s",
	    (int)fx->out.recs[0].len, fx->out.recs[0].data);
}

/* max_event_bytes holds for an object and for a string form alike. */
static void
test_both_event_size(void **state)
{
	struct fixture *fx = *state;

	fx->opts.max_event_bytes = 40;
	CHECK(take_both_str(fx, "POST", "/events",
	          "{\"event\":{" EV ",\"x\":\"0123456789\"}}") == 413 &&
	        strcmp(fx->err, "event: larger than max_event_bytes (40)") == 0,
	    "a large object: %s", fx->err);
	CHECK(take_both_str(fx, "POST", "/events",
	          "{\"event\":\"{\\\"event_type\\\":\\\"chain\\\","
	          "\\\"inputs\\\":{},\\\"x\\\":12345}\"}") == 413,
	    "a large string form: %s", fx->err);
	CHECK(take_both_str(fx, "POST", "/events", "{\"event\":{" EV "}}") == 0,
	    "a small event refused: %s", fx->err);
}

static void
test_kind_routes(void **state)
{
	const struct kind_route *r = NULL;
	const struct kind *k;
	char allow[32];

	(void)state;
	k = kind_route("PUT", "/events", &r, allow, sizeof(allow));
	CHECK(k != NULL && k->id == KIND_UPDATE, "PUT /events is an update");
	k = kind_route("POST", "/v1/traces", &r, allow, sizeof(allow));
	CHECK(k != NULL && k->id == KIND_SPANS_PB && r->form == KIND_FORM_OTLP,
	    "POST /v1/traces is an OTLP export");
	k = kind_route("GET", "/events", &r, allow, sizeof(allow));
	CHECK(k == NULL && strcmp(allow, "POST, PUT") == 0,
	    "GET /events: no route, allow \"%s\"", allow);
	k = kind_route("POST", "/nowhere", &r, allow, sizeof(allow));
	CHECK(k == NULL && allow[0] == '\0', "an unknown path allows nothing");
	for (unsigned id = 1; id <= KIND_SPANS_JSON; id++) {
		k = kind_get(id);
		CHECK(k != NULL && k->id == id && k->name != NULL &&
		        k->up_path != NULL && k->up_content_type != NULL,
		    "kind %u has a whole row", id);
		CHECK((body_validator(id) != NULL) ==
		        (strcmp(k->unit, "event") == 0),
		    "kind %u has a validator exactly when it is of the event "
		    "API",
		    id);
	}
	CHECK(kind_get(0) == NULL && kind_get(200) == NULL,
	    "unknown ids have no row");
}

/*
 * POST /events/batch body with rules, through the view (redact_splice)
 * and the tree (tree_only, redact_tree): one status, error and counts
 * (into vc and tc, 4 slots). fx->out holds the view's records, fx->tree
 * the tree's, both sealed.
 */
static int
take_redacted(struct fixture *fx, const char *rules, const char *body,
    uint64_t *vc, uint64_t *tc)
{
	struct body_out view = fx->out;
	struct redact *r = NULL;
	char err[sizeof(fx->err)];
	int st, tst;

	CHECK(redact_load_string(
	          &r, "rules", rules, strlen(rules), "k", 1, NULL, NULL) == 0,
	    "rules do not load: %s", rules);
	CHECK(redact_rules(r) <= 4, "at most 4 rules here");
	memset(vc, 0, 4 * sizeof(*vc));
	memset(tc, 0, 4 * sizeof(*tc));
	fx->opts.redact = r;
	fx->out = fx->tree;
	fx->ids = 0;
	fx->opts.tree_only = 1;
	fx->opts.redact_counts = tc;
	tst = take_json(fx, "POST", "/events/batch", body);
	memcpy(err, fx->err, sizeof(err));
	fx->opts.tree_only = 0;
	fx->tree = fx->out;
	fx->out = view;
	fx->ids = 0;
	fx->opts.redact_counts = vc;
	st = take_json(fx, "POST", "/events/batch", body);
	fx->opts.redact = NULL;
	fx->opts.redact_counts = NULL;
	redact_free(r);
	CHECK(st == tst && strcmp(fx->err, err) == 0,
	    "%.80s: spliced %d \"%s\", tree %d \"%s\"", body, st, fx->err, tst,
	    err);
	CHECK(memcmp(vc, tc, 4 * sizeof(*vc)) == 0,
	    "%.80s: spliced and tree count otherwise", body);
	body_seal(&fx->out, 1);
	body_seal(&fx->tree, 1);
	return st;
}

/* A changed string is spliced into the client's bytes: the rest of the
 * record (numbers, spacing, other escapes) is theirs, not cJSON's. */
static void
test_redact_spliced(void **state)
{
	struct fixture *fx = *state;
	static const char tail[] =
	    "\"event_type\":\"chain\",\"inputs\":{\"q\":\"say \\\"x\\\"\\n"
	    "[REDACTED:e]\",\"r\":\"\\u0041\"},\"duration\": 1.50}";
	uint64_t vc[4], tc[4];
	const struct spool_rec *v, *t;

	CHECK(take_redacted(fx, "e * email mask\n",
	          "{\"events\":[{\"event_type\":\"chain\",\"inputs\":{\"q\":"
	          "\"say \\\"x\\\"\\na@example.com\",\"r\":\"\\u0041\"},"
	          "\"duration\": 1.50}]}",
	          vc, tc) == 0,
	    "refused: %s", fx->err);
	CHECK(vc[0] == 1, "one match counted, not %llu",
	    (unsigned long long)vc[0]);
	CHECK(fx->out.n == 1 && fx->tree.n == 1, "one record each");
	v = &fx->out.recs[0];
	t = &fx->tree.recs[0];
	CHECK(v->len > sizeof(tail) - 1 &&
	        memcmp((const char *)v->data + v->len - (sizeof(tail) - 1),
	            tail, sizeof(tail) - 1) == 0,
	    "the spliced record ends with the client's bytes:\n%.*s",
	    (int)v->len, (const char *)v->data);
	CHECK(memmem(t->data, t->len, "\"duration\":1.5}", 15) != NULL,
	    "the tree's record is printed again:\n%.*s", (int)t->len,
	    (const char *)t->data);
}

/* What only the tree does (a drop, a "value" rule on a number or an
 * object) takes the tree path for that record: the very same bytes. */
static void
test_redact_fallback(void **state)
{
	struct fixture *fx = *state;
	static const char *const rules[] = {
	    "d * email drop\n",
	    "e * email mask\nv field:metadata.n value mask\n",
	    "v field:inputs.o value hash\ne * email mask\n",
	};
	static const char body[] =
	    "{\"events\":[{\"event_type\":\"chain\",\"inputs\":{\"q\":"
	    "\"a@example.com\",\"o\":{\"x\": 1.0}},\"metadata\":{\"n\": 2.50}},"
	    "{\"event_type\":\"tool\",\"inputs\":{\"q\":\"b@example.com\"}}]}";
	uint64_t vc[4], tc[4];
	size_t i;

	for (i = 0; i < NELEM(rules); i++) {
		CHECK(take_redacted(fx, rules[i], body, vc, tc) == 0,
		    "%s: refused: %s", rules[i], fx->err);
		CHECK(vc[0] == 2 || vc[1] > 0, "%s: counted", rules[i]);
		CHECK(fx->out.n == 2 && fx->tree.n == 2, "two records each");
		/* the second record has no number and no object: spliced */
		CHECK(fx->out.recs[0].len == fx->tree.recs[0].len &&
		        memcmp(fx->out.recs[0].data, fx->tree.recs[0].data,
		            fx->out.recs[0].len) == 0,
		    "%s: the tree's bytes:\n%.*s\n%.*s", rules[i],
		    (int)fx->out.recs[0].len,
		    (const char *)fx->out.recs[0].data,
		    (int)fx->tree.recs[0].len,
		    (const char *)fx->tree.recs[0].data);
	}
}

static void
test_event_record(void **state)
{
	struct fixture *fx = *state;
	const char *body =
	    "{\"event\":{\"event_type\":\"chain\",\"inputs\":{}}}";

	CHECK(take_json(fx, "POST", "/events", body) == 0, "refused: %s",
	    fx->err);
	body_seal(&fx->out, 42);
	CHECK(fx->out.n == 1 && fx->out.items == 1, "one record");
	CHECK(fx->out.recs[0].kind == KIND_EVENT &&
	        fx->out.recs[0].count == 1 && fx->out.recs[0].time_ms == 42,
	    "an event record, stamped");
	CHECK(memmem(fx->out.recs[0].data, fx->out.recs[0].len,
	          "\"project\":\"dflt\"", 16) != NULL,
	    "defaults are spliced: %.*s", (int)fx->out.recs[0].len,
	    (const char *)fx->out.recs[0].data);
	CHECK(fx->out.recs[0].auth == NULL, "no client key");
}

static void
test_batch_session_lead(void **state)
{
	struct fixture *fx = *state;
	const char *body =
	    "{\"events\":[{\"event_type\":\"tool\",\"inputs\":{}},"
	    "{\"event_type\":\"chain\",\"inputs\":{}}],"
	    "\"is_single_session\":true,\"session_properties\":{}}";

	CHECK(take(fx, "POST", "/events/batch", NULL, NULL, body, strlen(body),
	          "app-key") == 0,
	    "refused: %s", fx->err);
	body_seal(&fx->out, 1);
	CHECK(fx->out.n == 3 && fx->out.lead == 1 && fx->out.items == 3,
	    "a session record, then two events");
	CHECK(fx->out.recs[0].kind == KIND_SESSION &&
	        memcmp(fx->out.recs[0].data, "{\"session\":", 11) == 0,
	    "the lead is a wrapped session");
	for (size_t i = 0; i < 3; i++)
		CHECK(fx->out.recs[i].auth_len == 7 &&
		        memcmp(fx->out.recs[i].auth, "app-key", 7) == 0,
		    "record %zu carries the client key", i);
	CHECK(strcmp(fx->out.ids[1].session_id, fx->out.session_id) == 0 &&
	        strcmp(fx->out.ids[2].session_id, fx->out.session_id) == 0,
	    "both events are in the batch's session");
}

static void
test_refusals_leave_nothing(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *method, *path, *body, *says;
		int status;
	} cases[] = {
	    {"POST", "/events",
	        "{\"event\":{\"event_type\":\"x\",\"inputs\":{}}}",
	        "event.event_type", 400},
	    {"POST", "/events/batch",
	        "{\"events\":[{\"event_type\":\"chain\",\"inputs\":{}},1]}",
	        "events[1]", 400},
	    {"PUT", "/events", "{\"metadata\":{}}", "event_id: required", 400},
	    {"POST", "/session/start", "[1]", "body: must be a JSON object",
	        400},
	    {"POST", "/events", "{\"event\":{}} x", "text after the JSON", 400},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = take_json(
		    fx, cases[i].method, cases[i].path, cases[i].body);

		CHECK(st == cases[i].status, "case %zu: status %d", i, st);
		CHECK(strstr(fx->err, cases[i].says) != NULL,
		    "case %zu: error \"%s\" lacks \"%s\"", i, fx->err,
		    cases[i].says);
		CHECK(fx->out.n == 0 && fx->out.data.len == 0,
		    "case %zu: a refused body leaves no record", i);
	}
}

/* {"events":[elem,elem,...]} of about size bytes, into out. */
static void
make_batch(struct buf *out, const char *elem, size_t size)
{
	size_t n = strlen(elem);

	buf_reset(out);
	buf_addstr(out, "{\"events\":[");
	buf_addstr(out, elem);
	while (out->len + n + 3 < size) {
		buf_addch(out, ',');
		buf_add(out, elem, n);
	}
	buf_addstr(out, "]}");
	assert_false(buf_failed(out));
}

/*
 * A batch's memory follows its valid records, not its element count: 4 MB
 * of elements that are not events (1, then {}) are refused at the first,
 * holding room for a few records and json_check's index of the body (a
 * constant, 24 KiB at most), where a span and a record for each of the
 * two million elements would be hundreds of megabytes.
 */
static void
test_batch_memory_bounded(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *elem, *err;
	} cases[] = {
	    {"1", "events[0]: must be an object or a string holding one"},
	    {"{}", "events[0].event_type: required"},
	};
	struct buf body;
	size_t fp;

	buf_init(&body);
	fx->opts.max_body_bytes = 16 * 1024 * 1024;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body_out_free(&fx->out);
		body_out_init(&fx->out);
		make_batch(&body, cases[i].elem, (size_t)4 << 20);
		CHECK(take(fx, "POST", "/events/batch", "application/json",
		          NULL, body.data, body.len, NULL) == 400 &&
		        strcmp(fx->err, cases[i].err) == 0,
		    "4 MB of %s: \"%s\", want 400 \"%s\"", cases[i].elem,
		    fx->err, cases[i].err);
		fp = body_out_footprint(&fx->out);
		CHECK(fp <= 32 * 1024 && fx->out.cap <= 8,
		    "4 MB of %s: the batch holds %zu bytes, room for %zu "
		    "records",
		    cases[i].elem, fp, fx->out.cap);
	}
	buf_free(&body);
}

/*
 * A large valid batch still goes through whole, its record arrays grown
 * as the records come (at most twice what they need).
 */
static void
test_batch_large_valid(void **state)
{
	struct fixture *fx = *state;
	struct buf body;
	size_t n;

	buf_init(&body);
	make_batch(&body, "{" EV "}", 64 * 1024);
	n = (body.len - 13) / (sizeof("{" EV "},") - 1) + 1;
	CHECK(take(fx, "POST", "/events/batch", "application/json", NULL,
	          body.data, body.len, NULL) == 0,
	    "a batch of %zu events refused: %s", n, fx->err);
	CHECK(fx->out.n == n && fx->out.items == n,
	    "a batch of %zu events made %zu records", n, fx->out.n);
	CHECK(fx->out.cap >= n && fx->out.cap <= 2 * n,
	    "room for %zu records for %zu events", fx->out.cap, n);
	buf_free(&body);
}

/* A protobuf export of n spans (ids from seed), packed into out. */
static void
make_export(struct buf *out, unsigned seed, size_t n, size_t trace_len)
{
	Otlp__ExportTraceServiceRequest req =
	    OTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Otlp__ResourceSpans rs = OTLP__RESOURCE_SPANS__INIT, *rsp = &rs;
	Otlp__ScopeSpans ss = OTLP__SCOPE_SPANS__INIT, *ssp = &ss;
	Otlp__Span *spans = calloc(n, sizeof(*spans));
	Otlp__Span **sp = calloc(n, sizeof(*sp));
	uint8_t tid[16], sid[8];
	size_t len;

	memset(tid, (int)seed, sizeof(tid));
	for (size_t i = 0; i < n; i++) {
		otlp__span__init(&spans[i]);
		memset(sid, (int)(seed + i), sizeof(sid));
		spans[i].trace_id.data = tid;
		spans[i].trace_id.len = trace_len;
		spans[i].span_id.data = sid;
		spans[i].span_id.len = sizeof(sid);
		spans[i].name = "op";
		sp[i] = &spans[i];
	}
	ss.n_spans = n;
	ss.spans = sp;
	rs.n_scope_spans = 1;
	rs.scope_spans = &ssp;
	req.n_resource_spans = 1;
	req.resource_spans = &rsp;
	len = otlp__export_trace_service_request__get_packed_size(&req);
	buf_reset(out);
	assert_int_equal(buf_reserve(out, len), 0);
	otlp__export_trace_service_request__pack(&req, (uint8_t *)out->data);
	out->len = len;
	free(spans);
	free(sp);
}

static void
test_otlp_protobuf(void **state)
{
	struct fixture *fx = *state;
	struct buf pb;

	buf_init(&pb);
	make_export(&pb, 3, 5, 16);
	CHECK(take(fx, "POST", "/v1/traces", "application/x-protobuf", NULL,
	          pb.data, pb.len, NULL) == 0,
	    "refused: %s", fx->err);
	body_seal(&fx->out, 1);
	CHECK(fx->out.n == 1 && fx->out.items == 5, "one record of 5 spans");
	CHECK(
	    fx->out.recs[0].kind == KIND_SPANS_PB && fx->out.recs[0].count == 5,
	    "a protobuf span record counting its spans");
	CHECK(fx->out.recs[0].len == pb.len &&
	        memcmp(fx->out.recs[0].data, pb.data, pb.len) == 0,
	    "the record is the client's bytes");
	make_export(&pb, 3, 2, 15);
	CHECK(take(fx, "POST", "/v1/traces", "application/x-protobuf", NULL,
	          pb.data, pb.len, NULL) == 400,
	    "a 15-byte trace id is refused");
	CHECK(strcmp(fx->err,
	          "resource_spans[0].scope_spans[0].spans[0]"
	          ".trace_id: must be 16 bytes") == 0,
	    "the error names the place: %s", fx->err);
	CHECK(take(fx, "POST", "/v1/traces", "text/plain", NULL, pb.data,
	          pb.len, NULL) == 415,
	    "another content type: 415");
	CHECK(take(fx, "POST", "/v1/traces", "application/x-protobuf", "br",
	          pb.data, pb.len, NULL) == 415,
	    "another encoding: 415");
	CHECK(fx->out.n == 0, "nothing refused is a record");
	buf_free(&pb);
}

static void
test_otlp_json(void **state)
{
	struct fixture *fx = *state;
	const char *body =
	    "{\"resourceSpans\": [ {\"scopeSpans\":[{\"spans\":["
	    "{\"traceId\":\"000102030405060708090a0b0c0d0e0f\","
	    "\"spanId\":\"0001020304050607\",\"name\":\"a\"},"
	    "{\"traceId\":\"000102030405060708090a0b0c0d0e0f\","
	    "\"spanId\":\"0001020304050608\",\"name\":\"b\"}]}]} ,"
	    "{\"x-unknown\":1} ] }";
	const char *rec;

	CHECK(take_json(fx, "POST", "/opentelemetry/v1/traces", body) == 0,
	    "refused: %s", fx->err);
	body_seal(&fx->out, 1);
	CHECK(fx->out.n == 1 && fx->out.recs[0].kind == KIND_SPANS_JSON &&
	        fx->out.recs[0].count == 2,
	    "a JSON span record of 2 spans");
	rec = fx->out.recs[0].data;
	CHECK(fx->out.recs[0].len > 0 && rec[0] == '{' &&
	        rec[fx->out.recs[0].len - 1] == '}',
	    "it holds the array's elements, trimmed: %.*s",
	    (int)fx->out.recs[0].len, rec);
	CHECK(memmem(rec, fx->out.recs[0].len, "{\"x-unknown\":1}", 15) != NULL,
	    "unknown members pass through as they came");
	CHECK(take_json(fx, "POST", "/v1/traces", "{\"resourceSpans\":[]}") ==
	            0 &&
	        fx->out.n == 0,
	    "an export without spans is accepted and spools nothing");
	CHECK(fx->out.otlp_encoding != 0, "the reply's encoding is known");
}

/* gzip of len zero bytes into out. */
static void
gzip_zeros(struct buf *out, size_t len)
{
	static const unsigned char zeros[64 * 1024];
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(
	    deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
	buf_reset(out);
	assert_int_equal(buf_reserve(out, len / 512 + 4096), 0);
	z.next_out = (unsigned char *)out->data;
	z.avail_out = (uInt)(len / 512 + 4096);
	while (len > 0) {
		size_t n = len < sizeof(zeros) ? len : sizeof(zeros);

		z.next_in = (unsigned char *)zeros;
		z.avail_in = (uInt)n;
		len -= n;
		assert_int_not_equal(
		    deflate(&z, len == 0 ? Z_FINISH : Z_NO_FLUSH),
		    Z_STREAM_ERROR);
	}
	out->len = z.total_out;
	deflateEnd(&z);
}

static void
test_otlp_bomb_bounded(void **state)
{
	struct fixture *fx = *state;
	struct buf bomb;

	buf_init(&bomb);
	gzip_zeros(&bomb, (size_t)64 << 20);
	CHECK(take(fx, "POST", "/v1/traces", "application/x-protobuf", "gzip",
	          bomb.data, bomb.len, NULL) == 413,
	    "64 MiB of zeros in %zu bytes of gzip: 413 (%s)", bomb.len,
	    fx->err);
	CHECK(fx->out.inflated.cap <= fx->opts.max_body_bytes + 4096,
	    "inflating stopped at max_body_bytes: %zu bytes held",
	    fx->out.inflated.cap);
	buf_free(&bomb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kind_routes),
	    cmocka_unit_test_setup_teardown(test_event_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_session_lead, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_refusals_leave_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_memory_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_large_valid, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_otlp_protobuf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_otlp_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_otlp_bomb_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_escaped_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_duplicates, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_both_nul, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_empty_and_elements, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_string_form, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_huge_numbers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_both_depth, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_batch_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_both_event_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_redact_spliced, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_redact_fallback, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
