/* fs.c - local file helpers of fl_fs.h. */
#include "fl_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fl_base.h"

#define ERR(rc, ...) fl_errf(err, errcap, (rc), __VA_ARGS__)

int fl_mkdir_p(const char *path, char *err, size_t errcap)
{
	char buf[4096];
	size_t n = path ? strlen(path) : 0;
	if (n == 0 || n >= sizeof(buf)) return ERR(FLINC_EINVAL, "bad folder path (empty or too long)");
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p) continue;
		char c = *p;
		*p = 0;
		if (mkdir(buf, 0755) < 0) {
			struct stat st;
			/* Name the whole path, and the part that failed if
			 * it is a parent. */
			bool whole = !c;
			if (errno != EEXIST)
				return ERR(FLINC_EIO, "%s: cannot create folder%s%s: %s", path,
					   whole ? "" : " ", whole ? "" : buf, strerror(errno));
			if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode))
				return ERR(FLINC_EIO,
					   "%s: cannot create folder: %s exists and is not a folder", path,
					   whole ? "it" : buf);
		}
		*p = c;
		if (!c) return FLINC_OK;
	}
}

int fl_mkdir_p_possible(const char *path, char *err, size_t errcap)
{
	char buf[4096];
	size_t n = path ? strlen(path) : 0;
	if (n == 0 || n >= sizeof(buf)) return ERR(FLINC_EINVAL, "bad folder path (empty or too long)");
	memcpy(buf, path, n + 1);
	while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
	/* The longest part that exists must be a folder; if it is not the
	 * whole path, one we may create folders in. */
	struct stat st;
	for (;;) {
		if (stat(buf, &st) == 0) {
			if (!S_ISDIR(st.st_mode))
				return ERR(FLINC_EIO,
					   "%s: cannot create folder: %s exists and is not a folder", path,
					   buf);
			if (!strcmp(buf, path) || (strlen(buf) == n && !strncmp(buf, path, n)))
				return FLINC_OK;
			struct statvfs vfs;
			if (access(buf, W_OK | X_OK) < 0 ||
			    (statvfs(buf, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)))
				return ERR(FLINC_EIO, "%s: cannot create folder in %s: %s", path, buf,
					   access(buf, W_OK | X_OK) < 0 ? strerror(errno)
									: "a read-only file system");
			return FLINC_OK;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			return ERR(FLINC_EIO, "%s: %s: %s", path, buf, strerror(errno));
		char *slash = strrchr(buf, '/');
		if (!slash) {
			snprintf(buf, sizeof(buf), ".");
		} else if (slash == buf) {
			buf[1] = 0;
		} else {
			*slash = 0;
		}
	}
}

/* Remove name in the folder dfd: unlink it, or empty and remove it when it
 * is a folder (opened with O_NOFOLLOW, so a link to a folder is unlinked,
 * not entered). top names the tree in messages. */
static int rm_at(int dfd, const char *name, const char *top, char *err, size_t errcap)
{
	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT) return 0;
	if (errno != EISDIR && errno != EPERM)
		return ERR(FLINC_EIO, "%s: cannot remove %s: %s", top, name, strerror(errno));
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return ERR(FLINC_EIO, "%s: cannot open %s: %s", top, name, strerror(errno));
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ERR(FLINC_EIO, "%s: cannot list %s: %s", top, name, strerror(errno));
	}
	int rc = 0;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		rc = rm_at(dirfd(d), de->d_name, top, err, errcap);
	}
	closedir(d);
	if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = ERR(FLINC_EIO, "%s: cannot remove folder %s: %s", top, name, strerror(errno));
	return rc;
}

int fl_rm_rf(const char *path, char *err, size_t errcap)
{
	if (!path || !*path) return FLINC_OK;
	return rm_at(AT_FDCWD, path, path, err, errcap);
}

char *fl_mkdtemp_in(const char *parent, const char *prefix)
{
	size_t n = strlen(parent) + strlen(prefix) + 8;
	char *p = fl_try_malloc(n);
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	snprintf(p, n, "%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(p)) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	return p;
}

const char *fl_local_base(const fl_conf *conf)
{
	const char *base = conf ? fl_conf_get(conf, "state.backend.rocksdb.localdir") : NULL;
	if (!base || !*base) base = getenv("TMPDIR");
	if (!base || !*base) base = "/tmp";
	return base;
}

char *fl_local_tmpdir(const fl_conf *conf, const char *prefix)
{
	const char *base = fl_local_base(conf);
	if (fl_mkdir_p(base, NULL, 0)) {
		errno = EIO;
		return NULL;
	}
	return fl_mkdtemp_in(base, prefix);
}

int fl_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fl_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR) continue;
			return -errno;
		}
		if (n == 0) return 1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* fsync what path names, opened with flags. */
