/* test_forwarder.c: the forwarder against a real spool and a fake upstream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/clock.h"
#include "forwarder/forwarder.h"
#include "forwarder/upstream.h"
#include "common/kind.h"
#include "spool/spool.h"

#define DAY_MS (24ULL * 3600 * 1000)

/*
 * Poll for cond every 10 ms until it holds or ms have passed; then it must
 * hold. Every wait in this file is bounded this way.
 */
#define WAIT_UNTIL(cond, ms)                                                   \
	do {                                                                   \
		uint64_t dl_ = clock_mono_ms() + (ms);                         \
		while (!(cond) && clock_mono_ms() < dl_)                       \
			usleep(10 * 1000);                                     \
		assert_true(cond);                                             \
	} while (0)

struct fixture {
	char dir[64];
	char logpath[128];
	char url[64];
	struct spool *sp;
	pid_t fake;
	int port;
	/* Only one write transaction per process: the writer and appends. */
	pthread_mutex_t wlock;
	atomic_int write_errors;
	struct fwd *fwd;
};

/* The writer the forwarder calls on its thread: direct transactions. */
static void
w_remove(void *arg, const uint64_t *seqs, size_t n)
{
	struct fixture *fx = arg;
	struct spool_txn *t;

	pthread_mutex_lock(&fx->wlock);
	if (spool_txn_begin(fx->sp, &t) != SPOOL_OK) {
		atomic_fetch_add(&fx->write_errors, 1);
	} else if (spool_txn_delete(t, seqs, n) != SPOOL_OK) {
		spool_txn_abort(t);
		atomic_fetch_add(&fx->write_errors, 1);
	} else if (spool_txn_commit(t) != SPOOL_OK) {
		atomic_fetch_add(&fx->write_errors, 1);
	}
	pthread_mutex_unlock(&fx->wlock);
}

static void
w_bury(
    void *arg, uint64_t seq, int status, uint32_t attempts, const char *reason)
{
	struct fixture *fx = arg;
	struct spool_txn *t;

	pthread_mutex_lock(&fx->wlock);
	if (spool_txn_begin(fx->sp, &t) != SPOOL_OK) {
		atomic_fetch_add(&fx->write_errors, 1);
	} else if (spool_txn_bury(t, seq, status, attempts, reason,
	               clock_wall_ms()) != SPOOL_OK) {
		spool_txn_abort(t);
		atomic_fetch_add(&fx->write_errors, 1);
	} else if (spool_txn_commit(t) != SPOOL_OK) {
		atomic_fetch_add(&fx->write_errors, 1);
	}
	pthread_mutex_unlock(&fx->wlock);
}

/* Append records as one transaction and wake the forwarder if running. */
static void
append(struct fixture *fx, const struct spool_rec *recs, size_t n)
{
	struct spool_txn *t;
	uint64_t first;

	pthread_mutex_lock(&fx->wlock);
	assert_int_equal(spool_txn_begin(fx->sp, &t), SPOOL_OK);
	assert_int_equal(spool_txn_append(t, recs, n, &first), SPOOL_OK);
	assert_int_equal(spool_txn_commit(t), SPOOL_OK);
	pthread_mutex_unlock(&fx->wlock);
	if (fx->fwd != NULL)
		fwd_wake(fx->fwd, first + n);
}

/* Append events named prefix<from> .. prefix<to - 1> received at t. */
static void
append_events(struct fixture *fx, int kind, const char *prefix, int from,
    int to, uint64_t t)
{
	struct spool_rec *recs;
	char **texts;
	size_t n = (size_t)(to - from), i;

	recs = calloc(n, sizeof(*recs));
	texts = calloc(n, sizeof(*texts));
	assert_non_null(recs);
	assert_non_null(texts);
	for (i = 0; i < n; i++) {
		int id = from + (int)i;
		int len = asprintf(&texts[i],
		    "{\"event_id\":\"%s-id-%d\",\"event_name\":\"%s%d\","
		    "\"event_type\":\"tool\",\"inputs\":{\"i\":%d}}",
		    prefix, id, prefix, id, id);

		assert_true(len > 0);
		recs[i].kind = (uint8_t)kind;
		recs[i].time_ms = t;
		recs[i].data = texts[i];
		recs[i].len = (size_t)len;
	}
	append(fx, recs, n);
	for (i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	free(recs);
}

static void
append_one(struct fixture *fx, int kind, const char *text)
{
	struct spool_rec r = {.kind = (uint8_t)kind,
	    .time_ms = clock_wall_ms(),
	    .data = text,
	    .len = strlen(text)};

	append(fx, &r, 1);
}

static struct spool_stats
sstat(struct fixture *fx)
{
	struct spool_stats st;

	assert_int_equal(spool_stat(fx->sp, &st), SPOOL_OK);
	return st;
}

static struct fwd_stats
fwdstat(struct fixture *fx)
{
	struct fwd_stats st;

	fwd_get_stats(fx->fwd, &st);
	return st;
}

/*
 * A tiny HTTP/1.1 client for the fake's control endpoints, so that only
 * upstream.c speaks libcurl. Returns the status; the body goes to out.
 */
static int
http_call(int port, const char *method, const char *path, const char *body,
    char *out, size_t outlen)
{
	struct sockaddr_in sin;
	struct timeval tv = {5, 0};
	char req[1024], resp[8192], *b;
	size_t got = 0;
	ssize_t r;
	int fd, n, status;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	n = snprintf(req, sizeof(req),
	    "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: "
	    "close\r\n\r\n%s",
	    method, path, strlen(body), body);
	assert_true(n > 0 && (size_t)n < sizeof(req));
	assert_int_equal(write(fd, req, (size_t)n), n);
	while (got < sizeof(resp) - 1 &&
	    (r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)r;
	close(fd);
	resp[got] = '\0';
	assert_true(got > 12 && strncmp(resp, "HTTP/1.1 ", 9) == 0);
	status = (int)strtol(resp + 9, NULL, 10);
	if (out != NULL) {
		b = strstr(resp, "\r\n\r\n");
		snprintf(out, outlen, "%s", b != NULL ? b + 4 : "");
	}
	return status;
}

static void
control(struct fixture *fx, const char *json)
{
	assert_int_equal(
	    http_call(fx->port, "POST", "/_control", json, NULL, 0), 200);
}

/* Every complete line of the fake's log, parsed, as one JSON array. */
static cJSON *
read_log(struct fixture *fx)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	FILE *fp = fopen(fx->logpath, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	assert_non_null(fp);
	while ((len = getline(&line, &cap, fp)) > 0) {
		/* The fake may be writing the last line right now. */
		if (line[len - 1] != '\n')
			break;
		o = cJSON_Parse(line);
		assert_non_null(o);
		cJSON_AddItemToArray(arr, o);
	}
	free(line);
	fclose(fp);
	return arr;
}

static int
log_count(struct fixture *fx)
{
	cJSON *a = read_log(fx);
	int n = cJSON_GetArraySize(a);

	cJSON_Delete(a);
	return n;
}

static const char *
str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double
num_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

/*
 * The event names delivered (answered 200) on path, in the order sent,
 * joined by spaces, with the authorization every such request carried.
 */
static char *
delivered_names(struct fixture *fx, const char *path, const char *auth)
{
	cJSON *log = read_log(fx), *req, *ev;
	const char *member =
	    strcmp(path, "/events/batch") == 0 ? "events" : "model_events";
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);

	assert_non_null(m);
	cJSON_ArrayForEach(req, log) {
		cJSON *body = cJSON_GetObjectItemCaseSensitive(req, "body");

		if (num_of(req, "answered") != 200 ||
		    strcmp(str_of(req, "path"), path) != 0)
			continue;
		if (auth != NULL)
			assert_string_equal(str_of(req, "authorization"), auth);
		cJSON_ArrayForEach(
		    ev, cJSON_GetObjectItemCaseSensitive(body, member)) {
			fprintf(m, "%s%s", ftell(m) > 0 ? " " : "",
			    str_of(ev, "event_name"));
		}
	}
	fclose(m);
	cJSON_Delete(log);
	return out;
}

/* "prefix<from> ... prefix<to - 1>", skipping one index (or -1). */
static char *
names(const char *prefix, int from, int to, int skip)
{
	char *out = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&out, &len);
	int i;

	assert_non_null(m);
	for (i = from; i < to; i++) {
		if (i != skip)
			fprintf(
			    m, "%s%s%d", ftell(m) > 0 ? " " : "", prefix, i);
	}
	fclose(m);
	return out;
}

