/* fuzz_httpd.c: libFuzzer target for the HTTP server, driven in-process
 * through its real accept path, with split reads, pipelining, half-closes
 * and deferred replies. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>
#include <http_parser.h>

#include "common/buf.h"
#include "common/log.h"
#include "daemon/httpd.h"

/*
 * Each input is a script for a fresh httpd on a fresh event loop, its
 * listener an abstract Unix socket (accepted as the daemon accepts). Byte
 * 0 holds flags: bit 0 registers the listener as TCP (is_unix 0), so that
 * the checks for browsers run (the Host, Origin and Content-Type rules);
 * bit 1 starts the handler deferring its replies. Then come steps, one
 * byte each:
 *
 *   1..OP_DATA_MAX   the next that many bytes are sent by the current
 *                    client; the loop runs after each step, so the
 *                    server reads them as sent: split reads, pipelining
 *   OP_DRAIN (0)     httpd_drain, as at SIGTERM
 *   OP_PUMP          the loop runs more
 *   OP_REPLY         the deferred requests are answered
 *   OP_READ          the current client reads what has arrived
 *   OP_SHUT          the current client half-closes (SHUT_WR)
 *   OP_CLOSE         the current client reads, then closes (a reset when
 *                    a reply is unread): its requests may die deferred
 *   OP_NEXT          a new client connects and becomes current (at most
 *                    MAX_CLIENTS; past max_conns it waits in the backlog)
 *   OP_SWITCH        the next client becomes current
 *   OP_DEFER         the handler's defer mode flips
 *
 * The handler answers "/big" with BIG_REPLY bytes (the client is slow to
 * read them), "/err" with an error of its own, "/hdr" with long extra
 * headers, anything else with a short echo; each of its replies carries
 * "X-Seq: N", N counting requests from 0. At the end every deferred
 * request is answered and the loop runs until no client receives more.
 *
 * Then what each client received must be, per http_parser and beyond: a
 * sequence of complete HTTP/1.1 responses with no parser error, ending
 * where a response ends (unless the client closed early); each final
 * response with a Content-Length its body matches (a reply to HEAD has
 * none); interim responses only "100 Continue"; the handler's replies in
 * the order of their requests, never twice; an answer from httpd itself
 * (no X-Seq) only a 4xx or 5xx with the JSON error body and
 * "Connection: close"; nothing after a response with "Connection:
 * close", and the connection then closed by the server. Unless a client
 * closed early, every request the handler saw was answered exactly once.
 * Any violation aborts, which libFuzzer reports as a crash.
 */

#define MAX_CLIENTS 5
#define MAX_SEQ 16384
#define BIG_REPLY (100 * 1024)
#define OP_DRAIN 0
#define OP_DATA_MAX 246
#define OP_PUMP 247
#define OP_REPLY 248
#define OP_READ 249
#define OP_SHUT 250
#define OP_CLOSE 251
#define OP_NEXT 252
#define OP_SWITCH 253
#define OP_DEFER 254
/* 255: reserved, a no-op */

struct client {
	int fd;
	int shut;   /* half-closed */
	int closed; /* closed by us before the end */
	int eof;    /* the server closed */
	struct buf in;
};

static struct {
	struct event_base *base;
	struct httpd *h;
	struct client cl[MAX_CLIENTS];
	int ncl, cur;
	int defer;
	int early_close; /* a client closed before the end */
	struct httpd_req *pending[MAX_SEQ];
	unsigned pending_seq[MAX_SEQ];
	size_t npending;
	unsigned seq;                /* requests the handler saw */
	unsigned char head[MAX_SEQ]; /* seq was a HEAD */
	unsigned char seen[MAX_SEQ]; /* seq was answered to a client */
	struct sockaddr_un sun;
	socklen_t sunlen;
	char *big;
} F;

static void __attribute__((noreturn))
violated(const char *what, const struct client *c)
{
	fprintf(stderr, "fuzz_httpd: invariant violated: %s\n", what);
	if (c != NULL && c->in.data != NULL)
		fprintf(stderr, "fuzz_httpd: the client received:\n%.3000s\n",
		    c->in.data);
	abort();
}

