/* spool.c: the durable event spool on LMDB; the only file that includes lmdb.h.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <unistd.h>

/*
 * MDB_INTEGERKEY compares keys of sizeof(size_t) as size_t: our 64-bit
 * sequence numbers are stored that way, in native byte order, so the spool
 * files are not portable between architectures (they never move).
 */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "64-bit size_t needed");

/*
 * Record layout in "events": a 16-byte header, the client's key (if any),
 * then the record's text.
 *   0 version (1)  1 kind  2..3 key length  4..7 count  8..15 time_ms
 * Records written before keys and counts existed have zeros there: no
 * key, and a count of 0 means 1.
 * Dead letters in "dead": a header, the reason, the key, then the text.
 * Version 1 (40 bytes, no key or count) and version 2 (48 bytes):
 *   0 version  1 kind  2..3 reason length  4..7 status  8..15 seq
 *   16..23 time_ms  24..31 dead_ms  32..35 attempts  36..39 zero
 *   40..43 count  44..45 key length  46..47 zero
 */
#define REC_VERSION 1
#define REC_HDR 16
#define DEAD_VERSION 2
#define DEAD_HDR_V1 40
#define DEAD_HDR 48
#define DEAD_REASON_MAX 4096

/*
 * The filesystem can fill before the map does (other files on it, or a
 * spool_max_bytes larger than the disk). Ingest then stops while this much
 * is still free, for the reason the map keeps headroom: the forwarder's
 * deletes copy pages too, and a spool that could not delete what it
 * delivered would never drain.
 */
#define DISK_RESERVE (1024 * 1024)

/* LMDB's per-node overhead on a leaf page, and its page header. */
#define NODE_OVERHEAD 8
#define PAGE_HDR 16

struct spool {
	MDB_env *env;
	MDB_dbi events;
	MDB_dbi dead;
	MDB_dbi meta;
	unsigned psize;
	uint64_t map_bytes;
	uint64_t limit_bytes;
	size_t node_max; /* a larger node goes to overflow pages */
	int drop_oldest;
	int readonly;
	int nolock; /* read only, without lock.mdb: see nolock_check */
	int lockfd;
	char *map_addr; /* where data.mdb is mapped; see map_find */
	size_t map_len;
	unsigned trim_commits;      /* since the last map_trim, by the writer */
	_Atomic uint64_t trim_read; /* bytes read since then */
	/*
	 * The id of this process's last commit and the bytes it took out of
	 * the trees (see "Room"); used only under LMDB's writer lock.
	 */
	uint64_t last_txnid;
	uint64_t last_freed;
	_Atomic unsigned fail_commits; /* spool_fail_commits */
};

/* Counters kept in "meta", read at the start of each write transaction. */
struct spool_meta {
	uint64_t next_seq;
	uint64_t bytes;
	uint64_t evicted;
	uint64_t dead_next;
};

struct spool_txn {
	struct spool *sp;
	MDB_txn *txn;
	struct spool_meta meta;
	int dirty;
	size_t touched; /* records appended or deleted, for map_trim */
	/* What disk_have gave at the first append; 0 before it. */
	uint64_t disk_have;
	/*
	 * See "Room": bytes of pages this transaction took out of the trees,
	 * those the commit before it did, and the room promised by
	 * SPOOL_AGAIN, which settle makes usable after the commit.
	 */
	uint64_t freed;
	uint64_t prev_freed;
	uint64_t reserved;
	int again;
};

static __thread char spool_errbuf[256];

static const char *const meta_keys[] = {
    "next_seq", "bytes", "evicted", "dead_next"};

static void __attribute__((format(printf, 1, 2))) seterr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(spool_errbuf, sizeof(spool_errbuf), fmt, ap);
	va_end(ap);
}

const char *
spool_strerror(void)
{
	return spool_errbuf;
}

/* Translate an LMDB code into ours, remembering the text. */
static int
xlate(const char *what, int rc)
{
	/*
	 * Even MDB_MAP_FULL is SPOOL_ERR: LMDB leaves the transaction
	 * unusable after it. SPOOL_FULL comes only from our own room check,
	 * which leaves the transaction healthy.
	 */
	seterr("%s: %s", what, mdb_strerror(rc));
	return SPOOL_ERR;
}

static uint64_t *
meta_field(struct spool_meta *m, int i)
{
	switch (i) {
	case 0:
		return &m->next_seq;
	case 1:
		return &m->bytes;
	case 2:
		return &m->evicted;
	default:
		return &m->dead_next;
	}
}

/* Make *next greater than the last key of dbi, if it has one. */
static int
raise_past_last(MDB_txn *txn, MDB_dbi dbi, uint64_t *next)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return xlate("cursor", rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0) {
		uint64_t last;

		memcpy(&last, k.mv_data, sizeof(last));
		if (*next <= last)
			*next = last + 1;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return xlate("read last key", rc);
	return SPOOL_OK;
}

