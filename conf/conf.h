/* conf.h: the daemon's configuration: keys, defaults, parsing from file,
 * environment and --set. */
#ifndef TS_CONF_H
#define TS_CONF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum conf_when_full { CONF_FULL_REJECT = 0, CONF_FULL_DROP_OLDEST = 1 };
enum conf_sync { CONF_SYNC_FULL = 0, CONF_SYNC_NORMAL = 1 };

/*
 * A rate: per_s a second, of events, or of bytes when bytes is set;
 * per_s 0 means no limit.
 */
struct conf_rate {
	uint64_t per_s;
	int bytes;
};

/* A list of user or group ids; names are resolved when the key is set. */
struct conf_ids {
	id_t *ids; /* n of them, NULL when n is 0 */
	size_t n;
};

/*
 * One whole configuration. Strings are heap copies owned by the struct
 * (never NULL; "" means empty). Durations are in milliseconds, sizes in
 * bytes. A reload parses a fresh struct and swaps it in whole, so a struct
 * is never changed while another thread reads it.
 */
struct conf {
	/* ingest */
	char *socket;
	mode_t socket_mode;
	/* additions: peers let in on the Unix socket; both empty: anyone */
	struct conf_ids allowed_uids;
	struct conf_ids allowed_gids;
	/* beside root and the daemon's user: who may manage dead letters */
	struct conf_ids admin_uids;
	char *listen_tcp;            /* "HOST:PORT" or "" */
	int listen_tcp_allow_remote; /* yes/no */
	uint64_t max_event_bytes;
	uint64_t max_body_bytes;
	uint64_t max_buffered_bytes; /* bodies held at once, all clients */
	/* additions: per-connection limits (see conf/tracespoold.conf) */
	uint64_t max_connections;
	uint64_t max_header_bytes;
	uint64_t header_timeout_ms;
	uint64_t body_timeout_ms;
	uint64_t idle_timeout_ms;
	char *default_project;
	/* spool */
	char *spool_dir;
	uint64_t spool_max_bytes;
	int when_full; /* enum conf_when_full */
	int sync;      /* enum conf_sync */
	uint64_t sync_interval_ms;
	uint64_t max_event_age_ms;
	/* forwarding */
	char *upstream_url;
	char *api_key_file;
	uint64_t batch_max_events;
	uint64_t batch_max_bytes;
	uint64_t flush_interval_ms;
	uint64_t retry_initial_ms;
	uint64_t retry_max_ms;
	uint64_t request_timeout_ms;
	/* additions: concurrent uploads and their pace */
	uint64_t upload_concurrency;        /* most requests in flight */
	struct conf_rate upload_rate_limit; /* per daemon; per_s 0: off */
	uint64_t recovery_spread_ms; /* the first retry's random extra wait */
	char *ca_file;
	int upstream_allow_insecure; /* yes/no: plain http to a host that is
	                                not loopback */
	int forward_client_key;      /* yes/no: a client's bearer key goes with
	                                its records */
	/* redaction */
	char *redact_rules;         /* rules file, "" for none */
	char *redact_hash_key_file; /* secret of the hash action */
	/* logging */
	int log_level; /* enum log_level */
};

/* A configuration holding the built-in defaults; NULL if out of memory. */
struct conf *conf_new(void);
void conf_free(struct conf *c);

/*
 * Set key to value (as written in a file: "1G", "200ms", "yes", "0660").
 * Returns 0, or -1 with err set to "<key>: <reason>" (unknown key, bad
 * value, out of range).
 */
int conf_set(struct conf *c, const char *key, const char *value, char *err,
    size_t errlen);

/*
 * Read a file of "key = value" lines ('#' starts a comment, blank lines are
 * skipped, values may be quoted with "..."). When the file does not exist:
 * required == 0 leaves c unchanged and returns 0, required == 1 fails.
 * Every bad line is reported through report() as "<path>:<line>: <key>:
 * <reason>", so all are shown at once; returns the number of errors (0 on
 * success), or -1 when the file could not be read.
 */
