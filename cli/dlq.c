/* dlq.c: tracespool dlq: list, show, replay, purge, through the daemon or on
 * the spool files. */
#include <cjson/cJSON.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fmt.h"
#include "common/buf.h"
#include "common/kind.h"
#include "spool/deadjson.h"
#include "spool/spool.h"

/* Dead letters asked for at once while listing them all. */
#define LIST_PAGE 256
/* Characters of the reason and of the event name a list line shows. */
#define REASON_COLS 60
#define NAME_COLS 24

static const char *
kind_name(uint8_t kind)
{
	const struct kind *k = kind_get(kind);

	return k != NULL ? k->name : "unknown";
}

/* Decimal digits only, at least 1: ids start at 1. */
static int
parse_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v == 0)
		return -1;
	*id = v;
	return 0;
}

static const char *
member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * What the record names itself: event_name and event_id of an event or an
 * update; a session start ({"session": {...}}) has session_name and
 * session_id instead. "-" when absent.
 */
static void
record_names(
    const char *data, char *name, size_t namelen, char *id, size_t idlen)
{
	cJSON *root = cJSON_Parse(data);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "session");
	const char *n = member(root, "event_name");
	const char *i = member(root, "event_id");

	if (n == NULL && cJSON_IsObject(s))
		n = member(s, "session_name");
	if (i == NULL && cJSON_IsObject(s))
		i = member(s, "session_id");
	fmt_clip(n != NULL ? n : "-", NAME_COLS, name, namelen);
	fmt_clip(i != NULL ? i : "-", 36, id, idlen);
	cJSON_Delete(root);
}

static void
status_text(const struct spool_dead *d, char *out, size_t outlen)
{
	if (d->status == 0)
		snprintf(out, outlen, "expired");
	else
		snprintf(out, outlen, "%d", d->status);
}

/* s, then spaces up to width characters (printf pads bytes). */
static void
put_col(const char *s, size_t width)
{
	size_t w = fmt_width(s);

	fputs(s, stdout);
	while (w++ < width)
		putchar(' ');
	putchar(' ');
}

static void
print_list_line(const struct spool_dead *d)
{
	char when[64], st[16], name[128], id[128], reason[512];

	record_names(d->data, name, sizeof(name), id, sizeof(id));
	status_text(d, st, sizeof(st));
	printf("%-6llu %-19s  %-7s %-8u ", (unsigned long long)d->id,
	    fmt_time(d->dead_ms, when, sizeof(when)), st,
	    (unsigned)d->attempts);
	put_col(name, NAME_COLS);
	put_col(id, 37);
	/* The reason is the last column: its first REASON_COLS, then "...". */
	printf("%s\n",
	    fmt_clip(d->reason, REASON_COLS + 3, reason, sizeof(reason)));
}

static void
print_header(void)
{
	printf("%-6s %-19s  %-7s %-8s %-*s %-36s  %s\n", "ID", "DEAD SINCE",
	    "STATUS", "ATTEMPTS", NAME_COLS, "EVENT_NAME", "EVENT_ID",
	    "REASON");
}

/*
 * Where the dead letters are: the running daemon, through its socket
 * (root, its user and admin_uids only), or the spool files of a stopped
 * one (--spool-dir, $TRACESPOOL_SPOOL_DIR). Exactly one of sp and cl.
 */
struct src {
	struct spool *sp;
	struct client *cl;
	const char *where; /* the socket, URL or spool folder, for messages */
};

/*
 * The files when a spool is named on the command line, or in the
 * environment with no --socket or --url beside it; the daemon otherwise.
 */
static int
src_open(const struct cli *cli, int readonly, struct src *s)
{
	char err[512];

	memset(s, 0, sizeof(*s));
	if (cli->spool_dir_flag || (cli->spool_dir_env && !cli->daemon_flag)) {
		s->where = cli->spool_dir;
		return cli_spool_open(cli, readonly, &s->sp) == 0
		    ? TS_EXIT_OK
		    : TS_EXIT_FAIL;
	}
	if (client_open(&s->cl, cli->socket, cli->url, err, sizeof(err)) !=
	    CLIENT_OK) {
		warnx("%s", err);
		return TS_EXIT_FAIL;
	}
	s->where = client_where(s->cl);
	return TS_EXIT_OK;
}

