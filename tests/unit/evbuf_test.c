/*
 * evbuf_test.c - the keyed event-time buffer (flinc_evbuf_*) in jobs run in
 * this process (fl_local), with the memory and the RocksDB backend:
 *
 *  order     records out of order within the watermark's bound, several
 *            with equal times per key, come out of the buffer per key in
 *            time order and, among equal times, in arrival order; each
 *            exactly once; at parallelism 1 and 2; with a POD record type
 *            and with one that goes through msgpack.
 *  adopt     a job's older version buffered in list state "pending" (with
 *            a timer per record) and kept a value state "old-wake"; it
 *            fails after a checkpoint. The new version restores from that
 *            checkpoint, adopts the list (flinc_evbuf_adopt_list) and drops
 *            "old-wake" (flinc_state_drop): its output is every record,
 *            per key in order, and no key has "old-wake" any more.
 *  across    the same with the buffer itself, restored into the other
 *            backend (RocksDB's map layout moves into lists).
 *  far ahead half the input comes from a second source subtask far ahead
 *            of the first: with RocksDB its records move to the map layout
 *            (no rewrite of them at each release); the output is the same.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_runtime.h"
#include "chk_helpers.h"
#include "op.h"

#define NREC 20000
#define NKEYS 37
#define BOUND 400 /* out-of-orderness, ms */

typedef struct item_t {
	int64_t key, ts, seq; /* seq: position in the input */
} item_t;
FLINC_STRUCT_TYPE(rec_type, item_t, "Rec", FLINC_TYPE_POD, FLINC_FIELD(item_t, key, FLINC_FIELD_I64),
		  FLINC_FIELD(item_t, ts, FLINC_FIELD_I64), FLINC_FIELD(item_t, seq, FLINC_FIELD_I64));

/* The same fields and a string: encoded with msgpack in state. */
typedef struct srec {
	int64_t key, ts, seq;
	flinc_str tag;
} srec;
FLINC_STRUCT_TYPE(srec_type, srec, "SRec", 0, FLINC_FIELD(srec, key, FLINC_FIELD_I64),
		  FLINC_FIELD(srec, ts, FLINC_FIELD_I64), FLINC_FIELD(srec, seq, FLINC_FIELD_I64),
		  FLINC_FIELD(srec, tag, FLINC_FIELD_STR));

static item_t g_in[NREC];

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Times rise by 5 ms per record with up to BOUND/2 of jitter, and one in
 * four records repeats its key's previous time when that is recent; the
 * second half starts 1000 s later (so two sources reading a half each
 * never give equal times). */
static void make_input(void)
{
	int64_t last[NKEYS] = { 0 };
	for (int64_t i = 0; i < NREC; i++) {
		int64_t k = (int64_t)(rnd() % NKEYS);
		int64_t ts = 1000000 + i * 5 + (int64_t)(rnd() % (BOUND / 2));
		if (i >= NREC / 2) ts += 1000000; /* the halves' times never meet */
		if (last[k] && ts - last[k] < BOUND / 2 && rnd() % 4 == 0) ts = last[k];
		last[k] = ts;
		g_in[i] = (item_t){ k, ts, i };
	}
}

/* ---- the job ---------------------------------------------------------- */

enum { MODE_NEW, MODE_OLD };
static int g_mode;
static bool g_string; /* the msgpack record type */
static atomic_long g_completed_after_stop, g_restored_at, g_old_wake_seen;
static atomic_int g_crash, g_stopped, g_second_out;
static int64_t g_bound = BOUND; /* the runs that crash hold every record back */
static atomic_long g_bad;       /* wrong things seen in the task threads (no asserts there) */

/* g_split: two source subtasks, one per half of the input (times do not
 * overlap); the first starts once the second has emitted its half, which
 * so waits in the buffers behind the first's watermark, hundreds of
 * records per key. */
static bool g_split;

typedef struct src_local {
	uint64_t pos, end;
	bool init;
} src_local;

