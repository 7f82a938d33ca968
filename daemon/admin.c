/* admin.c: the dead-letter routes (/dlq), served on the Unix socket to root,
 * the daemon's user and admin_uids only. */
#include "daemon/admin.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "conf/conf.h"
#include "daemon/commit.h"
#include "daemon/httpd.h"
#include "spool/deadjson.h"
#include "spool/spool.h"

/* GET /dlq: dead letters per page by default, and at most. */
#define LIST_DEFAULT 100
#define LIST_MAX 1000
/*
 * A page stops growing once its text passes this (it holds at least one
 * dead letter, whatever its size): the event loop builds it at once, and
 * the client holds it whole.
 */
#define PAGE_BYTES (4u * 1024 * 1024)
/* A refused peer is logged at most this often. */
#define REFUSED_LOG_MS 1000

struct admin {
	const struct conf *conf;
	struct spool *sp;
	struct commit *commit;
	struct buf reply;
	uint64_t refused_logged_ms;
};

/* A replay or purge on its way through the commit thread. */
struct admin_op {
	struct commit_req creq;
	struct httpd_req *hreq;
	int replay;
	uint64_t id; /* 0: all */
	uid_t uid;
	size_t n;      /* dead letters moved; set by op_call */
	char err[256]; /* spool_strerror of op_call's thread */
};

struct admin *
admin_new(const struct conf *conf, struct spool *sp, struct commit *commit)
{
	struct admin *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	a->conf = conf;
	a->sp = sp;
	a->commit = commit;
	buf_init(&a->reply);
	return a;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	buf_free(&a->reply);
	free(a);
}

void
admin_set_conf(struct admin *a, const struct conf *conf)
{
	a->conf = conf;
}

/* Decimal digits only, 1 up to UINT64_MAX: ids start at 1. */
static int
parse_id(const char *s, size_t len, uint64_t *id)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v == 0)
		return -1;
	*id = v;
	return 0;
}

/*
 * Whether the peer may manage dead letters; answers 403 when not. A TCP
 * peer (no credentials) never may: a web page in a local browser can
 * reach a loopback listener.
 */
static int
peer_allowed(struct admin *a, struct httpd_req *req)
{
	uid_t uid = httpd_req_uid(req);
	const struct conf_ids *l = &a->conf->admin_uids;
	uint64_t now;
	char msg[160];

	if (uid == (uid_t)-1) {
		httpd_reply_error(req, 403,
		    "dlq: dead letters are served only on the daemon's Unix "
		    "socket");
		return 0;
	}
	if (uid == 0 || uid == geteuid())
		return 1;
	for (size_t i = 0; i < l->n; i++) {
		if (l->ids[i] == (id_t)uid)
			return 1;
	}
	now = clock_mono_ms();
	if (now - a->refused_logged_ms >= REFUSED_LOG_MS) {
		a->refused_logged_ms = now;
		log_warnx(
		    "dlq: uid %u is not in admin_uids; refused", (unsigned)uid);
	}
	snprintf(msg, sizeof(msg),
	    "dlq: uid %u may not manage dead letters (root, the daemon's user "
	    "and admin_uids may)",
	    (unsigned)uid);
	httpd_reply_error(req, 403, msg);
	return 0;
}

static void
reply_buf(struct httpd_req *req, struct buf *b)
{
	if (buf_failed(b) || b->data == NULL) {
		httpd_reply_error(req, 500, "dlq: out of memory");
		return;
	}
	httpd_reply(req, 200, NULL, NULL, b->data, b->len);
}

static void
reply_spool_error(struct httpd_req *req, const char *what)
{
	char msg[320];

	snprintf(msg, sizeof(msg), "dlq: %s: %s", what, spool_strerror());
	httpd_reply_error_hdrs(req, 503, "Retry-After: 10\r\n", msg);
}

