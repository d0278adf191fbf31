/* task.c - subtask creation, wiring and the task loop. */
#include "task.h"

#include "snapshot.h"

#include "fl_conf_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_BUDGET 1024u

const char *fl_task_state_name(fl_task_state s)
{
	static const char *n[] = { "CREATED", "RUNNING", "FINISHED", "FAILED", "CANCELED" };
	return (unsigned)s < FL_ARRAY_LEN(n) ? n[s] : "?";
}

fl_task_state fl_task_get_state(const fl_task *t) { return (fl_task_state)atomic_load(&t->state); }

/* ---- operator instances ---------------------------------------------- */

static void add_target(fl_output *o, fl_target tg)
{
	o->t = fl_realloc(o->t, (o->n + 1) * sizeof(fl_target));
	o->t[o->n++] = tg;
}

static fl_op *op_create(fl_task *t, const fl_node *n, uint32_t pos)
{
	const flinc_env *e = t->plan->env;
	fl_op *op = fl_calloc(1, sizeof(*op));
	op->ops = fl_op_ops_for(n);
	op->priv = op->ops->priv_size ? fl_calloc(1, op->ops->priv_size) : NULL;
	op->node = n;
	op->task = t;
	op->chain_pos = pos;
	op->nside = (uint32_t)e->ntags;
	op->side = e->ntags ? fl_calloc(e->ntags, sizeof(fl_output)) : NULL;
	op->watermark = FLINC_WATERMARK_MIN;
	op->input_wm = FLINC_WATERMARK_MIN;
	op->ctx.op = op;
	op->ctx.ts = FLINC_TS_NONE;
	op->ctx.arg = n->arg;
	if (n->keyed) {
		op->keyed = fl_calloc(1, sizeof(fl_keyed));
		op->keyed->key_hash = e->key_hash;
		for (size_t k = 0; k < e->nedges; k++)
			if (e->edges[k].dst == n->index)
				op->keyed->keyfn[e->edges[k].input] = e->edges[k].key;
		op->keyed->timers[0] = fl_timers_create();
		op->keyed->timers[1] = fl_timers_create();
	}
	return op;
}

static void op_destroy(fl_op *op)
{
	if (!op) return;
	free(op->out.t);
	for (uint32_t i = 0; i < op->nside; i++) free(op->side[i].t);
	free(op->side);
	if (op->keyed) {
		fl_timers_destroy(op->keyed->timers[0]);
		fl_timers_destroy(op->keyed->timers[1]);
		free(op->keyed);
	}
	fl_op_free_states(op);
	free(op->user_local);
	free(op->priv);
	free(op);
}

#define DEBLOAT "taskmanager.network.memory.buffer-debloat."

/* The buffer-debloat keys (docs/config.md). */
static int debloat_init(fl_debloat *d, const fl_conf *conf, char *err, size_t errcap)
{
	memset(d, 0, sizeof(*d));
	const char *en = fl_conf_get(conf, DEBLOAT "enabled");
	int b = en ? fl_conf_parse_bool(en) : 1;
	bool ok = true;
	d->target_ns = fl_conf_duration_ms(conf, DEBLOAT "target", 1000, &ok) * 1000000;
	d->period_ns = fl_conf_duration_ms(conf, DEBLOAT "period", 200, &ok) * 1000000;
	int64_t samples = fl_conf_i64(conf, DEBLOAT "samples", 20, &ok);
	int64_t pct = fl_conf_i64(conf, DEBLOAT "threshold-percentages", 25, &ok);
	int64_t floor = fl_conf_size(conf, "taskmanager.network.memory.min-segment-size", 256, &ok);
	if (b < 0 || !ok || d->target_ns <= 0 || d->period_ns <= 0 || samples < 1 || samples > 1000000 ||
	    pct < 0 || pct > 100 || floor < 16 || floor > (64 << 20)) {
		snprintf(err, errcap,
			 DEBLOAT "enabled/target/period/samples/threshold-percentages or "
				 "taskmanager.network.memory.min-segment-size invalid");
		return FLINC_ECONFIG;
	}
	d->on = b == 1;
	/* Until the consumer measured (its first buffers, within ~10 ms),
	 * producers fill 1/32 of a buffer: a slow consumer then starts with
	 * little queued ahead of the first barrier; a fast one announces
	 * whole buffers at its first sample. */
	int64_t bufsize = fl_conf_size(conf, "execution.buffer-size", 32 * 1024, &ok);
	d->initial = d->on && ok ? (uint32_t)(bufsize / 32 > floor ? bufsize / 32 : floor) : 0;
	d->pct = (uint32_t)pct;
	d->floor = (uint32_t)floor;
	d->alpha = 2.0 / ((double)samples + 1.0); /* an EMA over ~samples periods */
	return FLINC_OK;
}

/* Every period: sample each gate's throughput and announce new buffer
 * targets to its channels. Task thread; once per period, not per record. */
static void debloat_tick(fl_task *t, int64_t now)
{
	fl_debloat *d = &t->debloat;
	if (!d->on || t->nin == 0) return;
	if (d->last_ns == 0) {
		d->last_ns = now;
		d->last_idle_ns = atomic_load_explicit(&t->m.idle_ns, memory_order_relaxed);
		return;
	}
	/* Until the first sample, every 10 ms: producers start at the initial
	 * (small) target, which a fast consumer lifts at once. */
	int64_t period =
		d->tput[0] > 0 || d->tput[1] > 0 || d->period_ns < 10000000 ? d->period_ns : 10000000;
	if (now - d->last_ns < period) return;
	int64_t idle = atomic_load_explicit(&t->m.idle_ns, memory_order_relaxed);
	int64_t busy = (now - d->last_ns) - (idle - d->last_idle_ns);
	if (busy < 0) busy = 0;
	d->last_ns = now;
	d->last_idle_ns = idle;
	uint32_t nch[2] = { 0, 0 };
	for (uint32_t i = 0; i < t->nin; i++)
		if (!t->in[i].ended) nch[t->in[i].input & 1]++;
	for (int g = 0; g < 2; g++) {
		if (!nch[g]) continue;
		d->busy_ns[g] += busy;
		/* Bytes arrive a buffer at a time: a gate whose buffer takes
		 * longer than a period is sampled once it gave one back. */
		if (!d->bytes[g]) continue;
		/* At least 1 ms of busy time: a few bytes taken in an instant
		 * say nothing about how fast the task could go. */
		int64_t bns = d->busy_ns[g] > 1000000 ? d->busy_ns[g] : 1000000;
		double x = (double)d->bytes[g] * 1e9 / (double)bns;
		d->tput[g] = d->tput[g] > 0 ? d->alpha * x + (1 - d->alpha) * d->tput[g] : x;
		d->bytes[g] = 0;
		d->busy_ns[g] = 0;
	}
	for (uint32_t i = 0; i < t->nin; i++) {
		fl_inchan *c = &t->in[i];
		int g = c->input & 1;
		if (c->ended || d->tput[g] <= 0) continue;
		uint32_t max = fl_channel_bufsize(c->ch);
		uint32_t want = fl_debloat_size(d->tput[g], d->target_ns, nch[g],
						fl_channel_path_buffers(c->ch), d->floor, max);
		uint32_t cur = fl_channel_target(c->ch);
		if (fl_debloat_changed(cur, want, max, d->pct))
			fl_channel_set_target(c->ch, want >= max ? FL_TARGET_FULL : want);
	}
}

