/*
 * meta.c - _metadata (JSON), validation, listing, the latest completed
 * checkpoint with fallback, retention and savepoint disposal.
 *
 * A checkpoint is complete exactly when its folder has a _metadata that
 * parses: _metadata is written last (temporary file, fsync, rename, fsync
 * of the folder), and removed first when a checkpoint is deleted, so a
 * crash at any point leaves either a complete checkpoint or an incomplete
 * folder, never a _metadata naming files that are not all there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flinc/error.h>

#include "chk_internal.h"
#include "fl_checkpoint.h"
#include "incremental.h"

#define ERR(rc, ...) fl_errf(err, errcap, (rc), __VA_ARGS__)

/* A path stored in _metadata: relative, no "..", no empty components. */
static bool path_safe(const char *p)
{
	if (!p || !*p || p[0] == '/') return false;
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n == 0 || (n == 2 && s[0] == '.' && s[1] == '.') || (n == 1 && s[0] == '.')) return false;
		if (!e) break;
		s = e + 1;
		if (!*s) return false; /* trailing slash */
	}
	return true;
}

static bool shared_safe(const char *p) { return path_safe(p) && strncmp(p, "shared/", 7) == 0; }

void fl_chk_dir(char *buf, size_t cap, const char *jobdir, int64_t id)
{
	snprintf(buf, cap, "%s/chk-%" PRId64, jobdir, id);
}

/* ---- _metadata -------------------------------------------------------------- */

static json_t *meta_to_json(const fl_chk_meta *m)
{
	json_t *o = json_object(), *ops = json_array(), *files = json_array(), *shared = json_array();
	if (!o || !ops || !files || !shared) {
		json_decref(o), json_decref(ops), json_decref(files), json_decref(shared);
		return NULL;
	}
	char vx[24];
	json_object_set_new(o, "format", json_integer(FL_CHK_META_VERSION));
	json_object_set_new(o, "job_id", json_string(m->job_id));
	json_object_set_new(o, "checkpoint_id", json_integer(m->checkpoint_id));
	json_object_set_new(o, "is_savepoint", json_boolean(m->is_savepoint));
	json_object_set_new(o, "trigger_ts_ms", json_integer(m->trigger_ts_ms));
	json_object_set_new(o, "complete_ts_ms", json_integer(m->complete_ts_ms));
	json_object_set_new(o, "max_parallelism", json_integer(m->max_parallelism));
	json_object_set_new(o, "key_hash", json_string(fl_key_hash_name(m->key_hash)));
	json_object_set_new(o, "backend", json_string(m->backend));
	for (size_t i = 0; i < m->n_operators; i++) json_array_append_new(ops, json_string(m->operators[i]));
	json_object_set_new(o, "operators", ops);
	for (size_t i = 0; i < m->n_files; i++) {
		const fl_chk_file *f = &m->files[i];
		snprintf(vx, sizeof(vx), "%016" PRIx64, f->vertex_id);
		json_t *jf = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I}", "path", f->path, "vertex",
				       vx, "subtask", f->subtask, "parallelism", f->parallelism, "kg_first",
				       f->kg_first, "kg_last", f->kg_last, "size", (json_int_t)f->size,
				       "crc32c", (json_int_t)f->crc);
		if (jf && f->native) json_object_set_new(jf, "native", json_string(f->native));
		json_array_append_new(files, jf);
	}
	json_object_set_new(o, "files", files);
	for (size_t i = 0; i < m->n_shared; i++) json_array_append_new(shared, json_string(m->shared[i]));
	json_object_set_new(o, "shared", shared);
	return o;
}

