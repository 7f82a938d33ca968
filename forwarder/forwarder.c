/* forwarder.c: uploads the spool, several requests at a time and in the order
 * the record kinds ask for, with backoff, adaptive concurrency, a rate cap
 * and dead letters. */
#include "forwarder.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/kind.h"
#include "common/log.h"
#include "forwarder/aimd.h"
#include "forwarder/bucket.h"
#include "forwarder/pace.h"
#include "forwarder/upstream.h"
#include "forwarder/window.h"
#include "otlp/otlp.h"

/* A Retry-After is honoured beyond retry_max, but never beyond an hour. */
#define RETRY_AFTER_CAP_MS (3600ULL * 1000)
/* Even with retry_initial 0, a failing upstream is not hammered in a loop. */
#define BACKOFF_MIN_MS 10
/*
 * With nothing to send, the spool is read again this often even without a
 * wake: other processes (`tracespool dlq replay`) append without telling us.
 */
#define IDLE_POLL_MS 1000
/* The forwarder thread's nice value, relative to none: see fwd_main. */
#define FWD_NICE 10
/* While stopping, how often the thread looks at what is still in flight. */
#define STOP_POLL_MS 100
/* A run of failures is logged at warn on its first and then this seldom. */
#define WARN_EVERY_MS (60ULL * 1000)
/* How much of a rejecting answer's body goes into the dead letter. */
#define REASON_BODY_MAX 1024
/*
 * Spool reads in one pass before the thread polls its requests again, so
 * that a long stretch of expired records does not keep answers waiting.
 */
#define READS_PER_PASS 16
/*
 * Units held at most: those in flight and as many again that the order
 * rules hold back (updates waiting for earlier records), so that reading
 * ahead never holds many requests' worth of the spool in memory; their
 * bytes are bounded by FWD_HOLD_BYTES_MAX (forwarder.h).
 */
#define UNITS_MAX(max) (2 * (size_t)(max) + 2)

/*
 * Failed rounds in a row that make an outage: the forwarder then comes
 * back at a slow, doubling pace (forwarder/pace.h). Fewer are a blip, and
 * the concurrency's own cut is enough.
 */
#define OUTAGE_ROUNDS 3

/* What one look at the spool did. */
enum {
	READ_WAIT = 0, /* nothing to send yet: *wait says how long to sleep */
	READ_UNIT,     /* a new unit is in the window */
	READ_AGAIN,    /* records were buried or put back: read again */
};

/* One upstream request in flight; unit is NULL for a free slot. */
/*
 * A request in flight. Its body is not copied together: iov holds the
 * pieces (a batch's opening, each record, the separators, its closing),
 * pointing into the unit's records and the kind's constant strings, which
 * stay as they are while the unit is in flight; libcurl reads them in
 * turn (upstream_req).
 */
struct request {
	struct win_unit *unit;
	struct upstream_piece *iov;
	size_t iov_cap;
	struct buf url;
	uint64_t sent_ms; /* monotonic */
	uint64_t round;   /* the failure round it was sent in */
};

struct fwd {
	struct spool *sp;
	struct fwd_writer writer;
	struct upstream *up;
	pthread_t thread;

	/*
	 * Under mtx: what other threads hand in and read out. The thread
	 * never holds mtx across I/O, so callers of fwd_wake and friends
	 * wait at most for a few memory operations. The thread sleeps in
	 * upstream_poll; whoever changes something here wakes it with
	 * upstream_wakeup.
	 */
	pthread_mutex_t mtx;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; fwd_stop waits for exited */
	int stopping;
	int exited;
	uint64_t wake_seq; /* highest next_seq given to fwd_wake */
	uint64_t wakes;    /* fwd_wake calls */
	/*
	 * The lowest next_seq worth waking the thread for: it sleeps until
	 * an answer or a deadline when new records would not change what it
	 * does (a partial batch short of full, every slot in flight, a
	 * backoff), and the committing thread then saves the wake-up.
	 */
	uint64_t wake_min;
	char *key; /* NULL when there is none */
	uint64_t key_gen;
	struct fwd_opts opts; /* strings owned */
	uint64_t opts_gen;
	struct fwd_stats stats;

	/* Set by fwd_stop once the grace period is over; read by libcurl. */
	atomic_int abort;

	/* The thread's own copies and working state; no lock. */
	struct fwd_opts cur; /* strings owned */
	uint64_t cur_opts_gen;
	char *cur_key;
	uint64_t cur_key_gen;
	uint64_t wakes_seen; /* wakes taken into account */
	uint64_t wake_seq_seen;
	size_t base_len; /* upstream_url without trailing slashes */
	int state;       /* what publish() shows: enum fwd_state */
	char reason[sizeof(((struct fwd_stats *)0)->reason)];
	uint64_t backoff_ms;

	/* Reading: records from cursor on, cut into units. */
	uint64_t cursor;          /* next sequence to read */
	struct spool_batch ahead; /* read, not yet in a unit: from cursor */
	int ahead_fresh;          /* a whole read, nothing taken from it */
	uint64_t ahead_round;     /* the failure round it was read in */
	uint64_t held_max;        /* the most held_bytes() were */
	int idle;                 /* the last read found nothing */
	uint64_t idle_wakes;      /* wakes_seen then */
	uint64_t idle_ms;
	int partial_held;     /* a partial batch waits for more */
	uint64_t partial_seq; /* its first record */
	uint64_t partial_deadline;
	uint64_t partial_wakes;
	struct spool_batch probe; /* one record past a run */
	struct spool_batch check; /* a unit read again after a failure */

	/* Sending. */
	struct window *win;
	struct request reqs[UPSTREAM_MAX_INFLIGHT];
	size_t inflight;
	struct aimd aimd;
	struct pace pace; /* requests a second after a 429 or an outage */
	struct bucket bucket;
	int bucket_bytes; /* the bucket counts bytes, not events */
	int bucket_held;  /* the last pass stopped at the bucket */
	uint64_t *seqs;   /* for writer->remove */
	size_t seqs_cap;

