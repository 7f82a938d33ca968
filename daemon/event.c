/* event.c: event validation, with defaults spliced into the client's bytes. */
#include "daemon/event.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "daemon/jsonscan.h"

enum field_kind {
	FK_EVENT_TYPE,
	FK_STRING,
	FK_UUID,
	FK_STRING_ARRAY,
	FK_OBJECT,
	FK_STRING_OR_NULL,
	FK_NUMBER,
};

/* The documented members; the index is also the member's bit in "seen". */
enum field_id {
	F_EVENT_TYPE,
	F_INPUTS,
	F_PROJECT,
	F_SOURCE,
	F_EVENT_NAME,
	F_EVENT_ID,
	F_SESSION_ID,
	F_PARENT_ID,
	F_CHILDREN_IDS,
	F_CONFIG,
	F_OUTPUTS,
	F_METADATA,
	F_METRICS,
	F_FEEDBACK,
	F_USER_PROPERTIES,
	F_ERROR,
	F_DURATION,
	F_START_TIME,
	F_END_TIME,
	F_COUNT
};

struct field {
	const char *name;
	size_t len;
	enum field_kind kind;
};

#define FIELD(id, name, kind) [id] = {name, sizeof(name) - 1, kind}

static const struct field fields[F_COUNT] = {
    FIELD(F_EVENT_TYPE, "event_type", FK_EVENT_TYPE),
    FIELD(F_INPUTS, "inputs", FK_OBJECT),
    FIELD(F_PROJECT, "project", FK_STRING),
    FIELD(F_SOURCE, "source", FK_STRING),
    FIELD(F_EVENT_NAME, "event_name", FK_STRING),
    FIELD(F_EVENT_ID, "event_id", FK_UUID),
    FIELD(F_SESSION_ID, "session_id", FK_UUID),
    FIELD(F_PARENT_ID, "parent_id", FK_UUID),
    FIELD(F_CHILDREN_IDS, "children_ids", FK_STRING_ARRAY),
    FIELD(F_CONFIG, "config", FK_OBJECT),
    FIELD(F_OUTPUTS, "outputs", FK_OBJECT),
    FIELD(F_METADATA, "metadata", FK_OBJECT),
    FIELD(F_METRICS, "metrics", FK_OBJECT),
    FIELD(F_FEEDBACK, "feedback", FK_OBJECT),
    FIELD(F_USER_PROPERTIES, "user_properties", FK_OBJECT),
    FIELD(F_ERROR, "error", FK_STRING_OR_NULL),
    FIELD(F_DURATION, "duration", FK_NUMBER),
    FIELD(F_START_TIME, "start_time", FK_NUMBER),
    FIELD(F_END_TIME, "end_time", FK_NUMBER),
};

static const char *const event_types[] = {"chain", "model", "tool", "session"};

/*
 * The members of one event, each found once. The strings point into the
 * caller's tree and live as long as it does.
 */
struct members {
	unsigned long seen;
	const char *event_id;
	const char *session_id;
};

static void
seterr(char *err, size_t errlen, const char *path, const char *field,
       const char *reason)
{
	if (err == NULL || errlen == 0)
		return;
	if (field != NULL)
		snprintf(err, errlen, "%s.%s: %s", path, field, reason);
	else
		snprintf(err, errlen, "%s: %s", path, reason);
}

/*
 * The class of each byte (1 hex digit, 2 hyphen, 0 other) and the class
 * each position of a UUID wants. Tables and no early exit: with random ids
 * per-character range tests mispredict, and this runs for every id.
 */
static const unsigned char uuid_class[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['A'] = 1, ['B'] = 1,
    ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['-'] = 2,
};
static const unsigned char uuid_want[EVENT_UUID_LEN] = {
    1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 2, 1, 1, 1, 1,
    2, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

int
event_uuid_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned bad = 0;
	int i;

	/* Length first, so the reads below never pass the string's end. */
	if (strnlen(s, EVENT_UUID_LEN + 1) != EVENT_UUID_LEN)
		return 0;
	for (i = 0; i < EVENT_UUID_LEN; i++)
		bad |= (unsigned)(uuid_class[p[i]] ^ uuid_want[i]);
	return bad == 0;
}

void
event_uuid_format(const unsigned char bytes[16], char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	int i, o = 0;

	memcpy(b, bytes, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* variant 10xx */
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0F];
	}
	out[o] = '\0';
}

/*
 * The field a member name documents, or -1. Names compare case-sensitively,
 * length first: most names of an event are documented ones, and a strcmp
 * per table entry was the larger part of validating one.
 */
static int
field_lookup(const char *name)
{
	size_t len = strlen(name);
	int i;

	for (i = 0; i < F_COUNT; i++)
		if (len == fields[i].len && name[0] == fields[i].name[0] &&
		    memcmp(name, fields[i].name, len) == 0)
			return i;
	return -1;
}

static int
is_event_type(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
		if (strcmp(s, event_types[i]) == 0)
			return 1;
	return 0;
}