int fl_task_create(const fl_plan *plan, const fl_vertex *v, int subtask, const fl_conf *conf, fl_task **out,
		   char *err, size_t errcap)
{
	const flinc_env *e = plan->env;
	fl_task *t = fl_calloc(1, sizeof(*t));
	t->plan = plan;
	t->vertex = v;
	t->subtask = subtask;
	t->parallelism = v->parallelism;
	t->conf = conf;
	t->wm = FLINC_WATERMARK_MIN;
	atomic_init(&t->cancel, 0);
	atomic_init(&t->state, FL_TASK_CREATED);
	atomic_init(&t->m.watermark, FLINC_WATERMARK_MIN);
	fl_notify_init(&t->notify);
	pthread_mutex_init(&t->mail_mu, NULL);
	atomic_init(&t->mail_pending, 0);
	atomic_init(&t->cp_last_id, 0);
	atomic_init(&t->cp_last_align_ns, 0);
	fl_arena_init(&t->arena, 64 * 1024);
	const char *mode = fl_conf_get(conf, "execution.checkpointing.mode");
	if (mode && strcmp(mode, "EXACTLY_ONCE") != 0 && strcmp(mode, "AT_LEAST_ONCE") != 0) {
		snprintf(err, errcap,
			 "execution.checkpointing.mode: '%s' is not EXACTLY_ONCE or AT_LEAST_ONCE", mode);
		fl_task_destroy(t);
		return FLINC_ECONFIG;
	}
	t->cp_mode = mode && !strcmp(mode, "AT_LEAST_ONCE") ? FL_CP_AT_LEAST_ONCE : FL_CP_EXACTLY_ONCE;
	const char *ua = fl_conf_get(conf, "execution.checkpointing.unaligned");
	int uab = ua ? fl_conf_parse_bool(ua) : 0;
	if (uab < 0) {
		snprintf(err, errcap, "execution.checkpointing.unaligned: '%s' is not true or false", ua);
		fl_task_destroy(t);
		return FLINC_ECONFIG;
	}
	/* at-least-once never aligns: nothing to overtake */
	t->unaligned = uab == 1 && t->cp_mode == FL_CP_EXACTLY_ONCE;
	bool ok = true;
	t->buffer_timeout_ns = fl_conf_duration_ms(conf, "execution.buffer-timeout", 100, &ok) * 1000000;
	t->auto_wm_interval_ms = fl_conf_duration_ms(conf, "pipeline.auto-watermark-interval", 200, &ok);
	t->lat_interval_ns = fl_conf_duration_ms(conf, "metrics.latency.interval", 1000, &ok) * 1000000;
	fl_lat_init(&t->m.latency);
	if (!ok || t->lat_interval_ns < 0) {
		snprintf(
			err, errcap,
			"execution.buffer-timeout / pipeline.auto-watermark-interval / metrics.latency.interval: "
			"not a duration");
		fl_task_destroy(t);
		return FLINC_ECONFIG;
	}
	if (debloat_init(&t->debloat, conf, err, errcap) != FLINC_OK) {
		fl_task_destroy(t);
		return FLINC_ECONFIG;
	}
	t->op_of_node = fl_calloc(e->nnodes, sizeof(fl_op *));
	t->ops = fl_calloc(v->nnodes, sizeof(fl_op *));
	bool keyed = false;
	for (uint32_t j = 0; j < v->nnodes; j++) {
		const fl_node *n = e->nodes[v->nodes[j]];
		t->ops[j] = op_create(t, n, j);
		t->op_of_node[n->index] = t->ops[j];
		keyed |= n->keyed;
		t->has_sink |= n->kind == FL_NODE_SINK;
	}
	t->nops = v->nnodes;
	/* Chained edges become direct calls. */
	for (size_t k = 0; k < e->nedges; k++) {
		const fl_edge *ed = &e->edges[k];
		if (!plan->chained[k] || plan->node_vertex[ed->dst] != v->index) continue;
		fl_op *src = t->op_of_node[ed->src], *dst = t->op_of_node[ed->dst];
		fl_target tg = { .op = dst, .input = ed->input };
		add_target(ed->tag < 0 ? &src->out : &src->side[ed->tag], tg);
	}
	for (int i = 0; i < 2; i++) {
		const flinc_type *ty = e->nodes[v->head]->in[i];
		if (ty) t->dec[i] = fl_calloc(1, ty->size);
	}
	if (keyed) {
		const char *name = fl_conf_get(conf, "state.backend");
		if (!name) name = "hashmap";
		t->be_ops = fl_backend_find(name);
		if (!t->be_ops) {
			snprintf(err, errcap,
				 "state.backend '%s' is not available (available: hashmap, rocksdb)", name);
			fl_task_destroy(t);
			return FLINC_ECONFIG;
		}
		t->be = fl_calloc(1, t->be_ops->priv_size ? t->be_ops->priv_size : 1);
		fl_backend_params bp = { .max_parallelism = e->max_parallelism, .conf = conf };
		const char *inc = fl_conf_get(conf, "state.backend.incremental");
		if (t->be_ops->native_checkpoint && t->be_ops->native_restore) {
			t->native = !inc || strcmp(inc, "false") != 0;
			t->workdir = fl_local_tmpdir(conf, "flinc-task-");
			if (!t->workdir) {
				snprintf(err, errcap, "state backend %s: cannot create a local folder: %s",
					 t->be_ops->name, strerror(errno));
				free(t->be);
				t->be = NULL;
				fl_task_destroy(t);
				return FLINC_EIO;
			}
			bp.dir = t->workdir;
		}
		fl_key_group_range(subtask, v->parallelism, e->max_parallelism, &bp.kg_first, &bp.kg_last);
		char berr[256] = "";
		if (t->be_ops->open(t->be, &bp, berr, sizeof berr) != FLINC_OK) {
			snprintf(err, errcap, "state backend %s: %s", t->be_ops->name, berr);
			free(t->be);
			t->be = NULL;
			fl_task_destroy(t);
			return FLINC_ESTATE;
		}
	}
	*out = t;
	return FLINC_OK;
}

