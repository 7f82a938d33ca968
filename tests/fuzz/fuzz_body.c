/* fuzz_body.c: libFuzzer target for the request bodies of the ingest API. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/kind.h"
#include "common/uuid.h"
#include "daemon/body.h"
#include "daemon/event.h"
#include "common/jsonscan.h"
#include "redact/redact.h"

/*
 * Each input is one request body. It goes through daemon/body.c's
 * body_take, the very code the daemon runs, once for every JSON route of
 * the kind table (common/kind.c): POST /events, /events/batch,
 * /session/start, /events/model, /events/model/batch and PUT /events,
 * and as an OTLP JSON export on /v1/traces; then every route again with
 * a rules file loaded (redaction must leave nothing its rules find), and
 * every event-API route with each of two rule sets both ways, spliced
 * into the view's bytes (redact_splice) and through a tree
 * (redact_tree): status, error, counts, ids and each record's parsed
 * tree must agree.
 * The checks below read the body on their own (cJSON, as an oracle) to
 * find where each record came from.
 *
 * Every event-API route runs twice: as the daemon runs it, reading the
 * body through jsonscan's view with no tree, and through a cJSON tree
 * (body_opts.tree_only, the path redaction rules take). The two must
 * agree exactly: status, error text, every byte of every record, every
 * id, with the id generator restarted for each. The view itself is
 * walked over every input (it must never read outside it) and, over one
 * cJSON accepts, must see the members, types and strings cJSON sees.
 *
 * Then, for every record accepted: its normalized text must be valid UTF-8,
 * parse whole as one object, carry the ids the normalizer returned, begin
 * with nothing but spliced defaults and then hold exactly the members cJSON
 * validated, and mean the same as what the normalizer's other path (the
 * object printed, no raw bytes) gives. A session record is wrapped as its
 * kind's row says. An event must have the string
 * members event_id, session_id, parent_id, event_name and source. For every
 * member of the body, jsonscan must find the value cJSON finds. A record
 * refused must leave the output as it was, with a reason. Any violation
 * aborts, which libFuzzer reports as a crash.
 */

#define MAX_EVENT_BYTES (1024 * 1024)
#define DEFAULT_PROJECT "Proj \"q\" \\ \xc3\xa9"

struct gen {
	uint32_t n;
};

/* Deterministic ids, so that a crash reproduces from its input alone. */
static void
gen_uuid(char *out, void *arg)
{
	struct gen *g = arg;
	unsigned char b[16] = {0};

	g->n++;
	memcpy(b, &g->n, sizeof(g->n));
	b[15] = 0x5a;
	uuid_format(b, out);
}

static void __attribute__((noreturn))
violated(const char *what, const char *text)
{
	fprintf(stderr, "fuzz_body: invariant violated: %s\n", what);
	if (text != NULL)
		fprintf(stderr, "fuzz_body: normalized text: %.2000s\n", text);
	abort();
}

static const char *const default_names[] = {
    "event_id",
    "session_id",
    "parent_id",
    "event_name",
    "source",
    "project",
};

static int
is_default_name(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(default_names) / sizeof(default_names[0]); i++)
		if (strcmp(s, default_names[i]) == 0)
			return 1;
	return 0;
}

static const char *
member_string(const cJSON *o, const char *name, const char *text)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (!cJSON_IsString(v))
		violated(name, text);
	return v->valuestring;
}

/*
 * Printed, not cJSON_Compare: that says an infinity ("1e999") differs from
 * itself. Both trees come from the same bytes, so they print the same.
 */
static int
same_value(const cJSON *a, const cJSON *b)
{
	char *pa = cJSON_PrintUnformatted(a), *pb = cJSON_PrintUnformatted(b);
	/* Out of memory leaves nothing to compare. */
	int same = pa == NULL || pb == NULL || strcmp(pa, pb) == 0;

	cJSON_free(pa);
	cJSON_free(pb);
	return same;
}

/* The returned id, when there is one, is the member's value. */
static void
check_id(const cJSON *out, const char *name, const char *id, const char *text)
{
	if (id[0] == '\0')
		return;
	if (!event_uuid_valid(id))
		violated("a returned id is a UUID", text);
	if (strcmp(member_string(out, name, text), id) != 0)
		violated("the record carries the id returned", text);
}

/*
 * The normalized record text[0..len) of the object obj, with ids: check
 * what the upstream and the forwarder rely on.
 */
