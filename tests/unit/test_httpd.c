/* test_httpd.c: the HTTP server, driven in-process over a Unix socket. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <malloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <http_parser.h>

#include "common/buf.h"
#include "common/log.h"
#include "daemon/httpd.h"

/*
 * The server and the clients share this thread: clients use non-blocking
 * sockets and run the event loop while they wait, so every step is
 * ordered and every wait has a deadline (WAIT_MS); alarm() in main catches
 * anything else.
 */

#define WAIT_MS 3000
#define MAX_PENDING 16

static struct {
	char dir[64];
	struct sockaddr_un sun;
	struct event_base *base;
	struct httpd *h;
	struct event *defer_ev;
	unsigned defer_ms;
	struct httpd_req *pending[MAX_PENDING];
	int npending;
	int handler_calls;
	int deferred_replies;
	int idle_calls;
} F;

static const struct httpd_limits default_limits = {
    .max_body = 4096,
    .max_header = 2048,
    .max_conns = 16,
    .header_timeout_ms = 1000,
    .body_timeout_ms = 1000,
    .idle_timeout_ms = 5000,
    .write_timeout_ms = 1000,
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the server's loop for ms milliseconds. */
static void
pump(unsigned ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(F.base, &tv);
	event_base_dispatch(F.base);
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

/* {"method": M, "path": P, "query": Q, "body_len": N, "x_test": H, "uid": U} */
static void
reply_echo(struct httpd_req *r)
{
	const char *hv = httpd_req_header(r, "x-test");
	size_t blen;
	struct buf b;

	httpd_req_body(r, &blen);
	buf_init(&b);
	assert_int_equal(buf_printf(&b, "{\"method\": \"%s\", \"path\": ",
	                     method_name(httpd_req_method(r))),
	    0);
	assert_int_equal(buf_add_json_string(&b, httpd_req_path(r)), 0);
	assert_int_equal(buf_addstr(&b, ", \"query\": "), 0);
	assert_int_equal(buf_add_json_string(&b, httpd_req_query(r)), 0);
	assert_int_equal(
	    buf_printf(&b, ", \"body_len\": %zu, \"x_test\": ", blen), 0);
	assert_int_equal(buf_add_json_string(&b, hv != NULL ? hv : ""), 0);
	/* (uid_t)-1 and (gid_t)-1 print as -1: unknown. */
	assert_int_equal(
	    buf_printf(&b, ", \"uid\": %ld, \"gid\": %ld}",
	        httpd_req_uid(r) == (uid_t)-1 ? -1L : (long)httpd_req_uid(r),
	        httpd_req_gid(r) == (gid_t)-1 ? -1L : (long)httpd_req_gid(r)),
	    0);
	httpd_reply(r, 200, NULL, NULL, b.data, b.len);
	buf_free(&b);
}

static void
defer_cb(evutil_socket_t fd, short what, void *arg)
{
	int i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < F.npending; i++) {
		reply_echo(F.pending[i]);
		F.deferred_replies++;
	}
	F.npending = 0;
}

static void
on_idle(void *arg)
{
	(void)arg;
	F.idle_calls++;
}

static void
handler(struct httpd_req *r, void *arg)
{
	const char *path = httpd_req_path(r);

	(void)arg;
	F.handler_calls++;
	if (strncmp(path, "/defer", 6) == 0) {
		struct timeval tv = {
		    F.defer_ms / 1000, (F.defer_ms % 1000) * 1000};

		assert_true(F.npending < MAX_PENDING);
		F.pending[F.npending++] = r;
		evtimer_add(F.defer_ev, &tv);
		return;
	}
	if (strcmp(path, "/big") == 0) {
		size_t len = 4 * 1024 * 1024;
		char *big = malloc(len);

		assert_non_null(big);
		memset(big, 'x', len);
		httpd_reply(r, 200, "text/plain", NULL, big, len);
		free(big);
		return;
	}
	if (strcmp(path, "/notfound") == 0) {
		httpd_reply_error(r, 404, "path: \"/notfound\" unknown");
		return;
	}
	if (strcmp(path, "/extra") == 0) {
		httpd_reply(r, 503, NULL, "Retry-After: 1\r\n", "{}", 2);
		return;
	}
	if (strcmp(path, "/longhdr") == 0) {
		char extra[700];

		memcpy(extra, "X-Long: ", 8);
		memset(extra + 8, 'L', 600);
		memcpy(extra + 608, "\r\n", 3);
		httpd_reply(r, 299, "text/plain", extra, "ok", 2);
		return;
	}
	if (strcmp(path, "/nulcheck") == 0) {
		size_t blen;
		const char *b = httpd_req_body(r, &blen);

		/* httpd.h: the body is a C string, an empty one too. */
		if (b[blen] == '\0')
			httpd_reply(r, 200, "text/plain", NULL, "nul", 3);
		else
			httpd_reply(r, 500, "text/plain", NULL, "no nul", 6);
		return;
	}
	if (strcmp(path, "/drain") == 0) {
		/* Draining from inside the handler, before replying. */
		httpd_drain(F.h, on_idle, NULL);
		reply_echo(r);
		return;
	}
	reply_echo(r);
}

static void
srv_start(const struct httpd_limits *lim)
{
	int fd;

	memset(&F, 0, sizeof(F));
	F.defer_ms = 100;
	snprintf(F.dir, sizeof(F.dir), "/tmp/test_httpd.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	F.sun.sun_family = AF_UNIX;
	snprintf(F.sun.sun_path, sizeof(F.sun.sun_path), "%s/s.sock", F.dir);
	F.base = event_base_new();
	assert_non_null(F.base);
	F.defer_ev = evtimer_new(F.base, defer_cb, NULL);
	assert_non_null(F.defer_ev);
	F.h = httpd_new(F.base, lim, handler, NULL);
	assert_non_null(F.h);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&F.sun, sizeof(F.sun)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(httpd_listen_fd(F.h, fd, 1), 0);
}

static int
teardown(void **state)
{
	(void)state;
	if (F.h != NULL)
		httpd_free(F.h);
	if (F.defer_ev != NULL)
		event_free(F.defer_ev);
	if (F.base != NULL)
		event_base_free(F.base);
	if (F.sun.sun_path[0] != '\0')
		unlink(F.sun.sun_path);
	rmdir(F.dir);
	memset(&F, 0, sizeof(F));
	return 0;
}

static void
stats(struct httpd_stats *st)
{
	httpd_stats(F.h, st);
}

/* A client connection with its own response parser. */
struct resp {
	int status;
	int head;
	int complete;
	int hstate;
	struct buf field;
	struct buf value;
	char connection[64];
	char ctype[64];
	char retry_after[16];
	long content_length;
	struct buf body;
};

struct client {
	int fd;
	http_parser p;
	char in[65536];
	size_t inlen;
};

static void
resp_commit_header(struct resp *rp)
{
	const char *v = rp->value.data != NULL ? rp->value.data : "";

	if (rp->field.data == NULL)
		return;
	if (strcasecmp(rp->field.data, "Connection") == 0)
		snprintf(rp->connection, sizeof(rp->connection), "%s", v);
	else if (strcasecmp(rp->field.data, "Content-Type") == 0)
		snprintf(rp->ctype, sizeof(rp->ctype), "%s", v);
	else if (strcasecmp(rp->field.data, "Retry-After") == 0)
		snprintf(rp->retry_after, sizeof(rp->retry_after), "%s", v);
	else if (strcasecmp(rp->field.data, "Content-Length") == 0)
		rp->content_length = strtol(v, NULL, 10);
	buf_reset(&rp->field);
	buf_reset(&rp->value);
}

static int
rp_field(http_parser *p, const char *at, size_t len)
{
	struct resp *rp = p->data;

	if (rp->hstate == 2)
		resp_commit_header(rp);
	rp->hstate = 1;
	return buf_add(&rp->field, at, len);
}

static int
rp_value(http_parser *p, const char *at, size_t len)
{
	struct resp *rp = p->data;

	rp->hstate = 2;
	return buf_add(&rp->value, at, len);
}

static int
rp_headers_complete(http_parser *p)
{
	struct resp *rp = p->data;

	if (rp->hstate == 2)
		resp_commit_header(rp);
	rp->status = (int)p->status_code;
	/* A reply to HEAD has no body, whatever Content-Length says. */
	return rp->head ? 1 : 0;
}

static int
rp_body(http_parser *p, const char *at, size_t len)
{
	struct resp *rp = p->data;

	return buf_add(&rp->body, at, len);
}

static int
rp_message_complete(http_parser *p)
{
	struct resp *rp = p->data;

	rp->complete = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_header_field = rp_field,
    .on_header_value = rp_value,
    .on_headers_complete = rp_headers_complete,
    .on_body = rp_body,
    .on_message_complete = rp_message_complete,
};

static void
resp_free(struct resp *rp)
{
	buf_free(&rp->field);
	buf_free(&rp->value);
	buf_free(&rp->body);
}

static int
srv_connect(int fd)
{
	return connect(fd, (const struct sockaddr *)&F.sun, sizeof(F.sun));
}

static void
cl_open(struct client *cl)
{
	memset(cl, 0, sizeof(*cl));
	cl->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(cl->fd >= 0);
	assert_int_equal(srv_connect(cl->fd), 0);
	assert_int_equal(fcntl(cl->fd, F_SETFL, O_NONBLOCK), 0);
	http_parser_init(&cl->p, HTTP_RESPONSE);
}

static void
cl_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
}

static void
cl_send(struct client *cl, const void *data, size_t len)
{
	const char *p = data;
	long deadline = now_ms() + WAIT_MS;
	ssize_t n;

	while (len > 0) {
		n = send(cl->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		assert_true(n == -1 && errno == EAGAIN);
		assert_true(now_ms() < deadline);
		pump(2);
	}
}

static void
cl_sendstr(struct client *cl, const char *s)
{
	cl_send(cl, s, strlen(s));
}

/*
 * Read one response within ms. 0: complete; 1: not yet; -1: the server
 * closed (or reset) first.
 */
static int
cl_read(struct client *cl, struct resp *rp, int head, unsigned ms)
{
	long deadline = now_ms() + ms;
	size_t n;
	ssize_t r;

	memset(rp, 0, sizeof(*rp));
	buf_init(&rp->field);
	buf_init(&rp->value);
	buf_init(&rp->body);
	rp->head = head;
	rp->content_length = -1;
	cl->p.data = rp;
	for (;;) {
		if (cl->inlen > 0) {
			n = http_parser_execute(
			    &cl->p, &resp_settings, cl->in, cl->inlen);
			memmove(cl->in, cl->in + n, cl->inlen - n);
			cl->inlen -= n;
			if (HTTP_PARSER_ERRNO(&cl->p) == HPE_PAUSED)
				http_parser_pause(&cl->p, 0);
			else
				assert_int_equal(
				    HTTP_PARSER_ERRNO(&cl->p), HPE_OK);
			if (rp->complete)
				return 0;
		}
		r = recv(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - cl->inlen,
		    MSG_DONTWAIT);
		if (r > 0) {
			cl->inlen += (size_t)r;
			continue;
		}
		if (r == 0 || (r == -1 && errno != EAGAIN))
			return -1;
		if (now_ms() >= deadline)
			return 1;
		pump(2);
	}
}

/* Read one complete response, failing the test otherwise. */
static void
cl_expect(struct client *cl, struct resp *rp, int head)
{
	assert_int_equal(cl_read(cl, rp, head, WAIT_MS), 0);
}

/* 1 when the server closes within ms without sending anything more. */
static int
cl_wait_eof(struct client *cl, unsigned ms)
{
	long deadline = now_ms() + ms;
	char c;
	ssize_t r;

	assert_int_equal(cl->inlen, 0);
	for (;;) {
		r = recv(cl->fd, &c, 1, MSG_DONTWAIT);
		if (r == 0 || (r == -1 && errno == ECONNRESET))
			return 1;
		assert_true(r == -1 && errno == EAGAIN);
		if (now_ms() >= deadline)
			return 0;
		pump(2);
	}
}

static int
cl_readable(struct client *cl)
{
	struct pollfd pfd = {cl->fd, POLLIN, 0};

	return poll(&pfd, 1, 0) == 1;
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("\"%s\" not in \"%s\"", needle, hay ? hay : "(null)");
}

/*
 * An error body is exactly {"success": false, "error": "<JSON string>"}:
 * check the frame and that the string is well formed.
 */
static void
assert_error_body(const struct resp *rp, const char *needle)
{
	static const char pre[] = "{\"success\": false, \"error\": \"";
	const char *b = rp->body.data, *p, *end;

	assert_non_null(b);
	assert_string_equal(rp->ctype, "application/json");
	assert_int_equal(rp->content_length, (long)rp->body.len);
	assert_true(rp->body.len >= sizeof(pre) + 1);
	assert_memory_equal(b, pre, sizeof(pre) - 1);
	end = b + rp->body.len - 2;
	assert_memory_equal(end, "\"}", 2);
	for (p = b + sizeof(pre) - 1; p < end; p++) {
		assert_true((unsigned char)*p >= 0x20);
		assert_true(*p != '"');
		if (*p == '\\') {
			p++;
			assert_true(p < end);
			assert_non_null(strchr("\"\\/bfnrtu", *p));
		}
	}
	if (needle != NULL)
		assert_contains(b, needle);
}

static void
get(struct client *cl, struct resp *rp, const char *path)
{
	char req[256];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	cl_sendstr(cl, req);
	cl_expect(cl, rp, 0);
}

static void
test_get_post(void **state)
{
	struct client cl;
	struct resp rp;
	struct httpd_stats st;
	static const char post[] = "POST /events HTTP/1.1\r\nHost: x\r\n"
	                           "Content-Type: application/json\r\n"
	                           "Content-Length: 11\r\n\r\n{\"a\": true}";

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "GET /hello?x=1#frag HTTP/1.1\r\nHost: x\r\n"
	    "X-TEST:  some value \t\r\nAuthorization: Bearer s\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.ctype, "application/json");
	assert_string_equal(rp.connection, "");
	assert_contains(rp.body.data, "\"method\": \"GET\"");
	assert_contains(rp.body.data, "\"path\": \"/hello\"");
	assert_contains(rp.body.data, "\"query\": \"x=1\"");
	assert_contains(rp.body.data, "\"body_len\": 0");
	assert_contains(rp.body.data, "\"x_test\": \"some value\"");
	resp_free(&rp);

	cl_send(&cl, post, sizeof(post) - 1);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"method\": \"POST\"");
	assert_contains(rp.body.data, "\"path\": \"/events\"");
	assert_contains(rp.body.data, "\"query\": \"\"");
	assert_contains(rp.body.data, "\"body_len\": 11");
	resp_free(&rp);

	cl_sendstr(&cl,
	    "PUT /events HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
	    "DELETE /x HTTP/1.1\r\n\r\n"
	    "OPTIONS * HTTP/1.1\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"method\": \"PUT\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"method\": \"DELETE\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"method\": \"OTHER\"");
	assert_contains(rp.body.data, "\"path\": \"*\"");
	resp_free(&rp);

	/* Absolute form: the path alone reaches the handler. */
	get(&cl, &rp, "http://localhost:8080/abs/path?q=1");
	assert_contains(rp.body.data, "\"path\": \"/abs/path\"");
	assert_contains(rp.body.data, "\"query\": \"q=1\"");
	resp_free(&rp);
	get(&cl, &rp, "/empty?");
	assert_contains(rp.body.data, "\"path\": \"/empty\"");
	assert_contains(rp.body.data, "\"query\": \"\"");
	resp_free(&rp);

	stats(&st);
	assert_int_equal(st.requests, 7);
	assert_int_equal(st.conns_total, 1);
	assert_int_equal(st.errors_4xx, 0);
	cl_close(&cl);
}

static void
test_handler_replies(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	/* A handler's own error keeps the connection. */
	get(&cl, &rp, "/notfound");
	assert_int_equal(rp.status, 404);
	assert_error_body(&rp, "path: \\\"/notfound\\\" unknown");
	assert_string_equal(rp.connection, "");
	resp_free(&rp);
	get(&cl, &rp, "/extra");
	assert_int_equal(rp.status, 503);
	assert_string_equal(rp.retry_after, "1");
	assert_string_equal(rp.body.data, "{}");
	resp_free(&rp);
	/* Extra headers too long for the stack buffer, a status without a
	 * reason phrase of its own. */
	get(&cl, &rp, "/longhdr");
	assert_int_equal(rp.status, 299);
	assert_string_equal(rp.ctype, "text/plain");
	assert_string_equal(rp.body.data, "ok");
	resp_free(&rp);
	get(&cl, &rp, "/again");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

static void
test_keepalive(void **state)
{
	struct client cl;
	struct resp rp;
	struct httpd_stats st;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	get(&cl, &rp, "/one");
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"path\": \"/one\"");
	resp_free(&rp);
	get(&cl, &rp, "/two");
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"path\": \"/two\"");
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.conns_total, 1);
	assert_int_equal(st.conns_open, 1);
	assert_int_equal(st.requests, 2);
	/*
	 * Leave a reply unread and a request half sent, then close: the
	 * server sees a reset mid-request.
	 */
	cl_sendstr(&cl, "GET /unread HTTP/1.1\r\n\r\nGET /half HTTP/1.1\r\n");
	pump(30);
	assert_true(cl_readable(&cl));
	cl_close(&cl);
	pump(20);
	stats(&st);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(st.requests, 3);
}

