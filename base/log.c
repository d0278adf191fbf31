/* log.c - log lines and rate-limited log lines. */
#include "fl_log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fl_strbuf.h"
#include "fl_time.h"

static fl_log_level g_level = FL_LOG_INFO;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
/* The latest lines, under g_log_mu: line n is in g_keep[(n - 1) % KEEP]. */
static char g_keep[FL_LOG_KEEP][FL_LOG_LINE_MAX];
static uint64_t g_lines; /* lines written so far */

void fl_log_set_level(fl_log_level lvl) { g_level = lvl; }

/* Keep a line (under g_log_mu), cut at FL_LOG_LINE_MAX - 1 bytes before
 * a character that would not fit whole. */
static void keep_line(const char *head, const char *component, const char *msg)
{
	char *d = g_keep[g_lines++ % FL_LOG_KEEP];
	const char *parts[] = { head, component, ": ", msg };
	size_t n = 0, cap = FL_LOG_LINE_MAX - 1;
	bool cut = false;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t l = strlen(parts[i]);
		if (l > cap - n) {
			l = cap - n;
			cut = true;
		}
		memcpy(d + n, parts[i], l);
		n += l;
	}
	if (cut) {
		while (n > 0 && ((unsigned char)d[n - 1] & 0xC0) == 0x80) n--;
		if (n > 0 && (unsigned char)d[n - 1] >= 0xC0) n--;
	}
	d[n] = 0;
}

static void vlog(fl_log_level lvl, const char *component, const char *fmt, va_list ap)
{
	static const char *names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char head[64];
	snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		 names[lvl]);
	pthread_mutex_lock(&g_log_mu);
	fprintf(stderr, "%s%s: %s\n", head, component, msg);
	keep_line(head, component, msg);
	pthread_mutex_unlock(&g_log_mu);
}

uint64_t fl_log_recent(uint64_t after, size_t max_lines, fl_strbuf *b)
{
	pthread_mutex_lock(&g_log_mu);
	uint64_t first = after + 1; /* line numbers from 1 */
	if (g_lines > FL_LOG_KEEP && first <= g_lines - FL_LOG_KEEP) first = g_lines - FL_LOG_KEEP + 1;
	if (g_lines >= first && g_lines - first + 1 > max_lines) first = g_lines - max_lines + 1;
	uint64_t last = after;
	for (uint64_t n = first; n <= g_lines; n++) {
		const char *s = g_keep[(n - 1) % FL_LOG_KEEP];
		fl_sb_append(b, s, strlen(s));
		fl_sb_append(b, "\n", 1);
		last = n;
	}
	pthread_mutex_unlock(&g_log_mu);
	return last;
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
