/*
 * ha.c - the job store for job manager restarts (high-availability.storageDir).
 *
 * Layout under the storage folder:
 *   jobs/<jid>.json   one file per job that has not ended: what the job was
 *                     submitted with (jar id, arguments, parallelism, its own
 *                     configuration, the savepoint it started from);
 *                     written atomically at submission, removed when the job
 *                     ends (FINISHED, CANCELED, FAILED)
 *   results/<jid>.json what an ended job looked like at its end (archive.c),
 *                     written before its record goes; the newest
 *                     jobstore.max-capacity of them are kept
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
 * of the new attempt. The stored results come back first, as ended jobs
 * the REST API shows as before; a job record with a result beside it (the
 * job manager stopped between writing the one and removing the other) is
 * a job that ended, and is not run again.
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

/* Put a document (taken) into the store at path, here and on S3:
 * FLINC_OK, or an error with the reason in err. */
static int store_put(const char *path, json_t *doc, char *err, size_t errcap)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	int rc = !text ? fl_errf(err, errcap, FLINC_ENOMEM, "out of memory")
		       : write_atomic(path, text, strlen(text), err, errcap);
	if (!rc) rc = fl_remote_push(path, err, errcap);
	free(text);
	return rc;
}

int jm_ha_init(jm *j, char *err, size_t errcap)
{
	if (!j->o.ha_dir) return FLINC_OK;
	/* On S3 (main.c made ha_dir its local twin): what an earlier job
	 * manager stored comes down first; an empty store is a first start. */
	int rc = fl_remote_pull(j->o.ha_dir, NULL, err, errcap);
	if (rc && rc != FLINC_ENOENT) return rc;
	static const char *const dirs[] = { "jobs", "results" };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char *sub = fl_asprintf("%s/%s", j->o.ha_dir, dirs[i]);
		rc = fl_mkdir_p(sub, err, errcap);
		free(sub);
		if (rc) return FLINC_EIO;
	}
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
	json_t *conf = jm_conf_json(s->job_conf, false); /* the secrets it runs with, for its restart */
	json_t *doc = json_pack("{s:i, s:s, s:s, s:o, s:i, s:o, s:s?, s:b}", "version", 1, "jid", jid,
				"jar_id", s->jar_id, "args", args, "parallelism", s->parallelism, "conf",
				conf, "savepoint", s->savepoint, "allow_non_restored", s->allow_non_restored);
	char *path = fl_asprintf("%s/jobs/%s.json", j->o.ha_dir, jid);
	char err[768];
	if (store_put(path, doc, err, sizeof err))
		fl_log(FL_LOG_ERROR, JM_COMPONENT,
		       "job store: cannot record job %s: %s (it will not survive a job "
		       "manager restart)",
		       jid, err);
	free(path);
}

/* Remove one file of the store, here and on S3; a warning if it stays. */
static void store_remove(const char *path, const char *what, const char *jid)
{
	if (unlink(path) != 0 && errno != ENOENT)
		fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: cannot remove %s: %s", path, strerror(errno));
	char err[768];
	if (fl_remote_remove(path, err, sizeof err))
		fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: cannot remove the %s of job %s: %s", what, jid,
		       err);
}

void jm_ha_remove_job(jm *j, const char *jid)
{
	if (!j->o.ha_dir) return;
	char *path = fl_asprintf("%s/jobs/%s.json", j->o.ha_dir, jid);
	store_remove(path, "record", jid);
	free(path);
}

static char *result_path(const jm *j, const char *jid)
{
	return fl_asprintf("%s/results/%s.json", j->o.ha_dir, jid);
}

void jm_ha_job_ended_locked(jm *j, jm_job *job)
{
	if (!j->o.ha_dir) return;
	char *path = result_path(j, job->jid);
	char err[768];
	if (store_put(path, jm_archive_job_locked(j, job), err, sizeof err))
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "job store: cannot record the result of job %s: %s (a restarted job manager will "
		       "not show it)",
		       job->jid, err);
	free(path);
	jm_ha_remove_job(j, job->jid);
}

