/* httpd.c: a small HTTP/1.1 server on bufferevents, with hard limits. */
#include "daemon/httpd.h"

#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <http_parser.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"

/*
 * How a connection moves: IDLE (keep-alive, nothing received) -> HEADER
 * (first byte seen) -> BODY (headers accepted) -> HANDLER (request with the
 * handler; nothing parsed, no timer) -> IDLE again, or WRITE when the reply
 * must leave before anything else happens (closing, or the client reads too
 * slowly). LINGER follows an error reply: our side is shut for writing and
 * input is discarded for a moment, so that closing with unread input does
 * not reset the connection before the client has read why.
 *
 * One timer per connection is re-armed at each phase change, so a client
 * sending a byte a second cannot stretch a phase. A timeout of 0 means none;
 * max_conns 0 means no cap.
 *
 * At max_conns, a new connection takes the place of the one that has been
 * IDLE longest (no request in progress, no reply queued), as nginx reuses
 * its keep-alive connections: otherwise clients that connect and send
 * nothing would hold every slot until idle_timeout while real requests
 * wait in the backlog. Only a connection idle for evict_idle_ms or more,
 * with nothing unread in its socket, is taken: one accepted in the
 * same burst has time to send its request, a request the loop has not
 * read yet is never dropped, and an active keep-alive client keeps its
 * connection. When none qualifies, accepting stops until one does or a
 * slot frees. Connections in the middle of a request are never dropped:
 * those are bounded by header_timeout and body_timeout. But a client
 * that trickles valid requests and starts the next at once is never idle,
 * so while accepting is stopped a timer looks every HTTPD_WAIT_POLL_MS
 * for clients waiting in a listener's backlog, and when one waits it
 * retires every connection: each closes after its next reply, which says
 * "Connection: close". Under that pressure each connection serves one
 * request per turn, and the first freed slot goes to the one waiting
 * longest (the backlog is FIFO). A request that has been arriving for
 * evict_busy_ms or more is not waited for: at each look the oldest such
 * is answered 503 with Retry-After and closed at once (a local client
 * sends a request in milliseconds; one that trickles it holds a slot
 * that a waiting client needs). So nobody waits much longer than
 * evict_busy_ms for a slot.
 *
 * A connection's socket is closed by conn_close_socket at once: libevent's
 * own close (BEV_OPT_CLOSE_ON_FREE) runs on a later loop turn, and the
 * listener, which accepts in a loop, would meanwhile take more
 * descriptors than the cap, up to EMFILE for everything else.
 *
 * Reading stops whenever nothing would be parsed: while a reply waits
 * for a slow client (WRITE), and in HANDLER once HTTPD_INPUT_MAX of
 * pipelined input is buffered. libevent calls the read callback again at
 * once while the input is at its high watermark and reading is on, so a
 * connection that cannot consume would spin the loop.
 *
 * Request bodies held at once are bounded over all connections by
 * max_buffered: a body that would pass it is refused 503 with Retry-After
 * before it is read (or, chunked, when it grows past it). Each connection
 * also holds at most HTTPD_INPUT_MAX of unparsed input and
 * HTTPD_KEEP_BUF of buffers kept for its next request.
 *
 * Strictness beyond http_parser, which is lenient where it is not built
 * with HTTP_PARSER_STRICT: the request line must be METHOD SP TARGET SP
 * HTTP/d.d CRLF (no "HTTX/1.1", no line without a version), chunk data
 * must end with CRLF, chunk sizes and extensions follow RFC 9112, and
 * trailers count against max_header with the request line and headers.
 * Both are checked over the bytes the parser consumed (scan_head,
 * scan_chunked), after each http_parser_execute.
 *
 * Peers of a Unix listener may be restricted by uid and gid
 * (httpd_set_peers). The check is made once, at accept; a refused peer's
 * first request is answered 403 before its body is read, then closed.
 *
 * Writing: a reply goes out with one sendmsg(2) (MSG_NOSIGNAL) straight from
 * the stack header and the caller's body when nothing is queued, which
 * is nearly always; the bufferevent writes what does not fit. Its own
 * writev(2) can raise SIGPIPE, so the program must ignore SIGPIPE.
 *
 * Frees happen only from libevent callbacks at the top of the stack (read,
 * write, event, timer), from httpd_drain and from httpd_free; code running
 * under the handler (httpd_reply) schedules instead, with deferred
 * bufferevent callbacks.
 */

/* Bytes per read(2): large bodies arrive in fewer loop turns. */
#define HTTPD_READ_MAX (128 * 1024)
/*
 * Unparsed input a connection holds at most (the read high watermark):
 * pipelined requests beyond it wait in the socket.
 */
#define HTTPD_INPUT_MAX HTTPD_READ_MAX
/* Queued reply bytes above which a connection stops parsing until drained. */
#define HTTPD_OUT_HIGH (64 * 1024)
/* Per-connection buffers grown past this are freed after each request. */
#define HTTPD_KEEP_BUF (64 * 1024)
/* How often, at the cap, the backlog is looked at for waiting clients. */
#define HTTPD_WAIT_POLL_MS 20
/* The default of evict_busy_ms. */
#define HTTPD_EVICT_BUSY_MS 200
/* Retry-After of a body refused for max_buffered, in seconds. */
#define HTTPD_BUDGET_RETRY "1"
/* Accepting pauses this long after accept(2) fails (EMFILE, ENFILE...). */
#define HTTPD_ACCEPT_PAUSE_MS 100
/* How long input is discarded after an error reply before closing. */
#define HTTPD_LINGER_MS 2000
/* The default of evict_idle_ms. */
#define HTTPD_EVICT_AGE_MS 20
/* How many IDLE connections with unread input are passed over in a search. */
#define HTTPD_EVICT_SCAN 8
/* Supplementary groups of a peer read without a heap allocation. */
#define HTTPD_PEER_GROUPS 64
/* At most one log line a second about refused peers. */
#define HTTPD_REFUSE_LOG_MS 1000

enum conn_phase {
	PH_IDLE,
	PH_HEADER,
	PH_BODY,
	PH_HANDLER,
	PH_WRITE,
	PH_LINGER,
};

/* Which header callback ran last, to join the pieces of split names/values. */
enum hdr_state {
	HS_NONE,
	HS_FIELD,
	HS_VALUE,
};

/* Where scan_head is in a request line. */
enum rl_state {
	RL_START, /* empty lines may come first (RFC 9112 2.2) */
	RL_METHOD,
	RL_TARGET_START,
	RL_TARGET,
	RL_VERSION, /* "HTTP/d.d", rl_i bytes of it seen */
	RL_CR,
	RL_LF,
	RL_DONE,
};

/* Where scan_chunked is in a chunked body (RFC 9112 7.1). */
enum ck_state {
	CK_SIZE_START, /* the first hex digit of a chunk size */
	CK_SIZE,
	CK_BWS,     /* white space after the size, before ';' */
	CK_EXT,     /* ';' seen: extensions up to CR */
	CK_SIZE_LF, /* CR seen after the size line */
	CK_DATA,    /* ck_left bytes of data to come */
	CK_DATA_CR, /* the CR after the data */
	CK_DATA_LF, /* the LF after the data */
	CK_TRAILER, /* at the start of a trailer line, or the final CRLF */
	CK_TRAILER_LINE,
	CK_TRAILER_LF,
	CK_END_LF, /* the LF of the final CRLF */
	CK_DONE,
};

struct httpd_conn;

struct httpd_req {
	struct httpd_conn *conn;
	enum httpd_method method;
	int head;
	int keepalive;
	int http10;
	int pending; /* the handler owes a reply */
	uid_t uid;
	gid_t gid;
	struct buf url;  /* the path once the headers are in */
	size_t query;    /* offset of the query in url.data; 0: none */
	struct buf hdrs; /* "name\0value\0" pairs */
	struct buf body;
};

