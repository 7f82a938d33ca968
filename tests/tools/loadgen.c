/* loadgen.c: test tool: events over keep-alive connections to the Unix socket;
 * prints acknowledged ids. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/clock.h"

/*
 * Usage: loadgen -s SOCKET [-c CONNECTIONS] [-t SECONDS] [-r RATE]
 *        [-b BATCH] [-p PAD] [-n NAME]
 *
 * Each of CONNECTIONS threads speaks HTTP/1.1 keep-alive over its own
 * connection for SECONDS, or until SIGTERM or SIGINT: POST /events with one
 * event, and every fourth request (when BATCH > 1) POST /events/batch with
 * BATCH events, at most RATE requests a second (0: as fast as answered).
 * Events are {"event_type":"chain","event_name":NAME,"inputs":{"c","i",
 * "pad"}}, with PAD bytes of padding. When the daemon goes away (killed,
 * restarting) a thread reconnects every 20 ms until the time is up. A
 * request in flight when the time is up or a signal comes is still waited
 * for, so that its acknowledgement is not lost.
 *
 * Every event_id the daemon acknowledged (a 200 whose body says success and
 * names the ids) is printed on stdout, one per line, as soon as its answer
 * arrives. At the end a summary goes to stderr:
 *   loadgen: requests=N acked=N s200=N s503=N s4xx=N s5xx=N
 *   conn_errors=N bad_answers=N
 * where s5xx counts 5xx answers other than 503 and bad_answers 200s whose
 * body was not the documented success. Exit 0, or 2 on a usage error.
 */

struct opts {
	const char *sock;
	int conns;
	int seconds;
	int rate;
	int batch;
	int pad;
	const char *name;
};

struct counts {
	uint64_t requests;
	uint64_t acked;
	uint64_t s200;
	uint64_t s503;
	uint64_t s4xx;
	uint64_t s5xx;
	uint64_t conn_errors;
	uint64_t bad_answers;
};

struct worker {
	pthread_t thread;
	const struct opts *o;
	int id;
	uint64_t deadline_ms;
	struct counts n;
};

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
dial(const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = {10, 0};
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* A daemon that stops answering must not hold the run past its end. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
add_event(struct buf *b, const struct opts *o, int conn, uint64_t i)
{
	buf_printf(b,
	    "{\"event_type\":\"chain\",\"event_name\":\"%s\","
	    "\"inputs\":{\"c\":%d,\"i\":%llu,\"pad\":\"",
	    o->name, conn, (unsigned long long)i);
	for (int k = 0; k < o->pad; k++)
		buf_addch(b, 'p');
	buf_addstr(b, "\"}}");
}

/* The request for round r into req; body is scratch. */
static int
build_request(struct worker *w, uint64_t r, uint64_t *seq, struct buf *req,
    struct buf *body)
{
	const struct opts *o = w->o;
	int batch = o->batch > 1 && r % 4 == 3;

	buf_reset(body);
	if (batch) {
		buf_addstr(body, "{\"events\":[");
		for (int k = 0; k < o->batch; k++) {
			if (k > 0)
				buf_addch(body, ',');
			add_event(body, o, w->id, (*seq)++);
		}
		buf_addstr(body, "]}");
	} else {
		buf_addstr(body, "{\"event\":");
		add_event(body, o, w->id, (*seq)++);
		buf_addch(body, '}');
	}
	buf_reset(req);
	buf_printf(req,
	    "POST %s HTTP/1.1\r\nHost: ts\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "\r\n",
	    batch ? "/events/batch" : "/events", body->len);
	buf_add(req, body->data, body->len);
	return req->data == NULL || body->data == NULL ? -1 : 0;
}

/* The value of header name in the header block h, or NULL. */
static const char *
header(const char *h, const char *name)
{
	size_t nl = strlen(name);
	const char *p = strstr(h, "\r\n");

	while (p != NULL && p[2] != '\r') {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = strstr(p, "\r\n");
	}
	return NULL;
}

/*
 * Read one answer: status, body (NUL-terminated in in->data from *body_off)
 * and whether the server closes. 0, or -1 when the connection broke.
 */
static int
read_answer(int fd, struct buf *in, int *status, size_t *body_off,
    size_t *body_len, int *closing)
{
	char chunk[65536];
	const char *end, *cl, *conn;
	size_t hlen = 0, want = 0;
	int have_head = 0;

	buf_reset(in);
	for (;;) {
		ssize_t n;

		if (!have_head && in->data != NULL &&
		    (end = strstr(in->data, "\r\n\r\n")) != NULL) {
			hlen = (size_t)(end - in->data) + 4;
			in->data[hlen - 2] = '\0';
			if (sscanf(in->data, "HTTP/1.%*d %d", status) != 1)
				return -1;
			cl = header(in->data, "Content-Length");
			conn = header(in->data, "Connection");
			if (cl == NULL)
				return -1;
			want = strtoul(cl, NULL, 10);
			*closing =
			    conn != NULL && strncasecmp(conn, "close", 5) == 0;
			in->data[hlen - 2] = '\r';
			have_head = 1;
		}
		if (have_head && in->len >= hlen + want)
			break;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf_add(in, chunk, (size_t)n) == -1)
			return -1;
	}
	in->data[hlen + want] = '\0';
	*body_off = hlen;
	*body_len = want;
	return 0;
}