/* NULL if v has the type kind documents, else the reason it has not. */
static const char *
check_kind(const cJSON *v, enum field_kind kind)
{
	switch (kind) {
	case FK_EVENT_TYPE:
		return cJSON_IsString(v) && is_event_type(v->valuestring)
		           ? NULL
		           : "must be one of chain, model, tool, session";
	case FK_STRING:
		return cJSON_IsString(v) ? NULL : "must be a string";
	case FK_UUID:
		return cJSON_IsString(v) && event_uuid_valid(v->valuestring)
		           ? NULL
		           : "must be a UUID string";
	case FK_STRING_ARRAY:
		return cJSON_IsArray(v) ? NULL : "must be an array of strings";
	case FK_OBJECT:
		return cJSON_IsObject(v) ? NULL : "must be an object";
	case FK_STRING_OR_NULL:
		return cJSON_IsString(v) || cJSON_IsNull(v)
		           ? NULL
		           : "must be a string or null";
	case FK_NUMBER:
		return cJSON_IsNumber(v) ? NULL : "must be a number";
	}
	return "unknown member kind";
}

/*
 * One pass over the members: each documented one is checked for its type
 * and for appearing twice. A duplicate is an error, not a choice: cJSON
 * would validate the first, the upstream's parser keeps the last.
 */
static int
check_members(const cJSON *obj, const char *path, struct members *m, char *err,
              size_t errlen)
{
	const cJSON *c, *e;
	const char *why;
	int f, i;
	char name[32];

	for (c = obj->child; c != NULL; c = c->next) {
		if (c->string == NULL)
			continue;
		f = field_lookup(c->string);
		if (f == -1)
			continue;
		if (m->seen & (1UL << f)) {
			seterr(err, errlen, path, fields[f].name,
			       "duplicate member");
			return -1;
		}
		m->seen |= 1UL << f;
		why = check_kind(c, fields[f].kind);
		if (why != NULL) {
			seterr(err, errlen, path, fields[f].name, why);
			return -1;
		}
		if (f == F_EVENT_ID)
			m->event_id = c->valuestring;
		else if (f == F_SESSION_ID)
			m->session_id = c->valuestring;
		else if (f == F_CHILDREN_IDS) {
			i = 0;
			for (e = c->child; e != NULL; e = e->next, i++) {
				if (cJSON_IsString(e))
					continue;
				snprintf(name, sizeof(name), "children_ids[%d]",
				         i);
				seterr(err, errlen, path, name,
				       "must be a string");
				return -1;
			}
		}
	}
	if (!(m->seen & (1UL << F_EVENT_TYPE))) {
		seterr(err, errlen, path, "event_type", "required");
		return -1;
	}
	if (!(m->seen & (1UL << F_INPUTS))) {
		seterr(err, errlen, path, "inputs", "required");
		return -1;
	}
	return 0;
}

/*
 * Append the member start (key, colon, opening quote), value and ",". Only
 * the project comes from outside and needs escaping; ids are checked UUIDs
 * and the rest are constants, so they are copied whole.
 */
static int
add_member(struct buf *out, const char *start, const char *value)
{
	if (buf_addstr(out, start) == -1 || buf_addstr(out, value) == -1)
		return -1;
	return buf_add(out, "\",", 2);
}

static int
add_project(struct buf *out, const char *project)
{
	if (buf_add(out, "\"project\":", 10) == -1 ||
	    buf_add_json_string(out, project) == -1)
		return -1;
	return buf_addch(out, ',');
}

/*
 * Write the object text with the absent defaults as its first members. The
 * text is never an empty object here (event_type and inputs are required),
 * so the comma after the last default always has a member to follow.
 */
static int
splice(struct buf *out, const char *text, size_t len, const struct members *m,
       const struct event_ids *ids, const char *project)
{
	size_t extra = 200 + (project != NULL ? 6 * strlen(project) : 0);

	if (buf_reserve(out, len + extra) == -1 || buf_addch(out, '{') == -1)
		return -1;
	if (!(m->seen & (1UL << F_EVENT_ID)) &&
	    add_member(out, "\"event_id\":\"", ids->event_id) == -1)
		return -1;
	if (!(m->seen & (1UL << F_SESSION_ID)) &&
	    add_member(out, "\"session_id\":\"", ids->session_id) == -1)
		return -1;
	if (!(m->seen & (1UL << F_PARENT_ID)) &&
	    add_member(out, "\"parent_id\":\"", ids->session_id) == -1)
		return -1;
	if (!(m->seen & (1UL << F_EVENT_NAME)) &&
	    add_member(out, "\"event_name\":\"", "unknown") == -1)
		return -1;
	if (!(m->seen & (1UL << F_SOURCE)) &&
	    add_member(out, "\"source\":\"", "unknown") == -1)
		return -1;
	if (project != NULL && add_project(out, project) == -1)
		return -1;
	return buf_add(out, text + 1, len - 1);
}

