/*
 * checkpoints.c - the job manager's side of checkpoints: one coordinator
 * (checkpoint/coord.h) per checkpointed job, its messages to the task
 * managers, acknowledgements from them, restart strategies, savepoints
 * and the asynchronous REST operations that wait for them.
 *
 * Locking (jm.h): the coordinator's callbacks run on its own thread with
 * no coordinator lock held; they take jm.mu and find the job by id, so a
 * job that is gone is simply not found. A coordinator is destroyed (its
 * thread joined) only without jm.mu: evicted jobs hand it to the monitor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "coord.h"
#include "fl_conf_keys.h"
#include "fl_runtime.h"
#include "jm.h"
#include "rpc.h"

#define OPS_MAX 1000 /* finished operations kept for polling */

typedef struct jm_cp_ud {
	jm *j;
	char jid[JM_JID_LEN + 1];
} jm_cp_ud;

typedef struct jm_dead_coord {
	struct jm_dead_coord *next;
	fl_coord *coord;
	jm_cp_ud *ud;
} jm_dead_coord;

typedef struct jm_operation {
	char id[JM_JID_LEN + 1];
	char jid[JM_JID_LEN + 1]; /* "" for a disposal */
	bool done, ok, stop;
	char *location, *error;
} jm_operation;

/* ---- messages to the task managers --------------------------------------- */

/* Send env to every task manager that holds subtasks of the job. */
static void to_job_tms(jm *j, jm_job *job, const Flinc__Envelope *env)
{
	for (int s = 0; s < job->nslots; s++) {
		const char *id = job->slots[s].tm_id;
		if (!id) continue;
		bool seen = false;
		for (int t = 0; t < s && !seen; t++)
			seen = job->slots[t].tm_id && strcmp(job->slots[t].tm_id, id) == 0;
		if (seen) continue;
		jm_tm *tm = jm_tm_find_locked(j, id);
		if (tm && tm->connected) jm_tm_enqueue_locked(j, tm, jm_cmd_new(JM_CMD_CHECKPOINT, job, env));
	}
}

static jm_job *live_job(jm_cp_ud *u, int attempt)
{
	jm_job *job = jm_job_find_locked(u->j, u->jid);
	if (!job || job->attempt != attempt || jm_job_state_terminal(job->state) || !job->placed) return NULL;
	return job;
}

/* A coordinator callback's message to the task managers of the job's
 * attempt, if that attempt still runs. */
static void to_attempt(jm_cp_ud *u, int attempt, Flinc__Envelope *env)
{
	pthread_mutex_lock(&u->j->mu);
	jm_job *job = live_job(u, attempt);
	if (job) to_job_tms(u->j, job, env);
	pthread_mutex_unlock(&u->j->mu);
}

static void cb_trigger(void *ud, int attempt, int64_t id, int64_t ts, bool savepoint)
{
	jm_cp_ud *u = ud;
	Flinc__TriggerCheckpoint m = FLINC__TRIGGER_CHECKPOINT__INIT;
	m.job_id = u->jid;
	m.attempt = attempt;
	m.checkpoint_id = id;
	m.timestamp = ts;
	m.savepoint = savepoint;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_TRIGGER;
	env.trigger = &m;
	to_attempt(u, attempt, &env);
}

static void cb_complete(void *ud, int attempt, int64_t id, bool final)
{
	jm_cp_ud *u = ud;
	Flinc__NotifyCheckpointComplete m = FLINC__NOTIFY_CHECKPOINT_COMPLETE__INIT;
	m.job_id = u->jid;
	m.attempt = attempt;
	m.checkpoint_id = id;
	m.final = final;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_CHECKPOINT_COMPLETE;
	env.checkpoint_complete = &m;
	to_attempt(u, attempt, &env);
}

static void cb_too_many(void *ud, int attempt, const char *why)
{
	jm_cp_ud *u = ud;
	pthread_mutex_lock(&u->j->mu);
	jm_job *job = live_job(u, attempt);
	/* why: "Exceeded checkpoint tolerable failure threshold (N): <the last failure>" */
	if (job) jm_sched_fail_job_locked(u->j, job, why);
	pthread_mutex_unlock(&u->j->mu);
}

/* ---- settings -------------------------------------------------------------- */

/* Read the job's restart strategy into job->restart_*. FLINC_OK, or
 * FLINC_ECONFIG with the key at fault in err. */
