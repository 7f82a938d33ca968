/* body.h: one request body to the validated records it spools: pure, with no
 * I/O and no event loop, so that the unit tests and the fuzzers call the very
 * code the daemon runs. */
#ifndef TS_BODY_H
#define TS_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "daemon/event.h"
#include "common/jsonscan.h"
#include "spool/spool.h"

struct kind;
struct kind_route;
struct redact;

/* What the daemon's configuration says about bodies. Borrowed per call. */
struct body_opts {
	uint64_t max_event_bytes; /* one event (413 beyond) */
	uint64_t max_body_bytes;  /* a body, also once decompressed (413) */
	const char *default_project;
	event_uuid_fn *uuid_gen; /* source of generated ids */
	void *uuid_arg;
	/*
	 * Redaction rules, or NULL for none; counts has one counter per rule
	 * and grows by each rule's matches. The rules' scratch is used, so
	 * one thread at a time per struct redact.
	 */
	struct redact *redact;
	uint64_t *redact_counts;
	/*
	 * For the unit tests and the fuzzer only (the daemon leaves it 0):
	 * read event-API bodies through a cJSON tree, and redact the
	 * records' nodes with redact_tree (the old path), instead of through
	 * jsonscan's view of the bytes with redact_splice, so that the two
	 * readings can be compared. Either gives the same status, error,
	 * ids and counts; the records are the same bytes, but for a record
	 * a rule changed, which the tree prints again and the view splices:
	 * those parse to equal trees (cJSON_Compare).
	 */
	int tree_only;
};

/* One request as the route saw it. Everything is borrowed for the call. */
struct body_req {
	const struct kind *kind;
	const struct kind_route *route;
	const char *body; /* body[0..len); need not be NUL-terminated */
	size_t len;
	const char *content_type;     /* NULL when absent */
	const char *content_encoding; /* NULL when absent */
	/* The client's bearer key to spool with each record, or NULL. */
	const char *auth;
	size_t auth_len;
};

/*
 * The records one body became. A struct body_out is reused from request to
 * request (its memory stays); it is the caller's, and used by one thread
 * at a time. After body_take succeeds and until the next body_take or
 * body_out_free: data holds the records back to back, and recs[0..n) point
 * into it once body_seal ran.
 */
struct body_out {
	struct buf data;
	struct spool_rec *recs;
	struct event_ids *ids; /* of each record (events: given or made) */
	size_t *offs;          /* where each record starts in data */
	/*
	 * Room in recs, ids and offs: grown as records are taken, so it
	 * follows the records a body made, not the elements its text holds.
	 */
	size_t cap;
	size_t n;
	size_t lead;    /* 1 when recs[0] is a batch's session, not an event */
	uint64_t items; /* events or spans the records hold */
	int single_session;
	char session_id[EVENT_UUID_LEN + 1];
	int otlp_encoding; /* enum otlp_encoding of an OTLP body, else 0 */
	int bad_record;    /* the refusal named a record, not the body */
	/*
	 * Scratch: the index json_check made of an event-API body read
	 * without a tree (its room grows with bodies, to a constant), an
	 * inflated body, a string decoded from the body (an event in string
	 * form, a batch's project), a record redact_splice changed.
	 */
	struct json_index index;
	struct buf inflated;
	struct buf decoded;
	struct buf spliced;
};

void body_out_init(struct body_out *o);
void body_out_free(struct body_out *o);
/* Bytes the struct holds on to, so a pool can drop a large one. */
size_t body_out_footprint(const struct body_out *o);

/*
 * Validate the body of req and turn it into records in out (reset
 * first). Returns 0, or the HTTP status to answer (400 bad input, 413 too
 * large, 415 an unsupported content type or encoding, 500 out of memory)
 * with err set to "<field path>: <reason>". On an error out holds no
 * record; nothing of a refused body is ever spooled. A body whose records
 * are all empty (a batch of none, an export without spans) succeeds with
 * n == 0.
 */
int body_take(const struct body_opts *opts, const struct body_req *req,
    struct body_out *out, char *err, size_t errlen);

/* The validator of a kind of the event API; NULL for the others. */
event_normalize_fn *body_validator(unsigned kind);

/* Point out's records into data and stamp them with now_ms. */
void body_seal(struct body_out *o, uint64_t now_ms);

#endif
