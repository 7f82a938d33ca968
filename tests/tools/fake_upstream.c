/* fake_upstream.c: a scriptable stand-in for the event API; logs requests. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "otlp/pb.h"
#include "otlp/trace.pb-c.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/*
 * Usage: fake_upstream -p PORT -l LOGFILE [-C CERT -K KEY]. It prints
 * "port=N" first on stdout (so -p 0 can pick a free port), then serves
 * until SIGTERM. With -C and -K it serves HTTPS only, with the
 * certificate chain in CERT (PEM, the server's first) and its key.
 *
 * Each request except /_control and /_count becomes one line in LOGFILE:
 * {"method","path","authorization","body","t_ms","answered","n_in",
 * "n_out","t_answer_ms"}, where body is the parsed JSON (or the raw text
 * when it is not JSON), answered is the status sent (0 when none was:
 * stall, reset, a delayed answer whose client had gone), and n_in and
 * n_out are the request's places in one sequence counting every arrival
 * and every answer: a request whose n_in is above another's n_out was
 * sent after the other was answered. A request is logged when answered.
 * POST /_control with a JSON body sets how later requests are answered;
 * see control(). Answers wait without blocking other requests, so many may
 * be in flight: GET /_count reports the most there were at once.
 */

enum mode {
	MODE_OK = 0,
	MODE_STATUS,      /* every request gets status (+ Retry-After) */
	MODE_AUTH,        /* 401 unless the bearer token is key */
	MODE_REJECT_NAME, /* status for a request holding an event named name */
	MODE_STALL,       /* never answer */
	MODE_RESET,       /* close the connection without answering */
	MODE_TRUNCATED,   /* 200 with a Content-Length longer than the body */
	MODE_NOTJSON,     /* 200 "hello" */
	MODE_REDIRECT,    /* 302 to /elsewhere */
	MODE_DELAY,       /* the ok answer, ms milliseconds late */
	MODE_PARTIAL,     /* OTLP: 200 with partial_success of status spans */
};

static const char *const mode_names[] = {"ok", "status", "auth", "reject_name",
    "stall", "reset", "truncated", "notjson", "redirect", "delay", "partial"};

struct fake {
	struct event_base *base;
	FILE *log;
	int mode;
	int status;
	char retry_after[128];
	char key[512];
	char name[512];
	long delay_ms;
	long latency_ms; /* every answer waits this long */
	long rate;       /* requests a second answered; beyond: 429 */
	char rate_retry_after[32];
	long fail_every; /* every Nth request gets fail_status */
	int fail_status;
	uint64_t arrivals;    /* requests counted by fail_every */
	uint64_t rate_second; /* the second rate_count counts */
	long rate_count;
	uint64_t order; /* the n_in / n_out sequence */
	long inflight;  /* arrived, not yet answered */
	long max_inflight;
	uint64_t requests; /* logged requests */
	uint64_t events;   /* events in requests answered 2xx */
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char *
phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Status";
	}
}

static void
reply(struct evhttp_request *req, int status, const char *body)
{
	struct evbuffer *out;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

	if (evhttp_find_header(oh, "Content-Type") == NULL)
		evhttp_add_header(oh, "Content-Type", "application/json");
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(out, body, strlen(body));
	evhttp_send_reply(req, status, phrase(status), out);
	evbuffer_free(out);
}

/* Reply with the cJSON object o (consumed). */
static void
reply_json(struct evhttp_request *req, int status, cJSON *o)
{
	char *s = o != NULL ? cJSON_PrintUnformatted(o) : NULL;

	reply(req, s != NULL ? status : 500,
	    s != NULL ? s : "{\"success\":false,\"error\":\"out of memory\"}");
	free(s);
	cJSON_Delete(o);
}

static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "OTHER";
	}
}

