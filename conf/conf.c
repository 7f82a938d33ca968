/* conf.c: configuration keys, read from a file, the environment and --set. */
#include "conf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/defaults.h"
#include "common/log.h"

#define KIB (UINT64_C(1024))
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)

#define MS_SEC (UINT64_C(1000))
#define MS_MIN (MS_SEC * 60)
#define MS_HOUR (MS_MIN * 60)
#define MS_DAY (MS_HOUR * 24)

/* A key file larger than this is a mistake (a wrong path), not a token. */
#define API_KEY_MAX (64 * 1024)

#define WHY_SIZE                                                               \
	"not a size (a whole number of bytes, optionally followed by K, M or " \
	"G)"
#define WHY_DURATION                                                           \
	"not a duration (a whole number followed by ms, s, m, h or d)"
#define WHY_RATE                                                               \
	"not a rate (N/s for events a second, or a size a second such as "     \
	"2M/s or 500KB/s; empty for none)"

/*
 * Requests in flight at most: the forwarder's UPSTREAM_MAX_INFLIGHT
 * (forwarder/upstream.h, a higher layer than this one).
 */
#define UPLOAD_CONCURRENCY_MAX 64

/* How much of a bad value an error message quotes back. */
#define ECHO_MAX 64

#define ENV_PREFIX "TRACESPOOL_"
#define ENV_API_KEY "TRACESPOOL_API_KEY"

enum conf_type {
	T_STRING,    /* any text without control characters */
	T_MODE,      /* octal permission bits */
	T_HOSTPORT,  /* "" or HOST:PORT */
	T_BOOL,      /* yes/no */
	T_COUNT,     /* plain number */
	T_SIZE,      /* bytes, K/M/G suffixes */
	T_DURATION,  /* milliseconds, ms/s/m/h/d suffixes */
	T_CHOICE,    /* one word of a list, stored as its index */
	T_LOG_LEVEL, /* log_level_parse */
	T_UIDS,      /* users: ids or names, comma-separated */
	T_GIDS,      /* groups: ids or names, comma-separated */
	T_URL,       /* http:// or https:// base URL */
	T_RATE,      /* "" or N/s (events) or SIZE/s (bytes) */
};

/* Flags of a key. */
#define F_NONEMPTY 0x1 /* T_STRING: "" is refused */
#define F_SOCKPATH 0x2 /* T_STRING: must fit a Unix socket address */
/*
 * SIGHUP does not apply it: the running daemon keeps the value it started
 * with (listeners, the spool's environment, httpd's limits are set up
 * once). A reload that changes it says so.
 */
#define F_RESTART 0x4
/* The value is a secret: conf_print and error messages never show it. */
#define F_SECRET 0x8

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t off;      /* of the field in struct conf */
	const char *def; /* the default, in file syntax */
	uint64_t min;    /* numbers only */
	uint64_t max;
	int flags;                  /* F_* */
	const char *const *choices; /* T_CHOICE, NULL-terminated */
};

/* Indexed by enum conf_when_full and enum conf_sync. */
static const char *const when_full_names[] = {"reject", "drop_oldest", NULL};
static const char *const sync_names[] = {"full", "normal", NULL};

#define OFF(field) offsetof(struct conf, field)

/*
 * Every key, in the order conf_print writes them: grouped like struct conf
 * and conf/tracespoold.conf. The defaults are parsed by the same code as
 * any value, so a default can never be a value the parser would refuse.
 */
static const struct conf_key conf_keys[] = {
    {"socket", T_STRING, OFF(socket), TS_DEFAULT_SOCKET, 0, 0,
        F_NONEMPTY | F_SOCKPATH | F_RESTART, NULL},
    {"socket_mode", T_MODE, OFF(socket_mode), "0660", 0, 0777, F_RESTART, NULL},
    {"allowed_uids", T_UIDS, OFF(allowed_uids), "", 0, 0, 0, NULL},
    {"allowed_gids", T_GIDS, OFF(allowed_gids), "", 0, 0, 0, NULL},
    {"admin_uids", T_UIDS, OFF(admin_uids), "", 0, 0, 0, NULL},
    {"listen_tcp", T_HOSTPORT, OFF(listen_tcp), "", 0, 0, F_RESTART, NULL},
    {"listen_tcp_allow_remote", T_BOOL, OFF(listen_tcp_allow_remote), "no", 0,
        0, F_RESTART, NULL},
    {"max_connections", T_COUNT, OFF(max_connections), "1024", 1, 1000000,
        F_RESTART, NULL},
    {"max_header_bytes", T_SIZE, OFF(max_header_bytes), "16K", KIB, MIB,
        F_RESTART, NULL},
    {"header_timeout", T_DURATION, OFF(header_timeout_ms), "10s", 1, MS_DAY,
        F_RESTART, NULL},
    {"body_timeout", T_DURATION, OFF(body_timeout_ms), "30s", 1, MS_DAY,
        F_RESTART, NULL},
    {"idle_timeout", T_DURATION, OFF(idle_timeout_ms), "60s", 1, MS_DAY,
        F_RESTART, NULL},
    {"max_event_bytes", T_SIZE, OFF(max_event_bytes), "1M", 1, GIB, 0, NULL},
    {"max_body_bytes", T_SIZE, OFF(max_body_bytes), "16M", 1, GIB, F_RESTART,
        NULL},
    {"max_buffered_bytes", T_SIZE, OFF(max_buffered_bytes), "64M", 1, 64 * GIB,
        F_RESTART, NULL},
    {"default_project", T_STRING, OFF(default_project), "", 0, 0, 0, NULL},
    {"spool_dir", T_STRING, OFF(spool_dir), TS_DEFAULT_SPOOL_DIR, 0, 0,
        F_NONEMPTY | F_RESTART, NULL},
    {"spool_max_bytes", T_SIZE, OFF(spool_max_bytes), "1G", MIB, UINT64_MAX,
        F_RESTART, NULL},
    {"when_full", T_CHOICE, OFF(when_full), "reject", 0, 0, F_RESTART,
        when_full_names},
    {"sync", T_CHOICE, OFF(sync), "full", 0, 0, F_RESTART, sync_names},
    {"sync_interval", T_DURATION, OFF(sync_interval_ms), "100ms", 1, MS_HOUR,
        F_RESTART, NULL},
    {"max_event_age", T_DURATION, OFF(max_event_age_ms), "7d", 1, 3650 * MS_DAY,
        0, NULL},
    {"upstream_url", T_URL, OFF(upstream_url), "https://api.honeyhive.ai", 0, 0,
        0, NULL},
    {"api_key_file", T_STRING, OFF(api_key_file), "", 0, 0, 0, NULL},
    {"batch_max_events", T_COUNT, OFF(batch_max_events), "100", 1, 10000, 0,
        NULL},
    {"batch_max_bytes", T_SIZE, OFF(batch_max_bytes), "4M", 1, GIB, 0, NULL},
    {"flush_interval", T_DURATION, OFF(flush_interval_ms), "200ms", 0, MS_HOUR,
        0, NULL},
    {"retry_initial", T_DURATION, OFF(retry_initial_ms), "1s", 1, MS_DAY, 0,
        NULL},
    {"retry_max", T_DURATION, OFF(retry_max_ms), "5m", 1, MS_DAY, 0, NULL},
    {"request_timeout", T_DURATION, OFF(request_timeout_ms), "30s", 1, MS_DAY,
        0, NULL},
    {"upload_concurrency", T_COUNT, OFF(upload_concurrency), "8", 1,
        UPLOAD_CONCURRENCY_MAX, 0, NULL},
    {"upload_rate_limit", T_RATE, OFF(upload_rate_limit), "", 1,
        UINT64_C(1) << 40, 0, NULL},
    {"recovery_spread", T_DURATION, OFF(recovery_spread_ms), "5s", 0, MS_HOUR,
        0, NULL},
    {"ca_file", T_STRING, OFF(ca_file), "", 0, 0, 0, NULL},
    {"upstream_allow_insecure", T_BOOL, OFF(upstream_allow_insecure), "no", 0,
        0, 0, NULL},
    {"forward_client_key", T_BOOL, OFF(forward_client_key), "no", 0, 0, 0,
        NULL},
    {"redact_rules", T_STRING, OFF(redact_rules), "", 0, 0, 0, NULL},
    {"redact_hash_key_file", T_STRING, OFF(redact_hash_key_file), "", 0, 0, 0,
        NULL},
    {"log_level", T_LOG_LEVEL, OFF(log_level), "info", 0, 0, 0, NULL},
};

