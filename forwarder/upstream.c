/* upstream.c: requests to the event API over libcurl's multi interface, with
 * kept-alive connections. */
#include "upstream.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/clock.h"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* A Retry-After value longer than this is not a number or date we accept. */
#define RETRY_AFTER_MAX 64

/*
 * One request's easy handle and what it needs until it finishes. Slots are
 * made when first needed and kept: an easy handle holds its settings, and
 * the multi handle's cache holds the connections.
 */
struct slot {
	struct upstream *up;
	CURL *curl;
	int busy;
	int ready;     /* the fixed options are set on the handle */
	char *ca_file; /* what the handle was configured with, NULL: system */
	char errbuf[CURL_ERROR_SIZE];
	char retry_after[RETRY_AFTER_MAX + 1];
	struct curl_slist *hdrs;
	struct buf auth; /* the header line with the key: wiped after use */
	void *tag;
	uint64_t start_ms;
	struct upstream_res res;
	/* A body in pieces (upstream_req): where read_cb goes on from. */
	const struct upstream_piece *pieces;
	size_t npieces;
	size_t piece; /* the piece read_cb is in */
	size_t off;   /* bytes of it already given */
};

struct upstream {
	CURLM *multi;
	const atomic_int *stop;
	struct slot *slots[UPSTREAM_MAX_INFLIGHT];
	size_t inflight;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct slot *sl = arg;
	struct upstream_res *res = &sl->res;
	size_t n = size * nmemb, room = UPSTREAM_BODY_MAX - res->body_len;

	/* Keep the start; read and drop the rest so the connection stays. */
	if (room > n)
		room = n;
	memcpy(res->body + res->body_len, ptr, room);
	res->body_len += room;
	res->body[res->body_len] = '\0';
	return n;
}

static size_t
header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "retry-after:";
	struct slot *sl = arg;
	size_t n = size * nmemb, len;
	const char *v, *end;

	/* A new status line (a 1xx before the final answer) starts afresh. */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		sl->retry_after[0] = '\0';
		return n;
	}
	if (n < sizeof(name) - 1 || strncasecmp(ptr, name, sizeof(name) - 1))
		return n;
	v = ptr + sizeof(name) - 1;
	end = ptr + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && isspace((unsigned char)end[-1]))
		end--;
	len = (size_t)(end - v);
	if (len > RETRY_AFTER_MAX)
		return n;
	memcpy(sl->retry_after, v, len);
	sl->retry_after[len] = '\0';
	return n;
}

/* The next bytes of a body in pieces, as many as fit in dst. */
static size_t
read_cb(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct slot *sl = arg;
	size_t room = size * nmemb, n = 0, k;

	while (n < room && sl->piece < sl->npieces) {
		const struct upstream_piece *v = &sl->pieces[sl->piece];

		k = v->len - sl->off;
		if (k > room - n)
			k = room - n;
		memcpy(dst + n, (const char *)v->data + sl->off, k);
		n += k;
		sl->off += k;
		if (sl->off == v->len) {
			sl->piece++;
			sl->off = 0;
		}
	}
	return n;
}

/*
 * Back to byte offset of a body in pieces: libcurl rewinds when it sends
 * the request again (a kept-alive connection found closed).
 */
static int
seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct slot *sl = arg;
	size_t left;

	if (origin != SEEK_SET || offset < 0)
		return CURL_SEEKFUNC_CANTSEEK;
	left = (size_t)offset;
	for (sl->piece = 0; sl->piece < sl->npieces; sl->piece++) {
		if (left < sl->pieces[sl->piece].len)
			break;
		left -= sl->pieces[sl->piece].len;
	}
	if (sl->piece == sl->npieces && left > 0)
		return CURL_SEEKFUNC_FAIL;
	sl->off = left;
	return CURL_SEEKFUNC_OK;
}

static int
xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct slot *sl = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (sl->up->stop != NULL && atomic_load(sl->up->stop))
		return 1;
	return 0;
}

