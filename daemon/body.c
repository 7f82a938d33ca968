/* body.c: request bodies to validated records, for every route of the kind
 * table; pure. */
#include "daemon/body.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kind.h"
#include "daemon/jsonmem.h"
#include "common/jsonscan.h"
#include "otlp/inflate.h"
#include "otlp/json.h"
#include "otlp/otlp.h"
#include "otlp/pb.h"
#include "redact/redact.h"

/*
 * protobuf-c's unpacked tree costs several times the wire bytes (otlp/pb.h
 * measured 7x for ordinary exports, 57x for crafted ones): an export may
 * take this many times its size, and never less than the floor.
 */
#define PB_MEM_FACTOR 16
#define PB_MEM_FLOOR (1024 * 1024)

/*
 * Most containers json_check notes for the walks over a body
 * (jsonscan.h's index): 24 KiB of room, enough for a batch of a few
 * hundred events of the reference's shape; the rest of a larger one is
 * scanned.
 */
#define BODY_INDEX_MAX 2048

/*
 * The validator of each kind: a new kind of the event API is a row in
 * common/kind.c plus its line here. OTLP exports are checked by the otlp
 * module instead.
 */
event_normalize_fn *
body_validator(unsigned kind)
{
	switch (kind) {
	case KIND_EVENT:
		return event_normalize;
	case KIND_SESSION:
		return event_session_normalize;
	case KIND_UPDATE:
		return event_update_normalize;
	case KIND_MODEL_EVENT:
		return event_model_normalize;
	default:
		return NULL;
	}
}

void
body_out_init(struct body_out *o)
{
	memset(o, 0, sizeof(*o));
	buf_init(&o->data);
	buf_init(&o->inflated);
	buf_init(&o->decoded);
	buf_init(&o->spliced);
}

void
body_out_free(struct body_out *o)
{
	buf_free(&o->data);
	buf_free(&o->inflated);
	buf_free(&o->decoded);
	buf_free(&o->spliced);
	free(o->recs);
	free(o->ids);
	free(o->offs);
	free(o->index.room);
	memset(o, 0, sizeof(*o));
}

size_t
body_out_footprint(const struct body_out *o)
{
	return o->data.cap + o->inflated.cap + o->decoded.cap + o->spliced.cap +
	    o->cap * (sizeof(*o->recs) + sizeof(*o->ids) + sizeof(*o->offs)) +
	    o->index.cap * sizeof(*o->index.room);
}

/*
 * Room for n records; out as it was when memory runs out. The arrays
 * grow by doubling, so a batch that takes its records one at a time
 * reserves what its valid records need, at most twice that (or 8),
 * whatever the count of elements its text holds.
 */
static int
out_reserve(struct body_out *o, size_t n)
{
	struct spool_rec *r;
	struct event_ids *ids;
	size_t *offs;
	size_t cap = o->cap < 8 ? 8 : o->cap;

	if (n <= o->cap)
		return 0;
	while (cap < n)
		cap = cap <= SIZE_MAX / 2 ? 2 * cap : n;
	if ((r = reallocarray(o->recs, cap, sizeof(*r))) == NULL)
		return -1;
	o->recs = r;
	if ((ids = reallocarray(o->ids, cap, sizeof(*ids))) == NULL)
		return -1;
	o->ids = ids;
	if ((offs = reallocarray(o->offs, cap, sizeof(*offs))) == NULL)
		return -1;
	o->offs = offs;
	o->cap = cap;
	return 0;
}

/*
 * o->index with room for the containers a body of len bytes can have
 * noted (at most JSON_INDEX_DEPTH + 1 levels of disjoint ones of
 * JSON_INDEX_MIN bytes), up to BODY_INDEX_MAX: past that the walks scan,
 * and the room stays a constant, whatever the body. Without memory for
 * more, the room there is.
 */
static struct json_index *
index_room(struct body_out *o, size_t len)
{
	struct json_index_entry *room;
	size_t want = len / (JSON_INDEX_MIN / (JSON_INDEX_DEPTH + 1)) + 1;

	o->index.min = JSON_INDEX_MIN;
	if (want > BODY_INDEX_MAX)
		want = BODY_INDEX_MAX;
	if (want > o->index.cap &&
	    (room = reallocarray(o->index.room, want, sizeof(*room))) != NULL) {
		o->index.room = room;
		o->index.cap = want;
	}
	return &o->index;
}

