/* pb.h: the protobuf form of a trace export: checked, unpacked by protobuf-c,
 * packed again; pure, does no I/O. */
#ifndef TS_OTLP_PB_H
#define TS_OTLP_PB_H

#include <stddef.h>

#include "common/buf.h"
#include "otlp/otlp.h"

/* An unpacked export; opaque. */
struct otlp_pb;
/* The generated message (otlp/trace.pb-c.h, in $(BUILD)). */
struct Otlp__ExportTraceServiceRequest;

/*
 * Decode and check the len bytes at body (a decompressed request body) as
 * an ExportTraceServiceRequest. body is only read during the call.
 *
 * Accepted: the body decodes; no attribute value nests past
 * OTLP_MAX_DEPTH; every string field is well-formed UTF-8 without U+0000
 * (proto3 requires UTF-8 and a strict remote refuses the rest; protobuf-c
 * strings end at the first NUL, so one would be cut when packed again);
 * every span's trace_id is 16 bytes and span_id 8, parent_span_id is empty
 * or 8 bytes, and each link's trace_id and span_id are 16 and 8. An empty
 * body is an export of no spans. Fields that trace.proto does not know are
 * kept (see otlp_pb_pack).
 *
 * max_mem bounds the heap that protobuf-c may take to unpack the body:
 * every block it asks for, plus 16 bytes each for malloc's own, is counted
 * as it is asked for and never given back to the count, so the bound holds
 * at every moment. The tree costs more than the wire bytes: measured, about
 * 7 times for otlp_gen's exports (100 spans of a dozen small attributes:
 * 62 KB on the wire, 454 KB unpacked), and up to 57 times for a body
 * crafted for the worst (a stream of empty values, spans or attributes,
 * two bytes each). Passing, say, 16 times len admits exports like
 * otlp_gen's with room to spare and refuses the crafted ones.
 *
 * Returns OTLP_OK with *out set (free with otlp_pb_free); or, with *out
 * NULL and err set: OTLP_E_BAD ("resource_spans[0].scope_spans[1].spans[4]
 * .trace_id: must be 16 bytes", "body: not an ExportTraceServiceRequest
 * (...)"), OTLP_E_TOOBIG (max_mem would be passed, or len is 2 GiB or more,
 * which protobuf-c's 32-bit lengths cannot hold), OTLP_E_NOMEM.
 * Any thread; the handle is then used by one thread at a time.
 */
int otlp_pb_decode(const void *body, size_t len, size_t max_mem,
    struct otlp_pb **out, char *err, size_t errlen);

/*
 * The checks of otlp_pb_decode without unpacking: the same answer for the
 * same body (OTLP_OK, or the same error), but for max_mem, which only
 * unpacking needs; and *nspans, when not NULL, the number of spans. Allocates
 * one fixed block (the walk's stack), never in proportion to the body. For an
 * export that is spooled as it came. Any thread.
 */
int otlp_pb_check(
    const void *body, size_t len, size_t *nspans, char *err, size_t errlen);

/*
 * The unpacked message, owned by pb and valid until otlp_pb_free. The
 * caller may change it in place (redaction) before otlp_pb_pack: a string
 * or bytes field it replaces must be malloc'd memory (the old one is
 * free()d by the caller), because otlp_pb_free gives every block to free().
 * Changes must keep it within what otlp_pb_decode accepts (the nesting
 * bound above holds for pack and free, which recurse).
 */
struct Otlp__ExportTraceServiceRequest *otlp_pb_request(struct otlp_pb *pb);

/* How many spans the message holds now. */
size_t otlp_pb_spans(const struct otlp_pb *pb);

/* What unpacking took from max_mem, in bytes (the count described above). */
size_t otlp_pb_mem(const struct otlp_pb *pb);

/*
 * Append the message, packed, to out. Fields unknown to trace.proto are
 * packed again too: protobuf-c keeps them in each message's unknown_fields
 * and writes them after the known fields of the same message, so they stay
 * where they came (a newer OTLP's fields survive the round trip), though
 * their order among the known fields may change. Returns OTLP_OK, or
 * OTLP_E_NOMEM with out as it was.
 */
int otlp_pb_pack(const struct otlp_pb *pb, struct buf *out);

/* Free the handle and the message; NULL is allowed. */
void otlp_pb_free(struct otlp_pb *pb);

#endif