void fl_task_writer_params(fl_task *t, size_t edge, bool local, fl_writer_params *p)
{
	const flinc_env *e = t->plan->env;
	const fl_edge *ed = &e->edges[edge];
	const flinc_type *ty = ed->tag < 0 ? e->nodes[ed->src]->out : e->tags[ed->tag]->type;
	memset(p, 0, sizeof(*p));
	p->part = ed->part;
	p->key = ed->key;
	p->max_parallelism = e->max_parallelism;
	p->key_hash = e->key_hash;
	p->type = ty;
	p->raw = local && (ty->flags & FLINC_TYPE_POD);
	p->timeout_ns = t->buffer_timeout_ns;
	p->self = &t->notify;
	p->cancel = &t->cancel;
	p->subtask = (uint32_t)t->subtask;
	p->initial_target = t->debloat.initial;
}

void fl_task_add_writer(fl_task *t, size_t edge, fl_writer *w)
{
	const fl_edge *ed = &t->plan->env->edges[edge];
	fl_op *src = t->op_of_node[ed->src];
	fl_target tg = { .writer = w };
	add_target(ed->tag < 0 ? &src->out : &src->side[ed->tag], tg);
	t->writers = fl_realloc(t->writers, (t->nwriters + 1) * sizeof(fl_writer *));
	t->writers[t->nwriters++] = w;
}

void fl_task_add_input(fl_task *t, fl_channel *ch, uint32_t input, const flinc_type *type, bool raw)
{
	t->in = fl_realloc(t->in, (t->nin + 1) * sizeof(fl_inchan));
	fl_inchan *c = &t->in[t->nin++];
	memset(c, 0, sizeof(*c));
	c->ch = ch;
	c->input = input;
	c->type = type;
	c->raw = raw;
	c->wm = FLINC_WATERMARK_MIN;
}

void fl_task_destroy(fl_task *t)
{
	if (!t) return;
	/* Fini only: the thread was joined (or never started) and gave its
	 * held buffers back on its way out; the channels and the other
	 * tasks' notifies may be gone already, so nothing shared is touched
	 * here. */
	for (uint32_t j = 0; j < t->nops; j++) op_destroy(t->ops[j]);
	free(atomic_load_explicit(&t->tap, memory_order_relaxed));
	free(t->ops);
	free(t->op_of_node);
	for (uint32_t i = 0; i < t->nwriters; i++) fl_writer_destroy(t->writers[i]);
	free(t->writers);
	free(t->in);
	fl_inflight_fini(&t->ua);
	fl_inflight_fini(&t->replay);
	if (t->be) {
		t->be_ops->close(t->be);
		free(t->be);
		t->be = NULL;
	}
	if (t->workdir) {
		fl_rm_rf(t->workdir, NULL, 0);
		free(t->workdir);
	}
	for (uint32_t i = 0; i < t->nstates; i++) free(t->states[i].name);
	free(t->states);
	free(t->dec[0]);
	free(t->dec[1]);
	free(t->enc);
	fl_arena_fini(&t->arena);
	fl_notify_fini(&t->notify);
	pthread_mutex_destroy(&t->mail_mu);
	free(t);
}

/* ---- failure and cancellation ---------------------------------------- */

void fl_task_fail(fl_task *t, int err, const char *fmt, ...)
{
	if (t->err) return;
	t->err = err ? err : FLINC_EUSER;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->errmsg, sizeof t->errmsg, fmt, ap);
	va_end(ap);
	atomic_store(&t->cancel, 1);
	if (t->on_failure) t->on_failure(t->on_failure_ud, t);
}

/* The first request to end wins (a cancel after a stop stays a stop). */
static void request_end(fl_task *t, int how)
{
	int none = 0;
	atomic_compare_exchange_strong(&t->cancel, &none, how);
	fl_notify_signal(&t->notify);
}

void fl_task_cancel(fl_task *t) { request_end(t, FL_TASK_CANCEL); }
void fl_task_stop(fl_task *t) { request_end(t, FL_TASK_STOP); }

void fl_task_set_idle(fl_task *t, bool idle)
{
	for (uint32_t i = 0; i < t->nwriters; i++) fl_writer_status(t->writers[i], idle);
}

/* ---- checkpoints ------------------------------------------------------ */

int fl_task_declare_state(fl_task *t, const char *name, fl_state_kind kind, uint32_t *sid)
{
	if (!t->be) return FLINC_EINVAL;
	int rc = t->be_ops->declare(t->be, name, kind, sid);
	if (rc) return rc;
	for (uint32_t i = 0; i < t->nstates; i++)
		if (t->states[i].sid == *sid) return FLINC_OK;
	t->states = fl_realloc(t->states, (t->nstates + 1) * sizeof *t->states);
	t->states[t->nstates++] = (fl_task_state_decl){ fl_strdup(name), kind, *sid };
	return FLINC_OK;
}

enum { MAIL_TRIGGER = 1, MAIL_COMPLETE = 2, MAIL_FINAL = 3 };

static void post(fl_task *t, int kind, int64_t id, bool savepoint)
{
	pthread_mutex_lock(&t->mail_mu);
	if (t->nmail < FL_ARRAY_LEN(t->mail)) {
		t->mail[t->nmail].kind = kind;
		t->mail[t->nmail].savepoint = savepoint;
		t->mail[t->nmail].id = id;
		t->nmail++;
	} else {
		/* A task this far behind declines the checkpoint; a completion
		 * is only lost when a newer one follows, which commits more. */
		fl_log(FL_LOG_WARN, "task", "%s (%d/%d): mailbox full, checkpoint %lld message dropped",
		       t->vertex->name, t->subtask + 1, t->parallelism, (long long)id);
	}
	atomic_store(&t->mail_pending, 1);
	pthread_mutex_unlock(&t->mail_mu);
	fl_notify_signal(&t->notify);
}

void fl_task_trigger_checkpoint(fl_task *t, int64_t id, bool savepoint)
{
	post(t, MAIL_TRIGGER, id, savepoint);
}
void fl_task_checkpoint_complete(fl_task *t, int64_t id) { post(t, MAIL_COMPLETE, id, false); }
void fl_task_checkpoint_final(fl_task *t, int64_t id) { post(t, MAIL_FINAL, id, false); }

/* Checkpoint id at this task: sinks pre-commit, the owner snapshots, the
 * barrier goes downstream. */
