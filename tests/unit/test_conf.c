/* test_conf.c: unit tests of conf/: keys, parsers, sources, print, API key. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/conf.h"
#include "tests/support/check.h"
#include "tests/support/unit.h"

#define KIB (UINT64_C(1024))
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define SEC (UINT64_C(1000))
#define MIN (SEC * 60)
#define HOUR (MIN * 60)
#define DAY (HOUR * 24)

/* The temporary directory of the running test (setup_dir, teardown_dir). */
static char tmpdir[64];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup_dir(void **state)
{
	(void)state;
	/* The runner's own credentials must not leak into the tests. */
	unsetenv("TRACESPOOL_API_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_conf.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		print_error("mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int
teardown_dir(void **state)
{
	(void)state;
	unsetenv("TRACESPOOL_API_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * A new empty tmpdir for the next case of a table. The test's registered
 * teardown removes the last one, even after a failure.
 */
static void
fresh_dir(void **state)
{
	CHECK(teardown_dir(state) == 0 && setup_dir(state) == 0,
	    "cannot renew the temporary directory");
}

/* Writes text to tmpdir/name; path gets the file's path. */
static void
write_file(const char *name, const char *text, char *path, size_t pathlen)
{
	FILE *fp;

	snprintf(path, pathlen, "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	if (fp == NULL)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	else
		CHECK(fputs(text, fp) >= 0 && fclose(fp) == 0,
		    "cannot write %s", path);
}

static struct conf *
new_conf(void)
{
	struct conf *c = conf_new();

	CHECK(c != NULL, "conf_new returned NULL");
	return c;
}

static void
set_ok(struct conf *c, const char *key, const char *value)
{
	char err[512] = "";

	CHECK(conf_set(c, key, value, err, sizeof(err)) == 0,
	    "conf_set(%s, \"%s\") failed: %s", key, value, err);
}

/* conf_print into a heap string. */
static char *
print_conf(const struct conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	CHECK(fp != NULL, "open_memstream failed");
	conf_print(c, fp);
	fclose(fp);
	return text;
}

/* The value conf_print writes for key, without the "key = " part. */
static void
printed_value(const struct conf *c, const char *key, char *out, size_t len)
{
	char *text = print_conf(c), *line, *nl;
	size_t klen = strlen(key);

	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		CHECK(
		    nl != NULL, "conf_print line without a newline: %s", line);
		if (strncmp(line, key, klen) == 0 &&
		    strncmp(line + klen, " = ", 3) == 0) {
			snprintf(out, len, "%.*s", (int)(nl - line - klen - 3),
			    line + klen + 3);
			free(text);
			return;
		}
	}
	fail_msg("conf_print has no line for %s:\n%s", key, text);
}

/* The first word of every line of text, each followed by a space. */
static void
first_words(const char *text, char *out, size_t len)
{
	const char *line, *nl;
	size_t used = 0;

	out[0] = '\0';
	for (line = text; *line != '\0'; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			nl = line + strlen(line) - 1;
		snprintf(out + used, len - used, "%.*s ",
		    (int)strcspn(line, " \n"), line);
		used = strlen(out);
	}
}

/*
 * conf_new: the contract's built-in defaults.
 */

static void
test_defaults(void **state)
{
	struct conf *c = new_conf();

	(void)state;
	CHECK(strcmp(c->socket, "/run/tracespool/tracespool.sock") == 0,
	    "socket default: %s", c->socket);
	CHECK(c->socket_mode == 0660, "socket_mode default: %o",
	    (unsigned)c->socket_mode);
	CHECK(c->allowed_uids.n == 0 && c->allowed_uids.ids == NULL,
	    "allowed_uids default: not empty");
	CHECK(c->allowed_gids.n == 0 && c->allowed_gids.ids == NULL,
	    "allowed_gids default: not empty");
	CHECK(c->admin_uids.n == 0 && c->admin_uids.ids == NULL,
	    "admin_uids default: not empty");
	CHECK(strcmp(c->listen_tcp, "") == 0, "listen_tcp default: %s",
	    c->listen_tcp);
	CHECK(c->listen_tcp_allow_remote == 0, "listen_tcp_allow_remote on");
	CHECK(c->max_connections == 1024, "max_connections default");
	CHECK(c->max_header_bytes == 16 * KIB, "max_header_bytes default");
	CHECK(c->header_timeout_ms == 10 * SEC, "header_timeout default");
	CHECK(c->body_timeout_ms == 30 * SEC, "body_timeout default");
	CHECK(c->idle_timeout_ms == 60 * SEC, "idle_timeout default");
	CHECK(strcmp(c->spool_dir, "/var/lib/tracespool") == 0,
	    "spool_dir default: %s", c->spool_dir);
	CHECK(c->spool_max_bytes == GIB, "spool_max_bytes default");
	CHECK(c->when_full == CONF_FULL_REJECT, "when_full default");
	CHECK(c->sync == CONF_SYNC_FULL, "sync default");
	CHECK(c->sync_interval_ms == 100, "sync_interval default");
	CHECK(c->max_event_bytes == MIB, "max_event_bytes default");
	CHECK(c->max_body_bytes == 16 * MIB, "max_body_bytes default");
	CHECK(c->max_buffered_bytes == 64 * MIB, "max_buffered_bytes default");
	CHECK(c->max_event_age_ms == 7 * DAY, "max_event_age default");
	CHECK(strcmp(c->upstream_url, "https://api.honeyhive.ai") == 0,
	    "upstream_url default: %s", c->upstream_url);
	CHECK(strcmp(c->api_key_file, "") == 0, "api_key_file default");
	CHECK(c->batch_max_events == 100, "batch_max_events default");
	CHECK(c->batch_max_bytes == 4 * MIB, "batch_max_bytes default");
	CHECK(c->flush_interval_ms == 200, "flush_interval default");
	CHECK(c->retry_initial_ms == SEC, "retry_initial default");
	CHECK(c->retry_max_ms == 5 * MIN, "retry_max default");
	CHECK(c->request_timeout_ms == 30 * SEC, "request_timeout default");
	CHECK(c->upload_concurrency == 8, "upload_concurrency default");
	CHECK(c->upload_rate_limit.per_s == 0,
	    "upload_rate_limit default: not off");
	CHECK(c->recovery_spread_ms == 5 * SEC, "recovery_spread default");
	CHECK(strcmp(c->ca_file, "") == 0, "ca_file default");
	CHECK(c->upstream_allow_insecure == 0,
	    "upstream_allow_insecure default: on");
	CHECK(strcmp(c->default_project, "") == 0, "default_project default");
	CHECK(c->log_level == LOG_LVL_INFO, "log_level default");
	conf_free(c);
}

/*
 * conf_set: every key with a good value and with bad ones.
 */

enum field_kind { F_STR, F_U64, F_INT, F_MODE, F_IDS, F_RATE };

struct good_case {
	const char *key;
	const char *value;
	enum field_kind kind;
	size_t off;
	uint64_t num;    /* F_U64, F_INT, F_MODE; F_RATE: per second */
	const char *str; /* F_STR; F_IDS, F_RATE: as conf_print writes them */
};

#define STR(f) F_STR, offsetof(struct conf, f), 0
#define U64(f) F_U64, offsetof(struct conf, f)
#define INT(f) F_INT, offsetof(struct conf, f)
#define MODE(f) F_MODE, offsetof(struct conf, f)
#define IDS(f) F_IDS, offsetof(struct conf, f), 0
#define RATE(f) F_RATE, offsetof(struct conf, f)

static const struct good_case good_cases[] = {
    {"socket", "/tmp/ts.sock", STR(socket), "/tmp/ts.sock"},
    {"socket", "dev/tracespool.sock", STR(socket), "dev/tracespool.sock"},
    {"socket_mode", "0600", MODE(socket_mode), 0600, NULL},
    {"socket_mode", "666", MODE(socket_mode), 0666, NULL},
    {"socket_mode", "0", MODE(socket_mode), 0, NULL},
    {"allowed_uids", "0, root ,65534", IDS(allowed_uids), "0,0,65534"},
    {"allowed_uids", "1000", IDS(allowed_uids), "1000"},
    {"allowed_uids", " ", IDS(allowed_uids), "\"\""},
    {"allowed_gids", "root,27", IDS(allowed_gids), "0,27"},
    {"allowed_gids", "4294967294", IDS(allowed_gids), "4294967294"},
    {"allowed_gids", "", IDS(allowed_gids), "\"\""},
    {"admin_uids", "0, root ,65534", IDS(admin_uids), "0,0,65534"},
    {"admin_uids", "", IDS(admin_uids), "\"\""},
    {"listen_tcp", "127.0.0.1:8080", STR(listen_tcp), "127.0.0.1:8080"},
    {"listen_tcp", "[::1]:9000", STR(listen_tcp), "[::1]:9000"},
    {"listen_tcp", "", STR(listen_tcp), ""},
    {"listen_tcp_allow_remote", "yes", INT(listen_tcp_allow_remote), 1, NULL},
    {"listen_tcp_allow_remote", "off", INT(listen_tcp_allow_remote), 0, NULL},
    {"max_connections", "10", U64(max_connections), 10, NULL},
    {"max_connections", "1", U64(max_connections), 1, NULL},
    {"max_header_bytes", "32K", U64(max_header_bytes), 32 * KIB, NULL},
    {"max_header_bytes", "1M", U64(max_header_bytes), MIB, NULL},
    {"header_timeout", "5s", U64(header_timeout_ms), 5 * SEC, NULL},
    {"body_timeout", "1m", U64(body_timeout_ms), MIN, NULL},
    {"idle_timeout", "1d", U64(idle_timeout_ms), DAY, NULL},
    {"max_event_bytes", "512K", U64(max_event_bytes), 512 * KIB, NULL},
    {"max_event_bytes", "1G", U64(max_event_bytes), GIB, NULL},
    {"max_body_bytes", "32M", U64(max_body_bytes), 32 * MIB, NULL},
    {"max_buffered_bytes", "256M", U64(max_buffered_bytes), 256 * MIB, NULL},
    {"default_project", "my project", STR(default_project), "my project"},
    {"spool_dir", "/srv/spool", STR(spool_dir), "/srv/spool"},
    {"spool_max_bytes", "2G", U64(spool_max_bytes), 2 * GIB, NULL},
    {"spool_max_bytes", "1M", U64(spool_max_bytes), MIB, NULL},
    {"when_full", "drop_oldest", INT(when_full), CONF_FULL_DROP_OLDEST, NULL},
    {"when_full", "reject", INT(when_full), CONF_FULL_REJECT, NULL},
    {"sync", "normal", INT(sync), CONF_SYNC_NORMAL, NULL},
    {"sync", "full", INT(sync), CONF_SYNC_FULL, NULL},
    {"sync_interval", "50ms", U64(sync_interval_ms), 50, NULL},
    {"max_event_age", "30d", U64(max_event_age_ms), 30 * DAY, NULL},
    {"upstream_url", "http://127.0.0.1:8089", STR(upstream_url),
        "http://127.0.0.1:8089"},
    {"upstream_url", "https://example.com/api/", STR(upstream_url),
        "https://example.com/api"},
    {"api_key_file", "/etc/tracespool/key", STR(api_key_file),
        "/etc/tracespool/key"},
    {"batch_max_events", "10000", U64(batch_max_events), 10000, NULL},
    {"batch_max_events", "1", U64(batch_max_events), 1, NULL},
    {"batch_max_bytes", "1M", U64(batch_max_bytes), MIB, NULL},
    {"flush_interval", "0", U64(flush_interval_ms), 0, NULL},
    {"flush_interval", "1s", U64(flush_interval_ms), SEC, NULL},
    {"retry_initial", "500ms", U64(retry_initial_ms), 500, NULL},
    {"retry_max", "1h", U64(retry_max_ms), HOUR, NULL},
    {"request_timeout", "10s", U64(request_timeout_ms), 10 * SEC, NULL},
    {"upload_concurrency", "1", U64(upload_concurrency), 1, NULL},
    {"upload_concurrency", "64", U64(upload_concurrency), 64, NULL},
    {"upload_rate_limit", "500/s", RATE(upload_rate_limit), 500, "500/s"},
    {"upload_rate_limit", "2M/s", RATE(upload_rate_limit), 2 * MIB, "2M/s"},
    {"upload_rate_limit", "500KB/s", RATE(upload_rate_limit), 500 * KIB,
        "500K/s"},
    {"upload_rate_limit", "1000B/s", RATE(upload_rate_limit), 1000, "1000B/s"},
    {"upload_rate_limit", "", RATE(upload_rate_limit), 0, "\"\""},
    {"recovery_spread", "0", U64(recovery_spread_ms), 0, NULL},
    {"recovery_spread", "30s", U64(recovery_spread_ms), 30 * SEC, NULL},
    {"ca_file", "/etc/ssl/ca.pem", STR(ca_file), "/etc/ssl/ca.pem"},
    {"upstream_allow_insecure", "yes", INT(upstream_allow_insecure), 1, NULL},
    {"upstream_allow_insecure", "no", INT(upstream_allow_insecure), 0, NULL},
    {"forward_client_key", "yes", INT(forward_client_key), 1, NULL},
    {"forward_client_key", "no", INT(forward_client_key), 0, NULL},
    {"redact_rules", "/etc/tracespool/redact.rules", STR(redact_rules),
        "/etc/tracespool/redact.rules"},
    {"redact_hash_key_file", "/etc/tracespool/hash.key",
        STR(redact_hash_key_file), "/etc/tracespool/hash.key"},
    {"log_level", "debug", INT(log_level), LOG_LVL_DEBUG, NULL},
    {"log_level", "error", INT(log_level), LOG_LVL_ERROR, NULL},
};

static void
test_set_good_values(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(good_cases); i++) {
		const struct good_case *t = &good_cases[i];
		struct conf *c = new_conf();
		const char *base = (const char *)c;
		uint64_t got = 0;

		set_ok(c, t->key, t->value);
		switch (t->kind) {
		case F_STR: {
			const char *s =
			    *(char *const *)(const void *)(base + t->off);

			CHECK(strcmp(s, t->str) == 0,
			    "%s = \"%s\": stored \"%s\", want \"%s\"", t->key,
			    t->value, s, t->str);
			break;
		}
		case F_U64:
			got = *(const uint64_t *)(const void *)(base + t->off);
			break;
		case F_INT:
			got = (uint64_t) *
			    (const int *)(const void *)(base + t->off);
			break;
		case F_MODE:
			got = *(const mode_t *)(const void *)(base + t->off);
			break;
		case F_RATE:
			got = ((const struct conf_rate *)(const void *)(base +
			           t->off))
			          ->per_s;
			break;
		case F_IDS:
			break;
		}
		/* Ids as numbers, a rate with its unit (events or bytes). */
		if (t->kind == F_IDS || t->kind == F_RATE) {
			char printed[256];

			printed_value(c, t->key, printed, sizeof(printed));
			CHECK(strcmp(printed, t->str) == 0,
			    "%s = \"%s\": printed %s, want %s", t->key,
			    t->value, printed, t->str);
		}
		if (t->kind != F_STR && t->kind != F_IDS)
			CHECK(got == t->num,
			    "%s = \"%s\": stored %llu, want %llu", t->key,
			    t->value, (unsigned long long)got,
			    (unsigned long long)t->num);
		conf_free(c);
	}
}

struct bad_case {
	const char *key;
	const char *value;
	const char *reason; /* a part of the expected message */
};

static const struct bad_case bad_cases[] = {
    {"socket", "", "must not be empty"},
    {"socket",
        "/tmp/"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
        "Unix socket path"},
    {"socket_mode", "0888", "octal"},
    {"socket_mode", "01000", "at most 0777"},
    {"socket_mode", "rw-rw----", "octal"},
    {"socket_mode", "", "octal"},
    {"allowed_uids", "no-such-user-tsp", "no such user"},
    {"allowed_uids", "1,,2", "an empty entry"},
    {"allowed_uids", "0,", "an empty entry"},
    {"allowed_uids", "4294967295", "not a user id"},
    {"allowed_uids", "99999999999999999999", "not a user id"},
    {"allowed_uids", "a\001b", "control character"},
    {"allowed_gids", "no-such-group-tsp", "no such group"},
    {"admin_uids", "no-such-user-tsp", "no such user"},
    {"admin_uids", "1,,2", "an empty entry"},
    {"admin_uids", "4294967295", "not a user id"},
    {"allowed_gids", "-1", "no such group"},
    {"listen_tcp", "localhost", "HOST:PORT"},
    {"listen_tcp", "localhost:0", "1 to 65535"},
    {"listen_tcp", "localhost:65536", "1 to 65535"},
    {"listen_tcp", "::1:80", "[IPV6]:PORT"},
    {"listen_tcp_allow_remote", "maybe", "not yes or no"},
    {"listen_tcp_allow_remote", "", "not yes or no"},
    {"max_connections", "0", "at least 1"},
    {"max_connections", "1000001", "at most 1000000"},
    {"max_connections", "1K", "not a whole number"},
    {"max_connections", "-1", "not a whole number"},
    {"max_header_bytes", "512", "at least 1K"},
    {"max_header_bytes", "2M", "at most 1M"},
    {"header_timeout", "0", "more than 0"},
    {"header_timeout", "10", "bare number"},
    {"header_timeout", "2d", "at most 1d"},
    {"body_timeout", "0s", "more than 0"},
    {"idle_timeout", "1w", "not a duration"},
    {"max_event_bytes", "0", "more than 0"},
    {"max_event_bytes", "2G", "at most 1G"},
    {"max_body_bytes", "-1M", "not a size"},
    {"max_buffered_bytes", "0", "more than 0"},
    {"max_buffered_bytes", "65G", "at most 64G"},
    {"default_project", "a\001b", "control character"},
    {"spool_dir", "", "must not be empty"},
    {"spool_max_bytes", "512K", "at least 1M"},
    {"spool_max_bytes", "1.5G", "not a size"},
    {"spool_max_bytes", "99999999999G", "too large"},
    {"when_full", "block", "not reject or drop_oldest"},
    {"sync", "async", "not full or normal"},
    {"sync_interval", "0", "more than 0"},
    {"sync_interval", "2h", "at most 1h"},
    {"max_event_age", "0ms", "more than 0"},
    {"upstream_url", "ftp://example.com", "http:// or https://"},
    {"upstream_url", "api.honeyhive.ai", "http:// or https://"},
    {"upstream_url", "https://", "no host"},
    {"upstream_url", "https://user:pw@example.com", "credentials"},
    {"upstream_url", "https://example.com/?a=1", "query"},
    {"upstream_url", "https://exa mple.com", "white space"},
    {"api_key_file", "a\nb", "control character"},
    {"batch_max_events", "0", "at least 1"},
    {"batch_max_events", "10001", "at most 10000"},
    {"batch_max_bytes", "0", "more than 0"},
    {"flush_interval", "2h", "at most 1h"},
    {"flush_interval", "5", "bare number"},
    {"retry_initial", "0", "more than 0"},
    {"retry_max", "2d", "at most 1d"},
    {"request_timeout", "0", "more than 0"},
    {"upload_concurrency", "0", "at least 1"},
    {"upload_concurrency", "65", "at most 64"},
    {"upload_rate_limit", "100", "not a rate"},
    {"upload_rate_limit", "100/m", "not a rate"},
    {"upload_rate_limit", "0/s", "more than 0"},
    {"upload_rate_limit", "2X/s", "not a rate"},
    {"upload_rate_limit", "/s", "not a rate"},
    {"upload_rate_limit", "-5/s", "not a rate"},
    {"upload_rate_limit", "99999999999999999999/s", "too large"},
    {"upload_rate_limit", "2000G/s", "too large"},
    {"recovery_spread", "2h", "at most 1h"},
    {"recovery_spread", "5", "bare number"},
    {"ca_file", "x\ty", "control character"},
    {"forward_client_key", "maybe", "yes or no"},
    {"upstream_allow_insecure", "maybe", "not yes or no"},
    {"redact_rules", "a\nb", "control character"},
    {"redact_hash_key_file", "a\tb", "control character"},
    {"log_level", "verbose", "not debug, info, warn or error"},
    {"log_level", "DEBUG", "not debug, info, warn or error"},
    {"nosuchkey", "1", "unknown key"},
    {"Socket", "/tmp/x", "unknown key"},
};

static void
test_set_bad_values(void **state)
{
	size_t i, klen;

	(void)state;
	for (i = 0; i < NELEM(bad_cases); i++) {
		const struct bad_case *t = &bad_cases[i];
		struct conf *c = new_conf();
		char err[512] = "";

		klen = strlen(t->key);
		CHECK(conf_set(c, t->key, t->value, err, sizeof(err)) == -1,
		    "%s = \"%s\" was accepted", t->key, t->value);
		CHECK(strncmp(err, t->key, klen) == 0 &&
		        strncmp(err + klen, ": ", 2) == 0,
		    "%s = \"%s\": message does not start with \"%s: \": %s",
		    t->key, t->value, t->key, err);
		CHECK(strstr(err, t->reason) != NULL,
		    "%s = \"%s\": message lacks \"%s\": %s", t->key, t->value,
		    t->reason, err);
		conf_free(c);
	}
}

static void
test_set_bad_value_leaves_conf_unchanged(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(bad_cases); i++) {
		struct conf *c = new_conf();
		char err[512], *before, *after;

		set_ok(c, "default_project", "p");
		before = print_conf(c);
		(void)conf_set(
		    c, bad_cases[i].key, bad_cases[i].value, err, sizeof(err));
		after = print_conf(c);
		CHECK(strcmp(before, after) == 0,
		    "refused %s = \"%s\" still changed the conf",
		    bad_cases[i].key, bad_cases[i].value);
		free(before);
		free(after);
		conf_free(c);
	}
}

/* Both tables must cover every key conf_print knows. */
static void
test_tables_cover_every_key(void **state)
{
	struct conf *c = new_conf();
	char *text = print_conf(c), words[2048], *key, *sp;
	size_t i;
	int good, bad, nkeys = 0;

	(void)state;
	first_words(text, words, sizeof(words));
	for (key = words; (sp = strchr(key, ' ')) != NULL; key = sp + 1) {
		*sp = '\0';
		good = bad = 0;
		for (i = 0; i < NELEM(good_cases); i++)
			good |= strcmp(good_cases[i].key, key) == 0;
		for (i = 0; i < NELEM(bad_cases); i++)
			bad |= strcmp(bad_cases[i].key, key) == 0;
		CHECK(good, "key %s has no case in good_cases", key);
		CHECK(bad, "key %s has no case in bad_cases", key);
		nkeys++;
	}
	CHECK((size_t)nkeys == conf_key_count(),
	    "conf_print wrote %d keys, conf_key_count says %zu", nkeys,
	    conf_key_count());
	free(text);
	conf_free(c);
}

/*
 * The facts of each key: names unique, in conf_print's order, and the
 * reload fact of the keys the daemon sets up once.
 */
static void
test_key_facts(void **state)
{
	static const struct {
		const char *key;
		int restart;
	} want[] = {
	    {"socket", 1},
	    {"listen_tcp", 1},
	    {"spool_dir", 1},
	    {"sync", 1},
	    {"max_body_bytes", 1},
	    {"allowed_uids", 0},
	    {"max_event_bytes", 0},
	    {"upstream_url", 0},
	    {"redact_rules", 0},
	    {"log_level", 0},
	};
	struct conf *c = new_conf();
	char *text = print_conf(c), *line = text;
	struct conf_keyinfo k, other;
	size_t i, j, n = conf_key_count();

	(void)state;
	for (i = 0; i < n; i++) {
		CHECK(
		    conf_key_info(i, &k) == 0, "conf_key_info(%zu) failed", i);
		CHECK(strncmp(line, k.name, strlen(k.name)) == 0 &&
		        line[strlen(k.name)] == ' ',
		    "key %zu is %s, but conf_print's line %zu is %.40s", i,
		    k.name, i, line);
		line = strchr(line, '\n') + 1;
		for (j = 0; j < i; j++) {
			CHECK(conf_key_info(j, &other) == 0 &&
			        strcmp(other.name, k.name) != 0,
			    "key %s appears twice", k.name);
		}
	}
	CHECK(*line == '\0', "conf_print wrote more lines than keys: %s", line);
	k.name = "unchanged";
	CHECK(conf_key_info(n, &k) == -1 && strcmp(k.name, "unchanged") == 0,
	    "conf_key_info past the last key did not fail cleanly");
	for (i = 0; i < NELEM(want); i++) {
		for (j = 0; j < n; j++) {
			CHECK(
			    conf_key_info(j, &k) == 0, "conf_key_info failed");
			if (strcmp(k.name, want[i].key) == 0)
				break;
		}
		CHECK(j < n, "no key %s", want[i].key);
		CHECK(k.restart == want[i].restart,
		    "%s: restart is %d, want %d", want[i].key, k.restart,
		    want[i].restart);
	}
	free(text);
	conf_free(c);
}

/* A secret key's value is never printed nor quoted back in an error. */
static void
test_secret_never_shown(void **state)
{
	static const char value[] = "Zq9secretvalue";
	struct conf_keyinfo k;
	char err[512], *text;
	size_t i;

	(void)state;
	for (i = 0; conf_key_info(i, &k) == 0; i++) {
		struct conf *c = new_conf();

		if (!k.secret) {
			conf_free(c);
			continue;
		}
		err[0] = '\0';
		(void)conf_set(c, k.name, value, err, sizeof(err));
		CHECK(strstr(err, value) == NULL,
		    "an error quotes the secret %s: %s", k.name, err);
		text = print_conf(c);
		CHECK(strstr(text, value) == NULL,
		    "conf_print shows the secret %s", k.name);
		free(text);
		conf_free(c);
	}
}

/* What conf_diff reported. */
struct diffs {
	int n;
	char keys[1024];
	int restart[64];
};

static void
on_diff(const struct conf_keyinfo *k, void *arg)
{
	struct diffs *d = arg;
	size_t len = strlen(d->keys);

	if (d->n < 64)
		d->restart[d->n] = k->restart;
	d->n++;
	snprintf(d->keys + len, sizeof(d->keys) - len, "%s%s",
	    len > 0 ? " " : "", k->name);
}

/* The printed line of key in text ("key = value"), copied into line. */
static void
print_line(const char *text, const char *key, char *line, size_t len)
{
	const char *p = text;
	size_t kl = strlen(key);

	line[0] = '\0';
	for (; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ') {
			snprintf(line, len, "%.*s", (int)strcspn(p, "\n"), p);
			return;
		}
	}
}

static void
test_diff_same(void **state)
{
	struct conf *a = new_conf(), *b = new_conf();
	struct diffs d = {0};

	(void)state;
	set_ok(a, "allowed_uids", "1,2");
	set_ok(b, "allowed_uids", "1, 2");
	CHECK(conf_diff(a, b, on_diff, &d) == 0 && d.n == 0,
	    "equal configurations differ in: %s", d.keys);
	conf_free(a);
	conf_free(b);
}

/*
 * Every key's change is seen, alone: each good value of every key
 * against the defaults (good_cases covers every key), reported exactly
 * when conf_print's line for the key changed.
 */
static void
test_diff_every_key(void **state)
{
	struct conf *def = new_conf();
	char *deftext = print_conf(def), *text, was[512], now[512];
	struct conf_keyinfo k;
	size_t i, j;

	(void)state;
	for (i = 0; i < NELEM(good_cases); i++) {
		const struct good_case *t = &good_cases[i];
		struct conf *c = new_conf();
		struct diffs d = {0};
		int n;

		set_ok(c, t->key, t->value);
		text = print_conf(c);
		print_line(deftext, t->key, was, sizeof(was));
		print_line(text, t->key, now, sizeof(now));
		n = conf_diff(def, c, on_diff, &d);
		if (strcmp(was, now) == 0) {
			CHECK(n == 0 && d.n == 0,
			    "%s = %s is the default, yet reported: %s", t->key,
			    t->value, d.keys);
		} else {
			CHECK(n == 1 && d.n == 1 && strcmp(d.keys, t->key) == 0,
			    "%s = %s: conf_diff returned %d and reported "
			    "\"%s\", want %s alone",
			    t->key, t->value, n, d.keys, t->key);
			for (j = 0; conf_key_info(j, &k) == 0; j++) {
				if (strcmp(k.name, t->key) == 0)
					break;
			}
			CHECK(d.restart[0] == k.restart,
			    "%s: reported restart %d, its key says %d", t->key,
			    d.restart[0], k.restart);
		}
		free(text);
		conf_free(c);
	}
	free(deftext);
	conf_free(def);
}

/* Several keys at once, in conf_print's order; ids compare as lists. */
static void
test_diff_several(void **state)
{
	struct conf *a = new_conf(), *b = new_conf();
	struct diffs d = {0};

	(void)state;
	set_ok(a, "allowed_gids", "1,2");
	set_ok(b, "allowed_gids", "2,1");
	set_ok(b, "log_level", "debug");
	set_ok(b, "socket", "/tmp/other.sock");
	CHECK(conf_diff(a, b, on_diff, &d) == 3, "want 3 keys, got %d: %s", d.n,
	    d.keys);
	CHECK(strcmp(d.keys, "socket allowed_gids log_level") == 0,
	    "reported \"%s\"", d.keys);
	CHECK(d.restart[0] == 1 && d.restart[1] == 0 && d.restart[2] == 0,
	    "restart facts %d %d %d, want 1 0 0", d.restart[0], d.restart[1],
	    d.restart[2]);
	conf_free(a);
	conf_free(b);
}

static void
test_set_api_key_refused(void **state)
{
	struct conf *c = new_conf();
	char err[512] = "";

	(void)state;
	CHECK(conf_set(c, "api_key", "Zq9-secret", err, sizeof(err)) == -1,
	    "api_key was accepted as a key");
	CHECK(strstr(err, "api_key: not a configuration key") == err,
	    "message does not say api_key is not a key: %s", err);
	CHECK(strstr(err, "api_key_file") != NULL &&
	        strstr(err, "TRACESPOOL_API_KEY") != NULL,
	    "message does not point to api_key_file and TRACESPOOL_API_KEY: %s",
	    err);
	CHECK(strstr(err, "Zq9") == NULL, "message shows the key: %s", err);
	conf_free(c);
}

/*
 * The parsers.
 */

struct num_case {
	const char *s;
	int ok;
	uint64_t want;
};

static const struct num_case size_cases[] = {
    {"0", 1, 0},
    {"1", 1, 1},
    {"007", 1, 7},
    {"1K", 1, KIB},
    {"1k", 1, KIB},
    {"16M", 1, 16 * MIB},
    {"16m", 1, 16 * MIB},
    {"16MB", 1, 16 * MIB},
    {"16mb", 1, 16 * MIB},
    {"16MiB", 1, 16 * MIB},
    {"3G", 1, 3 * GIB},
    {"0K", 1, 0},
    {"512B", 1, 512},
    {"18446744073709551615", 1, UINT64_MAX},
    {"17179869183G", 1, UINT64_C(17179869183) * GIB},
    {"", 0, 0},
    {"K", 0, 0},
    {"B", 0, 0},
    {"-1", 0, 0},
    {"+1", 0, 0},
    {" 1", 0, 0},
    {"1 ", 0, 0},
    {"1 K", 0, 0},
    {"1.5M", 0, 0},
    {"99999999999G", 0, 0},
    {"17179869184G", 0, 0},
    {"18446744073709551616", 0, 0},
    {"1T", 0, 0},
    {"1KK", 0, 0},
    {"1Ki", 0, 0},
    {"1iB", 0, 0},
    {"1BB", 0, 0},
    {"0x10", 0, 0},
    {"1e3", 0, 0},
};

static void
test_parse_size(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(size_cases); i++) {
		const struct num_case *t = &size_cases[i];
		uint64_t v = 12345;
		int rc = conf_parse_size(t->s, &v);

		if (t->ok) {
			CHECK(rc == 0, "size \"%s\" refused", t->s);
			CHECK(v == t->want, "size \"%s\" = %llu, want %llu",
			    t->s, (unsigned long long)v,
			    (unsigned long long)t->want);
		} else {
			CHECK(rc == -1, "size \"%s\" accepted as %llu", t->s,
			    (unsigned long long)v);
		}
	}
}

