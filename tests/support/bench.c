/* bench.c: clocks, the sample event, ids, latency histograms and memory
 * readings for the load generator and the benchmarks. */
#include "tests/support/bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/uuid.h"

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Drop whitespace outside strings; returns the new length. */
static size_t
minify(char *s, size_t len)
{
	size_t i, o = 0;
	int in_str = 0, esc = 0;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			continue;
		} else if (c == '"') {
			in_str = 1;
		}
		s[o++] = c;
	}
	s[o] = '\0';
	return o;
}

int
bench_event_load(const char *path, struct bench_event *ev)
{
	static const char key[] = "\"event_id\":\"";
	char *p;

	if (bench_raw_load(path, ev) == -1)
		return -1;
	ev->len = minify(ev->text, ev->len);
	p = strstr(ev->text, key);
	if (p == NULL || strlen(p) < sizeof(key) - 1 + 37 ||
	    p[sizeof(key) - 1 + 36] != '"') {
		fprintf(stderr, "%s: no \"event_id\" holding a UUID\n", path);
		free(ev->text);
		ev->text = NULL;
		return -1;
	}
	ev->id_off = (size_t)(p - ev->text) + sizeof(key) - 1;
	return 0;
}

void
bench_rng_seed(struct bench_rng *r, uint64_t seed)
{
	r->s = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: plenty for ids that only need to differ. */
uint64_t
bench_rng_next(struct bench_rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

void
bench_uuid(struct bench_rng *r, char *out)
{
	unsigned char b[16];
	char text[UUID_LEN + 1];
	uint64_t a = bench_rng_next(r), c = bench_rng_next(r);

	memcpy(b, &a, 8);
	memcpy(b + 8, &c, 8);
	uuid_format(b, text);
	memcpy(out, text, UUID_LEN);
}

static unsigned
hist_index(uint64_t v)
{
	unsigned e;

	if (v < 32)
		return (unsigned)v;
	e = 63 - (unsigned)__builtin_clzll(v);
	return (e - 4) * 32 + (unsigned)((v >> (e - 5)) - 32);
}

/* The middle of bucket i. */
static uint64_t
hist_value(unsigned i)
{
	unsigned e;
	uint64_t lo;

	if (i < 32)
		return i;
	e = i / 32 + 4;
	lo = (uint64_t)(i % 32 + 32) << (e - 5);
	return lo + ((1ULL << (e - 5)) >> 1);
}

void
bench_hist_add(struct bench_hist *h, uint64_t ns)
{
	h->n[hist_index(ns)]++;
	h->count++;
	if (ns > h->max)
		h->max = ns;
}

void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	unsigned i;

	for (i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->n[i] += src->n[i];
	dst->count += src->count;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
bench_hist_quantile(const struct bench_hist *h, double q)
{
	uint64_t want, seen = 0, v;
	unsigned i;

	if (h->count == 0)
		return 0;
	want = (uint64_t)(q * (double)h->count);
	if (want >= h->count)
		want = h->count - 1;
	for (i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen > want) {
			v = hist_value(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

int
bench_mem_read(int pid, struct bench_mem *m)
{
	char path[64], line[256];
	FILE *fp;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((fp = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned long long v;

		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			m->rss_kb = v;
		else if (sscanf(line, "VmHWM: %llu", &v) == 1)
			m->hwm_kb = v;
		else if (sscanf(line, "RssAnon: %llu", &v) == 1)
			m->anon_kb = v;
		else if (sscanf(line, "RssFile: %llu", &v) == 1)
			m->file_kb = v;
	}
	fclose(fp);
	return 0;
}

int
bench_raw_load(const char *path, struct bench_event *ev)
{
	FILE *fp;
	long sz;

	memset(ev, 0, sizeof(*ev));
	ev->id_off = SIZE_MAX;
	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) == -1 || (sz = ftell(fp)) <= 0 ||
	    fseek(fp, 0, SEEK_SET) == -1 ||
	    (ev->text = malloc((size_t)sz + 1)) == NULL ||
	    fread(ev->text, 1, (size_t)sz, fp) != (size_t)sz) {
		fprintf(stderr, "%s: cannot read\n", path);
		fclose(fp);
		free(ev->text);
		ev->text = NULL;
		return -1;
	}
	fclose(fp);
	ev->text[sz] = '\0';
	ev->len = (size_t)sz;
	return 0;
}
