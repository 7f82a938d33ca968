/* main.c: tracespoold: flags, configuration, wiring of the threads, signals and
 * systemd. */
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>

#include "common/defaults.h"
#include "common/log.h"
#include "conf/conf.h"
#include "daemon/commit.h"
#include "daemon/httpd.h"
#include "daemon/ingest.h"
#include "daemon/listen.h"
#include "daemon/rules.h"
#include "daemon/stats.h"
#include "forwarder/forwarder.h"
#include "spool/spool.h"

#ifndef TS_VERSION
#define TS_VERSION "dev"
#endif

/* How long SIGTERM waits for in-flight requests and the upstream. */
#define SHUTDOWN_GRACE_MS 10000
#define FWD_STOP_MS 5000

struct daemon {
	struct event_base *base;
	struct conf *conf;
	struct spool *sp;
	struct commit *commit;
	_Atomic(struct fwd *) fwd; /* read by the commit thread's notify */
	struct stats *stats;
	struct rules *rules; /* redaction, NULL for none */
	struct ingest *ing;
	struct httpd *httpd;
	struct event *ev_term, *ev_int, *ev_hup, *ev_status, *ev_watchdog;
	struct event *ev_grace;
	/* how the configuration was given, to parse it again on SIGHUP */
	const char *conf_path;
	int conf_required;
	char **sets;
	int nsets;
	char status[256];
	int stopping;
};

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: tracespoold [-c FILE] [--set KEY=VALUE]... [-t] [-V] [-h]\n"
	    "  -c, --config FILE     configuration file (default %s)\n"
	    "      --set KEY=VALUE   override a key (repeatable)\n"
	    "  -t, --check-config    validate, print the effective "
	    "configuration, exit\n"
	    "  -V, --version         print the version\n"
	    "  -h, --help            this text\n",
	    TS_DEFAULT_CONF);
}

static void
report_stderr(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "tracespoold: %s\n", msg);
}

static void
report_log(const char *msg, void *arg)
{
	(void)arg;
	log_warnx("reload: %s", msg);
}

/*
 * Build a fresh configuration from the file, the environment and the
 * --set list, in rising precedence. Returns NULL after reporting every
 * error.
 */
