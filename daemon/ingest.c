/* ingest.c: the HTTP routes of the ingest API: route by the kind table, hand
 * the validated records to group commit, answer. */
#include "daemon/ingest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/kind.h"
#include "common/log.h"
#include "common/uuid.h"
#include "conf/conf.h"
#include "daemon/admin.h"
#include "daemon/body.h"
#include "daemon/commit.h"
#include "daemon/httpd.h"
#include "daemon/jsonmem.h"
#include "daemon/rules.h"
#include "daemon/stats.h"
#include "otlp/otlp.h"
#include "spool/spool.h"

/* Seconds a client is told to wait when the spool is full or failing. */
#define RETRY_AFTER_FULL "Retry-After: 5\r\n"
#define RETRY_AFTER_ERR "Retry-After: 10\r\n"

/*
 * The free list of requests keeps their buffers, so that a busy daemon
 * does not allocate per request; after a burst it must give memory back,
 * so one request's buffers are kept only below POOL_ONE_MAX and the whole
 * list only below POOL_MAX.
 */
#define POOL_ONE_MAX (1024 * 1024)
#define POOL_MAX (8 * 1024 * 1024)

/* One request between validation and its reply. */
struct pending {
	struct commit_req creq;
	struct ingest *ing;
	struct httpd_req *hreq;
	const struct kind *kind;
	const struct kind_route *route;
	struct body_out out;
	struct pending *next_free;
};

struct ingest {
	const struct conf *conf;
	struct rules *rules;
	struct spool *sp;
	struct commit *commit;
	struct stats *stats;
	struct admin *admin; /* the /dlq routes */
	struct pending *free_list;
	size_t free_bytes; /* body_out_footprint of the free list */
	unsigned inflight;
	struct stats_ingest n;
	struct buf reply;
};

struct ingest *
ingest_new(const struct conf *conf, struct spool *sp, struct commit *commit,
    struct stats *stats)
{
	struct ingest *ing = calloc(1, sizeof(*ing));

	if (ing == NULL)
		return NULL;
	ing->conf = conf;
	ing->sp = sp;
	ing->commit = commit;
	ing->stats = stats;
	if ((ing->admin = admin_new(conf, sp, commit)) == NULL) {
		free(ing);
		return NULL;
	}
	buf_init(&ing->reply);
	jsonmem_install();
	return ing;
}

static void
pending_destroy(struct pending *p)
{
	body_out_free(&p->out);
	free(p);
}

void
ingest_free(struct ingest *ing)
{
	struct pending *p;

	if (ing == NULL)
		return;
	while ((p = ing->free_list) != NULL) {
		ing->free_list = p->next_free;
		pending_destroy(p);
	}
	buf_free(&ing->reply);
	admin_free(ing->admin);
	free(ing);
}

void
ingest_set_conf(struct ingest *ing, const struct conf *conf)
{
	ing->conf = conf;
	admin_set_conf(ing->admin, conf);
}

void
ingest_set_rules(struct ingest *ing, struct rules *rules)
{
	ing->rules = rules;
	ing->n.rules = rules;
}

unsigned
ingest_inflight(const struct ingest *ing)
{
	return ing->inflight;
}

