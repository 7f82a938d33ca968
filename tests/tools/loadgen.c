/* loadgen.c: an HTTP/1.1 keep-alive load generator for the ingest API. */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bench/bench.h"

/*
 * Usage: loadgen (-u SOCKET | -t HOST:PORT) [-c conns] [-d seconds]
 *     [-n events] [-w warmup] [-b batch] [-r events/s] [-T threads]
 *     [-e event.json] [-o export [-C type] [-k spans]] [-P pid] [-l label]
 *
 * Each connection sends one request at a time and keeps the connection
 * alive. -b 0 (the default) sends single events to POST /events as
 * {"event": {...}}; -b N sends POST /events/batch with N events. Every
 * event is the file's event with a fresh UUID v4 as event_id.
 *
 * -o FILE sends FILE's bytes as they are to POST /v1/traces (an OTLP
 * export, Content-Type -C, default application/x-protobuf), counting -k
 * units (its spans) per request where the others count events; a 200 is
 * a success whatever its body.
 *
 * Closed loop (default): a connection sends its next request as soon as
 * the reply is in. Open loop (-r): requests are due at a fixed rate from
 * the start; one goes out on an idle connection when it is due, or as soon
 * as a connection frees up, and its latency counts from when it was due,
 * so that a stalled server cannot hide its queue.
 *
 * Every reply must be 200 with "success":true in its body; anything else
 * counts as an error (the first is shown on stderr). The result is one JSON
 * line on stdout: events/s, requests/s and latency percentiles over the
 * measured window (after the warm-up), and with -P the peak VmRSS/VmHWM of
 * that process. SIGINT or SIGTERM ends the run early, with a result.
 * Exits 1 when any request failed.
 */

#define RBUF_SIZE (64 * 1024)
#define DRAIN_NS (10ULL * 1000000000)
#define MEM_EVERY_NS (100ULL * 1000000)

struct conn {
	int fd;
	int busy;
	int tid;
	char *req;  /* header and body, ids rewritten per request */
	size_t len; /* of req */
	size_t off; /* bytes written of req */
	size_t *ids;
	size_t nids;
	char *rbuf;
	size_t rlen;
	uint64_t start; /* when the request was due or sent */
	struct conn *next_idle;
};

struct thread {
	int id;
	int ep;
	int tfd; /* open loop timer */
	struct conn *conns;
	int nconns;
	struct conn *idle;
	struct bench_rng rng;
	double rate; /* requests per second, open loop; 0: closed */
	uint64_t next_k;
	uint64_t sent;
	uint64_t max_requests; /* 0: no bound */
	uint64_t done_ok;      /* counted in the window */
	uint64_t errors;
	uint64_t reconnects;
	uint64_t last_done;
	struct bench_hist hist;
	pthread_t th;
};

static volatile sig_atomic_t stop_now;

static struct {
	const char *unix_path;
	struct sockaddr_storage tcp;
	socklen_t tcp_len;
	int conns;
	int threads;
	double seconds;
	double warmup;
	uint64_t events;
	int batch;
	double rate;
	const char *event_file;
	const char *otlp_file; /* -o: a raw OTLP export */
	const char *otlp_type; /* -C */
	int otlp_units;        /* -k: spans per export */
	const char *label;
	int pid;
	struct bench_event ev;
	char *body_tmpl;
	size_t body_len;
	size_t *body_ids;
	size_t body_nids;
	uint64_t t0, t_warm, t_end;
	int err_shown;
	pthread_mutex_t err_lock;
} g = {
    .conns = 64,
    .threads = 1,
    .seconds = 10,
    .event_file = "tests/data/reference_event.json",
    .otlp_type = "application/x-protobuf",
    .otlp_units = 1,
    .label = "",
    .err_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen (-u socket | -t host:port) [-c conns] "
	    "[-d seconds]\n"
	    "               [-n events] [-w warmup] [-b batch] "
	    "[-r events/s] [-T threads]\n"
	    "               [-e event.json] [-o export [-C type] [-k spans]]\n"
	    "               [-P pid] [-l label]\n");
	exit(2);
}