struct httpd_conn {
	struct httpd *h;
	struct bufferevent *bev; /* NULL once dead */
	struct event *timer;
	http_parser parser;
	struct httpd_req req;
	enum conn_phase phase;
	enum hdr_state hstate;
	size_t hdr_bytes; /* request line and headers so far */
	size_t val_start; /* offset of the current value in req.hdrs */
	int err_status;   /* set by a parser callback that stops parsing */
	const char *err_msg;
	size_t charged;           /* body bytes counted in h->buffered */
	enum rl_state rl;         /* request line check */
	unsigned rl_i;            /* bytes of "HTTP/d.d" seen */
	enum ck_state ck;         /* chunked framing check */
	uint64_t ck_left;         /* chunk data bytes to come */
	unsigned ck_digits;       /* of the chunk size */
	unsigned got_hdrs : 1;    /* on_headers_complete ran */
	unsigned got_msg : 1;     /* on_message_complete ran */
	unsigned in_parse : 1;    /* conn_parse is on the stack */
	unsigned writing : 1;     /* output queued, EV_WRITE enabled */
	unsigned broken : 1;      /* a write failed */
	unsigned rd_eof : 1;      /* the client will send nothing more */
	unsigned close_after : 1; /* close once the output is written */
	unsigned linger : 1;      /* and linger first (error replies) */
	unsigned dead : 1;        /* socket gone, request with the handler */
	unsigned in_idle : 1;     /* on h->idle */
	unsigned refused : 1;     /* the peer is not allowed: 403, close */
	uint64_t req_since;       /* monotonic ms, the request's first byte */
	unsigned reading : 1;     /* EV_READ enabled */
	unsigned retire : 1;      /* close after the next reply */
	unsigned tcp : 1;         /* from a TCP listener: browser checks */
	unsigned any_ip : 1;      /* ...bound to a non-loopback address */
	unsigned chunked : 1;     /* the body is chunked: scan_chunked */
	unsigned skip_lf : 1;     /* the LF before the body is re-read */
	uint64_t idle_since;      /* monotonic ms, when it joined h->idle */
	TAILQ_ENTRY(httpd_conn) entry;
	TAILQ_ENTRY(httpd_conn) idle_entry;
};

TAILQ_HEAD(conn_list, httpd_conn);

struct httpd_listener {
	struct httpd *h;
	struct evconnlistener *lev;
	int is_unix;
	int any_ip; /* TCP, bound to an address that is not loopback */
	LIST_ENTRY(httpd_listener) entry;
};

LIST_HEAD(listener_list, httpd_listener);

struct httpd {
	struct event_base *base;
	struct httpd_limits lim;
	httpd_handler_fn *handler;
	void *arg;
	struct timeval tv[5];
	const struct timeval *tv_idle, *tv_header, *tv_body, *tv_write;
	const struct timeval *tv_linger;
	struct listener_list listeners;
	struct conn_list conns;   /* every connection with a socket */
	struct conn_list zombies; /* dead, waiting for httpd_reply */
	struct conn_list idle;    /* IDLE with nothing queued, oldest first */
	struct event *accept_ev;  /* ends an accept pause */
	struct event *evict_ev;   /* when the oldest IDLE one may be evicted */
	struct event *busy_ev;    /* at the cap: does a client wait? */
	struct event *idle_ev;    /* runs on_idle */
	struct buf scratch;       /* error bodies */
	struct buf hdrbuf;        /* the reply headers being sent */
	int accepting;
	int accept_paused;
	int accept_warned;
	int stopped;
	int draining;
	int idle_done;
	void (*on_idle)(void *arg);
	void *idle_arg;
	id_t *uids, *gids; /* allowed peers; none of either: anyone */
	size_t nuids, ngids;
	size_t buffered;        /* bodies counted against max_buffered */
	uint64_t refuse_log_ms; /* when a refusal was last logged */
	unsigned refuse_quiet;  /* refusals not logged since */
	struct httpd_stats st;
};

static int on_message_begin(http_parser *);
static int on_url(http_parser *, const char *, size_t);
static int on_header_field(http_parser *, const char *, size_t);
static int on_header_value(http_parser *, const char *, size_t);
static int on_headers_complete(http_parser *);
static int on_body(http_parser *, const char *, size_t);
static int on_message_complete(http_parser *);
static void conn_parse_error(
    struct httpd_conn *c, enum http_errno e, int status);

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static const struct timeval *
httpd_timeout(struct httpd *h, int i, unsigned ms)
{
	const struct timeval *common;

	if (ms == 0)
		return NULL;
	h->tv[i].tv_sec = ms / 1000;
	h->tv[i].tv_usec = (ms % 1000) * 1000;
	/* Equal durations share a queue: O(1) re-arming per phase change. */
	common = event_base_init_common_timeout(h->base, &h->tv[i]);
	return common != NULL ? common : &h->tv[i];
}

static int
httpd_at_cap(const struct httpd *h)
{
	return h->lim.max_conns != 0 && h->st.conns_open >= h->lim.max_conns;
}

/*
 * The connection to close for a new one at the cap: the one IDLE longest,
 * if that is evict_idle_ms or more and nothing it sent waits unread
 * (a request the loop has not reached yet is not idleness). NULL when none
 * qualifies; *wait_ms is then how long until the oldest is old enough, or
 * 0 when waiting for age will not help.
 */
static struct httpd_conn *
httpd_victim(struct httpd *h, uint64_t *wait_ms)
{
	struct httpd_conn *c;
	uint64_t now = clock_mono_ms();
	int unread, scanned = 0;

	*wait_ms = 0;
	TAILQ_FOREACH(c, &h->idle, idle_entry) {
		if (now - c->idle_since < h->lim.evict_idle_ms) {
			*wait_ms = h->lim.evict_idle_ms - (now - c->idle_since);
			return NULL;
		}
		if (scanned++ == HTTPD_EVICT_SCAN)
			return NULL;
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
		    ioctl(bufferevent_getfd(c->bev), FIONREAD, &unread) == 0 &&
		    unread == 0)
			return c;
	}
	return NULL;
}

/*
 * Accept when allowed: not stopped, not pausing after errors, and under
 * the cap or with an IDLE connection that may give up its slot. When the
 * oldest is too young, evict_ev looks again once it is not; when one is
 * read, or any leaves, conn_idle_set and conn_free look again.
 */
static void
httpd_update_accept(struct httpd *h)
{
	struct httpd_listener *l;
	struct timeval tv;
	uint64_t wait_ms;
	int want;

	want = !h->stopped && !h->accept_paused;
	if (want && httpd_at_cap(h) && httpd_victim(h, &wait_ms) == NULL) {
		want = 0;
		if (wait_ms > 0 && !evtimer_pending(h->evict_ev, NULL)) {
			tv.tv_sec = (time_t)(wait_ms / 1000);
			tv.tv_usec = (suseconds_t)(wait_ms % 1000) * 1000;
			evtimer_add(h->evict_ev, &tv);
		}
		if (!evtimer_pending(h->busy_ev, NULL)) {
			tv.tv_sec = 0;
			tv.tv_usec = HTTPD_WAIT_POLL_MS * 1000;
			evtimer_add(h->busy_ev, &tv);
		}
	} else {
		evtimer_del(h->busy_ev);
	}
	if (want == h->accepting)
		return;
	h->accepting = want;
	LIST_FOREACH(l, &h->listeners, entry) {
		if (want)
			evconnlistener_enable(l->lev);
		else
			evconnlistener_disable(l->lev);
	}
}

static void
httpd_check_idle(struct httpd *h)
{
	if (!h->draining || h->idle_done || !TAILQ_EMPTY(&h->conns) ||
	    !TAILQ_EMPTY(&h->zombies))
		return;
	h->idle_done = 1;
	event_active(h->idle_ev, EV_TIMEOUT, 1);
}

static void
httpd_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	if (h->on_idle != NULL)
		h->on_idle(h->idle_arg);
}

static void
httpd_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	h->accept_paused = 0;
	httpd_update_accept(h);
}

static void
httpd_evict_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)what;
	httpd_update_accept(h);
}

/* 1 when a client waits in the backlog of a listener. */
static int
httpd_client_waits(struct httpd *h)
{
	struct httpd_listener *l;
	struct pollfd pfd;

	LIST_FOREACH(l, &h->listeners, entry) {
		pfd.fd = evconnlistener_get_fd(l->lev);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN))
			return 1;
	}
	return 0;
}

/*
 * A request arriving too slowly while a client waits for its slot: answer
 * 503 with Retry-After and close once written, without lingering (the
 * slot is what is wanted).
 */
static void
conn_cut(struct httpd_conn *c, uint64_t age_ms)
{
	char msg[128];

	snprintf(msg, sizeof(msg),
	    "request: not received within %llu ms while other clients wait "
	    "for a connection; retry",
	    (unsigned long long)age_ms);
	c->h->st.cut++;
	c->close_after = 1;
	c->req.pending = 1;
	httpd_reply_error_hdrs(&c->req, 503, "Retry-After: 1\r\n", msg);
}

/*
 * At the cap with no idle connection to take: when a client waits, retire
 * every connection (each closes after its next reply), and cut the
 * request arriving longest if that is evict_busy_ms or more, so that
 * connections kept busy, slowly or not, cannot keep the newcomer out.
 */
