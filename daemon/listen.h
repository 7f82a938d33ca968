/* listen.h: the listening sockets and the connection cap. */
#ifndef TS_LISTEN_H
#define TS_LISTEN_H

#include <stdint.h>

struct conf;
struct httpd;

/*
 * Hand httpd its listening sockets: those systemd passed (socket
 * activation; c->socket is then ignored), else a Unix socket made at
 * c->socket with exactly c->socket_mode (a stale socket file left by a
 * dead daemon is removed, a live one is refused); and a TCP listener on
 * c->listen_tcp when it is set. Call once, from the thread that owns h.
 * Returns 0, or -1 after logging why (sockets already handed over stay
 * with h and close with it).
 */
int listen_open(struct httpd *h, const struct conf *c);

/*
 * max_connections as the descriptor limit allows. The soft limit is raised
 * to the hard one, as systemd asks of services that need more than 1024; a
 * cap still beyond it is lowered (and logged), so that the cap, where an
 * idle connection gives way to a new one, comes before accept(2) fails
 * with EMFILE. Call before any thread starts opening many descriptors.
 */
unsigned listen_conns_cap(uint64_t want);

#endif