static int restart_conf(jm_job *job, const fl_conf *conf, bool checkpointing, char *err, size_t errcap)
{
	const char *kind = fl_conf_get(conf, "restart-strategy.type");
	if (!kind) kind = fl_conf_get(conf, "restart-strategy");
	bool ok = true;
	/* Flink's default: fixed-delay without end when the job checkpoints,
	 * none otherwise. Our delay is shorter (recovery is fast here). */
	if (!kind) kind = checkpointing ? "fixed-delay" : "none";
	if (!strcasecmp(kind, "none") || !strcasecmp(kind, "off") || !strcasecmp(kind, "disable")) {
		job->restart_kind = JM_RESTART_NONE;
	} else if (!strcasecmp(kind, "fixed-delay") || !strcasecmp(kind, "fixeddelay")) {
		job->restart_kind = JM_RESTART_FIXED;
		job->restart_max = fl_conf_i64(conf, "restart-strategy.fixed-delay.attempts", INT32_MAX, &ok);
		job->restart_delay_ms =
			fl_conf_duration_ms(conf, "restart-strategy.fixed-delay.delay", 200, &ok);
		if (!ok || job->restart_max < 0 || job->restart_delay_ms < 0) {
			snprintf(err, errcap,
				 "restart-strategy.fixed-delay.attempts / .delay: not a count / a duration");
			return FLINC_ECONFIG;
		}
	} else if (!strcasecmp(kind, "exponential-delay") || !strcasecmp(kind, "exponentialdelay")) {
		job->restart_kind = JM_RESTART_EXPONENTIAL;
		job->restart_max =
			fl_conf_i64(conf, "restart-strategy.exponential-delay.attempts-before-reset-backoff",
				    INT32_MAX, &ok);
		job->restart_delay_ms = fl_conf_duration_ms(
			conf, "restart-strategy.exponential-delay.initial-backoff", 200, &ok);
		job->restart_max_delay_ms = fl_conf_duration_ms(
			conf, "restart-strategy.exponential-delay.max-backoff", 60000, &ok);
		const char *m = fl_conf_get(conf, "restart-strategy.exponential-delay.backoff-multiplier");
		job->restart_multiplier = m ? strtod(m, NULL) : 2.0;
		if (!ok || job->restart_delay_ms < 0 || job->restart_max_delay_ms < job->restart_delay_ms ||
		    job->restart_multiplier < 1.0 || job->restart_max < 0) {
			snprintf(
				err, errcap,
				"restart-strategy.exponential-delay.*: initial-backoff <= max-backoff durations, "
				"backoff-multiplier >= 1, attempts-before-reset-backoff >= 0");
			return FLINC_ECONFIG;
		}
	} else {
		snprintf(err, errcap,
			 "restart-strategy '%.100s' is not one of fixed-delay, exponential-delay, none",
			 kind);
		return FLINC_ECONFIG;
	}
	return FLINC_OK;
}

/* The savepoint the job starts from (s->savepoint), opened and checked
 * against the job's graph: FLINC_OK with *r (NULL: none; the caller closes
 * it) and job->restore_path set, or with the reason in err FLINC_ECONFIG
 * (the job does not checkpoint) or FLINC_EINVAL (unreadable, or it does
 * not fit the graph). Reads the disk. */
static int open_savepoint(jm_job *job, const fl_job_desc *d, const jm_submit *s, bool checkpointing,
			  fl_restore **r, char *err, size_t errcap)
{
	char e2[1024];
	*r = NULL;
	if (!s->savepoint || !*s->savepoint) return FLINC_OK;
	if (!checkpointing) {
		snprintf(err, errcap, "cannot restore from %s: the job needs state.checkpoints.dir",
			 s->savepoint);
		return FLINC_ECONFIG;
	}
	if (fl_restore_open(s->savepoint, FL_CHK_CHECK_FULL, r, e2, sizeof e2) ||
	    fl_restore_check(*r, d, s->allow_non_restored, e2, sizeof e2)) {
		snprintf(err, errcap, "cannot restore from %s: %s", s->savepoint, e2);
		fl_restore_close(*r);
		*r = NULL;
		return FLINC_EINVAL;
	}
	job->restore_path = fl_strdup(fl_restore_dir(*r)); /* an s3:// one: its local twin */
	return FLINC_OK;
}

