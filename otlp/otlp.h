/* otlp.h: OTLP/HTTP trace export framing: media types, encodings, results
 * and the export's response bodies; pure, does no I/O. */
#ifndef TS_OTLP_H
#define TS_OTLP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The otlp layer. Four pairs, all pure (no I/O, no logging, no globals:
 * every function may be called from any thread at once):
 *   otlp.h     media types, content encodings, results, response bodies;
 *   inflate.h  gzip and deflate request bodies, bounded while inflating;
 *   pb.h       the protobuf export: walk, unpack, validate, pack again;
 *   json.h     the OTLP JSON mapping of the export: shapes and types.
 * The messages are otlp/trace.proto's, compiled by protoc-c at build time
 * into $(BUILD)/otlp/trace.pb-c.h.
 *
 * Results. Functions that can refuse a request return OTLP_OK or one of the
 * OTLP_E_* codes below, each with the HTTP status the daemon answers, and
 * write "<path>: <reason>" into the caller's err (errlen bytes, always
 * NUL-terminated when errlen > 0). Paths name the place exactly: protobuf
 * errors in the .proto's snake_case field names
 * ("resource_spans[0].scope_spans[1].spans[4].trace_id: must be 16 bytes"),
 * JSON errors in the mapping's lowerCamelCase
 * ("resourceSpans[0].scopeSpans[1].spans[4].traceId: ..."); "body" names
 * the request body as a whole.
 */
enum otlp_result {
	OTLP_OK = 0,
	OTLP_E_BAD = -1,    /* 400: does not decode, or breaks a rule */
	OTLP_E_TOOBIG = -2, /* 413: passes a size limit */
	OTLP_E_NOMEM = -3,  /* 503: out of memory */
};

/*
 * How deep an attribute value may nest: an AnyValue holding an array_value
 * or kvlist_value whose values hold more is one level more. The top-level
 * value of an attribute is level 1. Both decoders refuse level 33 and up.
 */
#define OTLP_MAX_DEPTH 32

enum otlp_encoding {
	OTLP_PROTOBUF = 1,
	OTLP_JSON = 2,
};

/*
 * The encoding of a Content-Type value: application/x-protobuf and
 * application/protobuf are OTLP_PROTOBUF, application/json is OTLP_JSON.
 * The media type is compared case-insensitively, surrounding blanks are
 * skipped and parameters ("; charset=utf-8") are allowed and not looked at.
 * Returns 0 with *enc set, or -1 (NULL, empty, anything else; *enc left
 * alone): the caller answers 415.
 */
int otlp_content_type(const char *ctype, enum otlp_encoding *enc);

enum otlp_compression {
	OTLP_IDENTITY = 0,
	OTLP_GZIP = 1,
	OTLP_DEFLATE = 2,
};

/*
 * The compression of a Content-Encoding value: NULL, "" and "identity" are
 * OTLP_IDENTITY, "gzip" and "x-gzip" OTLP_GZIP, "deflate" OTLP_DEFLATE
 * (case-insensitive, surrounding blanks skipped). Returns 0 with *c set, or
 * -1 for anything else, lists such as "gzip, br" included (*c left alone):
 * the caller answers 415.
 */
int otlp_content_encoding(const char *value, enum otlp_compression *c);

/*
 * The body of a success answer: an empty ExportTraceServiceResponse in the
 * request's encoding, which is zero bytes in protobuf and "{}" in JSON.
 * Returns static memory (never NULL, never to be freed), its length in
 * *len and its media type in *content_type ("application/x-protobuf" or
 * "application/json"); either out pointer may be NULL.
 */
const char *otlp_response_ok(
    enum otlp_encoding enc, size_t *len, const char **content_type);

/*
 * Read the remote's answer to an export (a 2xx body) for the forwarder:
 * the partial_success of an ExportTraceServiceResponse, protobuf through
 * protobuf-c, JSON through cJSON (parsed and freed here):
 * partialSuccess.rejectedSpans as a number or a decimal string, and
 * partialSuccess.errorMessage.
 *
 * Returns 0 with *rejected set (0 for an empty body or no
 * partial_success) and msg holding error_message, or "" (cut to msglen - 1
 * bytes at a character boundary; control characters and bytes that are
 * not UTF-8 become '?', so that it can be logged as it is). Returns -1 when
 * the body is not such a response at all (*rejected is then 0 and msg "");
 * the caller counts a 2xx as accepted either way and only logs.
 */
int otlp_response_parse(enum otlp_encoding enc, const void *body, size_t len,
    int64_t *rejected, char *msg, size_t msglen);

#endif