static const struct num_case duration_cases[] = {
    {"0", 1, 0},
    {"00", 1, 0},
    {"0ms", 1, 0},
    {"0s", 1, 0},
    {"0d", 1, 0},
    {"1ms", 1, 1},
    {"100ms", 1, 100},
    {"1s", 1, SEC},
    {"90s", 1, 90 * SEC},
    {"5m", 1, 5 * MIN},
    {"2h", 1, 2 * HOUR},
    {"7d", 1, 7 * DAY},
    {"18446744073709551615ms", 1, UINT64_MAX},
    {"", 0, 0},
    {"5", 0, 0},
    {"1000", 0, 0},
    {"1.5s", 0, 0},
    {"-1s", 0, 0},
    {"+1s", 0, 0},
    {"1S", 0, 0},
    {"1M", 0, 0},
    {"1w", 0, 0},
    {"s", 0, 0},
    {"ms", 0, 0},
    {"1 s", 0, 0},
    {"1sec", 0, 0},
    {"1h30m", 0, 0},
    {"213503982335d", 0, 0},
    {"99999999999999999999s", 0, 0},
};

static void
test_parse_duration(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(duration_cases); i++) {
		const struct num_case *t = &duration_cases[i];
		uint64_t v = 12345;
		int rc = conf_parse_duration(t->s, &v);

		if (t->ok) {
			CHECK(rc == 0, "duration \"%s\" refused", t->s);
			CHECK(v == t->want,
			    "duration \"%s\" = %llu ms, want %llu", t->s,
			    (unsigned long long)v, (unsigned long long)t->want);
		} else {
			CHECK(rc == -1, "duration \"%s\" accepted as %llu ms",
			    t->s, (unsigned long long)v);
		}
	}
}