#define NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

typedef void report_fn(const char *msg, void *arg);

static const struct conf_key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	}
	return NULL;
}

static char **
field_str(struct conf *c, const struct conf_key *k)
{
	return (char **)(void *)((char *)c + k->off);
}

static uint64_t *
field_u64(struct conf *c, const struct conf_key *k)
{
	return (uint64_t *)(void *)((char *)c + k->off);
}

static int *
field_int(struct conf *c, const struct conf_key *k)
{
	return (int *)(void *)((char *)c + k->off);
}

static mode_t *
field_mode(struct conf *c, const struct conf_key *k)
{
	return (mode_t *)(void *)((char *)c + k->off);
}

static struct conf_ids *
field_ids(struct conf *c, const struct conf_key *k)
{
	return (struct conf_ids *)(void *)((char *)c + k->off);
}

static struct conf_rate *
field_rate(struct conf *c, const struct conf_key *k)
{
	return (struct conf_rate *)(void *)((char *)c + k->off);
}

/* Read-only views for conf_print and conf_check, which take a const conf. */
static const char *
cfield_str(const struct conf *c, const struct conf_key *k)
{
	return *(char *const *)(const void *)((const char *)c + k->off);
}

static uint64_t
cfield_u64(const struct conf *c, const struct conf_key *k)
{
	return *(const uint64_t *)(const void *)((const char *)c + k->off);
}

static int
cfield_int(const struct conf *c, const struct conf_key *k)
{
	return *(const int *)(const void *)((const char *)c + k->off);
}

static mode_t
cfield_mode(const struct conf *c, const struct conf_key *k)
{
	return *(const mode_t *)(const void *)((const char *)c + k->off);
}

static const struct conf_ids *
cfield_ids(const struct conf *c, const struct conf_key *k)
{
	const char *base = (const char *)c;

	return (const struct conf_ids *)(const void *)(base + k->off);
}

static const struct conf_rate *
cfield_rate(const struct conf *c, const struct conf_key *k)
{
	const char *base = (const char *)c;

	return (const struct conf_rate *)(const void *)(base + k->off);
}

/* strerror is not thread-safe, and a reload may run beside other threads. */
static const char *
errstr(int e, char *buf, size_t len)
{
	return strerror_r(e, buf, len);
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++) {
		if (iscntrl((unsigned char)*s))
			return 1;
	}
	return 0;
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return 0;
	}
	return 1;
}

/*
 * Copy at most ECHO_MAX bytes of s for an error message, control bytes
 * replaced, so a bad value from the environment cannot split a log line.
 */
static void
echo(char *dst, size_t dstlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < dstlen && i < ECHO_MAX && s[i] != '\0'; i++)
		dst[i] = iscntrl((unsigned char)s[i]) ? '?' : s[i];
	if (i + 4 < dstlen && s[i] != '\0') {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	if (dstlen > 0)
		dst[i] = '\0';
}

/* A key's value for an error message: echo's copy, or nothing of a secret. */
static void
echo_value(const struct conf_key *k, char *dst, size_t dstlen, const char *s)
{
	if (k->flags & F_SECRET)
		snprintf(dst, dstlen, "(a secret, not shown)");
	else
		echo(dst, dstlen, s);
}

/*
 * Parse the leading decimal digits of s into *n. *end points after them.
 * Signs, spaces and "0x" are refused: strtoull would take them.
 */
static int
parse_number(const char *s, uint64_t *n, const char **end)
{
	unsigned long long v;
	char *ep;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &ep, 10);
	if (errno != 0 || ep == s)
		return -1;
	*n = v;
	*end = ep;
	return 0;
}

static int
mul_overflows(uint64_t a, uint64_t b, uint64_t *r)
{
	if (b != 0 && a > UINT64_MAX / b)
		return 1;
	*r = a * b;
	return 0;
}

static int
parse_size(const char *s, uint64_t *bytes, const char **why)
{
	const char *p;
	uint64_t n, mult = 1;

	if (parse_number(s, &n, &p) == -1) {
		*why = isdigit((unsigned char)*s) ? "too large" : WHY_SIZE;
		return -1;
	}
	switch (*p) {
	case 'K':
	case 'k':
		mult = KIB;
		p++;
		break;
	case 'M':
	case 'm':
		mult = MIB;
		p++;
		break;
	case 'G':
	case 'g':
		mult = GIB;
		p++;
		break;
	}
	/* "16M", "16MB" and "16MiB" all mean 16 * 1024 * 1024 bytes. */
	if (mult != 1 && *p == 'i' && (p[1] == 'B' || p[1] == 'b'))
		p += 2;
	else if (*p == 'B' || *p == 'b')
		p++;
	if (*p != '\0') {
		*why = WHY_SIZE;
		return -1;
	}
	if (mul_overflows(n, mult, bytes)) {
		*why = "too large";
		return -1;
	}
	return 0;
}

