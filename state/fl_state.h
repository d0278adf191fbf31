/*
 * fl_state.h - keyed state backends.
 *
 * A backend instance belongs to one subtask and is used by that subtask's
 * thread only (no locks). It holds every keyed state of the operators in the
 * subtask's chain, each declared once under a unique name
 * ("<operator uid>/<state name>").
 *
 * Addressing: an entry is found by (state, key group, key bytes, namespace
 * bytes), plus a user key for map state. Key group first, so that the
 * entries of one key group can be scanned together (snapshots by key group,
 * rescaling by moving whole key groups). Namespaces separate e.g. windows of
 * one key; the empty namespace is the plain keyed scope.
 *
 * Values are opaque bytes to the backend. The runtime stores POD values as
 * their raw bytes and other values as msgpack.
 *
 * List state values are a sequence of elements, each a little-endian u32
 * length followed by that many bytes: list_append adds one element; get on a
 * list state returns the whole sequence.
 *
 * Pointers returned by get/map_get/list_get/put_inplace stay valid until the
 * next call that modifies this backend instance (put, put_inplace, remove,
 * list_append, map_put, map_remove, restore) or close.
 *
 * Ops structs are versioned: fields are only ever appended; check
 * `version` (and NULL) before using a field added later.
 */
#ifndef FL_STATE_H
#define FL_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* XXH3 inlined: keys are short, and the library call with its length
 * dispatch was a tenth of wordcount's time (perf). Same hash values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "fl_base.h"

#define FL_BACKEND_VERSION \
	7u /* 2: native_checkpoint, native_restore; 3: flags; 4: state_at; 5: snap_*; 6: map_range;
	    * 7: prefetch */

/* fl_backend_ops.flags */
#define FL_BACKEND_STABLE_SCAN \
	1u /* pointers passed to scan callbacks stay valid until
				    * the next modifying call (in-memory backends) */

typedef enum fl_state_kind {
	FL_STATE_VALUE = 0,
	FL_STATE_LIST = 1,
	FL_STATE_MAP = 2,
} fl_state_kind;

/* The element of a list state value (the encoding above) at *off: true
 * with it in *elem and *len and *off moved past it; false at the end or
 * at a malformed tail (*off then stops short of size). */
static inline bool fl_list_next(const uint8_t *list, size_t size, size_t *off, const uint8_t **elem,
				uint32_t *len)
{
	if (*off > size || size - *off < 4) return false;
	uint32_t n;
	memcpy(&n, list + *off, 4);
	if (n > size - *off - 4) return false;
	*elem = list + *off + 4;
	*len = n;
	*off += 4 + (size_t)n;
	return true;
}

typedef struct fl_skey {
	uint16_t kg;
	uint32_t klen;
	uint32_t nslen;
	const uint8_t *key;
	const uint8_t *ns; /* may be NULL when nslen == 0 */
	/* fl_key_hash(key, klen), computed once by the runtime (it also picks
	 * the key group); backends may use it instead of hashing the key. */
	uint64_t khash;
} fl_skey;

/* The hash of a key's bytes: key group = fl_key_hash % max parallelism.
 * Part of the checkpoint format, so a job has one for its whole life:
 * XXH3 (64-bit, seed 0, Debian's libxxhash) for new jobs, MurmurHash64A
 * (seed FL_KEY_SEED, flinc's hash before XXH3) for jobs restored from a
 * savepoint or checkpoint taken with it. The job's choice is
 * pipeline.key-hash (flinc_env.key_hash); _metadata names it ("key_hash";
 * absent = murmur64a). Everything that maps keys to key groups (keyBy
 * exchanges, keyed operators, restore into a backend) takes the job's
 * kind: one predictable branch per record, no function pointer. */
typedef enum fl_key_hash_kind {
	FL_KEY_HASH_XXH3 = 0,     /* "xxh3": the default of new jobs */
	FL_KEY_HASH_MURMUR64A = 1 /* "murmur64a": savepoints before XXH3 */
} fl_key_hash_kind;
#define FL_KEY_SEED 0x5bd1e995u
static inline uint64_t fl_key_hash(fl_key_hash_kind kind, const void *key, size_t klen)
{
	if (__builtin_expect(kind == FL_KEY_HASH_XXH3, 1)) return (uint64_t)XXH3_64bits(key, klen);
	return fl_hash64(key, klen, FL_KEY_SEED);
}
/* "xxh3" / "murmur64a", and back (false for any other name). */
const char *fl_key_hash_name(fl_key_hash_kind kind);
bool fl_key_hash_parse(const char *name, fl_key_hash_kind *out);

