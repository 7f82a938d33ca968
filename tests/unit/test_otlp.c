/* test_otlp.c: unit tests for the OTLP trace codec: media types, inflate,
 * protobuf decode and pack, JSON validation, responses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <zlib.h>

#include "common/buf.h"
#include "otlp/inflate.h"
#include "otlp/json.h"
#include "otlp/otlp.h"
#include "otlp/pb.h"
#include "otlp/trace.pb-c.h"
#include "tests/support/check.h"

#define BIG_MEM ((size_t)256 << 20)
#define TARGET "resource_spans[1].scope_spans[1].spans[2]"

static const unsigned char id_bytes[32] = "0123456789abcdefghijklmnopqrstuv";

/*
 * A heap copy of exactly len bytes, so that AddressSanitizer catches any
 * read past the end.
 */
static unsigned char *
exact_copy(const void *s, size_t len)
{
	unsigned char *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

/* ---- media types ---- */

static void
test_content_type(void **state)
{
	static const struct {
		const char *in;
		int rc;
		enum otlp_encoding enc;
	} cases[] = {
	    {"application/x-protobuf", 0, OTLP_PROTOBUF},
	    {"application/protobuf", 0, OTLP_PROTOBUF},
	    {"Application/X-Protobuf", 0, OTLP_PROTOBUF},
	    {"application/json", 0, OTLP_JSON},
	    {"application/json; charset=utf-8", 0, OTLP_JSON},
	    {"APPLICATION/JSON;charset=UTF-8", 0, OTLP_JSON},
	    {" application/x-protobuf ", 0, OTLP_PROTOBUF},
	    {"application/x-protobuf\t; proto=x", 0, OTLP_PROTOBUF},
	    {NULL, -1, 0},
	    {"", -1, 0},
	    {"text/plain", -1, 0},
	    {"application/jsonl", -1, 0},
	    {"application/x-protobufx", -1, 0},
	    {"application/grpc", -1, 0},
	    {"json", -1, 0},
	    {"application/ json", -1, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		enum otlp_encoding enc = 0;
		int rc = otlp_content_type(cases[i].in, &enc);

		CHECK(rc == cases[i].rc, "content type \"%s\": rc %d, want %d",
		    cases[i].in ? cases[i].in : "(null)", rc, cases[i].rc);
		CHECK(rc != 0 || enc == cases[i].enc,
		    "content type \"%s\": encoding %d, want %d", cases[i].in,
		    enc, cases[i].enc);
		CHECK(rc == 0 || enc == 0,
		    "content type \"%s\": refused but *enc changed",
		    cases[i].in ? cases[i].in : "(null)");
	}
}

static void
test_content_encoding(void **state)
{
	static const struct {
		const char *in;
		int rc;
		enum otlp_compression c;
	} cases[] = {
	    {NULL, 0, OTLP_IDENTITY},
	    {"", 0, OTLP_IDENTITY},
	    {"identity", 0, OTLP_IDENTITY},
	    {"gzip", 0, OTLP_GZIP},
	    {"GZIP", 0, OTLP_GZIP},
	    {"x-gzip", 0, OTLP_GZIP},
	    {" gzip ", 0, OTLP_GZIP},
	    {"deflate", 0, OTLP_DEFLATE},
	    {"Deflate", 0, OTLP_DEFLATE},
	    {"br", -1, 0},
	    {"gzip, br", -1, 0},
	    {"gzip,deflate", -1, 0},
	    {"zstd", -1, 0},
	    {"compress", -1, 0},
	    {"gzip;q=1", -1, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		enum otlp_compression c = 99;
		int rc = otlp_content_encoding(cases[i].in, &c);

		CHECK(rc == cases[i].rc,
		    "content encoding \"%s\": rc %d, want %d",
		    cases[i].in ? cases[i].in : "(null)", rc, cases[i].rc);
		CHECK(rc != 0 || c == cases[i].c,
		    "content encoding \"%s\": %d, want %d",
		    cases[i].in ? cases[i].in : "(null)", c, cases[i].c);
		CHECK(rc == 0 || c == 99,
		    "content encoding \"%s\": refused but *c changed",
		    cases[i].in);
	}
}

/* ---- inflate ---- */

static void
zip(const void *in, size_t len, int wbits, struct buf *out)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(
	    deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY),
	    Z_OK);
	assert_int_equal(buf_reserve(out, deflateBound(&z, len)), 0);
	z.next_in = (unsigned char *)in;
	z.avail_in = (uInt)len;
	z.next_out = (unsigned char *)out->data + out->len;
	z.avail_out = (uInt)(out->cap - out->len - 1);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out->len += z.total_out;
	deflateEnd(&z);
}

static const char plain_text[] =
    "{\"resourceSpans\":[]} h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
    "and some more text so that deflate has something to do, something "
    "to do, something to do.";

/* Inflate in (copied exactly) with max; the result and out. */
static int
run_inflate(enum otlp_compression c, const struct buf *in, size_t max,
    struct buf *out, char *err, size_t errlen)
{
	unsigned char *copy = exact_copy(in->data, in->len);
	int rc;

	err[0] = '\0';
	rc = otlp_inflate(c, copy, in->len, max, out, err, errlen);
	free(copy);
	return rc;
}

static void
expect_plain(int rc, const struct buf *out, const char *what, const char *err)
{
	CHECK(rc == OTLP_OK, "%s: rc %d (%s)", what, rc, err);
	CHECK(out->len == strlen(plain_text) &&
	        memcmp(out->data, plain_text, out->len) == 0,
	    "%s: inflated %zu bytes, not the original %zu", what, out->len,
	    strlen(plain_text));
	CHECK(
	    out->data[out->len] == '\0', "%s: output not NUL-terminated", what);
}

static void
test_inflate_good(void **state)
{
	struct buf in, out;
	char err[256];
	int rc;

	buf_init(&in);
	buf_init(&out);

	zip(plain_text, strlen(plain_text), 16 + MAX_WBITS, &in);
	rc = run_inflate(OTLP_GZIP, &in, 1 << 20, &out, err, sizeof(err));
	expect_plain(rc, &out, "gzip", err);

	buf_reset(&in);
	buf_reset(&out);
	zip(plain_text, strlen(plain_text), MAX_WBITS, &in);
	rc = run_inflate(OTLP_DEFLATE, &in, 1 << 20, &out, err, sizeof(err));
	expect_plain(rc, &out, "deflate (zlib format)", err);

	buf_reset(&in);
	buf_reset(&out);
	zip(plain_text, strlen(plain_text), -MAX_WBITS, &in);
	rc = run_inflate(OTLP_DEFLATE, &in, 1 << 20, &out, err, sizeof(err));
	expect_plain(rc, &out, "deflate (raw)", err);

	/* Two members: gzip(1) reads them as one file. */
	buf_reset(&in);
	buf_reset(&out);
	zip(plain_text, 20, 16 + MAX_WBITS, &in);
	zip(plain_text + 20, strlen(plain_text) - 20, 16 + MAX_WBITS, &in);
	rc = run_inflate(OTLP_GZIP, &in, 1 << 20, &out, err, sizeof(err));
	expect_plain(rc, &out, "two gzip members", err);

	/* Identity copies; output is appended after what out held. */
	buf_reset(&in);
	buf_reset(&out);
	buf_addstr(&out, "keep:");
	buf_addstr(&in, "abc");
	rc = run_inflate(OTLP_IDENTITY, &in, 3, &out, err, sizeof(err));
	CHECK(
	    rc == OTLP_OK && out.len == 8 && strcmp(out.data, "keep:abc") == 0,
	    "identity: rc %d, out \"%s\"", rc, out.data ? out.data : "");
	rc = run_inflate(OTLP_IDENTITY, &in, 2, &out, err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG, "identity past max: rc %d", rc);
	CHECK(strcmp(out.data, "keep:abc") == 0,
	    "identity past max changed out to \"%s\"", out.data);

	/* Exactly max is fine, one byte more is not. */
	buf_reset(&in);
	buf_reset(&out);
	zip(plain_text, strlen(plain_text), 16 + MAX_WBITS, &in);
	rc = run_inflate(
	    OTLP_GZIP, &in, strlen(plain_text), &out, err, sizeof(err));
	expect_plain(rc, &out, "gzip of exactly max bytes", err);
	buf_reset(&out);
	rc = run_inflate(
	    OTLP_GZIP, &in, strlen(plain_text) - 1, &out, err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG, "gzip of max + 1 bytes: rc %d", rc);
	CHECK(
	    strstr(err, "passes") != NULL, "gzip of max + 1: err \"%s\"", err);
	CHECK(out.len == 0, "refused gzip left %zu bytes in out", out.len);

	buf_free(&in);
	buf_free(&out);
}

static void
test_inflate_bad(void **state)
{
	struct buf good, in, out;
	char err[256];
	size_t i;
	int rc;
	static const struct {
		const char *what;
		enum otlp_compression c;
		const char *want; /* in err */
	} kinds[] = {
	    {"truncated gzip", OTLP_GZIP, "body: truncated gzip stream"},
	    {"gzip with a bad CRC", OTLP_GZIP, "body: broken gzip stream"},
	    {"gzip with trailing garbage", OTLP_GZIP,
	        "body: bytes after the end of the gzip stream"},
	    {"gzip with a broken body", OTLP_GZIP, "body: broken gzip stream"},
	    {"not gzip at all", OTLP_GZIP, "body: broken gzip stream"},
	    {"empty gzip", OTLP_GZIP, "body: truncated gzip stream"},
	    {"truncated zlib", OTLP_DEFLATE, "body: truncated deflate stream"},
	    {"zlib with a bad adler32", OTLP_DEFLATE,
	        "body: broken deflate stream"},
	    {"zlib with trailing garbage", OTLP_DEFLATE,
	        "body: bytes after the end of the deflate stream"},
	};

	buf_init(&good);
	buf_init(&in);
	buf_init(&out);
	for (i = 0; i < NELEM(kinds); i++) {
		int wbits =
		    kinds[i].c == OTLP_GZIP ? 16 + MAX_WBITS : MAX_WBITS;

		buf_reset(&good);
		buf_reset(&in);
		buf_reset(&out);
		buf_addstr(&out, "prior");
		zip(plain_text, strlen(plain_text), wbits, &good);
		buf_add(&in, good.data, good.len);
		switch (i) {
		case 0:
		case 6:
			in.len -= 5;
			break;
		case 1:
		case 7:
			in.data[in.len - (i == 1 ? 6 : 2)] ^= 0x55;
			break;
		case 2:
		case 8:
			buf_addstr(&in, "garbage");
			break;
		case 3:
			in.data[12] ^= 0xff;
			in.data[13] ^= 0xff;
			break;
		case 4:
			buf_reset(&in);
			buf_addstr(&in, "hello, world");
			break;
		case 5:
			in.len = 0;
			break;
		}
		rc = run_inflate(
		    kinds[i].c, &in, 1 << 20, &out, err, sizeof(err));
		CHECK(rc == OTLP_E_BAD, "%s: rc %d, want OTLP_E_BAD (%s)",
		    kinds[i].what, rc, err);
		CHECK(strncmp(err, kinds[i].want, strlen(kinds[i].want)) == 0,
		    "%s: err \"%s\", want \"%s...\"", kinds[i].what, err,
		    kinds[i].want);
		CHECK(out.len == 5 && strcmp(out.data, "prior") == 0,
		    "%s: out not given back as it was", kinds[i].what);
	}
	buf_free(&good);
	buf_free(&in);
	buf_free(&out);
}

/*
 * A gzip file of mib MiB of zeros in about mib KiB: one MiB deflated after
 * a full flush (which makes it independent of what came before) repeated,
 * then the final block and the trailer. Built in milliseconds, where
 * deflating 1 GiB takes seconds.
 */
static void
make_zero_bomb(unsigned mib, struct buf *out)
{
	static const unsigned char zeros[1 << 20];
	static const unsigned char header[10] = {
	    0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	unsigned char chunk[4096], tail[64], trailer[8];
	uLong one, crc = crc32(0, NULL, 0);
	size_t clen, tlen;
	unsigned i;
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(
	    deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY),
	    Z_OK);
	z.next_in = (unsigned char *)zeros;
	z.avail_in = sizeof(zeros);
	z.next_out = chunk;
	z.avail_out = sizeof(chunk);
	assert_int_equal(deflate(&z, Z_FULL_FLUSH), Z_OK);
	assert_int_equal(z.avail_in, 0);
	clen = sizeof(chunk) - z.avail_out;
	z.next_out = tail;
	z.avail_out = sizeof(tail);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	tlen = sizeof(tail) - z.avail_out;
	deflateEnd(&z);

	buf_add(out, header, sizeof(header));
	one = crc32(0, zeros, sizeof(zeros));
	for (i = 0; i < mib; i++) {
		buf_add(out, chunk, clen);
		crc = crc32_combine(crc, one, sizeof(zeros));
	}
	buf_add(out, tail, tlen);
	for (i = 0; i < 4; i++) {
		trailer[i] = (unsigned char)(crc >> (8 * i));
		trailer[4 + i] =
		    (unsigned char)(((uint64_t)mib << 20) >> (8 * i));
	}
	buf_add(out, trailer, sizeof(trailer));
}

static void
test_inflate_bomb(void **state)
{
	struct buf in, out;
	char err[256];
	size_t max = (size_t)1 << 20, i;
	int rc;

	buf_init(&in);
	buf_init(&out);
	/* The construction is a valid gzip file: 4 MiB of zeros, whole. */
	make_zero_bomb(4, &in);
	rc = run_inflate(
	    OTLP_GZIP, &in, (size_t)8 << 20, &out, err, sizeof(err));
	CHECK(rc == OTLP_OK, "the 4 MiB bomb does not inflate: %s", err);
	CHECK(out.len == (size_t)4 << 20, "the 4 MiB bomb gave %zu bytes",
	    out.len);
	for (i = 0; i < out.len; i++)
		if (out.data[i] != 0)
			fail_msg(
			    "the 4 MiB bomb has a non-zero byte at %zu", i);

	/* 1 GiB of zeros in about 1 MB: refused, never held. */
	buf_reset(&in);
	buf_free(&out);
	make_zero_bomb(1024, &in);
	CHECK(in.len < (size_t)2 << 20, "the bomb is %zu bytes", in.len);
	rc = run_inflate(OTLP_GZIP, &in, max, &out, err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG, "1 GiB bomb: rc %d (%s)", rc, err);
	CHECK(strcmp(err, "body: decompressed size passes 1048576 bytes") == 0,
	    "1 GiB bomb: err \"%s\"", err);
	CHECK(out.cap <= max + 2, "1 GiB bomb: out grew to %zu bytes, max %zu",
	    out.cap, max);
	CHECK(out.len == 0, "1 GiB bomb: %zu bytes left in out", out.len);

	/* The same through deflate (raw), and with bytes already in out. */
	buf_reset(&out);
	buf_addstr(&out, "0123456789");
	rc = run_inflate(OTLP_DEFLATE,
	    &(struct buf){.data = in.data + 10, .len = in.len - 18}, max, &out,
	    err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG, "raw deflate bomb: rc %d (%s)", rc, err);
	CHECK(out.cap <= 10 + max + 2, "raw deflate bomb: out grew to %zu",
	    out.cap);
	CHECK(out.len == 10, "raw deflate bomb: out not given back");
	buf_free(&in);
	buf_free(&out);
}

/* ---- protobuf ---- */

/*
 * A good export: resource_spans[0] has one scope of one span;
 * resource_spans[1] has a scope of one span and one of three. The target
 * span, TARGET = resource_spans[1].scope_spans[1].spans[2], has one link;
 * spec sets its ids' lengths and its name. Every span has two attributes.
 */
struct spec {
	size_t trace, span, parent, link_trace, link_span;
	const char *name;
	int unknown; /* add an unknown field to the target span */
};

static const struct spec good_spec = {16, 8, 8, 16, 8, "target", 0};

static void
pack_export(const struct spec *sp, struct buf *out)
{
	Otlp__ExportTraceServiceRequest req;
	Otlp__ResourceSpans rs[2], *rsp[2];
	Otlp__ScopeSpans ss[3], *ssp0[1], *ssp1[2];
	Otlp__InstrumentationScope scope;
	Otlp__Resource res;
	Otlp__Span s[5], *sp0[1], *sp1[1], *sp2[3];
	Otlp__Span__Link link, *linkp[1];
	Otlp__KeyValue kv[2], *kvp[2];
	Otlp__AnyValue av[2];
	Otlp__Status status;
	ProtobufCMessageUnknownField uf;
	static const uint8_t unknown_value[] = {5, 'h', 'e', 'l', 'l', 'o'};
	size_t i, n;

	otlp__export_trace_service_request__init(&req);
	otlp__resource__init(&res);
	otlp__instrumentation_scope__init(&scope);
	scope.name = "scope";
	scope.version = "1.0";
	otlp__any_value__init(&av[0]);
	av[0].value_case = OTLP__ANY_VALUE__VALUE_STRING_VALUE;
	av[0].string_value =
	    "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac";
	otlp__any_value__init(&av[1]);
	av[1].value_case = OTLP__ANY_VALUE__VALUE_INT_VALUE;
	av[1].int_value = -42;
	for (i = 0; i < 2; i++) {
		otlp__key_value__init(&kv[i]);
		kv[i].key = i == 0 ? "gen_ai.prompt" : "gen_ai.usage.tokens";
		kv[i].value = &av[i];
		kvp[i] = &kv[i];
	}
	res.n_attributes = 2;
	res.attributes = kvp;
	otlp__status__init(&status);
	status.code = OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
	status.message = "boom";
	for (i = 0; i < 5; i++) {
		int target = i == 4;

		otlp__span__init(&s[i]);
		s[i].trace_id.data = (uint8_t *)id_bytes;
		s[i].trace_id.len = target ? sp->trace : 16;
		s[i].span_id.data = (uint8_t *)id_bytes + i;
		s[i].span_id.len = target ? sp->span : 8;
		s[i].parent_span_id.data = (uint8_t *)id_bytes + 8;
		s[i].parent_span_id.len = target ? sp->parent : (i ? 8 : 0);
		s[i].name = target ? (char *)sp->name : "span";
		s[i].kind = OTLP__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
		s[i].start_time_unix_nano = UINT64_C(1700000000000000000) + i;
		s[i].end_time_unix_nano = UINT64_C(1700000000000000100) + i;
		s[i].n_attributes = 2;
		s[i].attributes = kvp;
		s[i].status = &status;
		s[i].flags = 0x101;
	}
	otlp__span__link__init(&link);
	link.trace_id.data = (uint8_t *)id_bytes + 1;
	link.trace_id.len = sp->link_trace;
	link.span_id.data = (uint8_t *)id_bytes + 2;
	link.span_id.len = sp->link_span;
	linkp[0] = &link;
	s[4].n_links = 1;
	s[4].links = linkp;
	if (sp->unknown) {
		uf.tag = 100;
		uf.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
		uf.len = sizeof(unknown_value);
		uf.data = (uint8_t *)unknown_value;
		s[4].base.n_unknown_fields = 1;
		s[4].base.unknown_fields = &uf;
	}
	sp0[0] = &s[0];
	sp1[0] = &s[1];
	sp2[0] = &s[2];
	sp2[1] = &s[3];
	sp2[2] = &s[4];
	for (i = 0; i < 3; i++) {
		otlp__scope_spans__init(&ss[i]);
		ss[i].scope = &scope;
	}
	ss[0].n_spans = 1;
	ss[0].spans = sp0;
	ss[1].n_spans = 1;
	ss[1].spans = sp1;
	ss[2].n_spans = 3;
	ss[2].spans = sp2;
	ss[2].schema_url = "https://opentelemetry.io/schemas/1.26.0";
	ssp0[0] = &ss[0];
	ssp1[0] = &ss[1];
	ssp1[1] = &ss[2];
	for (i = 0; i < 2; i++) {
		otlp__resource_spans__init(&rs[i]);
		rs[i].resource = &res;
		rsp[i] = &rs[i];
	}
	rs[0].n_scope_spans = 1;
	rs[0].scope_spans = ssp0;
	rs[1].n_scope_spans = 2;
	rs[1].scope_spans = ssp1;
	req.n_resource_spans = 2;
	req.resource_spans = rsp;

	n = otlp__export_trace_service_request__get_packed_size(&req);
	assert_int_equal(buf_reserve(out, n), 0);
	otlp__export_trace_service_request__pack(
	    &req, (uint8_t *)out->data + out->len);
	out->len += n;
}

/*
 * Decode an exact copy of body; the handle (or NULL) and the result. Every
 * decode also runs otlp_pb_check, which must give the same answer (but
 * for the memory bound, which only unpacking has) and the span count.
 */
static int
decode(const void *body, size_t len, size_t max_mem, struct otlp_pb **pb,
    char *err, size_t errlen)
{
	unsigned char *copy = exact_copy(body, len);
	char *cerr = calloc(1, errlen);
	size_t nspans = 0;
	int rc, crc;

	assert_non_null(cerr);
	err[0] = '\0';
	rc = otlp_pb_decode(copy, len, max_mem, pb, err, errlen);
	crc = otlp_pb_check(copy, len, &nspans, cerr, errlen);
	free(copy);
	if (rc != OTLP_E_TOOBIG || strstr(err, "of memory") == NULL) {
		CHECK(crc == rc, "otlp_pb_check says %d, decode %d (%s / %s)",
		    crc, rc, cerr, err);
		CHECK(rc == OTLP_OK || strcmp(cerr, err) == 0,
		    "otlp_pb_check's error \"%s\", decode's \"%s\"", cerr, err);
		CHECK(rc != OTLP_OK || nspans == otlp_pb_spans(*pb),
		    "otlp_pb_check counts %zu spans, decode %zu", nspans,
		    otlp_pb_spans(*pb));
	}
	free(cerr);
	return rc;
}

static void
test_pb_good(void **state)
{
	struct buf body, again;
	struct otlp_pb *pb;
	Otlp__ExportTraceServiceRequest *req;
	const Otlp__Span *t;
	char err[512];
	int rc;

	buf_init(&body);
	buf_init(&again);
	pack_export(&good_spec, &body);
	rc = decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
	CHECK(rc == OTLP_OK, "good export refused: %s", err);
	CHECK(otlp_pb_spans(pb) == 5, "good export: %zu spans, want 5",
	    otlp_pb_spans(pb));
	req = otlp_pb_request(pb);
	t = req->resource_spans[1]->scope_spans[1]->spans[2];
	CHECK(strcmp(t->name, "target") == 0, "target span named \"%s\"",
	    t->name);
	CHECK(t->trace_id.len == 16 &&
	        memcmp(t->trace_id.data, id_bytes, 16) == 0,
	    "target span's trace_id changed");
	CHECK(strcmp(req->resource_spans[0]
	                 ->resource->attributes[0]
	                 ->value->string_value,
	          "h\xc3\xa9llo \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac") == 0,
	    "non-ASCII attribute changed");
	CHECK(otlp_pb_mem(pb) > body.len && otlp_pb_mem(pb) < BIG_MEM,
	    "memory counted: %zu for %zu bytes", otlp_pb_mem(pb), body.len);

	/* protobuf-c wrote it, so packing again gives the same bytes. */
	buf_add(&again, "x", 1);
	CHECK(otlp_pb_pack(pb, &again) == OTLP_OK, "pack failed");
	CHECK(again.len == body.len + 1 &&
	        memcmp(again.data + 1, body.data, body.len) == 0,
	    "re-packed export differs (%zu bytes, want %zu, appended)",
	    again.len - 1, body.len);
	otlp_pb_free(pb);

	/* An empty body is an export of no spans. */
	rc = decode("", 0, BIG_MEM, &pb, err, sizeof(err));
	CHECK(rc == OTLP_OK, "empty export refused: %s", err);
	CHECK(otlp_pb_spans(pb) == 0, "empty export has spans");
	otlp_pb_free(pb);
	otlp_pb_free(NULL);

	/* Two exports concatenated are one export of both. */
	buf_reset(&again);
	buf_add(&again, body.data, body.len);
	buf_add(&again, body.data, body.len);
	rc = decode(again.data, again.len, BIG_MEM, &pb, err, sizeof(err));
	CHECK(rc == OTLP_OK && otlp_pb_spans(pb) == 10,
	    "two concatenated exports: rc %d, %zu spans (%s)", rc,
	    rc == OTLP_OK ? otlp_pb_spans(pb) : 0, err);
	otlp_pb_free(pb);
	buf_free(&body);
	buf_free(&again);
}

static void
test_pb_redact_then_pack(void **state)
{
	struct buf body, out;
	struct otlp_pb *pb, *pb2;
	Otlp__ExportTraceServiceRequest *req;
	Otlp__AnyValue *v;
	char err[512];

	buf_init(&body);
	buf_init(&out);
	pack_export(&good_spec, &body);
	assert_int_equal(
	    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err)),
	    OTLP_OK);
	/* What redaction does: a string replaced by a malloc'd one. */
	req = otlp_pb_request(pb);
	v = req->resource_spans[1]
	        ->scope_spans[1]
	        ->spans[2]
	        ->attributes[0]
	        ->value;
	free(v->string_value);
	v->string_value = strdup("[REDACTED]");
	assert_non_null(v->string_value);
	assert_int_equal(otlp_pb_pack(pb, &out), OTLP_OK);
	otlp_pb_free(pb);
	assert_int_equal(
	    decode(out.data, out.len, BIG_MEM, &pb2, err, sizeof(err)),
	    OTLP_OK);
	req = otlp_pb_request(pb2);
	v = req->resource_spans[1]
	        ->scope_spans[1]
	        ->spans[2]
	        ->attributes[0]
	        ->value;
	CHECK(strcmp(v->string_value, "[REDACTED]") == 0,
	    "changed value did not survive pack: \"%s\"", v->string_value);
	otlp_pb_free(pb2);
	buf_free(&body);
	buf_free(&out);
}