static int
parse_duration(const char *s, uint64_t *ms, const char **why)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
	    {"ms", 1},
	    {"s", MS_SEC},
	    {"m", MS_MIN},
	    {"h", MS_HOUR},
	    {"d", MS_DAY},
	};
	const char *p;
	uint64_t n;
	size_t i;

	if (parse_number(s, &n, &p) == -1) {
		*why = isdigit((unsigned char)*s) ? "too large" : WHY_DURATION;
		return -1;
	}
	/*
	 * A bare number is refused because "30" could be meant as seconds or
	 * milliseconds; only 0 is the same in every unit.
	 */
	if (*p == '\0') {
		if (n != 0) {
			*why = "a duration needs a unit (ms, s, m, h or d); a "
			       "bare number is allowed only for 0";
			return -1;
		}
		*ms = 0;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].unit) != 0)
			continue;
		if (mul_overflows(n, units[i].ms, ms)) {
			*why = "too large";
			return -1;
		}
		return 0;
	}
	*why = WHY_DURATION;
	return -1;
}

int
conf_parse_size(const char *s, uint64_t *bytes)
{
	const char *why;

	return parse_size(s, bytes, &why);
}

int
conf_parse_duration(const char *s, uint64_t *ms)
{
	const char *why;

	return parse_duration(s, ms, &why);
}

int
conf_parse_bool(const char *s, int *yes)
{
	static const char *const t[] = {"yes", "true", "on", "1"};
	static const char *const f[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcasecmp(s, t[i]) == 0) {
			*yes = 1;
			return 0;
		}
		if (strcasecmp(s, f[i]) == 0) {
			*yes = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * A DNS name: letters, digits, '-' and '.', labels of 1 to 63 bytes. An
 * all-digit last label is refused, so that "256.1.1.1" or "1.2.3" is not
 * taken for a name when it was meant as a (bad) IPv4 address.
 */
static int
valid_hostname(const char *h)
{
	size_t len = strlen(h), label = 0;
	int digits = 1;

	if (len == 0 || len > 253)
		return 0;
	for (; *h != '\0'; h++) {
		if (*h == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!isalnum((unsigned char)*h) && *h != '-')
			return 0;
		if (!isdigit((unsigned char)*h))
			digits = 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && !digits;
}

int
conf_parse_hostport(const char *s, char *host, size_t hostlen, unsigned *port)
{
	const char *hb, *he, *ps;
	unsigned char addr[sizeof(struct in6_addr)];
	char tmp[256];
	uint64_t n;
	const char *end;
	size_t hl;

	if (s[0] == '[') {
		hb = s + 1;
		he = strchr(hb, ']');
		if (he == NULL || he[1] != ':')
			return -1;
		ps = he + 2;
	} else {
		hb = s;
		he = strrchr(s, ':');
		if (he == NULL)
			return -1;
		ps = he + 1;
	}
	hl = (size_t)(he - hb);
	if (hl == 0 || hl >= sizeof(tmp) || hl >= hostlen)
		return -1;
	memcpy(tmp, hb, hl);
	tmp[hl] = '\0';
	if (s[0] == '[') {
		if (inet_pton(AF_INET6, tmp, addr) != 1)
			return -1;
	} else if (inet_pton(AF_INET, tmp, addr) != 1 && !valid_hostname(tmp))
		return -1;
	if (!all_digits(ps) || parse_number(ps, &n, &end) == -1 ||
	    *end != '\0' || n < 1 || n > 65535)
		return -1;
	memcpy(host, tmp, hl + 1);
	*port = (unsigned)n;
	return 0;
}

int
conf_host_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(host);

	/* Accept "[::1]" too: a caller may hand over the bracketed form. */
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']' &&
	    len - 2 < sizeof(tmp)) {
		memcpy(tmp, host + 1, len - 2);
		tmp[len - 2] = '\0';
		host = tmp;
	}
	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	return 0;
}

static void
fmt_size(char *dst, size_t len, uint64_t v)
{
	if (v != 0 && v % GIB == 0)
		snprintf(dst, len, "%lluG", (unsigned long long)(v / GIB));
	else if (v != 0 && v % MIB == 0)
		snprintf(dst, len, "%lluM", (unsigned long long)(v / MIB));
	else if (v != 0 && v % KIB == 0)
		snprintf(dst, len, "%lluK", (unsigned long long)(v / KIB));
	else
		snprintf(dst, len, "%llu", (unsigned long long)v);
}

static void
fmt_duration(char *dst, size_t len, uint64_t v)
{
	if (v == 0)
		snprintf(dst, len, "0");
	else if (v % MS_DAY == 0)
		snprintf(dst, len, "%llud", (unsigned long long)(v / MS_DAY));
	else if (v % MS_HOUR == 0)
		snprintf(dst, len, "%lluh", (unsigned long long)(v / MS_HOUR));
	else if (v % MS_MIN == 0)
		snprintf(dst, len, "%llum", (unsigned long long)(v / MS_MIN));
	else if (v % MS_SEC == 0)
		snprintf(dst, len, "%llus", (unsigned long long)(v / MS_SEC));
	else
		snprintf(dst, len, "%llums", (unsigned long long)v);
}

/* Writes a bound in the unit its key is written in, for error messages. */
static void
fmt_bound(const struct conf_key *k, uint64_t v, char *dst, size_t len)
{
	if (k->type == T_SIZE)
		fmt_size(dst, len, v);
	else if (k->type == T_DURATION)
		fmt_duration(dst, len, v);
	else
		snprintf(dst, len, "%llu", (unsigned long long)v);
}

/* Checks v against the key's range; 0, or -1 with err set. */
static int
check_range(const struct conf_key *k, uint64_t v, char *err, size_t errlen)
{
	char b[32];

	if (v < k->min) {
		if (k->min == 1 && k->type != T_COUNT) {
			snprintf(
			    err, errlen, "%s: must be more than 0", k->name);
		} else {
			fmt_bound(k, k->min, b, sizeof(b));
			snprintf(
			    err, errlen, "%s: must be at least %s", k->name, b);
		}
		return -1;
	}
	if (v > k->max) {
		fmt_bound(k, k->max, b, sizeof(b));
		snprintf(err, errlen, "%s: must be at most %s", k->name, b);
		return -1;
	}
	return 0;
}

/*
 * Checks a base URL. Paths are appended to it, so it may not carry a query
 * or fragment, and conf_print shows it, so it may not carry credentials.
 */
static int
check_url(const char *name, const char *v, char *err, size_t errlen)
{
	const char *host, *p;

	if (strncasecmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncasecmp(v, "https://", 8) == 0)
		host = v + 8;
	else {
		snprintf(err, errlen, "%s: must start with http:// or https://",
		    name);
		return -1;
	}
	if (*host == '\0' || *host == '/') {
		snprintf(err, errlen, "%s: no host after the scheme", name);
		return -1;
	}
	for (p = v; *p != '\0'; p++) {
		if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p)) {
			snprintf(err, errlen,
			    "%s: contains white space or a control character",
			    name);
			return -1;
		}
		if (*p == '?' || *p == '#') {
			snprintf(err, errlen,
			    "%s: must not have a query or fragment (request "
			    "paths are appended to it)",
			    name);
			return -1;
		}
	}
	p = host + strcspn(host, "/");
	if (memchr(host, '@', (size_t)(p - host)) != NULL) {
		snprintf(err, errlen,
		    "%s: must not hold credentials (the API key goes in "
		    "api_key_file or TRACESPOOL_API_KEY)",
		    name);
		return -1;
	}
	return 0;
}

