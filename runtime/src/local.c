/*
 * local.c - a job in this process (`flinc local`): every subtask here,
 * and a checkpoint coordinator driving them when the job checkpoints.
 *
 * The coordinator talks to the execution through its ops (trigger,
 * complete, too many failures) on its own thread; the execution's upload
 * thread hands it the tasks' acknowledgements; a watcher thread asks for
 * the final checkpoint once every subtask's input ended, as the job
 * manager does when its task managers report ENDED.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../../checkpoint/coord.h"
#include "fl_store.h"
#include "graph.h"

#define LOCAL_LOG "local"

struct fl_local {
	const flinc_env *env;
	fl_exec *x;
	fl_coord *coord; /* NULL: the job does not checkpoint */
	fl_restore *restore;
	char job_id[33];
	char *jobdir;
	pthread_t watcher;
	_Atomic bool stop;
	bool watching;
	/* The coordinator may be inside a callback when the run ends: the
	 * callbacks touch the tasks only while `live`, under mu. */
	pthread_mutex_t mu;
	bool live;
	char *cp_failure; /* under mu: why checkpoints failed the job (too many failures) */
};

/* ---- the coordinator's ops ------------------------------------------------ */

static void lcp_trigger(void *ud, int attempt, int64_t id, int64_t ts, bool savepoint)
{
	(void)attempt, (void)ts;
	fl_local *l = ud;
	pthread_mutex_lock(&l->mu);
	if (l->live) fl_exec_trigger(l->x, id, savepoint);
	pthread_mutex_unlock(&l->mu);
}

static void lcp_complete(void *ud, int attempt, int64_t id, bool final)
{
	(void)attempt;
	fl_local *l = ud;
	pthread_mutex_lock(&l->mu);
	if (l->live) fl_exec_complete(l->x, id, final);
	pthread_mutex_unlock(&l->mu);
}

/* More failed checkpoints in a row than tolerated: the job fails (a local
 * run has no restart strategy) with the coordinator's reason. */
static void lcp_too_many(void *ud, int attempt, const char *why)
{
	(void)attempt;
	fl_local *l = ud;
	fl_log(FL_LOG_ERROR, LOCAL_LOG, "%s: failing the job", why);
	pthread_mutex_lock(&l->mu);
	if (l->live && !l->cp_failure) {
		l->cp_failure = fl_strdup(why);
		fl_exec_cancel(l->x);
	}
	pthread_mutex_unlock(&l->mu);
}

/* The upload thread: a task's acknowledgement, to the coordinator. */
static void lcp_ack(void *ud, const fl_cp_ack_info *a)
{
	fl_local *l = ud;
	fl_cp_ack_deliver(l->coord, a);
}

