/*
 * coord.h - the checkpoint coordinator of one job.
 *
 * One coordinator per job, for the job's whole life (across restarts: ids
 * keep growing, so a later attempt never reuses an id whose pending sink
 * files may still lie around). The job manager owns one per job; `flinc
 * local` owns one too. The coordinator decides when to checkpoint, tells
 * the tasks through its ops, collects their acknowledgements, writes
 * `_metadata` (the commit point of a checkpoint), then tells the tasks the
 * checkpoint completed so sinks commit.
 *
 * Storage (checkpoint/fl_checkpoint.h): checkpoint n lives in
 * <jobdir>/chk-<n>/; every task writes its own snapshot file there (named
 * by fl_snap_file_name) before it acknowledges. A savepoint is taken like a
 * checkpoint (the tasks write into chk-<n>/ too); when every task
 * acknowledged, the coordinator moves the files into a new folder
 * fl_savepoint_dir(target, job id) (rename; copy when rename fails across
 * file systems), writes _metadata there with is_savepoint, and removes the
 * emptied chk-<n>/. A savepoint is not a restore point for failover.
 *
 * Threads: the coordinators of a process share a few service threads
 * (at most two, started when there is work and gone after two idle
 * seconds: a stopped coordinator holds no thread). Periodic triggers,
 * timeouts and completion (file moves, _metadata, retention) happen there,
 * so callers never block on disk. Every public function may be called from
 * any thread and returns quickly. The ops callbacks are called from a
 * service thread (and from fl_coord_start/stop/destroy's caller never),
 * WITHOUT the coordinator's lock held, so they may call back into the
 * coordinator and take the owner's locks (the owner may hold its own
 * lock while calling fl_coord_*: the coordinator never calls ops with its
 * lock held, and never waits for the owner). A callback must not block
 * for long: other jobs' coordinators wait for the thread.
 *
 * Backoff: after the n-th counted failure in a row the next checkpoint
 * (periodic or final) starts no sooner than min(backoff_initial_ms x
 * 2^(n-1), backoff_max_ms) after the failure, across attempts, until one
 * completes; savepoints are never held back. So storage that keeps
 * failing costs one try (and one rate-limited log line) per pause, not a
 * busy loop.
 *
 * Fencing: the coordinator knows the current attempt (fl_coord_start);
 * acknowledgements and declines of another attempt are ignored.
 *
 * Logging: one line per event through fl_log (base/fl_log.h) with
 * component "checkpoint": "Triggering checkpoint 5 (type=CHECKPOINT) @1700000000000
 * for job <id>.", "Completed checkpoint 5 for job <id> (123456 bytes, 42 ms).",
 * "Checkpoint 6 of job <id> failed: <why>", "Savepoint 7 of job <id> written
 * to <path>."
 */
#ifndef FL_COORD_H
#define FL_COORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_checkpoint.h"

typedef struct fl_coord fl_coord;

/* A subtask whose acknowledgement every checkpoint needs. */
typedef struct fl_coord_task {
	uint32_t vertex; /* plan vertex index */
	int subtask;
} fl_coord_task;

/* What the tasks do; called on the coordinator's thread, no lock held. */
typedef struct fl_coord_ops {
	/* Start checkpoint `id` of attempt `attempt` at every task of the job:
	 * sources take it and send barriers; tasks whose input already ended
	 * take it at once; the others wait for the barriers. */
	void (*trigger)(void *ud, int attempt, int64_t id, int64_t ts_ms, bool savepoint);
	/* Checkpoint `id` completed (_metadata is durable): sinks commit.
	 * `final`: every task had ended its input when it acknowledged: the
	 * tasks commit and finish. Not called for savepoints unless the
	 * savepoint was requested with `commit` (stop with savepoint). */
	void (*complete)(void *ud, int attempt, int64_t id, bool final);
	/* Optional: more checkpoints failed in a row than tolerated
	 * (execution.checkpointing.tolerable-failed-checkpoints); the owner
	 * fails the job over. */
	void (*too_many_failures)(void *ud, int attempt, const char *why);
	void *ud;
} fl_coord_ops;

typedef struct fl_coord_params {
	const char *job_id;     /* copied */
	const char *jobdir;     /* <state.checkpoints.dir>/<job id> (copied); created on first use */
	int64_t interval_ms;    /* execution.checkpointing.interval; 0: no periodic checkpoints
				   * (savepoints and the final checkpoint still work) */
	int64_t timeout_ms;     /* execution.checkpointing.timeout (default 600000) */
	int64_t min_pause_ms;   /* execution.checkpointing.min-pause: from the end of one to the
				   * next trigger (default 0) */
	int tolerable_failures; /* consecutive failed checkpoints tolerated; < 0: any number */
	int retain;             /* state.checkpoints.num-retained, >= 1 (default 1) */
	int64_t next_id;        /* first id to use: restored id + 1, or 1 */
	int max_parallelism;
	fl_key_hash_kind key_hash;    /* the job's, recorded in _metadata */
	const char *backend;          /* "hashmap" / "rocksdb", recorded in _metadata (copied) */
	const char *const *operators; /* operator uids of the job (copied) */
	size_t n_operators;
	int64_t backoff_initial_ms; /* execution.checkpointing.backoff.initial; 0: 1000 */
	int64_t backoff_max_ms;     /* execution.checkpointing.backoff.max; 0: 60000 */
} fl_coord_params;

