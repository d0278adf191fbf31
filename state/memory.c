/*
 * memory.c - the in-memory ("hashmap") keyed state backend.
 *
 * One instance per subtask, used by that subtask's thread only: no locks, no
 * globals. Every pointer it hands out points into its own blocks.
 *
 * Layout
 * ------
 * Each declared state has its own open-addressing hash table `t` of 16-byte
 * slots {hash, entry pointer}: power-of-two capacity, linear probing,
 * growth by doubling when the load would pass 3/4, halving when it falls
 * under 1/8, and backward-shift deletion (no tombstones, so probe lengths do
 * not decay under the insert/remove churn of windows). The full 64-bit hash
 * is cached in the slot: a probe compares it before touching the entry, so a
 * lookup normally costs one slot cache line and one entry cache line, and a
 * resize never rehashes keys.
 *
 * An entry is one block:
 *
 *     value/list state:            [ent][key|ns][pad][value ... vcap]
 *     map state:           [mlink][ent][key|ns|uk][pad][value ... vcap]
 *
 * `ent` holds the lengths, the key group and the value's length and in-place
 * capacity; the value starts 16-byte aligned so put_inplace can hand out POD
 * accumulators of any alignment malloc would give. With an 8-byte key and a
 * 16-byte namespace a value entry is exactly 64 bytes.
 *
 * Blocks come from a small per-instance slab allocator: size classes of
 * 16 bytes up to 512 bytes, carved from chunks that double from 64 KiB to
 * 2 MiB, with a LIFO free list per class. Larger blocks are plain malloc.
 * A block's class slack is used as value capacity, so updating an existing
 * entry with a value of the same (or a smaller) size, put_inplace on an
 * existing entry, and most list appends allocate nothing; a new entry in
 * the steady state of windows reuses a removed one's block. Blocks are only returned to the system on close. Under
 * AddressSanitizer freed and not-yet-carved slab memory is poisoned, so a
 * stale pointer into a removed entry is still reported. 2 MiB chunks and
 * tables of 2 MiB or more are aligned and advised for transparent huge
 * pages (madvise): with millions of keys, probes are random accesses over
 * ~100 MB, and 4 KiB pages would add a TLB miss to each.
 *
 * Map state
 * ---------
 * Entries are keyed by (kg, key, ns, uk) in `t`. A second table `p` holds
 * one prefix node per (kg, key, ns) that has at least one user key:
 *
 *     prefix node:          [plink][ent][key|ns]          (no value)
 *
 * plink is the head of a doubly linked list of that prefix's map entries,
 * threaded through their mlink (which also caches the entry's full hash and
 * points back at the prefix node). map_iter walks the list, touching only
 * the prefix's own entries; remove of a whole prefix unlinks each entry from
 * `t` by its cached hash; map_remove of the last user key frees the prefix
 * node. Prefix nodes never move; a map entry that must grow moves, and its
 * neighbours' links (or the prefix head) are patched.
 *
 * Hashing: a MurmurHash64A-style mix over the parts (kg and lengths in one
 * word, then the key, namespace and user key words) without concatenating
 * them, with a final avalanche; the table only uses it inside this process,
 * so it is not the stable key-group hash (fl_hash64).
 *
 * Scan collects the entries of the wanted key groups with a counting sort
 * by key group: O(entries + key groups), no comparison sort.
 *
 * Asynchronous snapshots (copy-on-write)
 * --------------------------------------
 * snap_open freezes the instance as it is without copying anything: the
 * snapshot takes each state's entry table `t` as it is ({slot array, mask,
 * n}, shared with the live state) and the instance starts a new epoch.
 * Every entry carries the epoch it was created in (ent.epoch, the spare
 * header byte), so while a snapshot is open an entry is shared with it
 * exactly when its epoch is not the current one. From then on the owner
 * thread never writes, frees or reuses memory the snapshot reads (a shared
 * slot array, a shared entry's header, key and value):
 *  - the first modifying call on a state whose slot array is still shared
 *    copies the array (memcpy; the snapshot keeps the original), so
 *    inserts, backward-shift deletes and resizes only touch the copy; a
 *    state left alone while the snapshot is open is never copied;
 *  - put, put_inplace, list_append and map_put of a shared entry copy it
 *    into a new block first (even when the value would fit in place) and
 *    work on the copy; put_inplace returns the copy's value;
 *  - remove, map_remove, remove of a whole map prefix and the moves above
 *    retire a shared entry instead of freeing it: the block goes to the
 *    retired list, not to a free list, so it is neither reused nor (under
 *    AddressSanitizer) poisoned before the snapshot is gone.
 * Entries created after snap_open have the current epoch and are updated
 * in place and freed as usual. The links of map entries and prefix nodes
 * (mlink, plink) are not part of what a snapshot reads: they are rewritten
 * freely, a copied map entry takes its original's place in its prefix's
 * list, and prefix nodes are never retired. Each entry of the snapshot is
 * retired at most once (its copy is of the current epoch), so the retired
 * list is sized at open from the snapshot's entry count and never grows.
 *
 * snap_scan reads only the snapshot's slot arrays and the entries they
 * point to, which is why it may run on another thread. snap_release sets
 * an atomic flag (release); the owner thread checks it (acquire) on its
 * next modifying call, snap_open or close, and then frees the retired
 * blocks, the slot arrays the live states no longer share and the handle.
 * With no snapshot open, a modifying call pays one predictable branch on
 * `snap` (the copy-on-write paths are separate copies of the code).
 *
 * The epoch is 8 bits: when it would wrap, snap_open (with no snapshot
 * open) first renumbers every entry to epoch 0, an O(entries) pass once
 * every 255 snapshots, so an entry from 256 epochs ago can never pass for
 * a new one.
 *
 * Contract details this backend chooses where fl_state.h is silent:
 *  - get/put work on value and list states, put_inplace on value states,
 *    list_append on list states, map_* on map states; anything else is
 *    FLINC_EINVAL (NULL for put_inplace). scan, count and remove work on all.
 *  - put_inplace on an existing entry of a different length replaces it by
 *    `len` zero bytes and reports *created = true.
 *  - count of a map state counts user-key entries (what scan visits).
 *  - Entries of any key group are accepted; the key-group range given to
 *    open is only checked for sanity.
 *  - A pointer returned by get/put_inplace/map_get stays valid at least as
 *    long as the contract says; in fact until that entry is removed, grows,
 *    is copied because an open snapshot shares it, or the backend closes
 *    (a copied or removed entry's old block stays readable until the
 *    snapshot is reclaimed).
 *  - snap_open freezes what put_inplace handed out before it: a value
 *    pointer obtained before snap_open must not be written after it (call
 *    put_inplace again; the runtime does, per record).
 *  - close with a snapshot that was not released is a caller bug (the
 *    runtime releases before it closes): close frees the snapshot's memory
 *    anyway, so a thread still scanning it would read freed memory.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fl_managed.h"
#include "fl_state.h"

#if defined(__SANITIZE_ADDRESS__)
#define MEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_ASAN 1
#endif
#endif
#ifdef MEM_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define ALIGN 16u
#define ALIGN_UP(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))
#define NCLS 32u /* classes of 16, 32, ... 512 bytes */
#define SMALL_MAX ((size_t)NCLS * ALIGN)
#define CLS_LARGE 0xffu
#define CHUNK_MIN ((size_t)64 * 1024)
#define HUGE_SIZE ((size_t)2 * 1024 * 1024) /* chunks grow to this; tables past it ask for huge pages */
#define CHUNK_HDR ((size_t)64)              /* {next, size}; keeps blocks 64-byte aligned */
#define TAB_MIN 16u

/* Values are ALIGN-aligned within blocks that are at least as aligned. */
_Static_assert(alignof(max_align_t) <= ALIGN, "value alignment");

