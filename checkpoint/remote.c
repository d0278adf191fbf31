/* remote.c - checkpoint folders on S3: what of a checkpoint, a job folder
 * or shared/ must come down from the store or go from it, on top of the
 * mirror of base/fl_store.h (see fl_checkpoint.h, "checkpoints on S3"). */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/error.h>

#include "fl_checkpoint.h"
#include "fl_fs.h"
#include "fl_store.h"

/* The folder holding dir (its job folder, for a chk-<n>). */
static void parent_of(const char *dir, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", dir);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
	char *sl = strrchr(buf, '/');
	if (sl && sl != buf) *sl = 0;
}

/* Is the local file path there with size bytes? */
static bool have(const char *path, uint64_t size)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

static void free_list(char **paths, uint64_t *sizes, size_t n)
{
	for (size_t i = 0; i < n; i++) free(paths[i]);
	free(paths);
	free(sizes);
}

/* The shared files dir's _metadata lists (from the job folder, dir's
 * parent) that are not here yet: one GET each. */
static int fetch_shared(const char *dir, char *err, size_t errcap)
{
	fl_chk_meta m;
	int rc = fl_chk_meta_read(dir, &m, err, errcap);
	if (rc) return rc;
	char jobdir[PATH_MAX];
	parent_of(dir, jobdir, sizeof jobdir);
	for (size_t i = 0; i < m.n_shared && !rc; i++) {
		char p[PATH_MAX];
		if (snprintf(p, sizeof p, "%s/%s", jobdir, m.shared[i]) >= (int)sizeof p) {
			rc = fl_errf(err, errcap, FLINC_EINVAL, "%s: too long", m.shared[i]);
			break;
		}
		struct stat st;
		if (stat(p, &st) == 0) continue; /* shared files never change */
		rc = fl_remote_get(p, err, errcap);
	}
	fl_chk_meta_free(&m);
	return rc;
}

/* Fetch dir's files: all, or (top_only) those right in it (_metadata and
 * the .snap files, not the native folders), then (shared) the shared
 * files its _metadata lists. */
static int fetch_dir(const char *dir, bool top_only, bool shared, char *err, size_t errcap)
{
	if (!fl_remote_is(dir)) return FLINC_OK;
	/* one LIST, then a GET for each file not here with its size */
	char **paths;
	uint64_t *sizes;
	size_t n;
	int rc = fl_remote_list(dir, &paths, &sizes, &n, err, errcap);
	if (rc) return rc;
	char md[PATH_MAX], url[PATH_MAX];
	snprintf(md, sizeof md, "%s/" FL_CHK_METADATA, dir);
	bool complete = false;
	for (size_t i = 0; i < n; i++) complete = complete || !strcmp(paths[i], md);
	if (!complete)
		rc = fl_errf(err, errcap, FLINC_ENOENT,
			     "%s: no _metadata: not a completed checkpoint or savepoint",
			     fl_remote_url(dir, url, sizeof url));
	size_t dlen = strlen(dir);
	for (size_t i = 0; i < n && !rc; i++) {
		if (strlen(paths[i]) <= dlen)
			continue; /* an object named like the folder: not a file in it */
		if (top_only && strchr(paths[i] + dlen + 1, '/')) continue;
		if (!have(paths[i], sizes[i])) rc = fl_remote_get(paths[i], err, errcap);
	}
	free_list(paths, sizes, n);
	return rc || !shared ? rc : fetch_shared(dir, err, errcap);
}

int fl_chk_remote_fetch(const char *dir, char *err, size_t errcap)
{
	return fetch_dir(dir, false, true, err, errcap);
}

int fl_chk_remote_fetch_top(const char *dir, char *err, size_t errcap)
{
	return fetch_dir(dir, true, false, err, errcap);
}

