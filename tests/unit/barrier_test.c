/*
 * barrier_test - checkpoint barriers through real tasks and channels.
 *
 * Two paced sources (parallelism 1 each) feed one downstream task through a
 * union (two input channels); a process function counts the records of each
 * source and a sink records its pre-commit and commit calls. Checkpoint 1 is
 * triggered at source A, and 60 ms later at source B, so A's barrier waits
 * at the downstream task while A keeps sending.
 *
 * Exactly-once: at the downstream snapshot, the records counted per source
 * are exactly those each source had emitted at its own snapshot (nothing
 * behind a barrier was processed, nothing before it is missing).
 * At-least-once: at least those (records behind A's barrier may be in).
 * Both: the sink pre-commits checkpoint 1 before the snapshot and commits it
 * when told the checkpoint completed.
 *
 * Unaligned (execution.checkpointing.unaligned): the downstream task
 * snapshots when A's barrier comes (overtaking A's queued buffers) and
 * copies B's records until B's barrier comes; for each source, what it
 * counted at the snapshot plus the records in the in-flight data equal
 * what the source had emitted at its own snapshot (nothing lost, nothing
 * twice), and B's in-flight data is not empty.
 *
 * Cancel while aligning (issue 15): checkpoint 1 is triggered at source A
 * only, so the downstream task blocks A's channel and holds the buffer that
 * carried the barrier; then the job is canceled. Once the threads are
 * joined, no task may hold a buffer any more (each gave them back on its
 * way out), and fl_exec_destroy frees the sources before the downstream
 * task, so a buffer given back at destroy would signal a freed notify
 * (AddressSanitizer: heap-use-after-free).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "executor.h"
#include "graph.h"
#include "task.h"

#define RATE_PER_MS 200 /* records per millisecond per source */
#define RUN_MS 400

typedef struct src_local {
	int64_t emitted;
	int64_t t0;
	int idx;
} src_local;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int src_open(flinc_ctx *c, void *local)
{
	src_local *l = local;
	l->t0 = now_ms();
	l->idx = *(const int *)flinc_ctx_arg(c);
	return 0;
}

/* How long the sources run (set before the tasks start). */
static int64_t run_ms = RUN_MS;

static int src_run(flinc_ctx *c, void *local, uint32_t budget)
{
	src_local *l = local;
	int64_t el = now_ms() - l->t0;
	if (el >= run_ms) return FLINC_SOURCE_END;
	int64_t allowed = el * RATE_PER_MS;
	if (l->emitted >= allowed) return FLINC_SOURCE_IDLE;
	for (uint32_t i = 0; i < budget && l->emitted < allowed; i++) {
		int64_t v = (int64_t)l->idx * 1000000000 + l->emitted;
		flinc_emit(c, &v);
		l->emitted++;
	}
	return FLINC_SOURCE_MORE;
}

static const flinc_source_fn src_fn = {
	.version = FLINC_FN_VERSION, .local_size = sizeof(src_local), .open = src_open, .run = src_run
};

/* What the downstream task has counted, per source (its thread only). */
static int64_t counted[2];

/* complete_then_stop: 1 asks the process function to wait in a record,
 * 2 says it waits, 0 lets it go. */
static int stall;

static void count_process(flinc_ctx *c, void *local, const void *in)
{
	if (__atomic_load_n(&stall, __ATOMIC_SEQ_CST) == 1) {
		__atomic_store_n(&stall, 2, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&stall, __ATOMIC_SEQ_CST)) usleep(1000);
	}
	int64_t v = *(const int64_t *)in;
	counted[v / 1000000000]++;
	flinc_emit(c, in);
}

static const flinc_process_fn count_fn = { .version = FLINC_FN_VERSION, .process = count_process };

static int64_t flushed_id, committed_id;
static int flush_before_snapshot;

static int sink_write(flinc_ctx *c, void *local, const void *rec) { return 0; }
static int sink_flush(flinc_ctx *c, void *local, int64_t id)
{
	if (id != FLINC_CHECKPOINT_FINAL) flushed_id = id;
	return 0;
}
static int sink_commit(flinc_ctx *c, void *local, int64_t id)
{
	if (id != FLINC_CHECKPOINT_FINAL) committed_id = id;
	return 0;
}
static const flinc_sink_fn sink_fn = {
	.version = FLINC_FN_VERSION, .write = sink_write, .flush = sink_flush, .commit = sink_commit
};

static const int idx0 = 0, idx1 = 1;

