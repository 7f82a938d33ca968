/* clock.h: millisecond clocks: wall time for timestamps, monotonic time for
 * deadlines. */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix time in ms (CLOCK_REALTIME): for what is stored or shown. */
uint64_t clock_wall_ms(void);

/* A clock that never steps (CLOCK_MONOTONIC), in ms: for timeouts. */
uint64_t clock_mono_ms(void);

/*
 * The absolute time for pthread_cond_timedwait on a condition variable
 * whose clock is CLOCK_MONOTONIC, from a deadline in clock_mono_ms's
 * terms. A plain conversion: it reads no clock and subtracts nothing, so
 * a deadline already past gives a time in the past (the wait returns at
 * once) instead of a wrapped, endless one. Any thread.
 */
void clock_mono_timespec(uint64_t deadline_ms, struct timespec *ts);

#endif
