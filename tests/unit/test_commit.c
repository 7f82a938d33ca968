/* test_commit.c: the group-commit thread against a real spool and a real
 * event loop: grouping, answers, failed commits, evictions, syncs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/kind.h"
#include "common/log.h"
#include "daemon/commit.h"
#include "spool/spool.h"

/* Every wait in this file is bounded by this. */
#define WAIT_MS 5000

struct fixture {
	char dir[64];
	struct spool *sp;
	struct event_base *base;
	struct commit *c;
	int answered; /* done callbacks run, on the test's thread */
	pid_t holder; /* a process holding the spool's writer lock */
	int hold_release;
};

/* One request: n records of len bytes each. */
struct treq {
	struct commit_req req;
	struct spool_rec *recs;
	char *text;
	struct fixture *f;
	int done;
	void *ctx; /* a call's own state */
};

static void
on_done(struct commit_req *req, void *arg)
{
	struct treq *t = arg;

	(void)req;
	t->done++;
	t->f->answered++;
}

static struct treq *
treq_new(struct fixture *f, size_t n, size_t len)
{
	struct treq *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->f = f;
	t->recs = calloc(n, sizeof(*t->recs));
	t->text = calloc(1, len + 1);
	assert_non_null(t->recs);
	assert_non_null(t->text);
	memset(t->text, 'a', len);
	for (size_t i = 0; i < n; i++) {
		t->recs[i].kind = KIND_EVENT;
		t->recs[i].time_ms = 1;
		t->recs[i].data = t->text;
		t->recs[i].len = len;
	}
	t->req.recs = t->recs;
	t->req.nrecs = n;
	t->req.bytes = n * len;
	t->req.done = on_done;
	t->req.arg = t;
	return t;
}

static void
treq_free(struct treq *t)
{
	free(t->recs);
	free(t->text);
	free(t);
}

/* Run the event loop until answered reaches want; then it must have. */
static void
pump_until(struct fixture *f, int want)
{
	uint64_t end = clock_mono_ms() + WAIT_MS;

	while (f->answered < want && clock_mono_ms() < end) {
		struct timeval tv = {0, 10 * 1000};

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_int_equal(f->answered, want);
}

/* Submit t and wait for its answer; returns its result. */
static int
submit_wait(struct fixture *f, struct treq *t)
{
	commit_submit(f->c, &t->req);
	pump_until(f, f->answered + 1);
	assert_int_equal(t->done, 1);
	return t->req.result;
}

static void
stat_spool(struct fixture *f, struct spool_stats *st)
{
	assert_int_equal(spool_stat(f->sp, st), SPOOL_OK);
}

/* Poll the spool until cond holds or WAIT_MS passed; then it must hold. */
#define SPOOL_UNTIL(f, st, cond)                                               \
	do {                                                                   \
		uint64_t dl_ = clock_mono_ms() + WAIT_MS;                      \
		stat_spool((f), &(st));                                        \
		while (!(cond) && clock_mono_ms() < dl_) {                     \
			usleep(10 * 1000);                                     \
			stat_spool((f), &(st));                                \
		}                                                              \
		assert_true(cond);                                             \
	} while (0)

static void
open_spool(struct fixture *f, uint64_t max_bytes, int drop_oldest)
{
	struct spool_opts o = {.dir = f->dir,
	    .max_bytes = max_bytes,
	    .drop_oldest = drop_oldest,
	    .exclusive = 1};
	char err[256];

	if (spool_open(&f->sp, &o, err, sizeof(err)) != SPOOL_OK)
		fail_msg("spool_open: %s", err);
}

static void
start(struct fixture *f, int sync_full, uint64_t sync_interval_ms)
{
	assert_int_equal(commit_start(&f->c, f->sp, f->base, sync_full,
	                     sync_interval_ms, NULL, NULL),
	    0);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ts-commit-XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->base = event_base_new()) == NULL) {
		free(f);
		return -1;
	}
	f->holder = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	commit_test_clock(NULL);
	commit_stop(f->c);
	spool_close(f->sp);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/*
 * Hold the spool's writer lock from another process, as the `tracespool`
 * tool may: the commit thread's next transaction waits until release, and
 * what is submitted meanwhile gathers into one group. A process, not a
 * thread: the spool allows one write transaction per process.
 */