static void
httpd_busy_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	struct httpd_conn *c, *slow = NULL;
	uint64_t now = clock_mono_ms();
	unsigned n = 0;

	(void)fd;
	(void)what;
	if (!h->accepting && !h->stopped && httpd_at_cap(h) &&
	    httpd_client_waits(h)) {
		TAILQ_FOREACH(c, &h->conns, entry) {
			if ((c->phase == PH_HEADER || c->phase == PH_BODY) &&
			    !c->in_parse &&
			    (slow == NULL || c->req_since < slow->req_since))
				slow = c;
			if (c->retire || c->close_after)
				continue;
			c->retire = 1;
			n++;
		}
		h->st.retired += n;
		if (n > 0)
			log_debug("httpd: %u connections open and a client "
			          "waits: %u will close after their reply",
			    (unsigned)h->st.conns_open, n);
		if (slow != NULL &&
		    now - slow->req_since >= h->lim.evict_busy_ms)
			conn_cut(slow, now - slow->req_since);
	}
	httpd_update_accept(h);
}

/*
 * Join or leave h->idle, the connections that may give their slot to a new
 * one at max_conns. At the cap, the listener follows.
 */
static void
conn_idle_set(struct httpd_conn *c, int on)
{
	struct httpd *h = c->h;

	if (on == (int)c->in_idle)
		return;
	c->in_idle = on;
	if (on) {
		c->idle_since = clock_mono_ms();
		TAILQ_INSERT_TAIL(&h->idle, c, idle_entry);
	} else {
		TAILQ_REMOVE(&h->idle, c, idle_entry);
	}
	if (httpd_at_cap(h))
		httpd_update_accept(h);
}

/* Read the socket or not (EV_READ), remembering which. */
static void
conn_read(struct httpd_conn *c, int on)
{
	if (on == (int)c->reading)
		return;
	c->reading = on;
	if (on)
		bufferevent_enable(c->bev, EV_READ);
	else
		bufferevent_disable(c->bev, EV_READ);
}

static void
conn_set_phase(struct httpd_conn *c, enum conn_phase ph)
{
	struct httpd *h = c->h;
	const struct timeval *tv = NULL;

	c->phase = ph;
	conn_idle_set(c, ph == PH_IDLE && !c->writing);
	switch (ph) {
	case PH_IDLE:
		tv = h->tv_idle;
		c->hdr_bytes = 0;
		c->rl = RL_START;
		break;
	case PH_HEADER:
		tv = h->tv_header;
		break;
	case PH_BODY:
		tv = h->tv_body;
		break;
	case PH_HANDLER:
		break;
	case PH_WRITE:
		tv = h->tv_write;
		break;
	case PH_LINGER:
		tv = h->tv_linger;
		break;
	}
	/* Nothing is parsed while a reply waits for the client. */
	if (ph == PH_WRITE)
		conn_read(c, 0);
	else if (ph != PH_HANDLER && !c->rd_eof && !c->close_after)
		conn_read(c, 1);
	if (tv != NULL)
		evtimer_add(c->timer, tv);
	else
		evtimer_del(c->timer);
}

/*
 * Free c's bufferevent and close its socket now. (Closing on free is
 * libevent's to do on a later loop turn; until then the descriptor would
 * count against RLIMIT_NOFILE while its slot looks free.) Its events are
 * deleted first, so that a new connection given the same descriptor
 * number is watched afresh.
 */
static void
conn_close_socket(struct httpd_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->reading = 0;
	if (fd != -1)
		close(fd);
}

/* Count c's body as bytes against max_buffered. 0, or -1 past it. */
static int
conn_charge(struct httpd_conn *c, size_t bytes)
{
	struct httpd *h = c->h;

	if (bytes <= c->charged)
		return 0;
	if (h->lim.max_buffered != 0 &&
	    bytes - c->charged > h->lim.max_buffered - h->buffered)
		return -1;
	h->buffered += bytes - c->charged;
	c->charged = bytes;
	return 0;
}

static void
conn_uncharge(struct httpd_conn *c)
{
	c->h->buffered -= c->charged;
	c->charged = 0;
}

static void
conn_destroy(struct httpd_conn *c)
{
	if (c->bev != NULL)
		conn_close_socket(c);
	if (c->timer != NULL)
		event_free(c->timer);
	conn_uncharge(c);
	buf_free(&c->req.url);
	buf_free(&c->req.hdrs);
	buf_free(&c->req.body);
	free(c);
}

static void
conn_free(struct httpd_conn *c)
{
	struct httpd *h = c->h;

	if (c->in_idle)
		TAILQ_REMOVE(&h->idle, c, idle_entry);
	TAILQ_REMOVE(&h->conns, c, entry);
	h->st.conns_open--;
	conn_destroy(c);
	httpd_update_accept(h);
	httpd_check_idle(h);
}

/*
 * The client is gone while the handler holds its request: close the socket
 * now (freeing its slot under max_conns) and keep the request until
 * httpd_reply.
 */
static void
conn_kill(struct httpd_conn *c)
{
	struct httpd *h = c->h;

	TAILQ_REMOVE(&h->conns, c, entry);
	h->st.conns_open--;
	conn_close_socket(c);
	event_free(c->timer);
	c->timer = NULL;
	c->dead = 1;
	TAILQ_INSERT_TAIL(&h->zombies, c, entry);
	httpd_update_accept(h);
}

/* Free what one large request grew, keep the ordinary buffers. */
static void
conn_trim(struct httpd_conn *c)
{
	struct buf *bufs[] = {&c->req.url, &c->req.hdrs, &c->req.body};
	size_t i;

	for (i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
		if (bufs[i]->cap > HTTPD_KEEP_BUF)
			buf_free(bufs[i]);
	}
}

/*
 * Send hdr then body, with one sendmsg when nothing is queued; queue what
 * is left for the bufferevent. A hard write error marks the connection
 * broken, to be closed by the caller.
 */
