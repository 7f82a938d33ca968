/* stats.h: the daemon's numbers as /stats (JSON), /metrics (Prometheus text)
 * and systemd's STATUS= line. */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct commit;
struct rules;
struct fwd;
struct httpd_stats;
struct spool;

/* What ingest counts, on the event loop; ingest owns the struct. */
struct stats_ingest {
	uint64_t requests;
	uint64_t events_accepted;
	uint64_t events_invalid; /* in requests answered 400 or 413 */
	uint64_t events_refused; /* in requests answered 503 */
	uint64_t requests_invalid;
	uint64_t requests_too_large;
	uint64_t requests_unsupported; /* 415 */
	uint64_t requests_full;
	uint64_t requests_error;
	uint64_t requests_not_found;
	uint64_t exports_accepted; /* OTLP exports */
	uint64_t exports_invalid;
	uint64_t exports_refused;
	uint64_t spans_accepted;
	uint64_t spans_refused;
	const struct rules *rules; /* the redaction rules in force, or NULL */
};

/*
 * The sources the numbers come from, borrowed for the life of the struct
 * stats: the spool (read), the commit thread's and the forwarder's
 * counters (each read under its own lock). fwd may be NULL (a daemon whose
 * forwarder did not start). Everything here runs on the event loop.
 */
struct stats;

struct stats *stats_new(
    struct spool *sp, struct commit *commit, struct fwd *fwd);
void stats_free(struct stats *st);

/*
 * Append the /stats object or the /metrics text to out. ing and hs are the
 * event loop's own counters (hs may be NULL). Returns 0, or -1 when the
 * spool cannot be read or memory ran out (out then holds a partial text:
 * do not send it).
 */
int stats_json(struct stats *st, const struct stats_ingest *ing,
    const struct httpd_stats *hs, struct buf *out);
int stats_metrics(struct stats *st, const struct stats_ingest *ing,
    const struct httpd_stats *hs, struct buf *out);

/* A one-line summary for systemd's STATUS=. 0, or -1 (spool unreadable). */
int stats_status_line(struct stats *st, char *out, size_t len);

/*
 * Take a sample of the counters that rates come from (records committed,
 * records and bytes drained, spool bytes). Call it once a second from the
 * event loop; /stats and /metrics derive ingest and drain rates, the
 * runway and the drain's end from the last minute of samples.
 */
void stats_tick(struct stats *st);

#endif
