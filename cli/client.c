/* client.c: HTTP to the daemon with libcurl, over its Unix socket or TCP. */
#include "cli/client.h"
#include "cli/fmt.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* A local daemon answers at once; these only bound a wedged one. */
#define CONNECT_TIMEOUT_MS 5000L
#define REQUEST_TIMEOUT_MS 120000L

struct client {
	CURL *curl;
	struct curl_slist *hdrs;
	char *base;   /* URL prefix the paths are appended to */
	char *socket; /* NULL over TCP */
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;

	/* A short count makes libcurl fail the transfer: out of memory. */
	if (buf_add(b, data, size * n) == -1)
		return 0;
	return size * n;
}

int
client_open(struct client **cp, const char *socket_path, const char *url,
    char *err, size_t errlen)
{
	struct client *c;
	size_t len;

	*cp = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl: initialisation failed");
		return CLIENT_ERR;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto nomem;
	/* Over the socket the host name is only the Host header's. */
	c->base = strdup(url != NULL ? url : "http://localhost");
	if (c->base == NULL)
		goto nomem;
	len = strlen(c->base);
	while (len > 0 && c->base[len - 1] == '/')
		c->base[--len] = '\0';
	if (url == NULL && (c->socket = strdup(socket_path)) == NULL)
		goto nomem;
	if ((c->curl = curl_easy_init()) == NULL)
		goto nomem;
	c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" wait before large bodies. */
	if (c->hdrs != NULL)
		c->hdrs = curl_slist_append(c->hdrs, "Expect:");
	if (c->hdrs == NULL)
		goto nomem;

	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(
	    c->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "tracespool/" TS_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	if (c->socket != NULL)
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	*cp = c;
	return CLIENT_OK;
nomem:
	snprintf(err, errlen, "out of memory");
	client_close(c);
	if (c == NULL)
		curl_global_cleanup();
	return CLIENT_ERR;
}

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->hdrs);
	free(c->base);
	free(c->socket);
	free(c);
	curl_global_cleanup();
}

const char *
client_where(const struct client *c)
{
	return c->socket != NULL ? c->socket : c->base;
}

void
client_resp_init(struct client_resp *r)
{
	r->status = 0;
	r->retry_after = -1;
	buf_init(&r->body);
}

void
client_resp_free(struct client_resp *r)
{
	buf_free(&r->body);
}

/* Say why no answer came, with the system's reason when there is one. */
static void
transport_error(struct client *c, CURLcode rc, char *err, size_t errlen)
{
	long oserr = 0;

	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &oserr);
	if (rc == CURLE_COULDNT_CONNECT && oserr != 0)
		snprintf(err, errlen,
		    "cannot connect to tracespoold at %s: %s "
		    "(is it running?)",
		    client_where(c), strerror((int)oserr));
	else
		snprintf(err, errlen, "tracespoold at %s: %s", client_where(c),
		    c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
}

static int
perform(struct client *c, const char *path, struct client_resp *r, char *err,
    size_t errlen)
{
	struct buf url;
	curl_off_t ra = -1;
	CURLcode rc;

	buf_reset(&r->body);
	r->status = 0;
	r->retry_after = -1;
	buf_init(&url);
	if (buf_addstr(&url, c->base) == -1 || buf_addstr(&url, path) == -1) {
		buf_free(&url);
		snprintf(err, errlen, "out of memory");
		return CLIENT_ERR;
	}
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url.data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r->body);
	rc = curl_easy_perform(c->curl);
	buf_free(&url);
	switch (rc) {
	case CURLE_OK:
		break;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
		snprintf(err, errlen, "out of memory");
		return CLIENT_ERR;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(err, errlen, "%s: %s", c->base,
		    c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(rc));
		return CLIENT_ERR;
	default:
		transport_error(c, rc, err, errlen);
		return CLIENT_UNREACHABLE;
	}
	/* buf only allocates on the first byte: give an empty body a NUL. */
	if (r->body.data == NULL && buf_addstr(&r->body, "") == -1) {
		snprintf(err, errlen, "out of memory");
		return CLIENT_ERR;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	/* libcurl reads both forms of Retry-After: seconds and a date. */
	if (curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra >= 0 && r->status == 503)
		r->retry_after = ra > 3600 ? 3600 : (long)ra;
	return CLIENT_OK;
}

int
client_get(struct client *c, const char *path, struct client_resp *r, char *err,
    size_t errlen)
{
	curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	return perform(c, path, r, err, errlen);
}

int
client_post(struct client *c, const char *path, const char *body, size_t len,
    struct client_resp *r, char *err, size_t errlen)
{
	curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	return perform(c, path, r, err, errlen);
}

void
client_resp_error(const struct client_resp *r, char *out, size_t outlen)
{
	const char *text = r->body.data != NULL ? r->body.data : "";
	cJSON *o = cJSON_Parse(text);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");

	/* Another server's error page: its start, on one line. */
	if (cJSON_IsString(e) && e->valuestring[0] != '\0')
		snprintf(out, outlen, "%s", e->valuestring);
	else if (text[0] == '\0')
		snprintf(out, outlen, "(no error text)");
	else
		fmt_clip(text, 200, out, outlen);
	cJSON_Delete(o);
}
