/* evhttp_noop.c: libevent's evhttp answering 200 without work: its ceiling. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "tests/support/sock.h"

/*
 * Usage: evhttp_noop -u SOCKET. Serves on a Unix socket, one thread, and
 * answers every request with 200 {"success":true}, reading the body as
 * evhttp always does but not looking at it. SIGTERM stops it.
 */

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = arg;

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(out, "{\"success\":true}", 16);
	evhttp_send_reply(req, 200, "OK", out);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct evbuffer *out;
	struct event *ev;
	const char *path = NULL;
	int ch, fd;

	while ((ch = getopt(argc, argv, "u:")) != -1) {
		switch (ch) {
		case 'u':
			path = optarg;
			break;
		default:
			path = NULL;
			optind = argc + 1;
			break;
		}
	}
	if (path == NULL || optind != argc) {
		fprintf(stderr, "usage: evhttp_noop -u socket\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fd = sock_unix_listen(path)) == -1) {
		perror(path);
		return 1;
	}
	base = event_base_new();
	http = base != NULL ? evhttp_new(base) : NULL;
	out = evbuffer_new();
	if (http == NULL || out == NULL ||
	    evhttp_accept_socket(http, fd) == -1) {
		fprintf(stderr, "evhttp_noop: cannot set up evhttp\n");
		return 1;
	}
	evhttp_set_gencb(http, on_request, out);
	ev = evsignal_new(base, SIGTERM, on_term, base);
	evsignal_add(ev, NULL);
	event_base_dispatch(base);
	event_free(ev);
	evhttp_free(http);
	evbuffer_free(out);
	event_base_free(base);
	unlink(path);
	return 0;
}
