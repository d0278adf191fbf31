/*
 * scheduler.c - jobs: submission, slots, placement and the state machines.
 *
 * A job is built once here, in a plugin inspection helper process (the
 * plugin from the blob store loaded, its graph built and planned there,
 * fl_inspect_run), to validate it and learn its vertices; the plugin never
 * runs in the job manager. The task managers build the same graph
 * themselves from the same bytes, arguments and parallelism, and check the
 * graph hash.
 *
 * Slots: with slot sharing (jobmanager.slot-sharing, default true, Flink's
 * default) slot k of a job holds subtask k of every vertex, so a job needs
 * as many slots as its highest parallelism; without, every subtask takes a
 * slot of its own. A job that needs more slots than the cluster has is
 * refused at once; so is one that needs more than are free, unless
 * slot.request.wait is true (cluster default or the job's own setting):
 * then it waits up to slot.request.timeout, first come first served, and
 * fails if the slots did not come. Slots are spread round-robin over the
 * task managers with free slots, so the subtasks of a vertex land on
 * different task managers when they can.
 *
 * Job states (Flink's): CREATED (waiting for slots, then deploying) ->
 * RUNNING (every subtask running or already finished) -> FINISHED; a
 * failed subtask or a lost task manager -> FAILING (the rest canceled) ->
 * FAILED; a cancel -> CANCELLING -> CANCELED. Subtask states: CREATED ->
 * SCHEDULED -> DEPLOYING -> RUNNING -> FINISHED | CANCELING -> CANCELED |
 * FAILED; an ended subtask never changes again, and its slot is freed when
 * the last subtask in it ended.
 *
 * Every function here runs with jm.mu held except jm_job_submit and
 * jm_job_cancel, which take it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fl_runtime.h"
#include "jm.h"
#include "rpc.h"

static const char *job_state_names[JM_JOB_NSTATES] = { "CREATED",    "RUNNING",  "FAILING",  "FAILED",
						       "CANCELLING", "CANCELED", "FINISHED", "RESTARTING" };
static const char *task_state_names[JM_TASK_NSTATES] = { "CREATED",  "SCHEDULED", "DEPLOYING", "RUNNING",
							 "FINISHED", "CANCELING", "CANCELED",  "FAILED" };

const char *jm_job_state_name(jm_job_state s)
{
	return (unsigned)s < JM_JOB_NSTATES ? job_state_names[s] : "?";
}
bool jm_job_state_terminal(jm_job_state s)
{
	return s == JM_JOB_FAILED || s == JM_JOB_CANCELED || s == JM_JOB_FINISHED;
}
const char *jm_task_state_name(jm_task_state s)
{
	return (unsigned)s < JM_TASK_NSTATES ? task_state_names[s] : "?";
}
bool jm_task_state_terminal(jm_task_state s)
{
	return s == JM_TASK_FINISHED || s == JM_TASK_CANCELED || s == JM_TASK_FAILED;
}

void jm_job_free(jm_job *job)
{
	if (!job) return;
	free(job->name);
	free(job->jar_id);
	for (int i = 0; i < job->nargs; i++) free(job->args[i]);
	free(job->args);
	fl_conf_destroy(job->conf);
	free(job->plan_json);
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex *v = &job->v[k];
		for (int i = 0; v->sub && i < v->parallelism; i++) {
			free(v->sub[i].tm_id);
			free(v->sub[i].host);
			free(v->sub[i].error);
			for (uint32_t l = 0; l < v->sub[i].nlag; l++) free(v->sub[i].lag[l].topic);
			free(v->sub[i].lag);
		}
		free(v->sub);
		free(v->name);
	}
	free(job->v);
	for (int s = 0; s < job->nslots; s++) free(job->slots[s].tm_id);
	free(job->slots);
	for (size_t i = 0; i < job->nexc; i++) {
		free(job->exc[i].message);
		free(job->exc[i].task);
		free(job->exc[i].location);
		free(job->exc[i].tm_id);
	}
	free(job->exc);
	jm_cp_job_free(job);
	json_decref(job->archived_cp);
	json_decref(job->archived_cp_config);
	free(job);
}

/* jm.h */
void jm_job_append_locked(jm *j, jm_job *job)
{
	job->jm = j;
	if (j->njobs == j->jobs_cap) {
		j->jobs_cap = j->jobs_cap ? j->jobs_cap * 2 : 16;
		j->jobs = fl_realloc(j->jobs, j->jobs_cap * sizeof(jm_job *));
	}
	j->jobs[j->njobs++] = job;
}

jm_job *jm_job_find_locked(jm *j, const char *jid)
{
	if (!jid) return NULL;
	for (size_t i = 0; i < j->njobs; i++)
		if (strcmp(j->jobs[i]->jid, jid) == 0) return j->jobs[i];
	return NULL;
}

jm_job *jm_job_get_locked(jm *j, const char *jid, char *err, size_t errcap)
{
	jm_job *job = jm_job_find_locked(j, jid);
	if (!job) snprintf(err, errcap, "Not found: /jobs/%s (no job with this id)", jid ? jid : "");
	return job;
}

static void push_exception(jm_job *job, const char *msg, const char *task, const char *location,
			   const char *tm_id)
{
	job->exc = fl_realloc(job->exc, (job->nexc + 1) * sizeof *job->exc);
	jm_exception *e = &job->exc[job->nexc];
	e->message = jm_utf8_dup(msg);
	e->task = task ? fl_strdup(task) : NULL;
	e->location = location ? fl_strdup(location) : NULL;
	e->tm_id = tm_id ? fl_strdup(tm_id) : NULL;
	e->ts = fl_now_ms();
	if (job->root_exc < 0) job->root_exc = (int)job->nexc;
	job->nexc++;
}

static void add_exception(jm_job *job, const char *msg, const char *task, const char *location,
			  const char *tm_id)
{
	if (job->nexc >= 1000) return; /* keep the first ones: the root cause is among them */
	push_exception(job, msg, task, location, tm_id);
}

/* A cancel was asked for: it is why the job ends, so it becomes the root
 * exception, and the job's last word (GET /jobs/:jid/exceptions, what
 * `flinc run` prints) is the cancel rather than a failure an earlier
 * attempt recovered from, or one that happens while the subtasks stop
 * (those stay listed). Recorded past the cap too. j->mu held. */
static void cancel_exception(jm_job *job)
{
	job->root_exc = -1;
	push_exception(job, "the job was canceled on request", NULL, NULL, NULL);
}

static void job_set_state(jm_job *job, jm_job_state to)
{
	if (job->state == to) return;
	int64_t now = fl_now_ms();
	const char *root = job->root_exc >= 0 ? job->exc[job->root_exc].message : NULL;
	if ((to == JM_JOB_FAILING || (to == JM_JOB_FAILED && job->state != JM_JOB_FAILING)) && root)
		fl_log(FL_LOG_WARN, JM_COMPONENT, "Job %s (%s) switched from state %s to %s: %s", job->name,
		       job->jid, jm_job_state_name(job->state), jm_job_state_name(to), root);
	else
		fl_log(FL_LOG_INFO, JM_COMPONENT, "Job %s (%s) switched from state %s to %s.", job->name,
		       job->jid, jm_job_state_name(job->state), jm_job_state_name(to));
	job->state = to;
	job->ts[to] = now;
	job->last_mod_ms = now;
	if (jm_job_state_terminal(to)) {
		job->end_ms = now;
		if (job->jm) jm_ha_job_ended_locked(job->jm, job);
	}
}