static int
cmp_names(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* The words of s (changed in place) in version order: "e2" before "e10". */
static void
sort_words(char *s, char *out, size_t outlen)
{
	char *words[4096] = {NULL}, *w, *sp;
	size_t n = 0, i, used = 0;

	for (w = s; *w != '\0' && n < 4096; w = sp + 1) {
		words[n++] = w;
		if ((sp = strchr(w, ' ')) == NULL)
			break;
		*sp = '\0';
	}
	qsort(words, n, sizeof(*words), cmp_names);
	out[0] = '\0';
	for (i = 0; i < n && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s",
		    i > 0 ? " " : "", words[i]);
}

/*
 * Within each delivered request on path, the events keep spool order: the
 * numbers after their names' prefix ascend.
 */
static void
assert_requests_ascend(struct fixture *fx, const char *path)
{
	cJSON *log = read_log(fx), *req, *ev;
	const char *member =
	    strcmp(path, "/events/batch") == 0 ? "events" : "model_events";
	const char *name, *p;
	long prev, v;

	cJSON_ArrayForEach(req, log) {
		if (num_of(req, "answered") != 200 ||
		    strcmp(str_of(req, "path"), path) != 0)
			continue;
		prev = -1;
		cJSON_ArrayForEach(ev,
		    cJSON_GetObjectItemCaseSensitive(
		        cJSON_GetObjectItemCaseSensitive(req, "body"),
		        member)) {
			name = str_of(ev, "event_name");
			for (p = name; *p != '\0' && (*p < '0' || *p > '9');
			     p++)
				;
			v = strtol(p, NULL, 10);
			if (v <= prev)
				fail_msg(
				    "request out of spool order at %s", name);
			prev = v;
		}
	}
	cJSON_Delete(log);
}

/*
 * Names prefix<from> .. prefix<to - 1> but skip were delivered on path,
 * each exactly once, with auth (NULL: any). Requests may be answered in
 * any order when several are in flight; each keeps spool order inside.
 */
static void
assert_delivered(struct fixture *fx, const char *path, const char *auth,
    const char *prefix, int from, int to, int skip)
{
	char *got = delivered_names(fx, path, auth);
	char *want = names(prefix, from, to, skip);
	char *sorted = malloc(strlen(got) + 1);

	assert_non_null(sorted);
	sort_words(got, sorted, strlen(got) + 1);
	assert_string_equal(sorted, want);
	assert_requests_ascend(fx, path);
	free(sorted);
	free(got);
	free(want);
}

/* Wait for the forwarder to be in state; *st is the snapshot showing it. */
static void
wait_state(struct fixture *fx, int state, unsigned ms, struct fwd_stats *st)
{
	uint64_t deadline = clock_mono_ms() + ms;

	for (;;) {
		fwd_get_stats(fx->fwd, st);
		if (st->state == state || clock_mono_ms() >= deadline)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st->state, state);
}

static void
default_opts(struct fixture *fx, struct fwd_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->upstream_url = fx->url;
	o->ca_file = NULL;
	o->batch_max_events = 100;
	o->batch_max_bytes = 4 << 20;
	o->flush_interval_ms = 20;
	o->retry_initial_ms = 50;
	o->retry_max_ms = 200;
	o->request_timeout_ms = 5000;
	o->max_event_age_ms = 7 * DAY_MS;
	o->upload_concurrency = 8;
	/* Waits of the tests are exact; test_recovery_spread sets it. */
	o->recovery_spread_ms = 0;
}

static void
start_fwd(struct fixture *fx, const struct fwd_opts *o, const char *key)
{
	struct fwd_writer w = {w_remove, w_bury, fx};

	assert_int_equal(fwd_start(&fx->fwd, fx->sp, o, &w, key), 0);
}

static void
stop_fwd(struct fixture *fx)
{
	fwd_stop(fx->fwd, 1000);
	fx->fwd = NULL;
}

static int
start_fake(struct fixture *fx)
{
	const char *bin = getenv("TS_FAKE_UPSTREAM"), *build;
	char path[512];
	struct pollfd pfd;
	char line[64];
	size_t got = 0;
	uint64_t deadline = clock_mono_ms() + 5000;
	int p[2];

	/* Beside this test in the build tree tests/run.sh runs (BUILD). */
	if (bin == NULL && (build = getenv("BUILD")) != NULL) {
		snprintf(path, sizeof(path), "%s/tests/fake_upstream", build);
		bin = path;
	}
	if (bin == NULL)
		bin = "build/tests/fake_upstream";
	if (pipe(p) == -1)
		return -1;
	if ((fx->fake = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (fx->fake == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execl(bin, bin, "-p", "0", "-l", fx->logpath, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (got < sizeof(line) - 1 && memchr(line, '\n', got) == NULL &&
	    clock_mono_ms() < deadline) {
		ssize_t r;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((r = read(p[0], line + got, sizeof(line) - 1 - got)) <= 0)
			break;
		got += (size_t)r;
	}
	close(p[0]);
	line[got] = '\0';
	if (strncmp(line, "port=", 5) != 0) {
		fprintf(stderr, "fake upstream %s did not start\n", bin);
		return -1;
	}
	fx->port = (int)strtol(line + 5, NULL, 10);
	/* A trailing slash, which the forwarder must not double. */
	snprintf(fx->url, sizeof(fx->url), "http://127.0.0.1:%d/", fx->port);
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct spool_opts so = {0};
	char spooldir[128], err[256];
	int n;

	if (fx == NULL)
		return -1;
	pthread_mutex_init(&fx->wlock, NULL);
	/* mkdtemp's template: six capital X after the prefix. */
	n = snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_forwarder.");
	memset(fx->dir + n, 'X', 6);
	fx->dir[n + 6] = '\0';
	if (mkdtemp(fx->dir) == NULL) {
		fx->dir[0] = '\0';
		goto fail;
	}
	snprintf(fx->logpath, sizeof(fx->logpath), "%s/upstream.log", fx->dir);
	snprintf(spooldir, sizeof(spooldir), "%s/spool", fx->dir);
	so.dir = spooldir;
	so.max_bytes = 64 << 20;
	so.sync_full = 0;
	if (spool_open(&fx->sp, &so, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "spool_open: %s\n", err);
		goto fail;
	}
	if (start_fake(fx) == -1)
		goto fail;
	*state = fx;
	return 0;
fail:
	if (fx->fake > 0) {
		kill(fx->fake, SIGTERM);
		waitpid(fx->fake, NULL, 0);
	}
	spool_close(fx->sp);
	if (fx->dir[0] != '\0')
		nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&fx->wlock);
	free(fx);
	return -1;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int status = -1;

	if (fx->fwd != NULL)
		stop_fwd(fx);
	assert_int_equal(atomic_load(&fx->write_errors), 0);
	kill(fx->fake, SIGTERM);
	waitpid(fx->fake, &status, 0);
	spool_close(fx->sp);
	pthread_mutex_destroy(&fx->wlock);
	nftw(fx->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	/* The fake exits 0 on SIGTERM, sanitizer reports would make it not. */
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return 0;
}

static void
test_delivers_in_order(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	int i;

	for (i = 0; i < 1000; i += 100)
		append_events(fx, KIND_EVENT, "e", i, i + 100, clock_wall_ms());
	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 10000);
	assert_delivered(
	    fx, "/events/batch", "Bearer test-key", "e", 0, 1000, -1);
	wait_state(fx, FWD_IDLE, 2000, &st);
	assert_int_equal(st.events_forwarded, 1000);
	assert_int_equal(st.requests_2xx, 10);
	assert_int_equal(st.requests_4xx + st.requests_5xx + st.retries, 0);
	assert_int_equal(st.last_status, 200);
	assert_true(st.last_status_ms > 0);
	assert_string_equal(st.reason, "");
	assert_string_equal(fwd_state_name(st.state), "idle");
	assert_int_equal(log_count(fx), 10);
}

static void
test_retries_5xx(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;

	control(fx, "{\"mode\":\"status\",\"status\":500}");
	append_events(fx, KIND_EVENT, "e", 0, 30, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 10;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(log_count(fx) >= 4, 5000);
	wait_state(fx, FWD_BACKOFF, 2000, &st);
	assert_true(strncmp(st.reason, "upstream 500, retry in ", 23) == 0);
	assert_true(st.requests_5xx >= 4);
	assert_true(st.retries >= 4);
	assert_int_equal(st.last_status, 500);
	assert_int_equal(st.events_forwarded, 0);
	assert_int_equal(sstat(fx).events, 30);

	control(fx, "{\"mode\":\"ok\"}");
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	assert_delivered(
	    fx, "/events/batch", "Bearer test-key", "e", 0, 30, -1);
	assert_int_equal(sstat(fx).dead, 0);
	wait_state(fx, FWD_IDLE, 2000, &st);
	assert_int_equal(st.events_forwarded, 30);
	assert_int_equal(st.requests_2xx, 3);
	assert_string_equal(st.reason, "");
}

static void
test_retry_after(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	cJSON *log;
	double t0, t1;

	control(
	    fx, "{\"mode\":\"status\",\"status\":429,\"retry_after\":\"2\"}");
	append_events(fx, KIND_EVENT, "e", 0, 5, clock_wall_ms());
	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(log_count(fx) >= 1, 5000);
	control(fx, "{\"mode\":\"ok\"}");
	wait_state(fx, FWD_BACKOFF, 1000, &st);
	assert_string_equal(st.reason, "upstream 429, retry in 2.0s");
	assert_int_equal(st.backoff_ms, 2000);
	WAIT_UNTIL(sstat(fx).events == 0, 5000);

	log = read_log(fx);
	assert_int_equal(cJSON_GetArraySize(log), 2);
	assert_int_equal(num_of(cJSON_GetArrayItem(log, 0), "answered"), 429);
	assert_int_equal(num_of(cJSON_GetArrayItem(log, 1), "answered"), 200);
	t0 = num_of(cJSON_GetArrayItem(log, 0), "t_ms");
	t1 = num_of(cJSON_GetArrayItem(log, 1), "t_ms");
	/* Retry-After beats the 50 ms backoff; 1 ms for the clock's cut. */
	assert_true(t1 - t0 >= 1999);
	cJSON_Delete(log);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 5, -1);
}

static void
test_auth_pause_and_new_key(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	cJSON *log, *req;
	uint64_t t;

	control(fx, "{\"mode\":\"auth\",\"key\":\"good-key\"}");
	append_events(fx, KIND_EVENT, "e", 0, 10, clock_wall_ms());
	default_opts(fx, &o);
	start_fwd(fx, &o, "bad-key");
	WAIT_UNTIL(log_count(fx) >= 3, 5000);
	wait_state(fx, FWD_PAUSED, 1000, &st);
	assert_string_equal(st.reason, "upstream 401: check the API key");
	assert_true(st.requests_4xx >= 3);
	assert_int_equal(st.last_status, 401);
	assert_int_equal(st.dead_letters, 0);
	assert_int_equal(sstat(fx).events, 10);
	assert_int_equal(sstat(fx).dead, 0);

	/*
	 * Make the pause long, then show that a new key ends it at once
	 * rather than after the backoff.
	 */
	o.retry_initial_ms = 20000;
	o.retry_max_ms = 40000;
	assert_int_equal(fwd_set_opts(fx->fwd, &o), 0);
	WAIT_UNTIL(fwdstat(fx).backoff_ms >= 20000, 2000);
	assert_int_equal(fwdstat(fx).state, FWD_PAUSED);
	t = clock_mono_ms();
	fwd_set_key(fx->fwd, "good-key");
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	assert_true(clock_mono_ms() - t < 2000);
	assert_int_equal(sstat(fx).dead, 0);

	log = read_log(fx);
	cJSON_ArrayForEach(req, log) {
		const char *auth = str_of(req, "authorization");

		if (num_of(req, "answered") == 401)
			assert_string_equal(auth, "Bearer bad-key");
		else
			assert_string_equal(auth, "Bearer good-key");
	}
	cJSON_Delete(log);
	assert_delivered(
	    fx, "/events/batch", "Bearer good-key", "e", 0, 10, -1);
	WAIT_UNTIL(fwdstat(fx).state == FWD_IDLE, 2000);
}

static void
test_poison_isolated(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	struct spool_dead *dead;
	size_t ndead, i;
	uint64_t seq0 = sstat(fx).next_seq;

	control(fx,
	    "{\"mode\":\"reject_name\",\"name\":\"poison\",\"status\":400}");
	append_events(fx, KIND_EVENT, "e", 0, 17, clock_wall_ms());
	append_one(
	    fx, KIND_EVENT, "{\"event_id\":\"p\",\"event_name\":\"poison\"}");
	append_events(fx, KIND_EVENT, "e", 18, 50, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 50;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0 && sstat(fx).dead == 1, 10000);
	assert_delivered(
	    fx, "/events/batch", "Bearer test-key", "e", 0, 50, 17);

	assert_int_equal(
	    spool_dead_list(fx->sp, 0, 10, &dead, &ndead), SPOOL_OK);
	assert_int_equal(ndead, 1);
	assert_int_equal(dead[0].status, 400);
	assert_int_equal(dead[0].seq, seq0 + 17);
	assert_true(dead[0].attempts >= 2);
	assert_string_equal(
	    dead[0].data, "{\"event_id\":\"p\",\"event_name\":\"poison\"}");
	assert_string_equal(dead[0].reason,
	    "upstream 400: {\"success\":false,\"error\":\"rejected "
	    "event_name poison\"}");
	for (i = 0; i < ndead; i++)
		spool_dead_clear(&dead[i]);
	free(dead);

	wait_state(fx, FWD_IDLE, 2000, &st);
	assert_int_equal(st.dead_letters, 1);
	assert_int_equal(st.events_forwarded, 49);
	assert_true(st.requests_4xx >= 2);
	/* Splitting is not backing off: no waits were needed. */
	assert_int_equal(st.retries, 0);
}

static void
test_expiry(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct spool_dead *dead;
	size_t ndead, i;

	append_events(
	    fx, KIND_EVENT, "old", 0, 3, clock_wall_ms() - 10 * DAY_MS);
	append_events(fx, KIND_EVENT, "new", 0, 2, clock_wall_ms());
	append_events(
	    fx, KIND_EVENT, "old", 3, 4, clock_wall_ms() - 8 * DAY_MS);
	append_events(
	    fx, KIND_EVENT, "new", 2, 3, clock_wall_ms() - 6 * DAY_MS);
	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0 && sstat(fx).dead == 4, 5000);
	assert_delivered(
	    fx, "/events/batch", "Bearer test-key", "new", 0, 3, -1);
	assert_int_equal(
	    spool_dead_list(fx->sp, 0, 10, &dead, &ndead), SPOOL_OK);
	assert_int_equal(ndead, 4);
	for (i = 0; i < ndead; i++) {
		assert_int_equal(dead[i].status, 0);
		assert_string_equal(
		    dead[i].reason, "expired: older than max_event_age");
		assert_non_null(strstr(dead[i].data, "\"old"));
		spool_dead_clear(&dead[i]);
	}
	free(dead);
	WAIT_UNTIL(fwdstat(fx).dead_letters == 4, 1000);
}

/* One request of the fake's log, as the order checks see it. */
struct sent {
	int answered;
	double n_in, n_out, t_ms, t_answer_ms;
	char path[64];
	int *ids; /* spool indexes of its records: identities "r<index>" */
	int nids;
};

static void
sent_free(struct sent *q, int n)
{
	for (int i = 0; i < n; i++)
		free(q[i].ids);
	free(q);
}

static void
sent_add_id(struct sent *q, const char *id)
{
	if (id == NULL || id[0] != 'r')
		return;
	q->ids = realloc(q->ids, (size_t)(q->nids + 1) * sizeof(*q->ids));
	assert_non_null(q->ids);
	q->ids[q->nids++] = (int)strtol(id + 1, NULL, 10);
}

/* Every logged request with the identities of the records it carried. */
static struct sent *
load_sent(struct fixture *fx, int *n)
{
	cJSON *log = read_log(fx), *req, *body, *ev;
	struct sent *out;
	int k = 0;

	*n = cJSON_GetArraySize(log);
	out = calloc((size_t)*n + 1, sizeof(*out));
	assert_non_null(out);
	cJSON_ArrayForEach(req, log) {
		struct sent *q = &out[k++];
		const char *path = str_of(req, "path");

		q->answered = (int)num_of(req, "answered");
		q->n_in = num_of(req, "n_in");
		q->n_out = num_of(req, "n_out");
		q->t_ms = num_of(req, "t_ms");
		q->t_answer_ms = num_of(req, "t_answer_ms");
		snprintf(q->path, sizeof(q->path), "%s", path);
		body = cJSON_GetObjectItemCaseSensitive(req, "body");
		if (strcmp(path, "/events/batch") == 0 ||
		    strcmp(path, "/events/model/batch") == 0) {
			cJSON *list = cJSON_GetObjectItemCaseSensitive(body,
			    strcmp(path, "/events/batch") == 0
			        ? "events"
			        : "model_events");

			cJSON_ArrayForEach(ev, list) {
				sent_add_id(q, str_of(ev, "event_id"));
			}
		} else if (strcmp(path, "/session/start") == 0) {
			sent_add_id(q,
			    str_of(cJSON_GetObjectItemCaseSensitive(
			               body, "session"),
			        "session_id"));
		} else {
			sent_add_id(q, str_of(body, "event_id"));
		}
	}
	cJSON_Delete(log);
	return out;
}

/*
 * The forwarder's order rules, checked on the fake's log for nrec records
 * whose identities are r0 .. r<nrec - 1> in spool order, of kinds[i]:
 *   - each record is settled exactly once: answered 2xx once, or, when
 *     poison[i], rejected alone (and then never delivered);
 *   - nothing spooled after a session start reaches the upstream before
 *     the session start's acceptance was answered;
 *   - an update reaches the upstream, every time it is sent, only after
 *     every record spooled before it was settled.
 * "After" is the fake's sequence of arrivals and answers (n_in, n_out).
 */
static void
assert_order_rules(
    struct fixture *fx, const int *kinds, const int *poison, int nrec)
{
	struct sent *q;
	double *settle = calloc((size_t)nrec, sizeof(double));
	double *later_in = calloc((size_t)nrec, sizeof(double));
	int *times = calloc((size_t)nrec, sizeof(int));
	double before;
	int nq, i, j, k, hi;

	assert_true(settle != NULL && later_in != NULL && times != NULL);
	q = load_sent(fx, &nq);
	for (i = 0; i < nrec; i++)
		later_in[i] = 1e18;
	for (k = 0; k < nq; k++) {
		int ok = q[k].answered >= 200 && q[k].answered <= 299;
		int alone_reject = q[k].nids == 1 &&
		    (q[k].answered == 400 || q[k].answered == 422);

		hi = -1;
		for (j = 0; j < q[k].nids; j++) {
			i = q[k].ids[j];
			assert_true(i >= 0 && i < nrec);
			if (i > hi)
				hi = i;
			if (ok || (alone_reject && poison[i])) {
				times[i]++;
				settle[i] = q[k].n_out;
			}
			if (ok && poison[i])
				fail_msg("poison record r%d was accepted", i);
		}
		for (i = 0; i < hi; i++) {
			if (q[k].n_in < later_in[i])
				later_in[i] = q[k].n_in;
		}
	}
	for (i = 0; i < nrec; i++) {
		if (times[i] != 1)
			fail_msg("record r%d settled %d times, want once", i,
			    times[i]);
		if (kinds[i] == KIND_SESSION && later_in[i] < settle[i])
			fail_msg("a record after session r%d was sent (n_in "
			         "%.0f) before the session was accepted "
			         "(n_out %.0f)",
			    i, later_in[i], settle[i]);
	}
	for (k = 0; k < nq; k++) {
		if (q[k].nids != 1 || kinds[q[k].ids[0]] != KIND_UPDATE)
			continue;
		i = q[k].ids[0];
		before = 0;
		for (j = 0; j < i; j++) {
			if (settle[j] > before)
				before = settle[j];
		}
		if (q[k].n_in < before)
			fail_msg("update r%d was sent (n_in %.0f) before an "
			         "earlier record was settled (n_out %.0f)",
			    i, q[k].n_in, before);
	}
	sent_free(q, nq);
	free(settle);
	free(later_in);
	free(times);
}

/* The fake's GET /_count member name. */
static double
fake_count(struct fixture *fx, const char *name)
{
	char out[512];
	cJSON *o;
	double v;

	assert_int_equal(
	    http_call(fx->port, "GET", "/_count", "", out, sizeof(out)), 200);
	o = cJSON_Parse(out);
	assert_non_null(o);
	v = num_of(o, name);
	cJSON_Delete(o);
	return v;
}

static void
test_kinds_in_order(void **state)
{
	static const struct {
		int kind;
		const char *text;
	} recs[] = {
	    {KIND_EVENT, "{\"event_id\":\"r0\",\"event_name\":\"e1\"}"},
	    {KIND_EVENT, "{\"event_id\":\"r1\",\"event_name\":\"e2\"}"},
	    {KIND_SESSION, "{\"session\":{\"session_id\":\"r2\"}}"},
	    {KIND_EVENT, "{\"event_id\":\"r3\",\"event_name\":\"e3\"}"},
	    {KIND_UPDATE, "{\"event_id\":\"r4\",\"metadata\":{}}"},
	    {KIND_MODEL_EVENT, "{\"event_id\":\"r5\",\"event_name\":\"m1\"}"},
	    {KIND_MODEL_EVENT, "{\"event_id\":\"r6\",\"event_name\":\"m2\"}"},
	    {KIND_EVENT, "{\"event_id\":\"r7\",\"event_name\":\"e4\"}"},
	};
	/* Each request once, in some order the rules allow. */
	static const char *const want[] = {
	    "POST /events/batch {\"events\":[{\"event_id\":\"r0\","
	    "\"event_name\":\"e1\"},{\"event_id\":\"r1\",\"event_name\":"
	    "\"e2\"}]}",
	    "POST /session/start {\"session\":{\"session_id\":\"r2\"}}",
	    "POST /events/batch {\"events\":[{\"event_id\":\"r3\","
	    "\"event_name\":\"e3\"}]}",
	    "PUT /events {\"event_id\":\"r4\",\"metadata\":{}}",
	    "POST /events/model/batch {\"model_events\":[{\"event_id\":\"r5\","
	    "\"event_name\":\"m1\"},{\"event_id\":\"r6\",\"event_name\":"
	    "\"m2\"}]}",
	    "POST /events/batch {\"events\":[{\"event_id\":\"r7\","
	    "\"event_name\":\"e4\"}]}",
	};
	static const int kinds[] = {KIND_EVENT, KIND_EVENT, KIND_SESSION,
	    KIND_EVENT, KIND_UPDATE, KIND_MODEL_EVENT, KIND_MODEL_EVENT,
	    KIND_EVENT};
	static const int poison[8] = {0};
	struct fixture *fx = *state;
	struct spool_rec r[8] = {0};
	struct fwd_opts o;
	cJSON *log, *req;
	size_t i, k;
	int seen[6] = {0};

	control(fx, "{\"mode\":\"ok\",\"latency_ms\":50}");
	for (i = 0; i < 8; i++) {
		r[i].kind = (uint8_t)recs[i].kind;
		r[i].time_ms = clock_wall_ms();
		r[i].data = recs[i].text;
		r[i].len = strlen(recs[i].text);
	}
	append(fx, r, 8);
	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	log = read_log(fx);
	assert_int_equal(cJSON_GetArraySize(log), 6);
	cJSON_ArrayForEach(req, log) {
		char *body = cJSON_PrintUnformatted(
		    cJSON_GetObjectItemCaseSensitive(req, "body"));
		char line[512];

		snprintf(line, sizeof(line), "%s %s %s", str_of(req, "method"),
		    str_of(req, "path"), body);
		for (k = 0; k < 6 && strcmp(line, want[k]) != 0; k++)
			;
		if (k == 6)
			fail_msg("unexpected request: %s", line);
		else
			seen[k]++;
		assert_string_equal(
		    str_of(req, "authorization"), "Bearer test-key");
		assert_int_equal(num_of(req, "answered"), 200);
		free(body);
	}
	cJSON_Delete(log);
	for (k = 0; k < 6; k++)
		assert_int_equal(seen[k], 1);
	assert_order_rules(fx, kinds, poison, 8);
	WAIT_UNTIL(fwdstat(fx).events_forwarded == 8, 1000);
}

/* A small deterministic generator for the mixed spools below. */
static unsigned
lcg(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return (*s >> 16) & 0x7fff;
}

/*
 * Every order rule under concurrency, with retries and splits in the
 * middle: 600 records of all four event API kinds, poison among them
 * (rejected 422, so their requests split down to one record), appended
 * in six transactions while the forwarder runs; the upstream takes 40 ms
 * a request and answers every 13th 503, so requests fail, wait and go
 * again while others are in flight.
 */
static void
test_order_rules_concurrent(void **state)
{
	enum { N = 600 };
	struct fixture *fx = *state;
	static int kinds[N], poison[N];
	static char texts[N][128];
	struct spool_rec r[100];
	struct fwd_opts o;
	struct sent *q;
	unsigned seed = 14;
	int i, c, npoison = 0, nq, splits = 0, fails = 0, v;

	for (i = 0; i < N; i++) {
		v = (int)(lcg(&seed) % 100);
		kinds[i] = v < 4 ? KIND_SESSION
		    : v < 8      ? KIND_UPDATE
		    : v < 20     ? KIND_MODEL_EVENT
		                 : KIND_EVENT;
		poison[i] =
		    (kinds[i] == KIND_EVENT || kinds[i] == KIND_MODEL_EVENT) &&
		    lcg(&seed) % 40 == 0;
		npoison += poison[i];
		if (kinds[i] == KIND_SESSION)
			snprintf(texts[i], sizeof(texts[i]),
			    "{\"session\":{\"session_id\":\"r%d\"}}", i);
		else if (kinds[i] == KIND_UPDATE)
			snprintf(texts[i], sizeof(texts[i]),
			    "{\"event_id\":\"r%d\",\"metadata\":{}}", i);
		else
			snprintf(texts[i], sizeof(texts[i]),
			    "{\"event_id\":\"r%d\",\"event_name\":\"%s\","
			    "\"event_type\":\"tool\",\"inputs\":{}}",
			    i, poison[i] ? "poison" : "fine");
	}
	assert_true(npoison >= 3);
	control(fx,
	    "{\"mode\":\"reject_name\",\"name\":\"poison\","
	    "\"status\":422,\"latency_ms\":40,\"fail_every\":13}");
	default_opts(fx, &o);
	o.batch_max_events = 10;
	o.retry_initial_ms = 20;
	o.retry_max_ms = 100;
	o.flush_interval_ms = 10;
	start_fwd(fx, &o, "test-key");
	for (c = 0; c < N; c += 100) {
		for (i = 0; i < 100; i++) {
			memset(&r[i], 0, sizeof(r[i]));
			r[i].kind = (uint8_t)kinds[c + i];
			r[i].time_ms = clock_wall_ms();
			r[i].data = texts[c + i];
			r[i].len = strlen(texts[c + i]);
		}
		append(fx, r, 100);
		usleep(50 * 1000);
	}
	WAIT_UNTIL(sstat(fx).events == 0 && sstat(fx).dead == (uint64_t)npoison,
	    60000);
	assert_order_rules(fx, kinds, poison, N);

	/* The run had what the rules are tested against. */
	q = load_sent(fx, &nq);
	for (i = 0; i < nq; i++) {
		splits += q[i].answered == 422 && q[i].nids > 1;
		fails += q[i].answered == 503;
	}
	sent_free(q, nq);
	assert_true(splits >= 1);
	assert_true(fails >= 3);
	assert_true(fake_count(fx, "max_inflight") >= 3);
	WAIT_UNTIL(fwdstat(fx).dead_letters == (uint64_t)npoison, 2000);
}

/*
 * Several requests in flight: 2,000 events in batches of 100 through an
 * upstream that takes 200 ms a request drain in well under the 4 s one
 * request at a time would take, and /stats shows the concurrency reached
 * and the latency.
 */
static void
test_concurrent_drain(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	uint64_t t;
	int i;

	control(fx, "{\"mode\":\"ok\",\"latency_ms\":200}");
	for (i = 0; i < 2000; i += 100)
		append_events(fx, KIND_EVENT, "e", i, i + 100, clock_wall_ms());
	default_opts(fx, &o);
	t = clock_mono_ms();
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 10000);
	t = clock_mono_ms() - t;
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 2000, -1);
	assert_true(t < 3000);
	assert_true(fake_count(fx, "max_inflight") >= 4);
	st = fwdstat(fx);
	assert_int_equal(st.requests_2xx, 20);
	assert_int_equal(st.concurrency_max, 8);
	assert_true(st.concurrency >= 4);
	assert_true(st.rtt_ms >= 190 && st.rtt_ms < 2000);
	assert_true(st.rtt_floor_ms >= 190 && st.rtt_floor_ms <= st.rtt_ms);
	/* Each event's text is about 85 bytes. */
	assert_true(st.bytes_forwarded >= 2000 * 70);
}

/*
 * A Retry-After pauses everything: among many requests in flight, one
 * answered 429 with Retry-After: 1 stops every request that would start
 * after it for that second (those already in flight finish, and one that
 * left as the answer came may arrive just after it).
 */
static void
test_retry_after_pauses_all(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct sent *q;
	int i, k, nq, n429 = 0;

	control(fx,
	    "{\"mode\":\"ok\",\"latency_ms\":50,\"fail_every\":6,"
	    "\"fail_status\":429,\"retry_after\":\"1\"}");
	append_events(fx, KIND_EVENT, "e", 0, 400, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 20;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 20000);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 400, -1);
	q = load_sent(fx, &nq);
	for (k = 0; k < nq; k++) {
		if (q[k].answered != 429)
			continue;
		n429++;
		/*
		 * A request that arrives just after the answer may have
		 * left before the forwarder read it: 50 ms for that.
		 */
		for (i = 0; i < nq; i++) {
			if (q[i].t_ms > q[k].t_answer_ms + 50 &&
			    q[i].t_ms < q[k].t_answer_ms + 990)
				fail_msg("a request started %.0f ms after a "
				         "429 with Retry-After: 1",
				    q[i].t_ms - q[k].t_answer_ms);
		}
	}
	sent_free(q, nq);
	assert_true(n429 >= 2);
}

