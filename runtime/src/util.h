/*
 * util.h - memory of the engine: the per-record scratch arena and pools of
 * build-time allocations; it also brings in the ground floor (fl_base.h)
 * and key groups (fl_state.h) for the runtime's files. Private to
 * runtime/.
 */
#ifndef FL_UTIL_H
#define FL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "fl_base.h"
#include "fl_state.h" /* key groups */

/* Bump allocator in chunks. Reset keeps the first chunk (steady state does
 * not call malloc). flinc_arena is this type. */
struct flinc_arena {
	uint8_t *p, *end;
	struct fl_arena_chunk *chunks; /* newest first */
	size_t chunk_size;
};
void fl_arena_init(flinc_arena *a, size_t chunk_size);
void fl_arena_reset(flinc_arena *a);
/* Free everything allocated since a mark (nested scopes, e.g. one timer
 * inside a longer step). */
typedef struct fl_arena_mark {
	struct fl_arena_chunk *chunk;
	uint8_t *p;
} fl_arena_mark;
static inline fl_arena_mark fl_arena_get_mark(const flinc_arena *a)
{
	fl_arena_mark m = { a->chunks, a->p };
	return m;
}
void fl_arena_release(flinc_arena *a, fl_arena_mark m);
void fl_arena_fini(flinc_arena *a);

/* A list of allocations freed together (used for build-time objects). */
typedef struct fl_pool fl_pool;
fl_pool *fl_pool_create(void);
void *fl_pool_alloc(fl_pool *p, size_t n); /* zeroed */
char *fl_pool_strdup(fl_pool *p, const char *s);
void fl_pool_destroy(fl_pool *p);

#endif
