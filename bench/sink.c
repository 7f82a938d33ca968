/* sink.c: an upstream that takes batches and counts events: as fast as it
 * can, or like a remote across a network with a rate limit. */
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
#include <time.h>
#include <unistd.h>

#include "tests/support/sock.h"

/*
 * Usage: sink [-p port] [-L ms] [-R n] [-A secs] [-s file]. Listens on
 * 127.0.0.1 (port 0: any free one), prints "port=N" on stdout, then
 * answers every request with 200 {"success":true} over keep-alive
 * HTTP/1.1. It does not parse the JSON: the events of a request are the
 * occurrences of "event_id" in its body. GET /_count answers
 * {"events":N,"requests":N,"bytes":N,"refused":N}. SIGTERM or SIGINT
 * prints the same line on stdout and exits.
 *
 * To stand in for a remote API:
 *   -L ms    every answer leaves ms after its request arrived (other
 *            connections are served meanwhile): the round trip;
 *   -R n     at most n requests a second (by the sink's clock, in whole
 *            seconds from its start) are answered 200; the rest get
 *            429 with Retry-After: secs (-A, default 1), after -L too;
 *   -s file  one line per request: "ms client status events", ms since
 *            the start, client the bearer key (or "-");
 *   SIGUSR1  switches the remote off: the listener and every connection
 *            close, so connections are refused; SIGUSR2 switches it on
 *            again on the same port. Each is noted in the -s file as
 *            "ms off" or "ms on".
 */

#define HDR_MAX (16 * 1024)
/* Answers one connection may owe at once (clients do not pipeline). */
#define OWED_MAX 64
/* Connections at once; more are closed at accept. */
#define CONNS_MAX 4096

struct owed {
	uint64_t due_ms;
	int status; /* 200 or 429 */
};

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	struct owed owed[OWED_MAX]; /* in arrival order */
	size_t nowed;
};

static volatile sig_atomic_t quit, go_off, go_on;
static uint64_t n_events, n_requests, n_bytes, n_refused;
static uint64_t start_ms;
static long latency_ms, rate;
static long retry_after = 1;
static uint64_t rate_second, rate_count;
static FILE *reqlog;
static struct conn *conns[CONNS_MAX];

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		go_off = 1;
	else if (sig == SIGUSR2)
		go_on = 1;
	else
		quit = 1;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
send_answer(int fd, int status)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 16\r\n\r\n"
	                         "{\"success\":true}";
	static const char body429[] = "{\"success\":false,\"error\":\"rate "
	                              "limited\"}";
	char hdr[256];
	int n;

	if (status == 200)
		return sock_send_all(fd, ok, sizeof(ok) - 1);
	n = snprintf(hdr, sizeof(hdr),
	    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: "
	    "application/json\r\nRetry-After: %ld\r\nContent-Length: "
	    "%zu\r\n\r\n%s",
	    retry_after, sizeof(body429) - 1, body429);
	return sock_send_all(fd, hdr, (size_t)n);
}

/* The bearer key of the request's headers (or "-"), for the log. */
static void
client_of(const char *hdrs, const char *end, char *out, size_t outlen)
{
	const char *line, *v, *e;

	snprintf(out, outlen, "-");
	for (line = strstr(hdrs, "\r\n"); line != NULL && line < end;
	     line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "Authorization: Bearer ", 22) != 0)
			continue;
		v = line + 24;
		e = strstr(v, "\r\n");
		if (e == NULL || e > end)
			e = end;
		snprintf(out, outlen, "%.*s", (int)(e - v), v);
		return;
	}
}

/* 200, or 429 past the rate in this second of the sink's clock. */
static int
decide(uint64_t now)
{
	uint64_t sec = (now - start_ms) / 1000;

	if (rate <= 0)
		return 200;
	if (sec != rate_second) {
		rate_second = sec;
		rate_count = 0;
	}
	return ++rate_count > (uint64_t)rate ? 429 : 200;
}

/* Answer, or owe an answer to, every complete request in c->buf. */
static int
serve(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	char *end, *line, body[200], hdr[128], client[128];
	size_t hlen, clen;
	int is_count, expect, n, status;
	uint64_t now, events;

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
			    "\"bytes\":%llu,\"refused\":%llu}",
			    (unsigned long long)n_events,
			    (unsigned long long)n_requests,
			    (unsigned long long)n_bytes,
			    (unsigned long long)n_refused);
			snprintf(hdr, sizeof(hdr),
			    "HTTP/1.1 200 OK\r\nContent-Type: "
			    "application/json\r\nContent-Length: %d\r\n\r\n",
			    n);
			if (sock_send_all(c->fd, hdr, strlen(hdr)) == -1 ||
			    sock_send_all(c->fd, body, (size_t)n) == -1)
				return -1;
		} else {
			now = mono_ms();
			status = decide(now);
			events = count_ids(c->buf + hlen, clen);
			n_requests++;
			n_bytes += clen;
			if (status == 200)
				n_events += events;
			else
				n_refused++;
			if (reqlog != NULL) {
				client_of(c->buf, end, client, sizeof(client));
				fprintf(reqlog, "%llu %s %d %llu\n",
				    (unsigned long long)(now - start_ms),
				    client, status, (unsigned long long)events);
			}
			if (latency_ms == 0 && c->nowed == 0) {
				if (send_answer(c->fd, status) == -1)
					return -1;
			} else if (c->nowed == OWED_MAX) {
				return -1;
			} else {
				c->owed[c->nowed].due_ms =
				    now + (uint64_t)latency_ms;
				c->owed[c->nowed].status = status;
				c->nowed++;
			}
		}
		memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
		c->len -= hlen + clen;
	}
}

