/* lmdb_probe.c: durable LMDB append throughput on a disk, and spool prefill. */
#include <sys/resource.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "tests/support/bench.h"
#include "common/kind.h"
#include "spool/spool.h"

/*
 * Usage:
 *   lmdb_probe -d DIR [-s seconds] [-g group] [-e event.json | -r FILE]
 *     [-m map]
 *     The ceiling: appends the event (with a fresh event_id each time) as
 *     values under increasing 64-bit keys, g per transaction, each commit
 *     synced (LMDB's default: fdatasync), for the given time, in a new
 *     environment in DIR. Prints events/s, bytes/s and commit latencies as
 *     JSON. -r appends FILE's bytes as they are (an OTLP export: the
 *     ceiling in bytes).
 *   lmdb_probe -d DIR -f N [-e event.json] [-m map]
 *     Prefill: appends N events to the tracespool spool in DIR through
 *     spool.c (transactions of 10,000, one sync at the end), for the
 *     forwarding benchmark. The daemon must not be running on DIR.
 * map is the map size in MiB (default 8192).
 */

#define FILL_GROUP 10000

/* CPU this process has used so far (user + system), in microseconds. */
static uint64_t
cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
probe(const char *dir, double seconds, unsigned group,
    const struct bench_event *ev, size_t map)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	struct bench_rng rng;
	struct bench_hist *h;
	uint64_t key = 1, t0, tc, end, commits = 0, cpu0;
	unsigned i;
	int rc;

	bench_rng_seed(&rng, bench_now_ns());
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_mapsize(env, map)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 4)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOTLS, 0600)) != 0) {
		fprintf(stderr, "lmdb_probe: %s: %s\n", dir, mdb_strerror(rc));
		return 1;
	}
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(
	         txn, "events", MDB_CREATE | MDB_INTEGERKEY, &dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		fprintf(stderr, "lmdb_probe: %s\n", mdb_strerror(rc));
		return 1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return 1;
	cpu0 = cpu_us();
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	do {
		tc = bench_now_ns();
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
			break;
		for (i = 0; i < group && rc == 0; i++, key++) {
			if (ev->id_off != SIZE_MAX)
				bench_uuid(&rng, ev->text + ev->id_off);
			k.mv_data = &key;
			k.mv_size = sizeof(key);
			v.mv_data = ev->text;
			v.mv_size = ev->len;
			rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
		}
		if (rc != 0) {
			mdb_txn_abort(txn);
			break;
		}
		if ((rc = mdb_txn_commit(txn)) != 0)
			break;
		commits++;
		bench_hist_add(h, bench_now_ns() - tc);
	} while (bench_now_ns() < end);
	if (rc != 0) {
		fprintf(stderr, "lmdb_probe: %s\n", mdb_strerror(rc));
		free(h);
		return 1;
	}
	seconds = (double)(bench_now_ns() - t0) / 1e9;
	cpu0 = cpu_us() - cpu0;
	printf("{\"label\":\"lmdb\",\"group\":%u,\"value_bytes\":%zu,"
	       "\"seconds\":%.3f,\"commits\":%llu,\"events\":%llu,"
	       "\"eps\":%.0f,\"bytes_per_s\":%.0f,"
	       "\"cpu_us_per_event\":%.1f,"
	       "\"commit_ms\":{\"p50\":%.3f,\"p99\":%.3f,"
	       "\"max\":%.3f}}\n",
	    group, ev->len, seconds, (unsigned long long)commits,
	    (unsigned long long)(commits * group),
	    (double)(commits * group) / seconds,
	    (double)(commits * group) * (double)ev->len / seconds,
	    commits > 0 ? (double)cpu0 / (double)(commits * group) : 0.0,
	    (double)bench_hist_quantile(h, 0.5) / 1e6,
	    (double)bench_hist_quantile(h, 0.99) / 1e6, (double)h->max / 1e6);
	mdb_env_close(env);
	free(h);
	return 0;
}