static void
test_pipelined(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "GET /a HTTP/1.1\r\n\r\n"
	    "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
	    "GET /c HTTP/1.1\r\nX-Test: 3\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/a\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/b\"");
	assert_contains(rp.body.data, "\"body_len\": 3");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/c\"");
	assert_contains(rp.body.data, "\"x_test\": \"3\"");
	resp_free(&rp);
	cl_close(&cl);
}

/* The request after a deferred one waits for its reply, then follows it. */
static void
test_pipelined_deferred(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 150;
	cl_open(&cl);
	cl_sendstr(&cl,
	    "GET /defer/1 HTTP/1.1\r\n\r\n"
	    "GET /after HTTP/1.1\r\n\r\n");
	pump(60);
	assert_int_equal(F.handler_calls, 1);
	assert_false(cl_readable(&cl));
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/defer/1\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/after\"");
	resp_free(&rp);
	assert_int_equal(F.handler_calls, 2);
	cl_close(&cl);
}

static void
test_deferred(void **state)
{
	struct client cl;
	struct resp rp;
	long t0;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 150;
	cl_open(&cl);
	t0 = now_ms();
	cl_sendstr(
	    &cl, "POST /defer HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd");
	cl_expect(&cl, &rp, 0);
	assert_true(now_ms() - t0 >= 140);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"path\": \"/defer\"");
	assert_contains(rp.body.data, "\"body_len\": 4");
	resp_free(&rp);
	assert_int_equal(F.deferred_replies, 1);
	/* The connection goes on. */
	get(&cl, &rp, "/next");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