static int
parse_tcp(const char *hostport)
{
	struct addrinfo hints, *ai;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	size_t hl;

	if (colon == NULL || (hl = (size_t)(colon - hostport)) >= sizeof(host))
		return -1;
	memcpy(host, hostport, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -1;
	memcpy(&g.tcp, ai->ai_addr, ai->ai_addrlen);
	g.tcp_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* -o: the export's bytes as the body, no ids to rewrite. */
static int
build_otlp_body(void)
{
	FILE *f = fopen(g.otlp_file, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1) {
		perror(g.otlp_file);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	g.body_len = (size_t)n;
	g.body_tmpl = malloc(g.body_len + 1);
	if (g.body_tmpl == NULL ||
	    fread(g.body_tmpl, 1, g.body_len, f) != g.body_len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	g.body_nids = 0;
	return 0;
}

/* The request body with every event_id's offset, built once. */
static int
build_body(void)
{
	const struct bench_event *ev = &g.ev;
	size_t n = g.batch > 0 ? (size_t)g.batch : 1, i, o;
	const char *open = g.batch > 0 ? "{\"events\":[" : "{\"event\":";
	const char *close = g.batch > 0 ? "]}" : "}";

	g.body_len = strlen(open) + n * ev->len + (n - 1) + strlen(close);
	g.body_tmpl = malloc(g.body_len + 1);
	g.body_ids = calloc(n, sizeof(*g.body_ids));
	if (g.body_tmpl == NULL || g.body_ids == NULL)
		return -1;
	o = strlen(open);
	memcpy(g.body_tmpl, open, o);
	for (i = 0; i < n; i++) {
		if (i > 0)
			g.body_tmpl[o++] = ',';
		memcpy(g.body_tmpl + o, ev->text, ev->len);
		g.body_ids[i] = o + ev->id_off;
		o += ev->len;
	}
	memcpy(g.body_tmpl + o, close, strlen(close));
	g.body_nids = n;
	return 0;
}

static int
conn_init(struct conn *c)
{
	char hdr[256];
	int hl;
	size_t i;

	hl = snprintf(hdr, sizeof(hdr),
	    "POST %s HTTP/1.1\r\nHost: ts\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    g.otlp_file != NULL ? "/v1/traces"
	        : g.batch > 0   ? "/events/batch"
	                        : "/events",
	    g.otlp_file != NULL ? g.otlp_type : "application/json", g.body_len);
	c->len = (size_t)hl + g.body_len;
	c->req = malloc(c->len);
	c->ids = calloc(g.body_nids + 1, sizeof(*c->ids));
	c->rbuf = malloc(RBUF_SIZE);
	if (c->req == NULL || c->ids == NULL || c->rbuf == NULL)
		return -1;
	memcpy(c->req, hdr, (size_t)hl);
	memcpy(c->req + hl, g.body_tmpl, g.body_len);
	for (i = 0; i < g.body_nids; i++)
		c->ids[i] = (size_t)hl + g.body_ids[i];
	c->nids = g.body_nids;
	c->fd = -1;
	return 0;
}

static int
conn_connect(struct thread *t, struct conn *c)
{
	struct sockaddr_un sun;
	struct epoll_event ee;
	int fd, one = 1, rc;

	if (g.unix_path != NULL) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g.unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -1;
		rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	} else {
		fd = socket(g.tcp.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		rc = connect(fd, (struct sockaddr *)&g.tcp, g.tcp_len);
	}
	if (rc == -1) {
		perror("loadgen: connect");
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = c;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, fd, &ee) == -1) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->rlen = 0;
	c->busy = 0;
	return 0;
}

static void
conn_want_write(struct thread *t, struct conn *c, int on)
{
	struct epoll_event ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN | (on ? EPOLLOUT : 0);
	ee.data.ptr = c;
	epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ee);
}

static void
conn_flush(struct thread *t, struct conn *c)
{
	ssize_t n;

	while (c->off < c->len) {
		n = send(c->fd, c->req + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				conn_want_write(t, c, 1);
				return;
			}
			return; /* the read side sees the error */
		}
		c->off += (size_t)n;
	}
}

/* Send the next request on c, due at start. */
static void
conn_send(struct thread *t, struct conn *c, uint64_t start)
{
	size_t i;

	for (i = 0; i < c->nids; i++)
		bench_uuid(&t->rng, c->req + c->ids[i]);
	c->busy = 1;
	c->off = 0;
	c->start = start;
	t->sent++;
	conn_flush(t, c);
}

static uint64_t
end_ns(void)
{
	return __atomic_load_n(&g.t_end, __ATOMIC_RELAXED);
}

static int
sending_over(struct thread *t, uint64_t now)
{
	if (t->max_requests != 0 && t->sent >= t->max_requests)
		return 1;
	return now >= end_ns();
}

static void
show_error(const char *what, const char *data, size_t len)
{
	pthread_mutex_lock(&g.err_lock);
	if (!g.err_shown) {
		g.err_shown = 1;
		fprintf(stderr, "loadgen: %s: %.*s\n", what,
		    (int)(len < 400 ? len : 400), data);
	}
	pthread_mutex_unlock(&g.err_lock);
}

/*
 * A complete reply is in rbuf: returns its length, 0 when more is needed,
 * -1 when it cannot be parsed. *ok says whether it was a success, *closing
 * whether the server closes after it.
 */
static long
reply_parse(struct conn *c, int *ok, int *closing)
{
	char *end, *p, *line;
	size_t hlen, clen = 0;
	int status;

	c->rbuf[c->rlen] = '\0';
	end = strstr(c->rbuf, "\r\n\r\n");
	if (end == NULL)
		return c->rlen >= RBUF_SIZE - 1 ? -1 : 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	if (sscanf(c->rbuf, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	*closing = 0;
	for (line = strstr(c->rbuf, "\r\n"); line != NULL && line < end;
	     line = strstr(line + 2, "\r\n")) {
		p = line + 2;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			clen = strtoul(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0 &&
		    strncasecmp(p + 11 + strspn(p + 11, " "), "close", 5) == 0)
			*closing = 1;
	}
	if (hlen + clen >= RBUF_SIZE)
		return -1;
	if (c->rlen < hlen + clen)
		return 0;
	*ok = status == 200 &&
	    (g.otlp_file != NULL ||
	        memmem(c->rbuf + hlen, clen, "\"success\":true", 14) != NULL ||
	        memmem(c->rbuf + hlen, clen, "\"success\": true", 15) != NULL);
	if (!*ok)
		show_error("request failed", c->rbuf, hlen + clen);
	return (long)(hlen + clen);
}

static void conn_idle(struct thread *t, struct conn *c, uint64_t now);

static void
conn_reset(struct thread *t, struct conn *c, uint64_t now)
{
	if (c->busy) {
		t->errors++;
		show_error("connection lost", "", 0);
	}
	epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->busy = 0;
	if (sending_over(t, now))
		return;
	t->reconnects++;
	if (conn_connect(t, c) == 0)
		conn_idle(t, c, now);
}

/* Open loop: when is request k due. */
static uint64_t
due_ns(struct thread *t, uint64_t k)
{
	return g.t0 + (uint64_t)((double)k * 1e9 / t->rate);
}

static void
arm_timer(struct thread *t)
{
	struct itimerspec its;
	uint64_t at = due_ns(t, t->next_k);

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(at / 1000000000ULL);
	its.it_value.tv_nsec = (long)(at % 1000000000ULL);
	timerfd_settime(t->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* c has nothing in flight: give it the next request, or park it. */
static void
conn_idle(struct thread *t, struct conn *c, uint64_t now)
{
	if (sending_over(t, now))
		return;
	if (t->rate == 0) {
		conn_send(t, c, now);
		return;
	}
	if (due_ns(t, t->next_k) <= now) {
		conn_send(t, c, due_ns(t, t->next_k));
		t->next_k++;
		return;
	}
	c->next_idle = t->idle;
	t->idle = c;
	arm_timer(t);
}

static void
on_timer(struct thread *t, uint64_t now)
{
	uint64_t exp;
	struct conn *c;

	while (read(t->tfd, &exp, sizeof(exp)) == -1 && errno == EINTR)
		;
	while (t->idle != NULL && due_ns(t, t->next_k) <= now &&
	    !sending_over(t, now)) {
		c = t->idle;
		t->idle = c->next_idle;
		conn_send(t, c, due_ns(t, t->next_k));
		t->next_k++;
	}
	if (t->idle != NULL && !sending_over(t, now))
		arm_timer(t);
}

static void
on_readable(struct thread *t, struct conn *c)
{
	ssize_t n;
	long used;
	uint64_t now;
	int ok = 0, closing = 0;

	for (;;) {
		n = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - 1 - c->rlen, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_reset(t, c, bench_now_ns());
			return;
		}
		c->rlen += (size_t)n;
		used = reply_parse(c, &ok, &closing);
		if (used == 0)
			continue;
		now = bench_now_ns();
		if (used < 0 || !c->busy) {
			show_error("unparseable reply", c->rbuf, c->rlen);
			t->errors++;
			c->busy = 0;
			conn_reset(t, c, now);
			return;
		}
		c->busy = 0;
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
		if (!ok) {
			t->errors++;
		} else if (now >= g.t_warm &&
		    (now <= g.t_end || t->max_requests != 0)) {
			t->done_ok++;
			bench_hist_add(&t->hist, now - c->start);
			t->last_done = now;
		}
		if (closing) {
			conn_reset(t, c, now);
			return;
		}
		conn_idle(t, c, now);
		return;
	}
}

static int
busy_conns(struct thread *t)
{
	int i, n = 0;

	for (i = 0; i < t->nconns; i++)
		n += t->conns[i].busy;
	return n;
}

static void *
thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[64];
	uint64_t now;
	int i, n;

	now = bench_now_ns();
	for (i = 0; i < t->nconns; i++)
		conn_idle(t, &t->conns[i], now);
	for (;;) {
		now = bench_now_ns();
		if (sending_over(t, now) &&
		    (busy_conns(t) == 0 || now > end_ns() + DRAIN_NS))
			break;
		n = epoll_wait(t->ep, evs, 64, 100);
		now = bench_now_ns();
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL) {
				on_timer(t, now);
				continue;
			}
			if (c->fd == -1)
				continue;
			if (evs[i].events & EPOLLOUT) {
				conn_flush(t, c);
				if (c->off == c->len)
					conn_want_write(t, c, 0);
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(t, c);
		}
	}
	t->errors += (uint64_t)busy_conns(t);
	return NULL;
}

static int
thread_init(struct thread *t, int id, int nconns)
{
	struct epoll_event ee;
	int i;

	t->id = id;
	t->nconns = nconns;
	t->conns = calloc((size_t)nconns, sizeof(*t->conns));
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->conns == NULL || t->ep == -1 || t->tfd == -1)
		return -1;
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = NULL;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->tfd, &ee) == -1)
		return -1;
	bench_rng_seed(&t->rng,
	    bench_now_ns() ^ ((uint64_t)getpid() << 32) ^ ((uint64_t)id << 48));
	for (i = 0; i < nconns; i++) {
		if (conn_init(&t->conns[i]) == -1 ||
		    conn_connect(t, &t->conns[i]) == -1)
			return -1;
	}
	return 0;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

