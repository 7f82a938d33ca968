/* loadgen.c: the HTTP/1.1 keep-alive load generator for the ingest API: rates
 * and latencies for the benchmarks, acknowledged ids for the crash loop. */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

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

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "tests/support/bench.h"
#include "tests/support/sock.h"

/*
 * Usage: loadgen (-u SOCKET | -t HOST:PORT) [-c conns] [-d seconds]
 *     [-n events] [-w warmup] [-b batch] [-m] [-r events/s] [-T threads]
 *     [-e event.json] [-o export [-C type] [-k spans]] [-P pid] [-l label]
 *     [-a]
 *
 * Each connection sends one request at a time and keeps the connection
 * alive. -b 0 (the default) sends single events to POST /events as
 * {"event": {...}}; -b N sends POST /events/batch with N events; with -m
 * (mixed) every fourth request is such a batch and the others are single
 * events. Every event is the file's event (-e, which must hold an
 * "event_id" with a UUID) with a fresh UUID v4 as event_id.
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
 * Two modes say what comes out:
 *
 * Rates (the default, for bench/run.sh): every reply must be 200 with
 * "success":true in its body; anything else counts as an error (the first
 * is shown on stderr). The result is one JSON line on stdout: events/s,
 * requests/s and latency percentiles over the measured window (after the
 * warm-up), and with -P the peak VmRSS/VmHWM of that process. Exits 1 when
 * any request failed.
 *
 * Acknowledged ids (-a, for the crash loop): the daemon may be killed and
 * restarted under the load. A connection that cannot connect, or loses
 * its connection, tries again every 20 ms until the time is up, and the
 * run starts even when nothing answers yet. Every event_id the daemon
 * acknowledged (a 200 whose body says success and names as many ids as
 * the request sent events) is printed on stdout, one per line, as soon as
 * its answer arrives. At the end a summary goes to stderr:
 *   loadgen: requests=N acked=N s200=N s503=N s4xx=N s5xx=N
 *   conn_errors=N bad_answers=N
 * where s5xx counts 5xx answers other than 503, conn_errors requests whose
 * connection broke before their answer, and bad_answers 200s whose body
 * was not the documented success. Exits 0 whatever the daemon answered.
 *
 * SIGINT or SIGTERM ends the run early; a request in flight is still
 * waited for (at most DRAIN_NS), so that its answer is not lost. Exit 2 is
 * a usage error.
 */

#define RBUF_SIZE (64 * 1024)
#define DRAIN_NS (10ULL * 1000000000)
#define MEM_EVERY_NS (100ULL * 1000000)
#define RETRY_NS (20ULL * 1000000) /* -a: between connection attempts */

/* One request, ready to send: the header and the body, ids at ids[]. */
struct req {
	char *text;
	size_t len;
	size_t *ids;  /* offsets of the event_ids rewritten per request */
	size_t nids;  /* events the request carries */
	size_t units; /* what it counts as: events, or -k spans */
	int batch;    /* POST /events/batch: the answer names event_ids */
};

struct conn {
	int fd;
	int busy;
	struct req req[2]; /* [0] the usual request, [1] -m's batch */
	struct req *cur;   /* what is in flight */
	size_t off;        /* bytes written of cur */
	char *rbuf;
	size_t rlen;
	uint64_t start;    /* when the request was due or sent */
	uint64_t retry_at; /* -a: fd is -1 until then */
	int parked;        /* on the thread's idle list */
	struct conn *next_idle;
};

/* -a's tally of answers. */
struct counts {
	uint64_t acked;
	uint64_t s200;
	uint64_t s503;
	uint64_t s4xx;
	uint64_t s5xx;
	uint64_t conn_errors;
	uint64_t bad_answers;
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
	uint64_t units_ok;     /* events or spans of those */
	uint64_t errors;
	uint64_t reconnects;
	uint64_t last_done;
	struct counts n;
	struct buf acked; /* -a: ids of one answer, printed at once */
	struct bench_hist hist;
	pthread_t th;
};