void jm_ha_forget_result(jm *j, const char *jid)
{
	if (!j->o.ha_dir) return;
	char *path = result_path(j, jid);
	store_remove(path, "result", jid);
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

/* The names in folder that are "<jid>.json", sorted; *n of them. */
static char **list_records(const char *folder, size_t *n)
{
	*n = 0;
	DIR *d = opendir(folder);
	if (!d) {
		if (errno != ENOENT)
			fl_log(FL_LOG_ERROR, JM_COMPONENT, "job store: cannot list %s: %s", folder,
			       strerror(errno));
		return NULL;
	}
	char **names = NULL;
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len != JM_JID_LEN + 5 || strcmp(de->d_name + JM_JID_LEN, ".json") != 0) continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			names = fl_realloc(names, cap * sizeof *names);
		}
		names[(*n)++] = fl_strdup(de->d_name);
	}
	closedir(d);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++) free(names[i]);
	free(names);
}

static int by_end(const void *a, const void *b)
{
	const jm_job *x = *(jm_job *const *)a, *y = *(jm_job *const *)b;
	if (x->end_ms != y->end_ms) return x->end_ms < y->end_ms ? -1 : 1;
	return strcmp(x->jid, y->jid);
}

enum { RESULT_MAX_BYTES = 64 << 20 };

/* Load results/: the newest jobstore.max-capacity become ended jobs (in
 * the order they ended); older and unreadable ones are said and removed
 * (older) or left for a person to look at (unreadable). */
static void recover_results(jm *j)
{
	char *folder = fl_asprintf("%s/results", j->o.ha_dir);
	size_t n;
	char **names = list_records(folder, &n);
	jm_job **jobs = fl_calloc(n ? n : 1, sizeof *jobs);
	size_t nj = 0;
	for (size_t i = 0; i < n; i++) {
		char *path = fl_asprintf("%s/%s", folder, names[i]);
		struct stat st;
		json_error_t je;
		char err[256] = "";
		json_t *doc = NULL;
		if (stat(path, &st) != 0)
			snprintf(err, sizeof err, "%s", strerror(errno));
		else if (st.st_size > RESULT_MAX_BYTES)
			snprintf(err, sizeof err, "%lld bytes, over the %d MiB a result may have",
				 (long long)st.st_size, RESULT_MAX_BYTES >> 20);
		else if (!(doc = json_load_file(path, 0, &je)))
			snprintf(err, sizeof err, "%s", je.text);
		jm_job *job = doc ? jm_archive_load(doc, err, sizeof err) : NULL;
		json_decref(doc);
		if (job && strncmp(job->jid, names[i], JM_JID_LEN) != 0) {
			snprintf(err, sizeof err, "it holds job %s", job->jid);
			jm_job_free(job);
			job = NULL;
		}
		if (job)
			jobs[nj++] = job;
		else
			fl_log(FL_LOG_ERROR, JM_COMPONENT, "job store: %s is not a job result (%s); skipped",
			       path, err);
		free(path);
	}
	qsort(jobs, nj, sizeof *jobs, by_end);
	size_t drop = nj > (size_t)j->o.jobstore_max ? nj - (size_t)j->o.jobstore_max : 0;
	for (size_t i = 0; i < drop; i++) {
		jm_ha_forget_result(j, jobs[i]->jid);
		jm_job_free(jobs[i]);
	}
	pthread_mutex_lock(&j->mu);
	for (size_t i = drop; i < nj; i++) jm_job_append_locked(j, jobs[i]);
	pthread_mutex_unlock(&j->mu);
	if (nj)
		fl_log(FL_LOG_INFO, JM_COMPONENT, "job store: %zu ended job(s) restored from %s%s", nj - drop,
		       folder, drop ? " (older ones beyond jobstore.max-capacity removed)" : "");
	free(jobs);
	free_names(names, n);
	free(folder);
}

void jm_ha_recover(jm *j)
{
	if (!j->o.ha_dir) return;
	recover_results(j);
	char *dirpath = fl_asprintf("%s/jobs", j->o.ha_dir);
	size_t n;
	char **names = list_records(dirpath, &n);
	for (size_t i = 0; i < n; i++) {
		char jid[JM_JID_LEN + 1];
		memcpy(jid, names[i], JM_JID_LEN);
		jid[JM_JID_LEN] = 0;
		pthread_mutex_lock(&j->mu);
		jm_job *ended = jm_job_find_locked(j, jid);
		const char *state = ended ? jm_job_state_name(ended->state) : NULL;
		pthread_mutex_unlock(&j->mu);
		if (state) {
			fl_log(FL_LOG_INFO, JM_COMPONENT,
			       "job store: job %s ended %s before the restart; not run again", jid, state);
			jm_ha_remove_job(j, jid);
			continue;
		}
		char *path = fl_asprintf("%s/%s", dirpath, names[i]);
		recover_one(j, path);
		free(path);
	}
	free_names(names, n);
	free(dirpath);
}