/* The id of the job's first checkpoint: after the savepoint's (r, may be
 * NULL), and after every id its folder (job->jobdir) saw, completed or
 * not: a recovered job's pending sink files of those ids must never be
 * mistaken for a new checkpoint's. */
static int64_t first_checkpoint_id(const jm_job *job, const fl_restore *r)
{
	int64_t next_id = r ? fl_restore_id(r) + 1 : 1;
	int64_t *ids = NULL;
	size_t nids = 0;
	char e2[1024];
	if (fl_chk_list(job->jobdir, &ids, &nids, e2, sizeof e2) == 0 && nids && ids[nids - 1] >= next_id)
		next_id = ids[nids - 1] + 1;
	free(ids);
	return next_id;
}

/* The job's coordinator, its callbacks bound to the job by id (jm_cp_ud,
 * owned by the job). FLINC_OK, or FLINC_ECONFIG with the reason in err. */
static int coord_create(jm *j, jm_job *job, const fl_job_desc *d, const fl_cp_conf *cc, int64_t next_id,
			char *err, size_t errcap)
{
	job->cpud = fl_calloc(1, sizeof *job->cpud);
	job->cpud->j = j;
	memcpy(job->cpud->jid, job->jid, sizeof job->cpud->jid);
	fl_coord_ops ops = { .trigger = cb_trigger,
			     .complete = cb_complete,
			     .too_many_failures = cb_too_many,
			     .ud = job->cpud };
	char e2[1024];
	/* The job's configuration is the one its inspection built d with. */
	int rc = fl_cp_coord_create(d, job->conf, cc, job->jid, job->jobdir, next_id, &ops, &job->coord, e2,
				    sizeof e2);
	if (rc) {
		snprintf(err, errcap, "checkpoints: %s", e2);
		return FLINC_ECONFIG;
	}
	return FLINC_OK;
}

/* jm.h. Settings first (a bad one is named before any disk work), then
 * the savepoint, then the coordinator, which learns what it restores. */
int jm_cp_job_init(jm *j, jm_job *job, const fl_job_desc *d, const jm_submit *s, char *err, size_t errcap)
{
	fl_cp_conf cc;
	char e2[1024];
	if (fl_cp_conf_read(job->conf, &cc, e2, sizeof e2)) {
		snprintf(err, errcap, "%s", e2);
		return FLINC_ECONFIG;
	}
	int rc = restart_conf(job, job->conf, cc.dir != NULL, err, errcap);
	if (rc != FLINC_OK) return rc;
	fl_restore *r = NULL;
	rc = open_savepoint(job, d, s, cc.dir != NULL, &r, err, errcap);
	if (rc != FLINC_OK || !cc.dir) return rc; /* without a folder there is no savepoint either */
	job->jobdir = fl_asprintf("%s/%s", cc.dir, job->jid);
	rc = coord_create(j, job, d, &cc, first_checkpoint_id(job, r), err, errcap);
	if (rc == FLINC_OK && r)
		fl_coord_restored(job->coord, fl_restore_id(r), s->savepoint,
				  fl_restore_meta(r)->is_savepoint);
	fl_restore_close(r);
	return rc;
}

void jm_cp_job_free(jm_job *job)
{
	fl_coord_destroy(job->coord);
	job->coord = NULL;
	free(job->cpud);
	job->cpud = NULL;
	free(job->jobdir);
	free(job->restore_path);
}

void jm_cp_job_retire_locked(jm *j, jm_job *job)
{
	if (!job->coord) return;
	jm_dead_coord *d = fl_calloc(1, sizeof *d);
	d->coord = job->coord;
	d->ud = job->cpud;
	d->next = j->dead_coords;
	j->dead_coords = d;
	job->coord = NULL;
	job->cpud = NULL;
}

void jm_cp_reap(jm *j)
{
	pthread_mutex_lock(&j->mu);
	jm_dead_coord *d = j->dead_coords;
	j->dead_coords = NULL;
	pthread_mutex_unlock(&j->mu);
	while (d) {
		jm_dead_coord *n = d->next;
		fl_coord_destroy(d->coord);
		free(d->ud);
		free(d);
		d = n;
	}
}

/* ---- job state hooks -------------------------------------------------------- */

