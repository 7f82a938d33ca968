/* client.h: a small HTTP client for the daemon's ingest API. */
#ifndef TS_CLI_CLIENT_H
#define TS_CLI_CLIENT_H

#include <stddef.h>

#include "common/buf.h"

enum client_result {
	CLIENT_OK = 0,           /* an answer came, whatever its status */
	CLIENT_ERR = -1,         /* a local failure (memory, libcurl) */
	CLIENT_UNREACHABLE = -2, /* no answer: not running, refused, timeout */
};

struct client;

/* One answer. body is always NUL-terminated after a CLIENT_OK. */
struct client_resp {
	long status;
	long retry_after; /* seconds from Retry-After, -1 when absent */
	struct buf body;
};

/*
 * Talk to the daemon on socket_path, or to url (an http:// or https://
 * base URL) when url is not NULL. Nothing is connected yet; the first
 * request connects, and the connection is kept for the next ones.
 */
int client_open(struct client **cp, const char *socket_path, const char *url,
    char *err, size_t errlen);
/* NULL is ignored. */
void client_close(struct client *c);

/* Where the client talks to, for messages: the socket path or the URL. */
const char *client_where(const struct client *c);

void client_resp_init(struct client_resp *r);
void client_resp_free(struct client_resp *r);

/*
 * GET path, or POST body (JSON, len bytes) to path, filling r (reset
 * first). Returns an enum client_result; on failure err says why, naming
 * the system error when a connection failed.
 */
int client_get(struct client *c, const char *path, struct client_resp *r,
    char *err, size_t errlen);
int client_post(struct client *c, const char *path, const char *body,
    size_t len, struct client_resp *r, char *err, size_t errlen);

/*
 * The "error" text of an answer's JSON body ({"success": false, "error":
 * ...}), or, when there is none, the start of the body on one line.
 */
void client_resp_error(const struct client_resp *r, char *out, size_t outlen);

#endif
