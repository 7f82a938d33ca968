/* status.c: tracespool status: GET /stats, readable or as raw JSON, once or
 * redrawn every few seconds (--watch). */
#include <cjson/cJSON.h>
#include <err.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/fmt.h"

/* A counter of the stats object: 0 with *have 0 when absent. */
static uint64_t
num(const cJSON *o, const char *name, int *have)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*have = cJSON_IsNumber(v) && v->valuedouble >= 0;
	return *have ? (uint64_t)v->valuedouble : 0;
}

/* A rate or a duration: -1 with *have 1 when the member is null (never). */
static double
real(const cJSON *o, const char *name, int *have)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	*have = cJSON_IsNumber(v) || cJSON_IsNull(v);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? v->valuedouble : -1;
}

static const char *
str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The OTLP side, once the daemon has seen an export. */
static void
print_spans(const cJSON *o)
{
	uint64_t recv, exp, fwd, dead, partial;
	int have, h2, h3, h4, h5;

	recv = num(o, "spans_received", &have);
	exp = num(o, "exports_received", &h2);
	fwd = num(o, "spans_forwarded", &h3);
	dead = num(o, "spans_dead_lettered", &h4);
	partial = num(o, "spans_rejected_upstream", &h5);
	if (!have || (recv == 0 && exp == 0))
		return;
	printf("spans received:    %llu in %llu export%s",
	    (unsigned long long)recv, (unsigned long long)exp,
	    exp == 1 ? "" : "s");
	exp = num(o, "exports_rejected", &have);
	if (have && exp > 0)
		printf(", %llu export%s rejected", (unsigned long long)exp,
		    exp == 1 ? "" : "s");
	printf("\n");
	if (h3)
		printf("spans forwarded:   %llu\n", (unsigned long long)fwd);
	if (h4 && dead > 0)
		printf("spans dead:        %llu\n", (unsigned long long)dead);
	if (h5 && partial > 0)
		printf(
		    "spans refused by the upstream (partial success): %llu\n",
		    (unsigned long long)partial);
}

/* Matches per redaction rule, when rules are in force. */
static void
print_redactions(const cJSON *o)
{
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "redactions");
	const cJSON *c;

	if (!cJSON_IsObject(r) || r->child == NULL)
		return;
	printf("redactions:       ");
	for (c = r->child; c != NULL; c = c->next)
		printf(" %s %.0f%s", c->string, c->valuedouble,
		    c->next != NULL ? "," : "\n");
}

/* How the uploads go: concurrency against its ceiling, latency, the cap. */
static void
print_uploads(const cJSON *o)
{
	uint64_t lim, max, in, rtt, floor_ms, waited;
	int h1, h2, h3, h4, h5, h6;

	lim = num(o, "upload_concurrency", &h1);
	max = num(o, "upload_concurrency_max", &h2);
	in = num(o, "upload_inflight", &h3);
	rtt = num(o, "upstream_rtt_ms", &h4);
	floor_ms = num(o, "upstream_rtt_floor_ms", &h5);
	waited = num(o, "upload_rate_limited", &h6);
	if (!h1 || !h2 || !h3)
		return;
	printf("uploads:           %llu in flight, limit %llu of %llu",
	    (unsigned long long)in, (unsigned long long)lim,
	    (unsigned long long)max);
	if (h4 && h5 && rtt > 0)
		printf("; latency %llu ms (floor %llu ms)",
		    (unsigned long long)rtt, (unsigned long long)floor_ms);
	printf("\n");
	if (h6 && waited > 0)
		printf("rate limit:        %llu request%s waited for "
		       "upload_rate_limit\n",
		    (unsigned long long)waited, waited == 1 ? "" : "s");
}

/* A duration in seconds, or what -1 (never) means here. */
static const char *
seconds(double s, const char *never, char *out, size_t outlen)
{
	if (s < 0)
		return never;
	return fmt_age((uint64_t)(s * 1000), out, outlen);
}

/*
 * The rates and what they mean for the spool: how long it takes an outage
 * at the current ingest before when_full applies, and when the backlog is
 * gone at the current drain.
 */