void jm_cp_started_locked(jm *j, jm_job *job)
{
	(void)j;
	if (!job->coord) return;
	fl_coord_task *t = fl_calloc((size_t)job->nsubtasks, sizeof *t);
	size_t n = 0;
	for (uint32_t k = 0; k < job->nv; k++)
		for (int i = 0; i < job->v[k].parallelism; i++)
			t[n++] = (fl_coord_task){ job->v[k].index, i };
	fl_coord_start(job->coord, job->attempt, t, n);
	free(t);
}

void jm_cp_stopped_locked(jm_job *job, const char *why)
{
	if (job->coord) fl_coord_stop(job->coord, why);
}

void jm_cp_all_ended_locked(jm_job *job)
{
	if (job->coord) fl_coord_request_final(job->coord); /* idempotent until the attempt stops */
}

bool jm_restart_allowed_locked(jm_job *job, int64_t *delay_ms)
{
	if (job->stopping) return false;
	switch (job->restart_kind) {
	case JM_RESTART_FIXED:
		if (job->restarts >= job->restart_max) return false;
		*delay_ms = job->restart_delay_ms;
		return true;
	case JM_RESTART_EXPONENTIAL: {
		if (job->restart_max && job->restarts >= job->restart_max) return false;
		double d = (double)job->restart_delay_ms;
		for (int64_t k = 0; k < job->restarts && d < (double)job->restart_max_delay_ms; k++)
			d *= job->restart_multiplier;
		*delay_ms = d > (double)job->restart_max_delay_ms ? job->restart_max_delay_ms : (int64_t)d;
		return true;
	}
	default: return false;
	}
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	fl_log(FL_LOG_WARN, JM_COMPONENT, "%s", line);
}

void jm_restart_prepare_locked(jm *j, jm_job *job)
{
	(void)j;
	if (job->jobdir) {
		/* Disk work under the lock, once per restart: the full check
		 * (every file's checksum) is what lets a corrupt checkpoint be
		 * passed over here, with a log line, rather than fail the tasks. */
		int64_t id;
		char err[768];
		/* On S3: the checkpoints' files come down first (those already
		 * here with their size are kept). Network I/O under the lock:
		 * once per restart, as the disk work below. */
		int rc = fl_chk_remote_fetch_job(job->jobdir, log_line, NULL, err, sizeof err);
		if (rc)
			fl_log(FL_LOG_WARN, JM_COMPONENT, "Job %s (%s): cannot list its checkpoints: %s",
			       job->name, job->jid, err);
		rc = fl_chk_latest(job->jobdir, INT64_MAX, FL_CHK_CHECK_FULL, &id, log_line, NULL, err,
				   sizeof err);
		if (rc == FLINC_OK) {
			char dir[4096];
			fl_chk_dir(dir, sizeof dir, job->jobdir, id);
			free(job->restore_path);
			job->restore_path = fl_strdup(dir);
			char url[4096];
			fl_coord_restored(job->coord, id, fl_remote_url(dir, url, sizeof url), false);
			fl_log(FL_LOG_INFO, JM_COMPONENT, "Job %s (%s): restoring from checkpoint %lld (%s)",
			       job->name, job->jid, (long long)id, url);
		} else {
			fl_log(FL_LOG_INFO, JM_COMPONENT,
			       "Job %s (%s): no completed checkpoint to restore from (%s); %s", job->name,
			       job->jid, err,
			       job->restore_path ? "restoring from where it started"
						 : "starting from the beginning");
		}
	}
	job->attempt++;
	job->restarts++;
	job->restart_at = 0;
	job->restart_pending = false;
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex *v = &job->v[k];
		for (int i = 0; i < v->parallelism; i++) {
			jm_subtask *st = &v->sub[i];
			free(st->tm_id);
			free(st->host);
			free(st->error);
			memset(st, 0, sizeof *st);
			st->slot = -1;
		}
	}
	for (int s = 0; s < job->nslots; s++) {
		free(job->slots[s].tm_id);
		job->slots[s].tm_id = NULL;
		job->slots[s].live = 0;
	}
	job->placed = false;
}

/* ---- acknowledgements ----------------------------------------------------------- */