/* Print the ids of a success answer; returns how many, or -1 if malformed. */
static int
print_acked(const char *body, size_t len, int batch, size_t expect)
{
	cJSON *o = cJSON_ParseWithLength(body, len), *ok, *ids, *id;
	struct buf out;
	int n = 0;

	ok = cJSON_GetObjectItemCaseSensitive(o, "success");
	if (!cJSON_IsTrue(ok)) {
		cJSON_Delete(o);
		return -1;
	}
	buf_init(&out);
	if (batch) {
		ids = cJSON_GetObjectItemCaseSensitive(o, "event_ids");
		if (cJSON_IsArray(ids) &&
		    (size_t)cJSON_GetArraySize(ids) == expect) {
			cJSON_ArrayForEach(id, ids) {
				if (!cJSON_IsString(id)) {
					n = -1;
					break;
				}
				buf_printf(&out, "%s\n", id->valuestring);
				n++;
			}
		} else {
			n = -1;
		}
	} else {
		id = cJSON_GetObjectItemCaseSensitive(o, "event_id");
		if (cJSON_IsString(id)) {
			buf_printf(&out, "%s\n", id->valuestring);
			n = 1;
		} else {
			n = -1;
		}
	}
	if (n > 0 && out.data != NULL) {
		pthread_mutex_lock(&out_lock);
		fwrite(out.data, 1, out.len, stdout);
		fflush(stdout);
		pthread_mutex_unlock(&out_lock);
	}
	buf_free(&out);
	cJSON_Delete(o);
	return n;
}

