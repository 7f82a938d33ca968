/* stats.c: /stats, /metrics and the STATUS= line, from the spool, the commit
 * thread, the forwarder and the event loop's counters. */
#include "daemon/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "daemon/commit.h"
#include "daemon/httpd.h"
#include "daemon/rules.h"
#include "forwarder/forwarder.h"
#include "spool/spool.h"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* Samples kept for the rates: a minute's worth and the one before it. */
#define RATE_SAMPLES 61
/* The window of the "current" rates, and of the ingest behind the runway. */
#define RATE_SHORT_S 10
#define RATE_LONG_S 60
/*
 * Below this many spooled bytes the spool's pages are mostly fixed cost,
 * so their ratio to the records' bytes says nothing about growth.
 */
#define RUNWAY_MIN_BYTES (1024 * 1024)
/* Pages per record byte beyond this are not believed (a fresh spool). */
#define RUNWAY_RATIO_MAX 4.0

/* The counters rates are made of, at one moment. */
struct sample {
	uint64_t mono_ms;
	uint64_t committed;     /* records appended (ingest, replays) */
	uint64_t drained;       /* records forwarded or dead-lettered */
	uint64_t drained_bytes; /* bytes of the records forwarded */
	uint64_t spool_bytes;
};

/* Rates over the last seconds; known is 0 before a second of samples. */
struct rates {
	int known;
	double ingest;       /* records a second, RATE_SHORT_S */
	double ingest_bytes; /* bytes a second arriving, RATE_LONG_S */
	double drain;        /* records a second leaving, RATE_SHORT_S */
	double drain_bytes;  /* bytes a second forwarded, RATE_SHORT_S */
};

struct stats {
	struct spool *sp;
	struct commit *commit;
	struct fwd *fwd;
	struct sample ring[RATE_SAMPLES]; /* stats_tick's, oldest first */
	size_t nsamples;                  /* in ring, at most RATE_SAMPLES */
	size_t head;                      /* where the next one goes */
};

struct stats *
stats_new(struct spool *sp, struct commit *commit, struct fwd *fwd)
{
	struct stats *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	st->sp = sp;
	st->commit = commit;
	st->fwd = fwd;
	return st;
}

void
stats_free(struct stats *st)
{
	free(st);
}

static void
fwd_snapshot(struct stats *st, struct fwd_stats *fs)
{
	memset(fs, 0, sizeof(*fs));
	if (st->fwd != NULL)
		fwd_get_stats(st->fwd, fs);
}

static void
sample_of(const struct spool_stats *ss, const struct commit_stats *cs,
    const struct fwd_stats *fs, struct sample *s)
{
	s->mono_ms = clock_mono_ms();
	s->committed = cs->events_committed;
	s->drained = fs->records_forwarded + fs->dead_letters;
	s->drained_bytes = fs->bytes_forwarded;
	s->spool_bytes = ss->bytes;
}

void
stats_tick(struct stats *st)
{
	struct spool_stats ss;
	struct commit_stats cs;
	struct fwd_stats fs;

	if (spool_stat(st->sp, &ss) != SPOOL_OK)
		return;
	commit_stats(st->commit, &cs);
	fwd_snapshot(st, &fs);
	sample_of(&ss, &cs, &fs, &st->ring[st->head]);
	st->head = (st->head + 1) % RATE_SAMPLES;
	if (st->nsamples < RATE_SAMPLES)
		st->nsamples++;
}

/* The oldest sample at most secs old (the oldest there is if younger). */
static const struct sample *
sample_back(const struct stats *st, uint64_t now, unsigned secs)
{
	const struct sample *s, *best = NULL;
	size_t i;

	for (i = 0; i < st->nsamples; i++) {
		s = &st->ring[(st->head + RATE_SAMPLES - 1 - i) % RATE_SAMPLES];
		if (best != NULL && now - s->mono_ms > (uint64_t)secs * 1000)
			break;
		best = s;
	}
	return best;
}

static double
per_second(uint64_t now, uint64_t then, const struct sample *cur,
    const struct sample *old)
{
	double dt = (double)(cur->mono_ms - old->mono_ms) / 1000.0;

	return dt > 0 && now >= then ? (double)(now - then) / dt : 0;
}