/* A subtask ended: give back its slot once the slot is empty. */
static void slot_release(jm *j, jm_job *job, int s)
{
	if (s < 0 || s >= job->nslots) return;
	jm_slot *slot = &job->slots[s];
	if (slot->live <= 0) return;
	if (--slot->live > 0 || !slot->tm_id) return;
	jm_tm *tm = jm_tm_find_locked(j, slot->tm_id);
	if (tm && tm->used > 0) tm->used--;
	free(slot->tm_id);
	slot->tm_id = NULL;
}

static void subtask_set(jm *j, jm_job *job, jm_vertex *v, int i, jm_task_state to, const char *error)
{
	jm_subtask *st = &v->sub[i];
	if (jm_task_state_terminal(st->state) || st->state == to) return;
	int64_t now = fl_now_ms();
	fl_log(to == JM_TASK_FAILED ? FL_LOG_WARN : FL_LOG_DEBUG, JM_COMPONENT,
	       "%s (%d/%d) of job %s switched from %s to %s%s%s", v->name, i + 1, v->parallelism, job->jid,
	       jm_task_state_name(st->state), jm_task_state_name(to), error ? ": " : "", error ? error : "");
	if ((to == JM_TASK_DEPLOYING || to == JM_TASK_RUNNING) && !st->start_ms) st->start_ms = now;
	st->state = to;
	job->last_mod_ms = now;
	if (!jm_task_state_terminal(to)) return;
	st->end_ms = now;
	if (!st->start_ms) st->start_ms = now;
	if (to == JM_TASK_FAILED) {
		free(st->error);
		st->error = jm_utf8_dup(error && *error ? error : "failed without a reason");
		char task[512];
		snprintf(task, sizeof task, "%s (%d/%d)", v->name, i + 1, v->parallelism);
		add_exception(job, st->error, task, st->host, st->tm_id);
	}
	slot_release(j, job, st->slot);
}

/* ---- messages to task managers ------------------------------------------ */

jm_cmd *jm_cmd_new(jm_cmd_kind kind, const jm_job *job, const Flinc__Envelope *env)
{
	jm_cmd *c = fl_calloc(1, sizeof *c);
	c->kind = kind;
	memcpy(c->jid, job->jid, sizeof c->jid);
	c->attempt = job->attempt;
	c->len = flinc__envelope__get_packed_size(env);
	c->msg = fl_malloc(c->len ? c->len : 1);
	flinc__envelope__pack(env, c->msg);
	return c;
}

static jm_cmd *cancel_cmd(const jm_job *job)
{
	Flinc__CancelJob cj = FLINC__CANCEL_JOB__INIT;
	cj.job_id = (char *)job->jid;
	cj.attempt = job->attempt;
	cj.stop = job->stopping; /* the tasks commit the savepoint's completion on their way out */
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_CANCEL;
	env.cancel = &cj;
	return jm_cmd_new(JM_CMD_CANCEL, job, &env);
}

/* Cancel every subtask that has not ended: CancelJob to each task manager
 * holding one; those on task managers that are gone end at once. */
static void cancel_rest(jm *j, jm_job *job)
{
	job->cancel_deadline = jm_mono_ms() + j->o.rpc_timeout_ms + j->o.hb_timeout_ms;
	char **sent = NULL;
	size_t nsent = 0;
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex *v = &job->v[k];
		for (int i = 0; i < v->parallelism; i++) {
			jm_subtask *st = &v->sub[i];
			if (jm_task_state_terminal(st->state)) continue;
			jm_tm *tm = st->tm_id ? jm_tm_find_locked(j, st->tm_id) : NULL;
			if (!tm) {
				subtask_set(j, job, v, i, JM_TASK_CANCELED, NULL);
				continue;
			}
			st->state = JM_TASK_CANCELING;
			bool done = false;
			for (size_t x = 0; x < nsent && !done; x++) done = strcmp(sent[x], tm->id) == 0;
			if (done) continue;
			sent = fl_realloc(sent, (nsent + 1) * sizeof *sent);
			sent[nsent++] = tm->id;
			jm_tm_enqueue_locked(j, tm, cancel_cmd(job));
		}
	}
	free(sent);
}

static void deploy(jm *j, jm_job *job)
{
	Flinc__DeployJob d = FLINC__DEPLOY_JOB__INIT;
	d.job_id = job->jid;
	d.attempt = job->attempt;
	d.job_name = job->name;
	d.blob_id = job->jar_id;
	d.n_args = (size_t)job->nargs;
	d.args = job->args;
	d.parallelism = job->parallelism;
	d.graph_hash = job->graph_hash;
	/* folders on S3 travel as URLs: each process has its own twin */
	char chkurl[4096], rsturl[4096];
	d.checkpoint_dir =
		job->jobdir ? (char *)fl_remote_url(job->jobdir, chkurl, sizeof chkurl) : (char *)"";
	d.restore_path = job->restore_path ? (char *)fl_remote_url(job->restore_path, rsturl, sizeof rsturl)
					   : (char *)"";
	size_t nc = fl_conf_count(job->conf);
	Flinc__KeyValue *kv = fl_calloc(nc ? nc : 1, sizeof *kv);
	Flinc__KeyValue **kvp = fl_calloc(nc ? nc : 1, sizeof *kvp);
	for (size_t i = 0; i < nc; i++) {
		const char *key, *val;
		fl_conf_at(job->conf, i, &key, &val);
		flinc__key_value__init(&kv[i]);
		kv[i].key = (char *)key;
		kv[i].value = (char *)val;
		kvp[i] = &kv[i];
	}
	d.n_config = nc;
	d.config = kvp;
	Flinc__Placement *pl = fl_calloc((size_t)job->nsubtasks, sizeof *pl);
	Flinc__Placement **plp = fl_calloc((size_t)job->nsubtasks, sizeof *plp);
	size_t np = 0;
	for (uint32_t k = 0; k < job->nv; k++) {
		for (int i = 0; i < job->v[k].parallelism; i++) {
			jm_subtask *st = &job->v[k].sub[i];
			jm_tm *tm = jm_tm_find_locked(j, st->tm_id);
			flinc__placement__init(&pl[np]);
			pl[np].vertex = job->v[k].index;
			pl[np].subtask = i;
			pl[np].tm_id = st->tm_id;
			pl[np].data_address = tm ? tm->data_address : (char *)"";
			plp[np] = &pl[np];
			np++;
		}
	}
	d.n_placements = np;
	d.placements = plp;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_DEPLOY;
	env.deploy = &d;

	/* One DeployJob (with every placement) per task manager involved. */
	fl_strbuf where = { 0 };
	for (int s = 0; s < job->nslots; s++) {
		const char *id = job->slots[s].tm_id;
		bool seen = false;
		for (int t = 0; t < s && !seen; t++) seen = strcmp(job->slots[t].tm_id, id) == 0;
		if (seen) continue;
		int n = 0;
		for (int t = 0; t < job->nslots; t++) n += strcmp(job->slots[t].tm_id, id) == 0;
		jm_tm *tm = jm_tm_find_locked(j, id);
		if (tm) jm_tm_enqueue_locked(j, tm, jm_cmd_new(JM_CMD_DEPLOY, job, &env));
		fl_sb_printf(&where, "%s%s (%s) x%d", where.len ? ", " : "", id, tm ? tm->host : "?", n);
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT, "Job %s (%s): deploying %d subtasks in %d slots: %s", job->name,
	       job->jid, job->nsubtasks, job->nslots, where.data ? where.data : "");
	fl_sb_free(&where);
	free(kv);
	free(kvp);
	free(pl);
	free(plp);
}

