/*
 * fl_managed.h - a process's managed memory: the bytes keyed state may use
 * in one task manager (or one `flinc local`), taskmanager.memory.managed.size,
 * divided over its taskmanager.numberOfTaskSlots slots.
 *
 * - The hashmap backend charges what it allocates (slab chunks, large
 *   entries, hash tables) to the process's account and fails the put that
 *   would pass the total with FLINC_EMEMLIMIT: the job fails with a message
 *   naming the key, never an OOM kill.
 * - The RocksDB backend takes its block cache from one LRU cache shared by
 *   every instance of the process (the total less the write buffers' ratio)
 *   and sizes each instance's write buffers from its slot's share of the
 *   write-buffer ratio.
 *
 * docs/state.md ("Memory") is the user's description.
 *
 * Threads: any. The account is one atomic counter, touched when a backend
 * takes or returns a block of chunk size (64 KiB and up) or a large entry,
 * never per record; fl_managed_acquire/release take a mutex (backend open
 * and close).
 */
#ifndef FL_MANAGED_H
#define FL_MANAGED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_conf.h"

typedef struct fl_managed fl_managed;

/* The process's managed memory, made from conf by the first caller (later
 * callers share it; their conf's sizes are not read again). NULL with a
 * one-line message for a bad key. Give it back with fl_managed_release. */
fl_managed *fl_managed_acquire(const fl_conf *conf, char *err, size_t errcap);
void fl_managed_release(fl_managed *m); /* NULL: nothing */

/* The total, the slots it is divided over, and the share of one slot. */
int64_t fl_managed_total(const fl_managed *m);
int fl_managed_slots(const fl_managed *m);
int64_t fl_managed_slot_share(const fl_managed *m);

/* The hashmap backend's account: take `bytes` (false, and nothing taken,
 * when the total would be passed) and give them back. */
bool fl_managed_charge(fl_managed *m, int64_t bytes);
void fl_managed_uncharge(fl_managed *m, int64_t bytes);

/* Bytes charged now, over every backend of the process; and whether a
 * charge was refused since the process started (for error messages). */
int64_t fl_managed_used(void);
int64_t fl_managed_limit(void); /* the total of the live account, 0 when none */

/* RocksDB: whether its memory is managed (state.backend.rocksdb.memory.managed),
 * the shared block cache (a rocksdb_cache_t *, made on first use; NULL
 * when RocksDB's memory is not managed) and one instance's write-buffer
 * budget (state.backend.rocksdb.memory.write-buffer-ratio of a slot's
 * share). */
bool fl_managed_rocksdb(const fl_managed *m);
void *fl_managed_rocksdb_cache(fl_managed *m);
int64_t fl_managed_rocksdb_write_buffers(const fl_managed *m);

#endif
