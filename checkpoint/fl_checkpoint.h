/*
 * fl_checkpoint.h - checkpoint and savepoint storage.
 *
 * The on-disk format of checkpoints and savepoints and the code that writes,
 * reads, lists, validates and disposes of them. The format is described for
 * users in docs/savepoints.md; in short:
 *
 *   <state.checkpoints.dir>/<job id>/
 *       chk-<n>/_metadata              JSON, written last and atomically
 *       chk-<n>/<vertex hex16>-<subtask>.snap   one per subtask
 *       shared/                        RocksDB files of incremental
 *                                      checkpoints (referenced, later)
 *   <state.savepoints.dir>/savepoint-<jobid6>-<random>/   the same, canonical
 *
 * A snapshot file ("snap") holds one subtask's keyed state entries (grouped
 * by ascending key group, with an index of each key group's byte range so a
 * rescaled subtask reads only the key groups it owns), its timers and its
 * operator states, a trailer and a CRC32C over everything. A chk-<n> folder
 * without a valid _metadata is not a completed checkpoint.
 *
 * Errors: every function returns 0 (FLINC_OK) or a negative FLINC_E* code
 * and, where it takes `err`/`errcap`, writes one line naming the file and
 * what is wrong (with strerror for system errors). Corrupt or truncated
 * files give FLINC_ECODEC; missing ones FLINC_ENOENT; system I/O FLINC_EIO.
 * Nothing here aborts the process.
 *
 * Threads: handles are plain objects used by one thread at a time; the
 * functions keep no global state (the CRC32C table is built once, thread-
 * safely). Writers and readers may run on an upload thread, off the task.
 */
#ifndef FL_CHECKPOINT_H
#define FL_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_base.h"
#include "fl_state.h" /* fl_state_kind */

#define FL_SNAP_VERSION 1u     /* snapshot file format version */
#define FL_CHK_META_VERSION 1u /* _metadata format version */
#define FL_CHK_METADATA "_metadata"
#define FL_CHK_META_MAX (64 << 20) /* a larger _metadata is refused as corrupt */
#define FL_SNAP_SUFFIX ".snap"
#define FL_CHK_JOBID_MAX 64  /* job ids are at most 63 characters */
#define FL_SNAP_MAX_KG 32768 /* key groups are uint16; max parallelism <= this */

/* ---- snapshot files ------------------------------------------------------ */

/* Header of one subtask's snapshot file. */
typedef struct fl_snap_header {
	uint32_t version;              /* FL_SNAP_VERSION (set by the writer) */
	char job_id[FL_CHK_JOBID_MAX]; /* NUL-terminated */
	int64_t checkpoint_id;
	uint64_t vertex_id; /* the operator chain (vertex) id */
	int subtask, parallelism, max_parallelism;
	int kg_first, kg_last; /* key groups owned, inclusive */
} fl_snap_header;

/* Where the sections of a written file are (byte offsets), its size and
 * checksum (CRC32C of the whole file except its last 12 bytes, the value
 * stored in the file's tail; _metadata records it). */
typedef struct fl_snap_info {
	uint64_t size;
	uint32_t crc;
	uint64_t header_off, keyed_off, timers_off, ops_off, trailer_off, tail_off;
	uint64_t n_keyed, n_timers, n_ops;
} fl_snap_info;

typedef struct fl_snap_writer fl_snap_writer;

/* File name of a subtask's snapshot: "<vertex hex16>-<subtask>.snap".
 * Writes into buf (NUL-terminated, truncated to cap). */
void fl_snap_file_name(char *buf, size_t cap, uint64_t vertex_id, int subtask);

/* Start writing the snapshot file `path`. The data goes to a temporary file
 * "<path>.tmp" in the same folder (which must exist) until close renames it.
 * `h` is copied. Memory: one 256 KiB buffer and a key-group index of
 * (kg_last - kg_first + 1) entries; no allocation per entry.
 * Returns FLINC_EINVAL for a bad header, FLINC_EIO if the file cannot be
 * created; *out is NULL on failure. */
int fl_snap_writer_open(fl_snap_writer **out, const char *path, const fl_snap_header *h, char *err,
			size_t errcap);

/* Add one keyed state entry. Sections come in a fixed order: every keyed
 * entry, then every timer, then every operator state (each may be empty);
 * keyed entries must come in ascending key-group order (kg never goes down;
 * any order of states and keys within one key group), and kg must be in the
 * header's range. To write a backend's states, loop over key groups outside
 * and states inside, scanning one key group at a time (fl_snap_scan_fn).
 * `state` is "<op uid>/<state name>" (at most 65535 distinct names per
 * file); `uk` is the user key of a map entry (NULL otherwise). Bytes are
 * copied or written before returning. Errors are sticky: after the first,
 * every call returns it and close reports it. FLINC_EINVAL for order or
 * range violations, FLINC_EIO for write failures. */
