/* alloc.c - the allocation calls of fl_alloc.h and their fault hook. */
#include "fl_alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The hook: off unless a test arms it, so the data path pays one relaxed
 * load of a variable nobody writes (no shared counter bouncing between
 * subtask threads). Armed, calls are counted from 0 and call g_fail_at
 * fails (and every later one when sticky). */
static atomic_int g_armed;
static atomic_long g_calls;
static atomic_long g_fail_at;
static atomic_int g_sticky;

void fl_alloc_fail_after(long n, int sticky)
{
	atomic_store(&g_armed, 0);
	atomic_store(&g_calls, 0);
	atomic_store(&g_fail_at, n);
	atomic_store(&g_sticky, sticky);
	if (n >= 0) atomic_store(&g_armed, 1);
}

long fl_alloc_calls(void) { return atomic_load(&g_calls); }

/* Whether the hook fails this call. */
static inline int injected(void)
{
	if (__builtin_expect(!atomic_load_explicit(&g_armed, memory_order_relaxed), 1)) return 0;
	long call = atomic_fetch_add(&g_calls, 1);
	long at = atomic_load(&g_fail_at);
	return call == at || (call > at && atomic_load(&g_sticky));
}

void *fl_try_malloc(size_t n) { return injected() ? NULL : malloc(n ? n : 1); }

void *fl_try_calloc(size_t n, size_t sz) { return injected() ? NULL : calloc(n ? n : 1, sz ? sz : 1); }

void *fl_try_realloc(void *p, size_t n) { return injected() ? NULL : realloc(p, n ? n : 1); }

char *fl_try_strndup(const char *s, size_t n)
{
	char *d = fl_try_malloc(n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

char *fl_try_strdup(const char *s) { return fl_try_strndup(s, strlen(s)); }

static void *or_die(void *p, size_t n)
{
	if (!p) {
		fprintf(stderr, "flinc: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

void *fl_malloc(size_t n) { return or_die(fl_try_malloc(n), n); }

void *fl_calloc(size_t n, size_t sz) { return or_die(fl_try_calloc(n, sz), n * sz); }

void *fl_realloc(void *p, size_t n) { return or_die(fl_try_realloc(p, n), n); }

char *fl_strndup(const char *s, size_t n) { return or_die(fl_try_strndup(s, n), n + 1); }

char *fl_strdup(const char *s) { return fl_strndup(s, strlen(s)); }

char *fl_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = fl_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}
