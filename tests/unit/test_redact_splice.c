/* test_redact_splice.c: unit tests of redact_splice: the exact bytes it keeps
 * and writes, its counts, and its agreement with redact_tree. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "common/jsonscan.h"
#include "redact/redact.h"
#include "tests/support/check.h"
#include "tests/support/unit.h"

#define KEY "test-key"
#define NRULES 8

static struct redact *
load(const char *rules)
{
	struct test_reports rep = {0};
	struct redact *r;
	int rc;

	rc = redact_load_string(&r, "rules", rules, strlen(rules), KEY,
	    strlen(KEY), test_reports_add, &rep);
	CHECK(rc == 0 && r != NULL, "rules did not load (%d):\n%s\n%s", rc,
	    rules, rep.text);
	CHECK(redact_rules(r) <= NRULES, "a test has at most %d rules", NRULES);
	return r;
}

/*
 * in through rules by redact_splice must give want_rc and, when that is
 * REDACT_SPLICE_CHANGED, exactly the bytes want, with the counts
 * want_counts (one per rule), which redact_tree must count too; with
 * REDACT_SPLICE_TREE nothing is counted. redact_tree must agree: no
 * change for a kept record, and for a changed one its tree equal to the
 * parse of the spliced text, which must be strict JSON.
 */
static void
expect_splice(const char *rules, const char *in,
    enum redact_splice_result want_rc, const char *want,
    const uint64_t *want_counts)
{
	struct redact *r = load(rules);
	uint64_t counts[NRULES] = {0}, tcounts[NRULES] = {0};
	struct buf out;
	enum redact_splice_result rc;
	cJSON *tree, *got;
	char err[256];
	size_t i, n = redact_rules(r);
	int trc;

	buf_init(&out);
	CHECK(json_check(in, strlen(in), "in", err, sizeof(err)) == 0,
	    "test input is not strict JSON: %s", err);
	rc = redact_splice(r, in, strlen(in), counts, &out);
	CHECK(rc == want_rc,
	    "rules:\n%sinput %s: redact_splice gave %d, not %d", rules, in, rc,
	    want_rc);
	if (rc == REDACT_SPLICE_CHANGED) {
		CHECK(out.len == strlen(want) &&
		        memcmp(out.data, want, out.len) == 0,
		    "rules:\n%sinput    %s\nexpected %s\ngot      %.*s", rules,
		    in, want, (int)out.len, out.data);
		CHECK(
		    json_check(out.data, out.len, "out", err, sizeof(err)) == 0,
		    "the spliced text is not strict JSON: %s", err);
	}
	for (i = 0; i < n; i++)
		CHECK(counts[i] ==
		        (want_rc == REDACT_SPLICE_TREE ? 0 : want_counts[i]),
		    "rules:\n%sinput %s: rule %zu counted %llu", rules, in, i,
		    (unsigned long long)counts[i]);

	tree = cJSON_Parse(in);
	CHECK(tree != NULL, "cJSON does not parse %s", in);
	trc = redact_tree(r, tree, tcounts);
	CHECK(trc >= 0, "redact_tree refused %s", in);
	for (i = 0; i < n; i++)
		CHECK(tcounts[i] == want_counts[i],
		    "input %s: redact_tree counted %llu for rule %zu, not %llu",
		    in, (unsigned long long)tcounts[i], i,
		    (unsigned long long)want_counts[i]);
	if (rc == REDACT_SPLICE_KEEP)
		CHECK(trc == 0,
		    "input %s: kept, but redact_tree made %d changes", in, trc);
	if (rc == REDACT_SPLICE_CHANGED) {
		got = cJSON_ParseWithLength(out.data, out.len);
		CHECK(got != NULL && cJSON_Compare(got, tree, 1),
		    "input %s: the spliced record is not redact_tree's", in);
		CHECK(trc > 0, "input %s: changed, but redact_tree made none",
		    in);
		cJSON_Delete(got);
	}
	cJSON_Delete(tree);
	buf_free(&out);
	redact_free(r);
}

