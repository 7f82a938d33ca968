/* test_redact.c: unit tests of redact/: the rules file, each detector's reach,
 * the actions on trees, attributes and OTLP JSON, hashing, required fields. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/buf.h"
#include "redact/detect.h"
#include "redact/redact.h"
#include "tests/support/check.h"
#include "tests/support/unit.h"

#define KEY "test-key"

/* Rules that must load; the test fails with the messages if not. */
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
	return r;
}

/* Rules that must not load: the number of errors, messages in rep. */
static int
load_fails(const char *rules, const char *key, struct test_reports *rep)
{
	struct redact *r = (struct redact *)&r;
	int rc;

	memset(rep, 0, sizeof(*rep));
	rc = redact_load_string(&r, "rules", rules, strlen(rules), key,
	    key != NULL ? strlen(key) : 0, test_reports_add, rep);
	CHECK(rc != 0, "rules loaded but should not:\n%s", rules);
	CHECK(r == NULL, "a failed load left *out set");
	CHECK(rc == rep->n, "returned %d errors but reported %d:\n%s", rc,
	    rep->n, rep->text);
	return rc;
}

static void
expect_error(const char *rules, const char *key, const char *msg)
{
	struct test_reports rep;

	load_fails(rules, key, &rep);
	CHECK(strstr(rep.text, msg) != NULL,
	    "rules:\n%s\nexpected the error\n  %s\ngot\n%s", rules, msg,
	    rep.text);
}

/*
 * Apply r to the JSON text in (through redact_tree); returns the tree
 * printed again (free it) and the result in *rc.
 */