static void
check_normalized(const struct kind *k, const cJSON *obj, const char *text,
    size_t len, const struct event_ids *ids, const char *batch_session,
    const char *dflt_project)
{
	const char *end = NULL;
	const cJSON *a, *b, *project;
	cJSON *out;
	int nobj = 0, nout = 0, skip;

	if (!json_utf8_valid(text, len))
		violated("normalized text is valid UTF-8", text);
	out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (out == NULL || end != text + len)
		violated("normalized text parses whole", text);
	if (!cJSON_IsObject(out))
		violated("normalized text is an object", text);
	check_id(out, "event_id", ids->event_id, text);
	check_id(out, "session_id", ids->session_id, text);
	if (k->id == KIND_EVENT) {
		if (ids->event_id[0] == '\0' || ids->session_id[0] == '\0')
			violated("an event has both ids", text);
		member_string(out, "parent_id", text);
		member_string(out, "event_name", text);
		member_string(out, "source", text);
	}
	if (batch_session != NULL &&
	    strcmp(ids->session_id, batch_session) != 0)
		violated("a single-session batch keeps its session", text);
	project = cJSON_GetObjectItemCaseSensitive(out, "project");
	if (cJSON_GetObjectItemCaseSensitive(obj, "project") == NULL &&
	    project != NULL &&
	    strcmp(member_string(out, "project", text), dflt_project) != 0)
		violated("a project added is the default one", text);
	if (k->id == KIND_EVENT && project == NULL)
		violated("default_project is filled in", text);

	/* The spliced defaults come first, then the client's members. */
	for (a = obj->child; a != NULL; a = a->next)
		nobj++;
	for (b = out->child; b != NULL; b = b->next)
		nout++;
	skip = nout - nobj;
	if (skip < 0 || skip > 6)
		violated("only the defaults are added", text);
	for (b = out->child; skip > 0; b = b->next, skip--)
		if (b->string == NULL || !is_default_name(b->string))
			violated("added members are defaults", text);
	for (a = obj->child; a != NULL; a = a->next, b = b->next) {
		if (a->string == NULL || b->string == NULL ||
		    strcmp(a->string, b->string) != 0 || !same_value(a, b))
			violated(
			    "the spooled bytes are the validated object", text);
	}
	cJSON_Delete(out);
}

/* Hands out the ids a record was given, in the normalizer's order. */
struct replay {
	const char *ids[2];
	int n;
	int next;
};

static void
replay_uuid(char *out, void *arg)
{
	struct replay *r = arg;

	if (r->next >= r->n)
		violated("the printed path generates no more ids", NULL);
	memcpy(out, r->ids[r->next++], EVENT_UUID_LEN + 1);
}

/*
 * The same record through the normalizer's other path, without raw bytes
 * (the object printed): the result must mean the same. The ids it
 * generates are the ones the raw path generated (event_id first).
 */
static void
check_printed_path(const struct kind *k, const cJSON *obj,
    const struct event_opts *opts, const struct event_ids *given,
    const char *text, size_t len)
{
	struct event_opts o = *opts;
	struct event_ids ids;
	struct replay rp = {{NULL, NULL}, 0, 0};
	struct buf out;
	cJSON *a, *b;
	char err[512], *pa, *pb;

	if (given->event_id[0] != '\0' &&
	    cJSON_GetObjectItemCaseSensitive(obj, "event_id") == NULL)
		rp.ids[rp.n++] = given->event_id;
	if (given->session_id[0] != '\0' && o.session_id == NULL &&
	    cJSON_GetObjectItemCaseSensitive(obj, "session_id") == NULL)
		rp.ids[rp.n++] = given->session_id;
	o.uuid_gen = replay_uuid;
	o.uuid_arg = &rp;
	buf_init(&out);
	if (body_validator(k->id)(
	        obj, NULL, 0, &o, "event", &out, &ids, err, sizeof(err)) != 0)
		violated(
		    "the printed path accepts what the raw path did", text);
	a = cJSON_ParseWithLength(text, len);
	b = cJSON_ParseWithLength(out.data, out.len);
	pa = cJSON_PrintUnformatted(a);
	pb = cJSON_PrintUnformatted(b);
	if (b == NULL || (pa != NULL && pb != NULL && strcmp(pa, pb) != 0))
		violated("the printed path gives the same record", out.data);
	cJSON_free(pa);
	cJSON_free(pb);
	cJSON_Delete(a);
	cJSON_Delete(b);
	buf_free(&out);
}