/* Standard base64 of in[0..len) as a new string, or NULL. */
static char *
base64(const unsigned char *in, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
	size_t i;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*p++ = tab[in[i] >> 2];
		*p++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*p++ = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*p++ = tab[in[i + 2] & 63];
	}
	if (i < len) {
		*p++ = tab[in[i] >> 2];
		if (i + 1 < len) {
			*p++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*p++ = tab[(in[i + 1] & 15) << 2];
		} else {
			*p++ = tab[(in[i] & 3) << 4];
			*p++ = '=';
		}
		*p++ = '=';
	}
	*p = '\0';
	return out;
}

/*
 * One log line. A body that is not JSON (an OTLP protobuf export) is also
 * logged whole as body_b64, since its text may hold NULs.
 */
static void
log_request(struct fake *fk, const char *method, const char *path,
    const char *auth, const char *ct, cJSON *body, const char *raw,
    size_t rawlen, uint64_t t, int answered, uint64_t n_in)
{
	cJSON *o = cJSON_CreateObject();
	char *s, *b64;

	cJSON_AddStringToObject(o, "method", method);
	cJSON_AddStringToObject(o, "path", path);
	if (auth != NULL)
		cJSON_AddStringToObject(o, "authorization", auth);
	else
		cJSON_AddNullToObject(o, "authorization");
	if (ct != NULL)
		cJSON_AddStringToObject(o, "content_type", ct);
	if (body != NULL) {
		cJSON_AddItemToObject(o, "body", cJSON_Duplicate(body, 1));
	} else {
		cJSON_AddStringToObject(o, "body", raw);
		if ((b64 = base64((const unsigned char *)raw, rawlen)) !=
		    NULL) {
			cJSON_AddStringToObject(o, "body_b64", b64);
			free(b64);
		}
	}
	cJSON_AddNumberToObject(o, "t_ms", (double)t);
	cJSON_AddNumberToObject(o, "answered", answered);
	cJSON_AddNumberToObject(o, "n_in", (double)n_in);
	cJSON_AddNumberToObject(o, "n_out", (double)++fk->order);
	cJSON_AddNumberToObject(o, "t_answer_ms", (double)now_ms());
	if ((s = cJSON_PrintUnformatted(o)) != NULL) {
		fprintf(fk->log, "%s\n", s);
		fflush(fk->log);
		free(s);
	}
	cJSON_Delete(o);
	fk->requests++;
}

/* The array of events a request carries, and its length (0 if none). */
static cJSON *
events_of(cJSON *body, const char *path, int *n)
{
	cJSON *a = NULL;

	*n = 0;
	if (!cJSON_IsObject(body))
		return NULL;
	if (strcmp(path, "/events/batch") == 0)
		a = cJSON_GetObjectItemCaseSensitive(body, "events");
	else if (strcmp(path, "/events/model/batch") == 0)
		a = cJSON_GetObjectItemCaseSensitive(body, "model_events");
	if (!cJSON_IsArray(a))
		return NULL;
	*n = cJSON_GetArraySize(a);
	return a;
}

static int
names_match(cJSON *ev, const char *name)
{
	cJSON *n = cJSON_GetObjectItemCaseSensitive(ev, "event_name");

	return cJSON_IsString(n) && strcmp(n->valuestring, name) == 0;
}

/* 1 when an OTLP export (protobuf raw, or JSON body) has a span named name. */
static int
otlp_holds_name(cJSON *body, const char *raw, size_t rawlen, const char *name)
{
	Otlp__ExportTraceServiceRequest *r;
	struct otlp_pb *pb;
	cJSON *rs, *ss, *sp, *n;
	char err[256];
	int found = 0;

	if (body != NULL) {
		cJSON_ArrayForEach(
		    rs, cJSON_GetObjectItem(body, "resourceSpans")) {
			cJSON_ArrayForEach(
			    ss, cJSON_GetObjectItem(rs, "scopeSpans")) {
				cJSON_ArrayForEach(
				    sp, cJSON_GetObjectItem(ss, "spans")) {
					n = cJSON_GetObjectItem(sp, "name");
					found |= cJSON_IsString(n) &&
					    strcmp(n->valuestring, name) == 0;
				}
			}
		}
		return found;
	}
	if (otlp_pb_decode(raw, rawlen, 64 * rawlen + 4096, &pb, err,
	        sizeof(err)) != OTLP_OK)
		return 0;
	r = otlp_pb_request(pb);
	for (size_t i = 0; i < r->n_resource_spans; i++) {
		Otlp__ResourceSpans *x = r->resource_spans[i];

		for (size_t j = 0; j < x->n_scope_spans; j++) {
			Otlp__ScopeSpans *y = x->scope_spans[j];

			for (size_t k = 0; k < y->n_spans; k++)
				found |= strcmp(y->spans[k]->name, name) == 0;
		}
	}
	otlp_pb_free(pb);
	return found;
}

