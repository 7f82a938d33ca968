/* evhttp_durable.c: evhttp answering after an LMDB group commit: a durable
 * server's ceiling. */
#include <sys/eventfd.h>
#include <sys/queue.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <lmdb.h>

#include "tests/support/sock.h"

/*
 * Usage: evhttp_durable -u SOCKET -d DIR. Serves on a Unix socket: each
 * request's body is copied once and handed to a commit thread, which
 * appends every body waiting to one LMDB transaction (default flags: the
 * data and the meta page synced) and commits; only then does the event
 * loop answer those requests 200 {"success":true}. No parsing, no
 * validation, no forwarding: what tracespool adds to this is its own cost,
 * what this costs is the machine's (the disk's flushes and the hand-off
 * between two threads). SIGTERM stops it; DIR is left for the caller.
 */

#define MAP_BYTES ((size_t)8 << 30)

struct rec {
	struct evhttp_request *req;
	void *data;
	size_t len;
	int ok;
	TAILQ_ENTRY(rec) entry;
};
TAILQ_HEAD(rec_list, rec);

struct durable {
	MDB_env *env;
	MDB_dbi dbi;
	uint64_t key;
	pthread_mutex_t lock; /* pending, done, stop */
	pthread_cond_t cond;  /* pending gained a record, or stop */
	struct rec_list pending;
	struct rec_list done;
	int stop;
	int efd; /* the commit thread's wake of the event loop */
	struct evbuffer *out;
};

/* Commit everything waiting, forever: one transaction per round. */
static void *
commit_main(void *arg)
{
	struct durable *d = arg;
	struct rec_list group;
	struct rec *r;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t one = 1;
	int rc;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		while (TAILQ_EMPTY(&d->pending) && !d->stop)
			pthread_cond_wait(&d->cond, &d->lock);
		if (d->stop) {
			pthread_mutex_unlock(&d->lock);
			return NULL;
		}
		TAILQ_INIT(&group);
		TAILQ_CONCAT(&group, &d->pending, entry);
		pthread_mutex_unlock(&d->lock);

		rc = mdb_txn_begin(d->env, NULL, 0, &txn);
		TAILQ_FOREACH(r, &group, entry) {
			if (rc != 0)
				break;
			d->key++;
			k.mv_data = &d->key;
			k.mv_size = sizeof(d->key);
			v.mv_data = r->data;
			v.mv_size = r->len;
			rc = mdb_put(txn, d->dbi, &k, &v, MDB_APPEND);
		}
		if (rc == 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		TAILQ_FOREACH(r, &group, entry)
			r->ok = rc == 0;

		pthread_mutex_lock(&d->lock);
		TAILQ_CONCAT(&d->done, &group, entry);
		pthread_mutex_unlock(&d->lock);
		while (write(d->efd, &one, sizeof(one)) == -1 && errno == EINTR)
			;
	}
}

/* The commit thread's wake: answer what it committed. */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct durable *d = arg;
	struct rec_list done;
	struct rec *r;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		perror("evhttp_durable: eventfd");
	TAILQ_INIT(&done);
	pthread_mutex_lock(&d->lock);
	TAILQ_CONCAT(&done, &d->done, entry);
	pthread_mutex_unlock(&d->lock);
	while ((r = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, r, entry);
		if (r->ok) {
			evhttp_add_header(
			    evhttp_request_get_output_headers(r->req),
			    "Content-Type", "application/json");
			evbuffer_add(d->out, "{\"success\":true}", 16);
			evhttp_send_reply(r->req, 200, "OK", d->out);
		} else {
			evhttp_send_error(r->req, 503, "spool: cannot write");
		}
		free(r->data);
		free(r);
	}
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct durable *d = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct rec *r = calloc(1, sizeof(*r));
	size_t len = evbuffer_get_length(in);

	if (r == NULL || (r->data = malloc(len > 0 ? len : 1)) == NULL) {
		free(r);
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	evbuffer_remove(in, r->data, len);
	r->len = len;
	r->req = req;
	pthread_mutex_lock(&d->lock);
	TAILQ_INSERT_TAIL(&d->pending, r, entry);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

static int
open_env(struct durable *d, const char *dir)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&d->env)) != 0 ||
	    (rc = mdb_env_set_mapsize(d->env, MAP_BYTES)) != 0 ||
	    (rc = mdb_env_open(d->env, dir, MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(d->env, NULL, 0, &txn)) != 0) {
		fprintf(
		    stderr, "evhttp_durable: %s: %s\n", dir, mdb_strerror(rc));
		return -1;
	}
	if ((rc = mdb_dbi_open(txn, NULL, MDB_INTEGERKEY, &d->dbi)) != 0 ||
	    (rc = mdb_txn_commit(txn)) != 0) {
		fprintf(stderr, "evhttp_durable: %s\n", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct durable d = {
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cond = PTHREAD_COND_INITIALIZER,
	};
	struct event_base *base;
	struct evhttp *http;
	struct event *ev, *done_ev;
	struct rec *r;
	const char *path = NULL, *dir = NULL;
	pthread_t thr;
	int ch, fd;

	while ((ch = getopt(argc, argv, "u:d:")) != -1) {
		switch (ch) {
		case 'u':
			path = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		default:
			path = NULL;
			optind = argc + 1;
			break;
		}
	}
	if (path == NULL || dir == NULL || optind != argc) {
		fprintf(stderr, "usage: evhttp_durable -u socket -d dir\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	TAILQ_INIT(&d.pending);
	TAILQ_INIT(&d.done);
	if (open_env(&d, dir) == -1)
		return 1;
	if ((fd = sock_unix_listen(path)) == -1) {
		perror(path);
		return 1;
	}
	d.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	base = event_base_new();
	http = base != NULL ? evhttp_new(base) : NULL;
	d.out = evbuffer_new();
	if (d.efd == -1 || http == NULL || d.out == NULL ||
	    evhttp_accept_socket(http, fd) == -1 ||
	    pthread_create(&thr, NULL, commit_main, &d) != 0) {
		fprintf(stderr, "evhttp_durable: cannot set up\n");
		return 1;
	}
	evhttp_set_gencb(http, on_request, &d);
	done_ev = event_new(base, d.efd, EV_READ | EV_PERSIST, on_done, &d);
	ev = evsignal_new(base, SIGTERM, on_term, base);
	event_add(done_ev, NULL);
	evsignal_add(ev, NULL);
	event_base_dispatch(base);
	pthread_mutex_lock(&d.lock);
	d.stop = 1;
	pthread_cond_signal(&d.cond);
	pthread_mutex_unlock(&d.lock);
	pthread_join(thr, NULL);
	/* Requests the loop never answered: evhttp_free closes them. */
	TAILQ_CONCAT(&d.pending, &d.done, entry);
	while ((r = TAILQ_FIRST(&d.pending)) != NULL) {
		TAILQ_REMOVE(&d.pending, r, entry);
		free(r->data);
		free(r);
	}
	event_free(ev);
	event_free(done_ev);
	evhttp_free(http);
	evbuffer_free(d.out);
	event_base_free(base);
	mdb_env_close(d.env);
	close(d.efd);
	unlink(path);
	return 0;
}
