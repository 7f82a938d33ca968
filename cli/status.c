/* status.c: tracespool status: GET /stats, readable or as raw JSON. */
#include <cjson/cJSON.h>
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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
	print_spans(o);
	print_redactions(o);
}

int
cmd_status(const struct cli *cli, int argc, char **argv)
{
	struct client *cl;
	struct client_resp r;
	char err[512];
	cJSON *o;
	int rc;

	(void)argv;
	if (argc != 0)
		return cli_usage_error("status: takes no arguments");
	if (client_open(&cl, cli->socket, cli->url, err, sizeof(err)) !=
	    CLIENT_OK) {
		warnx("%s", err);
		return TS_EXIT_FAIL;
	}
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
	client_close(cl);
	return rc;
}
