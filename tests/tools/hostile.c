/* hostile.c: test tool: misbehaving clients of the Unix socket, and a
 * well-behaved one that measures its latency. */
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/sock.h"

/*
 * Usage: hostile -s SOCKET MODE [-n N] [-c CLIENTS] [-t SECONDS] [-b BYTES]
 *        [-i MS] [-w WINDOW] [-o FILE] [-k]
 *
 * Modes, each printing one line of key=value results on stdout at the end:
 *
 *   good      N requests POST /events (default 50), each on a new
 *             connection, one every MS milliseconds (default 20); the
 *             acknowledged event_ids go to FILE. Prints requests, ok, p50_ms,
 *             p99_ms, max_ms. Exit 1 unless every request got a 200.
 *   idle      opens N connections (default 1000) that never send anything
 *             and holds them SECONDS; prints "ready opened=N" once all are
 *             connected, then opened, closed_by_server.
 *   trickle   a request header, one byte a second, for at most SECONDS;
 *             prints status (0: none) and after_ms.
 *   unfilled  a POST announcing Content-Length BYTES that sends 10 of them;
 *             prints status and after_ms.
 *   big       N times (default 1) a POST of BYTES body bytes (-k: chunked,
 *             no Content-Length), sent as fast as the daemon reads until it
 *             answers; prints requests, status (-2 when not all got the
 *             same), after_ms and sent_bytes (of the slowest, the largest).
 *   flood     N tiny requests (GET /healthz) on one keep-alive connection,
 *             at most WINDOW unanswered at a time (default 64), sending no
 *             more after SECONDS; prints sent, answered, ok, other, seconds,
 *             rate, closed_by_server.
 *   garbage   CLIENTS concurrent clients (default 100), each sending N
 *             malformed requests (default 20), one per connection; prints
 *             requests, status_400, other, no_answer.
 *   pipeline  one connection that pipelines BYTES of GET /healthz as fast
 *             as the daemon takes them and never reads a reply, held for
 *             SECONDS; prints "ready sent=B" once nothing more goes out,
 *             then sent, closed_by_server.
 *   hog       CLIENTS connections (default 100) that each trickle valid
 *             requests (GET /healthz with padding), one byte every MS
 *             milliseconds (default 20), starting the next request at once
 *             and reconnecting at once when closed, for SECONDS; prints
 *             answered, ok, reconnects, requests_per_conn.
 *   hold      CLIENTS connections (default 100), each sending a POST with
 *             Content-Length BYTES and all of its body but the last byte,
 *             as fast as the daemon takes it, then waiting, for SECONDS;
 *             prints clients, status_503 (with Retry-After), other,
 *             no_answer (still held at the end), sent_bytes.
 *
 * Exit 0 when the mode ran (whatever the daemon answered), 1 when it could
 * not (or good saw a failure), 2 on a usage error.
 */

#define HOSTILE_IO_MS 10000 /* a reply that takes longer is a failure */

struct opts {
	const char *sock;
	const char *mode;
	long n;
	long clients;
	long seconds;
	long long bytes;
	long interval_ms;
	long window;
	const char *out;
	int chunked;
};

static const char *sock_path;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A connected socket, blocking unless nonblock; -1 on failure. */
static int
connect_sock(int nonblock)
{
	return sock_unix_connect(sock_path, nonblock ? SOCK_NONBLOCK : 0, 0);
}

