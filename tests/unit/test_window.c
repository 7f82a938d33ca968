/* test_window.c: the forwarder's window of unsettled records: units, splits
 * and the order rules between them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kind.h"
#include "forwarder/window.h"
#include "spool/spool.h"

/* Records seq .. seq + n - 1 of kind, each "r<seq>" with count 2. */
static void
fill(struct spool_batch *b, size_t n, uint8_t kind, uint64_t seq)
{
	size_t i;

	spool_batch_clear(b);
	if (b->cap < n) {
		b->items = realloc(b->items, n * sizeof(*b->items));
		assert_non_null(b->items);
		b->cap = n;
	}
	for (i = 0; i < n; i++) {
		struct spool_item *it = &b->items[i];

		memset(it, 0, sizeof(*it));
		it->seq = seq + i;
		it->kind = kind;
		it->count = 2;
		it->data = malloc(24);
		assert_non_null(it->data);
		it->len = (size_t)snprintf(
		    it->data, 24, "r%llu", (unsigned long long)it->seq);
		b->bytes += it->len;
	}
	b->n = n;
}

/* Push n records of kind from seq as one unit with kind's order. */
static struct win_unit *
push(struct window *w, size_t n, uint8_t kind, uint64_t seq)
{
	struct spool_batch b = {0};
	struct win_unit *u;

	fill(&b, n, kind, seq);
	u = window_push(w, &b, n, kind_get(kind)->order);
	assert_non_null(u);
	assert_int_equal(b.n, 0);
	spool_batch_free(&b);
	return u;
}

static void
test_push_takes_records(void **state)
{
	struct spool_batch b = {0};
	struct window *w;
	struct win_unit *u;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	fill(&b, 5, KIND_EVENT, 10);
	u = window_push(w, &b, 3, 0);
	assert_non_null(u);
	/* The unit has the first three, the batch keeps the rest in order. */
	assert_int_equal(u->n, 3);
	assert_string_equal(u->items[0].data, "r10");
	assert_string_equal(u->items[2].data, "r12");
	assert_int_equal(u->count, 6);
	assert_int_equal(u->bytes, 9);
	assert_int_equal(u->tries[0] + u->tries[1] + u->tries[2], 0);
	assert_int_equal(u->state, WIN_READY);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.items[0].seq, 13);
	assert_int_equal(b.bytes, 6);
	/* Nothing to push, or more than there is: refused, b unchanged. */
	assert_null(window_push(w, &b, 0, 0));
	assert_null(window_push(w, &b, 3, 0));
	assert_int_equal(b.n, 2);
	assert_int_equal(window_units(w), 1);
	assert_int_equal(window_bytes(w), 9);
	spool_batch_free(&b);
	window_free(w);
	window_free(NULL);
}

static void
test_plain_units_overlap(void **state)
{
	struct window *w;
	struct win_unit *a, *b, *c;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	assert_null(window_ready(w));
	a = push(w, 2, KIND_EVENT, 1);
	b = push(w, 2, KIND_MODEL_EVENT, 3);
	c = push(w, 1, KIND_SPANS_PB, 5);
	/* In sequence order, each ready while the earlier are in flight. */
	assert_ptr_equal(window_ready(w), a);
	a->state = WIN_FLIGHT;
	assert_ptr_equal(window_ready(w), b);
	b->state = WIN_FLIGHT;
	assert_ptr_equal(window_ready(w), c);
	c->state = WIN_FLIGHT;
	assert_null(window_ready(w));
	assert_int_equal(window_blocked(w), 0);
	/* A failed one is ready again before the later ones. */
	b->state = WIN_READY;
	assert_ptr_equal(window_ready(w), b);
	window_remove(w, a);
	assert_ptr_equal(window_first(w), b);
	assert_ptr_equal(window_after(b), c);
	assert_null(window_after(c));
	assert_int_equal(window_units(w), 2);
	window_free(w);
}

/* A session start: it may go beside earlier records, nothing after it. */
static void
test_session_holds_later(void **state)
{
	struct window *w;
	struct win_unit *e, *s, *after;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	e = push(w, 3, KIND_EVENT, 1);
	e->state = WIN_FLIGHT;
	s = push(w, 1, KIND_SESSION, 4);
	assert_int_equal(window_blocked(w), 1);
	after = push(w, 2, KIND_EVENT, 5);
	assert_ptr_equal(window_ready(w), s);
	s->state = WIN_FLIGHT;
	/* In flight, and after a failure, it holds back what follows. */
	assert_null(window_ready(w));
	s->state = WIN_READY;
	assert_ptr_equal(window_ready(w), s);
	s->state = WIN_FLIGHT;
	window_remove(w, e);
	assert_null(window_ready(w));
	/* Settled: the rest may go. */
	window_remove(w, s);
	assert_int_equal(window_blocked(w), 0);
	assert_ptr_equal(window_ready(w), after);
	window_free(w);
}