static void
reply(struct httpd_req *r, unsigned seq)
{
	const char *path = httpd_req_path(r);
	char hdr[64], body[64], extra[800];
	size_t blen;
	int n;

	(void)httpd_req_body(r, &blen);
	snprintf(hdr, sizeof(hdr), "X-Seq: %u\r\n", seq);
	if (strcmp(path, "/big") == 0) {
		httpd_reply(r, 200, "text/plain", hdr, F.big, BIG_REPLY);
	} else if (strcmp(path, "/err") == 0) {
		httpd_reply_error_hdrs(
		    r, 404, hdr, "path: \"/err\" \x01 unknown");
	} else if (strcmp(path, "/hdr") == 0) {
		n = snprintf(extra, sizeof(extra), "%sX-Long: ", hdr);
		memset(extra + n, 'L', 600);
		memcpy(extra + n + 600, "\r\n", 3);
		httpd_reply(r, 299, NULL, extra, "{}", 2);
	} else {
		n = snprintf(body, sizeof(body), "{\"seq\": %u, \"len\": %zu}",
		    seq, blen);
		httpd_reply(r, 200, NULL, hdr, body, (size_t)n);
	}
}

static void
handler(struct httpd_req *r, void *arg)
{
	unsigned seq = F.seq++;

	(void)arg;
	if (seq >= MAX_SEQ)
		violated("fewer requests than MAX_SEQ", NULL);
	F.head[seq] = httpd_req_method(r) == HTTPD_HEAD;
	if (F.defer) {
		F.pending[F.npending] = r;
		F.pending_seq[F.npending++] = seq;
		return;
	}
	reply(r, seq);
}

static void
reply_pending(void)
{
	size_t i, n = F.npending;

	/* Replies run no handler now, but keep the list stable anyway. */
	F.npending = 0;
	for (i = 0; i < n; i++)
		reply(F.pending[i], F.pending_seq[i]);
}

static void
on_idle(void *arg)
{
	(void)arg;
}

/* Run the loop a few turns without blocking. */
static void
pump(void)
{
	int i;

	for (i = 0; i < 4; i++)
		event_base_loop(F.base, EVLOOP_NONBLOCK);
}

/* Read what has arrived for c; the number of bytes, or 0. */
static size_t
cl_read(struct client *c)
{
	char tmp[65536];
	size_t got = 0;
	ssize_t n;

	if (c->fd < 0 || c->eof)
		return 0;
	for (;;) {
		n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			if (buf_add(&c->in, tmp, (size_t)n) == -1)
				violated(
				    "memory for what a client received", NULL);
			got += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = 1;
		return got;
	}
}

static void
cl_send(struct client *c, const uint8_t *p, size_t len)
{
	int tries = 0;
	ssize_t n;

	if (c->fd < 0 || c->shut)
		return;
	while (len > 0 && tries < 64) {
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return;
		/* Full: read, so that the server can write and read again. */
		tries++;
		(void)cl_read(c);
		pump();
	}
}

static void
cl_new(void)
{
	struct client *c;
	int fd;

	if (F.ncl == MAX_CLIENTS)
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	/* Refused after httpd_drain, or with a full backlog. */
	if (connect(fd, (struct sockaddr *)&F.sun, F.sunlen) == -1) {
		close(fd);
		return;
	}
	c = &F.cl[F.ncl];
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	buf_init(&c->in);
	F.cur = F.ncl++;
}

/* What one response of a client looks like so far. */
struct resp {
	const struct client *c;
	int in_msg;
	int hdrs_done;  /* of the response in progress */
	int close_seen; /* an earlier response said Connection: close */
	int hstate;     /* 1: in a name, 2: in a value */
	struct buf name, value;
	long xseq;
	int conn_close;
	int has_length;
	unsigned status;
	long last_seq;
	struct buf body;
};

static void
resp_header(struct resp *rp)
{
	const char *v = rp->value.data != NULL ? rp->value.data : "";
	char *end;

	if (rp->name.data == NULL)
		return;
	if (strcasecmp(rp->name.data, "X-Seq") == 0) {
		rp->xseq = strtol(v, &end, 10);
		if (*end != '\0' || rp->xseq < 0 || rp->xseq >= (long)F.seq)
			violated(
			    "X-Seq names a request the handler saw", rp->c);
	} else if (strcasecmp(rp->name.data, "Connection") == 0) {
		if (strcasecmp(v, "close") == 0)
			rp->conn_close = 1;
	} else if (strcasecmp(rp->name.data, "Content-Length") == 0) {
		rp->has_length = 1;
	}
	buf_reset(&rp->name);
	buf_reset(&rp->value);
}

