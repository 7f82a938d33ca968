/* jsonscan.h: byte-level helpers over JSON text: strict RFC 8259 and UTF-8
 * checks, and finding a value's raw span. */
#ifndef TS_JSONSCAN_H
#define TS_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__) && !defined(JSONSCAN_PORTABLE)
#include <emmintrin.h>
#endif

/*
 * 1 if s[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no UTF-16
 * surrogates, nothing above U+10FFFF), else 0. NUL bytes count as invalid:
 * JSON text never needs them raw.
 */
int json_utf8_valid(const char *s, size_t len);

/*
 * For the walks over text json_check (or cJSON) accepted. json_skip_ws:
 * the first offset from p that is not white space as cJSON skips it (any
 * byte up to 0x20), or len. json_string_run: the offset of the first '"'
 * or backslash in s[p..len), or len: how a walk gets through a string's
 * body, sixteen bytes a step where SSE2 is there. Any thread. Inline,
 * both: the walks call them for every token and every string.
 */
static inline size_t
json_skip_ws(const char *s, size_t len, size_t p)
{
	while (p < len && (unsigned char)s[p] <= 0x20)
		p++;
	return p;
}

static inline size_t
json_string_run(const char *s, size_t len, size_t p)
{
	if (p >= len)
		return len;
#if defined(__SSE2__) && !defined(JSONSCAN_PORTABLE)
	{
		const __m128i quote = _mm_set1_epi8('"'),
		              bslash = _mm_set1_epi8('\\');

		while (len - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(s + p));
			unsigned m = (unsigned)_mm_movemask_epi8(
			    _mm_or_si128(_mm_cmpeq_epi8(v, quote),
			        _mm_cmpeq_epi8(v, bslash)));

			if (m != 0)
				return p + (size_t)__builtin_ctz(m);
			p += 16;
		}
	}
#endif
	while (p < len && s[p] != '"' && s[p] != '\\')
		p++;
	return p;
}

/*
 * Whether s[0..len) is one JSON text as RFC 8259 writes it, strictly, for
 * the upstream that will read the bytes as they are:
 *   - white space only SP, HT, LF and CR; no byte order mark;
 *   - numbers -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: no "01",
 *     "-007", "1.", "-.5", "1.e5", "+1";
 *   - strings without a raw control character (U+0000 to U+001F), with
 *     only the escapes the grammar lists, a \u surrogate only as a high-low
 *     pair (cJSON refuses the others too), and valid UTF-8 (as
 *     json_utf8_valid);
 *   - the literals true, false, null; nothing after the value;
 *   - at most CJSON_NESTING_LIMIT (1000) nested arrays and objects.
 * cJSON accepts all of this, and more that a strict parser refuses.
 * Returns 0, or -1 with err set to "<what>: invalid JSON at byte N:
 * <reason>" (N from 0). Any thread; no allocation, no recursion.
 */
int json_check(
    const char *s, size_t len, const char *what, char *err, size_t errlen);

/*
 * What json_check can leave behind for the view, so that the text is
 * stepped over once and not once per walk: where the text's larger
 * shallow containers end, and whether it holds a \u0000 escape.
 *
 * A container is noted when it is nested at most JSON_INDEX_DEPTH deep
 * (the text's own value is at depth 0: a body, its members, a batch's
 * events and their members) and is at least the caller's min bytes long,
 * in the order the containers open, while the caller's room lasts; a
 * container not noted is stepped over by scanning it, as without an
 * index. Offsets are 32-bit: a text of 4 GiB or more, or room of as many
 * entries, gets no entries.
 */
#define JSON_INDEX_DEPTH 3
/*
 * The min to use: noting shorter containers too saves nothing measurable
 * (callgrind, body_take on the reference event: min 0, 16 and 32 within
 * 0.2%, 64 2% more, 256 8% more) and spends room on them. The tests take
 * 0, to note every one.
 */
#define JSON_INDEX_MIN 32

/* One container noted: offsets into the indexed text. */
struct json_index_entry {
	uint32_t open;  /* its '{' or '[' */
	uint32_t close; /* its '}' or ']' */
	uint32_t next;  /* the first entry after it, past those inside it */
};

/*
 * The caller fills room, cap (0: no entries, the NUL answer only) and min,
 * and owns the room; json_check_index sets the rest. The index speaks of
 * the text it was made from, and is void when that text changes or goes.
 */
struct json_index {
	struct json_index_entry *room;
	size_t cap;
	size_t min;       /* the shortest container noted, in bytes */
	const char *text; /* NULL until a text passed */
	size_t len;
	size_t n;       /* entries in room */
	int nul_escape; /* the text holds a \u0000 escape */
};

/*
 * json_check, and on success ix made the index of s[0..len). On failure
 * ix->text is NULL (no index). Any thread; no allocation.
 */
int json_check_index(const char *s, size_t len, struct json_index *ix,
    const char *what, char *err, size_t errlen);

/*
 * 1 if ix is the index of a text that holds s[0..len) and that text holds
 * no \u0000 escape: s then holds no NUL at all, escaped or raw (json_check
 * refuses a raw one). 0 when ix is NULL or cannot tell.
 */
int json_index_nul_free(const struct json_index *ix, const char *s, size_t len);