static int
holds_name(cJSON *body, const char *path, const char *name, const char *raw,
    size_t rawlen)
{
	cJSON *a, *ev;
	int n;

	if (strcmp(path, "/opentelemetry/v1/traces") == 0)
		return otlp_holds_name(body, raw, rawlen, name);

	if ((a = events_of(body, path, &n)) != NULL) {
		cJSON_ArrayForEach(ev, a) {
			if (names_match(ev, name))
				return 1;
		}
		return 0;
	}
	if (cJSON_IsObject(body)) {
		ev = cJSON_GetObjectItemCaseSensitive(body, "event");
		if (ev == NULL)
			ev = cJSON_GetObjectItemCaseSensitive(
			    body, "model_event");
		return names_match(ev, name);
	}
	return 0;
}

static void
add_id(cJSON *o, const char *name, cJSON *from, const char *field)
{
	cJSON *id = cJSON_GetObjectItemCaseSensitive(from, field);

	if (cJSON_IsString(id))
		cJSON_AddStringToObject(o, name, id->valuestring);
	else
		cJSON_AddNullToObject(o, name);
}

/* The success answer of the real API for path; returns the status. */
static int
answer_ok(struct fake *fk, struct evhttp_request *req, const char *method,
    const char *path, cJSON *body)
{
	cJSON *o, *a, *ev, *ids;
	int n;

	if (strcmp(method, "POST") == 0 &&
	    strcmp(path, "/opentelemetry/v1/traces") == 0) {
		/* An empty ExportTraceServiceResponse in either encoding. */
		if (body != NULL) {
			reply(req, 200, "{}");
		} else {
			evhttp_add_header(
			    evhttp_request_get_output_headers(req),
			    "Content-Type", "application/x-protobuf");
			evhttp_send_reply(req, 200, "OK", NULL);
		}
		fk->events++;
		return 200;
	}
	if (body == NULL) {
		reply(req, 400,
		    "{\"success\":false,\"error\":\"body: not JSON\"}");
		return 400;
	}
	o = cJSON_CreateObject();
	if (strcmp(method, "POST") == 0 &&
	    (a = events_of(body, path, &n)) != NULL) {
		cJSON_AddTrueToObject(o, "success");
		ids = cJSON_AddArrayToObject(o, "event_ids");
		cJSON_ArrayForEach(ev, a) {
			cJSON *id =
			    cJSON_GetObjectItemCaseSensitive(ev, "event_id");

			cJSON_AddItemToArray(ids,
			    cJSON_IsString(id)
			        ? cJSON_CreateString(id->valuestring)
			        : cJSON_CreateNull());
		}
		fk->events += (uint64_t)n;
	} else if (strcmp(method, "POST") == 0 &&
	    strcmp(path, "/session/start") == 0) {
		ev = cJSON_GetObjectItemCaseSensitive(body, "session");
		add_id(o, "session_id", ev, "session_id");
		fk->events++;
	} else if (strcmp(method, "PUT") == 0 && strcmp(path, "/events") == 0) {
		cJSON_AddTrueToObject(o, "success");
		fk->events++;
	} else if (strcmp(method, "POST") == 0 &&
	    (strcmp(path, "/events") == 0 ||
	        strcmp(path, "/events/model") == 0)) {
		ev = cJSON_GetObjectItemCaseSensitive(body, "event");
		if (ev == NULL)
			ev = cJSON_GetObjectItemCaseSensitive(
			    body, "model_event");
		cJSON_AddTrueToObject(o, "success");
		add_id(o, "event_id", ev, "event_id");
		fk->events++;
	} else {
		cJSON_Delete(o);
		reply(
		    req, 404, "{\"success\":false,\"error\":\"unknown path\"}");
		return 404;
	}
	reply_json(req, 200, o);
	return 200;
}