/* "from=ID&limit=N", either or both, or nothing. 0, or -1 with 400 sent. */
static int
parse_query(struct httpd_req *req, uint64_t *from, uint64_t *limit)
{
	const char *q = httpd_req_query(req);

	*from = 1;
	*limit = LIST_DEFAULT;
	while (*q != '\0') {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		uint64_t *dst = NULL;

		if (eq != NULL && eq - q == 4 && memcmp(q, "from", 4) == 0)
			dst = from;
		else if (eq != NULL && eq - q == 5 &&
		    memcmp(q, "limit", 5) == 0)
			dst = limit;
		if (dst == NULL ||
		    parse_id(eq + 1, len - (size_t)(eq + 1 - q), dst) == -1) {
			httpd_reply_error(req, 400,
			    "dlq: the query takes from=ID and limit=N, "
			    "positive whole numbers");
			return -1;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	if (*limit > LIST_MAX)
		*limit = LIST_MAX;
	return 0;
}

/*
 * GET /dlq: one dead letter per read (each may be megabytes), until the
 * page is full, too large, or the store ends.
 */
static void
handle_list(struct admin *a, struct httpd_req *req)
{
	struct buf *b = &a->reply;
	struct spool_dead *d;
	uint64_t from, limit, count = 0;
	size_t n = 0;
	int rc = 0;

	if (parse_query(req, &from, &limit) == -1)
		return;
	buf_reset(b);
	rc |= buf_addstr(b, "{\"dead_letters\":[");
	while (count < limit && b->len < PAGE_BYTES) {
		if (spool_dead_list(a->sp, from, 1, &d, &n) != SPOOL_OK) {
			reply_spool_error(req, "list");
			return;
		}
		if (n == 0) {
			free(d);
			break;
		}
		if (count > 0)
			rc |= buf_addch(b, ',');
		rc |= spool_dead_json(b, d);
		from = d->id + 1;
		count++;
		spool_dead_clear(d);
		free(d);
	}
	if (n == 0)
		rc |= buf_addstr(b, "],\"next\":null}");
	else
		rc |=
		    buf_printf(b, "],\"next\":%llu}", (unsigned long long)from);
	if (rc != 0) {
		httpd_reply_error(req, 500, "dlq: out of memory");
		return;
	}
	reply_buf(req, b);
}

/* GET /dlq/ID. */
static void
handle_show(struct admin *a, struct httpd_req *req, uint64_t id)
{
	struct spool_dead d;
	char msg[96];
	int rc;

	rc = spool_dead_get(a->sp, id, &d);
	if (rc == SPOOL_NOTFOUND) {
		snprintf(msg, sizeof(msg), "dlq: no dead letter %llu",
		    (unsigned long long)id);
		httpd_reply_error(req, 404, msg);
		return;
	}
	if (rc != SPOOL_OK) {
		reply_spool_error(req, "show");
		return;
	}
	buf_reset(&a->reply);
	rc = spool_dead_json(&a->reply, &d);
	spool_dead_clear(&d);
	if (rc == -1) {
		httpd_reply_error(req, 500, "dlq: out of memory");
		return;
	}
	reply_buf(req, &a->reply);
}

/* On the commit thread: the spool's own transaction, then done. */
static int
op_call(struct spool *sp, void *arg, uint64_t *next_seq)
{
	struct admin_op *op = arg;
	struct spool_stats st;
	int rc;

	rc = op->replay ? spool_dead_replay(sp, op->id, clock_wall_ms(), &op->n)
	                : spool_dead_purge(sp, op->id, &op->n);
	if (rc != SPOOL_OK) {
		snprintf(op->err, sizeof(op->err), "%s", spool_strerror());
		return rc;
	}
	if (op->replay && op->n > 0 && spool_stat(sp, &st) == SPOOL_OK)
		*next_seq = st.next_seq;
	return rc;
}

/* Back on the event loop: answer, and say who did what. */
static void
op_done(struct commit_req *creq, void *arg)
{
	struct admin_op *op = arg;
	const char *verb = op->replay ? "replay" : "purge";
	char msg[320], body[96];

	switch (creq->result) {
	case SPOOL_OK:
		log_info("dlq: uid %u %s %zu dead letter%s%s",
		    (unsigned)op->uid, op->replay ? "replayed" : "purged",
		    op->n, op->n == 1 ? "" : "s",
		    op->replay && op->n > 0 ? " to the spool" : "");
		snprintf(body, sizeof(body), "{\"success\":true,\"%s\":%zu}",
		    op->replay ? "replayed" : "purged", op->n);
		httpd_reply(op->hreq, 200, NULL, NULL, body, strlen(body));
		break;
	case SPOOL_NOTFOUND:
		snprintf(msg, sizeof(msg), "dlq: no dead letter %llu",
		    (unsigned long long)op->id);
		httpd_reply_error(op->hreq, 404, msg);
		break;
	case SPOOL_FULL:
	case SPOOL_TOOBIG:
		snprintf(msg, sizeof(msg), "dlq %s: %s", verb, op->err);
		httpd_reply_error_hdrs(
		    op->hreq, 503, "Retry-After: 5\r\n", msg);
		break;
	default:
		log_warnx("dlq: %s: %s", verb, op->err);
		snprintf(msg, sizeof(msg), "dlq %s: %s", verb, op->err);
		httpd_reply_error_hdrs(
		    op->hreq, 503, "Retry-After: 10\r\n", msg);
	}
	free(op);
}

/*
 * The body of POST /dlq/replay and /dlq/purge: {"id": ID} or {"all":
 * true}, nothing else. *id is 0 for all. 0, or -1 with 400 sent.
 */
static int
parse_target(struct httpd_req *req, const char *verb, uint64_t *id)
{
	size_t len;
	const char *body = httpd_req_body(req, &len);
	/* The NUL after the body is what "nothing after the value" checks. */
	cJSON *o = memchr(body, '\0', len) == NULL
	    ? cJSON_ParseWithLengthOpts(body, len + 1, NULL, 1)
	    : NULL;
	const cJSON *vid = cJSON_GetObjectItemCaseSensitive(o, "id");
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(o, "all");
	int members = cJSON_GetArraySize(o);
	int ok = 0;
	char msg[160];

	*id = 0;
	if (cJSON_IsObject(o) && members == 1 && cJSON_IsTrue(all)) {
		ok = 1;
	} else if (cJSON_IsObject(o) && members == 1 && cJSON_IsNumber(vid) &&
	    vid->valuedouble >= 1 && vid->valuedouble <= 9007199254740992.0 &&
	    vid->valuedouble == (double)(uint64_t)vid->valuedouble) {
		*id = (uint64_t)vid->valuedouble;
		ok = 1;
	}
	cJSON_Delete(o);
	if (!ok) {
		snprintf(msg, sizeof(msg),
		    "dlq %s: the body must be {\"id\": ID} or {\"all\": true}",
		    verb);
		httpd_reply_error(req, 400, msg);
		return -1;
	}
	return 0;
}

/* POST /dlq/replay, /dlq/purge: to the commit thread. */
static void
handle_move(struct admin *a, struct httpd_req *req, int replay)
{
	struct admin_op *op;
	uint64_t id;

	if (parse_target(req, replay ? "replay" : "purge", &id) == -1)
		return;
	if ((op = calloc(1, sizeof(*op))) == NULL) {
		httpd_reply_error_hdrs(
		    req, 503, "Retry-After: 10\r\n", "dlq: out of memory");
		return;
	}
	op->hreq = req;
	op->replay = replay;
	op->id = id;
	op->uid = httpd_req_uid(req);
	op->creq.call = op_call;
	op->creq.done = op_done;
	op->creq.arg = op;
	commit_submit(a->commit, &op->creq);
}

static int
method_is(struct httpd_req *req, int get)
{
	enum httpd_method m = httpd_req_method(req);

	if (get && (m == HTTPD_GET || m == HTTPD_HEAD))
		return 1;
	if (!get && m == HTTPD_POST)
		return 1;
	if (get)
		httpd_reply_error_hdrs(
		    req, 405, "Allow: GET, HEAD\r\n", "method: use GET");
	else
		httpd_reply_error_hdrs(
		    req, 405, "Allow: POST\r\n", "method: use POST");
	return 0;
}

int
admin_handle(struct admin *a, struct httpd_req *req)
{
	const char *path = httpd_req_path(req);
	const char *rest;
	uint64_t id;
	char msg[192];

	if (strncmp(path, "/dlq", 4) != 0 ||
	    (path[4] != '\0' && path[4] != '/'))
		return 0;
	if (!peer_allowed(a, req))
		return 1;
	rest = path[4] == '/' ? path + 5 : NULL;
	if (rest == NULL) {
		if (method_is(req, 1))
			handle_list(a, req);
	} else if (strcmp(rest, "replay") == 0 || strcmp(rest, "purge") == 0) {
		if (method_is(req, 0))
			handle_move(a, req, rest[0] == 'r');
	} else if (parse_id(rest, strlen(rest), &id) == 0) {
		if (method_is(req, 1))
			handle_show(a, req, id);
	} else {
		snprintf(msg, sizeof(msg),
		    "%.64s: not found: the dead-letter routes are /dlq, "
		    "/dlq/ID, /dlq/replay and /dlq/purge",
		    path);
		httpd_reply_error(req, 404, msg);
	}
	return 1;
}
