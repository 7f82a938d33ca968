/* rules.c: the daemon's redaction rules: loading, checking, counting. */
#include "daemon/rules.h"

#include <stdlib.h>
#include <string.h>

#include "common/kind.h"
#include "conf/conf.h"
#include "redact/redact.h"

struct rules {
	struct redact *r;
	uint64_t *counts;
	char *path;
};

int
rules_load(const struct conf *c, struct rules **out,
    void (*report)(const char *msg, void *arg), void *arg)
{
	struct rules *rs;
	char *key = NULL, err[512], msg[600];
	int rc;

	*out = NULL;
	if (c->redact_rules[0] == '\0')
		return 0;
	if (conf_redact_key_load(c, &key, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "redact_hash_key: %s", err);
		report(msg, arg);
		return -1;
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL ||
	    (rs->path = strdup(c->redact_rules)) == NULL) {
		report("redact_rules: out of memory", arg);
		goto fail;
	}
	rc = redact_load(&rs->r, c->redact_rules, key,
	    key != NULL ? strlen(key) : 0, report, arg);
	if (rc != 0)
		goto fail;
	if (redact_check_required(
	        rs->r, kind_redact_required, err, sizeof(err)) == -1) {
		snprintf(msg, sizeof(msg), "%s", err);
		report(msg, arg);
		goto fail;
	}
	rs->counts = calloc(redact_rules(rs->r) + 1, sizeof(*rs->counts));
	if (rs->counts == NULL) {
		report("redact_rules: out of memory", arg);
		goto fail;
	}
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	*out = rs;
	return 0;
fail:
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	rules_free(rs);
	return -1;
}

void
rules_free(struct rules *rs)
{
	if (rs == NULL)
		return;
	redact_free(rs->r);
	free(rs->counts);
	free(rs->path);
	free(rs);
}

void
rules_inherit(struct rules *rs, const struct rules *old)
{
	if (rs == NULL || old == NULL)
		return;
	for (size_t i = 0; i < rules_count(rs); i++)
		for (size_t j = 0; j < rules_count(old); j++)
			if (strcmp(rules_name(rs, i), rules_name(old, j)) == 0)
				rs->counts[i] = old->counts[j];
}

struct redact *
rules_redact(struct rules *rs)
{
	return rs != NULL ? rs->r : NULL;
}

uint64_t *
rules_counts(struct rules *rs)
{
	return rs != NULL ? rs->counts : NULL;
}

size_t
rules_count(const struct rules *rs)
{
	return rs != NULL ? redact_rules(rs->r) : 0;
}

const char *
rules_name(const struct rules *rs, size_t i)
{
	return redact_rule_name(rs->r, i);
}

uint64_t
rules_matches(const struct rules *rs, size_t i)
{
	return rs->counts[i];
}

int
rules_jit(const struct rules *rs)
{
	return rs != NULL && redact_jit(rs->r);
}

void
rules_print(const struct rules *rs, FILE *fp)
{
	if (rs == NULL)
		return;
	fprintf(fp, "# redaction rules from %s (%zu), as compiled:\n", rs->path,
	    rules_count(rs));
	redact_print(rs->r, fp);
}