/* Each detector; the bytes outside the changed string (numbers, white
 * space, other strings' escapes) are the client's. */
static void
test_splice_detectors(void **state)
{
	static const uint64_t one[] = {1};

	(void)state;
	expect_splice("e * email mask\n",
	    "{\"a\": \"mail jane@example.com now\", \"n\": 1.50,"
	    " \"b\": [1e3, true, \"\\u0041\"]}",
	    REDACT_SPLICE_CHANGED,
	    "{\"a\": \"mail [REDACTED:e] now\", \"n\": 1.50,"
	    " \"b\": [1e3, true, \"\\u0041\"]}",
	    one);
	expect_splice("c * card mask\n",
	    "{\"pay\":{\"card\":\"4111 1111 1111 1111\",\"amount\":10.00}}",
	    REDACT_SPLICE_CHANGED,
	    "{\"pay\":{\"card\":\"[REDACTED:c]\",\"amount\":10.00}}", one);
	expect_splice("b * bearer mask\n",
	    "[\"Authorization: Bearer abcdef12345\", 0.0]",
	    REDACT_SPLICE_CHANGED,
	    "[\"Authorization: Bearer [REDACTED:b]\", 0.0]", one);
	expect_splice("k * apikey mask\n",
	    "{\"env\":{\"KEY\":\"sk-abcdefghijklmnopqrstuvwxyz012345\"},"
	    "\"x\":-0}",
	    REDACT_SPLICE_CHANGED,
	    "{\"env\":{\"KEY\":\"[REDACTED:k]\"},\"x\":-0}", one);
}

/* Nothing matches: kept, out untouched, nothing counted. */
static void
test_splice_keep(void **state)
{
	static const uint64_t none[] = {0, 0};

	(void)state;
	expect_splice("e * email mask\nk * apikey mask\n",
	    "{\"a\": \"no address here\", \"b\": [\"x\", {\"c\": \"y\"}]}",
	    REDACT_SPLICE_KEEP, NULL, none);
	/* attr: rules do not reach records at all */
	expect_splice("p attr:* value drop\n", "{\"a\": \"b\"}",
	    REDACT_SPLICE_KEEP, NULL, none);
}

/* field: paths with "*" and index segments, which also match member
 * names. */
static void
test_splice_paths(void **state)
{
	static const uint64_t two[] = {2};
	static const uint64_t idx[] = {2};
	static const uint64_t one[] = {1};

	(void)state;
	expect_splice("a field:inputs.*.x /ACCT-[0-9]{6}/ mask\n",
	    "{\"inputs\":{\"p\":{\"x\":\"ACCT-123456\",\"y\":\"ACCT-123456\"},"
	    "\"q\":[{\"x\":\"ACCT-654321\"}],\"r\":{\"x\":{\"z\":"
	    "\"ACCT-111111\"}}},\"x\":\"ACCT-222222\"}",
	    REDACT_SPLICE_CHANGED,
	    "{\"inputs\":{\"p\":{\"x\":\"[REDACTED:a]\",\"y\":\"ACCT-123456\"},"
	    "\"q\":[{\"x\":\"ACCT-654321\"}],\"r\":{\"x\":{\"z\":"
	    "\"[REDACTED:a]\"}}},\"x\":\"ACCT-222222\"}",
	    two);
	/* "1" is the second element of an array and the member "1" */
	expect_splice("v field:l.1 value mask\n",
	    "{\"l\":[\"a\",\"b\",\"c\"],\"m\":{\"l\":[\"d\",\"e\"]}}",
	    REDACT_SPLICE_CHANGED,
	    "{\"l\":[\"a\",\"[REDACTED:v]\",\"c\"],\"m\":{\"l\":[\"d\","
	    "\"e\"]}}",
	    one);
	expect_splice("v field:*.1 value mask\n",
	    "{\"l\":[\"a\",\"b\"],\"m\":{\"1\":\"q\",\"2\":\"r\"}}",
	    REDACT_SPLICE_CHANGED,
	    "{\"l\":[\"a\",\"[REDACTED:v]\"],\"m\":{\"1\":\"[REDACTED:v]\","
	    "\"2\":\"r\"}}",
	    idx);
	/* a member name written with escapes is decoded before matching */
	expect_splice("v field:metadata.user_email value mask\n",
	    "{\"metadata\":{\"user\\u005femail\":\"x\"}}",
	    REDACT_SPLICE_CHANGED,
	    "{\"metadata\":{\"user\\u005femail\":\"[REDACTED:v]\"}}", one);
}