/* Key group of a key hash: the hash mod max parallelism. */
static inline uint16_t fl_key_group_of_hash(uint64_t khash, int max_parallelism)
{
	uint64_t mp = (uint64_t)max_parallelism;
	/* The default (128) and most settings are powers of two: a mask, not
	 * a 64-bit division per record. Same result. */
	if (__builtin_expect((mp & (mp - 1)) == 0, 1)) return (uint16_t)(khash & (mp - 1));
	return (uint16_t)(khash % mp);
}
static inline uint16_t fl_key_group(fl_key_hash_kind kind, const void *key, size_t len, int max_parallelism)
{
	return fl_key_group_of_hash(fl_key_hash(kind, key, len), max_parallelism);
}
/* Subtask owning a key group (Flink's formula): contiguous ranges. */
static inline int fl_key_group_owner(int kg, int max_parallelism, int parallelism)
{
	return (int)((int64_t)kg * parallelism / max_parallelism);
}
/* First and last key group of a subtask. */
void fl_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last);

typedef struct fl_backend_params {
	int kg_first, kg_last; /* key groups this instance owns (inclusive) */
	int max_parallelism;
	const char *dir;     /* working folder (RocksDB); may be NULL for memory */
	const fl_conf *conf; /* for backend-specific keys; may be NULL */
} fl_backend_params;

/* Called for each entry by scan: `uk` is NULL for value/list states. */
typedef int (*fl_scan_fn)(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
			  uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen);