	/*
	 * Failures. A round is one failure and the wait after it; requests
	 * sent before a round began that fail afterwards are the same
	 * trouble and start no new round.
	 */
	uint64_t round;
	uint32_t fails;     /* rounds since the last success */
	uint64_t resume_ms; /* no request starts before (monotonic); 0: go */
	int auth_wait;      /* the wait is for a better key */
	uint64_t auth_key_gen;
	int wait_state; /* FWD_BACKOFF or FWD_PAUSED while resume_ms holds */
	char wait_reason[sizeof(((struct fwd_stats *)0)->reason)];
	uint64_t wait_ms;
	uint64_t last_warn_ms;
	uint64_t last_body_warn_ms; /* a 2xx with a body that is not JSON */
	struct buf reason_buf;
};

static void
opts_free(struct fwd_opts *o)
{
	free((char *)o->upstream_url);
	free((char *)o->ca_file);
	memset(o, 0, sizeof(*o));
}

static int
opts_copy(struct fwd_opts *dst, const struct fwd_opts *src)
{
	struct fwd_opts o = *src;

	o.upstream_url = strdup(src->upstream_url);
	o.ca_file = strdup(src->ca_file != NULL ? src->ca_file : "");
	if (o.upstream_url == NULL || o.ca_file == NULL) {
		opts_free(&o);
		return -1;
	}
	if (o.upload_concurrency == 0)
		o.upload_concurrency = 1;
	*dst = o;
	return 0;
}

static int
opts_valid(const struct fwd_opts *o)
{
	if (o->upstream_url == NULL || o->upstream_url[0] == '\0' ||
	    o->batch_max_events == 0 || o->batch_max_bytes == 0 ||
	    o->upload_concurrency > UPSTREAM_MAX_INFLIGHT)
		return -1;
	return 0;
}

static void
key_free(char *key)
{
	if (key == NULL)
		return;
	explicit_bzero(key, strlen(key));
	free(key);
}

static int
key_copy(char **dst, const char *key)
{
	*dst = NULL;
	if (key == NULL || key[0] == '\0')
		return 0;
	if ((*dst = strdup(key)) == NULL)
		return -1;
	return 0;
}

/* The key goes into a header line, which a control character would end. */
static int
key_ok(const char *key)
{
	const unsigned char *p;

	for (p = (const unsigned char *)key; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	}
	return 1;
}

static int
stopping(struct fwd *f)
{
	int s;

	pthread_mutex_lock(&f->mtx);
	s = f->stopping;
	pthread_mutex_unlock(&f->mtx);
	return s;
}

/*
 * Requests a second the concurrency limit lets through at the current
 * latency: a pace above it would hold nothing back.
 */
static double
ceiling(const struct fwd *f)
{
	double rtt = f->aimd.rtt_ms > 1 ? f->aimd.rtt_ms : 1;

	return f->aimd.limit * 1000.0 / rtt;
}

/* What the thread shows now, for fwd_get_stats. */
static void
set_state(struct fwd *f, int state, uint64_t backoff_ms, const char *reason)
{
	f->state = state;
	f->backoff_ms = backoff_ms;
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
}

/*
 * The bytes of the records read and not settled: the window's units (in
 * flight or waiting) and the look-ahead not yet cut into one.
 */
static uint64_t
held_bytes(const struct fwd *f)
{
	return window_bytes(f->win) + f->ahead.bytes;
}

/*
 * Whether reading ahead must wait for a unit to settle: what is held
 * reached FWD_HOLD_BYTES_MAX while a request is in flight, whose answer
 * frees its records and wakes the thread. With none in flight nothing
 * would, so a read is allowed whatever is held: a unit larger than the
 * bound still goes, alone.
 */
static int
held_full(const struct fwd *f)
{
	return f->inflight > 0 && held_bytes(f) >= FWD_HOLD_BYTES_MAX;
}

static void
publish(struct fwd *f)
{
	pthread_mutex_lock(&f->mtx);
	f->stats.state = f->state;
	f->stats.backoff_ms = f->backoff_ms;
	memcpy(f->stats.reason, f->reason, sizeof(f->stats.reason));
	f->stats.concurrency = f->aimd.limit;
	f->stats.concurrency_max = f->aimd.max;
	f->stats.inflight = (unsigned)f->inflight;
	f->stats.rtt_ms = (uint64_t)(f->aimd.rtt_ms + 0.5);
	f->stats.rtt_floor_ms = (uint64_t)(f->aimd.floor_ms + 0.5);
	f->stats.pace = pace_rate(&f->pace, clock_mono_ms(), ceiling(f));
	f->stats.held_bytes = held_bytes(f);
	f->stats.held_bytes_max = f->held_max;
	pthread_mutex_unlock(&f->mtx);
}

/* The bucket for the options' rate, kept across reloads of the same unit. */
static void
use_rate(struct fwd *f)
{
	uint64_t now = clock_mono_ms();

	if (f->bucket_bytes != f->cur.rate_limit_bytes) {
		f->bucket_bytes = f->cur.rate_limit_bytes;
		bucket_init(&f->bucket, f->cur.rate_limit, now);
	} else {
		bucket_set_rate(&f->bucket, f->cur.rate_limit, now);
	}
}

/* Make o (taken over) the thread's options. */
static void
use_opts(struct fwd *f, struct fwd_opts *o)
{
	opts_free(&f->cur);
	f->cur = *o;
	/* Paths are appended to the base: "https://h/" + "/events" is wrong. */
	f->base_len = strlen(f->cur.upstream_url);
	while (f->base_len > 0 && f->cur.upstream_url[f->base_len - 1] == '/')
		f->base_len--;
	aimd_set_max(&f->aimd, (unsigned)f->cur.upload_concurrency);
	use_rate(f);
}

/*
 * Take over what other threads changed: options, key, and the wakes (read
 * before the spool, so a wake that comes after the read is seen by the
 * next pass). A copy that runs out of memory keeps the old one.
 */
static void
refresh(struct fwd *f)
{
	struct fwd_opts o;
	char *k;
	int bad = 0;

	pthread_mutex_lock(&f->mtx);
	f->wakes_seen = f->wakes;
	f->wake_seq_seen = f->wake_seq;
	if (f->opts_gen != f->cur_opts_gen && opts_copy(&o, &f->opts) == 0) {
		use_opts(f, &o);
		f->cur_opts_gen = f->opts_gen;
	}
	if (f->key_gen != f->cur_key_gen && key_copy(&k, f->key) == 0) {
		key_free(f->cur_key);
		f->cur_key = k;
		f->cur_key_gen = f->key_gen;
		bad = k != NULL && !key_ok(k);
	}
	pthread_mutex_unlock(&f->mtx);
	if (bad)
		log_warnx("forwarder: the API key has control characters; "
		          "not using it");
}