static struct pending *
pending_get(struct ingest *ing)
{
	struct pending *p = ing->free_list;

	if (p != NULL) {
		ing->free_list = p->next_free;
		ing->free_bytes -= body_out_footprint(&p->out);
		return p;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	body_out_init(&p->out);
	p->ing = ing;
	return p;
}

static void
pending_put(struct ingest *ing, struct pending *p)
{
	size_t fp = body_out_footprint(&p->out);

	if (fp > POOL_ONE_MAX || ing->free_bytes + fp > POOL_MAX) {
		pending_destroy(p);
		return;
	}
	ing->free_bytes += fp;
	p->next_free = ing->free_list;
	ing->free_list = p;
}

static void
reply_error(
    struct ingest *ing, struct httpd_req *req, int status, const char *msg)
{
	if (status == 400)
		ing->n.requests_invalid++;
	else if (status == 413)
		ing->n.requests_too_large++;
	else if (status == 415)
		ing->n.requests_unsupported++;
	else if (status == 404)
		ing->n.requests_not_found++;
	httpd_reply_error(req, status, msg);
}

/* Count a request's records as accepted, or as refused for a full spool. */
static void
count_records(struct ingest *ing, const struct pending *p, int accepted)
{
	uint64_t items = p->out.items;

	if (p->route->form == KIND_FORM_OTLP) {
		if (accepted) {
			ing->n.exports_accepted++;
			ing->n.spans_accepted += items;
		} else {
			ing->n.exports_refused++;
			ing->n.spans_refused += items;
		}
		return;
	}
	/* A batch's session record is not one of its events. */
	items -= p->out.lead;
	if (accepted)
		ing->n.events_accepted += items;
	else
		ing->n.events_refused += items;
}

/* The success answer of each route, in the remote's shape. */
static void
answer_ok(struct ingest *ing, struct pending *p)
{
	const struct body_out *o = &p->out;
	struct buf *b = &ing->reply;
	const char *ctype = NULL;
	size_t i;

	buf_reset(b);
	switch (p->route->form) {
	case KIND_FORM_ONE:
		if (p->kind->id == KIND_SESSION) {
			buf_addstr(b, "{\"session_id\":\"");
			buf_addstr(b, o->ids[0].session_id);
			buf_addstr(b, "\"}");
			break;
		}
		/* No printf on the hot path: the ids are plain UUIDs. */
		buf_addstr(b, "{\"success\":true,\"event_id\":\"");
		buf_addstr(b, o->ids[0].event_id);
		if (p->kind->id == KIND_EVENT) {
			buf_addstr(b, "\",\"session_id\":\"");
			buf_addstr(b, o->ids[0].session_id);
		}
		buf_addstr(b, "\"}");
		break;
	case KIND_FORM_WHOLE:
		buf_addstr(b, "{\"success\":true}");
		break;
	case KIND_FORM_MANY:
		buf_addstr(b, "{\"success\":true,\"event_ids\":[");
		for (i = o->lead; i < o->n; i++) {
			buf_addstr(b, i > o->lead ? ",\"" : "\"");
			buf_addstr(b, o->ids[i].event_id);
			buf_addch(b, '"');
		}
		buf_addch(b, ']');
		if (o->single_session && p->kind->id == KIND_EVENT) {
			buf_addstr(b, ",\"session_id\":\"");
			buf_addstr(b, o->session_id);
			buf_addch(b, '"');
		}
		buf_addch(b, '}');
		break;
	case KIND_FORM_OTLP: {
		size_t len;
		const char *body =
		    otlp_response_ok(o->otlp_encoding, &len, &ctype);

		/* Possibly zero bytes (protobuf): no buffer needed. */
		httpd_reply(p->hreq, 200, ctype, NULL, body, len);
		return;
	}
	default:
		httpd_reply_error(p->hreq, 500, "reply: internal: route form");
		return;
	}
	if (buf_failed(b)) {
		httpd_reply_error(p->hreq, 500, "out of memory");
		return;
	}
	httpd_reply(p->hreq, 200, ctype, NULL, b->data, b->len);
}

static void
on_committed(struct commit_req *creq, void *arg)
{
	struct pending *p = arg;
	struct ingest *ing = p->ing;

	ing->inflight--;
	switch (creq->result) {
	case SPOOL_OK:
		count_records(ing, p, 1);
		answer_ok(ing, p);
		break;
	case SPOOL_FULL:
		ing->n.requests_full++;
		count_records(ing, p, 0);
		httpd_reply_error_hdrs(
		    p->hreq, 503, RETRY_AFTER_FULL, "spool: full");
		break;
	case SPOOL_TOOBIG:
		reply_error(ing, p->hreq, 413,
		    "body: larger than the spool can ever hold");
		break;
	default:
		ing->n.requests_error++;
		count_records(ing, p, 0);
		httpd_reply_error_hdrs(
		    p->hreq, 503, RETRY_AFTER_ERR, "spool: cannot write");
	}
	pending_put(ing, p);
}

static void
submit(struct ingest *ing, struct pending *p)
{
	body_seal(&p->out, clock_wall_ms());
	p->creq.recs = p->out.recs;
	p->creq.nrecs = p->out.n;
	p->creq.bytes = p->out.data.len;
	p->creq.done = on_committed;
	p->creq.arg = p;
	p->creq.call = NULL;
	ing->inflight++;
	commit_submit_later(ing->commit, &p->creq);
}

/*
 * The client's own bearer key, when it sent one: *key points into the
 * request (NULL when there is none). The key travels in a header line
 * upstream, so it must be printable ASCII without spaces. -1 when the
 * header is there but holds no usable bearer key.
 */
static int
client_key(struct httpd_req *req, const char **key, size_t *len)
{
	const char *h = httpd_req_header(req, "Authorization");
	size_t n;

	*key = NULL;
	*len = 0;
	if (h == NULL)
		return 0;
	if (strncasecmp(h, "Bearer ", 7) != 0)
		return -1;
	h += 7;
	while (*h == ' ')
		h++;
	n = strlen(h);
	while (n > 0 && h[n - 1] == ' ')
		n--;
	if (n == 0 || n > SPOOL_AUTH_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (h[i] <= 0x20 || h[i] >= 0x7f)
			return -1;
	}
	*key = h;
	*len = n;
	return 0;
}

/* A write route: body to records, records to the commit thread. */
static void
handle_write(struct ingest *ing, struct httpd_req *req, const struct kind *k,
    const struct kind_route *route)
{
	struct body_opts opts;
	struct body_req br;
	struct pending *p;
	char err[512];
	int status;

	p = pending_get(ing);
	if (p == NULL) {
		httpd_reply_error_hdrs(
		    req, 503, RETRY_AFTER_ERR, "daemon: out of memory");
		return;
	}
	p->hreq = req;
	p->kind = k;
	p->route = route;
	memset(&opts, 0, sizeof(opts));
	opts.max_event_bytes = ing->conf->max_event_bytes;
	opts.max_body_bytes = ing->conf->max_body_bytes;
	opts.default_project = ing->conf->default_project;
	opts.uuid_gen = uuid_v4;
	opts.redact = rules_redact(ing->rules);
	opts.redact_counts = rules_counts(ing->rules);
	memset(&br, 0, sizeof(br));
	br.kind = k;
	br.route = route;
	br.body = httpd_req_body(req, &br.len);
	br.content_type = httpd_req_header(req, "Content-Type");
	br.content_encoding = httpd_req_header(req, "Content-Encoding");
	if (ing->conf->forward_client_key &&
	    client_key(req, &br.auth, &br.auth_len) == -1) {
		reply_error(ing, req, 400,
		    "Authorization: a bearer key must be 1 to 4096 printable "
		    "characters");
		pending_put(ing, p);
		return;
	}
	status = body_take(&opts, &br, &p->out, err, sizeof(err));
	if (status != 0) {
		if (route->form == KIND_FORM_OTLP)
			ing->n.exports_invalid++;
		else if (p->out.bad_record)
			ing->n.events_invalid++;
		reply_error(ing, req, status, err);
		pending_put(ing, p);
		return;
	}
	if (p->out.n == 0) {
		/* Nothing to spool: answer at once, as the remote would. */
		answer_ok(ing, p);
		pending_put(ing, p);
		return;
	}
	submit(ing, p);
}

static void
reply_buf(struct httpd_req *req, int status, const char *ctype, struct buf *b)
{
	if (buf_failed(b)) {
		httpd_reply_error(req, 500, "out of memory");
		return;
	}
	httpd_reply(req, status, ctype, NULL, b->data, b->len);
}

static void
handle_healthz(struct ingest *ing, struct httpd_req *req)
{
	struct spool_stats st;
	struct buf *b = &ing->reply;

	buf_reset(b);
	if (spool_stat(ing->sp, &st) != SPOOL_OK) {
		httpd_reply_error_hdrs(
		    req, 503, RETRY_AFTER_ERR, "spool: cannot read");
		return;
	}
	/* Full means no room left for even a small event. */
	if (st.used_bytes + 8192 > st.limit_bytes) {
		httpd_reply_error_hdrs(
		    req, 503, RETRY_AFTER_FULL, "spool: full");
		return;
	}
	buf_printf(b,
	    "{\"status\":\"ok\",\"spool_events\":%llu,\"spool_bytes\":%llu}",
	    (unsigned long long)st.events, (unsigned long long)st.bytes);
	reply_buf(req, 200, NULL, b);
}

/* GET /healthz, /stats, /metrics. Returns 0 when path is none of them. */
static int
route_read(struct ingest *ing, struct httpd_req *req, const char *path,
    enum httpd_method m)
{
	struct buf *b = &ing->reply;
	struct httpd_stats hs;
	int rc;

	if (strcmp(path, "/healthz") != 0 && strcmp(path, "/stats") != 0 &&
	    strcmp(path, "/metrics") != 0)
		return 0;
	if (m != HTTPD_GET && m != HTTPD_HEAD) {
		httpd_reply_error_hdrs(
		    req, 405, "Allow: GET, HEAD\r\n", "method: use GET");
		return 1;
	}
	if (strcmp(path, "/healthz") == 0) {
		handle_healthz(ing, req);
		return 1;
	}
	buf_reset(b);
	httpd_stats(httpd_req_httpd(req), &hs);
	if (strcmp(path, "/stats") == 0)
		rc = stats_json(ing->stats, &ing->n, &hs, b);
	else
		rc = stats_metrics(ing->stats, &ing->n, &hs, b);
	if (rc == -1) {
		httpd_reply_error(req, 500, "stats: spool unreadable");
		return 1;
	}
	reply_buf(req, 200,
	    strcmp(path, "/stats") == 0 ? NULL : "text/plain; version=0.0.4",
	    b);
	return 1;
}

/* Paths of the remote API that read: not the collector's job. */
static int
is_read_path(const char *path)
{
	static const char *const prefixes[] = {"/events", "/session",
	    "/projects", "/datasets", "/datapoints", "/configurations",
	    "/tools", "/runs", NULL};

	for (int i = 0; prefixes[i] != NULL; i++) {
		size_t l = strlen(prefixes[i]);

		if (strncmp(path, prefixes[i], l) == 0 &&
		    (path[l] == '\0' || path[l] == '/'))
			return 1;
	}
	return 0;
}

static const char *
method_name(enum httpd_method m)
{
	switch (m) {
	case HTTPD_GET:
		return "GET";
	case HTTPD_HEAD:
		return "HEAD";
	case HTTPD_POST:
		return "POST";
	case HTTPD_PUT:
		return "PUT";
	case HTTPD_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

void
ingest_handle(struct httpd_req *req, void *arg)
{
	struct ingest *ing = arg;
	enum httpd_method m = httpd_req_method(req);
	const char *path = httpd_req_path(req);
	const struct kind_route *route;
	const struct kind *k;
	char allow[64], hdr[96], msg[160];
	size_t len;

	ing->n.requests++;
	if (log_getlevel() == LOG_LVL_DEBUG) {
		(void)httpd_req_body(req, &len);
		log_debug("ingest: %s %.200s, %zu body bytes", method_name(m),
		    path, len);
	}
	if (admin_handle(ing->admin, req))
		return;
	k = kind_route(method_name(m), path, &route, allow, sizeof(allow));
	if (k != NULL) {
		handle_write(ing, req, k, route);
		return;
	}
	/* GET /events is how the remote reads events: the read calls' 404. */
	if (allow[0] != '\0' &&
	    !((m == HTTPD_GET || m == HTTPD_HEAD) &&
	        strcmp(path, "/events") == 0)) {
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
		snprintf(msg, sizeof(msg), "method: use %s",
		    strcmp(allow, "POST, PUT") == 0 ? "POST or PUT" : allow);
		httpd_reply_error_hdrs(req, 405, hdr, msg);
		return;
	}
	if (route_read(ing, req, path, m))
		return;
	if (is_read_path(path))
		snprintf(msg, sizeof(msg),
		    "%.64s: not found: tracespool only accepts the event API's "
		    "write calls; read from the remote API",
		    path);
	else
		snprintf(msg, sizeof(msg), "%.64s: not found", path);
	reply_error(ing, req, 404, msg);
}
