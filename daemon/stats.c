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

struct stats {
	struct spool *sp;
	struct commit *commit;
	struct fwd *fwd;
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

int
stats_json(struct stats *st, const struct stats_ingest *ing,
    const struct httpd_stats *hs, struct buf *b)
{
	struct spool_stats ss;
	struct commit_stats cs;
	struct fwd_stats fs;
	uint64_t now = clock_wall_ms();

	if (spool_stat(st->sp, &ss) != SPOOL_OK)
		return -1;
	commit_stats(st->commit, &cs);
	fwd_snapshot(st, &fs);
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
	buf_printf(b,
	    "# HELP tracespool_events_per_commit Events per spool transaction, "
	    "averaged since start.\n"
	    "# TYPE tracespool_events_per_commit gauge\n"
	    "tracespool_events_per_commit %.3f\n",
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
	buf_printf(b,
	    "# HELP tracespool_forwarder_backoff_seconds Current wait before "
	    "the next upstream attempt.\n"
	    "# TYPE tracespool_forwarder_backoff_seconds gauge\n"
	    "tracespool_forwarder_backoff_seconds %.3f\n",
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