/* Take job->nslots free slots, round-robin over the task managers that
 * have free slots (in registration order), and deploy. */
static void place(jm *j, jm_job *job)
{
	size_t n = j->ntms;
	if (n == 0) return; /* the caller checked there are enough free slots */
	int *avail = fl_calloc(n ? n : 1, sizeof *avail);
	for (size_t t = 0; t < n; t++)
		if (j->tms[t]->connected) avail[t] = FL_MAX(j->tms[t]->slots - j->tms[t]->used, 0);
	size_t cursor = 0;
	for (int s = 0; s < job->nslots; s++) {
		size_t t = cursor;
		for (size_t tries = 0; tries < n && avail[t] == 0; tries++) t = (t + 1) % n;
		/* the caller checked there are enough free slots */
		avail[t]--;
		j->tms[t]->used++;
		job->slots[s].tm_id = fl_strdup(j->tms[t]->id);
		job->slots[s].live = 0;
		cursor = (t + 1) % n;
	}
	free(avail);
	int next = 0;
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex *v = &job->v[k];
		for (int i = 0; i < v->parallelism; i++) {
			jm_subtask *st = &v->sub[i];
			st->slot = j->o.slot_sharing ? i : next++;
			jm_slot *slot = &job->slots[st->slot];
			jm_tm *tm = jm_tm_find_locked(j, slot->tm_id);
			st->tm_id = fl_strdup(slot->tm_id);
			st->host = fl_strdup(tm ? tm->host : "unknown");
			st->state = JM_TASK_SCHEDULED;
			slot->live++;
		}
	}
	job->placed = true;
	job->last_mod_ms = fl_now_ms();
	deploy(j, job);
}

void jm_sched_try_locked(jm *j)
{
	for (size_t i = 0; i < j->njobs; i++) {
		jm_job *job = j->jobs[i];
		if ((job->state != JM_JOB_CREATED && job->state != JM_JOB_RESTARTING) || job->placed ||
		    job->restart_pending)
			continue;
		int total, nfree;
		jm_slots_locked(j, &total, &nfree, NULL);
		if (job->nslots <= nfree) place(j, job);
	}
}

/* ---- the job state machine ------------------------------------------------ */

static int count_live(const jm_job *job)
{
	int live = 0;
	for (uint32_t k = 0; k < job->nv; k++)
		for (int i = 0; i < job->v[k].parallelism; i++)
			live += !jm_task_state_terminal(job->v[k].sub[i].state);
	return live;
}

/* The attempt failed: restart by the strategy, or fail the job. */
static void fail_over(jm *j, jm_job *job)
{
	const char *root = job->root_exc >= 0 ? job->exc[job->root_exc].message : "a task failed";
	jm_cp_stopped_locked(job, "the job is failing over");
	int64_t delay;
	if (jm_restart_allowed_locked(job, &delay)) {
		job_set_state(job, JM_JOB_RESTARTING);
		fl_log(FL_LOG_INFO, JM_COMPONENT, "Job %s (%s): restart %lld in %lld ms after: %s", job->name,
		       job->jid, (long long)job->restarts + 1, (long long)delay, root);
		job->restart_pending = true;
		job->restart_at = jm_mono_ms() + delay; /* not before every subtask ended */
	} else {
		if (job->restart_kind != JM_RESTART_NONE)
			fl_log(FL_LOG_WARN, JM_COMPONENT, "Job %s (%s): no restart left (%lld done)",
			       job->name, job->jid, (long long)job->restarts);
		job_set_state(job, JM_JOB_FAILING);
	}
	cancel_rest(j, job);
}

static void job_update(jm *j, jm_job *job)
{
	if (jm_job_state_terminal(job->state) || !job->placed) return;
	int cnt[JM_TASK_NSTATES] = { 0 };
	int ended_input = 0;
	const jm_subtask *canceled = NULL;
	const jm_vertex *canceled_v = NULL;
	for (uint32_t k = 0; k < job->nv; k++) {
		for (int i = 0; i < job->v[k].parallelism; i++) {
			const jm_subtask *st = &job->v[k].sub[i];
			cnt[st->state]++;
			ended_input += st->ended_input && st->state == JM_TASK_RUNNING;
			if (st->state == JM_TASK_CANCELED && !canceled) {
				canceled = st;
				canceled_v = &job->v[k];
			}
		}
	}
	bool active = job->state == JM_JOB_CREATED || job->state == JM_JOB_RUNNING ||
		(job->state == JM_JOB_RESTARTING && !job->restart_pending);
	if (active) {
		if (cnt[JM_TASK_FAILED] || cnt[JM_TASK_CANCELED]) {
			if (job->root_exc < 0 && canceled) {
				/* Canceled without being asked to: the job cannot go on. */
				char msg[512];
				snprintf(msg, sizeof msg,
					 "%s (%d/%d) was canceled by TaskManager %s (%s) on its own",
					 canceled_v->name, (int)(canceled - canceled_v->sub) + 1,
					 canceled_v->parallelism, canceled->tm_id ? canceled->tm_id : "?",
					 canceled->host ? canceled->host : "?");
				add_exception(job, msg, NULL, canceled->host, canceled->tm_id);
			}
			fail_over(j, job);
		} else if (cnt[JM_TASK_FINISHED] == job->nsubtasks) {
			jm_cp_stopped_locked(job, "the job finished");
			if (job->state != JM_JOB_RUNNING) job_set_state(job, JM_JOB_RUNNING);
			job_set_state(job, JM_JOB_FINISHED);
			return;
		} else if (job->state != JM_JOB_RUNNING &&
			   cnt[JM_TASK_RUNNING] + cnt[JM_TASK_FINISHED] == job->nsubtasks) {
			job_set_state(job, JM_JOB_RUNNING);
			jm_cp_started_locked(j, job);
			if (ended_input + cnt[JM_TASK_FINISHED] == job->nsubtasks)
				jm_cp_all_ended_locked(job);
			return;
		} else {
			if (job->state == JM_JOB_RUNNING &&
			    ended_input + cnt[JM_TASK_FINISHED] == job->nsubtasks)
				jm_cp_all_ended_locked(job);
			return;
		}
	}
	if (count_live(job) > 0) return;
	if (job->state == JM_JOB_RESTARTING) return; /* the tick redeploys at restart_at */
	if (job->state == JM_JOB_CANCELLING)
		job_set_state(job, job->stopping ? JM_JOB_FINISHED : JM_JOB_CANCELED);
	else if (job->state == JM_JOB_FAILING)
		job_set_state(job, JM_JOB_FAILED);
}