/* Sample the watched process's memory, and end the run on a signal. */
static void
watch(uint64_t now, uint64_t *next_mem, struct bench_mem *peak)
{
	struct bench_mem mem;

	if (stop_now && now < end_ns()) {
		__atomic_store_n(&g.t_end, now, __ATOMIC_RELAXED);
		if (now < g.t_warm)
			g.t_warm = now;
	}
	if (g.pid != 0 && now >= *next_mem &&
	    bench_mem_read(g.pid, &mem) == 0) {
		if (mem.rss_kb > peak->rss_kb)
			*peak = mem;
		*next_mem = now + MEM_EVERY_NS;
	}
}

static double
opt_num(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || v < 0)
		usage();
	return v;
}

int
main(int argc, char **argv)
{
	struct thread *ts;
	struct bench_hist *all;
	struct bench_mem mem, peak;
	uint64_t reqs = 0, errs = 0, recon = 0, last = 0, next_mem;
	double secs, per_req;
	int ch, i;

	while (
	    (ch = getopt(argc, argv, "u:t:c:d:n:w:b:r:T:e:o:C:k:P:l:")) != -1) {
		switch (ch) {
		case 'u':
			g.unix_path = optarg;
			break;
		case 't':
			if (parse_tcp(optarg) == -1) {
				fprintf(stderr, "loadgen: bad address %s\n",
				    optarg);
				return 2;
			}
			break;
		case 'c':
			g.conns = (int)opt_num(optarg);
			break;
		case 'd':
			g.seconds = opt_num(optarg);
			break;
		case 'n':
			g.events = (uint64_t)opt_num(optarg);
			break;
		case 'w':
			g.warmup = opt_num(optarg);
			break;
		case 'b':
			g.batch = (int)opt_num(optarg);
			break;
		case 'r':
			g.rate = opt_num(optarg);
			break;
		case 'T':
			g.threads = (int)opt_num(optarg);
			break;
		case 'e':
			g.event_file = optarg;
			break;
		case 'o':
			g.otlp_file = optarg;
			break;
		case 'C':
			g.otlp_type = optarg;
			break;
		case 'k':
			g.otlp_units = (int)opt_num(optarg);
			break;
		case 'P':
			g.pid = (int)opt_num(optarg);
			break;
		case 'l':
			g.label = optarg;
			break;
		default:
			usage();
		}
	}
	if ((g.unix_path == NULL) == (g.tcp_len == 0) || g.conns < 1 ||
	    g.threads < 1 || g.threads > g.conns || optind != argc)
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (g.otlp_file != NULL ? build_otlp_body() == -1
	                        : bench_event_load(g.event_file, &g.ev) == -1 ||
	            build_body() == -1)
		return 2;
	per_req = g.otlp_file != NULL ? g.otlp_units
	    : g.batch > 0             ? g.batch
	                              : 1;
	ts = calloc((size_t)g.threads, sizeof(*ts));
	all = calloc(1, sizeof(*all));
	if (ts == NULL || all == NULL)
		return 2;
	for (i = 0; i < g.threads; i++) {
		int nc = g.conns / g.threads + (i < g.conns % g.threads);

		if (thread_init(&ts[i], i, nc) == -1) {
			fprintf(stderr, "loadgen: cannot set up connections\n");
			return 2;
		}
		ts[i].rate = g.rate / per_req / g.threads;
		if (g.events != 0)
			ts[i].max_requests =
			    (uint64_t)((double)g.events / per_req / g.threads +
			        0.999);
	}
	g.t0 = bench_now_ns();
	g.t_warm = g.events != 0 ? g.t0 : g.t0 + (uint64_t)(g.warmup * 1e9);
	g.t_end = g.events != 0 ? UINT64_MAX - DRAIN_NS
	                        : g.t_warm + (uint64_t)(g.seconds * 1e9);
	for (i = 0; i < g.threads; i++)
		pthread_create(&ts[i].th, NULL, thread_main, &ts[i]);
	memset(&peak, 0, sizeof(peak));
	next_mem = g.t0;
	for (i = 0; i < g.threads; i++) {
		while (pthread_tryjoin_np(ts[i].th, NULL) != 0) {
			watch(bench_now_ns(), &next_mem, &peak);
			usleep(20000);
		}
		reqs += ts[i].done_ok;
		errs += ts[i].errors;
		recon += ts[i].reconnects;
		if (ts[i].last_done > last)
			last = ts[i].last_done;
		bench_hist_merge(all, &ts[i].hist);
	}
	if (g.pid != 0 && bench_mem_read(g.pid, &mem) == 0 &&
	    mem.hwm_kb > peak.hwm_kb)
		peak.hwm_kb = mem.hwm_kb;
	secs = g.events != 0 ? (double)(last - g.t0) / 1e9
	                     : (double)(g.t_end - g.t_warm) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	printf("{\"label\":\"%s\",\"transport\":\"%s\",\"mode\":\"%s\","
	       "\"conns\":%d,\"threads\":%d,\"batch\":%d,\"event_bytes\":%zu,"
	       "\"offered_eps\":%.0f,\"seconds\":%.3f,\"requests\":%llu,"
	       "\"events\":%llu,\"errors\":%llu,\"reconnects\":%llu,"
	       "\"rps\":%.0f,\"eps\":%.0f,\"lat_us\":{\"p50\":%.1f,"
	       "\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}",
	    g.label, g.unix_path != NULL ? "unix" : "tcp",
	    g.rate > 0 ? "open" : "closed", g.conns, g.threads, g.batch,
	    g.ev.len, g.rate, secs, (unsigned long long)reqs,
	    (unsigned long long)(reqs * (uint64_t)per_req),
	    (unsigned long long)errs, (unsigned long long)recon,
	    (double)reqs / secs, (double)reqs * per_req / secs,
	    (double)bench_hist_quantile(all, 0.50) / 1e3,
	    (double)bench_hist_quantile(all, 0.99) / 1e3,
	    (double)bench_hist_quantile(all, 0.999) / 1e3,
	    (double)all->max / 1e3);
	if (g.pid != 0)
		printf(",\"mem_kb\":{\"rss\":%llu,\"hwm\":%llu,\"anon\":%llu,"
		       "\"file\":%llu}",
		    (unsigned long long)peak.rss_kb,
		    (unsigned long long)peak.hwm_kb,
		    (unsigned long long)peak.anon_kb,
		    (unsigned long long)peak.file_kb);
	printf("}\n");
	return errs != 0 ? 1 : 0;
}