/*
 * upload_rate_limit: 150 events a second, 600 events in batches of 50:
 * the first second's worth goes at once, the rest at the rate, so the
 * last request starts no sooner than 3 s after the first, and in no
 * second after the first do more than 150 events start.
 */
static void
test_rate_limit_events(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	cJSON *log, *req;
	double t0 = -1, last = 0, t;
	int per_second[64] = {0}, s, n = 0;

	append_events(fx, KIND_EVENT, "e", 0, 600, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 50;
	o.rate_limit = 150;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 15000);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 600, -1);
	log = read_log(fx);
	cJSON_ArrayForEach(req, log) {
		t = num_of(req, "t_ms");
		if (t0 < 0)
			t0 = t;
		last = t;
		s = (int)((t - t0) / 1000);
		if (s < 0 || s >= 64)
			fail_msg("a request %.0f ms after the first", t - t0);
		else
			per_second[s] +=
			    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			        cJSON_GetObjectItemCaseSensitive(req, "body"),
			        "events"));
		n++;
	}
	cJSON_Delete(log);
	assert_int_equal(n, 12);
	assert_true(last - t0 >= 2900);
	for (s = 1; s < 64; s++)
		assert_true(per_second[s] <= 150 + 50);
	assert_true(fwdstat(fx).rate_limited >= 5);
}