void jm_sched_fail_job_locked(jm *j, jm_job *job, const char *msg)
{
	if (jm_job_state_terminal(job->state)) return;
	add_exception(job, msg, NULL, NULL, NULL);
	if (job->state == JM_JOB_CREATED || job->state == JM_JOB_RUNNING) fail_over(j, job);
	job_update(j, job);
}

void jm_sched_stop_job_locked(jm *j, jm_job *job)
{
	if (jm_job_state_terminal(job->state) || job->state == JM_JOB_CANCELLING) return;
	jm_cp_stopped_locked(job, "the job is stopping");
	job->restart_pending = false;
	job_set_state(job, JM_JOB_CANCELLING);
	if (job->placed) cancel_rest(j, job);
	job_update(j, job);
	if (!job->placed) job_set_state(job, JM_JOB_FINISHED);
}

/* Drop the oldest ended jobs beyond jobstore.max-capacity. */
static void evict(jm *j)
{
	size_t ended = 0;
	for (size_t i = 0; i < j->njobs; i++) ended += jm_job_state_terminal(j->jobs[i]->state);
	for (size_t i = 0; i < j->njobs && ended > (size_t)j->o.jobstore_max;) {
		if (!jm_job_state_terminal(j->jobs[i]->state)) {
			i++;
			continue;
		}
		jm_cp_job_retire_locked(j, j->jobs[i]);
		jm_ha_forget_result(j, j->jobs[i]->jid);
		jm_job_free(j->jobs[i]);
		memmove(&j->jobs[i], &j->jobs[i + 1], (j->njobs - i - 1) * sizeof(jm_job *));
		j->njobs--;
		ended--;
	}
}

static jm_subtask *subtask_at(jm_job *job, uint32_t vertex, int subtask, jm_vertex **v_out)
{
	if (vertex >= job->nv) return NULL;
	jm_vertex *v = &job->v[vertex];
	if (subtask < 0 || subtask >= v->parallelism) return NULL;
	*v_out = v;
	return &v->sub[subtask];
}

/* A Kafka source's partition lags: values updated in place while the
 * partitions stay the same (the usual case), the table rebuilt when they
 * change. */
static void apply_lag(jm_subtask *st, const Flinc__TaskMetrics *m)
{
	size_t n = m->n_lag < 64 ? m->n_lag : 64;
	bool same = n == st->nlag;
	for (size_t i = 0; same && i < n; i++)
		same = m->lag[i]->topic && st->lag[i].partition == m->lag[i]->partition &&
			!strcmp(st->lag[i].topic, m->lag[i]->topic);
	if (!same) {
		for (uint32_t i = 0; i < st->nlag; i++) free(st->lag[i].topic);
		free(st->lag);
		st->lag = NULL;
		st->nlag = 0;
		if (!n) return;
		st->lag = fl_calloc(n, sizeof(*st->lag));
		for (size_t i = 0; i < n; i++) {
			st->lag[i].topic = fl_strdup(m->lag[i]->topic ? m->lag[i]->topic : "");
			st->lag[i].partition = m->lag[i]->partition;
		}
		st->nlag = (uint32_t)n;
	}
	for (size_t i = 0; i < n; i++) {
		st->lag[i].offset = m->lag[i]->offset;
		st->lag[i].lag = m->lag[i]->lag;
	}
}

static void apply_metrics(jm_subtask *st, const Flinc__TaskMetrics *m)
{
	int64_t now = jm_mono_ms();
	if (st->bp_prev_at > 0 && now > st->bp_prev_at) {
		double dt = (double)(now - st->bp_prev_at);
		double r = (double)(m->backpressured_ms - st->bp_prev_ms) / dt;
		st->bp_ratio = r < 0 ? 0 : r > 1 ? 1 : r;
		int64_t didle = m->idle_ms - st->idle_prev_ms;
		int64_t dbp = m->backpressured_ms - st->bp_prev_ms;
		st->idle_ratio = didle < 0 ? 0 : (double)didle / dt > 1 ? 1 : (double)didle / dt;
		st->sampled = true;
		if (didle >= 0 && dbp >= 0 && (double)(didle + dbp) < dt)
			st->m.busy_ms += (int64_t)(dt - (double)(didle + dbp));
		/* A counter that went back (a new attempt) gives no rate. */
		st->in_rate = m->records_in >= st->m.records_in
			? (double)(m->records_in - st->m.records_in) * 1000 / dt
			: 0;
		st->out_rate = m->records_out >= st->m.records_out
			? (double)(m->records_out - st->m.records_out) * 1000 / dt
			: 0;
	}
	st->bp_prev_ms = m->backpressured_ms;
	st->idle_prev_ms = m->idle_ms;
	st->m.idle_ms = m->idle_ms;
	st->bp_prev_at = now;
	st->m.records_in = m->records_in;
	st->m.records_out = m->records_out;
	st->m.bytes_in = m->bytes_in;
	st->m.bytes_out = m->bytes_out;
	st->m.backpressured_ms = m->backpressured_ms;
	st->m.watermark = m->watermark;
	st->m.rejected = m->rejected;
	st->m.dead_letters = m->dead_letters;
	/* Latency buckets: all of them or none (not a sink, no marker yet). */
	st->m.lat_count = 0;
	st->m.lat_sum_ns = 0;
	for (int i = 0; i < FL_LAT_NBUCKETS; i++) {
		st->m.lat_b[i] = m->n_latency_buckets == FL_LAT_NBUCKETS ? m->latency_buckets[i] : 0;
		st->m.lat_count += st->m.lat_b[i];
	}
	if (st->m.lat_count) st->m.lat_sum_ns = m->latency_sum_ns;
	apply_lag(st, m);
}

void jm_sched_metrics_locked(jm *j, const char *tm_id, const Flinc__TaskMetrics *m)
{
	jm_job *job = jm_job_find_locked(j, m->job_id);
	if (!job || job->attempt != m->attempt || !job->placed) return;
	jm_vertex *v;
	jm_subtask *st = subtask_at(job, m->vertex, m->subtask, &v);
	if (!st || !st->tm_id || strcmp(st->tm_id, tm_id) != 0) return;
	apply_metrics(st, m);
}