static int sync_path(const char *path, int flags, const char *what, char *err, size_t errcap)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) return ERR(FLINC_EIO, "%s: cannot open %s to sync: %s", path, what, strerror(errno));
	int rc = 0;
	if (fsync(fd) < 0 && !((flags & O_DIRECTORY) && errno == EINVAL))
		rc = ERR(FLINC_EIO, "%s: fsync of %s failed: %s", path, what, strerror(errno));
	close(fd);
	return rc;
}

int fl_fsync_file(const char *path, char *err, size_t errcap)
{
	return sync_path(path, O_RDONLY, "file", err, errcap);
}

int fl_fsync_dir(const char *dir, char *err, size_t errcap)
{
	return sync_path(dir, O_RDONLY | O_DIRECTORY, "folder", err, errcap);
}

int fl_fsync_parent(const char *path, char *err, size_t errcap)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) < sizeof(dir))
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	else
		return ERR(FLINC_EINVAL, "path too long to sync its folder");
	return fl_fsync_dir(dir, err, errcap);
}

enum { COPY_BUF = 1 << 16 };

/* Up to `limit` bytes of in to out, from their file positions: in the
 * kernel (copy_file_range, which may share extents) where it can, else by
 * read and write. *copied says how many (fewer than limit: in ended). */
static int copy_fd(int in, int out, uint64_t limit, uint64_t *copied, const char *src, const char *dst,
		   char *err, size_t errcap)
{
	char *buf = NULL;
	bool kernel = true;
	int rc = 0;
	uint64_t done = 0;
	while (done < limit) {
		size_t want = limit - done < ((size_t)1 << 30) ? (size_t)(limit - done) : (size_t)1 << 30;
		ssize_t n;
		if (kernel) {
			n = copy_file_range(in, NULL, out, NULL, want, 0);
			if (n < 0 &&
			    (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
			     errno == EPERM)) {
				kernel = false;
				continue;
			}
			if (n < 0 && errno == EINTR) continue;
			if (n < 0) {
				rc = ERR(FLINC_EIO, "%s: copy to %s failed: %s", src, dst, strerror(errno));
				break;
			}
			if (n == 0) break;
			done += (uint64_t)n;
			continue;
		}
		if (!buf && !(buf = fl_try_malloc(COPY_BUF))) {
			rc = ERR(FLINC_ENOMEM, "%s: out of memory", dst);
			break;
		}
		n = read(in, buf, want < COPY_BUF ? want : COPY_BUF);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			rc = ERR(FLINC_EIO, "%s: read failed: %s", src, strerror(errno));
			break;
		}
		if (n == 0) break;
		int e = fl_write_all(out, buf, (size_t)n);
		if (e) {
			rc = ERR(FLINC_EIO, "%s: write failed: %s", dst, strerror(-e));
			break;
		}
		done += (uint64_t)n;
	}
	free(buf);
	*copied = done;
	return rc;
}

int fl_copy_prefix(int in, int out, uint64_t len, char *err, size_t errcap)
{
	uint64_t copied;
	int rc = copy_fd(in, out, len, &copied, "the source", "the copy", err, errcap);
	if (!rc && copied < len)
		rc = ERR(FLINC_EIO, "the source ended after %llu of %llu bytes", (unsigned long long)copied,
			 (unsigned long long)len);
	return rc;
}