/* One task's acknowledgement of checkpoint `id`. The snapshot file was
 * written and synced into <jobdir>/chk-<id>/<file.path>. */
typedef struct fl_coord_ack {
	int attempt;
	int64_t id;
	uint32_t vertex;
	int subtask;
	bool ended;                /* the task's input had ended (final checkpoint) */
	fl_chk_file file;          /* path relative to chk-<id>/ (a file or a folder); strings
				* copied; path NULL: the task wrote nothing (not listed) */
	const char *const *shared; /* files under <jobdir> this snapshot uses (incremental), copied */
	size_t n_shared;
	uint64_t state_size;        /* bytes of state this task snapshotted */
	uint64_t checkpointed_size; /* bytes it wrote for this checkpoint (incremental: the new
				     * ones); 0: file.size */
	int64_t align_ms, sync_ms, async_ms;
} fl_coord_ack;

/* Create the coordinator (stopped: no triggers until fl_coord_start).
 * Starts no thread. FLINC_EINVAL with a message for bad params. */
int fl_coord_create(const fl_coord_params *p, const fl_coord_ops *ops, fl_coord **out, char *err,
		    size_t errcap);
/* Stop and free (waits until no service thread uses it). In-progress
 * checkpoints are abandoned (their folders stay, to be cleaned by
 * retention later); pending savepoint callbacks are called with a failure
 * first. NULL is a no-op. May be called from an ops or done callback (of
 * any coordinator): then it returns at once and a service thread frees
 * the coordinator when it next gets to it. */
void fl_coord_destroy(fl_coord *c);

/* The tasks of attempt `attempt` are all running: checkpoint them. `tasks`
 * is copied. Periodic triggering starts (the first after interval_ms). */
void fl_coord_start(fl_coord *c, int attempt, const fl_coord_task *tasks, size_t ntasks);
/* The attempt ended (failure, restart, cancel, finish): checkpoints in
 * progress fail with `why`, no more triggers until the next start, pending
 * savepoint requests fail with `why`. A checkpoint that every task already
 * acknowledged is being written: it completes, but ops.complete is not
 * called for an attempt that ended. */
void fl_coord_stop(fl_coord *c, const char *why);

void fl_coord_acknowledge(fl_coord *c, const fl_coord_ack *a); /* (named apart from the type) */
/* A task could not take checkpoint id: it fails now (counted). */
void fl_coord_decline(fl_coord *c, int attempt, int64_t id, uint32_t vertex, int subtask, const char *why);

/* Every task's input ended: take a checkpoint as soon as none is in
 * progress (regardless of the interval). A checkpoint whose every ack says
 * `ended` completes with final = true. Idempotent until fl_coord_stop. */
void fl_coord_request_final(fl_coord *c);

/* Savepoint: done(ud, ok, msg) is called once, from the coordinator's
 * thread, with the savepoint's folder (ok) or a one-line reason. `target`
 * is the parent folder (state.savepoints.dir or the user's). `commit`:
 * after the savepoint is written, sinks commit it (stop with savepoint).
 * Waits for a checkpoint in progress to end, then triggers at once.
 * Fails at once when the coordinator is stopped ("the job is not
 * running"). Returns a request number >= 1. */
typedef void (*fl_coord_done_fn)(void *ud, bool ok, const char *msg);
int64_t fl_coord_savepoint(fl_coord *c, const char *target, bool commit, fl_coord_done_fn done, void *ud);

/* Record that the job restored from checkpoint/savepoint `id` at `path`
 * (for GET /jobs/:jid/checkpoints "latest.restored" and counts.restored). */
void fl_coord_restored(fl_coord *c, int64_t id, const char *path, bool savepoint);

/* The document of GET /jobs/:jid/checkpoints, Flink's shape:
 * {"counts": {restored, total, in_progress, completed, failed},
 *  "summary": {...state_size, end_to_end_duration min/max/avg},
 *  "latest": {"completed": entry|null, "savepoint": entry|null,
 *             "failed": entry|null, "restored": {id, restore_timestamp,
 *             is_savepoint, external_path}|null},
 *  "history": [entry...] (newest first, at most 10)}
 * entry: {id, status ("IN_PROGRESS"|"COMPLETED"|"FAILED"), is_savepoint,
 * trigger_timestamp, latest_ack_timestamp, state_size, checkpointed_size,
 * end_to_end_duration, alignment_duration (max over tasks, ms),
 * num_subtasks, num_acknowledged_subtasks, external_path (completed) |
 * failure_message (failed), failure_timestamp (failed)}.
 * New reference; the caller decrefs. */
json_t *fl_coord_json(fl_coord *c);

/* Counters (for tests and /metrics). Savepoints count in total, completed
 * and failed (as in Flink) but not in last_completed_id, and their
 * failures do not count toward tolerable_failures. */
typedef struct fl_coord_counts {
	int64_t total, in_progress, completed, failed, restored;
	int64_t last_completed_id; /* 0: none */
	int64_t next_id;
} fl_coord_counts;
void fl_coord_counts_get(fl_coord *c, fl_coord_counts *out);

/* How many service threads run now, for all coordinators of the process
 * (tests; 0 when none has anything to do for a while). */
int fl_coord_service_threads(void);

#endif