/* The message for a bare number says why, since "30" looks reasonable. */
static void
test_duration_bare_number_message(void **state)
{
	struct conf *c = new_conf();
	char err[512] = "";

	(void)state;
	CHECK(conf_set(c, "request_timeout", "30", err, sizeof(err)) == -1,
	    "request_timeout = 30 accepted");
	CHECK(strstr(err, "request_timeout: ") == err &&
	        strstr(err, "needs a unit") != NULL &&
	        strstr(err, "only for 0") != NULL,
	    "message does not explain the unit rule: %s", err);
	conf_free(c);
}

static void
test_parse_bool(void **state)
{
	static const struct {
		const char *s;
		int rc, yes;
	} cases[] = {
	    {"yes", 0, 1},
	    {"no", 0, 0},
	    {"true", 0, 1},
	    {"false", 0, 0},
	    {"on", 0, 1},
	    {"off", 0, 0},
	    {"1", 0, 1},
	    {"0", 0, 0},
	    {"YES", 0, 1},
	    {"Off", 0, 0},
	    {"", -1, 0},
	    {"y", -1, 0},
	    {"2", -1, 0},
	    {"enable", -1, 0},
	    {"yes ", -1, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		int yes = -1, rc = conf_parse_bool(cases[i].s, &yes);

		CHECK(rc == cases[i].rc, "bool \"%s\": rc %d, want %d",
		    cases[i].s, rc, cases[i].rc);
		if (rc == 0)
			CHECK(yes == cases[i].yes, "bool \"%s\" = %d",
			    cases[i].s, yes);
	}
}

static void
test_parse_hostport(void **state)
{
	static const struct {
		const char *s;
		int rc;
		const char *host;
		unsigned port;
	} cases[] = {
	    {"127.0.0.1:8080", 0, "127.0.0.1", 8080},
	    {"[::1]:9", 0, "::1", 9},
	    {"localhost:1", 0, "localhost", 1},
	    {"example.com:65535", 0, "example.com", 65535},
	    {"my-host.lan:8080", 0, "my-host.lan", 8080},
	    {"host1:80", 0, "host1", 80},
	    {"0.0.0.0:80", 0, "0.0.0.0", 80},
	    {"[fe80::1]:443", 0, "fe80::1", 443},
	    {"", -1, NULL, 0},
	    {"host", -1, NULL, 0},
	    {"host:", -1, NULL, 0},
	    {":80", -1, NULL, 0},
	    {"host:0", -1, NULL, 0},
	    {"host:65536", -1, NULL, 0},
	    {"host:99999999999999999999", -1, NULL, 0},
	    {"host:+80", -1, NULL, 0},
	    {"host:-1", -1, NULL, 0},
	    {"host: 80", -1, NULL, 0},
	    {"host:8a", -1, NULL, 0},
	    {"::1:80", -1, NULL, 0},
	    {"[::1]", -1, NULL, 0},
	    {"[::1]80", -1, NULL, 0},
	    {"[zz]:80", -1, NULL, 0},
	    {"[]:80", -1, NULL, 0},
	    {"[127.0.0.1]:80", -1, NULL, 0},
	    {"bad_host:80", -1, NULL, 0},
	    {"a..b:80", -1, NULL, 0},
	    {"host.:80", -1, NULL, 0},
	    {"256.1.1.1:80", -1, NULL, 0},
	    {"1.2.3:80", -1, NULL, 0},
	    {"123:80", -1, NULL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		char host[256] = "";
		unsigned port = 0;
		int rc =
		    conf_parse_hostport(cases[i].s, host, sizeof(host), &port);

		CHECK(rc == cases[i].rc, "hostport \"%s\": rc %d, want %d",
		    cases[i].s, rc, cases[i].rc);
		if (rc == 0)
			CHECK(strcmp(host, cases[i].host) == 0 &&
			        port == cases[i].port,
			    "hostport \"%s\" = %s port %u", cases[i].s, host,
			    port);
	}
}

static void
test_parse_hostport_small_buffer(void **state)
{
	char host[5];
	unsigned port;

	(void)state;
	CHECK(conf_parse_hostport("localhost:80", host, sizeof(host), &port) ==
	        -1,
	    "a host longer than the buffer was accepted");
}

static void
test_host_is_loopback(void **state)
{
	static const struct {
		const char *host;
		int want;
	} cases[] = {
	    {"localhost", 1},
	    {"LocalHost", 1},
	    {"127.0.0.1", 1},
	    {"127.1.2.3", 1},
	    {"::1", 1},
	    {"[::1]", 1},
	    {"::ffff:127.0.0.1", 1},
	    {"0.0.0.0", 0},
	    {"10.0.0.1", 0},
	    {"128.0.0.1", 0},
	    {"::", 0},
	    {"::ffff:10.0.0.1", 0},
	    {"example.com", 0},
	    {"localhost.example.com", 0},
	    {"", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++)
		CHECK(conf_host_is_loopback(cases[i].host) == cases[i].want,
		    "loopback(\"%s\") should be %d", cases[i].host,
		    cases[i].want);
}

/*
 * conf_load_file.
 */

static void
test_file_sets_keys(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256];

	(void)state;
	write_file("a.conf",
	    "# a comment\n"
	    "\n"
	    "spool_max_bytes = 2G\n"
	    "  log_level=debug  \n"
	    "\tsync = normal # trailing comment\n",
	    path, sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 0,
	    "errors in a good file:\n%s", r.text);
	CHECK(r.n == 0, "reports for a good file:\n%s", r.text);
	CHECK(c->spool_max_bytes == 2 * GIB, "spool_max_bytes not set");
	CHECK(c->log_level == LOG_LVL_DEBUG, "log_level not set");
	CHECK(c->sync == CONF_SYNC_NORMAL, "sync not set");
	conf_free(c);
}

/* Value syntax: quotes, comments, white space, CRLF, empty values. */
static void
test_file_value_syntax(void **state)
{
	static const struct {
		const char *line;
		const char *want;
	} cases[] = {
	    {"default_project = web\n", "web"},
	    {"  default_project=web  \n", "web"},
	    {"default_project = web # comment\n", "web"},
	    {"default_project = web#comment\n", "web"},
	    {"default_project = two words\n", "two words"},
	    {"default_project = a\"b\n", "a\"b"},
	    {"default_project = a=b\n", "a=b"},
	    {"default_project = \"a # b\"\n", "a # b"},
	    {"default_project = \"say \\\"hi\\\" \\\\ o/\"\n",
	        "say \"hi\" \\ o/"},
	    {"default_project = \"  padded  \"  # c\n", "  padded  "},
	    {"default_project = web\r\n", "web"},
	    {"default_project = \"web\"\r\n", "web"},
	    {"default_project =\n", ""},
	    {"default_project = \"\"\n", ""},
	    {"default_project = last line without newline",
	        "last line without "
	        "newline"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		struct test_reports r = {0};
		char path[256];

		set_ok(c, "default_project", "before");
		write_file("v.conf", cases[i].line, path, sizeof(path));
		CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 0,
		    "line <%s> refused: %s", cases[i].line, r.text);
		CHECK(strcmp(c->default_project, cases[i].want) == 0,
		    "line <%s> gave \"%s\", want \"%s\"", cases[i].line,
		    c->default_project, cases[i].want);
		conf_free(c);
	}
}

static void
test_file_bad_syntax(void **state)
{
	static const struct {
		const char *line;
		const char *reason;
	} cases[] = {
	    {"default_project = \"open\n", "no closing"},
	    {"default_project = \"a\" b\n", "after the closing"},
	    {"default_project = \"a\\qb\"\n", "'\\' may only"},
	    {"= x\n", "no key"},
	    {"just words\n", "no '='"},
	    {"foo # = bar\n", "no '='"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		struct test_reports r = {0};
		char path[256], want[300];
		int rc;

		write_file("s.conf", cases[i].line, path, sizeof(path));
		rc = conf_load_file(c, path, 1, test_reports_add, &r);
		CHECK(rc == 1 && r.n == 1, "line <%s>: rc %d, %d reports",
		    cases[i].line, rc, r.n);
		snprintf(want, sizeof(want), "%s:1: ", path);
		CHECK(strstr(r.text, want) == r.text,
		    "line <%s>: message lacks \"%s\": %s", cases[i].line, want,
		    r.text);
		CHECK(strstr(r.text, cases[i].reason) != NULL,
		    "line <%s>: message lacks \"%s\": %s", cases[i].line,
		    cases[i].reason, r.text);
		conf_free(c);
	}
}

static void
test_file_error_names_path_line_key(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256], want[512];

	(void)state;
	write_file("e.conf", "# first\n\nspool_max_bytes = lots\n", path,
	    sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 1,
	    "bad value not counted: %s", r.text);
	snprintf(want, sizeof(want), "%s:3: spool_max_bytes: ", path);
	CHECK(strstr(r.text, want) == r.text, "message is not \"%s...\": %s",
	    want, r.text);
	conf_free(c);
}

static void
test_file_line_without_equals(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256], want[512];

	(void)state;
	write_file("n.conf", "log_level = warn\nlog_level debug\n", path,
	    sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 1,
	    "a line without '=' was not an error: %s", r.text);
	snprintf(want, sizeof(want), "%s:2: log_level: no '='", path);
	CHECK(strstr(r.text, want) == r.text, "message is not \"%s...\": %s",
	    want, r.text);
	conf_free(c);
}

static void
test_file_unknown_key(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256], want[512];

	(void)state;
	write_file("u.conf", "spool_size = 1G\n", path, sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 1,
	    "an unknown key was not an error: %s", r.text);
	snprintf(want, sizeof(want), "%s:1: spool_size: unknown key", path);
	CHECK(strstr(r.text, want) == r.text, "message is not \"%s\": %s", want,
	    r.text);
	conf_free(c);
}