/* Rates from the samples up to cur, the counters now. */
static void
rates_of(const struct stats *st, const struct sample *cur, struct rates *r)
{
	const struct sample *s = sample_back(st, cur->mono_ms, RATE_SHORT_S);
	const struct sample *l = sample_back(st, cur->mono_ms, RATE_LONG_S);
	double grown;

	memset(r, 0, sizeof(*r));
	if (s == NULL || cur->mono_ms < s->mono_ms + 1000)
		return;
	r->known = 1;
	r->ingest = per_second(cur->committed, s->committed, cur, s);
	r->drain = per_second(cur->drained, s->drained, cur, s);
	r->drain_bytes =
	    per_second(cur->drained_bytes, s->drained_bytes, cur, s);
	/* What arrived: what the spool grew by, plus what left it. */
	grown = (double)cur->spool_bytes - (double)l->spool_bytes +
	    (double)(cur->drained_bytes - l->drained_bytes);
	if (grown > 0 && cur->mono_ms > l->mono_ms)
		r->ingest_bytes =
		    grown * 1000.0 / (double)(cur->mono_ms - l->mono_ms);
}

/*
 * How long the spool holds out at the current ingest if nothing drains
 * (until when_full applies), and when the backlog is gone at the current
 * drain and ingest rates. -1 stands for never: no ingest, or a backlog
 * that does not shrink.
 */
static void
runway_of(const struct spool_stats *ss, const struct rates *r, double *runway_s,
    double *eta_s)
{
	double room, ratio = 1.0, net;

	*runway_s = -1;
	*eta_s = ss->events == 0 ? 0 : -1;
	if (!r->known)
		return;
	room = ss->limit_bytes > ss->used_bytes
	    ? (double)(ss->limit_bytes - ss->used_bytes)
	    : 0;
	/* Records take more room in pages than their bytes: B-tree, meta. */
	if (ss->bytes >= RUNWAY_MIN_BYTES && ss->used_bytes > ss->bytes)
		ratio = (double)ss->used_bytes / (double)ss->bytes;
	if (ratio > RUNWAY_RATIO_MAX)
		ratio = RUNWAY_RATIO_MAX;
	if (r->ingest_bytes > 0)
		*runway_s = room / (r->ingest_bytes * ratio);
	net = r->drain - r->ingest;
	if (ss->events > 0 && net > 0)
		*eta_s = (double)ss->events / net;
}

/* A JSON number, or null for -1 (never). */
static void
add_seconds(struct buf *b, const char *name, double v)
{
	if (v < 0)
		buf_printf(b, "\"%s\":null,", name);
	else
		buf_printf(b, "\"%s\":%.0f,", name, v);
}