static void
hold_writer(struct fixture *f)
{
	int up[2], down[2];
	char b;

	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	f->holder = fork();
	assert_true(f->holder != -1);
	if (f->holder == 0) {
		struct spool_opts o = {.dir = f->dir};
		struct spool *sp;
		struct spool_txn *t;
		char err[256];

		if (spool_open(&sp, &o, err, sizeof(err)) != SPOOL_OK ||
		    spool_txn_begin(sp, &t) != SPOOL_OK)
			_exit(1);
		if (write(up[1], "h", 1) != 1 || read(down[0], &b, 1) != 1)
			_exit(1);
		spool_txn_abort(t);
		spool_close(sp);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	assert_int_equal(read(up[0], &b, 1), 1);
	close(up[0]);
	f->hold_release = down[1];
}

static void
release_writer(struct fixture *f)
{
	int status;

	assert_int_equal(write(f->hold_release, "r", 1), 1);
	close(f->hold_release);
	assert_int_equal(waitpid(f->holder, &status, 0), f->holder);
	f->holder = -1;
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * With the writer busy, one request goes into the waiting transaction and
 * the rest gather behind it: submit first, give the thread time to take
 * it, then the others, which then form one group.
 */
static void
submit_behind(
    struct fixture *f, struct treq *first, struct treq **rest, size_t n)
{
	commit_submit(f->c, &first->req);
	usleep(100 * 1000);
	for (size_t i = 0; i < n; i++)
		commit_submit(f->c, &rest[i]->req);
}

/* Append count small events straight into the spool, before the thread. */
static void
fill_events(struct spool *sp, size_t count, size_t len)
{
	struct spool_rec *r = calloc(count, sizeof(*r));
	char *text = calloc(1, len);
	struct spool_txn *t;
	uint64_t first;
	int rc;

	memset(text, 'e', len);
	for (size_t i = 0; i < count; i++) {
		r[i].kind = KIND_EVENT;
		r[i].time_ms = 1;
		r[i].data = text;
		r[i].len = len;
	}
	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	rc = spool_txn_append(t, r, count, &first);
	if (rc == SPOOL_AGAIN) {
		assert_int_equal(spool_txn_commit(t), SPOOL_OK);
		assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
		rc = spool_txn_append(t, r, count, &first);
	}
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	free(r);
	free(text);
}

static void
test_appends_grouped_and_answered(void **state)
{
	struct fixture *f = *state;
	struct treq *first, *rest[9];
	struct commit_stats cs;
	struct spool_batch b = {0};

	open_spool(f, 4 << 20, 0);
	start(f, 1, 0);
	hold_writer(f);
	first = treq_new(f, 1, 10);
	for (int i = 0; i < 9; i++)
		rest[i] = treq_new(f, 2, 10);
	submit_behind(f, first, rest, 9);
	release_writer(f);
	pump_until(f, 10);
	commit_stats(f->c, &cs);
	/* The first alone (unless the thread was too slow to take it before
	 * the others came), the nine others together. */
	assert_in_range(cs.commits, 1, 2);
	assert_int_equal(cs.events_committed, 19);
	assert_int_equal(first->req.result, SPOOL_OK);
	assert_int_equal(first->req.first_seq, 1);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(rest[i]->req.result, SPOOL_OK);
		assert_int_equal(rest[i]->req.first_seq, 2 + 2 * (uint64_t)i);
	}
	assert_int_equal(spool_read(f->sp, 0, 100, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 19);
	spool_batch_free(&b);
	treq_free(first);
	for (int i = 0; i < 9; i++)
		treq_free(rest[i]);
}

/* SPOOL_FULL for one request of a group while another fits. */
static void
test_group_full_one_fits_other(void **state)
{
	struct fixture *f = *state;
	struct treq *first, *rest[2];
	struct commit_stats cs, before;
	struct spool_stats st;

	open_spool(f, 1 << 20, 0);
	fill_events(f->sp, 3000, 100);
	stat_spool(f, &st);
	start(f, 1, 0);
	hold_writer(f);
	first = treq_new(f, 1, 10);
	/* Bigger than the room left, smaller than the spool's limit. */
	rest[0] =
	    treq_new(f, 1, (size_t)(st.limit_bytes - st.used_bytes) + 8192);
	rest[1] = treq_new(f, 1, 10);
	submit_behind(f, first, rest, 2);
	commit_stats(f->c, &before);
	release_writer(f);
	pump_until(f, 3);
	commit_stats(f->c, &cs);
	assert_int_equal(first->req.result, SPOOL_OK);
	assert_int_equal(rest[0]->req.result, SPOOL_FULL);
	assert_int_equal(rest[1]->req.result, SPOOL_OK);
	assert_int_equal(rest[1]->req.first_seq, first->req.first_seq + 1);
	assert_in_range(cs.commits - before.commits, 1, 2);
	assert_int_equal(cs.full_rejects - before.full_rejects, 1);
	assert_int_equal(cs.commit_errors, 0);
	stat_spool(f, &st);
	assert_int_equal(st.events, 3002);
	treq_free(first);
	treq_free(rest[0]);
	treq_free(rest[1]);
}

/*
 * A commit that fails answers SPOOL_ERR to the requests it would have
 * written, and keeps a refused one's own answer; the next commit works.
 */
static void
test_failed_commit_answers_each_its_own(void **state)
{
	struct fixture *f = *state;
	struct treq *first, *rest[2], *after;
	struct commit_stats cs;
	struct spool_stats st;

	open_spool(f, 1 << 20, 0);
	start(f, 1, 0);
	hold_writer(f);
	first = treq_new(f, 1, 10);
	rest[0] = treq_new(f, 1, 10);
	rest[1] = treq_new(f, 1, 2 << 20);
	submit_behind(f, first, rest, 2);
	/* The first's transaction and the group's (one, if they met). */
	spool_fail_commits(f->sp, 2);
	release_writer(f);
	pump_until(f, 3);
	spool_fail_commits(f->sp, 0);
	assert_int_equal(first->req.result, SPOOL_ERR);
	assert_int_equal(rest[0]->req.result, SPOOL_ERR);
	assert_int_equal(rest[1]->req.result, SPOOL_TOOBIG);
	commit_stats(f->c, &cs);
	assert_in_range(cs.commit_errors, 1, 2);
	assert_int_equal(cs.commits, 0);
	stat_spool(f, &st);
	assert_int_equal(st.events, 0);
	after = treq_new(f, 1, 10);
	assert_int_equal(submit_wait(f, after), SPOOL_OK);
	stat_spool(f, &st);
	assert_int_equal(st.events, 1);
	treq_free(first);
	treq_free(rest[0]);
	treq_free(rest[1]);
	treq_free(after);
}

/*
 * The forwarder's deletes and burials survive failed commits: they are
 * queued again (with a delay) and applied once a commit succeeds.
 */
static void
test_fwd_ops_retried_until_committed(void **state)
{
	struct fixture *f = *state;
	uint64_t seqs[5] = {1, 2, 3, 4, 5};
	struct commit_stats cs;
	struct spool_stats st;

	open_spool(f, 4 << 20, 0);
	fill_events(f->sp, 10, 20);
	start(f, 1, 0);
	/* The group, then each retry on its own, fail. */
	spool_fail_commits(f->sp, 3);
	commit_delete(f->c, seqs, 5);
	commit_bury(f->c, 6, 400, 2, "refused");
	SPOOL_UNTIL(f, st, st.events == 4 && st.dead == 1);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.commit_errors, 3);
}

/*
 * Deletes that rode in a failed group with a request are tried again on
 * their own, and queued again while that fails too; the request is
 * answered SPOOL_ERR at once, not held behind them.
 */
static void
test_deletes_requeued_after_failed_group(void **state)
{
	struct fixture *f = *state;
	uint64_t seqs[3] = {1, 2, 3};
	struct treq *first, *rest[1], *after;
	struct commit_stats cs;
	struct spool_stats st;

	open_spool(f, 4 << 20, 0);
	fill_events(f->sp, 10, 20);
	start(f, 1, 0);
	hold_writer(f);
	first = treq_new(f, 1, 10);
	rest[0] = treq_new(f, 1, 10);
	submit_behind(f, first, NULL, 0);
	commit_delete(f->c, seqs, 3);
	commit_submit(f->c, &rest[0]->req);
	/* The first's group, the group with the deletes, their retry. */
	spool_fail_commits(f->sp, 3);
	release_writer(f);
	pump_until(f, 2);
	assert_int_equal(first->req.result, SPOOL_ERR);
	assert_int_equal(rest[0]->req.result, SPOOL_ERR);
	SPOOL_UNTIL(f, st, st.events == 7);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.commit_errors, 3);
	after = treq_new(f, 1, 10);
	assert_int_equal(submit_wait(f, after), SPOOL_OK);
	treq_free(first);
	treq_free(rest[0]);
	treq_free(after);
}