/*
 * Append text to the reason as printable UTF-8, at most max bytes: control
 * characters become spaces and bytes outside a well-formed sequence become
 * '?', so that the reason can be shown and put in JSON as it is.
 */
static void
add_clean(struct buf *b, const char *s, size_t len, size_t max)
{
	size_t i = 0, n, k, start = b->len;
	unsigned char c;

	while (i < len) {
		c = (unsigned char)s[i];
		if (c < 0x80)
			n = 1;
		else if ((c & 0xe0) == 0xc0 && c >= 0xc2)
			n = 2;
		else if ((c & 0xf0) == 0xe0)
			n = 3;
		else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
			n = 4;
		else
			n = 0;
		for (k = 1; n > 1 && k < n; k++) {
			if (i + k >= len ||
			    ((unsigned char)s[i + k] & 0xc0) != 0x80)
				n = 0;
		}
		if (b->len - start + (n > 0 ? n : 1) > max)
			break;
		if (n == 0) {
			(void)buf_addch(b, '?');
			i++;
		} else if (n == 1) {
			(void)buf_addch(
			    b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
			i++;
		} else {
			(void)buf_add(b, s + i, n);
			i += n;
		}
	}
}

/* Add records to the delivered or the buried counts. */
static void
count_records(struct fwd *f, const struct spool_item *items, size_t n, int dead)
{
	uint64_t events = 0, spans = 0, exports = 0, bytes = 0;
	const struct kind *k;
	size_t i;

	for (i = 0; i < n; i++) {
		k = kind_get(items[i].kind);
		if (k != NULL && strcmp(k->unit, "span") == 0) {
			spans += items[i].count;
			exports++;
		} else {
			events += items[i].count;
		}
		bytes += items[i].len;
	}
	pthread_mutex_lock(&f->mtx);
	if (dead) {
		f->stats.dead_letters += n;
		f->stats.spans_dead_lettered += spans;
		f->stats.exports_dead_lettered += exports;
	} else {
		f->stats.events_forwarded += events;
		f->stats.spans_forwarded += spans;
		f->stats.exports_forwarded += exports;
		f->stats.records_forwarded += n;
		f->stats.bytes_forwarded += bytes;
	}
	pthread_mutex_unlock(&f->mtx);
}

/* Dead-letter one record with its attempts, status and reason. */
static void
bury_item(struct fwd *f, const struct spool_item *it, uint32_t tries,
    int status, const char *reason)
{
	/* A rejection's reason quotes the body: for the dead letter only. */
	if (status != 0)
		log_warnx("forwarder: record %llu dead-lettered: upstream %d",
		    (unsigned long long)it->seq, status);
	f->writer.bury(f->writer.arg, it->seq, status, tries, reason);
	count_records(f, it, 1, 1);
}

static int
expired(const struct fwd *f, const struct spool_item *it, uint64_t now)
{
	uint64_t age = f->cur.max_event_age_ms;

	/* 0 turns expiry off. */
	return age != 0 && it->time_ms < now && now - it->time_ms > age;
}

/* Records go out together when they have the same kind and the same key. */
static int
joins(const struct spool_item *a, const struct spool_item *b)
{
	if (a->kind != b->kind)
		return 0;
	if (a->auth == NULL || b->auth == NULL)
		return a->auth == b->auth;
	return strcmp(a->auth, b->auth) == 0;
}

/*
 * Read the next records from the cursor into the empty look-ahead. 0 or
 * -1. One read brings at most one request's worth, batch_max_bytes (or a
 * single record larger than that), and pump reads only below
 * FWD_HOLD_BYTES_MAX or with nothing in flight, and read_more only once
 * the look-ahead is used up: that is how far past the bound the held
 * records may go. The limit is not cut to what is left below the bound:
 * the records left out would make a short request of the ones read.
 */
static int
read_ahead(struct fwd *f)
{
	size_t max_n = f->cur.batch_max_events;
	uint64_t max_bytes = f->cur.batch_max_bytes, held;

	/* Leave room for the wrapper and the commas of a batch body. */
	max_bytes = max_bytes > 32 + max_n ? max_bytes - 32 - max_n : 1;
	if (spool_read(f->sp, f->cursor, max_n, max_bytes, &f->ahead) !=
	    SPOOL_OK) {
		log_warnx("forwarder: spool read: %s", spool_strerror());
		return -1;
	}
	f->ahead_fresh = 1;
	f->ahead_round = f->round;
	if ((held = held_bytes(f)) > f->held_max)
		f->held_max = held;
	return 0;
}

/*
 * How many records from the start of the look-ahead go into one request,
 * and whether that request is complete: full, or followed by a record that
 * cannot join it. An incomplete one may wait for more (flush_interval).
 * 0 when the run reaches the end of a look-ahead that was not one whole
 * read: read again from the run's start to know.
 */
static size_t
run_length(struct fwd *f, uint64_t now, int *complete)
{
	const struct spool_item *items = f->ahead.items;
	size_t n;

	*complete = 1;
	if (!kind_batches(kind_get(items[0].kind)))
		return 1;
	for (n = 1; n < f->ahead.n && n < f->cur.batch_max_events; n++) {
		if (!joins(&items[n], &items[0]) || expired(f, &items[n], now))
			return n;
	}
	if (n >= f->cur.batch_max_events)
		return n;
	if (!f->ahead_fresh)
		return 0;
	/*
	 * The read gave fewer than a full batch: either the spool ends
	 * here, or the next record did not fit the byte limit. Only in the
	 * first case is the batch partial; one record more tells which.
	 */
	if (spool_read(f->sp, items[n - 1].seq + 1, 1, 1, &f->probe) ==
	        SPOOL_OK &&
	    f->probe.n == 0)
		*complete = 0;
	spool_batch_clear(&f->probe);
	return n;
}

/*
 * A partial batch waits until flush_interval after its first record was
 * received (by ingest's clock, so records left from before a restart go at
 * once), but never longer than flush_interval from when we first saw it.
 * Returns 1 with *wait set while it waits, 0 when it is time to send.
 */
static int
hold_partial(
    struct fwd *f, const struct spool_item *first, uint64_t now, int *wait)
{
	uint64_t wall = clock_wall_ms(), age, w;
	uint64_t flush = f->cur.flush_interval_ms;

	if (!f->partial_held || f->partial_seq != first->seq) {
		age = wall > first->time_ms ? wall - first->time_ms : 0;
		w = flush > age ? flush - age : 0;
		f->partial_held = 1;
		f->partial_seq = first->seq;
		f->partial_deadline = now + w;
		f->partial_wakes = f->wakes_seen;
	}
	if (now >= f->partial_deadline)
		return 0;
	*wait = (int)(f->partial_deadline - now);
	return 1;
}

/*
 * The sequence a wake must reach to make the partial batch held full:
 * read_due reads again then, and fwd_wake wakes the thread for it.
 */
static uint64_t
partial_full_seq(const struct fwd *f)
{
	return f->partial_seq + f->cur.batch_max_events;
}

/*
 * Whether the spool is worth reading now: not while a partial batch waits
 * for its deadline or for a wake that makes it full, and not while nothing
 * new came since a read found nothing. *wait then says until when.
 */
static int
read_due(const struct fwd *f, uint64_t now, int *wait)
{
	if (f->partial_held && now < f->partial_deadline &&
	    !(f->wakes_seen != f->partial_wakes &&
	        f->wake_seq_seen >= partial_full_seq(f))) {
		*wait = (int)(f->partial_deadline - now);
		return 0;
	}
	if (f->idle && f->wakes_seen == f->idle_wakes &&
	    now < f->idle_ms + IDLE_POLL_MS) {
		*wait = (int)(f->idle_ms + IDLE_POLL_MS - now);
		return 0;
	}
	return 1;
}

/*
 * Look at the spool from the cursor: bury what expired or cannot be read,
 * hold a partial batch, or cut the next unit into the window.
 */
static int
read_more(struct fwd *f, uint64_t now, int *wait)
{
	uint64_t wall = clock_wall_ms();
	const struct spool_item *it;
	const struct kind *k;
	struct win_unit *u;
	size_t n;
	int complete;

	if (!read_due(f, now, wait))
		return READ_WAIT;
	/* Read before a failure: what drop_oldest evicted since must go. */
	if (f->ahead.n > 0 && f->ahead_round != f->round)
		spool_batch_clear(&f->ahead);
	if (f->ahead.n == 0 && read_ahead(f) == -1) {
		set_state(f, FWD_IDLE, 0, "spool read failed");
		*wait = IDLE_POLL_MS;
		return READ_WAIT;
	}
	if (f->ahead.n == 0) {
		f->idle = 1;
		f->idle_wakes = f->wakes_seen;
		f->idle_ms = now;
		f->partial_held = 0;
		*wait = IDLE_POLL_MS;
		return READ_WAIT;
	}
	f->idle = 0;
	it = &f->ahead.items[0];
	if (expired(f, it, wall)) {
		/* Bury the expired head; the next look reads past it. */
		for (n = 0;
		     n < f->ahead.n && expired(f, &f->ahead.items[n], wall);
		     n++) {
			bury_item(f, &f->ahead.items[n], 0, 0,
			    "expired: older than max_event_age");
			f->cursor = f->ahead.items[n].seq + 1;
		}
		log_warnx("forwarder: %zu record%s dead-lettered: older than "
		          "max_event_age",
		    n, n == 1 ? "" : "s");
		spool_batch_clear(&f->ahead);
		return READ_AGAIN;
	}
	if ((k = kind_get(it->kind)) == NULL) {
		log_warnx(
		    "forwarder: record %llu dead-lettered: unknown kind %d",
		    (unsigned long long)it->seq, it->kind);
		bury_item(f, it, 0, 0, "unknown record kind");
		f->cursor = it->seq + 1;
		spool_batch_clear(&f->ahead);
		return READ_AGAIN;
	}
	n = run_length(f, wall, &complete);
	if (n == 0) {
		spool_batch_clear(&f->ahead);
		return READ_AGAIN;
	}
	if (!complete && hold_partial(f, it, now, wait)) {
		/* Read afresh when it is due: more may have come. */
		spool_batch_clear(&f->ahead);
		return READ_WAIT;
	}
	f->partial_held = 0;
	if ((u = window_push(f->win, &f->ahead, n, k->order)) == NULL) {
		log_warnx("forwarder: out of memory");
		*wait = IDLE_POLL_MS;
		return READ_WAIT;
	}
	u->stamp = f->round;
	f->ahead_fresh = 0;
	f->cursor = u->items[u->n - 1].seq + 1;
	return READ_UNIT;
}

/*
 * A unit read before the last failure is read again before it goes: what
 * drop_oldest evicted meanwhile must not be sent (it is counted as
 * dropped), and what expired meanwhile is buried. The last unit of the
 * window, unless a split made it, is simply given back to the spool: the
 * cursor returns to its first record, so that what arrived during the
 * wait joins it in one request, as if it had never been read. Returns 1
 * when records are left to send, 0 when none are (the unit is gone).
 */
static int
refresh_unit(struct fwd *f, struct win_unit *u)
{
	uint64_t wall = clock_wall_ms(), first = u->items[0].seq;
	uint64_t last = u->items[u->n - 1].seq;
	size_t i = 0, j = 0;

	if (window_after(u) == NULL && !u->split) {
		f->cursor = first;
		spool_batch_clear(&f->ahead);
		f->partial_held = 0;
		f->idle = 0;
		window_remove(f->win, u);
		return 0;
	}

	/*
	 * The unit's sequence range holds no other records: they were
	 * consecutive when read, and later appends come after.
	 */
	if (spool_read(f->sp, first, (size_t)(last - first + 1), SIZE_MAX,
	        &f->check) != SPOOL_OK) {
		log_warnx("forwarder: spool read: %s", spool_strerror());
		return 1;
	}
	while (i < u->n) {
		while (
		    j < f->check.n && f->check.items[j].seq < u->items[i].seq)
			j++;
		if (j < f->check.n && f->check.items[j].seq == u->items[i].seq)
			i++;
		else
			window_drop(u, i);
	}
	spool_batch_clear(&f->check);
	for (i = 0; i < u->n;) {
		if (!expired(f, &u->items[i], wall)) {
			i++;
			continue;
		}
		bury_item(f, &u->items[i], u->tries[i], 0,
		    "expired: older than max_event_age");
		window_drop(u, i);
	}
	u->stamp = f->round;
	if (u->n > 0)
		return 1;
	window_remove(f->win, u);
	return 0;
}

/*
 * The request for unit u, all of one kind and key: the kind's envelope
 * around the stored texts, which are already what the upstream takes, so
 * nothing is printed again.
 */
static int
build_request(struct fwd *f, const struct win_unit *u, struct request *r,
    struct upstream_req *req)
{
	const struct spool_item *items = u->items;
	const struct kind *k = kind_get(items[0].kind);
	size_t i, n = 0, len = 0, need;

	/* Opening, records and separators, closing: 2 a record at most. */
	need = kind_batches(k) ? 2 * u->n + 1 : 1;
	if (need > r->iov_cap) {
		struct upstream_piece *ni =
		    reallocarray(r->iov, need, sizeof(*ni));

		if (ni == NULL)
			return -1;
		r->iov = ni;
		r->iov_cap = need;
	}
#define PIECE(p, l)                                                            \
	do {                                                                   \
		if ((l) > 0) {                                                 \
			r->iov[n].data = (p);                                  \
			r->iov[n++].len = (l);                                 \
			len += (l);                                            \
		}                                                              \
	} while (0)
	if (!kind_batches(k)) {
		PIECE(items[0].data, items[0].len);
	} else {
		PIECE(k->batch_open, strlen(k->batch_open));
		for (i = 0; i < u->n; i++) {
			if (i > 0)
				PIECE(k->batch_sep, strlen(k->batch_sep));
			PIECE(items[i].data, items[i].len);
		}
		PIECE(k->batch_close, strlen(k->batch_close));
	}
#undef PIECE
	/* Unchecked appends: a failure is sticky, asked once below. */
	buf_reset(&r->url);
	buf_add(&r->url, f->cur.upstream_url, f->base_len);
	buf_addstr(&r->url, k->up_path);
	if (buf_failed(&r->url))
		return -1;
	req->method = k->up_method;
	req->content_type = k->up_content_type;
	req->url = r->url.data;
	/* A record that came with its client's key goes with that key. */
	req->api_key = items[0].auth != NULL ? items[0].auth : f->cur_key;
	req->ca_file = f->cur.ca_file;
	req->timeout_ms = f->cur.request_timeout_ms;
	/* An empty record is still a body: sent as "", not read from. */
	req->body = "";
	req->len = len;
	req->pieces = n > 0 ? r->iov : NULL;
	req->npieces = n;
	return 0;
}

/* What a unit costs against upload_rate_limit. */
static uint64_t
cost_of(const struct fwd *f, const struct win_unit *u)
{
	return f->bucket_bytes ? u->bytes : u->count;
}

/* Start u's request. 0, or -1 when it could not be set up. */
static int
send_unit(struct fwd *f, struct win_unit *u, uint64_t now)
{
	struct upstream_req req;
	struct request *r = NULL;
	size_t i;

	for (i = 0; i < UPSTREAM_MAX_INFLIGHT && r == NULL; i++) {
		if (f->reqs[i].unit == NULL)
			r = &f->reqs[i];
	}
	if (r == NULL || build_request(f, u, r, &req) == -1 ||
	    upstream_start(f->up, &req, r) == -1) {
		log_warnx("forwarder: out of memory");
		return -1;
	}
	for (i = 0; i < u->n; i++)
		u->tries[i]++;
	u->state = WIN_FLIGHT;
	r->unit = u;
	r->sent_ms = now;
	r->round = f->round;
	f->inflight++;
	return 0;
}

static void
count_answer(struct fwd *f, const struct upstream_res *res)
{
	pthread_mutex_lock(&f->mtx);
	if (res->status == 0) {
		f->stats.requests_neterr++;
	} else {
		if (res->status >= 200 && res->status <= 299)
			f->stats.requests_2xx++;
		else if (res->status >= 400 && res->status <= 499)
			f->stats.requests_4xx++;
		else if (res->status >= 500 && res->status <= 599)
			f->stats.requests_5xx++;
		else
			f->stats.requests_other++;
		f->stats.last_status = res->status;
		f->stats.last_status_ms = clock_wall_ms();
	}
	pthread_mutex_unlock(&f->mtx);
}

static uint64_t
random_below(uint64_t n)
{
	uint64_t r = (uint64_t)arc4random() << 32 | arc4random();

	return n == UINT64_MAX ? r : r % (n + 1);
}

/*
 * Full jitter: retry_initial plus a uniform share of the window that
 * doubles with each failure of the run, up to retry_max.
 */
static uint64_t
backoff_delay(const struct fwd *f)
{
	uint64_t init = f->cur.retry_initial_ms, cap = init;
	uint32_t i;

	for (i = 1; i < f->fails && cap < f->cur.retry_max_ms; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > f->cur.retry_max_ms)
		cap = f->cur.retry_max_ms;
	if (cap <= init)
		return init;
	return init + random_below(cap - init);
}

/*
 * A request failed with a verdict that keeps its records (retry, or a
 * refusal of the daemon's own key). The first failure among the requests
 * sent since the last one starts a round: nothing new starts until its
 * wait is over, a Retry-After overriding the computed delay, and a new key
 * ending a wait for auth at once. Later failures of requests that were
 * already in flight are the same trouble; only a longer Retry-After among
 * them makes the wait longer.
 */
static void
failed(struct fwd *f, const struct request *r, const struct upstream_res *res)
{
	uint64_t delay, ra, now = clock_mono_ms();
	int auth = res->verdict == UPSTREAM_AUTH;
	char when[24];

	pthread_mutex_lock(&f->mtx);
	f->stats.retries++;
	pthread_mutex_unlock(&f->mtx);
	ra = res->retry_after_ms < RETRY_AFTER_CAP_MS ? res->retry_after_ms
	                                              : RETRY_AFTER_CAP_MS;
	if (r->round != f->round) {
		if (ra != 0 && f->resume_ms != 0 && now + ra > f->resume_ms) {
			f->resume_ms = now + ra;
			pace_hold(&f->pace, f->resume_ms);
		}
		return;
	}
	f->round++;
	f->fails++;
	delay = ra != 0 ? ra : backoff_delay(f);
	/*
	 * The first retry after a run of failures begins is spread: daemons
	 * that met the same outage do not all come back at one moment.
	 * Later retries are spread by the backoff's own jitter, and a 429
	 * (the remote up, but past its rate) by the pace it sets.
	 */
	if (f->fails == 1 && res->status != 429 &&
	    f->cur.recovery_spread_ms > 0)
		delay += random_below(f->cur.recovery_spread_ms);
	/*
	 * Daemons refused in one second of the remote's window would come
	 * back in one second too: a 429's Retry-After is stretched by a
	 * random share of itself (at most recovery_spread).
	 */
	if (res->status == 429 && ra != 0 && f->cur.recovery_spread_ms > 0)
		delay += random_below(ra < f->cur.recovery_spread_ms
		        ? ra
		        : f->cur.recovery_spread_ms);

	if (delay < BACKOFF_MIN_MS)
		delay = BACKOFF_MIN_MS;
	f->resume_ms = now + delay;
	if (!auth && res->status != 429 && f->fails >= OUTAGE_ROUNDS)
		pace_restart(&f->pace);
	pace_hold(&f->pace, f->resume_ms);
	f->auth_wait = auth;
	f->auth_key_gen = f->cur_key_gen;
	f->wait_ms = delay;
	f->wait_state = auth ? FWD_PAUSED : FWD_BACKOFF;
	if (delay < 1000)
		snprintf(
		    when, sizeof(when), "%llums", (unsigned long long)delay);
	else
		snprintf(when, sizeof(when), "%llu.%llus",
		    (unsigned long long)(delay / 1000),
		    (unsigned long long)(delay % 1000 / 100));
	if (auth)
		snprintf(f->wait_reason, sizeof(f->wait_reason),
		    "upstream %d: check the API key", res->status);
	else if (res->status != 0)
		snprintf(f->wait_reason, sizeof(f->wait_reason),
		    "upstream %d, retry in %s", res->status, when);
	else
		snprintf(f->wait_reason, sizeof(f->wait_reason),
		    "upstream unreachable (%.180s), retry in %s", res->error,
		    when);
	if (f->fails == 1 || now - f->last_warn_ms >= WARN_EVERY_MS) {
		log_warnx("forwarder: %s", f->wait_reason);
		f->last_warn_ms = now;
	} else {
		log_debug("forwarder: %s", f->wait_reason);
	}
	/* Read again after the wait: evictions, and more may have come. */
	spool_batch_clear(&f->ahead);
	f->partial_held = 0;
}

/* The upstream took u: its records leave the spool. */
static void
delivered(struct fwd *f, struct win_unit *u)
{
	uint64_t *s;
	size_t i;

	if (u->n > f->seqs_cap) {
		if ((s = reallocarray(f->seqs, u->n, sizeof(*s))) == NULL) {
			/* Not removed now: sent again later, at least once. */
			log_warnx("forwarder: out of memory");
			count_records(f, u->items, u->n, 0);
			window_remove(f->win, u);
			return;
		}
		f->seqs = s;
		f->seqs_cap = u->n;
	}
	for (i = 0; i < u->n; i++)
		f->seqs[i] = u->items[i].seq;
	f->writer.remove(f->writer.arg, f->seqs, u->n);
	count_records(f, u->items, u->n, 0);
	window_remove(f->win, u);
}

/* Bury every record of u with the answer's status and body; u goes. */
/* A reason built in b, or "" when memory ran out while building it. */
static const char *
reason_text(const struct buf *b)
{
	return b->data != NULL && !buf_failed(b) ? b->data : "";
}

static void
rejected(struct fwd *f, struct win_unit *u, const struct upstream_res *res)
{
	size_t i;

	buf_reset(&f->reason_buf);
	(void)buf_printf(&f->reason_buf, "upstream %d: ", res->status);
	add_clean(&f->reason_buf, res->body, res->body_len, REASON_BODY_MAX);
	for (i = 0; i < u->n; i++)
		bury_item(f, &u->items[i], u->tries[i], res->status,
		    reason_text(&f->reason_buf));
	window_remove(f->win, u);
}

/*
 * A 2xx is a success whatever its body says: the contract deletes on 2xx,
 * and sending again what the remote took would only duplicate it. But a
 * body that is not JSON suggests upstream_url names something other than
 * the event API (a proxy's or a web site's page): say so, once a minute.
 */
static void
check_ok_body(struct fwd *f, const struct upstream_res *res)
{
	const char *p = res->body;
	uint64_t now = clock_mono_ms();

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p == '\0' || *p == '{' || *p == '[')
		return;
	if (f->last_body_warn_ms != 0 &&
	    now - f->last_body_warn_ms < WARN_EVERY_MS)
		return;
	f->last_body_warn_ms = now;
	buf_reset(&f->reason_buf);
	add_clean(&f->reason_buf, res->body, res->body_len, 80);
	log_warnx("forwarder: upstream %d with a body that is not JSON "
	          "(\"%s\"); the events count as delivered; is upstream_url "
	          "the event API?",
	    res->status, reason_text(&f->reason_buf));
}

