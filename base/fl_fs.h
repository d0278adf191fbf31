/*
 * fl_fs.h - local files: the few file-system operations that checkpoint
 * storage, the state backends, the file sink, the blob store and the
 * engine's working folders share.
 *
 * Conventions: functions return FLINC_OK or a negative flinc error code;
 * those with (err, errcap) also write a one-line message there (err may be
 * NULL). None follows a symbolic link it removes or copies: links are
 * removed or refused, never followed. Allocation: fl_try_* only (a failure
 * is FLINC_ENOMEM). Threads: any; nothing is shared.
 */
#ifndef FL_FS_H
#define FL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_conf.h"

/* mkdir -p with mode 0755. FLINC_EIO when a part exists as something else
 * than a folder or cannot be made; FLINC_EINVAL for an empty or too long
 * path. */
int fl_mkdir_p(const char *path, char *err, size_t errcap);

/* Could fl_mkdir_p(path) work? Nothing is created: the longest part of
 * path that exists must be a folder, and (when it is not path itself) one
 * this process may create folders in on a writable file system. FLINC_OK,
 * or FLINC_EIO/FLINC_EINVAL with fl_mkdir_p's kind of message. For
 * checks made long before the folder is needed (a job's output, checked
 * when the job is built, made when it runs). */
int fl_mkdir_p_possible(const char *path, char *err, size_t errcap);

/* Remove path and everything under it; symbolic links are removed, not
 * followed; a missing path is fine. */
int fl_rm_rf(const char *path, char *err, size_t errcap);

/* A new private folder "<parent>/<prefix>XXXXXX" (parent must exist):
 * malloc'ed path, or NULL with errno set. */
char *fl_mkdtemp_in(const char *parent, const char *prefix);

/* Where local working folders go: the config's
 * state.backend.rocksdb.localdir, else $TMPDIR, else /tmp. */
const char *fl_local_base(const fl_conf *conf);
/* fl_mkdtemp_in(fl_local_base(conf), prefix), the base created if
 * missing; NULL with errno set. */
char *fl_local_tmpdir(const fl_conf *conf, const char *prefix);

/* Write all of buf at the file position (EINTR and short writes handled).
 * 0 or -errno. */
int fl_write_all(int fd, const void *buf, size_t len);
/* pread exactly len bytes at off: 0, -errno, or 1 at end of file. */
int fl_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* fsync a file, a folder, or the folder holding path (after a rename in
 * it). File systems that cannot sync folders (EINVAL) count as done. */
int fl_fsync_file(const char *path, char *err, size_t errcap);
int fl_fsync_dir(const char *dir, char *err, size_t errcap);
int fl_fsync_parent(const char *path, char *err, size_t errcap);

/* Copy the regular file src to the new file dst (created with O_EXCL:
 * FLINC_EEXIST if it exists; src a symlink or not a regular file:
 * FLINC_EINVAL; missing: FLINC_ENOENT). In the kernel where it can
 * (copy_file_range), else by read and write. With FL_COPY_SYNC dst is
 * fsynced. On failure dst is removed. */
enum { FL_COPY_SYNC = 1 };
int fl_copy_file(const char *src, const char *dst, unsigned flags, char *err, size_t errcap);

/* The first len bytes of in to out, from their file positions (in the
 * kernel where it can, else by read and write). 0, or FLINC_EIO (in
 * ended sooner; a read or write failed) or FLINC_ENOMEM, with a line in
 * err. */
int fl_copy_prefix(int in, int out, uint64_t len, char *err, size_t errcap);

/* A relative path that stays inside the folder it is relative to: not
 * empty, no leading '/', no empty, "." or ".." component, no white space
 * or control characters. */
bool fl_relpath_ok(const char *p);

/* ---- staying inside a folder ----------------------------------------------
 * For paths that a client names (savepoints, restores): never follow a
 * symbolic link, never block on a FIFO or device, never name a path
 * outside the allowed folders in a way that says whether it exists. */

/* Open rel (a relative path: no empty, "." or ".." component, no trailing
 * slash; "" is dirfd itself, dup'ed) inside the folder dirfd without
 * following a symbolic link anywhere on the way: each folder on the way
 * with O_DIRECTORY | O_NOFOLLOW, the last part with flags | O_NOFOLLOW
 * (and O_CLOEXEC; mode 0644 with O_CREAT). A file descriptor, or -errno
 * (-ELOOP: a link, or a non-folder on the way). */
int fl_openat_beneath(int dirfd, const char *rel, int flags);
/* Open rel inside dirfd (as fl_openat_beneath) for reading, only if it is
 * a regular file: opened O_NONBLOCK, so a FIFO or device is refused at
 * once instead of blocking. FLINC_OK with *fd, or FLINC_EINVAL (a link, a
 * FIFO, a folder, a device, a socket), FLINC_ENOENT or FLINC_EIO with a
 * line naming `display` (never the file's contents). */
int fl_open_regular_at(int dirfd, const char *rel, const char *display, int *fd, char *err, size_t errcap);
/* Open the folder path, refusing a symbolic link as its last part
 * (trailing slashes ignored: they would make open follow it). A file
 * descriptor or -errno (-ELOOP for a link, -ENOTDIR). */
int fl_open_dir_nofollow(const char *path);
/* Does path name root or something under it? Compared by name, after
 * removing repeated and trailing slashes; a path with a "." or ".."
 * component is never inside. root may also match in its resolved form
 * (realpath). Nothing is opened under root. On true, rel (relcap bytes)
 * holds the part after root ("" for root itself). */
bool fl_path_inside(const char *root, const char *path, char *rel, size_t relcap);
/* Every part of rel that exists under the folder root is a folder and
 * not a symbolic link (parts that do not exist yet, root too, are fine). FLINC_OK,
 * or FLINC_EINVAL/FLINC_EIO with a line naming rel only. */
int fl_check_no_links(const char *root, const char *rel, char *err, size_t errcap);

#endif