static int build(flinc_env *e, int argc, char **argv)
{
	flinc_stream *a = flinc_source(e, "a", &src_fn, &idx0, &flinc_type_i64);
	flinc_stream *b = flinc_source(e, "b", &src_fn, &idx1, &flinc_type_i64);
	flinc_set_parallelism(a, 1);
	flinc_set_parallelism(b, 1);
	flinc_stream *u = flinc_union(flinc_rebalance(a), flinc_rebalance(b));
	flinc_stream *p = flinc_process(u, "count", &count_fn, NULL, &flinc_type_i64);
	flinc_set_parallelism(p, 1);
	flinc_sink(p, "sink", &sink_fn, NULL);
	return 0;
}

/* Snapshots: sources record what they emitted, the counter what it saw. */
static int64_t src_at_snapshot[2];
static int64_t counted_at_snapshot[2];
static int downstream_snapshots;

static int on_snapshot(void *ud, fl_task *t, int64_t id)
{
	fl_op *head = t->ops[0];
	if (head->node->kind == FL_NODE_SOURCE) {
		src_local *l = head->user_local;
		src_at_snapshot[l->idx] = l->emitted;
	} else {
		counted_at_snapshot[0] = counted[0];
		counted_at_snapshot[1] = counted[1];
		flush_before_snapshot = flushed_id == id;
		downstream_snapshots++;
	}
	return 0;
}

/* The in-flight data handed over (unaligned): records per source. */
static int64_t inflight_records[2];
static int inflight_calls;

/* Walk the FL_EV_* events of one exchange buffer (raw i64 records). */
static void count_events(const uint8_t *p, uint32_t n)
{
	const uint8_t *end = p + n;
	while (p < end) {
		uint8_t ev = *p++;
		uint32_t len;
		int64_t v;
		switch (ev) {
		case FL_EV_RECORD_TS: p += 8; /* fall through */
		case FL_EV_RECORD:
			memcpy(&len, p, 4);
			assert_int_equal(len, 8);
			memcpy(&v, p + 4, 8);
			inflight_records[v / 1000000000]++;
			p += 4 + len;
			break;
		case FL_EV_WATERMARK: p += 8; break;
		case FL_EV_STATUS: p += 1; break;
		case FL_EV_END: break;
		case FL_EV_BARRIER: p += 9; break;
		case FL_EV_LATENCY: p += 16; break;
		default: fail_msg("event %u in the in-flight data", ev);
		}
	}
}

static void on_inflight(void *ud, fl_task *t, int64_t id, const fl_inflight *f)
{
	assert_int_equal(id, 1);
	for (uint32_t c = 0; c < f->nin; c++) {
		size_t off = 0;
		uint32_t len;
		const uint8_t *p;
		while ((p = fl_inflight_next(&f->chan[c], &off, &len))) count_events(p, len);
	}
	__atomic_fetch_add(&inflight_calls, 1, __ATOMIC_SEQ_CST);
}

