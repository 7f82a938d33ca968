/* forwarder.c: uploads the spool in order, with backoff and dead letters. */
#include "forwarder.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/kind.h"
#include "common/log.h"
#include "forwarder/upstream.h"
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
/* A run of failures is logged at warn on its first and then this seldom. */
#define WARN_EVERY_MS (60ULL * 1000)
/* How much of a rejecting answer's body goes into the dead letter. */
#define REASON_BODY_MAX 1024
/*
 * Pending halves while isolating rejected records: each split pushes one,
 * and a range halves each time, so the depth is at most log2(count) + 1.
 */
#define SPLIT_DEPTH 72

/* What ends a wait besides fwd_stop and the deadline. */
#define WAIT_WAKE 0x1   /* any fwd_wake */
#define WAIT_ENOUGH 0x2 /* a new fwd_wake up to enough_seq */
#define WAIT_KEY 0x4    /* fwd_set_key */

struct range {
	size_t lo, hi;
};

struct fwd {
	struct spool *sp;
	struct fwd_writer writer;
	struct upstream *up;
	pthread_t thread;

	/*
	 * Under mtx: what other threads hand in and read out. The thread
	 * never holds mtx across I/O, so callers of fwd_wake and friends
	 * wait at most for a few memory operations.
	 */
	pthread_mutex_t mtx;
	pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast on every change */
	int stopping;
	int exited;
	uint64_t wake_seq; /* highest next_seq given to fwd_wake */
	uint64_t wakes;    /* fwd_wake calls */
	char *key;         /* NULL when there is none */
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
	uint64_t wakes_seen;
	size_t base_len; /* upstream_url without trailing slashes */
	uint64_t cursor; /* next sequence to read */
	uint32_t fails;  /* consecutive failed attempts */
	uint64_t last_warn_ms;
	uint64_t last_body_warn_ms; /* a 2xx with a body that is not JSON */
	uint64_t partial_seq; /* first record of the partial batch held back */
	uint64_t partial_deadline;
	int partial_held;
	struct spool_batch batch;
	struct spool_batch probe;
	uint32_t *tries; /* attempts per record of batch */
	uint64_t *seqs;  /* for writer->remove */
	size_t work_cap;
	struct buf body;
	struct buf url;
	struct buf reason;
	struct upstream_res res;
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
	*dst = o;
	return 0;
}