static int
contains(const struct buf *b, const void *needle, size_t n)
{
	size_t i;

	for (i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, needle, n) == 0)
			return 1;
	return 0;
}

static void
test_pb_unknown_fields_survive(void **state)
{
	static const uint8_t top[] = {0xa0, 0x06, 0x2a}; /* field 100: 42 */
	static const uint8_t inner[] = {0xa2, 0x06, 0x05, 'h', 'e', 'l', 'l',
	    'o'}; /* field 100: "hello", as the target span carries it */
	struct spec sp = good_spec;
	struct buf body, out;
	struct otlp_pb *pb;
	char err[512];

	buf_init(&body);
	buf_init(&out);
	sp.unknown = 1;
	pack_export(&sp, &body);
	assert_true(contains(&body, inner, sizeof(inner)));
	buf_add(&body, top, sizeof(top));
	CHECK(decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err)) ==
	        OTLP_OK,
	    "export with unknown fields refused: %s", err);
	assert_int_equal(otlp_pb_pack(pb, &out), OTLP_OK);
	CHECK(out.len == body.len, "re-packed: %zu bytes, want %zu", out.len,
	    body.len);
	CHECK(out.len >= sizeof(top) &&
	        memcmp(out.data + out.len - sizeof(top), top, sizeof(top)) == 0,
	    "the unknown field appended to the export is gone after pack");
	CHECK(contains(&out, inner, sizeof(inner)),
	    "the unknown field inside a span is gone after pack");
	otlp_pb_free(pb);
	buf_free(&body);
	buf_free(&out);
}

