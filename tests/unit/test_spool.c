/* test_spool.c: unit tests of the LMDB spool: order, persistence, room, dead
 * letters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/kind.h"
#include "spool/spool.h"

struct fixture {
	char dir[64];
	struct spool *sp;
	int mounted; /* dir is a tmpfs of its own */
};

static int
open_spool(struct fixture *f, uint64_t max_bytes, int drop_oldest)
{
	struct spool_opts o = {.dir = f->dir,
	    .max_bytes = max_bytes,
	    .sync_full = 0,
	    .drop_oldest = drop_oldest,
	    .exclusive = 1};
	char err[256];
	int rc = spool_open(&f->sp, &o, err, sizeof(err));

	if (rc != SPOOL_OK)
		print_error("spool_open: %s\n", err);
	return rc;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/ts-spool-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* The spool on a tmpfs of its own, when this may mount (root). */
static int
setup_fs(void **state, const char *opts)
{
	struct fixture *f;

	if (setup(state) == -1)
		return -1;
	f = *state;
	f->mounted = mount("tmpfs", f->dir, "tmpfs", 0, opts) == 0;
	return 0;
}

static int
setup_small_fs(void **state)
{
	return setup_fs(state, "size=2m,mode=0700");
}

static int
setup_8m_fs(void **state)
{
	return setup_fs(state, "size=8m,mode=0700");
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	spool_close(f->sp);
	if (f->mounted && umount2(f->dir, MNT_DETACH) == -1)
		return -1;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/*
 * Append count records "{"n":i}" in one transaction, or in the next one
 * when told SPOOL_AGAIN.
 */
static void
append_n(struct spool *sp, int from, int count, uint64_t *first)
{
	struct spool_rec *recs = calloc((size_t)count, sizeof(*recs));
	char(*texts)[32] = calloc((size_t)count, 32);
	struct spool_txn *t;
	int rc;

	for (int i = 0; i < count; i++) {
		snprintf(texts[i], 32, "{\"n\":%d}", from + i);
		recs[i].kind = KIND_EVENT;
		recs[i].time_ms = 1000 + (uint64_t)i;
		recs[i].data = texts[i];
		recs[i].len = strlen(texts[i]);
	}
	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	rc = spool_txn_append(t, recs, (size_t)count, first);
	if (rc == SPOOL_AGAIN) {
		assert_int_equal(spool_txn_commit(t), SPOOL_OK);
		assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
		rc = spool_txn_append(t, recs, (size_t)count, first);
	}
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	free(recs);
	free(texts);
}

/*
 * Append r in a transaction of its own, as daemon/commit.c does: told
 * SPOOL_AGAIN, commit and append it again in the next transaction, where
 * it must fit. Returns how many times it had to wait (0 or 1).
 */
static int
append_settled(struct spool *sp, const struct spool_rec *r, uint64_t *seq)
{
	struct spool_txn *t;
	int rc, waited = 0;

	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	rc = spool_txn_append(t, r, 1, seq);
	if (rc == SPOOL_AGAIN) {
		waited = 1;
		assert_int_equal(spool_txn_commit(t), SPOOL_OK);
		assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
		rc = spool_txn_append(t, r, 1, seq);
	}
	if (rc != SPOOL_OK)
		print_error("append: %s\n", spool_strerror());
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	return waited;
}

static void
test_append_read_in_order(void **state)
{
	struct fixture *f = *state;
	struct spool_batch b = {0};
	uint64_t first;

	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 10, &first);
	assert_int_equal(first, 1);
	append_n(f->sp, 10, 5, &first);
	assert_int_equal(first, 11);
	assert_int_equal(spool_read(f->sp, 0, 100, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 15);
	for (size_t i = 0; i < b.n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "{\"n\":%zu}", i);
		assert_int_equal(b.items[i].seq, i + 1);
		assert_string_equal(b.items[i].data, want);
		assert_int_equal(b.items[i].kind, KIND_EVENT);
	}
	/* from, max_n and max_bytes bound the read. */
	assert_int_equal(spool_read(f->sp, 12, 2, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.items[0].seq, 12);
	assert_int_equal(spool_read(f->sp, 1, 100, 10, &b), SPOOL_OK);
	assert_int_equal(b.n, 1); /* always one, even over max_bytes */
	spool_batch_free(&b);
}

static void
test_persists_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st;
	uint64_t first;

	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 7, &first);
	spool_close(f->sp);
	f->sp = NULL;
	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 7);
	assert_int_equal(st.next_seq, 8);
	assert_int_equal(st.bytes, 7 * strlen("{\"n\":0}"));
	assert_int_equal(st.oldest_ms, 1000);
	append_n(f->sp, 7, 1, &first);
	assert_int_equal(first, 8);
}

