/*
 * rocksdb.c - the RocksDB keyed state backend ("rocksdb").
 *
 * One instance per subtask, used by that subtask's thread only (RocksDB's
 * own background threads flush and compact behind it). Each instance is
 * one RocksDB database in a folder of its own under the working folder,
 * with one column family per declared state, named "<kind>:<state name>"
 * ("value:op/count", "list:op/buf", "map:op/seen") so that a checkpoint
 * says what each state is.
 *
 * Key layout
 * ----------
 *     kg (u16 big-endian) | varint klen | key | varint nslen | ns | [uk]
 *
 * varint is unsigned LEB128 (one byte below 128). The key group comes first
 * and big-endian, so RocksDB's bytewise order keeps every entry of one key
 * group contiguous and key groups ascending: scan and rescaling are one
 * range iteration [kg_first, kg_last + 1). The lengths make the encoded
 * (kg, key, ns) prefix-free: no prefix's bytes start another's, so the user
 * keys of one map prefix are exactly the keys that start with it, and
 * map_iter and the remove of a whole map are a seek plus an iteration
 * bounded by the prefix's successor (iterate_upper_bound). The user key is
 * the rest of the key, unprefixed.
 *
 * Values are the bytes given. A list is stored as the encoded sequence of
 * fl_state.h ([u32 LE length][bytes] per element); list_append writes the
 * encoded element as a RocksDB merge operand, and the merge operator
 * ("flinc.list-append") concatenates: the full merge appends the operands
 * to the existing value (or none), the partial merge joins operands. So an
 * append never reads; a get resolves pending operands.
 *
 * Pointers
 * --------
 * get and map_get copy the value out of RocksDB into a per-instance bump
 * arena that is reset at the end of the next modifying call, so each
 * pointer stays valid until then, as the contract says, even across other
 * reads. The arena holds what was read since the last modification (a long
 * read-only loop grows it); its largest chunk is kept between resets.
 * Values are 16-byte aligned, so POD values can be used in place. A get of
 * a value-state entry held by the put_inplace cache (below) returns the
 * cache's bytes instead, valid just as long.
 *
 * put_inplace: a write-back cache
 * -------------------------------
 * put_inplace works on a small write-back cache of value-state entries.
 * Each value state has one "live" entry, the one put_inplace handed out
 * last; behind them is a 4-way set-associative table shared by all states
 * (state.backend.rocksdb.inplace-cache-slots, default 65536: about 13 MB
 * with small keys). put_inplace of the live entry's key touches nothing
 * else (the hot path: a window accumulator or a hot key updated record
 * after record). Otherwise the live entry moves into its set, evicting the
 * set's least recently used entry if the set is full (a RocksDB put if
 * dirty), and the new key becomes live: taken from its slot, or loaded
 * (a RocksDB get). A live entry that was loaded from RocksDB and used
 * once is written back as it leaves (its RocksDB path is still in the CPU
 * cache, so a cold key costs what get + put would; writing back a
 * different, evicted key instead measured 1.4x slower). One that came from
 * the table stays dirty there, so updates of a hot set that fits the table
 * cost no RocksDB call at all; so does a new one (RocksDB has no version
 * of it), so a window accumulator created and removed while cached never
 * reaches RocksDB. A live entry is never evicted by another state, so its
 * pointer stays valid, and what is written through it is kept, until the
 * next put_inplace on the same state, a remove of that entry, or a put that
 * grows it: more than the contract's "next modifying call", and what
 * keyed.c needs, since flinc_value_mut hands the pointer to job code that
 * may use other states before writing through it.
 * Cached entries are dirty until written back (a live one always is: its
 * pointer may be written through at any time). get/put/remove of a value
 * state look in the cache first (put updates a cached entry in place,
 * remove drops it and deletes in RocksDB only if RocksDB may hold it);
 * scan and count of a value state write the dirty entries back first (the
 * slots' all at once, counted so that a snapshot scanning key group by key
 * group pays once; the live entries of the scanned key groups each time),
 * and native_checkpoint writes back every dirty entry. list states never
 * go through the cache.
 * Reads and map states use the table too. A get of a value state that
 * misses caches RocksDB's answer, an absence included ("absent" entries:
 * a sliding window's fire reads each slice several times, most absent),
 * and a value-state remove of a table entry keeps it as a clean absence (a
 * later remove of it writes no tombstone). map_get/map_put/map_remove of
 * a map state work on table entries keyed by the encoded key with its user
 * key: a miss of map_get caches the answer, map_put makes an entry dirty,
 * map_remove makes it a dirty absence (written back as a RocksDB delete,
 * or dropped silently when RocksDB never had it). map_iter and a clear by
 * prefix need RocksDB complete: the state's entries are written back and
 * dropped once and the state is write-through from then on (nocache).
 * Since a read may now evict a table entry, get and map_get return copies
 * of table entries in the read arena (live entries are never evicted by
 * reads and are returned in place). Values above SLOT_KEEP are not cached.
 *
 * Durability: the WAL is disabled. State becomes durable through
 * native_checkpoint (flush, then a RocksDB checkpoint of hard links), as in
 * Flink. close() drops everything: the database folder is removed, then the
 * working folder if that left it empty (never anything else in it).
 *
 * Contract details this backend chooses where fl_state.h is silent (the
 * same choices as memory.c):
 *  - get/put work on value and list states, put_inplace on value states,
 *    list_append on list states, map_* on map states; anything else is
 *    FLINC_EINVAL (NULL for put_inplace). scan, count and remove work on all.
 *  - put_inplace on an existing entry of a different length replaces it by
 *    `len` zero bytes and reports *created = true.
 *  - count of a map state counts user-key entries (what scan visits).
 *  - Entries of any key group are accepted; the key-group range given to
 *    open is only checked for sanity.
 * And where it differs:
 *  - count iterates the state's column family: O(entries), for tests and
 *    occasional metrics.
 *  - map_iter reports user keys in bytewise order.
 *  - A list may pass 4 GiB (appends do not read the current length).
 *  - RocksDB failures return FLINC_ESTATE; the calls without an error
 *    buffer keep RocksDB's message in the instance (`err`, for debugging).
 *
 * Configuration (fl_backend_params.conf): state.backend.rocksdb.localdir
 * (where to make a working folder when params->dir is NULL; default
 * $TMPDIR or /tmp), .block-cache-size (64mb), .write-buffer-size (64mb),
 * .inplace-cache-slots (65536, rounded up to a power of two, at least 4). See
 * docs/state.md.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "fl_managed.h"
#include "fl_state.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define ALIGN 16u
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))
#define ARENA_MIN ((size_t)64 * 1024)
#define SLOT_KEEP 4096u /* a cache slot's value buffer above this is freed on eviction */
#define SLOTS_DEFAULT 65536
#define SLOTS_MAX (1 << 22)
#define WAYS 4 /* the put_inplace cache is 4-way set associative */
#define BLOCK_CACHE_DEFAULT ((int64_t)64 << 20)
#define WRITE_BUFFER_DEFAULT ((int64_t)64 << 20)
#define MERGE_NAME "flinc.list-append"

static const char *const kind_names[] = { "value", "list", "map" };

/* A write-back cache slot: one value-state entry. */
typedef struct cslot {
	uint8_t *key; /* encoded key */
	uint8_t *val; /* at least ALIGN bytes once used; malloc-aligned */
	size_t kcap, vcap;
	uint32_t klen, vlen;
	uint32_t sid1; /* state id + 1; 0: empty */
	bool dirty;    /* may be newer than RocksDB (always, for a live entry) */
	bool in_db;    /* RocksDB may hold a version of this key */
	bool reused;   /* a live entry taken from the table (a hot key) */
	bool absent;   /* map states: known absent (dirty: a delete to write) */
	uint32_t used; /* b->clock when last handed out (LRU within a set) */
} cslot;

typedef struct rstate {
	char *name;
	fl_state_kind kind;
	rocksdb_column_family_handle_t *cf;
	/* Value states: the entry put_inplace handed out last, kept out of the
	 * shared slots so that no other state's put_inplace can evict it. */
	cslot live;
	/* Map states: entries are not cached (write-through), since the state
	 * was iterated or cleared by prefix; see map_cache_off. */
	bool nocache;
} rstate;

/* A chunk of the read arena; data starts CHUNK_HDR bytes in. */
typedef struct chunk {
	struct chunk *next;
	size_t cap; /* data bytes */
} chunk;
#define CHUNK_HDR ALIGN_UP(sizeof(chunk))

