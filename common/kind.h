/* kind.h: the record kinds, one table row each: how a kind arrives, how it is
 * spooled, and how it travels upstream. */
#ifndef TS_KIND_H
#define TS_KIND_H

#include <stddef.h>
#include <stdint.h>

/*
 * A kind's id is stored in every spooled record (one byte), so ids are
 * never renumbered or reused; a new kind takes the next free one.
 */
enum kind_id {
	KIND_EVENT = 1,       /* an event of POST /events or its batch */
	KIND_SESSION = 2,     /* a session start */
	KIND_UPDATE = 3,      /* the body of PUT /events */
	KIND_MODEL_EVENT = 4, /* a model event, or one of its batch */
	KIND_SPANS_PB = 5,    /* one OTLP export, protobuf */
	KIND_SPANS_JSON = 6,  /* one OTLP export, JSON: its resourceSpans */
};

/* How a route's body holds the records of its kind. */
enum kind_form {
	KIND_FORM_NONE = 0, /* no route: the row is reached another way */
	KIND_FORM_ONE,      /* one record in the member named by member */
	KIND_FORM_MANY,     /* an array of records in member; all or none */
	KIND_FORM_WHOLE,    /* the body itself is the record */
	KIND_FORM_OTLP,     /* an ExportTraceServiceRequest, either encoding */
};

/* One ingest path of a kind. method is "POST" or "PUT". */
struct kind_route {
	const char *method;
	const char *path;
	const char *member; /* KIND_FORM_ONE and _MANY */
	enum kind_form form;
};

#define KIND_ROUTES 2

/*
 * How a kind's records order against the records around them when the
 * forwarder has several requests in flight (forwarder/window.h). Settled
 * means accepted by the upstream or dead-lettered.
 *   KIND_ORDER_AFTER_EARLIER: sent only once every record spooled before
 *   it is settled.
 *   KIND_ORDER_BEFORE_LATER: no record spooled after it is sent before it
 *   is settled.
 * A kind with neither may overlap with any other records.
 */
#define KIND_ORDER_AFTER_EARLIER 0x1
#define KIND_ORDER_BEFORE_LATER 0x2

/*
 * Everything that differs between kinds, besides the validator (which
 * lives with ingest, daemon/body.c). Strings are static.
 *
 * Spool: a record is the validated text, wrapped in store_open and "}"
 * when store_open is set (a session is spooled as the whole body of its
 * upstream call). Upstream: records of one kind in a row go out in one
 * request, joined into batch_open REC batch_sep REC ... batch_close, up to
 * the batch limits; a kind without batch_open goes one record a request.
 */
struct kind {
	uint8_t id;       /* enum kind_id */
	const char *name; /* for logs, /stats and the CLI */
	const char *unit; /* what a record's count counts: "event", "span" */
	int string_form;  /* the member may be a string holding the object */
	const char *store_open;
	struct kind_route routes[KIND_ROUTES];
	const char *up_method;
	const char *up_path;
	const char *up_content_type;
	const char *batch_open; /* NULL: one record a request */
	const char *batch_sep;
	const char *batch_close;
	int order; /* KIND_ORDER_* flags, 0 for none */
};

/* The row of a kind id, or NULL for an id no row has (a corrupt record). */
const struct kind *kind_get(unsigned id);

/*
 * The route serving method and path. Returns the kind and sets *route, or
 * NULL when no route has that path and method. allow (allowlen bytes)
 * then lists the methods the path takes ("POST", "POST, PUT"), or is ""
 * when no route has the path at all (404 rather than 405).
 */
const struct kind *kind_route(const char *method, const char *path,
    const struct kind_route **route, char *allow, size_t allowlen);

/*
 * What redaction rules may not break in the records of the event API's
 * kinds, in redact_check_required's syntax (redact/redact.h): the fields
 * their validators (daemon/event.c) require, with their types, and the
 * optional ones whose type they check ("?PATH:TYPE"). NULL-terminated.
 */
extern const char *const kind_redact_required[];

/* 1 when records of the kind may share an upstream request. */
int kind_batches(const struct kind *k);

#endif