const char *jm_sched_task_status_locked(jm *j, const Flinc__TaskStatus *s)
{
	jm_job *job = jm_job_find_locked(j, s->job_id);
	if (!job) return "unknown job";
	if (s->attempt != job->attempt) return NULL; /* an old attempt: nothing to do */
	if (!job->placed) return "the job is not deployed";
	jm_vertex *v;
	jm_subtask *st = subtask_at(job, s->vertex, s->subtask, &v);
	if (!st) return "no such subtask";
	if (!st->tm_id || !s->tm_id || strcmp(st->tm_id, s->tm_id) != 0)
		return "the subtask is not placed on this task manager";
	if (s->metrics) apply_metrics(st, s->metrics);
	int i = s->subtask;
	switch (s->state) {
	case FLINC__TASK_STATE__DEPLOYING:
		if (st->state == JM_TASK_SCHEDULED) subtask_set(j, job, v, i, JM_TASK_DEPLOYING, NULL);
		break;
	case FLINC__TASK_STATE__RUNNING:
		if (st->state == JM_TASK_SCHEDULED || st->state == JM_TASK_DEPLOYING)
			subtask_set(j, job, v, i, JM_TASK_RUNNING, NULL);
		break;
	case FLINC__TASK_STATE__ENDED:
		if (st->state == JM_TASK_SCHEDULED || st->state == JM_TASK_DEPLOYING)
			subtask_set(j, job, v, i, JM_TASK_RUNNING, NULL);
		if (st->state == JM_TASK_RUNNING) st->ended_input = true;
		break;
	case FLINC__TASK_STATE__FINISHED: subtask_set(j, job, v, i, JM_TASK_FINISHED, NULL); break;
	case FLINC__TASK_STATE__CANCELED: subtask_set(j, job, v, i, JM_TASK_CANCELED, NULL); break;
	case FLINC__TASK_STATE__FAILED:
		subtask_set(j, job, v, i, JM_TASK_FAILED,
			    s->error && *s->error ? s->error : "failed without a reason");
		break;
	default: break;
	}
	job_update(j, job);
	jm_sched_try_locked(j);
	return NULL;
}

void jm_sched_cmd_done_locked(jm *j, jm_tm *tm, const jm_cmd *c, int rc, const char *err)
{
	jm_job *job = jm_job_find_locked(j, c->jid);
	if (!job || job->attempt != c->attempt) return;
	const char *why = rc ? nng_strerror(rc) : err;
	if (c->kind == JM_CMD_CHECKPOINT) {
		if (why)
			fl_log(FL_LOG_WARN, JM_COMPONENT,
			       "Checkpoint message for job %s to TaskManager %s (%s) failed: %s", job->jid,
			       tm->id, tm->host, why);
		return;
	}
	if (c->kind == JM_CMD_CANCEL) {
		if (why)
			fl_log(FL_LOG_WARN, JM_COMPONENT,
			       "Cancel of job %s on TaskManager %s (%s) failed: %s", job->jid, tm->id,
			       tm->host, why);
		return;
	}
	if (jm_job_state_terminal(job->state)) return;
	char msg[1024];
	if (why)
		snprintf(msg, sizeof msg, "Could not deploy to TaskManager %s (%s): %s", tm->id, tm->host,
			 why);
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex *v = &job->v[k];
		for (int i = 0; i < v->parallelism; i++) {
			jm_subtask *st = &v->sub[i];
			if (!st->tm_id || strcmp(st->tm_id, tm->id) != 0 || jm_task_state_terminal(st->state))
				continue;
			if (why)
				subtask_set(j, job, v, i, JM_TASK_FAILED, msg);
			else if (st->state == JM_TASK_SCHEDULED)
				subtask_set(j, job, v, i, JM_TASK_DEPLOYING, NULL);
		}
	}
	job_update(j, job);
	jm_sched_try_locked(j);
}

void jm_sched_tm_lost_locked(jm *j, const char *tm_id, const char *host, const char *reason)
{
	char msg[1024];
	snprintf(msg, sizeof msg, "TaskManager %s (%s) lost: %s", tm_id, host, reason);
	for (size_t x = 0; x < j->njobs; x++) {
		jm_job *job = j->jobs[x];
		if (jm_job_state_terminal(job->state) || !job->placed) continue;
		bool hit = false;
		for (uint32_t k = 0; k < job->nv; k++) {
			jm_vertex *v = &job->v[k];
			for (int i = 0; i < v->parallelism; i++) {
				jm_subtask *st = &v->sub[i];
				if (!st->tm_id || strcmp(st->tm_id, tm_id) != 0 ||
				    jm_task_state_terminal(st->state))
					continue;
				subtask_set(j, job, v, i, JM_TASK_FAILED, msg);
				hit = true;
			}
		}
		/* Its slots are gone with it: nothing to give back later. */
		for (int s = 0; s < job->nslots; s++) {
			if (job->slots[s].tm_id && strcmp(job->slots[s].tm_id, tm_id) == 0) {
				free(job->slots[s].tm_id);
				job->slots[s].tm_id = NULL;
				job->slots[s].live = 0;
			}
		}
		if (hit) job_update(j, job);
	}
	jm_sched_try_locked(j);
}

/* A job that waits for slots says so: after a second, then every
 * SLOT_WAIT_LOG_MS, what it waits for and what the cluster has. */
#define SLOT_WAIT_LOG_MS 10000
static void log_slot_wait_locked(jm *j, jm_job *job, int64_t now)
{
	bool waiting = !job->placed &&
		(job->state == JM_JOB_CREATED || (job->state == JM_JOB_RESTARTING && !job->restart_pending));
	if (!waiting) {
		job->slot_wait_log = 0;
		return;
	}
	if (!job->slot_wait_log) job->slot_wait_log = now + 1000;
	if (now < job->slot_wait_log) return;
	job->slot_wait_log = now + SLOT_WAIT_LOG_MS;
	int total, nfree, ntms;
	jm_slots_locked(j, &total, &nfree, &ntms);
	char until[96] = "";
	if (job->slot_deadline != INT64_MAX && job->state == JM_JOB_CREATED)
		snprintf(until, sizeof until, "; slot.request.timeout ends the wait in %lld s",
			 (long long)((job->slot_deadline - now + 999) / 1000));
	fl_log(FL_LOG_INFO, JM_COMPONENT,
	       "Job %s (%s) waits for %d slots: %d free of %d in %d task manager%s%s", job->name, job->jid,
	       job->nslots, nfree, total, ntms, ntms == 1 ? "" : "s", until);
}