static int src_run(flinc_ctx *c, void *lp, uint32_t budget)
{
	src_local *l = lp;
	if (!l->init) {
		l->init = true;
		int i = flinc_ctx_subtask(c), n = flinc_ctx_parallelism(c);
		if (l->end == 0) { /* not restored */
			l->pos = (uint64_t)NREC * (uint64_t)i / (uint64_t)n;
			l->end = (uint64_t)NREC * (uint64_t)(i + 1) / (uint64_t)n;
		}
	}
	bool first = flinc_ctx_subtask(c) == 0;
	if (g_split && first && !atomic_load(&g_second_out)) { /* the far half goes first */
		usleep(1000);
		return FLINC_SOURCE_IDLE;
	}
	/* g_crash: the (first) source stops halfway through its part and
	 * fails the job after two checkpoints; the other one waits at its end
	 * meanwhile. */
	if (atomic_load(&g_crash) && first && l->pos >= (g_split ? NREC / 4 : NREC / 2)) {
		atomic_store(&g_stopped, 1);
		if (atomic_load(&g_completed_after_stop) > 1) {
			flinc_ctx_fail(c, "test: the old version stops here");
			return FLINC_SOURCE_IDLE;
		}
		usleep(2000);
		return FLINC_SOURCE_IDLE;
	}
	if (atomic_load(&g_crash) && !first && l->pos >= l->end) {
		usleep(2000);
		return FLINC_SOURCE_IDLE;
	}
	if (budget > 200) budget = 200;
	uint64_t stop = atomic_load(&g_crash) && first ? (g_split ? NREC / 4 : NREC / 2) : l->end;
	for (uint32_t i = 0; i < budget && l->pos < stop; i++) {
		const item_t *r = &g_in[l->pos++];
		if (g_string) {
			srec s = { r->key, r->ts, r->seq, { "payload", 7 } };
			flinc_emit_ts(c, &s, r->ts);
		} else {
			flinc_emit_ts(c, r, r->ts);
		}
	}
	if (!first && l->pos >= l->end) atomic_store(&g_second_out, 1);
	return l->pos >= l->end ? FLINC_SOURCE_END : FLINC_SOURCE_MORE;
}
static int src_snapshot(flinc_ctx *c, void *lp, flinc_writer *w)
{
	(void)c;
	flinc_w_uint(w, ((src_local *)lp)->pos);
	flinc_w_uint(w, ((src_local *)lp)->end);
	return 0;
}
/* Every subtask gets every old subtask's position (docs/kafka.md): it
 * keeps the one of its own part. */
static int src_restore(flinc_ctx *c, void *lp, flinc_reader *r)
{
	src_local *l = lp;
	uint64_t pos = flinc_r_uint(r), end = flinc_r_uint(r);
	if (r->err) return FLINC_ECODEC;
	int i = flinc_ctx_subtask(c), n = flinc_ctx_parallelism(c);
	if (end != (uint64_t)NREC * (uint64_t)(i + 1) / (uint64_t)n) return 0;
	l->pos = pos;
	l->end = end;
	if (i == 0) atomic_store(&g_restored_at, (long)pos);
	return 0;
}
static const flinc_source_fn src_fn = { .version = FLINC_FN_VERSION,
					.local_size = sizeof(src_local),
					.run = src_run,
					.snapshot = src_snapshot,
					.restore = src_restore };

static int64_t ts_of(const void *r) { return ((const item_t *)r)->ts; } /* srec starts alike */

static size_t key_of(const void *r, uint8_t *buf, size_t cap)
{
	(void)cap;
	memcpy(buf, &((const item_t *)r)->key, 8);
	return 8;
}

typedef struct proc_local {
	flinc_evbuf *buf;
	flinc_state *list, *old_wake;
	flinc_ctx *c;
} proc_local;

static int64_t from_old(const void *elem, void *out)
{
	memcpy(out, elem, sizeof(item_t));
	return ((const item_t *)elem)->ts;
}

static int proc_open(flinc_ctx *c, void *lp)
{
	proc_local *l = lp;
	const flinc_type *t = g_string ? &srec_type : &rec_type;
	if (g_mode == MODE_OLD) {
		l->list = flinc_state_list(c, "pending", t);
		l->old_wake = flinc_state_value(c, "old-wake", &flinc_type_i64);
		return l->list && l->old_wake ? FLINC_OK : FLINC_ESTATE;
	}
	l->buf = flinc_evbuf_declare(c, "events", t);
	if (!l->buf) return FLINC_ESTATE;
	int rc = g_string ? FLINC_OK : flinc_evbuf_adopt_list(l->buf, "pending", &rec_type, from_old);
	if (rc == FLINC_OK) rc = flinc_state_drop(c, "old-wake");
	/* declared again only to see that the drop left nothing */
	l->old_wake = flinc_state_value(c, "old-wake", &flinc_type_i64);
	return rc;
}

