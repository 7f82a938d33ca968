/* ingest.c: the HTTP routes of the ingest API: validate, hand to group commit,
 * answer. */
#include "ingest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/uuid.h"
#include "conf/conf.h"
#include "daemon/commit.h"
#include "daemon/event.h"
#include "daemon/httpd.h"
#include "daemon/jsonmem.h"
#include "daemon/jsonscan.h"
#include "forwarder/forwarder.h"
#include "spool/spool.h"

/* Seconds a client is told to wait when the spool is full or failing. */
#define RETRY_AFTER_FULL "Retry-After: 5\r\n"
#define RETRY_AFTER_ERR "Retry-After: 10\r\n"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

enum route {
	ROUTE_EVENT,
	ROUTE_BATCH,
	ROUTE_SESSION,
	ROUTE_UPDATE,
	ROUTE_MODEL,
	ROUTE_MODEL_BATCH,
};

/*
 * What one kind of record is: the body member that holds it (NULL: the
 * body itself), how it is checked, the spool kind the forwarder routes by,
 * and the text around it when the stored record is a whole upstream body.
 */
struct rec_kind {
	const char *member;
	event_normalize_fn *normalize;
	uint8_t spool_kind;
	int string_form;  /* the value may be a string holding the object */
	const char *open; /* NULL, or the text before it; a '}' follows it */
};

static const struct rec_kind kind_event = {
    "event", event_normalize, SPOOL_KIND_EVENT, 1, NULL};
static const struct rec_kind kind_events = {
    "events", event_normalize, SPOOL_KIND_EVENT, 1, NULL};
static const struct rec_kind kind_session = {
    "session", event_session_normalize, SPOOL_KIND_SESSION, 0, "{\"session\":"};
static const struct rec_kind kind_update = {
    NULL, event_update_normalize, SPOOL_KIND_UPDATE, 0, NULL};
static const struct rec_kind kind_model = {
    "model_event", event_model_normalize, SPOOL_KIND_MODEL_EVENT, 0, NULL};
static const struct rec_kind kind_models = {
    "model_events", event_model_normalize, SPOOL_KIND_MODEL_EVENT, 0, NULL};

/*
 * One request between validation and its reply. Kept on a free list:
 * their buffers stay allocated, so a busy daemon does not malloc per
 * request.
 */
struct pending {
	struct commit_req creq;
	struct ingest *ing;
	struct httpd_req *hreq;
	enum route route;
	struct buf data;        /* every normalized event, back to back */
	struct spool_rec *recs; /* n of them, pointing into data */
	struct event_ids *ids;  /* n of them */
	size_t *offs;           /* where each event starts in data */
	size_t cap;
	size_t n;
	size_t lead; /* 1 when recs[0] is a batch's session, not an event */
	int single_session;
	char session_id[EVENT_UUID_LEN + 1];
	struct pending *next_free;
};

struct counters {
	uint64_t requests;
	uint64_t events_accepted;
	uint64_t events_invalid; /* in requests answered 400 */
	uint64_t requests_invalid;
	uint64_t requests_too_large;
	uint64_t requests_full;
	uint64_t requests_error;
	uint64_t requests_not_found;
	uint64_t events_refused; /* in requests answered 503 */
};

struct ingest {
	const struct conf *conf;
	struct spool *sp;
	struct commit *commit;
	struct fwd *fwd;
	struct httpd *httpd;
	struct pending *free_list;
	unsigned inflight;
	struct counters n;
	/* scratch for array spans in batches */
	size_t *span_off;
	size_t *span_len;
	size_t span_cap;
	struct buf reply;
};

struct ingest *
ingest_new(const struct conf *conf, struct spool *sp, struct commit *commit)
{
	struct ingest *ing = calloc(1, sizeof(*ing));

	if (ing == NULL)
		return NULL;
	ing->conf = conf;
	ing->sp = sp;
	ing->commit = commit;
	buf_init(&ing->reply);
	jsonmem_install();
	return ing;
}

static void
pending_destroy(struct pending *p)
{
	buf_free(&p->data);
	free(p->recs);
	free(p->ids);
	free(p->offs);
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
	free(ing->span_off);
	free(ing->span_len);
	buf_free(&ing->reply);
	free(ing);
}

void
ingest_set_conf(struct ingest *ing, const struct conf *conf)
{
	ing->conf = conf;
}

void
ingest_set_fwd(struct ingest *ing, struct fwd *fwd)
{
	ing->fwd = fwd;
}

void
ingest_set_httpd(struct ingest *ing, struct httpd *h)
{
	ing->httpd = h;
}