typedef struct fl_backend_ops {
	uint32_t version; /* FL_BACKEND_VERSION */
	const char *name; /* "hashmap", "rocksdb" */
	size_t priv_size; /* the runtime allocates and zeroes this for `be` */

	int (*open)(void *be, const fl_backend_params *p, char *err, size_t errcap);
	void (*close)(void *be);

	/* Declare a state; the same name declared again returns the same id
	 * (and FLINC_EINVAL if the kind differs). Ids are small and dense. */
	int (*declare)(void *be, const char *name, fl_state_kind kind, uint32_t *sid);

	/* Value (and list) state. get returns FLINC_ENOENT when absent. */
	int (*get)(void *be, uint32_t sid, const fl_skey *k, const void **val, size_t *len);
	int (*put)(void *be, uint32_t sid, const fl_skey *k, const void *val, size_t len);
	/* Optional (NULL where a backend cannot): a writable value of exactly
	 * `len` bytes stored in place, zeroed and *created=true when new; NULL
	 * with errno EDQUOT when the managed memory is exhausted (fl_managed.h),
	 * else ENOMEM or EINVAL. Lets
	 * the runtime update POD accumulators without copies. */
	void *(*put_inplace)(void *be, uint32_t sid, const fl_skey *k, size_t len, bool *created);
	/* Remove the entry (for map state: every user key under k). Removing an
	 * absent entry is OK. */
	int (*remove)(void *be, uint32_t sid, const fl_skey *k);

	/* List state. */
	int (*list_append)(void *be, uint32_t sid, const fl_skey *k, const void *elem, size_t len);

	/* Map state. map_get returns FLINC_ENOENT when absent. map_iter calls fn
	 * for each user key under k (any order); fn returns non-zero to stop,
	 * which map_iter returns. fn must not modify the backend. */
	int (*map_get)(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void **val, size_t *len);
	int (*map_put)(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen,
		       const void *val, size_t len);
	int (*map_remove)(void *be, uint32_t sid, const fl_skey *k, const void *uk, size_t uklen);
	int (*map_iter)(void *be, uint32_t sid, const fl_skey *k,
			int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len),
			void *ud);

	/* Every entry of state sid in key groups [kg_first, kg_last], grouped
	 * by key group in ascending order (for snapshots and rescaling). fn
	 * must not modify the backend; non-zero from fn stops and is returned. */
	int (*scan)(void *be, uint32_t sid, int kg_first, int kg_last, fl_scan_fn fn, void *ud);

	/* Number of entries of state sid (for metrics and tests). */
	size_t (*count)(void *be, uint32_t sid);

	/* ---- appended after version 1 (check for NULL before use) ------ */

	/* Optional (NULL where a backend has no files, e.g. "hashmap"): write
	 * a native checkpoint of every state into `dir`, which must not exist
	 * yet (its parent must). For RocksDB: memtables are flushed and the
	 * live SST files are hard-linked into `dir` (copied across file
	 * systems), with MANIFEST, CURRENT and OPTIONS, so an incremental
	 * snapshot uploads only the SST files it has not uploaded before; SST
	 * files are immutable and never rewritten under the same name. The
	 * checkpoint stays valid after the instance moves on or closes: it
	 * owns its links. Synchronous (the task thread blocks for the flush;
	 * the upload is the caller's, off the task thread). Not a modifying
	 * call: returned pointers stay valid. On failure `dir` may hold a
	 * partial checkpoint (the caller removes it) and `err` says why.
	 * Returns FLINC_OK, FLINC_EINVAL, FLINC_EIO or FLINC_ESTATE. */
	int (*native_checkpoint)(void *be, const char *dir, char *err, size_t errcap);
	/* Optional, paired with native_checkpoint: replace the (empty)
	 * instance's contents by the checkpoint in `dir` (a folder written by
	 * native_checkpoint of the same backend, or a copy of one, e.g. files
	 * downloaded from checkpoint storage). Only after open and before any
	 * declare (FLINC_EINVAL otherwise). `dir` is left untouched: its files
	 * are hard-linked (immutable ones) or copied into the working folder.
	 * Every state of the checkpoint then exists: declare returns its id
	 * (FLINC_EINVAL if the kind differs). A modifying call. On failure the
	 * instance is as before (empty, usable) and `err` says why. */
	int (*native_restore)(void *be, const char *dir, char *err, size_t errcap);

	/* ---- appended in version 3 ----------------------------------------- */
	uint32_t flags; /* FL_BACKEND_* */

	/* ---- appended in version 4 ----------------------------------------- */
	/* The name and kind of state sid (ids are dense from 0: iterate until
	 * FLINC_ENOENT), e.g. to copy every state of an instance restored
	 * natively into another. *name stays valid until close. */
	int (*state_at)(void *be, uint32_t sid, const char **name, fl_state_kind *kind);

	/* ---- appended in version 5 ----------------------------------------- */
	/* Optional (NULL where a backend has no such thing): an asynchronous
	 * snapshot. snap_open, on the owner thread, captures every state as it
	 * is now, cheaply (copy-on-write: no entry is copied at open), and
	 * returns a handle another thread may read with snap_scan while the
	 * owner goes on using the instance; the owner thread's calls stay as
	 * fast as before except that the first modification of an entry the
	 * snapshot still shares copies that entry. At most one snapshot is open
	 * per instance: FLINC_EEXIST while the previous one is not released.
	 * Returns FLINC_OK, FLINC_EEXIST or FLINC_ENOMEM (err says why). */
	int (*snap_open)(void *be, void **snap, char *err, size_t errcap);
	/* Any one thread at a time per snapshot: like scan, over state sid as
	 * it was at snap_open (FLINC_EINVAL for a sid declared after it).
	 * Pointers passed to fn stay valid until snap_release. */
	int (*snap_scan)(void *snap, uint32_t sid, int kg_first, int kg_last, fl_scan_fn fn, void *ud);
	/* Any thread, once per snapshot: done with it. Memory it kept alive is
	 * reclaimed by the owner thread later (its next modifying call,
	 * snap_open or close). Every snapshot must be released before close. */
	void (*snap_release)(void *snap);

	/* ---- appended in version 6 ----------------------------------------- */
	/* Optional (NULL where a backend's map has no order; the event-time
	 * buffer then keeps every key in its list layout): fn for each
	 * user key of k in [lo, hi] (bytewise, a key before its extensions;
	 * lo NULL: from the first), in ascending order; then the least user
	 * key above hi goes to next (at most nextcap bytes, *nextlen its whole
	 * length, 0: there is none). For backends that keep user keys sorted,
	 * so that a map used as a queue by time costs what it hands out plus
	 * one entry, not the whole map. fn as for map_iter (non-zero stops:
	 * returned, next not set). */
	int (*map_range)(void *be, uint32_t sid, const fl_skey *k, const void *lo, size_t lolen,
			 const void *hi, size_t hilen,
			 int (*fn)(void *ud, const void *uk, size_t uklen, const void *val, size_t len),
			 void *ud, uint8_t *next, size_t nextcap, size_t *nextlen);

	/* ---- appended in version 7 ----------------------------------------- */
	/* Optional (NULL where it would not help): a hint that k's entry of
	 * state sid is read soon, so that the cache misses of lookups in
	 * several states, or of the next key's while this one is processed,
	 * overlap instead of following each other. The memory backend starts
	 * loading the table slot where the lookup begins; with `deep` it reads
	 * the slots (which an earlier call should have brought in) and starts
	 * loading the entry. Changes nothing; the owner thread. */
	void (*prefetch)(void *be, uint32_t sid, const fl_skey *k, bool deep);
} fl_backend_ops;

/* The built-in backends. */
extern const fl_backend_ops fl_backend_memory;
extern const fl_backend_ops fl_backend_rocksdb; /* state/rocksdb.c */

/* Find a backend by the `state.backend` config value ("hashmap" or
 * "memory", or "rocksdb"). NULL if unknown. */
const fl_backend_ops *fl_backend_find(const char *name);

/*
 * Canonical format. The backend-independent form of keyed state is the
 * snapshot file of checkpoint/fl_checkpoint.h (docs/savepoints.md): per
 * key group in ascending order, the entries scan() reports, as plain bytes
 * (state name and kind, key, namespace, user key, value; a list is one
 * entry in the list encoding above). Any backend writes it through scan(),
 * one key group at a time, and reads it back through put and map_put, so
 * it restores into either backend and at any parallelism; savepoints
 * always use it. native_checkpoint is the alternative for checkpoints only:
 * incremental, but readable by the same backend alone.
 */

#endif
