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

int fl_chk_remote_fetch(const char *dir, char *err, size_t errcap)
{
	if (!fl_remote_is(dir)) return FLINC_OK;
	char md[PATH_MAX];
	snprintf(md, sizeof md, "%s/" FL_CHK_METADATA, dir);
	uint64_t size;
	char url[PATH_MAX];
	int rc = fl_remote_exists(md, &size, err, errcap);
	if (rc == FLINC_ENOENT)
		return fl_errf(err, errcap, FLINC_ENOENT,
			       "%s: no _metadata: not a completed checkpoint or savepoint",
			       fl_remote_url(dir, url, sizeof url));
	if (rc) return rc;
	size_t n = 0;
	rc = fl_remote_pull(dir, &n, err, errcap);
	if (rc) return rc;
	fl_chk_meta m;
	rc = fl_chk_meta_read(dir, &m, err, errcap);
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
		size_t got = 0;
		rc = fl_remote_pull(p, &got, err, errcap);
	}
	fl_chk_meta_free(&m);
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
	size_t n;
	int rc = fl_remote_list(jobdir, &paths, NULL, &n, err, errcap);
	if (rc) return rc;
	size_t jlen = strlen(jobdir);
	while (jlen > 1 && jobdir[jlen - 1] == '/') jlen--;
	for (size_t i = 0; i < n && !rc; i++) {
		int64_t id = chk_id_of(paths[i], jlen);
		if (id < 0) continue;
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%.*s/chk-%" PRId64, (int)jlen, jobdir, id);
		/* an incomplete one too: retention removes it later */
		rc = fl_mkdir_p(dir, err, errcap);
		const char *base = strrchr(paths[i], '/');
		if (rc || strcmp(base + 1, FL_CHK_METADATA) || strchr(paths[i] + strlen(dir) + 1, '/'))
			continue;
		char e2[768];
		if (fl_chk_remote_fetch(dir, e2, sizeof e2) && log) {
			char line[1024], url[PATH_MAX];
			snprintf(line, sizeof line, "checkpoint %s could not be downloaded: %s",
				 fl_remote_url(dir, url, sizeof url), e2);
			log(logud, line);
		}
	}
	for (size_t i = 0; i < n; i++) free(paths[i]);
	free(paths);
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