/*
 * jsonscan must pick, for every member name of the object at body, the
 * value cJSON picks (the first with that name after decoding).
 */
static void
check_spans(const cJSON *root, const char *body, size_t len)
{
	const cJSON *c;
	size_t off, vlen;

	for (c = root->child; c != NULL; c = c->next) {
		const char *end = NULL;
		cJSON *v;

		if (c->string == NULL)
			continue;
		if (json_member_span(body, len, c->string, &off, &vlen) == -1)
			violated("jsonscan finds every member cJSON has", NULL);
		v = cJSON_ParseWithLengthOpts(body + off, vlen, &end, 0);
		if (v == NULL || end != body + off + vlen ||
		    !same_value(
		        v, cJSON_GetObjectItemCaseSensitive(root, c->string)))
			violated(
			    "jsonscan's span is the value cJSON picks", NULL);
		cJSON_Delete(v);
	}
}

/* The oracle's reading: one JSON object, nothing after it. */
static cJSON *
parse_body(const char *body, size_t len)
{
	const char *end = NULL;
	cJSON *root;
	size_t rest;

	if (!json_utf8_valid(body, len))
		return NULL;
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (root == NULL)
		return NULL;
	rest = (size_t)(body + len - end);
	(void)json_trim(end, &rest);
	if (rest != 0 || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/*
 * The object record i of out came from, by the oracle's own reading of
 * the body (not the route code's): the member, an element of the array
 * (after the batch's session), or the body; a string form is parsed.
 * Returns a tree to free in *own when it parsed one.
 */
static const cJSON *
source_of(const struct kind *k, const struct kind_route *r, const cJSON *root,
    const struct body_out *out, size_t i, cJSON **own)
{
	const cJSON *v = root;

	*own = NULL;
	if (r->form == KIND_FORM_ONE) {
		v = cJSON_GetObjectItemCaseSensitive(root, r->member);
	} else if (r->form == KIND_FORM_MANY) {
		if (i < out->lead)
			return cJSON_GetObjectItemCaseSensitive(
			    root, "session_properties");
		v = cJSON_GetArrayItem(
		    cJSON_GetObjectItemCaseSensitive(root, r->member),
		    (int)(i - out->lead));
	}
	if (k->string_form && cJSON_IsString(v)) {
		*own = cJSON_Parse(v->valuestring);
		v = *own;
	}
	if (!cJSON_IsObject(v))
		violated("a record comes from an object of the body", NULL);
	return v;
}

/* The record's text without the kind's store_open wrapper. */
static const char *
unwrap(const struct kind *k, const char *text, size_t *len)
{
	size_t open;

	if (k->store_open == NULL)
		return text;
	open = strlen(k->store_open);
	if (*len < open + 1 || memcmp(text, k->store_open, open) != 0 ||
	    text[*len - 1] != '}')
		violated("a wrapped record has its wrapper", text);
	*len -= open + 1;
	return text + open;
}

/*
 * The options and request every route below runs with: the body as JSON
 * on route r of kind k, ids from g. What differs is set after.
 */
static void
setup(struct body_opts *opts, struct body_req *req, struct gen *g,
    const struct kind *k, const struct kind_route *r, const char *body,
    size_t len)
{
	memset(opts, 0, sizeof(*opts));
	opts->max_event_bytes = MAX_EVENT_BYTES;
	opts->max_body_bytes = MAX_EVENT_BYTES * 16;
	opts->default_project = DEFAULT_PROJECT;
	opts->uuid_gen = gen_uuid;
	opts->uuid_arg = g;
	memset(req, 0, sizeof(*req));
	req->kind = k;
	req->route = r;
	req->body = body;
	req->len = len;
	req->content_type = "application/json";
}

/* The first string project of the batch's events, else the default. */
static const char *
batch_project(const cJSON *root, const char *member)
{
	const cJSON *e, *p;

	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, member)) {
		p = cJSON_IsObject(e)
		    ? cJSON_GetObjectItemCaseSensitive(e, "project")
		    : NULL;
		if (cJSON_IsString(p))
			return p->valuestring;
	}
	return DEFAULT_PROJECT;
}

/*
 * The session a single-session batch must get, by the oracle's reading:
 * the one its session_properties name, else the first event's, else the
 * first id generated (nothing is generated before it).
 */