/* The byte form: 2 KiB a second of bodies paces the same way. */
static void
test_rate_limit_bytes(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	cJSON *log;
	double t0, t1;
	int n;

	/* About 90 bytes an event: ten batches of 10, about 9 KiB. */
	append_events(fx, KIND_EVENT, "e", 0, 100, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 10;
	o.rate_limit = 2048;
	o.rate_limit_bytes = 1;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 15000);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 100, -1);
	log = read_log(fx);
	n = cJSON_GetArraySize(log);
	t0 = num_of(cJSON_GetArrayItem(log, 0), "t_ms");
	t1 = num_of(cJSON_GetArrayItem(log, n - 1), "t_ms");
	cJSON_Delete(log);
	assert_int_equal(n, 10);
	/* (9 KiB - the first second's 2 KiB) / 2 KiB a second. */
	assert_true(t1 - t0 >= 2500);
	assert_true(t1 - t0 < 8000);
}

/*
 * recovery_spread: the first retry after a failure waits retry_initial
 * plus a random share of the spread. Five outages of one failure each:
 * every retry comes within retry_initial + spread, and they do not all
 * come at retry_initial (the chance of that is 1 in 40^5).
 */
static void
test_recovery_spread(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	cJSON *log;
	double gap, t503;
	int round, late = 0;

	default_opts(fx, &o);
	o.recovery_spread_ms = 2000;
	o.retry_initial_ms = 100;
	start_fwd(fx, &o, "test-key");
	for (round = 0; round < 5; round++) {
		control(fx, "{\"mode\":\"status\",\"status\":503}");
		(void)truncate(fx->logpath, 0);
		append_events(
		    fx, KIND_EVENT, "e", round, round + 1, clock_wall_ms());
		WAIT_UNTIL(log_count(fx) >= 1, 5000);
		control(fx, "{\"mode\":\"ok\"}");
		WAIT_UNTIL(sstat(fx).events == 0, 5000);
		log = read_log(fx);
		assert_int_equal(cJSON_GetArraySize(log), 2);
		t503 = num_of(cJSON_GetArrayItem(log, 0), "t_answer_ms");
		gap = num_of(cJSON_GetArrayItem(log, 1), "t_ms") - t503;
		cJSON_Delete(log);
		assert_true(gap >= 95 && gap <= 100 + 2000 + 200);
		late += gap > 150;
	}
	assert_true(late >= 1);
}

