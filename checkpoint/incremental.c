/*
 * incremental.c - incremental checkpoints of the RocksDB backend: upload of
 * a native checkpoint folder into checkpoint storage (SST files once into
 * shared/, the rest per checkpoint), rebuilding such a folder for restore,
 * and garbage collection of shared/.
 *
 * Crash safety. A checkpoint is complete when its _metadata is written
 * (meta.c), which happens after every upload of it returned, so a crash
 * during an upload leaves files that no completed checkpoint lists: a
 * private folder in an incomplete chk-<n> (fl_chk_retain removes it), and
 * maybe new files in shared/ (fl_incr_gc removes them). Files in shared/
 * are created under their final name only by link(2), which is atomic, or
 * by a copy into a new file (O_EXCL) that the process removes if the copy
 * fails; a crash in the middle of a copy leaves a partial file under its
 * final name, but under a token no later registry has, referenced nowhere,
 * so it is never read and gc removes it. Nothing is ever written over an
 * existing file of shared/: a completed checkpoint may be using it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flinc/error.h>

#include "chk_internal.h"
#include "fl_checkpoint.h"
#include "incremental.h"

#define ERR(rc, ...) fl_errf(err, errcap, (rc), __VA_ARGS__)
#define PATH_MAX_ 4096
#define COPY_BUF ((size_t)1 << 20)
#define SHARED_LIST_MAX ((size_t)64 << 20) /* a SHARED file larger than this is corrupt */
#define TOKEN_TRIES 4                      /* new tokens tried when a shared name is taken */

/* One SST file: its local name, where it is in shared/ (relative to the
 * job folder), its size and CRC32C (has_crc false: a list written before
 * checksums were recorded). */
typedef struct entry {
	char *name;
	char *path;
	uint64_t size;
	uint32_t crc;
	bool has_crc;
} entry;

struct fl_incr_registry {
	entry *v; /* sorted by name */
	size_t n;
	char token[FL_INCR_TOKEN_LEN + 1];
};

/* ---- small helpers -------------------------------------------------------- */

static void new_token(char *tok)
{
	uint8_t r[FL_INCR_TOKEN_LEN / 2];
	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* no entropy yet: time, pid and a counter are unique enough here */
		static _Atomic uint64_t seq;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 36) ^
			(seq++ * 0x9e3779b97f4a7c15ull);
		memcpy(r, &x, sizeof(r));
	}
	for (size_t i = 0; i < sizeof(r); i++) snprintf(tok + 2 * i, 3, "%02x", r[i]);
}

static void entries_free(entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].path);
	}
	free(v);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static const entry *reg_find(const fl_incr_registry *reg, const char *name)
{
	entry key = { .name = (char *)name };
	return reg->n ? bsearch(&key, reg->v, reg->n, sizeof(entry), entry_cmp) : NULL;
}

/* A growable array of entries. */
typedef struct entries {
	entry *v;
	size_t n, cap;
} entries;

static bool entries_add(entries *a, const char *name, const char *path, uint64_t size, uint32_t crc,
			bool has_crc)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		entry *p = fl_try_realloc(a->v, cap * sizeof(*p));
		if (!p) return false;
		a->v = p, a->cap = cap;
	}
	entry *e = &a->v[a->n];
	e->name = fl_try_strdup(name);
	e->path = fl_try_strdup(path);
	e->size = size;
	e->crc = crc;
	e->has_crc = has_crc;
	if (!e->name || !e->path) {
		free(e->name), free(e->path);
		return false;
	}
	a->n++;
	return true;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* A local file name: one path component that SHARED can hold (no white
 * space) and that is not hidden, "." or "..". */