unsigned
ingest_inflight(const struct ingest *ing)
{
	return ing->inflight;
}

static struct pending *
pending_get(struct ingest *ing, size_t n)
{
	struct pending *p = ing->free_list;

	if (p != NULL) {
		ing->free_list = p->next_free;
	} else {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			return NULL;
		buf_init(&p->data);
	}
	if (n > p->cap) {
		struct spool_rec *r = realloc(p->recs, n * sizeof(*r));
		struct event_ids *ids;
		size_t *offs;

		if (r != NULL)
			p->recs = r;
		ids = realloc(p->ids, n * sizeof(*ids));
		if (ids != NULL)
			p->ids = ids;
		offs = realloc(p->offs, n * sizeof(*offs));
		if (offs != NULL)
			p->offs = offs;
		if (r == NULL || ids == NULL || offs == NULL) {
			pending_destroy(p);
			return NULL;
		}
		p->cap = n;
	}
	buf_reset(&p->data);
	p->ing = ing;
	p->n = 0;
	p->lead = 0;
	p->single_session = 0;
	p->session_id[0] = '\0';
	return p;
}

/* Return to the free list; a huge buffer is not worth keeping. */
static void
pending_put(struct ingest *ing, struct pending *p)
{
	if (p->data.cap > 1024 * 1024 || p->cap > 1024) {
		pending_destroy(p);
		return;
	}
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
	else if (status == 404)
		ing->n.requests_not_found++;
	httpd_reply_error(req, status, msg);
}

/*
 * Take one member of "events" (or the "event" member): an object, or a
 * string holding one. Normalizes it into p->data. raw is that value's text
 * in the body. Returns 0, or the HTTP status to answer with err set.
 */
static int
take_event(struct ingest *ing, struct pending *p, const cJSON *val,
    const char *raw, size_t rawlen, const char *path,
    const struct rec_kind *kind, const struct event_opts *opts, char *err,
    size_t errlen)
{
	const struct conf *conf = ing->conf;
	cJSON *inner = NULL;
	const cJSON *obj = val;
	const char *text = raw, *name = path[0] != '\0' ? path : "body";
	size_t len = rawlen, before = p->data.len;
	int rc;

	if (kind->string_form && cJSON_IsString(val)) {
		const char *end = NULL;

		/* The reference API's form: the event as a JSON string. */
		len = strlen(val->valuestring);
		text = json_trim(val->valuestring, &len);
		if (len > conf->max_event_bytes)
			goto too_big;
		if (json_check_embedded(
		        raw, rawlen, val->valuestring, name, err, errlen) == -1)
			return 400;
		inner = cJSON_ParseWithLengthOpts(text, len, &end, 0);
		if (inner == NULL || end != text + len) {
			snprintf(err, errlen,
			    "%s: string does not hold valid JSON", name);
			cJSON_Delete(inner);
			return 400;
		}
		obj = inner;
	} else if (cJSON_IsObject(val)) {
		if (rawlen > conf->max_event_bytes)
			goto too_big;
	} else {
		snprintf(err, errlen, "%s: must be an object%s", name,
		    kind->string_form ? " or a string holding one" : "");
		return 400;
	}
	if (p->n == p->cap) {
		snprintf(err, errlen, "%s: internal: too many events", name);
		cJSON_Delete(inner);
		return 500;
	}
	p->offs[p->n] = before;
	p->recs[p->n].kind = kind->spool_kind;
	rc = kind->open != NULL ? buf_addstr(&p->data, kind->open) : 0;
	if (rc == 0)
		rc = kind->normalize(obj, text, len, opts, path, &p->data,
		    &p->ids[p->n], err, errlen);
	else
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc == 0 && kind->open != NULL && buf_addch(&p->data, '}') == -1) {
		snprintf(err, errlen, "%s: out of memory", name);
		rc = -1;
	}
	cJSON_Delete(inner);
	if (rc == -1) {
		/* The wrapper's opening may be there: out as it was. */
		p->data.len = before;
		if (p->data.data != NULL)
			p->data.data[before] = '\0';
		return 400;
	}
	p->n++;
	return 0;

too_big:
	snprintf(err, errlen, "%s: larger than max_event_bytes (%llu)", name,
	    (unsigned long long)conf->max_event_bytes);
	return 413;
}