/* Stopping with several requests stalled: all abandoned, nothing lost. */
static void
test_stop_many_in_flight(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	uint64_t t;

	control(fx, "{\"mode\":\"ok\",\"latency_ms\":100}");
	append_events(fx, KIND_EVENT, "w", 0, 40, clock_wall_ms());
	default_opts(fx, &o);
	o.batch_max_events = 5;
	start_fwd(fx, &o, "test-key");
	/* Slow start to four in flight, then the upstream stalls. */
	WAIT_UNTIL(fwdstat(fx).concurrency >= 4, 5000);
	control(fx, "{\"mode\":\"stall\"}");
	append_events(fx, KIND_EVENT, "e", 0, 40, clock_wall_ms());
	WAIT_UNTIL(fwdstat(fx).inflight >= 3, 5000);
	assert_int_equal(fwdstat(fx).state, FWD_SENDING);
	t = clock_mono_ms();
	fwd_stop(fx->fwd, 200);
	fx->fwd = NULL;
	assert_true(clock_mono_ms() - t >= 200);
	assert_true(clock_mono_ms() - t < 2000);
	assert_int_equal(sstat(fx).dead, 0);
	/* Every "e" event is still spooled: none was answered. */
	assert_true(sstat(fx).events >= 40);
}

static void
test_no_key(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;

	append_events(fx, KIND_EVENT, "e", 0, 5, clock_wall_ms());
	default_opts(fx, &o);
	start_fwd(fx, &o, NULL);
	wait_state(fx, FWD_PAUSED, 2000, &st);
	assert_string_equal(st.reason, "no API key");
	assert_string_equal(fwd_state_name(st.state), "paused");
	fwd_set_key(fx->fwd, "");
	usleep(300 * 1000);
	assert_int_equal(fwdstat(fx).state, FWD_PAUSED);
	/* A key that would end its header line is not used either. */
	fwd_set_key(fx->fwd, "bad\r\nX-Injected: 1");
	WAIT_UNTIL(
	    strcmp(fwdstat(fx).reason, "API key has control characters") == 0,
	    2000);
	assert_int_equal(fwdstat(fx).state, FWD_PAUSED);
	assert_int_equal(log_count(fx), 0);
	assert_int_equal(sstat(fx).events, 5);

	fwd_set_key(fx->fwd, "late-key");
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	assert_delivered(fx, "/events/batch", "Bearer late-key", "e", 0, 5, -1);
}

