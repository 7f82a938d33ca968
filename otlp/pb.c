/* pb.c: the protobuf form of a trace export: checked, unpacked by protobuf-c,
 * packed again. */
#include "otlp/pb.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "otlp/trace.pb-c.h"
#include "otlp/utf8.h"

/*
 * Why a walk before protobuf-c. protobuf_c_message_unpack calls itself for
 * every nested message with no limit, and the schema nests without end
 * (AnyValue holds an ArrayValue of AnyValues, or a KeyValueList of
 * KeyValues of AnyValues): a few megabytes of nested length prefixes would
 * overflow the stack. So the body is first read here, iteratively, with an
 * explicit stack of frames. The walk is driven by protobuf-c's own
 * descriptors (each field's number, type and label, and the descriptor of
 * a message field's type), not written message by message, so it cannot
 * drift from trace.proto: a field added there is walked the same way.
 * Before anything is allocated it checks:
 *   - framing: every key and value ends inside its message; keys and
 *     length prefixes fit in 5 bytes and varints in 10 (protobuf-c's own
 *     limits); field numbers are 1 to 2^29 - 1; no groups (wire types 3
 *     and 4, which protobuf-c refuses), nor the undefined 6 and 7;
 *   - the wire type of every field trace.proto knows, against its type;
 *   - the depth of attribute values (OTLP_MAX_DEPTH);
 *   - every string field: UTF-8, and no NUL;
 *   - the ids of every span and link (their last occurrence, as protobuf-c
 *     unpacks), and it counts the spans.
 * That is every check an export needs, so otlp_pb_check stops there: an
 * export nobody changes is spooled as its bytes, and unpacking it would
 * only cost (about 5 times the walk, most of it in malloc). When it must
 * change (redaction), otlp_pb_decode has protobuf-c unpack it, recursing
 * no deeper than the walk allowed, through an allocator that counts
 * against max_mem; the ids are checked again on the unpacked tree.
 *
 * Fields trace.proto does not know are stepped over, not entered: protobuf-c
 * keeps them as opaque bytes.
 */

/*
 * The schema's only cycles pass through AnyValue. The longest way from the
 * request to the first AnyValue is 7 messages (request, resource_spans,
 * scope_spans, spans, events, attributes, value); each further level adds at
 * most 3 (kvlist_value, values, value). So OTLP_MAX_DEPTH levels need at
 * most 7 + 3 * 31 = 100 frames, and the frame limit is only a backstop.
 */
#define PB_MAX_FRAMES 128
/* protobuf-c keeps lengths in 32-bit unsigned ints in places. */
#define PB_MAX_BODY ((size_t)INT32_MAX)
/* What one malloc block costs beyond its size, counted against max_mem. */
#define PB_ALLOC_OVERHEAD 16
/* Field numbers are 29 bits. */
#define PB_MAX_FIELD 0x1fffffffu

enum wire {
	WIRE_VARINT = 0,
	WIRE_64BIT = 1,
	WIRE_LEN = 2,
	WIRE_32BIT = 5,
};

/*
 * The ids of a span or a link, as the walk last met them: a later
 * occurrence of a field replaces an earlier one, as protobuf-c unpacks.
 * Indexed by field number (trace_id 1, span_id 2, parent_span_id 4).
 */
#define ID_FIELDS 5

/* One message open on the walk's stack. */
struct frame {
	const ProtobufCMessageDescriptor *desc;
	const ProtobufCFieldDescriptor *via; /* the parent's field; root NULL */
	size_t key;   /* offset of that field's key in the body */
	size_t start; /* offset of the message's first byte */
	size_t end;   /* offset just past its last byte */
	unsigned any; /* AnyValue levels open, this message's included */
	unsigned ids; /* bit n: id field n was met (spans and links) */
	/* The last field looked up: repeated fields come in runs. */
	uint32_t last_id;
	const ProtobufCFieldDescriptor *last_fd;
	size_t idlen[ID_FIELDS];
	size_t idkey[ID_FIELDS];
};

struct walk {
	const uint8_t *p;
	struct frame st[PB_MAX_FRAMES];
	size_t n;
	size_t spans; /* span messages entered */
	char *err;
	size_t errlen;
};

struct otlp_pb {
	Otlp__ExportTraceServiceRequest *req;
	ProtobufCAllocator alloc;
	size_t used; /* counted so far */
	size_t max;  /* max_mem */
	int over;    /* an allocation was refused for max */
	int nomem;   /* malloc failed */
};

