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
#include "tests/support/check.h"

struct fixture {
	struct body_out out;
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
	        test_otlp_protobuf, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_otlp_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_otlp_bomb_bounded, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