static void
test_file_counts_every_error(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256];
	int rc;

	(void)state;
	write_file("m.conf",
	    "nosuch = 1\n"
	    "spool_max_bytes = 2G\n"
	    "sync = sometimes\n"
	    "no equals here\n"
	    "log_level = warn\n"
	    "batch_max_events = 0\n",
	    path, sizeof(path));
	rc = conf_load_file(c, path, 1, test_reports_add, &r);
	CHECK(rc == 4, "returned %d, want 4 errors:\n%s", rc, r.text);
	CHECK(r.n == 4, "%d reports, want 4:\n%s", r.n, r.text);
	CHECK(strstr(r.text, ":1: nosuch") && strstr(r.text, ":3: sync") &&
	        strstr(r.text, ":4: no") &&
	        strstr(r.text, ":6: batch_max_events"),
	    "not every bad line was reported:\n%s", r.text);
	CHECK(c->spool_max_bytes == 2 * GIB && c->log_level == LOG_LVL_WARN,
	    "good lines among bad ones were not applied");
	conf_free(c);
}

static void
test_file_api_key_refused(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256], want[512];

	(void)state;
	write_file("k.conf", "api_key = Zq9-secret\n", path, sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 1,
	    "api_key line was not an error: %s", r.text);
	snprintf(
	    want, sizeof(want), "%s:1: api_key: not a configuration key", path);
	CHECK(strstr(r.text, want) == r.text, "message is not \"%s...\": %s",
	    want, r.text);
	CHECK(strstr(r.text, "api_key_file") != NULL &&
	        strstr(r.text, "TRACESPOOL_API_KEY") != NULL,
	    "message does not point elsewhere: %s", r.text);
	CHECK(
	    strstr(r.text, "Zq9") == NULL, "message shows the key: %s", r.text);
	conf_free(c);
}

