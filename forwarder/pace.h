/* pace.h: how many requests a second to start after the remote throttled or
 * came back from an outage: a pace below what the concurrency limit alone
 * would send. */
#ifndef TS_PACE_H
#define TS_PACE_H

#include <stdint.h>

/*
 * A 429 says the remote is past its rate, not that it is slow: fewer
 * requests in flight help little when one request at a time already sends
 * more than the remote takes from this daemon (in a fleet its share may be
 * a request every few seconds). So a 429 also sets a pace: the rate this
 * daemon's requests were accepted at over the last PACE_WINDOW_S seconds
 * (the share the remote gave it), times PACE_BACKOFF, growing by
 * PACE_GROW a second from there to probe for more, until the next 429
 * sets it again. A daemon the remote refused everything starts at
 * PACE_MIN_PER_S.
 *
 * After an outage (pace_restart) the pace starts at PACE_START_PER_S and
 * doubles every second: a fleet that met one outage comes back gently
 * instead of every daemon at full concurrency at once.
 *
 * The pace's clock starts when the wait that came with the refusal ends
 * (pace_hold), not while the daemon waits. Once the pace exceeds what the
 * concurrency limit lets through anyway (the caller's ceiling, requests a
 * second), pacing ends. Requests start no closer together than the pace
 * allows: no bursts.
 *
 * The struct is the caller's; only these functions change it. Pure; one
 * thread at a time; times are monotonic milliseconds.
 */

/* Seconds of accepted requests behind a 429's measure of the share. */
#define PACE_WINDOW_S 5
/* After a 429: this share of the accepted rate... */
#define PACE_BACKOFF 0.7
/* ...growing by this much of itself a second. */
#define PACE_GROW 0.2
/* The least a 429 leaves, in requests a second. */
#define PACE_MIN_PER_S 0.5
/* After an outage: the first second's requests, doubling each second. */
#define PACE_START_PER_S 1.0

struct pace {
	int ramp;         /* after an outage: doubling from PACE_START_PER_S */
	double peak;      /* what the pace starts from; 0: not pacing */
	uint64_t cut_ms;  /* when it starts (the 429, or the end of a wait) */
	uint64_t next_ms; /* no request starts before this */
	uint64_t sec;     /* the second acc[0] counts (now / 1000) */
	unsigned acc[PACE_WINDOW_S]; /* accepted each second, newest first */
};

void pace_init(struct pace *p);
/* A request was accepted (2xx) at now. */
void pace_accepted(struct pace *p, uint64_t now);
/*
 * A request sent at sent_ms was refused with 429 at now. Counts once per
 * burst: a request sent before the last cut does not cut again.
 */
void pace_throttled(struct pace *p, uint64_t sent_ms, uint64_t now);
/*
 * The remote was out (several failures in a row): pace the return from
 * PACE_START_PER_S, doubling every second, until a 429 or the ceiling.
 */
void pace_restart(struct pace *p);
/* Nothing is sent before until_ms: the pace's clock starts then. */
void pace_hold(struct pace *p, uint64_t until_ms);
/*
 * Requests a second allowed at now; 0 when not pacing. A pace past
 * ceiling (what the concurrency limit lets through anyway, requests a
 * second; 0: none known) ends pacing.
 */
double pace_rate(struct pace *p, uint64_t now, double ceiling);
/* Milliseconds until the next request may start; 0: now. */
uint64_t pace_wait(struct pace *p, uint64_t now, double ceiling);
/* A request starts now. */
void pace_sent(struct pace *p, uint64_t now, double ceiling);

#endif
