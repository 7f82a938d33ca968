/* clock.h: millisecond clocks: wall time for timestamps, monotonic time for
 * deadlines. */
#ifndef TS_CLOCK_H
#define TS_CLOCK_H

#include <stdint.h>

/* Unix time in ms (CLOCK_REALTIME): for what is stored or shown. */
uint64_t clock_wall_ms(void);

/* A clock that never steps (CLOCK_MONOTONIC), in ms: for timeouts. */
uint64_t clock_mono_ms(void);

#endif