int
stats_json(struct stats *st, const struct stats_ingest *ing,
    const struct httpd_stats *hs, struct buf *b)
{
	struct spool_stats ss;
	struct commit_stats cs;
	struct fwd_stats fs;
	struct sample cur;
	struct rates r;
	double runway, eta;
	uint64_t now = clock_wall_ms();

	if (spool_stat(st->sp, &ss) != SPOOL_OK)
		return -1;
	commit_stats(st->commit, &cs);
	fwd_snapshot(st, &fs);
	sample_of(&ss, &cs, &fs, &cur);
	rates_of(st, &cur, &r);
	runway_of(&ss, &r, &runway, &eta);
	buf_printf(b,
	    "{\"spool_events\":%llu,\"spool_bytes\":%llu,"
	    "\"spool_used_bytes\":%llu,\"spool_limit_bytes\":%llu,"
	    "\"spool_max_bytes\":%llu,\"spool_oldest_age_ms\":%llu,"
	    "\"dead_letters\":%llu,\"evicted\":%llu,",
	    (unsigned long long)ss.events, (unsigned long long)ss.bytes,
	    (unsigned long long)ss.used_bytes,
	    (unsigned long long)ss.limit_bytes,
	    (unsigned long long)ss.map_bytes,
	    (unsigned long long)(ss.oldest_ms && now > ss.oldest_ms
	            ? now - ss.oldest_ms
	            : 0),
	    (unsigned long long)ss.dead, (unsigned long long)ss.evicted);
	buf_printf(b,
	    "\"events_received\":%llu,\"events_rejected\":%llu,"
	    "\"requests\":%llu,\"requests_full\":%llu,"
	    "\"commits\":%llu,\"events_committed\":%llu,"
	    "\"commit_errors\":%llu,",
	    (unsigned long long)ing->events_accepted,
	    (unsigned long long)ing->events_invalid,
	    (unsigned long long)ing->requests,
	    (unsigned long long)ing->requests_full,
	    (unsigned long long)cs.commits,
	    (unsigned long long)cs.events_committed,
	    (unsigned long long)cs.commit_errors);
	buf_printf(b,
	    "\"events_forwarded\":%llu,\"upstream_last_status\":%d,"
	    "\"forwarder_state\":\"%s\",\"forwarder_reason\":",
	    (unsigned long long)fs.events_forwarded, fs.last_status,
	    fwd_state_name(fs.state));
	buf_add_json_string(b, fs.reason);
	buf_printf(b, ",\"backoff_ms\":%llu,\"retries\":%llu,",
	    (unsigned long long)fs.backoff_ms, (unsigned long long)fs.retries);
	buf_printf(b,
	    "\"upload_concurrency\":%u,\"upload_concurrency_max\":%u,"
	    "\"upload_inflight\":%u,\"upstream_rtt_ms\":%llu,"
	    "\"upstream_rtt_floor_ms\":%llu,\"upload_rate_limited\":%llu,"
	    "\"upload_pace\":%.2f,",
	    fs.concurrency, fs.concurrency_max, fs.inflight,
	    (unsigned long long)fs.rtt_ms, (unsigned long long)fs.rtt_floor_ms,
	    (unsigned long long)fs.rate_limited, fs.pace);
	buf_printf(b,
	    "\"forwarder_held_bytes\":%llu,\"forwarder_held_bytes_max\":%llu,",
	    (unsigned long long)fs.held_bytes,
	    (unsigned long long)fs.held_bytes_max);
	buf_printf(b,
	    "\"ingest_rate\":%.1f,\"ingest_bytes_rate\":%.0f,"
	    "\"drain_rate\":%.1f,\"drain_bytes_rate\":%.0f,",
	    r.ingest, r.ingest_bytes, r.drain, r.drain_bytes);
	add_seconds(b, "runway_s", runway);
	add_seconds(b, "drain_eta_s", eta);
	buf_printf(b,
	    "\"spans_received\":%llu,\"spans_refused\":%llu,"
	    "\"exports_received\":%llu,\"exports_rejected\":%llu,"
	    "\"spans_forwarded\":%llu,\"exports_forwarded\":%llu,"
	    "\"spans_dead_lettered\":%llu,\"exports_dead_lettered\":%llu,"
	    "\"spans_rejected_upstream\":%llu,\"connections\":%llu,",
	    (unsigned long long)ing->spans_accepted,
	    (unsigned long long)ing->spans_refused,
	    (unsigned long long)ing->exports_accepted,
	    (unsigned long long)ing->exports_invalid,
	    (unsigned long long)fs.spans_forwarded,
	    (unsigned long long)fs.exports_forwarded,
	    (unsigned long long)fs.spans_dead_lettered,
	    (unsigned long long)fs.exports_dead_lettered,
	    (unsigned long long)fs.spans_partial_rejected,
	    (unsigned long long)(hs != NULL ? hs->conns_open : 0));
	buf_addstr(b, "\"redactions\":{");
	for (size_t i = 0; i < rules_count(ing->rules); i++) {
		if (i > 0)
			buf_addch(b, ',');
		buf_add_json_string(b, rules_name(ing->rules, i));
		buf_printf(b, ":%llu",
		    (unsigned long long)rules_matches(ing->rules, i));
	}
	buf_addstr(b, "}}");
	return buf_failed(b) ? -1 : 0;
}

static void
metric(struct buf *b, const char *name, const char *type, const char *help,
    const char *labels, uint64_t v)
{
	if (help != NULL)
		buf_printf(
		    b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	buf_printf(b, "%s%s %llu\n", name, labels ? labels : "",
	    (unsigned long long)v);
}

/* A gauge whose value is a fraction, with digits after the point. */
static void
float_metric(
    struct buf *b, const char *name, const char *help, int digits, double v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.*f\n", name, help,
	    name, name, digits, v);
}