static void proc(flinc_ctx *c, void *lp, const void *in)
{
	proc_local *l = lp;
	int64_t ts = ((const item_t *)in)->ts;
	if (ts <= flinc_ctx_watermark(c)) atomic_fetch_add(&g_bad, 1); /* late */
	if (g_mode == MODE_OLD) {
		if (flinc_list_add(l->list, in) != FLINC_OK || flinc_value_put(l->old_wake, &ts) != FLINC_OK)
			atomic_fetch_add(&g_bad, 1);
		flinc_timer_register(c, FLINC_EVENT_TIME, ts);
		return;
	}
	if (flinc_evbuf_add(l->buf, ts, in) != FLINC_OK) atomic_fetch_add(&g_bad, 1);
}

static int out_one(void *ud, int64_t ts, const void *r)
{
	proc_local *l = ud;
	if (ts != ((const item_t *)r)->ts) atomic_fetch_add(&g_bad, 1);
	if (g_string) {
		const srec *s = r;
		if (s->tag.len != 7 || memcmp(s->tag.s, "payload", 7) != 0) atomic_fetch_add(&g_bad, 1);
		item_t o = { s->key, s->ts, s->seq };
		flinc_emit_ts(l->c, &o, ts);
	} else {
		flinc_emit_ts(l->c, r, ts);
	}
	return 0;
}

static void on_timer(flinc_ctx *c, void *lp, int64_t ts, flinc_time_domain d)
{
	proc_local *l = lp;
	if (d != FLINC_EVENT_TIME || g_mode == MODE_OLD) return;
	if (flinc_value_get(l->old_wake)) atomic_fetch_add(&g_old_wake_seen, 1);
	int64_t wm = flinc_ctx_watermark(c);
	l->c = c;
	if (flinc_evbuf_release(l->buf, wm > ts ? wm : ts, out_one, l) < 0) atomic_fetch_add(&g_bad, 1);
}

static const flinc_process_fn proc_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(proc_local),
	.open = proc_open,
	.process = proc,
	.on_timer = on_timer,
};

/* The sink, two-phase: records written since the last pre-commit wait,
 * a checkpoint's pre-commit closes them off and its completion moves them
 * to g_out (the end of the input, everything). So a run that fails counts
 * only what its completed checkpoints covered. One subtask. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static item_t g_out[NREC * 2];
static size_t g_nout;
static item_t g_pend[NREC * 2];
static size_t g_npend, g_nclosed; /* g_pend[0..g_nclosed): pre-committed */

static void keep(const item_t *r)
{
	if (g_nout < sizeof g_out / sizeof g_out[0]) g_out[g_nout] = *r;
	g_nout++;
}

static int sink_write(flinc_ctx *c, void *lp, const void *r)
{
	(void)c;
	(void)lp;
	pthread_mutex_lock(&g_mu);
	if (g_npend < sizeof g_pend / sizeof g_pend[0]) g_pend[g_npend++] = *(const item_t *)r;
	pthread_mutex_unlock(&g_mu);
	return 0;
}
static int sink_flush(flinc_ctx *c, void *lp, int64_t id)
{
	(void)c;
	(void)lp;
	(void)id;
	pthread_mutex_lock(&g_mu);
	g_nclosed = g_npend;
	pthread_mutex_unlock(&g_mu);
	return 0;
}
static int sink_commit(flinc_ctx *c, void *lp, int64_t id)
{
	(void)c;
	(void)lp;
	pthread_mutex_lock(&g_mu);
	size_t n = id == FLINC_CHECKPOINT_FINAL ? g_npend : g_nclosed;
	for (size_t i = 0; i < n; i++) keep(&g_pend[i]);
	memmove(g_pend, g_pend + n, (g_npend - n) * sizeof g_pend[0]);
	g_npend -= n;
	g_nclosed = 0;
	pthread_mutex_unlock(&g_mu);
	if (id != FLINC_CHECKPOINT_FINAL && atomic_load(&g_stopped))
		atomic_fetch_add(&g_completed_after_stop, 1);
	return 0;
}
static const flinc_sink_fn sink_fn = {
	.version = FLINC_FN_VERSION, .write = sink_write, .flush = sink_flush, .commit = sink_commit
};

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const flinc_type *t = g_string ? &srec_type : &rec_type;
	flinc_stream *s = flinc_source(e, "src", &src_fn, NULL, t);
	int sp = g_split ? 2 : 1;
	flinc_set_parallelism(s, sp);
	flinc_set_uid(s, "src");
	s = flinc_assign_timestamps(s, ts_of, g_bound, 0);
	flinc_set_parallelism(s, sp); /* one channel per key and time range: arrival order is input order */
	flinc_stream *p = flinc_process(flinc_key_by(s, key_of), "sorter", &proc_fn, NULL, &rec_type);
	flinc_set_uid(p, "sorter");
	flinc_stream *sk = flinc_sink(p, "collect", &sink_fn, NULL);
	flinc_set_parallelism(sk, 1);
	flinc_set_uid(sk, "collect");
	return 0;
}

