/*
 * snapshot.h - what a subtask writes at a checkpoint and reads at restore.
 *
 * At checkpoint n (on the task thread, when the task reached it: a source
 * on trigger, another task when its inputs aligned, an ended task on
 * trigger) a subtask writes one snapshot file,
 * <jobdir>/chk-<n>/<vertex hex16>-<subtask>.snap (checkpoint/fl_checkpoint.h),
 * in the canonical format: the keyed state of its key groups (every state
 * of the chain, ascending key group), the timers of its keyed operators
 * and the operator states of its sources (read positions). Timers and
 * operator states are copied on the task thread (the synchronous part);
 * the keyed state goes one of three ways:
 *   - a backend with asynchronous snapshots (snap_open: the memory
 *     backend's copy-on-write) is captured in milliseconds and the whole
 *     file is written and synced by the execution's upload thread;
 *   - a native backend (RocksDB, state.backend.incremental) makes a native
 *     checkpoint (flush + hard links) in the task's folder, the .snap file
 *     holds no keyed entries, and the upload thread uploads the native
 *     folder incrementally (checkpoint/incremental.h);
 *   - otherwise (or when the previous asynchronous snapshot is still being
 *     written, or for a savepoint of a native backend) the file is written
 *     on the task thread without fsync, and synced by the upload thread.
 * The upload thread then acknowledges the checkpoint through the owner's
 * callback (the asynchronous part), so the task goes on while the disk
 * works.
 *
 * At restore (on the task thread, before its operators open) a subtask
 * reads, from every snapshot file of the checkpoint or savepoint whose key
 * groups overlap its own, the entries of its key groups for the operators
 * of its chain (so a different parallelism reads different ranges: key
 * groups are redistributed), their timers, and the operator states of its
 * sources from every file (union: a source at another parallelism sees all
 * old positions). Entries of operators it does not run are skipped; whether
 * a snapshot may hold operators the job does not have at all is checked
 * once per job (fl_restore_check).
 *
 * The canonical format restores into either state backend.
 */
#ifndef FL_SNAPSHOT_H
#define FL_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../checkpoint/fl_checkpoint.h"
#include "graph.h"

/* The checkpoint settings (fl_cp_conf), restore (fl_restore_*), the
 * acknowledgements (fl_cp_ack_info) and an execution's setup (fl_cp_setup)
 * are in the runtime's door (fl_runtime.h); here is the task's side. */

/* ---- an execution's checkpointing ---------------------------------------- */

typedef struct fl_cpctx fl_cpctx;

/* Start the upload thread. */
int fl_cpctx_create(const fl_cp_setup *s, fl_cpctx **out, char *err, size_t errcap);
/* Stop the upload thread; snapshots not yet acknowledged are dropped (the
 * checkpoint cannot complete without them). NULL is a no-op. */
void fl_cpctx_destroy(fl_cpctx *c);
/* The id of the checkpoint restored from, 0 for a fresh start. */
int64_t fl_cpctx_restored_id(const fl_cpctx *c);

/* Task thread: write the task's snapshot of checkpoint id and queue its
 * acknowledgement. Failures are acknowledged as declines (the task goes
 * on). */
void fl_snapshot_take(fl_cpctx *c, fl_task *t, int64_t id, bool savepoint);
/* Unaligned checkpoints (inflight.h): while t->cp_defer is set,
 * fl_snapshot_take keeps a successful snapshot's acknowledgement back (in
 * t->cp_deferred); the task then either hands over the in-flight data
 * (fl_snapshot_inflight: takes `data`, malloc'd; len 0 = none), which the
 * upload thread writes beside the snapshot before it acknowledges, or
 * declines the checkpoint (fl_snapshot_decline), or, on its way out,
 * drops it (fl_snapshot_drop). Task thread. */
void fl_snapshot_inflight(fl_cpctx *c, fl_task *t, int64_t id, uint8_t *data, size_t len);
void fl_snapshot_decline(fl_cpctx *c, fl_task *t, int64_t id, const char *why);
void fl_snapshot_drop(fl_task *t);
/* Task thread, at restore: the in-flight data the restored checkpoint
 * holds for this subtask (FLINC_ENOENT: none; an error when it cannot be
 * used, e.g. at another parallelism). */
struct fl_inflight;
int fl_snapshot_restore_inflight(fl_cpctx *c, fl_task *t, struct fl_inflight *out, char *err, size_t errcap);
/* Task thread, before the operators open: load the task's part of the
 * restored snapshot (nothing for a fresh start). */
int fl_snapshot_restore(fl_cpctx *c, fl_task *t, char *err, size_t errcap);

#endif