/*
 * Every option that does not change per request. Called on a fresh or reset
 * handle; curl_easy_reset keeps the connection cache, so a new CA file does
 * not cost more than the connections it has to make anyway.
 */
static int
configure(struct slot *sl, const char *ca_file)
{
	CURL *c = sl->curl;
	CURLcode rc = CURLE_OK;

	free(sl->ca_file);
	sl->ca_file = NULL;
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    (sl->ca_file = strdup(ca_file)) == NULL)
		return -1;

#define SETOPT(opt, val)                                                       \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl_easy_setopt(c, opt, val);                    \
	} while (0)
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, sl->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, sl);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, sl);
	SETOPT(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SETOPT(CURLOPT_XFERINFODATA, sl);
	SETOPT(CURLOPT_PRIVATE, sl);
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	/* The bearer token must never be carried to another host. */
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(
	    CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (sl->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, sl->ca_file);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_USERAGENT, "tracespool/" TS_VERSION);
#undef SETOPT
	return rc == CURLE_OK ? 0 : -1;
}

int
upstream_new(struct upstream **upp, const atomic_int *stop)
{
	struct upstream *up;

	*upp = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return -1;
	if ((up = calloc(1, sizeof(*up))) == NULL)
		return -1;
	up->stop = stop;
	if ((up->multi = curl_multi_init()) == NULL) {
		free(up);
		return -1;
	}
	/* Keep a connection for every request that may be in flight. */
	curl_multi_setopt(
	    up->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_MAX_INFLIGHT);
	*upp = up;
	return 0;
}

