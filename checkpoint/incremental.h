/*
 * incremental.h - incremental checkpoints of the RocksDB backend (storage).
 *
 * A RocksDB subtask checkpoint is the backend's native_checkpoint(dir) on
 * local disk (hard links of the live SST files, plus MANIFEST, CURRENT and
 * OPTIONS), then an upload into checkpoint storage that puts into shared/
 * only the SST files it has not put there before. SST files are immutable
 * and RocksDB never reuses a file name within one database, so a file seen
 * once under a name never needs to go up again; the rest of the folder is
 * small and is copied every time.
 *
 *   <jobdir>/shared/<owner>/<token>-<name>.sst   SST files, shared by every
 *                                                checkpoint that uses them
 *   <jobdir>/chk-<n>/<rel>/                      the checkpoint's own files:
 *       MANIFEST-*, CURRENT, OPTIONS-*, ...      copies
 *       SHARED                                   one line per SST it uses:
 *                                                "<path> <local name> <size> <crc32c hex>"
 *
 * <owner> is "<vertex hex16>-<subtask>", <rel> e.g. "<vertex hex16>-<subtask>
 * .native". The <path> of SHARED is relative to the job folder
 * ("shared/<owner>/<token>-000012.sst"); the same paths go into _metadata's
 * `shared` list (fl_incr_result.shared), which is what keeps them alive:
 * fl_incr_gc deletes every file of shared/ that no completed checkpoint
 * lists. <token> (12 hex digits, random per registry) keeps apart the files
 * of two database instances of one subtask (e.g. before and after a
 * failover), whose file numbers overlap.
 *
 * The registry remembers which local SST files one subtask has put into
 * shared/ (or restored from): local name -> shared path and size. It
 * belongs to one RocksDB instance: create one with the instance, seed it
 * with fl_incr_materialize when the instance is restored, and reset it
 * (fl_incr_registry_reset) if the instance is replaced any other way.
 * Before a file is reused, its shared copy is checked (it exists with the
 * recorded size), so a file removed since (by fl_incr_gc after the
 * checkpoint that put it there failed, or by hand) is put there again
 * instead of being referenced while missing.
 *
 * Errors: every function returns 0 (FLINC_OK) or a negative FLINC_E* code
 * and writes one line into err (naming the file and what is wrong, with
 * strerror for system errors). FLINC_EINVAL for bad arguments or a folder
 * that is not what it should be, FLINC_EEXIST for a target that exists,
 * FLINC_ENOENT for a missing file, FLINC_ECODEC for a file whose size or
 * contents are not what SHARED says, FLINC_EIO for system I/O errors,
 * FLINC_ENOMEM.
 *
 * Threads: a registry is a plain object used by one thread at a time (the
 * subtask's upload thread, or its task thread while it restores); the
 * caller runs one upload per subtask at a time. The functions keep no
 * global state; uploads of different subtasks may run in parallel (their
 * owners differ). Nothing here touches the RocksDB instance: upload and
 * materialize work on folders only.
 */
#ifndef FL_INCREMENTAL_H
#define FL_INCREMENTAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_checkpoint.h" /* fl_chk_log_fn */

#define FL_INCR_SHARED_LIST "SHARED" /* the list of shared files in <rel>/ */
#define FL_INCR_TOKEN_LEN 12         /* hex digits of a registry's token */

typedef struct fl_incr_registry fl_incr_registry;

/* A new, empty registry with a fresh random token. NULL if out of memory.
 * Free with fl_incr_registry_destroy. */
fl_incr_registry *fl_incr_registry_create(void);
/* Free the registry (never touches files). NULL is a no-op. */
void fl_incr_registry_destroy(fl_incr_registry *reg);
/* Forget every file and choose a new token: for when the RocksDB instance
 * the registry described is replaced without fl_incr_materialize. */
void fl_incr_registry_reset(fl_incr_registry *reg);
/* The token (FL_INCR_TOKEN_LEN hex digits, NUL-terminated); valid until
 * the next upload, materialize or reset of reg (any may change it). */
const char *fl_incr_registry_token(const fl_incr_registry *reg);
/* Number of SST files the registry knows. */
size_t fl_incr_registry_count(const fl_incr_registry *reg);

/* What one upload did. The caller owns it; free its contents with
 * fl_incr_result_free (the struct itself may live anywhere). */
typedef struct fl_incr_result {
	/* Every SST file of the checkpoint, as paths relative to the job
	 * folder ("shared/<owner>/<token>-<name>"), sorted by local name:
	 * what goes into _metadata's `shared` list (together with the other
	 * subtasks' lists). malloc'ed array of malloc'ed strings. */
	char **shared;
	size_t n_shared;
	uint64_t bytes_new;     /* SST bytes put into shared/ by this upload */
	uint64_t bytes_copied;  /* the part of bytes_new copied (linking failed) */
	uint64_t bytes_reused;  /* SST bytes already in shared/ */
	uint64_t bytes_private; /* bytes written into <chkdir>/<rel>/, SHARED included */
	size_t files_new, files_reused;
	size_t files_private; /* files written into <chkdir>/<rel>/, SHARED included */
} fl_incr_result;