static void
out_reset(struct body_out *o)
{
	o->index.text = NULL;
	buf_reset(&o->data);
	o->n = 0;
	o->lead = 0;
	o->items = 0;
	o->single_session = 0;
	o->session_id[0] = '\0';
	o->otlp_encoding = 0;
	o->bad_record = 0;
}

/* Cut data back to len, as it was before a record that failed. */
static void
data_truncate(struct body_out *o, size_t len)
{
	buf_truncate(&o->data, len);
}

/*
 * Start record n at the current end of data: its kind, count and the
 * client's key. The caller appends its text.
 */
static void
rec_begin(
    struct body_out *o, const struct body_req *req, unsigned kind, size_t cnt)
{
	struct spool_rec *r = &o->recs[o->n];

	memset(r, 0, sizeof(*r));
	o->offs[o->n] = o->data.len;
	r->kind = (uint8_t)kind;
	r->count = (uint32_t)cnt;
	r->auth = req->auth;
	r->auth_len = req->auth != NULL ? req->auth_len : 0;
	memset(&o->ids[o->n], 0, sizeof(o->ids[o->n]));
}

/*
 * The string the value raw[0..rawlen) is, as cJSON decodes it (up to a
 * NUL): the node's own with a tree, else decoded into o->decoded. NULL
 * when out of memory.
 */
static const char *
string_value(
    struct body_out *o, const cJSON *val, const char *raw, size_t rawlen)
{
	struct json_value v;
	size_t n;

	if (val != NULL)
		return val->valuestring;
	v.len = rawlen;
	v.text = json_trim(raw, &v.len);
	v.type = JSON_STRING;
	buf_reset(&o->decoded);
	/* The text of a string is never shorter than its value and a NUL. */
	if (buf_reserve(&o->decoded, v.len) == -1 ||
	    json_string_get(&v, o->decoded.data, v.len, &n) == -1)
		return NULL;
	return o->decoded.data;
}

/*
 * Take one record of the event API: the value whose text in the body is
 * raw[0..rawlen) (an object, or a string holding one when the kind
 * allows), with val its node when the body was parsed into a tree, else
 * NULL: the record is then read from its text, with no tree (a string's
 * object, though, is parsed). Normalizes it into out->data as record
 * out->n. Returns 0, or the HTTP status with err set.
 */
