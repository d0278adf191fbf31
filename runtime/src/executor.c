/* executor.c - the in-process mini cluster. */
#include "executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exchange.h"
#include "plan.h"
#include "task.h"

struct fl_local {
	const flinc_env *env;
	fl_plan *plan;
	fl_task **tasks;     /* all subtasks */
	uint32_t ntasks;
	uint32_t *first;     /* vertex -> index of its subtask 0 in tasks */
	fl_channel **chans;
	size_t nchans;
	_Atomic int failed;
};

static void on_failure(void *ud, fl_task *t)
{
	fl_local *l = ud;
	(void)t;
	atomic_store(&l->failed, 1);
	for (uint32_t i = 0; i < l->ntasks; i++) fl_task_cancel(l->tasks[i]);
}

int fl_local_create(const flinc_env *e, const fl_conf *conf, fl_local **out, char *err, size_t errcap)
{
	fl_local *l = fl_calloc(1, sizeof(*l));
	l->env = e;
	l->plan = fl_plan_create(e);
	fl_plan *p = l->plan;
	bool ok = true;
	int64_t bufsize = fl_conf_size(conf, "execution.buffer-size", 32 * 1024, &ok);
	int64_t nbufs = fl_conf_i64(conf, "execution.buffers-per-channel", 8, &ok);
	if (!ok || bufsize < 1024 || bufsize > (64 << 20) || nbufs < 2 || nbufs > 1024) {
		snprintf(err, errcap, "execution.buffer-size (1kb..64mb) or execution.buffers-per-channel (2..1024) invalid");
		fl_local_destroy(l);
		return FLINC_ECONFIG;
	}
	l->ntasks = (uint32_t)fl_plan_subtasks(p);
	l->tasks = fl_calloc(l->ntasks, sizeof(fl_task *));
	l->first = fl_calloc(p->nv, sizeof(uint32_t));
	uint32_t ti = 0;
	for (uint32_t k = 0; k < p->nv; k++) {
		l->first[k] = ti;
		for (int s = 0; s < p->v[k].parallelism; s++) {
			int rc = fl_task_create(p, &p->v[k], s, conf, &l->tasks[ti], err, errcap);
			if (rc) {
				l->ntasks = ti;
				fl_local_destroy(l);
				return rc;
			}
			l->tasks[ti]->on_failure = on_failure;
			l->tasks[ti]->on_failure_ud = l;
			ti++;
		}
	}
	/* Channels for every edge between vertices: all-to-all, or i -> i
	 * for forward. */
	for (size_t x = 0; x < e->nedges; x++) {
		if (p->chained[x]) continue;
		const fl_edge *ed = &e->edges[x];
		const fl_vertex *vs = &p->v[p->node_vertex[ed->src]], *vd = &p->v[p->node_vertex[ed->dst]];
		bool forward = ed->part == FL_PART_FORWARD;
		for (int i = 0; i < vs->parallelism; i++) {
			fl_task *src = l->tasks[l->first[vs->index] + i];
			uint32_t nch = forward ? 1 : (uint32_t)vd->parallelism;
			fl_channel **ch = fl_calloc(nch, sizeof(fl_channel *));
			fl_writer_params wp;
			fl_task_writer_params(src, x, true, &wp);
			for (uint32_t j = 0; j < nch; j++) {
				fl_task *dst = l->tasks[l->first[vd->index] + (forward ? i : (int)j)];
				ch[j] = fl_channel_create((uint32_t)nbufs, (uint32_t)bufsize, &dst->notify, &src->notify);
				fl_task_add_input(dst, ch[j], ed->input, wp.type, wp.raw);
				l->chans = fl_realloc(l->chans, (l->nchans + 1) * sizeof(fl_channel *));
				l->chans[l->nchans++] = ch[j];
			}
			fl_task_add_writer(src, x, fl_writer_create(&wp, ch, nch));
			free(ch);
		}
	}
	*out = l;
	return FLINC_OK;
}

static void collect_stats(fl_local *l, fl_run_stats *st)
{
	for (uint32_t i = 0; i < l->ntasks; i++) {
		fl_task *t = l->tasks[i];
		for (uint32_t j = 0; j < t->nops; j++) {
			fl_op *op = t->ops[j];
			if (op->node->kind == FL_NODE_SOURCE) st->source_records += op->m.records_out;
			if (op->node->kind == FL_NODE_SINK) st->sink_records += op->m.records_in;
			st->rejected += op->m.rejected;
			st->late_dropped += op->m.late_dropped;
		}
		for (uint32_t w = 0; w < t->nwriters; w++) st->rejected += fl_writer_rejected(t->writers[w]);
	}
}

int fl_local_run(fl_local *l, fl_run_stats *stats, char *err, size_t errcap)
{
	int64_t t0 = fl_mono_ns();
	uint32_t started = 0;
	int rc = FLINC_OK;
	for (; started < l->ntasks; started++) {
		if (fl_task_start(l->tasks[started]) != FLINC_OK) {
			snprintf(err, errcap, "cannot start a task thread");
			rc = FLINC_ENOMEM;
			on_failure(l, NULL);
			break;
		}
	}
	for (uint32_t i = 0; i < started; i++) fl_task_join(l->tasks[i]);
	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->seconds = (double)(fl_mono_ns() - t0) / 1e9;
		collect_stats(l, stats);
	}
	if (rc) return rc;
	for (uint32_t i = 0; i < l->ntasks; i++) {
		fl_task *t = l->tasks[i];
		if (t->err) {
			snprintf(err, errcap, "%s", t->errmsg);
			return t->err;
		}
	}
	for (uint32_t i = 0; i < l->ntasks; i++) {
		if (fl_task_get_state(l->tasks[i]) == FL_TASK_CANCELED) {
			snprintf(err, errcap, "the job was canceled");
			return FLINC_ECANCELED;
		}
	}
	return FLINC_OK;
}

void fl_local_cancel(fl_local *l)
{
	for (uint32_t i = 0; i < l->ntasks; i++) fl_task_cancel(l->tasks[i]);
}

void fl_local_destroy(fl_local *l)
{
	if (!l) return;
	for (uint32_t i = 0; i < l->ntasks; i++) fl_task_destroy(l->tasks[i]);
	free(l->tasks);
	for (size_t i = 0; i < l->nchans; i++) fl_channel_destroy(l->chans[i]);
	free(l->chans);
	free(l->first);
	fl_plan_destroy(l->plan);
	free(l);
}