const char *jm_cp_ack(jm *j, const Flinc__AcknowledgeCheckpoint *a)
{
	pthread_mutex_lock(&j->mu);
	jm_job *job = a->job_id ? jm_job_find_locked(j, a->job_id) : NULL;
	if (job && job->coord) {
		/* The task manager's fl_cp_ack_info, back from the wire. */
		fl_cp_ack_info ack = { .attempt = a->attempt,
				       .id = a->checkpoint_id,
				       .vertex = a->vertex,
				       .subtask = a->subtask,
				       .ended = a->ended,
				       .rc = a->ok ? 0 : FLINC_EIO,
				       .file = { .path = a->path,
						 .vertex_id = a->vertex_id,
						 .subtask = a->subtask,
						 .parallelism = a->parallelism,
						 .kg_first = a->kg_first,
						 .kg_last = a->kg_last,
						 .size = a->size,
						 .crc = a->crc,
						 .native = a->native && *a->native ? a->native : NULL },
				       .shared = a->shared,
				       .n_shared = a->n_shared,
				       .state_size = a->state_size,
				       .checkpointed_size = a->checkpointed_size,
				       .align_ms = a->align_ms,
				       .sync_ms = a->sync_ms,
				       .async_ms = a->async_ms };
		if (!a->ok)
			snprintf(ack.err, sizeof ack.err, "%s",
				 a->error && *a->error ? a->error : "no reason given");
		fl_cp_ack_deliver(job->coord, &ack);
	}
	pthread_mutex_unlock(&j->mu);
	return job ? NULL : "unknown job";
}

/* ---- folders a client may name ---------------------------------------------
 *
 * A client names folders in three places: a savepoint's target-directory
 * (written), savepointPath at submit (read) and savepoint-disposal
 * (deleted). Unless the cluster sets state.savepoints.allow-any-dir, each
 * must lie under the job manager's own folders: state.savepoints.dir for
 * all three, state.checkpoints.dir too for a restore. The check is by name
 * first, so a path outside gets the same answer whether or not it exists;
 * inside, no part of the path may be a symbolic link. */

typedef enum { SP_WRITE, SP_READ, SP_DISPOSE } sp_use;

static bool allow_any_dir(const jm *j)
{
	return fl_conf_parse_bool(fl_conf_get(j->conf, "state.savepoints.allow-any-dir")) == 1;
}

/* The cluster's folder for key, or NULL. */
static const char *cluster_dir(const jm *j, const char *key)
{
	const char *d = fl_conf_get(j->conf, key);
	if (!d || !*d) return NULL;
	/* s3://B/P: its local twin, which client paths are localized to too */
	const char *l = fl_remote_localize(d, NULL, 0);
	return l ? l : d;
}

/* A folder a client names, as the job manager works on it (the local
 * twin of an s3:// URL); a malformed URL stays as it is and is refused
 * by the checks that follow. */
static const char *client_path(const char *p)
{
	const char *l = p ? fl_remote_localize(p, NULL, 0) : NULL;
	return l ? l : p;
}

/* Is path allowed for use? FLINC_OK with *root (NULL with allow-any-dir)
 * and rel (the part under it), else FLINC_EINVAL with one line in err
 * that says where such paths must be, not what is at path. */
static int sp_path_check(const jm *j, const char *path, sp_use use, const char **root, char *rel,
			 size_t relcap, char *err, size_t errcap)
{
	static const char *const what[] = { "savepoint target-directory", "cannot restore from",
					    "cannot dispose of" };
	*root = NULL;
	rel[0] = 0;
	if (allow_any_dir(j)) return FLINC_OK;
	const char *sp = cluster_dir(j, "state.savepoints.dir"),
		   *chk = cluster_dir(j, "state.checkpoints.dir");
	if (sp && fl_path_inside(sp, path, rel, relcap))
		*root = sp;
	else if (use == SP_READ && chk && fl_path_inside(chk, path, rel, relcap))
		*root = chk;
	if (!*root) {
		if (!sp && (use != SP_READ || !chk))
			return fl_errf(err, errcap, FLINC_EINVAL,
				       "%s '%.300s': the job manager has no state.savepoints.dir to keep "
				       "savepoints in (or set state.savepoints.allow-any-dir there)",
				       what[use], path);
		return fl_errf(
			err, errcap, FLINC_EINVAL,
			"%s '%.300s': outside the job manager's %s (allowed: paths under it without '.' "
			"or '..'; state.savepoints.allow-any-dir lifts this)",
			what[use], path,
			use == SP_READ && chk ? (sp ? "state.savepoints.dir and state.checkpoints.dir"
						    : "state.checkpoints.dir")
					      : "state.savepoints.dir");
	}
	if (use == SP_DISPOSE && !rel[0])
		return fl_errf(err, errcap, FLINC_EINVAL, "%s '%.300s': it is the savepoints folder itself",
			       what[use], path);
	char e2[512];
	if (fl_check_no_links(*root, rel, e2, sizeof e2) != FLINC_OK)
		return fl_errf(err, errcap, FLINC_EINVAL, "%s '%.300s': %s", what[use], path, e2);
	return FLINC_OK;
}