/*
 * An OTLP upstream may accept an export and still reject some of its
 * spans (partial_success). Those are not sent again: the remote said the
 * spans themselves are bad, so a retry would be rejected the same way.
 * They are counted and logged. Only the start of the answer is kept
 * (UPSTREAM_BODY_MAX): a longer one is not parsed.
 */
static void
check_partial(struct fwd *f, const struct spool_item *first,
    const struct upstream_res *res)
{
	enum otlp_encoding enc;
	int64_t rejected_spans = 0;
	char msg[256];

	if (first->kind == KIND_SPANS_PB)
		enc = OTLP_PROTOBUF;
	else if (first->kind == KIND_SPANS_JSON)
		enc = OTLP_JSON;
	else
		return;
	if (res->body_len >= UPSTREAM_BODY_MAX ||
	    otlp_response_parse(enc, res->body, res->body_len, &rejected_spans,
	        msg, sizeof(msg)) == -1 ||
	    rejected_spans <= 0)
		return;
	log_warnx("forwarder: upstream accepted the export but rejected %lld "
	          "span%s: %s",
	    (long long)rejected_spans, rejected_spans == 1 ? "" : "s",
	    msg[0] != '\0' ? msg : "(no message)");
	pthread_mutex_lock(&f->mtx);
	f->stats.spans_partial_rejected += (uint64_t)rejected_spans;
	pthread_mutex_unlock(&f->mtx);
}