static void
src_close(struct src *s)
{
	spool_close(s->sp);
	client_close(s->cl);
}

/* A spool call's failure, said; TS_EXIT_FAIL. */
static int
spool_failed(const struct src *s, int rc, uint64_t id)
{
	if (rc == SPOOL_NOTFOUND)
		warnx("no dead letter %llu in %s", (unsigned long long)id,
		    s->where);
	else
		warnx("%s: %s", s->where, spool_strerror());
	return TS_EXIT_FAIL;
}

/*
 * One request to the daemon (POST when body is not NULL). TS_EXIT_OK
 * with r filled on a 200; otherwise says why and returns the exit code:
 * TS_EXIT_UNAVAILABLE when nothing answered.
 */
static int
ask(struct src *s, const char *path, const char *body, struct client_resp *r)
{
	char err[512];
	int rc;

	rc = body != NULL
	    ? client_post(s->cl, path, body, strlen(body), r, err, sizeof(err))
	    : client_get(s->cl, path, r, err, sizeof(err));
	if (rc == CLIENT_UNREACHABLE) {
		warnx("%s; for a stopped daemon's dead letters, name its "
		      "spool with --spool-dir",
		    err);
		return TS_EXIT_UNAVAILABLE;
	}
	if (rc != CLIENT_OK) {
		warnx("%s", err);
		return TS_EXIT_FAIL;
	}
	if (r->status == 200)
		return TS_EXIT_OK;
	client_resp_error(r, err, sizeof(err));
	warnx("tracespoold at %s: %ld: %s", s->where, r->status, err);
	return TS_EXIT_FAIL;
}

static int
json_u64(const cJSON *o, const char *name, uint64_t *v)
{
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

	/* 2^64 is not a uint64_t: the largest double below it is. */
	if (!cJSON_IsNumber(x) || x->valuedouble < 0 ||
	    x->valuedouble >= 18446744073709551616.0)
		return -1;
	*v = (uint64_t)x->valuedouble;
	return 0;
}

static int
kind_by_name(const char *name, uint8_t *id)
{
	for (unsigned i = 1; i <= UINT8_MAX; i++) {
		const struct kind *k = kind_get(i);

		if (k != NULL && strcmp(k->name, name) == 0) {
			*id = (uint8_t)i;
			return 0;
		}
	}
	return -1;
}

/*
 * A dead letter as the daemon sends it (spool_dead_json's object) into
 * d, as the spool would give it: the event's text in data. The daemon
 * never sends a protobuf export's bytes: data is then empty and len
 * their count (spool_kind_binary records are shown by size only). 0, or
 * -1 for an object of another shape or out of memory (d then empty).
 */
static int
dead_from_json(const cJSON *o, struct spool_dead *d)
{
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(o, "reason");
	const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "event");
	uint64_t status, attempts, count, bytes;

	memset(d, 0, sizeof(*d));
	if (json_u64(o, "id", &d->id) == -1 ||
	    json_u64(o, "seq", &d->seq) == -1 ||
	    json_u64(o, "time_ms", &d->time_ms) == -1 ||
	    json_u64(o, "dead_ms", &d->dead_ms) == -1 ||
	    json_u64(o, "status", &status) == -1 || status > 999 ||
	    json_u64(o, "attempts", &attempts) == -1 || attempts > UINT32_MAX ||
	    json_u64(o, "count", &count) == -1 || count > UINT32_MAX ||
	    !cJSON_IsString(kind) ||
	    kind_by_name(kind->valuestring, &d->kind) == -1 ||
	    !cJSON_IsString(reason) || ev == NULL)
		return -1;
	d->status = (int)status;
	d->attempts = (uint32_t)attempts;
	d->count = (uint32_t)count;
	if (spool_kind_binary(d->kind)) {
		if (json_u64(ev, "protobuf_bytes", &bytes) == -1)
			return -1;
		d->data = strdup("");
		d->len = (size_t)bytes;
	} else if (cJSON_IsString(ev)) {
		d->data = strdup(ev->valuestring);
	} else {
		d->data = cJSON_PrintUnformatted(ev);
	}
	d->reason = strdup(reason->valuestring);
	if (d->data == NULL || d->reason == NULL) {
		spool_dead_clear(d);
		return -1;
	}
	if (!spool_kind_binary(d->kind))
		d->len = strlen(d->data);
	return 0;
}