static void run_case(fl_cp_mode mode, bool unaligned)
{
	memset(inflight_records, 0, sizeof inflight_records);
	inflight_calls = 0;
	memset(counted, 0, sizeof counted);
	memset(src_at_snapshot, 0, sizeof src_at_snapshot);
	memset(counted_at_snapshot, 0, sizeof counted_at_snapshot);
	downstream_snapshots = 0;
	flushed_id = committed_id = 0;
	flush_before_snapshot = 0;

	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "execution.checkpointing.mode",
		    mode == FL_CP_EXACTLY_ONCE ? "EXACTLY_ONCE" : "AT_LEAST_ONCE");
	fl_conf_set(conf, "execution.buffer-timeout", "1ms");
	if (unaligned) fl_conf_set(conf, "execution.checkpointing.unaligned", "true");
	flinc_env *e = fl_env_create("barrier_test", conf, 1);
	const char *msg;
	char *argv[] = { "barrier_test", NULL };
	assert_int_equal(fl_env_build(e, build, 1, argv, &msg), FLINC_OK);
	fl_exec *x;
	char err[256];
	assert_int_equal(fl_exec_create(e, conf, NULL, &x, err, sizeof err), FLINC_OK);
	uint32_t n;
	fl_task **tasks = fl_exec_tasks(x, &n);
	assert_int_equal(n, 3);
	fl_task *src[2] = { NULL, NULL }, *down = NULL;
	for (uint32_t i = 0; i < n; i++) {
		tasks[i]->cp.snapshot = on_snapshot;
		tasks[i]->cp.inflight = on_inflight;
		fl_op *head = tasks[i]->ops[0];
		if (head->node->kind == FL_NODE_SOURCE)
			src[*(const int *)head->node->arg] = tasks[i];
		else
			down = tasks[i];
	}
	assert_non_null(src[0]);
	assert_non_null(src[1]);
	assert_non_null(down);
	assert_int_equal(down->cp_mode, mode);
	assert_int_equal(down->unaligned, unaligned);

	assert_int_equal(fl_exec_start(x, err, sizeof err), FLINC_OK);
	usleep(80 * 1000);
	fl_task_trigger_checkpoint(src[0], 1, false);
	usleep(60 * 1000);
	fl_task_trigger_checkpoint(src[1], 1, false);
	/* Wait for the downstream snapshot, then complete the checkpoint. */
	for (int i = 0; i < 10000 && atomic_load(&down->cp_last_id) != 1; i++) usleep(1000);
	assert_int_equal(atomic_load(&down->cp_last_id), 1);
	if (unaligned) {
		/* acknowledged (in-flight data handed over) once B's barrier came */
		for (int i = 0; i < 10000 && !__atomic_load_n(&inflight_calls, __ATOMIC_SEQ_CST); i++)
			usleep(1000);
		assert_int_equal(__atomic_load_n(&inflight_calls, __ATOMIC_SEQ_CST), 1);
	}
	fl_task_checkpoint_complete(down, 1);
	fl_run_stats st;
	assert_int_equal(fl_exec_wait(x, &st, err, sizeof err), FLINC_OK);

	assert_int_equal(downstream_snapshots, 1);
	assert_true(src_at_snapshot[0] > 0);
	if (unaligned) {
		/* Snapshot at A's barrier: B's records up to its barrier came
		 * later and are in the in-flight data, with A's overtaken ones. */
		assert_int_equal(counted_at_snapshot[0] + inflight_records[0], src_at_snapshot[0]);
		assert_int_equal(counted_at_snapshot[1] + inflight_records[1], src_at_snapshot[1]);
		assert_true(inflight_records[1] > 0);
		print_message("unaligned: in flight A %lld, B %lld records\n", (long long)inflight_records[0],
			      (long long)inflight_records[1]);
	} else if (mode == FL_CP_EXACTLY_ONCE) {
		assert_true(atomic_load(&down->cp_last_align_ns) > 0);
		assert_int_equal(counted_at_snapshot[0], src_at_snapshot[0]);
		assert_int_equal(counted_at_snapshot[1], src_at_snapshot[1]);
	} else {
		assert_true(atomic_load(&down->cp_last_align_ns) > 0);
		assert_true(counted_at_snapshot[0] >= src_at_snapshot[0]);
		assert_int_equal(counted_at_snapshot[1], src_at_snapshot[1]);
	}
	assert_true(flush_before_snapshot);
	assert_int_equal(committed_id, 1);
	/* Nothing lost overall. */
	assert_int_equal(st.sink_records, st.source_records);

	fl_exec_destroy(x);
	fl_env_destroy(e);
	fl_conf_destroy(conf);
}

/* The test job, exactly-once, built and created but not started, each
 * task's snapshots going to on_snapshot; *src0 (source A) and *down (the
 * task that joins both sources) found. The caller destroys x, *e, *conf. */
static fl_exec *exactly_once_exec(flinc_env **e, fl_conf **conf, fl_task **src0, fl_task **down)
{
	*conf = fl_conf_create();
	fl_conf_set(*conf, "execution.checkpointing.mode", "EXACTLY_ONCE");
	fl_conf_set(*conf, "execution.buffer-timeout", "1ms");
	*e = fl_env_create("barrier_test", *conf, 1);
	const char *msg;
	char *argv[] = { "barrier_test", NULL };
	assert_int_equal(fl_env_build(*e, build, 1, argv, &msg), FLINC_OK);
	fl_exec *x;
	char err[256];
	assert_int_equal(fl_exec_create(*e, *conf, NULL, &x, err, sizeof err), FLINC_OK);
	uint32_t n;
	fl_task **tasks = fl_exec_tasks(x, &n);
	assert_int_equal(n, 3);
	*src0 = *down = NULL;
	for (uint32_t i = 0; i < n; i++) {
		tasks[i]->cp.snapshot = on_snapshot;
		fl_op *head = tasks[i]->ops[0];
		if (head->node->kind != FL_NODE_SOURCE)
			*down = tasks[i];
		else if (*(const int *)head->node->arg == 0)
			*src0 = tasks[i];
	}
	assert_non_null(*src0);
	assert_non_null(*down);
	return x;
}

