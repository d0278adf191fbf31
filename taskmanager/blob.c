/*
 * blob.c - the plugin cache: job plugins fetched from the job manager's
 * blob store by id, kept as files in this process's private folder
 * (mode 0700, removed at exit) so a job redeployed after a failure does not
 * download its plugin again.
 */
#include "tm.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Blob ids become file names: letters, digits, '-', '_', '.' only, not
 * starting with a dot, so an id can never name a path elsewhere. */
static bool blob_id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || id[0] == '.') return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static int write_file(const char *path, const uint8_t *data, size_t len, char *err, size_t errcap)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
	if (fd < 0) {
		snprintf(err, errcap, "cannot write the plugin to %s: %s", path, strerror(errno));
		return FLINC_EIO;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) {
			snprintf(err, errcap, "cannot write the plugin to %s: %s", path, strerror(errno));
			close(fd);
			unlink(path);
			return FLINC_EIO;
		}
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		snprintf(err, errcap, "cannot write the plugin to %s: %s", path, strerror(errno));
		unlink(path);
		return FLINC_EIO;
	}
	return FLINC_OK;
}

int tm_blob_fetch(tm_server *tm, const char *blob_id, char *path, size_t pathcap, char *err, size_t errcap)
{
	if (!blob_id_ok(blob_id)) {
		snprintf(err, errcap, "invalid blob id '%.64s'", blob_id);
		return FLINC_EINVAL;
	}
	snprintf(path, pathcap, "%s/blob-%s.so", tm->tmp_dir, blob_id);
	struct stat st;
	if (stat(path, &st) == 0) return FLINC_OK; /* cached */

	Flinc__BlobRequest req = FLINC__BLOB_REQUEST__INIT;
	req.blob_id = (char *)blob_id;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_BLOB_REQUEST;
	env.blob_request = &req;
	Flinc__Envelope *reply;
	int64_t t0 = fl_mono_ns();
	int rc = tm_jm_call(&tm->blob_jm, &env, FLINC__ENVELOPE__BODY_BLOB_DATA, &reply);
	/* NNG_EPERM: the connection does not speak for this task manager
	 * yet. A deployment can come right after the registration, before the
	 * session thread holds the session key it binds with: a few retries. */
	for (int i = 0; rc == NNG_EPERM && i < 5 && tm_sleep(tm, 100); i++)
		rc = tm_jm_call(&tm->blob_jm, &env, FLINC__ENVELOPE__BODY_BLOB_DATA, &reply);
	if (rc) {
		if (reply && reply->ack)
			snprintf(err, errcap, "cannot fetch plugin blob %s: %s", blob_id, reply->ack->error);
		else
			snprintf(err, errcap, "cannot fetch plugin blob %s from the job manager: %s", blob_id,
				 tm_jm_why(&tm->blob_jm, rc));
		fl_rpc_free(reply);
		return FLINC_EIO;
	}
	const Flinc__BlobData *b = reply->blob_data;
	if (!b || !b->found || b->data.len == 0) {
		snprintf(err, errcap, "the job manager has no plugin blob %s", blob_id);
		fl_rpc_free(reply);
		return FLINC_ENOENT;
	}
	/* Write beside, then rename: a half-written file is never cached. */
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s/.blob-%s.part", tm->tmp_dir, blob_id);
	rc = write_file(tmp, b->data.data, b->data.len, err, errcap);
	if (rc == FLINC_OK && rename(tmp, path) != 0) {
		snprintf(err, errcap, "cannot store the plugin as %s: %s", path, strerror(errno));
		unlink(tmp);
		rc = FLINC_EIO;
	}
	if (rc == FLINC_OK)
		fl_log(FL_LOG_INFO, TM_LOG, "fetched plugin blob %s (%zu bytes) in %.0f ms", blob_id,
		       b->data.len, (double)(fl_mono_ns() - t0) / 1e6);
	fl_rpc_free(reply);
	return rc;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

void tm_tmpdir_remove(const char *dir)
{
	if (!dir || !dir[0]) return;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