static int
rp_begin(http_parser *p)
{
	struct resp *rp = p->data;

	if (rp->close_seen)
		violated("nothing follows a response that says Connection: "
		         "close",
		    rp->c);
	rp->in_msg = 1;
	rp->hdrs_done = 0;
	rp->hstate = 0;
	rp->xseq = -1;
	rp->conn_close = 0;
	rp->has_length = 0;
	buf_reset(&rp->body);
	return 0;
}

static int
rp_field(http_parser *p, const char *at, size_t len)
{
	struct resp *rp = p->data;

	if (rp->hstate == 2)
		resp_header(rp);
	rp->hstate = 1;
	return buf_add(&rp->name, at, len);
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
		resp_header(rp);
	rp->hdrs_done = 1;
	rp->status = p->status_code;
	if (p->http_major != 1 || p->http_minor != 1)
		violated("responses are HTTP/1.1", rp->c);
	if (rp->status < 200) {
		if (rp->status != 100 || rp->xseq != -1)
			violated(
			    "the only interim response is 100 Continue", rp->c);
		return 0;
	}
	if (!rp->has_length)
		violated("a final response has a Content-Length", rp->c);
	/* A reply to HEAD has none of the body its length announces. */
	return rp->xseq >= 0 && F.head[rp->xseq] ? 1 : 0;
}

static int
rp_body(http_parser *p, const char *at, size_t len)
{
	struct resp *rp = p->data;

	/* Only the start of a body is looked at. */
	if (rp->body.len < 4096)
		return buf_add(&rp->body, at, len);
	return 0;
}

static int
rp_complete(http_parser *p)
{
	static const char pre[] = "{\"success\": false, \"error\": \"";
	struct resp *rp = p->data;
	const struct buf *b = &rp->body;

	rp->in_msg = 0;
	if (rp->status < 200)
		return 0;
	if (rp->xseq >= 0) {
		if (rp->xseq <= rp->last_seq)
			violated("replies come in the order of their requests",
			    rp->c);
		if (F.seen[rp->xseq])
			violated("a request is answered once", rp->c);
		F.seen[rp->xseq] = 1;
		rp->last_seq = rp->xseq;
	} else {
		if (rp->status < 400)
			violated(
			    "httpd answers by itself only 4xx and 5xx", rp->c);
		if (!rp->conn_close)
			violated("an answer of httpd's own closes the "
			         "connection",
			    rp->c);
		if (b->len < sizeof(pre) + 1 ||
		    memcmp(b->data, pre, sizeof(pre) - 1) != 0 ||
		    memcmp(b->data + b->len - 2, "\"}", 2) != 0)
			violated("an error of httpd's own has the JSON error "
			         "body",
			    rp->c);
	}
	if (rp->conn_close)
		rp->close_seen = 1;
	return 0;
}

static const http_parser_settings resp_settings = {
    .on_message_begin = rp_begin,
    .on_header_field = rp_field,
    .on_header_value = rp_value,
    .on_headers_complete = rp_headers_complete,
    .on_body = rp_body,
    .on_message_complete = rp_complete,
};

static void
check_client(const struct client *c)
{
	http_parser p;
	struct resp rp;
	size_t n;

	memset(&rp, 0, sizeof(rp));
	rp.c = c;
	rp.last_seq = -1;
	buf_init(&rp.name);
	buf_init(&rp.value);
	buf_init(&rp.body);
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &rp;
	n = http_parser_execute(&p, &resp_settings,
	    c->in.data != NULL ? c->in.data : "", c->in.len);
	if (HTTP_PARSER_ERRNO(&p) != HPE_OK || n != c->in.len) {
		fprintf(stderr, "fuzz_httpd: %s at byte %zu\n",
		    http_errno_description(HTTP_PARSER_ERRNO(&p)), n);
		violated("what a client receives parses as HTTP responses", c);
	}
	/*
	 * httpd's own error answering a HEAD (a refusal after its headers)
	 * rightly has no body, which only the client that sent it knows.
	 */
	if (!c->closed && rp.in_msg &&
	    !(rp.hdrs_done && rp.xseq == -1 && rp.conn_close &&
	        rp.status >= 400 && rp.body.len == 0))
		violated("the stream ends where a response ends", c);
	if (!c->closed && rp.close_seen && !c->eof)
		violated("after Connection: close the server closes", c);
	buf_free(&rp.name);
	buf_free(&rp.value);
	buf_free(&rp.body);
}

