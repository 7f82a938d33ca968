/* commit.c: the group-commit thread, the daemon's one writer to the spool. */
#include "commit.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"

/*
 * A group stops growing at this many bytes, so that the first client in a
 * huge group is not kept waiting for the writes of everyone behind it and
 * one transaction's dirty pages stay well inside the spool's headroom.
 */
#define GROUP_MAX_BYTES (8u * 1024 * 1024)
/*
 * And it carries at most this many of the forwarder's deletes: draining a
 * large spool, the forwarder delivers faster than one transaction deletes,
 * and ingest's requests would wait behind a transaction that deletes
 * everything queued (seconds of it); the rest go in the next ones. A
 * group of more than half as many records carries twice its records. 512
 * (from 2048) took the p99 of 10,000 events/s while 200,000 drained from
 * 19-46 ms to the 16 ms it is with no drain on the same disk, and a
 * backlog of 1,000,000 still drains within ten seconds.
 */
#define GROUP_MAX_DELS 512

/*
 * When a transaction with the forwarder's ops fails, and they fail again
 * on their own, they wait this long before the next try, doubling up to
 * the maximum; meanwhile they are left out of ingest's transactions, so
 * that ops which keep failing cannot fail every request too.
 */
#define FWD_RETRY_MIN_MS 100
#define FWD_RETRY_MAX_MS 5000

struct bury_op {
	uint64_t seq;
	int status;
	uint32_t attempts;
	char *reason;
	struct bury_op *next;
};

TAILQ_HEAD(req_list, commit_req);

/* The forwarder's ops taken for one transaction. */
struct fwd_ops {
	uint64_t *dels;
	size_t ndels;
	struct bury_op *buries;
};

struct commit {
	struct spool *sp;
	int sync_full;
	uint64_t sync_interval_ms;
	void (*notify)(void *arg, uint64_t next_seq);
	void *notify_arg;
	uint64_t (*mono_ms)(void); /* clock_mono_ms, or commit_test_clock's */

	pthread_t thread;
	/* lock guards everything down to "stopping". */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req_list pending; /* submitted, not yet in a transaction */
	struct req_list done;    /* committed, not yet answered */
	uint64_t *dels;
	size_t ndels, dels_cap;
	uint64_t dels_since; /* when the oldest queued delete came */
	struct bury_op *buries;
	struct bury_op **buries_tail;
	int stopping;

	/*
	 * The commit thread's own (no lock). Requests the spool answered
	 * SPOOL_AGAIN: room is promised to them, and they go first into the
	 * next transaction. One that comes back SPOOL_AGAIN (its room went
	 * to another process meanwhile, or the spool's estimate of pages
	 * fell short) waits once more: there, nothing else ran before it,
	 * so it fits, is refused, or evicts more, and the wait ends. And the
	 * forwarder's ops failed fwd_failures times in a row: they are not
	 * retried before fwd_retry_ms.
	 */
	struct req_list again;
	/* Calls taken from pending, run once again is empty. */
	struct req_list calls;
	unsigned fwd_failures;
	uint64_t fwd_retry_ms;

	/* The event loop side: woken through efd when done is not empty. */
	int efd;
	struct event *ev_done;
	/*
	 * The event loop's own (no lock): requests of commit_submit_later,
	 * handed over by ev_flush once the loop has run every callback that
	 * was ready, so that a whole read's worth takes the lock and wakes
	 * the thread once.
	 */
	struct req_list staged;
	struct event *ev_flush;

	_Atomic uint64_t commits;
	_Atomic uint64_t events_committed;
	_Atomic uint64_t commit_errors;
	_Atomic uint64_t full_rejects;
	_Atomic uint64_t syncs;
};

static uint64_t (*_Atomic test_clock)(void);

void
commit_test_clock(uint64_t (*mono_ms)(void))
{
	atomic_store(&test_clock, mono_ms);
}

static void
free_buries(struct bury_op *b)
{
	while (b != NULL) {
		struct bury_op *next = b->next;

		free(b->reason);
		free(b);
		b = next;
	}
}

static int
fwd_ops_empty(const struct fwd_ops *ops)
{
	return ops->ndels == 0 && ops->buries == NULL;
}

