/* fuzz_otlp.c: libFuzzer target for the OTLP trace decode path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/jsonscan.h"
#include "otlp/inflate.h"
#include "otlp/json.h"
#include "otlp/otlp.h"
#include "otlp/pb.h"
#include "otlp/utf8.h"

/*
 * Each input is a request to POST /v1/traces: its first byte chooses the
 * encoding (bit 0: protobuf or JSON) and the Content-Encoding (bits 1-2:
 * identity, gzip, deflate, identity); the rest is the body. It goes where
 * the daemon sends a body: inflate with a small limit, then the protobuf
 * decode or, for JSON, the UTF-8 check, cJSON and otlp_json_validate. The
 * body is also read as the remote's answer, in both encodings, and its
 * first bytes as header values.
 *
 * Invariants (a violation aborts, which libFuzzer reports as a crash):
 *   - inflate appends at most max bytes, its buffer never passes max + 2,
 *     and on error gives the output back empty;
 *   - every refusal says why, as "<path>: <reason>" in ASCII;
 *   - an accepted protobuf export packs, the packed bytes decode again to
 *     the same number of spans, and packing that gives the same bytes;
 *   - an accepted JSON export's span count is the number of span objects
 *     under resourceSpans[].scopeSpans[].spans[];
 *   - an answer's message is UTF-8 without control characters.
 */

#define MAX_BODY ((size_t)1 << 20)
#define MAX_MEM ((size_t)64 << 20)

static void __attribute__((noreturn))
violated(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_otlp: invariant violated: %s\n", what);
	if (detail != NULL)
		fprintf(stderr, "fuzz_otlp: %.2000s\n", detail);
	abort();
}

static void
check_refusal(const char *err)
{
	size_t i;

	if (err[0] == '\0' || strstr(err, ": ") == NULL)
		violated("a refusal says where and why", err);
	for (i = 0; err[i] != '\0'; i++)
		if ((unsigned char)err[i] < 0x20 ||
		    (unsigned char)err[i] > 0x7e)
			violated("a refusal is printable ASCII", err);
}

static void
check_pb(const char *body, size_t len)
{
	struct otlp_pb *pb, *again;
	struct buf p1, p2;
	char err[1024], cerr[1024];
	size_t spans, cspans = 0;
	int rc, crc;

	err[0] = '\0';
	cerr[0] = '\0';
	rc = otlp_pb_decode(body, len, MAX_MEM, &pb, err, sizeof(err));
	crc = otlp_pb_check(body, len, &cspans, cerr, sizeof(cerr));
	/* The check without unpacking agrees, but for the memory bound. */
	if (!(rc == OTLP_E_TOOBIG || rc == OTLP_E_NOMEM) &&
	    (crc != rc || (rc != OTLP_OK && strcmp(cerr, err) != 0) ||
	        (rc == OTLP_OK && cspans != otlp_pb_spans(pb))))
		violated("otlp_pb_check and otlp_pb_decode agree", cerr);
	if (rc != OTLP_OK) {
		if (pb != NULL)
			violated("a refused export leaves no handle", err);
		if (rc != OTLP_E_NOMEM)
			check_refusal(err);
		return;
	}
	spans = otlp_pb_spans(pb);
	buf_init(&p1);
	buf_init(&p2);
	if (otlp_pb_pack(pb, &p1) != OTLP_OK)
		goto done; /* out of memory */
	rc = otlp_pb_decode(
	    p1.data, p1.len, MAX_MEM * 4, &again, err, sizeof(err));
	if (rc != OTLP_OK)
		violated("an accepted export, packed, decodes again", err);
	if (otlp_pb_spans(again) != spans)
		violated("packing keeps the span count", NULL);
	if (otlp_pb_pack(again, &p2) == OTLP_OK &&
	    (p2.len != p1.len || memcmp(p1.data, p2.data, p1.len) != 0))
		violated("packing is stable", NULL);
	otlp_pb_free(again);
done:
	otlp_pb_free(pb);
	buf_free(&p1);
	buf_free(&p2);
}