/*
 * Read a varint of at most maxlen bytes at p[*pos], before end. Returns 0
 * with *pos past it, or -1 when it does not end in time.
 */
static int
varint(const uint8_t *p, size_t *pos, size_t end, unsigned maxlen, uint64_t *v)
{
	uint64_t x = 0;
	unsigned i;

	for (i = 0; i < maxlen && *pos + i < end; i++) {
		x |= (uint64_t)(p[*pos + i] & 0x7f) << (7 * i);
		if ((p[*pos + i] & 0x80) == 0) {
			*pos += i + 1;
			*v = x;
			return 0;
		}
	}
	return -1;
}

/*
 * Step over a value of wire type wt at p[*pos], before end. Returns 0 with
 * *pos past it (and *vlen its length for WIRE_LEN, *pos then at its first
 * byte: the caller adds *vlen), or -1 when it does not fit.
 */
static int
value_span(const uint8_t *p, size_t *pos, size_t end, unsigned wt, size_t *vlen)
{
	uint64_t v;

	*vlen = 0;
	switch (wt) {
	case WIRE_VARINT:
		return varint(p, pos, end, 10, &v);
	case WIRE_64BIT:
	case WIRE_32BIT:
		*vlen = wt == WIRE_64BIT ? 8 : 4;
		if (end - *pos < *vlen)
			return -1;
		*pos += *vlen;
		*vlen = 0;
		return 0;
	case WIRE_LEN:
		if (varint(p, pos, end, 5, &v) == -1 || v > end - *pos)
			return -1;
		*vlen = (size_t)v;
		return 0;
	default:
		return -1;
	}
}

/* The wire type a field of this type has (unpacked). */
static unsigned
wire_of(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return WIRE_32BIT;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return WIRE_64BIT;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return WIRE_LEN;
	default:
		return WIRE_VARINT;
	}
}

static const char *
type_name(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_STRING:
		return "string";
	case PROTOBUF_C_TYPE_BYTES:
		return "bytes";
	case PROTOBUF_C_TYPE_MESSAGE:
		return "message";
	case PROTOBUF_C_TYPE_FIXED32:
		return "fixed32";
	case PROTOBUF_C_TYPE_FIXED64:
		return "fixed64";
	case PROTOBUF_C_TYPE_DOUBLE:
		return "double";
	default:
		return "varint";
	}
}

/*
 * How many times field id occurs in the message bytes [start, stop): the
 * index of the occurrence at stop. Only called on errors, on bytes the
 * walk has already read, so every step fits.
 */
static size_t
occurrences(const uint8_t *p, size_t start, size_t stop, uint32_t id)
{
	size_t pos = start, count = 0, vlen;
	uint64_t key;

	while (pos < stop) {
		if (varint(p, &pos, stop, 5, &key) == -1 ||
		    value_span(p, &pos, stop, (unsigned)(key & 7), &vlen) == -1)
			break;
		pos += vlen;
		if (key >> 3 == id)
			count++;
	}
	return count;
}