int fl_snap_add_keyed(fl_snap_writer *w, const char *state, fl_state_kind kind, uint16_t kg, const void *key,
		      uint32_t klen, const void *ns, uint32_t nslen, const void *uk, uint32_t uklen,
		      const void *val, size_t vlen);

/* Add a timer of operator `op_uid`: domain 0 = event time, 1 = processing
 * time. Timers come after keyed entries, in any order. */
int fl_snap_add_timer(fl_snap_writer *w, const char *op_uid, int domain, int64_t ts, uint16_t kg,
		      const void *key, uint32_t klen, const void *ns, uint32_t nslen);

/* Add an operator state blob (a source's position, a sink's committables).
 * One operator may add several. Comes after timers. */
int fl_snap_add_opstate(fl_snap_writer *w, const char *op_uid, const void *data, size_t len);

/* The first error's message ("" if none). Valid until close/abort. */
const char *fl_snap_writer_errmsg(const fl_snap_writer *w);

/* Finish: write the trailer and tail, fsync, rename to the final name,
 * fsync the folder. Frees w in every case (on failure the temporary file is
 * removed). `info` may be NULL. */
int fl_snap_writer_close(fl_snap_writer *w, fl_snap_info *info, char *err, size_t errcap);

/* Make close skip its fsyncs (of the file and its folder), so a task
 * thread does not wait for the disk: whoever acknowledges the snapshot
 * calls fl_chk_sync_file(path) first, off the task thread. */
void fl_snap_writer_defer_sync(fl_snap_writer *w);
/* fsync a file and the folder that holds it. */
int fl_chk_sync_file(const char *path, char *err, size_t errcap);

/* Give up: remove the temporary file and free w. NULL is a no-op. */
void fl_snap_writer_abort(fl_snap_writer *w);

/* An fl_scan_fn adapter: pass fl_snap_scan_fn with a fl_snap_scan_ctx* as
 * `ud` to a backend's scan(sid, kg, kg, ...) to copy its entries. */
typedef struct fl_snap_scan_ctx {
	fl_snap_writer *w;
	const char *state;
	fl_state_kind kind;
} fl_snap_scan_ctx;
int fl_snap_scan_fn(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		    uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen);

/* ---- reading snapshot files --------------------------------------------- */

typedef struct fl_snap_reader fl_snap_reader;

/* How much to check at open. */
typedef enum fl_snap_verify {
	/* CRC the whole file at open (one sequential read); reads after it
	 * trust the bytes (they are still bounds-checked). The default. */
	FL_SNAP_VERIFY_FILE = 0,
	/* Check the tail, trailer and header only; each key group, the timer
	 * section and the operator-state section are checked against their own
	 * CRC as they are read, so a rescaled subtask reads only its key groups.
	 * A mismatch is reported when the section ends, after its entries were
	 * delivered: the caller must treat the whole read as failed. */
	FL_SNAP_VERIFY_SECTIONS = 1,
} fl_snap_verify;

/* Open and validate a snapshot file. *out is NULL on failure.
 * FLINC_ENOENT if absent, FLINC_ECODEC if truncated/corrupt/not a snapshot,
 * FLINC_EINVAL for a symbolic link or anything but a regular file (never
 * followed, never blocked on), FLINC_EIO for read errors. */
int fl_snap_reader_open(fl_snap_reader **out, const char *path, fl_snap_verify verify, char *err,
			size_t errcap);
/* The same on a file already open for reading (fd, which the reader takes:
 * closed by fl_snap_reader_close, or at once on failure); path names it in
 * messages. */
int fl_snap_reader_openfd(fl_snap_reader **out, int fd, const char *path, fl_snap_verify verify, char *err,
			  size_t errcap);
void fl_snap_reader_close(fl_snap_reader *r); /* NULL is a no-op */

/* The header (valid until close) and where the sections are. */
const fl_snap_header *fl_snap_reader_header(const fl_snap_reader *r);
void fl_snap_reader_info(const fl_snap_reader *r, fl_snap_info *info);

/* One entry as delivered to callbacks: pointers are valid during the
 * callback only. `state`/`op_uid` are NUL-terminated. */
typedef struct fl_snap_entry {
	const char *state;  /* keyed: "<op uid>/<state>" */
	fl_state_kind kind; /* keyed */
	uint16_t kg;        /* keyed, timer */
	const uint8_t *key; /* keyed, timer */
	uint32_t klen;
	const uint8_t *ns; /* keyed, timer */
	uint32_t nslen;
	const uint8_t *uk; /* keyed map entries; NULL otherwise */
	uint32_t uklen;
	const uint8_t *val; /* keyed value, operator-state bytes */
	size_t vlen;
	const char *op_uid; /* timer, operator state */
	int domain;         /* timer: 0 event time, 1 processing time */
	int64_t ts;         /* timer */
} fl_snap_entry;