/* A key of a recovered job this job manager does not know. */
static void recovered_key_warning(void *ud, const char *line)
{
	fl_log(FL_LOG_WARN, JM_COMPONENT, "job store: job %s: %s (kept)", (const char *)ud, line);
}

/* The early checks of a submission (jm.h). */
int jm_cp_submit_check(jm *j, const jm_submit *s, char *err, size_t errcap)
{
	char msg[768], rel[4096];
	const char *root;
	/* The job's own keys: known, settable by a job, in range. The cluster's
	 * were checked at start. A job recovered from the job store was
	 * admitted by an earlier job manager: a key this one does not know is
	 * a warning there, not a reason to drop the job. */
	unsigned flags = FL_CONF_CHECK_JOB | (s->recover_jid ? FL_CONF_CHECK_LENIENT : 0);
	if (s->job_conf &&
	    fl_conf_check(s->job_conf, flags, recovered_key_warning, (void *)s->recover_jid, msg,
			  sizeof msg) != FLINC_OK)
		return fl_errf(err, errcap, FLINC_ECONFIG, "invalid flinkConfiguration: %s", msg);
	const char *own_sp =
		s->job_conf ? client_path(fl_conf_get(s->job_conf, "state.savepoints.dir")) : NULL;
	if (own_sp && !s->recover_jid &&
	    sp_path_check(j, own_sp, SP_WRITE, &root, rel, sizeof rel, msg, sizeof msg))
		return fl_errf(err, errcap, FLINC_ECONFIG, "state.savepoints.dir: %s", msg);
	/* A client's savepointPath (a recovered job restores from its own
	 * checkpoints, which the job manager found itself). */
	if (s->savepoint && *s->savepoint && !s->recover_jid &&
	    sp_path_check(j, client_path(s->savepoint), SP_READ, &root, rel, sizeof rel, msg, sizeof msg))
		return fl_errf(err, errcap, FLINC_EINVAL, "%s", msg);
	/* The checkpoint folder: refused now rather than failing every
	 * checkpoint later. Made (as the coordinator would) and written once. */
	const char *dir = s->job_conf ? fl_conf_get(s->job_conf, "state.checkpoints.dir") : NULL;
	if (!dir) dir = cluster_dir(j, "state.checkpoints.dir"); /* the job's "" turns them off */
	const char *url = dir && fl_store_is_s3(dir) ? dir : NULL;
	if (url) {
		char e2[768];
		const char *l = fl_remote_localize(dir, e2, sizeof e2);
		if (!l) return fl_errf(err, errcap, FLINC_ECONFIG, "state.checkpoints.dir: %s", e2);
		dir = l;
	}
	if (dir && *dir) {
		char e2[1024], *probe = NULL;
		int rc = fl_mkdir_p(dir, e2, sizeof e2);
		if (rc == FLINC_OK && !(probe = fl_mkdtemp_in(dir, ".flinc-probe-")))
			rc = fl_errf(e2, sizeof e2, FLINC_EIO, "%s: cannot create a folder in it: %s", dir,
				     strerror(errno));
		if (probe) {
			rmdir(probe);
			free(probe);
		}
		if (rc == FLINC_OK) rc = fl_remote_probe(dir, e2, sizeof e2); /* on S3: the bucket */
		if (rc != FLINC_OK) {
			fl_log(FL_LOG_WARN, JM_COMPONENT, "refusing a job: state.checkpoints.dir: %s", e2);
			/* what S3 answered tells nothing of this machine's files */
			if (url && fl_remote_is(dir))
				return fl_errf(err, errcap, FLINC_ECONFIG,
					       "state.checkpoints.dir '%.300s': %s", url, e2);
			return fl_errf(
				err, errcap, FLINC_ECONFIG,
				"state.checkpoints.dir '%.300s' is not a folder the job manager can create "
				"and write (its log says why)",
				dir);
		}
	}
	return FLINC_OK;
}