static void
test_delete_keeps_sequence_monotonic(void **state)
{
	struct fixture *f = *state;
	struct spool_txn *t;
	struct spool_stats st;
	uint64_t first, seqs[3] = {1, 2, 3};

	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 3, &first);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	assert_int_equal(spool_txn_delete(t, seqs, 3), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.oldest_ms, 0);
	spool_close(f->sp);
	f->sp = NULL;
	/* An emptied spool must not hand out sequence 1 again. */
	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	append_n(f->sp, 3, 1, &first);
	assert_int_equal(first, 4);
}

static void
test_full_rejects_and_keeps_txn(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st;
	struct spool_txn *t;
	struct spool_rec r = {0};
	char *big = malloc(1500);
	uint64_t seq, accepted = 0;
	int rc = SPOOL_OK;

	memset(big, 'x', 1500);
	big[0] = '"';
	big[1499] = '"';
	r.kind = KIND_EVENT;
	r.time_ms = 1;
	r.data = big;
	r.len = 1500;
	assert_int_equal(open_spool(f, 1 << 20, 0), SPOOL_OK);
	for (int i = 0; i < 2000 && rc == SPOOL_OK; i++) {
		assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
		rc = spool_txn_append(t, &r, 1, &seq);
		if (rc == SPOOL_OK)
			accepted++;
		/* The transaction stays usable after SPOOL_FULL. */
		assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	}
	assert_int_equal(rc, SPOOL_FULL);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, accepted);
	assert_true(st.used_bytes <= st.limit_bytes);
	assert_true(st.limit_bytes < st.map_bytes);
	/*
	 * Deleting still works in a full spool, and makes room again: the
	 * very next transaction is told SPOOL_AGAIN (LMDB reuses the freed
	 * pages only two commits on), the one after it fits.
	 */
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	for (uint64_t s = 1; s <= accepted; s++)
		assert_int_equal(spool_txn_delete(t, &s, 1), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	assert_int_equal(append_settled(f->sp, &r, &seq), 1);
	free(big);
}