/*
 * Every prefix of a good export either fails cleanly or, when it ends
 * exactly between two resource_spans, decodes as the export of those
 * before the cut: protobuf has no end marker, so such a prefix is valid.
 */
static void
test_pb_truncated_every_byte(void **state)
{
	struct buf body;
	struct otlp_pb *pb;
	size_t cut, pos, bounds[8], nb = 0, i;
	char err[512];

	buf_init(&body);
	pack_export(&good_spec, &body);
	/* The top-level field boundaries: key 0x0a, a length, the bytes. */
	bounds[nb++] = 0;
	for (pos = 0; pos < body.len;) {
		uint64_t v = 0;
		unsigned shift = 0;

		assert_int_equal((unsigned char)body.data[pos++], 0x0a);
		do {
			v |= (uint64_t)(body.data[pos] & 0x7f) << shift;
			shift += 7;
		} while (body.data[pos++] & 0x80);
		pos += v;
		bounds[nb++] = pos;
	}
	assert_int_equal(nb, 3);
	for (cut = 0; cut < body.len; cut++) {
		int boundary = 0, rc;

		for (i = 0; i < nb; i++)
			boundary |= bounds[i] == cut;
		rc = decode(body.data, cut, BIG_MEM, &pb, err, sizeof(err));
		if (boundary) {
			CHECK(rc == OTLP_OK,
			    "prefix of %zu bytes (a boundary) refused: %s", cut,
			    err);
			CHECK(otlp_pb_spans(pb) == (cut == 0 ? 0u : 1u),
			    "prefix of %zu bytes: %zu spans", cut,
			    otlp_pb_spans(pb));
			otlp_pb_free(pb);
		} else {
			CHECK(rc == OTLP_E_BAD,
			    "prefix of %zu bytes of %zu: rc %d, want "
			    "OTLP_E_BAD",
			    cut, body.len, rc);
			CHECK(pb == NULL, "refused prefix left a handle");
			CHECK(err[0] != '\0' && strchr(err, ':') != NULL,
			    "prefix of %zu bytes: err \"%s\"", cut, err);
		}
	}
	buf_free(&body);
}

