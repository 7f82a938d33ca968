/* ingest.h: the HTTP routes of the ingest API: route by the kind table, hand
 * the validated records to group commit, answer. */
#ifndef TS_INGEST_H
#define TS_INGEST_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct commit;
struct rules;
struct spool;
struct stats;
struct httpd_req;

/*
 * Everything here runs on the event loop's thread. The ingest borrows the
 * spool, the commit thread and the stats for its whole life; the conf
 * pointer is replaced whole by ingest_set_conf on reload, and must stay
 * valid until the next call.
 */
struct ingest;

struct ingest *ingest_new(const struct conf *conf, struct spool *sp,
    struct commit *commit, struct stats *stats);
void ingest_free(struct ingest *ing);

void ingest_set_conf(struct ingest *ing, const struct conf *conf);

/*
 * The redaction rules applied from now on (NULL: none), borrowed until
 * the next call; the caller frees the previous ones after it. Their
 * counters show in /stats and /metrics.
 */
void ingest_set_rules(struct ingest *ing, struct rules *rules);

/*
 * The httpd handler; arg is the struct ingest. /dlq and the paths under
 * it go to the dead-letter routes (daemon/admin.h).
 */
void ingest_handle(struct httpd_req *req, void *arg);

/* Requests waiting for their commit; shutdown waits for 0. */
unsigned ingest_inflight(const struct ingest *ing);

#endif