static void
print_runway(const cJSON *o)
{
	double in, in_b, out, runway, eta;
	int h1, h2, h3, h4, h5;
	char a[64];

	in = real(o, "ingest_rate", &h1);
	in_b = real(o, "ingest_bytes_rate", &h2);
	out = real(o, "drain_rate", &h3);
	runway = real(o, "runway_s", &h4);
	eta = real(o, "drain_eta_s", &h5);
	if (!h1 || !h3)
		return;
	printf("ingest:            %.1f records/s", in > 0 ? in : 0);
	if (h2 && in_b > 0)
		printf(" (%s/s)", fmt_bytes((uint64_t)in_b, a, sizeof(a)));
	printf("\ndrain:             %.1f records/s\n", out > 0 ? out : 0);
	if (h4 && runway < 0)
		printf("runway:            no ingest: the spool is not "
		       "filling\n");
	else if (h4)
		printf("runway:            %s at this ingest with nothing "
		       "forwarded, then when_full applies\n",
		    seconds(runway, "", a, sizeof(a)));
	if (h5 && eta == 0)
		printf("backlog gone in:   now: nothing waits\n");
	else if (h5)
		printf("backlog gone in:   %s\n",
		    seconds(eta,
		        "never at these rates (the drain does not outpace the "
		        "ingest)",
		        a, sizeof(a)));
}

/*
 * Print what an operator looks at first: is the forwarder moving, and if
 * not, why; then how much waits in the spool. Fields the daemon does not
 * give are left out rather than shown as zero.
 */
static void
print_summary(const cJSON *o)
{
	const char *state = str(o, "forwarder_state");
	const char *reason = str(o, "forwarder_reason");
	char a[64], b[64];
	uint64_t v, w;
	int have, have2;

	printf("forwarder:         %s", state != NULL ? state : "unknown");
	if (reason != NULL && reason[0] != '\0')
		printf(" (%s)", reason);
	v = num(o, "backoff_ms", &have);
	if (have && v > 0 && state != NULL && strcmp(state, "backoff") == 0)
		printf(", next try in %s", fmt_age(v, a, sizeof(a)));
	printf("\n");
	v = num(o, "upstream_last_status", &have);
	if (have && v == 0)
		printf("upstream status:   none yet\n");
	else if (have)
		printf("upstream status:   %llu\n", (unsigned long long)v);
	v = num(o, "events_forwarded", &have);
	if (have)
		printf("events forwarded:  %llu\n", (unsigned long long)v);
	v = num(o, "retries", &have);
	if (have && v > 0)
		printf("upstream retries:  %llu\n", (unsigned long long)v);
	print_uploads(o);

	v = num(o, "spool_events", &have);
	w = num(o, "spool_bytes", &have2);
	printf("spool:             %llu events, %s\n", (unsigned long long)v,
	    fmt_bytes(w, a, sizeof(a)));
	v = num(o, "spool_oldest_age_ms", &have);
	if (have && v > 0)
		printf("oldest event:      %s old\n", fmt_age(v, a, sizeof(a)));
	v = num(o, "spool_used_bytes", &have);
	w = num(o, "spool_limit_bytes", &have2);
	if (have && have2 && w > 0)
		printf("spool space:       %s used of %s (%.0f%%)\n",
		    fmt_bytes(v, a, sizeof(a)), fmt_bytes(w, b, sizeof(b)),
		    100.0 * (double)v / (double)w);
	v = num(o, "dead_letters", &have);
	printf("dead letters:      %llu%s\n", (unsigned long long)v,
	    v > 0 ? " (tracespool dlq list)" : "");
	v = num(o, "evicted", &have);
	if (have && v > 0)
		printf("evicted (full):    %llu\n", (unsigned long long)v);
	v = num(o, "events_received", &have);
	w = num(o, "events_rejected", &have2);
	if (have) {
		printf(
		    "events received:   %llu accepted", (unsigned long long)v);
		if (have2)
			printf(", %llu rejected", (unsigned long long)w);
		printf("\n");
	}
	print_runway(o);
	print_spans(o);
	print_redactions(o);
}

