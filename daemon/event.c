/* event.c: event validation, with defaults spliced into the client's bytes. */
#include "daemon/event.h"

#include <pthread.h>

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/jsonscan.h"

enum field_kind {
	FK_EVENT_TYPE,
	FK_STRING,
	FK_UUID,
	FK_STRING_ARRAY,
	FK_OBJECT_ARRAY,
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
	/* Members only the other bodies document. */
	F_SESSION_NAME,
	F_MODEL,
	F_PROVIDER,
	F_MESSAGES,
	F_RESPONSE,
	F_USAGE,
	F_COST,
	F_HYPERPARAMETERS,
	F_TEMPLATE,
	F_TEMPLATE_INPUTS,
	F_TOOLS,
	F_TOOL_CHOICE,
	F_RESPONSE_FORMAT,
	F_COUNT
};

#define BIT(f) (1UL << (f))

_Static_assert(F_COUNT <= sizeof(unsigned long) * 8,
    "every documented member needs a bit in an unsigned long");

struct field {
	const char *name;
	size_t len;
	enum field_kind kind;
};

/* The longest documented name; a longer one is unknown without a look. */
#define FIELD_NAME_MAX 15

/* A name longer than FIELD_NAME_MAX does not compile (negative array). */
#define FIELD(id, name, kind)                                                  \
	[id] = {name,                                                          \
	    sizeof(name) - 1 +                                                 \
	        0 * sizeof(char[sizeof(name) - 1 <= FIELD_NAME_MAX ? 1 : -1]), \
	    kind}

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
    FIELD(F_SESSION_NAME, "session_name", FK_STRING),
    FIELD(F_MODEL, "model", FK_STRING),
    FIELD(F_PROVIDER, "provider", FK_STRING),
    FIELD(F_MESSAGES, "messages", FK_OBJECT_ARRAY),
    FIELD(F_RESPONSE, "response", FK_OBJECT),
    FIELD(F_USAGE, "usage", FK_OBJECT),
    FIELD(F_COST, "cost", FK_NUMBER),
    FIELD(F_HYPERPARAMETERS, "hyperparameters", FK_OBJECT),
    FIELD(F_TEMPLATE, "template", FK_OBJECT_ARRAY),
    FIELD(F_TEMPLATE_INPUTS, "template_inputs", FK_OBJECT),
    FIELD(F_TOOLS, "tools", FK_OBJECT_ARRAY),
    FIELD(F_TOOL_CHOICE, "tool_choice", FK_STRING),
    FIELD(F_RESPONSE_FORMAT, "response_format", FK_OBJECT),
};

/*
 * What one kind of body documents (members), requires, and gets when absent
 * (defaults: ids, names, the project). Members outside the mask are unknown
 * to that body and pass through unchecked, as they do for events.
 */
struct schema {
	unsigned long members;
	unsigned long required;
	unsigned long defaults;
	const char *event_type;     /* NULL: any of event_types; else only it */
	const char *event_type_why; /* the reason when it is another */
};

/* An event documents the first block of the table, F_EVENT_TYPE..F_END_TIME. */
static const struct schema event_schema = {
    BIT(F_END_TIME + 1) - 1,
    BIT(F_EVENT_TYPE) | BIT(F_INPUTS),
    BIT(F_EVENT_ID) | BIT(F_SESSION_ID) | BIT(F_PARENT_ID) | BIT(F_EVENT_NAME) |
        BIT(F_SOURCE) | BIT(F_PROJECT),
    NULL,
    NULL,
};

/* SESSION, as the SDK's SessionStartRequest and the upstream list it. */
static const struct schema session_schema = {
    BIT(F_PROJECT) | BIT(F_SESSION_NAME) | BIT(F_SOURCE) | BIT(F_SESSION_ID) |
        BIT(F_CHILDREN_IDS) | BIT(F_CONFIG) | BIT(F_INPUTS) | BIT(F_OUTPUTS) |
        BIT(F_ERROR) | BIT(F_DURATION) | BIT(F_USER_PROPERTIES) |
        BIT(F_METRICS) | BIT(F_FEEDBACK) | BIT(F_METADATA) | BIT(F_START_TIME) |
        BIT(F_END_TIME),
    0,
    BIT(F_SESSION_ID) | BIT(F_PROJECT),
    NULL,
    NULL,
};