static void take_checkpoint(fl_task *t, int64_t id, bool savepoint)
{
	for (uint32_t j = 0; j < t->nops && !t->err; j++) {
		fl_op *op = t->ops[j];
		if (op->node->kind != FL_NODE_SINK || !op->node->u.sink.fn->flush) continue;
		const fl_conn_hooks *h = op->node->u.sink.hooks;
		if (h && h->barrier)
			h->barrier(&op->ctx, op->user_local, id,
				   (savepoint ? FL_SINK_BARRIER_SAVEPOINT : 0u) |
					   (t->input_ended ? FL_SINK_BARRIER_ENDED : 0u));
		int rc = op->node->u.sink.fn->flush(&op->ctx, op->user_local, id);
		if (rc != FLINC_OK)
			fl_op_fail(op, rc, "pre-commit for checkpoint %lld failed", (long long)id);
	}
	if (t->err) return;
	if (t->dl && fl_dl_flush(t) != FLINC_OK) return; /* dead letters before the barrier */
	t->cp_taking = id;
	if (t->cpx)
		fl_snapshot_take(t->cpx, t, id, savepoint);
	else if (t->cp.snapshot && t->cp.snapshot(t->cp.ud, t, id) != 0)
		fl_log(FL_LOG_WARN, "task", "%s (%d/%d) declined checkpoint %lld", t->vertex->name,
		       t->subtask + 1, t->parallelism, (long long)id);
	uint8_t flags = savepoint ? FL_BARRIER_SAVEPOINT : t->unaligned ? FL_BARRIER_UNALIGNED : 0;
	/* Ended writers carry nothing more, except the barrier of an unaligned
	 * checkpoint: it overtakes what they still have queued (their END
	 * too), which the consumers keep as in-flight data. */
	if (!t->input_ended || (flags & FL_BARRIER_UNALIGNED))
		for (uint32_t i = 0; i < t->nwriters; i++) fl_writer_barrier(t->writers[i], id, flags);
	atomic_store(&t->cp_last_id, id);
}

static void commit_checkpoint(fl_task *t, int64_t id)
{
	for (uint32_t j = 0; j < t->nops && !t->err; j++) {
		fl_op *op = t->ops[j];
		if (op->node->kind != FL_NODE_SINK || !op->node->u.sink.fn->commit) continue;
		int rc = op->node->u.sink.fn->commit(&op->ctx, op->user_local, id);
		if (rc != FLINC_OK) fl_op_fail(op, rc, "commit of checkpoint %lld failed", (long long)id);
	}
	for (uint32_t j = 0; j < t->nops && !t->err; j++)
		if (t->ops[j]->ops->checkpoint_complete) t->ops[j]->ops->checkpoint_complete(t->ops[j], id);
}

/* The mailbox: checkpoint triggers and completions, in the order the
 * coordinator sent them. commits_only: the task is on its way out after a
 * stop (fl_task_stop), so only completions count: a checkpoint the
 * coordinator declared complete before the stop commits its side effects
 * here and now. Stop-with-savepoint sends the savepoint's completion, then
 * the cancel, and a task busy in a record sees both at once. Only a stop:
 * a plain cancel may end a failed-over attempt while the next one already
 * restored that checkpoint and writes on from it. */
static void handle_mail_as(fl_task *t, bool commits_only)
{
	struct fl_mail mail[FL_ARRAY_LEN(t->mail)];
	pthread_mutex_lock(&t->mail_mu);
	uint32_t n = t->nmail;
	memcpy(mail, t->mail, n * sizeof(mail[0]));
	t->nmail = 0;
	atomic_store(&t->mail_pending, 0);
	pthread_mutex_unlock(&t->mail_mu);
	/* Sources start a checkpoint on trigger, and so does a task whose
	 * input ended (no barrier can reach it any more); the others wait for
	 * the barriers. */
	bool takes = t->input_ended || t->ops[0]->node->kind == FL_NODE_SOURCE;
	for (uint32_t i = 0; i < n && !t->err; i++) {
		int64_t id = mail[i].id;
		if (commits_only && mail[i].kind == MAIL_TRIGGER) continue;
		if (mail[i].kind == MAIL_TRIGGER && takes && id > atomic_load(&t->cp_last_id)) {
			take_checkpoint(t, id, mail[i].savepoint);
		} else if (mail[i].kind == MAIL_TRIGGER) {
			if (id > t->cp_ignored) {
				t->cp_ignored = id;
				t->cp_ignored_sp = mail[i].savepoint;
			}
		} else if (mail[i].kind == MAIL_COMPLETE) {
			commit_checkpoint(t, id);
		} else if (mail[i].kind == MAIL_FINAL) {
			commit_checkpoint(t, id);
			if (t->input_ended) t->final_done = true;
		}
	}
}

static void handle_mail(fl_task *t) { handle_mail_as(t, false); }

/* Every input that has not ended delivered the barrier of t->cp_id? Then
 * take the checkpoint and let blocked channels go. */
static void maybe_aligned(fl_task *t)
{
	if (!t->cp_id) return;
	for (uint32_t i = 0; i < t->nin; i++)
		if (!t->in[i].ended && t->in[i].barrier < t->cp_id) return;
	int64_t id = t->cp_id;
	atomic_store(&t->cp_last_align_ns, fl_mono_ns() - t->cp_align_ns);
	take_checkpoint(t, id, t->cp_sp);
	t->cp_id = 0;
	for (uint32_t i = 0; i < t->nin; i++) t->in[i].blocked = false;
}

static void ua_abort(fl_task *t, const char *why);

/* Channel c delivered the barrier of checkpoint id. */
static void on_barrier(fl_task *t, fl_inchan *c, int64_t id, bool savepoint)
{
	if (t->replaying) return;                      /* in-flight data of a restored checkpoint */
	if (id <= atomic_load(&t->cp_last_id)) return; /* a stale barrier */
	if (t->ua_id) ua_abort(t, "a newer aligned barrier (a savepoint) came first");
	if (id > t->cp_id) {
		/* A newer checkpoint: an unfinished older alignment is given up
		 * (its checkpoint can no longer complete). */
		for (uint32_t i = 0; i < t->nin; i++) t->in[i].blocked = false;
		t->cp_id = id;
		t->cp_sp = savepoint;
		t->cp_align_ns = fl_mono_ns();
	}
	c->barrier = id;
	if (t->cp_mode == FL_CP_EXACTLY_ONCE) c->blocked = true;
	maybe_aligned(t);
}

/* ---- unaligned checkpoints (inflight.h) ------------------------------------ */

enum { UA_NONE = 0, UA_RECORDING = 1, UA_DONE = 2 };

static void ua_reset(fl_task *t)
{
	t->ua_id = 0;
	t->ua_open = 0;
	for (uint32_t i = 0; i < t->nin; i++) t->in[i].ua = UA_NONE;
	fl_inflight_clear(&t->ua);
}

