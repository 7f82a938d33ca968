/* pace.c: an adaptive pace of requests after a 429 or an outage. */
#include "forwarder/pace.h"

#include <math.h>
#include <string.h>

/* A pace this far past the ceiling has held nothing back for a while. */
#define CEILING_FACTOR 4

void
pace_init(struct pace *p)
{
	memset(p, 0, sizeof(*p));
}

/* Move the accepted counts on to the second of now. */
static void
roll(struct pace *p, uint64_t now)
{
	uint64_t sec = now / 1000, k;

	if (sec <= p->sec)
		return;
	k = sec - p->sec;
	if (k >= PACE_WINDOW_S) {
		memset(p->acc, 0, sizeof(p->acc));
	} else {
		memmove(p->acc + k, p->acc,
		    (PACE_WINDOW_S - k) * sizeof(p->acc[0]));
		memset(p->acc, 0, k * sizeof(p->acc[0]));
	}
	p->sec = sec;
}

void
pace_accepted(struct pace *p, uint64_t now)
{
	roll(p, now);
	p->acc[0]++;
}

void
pace_throttled(struct pace *p, uint64_t sent_ms, uint64_t now)
{
	double span, rate;
	unsigned i, n = 0;

	if (p->peak > 0 && !p->ramp && sent_ms < p->cut_ms)
		return;
	roll(p, now);
	/* The window's whole seconds and what has passed of this one. */
	span = PACE_WINDOW_S - 1 + (double)(now % 1000) / 1000.0;
	for (i = 0; i < PACE_WINDOW_S; i++)
		n += p->acc[i];
	rate = n / span;
	p->ramp = 0;
	p->peak = rate > PACE_MIN_PER_S ? rate : PACE_MIN_PER_S;
	p->cut_ms = now;
}

void
pace_restart(struct pace *p)
{
	p->ramp = 1;
	p->peak = PACE_START_PER_S;
}

void
pace_hold(struct pace *p, uint64_t until_ms)
{
	if (p->peak > 0 && until_ms > p->cut_ms)
		p->cut_ms = until_ms;
}

double
pace_rate(struct pace *p, uint64_t now, double ceiling)
{
	double t, r;

	if (p->peak == 0)
		return 0;
	t = now > p->cut_ms ? (double)(now - p->cut_ms) / 1000.0 : 0;
	if (p->ramp)
		r = PACE_START_PER_S * pow(2, t);
	else
		r = p->peak * PACE_BACKOFF * pow(1 + PACE_GROW, t);
	if (ceiling > 0 && r >= (p->ramp ? 1 : CEILING_FACTOR) * ceiling) {
		p->peak = 0;
		p->ramp = 0;
		return 0;
	}
	return r;
}

uint64_t
pace_wait(struct pace *p, uint64_t now, double ceiling)
{
	if (pace_rate(p, now, ceiling) == 0 || now >= p->next_ms)
		return 0;
	return p->next_ms - now;
}

void
pace_sent(struct pace *p, uint64_t now, double ceiling)
{
	double r = pace_rate(p, now, ceiling);

	if (r > 0)
		p->next_ms = now + (uint64_t)(1000.0 / r);
}