static int
fill(const char *dir, uint64_t n, const struct bench_event *ev, size_t map)
{
	struct spool_opts so;
	struct spool *sp;
	struct spool_txn *txn;
	struct spool_rec *recs;
	struct bench_rng rng;
	struct timespec now;
	char *texts, err[512];
	uint64_t done = 0, first, t0 = bench_now_ns();
	size_t i, g;

	recs = calloc(FILL_GROUP, sizeof(*recs));
	texts = malloc((size_t)FILL_GROUP * ev->len);
	if (recs == NULL || texts == NULL) {
		free(recs);
		free(texts);
		return 1;
	}
	memset(&so, 0, sizeof(so));
	so.dir = dir;
	so.max_bytes = map;
	so.sync_full = 0;
	if (spool_open(&sp, &so, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "lmdb_probe: %s\n", err);
		free(recs);
		free(texts);
		return 1;
	}
	bench_rng_seed(&rng, bench_now_ns());
	clock_gettime(CLOCK_REALTIME, &now);
	for (i = 0; i < FILL_GROUP; i++) {
		memcpy(texts + i * ev->len, ev->text, ev->len);
		recs[i].kind = KIND_EVENT;
		recs[i].data = texts + i * ev->len;
		recs[i].len = ev->len;
	}
	while (done < n) {
		g = n - done < FILL_GROUP ? (size_t)(n - done) : FILL_GROUP;
		for (i = 0; i < g; i++) {
			bench_uuid(&rng, texts + i * ev->len + ev->id_off);
			recs[i].time_ms = (uint64_t)now.tv_sec * 1000 +
			    (uint64_t)now.tv_nsec / 1000000;
		}
		if (spool_txn_begin(sp, &txn) != SPOOL_OK)
			goto fail;
		if (spool_txn_append(txn, recs, g, &first) != SPOOL_OK) {
			spool_txn_abort(txn);
			goto fail;
		}
		if (spool_txn_commit(txn) != SPOOL_OK)
			goto fail;
		done += g;
	}
	if (spool_sync(sp) != SPOOL_OK)
		goto fail;
	spool_close(sp);
	printf("{\"label\":\"prefill\",\"events\":%llu,\"seconds\":%.3f}\n",
	    (unsigned long long)done, (double)(bench_now_ns() - t0) / 1e9);
	free(recs);
	free(texts);
	return 0;
fail:
	fprintf(stderr, "lmdb_probe: spool: %s\n", spool_strerror());
	spool_close(sp);
	free(recs);
	free(texts);
	return 1;
}

int
main(int argc, char **argv)
{
	struct bench_event ev;
	const char *dir = NULL, *evfile = "tests/data/reference_event.json";
	const char *raw = NULL;
	double seconds = 5;
	unsigned group = 256;
	uint64_t nfill = 0;
	size_t map = 8192;
	int ch;

	while ((ch = getopt(argc, argv, "d:s:g:e:r:m:f:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'g':
			group = (unsigned)atoi(optarg);
			break;
		case 'e':
			evfile = optarg;
			break;
		case 'r':
			raw = optarg;
			break;
		case 'm':
			map = (size_t)strtoull(optarg, NULL, 10);
			break;
		case 'f':
			nfill = strtoull(optarg, NULL, 10);
			break;
		default:
			dir = NULL;
			break;
		}
	}
	if (dir == NULL || optind != argc || group == 0 || map == 0) {
		fprintf(stderr,
		    "usage: lmdb_probe -d dir [-s seconds] [-g group] "
		    "[-e event.json | -r FILE] [-m MiB] [-f N]\n");
		return 2;
	}
	if (raw != NULL ? bench_raw_load(raw, &ev) == -1
	                : bench_event_load(evfile, &ev) == -1)
		return 2;
	map *= 1024 * 1024;
	if (nfill != 0)
		return fill(dir, nfill, &ev, map);
	if (mkdir(dir, 0700) == -1 && access(dir, W_OK) == -1) {
		perror(dir);
		return 1;
	}
	return probe(dir, seconds, group, &ev, map);
}