static void
oracle_session(const cJSON *root, const char *member, char *sid)
{
	const cJSON *props, *s, *e;
	struct gen g = {0};

	props = cJSON_GetObjectItemCaseSensitive(root, "session_properties");
	s = cJSON_GetObjectItemCaseSensitive(props, "session_id");
	if (cJSON_IsString(s) && event_uuid_valid(s->valuestring)) {
		memcpy(sid, s->valuestring, EVENT_UUID_LEN + 1);
		return;
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, member)) {
		s = cJSON_IsObject(e)
		    ? cJSON_GetObjectItemCaseSensitive(e, "session_id")
		    : NULL;
		if (cJSON_IsString(s) && event_uuid_valid(s->valuestring)) {
			memcpy(sid, s->valuestring, EVENT_UUID_LEN + 1);
			return;
		}
	}
	gen_uuid(sid, &g);
}

/* What body_take gave on one reading of a body. */
struct outcome {
	int status;
	char err[512];
	uint32_t generated;
};

/* The view's outcome a and the tree's b, with their records: the same. */
static void
same_outcome(const struct outcome *a, const struct body_out *x,
    const struct outcome *b, const struct body_out *y)
{
	if (a->status != b->status || strcmp(a->err, b->err) != 0) {
		fprintf(stderr, "fuzz_body: view %d \"%s\", tree %d \"%s\"\n",
		    a->status, a->err, b->status, b->err);
		violated("the view and the tree give one verdict", NULL);
	}
	if (a->generated != b->generated)
		violated("the view and the tree generate as many ids", NULL);
	if (x->n != y->n || x->lead != y->lead || x->items != y->items ||
	    x->single_session != y->single_session ||
	    strcmp(x->session_id, y->session_id) != 0 ||
	    x->bad_record != y->bad_record)
		violated("the view and the tree make the same records", NULL);
	if (x->data.len != y->data.len ||
	    (x->data.len != 0 &&
	        memcmp(x->data.data, y->data.data, x->data.len) != 0)) {
		fprintf(stderr, "fuzz_body: view %.*s\nfuzz_body: tree %.*s\n",
		    (int)x->data.len, x->data.data, (int)y->data.len,
		    y->data.data);
		violated("the view and the tree spool the same bytes", NULL);
	}
	for (size_t i = 0; i < x->n; i++) {
		if (x->offs[i] != y->offs[i] ||
		    x->recs[i].kind != y->recs[i].kind ||
		    x->recs[i].count != y->recs[i].count ||
		    strcmp(x->ids[i].event_id, y->ids[i].event_id) != 0 ||
		    strcmp(x->ids[i].session_id, y->ids[i].session_id) != 0)
			violated("the view and the tree give each record its "
			         "kind, place and ids",
			    NULL);
	}
}

/* One route of the kind table over the body, through body_take. */
static void
route(const struct kind *k, const struct kind_route *r, const cJSON *root,
    const char *body, size_t len, struct body_out *out, struct body_out *tree)
{
	struct body_opts opts;
	struct body_req req;
	struct event_opts eo;
	struct gen g = {0};
	struct outcome viewed, treed;
	char *err = viewed.err;
	char sid[EVENT_UUID_LEN + 1];
	int status;

	setup(&opts, &req, &g, k, r, body, len);
	err[0] = '\0';
	status = body_take(&opts, &req, out, err, sizeof(viewed.err));
	viewed.status = status;
	viewed.generated = g.n;
	g.n = 0;
	opts.tree_only = 1;
	treed.err[0] = '\0';
	treed.status =
	    body_take(&opts, &req, tree, treed.err, sizeof(treed.err));
	treed.generated = g.n;
	same_outcome(&viewed, out, &treed, tree);
	if (status != 0) {
		if (out->n != 0 || err[0] == '\0' ||
		    !json_utf8_valid(err, strlen(err)) ||
		    (status != 400 && status != 413 && status != 500))
			violated(
			    "a refused body spools nothing and says why", err);
		return;
	}
	if (root == NULL)
		violated("an accepted body is one JSON object", NULL);
	if (out->single_session) {
		oracle_session(root, r->member, sid);
		if (strcmp(sid, out->session_id) != 0)
			violated("a single-session batch takes the session "
			         "its body names first",
			    NULL);
	}
	body_seal(out, 1);
	for (size_t i = 0; i < out->n; i++) {
		const struct spool_rec *rec = &out->recs[i];
		const struct kind *rk = kind_get(rec->kind);
		size_t tlen = rec->len;
		const char *text;
		const cJSON *obj;
		const char *project;
		cJSON *own;

		if (rk == NULL ||
		    (rk != k && !(i < out->lead && rk->id == KIND_SESSION)))
			violated("a record has its route's kind", NULL);
		text = unwrap(rk, rec->data, &tlen);
		obj = source_of(k, r, root, out, i, &own);
		/*
		 * A batch's session takes the first event's project when it
		 * names none, else default_project.
		 */
		project = DEFAULT_PROJECT;
		if (i < out->lead)
			project = batch_project(root, r->member);
		check_normalized(rk, obj, text, tlen, &out->ids[i],
		    out->single_session && i >= out->lead ? out->session_id
		                                          : NULL,
		    project);
		memset(&eo, 0, sizeof(eo));
		eo.default_project = project;
		eo.session_id = out->single_session && rk->id != KIND_UPDATE
		    ? out->session_id
		    : NULL;
		check_printed_path(rk, obj, &eo, &out->ids[i], text, tlen);
		cJSON_Delete(own);
	}
}

