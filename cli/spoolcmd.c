/* spoolcmd.c: opening the spool files, and tracespool spool's summary. */
#include <err.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/fmt.h"
#include "common/buf.h"
#include "spool/spool.h"

int
cli_spool_open(const struct cli *cli, int readonly, struct spool **spp)
{
	/*
	 * max_bytes 0 keeps the files' map size, so a write here never
	 * shrinks the map under the daemon, and never creates a spool.
	 * sync_full: what the operator changed is on disk when we exit.
	 * Not exclusive: the daemon may be running and holding its lock.
	 */
	struct spool_opts o = {
	    .dir = cli->spool_dir,
	    .max_bytes = 0,
	    .sync_full = 1,
	    .readonly = readonly,
	    .exclusive = 0,
	};
	char err[512];

	if (spool_open(spp, &o, err, sizeof(err)) != SPOOL_OK) {
		warnx("%s", err);
		return -1;
	}
	return 0;
}

static int
print_json(const struct cli *cli, const struct spool_stats *st, uint64_t now)
{
	struct buf b;
	int rc;

	buf_init(&b);
	buf_addstr(&b, "{\"spool_dir\":");
	buf_add_json_string(&b, cli->spool_dir);
	buf_printf(&b,
	    ",\"spool_events\":%llu,\"spool_bytes\":%llu,"
	    "\"spool_used_bytes\":%llu,\"spool_limit_bytes\":%llu,"
	    "\"spool_max_bytes\":%llu,\"spool_oldest_age_ms\":%llu,"
	    "\"dead_letters\":%llu,\"evicted\":%llu,\"next_seq\":%llu}\n",
	    (unsigned long long)st->events, (unsigned long long)st->bytes,
	    (unsigned long long)st->used_bytes,
	    (unsigned long long)st->limit_bytes,
	    (unsigned long long)st->map_bytes,
	    (unsigned long long)(st->oldest_ms && now > st->oldest_ms
	            ? now - st->oldest_ms
	            : 0),
	    (unsigned long long)st->dead, (unsigned long long)st->evicted,
	    (unsigned long long)st->next_seq);
	if (buf_failed(&b)) {
		warnx("out of memory");
		buf_free(&b);
		return -1;
	}
	rc = fputs(b.data, stdout) == EOF ? -1 : 0;
	buf_free(&b);
	return rc;
}

static void
print_summary(const struct cli *cli, const struct spool_stats *st, uint64_t now)
{
	char a[64], b[64], c[64];

	printf("spool dir:      %s\n", cli->spool_dir);
	printf("events:         %llu (%s)\n", (unsigned long long)st->events,
	    fmt_bytes(st->bytes, a, sizeof(a)));
	if (st->oldest_ms != 0)
		printf("oldest event:   %s (%s ago)\n",
		    fmt_time(st->oldest_ms, a, sizeof(a)),
		    fmt_age(now > st->oldest_ms ? now - st->oldest_ms : 0, b,
		        sizeof(b)));
	printf("dead letters:   %llu%s\n", (unsigned long long)st->dead,
	    st->dead > 0 ? " (tracespool dlq list)" : "");
	if (st->evicted > 0)
		printf(
		    "evicted (full): %llu\n", (unsigned long long)st->evicted);
	printf("space:          %s used of %s (%.0f%%; map %s)\n",
	    fmt_bytes(st->used_bytes, a, sizeof(a)),
	    fmt_bytes(st->limit_bytes, b, sizeof(b)),
	    st->limit_bytes > 0
	        ? 100.0 * (double)st->used_bytes / (double)st->limit_bytes
	        : 0.0,
	    fmt_bytes(st->map_bytes, c, sizeof(c)));
}

int
cmd_spool(const struct cli *cli, int argc, char **argv)
{
	struct spool_stats st;
	struct spool *sp;

	(void)argv;
	if (argc != 0)
		return cli_usage_error("spool: takes no arguments");
	if (cli_spool_open(cli, 1, &sp) == -1)
		return TS_EXIT_FAIL;
	if (spool_stat(sp, &st) != SPOOL_OK) {
		warnx("%s: %s", cli->spool_dir, spool_strerror());
		spool_close(sp);
		return TS_EXIT_FAIL;
	}
	spool_close(sp);
	if (cli->json) {
		if (print_json(cli, &st, fmt_now_ms()) == -1)
			return TS_EXIT_FAIL;
	} else {
		print_summary(cli, &st, fmt_now_ms());
	}
	return fflush(stdout) == 0 ? TS_EXIT_OK : TS_EXIT_FAIL;
}