static char *
apply(struct redact *r, const char *in, int *rc, uint64_t *counts)
{
	cJSON *j = cJSON_Parse(in);
	char *out;

	CHECK(j != NULL, "test input is not JSON: %s", in);
	*rc = redact_tree(r, j, counts);
	out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

/* in (JSON) through rules must print as want (JSON, compared printed). */
static void
expect_tree(const char *rules, const char *in, const char *want)
{
	struct redact *r = load(rules);
	cJSON *w = cJSON_Parse(want);
	char *got, *wanted;
	int rc;

	CHECK(w != NULL, "expected text is not JSON: %s", want);
	wanted = cJSON_PrintUnformatted(w);
	got = apply(r, in, &rc, NULL);
	CHECK(strcmp(got, wanted) == 0,
	    "rules:\n%sinput    %s\nexpected %s\ngot      %s", rules, in,
	    wanted, got);
	/* 0 exactly when nothing changed */
	CHECK(strcmp(in, want) == 0 ? rc == 0 : rc > 0,
	    "rules:\n%sinput %s: redact_tree returned %d", rules, in, rc);
	free(got);
	free(wanted);
	cJSON_Delete(w);
	redact_free(r);
}

/* One string through the "*" rules (redact_span_string). */
static char *
redact_str(struct redact *r, const char *s, enum redact_verdict *v)
{
	struct buf out;
	char *res;

	buf_init(&out);
	*v = redact_span_string(r, s, strlen(s), &out, NULL);
	if (*v == REDACT_CHANGED)
		res = buf_release(&out, NULL);
	else
		res = strdup(s);
	buf_free(&out);
	return res;
}

struct strcase {
	const char *in;
	const char *out; /* NULL: must stay as it is */
};

/* Each case through "t * DETECTOR mask". */
static void
run_cases(const char *detector, const struct strcase *c, size_t n)
{
	char rules[128];
	struct redact *r;
	size_t i;

	snprintf(rules, sizeof(rules), "t * %s mask\n", detector);
	r = load(rules);
	for (i = 0; i < n; i++) {
		const char *want = c[i].out != NULL ? c[i].out : c[i].in;
		enum redact_verdict v;
		char *got = redact_str(r, c[i].in, &v);

		CHECK(strcmp(got, want) == 0,
		    "%s: \"%s\"\n  expected \"%s\"\n  got      \"%s\"",
		    detector, c[i].in, want, got);
		CHECK(v == (c[i].out != NULL ? REDACT_CHANGED : REDACT_KEEP),
		    "%s: \"%s\": verdict %d", detector, c[i].in, (int)v);
		free(got);
	}
	redact_free(r);
}

/* ---- detectors ---- */

static void
test_email(void **state)
{
	static const struct strcase c[] = {
	    {"john@example.com", "[REDACTED:t]"},
	    {"write to jane.doe+news@example.org today",
	        "write to [REDACTED:t] today"},
	    {"a@mail.sub.example.co.uk", "[REDACTED:t]"},
	    {"<john_o.neil-x@example-mail.com>,", "<[REDACTED:t]>,"},
	    {"mailto:john@example.com", "mailto:[REDACTED:t]"},
	    {"end of sentence john@example.com.",
	        "end of sentence [REDACTED:t]."},
	    {"josé@exämple.com", "[REDACTED:t]"},
	    {"two: a@example.com, b@example.net",
	        "two: [REDACTED:t], [REDACTED:t]"},
	    {"user@xn--bcher-kva.example", "[REDACTED:t]"},
	    {"a@b", NULL},
	    {"user@localhost", NULL},
	    {"ssh root@10.0.0.1", NULL},
	    {"@example.com", NULL},
	    {"john@", NULL},
	    {"no at sign at all", NULL},
	    {"foo@bar.c", NULL},
	    {"npm i pkg@1.2.3", NULL},
	};

	(void)state;
	run_cases("email", c, NELEM(c));
}

static void
test_card(void **state)
{
	static const struct strcase c[] = {
	    {"4111 1111 1111 1111", "[REDACTED:t]"},
	    {"4111-1111-1111-1111", "[REDACTED:t]"},
	    {"5500005555555559", "[REDACTED:t]"},
	    {"Amex 378282246310005 ok", "Amex [REDACTED:t] ok"},
	    {"3782 822463 10005", "[REDACTED:t]"},
	    {"6011111111111117", "[REDACTED:t]"},
	    {"card: 4111111111111111, exp 12/25",
	        "card: [REDACTED:t], exp 12/25"},
	    {"4111 1111 1111 1111 123", "[REDACTED:t] 123"},
	    {"id:4111111111111111", "id:[REDACTED:t]"},
	    /* Luhn fails: an order id */
	    {"order 4111111111111112", NULL},
	    {"5105105105105106", NULL},
	    /* a valid card inside a longer run of digits */
	    {"99941111111111111111", NULL},
	    {"41111111111111110000", NULL},
	    /* ms and ns timestamps start with 1 */
	    {"1714978764301", NULL},
	    {"1714978764301000001", NULL},
	    /* too short, two separators, a letter inside */
	    {"79927398713", NULL},
	    {"4111  1111 1111 1111", NULL},
	    {"4111 1111 1111 111x", NULL},
	    /*
	     * Ids: a UUID whose digits would pass Luhn in 4-4-4-4 or in a
	     * row is never a card (its groups are 8-4-4-4-12, and a match
	     * may not start or end inside a word or a dashed token).
	     */
	    {"23456789-1234-4123-8123-123456789012", NULL},
	    {"abcd4111-1111-1111-1111-abcdefabcdef", NULL},
	    {"id-4111-1111-1111-1111", NULL},
	    {"4111-1111-1111-1111-x", NULL},
	    {"x4111111111111111", NULL},
	    /* mixed separators and other groupings */
	    {"4111 1111-1111 1111", NULL},
	    {"41111 111 1111 1111", NULL},
	};

	(void)state;
	run_cases("card", c, NELEM(c));
}

static void
test_bearer(void **state)
{
	static const struct strcase c[] = {
	    {"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig",
	        "Authorization: Bearer [REDACTED:t]"},
	    {"bearer abcdef12345", "bearer [REDACTED:t]"},
	    {"BEARER\tAbCdEf0123456789==", "BEARER\t[REDACTED:t]"},
	    {"Bearer abcdefghijklmnopqrstuvwxyz", "Bearer [REDACTED:t]"},
	    {"Bearer a.b-c_d~e+f/g=", "Bearer [REDACTED:t]"},
	    {"Bearer of bad news", NULL},
	    {"the bearer bond was sold", NULL},
	    {"Bearer short1", NULL},
	    {"forbearer abcdef123456", NULL},
	    {"Bearer abcdefghij", NULL},
	    {"Bearer", NULL},
	};

	(void)state;
	run_cases("bearer", c, NELEM(c));
}

static void
test_apikey(void **state)
{
	static const struct strcase c[] = {
	    {"OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
	        "OPENAI_API_KEY=[REDACTED:t]"},
	    {"sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
	        "[REDACTED:t]"},
	    {"key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789-_AA end",
	        "key [REDACTED:t] end"},
	    {"AKIAIOSFODNN7EXAMPLE", "[REDACTED:t]"},
	    {"id=ASIAY34FZKBOKMUTVV7A;", "id=[REDACTED:t];"},
	    {"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:t]"},
	    {"github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
	        "[REDACTED:t]"},
	    {"xoxb-123456789012-1234567890123-abcdefghijkl", "[REDACTED:t]"},
	    {"AIzaSyD-1234567890abcdefghijklmnopqrstu", "[REDACTED:t]"},
	    {"sk_live_abcdefghijklmnop12345678", "[REDACTED:t]"},
	    {"rk_test_abcdefghijklmnop12345678", "[REDACTED:t]"},
	    {"glpat-abcdefghij0123456789", "[REDACTED:t]"},
	    {"hf_abcdefghijklmnopqrstuvwxyzABCDEFGH", "[REDACTED:t]"},
	    {"npm_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:t]"},
	    {"token=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3"
	     "ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
	        "token=[REDACTED:t]"},
	    {"x -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA "
	     "PRIVATE KEY----- y",
	        "x [REDACTED:t] y"},
	    {"-----BEGIN PRIVATE KEY-----\nMIIEvQ (cut short)", "[REDACTED:t]"},
	    {"sk-", NULL},
	    {"sk-short", NULL},
	    {"skeleton-key", NULL},
	    {"task-abcdefghijklmnopqrstuvwxyz0123456789abcd", NULL},
	    {"AKIA1234", NULL},
	    {"AKIAIOSFODNN7EXAMPLEX", NULL},
	    {"ghp_short", NULL},
	    {"xoxo-love-you-all-the-time", NULL},
	    {"eyJ", NULL},
	    {"a-long-kebab-case-name-for-a-thing", NULL},
	    {"caf77ace-3417-4da4-944d-f4a0688f3c23", NULL},
	    {"-----BEGIN CERTIFICATE-----", NULL},
	};

	(void)state;
	run_cases("apikey", c, NELEM(c));
}

/* A matcher with every detector compiled. */
static struct detect *
all_detectors(void)
{
	struct detect *d = detect_new();
	char err[256];
	int k;

	assert_non_null(d);
	for (k = 0; k < DETECT_N; k++)
		CHECK(detect_enable(d, (enum detect_kind)k, err, sizeof(err)) ==
		        0,
		    "detector %d: %s", k, err);
	return d;
}

/*
 * detect_maybe is exact: on random strings made of pieces of matches
 * and near-misses, it never clears a detector whose expression then
 * matches (asked of PCRE2 directly), and its vector code gives what the
 * byte loop gives.
 */
static void
test_filters_exact(void **state)
{
	static const char *const parts[] = {"4111", " ", "-", "1111", "5", "@",
	    "a", "example.com", "bearer ", "Bearer\t", "sk-", "_", "ghp",
	    "AKIA", "I", "J", "eyJ", "abcdefghij0123456789", "\n", "x", "ASIA",
	    "AIza", "xoxb", "-----", "BEGIN PRIVATE KEY", ".", "9", "\xc3\xa9",
	    "2", "0123456789"};
	struct detect *d = all_detectors();
	char s[256];
	unsigned seed = 12345, i, k, hits = 0;
	size_t ms, me;

	(void)state;
	for (i = 0; i < 50000; i++) {
		size_t len = 0, n;
		unsigned may;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % 14;
		for (k = 0; k < n; k++) {
			const char *p;

			seed = seed * 1103515245u + 12345u;
			p = parts[(seed >> 16) % NELEM(parts)];
			if (len + strlen(p) >= sizeof(s))
				break;
			memcpy(s + len, p, strlen(p));
			len += strlen(p);
		}
		s[len] = '\0';
		may = detect_maybe(s, len, 15);
		CHECK(may == detect_maybe_bytes(s, len, 15),
		    "vector and byte filters differ on \"%s\": %x, %x", s, may,
		    detect_maybe_bytes(s, len, 15));
		for (k = 0; k < DETECT_N; k++) {
			if (detect_next(d, (enum detect_kind)k, s, len, 0, &ms,
			        &me) != 1)
				continue;
			hits++;
			CHECK(may & (1u << k),
			    "%s matches \"%s\" but the filter cleared it",
			    detect_name((enum detect_kind)k), s);
		}
	}
	/* the pieces do make matches: the test tests something */
	CHECK(hits > 1000, "only %u matches in the random strings", hits);
	detect_free(d);
}

/* The filter must not hide what the expression finds: checked against
 * PCRE2 directly, without the filter in front. */
static void
test_filters_never_hide_a_match(void **state)
{
	static const char *const hits[] = {"4111 1111 1111 1111",
	    "john@example.com", "Bearer abcdef12345",
	    "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",
	    "AKIAIOSFODNN7EXAMPLE", "AIzaSyD-1234567890abcdefghijklmnopqrstu",
	    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.x",
	    "-----BEGIN EC PRIVATE KEY-----", "xapp-1-A0123456789abcdefghijk",
	    "pypi-AgEIcHlwaS5vcmcCJGFiY2RlZmdoLWFiY2QtYWJjZC1hYmNkLWFiY2RlZmdo",
	    "gsk_abcdefghijklmnopqrstuvwxyz0123456789ABCD",
	    "xai-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
	    "r8_abcdefghijklmnopqrstuvwxyz0123",
	    "pplx-abcdefghijklmnopqrstuvwxyz0123456789ABCD",
	    "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789",
	    "dop_v1_"
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
	    "cdef",
	    "shpat_0123456789abcdef0123456789abcdef",
	    "whsec_abcdefghijklmnopqrstuvwxyz012345",
	    "gho_abcdefghijklmnopqrstuvwxyz0123456789"};
	struct detect *d = all_detectors();
	size_t i, ms, me;
	int k, found;

	(void)state;
	for (i = 0; i < NELEM(hits); i++) {
		unsigned may = detect_maybe(hits[i], strlen(hits[i]), 15);

		found = 0;
		for (k = 0; k < DETECT_N; k++)
			if (detect_next(d, (enum detect_kind)k, hits[i],
			        strlen(hits[i]), 0, &ms, &me) == 1) {
				found = 1;
				CHECK(may & (1u << k),
				    "%s matches \"%s\" but the filter cleared "
				    "it",
				    detect_name((enum detect_kind)k), hits[i]);
			}
		CHECK(found, "nothing matches the sample \"%s\"", hits[i]);
	}
	detect_free(d);
}

/* ---- the rules file ---- */

static void
test_parse_errors_name_file_and_line(void **state)
{
	(void)state;
	expect_error("a * email\n", KEY,
	    "rules:1: expected 4 fields (name where what action), found 3");
	expect_error("a * email mask extra\n", KEY,
	    "rules:1: expected 4 fields (name where what action), found 5");
	expect_error("# c\n\na foo email mask\n", KEY,
	    "rules:3: rule a: unknown where 'foo' (expected *, field:PATH or "
	    "attr:KEY)");
	expect_error("a field:inputs..x value mask\n", KEY,
	    "rules:1: rule a: field:inputs..x: empty path segment");
	expect_error("a field:.x value mask\n", KEY,
	    "rules:1: rule a: field:.x: empty path segment");
	expect_error("a field: value mask\n", KEY,
	    "rules:1: rule a: field:: empty path");
	expect_error("a field:user_* value mask\n", KEY,
	    "rules:1: rule a: field:user_*: '*' must be a whole path segment");
	expect_error("a attr: value mask\n", KEY,
	    "rules:1: rule a: attr:: empty attribute key");
	expect_error("a * emails mask\n", KEY,
	    "rules:1: rule a: unknown detector 'emails' (expected value, "
	    "email, card, bearer, apikey or /REGEX/)");
	expect_error("a * /a(/ mask\n", KEY,
	    "rules:1: rule a: expression /a(/: missing closing parenthesis at "
	    "offset 2");
	expect_error("a * /abc mask\n", KEY,
	    "rules:1: rule a: expression /abc has no closing '/'");
	expect_error("a * // mask\n", KEY, "rules:1: rule a: empty expression");
	expect_error("a * /abc/q mask\n", KEY,
	    "rules:1: rule a: expression /abc/q: unknown flag 'q'");
	expect_error("a * /abc/ii mask\n", KEY,
	    "rules:1: rule a: expression /abc/ii: repeated flag 'i'");
	expect_error("a * email hide\n", KEY,
	    "rules:1: rule a: unknown action 'hide' (expected mask, hash or "
	    "drop)");
	expect_error("a * email mask\nb * card mask\na * card mask\n", KEY,
	    "rules:3: duplicate rule name 'a' (first on line 1)");
	expect_error("a * email hash\n", NULL,
	    "rules:1: rule a: hash needs a secret (redact_hash_key_file)");
	expect_error("a b * email mask\n", KEY,
	    "rules:1: expected 4 fields (name where what action), found 5");
	expect_error("a/b * email mask\n", KEY,
	    "rules:1: bad rule name 'a/b' (1 to 64 of A-Z a-z 0-9 _ . -)");
	expect_error(
	    "a2345678901234567890123456789012345678901234567890123456789"
	    "012345 * email mask\n",
	    KEY, "bad rule name");
}

static void
test_parse_reports_every_error(void **state)
{
	struct test_reports rep;
	int n;

	(void)state;
	n = load_fails("ok * email mask\n"
	               "bad1 * nope mask\n"
	               "# fine\n"
	               "bad2 where email mask\n"
	               "ok2 * card mask\n"
	               "bad3 * /(/ hash\n"
	               "too few\n",
	    NULL, &rep);
	/* bad3 has two errors: the expression and hash without a key */
	CHECK(n == 5, "expected 5 errors, got %d:\n%s", n, rep.text);
	CHECK(strstr(rep.text, "rules:2: rule bad1: unknown detector") &&
	        strstr(rep.text, "rules:4: rule bad2: unknown where") &&
	        strstr(rep.text, "rules:6: rule bad3: expression /(/:") &&
	        strstr(rep.text, "rules:6: rule bad3: hash needs a secret") &&
	        strstr(rep.text, "rules:7: expected 4 fields"),
	    "messages:\n%s", rep.text);
}

static void
test_parse_nul_and_long_lines(void **state)
{
	static const char nul[] = "a * email mask\nb * card\0 mask\n";
	struct test_reports rep = {0};
	struct redact *r;
	char *big;
	int rc;

	(void)state;
	rc = redact_load_string(
	    &r, "rules", nul, sizeof(nul) - 1, NULL, 0, test_reports_add, &rep);
	CHECK(rc == 1 && strstr(rep.text, "rules:2: contains a NUL byte"),
	    "rc %d:\n%s", rc, rep.text);
	big = malloc(REDACT_LINE_MAX + 64);
	assert_non_null(big);
	memset(big, 'x', REDACT_LINE_MAX + 10);
	memcpy(big + REDACT_LINE_MAX + 10, "\n", 2);
	expect_error(big, KEY, "rules:1: longer than 8192 bytes");
	free(big);
}

static void
test_parse_comments_and_blank_lines(void **state)
{
	struct redact *r;

	(void)state;
	r = load(
	    "# a whole-line comment\n"
	    "\n"
	    "   \t\n"
	    "  # indented comment\n"
	    "a * email mask # trailing comment\n"
	    "b\t*\t/x#y/\tmask\t#\tthe '#' inside is the expression's\r\n");
	redact_free(r);
	/* a '#' glued to a field belongs to it */
	expect_error(
	    "c field:x.y value drop#x\n", KEY, "unknown action 'drop#x'");
	r = load("a * /x#y/ mask\n");
	{
		enum redact_verdict v;
		char *out = redact_str(r, "ax#yb", &v);

		CHECK(strcmp(out, "a[REDACTED:a]b") == 0, "got %s", out);
		free(out);
	}
	redact_free(r);
}

static void
test_parse_regex_with_slashes_and_flags(void **state)
{
	struct redact *r;
	enum redact_verdict v;
	char *out;

	(void)state;
	r = load("p * /\\/users\\/[0-9]+/ mask\n"
	         "q * /a/b/i mask\n");
	out = redact_str(r, "GET /users/42 and A/B", &v);
	CHECK(strcmp(out, "GET [REDACTED:p] and [REDACTED:q]") == 0, "got %s",
	    out);
	free(out);
	redact_free(r);
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/test_redact.XXXXXX";
	struct test_reports rep = {0};
	struct redact *r;
	FILE *fp;
	int fd, rc;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("emails * email mask\nbad * nope mask\n", fp);
	fclose(fp);
	rc = redact_load(&r, path, NULL, 0, test_reports_add, &rep);
	CHECK(rc == 1 && r == NULL, "rc %d", rc);
	CHECK(strstr(rep.text, ":2: rule bad: unknown detector") != NULL &&
	        strncmp(rep.text, path, strlen(path)) == 0,
	    "the message must name the file and line:\n%s", rep.text);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("emails * email mask\n", fp);
	fclose(fp);
	rc = redact_load(&r, path, NULL, 0, test_reports_add, &rep);
	CHECK(rc == 0 && r != NULL && redact_rules(r) == 1, "rc %d", rc);
	assert_string_equal(redact_rule_name(r, 0), "emails");
	redact_free(r);
	unlink(path);
	memset(&rep, 0, sizeof(rep));
	rc = redact_load(&r, path, NULL, 0, test_reports_add, &rep);
	CHECK(rc == -1 && r == NULL, "a missing file gave %d", rc);
	CHECK(strncmp(rep.text, path, strlen(path)) == 0 &&
	        strstr(rep.text, ": No such file or directory") != NULL,
	    "the message must name the missing file:\n%s", rep.text);
}

static void
test_empty_rules_change_nothing(void **state)
{
	struct redact *r = load("# nothing\n\n");
	const char *in = "{\"a\":\"john@example.com\"}";
	char *out;
	int rc;

	(void)state;
	assert_int_equal(redact_rules(r), 0);
	out = apply(r, in, &rc, NULL);
	assert_int_equal(rc, 0);
	assert_string_equal(out, in);
	free(out);
	redact_free(r);
}

static void
test_print(void **state)
{
	struct redact *r = load("emails   *   email mask\n"
	                        "acct field:inputs.*  /ACCT-[0-9]{6}/i hash\n"
	                        "p attr:gen_ai.prompt.* value drop\n");
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	redact_print(r, fp);
	fclose(fp);
	assert_string_equal(text,
	    "emails * email mask\n"
	    "acct field:inputs.* /ACCT-[0-9]{6}/i hash\n"
	    "p attr:gen_ai.prompt.* value drop\n");
	CHECK(strstr(text, KEY) == NULL, "the hash key was printed");
	free(text);
	redact_free(r);
}

static void
test_print_round_trips(void **state)
{
	static const char rules[] = "a * email mask\n"
	                            "b field:x.*.0 /[#]x\\/y/ims hash\n"
	                            "c attr:* value drop\n";
	struct redact *r = load(rules), *again;
	char *text = NULL, *text2 = NULL;
	size_t len = 0, len2 = 0;
	FILE *fp = open_memstream(&text, &len);

	(void)state;
	assert_non_null(fp);
	redact_print(r, fp);
	fclose(fp);
	assert_string_equal(text, rules);
	again = load(text);
	fp = open_memstream(&text2, &len2);
	assert_non_null(fp);
	redact_print(again, fp);
	fclose(fp);
	assert_string_equal(text, text2);
	free(text);
	free(text2);
	redact_free(again);
	redact_free(r);
}

/* ---- semantics on trees ---- */

static void
test_file_order(void **state)
{
	uint64_t counts[2] = {0};
	struct redact *r = load("first * /secret/ mask\n"
	                        "second * /REDACTED/ mask\n");
	char *out;
	int rc;

	(void)state;
	out = apply(r, "{\"a\":\"a secret\"}", &rc, counts);
	assert_string_equal(out, "{\"a\":\"a [[REDACTED:second]:first]\"}");
	assert_int_equal(rc, 2);
	assert_int_equal(counts[0], 1);
	assert_int_equal(counts[1], 1);
	free(out);
	redact_free(r);
	/* and a field: rule between them is applied in its turn */
	expect_tree(
	    "a * /x/ mask\nb field:k value hash\nc * /[0-9a-f]{64}/ mask\n",
	    "{\"k\":\"x\",\"o\":\"x\"}",
	    "{\"k\":\"[REDACTED:c]\",\"o\":\"[REDACTED:a]\"}");
}

/* "*" and field: expression rules share a walk, in file order still. */
static void
test_one_walk_keeps_file_order(void **state)
{
	struct redact *r;
	char rules[70 * 40], *out;
	size_t len = 0;
	int i, rc;

	(void)state;
	expect_tree("a * /secret/ mask\n"
	            "f field:inputs.* /REDACTED/ mask\n"
	            "c * /:f]/ mask\n",
	    "{\"inputs\":{\"q\":\"secret\"},\"outputs\":\"secret\"}",
	    "{\"inputs\":{\"q\":\"[[REDACTED[REDACTED:c]:a]\"},"
	    "\"outputs\":\"[REDACTED:a]\"}");
	/* an index counts the elements the rules before it left */
	expect_tree("d * /x/ drop\nf field:list.1 /y/ mask\n",
	    "{\"list\":[\"x\",\"ay\",\"by\"]}",
	    "{\"list\":[\"ay\",\"b[REDACTED:f]\"]}");
	/* more field: rules than one walk takes */
	for (i = 0; i < 70; i++)
		len += (size_t)snprintf(rules + len, sizeof(rules) - len,
		    "f%d field:k%d /x/ mask\n", i, i);
	r = load(rules);
	out = apply(r,
	    "{\"k0\":\"x\",\"k63\":\"x\",\"k64\":\"x\",\"k69\":"
	    "\"x\",\"k70\":\"x\"}",
	    &rc, NULL);
	assert_string_equal(out,
	    "{\"k0\":\"[REDACTED:f0]\",\"k63\":\"[REDACTED:f63]\",\"k64\":"
	    "\"[REDACTED:f64]\",\"k69\":\"[REDACTED:f69]\",\"k70\":\"x\"}");
	assert_int_equal(rc, 4);
	free(out);
	redact_free(r);
}

static void
test_field_paths(void **state)
{
	static const char ev[] =
	    "{\"inputs\":{\"q\":\"hi\",\"n\":{\"q\":\"deep\"}},"
	    "\"list\":[{\"c\":\"a\"},{\"c\":\"b\"}],\"obj\":{\"0\":\"zero\"},"
	    "\"other\":\"keep\"}";

	(void)state;
	expect_tree("m field:inputs.q value mask\n", ev,
	    "{\"inputs\":{\"q\":\"[REDACTED:m]\",\"n\":{\"q\":\"deep\"}},"
	    "\"list\":[{\"c\":\"a\"},{\"c\":\"b\"}],\"obj\":{\"0\":\"zero\"},"
	    "\"other\":\"keep\"}");
	expect_tree("m field:inputs.* value mask\n", ev,
	    "{\"inputs\":{\"q\":\"[REDACTED:m]\",\"n\":\"[REDACTED:m]\"},"
	    "\"list\":[{\"c\":\"a\"},{\"c\":\"b\"}],\"obj\":{\"0\":\"zero\"},"
	    "\"other\":\"keep\"}");
	expect_tree("m field:*.*.q value mask\n", ev,
	    "{\"inputs\":{\"q\":\"hi\",\"n\":{\"q\":\"[REDACTED:m]\"}},"
	    "\"list\":[{\"c\":\"a\"},{\"c\":\"b\"}],\"obj\":{\"0\":\"zero\"},"
	    "\"other\":\"keep\"}");
	expect_tree("m field:list.*.c value mask\n", ev,
	    "{\"inputs\":{\"q\":\"hi\",\"n\":{\"q\":\"deep\"}},"
	    "\"list\":[{\"c\":\"[REDACTED:m]\"},{\"c\":\"[REDACTED:m]\"}],"
	    "\"obj\":{\"0\":\"zero\"},\"other\":\"keep\"}");
	/* a decimal segment: an array index, or a member of that name */
	expect_tree("m field:list.1.c value mask\nz field:obj.0 value mask\n",
	    ev,
	    "{\"inputs\":{\"q\":\"hi\",\"n\":{\"q\":\"deep\"}},"
	    "\"list\":[{\"c\":\"a\"},{\"c\":\"[REDACTED:m]\"}],"
	    "\"obj\":{\"0\":\"[REDACTED:z]\"},\"other\":\"keep\"}");
	/* a path that names nothing changes nothing */
	expect_tree("m field:inputs.q.deeper value mask\nn field:list.7 value "
	            "mask\no field:nope value drop\n",
	    ev, ev);
}

static void
test_duplicate_members_all_redacted(void **state)
{
	(void)state;
	expect_tree("m field:a value mask\n", "{\"a\":\"x\",\"a\":\"y\"}",
	    "{\"a\":\"[REDACTED:m]\",\"a\":\"[REDACTED:m]\"}");
}

static void
test_value_on_non_strings(void **state)
{
	static const char ev[] = "{\"o\":{\"k\":[1,\"s\"]},\"n\":42,\"b\":true,"
	                         "\"z\":null,\"s\":\"str\"}";
	struct redact *r;
	char *out, *h;
	int rc;

	(void)state;
	expect_tree("m field:o value mask\nn field:n value mask\n"
	            "b field:b value mask\nz field:z value mask\n",
	    ev,
	    "{\"o\":\"[REDACTED:m]\",\"n\":\"[REDACTED:n]\",\"b\":\"[REDACTED:"
	    "b]\",\"z\":\"[REDACTED:z]\",\"s\":\"str\"}");
	expect_tree("m field:o value drop\nn field:n value drop\n", ev,
	    "{\"b\":true,\"z\":null,\"s\":\"str\"}");
	/* hash of a non-string: over its compact JSON text */
	r = load("g * value hash\n");
	out = apply(r, "{\"o\":\"{\\\"k\\\":[1,\\\"s\\\"]}\"}", &rc, NULL);
	h = strdup(out);
	free(out);
	redact_free(r);
	r = load("h field:o value hash\n");
	out = apply(r, "{\"o\":{\"k\":[1,\"s\"]}}", &rc, NULL);
	CHECK(strcmp(out, h) == 0,
	    "hash of {\"k\":[1,\"s\"]} as a value (%s) differs from the hash "
	    "of its JSON text as a string (%s)",
	    out, h);
	assert_int_equal(rc, 1);
	free(out);
	free(h);
	redact_free(r);
}

static void
test_detectors_reach_strings_only(void **state)
{
	(void)state;
	/* numbers are not scanned; "value" reaches them */
	expect_tree("c * card mask\n",
	    "{\"n\":4111111111111111,\"s\":\"4111111111111111\"}",
	    "{\"n\":4111111111111111,\"s\":\"[REDACTED:c]\"}");
	/* a detector on a field: path scans every string under it */
	expect_tree("e field:inputs email mask\n",
	    "{\"inputs\":{\"a\":[\"x@example.com\",{\"b\":\"y@example.com\"}]},"
	    "\"outputs\":\"z@example.com\"}",
	    "{\"inputs\":{\"a\":[\"[REDACTED:e]\",{\"b\":\"[REDACTED:e]\"}]},"
	    "\"outputs\":\"z@example.com\"}");
	/* member names are never changed */
	expect_tree("e * email mask\n", "{\"x@example.com\":\"x@example.com\"}",
	    "{\"x@example.com\":\"[REDACTED:e]\"}");
}

static void
test_drop(void **state)
{
	(void)state;
	/* a detector's drop removes the member or element holding a match */
	expect_tree("d * email drop\n",
	    "{\"a\":\"x@example.com\",\"b\":[\"keep\",\"y@example.com\","
	    "\"keep2\"],\"c\":{\"d\":\"mail z@example.com\"},\"e\":\"ok\"}",
	    "{\"b\":[\"keep\",\"keep2\"],\"c\":{},\"e\":\"ok\"}");
	expect_tree(
	    "d field:b.1 value drop\n", "{\"b\":[0,1,2,3]}", "{\"b\":[0,2,3]}");
	/* indexes are the elements as they were: 1 and 2 both go */
	expect_tree("d field:b.1 value drop\ne field:b.2 value drop\n",
	    "{\"b\":[0,1,2,3]}", "{\"b\":[0,2]}");
	expect_tree("d field:b.* /x/ drop\n", "{\"b\":[\"ax\",\"b\",\"xc\"]}",
	    "{\"b\":[\"b\"]}");
}

static void
test_regex_mask_and_hash(void **state)
{
	struct redact *r;
	char *out;
	int rc;

	(void)state;
	expect_tree("a field:inputs.* /ACCT-[0-9]{6}/ mask\n",
	    "{\"inputs\":{\"q\":\"pay ACCT-123456 and ACCT-654321 now\","
	    "\"n\":\"ACCT-12345\"},\"outputs\":\"ACCT-111111\"}",
	    "{\"inputs\":{\"q\":\"pay [REDACTED:a] and [REDACTED:a] now\","
	    "\"n\":\"ACCT-12345\"},\"outputs\":\"ACCT-111111\"}");
	r = load("a * /ACCT-[0-9]{6}/ hash\n");
	out = apply(r, "{\"q\":\"pay ACCT-123456.\"}", &rc, NULL);
	CHECK(strlen(out) == strlen("{\"q\":\"pay .\"}") + 64 &&
	        strncmp(out, "{\"q\":\"pay ", 10) == 0,
	    "got %s", out);
	assert_int_equal(rc, 1);
	free(out);
	redact_free(r);
	/* empty matches change nothing */
	expect_tree("a * /x*/ mask\n", "{\"q\":\"abc\"}", "{\"q\":\"abc\"}");
	expect_tree("a * /x*/ mask\n", "{\"q\":\"axxb\"}",
	    "{\"q\":\"a[REDACTED:a]b\"}");
	/* expressions see characters: '.' is one UTF-8 character */
	expect_tree("a * /^.$/ mask\n", "{\"q\":\"\xc3\xa9\"}",
	    "{\"q\":\"[REDACTED:a]\"}");
}

static void
test_unchanged_tree_is_identical(void **state)
{
	const char *dir = getenv("TS_TEST_DATA");
	char path[4096], *text, *before, *after;
	struct redact *r = load("emails * email mask\n"
	                        "cards * card mask\n"
	                        "keys * apikey mask\n"
	                        "accounts field:inputs.* /ACCT-[0-9]{6}/ mask\n"
	                        "tokens * bearer mask\n");
	uint64_t counts[5] = {0};
	FILE *fp;
	long n;
	cJSON *j;

	(void)state;
	snprintf(path, sizeof(path), "%s/reference_event.json",
	    dir != NULL && dir[0] != '\0' ? dir : "tests/data");
	fp = fopen(path, "rb");
	CHECK(fp != NULL, "cannot open %s (run from the repo root)", path);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	j = cJSON_Parse(text);
	assert_non_null(j);
	before = cJSON_Print(j);
	assert_int_equal(redact_tree(r, j, counts), 0);
	after = cJSON_Print(j);
	assert_string_equal(before, after);
	assert_true(
	    counts[0] + counts[1] + counts[2] + counts[3] + counts[4] == 0);
	free(before);
	free(after);
	cJSON_Delete(j);
	free(text);
	redact_free(r);
}

static void
test_counters(void **state)
{
	uint64_t counts[3] = {0};
	struct redact *r =
	    load("e * email mask\nc * card hash\nd field:x value "
	         "drop\n");
	char *out;
	int rc;

	(void)state;
	out = apply(r,
	    "{\"a\":\"a@example.com b@example.com\",\"b\":[\"c@example.com\","
	    "\"4111111111111111\"],\"x\":1}",
	    &rc, counts);
	assert_int_equal(counts[0], 3);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[2], 1);
	assert_int_equal(rc, 5);
	free(out);
	/* counts add up across calls */
	out = apply(r, "{\"a\":\"a@example.com\"}", &rc, counts);
	assert_int_equal(counts[0], 4);
	assert_int_equal(rc, 1);
	free(out);
	redact_free(r);
}

