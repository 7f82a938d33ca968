/* dlq.c: tracespool dlq: list, show, replay, purge, on the spool files. */
#include <cjson/cJSON.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/fmt.h"
#include "common/buf.h"
#include "common/kind.h"
#include "spool/spool.h"

/* Dead letters read per spool_dead_list call while listing them all. */
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

/* A record that is not text: shown by its size, never printed raw. */
static int
is_binary(uint8_t kind)
{
	return kind == KIND_SPANS_PB;
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

/*
 * One dead letter as a JSON object. The record's own bytes are embedded
 * as they are (they were valid JSON when spooled), not re-printed, so
 * the event reads exactly as it will be sent again.
 */
static int
dead_json(struct buf *b, const struct spool_dead *d)
{
	cJSON *check =
	    is_binary(d->kind) ? NULL : cJSON_ParseWithLength(d->data, d->len);
	int rc = 0;

	rc |= buf_printf(b,
	    "{\"id\":%llu,\"seq\":%llu,\"kind\":\"%s\",\"time_ms\":%llu,"
	    "\"dead_ms\":%llu,\"status\":%d,\"attempts\":%u,\"reason\":",
	    (unsigned long long)d->id, (unsigned long long)d->seq,
	    kind_name(d->kind), (unsigned long long)d->time_ms,
	    (unsigned long long)d->dead_ms, d->status, (unsigned)d->attempts);
	rc |= buf_add_json_string(b, d->reason);
	rc |= buf_printf(b, ",\"count\":%u,\"event\":", (unsigned)d->count);
	if (check != NULL)
		rc |= buf_add(b, d->data, d->len);
	else if (is_binary(d->kind))
		rc |= buf_printf(b, "{\"protobuf_bytes\":%zu}", d->len);
	else
		rc |= buf_add_json_string(b, d->data);
	rc |= buf_addch(b, '}');
	cJSON_Delete(check);
	return rc == 0 ? 0 : -1;
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

/* Write one dead letter of a --json list, after a comma unless first. */
static int
print_list_json(struct buf *b, const struct spool_dead *d, int first)
{
	buf_reset(b);
	if ((!first && buf_addch(b, ',') == -1) || dead_json(b, d) == -1) {
		warnx("out of memory");
		return -1;
	}
	fputs(b->data, stdout);
	return 0;
}

static int
dlq_list(const struct cli *cli, struct spool *sp)
{
	struct spool_dead *page;
	struct buf b;
	uint64_t from = 1, total = 0;
	size_t n, i;
	int rc = TS_EXIT_OK;

	buf_init(&b);
	if (cli->json)
		putchar('[');
	/* Page through, so a large store is never all in memory. */
	do {
		if (spool_dead_list(sp, from, LIST_PAGE, &page, &n) !=
		    SPOOL_OK) {
			warnx("%s: %s", cli->spool_dir, spool_strerror());
			rc = TS_EXIT_FAIL;
			break;
		}
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
			from = page[i].id + 1;
			spool_dead_clear(&page[i]);
		}
		free(page);
	} while (n == LIST_PAGE && rc == TS_EXIT_OK);
	if (cli->json)
		printf("]\n");
	else if (total == 0 && rc == TS_EXIT_OK)
		printf("no dead letters\n");
	buf_free(&b);
	return rc;
}

static int
dlq_show(const struct cli *cli, struct spool *sp, uint64_t id)
{
	struct spool_dead d;
	uint64_t now = fmt_now_ms();
	char a[64], b[64];
	cJSON *ev;
	char *pretty;
	int rc;

	rc = spool_dead_get(sp, id, &d);
	if (rc == SPOOL_NOTFOUND) {
		warnx("no dead letter %llu in %s", (unsigned long long)id,
		    cli->spool_dir);
		return TS_EXIT_FAIL;
	}
	if (rc != SPOOL_OK) {
		warnx("%s: %s", cli->spool_dir, spool_strerror());
		return TS_EXIT_FAIL;
	}
	if (cli->json) {
		struct buf out;

		buf_init(&out);
		rc = dead_json(&out, &d) == 0 && buf_addch(&out, '\n') == 0
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
	if (is_binary(d.kind)) {
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
dlq_move(const struct cli *cli, struct spool *sp, int replay, uint64_t id)
{
	size_t n = 0;
	int rc;

	rc = replay ? spool_dead_replay(sp, id, fmt_now_ms(), &n)
	            : spool_dead_purge(sp, id, &n);
	if (rc == SPOOL_NOTFOUND) {
		warnx("no dead letter %llu in %s", (unsigned long long)id,
		    cli->spool_dir);
		return TS_EXIT_FAIL;
	}
	if (rc != SPOOL_OK) {
		warnx("%s: %s", cli->spool_dir, spool_strerror());
		return TS_EXIT_FAIL;
	}
	printf("%s %zu dead letter%s%s\n", replay ? "replayed" : "purged", n,
	    n == 1 ? "" : "s", replay && n > 0 ? " to the spool" : "");
	return TS_EXIT_OK;
}

int
cmd_dlq(const struct cli *cli, int argc, char **argv)
{
	struct spool *sp;
	const char *sub;
	uint64_t id = 0;
	int rc, replay;

	if (argc == 0)
		return cli_usage_error(
		    "dlq: expected list, show, replay or purge");
	sub = argv[0];
	if (strcmp(sub, "list") == 0) {
		if (argc != 1)
			return cli_usage_error("dlq list: takes no arguments");
		if (cli_spool_open(cli, 1, &sp) == -1)
			return TS_EXIT_FAIL;
		rc = dlq_list(cli, sp);
	} else if (strcmp(sub, "show") == 0) {
		if (argc != 2)
			return cli_usage_error("dlq show: expected one ID");
		if (parse_id(argv[1], &id) == -1)
			return cli_usage_error(
			    "dlq show: %s: not an id", argv[1]);
		if (cli_spool_open(cli, 1, &sp) == -1)
			return TS_EXIT_FAIL;
		rc = dlq_show(cli, sp, id);
	} else if (strcmp(sub, "replay") == 0 || strcmp(sub, "purge") == 0) {
		replay = sub[0] == 'r';
		/* Everything only when asked for by name: no ID is no "all". */
		if (argc > 2 || (argc == 2) == (cli->all != 0))
			return cli_usage_error(
			    "dlq %s: expected an ID or --all", sub);
		if (argc == 2 && parse_id(argv[1], &id) == -1)
			return cli_usage_error(
			    "dlq %s: %s: not an id", sub, argv[1]);
		if (cli_spool_open(cli, 0, &sp) == -1)
			return TS_EXIT_FAIL;
		rc = dlq_move(cli, sp, replay, id);
	} else {
		return cli_usage_error(
		    "dlq %s: unknown; expected list, show, replay or purge",
		    sub);
	}
	spool_close(sp);
	if (fflush(stdout) != 0 && rc == TS_EXIT_OK)
		rc = TS_EXIT_FAIL;
	return rc;
}
