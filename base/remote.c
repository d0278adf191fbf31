/* remote.c - the local mirror of remote folders (fl_store.h, "the
 * mirror"): s3://B/P is worked on in <root>/B/P and pushed to or pulled
 * from the bucket at the points the callers choose. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
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
#include "fl_store.h"

#define INTERN_MAX 4096 /* distinct remote folders a process names */

static const char *const s3_keys[] = { "s3.endpoint", "s3.region", "s3.access-key", "s3.secret-key",
				       "s3.path-style-access" };

static struct {
	pthread_mutex_t mu;
	fl_conf *conf; /* the s3.* keys */
	char base[PATH_MAX];
	char root[PATH_MAX]; /* "" until made */
	size_t rootlen;
	char *interned[INTERN_MAX];
	size_t n_interned;
	bool atexit_set;
} R = { .mu = PTHREAD_MUTEX_INITIALIZER };

int fl_remote_init(const fl_conf *conf, char *err, size_t errcap)
{
	(void)err;
	(void)errcap;
	pthread_mutex_lock(&R.mu);
	if (!R.conf) R.conf = fl_conf_create();
	for (size_t i = 0; i < FL_ARRAY_LEN(s3_keys); i++) {
		const char *v = conf ? fl_conf_get(conf, s3_keys[i]) : NULL;
		if (v) fl_conf_set(R.conf, s3_keys[i], v);
	}
	if (!R.root[0]) snprintf(R.base, sizeof R.base, "%s", fl_local_base(conf));
	pthread_mutex_unlock(&R.mu);
	return FLINC_OK;
}

void fl_remote_shutdown(void)
{
	pthread_mutex_lock(&R.mu);
	if (R.root[0]) fl_rm_rf(R.root, NULL, 0);
	R.root[0] = 0;
	R.rootlen = 0;
	pthread_mutex_unlock(&R.mu);
}

static void at_exit(void) { fl_remote_shutdown(); }

/* The mirror root, made on first use. Lock held. */
static int root_locked(char *err, size_t errcap)
{
	if (R.root[0]) return FLINC_OK;
	if (!R.base[0]) snprintf(R.base, sizeof R.base, "%s", fl_local_base(NULL));
	int rc = fl_mkdir_p(R.base, err, errcap);
	if (rc) return rc;
	char *d = fl_mkdtemp_in(R.base, "flinc-s3-");
	if (!d)
		return fl_errf(err, errcap, FLINC_EIO, "%s: cannot make the S3 mirror folder: %s", R.base,
			       strerror(errno));
	snprintf(R.root, sizeof R.root, "%s", d);
	R.rootlen = strlen(R.root);
	free(d);
	if (!R.atexit_set) {
		atexit(at_exit);
		R.atexit_set = true;
	}
	return FLINC_OK;
}

const char *fl_remote_localize(const char *path, char *err, size_t errcap)
{
	if (!fl_store_is_s3(path)) return path;
	char bucket[64], p[2048];
	if (fl_s3_parse_url(path, bucket, sizeof bucket, p, sizeof p, err, errcap)) return NULL;
	pthread_mutex_lock(&R.mu);
	const char *out = NULL;
	if (!root_locked(err, errcap)) {
		char twin[PATH_MAX];
		int m = snprintf(twin, sizeof twin, "%s/%s%s%s", R.root, bucket, *p ? "/" : "", p);
		if (m < 0 || (size_t)m >= sizeof twin) {
			fl_errf(err, errcap, FLINC_EINVAL, "%.200s: too long", path);
		} else {
			for (size_t i = 0; i < R.n_interned && !out; i++)
				if (!strcmp(R.interned[i], twin)) out = R.interned[i];
			if (!out && R.n_interned < INTERN_MAX) {
				out = R.interned[R.n_interned++] = fl_strdup(twin);
			} else if (!out) {
				fl_errf(err, errcap, FLINC_ERANGE,
					"%.200s: more than %d remote folders in one process", path,
					INTERN_MAX);
			}
		}
	}
	pthread_mutex_unlock(&R.mu);
	if (out) fl_mkdir_p(out, NULL, 0); /* the twin folder exists, as a local one would be made */
	return out;
}