/* ---- asynchronous operations ----------------------------------------------------- */

static jm_operation *op_new_locked(jm *j, const char *jid)
{
	if (j->nops >= OPS_MAX) {
		/* drop the oldest finished one */
		for (size_t i = 0; i < j->nops; i++) {
			if (!j->ops[i]->done) continue;
			free(j->ops[i]->location);
			free(j->ops[i]->error);
			free(j->ops[i]);
			memmove(&j->ops[i], &j->ops[i + 1], (j->nops - i - 1) * sizeof *j->ops);
			j->nops--;
			break;
		}
	}
	jm_operation *o = fl_calloc(1, sizeof *o);
	jm_random_hex32(o->id);
	snprintf(o->jid, sizeof o->jid, "%s", jid ? jid : "");
	j->ops = fl_realloc(j->ops, (j->nops + 1) * sizeof *j->ops);
	j->ops[j->nops++] = o;
	return o;
}

static jm_operation *op_find_locked(jm *j, const char *id)
{
	for (size_t i = 0; i < j->nops; i++)
		if (!strcmp(j->ops[i]->id, id)) return j->ops[i];
	return NULL;
}

typedef struct sp_ud {
	jm *j;
	char op[JM_JID_LEN + 1];
} sp_ud;

static void savepoint_done(void *ud, bool ok, const char *msg)
{
	sp_ud *u = ud;
	jm *j = u->j;
	pthread_mutex_lock(&j->mu);
	jm_operation *o = op_find_locked(j, u->op);
	if (o) {
		o->done = true;
		o->ok = ok;
		if (ok)
			o->location = fl_strdup(msg);
		else
			o->error = jm_utf8_dup(msg);
		if (ok && o->stop) {
			jm_job *job = jm_job_find_locked(j, o->jid);
			if (job && !jm_job_state_terminal(job->state)) {
				job->stopping = true;
				fl_log(FL_LOG_INFO, JM_COMPONENT,
				       "Job %s (%s): savepoint %s taken, stopping the job", job->name,
				       job->jid, msg);
				jm_sched_stop_job_locked(j, job);
			}
		}
	}
	pthread_mutex_unlock(&j->mu);
	free(u);
}

/* jm.h. The coordinator takes the savepoint on its own thread;
 * savepoint_done records the outcome in the operation polled by REST. */
int jm_savepoint_trigger(jm *j, const char *jid, const char *target, bool stop, char *reqid, char *err,
			 size_t errcap)
{
	/* The folder is checked without jm.mu (it opens folders): first the
	 * job and its folder under the lock, then the check, then the job
	 * again (it may have changed meanwhile). */
	char *folder = NULL;
	int rc = FLINC_OK;
	for (int pass = 0; pass < 2 && rc == FLINC_OK; pass++) {
		pthread_mutex_lock(&j->mu);
		jm_job *job = jm_job_get_locked(j, jid, err, errcap);
		if (!job) {
			rc = FLINC_ENOENT;
		} else if (!job->coord) {
			snprintf(err, errcap,
				 "Job %s does not checkpoint: savepoints need state.checkpoints.dir", jid);
			rc = FLINC_ECONFIG;
		} else if (job->state != JM_JOB_RUNNING) {
			snprintf(err, errcap, "Job %s is %s: savepoints are taken of RUNNING jobs", jid,
				 jm_job_state_name(job->state));
			rc = FLINC_ESTATE;
		} else if (pass == 0) {
			const char *t =
				target && *target ? target : fl_conf_get(job->conf, "state.savepoints.dir");
			if (!t || !*t) {
				snprintf(err, errcap,
					 "no savepoint folder: give one (target-directory) or set "
					 "state.savepoints.dir");
				rc = FLINC_ECONFIG;
			} else {
				folder = fl_strdup(client_path(t));
			}
		} else {
			jm_operation *o = op_new_locked(j, jid);
			o->stop = stop;
			memcpy(reqid, o->id, JM_JID_LEN + 1);
			sp_ud *u = fl_calloc(1, sizeof *u);
			u->j = j;
			memcpy(u->op, o->id, sizeof u->op);
			fl_log(FL_LOG_INFO, JM_COMPONENT, "Job %s (%s): %s into %s", job->name, job->jid,
			       stop ? "stop with savepoint" : "savepoint", folder);
			fl_coord_savepoint(job->coord, folder, stop, savepoint_done, u);
		}
		pthread_mutex_unlock(&j->mu);
		if (rc == FLINC_OK && pass == 0) {
			const char *root;
			char rel[4096];
			rc = sp_path_check(j, folder, SP_WRITE, &root, rel, sizeof rel, err, errcap);
		}
	}
	free(folder);
	return rc;
}

