/* window.h: the records the forwarder has read and not yet settled, one unit
 * per upstream request, and the order rules between the units. */
#ifndef TS_WINDOW_H
#define TS_WINDOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spool/spool.h"

/*
 * The forwarder reads the spool in sequence order and cuts it into units:
 * the records of one upstream request (a run of one kind and one key, or a
 * single session start or update). A unit stays in the window until it is
 * settled: accepted by the upstream (2xx) or dead-lettered. The window
 * keeps its units in sequence order, and the order rules are about that
 * order (the flags are common/kind.h's):
 *
 *   - no unit is sent while an earlier KIND_ORDER_BEFORE_LATER unit is
 *     unsettled: a session start is accepted before anything spooled after
 *     it goes out;
 *   - a KIND_ORDER_AFTER_EARLIER unit is sent only once no earlier unit is
 *     left: an update goes out after everything spooled before it was
 *     accepted (or dead-lettered);
 *   - any other unit may be in flight beside any other.
 *
 * A rejected unit is split in two (window_split); the halves are units of
 * their own under the same rules, so they may go out together. A unit
 * whose request failed stays where it is, WIN_READY again, and keeps
 * everything behind it waiting exactly as before it was sent.
 *
 * Pure: no I/O, no locks, no logging. One thread uses a window.
 */

enum win_state {
	WIN_READY = 0, /* waiting to be sent, the first time or again */
	WIN_FLIGHT,    /* in a request now */
};

/*
 * One unit. The window owns it and its items; the caller reads the fields
 * and changes only state, tries and stamp. Valid until window_remove or
 * window_free.
 */
struct win_unit {
	struct spool_item *items; /* n records in sequence order */
	uint32_t *tries;          /* upstream attempts, per record */
	size_t n;
	uint64_t bytes; /* sum of the items' len */
	uint64_t count; /* sum of the items' count (events, spans) */
	int order;      /* KIND_ORDER_* flags of its kind */
	int state;      /* enum win_state */
	int split;      /* made by window_split: a rejected unit's half */
	uint64_t stamp; /* the caller's, never looked at here */
	TAILQ_ENTRY(win_unit) entry;
};

struct window;

/* A new, empty window. 0, or -1 when out of memory. */
int window_new(struct window **wp);
/* Free every unit and their records. NULL is ignored. */
void window_free(struct window *w);

/*
 * Move the first n records of b (1 <= n <= b->n) into a new unit at the
 * back, WIN_READY, with order flags order. They must come after every
 * record already in the window. Returns the unit, or NULL when out of
 * memory (b unchanged).
 */
struct win_unit *window_push(
    struct window *w, struct spool_batch *b, size_t n, int order);

/*
 * The first WIN_READY unit the rules allow to be sent now, in sequence
 * order; NULL when there is none.
 */
struct win_unit *window_ready(const struct window *w);

/*
 * 1 when no unit pushed now could be sent before another is settled
 * (an unsettled KIND_ORDER_BEFORE_LATER unit is in the window): reading
 * further ahead would only hold memory.
 */
int window_blocked(const struct window *w);

/*
 * Split u (n >= 2, not in flight) at mid (0 < mid < n): u keeps records
 * [0, mid), a new unit right after it takes [mid, n) with their tries.
 * Both are WIN_READY and marked split; the new one has u's order and
 * stamp. 0, or -1 when out of memory (u unchanged).
 */
int window_split(struct window *w, struct win_unit *u, size_t mid);

/* Free record i of u and close the gap; u may become empty. */
void window_drop(struct win_unit *u, size_t i);

/* Take u out of the window and free it with its records. */
void window_remove(struct window *w, struct win_unit *u);

/* The units in sequence order: the first, the one after u; NULL at the end. */
struct win_unit *window_first(const struct window *w);
struct win_unit *window_after(const struct win_unit *u);

/* Units, and the bytes of their records, in the window. */
size_t window_units(const struct window *w);
uint64_t window_bytes(const struct window *w);

#endif