static bool name_ok(const char *s)
{
	if (!*s || *s == '.') return false;
	for (; *s; s++)
		if (*s == '/' || *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') return false;
	return true;
}

/* "<a>/<b>" into buf; false if it does not fit. */
static bool join(char *buf, size_t cap, const char *a, const char *b)
{
	int n = snprintf(buf, cap, "%s/%s", a, b);
	return n >= 0 && (size_t)n < cap;
}

/* Put src at the new name dst: a hard link, or a copy when linking fails
 * (another file system, no hard links, too many links). FLINC_EEXIST if
 * dst exists. *copied tells which. */
static int link_or_copy(const char *src, const char *dst, bool sync, bool *copied, char *err, size_t errcap)
{
	*copied = false;
	if (link(src, dst) == 0) return 0;
	if (errno == EEXIST) return ERR(FLINC_EEXIST, "%s: already exists", dst);
	if (errno == ENOENT && access(src, F_OK) < 0)
		return ERR(FLINC_ENOENT, "%s: cannot read: %s", src, strerror(errno));
	*copied = true;
	return fl_copy_file(src, dst, sync ? FL_COPY_SYNC : 0, err, errcap);
}

/* The regular files of folder `dir`, sorted by name, with their sizes.
 * Refuses names that name_ok rejects and anything but regular files. */
typedef struct lfile {
	char *name;
	uint64_t size;
} lfile;

typedef struct listing {
	lfile *v;
	size_t n;
} listing;

static void listing_free(listing *l)
{
	for (size_t i = 0; i < l->n; i++) free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int lfile_cmp(const void *a, const void *b)
{
	return strcmp(((const lfile *)a)->name, ((const lfile *)b)->name);
}

static int list_dir(const char *dir, listing *l, char *err, size_t errcap)
{
	memset(l, 0, sizeof(*l));
	DIR *d = opendir(dir);
	if (!d)
		return ERR(errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot list: %s", dir,
			   strerror(errno));
	int rc = 0;
	size_t cap = 0;
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d))) {
		const char *s = de->d_name;
		if (!strcmp(s, ".") || !strcmp(s, "..")) continue;
		if (!name_ok(s)) {
			rc = ERR(FLINC_EINVAL, "%s: unexpected file name '%s'", dir, s);
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rc = ERR(FLINC_EIO, "%s/%s: cannot stat: %s", dir, s, strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			rc = ERR(FLINC_EINVAL, "%s/%s: not a regular file", dir, s);
			break;
		}
		if (l->n == cap) {
			cap = cap ? cap * 2 : 32;
			lfile *p = fl_try_realloc(l->v, cap * sizeof(*p));
			if (!p) {
				rc = ERR(FLINC_ENOMEM, "%s: out of memory", dir);
				break;
			}
			l->v = p;
		}
		if (!(l->v[l->n].name = fl_try_strdup(s))) {
			rc = ERR(FLINC_ENOMEM, "%s: out of memory", dir);
			break;
		}
		l->v[l->n++].size = (uint64_t)st.st_size;
	}
	if (!rc && errno) rc = ERR(FLINC_EIO, "%s: cannot list: %s", dir, strerror(errno));
	closedir(d);
	if (rc)
		listing_free(l);
	else if (l->n > 1)
		qsort(l->v, l->n, sizeof(lfile), lfile_cmp);
	return rc;
}

/* ---- the registry ----------------------------------------------------------- */

fl_incr_registry *fl_incr_registry_create(void)
{
	fl_incr_registry *reg = fl_try_calloc(1, sizeof(*reg));
	if (reg) new_token(reg->token);
	return reg;
}

void fl_incr_registry_destroy(fl_incr_registry *reg)
{
	if (!reg) return;
	entries_free(reg->v, reg->n);
	free(reg);
}

void fl_incr_registry_reset(fl_incr_registry *reg)
{
	entries_free(reg->v, reg->n);
	reg->v = NULL;
	reg->n = 0;
	new_token(reg->token);
}

const char *fl_incr_registry_token(const fl_incr_registry *reg) { return reg->token; }

size_t fl_incr_registry_count(const fl_incr_registry *reg) { return reg->n; }

/* Replace reg's entries by a (sorted here; reg takes them). */
static void reg_replace(fl_incr_registry *reg, entries *a)
{
	if (a->n > 1) qsort(a->v, a->n, sizeof(entry), entry_cmp);
	entries_free(reg->v, reg->n);
	reg->v = a->v;
	reg->n = a->n;
	memset(a, 0, sizeof(*a));
}

/* Add (or update) the entries of a to reg, best effort (out of memory:
 * the registry just knows less). a keeps its entries. */
static void reg_merge(fl_incr_registry *reg, const entries *a)
{
	entries m = { 0 };
	for (size_t i = 0; i < reg->n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < a->n && !replaced; j++)
			replaced = !strcmp(a->v[j].name, reg->v[i].name);
		if (!replaced &&
		    !entries_add(&m, reg->v[i].name, reg->v[i].path, reg->v[i].size, reg->v[i].crc,
				 reg->v[i].has_crc))
			goto oom;
	}
	for (size_t j = 0; j < a->n; j++)
		if (!entries_add(&m, a->v[j].name, a->v[j].path, a->v[j].size, a->v[j].crc, a->v[j].has_crc))
			goto oom;
	reg_replace(reg, &m);
	return;