/* Ask for the final checkpoint once every subtask's input ended. */
static void *lcp_watch(void *arg)
{
	fl_local *l = arg;
	while (!atomic_load(&l->stop)) {
		if (fl_exec_all_ended(l->x)) fl_coord_request_final(l->coord);
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void random_job_id(char out[33])
{
	uint64_t a = (uint64_t)fl_mono_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	uint64_t b = fl_hash64(&a, sizeof a, (uint64_t)time(NULL));
	snprintf(out, 33, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

/* ---- setting up ------------------------------------------------------------ */

/* Checkpointing of the run when the configuration asks for it
 * (state.checkpoints.dir) or p->restore is set. */
static int setup_checkpoints(fl_local *l, const fl_local_params *p, const fl_job_desc *d, char *err,
			     size_t errcap)
{
	char e2[1024];
	fl_cp_conf cc;
	fl_remote_init(p->conf, NULL, 0); /* s3.* keys: folders on S3 (fl_store.h) */
	int rc = fl_cp_conf_read(p->conf, &cc, e2, sizeof e2);
	if (rc) return fl_errf(err, errcap, rc, "%s", e2);
	if (p->restore) {
		rc = fl_restore_open(p->restore, FL_CHK_CHECK_FULL, &l->restore, e2, sizeof e2);
		if (!rc) rc = fl_restore_check(l->restore, d, p->allow_non_restored, e2, sizeof e2);
		if (rc) return fl_errf(err, errcap, rc, "cannot restore: %s", e2);
		if (!cc.dir)
			return fl_errf(
				err, errcap, FLINC_ECONFIG,
				"-s needs state.checkpoints.dir (checkpoints of the restored run go there)");
	}
	if (!cc.dir) return FLINC_OK;
	/* A folder that cannot be made fails now, not at every checkpoint. */
	rc = fl_mkdir_p(cc.dir, e2, sizeof e2);
	if (!rc) rc = fl_remote_probe(cc.dir, e2, sizeof e2); /* on S3: the bucket */
	if (rc) return fl_errf(err, errcap, rc, "state.checkpoints.dir: %s", e2);
	random_job_id(l->job_id);
	l->jobdir = fl_asprintf("%s/%s", cc.dir, l->job_id);
	fl_coord_ops ops = {
		.trigger = lcp_trigger, .complete = lcp_complete, .too_many_failures = lcp_too_many, .ud = l
	};
	rc = fl_cp_coord_create(d, p->conf, &cc, l->job_id, l->jobdir,
				l->restore ? fl_restore_id(l->restore) + 1 : 1, &ops, &l->coord, e2,
				sizeof e2);
	if (rc) return fl_errf(err, errcap, rc, "checkpoints: %s", e2);
	if (l->restore)
		fl_coord_restored(l->coord, fl_restore_id(l->restore), fl_restore_dir(l->restore),
				  fl_restore_meta(l->restore)->is_savepoint);
	fl_cp_setup su = { .job_id = l->job_id,
			   .jobdir = l->jobdir,
			   .attempt = 1,
			   .restore = l->restore,
			   .ack = lcp_ack,
			   .ud = l };
	rc = fl_exec_set_checkpointing(l->x, &su, e2, sizeof e2);
	if (rc) return fl_errf(err, errcap, rc, "checkpoints: %s", e2);
	char u1[4096], u2[4096];
	fl_log(FL_LOG_INFO, LOCAL_LOG, "checkpoints of job %s go to %s (interval %lld ms)%s%s", l->job_id,
	       fl_remote_url(l->jobdir, u1, sizeof u1), (long long)cc.interval_ms,
	       l->restore ? "; restoring from " : "",
	       l->restore ? fl_remote_url(fl_restore_dir(l->restore), u2, sizeof u2) : "");
	return FLINC_OK;
}

int fl_local_create(const fl_local_params *p, fl_local **out, char *err, size_t errcap)
{
	*out = NULL;
	fl_local *l = fl_calloc(1, sizeof *l);
	l->env = p->env;
	pthread_mutex_init(&l->mu, NULL);
	int rc = fl_exec_create(p->env, p->conf, NULL, &l->x, err, errcap);
	if (!rc) {
		/* The job as the checkpoint side sees it: uids, key groups. */
		fl_job_desc *d = fl_job_desc_create(p->env);
		rc = setup_checkpoints(l, p, d, err, errcap);
		fl_job_desc_free(d);
	}
	if (rc) {
		fl_local_destroy(l);
		return rc;
	}
	*out = l;
	return FLINC_OK;
}

/* ---- running ---------------------------------------------------------------- */

/* The tasks run: start checkpointing them. */
static void checkpoints_start(fl_local *l)
{
	if (!l->coord) return;
	uint32_t n;
	fl_task **ts = fl_exec_tasks(l->x, &n);
	fl_coord_task *ct = fl_calloc(n ? n : 1, sizeof *ct);
	for (uint32_t i = 0; i < n; i++)
		ct[i] = (fl_coord_task){ fl_task_vertex_index(ts[i]), fl_task_subtask(ts[i]) };
	pthread_mutex_lock(&l->mu);
	l->live = true;
	pthread_mutex_unlock(&l->mu);
	fl_coord_start(l->coord, 1, ct, n);
	free(ct);
	l->watching = pthread_create(&l->watcher, NULL, lcp_watch, l) == 0;
}

static void checkpoints_end(fl_local *l)
{
	if (l->watching) {
		atomic_store(&l->stop, true);
		pthread_join(l->watcher, NULL);
		l->watching = false;
	}
	pthread_mutex_lock(&l->mu);
	l->live = false;
	pthread_mutex_unlock(&l->mu);
	if (l->coord) {
		fl_coord_counts c;
		fl_coord_counts_get(l->coord, &c);
		char url[4096];
		fl_log(FL_LOG_INFO, LOCAL_LOG, "checkpoints: %lld completed, %lld failed; latest %lld in %s",
		       (long long)c.completed, (long long)c.failed, (long long)c.last_completed_id,
		       fl_remote_url(l->jobdir, url, sizeof url));
		fl_coord_stop(l->coord, "the job ended");
	}
}

int fl_local_run(fl_local *l, fl_run_stats *stats, char *err, size_t errcap)
{
	int rc = fl_exec_start(l->x, err, errcap);
	if (rc == FLINC_OK) checkpoints_start(l);
	int wrc = fl_exec_wait(l->x, stats, err, errcap);
	if (!rc) rc = wrc;
	checkpoints_end(l);
	pthread_mutex_lock(&l->mu);
	if (l->cp_failure && rc == FLINC_ECANCELED) rc = fl_errf(err, errcap, FLINC_EIO, "%s", l->cp_failure);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

void fl_local_cancel(fl_local *l) { fl_exec_cancel(l->x); }

void fl_local_destroy(fl_local *l)
{
	if (!l) return;
	/* The execution first: its upload thread hands acknowledgements to
	 * the coordinator. */
	fl_exec_destroy(l->x);
	fl_coord_destroy(l->coord);
	fl_restore_close(l->restore);
	free(l->jobdir);
	free(l->cp_failure);
	pthread_mutex_destroy(&l->mu);
	free(l);
}