int fl_copy_file(const char *src, const char *dst, unsigned flags, char *err, size_t errcap)
{
	int in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) {
		int e = errno;
		return ERR(e == ENOENT          ? FLINC_ENOENT
				   : e == ELOOP ? FLINC_EINVAL
						: FLINC_EIO,
			   "%s: cannot open: %s", src, e == ELOOP ? "a symbolic link" : strerror(e));
	}
	struct stat st;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return ERR(FLINC_EINVAL, "%s: not a regular file", src);
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0) {
		int e = errno;
		close(in);
		return ERR(e == EEXIST ? FLINC_EEXIST : FLINC_EIO, "%s: cannot create: %s", dst, strerror(e));
	}
	uint64_t copied;
	int rc = copy_fd(in, out, UINT64_MAX, &copied, src, dst, err, errcap);
	close(in);
	if (!rc && (flags & FL_COPY_SYNC) && fsync(out) < 0)
		rc = ERR(FLINC_EIO, "%s: fsync failed: %s", dst, strerror(errno));
	if (close(out) < 0 && !rc) rc = ERR(FLINC_EIO, "%s: close failed: %s", dst, strerror(errno));
	if (rc) unlink(dst);
	return rc;
}

bool fl_relpath_ok(const char *p)
{
	if (!p || !*p || *p == '/') return false;
	for (const char *s = p;;) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) return false;
		if (!e) return true;
		s = e + 1;
	}
}

/* The next component of a relative path at *p: its length (0 at the end),
 * *p moved past it and its slash. -1 for an empty, "." or ".." one. */
static int next_component(const char **p, const char **comp)
{
	const char *s = *p;
	if (!*s) return 0;
	const char *e = strchr(s, '/');
	size_t n = e ? (size_t)(e - s) : strlen(s);
	if (n == 0 || n >= 256 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return -1;
	*comp = s;
	*p = e ? e + 1 : s + n;
	if (e && !e[1]) return -1; /* a trailing slash */
	return (int)n;
}

int fl_openat_beneath(int dirfd, const char *rel, int flags)
{
	if (!rel || *rel == '/') return -EINVAL;
	if (!*rel) {
		int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
		return fd < 0 ? -errno : fd;
	}
	const char *p = rel, *comp = NULL;
	int cur = dirfd, n;
	char name[256];
	while ((n = next_component(&p, &comp)) > 0) {
		memcpy(name, comp, (size_t)n);
		name[n] = 0;
		bool last = !*p;
		int fd = openat(cur, name,
				last ? flags | O_NOFOLLOW | O_CLOEXEC
				     : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
				0644);
		int e = errno;
		struct stat st;
		/* With O_DIRECTORY a link fails as ENOTDIR: tell the two apart. */
		if (fd < 0 && (e == ENOTDIR || e == ELOOP))
			e = fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)
				? ELOOP
				: ENOTDIR;
		if (cur != dirfd) close(cur);
		if (fd < 0) return -e;
		if (last) return fd;
		cur = fd;
	}
	if (cur != dirfd) close(cur);
	return -EINVAL;
}

/* What st is, for a refusal. */
static const char *file_kind(const struct stat *st)
{
	if (S_ISFIFO(st->st_mode)) return "a FIFO";
	if (S_ISDIR(st->st_mode)) return "a folder";
	if (S_ISSOCK(st->st_mode)) return "a socket";
	if (S_ISLNK(st->st_mode)) return "a symbolic link";
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) return "a device";
	return "not a plain file";
}