/* Non-zero from the callback stops the iteration and is returned. */
typedef int (*fl_snap_entry_fn)(void *ud, const fl_snap_entry *e);

/* Every keyed entry of key groups [kg_first, kg_last] (intersected with the
 * file's range), ascending by key group; reads only those key groups' bytes. */
int fl_snap_read_keyed(fl_snap_reader *r, int kg_first, int kg_last, fl_snap_entry_fn fn, void *ud, char *err,
		       size_t errcap);
/* Every timer with kg in [kg_first, kg_last] and, if op_uid is not NULL,
 * of that operator. */
int fl_snap_read_timers(fl_snap_reader *r, int kg_first, int kg_last, const char *op_uid, fl_snap_entry_fn fn,
			void *ud, char *err, size_t errcap);
/* Every operator state (of op_uid, or all if NULL), in the written order. */
int fl_snap_read_opstates(fl_snap_reader *r, const char *op_uid, fl_snap_entry_fn fn, void *ud, char *err,
			  size_t errcap);

/* ---- _metadata ------------------------------------------------------------ */

typedef struct fl_chk_file {
	char *path; /* relative to the checkpoint folder, no "..", no leading '/' */
	uint64_t vertex_id;
	int subtask, parallelism;
	int kg_first, kg_last;
	uint64_t size;
	uint32_t crc; /* fl_snap_info.crc */
	/* NULL, or the folder (relative to the checkpoint folder) of the
	 * subtask's native RocksDB checkpoint (checkpoint/incremental.h): its
	 * keyed state is there, not in the snapshot file, which then holds its
	 * timers and operator states only. Never in a savepoint. */
	char *native;
} fl_chk_file;

typedef struct fl_chk_meta {
	uint32_t version; /* FL_CHK_META_VERSION (set by write) */
	char job_id[FL_CHK_JOBID_MAX];
	int64_t checkpoint_id;
	bool is_savepoint;
	int64_t trigger_ts_ms, complete_ts_ms;
	int max_parallelism;
	/* how keys were hashed into key groups ("key_hash" in _metadata, the
	 * name of fl_key_hash_name; absent in a checkpoint taken before XXH3,
	 * which read as FL_KEY_HASH_MURMUR64A) */
	fl_key_hash_kind key_hash;
	char backend[32]; /* "hashmap", "rocksdb" */
	char **operators; /* operator uids */
	size_t n_operators;
	fl_chk_file *files;
	size_t n_files;
	/* Files outside the folder that this checkpoint uses, relative to the
	 * job folder (e.g. "shared/000123.sst"); always empty in a savepoint. */
	char **shared;
	size_t n_shared;
} fl_chk_meta;

/* Write <dir>/_metadata atomically (temp, fsync, rename, fsync dir). The
 * caller owns meta. FLINC_EINVAL if a path is absolute or escapes the
 * folder, or if a savepoint references shared files. */
int fl_chk_meta_write(const char *dir, const fl_chk_meta *meta, char *err, size_t errcap);
/* Read <dir>/_metadata into *meta (allocated; free with fl_chk_meta_free).
 * FLINC_ENOENT if absent, FLINC_ECODEC if unparsable or incomplete. */
int fl_chk_meta_read(const char *dir, fl_chk_meta *meta, char *err, size_t errcap);
void fl_chk_meta_free(fl_chk_meta *meta); /* frees the contents; NULL ok */

/* ---- validation, listing, retention, disposal ---------------------------- */

typedef enum fl_chk_check {
	FL_CHK_CHECK_META = 0,  /* _metadata parses and is complete */
	FL_CHK_CHECK_FILES = 1, /* ... and every file exists with its size and tail checksum */
	FL_CHK_CHECK_FULL = 2,  /* ... and every snapshot file's CRC is recomputed */
} fl_chk_check;

/* Validate the checkpoint or savepoint folder `dir` to `level`. */
int fl_chk_validate(const char *dir, fl_chk_check level, char *err, size_t errcap);

/* The folder of checkpoint id under job folder jobdir: "<jobdir>/chk-<id>". */
void fl_chk_dir(char *buf, size_t cap, const char *jobdir, int64_t id);

/* Ids of the chk-<n> folders under jobdir (complete or not), ascending.
 * *ids is malloc'ed (free it); *n may be 0. FLINC_ENOENT if jobdir is absent. */
int fl_chk_list(const char *jobdir, int64_t **ids, size_t *n, char *err, size_t errcap);

