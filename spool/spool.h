/* spool.h: the durable event spool, one LMDB environment; the only module that
 * sees LMDB. */
#ifndef TS_SPOOL_H
#define TS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

/*
 * Layout. Three named databases in one environment under the spool folder:
 * "events" maps a monotonic 64-bit sequence number to one record (the
 * forwarder reads in that order); "dead" maps a dead-letter id to a record
 * that the upstream refused or that expired; "meta" holds counters that must
 * survive restarts (next sequence, live bytes, evicted count).
 *
 * Threads. A struct spool may be shared by threads: each call opens and
 * closes its own LMDB transaction. Write calls serialise on LMDB's writer
 * lock, so the daemon funnels its writes through one thread (daemon/commit.c)
 * and other processes (the `tracespool` tool) may write too. Read calls never
 * block writers.
 *
 * Results. Functions return SPOOL_OK (0) or a negative SPOOL_* code; errors
 * from LMDB are translated here, and spool_strerror() explains the last one.
 */

enum spool_result {
	SPOOL_OK = 0,
	SPOOL_ERR = -1,      /* I/O or internal error; see the log */
	SPOOL_FULL = -2,     /* no room under spool_max_bytes */
	SPOOL_NOTFOUND = -3, /* no such record */
	SPOOL_TOOBIG = -4,   /* one record can never fit */
	SPOOL_AGAIN = -5,    /* fits in the next transaction: see append */
};

struct spool;

struct spool_opts {
	const char *dir; /* created 0700 when missing */
	uint64_t
	    max_bytes;   /* map size; ingest stops short of it; 0 with
	                    readonly = 0: keep the files' size, never create */
	int sync_full;   /* 1: every commit fsyncs; 0: spool_sync does */
	int drop_oldest; /* 1: appends evict the oldest events when full */
	/*
	 * 1: inspection only (tracespool --spool-dir): creates no file and
	 * changes no owner. Without lock.mdb, reads go without LMDB's lock,
	 * and one a writer may have disturbed fails (SPOOL_ERR, "run
	 * again"); see spool.c, lock_missing.
	 */
	int readonly;
	int exclusive; /* 1: fail if another daemon has this spool */
};

/*
 * One record to append. data and auth are borrowed for the length of the
 * call. The spool does not look inside a record: kind is common/kind.h's
 * id, which the forwarder routes by.
 */
struct spool_rec {
	uint8_t kind;     /* enum kind_id */
	uint32_t count;   /* events or spans it holds, for counters; 0 is 1 */
	uint64_t time_ms; /* when ingest received it (unix ms) */
	const void *data; /* the record's text (JSON, or protobuf bytes) */
	size_t len;
	/*
	 * The client's own bearer key, to be used upstream for this record
	 * only (forward_client_key); NULL or auth_len 0 for none. At most
	 * SPOOL_AUTH_MAX bytes.
	 */
	const char *auth;
	size_t auth_len;
};

#define SPOOL_AUTH_MAX 4096

/* One record read back. data and auth are heap memory owned by the batch. */
struct spool_item {
	uint64_t seq;
	uint8_t kind;
	uint32_t count; /* at least 1 */
	uint64_t time_ms;
	char *data; /* NUL-terminated (protobuf may hold NULs: use len) */
	size_t len;
	char *auth; /* NUL-terminated, or NULL when the record has none */
};

/* Records read by spool_read; free with spool_batch_clear. */
struct spool_batch {
	struct spool_item *items;
	size_t n;
	size_t cap;
	size_t bytes; /* sum of the items' len */
};

/* A dead letter as spool_dead_get/_list return it; free with spool_dead_clear.
 */
struct spool_dead {
	uint64_t id;
	uint64_t seq; /* sequence it had in "events" */
	uint8_t kind;
	uint32_t count;    /* at least 1 */
	int has_auth;      /* it carries a client key: kept for a replay,
	                      never handed out */
	uint64_t time_ms;  /* when ingest received it */
	uint64_t dead_ms;  /* when it was dead-lettered */
	int status;        /* upstream HTTP status, 0 for expiry */
	uint32_t attempts; /* upstream attempts made */
	char *reason;      /* NUL-terminated */
	char *data;        /* the record's text, NUL-terminated */
	size_t len;
};

struct spool_stats {
	uint64_t events;      /* records in "events" */
	uint64_t bytes;       /* their JSON bytes */
	uint64_t dead;        /* dead letters */
	uint64_t evicted;     /* events dropped by drop_oldest, ever */
	uint64_t used_bytes;  /* B-tree pages in use x page size */
	uint64_t limit_bytes; /* where ingest stops (below the map size, or
	                         sooner when the filesystem is fuller) */
	uint64_t map_bytes;   /* the map size, spool_max_bytes */
	uint64_t next_seq;
	uint64_t oldest_ms; /* time_ms of the first event, 0 when empty */
};