/* Prometheus' spelling of a number of seconds, +Inf for never. */
static void
seconds_metric(struct buf *b, const char *name, const char *help, double v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
	if (v < 0)
		buf_printf(b, "%s +Inf\n", name);
	else
		buf_printf(b, "%s %.0f\n", name, v);
}

static void
rates_metrics(struct stats *st, const struct spool_stats *ss,
    const struct commit_stats *cs, const struct fwd_stats *fs, struct buf *b)
{
	struct sample cur;
	struct rates r;
	double runway, eta;

	sample_of(ss, cs, fs, &cur);
	rates_of(st, &cur, &r);
	runway_of(ss, &r, &runway, &eta);
	float_metric(b, "tracespool_ingest_records_per_second",
	    "Records spooled a second over the last 10 s.", 1, r.ingest);
	float_metric(b, "tracespool_drain_records_per_second",
	    "Records forwarded or dead-lettered a second over the last 10 s.",
	    1, r.drain);
	seconds_metric(b, "tracespool_spool_runway_seconds",
	    "How long the spool takes the current ingest with nothing "
	    "forwarded, before when_full applies.",
	    runway);
	seconds_metric(b, "tracespool_drain_eta_seconds",
	    "When the backlog is gone at the current drain and ingest rates.",
	    eta);
}