static void
test_413_content_length(void **state)
{
	struct client cl;
	struct resp rp;
	struct httpd_stats st;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /events HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"
	    "some of the body");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 413);
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "body: larger than 4096 bytes");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	assert_int_equal(F.handler_calls, 0);
	/* The server lingers, discarding what the client still sends. */
	{
		char more[3000];

		memset(more, 'm', sizeof(more));
		cl_send(&cl, more, sizeof(more));
		pump(20);
		stats(&st);
		assert_int_equal(st.conns_open, 1);
	}
	cl_close(&cl);
	pump(20);
	stats(&st);
	assert_int_equal(st.conns_open, 0);

	/* With Expect: 100-continue the answer is 413, not 100. */
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /events HTTP/1.1\r\nContent-Length: 5000\r\n"
	    "Expect: 100-continue\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 413);
	assert_error_body(&rp, "body: larger than 4096 bytes");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);
	pump(20);
	stats(&st);
	assert_int_equal(st.errors_4xx, 2);
	assert_int_equal(st.conns_open, 0);
}

static void
test_413_chunked(void **state)
{
	struct client cl;
	struct resp rp;
	char chunk[2100];
	int i;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n3\r\nabc\r\n0\r\nTrailer: x\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"body_len\": 8");
	resp_free(&rp);

	cl_sendstr(
	    &cl, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	memcpy(chunk, "7d0\r\n", 5);
	memset(chunk + 5, 'z', 2000);
	memcpy(chunk + 2005, "\r\n", 2);
	for (i = 0; i < 3; i++)
		cl_send(&cl, chunk, 2007);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 413);
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "larger than 4096 bytes");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	assert_int_equal(F.handler_calls, 1);
	cl_close(&cl);
}

static void
test_431(void **state)
{
	struct client cl;
	struct resp rp;
	char big[3000];
	struct httpd_stats st;

	(void)state;
	srv_start(&default_limits);
	memset(big, 'a', sizeof(big));

	/* Sent in pieces: the limit holds across reads. */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nX-Big: ");
	pump(10);
	cl_send(&cl, big, 1000);
	pump(10);
	cl_send(&cl, big, sizeof(big));
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 431);
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "headers: larger than 2048 bytes");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);

	/*
	 * One byte over, in one piece that ends the headers: counted exactly
	 * all the same (16 + 7 + 2022 + 4 = 2049).
	 */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nX-Big: ");
	cl_send(&cl, big, 2022);
	cl_sendstr(&cl, "\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 431);
	resp_free(&rp);
	cl_close(&cl);

	/* Exactly at the limit passes. */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nX-Big: ");
	cl_send(&cl, big, 2021);
	cl_sendstr(&cl, "\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
	stats(&st);
	assert_int_equal(st.errors_4xx, 2);
}

static void
test_400_garbage(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl, "\x01\x02garbage\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "HPE_INVALID_METHOD");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);

	/* After a good request, on the same connection. */
	cl_open(&cl);
	get(&cl, &rp, "/ok");
	resp_free(&rp);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nBad Header\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_error_body(&rp, "HPE_INVALID_HEADER_TOKEN");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);

	/* White space in or after a header name, which http_parser allows. */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_error_body(&rp, "headers: a header name holds a byte");
	resp_free(&rp);
	cl_close(&cl);
	cl_open(&cl);
	cl_sendstr(&cl, "POST / HTTP/1.1\r\nContent-Length : 1\r\n\r\nx");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	resp_free(&rp);
	cl_close(&cl);

	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST / HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_error_body(&rp, "HPE_");
	resp_free(&rp);
	cl_close(&cl);
	assert_int_equal(F.handler_calls, 1);
}

/* One byte every 40 ms keeps arriving; the header deadline still holds. */
static void
test_408_header_trickle(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client cl;
	struct resp rp;
	struct httpd_stats st;
	long t0, dt;
	int rc = 1;

	(void)state;
	lim.header_timeout_ms = 200;
	srv_start(&lim);
	memset(&rp, 0, sizeof(rp));
	cl_open(&cl);
	t0 = now_ms();
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nX-Slow: ");
	while (rc == 1 && now_ms() - t0 < WAIT_MS) {
		cl_sendstr(&cl, "a");
		rc = cl_read(&cl, &rp, 0, 40);
		if (rc == 1)
			resp_free(&rp);
	}
	assert_int_equal(rc, 0);
	dt = now_ms() - t0;
	assert_true(dt >= 190 && dt < 1000);
	assert_int_equal(rp.status, 408);
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "headers not received within 200 ms");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);
	stats(&st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.errors_4xx, 1);
}

static void
test_408_body(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client cl;
	struct resp rp;

	(void)state;
	lim.body_timeout_ms = 200;
	srv_start(&lim);
	cl_open(&cl);
	cl_sendstr(
	    &cl, "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\npartial");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 408);
	assert_error_body(&rp, "body not received within 200 ms");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);
}

static void
test_idle_close(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client cl, quiet;
	struct resp rp;
	struct httpd_stats st;
	long t0;

	(void)state;
	lim.idle_timeout_ms = 200;
	srv_start(&lim);
	cl_open(&cl);
	cl_open(&quiet);
	get(&cl, &rp, "/");
	resp_free(&rp);
	t0 = now_ms();
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	assert_true(now_ms() - t0 >= 150);
	/* A connection that never sent anything goes the same way. */
	assert_true(cl_wait_eof(&quiet, WAIT_MS));
	cl_close(&cl);
	cl_close(&quiet);
	stats(&st);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(st.timeouts, 0);
}

/* A reply the client does not read is dropped after write_timeout. */
static void
test_write_timeout(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client cl;
	struct httpd_stats st;
	long deadline;

	(void)state;
	lim.write_timeout_ms = 200;
	srv_start(&lim);
	cl_open(&cl);
	cl_sendstr(&cl, "GET /big HTTP/1.1\r\n\r\n");
	deadline = now_ms() + WAIT_MS;
	do {
		pump(20);
		stats(&st);
	} while (st.conns_open > 0 && now_ms() < deadline);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(st.timeouts, 1);
	cl_close(&cl);
}

static void
test_max_conns(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c;
	struct resp rp;
	struct httpd_stats st;

	(void)state;
	lim.max_conns = 2;
	lim.evict_busy_ms = 10 * WAIT_MS;
	srv_start(&lim);
	cl_open(&a);
	cl_open(&b);
	/*
	 * Both in the middle of a request, not yet slow: neither can give up
	 * its slot before its reply.
	 */
	cl_sendstr(&a, "GET /a HTTP/1.1\r\n");
	cl_sendstr(&b, "GET /b HTTP/1.1\r\n");
	pump(30);
	/* The third waits in the kernel's backlog. */
	cl_open(&c);
	cl_sendstr(&c, "GET /c HTTP/1.1\r\n\r\n");
	assert_int_equal(cl_read(&c, &rp, 0, 300), 1);
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.conns_open, 2);
	assert_int_equal(st.conns_total, 2);
	cl_close(&a);
	cl_expect(&c, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/c\"");
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.conns_open, 2);
	assert_int_equal(st.conns_total, 3);
	assert_int_equal(st.evicted, 0);
	cl_close(&b);
	cl_close(&c);
}

/*
 * At the cap, a new connection takes the slot of the one idle longest once
 * that one has been idle evict_idle_ms; one in the middle of a request is
 * never taken, nor one idle for less.
 */