int fl_chk_meta_write(const char *dir, const fl_chk_meta *m, char *err, size_t errcap)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/" FL_CHK_METADATA, dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (!memchr(m->job_id, 0, sizeof(m->job_id)) || !memchr(m->backend, 0, sizeof(m->backend)) ||
	    m->checkpoint_id < 0 || m->max_parallelism < 1 || m->max_parallelism > FL_SNAP_MAX_KG)
		return ERR(FLINC_EINVAL, "%s: invalid metadata (job id, checkpoint id or max parallelism)",
			   path);
	for (size_t i = 0; i < m->n_files; i++) {
		if (!path_safe(m->files[i].path))
			return ERR(FLINC_EINVAL,
				   "%s: file path '%s' is not relative to the checkpoint folder", path,
				   m->files[i].path ? m->files[i].path : "(null)");
		if (m->files[i].native && (m->is_savepoint || !path_safe(m->files[i].native)))
			return ERR(FLINC_EINVAL, "%s: native folder '%s' %s", path, m->files[i].native,
				   m->is_savepoint ? "in a savepoint (savepoints are canonical)"
						   : "is not relative to the checkpoint folder");
	}
	if (m->is_savepoint && m->n_shared)
		return ERR(FLINC_EINVAL, "%s: a savepoint must be self-contained (it lists %zu shared files)",
			   path, m->n_shared);
	for (size_t i = 0; i < m->n_shared; i++)
		if (!shared_safe(m->shared[i]))
			return ERR(FLINC_EINVAL, "%s: shared file '%s' is not under shared/", path,
				   m->shared[i] ? m->shared[i] : "(null)");
	for (size_t i = 0; i < m->n_operators; i++)
		if (!m->operators[i]) return ERR(FLINC_EINVAL, "%s: operator %zu has no uid", path, i);

	json_t *o = meta_to_json(m);
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!text) return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = ERR(FLINC_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	size_t n = strlen(text);
	text[n] = '\n'; /* replaces the NUL: written with its length */
	int e = fl_write_all(fd, text, n + 1);
	if (e)
		rc = ERR(FLINC_EIO, "%s: write failed: %s", tmp, strerror(-e));
	else if (fsync(fd) < 0)
		rc = ERR(FLINC_EIO, "%s: fsync failed: %s", tmp, strerror(errno));
	if (close(fd) < 0 && !rc) rc = ERR(FLINC_EIO, "%s: close failed: %s", tmp, strerror(errno));
	if (!rc && rename(tmp, path) < 0)
		rc = ERR(FLINC_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
	if (!rc) rc = fl_fsync_parent(path, err, errcap);
	if (rc) unlink(tmp);
out:
	free(text);
	return rc;
}

void fl_chk_meta_free(fl_chk_meta *m)
{
	if (!m) return;
	for (size_t i = 0; i < m->n_operators; i++) free(m->operators[i]);
	free(m->operators);
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].path);
		free(m->files[i].native);
	}
	free(m->files);
	for (size_t i = 0; i < m->n_shared; i++) free(m->shared[i]);
	free(m->shared);
	memset(m, 0, sizeof(*m));
}

/* Copy a JSON string array; false if o is not one (or out of memory). */
static bool str_array(json_t *a, char ***out, size_t *n, bool (*ok)(const char *))
{
	if (!json_is_array(a)) return false;
	size_t len = json_array_size(a);
	*out = fl_try_calloc(len ? len : 1, sizeof(char *));
	if (!*out) return false;
	for (size_t i = 0; i < len; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s || (ok && !ok(s)) || !((*out)[i] = fl_try_strdup(s))) return false;
		*n = i + 1;
	}
	return true;
}

/* Open a checkpoint or savepoint folder: a symbolic link is refused,
 * never followed. FLINC_OK with *fd, else the reason in err. */