static void
w_varint(struct buf *b, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;

		v >>= 7;
		if (v != 0)
			c |= 0x80;
		buf_add(b, &c, 1);
	} while (v != 0);
}

static void
w_key(struct buf *b, unsigned field, unsigned wt)
{
	w_varint(b, (uint64_t)field << 3 | wt);
}

static void
w_bytes(struct buf *b, unsigned field, const void *p, size_t n)
{
	w_key(b, field, 2);
	w_varint(b, n);
	buf_add(b, p, n);
}

/* request{resource_spans{scope_spans{spans: span}}} into out. */
static void
wrap_span(const struct buf *span, struct buf *out)
{
	struct buf ss, rs;

	buf_init(&ss);
	buf_init(&rs);
	w_bytes(&ss, 2, span->data, span->len);
	w_bytes(&rs, 2, ss.data, ss.len);
	w_bytes(out, 1, rs.data, rs.len);
	buf_free(&ss);
	buf_free(&rs);
}

/* A span with good ids, then the raw bytes extra. */
static void
span_with(const void *extra, size_t n, struct buf *out)
{
	struct buf span;

	buf_init(&span);
	w_bytes(&span, 1, id_bytes, 16);
	w_bytes(&span, 2, id_bytes, 8);
	buf_add(&span, extra, n);
	wrap_span(&span, out);
	buf_free(&span);
}

#define S0 "resource_spans[0].scope_spans[0].spans[0]"
#define NOT_EXPORT "body: not an ExportTraceServiceRequest ("

static void
test_pb_wire_errors(void **state)
{
	static const struct {
		const char *what;
		int in_span; /* bytes go into a good span */
		const char *bytes;
		size_t n;
		const char *want;
	} cases[] = {
	    {"resource_spans as a varint", 0, "\x08\x01", 2,
	        "resource_spans[0]: wrong wire type 0 for a message field"},
	    {"trace_id as a varint", 1, "\x08\x01", 2,
	        S0 ".trace_id: wrong wire type 0 for a bytes field"},
	    {"start time as a varint", 1, "\x38\x01", 2,
	        S0 ".start_time_unix_nano: wrong wire type 0 for a fixed64 "
	           "field"},
	    {"flags as fixed64", 1, "\x81\x01\x01\x02\x03\x04\x05\x06\x07\x08",
	        10, S0 ".flags: wrong wire type 1 for a fixed32 field"},
	    {"kind as bytes", 1, "\x32\x00", 2,
	        S0 ".kind: wrong wire type 2 for a varint field"},
	    {"name as fixed32", 1, "\x2d\x01\x02\x03\x04", 5,
	        S0 ".name: wrong wire type 5 for a string field"},
	    {"a group", 0, "\x0b\x0c", 2,
	        "resource_spans[0]: wire type 3 of field 1 is not supported"},
	    {"unknown field, wire type 7", 0, "\x9f\x06", 2,
	        NOT_EXPORT "wire type 7 of field 99 is not supported)"},
	    {"field number 0", 0, "\x02\x00", 2,
	        NOT_EXPORT "invalid field number 0)"},
	    {"length past the end", 0, "\x0a\x05\x00", 3,
	        "resource_spans[0]: truncated"},
	    {"length of 2^32 + 1", 0, "\x0a\x81\x80\x80\x80\x10\x00", 7,
	        "resource_spans[0]: truncated"},
	    {"6-byte length", 0, "\x0a\x80\x80\x80\x80\x80\x00", 7,
	        "resource_spans[0]: truncated"},
	    {"unknown fixed64 cut short", 1, "\x99\x06\x01\x02\x03", 5,
	        S0 ": field 99 is truncated"},
	    {"unterminated varint", 1, "\x30\xff\xff", 3,
	        S0 ".kind: truncated"},
	    {"11-byte varint", 1,
	        "\x30\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
	        S0 ".kind: truncated"},
	    {"overlong key", 0, "\x80\x80\x80\x80\x80\x01", 6,
	        NOT_EXPORT "truncated or overlong field key)"},
	    {"JSON sent as protobuf", 0, "{\"resourceSpans\":[]}", 20,
	        NOT_EXPORT "wire type 3 of field 15 is not supported)"},
	};
	struct buf body;
	struct otlp_pb *pb;
	char err[512];
	size_t i;
	int rc;

	buf_init(&body);
	for (i = 0; i < NELEM(cases); i++) {
		buf_reset(&body);
		if (cases[i].in_span)
			span_with(cases[i].bytes, cases[i].n, &body);
		else
			buf_add(&body, cases[i].bytes, cases[i].n);
		rc =
		    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
		CHECK(rc == OTLP_E_BAD, "%s: rc %d, want OTLP_E_BAD",
		    cases[i].what, rc);
		CHECK(strcmp(err, cases[i].want) == 0,
		    "%s:\n  err  \"%s\"\n  want \"%s\"", cases[i].what, err,
		    cases[i].want);
		CHECK(pb == NULL, "%s: a handle on error", cases[i].what);
	}
	buf_free(&body);
}