/* Give up collecting: the checkpoint cannot complete at this task. */
static void ua_abort(fl_task *t, const char *why)
{
	if (!t->ua_id) return;
	if (t->cpx) fl_snapshot_decline(t->cpx, t, t->ua_id, why);
	ua_reset(t);
}

/* Every input delivered its barrier (or ended): hand the in-flight data
 * over with the snapshot. */
static void ua_maybe_done(fl_task *t)
{
	if (!t->ua_id || t->ua_open) return;
	int64_t id = t->ua_id;
	if (t->ua.over) {
		char why[128];
		snprintf(why, sizeof why, "its in-flight data passed %zu MiB", FL_INFLIGHT_MAX >> 20);
		ua_abort(t, why);
		return;
	}
	if (t->cpx) {
		size_t n = 0;
		uint8_t *d =
			t->ua.bytes ? fl_inflight_encode(&t->ua, id, t->subtask, t->parallelism, &n) : NULL;
		fl_snapshot_inflight(t->cpx, t, id, d, n);
	} else if (t->cp.inflight) {
		t->cp.inflight(t->cp.ud, t, id, &t->ua);
	}
	ua_reset(t);
}

/* Channel ci's barrier b came: copy what of its in-flight data this task
 * has not processed (nor copied) yet: the rest of the held buffer, the
 * ring's buffers before b->ring_seq, then the blob's buffers (those of
 * them polled already were copied when processed). */
static void ua_capture(fl_task *t, uint32_t ci, const fl_prio_barrier *b)
{
	fl_inchan *c = &t->in[ci];
	uint32_t end = b->ring_seq + b->nblob;
	if (c->held && !c->held_logged && (int32_t)(end - c->held_seq) > 0) {
		fl_inflight_add(&t->ua, ci, c->held->data + c->pos, c->held->len - c->pos);
		c->held_logged = true;
	}
	uint32_t next = fl_channel_read_seq(c->ch);
	for (uint32_t q = next; (int32_t)(b->ring_seq - q) > 0; q++) {
		const fl_xbuf *x = fl_channel_peek(c->ch, q);
		if (!x) break;
		fl_inflight_add(&t->ua, ci, x->data, x->len);
	}
	uint32_t skip = (int32_t)(next - b->ring_seq) > 0 ? next - b->ring_seq : 0;
	if (b->nblob && !fl_inflight_add_items(&t->ua, ci, b->blob, b->bloblen, skip))
		fl_task_fail(t, FLINC_EPROTO, "malformed in-flight data with the barrier of checkpoint %lld",
			     (long long)b->id);
}

/* Channel ci delivered barrier b of an unaligned checkpoint. The first of
 * a checkpoint snapshots at once (before anything else is processed) and
 * sends the barriers on, overtaking this task's output too. */
static void on_prio_barrier(fl_task *t, uint32_t ci, fl_prio_barrier *b)
{
	fl_inchan *c = &t->in[ci];
	if (b->id == t->ua_id && c->ua == UA_RECORDING) {
		ua_capture(t, ci, b);
		c->ua = UA_DONE;
		t->ua_open--;
		ua_maybe_done(t);
	} else if (b->id > atomic_load(&t->cp_last_id) && b->id > t->cp_id) {
		if (t->ua_id) ua_abort(t, "a newer checkpoint's barrier came first");
		if (t->cp_id) {
			/* an aligned one (a savepoint) still aligning: given up */
			for (uint32_t i = 0; i < t->nin; i++) t->in[i].blocked = false;
			t->cp_id = 0;
		}
		atomic_store(&t->cp_last_align_ns, 0); /* nothing waits for alignment */
		t->cp_defer = t->cpx != NULL;
		take_checkpoint(t, b->id, false);
		t->cp_defer = false;
		if (t->cpx && !t->cp_deferred) goto out; /* declined */
		t->ua_id = b->id;
		t->ua_open = 0;
		for (uint32_t i = 0; i < t->nin; i++) {
			fl_inchan *x = &t->in[i];
			if (x->ended) {
				x->ua = UA_NONE;
			} else if (i == ci) {
				ua_capture(t, ci, b);
				x->ua = UA_DONE;
			} else {
				x->ua = UA_RECORDING;
				t->ua_open++;
			}
		}
		ua_maybe_done(t);
	}
out:
	free(b->blob);
	b->blob = NULL;
}

/* Take channel ci's posted barrier, if any. */
static void ua_poll_channel(fl_task *t, uint32_t ci)
{
	fl_prio_barrier b;
	while (fl_channel_take_barrier(t->in[ci].ch, &b)) on_prio_barrier(t, ci, &b);
}

/* A barrier was posted on some input: take every posted one. */
static void ua_poll(fl_task *t)
{
	atomic_store_explicit(&t->notify.prio, 0, memory_order_relaxed);
	for (uint32_t i = 0; i < t->nin && !t->err; i++)
		if (!t->in[i].ended) ua_poll_channel(t, i);
}

/* ---- the loop ---------------------------------------------------------- */

static void op_watermark(fl_op *op, int64_t wm)
{
	if (wm > op->input_wm) op->input_wm = wm;
	if (op->ops->watermark)
		op->ops->watermark(op, wm);
	else
		fl_op_forward_watermark(op, wm);
}

void fl_output_watermark(fl_output *o, int64_t wm)
{
	for (uint32_t i = 0; i < o->n; i++) {
		fl_target *tg = &o->t[i];
		if (tg->op)
			op_watermark(tg->op, wm);
		else
			fl_writer_watermark(tg->writer, wm);
	}
}

void fl_op_forward_watermark(fl_op *op, int64_t wm)
{
	if (wm <= op->watermark) return;
	op->watermark = wm;
	fl_output_watermark(&op->out, wm);
	for (uint32_t i = 0; i < op->nside; i++)
		if (op->side[i].n) fl_output_watermark(&op->side[i], wm);
}

static bool canceled(fl_task *t) { return atomic_load_explicit(&t->cancel, memory_order_relaxed) != 0; }

/* Recompute the combined watermark and idleness after a channel changed. */
static void input_status_changed(fl_task *t)
{
	int64_t wm = INT64_MAX;
	bool any_active = false, all_ended = true;
	for (uint32_t i = 0; i < t->nin; i++) {
		fl_inchan *c = &t->in[i];
		if (c->ended) continue;
		all_ended = false;
		if (c->idle) continue;
		any_active = true;
		if (c->wm < wm) wm = c->wm;
	}
	if (!all_ended && !any_active) {
		if (!t->idle) {
			t->idle = true;
			fl_task_set_idle(t, true);
		}
		return;
	}
	if (t->idle) {
		t->idle = false;
		fl_task_set_idle(t, false);
	}
	if (all_ended) wm = FLINC_WATERMARK_MAX;
	if (wm > t->wm) {
		t->wm = wm;
		atomic_store_explicit(&t->m.watermark, wm, memory_order_relaxed);
		op_watermark(t->ops[0], wm);
		fl_arena_reset(&t->arena);
	}
}

