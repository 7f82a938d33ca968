/* body_bench.c: a driver for counting what the body step (body_take) costs an
 * event, under callgrind: one event as POST /events, or a batch of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/kind.h"
#include "common/uuid.h"
#include "daemon/body.h"
#include "daemon/jsonmem.h"
#include "redact/redact.h"
#include "tests/support/bench.h"

/*
 * Usage: body_bench [-e event.json] [-b events] [-n bodies] [-t] [-r rules]
 *
 * The event (minified) is the body {"event": EVENT} of POST /events, or
 * with -b the body {"events": [EVENT, ...]} of POST /events/batch. The
 * body goes through body_take n times, as ingest calls it (cJSON's arena
 * installed, no redaction rules), with ids from a counter, so that every
 * run does the same work. -t reads the body through a cJSON tree
 * (body_opts.tree_only), the old path of redaction rules. -r loads a redaction
 * rules file (hash key "bench-secret"), as redact_rules does; the counts of
 * its matches are printed too. Nothing is timed:
 * the machine is shared, so the number to read is callgrind's instruction count
 * for body_take, e.g.
 *
 *   valgrind --tool=callgrind --toggle-collect=body_take \
 *       build/bench/body_bench -b 100 -n 200
 *
 * divided by the events taken (printed on stdout, with the bytes spooled,
 * so that a broken body cannot pass for a fast one).
 */

static void
report(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "body_bench: %s\n", msg);
}

struct counter {
	uint64_t n;
};

static void
counter_uuid(char *out, void *arg)
{
	struct counter *c = arg;
	unsigned char b[16] = {0};

	c->n++;
	memcpy(b, &c->n, sizeof(c->n));
	uuid_format(b, out);
}

/* The request body: the event alone, or batch copies of it. */
static int
make_body(const struct bench_event *ev, long batch, struct buf *body)
{
	long i;

	if (batch == 0) {
		buf_addstr(body, "{\"event\":");
		buf_add(body, ev->text, ev->len);
		buf_addch(body, '}');
	} else {
		buf_addstr(body, "{\"events\":[");
		for (i = 0; i < batch; i++) {
			if (i > 0)
				buf_addch(body, ',');
			buf_add(body, ev->text, ev->len);
		}
		buf_addstr(body, "]}");
	}
	return buf_failed(body) ? -1 : 0;
}

int
main(int argc, char **argv)
{
	const char *path = "tests/data/reference_event.json";
	const struct kind_route *route = NULL;
	struct bench_event ev;
	struct body_opts opts;
	struct body_req req;
	struct body_out out;
	struct counter ids = {0};
	struct redact *rules = NULL;
	static uint64_t counts[REDACT_MAX_RULES];
	const char *rules_path = NULL;
	struct buf body;
	uint64_t events = 0, bytes = 0, matches = 0;
	long n = 1000, batch = 0, i;
	char err[512], allow[32];
	int c, status, tree = 0;

	while ((c = getopt(argc, argv, "e:b:n:tr:")) != -1) {
		switch (c) {
		case 'e':
			path = optarg;
			break;
		case 'b':
			batch = atol(optarg);
			break;
		case 'n':
			n = atol(optarg);
			break;
		case 't':
			tree = 1;
			break;
		case 'r':
			rules_path = optarg;
			break;
		default:
			fprintf(stderr,
			    "usage: body_bench [-e event.json] [-b events] "
			    "[-n bodies] [-t] [-r rules]\n");
			return 2;
		}
	}
	if (n <= 0 || batch < 0 || bench_event_load(path, &ev) == -1)
		return 2;
	buf_init(&body);
	if (make_body(&ev, batch, &body) == -1)
		return 1;
	if (rules_path != NULL &&
	    redact_load(&rules, rules_path, "bench-secret", 12, report, NULL) !=
	        0)
		return 1;
	jsonmem_install();
	memset(&opts, 0, sizeof(opts));
	opts.max_event_bytes = 1024 * 1024;
	opts.max_body_bytes = 16 * 1024 * 1024;
	opts.default_project = "bench";
	opts.uuid_gen = counter_uuid;
	opts.uuid_arg = &ids;
	opts.tree_only = tree;
	opts.redact = rules;
	opts.redact_counts = counts;
	memset(&req, 0, sizeof(req));
	req.kind = kind_route("POST", batch > 0 ? "/events/batch" : "/events",
	    &route, allow, sizeof(allow));
	req.route = route;
	req.body = body.data;
	req.len = body.len;
	req.content_type = "application/json";
	body_out_init(&out);
	for (i = 0; i < n; i++) {
		status = body_take(&opts, &req, &out, err, sizeof(err));
		if (status != 0) {
			fprintf(stderr, "body_bench: %d %s\n", status, err);
			return 1;
		}
		events += out.items;
		bytes += out.data.len;
	}
	for (i = 0; rules != NULL && (size_t)i < redact_rules(rules); i++)
		matches += counts[i];
	printf("{\"bench\":\"body\",\"bodies\":%ld,\"events\":%llu,"
	       "\"body_bytes\":%zu,\"spooled_bytes\":%llu,"
	       "\"redactions\":%llu}\n",
	    n, (unsigned long long)events, body.len, (unsigned long long)bytes,
	    (unsigned long long)matches);
	redact_free(rules);
	body_out_free(&out);
	buf_free(&body);
	free(ev.text);
	return 0;
}