static void append(char *s, size_t size, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
append(char *s, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(s + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

/* ".name" or ".name[i]" of field fd, met at offset key of frame f. */
static void
append_field(struct walk *w, size_t *off, const struct frame *f,
    const ProtobufCFieldDescriptor *fd, size_t key)
{
	append(w->err, w->errlen, off, "%s%s", *off > 0 ? "." : "", fd->name);
	if (fd->label == PROTOBUF_C_LABEL_REPEATED)
		append(w->err, w->errlen, off, "[%zu]",
		    occurrences(w->p, f->start, key, fd->id));
}

/*
 * Refuse the body: "<path>: <reason>", the path made of the open frames
 * and fd (the field whose key is at offset key in the top frame; NULL for
 * a problem of the top frame itself). Returns OTLP_E_BAD.
 */
static int refuse(struct walk *w, const ProtobufCFieldDescriptor *fd,
    size_t key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
refuse(struct walk *w, const ProtobufCFieldDescriptor *fd, size_t key,
    const char *fmt, ...)
{
	va_list ap;
	size_t off = 0, i;
	int top;

	if (w->errlen == 0)
		return OTLP_E_BAD;
	w->err[0] = '\0';
	for (i = 1; i < w->n; i++)
		append_field(
		    w, &off, &w->st[i - 1], w->st[i].via, w->st[i].key);
	if (fd != NULL)
		append_field(w, &off, &w->st[w->n - 1], fd, key);
	top = off == 0;
	append(w->err, w->errlen, &off, "%s",
	    top ? "body: not an ExportTraceServiceRequest (" : ": ");
	if (off < w->errlen) {
		va_start(ap, fmt);
		vsnprintf(w->err + off, w->errlen - off, fmt, ap);
		va_end(ap);
		off += strlen(w->err + off);
	}
	if (top)
		append(w->err, w->errlen, &off, ")");
	return OTLP_E_BAD;
}

static const char *
string_problem(const uint8_t *s, size_t n)
{
	if (n > 0 && memchr(s, 0, n) != NULL)
		return "contains U+0000 (NUL), which protobuf-c strings cannot "
		       "hold";
	if (!otlp_utf8_valid(s, n))
		return "invalid UTF-8";
	return NULL;
}

/* Enter the message field fd whose value is p[start, start + vlen). */
static int
push(struct walk *w, const ProtobufCFieldDescriptor *fd, size_t key,
    size_t start, size_t vlen)
{
	const struct frame *f = &w->st[w->n - 1];
	const ProtobufCMessageDescriptor *d = fd->descriptor;
	unsigned any = f->any + (d == &otlp__any_value__descriptor);

	if (any > OTLP_MAX_DEPTH)
		return refuse(w, fd, key, "values nested deeper than %d levels",
		    OTLP_MAX_DEPTH);
	if (w->n == PB_MAX_FRAMES)
		return refuse(w, fd, key, "messages nested deeper than %d",
		    PB_MAX_FRAMES);
	w->st[w->n].desc = d;
	w->st[w->n].via = fd;
	w->st[w->n].key = key;
	w->st[w->n].start = start;
	w->st[w->n].end = start + vlen;
	w->st[w->n].any = any;
	w->st[w->n].ids = 0;
	w->st[w->n].last_fd = NULL;
	if (d == &otlp__span__descriptor)
		w->spans++;
	w->n++;
	return OTLP_OK;
}

static int
is_idholder(const ProtobufCMessageDescriptor *d)
{
	return d == &otlp__span__descriptor ||
	    d == &otlp__span__link__descriptor;
}

/*
 * The top frame ends: a span's or a link's ids must have their lengths
 * (an absent one is empty, which no required id may be).
 */
static int
close_frame(struct walk *w)
{
	const struct frame *f = &w->st[w->n - 1];
	static const struct {
		unsigned id;
		size_t len, alt; /* alt: another allowed length, or len */
		const char *why;
	} rules[] = {
	    {1, 16, 16, "must be 16 bytes"},
	    {2, 8, 8, "must be 8 bytes"},
	    {4, 8, 0, "must be empty or 8 bytes"},
	};
	size_t i, len;

	if (!is_idholder(f->desc))
		return OTLP_OK;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const ProtobufCFieldDescriptor *fd;

		if (rules[i].id == 4 && f->desc != &otlp__span__descriptor)
			continue;
		len =
		    (f->ids & (1u << rules[i].id)) ? f->idlen[rules[i].id] : 0;
		if (len == rules[i].len || len == rules[i].alt)
			continue;
		fd = protobuf_c_message_descriptor_get_field(
		    f->desc, rules[i].id);
		return refuse(w, fd,
		    (f->ids & (1u << rules[i].id)) ? f->idkey[rules[i].id]
		                                   : f->end,
		    "%s", rules[i].why);
	}
	return OTLP_OK;
}

/* One field of the top frame, its key at *pos. */
static int
walk_field(struct walk *w, size_t *pos)
{
	const struct frame *f = &w->st[w->n - 1];
	const ProtobufCFieldDescriptor *fd;
	const char *why;
	size_t key = *pos, vlen;
	uint64_t k;
	unsigned wt;

	if (varint(w->p, pos, f->end, 5, &k) == -1)
		return refuse(w, NULL, key, "truncated or overlong field key");
	wt = (unsigned)(k & 7);
	if (k >> 3 == 0 || k >> 3 > PB_MAX_FIELD)
		return refuse(w, NULL, key, "invalid field number %llu",
		    (unsigned long long)(k >> 3));
	if (f->last_fd != NULL && f->last_id == (uint32_t)(k >> 3)) {
		fd = f->last_fd;
	} else {
		fd = protobuf_c_message_descriptor_get_field(
		    f->desc, (unsigned)(k >> 3));
		w->st[w->n - 1].last_id = (uint32_t)(k >> 3);
		w->st[w->n - 1].last_fd = fd;
	}
	if (wt != WIRE_VARINT && wt != WIRE_64BIT && wt != WIRE_LEN &&
	    wt != WIRE_32BIT)
		return refuse(w, fd, key,
		    "wire type %u of field %llu is not supported", wt,
		    (unsigned long long)(k >> 3));
	/*
	 * A length-delimited value of a repeated scalar field is its packed
	 * form; protobuf-c checks what is inside. (trace.proto has no
	 * repeated scalars; this keeps the walk right if it gains some.)
	 */
	if (fd != NULL && wt != wire_of(fd->type) &&
	    !(wt == WIRE_LEN && fd->label == PROTOBUF_C_LABEL_REPEATED))
		return refuse(w, fd, key, "wrong wire type %u for a %s field",
		    wt, type_name(fd->type));
	if (value_span(w->p, pos, f->end, wt, &vlen) == -1) {
		if (fd == NULL)
			return refuse(w, NULL, key, "field %llu is truncated",
			    (unsigned long long)(k >> 3));
		return refuse(w, fd, key, "truncated");
	}
	if (fd == NULL || wt != WIRE_LEN || wt != wire_of(fd->type)) {
		*pos += vlen;
		return OTLP_OK;
	}
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
		/* *pos stays at the child's first byte: the child reads on. */
		return push(w, fd, key, *pos, vlen);
	}
	if (fd->type == PROTOBUF_C_TYPE_STRING &&
	    (why = string_problem(w->p + *pos, vlen)) != NULL)
		return refuse(w, fd, key, "%s", why);
	if (fd->type == PROTOBUF_C_TYPE_BYTES && fd->id < ID_FIELDS &&
	    is_idholder(f->desc)) {
		struct frame *m = &w->st[w->n - 1];

		m->ids |= 1u << fd->id;
		m->idlen[fd->id] = vlen;
		m->idkey[fd->id] = key;
	}
	*pos += vlen;
	return OTLP_OK;
}

static int
walk_body(
    const uint8_t *p, size_t len, size_t *nspans, char *err, size_t errlen)
{
	struct walk *w;
	size_t pos = 0;
	int rc = OTLP_OK;

	/* About 5 KiB: the heap, so that deep callers keep their stack. */
	if ((w = malloc(sizeof(*w))) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "body: out of memory");
		return OTLP_E_NOMEM;
	}
	w->p = p;
	w->err = err;
	w->errlen = errlen;
	w->st[0].desc = &otlp__export_trace_service_request__descriptor;
	w->st[0].via = NULL;
	w->st[0].key = 0;
	w->st[0].start = 0;
	w->st[0].end = len;
	w->st[0].any = 0;
	w->st[0].ids = 0;
	w->st[0].last_fd = NULL;
	w->n = 1;
	w->spans = 0;
	while (w->n > 0 && rc == OTLP_OK) {
		if (pos != w->st[w->n - 1].end)
			rc = walk_field(w, &pos);
		else if ((rc = close_frame(w)) == OTLP_OK)
			w->n--;
	}
	if (rc == OTLP_OK && nspans != NULL)
		*nspans = w->spans;
	free(w);
	return rc;
}

/*
 * protobuf-c's allocator: malloc, counted against max. Frees are not
 * subtracted (the size is not known there), so the count only grows and
 * bounds the peak from above.
 */
static void *
count_alloc(void *data, size_t size)
{
	struct otlp_pb *pb = data;
	size_t cost = size + PB_ALLOC_OVERHEAD;
	void *p;

	if (cost < size || cost > pb->max - pb->used) {
		pb->over = 1;
		return NULL;
	}
	if ((p = malloc(size > 0 ? size : 1)) == NULL) {
		pb->nomem = 1;
		return NULL;
	}
	pb->used += cost;
	return p;
}

static void
count_free(void *data, void *ptr)
{
	free(ptr);
}

static int say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return OTLP_E_BAD;
}