/*
 * An ExportTraceServiceResponse whose partial_success rejects fk->status
 * spans, in the request's encoding.
 */
static void
answer_partial(struct fake *fk, struct evhttp_request *req, int json)
{
	Otlp__ExportTraceServiceResponse r =
	    OTLP__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Otlp__ExportTracePartialSuccess ps =
	    OTLP__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	struct evbuffer *out = evbuffer_new();
	uint8_t buf[256];
	char text[256];
	size_t n;

	if (out == NULL) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (json) {
		snprintf(text, sizeof(text),
		    "{\"partialSuccess\":{\"rejectedSpans\":\"%d\","
		    "\"errorMessage\":\"fake: %d spans rejected\"}}",
		    fk->status, fk->status);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/json");
		evbuffer_add(out, text, strlen(text));
	} else {
		snprintf(
		    text, sizeof(text), "fake: %d spans rejected", fk->status);
		ps.rejected_spans = fk->status;
		ps.error_message = text;
		r.partial_success = &ps;
		n = otlp__export_trace_service_response__pack(&r, buf);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/x-protobuf");
		evbuffer_add(out, buf, n);
	}
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
answer_status(
    struct fake *fk, struct evhttp_request *req, int status, const char *error)
{
	cJSON *o = cJSON_CreateObject();

	if (fk->retry_after[0] != '\0')
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Retry-After", fk->retry_after);
	cJSON_AddFalseToObject(o, "success");
	cJSON_AddStringToObject(o, "error", error);
	reply_json(req, status, o);
}

static long
positive(cJSON *c, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (long)v->valuedouble
	                                               : 0;
}

static void
copy_field(cJSON *c, const char *name, char *dst, size_t len)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(c, name);

	dst[0] = '\0';
	if (cJSON_IsString(v))
		snprintf(dst, len, "%s", v->valuestring);
}

/*
 * POST /_control {"mode": ..., "status"?, "retry_after"?, "key"?, "name"?,
 * "ms"?, "latency_ms"?, "rate"?, "rate_retry_after"?, "fail_every"?,
 * "fail_status"?}. latency_ms delays every answer (of any mode but stall);
 * rate answers at most that many requests a second by the mode, the rest
 * 429 with Retry-After rate_retry_after (default "1"); fail_every answers
 * every Nth request fail_status (default 503) whatever the mode. Each
 * control replaces all of them: what it leaves out is off.
 */
static void
control(struct fake *fk, struct evhttp_request *req, cJSON *c)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "mode");
	cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "status");
	cJSON *ms = cJSON_GetObjectItemCaseSensitive(c, "ms");
	size_t i;

	if (!cJSON_IsString(m)) {
		reply(req, 400,
		    "{\"success\":false,\"error\":\"mode: missing\"}");
		return;
	}
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(m->valuestring, mode_names[i]) == 0)
			break;
	}
	if (i == sizeof(mode_names) / sizeof(mode_names[0])) {
		reply(req, 400,
		    "{\"success\":false,\"error\":\"mode: unknown\"}");
		return;
	}
	fk->mode = (int)i;
	fk->status = cJSON_IsNumber(st) ? st->valueint
	    : fk->mode == MODE_STATUS   ? 500
	                                : 400;
	copy_field(c, "retry_after", fk->retry_after, sizeof(fk->retry_after));
	copy_field(c, "key", fk->key, sizeof(fk->key));
	copy_field(c, "name", fk->name, sizeof(fk->name));
	fk->delay_ms = cJSON_IsNumber(ms) && ms->valuedouble > 0
	    ? (long)ms->valuedouble
	    : 0;
	fk->latency_ms = positive(c, "latency_ms");
	fk->rate = positive(c, "rate");
	copy_field(c, "rate_retry_after", fk->rate_retry_after,
	    sizeof(fk->rate_retry_after));
	if (fk->rate_retry_after[0] == '\0')
		snprintf(
		    fk->rate_retry_after, sizeof(fk->rate_retry_after), "1");
	fk->fail_every = positive(c, "fail_every");
	fk->fail_status = (int)positive(c, "fail_status");
	if (fk->fail_status == 0)
		fk->fail_status = 503;
	fk->arrivals = 0;
	reply(req, 200, "{\"success\":true}");
}

