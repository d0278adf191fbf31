/* tap.c - the live output of sink subtasks (tap.h). */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_base.h"
#include "fl_runtime.h"
#include "graph.h"
#include "op.h"
#include "task.h"

/* Format rec into the slot: one write of its bytes, nothing else. */
static void fill(fl_tap_slot *s, const fl_node *n, const void *rec)
{
	flinc_format_fn fmt = n->u.sink.fmt;
	size_t len;
	if (fmt) {
		len = fmt(rec, s->buf, sizeof s->buf);
	} else if (n->in[0] == &flinc_type_line) {
		const flinc_line *l = rec;
		len = l->len;
		memcpy(s->buf, l->s, len < sizeof s->buf ? len : sizeof s->buf);
	} else {
		int k = snprintf(s->buf, sizeof s->buf, "(a %s record: the sink has no format function)",
				 n->in[0] && n->in[0]->name ? n->in[0]->name : "binary");
		len = k < 0 ? 0 : (size_t)k;
	}
	s->cut = len >= sizeof s->buf;
	s->len = (uint32_t)(s->cut ? sizeof s->buf - 1 : len);
}

void fl_tap_sink_record(fl_op *op, const void *rec)
{
	fl_tap *tp = atomic_load_explicit(&op->task->tap, memory_order_acquire);
	if (FL_LIKELY(!tp || !atomic_load_explicit(&tp->on, memory_order_relaxed))) return;
	uint32_t h = atomic_load_explicit(&tp->head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&tp->tail, memory_order_acquire);
	if (h - t >= FL_TAP_SLOTS) return; /* full: the reader is behind, skip */
	fill(&tp->slot[h % FL_TAP_SLOTS], op->node, rec);
	atomic_store_explicit(&tp->head, h + 1, memory_order_release);
}

static bool has_sink(const fl_task *t)
{
	for (uint32_t i = 0; i < t->nops; i++)
		if (t->ops[i]->node->kind == FL_NODE_SINK) return true;
	return false;
}

/* fl_runtime.h */
void fl_task_tap_enable(fl_task *t, bool on)
{
	fl_tap *tp = atomic_load_explicit(&t->tap, memory_order_acquire);
	if (!tp) {
		if (!on || !has_sink(t)) return;
		tp = fl_calloc(1, sizeof *tp);
		atomic_store_explicit(&t->tap, tp, memory_order_release);
	}
	atomic_store_explicit(&tp->on, on, memory_order_relaxed);
}

/* fl_runtime.h */
size_t fl_task_tap_drain(fl_task *t, fl_tap_fn fn, void *ud)
{
	fl_tap *tp = atomic_load_explicit(&t->tap, memory_order_acquire);
	if (!tp) return 0;
	uint32_t tl = atomic_load_explicit(&tp->tail, memory_order_relaxed);
	uint32_t h = atomic_load_explicit(&tp->head, memory_order_acquire);
	size_t n = 0;
	for (; tl != h; tl++, n++) {
		const fl_tap_slot *s = &tp->slot[tl % FL_TAP_SLOTS];
		fn(ud, s->buf, s->len, s->cut);
	}
	atomic_store_explicit(&tp->tail, tl, memory_order_release);
	return n;
}
_Static_assert(FL_TAP_MAX_DRAIN == FL_TAP_SLOTS, "a drain takes the whole ring");