/*
 * One request finished (upstream_done_fn). Its unit is settled (2xx,
 * rejected alone, refused client key), split (rejected with several
 * records: the halves go at once, left and right together), or left to be
 * sent again after the wait its failure started.
 */
static void
on_done(void *arg, void *tag, const struct upstream_res *res)
{
	struct fwd *f = arg;
	struct request *r = tag;
	struct win_unit *u = r->unit;
	uint64_t now = clock_mono_ms();

	r->unit = NULL;
	f->inflight--;
	u->state = WIN_READY;
	/* Given up by fwd_stop: the records stay for next time. */
	if (res->aborted)
		return;
	count_answer(f, res);
	switch (res->verdict) {
	case UPSTREAM_DONE:
		aimd_answer(&f->aimd, r->sent_ms, now, AIMD_OK);
		pace_accepted(&f->pace, now);
		check_partial(f, &u->items[0], res);
		/* A protobuf export's answer is protobuf. */
		if (u->items[0].kind != KIND_SPANS_PB)
			check_ok_body(f, res);
		if (f->fails > 0 && r->round == f->round) {
			log_info("forwarder: upstream accepts again after %u "
			         "failed attempt%s",
			    f->fails, f->fails == 1 ? "" : "s");
			f->fails = 0;
		}
		delivered(f, u);
		break;
	case UPSTREAM_AUTH:
		aimd_answer(&f->aimd, r->sent_ms, now, AIMD_NEUTRAL);
		if (u->items[0].auth == NULL) {
			failed(f, r, res);
			break;
		}
		/*
		 * The client's own key was refused: no reload of ours can
		 * fix it, and waiting would hold up every other record.
		 * They go to the dead letters, from where a replay sends
		 * them again.
		 */
		rejected(f, u, res);
		break;
	case UPSTREAM_REJECT:
		aimd_answer(&f->aimd, r->sent_ms, now, AIMD_OK);
		if (u->n == 1)
			rejected(f, u, res);
		else if (window_split(f->win, u, u->n / 2) == -1)
			log_warnx("forwarder: out of memory");
		break;
	default:
		aimd_answer(&f->aimd, r->sent_ms, now, AIMD_BACKOFF);
		if (res->status == 429)
			pace_throttled(&f->pace, r->sent_ms, now);
		failed(f, r, res);
		break;
	}
}