static void
conn_send(struct httpd_conn *c, const void *hdr, size_t hlen, const void *body,
    size_t blen)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct iovec iov[2];
	struct msghdr msg;
	size_t done = 0;
	ssize_t n;
	int rc = 0;

	if (c->broken)
		return;
	if (!c->writing) {
		iov[0].iov_base = (void *)hdr;
		iov[0].iov_len = hlen;
		iov[1].iov_base = (void *)body;
		iov[1].iov_len = blen;
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		msg.msg_iovlen = blen > 0 ? 2 : 1;
		n = sendmsg(bufferevent_getfd(c->bev), &msg,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			c->broken = 1;
			return;
		}
		if (n > 0)
			done = (size_t)n;
		if (done == hlen + blen)
			return;
	}
	if (done < hlen) {
		rc = evbuffer_add(out, (const char *)hdr + done, hlen - done);
		done = hlen;
	}
	if (rc == 0 && blen > done - hlen)
		rc = evbuffer_add(out, (const char *)body + (done - hlen),
		    blen - (done - hlen));
	if (rc == -1) {
		c->broken = 1;
		return;
	}
	if (!c->writing) {
		c->writing = 1;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

/*
 * Close once the output is written: the write callback does it, now
 * (deferred) when nothing is queued.
 */
static void
conn_finish(struct httpd_conn *c)
{
	c->close_after = 1;
	conn_set_phase(c, PH_WRITE);
	if (!c->writing)
		bufferevent_trigger(c->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * An error that leaves the stream unparseable: answer (with extra_headers
 * when not NULL), then close.
 */
static void
conn_error_hdrs(struct httpd_conn *c, int status, const char *extra_headers,
    const char *msg)
{
	c->close_after = 1;
	c->linger = 1;
	c->req.pending = 1;
	if (status < 500)
		c->h->st.errors_4xx++;
	httpd_reply_error_hdrs(&c->req, status, extra_headers, msg);
}

static void
conn_error(struct httpd_conn *c, int status, const char *msg)
{
	conn_error_hdrs(c, status, NULL, msg);
}

static int
on_message_begin(http_parser *p)
{
	struct httpd_conn *c = p->data;
	struct httpd_req *r = &c->req;

	buf_reset(&r->url);
	r->query = 0;
	buf_reset(&r->hdrs);
	buf_reset(&r->body);
	r->method = HTTPD_OTHER;
	r->head = 0;
	c->hstate = HS_NONE;
	c->req_since = clock_mono_ms();
	conn_set_phase(c, PH_HEADER);
	return 0;
}

static int
conn_oom(struct httpd_conn *c)
{
	c->err_status = 500;
	c->err_msg = "request: out of memory";
	return -1;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = p->data;

	if (buf_add(&c->req.url, at, len) == -1)
		return conn_oom(c);
	return 0;
}

/* End the current value: trailing blanks are not part of it (RFC 9110 5.5). */
static int
hdr_end_value(struct httpd_conn *c)
{
	struct buf *b = &c->req.hdrs;

	while (b->len > c->val_start &&
	    (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
		b->len--;
	return buf_addch(b, '\0');
}

/*
 * A byte of a token (RFC 9110 5.6.2). The lenient http_parser also lets a
 * space into a header name ("Content-Length : 5"), which RFC 9112 5.1 says
 * must be refused.
 */
static int
is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = p->data;
	size_t i;

	/* Chunked trailers arrive after the headers; they are not kept. */
	if (c->phase != PH_HEADER)
		return 0;
	for (i = 0; i < len; i++) {
		if (!is_tchar((unsigned char)at[i])) {
			c->err_status = 400;
			c->err_msg = "headers: a header name holds a byte "
			             "that is not allowed there";
			return -1;
		}
	}
	if (c->hstate == HS_VALUE && hdr_end_value(c) == -1)
		return conn_oom(c);
	c->hstate = HS_FIELD;
	if (buf_add(&c->req.hdrs, at, len) == -1)
		return conn_oom(c);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = p->data;
	struct buf *b = &c->req.hdrs;

	if (c->phase != PH_HEADER)
		return 0;
	if (c->hstate != HS_VALUE) {
		if (buf_addch(b, '\0') == -1)
			return conn_oom(c);
		c->val_start = b->len;
		c->hstate = HS_VALUE;
	}
	if (buf_add(b, at, len) == -1)
		return conn_oom(c);
	return 0;
}

/*
 * Pause here so that conn_parse learns exactly where the headers end (for
 * max_header) and checks them before any body byte is read.
 */
static int
on_headers_complete(http_parser *p)
{
	struct httpd_conn *c = p->data;

	c->got_hdrs = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
	struct httpd_conn *c = p->data;
	struct buf *b = &c->req.body;

	if (len > c->h->lim.max_body - b->len) {
		c->err_status = 413;
		return -1;
	}
	/* A Content-Length was counted whole; a chunked body grows. */
	if (conn_charge(c, b->len + len) == -1) {
		c->err_status = 503;
		return -1;
	}
	if (buf_add(b, at, len) == -1)
		return conn_oom(c);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct httpd_conn *c = p->data;

	c->req.keepalive = http_should_keep_alive(p) && !p->upgrade;
	c->req.http10 = p->http_major == 1 && p->http_minor == 0;
	c->got_msg = 1;
	http_parser_pause(p, 1);
	return 0;
}

static enum httpd_method
method_of(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return HTTPD_GET;
	case HTTP_HEAD:
		return HTTPD_HEAD;
	case HTTP_POST:
		return HTTPD_POST;
	case HTTP_PUT:
		return HTTPD_PUT;
	case HTTP_DELETE:
		return HTTPD_DELETE;
	default:
		return HTTPD_OTHER;
	}
}

/*
 * Turn the request target into a path: absolute form reduced, query cut
 * off; the query stays in the buffer after the path's NUL, its own
 * NUL-terminated string (a fragment cut), for httpd_req_query.
 */
static void
req_set_path(struct httpd_req *r, int is_connect)
{
	struct http_parser_url u;
	char *s = r->url.data;
	size_t end;

	if (s == NULL)
		return;
	/* http_parser_url holds 16-bit offsets. */
	if (s[0] != '/' && r->url.len <= UINT16_MAX) {
		http_parser_url_init(&u);
		if (http_parser_parse_url(s, r->url.len, is_connect, &u) == 0 &&
		    (u.field_set & (1 << UF_PATH))) {
			end = (u.field_set & (1 << UF_QUERY))
			    ? (size_t)u.field_data[UF_QUERY].off +
			        u.field_data[UF_QUERY].len
			    : (size_t)u.field_data[UF_PATH].off +
			        u.field_data[UF_PATH].len;
			r->url.len = end - u.field_data[UF_PATH].off;
			memmove(s, s + u.field_data[UF_PATH].off, r->url.len);
			s[r->url.len] = '\0';
		}
	}
	end = strcspn(s, "?#");
	if (s[end] == '?') {
		r->query = end + 1;
		s[r->query + strcspn(s + r->query, "#")] = '\0';
	}
	r->url.len = end;
	s[end] = '\0';
}

/* Stop a scan with status and msg for conn_parse_error. Returns -1. */
static int
scan_fail(struct httpd_conn *c, int status, const char *msg)
{
	c->err_status = status;
	c->err_msg = msg;
	return -1;
}

/*
 * The request line, over the bytes the parser consumed before the end of
 * the headers: METHOD SP TARGET SP HTTP/d.d CRLF, after optional empty
 * lines. http_parser takes "HTTX/1.1", a line without a version (as
 * HTTP/0.9) and runs of spaces. 0, or -1 with the error set.
 */
static int
scan_head(struct httpd_conn *c, const unsigned char *p, size_t n)
{
	static const char ver[] = "HTTP/d.d";
	size_t i;
	unsigned char ch;

	for (i = 0; i < n && c->rl != RL_DONE; i++) {
		ch = p[i];
		switch (c->rl) {
		case RL_START:
			if (ch == '\r' || ch == '\n')
				break;
			if (!is_tchar(ch))
				return scan_fail(c, 400,
				    "request: the line does not start with "
				    "a method");
			c->rl = RL_METHOD;
			break;
		case RL_METHOD:
			if (ch == ' ')
				c->rl = RL_TARGET_START;
			else if (!is_tchar(ch))
				return scan_fail(c, 400,
				    "request: a method must be followed by "
				    "one space");
			break;
		case RL_TARGET_START:
		case RL_TARGET:
			if (ch == ' ' && c->rl == RL_TARGET) {
				c->rl = RL_VERSION;
				c->rl_i = 0;
			} else if (ch <= ' ' || ch == 0x7f) {
				return scan_fail(c, 400,
				    "request: the line must be METHOD "
				    "TARGET HTTP/1.x");
			} else {
				c->rl = RL_TARGET;
			}
			break;
		case RL_VERSION:
			if (ver[c->rl_i] == 'd'
			        ? ch < '0' || ch > '9'
			        : ch != (unsigned char)ver[c->rl_i])
				return scan_fail(c, 400,
				    "request: the version must be "
				    "HTTP/<digit>.<digit>");
			if (++c->rl_i == sizeof(ver) - 1)
				c->rl = RL_CR;
			break;
		case RL_CR:
			if (ch != '\r')
				return scan_fail(c, 400,
				    "request: the line must end with CRLF "
				    "after the version");
			c->rl = RL_LF;
			break;
		case RL_LF:
			if (ch != '\n')
				return scan_fail(c, 400,
				    "request: the line must end with CRLF "
				    "after the version");
			c->rl = RL_DONE;
			break;
		case RL_DONE:
			break;
		}
	}
	return 0;
}

static int
hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * A chunked body's framing, over the bytes the parser consumed after the
 * headers (RFC 9112 7.1): chunk-size [ BWS ";" ext ] CRLF data CRLF, the
 * last chunk, then trailer lines, each ending with CRLF, and a final CRLF.
 * http_parser takes any two bytes after chunk data, and "5 junk" as a size
 * line. Trailer bytes count against max_header with the head. 0, or -1
 * with the error set.
 */
static int
scan_chunked(struct httpd_conn *c, const unsigned char *p, size_t n)
{
	static const char bad[] = "body: bad chunked framing";
	size_t i = 0, take;
	unsigned char ch;
	int d;

	while (i < n) {
		ch = p[i];
		switch (c->ck) {
		case CK_SIZE_START:
		case CK_SIZE:
			if ((d = hex_value(ch)) >= 0) {
				/* More digits than 64 bits: http_parser
				 * refuses it too. */
				if (++c->ck_digits > 16)
					return scan_fail(c, 400, bad);
				c->ck_left = c->ck_left << 4 | (unsigned)d;
				c->ck = CK_SIZE;
			} else if (c->ck == CK_SIZE_START) {
				return scan_fail(c, 400,
				    "body: a chunk must start with its size "
				    "in hex");
			} else if (ch == ' ' || ch == '\t') {
				c->ck = CK_BWS;
			} else if (ch == ';') {
				c->ck = CK_EXT;
			} else if (ch == '\r') {
				c->ck = CK_SIZE_LF;
			} else {
				return scan_fail(c, 400, bad);
			}
			break;
		case CK_BWS:
			if (ch == ';')
				c->ck = CK_EXT;
			else if (ch != ' ' && ch != '\t')
				return scan_fail(c, 400, bad);
			break;
		case CK_EXT:
			if (ch == '\r')
				c->ck = CK_SIZE_LF;
			else if ((ch < ' ' && ch != '\t') || ch == 0x7f)
				return scan_fail(c, 400, bad);
			break;
		case CK_SIZE_LF:
			if (ch != '\n')
				return scan_fail(c, 400, bad);
			c->ck = c->ck_left > 0 ? CK_DATA : CK_TRAILER;
			break;
		case CK_DATA:
			take = n - i;
			if (take > c->ck_left)
				take = (size_t)c->ck_left;
			c->ck_left -= take;
			i += take;
			if (c->ck_left == 0)
				c->ck = CK_DATA_CR;
			continue;
		case CK_DATA_CR:
		case CK_DATA_LF:
			if (ch != (c->ck == CK_DATA_CR ? '\r' : '\n'))
				return scan_fail(c, 400,
				    "body: chunk data must end with CRLF");
			if (c->ck == CK_DATA_LF) {
				c->ck = CK_SIZE_START;
				c->ck_digits = 0;
			} else {
				c->ck = CK_DATA_LF;
			}
			break;
		case CK_TRAILER:
		case CK_TRAILER_LINE:
		case CK_TRAILER_LF:
		case CK_END_LF:
			if (++c->hdr_bytes > c->h->lim.max_header)
				return scan_fail(c, 431, NULL);
			if (c->ck == CK_TRAILER_LF || c->ck == CK_END_LF) {
				if (ch != '\n')
					return scan_fail(c, 400,
					    "body: a trailer line must end "
					    "with CRLF");
				c->ck =
				    c->ck == CK_END_LF ? CK_DONE : CK_TRAILER;
			} else if (ch == '\r') {
				c->ck = c->ck == CK_TRAILER ? CK_END_LF
				                            : CK_TRAILER_LF;
			} else if (ch == '\n') {
				return scan_fail(c, 400,
				    "body: a trailer line must end with CRLF");
			} else {
				c->ck = CK_TRAILER_LINE;
			}
			break;
		case CK_DONE:
			return scan_fail(c, 400, bad);
		}
		i++;
	}
	return 0;
}

/* A loopback name or address, as the host part of a Host header. */
static int
host_is_loopback(const char *host, size_t len, int ip_literal)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 1];

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, host, len);
	buf[len] = '\0';
	if (ip_literal)
		return inet_pton(AF_INET6, buf, &a6) == 1 &&
		    (IN6_IS_ADDR_LOOPBACK(&a6) ||
		        (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127));
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return strcasecmp(buf, "localhost") == 0 ||
	    strcasecmp(buf, "localhost.") == 0;
}

