/* redact.h: the redaction engine: a rules file compiled once, applied to event
 * trees, OTLP JSON and span attributes before anything is spooled. */
#ifndef TS_REDACT_H
#define TS_REDACT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"

struct cJSON;

/*
 * Rules. One rule a line, "name where what action" (redact/RULES.md is the
 * user's description, with every detector's exact reach):
 *   name    [A-Za-z0-9_.-]{1,64}, unique in the file; it is the Prometheus
 *           label value and the text of "[REDACTED:<name>]".
 *   where   "*"           every string value of the record;
 *           "field:PATH"  an event, session or update field path: member
 *                         names separated by '.', "*" matching any one
 *                         member or array element, a decimal segment ("0")
 *                         matching an array element by index as well as a
 *                         member of that name;
 *           "attr:KEY"    a span, span-event, link, scope or resource
 *                         attribute key; '*' matches any run of characters,
 *                         dots included, possibly empty.
 *   what    "value" (the whole value), a detector ("email", "card",
 *           "bearer", "apikey") or "/REGEX/" with optional flags i, m, s.
 *   action  "mask"  each match becomes "[REDACTED:<name>]";
 *           "hash"  each match becomes the lower-case hex HMAC-SHA-256 of
 *                   its bytes under the hash key;
 *           "drop"  the member, array element or attribute holding a match
 *                   is removed: for "value", the one the rule names; for a
 *                   detector or expression, the innermost one whose string
 *                   matched.
 * Rules apply in file order, each to what the ones before it left.
 *
 * Strings only. Detectors and expressions look at string values; a number,
 * true, false or null is reached only by "value" (mask and hash replace the
 * whole value with a string; the hash is over its compact JSON text).
 * Member names are never looked at or changed.
 *
 * Failing closed. What cannot be searched is not kept: a string on which
 * PCRE2 gives up (its match limit, against catastrophic backtracking) or
 * which a rule would grow past 4 times its length and 64 KiB counts as one
 * whole match of that rule; a walk deeper than REDACT_MAX_DEPTH refuses
 * the record (-1) rather than passing it unredacted.
 *
 * Threads. A struct redact is built once by redact_load and never changed
 * by matching, but matching uses scratch memory kept in it (PCRE2 match
 * data, two string buffers, an HMAC context): one thread at a time may call
 * the functions that take a non-const struct redact (the daemon's event
 * loop; the CLI's only thread). Functions taking a const one may run on any
 * thread while no other thread applies the rules.
 *
 * Memory. Nothing here logs or does I/O except redact_load, which reads its
 * file. Trees are changed with cJSON's own allocator (cJSON_malloc and
 * cJSON_free), so cJSON's hooks, such as the daemon's per-request arena,
 * cover what is added.
 */

#define REDACT_NAME_MAX 64
#define REDACT_MAX_RULES 1024
/* A line longer than this is an error (an expression must fit). */
#define REDACT_LINE_MAX 8192
/* Path segments of one field: rule. */
#define REDACT_PATH_MAX 32
/* How deep the tree walks go; cJSON's parser stops at 1000 levels. */
#define REDACT_MAX_DEPTH 1024

struct redact;

/* How one string or attribute came out of the rules. */
enum redact_verdict {
	REDACT_ERROR = -1,  /* out of memory; the value must not be kept */
	REDACT_KEEP = 0,    /* unchanged; out untouched */
	REDACT_CHANGED = 1, /* out holds the new string value */
	REDACT_DROP = 2,    /* remove the attribute (or array element) */
};

typedef void redact_report_fn(const char *msg, void *arg);

/*
 * Compile the rules file at path. hash_key (keylen bytes) is the secret of
 * the hash action; NULL or keylen 0 means none, and then every hash rule
 * is an error. When some rule hashes, the key is copied into OpenSSL's
 * HMAC context (wiped when freed) and nowhere else; the caller may wipe
 * its own copy after the call.
 *
 * Every problem is reported through report() (which may be NULL) as
 * "<path>:<line>: <what is wrong>", all of them, so the user sees them at
 * once. Returns 0 with *out a new struct (free with redact_free), the
 * number of errors (> 0) with *out NULL, or -1 with *out NULL when the file
 * cannot be read or memory ran out ("<path>: <reason>" reported). A file
 * without rules is valid: the struct then changes nothing.
 */
int redact_load(struct redact **out, const char *path, const void *hash_key,
    size_t keylen, redact_report_fn *report, void *arg);

/*
 * redact_load on text already in memory (len bytes, NUL bytes reported as
 * errors); name stands for the file in messages. For tests and the fuzzer.
 */