typedef struct rdb_be {
	rocksdb_t *db;
	rocksdb_options_t *opts; /* database and column-family options (one set) */
	rocksdb_cache_t *cache;  /* own cache (memory not managed), else NULL */
	fl_managed *mm;          /* the process's managed memory (fl_managed.h) */
	rocksdb_writeoptions_t *wo;
	rocksdb_readoptions_t *ro;
	char *dir;    /* working folder */
	char *dbpath; /* the database: <dir>/db-XXXXXX */
	rstate *states;
	uint32_t nstates, capstates;
	int kg_first, kg_last;
	uint8_t *kbuf, *vbuf; /* scratch: encoded key, list operand */
	size_t kcap, vcap;
	chunk *arena; /* newest (largest) first */
	size_t aused; /* bytes used in the newest chunk */
	cslot *slots;
	size_t mask;    /* sets - 1; a set is WAYS consecutive slots */
	uint32_t clock; /* put_inplace calls, for least-recently-used eviction */
	size_t ncached; /* cached entries: occupied slots and live entries */
	size_t ndirty;  /* dirty entries in the slots (live ones not counted) */
	char err[256];  /* RocksDB's last error message */
} rdb_be;

/* ---- small helpers ---------------------------------------------------- */

static void seterr(char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errcap, const char *fmt, ...)
{
	if (!err || !errcap) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
}

/* Keep RocksDB's message e (freeing it) and return FLINC_ESTATE; FLINC_OK
 * when e is NULL. */
static int db_err(rdb_be *b, char *e)
{
	if (LIKELY(!e)) return FLINC_OK;
	snprintf(b->err, sizeof(b->err), "%s", e);
	rocksdb_free(e);
	return FLINC_ESTATE;
}

/* Grow *buf to at least n bytes (contents kept). FLINC_ENOMEM leaves it. */
static int grow(uint8_t **buf, size_t *cap, size_t n)
{
	if (LIKELY(n <= *cap)) return FLINC_OK;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < n) ncap = ncap > SIZE_MAX / 2 ? n : ncap * 2;
	uint8_t *p = fl_try_realloc(*buf, ncap);
	if (!p) return FLINC_ENOMEM;
	*buf = p;
	*cap = ncap;
	return FLINC_OK;
}

/* A key the backend can read: lengths come with bytes. */
static inline bool skey_ok(const fl_skey *k) { return k && (k->key || !k->klen) && (k->ns || !k->nslen); }

/* A user key the backend can read and store. */
static inline bool uk_ok(const void *uk, size_t uklen) { return (uk || !uklen) && uklen <= UINT32_MAX; }

/* The state sid if it exists and is of kind `kind` (any kind when kind < 0). */
static inline rstate *state_get(rdb_be *b, uint32_t sid, int kind)
{
	if (UNLIKELY(sid >= b->nstates)) return NULL;
	rstate *s = &b->states[sid];
	if (kind >= 0 && (int)s->kind != kind) return NULL;
	return s;
}

/* ---- keys ------------------------------------------------------------- */