/* ---- blocks ----------------------------------------------------------- */

/* Header of an entry (and of a prefix node); key material follows. */
typedef struct ent {
	uint32_t vlen; /* value bytes in use */
	uint32_t vcap; /* value bytes available without moving */
	uint32_t klen, nslen, uklen;
	uint16_t kg;
	uint8_t cls;   /* slab class of the block, CLS_LARGE for malloc */
	uint8_t epoch; /* mem_be.epoch when created (prefix nodes: unused) */
} ent;

/* Sits just before a map entry's ent. */
typedef struct mlink {
	uint64_t h;              /* full hash of (kg, key, ns, uk) */
	struct ent *prev, *next; /* siblings under the same prefix */
	struct ent *pfx;         /* the prefix node */
} mlink;

/* Sits just before a prefix node's ent. */
typedef struct plink {
	struct ent *head; /* first map entry of this prefix; never NULL while linked */
	uint64_t h;       /* hash of (kg, key, ns) */
} plink;

_Static_assert(sizeof(ent) == 24, "the snapshot epoch lives in the header's spare byte");
_Static_assert(sizeof(ent) % 8 == 0 && sizeof(mlink) % ALIGN == 0 && sizeof(plink) % ALIGN == 0,
	       "block headers keep the 16-byte alignment");

typedef struct slot {
	uint64_t h;
	ent *e; /* NULL: empty */
} slot;

typedef struct table {
	slot *s;     /* NULL until the first insert */
	size_t mask; /* capacity - 1 */
	size_t n;
} table;

typedef struct mstate {
	char *name;
	fl_state_kind kind;
	table t; /* entries */
	table p; /* map state: prefix nodes */
} mstate;

/* What a snapshot holds of one state: its entry table as of snap_open. */
typedef struct snap_tab {
	const slot *s; /* NULL: the state was empty */
	size_t mask;
	size_t n;
	fl_state_kind kind;
} snap_tab;

/* An open snapshot. Written by the owner thread in snap_open only, then
 * read-only (but for `released`) until the owner reclaims it. */
typedef struct mem_snap {
	atomic_bool released; /* set by snap_release (release), read by the owner (acquire) */
	uint32_t nstates;     /* states declared before snap_open */
	snap_tab st[];
} mem_snap;

typedef struct mem_be {
	mstate *states;
	mem_snap *snap; /* the open snapshot, NULL when none (checked by every modifying call) */
	uint8_t epoch;  /* epoch of entries created now; advanced by snap_open */
	uint32_t nstates, capstates;
	int kg_first, kg_last;
	/* Entries the open snapshot shares that the live state dropped:
	 * ent pointers, bit 0 set for a map entry (an mlink before it). Room
	 * for every entry of the snapshot, allocated at snap_open. */
	uintptr_t *retired;
	size_t nretired, capretired;
	void *freel[NCLS];    /* free blocks per class, linked through their first word */
	uint8_t *bump, *bend; /* uncarved rest of the newest chunk */
	void *chunks;         /* newest first; header {next, size} */
	size_t chunk_next;    /* size of the next chunk: doubles up to HUGE_SIZE */
	/* Managed memory (fl_managed.h): chunks, large blocks and slot arrays
	 * are charged while allocated; NULL when the runtime gave no
	 * configuration (unit tests). */
	fl_managed *mm;
	int64_t charged; /* by this instance, given back at close */
	bool refused;    /* the last allocation failed on the managed limit */
	bool warned;
} mem_be;

/* Accessors: key material right after the header, the value at its
 * aligned offset, the link headers right before it. */
static inline uint8_t *ekey(const ent *e) { return (uint8_t *)(e + 1); }
static inline size_t voff(size_t klen, size_t nslen, size_t uklen)
{
	return ALIGN_UP(sizeof(ent) + klen + nslen + uklen);
}
static inline uint8_t *evalue(const ent *e) { return (uint8_t *)e + voff(e->klen, e->nslen, e->uklen); }
static inline mlink *mlink_of(const ent *e) { return (mlink *)((uint8_t *)e - sizeof(mlink)); }
static inline plink *plink_of(const ent *e) { return (plink *)((uint8_t *)e - sizeof(plink)); }

/* Bytes a block needs before its ent for a state of this kind. */
static inline size_t pre_size(fl_state_kind kind) { return kind == FL_STATE_MAP ? sizeof(mlink) : 0; }

/* ---- managed memory ---------------------------------------------------- */

/* Take n bytes from the process's managed memory; false (and one log line
 * per instance) when that would pass taskmanager.memory.managed.size. */
static bool charge(mem_be *b, int64_t n)
{
	if (!b->mm || n <= 0) return true;
	if (UNLIKELY(!fl_managed_charge(b->mm, n))) {
		b->refused = true;
		if (!b->warned) {
			b->warned = true;
			fl_log(FL_LOG_WARN, "state",
			       "hashmap backend: keyed state needs more than taskmanager.memory.managed.size "
			       "(%lld MB, %lld MB in use by this task manager): give task managers more managed "
			       "memory, or use state.backend: rocksdb",
			       (long long)(fl_managed_total(b->mm) >> 20),
			       (long long)(fl_managed_used() >> 20));
		}
		return false;
	}
	b->charged += n;
	return true;
}

static void uncharge(mem_be *b, int64_t n)
{
	if (!b->mm || n <= 0) return;
	fl_managed_uncharge(b->mm, n);
	b->charged -= n;
}

/* An operation's ENOMEM: FLINC_EMEMLIMIT when the managed limit refused
 * it (the message then names the limit, not the machine). */
static int nomem(mem_be *b)
{
	if (b->refused) {
		b->refused = false;
		return FLINC_EMEMLIMIT;
	}
	return FLINC_ENOMEM;
}

/* A plain malloc'ed block, charged by its usable size. */
static void *large_alloc(mem_be *b, size_t size)
{
	void *p = fl_try_malloc(size);
	if (p && !charge(b, (int64_t)malloc_usable_size(p))) {
		free(p);
		return NULL;
	}
	return p;
}

static void large_free(mem_be *b, void *p)
{
	if (!p) return;
	uncharge(b, (int64_t)malloc_usable_size(p));
	free(p);
}

/* Zeroed memory of n bytes (a multiple of HUGE_SIZE), aligned to
 * HUGE_SIZE and advised for transparent huge pages: random probes into
 * tens of megabytes otherwise pay a TLB miss each (about twice as costly
 * under virtualisation). Zeroing after the advice faults in huge pages.
 * Release with free(). NULL on ENOMEM. */
static void *huge_zalloc(size_t n)
{
	void *p = aligned_alloc(HUGE_SIZE, n);
	if (!p) return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE); /* advice only: failure is fine */
#endif
	memset(p, 0, n);
	return p;
}

/* Carve the rest of the current chunk into free blocks so nothing is lost
 * when a new chunk starts. */
static void chunk_retire(mem_be *b)
{
	size_t left = (size_t)(b->bend - b->bump);
	while (left >= ALIGN) {
		size_t sz = left < SMALL_MAX ? left - left % ALIGN : SMALL_MAX;
		unsigned c = (unsigned)(sz / ALIGN) - 1;
		void *p = b->bump;
		UNPOISON(p, sizeof(void *));
		*(void **)p = b->freel[c];
		b->freel[c] = p;
		POISON(p, sz);
		b->bump += sz;
		left -= sz;
	}
	b->bump = b->bend = NULL;
}

/* A block of at least `size` bytes, 16-byte aligned; *cls receives the
 * class to give back to blk_free. NULL when memory runs out. */
