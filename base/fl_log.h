/*
 * fl_log.h - log lines: one line to stderr with time, level and component.
 * Threads: every call is thread-safe (lines never interleave).
 */
#ifndef FL_LOG_H
#define FL_LOG_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR } fl_log_level;

void fl_log(fl_log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fl_log_set_level(fl_log_level lvl);

/* A line that may repeat many times a second (a failing retry, a peer
 * sending garbage): at most `burst` lines per `window_ms`; the first line
 * after a quiet window says how many were suppressed. The limiter is a
 * caller-owned static (FL_LOG_LIMIT_INIT), one per call site. */
typedef struct fl_log_limit {
	_Atomic int64_t window_start_ms;
	atomic_int in_window;
	atomic_long suppressed;
	int burst;
	int window_ms;
} fl_log_limit;
#define FL_LOG_LIMIT_INIT(burst_, window_ms_)                \
	{                                                    \
		.burst = (burst_), .window_ms = (window_ms_) \
	}
void fl_log_limited(fl_log_limit *lim, fl_log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