/*
 * Whether requests may start now: a key to send with, and no wait from a
 * failure. Returns 0 when they may, or how long to sleep (state set).
 */
static int
may_send(struct fwd *f, uint64_t now)
{
	if (f->cur_key == NULL || !key_ok(f->cur_key)) {
		set_state(f, FWD_PAUSED, 0,
		    f->cur_key == NULL ? "no API key"
		                       : "API key has control characters");
		return IDLE_POLL_MS;
	}
	if (f->resume_ms == 0)
		return 0;
	/* A new key starts afresh: its first failure waits retry_initial. */
	if (f->auth_wait && f->cur_key_gen != f->auth_key_gen) {
		f->fails = 0;
	} else if (now < f->resume_ms) {
		set_state(f, f->wait_state, f->wait_ms, f->wait_reason);
		return f->resume_ms - now < IDLE_POLL_MS
		    ? (int)(f->resume_ms - now)
		    : IDLE_POLL_MS;
	}
	f->resume_ms = 0;
	f->auth_wait = 0;
	return 0;
}

/*
 * One pass: start every request the rules, the concurrency limit and the
 * rate limit allow, reading the spool as far as needed. Returns how long
 * the thread may sleep before the next pass (a wake or an answer ends the
 * sleep sooner), and in *wake_min the lowest next_seq of fwd_wake that is
 * worth ending it for (see struct fwd).
 */