static void *
work(void *arg)
{
	struct worker *w = arg;
	struct buf req, body, in;
	uint64_t r = 0, seq = 0, start = clock_mono_ms(), due;
	int fd = -1;

	buf_init(&req);
	buf_init(&body);
	buf_init(&in);
	while (!stopping && clock_mono_ms() < w->deadline_ms) {
		size_t boff, blen;
		int status, closing, batch = w->o->batch > 1 && r % 4 == 3, n;

		if (w->o->rate > 0) {
			due = start + r * 1000 / (uint64_t)w->o->rate;
			if (clock_mono_ms() < due) {
				pause_ms((long)(due - clock_mono_ms()));
				continue;
			}
		}
		if (fd == -1 && (fd = dial(w->o->sock)) == -1) {
			pause_ms(20);
			continue;
		}
		if (build_request(w, r, &seq, &req, &body) == -1)
			break;
		r++;
		w->n.requests++;
		if (send_all(fd, req.data, req.len) == -1 ||
		    read_answer(fd, &in, &status, &boff, &blen, &closing) ==
		        -1) {
			w->n.conn_errors++;
			close(fd);
			fd = -1;
			continue;
		}
		if (status == 200) {
			w->n.s200++;
			n = print_acked(in.data + boff, blen, batch,
			    batch ? (size_t)w->o->batch : 1);
			if (n < 0)
				w->n.bad_answers++;
			else
				w->n.acked += (uint64_t)n;
		} else if (status == 503) {
			w->n.s503++;
		} else if (status >= 400 && status < 500) {
			w->n.s4xx++;
			fprintf(stderr, "loadgen: %d %.200s\n", status,
			    in.data + boff);
		} else {
			w->n.s5xx++;
			fprintf(stderr, "loadgen: %d %.200s\n", status,
			    in.data + boff);
		}
		if (closing) {
			close(fd);
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	buf_free(&req);
	buf_free(&body);
	buf_free(&in);
	return NULL;
}

static int
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen -s SOCKET [-c CONNECTIONS] "
	    "[-t SECONDS] [-r RATE] [-b BATCH] [-p PAD] "
	    "[-n NAME]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct opts o = {NULL, 4, 10, 0, 5, 64, "loadgen"};
	struct sigaction sa;
	struct worker *w;
	struct counts t = {0};
	uint64_t deadline;
	int ch;

	while ((ch = getopt(argc, argv, "s:c:t:r:b:p:n:")) != -1) {
		switch (ch) {
		case 's':
			o.sock = optarg;
			break;
		case 'c':
			o.conns = atoi(optarg);
			break;
		case 't':
			o.seconds = atoi(optarg);
			break;
		case 'r':
			o.rate = atoi(optarg);
			break;
		case 'b':
			o.batch = atoi(optarg);
			break;
		case 'p':
			o.pad = atoi(optarg);
			break;
		case 'n':
			o.name = optarg;
			break;
		default:
			return usage();
		}
	}
	if (o.sock == NULL || o.conns < 1 || o.conns > 1024 || o.seconds < 1 ||
	    o.rate < 0 || o.batch < 0 || o.pad < 0 ||
	    strpbrk(o.name, "\"\\") != NULL)
		return usage();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((w = calloc((size_t)o.conns, sizeof(*w))) == NULL) {
		perror("loadgen");
		return 1;
	}
	deadline = clock_mono_ms() + (uint64_t)o.seconds * 1000;
	for (int i = 0; i < o.conns; i++) {
		w[i].o = &o;
		w[i].id = i;
		w[i].deadline_ms = deadline;
		if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
			fprintf(stderr, "loadgen: cannot start a thread\n");
			return 1;
		}
	}
	for (int i = 0; i < o.conns; i++) {
		pthread_join(w[i].thread, NULL);
		t.requests += w[i].n.requests;
		t.acked += w[i].n.acked;
		t.s200 += w[i].n.s200;
		t.s503 += w[i].n.s503;
		t.s4xx += w[i].n.s4xx;
		t.s5xx += w[i].n.s5xx;
		t.conn_errors += w[i].n.conn_errors;
		t.bad_answers += w[i].n.bad_answers;
	}
	fprintf(stderr,
	    "loadgen: requests=%llu acked=%llu s200=%llu s503=%llu "
	    "s4xx=%llu s5xx=%llu conn_errors=%llu bad_answers=%llu\n",
	    (unsigned long long)t.requests, (unsigned long long)t.acked,
	    (unsigned long long)t.s200, (unsigned long long)t.s503,
	    (unsigned long long)t.s4xx, (unsigned long long)t.s5xx,
	    (unsigned long long)t.conn_errors,
	    (unsigned long long)t.bad_answers);
	free(w);
	return 0;
}