static void
test_pb_ids(void **state)
{
	static const struct {
		struct spec sp;
		const char *want;
	} cases[] = {
	    {{15, 8, 8, 16, 8, "t", 0}, TARGET ".trace_id: must be 16 bytes"},
	    {{17, 8, 8, 16, 8, "t", 0}, TARGET ".trace_id: must be 16 bytes"},
	    {{0, 8, 8, 16, 8, "t", 0}, TARGET ".trace_id: must be 16 bytes"},
	    {{16, 7, 8, 16, 8, "t", 0}, TARGET ".span_id: must be 8 bytes"},
	    {{16, 0, 8, 16, 8, "t", 0}, TARGET ".span_id: must be 8 bytes"},
	    {{16, 16, 8, 16, 8, "t", 0}, TARGET ".span_id: must be 8 bytes"},
	    {{16, 8, 4, 16, 8, "t", 0},
	        TARGET ".parent_span_id: must be empty or 8 bytes"},
	    {{16, 8, 16, 16, 8, "t", 0},
	        TARGET ".parent_span_id: must be empty or 8 bytes"},
	    {{16, 8, 8, 8, 8, "t", 0},
	        TARGET ".links[0].trace_id: must be 16 bytes"},
	    {{16, 8, 8, 0, 8, "t", 0},
	        TARGET ".links[0].trace_id: must be 16 bytes"},
	    {{16, 8, 8, 16, 16, "t", 0},
	        TARGET ".links[0].span_id: must be 8 bytes"},
	    {{16, 8, 8, 16, 0, "t", 0},
	        TARGET ".links[0].span_id: must be 8 bytes"},
	    {{16, 8, 0, 16, 8, "t", 0}, NULL}, /* a root span */
	};
	struct buf body;
	struct otlp_pb *pb;
	char err[512];
	size_t i;
	int rc;

	buf_init(&body);
	for (i = 0; i < NELEM(cases); i++) {
		buf_reset(&body);
		pack_export(&cases[i].sp, &body);
		rc =
		    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
		if (cases[i].want == NULL) {
			CHECK(rc == OTLP_OK, "case %zu refused: %s", i, err);
			otlp_pb_free(pb);
			continue;
		}
		CHECK(rc == OTLP_E_BAD, "case %zu: rc %d", i, rc);
		CHECK(strcmp(err, cases[i].want) == 0,
		    "case %zu:\n  err  \"%s\"\n  want \"%s\"", i, err,
		    cases[i].want);
	}
	buf_free(&body);
}

static void
test_pb_strings(void **state)
{
	static const struct {
		const char *name;
		const char *want; /* NULL: accepted */
	} cases[] = {
	    {"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", NULL},
	    {"bad \xff byte", TARGET ".name: invalid UTF-8"},
	    {"cut \xe2\x9c", TARGET ".name: invalid UTF-8"},
	    {"overlong \xc0\x80", TARGET ".name: invalid UTF-8"},
	    {"surrogate \xed\xa0\x80", TARGET ".name: invalid UTF-8"},
	    {"past U+10FFFF \xf4\x90\x80\x80", TARGET ".name: invalid UTF-8"},
	    {"stray \x80", TARGET ".name: invalid UTF-8"},
	};
	struct spec sp = good_spec;
	struct buf body, span;
	struct otlp_pb *pb;
	char err[512];
	size_t i;
	int rc;

	buf_init(&body);
	buf_init(&span);
	for (i = 0; i < NELEM(cases); i++) {
		buf_reset(&body);
		sp.name = cases[i].name;
		pack_export(&sp, &body);
		rc =
		    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
		if (cases[i].want == NULL) {
			CHECK(rc == OTLP_OK, "name \"%s\" refused: %s",
			    cases[i].name, err);
			otlp_pb_free(pb);
			continue;
		}
		CHECK(rc == OTLP_E_BAD && strcmp(err, cases[i].want) == 0,
		    "name \"%s\": rc %d, err \"%s\", want \"%s\"",
		    cases[i].name, rc, err, cases[i].want);
	}

	/* A NUL inside a string, deep in an attribute value. */
	buf_reset(&body);
	{
		struct buf av, kv, arr, outer;

		buf_init(&av);
		buf_init(&kv);
		buf_init(&arr);
		buf_init(&outer);
		w_bytes(&av, 1, "a\0b", 3);            /* string_value */
		w_bytes(&arr, 1, av.data, av.len);     /* values[0] */
		w_bytes(&arr, 1, av.data, av.len);     /* values[1] */
		w_bytes(&outer, 5, arr.data, arr.len); /* array_value */
		w_bytes(&kv, 1, "k", 1);
		w_bytes(&kv, 2, outer.data, outer.len);
		w_bytes(&span, 9, kv.data, kv.len); /* attributes[0] */
		w_bytes(&span, 9, kv.data, kv.len); /* attributes[1] */
		span_with(span.data, span.len, &body);
		buf_free(&av);
		buf_free(&kv);
		buf_free(&arr);
		buf_free(&outer);
	}
	rc = decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
	CHECK(rc == OTLP_E_BAD &&
	        strcmp(err,
	            S0 ".attributes[0].value.array_value.values[0]"
	               ".string_value: contains U+0000 (NUL), which "
	               "protobuf-c strings cannot hold") == 0,
	    "NUL in a string: rc %d, err \"%s\"", rc, err);
	buf_free(&body);
	buf_free(&span);
}

/*
 * An export whose one span has one attribute ("deep") whose value nests
 * `levels` AnyValues through array_value (or kvlist_value), innermost a
 * string. Built from the inside out, so that a million levels are linear.
 */
static void
nested_export(unsigned long levels, int kvlist, struct buf *out)
{
	size_t cap = 64 + levels * 24, pos = cap, len, n;
	unsigned char *b = malloc(cap), tmp[16];
	struct buf span, kv;
	unsigned long l;

	assert_non_null(b);
	/* Prepend the bytes p[0..n). */
#define PREPEND(p, n)                                                          \
	do {                                                                   \
		pos -= (n);                                                    \
		memcpy(b + pos, (p), (n));                                     \
	} while (0)
	/* Prepend a length-delimited field's key and length (of len). */
#define PREPEND_HEAD(field)                                                    \
	do {                                                                   \
		struct buf h;                                                  \
		buf_init(&h);                                                  \
		w_key(&h, (field), 2);                                         \
		w_varint(&h, len);                                             \
		n = h.len;                                                     \
		memcpy(tmp, h.data, n);                                        \
		buf_free(&h);                                                  \
		PREPEND(tmp, n);                                               \
		len = cap - pos;                                               \
	} while (0)
	PREPEND("\x0a\x01x", 3); /* string_value "x" */
	len = 3;
	for (l = 1; l < levels; l++) {
		if (kvlist) {
			PREPEND_HEAD(2);         /* KeyValue.value */
			PREPEND("\x0a\x01k", 3); /* KeyValue.key */
			len = cap - pos;
			PREPEND_HEAD(1); /* KeyValueList.values */
			PREPEND_HEAD(6); /* kvlist_value */
		} else {
			PREPEND_HEAD(1); /* ArrayValue.values */
			PREPEND_HEAD(5); /* array_value */
		}
	}
#undef PREPEND
#undef PREPEND_HEAD
	buf_init(&kv);
	buf_init(&span);
	w_bytes(&kv, 1, "deep", 4);
	w_bytes(&kv, 2, b + pos, cap - pos);
	w_bytes(&span, 9, kv.data, kv.len);
	span_with(span.data, span.len, out);
	buf_free(&kv);
	buf_free(&span);
	free(b);
}

