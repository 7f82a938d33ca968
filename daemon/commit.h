/* commit.h: the group-commit thread, the daemon's one writer to the spool. */
#ifndef TS_COMMIT_H
#define TS_COMMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spool/spool.h"

struct event_base;

/*
 * Ingest hands appends here from the event loop; the commit thread gathers
 * every request that arrives while a commit is on the disk into the next
 * transaction, commits it (fsync with sync = full), and hands each request
 * back to the event loop, which only then answers the client. The forwarder
 * queues its deletes and dead letters here too, so that they ride in the
 * same transactions instead of fighting ingest for LMDB's writer lock.
 *
 * Each request is all-or-nothing, and one the spool refuses changes
 * nothing (no evictions) while the rest of its group commits. A request
 * that fits only once the pages recent commits freed are reusable (the
 * spool's SPOOL_AGAIN; under drop_oldest, the evictions made for it) is
 * appended in the next transaction and answered then. The forwarder's ops
 * stay queued until a transaction with them commits.
 *
 * A request may also carry a call instead of records: a rare write that
 * is a spool function of its own (replaying or purging dead letters). It
 * runs on the commit thread between two transactions, so that the event
 * loop never waits for LMDB's writer lock, and never while requests told
 * SPOOL_AGAIN wait for the room promised to them.
 */
struct commit;

/*
 * Deletes are not worth a transaction (and its fsync) of their own while
 * ingest commits anyway: they wait up to this long for one to ride in, or
 * until a transaction's worth of them is queued. A delete that waits costs
 * nothing but the room it frees a little later; one never committed (a
 * crash) only means the events are sent again.
 */
#define COMMIT_DEL_LINGER_MS 50

struct commit_req {
	/* Set by the submitter; recs and their data stay valid until done. */
	const struct spool_rec *recs;
	size_t nrecs;
	size_t bytes; /* sum of recs[].len, for the group's size cap */
	void (*done)(struct commit_req *req, void *arg);
	void *arg;
	/*
	 * NULL for an append. Otherwise recs is unused and call runs on the
	 * commit thread with arg, opening and committing its own
	 * transaction (spool_dead_replay, spool_dead_purge); its return is
	 * result. It sets *next_seq to the sequence after what it appended
	 * (the forwarder is woken with it), and leaves it 0 when it appended
	 * nothing.
	 */
	int (*call)(struct spool *sp, void *arg, uint64_t *next_seq);
	/* Set by the commit thread before done runs on the event loop. */
	int result;         /* SPOOL_OK, SPOOL_FULL, SPOOL_TOOBIG, SPOOL_ERR */
	uint64_t first_seq; /* of recs[0] when result is SPOOL_OK */
	TAILQ_ENTRY(commit_req) entry;
};

struct commit_stats {
	uint64_t commits;
	uint64_t events_committed;
	uint64_t commit_errors;
	uint64_t full_rejects;
	uint64_t syncs; /* spool_sync calls that succeeded (sync = normal) */
};

/*
 * Start the commit thread. done callbacks run on base's loop (the caller's
 * thread). notify, when set, is called on the commit thread after every
 * commit that appended, with the next sequence number: wake the forwarder
 * with it, quickly and without blocking. sync_interval_ms is used when the
 * spool does not sync every commit.
 */
int commit_start(struct commit **cp, struct spool *sp, struct event_base *base,
    int sync_full, uint64_t sync_interval_ms,
    void (*notify)(void *arg, uint64_t next_seq), void *notify_arg);

/* Queue an append or a call; the event loop's thread only. */
void commit_submit(struct commit *c, struct commit_req *req);

/*
 * The same, handed to the commit thread only when the event loop has run
 * the callbacks that were ready with this one: the requests of one read
 * (of every connection that had some) take the lock and wake the thread
 * once. The event loop's thread only; req as for commit_submit.
 */
void commit_submit_later(struct commit *c, struct commit_req *req);

/*
 * Queue deletes of delivered events; any thread. Copies seqs. Retried
 * after a failed commit until one succeeds; given up (and logged) only at
 * commit_stop or out of memory, when the events are sent again later.
 */
void commit_delete(struct commit *c, const uint64_t *seqs, size_t n);

/*
 * Queue a move to the dead-letter store; any thread. Copies reason. Kept
 * until committed, as deletes are.
 */
void commit_bury(struct commit *c, uint64_t seq, int status, uint32_t attempts,
    const char *reason);

/* Counters; any thread. */
void commit_stats(struct commit *c, struct commit_stats *st);

/*
 * For unit tests only: commit threads started after this call read the
 * monotonic clock (the periodic sync, the forwarder ops' retry delay)
 * through mono_ms, in ms; NULL restores clock_mono_ms. Waits still sleep
 * on CLOCK_MONOTONIC, until mono_ms's deadline read as a time of that
 * clock. The daemon never calls it.
 */
void commit_test_clock(uint64_t (*mono_ms)(void));

/*
 * Commit everything queued, answer it, stop the thread and free c. Called
 * on the event loop's thread after ingest stopped submitting; done
 * callbacks for the last requests run before it returns.
 */
void commit_stop(struct commit *c);

#endif