static void
test_record_must_be_a_container(void **state)
{
	struct redact *r = load("e * email mask\n");
	cJSON *s = cJSON_CreateString("a@example.com");

	(void)state;
	assert_int_equal(redact_tree(r, s, NULL), -1);
	cJSON_Delete(s);
	redact_free(r);
}

static void
test_depth_limit(void **state)
{
	struct redact *r = load("e * email mask\n");
	cJSON *root = cJSON_CreateArray(), *cur = root;
	int i;

	(void)state;
	for (i = 0; i < REDACT_MAX_DEPTH + 10; i++) {
		cJSON *next = cJSON_CreateArray();

		cJSON_AddItemToArray(cur, next);
		cur = next;
	}
	cJSON_AddItemToArray(cur, cJSON_CreateString("a@example.com"));
	CHECK(redact_tree(r, root, NULL) == -1,
	    "a tree deeper than REDACT_MAX_DEPTH must be refused, not skipped");
	cJSON_Delete(root);
	redact_free(r);
}

/* What PCRE2 gives up on is replaced whole: fail closed. */
static void
test_match_limit_fails_closed(void **state)
{
	char in[128];

	(void)state;
	snprintf(in, sizeof(in), "{\"s\":\"%s!\"}",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	expect_tree("a * /(a|aa)+$/ mask\n", in, "{\"s\":\"[REDACTED:a]\"}");
}

/* Output past 4 times the input (and 64 KiB) replaces the string whole. */
static void
test_growth_limit(void **state)
{
	struct redact *r = load("h * /./ hash\n");
	struct buf out;
	char *s = malloc(20001);

	(void)state;
	assert_non_null(s);
	memset(s, 'x', 20000);
	s[20000] = '\0';
	buf_init(&out);
	assert_int_equal(
	    redact_span_string(r, s, 20000, &out, NULL), REDACT_CHANGED);
	assert_int_equal(out.len, 64);
	buf_free(&out);
	free(s);
	redact_free(r);
}

/* ---- hash ---- */

static char *
hash_of(const char *key, const char *value)
{
	struct test_reports rep = {0};
	struct redact *r;
	struct buf out;
	char *res;
	int rc;

	rc = redact_load_string(&r, "rules", "h * value hash\n", 15, key,
	    strlen(key), test_reports_add, &rep);
	CHECK(rc == 0, "load: %s", rep.text);
	buf_init(&out);
	assert_int_equal(
	    redact_span_string(r, value, strlen(value), &out, NULL),
	    REDACT_CHANGED);
	res = buf_release(&out, NULL);
	redact_free(r);
	return res;
}

static void
test_hash_rfc4231(void **state)
{
	char *h = hash_of("Jefe", "what do ya want for nothing?");

	(void)state;
	/* RFC 4231, test case 2 */
	assert_string_equal(h,
	    "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	free(h);
}

static void
test_hash_stable_and_keyed(void **state)
{
	char *a = hash_of("secret-1", "user@example.com");
	char *b = hash_of("secret-1", "user@example.com");
	char *c = hash_of("secret-2", "user@example.com");
	char *d = hash_of("secret-1", "user2@example.com");
	struct redact *r = load("h * email hash\n");
	enum redact_verdict v;
	char *e, *f;

	(void)state;
	assert_string_equal(a, b);
	CHECK(strcmp(a, c) != 0, "another key gave the same hash");
	CHECK(strcmp(a, d) != 0, "another value gave the same hash");
	/* in one struct, many values: the context is re-keyed every time */
	e = redact_str(r, "x user@example.com y user@example.com", &v);
	f = hash_of(KEY, "user@example.com");
	{
		char want[256];

		snprintf(want, sizeof(want), "x %s y %s", f, f);
		assert_string_equal(e, want);
	}
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(f);
	redact_free(r);
}

/* ---- required fields ---- */

static void
expect_refused(const char *rules, const char *const *req, const char *msg)
{
	struct redact *r = load(rules);
	char err[512] = "";

	CHECK(redact_check_required(r, req, err, sizeof(err)) == -1,
	    "rules accepted but should be refused:\n%s", rules);
	CHECK(strcmp(err, msg) == 0, "rules:\n%sexpected %s\ngot      %s",
	    rules, msg, err);
	redact_free(r);
}

static void
expect_accepted(const char *rules, const char *const *req)
{
	struct redact *r = load(rules);
	char err[512] = "";

	CHECK(redact_check_required(r, req, err, sizeof(err)) == 0,
	    "rules refused but should be accepted:\n%s%s", rules, err);
	redact_free(r);
}

static void
test_required_refusals(void **state)
{
	static const char *const plain[] = {"event_type", "inputs", NULL};
	static const char *const typed[] = {
	    "event_type=chain|model|tool|session", "inputs:object", NULL};

	(void)state;
	expect_refused("# x\nd field:inputs value drop\n", plain,
	    "rule d (rules:2): drop would remove the required field inputs");
	expect_refused("d field:* value drop\n", typed,
	    "rule d (rules:1): drop would remove the required field "
	    "event_type");
	/*
	 * "*" with a detector drops a string only where it finds something:
	 * allowed even on a free-text required field.
	 */
	expect_accepted("d * email drop\n", plain);
	/* An optional typed field may go, but not become a string. */
	expect_accepted("d field:metadata value drop\n",
	    (const char *const[]){"?metadata:object", NULL});
	expect_refused("m field:metadata value mask\n",
	    (const char *const[]){"?metadata:object", NULL},
	    "rule m (rules:1): mask would make the field metadata a string, "
	    "which its records may not have");
	expect_accepted("m field:note value hash\n",
	    (const char *const[]){"?note:string", NULL});
	expect_refused("d field:event_type email drop\n", plain,
	    "rule d (rules:1): drop would remove the required field "
	    "event_type");
	expect_refused("m field:inputs value mask\n", typed,
	    "rule m (rules:1): mask would change the required field inputs");
	expect_refused("m * value hash\n", typed,
	    "rule m (rules:1): hash would change the required field "
	    "event_type");
	expect_refused("m * /o/ mask\n", typed,
	    "rule m (rules:1): mask would change the required field "
	    "event_type (it matches \"model\")");
	expect_refused("m field:event_type /^c/ drop\n", typed,
	    "rule m (rules:1): drop would remove the required field "
	    "event_type (it matches \"chain\")");
	expect_refused("x field:metadata value mask\n",
	    (const char *const[]){"metadata.user_id:string", NULL},
	    "rule x (rules:1): mask would remove the required field "
	    "metadata.user_id");
}

static void
test_required_acceptances(void **state)
{
	static const char *const typed[] = {
	    "event_type=chain|model|tool|session", "inputs:object", NULL};

	(void)state;
	expect_accepted("e * email drop\nc * card mask\nk * apikey hash\n"
	                "b * bearer drop\n",
	    typed);
	expect_accepted("d field:inputs.* value drop\n", typed);
	expect_accepted("e field:inputs email drop\n", typed);
	expect_accepted("a attr:* value drop\n", typed);
	expect_accepted("a field:inputs.* /ACCT-[0-9]{6}/ mask\n", typed);
	expect_accepted("m field:name value hash\n",
	    (const char *const[]){"name:string", NULL});
	expect_accepted("m field:other value drop\n",
	    (const char *const[]){"event_type", "inputs", NULL});
}

static void
test_required_bad_entry(void **state)
{
	struct redact *r = load("e * email mask\n");
	char err[256];

	(void)state;
	assert_int_equal(
	    redact_check_required(
	        r, (const char *const[]){"x:number", NULL}, err, sizeof(err)),
	    -1);
	assert_string_equal(err,
	    "required field 'x:number': unknown type "
	    "'number' (expected object, array or string)");
	redact_free(r);
}

/* ---- attributes ---- */

static void
test_attr_globs(void **state)
{
	struct redact *r = load("p attr:gen_ai.prompt.* value drop\n"
	                        "c attr:*.content value mask\n"
	                        "x attr:a*b*c value mask\n");
	static const struct {
		const char *key;
		enum redact_verdict v;
	} c[] = {
	    {"gen_ai.prompt.0.content", REDACT_DROP},
	    {"gen_ai.prompt.", REDACT_DROP},
	    {"gen_ai.prompt", REDACT_KEEP},
	    {"gen_ai.completion.0.content", REDACT_CHANGED},
	    {"content", REDACT_KEEP},
	    {"abc", REDACT_CHANGED},
	    {"a.x.b.y.c", REDACT_CHANGED},
	    {"a.x.b.y.cd", REDACT_KEEP},
	    {"http.method", REDACT_KEEP},
	};
	struct buf out;
	size_t i;

	(void)state;
	buf_init(&out);
	for (i = 0; i < NELEM(c); i++) {
		enum redact_verdict v =
		    redact_attr(r, c[i].key, "v", 1, &out, NULL);

		CHECK(v == c[i].v, "key %s: verdict %d, expected %d", c[i].key,
		    (int)v, (int)c[i].v);
	}
	buf_free(&out);
	redact_free(r);
}

static void
test_attr_verdicts(void **state)
{
	uint64_t counts[3] = {0};
	struct redact *r = load("e * email mask\n"
	                        "u attr:user.id value hash\n"
	                        "t attr:tok /[0-9]+/ drop\n");
	struct buf out;
	enum redact_verdict v;

	(void)state;
	buf_init(&out);
	v = redact_attr(r, "http.url", "/x?m=a@example.com", 18, &out, counts);
	assert_int_equal(v, REDACT_CHANGED);
	assert_string_equal(out.data, "/x?m=[REDACTED:e]");
	v = redact_attr(r, "http.url", "/plain", 6, &out, counts);
	assert_int_equal(v, REDACT_KEEP);
	assert_string_equal(out.data, "/x?m=[REDACTED:e]");
	v = redact_attr(r, "user.id", "42", 2, &out, counts);
	assert_int_equal(v, REDACT_CHANGED);
	assert_int_equal(out.len, 64);
	v = redact_attr(r, "tok", "abc1", 4, &out, counts);
	assert_int_equal(v, REDACT_DROP);
	/* val need not be NUL-terminated */
	v = redact_attr(r, "x", "a@example.comZZZ", 13, &out, counts);
	assert_int_equal(v, REDACT_CHANGED);
	assert_string_equal(out.data, "[REDACTED:e]");
	assert_int_equal(counts[0], 2);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[2], 1);
	buf_free(&out);
	redact_free(r);
}

static void
test_attr_nonstring(void **state)
{
	uint64_t counts[3] = {0};
	struct redact *r = load("m attr:n value mask\n"
	                        "e * /REDACTED/ mask\n"
	                        "d attr:gone value drop\n");
	struct buf out;
	enum redact_verdict v;

	(void)state;
	buf_init(&out);
	v = redact_attr_nonstring(
	    r, "n", "{\"intValue\":\"5\"}", 16, &out, counts);
	assert_int_equal(v, REDACT_CHANGED);
	/* the later "*" rule sees the mask string */
	assert_string_equal(out.data, "[[REDACTED:e]:m]");
	v = redact_attr_nonstring(r, "gone", "true", 4, &out, counts);
	assert_int_equal(v, REDACT_DROP);
	v = redact_attr_nonstring(r, "other", "true", 4, &out, counts);
	assert_int_equal(v, REDACT_KEEP);
	assert_int_equal(counts[0], 1);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[2], 1);
	buf_free(&out);
	redact_free(r);
}

