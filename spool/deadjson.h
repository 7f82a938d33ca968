/* deadjson.h: a dead letter as the JSON object that GET /dlq and `tracespool
 * dlq --json` show. */
#ifndef TS_DEADJSON_H
#define TS_DEADJSON_H

#include "common/buf.h"
#include "spool/spool.h"

/*
 * Append d to b as one object: {"id", "seq", "kind", "time_ms", "dead_ms",
 * "status", "attempts", "reason", "count", "event"}. "event" is the
 * record's own bytes when they are exactly one JSON value (as spooled,
 * not printed again, so it reads as it would be sent again); a string
 * holding them when they are not; {"protobuf_bytes": N} for a protobuf
 * export, whose bytes are never shown. A client key never appears: the
 * spool does not hand it out (struct spool_dead has none). Pure: no I/O,
 * no logging; any thread. Returns 0, or -1 out of memory (b then holds
 * part of the object).
 */
int spool_dead_json(struct buf *b, const struct spool_dead *d);

/* 1 when records of this kind are binary (shown by size only). */
int spool_kind_binary(unsigned kind);

#endif