/*
 * The Host header of a TCP request: 0 when it names loopback (or, with
 * any_ip, any IP address literal), 421 when it names something else,
 * 400 when it is malformed. Any IP literal cannot be rebound by DNS.
 */
static int
host_check(const char *v, int any_ip)
{
	const char *host = v, *port, *end;
	struct in6_addr a6;
	struct in_addr a4;
	char buf[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	int bracket = v[0] == '[';

	if (bracket) {
		if ((end = strchr(v, ']')) == NULL)
			return 400;
		host = v + 1;
		hlen = (size_t)(end - host);
		port = end + 1;
	} else {
		hlen = strcspn(v, ":");
		port = v + hlen;
	}
	if (hlen == 0 ||
	    (port[0] != '\0' &&
	        (port[0] != ':' || port[1] == '\0' || strlen(port + 1) > 5 ||
	            strspn(port + 1, "0123456789") != strlen(port + 1))))
		return 400;
	if (host_is_loopback(host, hlen, bracket))
		return 0;
	if (!any_ip || hlen >= sizeof(buf))
		return 421;
	memcpy(buf, host, hlen);
	buf[hlen] = '\0';
	if (bracket ? inet_pton(AF_INET6, buf, &a6) == 1
	            : inet_pton(AF_INET, buf, &a4) == 1)
		return 0;
	return 421;
}

/* Content-Type is JSON or protobuf; parameters (";charset=...") allowed. */
static int
ctype_ok(const char *v)
{
	static const char *const types[] = {
	    "application/json",
	    "application/x-protobuf",
	    "application/protobuf",
	};
	size_t i, n = strcspn(v, "; \t");

	if (v[n] != '\0' && v[n + strspn(v + n, " \t")] != ';')
		return 0;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (n == strlen(types[i]) && strncasecmp(v, types[i], n) == 0)
			return 1;
	}
	return 0;
}

/*
 * A TCP listener is reachable from any web page in the local browser,
 * which can POST there with its own Content-Type, and through DNS
 * rebinding under a Host of the attacker's choice. Refuse what a browser
 * sends and no SDK does. 0, or -1 with the error answered.
 */
static int
conn_tcp_guard(struct httpd_conn *c)
{
	struct httpd_req *r = &c->req;
	const char *v;
	int rc;

	if (httpd_req_header(r, "Origin") != NULL) {
		conn_error(c, 403,
		    "origin: requests from web pages (with an Origin header) "
		    "are not accepted");
		return -1;
	}
	if ((v = httpd_req_header(r, "Host")) == NULL) {
		conn_error(c, 400, "host: the Host header is required");
		return -1;
	}
	if ((rc = host_check(v, c->any_ip)) != 0) {
		conn_error(c, rc,
		    rc == 421 ? "host: not a loopback name or address; use "
		                "localhost or 127.0.0.1"
		              : "host: malformed Host header");
		return -1;
	}
	if ((r->method == HTTPD_POST || r->method == HTTPD_PUT) &&
	    ((v = httpd_req_header(r, "Content-Type")) == NULL ||
	        !ctype_ok(v))) {
		conn_error(c, 415,
		    "content-type: must be application/json, "
		    "application/x-protobuf or application/protobuf");
		return -1;
	}
	return 0;
}

/* The headers are in: check them, then read the body. 0, or -1 on error. */
static int
conn_headers_done(struct httpd_conn *c)
{
	struct httpd *h = c->h;
	struct httpd_req *r = &c->req;
	http_parser *p = &c->parser;
	const char *expect;
	char msg[128];
	int has_body;

	if (c->refused) {
		if (r->uid == (uid_t)-1)
			snprintf(msg, sizeof(msg),
			    "peer: credentials unknown, not allowed");
		else
			snprintf(msg, sizeof(msg), "peer: uid %u not allowed",
			    (unsigned)r->uid);
		conn_error(c, 403, msg);
		return -1;
	}
	if (c->hdr_bytes > h->lim.max_header) {
		snprintf(msg, sizeof(msg), "headers: larger than %zu bytes",
		    h->lim.max_header);
		conn_error(c, 431, msg);
		return -1;
	}
	if ((c->hstate == HS_VALUE && hdr_end_value(c) == -1) ||
	    (c->hstate == HS_FIELD && buf_add(&r->hdrs, "\0", 2) == -1)) {
		conn_error(c, 500, "request: out of memory");
		return -1;
	}
	if (p->http_major != 1) {
		snprintf(msg, sizeof(msg),
		    "request: HTTP/%u.%u is not supported", p->http_major,
		    p->http_minor);
		conn_error(c, 505, msg);
		return -1;
	}
	r->method = method_of(p->method);
	r->head = r->method == HTTPD_HEAD;
	req_set_path(r, p->method == HTTP_CONNECT);
	if (c->tcp && conn_tcp_guard(c) == -1)
		return -1;
	if ((p->flags & F_CONTENTLENGTH) &&
	    p->content_length > h->lim.max_body) {
		snprintf(msg, sizeof(msg), "body: larger than %zu bytes",
		    h->lim.max_body);
		conn_error(c, 413, msg);
		return -1;
	}
	has_body = (p->flags & F_CHUNKED) ||
	    ((p->flags & F_CONTENTLENGTH) && p->content_length > 0);
	/* Counted whole now, so that a body once let in always fits. */
	if ((p->flags & F_CONTENTLENGTH) &&
	    conn_charge(c, (size_t)p->content_length) == -1) {
		conn_parse_error(c, HPE_OK, 503);
		return -1;
	}
	/*
	 * One allocation for a body of known length instead of doublings, up
	 * to HTTPD_KEEP_BUF: a client announcing a large body it never sends
	 * does not get memory reserved for it (larger blocks grow by mremap
	 * anyway, without copying). The body is a C string even when empty.
	 */
	if ((p->flags & F_CONTENTLENGTH) &&
	    buf_reserve(&r->body,
	        p->content_length < HTTPD_KEEP_BUF ? (size_t)p->content_length
	                                           : HTTPD_KEEP_BUF) == -1) {
		conn_error(c, 500, "request: out of memory");
		return -1;
	}
	if (r->body.data != NULL)
		r->body.data[r->body.len] = '\0';
	c->chunked = (p->flags & F_CHUNKED) != 0;
	c->ck = CK_SIZE_START;
	c->ck_left = 0;
	c->ck_digits = 0;
	c->skip_lf = 1;
	conn_set_phase(c, PH_BODY);
	expect = httpd_req_header(r, "Expect");
	if (has_body && expect != NULL && p->http_minor >= 1 &&
	    strcasecmp(expect, "100-continue") == 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		conn_send(c, cont, sizeof(cont) - 1, NULL, 0);
		if (c->broken) {
			conn_finish(c);
			return -1;
		}
	}
	return 0;
}

