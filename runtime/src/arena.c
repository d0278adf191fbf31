/* arena.c - the per-record scratch arena (flinc_arena) and build-time pools. */
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fl_arena_chunk {
	struct fl_arena_chunk *next;
	size_t size;
	_Alignas(16) uint8_t data[];
};

void fl_arena_init(flinc_arena *a, size_t chunk_size)
{
	memset(a, 0, sizeof(*a));
	a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

static void *arena_grow(flinc_arena *a, size_t n)
{
	size_t sz = n > a->chunk_size ? n : a->chunk_size;
	struct fl_arena_chunk *c = fl_malloc(sizeof(*c) + sz);
	c->size = sz;
	c->next = a->chunks;
	a->chunks = c;
	a->p = c->data + n;
	a->end = c->data + sz;
	return c->data;
}

FLINC_API void *flinc_arena_alloc(flinc_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (FL_LIKELY((size_t)(a->end - a->p) >= n)) {
		void *r = a->p;
		a->p += n;
		return r;
	}
	return arena_grow(a, n);
}

FLINC_API char *flinc_arena_strndup(flinc_arena *a, const char *s, size_t n)
{
	char *d = flinc_arena_alloc(a, n + 1);
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* Keep the largest... simply the oldest chunk (first allocated, at the tail),
 * so a steady state that fits one chunk never mallocs. */
void fl_arena_reset(flinc_arena *a)
{
	struct fl_arena_chunk *c = a->chunks;
	if (!c) return;
	while (c->next) {
		struct fl_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->chunks = c;
	a->p = c->data;
	a->end = c->data + c->size;
}

void fl_arena_release(flinc_arena *a, fl_arena_mark m)
{
	if (!m.chunk) {
		fl_arena_reset(a);
		return;
	}
	while (a->chunks && a->chunks != m.chunk) {
		struct fl_arena_chunk *n = a->chunks->next;
		free(a->chunks);
		a->chunks = n;
	}
	a->p = m.p;
	a->end = m.chunk->data + m.chunk->size;
}

void fl_arena_fini(flinc_arena *a)
{
	struct fl_arena_chunk *c = a->chunks;
	while (c) {
		struct fl_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	memset(a, 0, sizeof(*a));
}

/* ---- pool ------------------------------------------------------------ */

struct fl_pool {
	void **items;
	size_t n, cap;
};

fl_pool *fl_pool_create(void) { return fl_calloc(1, sizeof(fl_pool)); }

void *fl_pool_alloc(fl_pool *p, size_t n)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->items = fl_realloc(p->items, p->cap * sizeof(void *));
	}
	void *m = fl_calloc(1, n);
	p->items[p->n++] = m;
	return m;
}

char *fl_pool_strdup(fl_pool *p, const char *s)
{
	size_t n = strlen(s);
	char *d = fl_pool_alloc(p, n + 1);
	memcpy(d, s, n);
	return d;
}

void fl_pool_destroy(fl_pool *p)
{
	if (!p) return;
	for (size_t i = 0; i < p->n; i++) free(p->items[i]);
	free(p->items);
	free(p);
}