/* Point the records at their events once p->data stops moving. */
static void
pending_seal(struct pending *p)
{
	uint64_t t = clock_wall_ms();

	for (size_t i = 0; i < p->n; i++) {
		size_t end = i + 1 < p->n ? p->offs[i + 1] : p->data.len;

		p->recs[i].time_ms = t;
		p->recs[i].data = p->data.data + p->offs[i];
		p->recs[i].len = end - p->offs[i];
	}
	p->creq.recs = p->recs;
	p->creq.nrecs = p->n;
	p->creq.bytes = p->data.len;
}

static void on_committed(struct commit_req *creq, void *arg);

static void
submit(struct ingest *ing, struct pending *p)
{
	p->creq.done = on_committed;
	p->creq.arg = p;
	ing->inflight++;
	commit_submit(ing->commit, &p->creq);
}

static void
answer_ok(struct ingest *ing, struct pending *p)
{
	struct buf *b = &ing->reply;

	buf_reset(b);
	/* Each in the remote's shape, so the SDKs' own parsing accepts it. */
	switch (p->route) {
	case ROUTE_EVENT:
		/* No printf on the hot path: the ids are plain UUIDs. */
		buf_addstr(b, "{\"success\":true,\"event_id\":\"");
		buf_addstr(b, p->ids[0].event_id);
		buf_addstr(b, "\",\"session_id\":\"");
		buf_addstr(b, p->ids[0].session_id);
		buf_addstr(b, "\"}");
		break;
	case ROUTE_SESSION:
		buf_printf(b, "{\"session_id\":\"%s\"}", p->ids[0].session_id);
		break;
	case ROUTE_UPDATE:
		buf_addstr(b, "{\"success\":true}");
		break;
	case ROUTE_MODEL:
		buf_printf(b, "{\"success\":true,\"event_id\":\"%s\"}",
		    p->ids[0].event_id);
		break;
	case ROUTE_BATCH:
	case ROUTE_MODEL_BATCH:
		buf_addstr(b, "{\"success\":true,\"event_ids\":[");
		for (size_t i = p->lead; i < p->n; i++) {
			buf_addstr(b, i > p->lead ? ",\"" : "\"");
			buf_addstr(b, p->ids[i].event_id);
			buf_addch(b, '"');
		}
		buf_addch(b, ']');
		if (p->single_session && p->route == ROUTE_BATCH)
			buf_printf(b, ",\"session_id\":\"%s\"", p->session_id);
		buf_addch(b, '}');
		break;
	}
	if (b->data == NULL) {
		httpd_reply_error(p->hreq, 500, "out of memory");
		return;
	}
	httpd_reply(p->hreq, 200, NULL, NULL, b->data, b->len);
}

static void
on_committed(struct commit_req *creq, void *arg)
{
	struct pending *p = arg;
	struct ingest *ing = p->ing;

	ing->inflight--;
	switch (creq->result) {
	case SPOOL_OK:
		ing->n.events_accepted += p->n - p->lead;
		answer_ok(ing, p);
		break;
	case SPOOL_FULL:
		ing->n.requests_full++;
		ing->n.events_refused += p->n - p->lead;
		httpd_reply_error_hdrs(
		    p->hreq, 503, RETRY_AFTER_FULL, "spool: full");
		break;
	case SPOOL_TOOBIG:
		reply_error(ing, p->hreq, 413,
		    "body: larger than the spool can ever hold");
		break;
	default:
		ing->n.requests_error++;
		ing->n.events_refused += p->n - p->lead;
		httpd_reply_error_hdrs(
		    p->hreq, 503, RETRY_AFTER_ERR, "spool: cannot write");
	}
	pending_put(ing, p);
}