/* Milliseconds from now to deadline (ms), for poll; 0 once it passed. */
static int
ms_until(double deadline)
{
	double left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/*
 * Read one response into buf (NUL-terminated) before deadline. Returns its
 * status, 0 when none came in time, -1 when the connection ended first.
 */
static int
read_response(int fd, char *buf, size_t cap, double deadline)
{
	size_t len = 0, hlen = 0;
	long clen = -1;
	char *end, *cl;
	ssize_t n;

	for (;;) {
		buf[len] = '\0';
		if (hlen == 0 && (end = strstr(buf, "\r\n\r\n")) != NULL) {
			hlen = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "\r\nContent-Length:");
			clen = cl != NULL && cl < end
			    ? strtol(cl + 17, NULL, 10)
			    : 0;
		}
		if (hlen != 0 && (len >= hlen + (size_t)clen || len == cap - 1))
			return strncmp(buf, "HTTP/1.1 ", 9) == 0
			    ? (int)strtol(buf + 9, NULL, 10)
			    : -1;
		if (!sock_wait_readable(fd, ms_until(deadline)))
			return 0;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
mode_good(const struct opts *o)
{
	char req[512], body[128], resp[4096], *id;
	double *lat, t0, next = now_ms();
	long i, ok = 0;
	FILE *out = NULL;
	int fd, status, blen;

	if ((lat = calloc((size_t)o->n, sizeof(*lat))) == NULL)
		return 1;
	if (o->out != NULL && (out = fopen(o->out, "w")) == NULL) {
		perror(o->out);
		free(lat);
		return 1;
	}
	for (i = 0; i < o->n; i++) {
		blen = snprintf(body, sizeof(body),
		    "{\"event\":{\"event_type\":\"chain\",\"event_"
		    "name\":\"good\",\"inputs\":{\"i\":%ld}}}",
		    i);
		snprintf(req, sizeof(req),
		    "POST /events HTTP/1.1\r\nHost: ts\r\nContent-Type: "
		    "application/json\r\nContent-Length: %d\r\n\r\n%s",
		    blen, body);
		t0 = now_ms();
		status = -1;
		if ((fd = connect_sock(0)) != -1) {
			if (sock_send_all(fd, req, strlen(req)) == 0)
				status = read_response(
				    fd, resp, sizeof(resp), t0 + HOSTILE_IO_MS);
			close(fd);
		}
		lat[i] = now_ms() - t0;
		id = status == 200 ? strstr(resp, "\"event_id\":\"") : NULL;
		if (id != NULL) {
			ok++;
			if (out != NULL)
				fprintf(out, "%.36s\n", id + 12);
		} else {
			fprintf(stderr,
			    "hostile good: request %ld: status %d\n", i,
			    status);
		}
		next += (double)o->interval_ms;
		if (next > now_ms())
			sleep_ms((long)(next - now_ms()));
	}
	if (out != NULL)
		fclose(out);
	qsort(lat, (size_t)o->n, sizeof(*lat), cmp_double);
	printf("requests=%ld ok=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
	    o->n, ok, lat[o->n / 2], lat[(o->n * 99 + 99) / 100 - 1],
	    lat[o->n - 1]);
	free(lat);
	return ok == o->n ? 0 : 1;
}

/* As many descriptors as the hard limit allows. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
mode_idle(const struct opts *o)
{
	struct pollfd *pfd;
	double end;
	long i, opened = 0, closed = 0;
	char c;

	raise_nofile();
	if ((pfd = calloc((size_t)o->n, sizeof(*pfd))) == NULL)
		return 1;
	/* A full backlog makes a non-blocking connect fail with EAGAIN. */
	end = now_ms() + HOSTILE_IO_MS;
	for (i = 0; i < o->n; i++) {
		while ((pfd[i].fd = connect_sock(1)) == -1 &&
		    (errno == EAGAIN || errno == EINTR) && now_ms() < end)
			sleep_ms(1);
		if (pfd[i].fd == -1)
			break;
		pfd[i].events = POLLIN;
		opened++;
	}
	printf("ready opened=%ld\n", opened);
	fflush(stdout);
	end = now_ms() + (double)o->seconds * 1000.0;
	while (now_ms() < end && closed < opened) {
		if (poll(pfd, (nfds_t)opened, 100) <= 0)
			continue;
		for (i = 0; i < opened; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (recv(pfd[i].fd, &c, 1, MSG_DONTWAIT) > 0)
				continue;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			closed++;
		}
	}
	printf("opened=%ld closed_by_server=%ld\n", opened, closed);
	for (i = 0; i < opened; i++) {
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	}
	free(pfd);
	return opened == o->n ? 0 : 1;
}

static int
mode_trickle(const struct opts *o)
{
	static const char head[] = "POST /events HTTP/1.1\r\nHost: ts\r\n"
	                           "X-Slow: ";
	char resp[4096];
	double t0 = now_ms(), end = t0 + (double)o->seconds * 1000.0;
	long sent = 0;
	int fd, status = 0;

	if ((fd = connect_sock(0)) == -1 ||
	    sock_send_all(fd, head, sizeof(head) - 1) == -1)
		return 1;
	while (now_ms() < end) {
		if (sock_wait_readable(fd, 1000)) {
			status = read_response(
			    fd, resp, sizeof(resp), now_ms() + HOSTILE_IO_MS);
			break;
		}
		if (sock_send_all(fd, "a", 1) == -1)
			break;
		sent++;
	}
	printf("status=%d after_ms=%.0f bytes_trickled=%ld\n", status,
	    now_ms() - t0, sent);
	close(fd);
	return 0;
}

static int
mode_unfilled(const struct opts *o)
{
	char req[256], resp[4096];
	double t0;
	int fd, status;

	snprintf(req, sizeof(req),
	    "POST /events HTTP/1.1\r\nHost: ts\r\nContent-Type: "
	    "application/json\r\nContent-Length: %lld\r\n\r\n{\"event\":",
	    o->bytes);
	t0 = now_ms();
	if ((fd = connect_sock(0)) == -1 || sock_send_all(fd, req, strlen(req)))
		return 1;
	status = read_response(
	    fd, resp, sizeof(resp), t0 + (double)o->seconds * 1000.0);
	printf("status=%d after_ms=%.0f\n", status, now_ms() - t0);
	close(fd);
	return 0;
}

/*
 * One request with a body of o->bytes, sent as fast as the daemon takes it
 * while watching for its answer; sending stops as soon as that comes.
 * Returns the status (0: none in time, -1: closed first); *sent and *ms
 * get the body bytes sent and the time to the answer.
 */
static int
big_once(const struct opts *o, long long *sent, double *ms)
{
	static char chunk[65536 + 16];
	char req[256], resp[4096];
	double t0 = now_ms(), end = t0 + (double)o->seconds * 1000.0;
	struct pollfd pfd;
	size_t clen, off = 0;
	ssize_t n;
	int fd, status = 0;

	if (o->chunked) {
		snprintf(req, sizeof(req),
		    "POST /events HTTP/1.1\r\nHost: ts\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n");
		memcpy(chunk, "10000\r\n", 7);
		memset(chunk + 7, 'x', 65536);
		memcpy(chunk + 7 + 65536, "\r\n", 2);
		clen = 7 + 65536 + 2;
	} else {
		snprintf(req, sizeof(req),
		    "POST /events HTTP/1.1\r\nHost: ts\r\nContent-Length: "
		    "%lld\r\n\r\n",
		    o->bytes);
		memset(chunk, 'x', 65536);
		clen = 65536;
	}
	*sent = 0;
	if ((fd = connect_sock(0)) == -1 || sock_send_all(fd, req, strlen(req)))
		return -1;
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	while (now_ms() < end) {
		pfd.fd = fd;
		pfd.events = POLLIN | (*sent < o->bytes ? POLLOUT : 0);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			(void)fcntl(fd, F_SETFL, 0);
			status = read_response(
			    fd, resp, sizeof(resp), now_ms() + HOSTILE_IO_MS);
			break;
		}
		n = send(
		    fd, chunk + off, clen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;
		*sent += n;
		off = (off + (size_t)n) % clen;
	}
	*ms = now_ms() - t0;
	close(fd);
	return status;
}

/* N big requests in a row (default 1); the slowest answer and the last. */
static int
mode_big(const struct opts *o)
{
	long long sent, most = 0;
	double ms, slowest = 0;
	long i, n = o->n < 1 ? 1 : o->n, same = 0;
	int status = 0, first = 0;

	for (i = 0; i < n; i++) {
		status = big_once(o, &sent, &ms);
		if (i == 0)
			first = status;
		same += status == first;
		if (ms > slowest)
			slowest = ms;
		if (sent > most)
			most = sent;
	}
	/* status is the one every attempt got, or -2 when they differ. */
	printf("requests=%ld status=%d after_ms=%.0f sent_bytes=%lld\n", n,
	    same == n ? first : -2, slowest, most);
	return 0;
}

/*
 * Count the complete responses at the start of buf[0, len): *used is how
 * far they go, *ok how many were 200.
 */
static long
count_responses(const char *buf, size_t len, size_t *used, long *ok)
{
	const char *p = buf, *end = buf + len, *hdr_end, *cl;
	long n = 0, clen;

	for (;;) {
		hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hdr_end == NULL)
			break;
		cl = memmem(p, (size_t)(hdr_end - p), "Content-Length: ", 16);
		clen = cl != NULL ? strtol(cl + 16, NULL, 10) : 0;
		if (hdr_end + 4 + clen > end)
			break;
		if (end - p >= 12 && memcmp(p, "HTTP/1.1 200", 12) == 0)
			(*ok)++;
		p = hdr_end + 4 + clen;
		n++;
	}
	*used = (size_t)(p - buf);
	return n;
}

