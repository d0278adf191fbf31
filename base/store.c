/* store.c - object storage (fl_store.h): the handle, key checks, the POSIX
 * implementation. The S3 implementation is in store_s3.c, the mirror in
 * remote.c. */
#include "fl_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/error.h>

#include "fl_alloc.h"
#include "fl_auth.h"
#include "fl_base.h"
#include "fl_fs.h"

struct fl_store {
	const fl_store_ops *ops;
	char *root;
	void *priv;
};

bool fl_store_is_s3(const char *path) { return path && !strncmp(path, "s3://", 5); }

bool fl_store_key_ok(const char *key)
{
	if (!key || !*key || key[0] == '/') return false;
	const char *p = key;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) return false;
		if (!e) return true;
		p = e + 1;
	}
}

static bool prefix_ok(const char *p) { return p && (!*p || fl_store_key_ok(p)); }

int fl_store_open(const char *root, const fl_conf *conf, fl_store **out, char *err, size_t errcap)
{
	*out = NULL;
	if (!root || !*root) return fl_errf(err, errcap, FLINC_EINVAL, "storage root: empty");
	const fl_store_ops *ops = fl_store_is_s3(root) ? &fl_store_s3_ops : &fl_store_posix_ops;
	fl_store *s = fl_try_calloc(1, sizeof *s);
	if (!s) return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", root);
	s->ops = ops;
	s->root = fl_try_strdup(root);
	s->priv = fl_try_calloc(1, ops->priv_size ? ops->priv_size : 1);
	if (!s->root || !s->priv) {
		free(s->root);
		free(s->priv);
		free(s);
		return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", root);
	}
	int rc = ops->open(s->priv, root, conf, err, errcap);
	if (rc) {
		free(s->root);
		free(s->priv);
		free(s);
		return rc;
	}
	*out = s;
	return FLINC_OK;
}

void fl_store_close(fl_store *s)
{
	if (!s) return;
	s->ops->close(s->priv);
	free(s->priv);
	free(s->root);
	free(s);
}

const char *fl_store_root(const fl_store *s) { return s->root; }

#define BADKEY(k) fl_errf(err, errcap, FLINC_EINVAL, "%s: '%.200s' is not a valid object key", s->root, k)

int fl_store_put_file(fl_store *s, const char *key, const char *local, char *err, size_t errcap)
{
	if (!fl_store_key_ok(key)) return BADKEY(key);
	return s->ops->put_file(s->priv, key, local, err, errcap);
}

int fl_store_put_buf(fl_store *s, const char *key, const void *buf, size_t len, char *err, size_t errcap)
{
	if (!fl_store_key_ok(key)) return BADKEY(key);
	return s->ops->put_buf(s->priv, key, buf, len, err, errcap);
}

int fl_store_get_file(fl_store *s, const char *key, const char *local, char *err, size_t errcap)
{
	if (!fl_store_key_ok(key)) return BADKEY(key);
	return s->ops->get_file(s->priv, key, local, err, errcap);
}

int fl_store_get_buf(fl_store *s, const char *key, size_t max, void **buf, size_t *len, char *err,
		     size_t errcap)
{
	*buf = NULL;
	*len = 0;
	if (!fl_store_key_ok(key)) return BADKEY(key);
	return s->ops->get_buf(s->priv, key, max, buf, len, err, errcap);
}

int fl_store_list(fl_store *s, const char *prefix, fl_store_obj **objs, size_t *n, char *err, size_t errcap)
{
	*objs = NULL;
	*n = 0;
	if (!prefix_ok(prefix)) return BADKEY(prefix);
	return s->ops->list(s->priv, prefix, objs, n, err, errcap);
}

void fl_store_objs_free(fl_store_obj *objs, size_t n)
{
	for (size_t i = 0; objs && i < n; i++) free(objs[i].key);
	free(objs);
}

int fl_store_delete_prefix(fl_store *s, const char *prefix, size_t *n, char *err, size_t errcap)
{
	if (n) *n = 0;
	if (!prefix_ok(prefix)) return BADKEY(prefix);
	return s->ops->delete_prefix(s->priv, prefix, n, err, errcap);
}

int fl_store_exists(fl_store *s, const char *key, uint64_t *size, char *err, size_t errcap)
{
	if (!fl_store_key_ok(key)) return BADKEY(key);
	uint64_t sz = 0;
	int rc = s->ops->exists(s->priv, key, &sz, err, errcap);
	if (size) *size = sz;
	return rc;
}

/* ---- POSIX ------------------------------------------------------------- */

typedef struct posix {
	char root[PATH_MAX];
} posix;

