/* executor.c - instantiate and run the subtasks of a job in this process. */
#include "executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"
#include "plan.h"
#include "snapshot.h"
#include "task.h"

struct fl_exec {
	const flinc_env *env;
	fl_plan *plan;
	fl_placement pl;
	fl_task **tasks; /* subtasks of this process */
	uint32_t ntasks;
	fl_task ***by_vs;   /* [vertex][subtask] -> task, NULL when elsewhere */
	fl_channel **chans; /* local channels (owned) */
	size_t nchans;
	uint32_t started;
	int64_t t0;
	fl_cpctx *cpx;
};

static bool all_here(void *ud, uint32_t vertex, int subtask)
{
	(void)ud, (void)vertex, (void)subtask;
	return true;
}

static void on_failure(void *ud, fl_task *t)
{
	(void)t;
	fl_exec_cancel(ud);
}

/* Is every subtask at both ends of edge x in this process? Then POD
 * records may cross it as raw bytes; both ends compute the same answer. */
static bool edge_local(fl_exec *x, const fl_edge *ed)
{
	const fl_plan *p = x->plan;
	const fl_vertex *vs = &p->v[p->node_vertex[ed->src]], *vd = &p->v[p->node_vertex[ed->dst]];
	for (int i = 0; i < vs->parallelism; i++)
		if (!x->pl.here(x->pl.ud, vs->index, i)) return false;
	for (int j = 0; j < vd->parallelism; j++)
		if (!x->pl.here(x->pl.ud, vd->index, j)) return false;
	return true;
}

static int wire_edge(fl_exec *x, size_t ei, uint32_t nbufs, uint32_t bufsize, char *err, size_t errcap)
{
	const flinc_env *e = x->env;
	const fl_plan *p = x->plan;
	const fl_edge *ed = &e->edges[ei];
	const fl_vertex *vs = &p->v[p->node_vertex[ed->src]], *vd = &p->v[p->node_vertex[ed->dst]];
	bool forward = ed->part == FL_PART_FORWARD;
	bool local = edge_local(x, ed);
	const flinc_type *ty = ed->tag < 0 ? e->nodes[ed->src]->out : e->tags[ed->tag]->type;
	bool raw = local && (ty->flags & FLINC_TYPE_POD);
	for (int i = 0; i < vs->parallelism; i++) {
		fl_task *src = x->by_vs[vs->index][i];
		uint32_t nch = forward ? 1 : (uint32_t)vd->parallelism;
		fl_channel **ch = src ? fl_calloc(nch, sizeof(fl_channel *)) : NULL;
		for (uint32_t k = 0; k < nch; k++) {
			int j = forward ? i : (int)k;
			fl_task *dst = x->by_vs[vd->index][j];
			fl_channel *c = NULL;
			if (src && dst) {
				c = fl_channel_create(nbufs, bufsize, &dst->notify, &src->notify);
				x->chans = fl_realloc(x->chans, (x->nchans + 1) * sizeof(fl_channel *));
				x->chans[x->nchans++] = c;
			} else if (src) {
				c = x->pl.remote_out(x->pl.ud, ei, i, j, &src->notify, nbufs, bufsize);
			} else if (dst) {
				c = x->pl.remote_in(x->pl.ud, ei, i, j, &dst->notify, nbufs, bufsize);
			} else {
				continue;
			}
			if (!c) {
				snprintf(err, errcap, "no data channel for edge %zu, subtask %d -> %d", ei, i,
					 j);
				free(ch);
				return FLINC_EIO;
			}
			if (dst) fl_task_add_input(dst, c, ed->input, ty, raw);
			if (src) ch[k] = c;
		}
		if (src) {
			fl_writer_params wp;
			fl_task_writer_params(src, ei, raw, &wp);
			fl_task_add_writer(src, ei, fl_writer_create(&wp, ch, nch));
			free(ch);
		}
	}
	return FLINC_OK;
}