/* 1 if cJSON's parse_hex4 reads these four digits as 0: "0000", or not hex. */
static int
hex4_is_nul(const char *p)
{
	int i, zero = 1;

	for (i = 0; i < 4; i++) {
		if (uuid_class[(unsigned char)p[i]] != 1)
			return 1;
		if (p[i] != '0')
			zero = 0;
	}
	return zero;
}

/*
 * 1 if the text holds a NUL, raw or as an escape. cJSON keeps strings as C
 * strings, so it validated such a string (or key) cut at the NUL, while the
 * bytes sent upstream hold all of it: "<uuid>\u0000junk" would pass as a
 * UUID. Backslashes occur only inside strings, so pairing them from the
 * left finds every escape.
 */
static int
has_nul(const char *s, size_t len)
{
	const char *p = s, *end = s + len, *q;

	if (memchr(s, '\0', len) != NULL)
		return 1;
	for (;;) {
		q = memchr(p, '\\', (size_t)(end - p));
		if (q == NULL || end - q < 2)
			return 0;
		if (q[1] != 'u') {
			p = q + 2;
			continue;
		}
		if (end - q < 6)
			return 0;
		if (hex4_is_nul(q + 2))
			return 1;
		p = q + 6;
	}
}

/* Fill *ids from the event, the batch's session or the generator. */
static int
choose_ids(const struct members *m, const struct event_opts *opts,
           const char *path, struct event_ids *ids, char *err, size_t errlen)
{
	if (m->event_id != NULL) {
		memcpy(ids->event_id, m->event_id, EVENT_UUID_LEN + 1);
	} else {
		if (opts->uuid_gen == NULL) {
			seterr(err, errlen, path, NULL, "no id generator");
			return -1;
		}
		opts->uuid_gen(ids->event_id, opts->uuid_arg);
	}
	if (m->session_id != NULL) {
		memcpy(ids->session_id, m->session_id, EVENT_UUID_LEN + 1);
	} else if (opts->session_id != NULL) {
		memcpy(ids->session_id, opts->session_id, EVENT_UUID_LEN + 1);
	} else {
		if (opts->uuid_gen == NULL) {
			seterr(err, errlen, path, NULL, "no id generator");
			return -1;
		}
		opts->uuid_gen(ids->session_id, opts->uuid_arg);
	}
	/* A generator that breaks its contract must not yield bad JSON. */
	if (!event_uuid_valid(ids->event_id) ||
	    !event_uuid_valid(ids->session_id)) {
		seterr(err, errlen, path, NULL, "id generator made a bad id");
		return -1;
	}
	return 0;
}

int
event_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
                const struct event_opts *opts, const char *path,
                struct buf *out, struct event_ids *ids, char *err,
                size_t errlen)
{
	static const struct event_opts no_opts;
	struct members m = {0, NULL, NULL};
	struct event_ids local;
	const char *project = NULL, *text = raw;
	char *printed = NULL;
	size_t saved = out->len, len = rawlen;
	int rc;

	if (opts == NULL)
		opts = &no_opts;
	if (path == NULL)
		path = "event";
	if (ids == NULL)
		ids = &local;
	if (!cJSON_IsObject(obj)) {
		seterr(err, errlen, path, NULL, "must be an object");
		return -1;
	}
	if (text != NULL) {
		text = json_trim(text, &len);
		if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
			seterr(err, errlen, path, NULL,
			       "raw text is not an object");
			return -1;
		}
		if (has_nul(text, len)) {
			seterr(err, errlen, path, NULL,
			       "must not contain NUL characters (\\u0000)");
			return -1;
		}
	}
	if (check_members(obj, path, &m, err, errlen) == -1)
		return -1;
	if (opts->session_id != NULL) {
		if (!event_uuid_valid(opts->session_id)) {
			seterr(err, errlen, path, "session_id",
			       "the batch's session is not a UUID");
			return -1;
		}
		/*
		 * Byte for byte: the upstream keeps ids as strings, so the
		 * same UUID in other letter case is another session there.
		 */
		if (m.session_id != NULL &&
		    strcmp(m.session_id, opts->session_id) != 0) {
			seterr(err, errlen, path, "session_id",
			       "differs from the batch's session");
			return -1;
		}
	}
	if (choose_ids(&m, opts, path, ids, err, errlen) == -1)
		return -1;
	if (!(m.seen & (1UL << F_PROJECT)) && opts->default_project != NULL &&
	    opts->default_project[0] != '\0')
		project = opts->default_project;
	if (text == NULL) {
		/*
		 * Printing and then splicing keeps one way of adding defaults;
		 * the print is the cost callers without raw bytes pay.
		 */
		printed = cJSON_PrintUnformatted(obj);
		if (printed == NULL) {
			seterr(err, errlen, path, NULL, "out of memory");
			return -1;
		}
		text = printed;
		len = strlen(printed);
	}
	rc = splice(out, text, len, &m, ids, project);
	cJSON_free(printed);
	if (rc == -1) {
		out->len = saved;
		if (out->data != NULL)
			out->data[saved] = '\0';
		seterr(err, errlen, path, NULL, "out of memory");
		return -1;
	}
	return 0;
}