/* The span objects, counted without the validator. */
static size_t
count_spans(const cJSON *root)
{
	const cJSON *rs, *ss;
	size_t n = 0;

	cJSON_ArrayForEach(
	    rs, cJSON_GetObjectItemCaseSensitive(root, "resourceSpans")) {
		cJSON_ArrayForEach(
		    ss, cJSON_GetObjectItemCaseSensitive(rs, "scopeSpans")) {
			n += (size_t)cJSON_GetArraySize(
			    cJSON_GetObjectItemCaseSensitive(ss, "spans"));
		}
	}
	return n;
}

static void
check_json(const char *body, size_t len)
{
	cJSON *root;
	char err[1024];
	size_t nspans = 0;

	/* What ingest does before validating: UTF-8, then one JSON value. */
	if (!json_utf8_valid(body, len))
		return;
	if ((root = cJSON_ParseWithLength(body, len)) == NULL)
		return;
	err[0] = '\0';
	if (otlp_json_validate(root, &nspans, err, sizeof(err)) == 0) {
		if (nspans != count_spans(root))
			violated("nspans counts the span objects", body);
	} else {
		check_refusal(err);
	}
	cJSON_Delete(root);
}

static void
check_answer(enum otlp_encoding enc, const char *body, size_t len)
{
	char msg[128];
	int64_t rejected;
	size_t i, n;

	memset(msg, 'x', sizeof(msg));
	(void)otlp_response_parse(enc, body, len, &rejected, msg, sizeof(msg));
	n = strnlen(msg, sizeof(msg));
	if (n == sizeof(msg))
		violated("the answer's message is terminated", NULL);
	if (!otlp_utf8_valid(msg, n))
		violated("the answer's message is UTF-8", msg);
	for (i = 0; i < n; i++)
		if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
			violated("the answer's message has no control "
			         "characters",
			    msg);
}

static void
check_headers(const uint8_t *in, size_t len)
{
	char value[64];
	enum otlp_encoding enc;
	enum otlp_compression c;
	size_t n = len < sizeof(value) - 1 ? len : sizeof(value) - 1;

	memcpy(value, in, n);
	value[n] = '\0';
	(void)otlp_content_type(value, &enc);
	(void)otlp_content_encoding(value, &c);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	static const enum otlp_compression comp[4] = {
	    OTLP_IDENTITY, OTLP_GZIP, OTLP_DEFLATE, OTLP_IDENTITY};
	enum otlp_compression c;
	struct buf body;
	char err[1024];
	char *raw;
	int json, rc;

	if (len == 0)
		return 0;
	json = in[0] & 1;
	c = comp[(in[0] >> 1) & 3];
	in++;
	len--;
	check_headers(in, len);
	/* A copy of exactly len bytes, so ASan sees any read past the end. */
	if ((raw = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(raw, in, len);
	check_answer(OTLP_PROTOBUF, raw, len);
	check_answer(OTLP_JSON, raw, len);

	buf_init(&body);
	err[0] = '\0';
	rc = otlp_inflate(c, raw, len, MAX_BODY, &body, err, sizeof(err));
	if (body.len > MAX_BODY || body.cap > MAX_BODY + 2)
		violated("inflate stays under its limit", NULL);
	if (rc != OTLP_OK) {
		if (body.len != 0)
			violated("a refused body leaves the output empty", err);
		if (rc != OTLP_E_NOMEM)
			check_refusal(err);
	} else {
		/* An exact copy again, for ASan. */
		char *exact = malloc(body.len ? body.len : 1);

		if (exact != NULL) {
			if (body.len > 0)
				memcpy(exact, body.data, body.len);
			if (json)
				check_json(exact, body.len);
			else
				check_pb(exact, body.len);
			free(exact);
		}
	}
	buf_free(&body);
	free(raw);
	return 0;
}
