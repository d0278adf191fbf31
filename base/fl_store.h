/*
 * fl_store.h - object storage for checkpoints, savepoints and the job
 * store: a POSIX folder or an S3 bucket behind one ops struct, and the
 * local mirror through which the rest of flinc works on remote folders.
 *
 * ---- Design ---------------------------------------------------------------
 *
 * Checkpoint code (checkpoint/, runtime/src/snapshot.c, the job manager)
 * was written against POSIX folders: it writes a file to "<name>.tmp",
 * fsyncs and renames it, lists chk-<n> folders, hard-links SST files. On
 * hosts that share no folder that storage must be remote. Two layers:
 *
 * 1. fl_store: a handle on a storage root ("s3://BUCKET/PATH" or a local
 *    folder) with whole-object operations (fl_store_ops): put a local file
 *    or a buffer under a key, get a key into a local file or a buffer, list
 *    the keys under a prefix, delete a prefix, ask whether a key exists.
 *    Keys are relative to the root, '/'-separated, without "." or ".."
 *    parts. A prefix is folder-aligned: it names the key itself or every
 *    key under "<prefix>/" ("" is everything), never "keys starting with
 *    these bytes". Two implementations:
 *      - POSIX (any path that is not a URL): today's layout, the key is the
 *        path under the root; a put is a copy to "<key>.tmp-<random>",
 *        fsync, rename, so a reader never sees half an object.
 *      - S3 ("s3://BUCKET[/PATH]"): libcurl with CURLOPT_AWS_SIGV4 (curl >=
 *        7.75), the payload's SHA-256 sent in x-amz-content-sha256 (curl
 *        7.88 does not send it, and S3 and s3proxy require it), path-style
 *        (http://HOST/BUCKET/KEY) or virtual-hosted (http://BUCKET.HOST/KEY)
 *        URLs, ListObjectsV2 with continuation tokens, one DELETE per key.
 *        Endpoint, region and credentials come from the s3.* keys
 *        (base/conf_keys.c). Transient failures (HTTP 500/503, a dropped
 *        connection) are retried twice after 100 ms and 400 ms; the rest
 *        map to flinc codes: 404 (NoSuchKey) FLINC_ENOENT; 403 and every
 *        other HTTP error FLINC_EIO; an unreachable endpoint FLINC_EIO; a
 *        body that does not parse FLINC_ECODEC. The message is one line:
 *        "s3://b/k: PUT: HTTP 403 SignatureDoesNotMatch: <S3's message>",
 *        "s3://b/k: GET: cannot reach http://h:p: Couldn't connect to server".
 *    Ops structs are versioned (FL_STORE_OPS_VERSION first, append only).
 *
 * 2. The mirror (fl_remote_*): a process that works with "s3://B/P" paths
 *    gets a private local folder, its mirror root (a fresh
 *    "<fl_local_base>/flinc-s3-XXXXXX", removed at exit), and every remote
 *    path has a local twin "<root>/B/P". Code that reads a configured path
 *    calls fl_remote_localize and from then on works on the twin with the
 *    POSIX calls it always used; at the few points where data must reach
 *    or come from the store it calls fl_remote_push (upload a file or a
 *    folder tree), fl_remote_pull (download what is under a prefix) or
 *    fl_remote_remove (delete a prefix), which do nothing for a path that
 *    is not a twin. Paths that cross processes (a deployment's checkpoint
 *    folder and restore path, REST answers) are written back as URLs with
 *    fl_remote_url, since every process has its own mirror root. Because
 *    the mirror is private, a missing upload cannot hide behind a shared
 *    folder: whatever another process needs must have gone through S3.
 *    Where the pushes and pulls sit (task manager: after a snapshot is
 *    written and before it is acknowledged; job manager: after _metadata;
 *    restore: before _metadata is read) is written in docs/checkpoints.md
 *    "Checkpoints on S3".
 *
 * Conventions: functions return FLINC_OK or a negative flinc code and
 * write one line into err (err may be NULL). Threads: a store handle may be
 * used by several threads at once (every request has its own curl handle);
 * the mirror's state is process-wide and locked. Blocking network I/O: call
 * from service or upload threads, never a task thread.
 */