static void
test_pb_nesting(void **state)
{
	struct buf body, want;
	struct otlp_pb *pb;
	char err[4096];
	unsigned l;
	int kvlist, rc;

	buf_init(&body);
	buf_init(&want);
	for (kvlist = 0; kvlist < 2; kvlist++) {
		buf_reset(&body);
		nested_export(OTLP_MAX_DEPTH, kvlist, &body);
		rc =
		    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
		CHECK(rc == OTLP_OK, "%d levels (%s) refused: %s",
		    OTLP_MAX_DEPTH, kvlist ? "kvlist" : "array", err);
		otlp_pb_free(pb);

		buf_reset(&body);
		nested_export(OTLP_MAX_DEPTH + 1, kvlist, &body);
		rc =
		    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
		buf_reset(&want);
		buf_addstr(&want, S0 ".attributes[0].value");
		for (l = 0; l < OTLP_MAX_DEPTH; l++)
			buf_addstr(&want,
			    kvlist ? ".kvlist_value.values[0].value"
			           : ".array_value.values[0]");
		buf_printf(&want, ": values nested deeper than %d levels",
		    OTLP_MAX_DEPTH);
		CHECK(rc == OTLP_E_BAD && strcmp(err, want.data) == 0,
		    "%d levels: rc %d,\n  err  \"%s\"\n  want \"%s\"",
		    OTLP_MAX_DEPTH + 1, rc, err, want.data);
	}
	/* Far too deep for protobuf-c's recursion: refused before it. */
	buf_reset(&body);
	nested_export(1000000, 0, &body);
	rc = decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err));
	CHECK(rc == OTLP_E_BAD && strstr(err, "nested deeper") != NULL,
	    "a million levels: rc %d, err \"%.100s\"", rc, err);
	buf_free(&body);
	buf_free(&want);
}

static void
test_pb_memory_bound(void **state)
{
	struct buf body;
	struct otlp_pb *pb;
	char err[512];
	size_t need, i;
	int rc;

	buf_init(&body);
	pack_export(&good_spec, &body);
	assert_int_equal(
	    decode(body.data, body.len, BIG_MEM, &pb, err, sizeof(err)),
	    OTLP_OK);
	need = otlp_pb_mem(pb);
	otlp_pb_free(pb);
	rc = decode(body.data, body.len, need, &pb, err, sizeof(err));
	CHECK(rc == OTLP_OK, "max_mem of exactly what it took: %s", err);
	otlp_pb_free(pb);
	rc = decode(body.data, body.len, need - 1, &pb, err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG && pb == NULL,
	    "max_mem one byte short: rc %d", rc);
	CHECK(
	    strstr(err, "of memory") != NULL, "max_mem short: err \"%s\"", err);

	/*
	 * One span with 100000 empty attributes, 2 bytes each (the ids make
	 * it pass the walk): the tree costs far more than the wire.
	 */
	buf_reset(&body);
	{
		struct buf sp, ss, rs;

		buf_init(&sp);
		buf_init(&ss);
		buf_init(&rs);
		w_bytes(&sp, 1, "0123456789abcdef", 16);
		w_bytes(&sp, 2, "01234567", 8);
		for (i = 0; i < 100000; i++)
			buf_add(&sp, "\x4a\x00", 2);
		w_bytes(&ss, 2, sp.data, sp.len);
		w_bytes(&rs, 2, ss.data, ss.len);
		w_bytes(&body, 1, rs.data, rs.len);
		buf_free(&sp);
		buf_free(&ss);
		buf_free(&rs);
	}
	rc = decode(body.data, body.len, 8 * body.len, &pb, err, sizeof(err));
	CHECK(rc == OTLP_E_TOOBIG,
	    "100000 empty attributes under 8x: rc %d (%s)", rc, err);
	buf_free(&body);
}

/* ---- JSON ---- */

#define T32 "\"0123456789abcdef0123456789ABCDEF\""
#define S16 "\"0123456789abcdef\""
#define ONE_SPAN(x)                                                            \
	"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" x "]}]}]}"
#define SPAN(extra) "{\"traceId\":" T32 ",\"spanId\":" S16 extra "}"
#define P "resourceSpans[0].scopeSpans[0].spans[0]"
#define ATTR(v) SPAN(",\"attributes\":[{\"key\":\"k\",\"value\":" v "}]")

static int
validate(const char *text, size_t *nspans, char *err, size_t errlen)
{
	cJSON *root = cJSON_Parse(text);
	int rc;

	CHECK(root != NULL, "test JSON does not parse: %s", text);
	err[0] = '\0';
	rc = otlp_json_validate(root, nspans, err, errlen);
	cJSON_Delete(root);
	return rc;
}

/* A full export: the SDKs' form, non-ASCII, unknown members; 3 spans. */
static const char full_export[] =
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
    "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}],"
    "\"droppedAttributesCount\":0,\"entityRefs\":[]},\"scopeSpans\":"
    "[{\"scope\":{\"name\":\"honeyhive\",\"version\":\"1.0\","
    "\"attributes\":[]},\"spans\":["
    "{\"traceId\":" T32 ",\"spanId\":" S16 ",\"traceState\":\"a=b\","
    "\"parentSpanId\":" S16 ",\"name\":\"h\xc3\xa9llo \xe2\x9c\x93 "
    "\xe6\x97\xa5\xe6\x9c\xac\",\"kind\":3,"
    "\"startTimeUnixNano\":\"1700000000000000000\","
    "\"endTimeUnixNano\":\"1700000000000000001\",\"attributes\":["
    "{\"key\":\"gen_ai.usage.prompt_tokens\",\"value\":"
    "{\"intValue\":\"123\"}},{\"key\":\"tags\",\"value\":"
    "{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\"},"
    "{\"boolValue\":true}]}}},{\"key\":\"m\",\"value\":"
    "{\"kvlistValue\":{\"values\":[{\"key\":\"x\",\"value\":"
    "{\"doubleValue\":0.5}}]}}}],\"droppedAttributesCount\":1,"
    "\"events\":[{\"timeUnixNano\":\"1700000000000000000\","
    "\"name\":\"e\",\"attributes\":[],\"droppedAttributesCount\":"
    "0}],\"droppedEventsCount\":0,\"links\":[{\"traceId\":" T32
    ",\"spanId\":" S16 ",\"traceState\":\"\",\"attributes\":[],"
    "\"droppedAttributesCount\":0,\"flags\":256}],"
    "\"droppedLinksCount\":0,\"status\":{\"message\":\"ok\","
    "\"code\":1},\"flags\":257},"
    "{\"traceId\":" T32 ",\"spanId\":" S16 "}],\"schemaUrl\":\"s\"}],"
    "\"schemaUrl\":\"s\"},{\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":" T32 ",\"spanId\":" S16 "}]}]}]}";

static void
test_json_good(void **state)
{
	static const struct {
		const char *text;
		size_t nspans;
	} cases[] = {
	    {"{}", 0},
	    {"{\"resourceSpans\":[]}", 0},
	    {"{\"resourceSpans\":null}", 0},
	    {"{\"resourceSpans\":[{}]}", 0},
	    {"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[]}]}]}", 0},
	    {ONE_SPAN(SPAN("")), 1},
	    {ONE_SPAN(SPAN(",\"parentSpanId\":\"\"")), 1},
	    {ONE_SPAN(SPAN(",\"parentSpanId\":null,\"name\":null")), 1},
	    {ONE_SPAN(ATTR("{\"intValue\":\"-9223372036854775808\"}")), 1},
	    {ONE_SPAN(ATTR("{\"intValue\":\"9223372036854775807\"}")), 1},
	    {ONE_SPAN(ATTR("{\"intValue\":-42}")), 1},
	    {ONE_SPAN(ATTR("{\"doubleValue\":\"NaN\"}")), 1},
	    {ONE_SPAN(ATTR("{\"doubleValue\":\"-Infinity\"}")), 1},
	    {ONE_SPAN(ATTR("{\"doubleValue\":1.5e300}")), 1},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"aGVsbG8=\"}")), 1},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"aGVsbG8\"}")), 1},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"_-8\"}")), 1},
	    {ONE_SPAN(ATTR("{}")), 1},
	    {ONE_SPAN(ATTR("{\"stringValue\":\"x\",\"intValue\":null}")), 1},
	    {ONE_SPAN(SPAN(",\"startTimeUnixNano\":\"18446744073709551615\"")),
	        1},
	    {ONE_SPAN(SPAN(",\"startTimeUnixNano\":1700000000000000000")), 1},
	    {ONE_SPAN(SPAN(",\"droppedAttributesCount\":\"4294967295\"")), 1},
	    {ONE_SPAN(SPAN(",\"kind\":99,\"status\":{\"code\":7}")), 1},
	    {ONE_SPAN(SPAN(",\"future\":{\"x\":[1,2]},\"trace_id\":5")), 1},
	    {full_export, 3},
	};
	size_t i, n;
	char err[512];

	for (i = 0; i < NELEM(cases); i++) {
		n = 12345;
		CHECK(validate(cases[i].text, &n, err, sizeof(err)) == 0,
		    "good JSON %zu refused: %s\n  %s", i, err, cases[i].text);
		CHECK(n == cases[i].nspans,
		    "good JSON %zu: %zu spans, want %zu", i, n,
		    cases[i].nspans);
	}
}