static int
meta_read(struct spool *sp, MDB_txn *txn, struct spool_meta *m)
{
	MDB_val k, v;
	int rc;

	memset(m, 0, sizeof(*m));
	m->next_seq = 1;
	m->dead_next = 1;
	for (int i = 0; i < 4; i++) {
		k.mv_data = (void *)meta_keys[i];
		k.mv_size = strlen(meta_keys[i]);
		rc = mdb_get(txn, sp->meta, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return xlate("read meta", rc);
		if (v.mv_size != sizeof(uint64_t)) {
			seterr("meta %s: corrupt (size %zu)", meta_keys[i],
			    v.mv_size);
			return SPOOL_ERR;
		}
		memcpy(meta_field(m, i), v.mv_data, sizeof(uint64_t));
	}
	/* The counters never go below what the databases hold. */
	rc = raise_past_last(txn, sp->events, &m->next_seq);
	if (rc == SPOOL_OK)
		rc = raise_past_last(txn, sp->dead, &m->dead_next);
	return rc;
}

static int
meta_write(struct spool *sp, MDB_txn *txn, struct spool_meta *m)
{
	MDB_val k, v;
	int rc;

	for (int i = 0; i < 4; i++) {
		k.mv_data = (void *)meta_keys[i];
		k.mv_size = strlen(meta_keys[i]);
		v.mv_data = meta_field(m, i);
		v.mv_size = sizeof(uint64_t);
		rc = mdb_put(txn, sp->meta, &k, &v, 0);
		if (rc != 0)
			return xlate("write meta", rc);
	}
	return SPOOL_OK;
}

/*
 * Refuse a spool folder another user owns or others can write: the daemon
 * would otherwise acknowledge events into files someone else can replace.
 */
static int
check_dir(const char *dir, int create, int readonly, char *err, size_t errlen)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT || !create) {
			snprintf(err, errlen, "spool_dir %s: %s", dir,
			    strerror(errno));
			return -1;
		}
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "spool_dir %s: cannot create: %s",
			    dir, strerror(errno));
			return -1;
		}
		if (stat(dir, &st) == -1) {
			snprintf(err, errlen, "spool_dir %s: %s", dir,
			    strerror(errno));
			return -1;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "spool_dir %s: not a directory", dir);
		return -1;
	}
	if (readonly)
		return 0;
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
		    "spool_dir %s: owned by uid %u, not by this user (uid %u)",
		    dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & S_IWOTH) {
		snprintf(err, errlen,
		    "spool_dir %s: writable by others (mode %04o); chmod o-w",
		    dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static int
take_lock(struct spool *sp, const char *dir, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/daemon.lock", dir);
	sp->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			snprintf(err, errlen,
			    "spool_dir %s: in use by another tracespoold", dir);
		else
			snprintf(err, errlen, "%s: flock: %s", path,
			    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Without data.mdb, mdb_env_open would create an empty spool (or, read
 * only, a lock file before failing).
 */
static int
spool_exists(const char *dir, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &st) == -1) {
		snprintf(err, errlen, "spool_dir %s: no spool there (%s)", dir,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Inspection opens a spool without lock.mdb with MDB_NOLOCK: a read-only
 * open would otherwise create it, owned by whoever ran the tool (root
 * makes the daemon's next start fail). lock.mdb is missing only when no
 * daemon has the spool open (one creates it before its first write) or
 * someone deleted it. Without it a reader has no slot in LMDB's reader
 * table, so a writer does not know its snapshot: the pages it reads stay
 * untouched until a writer has committed twice after it (the second
 * commit may reuse what the first freed). nolock_check refuses, after
 * the fact, a read during which that may have happened: a daemon that
 * started meanwhile, or one running on a deleted lock.mdb.
 */
static int
lock_missing(const char *dir)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	return lstat(path, &st) == -1 && errno == ENOENT;
}

/* Called before a read transaction of a nolock spool ends. */
static int
nolock_check(struct spool *sp, MDB_txn *txn)
{
	MDB_envinfo info;

	if (!sp->nolock)
		return SPOOL_OK;
	if (mdb_env_info(sp->env, &info) != 0 ||
	    info.me_last_txnid > (size_t)mdb_txn_id(txn) + 1) {
		seterr("the spool changed while it was read without its lock "
		       "file (did a tracespoold start on it?); run again");
		return SPOOL_ERR;
	}
	return SPOOL_OK;
}

/*
 * Find where LMDB mapped data.mdb, for map_trim: LMDB tells the address
 * only with MDB_FIXEDMAP, so look for the file's device and inode in
 * /proc/self/maps. Not found, the map is simply never trimmed. The map
 * does not move: the spool never changes its size once open.
 */
static void
map_find(struct spool *sp)
{
	mdb_filehandle_t fd;
	struct stat st;
	unsigned long lo, hi, maj, mnr, ino;
	char line[512];
	FILE *fp;

	if (mdb_env_get_fd(sp->env, &fd) != 0 || fstat(fd, &st) == -1 ||
	    (fp = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &maj,
		        &mnr, &ino) != 5 ||
		    ino != st.st_ino || makedev(maj, mnr) != st.st_dev ||
		    hi - lo <= sp->map_len)
			continue;
		sp->map_addr = (char *)lo;
		sp->map_len = hi - lo;
	}
	fclose(fp);
}

/*
 * Pages of the map that a thread reads stay in the process's resident set
 * until the kernel wants them back: reading a large spool once would count
 * all of it in the daemon's VmRSS, and appends pull in the pages around
 * each one they read. Every so many commits and bytes read, the map's
 * pages are dropped from it: they stay in the page cache, and a page
 * used again is mapped again (a minor fault). LMDB never changes a page a
 * reader can see, so this is safe while other threads read.
 */
#define TRIM_COMMITS 64
#define TRIM_RECORDS 32
#define TRIM_READ_BYTES (1024 * 1024)
#define TRIM_DELETES 512

static void
map_trim(struct spool *sp)
{
	if (sp->map_addr != NULL)
		(void)madvise(sp->map_addr, sp->map_len, MADV_DONTNEED);
}

int
spool_open(
    struct spool **spp, const struct spool_opts *opts, char *err, size_t errlen)
{
	struct spool *sp;
	MDB_txn *txn = NULL;
	MDB_envinfo info;
	MDB_stat st;
	/*
	 * A writer that gives no max_bytes (tracespool's dlq commands, beside
	 * a running daemon) keeps the map size the files have: a smaller one
	 * would shrink the map under the daemon. Such a writer, like a reader,
	 * only works on a spool that exists: it never creates one, not even
	 * the lock file, which would then belong to whoever ran the tool.
	 */
	int keep = !opts->readonly && opts->max_bytes == 0;
	unsigned dbflags = opts->readonly || keep ? 0 : MDB_CREATE;
	unsigned envflags = MDB_NOTLS;
	uint64_t headroom;
	int rc, dead;

	*spp = NULL;
	if (check_dir(opts->dir, !opts->readonly && !keep, opts->readonly, err,
	        errlen) == -1)
		return SPOOL_ERR;
	if ((keep || opts->readonly) &&
	    spool_exists(opts->dir, err, errlen) == -1)
		return SPOOL_ERR;
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL) {
		snprintf(err, errlen, "spool: out of memory");
		return SPOOL_ERR;
	}
	sp->lockfd = -1;
	sp->drop_oldest = opts->drop_oldest;
	sp->readonly = opts->readonly;
	if (opts->exclusive && take_lock(sp, opts->dir, err, errlen) == -1)
		goto fail;
	rc = mdb_env_create(&sp->env);
	if (rc != 0)
		goto lmdb_fail;
	mdb_env_set_maxdbs(sp->env, 4);
	/* Size 0 before mdb_env_open makes LMDB use the files' size. */
	if (!opts->readonly) {
		rc = mdb_env_set_mapsize(sp->env, (size_t)opts->max_bytes);
		if (rc != 0)
			goto lmdb_fail;
	}
	if (opts->readonly && lock_missing(opts->dir)) {
		envflags |= MDB_NOLOCK;
		sp->nolock = 1;
	}
	if (opts->readonly)
		envflags |= MDB_RDONLY;
	else if (!opts->sync_full)
		envflags |= MDB_NOSYNC;
	rc = mdb_env_open(sp->env, opts->dir, envflags, 0600);
	if (rc != 0)
		goto lmdb_fail;
	/* Clear reader slots left by killed processes, so their old
	 * snapshots do not pin pages forever. */
	mdb_reader_check(sp->env, &dead);

	rc =
	    mdb_txn_begin(sp->env, NULL, opts->readonly ? MDB_RDONLY : 0, &txn);
	if (rc != 0)
		goto lmdb_fail;
	rc = mdb_dbi_open(txn, "events", dbflags | MDB_INTEGERKEY, &sp->events);
	if (rc == 0)
		rc = mdb_dbi_open(
		    txn, "dead", dbflags | MDB_INTEGERKEY, &sp->dead);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", dbflags, &sp->meta);
	if (rc == MDB_NOTFOUND) {
		snprintf(err, errlen, "%s: not a tracespool spool", opts->dir);
		goto fail;
	}
	if (rc != 0)
		goto lmdb_fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto lmdb_fail;

	mdb_env_stat(sp->env, &st);
	mdb_env_info(sp->env, &info);
	sp->psize = st.ms_psize;
	sp->map_bytes = info.me_mapsize;
	/* LMDB's largest leaf node for this page size (me_nodemax). */
	sp->node_max = (((sp->psize - PAGE_HDR) / 2) & ~(size_t)1) - 2;
	/*
	 * Ingest stops an eighth short of the map (at least 256 KiB, at most
	 * 64 MiB): deleting delivered events copies pages too, and pages
	 * freed by one transaction are only reused by later ones, so the
	 * forwarder must always find room to delete what it delivered.
	 */
	headroom = sp->map_bytes / 8;
	if (headroom < 256 * 1024)
		headroom = 256 * 1024;
	if (headroom > 64ULL * 1024 * 1024)
		headroom = 64ULL * 1024 * 1024;
	sp->limit_bytes = sp->map_bytes > 2 * headroom
	    ? sp->map_bytes - headroom
	    : sp->map_bytes / 2;
	map_find(sp);
	*spp = sp;
	return SPOOL_OK;

lmdb_fail:
	snprintf(err, errlen, "spool %s: %s", opts->dir, mdb_strerror(rc));
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (sp->env != NULL)
		mdb_env_close(sp->env);
	if (sp->lockfd != -1)
		close(sp->lockfd);
	free(sp);
	return SPOOL_ERR;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (!sp->readonly)
		mdb_env_sync(sp->env, 1);
	mdb_env_close(sp->env);
	if (sp->lockfd != -1)
		close(sp->lockfd);
	free(sp);
}

int
spool_sync(struct spool *sp)
{
	int rc = mdb_env_sync(sp->env, 1);

	return rc == 0 ? SPOOL_OK : xlate("sync", rc);
}

int
spool_txn_begin(struct spool *sp, struct spool_txn **txnp)
{
	struct spool_txn *t;
	int rc;

	*txnp = NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		seterr("out of memory");
		return SPOOL_ERR;
	}
	t->sp = sp;
	rc = mdb_txn_begin(sp->env, NULL, 0, &t->txn);
	if (rc != 0) {
		free(t);
		return xlate("begin", rc);
	}
	rc = meta_read(sp, t->txn, &t->meta);
	if (rc != SPOOL_OK) {
		mdb_txn_abort(t->txn);
		free(t);
		return rc;
	}
	/* Another process's commit in between made those pages reusable. */
	if (sp->last_txnid != 0 && mdb_txn_id(t->txn) == sp->last_txnid + 1)
		t->prev_freed = sp->last_freed;
	*txnp = t;
	return SPOOL_OK;
}

/* Pages in use by our three B-trees, in bytes. */
static int
used_bytes(struct spool *sp, MDB_txn *txn, uint64_t *used)
{
	MDB_dbi dbis[3] = {sp->events, sp->dead, sp->meta};
	MDB_stat st;
	uint64_t pages = 0;

	for (int i = 0; i < 3; i++) {
		int rc = mdb_stat(txn, dbis[i], &st);

		if (rc != 0)
			return xlate("stat", rc);
		pages += st.ms_branch_pages + st.ms_leaf_pages +
		    st.ms_overflow_pages;
	}
	*used = pages * sp->psize;
	return SPOOL_OK;
}

/*
 * What the data file may take on its filesystem: its size now plus the
 * space free to unprivileged users. It holds still during a write
 * transaction, whose pages reach the file only at commit.
 */
static int
disk_have(struct spool *sp, uint64_t *have)
{
	struct statvfs vfs;
	struct stat st;
	mdb_filehandle_t fd;
	int rc;

	if ((rc = mdb_env_get_fd(sp->env, &fd)) != 0)
		return xlate("disk space", rc);
	if (fstat(fd, &st) == -1 || fstatvfs(fd, &vfs) == -1) {
		seterr("disk space: %s", strerror(errno));
		return SPOOL_ERR;
	}
	*have = (uint64_t)vfs.f_bavail * vfs.f_frsize + (uint64_t)st.st_size;
	return SPOOL_OK;
}

/*
 * Bytes the spool may still grow by on its filesystem, from have
 * (disk_have) and used (used_bytes): pages of the file that no tree uses
 * are reused first, and pages a transaction added beyond the file's end
 * count against the free space. DISK_RESERVE stays free.
 */
static uint64_t
disk_room(const struct spool *sp, uint64_t have, uint64_t used)
{
	/* The two meta pages and the main tree are not in used. */
	uint64_t inuse = used + 3 * (uint64_t)sp->psize + DISK_RESERVE;

	return have > inuse ? have - inuse : 0;
}

/* What a record will cost in pages: a leaf node, or overflow pages. */
static uint64_t
rec_cost(const struct spool *sp, size_t len)
{
	size_t node = NODE_OVERHEAD + sizeof(uint64_t) + REC_HDR + len;

	if (node <= sp->node_max)
		return node + 2;
	return ((REC_HDR + len + PAGE_HDR + sp->psize - 1) / sp->psize) *
	    sp->psize;
}

/* What a record adds to the spool's bytes: its key and its text. */
static size_t
rec_payload(const struct spool_rec *r)
{
	return (r->auth != NULL ? r->auth_len : 0) + r->len;
}

/*
 * Room. LMDB never overwrites a page that one of the last two committed
 * snapshots uses (copy-on-write, and mdb_find_oldest starts at the
 * transaction before the current one): the pages a transaction takes out
 * of the trees (deletes, evictions, burials) are reused only from the
 * transaction after the next one on. Until then they keep their space in
 * the map and on the disk, and counting them as free lets an append take
 * room that is not there: the commit then fails with MDB_MAP_FULL or
 * ENOSPC, and the whole group with it. So room is measured against the
 * trees' pages plus what this transaction and the commit just before it
 * (when it was this process's) took out of them, plus the room already
 * promised by SPOOL_AGAIN.
 *
 * Records that do not fit now, but will once those pages are reusable,
 * get SPOOL_AGAIN: they are appended in the next transaction. With
 * drop_oldest that is also where the oldest events are evicted, in this
 * transaction, and only after checking that the records then fit:
 * evicting every event frees exactly the events tree's pages, so a
 * request that could not fit even then is refused before anything is
 * evicted, and a refused request changes nothing. Nested transactions
 * would undo a refused request's evictions, but could not make any
 * eviction usable by the append: a child's freed pages are no more
 * reusable by its parent than by itself. The commit of a transaction that
 * said SPOOL_AGAIN is followed by a second, minimal one (settle), so that
 * the very next transaction can use the room.
 *
 * Left out, and absorbed by the map's headroom and DISK_RESERVE as the
 * pages copy-on-write copies are: a read transaction opened before a
 * commit pins what that commit freed until it ends (the forwarder's reads
 * are short); a record larger than a page needs its overflow pages in one
 * run, which free pages scattered by small deletes may not offer; and
 * rec_cost counts a small record's bytes, not the part of a leaf page it
 * leaves unused.
 */

/* Whether need bytes fit on top of inuse, under the limit and on disk. */
static int
room_fits(const struct spool_txn *t, uint64_t inuse, uint64_t need)
{
	return inuse + need <= t->sp->limit_bytes &&
	    need <= disk_room(t->sp, t->disk_have, inuse);
}

static int
room_full(const struct spool_txn *t, uint64_t inuse, uint64_t need)
{
	if (inuse + need > t->sp->limit_bytes)
		seterr("spool full: %llu of %llu bytes in use",
		    (unsigned long long)inuse,
		    (unsigned long long)t->sp->limit_bytes);
	else
		seterr("spool full: its filesystem has room for %llu more "
		       "bytes, %llu needed",
		    (unsigned long long)disk_room(t->sp, t->disk_have, inuse),
		    (unsigned long long)need);
	return SPOOL_FULL;
}

/* Count in t->freed what left the trees since they took *used bytes. */
static int
note_freed(struct spool_txn *t, uint64_t *used)
{
	uint64_t now;
	int rc = used_bytes(t->sp, t->txn, &now);

	if (rc != SPOOL_OK)
		return rc;
	if (now < *used)
		t->freed += *used - now;
	*used = now;
	return SPOOL_OK;
}

/* Evict the oldest event; *used is the trees' bytes, before and after. */
static int
evict_oldest(struct spool_txn *t, uint64_t *used)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(t->txn, t->sp->events, &cur);
	if (rc != 0)
		return xlate("cursor", rc);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0) {
		size_t len = v.mv_size > REC_HDR ? v.mv_size - REC_HDR : 0;

		rc = mdb_cursor_del(cur, 0);
		if (rc == 0) {
			t->meta.bytes -=
			    t->meta.bytes >= len ? len : t->meta.bytes;
			t->meta.evicted++;
			t->dirty = 1;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		return SPOOL_NOTFOUND;
	if (rc != 0)
		return xlate("evict", rc);
	return note_freed(t, used);
}

/* Bytes of the pages of one tree. */
static int
tree_bytes(struct spool *sp, MDB_txn *txn, MDB_dbi dbi, uint64_t *bytes)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbi, &st);

	if (rc != 0)
		return xlate("stat", rc);
	*bytes =
	    (st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
	    (uint64_t)sp->psize;
	return SPOOL_OK;
}

/*
 * The records fit once what was freed lately is reusable: promise them
 * that room, evicting first under drop_oldest, or refuse them with nothing
 * changed. See "Room".
 */
static int
room_later(struct spool_txn *t, uint64_t used, uint64_t need, size_t n)
{
	struct spool *sp = t->sp;
	uint64_t events;
	int rc;

	if (!room_fits(t, used + t->reserved, need)) {
		if (!sp->drop_oldest)
			return room_full(t, used + t->reserved, need);
		rc = tree_bytes(sp, t->txn, sp->events, &events);
		if (rc != SPOOL_OK)
			return rc;
		if (!room_fits(t, used - events + t->reserved, need)) {
			seterr("spool full: %llu bytes do not fit even with "
			       "every event evicted (%llu bytes of dead "
			       "letters and counters)",
			    (unsigned long long)need,
			    (unsigned long long)(used - events));
			return SPOOL_FULL;
		}
		do {
			rc = evict_oldest(t, &used);
			if (rc == SPOOL_NOTFOUND) {
				/* The check above said this cannot be. */
				seterr("evicting every event freed less than "
				       "the events tree held");
				return SPOOL_ERR;
			}
			if (rc != SPOOL_OK)
				return rc;
		} while (!room_fits(t, used + t->reserved, need));
	}
	t->reserved += need;
	t->again = 1;
	seterr("room for %zu records after this commit", n);
	return SPOOL_AGAIN;
}

int
spool_txn_append(struct spool_txn *t, const struct spool_rec *recs, size_t n,
    uint64_t *first_seq)
{
	struct spool *sp = t->sp;
	uint64_t need = 0, used;
	MDB_val k, v;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].auth != NULL && recs[i].auth_len > SPOOL_AUTH_MAX) {
			seterr("a client key of %zu bytes is too long",
			    recs[i].auth_len);
			return SPOOL_TOOBIG;
		}
	}
	for (size_t i = 0; i < n; i++)
		need += rec_cost(sp, rec_payload(&recs[i]));
	if (need > sp->limit_bytes) {
		seterr("%zu records of %llu bytes can never fit in the spool",
		    n, (unsigned long long)need);
		return SPOOL_TOOBIG;
	}
	rc = used_bytes(sp, t->txn, &used);
	if (rc != SPOOL_OK)
		return rc;
	if (t->disk_have == 0 &&
	    (rc = disk_have(sp, &t->disk_have)) != SPOOL_OK)
		return rc;
	if (!room_fits(t, used + t->freed + t->prev_freed + t->reserved, need))
		return room_later(t, used, need, n);
	*first_seq = t->meta.next_seq;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = t->meta.next_seq + i;
		size_t alen = recs[i].auth != NULL ? recs[i].auth_len : 0;
		uint16_t alen16 = (uint16_t)alen;
		unsigned char *p;

		k.mv_data = &seq;
		k.mv_size = sizeof(seq);
		v.mv_data = NULL;
		v.mv_size = REC_HDR + alen + recs[i].len;
		/* MDB_RESERVE: LMDB hands out the space, we write once. */
		rc = mdb_put(
		    t->txn, sp->events, &k, &v, MDB_APPEND | MDB_RESERVE);
		if (rc != 0)
			return xlate("append", rc);
		p = v.mv_data;
		memset(p, 0, REC_HDR);
		p[0] = REC_VERSION;
		p[1] = recs[i].kind;
		memcpy(p + 2, &alen16, 2);
		memcpy(p + 4, &recs[i].count, 4);
		memcpy(p + 8, &recs[i].time_ms, sizeof(uint64_t));
		if (alen > 0)
			memcpy(p + REC_HDR, recs[i].auth, alen);
		memcpy(p + REC_HDR + alen, recs[i].data, recs[i].len);
		t->meta.bytes += alen + recs[i].len;
	}
	t->meta.next_seq += n;
	t->dirty = 1;
	t->touched += n;
	return SPOOL_OK;
}

