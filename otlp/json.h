/* json.h: the OTLP JSON mapping of a trace export: shapes and types; pure,
 * does no I/O. */
#ifndef TS_OTLP_JSON_H
#define TS_OTLP_JSON_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

/*
 * Check a parsed JSON export against the OTLP JSON mapping of
 * ExportTraceServiceRequest. root is the caller's (it parsed the body,
 * keeps its raw bytes, and frees the tree); it is only read.
 *
 * root must be an object. resourceSpans is absent (no spans) or an array of
 * objects, and so on down: every member the mapping documents must have its
 * type (lowerCamelCase names; objects where the proto has messages, arrays
 * of objects for repeated messages). Ids are hex (either case): a span's
 * and a link's traceId 32 characters and spanId 16, both required;
 * parentSpanId "" or 16. uint64 and int64 fields (times, intValue) are an
 * integral JSON number in range or a decimal string; uint32 fields (the
 * dropped counts, flags) likewise; kind and code integers; doubleValue a
 * finite number or "NaN", "Infinity", "-Infinity"; bytesValue base64
 * (standard or URL-safe, padding optional). An AnyValue holds at most one
 * value member and nests at most OTLP_MAX_DEPTH levels. A documented member
 * given twice is refused, since which of the two a remote reads is not
 * fixed. null is the member's absence, as the proto3 mapping says. Unknown
 * members are allowed and not looked at (OTLP/JSON receivers ignore them),
 * so they pass through in the raw bytes. Strings are not checked for
 * UTF-8: the caller checks the whole body before parsing.
 *
 * Returns 0 with *nspans set to the number of span objects, or -1 with err
 * set to "<path>: <reason>" in the mapping's names
 * ("resourceSpans[0].scopeSpans[1].spans[4].traceId: must be 32 hex
 * characters"; "body" for root itself) and *nspans left alone. Uses no heap
 * and a bounded stack (recursion follows the nesting, which is bounded).
 * Any thread.
 */
int otlp_json_validate(
    const struct cJSON *root, size_t *nspans, char *err, size_t errlen);

/*
 * The value of v as an int64, when it is an integral JSON number in range
 * or a string of an optional '-' and decimal digits, in range (the
 * mapping's two forms of a 64-bit integer). Returns 0 with *out set, or -1.
 */
int otlp_json_int64(const struct cJSON *v, int64_t *out);

#endif
