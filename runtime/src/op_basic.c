/*
 * op_basic.c - the operators that wrap user functions one to one: source,
 * map, filter, flat_map, process/co_process, timestamps/watermarks, sink.
 */
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "tap.h"
#include "task.h"

static int alloc_local(fl_op *op, size_t n)
{
	if (n && !op->user_local) op->user_local = fl_calloc(1, n); /* restore may have come first */
	return FLINC_OK;
}

/* ---- source ------------------------------------------------------------ */

static int source_open(fl_op *op)
{
	const flinc_source_fn *fn = op->node->u.source.fn;
	alloc_local(op, fn->local_size);
	return fn->open ? fn->open(&op->ctx, op->user_local) : FLINC_OK;
}

static int source_run(fl_op *op, uint32_t budget)
{
	op->ctx.ts = FLINC_TS_NONE;
	return op->node->u.source.fn->run(&op->ctx, op->user_local, budget);
}

static void source_close(fl_op *op)
{
	const flinc_source_fn *fn = op->node->u.source.fn;
	if (fn->close) fn->close(&op->ctx, op->user_local);
}

static int source_snapshot(fl_op *op, flinc_writer *w)
{
	const flinc_source_fn *fn = op->node->u.source.fn;
	return fn->snapshot ? fn->snapshot(&op->ctx, op->user_local, w) : FLINC_OK;
}

static int source_restore(fl_op *op, flinc_reader *r)
{
	const flinc_source_fn *fn = op->node->u.source.fn;
	if (!fn->restore) return FLINC_OK;
	alloc_local(op, fn->local_size);
	return fn->restore(&op->ctx, op->user_local, r);
}

static void source_checkpoint_complete(fl_op *op, int64_t id)
{
	const fl_conn_hooks *h = op->node->u.source.hooks;
	if (h && h->checkpoint_complete && op->user_local)
		h->checkpoint_complete(&op->ctx, op->user_local, id);
}

const fl_op_ops fl_op_source_ops = {
	.version = FL_OP_VERSION,
	.open = source_open,
	.run = source_run,
	.close = source_close,
	.snapshot_state = source_snapshot,
	.restore_state = source_restore,
	.checkpoint_complete = source_checkpoint_complete,
};

/* ---- map / filter / flat_map ------------------------------------------ */

typedef struct map_priv {
	void *out;
} map_priv;

static int map_open(fl_op *op)
{
	map_priv *p = op->priv;
	p->out = fl_calloc(1, op->node->out->size);
	return FLINC_OK;
}

static void map_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	map_priv *p = op->priv;
	memset(p->out, 0, op->node->out->size);
	op->node->u.map.fn(&op->ctx, rec, p->out);
	fl_op_emit(op, p->out, ts);
}

static void map_close(fl_op *op)
{
	map_priv *p = op->priv;
	free(p->out);
	p->out = NULL;
}

const fl_op_ops fl_op_map_ops = {
	.version = FL_OP_VERSION,
	.priv_size = sizeof(map_priv),
	.open = map_open,
	.process = map_process,
	.close = map_close,
};

static void filter_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	if (op->node->u.filter.fn(&op->ctx, rec)) fl_op_emit(op, rec, ts);
}

const fl_op_ops fl_op_filter_ops = { .version = FL_OP_VERSION, .process = filter_process };

static void flat_map_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	op->node->u.flat_map.fn(&op->ctx, rec);
}

const fl_op_ops fl_op_flat_map_ops = { .version = FL_OP_VERSION, .process = flat_map_process };

/* ---- process / co_process --------------------------------------------- */

static int process_open(fl_op *op)
{
	const flinc_process_fn *fn = op->node->u.process.fn;
	alloc_local(op, fn->local_size);
	return fn->open ? fn->open(&op->ctx, op->user_local) : FLINC_OK;
}

static void process_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	const flinc_process_fn *fn = op->node->u.process.fn;
	if (input == 0)
		fn->process(&op->ctx, op->user_local, rec);
	else
		fn->process2(&op->ctx, op->user_local, rec);
}

/* Fire timers of domain d up to `upto`. */
static void fire_timers(fl_op *op, flinc_time_domain d, int64_t upto)
{
	const flinc_process_fn *fn = op->node->u.process.fn;
	fl_timer tm;
	flinc_arena *a = fl_op_arena(op);
	fl_timers *q = op->keyed->timers[d];
	while (fl_timers_pop(q, upto, &tm)) {
		/* One watermark may fire many timers: free each one's scratch. */
		fl_arena_mark mark = fl_arena_get_mark(a);
		fl_keyed_set_key(op, tm.kg, tm.key, tm.klen);
		fl_op_prefetch_firing(op, q, upto);
		op->ctx.ts = tm.ts;
		if (fn->on_timer) fn->on_timer(&op->ctx, op->user_local, tm.ts, d);
		if (op->dirty_states) fl_op_flush_states(op);
		fl_arena_release(a, mark);
		if (op->task->err) return;
	}
}