static int
setup(int as_tcp)
{
	static unsigned counter;
	static const struct httpd_limits lim = {
	    .max_body = 8192,
	    .max_header = 1024,
	    .max_buffered = 12000,
	    .max_conns = 3,
	    /* No timer may fire within an input: the run is deterministic. */
	    .evict_idle_ms = 60000,
	    .evict_busy_ms = 60000,
	    .header_timeout_ms = 60000,
	    .body_timeout_ms = 60000,
	    .idle_timeout_ms = 60000,
	    .write_timeout_ms = 60000,
	};
	int fd;

	memset(&F.sun, 0, sizeof(F.sun));
	F.sun.sun_family = AF_UNIX;
	/* Abstract: nothing on disk, gone with the socket. */
	snprintf(F.sun.sun_path + 1, sizeof(F.sun.sun_path) - 1,
	    "fuzz_httpd.%ld.%u", (long)getpid(), counter++);
	F.sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
	    strlen(F.sun.sun_path + 1));
	if ((F.base = event_base_new()) == NULL)
		return -1;
	if ((F.h = httpd_new(F.base, &lim, handler, NULL)) == NULL)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || bind(fd, (struct sockaddr *)&F.sun, F.sunlen) == -1 ||
	    listen(fd, 8) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return httpd_listen_fd(F.h, fd, !as_tcp);
}

static void
teardown(void)
{
	int i;

	if (F.h != NULL)
		httpd_free(F.h);
	for (i = 0; i < F.ncl; i++) {
		if (F.cl[i].fd >= 0)
			close(F.cl[i].fd);
		buf_free(&F.cl[i].in);
	}
	if (F.base != NULL)
		event_base_free(F.base);
	F.h = NULL;
	F.base = NULL;
}

/* At the end: answer everything, read until nothing more comes. */
static void
settle(void)
{
	int i, quiet = 0, rounds;
	size_t got;

	F.defer = 0;
	for (rounds = 0; rounds < 500 && quiet < 3; rounds++) {
		reply_pending();
		pump();
		got = 0;
		for (i = 0; i < F.ncl; i++)
			got += cl_read(&F.cl[i]);
		quiet = got == 0 && F.npending == 0 ? quiet + 1 : 0;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The bufferevent's own writev(2) to a closed client. */
	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_httpd", LOG_LVL_ERROR);
	if ((F.big = malloc(BIG_REPLY)) == NULL)
		abort();
	memset(F.big, 'b', BIG_REPLY);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct client *c;
	size_t i = 1, n;
	unsigned seq;
	int k;

	if (len < 1)
		return 0;
	F.ncl = 0;
	F.cur = 0;
	F.npending = 0;
	F.seq = 0;
	F.early_close = 0;
	F.defer = (in[0] & 2) != 0;
	memset(F.seen, 0, sizeof(F.seen));
	if (setup(in[0] & 1) == -1) {
		teardown();
		return 0;
	}
	cl_new();
	while (i < len) {
		unsigned op = in[i++];

		c = F.ncl > 0 ? &F.cl[F.cur] : NULL;
		if (op >= 1 && op <= OP_DATA_MAX) {
			n = op < len - i ? op : len - i;
			if (c != NULL)
				cl_send(c, in + i, n);
			i += n;
		} else if (op == OP_DRAIN) {
			httpd_drain(F.h, on_idle, NULL);
		} else if (op == OP_REPLY) {
			reply_pending();
		} else if (op == OP_READ && c != NULL) {
			(void)cl_read(c);
		} else if (op == OP_SHUT && c != NULL && !c->shut &&
		    c->fd >= 0) {
			shutdown(c->fd, SHUT_WR);
			c->shut = 1;
		} else if (op == OP_CLOSE && c != NULL && c->fd >= 0) {
			(void)cl_read(c);
			close(c->fd);
			c->fd = -1;
			c->closed = 1;
			F.early_close = 1;
		} else if (op == OP_NEXT) {
			cl_new();
		} else if (op == OP_SWITCH && F.ncl > 0) {
			F.cur = (F.cur + 1) % F.ncl;
		} else if (op == OP_DEFER) {
			F.defer = !F.defer;
		}
		pump();
	}
	settle();
	for (k = 0; k < F.ncl; k++)
		check_client(&F.cl[k]);
	if (!F.early_close) {
		for (seq = 0; seq < F.seq; seq++) {
			if (!F.seen[seq])
				violated("every request the handler saw is "
				         "answered",
				    NULL);
		}
	}
	teardown();
	return 0;
}