static int
take_record(const struct body_opts *opts, const struct body_req *req,
    const struct kind *k, cJSON *val, const char *raw, size_t rawlen,
    const char *path, const struct event_opts *eo, struct body_out *o,
    char *err, size_t errlen)
{
	event_normalize_fn *normalize = body_validator(k->id);
	enum json_type type;
	cJSON *inner = NULL;
	cJSON *obj = val;
	const char *text = raw, *str, *name = path[0] != '\0' ? path : "body";
	size_t len = rawlen, before = o->data.len;
	int rc;

	if (val == NULL)
		type = json_type_of(raw, rawlen);
	else if (cJSON_IsString(val))
		type = JSON_STRING;
	else
		type = cJSON_IsObject(val) ? JSON_OBJECT : JSON_NONE;
	if (k->string_form && type == JSON_STRING) {
		const char *end = NULL;

		/* The reference API's form: the event as a JSON string. */
		if ((str = string_value(o, val, raw, rawlen)) == NULL) {
			snprintf(err, errlen, "%s: out of memory", name);
			return 500;
		}
		len = strlen(str);
		text = json_trim(str, &len);
		if (len > opts->max_event_bytes)
			goto too_big;
		if (json_check_embedded(raw, rawlen, str, name, err, errlen) ==
		    -1)
			return 400;
		inner = cJSON_ParseWithLengthOpts(text, len, &end, 0);
		if (inner == NULL || end != text + len) {
			snprintf(err, errlen,
			    "%s: string does not hold valid JSON", name);
			cJSON_Delete(inner);
			return 400;
		}
		obj = inner;
	} else if (type == JSON_OBJECT) {
		if (rawlen > opts->max_event_bytes)
			goto too_big;
	} else {
		snprintf(err, errlen, "%s: must be an object%s", name,
		    k->string_form ? " or a string holding one" : "");
		return 400;
	}
	if (o->n == o->cap || normalize == NULL) {
		snprintf(
		    err, errlen, "%s: internal: no room or validator", name);
		cJSON_Delete(inner);
		return 500;
	}
	/*
	 * Redaction before validation. A record read without a tree is
	 * redacted on its text: the strings a rule changed are spliced into
	 * the client's bytes, which are then validated as any record's are.
	 * What only the tree can do (a drop, a "value" rule on a non-string)
	 * takes the old path: the record's tree is parsed, redacted, and
	 * printed again when a rule changed it. The required-field check at
	 * load time keeps rules from making records invalid.
	 */
	if (opts->redact != NULL && obj == NULL) {
		switch (redact_splice(opts->redact, raw, rawlen,
		    opts->redact_counts, &o->spliced)) {
		case REDACT_SPLICE_KEEP:
			break;
		case REDACT_SPLICE_CHANGED:
			text = o->spliced.data;
			len = o->spliced.len;
			break;
		case REDACT_SPLICE_TREE:
			inner = cJSON_ParseWithLength(raw, rawlen);
			if (inner == NULL) {
				snprintf(
				    err, errlen, "%s: out of memory", name);
				return 500;
			}
			obj = inner;
			break;
		case REDACT_SPLICE_ERROR:
			goto unredacted;
		}
	}
	if (opts->redact != NULL && obj != NULL) {
		rc = redact_tree(opts->redact, obj, opts->redact_counts);
		if (rc == -1)
			goto unredacted;
		if (rc > 0)
			text = NULL;
	}
	rec_begin(o, req, k->id, 1);
	rc = k->store_open != NULL ? buf_addstr(&o->data, k->store_open) : 0;
	if (rc == 0)
		rc = normalize(obj, text, len, eo, path, &o->data,
		    &o->ids[o->n], err, errlen);
	else
		snprintf(err, errlen, "%s: out of memory", name);
	if (rc == 0 && k->store_open != NULL &&
	    buf_addch(&o->data, '}') == -1) {
		snprintf(err, errlen, "%s: out of memory", name);
		rc = -1;
	}
	cJSON_Delete(inner);
	if (rc == -1) {
		/* The wrapper's opening may be there: out as it was. */
		data_truncate(o, before);
		return 400;
	}
	o->n++;
	o->items++;
	return 0;

too_big:
	snprintf(err, errlen, "%s: larger than max_event_bytes (%llu)", name,
	    (unsigned long long)opts->max_event_bytes);
	return 413;

unredacted:
	snprintf(err, errlen,
	    "%s: cannot be redacted (out of memory, or nested too deep)", name);
	cJSON_Delete(inner);
	return 500;
}