/* A request template: the body with every event_id's offset, built once. */
struct tmpl {
	char *body;
	size_t len;
	size_t *ids;
	size_t nids;
	size_t units;
	int batch;
	const char *path;
	const char *ctype;
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
	int mixed; /* -m: every fourth request a batch */
	int acks;  /* -a */
	double rate;
	const char *event_file;
	const char *otlp_file; /* -o: a raw OTLP export */
	const char *otlp_type; /* -C */
	int otlp_units;        /* -k: spans per export */
	const char *label;
	int pid;
	struct bench_event ev;
	struct tmpl tmpl[2]; /* [1] only with -m */
	uint64_t t0, t_warm, t_end;
	int err_shown;
	pthread_mutex_t err_lock;
	pthread_mutex_t out_lock;
} g = {
    .conns = 64,
    .threads = 1,
    .seconds = 10,
    .event_file = "tests/data/reference_event.json",
    .otlp_type = "application/x-protobuf",
    .otlp_units = 1,
    .label = "",
    .err_lock = PTHREAD_MUTEX_INITIALIZER,
    .out_lock = PTHREAD_MUTEX_INITIALIZER,
};

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen (-u socket | -t host:port) [-c conns] "
	    "[-d seconds]\n"
	    "               [-n events] [-w warmup] [-b batch] [-m] "
	    "[-r events/s] [-T threads]\n"
	    "               [-e event.json] [-o export [-C type] [-k spans]]\n"
	    "               [-P pid] [-l label] [-a]\n");
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
build_otlp_body(struct tmpl *t)
{
	struct bench_event raw;

	if (bench_raw_load(g.otlp_file, &raw) == -1)
		return -1;
	t->body = raw.text;
	t->len = raw.len;
	t->nids = 0;
	t->units = (size_t)g.otlp_units;
	t->path = "/v1/traces";
	t->ctype = g.otlp_type;
	return 0;
}

/* The body of batch events (0: one event, single) with its ids' offsets. */
static int
build_body(struct tmpl *t, int batch)
{
	const struct bench_event *ev = &g.ev;
	size_t n = batch > 0 ? (size_t)batch : 1, i, o;
	const char *open = batch > 0 ? "{\"events\":[" : "{\"event\":";
	const char *close = batch > 0 ? "]}" : "}";

	t->len = strlen(open) + n * ev->len + (n - 1) + strlen(close);
	t->body = malloc(t->len + 1);
	t->ids = calloc(n, sizeof(*t->ids));
	if (t->body == NULL || t->ids == NULL)
		return -1;
	o = strlen(open);
	memcpy(t->body, open, o);
	for (i = 0; i < n; i++) {
		if (i > 0)
			t->body[o++] = ',';
		memcpy(t->body + o, ev->text, ev->len);
		t->ids[i] = o + ev->id_off;
		o += ev->len;
	}
	memcpy(t->body + o, close, strlen(close));
	t->nids = n;
	t->units = n;
	t->batch = batch > 0;
	t->path = batch > 0 ? "/events/batch" : "/events";
	t->ctype = "application/json";
	return 0;
}

/* A connection's own copy of template t, header in front. */
static int
req_init(struct req *r, const struct tmpl *t)
{
	char hdr[256];
	int hl;
	size_t i;

	hl = snprintf(hdr, sizeof(hdr),
	    "POST %s HTTP/1.1\r\nHost: ts\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n\r\n",
	    t->path, t->ctype, t->len);
	r->len = (size_t)hl + t->len;
	r->text = malloc(r->len);
	r->ids = calloc(t->nids + 1, sizeof(*r->ids));
	if (r->text == NULL || r->ids == NULL)
		return -1;
	memcpy(r->text, hdr, (size_t)hl);
	memcpy(r->text + hl, t->body, t->len);
	for (i = 0; i < t->nids; i++)
		r->ids[i] = (size_t)hl + t->ids[i];
	r->nids = t->nids;
	r->units = t->units;
	r->batch = t->batch;
	return 0;
}

static int
conn_init(struct conn *c)
{
	if (req_init(&c->req[0], &g.tmpl[0]) == -1 ||
	    (g.mixed && req_init(&c->req[1], &g.tmpl[1]) == -1))
		return -1;
	c->rbuf = malloc(RBUF_SIZE);
	if (c->rbuf == NULL)
		return -1;
	c->fd = -1;
	return 0;
}

/*
 * Connect c. 0, or -1 with c->fd -1: -a tries again at c->retry_at, the
 * rates mode gives the connection up.
 */
