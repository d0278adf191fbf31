/*
 * fl_alloc.h - every heap allocation in flinc goes through here.
 *
 * The policy (docs/architecture.md, "Memory"):
 * - A function that returns a flinc error code and allocates memory whose
 *   size depends on data (state entries, snapshot and file buffers,
 *   checkpoint metadata, file lists) uses the fl_try_* calls and returns
 *   FLINC_ENOMEM when they fail, leaving nothing half-built. The state
 *   backends and checkpoint storage use only these; a unit test runs them
 *   with the allocator failing at every Nth call.
 * - Small control objects with no error path (configuration, messages,
 *   graph building, daemon bookkeeping) use fl_malloc & co, which print one
 *   line and abort: a process that cannot get a few hundred bytes cannot
 *   report anything reliably, and the cluster restarts its job as it does
 *   for any lost process.
 * Memory from either family is released with free().
 *
 * Threads: all calls are thread-safe. The fault hook is process-wide and
 * meant for tests only.
 */
#ifndef FL_ALLOC_H
#define FL_ALLOC_H

#include <stddef.h>

/* NULL when memory runs out (or the fault hook says so). n == 0 asks for
 * one byte, so NULL always means failure. */
void *fl_try_malloc(size_t n);
void *fl_try_calloc(size_t n, size_t sz);
void *fl_try_realloc(void *p, size_t n); /* p untouched on failure */
char *fl_try_strdup(const char *s);
char *fl_try_strndup(const char *s, size_t n);

/* Abort with one line on stderr when memory runs out. */
void *fl_malloc(size_t n);
void *fl_calloc(size_t n, size_t sz);
void *fl_realloc(void *p, size_t n);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n);
char *fl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Test hook. fl_alloc_fail_after(n, sticky) arms it and starts counting
 * calls (both families) from 0: call number n fails, and with `sticky`
 * every one after it too. n < 0 disarms it; LONG_MAX only counts. The
 * aborting family fails too (and so aborts): a test that sees an abort has
 * found code under the fl_try_* policy that does not follow it. Off, it
 * costs one relaxed load per allocation. */
void fl_alloc_fail_after(long n, int sticky);
/* Calls counted since the hook was last armed. */
long fl_alloc_calls(void);

#endif
