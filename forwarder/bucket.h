/* bucket.h: a token bucket: at most rate units a second, in bursts of at most
 * one second's worth. */
#ifndef TS_BUCKET_H
#define TS_BUCKET_H

#include <stdint.h>

/*
 * The units are the caller's (events, bytes). The bucket holds at most one
 * second's worth, rate units, and starts full. A request costing cost
 * units may go once the bucket holds min(cost, rate): it then takes its
 * whole cost, so the level may fall below zero and the next request waits
 * for the debt to be paid. A request larger than a second's worth still
 * goes, and over any long stretch no more than rate units a second (plus
 * the first second's burst) go out.
 *
 * The level is kept in thousandths of a unit, refilled rate thousandths a
 * millisecond: exact in integers. The struct is the caller's; only these
 * functions change it. Pure; one thread at a time.
 */
struct bucket {
	uint64_t rate;    /* units a second; 0: no limit */
	int64_t level;    /* thousandths of a unit; may be negative */
	uint64_t last_ms; /* monotonic ms of the last refill */
};

/* A full bucket of rate units a second (0: no limit), at now_ms. */
void bucket_init(struct bucket *b, uint64_t rate, uint64_t now_ms);
/* A new rate (reload): the level is kept, cut to the new second's worth. */
void bucket_set_rate(struct bucket *b, uint64_t rate, uint64_t now_ms);
/* Milliseconds until a request of cost units may go; 0: now. */
uint64_t bucket_wait(struct bucket *b, uint64_t cost, uint64_t now_ms);
/* A request of cost units goes now (after bucket_wait said 0). */
void bucket_take(struct bucket *b, uint64_t cost, uint64_t now_ms);

#endif
