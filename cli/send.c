/* send.c: tracespool send: events in batches, bad lines named one by one. */
#include <cjson/cJSON.h>
#include <err.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "common/buf.h"
#include "common/clock.h"

/*
 * A batch also stops at this many bytes, half the daemon's default
 * max_body_bytes, so a file of large events is not refused as a whole.
 */
#define BATCH_MAX_BYTES (8u << 20)
/* How long one request may keep meeting 503 (spool full) before we stop. */
#define BUSY_BUDGET_MS 30000

/* One input line of the current batch. */
struct line {
	size_t no;
	char *text; /* as read, sent verbatim; NULL when refused here */
	size_t len;
	char err[96]; /* why it was refused here, when text is NULL */
};

struct sender {
	struct client *cl;
	size_t max_lines;
	struct line *lines;
	size_t n, cap;
	size_t sendable; /* lines with text */
	size_t bytes;    /* their text bytes */
	uint64_t accepted, rejected;
	struct client_resp resp;
	struct buf body;
	int exit; /* TS_EXIT_OK until a request fails beyond the lines */
};

static void reject(struct sender *s, size_t no, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reject(struct sender *s, size_t no, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "line %zu: ", no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	s->rejected++;
}

static void
sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	    .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * POST body to path. A 503 means the spool cannot take it now: wait as
 * the daemon's Retry-After says (at least a second, so we never spin) and
 * try again, for BUSY_BUDGET_MS at most. Returns 0 with s->resp holding an
 * answer other than 503, or -1 after saying why and setting s->exit.
 */
static int
post(struct sender *s, const char *path, const struct buf *body)
{
	uint64_t deadline = clock_mono_ms() + BUSY_BUDGET_MS, now, wait;
	char err[512];
	int rc;

	for (;;) {
		rc = client_post(s->cl, path, body->data, body->len, &s->resp,
		    err, sizeof(err));
		if (rc != CLIENT_OK) {
			warnx("%s", err);
			s->exit = rc == CLIENT_UNREACHABLE ? TS_EXIT_UNAVAILABLE
			                                   : TS_EXIT_FAIL;
			return -1;
		}
		if (s->resp.status != 503)
			return 0;
		client_resp_error(&s->resp, err, sizeof(err));
		now = clock_mono_ms();
		if (now >= deadline) {
			warnx("daemon still refusing after %d s: %s",
			    BUSY_BUDGET_MS / 1000, err);
			s->exit = TS_EXIT_UNAVAILABLE;
			return -1;
		}
		wait = s->resp.retry_after > 0
		    ? (uint64_t)s->resp.retry_after * 1000
		    : 1000;
		if (wait > deadline - now)
			wait = deadline - now;
		warnx("daemon busy (%s); retrying in %.1f s", err,
		    (double)wait / 1000);
		sleep_ms(wait);
	}
}

/* A status that names a fault in the events rather than in the request. */
static int
rejects_events(long status)
{
	return status == 400 || status == 413 || status == 422;
}

static int
unexpected(struct sender *s, const char *path)
{
	char err[512];

	client_resp_error(&s->resp, err, sizeof(err));
	warnx("POST %s: %ld: %s", path, s->resp.status, err);
	s->exit = TS_EXIT_FAIL;
	return -1;
}

/* Send one line alone, to learn whether it is the bad one and why. */
static int
send_one(struct sender *s, const struct line *l)
{
	char err[512];

	buf_reset(&s->body);
	buf_addstr(&s->body, "{\"event\":");
	buf_add(&s->body, l->text, l->len);
	buf_addch(&s->body, '}');
	if (buf_failed(&s->body)) {
		warnx("out of memory");
		s->exit = TS_EXIT_FAIL;
		return -1;
	}
	if (post(s, "/events", &s->body) == -1)
		return -1;
	if (s->resp.status >= 200 && s->resp.status < 300) {
		s->accepted++;
		return 0;
	}
	if (!rejects_events(s->resp.status))
		return unexpected(s, "/events");
	client_resp_error(&s->resp, err, sizeof(err));
	reject(s, l->no, "%s", err);
	return 0;
}

static void
clear_lines(struct sender *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i].text);
	s->n = 0;
	s->sendable = 0;
	s->bytes = 0;
}

/*
 * Send the batch. The daemon takes a batch whole or not at all, so when
 * it refuses one, each of its lines goes again alone: the good ones get
 * in and every bad one is named, not only the first. Lines refused here
 * are reported in their place, so the messages follow the input's order.
 * On -1, *first is the first line whose fate is unknown.
 */
static int
flush(struct sender *s, size_t *first)
{
	size_t i;
	int batch_ok = 0, rc = 0;

	*first = s->n > 0 ? s->lines[0].no : 0;
	if (s->sendable > 0) {
		int sep = 0;

		buf_reset(&s->body);
		buf_addstr(&s->body, "{\"events\":[");
		for (i = 0; i < s->n; i++) {
			if (s->lines[i].text == NULL)
				continue;
			if (sep++ > 0)
				buf_addch(&s->body, ',');
			buf_add(&s->body, s->lines[i].text, s->lines[i].len);
		}
		buf_addstr(&s->body, "]}");
		if (buf_failed(&s->body)) {
			warnx("out of memory");
			s->exit = TS_EXIT_FAIL;
			return -1;
		}
		if (post(s, "/events/batch", &s->body) == -1)
			return -1;
		if (s->resp.status >= 200 && s->resp.status < 300)
			batch_ok = 1;
		else if (!rejects_events(s->resp.status))
			return unexpected(s, "/events/batch");
	}
	for (i = 0; i < s->n && rc == 0; i++) {
		struct line *l = &s->lines[i];

		*first = l->no;
		if (l->text == NULL)
			reject(s, l->no, "%s", l->err);
		else if (batch_ok)
			s->accepted++;
		else
			rc = send_one(s, l);
	}
	if (rc == 0)
		clear_lines(s);
	return rc;
}