static void
test_stall_then_stop(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	uint64_t t;

	control(fx, "{\"mode\":\"stall\"}");
	append_events(fx, KIND_EVENT, "e", 0, 10, clock_wall_ms());
	default_opts(fx, &o);
	o.request_timeout_ms = 30000;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(log_count(fx) >= 1, 5000);
	WAIT_UNTIL(fwdstat(fx).state == FWD_SENDING, 1000);
	t = clock_mono_ms();
	fwd_stop(fx->fwd, 200);
	fx->fwd = NULL;
	/* The grace period, then libcurl's progress callback: ~1 s. */
	assert_true(clock_mono_ms() - t >= 200);
	assert_true(clock_mono_ms() - t < 2000);
	assert_int_equal(sstat(fx).events, 10);
	assert_int_equal(sstat(fx).dead, 0);
	assert_int_equal(log_count(fx), 1);
}

static void
test_stop_when_idle(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	uint64_t t;

	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(fwdstat(fx).state == FWD_IDLE, 1000);
	t = clock_mono_ms();
	stop_fwd(fx);
	assert_true(clock_mono_ms() - t < 500);
	fwd_stop(NULL, 0);
}

static void
test_flush_interval(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	cJSON *log;
	uint64_t t0, t1;
	char *got, *want;

	default_opts(fx, &o);
	o.flush_interval_ms = 300;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(fwdstat(fx).state == FWD_IDLE, 1000);

	/* A partial batch waits for more, up to flush_interval. */
	t0 = clock_wall_ms();
	append_events(fx, KIND_EVENT, "a", 0, 3, t0);
	WAIT_UNTIL(log_count(fx) == 1, 2000);
	/* A full one goes at once. */
	t1 = clock_wall_ms();
	append_events(fx, KIND_EVENT, "b", 0, 100, t1);
	WAIT_UNTIL(sstat(fx).events == 0, 2000);

	log = read_log(fx);
	assert_int_equal(cJSON_GetArraySize(log), 2);
	assert_true(num_of(cJSON_GetArrayItem(log, 0), "t_ms") >= t0 + 290);
	assert_true(num_of(cJSON_GetArrayItem(log, 1), "t_ms") < t1 + 280);
	cJSON_Delete(log);
	got = delivered_names(fx, "/events/batch", NULL);
	want = names("b", 0, 100, -1);
	assert_true(strncmp(got, "a0 a1 a2 ", 9) == 0);
	assert_string_equal(got + 9, want);
	free(got);
	free(want);
}