/*
 * The body as an OTLP JSON export on /v1/traces: when accepted with spans,
 * the one record, put back in brackets, is the body's resourceSpans array,
 * and counts the spans of the export.
 */
static void
route_otlp_json(
    const cJSON *root, const char *body, size_t len, struct body_out *out)
{
	const struct kind_route *r = NULL;
	const struct kind *k;
	struct body_opts opts;
	struct body_req req;
	struct gen g = {0};
	struct buf arr;
	cJSON *got;
	char err[512], allow[32];
	size_t spans = 0;
	int status;

	k = kind_route("POST", "/v1/traces", &r, allow, sizeof(allow));
	setup(&opts, &req, &g, k, r, body, len);
	err[0] = '\0';
	status = body_take(&opts, &req, out, err, sizeof(err));
	if (status != 0) {
		if (out->n != 0 || err[0] == '\0' ||
		    !json_utf8_valid(err, strlen(err)))
			violated("a refused export spools nothing and says why",
			    err);
		return;
	}
	if (root == NULL)
		violated("an accepted export is one JSON object", NULL);
	if (out->n == 0)
		return;
	body_seal(out, 1);
	if (out->n != 1 || out->recs[0].kind != KIND_SPANS_JSON ||
	    out->recs[0].count != out->items)
		violated(
		    "an export is one JSON span record with its count", NULL);
	buf_init(&arr);
	buf_addch(&arr, '[');
	buf_add(&arr, out->recs[0].data, out->recs[0].len);
	buf_addch(&arr, ']');
	if (buf_failed(&arr))
		violated("out of memory in the check itself", NULL);
	got = cJSON_ParseWithLength(arr.data, arr.len);
	if (got == NULL ||
	    !same_value(
	        got, cJSON_GetObjectItemCaseSensitive(root, "resourceSpans")))
		violated("the record is the export's resourceSpans", arr.data);
	for (const cJSON *rs = got->child; rs != NULL; rs = rs->next) {
		const cJSON *ss, *sp;

		cJSON_ArrayForEach(
		    ss, cJSON_GetObjectItemCaseSensitive(rs, "scopeSpans")) {
			cJSON_ArrayForEach(
			    sp, cJSON_GetObjectItemCaseSensitive(ss, "spans"))
				spans++;
		}
	}
	if (spans != out->items)
		violated("the record counts the export's spans", arr.data);
	cJSON_Delete(got);
	buf_free(&arr);
}

/*
 * Rules of every kind the body step applies, loaded once: detectors and
 * expressions that mask, and value rules that drop. A mask leaves nothing
 * a detector would find again, and a dropped value is gone, so redaction
 * must be complete: the same rules over an accepted record change nothing
 * more. (A value rule that masks would count its own mask again.)
 */
static const char fuzz_rules[] =
    "emails * email mask\n"
    "cards * card mask\n"
    "keys * apikey mask\n"
    "tokens * bearer mask\n"
    "accounts field:inputs.* /ACCT-[0-9]{6}/ mask\n"
    "secret field:metadata.secret value drop\n"
    "prompts attr:gen_ai.prompt* value drop\n";

/*
 * Rules for the two readings' comparison: hash, "value" rules on paths
 * with "*" and index segments (on a string they are spliced, on anything
 * else the tree's), an expression reaching quotes and backslashes, and a
 * drop, which only the tree does.
 */