static int
set_string(struct conf *c, const struct conf_key *k, const char *value,
    char *err, size_t errlen)
{
	char **fp = field_str(c, k);
	char *copy;
	size_t len;

	if (has_control(value)) {
		snprintf(
		    err, errlen, "%s: contains a control character", k->name);
		return -1;
	}
	if ((k->flags & F_NONEMPTY) && *value == '\0') {
		snprintf(err, errlen, "%s: must not be empty", k->name);
		return -1;
	}
	if (k->flags & F_SOCKPATH) {
		struct sockaddr_un sun;

		if (strlen(value) >= sizeof(sun.sun_path)) {
			snprintf(err, errlen,
			    "%s: longer than %zu bytes, the limit of a Unix "
			    "socket path",
			    k->name, sizeof(sun.sun_path) - 1);
			return -1;
		}
	}
	if (k->type == T_URL) {
		if (check_url(k->name, value, err, errlen) == -1)
			return -1;
	}
	if (k->type == T_HOSTPORT && *value != '\0') {
		char host[256];
		unsigned port;

		if (conf_parse_hostport(value, host, sizeof(host), &port) ==
		    -1) {
			snprintf(err, errlen,
			    "%s: not HOST:PORT or [IPV6]:PORT with a port "
			    "from 1 to 65535",
			    k->name);
			return -1;
		}
	}
	len = strlen(value);
	/*
	 * The forwarder appends paths that start with '/', so a trailing '/'
	 * of the base URL would double it.
	 */
	if (k->type == T_URL) {
		while (len > 0 && value[len - 1] == '/')
			len--;
	}
	copy = strndup(value, len);
	if (copy == NULL) {
		snprintf(err, errlen, "%s: out of memory", k->name);
		return -1;
	}
	free(*fp);
	*fp = copy;
	return 0;
}

static int
set_mode(struct conf *c, const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	unsigned long v;
	const char *p;
	char *ep;

	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '7')
			break;
	}
	if (*value == '\0' || *p != '\0') {
		snprintf(err, errlen,
		    "%s: not an octal permission mode such as 0660", k->name);
		return -1;
	}
	errno = 0;
	v = strtoul(value, &ep, 8);
	if (errno != 0 || *ep != '\0' || v > k->max) {
		snprintf(err, errlen, "%s: must be at most 0777", k->name);
		return -1;
	}
	*field_mode(c, k) = (mode_t)v;
	return 0;
}

static int
set_number(struct conf *c, const struct conf_key *k, const char *value,
    char *err, size_t errlen)
{
	char shown[ECHO_MAX + 8];
	const char *why = "not a whole number", *end;
	uint64_t v;
	int rc;

	if (k->type == T_SIZE)
		rc = parse_size(value, &v, &why);
	else if (k->type == T_DURATION)
		rc = parse_duration(value, &v, &why);
	else {
		rc = parse_number(value, &v, &end);
		if (rc == 0 && *end != '\0')
			rc = -1;
		else if (rc == -1 && all_digits(value))
			why = "too large";
	}
	if (rc == -1) {
		echo_value(k, shown, sizeof(shown), value);
		snprintf(err, errlen, "%s: \"%s\": %s", k->name, shown, why);
		return -1;
	}
	if (check_range(k, v, err, errlen) == -1)
		return -1;
	*field_u64(c, k) = v;
	return 0;
}

/*
 * The id of the user (group 0) or group (group 1) called name. 0, 1 when
 * there is none, or -1 with errno set when the lookup failed.
 */
static int
lookup_id(int group, const char *name, id_t *id)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	long size =
	    sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	char *buf = NULL, *nbuf;
	int rc;

	if (size <= 0)
		size = 16384;
	for (;;) {
		if ((nbuf = realloc(buf, (size_t)size)) == NULL) {
			free(buf);
			errno = ENOMEM;
			return -1;
		}
		buf = nbuf;
		if (group)
			rc = getgrnam_r(name, &gr, buf, (size_t)size, &grp);
		else
			rc = getpwnam_r(name, &pw, buf, (size_t)size, &pwp);
		/* A group with very many members needs a large buffer. */
		if (rc != ERANGE || size >= 16 * 1024 * 1024)
			break;
		size *= 2;
	}
	free(buf);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	if (group ? grp == NULL : pwp == NULL)
		return 1;
	*id = group ? (id_t)gr.gr_gid : (id_t)pw.pw_uid;
	return 0;
}

/*
 * A comma-separated list of numeric ids and names, with white space around
 * each; "" is the empty list. Names are resolved now, so that a typo is a
 * configuration error rather than a client locked out later.
 */