static void
conn_dispatch(struct httpd_conn *c)
{
	struct httpd *h = c->h;

	c->req.pending = 1;
	conn_set_phase(c, PH_HANDLER);
	h->st.requests++;
	h->handler(&c->req, h->arg);
}

/*
 * Parsing stopped with an error: say why and close. status, when not 0,
 * is the answer (else c->err_status, set by a callback or a scan, or what
 * e says); 413, 431 and 503 name their limits.
 */
static void
conn_parse_error(struct httpd_conn *c, enum http_errno e, int status)
{
	struct httpd *h = c->h;
	char msg[160];

	if (status == 0)
		status = c->err_status;
	if (status == 0 && e == HPE_HEADER_OVERFLOW)
		status = 431;
	if (status == 413) {
		snprintf(msg, sizeof(msg), "body: larger than %zu bytes",
		    h->lim.max_body);
		conn_error(c, 413, msg);
	} else if (status == 431) {
		snprintf(msg, sizeof(msg),
		    "headers: larger than %zu bytes (request line, headers "
		    "and trailers)",
		    h->lim.max_header);
		conn_error(c, 431, msg);
	} else if (status == 503) {
		h->st.over_budget++;
		snprintf(msg, sizeof(msg),
		    "body: request bodies held at once would pass %zu bytes; "
		    "retry",
		    h->lim.max_buffered);
		conn_error_hdrs(
		    c, 503, "Retry-After: " HTTPD_BUDGET_RETRY "\r\n", msg);
	} else if (status != 0) {
		conn_error(c, status, c->err_msg);
	} else {
		snprintf(msg, sizeof(msg), "request: %s (%s)",
		    http_errno_description(e), http_errno_name(e));
		conn_error(c, 400, msg);
	}
}

/*
 * The strictness http_parser lacks, over the n bytes at p that it has
 * just consumed, an execute that began in phase start: the request line
 * before the body, the framing of a chunked body. 0, or -1 with the
 * error set.
 */
static int
conn_scan(struct httpd_conn *c, enum conn_phase start, const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	if (start == PH_IDLE || start == PH_HEADER)
		return scan_head(c, u, n);
	if (start != PH_BODY || n == 0)
		return 0;
	if (c->skip_lf) {
		u++;
		n--;
		c->skip_lf = 0;
	}
	return c->chunked ? scan_chunked(c, u, n) : 0;
}

/*
 * Parse what is buffered, one evbuffer chunk at a time and in place (the
 * body is copied once, into req.body), until a request goes to the handler,
 * the input runs out, or an error reply is queued. While the headers are
 * incomplete the parser sees at most max_header + 1 bytes of them.
 */
static void
conn_parse(struct httpd_conn *c)
{
	struct httpd *h = c->h;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_iovec v;
	enum conn_phase start;
	enum http_errno e;
	size_t len, n;

	c->in_parse = 1;
	while (c->phase == PH_IDLE || c->phase == PH_HEADER ||
	    c->phase == PH_BODY) {
		if (c->phase == PH_IDLE && h->draining)
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		len = v.iov_len;
		if (c->phase != PH_BODY &&
		    len > h->lim.max_header + 1 - c->hdr_bytes)
			len = h->lim.max_header + 1 - c->hdr_bytes;
		start = c->phase;
		n = http_parser_execute(
		    &c->parser, &parser_settings, v.iov_base, len);
		e = HTTP_PARSER_ERRNO(&c->parser);
		/* A parser error (or a callback's) is the one to report. */
		if ((e == HPE_OK || e == HPE_PAUSED) &&
		    conn_scan(c, start, v.iov_base, n) == -1) {
			evbuffer_drain(in, n);
			conn_parse_error(c, HPE_OK, 0);
			break;
		}
		evbuffer_drain(in, n);
		if (e == HPE_PAUSED && c->got_hdrs) {
			/* Paused before the final LF, which is re-read. */
			c->got_hdrs = 0;
			c->hdr_bytes += n + 1;
			http_parser_pause(&c->parser, 0);
			if (conn_headers_done(c) == -1)
				break;
			continue;
		}
		if (e == HPE_PAUSED && c->got_msg) {
			c->got_msg = 0;
			http_parser_pause(&c->parser, 0);
			/* The parser is never stricter than scan_chunked. */
			if (c->chunked && c->ck != CK_DONE) {
				scan_fail(c, 400, "body: bad chunked framing");
				conn_parse_error(c, HPE_OK, 0);
				break;
			}
			conn_dispatch(c);
			continue;
		}
		if (e != HPE_OK) {
			conn_parse_error(c, e, 0);
			break;
		}
		if (c->phase != PH_BODY) {
			c->hdr_bytes += n;
			if (c->hdr_bytes > h->lim.max_header) {
				conn_parse_error(c, HPE_HEADER_OVERFLOW, 431);
				break;
			}
		}
		if (n != len) {
			conn_parse_error(c, HPE_UNKNOWN, 0);
			break;
		}
	}
	c->in_parse = 0;
	/*
	 * No complete request is left: after the client's EOF (a truncated
	 * request is dropped) or while draining, close once written.
	 */
	if ((c->phase == PH_IDLE || c->phase == PH_HEADER ||
	        c->phase == PH_BODY) &&
	    (c->rd_eof || (c->phase == PH_IDLE && h->draining)))
		conn_finish(c);
}

static void
conn_readcb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->phase) {
	case PH_LINGER:
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	case PH_HANDLER:
	case PH_WRITE:
		/*
		 * Nothing is parsed until the reply: with the input full,
		 * stop reading, or libevent calls again at once (it re-runs
		 * this callback while the input is at its high watermark).
		 */
		if (evbuffer_get_length(in) >= HTTPD_INPUT_MAX)
			conn_read(c, 0);
		return;
	default:
		conn_parse(c);
	}
}

static void
conn_writecb(struct bufferevent *bev, void *arg)
{
	struct httpd_conn *c = arg;

	if (c->writing) {
		c->writing = 0;
		bufferevent_disable(bev, EV_WRITE);
		if (c->phase == PH_IDLE)
			conn_idle_set(c, 1);
	}
	if (c->phase != PH_WRITE)
		return;
	if (!c->close_after) {
		conn_set_phase(c, PH_IDLE);
		conn_parse(c);
		return;
	}
	if (!c->linger || c->rd_eof || c->broken) {
		conn_free(c);
		return;
	}
	/* Close only after the client has stopped sending (or a while). */
	shutdown(bufferevent_getfd(bev), SHUT_WR);
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	conn_set_phase(c, PH_LINGER);
	conn_read(c, 1);
}

static void
conn_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct httpd_conn *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING) &&
	    !(what & BEV_EVENT_ERROR)) {
		/*
		 * A half-close and a close look the same here: answer what
		 * is complete, then close. A client that is really gone makes
		 * the write fail, which lands below. libevent stopped
		 * reading.
		 */
		c->rd_eof = 1;
		c->reading = 0;
		switch (c->phase) {
		case PH_HANDLER:
		case PH_WRITE:
			return;
		case PH_LINGER:
			conn_free(c);
			return;
		default:
			conn_parse(c);
			return;
		}
	}
	if (c->phase == PH_HANDLER && c->req.pending) {
		conn_kill(c);
		return;
	}
	conn_free(c);
}

static void
conn_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd_conn *c = arg;
	struct httpd *h = c->h;
	char msg[96];

	(void)fd;
	(void)what;
	switch (c->phase) {
	case PH_HEADER:
	case PH_BODY:
		h->st.timeouts++;
		snprintf(msg, sizeof(msg),
		    "request: %s not received within %u ms",
		    c->phase == PH_HEADER ? "headers" : "body",
		    c->phase == PH_HEADER ? h->lim.header_timeout_ms
		                          : h->lim.body_timeout_ms);
		conn_error(c, 408, msg);
		break;
	case PH_WRITE:
		h->st.timeouts++;
		conn_free(c);
		break;
	case PH_IDLE:
	case PH_LINGER:
		conn_free(c);
		break;
	case PH_HANDLER:
		break;
	}
}

static int
id_listed(const id_t *ids, size_t n, id_t id)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ids[i] == id)
			return 1;
	}
	return 0;
}

/*
 * Whether the peer on the Unix socket fd, with the credentials in r, may
 * send requests: anyone when no list is set; else root, a listed uid, or a
 * listed gid as its primary group or one of its supplementary groups
 * (SO_PEERGROUPS, as they were when it connected).
 */