static const char fuzz_rules_splice[] =
    "q field:inputs.* /\"[a-z]+\"|\\\\[a-z]/ hash\n"
    "first field:inputs.chat_history.0.content value hash\n"
    "role field:*.*.role value mask\n"
    "cost field:metadata.0 value hash\n"
    "emails * email mask\n"
    "again * /D:e/ mask\n"
    "uni * /\xc3\xa9+|\\x{1F600}/ mask\n"
    "gone field:*.1 apikey drop\n";

#define NRULESETS 2

static struct redact *
ruleset(int i)
{
	static struct redact *r[NRULESETS];
	static const char *const text[NRULESETS] = {
	    fuzz_rules, fuzz_rules_splice};

	if (r[i] == NULL &&
	    redact_load_string(&r[i], "fuzz_rules", text[i], strlen(text[i]),
	        "fuzz-key", 8, NULL, NULL) != 0)
		violated("the fuzzer's rules load", NULL);
	return r[i];
}

static struct redact *
rules(void)
{
	return ruleset(0);
}

/*
 * a and b the same tree, members and elements in order (cJSON_Compare
 * would call an infinity unequal to itself, and a repeated name unequal
 * to itself when its values differ); numbers as cJSON_Compare has them.
 */
static int
same_tree(const cJSON *a, const cJSON *b, int depth)
{
	const cJSON *x, *y;

	if (a == NULL || b == NULL || depth > 1100)
		return a == b;
	if ((a->type & 0xff) != (b->type & 0xff))
		return 0;
	if (cJSON_IsNumber(a))
		return (isinf(a->valuedouble) &&
		           a->valuedouble == b->valuedouble) ||
		    cJSON_Compare(a, b, 1);
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (!cJSON_IsArray(a) && !cJSON_IsObject(a))
		return 1;
	for (x = a->child, y = b->child; x != NULL && y != NULL;
	     x = x->next, y = y->next) {
		if (cJSON_IsObject(a) && strcmp(x->string, y->string) != 0)
			return 0;
		if (!same_tree(x, y, depth + 1))
			return 0;
	}
	return x == NULL && y == NULL;
}

/*
 * With rules, the view (redact_splice) and the tree (redact_tree) give
 * the same status, error, counts, records and ids; a record is the same
 * bytes, or (the tree printed it again, the view spliced it) parses to
 * the same tree.
 */
static void
route_both_redacted(const struct kind *k, const struct kind_route *r,
    const char *body, size_t len, int set, struct body_out *out,
    struct body_out *tree)
{
	struct body_opts opts;
	struct body_req req;
	struct gen g = {0};
	struct outcome viewed, treed;
	uint64_t vc[16] = {0}, tc[16] = {0};

	setup(&opts, &req, &g, k, r, body, len);
	opts.redact = ruleset(set);
	if (redact_rules(opts.redact) > 16)
		violated("the fuzzer's rule sets have at most 16 rules", NULL);
	opts.redact_counts = vc;
	viewed.err[0] = '\0';
	viewed.status =
	    body_take(&opts, &req, out, viewed.err, sizeof(viewed.err));
	viewed.generated = g.n;
	g.n = 0;
	opts.tree_only = 1;
	opts.redact_counts = tc;
	treed.err[0] = '\0';
	treed.status =
	    body_take(&opts, &req, tree, treed.err, sizeof(treed.err));
	treed.generated = g.n;
	if (viewed.status != treed.status ||
	    strcmp(viewed.err, treed.err) != 0) {
		fprintf(stderr,
		    "fuzz_body: spliced %d \"%s\", tree %d \"%s\"\n",
		    viewed.status, viewed.err, treed.status, treed.err);
		violated(
		    "redacted, the view and the tree give one verdict", NULL);
	}
	if (memcmp(vc, tc, sizeof(vc)) != 0)
		violated("redacted, the view and the tree count alike", NULL);
	if (viewed.generated != treed.generated || out->n != tree->n ||
	    out->lead != tree->lead || out->items != tree->items ||
	    strcmp(out->session_id, tree->session_id) != 0 ||
	    out->bad_record != tree->bad_record)
		violated(
		    "redacted, the view and the tree make the same records",
		    NULL);
	if (viewed.status != 0)
		return;
	body_seal(out, 1);
	body_seal(tree, 1);
	for (size_t i = 0; i < out->n; i++) {
		const struct spool_rec *x = &out->recs[i], *y = &tree->recs[i];
		cJSON *a, *b;

		if (x->kind != y->kind || x->count != y->count ||
		    strcmp(out->ids[i].event_id, tree->ids[i].event_id) != 0 ||
		    strcmp(out->ids[i].session_id, tree->ids[i].session_id) !=
		        0)
			violated("redacted, the view and the tree give each "
			         "record its kind and ids",
			    NULL);
		if (x->len == y->len && memcmp(x->data, y->data, x->len) == 0)
			continue;
		if (!json_utf8_valid(x->data, x->len))
			violated("a spliced record is valid UTF-8", NULL);
		a = cJSON_ParseWithLength(x->data, x->len);
		b = cJSON_ParseWithLength(y->data, y->len);
		if (a == NULL || b == NULL || !same_tree(a, b, 0)) {
			fprintf(stderr,
			    "fuzz_body: spliced %.*s\nfuzz_body: tree    "
			    "%.*s\n",
			    (int)x->len, (const char *)x->data, (int)y->len,
			    (const char *)y->data);
			violated("a spliced record parses to the tree's", NULL);
		}
		cJSON_Delete(a);
		cJSON_Delete(b);
	}
}