/*
 * The SDK's CreateModelEvent: no inputs and no event_type (the route sets
 * model), and the ids the daemon adds, checked like an event's. Its
 * required members are the SDK's, but project, which default_project
 * fills and the upstream takes from the key.
 */
static const struct schema model_schema = {
    BIT(F_EVENT_TYPE) | BIT(F_PROJECT) | BIT(F_SOURCE) | BIT(F_EVENT_NAME) |
        BIT(F_EVENT_ID) | BIT(F_SESSION_ID) | BIT(F_PARENT_ID) | BIT(F_ERROR) |
        BIT(F_DURATION) | BIT(F_MODEL) | BIT(F_PROVIDER) | BIT(F_MESSAGES) |
        BIT(F_RESPONSE) | BIT(F_USAGE) | BIT(F_COST) | BIT(F_HYPERPARAMETERS) |
        BIT(F_TEMPLATE) | BIT(F_TEMPLATE_INPUTS) | BIT(F_TOOLS) |
        BIT(F_TOOL_CHOICE) | BIT(F_RESPONSE_FORMAT),
    BIT(F_DURATION) | BIT(F_MODEL) | BIT(F_PROVIDER) | BIT(F_MESSAGES) |
        BIT(F_RESPONSE) | BIT(F_USAGE),
    BIT(F_EVENT_ID) | BIT(F_PROJECT),
    "model",
    "must be model",
};

/* PUT /events: an update names its event and changes nothing else here. */
static const struct schema update_schema = {
    BIT(F_EVENT_ID) | BIT(F_METADATA) | BIT(F_FEEDBACK) | BIT(F_METRICS) |
        BIT(F_OUTPUTS) | BIT(F_CONFIG) | BIT(F_USER_PROPERTIES) |
        BIT(F_DURATION),
    BIT(F_EVENT_ID),
    0,
    NULL,
    NULL,
};

static const char *const event_types[] = {"chain", "model", "tool", "session"};

/* What one pass over an event's members found: each documented one once. */
struct members {
	unsigned long seen;
	size_t count; /* members, documented or not */
	char event_id[EVENT_UUID_LEN + 1];
	char session_id[EVENT_UUID_LEN + 1];
};

/*
 * The checks read an object's members through a reader, from a cJSON tree
 * or from the object's own text through jsonscan's view: one set of rules
 * for both, and the text needs no tree. A member as read: the documented
 * field its name is (decoded, cut at a NUL as cJSON keeps it) or -1, and
 * its value, as a tree node or as text.
 */
struct reader {
	const cJSON *next; /* tree: the member to read next */
	struct json_view view;
	int text;
};

struct member {
	int field;
	enum json_type type;
	const cJSON *node;
	struct json_value value;
};

static void
seterr(char *err, size_t errlen, const char *path, const char *field,
    const char *reason)
{
	if (err == NULL || errlen == 0)
		return;
	/* An empty path is the body itself: its members are named alone. */
	if (field != NULL && path[0] != '\0')
		snprintf(err, errlen, "%s.%s: %s", path, field, reason);
	else if (field != NULL)
		snprintf(err, errlen, "%s: %s", field, reason);
	else
		snprintf(
		    err, errlen, "%s: %s", path[0] ? path : "body", reason);
}

/*
 * The class of each byte (1 hex digit, 2 hyphen, 0 other) and the class
 * each position of a UUID wants. Tables and no early exit: with random ids
 * per-character range tests mispredict, and this runs for every id.
 */