static void
test_batch_max_bytes(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	cJSON *log, *req;

	append_events(fx, KIND_EVENT, "e", 0, 40, clock_wall_ms());
	default_opts(fx, &o);
	/* Each record is about 90 bytes: a few fit in 500. */
	o.batch_max_bytes = 500;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	log = read_log(fx);
	assert_true(cJSON_GetArraySize(log) >= 8);
	cJSON_ArrayForEach(req, log) {
		char *body = cJSON_PrintUnformatted(
		    cJSON_GetObjectItemCaseSensitive(req, "body"));

		assert_true(strlen(body) <= 500);
		free(body);
	}
	cJSON_Delete(log);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 40, -1);
}

/*
 * Append events prefix<from> .. prefix<to - 1>, each padded to about size
 * bytes, one transaction each. kinds gives the kind of each in turn (0 ends
 * it); NULL makes them all KIND_EVENT.
 */
static void
append_big(struct fixture *fx, const char *prefix, int from, int to,
    size_t size, const int *kinds)
{
	char *text = malloc(size + 256);
	struct spool_rec r = {.kind = KIND_EVENT};
	int i, n, k = 0;

	assert_non_null(text);
	for (i = from; i < to; i++) {
		n = snprintf(text, 256,
		    "{\"event_id\":\"%s-id-%d\",\"event_name\":\"%s%d\","
		    "\"event_type\":\"tool\",\"inputs\":{\"pad\":\"",
		    prefix, i, prefix, i);
		assert_true(n > 0 && n < 200);
		memset(text + n, 'x', size);
		memcpy(text + n + size, "\"}}", 4);
		if (kinds != NULL) {
			r.kind = (uint8_t)kinds[k++];
			if (kinds[k] == 0)
				k = 0;
		}
		r.time_ms = clock_wall_ms();
		r.data = text;
		r.len = strlen(text);
		append(fx, &r, 1);
	}
	free(text);
}

/*
 * Large records do not fill the memory: 200 records of 200 KB make
 * requests of 20 (4 MB, batch_max_bytes) through an upstream that takes
 * 300 ms a request. Where upload_concurrency would let 8 such requests be
 * held (32 MB), the forwarder reads no further once it holds
 * FWD_HOLD_BYTES_MAX, which a read passes by one request at most; and
 * every record is still delivered, once.
 */
static void
test_held_bytes_bounded(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;

	control(fx, "{\"mode\":\"ok\",\"latency_ms\":300}");
	append_big(fx, "b", 0, 200, 200 * 1024, NULL);
	default_opts(fx, &o);
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 30000);
	/* Counted just after the delete. */
	WAIT_UNTIL(fwdstat(fx).records_forwarded == 200, 2000);
	wait_state(fx, FWD_IDLE, 2000, &st);
	if (st.held_bytes_max > FWD_HOLD_BYTES_MAX + o.batch_max_bytes)
		fail_msg("held %llu bytes, bound %llu + one request of %llu",
		    (unsigned long long)st.held_bytes_max,
		    (unsigned long long)FWD_HOLD_BYTES_MAX,
		    (unsigned long long)o.batch_max_bytes);
	/* The bound, not the concurrency, stopped the reading. */
	assert_true(st.held_bytes_max >= FWD_HOLD_BYTES_MAX);
	assert_int_equal(st.held_bytes, 0);
	/* The upstream's own count: three requests of 4 MB at most. */
	assert_true(fake_count(fx, "max_inflight") <= 3);
	assert_delivered(fx, "/events/batch", NULL, "b", 0, 200, -1);
}

/*
 * Progress: records larger than FWD_HOLD_BYTES_MAX (batch_max_bytes set
 * above it) still go, one at a time. Of kinds that do not join, two come
 * in one read: while the first is in flight the second waits in the
 * look-ahead, past the bound, and goes once nothing is in flight.
 */
static void
test_record_over_hold_bound(void **state)
{
	static const int kinds[] = {KIND_EVENT, KIND_MODEL_EVENT, 0};
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;

	append_big(fx, "b", 0, 3, FWD_HOLD_BYTES_MAX + (1 << 20), kinds);
	default_opts(fx, &o);
	/* Room for two such records a read, not three. */
	o.batch_max_bytes = 3 * FWD_HOLD_BYTES_MAX;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(sstat(fx).events == 0, 20000);
	assert_delivered(fx, "/events/batch", NULL, "b", 0, 3, 1);
	assert_delivered(fx, "/events/model/batch", NULL, "b", 1, 2, -1);
	WAIT_UNTIL(fwdstat(fx).records_forwarded == 3, 2000);
	st = fwdstat(fx);
	/* Two came in one read, as the case needs. */
	assert_true(st.held_bytes_max > 2 * FWD_HOLD_BYTES_MAX);
	assert_true(
	    st.held_bytes_max <= FWD_HOLD_BYTES_MAX + o.batch_max_bytes);
	/* Each one passes the bound: they go one at a time. */
	assert_int_equal(fake_count(fx, "max_inflight"), 1);
	assert_int_equal(log_count(fx), 3);
}

struct stopper {
	atomic_int *flag;
	unsigned after_ms;
};

static void *
raise_flag(void *arg)
{
	struct stopper *s = arg;

	usleep(s->after_ms * 1000);
	atomic_store(s->flag, 1);
	return NULL;
}

static void
send_one(struct fixture *fx, struct upstream *up, const char *key,
    uint64_t timeout_ms, struct upstream_res *res)
{
	struct upstream_req req;
	char url[128];
	static const char body[] =
	    "{\"events\":[{\"event_id\":\"x\",\"event_name\":\"poison\"}]}";

	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/events/batch", fx->port);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.api_key = key;
	req.timeout_ms = timeout_ms;
	req.body = body;
	req.len = sizeof(body) - 1;
	assert_int_equal(upstream_request(up, &req, res), 0);
}

/*
 * A body in pieces arrives whole: twenty events of 10 KB each (more than
 * libcurl's upload buffer holds, so read_cb is called many times and
 * stops inside pieces), each event cut into three pieces of odd sizes.
 */
static void
test_upstream_body_in_pieces(void **state)
{
	struct fixture *fx = *state;
	struct upstream *up;
	struct upstream_res *res = malloc(sizeof(*res));
	struct upstream_piece pieces[2 + 20 * 4];
	struct upstream_req req;
	atomic_int stop;
	char url[128], want[64], *ev[20];
	size_t n = 0, len = 0, i;

	assert_non_null(res);
	atomic_init(&stop, 0);
	assert_int_equal(upstream_new(&up, &stop), 0);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/events/batch", fx->port);
	pieces[n].data = "{\"events\":[";
	pieces[n++].len = 11;
	for (i = 0; i < 20; i++) {
		size_t el;

		ev[i] = malloc(10300);
		assert_non_null(ev[i]);
		el = (size_t)snprintf(ev[i], 10300,
		    "{\"event_id\":\"piece-%zu\",\"pad\":\"%010000d\"}", i, 0);
		if (i > 0) {
			pieces[n].data = ",";
			pieces[n++].len = 1;
		}
		pieces[n].data = ev[i];
		pieces[n++].len = 7;
		pieces[n].data = ev[i] + 7;
		pieces[n++].len = 5000 + i;
		pieces[n].data = ev[i] + 5007 + i;
		pieces[n++].len = el - 5007 - i;
		len += el + (i > 0);
	}
	pieces[n].data = "]}";
	pieces[n++].len = 2;
	len += 11 + 2;
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.api_key = "k";
	req.timeout_ms = 5000;
	req.pieces = pieces;
	req.npieces = n;
	req.len = len;
	assert_int_equal(upstream_request(up, &req, res), 0);
	assert_int_equal(res->status, 200);
	assert_int_equal(res->verdict, UPSTREAM_DONE);
	for (i = 0; i < 20; i++) {
		snprintf(want, sizeof(want), "\"piece-%zu\"", i);
		if (strstr(res->body, want) == NULL)
			fail_msg("event %zu missing from the answer: %s", i,
			    res->body);
		free(ev[i]);
	}
	upstream_free(up);
	free(res);
}