/* Parse the body as a JSON object; answers the error itself. */
static cJSON *
parse_body(
    struct ingest *ing, struct httpd_req *req, const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;
	char msg[160];
	size_t rest;

	/* Strict RFC 8259, UTF-8 included: what cJSON lets by is refused. */
	if (json_check(body, len, "body", msg, sizeof(msg)) == -1) {
		reply_error(ing, req, 400, msg);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL) {
		/* cJSON also refuses nesting deeper than 1000 levels. */
		snprintf(msg, sizeof(msg),
		    "body: invalid JSON (or nested too deep) near byte %zu",
		    end != NULL ? (size_t)(end - body) : (size_t)0);
		reply_error(ing, req, 400, msg);
		return NULL;
	}
	/*
	 * cJSON stops where the value ends: anything but white space after
	 * it is not JSON, and PUT /events would spool it with the body.
	 */
	rest = (size_t)(body + len - end);
	(void)json_trim(end, &rest);
	if (rest != 0) {
		snprintf(msg, sizeof(msg),
		    "body: text after the JSON value at byte %zu",
		    (size_t)(end - body));
		reply_error(ing, req, 400, msg);
		cJSON_Delete(root);
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		reply_error(ing, req, 400, "body: must be a JSON object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

static void
event_opts_init(struct ingest *ing, struct event_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->default_project = ing->conf->default_project;
	o->uuid_gen = uuid_v4;
}

/*
 * A request of one record: POST /events, POST /session/start, POST
 * /events/model and PUT /events.
 */
static void
handle_one(struct ingest *ing, struct httpd_req *req, const char *body,
    size_t len, enum route route, const struct rec_kind *kind)
{
	struct event_opts opts;
	struct pending *p;
	const cJSON *ev;
	cJSON *root;
	size_t off = 0, vlen = len;
	char err[512];
	int status;

	root = parse_body(ing, req, body, len);
	if (root == NULL)
		return;
	ev = kind->member != NULL
	    ? cJSON_GetObjectItemCaseSensitive(root, kind->member)
	    : root;
	if (ev == NULL) {
		snprintf(err, sizeof(err), "%s: required", kind->member);
		reply_error(ing, req, 400, err);
		goto done;
	}
	if (kind->member != NULL && cJSON_IsObject(ev) &&
	    json_member_span(body, len, kind->member, &off, &vlen) == -1) {
		snprintf(err, sizeof(err), "%s: internal: span not found",
		    kind->member);
		reply_error(ing, req, 500, err);
		goto done;
	}
	p = pending_get(ing, 1);
	if (p == NULL) {
		reply_error(ing, req, 503, "out of memory");
		goto done;
	}
	p->route = route;
	p->hreq = req;
	event_opts_init(ing, &opts);
	status = take_event(ing, p, ev, body + off, vlen,
	    kind->member != NULL ? kind->member : "", kind, &opts, err,
	    sizeof(err));
	if (status != 0) {
		ing->n.events_invalid++;
		reply_error(ing, req, status, err);
		pending_put(ing, p);
		goto done;
	}
	pending_seal(p);
	submit(ing, p);
done:
	cJSON_Delete(root);
}

/*
 * The session every event of a single-session batch shares: the one its
 * session_properties name, else the first event's, else a new one.
 */
static void
batch_session(const cJSON *events, const cJSON *props, char *sid)
{
	const cJSON *e, *given = NULL;

	if (props != NULL)
		given = cJSON_GetObjectItemCaseSensitive(props, "session_id");
	if (cJSON_IsString(given) && event_uuid_valid(given->valuestring)) {
		snprintf(sid, EVENT_UUID_LEN + 1, "%s", given->valuestring);
		return;
	}
	cJSON_ArrayForEach(e, events)
	{
		const cJSON *s = NULL;

		if (cJSON_IsObject(e))
			s = cJSON_GetObjectItemCaseSensitive(e, "session_id");
		if (cJSON_IsString(s) && event_uuid_valid(s->valuestring)) {
			snprintf(sid, EVENT_UUID_LEN + 1, "%s", s->valuestring);
			return;
		}
	}
	uuid_v4(sid, NULL);
}

/*
 * The project of a batch's session record when its session_properties
 * name none (the SDK's SessionPropertiesBatch has no project, and the
 * upstream's /session/start wants one): the first event's, else the
 * default. Points into events or conf.
 */
static const char *
batch_project(const cJSON *events, const char *dflt)
{
	const cJSON *e, *pr;

	cJSON_ArrayForEach(e, events)
	{
		pr = cJSON_IsObject(e)
		    ? cJSON_GetObjectItemCaseSensitive(e, "project")
		    : NULL;
		if (cJSON_IsString(pr))
			return pr->valuestring;
	}
	return dflt;
}

static int
spans_reserve(struct ingest *ing, size_t n)
{
	size_t *o, *l;

	if (n <= ing->span_cap)
		return 0;
	o = realloc(ing->span_off, n * sizeof(*o));
	if (o == NULL)
		return -1;
	ing->span_off = o;
	l = realloc(ing->span_len, n * sizeof(*l));
	if (l == NULL)
		return -1;
	ing->span_len = l;
	ing->span_cap = n;
	return 0;
}

/*
 * Spool a single-session batch's session_properties as the session start
 * they describe, first, so that it reaches the upstream before its
 * events. The forwarder re-batches events across requests and so cannot
 * send is_single_session and session_properties on; the upstream creates
 * the batch's session from them, and POST /session/start with the same
 * session_id and properties is that creation.
 */
static int
take_session_properties(struct ingest *ing, struct pending *p,
    const cJSON *events, const cJSON *props, const char *body, size_t len,
    const struct event_opts *opts, char *err, size_t errlen)
{
	struct event_opts so = *opts;
	size_t off, vlen;

	if (json_member_span(body, len, "session_properties", &off, &vlen) ==
	    -1) {
		snprintf(err, errlen, "session_properties: internal: span");
		return 500;
	}
	so.default_project = batch_project(events, opts->default_project);
	p->lead = 1;
	return take_event(ing, p, props, body + off, vlen, "session_properties",
	    &kind_session, &so, err, errlen);
}

/* POST /events/batch and /events/model/batch: all or nothing. */
static void
handle_batch(struct ingest *ing, struct httpd_req *req, const char *body,
    size_t len, enum route route, const struct rec_kind *kind)
{
	const cJSON *events, *single, *props, *e;
	struct event_opts opts;
	struct pending *p;
	cJSON *root;
	size_t off, vlen, n, i = 0;
	char err[512], path[48];
	int status;

	root = parse_body(ing, req, body, len);
	if (root == NULL)
		return;
	events = cJSON_GetObjectItemCaseSensitive(root, kind->member);
	single = cJSON_GetObjectItemCaseSensitive(root, "is_single_session");
	props = cJSON_GetObjectItemCaseSensitive(root, "session_properties");
	if (events == NULL || !cJSON_IsArray(events)) {
		snprintf(err, sizeof(err), "%s: %s", kind->member,
		    events == NULL ? "required" : "must be an array");
		reply_error(ing, req, 400, err);
		goto done;
	}
	if (single != NULL && !cJSON_IsBool(single)) {
		reply_error(
		    ing, req, 400, "is_single_session: must be a boolean");
		goto done;
	}
	if (props != NULL && !cJSON_IsObject(props)) {
		reply_error(
		    ing, req, 400, "session_properties: must be an object");
		goto done;
	}
	n = (size_t)cJSON_GetArraySize(events);
	if (json_member_span(body, len, kind->member, &off, &vlen) == -1 ||
	    spans_reserve(ing, n ? n : 1) == -1 ||
	    json_array_spans(
	        body + off, vlen, ing->span_off, ing->span_len, n) != (long)n) {
		snprintf(err, sizeof(err), "%s: internal: spans", kind->member);
		reply_error(ing, req, 500, err);
		goto done;
	}
	/* One more record for the session of session_properties. */
	p = pending_get(ing, n + 1);
	if (p == NULL) {
		reply_error(ing, req, 503, "out of memory");
		goto done;
	}
	p->route = route;
	p->hreq = req;
	event_opts_init(ing, &opts);
	if (cJSON_IsTrue(single)) {
		p->single_session = 1;
		batch_session(events, props, p->session_id);
		opts.session_id = p->session_id;
	}
	/*
	 * Without is_single_session the upstream uses no session_properties
	 * (they describe the batch's one session), so they are checked to
	 * be an object above and not spooled.
	 */
	if (p->single_session && props != NULL) {
		status = take_session_properties(
		    ing, p, events, props, body, len, &opts, err, sizeof(err));
		if (status != 0) {
			reply_error(ing, req, status, err);
			pending_put(ing, p);
			goto done;
		}
	}
	cJSON_ArrayForEach(e, events)
	{
		snprintf(path, sizeof(path), "%s[%zu]", kind->member, i);
		status = take_event(ing, p, e, body + off + ing->span_off[i],
		    ing->span_len[i], path, kind, &opts, err, sizeof(err));
		if (status != 0) {
			/* All or nothing: one bad event rejects the batch. */
			ing->n.events_invalid++;
			reply_error(ing, req, status, err);
			pending_put(ing, p);
			goto done;
		}
		i++;
	}
	if (p->n == 0) {
		/* Nothing to spool: answer at once, as the remote would. */
		answer_ok(ing, p);
		pending_put(ing, p);
		goto done;
	}
	pending_seal(p);
	submit(ing, p);
done:
	cJSON_Delete(root);
}

static void
reply_buf(struct httpd_req *req, int status, const char *ctype, struct buf *b)
{
	if (b->data == NULL) {
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

static void
fwd_snapshot(struct ingest *ing, struct fwd_stats *fs)
{
	memset(fs, 0, sizeof(*fs));
	if (ing->fwd != NULL)
		fwd_get_stats(ing->fwd, fs);
}

int
ingest_stats_json(struct ingest *ing, struct buf *b)
{
	struct spool_stats st;
	struct commit_stats cs;
	struct fwd_stats fs;
	uint64_t now = clock_wall_ms();

	if (spool_stat(ing->sp, &st) != SPOOL_OK)
		return -1;
	commit_stats(ing->commit, &cs);
	fwd_snapshot(ing, &fs);
	buf_printf(b,
	    "{\"spool_events\":%llu,\"spool_bytes\":%llu,"
	    "\"spool_used_bytes\":%llu,\"spool_limit_bytes\":%llu,"
	    "\"spool_max_bytes\":%llu,\"spool_oldest_age_ms\":%llu,"
	    "\"dead_letters\":%llu,\"evicted\":%llu,",
	    (unsigned long long)st.events, (unsigned long long)st.bytes,
	    (unsigned long long)st.used_bytes,
	    (unsigned long long)st.limit_bytes,
	    (unsigned long long)st.map_bytes,
	    (unsigned long long)(st.oldest_ms && now > st.oldest_ms
	            ? now - st.oldest_ms
	            : 0),
	    (unsigned long long)st.dead, (unsigned long long)st.evicted);
	buf_printf(b,
	    "\"events_received\":%llu,\"events_rejected\":%llu,"
	    "\"requests\":%llu,\"requests_full\":%llu,"
	    "\"commits\":%llu,\"events_committed\":%llu,"
	    "\"commit_errors\":%llu,",
	    (unsigned long long)ing->n.events_accepted,
	    (unsigned long long)ing->n.events_invalid,
	    (unsigned long long)ing->n.requests,
	    (unsigned long long)ing->n.requests_full,
	    (unsigned long long)cs.commits,
	    (unsigned long long)cs.events_committed,
	    (unsigned long long)cs.commit_errors);
	buf_printf(b,
	    "\"events_forwarded\":%llu,\"upstream_last_status\":%d,"
	    "\"forwarder_state\":\"%s\",\"forwarder_reason\":",
	    (unsigned long long)fs.events_forwarded, fs.last_status,
	    fwd_state_name(fs.state));
	buf_add_json_string(b, fs.reason);
	buf_printf(b, ",\"backoff_ms\":%llu,\"retries\":%llu}",
	    (unsigned long long)fs.backoff_ms, (unsigned long long)fs.retries);
	return b->data == NULL ? -1 : 0;
}

static void
metric(struct buf *b, const char *name, const char *type, const char *help,
    const char *labels, uint64_t v)
{
	if (help != NULL)
		buf_printf(
		    b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	buf_printf(b, "%s%s %llu\n", name, labels ? labels : "",
	    (unsigned long long)v);
}

int
ingest_metrics_text(struct ingest *ing, struct buf *b)
{
	struct spool_stats st;
	struct commit_stats cs;
	struct fwd_stats fs;
	struct httpd_stats hs = {0};
	uint64_t now = clock_wall_ms();

	if (spool_stat(ing->sp, &st) != SPOOL_OK)
		return -1;
	commit_stats(ing->commit, &cs);
	fwd_snapshot(ing, &fs);
	if (ing->httpd != NULL)
		httpd_stats(ing->httpd, &hs);
	metric(b, "tracespool_events_received_total", "counter",
	    "Events received, by outcome.", "{outcome=\"accepted\"}",
	    ing->n.events_accepted);
	metric(b, "tracespool_events_received_total", NULL, NULL,
	    "{outcome=\"invalid\"}", ing->n.events_invalid);
	metric(b, "tracespool_events_received_total", NULL, NULL,
	    "{outcome=\"refused\"}", ing->n.events_refused);
	metric(b, "tracespool_requests_total", "counter",
	    "Ingest requests routed, any path.", NULL, ing->n.requests);
	metric(b, "tracespool_requests_rejected_total", "counter",
	    "Ingest requests answered with an error, by reason.",
	    "{reason=\"invalid\"}", ing->n.requests_invalid);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"too_large\"}", ing->n.requests_too_large);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"full\"}", ing->n.requests_full);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"error\"}", ing->n.requests_error);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"not_found\"}", ing->n.requests_not_found);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"http\"}", hs.errors_4xx);
	metric(b, "tracespool_spool_events", "gauge", "Events in the spool.",
	    NULL, st.events);
	metric(b, "tracespool_spool_bytes", "gauge",
	    "JSON bytes of the spooled events.", NULL, st.bytes);
	metric(b, "tracespool_spool_used_bytes", "gauge",
	    "Spool pages in use, in bytes.", NULL, st.used_bytes);
	metric(b, "tracespool_spool_capacity_bytes", "gauge",
	    "Where ingest stops accepting (below spool_max_bytes).", NULL,
	    st.limit_bytes);
	metric(b, "tracespool_spool_max_bytes", "gauge",
	    "The spool's size cap, spool_max_bytes.", NULL, st.map_bytes);
	metric(b, "tracespool_spool_oldest_age_seconds", "gauge",
	    "Age of the oldest spooled event.", NULL,
	    st.oldest_ms && now > st.oldest_ms ? (now - st.oldest_ms) / 1000
	                                       : 0);
	metric(b, "tracespool_dead_letters", "gauge",
	    "Events in the dead-letter store.", NULL, st.dead);
	metric(b, "tracespool_dead_lettered_total", "counter",
	    "Events this process moved to the dead-letter store.", NULL,
	    fs.dead_letters);
	metric(b, "tracespool_events_evicted_total", "counter",
	    "Events dropped by when_full = drop_oldest.", NULL, st.evicted);
	metric(b, "tracespool_commits_total", "counter",
	    "Spool transactions committed.", NULL, cs.commits);
	metric(b, "tracespool_events_committed_total", "counter",
	    "Events committed (events per commit: divide by commits).", NULL,
	    cs.events_committed);
	metric(b, "tracespool_commit_errors_total", "counter",
	    "Spool transactions that failed.", NULL, cs.commit_errors);
	buf_printf(b,
	    "# HELP tracespool_events_per_commit Events per spool transaction, "
	    "averaged since start.\n"
	    "# TYPE tracespool_events_per_commit gauge\n"
	    "tracespool_events_per_commit %.3f\n",
	    cs.commits ? (double)cs.events_committed / (double)cs.commits
	               : 0.0);
	metric(b, "tracespool_events_forwarded_total", "counter",
	    "Events the upstream accepted.", NULL, fs.events_forwarded);
	metric(b, "tracespool_upstream_requests_total", "counter",
	    "Upstream requests, by status class.", "{class=\"2xx\"}",
	    fs.requests_2xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"4xx\"}", fs.requests_4xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"5xx\"}", fs.requests_5xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"network\"}", fs.requests_neterr);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"other\"}", fs.requests_other);
	metric(b, "tracespool_upstream_retries_total", "counter",
	    "Upstream requests retried.", NULL, fs.retries);
	buf_printf(b,
	    "# HELP tracespool_forwarder_backoff_seconds Current wait before "
	    "the next upstream attempt.\n"
	    "# TYPE tracespool_forwarder_backoff_seconds gauge\n"
	    "tracespool_forwarder_backoff_seconds %.3f\n",
	    (double)fs.backoff_ms / 1000.0);
	metric(b, "tracespool_forwarder_paused", "gauge",
	    "1 while forwarding is paused (no key, or the key is refused).",
	    NULL, fs.state == FWD_PAUSED);
	buf_printf(b,
	    "# HELP tracespool_forwarder_state 1 for the "
	    "forwarder's current state.\n"
	    "# TYPE tracespool_forwarder_state gauge\n");
	for (int i = FWD_IDLE; i <= FWD_PAUSED; i++)
		buf_printf(b, "tracespool_forwarder_state{state=\"%s\"} %d\n",
		    fwd_state_name(i), fs.state == i);
	metric(b, "tracespool_upstream_last_status", "gauge",
	    "HTTP status of the last upstream answer (0 before any).", NULL,
	    (uint64_t)fs.last_status);
	metric(b, "tracespool_connections", "gauge", "Open ingest connections.",
	    NULL, hs.conns_open);
	metric(b, "tracespool_connections_total", "counter",
	    "Ingest connections accepted.", NULL, hs.conns_total);
	metric(b, "tracespool_connection_timeouts_total", "counter",
	    "Ingest connections closed by a header, body or idle timeout.",
	    NULL, hs.timeouts);
	metric(b, "tracespool_connections_evicted_total", "counter",
	    "Idle connections closed at max_connections for a new one.", NULL,
	    hs.evicted);
	metric(b, "tracespool_connections_refused_total", "counter",
	    "Unix socket peers not in allowed_uids or allowed_gids (403).",
	    NULL, hs.refused);
	metric(b, "tracespool_build_info", "gauge",
	    "The running version, as a label.", "{version=\"" TS_VERSION "\"}",
	    1);
	return b->data == NULL ? -1 : 0;
}