/* What a finished or abandoned request held beyond the handle's settings. */
static void
slot_release(struct slot *sl)
{
	/* The handle must not keep pointers to what is freed here. */
	curl_easy_setopt(sl->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(sl->curl, CURLOPT_POSTFIELDS, NULL);
	sl->pieces = NULL;
	sl->npieces = 0;
	curl_slist_free_all(sl->hdrs);
	sl->hdrs = NULL;
	if (sl->auth.data != NULL)
		explicit_bzero(sl->auth.data, sl->auth.cap);
	buf_reset(&sl->auth);
	sl->busy = 0;
	sl->tag = NULL;
}

void
upstream_free(struct upstream *up)
{
	struct slot *sl;
	size_t i;

	if (up == NULL)
		return;
	for (i = 0; i < UPSTREAM_MAX_INFLIGHT; i++) {
		if ((sl = up->slots[i]) == NULL)
			continue;
		if (sl->busy) {
			curl_multi_remove_handle(up->multi, sl->curl);
			slot_release(sl);
		}
		curl_easy_cleanup(sl->curl);
		free(sl->ca_file);
		buf_free(&sl->auth);
		free(sl);
	}
	curl_multi_cleanup(up->multi);
	free(up);
}

size_t
upstream_inflight(const struct upstream *up)
{
	return up->inflight;
}

void
upstream_wakeup(struct upstream *up)
{
	curl_multi_wakeup(up->multi);
}

int
upstream_classify(int status)
{
	if (status >= 200 && status <= 299)
		return UPSTREAM_DONE;
	switch (status) {
	case 401:
	case 403:
		return UPSTREAM_AUTH;
	case 400:
	case 404:
	case 409:
	case 413:
	case 422:
		return UPSTREAM_REJECT;
	default:
		/*
		 * 408, 425, 429, 5xx, and whatever else is unexpected (a 3xx
		 * we will not follow, a 1xx as final answer): the records
		 * may be fine, so keep them and try again later.
		 */
		return UPSTREAM_RETRY;
	}
}

int
upstream_parse_retry_after(const char *value, uint64_t now_ms, uint64_t *ms)
{
	const char *p;
	uint64_t secs = 0;
	time_t t;

	if (value[0] == '\0')
		return -1;
	for (p = value; *p >= '0' && *p <= '9'; p++) {
		/* Beyond about 136 years it makes no difference. */
		if (secs < UINT32_MAX)
			secs = secs * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '\0') {
		*ms = secs * 1000;
		return 0;
	}
	if ((t = curl_getdate(value, NULL)) == -1 || t < 0)
		return -1;
	if ((uint64_t)t * 1000 <= now_ms)
		*ms = 0;
	else
		*ms = (uint64_t)t * 1000 - now_ms;
	return 0;
}

/* A free slot, made when there is none yet; NULL when all are busy. */
static struct slot *
slot_get(struct upstream *up)
{
	struct slot *sl;
	size_t i;

	for (i = 0; i < UPSTREAM_MAX_INFLIGHT; i++) {
		if (up->slots[i] == NULL)
			break;
		if (!up->slots[i]->busy)
			return up->slots[i];
	}
	if (i == UPSTREAM_MAX_INFLIGHT || (sl = calloc(1, sizeof(*sl))) == NULL)
		return NULL;
	sl->up = up;
	buf_init(&sl->auth);
	if ((sl->curl = curl_easy_init()) == NULL) {
		free(sl);
		return NULL;
	}
	up->slots[i] = sl;
	return sl;
}

int
upstream_start(struct upstream *up, const struct upstream_req *req, void *tag)
{
	struct curl_slist *h;
	struct buf ctype;
	struct slot *sl;
	CURL *c;
	CURLcode rc = CURLE_OK;
	const char *ca = req->ca_file;

	if ((sl = slot_get(up)) == NULL)
		return -1;
	c = sl->curl;
	buf_init(&ctype);
	if (ca != NULL && ca[0] == '\0')
		ca = NULL;
	if (!sl->ready || (ca == NULL) != (sl->ca_file == NULL) ||
	    (ca != NULL && strcmp(ca, sl->ca_file) != 0)) {
		sl->ready = 0;
		curl_easy_reset(c);
		if (configure(sl, ca) == -1)
			goto fail;
		sl->ready = 1;
	}

	if (buf_addstr(&sl->auth, "Authorization: Bearer ") == -1 ||
	    buf_addstr(&sl->auth, req->api_key) == -1)
		goto fail;
	if ((h = curl_slist_append(sl->hdrs, sl->auth.data)) == NULL)
		goto fail;
	sl->hdrs = h;
	if (buf_addstr(&ctype, "Content-Type: ") == -1 ||
	    buf_addstr(&ctype,
	        req->content_type != NULL ? req->content_type
	                                  : "application/json") == -1)
		goto fail;
	if ((h = curl_slist_append(sl->hdrs, ctype.data)) == NULL)
		goto fail;
	sl->hdrs = h;
	/* "Expect:" stops libcurl from waiting for a 100 on large bodies. */
	if ((h = curl_slist_append(sl->hdrs, "Expect:")) == NULL)
		goto fail;
	sl->hdrs = h;

#define SETOPT(opt, val)                                                       \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl_easy_setopt(c, opt, val);                    \
	} while (0)
	SETOPT(CURLOPT_URL, req->url);
	/*
	 * A proxy reads a plain-http request whole, the bearer key included,
	 * so such an upstream is always reached directly: "" makes libcurl
	 * ignore http_proxy and all_proxy. https keeps the proxy from the
	 * environment (NULL): it gets only a CONNECT, and the key travels
	 * inside the TLS tunnel.
	 */
	SETOPT(CURLOPT_PROXY,
	    strncasecmp(req->url, "http://", 7) == 0 ? "" : NULL);
	SETOPT(CURLOPT_HTTPHEADER, sl->hdrs);
	SETOPT(CURLOPT_POST, 1L);
	sl->pieces = req->pieces;
	sl->npieces = req->npieces;
	sl->piece = 0;
	sl->off = 0;
	if (req->npieces > 0) {
		/* Without POSTFIELDS, libcurl reads the body from read_cb. */
		SETOPT(CURLOPT_POSTFIELDS, NULL);
		SETOPT(CURLOPT_READFUNCTION, read_cb);
		SETOPT(CURLOPT_READDATA, sl);
		SETOPT(CURLOPT_SEEKFUNCTION, seek_cb);
		SETOPT(CURLOPT_SEEKDATA, sl);
	} else {
		SETOPT(CURLOPT_POSTFIELDS, req->body);
	}
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
	SETOPT(CURLOPT_CUSTOMREQUEST,
	    strcmp(req->method, "POST") == 0 ? NULL : req->method);
	SETOPT(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
#undef SETOPT
	if (rc != CURLE_OK)
		goto fail;

	memset(&sl->res, 0, sizeof(sl->res));
	sl->errbuf[0] = '\0';
	sl->retry_after[0] = '\0';
	sl->tag = tag;
	sl->start_ms = clock_mono_ms();
	if (curl_multi_add_handle(up->multi, c) != CURLM_OK)
		goto fail;
	sl->busy = 1;
	up->inflight++;
	buf_free(&ctype);
	return 0;
fail:
	slot_release(sl);
	buf_free(&ctype);
	return -1;
}

/* The verdict of a transfer that ended with rc. */
static void
finish(struct slot *sl, CURLcode rc)
{
	struct upstream_res *res = &sl->res;
	uint64_t now = clock_mono_ms();
	long status = 0;

	res->elapsed_ms = now > sl->start_ms ? now - sl->start_ms : 0;
	if (rc != CURLE_OK) {
		res->verdict = UPSTREAM_RETRY;
		res->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
		res->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		snprintf(res->error, sizeof(res->error), "%s",
		    sl->errbuf[0] != '\0' ? sl->errbuf
		                          : curl_easy_strerror(rc));
		return;
	}
	curl_easy_getinfo(sl->curl, CURLINFO_RESPONSE_CODE, &status);
	res->status = (int)status;
	res->verdict = upstream_classify(res->status);
	if (sl->retry_after[0] != '\0' &&
	    upstream_parse_retry_after(
	        sl->retry_after, clock_wall_ms(), &res->retry_after_ms) == -1)
		res->retry_after_ms = 0;
}

/* Hand every finished transfer to done. Returns how many there were. */
static int
reap(struct upstream *up, upstream_done_fn *done, void *arg)
{
	struct upstream_res res;
	struct slot *sl;
	CURLMsg *msg;
	CURLcode rc;
	char *priv;
	void *tag;
	int left, n = 0;

	while ((msg = curl_multi_info_read(up->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		rc = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		sl = (struct slot *)(void *)priv;
		/* msg is not valid past remove_handle. */
		curl_multi_remove_handle(up->multi, msg->easy_handle);
		if (sl == NULL)
			continue;
		finish(sl, rc);
		up->inflight--;
		/* done may start a request in this very slot. */
		res = sl->res;
		tag = sl->tag;
		slot_release(sl);
		done(arg, tag, &res);
		n++;
	}
	return n;
}

int
upstream_poll(
    struct upstream *up, int timeout_ms, upstream_done_fn *done, void *arg)
{
	int running;

	if (curl_multi_perform(up->multi, &running) != CURLM_OK)
		return -1;
	if (reap(up, done, arg) > 0)
		return 0;
	if (timeout_ms > 0 &&
	    curl_multi_poll(up->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
		return -1;
	if (curl_multi_perform(up->multi, &running) != CURLM_OK)
		return -1;
	reap(up, done, arg);
	return 0;
}

struct one {
	struct upstream_res *res;
	int done;
};

static void
one_done(void *arg, void *tag, const struct upstream_res *res)
{
	struct one *o = arg;

	(void)tag;
	*o->res = *res;
	o->done = 1;
}

int
upstream_request(struct upstream *up, const struct upstream_req *req,
    struct upstream_res *res)
{
	struct one o = {res, 0};

	memset(res, 0, sizeof(*res));
	if (upstream_start(up, req, NULL) == -1)
		return -1;
	while (!o.done) {
		if (upstream_poll(up, 1000, one_done, &o) == -1)
			usleep(10 * 1000);
	}
	return 0;
}
