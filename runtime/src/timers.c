/*
 * timers.c - the timer queue of one keyed operator and one time domain.
 *
 * Layout:
 *   - slots: a growable array of fixed-size entries. An entry holds the
 *     timer's time, key group and its key and namespace bytes inline (up to
 *     INLINE_CAP bytes together; longer ones use a side buffer that stays
 *     with the slot for reuse). Freed slots go to a free list, so in steady
 *     state adding a timer does not allocate.
 *   - an open-addressing index of the live timers (dedup on add, lookup on
 *     remove and pop): 8-byte cells {low 32 bits of the hash, slot}, linear
 *     probing, at most half full, backward-shift deletion. A probe compares
 *     the cached hash bits in the cell before it touches a slot, so a miss
 *     (every new timer) reads the index only, and pop finds its cell by
 *     slot number without reading other slots. The cell's hash bits are its
 *     home position too, so growing never reads the slots.
 *   - a 4-ary min-heap of (time, slot, generation) triples ordered by time.
 *     The triples are small and self-contained, so sifting never touches the
 *     slots. Removal is lazy: a removed timer's slot gets a new generation and
 *     its heap triple goes stale; stale triples are dropped when they reach
 *     the top (the top is kept live after every call, so fl_timers_next is a
 *     plain read) and the heap is rebuilt when stale triples outnumber live
 *     ones.
 *
 * Everything runs on the owning subtask's thread; there is no locking.
 */
#include "timers.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

#define INLINE_CAP 40u
#define NIL UINT32_MAX
#define HEAP_ARITY 4u

typedef struct slot {
	int64_t ts;
	uint64_t hash;
	uint32_t next; /* free list when not live */
	uint32_t gen;  /* bumped when the slot is freed */
	uint16_t kg;
	uint16_t klen; /* <= FLINC_KEY_MAX */
	uint32_t nslen;
	uint32_t extcap; /* capacity of d.ext, 0 when none */
	uint8_t live;
	union {
		uint8_t inl[INLINE_CAP];
		uint8_t *ext;
	} d;
} slot;

typedef struct icell {
	uint32_t h;   /* low 32 bits of the timer's hash */
	uint32_t idx; /* its slot, NIL: empty */
} icell;

typedef struct helem {
	int64_t ts;
	uint32_t idx;
	uint32_t gen;
} helem;

struct fl_timers {
	slot *slots;
	uint32_t nslots, capslots;
	uint32_t free_head;
	icell *idx;     /* the index; idx == NIL marks an empty cell */
	uint32_t imask; /* cells - 1 (a power of two minus one) */
	helem *heap;
	uint32_t nheap, capheap;
	uint32_t live;
};

/* ---- hashing ----------------------------------------------------------- */

static inline uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static inline uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = 0;
		memcpy(&v, p, n);
		h = (h ^ v ^ ((uint64_t)n << 56)) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 31;
	}
	return h;
}

/* Lengths are folded into the seed so that ("ab","c") and ("a","bc")
 * differ; equality still compares both lengths. */
static uint64_t timer_hash(int64_t ts, uint16_t kg, const void *key, uint32_t klen, const void *ns,
			   uint32_t nslen)
{
	uint64_t h = mix64((uint64_t)ts ^ ((uint64_t)kg << 48) ^ ((uint64_t)klen << 32) ^ nslen);
	h = hash_bytes(h, key, klen);
	h = hash_bytes(h, ns, nslen);
	return mix64(h);
}

static inline uint8_t *slot_bytes(slot *s) { return s->extcap ? s->d.ext : s->d.inl; }
static inline const uint8_t *slot_cbytes(const slot *s) { return s->extcap ? s->d.ext : s->d.inl; }

static inline bool slot_eq(const slot *s, uint64_t h, int64_t ts, uint16_t kg, const void *key, uint32_t klen,
			   const void *ns, uint32_t nslen)
{
	if (s->hash != h || s->ts != ts || s->kg != kg || s->klen != klen || s->nslen != nslen) return false;
	const uint8_t *b = slot_cbytes(s);
	return (klen == 0 || memcmp(b, key, klen) == 0) && (nslen == 0 || memcmp(b + klen, ns, nslen) == 0);
}

/* ---- create / destroy -------------------------------------------------- */

fl_timers *fl_timers_create(void)
{
	fl_timers *t = fl_calloc(1, sizeof(*t));
	t->free_head = NIL;
	t->imask = 127;
	t->idx = fl_malloc((size_t)(t->imask + 1) * sizeof(icell));
	memset(t->idx, 0xff, (size_t)(t->imask + 1) * sizeof(icell));
	return t;
}

