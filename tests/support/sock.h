/* sock.h: the socket helpers of the test tools and benchmarks: connect to or
 * listen on a Unix socket, send a whole buffer, wait for input. */
#ifndef TS_TEST_SOCK_H
#define TS_TEST_SOCK_H

#include <stddef.h>

/*
 * A stream socket connected to the Unix socket at path; flags is 0 or
 * SOCK_NONBLOCK (a non-blocking connect to a full backlog fails with
 * EAGAIN: the caller retries). timeout_ms, when not 0, bounds every later
 * blocking send and recv (SO_SNDTIMEO, SO_RCVTIMEO), so a daemon that
 * stops answering cannot hold a tool past its run. Returns the descriptor
 * (close-on-exec; the caller owns it), or -1 with errno set (ENAMETOOLONG
 * for a path that does not fit sockaddr_un). Any thread.
 */
int sock_unix_connect(const char *path, int flags, unsigned timeout_ms);

/*
 * A non-blocking stream socket listening (backlog 1024) on the Unix socket
 * at path, after removing whatever was at path. Returns the descriptor
 * (close-on-exec; the caller owns it), or -1 with errno set (ENAMETOOLONG
 * for a path that does not fit sockaddr_un). For the benchmark servers.
 */
int sock_unix_listen(const char *path);

/*
 * Send all len bytes of buf, retrying after EINTR and, on a non-blocking
 * descriptor, waiting until it is writable (on a blocking one, a send
 * timeout fails). Never raises SIGPIPE. Returns 0, or -1 when the peer
 * closed or a send failed (how much went is then unknown).
 */
int sock_send_all(int fd, const void *buf, size_t len);

/*
 * Wait at most timeout_ms (-1: no limit) for fd to be readable (or at its
 * end, or in error). Returns 1 when it is, 0 when the time ran out.
 */
int sock_wait_readable(int fd, int timeout_ms);

#endif