static void
test_file_duplicate_last_wins(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256];

	(void)state;
	write_file("d.conf", "log_level = warn\nlog_level = error\n", path,
	    sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 0,
	    "duplicate key was an error: %s", r.text);
	CHECK(c->log_level == LOG_LVL_ERROR, "the first of two lines won");
	conf_free(c);
}

static void
test_file_missing_not_required(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256], *before, *after;

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	before = print_conf(c);
	CHECK(conf_load_file(c, path, 0, test_reports_add, &r) == 0,
	    "a missing optional file failed: %s", r.text);
	CHECK(r.n == 0, "a missing optional file was reported: %s", r.text);
	after = print_conf(c);
	CHECK(strcmp(before, after) == 0, "a missing file changed the conf");
	free(before);
	free(after);
	conf_free(c);
}

static void
test_file_missing_required(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.conf", tmpdir);
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == -1,
	    "a missing required file did not fail");
	CHECK(r.n == 1 && strstr(r.text, path) == r.text,
	    "the failure does not name the file: %s", r.text);
	conf_free(c);
}

static void
test_file_directory_fails(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};

	(void)state;
	CHECK(conf_load_file(c, tmpdir, 0, test_reports_add, &r) == -1,
	    "reading a directory as a file did not fail");
	CHECK(r.n == 1 && strstr(r.text, tmpdir) == r.text,
	    "the failure does not name the path: %s", r.text);
	conf_free(c);
}

/*
 * conf_load_env.
 */

static void
test_env_sets_keys(void **state)
{
	char *env[] = {"PATH=/usr/bin", "TRACESPOOL_SPOOL_MAX_BYTES=2G",
	    "TRACESPOOL_LISTEN_TCP_ALLOW_REMOTE=yes", NULL};
	struct conf *c = new_conf();
	struct test_reports r = {0};

	(void)state;
	CHECK(conf_load_env(c, env, test_reports_add, &r) == 0, "errors: %s",
	    r.text);
	CHECK(c->spool_max_bytes == 2 * GIB,
	    "TRACESPOOL_SPOOL_MAX_BYTES "
	    "not applied");
	CHECK(c->listen_tcp_allow_remote == 1,
	    "TRACESPOOL_LISTEN_TCP_ALLOW_REMOTE not applied");
	conf_free(c);
}

static void
test_env_api_key_skipped(void **state)
{
	char *env[] = {"TRACESPOOL_API_KEY=Zq9-secret", NULL};
	struct conf *c = new_conf();
	struct test_reports r = {0};

	(void)state;
	CHECK(conf_load_env(c, env, test_reports_add, &r) == 0 && r.n == 0,
	    "TRACESPOOL_API_KEY was treated as a key: %s", r.text);
	conf_free(c);
}

