/*
 * blob.c - the blob store: uploaded job plugins kept on the job manager's
 * local disk, one file per upload named "<32 hex>_<file name>". The name is
 * the blob id (Flink's jar id); task managers fetch the bytes by id over
 * the control plane, so nothing depends on a client path or a shared disk.
 *
 * Only names of that exact shape are ever opened, so no request can reach
 * a file outside the folder. Uploads stream into ".upload-<hex>" files of
 * the same folder (never a blob id) and are renamed into the store when
 * complete. The quota (jobmanager.blob.max-size) counts the stored blobs
 * and the bytes of uploads in progress (jm.blob_used, atomic): an upload
 * reserves each piece before writing it, so parallel uploads cannot pass
 * it together. Thread-safe: no shared state but the folder and the count.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jm.h"

#define NAME_MAX_LEN 128
#define TMP_PREFIX ".upload-"

void jm_random_hex32(char *out)
{
	uint8_t b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n > 0) {
			got += (size_t)n;
		} else if (errno != EINTR) {
			/* No entropy source: fall back on time and a counter,
			 * still unique within this process. */
			static uint64_t ctr;
			uint64_t t = (uint64_t)fl_mono_ns() ^ ((uint64_t)getpid() << 32);
			uint64_t c = __atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED);
			uint64_t h1 = fl_hash64(&t, sizeof t, c), h2 = fl_hash64(&c, sizeof c, t);
			memcpy(b, &h1, 8);
			memcpy(b + 8, &h2, 8);
			break;
		}
	}
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[32] = 0;
}

static bool name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		c == '_' || c == '-' || c == '+';
}

bool jm_blob_id_valid(const char *id)
{
	if (!id) return false;
	size_t n = strlen(id);
	if (n < 34 || n > 33 + NAME_MAX_LEN) return false;
	for (int i = 0; i < 32; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return false;
	if (id[32] != '_') return false;
	for (size_t i = 33; i < n; i++)
		if (!name_char_ok(id[i])) return false;
	if (id[33] == '.' || strstr(id, "..")) return false;
	return true;
}

const char *jm_blob_display_name(const char *id) { return strlen(id) > 33 && id[32] == '_' ? id + 33 : id; }

char *jm_blob_path(const jm *j, const char *id)
{
	if (!jm_blob_id_valid(id)) return NULL;
	char *p = fl_asprintf("%s/%s", j->blob_dir, id);
	struct stat st;
	if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
		free(p);
		return NULL;
	}
	return p;
}

/* An adopted folder: remove uploads a previous job manager left half
 * done, and count what is stored against the quota. */
static void blob_scan(jm *j)
{
	int64_t used = 0;
	DIR *d = opendir(j->blob_dir);
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			bool tmp = !strncmp(de->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1);
			if (!tmp && !jm_blob_id_valid(de->d_name)) continue;
			char *p = fl_asprintf("%s/%s", j->blob_dir, de->d_name);
			struct stat st;
			if (lstat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				if (tmp)
					unlink(p);
				else
					used += (int64_t)st.st_size;
			}
			free(p);
		}
		closedir(d);
	}
	__atomic_store_n(&j->blob_used, used, __ATOMIC_SEQ_CST);
	if (used > j->o.blob_max)
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "the blob store %s holds %lld bytes, above jobmanager.blob.max-size (%lld): uploads are "
		       "refused until jars are deleted",
		       j->blob_dir, (long long)used, (long long)j->o.blob_max);
}

int jm_blob_init(jm *j, char *err, size_t errcap)
{
	if (j->o.blob_dir && *j->o.blob_dir) {
		char merr[512];
		if (fl_mkdir_p(j->o.blob_dir, merr, sizeof merr) != FLINC_OK) {
			snprintf(err, errcap, "jobmanager.blob.dir %s", merr);
			return FLINC_EIO;
		}
		char *abs = realpath(j->o.blob_dir, NULL);
		if (!abs) {
			snprintf(err, errcap, "jobmanager.blob.dir %s: %s", j->o.blob_dir, strerror(errno));
			return FLINC_EIO;
		}
		if (access(abs, W_OK | X_OK) != 0) {
			snprintf(err, errcap, "jobmanager.blob.dir %s: not writable: %s", abs,
				 strerror(errno));
			free(abs);
			return FLINC_EIO;
		}
		j->blob_dir = abs;
		j->blob_dir_owned = false;
		blob_scan(j);
		return FLINC_OK;
	}
	char tmpl[] = "/tmp/flinc-jm-XXXXXX";
	if (!mkdtemp(tmpl)) {
		snprintf(err, errcap, "cannot create a blob folder under /tmp: %s", strerror(errno));
		return FLINC_EIO;
	}
	j->blob_dir = fl_strdup(tmpl);
	j->blob_dir_owned = true;
	return FLINC_OK;
}

void jm_blob_fini(jm *j)
{
	if (!j->blob_dir) return;
	if (j->blob_dir_owned) {
		/* Only our own flat folder: remove its files, then it. */
		DIR *d = opendir(j->blob_dir);
		if (d) {
			struct dirent *de;
			while ((de = readdir(d))) {
				if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
				char *p = fl_asprintf("%s/%s", j->blob_dir, de->d_name);
				unlink(p);
				free(p);
			}
			closedir(d);
		}
		rmdir(j->blob_dir);
	}
	/* j->blob_dir itself stays until the model is freed: a REST handler
	 * stuck at shutdown may still read it. */
}

