/* event.h: validation and defaults for trace events; pure, does no I/O. */
#ifndef TS_EVENT_H
#define TS_EVENT_H

#include <stddef.h>

#include "common/buf.h"
#include "common/uuid.h"

struct cJSON;
struct json_index;

#define EVENT_UUID_LEN UUID_LEN

/* Makes one UUID v4 string into out (37 bytes with the NUL). */
typedef void event_uuid_fn(char *out, void *arg);

struct event_opts {
	const char *default_project; /* filled when the event has none; NULL or
	                                "" for none */
	/*
	 * NULL, or the session every event must belong to (is_single_session):
	 * an event without session_id gets it, one with another is rejected.
	 */
	const char *session_id;
	event_uuid_fn *uuid_gen; /* source of generated ids */
	void *uuid_arg;
	/*
	 * NULL, or json_check_index's index of a text that raw lies in (a
	 * body and its events): the members are then read stepping over the
	 * containers it noted, and a text it saw no \u0000 in is not
	 * searched for a NUL again. Either way the outcome is the same.
	 */
	const struct json_index *index;
};

/* The ids an event ended up with, given or generated. */
struct event_ids {
	char event_id[EVENT_UUID_LEN + 1];
	char session_id[EVENT_UUID_LEN + 1];
};

/*
 * Validate one event and append its normalized JSON text to out.
 *
 * obj is the parsed event (it stays the caller's). raw/rawlen, when raw is
 * not NULL, are the client's own bytes of exactly that object, from its '{'
 * to its '}': the output is then those bytes with the missing defaults
 * spliced in after the '{', so the event is never printed again (printing
 * costs more than parsing). With raw NULL the object is printed.
 *
 * obj may be NULL when raw is given: the members are then read from raw
 * itself (common/jsonscan.h's view), with no tree at all, and the verdict,
 * the error, the ids and the output are the ones the tree would give. raw
 * must then be text cJSON accepts, as json_check's strict JSON is; a raw
 * that is not an object is refused as "must be an object", as its tree
 * would be.
 *
 * path names the event in errors ("event", "events[3]"). Returns 0, or -1
 * with err set to "<path>.<field>: <reason>" and out unchanged. Running out
 * of memory is reported the same way, as "<path>: out of memory".
 */
int event_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
    const struct event_opts *opts, const char *path, struct buf *out,
    struct event_ids *ids, char *err, size_t errlen);

/* The signature all the normalizers below share with event_normalize. */
typedef int event_normalize_fn(const struct cJSON *obj, const char *raw,
    size_t rawlen, const struct event_opts *opts, const char *path,
    struct buf *out, struct event_ids *ids, char *err, size_t errlen);

/*
 * The other bodies of the event API, with event_normalize's contract. Their
 * documented members must have their types; unknown members pass through.
 *
 * event_session_normalize: the SESSION of POST /session/start (and a
 * batch's session_properties). Nothing is required; session_id is
 * generated when absent (or is opts->session_id, as for a batch's events),
 * default_project filled. ids->event_id comes back empty.
 *
 * event_model_normalize: one model event (POST /events/model and its
 * batch), the SDK's CreateModelEvent. model, provider, messages, response,
 * duration and usage are required; an event_type, if given, must be
 * "model". event_id is generated when absent and default_project filled;
 * session_id only when given or opts->session_id is set (a single-session
 * batch), else ids->session_id comes back empty.
 *
 * event_update_normalize: the body of PUT /events. event_id is required
 * and must be a UUID; nothing is added, so out gets the client's bytes.
 * opts may be NULL. A path of "" names the body's own members ("event_id:
 * required").
 */
event_normalize_fn event_session_normalize;
event_normalize_fn event_model_normalize;
event_normalize_fn event_update_normalize;

/* 1 if s is a UUID in 8-4-4-4-12 hex form (any version, either case). */
int event_uuid_valid(const char *s);

#endif