static int
mode_flood(const struct opts *o)
{
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: ts\r\n\r\n";
	static char in[1 << 20];
	char *out;
	size_t inlen = 0, used, outlen, outoff = 0;
	long sent = 0, answered = 0, ok = 0, batch, i;
	double t0 = now_ms(), end = t0 + (double)o->seconds * 1000.0, secs;
	struct pollfd pfd;
	ssize_t n;
	int fd, closed = 0;

	batch = o->window;
	if ((out = malloc((size_t)batch * (sizeof(one) - 1))) == NULL)
		return 1;
	if ((fd = connect_sock(1)) == -1) {
		free(out);
		return 1;
	}
	outlen = 0;
	/* After SECONDS nothing more is sent; what was is still waited for. */
	while ((answered < o->n && now_ms() < end) ||
	    (answered < sent && now_ms() < end + HOSTILE_IO_MS)) {
		/* Top up to WINDOW unanswered, a batch of writes at a time. */
		if (outoff == outlen && sent - answered <= o->window / 2 &&
		    sent < o->n && now_ms() < end) {
			batch = o->window - (sent - answered);
			if (batch > o->n - sent)
				batch = o->n - sent;
			for (i = 0; i < batch; i++)
				memcpy(out + i * (long)(sizeof(one) - 1), one,
				    sizeof(one) - 1);
			outlen = (size_t)batch * (sizeof(one) - 1);
			outoff = 0;
			sent += batch;
		}
		pfd.fd = fd;
		pfd.events = POLLIN | (outoff < outlen ? POLLOUT : 0);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (pfd.revents & POLLOUT) {
			n = send(fd, out + outoff, outlen - outoff,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				outoff += (size_t)n;
			else if (n == -1 && errno != EAGAIN && errno != EINTR) {
				closed = 1;
				break;
			}
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv(
			    fd, in + inlen, sizeof(in) - inlen, MSG_DONTWAIT);
			if (n == 0 ||
			    (n == -1 && errno != EAGAIN && errno != EINTR)) {
				closed = 1;
				break;
			}
			if (n > 0) {
				inlen += (size_t)n;
				answered +=
				    count_responses(in, inlen, &used, &ok);
				memmove(in, in + used, inlen - used);
				inlen -= used;
			}
		}
	}
	secs = (now_ms() - t0) / 1000.0;
	printf("sent=%ld answered=%ld ok=%ld other=%ld seconds=%.1f "
	       "rate=%.0f closed_by_server=%d\n",
	    sent, answered, ok, answered - ok, secs,
	    secs > 0 ? (double)answered / secs : 0.0, closed);
	close(fd);
	free(out);
	return 0;
}

/* Non-blocking connections that poll() can watch. */
static int
connect_nb(void)
{
	int fd;
	double end = now_ms() + HOSTILE_IO_MS;

	/* A full backlog makes a non-blocking connect fail with EAGAIN. */
	while ((fd = connect_sock(1)) == -1 &&
	    (errno == EAGAIN || errno == EINTR) && now_ms() < end)
		sleep_ms(1);
	return fd;
}

static int
mode_pipeline(const struct opts *o)
{
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: ts\r\n\r\n";
	char buf[65536];
	long long sent = 0;
	double quiet, end;
	size_t i, off = 0;
	struct pollfd pfd;
	ssize_t n;
	int fd, closed = 0, ready = 0;

	for (i = 0; i + sizeof(one) - 1 <= sizeof(buf); i += sizeof(one) - 1)
		memcpy(buf + i, one, sizeof(one) - 1);
	if ((fd = connect_nb()) == -1)
		return 1;
	quiet = now_ms();
	end = now_ms() + (double)o->seconds * 1000.0;
	while (now_ms() < end) {
		if (sent < o->bytes) {
			n = send(fd, buf + off, i - off,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				sent += n;
				off = (off + (size_t)n) % i;
				quiet = now_ms();
				continue;
			}
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				closed = 1;
				break;
			}
		}
		/* Nothing went out for 200 ms: the daemon stopped reading. */
		if (!ready && (sent >= o->bytes || now_ms() - quiet > 200)) {
			printf("ready sent=%lld\n", sent);
			ready = 1;
		}
		/* Never read: only notice the daemon closing. */
		pfd.fd = fd;
		pfd.events = POLLRDHUP;
		pfd.revents = 0;
		if (ready && poll(&pfd, 1, 0) == 1 &&
		    (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			closed = 1;
			break;
		}
		sleep_ms(10);
	}
	if (!ready)
		printf("ready sent=%lld\n", sent);
	printf("sent=%lld closed_by_server=%d\n", sent, closed);
	close(fd);
	return 0;
}

/* One trickling client of mode_hog. */
struct hog {
	int fd;
	size_t off;   /* of the request sent */
	size_t inlen; /* response bytes buffered */
	long served;  /* on this connection */
	char in[1024];
};

static int
mode_hog(const struct opts *o)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: ts\r\n"
	                          "X-Pad: trickle-trickle-trickle\r\n\r\n";
	struct hog *h;
	double end = now_ms() + (double)o->seconds * 1000.0, next = now_ms();
	long i, answered = 0, ok = 0, reconnects = 0, conns = 0;
	size_t used;
	ssize_t n;

	raise_nofile();
	if ((h = calloc((size_t)o->clients, sizeof(*h))) == NULL)
		return 1;
	for (i = 0; i < o->clients; i++) {
		if ((h[i].fd = connect_nb()) == -1) {
			free(h);
			return 1;
		}
		conns++;
	}
	printf("ready clients=%ld\n", o->clients);
	while (now_ms() < end) {
		for (i = 0; i < o->clients; i++) {
			n = recv(h[i].fd, h[i].in + h[i].inlen,
			    sizeof(h[i].in) - 1 - h[i].inlen, MSG_DONTWAIT);
			if (n > 0) {
				h[i].inlen += (size_t)n;
				answered += count_responses(
				    h[i].in, h[i].inlen, &used, &ok);
				if (used > 0) {
					h[i].served++;
					memmove(h[i].in, h[i].in + used,
					    h[i].inlen - used);
					h[i].inlen -= used;
					/* The next request at once. */
					h[i].off = 0;
				}
				continue;
			}
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				/* Closed: back at once, a new connection. */
				close(h[i].fd);
				memset(&h[i], 0, sizeof(h[i]));
				if ((h[i].fd = connect_nb()) == -1)
					goto out;
				reconnects++;
				conns++;
			}
		}
		if (now_ms() < next) {
			sleep_ms(1);
			continue;
		}
		next += (double)o->interval_ms;
		/* One byte more of each unfinished request. */
		for (i = 0; i < o->clients; i++) {
			if (h[i].off < sizeof(req) - 1 &&
			    send(h[i].fd, req + h[i].off, 1,
			        MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
				h[i].off++;
		}
	}
out:
	printf("answered=%ld ok=%ld reconnects=%ld requests_per_conn=%.1f\n",
	    answered, ok, reconnects, conns > 0 ? (double)answered / conns : 0);
	for (i = 0; i < o->clients; i++) {
		if (h[i].fd > 0)
			close(h[i].fd);
	}
	free(h);
	return 0;
}

static int
mode_hold(const struct opts *o)
{
	static char chunk[65536];
	struct pollfd *pfd;
	long long *sent, total = 0;
	char hdr[256], resp[4096];
	double end = now_ms() + (double)o->seconds * 1000.0;
	long i, s503 = 0, other = 0, open_n = 0;
	ssize_t n;
	int hlen, status;

	raise_nofile();
	memset(chunk, 'x', sizeof(chunk));
	hlen = snprintf(hdr, sizeof(hdr),
	    "POST /events HTTP/1.1\r\nHost: ts\r\nContent-Type: "
	    "application/json\r\nContent-Length: %lld\r\n\r\n",
	    o->bytes);
	pfd = calloc((size_t)o->clients, sizeof(*pfd));
	sent = calloc((size_t)o->clients, sizeof(*sent));
	if (pfd == NULL || sent == NULL)
		return 1;
	for (i = 0; i < o->clients; i++) {
		if ((pfd[i].fd = connect_nb()) == -1 ||
		    sock_send_all(pfd[i].fd, hdr, (size_t)hlen) == -1)
			return 1;
		open_n++;
	}
	while (open_n > 0 && now_ms() < end) {
		for (i = 0; i < o->clients; i++) {
			pfd[i].events = 0;
			if (pfd[i].fd < 0)
				continue;
			pfd[i].events = POLLIN;
			if (sent[i] < o->bytes - 1)
				pfd[i].events |= POLLOUT;
		}
		if (poll(pfd, (nfds_t)o->clients, 100) <= 0)
			continue;
		for (i = 0; i < o->clients; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				status = read_response(pfd[i].fd, resp,
				    sizeof(resp), now_ms() + HOSTILE_IO_MS);
				if (status == 503 &&
				    strcasestr(resp, "\r\nRetry-After:") !=
				        NULL)
					s503++;
				else
					other++;
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_n--;
				continue;
			}
			n = send(pfd[i].fd, chunk,
			    (size_t)(o->bytes - 1 - sent[i] <
			                (long long)sizeof(chunk)
			            ? o->bytes - 1 - sent[i]
			            : (long long)sizeof(chunk)),
			    MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0) {
				sent[i] += n;
				total += n;
			}
		}
	}
	printf("clients=%ld status_503=%ld other=%ld no_answer=%ld "
	       "sent_bytes=%lld\n",
	    o->clients, s503, other, open_n, total);
	for (i = 0; i < o->clients; i++) {
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	}
	free(pfd);
	free(sent);
	return 0;
}