/*
 * A request between its arrival and its answer; it owns body and raw.
 * forced is a status decided at arrival (rate, fail_every), 0 for none.
 */
struct pending {
	struct fake *fk;
	struct evhttp_request *req;
	struct event *ev;
	const char *method;
	char *path;
	char *auth;
	char *ctype;
	cJSON *body;
	char *raw;
	size_t rawlen;
	uint64_t t;
	uint64_t n_in;
	int forced;
};

static void
pending_free(struct pending *d)
{
	if (d->ev != NULL)
		event_free(d->ev);
	free(d->path);
	free(d->auth);
	free(d->ctype);
	cJSON_Delete(d->body);
	free(d->raw);
	free(d);
}

/* 1 when the client has closed its end (libevent does not look meanwhile). */
static int
client_gone(struct evhttp_connection *conn)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	char c;

	return bev == NULL ||
	    recv(bufferevent_getfd(bev), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Answer by the mode; returns the status sent, 0 for none. */
static int
respond(struct pending *d)
{
	struct fake *fk = d->fk;
	struct evhttp_request *req = d->req;
	const char *path = d->path, *method = d->method;
	char expect[600];
	int status = 0;

	if (d->forced != 0) {
		char saved[sizeof(fk->retry_after)];

		/* A rate refusal carries its own Retry-After. */
		memcpy(saved, fk->retry_after, sizeof(saved));
		if (d->forced == 429 && fk->rate > 0)
			snprintf(fk->retry_after, sizeof(fk->retry_after), "%s",
			    fk->rate_retry_after);
		answer_status(fk, req, d->forced, "fake refusal");
		memcpy(fk->retry_after, saved, sizeof(saved));
		return d->forced;
	}
	switch (fk->mode) {
	case MODE_STATUS:
		status = fk->status;
		answer_status(fk, req, status, "fake status");
		break;
	case MODE_AUTH:
		snprintf(expect, sizeof(expect), "Bearer %s", fk->key);
		if (d->auth == NULL || strcmp(d->auth, expect) != 0) {
			status = 401;
			reply(req, 401,
			    "{\"success\":false,\"error\":\"unauthorized\"}");
		} else {
			status = answer_ok(fk, req, method, path, d->body);
		}
		break;
	case MODE_REJECT_NAME:
		if (holds_name(d->body, path, fk->name, d->raw, d->rawlen)) {
			char err[600];

			status = fk->status;
			snprintf(err, sizeof(err), "rejected event_name %s",
			    fk->name);
			answer_status(fk, req, status, err);
		} else {
			status = answer_ok(fk, req, method, path, d->body);
		}
		break;
	case MODE_STALL:
		/* Held unanswered; libevent frees it when the peer leaves. */
		break;
	case MODE_RESET: {
		struct evhttp_connection *conn =
		    evhttp_request_get_connection(req);
		struct bufferevent *bev = conn != NULL
		    ? evhttp_connection_get_bufferevent(conn)
		    : NULL;

		/* libevent sees the end of the stream and cleans up. */
		if (bev != NULL)
			shutdown(bufferevent_getfd(bev), SHUT_RDWR);
		break;
	}
	case MODE_TRUNCATED: {
		struct evkeyvalq *oh = evhttp_request_get_output_headers(req);

		status = 200;
		evhttp_add_header(oh, "Content-Length", "100");
		evhttp_add_header(oh, "Connection", "close");
		reply(req, 200, "{\"success\":true");
		break;
	}
	case MODE_NOTJSON:
		status = 200;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "text/plain");
		reply(req, 200, "hello");
		break;
	case MODE_REDIRECT:
		status = 302;
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Location", "/elsewhere");
		reply(req, 302, "{\"success\":false}");
		break;
	case MODE_PARTIAL:
		if (strcmp(path, "/opentelemetry/v1/traces") == 0) {
			status = 200;
			answer_partial(fk, req, d->body != NULL);
			fk->events++;
		} else {
			status = answer_ok(fk, req, method, path, d->body);
		}
		break;
	default:
		/* MODE_OK, and MODE_DELAY once its delay is over. */
		status = answer_ok(fk, req, method, path, d->body);
		break;
	}
	return status;
}