int
spool_txn_delete(struct spool_txn *t, const uint64_t *seqs, size_t n)
{
	MDB_val k, v;
	uint64_t used;
	int rc;

	if (n == 0)
		return SPOOL_OK;
	rc = used_bytes(t->sp, t->txn, &used);
	if (rc != SPOOL_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint64_t seq = seqs[i];

		k.mv_data = &seq;
		k.mv_size = sizeof(seq);
		rc = mdb_get(t->txn, t->sp->events, &k, &v);
		if (rc == MDB_NOTFOUND)
			continue;
		if (rc != 0)
			return xlate("delete", rc);
		if (v.mv_size >= REC_HDR)
			t->meta.bytes -= t->meta.bytes >= v.mv_size - REC_HDR
			    ? v.mv_size - REC_HDR
			    : t->meta.bytes;
		rc = mdb_del(t->txn, t->sp->events, &k, NULL);
		if (rc != 0)
			return xlate("delete", rc);
		t->dirty = 1;
		/* A long run of deletes reads many pages: trim as it goes. */
		if (++t->touched % TRIM_DELETES == 0)
			map_trim(t->sp);
	}
	return note_freed(t, &used);
}

/*
 * The key and text of an "events" value, checked against its size: the
 * file is ours, but a torn or foreign one must not make us read past it.
 */