/* The daemon's answer is not what its routes promise. */
static int
bad_answer(const struct src *s, const char *what)
{
	warnx("tracespoold at %s: %s: an answer of an unexpected shape",
	    s->where, what);
	return TS_EXIT_FAIL;
}

/*
 * One request to the daemon whose answer is JSON, handed to take while the
 * tree lives. take returns TS_EXIT_OK, another exit code (said already),
 * or -1 when the answer is not what what (the request, for the message)
 * gives.
 */
static int
ask_json(struct src *s, const char *path, const char *body, const char *what,
    int (*take)(const cJSON *o, void *arg), void *arg)
{
	struct client_resp r;
	cJSON *o;
	int rc;

	client_resp_init(&r);
	if ((rc = ask(s, path, body, &r)) != TS_EXIT_OK) {
		client_resp_free(&r);
		return rc;
	}
	o = cJSON_ParseWithLength(r.body.data, r.body.len);
	client_resp_free(&r);
	rc = take(o, arg);
	cJSON_Delete(o);
	return rc == -1 ? bad_answer(s, what) : rc;
}

/* What take_page fills: src_list's out parameters. */
struct list_page {
	uint64_t from;
	struct spool_dead **page;
	size_t *n;
	uint64_t *next;
};

/* A page of GET /dlq into a struct list_page. */
static int
take_page(const cJSON *o, void *arg)
{
	struct list_page *pg = arg;
	const cJSON *arr, *nx, *item;
	int i = 0;

	arr = cJSON_GetObjectItemCaseSensitive(o, "dead_letters");
	nx = cJSON_GetObjectItemCaseSensitive(o, "next");
	if (!cJSON_IsArray(arr) ||
	    (!cJSON_IsNull(nx) && json_u64(o, "next", pg->next) == -1))
		return -1;
	if (cJSON_GetArraySize(arr) > 0 &&
	    (*pg->page = calloc((size_t)cJSON_GetArraySize(arr),
	         sizeof(**pg->page))) == NULL) {
		warnx("out of memory");
		return TS_EXIT_FAIL;
	}
	cJSON_ArrayForEach(item, arr) {
		if (dead_from_json(item, &(*pg->page)[i]) == -1) {
			while (i-- > 0)
				spool_dead_clear(&(*pg->page)[i]);
			free(*pg->page);
			*pg->page = NULL;
			return -1;
		}
		i++;
	}
	*pg->n = (size_t)i;
	/* A page that makes no progress would loop forever. */
	if (*pg->next != 0 && (*pg->n == 0 || *pg->next <= pg->from))
		*pg->next = 0;
	return TS_EXIT_OK;
}

static int
take_dead(const cJSON *o, void *arg)
{
	return dead_from_json(o, arg) == 0 ? TS_EXIT_OK : -1;
}

/* What take_moved reads: the answer's count member into *n. */
struct moved {
	const char *member;
	size_t *n;
};

static int
take_moved(const cJSON *o, void *arg)
{
	struct moved *m = arg;
	uint64_t v;

	if (json_u64(o, m->member, &v) == -1)
		return -1;
	*m->n = (size_t)v;
	return TS_EXIT_OK;
}

/*
 * A page of dead letters from id from on into *page (n of them, free each
 * with spool_dead_clear, then the array); *next is where the next page
 * starts, 0 when there is none.
 */
static int
src_list(struct src *s, uint64_t from, struct spool_dead **page, size_t *n,
    uint64_t *next)
{
	struct list_page pg;
	char path[96];
	int rc;

	*page = NULL;
	*n = 0;
	*next = 0;
	if (s->sp != NULL) {
		rc = spool_dead_list(s->sp, from, LIST_PAGE, page, n);
		if (rc != SPOOL_OK)
			return spool_failed(s, rc, 0);
		if (*n == LIST_PAGE)
			*next = (*page)[*n - 1].id + 1;
		return TS_EXIT_OK;
	}
	snprintf(path, sizeof(path), "/dlq?from=%llu&limit=%d",
	    (unsigned long long)from, LIST_PAGE);
	pg.from = from;
	pg.page = page;
	pg.n = n;
	pg.next = next;
	return ask_json(s, path, NULL, "GET /dlq", take_page, &pg);
}