static void
test_env_unknown_variable(void **state)
{
	static const char *const names[] = {"TRACESPOOL_NOPE",
	    "TRACESPOOL_log_level", "TRACESPOOL_", "TRACESPOOL_API_KEYS"};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(names); i++) {
		char var[128];
		char *env[] = {var, NULL};
		struct conf *c = new_conf();
		struct test_reports r = {0};
		char want[160];

		snprintf(var, sizeof(var), "%s=debug", names[i]);
		CHECK(conf_load_env(c, env, test_reports_add, &r) == 1,
		    "%s was not an error", names[i]);
		snprintf(want, sizeof(want), "%s: unknown variable", names[i]);
		CHECK(strstr(r.text, want) == r.text,
		    "message does not name %s: %s", names[i], r.text);
		conf_free(c);
	}
}

static void
test_env_ignores_other_variables(void **state)
{
	char *env[] = {"HOME=/root", "TRACESPOOLX=1", "XTRACESPOOL_SOCKET=/x",
	    "TRACESPOOL", NULL};
	struct conf *c = new_conf();
	struct test_reports r = {0};

	(void)state;
	CHECK(conf_load_env(c, env, test_reports_add, &r) == 0 && r.n == 0,
	    "a foreign variable was an error: %s", r.text);
	conf_free(c);
}

static void
test_env_bad_value_names_variable_and_key(void **state)
{
	char *env[] = {
	    "TRACESPOOL_SYNC=sometimes", "TRACESPOOL_SOCKET_MODE=9", NULL};
	struct conf *c = new_conf();
	struct test_reports r = {0};

	(void)state;
	CHECK(conf_load_env(c, env, test_reports_add, &r) == 2,
	    "two bad variables were not two errors: %s", r.text);
	CHECK(strstr(r.text, "TRACESPOOL_SYNC: sync: ") != NULL &&
	        strstr(r.text, "TRACESPOOL_SOCKET_MODE: socket_mode: ") != NULL,
	    "messages do not name the variable and key: %s", r.text);
	conf_free(c);
}

/* file < environment < conf_set (--set) < nothing else. */
static void
test_precedence(void **state)
{
	char *env[] = {"TRACESPOOL_LOG_LEVEL=error",
	    "TRACESPOOL_BATCH_MAX_EVENTS=6", NULL};
	struct conf *c = new_conf();
	struct test_reports r = {0};
	char path[256];

	(void)state;
	write_file("p.conf",
	    "socket_mode = 0600\nlog_level = warn\nbatch_max_events = 5\n",
	    path, sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 0, "file: %s",
	    r.text);
	CHECK(conf_load_env(c, env, test_reports_add, &r) == 0, "env: %s",
	    r.text);
	set_ok(c, "batch_max_events", "7");
	CHECK(c->max_connections == 1024, "default lost: max_connections");
	CHECK(c->socket_mode == 0600, "file lost: socket_mode %o",
	    (unsigned)c->socket_mode);
	CHECK(c->log_level == LOG_LVL_ERROR, "env did not beat the file");
	CHECK(c->batch_max_events == 7, "--set did not beat env: %llu",
	    (unsigned long long)c->batch_max_events);
	conf_free(c);
}

/*
 * conf_check.
 */

static void
test_check(void **state)
{
	static const struct {
		const char *sets[3][2];
		int errors;
		const char *reason;
	} cases[] = {
	    {{{NULL, NULL}}, 0, NULL},
	    {{{"retry_initial", "10m"}}, 1, "retry_initial: "},
	    {{{"retry_initial", "5m"}}, 0, NULL},
	    {{{"max_event_bytes", "32M"}}, 1, "max_event_bytes: "},
	    {{{"max_event_bytes", "16M"}}, 0, NULL},
	    {{{"listen_tcp", "0.0.0.0:8080"}}, 1, "listen_tcp_allow_remote"},
	    {{{"listen_tcp", "192.0.2.1:8080"}}, 1, "listen_tcp: "},
	    {{{"listen_tcp", "0.0.0.0:8080"},
	         {"listen_tcp_allow_remote", "yes"}},
	        0, NULL},
	    {{{"listen_tcp", "127.0.0.1:8080"}}, 0, NULL},
	    {{{"listen_tcp", "[::1]:8080"}}, 0, NULL},
	    {{{"listen_tcp", "localhost:8080"}}, 0, NULL},
	    {{{"retry_initial", "10m"}, {"max_body_bytes", "512K"}}, 2, NULL},
	    {{{"max_buffered_bytes", "8M"}}, 1, "max_buffered_bytes: "},
	    {{{"max_body_bytes", "100M"}}, 1, "max_buffered_bytes: "},
	    {{{"max_body_bytes", "100M"}, {"max_buffered_bytes", "100M"}}, 0,
	        NULL},
	    {{{"upstream_url", "http://192.0.2.1:8080"}}, 1,
	        "upstream_allow_insecure = yes"},
	    {{{"upstream_url", "http://api.example.com/base"}}, 1,
	        "upstream_url: plain http"},
	    {{{"upstream_url", "http://localhost.example.com"}}, 1,
	        "upstream_url: "},
	    {{{"upstream_url", "http://127.0.0.1.example.com:80"}}, 1,
	        "upstream_url: "},
	    {{{"upstream_url", "HTTP://[2001:db8::1]:80"}}, 1,
	        "upstream_url: "},
	    {{{"upstream_url", "http://api.example.com"},
	         {"upstream_allow_insecure", "yes"}},
	        0, NULL},
	    {{{"upstream_url", "https://192.0.2.1:8443"}}, 0, NULL},
	    {{{"upstream_url", "http://127.0.0.1:8089/base"}}, 0, NULL},
	    {{{"upstream_url", "http://127.1.2.3"}}, 0, NULL},
	    {{{"upstream_url", "http://localhost:9"}}, 0, NULL},
	    {{{"upstream_url", "http://LocalHost"}}, 0, NULL},
	    {{{"upstream_url", "http://[::1]:8089"}}, 0, NULL},
	    {{{"upstream_url", "http://[::1]"}}, 0, NULL},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		struct test_reports r = {0};
		int rc;

		for (j = 0; j < 3 && cases[i].sets[j][0] != NULL; j++)
			set_ok(c, cases[i].sets[j][0], cases[i].sets[j][1]);
		rc = conf_check(c, test_reports_add, &r);
		CHECK(rc == cases[i].errors && r.n == rc,
		    "case %zu (%s): %d errors, %d reports, want %d: %s", i,
		    cases[i].sets[0][0] ? cases[i].sets[0][0] : "defaults", rc,
		    r.n, cases[i].errors, r.text);
		if (cases[i].reason != NULL)
			CHECK(strstr(r.text, cases[i].reason) != NULL,
			    "case %zu: message lacks \"%s\": %s", i,
			    cases[i].reason, r.text);
		conf_free(c);
	}
}

/*
 * conf_print.
 */

static void
test_print_defaults(void **state)
{
	static const char want[] = "socket = /run/tracespool/tracespool.sock\n"
	                           "socket_mode = 0660\n"
	                           "allowed_uids = \"\"\n"
	                           "allowed_gids = \"\"\n"
	                           "admin_uids = \"\"\n"
	                           "listen_tcp = \"\"\n"
	                           "listen_tcp_allow_remote = no\n"
	                           "max_connections = 1024\n"
	                           "max_header_bytes = 16K\n"
	                           "header_timeout = 10s\n"
	                           "body_timeout = 30s\n"
	                           "idle_timeout = 1m\n"
	                           "max_event_bytes = 1M\n"
	                           "max_body_bytes = 16M\n"
	                           "max_buffered_bytes = 64M\n"
	                           "default_project = \"\"\n"
	                           "spool_dir = /var/lib/tracespool\n"
	                           "spool_max_bytes = 1G\n"
	                           "when_full = reject\n"
	                           "sync = full\n"
	                           "sync_interval = 100ms\n"
	                           "max_event_age = 7d\n"
	                           "upstream_url = https://api.honeyhive.ai\n"
	                           "api_key_file = \"\"\n"
	                           "batch_max_events = 100\n"
	                           "batch_max_bytes = 4M\n"
	                           "flush_interval = 200ms\n"
	                           "retry_initial = 1s\n"
	                           "retry_max = 5m\n"
	                           "request_timeout = 30s\n"
	                           "upload_concurrency = 8\n"
	                           "upload_rate_limit = \"\"\n"
	                           "recovery_spread = 5s\n"
	                           "ca_file = \"\"\n"
	                           "upstream_allow_insecure = no\n"
	                           "forward_client_key = no\n"
	                           "redact_rules = \"\"\n"
	                           "redact_hash_key_file = \"\"\n"
	                           "log_level = info\n";
	struct conf *c = new_conf();
	char *text = print_conf(c);

	(void)state;
	CHECK(strcmp(text, want) == 0, "defaults printed as:\n%s", text);
	free(text);
	conf_free(c);
}

static void
test_print_largest_exact_unit(void **state)
{
	static const struct {
		const char *key, *value, *printed;
	} cases[] = {
	    {"spool_max_bytes", "2048M", "2G"},
	    {"spool_max_bytes", "1536M", "1536M"},
	    {"spool_max_bytes", "1048577", "1048577"},
	    {"batch_max_bytes", "1048576", "1M"},
	    {"max_header_bytes", "1025", "1025"},
	    {"max_header_bytes", "16KiB", "16K"},
	    {"retry_initial", "1500ms", "1500ms"},
	    {"retry_initial", "120s", "2m"},
	    {"retry_initial", "90s", "90s"},
	    {"max_event_age", "24h", "1d"},
	    {"max_event_age", "36h", "36h"},
	    {"flush_interval", "0ms", "0"},
	    {"socket_mode", "600", "0600"},
	    {"listen_tcp_allow_remote", "on", "yes"},
	    {"when_full", "drop_oldest", "drop_oldest"},
	    {"log_level", "warn", "warn"},
	    {"default_project", "a # b", "\"a # b\""},
	    {"default_project", "q\"\\", "\"q\\\"\\\\\""},
	    {"default_project", "two words", "\"two words\""},
	};
	size_t i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		char got[256];

		set_ok(c, cases[i].key, cases[i].value);
		printed_value(c, cases[i].key, got, sizeof(got));
		CHECK(strcmp(got, cases[i].printed) == 0,
		    "%s = %s printed as %s, want %s", cases[i].key,
		    cases[i].value, got, cases[i].printed);
		conf_free(c);
	}
}