static int
rec_split(uint64_t seq, const MDB_val *v, size_t *alen, size_t *dlen)
{
	const unsigned char *p = v->mv_data;
	uint16_t a16;

	if (v->mv_size < REC_HDR)
		goto corrupt;
	memcpy(&a16, p + 2, 2);
	if ((size_t)a16 > v->mv_size - REC_HDR)
		goto corrupt;
	*alen = a16;
	*dlen = v->mv_size - REC_HDR - a16;
	return SPOOL_OK;
corrupt:
	seterr("event %llu: corrupt record", (unsigned long long)seq);
	return SPOOL_ERR;
}

int
spool_txn_bury(struct spool_txn *t, uint64_t seq, int status, uint32_t attempts,
    const char *reason, uint64_t now_ms)
{
	struct spool *sp = t->sp;
	MDB_val k, v, dk, dv;
	unsigned char *rec = NULL, *p;
	size_t alen, dlen, rlen = reason ? strlen(reason) : 0;
	uint64_t id = t->meta.dead_next, used;
	uint16_t rlen16, alen16;
	int32_t st32 = status;
	int rc;

	if (rlen > DEAD_REASON_MAX)
		rlen = DEAD_REASON_MAX;
	k.mv_data = &seq;
	k.mv_size = sizeof(seq);
	rc = mdb_get(t->txn, sp->events, &k, &v);
	if (rc == MDB_NOTFOUND)
		return SPOOL_OK;
	if (rc != 0)
		return xlate("bury", rc);
	if (rec_split(seq, &v, &alen, &dlen) != SPOOL_OK)
		return SPOOL_ERR;
	/* Copy first: the value's page may move once we write. */
	rec = malloc(v.mv_size);
	if (rec == NULL) {
		seterr("out of memory");
		return SPOOL_ERR;
	}
	memcpy(rec, v.mv_data, v.mv_size);

	dk.mv_data = &id;
	dk.mv_size = sizeof(id);
	dv.mv_data = NULL;
	dv.mv_size = DEAD_HDR + rlen + alen + dlen;
	rc = mdb_put(t->txn, sp->dead, &dk, &dv, MDB_APPEND | MDB_RESERVE);
	if (rc != 0) {
		free(rec);
		return xlate("bury", rc);
	}
	p = dv.mv_data;
	memset(p, 0, DEAD_HDR);
	p[0] = DEAD_VERSION;
	p[1] = rec[1];
	rlen16 = (uint16_t)rlen;
	alen16 = (uint16_t)alen;
	memcpy(p + 2, &rlen16, 2);
	memcpy(p + 4, &st32, 4);
	memcpy(p + 8, &seq, 8);
	memcpy(p + 16, rec + 8, 8);
	memcpy(p + 24, &now_ms, 8);
	memcpy(p + 32, &attempts, 4);
	memcpy(p + 40, rec + 4, 4);
	memcpy(p + 44, &alen16, 2);
	if (rlen > 0)
		memcpy(p + DEAD_HDR, reason, rlen);
	/* Key and text follow the header in the record, in that order. */
	memcpy(p + DEAD_HDR + rlen, rec + REC_HDR, alen + dlen);
	free(rec);

	/* Only the delete frees: the dead letter's pages are new ones. */
	rc = used_bytes(sp, t->txn, &used);
	if (rc != SPOOL_OK)
		return rc;
	rc = mdb_del(t->txn, sp->events, &k, NULL);
	if (rc != 0)
		return xlate("bury", rc);
	rc = note_freed(t, &used);
	if (rc != SPOOL_OK)
		return rc;
	t->meta.bytes -=
	    t->meta.bytes >= alen + dlen ? alen + dlen : t->meta.bytes;
	t->meta.dead_next++;
	t->dirty = 1;
	return SPOOL_OK;
}