/*
 * Open (creating when missing) the spool in opts->dir. A spool left by a
 * killed process opens cleanly: LMDB commits are copy-on-write, and stale
 * reader slots are cleared here. Fails with a message in err (never silently
 * starting empty) when the folder or the files cannot be used.
 */
int spool_open(struct spool **spp, const struct spool_opts *opts, char *err,
    size_t errlen);
/* Close; no transaction of any thread may be open. NULL is ignored. */
void spool_close(struct spool *sp);

/* Text of the last error on this thread, for logs. */
const char *spool_strerror(void);

/*
 * A write transaction: the unit of group commit. Only one may be open per
 * process at a time, and only on the thread that began it.
 */
struct spool_txn;

int spool_txn_begin(struct spool *sp, struct spool_txn **txnp);

/*
 * Append n records as one unit: all are added or none. Checks room first,
 * under the map's limit and on the filesystem (which keeps a reserve free
 * for deletes). Pages that deletes, evictions and burials free are not
 * room yet: LMDB reuses them only two commits later (spool.c, "Room").
 *   SPOOL_OK: added; *first_seq is the first record's sequence, the rest
 *   follow.
 *   SPOOL_AGAIN: they do not fit now but will once those pages are
 *   reusable; with drop_oldest the oldest events were evicted (each
 *   counted) in this transaction to make that so. The room is promised to
 *   these records: commit, then append them again, before anything else,
 *   in the next transaction, where they fit.
 *   SPOOL_FULL: no room even then (with drop_oldest: even with every event
 *   evicted); SPOOL_TOOBIG: the records could never fit.
 * AGAIN, FULL and TOOBIG leave the transaction healthy, and FULL and
 * TOOBIG leave it unchanged: a refused request evicts nothing. On
 * SPOOL_ERR the transaction is broken and must be aborted.
 */
int spool_txn_append(struct spool_txn *txn, const struct spool_rec *recs,
    size_t n, uint64_t *first_seq);

/*
 * Delete events by sequence; a missing one is not an error. The room comes
 * back two commits later (see spool_txn_append).
 */
int spool_txn_delete(struct spool_txn *txn, const uint64_t *seqs, size_t n);

/*
 * Move the event seq to the dead-letter store with its status, attempt count
 * and reason (cut to 4 KiB). A missing event is not an error.
 */
int spool_txn_bury(struct spool_txn *txn, uint64_t seq, int status,
    uint32_t attempts, const char *reason, uint64_t now_ms);

/*
 * Commit (fsync when sync_full) or abort; either frees txn. A commit of a
 * transaction that answered SPOOL_AGAIN is followed by a second, minimal
 * one that makes the promised room usable by the next transaction.
 */
int spool_txn_commit(struct spool_txn *txn);
void spool_txn_abort(struct spool_txn *txn);

/*
 * For tests: the next n calls of spool_txn_commit on sp abort the
 * transaction instead and return SPOOL_ERR, as an I/O error at commit
 * would (0 stops it). Any thread. The daemon and the tool never call it.
 */
void spool_fail_commits(struct spool *sp, unsigned n);

/* Flush to disk what commits without sync_full left in the page cache. */
int spool_sync(struct spool *sp);

/*
 * Read events with seq >= from in order into out (cleared first): at most
 * max_n records and max_bytes bytes, but always at least one if any exists.
 * Copies the data, so the result outlives the read transaction.
 */
int spool_read(struct spool *sp, uint64_t from, size_t max_n, size_t max_bytes,
    struct spool_batch *out);
void spool_batch_clear(struct spool_batch *b);
void spool_batch_free(struct spool_batch *b);

/*
 * Move the first n items of b (n <= b->n) into out (room for n): they then
 * belong to the caller, who frees each with spool_item_free; b keeps the
 * rest, in order. For a reader that holds records beyond one read (the
 * forwarder's requests in flight).
 */
void spool_batch_take(struct spool_batch *b, size_t n, struct spool_item *out);
/* Free what an item taken from a batch owns; the struct itself is the
 * caller's. NULL is ignored. */
void spool_item_free(struct spool_item *it);

int spool_stat(struct spool *sp, struct spool_stats *st);

/* Dead letters: list from id >= from (at most max), get one, replay, purge. */
int spool_dead_list(struct spool *sp, uint64_t from, size_t max,
    struct spool_dead **out, size_t *n);
int spool_dead_get(struct spool *sp, uint64_t id, struct spool_dead *out);
void spool_dead_clear(struct spool_dead *d);
/* Move dead letter id (or all, when id is 0) back to "events"; *n counts. */
int spool_dead_replay(
    struct spool *sp, uint64_t id, uint64_t now_ms, size_t *n);
/* Delete dead letter id (or all, when id is 0); *n counts. */
int spool_dead_purge(struct spool *sp, uint64_t id, size_t *n);

#endif