int
stats_metrics(struct stats *st, const struct stats_ingest *ing,
    const struct httpd_stats *hsp, struct buf *b)
{
	struct spool_stats ss;
	struct commit_stats cs;
	struct fwd_stats fs;
	struct httpd_stats hs = {0};
	uint64_t now = clock_wall_ms();

	if (spool_stat(st->sp, &ss) != SPOOL_OK)
		return -1;
	commit_stats(st->commit, &cs);
	fwd_snapshot(st, &fs);
	if (hsp != NULL)
		hs = *hsp;
	metric(b, "tracespool_events_received_total", "counter",
	    "Events received, by outcome.", "{outcome=\"accepted\"}",
	    ing->events_accepted);
	metric(b, "tracespool_events_received_total", NULL, NULL,
	    "{outcome=\"invalid\"}", ing->events_invalid);
	metric(b, "tracespool_events_received_total", NULL, NULL,
	    "{outcome=\"refused\"}", ing->events_refused);
	metric(b, "tracespool_requests_total", "counter",
	    "Ingest requests routed, any path.", NULL, ing->requests);
	metric(b, "tracespool_requests_rejected_total", "counter",
	    "Ingest requests answered with an error, by reason.",
	    "{reason=\"invalid\"}", ing->requests_invalid);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"too_large\"}", ing->requests_too_large);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"full\"}", ing->requests_full);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"error\"}", ing->requests_error);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"not_found\"}", ing->requests_not_found);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"unsupported\"}", ing->requests_unsupported);
	metric(b, "tracespool_requests_rejected_total", NULL, NULL,
	    "{reason=\"http\"}", hs.errors_4xx);
	metric(b, "tracespool_spool_events", "gauge", "Events in the spool.",
	    NULL, ss.events);
	metric(b, "tracespool_spool_bytes", "gauge",
	    "JSON bytes of the spooled events.", NULL, ss.bytes);
	metric(b, "tracespool_spool_used_bytes", "gauge",
	    "Spool pages in use, in bytes.", NULL, ss.used_bytes);
	metric(b, "tracespool_spool_capacity_bytes", "gauge",
	    "Where ingest stops accepting (below spool_max_bytes).", NULL,
	    ss.limit_bytes);
	metric(b, "tracespool_spool_max_bytes", "gauge",
	    "The spool's size cap, spool_max_bytes.", NULL, ss.map_bytes);
	metric(b, "tracespool_spool_oldest_age_seconds", "gauge",
	    "Age of the oldest spooled event.", NULL,
	    ss.oldest_ms && now > ss.oldest_ms ? (now - ss.oldest_ms) / 1000
	                                       : 0);
	metric(b, "tracespool_dead_letters", "gauge",
	    "Events in the dead-letter store.", NULL, ss.dead);
	metric(b, "tracespool_dead_lettered_total", "counter",
	    "Events this process moved to the dead-letter store.", NULL,
	    fs.dead_letters);
	metric(b, "tracespool_events_evicted_total", "counter",
	    "Events dropped by when_full = drop_oldest.", NULL, ss.evicted);
	metric(b, "tracespool_commits_total", "counter",
	    "Spool transactions committed.", NULL, cs.commits);
	metric(b, "tracespool_events_committed_total", "counter",
	    "Events committed (events per commit: divide by commits).", NULL,
	    cs.events_committed);
	metric(b, "tracespool_commit_errors_total", "counter",
	    "Spool transactions that failed.", NULL, cs.commit_errors);
	float_metric(b, "tracespool_events_per_commit",
	    "Events per spool transaction, averaged since start.", 3,
	    cs.commits ? (double)cs.events_committed / (double)cs.commits
	               : 0.0);
	metric(b, "tracespool_events_forwarded_total", "counter",
	    "Events the upstream accepted.", NULL, fs.events_forwarded);
	metric(b, "tracespool_spans_received_total", "counter",
	    "Spans in OTLP exports received, by outcome.",
	    "{outcome=\"accepted\"}", ing->spans_accepted);
	metric(b, "tracespool_spans_received_total", NULL, NULL,
	    "{outcome=\"refused\"}", ing->spans_refused);
	metric(b, "tracespool_spans_exports_received_total", "counter",
	    "OTLP exports received, by outcome.", "{outcome=\"accepted\"}",
	    ing->exports_accepted);
	metric(b, "tracespool_spans_exports_received_total", NULL, NULL,
	    "{outcome=\"invalid\"}", ing->exports_invalid);
	metric(b, "tracespool_spans_exports_received_total", NULL, NULL,
	    "{outcome=\"refused\"}", ing->exports_refused);
	metric(b, "tracespool_spans_forwarded_total", "counter",
	    "Spans the upstream accepted.", NULL, fs.spans_forwarded);
	metric(b, "tracespool_spans_exports_forwarded_total", "counter",
	    "OTLP exports the upstream accepted.", NULL, fs.exports_forwarded);
	metric(b, "tracespool_spans_dead_lettered_total", "counter",
	    "Spans this process moved to the dead-letter store.", NULL,
	    fs.spans_dead_lettered);
	metric(b, "tracespool_spans_exports_dead_lettered_total", "counter",
	    "OTLP exports this process moved to the dead-letter store.", NULL,
	    fs.exports_dead_lettered);
	metric(b, "tracespool_spans_rejected_upstream_total", "counter",
	    "Spans an accepting upstream reported rejected (partial_success).",
	    NULL, fs.spans_partial_rejected);
	metric(b, "tracespool_upstream_requests_total", "counter",
	    "Upstream requests, by status class.", "{class=\"2xx\"}",
	    fs.requests_2xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"4xx\"}", fs.requests_4xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"5xx\"}", fs.requests_5xx);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"network\"}", fs.requests_neterr);
	metric(b, "tracespool_upstream_requests_total", NULL, NULL,
	    "{class=\"other\"}", fs.requests_other);
	metric(b, "tracespool_upstream_retries_total", "counter",
	    "Upstream requests retried.", NULL, fs.retries);
	float_metric(b, "tracespool_forwarder_backoff_seconds",
	    "Current wait before the next upstream attempt.", 3,
	    (double)fs.backoff_ms / 1000.0);
	metric(b, "tracespool_forwarder_paused", "gauge",
	    "1 while forwarding is paused (no key, or the key is refused).",
	    NULL, fs.state == FWD_PAUSED);
	buf_printf(b,
	    "# HELP tracespool_forwarder_state 1 for the "
	    "forwarder's current state.\n"
	    "# TYPE tracespool_forwarder_state gauge\n");
	for (int i = FWD_IDLE; i <= FWD_PAUSED; i++)
		buf_printf(b, "tracespool_forwarder_state{state=\"%s\"} %d\n",
		    fwd_state_name(i), fs.state == i);
	metric(b, "tracespool_upload_concurrency", "gauge",
	    "Upstream requests that may be in flight now (adaptive).", NULL,
	    fs.concurrency);
	metric(b, "tracespool_upload_concurrency_max", "gauge",
	    "upload_concurrency: the most requests in flight.", NULL,
	    fs.concurrency_max);
	metric(b, "tracespool_upload_inflight", "gauge",
	    "Upstream requests in flight now.", NULL, fs.inflight);
	float_metric(b, "tracespool_upstream_rtt_seconds",
	    "Smoothed latency of the upstream's answers.", 3,
	    (double)fs.rtt_ms / 1000.0);
	float_metric(b, "tracespool_upstream_rtt_floor_seconds",
	    "The latency floor the concurrency is measured against.", 3,
	    (double)fs.rtt_floor_ms / 1000.0);
	metric(b, "tracespool_upload_rate_limited_total", "counter",
	    "Upstream requests that waited for upload_rate_limit.", NULL,
	    fs.rate_limited);
	metric(b, "tracespool_forwarder_held_bytes", "gauge",
	    "Bytes of spooled records the forwarder holds, read and not yet "
	    "settled; it reads no further ahead past 8 MiB.",
	    NULL, fs.held_bytes);
	metric(b, "tracespool_forwarder_held_bytes_max", "gauge",
	    "The most tracespool_forwarder_held_bytes was since the start.",
	    NULL, fs.held_bytes_max);
	rates_metrics(st, &ss, &cs, &fs, b);
	metric(b, "tracespool_upstream_last_status", "gauge",
	    "HTTP status of the last upstream answer (0 before any).", NULL,
	    (uint64_t)fs.last_status);
	metric(b, "tracespool_connections", "gauge", "Open ingest connections.",
	    NULL, hs.conns_open);
	metric(b, "tracespool_connections_total", "counter",
	    "Ingest connections accepted.", NULL, hs.conns_total);
	metric(b, "tracespool_connection_timeouts_total", "counter",
	    "Ingest connections closed by a header, body or idle timeout.",
	    NULL, hs.timeouts);
	metric(b, "tracespool_connections_evicted_total", "counter",
	    "Idle connections closed at max_connections for a new one.", NULL,
	    hs.evicted);
	metric(b, "tracespool_connections_retired_total", "counter",
	    "Busy connections closed after their reply while a new client "
	    "waited at max_connections.",
	    NULL, hs.retired);
	metric(b, "tracespool_requests_cut_total", "counter",
	    "Requests too slow while a new client waited at max_connections "
	    "(503).",
	    NULL, hs.cut);
	metric(b, "tracespool_requests_over_budget_total", "counter",
	    "Bodies refused because max_buffered_bytes was in use (503).", NULL,
	    hs.over_budget);
	metric(b, "tracespool_buffered_body_bytes", "gauge",
	    "Request body bytes held now, against max_buffered_bytes.", NULL,
	    hs.body_bytes);
	metric(b, "tracespool_accept_errors_total", "counter",
	    "accept(2) failures, such as EMFILE.", NULL, hs.accept_errors);
	metric(b, "tracespool_connections_refused_total", "counter",
	    "Unix socket peers not in allowed_uids or allowed_gids (403).",
	    NULL, hs.refused);
	/* Rule names are [A-Za-z0-9_.-]: safe as label values as they are. */
	for (size_t i = 0; i < rules_count(ing->rules); i++) {
		if (i == 0)
			buf_addstr(b,
			    "# HELP tracespool_redactions_total Matches each "
			    "redaction rule masked, hashed or dropped.\n"
			    "# TYPE tracespool_redactions_total counter\n");
		buf_printf(b, "tracespool_redactions_total{rule=\"%s\"} %llu\n",
		    rules_name(ing->rules, i),
		    (unsigned long long)rules_matches(ing->rules, i));
	}
	metric(b, "tracespool_build_info", "gauge",
	    "The running version, as a label.", "{version=\"" TS_VERSION "\"}",
	    1);
	return buf_failed(b) ? -1 : 0;
}

int
stats_status_line(struct stats *st, char *out, size_t len)
{
	struct spool_stats ss;
	struct fwd_stats fs;

	if (spool_stat(st->sp, &ss) != SPOOL_OK)
		return -1;
	fwd_snapshot(st, &fs);
	snprintf(out, len, "spool %llu events, %llu dead; forwarder %s%s%s",
	    (unsigned long long)ss.events, (unsigned long long)ss.dead,
	    fwd_state_name(fs.state), fs.reason[0] ? ": " : "", fs.reason);
	return 0;
}
