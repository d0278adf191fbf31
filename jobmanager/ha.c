/*
 * ha.c - the job store for job manager restarts (high-availability.storageDir).
 *
 * Layout under the storage folder:
 *   jobs/<jid>.json   one file per job that has not ended: what the job was
 *                     submitted with (jar id, arguments, parallelism, its own
 *                     configuration, the savepoint it started from);
 *                     written atomically at submission, removed when the job
 *                     ends (FINISHED, CANCELED, FAILED)
 *   blobs/            the uploaded plugins (unless jobmanager.blob.dir is set)
 *   epoch             how many times a job manager started on this folder
 *
 * A job manager that starts on a folder with job files submits each job
 * again under its id: it restores from the job's latest completed checkpoint
 * (<state.checkpoints.dir>/<jid>, validated, falling back past unusable
 * ones), else from the savepoint it started from, else from the beginning,
 * and waits for slots as long as it takes (task managers register again
 * when they notice the new job manager, canceling what they ran). Attempt
 * numbers of a recovered job start at epoch * 1000 + 1, so no message or
 * data channel of the previous job manager's attempts is mistaken for one
 * of the new attempt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fl_checkpoint.h"
#include "jm.h"

/* Write path whole or not at all (a temporary file renamed into place).
 * FLINC_OK, or FLINC_EIO with the file and errno's text in err. */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errcap)
{
	char *tmp = fl_asprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = FLINC_OK;
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errcap, "%s: %s", tmp, strerror(errno));
		rc = FLINC_EIO;
	}
	if (fd >= 0) close(fd);
	if (!rc && rename(tmp, path) != 0) {
		snprintf(err, errcap, "%s: cannot rename into place: %s", path, strerror(errno));
		rc = FLINC_EIO;
	}
	if (rc) unlink(tmp);
	free(tmp);
	return rc;
}

int jm_ha_init(jm *j, char *err, size_t errcap)
{
	if (!j->o.ha_dir) return FLINC_OK;
	/* On S3 (main.c made ha_dir its local twin): what an earlier job
	 * manager stored comes down first; an empty store is a first start. */
	int rc = fl_remote_pull(j->o.ha_dir, NULL, err, errcap);
	if (rc && rc != FLINC_ENOENT) return rc;
	char *jobs = fl_asprintf("%s/jobs", j->o.ha_dir);
	rc = fl_mkdir_p(jobs, err, errcap);
	free(jobs);
	if (rc) return FLINC_EIO;
	char *ep = fl_asprintf("%s/epoch", j->o.ha_dir);
	FILE *f = fopen(ep, "r");
	long epoch = 0;
	if (f) {
		if (fscanf(f, "%ld", &epoch) != 1 || epoch < 0) epoch = 0;
		fclose(f);
	}
	epoch++;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%ld\n", epoch);
	rc = write_atomic(ep, buf, (size_t)n, err, errcap);
	if (!rc) rc = fl_remote_push(ep, err, errcap);
	free(ep);
	j->ha_epoch = (int)(epoch % 2000000);
	return rc;
}

void jm_ha_store_job(jm *j, const char *jid, const jm_submit *s)
{
	if (!j->o.ha_dir) return;
	json_t *args = json_array();
	for (int i = 0; i < s->nargs; i++) json_array_append_new(args, json_string(s->args[i]));
	json_t *conf = json_object();
	for (size_t i = 0; s->job_conf && i < fl_conf_count(s->job_conf); i++) {
		const char *k, *v;
		fl_conf_at(s->job_conf, i, &k, &v);
		json_object_set_new(conf, k, json_string(v));
	}
	json_t *doc = json_pack("{s:i, s:s, s:s, s:o, s:i, s:o, s:s?, s:b}", "version", 1, "jid", jid,
				"jar_id", s->jar_id, "args", args, "parallelism", s->parallelism, "conf",
				conf, "savepoint", s->savepoint, "allow_non_restored", s->allow_non_restored);
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	char *path = fl_asprintf("%s/jobs/%s.json", j->o.ha_dir, jid);
	char err[600];
	if (!text || write_atomic(path, text, strlen(text), err, sizeof err) ||
	    fl_remote_push(path, err, sizeof err))
		fl_log(FL_LOG_ERROR, JM_COMPONENT,
		       "job store: cannot record job %s: %s (it will not survive a job "
		       "manager restart)",
		       jid, text ? err : "out of memory");
	free(text);
	free(path);
}

void jm_ha_remove_job(jm *j, const char *jid)
{
	if (!j->o.ha_dir) return;
	char *path = fl_asprintf("%s/jobs/%s.json", j->o.ha_dir, jid);
	if (unlink(path) != 0 && errno != ENOENT)
		fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: cannot remove %s: %s", path, strerror(errno));
	char err[768];
	if (fl_remote_remove(path, err, sizeof err))
		fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: cannot remove job %s: %s", jid, err);
	free(path);
}