static inline size_t put_varint(uint8_t *p, uint32_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Decode a varint from p[0..len); bytes used, or 0 when malformed. */
static inline size_t get_varint(const uint8_t *p, size_t len, uint32_t *v)
{
	uint32_t x = 0;
	for (size_t i = 0; i < len && i < 5; i++) {
		x |= (uint32_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* Encode (k[, uk]) into the instance's key scratch; NULL on ENOMEM. The
 * result stays valid until the next enc_key. */
static uint8_t *enc_key(rdb_be *b, const fl_skey *k, const void *uk, size_t uklen, size_t *out)
{
	size_t need = 2 + 5 + (size_t)k->klen + 5 + (size_t)k->nslen + uklen;
	if (UNLIKELY(grow(&b->kbuf, &b->kcap, need))) return NULL;
	uint8_t *p = b->kbuf;
	p[0] = (uint8_t)(k->kg >> 8);
	p[1] = (uint8_t)k->kg;
	size_t n = 2 + put_varint(p + 2, k->klen);
	if (k->klen) memcpy(p + n, k->key, k->klen);
	n += k->klen;
	n += put_varint(p + n, k->nslen);
	if (k->nslen) memcpy(p + n, k->ns, k->nslen);
	n += k->nslen;
	if (uklen) memcpy(p + n, uk, uklen);
	*out = n + uklen;
	return p;
}

/* Split an encoded key into its parts; false when it is malformed. *uk is
 * the rest after the namespace (empty for value and list states). */
static bool dec_key(const uint8_t *p, size_t len, uint16_t *kg, const uint8_t **key, uint32_t *klen,
		    const uint8_t **ns, uint32_t *nslen, const uint8_t **uk, uint32_t *uklen)
{
	if (len < 2) return false;
	*kg = (uint16_t)((p[0] << 8) | p[1]);
	size_t off = 2, n = get_varint(p + off, len - off, klen);
	if (!n || *klen > len - off - n) return false;
	off += n;
	*key = p + off;
	off += *klen;
	n = get_varint(p + off, len - off, nslen);
	if (!n || *nslen > len - off - n) return false;
	off += n;
	*ns = p + off;
	off += *nslen;
	*uk = p + off;
	*uklen = (uint32_t)(len - off);
	return len - off <= UINT32_MAX;
}

/* The smallest byte string above every string starting with p[0..n), in
 * out (n bytes of room); its length, or 0 when there is none (all 0xff). */
static size_t successor(const uint8_t *p, size_t n, uint8_t *out)
{
	while (n && p[n - 1] == 0xff) n--;
	if (!n) return 0;
	memcpy(out, p, n);
	out[n - 1]++;
	return n;
}

/* ---- read arena ------------------------------------------------------- */

/* n bytes, 16-byte aligned, valid until arena_reset. NULL on ENOMEM. */
static void *arena_alloc(rdb_be *b, size_t n)
{
	chunk *c = b->arena;
	size_t off = ALIGN_UP(b->aused);
	if (UNLIKELY(!c || off > c->cap || c->cap - off < n)) {
		size_t cap = c ? c->cap * 2 : ARENA_MIN;
		if (cap < n) cap = ALIGN_UP(n);
		chunk *nc = fl_try_malloc(CHUNK_HDR + cap);
		if (!nc) return NULL;
		nc->next = c;
		nc->cap = cap;
		b->arena = c = nc;
		off = 0;
	}
	b->aused = off + n;
	return (uint8_t *)c + CHUNK_HDR + off;
}

/* End of a modifying call: earlier read results may go. Keeps the newest
 * (largest) chunk. */
static void arena_reset(rdb_be *b)
{
	chunk *c = b->arena;
	if (!c) return;
	for (chunk *o = c->next; o;) {
		chunk *next = o->next;
		free(o);
		o = next;
	}
	c->next = NULL;
	b->aused = 0;
}

static void arena_free(rdb_be *b)
{
	arena_reset(b);
	free(b->arena);
	b->arena = NULL;
}

/* Point read of `key` in cf into the arena. FLINC_ENOENT when absent. */
static int db_read(rdb_be *b, rocksdb_column_family_handle_t *cf, const uint8_t *key, size_t klen,
		   const void **val, size_t *len)
{
	char *e = NULL;
	rocksdb_pinnableslice_t *ps = rocksdb_get_pinned_cf(b->db, b->ro, cf, (const char *)key, klen, &e);
	if (UNLIKELY(e)) return db_err(b, e);
	if (!ps) return FLINC_ENOENT;
	size_t n;
	const char *v = rocksdb_pinnableslice_value(ps, &n);
	void *dst = arena_alloc(b, n);
	if (UNLIKELY(!dst)) {
		rocksdb_pinnableslice_destroy(ps);
		return FLINC_ENOMEM;
	}
	if (n) memcpy(dst, v, n);
	rocksdb_pinnableslice_destroy(ps);
	*val = dst;
	*len = n;
	return FLINC_OK;
}

/* ---- put_inplace cache ------------------------------------------------ */

/* The first of the WAYS slots where (sid, key) may be cached. */
static inline cslot *slot_set(const rdb_be *b, uint32_t sid, const uint8_t *key, size_t klen)
{
	return &b->slots[((size_t)fl_hash64(key, klen, 0x9e3779b97f4a7c15ULL ^ sid) & b->mask) * WAYS];
}

static inline bool slot_is(const cslot *sl, uint32_t sid, const uint8_t *key, size_t klen)
{
	return sl->sid1 == sid + 1 && sl->klen == klen && memcmp(sl->key, key, klen) == 0;
}

/* The cached entry (sid, key) of value state s: its live entry or its
 * slot; NULL when it is not cached. */
static inline cslot *cache_find(rdb_be *b, rstate *s, uint32_t sid, const uint8_t *key, size_t klen)
{
	if (slot_is(&s->live, sid, key, klen)) return &s->live;
	cslot *set = slot_set(b, sid, key, klen);
	for (int w = 0; w < WAYS; w++)
		if (slot_is(&set[w], sid, key, klen)) return &set[w];
	return NULL;
}

/* Whether sl is one of the shared slots (not a live entry or a local). */
static inline bool in_table(const rdb_be *b, const cslot *sl)
{
	return sl >= b->slots && sl < b->slots + (b->mask + 1) * WAYS;
}

static inline void slot_swap(cslot *x, cslot *y)
{
	cslot t = *x;
	*x = *y;
	*y = t;
}

/* Room for n value bytes in sl (contents kept). */
static int slot_reserve(cslot *sl, size_t n) { return grow(&sl->val, &sl->vcap, n < ALIGN ? ALIGN : n); }

/* Write sl's entry to RocksDB if it is dirty; it stays dirty when
 * keep_dirty (a live entry: its pointer may still be written through). */
static int slot_writeback(rdb_be *b, cslot *sl, bool keep_dirty)
{
	if (!sl->dirty) return FLINC_OK;
	char *e = NULL;
	if (sl->absent) {
		if (sl->in_db)
			rocksdb_delete_cf(b->db, b->wo, b->states[sl->sid1 - 1].cf, (const char *)sl->key,
					  sl->klen, &e);
	} else {
		rocksdb_put_cf(b->db, b->wo, b->states[sl->sid1 - 1].cf, (const char *)sl->key, sl->klen,
			       (const char *)sl->val, sl->vlen, &e);
	}
	if (e) return db_err(b, e);
	sl->in_db = !sl->absent;
	sl->dirty = keep_dirty;
	if (!keep_dirty && in_table(b, sl)) {
		assert(b->ndirty > 0);
		b->ndirty--;
	}
	return FLINC_OK;
}

/* Empty sl without writing it back (its buffers stay for reuse). */
static void slot_drop(rdb_be *b, cslot *sl)
{
	if (sl->dirty && in_table(b, sl)) {
		assert(b->ndirty > 0);
		b->ndirty--;
	}
	sl->sid1 = 0;
	sl->dirty = false;
	sl->in_db = false;
	sl->absent = false;
	b->ncached--;
	if (sl->vcap > SLOT_KEEP) {
		free(sl->val);
		sl->val = NULL;
		sl->vcap = 0;
	}
}

/* Cache RocksDB's answer to a read in sl (NULL: no slot, nothing cached):
 * the value it found (rc FLINC_OK), or that there is none (FLINC_ENOENT).
 * Best effort: a value that cannot be copied leaves the key uncached. */
static void cache_answer(rdb_be *b, cslot *sl, int rc, const void *val, size_t len)
{
	if (!sl) return;
	if (rc != FLINC_OK) {
		sl->absent = true;
	} else if (slot_reserve(sl, len)) {
		slot_drop(b, sl);
	} else {
		if (len) memcpy(sl->val, val, len);
		sl->vlen = (uint32_t)len;
		sl->in_db = true;
	}
}

static void slot_free(cslot *sl)
{
	free(sl->key);
	free(sl->val);
	memset(sl, 0, sizeof(*sl));
}

/* A slot of `set` for a new entry: an empty one, or the least recently
 * used one, written back and emptied. NULL when the write-back fails. */
static cslot *slot_claim(rdb_be *b, cslot *set)
{
	cslot *sl = &set[0];
	for (int w = 0; w < WAYS && sl->sid1; w++)
		if (!set[w].sid1 || b->clock - set[w].used > b->clock - sl->used) sl = &set[w];
	if (sl->sid1) {
		if (slot_writeback(b, sl, false)) return NULL;
		slot_drop(b, sl);
	}
	return sl;
}

/* Mark table slot sl dirty. */
static inline void slot_dirty(rdb_be *b, cslot *sl)
{
	if (!sl->dirty) b->ndirty++;
	sl->dirty = true;
}

/* Move state s's live entry into its set: to a free slot, or in place of
 * the least recently used entry, written back first. s->live is then
 * empty (keeping the slot's old buffers). */
static int live_retire(rdb_be *b, rstate *s)
{
	cslot *lv = &s->live;
	if (!lv->sid1) return FLINC_OK;
	/* An entry loaded and used once is written back now, while RocksDB's
	 * memtable path to it is still in the CPU cache from loading it; the
	 * table keeps it clean, so evicting it later costs nothing. One that
	 * came back from the table (a hot key), or that RocksDB has never seen
	 * (a new window's accumulator, often removed before it is evicted),
	 * stays dirty. */
	if (lv->in_db && !lv->reused) {
		int rc = slot_writeback(b, lv, false);
		if (rc) return rc;
	}
	cslot *sl = slot_claim(b, slot_set(b, lv->sid1 - 1, lv->key, lv->klen));
	if (!sl) return FLINC_ESTATE;
	slot_swap(sl, lv);
	if (sl->dirty) b->ndirty++;
	return FLINC_OK;
}

/* Make RocksDB see the cache before an iteration of state sid (every
 * state when sid is UINT32_MAX) over key groups [kg_first, kg_last]: write
 * back every dirty slot (of any state: afterwards there are none, so a
 * snapshot scanning one key group at a time pays this once) and the live
 * entries in range (they stay dirty: their pointers may be written
 * through between scans). */
static int cache_flush(rdb_be *b, uint32_t sid, int kg_first, int kg_last)
{
	if (!b->ncached) return FLINC_OK;
	for (size_t i = 0; b->ndirty && i < (b->mask + 1) * WAYS; i++) {
		cslot *sl = &b->slots[i];
		if (sl->sid1 && sl->dirty) {
			int rc = slot_writeback(b, sl, false);
			if (rc) return rc;
		}
	}
	for (uint32_t i = 0; i < b->nstates; i++) {
		cslot *lv = &b->states[i].live;
		if (!lv->sid1 || (sid != UINT32_MAX && i != sid)) continue;
		int kg = (lv->key[0] << 8) | lv->key[1];
		if (kg < kg_first || kg > kg_last) continue;
		int rc = slot_writeback(b, lv, true);
		if (rc) return rc;
	}
	return FLINC_OK;
}

/* The table slot of map entry (sid, key), or NULL when it is not cached. */
static inline cslot *map_find(rdb_be *b, uint32_t sid, const uint8_t *key, size_t n)
{
	cslot *set = slot_set(b, sid, key, n);
	for (int w = 0; w < WAYS; w++)
		if (slot_is(&set[w], sid, key, n)) return &set[w];
	return NULL;
}

/* A new, clean, empty table entry for map key (sid, key) (which must not be
 * cached yet), or NULL (ENOMEM, or a failed write-back of the evicted
 * entry: the cache stays as it was, minus nothing dirty). */
static cslot *map_insert(rdb_be *b, uint32_t sid, const uint8_t *key, size_t n)
{
	cslot *sl = slot_claim(b, slot_set(b, sid, key, n));
	if (!sl || grow(&sl->key, &sl->kcap, n)) return NULL;
	memcpy(sl->key, key, n);
	sl->klen = (uint32_t)n;
	sl->vlen = 0;
	sl->sid1 = sid + 1;
	sl->dirty = sl->in_db = sl->absent = sl->reused = false;
	sl->used = ++b->clock;
	b->ncached++;
	return sl;
}

/* Stop caching map state s (sid) for good, before an iteration or a clear
 * by prefix, which need RocksDB to hold everything: its dirty entries are
 * written back and all its entries dropped (one pass over the table, once
 * per state). */
static int map_cache_off(rdb_be *b, rstate *s, uint32_t sid)
{
	if (s->nocache) return FLINC_OK;
	for (size_t i = 0; b->ncached && i < (b->mask + 1) * WAYS; i++) {
		cslot *sl = &b->slots[i];
		if (sl->sid1 != sid + 1) continue;
		int rc = slot_writeback(b, sl, false);
		if (rc) return rc;
		slot_drop(b, sl);
	}
	s->nocache = true;
	return FLINC_OK;
}

static void cache_free(rdb_be *b)
{
	for (size_t i = 0; b->slots && i < (b->mask + 1) * WAYS; i++) slot_free(&b->slots[i]);
	free(b->slots);
	b->slots = NULL;
	b->ncached = b->ndirty = 0;
}

/* ---- files ------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Fill the empty folder `to` from checkpoint folder `from`: immutable files
 * (SST, blob) hard-linked, or copied where linking fails (another file
 * system); everything else (MANIFEST, CURRENT, OPTIONS, WAL) copied, since
 * RocksDB may append to it. */
static int populate(const char *from, const char *to, char *err, size_t errcap)
{
	DIR *d = opendir(from);
	if (!d) {
		seterr(err, errcap, "rocksdb backend: cannot read checkpoint folder '%s': %s", from,
		       strerror(errno));
		return FLINC_EIO;
	}
	int rc = FLINC_OK;
	bool current = false;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') continue;
		size_t sn = strlen(from) + strlen(de->d_name) + 2, dn = strlen(to) + strlen(de->d_name) + 2;
		char *src = fl_try_malloc(sn), *dst = fl_try_malloc(dn);
		if (!src || !dst) {
			free(src);
			free(dst);
			seterr(err, errcap, "rocksdb backend: out of memory");
			rc = FLINC_ENOMEM;
			break;
		}
		snprintf(src, sn, "%s/%s", from, de->d_name);
		snprintf(dst, dn, "%s/%s", to, de->d_name);
		struct stat st;
		char why[512] = "";
		if (stat(src, &st) != 0)
			snprintf(why, sizeof(why), "%s", strerror(errno));
		else if (S_ISREG(st.st_mode)) {
			bool immutable = ends_with(de->d_name, ".sst") || ends_with(de->d_name, ".blob");
			if (!immutable || link(src, dst) != 0) fl_copy_file(src, dst, 0, why, sizeof(why));
			current |= strcmp(de->d_name, "CURRENT") == 0;
		}
		if (why[0]) {
			seterr(err, errcap, "rocksdb backend: cannot restore '%s' into '%s': %s", src, to,
			       why);
			rc = FLINC_EIO;
		}
		free(src);
		free(dst);
		if (rc) break;
	}
	closedir(d);
	if (!rc && !current) {
		seterr(err, errcap, "rocksdb backend: '%s' is not a RocksDB checkpoint (no CURRENT file)",
		       from);
		rc = FLINC_EINVAL;
	}
	return rc;
}

/* ---- list merge operator ---------------------------------------------- */

/* Concatenate `base` (may be NULL) and the operands into a malloc'd value. */
static char *concat(const char *base, size_t blen, const char *const *ops, const size_t *oplens, int nops,
		    unsigned char *success, size_t *outlen)
{
	size_t n = blen;
	for (int i = 0; i < nops; i++) n += oplens[i];
	char *out = fl_try_malloc(n ? n : 1);
	if (!out) {
		/* RocksDB's C wrapper copies *outlen bytes even on failure:
		 * zero, so the merge fails as a status, not an exception. */
		*success = 0;
		*outlen = 0;
		return NULL;
	}
	size_t off = 0;
	if (blen) {
		memcpy(out, base, blen);
		off = blen;
	}
	for (int i = 0; i < nops; i++) {
		if (oplens[i]) memcpy(out + off, ops[i], oplens[i]);
		off += oplens[i];
	}
	*outlen = n;
	*success = 1;
	return out;
}

/* Called by RocksDB on any of its threads: pure functions of their input. */
static char *merge_full(void *st, const char *key, size_t klen, const char *existing, size_t elen,
			const char *const *ops, const size_t *oplens, int nops, unsigned char *success,
			size_t *outlen)
{
	(void)st, (void)key, (void)klen;
	return concat(existing, existing ? elen : 0, ops, oplens, nops, success, outlen);
}

static char *merge_partial(void *st, const char *key, size_t klen, const char *const *ops,
			   const size_t *oplens, int nops, unsigned char *success, size_t *outlen)
{
	(void)st, (void)key, (void)klen;
	return concat(NULL, 0, ops, oplens, nops, success, outlen);
}

static void merge_delete(void *st, const char *v, size_t len)
{
	(void)st, (void)len;
	free((void *)v);
}

static void merge_destroy(void *st) { (void)st; }

static const char *merge_name(void *st)
{
	(void)st;
	return MERGE_NAME;
}

/* ---- database --------------------------------------------------------- */

/* Build the options shared by the database and every column family. */
static int make_options(rdb_be *b, const fl_conf *conf, char *err, size_t errcap)
{
	bool ok = true;
	int64_t cache =
		fl_conf_size(conf, "state.backend.rocksdb.block-cache-size", BLOCK_CACHE_DEFAULT, &ok);
	if (!ok || cache < 0) {
		seterr(err, errcap, "state.backend.rocksdb.block-cache-size: not a size: '%s'",
		       fl_conf_get(conf, "state.backend.rocksdb.block-cache-size"));
		return FLINC_ECONFIG;
	}
	int64_t wbuf =
		fl_conf_size(conf, "state.backend.rocksdb.write-buffer-size", WRITE_BUFFER_DEFAULT, &ok);
	if (!ok || wbuf < 65536) { /* RocksDB's own minimum */
		seterr(err, errcap,
		       "state.backend.rocksdb.write-buffer-size: not a size of at least 64kb: '%s'",
		       fl_conf_get(conf, "state.backend.rocksdb.write-buffer-size"));
		return FLINC_ECONFIG;
	}
	int64_t slots = fl_conf_i64(conf, "state.backend.rocksdb.inplace-cache-slots", SLOTS_DEFAULT, &ok);
	if (!ok || slots < 1 || slots > SLOTS_MAX) {
		seterr(err, errcap,
		       "state.backend.rocksdb.inplace-cache-slots: not a number in [1, %d]: '%s'", SLOTS_MAX,
		       fl_conf_get(conf, "state.backend.rocksdb.inplace-cache-slots"));
		return FLINC_ECONFIG;
	}
	size_t nslots = WAYS;
	while (nslots < (size_t)slots) nslots *= 2;
	b->slots = fl_try_calloc(nslots, sizeof(cslot));
	if (!b->slots) {
		seterr(err, errcap, "rocksdb backend: out of memory");
		return FLINC_ENOMEM;
	}
	b->mask = nslots / WAYS - 1;

	/* With the WAL off, a flush at close would only write files close() is
	 * about to delete. Not settable through the C API but by name. */
	rocksdb_options_t *base = rocksdb_options_create();
	b->opts = rocksdb_options_create();
	char *e = NULL;
	rocksdb_get_options_from_string(base, "avoid_flush_during_shutdown=true", b->opts, &e);
	rocksdb_options_destroy(base);
	if (e) { /* an older RocksDB: a slower close, nothing worse */
		rocksdb_free(e);
		e = NULL;
	}
	/* Managed memory (state.backend.rocksdb.memory.managed, the default):
	 * the block cache is the process's shared one, and this instance's
	 * memtables, over all its column families, stay within its slot's
	 * write-buffer budget (db_write_buffer_size flushes the largest when
	 * they pass it); each memtable at most half of it. */
	if (conf) {
		char e2[256] = "";
		b->mm = fl_managed_acquire(conf, e2, sizeof e2);
		if (!b->mm) {
			seterr(err, errcap, "rocksdb backend: %s", e2);
			return FLINC_ECONFIG;
		}
	}
	bool managed = b->mm && fl_managed_rocksdb(b->mm);
	rocksdb_options_set_create_if_missing(b->opts, 1);
	rocksdb_options_set_create_missing_column_families(b->opts, 1);
	if (managed) {
		int64_t budget = fl_managed_rocksdb_write_buffers(b->mm);
		if (budget / 2 < wbuf) wbuf = budget / 2;
		if (wbuf < 256 * 1024) wbuf = 256 * 1024;
		rocksdb_options_set_max_write_buffer_number(b->opts, 2);
		rocksdb_options_set_db_write_buffer_size(b->opts,
							 (size_t)(budget > 2 * wbuf ? budget : 2 * wbuf));
	}
	rocksdb_options_set_write_buffer_size(b->opts, (size_t)wbuf);
	rocksdb_options_set_info_log_level(b->opts, 2 /* WARN: the LOG file stays small */);
	rocksdb_options_set_keep_log_file_num(b->opts, 2);
	/* A bloom filter over the memtable's keys (~7 bits per key of a full
	 * 64 MB memtable, 1.3 MB): a get of an absent key, which every new
	 * window and new key does, skips the skiplist search (10x here). */
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(b->opts, 0.02);
	rocksdb_options_set_memtable_whole_key_filtering(b->opts, 1);
	/* Options take ownership of the merge operator (a shared pointer that
	 * every column family copies). */
	rocksdb_options_set_merge_operator(b->opts,
					   rocksdb_mergeoperator_create(NULL, merge_destroy, merge_full,
									merge_partial, merge_delete,
									merge_name));
	rocksdb_block_based_table_options_t *bbo = rocksdb_block_based_options_create();
	if (managed) {
		rocksdb_block_based_options_set_block_cache(bbo, fl_managed_rocksdb_cache(b->mm));
	} else if (cache > 0) {
		b->cache = rocksdb_cache_create_lru((size_t)cache);
		rocksdb_block_based_options_set_block_cache(bbo, b->cache);
	} else {
		rocksdb_block_based_options_set_no_block_cache(bbo, 1);
	}
	/* Point reads of absent keys (new windows) skip SST files. */
	rocksdb_block_based_options_set_filter_policy(bbo, rocksdb_filterpolicy_create_bloom_full(10));
	rocksdb_block_based_options_set_format_version(bbo, 5);
	rocksdb_options_set_block_based_table_factory(b->opts, bbo); /* copies */
	rocksdb_block_based_options_destroy(bbo);

	b->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_disable_WAL(b->wo, 1);
	b->ro = rocksdb_readoptions_create();
	return FLINC_OK;
}

/* Close b's database and column families (the files stay). */
static void db_close(rdb_be *b)
{
	for (uint32_t i = 0; i < b->nstates; i++) {
		if (b->states[i].cf) rocksdb_column_family_handle_destroy(b->states[i].cf);
		free(b->states[i].name);
		if (b->states[i].live.sid1) b->ncached--;
		slot_free(&b->states[i].live);
	}
	free(b->states);
	b->states = NULL;
	b->nstates = b->capstates = 0;
	if (b->db) rocksdb_close(b->db);
	b->db = NULL;
}

/* The kind of column family `name` ("<kind>:<state>"), with *state set to
 * the state's name; -1 for anything else ("default" included). */
static int cf_kind(const char *name, const char **state)
{
	const char *colon = strchr(name, ':');
	if (!colon) return -1;
	for (int kd = 0; kd < 3; kd++) {
		size_t n = strlen(kind_names[kd]);
		if ((size_t)(colon - name) == n && strncmp(name, kind_names[kd], n) == 0) {
			*state = colon + 1;
			return kd;
		}
	}
	return -1;
}

/* ---- backend ops ------------------------------------------------------ */

static void rdb_close(void *be);

/* open: make the working folder and an empty database in it.
 * Errors: FLINC_EINVAL (key-group range), FLINC_ECONFIG, FLINC_EIO (folder),
 * FLINC_ESTATE (RocksDB), FLINC_ENOMEM; nothing is left behind. */
static int rdb_open(void *be, const fl_backend_params *p, char *err, size_t errcap)
{
	rdb_be *b = be;
	memset(b, 0, sizeof(*b));
	b->kg_first = 0;
	b->kg_last = UINT16_MAX;
	if (p && (p->kg_first || p->kg_last)) {
		if (p->kg_first < 0 || p->kg_last < p->kg_first || p->kg_last > UINT16_MAX ||
		    (p->max_parallelism > 0 && p->kg_last >= p->max_parallelism)) {
			seterr(err, errcap,
			       "rocksdb backend: bad key-group range [%d, %d] (max parallelism %d)",
			       p->kg_first, p->kg_last, p->max_parallelism);
			return FLINC_EINVAL;
		}
		b->kg_first = p->kg_first;
		b->kg_last = p->kg_last;
	}
	const fl_conf *conf = p ? p->conf : NULL;
	int rc = make_options(b, conf, err, errcap);
	if (rc) goto fail;

	if (p && p->dir) {
		char why[512];
		if (fl_mkdir_p(p->dir, why, sizeof(why))) {
			seterr(err, errcap, "rocksdb backend: cannot create working folder: %s", why);
			rc = FLINC_EIO;
			goto fail;
		}
		b->dir = fl_try_strdup(p->dir);
	} else {
		const char *base = fl_local_base(conf);
		int e = fl_mkdir_p(base, NULL, 0) ? EIO : 0;
		if (!e && !(b->dir = fl_mkdtemp_in(base, "flinc-rocksdb-"))) e = errno;
		if (e) {
			seterr(err, errcap, "rocksdb backend: cannot create a working folder in '%s': %s",
			       base, strerror(e));
			rc = FLINC_EIO;
			goto fail;
		}
	}
	if (!b->dir) {
		seterr(err, errcap, "rocksdb backend: out of memory");
		rc = FLINC_ENOMEM;
		goto fail;
	}
	b->dbpath = fl_mkdtemp_in(b->dir, "db-");
	if (!b->dbpath) {
		seterr(err, errcap, "rocksdb backend: cannot create a database folder in '%s': %s", b->dir,
		       strerror(errno));
		rc = FLINC_EIO;
		goto fail;
	}
	char *e = NULL;
	b->db = rocksdb_open(b->opts, b->dbpath, &e);
	if (e) {
		seterr(err, errcap, "rocksdb backend: cannot open a database in '%s': %s", b->dbpath, e);
		rocksdb_free(e);
		b->db = NULL;
		rc = FLINC_ESTATE;
		goto fail;
	}
	return FLINC_OK;
fail:
	rdb_close(b);
	return rc;
}

/* close: close the database, remove its folder and then the working folder
 * if empty, free everything. Safe on a zeroed or closed instance. */
static void rdb_close(void *be)
{
	rdb_be *b = be;
	db_close(b);
	if (b->dbpath) fl_rm_rf(b->dbpath, NULL, 0);
	if (b->dir) (void)rmdir(b->dir); /* only if nothing else is in it */
	free(b->dbpath);
	free(b->dir);
	if (b->opts) rocksdb_options_destroy(b->opts);
	if (b->cache) rocksdb_cache_destroy(b->cache);
	fl_managed_release(b->mm); /* after the database: the shared cache outlives it */
	b->mm = NULL;
	if (b->wo) rocksdb_writeoptions_destroy(b->wo);
	if (b->ro) rocksdb_readoptions_destroy(b->ro);
	cache_free(b);
	arena_free(b);
	free(b->kbuf);
	free(b->vbuf);
	memset(b, 0, sizeof(*b));
}

/* Append a state record (name copied, cf owned). */
static int state_add(rdb_be *b, const char *name, fl_state_kind kind, rocksdb_column_family_handle_t *cf,
		     uint32_t *sid)
{
	if (b->nstates == b->capstates) {
		uint32_t ncap = b->capstates ? b->capstates * 2 : 8;
		rstate *ns = fl_try_realloc(b->states, ncap * sizeof(*ns));
		if (!ns) return FLINC_ENOMEM;
		b->states = ns;
		b->capstates = ncap;
	}
	char *copy = fl_try_strdup(name);
	if (!copy) return FLINC_ENOMEM;
	b->states[b->nstates] = (rstate){ .name = copy, .kind = kind, .cf = cf };
	*sid = b->nstates++;
	return FLINC_OK;
}

/* declare: the id of state `name`, creating its column family on first use.
 * Errors: FLINC_EINVAL (bad arguments, kind differs), FLINC_ENOMEM,
 * FLINC_ESTATE. */
static int rdb_declare(void *be, const char *name, fl_state_kind kind, uint32_t *sid)
{
	rdb_be *b = be;
	if (!name || !sid || (kind != FL_STATE_VALUE && kind != FL_STATE_LIST && kind != FL_STATE_MAP))
		return FLINC_EINVAL;
	for (uint32_t i = 0; i < b->nstates; i++) {
		if (strcmp(b->states[i].name, name) == 0) {
			if (b->states[i].kind != kind) return FLINC_EINVAL;
			*sid = i;
			return FLINC_OK;
		}
	}
	if (!b->db) return FLINC_ESTATE;
	size_t n = strlen(kind_names[kind]) + 1 + strlen(name) + 1;
	char *cfname = fl_try_malloc(n);
	if (!cfname) return FLINC_ENOMEM;
	snprintf(cfname, n, "%s:%s", kind_names[kind], name);
	char *e = NULL;
	rocksdb_column_family_handle_t *cf = rocksdb_create_column_family(b->db, b->opts, cfname, &e);
	free(cfname);
	if (e) return db_err(b, e);
	int rc = state_add(b, name, kind, cf, sid);
	if (rc) {
		/* The empty column family stays in the database; harmless. */
		rocksdb_column_family_handle_destroy(cf);
	}
	return rc;
}

/* get: value (or whole list) of k, in the read arena or the cache.
 * Errors: FLINC_ENOENT, FLINC_EINVAL, FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_get(void *be, uint32_t sid, const fl_skey *k, const void **val, size_t *len)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || s->kind == FL_STATE_MAP || !skey_ok(k))) return FLINC_EINVAL;
	size_t n;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key)) return FLINC_ENOMEM;
	if (s->kind == FL_STATE_VALUE && b->ncached) {
		cslot *sl = cache_find(b, s, sid, key, n);
		if (sl) {
			if (sl->absent) return FLINC_ENOENT;
			*len = sl->vlen;
			if (!in_table(b, sl)) {
				*val = sl->val;
				return FLINC_OK;
			}
			/* A table entry may be evicted by a later map_get (a
			 * read): the pointer must outlive that. */
			void *dst = arena_alloc(b, sl->vlen);
			if (UNLIKELY(!dst)) return FLINC_ENOMEM;
			if (sl->vlen) memcpy(dst, sl->val, sl->vlen);
			*val = dst;
			return FLINC_OK;
		}
	}
	int rc = db_read(b, s->cf, key, n, val, len);
	if (s->kind == FL_STATE_VALUE && ((rc == FLINC_OK && *len <= SLOT_KEEP) || rc == FLINC_ENOENT)) {
		/* Cache what RocksDB said, absence included: a window fire
		 * reads each slice several times and most are absent, and the
		 * remove of an absent one then costs nothing. Best effort. */
		cache_answer(b, map_insert(b, sid, key, n), rc, *val, *len);
	}
	return rc;
}