/*
 * Answer now (the wait is over) and log. An answer to a client that has
 * left meanwhile (it timed out, or was killed) reaches nobody: it is
 * logged as answered 0. A request libevent already detached from its
 * connection is ours to free.
 */
static void
finish(struct pending *d)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(d->req);
	int status = 0;

	d->fk->inflight--;
	if (conn == NULL)
		evhttp_request_free(d->req);
	else if (client_gone(conn))
		reply(d->req, 200, "{\"success\":true}");
	else
		status = respond(d);
	log_request(d->fk, d->method, d->path, d->auth, d->ctype, d->body,
	    d->raw, d->rawlen, d->t, status, d->n_in);
	pending_free(d);
}

static void
on_due(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

/* The status decided on arrival: the rate cap, or every Nth failing. */
static int
forced_status(struct fake *fk, uint64_t t)
{
	fk->arrivals++;
	if (fk->rate > 0) {
		if (t / 1000 != fk->rate_second) {
			fk->rate_second = t / 1000;
			fk->rate_count = 0;
		}
		if (++fk->rate_count > fk->rate)
			return 429;
	}
	if (fk->fail_every > 0 && fk->arrivals % (uint64_t)fk->fail_every == 0)
		return fk->fail_status;
	return 0;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct fake *fk = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *auth = evhttp_find_header(hdrs, "Authorization");
	const char *ctype = evhttp_find_header(hdrs, "Content-Type");
	size_t len = evbuffer_get_length(in);
	struct pending *d;
	struct timeval tv;
	long wait;

	if (path == NULL)
		path = "/";
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->raw = malloc(len + 1)) == NULL) {
		free(d);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_copyout(in, d->raw, len);
	d->raw[len] = '\0';
	d->rawlen = len;
	d->body = cJSON_ParseWithLength(d->raw, len);

	if (strcmp(path, "/_control") == 0) {
		if (cJSON_IsObject(d->body))
			control(fk, req, d->body);
		else
			reply(req, 400,
			    "{\"success\":false,\"error\":\"body: not JSON\"}");
		pending_free(d);
		return;
	}
	if (strcmp(path, "/_count") == 0) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "requests", (double)fk->requests);
		cJSON_AddNumberToObject(o, "events", (double)fk->events);
		cJSON_AddNumberToObject(
		    o, "max_inflight", (double)fk->max_inflight);
		reply_json(req, 200, o);
		pending_free(d);
		return;
	}

	d->fk = fk;
	d->req = req;
	d->method = method_name(evhttp_request_get_command(req));
	d->t = now_ms();
	d->n_in = ++fk->order;
	d->path = strdup(path);
	d->auth = auth != NULL ? strdup(auth) : NULL;
	d->ctype = ctype != NULL ? strdup(ctype) : NULL;
	if (d->path == NULL || (auth != NULL && d->auth == NULL) ||
	    (ctype != NULL && d->ctype == NULL)) {
		pending_free(d);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	if (++fk->inflight > fk->max_inflight)
		fk->max_inflight = fk->inflight;
	d->forced = forced_status(fk, d->t);
	wait = fk->latency_ms + (fk->mode == MODE_DELAY ? fk->delay_ms : 0);
	if (wait == 0 || (fk->mode == MODE_STALL && d->forced == 0)) {
		finish(d);
		return;
	}
	tv.tv_sec = wait / 1000;
	tv.tv_usec = (wait % 1000) * 1000;
	if ((d->ev = evtimer_new(fk->base, on_due, d)) == NULL ||
	    evtimer_add(d->ev, &tv) == -1) {
		/* Answered at once rather than not at all. */
		finish(d);
	}
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct fake *fk = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(fk->base);
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: fake_upstream -p PORT -l LOGFILE [-C CERT -K KEY]\n");
	return 2;
}

