/* aimd.h: how many upstream requests may be in flight: additive increase,
 * multiplicative decrease, from the answers and their latency. */
#ifndef TS_AIMD_H
#define TS_AIMD_H

#include <stdint.h>

/*
 * The limit starts at 1 and doubles every round trip (slow start) until
 * the first sign of trouble. From then on it grows by one a round trip,
 * but at most one a second (AIMD_PERIOD_MIN_MS), while the answers are
 * good and their latency stays near its floor, and it falls:
 *   - by half on an answer that makes the forwarder back off (429, 5xx, a
 *     timeout, no answer at all: AIMD_BACKOFF);
 *   - by a quarter when a round trip's mean latency rises past twice the
 *     floor plus AIMD_SLACK_MS: the remote (or the path) is queueing.
 * It never goes below 1 nor above the maximum (upload_concurrency).
 *
 * A round trip is a period of as many answers as the limit was when the
 * period began (past slow start, and at least a second long). The limit grows
 * only after a period in which the caller had more to send than the limit let
 * it (aimd_full), so an idle or trickling forwarder does not creep up to the
 * maximum. A decrease counts once per burst: an answer to a request sent before
 * the last decrease does not decrease again (eight 429s of one burst halve
 * once).
 *
 * The floor is the lowest latency seen; after each period whose mean is
 * above it, it moves up by a sixteenth of the gap, so that a lasting
 * change of the path is learnt within a few dozen round trips rather than
 * holding the limit down for ever.
 *
 * The struct is the caller's; its fields may be read (for /stats), and
 * only these functions change them. Pure; one thread at a time.
 */
struct aimd {
	unsigned limit;  /* requests that may be in flight now */
	unsigned max;    /* upload_concurrency */
	int slow_start;  /* doubling until the first decrease */
	double rtt_ms;   /* smoothed latency of the answers (1/8 each) */
	double floor_ms; /* the latency floor; 0 before the first answer */
	/* The current period. */
	unsigned left;     /* answers until it ends */
	unsigned n;        /* latency samples in it */
	double sum_ms;     /* their sum */
	int full;          /* the caller was held back by the limit */
	int troubled;      /* an answer without a usable latency */
	uint64_t cut_ms;   /* when the limit last fell (monotonic ms) */
	uint64_t start_ms; /* when the current period began */
};

/* Answers to the requests, as the limit sees them. */
enum aimd_outcome {
	AIMD_OK = 0,  /* the remote answered and works: 2xx, or a refusal of
	                 the records themselves (400, 404, 409, 413, 422) */
	AIMD_BACKOFF, /* 408, 425, 429, 5xx, a timeout, no answer */
	AIMD_NEUTRAL, /* says nothing about load (401, 403, odd answers) */
};

/* Added to twice the floor before a rising latency counts. */
#define AIMD_SLACK_MS 10
/* Past slow start, the shortest period: one more a second at most. */
#define AIMD_PERIOD_MIN_MS 1000

void aimd_init(struct aimd *a, unsigned max);
/* A new maximum (reload); the limit is cut to it at once. max >= 1. */
void aimd_set_max(struct aimd *a, unsigned max);
/* The caller had a request ready and the limit held it back. */
void aimd_full(struct aimd *a);
/*
 * One answer to a request sent at sent_ms, received at now_ms (both
 * monotonic ms), with its outcome.
 */
void aimd_answer(
    struct aimd *a, uint64_t sent_ms, uint64_t now_ms, int outcome);

#endif