/* The lengths of a span's or a link's ids. */
static int
check_ids(const Otlp__ExportTraceServiceRequest *req, char *err, size_t errlen)
{
	size_t i, j, k, l;

	for (i = 0; i < req->n_resource_spans; i++) {
		const Otlp__ResourceSpans *rs = req->resource_spans[i];

		for (j = 0; j < rs->n_scope_spans; j++) {
			const Otlp__ScopeSpans *ss = rs->scope_spans[j];

			for (k = 0; k < ss->n_spans; k++) {
				const Otlp__Span *s = ss->spans[k];
				const char *field = NULL, *why = NULL;

				if (s->trace_id.len != 16) {
					field = "trace_id";
					why = "must be 16 bytes";
				} else if (s->span_id.len != 8) {
					field = "span_id";
					why = "must be 8 bytes";
				} else if (s->parent_span_id.len != 0 &&
				    s->parent_span_id.len != 8) {
					field = "parent_span_id";
					why = "must be empty or 8 bytes";
				}
				if (field != NULL)
					return say(err, errlen,
					    "resource_spans[%zu].scope_spans[%"
					    "zu]"
					    ".spans[%zu].%s: %s",
					    i, j, k, field, why);
				for (l = 0; l < s->n_links; l++) {
					const Otlp__Span__Link *ln =
					    s->links[l];

					if (ln->trace_id.len != 16)
						field = "trace_id";
					else if (ln->span_id.len != 8)
						field = "span_id";
					else
						continue;
					return say(err, errlen,
					    "resource_spans[%zu].scope_spans[%"
					    "zu]"
					    ".spans[%zu].links[%zu].%s: must "
					    "be "
					    "%d bytes",
					    i, j, k, l, field,
					    field[0] == 't' ? 16 : 8);
				}
			}
		}
	}
	return OTLP_OK;
}

