/*
 * fl_log.h - log lines: one line to stderr with time, level and component.
 * Threads: every call is thread-safe (lines never interleave).
 */
#ifndef FL_LOG_H
#define FL_LOG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct fl_strbuf;

typedef enum { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR } fl_log_level;

void fl_log(fl_log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fl_log_set_level(fl_log_level lvl);

/* The process keeps its latest FL_LOG_KEEP lines (each cut at
 * FL_LOG_LINE_MAX bytes) for the REST API's logs. Line n (from 1) is the
 * n-th line written. */
#define FL_LOG_KEEP 1000
#define FL_LOG_LINE_MAX 320
/* Append the kept lines after line number `after`, oldest first, at most
 * max_lines (the newest of them), each ending in '\n', to b; returns the
 * number of the last line written, or `after` when there is none. Lines
 * that were no longer kept are skipped. */
uint64_t fl_log_recent(uint64_t after, size_t max_lines, struct fl_strbuf *b);

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
