/*
 * deploy.c - DeployJob: from a blob id and arguments to running subtasks.
 *
 *   1. the message was checked by fl_rpc_check_tm_request (ids,
 *      parallelism, arguments); refuse a job attempt running already;
 *   2. fetch the plugin (blob.c) and load it;
 *   3. build the job graph from the plugin and args with the job's
 *      configuration, and compare its hash with the job manager's: both
 *      sides must derive the same channels from the same plan;
 *   4. check that the placements cover every subtask of the plan once;
 *   5. fl_exec_create with a placement that keeps "placement tm_id == ours"
 *      here and asks the data service (netx) for the ends of channels whose
 *      other side runs elsewhere (id fl_channel_id(job, attempt, edge, i, j)
 *      on both sides);
 *   6. fl_exec_start, add the instance to the list, queue DEPLOYING for
 *      each subtask; the monitor reports the rest.
 * Any failure undoes everything (threads joined, channels closed, plugin
 * unloaded) and answers Ack{error}.
 */
#include "tm.h"

#include "fl_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the placement: which subtasks are ours, and remote channel ends --- */

static void add_remote(tm_instance *in, uint64_t id, const char *peer, bool out, fl_channel *ch,
		       uint32_t nbufs)
{
	in->remote = fl_realloc(in->remote, (in->nremote + 1) * sizeof(*in->remote));
	in->remote[in->nremote++] =
		(tm_remote){ .id = id, .peer = peer, .out = out, .ch = ch, .nbufs = nbufs };
}

static bool pl_here(void *ud, uint32_t vertex, int subtask)
{
	tm_instance *in = ud;
	return vertex < fl_plan_vertices(in->plan) && subtask >= 0 &&
		subtask < fl_plan_vertex(in->plan, vertex).parallelism && in->mine[vertex][subtask];
}

static fl_channel *pl_remote_out(void *ud, size_t edge, int i, int j, struct fl_notify *producer,
				 uint32_t nbufs, uint32_t bufsize)
{
	tm_instance *in = ud;
	uint32_t sv, dv;
	if (!fl_plan_edge_vertices(in->plan, edge, &sv, &dv)) return NULL;
	const char *peer = in->addr[dv][j];
	if (!peer || !peer[0]) {
		snprintf(in->chan_err, sizeof in->chan_err, "subtask %u.%d has no data address", dv, j);
		return NULL;
	}
	uint64_t id = fl_channel_id(in->job_id, in->attempt, (unsigned)edge, i, j);
	fl_channel *ch = NULL;
	char err[256] = "";
	int rc = fl_netx_out(in->tm->netx, peer, id, nbufs, bufsize, producer, &ch, err, sizeof err);
	if (rc) {
		snprintf(in->chan_err, sizeof in->chan_err, "data channel %zu:%d->%d to %s: %s", edge, i, j,
			 peer, err[0] ? err : flinc_strerror(rc));
		return NULL;
	}
	add_remote(in, id, peer, true, ch, nbufs);
	return ch;
}

/* fl_exec_create failed: close the remote ends handed out so far. */
static void pl_release(void *ud)
{
	tm_instance *in = ud;
	if (!in->nremote) return;
	uint64_t *ids = fl_malloc(in->nremote * sizeof(uint64_t));
	for (size_t k = 0; k < in->nremote; k++) ids[k] = in->remote[k].id;
	fl_netx_close(in->tm->netx, ids, in->nremote);
	free(ids);
	in->nremote = 0;
}

static fl_channel *pl_remote_in(void *ud, size_t edge, int i, int j, struct fl_notify *consumer,
				uint32_t nbufs, uint32_t bufsize)
{
	tm_instance *in = ud;
	uint32_t sv, dv;
	if (!fl_plan_edge_vertices(in->plan, edge, &sv, &dv)) return NULL;
	const char *peer = in->addr[sv][i];
	if (!peer || !peer[0]) {
		snprintf(in->chan_err, sizeof in->chan_err, "subtask %u.%d has no data address", sv, i);
		return NULL;
	}
	uint64_t id = fl_channel_id(in->job_id, in->attempt, (unsigned)edge, i, j);
	fl_channel *ch = NULL;
	int rc = fl_netx_in(in->tm->netx, id, nbufs, bufsize, consumer, &ch);
	if (rc) {
		snprintf(in->chan_err, sizeof in->chan_err, "data channel %zu:%d->%d from %s: %s", edge, i, j,
			 peer, flinc_strerror(rc));
		return NULL;
	}
	add_remote(in, id, peer, false, ch, nbufs);
	return ch;
}

/* ---- checkpoints ----------------------------------------------------------- */

/* The upload thread acknowledges a snapshot: to the job manager, in order
 * with the statuses. */
static void on_cp_ack(void *ud, const fl_cp_ack_info *a)
{
	tm_instance *in = ud;
	tm_report_ack(in->tm, in->job_id, a);
}