/*
 * GET /stats and print it: the daemon's text with --json, the summary
 * otherwise. Returns an exit code; says why on stderr when it is not 0.
 */
static int
show(struct client *cl, const struct cli *cli)
{
	struct client_resp r;
	char err[512];
	cJSON *o;
	int rc;

	client_resp_init(&r);
	rc = client_get(cl, "/stats", &r, err, sizeof(err));
	if (rc != CLIENT_OK) {
		warnx("%s", err);
		rc = rc == CLIENT_UNREACHABLE ? TS_EXIT_UNAVAILABLE
		                              : TS_EXIT_FAIL;
		goto out;
	}
	if (r.status != 200) {
		client_resp_error(&r, err, sizeof(err));
		warnx("GET /stats: %ld: %s", r.status, err);
		rc = TS_EXIT_FAIL;
		goto out;
	}
	o = cJSON_ParseWithLength(r.body.data, r.body.len);
	if (!cJSON_IsObject(o)) {
		warnx("GET /stats: the answer is not a JSON object");
		cJSON_Delete(o);
		rc = TS_EXIT_FAIL;
		goto out;
	}
	if (cli->json) {
		/* The daemon's own text: nothing lost to reformatting. */
		fwrite(r.body.data, 1, r.body.len, stdout);
		if (r.body.len == 0 || r.body.data[r.body.len - 1] != '\n')
			putchar('\n');
	} else {
		print_summary(o);
	}
	cJSON_Delete(o);
	rc = fflush(stdout) == 0 ? TS_EXIT_OK : TS_EXIT_FAIL;
out:
	client_resp_free(&r);
	return rc;
}

static volatile sig_atomic_t watch_stop;

static void
on_stop(int sig)
{
	(void)sig;
	watch_stop = 1;
}

/*
 * Redraw the status every cli->watch_s seconds, like top, until SIGINT or
 * SIGTERM: on a terminal the screen is cleared first; otherwise each
 * round is a block after a time line (or a JSON line with --json). A
 * daemon that stops answering is reported and tried again, so that a
 * restart can be watched. Exits 0 when interrupted.
 */
static int
watch(const struct cli *cli)
{
	struct sigaction sa;
	struct client *cl = NULL;
	struct timespec ts;
	int tty = isatty(STDOUT_FILENO), rc;
	char err[512], when[32];
	unsigned left;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!watch_stop) {
		if (cl == NULL &&
		    client_open(&cl, cli->socket, cli->url, err, sizeof(err)) !=
		        CLIENT_OK) {
			warnx("%s", err);
			return TS_EXIT_FAIL;
		}
		fmt_time(fmt_now_ms(), when, sizeof(when));
		if (tty)
			printf("\033[H\033[2J");
		if (!cli->json)
			printf("tracespool status at %s, every %us (Ctrl-C to "
			       "stop)\n\n",
			    when, cli->watch_s);
		fflush(stdout);
		rc = show(cl, cli);
		if (rc != TS_EXIT_OK) {
			/* A fresh connection next time: the daemon may restart.
			 */
			client_close(cl);
			cl = NULL;
		}
		if (!cli->json && !tty)
			printf("\n");
		fflush(stdout);
		/* Whole seconds, each cut short by a signal. */
		for (left = cli->watch_s; left > 0 && !watch_stop; left--) {
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
			nanosleep(&ts, NULL);
		}
	}
	client_close(cl);
	return TS_EXIT_OK;
}

int
cmd_status(const struct cli *cli, int argc, char **argv)
{
	struct client *cl;
	char err[512];
	int rc;

	(void)argv;
	if (argc != 0)
		return cli_usage_error("status: takes no arguments");
	if (cli->watch_s > 0)
		return watch(cli);
	if (client_open(&cl, cli->socket, cli->url, err, sizeof(err)) !=
	    CLIENT_OK) {
		warnx("%s", err);
		return TS_EXIT_FAIL;
	}
	rc = show(cl, cli);
	client_close(cl);
	return rc;
}
