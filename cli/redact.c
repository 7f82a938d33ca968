/* redact.c: tracespool redact-test: what a record looks like after a rules
 * file, to try rules before deploying them. */
#include <cjson/cJSON.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/kind.h"
#include "redact/redact.h"

/* A record file larger than this is not a record (max_body_bytes' default). */
#define INPUT_MAX (16 * 1024 * 1024)
#define KEY_MAX (64 * 1024)

static void
report(const char *msg, void *arg)
{
	(void)arg;
	warnx("%s", msg);
}

/* Read a whole file (or stdin for NULL or "-") into b. 0 or -1 (said why). */
static int
read_all(const char *path, size_t max, struct buf *b)
{
	FILE *f = stdin;
	char chunk[65536];
	size_t n;

	if (path != NULL && strcmp(path, "-") != 0 &&
	    (f = fopen(path, "rb")) == NULL) {
		warn("%s", path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b->len + n > max || buf_add(b, chunk, n) == -1) {
			warnx("%s: larger than %zu bytes",
			    path != NULL ? path : "stdin", max);
			n = 0;
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	return n == 0 && b->len <= max ? 0 : -1;
}

/* The secret of the hash action, trimmed of surrounding white space. */
static int
load_key(const char *path, struct buf *key)
{
	size_t s = 0;

	if (path == NULL)
		return 0;
	if (read_all(path, KEY_MAX, key) == -1)
		return -1;
	while (key->len > 0 && (unsigned char)key->data[key->len - 1] <= ' ')
		key->data[--key->len] = '\0';
	while (s < key->len && (unsigned char)key->data[s] <= ' ')
		s++;
	memmove(key->data, key->data + s, key->len - s + 1);
	key->len -= s;
	return 0;
}

/*
 * Apply the rules to what the body holds: an OTLP JSON export's
 * resourceSpans, the records of an event API body (event, events,
 * session, model_event, model_events), or the object itself (an update,
 * or a bare event). Returns the changes, or -1.
 */
static int
apply(struct redact *r, cJSON *root, uint64_t *counts)
{
	static const char *const members[] = {
	    "event", "events", "session", "model_event", "model_events"};
	cJSON *m, *e;
	int n = 0, rc;

	if ((m = cJSON_GetObjectItemCaseSensitive(root, "resourceSpans")) !=
	    NULL)
		return redact_otlp_json(r, m, counts);
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		m = cJSON_GetObjectItemCaseSensitive(root, members[i]);
		if (cJSON_IsObject(m))
			return redact_tree(r, m, counts);
		if (!cJSON_IsArray(m))
			continue;
		cJSON_ArrayForEach(e, m) {
			if (!cJSON_IsObject(e))
				continue;
			if ((rc = redact_tree(r, e, counts)) == -1)
				return -1;
			n += rc;
		}
		return n;
	}
	return redact_tree(r, root, counts);
}

int
cmd_redact_test(const struct cli *cli, int argc, char **argv)
{
	struct redact *r = NULL;
	struct buf key, in;
	uint64_t *counts = NULL;
	cJSON *root = NULL;
	char err[512], *out;
	int rc = TS_EXIT_FAIL, changes;

	if (argc < 1 || argc > 2)
		return cli_usage_error("redact-test: expected RULES [FILE]");
	buf_init(&key);
	buf_init(&in);
	if (load_key(cli->hash_key_file, &key) == -1) {
		rc = TS_EXIT_CONFIG;
		goto out;
	}
	if (redact_load(&r, argv[0], key.data, key.len, report, NULL) != 0) {
		rc = TS_EXIT_CONFIG;
		goto out;
	}
	if (redact_check_required(r, kind_redact_required, err, sizeof(err)) ==
	    -1) {
		warnx("%s", err);
		rc = TS_EXIT_CONFIG;
		goto out;
	}
	if (read_all(argc > 1 ? argv[1] : NULL, INPUT_MAX, &in) == -1)
		goto out;
	root = cJSON_ParseWithLength(in.data != NULL ? in.data : "", in.len);
	if (!cJSON_IsObject(root)) {
		warnx("%s: not a JSON object", argc > 1 ? argv[1] : "stdin");
		goto out;
	}
	counts = calloc(redact_rules(r) + 1, sizeof(*counts));
	if (counts == NULL || (changes = apply(r, root, counts)) == -1) {
		warnx("cannot apply the rules (out of memory, or nested too "
		      "deep)");
		goto out;
	}
	if ((out = cJSON_Print(root)) == NULL) {
		warnx("out of memory");
		goto out;
	}
	printf("%s\n", out);
	cJSON_free(out);
	fprintf(stderr, "%d change%s", changes, changes == 1 ? "" : "s");
	for (size_t i = 0; i < redact_rules(r); i++)
		if (counts[i] > 0)
			fprintf(stderr, "%s %s: %llu", i > 0 ? "," : ":",
			    redact_rule_name(r, i),
			    (unsigned long long)counts[i]);
	fprintf(stderr, "\n");
	rc = TS_EXIT_OK;
out:
	cJSON_Delete(root);
	free(counts);
	redact_free(r);
	if (key.data != NULL)
		explicit_bzero(key.data, key.cap);
	buf_free(&key);
	buf_free(&in);
	return rc;
}