static int
peer_allowed(const struct httpd *h, int fd, const struct httpd_req *r)
{
	gid_t stack[HTTPD_PEER_GROUPS], *groups = stack;
	socklen_t len = sizeof(stack);
	size_t i, n;
	int ok = 0;

	if (h->nuids == 0 && h->ngids == 0)
		return 1;
	if (r->uid == (uid_t)-1)
		return 0;
	if (r->uid == 0 || id_listed(h->uids, h->nuids, (id_t)r->uid) ||
	    id_listed(h->gids, h->ngids, (id_t)r->gid))
		return 1;
	if (h->ngids == 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1) {
		/* ERANGE: more groups than the stack holds; len is the need. */
		if (errno != ERANGE || (groups = malloc(len)) == NULL)
			return 0;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) ==
		    -1)
			len = 0;
	}
	n = len / sizeof(gid_t);
	for (i = 0; i < n && !ok; i++)
		ok = id_listed(h->gids, h->ngids, (id_t)groups[i]);
	if (groups != stack)
		free(groups);
	return ok;
}

/* Log a refused peer: one retrying in a loop makes one line a second. */
static void
httpd_log_refused(struct httpd *h, const struct httpd_req *r)
{
	uint64_t now = clock_mono_ms();

	if (h->refuse_log_ms != 0 &&
	    now - h->refuse_log_ms < HTTPD_REFUSE_LOG_MS) {
		h->refuse_quiet++;
		return;
	}
	log_warnx("httpd: peer uid %ld gid %ld is not allowed; its requests "
	          "are answered 403 (%u more refused since the last message)",
	    r->uid == (uid_t)-1 ? -1L : (long)r->uid,
	    r->gid == (gid_t)-1 ? -1L : (long)r->gid, h->refuse_quiet);
	h->refuse_log_ms = now;
	h->refuse_quiet = 0;
}

static void
httpd_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct httpd_listener *l = arg;
	struct httpd *h = l->h;
	struct httpd_conn *c, *old;
	uint64_t wait_ms;
	struct ucred uc;
	socklen_t uclen = sizeof(uc);
	int one = 1;

	(void)lev;
	(void)sa;
	(void)salen;
	h->accept_warned = 0;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("httpd: connection");
		close(fd);
		return;
	}
	c->h = h;
	c->req.conn = c;
	c->req.uid = (uid_t)-1;
	c->req.gid = (gid_t)-1;
	buf_init(&c->req.url);
	buf_init(&c->req.hdrs);
	buf_init(&c->req.body);
	/* Closed by conn_close_socket, at once. */
	c->bev = bufferevent_socket_new(h->base, fd, 0);
	if (c->bev == NULL) {
		log_warnx("httpd: bufferevent_socket_new failed");
		close(fd);
		free(c);
		return;
	}
	if ((c->timer = evtimer_new(h->base, conn_timercb, c)) == NULL) {
		log_warnx("httpd: evtimer_new failed");
		conn_close_socket(c);
		free(c);
		return;
	}
	if (l->is_unix) {
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &uclen) == 0) {
			c->req.uid = uc.uid;
			c->req.gid = uc.gid;
		} else {
			log_warn("httpd: SO_PEERCRED");
		}
		if (!peer_allowed(h, fd, &c->req)) {
			c->refused = 1;
			h->st.refused++;
			httpd_log_refused(h, &c->req);
		}
	} else {
		/* A reply is one write; Nagle would only delay it. */
		(void)setsockopt(
		    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->tcp = 1;
		c->any_ip = l->any_ip != 0;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	bufferevent_setcb(c->bev, conn_readcb, conn_writecb, conn_eventcb, c);
	/* A pipelining client cannot make us buffer more than this. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, HTTPD_INPUT_MAX);
	bufferevent_set_max_single_read(c->bev, HTTPD_READ_MAX);
	/* Writes go out directly; EV_WRITE only while output is queued. */
	bufferevent_disable(c->bev, EV_WRITE);
	conn_read(c, 1);
	/*
	 * At the cap the listener is on only while an IDLE one may go. If
	 * that one has just received a request, this one is let in over the
	 * cap; the next one admitted at the cap evicts enough to come back.
	 */
	while (httpd_at_cap(h) && (old = httpd_victim(h, &wait_ms)) != NULL) {
		h->st.evicted++;
		log_debug("httpd: %u connections open; closing the one idle "
		          "longest for a new one",
		    (unsigned)h->st.conns_open);
		conn_free(old);
	}
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->st.conns_open++;
	h->st.conns_total++;
	conn_set_phase(c, PH_IDLE);
	httpd_update_accept(h);
}

/*
 * accept(2) failed for a reason that retrying at once will not cure
 * (EMFILE, ENFILE, ENOBUFS...): the listening socket stays readable, so
 * pause accepting for a moment instead of spinning, and say so once.
 */
static void
httpd_accept_errcb(struct evconnlistener *lev, void *arg)
{
	struct httpd_listener *l = arg;
	struct httpd *h = l->h;
	struct timeval tv = {0, HTTPD_ACCEPT_PAUSE_MS * 1000};

	(void)lev;
	h->st.accept_errors++;
	if (!h->accept_warned) {
		errno = EVUTIL_SOCKET_ERROR();
		log_warn(
		    "httpd: accept (pausing %d ms)", HTTPD_ACCEPT_PAUSE_MS);
		h->accept_warned = 1;
	}
	h->accept_paused = 1;
	httpd_update_accept(h);
	evtimer_add(h->accept_ev, &tv);
}

struct httpd *
httpd_new(struct event_base *base, const struct httpd_limits *limits,
    httpd_handler_fn *handler, void *arg)
{
	struct httpd *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_warn("httpd_new");
		return NULL;
	}
	h->base = base;
	h->lim = *limits;
	if (h->lim.evict_idle_ms == 0)
		h->lim.evict_idle_ms = HTTPD_EVICT_AGE_MS;
	if (h->lim.evict_busy_ms == 0)
		h->lim.evict_busy_ms = HTTPD_EVICT_BUSY_MS;
	/* The parser refuses longer heads itself, in any case. */
	if (h->lim.max_header > HTTP_MAX_HEADER_SIZE)
		h->lim.max_header = HTTP_MAX_HEADER_SIZE;
	h->handler = handler;
	h->arg = arg;
	h->accepting = 1;
	LIST_INIT(&h->listeners);
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->zombies);
	TAILQ_INIT(&h->idle);
	buf_init(&h->scratch);
	buf_init(&h->hdrbuf);
	h->tv_idle = httpd_timeout(h, 0, limits->idle_timeout_ms);
	h->tv_header = httpd_timeout(h, 1, limits->header_timeout_ms);
	h->tv_body = httpd_timeout(h, 2, limits->body_timeout_ms);
	h->tv_write = httpd_timeout(h, 3, limits->write_timeout_ms);
	h->tv_linger = httpd_timeout(h, 4, HTTPD_LINGER_MS);
	h->accept_ev = evtimer_new(base, httpd_accept_resume, h);
	h->idle_ev = event_new(base, -1, 0, httpd_idle_cb, h);
	h->evict_ev = evtimer_new(base, httpd_evict_cb, h);
	h->busy_ev = evtimer_new(base, httpd_busy_cb, h);
	if (h->accept_ev == NULL || h->idle_ev == NULL || h->evict_ev == NULL ||
	    h->busy_ev == NULL) {
		log_warnx("httpd_new: event_new failed");
		httpd_free(h);
		return NULL;
	}
	return h;
}

/*
 * 1 when the TCP socket fd is bound to a loopback address (127.0.0.0/8,
 * ::1, or 127.x mapped into IPv6); 0 for any other, the wildcard
 * included.
 */
static int
sock_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&ss)
		                  ->sin_addr.s_addr) >>
		           24) == 127;
	if (ss.ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) &&
		        s6->sin6_addr.s6_addr[12] == 127);
	return 0;
}

int
httpd_listen_fd(struct httpd *h, int fd, int is_unix)
{
	struct httpd_listener *l;

	if (h->stopped || (l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		return -1;
	}
	l->h = h;
	l->is_unix = is_unix;
	l->any_ip = !is_unix && !sock_is_loopback(fd);
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1) {
		log_warn("httpd: listening socket");
		close(fd);
		free(l);
		return -1;
	}
	/* Backlog 0: the socket is already listening. */
	l->lev = evconnlistener_new(h->base, httpd_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, 0,
	    fd);
	if (l->lev == NULL) {
		log_warnx("httpd: evconnlistener_new failed");
		close(fd);
		free(l);
		return -1;
	}
	evconnlistener_set_error_cb(l->lev, httpd_accept_errcb);
	LIST_INSERT_HEAD(&h->listeners, l, entry);
	if (h->accepting)
		evconnlistener_enable(l->lev);
	return 0;
}