static int
pump(struct fwd *f, uint64_t *wake_min)
{
	uint64_t now = clock_mono_ms(), w;
	size_t units_max = UNITS_MAX(f->cur.upload_concurrency);
	struct win_unit *u;
	int wait = IDLE_POLL_MS, rw, reads = 0, rc;

	*wake_min = 0;
	if ((rw = may_send(f, now)) != 0) {
		/* A new key or options wake it anyway. */
		*wake_min = UINT64_MAX;
		return rw;
	}
	set_state(f, f->inflight > 0 ? FWD_SENDING : FWD_IDLE, 0, "");
	for (;;) {
		u = window_ready(f->win);
		if (f->inflight >= f->aimd.limit) {
			/* Held back with more to send: the limit matters. */
			if (u != NULL || f->ahead.n > 0 || !f->idle)
				aimd_full(&f->aimd);
			*wake_min = UINT64_MAX;
			break;
		}
		if (u == NULL) {
			/* Only a unit settling can let it read on. */
			if (window_blocked(f->win) ||
			    window_units(f->win) >= units_max || held_full(f)) {
				*wake_min = UINT64_MAX;
				break;
			}
			if (reads++ == READS_PER_PASS) {
				wait = 0;
				break;
			}
			rw = wait;
			rc = read_more(f, now, &rw);
			if (rc == READ_WAIT) {
				if (rw < wait)
					wait = rw;
				if (f->partial_held)
					*wake_min = partial_full_seq(f);
				break;
			}
			continue;
		}
		if (u->stamp != f->round && !refresh_unit(f, u))
			continue;
		if ((w = pace_wait(&f->pace, now, ceiling(f))) > 0) {
			if (f->inflight == 0)
				set_state(f, FWD_SENDING, 0,
				    "paced after the upstream's 429 or an "
				    "outage");
			if (w < (uint64_t)wait)
				wait = (int)w;
			break;
		}
		if ((w = bucket_wait(&f->bucket, cost_of(f, u), now)) > 0) {
			f->bucket_held = 1;
			if (f->inflight == 0)
				set_state(f, FWD_SENDING, 0,
				    "held to upload_rate_limit");
			if (w < (uint64_t)wait)
				wait = (int)w;
			break;
		}
		if (send_unit(f, u, now) == -1)
			break;
		bucket_take(&f->bucket, cost_of(f, u), now);
		pace_sent(&f->pace, now, ceiling(f));
		if (f->bucket_held) {
			f->bucket_held = 0;
			pthread_mutex_lock(&f->mtx);
			f->stats.rate_limited++;
			pthread_mutex_unlock(&f->mtx);
		}
		set_state(f, FWD_SENDING, 0, "");
	}
	return wait;
}

/*
 * Set the threshold of fwd_wake for the coming sleep. 1 when a wake since
 * refresh already passes it: the wake-up it may have saved is due, and
 * the thread must not sleep.
 */
static int
arm_wake(struct fwd *f, uint64_t wake_min)
{
	int due;

	pthread_mutex_lock(&f->mtx);
	f->wake_min = wake_min;
	due = f->wakes != f->wakes_seen && f->wake_seq >= wake_min;
	pthread_mutex_unlock(&f->mtx);
	return due;
}

