/* bench.h: what the load generator and the benchmarks share: clocks, events,
 * ids, latencies, memory. */
#ifndef TS_BENCH_H
#define TS_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
uint64_t bench_now_ns(void);

/*
 * The event the benchmarks send: a JSON file read whole and minified
 * (whitespace outside strings dropped). id_off is where the 36 characters
 * of its "event_id" value start, so that each copy can get its own id.
 */
struct bench_event {
	char *text;
	size_t len;
	size_t id_off;
};

/* 0, or -1 with a message on stderr. */
int bench_event_load(const char *path, struct bench_event *ev);

/*
 * A file's bytes as they are (and a NUL after them), with no event_id to
 * rewrite (id_off is SIZE_MAX). 0, or -1 with a message on stderr.
 */
int bench_raw_load(const char *path, struct bench_event *ev);

/* A fast generator for the varied ids; one per thread. */
struct bench_rng {
	uint64_t s;
};

void bench_rng_seed(struct bench_rng *r, uint64_t seed);
uint64_t bench_rng_next(struct bench_rng *r);
/* Write a UUID v4 (36 characters, no NUL) at out. */
void bench_uuid(struct bench_rng *r, char *out);

/*
 * A latency histogram in nanoseconds: 32 buckets per power of two, so a
 * percentile is within about 3% of the true value. The maximum is exact.
 */
#define BENCH_HIST_BUCKETS (64 * 32)

struct bench_hist {
	uint64_t n[BENCH_HIST_BUCKETS];
	uint64_t count;
	uint64_t max;
};

void bench_hist_add(struct bench_hist *h, uint64_t ns);
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);
/* The value at quantile q (0..1), in nanoseconds; 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);

/* VmRSS, VmHWM, RssAnon and RssFile of pid in KiB; 0 or -1. */
struct bench_mem {
	uint64_t rss_kb;
	uint64_t hwm_kb;
	uint64_t anon_kb;
	uint64_t file_kb;
};

int bench_mem_read(int pid, struct bench_mem *m);

#endif
