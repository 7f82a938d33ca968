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
 * everything queued (seconds of it); the rest go in the next ones.
 */
#define GROUP_MAX_DELS 2048

struct bury_op {
	uint64_t seq;
	int status;
	uint32_t attempts;
	char *reason;
	struct bury_op *next;
};

TAILQ_HEAD(req_list, commit_req);

struct commit {
	struct spool *sp;
	int sync_full;
	uint64_t sync_interval_ms;
	void (*notify)(void *arg, uint64_t next_seq);
	void *notify_arg;

	pthread_t thread;
	/* commit_lock guards everything down to "stopping". */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req_list pending; /* submitted, not yet in a transaction */
	struct req_list done;    /* committed, not yet answered */
	uint64_t *dels;
	size_t ndels, dels_cap;
	struct bury_op *buries;
	struct bury_op **buries_tail;
	int stopping;

	/* The event loop side: woken through efd when done is not empty. */
	int efd;
	struct event *ev_done;

	_Atomic uint64_t commits;
	_Atomic uint64_t events_committed;
	_Atomic uint64_t commit_errors;
	_Atomic uint64_t full_rejects;
};

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

/* Write the forwarder's deletes and burials; 0 or -1 (txn then broken). */
static int
apply_fwd_ops(struct spool_txn *txn, const uint64_t *dels, size_t ndels,
    const struct bury_op *buries)
{
	if (ndels > 0 && spool_txn_delete(txn, dels, ndels) != SPOOL_OK)
		return -1;
	for (const struct bury_op *b = buries; b != NULL; b = b->next) {
		if (spool_txn_bury(txn, b->seq, b->status, b->attempts,
		        b->reason, clock_wall_ms()) != SPOOL_OK)
			return -1;
	}
	return 0;
}

/*
 * One group: the forwarder's ops first, then every request in arrival
 * order, each all-or-nothing, then one commit. Returns 0 with *next_seq
 * the sequence after the last appended record (0 when none was), or -1
 * when the transaction failed and every request's result is SPOOL_ERR.
 */
static int
run_group(struct commit *c, struct req_list *group, uint64_t *dels,
    size_t ndels, struct bury_op *buries, uint64_t *next_seq)
{
	struct spool_txn *txn;
	struct commit_req *r;
	size_t appended = 0;
	int rc;

	*next_seq = 0;

	rc = spool_txn_begin(c->sp, &txn);
	if (rc != SPOOL_OK) {
		log_errorx("spool: begin: %s", spool_strerror());
		goto fail;
	}
	if (apply_fwd_ops(txn, dels, ndels, buries) == -1) {
		log_errorx("spool: forwarder ops: %s", spool_strerror());
		spool_txn_abort(txn);
		goto fail;
	}
	TAILQ_FOREACH(r, group, entry)
	{
		rc = spool_txn_append(txn, r->recs, r->nrecs, &r->first_seq);
		r->result = rc;
		if (rc == SPOOL_OK) {
			appended += r->nrecs;
			*next_seq = r->first_seq + r->nrecs;
		} else if (rc == SPOOL_FULL || rc == SPOOL_TOOBIG) {
			atomic_fetch_add(&c->full_rejects, 1);
			log_debug("spool: %s", spool_strerror());
		} else {
			log_errorx("spool: append: %s", spool_strerror());
			spool_txn_abort(txn);
			goto fail;
		}
	}
	rc = spool_txn_commit(txn);
	if (rc != SPOOL_OK) {
		log_errorx("spool: commit: %s", spool_strerror());
		goto fail;
	}
	atomic_fetch_add(&c->commits, 1);
	atomic_fetch_add(&c->events_committed, appended);
	return 0;

fail:
	atomic_fetch_add(&c->commit_errors, 1);
	*next_seq = 0;
	TAILQ_FOREACH(r, group, entry)
	r->result = SPOOL_ERR;
	return -1;
}

/*
 * After a failed group the forwarder's deletes are tried once more on
 * their own: they free room, and a full spool must still drain.
 */
static void
retry_fwd_ops(
    struct commit *c, uint64_t *dels, size_t ndels, struct bury_op *buries)
{
	struct spool_txn *txn;