static void cancel_while_aligning(void **state)
{
	memset(counted, 0, sizeof counted);
	run_ms = 60 * 1000; /* until canceled */
	fl_conf *conf;
	flinc_env *e;
	fl_task *src0, *down;
	fl_exec *x = exactly_once_exec(&e, &conf, &src0, &down);
	char err[256];
	uint32_t n;
	fl_task **tasks = fl_exec_tasks(x, &n);
	/* The downstream task is freed after the sources that feed it. */
	assert_ptr_equal(tasks[n - 1], down);

	assert_int_equal(fl_exec_start(x, err, sizeof err), FLINC_OK);
	usleep(50 * 1000);
	fl_task_trigger_checkpoint(src0, 1, false);
	for (int i = 0; i < 5000 && atomic_load(&src0->cp_last_id) != 1; i++) usleep(1000);
	assert_int_equal(atomic_load(&src0->cp_last_id), 1);
	/* The barrier reaches the downstream task and A's channel blocks:
	 * A fills it up to its buffers but the held one and the one it
	 * writes into (8 per channel by default), while B's keeps draining. */
	bool full = false;
	for (int i = 0; i < 10000 && !full; i++) {
		for (uint32_t k = 0; k < down->nin; k++) full |= fl_channel_queued(down->in[k].ch) >= 6;
		if (!full) usleep(1000);
	}
	assert_true(full);
	fl_exec_cancel(x);
	assert_int_equal(fl_exec_wait(x, NULL, err, sizeof err), FLINC_ECANCELED);

	/* Joined: the task's fields are ours to read. */
	assert_int_equal(down->cp_id, 1); /* it was aligning checkpoint 1 */
	for (uint32_t k = 0; k < down->nin; k++) assert_null(down->in[k].held);
	fl_exec_destroy(x);
	fl_env_destroy(e);
	fl_conf_destroy(conf);
	run_ms = RUN_MS;
}

/* Completion, then the end (what stop-with-savepoint sends: the
 * savepoint's completion, then a CancelJob saying stop), both while the
 * downstream task is busy in a record, so it finds them at once. After a
 * stop it commits the completed checkpoint on its way out (else the
 * stopped job's output up to the savepoint would stay uncommitted until a
 * restore); after a plain cancel it must not (a failed-over attempt's
 * successor may already write on from that checkpoint). */
static void complete_then_end(bool stop)
{
	memset(counted, 0, sizeof counted);
	run_ms = 60 * 1000; /* until canceled */
	flushed_id = committed_id = 0;
	fl_conf *conf;
	flinc_env *e;
	fl_task *src0, *down;
	fl_exec *x = exactly_once_exec(&e, &conf, &src0, &down);
	char err[256];
	assert_int_equal(fl_exec_start(x, err, sizeof err), FLINC_OK);
	usleep(50 * 1000);
	fl_exec_trigger(x, 1, true);
	for (int i = 0; i < 10000 && atomic_load(&down->cp_last_id) != 1; i++) usleep(1000);
	assert_int_equal(atomic_load(&down->cp_last_id), 1);
	assert_int_equal(flushed_id, 1);
	__atomic_store_n(&stall, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < 10000 && __atomic_load_n(&stall, __ATOMIC_SEQ_CST) != 2; i++) usleep(1000);
	assert_int_equal(__atomic_load_n(&stall, __ATOMIC_SEQ_CST), 2);
	fl_exec_complete(x, 1, false);
	if (stop)
		fl_exec_stop(x);
	else
		fl_exec_cancel(x);
	__atomic_store_n(&stall, 0, __ATOMIC_SEQ_CST);
	assert_int_equal(fl_exec_wait(x, NULL, err, sizeof err), FLINC_ECANCELED);
	assert_int_equal(committed_id, stop ? 1 : 0);
	fl_exec_destroy(x);
	fl_env_destroy(e);
	fl_conf_destroy(conf);
	run_ms = RUN_MS;
}

static void complete_then_stop(void **state) { complete_then_end(true); }
static void complete_then_cancel(void **state) { complete_then_end(false); }

static void exactly_once(void **state) { run_case(FL_CP_EXACTLY_ONCE, false); }
static void at_least_once(void **state) { run_case(FL_CP_AT_LEAST_ONCE, false); }
static void unaligned(void **state) { run_case(FL_CP_EXACTLY_ONCE, true); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exactly_once),       cmocka_unit_test(at_least_once),
		cmocka_unit_test(unaligned),          cmocka_unit_test(cancel_while_aligning),
		cmocka_unit_test(complete_then_stop), cmocka_unit_test(complete_then_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