/* If local is a twin: bucket (into b) and key (into k; "" for the bucket). */
static bool split(const char *local, char *b, size_t bcap, char *k, size_t kcap)
{
	pthread_mutex_lock(&R.mu);
	bool in = R.root[0] && !strncmp(local, R.root, R.rootlen) && local[R.rootlen] == '/';
	size_t rl = R.rootlen;
	pthread_mutex_unlock(&R.mu);
	if (!in) return false;
	const char *rest = local + rl + 1;
	const char *sl = strchr(rest, '/');
	size_t bn = sl ? (size_t)(sl - rest) : strlen(rest);
	if (!bn || bn >= bcap) return false;
	memcpy(b, rest, bn);
	b[bn] = 0;
	const char *key = sl ? sl + 1 : "";
	size_t kn = strlen(key);
	while (kn && key[kn - 1] == '/') kn--;
	if (kn >= kcap) return false;
	memcpy(k, key, kn);
	k[kn] = 0;
	return true;
}

bool fl_remote_is(const char *local)
{
	char b[64], k[PATH_MAX];
	return local && split(local, b, sizeof b, k, sizeof k);
}

const char *fl_remote_url(const char *local, char *buf, size_t cap)
{
	char b[64], k[PATH_MAX];
	if (local && split(local, b, sizeof b, k, sizeof k))
		snprintf(buf, cap, "s3://%s%s%s", b, *k ? "/" : "", k);
	else
		snprintf(buf, cap, "%s", local ? local : "");
	return buf;
}

/* The store of local's bucket and local's key; FLINC_ENOENT: not a twin. */
static int open_for(const char *local, fl_store **st, char *key, size_t kcap, char *err, size_t errcap)
{
	char b[64], url[80];
	if (!split(local, b, sizeof b, key, kcap)) return FLINC_ENOENT;
	snprintf(url, sizeof url, "s3://%s", b);
	pthread_mutex_lock(&R.mu);
	int rc = fl_store_open(url, R.conf, st, err, errcap);
	pthread_mutex_unlock(&R.mu);
	return rc;
}

static bool skip_name(const char *name)
{
	size_t n = strlen(name);
	return strstr(name, ".tmp-") || (n >= 4 && !strcmp(name + n - 4, ".tmp"));
}

static int push_tree(fl_store *st, const char *local, const char *key, char *err, size_t errcap)
{
	struct stat sb;
	if (lstat(local, &sb) != 0)
		return fl_errf(err, errcap, errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: %s", local,
			       strerror(errno));
	if (S_ISREG(sb.st_mode)) return fl_store_put_file(st, key, local, err, errcap);
	if (!S_ISDIR(sb.st_mode)) return FLINC_OK; /* links and the like are never uploaded */
	DIR *d = opendir(local);
	if (!d) return fl_errf(err, errcap, FLINC_EIO, "%s: %s", local, strerror(errno));
	int rc = FLINC_OK;
	struct dirent *de;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || skip_name(de->d_name)) continue;
		char p2[PATH_MAX], k2[PATH_MAX];
		snprintf(p2, sizeof p2, "%s/%s", local, de->d_name);
		snprintf(k2, sizeof k2, "%s%s%s", key, *key ? "/" : "", de->d_name);
		rc = push_tree(st, p2, k2, err, errcap);
	}
	closedir(d);
	return rc;
}

int fl_remote_push(const char *local, char *err, size_t errcap)
{
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return FLINC_OK;
	if (rc) return rc;
	rc = push_tree(st, local, key, err, errcap);
	fl_store_close(st);
	return rc;
}

int fl_remote_pull(const char *local, size_t *n, char *err, size_t errcap)
{
	if (n) *n = 0;
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return FLINC_OK;
	if (rc) return rc;
	fl_store_obj *objs = NULL;
	size_t cnt = 0;
	rc = fl_store_list(st, key, &objs, &cnt, err, errcap);
	if (!rc && !cnt) {
		char url[PATH_MAX];
		rc = fl_errf(err, errcap, FLINC_ENOENT, "%s: no such object or folder",
			     fl_remote_url(local, url, sizeof url));
	}
	/* local names key; the other objects are under it */
	size_t klen = strlen(key), llen = strlen(local);
	while (llen && local[llen - 1] == '/') llen--;
	for (size_t i = 0; i < cnt && !rc; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%.*s%s%s", (int)llen, local, klen ? "" : "/",
			 objs[i].key + klen);
		struct stat sb;
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == objs[i].size)
			continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s", path);
		char *sl = strrchr(dir, '/');
		if (sl) *sl = 0;
		rc = fl_mkdir_p(dir, err, errcap);
		if (!rc) {
			unlink(path);
			rc = fl_store_get_file(st, objs[i].key, path, err, errcap);
		}
		if (!rc && n) (*n)++;
	}
	fl_store_objs_free(objs, cnt);
	fl_store_close(st);
	return rc;
}