int
ingest_status_line(struct ingest *ing, char *out, size_t len)
{
	struct spool_stats st;
	struct fwd_stats fs;

	if (spool_stat(ing->sp, &st) != SPOOL_OK)
		return -1;
	fwd_snapshot(ing, &fs);
	snprintf(out, len, "spool %llu events, %llu dead; forwarder %s%s%s",
	    (unsigned long long)st.events, (unsigned long long)st.dead,
	    fwd_state_name(fs.state), fs.reason[0] ? ": " : "", fs.reason);
	return 0;
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

/* The write calls of the event API, each on the remote's path. */
static const struct write_route {
	const char *path;
	enum httpd_method method;
	enum route route;
	const struct rec_kind *kind;
} write_routes[] = {
    {"/events", HTTPD_POST, ROUTE_EVENT, &kind_event},
    {"/events", HTTPD_PUT, ROUTE_UPDATE, &kind_update},
    {"/events/batch", HTTPD_POST, ROUTE_BATCH, &kind_events},
    {"/session/start", HTTPD_POST, ROUTE_SESSION, &kind_session},
    {"/events/model", HTTPD_POST, ROUTE_MODEL, &kind_model},
    {"/events/model/batch", HTTPD_POST, ROUTE_MODEL_BATCH, &kind_models},
};

/*
 * Serve a write call. Returns 1 when path is a write path (answered, 405
 * for another method), 0 when it is not. GET /events is how the remote
 * reads events, so it is left to the read calls' 404.
 */
static int
route_write(struct ingest *ing, struct httpd_req *req, const char *path,
    enum httpd_method m)
{
	const struct write_route *r;
	const char *body;
	size_t i, len;
	int known = 0, put = 0;

	for (i = 0; i < sizeof(write_routes) / sizeof(write_routes[0]); i++) {
		r = &write_routes[i];
		if (strcmp(path, r->path) != 0)
			continue;
		known = 1;
		put |= r->method == HTTPD_PUT;
		if (m != r->method)
			continue;
		body = httpd_req_body(req, &len);
		/* The request's cJSON trees live and die in here. */
		jsonmem_begin();
		if (r->route == ROUTE_BATCH || r->route == ROUTE_MODEL_BATCH)
			handle_batch(ing, req, body, len, r->route, r->kind);
		else
			handle_one(ing, req, body, len, r->route, r->kind);
		jsonmem_end();
		return 1;
	}
	if (!known ||
	    ((m == HTTPD_GET || m == HTTPD_HEAD) &&
	        strcmp(path, "/events") == 0))
		return 0;
	if (put)
		httpd_reply_error_hdrs(req, 405, "Allow: POST, PUT\r\n",
		    "method: use POST or PUT");
	else
		httpd_reply_error_hdrs(
		    req, 405, "Allow: POST\r\n", "method: use POST");
	return 1;
}

void
ingest_handle(struct httpd_req *req, void *arg)
{
	struct ingest *ing = arg;
	enum httpd_method m = httpd_req_method(req);
	const char *path = httpd_req_path(req);
	size_t len;
	char msg[160];
	static const char *const methods[] = {
	    "OTHER", "GET", "HEAD", "POST", "PUT", "DELETE"};

	ing->n.requests++;
	if (log_getlevel() == LOG_LVL_DEBUG) {
		(void)httpd_req_body(req, &len);
		log_debug("ingest: %s %.200s, %zu body bytes",
		    (unsigned)m < sizeof(methods) / sizeof(methods[0])
		        ? methods[m]
		        : "OTHER",
		    path, len);
	}
	if (route_write(ing, req, path, m))
		return;
	if (strcmp(path, "/healthz") == 0 || strcmp(path, "/stats") == 0 ||
	    strcmp(path, "/metrics") == 0) {
		struct buf *b = &ing->reply;
		int rc;

		if (m != HTTPD_GET && m != HTTPD_HEAD) {
			httpd_reply_error_hdrs(req, 405, "Allow: GET, HEAD\r\n",
			    "method: use GET");
			return;
		}
		if (path[1] == 'h') {
			handle_healthz(ing, req);
			return;
		}
		buf_reset(b);
		rc = path[1] == 's' ? ingest_stats_json(ing, b)
		                    : ingest_metrics_text(ing, b);
		if (rc == -1) {
			httpd_reply_error(req, 500, "stats: spool unreadable");
			return;
		}
		reply_buf(req, 200,
		    path[1] == 's' ? NULL : "text/plain; version=0.0.4", b);
		return;
	}
	if (is_read_path(path))
		snprintf(msg, sizeof(msg),
		    "%.64s: not found: tracespool only accepts the event API's "
		    "write calls; read from the remote API",
		    path);
	else
		snprintf(msg, sizeof(msg), "%.64s: not found", path);
	reply_error(ing, req, 404, msg);
}
