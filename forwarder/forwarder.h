/* forwarder.h: the thread that uploads the spool to the remote event API, in
 * spool order. */
#ifndef TS_FORWARDER_H
#define TS_FORWARDER_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

/*
 * The forwarder owns one thread, its libcurl handle and its own read
 * transactions on the spool. It never writes the spool itself: deletes and
 * dead letters go through a fwd_writer (in the daemon, the commit thread,
 * so that they share ingest's group commits instead of taking LMDB's writer
 * lock on their own). Nothing here runs on, or waits for, the ingest loop.
 *
 * Delivery: records are read from a cursor in sequence order; after a 2xx
 * the cursor moves on and the records are handed to writer->remove. Since
 * removal is asynchronous, a crash can resend the last batches: delivery is
 * at least once, and event_id lets the remote de-duplicate.
 */
struct fwd;

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
	uint64_t dead_letters;   /* buried by this process */
	uint64_t backoff_ms;     /* current wait, 0 when not waiting */
	int last_status;         /* 0 before any answer */
	uint64_t last_status_ms; /* unix ms of that answer */
};

/*
 * Start the thread. opts strings and writer are copied. api_key may be NULL
 * (or ""): the forwarder then waits in FWD_PAUSED with reason "no API key"
 * while the spool fills. The key is copied and never logged.
 */
int fwd_start(struct fwd **fp, struct spool *sp, const struct fwd_opts *opts,
    const struct fwd_writer *writer, const char *api_key);

/* New work was committed up to next_seq - 1; any thread, never blocks. */
void fwd_wake(struct fwd *f, uint64_t next_seq);

/* Replace the key (SIGHUP); resumes at once if paused for auth. Any thread. */
void fwd_set_key(struct fwd *f, const char *api_key);

/* Replace the options (SIGHUP); applies from the next request. Any thread. */
int fwd_set_opts(struct fwd *f, const struct fwd_opts *opts);

/* A consistent snapshot of the counters; any thread. */
void fwd_get_stats(struct fwd *f, struct fwd_stats *st);

const char *fwd_state_name(int state);

/*
 * Stop: an in-flight request is given up to timeout_ms to finish (a 2xx
 * then still removes its records), otherwise abandoned and its records kept
 * (libcurl notices within about a second more). No new request starts once
 * stopping. Joins the thread and frees f. NULL is ignored.
 */
void fwd_stop(struct fwd *f, unsigned timeout_ms);

#endif