static int
opts_valid(const struct fwd_opts *o)
{
	if (o->upstream_url == NULL || o->upstream_url[0] == '\0' ||
	    o->batch_max_events == 0 || o->batch_max_bytes == 0)
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

static void
set_state(struct fwd *f, int state, uint64_t backoff_ms, const char *reason)
{
	pthread_mutex_lock(&f->mtx);
	f->stats.state = state;
	f->stats.backoff_ms = backoff_ms;
	snprintf(f->stats.reason, sizeof(f->stats.reason), "%s", reason);
	pthread_mutex_unlock(&f->mtx);
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
}

/*
 * Take over what other threads changed: options, key, and the wake count
 * (read before the spool, so a wake that comes after the read ends the
 * next idle wait). A copy that runs out of memory keeps the old one.
 */
static void
refresh(struct fwd *f)
{
	struct fwd_opts o;
	char *k;
	int bad = 0;

	pthread_mutex_lock(&f->mtx);
	f->wakes_seen = f->wakes;
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
 * Sleep until mono deadline (0: none), fwd_stop, or one of the events in
 * until. Returns 1 when stopping.
 */
static int
wait_for(struct fwd *f, uint64_t deadline, int until, uint64_t enough_seq)
{
	struct timespec ts;
	int s;

	pthread_mutex_lock(&f->mtx);
	for (;;) {
		if (f->stopping)
			break;
		if ((until & WAIT_WAKE) && f->wakes != f->wakes_seen)
			break;
		/* Only a new wake: one already seen was read and not enough. */
		if ((until & WAIT_ENOUGH) && f->wakes != f->wakes_seen &&
		    f->wake_seq >= enough_seq)
			break;
		if ((until & WAIT_KEY) && f->key_gen != f->cur_key_gen)
			break;
		if (deadline == 0) {
			pthread_cond_wait(&f->cond, &f->mtx);
			continue;
		}
		if (clock_mono_ms() >= deadline)
			break;
		clock_mono_timespec(deadline, &ts);
		pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
	}
	s = f->stopping;
	pthread_mutex_unlock(&f->mtx);
	return s;
}

/*
 * Without a usable key nothing is sent and the spool is not touched: wait
 * for another. Returns 1 when it waited.
 */
static int
pause_for_key(struct fwd *f)
{
	if (f->cur_key != NULL && key_ok(f->cur_key))
		return 0;
	set_state(f, FWD_PAUSED, 0,
	    f->cur_key == NULL ? "no API key"
	                       : "API key has control characters");
	wait_for(f, 0, WAIT_KEY, 0);
	return 1;
}

/* Room for per-record work arrays of n records. */
static int
work_reserve(struct fwd *f, size_t n)
{
	uint32_t *t;
	uint64_t *s;

	if (n <= f->work_cap)
		return 0;
	if ((t = reallocarray(f->tries, n, sizeof(*t))) == NULL)
		return -1;
	f->tries = t;
	if ((s = reallocarray(f->seqs, n, sizeof(*s))) == NULL)
		return -1;
	f->seqs = s;
	f->work_cap = n;
	return 0;
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

/* Add records [lo, hi) of the batch to the delivered or buried counts. */
static void
count_records(struct fwd *f, size_t lo, size_t hi, int dead)
{
	uint64_t events = 0, spans = 0, exports = 0;
	const struct spool_item *it;
	const struct kind *k;

	for (it = &f->batch.items[lo]; it < &f->batch.items[hi]; it++) {
		k = kind_get(it->kind);
		if (k != NULL && strcmp(k->unit, "span") == 0) {
			spans += it->count;
			exports++;
		} else {
			events += it->count;
		}
	}
	pthread_mutex_lock(&f->mtx);
	if (dead) {
		f->stats.dead_letters += hi - lo;
		f->stats.spans_dead_lettered += spans;
		f->stats.exports_dead_lettered += exports;
	} else {
		f->stats.events_forwarded += events;
		f->stats.spans_forwarded += spans;
		f->stats.exports_forwarded += exports;
	}
	pthread_mutex_unlock(&f->mtx);
}

static void
bury(struct fwd *f, size_t i, int status, const char *reason)
{
	const struct spool_item *it = &f->batch.items[i];

	/* A rejection's reason quotes the body: for the dead letter only. */
	if (status != 0)
		log_warnx("forwarder: record %llu dead-lettered: upstream %d",
		    (unsigned long long)it->seq, status);
	f->writer.bury(f->writer.arg, it->seq, status, f->tries[i], reason);
	f->cursor = it->seq + 1;
	count_records(f, i, i + 1, 1);
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
 * How many records from the start of the batch go into one request, and
 * whether that request is complete: full, or followed by a record that
 * cannot join it. An incomplete one may wait for more (flush_interval).
 */
static size_t
run_length(struct fwd *f, uint64_t now, int *complete)
{
	const struct spool_item *items = f->batch.items;
	size_t n;

	*complete = 1;
	if (!kind_batches(kind_get(items[0].kind)))
		return 1;
	for (n = 1; n < f->batch.n && n < f->cur.batch_max_events; n++) {
		if (!joins(&items[n], &items[0]) || expired(f, &items[n], now))
			return n;
	}
	if (n < f->batch.n || n >= f->cur.batch_max_events)
		return n;
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
 * Returns 1 when it waited (read again), 0 when it is time to send.
 */
static int
hold_partial(struct fwd *f, const struct spool_item *first)
{
	uint64_t now = clock_mono_ms(), wall = clock_wall_ms(), age, wait;
	uint64_t flush = f->cur.flush_interval_ms;

	if (!f->partial_held || f->partial_seq != first->seq) {
		age = wall > first->time_ms ? wall - first->time_ms : 0;
		wait = flush > age ? flush - age : 0;
		f->partial_held = 1;
		f->partial_seq = first->seq;
		f->partial_deadline = now + wait;
	}
	if (now >= f->partial_deadline)
		return 0;
	set_state(f, FWD_IDLE, 0, "");
	wait_for(f, f->partial_deadline, WAIT_ENOUGH,
	    first->seq + f->cur.batch_max_events);
	return 1;
}

/*
 * The request for records [lo, hi) of the batch, all of one kind and key:
 * the kind's envelope around the stored texts, which are already what the
 * upstream takes, so nothing is printed again.
 */
static int
build_request(struct fwd *f, size_t lo, size_t hi, struct upstream_req *req)
{
	const struct spool_item *items = f->batch.items;
	const struct kind *k = kind_get(items[lo].kind);
	size_t i;
	int rc = 0;

	buf_reset(&f->body);
	buf_reset(&f->url);
	if (!kind_batches(k)) {
		rc |= buf_add(&f->body, items[lo].data, items[lo].len);
	} else {
		rc |= buf_addstr(&f->body, k->batch_open);
		for (i = lo; i < hi; i++) {
			if (i > lo)
				rc |= buf_addstr(&f->body, k->batch_sep);
			rc |= buf_add(&f->body, items[i].data, items[i].len);
		}
		rc |= buf_addstr(&f->body, k->batch_close);
	}
	rc |= buf_add(&f->url, f->cur.upstream_url, f->base_len);
	rc |= buf_addstr(&f->url, k->up_path);
	if (rc != 0)
		return -1;
	req->method = k->up_method;
	req->content_type = k->up_content_type;
	req->url = f->url.data;
	/* A record that came with its client's key goes with that key. */
	req->api_key = items[lo].auth != NULL ? items[lo].auth : f->cur_key;
	req->ca_file = f->cur.ca_file;
	req->timeout_ms = f->cur.request_timeout_ms;
	req->body = f->body.data;
	req->len = f->body.len;
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

/*
 * Full jitter: retry_initial plus a uniform share of the window that
 * doubles with each failure of the run, up to retry_max.
 */
static uint64_t
backoff_delay(const struct fwd *f)
{
	uint64_t init = f->cur.retry_initial_ms, cap = init, span, r;
	uint32_t i;

	for (i = 1; i < f->fails && cap < f->cur.retry_max_ms; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > f->cur.retry_max_ms)
		cap = f->cur.retry_max_ms;
	if (cap <= init)
		return init;
	span = cap - init;
	r = (uint64_t)arc4random() << 32 | arc4random();
	return init + (span == UINT64_MAX ? r : r % (span + 1));
}

/*
 * After a failed attempt: wait, saying why. A Retry-After overrides the
 * computed delay; a new key ends a wait for auth at once.
 */
static void
backoff(struct fwd *f, const struct upstream_res *res)
{
	uint64_t delay, key_gen, now = clock_mono_ms();
	int auth = res->verdict == UPSTREAM_AUTH;
	char reason[sizeof(f->stats.reason)], when[24];

	f->fails++;
	if (res->retry_after_ms != 0)
		delay = res->retry_after_ms < RETRY_AFTER_CAP_MS
		    ? res->retry_after_ms
		    : RETRY_AFTER_CAP_MS;
	else
		delay = backoff_delay(f);
	if (delay < BACKOFF_MIN_MS)
		delay = BACKOFF_MIN_MS;
	if (delay < 1000)
		snprintf(
		    when, sizeof(when), "%llums", (unsigned long long)delay);
	else
		snprintf(when, sizeof(when), "%llu.%llus",
		    (unsigned long long)(delay / 1000),
		    (unsigned long long)(delay % 1000 / 100));
	if (auth)
		snprintf(reason, sizeof(reason),
		    "upstream %d: check the API key", res->status);
	else if (res->status != 0)
		snprintf(reason, sizeof(reason), "upstream %d, retry in %s",
		    res->status, when);
	else
		snprintf(reason, sizeof(reason),
		    "upstream unreachable (%.180s), retry in %s", res->error,
		    when);
	if (f->fails == 1 || now - f->last_warn_ms >= WARN_EVERY_MS) {
		log_warnx("forwarder: %s", reason);
		f->last_warn_ms = now;
	} else {
		log_debug("forwarder: %s", reason);
	}
	pthread_mutex_lock(&f->mtx);
	f->stats.retries++;
	pthread_mutex_unlock(&f->mtx);
	set_state(f, auth ? FWD_PAUSED : FWD_BACKOFF, delay, reason);
	key_gen = f->cur_key_gen;
	wait_for(f, now + delay, auth ? WAIT_KEY : 0, 0);
	refresh(f);
	/* A new key starts afresh: its first failure waits retry_initial. */
	if (f->cur_key_gen != key_gen)
		f->fails = 0;
	set_state(f, FWD_SENDING, 0, "");
}

static void
delivered(struct fwd *f, size_t lo, size_t hi)
{
	size_t i;

	for (i = lo; i < hi; i++)
		f->seqs[i - lo] = f->batch.items[i].seq;
	f->writer.remove(f->writer.arg, f->seqs, hi - lo);
	f->cursor = f->batch.items[hi - 1].seq + 1;
	if (f->fails > 0)
		log_info("forwarder: upstream accepts again after %u failed "
		         "attempt%s",
		    f->fails, f->fails == 1 ? "" : "s");
	f->fails = 0;
	count_records(f, lo, hi, 0);
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
	buf_reset(&f->reason);
	add_clean(&f->reason, res->body, res->body_len, 80);
	log_warnx("forwarder: upstream %d with a body that is not JSON "
	          "(\"%s\"); the events count as delivered; is upstream_url "
	          "the event API?",
	    res->status, f->reason.data != NULL ? f->reason.data : "");
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
	int64_t rejected = 0;
	char msg[256];

	if (first->kind == KIND_SPANS_PB)
		enc = OTLP_PROTOBUF;
	else if (first->kind == KIND_SPANS_JSON)
		enc = OTLP_JSON;
	else
		return;
	if (res->body_len >= UPSTREAM_BODY_MAX ||
	    otlp_response_parse(enc, res->body, res->body_len, &rejected, msg,
	        sizeof(msg)) == -1 ||
	    rejected <= 0)
		return;
	log_warnx("forwarder: upstream accepted the export but rejected %lld "
	          "span%s: %s",
	    (long long)rejected, rejected == 1 ? "" : "s",
	    msg[0] != '\0' ? msg : "(no message)");
	pthread_mutex_lock(&f->mtx);
	f->stats.spans_partial_rejected += (uint64_t)rejected;
	pthread_mutex_unlock(&f->mtx);
}

static void
rejected(struct fwd *f, size_t i, const struct upstream_res *res)
{
	buf_reset(&f->reason);
	(void)buf_printf(&f->reason, "upstream %d: ", res->status);
	add_clean(&f->reason, res->body, res->body_len, REASON_BODY_MAX);
	bury(f, i, res->status, f->reason.data != NULL ? f->reason.data : "");
}

/*
 * Deliver records [0, n) of the batch in order. A rejected range of
 * several records is split in halves, left before right, until each
 * rejected record stands alone and is buried. Returns when all are
 * delivered or buried, after the backoff of a failure (the next pass reads
 * the spool again and retries), or when stopping.
 */
static void
send_run(struct fwd *f, size_t n)
{
	struct range stack[SPLIT_DEPTH], r;
	struct upstream_req req;
	struct upstream_res *res = &f->res;
	size_t top = 0, i, mid;

	stack[top++] = (struct range){0, n};
	while (top > 0 && !stopping(f)) {
		r = stack[top - 1];
		refresh(f);
		if (pause_for_key(f))
			continue;
		if (build_request(f, r.lo, r.hi, &req) == -1 ||
		    upstream_request(f->up, &req, res) == -1) {
			log_warnx("forwarder: out of memory");
			wait_for(f, clock_mono_ms() + IDLE_POLL_MS, 0, 0);
			continue;
		}
		for (i = r.lo; i < r.hi; i++)
			f->tries[i]++;
		/* Given up by fwd_stop: the records stay for next time. */
		if (res->aborted)
			break;
		count_answer(f, res);
		switch (res->verdict) {
		case UPSTREAM_DONE:
			check_partial(f, &f->batch.items[r.lo], res);
			/* A protobuf export's answer is protobuf. */
			if (f->batch.items[r.lo].kind != KIND_SPANS_PB)
				check_ok_body(f, res);
			delivered(f, r.lo, r.hi);
			top--;
			break;
		case UPSTREAM_AUTH:
			if (f->batch.items[r.lo].auth == NULL) {
				backoff(f, res);
				return;
			}
			/*
			 * The client's own key was refused: no reload of
			 * ours can fix it, and waiting would hold up every
			 * other record. They go to the dead letters, from
			 * where a replay sends them again.
			 */
			top--;
			for (i = r.lo; i < r.hi; i++)
				rejected(f, i, res);
			break;
		case UPSTREAM_REJECT:
			top--;
			if (r.hi - r.lo == 1) {
				rejected(f, r.lo, res);
				break;
			}
			mid = r.lo + (r.hi - r.lo) / 2;
			stack[top++] = (struct range){mid, r.hi};
			stack[top++] = (struct range){r.lo, mid};
			break;
		default:
			/*
			 * After the wait, read the spool again: what
			 * drop_oldest evicted meanwhile must not be sent (it
			 * is counted as dropped), and more may have come.
			 */
			backoff(f, res);
			return;
		}
	}
}

/* One pass: read from the cursor, bury what expired, send one run. */
static void
step(struct fwd *f)
{
	size_t max_n = f->cur.batch_max_events, n;
	uint64_t max_bytes = f->cur.batch_max_bytes, now;
	int complete;

	/* Leave room for the wrapper and the commas of a batch body. */
	max_bytes = max_bytes > 32 + max_n ? max_bytes - 32 - max_n : 1;
	if (spool_read(f->sp, f->cursor, max_n, max_bytes, &f->batch) !=
	    SPOOL_OK) {
		log_warnx("forwarder: spool read: %s", spool_strerror());
		set_state(f, FWD_IDLE, 0, "spool read failed");
		wait_for(f, clock_mono_ms() + IDLE_POLL_MS, 0, 0);
		return;
	}
	if (f->batch.n == 0) {
		f->partial_held = 0;
		set_state(f, FWD_IDLE, 0, "");
		wait_for(f, clock_mono_ms() + IDLE_POLL_MS, WAIT_WAKE, 0);
		return;
	}
	if (work_reserve(f, f->batch.n) == -1) {
		log_warnx("forwarder: out of memory");
		wait_for(f, clock_mono_ms() + IDLE_POLL_MS, 0, 0);
		return;
	}
	memset(f->tries, 0, f->batch.n * sizeof(*f->tries));
	now = clock_wall_ms();
	if (expired(f, &f->batch.items[0], now)) {
		/* Bury the expired head; the next pass reads past it. */
		for (n = 0;
		     n < f->batch.n && expired(f, &f->batch.items[n], now); n++)
			bury(f, n, 0, "expired: older than max_event_age");
		log_warnx("forwarder: %zu record%s dead-lettered: older than "
		          "max_event_age",
		    n, n == 1 ? "" : "s");
		return;
	}
	if (kind_get(f->batch.items[0].kind) == NULL) {
		log_warnx(
		    "forwarder: record %llu dead-lettered: unknown kind %d",
		    (unsigned long long)f->batch.items[0].seq,
		    f->batch.items[0].kind);
		bury(f, 0, 0, "unknown record kind");
		return;
	}
	n = run_length(f, now, &complete);
	if (!complete && hold_partial(f, &f->batch.items[0]))
		return;
	f->partial_held = 0;
	set_state(f, FWD_SENDING, 0, "");
	send_run(f, n);
}

static void *
fwd_main(void *arg)
{
	struct fwd *f = arg;

	while (!stopping(f)) {
		refresh(f);
		if (pause_for_key(f))
			continue;
		step(f);
	}
	spool_batch_clear(&f->batch);
	pthread_mutex_lock(&f->mtx);
	f->exited = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
	return NULL;
}

static void
fwd_free(struct fwd *f)
{
	upstream_free(f->up);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->mtx);
	opts_free(&f->opts);
	opts_free(&f->cur);
	key_free(f->key);
	key_free(f->cur_key);
	spool_batch_free(&f->batch);
	spool_batch_free(&f->probe);
	free(f->tries);
	free(f->seqs);
	buf_free(&f->body);
	buf_free(&f->url);
	buf_free(&f->reason);
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
	buf_init(&f->body);
	buf_init(&f->url);
	buf_init(&f->reason);
	atomic_init(&f->abort, 0);
	pthread_mutex_init(&f->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (opts_copy(&f->opts, opts) == -1 || opts_copy(&o, opts) == -1)
		goto fail;
	use_opts(f, &o);
	if (key_copy(&f->key, api_key) == -1 ||
	    key_copy(&f->cur_key, api_key) == -1)
		goto fail;
	if (upstream_new(&f->up, &f->abort) == -1) {
		log_warnx("forwarder: cannot set up libcurl");
		goto fail;
	}
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
	pthread_mutex_lock(&f->mtx);
	if (next_seq > f->wake_seq)
		f->wake_seq = next_seq;
	f->wakes++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
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
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
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
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->mtx);
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
	pthread_cond_broadcast(&f->cond);
	deadline = clock_mono_ms() + timeout_ms;
	clock_mono_timespec(deadline, &ts);
	while (!f->exited && clock_mono_ms() < deadline)
		pthread_cond_timedwait(&f->cond, &f->mtx, &ts);
	pthread_mutex_unlock(&f->mtx);
	/* Past the grace period: libcurl gives up within about a second. */
	atomic_store(&f->abort, 1);
	pthread_join(f->thread, NULL);
	fwd_free(f);
}
