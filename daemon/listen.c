/* listen.c: the listening sockets: systemd's, or the Unix socket and the TCP
 * listener made here; and the connection cap the descriptor limit allows. */
#include "daemon/listen.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/conf.h"
#include "daemon/httpd.h"

/* Descriptors kept for all but connections: spool, listeners, upstream. */
#define FD_RESERVE 64

/* A socket file nobody answers on is left by a dead daemon: remove it. */
static int
unix_prepare(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	char dir[sizeof(sun.sun_path)];
	char *slash;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_warnx("socket %s: path too long", path);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_warn("socket directory %s", dir);
			return -1;
		}
	}
	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("socket %s: exists and is not a socket", path);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		log_warnx("socket %s: another daemon answers on it", path);
		return -1;
	}
	close(fd);
	if (unlink(path) == -1) {
		log_warn("socket %s: cannot remove the stale file", path);
		return -1;
	}
	log_info("socket %s: removed a stale socket file", path);
	return 0;
}

static int
listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	mode_t old;
	int fd;

	if (unix_prepare(path) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("socket");
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	/* Bind with no permissions at all, then set socket_mode exactly:
	 * there is no moment where the umask's wider mode applies. */
	old = umask(0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("bind %s", path);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, mode) == -1 || listen(fd, 1024) == -1) {
		log_warn("socket %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

unsigned
listen_conns_cap(uint64_t want)
{
	struct rlimit rl;
	uint64_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (unsigned)want;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1 ||
		    getrlimit(RLIMIT_NOFILE, &rl) == -1)
			return (unsigned)want;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want + FD_RESERVE)
		return (unsigned)want;
	room = rl.rlim_cur > 2 * FD_RESERVE ? rl.rlim_cur - FD_RESERVE
	                                    : rl.rlim_cur / 2;
	log_warnx("max_connections %llu: lowered to %llu, what the limit of "
	          "%llu open files leaves (raise LimitNOFILE)",
	    (unsigned long long)want, (unsigned long long)room,
	    (unsigned long long)rl.rlim_cur);
	return (unsigned)room;
}

static int
listen_tcp(const char *hostport)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[8];
	unsigned portnum;
	int fd = -1, one = 1, rc;

	if (conf_parse_hostport(hostport, host, sizeof(host), &portnum) == -1) {
		log_warnx("listen_tcp %s: bad address", hostport);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", portnum);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		log_warnx("listen_tcp %s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 1024) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		log_warn("listen_tcp %s", hostport);
	return fd;
}

int
listen_open(struct httpd *h, const struct conf *c)
{
	int n = sd_listen_fds(1), count = 0;

	if (n < 0) {
		log_warnx("sd_listen_fds: %s", strerror(-n));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		int is_unix =
		    sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) > 0;

		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_warnx("socket %d from systemd: not a listening "
			          "stream socket",
			    fd);
			return -1;
		}
		if (httpd_listen_fd(h, fd, is_unix) == -1)
			return -1;
		count++;
	}
	if (n > 0) {
		log_info("listening on %d socket(s) from systemd", n);
	} else {
		int fd = listen_unix(c->socket, c->socket_mode);

		if (fd == -1 || httpd_listen_fd(h, fd, 1) == -1)
			return -1;
		log_info("listening on %s (mode %04o)", c->socket,
		    (unsigned)c->socket_mode);
		count++;
	}
	if (c->listen_tcp[0] != '\0') {
		int fd = listen_tcp(c->listen_tcp);

		if (fd == -1 || httpd_listen_fd(h, fd, 0) == -1)
			return -1;
		log_info("listening on tcp %s", c->listen_tcp);
		count++;
	}
	return count > 0 ? 0 : -1;
}
