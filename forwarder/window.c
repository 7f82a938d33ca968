/* window.c: units of read, unsettled records and the order rules between
 * them. */
#include "forwarder/window.h"

#include <stdlib.h>
#include <string.h>

#include "common/kind.h"

TAILQ_HEAD(win_list, win_unit);

struct window {
	struct win_list units; /* in sequence order */
	size_t nunits;
};

int
window_new(struct window **wp)
{
	struct window *w = calloc(1, sizeof(*w));

	*wp = NULL;
	if (w == NULL)
		return -1;
	TAILQ_INIT(&w->units);
	*wp = w;
	return 0;
}

static void
unit_free(struct win_unit *u)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		spool_item_free(&u->items[i]);
	free(u->items);
	free(u->tries);
	free(u);
}

void
window_free(struct window *w)
{
	struct win_unit *u;

	if (w == NULL)
		return;
	while ((u = TAILQ_FIRST(&w->units)) != NULL) {
		TAILQ_REMOVE(&w->units, u, entry);
		unit_free(u);
	}
	free(w);
}

/* A unit with room for n records and nothing in it yet. */
static struct win_unit *
unit_new(size_t n)
{
	struct win_unit *u = calloc(1, sizeof(*u));

	if (u == NULL)
		return NULL;
	u->items = calloc(n, sizeof(*u->items));
	u->tries = calloc(n, sizeof(*u->tries));
	if (u->items == NULL || u->tries == NULL) {
		free(u->items);
		free(u->tries);
		free(u);
		return NULL;
	}
	return u;
}

static void
unit_count(struct win_unit *u)
{
	size_t i;

	u->bytes = 0;
	u->count = 0;
	for (i = 0; i < u->n; i++) {
		u->bytes += u->items[i].len;
		u->count += u->items[i].count;
	}
}

struct win_unit *
window_push(struct window *w, struct spool_batch *b, size_t n, int order)
{
	struct win_unit *u;

	if (n == 0 || n > b->n || (u = unit_new(n)) == NULL)
		return NULL;
	spool_batch_take(b, n, u->items);
	u->n = n;
	u->order = order;
	unit_count(u);
	TAILQ_INSERT_TAIL(&w->units, u, entry);
	w->nunits++;
	return u;
}

struct win_unit *
window_ready(const struct window *w)
{
	struct win_unit *u;
	int earlier = 0;

	TAILQ_FOREACH(u, &w->units, entry) {
		if (u->state == WIN_READY &&
		    (!(u->order & KIND_ORDER_AFTER_EARLIER) || !earlier))
			return u;
		/* Everything after it waits until it is settled. */
		if (u->order & KIND_ORDER_BEFORE_LATER)
			return NULL;
		earlier = 1;
	}
	return NULL;
}

int
window_blocked(const struct window *w)
{
	struct win_unit *u;

	TAILQ_FOREACH(u, &w->units, entry) {
		if (u->order & KIND_ORDER_BEFORE_LATER)
			return 1;
	}
	return 0;
}

int
window_split(struct window *w, struct win_unit *u, size_t mid)
{
	struct win_unit *v;
	size_t k;

	if (mid == 0 || mid >= u->n || u->state == WIN_FLIGHT)
		return -1;
	k = u->n - mid;
	if ((v = unit_new(k)) == NULL)
		return -1;
	memcpy(v->items, u->items + mid, k * sizeof(*v->items));
	memcpy(v->tries, u->tries + mid, k * sizeof(*v->tries));
	v->n = k;
	v->order = u->order;
	v->stamp = u->stamp;
	v->split = 1;
	v->state = WIN_READY;
	u->n = mid;
	u->split = 1;
	u->state = WIN_READY;
	unit_count(u);
	unit_count(v);
	TAILQ_INSERT_AFTER(&w->units, u, v, entry);
	w->nunits++;
	return 0;
}

void
window_drop(struct win_unit *u, size_t i)
{
	if (i >= u->n)
		return;
	spool_item_free(&u->items[i]);
	memmove(
	    u->items + i, u->items + i + 1, (u->n - i - 1) * sizeof(*u->items));
	memmove(
	    u->tries + i, u->tries + i + 1, (u->n - i - 1) * sizeof(*u->tries));
	u->n--;
	unit_count(u);
}

void
window_remove(struct window *w, struct win_unit *u)
{
	TAILQ_REMOVE(&w->units, u, entry);
	w->nunits--;
	unit_free(u);
}

struct win_unit *
window_first(const struct window *w)
{
	return TAILQ_FIRST(&w->units);
}

struct win_unit *
window_after(const struct win_unit *u)
{
	return TAILQ_NEXT(u, entry);
}

size_t
window_units(const struct window *w)
{
	return w->nunits;
}

uint64_t
window_bytes(const struct window *w)
{
	const struct win_unit *u;
	uint64_t b = 0;

	TAILQ_FOREACH(u, &w->units, entry)
		b += u->bytes;
	return b;
}