static int
set_ids(struct conf *c, const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	const char *what = k->type == T_GIDS ? "group" : "user";
	struct conf_ids list = {NULL, 0};
	char shown[ECHO_MAX + 8], ebuf[128], *copy, *item, *next, *end;
	const char *p;
	uint64_t v;
	size_t cap = 1;
	int rc;

	if (has_control(value)) {
		snprintf(
		    err, errlen, "%s: contains a control character", k->name);
		return -1;
	}
	for (p = value; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0') {
		free(field_ids(c, k)->ids);
		*field_ids(c, k) = list;
		return 0;
	}
	for (p = value; *p != '\0'; p++)
		cap += *p == ',';
	copy = strdup(value);
	list.ids = calloc(cap, sizeof(*list.ids));
	if (copy == NULL || list.ids == NULL) {
		snprintf(err, errlen, "%s: out of memory", k->name);
		goto fail;
	}
	for (item = copy; item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		while (isspace((unsigned char)*item))
			item++;
		end = item + strlen(item);
		while (end > item && isspace((unsigned char)end[-1]))
			*--end = '\0';
		echo_value(k, shown, sizeof(shown), item);
		if (*item == '\0') {
			snprintf(err, errlen,
			    "%s: an empty entry; write ids or names "
			    "separated by commas",
			    k->name);
			goto fail;
		}
		if (all_digits(item)) {
			/* (id_t)-1 means "no id" to the kernel. */
			if (parse_number(item, &v, &p) == -1 || *p != '\0' ||
			    v >= UINT32_MAX) {
				snprintf(err, errlen,
				    "%s: \"%s\": not a %s id (0 to %u)",
				    k->name, shown, what, UINT32_MAX - 1);
				goto fail;
			}
			list.ids[list.n++] = (id_t)v;
			continue;
		}
		rc = lookup_id(k->type == T_GIDS, item, &list.ids[list.n]);
		if (rc == 1) {
			snprintf(err, errlen, "%s: \"%s\": no such %s", k->name,
			    shown, what);
			goto fail;
		}
		if (rc == -1) {
			snprintf(err, errlen, "%s: \"%s\": cannot look up: %s",
			    k->name, shown, errstr(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		list.n++;
	}
	free(copy);
	free(field_ids(c, k)->ids);
	*field_ids(c, k) = list;
	return 0;
fail:
	free(copy);
	free(list.ids);
	return -1;
}

/*
 * "" (no limit), "N/s" (events a second) or "SIZE/s" (bytes a second,
 * with a K, M or G suffix or a B: "2M/s", "500KB/s", "100B/s"); a plain
 * number is events, so that "100/s" cannot mean bytes by accident.
 */
static int
set_rate(struct conf *c, const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	struct conf_rate r = {0, 0};
	char shown[ECHO_MAX + 8], num[32];
	const char *why = WHY_RATE, *end;
	size_t len = strlen(value);
	int rc;

	if (len == 0) {
		*field_rate(c, k) = r;
		return 0;
	}
	echo(shown, sizeof(shown), value);
	if (len < 3 || strcmp(value + len - 2, "/s") != 0 ||
	    len - 2 >= sizeof(num)) {
		snprintf(err, errlen, "%s: \"%s\": %s", k->name, shown, why);
		return -1;
	}
	memcpy(num, value, len - 2);
	num[len - 2] = '\0';
	if (all_digits(num)) {
		rc = parse_number(num, &r.per_s, &end);
		if (rc == -1)
			why = "too large";
	} else {
		rc = parse_size(num, &r.per_s, &why);
		if (rc == -1 && strcmp(why, WHY_SIZE) == 0)
			why = WHY_RATE;
		r.bytes = 1;
	}
	if (rc == -1) {
		snprintf(err, errlen, "%s: \"%s\": %s", k->name, shown, why);
		return -1;
	}
	if (r.per_s < k->min) {
		snprintf(err, errlen,
		    "%s: must be more than 0 (leave it empty for no limit)",
		    k->name);
		return -1;
	}
	if (r.per_s > k->max) {
		snprintf(err, errlen, "%s: \"%s\": too large", k->name, shown);
		return -1;
	}
	*field_rate(c, k) = r;
	return 0;
}

static int
set_word(struct conf *c, const struct conf_key *k, const char *value, char *err,
    size_t errlen)
{
	char shown[ECHO_MAX + 8];
	int v;
	size_t i;

	echo_value(k, shown, sizeof(shown), value);
	switch (k->type) {
	case T_BOOL:
		if (conf_parse_bool(value, &v) == -1) {
			snprintf(err, errlen,
			    "%s: \"%s\": not yes or no (also true/false, "
			    "on/off, 1/0)",
			    k->name, shown);
			return -1;
		}
		break;
	case T_LOG_LEVEL:
		if (log_level_parse(value, &v) == -1) {
			snprintf(err, errlen,
			    "%s: \"%s\": not debug, info, warn or error",
			    k->name, shown);
			return -1;
		}
		break;
	default:
		for (i = 0; k->choices[i] != NULL; i++) {
			if (strcmp(value, k->choices[i]) == 0)
				break;
		}
		if (k->choices[i] == NULL) {
			snprintf(err, errlen, "%s: \"%s\": not %s or %s",
			    k->name, shown, k->choices[0], k->choices[1]);
			return -1;
		}
		v = (int)i;
		break;
	}
	*field_int(c, k) = v;
	return 0;
}

int
conf_set(struct conf *c, const char *key, const char *value, char *err,
    size_t errlen)
{
	const struct conf_key *k;
	char shown[ECHO_MAX + 8];

	/* The value is never echoed here: it would be the secret itself. */
	if (strcmp(key, "api_key") == 0) {
		snprintf(err, errlen,
		    "api_key: not a configuration key: the API key is never "
		    "written in the configuration; put it in the file named "
		    "by api_key_file, in $CREDENTIALS_DIRECTORY/api_key, or "
		    "in the environment variable TRACESPOOL_API_KEY");
		return -1;
	}
	k = key_find(key);
	if (k == NULL) {
		echo(shown, sizeof(shown), key);
		snprintf(err, errlen, "%s: unknown key", shown);
		return -1;
	}
	switch (k->type) {
	case T_STRING:
	case T_HOSTPORT:
	case T_URL:
		return set_string(c, k, value, err, errlen);
	case T_MODE:
		return set_mode(c, k, value, err, errlen);
	case T_COUNT:
	case T_SIZE:
	case T_DURATION:
		return set_number(c, k, value, err, errlen);
	case T_BOOL:
	case T_CHOICE:
	case T_LOG_LEVEL:
		return set_word(c, k, value, err, errlen);
	case T_UIDS:
	case T_GIDS:
		return set_ids(c, k, value, err, errlen);
	case T_RATE:
		return set_rate(c, k, value, err, errlen);
	}
	snprintf(err, errlen, "%s: unknown key type", k->name);
	return -1;
}

struct conf *
conf_new(void)
{
	struct conf *c;
	char err[256];
	size_t i;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	for (i = 0; i < NKEYS; i++) {
		if (conf_set(c, conf_keys[i].name, conf_keys[i].def, err,
		        sizeof(err)) == -1)
			goto fail;
	}
	return c;
fail:
	conf_free(c);
	return NULL;
}

void
conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		switch (conf_keys[i].type) {
		case T_STRING:
		case T_HOSTPORT:
		case T_URL:
			free(*field_str(c, &conf_keys[i]));
			break;
		case T_UIDS:
		case T_GIDS:
			free(field_ids(c, &conf_keys[i])->ids);
			break;
		default:
			break;
		}
	}
	free(c);
}

static void
report_msg(report_fn *report, void *arg, const char *msg)
{
	if (report != NULL)
		report(msg, arg);
}

/*
 * Splits one line into key and value, in place. Returns 1 for a key/value
 * pair, 0 for a blank or comment line, -1 with why set for a bad line
 * (*key then names what the line started with, or is NULL if nothing).
 */
static int
split_line(char *line, char **key, char **value, const char **why)
{
	char *p, *eq, *ke, *v, *w;

	p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	*key = p;
	eq = strchr(p, '=');
	if (eq == NULL || strcspn(p, "#") < (size_t)(eq - p)) {
		p[strcspn(p, " \t\r\n#")] = '\0';
		*why = "no '=' (lines are \"key = value\")";
		return -1;
	}
	ke = eq;
	while (ke > p && isspace((unsigned char)ke[-1]))
		ke--;
	*ke = '\0';
	if (*p == '\0') {
		*key = NULL;
		*why = "no key before '='";
		return -1;
	}
	v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (*v != '"') {
		/* Unquoted: up to a '#' or the end, trailing space dropped. */
		w = v + strcspn(v, "#");
		while (w > v && isspace((unsigned char)w[-1]))
			w--;
		*w = '\0';
		*value = v;
		return 1;
	}
	/* Quoted: \" and \\ are the only escapes; they unescape in place. */
	*value = w = v;
	for (p = v + 1; *p != '"'; p++) {
		if (*p == '\0') {
			*why = "no closing '\"'";
			return -1;
		}
		if (*p == '\\') {
			if (p[1] != '"' && p[1] != '\\') {
				*why = "in quotes, '\\' may only come before "
				       "'\"' or '\\'";
				return -1;
			}
			p++;
		}
		*w++ = *p;
	}
	*w = '\0';
	for (p++; isspace((unsigned char)*p); p++)
		;
	if (*p != '\0' && *p != '#') {
		*why = "text after the closing '\"'";
		return -1;
	}
	return 1;
}

int
conf_load_file(struct conf *c, const char *path, int required,
    report_fn *report, void *arg)
{
	FILE *fp;
	char *line = NULL, *key, *value;
	char err[512], msg[1024], shown[ECHO_MAX + 8], ebuf[128];
	const char *why;
	size_t cap = 0;
	ssize_t n;
	unsigned long lineno = 0;
	int errors = 0, rc;

	fp = fopen(path, "re");
	if (fp == NULL) {
		if (errno == ENOENT && !required)
			return 0;
		snprintf(msg, sizeof(msg), "%s: %s", path,
		    errstr(errno, ebuf, sizeof(ebuf)));
		report_msg(report, arg, msg);
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(msg, sizeof(msg),
			    "%s:%lu: contains a NUL byte", path, lineno);
			report_msg(report, arg, msg);
			errors++;
			continue;
		}
		rc = split_line(line, &key, &value, &why);
		if (rc == 0)
			continue;
		if (rc == -1 && key == NULL) {
			snprintf(
			    msg, sizeof(msg), "%s:%lu: %s", path, lineno, why);
			report_msg(report, arg, msg);
			errors++;
			continue;
		}
		if (rc == -1) {
			echo(shown, sizeof(shown), key);
			snprintf(msg, sizeof(msg), "%s:%lu: %s: %s", path,
			    lineno, shown, why);
			report_msg(report, arg, msg);
			errors++;
			continue;
		}
		if (conf_set(c, key, value, err, sizeof(err)) == -1) {
			snprintf(
			    msg, sizeof(msg), "%s:%lu: %s", path, lineno, err);
			report_msg(report, arg, msg);
			errors++;
		}
	}
	if (ferror(fp)) {
		snprintf(msg, sizeof(msg), "%s: %s", path,
		    errstr(errno, ebuf, sizeof(ebuf)));
		report_msg(report, arg, msg);
		errors = -1;
	}
	free(line);
	fclose(fp);
	return errors;
}

