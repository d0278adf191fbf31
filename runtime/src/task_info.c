/*
 * task_info.c - what other threads read of a subtask: its place in the
 * plan, whether it waits for the final checkpoint, why it failed, and its
 * counters (fl_runtime.h). The task thread writes these as atomics, or
 * once before publishing them.
 */
#include <string.h>

#include "task.h"

bool fl_task_awaiting_final(const fl_task *t) { return atomic_load(&t->awaiting_final) != 0; }

uint32_t fl_task_vertex_index(const fl_task *t) { return t->vertex->index; }

int fl_task_subtask(const fl_task *t) { return t->subtask; }

const char *fl_task_error(const fl_task *t)
{
	/* errmsg is written before the FAILED state (seq_cst store). */
	return t->errmsg[0] ? t->errmsg : flinc_strerror(t->err);
}

void fl_task_stats_read(const fl_task *t, fl_task_stats *out)
{
	out->records_in = atomic_load_explicit(&t->m.records_in, memory_order_relaxed);
	out->records_out = atomic_load_explicit(&t->m.records_out, memory_order_relaxed);
	out->bytes_in = atomic_load_explicit(&t->m.bytes_in, memory_order_relaxed);
	out->bytes_out = atomic_load_explicit(&t->m.bytes_out, memory_order_relaxed);
	out->backpressured_ns = atomic_load_explicit(&t->m.backpressured_ns, memory_order_relaxed);
	out->idle_ns = atomic_load_explicit(&t->m.idle_ns, memory_order_relaxed);
	out->watermark = atomic_load_explicit(&t->m.watermark, memory_order_relaxed);
	out->rejected = atomic_load_explicit(&t->m.rejected, memory_order_relaxed);
	out->dead_letters = atomic_load_explicit(&t->m.dead_letters, memory_order_relaxed);
	out->has_sink = t->has_sink;
	fl_lat_read(&t->m.latency, &out->latency);
	uint32_t n = atomic_load_explicit(&t->m.nlag, memory_order_acquire);
	out->nlag = n;
	for (uint32_t i = 0; i < n; i++) {
		out->lag[i].topic = t->m.lag[i].topic;
		out->lag[i].partition = t->m.lag[i].partition;
		out->lag[i].offset = atomic_load_explicit(&t->m.lag[i].offset, memory_order_relaxed);
		out->lag[i].lag = atomic_load_explicit(&t->m.lag[i].lag, memory_order_relaxed);
	}
}

struct fl_lag_slot *fl_task_lag_slot(fl_task *t, const char *topic, int32_t partition)
{
	uint32_t n = atomic_load_explicit(&t->m.nlag, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++)
		if (t->m.lag[i].partition == partition && !strcmp(t->m.lag[i].topic, topic))
			return &t->m.lag[i];
	if (n == FL_TASK_MAX_LAG) return NULL;
	struct fl_lag_slot *sl = &t->m.lag[n];
	sl->topic = topic;
	sl->partition = partition;
	atomic_store_explicit(&sl->offset, -1, memory_order_relaxed);
	atomic_store_explicit(&sl->lag, -1, memory_order_relaxed);
	atomic_store_explicit(&t->m.nlag, n + 1, memory_order_release);
	return sl;
}