/* Every route again with the rules: what is accepted holds no match. */
static void
route_redacted(const struct kind *k, const struct kind_route *r,
    const char *body, size_t len, struct body_out *out)
{
	struct body_opts opts;
	struct body_req req;
	struct gen g = {0};
	char err[512];

	setup(&opts, &req, &g, k, r, body, len);
	opts.redact = rules();
	if (body_take(&opts, &req, out, err, sizeof(err)) != 0)
		return;
	body_seal(out, 1);
	for (size_t i = 0; i < out->n; i++) {
		const struct spool_rec *rec = &out->recs[i];
		const struct kind *rk = kind_get(rec->kind);
		size_t tlen = rec->len;
		const char *text;
		struct buf arr;
		cJSON *t;
		int again;

		buf_init(&arr);
		if (rk->id == KIND_SPANS_JSON) {
			buf_addch(&arr, '[');
			buf_add(&arr, rec->data, rec->len);
			buf_addch(&arr, ']');
			if (buf_failed(&arr))
				violated(
				    "out of memory in the check itself", NULL);
			text = arr.data;
			tlen = arr.len;
		} else {
			text = unwrap(rk, rec->data, &tlen);
		}
		t = cJSON_ParseWithLength(text, tlen);
		if (t == NULL)
			violated("a redacted record is valid JSON", text);
		again = rk->id == KIND_SPANS_JSON
		    ? redact_otlp_json(rules(), t, NULL)
		    : redact_tree(rules(), t, NULL);
		if (again > 0)
			violated(
			    "redaction leaves nothing its rules find", text);
		cJSON_Delete(t);
		buf_free(&arr);
	}
}

/*
 * The view over any bytes, two levels deep: it must never read outside
 * them (AddressSanitizer watches), whatever it makes of them.
 */
static void
walk_view(const char *s, size_t len, int depth)
{
	struct json_view v;
	struct json_member m;
	struct json_value e;
	char str[40];
	size_t n;

	if (json_view_object(&v, s, len) == 0) {
		while (json_view_member(&v, &m) == 1) {
			(void)json_name_is(&m, "event_type");
			(void)json_string_get(&m.value, str, sizeof(str), &n);
			if (depth > 0)
				walk_view(m.value.text, m.value.len, depth - 1);
		}
	} else if (json_view_array(&v, s, len) == 0) {
		while (json_view_element(&v, &e) == 1) {
			(void)json_string_get(&e, str, sizeof(str), &n);
			if (depth > 0)
				walk_view(e.text, e.len, depth - 1);
		}
	}
}

/*
 * Over text cJSON parsed into node, the view sees what cJSON sees, depth
 * levels deep: as many members (elements), in order, each named and typed
 * as cJSON has it, each string decoded to cJSON's value; with the index
 * ix of the text (or NULL) as without one.
 */
