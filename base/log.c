/* log.c - log lines and rate-limited log lines. */
#include "fl_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "fl_time.h"

static fl_log_level g_level = FL_LOG_INFO;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

void fl_log_set_level(fl_log_level lvl) { g_level = lvl; }

static void vlog(fl_log_level lvl, const char *component, const char *fmt, va_list ap)
{
	static const char *names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&g_log_mu);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900,
		tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl],
		component, msg);
	pthread_mutex_unlock(&g_log_mu);
}

void fl_log(fl_log_level lvl, const char *component, const char *fmt, ...)
{
	if (lvl < g_level) return;
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, component, fmt, ap);
	va_end(ap);
}

void fl_log_limited(fl_log_limit *lim, fl_log_level lvl, const char *component, const char *fmt, ...)
{
	if (lvl < g_level) return;
	int64_t now = fl_mono_ns() / 1000000;
	int64_t start = atomic_load(&lim->window_start_ms);
	if (now - start >= lim->window_ms &&
	    atomic_compare_exchange_strong(&lim->window_start_ms, &start, now)) {
		long n = atomic_exchange(&lim->suppressed, 0);
		atomic_store(&lim->in_window, 0);
		if (n > 0)
			fl_log(lvl, component, "(%ld similar lines suppressed in the last %d ms)", n,
			       lim->window_ms);
	}
	if (atomic_fetch_add(&lim->in_window, 1) >= lim->burst) {
		atomic_fetch_add(&lim->suppressed, 1);
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, component, fmt, ap);
	va_end(ap);
}