/* An update: only once everything before it is settled; later may pass. */
static void
test_update_waits_for_earlier(void **state)
{
	struct window *w;
	struct win_unit *e1, *e2, *u, *e3;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	e1 = push(w, 2, KIND_EVENT, 1);
	e2 = push(w, 2, KIND_EVENT, 3);
	u = push(w, 1, KIND_UPDATE, 5);
	e3 = push(w, 2, KIND_EVENT, 6);
	e1->state = WIN_FLIGHT;
	e2->state = WIN_FLIGHT;
	/* Waiting for e1 and e2; e3 after it does not wait for it. */
	assert_ptr_equal(window_ready(w), e3);
	assert_int_equal(window_blocked(w), 0);
	e3->state = WIN_FLIGHT;
	assert_null(window_ready(w));
	window_remove(w, e2);
	assert_null(window_ready(w));
	/* e1 failed and waits to go again: still earlier, still unsettled. */
	e1->state = WIN_READY;
	assert_ptr_equal(window_ready(w), e1);
	e1->state = WIN_FLIGHT;
	assert_null(window_ready(w));
	window_remove(w, e1);
	assert_ptr_equal(window_ready(w), u);
	window_free(w);
}

/* An update right after a session waits for the session, which holds it. */
static void
test_session_then_update(void **state)
{
	struct window *w;
	struct win_unit *s, *u;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	s = push(w, 1, KIND_SESSION, 1);
	u = push(w, 1, KIND_UPDATE, 2);
	assert_ptr_equal(window_ready(w), s);
	s->state = WIN_FLIGHT;
	assert_null(window_ready(w));
	window_remove(w, s);
	assert_ptr_equal(window_ready(w), u);
	window_free(w);
}

static void
test_split(void **state)
{
	struct window *w;
	struct win_unit *a, *b, *next;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	a = push(w, 5, KIND_EVENT, 1);
	next = push(w, 1, KIND_EVENT, 6);
	a->tries[3] = 7;
	a->stamp = 42;
	/* Refused: in flight, or no real split. */
	a->state = WIN_FLIGHT;
	assert_int_equal(window_split(w, a, 2), -1);
	a->state = WIN_READY;
	assert_int_equal(window_split(w, a, 0), -1);
	assert_int_equal(window_split(w, a, 5), -1);
	assert_int_equal(window_units(w), 2);

	assert_int_equal(window_split(w, a, 2), 0);
	b = window_after(a);
	assert_ptr_not_equal(b, next);
	assert_ptr_equal(window_after(b), next);
	assert_int_equal(a->n, 2);
	assert_int_equal(b->n, 3);
	assert_string_equal(a->items[1].data, "r2");
	assert_string_equal(b->items[0].data, "r3");
	assert_int_equal(b->tries[1], 7);
	assert_int_equal(a->count, 4);
	assert_int_equal(b->count, 6);
	assert_int_equal(a->bytes, 4);
	assert_int_equal(b->bytes, 6);
	assert_true(a->split && b->split);
	assert_int_equal(b->stamp, 42);
	assert_int_equal(window_units(w), 3);
	/* Both halves may go at once. */
	assert_ptr_equal(window_ready(w), a);
	a->state = WIN_FLIGHT;
	assert_ptr_equal(window_ready(w), b);
	window_free(w);
}

static void
test_drop(void **state)
{
	struct window *w;
	struct win_unit *a;

	(void)state;
	assert_int_equal(window_new(&w), 0);
	a = push(w, 3, KIND_EVENT, 1);
	a->tries[2] = 5;
	window_drop(a, 1);
	assert_int_equal(a->n, 2);
	assert_string_equal(a->items[1].data, "r3");
	assert_int_equal(a->tries[1], 5);
	assert_int_equal(a->count, 4);
	window_drop(a, 9);
	assert_int_equal(a->n, 2);
	window_drop(a, 0);
	window_drop(a, 0);
	assert_int_equal(a->n, 0);
	assert_int_equal(a->bytes, 0);
	window_remove(w, a);
	assert_int_equal(window_units(w), 0);
	assert_null(window_first(w));
	window_free(w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_push_takes_records),
	    cmocka_unit_test(test_plain_units_overlap),
	    cmocka_unit_test(test_session_holds_later),
	    cmocka_unit_test(test_update_waits_for_earlier),
	    cmocka_unit_test(test_session_then_update),
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_drop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