int
otlp_pb_decode(const void *body, size_t len, size_t max_mem,
    struct otlp_pb **out, char *err, size_t errlen)
{
	struct otlp_pb *pb;
	int rc;

	*out = NULL;
	if (len > PB_MAX_BODY) {
		say(err, errlen, "body: passes %zu bytes", PB_MAX_BODY);
		return OTLP_E_TOOBIG;
	}
	if ((rc = walk_body(body, len, NULL, err, errlen)) != OTLP_OK)
		return rc;
	if ((pb = calloc(1, sizeof(*pb))) == NULL) {
		say(err, errlen, "body: out of memory");
		return OTLP_E_NOMEM;
	}
	pb->alloc.alloc = count_alloc;
	pb->alloc.free = count_free;
	pb->alloc.allocator_data = pb;
	pb->max = max_mem;
	pb->req =
	    otlp__export_trace_service_request__unpack(&pb->alloc, len, body);
	if (pb->req == NULL) {
		if (pb->over) {
			say(err, errlen,
			    "body: decoding it would take more than %zu bytes "
			    "of memory",
			    max_mem);
			rc = OTLP_E_TOOBIG;
		} else if (pb->nomem) {
			say(err, errlen, "body: out of memory");
			rc = OTLP_E_NOMEM;
		} else {
			rc = say(err, errlen,
			    "body: not an ExportTraceServiceRequest "
			    "(truncated or wrong wire type)");
		}
		free(pb);
		return rc;
	}
	if ((rc = check_ids(pb->req, err, errlen)) != OTLP_OK) {
		otlp_pb_free(pb);
		return rc;
	}
	*out = pb;
	return OTLP_OK;
}

int
otlp_pb_check(
    const void *body, size_t len, size_t *nspans, char *err, size_t errlen)
{
	if (len > PB_MAX_BODY) {
		say(err, errlen, "body: passes %zu bytes", PB_MAX_BODY);
		return OTLP_E_TOOBIG;
	}
	return walk_body(body, len, nspans, err, errlen);
}

struct Otlp__ExportTraceServiceRequest *
otlp_pb_request(struct otlp_pb *pb)
{
	return pb->req;
}

size_t
otlp_pb_spans(const struct otlp_pb *pb)
{
	const Otlp__ExportTraceServiceRequest *req = pb->req;
	size_t i, j, n = 0;

	for (i = 0; i < req->n_resource_spans; i++)
		for (j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
			n += req->resource_spans[i]->scope_spans[j]->n_spans;
	return n;
}

size_t
otlp_pb_mem(const struct otlp_pb *pb)
{
	return pb->used;
}

int
otlp_pb_pack(const struct otlp_pb *pb, struct buf *out)
{
	size_t n = otlp__export_trace_service_request__get_packed_size(pb->req);

	if (buf_reserve(out, n) == -1)
		return OTLP_E_NOMEM;
	otlp__export_trace_service_request__pack(
	    pb->req, (uint8_t *)out->data + out->len);
	out->len += n;
	out->data[out->len] = '\0';
	return OTLP_OK;
}

void
otlp_pb_free(struct otlp_pb *pb)
{
	if (pb == NULL)
		return;
	otlp__export_trace_service_request__free_unpacked(pb->req, &pb->alloc);
	free(pb);
}