static void
assert_same_conf(const struct conf *a, const struct conf *b)
{
#define SAME_STR(f)                                                            \
	CHECK(strcmp(a->f, b->f) == 0, #f " differs: \"%s\" then \"%s\"",      \
	    a->f, b->f)
#define SAME_NUM(f)                                                            \
	CHECK((uint64_t)a->f == (uint64_t)b->f, #f " differs: %llu then %llu", \
	    (unsigned long long)a->f, (unsigned long long)b->f)
#define SAME_IDS(f)                                                            \
	CHECK(a->f.n == b->f.n &&                                              \
	        (a->f.n == 0 ||                                                \
	            memcmp(a->f.ids, b->f.ids, a->f.n * sizeof(id_t)) == 0),   \
	    #f " differs")
	SAME_STR(socket);
	SAME_NUM(socket_mode);
	SAME_IDS(allowed_uids);
	SAME_IDS(allowed_gids);
	SAME_IDS(admin_uids);
	SAME_STR(listen_tcp);
	SAME_NUM(listen_tcp_allow_remote);
	SAME_NUM(max_event_bytes);
	SAME_NUM(max_body_bytes);
	SAME_NUM(max_buffered_bytes);
	SAME_NUM(max_connections);
	SAME_NUM(max_header_bytes);
	SAME_NUM(header_timeout_ms);
	SAME_NUM(body_timeout_ms);
	SAME_NUM(idle_timeout_ms);
	SAME_STR(default_project);
	SAME_STR(spool_dir);
	SAME_NUM(spool_max_bytes);
	SAME_NUM(when_full);
	SAME_NUM(sync);
	SAME_NUM(sync_interval_ms);
	SAME_NUM(max_event_age_ms);
	SAME_STR(upstream_url);
	SAME_STR(api_key_file);
	SAME_NUM(batch_max_events);
	SAME_NUM(batch_max_bytes);
	SAME_NUM(flush_interval_ms);
	SAME_NUM(retry_initial_ms);
	SAME_NUM(retry_max_ms);
	SAME_NUM(request_timeout_ms);
	SAME_NUM(upload_concurrency);
	SAME_NUM(upload_rate_limit.per_s);
	SAME_NUM(upload_rate_limit.bytes);
	SAME_NUM(recovery_spread_ms);
	SAME_STR(ca_file);
	SAME_NUM(upstream_allow_insecure);
	SAME_NUM(log_level);
#undef SAME_STR
#undef SAME_NUM
#undef SAME_IDS
}

/* Every key away from its default, strings that need quoting included. */
static void
set_all_non_default(struct conf *c)
{
	static const char *const sets[][2] = {
	    {"socket", "/tmp/my dir/ts.sock"},
	    {"socket_mode", "0600"},
	    {"allowed_uids", "0,1000"},
	    {"allowed_gids", "root, 27"},
	    {"admin_uids", "root, 65534"},
	    {"listen_tcp", "[::1]:8080"},
	    {"listen_tcp_allow_remote", "yes"},
	    {"max_connections", "77"},
	    {"max_header_bytes", "1025"},
	    {"header_timeout", "1500ms"},
	    {"body_timeout", "2m"},
	    {"idle_timeout", "3h"},
	    {"max_event_bytes", "100000"},
	    {"max_body_bytes", "1G"},
	    {"max_buffered_bytes", "3G"},
	    {"default_project", "  a \"quoted\" # \\ name "},
	    {"spool_dir", "/srv/#spool"},
	    {"spool_max_bytes", "5000000"},
	    {"when_full", "drop_oldest"},
	    {"sync", "normal"},
	    {"sync_interval", "1s"},
	    {"max_event_age", "36h"},
	    {"upstream_url", "http://127.0.0.1:8089/base"},
	    {"api_key_file", "/etc/key file"},
	    {"batch_max_events", "9"},
	    {"batch_max_bytes", "123K"},
	    {"flush_interval", "0"},
	    {"retry_initial", "250ms"},
	    {"retry_max", "1d"},
	    {"request_timeout", "45s"},
	    {"upload_concurrency", "3"},
	    {"upload_rate_limit", "1536K/s"},
	    {"recovery_spread", "250ms"},
	    {"ca_file", "ca.pem"},
	    {"upstream_allow_insecure", "yes"},
	    {"forward_client_key", "yes"},
	    {"redact_rules", "rules file"},
	    {"redact_hash_key_file", "hash.key"},
	    {"log_level", "error"},
	};
	size_t i;

	for (i = 0; i < NELEM(sets); i++)
		set_ok(c, sets[i][0], sets[i][1]);
}

static void
test_print_round_trips(void **state)
{
	struct conf *a = new_conf(), *b = new_conf();
	struct test_reports r = {0};
	char path[256], *text, *again;

	(void)state;
	set_all_non_default(a);
	text = print_conf(a);
	write_file("printed.conf", text, path, sizeof(path));
	CHECK(conf_load_file(b, path, 1, test_reports_add, &r) == 0,
	    "printed conf does not load:\n%s\n%s", r.text, text);
	assert_same_conf(a, b);
	again = print_conf(b);
	CHECK(strcmp(text, again) == 0, "second print differs:\n%s\n%s", text,
	    again);
	free(text);
	free(again);
	conf_free(a);
	conf_free(b);
}

static void
test_print_shows_no_key(void **state)
{
	struct conf *c = new_conf();
	char path[256], creds[256], *text;

	(void)state;
	write_file("key", "Zq9-from-file\n", path, sizeof(path));
	set_ok(c, "api_key_file", path);
	snprintf(creds, sizeof(creds), "%s/creds", tmpdir);
	CHECK(mkdir(creds, 0700) == 0, "mkdir %s", creds);
	write_file("creds/api_key", "Zq9-from-creds", path, sizeof(path));
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	setenv("TRACESPOOL_API_KEY", "Zq9-from-env", 1);
	text = print_conf(c);
	CHECK(strstr(text, "Zq9") == NULL, "conf_print shows a key:\n%s", text);
	CHECK(strstr(text, "api_key_file = ") != NULL &&
	        strstr(text, "/key\n") != NULL,
	    "conf_print does not show api_key_file's path:\n%s", text);
	free(text);
	conf_free(c);
}

/*
 * The shipped example equals the built-in defaults, line for line: its
 * "#key = value" lines, uncommented, change nothing and name every key in
 * conf_print's order.
 */
static void
test_example_conf_is_defaults(void **state)
{
	struct conf *def = new_conf(), *c = new_conf();
	struct test_reports r = {0};
	char path[256], order[2048] = "", want[2048], *text;
	char buf[512], *uncommented = NULL;
	size_t ulen = 0;
	FILE *in, *out;

	(void)state;
	in = fopen("conf/tracespoold.conf", "r");
	if (in == NULL) {
		print_message("conf/tracespoold.conf not found; run from the "
		              "checkout's root\n");
		conf_free(def);
		conf_free(c);
		skip();
	}
	CHECK(conf_load_file(
	          c, "conf/tracespoold.conf", 1, test_reports_add, &r) == 0,
	    "the example does not load: %s", r.text);
	out = open_memstream(&uncommented, &ulen);
	while (fgets(buf, sizeof(buf), in) != NULL) {
		size_t k = strspn(buf + 1, "abcdefghijklmnopqrstuvwxyz_");

		if (buf[0] != '#' || k == 0 ||
		    strncmp(buf + 1 + k, " =", 2) != 0)
			continue;
		fputs(buf + 1, out);
		snprintf(order + strlen(order), sizeof(order) - strlen(order),
		    "%.*s ", (int)k, buf + 1);
	}
	fclose(in);
	fclose(out);
	write_file("example.conf", uncommented, path, sizeof(path));
	CHECK(conf_load_file(c, path, 1, test_reports_add, &r) == 0,
	    "the example's settings do not load: %s", r.text);
	assert_same_conf(def, c);
	text = print_conf(def);
	first_words(text, want, sizeof(want));
	CHECK(strcmp(order, want) == 0,
	    "the example's keys are not conf_print's:\n%s\n%s", order, want);
	free(text);
	free(uncommented);
	conf_free(def);
	conf_free(c);
}

static void
test_dev_conf_loads(void **state)
{
	struct conf *c = new_conf();
	struct test_reports r = {0};
	int rc;

	(void)state;
	rc = conf_load_file(c, "conf/dev.conf", 1, test_reports_add, &r);
	if (rc == -1 && strstr(r.text, "No such file") != NULL) {
		print_message("conf/dev.conf not found; run from the "
		              "checkout's root\n");
		conf_free(c);
		skip();
	}
	CHECK(rc == 0, "conf/dev.conf does not load: %s", r.text);
	CHECK(conf_check(c, test_reports_add, &r) == 0,
	    "conf/dev.conf fails checks: %s", r.text);
	CHECK(strcmp(c->socket, "dev/tracespool.sock") == 0 &&
	        strcmp(c->spool_dir, "dev/spool") == 0 &&
	        strcmp(c->upstream_url, "http://127.0.0.1:8089") == 0 &&
	        c->log_level == LOG_LVL_DEBUG,
	    "conf/dev.conf does not hold the development settings");
	conf_free(c);
}

/*
 * conf_api_key_load.
 */

/* Sets up the three sources; NULL leaves one out. */
static void
key_sources(struct conf *c, const char *file, const char *cred, const char *env)
{
	char path[256], dir[256];

	if (file != NULL) {
		write_file("api_key_file", file, path, sizeof(path));
		set_ok(c, "api_key_file", path);
	}
	if (cred != NULL) {
		snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
		CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
		write_file("creds/api_key", cred, path, sizeof(path));
		setenv("CREDENTIALS_DIRECTORY", dir, 1);
	}
	if (env != NULL)
		setenv("TRACESPOOL_API_KEY", env, 1);
}

static void
test_key_precedence(void **state)
{
	static const struct {
		const char *file, *cred, *env, *want;
	} cases[] = {
	    {"k-file", "k-cred", "k-env", "k-file"},
	    {NULL, "k-cred", "k-env", "k-cred"},
	    {NULL, NULL, "k-env", "k-env"},
	    {"k-file", NULL, "k-env", "k-file"},
	    {"k-file", "k-cred", NULL, "k-file"},
	    {NULL, NULL, NULL, NULL},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		char err[512] = "", *key = (char *)1;

		fresh_dir(state);
		key_sources(c, cases[i].file, cases[i].cred, cases[i].env);
		CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == 0,
		    "case %zu failed: %s", i, err);
		if (cases[i].want == NULL)
			CHECK(key == NULL, "case %zu: a key with no source", i);
		else
			CHECK(key != NULL && strcmp(key, cases[i].want) == 0,
			    "case %zu: got %s, want %s", i,
			    key ? key : "(null)", cases[i].want);
		free(key);
		conf_free(c);
	}
}