/*
 * The key a TRACESPOOL_ variable name (len bytes, no '=') stands for.
 * Only the capitalised spelling counts, so that each key has exactly one
 * name in the environment. 0, or -1 when it names no key.
 */
static int
env_key(const char *name, size_t len, char *key, size_t keylen)
{
	const size_t plen = sizeof(ENV_PREFIX) - 1;
	size_t i;
	char ch;

	if (len <= plen || len - plen >= keylen)
		return -1;
	for (i = 0; i < len - plen; i++) {
		ch = name[plen + i];
		if (!isupper((unsigned char)ch) &&
		    !isdigit((unsigned char)ch) && ch != '_')
			return -1;
		key[i] = (char)tolower((unsigned char)ch);
	}
	key[i] = '\0';
	return key_find(key) == NULL ? -1 : 0;
}

int
conf_load_env(struct conf *c, char *const *envp, report_fn *report, void *arg)
{
	char key[64], var[128], shown[ECHO_MAX + 8], err[512], msg[1024];
	const char *eq;
	size_t len;
	int errors = 0;

	for (; *envp != NULL; envp++) {
		if (strncmp(*envp, ENV_PREFIX, sizeof(ENV_PREFIX) - 1) != 0)
			continue;
		eq = strchr(*envp, '=');
		if (eq == NULL)
			continue;
		len = (size_t)(eq - *envp);
		if (len == sizeof(ENV_API_KEY) - 1 &&
		    strncmp(*envp, ENV_API_KEY, len) == 0)
			continue;
		snprintf(var, sizeof(var), "%.*s", (int)len, *envp);
		echo(shown, sizeof(shown), var);
		if (env_key(*envp, len, key, sizeof(key)) == -1) {
			snprintf(msg, sizeof(msg),
			    "%s: unknown variable: it names no configuration "
			    "key",
			    shown);
			report_msg(report, arg, msg);
			errors++;
			continue;
		}
		if (conf_set(c, key, eq + 1, err, sizeof(err)) == -1) {
			snprintf(msg, sizeof(msg), "%s: %s", shown, err);
			report_msg(report, arg, msg);
			errors++;
		}
	}
	return errors;
}

/*
 * 1 when url is plain http to a host that is not a loopback name or
 * address: the bearer key would cross a network in clear text. The URL
 * passed check_url: no credentials, query or fragment.
 */
