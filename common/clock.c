/* clock.c: millisecond clocks: wall time for timestamps, monotonic time for
 * deadlines. */
#include "clock.h"

#include <time.h>

static uint64_t
read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
clock_wall_ms(void)
{
	return read_ms(CLOCK_REALTIME);
}

uint64_t
clock_mono_ms(void)
{
	return read_ms(CLOCK_MONOTONIC);
}

void
clock_mono_timespec(uint64_t deadline_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(deadline_ms / 1000);
	ts->tv_nsec = (long)(deadline_ms % 1000) * 1000000;
}