oom:
	entries_free(m.v, m.n);
}

/* CRC32C of the whole file `path`, which must be `size` bytes long. */
static int file_crc(const char *path, uint64_t size, uint32_t *crc, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR(errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot read: %s", path,
			   strerror(errno));
	enum { BUF = 1 << 20 };
	uint8_t *buf = fl_try_malloc(BUF);
	if (!buf) {
		close(fd);
		return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	}
	uint32_t c = 0;
	uint64_t got = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, BUF);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) {
			rc = ERR(FLINC_EIO, "%s: read failed: %s", path, strerror(errno));
			break;
		}
		if (n == 0) break;
		c = fl_crc32c(c, buf, (size_t)n);
		got += (uint64_t)n;
	}
	free(buf);
	close(fd);
	if (!rc && got != size)
		rc = ERR(FLINC_ECODEC, "%s: %" PRIu64 " bytes, expected %" PRIu64 " (truncated or replaced)",
			 path, got, size);
	*crc = c;
	return rc;
}

/* ---- upload ------------------------------------------------------------------- */

void fl_incr_result_free(fl_incr_result *res)
{
	if (!res) return;
	for (size_t i = 0; i < res->n_shared; i++) free(res->shared[i]);
	free(res->shared);
	memset(res, 0, sizeof(*res));
}

/* Is the recorded shared file of e still there, whole? */
static bool shared_intact(const char *jobdir, const entry *e)
{
	char path[PATH_MAX_];
	struct stat st;
	return join(path, sizeof(path), jobdir, e->path) && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
		(uint64_t)st.st_size == e->size;
}

/* Put local SST `src` (named name) into shared/<owner>/ under reg's token;
 * on a name clash, take a new token and try again. *relout gets the path
 * relative to jobdir. */
static int put_shared(fl_incr_registry *reg, const char *src, const char *name, const char *jobdir,
		      const char *owner, char *relout, size_t relcap, bool *copied, char *err, size_t errcap)
{
	char dst[PATH_MAX_];
	int rc = FLINC_EEXIST;
	for (int t = 0; t < TOKEN_TRIES && rc == FLINC_EEXIST; t++) {
		if (t) new_token(reg->token); /* a file of another instance has this name */
		int n = snprintf(relout, relcap, "shared/%s/%s-%s", owner, reg->token, name);
		if (n < 0 || (size_t)n >= relcap || !join(dst, sizeof(dst), jobdir, relout))
			return ERR(FLINC_EINVAL, "%s/shared/%s: path too long for %s", jobdir, owner, name);
		rc = link_or_copy(src, dst, true, copied, err, errcap);
		/* a linked file may still have dirty pages (RocksDB syncs its
		 * files, but that is RocksDB's choice): sync it here */
		if (!rc && !*copied) rc = fl_fsync_file(dst, err, errcap);
	}
	return rc;
}

static int write_shared_list(const char *path, const entries *used, uint64_t *bytes, char *err, size_t errcap)
{
	size_t cap = 64, len = 0;
	for (size_t i = 0; i < used->n; i++) cap += strlen(used->v[i].path) + strlen(used->v[i].name) + 34;
	char *text = fl_try_malloc(cap);
	if (!text) return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	for (size_t i = 0; i < used->n; i++) {
		len += (size_t)snprintf(text + len, cap - len, "%s %s %" PRIu64, used->v[i].path,
					used->v[i].name, used->v[i].size);
		if (used->v[i].has_crc)
			len += (size_t)snprintf(text + len, cap - len, " %08" PRIx32, used->v[i].crc);
		text[len++] = '\n';
		text[len] = 0;
	}
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ERR(FLINC_EIO, "%s: cannot create: %s", path, strerror(errno));
		goto out;
	}
	int e = fl_write_all(fd, text, len);
	if (e)
		rc = ERR(FLINC_EIO, "%s: write failed: %s", path, strerror(-e));
	else if (fsync(fd) < 0)
		rc = ERR(FLINC_EIO, "%s: fsync failed: %s", path, strerror(errno));
	if (close(fd) < 0 && !rc) rc = ERR(FLINC_EIO, "%s: close failed: %s", path, strerror(errno));
	*bytes = len;