static int
url_insecure(const char *url)
{
	char host[256];
	const char *h = url + 7, *end;
	size_t len;

	if (strncasecmp(url, "http://", 7) != 0)
		return 0;
	len = strcspn(h, "/");
	if (h[0] == '[') {
		end = memchr(h, ']', len);
		len = end != NULL ? (size_t)(end - h) + 1 : len;
	} else if ((end = memchr(h, ':', len)) != NULL) {
		len = (size_t)(end - h);
	}
	if (len == 0 || len >= sizeof(host))
		return 1;
	memcpy(host, h, len);
	host[len] = '\0';
	return !conf_host_is_loopback(host);
}

int
conf_check(const struct conf *c, report_fn *report, void *arg)
{
	char msg[512], host[256];
	unsigned port;
	int errors = 0;

	if (c->retry_initial_ms > c->retry_max_ms) {
		report_msg(report, arg,
		    "retry_initial: must not be longer than retry_max");
		errors++;
	}
	if (c->max_event_bytes > c->max_body_bytes) {
		report_msg(report, arg,
		    "max_event_bytes: must not be larger than max_body_bytes "
		    "(an event arrives in one request body)");
		errors++;
	}
	if (c->max_buffered_bytes < c->max_body_bytes) {
		report_msg(report, arg,
		    "max_buffered_bytes: must not be smaller than "
		    "max_body_bytes (a body of max_body_bytes would never "
		    "fit)");
		errors++;
	}
	if (!c->upstream_allow_insecure && url_insecure(c->upstream_url)) {
		report_msg(report, arg,
		    "upstream_url: plain http to a host that is not loopback "
		    "would send the API key in clear text; use https://, or "
		    "set upstream_allow_insecure = yes");
		errors++;
	}
	if (c->listen_tcp[0] != '\0' && !c->listen_tcp_allow_remote) {
		if (conf_parse_hostport(
		        c->listen_tcp, host, sizeof(host), &port) == -1) {
			report_msg(report, arg,
			    "listen_tcp: not HOST:PORT or [IPV6]:PORT");
			errors++;
		} else if (!conf_host_is_loopback(host)) {
			snprintf(msg, sizeof(msg),
			    "listen_tcp: %s is not a loopback host; set "
			    "listen_tcp_allow_remote = yes to accept events "
			    "from other machines",
			    host);
			report_msg(report, arg, msg);
			errors++;
		}
	}
	return errors;
}

/* The word for a T_CHOICE value; "unknown" for one no parser produced. */
static const char *
choice_name(const struct conf_key *k, int v)
{
	int i;

	for (i = 0; k->choices[i] != NULL; i++) {
		if (i == v)
			return k->choices[i];
	}
	return "unknown";
}

/* Quotes a value when reading it back unquoted would change it. */
static void
print_string(FILE *fp, const char *s)
{
	const char *p;

	if (*s != '\0' && strpbrk(s, " \t#\"\\") == NULL) {
		fputs(s, fp);
		return;
	}
	fputc('"', fp);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', fp);
		fputc(*p, fp);
	}
	fputc('"', fp);
}

/* A rate as set_rate reads it back: "" for none, bytes with a unit. */
static void
print_rate(FILE *fp, const struct conf_rate *r)
{
	char v[32];
	size_t len;

	if (r->per_s == 0) {
		fputs("\"\"", fp);
		return;
	}
	if (!r->bytes) {
		fprintf(fp, "%llu/s", (unsigned long long)r->per_s);
		return;
	}
	fmt_size(v, sizeof(v), r->per_s);
	len = strlen(v);
	/* A plain number would read back as events. */
	fprintf(fp, "%s%s/s", v,
	    len > 0 && isdigit((unsigned char)v[len - 1]) ? "B" : "");
}

/* Ids as numbers (names were resolved when set); "" for none. */
static void
print_ids(FILE *fp, const struct conf_ids *l)
{
	size_t i;

	if (l->n == 0)
		fputs("\"\"", fp);
	for (i = 0; i < l->n; i++)
		fprintf(
		    fp, "%s%lu", i > 0 ? "," : "", (unsigned long)l->ids[i]);
}

void
conf_print(const struct conf *c, FILE *fp)
{
	const struct conf_key *k;
	char v[32];
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		k = &conf_keys[i];
		if (k->flags & F_SECRET) {
			fprintf(fp, "# %s = (a secret, not shown)\n", k->name);
			continue;
		}
		fprintf(fp, "%s = ", k->name);
		switch (k->type) {
		case T_STRING:
		case T_HOSTPORT:
		case T_URL:
			print_string(fp, cfield_str(c, k));
			break;
		case T_MODE:
			fprintf(fp, "%04o", (unsigned)cfield_mode(c, k));
			break;
		case T_BOOL:
			fputs(cfield_int(c, k) ? "yes" : "no", fp);
			break;
		case T_COUNT:
			fprintf(
			    fp, "%llu", (unsigned long long)cfield_u64(c, k));
			break;
		case T_SIZE:
			fmt_size(v, sizeof(v), cfield_u64(c, k));
			fputs(v, fp);
			break;
		case T_DURATION:
			fmt_duration(v, sizeof(v), cfield_u64(c, k));
			fputs(v, fp);
			break;
		case T_CHOICE:
			fputs(choice_name(k, cfield_int(c, k)), fp);
			break;
		case T_LOG_LEVEL:
			fputs(log_level_name(cfield_int(c, k)), fp);
			break;
		case T_UIDS:
		case T_GIDS:
			print_ids(fp, cfield_ids(c, k));
			break;
		case T_RATE:
			print_rate(fp, cfield_rate(c, k));
			break;
		}
		fputc('\n', fp);
	}
}

size_t
conf_key_count(void)
{
	return NKEYS;
}

static void
key_info(const struct conf_key *k, struct conf_keyinfo *out)
{
	out->name = k->name;
	out->restart = (k->flags & F_RESTART) != 0;
	out->secret = (k->flags & F_SECRET) != 0;
}

int
conf_key_info(size_t i, struct conf_keyinfo *out)
{
	if (i >= NKEYS)
		return -1;
	key_info(&conf_keys[i], out);
	return 0;
}