static int run_job(const char *backend, int par, const char *chkdir, const char *restore, char *err,
		   size_t cap)
{
	fl_run_stats st;
	int rc = run_local("evbuf_test", build, backend, par, chkdir, restore, &st, err, cap);
	if (rc == FLINC_OK) assert_int_equal(st.rejected, 0);
	return rc;
}

/* Per key, the output is the key's input sorted by time, equal times in
 * input order; every record once. */
static int by_key_ts_seq(const void *a, const void *b)
{
	const item_t *x = a, *y = b;
	if (x->key != y->key) return x->key < y->key ? -1 : 1;
	if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static item_t g_want[NREC];

static void check_output(const char *what)
{
	assert_int_equal(atomic_load(&g_bad), 0);
	assert_int_equal(g_nout, NREC);
	memcpy(g_want, g_in, sizeof g_in);
	qsort(g_want, NREC, sizeof(item_t), by_key_ts_seq);
	/* the output's order per key is the order it came in: a stable
	 * partition by key keeps it */
	static item_t got[NREC];
	size_t at[NKEYS + 1] = { 0 };
	for (size_t i = 0; i < NREC; i++) at[g_out[i].key + 1]++;
	for (int k = 0; k < NKEYS; k++) at[k + 1] += at[k];
	for (size_t i = 0; i < NREC; i++) got[at[g_out[i].key]++] = g_out[i];
	for (size_t i = 0; i < NREC; i++)
		if (by_key_ts_seq(&got[i], &g_want[i]) != 0)
			fail_msg(
				"%s: record %zu of the output (key %lld) is seq %lld at %lld, want seq %lld at %lld",
				what, i, (long long)got[i].key, (long long)got[i].seq, (long long)got[i].ts,
				(long long)g_want[i].seq, (long long)g_want[i].ts);
	int64_t ties = 0;
	for (size_t i = 1; i < NREC; i++)
		ties += g_want[i].key == g_want[i - 1].key && g_want[i].ts == g_want[i - 1].ts;
	assert_true(ties > 100); /* the input has equal times to order */
}

static void reset(void)
{
	g_nout = g_npend = g_nclosed = 0;
	atomic_store(&g_stopped, 0);
	atomic_store(&g_second_out, 0);
	atomic_store(&g_completed_after_stop, 0);
	atomic_store(&g_restored_at, -1);
	atomic_store(&g_old_wake_seen, 0);
	atomic_store(&g_crash, 0);
	atomic_store(&g_bad, 0);
}

static void test_order(void **st)
{
	(void)st;
	make_input();
	const char *backends[] = { "hashmap", "rocksdb" };
	for (int b = 0; b < 2; b++)
		for (int par = 1; par <= 2; par++)
			for (int s = 0; s < 2; s++) {
				reset();
				g_mode = MODE_NEW;
				g_string = s;
				char err[512] = "", what[64];
				int rc = run_job(backends[b], par, NULL, NULL, err, sizeof err);
				if (rc != FLINC_OK) fail_msg("%s p=%d: %s", backends[b], par, err);
				snprintf(what, sizeof what, "%s p=%d %s", backends[b], par,
					 s ? "msgpack" : "POD");
				check_output(what);
				printf("%s: %zu records in order\n", what, g_nout);
			}
	g_string = false;
}

/* A run of version `mode` on backend `from` buffers part of the input
 * and fails after two checkpoints; the new version restores it on backend
 * `to` at parallelism 2: the output committed over both runs is every
 * record once, per key in order. Without split the first run's watermark
 * holds every record back (half the input waits, nothing is out); with
 * split, the second source's half waits behind the first source's
 * watermark (with RocksDB, in the map layout) while the first's records
 * come out. */
static void crash_and_restore(int mode, const char *from, const char *to, bool split)
{
	make_input();
	char dir[] = "/tmp/evbuf_test_XXXXXX";
	assert_non_null(mkdtemp(dir));
	reset();
	g_mode = mode;
	g_split = split;
	if (!split) g_bound = INT64_C(1) << 40;
	atomic_store(&g_crash, 1);
	uint64_t spills = atomic_load(&fl_evbuf_spills);
	char err[512] = "";
	int rc = run_job(from, 2, dir, NULL, err, sizeof err);
	g_bound = BOUND;
	assert_int_not_equal(rc, FLINC_OK); /* it failed on purpose */
	size_t before = g_nout;
	uint64_t moved = atomic_load(&fl_evbuf_spills) - spills;
	if (!split) assert_int_equal(before, 0);
	char chk[900];
	assert_true(newest_checkpoint(dir, chk, sizeof chk));

	atomic_store(&g_crash, 0);
	g_npend = g_nclosed = 0;
	atomic_store(&g_stopped, 0);
	atomic_store(&g_restored_at, -1);
	g_mode = MODE_NEW;
	rc = run_job(to, 2, dir, chk, err, sizeof err);
	g_split = false;
	if (rc != FLINC_OK) fail_msg("%s -> %s: restore: %s", from, to, err);
	long at = atomic_load(&g_restored_at);
	printf("%s%s%s -> %s: restored at record %ld, %zu records out before the failure, %zu in all; %llu keys "
	       "moved to the map layout\n",
	       mode == MODE_OLD ? "list state, " : "", split ? "half far ahead, " : "", from, to, at, before,
	       g_nout, (unsigned long long)moved);
	assert_int_equal(at, split ? NREC / 4 : NREC / 2);
	assert_int_equal(atomic_load(&g_old_wake_seen), 0);
	if (split) {
		assert_true(before > 0);
		if (!strcmp(from, "rocksdb")) assert_true(moved > 0);
	}
	char what[64];
	snprintf(what, sizeof what, "%s -> %s", from, to);
	check_output(what);
	rm_rf(dir);
}

static void test_adopt_older_layout(void **st)
{
	(void)st;
	crash_and_restore(MODE_OLD, "hashmap", "hashmap", false);
	crash_and_restore(MODE_OLD, "rocksdb", "rocksdb", false);
}

/* Restores into the other backend: RocksDB's map layout moves into lists
 * in the memory backend; lists stay lists in RocksDB. */
static void test_across_backends(void **st)
{
	(void)st;
	crash_and_restore(MODE_NEW, "hashmap", "rocksdb", false);
	crash_and_restore(MODE_NEW, "rocksdb", "hashmap", false);
	crash_and_restore(MODE_NEW, "rocksdb", "hashmap", true);
	crash_and_restore(MODE_NEW, "rocksdb", "rocksdb", true);
	crash_and_restore(MODE_NEW, "hashmap", "rocksdb", true);
}

/* Half the input far ahead of the watermark: with RocksDB the keys move
 * to the map layout (and back to lists when they empty); the output is the
 * same, in order. */
static void test_far_ahead(void **st)
{
	(void)st;
	make_input();
	const char *backends[] = { "hashmap", "rocksdb" };
	for (int b = 0; b < 2; b++) {
		reset();
		g_mode = MODE_NEW;
		g_split = true;
		uint64_t spills = atomic_load(&fl_evbuf_spills);
		char err[512] = "";
		int rc = run_job(backends[b], 2, NULL, NULL, err, sizeof err);
		g_split = false;
		if (rc != FLINC_OK) fail_msg("%s: %s", backends[b], err);
		uint64_t moved = atomic_load(&fl_evbuf_spills) - spills;
		printf("%s: %zu records in order, %llu keys moved to the map layout\n", backends[b], g_nout,
		       (unsigned long long)moved);
		check_output(backends[b]);
		if (b == 1)
			assert_true(moved >= NKEYS / 2);
		else
			assert_int_equal(moved, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_adopt_older_layout),
		cmocka_unit_test(test_across_backends),
		cmocka_unit_test(test_far_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