out:
	free(text);
	return rc;
}

int fl_incr_upload(fl_incr_registry *reg, const char *native, const char *jobdir, const char *chkdir,
		   const char *rel, const char *owner, fl_incr_result *res, char *err, size_t errcap)
{
	if (res) memset(res, 0, sizeof(*res));
	if (!reg || !native || !jobdir || !chkdir || !res)
		return ERR(FLINC_EINVAL, "incremental upload: missing argument");
	if (!fl_relpath_ok(rel))
		return ERR(FLINC_EINVAL, "%s: bad folder name '%s' for the checkpoint's files", chkdir,
			   rel ? rel : "(null)");
	if (!owner || !name_ok(owner))
		return ERR(FLINC_EINVAL, "%s/shared: bad owner folder name '%s'", jobdir,
			   owner ? owner : "(null)");

	char priv[PATH_MAX_], path[PATH_MAX_], src[PATH_MAX_], relp[PATH_MAX_];
	if (!join(priv, sizeof(priv), chkdir, rel) || !join(path, sizeof(path), priv, FL_INCR_SHARED_LIST))
		return ERR(FLINC_EINVAL, "%s: path too long", chkdir);
	struct stat st;
	if (lstat(priv, &st) == 0) return ERR(FLINC_EEXIST, "%s: already exists (uploaded before?)", priv);

	listing l;
	int rc = list_dir(native, &l, err, errcap);
	if (rc) return rc;
	entries used = { 0 }, fresh = { 0 };
	bool made_priv = false, made_owner = false;
	fl_incr_result r = { 0 };
	size_t n_sst = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (ends_with(l.v[i].name, ".sst"))
			n_sst++;
		else if (!strcmp(l.v[i].name, FL_INCR_SHARED_LIST)) {
			rc = ERR(FLINC_EINVAL, "%s/%s: a native checkpoint file may not be named so", native,
				 l.v[i].name);
			goto fail;
		}
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/shared/%s", jobdir, owner) >= sizeof(path)) {
		rc = ERR(FLINC_EINVAL, "%s: path too long", jobdir);
		goto fail;
	}
	if (n_sst && (rc = fl_mkdir_p(path, err, errcap))) goto fail;

	/* SST files: reuse or put into shared/ */
	for (size_t i = 0; i < l.n; i++) {
		const char *name = l.v[i].name;
		if (!ends_with(name, ".sst")) continue;
		const entry *known = reg_find(reg, name);
		if (known && known->size == l.v[i].size && shared_intact(jobdir, known)) {
			if (!entries_add(&used, name, known->path, known->size, known->crc, known->has_crc)) {
				rc = ERR(FLINC_ENOMEM, "%s: out of memory", native);
				goto fail;
			}
			r.bytes_reused += known->size;
			r.files_reused++;
			continue;
		}
		if (!join(src, sizeof(src), native, name)) {
			rc = ERR(FLINC_EINVAL, "%s: path too long for %s", native, name);
			goto fail;
		}
		bool copied = false;
		uint32_t crc = 0;
		if ((rc = file_crc(src, l.v[i].size, &crc, err, errcap))) goto fail;
		rc = put_shared(reg, src, name, jobdir, owner, relp, sizeof(relp), &copied, err, errcap);
		if (rc) goto fail;
		made_owner = true;
		if (!entries_add(&fresh, name, relp, l.v[i].size, crc, true) ||
		    !entries_add(&used, name, relp, l.v[i].size, crc, true)) {
			rc = ERR(FLINC_ENOMEM, "%s: out of memory", native);
			goto fail;
		}
		r.bytes_new += l.v[i].size;
		r.bytes_copied += copied ? l.v[i].size : 0;
		r.files_new++;
	}
	/* the new names in shared/<owner>/, and the folders if just made */
	if (made_owner) {
		if (!join(src, sizeof(src), jobdir, "shared")) {
			rc = ERR(FLINC_EINVAL, "%s: path too long", jobdir);
			goto fail;
		}
		if ((rc = fl_fsync_dir(path, err, errcap)) || (rc = fl_fsync_dir(src, err, errcap)) ||
		    (rc = fl_fsync_dir(jobdir, err, errcap)))
			goto fail;
	}

	/* the private files */
	if ((rc = fl_mkdir_p(priv, err, errcap))) goto fail;
	made_priv = true;
	for (size_t i = 0; i < l.n; i++) {
		const char *name = l.v[i].name;
		if (ends_with(name, ".sst")) continue;
		if (!join(src, sizeof(src), native, name) || !join(path, sizeof(path), priv, name)) {
			rc = ERR(FLINC_EINVAL, "%s: path too long for %s", priv, name);
			goto fail;
		}
		if ((rc = fl_copy_file(src, path, FL_COPY_SYNC, err, errcap))) goto fail;
		r.bytes_private += l.v[i].size;
		r.files_private++;
	}
	if (!join(path, sizeof(path), priv, FL_INCR_SHARED_LIST)) {
		rc = ERR(FLINC_EINVAL, "%s: path too long", priv);
		goto fail;
	}
	uint64_t listed = 0;
	if ((rc = write_shared_list(path, &used, &listed, err, errcap))) goto fail;
	r.bytes_private += listed;
	r.files_private++;
	/* the private folder's entries, the folder's own entry in its parent,
	 * and the chk-<n> folder's in the job folder (if just created) */
	if ((rc = fl_fsync_dir(priv, err, errcap)) || (rc = fl_fsync_parent(priv, err, errcap)) ||
	    (rc = fl_fsync_parent(chkdir, err, errcap)))
		goto fail;

	r.shared = fl_try_calloc(used.n ? used.n : 1, sizeof(char *));
	if (!r.shared) {
		rc = ERR(FLINC_ENOMEM, "%s: out of memory", native);
		goto fail;
	}
	for (size_t i = 0; i < used.n; i++) {
		if (!(r.shared[i] = fl_try_strdup(used.v[i].path))) {
			rc = ERR(FLINC_ENOMEM, "%s: out of memory", native);
			goto fail;
		}
		r.n_shared = i + 1;
	}
	*res = r;
	reg_replace(reg, &used);
	entries_free(fresh.v, fresh.n);
	listing_free(&l);
	return 0;