static int open_folder(const char *dir, int *fd, char *err, size_t errcap)
{
	*fd = fl_open_dir_nofollow(dir);
	if (*fd >= 0) return FLINC_OK;
	int e = -*fd;
	*fd = -1;
	if (e == ELOOP)
		return ERR(FLINC_EINVAL, "%s: a symbolic link (refused: links are never followed)", dir);
	if (e == ENOTDIR) return ERR(FLINC_EINVAL, "%s: not a folder", dir);
	return ERR(e == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot open: %s", dir, strerror(e));
}

/* _metadata of the folder dirfd (named dir in messages) into m. */
static int meta_read_at(int dirfd, const char *dir, fl_chk_meta *m, char *err, size_t errcap)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/" FL_CHK_METADATA, dir);
	memset(m, 0, sizeof(*m));
	int fd;
	int rc = fl_open_regular_at(dirfd, FL_CHK_METADATA, path, &fd, err, errcap);
	if (rc) return rc;
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size > FL_CHK_META_MAX) {
		close(fd);
		return ERR(FLINC_ECODEC, "%s: corrupt: larger than %d MiB", path, FL_CHK_META_MAX >> 20);
	}
	size_t len = (size_t)st.st_size;
	char *text = fl_try_malloc(len ? len : 1);
	if (!text) {
		close(fd);
		return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	}
	int e = fl_pread_all(fd, text, len, 0);
	close(fd);
	if (e) {
		free(text);
		return e < 0 ? ERR(FLINC_EIO, "%s: cannot read: %s", path, strerror(-e))
			     : ERR(FLINC_ECODEC, "%s: corrupt: changed while read", path);
	}
	json_error_t je;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	/* Where, never what: the text may be any file's (a path a client named). */
	if (!o)
		return ERR(FLINC_ECODEC, "%s: corrupt: not valid JSON (line %d, column %d)", path, je.line,
			   je.column);
	const char *why = NULL;
	json_t *v;
	json_int_t fmt = json_integer_value(json_object_get(o, "format"));
	const char *job = json_string_value(json_object_get(o, "job_id"));
	const char *be = json_string_value(json_object_get(o, "backend"));
	if (!json_is_object(o))
		why = "not a JSON object";
	else if (fmt != FL_CHK_META_VERSION)
		why = "unknown or missing format version";
	else if (!job || strlen(job) >= sizeof(m->job_id))
		why = "missing or too long job_id";
	else if (!be || strlen(be) >= sizeof(m->backend))
		why = "missing or too long backend";
	else if (!json_is_integer(v = json_object_get(o, "checkpoint_id")) || json_integer_value(v) < 0)
		why = "missing checkpoint_id";
	else if (!json_is_boolean(json_object_get(o, "is_savepoint")))
		why = "missing is_savepoint";
	else if (!json_is_integer(v = json_object_get(o, "max_parallelism")) || json_integer_value(v) < 1 ||
		 json_integer_value(v) > FL_SNAP_MAX_KG)
		why = "missing or bad max_parallelism";
	else if ((v = json_object_get(o, "key_hash")) &&
		 !(json_is_string(v) && fl_key_hash_parse(json_string_value(v), &m->key_hash)))
		why = "unknown key_hash (this flinc knows xxh3 and murmur64a)";
	if (why) goto bad;
	/* written before XXH3: every key group came from MurmurHash64A */
	if (!json_object_get(o, "key_hash")) m->key_hash = FL_KEY_HASH_MURMUR64A;
	m->version = (uint32_t)fmt;
	snprintf(m->job_id, sizeof(m->job_id), "%s", job);
	snprintf(m->backend, sizeof(m->backend), "%s", be);
	m->checkpoint_id = json_integer_value(json_object_get(o, "checkpoint_id"));
	m->is_savepoint = json_is_true(json_object_get(o, "is_savepoint"));
	m->trigger_ts_ms = json_integer_value(json_object_get(o, "trigger_ts_ms"));
	m->complete_ts_ms = json_integer_value(json_object_get(o, "complete_ts_ms"));
	m->max_parallelism = (int)json_integer_value(json_object_get(o, "max_parallelism"));
	if (!str_array(json_object_get(o, "operators"), &m->operators, &m->n_operators, NULL)) {
		why = "bad operators list";
		goto bad;
	}
	if (!str_array(json_object_get(o, "shared"), &m->shared, &m->n_shared, shared_safe)) {
		why = "bad shared list (every entry must be a relative path under shared/)";
		goto bad;
	}
	if (m->is_savepoint && m->n_shared) {
		why = "a savepoint lists shared files";
		goto bad;
	}
	json_t *files = json_object_get(o, "files");
	if (!json_is_array(files)) {
		why = "missing files list";
		goto bad;
	}
	size_t nf = json_array_size(files);
	if (!(m->files = fl_try_calloc(nf ? nf : 1, sizeof(*m->files)))) {
		json_decref(o);
		fl_chk_meta_free(m);
		return ERR(FLINC_ENOMEM, "%s: out of memory", path);
	}
	for (size_t i = 0; i < nf; i++) {
		json_t *f = json_array_get(files, i);
		const char *p = NULL, *vx = NULL;
		json_int_t sub = -1, par = 0, kf = -1, kl = -1, size = -1, crc = -1;
		if (json_unpack(f, "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "path", &p, "vertex", &vx,
				"subtask", &sub, "parallelism", &par, "kg_first", &kf, "kg_last", &kl, "size",
				&size, "crc32c", &crc) < 0) {
			why = "a file entry lacks a field";
			goto bad;
		}
		char *end = NULL;
		uint64_t vid = strtoull(vx, &end, 16);
		if (!path_safe(p)) {
			why = "a file path is absolute or leaves the folder";
			goto bad;
		}
		if (!*vx || *end || sub < 0 || par < 1 || sub >= par || kf < 0 || kl < kf ||
		    kl >= m->max_parallelism || size < 0 || crc < 0 || crc > UINT32_MAX) {
			why = "a file entry has out-of-range fields";
			goto bad;
		}
		fl_chk_file *cf = &m->files[i];
		if (!(cf->path = fl_try_strdup(p))) {
			json_decref(o);
			fl_chk_meta_free(m);
			return ERR(FLINC_ENOMEM, "%s: out of memory", path);
		}
		m->n_files = i + 1;
		json_t *jn = json_object_get(f, "native");
		if (jn && (!json_is_string(jn) || !path_safe(json_string_value(jn)) || m->is_savepoint)) {
			why = "a native folder is not a relative path inside the folder (or is in a savepoint)";
			goto bad;
		}
		if (jn && !(cf->native = fl_try_strdup(json_string_value(jn)))) {
			json_decref(o);
			fl_chk_meta_free(m);
			return ERR(FLINC_ENOMEM, "%s: out of memory", path);
		}
		cf->vertex_id = vid;
		cf->subtask = (int)sub;
		cf->parallelism = (int)par;
		cf->kg_first = (int)kf;
		cf->kg_last = (int)kl;
		cf->size = (uint64_t)size;
		cf->crc = (uint32_t)crc;
	}
	json_decref(o);
	return 0;