int fl_exec_create(const flinc_env *e, const fl_conf *conf, const fl_placement *pl, fl_exec **out, char *err,
		   size_t errcap)
{
	fl_exec *x = fl_calloc(1, sizeof(*x));
	x->env = e;
	x->plan = fl_plan_create(e);
	if (pl)
		x->pl = *pl;
	else
		x->pl.here = all_here;
	fl_plan *p = x->plan;
	bool ok = true;
	int64_t bufsize = fl_conf_size(conf, "execution.buffer-size", 32 * 1024, &ok);
	int64_t nbufs = fl_conf_i64(conf, "execution.buffers-per-channel", 8, &ok);
	if (!ok || bufsize < 1024 || bufsize > (64 << 20) || nbufs < 2 || nbufs > 1024) {
		snprintf(
			err, errcap,
			"execution.buffer-size (1kb..64mb) or execution.buffers-per-channel (2..1024) invalid");
		fl_exec_destroy(x);
		return FLINC_ECONFIG;
	}
	x->by_vs = fl_calloc(p->nv, sizeof(fl_task **));
	x->tasks = fl_calloc((size_t)fl_plan_subtasks(p), sizeof(fl_task *));
	for (uint32_t k = 0; k < p->nv; k++) {
		x->by_vs[k] = fl_calloc((size_t)p->v[k].parallelism, sizeof(fl_task *));
		for (int s = 0; s < p->v[k].parallelism; s++) {
			if (!x->pl.here(x->pl.ud, k, s)) continue;
			fl_task *t;
			int rc = fl_task_create(p, &p->v[k], s, conf, &t, err, errcap);
			if (rc) {
				fl_exec_destroy(x);
				return rc;
			}
			t->on_failure = on_failure;
			t->on_failure_ud = x;
			x->by_vs[k][s] = t;
			x->tasks[x->ntasks++] = t;
		}
	}
	for (size_t ei = 0; ei < e->nedges; ei++) {
		if (p->chained[ei]) continue;
		int rc = wire_edge(x, ei, (uint32_t)nbufs, (uint32_t)bufsize, err, errcap);
		if (rc) {
			if (x->pl.release) x->pl.release(x->pl.ud);
			fl_exec_destroy(x);
			return rc;
		}
	}
	*out = x;
	return FLINC_OK;
}

static void collect_stats(fl_exec *x, fl_run_stats *st)
{
	for (uint32_t i = 0; i < x->ntasks; i++) {
		fl_task *t = x->tasks[i];
		for (uint32_t j = 0; j < t->nops; j++) {
			fl_op *op = t->ops[j];
			if (op->node->kind == FL_NODE_SOURCE) st->source_records += op->m.records_out;
			if (op->node->kind == FL_NODE_SINK) st->sink_records += op->m.records_in;
			st->rejected += op->m.rejected;
			st->late_dropped += op->m.late_dropped;
		}
		for (uint32_t w = 0; w < t->nwriters; w++) st->rejected += fl_writer_rejected(t->writers[w]);
		st->dead_letters += atomic_load(&t->m.dead_letters);
		fl_lat_snap s;
		fl_lat_read(&t->m.latency, &s);
		for (int b = 0; b < FL_LAT_NBUCKETS; b++) st->latency.b[b] += s.b[b];
		st->latency.sum_ns += s.sum_ns;
		st->latency.count += s.count;
	}
}

int fl_exec_start(fl_exec *x, char *err, size_t errcap)
{
	x->t0 = fl_mono_ns();
	for (; x->started < x->ntasks; x->started++) {
		if (fl_task_start(x->tasks[x->started]) != FLINC_OK) {
			snprintf(err, errcap, "cannot start a task thread");
			fl_exec_cancel(x);
			return FLINC_ENOMEM;
		}
	}
	return FLINC_OK;
}

