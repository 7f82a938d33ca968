/* spool_dump.c: test tool that prints a spool's records as JSON lines,
 * read-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/kind.h"
#include "spool/spool.h"

/*
 * Usage: spool_dump SPOOL_DIR [dead]. Each line: {"seq":N,"kind":K,
 * "time_ms":T,"count":C,"has_auth":B,"event":<the stored JSON>}, where a
 * protobuf span record has "protobuf_bytes":N and a JSON one
 * "resourceSpans":[...] instead of "event" (a client key is never printed);
 * with "dead", the dead letters as
 * {"id":N,"seq":S,"status":C,"attempts":A,"reason":"...","event":...}.
 */
int
main(int argc, char **argv)
{
	struct spool_opts o = {0};
	struct spool_batch b = {0};
	struct spool *sp;
	char err[512];
	uint64_t from = 0;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: spool_dump SPOOL_DIR [dead]\n");
		return 2;
	}
	o.dir = argv[1];
	o.readonly = 1;
	if (spool_open(&sp, &o, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "spool_dump: %s\n", err);
		return 1;
	}
	if (argc > 2) {
		struct spool_dead *d;
		size_t n;

		do {
			if (spool_dead_list(sp, from, 1000, &d, &n) !=
			    SPOOL_OK) {
				fprintf(stderr, "spool_dump: %s\n",
				    spool_strerror());
				rc = 1;
				break;
			}
			for (size_t i = 0; i < n; i++) {
				struct buf r;

				buf_init(&r);
				buf_add_json_string(&r, d[i].reason);
				printf(
				    "{\"id\":%llu,\"seq\":%llu,\"status\":%d,"
				    "\"attempts\":%u,\"reason\":%s,"
				    "\"event\":%s}\n",
				    (unsigned long long)d[i].id,
				    (unsigned long long)d[i].seq, d[i].status,
				    d[i].attempts,
				    buf_failed(&r) ? "null" : r.data,
				    d[i].data);
				buf_free(&r);
				from = d[i].id + 1;
				spool_dead_clear(&d[i]);
			}
			free(d);
		} while (n > 0);
		spool_close(sp);
		return rc;
	}
	for (;;) {
		if (spool_read(sp, from, 1000, 1 << 24, &b) != SPOOL_OK) {
			fprintf(stderr, "spool_dump: %s\n", spool_strerror());
			rc = 1;
			break;
		}
		if (b.n == 0)
			break;
		for (size_t i = 0; i < b.n; i++) {
			const struct spool_item *it = &b.items[i];

			printf("{\"seq\":%llu,\"kind\":%u,\"time_ms\":%llu,"
			       "\"count\":%u,\"has_auth\":%s,",
			    (unsigned long long)it->seq, (unsigned)it->kind,
			    (unsigned long long)it->time_ms,
			    (unsigned)it->count,
			    it->auth != NULL ? "true" : "false");
			/* Span records: protobuf by size, JSON as its array. */
			if (it->kind == KIND_SPANS_PB)
				printf("\"protobuf_bytes\":%zu}\n", it->len);
			else if (it->kind == KIND_SPANS_JSON)
				printf("\"resourceSpans\":[%s]}\n", it->data);
			else
				printf("\"event\":%s}\n", it->data);
		}
		from = b.items[b.n - 1].seq + 1;
	}
	spool_batch_free(&b);
	spool_close(sp);
	return rc;
}