/* Write the forwarder's deletes and burials; 0 or -1 (txn then broken). */
static int
apply_fwd_ops(struct spool_txn *txn, const struct fwd_ops *ops)
{
	if (ops->ndels > 0 &&
	    spool_txn_delete(txn, ops->dels, ops->ndels) != SPOOL_OK)
		return -1;
	for (const struct bury_op *b = ops->buries; b != NULL; b = b->next) {
		if (spool_txn_bury(txn, b->seq, b->status, b->attempts,
		        b->reason, clock_wall_ms()) != SPOOL_OK)
			return -1;
	}
	return 0;
}

/*
 * Append one request; its result is set, and it goes to later when told
 * SPOOL_AGAIN, to out otherwise. Returns -1 when the transaction broke.
 */
static int
append_req(struct commit *c, struct spool_txn *txn, struct commit_req *r,
    struct req_list *out, struct req_list *later)
{
	int rc = spool_txn_append(txn, r->recs, r->nrecs, &r->first_seq);

	r->result = rc;
	TAILQ_INSERT_TAIL(rc == SPOOL_AGAIN ? later : out, r, entry);
	switch (rc) {
	case SPOOL_OK:
	case SPOOL_AGAIN:
		return 0;
	case SPOOL_FULL:
	case SPOOL_TOOBIG:
		atomic_fetch_add(&c->full_rejects, 1);
		log_debug("spool: %s", spool_strerror());
		return 0;
	default:
		log_errorx("spool: append: %s", spool_strerror());
		return -1;
	}
}

/*
 * One transaction: the requests told SPOOL_AGAIN last time (*again), whose
 * room is promised, then the forwarder's ops (burials take room too), then
 * every request of group in arrival order, each all-or-nothing (a refused
 * one changes nothing), then one commit. Afterwards group holds the
 * requests to answer, with their result, and *again those told
 * SPOOL_AGAIN now. Returns 0 with *next_seq the sequence after the last
 * appended record (0 when none was), or -1 when the transaction failed:
 * every request is then to be answered, with SPOOL_ERR, except those
 * refused (SPOOL_FULL, SPOOL_TOOBIG), which keep their own answer.
 */
static int
run_group(struct commit *c, struct req_list *group, struct req_list *again,
    const struct fwd_ops *ops, uint64_t *next_seq)
{
	struct req_list first = TAILQ_HEAD_INITIALIZER(first);
	struct req_list out = TAILQ_HEAD_INITIALIZER(out);
	struct req_list later = TAILQ_HEAD_INITIALIZER(later);
	struct spool_txn *txn;
	struct commit_req *r;
	size_t appended = 0;
	int fwd_done = 0;

	*next_seq = 0;
	TAILQ_CONCAT(&first, again, entry);
	if (spool_txn_begin(c->sp, &txn) != SPOOL_OK) {
		log_errorx("spool: begin: %s", spool_strerror());
		goto fail;
	}
	for (;;) {
		struct req_list *from = TAILQ_EMPTY(&first) ? group : &first;

		if (from == group && !fwd_done) {
			fwd_done = 1;
			if (apply_fwd_ops(txn, ops) == -1) {
				log_errorx("spool: forwarder ops: %s",
				    spool_strerror());
				goto abort;
			}
		}
		if ((r = TAILQ_FIRST(from)) == NULL)
			break;
		TAILQ_REMOVE(from, r, entry);
		if (append_req(c, txn, r, &out, &later) == -1)
			goto abort;
	}
	if (spool_txn_commit(txn) != SPOOL_OK) {
		log_errorx("spool: commit: %s", spool_strerror());
		goto fail;
	}
	TAILQ_FOREACH(r, &out, entry) {
		if (r->result == SPOOL_OK) {
			appended += r->nrecs;
			*next_seq = r->first_seq + r->nrecs;
		}
	}
	TAILQ_CONCAT(group, &out, entry);
	TAILQ_CONCAT(again, &later, entry);
	atomic_fetch_add(&c->commits, 1);
	atomic_fetch_add(&c->events_committed, appended);
	return 0;

abort:
	spool_txn_abort(txn);
fail:
	atomic_fetch_add(&c->commit_errors, 1);
	*next_seq = 0;
	TAILQ_CONCAT(&out, &later, entry);
	TAILQ_CONCAT(&out, &first, entry);
	TAILQ_CONCAT(&out, group, entry);
	TAILQ_CONCAT(group, &out, entry);
	TAILQ_FOREACH(r, group, entry) {
		if (r->result != SPOOL_FULL && r->result != SPOOL_TOOBIG)
			r->result = SPOOL_ERR;
	}
	return -1;
}