int fl_exec_wait(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap)
{
	for (uint32_t i = 0; i < x->started; i++) fl_task_join(x->tasks[i]);
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->seconds = (double)(fl_mono_ns() - x->t0) / 1e9;
		collect_stats(x, stats);
	}
	for (uint32_t i = 0; i < x->ntasks; i++) {
		fl_task *t = x->tasks[i];
		if (t->err) {
			snprintf(err, errcap, "%s", t->errmsg);
			return t->err;
		}
	}
	if (x->started < x->ntasks) {
		snprintf(err, errcap, "cannot start a task thread");
		return FLINC_ENOMEM;
	}
	for (uint32_t i = 0; i < x->ntasks; i++) {
		if (fl_task_get_state(x->tasks[i]) == FL_TASK_CANCELED) {
			snprintf(err, errcap, "the job was canceled");
			return FLINC_ECANCELED;
		}
	}
	return FLINC_OK;
}

int fl_exec_run(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap)
{
	int rc = fl_exec_start(x, err, errcap);
	int wrc = fl_exec_wait(x, stats, err, errcap);
	return rc ? rc : wrc;
}

void fl_exec_cancel(fl_exec *x)
{
	for (uint32_t i = 0; i < x->ntasks; i++) fl_task_cancel(x->tasks[i]);
}

void fl_exec_stop(fl_exec *x)
{
	for (uint32_t i = 0; i < x->ntasks; i++) fl_task_stop(x->tasks[i]);
}

int fl_exec_set_checkpointing(fl_exec *x, const fl_cp_setup *setup, char *err, size_t errcap)
{
	if (x->cpx || x->started) {
		snprintf(err, errcap, "checkpointing must be set up once, before start");
		return FLINC_EINVAL;
	}
	int rc = fl_cpctx_create(setup, &x->cpx, err, errcap);
	if (rc) return rc;
	for (uint32_t i = 0; i < x->ntasks; i++) x->tasks[i]->cpx = x->cpx;
	return FLINC_OK;
}

void fl_exec_trigger(fl_exec *x, int64_t id, bool savepoint)
{
	for (uint32_t i = 0; i < x->ntasks; i++) fl_task_trigger_checkpoint(x->tasks[i], id, savepoint);
}

void fl_exec_complete(fl_exec *x, int64_t id, bool final)
{
	for (uint32_t i = 0; i < x->ntasks; i++) {
		if (final)
			fl_task_checkpoint_final(x->tasks[i], id);
		else
			fl_task_checkpoint_complete(x->tasks[i], id);
	}
}

bool fl_exec_all_ended(fl_exec *x)
{
	for (uint32_t i = 0; i < x->ntasks; i++) {
		fl_task *t = x->tasks[i];
		if (!fl_task_awaiting_final(t) && fl_task_get_state(t) <= FL_TASK_RUNNING) return false;
	}
	return true;
}

fl_task **fl_exec_tasks(fl_exec *x, uint32_t *n)
{
	*n = x->ntasks;
	return x->tasks;
}

const fl_plan *fl_exec_plan(const fl_exec *x) { return x->plan; }

void fl_exec_destroy(fl_exec *x)
{
	if (!x) return;
	/* Close and stop before fini: a task still running would use the
	 * channels and the other tasks' notifies freed below. */
	for (uint32_t i = 0; i < x->started; i++) fl_task_cancel(x->tasks[i]);
	for (uint32_t i = 0; i < x->started; i++) fl_task_join(x->tasks[i]);
	fl_cpctx_destroy(x->cpx); /* its thread may still read the tasks' names: first */
	for (uint32_t i = 0; i < x->ntasks; i++) fl_task_destroy(x->tasks[i]);
	free(x->tasks);
	if (x->by_vs)
		for (uint32_t k = 0; k < x->plan->nv; k++) free(x->by_vs[k]);
	free(x->by_vs);
	for (size_t i = 0; i < x->nchans; i++) fl_channel_destroy(x->chans[i]);
	free(x->chans);
	fl_plan_destroy(x->plan);
	free(x);
}
