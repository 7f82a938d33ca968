/* httpd.h: a small HTTP/1.1 server on libevent bufferevents, with hard limits
 * per connection. */
#ifndef TS_HTTPD_H
#define TS_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

/*
 * Why not evhttp: libevent 2.1's evhttp answers oversized bodies, oversized
 * headers and malformed requests itself with an HTML page, while the
 * contract wants a JSON error body on every 4xx and 5xx; it has no deadline
 * for receiving a whole header (a client sending a byte a second keeps a
 * connection forever), no connection cap, and allocates several objects per
 * request. This server parses with http-parser (Debian's libhttp-parser),
 * keeps one buffer set per connection, and enforces every limit below.
 *
 * Threads: everything here runs on the event loop of base.
 */

struct httpd;
struct httpd_req;

enum httpd_method {
	HTTPD_OTHER = 0,
	HTTPD_GET,
	HTTPD_HEAD,
	HTTPD_POST,
	HTTPD_PUT,
	HTTPD_DELETE,
};

struct httpd_limits {
	size_t max_body; /* 413 beyond (checked on Content-Length first) */
	/*
	 * Request line + headers + chunked trailers; 431 beyond. At most
	 * http_parser's own HTTP_MAX_HEADER_SIZE (80K) takes effect.
	 */
	size_t max_header;
	/*
	 * Request bodies held at once, over all connections, from their
	 * headers to their reply (a Content-Length counts in full from the
	 * headers, a chunked body as it arrives). A body that does not fit is
	 * answered 503 with Retry-After and its connection closed. 0: no
	 * bound; else at least max_body, or a body of max_body never fits.
	 */
	size_t max_buffered;
	/*
	 * At the cap a new connection takes the slot of the one idle longest
	 * (no request in progress, at least evict_idle_ms). With none such,
	 * it waits in the backlog, and while it waits every open connection
	 * is retired: closed after the reply to its current (or next)
	 * request, which says "Connection: close"; and the request that has
	 * been arriving longest, if for evict_busy_ms or more, is cut: 503
	 * with Retry-After, and closed. Connections that keep their slot
	 * busy, quickly or by trickling requests, thus serve one request each
	 * while others wait, and the first slot freed goes to the backlog.
	 * A socket is closed when its slot is freed, not on a later loop
	 * turn, so accepting never runs ahead of the cap (by more than the
	 * one connection let in while its victim turned busy).
	 */
	unsigned max_conns;
	unsigned evict_idle_ms;     /* 0: 20 ms */
	unsigned evict_busy_ms;     /* 0: 200 ms */
	unsigned header_timeout_ms; /* from first byte to end of headers */
	unsigned body_timeout_ms;   /* from end of headers to end of body */
	unsigned idle_timeout_ms;   /* keep-alive connection with no request */
	unsigned write_timeout_ms;  /* a reply the client does not read */
};

/*
 * Called once per complete request, in order per connection. The handler
 * must eventually call httpd_reply exactly once, now or later from the same
 * loop; until then the connection parses no further request (pipelined
 * input waits in its buffer).
 */
typedef void httpd_handler_fn(struct httpd_req *req, void *arg);

struct httpd *httpd_new(struct event_base *base,
    const struct httpd_limits *limits, httpd_handler_fn *handler, void *arg);

/*
 * Serve on a listening socket (already bound and listening; made
 * non-blocking here). httpd owns fd from now on. is_unix: 1 when fd is a
 * Unix socket, whose peers' credentials are read (SO_PEERCRED).
 *
 * A TCP listener (is_unix 0) is reachable from web pages in the local
 * browser, so it refuses what only a browser would send, before reading a
 * body: a request with an Origin header (403); a Host that is not a
 * loopback name or address (421; on a listener bound to an address that
 * is not loopback, any IP address literal is also taken, as it cannot be
 * rebound), or none, or a malformed one (400); a POST or PUT whose
 * Content-Type is not application/json, application/x-protobuf or
 * application/protobuf (parameters allowed) (415). Unix listeners are not
 * checked.
 */
int httpd_listen_fd(struct httpd *h, int fd, int is_unix);

/*
 * Peers allowed on Unix listeners, from their credentials (SO_PEERCRED,
 * SO_PEERGROUPS): a peer gets in when its uid is in uids, or its primary
 * or a supplementary gid is in gids; root always does. Both lists empty
 * (the default): anyone who can open the socket. Checked once, at accept:
 * a refused peer's first request is answered 403 "peer: uid N not allowed"
 * before its body is read, and the connection closed. TCP peers are not
 * checked. The lists are copied; they apply to connections accepted from
 * now on. 0, or -1 when out of memory (the previous lists stay).
 */
int httpd_set_peers(struct httpd *h, const id_t *uids, size_t nuids,
    const id_t *gids, size_t ngids);

/* Stop accepting; established connections go on. */
void httpd_stop_accepting(struct httpd *h);

/*
 * Begin a graceful close: connections with no request in progress close now,
 * the others after their reply is written (or write_timeout_ms). on_idle runs
 * once, on the loop, when no connection is left.
 */
void httpd_drain(struct httpd *h, void (*on_idle)(void *arg), void *arg);

/* Close every connection and listener at once and free h. */
void httpd_free(struct httpd *h);

/* Live connections and counters, for /metrics. */
struct httpd_stats {
	uint64_t conns_open;
	uint64_t conns_total;
	uint64_t requests;
	uint64_t errors_4xx; /* answered by httpd itself: 400, 403, 408... */
	uint64_t timeouts;
	uint64_t evicted; /* idle connections closed for a new one at the cap */
	uint64_t retired; /* busy ones told to close after their reply */
	uint64_t cut;     /* requests too slow while others waited: 503 */
	uint64_t refused; /* peers not allowed by httpd_set_peers */
	uint64_t over_budget;   /* bodies answered 503: max_buffered */
	uint64_t accept_errors; /* accept(2) failures (EMFILE...) */
	uint64_t body_bytes;    /* counted against max_buffered now */
};
void httpd_stats(struct httpd *h, struct httpd_stats *st);

/*
 * Request accessors. Pointers stay valid until httpd_reply. The path has
 * no query string; body is NUL-terminated (the NUL is not counted), an
 * empty one too.
 */
enum httpd_method httpd_req_method(const struct httpd_req *r);
const char *httpd_req_path(const struct httpd_req *r);
/* The query string, after the '?' and before any '#'; "" when none. */
const char *httpd_req_query(const struct httpd_req *r);
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
/* First header of that name (case-insensitive), or NULL. */
const char *httpd_req_header(const struct httpd_req *r, const char *name);
/* The server the request came to (for its counters). */
struct httpd *httpd_req_httpd(const struct httpd_req *r);
/* Peer credentials on a Unix socket; -1 when unknown (TCP). */
uid_t httpd_req_uid(const struct httpd_req *r);
gid_t httpd_req_gid(const struct httpd_req *r);

/*
 * Send the reply and end the request. status is 200..599; content_type
 * may be NULL for application/json; extra_headers, when not NULL, is
 * complete "Name: value\r\n" lines. The body is copied. If the client has
 * gone meanwhile, the reply is dropped and the request freed.
 */
void httpd_reply(struct httpd_req *r, int status, const char *content_type,
    const char *extra_headers, const void *body, size_t len);

/* A JSON error reply: {"success": false, "error": "<msg>"} (msg escaped). */
void httpd_reply_error(struct httpd_req *r, int status, const char *msg);
/* The same with extra_headers as in httpd_reply (Retry-After, Allow). */
void httpd_reply_error_hdrs(struct httpd_req *r, int status,
    const char *extra_headers, const char *msg);

#endif