void fl_timers_destroy(fl_timers *t)
{
	if (!t) return;
	for (uint32_t i = 0; i < t->nslots; i++)
		if (t->slots[i].extcap) free(t->slots[i].d.ext);
	free(t->slots);
	free(t->idx);
	free(t->heap);
	free(t);
}

/* ---- index ------------------------------------------------------------- */

/* Double the index (the cells' hash bits are their home positions). */
static void grow(fl_timers *t)
{
	uint32_t ncap = (t->imask + 1) * 2, nmask = ncap - 1;
	icell *ni = fl_malloc((size_t)ncap * sizeof(icell));
	memset(ni, 0xff, (size_t)ncap * sizeof(icell));
	for (uint32_t i = 0; i <= t->imask; i++) {
		icell c = t->idx[i];
		if (c.idx == NIL) continue;
		uint32_t j = c.h & nmask;
		while (ni[j].idx != NIL) j = (j + 1) & nmask;
		ni[j] = c;
	}
	free(t->idx);
	t->idx = ni;
	t->imask = nmask;
}

/* The cell of the matching timer, or the empty cell that ends its probe
 * sequence (*found false). */
static inline uint32_t find_cell(const fl_timers *t, uint64_t h, int64_t ts, uint16_t kg, const void *key,
				 uint32_t klen, const void *ns, uint32_t nslen, bool *found)
{
	uint32_t h32 = (uint32_t)h, i = h32 & t->imask;
	for (;;) {
		icell c = t->idx[i];
		if (c.idx == NIL) {
			*found = false;
			return i;
		}
		if (c.h == h32 && slot_eq(&t->slots[c.idx], h, ts, kg, key, klen, ns, nslen)) {
			*found = true;
			return i;
		}
		i = (i + 1) & t->imask;
	}
}

/* The cell of slot `si`, whose hash is h (it must be indexed). */
static inline uint32_t cell_of(const fl_timers *t, uint64_t h, uint32_t si)
{
	uint32_t i = (uint32_t)h & t->imask;
	while (t->idx[i].idx != si) i = (i + 1) & t->imask;
	return i;
}