int fl_remote_remove(const char *local, char *err, size_t errcap)
{
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return FLINC_OK;
	if (rc) return rc;
	rc = fl_store_delete_prefix(st, key, NULL, err, errcap);
	fl_store_close(st);
	return rc;
}

int fl_remote_exists(const char *local, uint64_t *size, char *err, size_t errcap)
{
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return fl_errf(err, errcap, FLINC_EINVAL, "%s: not a remote path", local);
	if (rc) return rc;
	rc = fl_store_exists(st, key, size, err, errcap);
	fl_store_close(st);
	return rc;
}

int fl_remote_list(const char *local, char ***paths, uint64_t **sizes, size_t *n, char *err, size_t errcap)
{
	*paths = NULL;
	if (sizes) *sizes = NULL;
	*n = 0;
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return fl_errf(err, errcap, FLINC_EINVAL, "%s: not a remote path", local);
	if (rc) return rc;
	fl_store_obj *objs = NULL;
	size_t cnt = 0;
	rc = fl_store_list(st, key, &objs, &cnt, err, errcap);
	fl_store_close(st);
	if (rc) return rc;
	size_t klen = strlen(key), llen = strlen(local);
	while (llen && local[llen - 1] == '/') llen--;
	char **pv = fl_try_calloc(cnt ? cnt : 1, sizeof *pv);
	uint64_t *sv = fl_try_calloc(cnt ? cnt : 1, sizeof *sv);
	if (!pv || !sv) rc = fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
	for (size_t i = 0; i < cnt && !rc; i++) {
		pv[i] = fl_try_malloc(llen + strlen(objs[i].key + klen) + 2);
		if (!pv[i]) {
			rc = fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
			break;
		}
		sprintf(pv[i], "%.*s%s%s", (int)llen, local, klen ? "" : "/", objs[i].key + klen);
		sv[i] = objs[i].size;
	}
	fl_store_objs_free(objs, cnt);
	if (rc) {
		for (size_t i = 0; pv && i < cnt; i++) free(pv[i]);
		free(pv);
		free(sv);
		return rc;
	}
	*paths = pv;
	if (sizes)
		*sizes = sv;
	else
		free(sv);
	*n = cnt;
	return FLINC_OK;
}

int fl_remote_probe(const char *local, char *err, size_t errcap)
{
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return FLINC_OK;
	if (rc) return rc;
	uint8_t r[6] = { 0 };
	fl_random_bytes(r, sizeof r);
	char probe[PATH_MAX + 32];
	snprintf(probe, sizeof probe, "%s%s.flinc-probe-%02x%02x%02x%02x%02x%02x", key, *key ? "/" : "", r[0],
		 r[1], r[2], r[3], r[4], r[5]);
	rc = fl_store_put_buf(st, probe, "", 0, err, errcap);
	if (!rc) rc = fl_store_delete_prefix(st, probe, NULL, err, errcap);
	fl_store_close(st);
	return rc;
}

int fl_remote_get(const char *local, char *err, size_t errcap)
{
	fl_store *st;
	char key[PATH_MAX];
	int rc = open_for(local, &st, key, sizeof key, err, errcap);
	if (rc == FLINC_ENOENT) return fl_errf(err, errcap, FLINC_EINVAL, "%s: not a remote path", local);
	if (rc) return rc;
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s", local);
	char *sl = strrchr(dir, '/');
	if (sl) *sl = 0;
	rc = fl_mkdir_p(dir, err, errcap);
	if (!rc) {
		unlink(local);
		rc = fl_store_get_file(st, key, local, err, errcap);
	}
	fl_store_close(st);
	return rc;
}