static void
test_max_conns_evict_idle(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c, d;
	struct resp rp;
	struct httpd_stats st;
	long t0;

	(void)state;
	lim.max_conns = 2;
	lim.evict_idle_ms = 100;
	lim.evict_busy_ms = 10 * WAIT_MS;
	lim.header_timeout_ms = WAIT_MS;
	srv_start(&lim);
	cl_open(&a);
	cl_open(&b);
	cl_sendstr(&b, "GET /b HTTP/1.1\r\n");
	pump(150);
	/* a has sent nothing for 150 ms: c gets its slot at once. */
	cl_open(&c);
	get(&c, &rp, "/c");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	assert_true(cl_wait_eof(&a, WAIT_MS));
	stats(&st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.conns_open, 2);
	/* c was answered just now: d waits until c has been idle 100 ms. */
	t0 = now_ms();
	cl_open(&d);
	cl_sendstr(&d, "GET /d HTTP/1.1\r\n\r\n");
	assert_int_equal(cl_read(&d, &rp, 0, 30), 1);
	resp_free(&rp);
	cl_expect(&d, &rp, 0);
	assert_true(now_ms() - t0 >= 70);
	assert_contains(rp.body.data, "\"path\": \"/d\"");
	resp_free(&rp);
	assert_true(cl_wait_eof(&c, WAIT_MS));
	/*
	 * b, in the middle of its request all along, kept its slot; as d
	 * waited, b was retired: its reply closes it.
	 */
	cl_sendstr(&b, "\r\n");
	cl_expect(&b, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/b\"");
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&b, WAIT_MS));
	stats(&st);
	assert_int_equal(st.evicted, 2);
	assert_true(st.retired >= 1);
	assert_int_equal(st.conns_total, 4);
	assert_int_equal(st.conns_open, 1);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
	cl_close(&d);
}

/*
 * An idle connection whose request has arrived but not been read yet is
 * not idle: its request is answered, never dropped for a newcomer, which
 * is let in over the cap; the next one admitted evicts back to the cap.
 */
static void
test_max_conns_unread_kept(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c;
	struct resp rp;
	struct httpd_stats st;

	(void)state;
	lim.max_conns = 1;
	lim.evict_idle_ms = 50;
	srv_start(&lim);
	cl_open(&a);
	pump(100);
	/* Both arrive before the loop runs again: b, then a's request. */
	cl_open(&b);
	cl_sendstr(&a, "GET /a HTTP/1.1\r\n\r\n");
	cl_sendstr(&b, "GET /b HTTP/1.1\r\n\r\n");
	cl_expect(&a, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/a\"");
	resp_free(&rp);
	cl_expect(&b, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/b\"");
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.requests, 2);
	assert_true(st.conns_open <= 2);
	/* Both idle for 50 ms: c takes the place of whoever is left. */
	pump(100);
	cl_open(&c);
	get(&c, &rp, "/c");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.conns_open, 1);
	assert_int_equal(st.conns_total, 3);
	assert_int_equal(st.evicted, 2);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
}

/*
 * One "GET /peer" with "Connection: close" from a child running as
 * uid:gid, with the one supplementary group supp ((gid_t)-1: none).
 * Returns the status answered, 0 when none; the reply goes to out.
 */
static int
peer_request(uid_t uid, gid_t gid, gid_t supp, char *out, size_t outlen)
{
	static const char req[] = "GET /peer HTTP/1.1\r\nConnection: close\r\n"
	                          "\r\n";
	size_t got = 0;
	long deadline;
	ssize_t n;
	pid_t pid;
	int p[2], fd, wst;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		char buf[2048];

		alarm(10);
		close(p[0]);
		if ((supp == (gid_t)-1 ? setgroups(0, NULL)
		                       : setgroups(1, &supp)) == -1 ||
		    setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			_exit(2);
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd == -1 || srv_connect(fd) == -1 ||
		    write(fd, req, sizeof(req) - 1) != sizeof(req) - 1)
			_exit(3);
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			if (write(p[1], buf, (size_t)n) != n)
				_exit(4);
		}
		_exit(n == 0 ? 0 : 5);
	}
	close(p[1]);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	deadline = now_ms() + WAIT_MS;
	for (;;) {
		n = read(p[0], out + got, outlen - 1 - got);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0 || got == outlen - 1)
			break;
		assert_true(errno == EAGAIN && now_ms() < deadline);
		pump(5);
	}
	out[got] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, &wst, 0), pid);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
	if (strncmp(out, "HTTP/1.1 ", 9) != 0)
		return 0;
	return (int)strtol(out + 9, NULL, 10);
}

/*
 * httpd_set_peers: uids, primary and supplementary gids, root, and no
 * lists. Other users are played by children, so that part needs root.
 */
static void
test_peers(void **state)
{
	id_t nobody = 65534, other = 4242, me = (id_t)getuid();
	id_t notme = me + 1, mygid = (id_t)getgid();
	struct client cl;
	struct resp rp;
	struct httpd_stats st;
	char out[2048];

	(void)state;
	srv_start(&default_limits);
	/* Not listed: refused, unless root. */
	assert_int_equal(httpd_set_peers(F.h, &notme, 1, NULL, 0), 0);
	cl_open(&cl);
	get(&cl, &rp, "/me");
	if (me == 0) {
		assert_int_equal(rp.status, 200);
	} else {
		assert_int_equal(rp.status, 403);
		assert_string_equal(rp.connection, "close");
		snprintf(
		    out, sizeof(out), "peer: uid %u not allowed", (unsigned)me);
		assert_error_body(&rp, out);
		assert_true(cl_wait_eof(&cl, WAIT_MS));
	}
	resp_free(&rp);
	cl_close(&cl);
	/* Listed by primary group. */
	assert_int_equal(httpd_set_peers(F.h, &notme, 1, &mygid, 1), 0);
	cl_open(&cl);
	get(&cl, &rp, "/me");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
	if (geteuid() != 0) {
		print_message("not root: other users' peers not tested\n");
		return;
	}
	assert_int_equal(chmod(F.dir, 0755), 0);
	assert_int_equal(chmod(F.sun.sun_path, 0666), 0);
	assert_int_equal(httpd_set_peers(F.h, &nobody, 1, NULL, 0), 0);
	assert_int_equal(
	    peer_request(65534, 65534, (gid_t)-1, out, sizeof(out)), 200);
	assert_int_equal(httpd_set_peers(F.h, &other, 1, NULL, 0), 0);
	assert_int_equal(
	    peer_request(65534, 65534, (gid_t)-1, out, sizeof(out)), 403);
	assert_contains(out, "peer: uid 65534 not allowed");
	assert_int_equal(F.handler_calls, 3);
	/* By group: primary, then supplementary only. */
	assert_int_equal(httpd_set_peers(F.h, NULL, 0, &nobody, 1), 0);
	assert_int_equal(
	    peer_request(65534, 65534, (gid_t)-1, out, sizeof(out)), 200);
	assert_int_equal(httpd_set_peers(F.h, NULL, 0, &other, 1), 0);
	assert_int_equal(
	    peer_request(65534, 65534, (gid_t)-1, out, sizeof(out)), 403);
	assert_int_equal(
	    peer_request(65534, 65534, 4242, out, sizeof(out)), 200);
	/* No lists: anyone who can open the socket. */
	assert_int_equal(httpd_set_peers(F.h, NULL, 0, NULL, 0), 0);
	assert_int_equal(
	    peer_request(65534, 65534, (gid_t)-1, out, sizeof(out)), 200);
	stats(&st);
	assert_int_equal(st.refused, 2);
	assert_int_equal(F.handler_calls, 6);
}

/* The client closes while its request is with the handler. */
static void
test_disconnect_deferred(void **state)
{
	struct client cl;
	struct httpd_stats st;
	long deadline;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 200;
	cl_open(&cl);
	cl_sendstr(&cl, "GET /defer HTTP/1.1\r\n\r\n");
	pump(30);
	assert_int_equal(F.handler_calls, 1);
	cl_close(&cl);
	deadline = now_ms() + WAIT_MS;
	do {
		pump(20);
		stats(&st);
	} while ((F.deferred_replies == 0 || st.conns_open > 0) &&
	    now_ms() < deadline);
	assert_int_equal(F.deferred_replies, 1);
	assert_int_equal(st.conns_open, 0);
}

/*
 * The client goes with unread input (the 100 Continue), so the server sees
 * a reset: the connection dies at once and the request stays valid (the
 * deferred reply reads its path and body) until httpd_reply frees it.
 */
static void
test_reset_deferred(void **state)
{
	struct client cl;
	struct httpd_stats st;
	long deadline;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 400;
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /defer HTTP/1.1\r\nContent-Length: 5\r\n"
	    "Expect: 100-continue\r\n\r\nhello");
	deadline = now_ms() + WAIT_MS;
	while (
	    (F.handler_calls == 0 || !cl_readable(&cl)) && now_ms() < deadline)
		pump(5);
	assert_int_equal(F.handler_calls, 1);
	cl_close(&cl);
	deadline = now_ms() + WAIT_MS;
	do {
		pump(10);
		stats(&st);
	} while (st.conns_open > 0 && now_ms() < deadline);
	assert_int_equal(st.conns_open, 0);
	assert_int_equal(F.deferred_replies, 0);
	deadline = now_ms() + WAIT_MS;
	while (F.deferred_replies == 0 && now_ms() < deadline)
		pump(20);
	assert_int_equal(F.deferred_replies, 1);
}