static void *blk_alloc(mem_be *b, size_t size, uint8_t *cls)
{
	if (UNLIKELY(size > SMALL_MAX)) {
		*cls = CLS_LARGE;
		return large_alloc(b, size);
	}
	unsigned c = (unsigned)((size + ALIGN - 1) / ALIGN) - 1;
	size_t sz = (size_t)(c + 1) * ALIGN;
	void *p = b->freel[c];
	*cls = (uint8_t)c;
	if (p) {
		UNPOISON(p, sz);
		b->freel[c] = *(void **)p;
		return p;
	}
	if (UNLIKELY((size_t)(b->bend - b->bump) < sz)) {
		size_t csize = b->chunk_next ? b->chunk_next : CHUNK_MIN;
		if (!charge(b, (int64_t)csize)) return NULL;
		uint8_t *ch = csize >= HUGE_SIZE ? huge_zalloc(csize) : aligned_alloc(64, csize);
		if (!ch) {
			uncharge(b, (int64_t)csize);
			return NULL;
		}
		b->chunk_next = csize < HUGE_SIZE ? csize * 2 : HUGE_SIZE;
		chunk_retire(b);
		((void **)ch)[0] = b->chunks;
		((size_t *)ch)[1] = csize;
		b->chunks = ch;
		b->bump = ch + CHUNK_HDR;
		b->bend = ch + csize;
		POISON(b->bump, csize - CHUNK_HDR);
	}
	p = b->bump;
	b->bump += sz;
	UNPOISON(p, sz);
	return p;
}

/* Usable size of a block of class cls (small classes only). */
static inline size_t cls_size(uint8_t cls) { return ((size_t)cls + 1) * ALIGN; }

/* Give back a block from blk_alloc. */
static void blk_free(mem_be *b, void *p, uint8_t cls)
{
	if (cls == CLS_LARGE) {
		large_free(b, p);
		return;
	}
	*(void **)p = b->freel[cls];
	b->freel[cls] = p;
	POISON(p, cls_size(cls));
}

/* Free an entry or prefix node of a state of kind `kind`. */
static void ent_free(mem_be *b, fl_state_kind kind, ent *e, bool is_prefix)
{
	size_t pre = is_prefix ? sizeof(plink) : pre_size(kind);
	blk_free(b, (uint8_t *)e - pre, e->cls);
}

/* ---- hashing ---------------------------------------------------------- */

#define HM 0xc6a4a7935bd1e995ULL
#define HSEED 0x9e3779b97f4a7c15ULL

/* Unaligned native-endian loads (the hash is process-local). */
static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* One MurmurHash64A round: fold word k into h. */
static inline uint64_t hmix(uint64_t h, uint64_t k)
{
	k *= HM;
	k ^= k >> 47;
	k *= HM;
	h ^= k;
	return h * HM;
}

/* Fold n bytes into h; the length is mixed in by the caller. */
static inline uint64_t hbytes(uint64_t h, const uint8_t *p, size_t n)
{
	for (; n >= 8; n -= 8, p += 8) h = hmix(h, rd64(p));
	if (n >= 4)
		h = hmix(h, ((uint64_t)rd32(p) << 32) | rd32(p + n - 4));
	else if (n)
		h = hmix(h, ((uint64_t)p[0] << 16) | ((uint64_t)p[n >> 1] << 8) | p[n - 1]);
	return h;
}

/* Avalanche (MurmurHash3 fmix64): the table indexes by the low bits. */
static inline uint64_t hfinal(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Un-finalised hash of (kg, key, ns): the value hash, the map prefix hash
 * and the map entry hash all start from it. */
static inline uint64_t hprefix(const fl_skey *k)
{
	/* The runtime hashed the key once (fl_skey.khash); mix in the rest. */
	uint64_t h = hmix(HSEED ^ k->khash,
			  (uint64_t)k->kg | ((uint64_t)k->klen << 16) | ((uint64_t)k->nslen << 40));
	return hbytes(h, k->ns, k->nslen);
}

/* Finalised hash of a map entry: the prefix state plus the user key. */
static inline uint64_t hwith_uk(uint64_t hp, const uint8_t *uk, size_t uklen)
{
	return hfinal(hbytes(hmix(hp, uklen), uk, uklen));
}

/* ---- keys ------------------------------------------------------------- */

/* memcmp inlined for keys and namespaces of up to 16 bytes (most are):
 * two overlapping loads per side cover every byte. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n > 16) return memcmp(a, b, n) == 0;
	if (n >= 8) return rd64(a) == rd64(b) && rd64(a + n - 8) == rd64(b + n - 8);
	if (n >= 4) return rd32(a) == rd32(b) && rd32(a + n - 4) == rd32(b + n - 4);
	if (n == 0) return true;
	return a[0] == b[0] && a[n >> 1] == b[n >> 1] && a[n - 1] == b[n - 1];
}

/* Whether entry e is (k, uk). */
static inline bool ent_match(const ent *e, const fl_skey *k, const uint8_t *uk, uint32_t uklen)
{
	if (e->kg != k->kg || e->klen != k->klen || e->nslen != k->nslen || e->uklen != uklen) return false;
	const uint8_t *m = ekey(e);
	return bytes_eq(m, k->key, k->klen) && bytes_eq(m + k->klen, k->ns, k->nslen) &&
		bytes_eq(m + k->klen + k->nslen, uk, uklen);
}

/* A key the backend can read: lengths come with bytes. */
static inline bool skey_ok(const fl_skey *k) { return k && (k->key || !k->klen) && (k->ns || !k->nslen); }

/* ---- tables ----------------------------------------------------------- */

/* Slot index holding the entry matching (k, uk), or of the empty slot that
 * ends its probe sequence (*found false). t must have slots. */
static inline size_t tab_find(const table *t, uint64_t h, const fl_skey *k, const uint8_t *uk, uint32_t uklen,
			      bool *found)
{
	size_t i = (size_t)h & t->mask;
	for (;;) {
		const slot *s = &t->s[i];
		if (!s->e) {
			*found = false;
			return i;
		}
		if (s->h == h && ent_match(s->e, k, uk, uklen)) {
			*found = true;
			return i;
		}
		i = (i + 1) & t->mask;
	}
}

/* Slot index of entry e (which must be in t). */
static inline size_t tab_slot_of(const table *t, uint64_t h, const ent *e)
{
	size_t i = (size_t)h & t->mask;
	while (t->s[i].e != e) i = (i + 1) & t->mask;
	return i;
}

/* Rebuild t with `cap` slots (a power of two > n). FLINC_ENOMEM leaves t
 * as it was. */
static int tab_resize(mem_be *b, table *t, size_t cap)
{
	size_t bytes = cap * sizeof(slot);
	if (!charge(b, (int64_t)bytes)) return FLINC_ENOMEM;
	slot *ns = bytes >= HUGE_SIZE ? huge_zalloc(bytes) : fl_try_calloc(cap, sizeof(slot));
	if (!ns) {
		uncharge(b, (int64_t)bytes);
		return FLINC_ENOMEM;
	}
	size_t mask = cap - 1;
	if (t->s) {
		for (size_t i = 0; i <= t->mask; i++) {
			if (!t->s[i].e) continue;
			size_t j = (size_t)t->s[i].h & mask;
			while (ns[j].e) j = (j + 1) & mask;
			ns[j] = t->s[i];
		}
		free(t->s);
		uncharge(b, (int64_t)((t->mask + 1) * sizeof(slot)));
	}
	t->s = ns;
	t->mask = mask;
	return FLINC_OK;
}

/* Make room for one more entry. *moved is set when slots were rebuilt (an
 * index from an earlier tab_find is then stale). */
static int tab_reserve(mem_be *b, table *t, bool *moved)
{
	*moved = false;
	if (!t->s) {
		*moved = true;
		return tab_resize(b, t, TAB_MIN);
	}
	size_t cap = t->mask + 1;
	if ((t->n + 1) * 4 <= cap * 3) return FLINC_OK;
	if (cap > SIZE_MAX / 2 / sizeof(slot)) return FLINC_ENOMEM;
	*moved = true;
	return tab_resize(b, t, cap * 2);
}

/* First empty slot for hash h (the key is known to be absent). */
static inline size_t tab_empty(const table *t, uint64_t h)
{
	size_t i = (size_t)h & t->mask;
	while (t->s[i].e) i = (i + 1) & t->mask;
	return i;
}

/* Remove slot i by shifting back the entries whose probe sequence crosses
 * it, then shrink a table that became sparse (best effort). */
static void tab_remove_at(mem_be *b, table *t, size_t i)
{
	size_t mask = t->mask;
	size_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (!t->s[j].e) break;
		size_t k = (size_t)t->s[j].h & mask;
		/* The entry at j may move to i only if its home k is not in (i, j]. */
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays) continue;
		t->s[i] = t->s[j];
		i = j;
	}
	t->s[i].e = NULL;
	t->s[i].h = 0;
	t->n--;
	size_t cap = mask + 1;
	if (cap > TAB_MIN && t->n * 8 < cap) (void)tab_resize(b, t, cap / 2);
}