static void *
fwd_main(void *arg)
{
	struct fwd *f = arg;
	struct timespec ts = {0, 100 * 1000 * 1000};
	uint64_t wake_min;
	int timeout;

	/*
	 * Draining a backlog at full speed is work enough for a core, and
	 * on a small host it would take the CPU the event loop and the
	 * commit thread answer clients with. Lower this thread's priority
	 * (Linux gives each thread its own nice value): it drains with
	 * what ingest leaves, and as fast as ever when ingest is idle.
	 */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), FWD_NICE) == -1)
		log_warn("forwarder: cannot lower its priority");

	for (;;) {
		refresh(f);
		wake_min = 0;
		if (stopping(f)) {
			if (f->inflight == 0)
				break;
			timeout = STOP_POLL_MS;
		} else {
			timeout = pump(f, &wake_min);
		}
		if (arm_wake(f, wake_min))
			timeout = 0;
		publish(f);
		if (upstream_poll(f->up, timeout, on_done, f) == -1) {
			log_warnx("forwarder: libcurl failed; trying again");
			nanosleep(&ts, NULL);
		}
	}
	pthread_mutex_lock(&f->mtx);
	f->exited = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
	return NULL;
}

static void
fwd_free(struct fwd *f)
{
	size_t i;

	/* First: requests in flight borrow the bodies freed below. */
	upstream_free(f->up);
	window_free(f->win);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mtx);
	opts_free(&f->opts);
	opts_free(&f->cur);
	key_free(f->key);
	key_free(f->cur_key);
	spool_batch_free(&f->ahead);
	spool_batch_free(&f->probe);
	spool_batch_free(&f->check);
	for (i = 0; i < UPSTREAM_MAX_INFLIGHT; i++) {
		free(f->reqs[i].iov);
		buf_free(&f->reqs[i].url);
	}
	free(f->seqs);
	buf_free(&f->reason_buf);
	free(f);
}

int
fwd_start(struct fwd **fp, struct spool *sp, const struct fwd_opts *opts,
    const struct fwd_writer *writer, const char *api_key)
{
	struct fwd *f;
	struct fwd_opts o;
	pthread_condattr_t ca;
	sigset_t all, old;
	size_t i;
	int rc;

	*fp = NULL;
	if (opts_valid(opts) == -1 || writer->remove == NULL ||
	    writer->bury == NULL) {
		log_warnx("forwarder: invalid options");
		return -1;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	f->sp = sp;
	f->writer = *writer;
	for (i = 0; i < UPSTREAM_MAX_INFLIGHT; i++) {
		buf_init(&f->reqs[i].url);
	}
	buf_init(&f->reason_buf);
	atomic_init(&f->abort, 0);
	pthread_mutex_init(&f->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	aimd_init(&f->aimd, 1);
	pace_init(&f->pace);
	bucket_init(&f->bucket, 0, clock_mono_ms());
	if (opts_copy(&f->opts, opts) == -1 || opts_copy(&o, opts) == -1)
		goto fail;
	use_opts(f, &o);
	if (key_copy(&f->key, api_key) == -1 ||
	    key_copy(&f->cur_key, api_key) == -1)
		goto fail;
	if (window_new(&f->win) == -1)
		goto fail;
	if (upstream_new(&f->up, &f->abort) == -1) {
		log_warnx("forwarder: cannot set up libcurl");
		goto fail;
	}
	publish(f);
	/*
	 * Signals belong to the main thread; blocked here, a SIGPIPE from a
	 * peer that closed the socket under libcurl also stays harmless.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&f->thread, NULL, fwd_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("forwarder: cannot start its thread");
		goto fail;
	}
	*fp = f;
	return 0;
fail:
	fwd_free(f);
	return -1;
}

void
fwd_wake(struct fwd *f, uint64_t next_seq)
{
	int wake;

	pthread_mutex_lock(&f->mtx);
	if (next_seq > f->wake_seq)
		f->wake_seq = next_seq;
	f->wakes++;
	wake = next_seq >= f->wake_min;
	pthread_mutex_unlock(&f->mtx);
	if (wake)
		upstream_wakeup(f->up);
}

void
fwd_set_key(struct fwd *f, const char *api_key)
{
	char *k, *old;

	if (key_copy(&k, api_key) == -1) {
		log_warnx("forwarder: out of memory, key not replaced");
		return;
	}
	pthread_mutex_lock(&f->mtx);
	old = f->key;
	f->key = k;
	f->key_gen++;
	pthread_mutex_unlock(&f->mtx);
	upstream_wakeup(f->up);
	key_free(old);
}

int
fwd_set_opts(struct fwd *f, const struct fwd_opts *opts)
{
	struct fwd_opts o;

	if (opts_valid(opts) == -1 || opts_copy(&o, opts) == -1)
		return -1;
	pthread_mutex_lock(&f->mtx);
	opts_free(&f->opts);
	f->opts = o;
	f->opts_gen++;
	pthread_mutex_unlock(&f->mtx);
	upstream_wakeup(f->up);
	return 0;
}

void
fwd_get_stats(struct fwd *f, struct fwd_stats *st)
{
	pthread_mutex_lock(&f->mtx);
	*st = f->stats;
	pthread_mutex_unlock(&f->mtx);
}

const char *
fwd_state_name(int state)
{
	switch (state) {
	case FWD_IDLE:
		return "idle";
	case FWD_SENDING:
		return "sending";
	case FWD_BACKOFF:
		return "backoff";
	case FWD_PAUSED:
		return "paused";
	default:
		return "unknown";
	}
}

void
fwd_stop(struct fwd *f, unsigned timeout_ms)
{
	struct timespec ts;
	uint64_t deadline;

	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mtx);
	f->stopping = 1;
	pthread_mutex_unlock(&f->mtx);
	upstream_wakeup(f->up);
	pthread_mutex_lock(&f->mtx);
	deadline = clock_mono_ms() + timeout_ms;
	clock_mono_timespec(deadline, &ts);
	while (!f->exited && clock_mono_ms() < deadline)
		pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
	pthread_mutex_unlock(&f->mtx);
	/* Past the grace period: libcurl gives up within about a second. */
	atomic_store(&f->abort, 1);
	upstream_wakeup(f->up);
	pthread_join(f->thread, NULL);
	fwd_free(f);
}