/* Resubmit one stored job. */
static void recover_one(jm *j, const char *path)
{
	json_error_t je;
	json_t *doc = json_load_file(path, 0, &je);
	const char *jid = doc ? json_string_value(json_object_get(doc, "jid")) : NULL;
	const char *jar = doc ? json_string_value(json_object_get(doc, "jar_id")) : NULL;
	json_t *args = doc ? json_object_get(doc, "args") : NULL;
	json_t *conf = doc ? json_object_get(doc, "conf") : NULL;
	if (!jid || strlen(jid) != JM_JID_LEN || !jar || !json_is_array(args) || !json_is_object(conf)) {
		fl_log(FL_LOG_ERROR, JM_COMPONENT, "job store: %s is not a job record (%s); skipped", path,
		       doc ? "fields missing" : je.text);
		json_decref(doc);
		return;
	}
	jm_submit s = { .jar_id = jar,
			.parallelism = (int)json_integer_value(json_object_get(doc, "parallelism")),
			.savepoint = json_string_value(json_object_get(doc, "savepoint")),
			.allow_non_restored = json_is_true(json_object_get(doc, "allow_non_restored")),
			.recover_jid = jid };
	s.nargs = (int)json_array_size(args);
	s.args = fl_calloc((size_t)s.nargs + 1, sizeof(char *));
	for (int i = 0; i < s.nargs; i++)
		s.args[i] = (char *)json_string_value(json_array_get(args, (size_t)i));
	s.job_conf = fl_conf_create();
	const char *k;
	json_t *v;
	json_object_foreach(conf, k, v)
	{
		if (json_is_string(v)) fl_conf_set(s.job_conf, k, json_string_value(v));
	}
	/* The newest usable checkpoint of the job, if any, wins over the
	 * savepoint it started from. */
	const char *dir = fl_conf_get(s.job_conf, "state.checkpoints.dir");
	if (!dir) dir = fl_conf_get(j->conf, "state.checkpoints.dir");
	char chk[4096] = "";
	if (dir && *dir) {
		const char *ldir = fl_remote_localize(dir, NULL, 0);
		char *jobdir = fl_asprintf("%s/%s", ldir ? ldir : dir, jid);
		int64_t id;
		char err[768];
		if (fl_chk_remote_fetch_job(jobdir, NULL, NULL, err, sizeof err))
			fl_log(FL_LOG_WARN, JM_COMPONENT,
			       "job store: job %s: cannot list its checkpoints: %s", jid, err);
		if (fl_chk_latest(jobdir, INT64_MAX, FL_CHK_CHECK_FULL, &id, NULL, NULL, err, sizeof err) ==
		    0) {
			char local[4096];
			fl_chk_dir(local, sizeof local, jobdir, id);
			fl_remote_url(local, chk, sizeof chk); /* s3://... for an S3 twin */
			s.savepoint = chk;
		} else {
			fl_log(FL_LOG_INFO, JM_COMPONENT,
			       "job store: job %s has no completed checkpoint (%s)", jid, err);
		}
		free(jobdir);
	}
	char out[JM_JID_LEN + 1], err[1024];
	int rc = jm_job_submit(j, &s, out, err, sizeof err);
	if (rc == FLINC_OK)
		fl_log(FL_LOG_INFO, JM_COMPONENT, "job store: recovered job %s%s%s", jid,
		       s.savepoint ? ", restoring from " : ", starting from the beginning",
		       s.savepoint ? s.savepoint : "");
	else
		fl_log(FL_LOG_ERROR, JM_COMPONENT, "job store: cannot recover job %s: %s", jid, err);
	if (rc != FLINC_OK) jm_ha_remove_job(j, jid);
	fl_conf_destroy(s.job_conf);
	free(s.args);
	json_decref(doc);
}

void jm_ha_recover(jm *j)
{
	if (!j->o.ha_dir) return;
	char *dirpath = fl_asprintf("%s/jobs", j->o.ha_dir);
	DIR *d = opendir(dirpath);
	if (!d) {
		fl_log(FL_LOG_ERROR, JM_COMPONENT, "job store: cannot list %s: %s", dirpath, strerror(errno));
		free(dirpath);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n != JM_JID_LEN + 5 || strcmp(de->d_name + JM_JID_LEN, ".json") != 0) continue;
		char *path = fl_asprintf("%s/%s", dirpath, de->d_name);
		recover_one(j, path);
		free(path);
	}
	closedir(d);
	free(dirpath);
}
