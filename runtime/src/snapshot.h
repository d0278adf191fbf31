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

struct fl_task;

/* ---- settings ------------------------------------------------------------- */

/* The checkpoint keys of a job's configuration (docs/config.md). */
typedef struct fl_cp_conf {
	const char *dir;            /* state.checkpoints.dir; NULL: the job does not checkpoint */
	const char *savepoints_dir; /* state.savepoints.dir; NULL: savepoints need a target */
	int64_t interval_ms;        /* execution.checkpointing.interval; 0: none periodic */
	int64_t timeout_ms;         /* execution.checkpointing.timeout (10min) */
	int64_t min_pause_ms;       /* execution.checkpointing.min-pause (0) */
	int tolerable;              /* execution.checkpointing.tolerable-failed-checkpoints (-1: any) */
	int retain;                 /* state.checkpoints.num-retained (1) */
} fl_cp_conf;

/* Read and check them; FLINC_ECONFIG with one line naming the bad key. */
int fl_cp_conf_read(const fl_conf *conf, fl_cp_conf *out, char *err, size_t errcap);

/* ---- a checkpoint or savepoint to start from ----------------------------- */

typedef struct fl_restore fl_restore;

/* Open the checkpoint or savepoint folder `dir` (a chk-<n> folder or a
 * savepoint folder): _metadata read and every file checked at `level`.
 * FLINC_ENOENT / FLINC_ECODEC with one line naming what is wrong. */
int fl_restore_open(const char *dir, fl_chk_check level, fl_restore **out, char *err, size_t errcap);
void fl_restore_close(fl_restore *r); /* NULL is a no-op */
int64_t fl_restore_id(const fl_restore *r);
const char *fl_restore_dir(const fl_restore *r);
const fl_chk_meta *fl_restore_meta(const fl_restore *r);
/* Every operator with state in the snapshot must exist (by uid) in the job
 * of env e, unless allow_non_restored (then the rest is skipped and
 * logged). FLINC_EINVAL with "savepoint ... has state for operator 'x'
 * which the job does not have (--allow-non-restored-state skips it)". */
int fl_restore_check(const fl_restore *r, const flinc_env *e, bool allow_non_restored, char *err, size_t errcap);

/* ---- an execution's checkpointing ---------------------------------------- */

/* One task's acknowledgement (or decline, rc != 0) of checkpoint id. */
typedef struct fl_cp_ack_info {
	int attempt;
	int64_t id;
	uint32_t vertex;
	int subtask;
	bool ended;        /* the task's input had ended */
	int rc;            /* 0: acknowledged; else declined, err says why */
	char err[512];
	fl_chk_file file;  /* path (and native folder) relative to chk-<id>/ */
	char **shared;     /* incremental: the files under the job folder it uses */
	size_t n_shared;
	uint64_t state_size;        /* bytes of state the snapshot holds */
	uint64_t checkpointed_size; /* bytes written for it (incremental: the new ones) */
	int64_t align_ms, sync_ms, async_ms;
} fl_cp_ack_info;

/* A deep copy (strings and the shared list), and its release. */
fl_cp_ack_info *fl_cp_ack_dup(const fl_cp_ack_info *a);
void fl_cp_ack_free(fl_cp_ack_info *a); /* NULL is a no-op */

/* Called on the upload thread, once per task and checkpoint it took. */
typedef void (*fl_cp_ack_fn)(void *ud, const fl_cp_ack_info *a);

typedef struct fl_cp_setup {
	const char *job_id;    /* copied */
	const char *jobdir;    /* <state.checkpoints.dir>/<job id> (copied) */
	int attempt;
	fl_restore *restore;   /* borrowed (must outlive the execution); NULL: a fresh start */
	fl_cp_ack_fn ack;
	void *ud;
} fl_cp_setup;

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
void fl_snapshot_take(fl_cpctx *c, struct fl_task *t, int64_t id, bool savepoint);
/* Task thread, before the operators open: load the task's part of the
 * restored snapshot (nothing for a fresh start). */
int fl_snapshot_restore(fl_cpctx *c, struct fl_task *t, char *err, size_t errcap);

#endif
