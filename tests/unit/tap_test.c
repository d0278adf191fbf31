/*
 * tap_test.c - the live-output ring of sink subtasks (runtime/src/tap.c):
 * nothing kept while off, at most FL_TAP_SLOTS records between drains
 * (the rest skipped, never waited for), oldest first, long records cut.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fl_runtime.h"
#include "graph.h"
#include "op.h"
#include "tap.h"
#include "task.h"

typedef struct rec {
	int n;
	int len; /* of its text */
} rec;

static size_t fmt(const void *r, char *buf, size_t cap)
{
	const rec *x = r;
	char tmp[2048];
	int k = snprintf(tmp, sizeof tmp, "record %d ", x->n);
	while (k < x->len && k < (int)sizeof tmp - 1) tmp[k++] = 'x';
	tmp[k] = 0;
	snprintf(buf, cap, "%s", tmp);
	return (size_t)k;
}

typedef struct got {
	char text[64][FL_TAP_SLOT_BYTES + 1];
	size_t len[64];
	bool cut[64];
	int n;
} got;

static void take(void *ud, const char *s, size_t len, bool cut)
{
	got *g = ud;
	memcpy(g->text[g->n], s, len);
	g->text[g->n][len] = 0;
	g->len[g->n] = len;
	g->cut[g->n] = cut;
	g->n++;
}

static void ring(void **state)
{
	(void)state;
	fl_node node = { 0 };
	node.kind = FL_NODE_SINK;
	node.u.sink.fmt = fmt;
	fl_task task = { 0 };
	fl_op op = { 0 };
	op.node = &node;
	op.task = &task;
	fl_op *ops[] = { &op };
	task.ops = ops;
	task.nops = 1;
	got *g = calloc(1, sizeof *g);

	/* Off (no ring yet): nothing kept, nothing to drain. */
	rec r = { 1, 10 };
	fl_tap_sink_record(&op, &r);
	assert_int_equal(fl_task_tap_drain(&task, take, g), 0);

	fl_task_tap_enable(&task, true);
	for (int i = 0; i < 40; i++) {
		rec x = { i, 10 };
		fl_tap_sink_record(&op, &x);
	}
	assert_int_equal(fl_task_tap_drain(&task, take, g), FL_TAP_SLOTS);
	assert_int_equal(g->n, FL_TAP_SLOTS);
	assert_string_equal(g->text[0], "record 0 x");
	assert_string_equal(g->text[FL_TAP_SLOTS - 1], "record 31 ");
	assert_false(g->cut[0]);

	/* Room again after the drain; a long record is cut to the slot. */
	g->n = 0;
	rec big = { 99, 1500 };
	fl_tap_sink_record(&op, &big);
	assert_int_equal(fl_task_tap_drain(&task, take, g), 1);
	assert_true(g->cut[0]);
	assert_int_equal(g->len[0], FL_TAP_SLOT_BYTES - 1);
	assert_memory_equal(g->text[0], "record 99 xxx", 13);

	/* Off again: the ring stays, nothing is kept. */
	fl_task_tap_enable(&task, false);
	fl_tap_sink_record(&op, &r);
	assert_int_equal(fl_task_tap_drain(&task, take, g), 0);

	/* A task without a sink gets no ring. */
	fl_node mapn = { 0 };
	mapn.kind = FL_NODE_MAP;
	fl_task t2 = { 0 };
	fl_op op2 = { 0 };
	op2.node = &mapn;
	op2.task = &t2;
	fl_op *ops2[] = { &op2 };
	t2.ops = ops2;
	t2.nops = 1;
	fl_task_tap_enable(&t2, true);
	assert_null(atomic_load(&t2.tap));

	free(atomic_load(&task.tap));
	free(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(ring) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