bad:
	json_decref(o);
	fl_chk_meta_free(m);
	return ERR(FLINC_ECODEC, "%s: corrupt: %s", path, why);
}

int fl_chk_meta_read(const char *dir, fl_chk_meta *m, char *err, size_t errcap)
{
	memset(m, 0, sizeof(*m));
	int dfd;
	int rc = open_folder(dir, &dfd, err, errcap);
	if (rc) return rc;
	rc = meta_read_at(dfd, dir, m, err, errcap);
	close(dfd);
	return rc;
}

/* ---- validation -------------------------------------------------------------- */

int fl_chk_validate(const char *dir, fl_chk_check level, char *err, size_t errcap)
{
	fl_chk_meta m;
	memset(&m, 0, sizeof(m));
	int dfd;
	int rc = open_folder(dir, &dfd, err, errcap);
	if (rc) return rc;
	rc = meta_read_at(dfd, dir, &m, err, errcap);
	if (rc || level == FL_CHK_CHECK_META) goto out;
	char path[4096];
	for (size_t i = 0; i < m.n_files && !rc; i++) {
		const fl_chk_file *f = &m.files[i];
		snprintf(path, sizeof(path), "%s/%s", dir, f->path);
		/* Inside the folder only: no link on the way, a regular file. */
		int fd;
		rc = fl_open_regular_at(dfd, f->path, path, &fd, err, errcap);
		if (rc == FLINC_ENOENT)
			rc = ERR(FLINC_ENOENT, "%s: listed in _metadata but %s", path, strerror(ENOENT));
		if (rc) break;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			rc = ERR(FLINC_EIO, "%s: cannot stat: %s", path, strerror(errno));
			close(fd);
			break;
		}
		if ((uint64_t)st.st_size != f->size) {
			rc = ERR(FLINC_ECODEC, "%s: size %llu, _metadata says %llu (truncated or replaced)",
				 path, (unsigned long long)st.st_size, (unsigned long long)f->size);
			close(fd);
			break;
		}
		fl_snap_reader *r;
		rc = fl_snap_reader_openfd(&r, fd, path,
					   level == FL_CHK_CHECK_FULL ? FL_SNAP_VERIFY_FILE
								      : FL_SNAP_VERIFY_SECTIONS,
					   err, errcap);
		if (rc) break;
		fl_snap_info info;
		fl_snap_reader_info(r, &info);
		const fl_snap_header *h = fl_snap_reader_header(r);
		if (info.crc != f->crc)
			rc = ERR(FLINC_ECODEC, "%s: checksum %08x, _metadata says %08x", path, info.crc,
				 f->crc);
		else if (h->subtask != f->subtask || h->kg_first != f->kg_first || h->kg_last != f->kg_last ||
			 h->max_parallelism != m.max_parallelism || h->checkpoint_id != m.checkpoint_id ||
			 strcmp(h->job_id, m.job_id))
			rc = ERR(FLINC_ECODEC,
				 "%s: header (checkpoint %lld, subtask %d, key groups %d..%d of %d) does not "
				 "match _metadata",
				 path, (long long)h->checkpoint_id, h->subtask, h->kg_first, h->kg_last,
				 h->max_parallelism);
		fl_snap_reader_close(r);
		if (!rc && f->native) {
			/* shared paths are relative to the job folder, the parent */
			snprintf(path, sizeof(path), "%s/..", dir);
			rc = fl_incr_verify(path, dir, f->native, level == FL_CHK_CHECK_FULL, err, errcap);
		}
	}
	/* shared files are relative to the job folder, the checkpoint's parent */
	for (size_t i = 0; i < m.n_shared && !rc; i++) {
		snprintf(path, sizeof(path), "%s/../%s", dir, m.shared[i]);
		if (access(path, R_OK) < 0)
			rc = ERR(FLINC_ENOENT, "%s: shared file listed in _metadata: %s", path,
				 strerror(errno));
	}
