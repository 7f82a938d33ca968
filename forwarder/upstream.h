/* upstream.h: the forwarder's requests to the event API, several at a time,
 * over libcurl multi. */
#ifndef TS_UPSTREAM_H
#define TS_UPSTREAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the forwarder should do with the records of a request, decided from
 * the transport result and the HTTP status alone (the body is never parsed:
 * a 2xx is a success whatever it says).
 */
enum upstream_verdict {
	UPSTREAM_DONE = 0, /* 2xx: delete */
	UPSTREAM_RETRY,    /* no answer, 408, 425, 429, 5xx, anything odd */
	UPSTREAM_AUTH,     /* 401, 403: keep, wait for a better key */
	UPSTREAM_REJECT,   /* 400, 404, 409, 413, 422: the records are bad */
};

/* How much of a response body is kept, for dead-letter reasons and logs. */
#define UPSTREAM_BODY_MAX 4096

/* Requests in flight at once, at most (upload_concurrency's ceiling). */
#define UPSTREAM_MAX_INFLIGHT 64

struct upstream;

/* Bytes of a body sent in pieces: data[0..len), borrowed. */
struct upstream_piece {
	const void *data;
	size_t len;
};

struct upstream_req {
	const char *method;       /* "POST" or "PUT" */
	const char *content_type; /* NULL: application/json */
	const char *url;          /* full URL, http or https */
	const char *api_key;      /* sent as a bearer token, never logged */
	const char *ca_file;      /* NULL or "": the system store */
	uint64_t timeout_ms;      /* whole request, connect included; 0: none */
	const char *body;         /* borrowed for the call; may hold NULs */
	size_t len;
	/*
	 * Or, with npieces > 0, the body in pieces sent one after another
	 * without being copied together (body is then ignored and len must
	 * be their sum): pieces and the bytes they point at are borrowed
	 * until the request's answer reaches the callback.
	 */
	const struct upstream_piece *pieces;
	size_t npieces;
};

struct upstream_res {
	int verdict;             /* enum upstream_verdict */
	int status;              /* HTTP status; 0 when none was received */
	int aborted;             /* the stop flag ended the transfer */
	int timed_out;           /* request timeout_ms passed first */
	uint64_t elapsed_ms;     /* from the start to the end of it */
	uint64_t retry_after_ms; /* from Retry-After, 0 when absent or past */
	char body[UPSTREAM_BODY_MAX + 1]; /* start of the body, NUL-ended */
	size_t body_len;
	char error[256]; /* transport error text when status is 0 */
};

/*
 * A client: one libcurl multi handle and an easy handle per request in
 * flight (at most UPSTREAM_MAX_INFLIGHT), so that several requests travel
 * at once; their connections stay open in the multi handle's cache and
 * later requests reuse them. stop may be NULL; while it reads non-zero, a
 * transfer is given up within about a second (libcurl calls the progress
 * function at least that often). A struct upstream is used by one thread,
 * except for upstream_wakeup.
 */
int upstream_new(struct upstream **upp, const atomic_int *stop);
/* Abandon whatever is in flight (no done calls for it) and free up. */
void upstream_free(struct upstream *up);

/*
 * Start req. Its strings are copied; req->body is borrowed until the done
 * call for this request. tag comes back with that call. Returns 0, or -1
 * when UPSTREAM_MAX_INFLIGHT requests are in flight or it could not be set
 * up (out of memory): nothing was started.
 */
int upstream_start(
    struct upstream *up, const struct upstream_req *req, void *tag);

/* A request finished: res is valid for the length of the call only. */
typedef void upstream_done_fn(
    void *arg, void *tag, const struct upstream_res *res);

/*
 * Move the requests in flight along, waiting at most timeout_ms for
 * something to happen, and call done, on this thread, for each one that
 * finished. Returns as soon as one finished or upstream_wakeup was called.
 * done may start new requests. Returns 0, or -1 when libcurl itself failed
 * (the caller waits a little and calls again).
 */
int upstream_poll(
    struct upstream *up, int timeout_ms, upstream_done_fn *done, void *arg);

/*
 * Make the upstream_poll in progress return now, or the next one at once
 * when none is in progress. Any thread; never blocks.
 */
void upstream_wakeup(struct upstream *up);

/* Requests in flight. */
size_t upstream_inflight(const struct upstream *up);

/*
 * One request from start to verdict, blocking, into res: for tests and
 * tools, when nothing else is in flight. Returns 0 whenever a verdict was
 * reached (a network error is a verdict: UPSTREAM_RETRY), -1 only when the
 * request could not be set up at all.
 */
int upstream_request(struct upstream *up, const struct upstream_req *req,
    struct upstream_res *res);

/* The verdict for an HTTP status, for callers and tests. */
int upstream_classify(int status);

/*
 * Milliseconds to wait from a Retry-After value at unix time now_ms: delta
 * seconds or an HTTP date. Returns 0 and sets *ms, or -1 when unparsable.
 */
int upstream_parse_retry_after(
    const char *value, uint64_t now_ms, uint64_t *ms);

#endif