static void
test_drop_oldest_evicts_and_counts(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st;
	struct spool_batch b = {0};
	struct spool_rec r = {0};
	char text[1200];
	uint64_t seq;
	int n = 3000, waits = 0;

	memset(text, 'y', sizeof(text));
	text[0] = '"';
	text[sizeof(text) - 1] = '"';
	r.kind = KIND_EVENT;
	r.time_ms = 1;
	r.data = text;
	r.len = sizeof(text);
	assert_int_equal(open_spool(f, 1 << 20, 1), SPOOL_OK);
	for (int i = 0; i < n; i++)
		waits += append_settled(f->sp, &r, &seq);
	/* Evictions make room for the transaction after theirs. */
	assert_true(waits > 0);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	/* Every append succeeded; what is gone was counted exactly. */
	assert_int_equal(st.events + st.evicted, (uint64_t)n);
	assert_true(st.evicted > 0);
	/* The newest survive, the oldest went. */
	assert_int_equal(spool_read(f->sp, 0, 1, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.items[0].seq, st.evicted + 1);
	spool_batch_free(&b);
}

/* Fill the filesystem under dir with a file, whose path goes to path. */
static void
hog_disk(const char *dir, char *path, size_t len)
{
	static const char block[4096];
	FILE *fp;

	snprintf(path, len, "%s/hog", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	while (fwrite(block, 1, sizeof(block), fp) == sizeof(block) &&
	    fflush(fp) == 0)
		;
	fclose(fp);
}

static void
append_text(struct spool *sp, const char *text, size_t len, int *rc_append,
    int *rc_commit)
{
	struct spool_rec r = {
	    .kind = KIND_EVENT, .time_ms = 1, .data = text, .len = len};
	struct spool_txn *t;
	uint64_t seq;

	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	*rc_append = spool_txn_append(t, &r, 1, &seq);
	*rc_commit = spool_txn_commit(t);
}

/*
 * A map far larger than the filesystem: the spool says full (not an I/O
 * error) while the filesystem still has its reserve, so deleting what was
 * delivered works and makes room again.
 */
static void
test_disk_full_before_map(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st;
	struct spool_txn *t;
	struct statvfs vfs;
	struct spool_rec r = {.kind = KIND_EVENT, .time_ms = 1};
	char text[2000];
	uint64_t accepted = 0, seq;
	int ra = SPOOL_OK, rc;

	if (!f->mounted)
		skip();
	memset(text, 'd', sizeof(text));
	assert_int_equal(open_spool(f, 64 << 20, 0), SPOOL_OK);
	for (int i = 0; i < 5000 && ra == SPOOL_OK; i++) {
		append_text(f->sp, text, sizeof(text), &ra, &rc);
		assert_int_equal(rc, SPOOL_OK);
		if (ra == SPOOL_OK)
			accepted++;
	}
	assert_int_equal(ra, SPOOL_FULL);
	assert_true(accepted > 100);
	assert_int_equal(statvfs(f->dir, &vfs), 0);
	assert_true((uint64_t)vfs.f_bavail * vfs.f_frsize >= 512 * 1024);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, accepted);
	assert_true(st.limit_bytes < st.used_bytes + sizeof(text) + 4096);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	for (uint64_t s = 1; s <= accepted; s++)
		assert_int_equal(spool_txn_delete(t, &s, 1), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	r.data = text;
	r.len = sizeof(text);
	assert_int_equal(append_settled(f->sp, &r, &seq), 1);
}

/*
 * When the disk fills between the room check and the commit (another
 * process took the space), the commit fails with an I/O error, and the
 * environment stays usable: the failed records are gone, the committed
 * ones intact, and the next commit succeeds once there is space again.
 */
static void
test_enospc_at_commit_keeps_spool_usable(void **state)
{
	struct fixture *f = *state;
	struct spool_batch b = {0};
	struct spool_stats st;
	struct spool_txn *t;
	struct spool_rec r = {.kind = KIND_EVENT, .time_ms = 1};
	char hog[128], *text = malloc(64 * 1024);
	uint64_t first, seq;
	int ra, rc;

	if (!f->mounted)
		skip();
	memset(text, 'e', 64 * 1024);
	assert_int_equal(open_spool(f, 64 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 5, &first);
	r.data = text;
	r.len = 64 * 1024;
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	assert_int_equal(spool_txn_append(t, &r, 1, &seq), SPOOL_OK);
	hog_disk(f->dir, hog, sizeof(hog));
	assert_int_equal(spool_txn_commit(t), SPOOL_ERR);
	/* Refused, not failed, while the disk stays full. */
	append_text(f->sp, text, 64 * 1024, &ra, &rc);
	assert_int_equal(ra, SPOOL_FULL);
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(unlink(hog), 0);
	append_text(f->sp, text, 64 * 1024, &ra, &rc);
	assert_int_equal(ra, SPOOL_OK);
	assert_int_equal(rc, SPOOL_OK);
	spool_close(f->sp);
	f->sp = NULL;
	assert_int_equal(open_spool(f, 64 << 20, 0), SPOOL_OK);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 6);
	assert_int_equal(spool_read(f->sp, 0, 100, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 6);
	assert_string_equal(b.items[4].data, "{\"n\":4}");
	assert_int_equal(b.items[5].len, 64 * 1024);
	spool_batch_free(&b);
	free(text);
}

static void
test_too_big_record(void **state)
{
	struct fixture *f = *state;
	struct spool_txn *t;
	struct spool_rec r = {0};
	char *big = calloc(1, 2 << 20);
	uint64_t seq;

	r.kind = KIND_EVENT;
	r.time_ms = 1;
	r.data = big;
	r.len = 2 << 20;
	assert_int_equal(open_spool(f, 1 << 20, 1), SPOOL_OK);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	assert_int_equal(spool_txn_append(t, &r, 1, &seq), SPOOL_TOOBIG);
	spool_txn_abort(t);
	free(big);
}

static void
test_bury_list_replay_purge(void **state)
{
	struct fixture *f = *state;
	struct spool_dead *list, d;
	struct spool_stats st;
	struct spool_batch b = {0};
	struct spool_txn *t;
	uint64_t first;
	size_t n;

	assert_int_equal(open_spool(f, 4 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 4, &first);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	assert_int_equal(
	    spool_txn_bury(t, 2, 400, 3, "upstream 400: bad", 99), SPOOL_OK);
	assert_int_equal(spool_txn_bury(t, 3, 0, 0, "expired", 100), SPOOL_OK);
	assert_int_equal(spool_txn_bury(t, 42, 0, 0, "missing", 100), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);

	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.dead, 2);
	assert_int_equal(spool_dead_list(f->sp, 0, 10, &list, &n), SPOOL_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, 1);
	assert_int_equal(list[0].seq, 2);
	assert_int_equal(list[0].status, 400);
	assert_int_equal(list[0].attempts, 3);
	assert_int_equal(list[0].dead_ms, 99);
	assert_string_equal(list[0].reason, "upstream 400: bad");
	assert_string_equal(list[0].data, "{\"n\":1}");
	assert_string_equal(list[1].reason, "expired");
	for (size_t i = 0; i < n; i++)
		spool_dead_clear(&list[i]);
	free(list);

	assert_int_equal(spool_dead_get(f->sp, 7, &d), SPOOL_NOTFOUND);
	assert_int_equal(spool_dead_replay(f->sp, 1, 5000, &n), SPOOL_OK);
	assert_int_equal(n, 1);
	/* Replayed at the end of the spool, with a new receive time. */
	assert_int_equal(spool_read(f->sp, 5, 10, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.items[0].data, "{\"n\":1}");
	assert_int_equal(b.items[0].time_ms, 5000);
	spool_batch_free(&b);
	assert_int_equal(spool_dead_purge(f->sp, 0, &n), SPOOL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.dead, 0);
	assert_int_equal(spool_dead_purge(f->sp, 1, &n), SPOOL_NOTFOUND);
}

/*
 * Append, in one transaction, small records worth about bytes of room (in
 * two when told SPOOL_AGAIN and again is set). Small ones: a large record
 * needs a run of free pages, which page counts cannot promise.
 */
static int
append_worth(struct spool *sp, uint64_t bytes, int again, uint64_t *seq)
{
	static const char text[100];
	size_t n = (size_t)(bytes / (sizeof(text) + 34));
	struct spool_rec *r = calloc(n, sizeof(*r));
	struct spool_txn *t;
	int rc;

	for (size_t i = 0; i < n; i++) {
		r[i].kind = KIND_EVENT;
		r[i].time_ms = 1;
		r[i].data = text;
		r[i].len = sizeof(text);
	}
	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	rc = spool_txn_append(t, r, n, seq);
	if (rc == SPOOL_AGAIN && again) {
		assert_int_equal(spool_txn_commit(t), SPOOL_OK);
		assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
		rc = spool_txn_append(t, r, n, seq);
	}
	if (rc != SPOOL_OK)
		print_message("append: %s\n", spool_strerror());
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	free(r);
	return rc;
}

/*
 * The audit's case: under drop_oldest, a request that could not fit even
 * with every event evicted (dead letters hold the rest) is refused and
 * evicts nothing; one that fits once events are evicted is promised room
 * (SPOOL_AGAIN), and only it evicts.
 */
static void
test_drop_oldest_refusal_evicts_nothing(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st, before;
	struct spool_txn *t;
	uint64_t first, used_dead, seq;

	assert_int_equal(open_spool(f, 1 << 20, 1), SPOOL_OK);
	append_n(f->sp, 0, 6000, &first);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	for (uint64_t s = first; s < first + 6000; s++)
		assert_int_equal(spool_txn_bury(t, s, 0, 0, "x", 1), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	used_dead = st.used_bytes;
	append_n(f->sp, 0, 2000, &first);
	assert_int_equal(spool_stat(f->sp, &before), SPOOL_OK);
	assert_int_equal(before.events, 2000);
	assert_int_equal(before.dead, 6000);

	/* More than the room the dead letters leave. */
	assert_int_equal(
	    append_worth(
	        f->sp, before.limit_bytes - used_dead + 16 * 1024, 1, &seq),
	    SPOOL_FULL);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_int_equal(st.evicted, before.evicted);
	assert_int_equal(st.events, before.events);
	assert_int_equal(st.next_seq, before.next_seq);

	/* Less than that room, more than what is free: it evicts. */
	assert_int_equal(append_worth(f->sp,
	                     before.limit_bytes - before.used_bytes +
	                         (before.used_bytes - used_dead) / 2,
	                     1, &seq),
	    SPOOL_OK);
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_true(st.evicted > before.evicted);
	assert_int_equal(seq, before.next_seq);
	assert_int_equal(st.events + st.evicted - before.evicted,
	    st.next_seq - before.next_seq + 2000);
}

/* Append n records of len bytes in one transaction; the append's result. */
static int
append_big(struct spool *sp, size_t n, size_t len, int *rc_commit)
{
	struct spool_rec r[4];
	struct spool_txn *t;
	char *text = calloc(1, len);
	uint64_t seq;
	int rc;

	assert_true(n <= 4);
	for (size_t i = 0; i < n; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].kind = KIND_EVENT;
		r[i].time_ms = 1;
		r[i].data = text;
		r[i].len = len;
	}
	assert_int_equal(spool_txn_begin(sp, &t), SPOOL_OK);
	rc = spool_txn_append(t, r, n, &seq);
	*rc_commit = spool_txn_commit(t);
	free(text);
	return rc;
}

#define BIG_REC (700 * 1024)

/*
 * On a full filesystem, the room deletes free is not usable by the next
 * transaction (LMDB keeps the last snapshot's pages): appending as much as
 * was deleted right away must wait a commit (SPOOL_AGAIN), not fail at
 * commit with ENOSPC, and fits after it.
 */
static void
test_deleted_room_usable_after_next_commit(void **state)
{
	struct fixture *f = *state;
	struct spool_txn *t;
	uint64_t accepted = 0;
	int ra = SPOOL_OK, rc;

	if (!f->mounted)
		skip();
	assert_int_equal(open_spool(f, 64 << 20, 0), SPOOL_OK);
	while (ra == SPOOL_OK) {
		ra = append_big(f->sp, 1, BIG_REC, &rc);
		assert_int_equal(rc, SPOOL_OK);
		accepted += ra == SPOOL_OK;
	}
	assert_int_equal(ra, SPOOL_FULL);
	assert_true(accepted >= 4);
	assert_int_equal(spool_txn_begin(f->sp, &t), SPOOL_OK);
	for (uint64_t s = 1; s <= 3; s++)
		assert_int_equal(spool_txn_delete(t, &s, 1), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	ra = append_big(f->sp, 2, BIG_REC, &rc);
	/* Never accepted now and then lost at commit for want of disk. */
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(ra, SPOOL_AGAIN);
	ra = append_big(f->sp, 2, BIG_REC, &rc);
	assert_int_equal(rc, SPOOL_OK);
	assert_int_equal(ra, SPOOL_OK);
}

/*
 * drop_oldest on a full filesystem: the evictions must free real room
 * before the append's commit. Evicting and appending in one transaction
 * grew the file by what was evicted and hit ENOSPC at commit.
 */
static void
test_evictions_free_room_before_commit(void **state)
{
	struct fixture *f = *state;
	struct spool_stats st;
	int ra, rc;

	if (!f->mounted)
		skip();
	assert_int_equal(open_spool(f, 64 << 20, 1), SPOOL_OK);
	for (int i = 0; i < 20; i++) {
		ra = append_big(f->sp, 1, BIG_REC, &rc);
		assert_int_equal(rc, SPOOL_OK);
		if (ra == SPOOL_AGAIN) {
			ra = append_big(f->sp, 1, BIG_REC, &rc);
			assert_int_equal(rc, SPOOL_OK);
		}
		assert_int_equal(ra, SPOOL_OK);
	}
	assert_int_equal(spool_stat(f->sp, &st), SPOOL_OK);
	assert_true(st.evicted > 0);
	assert_int_equal(st.events + st.evicted, 20);
}

static void
test_second_daemon_refused(void **state)
{
	struct fixture *f = *state;
	struct spool_opts o = {
	    .dir = f->dir, .max_bytes = 1 << 20, .exclusive = 1};
	struct spool_opts ro = {.dir = f->dir, .readonly = 1};
	struct spool *other;
	char err[256];

	assert_int_equal(open_spool(f, 1 << 20, 0), SPOOL_OK);
	assert_int_equal(spool_open(&other, &o, err, sizeof(err)), SPOOL_ERR);
	assert_non_null(strstr(err, "in use by another tracespoold"));
	/* Inspection alongside a running daemon is allowed. */
	assert_int_equal(spool_open(&other, &ro, err, sizeof(err)), SPOOL_OK);
	spool_close(other);
}

static void
test_world_writable_dir_refused(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct spool_opts o = {.dir = f->dir, .max_bytes = 1 << 20};

	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_int_equal(spool_open(&f->sp, &o, err, sizeof(err)), SPOOL_ERR);
	assert_non_null(strstr(err, "writable by others"));
	assert_int_equal(chmod(f->dir, 0700), 0);
}

static void
test_readonly_missing_spool(void **state)
{
	struct spool_opts ro = {.dir = "/nonexistent/ts-spool", .readonly = 1};
	struct spool *sp;
	char err[256];

	(void)state;
	assert_int_equal(spool_open(&sp, &ro, err, sizeof(err)), SPOOL_ERR);
	assert_non_null(strstr(err, "/nonexistent/ts-spool"));
}

/*
 * Inspection never creates a file: a read-only open of a spool without
 * lock.mdb (LMDB would create it, owned by whoever inspects) reads it
 * without the lock file, and leaves the folder as it was.
 */
static void
test_readonly_creates_no_lock_file(void **state)
{
	struct fixture *f = *state;
	struct spool_opts ro = {.dir = f->dir, .readonly = 1};
	struct spool_batch b = {0};
	struct spool_stats st;
	struct spool *sp;
	struct stat sb;
	char lock[128], err[256];
	uint64_t first;

	assert_int_equal(open_spool(f, 1 << 20, 0), SPOOL_OK);
	append_n(f->sp, 0, 3, &first);
	spool_close(f->sp);
	f->sp = NULL;
	snprintf(lock, sizeof(lock), "%s/lock.mdb", f->dir);
	assert_int_equal(unlink(lock), 0);
	if (spool_open(&sp, &ro, err, sizeof(err)) != SPOOL_OK)
		fail_msg("read-only open without lock.mdb: %s", err);
	assert_int_equal(spool_stat(sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 3);
	assert_int_equal(spool_read(sp, 0, 10, 1 << 20, &b), SPOOL_OK);
	assert_int_equal(b.n, 3);
	assert_string_equal(b.items[2].data, "{\"n\":2}");
	spool_batch_free(&b);
	assert_int_equal(stat(lock, &sb), -1);
	spool_close(sp);
	assert_int_equal(stat(lock, &sb), -1);
	/* With lock.mdb there (a daemon's), the same open uses it. */
	assert_int_equal(open_spool(f, 1 << 20, 0), SPOOL_OK);
	assert_int_equal(stat(lock, &sb), 0);
	assert_int_equal(spool_open(&sp, &ro, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_stat(sp, &st), SPOOL_OK);
	assert_int_equal(st.events, 3);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_append_read_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_persists_across_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_delete_keeps_sequence_monotonic, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_full_rejects_and_keeps_txn, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_drop_oldest_evicts_and_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_too_big_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_disk_full_before_map, setup_small_fs, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_enospc_at_commit_keeps_spool_usable, setup_small_fs,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bury_list_replay_purge, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_drop_oldest_refusal_evicts_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_deleted_room_usable_after_next_commit, setup_8m_fs,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_evictions_free_room_before_commit, setup_8m_fs, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_second_daemon_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_world_writable_dir_refused, setup, teardown),
	    cmocka_unit_test(test_readonly_missing_spool),
	    cmocka_unit_test_setup_teardown(
	        test_readonly_creates_no_lock_file, setup, teardown),
	};

	return cmocka_run_group_tests_name("spool", tests, NULL, NULL);
}