static void
test_json_bad(void **state)
{
#define U64_ERR                                                                \
	"must be an unsigned 64-bit integer (a number or a decimal "           \
	"string)"
#define I64_ERR "must be a 64-bit integer (a number or a decimal string)"
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
	    {"[]", "body: must be an object"},
	    {"\"x\"", "body: must be an object"},
	    {"{\"resourceSpans\":{}}", "resourceSpans: must be an array"},
	    {"{\"resourceSpans\":[1]}", "resourceSpans[0]: must be an object"},
	    {"{\"resourceSpans\":[{},null]}",
	        "resourceSpans[1]: must be an object"},
	    {"{\"resourceSpans\":[{\"scopeSpans\":{}}]}",
	        "resourceSpans[0].scopeSpans: must be an array"},
	    {ONE_SPAN("[]"), P ": must be an object"},
	    {ONE_SPAN(SPAN("") ",[]"),
	        "resourceSpans[0].scopeSpans[0].spans[1]: must be an object"},
	    {ONE_SPAN("{\"spanId\":" S16 "}"), P ".traceId: required"},
	    {ONE_SPAN("{\"traceId\":null,\"spanId\":" S16 "}"),
	        P ".traceId: required"},
	    {ONE_SPAN("{\"traceId\":" T32 "}"), P ".spanId: required"},
	    {ONE_SPAN("{\"traceId\":\"0123456789abcdef0123456789abcde\","
	              "\"spanId\":" S16 "}"),
	        P ".traceId: must be 32 hex characters"},
	    {ONE_SPAN("{\"traceId\":\"0123456789abcdef0123456789abcdeg\","
	              "\"spanId\":" S16 "}"),
	        P ".traceId: must be 32 hex characters"},
	    {ONE_SPAN("{\"traceId\":12,\"spanId\":" S16 "}"),
	        P ".traceId: must be 32 hex characters"},
	    {ONE_SPAN("{\"traceId\":" T32 ",\"spanId\":\"0123456789abcde\"}"),
	        P ".spanId: must be 16 hex characters"},
	    {ONE_SPAN(SPAN(",\"parentSpanId\":\"abc\"")),
	        P ".parentSpanId: must be empty or 16 hex characters"},
	    {ONE_SPAN(SPAN(",\"traceId\":" T32)),
	        P ".traceId: duplicate member"},
	    {ONE_SPAN(SPAN(",\"name\":5")), P ".name: must be a string"},
	    {ONE_SPAN(SPAN(",\"kind\":\"SPAN_KIND_CLIENT\"")),
	        P ".kind: must be an integer"},
	    {ONE_SPAN(SPAN(",\"kind\":1.5")), P ".kind: must be an integer"},
	    {ONE_SPAN(SPAN(",\"startTimeUnixNano\":\"-1\"")),
	        P ".startTimeUnixNano: " U64_ERR},
	    {ONE_SPAN(SPAN(",\"startTimeUnixNano\":\"18446744073709551616\"")),
	        P ".startTimeUnixNano: " U64_ERR},
	    {ONE_SPAN(SPAN(",\"endTimeUnixNano\":1.5")),
	        P ".endTimeUnixNano: " U64_ERR},
	    {ONE_SPAN(SPAN(",\"endTimeUnixNano\":\"12 \"")),
	        P ".endTimeUnixNano: " U64_ERR},
	    {ONE_SPAN(SPAN(",\"droppedAttributesCount\":4294967296")),
	        P
	        ".droppedAttributesCount: must be an unsigned 32-bit integer"},
	    {ONE_SPAN(SPAN(",\"flags\":-1")),
	        P ".flags: must be an unsigned 32-bit integer"},
	    {ONE_SPAN(SPAN(",\"attributes\":{}")),
	        P ".attributes: must be an array"},
	    {ONE_SPAN(SPAN(",\"attributes\":[{\"key\":1}]")),
	        P ".attributes[0].key: must be a string"},
	    {ONE_SPAN(ATTR("{\"stringValue\":\"a\",\"intValue\":\"1\"}")),
	        P
	        ".attributes[0].value: holds both stringValue and intValue (at "
	        "most one is allowed)"},
	    {ONE_SPAN(ATTR("[]")), P ".attributes[0].value: must be an object"},
	    {ONE_SPAN(ATTR("{\"stringValue\":1}")),
	        P ".attributes[0].value.stringValue: must be a string"},
	    {ONE_SPAN(ATTR("{\"intValue\":\"12a\"}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"intValue\":\"9223372036854775808\"}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"intValue\":\"-9223372036854775809\"}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"intValue\":\"+1\"}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"intValue\":1.5}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"intValue\":true}")),
	        P ".attributes[0].value.intValue: " I64_ERR},
	    {ONE_SPAN(ATTR("{\"boolValue\":\"true\"}")),
	        P ".attributes[0].value.boolValue: must be true or false"},
	    {ONE_SPAN(ATTR("{\"doubleValue\":\"1.5\"}")),
	        P ".attributes[0].value.doubleValue: must be a finite number, "
	          "\"NaN\", \"Infinity\" or \"-Infinity\""},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"@@@@\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"abcde\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"a+b_\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"ab=c\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"YQ===\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"bytesValue\":\"YQ=\"}")),
	        P ".attributes[0].value.bytesValue: must be a base64 string"},
	    {ONE_SPAN(ATTR("{\"arrayValue\":{\"values\":{}}}")),
	        P ".attributes[0].value.arrayValue.values: must be an array"},
	    {ONE_SPAN(ATTR("{\"arrayValue\":[]}")),
	        P ".attributes[0].value.arrayValue: must be an object"},
	    {ONE_SPAN(ATTR("{\"kvlistValue\":{\"values\":[{\"key\":\"a\","
	                   "\"value\":{\"intValue\":true}}]}}")),
	        P ".attributes[0].value.kvlistValue.values[0].value.intValue:"
	          " " I64_ERR},
	    {ONE_SPAN(SPAN(",\"events\":[{\"timeUnixNano\":\"x\"}]")),
	        P ".events[0].timeUnixNano: " U64_ERR},
	    {ONE_SPAN(
	         SPAN(",\"events\":[{\"name\":\"a\"},{\"attributes\":1}]")),
	        P ".events[1].attributes: must be an array"},
	    {ONE_SPAN(SPAN(",\"links\":[{\"traceId\":" T32 "}]")),
	        P ".links[0].spanId: required"},
	    {ONE_SPAN(SPAN(",\"links\":[{\"spanId\":" S16 "}]")),
	        P ".links[0].traceId: required"},
	    {ONE_SPAN(SPAN(",\"links\":[{\"traceId\":" T32 ",\"spanId\":" S16
	                   ",\"flags\":\"x\"}]")),
	        P ".links[0].flags: must be an unsigned 32-bit integer"},
	    {ONE_SPAN(SPAN(",\"status\":{\"code\":\"STATUS_CODE_OK\"}")),
	        P ".status.code: must be an integer"},
	    {ONE_SPAN(SPAN(",\"status\":[]")), P ".status: must be an object"},
	    {ONE_SPAN(SPAN(",\"status\":{\"message\":false}")),
	        P ".status.message: must be a string"},
	    {"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"
	     "\"a\","
	     "\"value\":{\"stringValue\":1}}]}}]}",
	        "resourceSpans[0].resource.attributes[0].value.stringValue: "
	        "must "
	        "be a string"},
	    {"{\"resourceSpans\":[{\"resource\":{\"droppedAttributesCount\":"
	     "\"-1\"}}]}",
	        "resourceSpans[0].resource.droppedAttributesCount: must be an "
	        "unsigned 32-bit integer"},
	    {"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":{\"name\":1}}]}]"
	     "}",
	        "resourceSpans[0].scopeSpans[0].scope.name: must be a string"},
	    {"{\"resourceSpans\":[{\"schemaUrl\":1}]}",
	        "resourceSpans[0].schemaUrl: must be a string"},
	};
	size_t i, n;
	char err[512];

	for (i = 0; i < NELEM(cases); i++) {
		n = 12345;
		CHECK(validate(cases[i].text, &n, err, sizeof(err)) == -1,
		    "bad JSON %zu accepted: %s", i, cases[i].text);
		CHECK(strcmp(err, cases[i].want) == 0,
		    "bad JSON %zu: %s\n  err  \"%s\"\n  want \"%s\"", i,
		    cases[i].text, err, cases[i].want);
		CHECK(n == 12345, "bad JSON %zu: nspans changed", i);
	}