/* A latency marker reached this task (or was emitted by its source):
 * sinks in the chain fold its age, and it goes on at once to one random
 * channel of every writer, ahead of whatever operators hold (windows,
 * CEP), as Flink forwards them. */
static void on_latency_marker(fl_task *t, int64_t emit_ns, uint32_t vertex, uint32_t subtask)
{
	if (t->has_sink) fl_lat_add(&t->m.latency, fl_now_ns() - emit_ns);
	for (uint32_t i = 0; i < t->nwriters; i++) fl_writer_latency(t->writers[i], emit_ns, vertex, subtask);
}

/* Handle the events of buffer b from offset *pos. Returns true when the
 * buffer is done; false when a barrier blocked the channel (exactly-once
 * alignment), with *pos where to resume. */
static bool process_buffer(fl_task *t, fl_inchan *c, const fl_xbuf *b, uint32_t *pos)
{
	const uint8_t *p = b->data + *pos, *end = b->data + b->len;
	fl_op *head = t->ops[0];
	bool status = false;
	uint64_t nrec = 0;
	while (p < end) {
		uint8_t ev = *p++;
		switch (ev) {
		case FL_EV_RECORD:
		case FL_EV_RECORD_TS: {
			int64_t ts = FLINC_TS_NONE;
			uint32_t len;
			if (ev == FL_EV_RECORD_TS) {
				memcpy(&ts, p, 8);
				p += 8;
			}
			memcpy(&len, p, 4);
			p += 4;
			const flinc_type *ty = c->type;
			void *rec = t->dec[c->input];
			if (c->raw) {
				/* POD from this process: use the bytes in place
				 * when aligned, else copy. */
				if (((uintptr_t)p & 7) == 0)
					rec = (void *)p;
				else
					memcpy(rec, p, ty->size);
			} else {
				memset(rec, 0, ty->size);
				flinc_reader r;
				flinc_reader_init(&r, p, len);
				if (ty->decode(&r, rec, &t->arena) != 0 || r.err) {
					fl_op_reject(head, "input record could not be decoded");
					p += len;
					continue;
				}
			}
			p += len;
			nrec++;
			fl_op_push(head, c->input, rec, ts);
			fl_arena_reset(&t->arena);
			if (t->unaligned && !t->replaying &&
			    atomic_load_explicit(&t->notify.prio, memory_order_acquire)) {
				/* a barrier overtook: take it before the next record */
				*pos = (uint32_t)(p - b->data);
				atomic_fetch_add_explicit(&t->m.records_in, nrec, memory_order_relaxed);
				return false;
			}
			break;
		}
		case FL_EV_WATERMARK: {
			int64_t wm;
			memcpy(&wm, p, 8);
			p += 8;
			if (wm > c->wm) c->wm = wm;
			status = true;
			break;
		}
		case FL_EV_STATUS:
			c->idle = *p++ != 0;
			status = true;
			break;
		case FL_EV_END:
			c->ended = true;
			c->wm = FLINC_WATERMARK_MAX;
			status = true;
			maybe_aligned(t);
			break;
		case FL_EV_LATENCY: {
			int64_t emit_ns;
			uint32_t vx, sub;
			memcpy(&emit_ns, p, 8);
			memcpy(&vx, p + 8, 4);
			memcpy(&sub, p + 12, 4);
			p += 16;
			on_latency_marker(t, emit_ns, vx, sub);
			break;
		}
		case FL_EV_BARRIER: {
			int64_t id;
			memcpy(&id, p, 8);
			bool sp = (p[8] & FL_BARRIER_SAVEPOINT) != 0;
			p += 9;
			on_barrier(t, c, id, sp);
			if (c->blocked) {
				*pos = (uint32_t)(p - b->data);
				atomic_fetch_add_explicit(&t->m.records_in, nrec, memory_order_relaxed);
				return false;
			}
			break;
		}
		default: fl_task_fail(t, FLINC_EPROTO, "corrupt exchange buffer (event %u)", ev); return true;
		}
		/* Watermarks take effect where they stand among the records. */
		if (status) {
			input_status_changed(t);
			status = false;
		}
		if (canceled(t)) break;
	}
	atomic_fetch_add_explicit(&t->m.records_in, nrec, memory_order_relaxed);
	atomic_fetch_add_explicit(&t->m.bytes_in, b->len, memory_order_relaxed);
	return true;
}

/* Copy the thread-local counters where other threads may read them
 * (fl_task_metrics); called about every millisecond and at the end. */
static void publish_metrics(fl_task *t)
{
	uint64_t out = 0, bytes = 0;
	int64_t bp = 0;
	for (uint32_t i = 0; i < t->nwriters; i++) {
		out += fl_writer_records(t->writers[i]);
		bytes += fl_writer_bytes(t->writers[i]);
		bp += fl_writer_blocked_ns(t->writers[i]);
	}
	if (t->ops[0]->node->kind == FL_NODE_SOURCE && t->nwriters == 0) out = t->ops[0]->m.records_out;
	atomic_store_explicit(&t->m.records_out, out, memory_order_relaxed);
	atomic_store_explicit(&t->m.bytes_out, bytes, memory_order_relaxed);
	atomic_store_explicit(&t->m.backpressured_ns, bp, memory_order_relaxed);
}

/* Fire due processing-time timers; returns the next deadline (ms). */
static int64_t proc_timers(fl_task *t)
{
	int64_t next = INT64_MAX;
	t->now_ms = fl_now_ms();
	for (uint32_t j = 0; j < t->nops; j++) {
		fl_op *op = t->ops[j];
		if (!op->ops->next_proc_time) continue;
		int64_t due = op->ops->next_proc_time(op);
		if (due <= t->now_ms && op->ops->proc_time) {
			op->ops->proc_time(op, t->now_ms);
			fl_arena_reset(&t->arena);
			due = op->ops->next_proc_time(op);
		}
		if (due < next) next = due;
	}
	return next;
}

static int64_t flush_due(fl_task *t, int64_t now_ns)
{
	int64_t next = INT64_MAX;
	for (uint32_t i = 0; i < t->nwriters; i++) {
		int64_t d = fl_writer_flush_due(t->writers[i], now_ns);
		if (d < next) next = d;
	}
	return next;
}