/* put: set the value (or the whole encoded list) of k.
 * Errors: FLINC_EINVAL, FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_put(void *be, uint32_t sid, const fl_skey *k, const void *val, size_t len)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || s->kind == FL_STATE_MAP || !skey_ok(k) || len > UINT32_MAX || (len && !val)))
		return FLINC_EINVAL;
	size_t n;
	int rc = FLINC_OK;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key)) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	if (s->kind == FL_STATE_VALUE && b->ncached) {
		cslot *sl = cache_find(b, s, sid, key, n);
		if (sl) {
			/* val may point into this very entry (put of what get gave). */
			rc = slot_reserve(sl, len);
			if (!rc) {
				if (len) memmove(sl->val, val, len);
				sl->vlen = (uint32_t)len;
				sl->absent = false;
				if (!sl->dirty && in_table(b, sl)) b->ndirty++;
				sl->dirty = true;
			}
			goto out;
		}
	}
	char *e = NULL;
	rocksdb_put_cf(b->db, b->wo, s->cf, (const char *)key, n, val, len, &e);
	rc = db_err(b, e);
out:
	arena_reset(b);
	return rc;
}

/* put_inplace: a writable value of exactly len bytes for k, zeroed and
 * *created=true when new or of another length. The entry becomes the
 * state's live entry: the pointer stays valid, and what is written through
 * it is kept, until the next put_inplace on this state, a remove of the
 * entry or a put that grows it (more than the contract promises: keyed.c
 * hands it to job code as flinc_value_mut's result, valid while other
 * states are used). The live entry this replaces moves to the shared
 * slots, evicting (writing back) what was there. NULL on a bad argument,
 * ENOMEM or a RocksDB failure. */