/* Each connection of an HTTPS listener: TLS over the accepted socket. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

/* A server context for cert and key; NULL after saying why. */
static SSL_CTX *
tls_ctx(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "fake_upstream: %s, %s: %s\n", cert, key,
		    ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
main(int argc, char **argv)
{
	struct fake fk;
	struct evhttp *http = NULL;
	struct evhttp_bound_socket *bound;
	struct event *sigterm = NULL, *sigint = NULL;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	const char *logpath = NULL, *cert = NULL, *key = NULL;
	SSL_CTX *ctx = NULL;
	char *end;
	long port = -1;
	int ch, one = 1, rc = 1;

	memset(&fk, 0, sizeof(fk));
	while ((ch = getopt(argc, argv, "p:l:C:K:")) != -1) {
		switch (ch) {
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || port < 0 ||
			    port > 65535)
				return usage();
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'K':
			key = optarg;
			break;
		default:
			return usage();
		}
	}
	if (port < 0 || logpath == NULL || optind != argc ||
	    (cert == NULL) != (key == NULL))
		return usage();
	signal(SIGPIPE, SIG_IGN);
	if ((fk.log = fopen(logpath, "a")) == NULL) {
		fprintf(stderr, "fake_upstream: %s: %s\n", logpath,
		    strerror(errno));
		return 1;
	}
	if ((fk.base = event_base_new()) == NULL ||
	    (http = evhttp_new(fk.base)) == NULL)
		goto fail;
	evhttp_set_allowed_methods(http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	        EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, handle, &fk);
	if (cert != NULL) {
		if ((ctx = tls_ctx(cert, key)) == NULL)
			goto fail;
		evhttp_set_bevcb(http, tls_bev, ctx);
	}
	if ((bound = evhttp_bind_socket_with_handle(
	         http, "127.0.0.1", (ev_uint16_t)port)) == NULL) {
		fprintf(
		    stderr, "fake_upstream: cannot listen on port %ld\n", port);
		goto fail;
	}
	/*
	 * Accepted sockets inherit it: libevent writes at most 16 KiB per
	 * loop, and Nagle would hold the rest of a large answer for the
	 * client's delayed ACK (40 ms a request).
	 */
	if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP,
	        TCP_NODELAY, &one, sizeof(one)) == -1)
		goto fail;
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	        (struct sockaddr *)&sin, &slen) == -1)
		goto fail;
	/* Before the port is told: a SIGTERM right after must still exit 0. */
	sigterm = evsignal_new(fk.base, SIGTERM, on_signal, &fk);
	sigint = evsignal_new(fk.base, SIGINT, on_signal, &fk);
	if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) ||
	    evsignal_add(sigint, NULL))
		goto fail;
	printf("port=%u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	if (event_base_dispatch(fk.base) == -1)
		goto fail;
	rc = 0;
fail:
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (http != NULL)
		evhttp_free(http);
	if (fk.base != NULL)
		event_base_free(fk.base);
	SSL_CTX_free(ctx);
	fclose(fk.log);
	return rc;
}