/*
 * The second commit after one that promised room (see "Room"): it only
 * rewrites the counters, which moves LMDB's oldest kept snapshot past the
 * pages the first one freed. A failure is not reported: the records then
 * get SPOOL_AGAIN once more.
 */
static void
settle(struct spool *sp)
{
	struct spool_meta m;
	MDB_txn *txn;
	size_t id;

	if (mdb_txn_begin(sp->env, NULL, 0, &txn) != 0)
		return;
	id = mdb_txn_id(txn);
	if (meta_read(sp, txn, &m) != SPOOL_OK ||
	    meta_write(sp, txn, &m) != SPOOL_OK) {
		mdb_txn_abort(txn);
		return;
	}
	if (mdb_txn_commit(txn) == 0) {
		sp->last_txnid = id;
		sp->last_freed = 0;
	}
}

/* Whether spool_fail_commits asks this commit to fail (and count it). */
static int
fail_forced(struct spool *sp)
{
	unsigned n = atomic_load(&sp->fail_commits);

	while (n > 0 &&
	    !atomic_compare_exchange_weak(&sp->fail_commits, &n, n - 1))
		;
	return n > 0;
}

void
spool_fail_commits(struct spool *sp, unsigned n)
{
	atomic_store(&sp->fail_commits, n);
}