static void *rdb_put_inplace(void *be, uint32_t sid, const fl_skey *k, size_t len, bool *created)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, FL_STATE_VALUE);
	if (UNLIKELY(!s || !skey_ok(k) || len > UINT32_MAX || !created)) return NULL;
	void *ret = NULL;
	size_t n;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key)) goto out;
	cslot *lv = &s->live;
	if (LIKELY(slot_is(lv, sid, key, n))) {
		/* the hot path: the same entry as last time */
	} else {
		cslot *set = slot_set(b, sid, key, n), *sl = NULL;
		cslot got = { 0 };
		for (int w = 0; w < WAYS && !sl; w++)
			if (slot_is(&set[w], sid, key, n)) sl = &set[w];
		if (sl) {
			slot_swap(sl, &got); /* take it out of its slot first */
			if (got.dirty) {
				assert(b->ndirty > 0);
				b->ndirty--;
			}
		}
		if (live_retire(b, s)) {
			if (sl) {
				slot_swap(sl, &got);
				if (sl->dirty) b->ndirty++;
			}
			goto out;
		}
		if (got.sid1) {
			slot_swap(lv, &got);
			slot_free(&got); /* the spare buffers retire left in lv */
			lv->reused = true;
		} else {
			char *e = NULL;
			rocksdb_pinnableslice_t *ps =
				rocksdb_get_pinned_cf(b->db, b->ro, s->cf, (const char *)key, n, &e);
			if (e) {
				db_err(b, e);
				goto out;
			}
			size_t have = 0;
			const char *v = ps ? rocksdb_pinnableslice_value(ps, &have) : NULL;
			bool same = ps && have == len;
			if (grow(&lv->key, &lv->kcap, n) || slot_reserve(lv, len)) {
				if (ps) rocksdb_pinnableslice_destroy(ps);
				goto out;
			}
			memcpy(lv->key, key, n);
			lv->klen = (uint32_t)n;
			if (same && len)
				memcpy(lv->val, v, len);
			else
				memset(lv->val, 0, len);
			lv->vlen = (uint32_t)len;
			lv->in_db = ps != NULL;
			lv->reused = false;
			lv->sid1 = sid + 1;
			b->ncached++;
			if (ps) rocksdb_pinnableslice_destroy(ps);
			*created = !same;
			goto done;
		}
	}
	if (lv->vlen == len && !lv->absent) {
		*created = false;
	} else {
		if (slot_reserve(lv, len)) goto out;
		lv->absent = false;
		memset(lv->val, 0, len);
		lv->vlen = (uint32_t)len;
		*created = true;
	}
