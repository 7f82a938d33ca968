/* sock.c: the socket helpers of the test tools and benchmarks. */
#include "tests/support/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* The address of the Unix socket at path: 0, or -1 with ENAMETOOLONG. */
static int
unix_addr(struct sockaddr_un *sun, const char *path)
{
	size_t len = strlen(path);

	if (len >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	return 0;
}

int
sock_unix_connect(const char *path, int flags, unsigned timeout_ms)
{
	struct sockaddr_un sun;
	struct timeval tv;
	int fd, e;

	if (unix_addr(&sun, path) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd == -1)
		return -1;
	if (timeout_ms != 0) {
		tv.tv_sec = (time_t)(timeout_ms / 1000);
		tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
sock_unix_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd, e;

	if (unix_addr(&sun, path) == -1)
		return -1;
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 1024) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
sock_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	struct pollfd pfd;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		/* On a blocking socket EAGAIN is SO_SNDTIMEO's: give up. */
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
		    (fcntl(fd, F_GETFL) & O_NONBLOCK)) {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
sock_wait_readable(int fd, int timeout_ms)
{
	struct pollfd pfd = {fd, POLLIN, 0};

	return poll(&pfd, 1, timeout_ms) > 0;
}