int
spool_txn_commit(struct spool_txn *t)
{
	struct spool *sp = t->sp;
	int rc = SPOOL_OK, trim, again = t->again, dirty = t->dirty;
	uint64_t freed = t->freed;
	size_t id = mdb_txn_id(t->txn);

	if (fail_forced(sp)) {
		seterr("failed on purpose (spool_fail_commits)");
		rc = SPOOL_ERR;
	} else if (t->dirty) {
		rc = meta_write(t->sp, t->txn, &t->meta);
	}
	if (rc != SPOOL_OK) {
		mdb_txn_abort(t->txn);
		free(t);
		return rc;
	}
	/*
	 * Counted while this transaction holds the writer's lock: a commit,
	 * and its records by the leaf pages they fill.
	 */
	sp->trim_commits += 1 + (unsigned)(t->touched / TRIM_RECORDS);
	trim = sp->trim_commits >= TRIM_COMMITS;
	if (trim)
		sp->trim_commits = 0;
	rc = mdb_txn_commit(t->txn);
	free(t);
	if (trim)
		map_trim(sp);
	if (rc != 0)
		return xlate("commit", rc);
	/* A transaction that changed nothing took no id. */
	if (dirty) {
		sp->last_txnid = id;
		sp->last_freed = freed;
	}
	if (again)
		settle(sp);
	return SPOOL_OK;
}

void
spool_txn_abort(struct spool_txn *t)
{
	if (t == NULL)
		return;
	mdb_txn_abort(t->txn);
	free(t);
}

static int
batch_push(struct spool_batch *b, uint64_t seq, const MDB_val *v)
{
	struct spool_item *it;
	const unsigned char *p = v->mv_data;
	size_t alen, dlen;

	if (rec_split(seq, v, &alen, &dlen) != SPOOL_OK)
		return SPOOL_ERR;
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct spool_item *ni = realloc(b->items, ncap * sizeof(*ni));

		if (ni == NULL) {
			seterr("out of memory");
			return SPOOL_ERR;
		}
		b->items = ni;
		b->cap = ncap;
	}
	it = &b->items[b->n];
	memset(it, 0, sizeof(*it));
	it->seq = seq;
	it->kind = p[1];
	memcpy(&it->count, p + 4, 4);
	if (it->count == 0)
		it->count = 1;
	memcpy(&it->time_ms, p + 8, 8);
	it->len = dlen;
	it->data = malloc(dlen + 1);
	if (alen > 0)
		it->auth = malloc(alen + 1);
	if (it->data == NULL || (alen > 0 && it->auth == NULL)) {
		free(it->data);
		free(it->auth);
		seterr("out of memory");
		return SPOOL_ERR;
	}
	if (alen > 0) {
		memcpy(it->auth, p + REC_HDR, alen);
		it->auth[alen] = '\0';
	}
	memcpy(it->data, p + REC_HDR + alen, dlen);
	it->data[dlen] = '\0';
	b->bytes += dlen;
	b->n++;
	return SPOOL_OK;
}