fail:
	fl_incr_result_free(&r);
	if (made_priv) fl_rm_rf(priv, NULL, 0);
	/* what went into shared/ is whole: the next upload may reuse it */
	reg_merge(reg, &fresh);
	entries_free(fresh.v, fresh.n);
	entries_free(used.v, used.n);
	listing_free(&l);
	return rc;
}

/* ---- materialize ------------------------------------------------------------------ */

/* Read and parse a SHARED list into a (sorted by name). */
static int read_shared_list(const char *path, entries *a, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ERR(errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot read: %s", path,
			   strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ERR(FLINC_EIO, "%s: cannot stat: %s", path, strerror(e));
	}
	if ((uint64_t)st.st_size > SHARED_LIST_MAX) {
		close(fd);
		return ERR(FLINC_ECODEC, "%s: corrupt: %lld bytes is too large for a list of shared files",
			   path, (long long)st.st_size);
	}
	size_t len = (size_t)st.st_size;
	char *text = fl_try_malloc(len + 1);
	if (!text) {
		close(fd);
		return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	}
	int e = fl_pread_all(fd, text, len, 0);
	close(fd);
	if (e) {
		free(text);
		return ERR(e > 0 ? FLINC_ECODEC : FLINC_EIO, "%s: read failed: %s", path,
			   e > 0 ? "file shrank" : strerror(-e));
	}
	text[len] = 0;
	int rc = 0, line = 0;
	memset(a, 0, sizeof(*a));
	for (char *s = text; *s && !rc;) {
		line++;
		char *nl = strchr(s, '\n');
		if (!nl) {
			rc = ERR(FLINC_ECODEC, "%s:%d: corrupt: last line is not terminated (truncated?)",
				 path, line);
			break;
		}
		*nl = 0;
		char *p = s, *name = NULL, *size = NULL, *crcs = NULL, *end = NULL, *cend = NULL;
		char *sp1 = strchr(p, ' ');
		if (sp1) {
			*sp1 = 0;
			name = sp1 + 1;
			char *sp2 = strchr(name, ' ');
			if (sp2) {
				*sp2 = 0;
				size = sp2 + 1;
				char *sp3 = strchr(size, ' ');
				if (sp3) {
					*sp3 = 0;
					crcs = sp3 + 1;
				}
			}
		}
		errno = 0;
		unsigned long long v = size && *size >= '0' && *size <= '9' ? strtoull(size, &end, 10) : 0;
		unsigned long crc = crcs && strlen(crcs) == 8 && isxdigit((unsigned char)*crcs)
			? strtoul(crcs, &cend, 16)
			: 0;
		if (!size || !end || *end || errno || !fl_relpath_ok(p) || strncmp(p, "shared/", 7) ||
		    !name_ok(name) || (crcs && (!cend || *cend)))
			rc = ERR(FLINC_ECODEC,
				 "%s:%d: corrupt: expected \"shared/<path> <name> <size> [<crc32c>]\"", path,
				 line);
		else if (!entries_add(a, name, p, v, (uint32_t)crc, crcs != NULL))
			rc = ERR(FLINC_ENOMEM, "%s: out of memory", path);
		s = nl + 1;
	}
	free(text);
	if (!rc && a->n > 1) {
		qsort(a->v, a->n, sizeof(entry), entry_cmp);
		for (size_t i = 1; i < a->n && !rc; i++)
			if (!strcmp(a->v[i - 1].name, a->v[i].name))
				rc = ERR(FLINC_ECODEC, "%s: corrupt: '%s' is listed twice", path,
					 a->v[i].name);
	}
	if (rc) {
		entries_free(a->v, a->n);
		memset(a, 0, sizeof(*a));
	}
	return rc;
}