/* jm.h. Never fails itself: a disposal that fails is a failed
 * operation, as Flink reports it. */
int jm_savepoint_dispose(jm *j, const char *path, char *reqid, char *err, size_t errcap)
{
	char e2[1024] = "", rel[4096];
	const char *root;
	path = client_path(path);
	/* Outside the allowed folders: refused at once (400), nothing opened. */
	int rc = sp_path_check(j, path, SP_DISPOSE, &root, rel, sizeof rel, err, errcap);
	if (rc != FLINC_OK) {
		fl_log(FL_LOG_WARN, JM_COMPONENT, "savepoint disposal refused: %s", err);
		return rc;
	}
	/* disk work: without the lock. On S3: downloaded, disposed of here,
	 * then removed from the store (only a savepoint is) */
	if (fl_remote_is(path)) {
		size_t n = 0;
		rc = fl_remote_pull(path, &n, e2, sizeof e2);
		if (rc == FLINC_ENOENT)
			rc = fl_errf(e2, sizeof e2, FLINC_EINVAL,
				     "%s: not a savepoint, refusing to remove it", path);
	}
	if (rc) {
		/* reported below */
	} else if (!root) {
		rc = fl_savepoint_dispose(path, e2, sizeof e2);
	} else {
		/* From the root down, one folder at a time, links never followed. */
		char *slash = strrchr(rel, '/');
		const char *name = slash ? slash + 1 : rel;
		if (slash) *slash = 0;
		int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int pfd = rfd < 0 ? -errno
			: slash   ? fl_openat_beneath(rfd, rel, O_RDONLY | O_DIRECTORY)
				  : dup(rfd);
		if (rfd >= 0) close(rfd);
		if (slash) *slash = '/';
		if (pfd < 0)
			rc = fl_errf(e2, sizeof e2, FLINC_EINVAL,
				     "%s: not a savepoint, refusing to remove it (%s)", path,
				     pfd == -ELOOP ? "a symbolic link on its way" : strerror(-pfd));
		else
			rc = fl_savepoint_dispose_at(pfd, name, path, e2, sizeof e2);
		if (pfd >= 0) close(pfd);
	}
	if (!rc && fl_remote_is(path)) rc = fl_remote_remove(path, e2, sizeof e2);
	pthread_mutex_lock(&j->mu);
	jm_operation *o = op_new_locked(j, NULL);
	o->done = true;
	o->ok = rc == 0;
	if (rc) o->error = jm_utf8_dup(e2);
	memcpy(reqid, o->id, JM_JID_LEN + 1);
	pthread_mutex_unlock(&j->mu);
	fl_log(rc ? FL_LOG_WARN : FL_LOG_INFO, JM_COMPONENT, "savepoint disposal of %s: %s", path,
	       rc ? e2 : "done");
	return FLINC_OK;
}

json_t *jm_operation_view(jm *j, const char *jid, const char *reqid)
{
	pthread_mutex_lock(&j->mu);
	jm_operation *o = op_find_locked(j, reqid);
	json_t *doc = NULL;
	if (o && strcmp(o->jid, jid ? jid : "") == 0) {
		json_t *op = json_object();
		if (o->done && o->ok && o->location)
			json_object_set_new(op, "location", json_string(o->location));
		if (o->done && !o->ok)
			json_object_set_new(op, "failure-cause",
					    json_pack("{s:s, s:s}", "class", "flinc.CheckpointException",
						      "stack-trace", o->error ? o->error : "failed"));
		doc = json_pack("{s:{s:s}, s:o}", "status", "id", o->done ? "COMPLETED" : "IN_PROGRESS",
				"operation", op);
	}
	pthread_mutex_unlock(&j->mu);
	return doc;
}