static int
conn_connect(struct thread *t, struct conn *c, uint64_t now)
{
	struct epoll_event ee;
	int fd, one = 1, rc;

	c->retry_at = now + RETRY_NS;
	if (g.unix_path != NULL) {
		fd = sock_unix_connect(g.unix_path, 0, 0);
		rc = fd == -1 ? -1 : 0;
	} else {
		fd = socket(g.tcp.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			return -1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		rc = connect(fd, (struct sockaddr *)&g.tcp, g.tcp_len);
	}
	if (rc == -1) {
		if (!g.acks)
			perror("loadgen: connect");
		if (fd != -1)
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
	struct req *r = c->cur;
	ssize_t n;

	while (c->off < r->len) {
		n = send(
		    c->fd, r->text + c->off, r->len - c->off, MSG_NOSIGNAL);
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
	struct req *r = &c->req[g.mixed && t->sent % 4 == 3];
	size_t i;

	for (i = 0; i < r->nids; i++)
		bench_uuid(&t->rng, r->text + r->ids[i]);
	c->cur = r;
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

/* The rates mode shows its first failure; -a shows every odd answer. */
static void
show_error(const char *what, const char *data, size_t len)
{
	pthread_mutex_lock(&g.err_lock);
	if (!g.err_shown || g.acks) {
		g.err_shown = 1;
		fprintf(stderr, "loadgen: %s: %.*s\n", what,
		    (int)(len < 400 ? len : 400), data);
	}
	pthread_mutex_unlock(&g.err_lock);
}

/*
 * A complete reply is in rbuf: returns its length, 0 when more is needed,
 * -1 when it cannot be parsed. *status is its status, *body_off where its
 * body starts (body_len bytes), *closing whether the server closes after
 * it.
 */
static long
reply_parse(struct conn *c, int *status, size_t *body_off, size_t *body_len,
    int *closing)
{
	char *end, *p, *line;
	size_t hlen, clen = 0;

	c->rbuf[c->rlen] = '\0';
	end = strstr(c->rbuf, "\r\n\r\n");
	if (end == NULL)
		return c->rlen >= RBUF_SIZE - 1 ? -1 : 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	if (sscanf(c->rbuf, "HTTP/1.%*d %d", status) != 1)
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
	*body_off = hlen;
	*body_len = clen;
	return (long)(hlen + clen);
}

/* The rates mode's verdict: a 200 saying success (any 200 for OTLP). */
static int
reply_ok(int status, const char *body, size_t len)
{
	return status == 200 &&
	    (g.otlp_file != NULL ||
	        memmem(body, len, "\"success\":true", 14) != NULL ||
	        memmem(body, len, "\"success\": true", 15) != NULL);
}

/*
 * -a: print the ids of a success answer to r. Returns how many, or -1 when
 * the body is not the documented success for r's events.
 */
static int
print_acked(struct thread *t, const struct req *r, const char *body, size_t len)
{
	cJSON *o = cJSON_ParseWithLength(body, len), *ids, *id;
	int n = -1;

	buf_reset(&t->acked);
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "success"))) {
		n = -1;
	} else if (r->batch) {
		ids = cJSON_GetObjectItemCaseSensitive(o, "event_ids");
		if (cJSON_IsArray(ids) &&
		    (size_t)cJSON_GetArraySize(ids) == r->nids) {
			n = 0;
			cJSON_ArrayForEach(id, ids) {
				if (!cJSON_IsString(id)) {
					n = -1;
					break;
				}
				buf_printf(&t->acked, "%s\n", id->valuestring);
				n++;
			}
		}
	} else {
		id = cJSON_GetObjectItemCaseSensitive(o, "event_id");
		if (cJSON_IsString(id)) {
			buf_printf(&t->acked, "%s\n", id->valuestring);
			n = 1;
		}
	}
	cJSON_Delete(o);
	if (n > 0 && buf_failed(&t->acked))
		n = -1;
	if (n > 0) {
		pthread_mutex_lock(&g.out_lock);
		fwrite(t->acked.data, 1, t->acked.len, stdout);
		fflush(stdout);
		pthread_mutex_unlock(&g.out_lock);
	}
	return n;
}

/* -a: count one answer by its status, print what it acknowledged. */
static void
tally(
    struct thread *t, struct conn *c, int status, const char *body, size_t len)
{
	int n;

	if (status == 200) {
		t->n.s200++;
		n = print_acked(t, c->cur, body, len);
		if (n < 0) {
			t->n.bad_answers++;
			show_error("200 without the ids", body, len);
		} else {
			t->n.acked += (uint64_t)n;
		}
	} else if (status == 503) {
		t->n.s503++;
	} else if (status >= 400 && status < 500) {
		t->n.s4xx++;
		show_error("4xx", body, len);
	} else {
		t->n.s5xx++;
		show_error("5xx", body, len);
	}
}

static void conn_idle(struct thread *t, struct conn *c, uint64_t now);

/* Take c off the idle list: its connection is gone. */
static void
idle_remove(struct thread *t, struct conn *c)
{
	struct conn **pp;

	for (pp = &t->idle; *pp != NULL; pp = &(*pp)->next_idle) {
		if (*pp == c) {
			*pp = c->next_idle;
			break;
		}
	}
	c->parked = 0;
}

static void
conn_reset(struct thread *t, struct conn *c, uint64_t now)
{
	if (c->parked)
		idle_remove(t, c);
	if (c->busy) {
		t->errors++;
		t->n.conn_errors++;
		if (!g.acks)
			show_error("connection lost", "", 0);
	}
	epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->busy = 0;
	if (sending_over(t, now))
		return;
	t->reconnects++;
	if (conn_connect(t, c, now) == 0)
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
	c->parked = 1;
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
		c->parked = 0;
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
	size_t boff = 0, blen = 0;
	int status = 0, ok, closing = 0;

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
		used = reply_parse(c, &status, &boff, &blen, &closing);
		if (used == 0)
			continue;
		now = bench_now_ns();
		if (used < 0 || !c->busy) {
			show_error("unparseable reply", c->rbuf, c->rlen);
			t->errors++;
			c->busy = 0;
			t->n.bad_answers++;
			conn_reset(t, c, now);
			return;
		}
		c->busy = 0;
		if (g.acks) {
			tally(t, c, status, c->rbuf + boff, blen);
		} else if (!(ok = reply_ok(status, c->rbuf + boff, blen))) {
			show_error("request failed", c->rbuf, (size_t)used);
			t->errors++;
		} else if (now >= g.t_warm &&
		    (now <= g.t_end || t->max_requests != 0)) {
			t->done_ok++;
			t->units_ok += c->cur->units;
			bench_hist_add(&t->hist, now - c->start);
			t->last_done = now;
		}
		memmove(c->rbuf, c->rbuf + used, c->rlen - (size_t)used);
		c->rlen -= (size_t)used;
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

/* -a: connections that lost their daemon try again; 1 if any waits. */
static int
retry_down(struct thread *t, uint64_t now)
{
	int i, waiting = 0;

	if (!g.acks)
		return 0;
	for (i = 0; i < t->nconns; i++) {
		struct conn *c = &t->conns[i];

		if (c->fd != -1 || sending_over(t, now))
			continue;
		if (now >= c->retry_at && conn_connect(t, c, now) == 0)
			conn_idle(t, c, now);
		else
			waiting = 1;
	}
	return waiting;
}

static void *
thread_main(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[64];
	uint64_t now;
	int i, n, waiting;

	now = bench_now_ns();
	for (i = 0; i < t->nconns; i++) {
		if (t->conns[i].fd != -1)
			conn_idle(t, &t->conns[i], now);
	}
	for (;;) {
		now = bench_now_ns();
		if (sending_over(t, now) &&
		    (busy_conns(t) == 0 || now > end_ns() + DRAIN_NS))
			break;
		waiting = retry_down(t, now);
		n = epoll_wait(
		    t->ep, evs, 64, waiting ? (int)(RETRY_NS / 1000000) : 100);
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
				if (c->off == c->cur->len)
					conn_want_write(t, c, 0);
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(t, c);
		}
	}
	n = busy_conns(t);
	t->errors += (uint64_t)n;
	t->n.conn_errors += (uint64_t)n;
	return NULL;
}

static int
thread_init(struct thread *t, int id, int nconns)
{
	struct epoll_event ee;
	uint64_t now = bench_now_ns();
	int i;

	t->id = id;
	t->nconns = nconns;
	t->conns = calloc((size_t)nconns, sizeof(*t->conns));
	t->ep = epoll_create1(EPOLL_CLOEXEC);
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	buf_init(&t->acked);
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
		if (conn_init(&t->conns[i]) == -1)
			return -1;
		/* -a starts even when nothing answers yet. */
		if (conn_connect(t, &t->conns[i], now) == -1 && !g.acks)
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

/* The rates mode's result line. */
static void
print_rates(struct thread *ts, struct bench_mem *peak)
{
	struct bench_hist *all = calloc(1, sizeof(*all));
	struct bench_mem mem;
	uint64_t reqs = 0, units = 0, errs = 0, recon = 0, last = 0;
	double secs;
	int i;

	if (all == NULL)
		exit(2);
	for (i = 0; i < g.threads; i++) {
		reqs += ts[i].done_ok;
		units += ts[i].units_ok;
		errs += ts[i].errors;
		recon += ts[i].reconnects;
		if (ts[i].last_done > last)
			last = ts[i].last_done;
		bench_hist_merge(all, &ts[i].hist);
	}
	if (g.pid != 0 && bench_mem_read(g.pid, &mem) == 0 &&
	    mem.hwm_kb > peak->hwm_kb)
		peak->hwm_kb = mem.hwm_kb;
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
	    (unsigned long long)units, (unsigned long long)errs,
	    (unsigned long long)recon, (double)reqs / secs,
	    (double)units / secs, (double)bench_hist_quantile(all, 0.50) / 1e3,
	    (double)bench_hist_quantile(all, 0.99) / 1e3,
	    (double)bench_hist_quantile(all, 0.999) / 1e3,
	    (double)all->max / 1e3);
	if (g.pid != 0)
		printf(",\"mem_kb\":{\"rss\":%llu,\"hwm\":%llu,\"anon\":%llu,"
		       "\"file\":%llu}",
		    (unsigned long long)peak->rss_kb,
		    (unsigned long long)peak->hwm_kb,
		    (unsigned long long)peak->anon_kb,
		    (unsigned long long)peak->file_kb);
	printf("}\n");
	free(all);
	if (errs != 0)
		exit(1);
}

/* -a's summary line. */
static void
print_counts(struct thread *ts)
{
	struct counts c = {0};
	uint64_t reqs = 0;
	int i;

	for (i = 0; i < g.threads; i++) {
		reqs += ts[i].sent;
		c.acked += ts[i].n.acked;
		c.s200 += ts[i].n.s200;
		c.s503 += ts[i].n.s503;
		c.s4xx += ts[i].n.s4xx;
		c.s5xx += ts[i].n.s5xx;
		c.conn_errors += ts[i].n.conn_errors;
		c.bad_answers += ts[i].n.bad_answers;
	}
	fprintf(stderr,
	    "loadgen: requests=%llu acked=%llu s200=%llu s503=%llu "
	    "s4xx=%llu s5xx=%llu conn_errors=%llu bad_answers=%llu\n",
	    (unsigned long long)reqs, (unsigned long long)c.acked,
	    (unsigned long long)c.s200, (unsigned long long)c.s503,
	    (unsigned long long)c.s4xx, (unsigned long long)c.s5xx,
	    (unsigned long long)c.conn_errors,
	    (unsigned long long)c.bad_answers);
}

int
main(int argc, char **argv)
{
	struct thread *ts;
	struct bench_mem peak;
	uint64_t next_mem;
	double per_req;
	int ch, i;

	while ((ch = getopt(argc, argv, "u:t:c:d:n:w:b:mr:T:e:o:C:k:P:l:a")) !=
	    -1) {
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
		case 'm':
			g.mixed = 1;
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
		case 'a':
			g.acks = 1;
			break;
		default:
			usage();
		}
	}
	if ((g.unix_path == NULL) == (g.tcp_len == 0) || g.conns < 1 ||
	    g.threads < 1 || g.threads > g.conns || optind != argc ||
	    (g.mixed && (g.batch < 1 || g.otlp_file != NULL)) ||
	    (g.acks && g.otlp_file != NULL))
		usage();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (g.otlp_file != NULL) {
		if (build_otlp_body(&g.tmpl[0]) == -1)
			return 2;
	} else if (bench_event_load(g.event_file, &g.ev) == -1 ||
	    build_body(&g.tmpl[0], g.mixed ? 0 : g.batch) == -1 ||
	    (g.mixed && build_body(&g.tmpl[1], g.batch) == -1)) {
		return 2;
	}
	/* Units per request, on average: -m sends 3 singles and a batch. */
	per_req = g.mixed ? (3.0 + g.batch) / 4 : (double)g.tmpl[0].units;
	ts = calloc((size_t)g.threads, sizeof(*ts));
	if (ts == NULL)
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
	}
	if (g.acks)
		print_counts(ts);
	else
		print_rates(ts, &peak);
	return 0;
}
