/* otlp.c: OTLP/HTTP trace export framing: media types, encodings and the
 * export's response bodies. */
#include "otlp/otlp.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <protobuf-c/protobuf-c.h>

#include "otlp/json.h"
#include "otlp/trace.pb-c.h"
#include "otlp/utf8.h"

/* The value of s without the blanks (OWS: spaces and tabs) around it. */
static const char *
trim(const char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*len = n;
	return s;
}

static int
same(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

int
otlp_content_type(const char *ctype, enum otlp_encoding *enc)
{
	const char *semi, *s;
	size_t len;

	if (ctype == NULL)
		return -1;
	semi = strchr(ctype, ';');
	len = semi != NULL ? (size_t)(semi - ctype) : strlen(ctype);
	s = trim(ctype, &len);
	if (same(s, len, "application/x-protobuf") ||
	    same(s, len, "application/protobuf")) {
		*enc = OTLP_PROTOBUF;
		return 0;
	}
	if (same(s, len, "application/json")) {
		*enc = OTLP_JSON;
		return 0;
	}
	return -1;
}

int
otlp_content_encoding(const char *value, enum otlp_compression *c)
{
	size_t len;
	const char *s;

	if (value == NULL) {
		*c = OTLP_IDENTITY;
		return 0;
	}
	len = strlen(value);
	s = trim(value, &len);
	if (len == 0 || same(s, len, "identity"))
		*c = OTLP_IDENTITY;
	else if (same(s, len, "gzip") || same(s, len, "x-gzip"))
		*c = OTLP_GZIP;
	else if (same(s, len, "deflate"))
		*c = OTLP_DEFLATE;
	else
		return -1;
	return 0;
}

const char *
otlp_response_ok(enum otlp_encoding enc, size_t *len, const char **content_type)
{
	const char *body = enc == OTLP_JSON ? "{}" : "";

	if (len != NULL)
		*len = strlen(body);
	if (content_type != NULL)
		*content_type = enc == OTLP_JSON ? "application/json"
		                                 : "application/x-protobuf";
	return body;
}

/*
 * Copy the remote's message for the log: whole UTF-8 characters only, each
 * control character or byte that is not UTF-8 as '?', cut to fit.
 */
static void
copy_message(const char *s, size_t len, char *msg, size_t msglen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n;

	if (msglen == 0)
		return;
	while (i < len) {
		n = otlp_utf8_char(p + i, len - i);
		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			if (o + 1 >= msglen)
				break;
			msg[o++] = '?';
			i += n > 0 ? n : 1;
			continue;
		}
		if (o + n >= msglen)
			break;
		memcpy(msg + o, p + i, n);
		o += n;
		i += n;
	}
	msg[o] = '\0';
}

static int
parse_pb(
    const void *body, size_t len, int64_t *rejected, char *msg, size_t msglen)
{
	Otlp__ExportTraceServiceResponse *r;
	const Otlp__ExportTracePartialSuccess *ps;

	/* Two levels, no repeated fields: protobuf-c cannot recurse deep. */
	r = otlp__export_trace_service_response__unpack(NULL, len, body);
	if (r == NULL)
		return -1;
	if ((ps = r->partial_success) != NULL) {
		*rejected = ps->rejected_spans;
		if (ps->error_message != NULL)
			copy_message(ps->error_message,
			    strlen(ps->error_message), msg, msglen);
	}
	otlp__export_trace_service_response__free_unpacked(r, NULL);
	return 0;
}

static int
parse_json(
    const void *body, size_t len, int64_t *rejected, char *msg, size_t msglen)
{
	const cJSON *ps, *n, *m;
	const char *end = NULL;
	cJSON *root;
	int rc = -1;

	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL || !cJSON_IsObject(root))
		goto done;
	while (end < (const char *)body + len &&
	    (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != (const char *)body + len)
		goto done;
	ps = cJSON_GetObjectItemCaseSensitive(root, "partialSuccess");
	if (ps == NULL || cJSON_IsNull(ps)) {
		rc = 0;
		goto done;
	}
	if (!cJSON_IsObject(ps))
		goto done;
	n = cJSON_GetObjectItemCaseSensitive(ps, "rejectedSpans");
	m = cJSON_GetObjectItemCaseSensitive(ps, "errorMessage");
	if (n != NULL && !cJSON_IsNull(n) && otlp_json_int64(n, rejected) == -1)
		goto done;
	if (m != NULL && !cJSON_IsNull(m)) {
		if (!cJSON_IsString(m))
			goto done;
		copy_message(
		    m->valuestring, strlen(m->valuestring), msg, msglen);
	}
	rc = 0;
done:
	cJSON_Delete(root);
	if (rc == -1) {
		*rejected = 0;
		if (msglen > 0)
			msg[0] = '\0';
	}
	return rc;
}

int
otlp_response_parse(enum otlp_encoding enc, const void *body, size_t len,
    int64_t *rejected, char *msg, size_t msglen)
{
	const char *s = body;
	size_t i;

	*rejected = 0;
	if (msglen > 0)
		msg[0] = '\0';
	if (enc == OTLP_PROTOBUF)
		return parse_pb(body, len, rejected, msg, msglen);
	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			break;
	if (i == len)
		return 0; /* an empty answer */
	return parse_json(body, len, rejected, msg, msglen);
}