static void
test_expect_continue(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /events HTTP/1.1\r\nContent-Length: 10\r\n"
	    "Expect: 100-Continue\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 100);
	resp_free(&rp);
	assert_int_equal(F.handler_calls, 0);
	cl_sendstr(&cl, "0123456789");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"body_len\": 10");
	resp_free(&rp);
	/* No body, no 100. */
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

static void
test_head(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl, "HEAD /h HTTP/1.1\r\n\r\n");
	cl_expect(&cl, &rp, 1);
	assert_int_equal(rp.status, 200);
	assert_true(rp.content_length > 0);
	assert_int_equal(rp.body.len, 0);
	resp_free(&rp);
	/* Had a body been sent, this would read it as the next response. */
	get(&cl, &rp, "/after-head");
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"path\": \"/after-head\"");
	resp_free(&rp);
	/* An error right after a HEAD is an ordinary reply, body included. */
	cl_sendstr(&cl,
	    "HEAD /h2 HTTP/1.1\r\n\r\n\x01"
	    "bad\r\n\r\n");
	cl_expect(&cl, &rp, 1);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_error_body(&rp, "HPE_INVALID_METHOD");
	resp_free(&rp);
	cl_close(&cl);
}

static void
test_http10(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl, "GET /old HTTP/1.0\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);

	/* HTTP/1.1 asking to close. */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);

	/* HTTP/1.0 asking to stay. */
	cl_open(&cl);
	cl_sendstr(&cl, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_string_equal(rp.connection, "keep-alive");
	resp_free(&rp);
	get(&cl, &rp, "/second");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

/* A client that half-closes after its requests still gets every answer. */
static void
test_half_close(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 50;
	cl_open(&cl);
	cl_sendstr(&cl, "GET /defer HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
	assert_int_equal(shutdown(cl.fd, SHUT_WR), 0);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/defer\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/b\"");
	resp_free(&rp);
	assert_true(cl_wait_eof(&cl, WAIT_MS));
	cl_close(&cl);
}

static void
test_peer_uid(void **state)
{
	struct client cl;
	struct resp rp;
	char want[64];

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	get(&cl, &rp, "/uid");
	snprintf(want, sizeof(want), "\"uid\": %ld, \"gid\": %ld",
	    (long)getuid(), (long)getgid());
	assert_contains(rp.body.data, want);
	resp_free(&rp);
	cl_close(&cl);
}

static void
test_drain(void **state)
{
	struct client idle, busy, late;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 200;
	cl_open(&idle);
	cl_open(&busy);
	get(&idle, &rp, "/");
	resp_free(&rp);
	cl_sendstr(&busy, "GET /defer HTTP/1.1\r\n\r\n");
	pump(30);
	assert_int_equal(F.handler_calls, 2);

	httpd_drain(F.h, on_idle, NULL);
	assert_true(cl_wait_eof(&idle, 100));
	assert_int_equal(F.idle_calls, 0);
	/* No longer listening. */
	late.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(late.fd >= 0);
	assert_int_equal(srv_connect(late.fd), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(late.fd);

	cl_expect(&busy, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&busy, WAIT_MS));
	pump(10);
	assert_int_equal(F.idle_calls, 1);
	cl_close(&idle);
	cl_close(&busy);
}

/* A reply larger than the socket buffer, then a pipelined request. */
static void
test_big_reply(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(
	    &cl, "GET /big HTTP/1.1\r\n\r\nGET /after-big HTTP/1.1\r\n\r\n");
	pump(30);
	/* Parsing waits until the big reply has left. */
	assert_int_equal(F.handler_calls, 1);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_int_equal(rp.body.len, 4 * 1024 * 1024);
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/after-big\"");
	resp_free(&rp);
	cl_close(&cl);
}

/* A body across many reads; the grown buffer is given back afterwards. */
static void
test_large_body(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client cl;
	struct resp rp;
	size_t len = 600 * 1024;
	char hdr[128], *body;

	(void)state;
	lim.max_body = 1024 * 1024;
	srv_start(&lim);
	body = malloc(len);
	assert_non_null(body);
	memset(body, 'b', len);
	cl_open(&cl);
	snprintf(hdr, sizeof(hdr),
	    "POST /large HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", len);
	cl_sendstr(&cl, hdr);
	cl_send(&cl, body, len);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"body_len\": 614400");
	resp_free(&rp);
	cl_sendstr(&cl,
	    "POST /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n96000\r\n");
	cl_send(&cl, body, len);
	cl_sendstr(&cl, "\r\n0\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"body_len\": 614400");
	resp_free(&rp);
	get(&cl, &rp, "/small");
	assert_contains(rp.body.data, "\"body_len\": 0");
	resp_free(&rp);
	free(body);
	cl_close(&cl);
}

/* httpd_free with requests still at the handler, one of them dead. */
static void
test_free_pending(void **state)
{
	struct client live, gone;
	struct httpd_stats st;
	long deadline;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 5000;
	cl_open(&live);
	cl_open(&gone);
	cl_sendstr(&live, "GET /defer/live HTTP/1.1\r\n\r\n");
	cl_sendstr(&gone,
	    "POST /defer/gone HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Expect: 100-continue\r\n\r\nx");
	deadline = now_ms() + WAIT_MS;
	while (
	    (F.handler_calls < 2 || !cl_readable(&gone)) && now_ms() < deadline)
		pump(5);
	assert_int_equal(F.handler_calls, 2);
	cl_close(&gone);
	deadline = now_ms() + WAIT_MS;
	do {
		pump(10);
		stats(&st);
	} while (st.conns_open > 1 && now_ms() < deadline);
	assert_int_equal(st.conns_open, 1);
	/* The teardown frees both; the deferred replies never run. */
	httpd_free(F.h);
	F.h = NULL;
	F.npending = 0;
	assert_true(cl_wait_eof(&live, WAIT_MS));
	cl_close(&live);
}

static void
test_drain_in_handler(void **state)
{
	struct client a, b;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&a);
	cl_open(&b);
	/* b has a big reply on its way, a client slow to read it. */
	cl_sendstr(&b, "GET /big HTTP/1.1\r\n\r\n");
	pump(30);
	cl_sendstr(
	    &a, "GET /drain HTTP/1.1\r\n\r\nGET /never HTTP/1.1\r\n\r\n");
	cl_expect(&a, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&a, WAIT_MS));
	assert_int_equal(F.idle_calls, 0);
	cl_expect(&b, &rp, 0);
	assert_int_equal(rp.body.len, 4 * 1024 * 1024);
	resp_free(&rp);
	assert_true(cl_wait_eof(&b, WAIT_MS));
	pump(10);
	assert_int_equal(F.idle_calls, 1);
	assert_int_equal(F.handler_calls, 2);
	cl_close(&a);
	cl_close(&b);
}

/* A TCP listener on 127.0.0.1 (a free port) served by F.h; *sin its address. */
static void
tcp_listen(struct sockaddr_in *sin)
{
	socklen_t slen = sizeof(*sin);
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)sin, &slen), 0);
	assert_int_equal(httpd_listen_fd(F.h, lfd, 0), 0);
}

static void
cl_open_tcp(struct client *cl, const struct sockaddr_in *sin)
{
	memset(cl, 0, sizeof(*cl));
	cl->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(cl->fd >= 0);
	assert_int_equal(
	    connect(cl->fd, (const struct sockaddr *)sin, sizeof(*sin)), 0);
	assert_int_equal(fcntl(cl->fd, F_SETFL, O_NONBLOCK), 0);
	http_parser_init(&cl->p, HTTP_RESPONSE);
}