int fl_chk_remote_fetch_native(const char *dir, const char *rel, char *err, size_t errcap)
{
	if (!fl_remote_is(dir)) return FLINC_OK;
	char nat[PATH_MAX], list[PATH_MAX + 16], jobdir[PATH_MAX];
	if (snprintf(nat, sizeof nat, "%s/%s", dir, rel) >= (int)sizeof nat)
		return fl_errf(err, errcap, FLINC_EINVAL, "%s: too long", rel);
	char **paths;
	uint64_t *sizes;
	size_t n;
	int rc = fl_remote_list(nat, &paths, &sizes, &n, err, errcap);
	for (size_t i = 0; i < n && !rc; i++)
		if (!have(paths[i], sizes[i])) rc = fl_remote_get(paths[i], err, errcap);
	free_list(paths, sizes, n);
	if (rc) return rc;
	/* SHARED: "<path under the job folder> <name> <size> <crc>" per line */
	snprintf(list, sizeof list, "%s/SHARED", nat);
	FILE *f = fopen(list, "r");
	if (!f) return fl_errf(err, errcap, FLINC_ENOENT, "%s: %s", list, strerror(errno));
	parent_of(dir, jobdir, sizeof jobdir);
	char line[2 * PATH_MAX];
	while (!rc && fgets(line, sizeof line, f)) {
		char *sp = strchr(line, ' ');
		if (!sp) continue; /* fl_incr_materialize reports a malformed list */
		*sp = 0;
		char p[PATH_MAX];
		if (!fl_relpath_ok(line) || snprintf(p, sizeof p, "%s/%s", jobdir, line) >= (int)sizeof p)
			continue;
		struct stat st;
		if (stat(p, &st) == 0) continue; /* shared files never change */
		rc = fl_remote_get(p, err, errcap);
	}
	fclose(f);
	return rc;
}

/* The id of a key's "chk-<n>/" part right under jobdir, or -1. */
static int64_t chk_id_of(const char *path, size_t jlen)
{
	const char *p = path + jlen;
	if (strncmp(p, "/chk-", 5)) return -1;
	char *end;
	errno = 0;
	long long id = strtoll(p + 5, &end, 10);
	if (errno || end == p + 5 || *end != '/' || id < 0) return -1;
	return id;
}

int fl_chk_remote_fetch_job(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap)
{
	if (!fl_remote_is(jobdir)) return FLINC_OK;
	char **paths;
	uint64_t *sizes;
	size_t n;
	int rc = fl_remote_list(jobdir, &paths, &sizes, &n, err, errcap);
	if (rc) return rc;
	size_t jlen = strlen(jobdir);
	while (jlen > 1 && jobdir[jlen - 1] == '/') jlen--;
	/* the completed ones: a _metadata right in chk-<n>/ */
	int64_t *done = calloc(n ? n : 1, sizeof *done);
	size_t ndone = 0;
	if (!done) rc = fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && !rc; i++) {
		int64_t id = chk_id_of(paths[i], jlen);
		if (id < 0) continue;
		char dir[PATH_MAX];
		int dl = snprintf(dir, sizeof dir, "%.*s/chk-%" PRId64, (int)jlen, jobdir, id);
		/* an incomplete one too: retention removes it later */
		rc = fl_mkdir_p(dir, err, errcap);
		if (!rc && !strcmp(paths[i] + dl, "/" FL_CHK_METADATA)) done[ndone++] = id;
	}
	/* their files, one GET each for what is not here with its size; the
	 * shared files they list after (a checkpoint that cannot be fetched is
	 * logged and left to fl_chk_latest, which passes over it) */
	for (size_t i = 0; i < n && !rc; i++) {
		int64_t id = chk_id_of(paths[i], jlen);
		bool want = false;
		for (size_t k = 0; k < ndone && !want; k++) want = done[k] == id;
		if (!want || have(paths[i], sizes[i])) continue;
		char e2[768];
		if (fl_remote_get(paths[i], e2, sizeof e2) && log) {
			char line[1024];
			snprintf(line, sizeof line, "checkpoint file could not be downloaded: %s", e2);
			log(logud, line);
		}
	}
	for (size_t k = 0; k < ndone && !rc; k++) {
		char dir[PATH_MAX], e2[768];
		snprintf(dir, sizeof dir, "%.*s/chk-%" PRId64, (int)jlen, jobdir, done[k]);
		if (fetch_shared(dir, e2, sizeof e2) && log) {
			char line[1024], url[PATH_MAX];
			snprintf(line, sizeof line, "checkpoint %s could not be downloaded: %s",
				 fl_remote_url(dir, url, sizeof url), e2);
			log(logud, line);
		}
	}
	free(done);
	free_list(paths, sizes, n);
	return rc;
}

