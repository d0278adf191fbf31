/*
 * fl_time.h - clocks. Threads: any.
 */
#ifndef FL_TIME_H
#define FL_TIME_H

#include <stdint.h>
#include <time.h>

/* Wall clock, milliseconds since the Unix epoch. */
static inline int64_t fl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall clock, nanoseconds since the Unix epoch (latency markers). */
static inline int64_t fl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Monotonic clock, nanoseconds from an arbitrary start. */
static inline int64_t fl_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