/*
 * Deletes alone make no transaction before COMMIT_DEL_LINGER_MS, waiting
 * for one of ingest's to ride in, and make their own after it.
 */
static void
test_deletes_alone_linger(void **state)
{
	struct fixture *f = *state;
	uint64_t seqs[5] = {1, 2, 3, 4, 5};
	struct commit_stats cs;
	struct spool_stats st;
	uint64_t t0, seen;

	open_spool(f, 4 << 20, 0);
	fill_events(f->sp, 10, 20);
	start(f, 1, 0);
	t0 = clock_mono_ms();
	commit_delete(f->c, seqs, 5);
	usleep(20 * 1000);
	commit_stats(f->c, &cs);
	seen = clock_mono_ms();
	/* Only meaningful when the check came inside the linger. */
	if (seen < t0 + COMMIT_DEL_LINGER_MS)
		assert_int_equal(cs.commits + cs.commit_errors, 0);
	SPOOL_UNTIL(f, st, st.events == 5);
	assert_true(clock_mono_ms() >= t0 + COMMIT_DEL_LINGER_MS);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.commit_errors, 0);
}

/*
 * Requests of commit_submit_later wait for the event loop to run, then
 * reach the thread together: one transaction for all of them.
 */
static void
test_submit_later_one_group(void **state)
{
	struct fixture *f = *state;
	struct treq *t[10];
	struct commit_stats cs;

	open_spool(f, 4 << 20, 0);
	start(f, 1, 0);
	for (int i = 0; i < 10; i++) {
		t[i] = treq_new(f, 1, 10);
		commit_submit_later(f->c, &t[i]->req);
	}
	usleep(20 * 1000);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.commits, 0);
	pump_until(f, 10);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.commits, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(t[i]->req.result, SPOOL_OK);
		assert_int_equal(t[i]->req.first_seq, 1 + (uint64_t)i);
		treq_free(t[i]);
	}
}