static void
test_span_string_only_star_rules(void **state)
{
	struct redact *r = load("a attr:x /msg/ mask\nf field:x /msg/ mask\n");
	enum redact_verdict v;
	char *out;

	(void)state;
	out = redact_str(r, "a msg", &v);
	assert_int_equal(v, REDACT_KEEP);
	free(out);
	redact_free(r);
}

static void
test_otlp_json(void **state)
{
	static const char in[] =
	    "{\"resourceSpans\":[{"
	    "\"resource\":{\"attributes\":["
	    "{\"key\":\"host.owner\",\"value\":{\"stringValue\":\"a@example."
	    "com\"}}]},"
	    "\"scopeSpans\":[{\"scope\":{\"name\":\"s\",\"attributes\":["
	    "{\"key\":\"k\",\"value\":{\"stringValue\":\"b@example.com\"}}]},"
	    "\"spans\":[{\"name\":\"n\",\"attributes\":["
	    "{\"key\":\"gen_ai.prompt.0.content\",\"value\":{\"stringValue\":"
	    "\"hi\"}},"
	    "{\"key\":\"count\",\"value\":{\"intValue\":\"7\"}},"
	    "{\"key\":\"list\",\"value\":{\"arrayValue\":{\"values\":["
	    "{\"stringValue\":\"c@example.com\"},{\"stringValue\":\"ok\"},"
	    "{\"stringValue\":\"drop me\"}]}}},"
	    "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":["
	    "{\"key\":\"inner\",\"value\":{\"stringValue\":\"d@example.com\"}}]"
	    "}}}],"
	    "\"events\":[{\"name\":\"e\",\"attributes\":["
	    "{\"key\":\"x\",\"value\":{\"stringValue\":\"e@example.com\"}}]}],"
	    "\"links\":[{\"traceId\":\"00\",\"attributes\":["
	    "{\"key\":\"y\",\"value\":{\"stringValue\":\"f@example.com\"}}]}],"
	    "\"status\":{\"code\":2,\"message\":\"failed for g@example.com\"}"
	    "}]}]}]}";
	static const char want[] =
	    "{\"resourceSpans\":[{"
	    "\"resource\":{\"attributes\":["
	    "{\"key\":\"host.owner\",\"value\":{\"stringValue\":\"[REDACTED:e]"
	    "\"}}]},"
	    "\"scopeSpans\":[{\"scope\":{\"name\":\"s\",\"attributes\":["
	    "{\"key\":\"k\",\"value\":{\"stringValue\":\"[REDACTED:e]\"}}]},"
	    "\"spans\":[{\"name\":\"n\",\"attributes\":["
	    "{\"key\":\"count\",\"value\":{\"stringValue\":\"[REDACTED:c]\"}},"
	    "{\"key\":\"list\",\"value\":{\"arrayValue\":{\"values\":["
	    "{\"stringValue\":\"[REDACTED:e]\"},{\"stringValue\":\"ok\"}]}}},"
	    "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":["
	    "{\"key\":\"inner\",\"value\":{\"stringValue\":\"[REDACTED:e]\"}}]}"
	    "}}],"
	    "\"events\":[{\"name\":\"e\",\"attributes\":["
	    "{\"key\":\"x\",\"value\":{\"stringValue\":\"[REDACTED:e]\"}}]}],"
	    "\"links\":[{\"traceId\":\"00\",\"attributes\":["
	    "{\"key\":\"y\",\"value\":{\"stringValue\":\"[REDACTED:e]\"}}]}],"
	    "\"status\":{\"code\":2,\"message\":\"failed for [REDACTED:e]\"}"
	    "}]}]}]}";
	uint64_t counts[4] = {0};
	struct redact *r = load("e * email mask\n"
	                        "p attr:gen_ai.prompt.* value drop\n"
	                        "c attr:count value mask\n"
	                        "l attr:list /drop/ drop\n");
	cJSON *j = cJSON_Parse(in), *rs;
	char *out;
	int rc;

	(void)state;
	assert_non_null(j);
	rs = cJSON_GetObjectItem(j, "resourceSpans");
	rc = redact_otlp_json(r, rs, counts);
	out = cJSON_PrintUnformatted(j);
	CHECK(strcmp(out, want) == 0, "expected %s\ngot      %s", want, out);
	assert_int_equal(counts[0], 7);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[2], 1);
	assert_int_equal(counts[3], 1);
	assert_int_equal(rc, 10);
	free(out);
	/* again: the same text ("value" rules replace what they replaced) */
	assert_true(redact_otlp_json(r, rs, NULL) >= 0);
	out = cJSON_PrintUnformatted(j);
	CHECK(strcmp(out, want) == 0, "a second pass changed it: %s", out);
	free(out);
	cJSON_Delete(j);
	redact_free(r);
}

static void
test_otlp_json_no_key_and_repeated_key(void **state)
{
	static const char in[] =
	    "[{\"resource\":{\"attributes\":["
	    "{\"value\":{\"stringValue\":\"a@example.com\"}},"
	    "{\"key\":\"ok\",\"key\":\"secret\",\"value\":{\"stringValue\":"
	    "\"x\"}}"
	    "]}}]";
	struct redact *r = load("e * email mask\ns attr:secret value drop\n");
	cJSON *j = cJSON_Parse(in);
	char *out;

	(void)state;
	assert_non_null(j);
	assert_int_equal(redact_otlp_json(r, j, NULL), 2);
	out = cJSON_PrintUnformatted(j);
	assert_string_equal(out,
	    "[{\"resource\":{\"attributes\":["
	    "{\"value\":{\"stringValue\":\"[REDACTED:e]\"}}]}}]");
	free(out);
	cJSON_Delete(j);
	redact_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_email),
	    cmocka_unit_test(test_card),
	    cmocka_unit_test(test_bearer),
	    cmocka_unit_test(test_apikey),
	    cmocka_unit_test(test_filters_exact),
	    cmocka_unit_test(test_filters_never_hide_a_match),
	    cmocka_unit_test(test_parse_errors_name_file_and_line),
	    cmocka_unit_test(test_parse_reports_every_error),
	    cmocka_unit_test(test_parse_nul_and_long_lines),
	    cmocka_unit_test(test_parse_comments_and_blank_lines),
	    cmocka_unit_test(test_parse_regex_with_slashes_and_flags),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_empty_rules_change_nothing),
	    cmocka_unit_test(test_print),
	    cmocka_unit_test(test_print_round_trips),
	    cmocka_unit_test(test_file_order),
	    cmocka_unit_test(test_one_walk_keeps_file_order),
	    cmocka_unit_test(test_field_paths),
	    cmocka_unit_test(test_duplicate_members_all_redacted),
	    cmocka_unit_test(test_value_on_non_strings),
	    cmocka_unit_test(test_detectors_reach_strings_only),
	    cmocka_unit_test(test_drop),
	    cmocka_unit_test(test_regex_mask_and_hash),
	    cmocka_unit_test(test_unchanged_tree_is_identical),
	    cmocka_unit_test(test_counters),
	    cmocka_unit_test(test_record_must_be_a_container),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_match_limit_fails_closed),
	    cmocka_unit_test(test_growth_limit),
	    cmocka_unit_test(test_hash_rfc4231),
	    cmocka_unit_test(test_hash_stable_and_keyed),
	    cmocka_unit_test(test_required_refusals),
	    cmocka_unit_test(test_required_acceptances),
	    cmocka_unit_test(test_required_bad_entry),
	    cmocka_unit_test(test_attr_globs),
	    cmocka_unit_test(test_attr_verdicts),
	    cmocka_unit_test(test_attr_nonstring),
	    cmocka_unit_test(test_span_string_only_star_rules),
	    cmocka_unit_test(test_otlp_json),
	    cmocka_unit_test(test_otlp_json_no_key_and_repeated_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