/* Keep the base name's safe characters: "../x y.so" -> "x_y.so". */
static char *sanitize(const char *filename)
{
	const char *base = filename ? filename : "";
	for (const char *s = base; *s; s++)
		if (*s == '/' || *s == '\\') base = s + 1;
	while (*base == '.') base++;
	char *out = fl_malloc(NAME_MAX_LEN + 1);
	size_t n = 0;
	for (const char *s = base; *s && n < NAME_MAX_LEN; s++) {
		char c = name_char_ok(*s) ? *s : '_';
		if (c == '.' && n > 0 && out[n - 1] == '.') continue; /* no ".." */
		out[n++] = c;
	}
	out[n] = 0;
	if (n == 0) strcpy(out, "job.so");
	return out;
}

int jm_blob_tmp_create(jm *j, int *fd, char **path, char *err, size_t errcap)
{
	char hex[33];
	jm_random_hex32(hex);
	char *p = fl_asprintf("%s/" TMP_PREFIX "%s", j->blob_dir, hex);
	int f = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (f < 0) {
		snprintf(err, errcap, "cannot store the upload: %s", strerror(errno));
		free(p);
		return FLINC_EIO;
	}
	*fd = f;
	*path = p;
	return FLINC_OK;
}

int jm_blob_store_file(jm *j, const char *tmp_path, const char *filename, char **id_out, char **path_out,
		       char *err, size_t errcap)
{
	char hex[33];
	jm_random_hex32(hex);
	char *name = sanitize(filename);
	char *id = fl_asprintf("%s_%s", hex, name);
	free(name);
	char *path = fl_asprintf("%s/%s", j->blob_dir, id);
	/* Never over an existing blob; a file system without RENAME_NOREPLACE
	 * gets link (which refuses an existing name too) and unlink. */
	int rc = renameat2(AT_FDCWD, tmp_path, AT_FDCWD, path, RENAME_NOREPLACE);
	if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
		rc = link(tmp_path, path);
		if (rc == 0) unlink(tmp_path);
	}
	if (rc != 0) {
		snprintf(err, errcap, "cannot store the upload: %s", strerror(errno));
		unlink(tmp_path);
		free(id);
		free(path);
		return FLINC_EIO;
	}
	/* the job store on S3 (high-availability.storageDir): a restarted job
	 * manager elsewhere must find the plugin */
	if (fl_remote_is(path) && fl_remote_push(path, err, errcap)) {
		unlink(path);
		free(id);
		free(path);
		return FLINC_EIO;
	}
	*id_out = id;
	*path_out = path;
	return FLINC_OK;
}

int jm_blob_reserve(jm *j, int64_t n, int64_t *used)
{
	int64_t cur = __atomic_load_n(&j->blob_used, __ATOMIC_SEQ_CST);
	for (;;) {
		if (n > j->o.blob_max - cur) {
			if (used) *used = cur;
			return FLINC_ERANGE;
		}
		if (__atomic_compare_exchange_n(&j->blob_used, &cur, cur + n, false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return FLINC_OK;
	}
}

void jm_blob_unreserve(jm *j, int64_t n) { __atomic_sub_fetch(&j->blob_used, n, __ATOMIC_SEQ_CST); }

int jm_blob_remove(jm *j, const char *id)
{
	char *p = jm_blob_path(j, id);
	if (!p) return FLINC_ENOENT;
	struct stat st;
	int64_t size = lstat(p, &st) == 0 ? (int64_t)st.st_size : 0;
	int rc = unlink(p) == 0 ? FLINC_OK : FLINC_EIO;
	if (rc == FLINC_OK) jm_blob_unreserve(j, size);
	char e2[512];
	if (rc == FLINC_OK && fl_remote_remove(p, e2, sizeof e2))
		fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: %s", e2);
	free(p);
	return rc;
}

int jm_blob_read(const jm *j, const char *id, int64_t max, uint8_t **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	char *p = jm_blob_path(j, id);
	if (!p) return FLINC_ENOENT;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	free(p);
	if (fd < 0) return FLINC_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return FLINC_EIO;
	}
	if (st.st_size > max) {
		close(fd);
		return FLINC_ERANGE;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *buf = fl_malloc(n ? n : 1);
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		got += (size_t)r;
	}
	close(fd);
	if (got != n) {
		free(buf);
		return FLINC_EIO;
	}
	*data = buf;
	*len = n;
	return FLINC_OK;
}

typedef struct jar_ent {
	char *id;
	int64_t mtime_ms;
} jar_ent;

static int cmp_newest_first(const void *a, const void *b)
{
	const jar_ent *x = a, *y = b;
	if (x->mtime_ms != y->mtime_ms) return x->mtime_ms < y->mtime_ms ? 1 : -1;
	return strcmp(x->id, y->id);
}

json_t *jm_blob_list(const jm *j)
{
	json_t *files = json_array();
	DIR *d = opendir(j->blob_dir);
	jar_ent *ents = NULL;
	size_t n = 0, cap = 0;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!jm_blob_id_valid(de->d_name)) continue;
			char *p = fl_asprintf("%s/%s", j->blob_dir, de->d_name);
			struct stat st;
			int ok = lstat(p, &st) == 0 && S_ISREG(st.st_mode);
			free(p);
			if (!ok) continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				ents = fl_realloc(ents, cap * sizeof *ents);
			}
			ents[n].id = fl_strdup(de->d_name);
			ents[n].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
			n++;
		}
		closedir(d);
	}
	if (n) qsort(ents, n, sizeof *ents, cmp_newest_first);
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(files,
				      json_pack("{s:s, s:s, s:I, s:[]}", "id", ents[i].id, "name",
						jm_blob_display_name(ents[i].id), "uploaded",
						(json_int_t)ents[i].mtime_ms, "entry"));
		free(ents[i].id);
	}
	free(ents);
	return files;
}