/* hash: the keyed HMAC, hex, exactly where the string was. */
static void
test_splice_hash(void **state)
{
	static const uint64_t one[] = {1};
	struct redact *r = load("h field:u value hash\n");
	cJSON *t;
	char want[256];

	(void)state;
	/* The hash redact_tree writes for the same value. */
	t = cJSON_Parse("{\"u\":\"jane@example.com\"}");
	CHECK(t != NULL && redact_tree(r, t, NULL) == 1, "redact_tree hash");
	snprintf(want, sizeof(want), "{\"u\" : \"%s\" , \"n\":2.0}",
	    cJSON_GetObjectItem(t, "u")->valuestring);
	CHECK(strlen(cJSON_GetObjectItem(t, "u")->valuestring) == 64,
	    "a hash is 64 hex digits");
	cJSON_Delete(t);
	redact_free(r);
	expect_splice("h field:u value hash\n",
	    "{\"u\" : \"jane@example.com\" , \"n\":2.0}", REDACT_SPLICE_CHANGED,
	    want, one);
}

/* Rules in file order on one string, each on what the ones before left,
 * across steps (a "value" rule is a step of its own). */
static void
test_splice_order(void **state)
{
	static const uint64_t two[] = {1, 1};

	(void)state;
	expect_splice("e * email mask\nv field:s value mask\nr * /v\\]/ mask\n",
	    "{\"s\":\"x@example.com\",\"t\":\"[REDACTED:v]\"}",
	    REDACT_SPLICE_CHANGED,
	    "{\"s\":\"[REDACTED:[REDACTED:r]\",\"t\":\"[REDACTED:[REDACTED:r]"
	    "\"}",
	    (const uint64_t[]){1, 1, 2});
	expect_splice("a * /a/ mask\nb * /:a\\]/ mask\n", "{\"s\":\"xaz\"}",
	    REDACT_SPLICE_CHANGED, "{\"s\":\"x[REDACTED[REDACTED:b]z\"}", two);
}

/* What is kept of a changed string is written again as cJSON writes it:
 * quotes, backslashes and controls escaped, "\/" and "\u00e9" as the
 * characters, non-ASCII raw. A hidden "@" is decoded before matching. */
static void
test_splice_escapes(void **state)
{
	static const uint64_t one[] = {1};

	(void)state;
	expect_splice("e * email mask\n",
	    "{\"s\":\"say \\\"hi\\\"\\n\\t to a@example.com \\\\ \\/ \\u0001 "
	    "caf\\u00e9 \xc3\xbc \\ud83d\\ude00\"}",
	    REDACT_SPLICE_CHANGED,
	    "{\"s\":\"say \\\"hi\\\"\\n\\t to [REDACTED:e] \\\\ / \\u0001 "
	    "caf\xc3\xa9 \xc3\xbc \xf0\x9f\x98\x80\"}",
	    one);
	expect_splice("e * email mask\n", "[\"jane\\u0040example.com\"]",
	    REDACT_SPLICE_CHANGED, "[\"[REDACTED:e]\"]", one);
}