#undef U64_ERR
#undef I64_ERR
}

/* An export whose one span's attribute nests `levels` AnyValues. */
static void
nested_json(unsigned levels, int kvlist, struct buf *out)
{
	unsigned l;

	buf_addstr(out,
	    "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
	    "{\"traceId\":" T32 ",\"spanId\":" S16
	    ",\"attributes\":[{\"key\":\"deep\",\"value\":");
	for (l = 1; l < levels; l++)
		buf_addstr(out,
		    kvlist ? "{\"kvlistValue\":{\"values\":[{\"key\":"
		             "\"k\",\"value\":"
		           : "{\"arrayValue\":{\"values\":[");
	buf_addstr(out, "{\"stringValue\":\"x\"}");
	for (l = 1; l < levels; l++)
		buf_addstr(out, kvlist ? "}]}}" : "]}}");
	buf_addstr(out, "}]}]}]}]}");
}

static void
test_json_nesting(void **state)
{
	struct buf text, want;
	char err[4096];
	size_t n;
	unsigned l;
	int kvlist;

	buf_init(&text);
	buf_init(&want);
	for (kvlist = 0; kvlist < 2; kvlist++) {
		buf_reset(&text);
		nested_json(OTLP_MAX_DEPTH, kvlist, &text);
		CHECK(validate(text.data, &n, err, sizeof(err)) == 0 && n == 1,
		    "%d levels refused: %s", OTLP_MAX_DEPTH, err);
		buf_reset(&text);
		nested_json(OTLP_MAX_DEPTH + 1, kvlist, &text);
		buf_reset(&want);
		buf_addstr(&want, P ".attributes[0].value");
		for (l = 0; l < OTLP_MAX_DEPTH; l++)
			buf_addstr(&want,
			    kvlist ? ".kvlistValue.values[0].value"
			           : ".arrayValue.values[0]");
		buf_printf(&want, ": values nested deeper than %d levels",
		    OTLP_MAX_DEPTH);
		CHECK(validate(text.data, &n, err, sizeof(err)) == -1 &&
		        strcmp(err, want.data) == 0,
		    "%d levels:\n  err  \"%s\"\n  want \"%s\"",
		    OTLP_MAX_DEPTH + 1, err, want.data);
	}
	buf_free(&text);
	buf_free(&want);
}

static void
test_json_int64(void **state)
{
	static const struct {
		const char *json;
		int rc;
		int64_t v;
	} cases[] = {
	    {"0", 0, 0},
	    {"\"0\"", 0, 0},
	    {"\"-0\"", 0, 0},
	    {"\"007\"", 0, 7},
	    {"-12", 0, -12},
	    {"\"9223372036854775807\"", 0, INT64_MAX},
	    {"\"-9223372036854775808\"", 0, INT64_MIN},
	    {"\"\"", -1, 0},
	    {"\"-\"", -1, 0},
	    {"\" 1\"", -1, 0},
	    {"\"1e3\"", -1, 0},
	    {"1e3", 0, 1000},
	    {"9223372036854775808", -1, 0},
	    {"null", -1, 0},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		cJSON *v = cJSON_Parse(cases[i].json);
		int64_t out = 99;
		int rc;

		assert_non_null(v);
		rc = otlp_json_int64(v, &out);
		CHECK(rc == cases[i].rc && (rc != 0 || out == cases[i].v),
		    "int64 %s: rc %d value %lld", cases[i].json, rc,
		    (long long)out);
		cJSON_Delete(v);
	}
}

/* ---- responses ---- */

static void
test_response_ok(void **state)
{
	const char *ct = NULL, *body;
	size_t len = 99;

	body = otlp_response_ok(OTLP_PROTOBUF, &len, &ct);
	CHECK(body != NULL && len == 0 &&
	        strcmp(ct, "application/x-protobuf") == 0,
	    "protobuf success: %zu bytes, %s", len, ct);
	body = otlp_response_ok(OTLP_JSON, &len, &ct);
	CHECK(len == 2 && memcmp(body, "{}", 2) == 0 &&
	        strcmp(ct, "application/json") == 0,
	    "JSON success: %zu bytes, %s", len, ct);
}

static void
test_response_parse(void **state)
{
	Otlp__ExportTraceServiceResponse r;
	Otlp__ExportTracePartialSuccess ps;
	uint8_t packed[256];
	size_t n, i;
	int64_t rej;
	char msg[64];
	static const struct {
		const char *body;
		int rc;
		int64_t rejected;
		const char *msg;
	} json[] = {
	    {"", 0, 0, ""},
	    {" \r\n", 0, 0, ""},
	    {"{}", 0, 0, ""},
	    {"{\"partialSuccess\":{}}", 0, 0, ""},
	    {"{\"partialSuccess\":null}", 0, 0, ""},
	    {"{\"partialSuccess\":{\"rejectedSpans\":\"5\",\"errorMessage\":"
	     "\"bad\\nspan \xe2\x9c\x93\"}}",
	        0, 5, "bad?span \xe2\x9c\x93"},
	    {"{\"partialSuccess\":{\"rejectedSpans\":7}} \n", 0, 7, ""},
	    {"[1]", -1, 0, ""},
	    {"<html>busy</html>", -1, 0, ""},
	    {"{} x", -1, 0, ""},
	    {"{\"partialSuccess\":{\"rejectedSpans\":\"x\"}}", -1, 0, ""},
	    {"{\"partialSuccess\":{\"errorMessage\":5}}", -1, 0, ""},
	    {"{\"partialSuccess\":3}", -1, 0, ""},
	};

	for (i = 0; i < NELEM(json); i++) {
		int rc = otlp_response_parse(OTLP_JSON, json[i].body,
		    strlen(json[i].body), &rej, msg, sizeof(msg));

		CHECK(rc == json[i].rc && rej == json[i].rejected &&
		        strcmp(msg, json[i].msg) == 0,
		    "JSON answer %s: rc %d, rejected %lld, msg \"%s\"",
		    json[i].body, rc, (long long)rej, msg);
	}

	/* protobuf: empty, with partial_success, cut message, garbage */
	CHECK(otlp_response_parse(
	          OTLP_PROTOBUF, "", 0, &rej, msg, sizeof(msg)) == 0 &&
	        rej == 0 && msg[0] == '\0',
	    "empty protobuf answer: rejected %lld", (long long)rej);
	otlp__export_trace_service_response__init(&r);
	otlp__export_trace_partial_success__init(&ps);
	ps.rejected_spans = 3;
	ps.error_message = "3 spans had no \x01name and a very long message "
	                   "that goes on past the end of msg for sure";
	r.partial_success = &ps;
	n = otlp__export_trace_service_response__pack(&r, packed);
	CHECK(
	    otlp_response_parse(OTLP_PROTOBUF, packed, n, &rej, msg, 20) == 0 &&
	        rej == 3 && strcmp(msg, "3 spans had no ?nam") == 0,
	    "protobuf partial_success: rejected %lld, msg \"%s\"",
	    (long long)rej, msg);
	r.partial_success = NULL;
	n = otlp__export_trace_service_response__pack(&r, packed);
	CHECK(otlp_response_parse(
	          OTLP_PROTOBUF, packed, n, &rej, msg, sizeof(msg)) == 0 &&
	        rej == 0,
	    "protobuf without partial_success: rejected %lld", (long long)rej);
	CHECK(otlp_response_parse(
	          OTLP_PROTOBUF, "<html>", 6, &rej, msg, sizeof(msg)) == -1 &&
	        rej == 0 && msg[0] == '\0',
	    "an HTML page read as a protobuf answer");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_content_encoding),
	    cmocka_unit_test(test_inflate_good),
	    cmocka_unit_test(test_inflate_bad),
	    cmocka_unit_test(test_inflate_bomb),
	    cmocka_unit_test(test_pb_good),
	    cmocka_unit_test(test_pb_redact_then_pack),
	    cmocka_unit_test(test_pb_unknown_fields_survive),
	    cmocka_unit_test(test_pb_truncated_every_byte),
	    cmocka_unit_test(test_pb_wire_errors),
	    cmocka_unit_test(test_pb_ids),
	    cmocka_unit_test(test_pb_strings),
	    cmocka_unit_test(test_pb_nesting),
	    cmocka_unit_test(test_pb_memory_bound),
	    cmocka_unit_test(test_json_good),
	    cmocka_unit_test(test_json_bad),
	    cmocka_unit_test(test_json_nesting),
	    cmocka_unit_test(test_json_int64),
	    cmocka_unit_test(test_response_ok),
	    cmocka_unit_test(test_response_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