#ifndef FL_STORE_H
#define FL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_conf.h"

#define FL_STORE_OPS_VERSION 1u
#define FL_STORE_MAX_OBJECT ((uint64_t)5 << 30) /* one PUT: S3's limit, 5 GiB */

/* One key under a prefix, as fl_store_list returns it. */
typedef struct fl_store_obj {
	char *key; /* relative to the store root; malloc'ed */
	uint64_t size;
} fl_store_obj;

/* A storage implementation. Every method gets the implementation's private
 * state (priv_size bytes, zeroed, allocated by fl_store_open). Keys are
 * checked by fl_store_* before a method sees them. Methods may be called
 * from several threads at once. */
typedef struct fl_store_ops {
	uint32_t version;   /* FL_STORE_OPS_VERSION */
	const char *scheme; /* "file", "s3" */
	size_t priv_size;
	/* root: the URL or folder given to fl_store_open. */
	int (*open)(void *priv, const char *root, const fl_conf *conf, char *err, size_t errcap);
	void (*close)(void *priv);
	/* Upload the regular file `local` as key (replacing it). */
	int (*put_file)(void *priv, const char *key, const char *local, char *err, size_t errcap);
	int (*put_buf)(void *priv, const char *key, const void *buf, size_t len, char *err, size_t errcap);
	/* Download key into the new file `local` (its folder must exist):
	 * written to a temporary name and renamed, so `local` is whole or
	 * absent. FLINC_ENOENT when there is no such key. */
	int (*get_file)(void *priv, const char *key, const char *local, char *err, size_t errcap);
	/* Download key into a malloc'ed buffer (*buf, *len; the caller frees);
	 * FLINC_ERANGE if larger than max. */
	int (*get_buf)(void *priv, const char *key, size_t max, void **buf, size_t *len, char *err,
		       size_t errcap);
	/* Every key equal to prefix or under "<prefix>/", sorted by key;
	 * *objs malloc'ed (fl_store_objs_free). */
	int (*list)(void *priv, const char *prefix, fl_store_obj **objs, size_t *n, char *err, size_t errcap);
	/* Delete every key of list(prefix); keys whose last part is
	 * "_metadata" first (a checkpoint's commit point goes before its
	 * files). *n (may be NULL): how many were deleted. */
	int (*delete_prefix)(void *priv, const char *prefix, size_t *n, char *err, size_t errcap);
	/* FLINC_OK with *size when key exists, FLINC_ENOENT when it does not. */
	int (*exists)(void *priv, const char *key, uint64_t *size, char *err, size_t errcap);
} fl_store_ops;

extern const fl_store_ops fl_store_posix_ops;
extern const fl_store_ops fl_store_s3_ops;

typedef struct fl_store fl_store;

/* Is path an S3 URL ("s3://...")? */
bool fl_store_is_s3(const char *path);

/* Open the store at root: "s3://BUCKET[/PATH]" (S3, configured by conf's
 * s3.* keys; conf may be NULL for the defaults) or a local folder (POSIX;
 * created on the first put). No request is made. FLINC_EINVAL for a
 * malformed URL, FLINC_ECONFIG for missing credentials. */
int fl_store_open(const char *root, const fl_conf *conf, fl_store **out, char *err, size_t errcap);
void fl_store_close(fl_store *s); /* NULL is a no-op */
/* The root as given to open. */
const char *fl_store_root(const fl_store *s);

/* Is key a valid key: not empty, no leading or trailing '/', no empty,
 * "." or ".." part, no control characters? (A prefix may also be "".) */
bool fl_store_key_ok(const char *key);

int fl_store_put_file(fl_store *s, const char *key, const char *local, char *err, size_t errcap);
int fl_store_put_buf(fl_store *s, const char *key, const void *buf, size_t len, char *err, size_t errcap);
int fl_store_get_file(fl_store *s, const char *key, const char *local, char *err, size_t errcap);
int fl_store_get_buf(fl_store *s, const char *key, size_t max, void **buf, size_t *len, char *err,
		     size_t errcap);