/* Free t's slots (not the entries) and leave it empty. */
static void tab_free(mem_be *b, table *t)
{
	if (t->s) uncharge(b, (int64_t)((t->mask + 1) * sizeof(slot)));
	free(t->s);
	memset(t, 0, sizeof(*t));
}

/* ---- backend ---------------------------------------------------------- */

/* The state sid if it exists and is of kind `kind` (or of any kind when
 * kind < 0); NULL otherwise. */
static inline mstate *state_get(mem_be *b, uint32_t sid, int kind)
{
	if (UNLIKELY(sid >= b->nstates)) return NULL;
	mstate *s = &b->states[sid];
	if (kind >= 0 && (int)s->kind != kind) return NULL;
	return s;
}

/* Allocate a block for a new entry (or prefix node) with room for `cap`
 * value bytes, fill its header and key material. NULL on ENOMEM. */
static ent *ent_new(mem_be *b, size_t pre, const fl_skey *k, const uint8_t *uk, uint32_t uklen, size_t cap)
{
	size_t off = voff(k->klen, k->nslen, uklen);
	size_t size = pre + off + cap;
	uint8_t cls;
	uint8_t *blk = blk_alloc(b, size, &cls);
	if (!blk) return NULL;
	ent *e = (ent *)(blk + pre);
	size_t room = cls == CLS_LARGE ? cap : cls_size(cls) - pre - off;
	e->vlen = 0;
	e->vcap = (uint32_t)(room > UINT32_MAX ? UINT32_MAX : room);
	e->klen = k->klen;
	e->nslen = k->nslen;
	e->uklen = uklen;
	e->kg = k->kg;
	e->cls = cls;
	e->epoch = b->epoch;
	uint8_t *m = ekey(e);
	if (k->klen) memcpy(m, k->key, k->klen);
	if (k->nslen) memcpy(m + k->klen, k->ns, k->nslen);
	if (uklen) memcpy(m + k->klen + k->nslen, uk, uklen);
	return e;
}

/* Whether entry e is shared with the open snapshot (it was created before
 * snap_open); `cow` says a snapshot is open: a constant false in the fast
 * paths, where the test folds away. */
#define SHARED(b, e, cow) ((cow) && (e)->epoch != (b)->epoch)

/* Keep entry e, which the open snapshot shares and the live state no longer
 * holds, until the snapshot is reclaimed. Never fails: the retired list has
 * room for every entry of the snapshot, and each is retired at most once. */
static void ent_retire(mem_be *b, fl_state_kind kind, ent *e)
{
	if (UNLIKELY(b->nretired >= b->capretired)) /* defensive: cannot happen */
		abort();
	b->retired[b->nretired++] = (uintptr_t)e | (kind == FL_STATE_MAP);
}

/* Drop an entry the live state no longer holds: retire it if the open
 * snapshot shares it, else free it. */
static inline void ent_drop(mem_be *b, fl_state_kind kind, ent *e, bool cow)
{
	if (SHARED(b, e, cow))
		ent_retire(b, kind, e);
	else
		ent_free(b, kind, e, false);
}

/* Move entry e (held by slot sl of a state of kind `kind`) to a block with
 * room for `cap` value bytes, keeping its value bytes when `keep`. Patches
 * the slot and, for map entries, the sibling links (or the prefix head).
 * The old block is freed, or retired when `shared` (the open snapshot
 * reads it: it is then only read, never resized in place). Returns the new
 * entry, of the current epoch, or NULL on ENOMEM (e untouched). */
static ent *ent_move(mem_be *b, fl_state_kind kind, slot *sl, ent *e, size_t cap, bool keep, bool shared)
{
	size_t pre = pre_size(kind);
	size_t off = voff(e->klen, e->nslen, e->uklen);
	size_t size = pre + off + cap;
	uint8_t *old = (uint8_t *)e - pre;
	ent *ne;
	if (e->cls == CLS_LARGE && size > SMALL_MAX && !shared) {
		int64_t had = (int64_t)malloc_usable_size(old);
		if (!charge(b, (int64_t)size - had)) return NULL;
		uint8_t *blk = fl_try_realloc(old, size); /* keeps the contents */
		if (!blk) {
			uncharge(b, (int64_t)size - had);
			return NULL;
		}
		/* settle the charge on what the allocator really gave (a rounding
		 * of a few bytes: taken even past the limit) */
		int64_t got = (int64_t)malloc_usable_size(blk) - (int64_t)size;
		if (b->mm && got) {
			fl_managed_uncharge(b->mm, -got);
			b->charged += got;
		}
		ne = (ent *)(blk + pre);
		ne->vcap = (uint32_t)cap;
	} else {
		uint8_t cls;
		uint8_t *blk = blk_alloc(b, size, &cls);
		if (!blk) return NULL;
		memcpy(blk, old, pre + off + (keep ? e->vlen : 0));
		ne = (ent *)(blk + pre);
		size_t room = cls == CLS_LARGE ? cap : cls_size(cls) - pre - off;
		ne->vcap = (uint32_t)(room > UINT32_MAX ? UINT32_MAX : room);
		ne->cls = cls;
		if (shared)
			ent_retire(b, kind, e);
		else
			blk_free(b, old, e->cls);
	}
	ne->epoch = b->epoch;
	if (!keep) ne->vlen = 0;
	sl->e = ne;
	if (kind == FL_STATE_MAP) {
		mlink *ml = mlink_of(ne);
		if (ml->prev)
			mlink_of(ml->prev)->next = ne;
		else
			plink_of(ml->pfx)->head = ne;
		if (ml->next) mlink_of(ml->next)->prev = ne;
	}
	return ne;
}

/* How upsert sizes an entry. */
enum { UP_SET, UP_APPEND };

/* Find or create the entry for (k, uk). `h` is the entry's full hash, `hp`
 * the prefix hash (map state only).
 *  UP_SET:    room for `n` value bytes; an existing entry that must move
 *             loses its value (vlen 0), one that fits keeps vlen as is.
 *  UP_APPEND: room for `n` more bytes after the current value, which is
 *             kept; growth is amortised (at least 1.5x).
 * *created tells a new entry (vlen 0). Returns FLINC_OK with *out set,
 * FLINC_EINVAL when the value would pass 4 GiB, or FLINC_ENOMEM with
 * nothing changed but possibly table capacity.
 * With `cow` (a snapshot is open and s's slot array is not shared), an
 * existing entry the snapshot shares is first copied (keeping its value,
 * as an update in place would) and *out is the copy. */