/* The forwarder's ops in a transaction of their own; 0 or -1. */
static int
commit_fwd_ops(struct commit *c, const struct fwd_ops *ops)
{
	struct spool_txn *txn;

	if (spool_txn_begin(c->sp, &txn) != SPOOL_OK) {
		log_errorx("spool: begin: %s", spool_strerror());
		goto fail;
	}
	if (apply_fwd_ops(txn, ops) == -1) {
		log_errorx("spool: forwarder ops: %s", spool_strerror());
		spool_txn_abort(txn);
		goto fail;
	}
	if (spool_txn_commit(txn) != SPOOL_OK) {
		log_errorx("spool: commit: %s", spool_strerror());
		goto fail;
	}
	return 0;
fail:
	atomic_fetch_add(&c->commit_errors, 1);
	return -1;
}

/*
 * Put ops that did not commit back at the head of the queue, so that the
 * next transactions retry them: the forwarder has moved past those events,
 * and a delete lost here would have them sent again after a restart. Only
 * at shutdown, or out of memory, are they given up (and said so). Takes
 * ops, which is empty afterwards.
 */
static void
requeue_fwd_ops(struct commit *c, struct fwd_ops *ops)
{
	struct bury_op **tail;
	size_t nburies = 0;
	uint64_t *nd = NULL;
	uint64_t delay;

	for (tail = &ops->buries; *tail != NULL; tail = &(*tail)->next)
		nburies++;
	pthread_mutex_lock(&c->lock);
	if (c->stopping) {
		pthread_mutex_unlock(&c->lock);
		log_warnx("commit: %zu deletes and %zu dead-letter moves not "
		          "committed at shutdown; those events are sent again "
		          "after the restart",
		    ops->ndels, nburies);
		goto out;
	}
	if (ops->ndels > 0 &&
	    (nd = realloc(ops->dels, (ops->ndels + c->ndels) * sizeof(*nd))) ==
	        NULL) {
		log_warnx("commit: out of memory requeueing %zu deletes; those "
		          "events are sent again later",
		    ops->ndels);
	} else if (ops->ndels > 0) {
		if (c->ndels == 0)
			c->dels_since = c->mono_ms();
		if (c->ndels > 0)
			memcpy(
			    nd + ops->ndels, c->dels, c->ndels * sizeof(*nd));
		free(c->dels);
		c->dels = nd;
		c->ndels += ops->ndels;
		c->dels_cap = c->ndels;
		ops->dels = NULL;
	}
	if (ops->buries != NULL) {
		*tail = c->buries;
		if (c->buries == NULL)
			c->buries_tail = tail;
		c->buries = ops->buries;
		ops->buries = NULL;
	}
	delay = FWD_RETRY_MIN_MS;
	for (unsigned i = 0; i < c->fwd_failures && delay < FWD_RETRY_MAX_MS;
	     i++)
		delay *= 2;
	if (delay > FWD_RETRY_MAX_MS)
		delay = FWD_RETRY_MAX_MS;
	c->fwd_failures++;
	c->fwd_retry_ms = c->mono_ms() + delay;
	pthread_mutex_unlock(&c->lock);
out:
	free(ops->dels);
	free_buries(ops->buries);
	ops->dels = NULL;
	ops->ndels = 0;
	ops->buries = NULL;
}

/*
 * Take the forwarder's queued ops into ops (under the lock): at most max
 * deletes, the rest stay queued.
 */
static void
take_fwd_ops(struct commit *c, struct fwd_ops *ops, size_t max)
{
	ops->dels = c->dels;
	ops->ndels = c->ndels;
	ops->buries = c->buries;
	c->dels = NULL;
	c->ndels = c->dels_cap = 0;
	c->buries = NULL;
	c->buries_tail = &c->buries;
	if (ops->ndels > max) {
		size_t rest = ops->ndels - max;
		size_t cap = rest > 256 ? rest : 256;

		/* Out of memory, they all go in this transaction. */
		if ((c->dels = malloc(cap * sizeof(*c->dels))) != NULL) {
			memcpy(
			    c->dels, ops->dels + max, rest * sizeof(*c->dels));
			c->ndels = rest;
			c->dels_cap = cap;
			ops->ndels = max;
		}
	}
}

/*
 * Whether the forwarder's queued ops may go into the next transaction
 * (under the lock): there are some, and they are not waiting out a
 * failure.
 */
static int
fwd_ops_ready(const struct commit *c, uint64_t now)
{
	if (c->ndels == 0 && c->buries == NULL)
		return 0;
	return c->fwd_failures == 0 || c->stopping || now >= c->fwd_retry_ms;
}