/* Parse the body as one JSON object. Returns the tree, or NULL with err. */
static cJSON *
parse_object(const char *body, size_t len, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *root;
	size_t rest;

	/* Strict RFC 8259, UTF-8 included: what cJSON lets by is refused. */
	if (json_check(body, len, "body", err, errlen) == -1)
		return NULL;
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL) {
		/* cJSON also refuses nesting deeper than 1000 levels. */
		snprintf(err, errlen,
		    "body: invalid JSON (or nested too deep) near byte %zu",
		    end != NULL ? (size_t)(end - body) : (size_t)0);
		return NULL;
	}
	/*
	 * cJSON stops where the value ends: anything but white space after
	 * it is not JSON, and PUT /events would spool it with the body.
	 */
	rest = (size_t)(body + len - end);
	(void)json_trim(end, &rest);
	if (rest != 0) {
		snprintf(err, errlen,
		    "body: text after the JSON value at byte %zu",
		    (size_t)(end - body));
		cJSON_Delete(root);
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "body: must be a JSON object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/*
 * An event-API body as one JSON object. When a test asks
 * (body_opts.tree_only), *root is its cJSON tree, the caller's to free,
 * and redaction rules run on the records' nodes. Else *root is NULL and
 * the records are read from the text
 * through jsonscan's view: cJSON's parse was most of the cost of a body,
 * and json_check accepts nothing cJSON refuses (the nesting limit is
 * cJSON's own; a number of any length parses, since the fix for
 * CVE-2023-26819 Debian's cJSON carries; what is left is running out of
 * memory), so the tree is not needed for the verdict either. The check
 * leaves o->index behind for the walks that read the records. 0, or 400
 * with err set.
 */
static int
parse_body(const struct body_opts *opts, const struct body_req *req,
    struct body_out *o, cJSON **root, char *err, size_t errlen)
{
	*root = NULL;
	if (opts->tree_only) {
		*root = parse_object(req->body, req->len, err, errlen);
		return *root != NULL ? 0 : 400;
	}
	if (json_check_index(req->body, req->len, index_room(o, req->len),
	        "body", err, errlen) == -1)
		return 400;
	if (json_type_of(req->body, req->len) != JSON_OBJECT) {
		snprintf(err, errlen, "body: must be a JSON object");
		return 400;
	}
	return 0;
}

/* o's index of the body, when json_check made one; else NULL. */
static const struct json_index *
body_index(const struct body_out *o)
{
	return o->index.text != NULL ? &o->index : NULL;
}

static void
event_opts_init(const struct body_opts *opts, const struct body_out *o,
    struct event_opts *eo)
{
	memset(eo, 0, sizeof(*eo));
	eo->default_project = opts->default_project;
	eo->uuid_gen = opts->uuid_gen;
	eo->uuid_arg = opts->uuid_arg;
	eo->index = body_index(o);
}

/*
 * The values of the body's members names[0..n) into vals (text NULL when
 * absent), each the first of its name, as cJSON finds it. One walk for
 * all: a batch's events are most of its body, and a walk per member would
 * step over them each time.
 */
static void
body_members(const struct body_req *req, const struct body_out *o,
    const char *const *names, struct json_value *vals, size_t n)
{
	struct json_view v;
	struct json_member m;
	size_t i, left = n;

	memset(vals, 0, n * sizeof(*vals));
	if (json_view_object(&v, req->body, req->len) == -1)
		return;
	json_view_use_index(&v, body_index(o));
	while (left > 0 && json_view_member(&v, &m) == 1) {
		for (i = 0; i < n; i++) {
			if (vals[i].text == NULL &&
			    json_name_is(&m, names[i])) {
				vals[i] = m.value;
				left--;
				break;
			}
		}
	}
}

/* A body of one record: in a member, or the body itself. */
static int
take_one(const struct body_opts *opts, const struct body_req *req, cJSON *root,
    struct body_out *o, char *err, size_t errlen)
{
	const struct kind *k = req->kind;
	const char *member = req->route->member;
	struct event_opts eo;
	struct json_value v = {req->body, req->len, JSON_NONE};
	cJSON *val = root;

	/* The value's own text, found as cJSON finds it (and its node). */
	if (member != NULL) {
		body_members(req, o, &member, &v, 1);
		if (v.text == NULL) {
			snprintf(err, errlen, "%s: required", member);
			return 400;
		}
		if (root != NULL &&
		    (val = cJSON_GetObjectItemCaseSensitive(root, member)) ==
		        NULL) {
			snprintf(err, errlen, "%s: internal: not in the tree",
			    member);
			return 500;
		}
	}
	if (out_reserve(o, 1) == -1) {
		snprintf(err, errlen, "body: out of memory");
		return 500;
	}
	event_opts_init(opts, o, &eo);
	o->bad_record = 1;
	return take_record(opts, req, k, val, v.text, v.len,
	    member != NULL ? member : "", &eo, o, err, errlen);
}

/*
 * The session_id the object text[0..len) names, into sid, when it is a
 * string holding a UUID: 0, else -1 (sid then holds anything).
 */
static int
named_session(const char *text, size_t len, char *sid)
{
	struct json_value v;
	size_t off, n;

	if (json_type_of(text, len) != JSON_OBJECT ||
	    json_member_span(text, len, "session_id", &off, &v.len) == -1)
		return -1;
	v.text = text + off;
	v.type = json_type_of(v.text, v.len);
	if (json_string_get(&v, sid, EVENT_UUID_LEN + 1, &n) == -1 ||
	    !event_uuid_valid(sid))
		return -1;
	return 0;
}

/*
 * The session every event of a single-session batch shares: the one its
 * session_properties name, else the first event's, else a new one. The
 * events are the elements of the array events, walked here on their own
 * (the records are taken after the session is known), with no memory.
 */
static void
batch_session(const struct body_opts *opts, const struct json_value *props,
    const struct json_value *events, char *sid)
{
	struct json_view v;
	struct json_value e;

	if (props != NULL && named_session(props->text, props->len, sid) == 0)
		return;
	if (json_view_array(&v, events->text, events->len) == 0)
		while (json_view_element(&v, &e) == 1)
			if (named_session(e.text, e.len, sid) == 0)
				return;
	opts->uuid_gen(sid, opts->uuid_arg);
}

/*
 * The project of a batch's session record when its session_properties
 * name none (the SDK's SessionPropertiesBatch has no project, and the
 * upstream's /session/start wants one): the first event's, decoded into
 * o->decoded, else the default. The events are the elements of the array
 * events. NULL when out of memory.
 */
static const char *
batch_project(
    struct body_out *o, const struct json_value *events, const char *dflt)
{
	struct json_view ev;
	struct json_value e, v;
	size_t off, got;

	if (json_view_array(&ev, events->text, events->len) == -1)
		return dflt;
	while (json_view_element(&ev, &e) == 1) {
		if (e.type != JSON_OBJECT ||
		    json_member_span(e.text, e.len, "project", &off, &v.len) ==
		        -1)
			continue;
		v.text = e.text + off;
		v.type = json_type_of(v.text, v.len);
		if (v.type != JSON_STRING)
			continue;
		buf_reset(&o->decoded);
		if (buf_reserve(&o->decoded, v.len) == -1 ||
		    json_string_get(&v, o->decoded.data, v.len, &got) == -1)
			return NULL;
		return o->decoded.data;
	}
	return dflt;
}

/*
 * Spool a single-session batch's session_properties as the session start
 * they describe, first, so that it reaches the upstream before its
 * events. The forwarder re-batches events across requests and so cannot
 * send is_single_session and session_properties on; the upstream creates
 * the batch's session from them, and POST /session/start with the same
 * session_id and properties is that creation. A session is never in
 * string form, so o->decoded keeps the project until the record is made.
 */
static int
take_session_properties(const struct body_opts *opts,
    const struct body_req *req, const struct json_value *props, cJSON *node,
    const struct json_value *events, const struct event_opts *eo,
    struct body_out *o, char *err, size_t errlen)
{
	struct event_opts so = *eo;

	so.default_project = batch_project(o, events, eo->default_project);
	if (so.default_project == NULL) {
		snprintf(err, errlen, "session_properties: out of memory");
		return 500;
	}
	o->lead = 1;
	return take_record(opts, req, kind_get(KIND_SESSION), node, props->text,
	    props->len, "session_properties", &so, o, err, errlen);
}

/*
 * POST /events/batch and /events/model/batch: all or nothing. The members
 * are found in the text, each as cJSON finds it; a tree, when there is
 * one, gives the records' nodes. The elements are walked once, in order,
 * each taken as it comes: nothing is held per element but its record, so
 * a body of many elements that are not events (a megabyte of "1,") takes
 * no memory before its first element is refused.
 */
/*
 * Write "<index>]" at path + pl, after the "member[" the caller wrote once:
 * snprintf per element was 2.7% of taking a batch apart. path has room
 * for pl + PATH_INDEX_ROOM bytes.
 */
#define PATH_INDEX_ROOM 24
static void
path_index(char *path, size_t pl, size_t i)
{
	char d[PATH_INDEX_ROOM];
	size_t n = 0;

	do {
		d[n++] = (char)('0' + i % 10);
		i /= 10;
	} while (i > 0);
	while (n > 0)
		path[pl++] = d[--n];
	path[pl++] = ']';
	path[pl] = '\0';
}

static int
take_many(const struct body_opts *opts, const struct body_req *req, cJSON *root,
    struct body_out *o, char *err, size_t errlen)
{
	const struct kind *k = req->kind;
	const char *member = req->route->member;
	const char *const names[] = {
	    member, "is_single_session", "session_properties"};
	struct json_value vals[3], events, single, props, ev;
	struct json_view walk;
	cJSON *pnode = NULL, *e = NULL;
	struct event_opts eo;
	int has_props, status, rc;
	size_t i, pl;
	char path[48];

	body_members(req, o, names, vals, 3);
	events = vals[0];
	single = vals[1];
	props = vals[2];
	has_props = props.text != NULL;
	if (events.text == NULL) {
		snprintf(err, errlen, "%s: required", member);
		return 400;
	}
	if (events.type != JSON_ARRAY) {
		snprintf(err, errlen, "%s: must be an array", member);
		return 400;
	}
	if (single.text != NULL && single.type != JSON_TRUE &&
	    single.type != JSON_FALSE) {
		snprintf(err, errlen, "is_single_session: must be a boolean");
		return 400;
	}
	if (has_props && props.type != JSON_OBJECT) {
		snprintf(err, errlen, "session_properties: must be an object");
		return 400;
	}
	if (root != NULL) {
		cJSON *enode = cJSON_GetObjectItemCaseSensitive(root, member);

		pnode = cJSON_GetObjectItemCaseSensitive(
		    root, "session_properties");
		if (!cJSON_IsArray(enode) || (pnode != NULL) != has_props) {
			snprintf(err, errlen, "%s: internal: tree", member);
			return 500;
		}
		e = enode->child;
	}
	event_opts_init(opts, o, &eo);
	if (single.type == JSON_TRUE) {
		o->single_session = 1;
		batch_session(
		    opts, has_props ? &props : NULL, &events, o->session_id);
		eo.session_id = o->session_id;
	}
	/*
	 * Without is_single_session the upstream uses no session_properties
	 * (they describe the batch's one session), so they are checked to
	 * be an object above and not spooled.
	 */
	if (o->single_session && has_props) {
		if (out_reserve(o, 1) == -1) {
			snprintf(
			    err, errlen, "session_properties: out of memory");
			return 500;
		}
		status = take_session_properties(
		    opts, req, &props, pnode, &events, &eo, o, err, errlen);
		if (status != 0)
			return status;
	}
	if (json_view_array(&walk, events.text, events.len) == -1) {
		snprintf(err, errlen, "%s: internal: not an array", member);
		return 500;
	}
	json_view_use_index(&walk, body_index(o));
	/* Route members are short names of ours; cut one that is not. */
	pl = strlen(member);
	if (pl > sizeof(path) - PATH_INDEX_ROOM - 1)
		pl = sizeof(path) - PATH_INDEX_ROOM - 1;
	memcpy(path, member, pl);
	path[pl++] = '[';
	for (i = 0; (rc = json_view_element(&walk, &ev)) == 1; i++) {
		path_index(path, pl, i);
		if (root != NULL && e == NULL) {
			snprintf(err, errlen, "%s: internal: tree", member);
			return 500;
		}
		if (out_reserve(o, o->n + 1) == -1) {
			snprintf(err, errlen, "%s: out of memory", member);
			return 500;
		}
		status = take_record(opts, req, k, e, ev.text, ev.len, path,
		    &eo, o, err, errlen);
		if (status != 0) {
			o->bad_record = 1;
			return status;
		}
		if (e != NULL)
			e = e->next;
	}
	if (rc == -1 || e != NULL) {
		snprintf(err, errlen, "%s: internal: %s", member,
		    rc == -1 ? "elements" : "tree");
		return 500;
	}
	return 0;
}

/* The records of an event-API body, as its route's form holds them. */
static int
take_form(const struct body_opts *opts, const struct body_req *req, cJSON *root,
    struct body_out *o, char *err, size_t errlen)
{
	switch (req->route->form) {
	case KIND_FORM_MANY:
		return take_many(opts, req, root, o, err, errlen);
	case KIND_FORM_ONE:
	case KIND_FORM_WHOLE:
		return take_one(opts, req, root, o, err, errlen);
	default:
		snprintf(err, errlen, "body: internal: no such route form");
		return 500;
	}
}

/* An otlp result as the HTTP status to answer. */
static int
otlp_status(int rc)
{
	switch (rc) {
	case OTLP_OK:
		return 0;
	case OTLP_E_TOOBIG:
		return 413;
	case OTLP_E_NOMEM:
		return 500;
	default:
		return 400;
	}
}

/*
 * Start an export's record at the end of data: of kind, holding nspans.
 * The caller appends the record's text, then calls export_end. 0, or the
 * status with err set: 413 for more spans than a record counts, 500 when
 * out of memory.
 */
static int
export_begin(const struct body_req *req, struct body_out *o, unsigned kind,
    size_t nspans, char *err, size_t errlen)
{
	if (nspans > UINT32_MAX) {
		snprintf(err, errlen, "body: more than %u spans",
		    (unsigned)UINT32_MAX);
		return 413;
	}
	if (out_reserve(o, 1) == -1) {
		snprintf(err, errlen, "body: out of memory");
		return 500;
	}
	rec_begin(o, req, kind, nspans);
	return 0;
}

/*
 * End the record export_begin started: kept when its text went in whole
 * (ok, and no append failed), else cut off. 0, or 500 with err set.
 */
static int
export_end(struct body_out *o, size_t nspans, int ok, char *err, size_t errlen)
{
	if (!ok || buf_failed(&o->data)) {
		data_truncate(o, o->offs[o->n]);
		snprintf(err, errlen, "body: out of memory");
		return 500;
	}
	o->n++;
	o->items += nspans;
	return 0;
}

/* One export as one record: text[0..len) of kind, holding nspans. */
static int
take_export(const struct body_req *req, struct body_out *o, unsigned kind,
    const char *text, size_t len, size_t nspans, char *err, size_t errlen)
{
	int status;

	if (nspans == 0)
		return 0; /* nothing to forward: answered at once */
	status = export_begin(req, o, kind, nspans, err, errlen);
	if (status != 0)
		return status;
	return export_end(
	    o, nspans, buf_add(&o->data, text, len) == 0, err, errlen);
}

/* A redacted protobuf export, packed again as its record. */
static int
take_packed(const struct body_req *req, struct body_out *o,
    const struct otlp_pb *pb, char *err, size_t errlen)
{
	size_t nspans = otlp_pb_spans(pb);
	int status;

	if (nspans == 0)
		return 0;
	status = export_begin(req, o, KIND_SPANS_PB, nspans, err, errlen);
	if (status != 0)
		return status;
	return export_end(
	    o, nspans, otlp_pb_pack(pb, &o->data) == OTLP_OK, err, errlen);
}

/*
 * A protobuf export: checked on its wire bytes and spooled as the
 * client's bytes; with rules loaded, decoded by protobuf-c and redacted,
 * and packed again when a rule changed it.
 */
static int
take_otlp_pb(const struct body_opts *opts, const struct body_req *req,
    const char *body, size_t len, struct body_out *o, char *err, size_t errlen)
{
	struct otlp_pb *pb = NULL;
	size_t mem =
	    len < SIZE_MAX / PB_MEM_FACTOR ? len * PB_MEM_FACTOR : SIZE_MAX;
	size_t nspans = 0;
	int rc;

	/*
	 * Without rules nothing changes the export: the checks without the
	 * unpack (which costs about 5 times as much, mostly in malloc).
	 */
	if (opts->redact == NULL) {
		rc = otlp_pb_check(body, len, &nspans, err, errlen);
		if (rc != OTLP_OK)
			return otlp_status(rc);
		return take_export(
		    req, o, KIND_SPANS_PB, body, len, nspans, err, errlen);
	}
	if (mem < PB_MEM_FLOOR)
		mem = PB_MEM_FLOOR;
	rc = otlp_pb_decode(body, len, mem, &pb, err, errlen);
	if (rc != OTLP_OK)
		return otlp_status(rc);
	rc = redact_otlp_pb(
	    opts->redact, otlp_pb_request(pb), opts->redact_counts);
	if (rc == -1) {
		snprintf(
		    err, errlen, "body: cannot be redacted (out of memory)");
		otlp_pb_free(pb);
		return 500;
	}
	if (rc > 0) {
		rc = take_packed(req, o, pb, err, errlen);
		otlp_pb_free(pb);
		return rc;
	}
	rc = take_export(
	    req, o, KIND_SPANS_PB, body, len, otlp_pb_spans(pb), err, errlen);
	otlp_pb_free(pb);
	return rc;
}

/*
 * A redacted JSON export: its resourceSpans printed again, element by
 * element, joined as the record.
 */
static int
take_printed(const struct body_req *req, struct body_out *o, const cJSON *rs,
    size_t nspans, char *err, size_t errlen)
{
	const cJSON *e;
	char *p;
	int status;

	if (nspans == 0)
		return 0;
	status = export_begin(req, o, KIND_SPANS_JSON, nspans, err, errlen);
	if (status != 0)
		return status;
	cJSON_ArrayForEach(e, rs) {
		if ((p = cJSON_PrintUnformatted(e)) == NULL)
			break;
		if (e != rs->child)
			buf_addch(&o->data, ',');
		buf_addstr(&o->data, p);
		cJSON_free(p);
	}
	return export_end(o, nspans, e == NULL, err, errlen);
}

/*
 * A JSON export: the strict byte pass and cJSON, then the OTLP mapping's
 * shapes. Spooled as the text inside its resourceSpans array, the client's
 * bytes, which the forwarder joins with other exports' into one; printed
 * again when a rule changed it.
 */
static int
take_otlp_json(const struct body_opts *opts, const char *body, size_t len,
    const struct body_req *req, struct body_out *o, char *err, size_t errlen)
{
	const char *text;
	size_t nspans = 0, off, vlen;
	cJSON *root, *rs;
	int status = 0, rc;

	root = parse_object(body, len, err, errlen);
	if (root == NULL)
		return 400;
	if (otlp_json_validate(root, &nspans, err, errlen) == -1) {
		status = 400;
	} else if (nspans > 0 && opts->redact != NULL &&
	    (rs = cJSON_GetObjectItemCaseSensitive(root, "resourceSpans")) !=
	        NULL &&
	    (rc = redact_otlp_json(opts->redact, rs, opts->redact_counts)) !=
	        0) {
		if (rc == -1) {
			snprintf(err, errlen,
			    "body: cannot be redacted (out of "
			    "memory, or nested too deep)");
			status = 500;
		} else {
			status = take_printed(req, o, rs, nspans, err, errlen);
		}
	} else if (nspans > 0) {
		if (json_member_span(body, len, "resourceSpans", &off, &vlen) ==
		        -1 ||
		    vlen < 2 || body[off] != '[' ||
		    body[off + vlen - 1] != ']') {
			snprintf(err, errlen, "resourceSpans: internal: span");
			status = 500;
		} else {
			vlen -= 2;
			text = json_trim(body + off + 1, &vlen);
			status = take_export(req, o, KIND_SPANS_JSON, text,
			    vlen, nspans, err, errlen);
		}
	}
	cJSON_Delete(root);
	return status;
}

/* POST /v1/traces and /opentelemetry/v1/traces: one OTLP export. */
static int
take_otlp(const struct body_opts *opts, const struct body_req *req,
    struct body_out *o, char *err, size_t errlen)
{
	enum otlp_encoding enc;
	enum otlp_compression comp;
	const char *body = req->body;
	size_t len = req->len;
	int rc;

	if (otlp_content_type(req->content_type, &enc) == -1) {
		snprintf(err, errlen,
		    "Content-Type: %.64s: not application/x-protobuf, "
		    "application/protobuf or application/json",
		    req->content_type != NULL ? req->content_type : "(none)");
		return 415;
	}
	if (otlp_content_encoding(req->content_encoding, &comp) == -1) {
		snprintf(err, errlen,
		    "Content-Encoding: %.64s: not gzip, deflate or identity",
		    req->content_encoding);
		return 415;
	}
	if (len > opts->max_body_bytes) {
		snprintf(err, errlen, "body: larger than max_body_bytes (%llu)",
		    (unsigned long long)opts->max_body_bytes);
		return 413;
	}
	if (comp != OTLP_IDENTITY) {
		buf_reset(&o->inflated);
		rc = otlp_inflate(comp, body, len, opts->max_body_bytes,
		    &o->inflated, err, errlen);
		if (rc == OTLP_E_TOOBIG)
			snprintf(err, errlen,
			    "body: decompresses to more than max_body_bytes "
			    "(%llu)",
			    (unsigned long long)opts->max_body_bytes);
		if (rc != OTLP_OK)
			return otlp_status(rc);
		body = o->inflated.data != NULL ? o->inflated.data : "";
		len = o->inflated.len;
	}
	o->otlp_encoding = enc;
	if (enc == OTLP_PROTOBUF)
		return take_otlp_pb(opts, req, body, len, o, err, errlen);
	return take_otlp_json(opts, body, len, req, o, err, errlen);
}

int
body_take(const struct body_opts *opts, const struct body_req *req,
    struct body_out *out, char *err, size_t errlen)
{
	cJSON *root;
	int status;

	out_reset(out);
	if (req->route->form == KIND_FORM_OTLP) {
		jsonmem_begin();
		status = take_otlp(opts, req, out, err, errlen);
		jsonmem_end();
		if (status != 0)
			out_reset(out);
		return status;
	}
	/* The request's cJSON trees live and die in here. */
	jsonmem_begin();
	status = parse_body(opts, req, out, &root, err, errlen);
	if (status == 0)
		status = take_form(opts, req, root, out, err, errlen);
	cJSON_Delete(root);
	jsonmem_end();
	if (status != 0) {
		int bad = out->bad_record;

		out_reset(out);
		out->bad_record = bad;
	} else {
		out->bad_record = 0;
	}
	return status;
}

void
body_seal(struct body_out *o, uint64_t now_ms)
{
	for (size_t i = 0; i < o->n; i++) {
		size_t end = i + 1 < o->n ? o->offs[i + 1] : o->data.len;

		o->recs[i].time_ms = now_ms;
		o->recs[i].data = o->data.data + o->offs[i];
		o->recs[i].len = end - o->offs[i];
	}
}
