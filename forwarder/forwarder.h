/* forwarder.h: the thread that uploads the spool to the remote event API, in
 * spool order. */
#ifndef TS_FORWARDER_H
#define TS_FORWARDER_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

/*
 * The forwarder owns one thread, its libcurl handles and its own read
 * transactions on the spool. It never writes the spool itself: deletes and
 * dead letters go through a fwd_writer (in the daemon, the commit thread,
 * so that they share ingest's group commits instead of taking LMDB's writer
 * lock on their own). Nothing here runs on, or waits for, the ingest loop.
 *
 * Delivery: records are read in sequence order and cut into requests,
 * several of which may be in flight (forwarder/window.h has the order
 * rules: a session start is accepted before anything spooled after it is
 * sent, an update is sent after everything spooled before it was accepted,
 * other requests overlap). After a 2xx the request's records are handed to
 * writer->remove, in whatever order the answers come. Since removal is
 * asynchronous, a crash can resend the requests that were in flight or
 * just answered: delivery is at least once, and event_id lets the remote
 * de-duplicate.
 *
 * Pace: at most upload_concurrency requests are in flight, fewer while the
 * remote refuses or slows down (forwarder/aimd.h); with a rate limit, a
 * token bucket (forwarder/bucket.h) spaces them. A failure pauses every new
 * request for the backoff or the Retry-After; the first retry after a run
 * of failures begins is spread over recovery_spread_ms, so that daemons
 * that failed together do not come back together.
 *
 * Memory: the records read and not yet settled (fwd_stats.held_bytes) are
 * bounded by a unit count and by FWD_HOLD_BYTES_MAX.
 */
struct fwd;

/*
 * The bytes of records the forwarder reads ahead to at most: while a
 * request is in flight and the records it holds (in requests, held back by
 * the order rules, or read and not yet cut into one) reach this, it reads
 * no further until one settles. 8 MiB holds some fifty full default
 * batches of typical events (100 of 1.5 KB make 150 KB), so with them
 * upload_concurrency and the count of units stop the reading first; with
 * large records (40 KB events, OTLP exports) batches reach batch_max_bytes
 * (4M), and then two or three requests are in flight instead of
 * upload_concurrency: 8 to 12 MB a round trip. One read may pass the
 * bound by what it brings, at most one
 * request's worth (batch_max_bytes, or a single larger record), and with
 * nothing in flight one read is always allowed, so a request larger than
 * the bound still goes, alone. A request's body is not a copy: libcurl
 * reads it from the unit's records (upstream_req's pieces).
 */
#define FWD_HOLD_BYTES_MAX (8ULL << 20)

struct fwd_opts {
	const char *upstream_url; /* base URL; paths are appended */
	const char *ca_file;      /* "" or NULL: the system store */
	uint64_t batch_max_events;
	uint64_t batch_max_bytes;
	uint64_t flush_interval_ms; /* a partial batch waits at most this */
	uint64_t retry_initial_ms;
	uint64_t retry_max_ms;
	uint64_t request_timeout_ms;
	uint64_t max_event_age_ms; /* older events are buried, status 0 */
	/* 1 to UPSTREAM_MAX_INFLIGHT requests in flight at most; 0 is 1. */
	uint64_t upload_concurrency;
	uint64_t rate_limit;  /* a second, at most; 0: no limit */
	int rate_limit_bytes; /* 1: rate_limit counts bytes sent; 0: events */
	uint64_t recovery_spread_ms; /* the first retry's extra random wait */
};

/* Spool writes the forwarder asks for; both are called on its thread. */
struct fwd_writer {
	void (*remove)(void *arg, const uint64_t *seqs, size_t n);
	void (*bury)(void *arg, uint64_t seq, int status, uint32_t attempts,
	    const char *reason);
	void *arg;
};

enum fwd_state { FWD_IDLE = 0, FWD_SENDING, FWD_BACKOFF, FWD_PAUSED };

struct fwd_stats {
	int state;                 /* enum fwd_state */
	char reason[256];          /* why it waits, "" when it does not */
	uint64_t events_forwarded; /* records of the event API's kinds */
	uint64_t spans_forwarded;  /* spans in OTLP exports delivered */
	uint64_t exports_forwarded;
	uint64_t spans_dead_lettered; /* spans in exports buried here */
	uint64_t exports_dead_lettered;
	uint64_t spans_partial_rejected; /* the upstream's partial_success */
	uint64_t requests_2xx;
	uint64_t requests_4xx;
	uint64_t requests_5xx;
	uint64_t requests_neterr; /* no HTTP answer: connect, timeout, reset */
	uint64_t requests_other;  /* 1xx, 3xx: an answer we do not expect */
	uint64_t retries;
	uint64_t dead_letters;      /* buried by this process */
	uint64_t backoff_ms;        /* current wait, 0 when not waiting */
	int last_status;            /* 0 before any answer */
	uint64_t last_status_ms;    /* unix ms of that answer */
	uint64_t records_forwarded; /* spool records the upstream accepted */
	uint64_t bytes_forwarded;   /* their bytes */
	unsigned concurrency;       /* requests that may be in flight now */
	unsigned concurrency_max;   /* upload_concurrency */
	unsigned inflight;          /* requests in flight now */
	uint64_t rtt_ms;            /* smoothed upstream latency; 0: none yet */
	uint64_t rtt_floor_ms;      /* the lowest it has been, slowly rising */
	uint64_t rate_limited; /* requests that waited for upload_rate_limit */
	double pace; /* requests a second since a 429 (forwarder/pace.h); 0:
	                none */
	uint64_t held_bytes;     /* records read and not settled: see above */
	uint64_t held_bytes_max; /* the most held_bytes were since start */
};

/*
 * Start the thread. opts strings and writer are copied. api_key may be NULL
 * (or ""): the forwarder then waits in FWD_PAUSED with reason "no API key"
 * while the spool fills. The key is copied and never logged.
 */
int fwd_start(struct fwd **fp, struct spool *sp, const struct fwd_opts *opts,
    const struct fwd_writer *writer, const char *api_key);

/*
 * New work was committed up to next_seq - 1; any thread, never blocks. The
 * thread is woken only when it waits for such records: not while a partial
 * batch is short of full, every request slot is in flight, or it backs
 * off (it reads them when that ends).
 */
void fwd_wake(struct fwd *f, uint64_t next_seq);

/* Replace the key (SIGHUP); resumes at once if paused for auth. Any thread. */
void fwd_set_key(struct fwd *f, const char *api_key);

/* Replace the options (SIGHUP); applies from the next request. Any thread. */
int fwd_set_opts(struct fwd *f, const struct fwd_opts *opts);

/* A consistent snapshot of the counters; any thread. */
void fwd_get_stats(struct fwd *f, struct fwd_stats *st);

const char *fwd_state_name(int state);

/*
 * Stop: the requests in flight are given up to timeout_ms to finish (a 2xx
 * then still removes their records), otherwise abandoned and their records
 * kept (libcurl notices within about a second more). No new request starts
 * once stopping. Joins the thread and frees f. NULL is ignored.
 */
void fwd_stop(struct fwd *f, unsigned timeout_ms);

#endif