void jm_sched_tick_locked(jm *j, int64_t now)
{
	for (size_t x = 0; x < j->njobs; x++) {
		jm_job *job = j->jobs[x];
		log_slot_wait_locked(j, job, now);
		if (job->state == JM_JOB_RESTARTING && job->restart_pending && now >= job->restart_at &&
		    count_live(job) == 0) {
			jm_restart_prepare_locked(j, job);
			continue;
		}
		if (job->state == JM_JOB_RESTARTING && job->restart_pending && job->placed &&
		    now >= job->cancel_deadline && count_live(job) > 0) {
			for (uint32_t k = 0; k < job->nv; k++)
				for (int i = 0; i < job->v[k].parallelism; i++)
					if (!jm_task_state_terminal(job->v[k].sub[i].state))
						subtask_set(j, job, &job->v[k], i, JM_TASK_CANCELED, NULL);
			continue;
		}
		if (job->state == JM_JOB_CREATED && !job->placed && now >= job->slot_deadline) {
			int total, nfree, ntms;
			jm_slots_locked(j, &total, &nfree, &ntms);
			char msg[512];
			snprintf(
				msg, sizeof msg,
				"Could not acquire the minimum required resources: the job needs %d task slots, %d of "
				"%d are free (%d task managers) after waiting %lld ms (slot.request.timeout)",
				job->nslots, nfree, total, ntms, (long long)job->slot_timeout_ms);
			add_exception(job, msg, NULL, NULL, NULL);
			job_set_state(job, JM_JOB_FAILED);
		} else if ((job->state == JM_JOB_FAILING || job->state == JM_JOB_CANCELLING) && job->placed &&
			   now >= job->cancel_deadline) {
			for (uint32_t k = 0; k < job->nv; k++) {
				jm_vertex *v = &job->v[k];
				for (int i = 0; i < v->parallelism; i++) {
					jm_subtask *st = &v->sub[i];
					if (jm_task_state_terminal(st->state)) continue;
					fl_log(FL_LOG_WARN, JM_COMPONENT,
					       "%s (%d/%d) of job %s on TaskManager %s did not confirm its cancellation "
					       "in time; considered CANCELED",
					       v->name, i + 1, v->parallelism, job->jid,
					       st->tm_id ? st->tm_id : "?");
					subtask_set(j, job, v, i, JM_TASK_CANCELED, NULL);
				}
			}
			job_update(j, job);
		}
	}
	jm_sched_try_locked(j);
	evict(j);
}

/* ---- submission and cancel ---------------------------------------------- */

/* What a submit request resolves to before the plugin is inspected
 * (submit_parse): the plugin's file, the job's configuration and the
 * settings read from it. Lives on jm_job_submit's stack. */
typedef struct submission {
	const jm_submit *s;
	char *path;          /* the plugin's blob file; malloc'ed */
	const char *display; /* the name it was uploaded as; points into s->jar_id */
	fl_conf *conf;       /* the job's configuration; owned until the job takes it */
	int64_t parallelism;
	int64_t max_parallelism;
	int64_t slot_timeout_ms;
	bool slot_wait;
} submission;

/* Free what a submission still owns; a zeroed one is fine. */
static void submission_free(submission *sub)
{
	free(sub->path);
	fl_conf_destroy(sub->conf);
}

/* Keys a job never sees nor carries to its task managers: the REST token
 * and the cluster secret (DeployJob sends the job's configuration; the
 * secret never crosses the wire). */
static bool secret_key(const char *k)
{
	return strcmp(k, "rest.auth.token") == 0 || strcmp(k, FL_SECRET_KEY) == 0;
}

/* jm.h. The job's configuration: the cluster's, then its own on top, both
 * without the secret keys. malloc'ed. */
fl_conf *jm_job_conf_new(const jm *j, const fl_conf *own)
{
	fl_conf *conf = fl_conf_create();
	for (size_t i = 0; i < fl_conf_count(j->conf); i++) {
		const char *k, *v;
		fl_conf_at(j->conf, i, &k, &v);
		if (!secret_key(k)) fl_conf_set(conf, k, v);
	}
	for (size_t i = 0; own && i < fl_conf_count(own); i++) {
		const char *k, *v;
		fl_conf_at(own, i, &k, &v);
		if (!secret_key(k)) fl_conf_set(conf, k, v);
	}
	return conf;
}

/* slot.request.wait of the job into *wait (the cluster's when unset).
 * FLINC_OK, or FLINC_ECONFIG with the value in err. */
static int read_slot_wait(const fl_conf *conf, bool dflt, bool *wait, char *err, size_t errcap)
{
	const char *wv = fl_conf_get(conf, "slot.request.wait");
	*wait = dflt;
	if (!wv) return FLINC_OK;
	if (!strcasecmp(wv, "true") || !strcmp(wv, "1") || !strcasecmp(wv, "yes"))
		*wait = true;
	else if (!strcasecmp(wv, "false") || !strcmp(wv, "0") || !strcasecmp(wv, "no"))
		*wait = false;
	else {
		snprintf(err, errcap, "slot.request.wait must be true or false (got '%.100s')", wv);
		return FLINC_ECONFIG;
	}
	return FLINC_OK;
}

/* The scheduling settings of the job from sub->conf, in a fixed order so
 * the first problem is the one named. FLINC_OK, FLINC_ECONFIG or
 * FLINC_ERANGE with err. */
static int read_settings(const jm *j, submission *sub, char *err, size_t errcap)
{
	bool ok = true;
	int64_t p = sub->s->parallelism;
	if (p == 0) p = fl_conf_i64(sub->conf, "parallelism.default", j->o.default_parallelism, &ok);
	if (!ok || p < 1 || p > 32768) {
		snprintf(err, errcap, "parallelism.default must be a number from 1 to 32768");
		return FLINC_ECONFIG;
	}
	int64_t maxp = fl_conf_i64(sub->conf, "pipeline.max-parallelism", j->o.max_parallelism, &ok);
	if (!ok || maxp < 1 || maxp > 32768) {
		snprintf(err, errcap, "pipeline.max-parallelism must be a number from 1 to 32768");
		return FLINC_ECONFIG;
	}
	int64_t timeout = fl_conf_duration_ms(sub->conf, "slot.request.timeout", j->o.slot_timeout_ms, &ok);
	if (!ok || timeout <= 0) {
		snprintf(err, errcap, "slot.request.timeout must be a positive duration (like 500ms, 10s)");
		return FLINC_ECONFIG;
	}
	int rc = read_slot_wait(sub->conf, j->o.slot_wait, &sub->slot_wait, err, errcap);
	if (rc != FLINC_OK) return rc;
	if (p > maxp) {
		snprintf(err, errcap, "parallelism %lld is above pipeline.max-parallelism %lld", (long long)p,
			 (long long)maxp);
		return FLINC_ERANGE;
	}
	sub->parallelism = p;
	sub->max_parallelism = maxp;
	sub->slot_timeout_ms = timeout;
	return FLINC_OK;
}

/* Step 1, parse: resolve the request into *sub (zeroed first; the caller
 * frees it with submission_free whatever the outcome). FLINC_OK, or with
 * the reason in err FLINC_ENOENT (no such jar), FLINC_ECONFIG or
 * FLINC_ERANGE (settings), FLINC_EINVAL (a savepoint path outside the
 * allowed folders). Without jm.mu: reads the disk. */