/* The shared file of entry e (listed in <priv>/SHARED) as <jobdir>/<path>:
 * it must exist with the listed size, and with `crc` (when the list has
 * one) the listed CRC32C. Its path goes into path. */
static int check_shared(const char *jobdir, const char *priv, const entry *e, bool crc, char *path,
			size_t pathcap, char *err, size_t errcap)
{
	struct stat st;
	if (!join(path, pathcap, jobdir, e->path))
		return ERR(FLINC_EINVAL, "%s: path too long for %s", jobdir, e->path);
	if (stat(path, &st) < 0)
		return ERR(errno == ENOENT ? FLINC_ENOENT : FLINC_EIO,
			   "%s: shared file of %s/" FL_INCR_SHARED_LIST " is missing: %s", path, priv,
			   strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size)
		return ERR(FLINC_ECODEC,
			   "%s: size %lld, %s/" FL_INCR_SHARED_LIST " says %" PRIu64
			   " (truncated or replaced)",
			   path, S_ISREG(st.st_mode) ? (long long)st.st_size : -1LL, priv, e->size);
	if (!crc || !e->has_crc) return 0;
	uint32_t c = 0;
	int rc = file_crc(path, e->size, &c, err, errcap);
	if (!rc && c != e->crc)
		rc = ERR(FLINC_ECODEC,
			 "%s: corrupt: checksum %08" PRIx32 ", %s/" FL_INCR_SHARED_LIST " says %08" PRIx32,
			 path, c, priv, e->crc);
	return rc;
}