static inline __attribute__((always_inline)) int upsert_impl(mem_be *b, mstate *s, uint64_t h, uint64_t hp,
							     const fl_skey *k, const uint8_t *uk,
							     uint32_t uklen, size_t n, int mode, ent **out,
							     bool *created, bool cow)
{
	table *t = &s->t;
	bool found = false, moved;
	size_t i = 0;
	if (LIKELY(t->s != NULL)) i = tab_find(t, h, k, uk, uklen, &found);
	if (found) {
		ent *e = t->s[i].e;
		size_t cap = n;
		*created = false;
		if (mode == UP_APPEND) {
			cap = (size_t)e->vlen + n;
			if (cap > UINT32_MAX) return FLINC_EINVAL;
		}
		bool shared = SHARED(b, e, cow);
		bool keep = mode == UP_APPEND;
		if (LIKELY(e->vcap >= cap)) {
			if (LIKELY(!shared)) {
				*out = e;
				return FLINC_OK;
			}
			/* The value would fit in place, but the snapshot reads
			 * this block: a copy that keeps the value and room. */
			keep = true;
			if (cap < e->vlen) cap = e->vlen;
			if (mode == UP_APPEND && cap < e->vcap) cap = e->vcap;
		} else if (mode == UP_APPEND) {
			size_t more = (size_t)e->vcap + e->vcap / 2;
			if (more > cap) cap = more > UINT32_MAX ? UINT32_MAX : more;
		}
		e = ent_move(b, s->kind, &t->s[i], e, cap, keep, shared);
		*out = e;
		return e ? FLINC_OK : FLINC_ENOMEM;
	}
	if (tab_reserve(b, t, &moved)) return FLINC_ENOMEM;
	if (moved) i = tab_empty(t, h);

	ent *pfx = NULL;
	bool pfx_new = false;
	size_t pi = 0;
	if (s->kind == FL_STATE_MAP) {
		table *pt = &s->p;
		bool pfound = false, pmoved;
		if (pt->s) pi = tab_find(pt, hp, k, NULL, 0, &pfound);
		if (pfound) {
			pfx = pt->s[pi].e;
		} else {
			if (tab_reserve(b, pt, &pmoved)) return FLINC_ENOMEM;
			if (pmoved) pi = tab_empty(pt, hp);
			pfx = ent_new(b, sizeof(plink), k, NULL, 0, 0);
			if (!pfx) return FLINC_ENOMEM;
			plink_of(pfx)->head = NULL;
			plink_of(pfx)->h = hp;
			pfx_new = true;
		}
	}

	/* A new list gets room for a second element of the same size: most
	 * lists grow (an event-time buffer, a window's contents), and the
	 * move at the first append is a block allocation and a copy. */
	size_t first = mode == UP_APPEND && n <= 1024 ? 2 * n : n;
	ent *e = ent_new(b, pre_size(s->kind), k, uk, uklen, first);
	if (!e) {
		if (pfx_new) ent_free(b, s->kind, pfx, true);
		return FLINC_ENOMEM;
	}
	t->s[i].h = h;
	t->s[i].e = e;
	t->n++;
	if (s->kind == FL_STATE_MAP) {
		if (pfx_new) {
			s->p.s[pi].h = hp;
			s->p.s[pi].e = pfx;
			s->p.n++;
		}
		mlink *ml = mlink_of(e);
		plink *pl = plink_of(pfx);
		ml->h = h;
		ml->pfx = pfx;
		ml->prev = NULL;
		ml->next = pl->head;
		if (pl->head) mlink_of(pl->head)->prev = e;
		pl->head = e;
	}
	*created = true;
	*out = e;
	return FLINC_OK;
}

/* upsert without a snapshot open: the fast path. */
static int upsert(mem_be *b, mstate *s, uint64_t h, uint64_t hp, const fl_skey *k, const uint8_t *uk,
		  uint32_t uklen, size_t n, int mode, ent **out, bool *created)
{
	return upsert_impl(b, s, h, hp, k, uk, uklen, n, mode, out, created, false);
}

static int snap_enter(mem_be *b, mstate *s);

/* upsert while a snapshot is (or was until now) open: reclaim it if it
 * was released, unshare s's slot array, and copy shared entries. */
static __attribute__((noinline)) int upsert_snap(mem_be *b, mstate *s, uint64_t h, uint64_t hp,
						 const fl_skey *k, const uint8_t *uk, uint32_t uklen,
						 size_t n, int mode, ent **out, bool *created)
{
	int rc = snap_enter(b, s);
	if (rc) return rc;
	return upsert_impl(b, s, h, hp, k, uk, uklen, n, mode, out, created, b->snap != NULL);
}

/* upsert, by the fast path unless a snapshot is open (the one branch a
 * modifying call pays for snapshots). */
#define UPSERT(b, s, ...) \
	up_rc((b), LIKELY(!(b)->snap) ? upsert((b), (s), __VA_ARGS__) : upsert_snap((b), (s), __VA_ARGS__))

/* upsert's result, with an ENOMEM of the managed limit told apart. */
static inline int up_rc(mem_be *b, int rc) { return UNLIKELY(rc == FLINC_ENOMEM) ? nomem(b) : rc; }

/* Unlink map entry e from its prefix, freeing the prefix node when it was
 * the last one. */
static void map_unlink(mem_be *b, mstate *s, ent *e)
{
	mlink *ml = mlink_of(e);
	plink *pl = plink_of(ml->pfx);
	if (ml->prev)
		mlink_of(ml->prev)->next = ml->next;
	else
		pl->head = ml->next;
	if (ml->next) mlink_of(ml->next)->prev = ml->prev;
	if (!pl->head) {
		tab_remove_at(b, &s->p, tab_slot_of(&s->p, pl->h, ml->pfx));
		ent_free(b, s->kind, ml->pfx, true);
	}
}

/* Every entry of a table's slot array in key groups [kg_first, kg_last],
 * ascending by key group (a counting sort of the entries, done in a
 * temporary array): scan and snap_scan. Only reads the slots and entries. */
static int scan_slots(const slot *sl, size_t mask, size_t n, bool is_map, int kg_first, int kg_last,
		      fl_scan_fn fn, void *ud)
{
	if (kg_first < 0) kg_first = 0;
	if (kg_last > UINT16_MAX) kg_last = UINT16_MAX;
	if (!n || !sl || kg_first > kg_last) return FLINC_OK;
	size_t nkg = (size_t)(kg_last - kg_first) + 1;
	size_t *start = fl_try_calloc(nkg + 1, sizeof(size_t));
	if (!start) return FLINC_ENOMEM;
	size_t m = 0;
	for (size_t i = 0; i <= mask; i++) {
		const ent *e = sl[i].e;
		if (e && e->kg >= kg_first && e->kg <= kg_last) {
			start[e->kg - kg_first + 1]++;
			m++;
		}
	}
	int rc = FLINC_OK;
	if (!m) goto out;
	for (size_t g = 1; g <= nkg; g++) start[g] += start[g - 1];
	const ent **order = fl_try_malloc(m * sizeof(*order));
	if (!order) {
		rc = FLINC_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i <= mask; i++) {
		const ent *e = sl[i].e;
		if (e && e->kg >= kg_first && e->kg <= kg_last) order[start[e->kg - kg_first]++] = e;
	}
	for (size_t j = 0; j < m && !rc; j++) {
		const ent *e = order[j];
		const uint8_t *key = ekey(e);
		rc = fn(ud, e->kg, key, e->klen, key + e->klen, e->nslen,
			is_map ? key + e->klen + e->nslen : NULL, e->uklen, evalue(e), e->vlen);
	}
	free(order);
out:
	free(start);
	return rc;
}

/* ---- snapshots -------------------------------------------------------- */

/* Give t its own copy of its slot array, which the open snapshot shares
 * (and keeps). FLINC_ENOMEM leaves t as it was. */