static void process_watermark(fl_op *op, int64_t wm)
{
	if (op->keyed) fire_timers(op, FLINC_EVENT_TIME, wm);
	fl_op_forward_watermark(op, wm);
}

static void process_proc_time(fl_op *op, int64_t now)
{
	if (op->keyed) fire_timers(op, FLINC_PROCESSING_TIME, now);
}

static int64_t process_next_proc_time(fl_op *op)
{
	return op->keyed ? fl_timers_next(op->keyed->timers[FLINC_PROCESSING_TIME]) : INT64_MAX;
}

static void process_end_input(fl_op *op)
{
	const flinc_process_fn *fn = op->node->u.process.fn;
	op->ctx.ts = FLINC_WATERMARK_MAX;
	if (fn->end_input) fn->end_input(&op->ctx, op->user_local);
	if (op->dirty_states) fl_op_flush_states(op);
}

static void process_close(fl_op *op)
{
	const flinc_process_fn *fn = op->node->u.process.fn;
	if (fn->close) fn->close(&op->ctx, op->user_local);
}

const fl_op_ops fl_op_process_ops = {
	.version = FL_OP_VERSION,
	.open = process_open,
	.process = process_process,
	.watermark = process_watermark,
	.proc_time = process_proc_time,
	.next_proc_time = process_next_proc_time,
	.end_input = process_end_input,
	.close = process_close,
};

/* ---- timestamps and watermarks ---------------------------------------- */

/* Bounded out-of-orderness (Flink's BoundedOutOfOrdernessWatermarks):
 * watermark = max timestamp seen - bound - 1. With
 * pipeline.auto-watermark-interval 0 it is emitted after every record that
 * raises it; otherwise every interval of processing time. An input silent
 * for the idle timeout marks the task's outputs idle until its next record. */
typedef struct ts_priv {
	int64_t max_ts;
	int64_t emitted;
	int64_t interval;
	int64_t next_emit;   /* processing time of the next periodic emit */
	int64_t last_record; /* processing time of the last record */
	bool idle;
} ts_priv;

static int ts_open(fl_op *op)
{
	ts_priv *p = op->priv;
	p->max_ts = INT64_MIN;
	p->emitted = FLINC_WATERMARK_MIN;
	p->interval = op->task->auto_wm_interval_ms;
	p->last_record = fl_now_ms();
	p->next_emit = p->interval > 0 ? p->last_record + p->interval : INT64_MAX;
	return FLINC_OK;
}

static void ts_emit_watermark(fl_op *op)
{
	ts_priv *p = op->priv;
	if (p->max_ts == INT64_MIN) return;
	int64_t wm = p->max_ts - op->node->u.timestamps.bound - 1;
	if (wm > p->emitted) {
		p->emitted = wm;
		fl_op_forward_watermark(op, wm);
	}
}

static void ts_process(fl_op *op, uint32_t input, const void *rec, int64_t ts_in)
{
	ts_priv *p = op->priv;
	int64_t ts = op->node->u.timestamps.fn(rec);
	if (ts > p->max_ts) p->max_ts = ts;
	if (FL_UNLIKELY(p->idle)) {
		p->idle = false;
		fl_task_set_idle(op->task, false);
	}
	if (op->node->u.timestamps.idle_timeout > 0) p->last_record = op->task->now_ms;
	fl_op_emit(op, rec, ts);
	if (p->interval == 0) ts_emit_watermark(op);
}

/* Upstream watermarks are replaced by ours; only end of input passes. */
static void ts_watermark(fl_op *op, int64_t wm)
{
	if (wm == FLINC_WATERMARK_MAX) fl_op_forward_watermark(op, wm);
}

static void ts_proc_time(fl_op *op, int64_t now)
{
	ts_priv *p = op->priv;
	if (p->interval > 0 && now >= p->next_emit) {
		ts_emit_watermark(op);
		p->next_emit = now + p->interval;
	}
	int64_t idle_to = op->node->u.timestamps.idle_timeout;
	if (idle_to > 0 && !p->idle && now - p->last_record >= idle_to) {
		p->idle = true;
		fl_task_set_idle(op->task, true);
	}
}