static int
src_get(struct src *s, uint64_t id, struct spool_dead *d)
{
	char path[64];
	int rc;

	if (s->sp != NULL) {
		rc = spool_dead_get(s->sp, id, d);
		return rc == SPOOL_OK ? TS_EXIT_OK : spool_failed(s, rc, id);
	}
	snprintf(path, sizeof(path), "/dlq/%llu", (unsigned long long)id);
	return ask_json(s, path, NULL, "GET /dlq/ID", take_dead, d);
}

/* replay or purge: id 0 means all; *n counts what was moved. */
static int
src_move(struct src *s, int replay, uint64_t id, size_t *n)
{
	struct moved m;
	char body[64];
	int rc;

	*n = 0;
	if (s->sp != NULL) {
		rc = replay ? spool_dead_replay(s->sp, id, fmt_now_ms(), n)
		            : spool_dead_purge(s->sp, id, n);
		return rc == SPOOL_OK ? TS_EXIT_OK : spool_failed(s, rc, id);
	}
	if (id == 0)
		snprintf(body, sizeof(body), "{\"all\":true}");
	else
		snprintf(body, sizeof(body), "{\"id\":%llu}",
		    (unsigned long long)id);
	m.member = replay ? "replayed" : "purged";
	m.n = n;
	return ask_json(s, replay ? "/dlq/replay" : "/dlq/purge", body,
	    replay ? "POST /dlq/replay" : "POST /dlq/purge", take_moved, &m);
}

/* Write one dead letter of a --json list, after a comma unless first. */
static int
print_list_json(struct buf *b, const struct spool_dead *d, int first)
{
	buf_reset(b);
	if ((!first && buf_addch(b, ',') == -1) ||
	    spool_dead_json(b, d) == -1) {
		warnx("out of memory");
		return -1;
	}
	fputs(b->data, stdout);
	return 0;
}

static int
dlq_list(const struct cli *cli, struct src *s)
{
	struct spool_dead *page;
	struct buf b;
	uint64_t from = 1, next, total = 0;
	size_t n, i;
	int rc = TS_EXIT_OK;

	buf_init(&b);
	if (cli->json)
		putchar('[');
	/* Page through, so a large store is never all in memory. */
	do {
		rc = src_list(s, from, &page, &n, &next);
		if (rc != TS_EXIT_OK)
			break;
		for (i = 0; i < n; i++) {
			if (rc == TS_EXIT_OK && cli->json) {
				if (print_list_json(&b, &page[i], total == 0) ==
				    -1)
					rc = TS_EXIT_FAIL;
			} else if (rc == TS_EXIT_OK) {
				if (total == 0)
					print_header();
				print_list_line(&page[i]);
			}
			total++;
			spool_dead_clear(&page[i]);
		}
		free(page);
		from = next;
	} while (next != 0 && rc == TS_EXIT_OK);
	if (cli->json)
		printf("]\n");
	else if (total == 0 && rc == TS_EXIT_OK)
		printf("no dead letters\n");
	buf_free(&b);
	return rc;
}

/*
 * One dead letter. Its client key, when it has one, is never shown: the
 * spool does not hand it out, and the daemon does not send it.
 */