static int px_open(void *priv, const char *root, const fl_conf *conf, char *err, size_t errcap)
{
	(void)conf;
	posix *p = priv;
	size_t n = strlen(root);
	while (n > 1 && root[n - 1] == '/') n--;
	if (n + 2 >= sizeof p->root) return fl_errf(err, errcap, FLINC_EINVAL, "%.200s: path too long", root);
	memcpy(p->root, root, n);
	p->root[n] = 0;
	return FLINC_OK;
}

static void px_close(void *priv) { (void)priv; }

static int px_path(const posix *p, const char *key, char *buf, size_t cap, char *err, size_t errcap)
{
	int m = *key ? snprintf(buf, cap, "%s/%s", p->root, key) : snprintf(buf, cap, "%s", p->root);
	if (m < 0 || (size_t)m >= cap)
		return fl_errf(err, errcap, FLINC_EINVAL, "%s/%.100s: path too long", p->root, key);
	return FLINC_OK;
}

/* mkdir -p of the folder holding path. */
static int parent_mkdir(const char *path, char *err, size_t errcap)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *sl = strrchr(dir, '/');
	if (!sl || sl == dir) return FLINC_OK;
	*sl = 0;
	return fl_mkdir_p(dir, err, errcap);
}

static void tmp_name(char *buf, size_t cap, const char *path)
{
	uint8_t r[6] = { 0 };
	fl_random_bytes(r, sizeof r);
	snprintf(buf, cap, "%s.tmp-%02x%02x%02x%02x%02x%02x", path, r[0], r[1], r[2], r[3], r[4], r[5]);
}

/* Copy src (a regular file) to dst whole or not at all. */
static int copy_atomic(const char *src, const char *dst, bool sync, char *err, size_t errcap)
{
	int rc = parent_mkdir(dst, err, errcap);
	if (rc) return rc;
	char tmp[PATH_MAX + 32];
	tmp_name(tmp, sizeof tmp, dst);
	rc = fl_copy_file(src, tmp, sync ? FL_COPY_SYNC : 0, err, errcap);
	if (rc) return rc;
	if (rename(tmp, dst) != 0) {
		int e = errno;
		unlink(tmp);
		return fl_errf(err, errcap, FLINC_EIO, "%s: cannot rename into place: %s", dst, strerror(e));
	}
	if (sync) return fl_fsync_parent(dst, err, errcap);
	return FLINC_OK;
}

static int px_put_file(void *priv, const char *key, const char *local, char *err, size_t errcap)
{
	char dst[PATH_MAX];
	int rc = px_path(priv, key, dst, sizeof dst, err, errcap);
	return rc ? rc : copy_atomic(local, dst, true, err, errcap);
}

static int px_put_buf(void *priv, const char *key, const void *buf, size_t len, char *err, size_t errcap)
{
	char dst[PATH_MAX], tmp[PATH_MAX + 32];
	int rc = px_path(priv, key, dst, sizeof dst, err, errcap);
	if (!rc) rc = parent_mkdir(dst, err, errcap);
	if (rc) return rc;
	tmp_name(tmp, sizeof tmp, dst);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) return fl_errf(err, errcap, FLINC_EIO, "%s: %s", tmp, strerror(errno));
	int w = fl_write_all(fd, buf, len);
	if (!w && fsync(fd) != 0) w = -errno;
	close(fd);
	if (!w && rename(tmp, dst) != 0) w = -errno;
	if (w) {
		unlink(tmp);
		return fl_errf(err, errcap, FLINC_EIO, "%s: %s", dst, strerror(-w));
	}
	return fl_fsync_parent(dst, err, errcap);
}

static int px_get_file(void *priv, const char *key, const char *local, char *err, size_t errcap)
{
	char src[PATH_MAX];
	int rc = px_path(priv, key, src, sizeof src, err, errcap);
	return rc ? rc : copy_atomic(src, local, false, err, errcap);
}

static int px_get_buf(void *priv, const char *key, size_t max, void **buf, size_t *len, char *err,
		      size_t errcap)
{
	char src[PATH_MAX];
	int rc = px_path(priv, key, src, sizeof src, err, errcap);
	if (rc) return rc;
	int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return fl_errf(err, errcap, errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: %s", src,
			       strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fl_errf(err, errcap, FLINC_EINVAL, "%s: not a regular file", src);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return fl_errf(err, errcap, FLINC_ERANGE, "%s: %lld bytes, more than %zu", src,
			       (long long)st.st_size, max);
	}
	char *b = fl_try_malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", src);
	}
	int r = st.st_size ? fl_pread_all(fd, b, (size_t)st.st_size, 0) : 0;
	close(fd);
	if (r) {
		free(b);
		return fl_errf(err, errcap, FLINC_EIO, "%s: %s", src,
			       r > 0 ? "shorter than it was" : strerror(-r));
	}
	b[st.st_size] = 0;
	*buf = b;
	*len = (size_t)st.st_size;
	return FLINC_OK;
}