/* A credentials directory without api_key is not an error. */
static void
test_key_credentials_without_key(void **state)
{
	struct conf *c = new_conf();
	char dir[256], err[512] = "", *key = NULL;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/creds", tmpdir);
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	setenv("TRACESPOOL_API_KEY", "k-env", 1);
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == 0, "failed: %s",
	    err);
	CHECK(key != NULL && strcmp(key, "k-env") == 0,
	    "did not fall through to the environment");
	free(key);
	conf_free(c);
}

/* An installed but empty credential means no key yet, not an error. */
static void
test_key_empty_credential(void **state)
{
	struct conf *c = new_conf();
	char dir[256], path[300], err[512] = "", *key = NULL;
	FILE *fp;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/creds-empty", tmpdir);
	CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
	snprintf(path, sizeof(path), "%s/api_key", dir);
	fp = fopen(path, "w");
	CHECK(fp != NULL, "create %s", path);
	fputs(" \n", fp);
	fclose(fp);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	unsetenv("TRACESPOOL_API_KEY");
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == 0,
	    "an empty credential failed: %s", err);
	CHECK(key == NULL, "an empty credential gave a key");
	setenv("TRACESPOOL_API_KEY", "k-env", 1);
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == 0, "failed: %s",
	    err);
	CHECK(key != NULL && strcmp(key, "k-env") == 0,
	    "an empty credential did not fall through to the environment");
	free(key);
	unsetenv("TRACESPOOL_API_KEY");
	unsetenv("CREDENTIALS_DIRECTORY");
	conf_free(c);
}

static void
test_key_trimmed(void **state)
{
	static const struct {
		const char *file, *cred, *env;
	} cases[] = {
	    {"  \n\tk-123 \r\n\n", NULL, NULL},
	    {NULL, "\nk-123\n", NULL},
	    {NULL, NULL, " k-123\n"},
	    {"k-123", NULL, NULL},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		char err[512] = "", *key = NULL;

		fresh_dir(state);
		key_sources(c, cases[i].file, cases[i].cred, cases[i].env);
		CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == 0,
		    "case %zu failed: %s", i, err);
		CHECK(key != NULL && strcmp(key, "k-123") == 0,
		    "case %zu: got \"%s\"", i, key ? key : "(null)");
		free(key);
		conf_free(c);
	}
}

static void
test_key_empty_file(void **state)
{
	struct conf *c = new_conf();
	char err[512] = "", want[512], *key = NULL;

	(void)state;
	key_sources(c, " \n\t\n", NULL, "k-env");
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == -1,
	    "an empty key file was accepted");
	CHECK(key == NULL, "a key came back with an error");
	snprintf(want, sizeof(want), "api_key_file %s: empty", c->api_key_file);
	CHECK(strcmp(err, want) == 0, "message is \"%s\", want \"%s\"", err,
	    want);
	conf_free(c);
}

/* api_key_file names the source: when it fails, nothing else is used. */
static void
test_key_missing_file(void **state)
{
	struct conf *c = new_conf();
	char err[512] = "", path[256], *key = NULL;

	(void)state;
	key_sources(c, NULL, NULL, "k-env");
	snprintf(path, sizeof(path), "%s/absent", tmpdir);
	set_ok(c, "api_key_file", path);
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == -1,
	    "a missing api_key_file fell back to another source");
	CHECK(strstr(err, "api_key_file ") == err && strstr(err, path) != NULL,
	    "message does not name api_key_file and its path: %s", err);
	conf_free(c);
}

static void
test_key_file_size_limit(void **state)
{
	static const struct {
		size_t len;
		int rc;
	} cases[] = {{64 * 1024, 0}, {64 * 1024 + 1, -1}, {1024 * 1024, -1}};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		char err[512] = "", *text, *key = NULL;
		int rc;

		fresh_dir(state);
		text = malloc(cases[i].len + 1);
		CHECK(text != NULL, "malloc");
		memset(text, 'k', cases[i].len);
		text[cases[i].len] = '\0';
		key_sources(c, text, NULL, NULL);
		rc = conf_api_key_load(c, &key, err, sizeof(err));
		CHECK(rc == cases[i].rc, "a %zu-byte key file: rc %d (%s)",
		    cases[i].len, rc, err);
		if (rc == 0)
			CHECK(strlen(key) == cases[i].len,
			    "a %zu-byte key came back as %zu bytes",
			    cases[i].len, strlen(key));
		else
			CHECK(strstr(err, "larger than") != NULL &&
			        strstr(err, "kkk") == NULL,
			    "message: %s", err);
		free(key);
		free(text);
		conf_free(c);
	}
}

/* Errors name the source, never the key's text. */
static void
test_key_errors(void **state)
{
	static const struct {
		const char *file, *cred, *env, *reason;
	} cases[] = {
	    {"Zq9 secret\n", NULL, NULL, "api_key_file "},
	    {"Zq9\001secret", NULL, NULL, "visible ASCII"},
	    {NULL, "Zq9 secret", NULL, "credential "},
	    {NULL, NULL, "", "TRACESPOOL_API_KEY: empty"},
	    {NULL, NULL, " \t ", "TRACESPOOL_API_KEY: empty"},
	    {NULL, NULL, "Zq9 secret", "TRACESPOOL_API_KEY: "},
	    {NULL, NULL, "Zq9\nsecret", "TRACESPOOL_API_KEY: "},
	};
	size_t i;

	for (i = 0; i < NELEM(cases); i++) {
		struct conf *c = new_conf();
		char err[512] = "", *key = NULL;

		fresh_dir(state);
		key_sources(c, cases[i].file, cases[i].cred, cases[i].env);
		CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == -1,
		    "case %zu (%s): a bad key was accepted", i,
		    cases[i].reason);
		CHECK(
		    key == NULL, "case %zu: a key came back with an error", i);
		CHECK(strstr(err, cases[i].reason) != NULL,
		    "case %zu: message lacks \"%s\": %s", i, cases[i].reason,
		    err);
		CHECK(
		    strstr(err, "Zq9") == NULL && strstr(err, "secret") == NULL,
		    "case %zu: message shows the key: %s", i, err);
		conf_free(c);
	}
}

static void
test_key_not_a_regular_file(void **state)
{
	struct conf *c = new_conf();
	char err[512] = "", *key = NULL;

	(void)state;
	set_ok(c, "api_key_file", tmpdir);
	CHECK(conf_api_key_load(c, &key, err, sizeof(err)) == -1,
	    "a directory was read as a key file");
	CHECK(strstr(err, "not a regular file") != NULL, "message: %s", err);
	conf_free(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_defaults),
	    T(test_set_good_values),
	    T(test_set_bad_values),
	    T(test_set_bad_value_leaves_conf_unchanged),
	    T(test_tables_cover_every_key),
	    T(test_key_facts),
	    T(test_secret_never_shown),
	    T(test_diff_same),
	    T(test_diff_every_key),
	    T(test_diff_several),
	    T(test_set_api_key_refused),
	    T(test_parse_size),
	    T(test_parse_duration),
	    T(test_duration_bare_number_message),
	    T(test_parse_bool),
	    T(test_parse_hostport),
	    T(test_parse_hostport_small_buffer),
	    T(test_host_is_loopback),
	    T(test_file_sets_keys),
	    T(test_file_value_syntax),
	    T(test_file_bad_syntax),
	    T(test_file_error_names_path_line_key),
	    T(test_file_line_without_equals),
	    T(test_file_unknown_key),
	    T(test_file_counts_every_error),
	    T(test_file_api_key_refused),
	    T(test_file_duplicate_last_wins),
	    T(test_file_missing_not_required),
	    T(test_file_missing_required),
	    T(test_file_directory_fails),
	    T(test_env_sets_keys),
	    T(test_env_api_key_skipped),
	    T(test_env_unknown_variable),
	    T(test_env_ignores_other_variables),
	    T(test_env_bad_value_names_variable_and_key),
	    T(test_precedence),
	    T(test_check),
	    T(test_print_defaults),
	    T(test_print_largest_exact_unit),
	    T(test_print_round_trips),
	    T(test_print_shows_no_key),
	    T(test_example_conf_is_defaults),
	    T(test_dev_conf_loads),
	    T(test_key_precedence),
	    T(test_key_trimmed),
	    T(test_key_credentials_without_key),
	    T(test_key_empty_credential),
	    T(test_key_empty_file),
	    T(test_key_missing_file),
	    T(test_key_file_size_limit),
	    T(test_key_errors),
	    T(test_key_not_a_regular_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