out:
	fl_chk_meta_free(&m);
	close(dfd);
	return rc;
}

/* ---- listing, latest, retention ------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int fl_chk_list(const char *jobdir, int64_t **ids, size_t *n, char *err, size_t errcap)
{
	*ids = NULL;
	*n = 0;
	DIR *d = opendir(jobdir);
	if (!d)
		return ERR(errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot list: %s", jobdir,
			   strerror(errno));
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *s = de->d_name;
		if (strncmp(s, "chk-", 4) || !s[4]) continue;
		char *end;
		errno = 0;
		long long v = strtoll(s + 4, &end, 10);
		if (*end || errno || v < 0 || s[4] < '0' || s[4] > '9') continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *p = fl_try_realloc(*ids, cap * sizeof(**ids));
			if (!p) {
				closedir(d);
				free(*ids);
				*ids = NULL;
				*n = 0;
				return ERR(FLINC_ENOMEM, "%s: out of memory", jobdir);
			}
			*ids = p;
		}
		(*ids)[(*n)++] = v;
	}
	closedir(d);
	if (*n) qsort(*ids, *n, sizeof(**ids), cmp_i64);
	return 0;
}

void fl__chk_logf(fl_chk_log_fn log, void *ud, const char *fmt, ...)
{
	if (!log) return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log(ud, line);
}

int fl_chk_latest(const char *jobdir, int64_t below, fl_chk_check level, int64_t *id, fl_chk_log_fn log,
		  void *logud, char *err, size_t errcap)
{
	int64_t *ids;
	size_t n;
	int rc = fl_chk_list(jobdir, &ids, &n, err, errcap);
	if (rc) return rc;
	char dir[4096], why[1024];
	for (size_t i = n; i-- > 0;) {
		if (ids[i] >= below) continue;
		fl_chk_dir(dir, sizeof(dir), jobdir, ids[i]);
		why[0] = 0;
		int vrc = fl_chk_validate(dir, level, why, sizeof(why));
		if (vrc == 0) {
			*id = ids[i];
			free(ids);
			return 0;
		}
		if (vrc == FLINC_ENOENT && access(dir, F_OK) == 0) {
			char mp[4200];
			snprintf(mp, sizeof(mp), "%s/" FL_CHK_METADATA, dir);
			if (access(mp, F_OK) < 0) {
				fl__chk_logf(
					log, logud,
					"checkpoint %s has no _metadata (incomplete); trying the previous one",
					dir);
				continue;
			}
		}
		fl__chk_logf(
			log, logud,
			"checkpoint %s is unusable: %s; falling back to the previous completed checkpoint",
			dir, why);
	}
	free(ids);
	if (below == INT64_MAX) return ERR(FLINC_ENOENT, "%s: no completed checkpoint", jobdir);
	return ERR(FLINC_ENOENT, "%s: no completed checkpoint before chk-%" PRId64, jobdir, below);
}

/* Remove a checkpoint folder: _metadata first, so an interrupted removal
 * leaves an incomplete folder, never a broken complete one. */