int fl_incr_materialize(fl_incr_registry *reg, const char *jobdir, const char *chkdir, const char *rel,
			const char *localdir, char *err, size_t errcap)
{
	if (!jobdir || !chkdir || !localdir || !*localdir)
		return ERR(FLINC_EINVAL, "incremental restore: missing argument");
	if (!fl_relpath_ok(rel))
		return ERR(FLINC_EINVAL, "%s: bad folder name '%s' for the checkpoint's files", chkdir,
			   rel ? rel : "(null)");
	char priv[PATH_MAX_], path[PATH_MAX_], dst[PATH_MAX_];
	if (!join(priv, sizeof(priv), chkdir, rel) || !join(path, sizeof(path), priv, FL_INCR_SHARED_LIST))
		return ERR(FLINC_EINVAL, "%s: path too long", chkdir);
	entries list = { 0 };
	int rc = read_shared_list(path, &list, err, errcap);
	if (rc) return rc;
	listing l = { 0 };
	if ((rc = list_dir(priv, &l, err, errcap))) goto out;
	if (mkdir(localdir, 0755) < 0) {
		int e = errno;
		rc = ERR(e == EEXIST           ? FLINC_EEXIST
				 : e == ENOENT ? FLINC_ENOENT
					       : FLINC_EIO,
			 "%s: cannot create folder: %s", localdir, strerror(e));
		goto out;
	}
	for (size_t i = 0; i < list.n && !rc; i++) {
		const entry *e = &list.v[i];
		if (!join(dst, sizeof(dst), localdir, e->name))
			rc = ERR(FLINC_EINVAL, "%s: path too long for %s", localdir, e->name);
		else if (!(rc = check_shared(jobdir, priv, e, false, path, sizeof(path), err, errcap))) {
			bool copied = false;
			rc = link_or_copy(path, dst, false, &copied, err, errcap);
		}
	}
	for (size_t i = 0; i < l.n && !rc; i++) {
		if (!strcmp(l.v[i].name, FL_INCR_SHARED_LIST)) continue;
		if (!join(path, sizeof(path), priv, l.v[i].name) ||
		    !join(dst, sizeof(dst), localdir, l.v[i].name))
			rc = ERR(FLINC_EINVAL, "%s: path too long for %s", localdir, l.v[i].name);
		else if ((rc = fl_copy_file(path, dst, 0, err, errcap)) == FLINC_EEXIST)
			rc = ERR(FLINC_ECODEC,
				 "%s: '%s' is both a private file and listed in " FL_INCR_SHARED_LIST, priv,
				 l.v[i].name);
	}
	if (rc) {
		fl_rm_rf(localdir, NULL, 0);
		goto out;
	}
	if (reg) {
		reg_replace(reg, &list);
		new_token(reg->token);
	}
out:
	listing_free(&l);
	entries_free(list.v, list.n);
	return rc;
}

int fl_incr_verify(const char *jobdir, const char *chkdir, const char *rel, bool crc, char *err,
		   size_t errcap)
{
	if (!jobdir || !chkdir || !fl_relpath_ok(rel))
		return ERR(FLINC_EINVAL, "%s: bad folder name '%s' for the checkpoint's files",
			   chkdir ? chkdir : "?", rel ? rel : "(null)");
	char priv[PATH_MAX_], path[PATH_MAX_];
	if (!join(priv, sizeof(priv), chkdir, rel) || !join(path, sizeof(path), priv, FL_INCR_SHARED_LIST))
		return ERR(FLINC_EINVAL, "%s: path too long", chkdir);
	entries list = { 0 };
	int rc = read_shared_list(path, &list, err, errcap);
	for (size_t i = 0; i < list.n && !rc; i++)
		rc = check_shared(jobdir, priv, &list.v[i], crc, path, sizeof(path), err, errcap);
	entries_free(list.v, list.n);
	return rc;
}

/* ---- garbage collection ------------------------------------------------------------ */

typedef struct gc_ctx {
	const char *jobdir;
	char **keep; /* sorted */
	size_t nkeep;
	fl_chk_log_fn log;
	void *logud;
	uint64_t files, bytes, kept;
	char *err;
	size_t errcap;
} gc_ctx;

/* Collect folder `rel` (relative to the job folder, opened as fd, which
 * this takes). *empty tells whether it holds nothing now. */