int fl_store_list(fl_store *s, const char *prefix, fl_store_obj **objs, size_t *n, char *err, size_t errcap);
void fl_store_objs_free(fl_store_obj *objs, size_t n);
int fl_store_delete_prefix(fl_store *s, const char *prefix, size_t *n, char *err, size_t errcap);
int fl_store_exists(fl_store *s, const char *key, uint64_t *size, char *err, size_t errcap);

/* ---- S3 pieces, exposed for tests --------------------------------------- */

/* Split "s3://BUCKET[/PATH]" into bucket and path (no leading or trailing
 * '/'; "" when absent). FLINC_EINVAL with a line for anything else
 * (an empty or invalid bucket name, "." or ".." parts). */
int fl_s3_parse_url(const char *url, char *bucket, size_t bcap, char *path, size_t pcap, char *err,
		    size_t errcap);
/* Percent-encode s for a URL path (keep_slash) or a query value, as
 * SigV4's canonical form wants it: A-Z a-z 0-9 - _ . ~ kept. */
void fl_s3_encode(const char *s, bool keep_slash, char *out, size_t cap);
/* Parse a ListObjectsV2 answer: appends its keys (entities decoded) to
 * (*objs, *n, *cap); *truncated and token (NextContinuationToken, "" if none).
 * FLINC_ECODEC for a body that is not one. */
int fl_s3_parse_list(const char *xml, size_t len, fl_store_obj **objs, size_t *n, size_t *cap,
		     bool *truncated, char *token, size_t tcap);
/* The flinc code and one-line message of an S3 error answer: status and
 * the body's <Code> and <Message>. */
int fl_s3_error(long status, const char *body, size_t len, const char *what, char *err, size_t errcap);

/* ---- the mirror -------------------------------------------------------- */

/* Configure the process's remote storage from conf's s3.* keys (and
 * state.backend.rocksdb.localdir / $TMPDIR for the mirror root, made on
 * first use). May be called again (later calls replace the settings; the
 * root stays). Any thread. */
int fl_remote_init(const fl_conf *conf, char *err, size_t errcap);
/* Remove the mirror root (also done at exit). */
void fl_remote_shutdown(void);

/* The local path to work on for path: for "s3://B/P" its twin under the
 * mirror root (an interned string valid until exit), else path itself.
 * NULL with a line in err when path is a malformed URL or the mirror root
 * cannot be made. */
const char *fl_remote_localize(const char *path, char *err, size_t errcap);
/* Is local a twin (under the mirror root)? */
bool fl_remote_is(const char *local);
/* The URL of a twin into buf ("s3://B/P"); any other path is copied
 * unchanged. Returns buf. */
const char *fl_remote_url(const char *local, char *buf, size_t cap);

/* Upload the file or folder tree `local` (a twin: else nothing to do) to
 * its key(s). Files whose names end in ".tmp" are skipped. */
int fl_remote_push(const char *local, char *err, size_t errcap);
/* Download every key under the twin `local` (a file, or a folder
 * prefix) into the mirror; a file already there with the same size is
 * kept. *n (may be NULL): files fetched. FLINC_ENOENT when nothing is
 * there. Not a twin: FLINC_OK, nothing done. */
int fl_remote_pull(const char *local, size_t *n, char *err, size_t errcap);
/* Download the one object of twin `local` into it (one request; its
 * folder made). FLINC_ENOENT when there is no such object. */
int fl_remote_get(const char *local, char *err, size_t errcap);
/* Delete the remote keys under the twin `local` (not the local files). */
int fl_remote_remove(const char *local, char *err, size_t errcap);
/* Can this process write under twin `local`? Puts and deletes a small
 * probe object: a missing bucket, wrong credentials or an unreachable
 * endpoint are found before the first checkpoint. Not a twin: FLINC_OK. */
int fl_remote_probe(const char *local, char *err, size_t errcap);
/* Does the remote key of twin `local` exist (FLINC_OK) or not
 * (FLINC_ENOENT)? */
int fl_remote_exists(const char *local, uint64_t *size, char *err, size_t errcap);
/* The keys under twin `local`, as twins' paths (malloc'ed strings in the
 * malloc'ed *paths, sizes in *sizes (may be NULL)). */
int fl_remote_list(const char *local, char ***paths, uint64_t **sizes, size_t *n, char *err, size_t errcap);

#endif