/* Empty cell i by shifting back the cells whose probe sequence crosses it. */
static void cell_remove(fl_timers *t, uint32_t i)
{
	uint32_t mask = t->imask, j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (t->idx[j].idx == NIL) break;
		uint32_t k = t->idx[j].h & mask;
		/* The cell at j may move to i only if its home k is not in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays) continue;
		t->idx[i] = t->idx[j];
		i = j;
	}
	t->idx[i].idx = NIL;
	t->idx[i].h = NIL;
}

/* ---- heap -------------------------------------------------------------- */

static inline bool helem_stale(const fl_timers *t, const helem *e)
{
	const slot *s = &t->slots[e->idx];
	return !s->live || s->gen != e->gen;
}

static void sift_up(helem *h, uint32_t i)
{
	helem x = h[i];
	while (i > 0) {
		uint32_t p = (i - 1) / HEAP_ARITY;
		if (h[p].ts <= x.ts) break;
		h[i] = h[p];
		i = p;
	}
	h[i] = x;
}

static void sift_down(helem *h, uint32_t n, uint32_t i)
{
	helem x = h[i];
	for (;;) {
		uint32_t c = i * HEAP_ARITY + 1;
		if (c >= n) break;
		uint32_t best = c;
		uint32_t last = c + HEAP_ARITY < n ? c + HEAP_ARITY : n;
		for (uint32_t j = c + 1; j < last; j++)
			if (h[j].ts < h[best].ts) best = j;
		if (h[best].ts >= x.ts) break;
		h[i] = h[best];
		i = best;
	}
	h[i] = x;
}

static void heap_pop_top(fl_timers *t)
{
	t->nheap--;
	if (t->nheap > 0) {
		t->heap[0] = t->heap[t->nheap];
		sift_down(t->heap, t->nheap, 0);
	}
}

/* Drop stale triples at the top so that heap[0] is live (or the heap
 * empty); rebuild when most of the heap is stale. */
static void heap_tidy(fl_timers *t)
{
	if (t->nheap > 1024 && t->nheap > 2 * t->live) {
		uint32_t n = 0;
		for (uint32_t i = 0; i < t->nheap; i++)
			if (!helem_stale(t, &t->heap[i])) t->heap[n++] = t->heap[i];
		t->nheap = n;
		if (n > 1)
			for (uint32_t i = (n - 2) / HEAP_ARITY + 1; i-- > 0;) sift_down(t->heap, n, i);
		return;
	}
	while (t->nheap > 0 && helem_stale(t, &t->heap[0])) heap_pop_top(t);
}

/* ---- slots ------------------------------------------------------------- */

static uint32_t slot_alloc(fl_timers *t)
{
	if (t->free_head != NIL) {
		uint32_t i = t->free_head;
		t->free_head = t->slots[i].next;
		return i;
	}
	if (t->nslots == t->capslots) {
		uint32_t nc = t->capslots ? t->capslots * 2 : 64;
		t->slots = fl_realloc(t->slots, (size_t)nc * sizeof(slot));
		t->capslots = nc;
	}
	uint32_t i = t->nslots++;
	slot *s = &t->slots[i];
	s->gen = 0;
	s->extcap = 0;
	s->live = 0;
	return i;
}

static void slot_free(fl_timers *t, uint32_t i)
{
	slot *s = &t->slots[i];
	s->live = 0;
	s->gen++;
	s->next = t->free_head;
	t->free_head = i;
}

/* ---- API --------------------------------------------------------------- */

bool fl_timers_add(fl_timers *t, int64_t ts, uint16_t kg, const void *key, uint32_t klen, const void *ns,
		   uint32_t nslen)
{
	uint64_t h = timer_hash(ts, kg, key, klen, ns, nslen);
	if ((t->live + 1) * 2 > t->imask + 1) grow(t);
	bool found;
	uint32_t cell = find_cell(t, h, ts, kg, key, klen, ns, nslen, &found);
	if (found) return false;

	uint32_t i = slot_alloc(t); /* may move t->slots */
	slot *s = &t->slots[i];
	uint32_t need = klen + nslen;
	if (need > INLINE_CAP && need > s->extcap) {
		if (s->extcap) free(s->d.ext);
		s->d.ext = fl_malloc(need);
		s->extcap = need;
	}
	s->ts = ts;
	s->hash = h;
	s->kg = kg;
	s->klen = (uint16_t)klen;
	s->nslen = nslen;
	s->live = 1;
	uint8_t *b = slot_bytes(s);
	if (klen) memcpy(b, key, klen);
	if (nslen) memcpy(b + klen, ns, nslen);

	s->next = NIL;
	t->idx[cell] = (icell){ (uint32_t)h, i };
	t->live++;

	if (t->nheap == t->capheap) {
		uint32_t nc = t->capheap ? t->capheap * 2 : 64;
		t->heap = fl_realloc(t->heap, (size_t)nc * sizeof(helem));
		t->capheap = nc;
	}
	t->heap[t->nheap] = (helem){ ts, i, s->gen };
	sift_up(t->heap, t->nheap);
	t->nheap++;
	return true;
}

bool fl_timers_remove(fl_timers *t, int64_t ts, uint16_t kg, const void *key, uint32_t klen, const void *ns,
		      uint32_t nslen)
{
	uint64_t h = timer_hash(ts, kg, key, klen, ns, nslen);
	bool found;
	uint32_t cell = find_cell(t, h, ts, kg, key, klen, ns, nslen, &found);
	if (!found) return false;
	uint32_t i = t->idx[cell].idx;
	cell_remove(t, cell);
	slot_free(t, i);
	t->live--;
	heap_tidy(t);
	return true;
}

int64_t fl_timers_next(const fl_timers *t) { return t->nheap ? t->heap[0].ts : INT64_MAX; }

/* The timer in slot s, pointing into it. */
static void slot_out(const slot *s, fl_timer *out)
{
	out->ts = s->ts;
	out->kg = s->kg;
	out->klen = s->klen;
	out->nslen = s->nslen;
	out->key = slot_cbytes(s);
	out->ns = out->key + s->klen;
}

bool fl_timers_pop(fl_timers *t, int64_t upto, fl_timer *out)
{
	if (t->nheap == 0 || t->heap[0].ts > upto) return false;
	uint32_t i = t->heap[0].idx;
	heap_pop_top(t);
	slot *s = &t->slots[i];
	cell_remove(t, cell_of(t, s->hash, i));
	slot_free(t, i);
	t->live--;
	heap_tidy(t);
	/* The freed slot keeps its bytes until the next add reuses it, which
	 * is what "valid until the next call on the queue" allows. */
	slot_out(s, out);
	return true;
}

bool fl_timers_peek(const fl_timers *t, int64_t upto, fl_timer *out)
{
	/* heap[0] is kept live (heap_tidy after every change) */
	if (t->nheap == 0 || t->heap[0].ts > upto) return false;
	slot_out(&t->slots[t->heap[0].idx], out);
	return true;
}

size_t fl_timers_count(const fl_timers *t) { return t->live; }

int fl_timers_scan(const fl_timers *t, int (*fn)(void *ud, const fl_timer *tm), void *ud)
{
	for (uint32_t i = 0; i < t->nslots; i++) {
		const slot *s = &t->slots[i];
		if (!s->live) continue;
		fl_timer tm;
		slot_out(s, &tm);
		int rc = fn(ud, &tm);
		if (rc) return rc;
	}
	return 0;
}
