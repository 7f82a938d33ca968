/* ingest.h: the HTTP routes of the ingest API: validate, hand to group commit,
 * answer. */
#ifndef TS_INGEST_H
#define TS_INGEST_H

#include <stddef.h>
#include <stdint.h>

struct conf;
struct commit;
struct spool;
struct fwd;
struct httpd;
struct httpd_req;
struct buf;

/*
 * Everything here runs on the event loop's thread. The ingest borrows the
 * spool, the commit thread, the forwarder and the httpd (for its counters)
 * for its whole life; the conf pointer is replaced whole by ingest_set_conf
 * on reload, and must stay valid until the next call.
 */
struct ingest;

struct ingest *ingest_new(
    const struct conf *conf, struct spool *sp, struct commit *commit);
void ingest_free(struct ingest *ing);

void ingest_set_conf(struct ingest *ing, const struct conf *conf);
void ingest_set_fwd(struct ingest *ing, struct fwd *fwd);
void ingest_set_httpd(struct ingest *ing, struct httpd *h);

/* The httpd handler; arg is the struct ingest. */
void ingest_handle(struct httpd_req *req, void *arg);

/* Requests waiting for their commit; shutdown waits for 0. */
unsigned ingest_inflight(const struct ingest *ing);

/* Append the /stats JSON object and the /metrics text. 0 or -1. */
int ingest_stats_json(struct ingest *ing, struct buf *out);
int ingest_metrics_text(struct ingest *ing, struct buf *out);

/* A one-line summary for systemd's STATUS=. */
int ingest_status_line(struct ingest *ing, char *out, size_t len);

#endif