/* Free res's contents and zero it. NULL is a no-op. */
void fl_incr_result_free(fl_incr_result *res);

/* Upload the native checkpoint folder `native` (local, written by the
 * backend's native_checkpoint) for checkpoint folder `chkdir` (normally
 * "<jobdir>/chk-<n>"; created if missing) of job folder `jobdir`.
 *
 * Every "*.sst" file is reused if reg knows its name with the same size
 * and the recorded shared file is still there with that size; otherwise it
 * is hard-linked as "<jobdir>/shared/<owner>/<token>-<name>" (copied, with
 * fsync, when linking fails, e.g. across file systems; never over an
 * existing file: if that name is taken, reg gets a new token) and recorded
 * in reg. Every other file is copied into "<chkdir>/<rel>/", which must not
 * exist yet (FLINC_EEXIST); then SHARED is written there. New files,
 * SHARED and the folders they were added to are fsynced before returning.
 * On success reg describes exactly this checkpoint's SST files (files of
 * older checkpoints that RocksDB has compacted away are forgotten: they
 * never come back).
 *
 * `rel` is a relative path without "." or ".." components; `owner` one
 * folder name (no '/', no white space, not starting with '.'); both
 * FLINC_EINVAL otherwise. File names come from listing `native`: one with
 * '/' or white space, starting with '.', a private file named SHARED, or
 * anything but a regular file is refused (FLINC_EINVAL). `native` is not
 * modified; the caller removes it afterwards.
 *
 * `res` is filled on success and zeroed on failure. On failure the private
 * folder is removed; files already put into shared/ stay (complete, and
 * recorded in reg for the next upload; fl_incr_gc removes them if no
 * checkpoint ever lists them). Blocking file I/O: run it off the task
 * thread. */
int fl_incr_upload(fl_incr_registry *reg, const char *native, const char *jobdir, const char *chkdir,
		   const char *rel, const char *owner, fl_incr_result *res, char *err, size_t errcap);

/* For restore: rebuild in `localdir` (created here: it must not exist,
 * FLINC_EEXIST; its parent must, FLINC_ENOENT) the folder that was uploaded
 * as "<chkdir>/<rel>/" of job folder `jobdir`, so that the backend's
 * native_restore accepts it: every file listed in SHARED is hard-linked
 * (copied when linking fails) from the job folder under its local name, and
 * every private file of "<chkdir>/<rel>/" but SHARED is copied. No fsync:
 * localdir is scratch space; the caller removes it after native_restore
 * (which links or copies what it needs).
 *
 * Each shared file's size is checked against SHARED: missing is
 * FLINC_ENOENT, another size (or not a regular file) FLINC_ECODEC, with one
 * line naming the file. A missing or malformed SHARED is FLINC_ENOENT or
 * FLINC_ECODEC. On failure localdir is removed and reg is unchanged.
 *
 * If reg is not NULL, on success it forgets what it knew, takes a new token
 * and learns (local name -> shared path, size) of every listed file, so the
 * next upload from the restored instance reuses them. */
int fl_incr_materialize(fl_incr_registry *reg, const char *jobdir, const char *chkdir, const char *rel,
			const char *localdir, char *err, size_t errcap);

/* Check the native checkpoint "<chkdir>/<rel>/" of job folder `jobdir`:
 * its SHARED list parses and every shared file it lists exists with the
 * listed size (FLINC_ENOENT / FLINC_ECODEC with one line naming the file);
 * with `crc`, also the CRC32C recorded when the file was uploaded (every
 * byte is read). Nothing is modified. */
int fl_incr_verify(const char *jobdir, const char *chkdir, const char *rel, bool crc, char *err,
		   size_t errcap);

/* Garbage-collect shared/: delete every file under "<jobdir>/shared/"
 * (recursively) that no completed checkpoint of jobdir lists in its
 * _metadata `shared` array, then every folder under shared/ left empty
 * (shared/ itself stays). A completed checkpoint is a chk-<n> folder whose
 * _metadata reads with fl_chk_meta_read; folders without one (FLINC_ENOENT)
 * or with a corrupt one (FLINC_ECODEC) protect nothing. Any other error
 * reading a _metadata stops the collection before anything is deleted.
 * Each removal is logged through log (may be NULL), then one summary line.
 * No shared/ folder: nothing to do (0).
 *
 * The caller guarantees that no checkpoint of the job is being written
 * (an upload in progress has not listed its new files anywhere yet), e.g.
 * by running it on the coordinator's thread between checkpoints, after
 * fl_chk_retain. Savepoints never use shared/. Blocking file I/O. */
int fl_incr_gc(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap);

#endif