static struct conf *
conf_build(struct daemon *d, void (*report)(const char *, void *))
{
	extern char **environ;
	struct conf *c = conf_new();
	int errors = 0;
	char err[512];

	if (c == NULL) {
		report("out of memory", NULL);
		return NULL;
	}
	if (conf_load_file(c, d->conf_path, d->conf_required, report, NULL) !=
	    0)
		errors++;
	if (conf_load_env(c, environ, report, NULL) != 0)
		errors++;
	for (int i = 0; i < d->nsets; i++) {
		char *kv = strdup(d->sets[i]);
		char *eq = kv ? strchr(kv, '=') : NULL;

		if (eq == NULL) {
			snprintf(err, sizeof(err),
			    "--set %s: expected KEY=VALUE", d->sets[i]);
			report(err, NULL);
			errors++;
			free(kv);
			continue;
		}
		*eq = '\0';
		if (conf_set(c, kv, eq + 1, err, sizeof(err)) == -1) {
			char msg[600];

			snprintf(msg, sizeof(msg), "--set %s", err);
			report(msg, NULL);
			errors++;
		}
		free(kv);
	}
	if (errors == 0 && conf_check(c, report, NULL) != 0)
		errors++;
	if (errors != 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

static void
fwd_opts_from(const struct conf *c, struct fwd_opts *o)
{
	o->upstream_url = c->upstream_url;
	o->ca_file = c->ca_file;
	o->batch_max_events = c->batch_max_events;
	o->batch_max_bytes = c->batch_max_bytes;
	o->flush_interval_ms = c->flush_interval_ms;
	o->retry_initial_ms = c->retry_initial_ms;
	o->retry_max_ms = c->retry_max_ms;
	o->request_timeout_ms = c->request_timeout_ms;
	o->max_event_age_ms = c->max_event_age_ms;
	o->upload_concurrency = c->upload_concurrency;
	o->rate_limit = c->upload_rate_limit.per_s;
	o->rate_limit_bytes = c->upload_rate_limit.bytes;
	o->recovery_spread_ms = c->recovery_spread_ms;
}

static void
on_commit(void *arg, uint64_t next_seq)
{
	struct daemon *d = arg;
	struct fwd *f = atomic_load(&d->fwd);

	if (f != NULL)
		fwd_wake(f, next_seq);
}

static void
writer_remove(void *arg, const uint64_t *seqs, size_t n)
{
	commit_delete(arg, seqs, n);
}

static void
writer_bury(
    void *arg, uint64_t seq, int status, uint32_t attempts, const char *reason)
{
	commit_bury(arg, seq, status, attempts, reason);
}

static void
update_status(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	char line[256];

	if (d->stopping)
		return;
	/* Once a second: the samples behind the rates in /stats. */
	stats_tick(d->stats);
	if (stats_status_line(d->stats, line, sizeof(line)) == -1)
		return;
	if (strcmp(line, d->status) != 0) {
		memcpy(d->status, line, sizeof(line));
		sd_notifyf(0, "STATUS=%s", line);
	}
}

static void
watchdog_ping(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

static void
on_drained(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

static void
on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	log_warnx("shutdown: %u request(s) still unanswered after %d ms",
	    ingest_inflight(d->ing), SHUTDOWN_GRACE_MS);
	event_base_loopexit(d->base, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = {SHUTDOWN_GRACE_MS / 1000, 0};

	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("signal %d: stopping; answering %u request(s) in flight",
	    (int)sig, ingest_inflight(d->ing));
	sd_notifyf(0, "STOPPING=1\nSTATUS=stopping: answering %u request(s)",
	    ingest_inflight(d->ing));
	httpd_stop_accepting(d->httpd);
	httpd_drain(d->httpd, on_drained, d);
	d->ev_grace = evtimer_new(d->base, on_grace_over, d);
	if (d->ev_grace != NULL)
		evtimer_add(d->ev_grace, &tv);
}

/* Log a key a reload changed, and whether it waits for a restart. */
static void
log_change(const struct conf_keyinfo *k, void *arg)
{
	(void)arg;
	if (k->restart)
		log_warnx(
		    "reload: %s changed; takes effect only after a restart",
		    k->name);
	else
		log_info("reload: %s changed", k->name);
}

/* Say which rules are in force, and whether PCRE2 runs them on its JIT. */
static void
log_rules(const struct conf *c, const struct rules *rs)
{
	if (rs == NULL)
		return;
	log_info("redaction: %zu rule%s from %s%s", rules_count(rs),
	    rules_count(rs) == 1 ? "" : "s", c->redact_rules,
	    rules_count(rs) == 0 || rules_jit(rs)
	        ? ""
	        : "; PCRE2's JIT is not available (no executable memory "
	          "under MemoryDenyWriteExecute, or valgrind), its "
	          "interpreter runs them");
}

/*
 * allowed_uids and allowed_gids, for connections accepted from now on.
 * When they restrict the socket, the users who may manage dead letters
 * (the daemon's own user and admin_uids; root always gets in) are let in
 * too: a list of senders must not lock the operators out.
 */
static int
set_peers(struct daemon *d, const struct conf *c)
{
	size_t n = c->allowed_uids.n;
	id_t *uids = NULL;
	int rc;

	if (n > 0 || c->allowed_gids.n > 0) {
		uids = calloc(n + c->admin_uids.n + 1, sizeof(*uids));
		if (uids == NULL)
			return -1;
		if (n > 0)
			memcpy(uids, c->allowed_uids.ids, n * sizeof(*uids));
		if (c->admin_uids.n > 0)
			memcpy(uids + n, c->admin_uids.ids,
			    c->admin_uids.n * sizeof(*uids));
		n += c->admin_uids.n;
		uids[n++] = (id_t)geteuid();
	}
	rc = httpd_set_peers(
	    d->httpd, uids, n, c->allowed_gids.ids, c->allowed_gids.n);
	free(uids);
	if (rc == -1)
		return -1;
	if (c->allowed_uids.n > 0 || c->allowed_gids.n > 0)
		log_info("socket peers: only root, the daemon's user, "
		         "admin_uids, %zu listed uid(s) and %zu listed gid(s) "
		         "may send requests",
		    c->allowed_uids.n, c->allowed_gids.n);
	return 0;
}

static void
load_key(struct daemon *d, const struct conf *c)
{
	char *key = NULL;
	char err[512];
	struct fwd *f = atomic_load(&d->fwd);

	if (conf_api_key_load(c, &key, err, sizeof(err)) == -1) {
		log_warnx("api key: %s; keeping the previous key", err);
		return;
	}
	if (key == NULL)
		log_warnx("api key: none found (api_key_file, "
		          "$CREDENTIALS_DIRECTORY/api_key, "
		          "TRACESPOOL_API_KEY); forwarding waits");
	fwd_set_key(f, key);
	free(key);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct conf *nc;
	struct rules *nr;
	struct fwd_opts fo;

	log_info("SIGHUP: reloading configuration and API key");
	sd_notify(0, "RELOADING=1");
	nc = conf_build(d, report_log);
	if (nc == NULL) {
		log_warnx("reload: configuration has errors; keeping the "
		          "running one");
		load_key(d, d->conf);
		sd_notify(0, "READY=1");
		return;
	}
	if (rules_load(nc, &nr, report_log, NULL) == -1) {
		log_warnx("reload: redaction rules have errors; keeping the "
		          "running configuration and rules");
		conf_free(nc);
		load_key(d, d->conf);
		sd_notify(0, "READY=1");
		return;
	}
	/* The new level first: a switch to debug shows this very reload. */
	log_setlevel(nc->log_level);
	conf_diff(d->conf, nc, log_change, NULL);
	rules_inherit(nr, d->rules);
	ingest_set_rules(d->ing, nr);
	rules_free(d->rules);
	d->rules = nr;
	log_rules(nc, nr);
	fwd_opts_from(nc, &fo);
	if (fwd_set_opts(atomic_load(&d->fwd), &fo) == -1)
		log_warnx("reload: the forwarder refused the new options; "
		          "keeping the running ones");
	ingest_set_conf(d->ing, nc);
	if (set_peers(d, nc) == -1)
		log_warnx("reload: out of memory; allowed_uids and "
		          "allowed_gids keep their running values");
	/* Listener and spool keys keep their running values until restart. */
	conf_free(d->conf);
	d->conf = nc;
	load_key(d, nc);
	sd_notify(0, "READY=1");
}

static int
setup_events(struct daemon *d)
{
	uint64_t wd_usec = 0;

	d->ev_term = evsignal_new(d->base, SIGTERM, on_term, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_term, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
	d->ev_status = event_new(d->base, -1, EV_PERSIST, update_status, d);
	if (d->ev_term == NULL || d->ev_int == NULL || d->ev_hup == NULL ||
	    d->ev_status == NULL)
		return -1;
	if (evsignal_add(d->ev_term, NULL) == -1 ||
	    evsignal_add(d->ev_int, NULL) == -1 ||
	    evsignal_add(d->ev_hup, NULL) == -1)
		return -1;
	{
		struct timeval tv = {1, 0};

		evtimer_add(d->ev_status, &tv);
	}
	/* Ping from the loop itself: a wedged loop stops the pings. */
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv;

		wd_usec /= 2;
		tv.tv_sec = (time_t)(wd_usec / 1000000);
		tv.tv_usec = (suseconds_t)(wd_usec % 1000000);
		d->ev_watchdog =
		    event_new(d->base, -1, EV_PERSIST, watchdog_ping, d);
		if (d->ev_watchdog == NULL ||
		    evtimer_add(d->ev_watchdog, &tv) == -1)
			return -1;
	}
	return 0;
}

static int
run(struct daemon *d)
{
	struct spool_opts so;
	struct fwd_opts fo;
	struct fwd_writer fw;
	struct httpd_limits lim;
	struct fwd *f;
	char err[512];
	char *key = NULL;
	int rc = TS_EXIT_FAIL;

	if (conf_api_key_load(d->conf, &key, err, sizeof(err)) == -1) {
		log_errorx("api key: %s", err);
		return TS_EXIT_CONFIG;
	}
	if (key == NULL)
		log_warnx(
		    "api key: none found (api_key_file, "
		    "$CREDENTIALS_DIRECTORY/api_key, TRACESPOOL_API_KEY); "
		    "events are spooled but not forwarded");

	memset(&so, 0, sizeof(so));
	so.dir = d->conf->spool_dir;
	so.max_bytes = d->conf->spool_max_bytes;
	so.sync_full = d->conf->sync == CONF_SYNC_FULL;
	so.drop_oldest = d->conf->when_full == CONF_FULL_DROP_OLDEST;
	so.exclusive = 1;
	if (spool_open(&d->sp, &so, err, sizeof(err)) != SPOOL_OK) {
		log_errorx("%s", err);
		free(key);
		return TS_EXIT_FAIL;
	}
	d->base = event_base_new();
	if (d->base == NULL) {
		log_errorx("event_base_new failed");
		goto out;
	}
	if (commit_start(&d->commit, d->sp, d->base, so.sync_full,
	        d->conf->sync_interval_ms, on_commit, d) == -1)
		goto out;
	fwd_opts_from(d->conf, &fo);
	fw.remove = writer_remove;
	fw.bury = writer_bury;
	fw.arg = d->commit;
	if (fwd_start(&f, d->sp, &fo, &fw, key) == -1) {
		log_errorx("forwarder: cannot start");
		goto out;
	}
	atomic_store(&d->fwd, f);
	d->stats = stats_new(d->sp, d->commit, f);
	if (d->stats == NULL)
		goto out;
	d->ing = ingest_new(d->conf, d->sp, d->commit, d->stats);
	if (d->ing == NULL)
		goto out;
	ingest_set_rules(d->ing, d->rules);
	log_rules(d->conf, d->rules);
	memset(&lim, 0, sizeof(lim));
	lim.max_body = d->conf->max_body_bytes;
	lim.max_buffered = d->conf->max_buffered_bytes;
	lim.max_header = d->conf->max_header_bytes;
	lim.max_conns = listen_conns_cap(d->conf->max_connections);
	lim.header_timeout_ms = (unsigned)d->conf->header_timeout_ms;
	lim.body_timeout_ms = (unsigned)d->conf->body_timeout_ms;
	lim.idle_timeout_ms = (unsigned)d->conf->idle_timeout_ms;
	lim.write_timeout_ms = (unsigned)d->conf->body_timeout_ms;
	d->httpd = httpd_new(d->base, &lim, ingest_handle, d->ing);
	if (d->httpd == NULL || set_peers(d, d->conf) == -1)
		goto out;
	if (listen_open(d->httpd, d->conf) == -1 || setup_events(d) == -1)
		goto out;

	log_info("tracespoold %s ready: spool %s, sync %s, upstream %s",
	    TS_VERSION, d->conf->spool_dir,
	    d->conf->sync == CONF_SYNC_FULL ? "full" : "normal",
	    d->conf->upstream_url);
	update_status(-1, 0, d);
	sd_notify(0, "READY=1");
	event_base_dispatch(d->base);
	rc = TS_EXIT_OK;
	log_info("stopped accepting; committing what is queued");
out:
	/*
	 * Order matters: the commit thread answers its last requests
	 * through the httpd, which must outlive it; the forwarder queues
	 * deletes on the commit thread, so it stops first. The loop no
	 * longer runs, so nothing reads the stats of a stopped forwarder.
	 */
	if (atomic_load(&d->fwd) != NULL) {
		fwd_stop(atomic_load(&d->fwd), FWD_STOP_MS);
		atomic_store(&d->fwd, NULL);
	}
	commit_stop(d->commit);
	httpd_free(d->httpd);
	ingest_free(d->ing);
	stats_free(d->stats);
	rules_free(d->rules);
	d->rules = NULL;
	if (d->ev_grace != NULL)
		event_free(d->ev_grace);
	if (d->ev_watchdog != NULL)
		event_free(d->ev_watchdog);
	if (d->ev_status != NULL)
		event_free(d->ev_status);
	if (d->ev_hup != NULL)
		event_free(d->ev_hup);
	if (d->ev_int != NULL)
		event_free(d->ev_int);
	if (d->ev_term != NULL)
		event_free(d->ev_term);
	if (d->base != NULL)
		event_base_free(d->base);
	spool_close(d->sp);
	free(key);
	if (rc == TS_EXIT_OK)
		log_info("stopped cleanly");
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"set", required_argument, NULL, 's'},
	    {"check-config", no_argument, NULL, 't'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct daemon d;
	int ch, check = 0, rc = TS_EXIT_OK;

	/*
	 * Before any secret is read: no core dump, and no ptrace or
	 * /proc/PID/mem by other processes of the same user, may show the
	 * API key (or a client's key, or the hash secret). The unit sets
	 * LimitCORE=0 as well.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fprintf(stderr, "tracespoold: prctl(PR_SET_DUMPABLE): %s\n",
		    strerror(errno));
	memset(&d, 0, sizeof(d));
	d.conf_path = TS_DEFAULT_CONF;
	d.sets = calloc((size_t)argc, sizeof(char *));
	if (d.sets == NULL)
		return TS_EXIT_FAIL;
	while ((ch = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			d.conf_path = optarg;
			d.conf_required = 1;
			break;
		case 's':
			d.sets[d.nsets++] = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("tracespoold %s\n", TS_VERSION);
			goto out;
		case 'h':
			usage(stdout);
			goto out;
		default:
			usage(stderr);
			rc = TS_EXIT_USAGE;
			goto out;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "tracespoold: unexpected argument: %s\n",
		    argv[optind]);
		usage(stderr);
		rc = TS_EXIT_USAGE;
		goto out;
	}
	d.conf = conf_build(&d, report_stderr);
	if (d.conf == NULL ||
	    rules_load(d.conf, &d.rules, report_stderr, NULL) == -1) {
		rc = TS_EXIT_CONFIG;
		goto out;
	}
	if (check) {
		conf_print(d.conf, stdout);
		rules_print(d.rules, stdout);
		goto out;
	}
	log_init("tracespoold", d.conf->log_level);
	signal(SIGPIPE, SIG_IGN);
	rc = run(&d);
out:
	rules_free(d.rules);
	conf_free(d.conf);
	free(d.sets);
	return rc;
}