static void
view_agrees(const cJSON *node, const char *s, size_t len, int depth,
    const struct json_index *ix)
{
	struct json_view v;
	struct json_member m;
	struct json_value e, *val;
	const cJSON *c = node->child;
	char str[64];
	size_t n;
	int rc, obj = cJSON_IsObject(node);

	if (!obj && !cJSON_IsArray(node))
		return;
	if ((obj ? json_view_object(&v, s, len)
	         : json_view_array(&v, s, len)) != 0)
		violated("the view opens what cJSON parsed", NULL);
	json_view_use_index(&v, ix);
	for (;;) {
		rc = obj ? json_view_member(&v, &m) : json_view_element(&v, &e);
		if (rc != 1)
			break;
		val = obj ? &m.value : &e;
		if (c == NULL)
			violated(
			    "the view sees no more members than cJSON", NULL);
		if (obj && !json_name_is(&m, c->string))
			violated("the view names each member as cJSON", NULL);
		if (val->type != json_node_type(c))
			violated("the view types each value as cJSON", NULL);
		if (val->type == JSON_STRING &&
		    json_string_get(val, str, sizeof(str), &n) == 0 &&
		    (strlen(c->valuestring) != n ||
		        memcmp(str, c->valuestring, n) != 0))
			violated("the view decodes each string as cJSON", NULL);
		if (val->type == JSON_STRING &&
		    strlen(c->valuestring) < sizeof(str) &&
		    json_string_get(val, str, sizeof(str), &n) != 0)
			violated("a string that fits is decoded", NULL);
		if (depth > 0)
			view_agrees(c, val->text, val->len, depth - 1, ix);
		c = c->next;
	}
	if (rc != 0 || c != NULL)
		violated("the view ends where cJSON's object does", NULL);
}

/* 1 if the text holds a \u0000 escape (backslashes paired from the left). */
static int
has_nul_escape(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\\')
			continue;
		if (s[i + 1] == 'u' && len - i >= 6 &&
		    memcmp(s + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}

/*
 * json_check_index's index, of every container (min 0) in room of a size
 * the input picks (so that it runs out in some): the view reads with it as
 * cJSON does, three levels deep; its NUL answer is the text's.
 */
static void
index_agrees(const cJSON *root, const char *s, size_t len)
{
	struct json_index_entry room[64];
	struct json_index ix;
	char err[256];

	memset(&ix, 0, sizeof(ix));
	ix.room = room;
	ix.cap = 1 + len % 64;
	if (json_check_index(s, len, &ix, "body", err, sizeof(err)) == -1)
		return;
	if (ix.n > ix.cap)
		violated("the index stays in its room", NULL);
	for (size_t i = 0; i < ix.n; i++)
		if (room[i].close >= len || room[i].open >= room[i].close ||
		    room[i].next <= i || room[i].next > ix.n ||
		    (s[room[i].open] != '{' && s[room[i].open] != '[') ||
		    (i > 0 && room[i].open <= room[i - 1].open))
			violated("each entry is a container, in order", NULL);
	if (json_index_nul_free(&ix, s, len) == has_nul_escape(s, len))
		violated("the index knows whether a \\u0000 is there", NULL);
	view_agrees(root, s, len, 3, &ix);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int
LLVMFuzzerTestOneInput(const uint8_t *in, size_t len)
{
	struct body_out out, tree;
	cJSON *root;
	char *body;

	/* A copy of exactly len bytes, so ASan sees any read past the end. */
	if ((body = malloc(len ? len : 1)) == NULL)
		return 0;
	memcpy(body, in, len);
	root = parse_body(body, len);
	walk_view(body, len, 2);
	if (root != NULL) {
		check_spans(root, body, len);
		view_agrees(root, body, len, 2, NULL);
		index_agrees(root, body, len);
	}
	body_out_init(&out);
	body_out_init(&tree);
	for (unsigned id = 1; kind_get(id) != NULL; id++) {
		const struct kind *k = kind_get(id);

		for (size_t j = 0; j < KIND_ROUTES; j++) {
			const struct kind_route *r = &k->routes[j];

			if (r->path != NULL && r->form != KIND_FORM_OTLP)
				route(k, r, root, body, len, &out, &tree);
			if (r->path != NULL)
				route_redacted(k, r, body, len, &out);
			if (r->path != NULL && r->form != KIND_FORM_OTLP)
				for (int set = 0; set < NRULESETS; set++)
					route_both_redacted(
					    k, r, body, len, set, &out, &tree);
		}
	}
	route_otlp_json(root, body, len, &out);
	body_out_free(&out);
	body_out_free(&tree);
	cJSON_Delete(root);
	free(body);
	return 0;
}