static int64_t ts_next_proc_time(fl_op *op)
{
	ts_priv *p = op->priv;
	int64_t next = p->next_emit;
	int64_t idle_to = op->node->u.timestamps.idle_timeout;
	if (idle_to > 0 && !p->idle && p->last_record + idle_to < next) next = p->last_record + idle_to;
	return next;
}

const fl_op_ops fl_op_timestamps_ops = {
	.version = FL_OP_VERSION,
	.priv_size = sizeof(ts_priv),
	.open = ts_open,
	.process = ts_process,
	.watermark = ts_watermark,
	.proc_time = ts_proc_time,
	.next_proc_time = ts_next_proc_time,
};

/* ---- sink ------------------------------------------------------------- */

static int sink_open(fl_op *op)
{
	const flinc_sink_fn *fn = op->node->u.sink.fn;
	alloc_local(op, fn->local_size);
	return fn->open ? fn->open(&op->ctx, op->user_local) : FLINC_OK;
}

static void sink_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	int rc = op->node->u.sink.fn->write(&op->ctx, op->user_local, rec);
	if (FL_UNLIKELY(rc != FLINC_OK) && !op->task->err)
		fl_op_fail(op, rc, "write failed: %s", flinc_strerror(rc));
	fl_tap_sink_record(op, rec);
}

static void sink_end_input(fl_op *op)
{
	/* Checkpointed: the task's final checkpoint pre-commits what is left
	 * and commits it once that checkpoint completed (task.c). */
	if (op->task->cpx) return;
	const flinc_sink_fn *fn = op->node->u.sink.fn;
	int rc = fn->flush ? fn->flush(&op->ctx, op->user_local, FLINC_CHECKPOINT_FINAL) : FLINC_OK;
	if (rc == FLINC_OK && fn->commit) rc = fn->commit(&op->ctx, op->user_local, FLINC_CHECKPOINT_FINAL);
	if (rc != FLINC_OK && !op->task->err)
		fl_op_fail(op, rc, "final commit failed: %s", flinc_strerror(rc));
}

static void sink_close(fl_op *op)
{
	const flinc_sink_fn *fn = op->node->u.sink.fn;
	if (fn->close) fn->close(&op->ctx, op->user_local);
}

const fl_op_ops fl_op_sink_ops = {
	.version = FL_OP_VERSION,
	.open = sink_open,
	.process = sink_process,
	.end_input = sink_end_input,
	.close = sink_close,
};

static int sink_snapshot(fl_op *op, flinc_writer *w)
{
	const fl_conn_hooks *h = op->node->u.sink.hooks;
	return h->snapshot && op->user_local ? h->snapshot(&op->ctx, op->user_local, w) : FLINC_OK;
}

static int sink_restore(fl_op *op, flinc_reader *r)
{
	const fl_conn_hooks *h = op->node->u.sink.hooks;
	if (!h->restore) return FLINC_OK;
	alloc_local(op, op->node->u.sink.fn->local_size);
	return h->restore(&op->ctx, op->user_local, r);
}

static void sink_checkpoint_complete(fl_op *op, int64_t id)
{
	const fl_conn_hooks *h = op->node->u.sink.hooks;
	if (h->checkpoint_complete && op->user_local) h->checkpoint_complete(&op->ctx, op->user_local, id);
}

const fl_op_ops fl_op_sink_state_ops = {
	.version = FL_OP_VERSION,
	.open = sink_open,
	.process = sink_process,
	.end_input = sink_end_input,
	.close = sink_close,
	.snapshot_state = sink_snapshot,
	.restore_state = sink_restore,
	.checkpoint_complete = sink_checkpoint_complete,
};

const fl_op_ops *fl_op_ops_for(const fl_node *n)
{
	switch (n->kind) {
	case FL_NODE_SOURCE: return &fl_op_source_ops;
	case FL_NODE_MAP: return &fl_op_map_ops;
	case FL_NODE_FILTER: return &fl_op_filter_ops;
	case FL_NODE_FLAT_MAP: return &fl_op_flat_map_ops;
	case FL_NODE_PROCESS:
	case FL_NODE_CO_PROCESS: return &fl_op_process_ops;
	case FL_NODE_TIMESTAMPS: return &fl_op_timestamps_ops;
	case FL_NODE_WINDOW: return &fl_op_window_ops;
	case FL_NODE_SINK: return n->u.sink.hooks ? &fl_op_sink_state_ops : &fl_op_sink_ops;
	}
	return NULL;
}