static int tab_unshare(mem_be *b, table *t)
{
	size_t bytes = (t->mask + 1) * sizeof(slot);
	slot *ns;
	if (!charge(b, (int64_t)bytes)) return FLINC_ENOMEM;
	if (bytes >= HUGE_SIZE) { /* a power of two: a multiple of HUGE_SIZE */
		ns = aligned_alloc(HUGE_SIZE, bytes);
#ifdef MADV_HUGEPAGE
		if (ns) (void)madvise(ns, bytes, MADV_HUGEPAGE);
#endif
	} else {
		ns = fl_try_malloc(bytes);
	}
	if (!ns) {
		uncharge(b, (int64_t)bytes);
		return FLINC_ENOMEM;
	}
	memcpy(ns, t->s, bytes);
	t->s = ns;
	return FLINC_OK;
}

/* Free what the open snapshot kept alive: the retired entries, the slot
 * arrays the live states no longer share, and the handle. Owner thread,
 * once the snapshot is released (or at close). */
static void snap_reclaim(mem_be *b)
{
	mem_snap *sn = b->snap;
	for (size_t i = 0; i < b->nretired; i++) {
		uintptr_t r = b->retired[i];
		ent *e = (ent *)(r & ~(uintptr_t)1);
		blk_free(b, (uint8_t *)e - ((r & 1) ? sizeof(mlink) : 0), e->cls);
	}
	free(b->retired);
	b->retired = NULL;
	b->nretired = b->capretired = 0;
	/* An array still shared is the live state's; a live array never takes
	 * the address of one the snapshot holds, as those are not freed yet. */
	for (uint32_t i = 0; i < sn->nstates; i++)
		if (sn->st[i].s && sn->st[i].s != b->states[i].t.s) {
			uncharge(b, (int64_t)((sn->st[i].mask + 1) * sizeof(slot)));
			free((void *)sn->st[i].s);
		}
	free(sn);
	b->snap = NULL;
}

/* Before a modifying call on state s while a snapshot is open: reclaim the
 * snapshot if it was released; otherwise give s its own slot array if it
 * still shares the snapshot's. Errors: FLINC_ENOMEM (nothing changed). */
static int snap_enter(mem_be *b, mstate *s)
{
	mem_snap *sn = b->snap;
	if (atomic_load_explicit(&sn->released, memory_order_acquire)) {
		snap_reclaim(b);
		return FLINC_OK;
	}
	uint32_t sid = (uint32_t)(s - b->states);
	if (sid < sn->nstates && s->t.s && s->t.s == sn->st[sid].s) return tab_unshare(b, &s->t);
	return FLINC_OK;
}

/* snap_open: share every state's slot array with a new snapshot and start
 * a new epoch; no entry is copied. O(states), plus O(entries) once every
 * 255 snapshots to renumber epochs. A released snapshot not yet reclaimed
 * is reclaimed first. Owner thread. Errors: FLINC_EEXIST (a snapshot is
 * open), FLINC_ENOMEM, FLINC_EINVAL (snap NULL). */
static int mem_snap_open(void *be, void **snap, char *err, size_t errcap)
{
	mem_be *b = be;
	if (!snap) {
		if (err && errcap)
			snprintf(err, errcap, "hashmap backend: snap_open without a handle to fill");
		return FLINC_EINVAL;
	}
	*snap = NULL;
	if (b->snap) {
		if (!atomic_load_explicit(&b->snap->released, memory_order_acquire)) {
			if (err && errcap)
				snprintf(err, errcap,
					 "hashmap backend: the previous snapshot is not released yet");
			return FLINC_EEXIST;
		}
		snap_reclaim(b);
	}
	size_t total = 0;
	for (uint32_t i = 0; i < b->nstates; i++) total += b->states[i].t.n;
	mem_snap *sn = fl_try_malloc(sizeof(*sn) + (size_t)b->nstates * sizeof(snap_tab));
	uintptr_t *retired = total ? fl_try_malloc(total * sizeof(*retired)) : NULL;
	if (!sn || (total && !retired)) {
		free(sn);
		free(retired);
		if (err && errcap)
			snprintf(err, errcap, "hashmap backend: out of memory for a snapshot of %zu entries",
				 total);
		return FLINC_ENOMEM;
	}
	if (b->epoch == UINT8_MAX) {
		/* The next epoch would be 0 again, which entries untouched for
		 * 256 epochs may carry: renumber them all to 0 (no snapshot is
		 * open, so nothing is shared) and go on from there. */
		for (uint32_t si = 0; si < b->nstates; si++) {
			table *t = &b->states[si].t;
			for (size_t i = 0; t->s && i <= t->mask; i++)
				if (t->s[i].e) t->s[i].e->epoch = 0;
		}
		b->epoch = 0;
	}
	atomic_init(&sn->released, false);
	sn->nstates = b->nstates;
	for (uint32_t i = 0; i < b->nstates; i++) {
		const mstate *s = &b->states[i];
		sn->st[i] = (snap_tab){ .s = s->t.s, .mask = s->t.mask, .n = s->t.n, .kind = s->kind };
	}
	b->epoch++;
	b->snap = sn;
	b->retired = retired;
	b->nretired = 0;
	b->capretired = total;
	*snap = sn;
	return FLINC_OK;
}

/* snap_scan: scan over state sid as of snap_open. Any one thread; reads
 * only the snapshot's slot arrays and the entries they hold, which the
 * owner no longer writes. Pointers given to fn stay valid until
 * snap_release. Errors: FLINC_EINVAL (sid declared after snap_open, no
 * fn), FLINC_ENOMEM, or fn's first non-zero. */
static int mem_snap_scan(void *snap, uint32_t sid, int kg_first, int kg_last, fl_scan_fn fn, void *ud)
{
	const mem_snap *sn = snap;
	if (!sn || !fn || sid >= sn->nstates) return FLINC_EINVAL;
	const snap_tab *st = &sn->st[sid];
	return scan_slots(st->s, st->mask, st->n, st->kind == FL_STATE_MAP, kg_first, kg_last, fn, ud);
}

/* snap_release: any thread, once; the handle must not be used after it.
 * The owner thread frees the memory on its next modifying call, snap_open
 * or close. */
static void mem_snap_release(void *snap)
{
	if (snap) atomic_store_explicit(&((mem_snap *)snap)->released, true, memory_order_release);
}

/* open: record the key-group range. Errors: FLINC_EINVAL for a bad range. */
static int mem_open(void *be, const fl_backend_params *p, char *err, size_t errcap)
{
	mem_be *b = be;
	memset(b, 0, sizeof(*b));
	b->kg_first = 0;
	b->kg_last = UINT16_MAX;
	if (p && (p->kg_first || p->kg_last)) {
		if (p->kg_first < 0 || p->kg_last < p->kg_first || p->kg_last > UINT16_MAX ||
		    (p->max_parallelism > 0 && p->kg_last >= p->max_parallelism)) {
			if (err && errcap)
				snprintf(err, errcap,
					 "hashmap backend: bad key-group range [%d, %d] (max parallelism %d)",
					 p->kg_first, p->kg_last, p->max_parallelism);
			return FLINC_EINVAL;
		}
		b->kg_first = p->kg_first;
		b->kg_last = p->kg_last;
	}
	if (p && p->conf) {
		char e2[256] = "";
		b->mm = fl_managed_acquire(p->conf, e2, sizeof e2);
		if (!b->mm) {
			if (err && errcap) snprintf(err, errcap, "hashmap backend: %s", e2);
			return FLINC_ECONFIG;
		}
	}
	return FLINC_OK;
}

/* close: free every entry, table, name and chunk. Safe on a zeroed or
 * already closed instance; `be` itself belongs to the runtime. A snapshot
 * released but not yet reclaimed is freed here; closing with a snapshot
 * that was not released is a caller bug (the runtime releases first):
 * it is freed all the same, under whoever still reads it. */
