/* rules.h: the redaction rules as the daemon runs them: loaded from the
 * configuration with their secret, checked against every record kind,
 * counted per rule across reloads. */
#ifndef TS_RULES_H
#define TS_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf;
struct redact;

/*
 * A loaded rule set and one match counter per rule. It is applied on the
 * event loop only (the rules keep their match scratch inside); its
 * counters are read there too, by /stats and /metrics.
 */
struct rules;

/*
 * Load the rules file of c->redact_rules, with the hash secret of
 * conf_redact_key_load when the file has a hash rule, and refuse a rule
 * that would make every record of some kind invalid (a drop of a required
 * field, a value rule turning an object into a string). Every problem is
 * reported through report as "<file>:<line>: <what>" or "redact_rules:
 * <what>". Returns 0 with *out set, or NULL when redact_rules is empty (no
 * rules: nothing is redacted); -1 after reporting.
 */
int rules_load(const struct conf *c, struct rules **out,
    void (*report)(const char *msg, void *arg), void *arg);
void rules_free(struct rules *rs);

/*
 * Carry the counts of old's rules into the rules of the same name in rs,
 * so that a reload keeps every counter that still has a rule (Prometheus
 * counters never go down). old may be NULL.
 */
void rules_inherit(struct rules *rs, const struct rules *old);

/* What body_opts takes; valid as long as rs. */
struct redact *rules_redact(struct rules *rs);
uint64_t *rules_counts(struct rules *rs);

/* The rules, for /stats and /metrics: count, name and matches of rule i. */
size_t rules_count(const struct rules *rs);
const char *rules_name(const struct rules *rs, size_t i);
uint64_t rules_matches(const struct rules *rs, size_t i);

/* 1 when the rules run on PCRE2's JIT (see redact_jit). */
int rules_jit(const struct rules *rs);

/* The compiled rules, for tracespoold -t: a header comment, then one a line. */
void rules_print(const struct rules *rs, FILE *fp);

#endif