int
spool_read(struct spool *sp, uint64_t from, size_t max_n, size_t max_bytes,
    struct spool_batch *out)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, op;
	int ret = SPOOL_OK;

	spool_batch_clear(out);
	rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return xlate("read", rc);
	rc = mdb_cursor_open(txn, sp->events, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return xlate("read", rc);
	}
	k.mv_data = &from;
	k.mv_size = sizeof(from);
	for (op = MDB_SET_RANGE; out->n < max_n; op = MDB_NEXT) {
		uint64_t seq;

		rc = mdb_cursor_get(cur, &k, &v, op);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			ret = xlate("read", rc);
			break;
		}
		if (out->n > 0 && out->bytes + v.mv_size - REC_HDR > max_bytes)
			break;
		memcpy(&seq, k.mv_data, sizeof(seq));
		ret = batch_push(out, seq, &v);
		if (ret != SPOOL_OK)
			break;
	}
	mdb_cursor_close(cur);
	if (ret == SPOOL_OK)
		ret = nolock_check(sp, txn);
	mdb_txn_abort(txn);
	if (ret != SPOOL_OK)
		spool_batch_clear(out);
	if (atomic_fetch_add(&sp->trim_read, out->bytes) + out->bytes >=
	    TRIM_READ_BYTES) {
		atomic_store(&sp->trim_read, 0);
		map_trim(sp);
	}
	return ret;
}

void
spool_batch_clear(struct spool_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].data);
		free(b->items[i].auth);
	}
	b->n = 0;
	b->bytes = 0;
}

void
spool_batch_take(struct spool_batch *b, size_t n, struct spool_item *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		b->bytes -= b->items[i].len;
	memcpy(out, b->items, n * sizeof(*out));
	memmove(b->items, b->items + n, (b->n - n) * sizeof(*b->items));
	b->n -= n;
}

void
spool_item_free(struct spool_item *it)
{
	if (it == NULL)
		return;
	free(it->data);
	free(it->auth);
	it->data = NULL;
	it->auth = NULL;
}

void
spool_batch_free(struct spool_batch *b)
{
	spool_batch_clear(b);
	free(b->items);
	b->items = NULL;
	b->cap = 0;
}

int
spool_stat(struct spool *sp, struct spool_stats *st)
{
	struct spool_meta m;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_stat ms;
	MDB_val k, v;
	uint64_t have, room;
	int rc, ret;

	memset(st, 0, sizeof(*st));
	rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return xlate("stat", rc);
	ret = meta_read(sp, txn, &m);
	if (ret != SPOOL_OK)
		goto out;
	st->bytes = m.bytes;
	st->evicted = m.evicted;
	st->next_seq = m.next_seq;
	st->map_bytes = sp->map_bytes;
	st->limit_bytes = sp->limit_bytes;
	if ((rc = mdb_stat(txn, sp->events, &ms)) != 0) {
		ret = xlate("stat", rc);
		goto out;
	}
	st->events = ms.ms_entries;
	if ((rc = mdb_stat(txn, sp->dead, &ms)) != 0) {
		ret = xlate("stat", rc);
		goto out;
	}
	st->dead = ms.ms_entries;
	ret = used_bytes(sp, txn, &st->used_bytes);
	if (ret != SPOOL_OK)
		goto out;
	/* Where ingest stops: at the map's limit, or sooner on a full disk. */
	if (disk_have(sp, &have) == SPOOL_OK) {
		room = disk_room(sp, have, st->used_bytes);
		if (st->used_bytes + room < st->limit_bytes)
			st->limit_bytes = st->used_bytes + room;
	}
	if ((rc = mdb_cursor_open(txn, sp->events, &cur)) != 0) {
		ret = xlate("stat", rc);
		goto out;
	}
	if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && v.mv_size >= REC_HDR)
		memcpy(&st->oldest_ms, (const char *)v.mv_data + 8, 8);
	mdb_cursor_close(cur);
	ret = nolock_check(sp, txn);
out:
	mdb_txn_abort(txn);
	return ret;
}

/*
 * Decode a dead letter into d. Its client key, if any, is copied to *auth
 * when auth is not NULL (a replay needs it), and otherwise never leaves
 * the spool.
 */
static int
dead_decode(uint64_t id, const MDB_val *v, struct spool_dead *d, char **auth)
{
	const unsigned char *p = v->mv_data;
	size_t hdr;
	uint16_t rlen, alen = 0;
	int32_t st32;

	memset(d, 0, sizeof(*d));
	if (auth != NULL)
		*auth = NULL;
	if (v->mv_size < DEAD_HDR_V1)
		goto corrupt;
	hdr = p[0] >= DEAD_VERSION ? DEAD_HDR : DEAD_HDR_V1;
	if (v->mv_size < hdr)
		goto corrupt;
	memcpy(&rlen, p + 2, 2);
	if (hdr == DEAD_HDR) {
		memcpy(&d->count, p + 40, 4);
		memcpy(&alen, p + 44, 2);
	}
	if (hdr + rlen + alen > v->mv_size)
		goto corrupt;
	d->id = id;
	d->kind = p[1];
	if (d->count == 0)
		d->count = 1;
	d->has_auth = alen > 0;
	memcpy(&st32, p + 4, 4);
	d->status = st32;
	memcpy(&d->seq, p + 8, 8);
	memcpy(&d->time_ms, p + 16, 8);
	memcpy(&d->dead_ms, p + 24, 8);
	memcpy(&d->attempts, p + 32, 4);
	d->len = v->mv_size - hdr - rlen - alen;
	d->reason = malloc((size_t)rlen + 1);
	d->data = malloc(d->len + 1);
	if (auth != NULL && alen > 0 && (*auth = malloc(alen + 1U)) != NULL) {
		memcpy(*auth, p + hdr + rlen, alen);
		(*auth)[alen] = '\0';
	}
	if (d->reason == NULL || d->data == NULL ||
	    (auth != NULL && alen > 0 && *auth == NULL)) {
		spool_dead_clear(d);
		if (auth != NULL) {
			free(*auth);
			*auth = NULL;
		}
		seterr("out of memory");
		return SPOOL_ERR;
	}
	memcpy(d->reason, p + hdr, rlen);
	d->reason[rlen] = '\0';
	memcpy(d->data, p + hdr + rlen + alen, d->len);
	d->data[d->len] = '\0';
	return SPOOL_OK;
corrupt:
	seterr("dead letter %llu: corrupt record", (unsigned long long)id);
	return SPOOL_ERR;
}

