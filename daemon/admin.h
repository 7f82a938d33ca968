/* admin.h: the dead-letter routes (/dlq), served on the Unix socket to root,
 * the daemon's user and admin_uids only. */
#ifndef TS_ADMIN_H
#define TS_ADMIN_H

struct conf;
struct commit;
struct spool;
struct httpd_req;

/*
 * The routes, for `tracespool dlq` (JSON bodies; errors in the ingest
 * API's form {"success": false, "error": ...}):
 *
 *   GET  /dlq?from=ID&limit=N  a page of dead letters from id ID (default
 *        1), at most N (default 100, at most 1000) and about 4 MiB:
 *        {"dead_letters": [OBJECT...], "next": ID or null}; ask again
 *        from next until it is null. OBJECT is spool_dead_json's.
 *   GET  /dlq/ID               one: OBJECT, or 404.
 *   POST /dlq/replay           {"id": ID} or {"all": true}: back to the
 *        spool, forwarded again: {"success": true, "replayed": N}; 404
 *        for a missing ID, 503 when the spool has no room for them.
 *   POST /dlq/purge            the same body: deleted,
 *        {"success": true, "purged": N}.
 *
 * Only on a Unix listener, and only to a peer whose uid is 0, the
 * daemon's own, or in admin_uids (403 otherwise, before the body is
 * looked at); a TCP listener, which has no peer credentials, always
 * answers 403. Replays and purges run on the commit thread (commit.h's
 * calls), never taking LMDB's writer lock on the event loop; reads run on
 * the loop, bounded per request.
 *
 * Everything here runs on the event loop's thread. The admin borrows the
 * spool and the commit thread for its whole life; conf is replaced whole
 * by admin_set_conf and must stay valid until the next call.
 */
struct admin;

struct admin *admin_new(
    const struct conf *conf, struct spool *sp, struct commit *commit);
/* After commit_stop (which answers the last replays and purges). */
void admin_free(struct admin *a);

void admin_set_conf(struct admin *a, const struct conf *conf);

/*
 * Answer req when its path is /dlq or under /dlq/ and return 1 (now or,
 * for a replay or purge, once the commit thread has run it); return 0,
 * leaving req alone, for any other path.
 */
int admin_handle(struct admin *a, struct httpd_req *req);

#endif