int redact_load_string(struct redact **out, const char *name, const char *text,
    size_t len, const void *hash_key, size_t keylen, redact_report_fn *report,
    void *arg);

/* Free the struct (and OpenSSL's copy of the hash key); NULL is a no-op. */
void redact_free(struct redact *r);

/* The number of rules; a counts array passed below has this many slots. */
size_t redact_rules(const struct redact *r);

/* Rule i's name (i < redact_rules), valid as long as r. */
const char *redact_rule_name(const struct redact *r, size_t i);

/*
 * 1 if the expressions and detectors run on PCRE2's JIT; 0 when the
 * system refused executable memory (systemd's MemoryDenyWriteExecute=yes
 * does) and they run on PCRE2's interpreter: same results, several times
 * slower. The daemon may say so in its log.
 */
int redact_jit(const struct redact *r);

/*
 * Print the compiled rules to fp, one a line in the file's own syntax
 * ("name where what action", single spaces; the output loads as the same
 * rules); with no rules, nothing. The hash key is never printed. For
 * tracespoold -t.
 */
void redact_print(const struct redact *r, FILE *fp);

/*
 * Refuse a rule that would make valid records invalid. required is a
 * NULL-terminated list of the fields every record must keep, each
 *   "PATH"           present, of any type (no drop may reach it, and no
 *                    "value" mask or hash, which would make it a string);
 *   "PATH:object"    (or ":array") must stay an object: no drop and no
 *                    "value" rule may reach it; detectors and expressions
 *                    only change the strings inside it;
 *   "PATH:string"    any string: no drop may reach it (mask and hash
 *                    keep it a string);
 *   "PATH=V1|V2|..." one of these strings: no "value" rule may reach it,
 *                    and no detector or expression that matches one of
 *                    the values;
 *   "?PATH:TYPE"     (or "?PATH") an optional field of that type (any but
 *                    string, when no type is given): it may be dropped,
 *                    but no "value" mask or hash may make it a string.
 * PATH is a field path of member names ("metadata.user_id"). A rule
 * reaches a field when its where is "*" and the field is a string, or its
 * field: path names the field or one of its parents. The daemon's events
 * pass {"event_type=chain|model|tool|session", "inputs:object", NULL}.
 *
 * Returns 0, or -1 with err set to "rule NAME (FILE:LINE): drop would
 * remove the required field inputs" (or "mask would change ...", with
 * "(it matches \"chain\")" when a listed value is what matches) for the
 * first refused rule, or to the reason a required entry is malformed.
 * Matching the listed values uses r's scratch: call it on the thread that
 * applies r, typically once after redact_load.
 */
int redact_check_required(
    struct redact *r, const char *const *required, char *err, size_t errlen);

/*
 * Apply the "*" and "field:" rules, in file order, to one event, session
 * or update object (record; attr: rules do not apply). Strings are changed
 * in place, replaced values become strings, dropped members and elements
 * are removed and freed.
 *
 * counts (redact_rules(r) slots, or NULL) gains, for each rule, its
 * matches: one per value replaced or member dropped, one per match masked
 * or hashed. Returns the number of changes: 0 means the tree is exactly as
 * it was (the caller may keep the client's bytes), > 0 means print it
 * again. Returns -1 when memory ran out, the tree is deeper than
 * REDACT_MAX_DEPTH or record is not an object or array; the tree is then
 * valid but maybe partly redacted, and the caller must refuse the record
 * rather than keep it.
 */
int redact_tree(struct redact *r, struct cJSON *record, uint64_t *counts);

/* What redact_splice made of a record. */
enum redact_splice_result {
	REDACT_SPLICE_ERROR = -1,  /* out of memory: refuse the record */
	REDACT_SPLICE_KEEP = 0,    /* no rule changes it: keep its bytes */
	REDACT_SPLICE_CHANGED = 1, /* out holds the redacted record */
	REDACT_SPLICE_TREE = 2,    /* only redact_tree can redact it */
};