/*
 * Whether they are worth a transaction of their own (under the lock):
 * burials and shutdown at once, deletes once enough of them are queued or
 * the oldest has waited COMMIT_DEL_LINGER_MS for ingest's next commit.
 */
static int
fwd_ops_urgent(const struct commit *c, uint64_t now)
{
	if (!fwd_ops_ready(c, now))
		return 0;
	return c->buries != NULL || c->stopping || c->ndels >= GROUP_MAX_DELS ||
	    now >= c->dels_since + COMMIT_DEL_LINGER_MS;
}

/*
 * When the ops that are not urgent yet will be (under the lock), as
 * fwd_ops_urgent decides: burials as soon as they may go, deletes once the
 * oldest has lingered; after a failure, neither before the retry time.
 */
static uint64_t
fwd_ops_deadline(const struct commit *c)
{
	uint64_t at;

	if (c->ndels == 0 && c->buries == NULL)
		return UINT64_MAX;
	at = c->buries != NULL ? 0 : c->dels_since + COMMIT_DEL_LINGER_MS;
	if (c->fwd_failures > 0 && c->fwd_retry_ms > at)
		at = c->fwd_retry_ms;
	return at;
}

static void
wake_loop(struct commit *c)
{
	uint64_t one = 1;

	while (write(c->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

/*
 * One round: the forwarder's ops, if they failed before, alone first;
 * then one transaction with everything else. Requests it answers go to
 * the event loop; those told SPOOL_AGAIN stay in c->again.
 */
static void
run_round(struct commit *c, struct req_list *group, struct fwd_ops *ops)
{
	uint64_t next_seq = 0;
	int rc;

	if (!fwd_ops_empty(ops) && c->fwd_failures > 0) {
		if (commit_fwd_ops(c, ops) == -1) {
			requeue_fwd_ops(c, ops);
		} else {
			c->fwd_failures = 0;
			free(ops->dels);
			free_buries(ops->buries);
			memset(ops, 0, sizeof(*ops));
		}
		if (TAILQ_EMPTY(group) && TAILQ_EMPTY(&c->again))
			return;
	}
	rc = run_group(c, group, &c->again, ops, &next_seq);
	if (!fwd_ops_empty(ops)) {
		/*
		 * The requests may be what failed: the deletes free room,
		 * and a full spool must still drain, so they are tried once
		 * more on their own before waiting.
		 */
		if (rc == -1 &&
		    (TAILQ_EMPTY(group) || commit_fwd_ops(c, ops) == -1)) {
			requeue_fwd_ops(c, ops);
		} else {
			c->fwd_failures = 0;
		}
	}
	if (!TAILQ_EMPTY(group)) {
		pthread_mutex_lock(&c->lock);
		TAILQ_CONCAT(&c->done, group, entry);
		pthread_mutex_unlock(&c->lock);
		wake_loop(c);
	}
	if (next_seq != 0 && c->notify != NULL)
		c->notify(c->notify_arg, next_seq);
	/* Committed (requeueing took what was not). */
	free(ops->dels);
	free_buries(ops->buries);
	memset(ops, 0, sizeof(*ops));
}

/*
 * The calls, each a transaction of its own, unless requests wait for
 * promised room: a call's appends could take it, so calls wait for the
 * round that empties c->again (the next one, see struct commit).
 */
static int
run_calls(struct commit *c)
{
	struct commit_req *r;
	uint64_t next_seq;

	if (TAILQ_EMPTY(&c->calls) || !TAILQ_EMPTY(&c->again))
		return 0;
	TAILQ_FOREACH(r, &c->calls, entry) {
		next_seq = 0;
		r->result = r->call(c->sp, r->arg, &next_seq);
		if (r->result == SPOOL_OK && next_seq != 0 && c->notify != NULL)
			c->notify(c->notify_arg, next_seq);
	}
	pthread_mutex_lock(&c->lock);
	TAILQ_CONCAT(&c->done, &c->calls, entry);
	pthread_mutex_unlock(&c->lock);
	wake_loop(c);
	return 1;
}

static void *
commit_main(void *arg)
{
	struct commit *c = arg;
	uint64_t last_sync = c->mono_ms();
	int unsynced = 0;

	for (;;) {
		struct req_list group = TAILQ_HEAD_INITIALIZER(group);
		struct fwd_ops ops = {0};
		struct commit_req *r;
		size_t bytes = 0, nrecs = 0;
		int stop;

		pthread_mutex_lock(&c->lock);
		for (;;) {
			uint64_t now = c->mono_ms(), deadline = UINT64_MAX;
			struct timespec ts;

			if (!TAILQ_EMPTY(&c->pending) ||
			    !TAILQ_EMPTY(&c->again) ||
			    !TAILQ_EMPTY(&c->calls) || c->stopping ||
			    fwd_ops_urgent(c, now))
				break;
			if (unsynced)
				deadline = last_sync + c->sync_interval_ms;
			if (fwd_ops_deadline(c) < deadline)
				deadline = fwd_ops_deadline(c);
			if (deadline == UINT64_MAX) {
				pthread_cond_wait(&c->cond, &c->lock);
				continue;
			}
			if (now >= deadline)
				break;
			/* Computed once from the deadline: see clock.h. */
			clock_mono_timespec(deadline, &ts);
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		}
		while ((r = TAILQ_FIRST(&c->pending)) != NULL &&
		    (r->call != NULL || bytes == 0 ||
		        bytes + r->bytes <= GROUP_MAX_BYTES)) {
			TAILQ_REMOVE(&c->pending, r, entry);
			if (r->call != NULL) {
				TAILQ_INSERT_TAIL(&c->calls, r, entry);
				continue;
			}
			TAILQ_INSERT_TAIL(&group, r, entry);
			bytes += r->bytes;
			nrecs += r->nrecs;
		}
		/*
		 * A large group may carry more deletes: twice its records, so
		 * that deletes keep up with the forwarder however fast ingest
		 * appends, while small groups stay short.
		 */
		if (!TAILQ_EMPTY(&group) || !TAILQ_EMPTY(&c->again)
		        ? fwd_ops_ready(c, c->mono_ms())
		        : fwd_ops_urgent(c, c->mono_ms()))
			take_fwd_ops(c, &ops,
			    2 * nrecs > GROUP_MAX_DELS ? 2 * nrecs
			                               : GROUP_MAX_DELS);
		pthread_mutex_unlock(&c->lock);

		if (!TAILQ_EMPTY(&group) || !TAILQ_EMPTY(&c->again) ||
		    !fwd_ops_empty(&ops)) {
			run_round(c, &group, &ops);
			if (!c->sync_full)
				unsynced = 1;
		}
		if (run_calls(c) && !c->sync_full)
			unsynced = 1;
		pthread_mutex_lock(&c->lock);
		stop = c->stopping && TAILQ_EMPTY(&c->pending) &&
		    TAILQ_EMPTY(&c->again) && TAILQ_EMPTY(&c->calls) &&
		    c->ndels == 0 && c->buries == NULL;
		pthread_mutex_unlock(&c->lock);
		if (unsynced &&
		    (stop || c->mono_ms() >= last_sync + c->sync_interval_ms)) {
			if (spool_sync(c->sp) != SPOOL_OK)
				log_errorx("spool: sync: %s", spool_strerror());
			else
				atomic_fetch_add(&c->syncs, 1);
			unsynced = 0;
			last_sync = c->mono_ms();
		}
		if (stop)
			break;
	}
	return NULL;
}

/* Answer every committed request; runs on the event loop's thread. */
static void
answer_done(struct commit *c)
{
	struct req_list done = TAILQ_HEAD_INITIALIZER(done);
	struct commit_req *r;

	pthread_mutex_lock(&c->lock);
	TAILQ_CONCAT(&done, &c->done, entry);
	pthread_mutex_unlock(&c->lock);
	while ((r = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, r, entry);
		r->done(r, r->arg);
	}
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct commit *c = arg;
	uint64_t n;

	while (read(fd, &n, sizeof(n)) == -1 && errno == EINTR)
		;
	answer_done(c);
}

/* Hand the staged requests over; the event loop's thread. */
static void
flush_staged(struct commit *c)
{
	if (TAILQ_EMPTY(&c->staged))
		return;
	pthread_mutex_lock(&c->lock);
	TAILQ_CONCAT(&c->pending, &c->staged, entry);
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_staged(arg);
}

int
commit_start(struct commit **cp, struct spool *sp, struct event_base *base,
    int sync_full, uint64_t sync_interval_ms,
    void (*notify)(void *arg, uint64_t next_seq), void *notify_arg)
{
	struct commit *c;
	pthread_condattr_t ca;

	*cp = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->sp = sp;
	c->sync_full = sync_full;
	c->sync_interval_ms = sync_interval_ms ? sync_interval_ms : 100;
	c->notify = notify;
	c->notify_arg = notify_arg;
	c->mono_ms = atomic_load(&test_clock);
	if (c->mono_ms == NULL)
		c->mono_ms = clock_mono_ms;
	TAILQ_INIT(&c->pending);
	TAILQ_INIT(&c->done);
	TAILQ_INIT(&c->again);
	TAILQ_INIT(&c->calls);
	TAILQ_INIT(&c->staged);
	c->buries_tail = &c->buries;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->efd == -1) {
		log_warn("commit: eventfd");
		free(c);
		return -1;
	}
	c->ev_done = event_new(base, c->efd, EV_READ | EV_PERSIST, on_done, c);
	if (c->ev_done == NULL || event_add(c->ev_done, NULL) == -1) {
		log_warnx("commit: cannot watch the eventfd");
		goto fail;
	}
	if ((c->ev_flush = event_new(base, -1, 0, on_flush, c)) == NULL) {
		log_warnx("commit: cannot make the flush event");
		goto fail;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&c->thread, NULL, commit_main, c) != 0) {
		log_warnx("commit: cannot start the thread");
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
		goto fail;
	}
	*cp = c;
	return 0;
fail:
	if (c->ev_flush != NULL)
		event_free(c->ev_flush);
	if (c->ev_done != NULL)
		event_free(c->ev_done);
	close(c->efd);
	free(c);
	return -1;
}

void
commit_submit(struct commit *c, struct commit_req *req)
{
	req->result = SPOOL_ERR;
	req->first_seq = 0;
	pthread_mutex_lock(&c->lock);
	TAILQ_INSERT_TAIL(&c->pending, req, entry);
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
commit_submit_later(struct commit *c, struct commit_req *req)
{
	req->result = SPOOL_ERR;
	req->first_seq = 0;
	if (TAILQ_EMPTY(&c->staged))
		event_active(c->ev_flush, 0, 0);
	TAILQ_INSERT_TAIL(&c->staged, req, entry);
}

void
commit_delete(struct commit *c, const uint64_t *seqs, size_t n)
{
	pthread_mutex_lock(&c->lock);
	if (c->ndels + n > c->dels_cap) {
		size_t ncap = c->dels_cap ? c->dels_cap : 256;
		uint64_t *nd;

		while (ncap < c->ndels + n)
			ncap *= 2;
		nd = realloc(c->dels, ncap * sizeof(*nd));
		if (nd == NULL) {
			pthread_mutex_unlock(&c->lock);
			/* Not fatal: the events are sent again later. */
			log_warnx(
			    "commit: out of memory queueing %zu deletes", n);
			return;
		}
		c->dels = nd;
		c->dels_cap = ncap;
	}
	memcpy(c->dels + c->ndels, seqs, n * sizeof(*seqs));
	/*
	 * The thread needs waking only to start the linger's clock, or to
	 * commit a full group of deletes: ingest's next commit takes them
	 * anyway (see COMMIT_DEL_LINGER_MS).
	 */
	if (c->ndels == 0) {
		c->dels_since = c->mono_ms();
		pthread_cond_signal(&c->cond);
	} else if (c->ndels < GROUP_MAX_DELS &&
	    c->ndels + n >= GROUP_MAX_DELS) {
		pthread_cond_signal(&c->cond);
	}
	c->ndels += n;
	pthread_mutex_unlock(&c->lock);
}

void
commit_bury(struct commit *c, uint64_t seq, int status, uint32_t attempts,
    const char *reason)
{
	struct bury_op *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->reason = strdup(reason ? reason : "")) == NULL) {
		free(b);
		log_warnx("commit: out of memory burying event %llu",
		    (unsigned long long)seq);
		return;
	}
	b->seq = seq;
	b->status = status;
	b->attempts = attempts;
	pthread_mutex_lock(&c->lock);
	*c->buries_tail = b;
	c->buries_tail = &b->next;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
commit_stats(struct commit *c, struct commit_stats *st)
{
	st->commits = atomic_load(&c->commits);
	st->events_committed = atomic_load(&c->events_committed);
	st->commit_errors = atomic_load(&c->commit_errors);
	st->full_rejects = atomic_load(&c->full_rejects);
	st->syncs = atomic_load(&c->syncs);
}

void
commit_stop(struct commit *c)
{
	if (c == NULL)
		return;
	flush_staged(c);
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	answer_done(c);
	free(c->dels);
	free_buries(c->buries);
	event_free(c->ev_flush);
	event_free(c->ev_done);
	close(c->efd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