static int
is_blank(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * Check a line here for what the daemon would refuse anyway, without a
 * round trip: not JSON, or JSON but not an object. The text is sent as
 * read, never re-serialised, so numbers and key order stay the client's.
 */
static void
check_line(struct line *l)
{
	const char *end = NULL;
	cJSON *o;

	if (memchr(l->text, '\0', l->len) != NULL) {
		snprintf(l->err, sizeof(l->err), "contains a NUL byte");
	} else if ((o = cJSON_ParseWithOpts(l->text, &end, 1)) == NULL) {
		if (end != NULL && end >= l->text)
			snprintf(l->err, sizeof(l->err),
			    "not JSON (error at column %zu)",
			    (size_t)(end - l->text) + 1);
		else
			snprintf(l->err, sizeof(l->err), "not JSON");
	} else {
		if (!cJSON_IsObject(o))
			snprintf(l->err, sizeof(l->err),
			    "not a JSON object (an event is an object)");
		cJSON_Delete(o);
	}
	if (l->err[0] != '\0') {
		free(l->text);
		l->text = NULL;
	}
}

/* Take text (heap memory, now ours) as line no; flush when full. */
static int
add_line(struct sender *s, size_t no, char *text, size_t len, size_t *first)
{
	struct line *l;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		struct line *nl = reallocarray(s->lines, ncap, sizeof(*nl));

		if (nl == NULL) {
			free(text);
			warnx("out of memory");
			s->exit = TS_EXIT_FAIL;
			*first = s->n > 0 ? s->lines[0].no : no;
			return -1;
		}
		s->lines = nl;
		s->cap = ncap;
	}
	l = &s->lines[s->n];
	l->no = no;
	l->text = text;
	l->len = len;
	l->err[0] = '\0';
	check_line(l);
	if (l->text != NULL && s->sendable > 0 &&
	    s->bytes + len + s->sendable > BATCH_MAX_BYTES) {
		/* Send what came before; this line starts the next batch. */
		struct line keep = *l;

		if (flush(s, first) == -1) {
			free(keep.text);
			return -1;
		}
		s->lines[0] = keep;
		l = &s->lines[0];
	}
	s->n++;
	if (l->text != NULL) {
		s->sendable++;
		s->bytes += len;
	}
	if (s->n >= s->max_lines)
		return flush(s, first);
	return 0;
}

/* Send every line of fp in batches. 0, or -1 with *first set. */
static int
read_lines(struct sender *s, FILE *fp, size_t *first)
{
	size_t no = 0;
	ssize_t n;

	for (;;) {
		char *text = NULL;
		size_t len, cap = 0;

		/* A fresh buffer per line: the batch keeps it. */
		if ((n = getline(&text, &cap, fp)) == -1) {
			free(text);
			break;
		}
		no++;
		len = (size_t)n;
		while (
		    len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
			text[--len] = '\0';
		/* Editors on some systems start a UTF-8 file with a BOM. */
		if (no == 1 && len >= 3 &&
		    memcmp(text, "\xef\xbb\xbf", 3) == 0) {
			memmove(text, text + 3, len - 2);
			len -= 3;
		}
		if (is_blank(text, len)) {
			free(text);
			continue;
		}
		if (add_line(s, no, text, len, first) == -1)
			return -1;
	}
	/* What was read before an input error is still sent. */
	if (ferror(fp)) {
		warn("reading events after line %zu", no);
		s->exit = TS_EXIT_FAIL;
	}
	return flush(s, first);
}

int
cmd_send(const struct cli *cli, int argc, char **argv)
{
	struct sender s = {.max_lines = cli->batch, .exit = TS_EXIT_OK};
	const char *path = argc > 0 ? argv[0] : "-";
	char err[512];
	size_t first = 0;
	FILE *fp;
	int rc;

	if (argc > 1)
		return cli_usage_error("send: one FILE at most");
	fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (fp == NULL) {
		warn("%s", path);
		return TS_EXIT_FAIL;
	}
	client_resp_init(&s.resp);
	buf_init(&s.body);
	if (client_open(&s.cl, cli->socket, cli->url, err, sizeof(err)) !=
	    CLIENT_OK) {
		warnx("%s", err);
		rc = TS_EXIT_FAIL;
		goto out;
	}
	/* Know that the daemon is there before reading (maybe) stdin. */
	rc = client_get(s.cl, "/healthz", &s.resp, err, sizeof(err));
	if (rc != CLIENT_OK) {
		warnx("%s", err);
		rc = rc == CLIENT_UNREACHABLE ? TS_EXIT_UNAVAILABLE
		                              : TS_EXIT_FAIL;
		goto out;
	}
	if (read_lines(&s, fp, &first) == -1)
		warnx("stopped: line %zu and those after it were not sent",
		    first);
	printf("accepted %llu, rejected %llu\n", (unsigned long long)s.accepted,
	    (unsigned long long)s.rejected);
	if (fflush(stdout) != 0 && s.exit == TS_EXIT_OK)
		s.exit = TS_EXIT_FAIL;
	rc = s.exit != TS_EXIT_OK ? s.exit
	    : s.rejected > 0      ? TS_EXIT_FAIL
	                          : TS_EXIT_OK;
out:
	clear_lines(&s);
	free(s.lines);
	buf_free(&s.body);
	client_resp_free(&s.resp);
	client_close(s.cl);
	if (fp != stdin)
		fclose(fp);
	return rc;
}