int fl_open_regular_at(int dirfd, const char *rel, const char *display, int *fd, char *err, size_t errcap)
{
	*fd = -1;
	/* The folder holding it, then a look at it before it is opened: a
	 * device or FIFO is never opened at all. */
	const char *slash = rel ? strrchr(rel, '/') : NULL;
	const char *name = slash ? slash + 1 : rel;
	char dir[4096];
	int pfd;
	if (!rel || !*name || (slash && (size_t)(slash - rel) >= sizeof dir))
		return ERR(FLINC_EINVAL, "%s: not a file path", display);
	if (slash) {
		memcpy(dir, rel, (size_t)(slash - rel));
		dir[slash - rel] = 0;
		pfd = fl_openat_beneath(dirfd, dir, O_RDONLY | O_DIRECTORY);
	} else {
		pfd = fl_openat_beneath(dirfd, "", 0);
	}
	if (pfd < 0) {
		int e = -pfd;
		if (e == ELOOP)
			return ERR(FLINC_EINVAL, "%s: a folder on its way is a symbolic link (refused)",
				   display);
		return ERR(e == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot open: %s", display,
			   strerror(e));
	}
	struct stat st;
	int rc = FLINC_OK;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		int e = errno;
		rc = ERR(e == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot open: %s", display, strerror(e));
	} else if (!S_ISREG(st.st_mode)) {
		rc = ERR(FLINC_EINVAL, "%s: %s, not a regular file (refused)", display, file_kind(&st));
	} else if ((*fd = openat(pfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		int e = errno;
		rc = ERR(e == ENOENT          ? FLINC_ENOENT
				 : e == ELOOP ? FLINC_EINVAL
					      : FLINC_EIO,
			 "%s: cannot open: %s", display,
			 e == ELOOP ? "a symbolic link (refused)" : strerror(e));
	} else if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) { /* replaced meanwhile */
		close(*fd);
		*fd = -1;
		rc = ERR(FLINC_EINVAL, "%s: not a regular file (refused)", display);
	} else {
		int fl = fcntl(*fd, F_GETFL);
		if (fl >= 0) fcntl(*fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	close(pfd);
	return rc;
}

/* path without trailing slashes into buf ("/" stays "/"). */
static bool strip_slashes(char *buf, size_t cap, const char *path)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/') n--;
	if (n == 0 || n >= cap) return false;
	memcpy(buf, path, n);
	buf[n] = 0;
	return true;
}

int fl_open_dir_nofollow(const char *path)
{
	char buf[4096];
	if (!path || !strip_slashes(buf, sizeof buf, path)) return -EINVAL;
	int fd = open(buf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) return fd;
	int e = errno;
	struct stat st;
	if (e == ENOTDIR || e == ELOOP) e = lstat(buf, &st) == 0 && S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
	return -e;
}

/* A clean copy of path into buf: no repeated or trailing slashes. False
 * when it has a "." or ".." component or does not fit. */
static bool clean_path(char *buf, size_t cap, const char *path)
{
	size_t o = 0;
	for (const char *s = path; *s;) {
		if (*s == '/') {
			if (o == 0 || buf[o - 1] != '/') {
				if (o + 1 >= cap) return false;
				buf[o++] = '/';
			}
			s++;
			continue;
		}
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return false;
		if (o + n + 1 >= cap) return false;
		memcpy(buf + o, s, n);
		o += n;
		s += n;
	}
	while (o > 1 && buf[o - 1] == '/') o--;
	buf[o] = 0;
	return o > 0;
}

/* rel of path under the clean root r, or NULL. */
static const char *under(const char *r, const char *path)
{
	size_t rl = strlen(r);
	if (!strcmp(r, "/")) return path[0] == '/' ? path + 1 : NULL;
	if (strncmp(path, r, rl)) return NULL;
	if (!path[rl]) return path + rl;
	return path[rl] == '/' ? path + rl + 1 : NULL;
}

bool fl_path_inside(const char *root, const char *path, char *rel, size_t relcap)
{
	char r[4096], p[4096], real[PATH_MAX];
	if (!root || !*root || !path || !*path || !clean_path(p, sizeof p, path)) return false;
	if (!clean_path(r, sizeof r, root)) {
		/* a root with "." or ".." in it: only its resolved form counts */
		if (!realpath(root, real)) return false;
		snprintf(r, sizeof r, "%s", real);
	}
	const char *rest = under(r, p);
	if (!rest && realpath(root, real)) rest = under(real, p);
	if (!rest || strlen(rest) >= relcap) return false;
	snprintf(rel, relcap, "%s", rest);
	return true;
}

int fl_check_no_links(const char *root, const char *rel, char *err, size_t errcap)
{
	int cur = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cur < 0 && errno == ENOENT) return FLINC_OK; /* made by flinc when first used */
	if (cur < 0) return ERR(FLINC_EIO, "%s: cannot open: %s", root, strerror(errno));
	const char *p = rel, *comp = NULL;
	char name[256];
	int n, rc = FLINC_OK;
	while ((n = next_component(&p, &comp)) > 0) {
		memcpy(name, comp, (size_t)n);
		name[n] = 0;
		int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(cur);
		cur = -1;
		if (fd < 0) {
			if (e == ENOENT) return FLINC_OK; /* the rest is made by flinc, as folders */
			return ERR(FLINC_EINVAL, "%s: %s", rel,
				   e == ELOOP || e == ENOTDIR
					   ? "a part of it is a symbolic link or not a folder"
					   : strerror(e));
		}
		cur = fd;
	}
	if (cur >= 0) close(cur);
	if (n < 0) rc = ERR(FLINC_EINVAL, "%s: not a clean relative path", rel);
	return rc;
}