static void
test_upstream_verdicts(void **state)
{
	struct fixture *fx = *state;
	struct upstream *up;
	struct upstream_res *res = malloc(sizeof(*res));
	atomic_int stop;
	struct stopper s = {&stop, 200};
	pthread_t th;
	char ctl[256], date[64];
	struct tm tm;
	time_t later;
	uint64_t t;

	assert_non_null(res);
	atomic_init(&stop, 0);
	assert_int_equal(upstream_new(&up, &stop), 0);

	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_DONE);
	assert_int_equal(res->status, 200);
	assert_non_null(strstr(res->body, "\"event_ids\":[\"x\"]"));

	control(fx,
	    "{\"mode\":\"status\",\"status\":503,\"retry_after\":"
	    "\"3\"}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 503);
	assert_int_equal(res->retry_after_ms, 3000);

	later = time(NULL) + 5;
	gmtime_r(&later, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(ctl, sizeof(ctl),
	    "{\"mode\":\"status\",\"status\":429,\"retry_after\":\"%s\"}",
	    date);
	control(fx, ctl);
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 429);
	assert_true(res->retry_after_ms >= 3000 && res->retry_after_ms <= 5000);

	control(fx, "{\"mode\":\"status\",\"status\":408}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->retry_after_ms, 0);

	control(fx, "{\"mode\":\"auth\",\"key\":\"good\"}");
	send_one(fx, up, "bad", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_AUTH);
	assert_int_equal(res->status, 401);
	send_one(fx, up, "good", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_DONE);

	control(fx,
	    "{\"mode\":\"reject_name\",\"name\":\"poison\",\"status\":"
	    "422}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_REJECT);
	assert_int_equal(res->status, 422);
	assert_string_equal(res->body,
	    "{\"success\":false,\"error\":\"rejected event_name poison\"}");
	assert_int_equal(res->body_len, strlen(res->body));

	/* A redirect is never followed: the key would go along. */
	control(fx, "{\"mode\":\"redirect\"}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 302);

	control(fx, "{\"mode\":\"notjson\"}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_DONE);
	assert_string_equal(res->body, "hello");

	control(fx, "{\"mode\":\"truncated\"}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 0);
	assert_true(res->error[0] != '\0');

	control(fx, "{\"mode\":\"reset\"}");
	send_one(fx, up, "k", 5000, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 0);

	control(fx, "{\"mode\":\"stall\"}");
	t = clock_mono_ms();
	send_one(fx, up, "k", 300, res);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->status, 0);
	assert_int_equal(res->aborted, 0);
	assert_true(clock_mono_ms() - t < 2000);

	t = clock_mono_ms();
	assert_int_equal(pthread_create(&th, NULL, raise_flag, &s), 0);
	send_one(fx, up, "k", 30000, res);
	pthread_join(th, NULL);
	assert_int_equal(res->verdict, UPSTREAM_RETRY);
	assert_int_equal(res->aborted, 1);
	assert_true(clock_mono_ms() - t < 1500);
	upstream_free(up);
	free(res);
}

static void
test_unreachable(void **state)
{
	struct fixture *fx = *state;
	struct fwd_opts o;
	struct fwd_stats st;
	int lfd;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char url[64];

	/* A port bound but not listening refuses connections. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", ntohs(sin.sin_port));

	append_events(fx, KIND_EVENT, "e", 0, 3, clock_wall_ms());
	default_opts(fx, &o);
	o.upstream_url = url;
	start_fwd(fx, &o, "test-key");
	WAIT_UNTIL(fwdstat(fx).requests_neterr >= 3, 5000);
	st = fwdstat(fx);
	assert_true(st.state == FWD_BACKOFF || st.state == FWD_SENDING);
	assert_int_equal(st.last_status, 0);
	WAIT_UNTIL(
	    strncmp(fwdstat(fx).reason, "upstream unreachable (", 22) == 0,
	    1000);
	assert_int_equal(sstat(fx).events, 3);

	/* New options apply from the next request. */
	o.upstream_url = fx->url;
	assert_int_equal(fwd_set_opts(fx->fwd, &o), 0);
	WAIT_UNTIL(sstat(fx).events == 0, 5000);
	assert_delivered(fx, "/events/batch", NULL, "e", 0, 3, -1);
	close(lfd);

	o.upstream_url = "";
	assert_int_equal(fwd_set_opts(fx->fwd, &o), -1);
}

static void
test_classify_and_retry_after(void **state)
{
	static const int retry[] = {
	    408, 425, 429, 500, 502, 503, 504, 301, 302, 304, 405, 410, 100};
	static const int reject[] = {400, 404, 409, 413, 422};
	uint64_t ms;
	size_t i;

	(void)state;
	assert_int_equal(upstream_classify(200), UPSTREAM_DONE);
	assert_int_equal(upstream_classify(204), UPSTREAM_DONE);
	assert_int_equal(upstream_classify(401), UPSTREAM_AUTH);
	assert_int_equal(upstream_classify(403), UPSTREAM_AUTH);
	for (i = 0; i < sizeof(retry) / sizeof(retry[0]); i++)
		assert_int_equal(upstream_classify(retry[i]), UPSTREAM_RETRY);
	for (i = 0; i < sizeof(reject) / sizeof(reject[0]); i++)
		assert_int_equal(upstream_classify(reject[i]), UPSTREAM_REJECT);

	assert_int_equal(upstream_parse_retry_after("120", 0, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(upstream_parse_retry_after("0", 0, &ms), 0);
	assert_int_equal(ms, 0);
	/* 1445412480 is Wed, 21 Oct 2015 07:28:00 GMT. */
	assert_int_equal(
	    upstream_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	        1445412480ULL * 1000 - 10000, &ms),
	    0);
	assert_int_equal(ms, 10000);
	assert_int_equal(
	    upstream_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT",
	        1445412480ULL * 1000 + 10000, &ms),
	    0);
	assert_int_equal(ms, 0);
	assert_int_equal(upstream_parse_retry_after("soon", 0, &ms), -1);
	assert_int_equal(upstream_parse_retry_after("", 0, &ms), -1);
	assert_int_equal(upstream_parse_retry_after("-5", 0, &ms), -1);
	assert_int_equal(fwd_state_name(FWD_BACKOFF)[0], 'b');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_classify_and_retry_after),
	    cmocka_unit_test_setup_teardown(
	        test_upstream_verdicts, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_upstream_body_in_pieces, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_delivers_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries_5xx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_auth_pause_and_new_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_poison_isolated, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_kinds_in_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stall_then_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stop_when_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_flush_interval, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_batch_max_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_held_bytes_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_record_over_hold_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_order_rules_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_concurrent_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_retry_after_pauses_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rate_limit_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rate_limit_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_recovery_spread, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stop_many_in_flight, setup, teardown),
	};

	/* Requests to 127.0.0.1 must not go through a proxy from the env. */
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