/* What only the tree can do: the tree's verdict, nothing counted here. */
static void
test_splice_fallback(void **state)
{
	static const uint64_t one[] = {1};
	static const uint64_t e1[] = {1, 0};

	(void)state;
	expect_splice("d * email drop\n", "{\"a\":\"x@example.com\"}",
	    REDACT_SPLICE_TREE, NULL, one);
	/* an earlier rule's matches are not counted twice */
	expect_splice("e * email mask\nd field:b value drop\n",
	    "{\"a\":\"x@example.com\",\"b\":\"y\"}", REDACT_SPLICE_TREE, NULL,
	    (const uint64_t[]){1, 1});
	expect_splice("v field:n value mask\n", "{\"n\":12,\"s\":\"x\"}",
	    REDACT_SPLICE_TREE, NULL, one);
	expect_splice("v field:o value hash\n", "{\"o\":{\"s\":\"x\"}}",
	    REDACT_SPLICE_TREE, NULL, one);
	expect_splice("v field:o.* value mask\n", "{\"o\":[\"a\",null]}",
	    REDACT_SPLICE_TREE, NULL, (const uint64_t[]){2});
	/* cJSON prints what follows \u0000, and an infinity, otherwise */
	expect_splice("e * email mask\nk * apikey mask\n",
	    "{\"a\":\"x@example.com\",\"b\":\"c\\u0000d\"}", REDACT_SPLICE_TREE,
	    NULL, e1);
	expect_splice("e * email mask\nk * apikey mask\n",
	    "{\"a\":\"x@example.com\",\"n\":1e999}", REDACT_SPLICE_TREE, NULL,
	    e1);
	/* unchanged, they are kept as they are */
	expect_splice("e * email mask\n", "{\"b\":\"c\\u0000d\",\"n\":1e999}",
	    REDACT_SPLICE_KEEP, NULL, (const uint64_t[]){0});
	/* a "value" rule that names nothing in this record */
	expect_splice("v field:n value mask\ne * email mask\n",
	    "{\"m\":12,\"s\":\"x@example.com\"}", REDACT_SPLICE_CHANGED,
	    "{\"m\":12,\"s\":\"[REDACTED:e]\"}", (const uint64_t[]){0, 1});
}

/* Deep nesting: no recursion, and the depth limit gives the tree's
 * answer. */
static void
test_splice_deep(void **state)
{
	struct redact *r = load("e * email mask\n");
	struct buf out, in;
	uint64_t counts[1] = {0};
	int i;

	(void)state;
	buf_init(&out);
	buf_init(&in);
	for (i = 0; i < 1100; i++)
		buf_addch(&in, '[');
	buf_addstr(&in, "\"a@example.com\"");
	for (i = 0; i < 1100; i++)
		buf_addch(&in, ']');
	CHECK(redact_splice(r, in.data, in.len, counts, &out) ==
	        REDACT_SPLICE_TREE,
	    "1100 levels go to the tree");
	CHECK(counts[0] == 0, "nothing counted");
	buf_reset(&in);
	for (i = 0; i < 900; i++)
		buf_addstr(&in, "{\"a\":");
	buf_addstr(&in, "\"a@example.com\"");
	for (i = 0; i < 900; i++)
		buf_addch(&in, '}');
	CHECK(redact_splice(r, in.data, in.len, counts, &out) ==
	        REDACT_SPLICE_CHANGED,
	    "900 levels are spliced");
	CHECK(counts[0] == 1, "one match counted");
	CHECK(out.len ==
	        in.len - strlen("a@example.com") + strlen("[REDACTED:e]"),
	    "only the string changed");
	/* text that is not JSON is left to the tree's parser */
	CHECK(
	    redact_splice(r, "{\"a\":", 5, counts, &out) == REDACT_SPLICE_TREE,
	    "a cut record goes to the tree");
	CHECK(redact_splice(r, "{\"a\":\"x@example.com\"]", 21, counts, &out) ==
	        REDACT_SPLICE_TREE,
	    "a mismatched bracket goes to the tree");
	CHECK(counts[0] == 1, "what went to the tree is not counted");
	buf_free(&in);
	buf_free(&out);
	redact_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_splice_detectors),
	    cmocka_unit_test(test_splice_keep),
	    cmocka_unit_test(test_splice_paths),
	    cmocka_unit_test(test_splice_hash),
	    cmocka_unit_test(test_splice_order),
	    cmocka_unit_test(test_splice_escapes),
	    cmocka_unit_test(test_splice_fallback),
	    cmocka_unit_test(test_splice_deep),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