int conf_load_file(struct conf *c, const char *path, int required,
    void (*report)(const char *msg, void *arg), void *arg);

/*
 * Apply TRACESPOOL_<KEY> variables from envp (NULL-terminated, like
 * environ). TRACESPOOL_API_KEY is not a key and is skipped; any other
 * TRACESPOOL_ variable that names no key is an error. Reports and returns
 * like conf_load_file.
 */
int conf_load_env(struct conf *c, char *const *envp,
    void (*report)(const char *msg, void *arg), void *arg);

/*
 * Checks across keys (e.g. retry_initial <= retry_max, listen_tcp host
 * loopback unless listen_tcp_allow_remote). Reports and returns like
 * conf_load_file.
 */
int conf_check(const struct conf *c, void (*report)(const char *msg, void *arg),
    void *arg);

/*
 * Print every key as "key = value" in file syntax, sizes and durations in
 * their largest exact unit. No secret is ever printed: a key whose value
 * is one (conf_keyinfo.secret) is written as a comment without its value.
 * (The API key is not a key at all; api_key_file prints its path only.)
 */
void conf_print(const struct conf *c, FILE *fp);

/* Facts about a key, from conf.c's table of keys. */
struct conf_keyinfo {
	const char *name; /* static */
	/*
	 * 1: SIGHUP does not apply it; the running daemon keeps the value it
	 * started with until a restart. 0: a reload applies it at once.
	 */
	int restart;
	int secret; /* 1: its value is never printed nor quoted in errors */
};

/* The number of keys; conf_print writes one line for each. */
size_t conf_key_count(void);

/*
 * The i-th key's facts, in conf_print's order, into *out. 0, or -1 when i
 * is conf_key_count() or more (out unchanged). Any thread.
 */
int conf_key_info(size_t i, struct conf_keyinfo *out);

typedef void conf_diff_fn(const struct conf_keyinfo *key, void *arg);

/*
 * Compare two configurations key by key and call cb once for every key
 * whose value differs, in conf_print's order, with that key's facts (the
 * caller decides what to say; conf_diff logs nothing). Id lists compare
 * as lists, in their order. Neither conf is changed. Returns the number
 * of keys that differ.
 */
int conf_diff(const struct conf *old, const struct conf *new, conf_diff_fn *cb,
    void *arg);

/*
 * Load the bearer token: the first of api_key_file, the file
 * $CREDENTIALS_DIRECTORY/api_key, the environment variable
 * TRACESPOOL_API_KEY (getenv is read here). Surrounding white space is
 * trimmed. Returns 0 with *key a heap string (free it), 0 with *key NULL
 * when no source has one, or -1 with err naming the source that failed
 * (never the key's text).
 */
int conf_api_key_load(
    const struct conf *c, char **key, char *err, size_t errlen);

/*
 * Load the secret of redaction's hash action: the file
 * redact_hash_key_file, else $CREDENTIALS_DIRECTORY/redact_hash_key.
 * Returns 0 with *key a heap string (free it after wiping it), 0 with *key
 * NULL when neither has one, or -1 with err naming the source that failed.
 */
int conf_redact_key_load(
    const struct conf *c, char **key, char *err, size_t errlen);

/* Parsers used by conf_set and by the command-line tool. 0 or -1. */
int conf_parse_size(const char *s, uint64_t *bytes);
int conf_parse_duration(const char *s, uint64_t *ms);
int conf_parse_bool(const char *s, int *yes);

/* Split "HOST:PORT" or "[V6]:PORT". 0 or -1. host gets a copy (hostlen). */
int conf_parse_hostport(
    const char *s, char *host, size_t hostlen, unsigned *port);

/* 1 if host is a loopback name or address (localhost, 127/8, ::1). */
int conf_host_is_loopback(const char *host);

#endif