static int submit_parse(jm *j, const jm_submit *s, submission *sub, char *err, size_t errcap)
{
	memset(sub, 0, sizeof *sub);
	sub->s = s;
	sub->path = jm_blob_path(j, s->jar_id);
	if (!sub->path) {
		snprintf(err, errcap, "Not found: jar '%s' (no such upload)", s->jar_id);
		return FLINC_ENOENT;
	}
	sub->display = jm_blob_display_name(s->jar_id);
	int rc = jm_cp_submit_check(j, s, err, errcap); /* keys, values, folders */
	if (rc != FLINC_OK) return rc;
	sub->conf = jm_job_conf_new(j, s->job_conf);
	/* a restored job keeps its snapshot's key hash (docs/savepoints.md);
	 * the path was checked by jm_cp_submit_check */
	if (s->savepoint && *s->savepoint) fl_restore_adopt_key_hash(sub->conf, s->savepoint);
	return read_settings(j, sub, err, errcap);
}

/* The job's vertices and slots from its description: every subtask
 * CREATED and unplaced; one slot per subtask index with slot sharing, else
 * one per subtask. */
static void job_vertices(const jm *j, jm_job *job, const fl_job_desc *d)
{
	job->nv = d->n_vertices;
	job->v = fl_calloc(job->nv, sizeof *job->v);
	int maxv = 0;
	for (uint32_t k = 0; k < job->nv; k++) {
		const fl_job_vertex *pv = &d->vertices[k];
		jm_vertex *v = &job->v[k];
		v->index = pv->index;
		v->id = pv->id;
		v->name = jm_utf8_dup(pv->name);
		v->parallelism = pv->parallelism;
		v->source = v->sink = true;
		for (size_t e = 0; e < d->n_edges; e++) {
			if (d->edges[e].dst == pv->index) v->source = false;
			if (d->edges[e].src == pv->index) v->sink = false;
		}
		v->sub = fl_calloc((size_t)pv->parallelism, sizeof *v->sub);
		for (int i = 0; i < pv->parallelism; i++) v->sub[i].slot = -1;
		job->nsubtasks += pv->parallelism;
		maxv = FL_MAX(maxv, pv->parallelism);
	}
	job->nslots = j->o.slot_sharing ? maxv : job->nsubtasks;
	job->slots = fl_calloc((size_t)job->nslots, sizeof *job->slots);
}

/* A new job from its inspected description: it takes sub->conf and copies
 * argv (the plugin's arguments, argv[0] its file name); its id is the
 * recovered one, else fresh. Not yet published: nothing else sees it. */
static jm_job *job_new(const jm *j, submission *sub, const fl_job_desc *d, int argc, char **argv)
{
	jm_job *job = fl_calloc(1, sizeof *job);
	job->root_exc = -1;
	job->attempt = 1;
	job->name = jm_utf8_dup(d->name ? d->name : sub->display);
	job->jar_id = fl_strdup(sub->s->jar_id);
	job->nargs = argc;
	job->args = fl_calloc((size_t)argc, sizeof(char *));
	for (int i = 0; i < argc; i++) job->args[i] = fl_strdup(argv[i]);
	job->parallelism = (int)sub->parallelism;
	job->max_parallelism = (int)sub->max_parallelism;
	job->graph_hash = d->graph_hash;
	job->conf = sub->conf;
	sub->conf = NULL;
	job_vertices(j, job, d);
	job->plan_json = fl_strdup(d->plan_json);
	if (sub->s->recover_jid) {
		snprintf(job->jid, sizeof job->jid, "%s", sub->s->recover_jid);
		job->attempt = j->ha_epoch * 1000 + 1; /* apart from the last job manager's attempts */
	} else {
		jm_random_hex32(job->jid);
	}
	return job;
}

/* jm.h. The inspection options of the job manager (timeout, memory). */
void jm_inspect_opts(const jm *j, fl_inspect_opts *o)
{
	memset(o, 0, sizeof *o);
	o->timeout_ms = j->o.inspect_timeout_ms;
	o->memory_bytes = j->o.inspect_memory;
}

/* Step 2, validate: build the job's graph in an inspection helper (the
 * plugin never runs in this process: fl_inspect_run) with the job's
 * arguments, parallelism and configuration, as the task managers will,
 * and make the job with its checkpoint settings (jm_cp_job_init), so that
 * a job that cannot run is refused before anything changes. FLINC_OK with
 * *out (owned by the caller until published), or with err
 * EPLUGIN (the plugin does not load, crashed, hung, ran out of memory),
 * EGRAPH (its build refused), EIO (no helper) or the code of
 * jm_cp_job_init. Without jm.mu: blocks for the inspection. */
static int submit_build(jm *j, submission *sub, jm_job **out, char *err, size_t errcap)
{
	const jm_submit *s = sub->s;
	*out = NULL;
	int argc = s->nargs + 1;
	char **argv = fl_calloc((size_t)argc + 1, sizeof(char *));
	argv[0] = (char *)sub->display;
	for (int i = 0; i < s->nargs; i++) argv[i + 1] = s->args[i];
	fl_inspect_opts o;
	jm_inspect_opts(j, &o);
	char diag[512];
	o.build = true;
	o.conf = sub->conf;
	o.parallelism = (int)sub->parallelism;
	o.display = sub->display;
	o.diag = diag;
	o.diagcap = sizeof diag;
	fl_inspection *in = NULL;
	int rc = fl_inspect_run(&o, sub->path, argc, argv, &in, err, errcap);
	if (rc != FLINC_OK) {
		static fl_log_limit lim = FL_LOG_LIMIT_INIT(10, 10000);
		if (*diag)
			fl_log_limited(&lim, FL_LOG_WARN, JM_COMPONENT, "inspection of %s: its output: %s",
				       sub->display, diag);
	} else if (in->job->max_parallelism != sub->max_parallelism) {
		/* The build read pipeline.max-parallelism as we did, or lied. */
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: the inspection's answer is malformed: max parallelism %d, not %lld",
			     sub->display, in->job->max_parallelism, (long long)sub->max_parallelism);
	} else {
		jm_job *job = job_new(j, sub, in->job, argc, argv);
		rc = jm_cp_job_init(j, job, in->job, s, err, errcap);
		if (rc != FLINC_OK)
			jm_job_free(job);
		else
			*out = job;
	}
	fl_inspection_free(in);
	free(argv);
	return rc;
}

/* Step 3, validate against the cluster: a job that needs more slots than
 * the cluster has is refused, and one that needs more than are free
 * unless it may wait (a recovered job always waits). FLINC_OK,
 * FLINC_ERANGE or FLINC_EEXIST (the job id is taken) with err. */
