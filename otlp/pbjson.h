/* pbjson.h: protobuf attribute values in the OTLP JSON mapping, for tools and
 * for hashing a value alike in both encodings; pure. */
#ifndef TS_OTLP_PBJSON_H
#define TS_OTLP_PBJSON_H

#include <stddef.h>

#include "common/buf.h"

struct Otlp__AnyValue;
struct Otlp__KeyValue;

/*
 * Append the compact OTLP JSON of v to b: {"stringValue":"..."},
 * {"boolValue":true}, {"intValue":"42"} (64-bit integers as strings, as
 * the mapping writes them), {"doubleValue":1.5} ("NaN", "Infinity",
 * "-Infinity" for those), {"bytesValue":"<base64>"},
 * {"arrayValue":{"values":[...]}}, {"kvlistValue":{"values":[...]}}; a
 * NULL or empty value is {}. The value must be one otlp_pb_decode
 * accepted (its nesting is bounded). Returns 0, or -1 when memory ran out
 * (b then holds a partial text).
 */
int otlp_pb_value_json(struct buf *b, const struct Otlp__AnyValue *v);

/*
 * A double as the mapping writes it: the shortest of %.15g and %.17g that
 * reads back as d, or "NaN", "Infinity", "-Infinity" (quoted). 0 or -1.
 */
int otlp_pb_double_json(struct buf *b, double d);

/* The same for a list of attributes: [{"key":"...","value":{...}},...]. */
int otlp_pb_attrs_json(
    struct buf *b, struct Otlp__KeyValue *const *kvs, size_t n);

#endif