static int setup_checkpointing(tm_instance *in, const Flinc__DeployJob *d, char *err, size_t errcap)
{
	if (!d->checkpoint_dir || !d->checkpoint_dir[0]) return FLINC_OK;
	char e2[768] = "";
	if (d->restore_path && d->restore_path[0]) {
		/* The job manager checked it thoroughly; make sure it is there. */
		int rc = fl_restore_open(d->restore_path, FL_CHK_CHECK_META, &in->restore, e2, sizeof e2);
		if (rc) {
			snprintf(err, errcap, "cannot restore: %s", e2);
			return rc;
		}
	}
	/* s3://: the job folder's twin in this process (fl_store.h) */
	const char *jobdir = fl_remote_localize(d->checkpoint_dir, e2, sizeof e2);
	if (!jobdir) {
		snprintf(err, errcap, "checkpoints: %s", e2);
		return FLINC_ECONFIG;
	}
	fl_cp_setup su = { .job_id = in->job_id,
			   .jobdir = jobdir,
			   .attempt = in->attempt,
			   .restore = in->restore,
			   .ack = on_cp_ack,
			   .ud = in };
	int rc = fl_exec_set_checkpointing(in->exec, &su, e2, sizeof e2);
	if (rc) {
		snprintf(err, errcap, "checkpoints: %s", e2);
		return rc;
	}
	in->checkpointing = true;
	return FLINC_OK;
}

/* ---- checks ------------------------------------------------------------ */

/* Fill in->addr and in->mine from the placements; every subtask of the
 * plan must be placed exactly once. */
static int apply_placements(tm_server *tm, tm_instance *in, const Flinc__DeployJob *d, uint32_t *nmine,
			    char *err, size_t errcap)
{
	*nmine = 0;
	const fl_plan *p = in->plan;
	uint32_t nv = fl_plan_vertices(p);
	in->addr = fl_calloc(nv, sizeof(char **));
	in->mine = fl_calloc(nv, sizeof(bool *));
	for (uint32_t v = 0; v < nv; v++) {
		in->addr[v] = fl_calloc((size_t)fl_plan_vertex(p, v).parallelism, sizeof(char *));
		in->mine[v] = fl_calloc((size_t)fl_plan_vertex(p, v).parallelism, sizeof(bool));
	}
	for (size_t k = 0; k < d->n_placements; k++) {
		const Flinc__Placement *pl = d->placements[k];
		if (!pl || !pl->tm_id || !pl->data_address) {
			snprintf(err, errcap, "malformed placement %zu", k);
			return FLINC_EPROTO;
		}
		if (pl->vertex >= nv || pl->subtask < 0 ||
		    pl->subtask >= fl_plan_vertex(p, pl->vertex).parallelism) {
			snprintf(err, errcap,
				 "placement of subtask %u.%d does not exist in the job's plan (%u vertices)",
				 pl->vertex, pl->subtask, nv);
			return FLINC_EPROTO;
		}
		if (in->addr[pl->vertex][pl->subtask]) {
			snprintf(err, errcap, "subtask %u.%d is placed twice", pl->vertex, pl->subtask);
			return FLINC_EPROTO;
		}
		bool here = strcmp(pl->tm_id, tm->tm_id) == 0;
		in->addr[pl->vertex][pl->subtask] = fl_strdup(here ? tm->data_address : pl->data_address);
		in->mine[pl->vertex][pl->subtask] = here;
		if (here) (*nmine)++;
	}
	for (uint32_t v = 0; v < nv; v++)
		for (int s = 0; s < fl_plan_vertex(p, v).parallelism; s++)
			if (!in->addr[v][s]) {
				snprintf(err, errcap, "subtask %u.%d (%s) has no placement", v, s,
					 fl_plan_vertex(p, v).name);
				return FLINC_EPROTO;
			}
	return FLINC_OK;
}

static bool instance_exists(tm_server *tm, const char *job_id, int attempt)
{
	for (tm_instance *in = tm->instances; in; in = in->next)
		if (in->attempt == attempt && strcmp(in->job_id, job_id) == 0) return true;
	return false;
}

/* ---- deploy -------------------------------------------------------------- */