static void mem_close(void *be)
{
	mem_be *b = be;
	if (b->snap) snap_reclaim(b);
	for (uint32_t si = 0; si < b->nstates; si++) {
		mstate *s = &b->states[si];
		/* Slab blocks go with their chunks; only large blocks need a free. */
		for (size_t i = 0; s->t.s && i <= s->t.mask; i++)
			if (s->t.s[i].e && s->t.s[i].e->cls == CLS_LARGE)
				ent_free(b, s->kind, s->t.s[i].e, false);
		for (size_t i = 0; s->p.s && i <= s->p.mask; i++)
			if (s->p.s[i].e && s->p.s[i].e->cls == CLS_LARGE)
				ent_free(b, s->kind, s->p.s[i].e, true);
		tab_free(b, &s->t);
		tab_free(b, &s->p);
		free(s->name);
	}
	free(b->states);
	for (void *ch = b->chunks; ch;) {
		void *next = ((void **)ch)[0];
		UNPOISON(ch, ((size_t *)ch)[1]);
		free(ch);
		ch = next;
	}
	if (b->mm) {
		fl_managed_uncharge(b->mm, b->charged); /* the chunks, and whatever is left */
		fl_managed_release(b->mm);
	}
	memset(b, 0, sizeof(*b));
}

/* declare: the id of state `name` (copied), created on first use.
 * Errors: FLINC_EINVAL (bad arguments or kind differs), FLINC_ENOMEM. */
static int mem_declare(void *be, const char *name, fl_state_kind kind, uint32_t *sid)
{
	mem_be *b = be;
	if (!name || !sid || (kind != FL_STATE_VALUE && kind != FL_STATE_LIST && kind != FL_STATE_MAP))
		return FLINC_EINVAL;
	for (uint32_t i = 0; i < b->nstates; i++) {
		if (strcmp(b->states[i].name, name) == 0) {
			if (b->states[i].kind != kind) return FLINC_EINVAL;
			*sid = i;
			return FLINC_OK;
		}
	}
	if (b->nstates == b->capstates) {
		uint32_t ncap = b->capstates ? b->capstates * 2 : 8;
		mstate *ns = fl_try_realloc(b->states, ncap * sizeof(*ns));
		if (!ns) return FLINC_ENOMEM;
		b->states = ns;
		b->capstates = ncap;
	}
	char *copy = fl_try_strdup(name);
	if (!copy) return FLINC_ENOMEM;
	mstate *s = &b->states[b->nstates];
	memset(s, 0, sizeof(*s));
	s->name = copy;
	s->kind = kind;
	*sid = b->nstates++;
	return FLINC_OK;
}

/* get: value (or whole list) of k; *val points into the entry.
 * Errors: FLINC_ENOENT when absent, FLINC_EINVAL. */
static int mem_get(void *be, uint32_t sid, const fl_skey *k, const void **val, size_t *len)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || s->kind == FL_STATE_MAP || !skey_ok(k))) return FLINC_EINVAL;
	if (!s->t.n) return FLINC_ENOENT;
	bool found;
	uint64_t h = hfinal(hprefix(k));
	size_t i = tab_find(&s->t, h, k, NULL, 0, &found);
	if (!found) return FLINC_ENOENT;
	ent *e = s->t.s[i].e;
	*val = evalue(e);
	*len = e->vlen;
	return FLINC_OK;
}

/* put: set the value (or the whole encoded list) of k to a copy of val.
 * Errors: FLINC_EINVAL, FLINC_ENOMEM. */
static int mem_put(void *be, uint32_t sid, const fl_skey *k, const void *val, size_t len)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || s->kind == FL_STATE_MAP || !skey_ok(k) || len > UINT32_MAX || (len && !val)))
		return FLINC_EINVAL;
	bool created;
	ent *e;
	int rc = UPSERT(b, s, hfinal(hprefix(k)), 0, k, NULL, 0, len, UP_SET, &e, &created);
	if (rc) return rc;
	if (len) memcpy(evalue(e), val, len);
	e->vlen = (uint32_t)len;
	return FLINC_OK;
}

/* put_inplace: a writable value of exactly len bytes for k, zeroed and
 * *created=true when new (or when the old value had another length).
 * NULL on a bad argument or ENOMEM. */
static void *mem_put_inplace(void *be, uint32_t sid, const fl_skey *k, size_t len, bool *created)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_VALUE);
	if (UNLIKELY(!s || !skey_ok(k) || len > UINT32_MAX || !created)) return NULL;
	ent *e;
	int rc = UPSERT(b, s, hfinal(hprefix(k)), 0, k, NULL, 0, len, UP_SET, &e, created);
	if (rc) {
		errno = rc == FLINC_EMEMLIMIT ? EDQUOT : ENOMEM; /* fl_state.h: how put_inplace fails */
		return NULL;
	}
	uint8_t *v = evalue(e);
	if (LIKELY(!*created && e->vlen == len)) return v;
	memset(v, 0, len);
	e->vlen = (uint32_t)len;
	*created = true;
	return v;
}

/* remove of k in s; `cow` as for upsert_impl. */
static inline __attribute__((always_inline)) int remove_impl(mem_be *b, mstate *s, const fl_skey *k, bool cow)
{
	uint64_t hp = hprefix(k);
	bool found;
	if (s->kind != FL_STATE_MAP) {
		if (!s->t.n) return FLINC_OK;
		size_t i = tab_find(&s->t, hfinal(hp), k, NULL, 0, &found);
		if (found) {
			ent *e = s->t.s[i].e;
			tab_remove_at(b, &s->t, i);
			ent_drop(b, s->kind, e, cow);
		}
		return FLINC_OK;
	}
	if (!s->p.n) return FLINC_OK;
	uint64_t ph = hfinal(hp);
	size_t pi = tab_find(&s->p, ph, k, NULL, 0, &found);
	if (!found) return FLINC_OK;
	ent *pfx = s->p.s[pi].e;
	tab_remove_at(b, &s->p, pi);
	for (ent *e = plink_of(pfx)->head; e;) {
		mlink *ml = mlink_of(e);
		ent *next = ml->next;
		tab_remove_at(b, &s->t, tab_slot_of(&s->t, ml->h, e));
		ent_drop(b, s->kind, e, cow);
		e = next;
	}
	/* Snapshots never read prefix nodes: freed even while one is open. */
	ent_free(b, s->kind, pfx, true);
	return FLINC_OK;
}

static __attribute__((noinline)) int remove_snap(mem_be *b, mstate *s, const fl_skey *k)
{
	int rc = snap_enter(b, s);
	return rc ? rc : remove_impl(b, s, k, b->snap != NULL);
}

/* remove: drop k's entry (map state: every user key under k). Absent is OK.
 * Errors: FLINC_EINVAL, FLINC_ENOMEM (only while a snapshot is open: the
 * state's slot array could not be copied). */
static int mem_remove(void *be, uint32_t sid, const fl_skey *k)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, -1);
	if (UNLIKELY(!s || !skey_ok(k))) return FLINC_EINVAL;
	if (UNLIKELY(b->snap != NULL)) return remove_snap(b, s, k);
	return remove_impl(b, s, k, false);
}

/* list_append: add one element ([u32 LE length][bytes]) to k's list.
 * Errors: FLINC_EINVAL (also when the list would pass 4 GiB), FLINC_ENOMEM. */