typedef struct objvec {
	fl_store_obj *v;
	size_t n, cap;
} objvec;

static int objvec_add(objvec *o, const char *key, uint64_t size)
{
	if (o->n == o->cap) {
		size_t nc = o->cap ? o->cap * 2 : 64;
		fl_store_obj *nv = fl_try_realloc(o->v, nc * sizeof *nv);
		if (!nv) return FLINC_ENOMEM;
		o->v = nv;
		o->cap = nc;
	}
	char *k = fl_try_strdup(key);
	if (!k) return FLINC_ENOMEM;
	o->v[o->n++] = (fl_store_obj){ k, size };
	return FLINC_OK;
}

static int walk(const char *dir, const char *rel, objvec *o, char *err, size_t errcap)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) return FLINC_OK;
		return fl_errf(err, errcap, FLINC_EIO, "%s: %s", dir, strerror(errno));
	}
	int rc = FLINC_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (strstr(de->d_name, ".tmp-")) continue; /* a put in progress */
		char path[PATH_MAX], r2[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		snprintf(r2, sizeof r2, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		struct stat st;
		if (lstat(path, &st) != 0) continue;
		if (S_ISDIR(st.st_mode))
			rc = walk(path, r2, o, err, errcap);
		else if (S_ISREG(st.st_mode) && objvec_add(o, r2, (uint64_t)st.st_size))
			rc = fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", dir);
	}
	closedir(d);
	return rc;
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp(((const fl_store_obj *)a)->key, ((const fl_store_obj *)b)->key);
}

static int px_list(void *priv, const char *prefix, fl_store_obj **objs, size_t *n, char *err, size_t errcap)
{
	char path[PATH_MAX];
	int rc = px_path(priv, prefix, path, sizeof path, err, errcap);
	if (rc) return rc;
	objvec o = { 0 };
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && *prefix) {
		if (objvec_add(&o, prefix, (uint64_t)st.st_size))
			rc = fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", path);
	} else if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = walk(path, prefix, &o, err, errcap);
	}
	if (rc) {
		fl_store_objs_free(o.v, o.n);
		return rc;
	}
	if (o.n) qsort(o.v, o.n, sizeof *o.v, obj_cmp);
	*objs = o.v;
	*n = o.n;
	return FLINC_OK;
}

static int px_delete_prefix(void *priv, const char *prefix, size_t *n, char *err, size_t errcap)
{
	fl_store_obj *objs;
	size_t cnt;
	int rc = px_list(priv, prefix, &objs, &cnt, err, errcap);
	if (rc) return rc;
	char path[PATH_MAX];
	/* _metadata first: a checkpoint stops being complete before its
	 * files go */
	for (size_t i = 0; i < cnt; i++) {
		const char *b = strrchr(objs[i].key, '/');
		if (strcmp(b ? b + 1 : objs[i].key, "_metadata")) continue;
		px_path(priv, objs[i].key, path, sizeof path, NULL, 0);
		unlink(path);
	}
	for (size_t i = 0; i < cnt && !*prefix; i++) { /* the whole store: its keys, not the root */
		px_path(priv, objs[i].key, path, sizeof path, NULL, 0);
		if (unlink(path) != 0 && errno != ENOENT && !rc)
			rc = fl_errf(err, errcap, FLINC_EIO, "%s: %s", path, strerror(errno));
	}
	fl_store_objs_free(objs, cnt);
	if (!rc && *prefix) rc = px_path(priv, prefix, path, sizeof path, err, errcap);
	if (!rc && *prefix) rc = fl_rm_rf(path, err, errcap);
	if (n) *n = cnt;
	return rc;
}

static int px_exists(void *priv, const char *key, uint64_t *size, char *err, size_t errcap)
{
	char path[PATH_MAX];
	int rc = px_path(priv, key, path, sizeof path, err, errcap);
	if (rc) return rc;
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) return FLINC_ENOENT;
		return fl_errf(err, errcap, FLINC_EIO, "%s: %s", path, strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) return FLINC_ENOENT;
	*size = (uint64_t)st.st_size;
	return FLINC_OK;
}

const fl_store_ops fl_store_posix_ops = {
	.version = FL_STORE_OPS_VERSION,
	.scheme = "file",
	.priv_size = sizeof(posix),
	.open = px_open,
	.close = px_close,
	.put_file = px_put_file,
	.put_buf = px_put_buf,
	.get_file = px_get_file,
	.get_buf = px_get_buf,
	.list = px_list,
	.delete_prefix = px_delete_prefix,
	.exists = px_exists,
};