static atomic_long g_requests, g_400, g_other, g_none;

/*
 * One malformed request of a few kinds, each to be refused with 400; *kind
 * says which.
 */
static size_t
make_garbage(char *buf, size_t cap, unsigned *seed, size_t *kind)
{
	static const char *const lead[] = {
	    "",
	    "GET / HTTP/1.1\r\nHost: ts\r\n\x01\x02\x7f",
	    "POST /events HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
	    "POST /events HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n",
	    "GET /\x01\x02 HTTP/1.1\r\n\r\n",
	    "POST /events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
	    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
	};
	size_t k = (size_t)rand_r(seed) % (sizeof(lead) / sizeof(lead[0]));
	size_t len = strlen(lead[k]), n, i;

	*kind = k;
	memcpy(buf, lead[k], len);
	if (k == 0) {
		/* Random bytes that cannot begin a method (an upper-case
		 * letter) or be the blank lines allowed before one. */
		do
			buf[0] = (char)rand_r(seed);
		while ((buf[0] >= 'A' && buf[0] <= 'Z') || buf[0] == '\r' ||
		    buf[0] == '\n');
		len = 1;
	}
	n = 16 + (size_t)rand_r(seed) % 1000;
	if (n > cap - len)
		n = cap - len;
	for (i = 0; i < n; i++)
		buf[len + i] = (char)rand_r(seed);
	return len + n;
}