/* More deletes than one transaction carries: the rest follow. */
static void
test_many_deletes_span_transactions(void **state)
{
	struct fixture *f = *state;
	uint64_t *seqs = calloc(5000, sizeof(*seqs));
	struct commit_stats cs;
	struct spool_stats st;

	open_spool(f, 16 << 20, 0);
	fill_events(f->sp, 5000, 20);
	start(f, 1, 0);
	for (uint64_t i = 0; i < 5000; i++)
		seqs[i] = i + 1;
	commit_delete(f->c, seqs, 5000);
	SPOOL_UNTIL(f, st, st.events == 0);
	commit_stats(f->c, &cs);
	assert_true(cs.commits >= 3);
	free(seqs);
}

/*
 * drop_oldest: a request that cannot fit even with every event evicted
 * (dead letters hold the spool) is refused and evicts nothing; one that
 * fits once events are evicted is accepted, and only it evicts.
 */
static void
test_drop_oldest_evicts_only_for_accepted(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st, before;
	struct spool_txn *t;
	struct treq *big, *fits;
	uint64_t used_dead;

	open_spool(f, 1 << 20, 1);
	fill_events(f->sp, 4000, 40);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	for (uint64_t s = 1; s <= 4000; s++)
		assert_int_equal(spool_txn_bury(t, s, 0, 0, "x", 1), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	/* Two small commits: the pages the burials freed are reusable. */
	fill_events(f->sp, 1, 10);
	fill_events(f->sp, 1, 10);
	stat_spool(f, &st);
	used_dead = st.used_bytes;
	fill_events(f->sp, 2000, 100);
	stat_spool(f, &before);
	start(f, 0, 50);

	/* More than the dead letters leave: refused, nothing evicted. */
	big = treq_new(
	    f, (size_t)((before.limit_bytes - used_dead) / 134) + 200, 100);
	assert_int_equal(submit_wait(f, big), SPOOL_FULL);
	stat_spool(f, &st);
	assert_int_equal(st.evicted, before.evicted);
	assert_int_equal(st.events, before.events);
	assert_int_equal(st.next_seq, before.next_seq);

	/* Less than that, more than is free: accepted, and it evicts. */
	fits = treq_new(f,
	    (size_t)((before.limit_bytes - before.used_bytes) / 134) +
	        (size_t)((before.used_bytes - used_dead) / 134 / 2),
	    100);
	assert_int_equal(submit_wait(f, fits), SPOOL_OK);
	stat_spool(f, &st);
	assert_true(st.evicted > before.evicted);
	assert_int_equal(st.events + (st.evicted - before.evicted),
	    before.events + fits->req.nrecs);
	assert_int_equal(fits->req.first_seq, before.next_seq);
	treq_free(big);
	treq_free(fits);
}

/* sync = normal: committed appends are synced within the interval. */
static void
test_periodic_sync_happens(void **state)
{
	struct fixture *f = *state;
	struct commit_stats cs;
	struct treq *t;
	uint64_t dl;

	open_spool(f, 4 << 20, 0);
	start(f, 0, 50);
	t = treq_new(f, 1, 10);
	assert_int_equal(submit_wait(f, t), SPOOL_OK);
	dl = clock_mono_ms() + WAIT_MS;
	do {
		usleep(10 * 1000);
		commit_stats(f->c, &cs);
	} while (cs.syncs == 0 && clock_mono_ms() < dl);
	assert_int_equal(cs.syncs, 1);
	/* Nothing new: no more syncs. */
	usleep(200 * 1000);
	commit_stats(f->c, &cs);
	assert_int_equal(cs.syncs, 1);
	treq_free(t);
}

/*
 * A clock that leaps 100 ms at every read: the sync deadline (250 ms on)
 * passes between two reads of one wait, which once made `due - now`
 * wrap and the sync wait for the next request.
 */
static _Atomic uint64_t leap_now = 1000;

static uint64_t
leap_clock(void)
{
	return atomic_fetch_add(&leap_now, 100) + 100;
}

static void
test_periodic_sync_when_deadline_passes_between_reads(void **state)
{
	struct fixture *f = *state;
	struct commit_stats cs;
	struct treq *t;
	uint64_t dl;

	open_spool(f, 4 << 20, 0);
	commit_test_clock(leap_clock);
	start(f, 0, 250);
	t = treq_new(f, 1, 10);
	assert_int_equal(submit_wait(f, t), SPOOL_OK);
	dl = clock_mono_ms() + 2000;
	do {
		usleep(10 * 1000);
		commit_stats(f->c, &cs);
	} while (cs.syncs == 0 && clock_mono_ms() < dl);
	assert_int_equal(cs.syncs, 1);
	treq_free(t);
}

/* What a call saw, for test_call_runs_on_the_commit_thread. */
struct call_seen {
	pthread_t thread;
	size_t replayed;
	_Atomic uint64_t notified; /* next_seq given to notify */
};

static int
replay_call(struct spool *sp, void *arg, uint64_t *next_seq)
{
	struct treq *t = arg;
	struct call_seen *seen = t->ctx;
	struct spool_stats st;
	int rc;

	seen->thread = pthread_self();
	rc = spool_dead_replay(sp, 0, 5, &seen->replayed);
	if (rc == SPOOL_OK && spool_stat(sp, &st) == SPOOL_OK)
		*next_seq = st.next_seq;
	return rc;
}

static void
on_notify(void *arg, uint64_t next_seq)
{
	struct call_seen *seen = arg;

	atomic_store(&seen->notified, next_seq);
}

/*
 * A call (a dead-letter replay) runs on the commit thread, not on the
 * event loop: while another process holds the writer lock the loop goes
 * on and the call waits; then its result comes back on the loop, and the
 * forwarder is woken with the sequence after what it appended.
 */
static void
test_call_runs_on_the_commit_thread(void **state)
{
	struct fixture *f = *state;
	struct call_seen seen_ = {0}, *seen = &seen_;
	struct spool_txn *txn;
	struct spool_stats st;
	struct treq *t;
	uint64_t end;

	open_spool(f, 4 << 20, 0);
	fill_events(f->sp, 2, 10);
	assert_int_equal(spool_txn_begin(f->sp, &txn), SPOOL_OK);
	assert_int_equal(spool_txn_bury(txn, 1, 400, 1, "bad", 2), SPOOL_OK);
	assert_int_equal(spool_txn_bury(txn, 2, 400, 1, "bad", 2), SPOOL_OK);
	assert_int_equal(spool_txn_commit(txn), SPOOL_OK);
	t = treq_new(f, 1, 10);
	t->ctx = seen;
	assert_int_equal(
	    commit_start(&f->c, f->sp, f->base, 1, 0, on_notify, seen), 0);
	t->req.call = replay_call;
	hold_writer(f);
	commit_submit(f->c, &t->req);
	/* The loop runs meanwhile; the call cannot, the lock is taken. */
	end = clock_mono_ms() + 200;
	while (clock_mono_ms() < end) {
		struct timeval tv = {0, 10 * 1000};

		event_base_loopexit(f->base, &tv);
		event_base_dispatch(f->base);
	}
	assert_int_equal(f->answered, 0);
	release_writer(f);
	pump_until(f, 1);
	assert_int_equal(t->req.result, SPOOL_OK);
	assert_int_equal(seen->replayed, 2);
	assert_false(pthread_equal(seen->thread, pthread_self()));
	assert_int_equal(atomic_load(&seen->notified), 5);
	stat_spool(f, &st);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.dead, 0);
	treq_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_appends_grouped_and_answered, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_group_full_one_fits_other, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_commit_answers_each_its_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_fwd_ops_retried_until_committed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deletes_requeued_after_failed_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_many_deletes_span_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deletes_alone_linger, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_submit_later_one_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_drop_oldest_evicts_only_for_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_periodic_sync_happens, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_periodic_sync_when_deadline_passes_between_reads, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_call_runs_on_the_commit_thread, setup, teardown),
	};

	log_init("test_commit", LOG_LVL_WARN);
	return cmocka_run_group_tests_name("commit", tests, NULL, NULL);
}