static int chk_remove(const char *dir, char *err, size_t errcap)
{
	char mp[4200];
	snprintf(mp, sizeof(mp), "%s/" FL_CHK_METADATA, dir);
	if (unlink(mp) < 0 && errno != ENOENT)
		return ERR(FLINC_EIO, "%s: cannot remove: %s", mp, strerror(errno));
	return fl_rm_rf(dir, err, errcap);
}

int fl_chk_retain(const char *jobdir, int keep, fl_chk_log_fn log, void *logud, char *err, size_t errcap)
{
	if (keep < 1)
		return ERR(FLINC_EINVAL, "%s: retention must keep at least one checkpoint (asked %d)", jobdir,
			   keep);
	int64_t *ids;
	size_t n;
	int rc = fl_chk_list(jobdir, &ids, &n, err, errcap);
	if (rc) return rc;
	bool *complete = fl_try_calloc(n ? n : 1, sizeof(bool));
	if (!complete) {
		free(ids);
		return ERR(FLINC_ENOMEM, "%s: out of memory", jobdir);
	}
	char dir[4096];
	int64_t newest = -1;
	for (size_t i = 0; i < n; i++) {
		fl_chk_dir(dir, sizeof(dir), jobdir, ids[i]);
		complete[i] = fl_chk_validate(dir, FL_CHK_CHECK_META, NULL, 0) == 0;
		if (complete[i]) newest = ids[i];
	}
	int kept = 0;
	for (size_t i = n; i-- > 0 && !rc;) {
		fl_chk_dir(dir, sizeof(dir), jobdir, ids[i]);
		if (complete[i] && kept < keep) {
			kept++;
			continue;
		}
		if (!complete[i] && ids[i] > newest) continue; /* may be in progress */
		fl__chk_logf(log, logud, "removing %s checkpoint %s (retaining %d)",
			     complete[i] ? "old" : "incomplete", dir, keep);
		rc = chk_remove(dir, err, errcap);
	}
	free(complete);
	free(ids);
	return rc;
}

/* ---- savepoints ---------------------------------------------------------------- */