static int
dlq_show(const struct cli *cli, struct src *s, uint64_t id)
{
	struct spool_dead d;
	uint64_t now = fmt_now_ms();
	char a[64], b[64];
	cJSON *ev;
	char *pretty;
	int rc;

	if ((rc = src_get(s, id, &d)) != TS_EXIT_OK)
		return rc;
	if (cli->json) {
		struct buf out;

		buf_init(&out);
		rc =
		    spool_dead_json(&out, &d) == 0 && buf_addch(&out, '\n') == 0
		    ? TS_EXIT_OK
		    : TS_EXIT_FAIL;
		if (rc == TS_EXIT_OK)
			fputs(out.data, stdout);
		else
			warnx("out of memory");
		buf_free(&out);
		spool_dead_clear(&d);
		return rc;
	}
	printf("id:          %llu\n", (unsigned long long)d.id);
	printf("kind:        %s\n", kind_name(d.kind));
	printf("sequence:    %llu\n", (unsigned long long)d.seq);
	printf("received:    %s\n", fmt_time(d.time_ms, a, sizeof(a)));
	printf("dead since:  %s (%s ago)\n", fmt_time(d.dead_ms, a, sizeof(a)),
	    fmt_age(now > d.dead_ms ? now - d.dead_ms : 0, b, sizeof(b)));
	if (d.status == 0)
		printf("status:      expired (older than max_event_age)\n");
	else
		printf("status:      %d (the upstream's answer)\n", d.status);
	printf("attempts:    %u\n", (unsigned)d.attempts);
	printf("reason:      %s\n", d.reason);
	if (spool_kind_binary(d.kind)) {
		printf("%s:\n%zu bytes of protobuf, %u span%s\n",
		    kind_name(d.kind), d.len, (unsigned)d.count,
		    d.count == 1 ? "" : "s");
		spool_dead_clear(&d);
		return TS_EXIT_OK;
	}
	ev = cJSON_ParseWithLength(d.data, d.len);
	pretty = ev != NULL ? cJSON_Print(ev) : NULL;
	printf(
	    "%s:\n%s\n", kind_name(d.kind), pretty != NULL ? pretty : d.data);
	free(pretty);
	cJSON_Delete(ev);
	spool_dead_clear(&d);
	return TS_EXIT_OK;
}

/* replay or purge: id 0 means all. */
static int
dlq_move(struct src *s, int replay, uint64_t id)
{
	size_t n = 0;
	int rc;

	if ((rc = src_move(s, replay, id, &n)) != TS_EXIT_OK)
		return rc;
	printf("%s %zu dead letter%s%s\n", replay ? "replayed" : "purged", n,
	    n == 1 ? "" : "s", replay && n > 0 ? " to the spool" : "");
	return TS_EXIT_OK;
}

int
cmd_dlq(const struct cli *cli, int argc, char **argv)
{
	struct src s;
	const char *sub;
	uint64_t id = 0;
	int rc, replay, readonly = 1;

	if (argc == 0)
		return cli_usage_error(
		    "dlq: expected list, show, replay or purge");
	if (cli->spool_dir_flag && cli->daemon_flag)
		return cli_usage_error(
		    "dlq: --spool-dir (the files of a stopped daemon) and "
		    "--socket or --url (a running one): give one");
	sub = argv[0];
	if (strcmp(sub, "list") == 0) {
		if (argc != 1)
			return cli_usage_error("dlq list: takes no arguments");
	} else if (strcmp(sub, "show") == 0) {
		if (argc != 2)
			return cli_usage_error("dlq show: expected one ID");
		if (parse_id(argv[1], &id) == -1)
			return cli_usage_error(
			    "dlq show: %s: not an id", argv[1]);
	} else if (strcmp(sub, "replay") == 0 || strcmp(sub, "purge") == 0) {
		/* Everything only when asked for by name: no ID is no "all". */
		if (argc > 2 || (argc == 2) == (cli->all != 0))
			return cli_usage_error(
			    "dlq %s: expected an ID or --all", sub);
		if (argc == 2 && parse_id(argv[1], &id) == -1)
			return cli_usage_error(
			    "dlq %s: %s: not an id", sub, argv[1]);
		readonly = 0;
	} else {
		return cli_usage_error(
		    "dlq %s: unknown; expected list, show, replay or purge",
		    sub);
	}
	if ((rc = src_open(cli, readonly, &s)) != TS_EXIT_OK)
		return rc;
	replay = sub[0] == 'r';
	if (sub[0] == 'l')
		rc = dlq_list(cli, &s);
	else if (sub[0] == 's')
		rc = dlq_show(cli, &s, id);
	else
		rc = dlq_move(&s, replay, id);
	src_close(&s);
	if (fflush(stdout) != 0 && rc == TS_EXIT_OK)
		rc = TS_EXIT_FAIL;
	return rc;
}