static void
conn_close(int ep, struct conn *c)
{
	size_t i;

	for (i = 0; i < CONNS_MAX; i++) {
		if (conns[i] == c) {
			conns[i] = NULL;
			break;
		}
	}
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

/*
 * Send every answer that is due, in order per connection. Returns the ms
 * until the next one is (-1: none owed).
 */
static int
pay_due(int ep)
{
	uint64_t now = mono_ms(), next = UINT64_MAX;
	struct conn *c;
	size_t i, k;

	for (i = 0; i < CONNS_MAX; i++) {
		if ((c = conns[i]) == NULL)
			continue;
		for (k = 0; k < c->nowed && c->owed[k].due_ms <= now; k++) {
			if (send_answer(c->fd, c->owed[k].status) == -1)
				break;
		}
		if (k < c->nowed && c->owed[k].due_ms <= now) {
			conn_close(ep, c);
			continue;
		}
		memmove(
		    c->owed, c->owed + k, (c->nowed - k) * sizeof(*c->owed));
		c->nowed -= k;
		if (c->nowed > 0 && c->owed[0].due_ms < next)
			next = c->owed[0].due_ms;
	}
	return next == UINT64_MAX ? -1 : (int)(next - now);
}

static int
listen_on(int port, int *actual)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int lfd, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lfd == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 1024) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &sl) == -1) {
		close(lfd);
		return -1;
	}
	*actual = ntohs(sin.sin_port);
	return lfd;
}

static void
accept_all(int ep, int lfd)
{
	struct epoll_event ee;
	struct conn *c;
	int fd, one = 1;
	size_t i;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) !=
	    -1) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (i = 0; i < CONNS_MAX && conns[i] != NULL; i++)
			;
		if (i == CONNS_MAX || (c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		conns[i] = c;
		memset(&ee, 0, sizeof(ee));
		ee.events = EPOLLIN;
		ee.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee);
	}
}

static long
number(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	return *end == '\0' && v >= 0 ? v : -1;
}

int
main(int argc, char **argv)
{
	struct epoll_event ee, evs[64];
	struct sigaction sa;
	const char *logpath = NULL;
	int lfd, ep, ch, port = 0, i, n, wait;
	uint64_t last_flush = 0;

	while ((ch = getopt(argc, argv, "p:L:R:A:s:")) != -1) {
		switch (ch) {
		case 'p':
			port = (int)number(optarg);
			break;
		case 'L':
			latency_ms = number(optarg);
			break;
		case 'R':
			rate = number(optarg);
			break;
		case 'A':
			retry_after = number(optarg);
			break;
		case 's':
			logpath = optarg;
			break;
		default:
			port = -1;
			break;
		}
	}
	if (port < 0 || port > 65535 || latency_ms < 0 || rate < 0 ||
	    retry_after < 0 || optind != argc) {
		fprintf(stderr,
		    "usage: sink [-p port] [-L ms] [-R n] [-A secs] "
		    "[-s file]\n");
		return 2;
	}
	if (logpath != NULL && (reqlog = fopen(logpath, "w")) == NULL) {
		perror(logpath);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	start_ms = mono_ms();
	if ((lfd = listen_on(port, &port)) == -1) {
		perror("sink: listen");
		return 1;
	}
	printf("port=%d\n", port);
	fflush(stdout);
	ep = epoll_create1(EPOLL_CLOEXEC);
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ee);
	wait = -1;
	while (!quit) {
		if (go_off) {
			go_off = 0;
			for (i = 0; i < CONNS_MAX; i++) {
				if (conns[i] != NULL)
					conn_close(ep, conns[i]);
			}
			if (lfd != -1) {
				epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
				close(lfd);
				lfd = -1;
			}
			if (reqlog != NULL)
				fprintf(reqlog, "%llu off\n",
				    (unsigned long long)(mono_ms() - start_ms));
		}
		if (go_on) {
			go_on = 0;
			if (lfd == -1 && (lfd = listen_on(port, &port)) != -1) {
				ee.events = EPOLLIN;
				ee.data.ptr = NULL;
				epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ee);
			}
			if (reqlog != NULL)
				fprintf(reqlog, "%llu on\n",
				    (unsigned long long)(mono_ms() - start_ms));
		}
		/* The log is read while the sink runs: at most a second late.
		 */
		if (reqlog != NULL && mono_ms() - last_flush >= 1000) {
			fflush(reqlog);
			last_flush = mono_ms();
		}
		n = epoll_wait(
		    ep, evs, 64, wait < 0 || wait > 200 ? 200 : wait);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c != NULL)
				on_read(ep, c);
			else if (lfd != -1)
				accept_all(ep, lfd);
		}
		wait = pay_due(ep);
	}
	if (reqlog != NULL)
		fclose(reqlog);
	printf("{\"events\":%llu,\"requests\":%llu,\"bytes\":%llu,"
	       "\"refused\":%llu}\n",
	    (unsigned long long)n_events, (unsigned long long)n_requests,
	    (unsigned long long)n_bytes, (unsigned long long)n_refused);
	return 0;
}