done:
	lv->dirty = true;
	lv->used = ++b->clock;
	ret = lv->val;
out:
	arena_reset(b);
	return ret;
}

/* Delete every key starting with the encoded prefix p[0..n) of cf (a map
 * prefix), in one write batch. */
static int delete_prefix(rdb_be *b, rocksdb_column_family_handle_t *cf, const uint8_t *p, size_t n)
{
	uint8_t stackbuf[256];
	uint8_t *buf = n * 2 <= sizeof(stackbuf) ? stackbuf : fl_try_malloc(n * 2);
	if (!buf) return FLINC_ENOMEM;
	uint8_t *pfx = buf, *ub = buf + n;
	memcpy(pfx, p, n);
	size_t ubn = successor(pfx, n, ub);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(ro, 0);
	if (ubn) rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, ubn);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, cf);
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	for (rocksdb_iter_seek(it, (const char *)pfx, n); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl;
		const char *key = rocksdb_iter_key(it, &kl);
		if (kl < n || memcmp(key, pfx, n) != 0) break;
		rocksdb_writebatch_delete_cf(wb, cf, key, kl);
	}
	char *e = NULL;
	rocksdb_iter_get_error(it, &e);
	int rc = db_err(b, e);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (!rc && rocksdb_writebatch_count(wb) > 0) {
		rocksdb_write(b->db, b->wo, wb, &e);
		rc = db_err(b, e);
	}
	rocksdb_writebatch_destroy(wb);
	if (buf != stackbuf) free(buf);
	return rc;
}

/* remove: drop k's entry (map state: every user key under k). Absent is OK.
 * Errors: FLINC_EINVAL, FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_remove(void *be, uint32_t sid, const fl_skey *k)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || !skey_ok(k))) return FLINC_EINVAL;
	size_t n;
	int rc = FLINC_OK;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key)) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	if (s->kind == FL_STATE_MAP) {
		rc = map_cache_off(b, s, sid);
		if (!rc) rc = delete_prefix(b, s->cf, key, n);
		goto out;
	}
	bool del = true;
	cslot *keep = NULL;
	if (s->kind == FL_STATE_VALUE && b->ncached) {
		cslot *sl = cache_find(b, s, sid, key, n);
		if (sl) {
			/* An entry created in the cache never reached RocksDB. */
			del = sl->in_db;
			if (in_table(b, sl)) {
				/* kept as a known absence */
				if (sl->dirty) {
					assert(b->ndirty > 0);
					b->ndirty--;
				}
				sl->dirty = false;
				sl->absent = true;
				sl->vlen = 0;
				keep = sl;
			} else {
				slot_drop(b, sl);
			}
		}
	}
	if (del) {
		char *e = NULL;
		rocksdb_delete_cf(b->db, b->wo, s->cf, (const char *)key, n, &e);
		rc = db_err(b, e);
		if (rc && keep) slot_drop(b, keep); /* RocksDB may still hold it */
	}
	if (keep && !rc) keep->in_db = false;
out:
	arena_reset(b);
	return rc;
}

/* list_append: merge one encoded element ([u32 LE length][bytes]) into k's
 * list. Errors: FLINC_EINVAL, FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_list_append(void *be, uint32_t sid, const fl_skey *k, const void *elem, size_t len)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, FL_STATE_LIST);
	if (UNLIKELY(!s || !skey_ok(k) || len > UINT32_MAX - 4 || (len && !elem))) return FLINC_EINVAL;
	int rc = FLINC_OK;
	size_t n;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key || grow(&b->vbuf, &b->vcap, 4 + len))) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	uint8_t *p = b->vbuf;
	p[0] = (uint8_t)len;
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 24);
	if (len) memcpy(p + 4, elem, len);
	char *e = NULL;
	rocksdb_merge_cf(b->db, b->wo, s->cf, (const char *)key, n, (const char *)p, 4 + len, &e);
	rc = db_err(b, e);
out:
	arena_reset(b);
	return rc;
}

/* map_get: the value under user key uk of k, in the read arena.
 * Errors: FLINC_ENOENT, FLINC_EINVAL, FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_map_get(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void **val, size_t *len)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen))) return FLINC_EINVAL;
	size_t n;
	uint8_t *key = enc_key(b, k, uk, uklen, &n);
	if (UNLIKELY(!key)) return FLINC_ENOMEM;
	if (s->nocache) return db_read(b, s->cf, key, n, val, len);
	cslot *sl = map_find(b, sid, key, n);
	if (sl) {
		sl->used = ++b->clock;
		if (sl->absent) return FLINC_ENOENT;
		/* Copied: a later map_get may evict the entry. */
		void *dst = arena_alloc(b, sl->vlen);
		if (UNLIKELY(!dst)) return FLINC_ENOMEM;
		if (sl->vlen) memcpy(dst, sl->val, sl->vlen);
		*val = dst;
		*len = sl->vlen;
		return FLINC_OK;
	}
	int rc = db_read(b, s->cf, key, n, val, len);
	if ((rc == FLINC_OK && *len <= SLOT_KEEP) || rc == FLINC_ENOENT) {
		/* Cache what RocksDB said, absence included (a new window's
		 * get is usually followed by its put). Best effort: a failure
		 * leaves the entry uncached. */
		cache_answer(b, map_insert(b, sid, key, n), rc, *val, *len);
	}
	return rc;
}