static void *
garbage_client(void *arg)
{
	const struct opts *o = arg;
	unsigned seed =
	    (unsigned)(uintptr_t)pthread_self() ^ (unsigned)time(NULL);
	char buf[2048], resp[4096];
	size_t len, kind;
	long i;
	int fd, status;

	for (i = 0; i < o->n; i++) {
		atomic_fetch_add(&g_requests, 1);
		if ((fd = connect_sock(0)) == -1) {
			atomic_fetch_add(&g_none, 1);
			continue;
		}
		len = make_garbage(buf, sizeof(buf), &seed, &kind);
		/* The daemon may answer and stop reading before the end. */
		(void)sock_send_all(fd, buf, len);
		status = read_response(
		    fd, resp, sizeof(resp), now_ms() + HOSTILE_IO_MS);
		if (status == 400)
			atomic_fetch_add(&g_400, 1);
		else if (status > 0)
			atomic_fetch_add(&g_other, 1);
		else
			atomic_fetch_add(&g_none, 1);
		if (status > 0 && status != 400)
			fprintf(stderr,
			    "hostile garbage: status %d for kind %zu\n", status,
			    kind);
		close(fd);
	}
	return NULL;
}

static int
mode_garbage(const struct opts *o)
{
	pthread_t *t;
	double t0 = now_ms();
	long i, started = 0;

	if ((t = calloc((size_t)o->clients, sizeof(*t))) == NULL)
		return 1;
	for (i = 0; i < o->clients; i++) {
		if (pthread_create(&t[i], NULL, garbage_client, (void *)o) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("clients=%ld requests=%ld status_400=%ld other=%ld "
	       "no_answer=%ld seconds=%.1f\n",
	    started, atomic_load(&g_requests), atomic_load(&g_400),
	    atomic_load(&g_other), atomic_load(&g_none),
	    (now_ms() - t0) / 1000.0);
	return started == o->clients ? 0 : 1;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: hostile -s SOCKET good|idle|trickle|unfilled|big|flood|"
	    "garbage|pipeline|hog|hold\n"
	    "       [-n N] [-c CLIENTS] [-t SECONDS] [-b BYTES] [-i MS] "
	    "[-w WINDOW] [-o FILE] [-k]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct opts o = {NULL, NULL, -1, 100, 30, 100LL << 20, 20, 64, NULL, 0};
	int ch;

	while ((ch = getopt(argc, argv, "s:n:c:t:b:i:w:o:k")) != -1) {
		switch (ch) {
		case 's':
			o.sock = optarg;
			break;
		case 'n':
			o.n = strtol(optarg, NULL, 10);
			break;
		case 'c':
			o.clients = strtol(optarg, NULL, 10);
			break;
		case 't':
			o.seconds = strtol(optarg, NULL, 10);
			break;
		case 'b':
			o.bytes = strtoll(optarg, NULL, 10);
			break;
		case 'i':
			o.interval_ms = strtol(optarg, NULL, 10);
			break;
		case 'w':
			o.window = strtol(optarg, NULL, 10);
			break;
		case 'o':
			o.out = optarg;
			break;
		case 'k':
			o.chunked = 1;
			break;
		default:
			return usage();
		}
	}
	if (o.sock == NULL || optind != argc - 1 ||
	    strlen(o.sock) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    o.clients < 1 || o.seconds < 1 || o.bytes < 1 ||
	    o.interval_ms < 0 || o.window < 1)
		return usage();
	o.mode = argv[optind];
	sock_path = o.sock;
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(o.mode, "good") == 0) {
		o.n = o.n < 1 ? 50 : o.n;
		return mode_good(&o);
	}
	if (strcmp(o.mode, "idle") == 0) {
		o.n = o.n < 1 ? 1000 : o.n;
		return mode_idle(&o);
	}
	if (strcmp(o.mode, "trickle") == 0)
		return mode_trickle(&o);
	if (strcmp(o.mode, "unfilled") == 0)
		return mode_unfilled(&o);
	if (strcmp(o.mode, "big") == 0)
		return mode_big(&o);
	if (strcmp(o.mode, "flood") == 0) {
		o.n = o.n < 1 ? 1000000 : o.n;
		return mode_flood(&o);
	}
	if (strcmp(o.mode, "garbage") == 0) {
		o.n = o.n < 1 ? 20 : o.n;
		return mode_garbage(&o);
	}
	if (strcmp(o.mode, "pipeline") == 0)
		return mode_pipeline(&o);
	if (strcmp(o.mode, "hog") == 0)
		return mode_hog(&o);
	if (strcmp(o.mode, "hold") == 0)
		return mode_hold(&o);
	return usage();
}