/*
 * redact_tree without a tree: the "*" and field: rules on the record
 * whose JSON text is text[0..len), an object or array json_check
 * accepted (common/jsonscan.h). Each string value is decoded as cJSON
 * decodes it, and the rules' steps run on it in file order, each on what
 * the ones before left in it (mask and hash change no structure, so
 * string by string is rule by rule, as redact_tree goes).
 *
 * REDACT_SPLICE_KEEP: nothing changes, out untouched. REDACT_SPLICE_CHANGED:
 * out (reset first) holds the record: the client's bytes with each
 * changed string written again as a JSON string (escaped as cJSON escapes),
 * strict JSON that parses to the tree redact_tree would have made (equal
 * by cJSON_Compare); counts (as for redact_tree, or NULL) gained the
 * matches. REDACT_SPLICE_TREE: only the tree can do it; counts are
 * untouched and out holds anything: redact_tree the record's tree. That
 * is the verdict when a rule drops something, a "value" rule names
 * anything but a string, a changed string would not be valid UTF-8, the
 * record holds a \u0000 escape or a number cJSON reads as an infinity
 * and a string changed (the tree would print those otherwise), it nests
 * deeper than REDACT_MAX_DEPTH, the rules have more than 64 field: rules,
 * or the text is not what json_check accepts. REDACT_SPLICE_ERROR: out of
 * memory, counts untouched.
 *
 * No recursion: a pass over the text with a stack of REDACT_PATH_MAX
 * levels and a bit a level below them. A changed string grows no more
 * than redact_tree's would (the limits of "Failing closed" above), and
 * out holds the record with those strings, 6 bytes a byte at most where
 * one needs a \u escape. Uses r's scratch, as redact_tree does.
 */
enum redact_splice_result redact_splice(struct redact *r, const char *text,
    size_t len, uint64_t *counts, struct buf *out);

/*
 * One string attribute of a span, span event, link, scope or resource:
 * the "attr:" rules whose KEY matches key (a string, "" for none) and the
 * "*" rules, in file order. val is len bytes (need not be NUL-terminated;
 * a NUL inside is a byte like any other). On REDACT_CHANGED,
 * out is reset and holds the new value (also NUL-terminated); on any other
 * verdict out is untouched. counts as for redact_tree.
 *
 * A string nested in an array or kvlist attribute value is passed here
 * with the top-level attribute's key; REDACT_DROP then removes that
 * element (or kvlist entry), not the whole attribute.
 */
enum redact_verdict redact_attr(struct redact *r, const char *key,
    const char *val, size_t len, struct buf *out, uint64_t *counts);

/*
 * An attribute whose value is not a string (int, double, bool, bytes,
 * array, kvlist, empty). Only "attr:KEY value" rules reach it: mask turns
 * it into the string "[REDACTED:<name>]" (REDACT_CHANGED, out holds it),
 * hash into the HMAC of text, drop removes it; rules after the one that
 * made it a string see that string, as redact_attr would. text (textlen
 * bytes) is the value's canonical text, what hash is computed over:
 * redact_otlp_json passes the compact OTLP JSON of the AnyValue
 * ({"intValue":"42"}); a protobuf walker should pass the same text, so
 * that a value hashes alike in both encodings. With REDACT_KEEP the caller
 * then passes the strings inside an array or kvlist to redact_attr.
 */
enum redact_verdict redact_attr_nonstring(struct redact *r, const char *key,
    const char *text, size_t textlen, struct buf *out, uint64_t *counts);

/*
 * Any other string of a span's world that "*" reaches but no attribute key
 * names (a status message): the "*" rules only. Verdicts as redact_attr;
 * REDACT_DROP on a string that cannot be removed means "make it empty".
 */
enum redact_verdict redact_span_string(struct redact *r, const char *val,
    size_t len, struct buf *out, uint64_t *counts);

/*
 * The OTLP JSON walk: resource_spans is the "resourceSpans" array of an
 * ExportTraceServiceRequest. Visits every resource.attributes,
 * scopeSpans[].scope.attributes, scopeSpans[].spans[].attributes,
 * .events[].attributes, .links[].attributes (strings nested in array and
 * kvlist values with the top-level key) and .status.message, with the
 * semantics above. A changed non-string attribute value becomes
 * {"stringValue": ...}; a dropped status message becomes "". Members of
 * other shapes than OTLP's are skipped, not refused: decoding checks the
 * shape. Returns like redact_tree.
 */
int redact_otlp_json(
    struct redact *r, struct cJSON *resource_spans, uint64_t *counts);

/*
 * The same walk over a protobuf export (redact/pbwalk.c): req is the
 * message of an otlp_pb handle (otlp_pb_request), changed in place under
 * that handle's rules of ownership (malloc'd blocks, freed with free()).
 * A changed non-string value's hash is over its OTLP JSON text
 * (otlp_pb_value_json), which is what the JSON walk hashes for a value
 * written the mapping's way, so that both encodings agree. Returns the
 * number of changes (0: untouched, keep the client's bytes; > 0: pack it
 * again), or -1 when memory ran out (the message is then valid but maybe
 * partly redacted: refuse it).
 */
struct Otlp__ExportTraceServiceRequest;
int redact_otlp_pb(struct redact *r,
    struct Otlp__ExportTraceServiceRequest *req, uint64_t *counts);

#endif