/* map_put: set user key uk of k. Errors: FLINC_EINVAL, FLINC_ENOMEM,
 * FLINC_ESTATE. */
static int rdb_map_put(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void *val, size_t len)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen) || len > UINT32_MAX || (len && !val)))
		return FLINC_EINVAL;
	int rc = FLINC_OK;
	size_t n;
	uint8_t *key = enc_key(b, k, uk, uklen, &n);
	if (UNLIKELY(!key)) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	if (!s->nocache) {
		cslot *sl = map_find(b, sid, key, n);
		if (len <= SLOT_KEEP) {
			if (!sl && (sl = map_insert(b, sid, key, n))) sl->in_db = true; /* may hold it */
			if (sl) {
				if (slot_reserve(sl, len)) {
					rc = FLINC_ENOMEM;
					goto out;
				}
				/* val may be a map_get result: in the arena, never
				 * in a slot; memmove all the same. */
				if (len) memmove(sl->val, val, len);
				sl->vlen = (uint32_t)len;
				sl->absent = false;
				sl->used = ++b->clock;
				slot_dirty(b, sl);
				goto out;
			}
		} else if (sl) {
			slot_drop(b, sl); /* the put below supersedes it */
		}
	}
	char *e = NULL;
	rocksdb_put_cf(b->db, b->wo, s->cf, (const char *)key, n, val, len, &e);
	rc = db_err(b, e);
out:
	arena_reset(b);
	return rc;
}

/* map_remove: drop user key uk of k; absent is OK. Errors: FLINC_EINVAL,
 * FLINC_ENOMEM, FLINC_ESTATE. */
static int rdb_map_remove(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen))) return FLINC_EINVAL;
	int rc;
	size_t n;
	uint8_t *key = enc_key(b, k, uk, uklen, &n);
	if (UNLIKELY(!key)) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	if (!s->nocache) {
		cslot *sl = map_find(b, sid, key, n);
		if (!sl && (sl = map_insert(b, sid, key, n))) sl->in_db = true; /* may hold it */
		if (sl) {
			sl->absent = true;
			sl->vlen = 0;
			sl->used = ++b->clock;
			if (sl->in_db) {
				slot_dirty(b, sl); /* a delete to write back */
			} else if (sl->dirty) {
				/* created in the cache, never written: nothing to delete */
				sl->dirty = false;
				assert(b->ndirty > 0);
				b->ndirty--;
			}
			rc = FLINC_OK;
			goto out;
		}
	}
	char *e = NULL;
	rocksdb_delete_cf(b->db, b->wo, s->cf, (const char *)key, n, &e);
	rc = db_err(b, e);
out:
	arena_reset(b);
	return rc;
}

/* map_iter and map_range: call fn for each user key of k from lo (NULL:
 * the first) up to hi (NULL: no bound), in bytewise order of the user keys
 * (a seek and a prefix iteration), then copy the first one above hi to
 * next. fn may read the backend (its own buffers are used, not the
 * instance's scratch). Returns fn's first non-zero, or FLINC_EINVAL /
 * FLINC_ENOMEM / FLINC_ESTATE. */
static int map_walk(rdb_be *b, uint32_t sid, const fl_skey *k, const void *lo, size_t lolen, const void *hi,
		    size_t hilen,
		    int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len), void *ud,
		    uint8_t *next, size_t nextcap, size_t *nextlen)
{
	rstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !fn || (lo && !uk_ok(lo, lolen)))) return FLINC_EINVAL;
	if (nextlen) *nextlen = 0;
	int mrc = map_cache_off(b, s, sid);
	if (UNLIKELY(mrc)) return mrc;
	size_t n;
	uint8_t *key = enc_key(b, k, NULL, 0, &n);
	if (UNLIKELY(!key)) return FLINC_ENOMEM;
	/* fn may call get, which reuses the key scratch: own copies of the
	 * prefix, of the upper bound the iterator points at and of the seek
	 * target (prefix and lo). */
	size_t need = n * 2 + n + (lo ? lolen : 0);
	uint8_t stackbuf[512];
	uint8_t *buf = need <= sizeof(stackbuf) ? stackbuf : fl_try_malloc(need);
	if (!buf) return FLINC_ENOMEM;
	uint8_t *pfx = buf, *ub = buf + n, *from = buf + 2 * n;
	memcpy(pfx, key, n);
	size_t ubn = successor(pfx, n, ub);
	memcpy(from, pfx, n);
	if (lo && lolen) memcpy(from + n, lo, lolen);
	size_t fromn = n + (lo ? lolen : 0);
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	if (ubn) rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)ub, ubn);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, s->cf);
	int rc = 0;
	for (rocksdb_iter_seek(it, (const char *)from, fromn); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t kl, vl;
		const char *ik = rocksdb_iter_key(it, &kl);
		if (kl < n || memcmp(ik, pfx, n) != 0) break;
		const uint8_t *uk = (const uint8_t *)ik + n;
		size_t ukl = kl - n;
		if (hi) {
			int c = memcmp(uk, hi, ukl < hilen ? ukl : hilen);
			if (c > 0 || (c == 0 && ukl > hilen)) {
				if (nextlen) {
					*nextlen = ukl;
					memcpy(next, uk, ukl < nextcap ? ukl : nextcap);
				}
				break;
			}
		}
		const char *iv = rocksdb_iter_value(it, &vl);
		rc = fn(ud, uk, ukl, iv, vl);
		if (rc) break;
	}
	if (!rc) {
		char *e = NULL;
		rocksdb_iter_get_error(it, &e);
		rc = db_err(b, e);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	if (buf != stackbuf) free(buf);
	return rc;
}

static int rdb_map_iter(void *be, uint32_t sid, const fl_skey *k,
			int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len),
			void *ud)
{
	return map_walk(be, sid, k, NULL, 0, NULL, 0, fn, ud, NULL, 0, NULL);
}

static int rdb_map_range(void *be, uint32_t sid, const fl_skey *k, const void *lo, size_t lolen,
			 const void *hi, size_t hilen,
			 int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len),
			 void *ud, uint8_t *next, size_t nextcap, size_t *nextlen)
{
	if (UNLIKELY(!hi || !nextlen)) return FLINC_EINVAL;
	return map_walk(be, sid, k, lo, lolen, hi, hilen, fn, ud, next, nextcap, nextlen);
}

/* scan: every entry of sid in key groups [kg_first, kg_last], ascending by
 * key group (one range iteration; within a key group in key order). Blocks
 * read for it do not fill the block cache. Returns fn's first non-zero, or
 * FLINC_EINVAL / FLINC_ESTATE (also for a malformed key). */
static int rdb_scan(void *be, uint32_t sid, int kg_first, int kg_last, fl_scan_fn fn, void *ud)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, -1);
	if (!s || !fn) return FLINC_EINVAL;
	if (kg_first < 0) kg_first = 0;
	if (kg_last > UINT16_MAX) kg_last = UINT16_MAX;
	if (kg_first > kg_last) return FLINC_OK;
	int rc = s->kind != FL_STATE_LIST ? cache_flush(b, sid, kg_first, kg_last) : FLINC_OK;
	if (rc) return rc;
	uint8_t lo[2] = { (uint8_t)(kg_first >> 8), (uint8_t)kg_first };
	uint8_t hi[2] = { (uint8_t)((kg_last + 1) >> 8), (uint8_t)(kg_last + 1) };
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(ro, 0);
	if (kg_last < UINT16_MAX) rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, 2);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, s->cf);
	bool is_map = s->kind == FL_STATE_MAP;
	for (rocksdb_iter_seek(it, (const char *)lo, 2); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t kl, vl;
		const uint8_t *ik = (const uint8_t *)rocksdb_iter_key(it, &kl);
		const char *iv = rocksdb_iter_value(it, &vl);
		uint16_t kg;
		const uint8_t *key, *ns, *uk;
		uint32_t klen, nslen, uklen;
		if (!dec_key(ik, kl, &kg, &key, &klen, &ns, &nslen, &uk, &uklen) || (!is_map && uklen)) {
			snprintf(b->err, sizeof(b->err), "malformed key in column family of state '%s'",
				 s->name);
			rc = FLINC_ESTATE;
			break;
		}
		if (kg > kg_last) break;
		rc = fn(ud, kg, key, klen, ns, nslen, is_map ? uk : NULL, uklen, iv, vl);
		if (rc) break;
	}
	if (!rc) {
		char *e = NULL;
		rocksdb_iter_get_error(it, &e);
		rc = db_err(b, e);
	}
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* count: entries of sid (map state: user-key entries), by iterating its
 * column family; 0 for a bad sid. */