static int mem_list_append(void *be, uint32_t sid, const fl_skey *k, const void *elem, size_t len)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_LIST);
	if (UNLIKELY(!s || !skey_ok(k) || len > UINT32_MAX - 4 || (len && !elem))) return FLINC_EINVAL;
	bool created;
	ent *e;
	int rc = UPSERT(b, s, hfinal(hprefix(k)), 0, k, NULL, 0, 4 + len, UP_APPEND, &e, &created);
	if (rc) return rc;
	uint8_t *p = evalue(e) + e->vlen;
	uint32_t n = (uint32_t)len;
	p[0] = (uint8_t)n;
	p[1] = (uint8_t)(n >> 8);
	p[2] = (uint8_t)(n >> 16);
	p[3] = (uint8_t)(n >> 24);
	if (len) memcpy(p + 4, elem, len);
	e->vlen += 4 + n;
	return FLINC_OK;
}

/* prefetch: the slot where k's lookup in sid starts; deep: the entry the
 * probe finds (by the slot's hash: a rare false match only wastes the
 * prefetch), with the first line of its value. */
static void mem_prefetch(void *be, uint32_t sid, const fl_skey *k, bool deep)
{
	mem_be *b = be;
	if (UNLIKELY(sid >= b->nstates || !skey_ok(k))) return;
	const mstate *st = &b->states[sid];
	/* a map state: its prefix node, where every access of k starts */
	bool map = st->kind == FL_STATE_MAP;
	const table *t = map ? &st->p : &st->t;
	if (!t->s) return;
	uint64_t h = hfinal(hprefix(k));
	size_t i = (size_t)h & t->mask;
	if (!deep) {
		__builtin_prefetch(&t->s[i]);
		return;
	}
	for (size_t n = 0; n < 8 && t->s[i].e; n++, i = (i + 1) & t->mask)
		if (t->s[i].h == h) {
			const uint8_t *e = (const uint8_t *)t->s[i].e;
			__builtin_prefetch(e);
			__builtin_prefetch(e + 64);
			return;
		}
}

/* A user key the backend can read and store. */
static inline bool uk_ok(const void *uk, size_t uklen) { return (uk || !uklen) && uklen <= UINT32_MAX; }

/* map_get: the value under user key uk of k. Errors: FLINC_ENOENT,
 * FLINC_EINVAL. */
static int mem_map_get(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void **val, size_t *len)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen))) return FLINC_EINVAL;
	if (!s->t.n) return FLINC_ENOENT;
	bool found;
	uint64_t h = hwith_uk(hprefix(k), uk, uklen);
	size_t i = tab_find(&s->t, h, k, uk, (uint32_t)uklen, &found);
	if (!found) return FLINC_ENOENT;
	ent *e = s->t.s[i].e;
	*val = evalue(e);
	*len = e->vlen;
	return FLINC_OK;
}

/* map_put: set user key uk of k to a copy of val. Errors: FLINC_EINVAL,
 * FLINC_ENOMEM. */
static int mem_map_put(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void *val, size_t len)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen) || len > UINT32_MAX || (len && !val)))
		return FLINC_EINVAL;
	bool created;
	uint64_t hp = hprefix(k);
	uint64_t h = hwith_uk(hp, uk, uklen);
	ent *e;
	int rc = UPSERT(b, s, h, hfinal(hp), k, uk, (uint32_t)uklen, len, UP_SET, &e, &created);
	if (rc) return rc;
	if (len) memcpy(evalue(e), val, len);
	e->vlen = (uint32_t)len;
	return FLINC_OK;
}

/* map_remove of (k, uk) in s; `cow` as for upsert_impl. */
static inline __attribute__((always_inline)) int map_remove_impl(mem_be *b, mstate *s, const fl_skey *k,
								 const void *uk, size_t uklen, bool cow)
{
	if (!s->t.n) return FLINC_OK;
	bool found;
	uint64_t h = hwith_uk(hprefix(k), uk, uklen);
	size_t i = tab_find(&s->t, h, k, uk, (uint32_t)uklen, &found);
	if (!found) return FLINC_OK;
	ent *e = s->t.s[i].e;
	map_unlink(b, s, e);
	tab_remove_at(b, &s->t, i);
	ent_drop(b, s->kind, e, cow);
	return FLINC_OK;
}

static __attribute__((noinline)) int map_remove_snap(mem_be *b, mstate *s, const fl_skey *k, const void *uk,
						     size_t uklen)
{
	int rc = snap_enter(b, s);
	return rc ? rc : map_remove_impl(b, s, k, uk, uklen, b->snap != NULL);
}

/* map_remove: drop user key uk of k; absent is OK. Errors: FLINC_EINVAL,
 * FLINC_ENOMEM (only while a snapshot is open, as for remove). */
static int mem_map_remove(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !uk_ok(uk, uklen))) return FLINC_EINVAL;
	if (UNLIKELY(b->snap != NULL)) return map_remove_snap(b, s, k, uk, uklen);
	return map_remove_impl(b, s, k, uk, uklen, false);
}

/* map_iter: call fn for each user key of k (most recently added first);
 * the first non-zero from fn is returned. Errors: FLINC_EINVAL. */
static int mem_map_iter(void *be, uint32_t sid, const fl_skey *k,
			int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len),
			void *ud)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, FL_STATE_MAP);
	if (UNLIKELY(!s || !skey_ok(k) || !fn)) return FLINC_EINVAL;
	if (!s->p.n) return FLINC_OK;
	bool found;
	size_t pi = tab_find(&s->p, hfinal(hprefix(k)), k, NULL, 0, &found);
	if (!found) return FLINC_OK;
	for (ent *e = plink_of(s->p.s[pi].e)->head; e; e = mlink_of(e)->next) {
		int rc = fn(ud, ekey(e) + e->klen + e->nslen, e->uklen, evalue(e), e->vlen);
		if (rc) return rc;
	}
	return FLINC_OK;
}

/* scan: every entry of sid in key groups [kg_first, kg_last], ascending by
 * key group. Returns fn's first non-zero, or FLINC_EINVAL / FLINC_ENOMEM. */
static int mem_scan(void *be, uint32_t sid, int kg_first, int kg_last, fl_scan_fn fn, void *ud)
{
	mem_be *b = be;
	mstate *s = state_get(b, sid, -1);
	if (!s || !fn) return FLINC_EINVAL;
	return scan_slots(s->t.s, s->t.mask, s->t.n, s->kind == FL_STATE_MAP, kg_first, kg_last, fn, ud);
}

/* count: entries of sid (map state: user-key entries); 0 for a bad sid. */
static size_t mem_count(void *be, uint32_t sid)
{
	mstate *s = state_get(be, sid, -1);
	return s ? s->t.n : 0;
}

static int mem_state_at(void *be, uint32_t sid, const char **name, fl_state_kind *kind)
{
	mem_be *b = be;
	if (sid >= b->nstates) return FLINC_ENOENT;
	*name = b->states[sid].name;
	*kind = b->states[sid].kind;
	return FLINC_OK;
}

/* For tests (tests/unit/state_test.c declares it): entries retired by the
 * open snapshot and not yet freed; 0 when none is open. Owner thread. */
size_t fl_memory_retired(const void *be);
size_t fl_memory_retired(const void *be) { return ((const mem_be *)be)->nretired; }

const fl_backend_ops fl_backend_memory = {
	.version = FL_BACKEND_VERSION,
	.name = "hashmap",
	.priv_size = sizeof(mem_be),
	.open = mem_open,
	.close = mem_close,
	.declare = mem_declare,
	.get = mem_get,
	.put = mem_put,
	.put_inplace = mem_put_inplace,
	.remove = mem_remove,
	.list_append = mem_list_append,
	.map_get = mem_map_get,
	.map_put = mem_map_put,
	.map_remove = mem_map_remove,
	.map_iter = mem_map_iter,
	.scan = mem_scan,
	.count = mem_count,
	.flags = FL_BACKEND_STABLE_SCAN,
	.state_at = mem_state_at,
	.snap_open = mem_snap_open,
	.snap_scan = mem_snap_scan,
	.snap_release = mem_snap_release,
	.prefetch = mem_prefetch,
};