/* Sleep until woken, the next timer or flush deadline, or max_ns. */
static void idle_wait(fl_task *t, uint32_t ticket, int64_t next_timer_ms, int64_t next_flush_ns,
		      int64_t max_ns)
{
	int64_t now = fl_mono_ns();
	int64_t wait = max_ns;
	if (next_flush_ns != INT64_MAX && next_flush_ns - now < wait) wait = next_flush_ns - now;
	if (next_timer_ms != INT64_MAX) {
		int64_t ms = next_timer_ms - fl_now_ms();
		if (ms * 1000000 < wait) wait = ms * 1000000;
	}
	if (wait > 0) {
		fl_notify_wait(&t->notify, ticket, wait);
		/* Flink's idle time; only this thread adds, only while idle. */
		atomic_fetch_add_explicit(&t->m.idle_ns, fl_mono_ns() - now, memory_order_relaxed);
	}
}

/* Unaligned checkpoints: a source produces at most what its writers take
 * without waiting for credit (fl_writer_fit); when that is nothing it
 * waits here (up to 10 ms, woken by returned credit or mail), where a
 * trigger is taken at once rather than after an emit that would have
 * blocked. Returns how many of `budget` records to produce, 0 after a
 * wait (counted as back-pressured time). */
static uint32_t source_step(fl_task *t, uint32_t budget)
{
	uint32_t ticket = fl_notify_ticket(&t->notify);
	uint32_t fit = budget, at = 0;
	for (uint32_t i = 0; i < t->nwriters; i++) {
		uint32_t f = fl_writer_fit(t->writers[i]);
		if (f < fit) fit = f, at = i;
	}
	if (fit) return fit;
	int64_t t0 = fl_mono_ns();
	if (!atomic_load(&t->mail_pending)) fl_notify_wait(&t->notify, ticket, 10 * 1000000LL);
	fl_writer_add_blocked(t->writers[at], fl_mono_ns() - t0);
	return 0;
}

static void run_source(fl_task *t)
{
	fl_op *head = t->ops[0];
	int64_t next_timer = INT64_MAX, next_flush = INT64_MAX;
	int64_t last_check = 0;
	/* The records one run may emit: halved while runs take long (the
	 * writers wait for credit: backpressure), doubled back while they are
	 * quick, so that a checkpoint trigger (mail, read between runs) is
	 * not stuck behind a whole budget of back-pressured records: at 1000
	 * records/s, 1024 of them would delay the barrier by a second. */
	uint32_t budget = SOURCE_BUDGET;
	while (!canceled(t)) {
		if (atomic_load_explicit(&t->mail_pending, memory_order_relaxed)) handle_mail(t);
		uint32_t step = t->unaligned ? source_step(t, budget) : budget;
		int64_t t0 = fl_mono_ns();
		int rc = FLINC_SOURCE_MORE;
		if (step) {
			rc = head->ops->run(head, step);
			t->src.kind = FL_SRC_NONE; /* the position was of that step's records */
			fl_arena_reset(&t->arena);
			if (rc == FLINC_SOURCE_END) break;
			if (rc < 0) {
				fl_task_fail(t, rc, "source %s failed: %s", head->node->name,
					     flinc_strerror(rc));
				return;
			}
		}
		int64_t now = fl_mono_ns();
		if (step && t->lat_interval_ns && now >= t->lat_next_ns) {
			/* The first one an interval after the start, as Flink. */
			if (t->lat_next_ns)
				on_latency_marker(t, fl_now_ns(), t->vertex->index, (uint32_t)t->subtask);
			t->lat_next_ns = now + t->lat_interval_ns;
		}
		if (!step) {
			/* waited for credit: no run to judge the budget by */
		} else if (now - t0 > 5000000) {
			if (budget > 1) budget /= 2;
		} else if (now - t0 < 1000000 && budget < SOURCE_BUDGET) {
			budget *= 2;
		}
		if (rc == FLINC_SOURCE_IDLE || now - last_check > 1000000) {
			last_check = now;
			publish_metrics(t);
			next_timer = proc_timers(t);
			next_flush = flush_due(t, now);
		}
		if (rc == FLINC_SOURCE_IDLE) {
			uint32_t ticket = fl_notify_ticket(&t->notify);
			idle_wait(t, ticket, next_timer, next_flush, 1000000);
		}
	}
	if (!canceled(t)) fl_op_forward_watermark(head, FLINC_WATERMARK_MAX);
}

/* The in-flight data of the restored checkpoint, channel by channel,
 * before anything new (barriers in it are old: ignored). */
static void replay_inflight(fl_task *t)
{
	t->replaying = true;
	uint64_t n = 0;
	for (uint32_t ci = 0; ci < t->replay.nin && !canceled(t) && !t->err; ci++) {
		size_t off = 0;
		uint32_t len;
		const uint8_t *p;
		while ((p = fl_inflight_next(&t->replay.chan[ci], &off, &len)) && !canceled(t) && !t->err) {
			fl_xbuf x = { len, len, (uint8_t *)p };
			uint32_t pos = 0;
			process_buffer(t, &t->in[ci], &x, &pos);
			if (t->in[ci].ended) input_status_changed(t);
			n++;
		}
	}
	t->replaying = false;
	fl_log(FL_LOG_INFO, "task",
	       "%s (%d/%d) replayed %llu in-flight buffers (%zu bytes) of the restored checkpoint",
	       t->vertex->name, t->subtask + 1, t->parallelism, (unsigned long long)n, t->replay.bytes);
	fl_inflight_fini(&t->replay);
}