/*
 * The JSON text carried in a JSON string (the reference API's
 * {"event": "<the object as a string>"}): lit[0..litlen) is the string's
 * literal as the request has it, quotes included, from a text json_check
 * accepted; text is its value as cJSON decoded it, a C string. Fails when
 * the literal holds an escaped NUL (cJSON's C string would end there and
 * what follows would be dropped without a word; JSON text never holds a
 * raw NUL) or when text is not strict JSON (json_check). 0, or -1 with err
 * as json_check sets it.
 */
int json_check_embedded(const char *lit, size_t litlen, const char *text,
    const char *what, char *err, size_t errlen);

/*
 * The view: JSON text read without a tree, one level at a time. It walks
 * the members of one object, or the elements of one array, handing each
 * out as the span of its text and its type; a name or a string is decoded
 * only when asked. It is for text cJSON accepts (json_check's is a part of
 * it), and picks and decodes what cJSON would: a \u escape of a NUL ends a
 * name or a string, as cJSON keeps them as C strings. Nothing is
 * allocated and nothing recurses: a nested value is stepped over by
 * counting its brackets, however deep (json_check bounds the depth, the
 * view need not), or by json_check_index's note of where it ends. On
 * other text a walk fails or misreads, but never reads outside the text
 * it was given. Any thread; a struct json_view is the caller's, and the
 * spans it hands out point into the caller's text.
 */

/* A value's type, as its first byte tells it (and cJSON types it). */
enum json_type {
	JSON_NONE = 0, /* no value starts there */
	JSON_OBJECT,
	JSON_ARRAY,
	JSON_STRING,
	JSON_NUMBER,
	JSON_TRUE,
	JSON_FALSE,
	JSON_NULL,
};

/* A value's text, from its first byte to its last (a string's quotes in). */
struct json_value {
	const char *text;
	size_t len;
	enum json_type type;
};

/* A member: its name as the string literal it is written as, its value. */
struct json_member {
	struct json_value name;
	struct json_value value;
};

/* A walk in progress; its fields are the view's own. */
struct json_view {
	const char *s;
	size_t len;
	size_t pos;
	char close;
	int state;
	const struct json_index *ix; /* json_view_use_index's, or NULL */
	size_t base;                 /* where s starts in ix's text */
	size_t at;                   /* the entry the walk looks at next */
};

/* The type of the value whose text starts at s (white space before it). */
enum json_type json_type_of(const char *s, size_t len);

/*
 * The type of a node of a cJSON tree in the view's terms (JSON_NONE for an
 * invalid node or NULL), so that a tree and the view are read alike.
 */
struct cJSON;
enum json_type json_node_type(const struct cJSON *c);

/*
 * Begin a walk over the object (or the array) whose text starts at s,
 * white space allowed before it. 0, or -1 when s holds no object (array)
 * there.
 */
int json_view_object(struct json_view *v, const char *s, size_t len);
int json_view_array(struct json_view *v, const char *s, size_t len);

/*
 * Step over the containers ix noted without scanning them, for the rest of
 * the walk v just began. ix must be json_check_index's index of a text
 * that holds the walk's (a body, and the walk over one of its events), and
 * outlive the walk; any other ix is not used. A walk reads the same with
 * an index and without.
 */
void json_view_use_index(struct json_view *v, const struct json_index *ix);

/*
 * The next member of an object walk (element of an array walk) into *m
 * (*e). Returns 1, 0 at the end, or -1 when the text is not JSON here (or
 * the walk is of the other kind); after 0 or -1 the walk stays ended.
 */
int json_view_member(struct json_view *v, struct json_member *m);
int json_view_element(struct json_view *v, struct json_value *e);

/* 1 if the member's name, decoded as cJSON decodes it, is key; else 0. */
int json_name_is(const struct json_member *m, const char *key);

/*
 * Decode the string value v into out[0..size), NUL-terminated, as cJSON
 * decodes it: up to its first NUL, escaped or not. Returns 0 with *n the
 * bytes before the NUL; -1 when v is not a string, holds an escape cJSON
 * would refuse, or does not fit (a value of a known length, an id or a
 * name, needs no more than that length and a NUL: a longer one is simply
 * not it). A string's text of len bytes never decodes to more than
 * len - 2.
 */
int json_string_get(
    const struct json_value *v, char *out, size_t size, size_t *n);

/*
 * The scanners below take text that cJSON has already parsed successfully
 * (so it is valid JSON, at most CJSON_NESTING_LIMIT deep) and report spans
 * as offsets into it. They must agree with cJSON on which member they pick:
 * the first member whose key, after decoding escapes, equals key exactly
 * (cJSON_GetObjectItemCaseSensitive). They do no allocation.
 */

/*
 * Within the object whose text starts at s (leading white space allowed),
 * find the value of member key. On success returns 0 with *off and *vlen
 * giving the value's text (no surrounding white space). -1 when absent or
 * when s is not an object.
 */
int json_member_span(
    const char *s, size_t len, const char *key, size_t *off, size_t *vlen);

/*
 * Trim white space around s[0..*len): returns the new start. White space
 * here, as in the scanners, is every byte up to 0x20, as cJSON skips it.
 */
const char *json_trim(const char *s, size_t *len);

#endif
