/* redact_bench.c: what redaction costs per event: redact_tree on the
 * reference event with five typical rules, with no match and with one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tests/support/bench.h"
#include "redact/redact.h"

/*
 * Usage: redact_bench [-e event.json] [-n events]
 *
 * The rules are the contract's example without its user-email and
 * prompts rules, plus a bearer rule: four "*" detectors and one field:
 * expression. Three timings, each the median of five rounds of n events:
 *   parse     cJSON_ParseWithLength of the minified event (the unit of
 *             ingest's own work, for scale);
 *   nomatch   redact_tree on the parsed event, which nothing matches (the
 *             tree is never changed, so one tree serves every round);
 *   onematch  parse + redact_tree of the event with an e-mail address in
 *             inputs.question, minus parse: a fresh tree each time, since
 *             the mask changes it; plus what printing it again costs.
 * Prints one JSON line, nanoseconds per event.
 */

static const char rules[] = "emails   *                email            mask\n"
                            "cards    *                card             mask\n"
                            "keys     *                apikey           mask\n"
                            "accounts field:inputs.*   /ACCT-[0-9]{6}/  mask\n"
                            "tokens   *                bearer           mask\n";

#define ROUNDS 5

static void
report(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "redact_bench: %s\n", msg);
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
median(uint64_t *v)
{
	qsort(v, ROUNDS, sizeof(*v), cmp_u64);
	return v[ROUNDS / 2];
}

/* ns per event of parsing text (and with r, redacting; with print,
 * printing too). Exits on a failure. */
static uint64_t
parse_round(const char *text, size_t len, long n, struct redact *r,
    uint64_t *counts, int print, int expect)
{
	uint64_t t0 = bench_now_ns();
	long i;

	for (i = 0; i < n; i++) {
		cJSON *j = cJSON_ParseWithLength(text, len);
		int rc;

		if (j == NULL) {
			fprintf(stderr, "redact_bench: event does not parse\n");
			exit(1);
		}
		if (r != NULL && (rc = redact_tree(r, j, counts)) != expect) {
			fprintf(stderr, "redact_bench: %d changes, not %d\n",
			    rc, expect);
			exit(1);
		}
		if (print)
			free(cJSON_PrintUnformatted(j));
		cJSON_Delete(j);
	}
	return (bench_now_ns() - t0) / (uint64_t)n;
}

int
main(int argc, char **argv)
{
	const char *path = "tests/data/reference_event.json";
	static const char anchor[] = "\"What is in the context?";
	static const char email[] = " Write to jane.doe@example.com.";
	struct bench_event ev;
	struct redact *r;
	uint64_t counts[5] = {0}, parse[ROUNDS], nomatch[ROUNDS],
	         onematch[ROUNDS], printed[ROUNDS];
	char *hit, *at;
	size_t hitlen, pre;
	long n = 200000, i;
	int c, k;
	cJSON *tree;

	while ((c = getopt(argc, argv, "e:n:")) != -1) {
		switch (c) {
		case 'e':
			path = optarg;
			break;
		case 'n':
			n = atol(optarg);
			break;
		default:
			fprintf(stderr,
			    "usage: redact_bench [-e event.json] [-n "
			    "events]\n");
			return 2;
		}
	}
	if (n <= 0 || bench_event_load(path, &ev) == -1)
		return 2;
	if (redact_load_string(&r, "bench", rules, sizeof(rules) - 1, NULL, 0,
	        report, NULL) != 0)
		return 1;
	/* The one-match event: the address at the end of inputs.question. */
	if ((at = strstr(ev.text, anchor)) == NULL) {
		fprintf(stderr, "redact_bench: %s has no %s\n", path, anchor);
		return 2;
	}
	pre = (size_t)(at - ev.text) + sizeof(anchor) - 1;
	hitlen = ev.len + sizeof(email) - 1;
	if ((hit = malloc(hitlen + 1)) == NULL)
		return 1;
	memcpy(hit, ev.text, pre);
	memcpy(hit + pre, email, sizeof(email) - 1);
	memcpy(hit + pre + sizeof(email) - 1, ev.text + pre, ev.len - pre + 1);

	if ((tree = cJSON_ParseWithLength(ev.text, ev.len)) == NULL)
		return 1;
	for (k = 0; k < ROUNDS; k++) {
		uint64_t t0;

		parse[k] = parse_round(ev.text, ev.len, n, NULL, NULL, 0, 0);
		t0 = bench_now_ns();
		for (i = 0; i < n; i++)
			if (redact_tree(r, tree, counts) != 0) {
				fprintf(stderr,
				    "redact_bench: the reference "
				    "event matched\n");
				return 1;
			}
		nomatch[k] = (bench_now_ns() - t0) / (uint64_t)n;
		onematch[k] = parse_round(hit, hitlen, n, r, counts, 0, 1);
		printed[k] = parse_round(hit, hitlen, n, r, counts, 1, 1);
	}
	printf("{\"bench\":\"redact\",\"events\":%ld,\"rules\":%zu,"
	       "\"jit\":%s,\"parse_ns\":%llu,\"nomatch_ns\":%llu,"
	       "\"onematch_ns\":%llu,\"onematch_print_ns\":%llu}\n",
	    n, redact_rules(r), redact_jit(r) ? "true" : "false",
	    (unsigned long long)median(parse),
	    (unsigned long long)median(nomatch),
	    (unsigned long long)(median(onematch) - median(parse)),
	    (unsigned long long)(median(printed) - median(parse)));
	cJSON_Delete(tree);
	redact_free(r);
	free(hit);
	free(ev.text);
	return 0;
}