void fl_savepoint_dir(char *buf, size_t cap, const char *parent, const char *job_id)
{
	uint8_t rnd[6] = { 0 };
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0 && fl_pread_all(fd, rnd, sizeof(rnd), 0) == 0;
	if (fd >= 0) close(fd);
	if (!ok) { /* no /dev/urandom: time and pid are unique enough here */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
		memcpy(rnd, &x, sizeof(rnd));
	}
	snprintf(buf, cap, "%s/savepoint-%.6s-%02x%02x%02x%02x%02x%02x", parent, job_id, rnd[0], rnd[1],
		 rnd[2], rnd[3], rnd[4], rnd[5]);
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

/* Remove rel (a file path from _metadata) inside the folder dfd: the
 * folders on its way are opened without following links, and the last
 * part is unlinked, so a link is removed, never what it points to. */
static int unlink_beneath(int dfd, const char *rel, const char *dir, char *err, size_t errcap)
{
	const char *slash = strrchr(rel, '/');
	int pfd = dfd;
	if (slash) {
		char sub[4096];
		if ((size_t)(slash - rel) >= sizeof(sub))
			return ERR(FLINC_EINVAL, "%s/%s: path too long", dir, rel);
		memcpy(sub, rel, (size_t)(slash - rel));
		sub[slash - rel] = 0;
		pfd = fl_openat_beneath(dfd, sub, O_RDONLY | O_DIRECTORY);
		if (pfd == -ENOENT) return 0;
		if (pfd < 0)
			return ERR(FLINC_EINVAL, "%s/%s: %s; refusing to remove it", dir, rel,
				   pfd == -ELOOP ? "a folder on its way is a symbolic link" : strerror(-pfd));
	}
	const char *name = slash ? slash + 1 : rel;
	int rc = 0;
	if (unlinkat(pfd, name, 0) < 0 && errno != ENOENT)
		rc = ERR(FLINC_EIO, "%s/%s: cannot remove: %s", dir, rel,
			 errno == EISDIR ? "a folder, not a file" : strerror(errno));
	if (pfd != dfd) close(pfd);
	return rc;
}

int fl_savepoint_dispose_at(int parentfd, const char *name, const char *dir, char *err, size_t errcap)
{
	int dfd = fl_openat_beneath(parentfd, name, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return ERR(FLINC_EINVAL, "%s: not a savepoint, refusing to remove it (%s)", dir,
			   dfd == -ELOOP ? "a symbolic link: links are never followed" : strerror(-dfd));
	fl_chk_meta m;
	char why[1024] = "";
	int rc = meta_read_at(dfd, dir, &m, why, sizeof(why));
	if (rc) {
		close(dfd);
		return ERR(FLINC_EINVAL, "%s: not a savepoint, refusing to remove it (%s)", dir, why);
	}
	if (!m.is_savepoint) {
		fl_chk_meta_free(&m);
		close(dfd);
		return ERR(FLINC_EINVAL, "%s: is a checkpoint, not a savepoint; refusing to remove it", dir);
	}
	for (size_t i = 0; i < m.n_files && !rc; i++)
		rc = unlink_beneath(dfd, m.files[i].path, dir, err, errcap);
	fl_chk_meta_free(&m);
	if (rc) {
		close(dfd);
		return rc;
	}
	/* leftovers of our own writers: "<file>.snap.tmp", "_metadata.tmp" */
	int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (ends_with(de->d_name, FL_SNAP_SUFFIX ".tmp") ||
			    !strcmp(de->d_name, FL_CHK_METADATA ".tmp"))
				unlinkat(dfd, de->d_name, 0);
		closedir(d);
	} else if (lfd >= 0) {
		close(lfd);
	}
	if (unlinkat(dfd, FL_CHK_METADATA, 0) < 0 && errno != ENOENT) {
		rc = ERR(FLINC_EIO, "%s/" FL_CHK_METADATA ": cannot remove: %s", dir, strerror(errno));
		close(dfd);
		return rc;
	}
	close(dfd);
	if (unlinkat(parentfd, name, AT_REMOVEDIR) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			return ERR(FLINC_EEXIST,
				   "%s: removed the savepoint's files, but the folder holds other files "
				   "and was left in place",
				   dir);
		return ERR(FLINC_EIO, "%s: cannot remove folder: %s", dir, strerror(errno));
	}
	return 0;
}

int fl_savepoint_dispose(const char *dir, char *err, size_t errcap)
{
	char buf[4096];
	size_t n = dir ? strlen(dir) : 0;
	while (n > 1 && dir[n - 1] == '/') n--;
	if (n == 0 || n >= sizeof(buf)) return ERR(FLINC_EINVAL, "not a savepoint path (empty or too long)");
	memcpy(buf, dir, n);
	buf[n] = 0;
	char *slash = strrchr(buf, '/');
	const char *name = slash ? slash + 1 : buf;
	if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
		return ERR(FLINC_EINVAL, "%s: not a savepoint, refusing to remove it", dir);
	int pfd;
	if (!slash)
		pfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash == buf)
		pfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else {
		*slash = 0;
		pfd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	}
	if (pfd < 0)
		return ERR(FLINC_EINVAL, "%s: not a savepoint, refusing to remove it (%s)", dir,
			   strerror(errno));
	int rc = fl_savepoint_dispose_at(pfd, name, buf, err, errcap);
	close(pfd);
	return rc;
}