/* The optional TCP listener: no peer credentials, no peer lists. */
static void
test_tcp(void **state)
{
	struct sockaddr_in sin;
	struct client cl;
	struct resp rp;
	id_t nobody = 65534;

	(void)state;
	srv_start(&default_limits);
	assert_int_equal(httpd_set_peers(F.h, &nobody, 1, &nobody, 1), 0);
	tcp_listen(&sin);
	cl_open_tcp(&cl, &sin);
	cl_sendstr(&cl, "GET /tcp HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"uid\": -1, \"gid\": -1");
	resp_free(&rp);
	cl_sendstr(&cl, "GET /tcp2 HTTP/1.1\r\nHost: localhost\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

/*
 * One request on a new TCP connection: the status answered. A refusal
 * must come as the JSON error body, naming why, and close.
 */
static int
tcp_status(const struct sockaddr_in *sin, const char *req, const char *why)
{
	struct client cl;
	struct resp rp;
	int status;

	cl_open_tcp(&cl, sin);
	cl_sendstr(&cl, req);
	cl_expect(&cl, &rp, 0);
	status = rp.status;
	if (status >= 400) {
		assert_error_body(&rp, why);
		assert_string_equal(rp.connection, "close");
	}
	resp_free(&rp);
	cl_close(&cl);
	return status;
}

#define JSON_POST(host, ctype)                                                 \
	"POST /events HTTP/1.1\r\nHost: " host "\r\nContent-Type: " ctype      \
	"\r\nContent-Length: 2\r\n\r\n{}"

/*
 * The TCP listener refuses what a web page in the local browser sends
 * (issue 12, item 10): an Origin (403), a Host that is not loopback
 * (421: DNS rebinding), a POST or PUT that is not JSON or protobuf (415:
 * a form or text/plain needs no CORS preflight). SDK requests pass; the
 * Unix socket is not checked.
 */
static void
test_tcp_guard(void **state)
{
	struct sockaddr_in sin;
	struct client cl;
	struct resp rp;
	struct httpd_stats st;

	(void)state;
	srv_start(&default_limits);
	tcp_listen(&sin);
	/* What SDKs and curl send. */
	assert_int_equal(
	    tcp_status(
	        &sin, JSON_POST("127.0.0.1:8339", "application/json"), NULL),
	    200);
	assert_int_equal(
	    tcp_status(&sin,
	        JSON_POST("localhost:8339", "application/json; charset=utf-8"),
	        NULL),
	    200);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("[::1]:8339", "Application/JSON"), NULL),
	    200);
	assert_int_equal(
	    tcp_status(
	        &sin, JSON_POST("127.0.0.2", "application/x-protobuf"), NULL),
	    200);
	assert_int_equal(
	    tcp_status(
	        &sin, JSON_POST("LOCALHOST.", "application/protobuf"), NULL),
	    200);
	assert_int_equal(
	    tcp_status(
	        &sin, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL),
	    200);
	assert_int_equal(F.handler_calls, 6);
	/* A browser's request carries Origin, whatever else it sends. */
	assert_int_equal(tcp_status(&sin,
	                     "POST /events HTTP/1.1\r\nHost: 127.0.0.1:8339\r\n"
	                     "Origin: https://evil.example\r\nContent-Type: "
	                     "application/json\r\nContent-Length: 2\r\n\r\n{}",
	                     "origin: requests from web pages"),
	    403);
	assert_int_equal(tcp_status(&sin,
	                     "GET /stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	                     "Origin: null\r\n\r\n",
	                     "Origin"),
	    403);
	/* DNS rebinding: the attacker's name in Host. */
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("evil.example:8339", "application/json"),
	        "host: not a loopback name or address"),
	    421);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("10.0.0.1:8339", "application/json"),
	        "host: not a loopback"),
	    421);
	assert_int_equal(
	    tcp_status(&sin,
	        JSON_POST("localhost.evil.example", "application/json"),
	        "host: not a loopback"),
	    421);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("[::2]:80", "application/json"),
	        "host: not a loopback"),
	    421);
	assert_int_equal(
	    tcp_status(&sin, "GET /stats HTTP/1.1\r\n\r\n", "host: the Host"),
	    400);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("127.0.0.1:port", "application/json"),
	        "host: malformed"),
	    400);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("[::1:80", "application/json"),
	        "host: malformed"),
	    400);
	/* Content types a page can send without asking first. */
	assert_int_equal(tcp_status(&sin, JSON_POST("localhost", "text/plain"),
	                     "content-type: must be application/json"),
	    415);
	assert_int_equal(
	    tcp_status(&sin,
	        JSON_POST("localhost", "application/x-www-form-urlencoded"),
	        "content-type"),
	    415);
	assert_int_equal(
	    tcp_status(&sin, JSON_POST("localhost", "application/jsonp"),
	        "content-type"),
	    415);
	assert_int_equal(
	    tcp_status(&sin,
	        "PUT /events HTTP/1.1\r\nHost: localhost\r\nContent-Length: "
	        "2\r\n\r\n{}",
	        "content-type"),
	    415);
	assert_int_equal(F.handler_calls, 6);
	stats(&st);
	assert_int_equal(st.errors_4xx, 13);
	/* The Unix socket takes what it took before. */
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /events HTTP/1.1\r\nHost: evil.example\r\nOrigin: "
	    "https://evil.example\r\nContent-Type: text/plain\r\n"
	    "Content-Length: 2\r\n\r\n{}");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
}

static double
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec * 1000.0 + ru.ru_utime.tv_usec / 1000.0 +
	    ru.ru_stime.tv_sec * 1000.0 + ru.ru_stime.tv_usec / 1000.0;
}

/*
 * With no descriptor left, accept fails and the listening socket stays
 * readable: the server must pause, not spin, and serve once it can again.
 */
static void
test_accept_emfile(void **state)
{
	struct client first, second;
	struct resp rp;
	struct rlimit old, low;
	double cpu;
	int probe, rc;

	(void)state;
	srv_start(&default_limits);
	memset(&first, 0, sizeof(first));
	first.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(first.fd >= 0);
	http_parser_init(&first.p, HTTP_RESPONSE);
	probe = dup(0);
	assert_true(probe >= 0);
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(srv_connect(first.fd), 0);
	assert_int_equal(fcntl(first.fd, F_SETFL, O_NONBLOCK), 0);
	cl_sendstr(&first, "GET /first HTTP/1.1\r\n\r\n");
	cpu = cpu_ms();
	pump(300);
	cpu = cpu_ms() - cpu;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(cpu < 150.0);
	/*
	 * Served once descriptors are back. (Under valgrind, which emulates
	 * the limit, the kernel had accepted it and valgrind closed it.)
	 */
	rc = cl_read(&first, &rp, 0, WAIT_MS);
	if (rc == 0)
		assert_contains(rp.body.data, "\"path\": \"/first\"");
	else
		assert_int_equal(rc, -1);
	resp_free(&rp);
	cl_close(&first);
	cl_open(&second);
	get(&second, &rp, "/second");
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&second);
}

/*
 * Send req again and again without reading any reply, until the sockets
 * between client and server are full: nothing more went out for 200 ms
 * of loop time. Returns the bytes sent.
 */
static size_t
cl_fill(struct client *cl, const char *req)
{
	size_t len = strlen(req), off = 0, sent = 0;
	long quiet = now_ms(), deadline = now_ms() + WAIT_MS;
	ssize_t n;

	while (now_ms() - quiet < 200) {
		assert_true(now_ms() < deadline);
		n = send(
		    cl->fd, req + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			off = (off + (size_t)n) % len;
			sent += (size_t)n;
			quiet = now_ms();
			continue;
		}
		assert_true(n == -1 && errno == EAGAIN);
		pump(2);
	}
	return sent;
}

/*
 * A client that pipelines requests and reads no reply (issue 12, item 5):
 * while a reply waits for it, the server must not spin. libevent calls
 * the read callback again at once while the input is at its high
 * watermark and reading is on, so reading must stop.
 */
static void
test_no_spin_unread_reply(void **state)
{
	struct client cl;
	struct resp rp;
	size_t sent;
	double cpu;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	/* 4 MiB that the client never reads, then requests behind it. */
	cl_sendstr(&cl, "GET /big HTTP/1.1\r\n\r\n");
	sent = cl_fill(&cl, "GET /x HTTP/1.1\r\n\r\n");
	assert_true(sent > 0);
	cpu = cpu_ms();
	pump(300);
	cpu = cpu_ms() - cpu;
	print_message("pipelined %zu bytes behind an unread reply; loop CPU "
	              "%.0f ms in 300 ms\n",
	    sent, cpu);
	assert_true(cpu < 100.0);
	/* Reading resumes once the client reads. */
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.body.len, 4 * 1024 * 1024);
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/x\"");
	resp_free(&rp);
	cl_close(&cl);
}

/* The same while the handler holds a request (a slow spool commit). */
static void
test_no_spin_handler(void **state)
{
	struct client cl;
	struct resp rp;
	size_t sent;
	double cpu;

	(void)state;
	srv_start(&default_limits);
	F.defer_ms = 1500;
	cl_open(&cl);
	cl_sendstr(&cl, "GET /defer HTTP/1.1\r\n\r\n");
	sent = cl_fill(&cl, "GET /x HTTP/1.1\r\n\r\n");
	assert_int_equal(F.handler_calls, 1);
	cpu = cpu_ms();
	pump(300);
	cpu = cpu_ms() - cpu;
	print_message("pipelined %zu bytes behind a deferred reply; loop CPU "
	              "%.0f ms in 300 ms\n",
	    sent, cpu);
	assert_true(cpu < 100.0);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/defer\"");
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/x\"");
	resp_free(&rp);
	cl_close(&cl);
}

/*
 * At the cap, every connection in the middle of a request, a client
 * waiting (issue 12, item 6): the busy ones are retired, and the first to
 * finish its request gives its slot up with that reply.
 */