int fl_chk_remote_retained(const char *jobdir, const int64_t *before, size_t nbefore, char *err,
			   size_t errcap)
{
	if (!fl_remote_is(jobdir)) return FLINC_OK;
	int64_t *after = NULL;
	size_t nafter = 0;
	char e2[512];
	if (fl_chk_list(jobdir, &after, &nafter, e2, sizeof e2)) nafter = 0;
	int rc = FLINC_OK;
	for (size_t i = 0; i < nbefore; i++) {
		bool kept = false;
		for (size_t k = 0; k < nafter && !kept; k++) kept = after[k] == before[i];
		if (kept) continue;
		char dir[PATH_MAX];
		fl_chk_dir(dir, sizeof dir, jobdir, before[i]);
		int r = fl_remote_remove(dir, err, errcap);
		if (r && !rc) rc = r;
	}
	free(after);
	return rc;
}

int fl_chk_remote_gc(const char *jobdir, fl_chk_log_fn log, void *logud, char *err, size_t errcap)
{
	if (!fl_remote_is(jobdir)) return FLINC_OK;
	char shared[PATH_MAX];
	snprintf(shared, sizeof shared, "%s/shared", jobdir);
	char **paths;
	size_t n;
	int rc = fl_remote_list(shared, &paths, NULL, &n, err, errcap);
	if (rc || !n) {
		free(paths);
		return rc;
	}
	/* what the completed checkpoints (their _metadata here) still list */
	int64_t *ids = NULL;
	size_t nids = 0;
	rc = fl_chk_list(jobdir, &ids, &nids, err, errcap);
	fl_chk_meta *metas = rc ? NULL : calloc(nids ? nids : 1, sizeof *metas);
	bool *have = rc ? NULL : calloc(nids ? nids : 1, sizeof *have);
	if (!rc && (!metas || !have)) rc = fl_errf(err, errcap, FLINC_ENOMEM, "out of memory");
	for (size_t i = 0; i < nids && !rc; i++) {
		char dir[PATH_MAX], e2[512];
		fl_chk_dir(dir, sizeof dir, jobdir, ids[i]);
		int r = fl_chk_meta_read(dir, &metas[i], e2, sizeof e2);
		if (r == FLINC_OK)
			have[i] = true;
		else if (r != FLINC_ENOENT && r != FLINC_ECODEC)
			rc = fl_errf(err, errcap, r, "%s", e2); /* unsure what is used: delete nothing */
	}
	size_t jlen = strlen(jobdir), deleted = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *rel = paths[i] + jlen + 1; /* "shared/..." */
		bool used = false;
		for (size_t k = 0; k < nids && !used; k++)
			for (size_t s = 0; have[k] && s < metas[k].n_shared && !used; s++)
				used = !strcmp(metas[k].shared[s], rel);
		if (used) continue;
		char e2[512];
		if (fl_remote_remove(paths[i], e2, sizeof e2)) {
			rc = fl_errf(err, errcap, FLINC_EIO, "%s", e2);
			break;
		}
		deleted++;
		if (log) {
			char line[PATH_MAX + 64], url[PATH_MAX];
			snprintf(line, sizeof line, "removed unused shared file %s",
				 fl_remote_url(paths[i], url, sizeof url));
			log(logud, line);
		}
	}
	for (size_t i = 0; i < nids; i++)
		if (have && have[i]) fl_chk_meta_free(&metas[i]);
	free(metas);
	free(have);
	free(ids);
	for (size_t i = 0; i < n; i++) free(paths[i]);
	free(paths);
	return rc;
}
