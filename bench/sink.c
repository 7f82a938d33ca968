/* sink.c: an upstream that takes batches as fast as it can and counts events.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tests/support/sock.h"

/*
 * Usage: sink [-p port]. Listens on 127.0.0.1 (port 0: any free one),
 * prints "port=N" on stdout, then answers every request with
 * 200 {"success":true} over keep-alive HTTP/1.1. It does not parse the
 * JSON: the events of a request are the occurrences of "event_id" in its
 * body. GET /_count answers {"events":N,"requests":N,"bytes":N}. SIGTERM
 * or SIGINT prints the same line on stdout and exits.
 */

#define HDR_MAX (16 * 1024)

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

static volatile sig_atomic_t quit;
static uint64_t n_events, n_requests, n_bytes;

static void
on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

static uint64_t
count_ids(const char *p, size_t len)
{
	static const char key[] = "\"event_id\"";
	const char *end = p + len, *q;
	uint64_t n = 0;

	while (
	    (q = memmem(p, (size_t)(end - p), key, sizeof(key) - 1)) != NULL) {
		n++;
		p = q + sizeof(key) - 1;
	}
	return n;
}

/* Answer every complete request in c->buf; -1 closes the connection. */
static int
serve(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 16\r\n\r\n"
	                         "{\"success\":true}";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char *end, *line, body[160], hdr[128];
	size_t hlen, clen;
	int is_count, expect, n;

	for (;;) {
		if (c->len == 0)
			return 0;
		c->buf[c->len] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (end == NULL)
			return c->len > HDR_MAX ? -1 : 0;
		hlen = (size_t)(end - c->buf) + 4;
		clen = 0;
		expect = 0;
		is_count = strncmp(c->buf, "GET /_count ", 12) == 0;
		for (line = strstr(c->buf, "\r\n"); line != NULL && line < end;
		     line = strstr(line + 2, "\r\n")) {
			if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
				clen = strtoul(line + 17, NULL, 10);
			else if (strncasecmp(line + 2, "Expect:", 7) == 0 &&
			    strcasestr(line + 2, "100-continue") != NULL &&
			    strcasestr(line + 2, "100-continue") < end)
				expect = 1;
		}
		if (c->len < hlen + clen) {
			if (hlen + clen + 1 > c->cap) {
				char *nb = realloc(c->buf, hlen + clen + 1);

				if (nb == NULL)
					return -1;
				c->buf = nb;
				c->cap = hlen + clen + 1;
			}
			if (expect && c->len == hlen &&
			    sock_send_all(c->fd, cont, sizeof(cont) - 1) == -1)
				return -1;
			return 0;
		}
		if (is_count) {
			n = snprintf(body, sizeof(body),
			    "{\"events\":%llu,\"requests\":%llu,"
			    "\"bytes\":%llu}",
			    (unsigned long long)n_events,
			    (unsigned long long)n_requests,
			    (unsigned long long)n_bytes);
			snprintf(hdr, sizeof(hdr),
			    "HTTP/1.1 200 OK\r\nContent-Type: "
			    "application/json\r\nContent-Length: %d\r\n\r\n",
			    n);
			if (sock_send_all(c->fd, hdr, strlen(hdr)) == -1 ||
			    sock_send_all(c->fd, body, (size_t)n) == -1)
				return -1;
		} else {
			n_events += count_ids(c->buf + hlen, clen);
			n_requests++;
			n_bytes += clen;
			if (sock_send_all(c->fd, ok, sizeof(ok) - 1) == -1)
				return -1;
		}
		memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
		c->len -= hlen + clen;
	}
}

static void
conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c);
}

static void
on_read(int ep, struct conn *c)
{
	ssize_t n;

	for (;;) {
		if (c->cap - c->len < 65536 + 1) {
			size_t ncap = c->cap * 2 > c->len + 65537
			    ? c->cap * 2
			    : c->len + 65537;
			char *nb = realloc(c->buf, ncap);

			if (nb == NULL) {
				conn_close(ep, c);
				return;
			}
			c->buf = nb;
			c->cap = ncap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(ep, c);
			return;
		}
		c->len += (size_t)n;
		if (serve(c) == -1) {
			conn_close(ep, c);
			return;
		}
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct epoll_event ee, evs[64];
	struct sigaction sa;
	int lfd, ep, ch, port = 0, one = 1, i, n;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: sink [-p port]\n");
			return 2;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd == -1 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 128) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
		perror("sink: listen");
		return 1;
	}
	printf("port=%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	ep = epoll_create1(EPOLL_CLOEXEC);
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ee);
	while (!quit) {
		n = epoll_wait(ep, evs, 64, 200);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int fd;

			if (c != NULL) {
				on_read(ep, c);
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL,
			            SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				    sizeof(one));
				if ((c = calloc(1, sizeof(*c))) == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				ee.events = EPOLLIN;
				ee.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee);
			}
		}
	}
	printf("{\"events\":%llu,\"requests\":%llu,\"bytes\":%llu}\n",
	    (unsigned long long)n_events, (unsigned long long)n_requests,
	    (unsigned long long)n_bytes);
	return 0;
}