int tm_deploy(tm_server *tm, const Flinc__DeployJob *d, char *err, size_t errcap)
{
	/* The message's fields were checked by fl_rpc_check_tm_request (ids,
	 * attempt, parallelism, arguments, placements) before it came here. */
	pthread_mutex_lock(&tm->mu);
	bool dup = instance_exists(tm, d->job_id, d->attempt);
	pthread_mutex_unlock(&tm->mu);
	if (dup) {
		snprintf(err, errcap, "job %s attempt %d is already running here", d->job_id, d->attempt);
		return FLINC_EEXIST;
	}

	const char *job_name = d->job_name && d->job_name[0] ? d->job_name : d->args[0];
	fl_log(FL_LOG_INFO, TM_LOG, "deploying job '%s' (%s) attempt %d, parallelism %d, plugin blob %s",
	       job_name, d->job_id, d->attempt, d->parallelism, d->blob_id);

	tm_instance *in = fl_calloc(1, sizeof(*in));
	in->tm = tm;
	in->job_id = fl_strdup(d->job_id);
	in->attempt = d->attempt;
	in->job_name = fl_strdup(job_name);
	in->graph_hash = d->graph_hash;
	in->t_start_ns = fl_mono_ns();
	int rc;

	/* The plugin. */
	char path[4300];
	rc = tm_blob_fetch(tm, d->blob_id, path, sizeof path, err, errcap);
	if (rc) goto fail;
	rc = fl_plugin_open(path, &in->plugin, err, errcap);
	if (rc) goto fail;
	const flinc_plugin *entry = fl_plugin_entry(in->plugin);

	/* The graph, built here as on the job manager. */
	in->conf = fl_conf_create();
	for (size_t i = 0; i < d->n_config; i++) {
		const Flinc__KeyValue *kv = d->config[i];
		if (kv && kv->key && kv->value && kv->key[0]) fl_conf_set(in->conf, kv->key, kv->value);
	}
	in->argc = (int)d->n_args;
	in->argv = fl_calloc(d->n_args + 1, sizeof(char *));
	for (size_t i = 0; i < d->n_args; i++) in->argv[i] = fl_strdup(d->args[i]);
	in->env = fl_env_create(entry->name ? entry->name : in->argv[0], in->conf, d->parallelism);
	const char *msg = NULL;
	rc = fl_env_build(in->env, entry->build, in->argc, in->argv, &msg);
	if (rc) {
		snprintf(err, errcap, "the job's plugin does not build here: %s",
			 msg ? msg : flinc_strerror(rc));
		goto fail;
	}
	if (fl_env_hash(in->env) != d->graph_hash) {
		snprintf(err, errcap, "the job's graph differs on this task manager");
		rc = FLINC_EGRAPH;
		goto fail;
	}
	in->plan = fl_plan_create(in->env);
	uint32_t nmine;
	rc = apply_placements(tm, in, d, &nmine, err, errcap);
	if (rc) goto fail;
	if (nmine == 0) {
		/* Nothing for us: not an error, nothing to track. */
		fl_log(FL_LOG_INFO, TM_LOG, "job %s attempt %d places no subtask on this task manager",
		       in->job_id, in->attempt);
		tm_instance_destroy(in);
		return FLINC_OK;
	}

	/* The subtasks and their channels. */
	fl_placement pl = { .here = pl_here,
			    .remote_out = pl_remote_out,
			    .remote_in = pl_remote_in,
			    .release = pl_release,
			    .ud = in };
	rc = fl_exec_create(in->env, in->conf, &pl, &in->exec, err, errcap);
	if (rc) {
		if (in->chan_err[0]) snprintf(err, errcap, "%s", in->chan_err);
		goto fail;
	}
	rc = setup_checkpointing(in, d, err, errcap);
	if (rc) goto fail;
	uint32_t nt;
	fl_task **tasks = fl_exec_tasks(in->exec, &nt);
	in->subs = fl_calloc(nt ? nt : 1, sizeof(tm_sub));
	in->nsubs = nt;
	for (uint32_t i = 0; i < nt; i++)
		in->subs[i] = (tm_sub){ .vertex = fl_task_vertex_index(tasks[i]),
					.subtask = fl_task_subtask(tasks[i]),
					.task = tasks[i],
					.reported = -1 };

	/* Start and publish under the lock, so that a cancel or shutdown
	 * that comes in meanwhile either sees the instance or stopped us. */
	pthread_mutex_lock(&tm->mu);
	if (atomic_load(&tm->stopping)) {
		pthread_mutex_unlock(&tm->mu);
		snprintf(err, errcap, "the task manager is shutting down");
		rc = FLINC_ECANCELED;
		goto fail;
	}
	rc = fl_exec_start(in->exec, err, errcap);
	if (rc) {
		pthread_mutex_unlock(&tm->mu);
		goto fail;
	}
	in->next = tm->instances;
	tm->instances = in;
	for (uint32_t i = 0; i < in->nsubs; i++) {
		in->subs[i].reported = FLINC__TASK_STATE__DEPLOYING;
		tm_report(tm, in, &in->subs[i], FLINC__TASK_STATE__DEPLOYING, NULL, NULL);
	}
	pthread_mutex_unlock(&tm->mu);
	fl_log(FL_LOG_INFO, TM_LOG, "job '%s' (%s) attempt %d: started %u subtask(s), %zu remote channel(s)",
	       in->job_name, in->job_id, in->attempt, in->nsubs, in->nremote);
	return FLINC_OK;

fail:
	fl_log(FL_LOG_WARN, TM_LOG, "deploy of job %s attempt %d refused: %s", in->job_id, in->attempt, err);
	tm_instance_destroy(in);
	return rc ? rc : FLINC_EIO;
}