void
spool_dead_clear(struct spool_dead *d)
{
	free(d->reason);
	free(d->data);
	d->reason = NULL;
	d->data = NULL;
}

int
spool_dead_list(struct spool *sp, uint64_t from, size_t max,
    struct spool_dead **out, size_t *n)
{
	struct spool_dead *arr = NULL;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	size_t cnt = 0;
	int rc, op, ret = SPOOL_OK;

	*out = NULL;
	*n = 0;
	rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return xlate("dead list", rc);
	rc = mdb_cursor_open(txn, sp->dead, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return xlate("dead list", rc);
	}
	if (max > 0 && (arr = calloc(max, sizeof(*arr))) == NULL) {
		ret = SPOOL_ERR;
		seterr("out of memory");
	}
	k.mv_data = &from;
	k.mv_size = sizeof(from);
	for (op = MDB_SET_RANGE; ret == SPOOL_OK && cnt < max; op = MDB_NEXT) {
		uint64_t id;

		rc = mdb_cursor_get(cur, &k, &v, op);
		if (rc == MDB_NOTFOUND)
			break;
		if (rc != 0) {
			ret = xlate("dead list", rc);
			break;
		}
		memcpy(&id, k.mv_data, sizeof(id));
		ret = dead_decode(id, &v, &arr[cnt], NULL);
		if (ret == SPOOL_OK)
			cnt++;
	}
	mdb_cursor_close(cur);
	if (ret == SPOOL_OK)
		ret = nolock_check(sp, txn);
	mdb_txn_abort(txn);
	if (ret != SPOOL_OK) {
		for (size_t i = 0; i < cnt; i++)
			spool_dead_clear(&arr[i]);
		free(arr);
		return ret;
	}
	*out = arr;
	*n = cnt;
	return SPOOL_OK;
}

int
spool_dead_get(struct spool *sp, uint64_t id, struct spool_dead *out)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc, ret;

	memset(out, 0, sizeof(*out));
	rc = mdb_txn_begin(sp->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return xlate("dead get", rc);
	k.mv_data = &id;
	k.mv_size = sizeof(id);
	rc = mdb_get(txn, sp->dead, &k, &v);
	if (rc == MDB_NOTFOUND) {
		seterr("no dead letter %llu", (unsigned long long)id);
		ret = SPOOL_NOTFOUND;
	} else if (rc != 0) {
		ret = xlate("dead get", rc);
	} else {
		ret = dead_decode(id, &v, out, NULL);
	}
	if (ret == SPOOL_OK && (ret = nolock_check(sp, txn)) != SPOOL_OK)
		spool_dead_clear(out);
	mdb_txn_abort(txn);
	return ret;
}

/*
 * Walk dead letters (one, or all when id is 0) in one write transaction,
 * optionally appending each back to "events" first, then deleting it.
 */
static int
dead_move(struct spool *sp, uint64_t id, int replay, uint64_t now_ms, size_t *n)
{
	struct spool_txn *t;
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t from = id ? id : 0, used;
	int rc, ret;

	*n = 0;
	ret = spool_txn_begin(sp, &t);
	if (ret != SPOOL_OK)
		return ret;
	rc = mdb_cursor_open(t->txn, sp->dead, &cur);
	if (rc != 0) {
		spool_txn_abort(t);
		return xlate("dead", rc);
	}
	k.mv_data = &from;
	k.mv_size = sizeof(from);
	rc = mdb_cursor_get(cur, &k, &v, id ? MDB_SET_KEY : MDB_SET_RANGE);
	while (rc == 0) {
		if (replay) {
			struct spool_dead d;
			struct spool_rec r;
			uint64_t kid, seq;
			char *auth;

			memcpy(&kid, k.mv_data, sizeof(kid));
			ret = dead_decode(kid, &v, &d, &auth);
			if (ret != SPOOL_OK)
				break;
			memset(&r, 0, sizeof(r));
			r.kind = d.kind;
			r.count = d.count;
			r.time_ms = now_ms;
			r.data = d.data;
			r.len = d.len;
			r.auth = auth;
			r.auth_len = auth != NULL ? strlen(auth) : 0;
			ret = spool_txn_append(t, &r, 1, &seq);
			spool_dead_clear(&d);
			if (auth != NULL) {
				explicit_bzero(auth, r.auth_len);
				free(auth);
			}
			/*
			 * One transaction, all or nothing: it cannot wait
			 * for the room its own deletes free (see "Room").
			 * Refused as full; a later run finds that room.
			 */
			if (ret == SPOOL_AGAIN) {
				seterr("spool full: no room for the replay "
				       "until freed pages are reusable; "
				       "try again");
				ret = SPOOL_FULL;
			}
			if (ret != SPOOL_OK)
				break;
		}
		ret = used_bytes(sp, t->txn, &used);
		if (ret != SPOOL_OK)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc != 0)
			break;
		ret = note_freed(t, &used);
		if (ret != SPOOL_OK)
			break;
		(*n)++;
		t->dirty = 1;
		if (id)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (ret != SPOOL_OK || (rc != 0 && rc != MDB_NOTFOUND)) {
		if (ret == SPOOL_OK)
			ret = xlate("dead", rc);
		spool_txn_abort(t);
		*n = 0;
		return ret;
	}
	if (id && *n == 0) {
		spool_txn_abort(t);
		seterr("no dead letter %llu", (unsigned long long)id);
		return SPOOL_NOTFOUND;
	}
	return spool_txn_commit(t);
}

int
spool_dead_replay(struct spool *sp, uint64_t id, uint64_t now_ms, size_t *n)
{
	return dead_move(sp, id, 1, now_ms, n);
}

int
spool_dead_purge(struct spool *sp, uint64_t id, size_t *n)
{
	return dead_move(sp, id, 0, 0, n);
}