	if (ndels == 0 && buries == NULL)
		return;
	if (spool_txn_begin(c->sp, &txn) != SPOOL_OK)
		return;
	if (apply_fwd_ops(txn, dels, ndels, buries) == -1) {
		log_errorx("spool: forwarder ops: %s", spool_strerror());
		spool_txn_abort(txn);
		return;
	}
	if (spool_txn_commit(txn) != SPOOL_OK)
		log_errorx("spool: commit: %s", spool_strerror());
}

/*
 * Give the n deletes at dels back to the queue (empty, under the lock),
 * for the next transaction. Returns how many it took: n, or 0 when out of
 * memory (the caller then deletes them all now).
 */
static size_t
requeue_dels(struct commit *c, const uint64_t *dels, size_t n)
{
	size_t cap = n > 256 ? n : 256;

	if ((c->dels = malloc(cap * sizeof(*dels))) == NULL)
		return 0;
	memcpy(c->dels, dels, n * sizeof(*dels));
	c->ndels = n;
	c->dels_cap = cap;
	return n;
}

static void
wake_loop(struct commit *c)
{
	uint64_t one = 1;

	while (write(c->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

static void *
commit_main(void *arg)
{
	struct commit *c = arg;
	uint64_t last_sync = clock_mono_ms();
	int unsynced = 0;

	for (;;) {
		struct req_list group = TAILQ_HEAD_INITIALIZER(group);
		struct commit_req *r;
		struct bury_op *buries;
		uint64_t *dels, next_seq;
		size_t ndels, bytes = 0;
		int stop;

		pthread_mutex_lock(&c->lock);
		while (TAILQ_EMPTY(&c->pending) && c->ndels == 0 &&
		    c->buries == NULL && !c->stopping) {
			struct timespec ts;
			uint64_t due;

			if (!unsynced) {
				pthread_cond_wait(&c->cond, &c->lock);
				continue;
			}
			due = last_sync + c->sync_interval_ms;
			if (clock_mono_ms() >= due)
				break;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)((due - clock_mono_ms()) / 1000);
			ts.tv_nsec +=
			    (long)((due - clock_mono_ms()) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		}
		while ((r = TAILQ_FIRST(&c->pending)) != NULL &&
		    (bytes == 0 || bytes + r->bytes <= GROUP_MAX_BYTES)) {
			TAILQ_REMOVE(&c->pending, r, entry);
			TAILQ_INSERT_TAIL(&group, r, entry);
			bytes += r->bytes;
		}
		dels = c->dels;
		ndels = c->ndels;
		c->dels = NULL;
		c->ndels = c->dels_cap = 0;
		if (ndels > GROUP_MAX_DELS)
			ndels -= requeue_dels(
			    c, dels + GROUP_MAX_DELS, ndels - GROUP_MAX_DELS);
		buries = c->buries;
		c->buries = NULL;
		c->buries_tail = &c->buries;
		stop = c->stopping && TAILQ_EMPTY(&c->pending) && c->ndels == 0;
		pthread_mutex_unlock(&c->lock);

		if (!TAILQ_EMPTY(&group) || ndels > 0 || buries != NULL) {
			if (run_group(c, &group, dels, ndels, buries,
			        &next_seq) == -1 &&
			    !TAILQ_EMPTY(&group))
				retry_fwd_ops(c, dels, ndels, buries);
			if (!c->sync_full)
				unsynced = 1;
			if (!TAILQ_EMPTY(&group)) {
				pthread_mutex_lock(&c->lock);
				TAILQ_CONCAT(&c->done, &group, entry);
				pthread_mutex_unlock(&c->lock);
				wake_loop(c);
			}
			if (next_seq != 0 && c->notify != NULL)
				c->notify(c->notify_arg, next_seq);
		}
		free(dels);
		free_buries(buries);
		if (unsynced &&
		    (stop ||
		        clock_mono_ms() >= last_sync + c->sync_interval_ms)) {
			if (spool_sync(c->sp) != SPOOL_OK)
				log_errorx("spool: sync: %s", spool_strerror());
			unsynced = 0;
			last_sync = clock_mono_ms();
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
	TAILQ_INIT(&c->pending);
	TAILQ_INIT(&c->done);
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
	c->ndels += n;
	pthread_cond_signal(&c->cond);
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
}

void
commit_stop(struct commit *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	answer_done(c);
	free(c->dels);
	free_buries(c->buries);
	event_free(c->ev_done);
	close(c->efd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
