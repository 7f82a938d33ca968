/* bucket.c: a token bucket in integer thousandths of a unit. */
#include "forwarder/bucket.h"

/* Rates beyond this are no limit in practice, and keep the math in range. */
#define RATE_MAX (UINT64_C(1) << 40)

static int64_t
cap_of(const struct bucket *b)
{
	return (int64_t)(b->rate * 1000);
}

static void
refill(struct bucket *b, uint64_t now_ms)
{
	uint64_t dt, room;

	if (now_ms <= b->last_ms)
		return;
	dt = now_ms - b->last_ms;
	b->last_ms = now_ms;
	if (b->rate == 0 || b->level >= cap_of(b))
		return;
	/* Past the time it takes to fill up, the product could overflow. */
	room = (uint64_t)(cap_of(b) - b->level);
	if (dt > room / b->rate)
		b->level = cap_of(b);
	else
		b->level += (int64_t)(dt * b->rate);
}

void
bucket_init(struct bucket *b, uint64_t rate, uint64_t now_ms)
{
	b->rate = rate < RATE_MAX ? rate : RATE_MAX;
	b->level = cap_of(b);
	b->last_ms = now_ms;
}

void
bucket_set_rate(struct bucket *b, uint64_t rate, uint64_t now_ms)
{
	refill(b, now_ms);
	b->rate = rate < RATE_MAX ? rate : RATE_MAX;
	if (b->level > cap_of(b))
		b->level = cap_of(b);
}

/* What the level must reach before cost may go, in thousandths. */
static int64_t
need_of(const struct bucket *b, uint64_t cost)
{
	return (int64_t)((cost < b->rate ? cost : b->rate) * 1000);
}

uint64_t
bucket_wait(struct bucket *b, uint64_t cost, uint64_t now_ms)
{
	int64_t need;

	if (b->rate == 0)
		return 0;
	refill(b, now_ms);
	need = need_of(b, cost);
	if (b->level >= need)
		return 0;
	/* Rounded up: waking a millisecond early would only wait again. */
	return ((uint64_t)(need - b->level) + b->rate - 1) / b->rate;
}

void
bucket_take(struct bucket *b, uint64_t cost, uint64_t now_ms)
{
	if (b->rate == 0)
		return;
	refill(b, now_ms);
	if (cost > RATE_MAX)
		cost = RATE_MAX;
	b->level -= (int64_t)(cost * 1000);
}