/* Log sink for fallbacks and retention: one line per call, no newline. */
typedef void (*fl_chk_log_fn)(void *ud, const char *line);

/* The newest completed checkpoint under jobdir with id < below (INT64_MAX
 * for any) that passes fl_chk_validate at `level`. Each newer candidate
 * that fails is logged ("checkpoint <dir> is unusable: <why>; trying the
 * previous completed one") through log (may be NULL). *id = the checkpoint
 * found. FLINC_ENOENT (with a message) if there is none. Call again with
 * below = *id to get the one before, e.g. when restoring from it fails. */
int fl_chk_latest(const char *jobdir, int64_t below, fl_chk_check level, int64_t *id, fl_chk_log_fn log,
		  void *logud, char *err, size_t errcap);

/* Retention: keep the `keep` newest completed checkpoints (valid
 * _metadata) under jobdir; remove older completed ones, and incomplete
 * chk-<n> folders older than the newest completed one (a newer incomplete
 * one may be in progress and is left alone). shared/ is not touched.
 * Each removal is logged. keep >= 1. */
int fl_chk_retain(const char *jobdir, int keep, fl_chk_log_fn log, void *logud, char *err, size_t errcap);

/* A new savepoint folder name under parent: "<parent>/savepoint-<first 6 of
 * job id>-<12 random hex>". Does not create it. */
void fl_savepoint_dir(char *buf, size_t cap, const char *parent, const char *job_id);

/* Remove a savepoint: only if `dir` has a _metadata that parses and says
 * is_savepoint. Removes the listed files, leftover temporaries and
 * _metadata, then the folder; a folder that still holds other files is
 * left (with its files) and reported. FLINC_EINVAL (nothing removed) if dir
 * is not a savepoint. Nothing outside the folder is touched: the folder
 * itself must not be a symbolic link, the folders inside it are entered
 * without following links, and a listed file that is a link is unlinked
 * (the link, not what it names); a _metadata that is not a regular file
 * (a FIFO, a device) is refused without blocking. */
int fl_savepoint_dispose(const char *dir, char *err, size_t errcap);
/* The same for the savepoint folder `name` (one path component) in the
 * folder parentfd; dir names it in messages. */
int fl_savepoint_dispose_at(int parentfd, const char *name, const char *dir, char *err, size_t errcap);

/* ---- checkpoints on S3 ----------------------------------------------------
 * A checkpoint folder named s3://BUCKET/PATH is worked on in its local twin
 * (base/fl_store.h, "the mirror"): task managers write their files there
 * and push them before they acknowledge; the coordinator pushes _metadata
 * (the commit point, last), removes what retention, failures and disposal
 * remove from the store too, and pulls what a restore or a savepoint needs.
 * For a folder that is not a twin every function here does nothing and
 * returns FLINC_OK. Blocking network I/O: service and upload threads. */

/* Download the completed checkpoint or savepoint folder `dir` (a twin):
 * everything under it, then every shared file its _metadata lists (from
 * the job folder, dir's parent) that is not here yet. FLINC_ENOENT when
 * the store has no <dir>/_metadata. */
int fl_chk_remote_fetch(const char *dir, char *err, size_t errcap);
/* Only what every subtask of a restore reads: the files right in `dir`
 * (_metadata and the .snap files); a subtask whose key groups are in a
 * native snapshot then fetches it with fl_chk_remote_fetch_native, so a
 * task manager downloads the keyed state of its own key groups only.
 * FLINC_ENOENT as fl_chk_remote_fetch. */
int fl_chk_remote_fetch_top(const char *dir, char *err, size_t errcap);
/* The native snapshot folder <dir>/<rel> and the shared files its SHARED
 * list names (from the job folder, dir's parent). */
int fl_chk_remote_fetch_native(const char *dir, const char *rel, char *err, size_t errcap);
/* For a job folder (a twin) before fl_chk_latest: make a local chk-<n>
 * folder for every checkpoint the store has (complete or not, so that
 * retention later removes the incomplete ones from the store too) and
 * download the completed ones (fl_chk_remote_fetch); one that cannot be
 * downloaded is logged and left incomplete here. */
int fl_chk_remote_fetch_job(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap);
/* After fl_chk_retain: remove from the store the chk-<n> of `before` (the
 * ids fl_chk_list gave before retention) that are no longer here. */
int fl_chk_remote_retained(const char *jobdir, const int64_t *before, size_t nbefore, char *err,
			   size_t errcap);
/* fl_incr_gc for the store: delete every object under <jobdir>/shared/
 * that no completed checkpoint here (its _metadata) lists. Same
 * precondition as fl_incr_gc: no checkpoint of the job being written. */
int fl_chk_remote_gc(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap);

#endif