static const unsigned char uuid_class[256] = {
    ['0'] = 1,
    ['1'] = 1,
    ['2'] = 1,
    ['3'] = 1,
    ['4'] = 1,
    ['5'] = 1,
    ['6'] = 1,
    ['7'] = 1,
    ['8'] = 1,
    ['9'] = 1,
    ['a'] = 1,
    ['b'] = 1,
    ['c'] = 1,
    ['d'] = 1,
    ['e'] = 1,
    ['f'] = 1,
    ['A'] = 1,
    ['B'] = 1,
    ['C'] = 1,
    ['D'] = 1,
    ['E'] = 1,
    ['F'] = 1,
    ['-'] = 2,
};
static const unsigned char uuid_want[EVENT_UUID_LEN] = {
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    2,
    1,
    1,
    1,
    1,
    2,
    1,
    1,
    1,
    1,
    2,
    1,
    1,
    1,
    1,
    2,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
    1,
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

/*
 * The documented fields by the length of their name, each list ended by
 * -1 (room for all of them in one, so it cannot overflow). Built once, on
 * the first lookup, by whichever thread comes first; read-only after.
 */
static signed char by_len[FIELD_NAME_MAX + 1][F_COUNT + 1];
static pthread_once_t by_len_once = PTHREAD_ONCE_INIT;

static void
by_len_build(void)
{
	size_t n[FIELD_NAME_MAX + 1] = {0};
	int i;

	memset(by_len, -1, sizeof(by_len));
	for (i = 0; i < F_COUNT; i++)
		by_len[fields[i].len][n[fields[i].len]++] = (signed char)i;
}

/*
 * The field a member name documents, or -1. Names compare case-sensitively,
 * among those of the same length only: a member is looked up for every
 * member of every record, and a pass over the whole table was 7.5% of
 * taking a batch apart.
 */
static int
field_lookup(const char *name, size_t len)
{
	const signed char *f;

	if (len == 0 || len > FIELD_NAME_MAX)
		return -1;
	pthread_once(&by_len_once, by_len_build);
	for (f = by_len[len]; *f != -1; f++)
		if (name[0] == fields[*f].name[0] &&
		    memcmp(name, fields[*f].name, len) == 0)
			return *f;
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

/*
 * Read the members of obj, or with obj NULL of the object text[0..len),
 * with the index ix of a text holding it when there is one. 0, or -1 when
 * there is no object to read.
 */
static int
reader_open(struct reader *r, const cJSON *obj, const char *text, size_t len,
    const struct json_index *ix)
{
	memset(r, 0, sizeof(*r));
	if (obj != NULL) {
		r->next = obj->child;
		return 0;
	}
	r->text = 1;
	if (json_view_object(&r->view, text, len) == -1)
		return -1;
	json_view_use_index(&r->view, ix);
	return 0;
}

/*
 * The field a name written in the text is. Most names hold no escape and
 * are compared as they are; one with an escape is decoded against each
 * documented name in turn (rare, and with no bound on its length).
 */
static int
text_field(const struct json_member *jm)
{
	const char *name = jm->name.text + 1;
	size_t len = jm->name.len - 2;
	int i;

	if (memchr(name, '\\', len) == NULL)
		return field_lookup(name, len);
	for (i = 0; i < F_COUNT; i++)
		if (json_name_is(jm, fields[i].name))
			return i;
	return -1;
}

/* The next member into *m: 1, 0 at the end, -1 when the text is broken. */
static int
reader_next(struct reader *r, struct member *m)
{
	struct json_member jm;
	int rc;

	m->node = NULL;
	if (!r->text) {
		if (r->next == NULL)
			return 0;
		m->node = r->next;
		r->next = r->next->next;
		m->type = json_node_type(m->node);
		m->field = m->node->string != NULL
		    ? field_lookup(m->node->string, strlen(m->node->string))
		    : -1;
		return 1;
	}
	if ((rc = json_view_member(&r->view, &jm)) != 1)
		return rc;
	m->value = jm.value;
	m->type = jm.value.type;
	m->field = text_field(&jm);
	return 1;
}

/*
 * The member's string value into buf[0..size) (decoded, cut at a NUL as
 * cJSON keeps it): buf, or NULL when it is not a string or is longer than
 * size - 1 bytes (then it is not the id or name the caller wants).
 */
static const char *
member_string(const struct member *m, char *buf, size_t size)
{
	size_t n;

	if (m->type != JSON_STRING)
		return NULL;
	if (m->node == NULL)
		return json_string_get(&m->value, buf, size, &n) == 0 ? buf
		                                                      : NULL;
	n = strlen(m->node->valuestring);
	if (n >= size)
		return NULL;
	memcpy(buf, m->node->valuestring, n + 1);
	return buf;
}

/*
 * The index of the first element of the array member m whose type is not
 * want; -1 when there is none (or the text is broken: the walk stops).
 */
static long
member_bad_element(const struct member *m, enum json_type want)
{
	struct json_view v;
	struct json_value e;
	const cJSON *c;
	long i = 0;

	if (m->node != NULL) {
		for (c = m->node->child; c != NULL; c = c->next, i++)
			if (json_node_type(c) != want)
				return i;
		return -1;
	}
	if (json_view_array(&v, m->value.text, m->value.len) == -1)
		return -1;
	for (; json_view_element(&v, &e) == 1; i++)
		if (e.type != want)
			return i;
	return -1;
}

/*
 * NULL if m has the type kind documents, else the reason it has not. An
 * event type or an id is read into str[0..size) on the way.
 */
static const char *
check_kind(const struct member *m, enum field_kind kind, char *str, size_t size)
{
	switch (kind) {
	case FK_EVENT_TYPE:
		return member_string(m, str, size) != NULL && is_event_type(str)
		    ? NULL
		    : "must be one of chain, model, tool, session";
	case FK_STRING:
		return m->type == JSON_STRING ? NULL : "must be a string";
	case FK_UUID:
		return member_string(m, str, size) != NULL &&
		        event_uuid_valid(str)
		    ? NULL
		    : "must be a UUID string";
	case FK_STRING_ARRAY:
		return m->type == JSON_ARRAY ? NULL
		                             : "must be an array of strings";
	case FK_OBJECT_ARRAY:
		return m->type == JSON_ARRAY ? NULL
		                             : "must be an array of objects";
	case FK_OBJECT:
		return m->type == JSON_OBJECT ? NULL : "must be an object";
	case FK_STRING_OR_NULL:
		return m->type == JSON_STRING || m->type == JSON_NULL
		    ? NULL
		    : "must be a string or null";
	case FK_NUMBER:
		return m->type == JSON_NUMBER ? NULL : "must be a number";
	}
	return "unknown member kind";
}

/* The elements of an array member f, each a string or an object. */
static int
check_elements(
    const struct member *m, int f, const char *path, char *err, size_t errlen)
{
	int strings = fields[f].kind == FK_STRING_ARRAY;
	long i = member_bad_element(m, strings ? JSON_STRING : JSON_OBJECT);
	char name[48];

	if (i == -1)
		return 0;
	snprintf(name, sizeof(name), "%s[%ld]", fields[f].name, i);
	seterr(err, errlen, path, name,
	    strings ? "must be a string" : "must be an object");
	return -1;
}

/*
 * One pass over the members: each one the schema documents is checked for
 * its type and for appearing twice. A duplicate is an error, not a choice:
 * cJSON would validate the first, the upstream's parser keeps the last.
 */
static int
check_members(struct reader *r, const struct schema *s, const char *path,
    struct members *m, char *err, size_t errlen)
{
	struct member c;
	char str[EVENT_UUID_LEN + 1];
	const char *why;
	int f, rc;

	while ((rc = reader_next(r, &c)) == 1) {
		m->count++;
		f = c.field;
		if (f == -1 || !(s->members & BIT(f)))
			continue;
		if (m->seen & (1UL << f)) {
			seterr(err, errlen, path, fields[f].name,
			    "duplicate member");
			return -1;
		}
		m->seen |= 1UL << f;
		if (f == F_EVENT_TYPE && s->event_type != NULL)
			why = member_string(&c, str, sizeof(str)) != NULL &&
			        strcmp(str, s->event_type) == 0
			    ? NULL
			    : s->event_type_why;
		else
			why = check_kind(&c, fields[f].kind, str, sizeof(str));
		if (why != NULL) {
			seterr(err, errlen, path, fields[f].name, why);
			return -1;
		}
		if (f == F_EVENT_ID)
			memcpy(m->event_id, str, sizeof(m->event_id));
		else if (f == F_SESSION_ID)
			memcpy(m->session_id, str, sizeof(m->session_id));
		else if ((fields[f].kind == FK_STRING_ARRAY ||
		             fields[f].kind == FK_OBJECT_ARRAY) &&
		    check_elements(&c, f, path, err, errlen) == -1)
			return -1;
	}
	if (rc == -1) {
		/* The caller's text was not the JSON its contract promised. */
		seterr(err, errlen, path, NULL, "raw text is not JSON");
		return -1;
	}
	if ((s->required & ~m->seen) == 0)
		return 0;
	/* The first in table order: an event names event_type before inputs. */
	for (f = 0; f < F_COUNT - 1; f++)
		if (s->required & ~m->seen & BIT(f))
			break;
	seterr(err, errlen, path, fields[f].name, "required");
	return -1;
}

/*
 * Append the member start (key, colon, opening quote), value and ",". Only
 * the project comes from outside and needs escaping; ids are checked UUIDs
 * and the rest are constants, so they are copied whole.
 */
static void
add_member(struct buf *out, const char *start, const char *value)
{
	buf_addstr(out, start);
	buf_addstr(out, value);
	buf_add(out, "\",", 2);
}

static void
add_project(struct buf *out, const char *project)
{
	buf_add(out, "\"project\":", 10);
	buf_add_json_string(out, project);
	buf_addch(out, ',');
}

/*
 * Write the object text with the defaults in add (absent members) as its
 * first members. Each default ends in a comma; an empty object (a session
 * may be {}) has no member to follow the last one, so that comma goes.
 * 0, or -1 when out failed (buf_failed).
 */
static int
splice(struct buf *out, const char *text, size_t len, unsigned long add,
    int empty, const struct event_ids *ids, const char *project)
{
	size_t extra = 200 + (project != NULL ? 6 * strlen(project) : 0);
	size_t start = out->len;

	buf_reserve(out, len + extra);
	buf_addch(out, '{');
	if (add & BIT(F_EVENT_ID))
		add_member(out, "\"event_id\":\"", ids->event_id);
	if (add & BIT(F_SESSION_ID))
		add_member(out, "\"session_id\":\"", ids->session_id);
	if (add & BIT(F_PARENT_ID))
		add_member(out, "\"parent_id\":\"", ids->session_id);
	if (add & BIT(F_EVENT_NAME))
		add_member(out, "\"event_name\":\"", "unknown");
	if (add & BIT(F_SOURCE))
		add_member(out, "\"source\":\"", "unknown");
	if (project != NULL)
		add_project(out, project);
	if (buf_failed(out))
		return -1;
	if (empty && out->len > start + 1)
		out->len--;
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

/*
 * Fill one id into out: the body's own, the batch's session, a generated
 * one when generate is set, or else "" (the body does not get that id).
 */
static int
choose_id(const char *given, const char *batch, int generate,
    const struct event_opts *opts, const char *path, char *out, char *err,
    size_t errlen)
{
	if (given != NULL || batch != NULL) {
		memcpy(out, given != NULL ? given : batch, EVENT_UUID_LEN + 1);
		return 0;
	}
	if (!generate) {
		out[0] = '\0';
		return 0;
	}
	if (opts->uuid_gen == NULL) {
		seterr(err, errlen, path, NULL, "no id generator");
		return -1;
	}
	opts->uuid_gen(out, opts->uuid_arg);
	/* A generator that breaks its contract must not yield bad JSON. */
	if (!event_uuid_valid(out)) {
		seterr(err, errlen, path, NULL, "id generator made a bad id");
		return -1;
	}
	return 0;
}

/* Validate obj as the body s describes and append it with its defaults. */
static int
normalize(const struct schema *s, const cJSON *obj, const char *raw,
    size_t rawlen, const struct event_opts *opts, const char *path,
    struct buf *out, struct event_ids *ids, char *err, size_t errlen)
{
	static const struct event_opts no_opts;
	struct members m;
	struct reader r;
	struct event_ids local;
	const char *project = NULL, *text = raw, *batch = NULL;
	char *printed = NULL;
	size_t saved = out->len, len = rawlen;
	unsigned long add;
	int rc;

	if (opts == NULL)
		opts = &no_opts;
	if (ids == NULL)
		ids = &local;
	memset(&m, 0, sizeof(m));
	/* An append to out failed before: nothing more can go in. */
	if (buf_failed(out)) {
		seterr(err, errlen, path, NULL, "out of memory");
		return -1;
	}
	if (obj != NULL ? !cJSON_IsObject(obj) : text == NULL) {
		seterr(err, errlen, path, NULL, "must be an object");
		return -1;
	}
	if (text != NULL) {
		text = json_trim(text, &len);
		if (len < 2 || text[0] != '{' || text[len - 1] != '}') {
			/* Without a tree the text is the value itself. */
			seterr(err, errlen, path, NULL,
			    obj != NULL ? "raw text is not an object"
			                : "must be an object");
			return -1;
		}
		if (!json_index_nul_free(opts->index, text, len) &&
		    has_nul(text, len)) {
			seterr(err, errlen, path, NULL,
			    "must not contain NUL characters (\\u0000)");
			return -1;
		}
	}
	if (reader_open(&r, obj, text, len, opts->index) == -1) {
		seterr(err, errlen, path, NULL, "raw text is not JSON");
		return -1;
	}
	if (check_members(&r, s, path, &m, err, errlen) == -1)
		return -1;
	/* Only a body that documents session_id can join a batch's session. */
	if (s->members & BIT(F_SESSION_ID))
		batch = opts->session_id;
	if (batch != NULL) {
		if (!event_uuid_valid(batch)) {
			seterr(err, errlen, path, "session_id",
			    "the batch's session is not a UUID");
			return -1;
		}
		/*
		 * Byte for byte: the upstream keeps ids as strings, so the
		 * same UUID in other letter case is another session there.
		 */
		if ((m.seen & BIT(F_SESSION_ID)) &&
		    strcmp(m.session_id, batch) != 0) {
			seterr(err, errlen, path, "session_id",
			    "differs from the batch's session");
			return -1;
		}
	}
	add = (s->defaults | (batch != NULL ? BIT(F_SESSION_ID) : 0)) & ~m.seen;
	if (choose_id(m.seen & BIT(F_EVENT_ID) ? m.event_id : NULL, NULL,
	        (add & BIT(F_EVENT_ID)) != 0, opts, path, ids->event_id, err,
	        errlen) == -1 ||
	    choose_id(m.seen & BIT(F_SESSION_ID) ? m.session_id : NULL, batch,
	        (add & BIT(F_SESSION_ID)) != 0, opts, path, ids->session_id,
	        err, errlen) == -1)
		return -1;
	if ((add & BIT(F_PROJECT)) && opts->default_project != NULL &&
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
	rc = splice(out, text, len, add, m.count == 0, ids, project);
	cJSON_free(printed);
	if (rc == -1) {
		buf_truncate(out, saved);
		seterr(err, errlen, path, NULL, "out of memory");
		return -1;
	}
	return 0;
}

int
event_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
    const struct event_opts *opts, const char *path, struct buf *out,
    struct event_ids *ids, char *err, size_t errlen)
{
	return normalize(&event_schema, obj, raw, rawlen, opts,
	    path != NULL ? path : "event", out, ids, err, errlen);
}

int
event_session_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
    const struct event_opts *opts, const char *path, struct buf *out,
    struct event_ids *ids, char *err, size_t errlen)
{
	return normalize(&session_schema, obj, raw, rawlen, opts,
	    path != NULL ? path : "session", out, ids, err, errlen);
}

int
event_model_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
    const struct event_opts *opts, const char *path, struct buf *out,
    struct event_ids *ids, char *err, size_t errlen)
{
	return normalize(&model_schema, obj, raw, rawlen, opts,
	    path != NULL ? path : "model_event", out, ids, err, errlen);
}

int
event_update_normalize(const struct cJSON *obj, const char *raw, size_t rawlen,
    const struct event_opts *opts, const char *path, struct buf *out,
    struct event_ids *ids, char *err, size_t errlen)
{
	return normalize(&update_schema, obj, raw, rawlen, opts,
	    path != NULL ? path : "", out, ids, err, errlen);
}