void
httpd_stop_accepting(struct httpd *h)
{
	struct httpd_listener *l;

	/* Closed, not disabled: new clients are refused, not left waiting. */
	while ((l = LIST_FIRST(&h->listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		evconnlistener_free(l->lev);
		free(l);
	}
	h->stopped = 1;
	h->accepting = 0;
	evtimer_del(h->accept_ev);
	evtimer_del(h->evict_ev);
	evtimer_del(h->busy_ev);
}

void
httpd_drain(struct httpd *h, void (*on_idle)(void *arg), void *arg)
{
	struct httpd_conn *c, *next;

	httpd_stop_accepting(h);
	h->draining = 1;
	h->on_idle = on_idle;
	h->idle_arg = arg;
	for (c = TAILQ_FIRST(&h->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->in_parse) {
			/* conn_parse sees draining when the handler returns. */
			continue;
		}
		if (c->phase == PH_IDLE && !c->writing)
			conn_free(c);
		else if (c->phase == PH_IDLE || c->phase == PH_WRITE)
			conn_finish(c);
		/* The others close after their reply, as draining is set. */
	}
	httpd_check_idle(h);
}

void
httpd_free(struct httpd *h)
{
	struct httpd_listener *l;
	struct httpd_conn *c;

	if (h == NULL)
		return;
	while ((l = LIST_FIRST(&h->listeners)) != NULL) {
		LIST_REMOVE(l, entry);
		evconnlistener_free(l->lev);
		free(l);
	}
	while ((c = TAILQ_FIRST(&h->conns)) != NULL) {
		TAILQ_REMOVE(&h->conns, c, entry);
		conn_destroy(c);
	}
	while ((c = TAILQ_FIRST(&h->zombies)) != NULL) {
		TAILQ_REMOVE(&h->zombies, c, entry);
		conn_destroy(c);
	}
	if (h->accept_ev != NULL)
		event_free(h->accept_ev);
	if (h->idle_ev != NULL)
		event_free(h->idle_ev);
	if (h->evict_ev != NULL)
		event_free(h->evict_ev);
	if (h->busy_ev != NULL)
		event_free(h->busy_ev);
	buf_free(&h->scratch);
	buf_free(&h->hdrbuf);
	free(h->uids);
	free(h->gids);
	free(h);
}

/* A heap copy of n ids in *dst (NULL for none). 0, or -1 out of memory. */
static int
ids_copy(id_t **dst, const id_t *src, size_t n)
{
	*dst = NULL;
	if (n == 0)
		return 0;
	if ((*dst = calloc(n, sizeof(**dst))) == NULL)
		return -1;
	memcpy(*dst, src, n * sizeof(**dst));
	return 0;
}

int
httpd_set_peers(struct httpd *h, const id_t *uids, size_t nuids,
    const id_t *gids, size_t ngids)
{
	id_t *u, *g;

	if (ids_copy(&u, uids, nuids) == -1)
		return -1;
	if (ids_copy(&g, gids, ngids) == -1) {
		free(u);
		return -1;
	}
	free(h->uids);
	free(h->gids);
	h->uids = u;
	h->nuids = nuids;
	h->gids = g;
	h->ngids = ngids;
	return 0;
}

void
httpd_stats(struct httpd *h, struct httpd_stats *st)
{
	*st = h->st;
	st->body_bytes = h->buffered;
}

enum httpd_method
httpd_req_method(const struct httpd_req *r)
{
	return r->method;
}

const char *
httpd_req_path(const struct httpd_req *r)
{
	return r->url.data != NULL ? r->url.data : "";
}

const char *
httpd_req_query(const struct httpd_req *r)
{
	return r->query != 0 && r->url.data != NULL ? r->url.data + r->query
	                                            : "";
}

const char *
httpd_req_body(const struct httpd_req *r, size_t *len)
{
	if (len != NULL)
		*len = r->body.len;
	return r->body.data != NULL ? r->body.data : "";
}

const char *
httpd_req_header(const struct httpd_req *r, const char *name)
{
	const char *p = r->hdrs.data, *end, *v;

	if (p == NULL)
		return NULL;
	end = p + r->hdrs.len;
	while (p < end) {
		v = p + strlen(p) + 1;
		if (v >= end)
			break;
		if (strcasecmp(p, name) == 0)
			return v;
		p = v + strlen(v) + 1;
	}
	return NULL;
}

uid_t
httpd_req_uid(const struct httpd_req *r)
{
	return r->uid;
}

struct httpd *
httpd_req_httpd(const struct httpd_req *r)
{
	return r->conn->h;
}

gid_t
httpd_req_gid(const struct httpd_req *r)
{
	return r->gid;
}

/*
 * The status line and headers of a reply into b (reset first), from
 * pieces: a reply on the hot path costs a few copies, not a printf.
 * status is 200..599. 0, or -1 when b failed.
 */
static int
reply_head(struct buf *b, int status, const char *reason, const char *ctype,
    size_t len, const char *connhdr, const char *extra)
{
	char num[24], *p = num + sizeof(num);
	char code[3] = {(char)('0' + status / 100),
	    (char)('0' + status / 10 % 10), (char)('0' + status % 10)};

	do {
		*--p = (char)('0' + len % 10);
		len /= 10;
	} while (len > 0);
	buf_reset(b);
	buf_add(b, "HTTP/1.1 ", 9);
	buf_add(b, code, 3);
	buf_addch(b, ' ');
	buf_addstr(b, reason);
	buf_add(b, "\r\nContent-Type: ", 16);
	buf_addstr(b, ctype);
	buf_add(b, "\r\nContent-Length: ", 18);
	buf_add(b, p, (size_t)(num + sizeof(num) - p));
	buf_add(b, "\r\n", 2);
	buf_addstr(b, connhdr);
	buf_addstr(b, extra);
	return buf_add(b, "\r\n", 2);
}

void
httpd_reply(struct httpd_req *r, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len)
{
	struct httpd_conn *c = r->conn;
	struct httpd *h = c->h;
	const char *reason, *connhdr = "";
	size_t blen = r->head ? 0 : len;

	if (!r->pending) {
		log_warnx("httpd_reply: no request is waiting for a reply");
		return;
	}
	r->pending = 0;
	conn_uncharge(c);
	if (c->dead) {
		TAILQ_REMOVE(&h->zombies, c, entry);
		conn_destroy(c);
		httpd_check_idle(h);
		return;
	}
	if (status < 200 || status > 599) {
		log_warnx("httpd_reply: status %d out of range", status);
		status = 500;
	}
	reason = http_status_str((enum http_status)status);
	if (reason[0] == '<')
		reason = "Status";
	if (!r->keepalive || h->draining || c->retire)
		c->close_after = 1;
	if (c->close_after)
		connhdr = "Connection: close\r\n";
	else if (r->http10)
		connhdr = "Connection: keep-alive\r\n";
	if (content_type == NULL)
		content_type = "application/json";
	if (extra_headers == NULL)
		extra_headers = "";
	if (reply_head(&h->hdrbuf, status, reason, content_type, len, connhdr,
	        extra_headers) == -1)
		c->broken = 1;
	if (!c->broken)
		conn_send(c, h->hdrbuf.data, h->hdrbuf.len, body, blen);
	/* The request is over; an error before the next one has a body. */
	r->head = 0;
	conn_trim(c);
	if (c->close_after || c->broken) {
		conn_finish(c);
	} else if (c->writing &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) >
	        HTTPD_OUT_HIGH) {
		conn_set_phase(c, PH_WRITE);
	} else {
		conn_set_phase(c, PH_IDLE);
		/* Called later than the handler: resume parsing on the loop. */
		if (!c->in_parse &&
		    (c->rd_eof ||
		        evbuffer_get_length(bufferevent_get_input(c->bev)) > 0))
			bufferevent_trigger(c->bev, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS |
			        BEV_TRIG_DEFER_CALLBACKS);
	}
}

void
httpd_reply_error(struct httpd_req *r, int status, const char *msg)
{
	httpd_reply_error_hdrs(r, status, NULL, msg);
}

void
httpd_reply_error_hdrs(
    struct httpd_req *r, int status, const char *extra_headers, const char *msg)
{
	static const char oom[] =
	    "{\"success\": false, \"error\": \"out of memory\"}";
	struct buf *b = &r->conn->h->scratch;

	buf_reset(b);
	buf_addstr(b, "{\"success\": false, \"error\": ");
	buf_add_json_string(b, msg);
	buf_addch(b, '}');
	if (buf_failed(b)) {
		httpd_reply(
		    r, status, NULL, extra_headers, oom, sizeof(oom) - 1);
		return;
	}
	httpd_reply(r, status, NULL, extra_headers, b->data, b->len);
}
