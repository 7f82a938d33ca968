/* aimd.c: adaptive concurrency from the answers and their latency. */
#include "forwarder/aimd.h"

/* Near the floor: a mean within a quarter of it, plus 5 ms of noise. */
static int
near_floor(const struct aimd *a, double mean)
{
	return mean <= a->floor_ms * 1.25 + 5.0;
}

static int
rising(const struct aimd *a, double mean)
{
	return mean > a->floor_ms * 2.0 + AIMD_SLACK_MS;
}

static void
period_start(struct aimd *a, uint64_t now_ms)
{
	a->start_ms = now_ms;
	a->left = a->limit;
	a->n = 0;
	a->sum_ms = 0;
	a->full = 0;
	a->troubled = 0;
}

void
aimd_init(struct aimd *a, unsigned max)
{
	a->max = max > 0 ? max : 1;
	a->limit = 1;
	a->slow_start = 1;
	a->rtt_ms = 0;
	a->floor_ms = 0;
	a->cut_ms = 0;
	period_start(a, 0);
}

void
aimd_set_max(struct aimd *a, unsigned max)
{
	a->max = max > 0 ? max : 1;
	if (a->limit > a->max)
		a->limit = a->max;
	if (a->left > a->limit)
		a->left = a->limit;
}

void
aimd_full(struct aimd *a)
{
	a->full = 1;
}

static void
cut(struct aimd *a, unsigned limit, uint64_t now_ms)
{
	a->limit = limit > 0 ? limit : 1;
	a->slow_start = 0;
	a->cut_ms = now_ms;
	period_start(a, now_ms);
}

static void
period_end(struct aimd *a, uint64_t now_ms)
{
	double mean;

	if (a->n == 0) {
		period_start(a, now_ms);
		return;
	}
	mean = a->sum_ms / a->n;
	if (rising(a, mean)) {
		/* At least one less, so a limit of 2 or 3 moves too. */
		cut(a, a->limit - (a->limit + 3) / 4, now_ms);
	} else if (a->full && !a->troubled && near_floor(a, mean)) {
		if (a->slow_start)
			a->limit *= 2;
		else
			a->limit++;
		if (a->limit > a->max)
			a->limit = a->max;
	}
	if (mean > a->floor_ms)
		a->floor_ms += (mean - a->floor_ms) / 16;
	period_start(a, now_ms);
}

void
aimd_answer(struct aimd *a, uint64_t sent_ms, uint64_t now_ms, int outcome)
{
	double rtt = now_ms > sent_ms ? (double)(now_ms - sent_ms) : 0;

	if (outcome == AIMD_BACKOFF) {
		/* One cut per burst: this request went out before the last. */
		if (sent_ms >= a->cut_ms)
			cut(a, a->limit / 2, now_ms);
		return;
	}
	if (outcome == AIMD_OK) {
		a->rtt_ms =
		    a->rtt_ms == 0 ? rtt : a->rtt_ms + (rtt - a->rtt_ms) / 8;
		if (a->floor_ms == 0 || rtt < a->floor_ms)
			a->floor_ms = rtt;
		a->sum_ms += rtt;
		a->n++;
	} else {
		a->troubled = 1;
	}
	if (a->left > 0)
		a->left--;
	/*
	 * Past slow start a period also lasts a second at least: the limit
	 * grows by one a second at most, however short the round trip, so a
	 * daemon coming back from an outage does not ramp up at once.
	 */
	if (a->left == 0 &&
	    (a->slow_start || now_ms >= a->start_ms + AIMD_PERIOD_MIN_MS))
		period_end(a, now_ms);
}