static int gc_dir(gc_ctx *g, int fd, const char *rel, bool *empty)
{
	char *err = g->err;
	size_t errcap = g->errcap;
	*empty = false;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return ERR(FLINC_EIO, "%s/%s: cannot list: %s", g->jobdir, rel, strerror(errno));
	}
	int rc = 0;
	size_t left = 0;
	char sub[PATH_MAX_];
	struct dirent *de;
	while (!rc && (errno = 0, de = readdir(d))) {
		const char *s = de->d_name;
		if (!strcmp(s, ".") || !strcmp(s, "..")) continue;
		if (!join(sub, sizeof(sub), rel, s)) {
			left++; /* cannot be listed in _metadata either; leave it */
			continue;
		}
		struct stat st;
		if (fstatat(dirfd(d), s, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT) continue;
			rc = ERR(FLINC_EIO, "%s/%s: cannot stat: %s", g->jobdir, sub, strerror(errno));
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int cfd = openat(dirfd(d), s, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				rc = ERR(FLINC_EIO, "%s/%s: cannot open: %s", g->jobdir, sub,
					 strerror(errno));
				break;
			}
			bool sub_empty;
			rc = gc_dir(g, cfd, sub, &sub_empty);
			if (rc) break;
			if (!sub_empty) {
				left++;
				continue;
			}
			if (unlinkat(dirfd(d), s, AT_REMOVEDIR) < 0) {
				rc = ERR(FLINC_EIO, "%s/%s: cannot remove empty folder: %s", g->jobdir, sub,
					 strerror(errno));
				break;
			}
			fl__chk_logf(g->log, g->logud, "removing empty shared folder %s/%s", g->jobdir, sub);
			continue;
		}
		char *key = sub;
		if (g->nkeep && bsearch(&key, g->keep, g->nkeep, sizeof(char *), str_cmp)) {
			g->kept++;
			left++;
			continue;
		}
		if (unlinkat(dirfd(d), s, 0) < 0 && errno != ENOENT) {
			rc = ERR(FLINC_EIO, "%s/%s: cannot remove: %s", g->jobdir, sub, strerror(errno));
			break;
		}
		g->files++;
		g->bytes += (uint64_t)st.st_size;
		fl__chk_logf(g->log, g->logud,
			     "removing shared file %s/%s (%lld bytes): no completed checkpoint uses it",
			     g->jobdir, sub, (long long)st.st_size);
	}
	if (!rc && errno) rc = ERR(FLINC_EIO, "%s/%s: cannot list: %s", g->jobdir, rel, strerror(errno));
	closedir(d);
	*empty = !rc && left == 0;
	return rc;
}

int fl_incr_gc(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap)
{
	if (!jobdir) return ERR(FLINC_EINVAL, "shared file collection: no job folder");
	char shared[PATH_MAX_], dir[PATH_MAX_];
	if (!join(shared, sizeof(shared), jobdir, "shared"))
		return ERR(FLINC_EINVAL, "%s: path too long", jobdir);
	int sfd = open(shared, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		if (errno == ENOENT) return 0;
		return ERR(FLINC_EIO, "%s: cannot open: %s", shared, strerror(errno));
	}

	/* everything a completed checkpoint lists */
	int64_t *ids = NULL;
	size_t nids = 0, cap = 0;
	gc_ctx g = { .jobdir = jobdir, .log = log, .logud = logud, .err = err, .errcap = errcap };
	int rc = fl_chk_list(jobdir, &ids, &nids, err, errcap);
	for (size_t i = 0; i < nids && !rc; i++) {
		fl_chk_meta m;
		char why[1024] = "";
		fl_chk_dir(dir, sizeof(dir), jobdir, ids[i]);
		int mrc = fl_chk_meta_read(dir, &m, why, sizeof(why));
		if (mrc == FLINC_ENOENT || mrc == FLINC_ECODEC) continue; /* not a completed checkpoint */
		if (mrc) {
			rc = ERR(mrc,
				 "%s: not collecting shared files: cannot read a checkpoint's metadata: %s",
				 shared, why);
			break;
		}
		if (g.nkeep + m.n_shared > cap) {
			size_t ncap = cap * 2 > g.nkeep + m.n_shared ? cap * 2 : g.nkeep + m.n_shared + 64;
			char **p = fl_try_realloc(g.keep, ncap * sizeof(char *));
			if (!p) {
				fl_chk_meta_free(&m);
				rc = ERR(FLINC_ENOMEM, "%s: out of memory", shared);
				break;
			}
			g.keep = p, cap = ncap;
		}
		/* take the strings over from the metadata (none: g.keep may
		 * still be NULL, and memcpy from or to NULL is undefined even
		 * for 0 bytes) */
		if (m.n_shared) memcpy(g.keep + g.nkeep, m.shared, m.n_shared * sizeof(char *));
		g.nkeep += m.n_shared;
		m.n_shared = 0;
		fl_chk_meta_free(&m);
	}
	free(ids);
	if (rc) {
		close(sfd);
		goto out;
	}
	if (g.nkeep > 1) qsort(g.keep, g.nkeep, sizeof(char *), str_cmp);
	bool empty;
	rc = gc_dir(&g, sfd, "shared", &empty);
	if (!rc)
		fl__chk_logf(log, logud,
			     "shared files of %s: removed %" PRIu64 " (%" PRIu64 " bytes), %" PRIu64
			     " in use by completed checkpoints",
			     jobdir, g.files, g.bytes, g.kept);
out:
	for (size_t i = 0; i < g.nkeep; i++) free(g.keep[i]);
	free(g.keep);
	return rc;
}