static size_t rdb_count(void *be, uint32_t sid)
{
	rdb_be *b = be;
	rstate *s = state_get(b, sid, -1);
	if (!s || (s->kind != FL_STATE_LIST && cache_flush(b, sid, 0, UINT16_MAX))) return 0;
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_readoptions_set_fill_cache(ro, 0);
	rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, s->cf);
	size_t n = 0;
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) n++;
	char *e = NULL;
	rocksdb_iter_get_error(it, &e);
	(void)db_err(b, e);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return n;
}

/* native_checkpoint: write the cache back, flush every column family and
 * make a RocksDB checkpoint (hard links) in `dir`, which must not exist.
 * Errors: FLINC_EINVAL, FLINC_ESTATE (message in err). */
static int rdb_native_checkpoint(void *be, const char *dir, char *err, size_t errcap)
{
	rdb_be *b = be;
	if (!b->db || !dir || !*dir) {
		seterr(err, errcap, "rocksdb backend: checkpoint needs an open instance and a folder");
		return FLINC_EINVAL;
	}
	struct stat st;
	if (lstat(dir, &st) == 0) {
		seterr(err, errcap, "rocksdb backend: checkpoint folder '%s' already exists", dir);
		return FLINC_EINVAL;
	}
	int rc = cache_flush(b, UINT32_MAX, 0, UINT16_MAX);
	if (rc) {
		seterr(err, errcap, "rocksdb backend: cannot write cached state: %s", b->err);
		return rc;
	}
	/* The checkpoint flushes too (log_size_for_flush 0); flushing first,
	 * column family by column family, keeps that step cheap and makes the
	 * flush explicit: with the WAL off, memtables are not in any file. */
	rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
	rocksdb_flushoptions_set_wait(fo, 1);
	char *e = NULL;
	for (uint32_t i = 0; i < b->nstates && !e; i++) rocksdb_flush_cf(b->db, fo, b->states[i].cf, &e);
	rocksdb_flushoptions_destroy(fo);
	if (!e) {
		rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(b->db, &e);
		if (!e) rocksdb_checkpoint_create(cp, dir, 0, &e);
		if (cp) rocksdb_checkpoint_object_destroy(cp);
	}
	if (e) {
		seterr(err, errcap, "rocksdb backend: checkpoint into '%s': %s", dir, e);
		return db_err(b, e);
	}
	return FLINC_OK;
}

/* native_restore: open the checkpoint in `dir` (linked/copied into a new
 * database folder) in place of the instance's empty database. Only before
 * any declare. Errors: FLINC_EINVAL, FLINC_EIO, FLINC_ESTATE, FLINC_ENOMEM;
 * on error the instance is unchanged. */
static int rdb_native_restore(void *be, const char *dir, char *err, size_t errcap)
{
	rdb_be *b = be;
	if (!b->db || !dir || !*dir) {
		seterr(err, errcap, "rocksdb backend: restore needs an open instance and a folder");
		return FLINC_EINVAL;
	}
	if (b->nstates) {
		seterr(err, errcap, "rocksdb backend: restore after states were declared");
		return FLINC_EINVAL;
	}
	int rc = FLINC_OK;
	char *path = fl_mkdtemp_in(b->dir, "db-");
	char **names = NULL;
	size_t nnames = 0;
	rocksdb_column_family_handle_t **cfs = NULL;
	const rocksdb_options_t **cfopts = NULL;
	rocksdb_t *db = NULL;
	rstate *states = NULL;
	uint32_t nstates = 0;
	char *e = NULL;
	if (!path) {
		seterr(err, errcap, "rocksdb backend: cannot create a database folder in '%s': %s", b->dir,
		       strerror(errno));
		return FLINC_EIO;
	}
	rc = populate(dir, path, err, errcap);
	if (rc) goto fail;
	names = rocksdb_list_column_families(b->opts, path, &nnames, &e);
	if (e) goto dbfail;
	cfs = fl_try_calloc(nnames, sizeof(*cfs));
	cfopts = fl_try_calloc(nnames, sizeof(*cfopts));
	states = fl_try_calloc(nnames, sizeof(*states));
	if (!cfs || !cfopts || !states) {
		seterr(err, errcap, "rocksdb backend: out of memory");
		rc = FLINC_ENOMEM;
		goto fail;
	}
	/* Know every column family before opening: an unknown one is refused. */
	for (size_t i = 0; i < nnames; i++) {
		cfopts[i] = b->opts;
		const char *sname;
		if (strcmp(names[i], "default") != 0 && cf_kind(names[i], &sname) < 0) {
			seterr(err, errcap,
			       "rocksdb backend: checkpoint '%s' has a column family '%s' that is no state",
			       dir, names[i]);
			rc = FLINC_EINVAL;
			goto fail;
		}
	}
	db = rocksdb_open_column_families(b->opts, path, (int)nnames, (const char *const *)names, cfopts, cfs,
					  &e);
	if (e) {
		db = NULL;
		goto dbfail;
	}
	for (size_t i = 0; i < nnames; i++) {
		if (strcmp(names[i], "default") == 0) {
			rocksdb_column_family_handle_destroy(cfs[i]);
			cfs[i] = NULL;
			continue;
		}
		const char *sname = NULL;
		int kind = cf_kind(names[i], &sname);
		states[nstates] =
			(rstate){ .name = fl_try_strdup(sname), .kind = (fl_state_kind)kind, .cf = cfs[i] };
		cfs[i] = NULL;
		if (!states[nstates++].name) {
			seterr(err, errcap, "rocksdb backend: out of memory");
			rc = FLINC_ENOMEM;
			goto fail;
		}
	}
	/* Success: the empty database goes, the restored one takes its place. */
	db_close(b);
	fl_rm_rf(b->dbpath, NULL, 0);
	free(b->dbpath);
	b->dbpath = path;
	b->db = db;
	b->states = states;
	b->nstates = b->capstates = nstates;
	free(cfs);
	free(cfopts);
	rocksdb_list_column_families_destroy(names, nnames);
	arena_reset(b);
	return FLINC_OK;

dbfail:
	seterr(err, errcap, "rocksdb backend: cannot open checkpoint '%s': %s", dir, e);
	rocksdb_free(e);
	rc = FLINC_ESTATE;
fail:
	for (uint32_t i = 0; i < nstates; i++) {
		if (states[i].cf) rocksdb_column_family_handle_destroy(states[i].cf);
		free(states[i].name);
	}
	free(states);
	for (size_t i = 0; cfs && i < nnames; i++)
		if (cfs[i]) rocksdb_column_family_handle_destroy(cfs[i]);
	free(cfs);
	free(cfopts);
	if (db) rocksdb_close(db);
	if (names) rocksdb_list_column_families_destroy(names, nnames);
	fl_rm_rf(path, NULL, 0);
	free(path);
	return rc;
}

static int rdb_state_at(void *be, uint32_t sid, const char **name, fl_state_kind *kind)
{
	rdb_be *b = be;
	if (sid >= b->nstates) return FLINC_ENOENT;
	*name = b->states[sid].name;
	*kind = b->states[sid].kind;
	return FLINC_OK;
}

const fl_backend_ops fl_backend_rocksdb = {
	.version = FL_BACKEND_VERSION,
	.name = "rocksdb",
	.priv_size = sizeof(rdb_be),
	.open = rdb_open,
	.close = rdb_close,
	.declare = rdb_declare,
	.get = rdb_get,
	.put = rdb_put,
	.put_inplace = rdb_put_inplace,
	.remove = rdb_remove,
	.list_append = rdb_list_append,
	.map_get = rdb_map_get,
	.map_put = rdb_map_put,
	.map_remove = rdb_map_remove,
	.map_iter = rdb_map_iter,
	.scan = rdb_scan,
	.count = rdb_count,
	.native_checkpoint = rdb_native_checkpoint,
	.native_restore = rdb_native_restore,
	.state_at = rdb_state_at,
	.map_range = rdb_map_range,
};