static void
test_retire_busy(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c;
	struct resp rp;
	struct httpd_stats st;
	long t0;

	(void)state;
	lim.max_conns = 2;
	lim.header_timeout_ms = WAIT_MS;
	lim.evict_busy_ms = 10 * WAIT_MS;
	srv_start(&lim);
	cl_open(&a);
	cl_open(&b);
	/* Each has been served, and has its next request under way. */
	get(&a, &rp, "/a1");
	resp_free(&rp);
	get(&b, &rp, "/b1");
	resp_free(&rp);
	cl_sendstr(&a, "GET /a2 HTTP/1.1\r\n");
	cl_sendstr(&b, "GET /b2 HTTP/1.1\r\n");
	pump(30);
	t0 = now_ms();
	cl_open(&c);
	cl_sendstr(&c, "GET /c HTTP/1.1\r\n\r\n");
	assert_int_equal(cl_read(&c, &rp, 0, 200), 1);
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.retired, 2);
	assert_int_equal(st.evicted, 0);
	/* a finishes its request: that reply is its last. */
	cl_sendstr(&a, "\r\n");
	cl_expect(&a, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/a2\"");
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	assert_true(cl_wait_eof(&a, WAIT_MS));
	cl_expect(&c, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/c\"");
	assert_string_equal(rp.connection, "");
	resp_free(&rp);
	print_message(
	    "the waiting client was answered after %ld ms\n", now_ms() - t0);
	/* b goes after its reply too; c, which got the slot, stays. */
	cl_sendstr(&b, "\r\n");
	cl_expect(&b, &rp, 0);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	get(&c, &rp, "/c2");
	assert_string_equal(rp.connection, "");
	resp_free(&rp);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
}

/*
 * At the cap, a client waiting, every connection trickling a request: the
 * request arriving longest is cut once it has taken evict_busy_ms (503,
 * Retry-After, closed), and the waiting client gets its slot at once.
 */
static void
test_cut_slow_request(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c;
	struct resp rp;
	struct httpd_stats st;
	long t0;

	(void)state;
	lim.max_conns = 2;
	lim.evict_busy_ms = 150;
	lim.header_timeout_ms = WAIT_MS;
	srv_start(&lim);
	cl_open(&a);
	cl_sendstr(&a, "GET /a HTTP/1.1\r\n");
	pump(50);
	cl_open(&b);
	cl_sendstr(&b, "GET /b HTTP/1.1\r\n");
	pump(20);
	t0 = now_ms();
	cl_open(&c);
	cl_sendstr(&c, "GET /c HTTP/1.1\r\n\r\n");
	cl_expect(&c, &rp, 0);
	assert_contains(rp.body.data, "\"path\": \"/c\"");
	resp_free(&rp);
	print_message(
	    "the waiting client was answered after %ld ms\n", now_ms() - t0);
	assert_true(now_ms() - t0 < 1000);
	/* a, whose request began first, was cut. */
	cl_expect(&a, &rp, 0);
	assert_int_equal(rp.status, 503);
	assert_string_equal(rp.retry_after, "1");
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "while other clients wait for a connection");
	resp_free(&rp);
	assert_true(cl_wait_eof(&a, WAIT_MS));
	/* b goes on; it was retired, so its reply is its last. */
	assert_false(cl_readable(&b));
	cl_sendstr(&b, "\r\n");
	cl_expect(&b, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_string_equal(rp.connection, "close");
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.cut, 1);
	assert_int_equal(F.handler_calls, 2);
	cl_close(&a);
	cl_close(&b);
	cl_close(&c);
}

/* The highest open descriptor of this process. */
static int
highest_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fd, highest = -1;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd != dirfd(d) && fd > highest)
			highest = fd;
	}
	closedir(d);
	return highest;
}

/*
 * Leave exactly `room` descriptors free: fill every gap below the highest
 * open one with /dev/null (their numbers go to fill, *n of them, at most
 * max) and set RLIMIT_NOFILE just above. *saved gets the old limit.
 */
static void
fds_leave(int room, struct rlimit *saved, int *fill, int *n, int max)
{
	struct rlimit low;
	int highest, fd, null;

	null = open("/dev/null", O_RDONLY);
	assert_true(null >= 0);
	fill[0] = null;
	*n = 1;
	highest = highest_fd();
	for (fd = 0; fd < highest; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		assert_true(*n < max);
		assert_int_equal(dup2(null, fd), fd);
		fill[(*n)++] = fd;
	}
	assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
	low = *saved;
	low.rlim_cur = (rlim_t)(highest + 1 + room);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
}

/*
 * A burst of new connections at the cap, each taking an idle one's slot
 * (issue 12, item 9): the idle ones' sockets must be closed as their
 * slots are given, or the listener, accepting in a loop, holds more
 * descriptors than the cap. With room for just one descriptor more than
 * the cap, no accept may fail.
 */
static void
test_evict_closes_at_once(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client old[4], fresh[4];
	struct resp rp;
	struct httpd_stats st;
	struct rlimit saved;
	int i, fill[256], nfill;

	(void)state;
	lim.max_conns = 4;
	lim.evict_idle_ms = 10;
	srv_start(&lim);
	for (i = 0; i < 4; i++)
		cl_open(&old[i]);
	pump(50);
	stats(&st);
	assert_int_equal(st.conns_open, 4);
	/* Four more wait in the backlog before the loop runs again. */
	for (i = 0; i < 4; i++)
		cl_open(&fresh[i]);
	fds_leave(1, &saved, fill, &nfill, 256);
	pump(100);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	stats(&st);
	print_message("4 idle connections replaced with one descriptor to "
	              "spare: %llu accept errors\n",
	    (unsigned long long)st.accept_errors);
	assert_int_equal(st.accept_errors, 0);
	assert_int_equal(st.evicted, 4);
	assert_int_equal(st.conns_open, 4);
	for (i = 0; i < 4; i++) {
		assert_true(cl_wait_eof(&old[i], WAIT_MS));
		get(&fresh[i], &rp, "/fresh");
		assert_int_equal(rp.status, 200);
		resp_free(&rp);
		cl_close(&old[i]);
		cl_close(&fresh[i]);
	}
}

/*
 * max_buffered bounds the bodies held at once over all connections (issue
 * 12, item 7): a body that would pass it is refused 503 with Retry-After
 * before it is read; a chunked one when it grows past it. Bodies count
 * until their reply.
 */