static int submit_check_locked(jm *j, const submission *sub, const jm_job *job, char *err, size_t errcap)
{
	int total, nfree, ntms;
	jm_slots_locked(j, &total, &nfree, &ntms);
	bool recover = sub->s->recover_jid != NULL;
	const char *sharing = j->o.slot_sharing ? ", slots shared" : ", one slot per subtask";
	if (job->nslots > total && !recover) {
		snprintf(
			err, errcap,
			"Not enough task slots: job %s at parallelism %d needs %d slots (%d vertices, %d subtasks%s), "
			"the cluster has %d slots in %d task managers (%d free)",
			job->name, job->parallelism, job->nslots, job->nv, job->nsubtasks, sharing, total,
			ntms, nfree);
		return FLINC_ERANGE;
	}
	if (job->nslots > nfree && !sub->slot_wait && !recover) {
		snprintf(
			err, errcap,
			"Not enough free task slots: job %s at parallelism %d needs %d slots (%d vertices, %d "
			"subtasks%s), %d of the cluster's %d slots are free (%d task managers); other jobs hold the "
			"rest (set slot.request.wait=true to wait for them)",
			job->name, job->parallelism, job->nslots, job->nv, job->nsubtasks, sharing, nfree,
			total, ntms);
		return FLINC_ERANGE;
	}
	if (jm_job_find_locked(j, job->jid)) { /* 128 random bits: never, but not silently */
		snprintf(err, errcap, "job id %s is taken; submit again", job->jid);
		return FLINC_EEXIST;
	}
	return FLINC_OK;
}

/* Put the job id into the plan the REST API shows. */
static void plan_set_jid(jm_job *job)
{
	json_t *pjs = json_loads(job->plan_json, 0, NULL);
	if (!pjs) return;
	json_object_set_new(pjs, "jid", json_string(job->jid));
	char *dumped = json_dumps(pjs, JSON_COMPACT);
	if (dumped) {
		free(job->plan_json);
		job->plan_json = dumped;
	}
	json_decref(pjs);
}

/* Step 4, store: the job becomes CREATED and joins the job list, which
 * takes it; its slot deadline starts (a recovered job waits without
 * one). */
static void submit_store_locked(jm *j, const submission *sub, jm_job *job)
{
	plan_set_jid(job);
	int64_t now = fl_now_ms();
	job->state = JM_JOB_CREATED;
	job->ts[JM_JOB_CREATED] = now;
	job->start_ms = job->last_mod_ms = now;
	job->slot_timeout_ms = sub->slot_timeout_ms;
	job->slot_deadline = sub->s->recover_jid ? INT64_MAX : jm_mono_ms() + sub->slot_timeout_ms;
	jm_job_append_locked(j, job);
	int total, nfree;
	jm_slots_locked(j, &total, &nfree, NULL);
	fl_log(FL_LOG_INFO, JM_COMPONENT,
	       "Job %s (%s) submitted from %s: parallelism %d, %u vertices, %d subtasks, %d slots needed (%d of %d free)",
	       job->name, job->jid, sub->display, job->parallelism, job->nv, job->nsubtasks, job->nslots,
	       nfree, total);
}

/* Step 5, place: a job that fits now is placed (and deployed) ahead of
 * jobs that wait for more slots; then the waiting ones get their turn and
 * ended jobs beyond jobstore.max-capacity go. */
static void submit_place_locked(jm *j, jm_job *job)
{
	int total, nfree;
	jm_slots_locked(j, &total, &nfree, NULL);
	if (job->nslots <= nfree) place(j, job);
	jm_sched_try_locked(j);
	evict(j);
}

/* jm.h. The steps above in order: parse and build without jm.mu (disk,
 * inspection), check, store and place under one hold of it, so that the
 * slots counted are the slots taken; the job store is written after. */
int jm_job_submit(jm *j, const jm_submit *s, char *jid_out, char *err, size_t errcap)
{
	submission sub;
	jm_job *job = NULL;
	int rc = submit_parse(j, s, &sub, err, errcap);
	if (rc == FLINC_OK) rc = submit_build(j, &sub, &job, err, errcap);
	if (rc != FLINC_OK) goto done;
	pthread_mutex_lock(&j->mu);
	rc = submit_check_locked(j, &sub, job, err, errcap);
	if (rc == FLINC_OK) {
		submit_store_locked(j, &sub, job); /* the job list owns it from here */
		memcpy(jid_out, job->jid, JM_JID_LEN + 1);
		submit_place_locked(j, job);
	}
	pthread_mutex_unlock(&j->mu);
	if (rc != FLINC_OK)
		jm_job_free(job); /* outside jm.mu: it destroys the coordinator */
	else if (!s->recover_jid)
		jm_ha_store_job(j, jid_out, s);
done:
	submission_free(&sub);
	return rc;
}

/* jm.h. A job not yet placed ends CANCELED at once; a placed one is
 * CANCELLING until its subtasks confirm (or the cancel deadline passes). */
int jm_job_cancel(jm *j, const char *jid, char *err, size_t errcap)
{
	pthread_mutex_lock(&j->mu);
	jm_job *job = jm_job_get_locked(j, jid, err, errcap);
	int rc = FLINC_OK;
	if (!job) {
		rc = FLINC_ENOENT;
	} else if (jm_job_state_terminal(job->state)) {
		snprintf(err, errcap, "Job %s (%s) is already %s", job->name, job->jid,
			 jm_job_state_name(job->state));
		rc = FLINC_ESTATE;
	} else if (job->state == JM_JOB_CANCELLING || job->state == JM_JOB_FAILING) {
		/* already ending */
	} else if (!job->placed) {
		jm_cp_stopped_locked(job, "the job was canceled");
		job->restart_pending = false;
		cancel_exception(job);
		job_set_state(job, JM_JOB_CANCELLING);
		for (uint32_t k = 0; k < job->nv; k++)
			for (int i = 0; i < job->v[k].parallelism; i++)
				job->v[k].sub[i].state = JM_TASK_CANCELED;
		job_set_state(job, JM_JOB_CANCELED);
	} else {
		jm_cp_stopped_locked(job, "the job was canceled");
		job->restart_pending = false;
		cancel_exception(job);
		job_set_state(job, JM_JOB_CANCELLING);
		cancel_rest(j, job);
		job_update(j, job);
		jm_sched_try_locked(j);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

/* Remove an uploaded plugin unless a job that has not ended runs it: the
 * task managers of a restarting job fetch it again. Takes jm.mu (the
 * unlink runs under it, so no submission of the jar can slip in between).
 * FLINC_OK; FLINC_ENOENT (no such jar), FLINC_ESTATE (in use) or
 * FLINC_EIO, with the reason in err. */
int jm_jar_delete(jm *j, const char *jar_id, char *err, size_t errcap)
{
	char *p = jm_blob_path(j, jar_id);
	if (!p) {
		snprintf(err, errcap, "Not found: jar '%s' (no such upload)", jar_id);
		return FLINC_ENOENT;
	}
	free(p);
	pthread_mutex_lock(&j->mu);
	const char *user = NULL;
	for (size_t i = 0; i < j->njobs && !user; i++)
		if (!jm_job_state_terminal(j->jobs[i]->state) && !strcmp(j->jobs[i]->jar_id, jar_id))
			user = j->jobs[i]->jid;
	int rc = FLINC_OK;
	if (user) {
		snprintf(err, errcap, "jar %s is used by job %s, which has not ended", jar_id, user);
		rc = FLINC_ESTATE;
	} else if (jm_blob_remove(j, jar_id) != FLINC_OK) {
		snprintf(err, errcap, "cannot remove jar %s", jar_id);
		rc = FLINC_EIO;
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}
