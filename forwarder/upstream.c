/* upstream.c: requests to the event API over one kept-alive libcurl handle. */
#include "upstream.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/clock.h"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* A Retry-After value longer than this is not a number or date we accept. */
#define RETRY_AFTER_MAX 64

struct upstream {
	CURL *curl;
	const atomic_int *stop;
	int ready;     /* the options below are set on the handle */
	char *ca_file; /* what the handle was configured with, NULL: system */
	char errbuf[CURL_ERROR_SIZE];
	/* Per request, filled by the callbacks. */
	struct upstream_res *res;
	char retry_after[RETRY_AFTER_MAX + 1];
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
	struct upstream *up = arg;
	struct upstream_res *res = up->res;
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
	struct upstream *up = arg;
	size_t n = size * nmemb, len;
	const char *v, *end;

	/* A new status line (a 1xx before the final answer) starts afresh. */
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		up->retry_after[0] = '\0';
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
	memcpy(up->retry_after, v, len);
	up->retry_after[len] = '\0';
	return n;
}

static int
xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
    curl_off_t ulnow)
{
	struct upstream *up = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (up->stop != NULL && atomic_load(up->stop))
		return 1;
	return 0;
}

/*
 * Every option that does not change per request. Called on a fresh or reset
 * handle; curl_easy_reset keeps the connection cache, so a new CA file does
 * not cost more than the connections it has to make anyway.
 */
static int
configure(struct upstream *up, const char *ca_file)
{
	CURL *c = up->curl;
	CURLcode rc = CURLE_OK;

	free(up->ca_file);
	up->ca_file = NULL;
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    (up->ca_file = strdup(ca_file)) == NULL)
		return -1;

#define SETOPT(opt, val)                                                       \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl_easy_setopt(c, opt, val);                    \
	} while (0)
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, up->errbuf);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, up);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, up);
	SETOPT(CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	SETOPT(CURLOPT_XFERINFODATA, up);
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
	if (up->ca_file != NULL)
		SETOPT(CURLOPT_CAINFO, up->ca_file);
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
	if ((up->curl = curl_easy_init()) == NULL)
		goto fail;
	if (configure(up, NULL) == -1)
		goto fail;
	up->ready = 1;
	*upp = up;
	return 0;
fail:
	upstream_free(up);
	return -1;
}

void
upstream_free(struct upstream *up)
{
	if (up == NULL)
		return;
	if (up->curl != NULL)
		curl_easy_cleanup(up->curl);
	free(up->ca_file);
	free(up);
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

int
upstream_request(struct upstream *up, const struct upstream_req *req,
    struct upstream_res *res)
{
	struct curl_slist *hdrs = NULL, *h;
	struct buf auth, ctype;
	CURL *c = up->curl;
	CURLcode rc = CURLE_OK;
	long status = 0;
	const char *ca = req->ca_file;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	buf_init(&auth);
	buf_init(&ctype);
	if (ca != NULL && ca[0] == '\0')
		ca = NULL;
	if (!up->ready || (ca == NULL) != (up->ca_file == NULL) ||
	    (ca != NULL && strcmp(ca, up->ca_file) != 0)) {
		up->ready = 0;
		curl_easy_reset(c);
		if (configure(up, ca) == -1)
			goto fail;
		up->ready = 1;
	}

	if (buf_addstr(&auth, "Authorization: Bearer ") == -1 ||
	    buf_addstr(&auth, req->api_key) == -1)
		goto fail;
	if ((h = curl_slist_append(hdrs, auth.data)) == NULL)
		goto fail;
	hdrs = h;
	if (buf_addstr(&ctype, "Content-Type: ") == -1 ||
	    buf_addstr(&ctype,
	        req->content_type != NULL ? req->content_type
	                                  : "application/json") == -1)
		goto fail;
	if ((h = curl_slist_append(hdrs, ctype.data)) == NULL)
		goto fail;
	hdrs = h;
	/* "Expect:" stops libcurl from waiting for a 100 on large bodies. */
	if ((h = curl_slist_append(hdrs, "Expect:")) == NULL)
		goto fail;
	hdrs = h;

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
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_POST, 1L);
	SETOPT(CURLOPT_POSTFIELDS, req->body);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
	SETOPT(CURLOPT_CUSTOMREQUEST,
	    strcmp(req->method, "POST") == 0 ? NULL : req->method);
	SETOPT(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
#undef SETOPT
	if (rc != CURLE_OK)
		goto fail;

	up->res = res;
	up->errbuf[0] = '\0';
	up->retry_after[0] = '\0';
	rc = curl_easy_perform(c);
	up->res = NULL;
	if (rc != CURLE_OK) {
		res->verdict = UPSTREAM_RETRY;
		res->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
		snprintf(res->error, sizeof(res->error), "%s",
		    up->errbuf[0] != '\0' ? up->errbuf
		                          : curl_easy_strerror(rc));
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		res->status = (int)status;
		res->verdict = upstream_classify(res->status);
		if (up->retry_after[0] != '\0' &&
		    upstream_parse_retry_after(up->retry_after, clock_wall_ms(),
		        &res->retry_after_ms) == -1)
			res->retry_after_ms = 0;
	}
	ret = 0;
fail:
	/* The handle must not keep pointers to what is freed here. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	if (auth.data != NULL)
		explicit_bzero(auth.data, auth.cap);
	buf_free(&auth);
	buf_free(&ctype);
	return ret;
}