static void
test_body_budget(void **state)
{
	struct httpd_limits lim = default_limits;
	struct client a, b, c;
	struct resp rp;
	struct httpd_stats st;
	char body[4000], chunk[2100];

	(void)state;
	lim.max_buffered = 6000;
	srv_start(&lim);
	F.defer_ms = 300;
	memset(body, 'a', sizeof(body));
	cl_open(&a);
	cl_sendstr(&a, "POST /defer HTTP/1.1\r\nContent-Length: 4000\r\n\r\n");
	cl_send(&a, body, sizeof(body));
	pump(30);
	assert_int_equal(F.handler_calls, 1);
	stats(&st);
	assert_int_equal(st.body_bytes, 4000);
	/* 4000 + 3000 > 6000: refused from the headers, no 100 Continue. */
	cl_open(&b);
	cl_sendstr(&b,
	    "POST /b HTTP/1.1\r\nContent-Length: 3000\r\n"
	    "Expect: 100-continue\r\n\r\n");
	cl_expect(&b, &rp, 0);
	assert_int_equal(rp.status, 503);
	assert_string_equal(rp.retry_after, "1");
	assert_string_equal(rp.connection, "close");
	assert_error_body(&rp, "request bodies held at once would pass 6000");
	resp_free(&rp);
	assert_true(cl_wait_eof(&b, WAIT_MS));
	cl_close(&b);
	/* One that fits is read. */
	cl_open(&c);
	cl_sendstr(&c, "POST /c HTTP/1.1\r\nContent-Length: 2000\r\n\r\n");
	cl_send(&c, body, 2000);
	cl_expect(&c, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"body_len\": 2000");
	resp_free(&rp);
	/* A chunked body past the room left. */
	cl_sendstr(
	    &c, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
	memcpy(chunk, "7d0\r\n", 5);
	memset(chunk + 5, 'z', 2000);
	memcpy(chunk + 2005, "\r\n", 2);
	cl_send(&c, chunk, 2007);
	cl_send(&c, chunk, 2007);
	cl_expect(&c, &rp, 0);
	assert_int_equal(rp.status, 503);
	assert_string_equal(rp.retry_after, "1");
	resp_free(&rp);
	assert_true(cl_wait_eof(&c, WAIT_MS));
	cl_close(&c);
	stats(&st);
	assert_int_equal(st.over_budget, 2);
	/* a's reply gives its 4000 back; then the same request fits. */
	cl_expect(&a, &rp, 0);
	assert_contains(rp.body.data, "\"body_len\": 4000");
	resp_free(&rp);
	stats(&st);
	assert_int_equal(st.body_bytes, 0);
	cl_open(&b);
	cl_sendstr(&b, "POST /b HTTP/1.1\r\nContent-Length: 3000\r\n\r\n");
	cl_send(&b, body, 3000);
	cl_expect(&b, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	/* A client gone mid-body gives its share back too. */
	cl_sendstr(&b, "POST /b HTTP/1.1\r\nContent-Length: 3000\r\n\r\nab");
	pump(20);
	stats(&st);
	assert_int_equal(st.body_bytes, 3000);
	cl_close(&b);
	pump(20);
	stats(&st);
	assert_int_equal(st.body_bytes, 0);
	cl_close(&a);
}

/* One request on a new connection: the status (0: none), closing it. */
static int
one_status(const void *req, size_t len, const char *why)
{
	struct client cl;
	struct resp rp;
	int rc, status;

	cl_open(&cl);
	cl_send(&cl, req, len);
	rc = cl_read(&cl, &rp, 0, WAIT_MS);
	status = rc == 0 ? rp.status : 0;
	if (status >= 400)
		assert_error_body(&rp, why);
	resp_free(&rp);
	cl_close(&cl);
	return status;
}

#define STATUS_OF(req, why) one_status(req, sizeof(req) - 1, why)

/*
 * What http_parser lets by unless built strict (issue 12, item 15): the
 * request line must be METHOD SP TARGET SP HTTP/d.d CRLF, chunk data must
 * end with CRLF, a chunk size line is hex digits and extensions.
 */
static void
test_strict_http(void **state)
{
	(void)state;
	srv_start(&default_limits);
	/* Valid forms still pass. */
	assert_int_equal(STATUS_OF("GET / HTTP/1.1\r\n\r\n", NULL), 200);
	assert_int_equal(STATUS_OF("\r\nGET / HTTP/1.0\r\n\r\n", NULL), 200);
	assert_int_equal(
	    STATUS_OF("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "5;name=value\r\nhello\r\n3 ; x\r\nabc\r\n0\r\n\r\n",
	        NULL),
	    200);
	assert_int_equal(F.handler_calls, 3);
	/* The request line. */
	assert_int_equal(
	    STATUS_OF("GET / HTTX/1.1\r\n\r\n", "the version must be"), 400);
	assert_int_equal(
	    STATUS_OF("GET / HXXX/1.1\r\n\r\n", "the version must be"), 400);
	assert_int_equal(
	    STATUS_OF("GET / HTTPX1.1\r\n\r\n", "the version must be"), 400);
	assert_int_equal(
	    STATUS_OF("GET / H\r\n\r\n", "the version must be"), 400);
	assert_int_equal(
	    STATUS_OF("GET /\r\nHost: x\r\n\r\n", "METHOD TARGET HTTP"), 400);
	assert_int_equal(
	    STATUS_OF("GET  / HTTP/1.1\r\n\r\n", "METHOD TARGET HTTP"), 400);
	assert_int_equal(
	    STATUS_OF("GET / HTTP/1.1\n\n", "must end with CRLF"), 400);
	assert_int_equal(
	    STATUS_OF("GET / HTTP/2.0\r\n\r\n", "HTTP/2.0 is not supported"),
	    505);
	/* Chunk framing. */
	assert_int_equal(
	    STATUS_OF("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "5\r\nhelloXY0\r\n\r\n",
	        "chunk data must end with CRLF"),
	    400);
	assert_int_equal(
	    STATUS_OF("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "5\r\nhello\rX0\r\n\r\n",
	        "chunk data must end with CRLF"),
	    400);
	assert_int_equal(
	    STATUS_OF("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "5 junk\r\nhello\r\n0\r\n\r\n",
	        "bad chunked framing"),
	    400);
	assert_int_equal(
	    STATUS_OF("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	              "0\r\nX-Trailer: 1\nMore: 2\r\n\r\n",
	        "a trailer line must end with CRLF"),
	    400);
	assert_int_equal(F.handler_calls, 3);
}

/* The CRLF after chunk data checked when it arrives in another read. */
static void
test_strict_chunk_split(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello");
	pump(20);
	cl_sendstr(&cl, "\r");
	pump(20);
	cl_sendstr(&cl, "\n0\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	assert_contains(rp.body.data, "\"body_len\": 5");
	resp_free(&rp);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello");
	pump(20);
	cl_sendstr(&cl, "\r");
	pump(20);
	cl_sendstr(&cl, "X0\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 400);
	assert_error_body(&rp, "chunk data must end with CRLF");
	resp_free(&rp);
	cl_close(&cl);
}

/*
 * Trailers count against max_header with the request line and headers,
 * and the 431 names that limit (http_parser's own is 80K).
 */
static void
test_trailers_431(void **state)
{
	struct client cl;
	struct resp rp;
	char big[3000];
	size_t i;

	(void)state;
	srv_start(&default_limits);
	memset(big, 't', sizeof(big));
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nx\r\n0\r\nX-Big: ");
	cl_send(&cl, big, sizeof(big));
	cl_sendstr(&cl, "\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 431);
	assert_error_body(&rp, "headers: larger than 2048 bytes");
	resp_free(&rp);
	cl_close(&cl);
	/* 90 KB of trailers in many lines, sent in pieces. */
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nx\r\n0\r\n");
	for (i = 0; i < 90; i++) {
		if (cl_readable(&cl))
			break;
		cl_send(&cl, "X-T: ", 5);
		cl_send(&cl, big, 1000);
		cl_send(&cl, "\r\n", 2);
	}
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 431);
	assert_error_body(&rp, "headers: larger than 2048 bytes");
	resp_free(&rp);
	cl_close(&cl);
	/* Small trailers pass; headers + trailers at the limit pass too. */
	cl_open(&cl);
	cl_sendstr(&cl,
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "1\r\nx\r\n0\r\nA: b\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
	assert_int_equal(F.handler_calls, 1);
}

/* httpd.h: the body is NUL-terminated, an empty one too. */
static void
test_empty_body_nul(void **state)
{
	struct client cl;
	struct resp rp;

	(void)state;
	/* Fresh heap blocks come filled with a byte that is not NUL. */
	mallopt(M_PERTURB, 0x55);
	srv_start(&default_limits);
	cl_open(&cl);
	cl_sendstr(&cl, "POST /nulcheck HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_sendstr(&cl,
	    "POST /nulcheck HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
	    "POST /nulcheck HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
	    "GET /nulcheck HTTP/1.1\r\n\r\n");
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_expect(&cl, &rp, 0);
	assert_int_equal(rp.status, 200);
	resp_free(&rp);
	cl_close(&cl);
	mallopt(M_PERTURB, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_get_post, teardown),
	    cmocka_unit_test_teardown(test_handler_replies, teardown),
	    cmocka_unit_test_teardown(test_keepalive, teardown),
	    cmocka_unit_test_teardown(test_pipelined, teardown),
	    cmocka_unit_test_teardown(test_pipelined_deferred, teardown),
	    cmocka_unit_test_teardown(test_deferred, teardown),
	    cmocka_unit_test_teardown(test_413_content_length, teardown),
	    cmocka_unit_test_teardown(test_413_chunked, teardown),
	    cmocka_unit_test_teardown(test_431, teardown),
	    cmocka_unit_test_teardown(test_400_garbage, teardown),
	    cmocka_unit_test_teardown(test_408_header_trickle, teardown),
	    cmocka_unit_test_teardown(test_408_body, teardown),
	    cmocka_unit_test_teardown(test_idle_close, teardown),
	    cmocka_unit_test_teardown(test_write_timeout, teardown),
	    cmocka_unit_test_teardown(test_max_conns, teardown),
	    cmocka_unit_test_teardown(test_max_conns_evict_idle, teardown),
	    cmocka_unit_test_teardown(test_max_conns_unread_kept, teardown),
	    cmocka_unit_test_teardown(test_peers, teardown),
	    cmocka_unit_test_teardown(test_disconnect_deferred, teardown),
	    cmocka_unit_test_teardown(test_reset_deferred, teardown),
	    cmocka_unit_test_teardown(test_expect_continue, teardown),
	    cmocka_unit_test_teardown(test_head, teardown),
	    cmocka_unit_test_teardown(test_http10, teardown),
	    cmocka_unit_test_teardown(test_half_close, teardown),
	    cmocka_unit_test_teardown(test_peer_uid, teardown),
	    cmocka_unit_test_teardown(test_drain, teardown),
	    cmocka_unit_test_teardown(test_accept_emfile, teardown),
	    cmocka_unit_test_teardown(test_big_reply, teardown),
	    cmocka_unit_test_teardown(test_large_body, teardown),
	    cmocka_unit_test_teardown(test_free_pending, teardown),
	    cmocka_unit_test_teardown(test_drain_in_handler, teardown),
	    cmocka_unit_test_teardown(test_tcp, teardown),
	    cmocka_unit_test_teardown(test_tcp_guard, teardown),
	    cmocka_unit_test_teardown(test_no_spin_unread_reply, teardown),
	    cmocka_unit_test_teardown(test_no_spin_handler, teardown),
	    cmocka_unit_test_teardown(test_retire_busy, teardown),
	    cmocka_unit_test_teardown(test_cut_slow_request, teardown),
	    cmocka_unit_test_teardown(test_evict_closes_at_once, teardown),
	    cmocka_unit_test_teardown(test_body_budget, teardown),
	    cmocka_unit_test_teardown(test_strict_http, teardown),
	    cmocka_unit_test_teardown(test_strict_chunk_split, teardown),
	    cmocka_unit_test_teardown(test_trailers_431, teardown),
	    cmocka_unit_test_teardown(test_empty_body_nul, teardown),
	};

	/* The bufferevent's own writev(2) to a vanished client. */
	signal(SIGPIPE, SIG_IGN);
	log_init(
	    "test_httpd", getenv("TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
	alarm(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