/* Whether key k has the same value in a and b. */
static int
key_same(const struct conf *a, const struct conf *b, const struct conf_key *k)
{
	const struct conf_ids *ia, *ib;
	const struct conf_rate *ra, *rb;

	switch (k->type) {
	case T_STRING:
	case T_HOSTPORT:
	case T_URL:
		return strcmp(cfield_str(a, k), cfield_str(b, k)) == 0;
	case T_MODE:
		return cfield_mode(a, k) == cfield_mode(b, k);
	case T_BOOL:
	case T_CHOICE:
	case T_LOG_LEVEL:
		return cfield_int(a, k) == cfield_int(b, k);
	case T_COUNT:
	case T_SIZE:
	case T_DURATION:
		return cfield_u64(a, k) == cfield_u64(b, k);
	case T_UIDS:
	case T_GIDS:
		ia = cfield_ids(a, k);
		ib = cfield_ids(b, k);
		return ia->n == ib->n &&
		    (ia->n == 0 ||
		        memcmp(ia->ids, ib->ids, ia->n * sizeof(id_t)) == 0);
	case T_RATE:
		ra = (const struct conf_rate *)(const void *)((const char *)a +
		    k->off);
		rb = (const struct conf_rate *)(const void *)((const char *)b +
		    k->off);
		return ra->per_s == rb->per_s && ra->bytes == rb->bytes;
	}
	return 0;
}

int
conf_diff(
    const struct conf *old, const struct conf *new, conf_diff_fn *cb, void *arg)
{
	struct conf_keyinfo info;
	size_t i;
	int n = 0;

	for (i = 0; i < NKEYS; i++) {
		if (key_same(old, new, &conf_keys[i]))
			continue;
		key_info(&conf_keys[i], &info);
		cb(&info, arg);
		n++;
	}
	return n;
}

/*
 * Finds the key in s: surrounding white space trimmed, and only visible
 * ASCII inside, since it goes into an Authorization header where anything
 * else would be refused or would break the header. 0 with *start and *len
 * set, or -1 with *why set (never quoting the text).
 */
static int
key_text(const char *s, const char **start, size_t *len, const char **why)
{
	const char *p = s, *e;

	while (isspace((unsigned char)*p))
		p++;
	e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	if (e == p) {
		*why = "empty";
		return -1;
	}
	*start = p;
	*len = (size_t)(e - p);
	for (; p < e; p++) {
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			*why = "contains white space or a byte that is not "
			       "visible ASCII";
			return -1;
		}
	}
	return 0;
}

/*
 * Reads a key file into a heap string, white space trimmed. what names the
 * source in errors. Returns 0, 1 when the file does not exist or holds only
 * white space and missing_ok is set, or -1 with err set. (systemd refuses to
 * start a unit whose LoadCredential= file is missing, so an installed but
 * still empty credential must mean "no key yet": the daemon spools.) The buffer
 * is wiped before it is freed: it held the secret.
 */
static int
read_key_file(const char *what, const char *path, int missing_ok, char **key,
    char *err, size_t errlen)
{
	char *data = NULL, ebuf[128];
	const char *p, *why;
	struct stat st;
	size_t len = 0, klen;
	ssize_t n;
	int fd, rc = -1;

	/* O_NONBLOCK: a FIFO at that path must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd == -1) {
		if (errno == ENOENT && missing_ok)
			return 1;
		snprintf(err, errlen, "%s %s: %s", what, path,
		    errstr(errno, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path,
		    errstr(errno, ebuf, sizeof(ebuf)));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		goto fail;
	}
	if (st.st_size > API_KEY_MAX) {
		snprintf(err, errlen, "%s %s: larger than %d bytes", what, path,
		    API_KEY_MAX);
		goto fail;
	}
	data = malloc(API_KEY_MAX + 2);
	if (data == NULL) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		goto fail;
	}
	/* Read one byte past the limit to catch a file that grew. */
	while (len < API_KEY_MAX + 1) {
		n = read(fd, data + len, API_KEY_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s %s: %s", what, path,
			    errstr(errno, ebuf, sizeof(ebuf)));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > API_KEY_MAX) {
		snprintf(err, errlen, "%s %s: larger than %d bytes", what, path,
		    API_KEY_MAX);
		goto fail;
	}
	data[len] = '\0';
	if (missing_ok && strspn(data, " \t\r\n\v\f") == len) {
		rc = 1;
		goto fail;
	}
	if (memchr(data, '\0', len) != NULL) {
		snprintf(err, errlen, "%s %s: contains a NUL byte", what, path);
		goto fail;
	}
	if (key_text(data, &p, &klen, &why) == -1) {
		snprintf(err, errlen, "%s %s: %s", what, path, why);
		goto fail;
	}
	*key = strndup(p, klen);
	if (*key == NULL) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		goto fail;
	}
	rc = 0;
fail:
	if (data != NULL) {
		explicit_bzero(data, API_KEY_MAX + 2);
		free(data);
	}
	close(fd);
	return rc;
}

int
conf_api_key_load(const struct conf *c, char **key, char *err, size_t errlen)
{
	struct buf path;
	const char *dir, *env, *p, *why;
	size_t len;
	int rc;

	*key = NULL;
	if (c->api_key_file[0] != '\0')
		return read_key_file(
		    "api_key_file", c->api_key_file, 0, key, err, errlen);

	/*
	 * systemd sets CREDENTIALS_DIRECTORY for any credential of the unit;
	 * a directory without api_key just means the key comes from
	 * elsewhere.
	 */
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir != NULL && *dir != '\0') {
		buf_init(&path);
		if (buf_printf(&path, "%s/api_key", dir) == -1) {
			snprintf(err, errlen,
			    "$CREDENTIALS_DIRECTORY/api_key: out of memory");
			return -1;
		}
		rc =
		    read_key_file("credential", path.data, 1, key, err, errlen);
		buf_free(&path);
		if (rc != 1)
			return rc;
	}

	env = getenv(ENV_API_KEY);
	if (env == NULL)
		return 0;
	if (key_text(env, &p, &len, &why) == -1) {
		snprintf(err, errlen, "%s: %s", ENV_API_KEY, why);
		return -1;
	}
	*key = strndup(p, len);
	if (*key == NULL) {
		snprintf(err, errlen, "%s: out of memory", ENV_API_KEY);
		return -1;
	}
	return 0;
}

int
conf_redact_key_load(const struct conf *c, char **key, char *err, size_t errlen)
{
	struct buf path;
	const char *dir;
	int rc;

	*key = NULL;
	if (c->redact_hash_key_file[0] != '\0')
		return read_key_file("redact_hash_key_file",
		    c->redact_hash_key_file, 0, key, err, errlen);
	dir = getenv("CREDENTIALS_DIRECTORY");
	if (dir == NULL || *dir == '\0')
		return 0;
	buf_init(&path);
	if (buf_printf(&path, "%s/redact_hash_key", dir) == -1) {
		snprintf(err, errlen,
		    "$CREDENTIALS_DIRECTORY/redact_hash_key: out of memory");
		return -1;
	}
	rc = read_key_file("credential", path.data, 1, key, err, errlen);
	buf_free(&path);
	return rc == 1 ? 0 : rc;
}