static void run_inputs(fl_task *t)
{
	uint32_t rr = 0;
	int64_t next_timer = INT64_MAX, next_flush = INT64_MAX;
	int64_t last_check = 0;
	if (t->replay.nin) replay_inflight(t);
	if (t->unaligned) fl_inflight_init(&t->ua, t->nin);
	for (;;) {
		bool progress = false, all_ended = true;
		if (atomic_load_explicit(&t->mail_pending, memory_order_relaxed)) handle_mail(t);
		if (t->unaligned && atomic_load_explicit(&t->notify.prio, memory_order_acquire)) ua_poll(t);
		for (uint32_t k = 0; k < t->nin && !canceled(t) && !t->err; k++) {
			uint32_t ci = (rr + k) % t->nin;
			fl_inchan *c = &t->in[ci];
			if (c->ended) continue;
			all_ended = false;
			if (c->blocked) continue;
			fl_xbuf *b = c->held;
			uint32_t pos = c->pos;
			if (!b) {
				if (!(b = fl_channel_poll(c->ch))) continue;
				pos = 0;
				if (t->unaligned) {
					/* A barrier posted before this buffer was
					 * sent is visible now (exchange.h): take it
					 * first, this buffer held at its start. */
					c->held = b;
					c->pos = 0;
					c->held_logged = false;
					c->held_seq = fl_channel_read_seq(c->ch) - 1;
					ua_poll_channel(t, ci);
				}
			}
			if (c->ua == UA_RECORDING && !c->held_logged) {
				/* in flight when this task snapshotted */
				fl_inflight_add(&t->ua, ci, b->data + pos, b->len - pos);
				c->held_logged = true;
			}
			c->held = NULL;
			if (process_buffer(t, c, b, &pos)) {
				t->debloat.bytes[c->input & 1] += b->len;
				fl_channel_release(c->ch, b);
				c->held_logged = false;
			} else {
				c->held = b;
				c->pos = pos;
			}
			if (c->ended && c->ua == UA_RECORDING) {
				/* ended before its barrier: all it had is copied */
				c->ua = UA_DONE;
				t->ua_open--;
				ua_maybe_done(t);
			}
			progress = true;
		}
		rr++;
		if (canceled(t)) return;
		if (all_ended) {
			/* Every channel ended: also covers a head without inputs. */
			if (t->wm != FLINC_WATERMARK_MAX) input_status_changed(t);
			return;
		}
		int64_t now = fl_mono_ns();
		if (!progress || now - last_check > 1000000) {
			last_check = now;
			publish_metrics(t);
			debloat_tick(t, now);
			next_timer = proc_timers(t);
			next_flush = flush_due(t, now);
		}
		if (!progress) {
			uint32_t ticket = fl_notify_ticket(&t->notify);
			bool ready = atomic_load(&t->mail_pending) != 0 ||
				(t->unaligned && atomic_load(&t->notify.prio) != 0);
			for (uint32_t k = 0; k < t->nin && !ready; k++)
				ready = !t->in[k].ended && !t->in[k].blocked &&
					(t->in[k].held || fl_channel_queued(t->in[k].ch) > 0);
			if (!ready) idle_wait(t, ticket, next_timer, next_flush, 100 * 1000000LL);
		}
	}
}

/* Checkpointed and the input ended: sinks commit only what a completed
 * checkpoint covers, so wait for the final checkpoint (taken here on
 * trigger, as the input ended) to complete; answer triggers meanwhile. */
static void await_final(fl_task *t)
{
	t->input_ended = true;
	atomic_store(&t->awaiting_final, 1);
	/* A checkpoint triggered while this task ran, whose barriers can no
	 * longer come (the sources ended first): take it now, as ended, or it
	 * would only time out. */
	if (t->cp_ignored > atomic_load(&t->cp_last_id) && t->cp_ignored > t->cp_id)
		take_checkpoint(t, t->cp_ignored, t->cp_ignored_sp);
	while (!canceled(t) && !t->final_done && !t->err) {
		uint32_t ticket = fl_notify_ticket(&t->notify);
		if (atomic_load(&t->mail_pending)) {
			handle_mail(t);
			continue;
		}
		publish_metrics(t);
		fl_notify_wait(&t->notify, ticket, 100 * 1000000LL);
	}
	atomic_store(&t->awaiting_final, 0);
}

/* Give back the buffers an alignment left held (the rest of a buffer
 * behind a barrier), so that a task whose thread ended holds no buffer of
 * any channel. Task thread, on its way out: the channels and the
 * producers' notifies are alive until every task of the execution was
 * joined (exchange.h, "Ownership"). */
static void release_held(fl_task *t)
{
	for (uint32_t i = 0; i < t->nin; i++) {
		fl_inchan *c = &t->in[i];
		if (!c->held) continue;
		fl_channel_release(c->ch, c->held);
		c->held = NULL;
		c->blocked = false;
	}
}

static void *task_main(void *arg)
{
	fl_task *t = arg;
	char name[16];
	snprintf(name, sizeof name, "fl-%u.%d", t->vertex->index, t->subtask);
	pthread_setname_np(pthread_self(), name);
	int attempted = (int)t->nops; /* ops [attempted, nops) had open called */
	if (t->cpx) {
		char err[512] = "";
		int rc = fl_snapshot_restore(t->cpx, t, err, sizeof err);
		if (!rc && t->nin) {
			rc = fl_snapshot_restore_inflight(t->cpx, t, &t->replay, err, sizeof err);
			if (rc == FLINC_ENOENT) rc = FLINC_OK;
		}
		if (rc) fl_task_fail(t, rc, "restore failed: %s", err[0] ? err : flinc_strerror(rc));
	}
	/* Open tail first so that anything emitted in open has somewhere to go. */
	for (int j = (int)t->nops - 1; j >= 0 && !t->err; j--) {
		fl_op *op = t->ops[j];
		attempted = j;
		int rc = op->ops->open ? op->ops->open(op) : FLINC_OK;
		if (rc != FLINC_OK) {
			if (!t->err)
				fl_task_fail(t, rc, "%s '%s' failed to open: %s",
					     fl_node_kind_name(op->node->kind), op->node->name,
					     flinc_strerror(rc));
			break;
		}
	}
	if (!t->err && !canceled(t)) {
		atomic_store(&t->state, FL_TASK_RUNNING);
		if (t->ops[0]->node->kind == FL_NODE_SOURCE)
			run_source(t);
		else
			run_inputs(t);
	}
	if (!t->err && !canceled(t)) {
		for (uint32_t j = 0; j < t->nops && !t->err; j++)
			if (t->ops[j]->ops->end_input) t->ops[j]->ops->end_input(t->ops[j]);
		for (uint32_t i = 0; i < t->nwriters && !t->err; i++) fl_writer_end(t->writers[i]);
		if (t->cpx && !t->err) await_final(t);
	}
	if (!t->err && atomic_load(&t->cancel) == FL_TASK_STOP && atomic_load(&t->mail_pending))
		handle_mail_as(t, true);
	for (uint32_t j = (uint32_t)attempted; j < t->nops; j++)
		if (t->ops[j]->ops->close) t->ops[j]->ops->close(t->ops[j]);
	fl_dl_close(t);
	fl_snapshot_drop(t);
	release_held(t);
	publish_metrics(t);
	atomic_store(&t->state, t->err ? FL_TASK_FAILED : canceled(t) ? FL_TASK_CANCELED : FL_TASK_FINISHED);
	return NULL;
}

int fl_task_start(fl_task *t)
{
	if (pthread_create(&t->thread, NULL, task_main, t) != 0) return FLINC_ENOMEM;
	t->started = true;
	return FLINC_OK;
}

void fl_task_join(fl_task *t)
{
	if (t->started) pthread_join(t->thread, NULL);
	t->started = false;
}
