/*
 * cep_op_test.c - the keyed CEP operator (flinc_cep) in jobs run in this
 * process (fl_local): events out of order within the watermark's bound,
 * late events to their side output, timed-out partial matches to theirs,
 * matches against a plain reference, parallelism 2; and a run that fails
 * in the middle of the stream and is restored from its newest checkpoint
 * (memory and RocksDB backends), whose committed output must equal an
 * uninterrupted run's.
 *
 * Pattern (a velocity rule): a completed transaction followed by 3 more
 * completed ones of the same user within 1000 ms, skipping past the last
 * event of a match.
 */
#include <dirent.h>
#include <ftw.h>
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

#include <flinc/cep.h>

#include "fl_runtime.h"
#include "chk_helpers.h"

/* ---- records ---------------------------------------------------------- */

typedef struct tx {
	int64_t id;
	int64_t user;
	int64_t ts;
	int32_t completed;
	flinc_str note; /* makes the type non-POD: state goes through msgpack */
} tx;
FLINC_STRUCT_TYPE(tx_type, tx, "Tx", 0, FLINC_FIELD(tx, id, FLINC_FIELD_I64),
		  FLINC_FIELD(tx, user, FLINC_FIELD_I64), FLINC_FIELD(tx, ts, FLINC_FIELD_I64),
		  FLINC_FIELD(tx, completed, FLINC_FIELD_I32), FLINC_FIELD(tx, note, FLINC_FIELD_STR));

enum { OUT_MATCH = 0, OUT_TIMEOUT = 1, OUT_LATE = 2, OUT_RETRY = 3 };
typedef struct out {
	int32_t kind;
	int64_t user;
	int64_t first, last; /* transaction ids */
	int64_t n;
	int64_t ts;
} out;
FLINC_STRUCT_TYPE(out_type, out, "Out", FLINC_TYPE_POD, FLINC_FIELD(out, kind, FLINC_FIELD_I32),
		  FLINC_FIELD(out, user, FLINC_FIELD_I64), FLINC_FIELD(out, first, FLINC_FIELD_I64),
		  FLINC_FIELD(out, last, FLINC_FIELD_I64), FLINC_FIELD(out, n, FLINC_FIELD_I64),
		  FLINC_FIELD(out, ts, FLINC_FIELD_I64));

/* ---- input ------------------------------------------------------------ */

#define NTX 20000
#define NUSERS 37
#define WITHIN 1000
#define BOUND 100 /* max out of orderness */
static tx g_tx[NTX + 64];
static size_t g_ntx;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Transactions every 10 ms on average, ts jittered by up to +-40 ms
 * (within BOUND), 70% completed; with `late`, every 1000th is from 5 s ago. */
static void make_input(bool late)
{
	rng = 0x9e3779b97f4a7c15ull;
	g_ntx = 0;
	for (int i = 0; i < NTX; i++) {
		tx *t = &g_tx[g_ntx++];
		memset(t, 0, sizeof *t);
		t->id = i + 1;
		t->user = (int64_t)(rnd() % NUSERS);
		t->ts = 100000 + (int64_t)i * 10 + (int64_t)(rnd() % 81) - 40;
		t->completed = rnd() % 10 < 7;
		t->note.s = "x";
		t->note.len = 1;
		if (late && i % 1000 == 999) t->ts -= 5000;
	}
}

/* ---- the reference ---------------------------------------------------- */

static int cmp_ts(const void *a, const void *b)
{
	const tx *x = *(const tx *const *)a, *y = *(const tx *const *)b;
	if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id; /* arrival order */
}

/* Matches the pattern makes: per user, completed ones in time order; from
 * the earliest partial match, the next three complete it when the third is
 * less than WITHIN after it; then skip past the last. `is_late` tells
 * which transactions never reach the NFA. */
static size_t reference(char (*outv)[64], size_t cap, bool (*is_late)(const tx *))
{
	size_t n = 0;
	static const tx *by[NTX];
	for (int64_t u = 0; u < NUSERS; u++) {
		size_t m = 0;
		for (size_t i = 0; i < g_ntx; i++)
			if (g_tx[i].user == u && g_tx[i].completed && !(is_late && is_late(&g_tx[i])))
				by[m++] = &g_tx[i];
		qsort(by, m, sizeof by[0], cmp_ts);
		size_t i = 0;
		while (i + 3 < m) {
			if (by[i + 3]->ts - by[i]->ts < WITHIN) {
				assert_true(n < cap);
				snprintf(outv[n++], 64, "M %lld %lld %lld 4", (long long)u,
					 (long long)by[i]->id, (long long)by[i + 3]->id);
				i += 4;
			} else {
				i++;
			}
		}
	}
	return n;
}

/* ---- the job ---------------------------------------------------------- */

static bool is_completed(const void *ev, const flinc_cep_match *pm, const void *arg)
{
	(void)pm;
	(void)arg;
	return ((const tx *)ev)->completed != 0;
}

static void fill(out *o, const flinc_cep_match *m, int kind)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	size_t n = flinc_cep_size(m);
	const tx *first = flinc_cep_nth(m, 0, NULL, NULL);
	const tx *last = flinc_cep_nth(m, n - 1, NULL, NULL);
	o->user = first->user;
	o->first = first->id;
	o->last = last->id;
	o->n = (int64_t)n;
}

static void select_fn(flinc_ctx *c, const flinc_cep_match *m)
{
	out o;
	fill(&o, m, OUT_MATCH);
	/* The events by stage name agree with the events in order. */
	if (flinc_cep_count(m, "first") != 1 || flinc_cep_count(m, "more") != 3 ||
	    ((const tx *)flinc_cep_event(m, "more", 2, NULL))->id != o.last)
		flinc_ctx_fail(c, "select: stages do not add up");
	o.ts = flinc_ctx_timestamp(c);
	flinc_emit(c, &o);
}

static const flinc_tag *g_timeout_tag;
static void timeout_fn(flinc_ctx *c, const flinc_cep_match *m, int64_t ts)
{
	out o;
	fill(&o, m, OUT_TIMEOUT);
	o.ts = ts;
	flinc_emit_side(c, g_timeout_tag, &o);
}

static void late_to_out(flinc_ctx *c, const void *in, void *outp)
{
	(void)c;
	const tx *t = in;
	out *o = outp;
	o->kind = OUT_LATE;
	o->user = t->user;
	o->first = o->last = t->id;
	o->n = 1;
}

static size_t key_user(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	memcpy(buf, &((const tx *)rec)->user, 8);
	return 8;
}
static int64_t ts_of(const void *rec) { return ((const tx *)rec)->ts; }
/* Equal timestamps: by transaction id. With parallel upstreams the
 * arrival order of a key's events is not fixed; this makes it so. */
static int by_id(const void *a, const void *b)
{
	int64_t x = ((const tx *)a)->id, y = ((const tx *)b)->id;
	return x < y ? -1 : x > y;
}

/* Source: g_tx in order; position in checkpoints. In crash mode it fails
 * the job once past half of the input and a checkpoint taken after a
 * quarter of it was committed. */
static atomic_int g_crash;        /* fail mid-stream */
static atomic_long g_commits_q;   /* checkpoints committed after a quarter */
static atomic_long g_restored_at; /* position the source restored */
static atomic_long g_src_pos;

typedef struct src_local {
	uint64_t pos;
} src_local;

static int src_run(flinc_ctx *c, void *lp, uint32_t budget)
{
	src_local *l = lp;
	if (l->pos >= g_ntx) return FLINC_SOURCE_END;
	if (atomic_load(&g_crash)) {
		if (l->pos >= g_ntx / 2 && atomic_load(&g_commits_q) > 0) {
			flinc_ctx_fail(c, "test: crash in the middle of the stream");
			return FLINC_SOURCE_IDLE;
		}
		if (l->pos >= g_ntx / 2) {
			usleep(2000);
			return FLINC_SOURCE_IDLE;
		}
		if (budget > 50) budget = 50; /* slow: let checkpoints happen */
		usleep(500);
	}
	for (uint32_t i = 0; i < budget && l->pos < g_ntx; i++) {
		const tx *t = &g_tx[l->pos++];
		flinc_emit_ts(c, t, t->ts);
	}
	atomic_store(&g_src_pos, (long)l->pos);
	return l->pos >= g_ntx ? FLINC_SOURCE_END : FLINC_SOURCE_MORE;
}
static int src_snapshot(flinc_ctx *c, void *lp, flinc_writer *w)
{
	(void)c;
	flinc_w_uint(w, ((src_local *)lp)->pos);
	return 0;
}
static int src_restore(flinc_ctx *c, void *lp, flinc_reader *r)
{
	(void)c;
	((src_local *)lp)->pos = flinc_r_uint(r);
	atomic_store(&g_restored_at, (long)((src_local *)lp)->pos);
	return r->err ? FLINC_ECODEC : 0;
}
static const flinc_source_fn src_fn = { .version = FLINC_FN_VERSION,
					.local_size = sizeof(src_local),
					.run = src_run,
					.snapshot = src_snapshot,
					.restore = src_restore };

/* Sink: two-phase into g_committed (what a checkpoint covered, once it
 * completed; everything at the end of the input). */
#define MAXOUT 40000
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_committed[MAXOUT][64];
static size_t g_ncommitted;

/* Pre-committed records survive the failed run (this process is the
 * "external system"): a restored run commits those of the checkpoint it
 * restored from and drops the rest, as a two-phase-commit sink does. */
typedef struct pend {
	char s[64];
	int64_t ckpt; /* -1 until flushed */
} pend;
static pend *g_pend;
static size_t g_npend, g_cappend;

static void commit_upto(int64_t id)
{
	size_t k = 0;
	for (size_t i = 0; i < g_npend; i++) {
		if (g_pend[i].ckpt >= 0 && g_pend[i].ckpt <= id) {
			if (g_ncommitted < MAXOUT) memcpy(g_committed[g_ncommitted++], g_pend[i].s, 64);
		} else {
			g_pend[k++] = g_pend[i];
		}
	}
	g_npend = k;
}

static int sink_open(flinc_ctx *c, void *lp)
{
	(void)lp;
	int64_t rid = flinc_ctx_restored_checkpoint(c);
	pthread_mutex_lock(&g_mu);
	if (rid > 0) commit_upto(rid);
	g_npend = 0;
	pthread_mutex_unlock(&g_mu);
	return 0;
}

static int sink_write(flinc_ctx *c, void *lp, const void *rec)
{
	(void)c;
	(void)lp;
	const out *o = rec;
	pthread_mutex_lock(&g_mu);
	if (g_npend == g_cappend) {
		g_cappend = g_cappend ? g_cappend * 2 : 1024;
		g_pend = realloc(g_pend, g_cappend * sizeof(pend));
	}
	pend *p = &g_pend[g_npend++];
	const char *k = o->kind == OUT_MATCH ? "M"
		: o->kind == OUT_TIMEOUT     ? "T"
		: o->kind == OUT_RETRY       ? "R"
					     : "L";
	snprintf(p->s, sizeof p->s, "%s %lld %lld %lld %lld", k, (long long)o->user, (long long)o->first,
		 (long long)o->last, (long long)o->n);
	p->ckpt = -1;
	pthread_mutex_unlock(&g_mu);
	return 0;
}
static int sink_flush(flinc_ctx *c, void *lp, int64_t id)
{
	(void)c;
	(void)lp;
	pthread_mutex_lock(&g_mu);
	for (size_t i = 0; i < g_npend; i++)
		if (g_pend[i].ckpt < 0) g_pend[i].ckpt = id;
	pthread_mutex_unlock(&g_mu);
	return 0;
}
/* test_state_flat: the size of each completed checkpoint. */
static int g_mode;
static char g_chkdir[300];
static long g_sizes[4096];
static int g_nsizes;
static long g_du;
static int du_add(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)path;
	(void)f;
	if (flag == FTW_F) g_du += (long)sb->st_size;
	return 0;
}

static int sink_commit(flinc_ctx *c, void *lp, int64_t id)
{
	(void)c;
	(void)lp;
	pthread_mutex_lock(&g_mu);
	commit_upto(id);
	if (g_mode == 3 && id != FLINC_CHECKPOINT_FINAL && g_nsizes < 4096) {
		char path[900];
		if (newest_checkpoint(g_chkdir, path, sizeof path)) {
			g_du = 0;
			if (nftw(path, du_add, 8, FTW_PHYS) == 0) g_sizes[g_nsizes++] = g_du;
		}
	}
	pthread_mutex_unlock(&g_mu);
	if (id != FLINC_CHECKPOINT_FINAL && atomic_load(&g_src_pos) >= (long)g_ntx / 4)
		atomic_fetch_add(&g_commits_q, 1);
	return 0;
}
static const flinc_sink_fn sink_fn = { .version = FLINC_FN_VERSION,
				       .open = sink_open,
				       .write = sink_write,
				       .flush = sink_flush,
				       .commit = sink_commit };

/* A second rule: a failed transaction followed by a completed one within
 * 200 ms (a retry), skip past the last event. */
static bool is_failed(const void *ev, const flinc_cep_match *pm, const void *arg)
{
	(void)pm;
	(void)arg;
	return ((const tx *)ev)->completed == 0;
}
static void retry_fn(flinc_ctx *c, const flinc_cep_match *m)
{
	out o;
	fill(&o, m, OUT_RETRY);
	if (*(const int *)flinc_ctx_arg(c) != 7) flinc_ctx_fail(c, "retry: not its own arg");
	flinc_emit(c, &o);
}
static const int retry_arg = 7;

/* 0: the velocity rule; 1: velocity and retry as two operators; 2: both in
 * one flinc_cep_multi operator; 3: velocity over 1M generated transactions
 * (test_state_flat). */

static flinc_cep_pattern *velocity_pattern(flinc_env *e)
{
	flinc_cep_pattern *p = flinc_cep_begin(e, "first");
	flinc_cep_where(p, is_completed, NULL);
	flinc_cep_followed_by(p, "more");
	flinc_cep_where(p, is_completed, NULL);
	flinc_cep_times(p, 3);
	flinc_cep_within(p, WITHIN);
	return flinc_cep_skip(p, FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);
}
static flinc_cep_pattern *retry_pattern(flinc_env *e)
{
	flinc_cep_pattern *p = flinc_cep_where(flinc_cep_begin(e, "failed"), is_failed, NULL);
	flinc_cep_where(flinc_cep_followed_by(p, "ok"), is_completed, NULL);
	flinc_cep_within(p, 200);
	return flinc_cep_skip(p, FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);
}

/* Under the sanitizers (5-20x slower) 400k, still four windows: the
 * comparison below is between the second and last thirds of the run. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BIG_N 400000
#else
#define BIG_N 1000000
#endif
#define BIG_USERS 10000
static bool gen_big(flinc_ctx *c, uint64_t i, void *outp)
{
	(void)c;
	uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	tx *t = outp;
	t->id = (int64_t)i + 1;
	t->user = (int64_t)(h % BIG_USERS);
	t->ts = 100000 + (int64_t)(i / 100) + (int64_t)((h >> 20) % 41) - 20;
	t->completed = (h >> 40) % 10 < 8;
	t->note.s = "x";
	t->note.len = 1;
	return true;
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	flinc_stream *s = g_mode == 3 ? flinc_datagen(e, "txs", gen_big, NULL, &tx_type, BIG_N, 0)
				      : flinc_source(e, "txs", &src_fn, NULL, &tx_type);
	flinc_set_parallelism(s, 1);
	s = flinc_assign_timestamps(s, ts_of, BOUND, 0);
	const flinc_tag *late = flinc_tag_new(e, "late", &tx_type);
	g_timeout_tag = flinc_tag_new(e, "timeouts", &out_type);

	flinc_cep_opts o[2] = {
		{ .select = select_fn,
		  .out = &out_type,
		  .timeout = timeout_fn,
		  .late = late,
		  .compare = by_id },
		{ .select = retry_fn, .out = &out_type, .arg = &retry_arg },
	};
	flinc_cep_pattern *p[2] = { velocity_pattern(e), retry_pattern(e) };
	flinc_stream *keyed = flinc_key_by(s, key_user);
	flinc_stream *m;
	if (g_mode == 2) {
		m = flinc_cep_multi(keyed, "rules", 2, p, o);
	} else {
		m = flinc_cep(keyed, "velocity", p[0], &o[0]);
	}
	flinc_set_uid(m, "velocity");
	flinc_stream *all = flinc_union(m, flinc_side_output(m, g_timeout_tag));
	all = flinc_union(all, flinc_map(flinc_side_output(m, late), "late", late_to_out, NULL, &out_type));
	if (g_mode == 1) {
		o[1].compare = by_id;
		flinc_stream *r = flinc_cep(flinc_key_by(s, key_user), "retry", p[1], &o[1]);
		all = flinc_union(all, r);
	}
	flinc_stream *sk = flinc_sink(all, "collect", &sink_fn, NULL);
	flinc_set_parallelism(sk, 1);
	flinc_set_uid(sk, "collect");
	return 0;
}

/* ---- running ---------------------------------------------------------- */

static fl_run_stats g_stats; /* of the last run_job */

static int run_job(const char *backend, int par, const char *chkdir, const char *restore, char *err,
		   size_t cap)
{
	return run_local("cep_op_test", build, backend, par, chkdir, restore, &g_stats, err, cap);
}

static int cmp_str(const void *a, const void *b) { return strcmp(a, b); }

static void reset_out(void)
{
	g_ncommitted = 0;
	g_npend = 0;
	atomic_store(&g_commits_q, 0);
	atomic_store(&g_restored_at, -1);
	atomic_store(&g_src_pos, 0);
}

/* Sorted copy of the committed output; the count of each kind. */
static size_t take_out(char (*dst)[64], size_t *nm, size_t *nt, size_t *nl)
{
	memcpy(dst, g_committed, g_ncommitted * 64);
	qsort(dst, g_ncommitted, 64, cmp_str);
	*nm = *nt = *nl = 0;
	for (size_t i = 0; i < g_ncommitted; i++) {
		if (dst[i][0] == 'M') (*nm)++;
		if (dst[i][0] == 'T') (*nt)++;
		if (dst[i][0] == 'L') (*nl)++;
	}
	return g_ncommitted;
}

static char want_buf[MAXOUT][64], got_buf[MAXOUT][64], ref_buf[MAXOUT][64];

/* Matches of the output equal the reference. */
static void check_matches(char (*got)[64], size_t n, bool (*is_late)(const tx *))
{
	size_t nref = reference(ref_buf, MAXOUT, is_late);
	qsort(ref_buf, nref, 64, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (got[i][0] != 'M') continue;
		if (k >= nref || strcmp(got[i], ref_buf[k]) != 0)
			fail_msg("match %zu: got [%s], reference [%s]", k, got[i],
				 k < nref ? ref_buf[k] : "(none)");
		k++;
	}
	assert_int_equal(k, nref);
}

static void test_matches_vs_reference(void **st)
{
	(void)st;
	make_input(false);
	for (int par = 1; par <= 2; par++) {
		reset_out();
		char err[512] = "";
		int rc = run_job("hashmap", par, NULL, NULL, err, sizeof err);
		if (rc != FLINC_OK) fail_msg("run: %s", err);
		size_t nm, nt, nl;
		size_t n = take_out(got_buf, &nm, &nt, &nl);
		printf("p=%d: %zu matches, %zu timeouts, %zu late\n", par, nm, nt, nl);
		assert_true(nm > 100);
		assert_true(nt > 100);
		assert_int_equal(nl, 0);
		assert_int_equal(g_stats.rejected, 0);
		assert_int_equal(g_stats.source_records, NTX);
		check_matches(got_buf, n, NULL);
	}
}

static bool late_one(const tx *t) { return t->id % 1000 == 0; }

static void test_late_events(void **st)
{
	(void)st;
	make_input(true);
	reset_out();
	char err[512] = "";
	int rc = run_job("hashmap", 1, NULL, NULL, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("run: %s", err);
	size_t nm, nt, nl;
	size_t n = take_out(got_buf, &nm, &nt, &nl);
	/* Every 1000th (5 s back) is late: 20 of them, to the side output
	 * (not dropped: nothing rejected). */
	assert_int_equal(nl, NTX / 1000);
	assert_int_equal(g_stats.rejected, 0);
	for (size_t i = 0; i < n; i++)
		if (got_buf[i][0] == 'L') {
			long long u, f, l, c;
			assert_int_equal(sscanf(got_buf[i] + 2, "%lld %lld %lld %lld", &u, &f, &l, &c), 4);
			assert_int_equal(f % 1000, 0);
		}
	check_matches(got_buf, n, late_one);
}

/* Two rules in one flinc_cep_multi operator give what two operators give;
 * its velocity matches are the reference's. */
static void test_multi_patterns(void **st)
{
	(void)st;
	make_input(false);
	char err[512] = "";
	size_t nm, nt, nl;
	reset_out();
	g_mode = 1;
	int rc = run_job("hashmap", 2, NULL, NULL, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("two operators: %s", err);
	size_t nwant = take_out(want_buf, &nm, &nt, &nl);
	size_t nr = 0;
	for (size_t i = 0; i < nwant; i++) nr += want_buf[i][0] == 'R';
	reset_out();
	g_mode = 2;
	rc = run_job("hashmap", 2, NULL, NULL, err, sizeof err);
	g_mode = 0;
	if (rc != FLINC_OK) fail_msg("multi: %s", err);
	size_t ngot = take_out(got_buf, &nm, &nt, &nl);
	printf("multi: %zu records (%zu velocity matches, %zu timeouts, %zu retries); two operators: %zu\n",
	       ngot, nm, nt, nr, nwant);
	assert_true(nr > 100);
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < nwant; i++)
		if (strcmp(got_buf[i], want_buf[i]) != 0)
			fail_msg("output %zu: [%s] vs [%s]", i, got_buf[i], want_buf[i]);
	assert_int_equal(g_stats.rejected, 0);
	check_matches(got_buf, ngot, NULL);
}

static char tmpdir[256];

/* 1M transactions (400k under the sanitizers) of 10,000 users (100 per ms of event time, so within =
 * 1 s covers about 100,000 of them) with a checkpoint every 30 ms: the
 * checkpoints of the second half of the run are no larger than those of
 * the first half after the first window: the operator's state (pending
 * events, NFA states, timers) follows the window, not the input. */
static void test_state_flat(void **st)
{
	(void)st;
	reset_out();
	g_nsizes = 0;
	snprintf(g_chkdir, sizeof g_chkdir, "%s/chk-flat", tmpdir);
	rm_rf(g_chkdir);
	g_mode = 3;
	char err[512] = "";
	int rc = run_job("hashmap", 1, g_chkdir, NULL, err, sizeof err);
	g_mode = 0;
	if (rc != FLINC_OK) fail_msg("run: %s", err);
	printf("state flat: %d checkpoints, sizes:", g_nsizes);
	for (int i = 0; i < g_nsizes; i++) printf(" %ld", g_sizes[i]);
	printf("\n");
	assert_true(g_nsizes >= 6);
	long early = 0, late = 0;
	int third = g_nsizes / 3;
	for (int i = third; i < 2 * third; i++)
		if (g_sizes[i] > early) early = g_sizes[i];
	for (int i = 2 * third; i < g_nsizes; i++)
		if (g_sizes[i] > late) late = g_sizes[i];
	assert_true(early > 0);
	assert_true(late <= early + early / 2 + 65536);
	assert_int_equal(g_stats.rejected, 0);
	rm_rf(g_chkdir);
}

/* Crash in the middle, restore from the newest checkpoint with backend
 * `to` (and parallelism par2), the job built in mode `after` (g_mode's
 * until then): the output committed over both runs equals an
 * uninterrupted run's, exactly. When `after` adds the retry rule, its
 * records ('R', only from the restore on) are left out of the comparison. */
static void crash_and_restore_as(const char *from, const char *to, int par2, int after)
{
	make_input(false);
	reset_out();
	char err[512] = "";
	int rc = run_job("hashmap", 1, NULL, NULL, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("uninterrupted run: %s", err);
	size_t wm, wt, wl;
	size_t nwant = take_out(want_buf, &wm, &wt, &wl);

	char chk[300];
	snprintf(chk, sizeof chk, "%s/chk-%s-%s", tmpdir, from, to);
	rm_rf(chk);
	reset_out();
	atomic_store(&g_crash, 1);
	rc = run_job(from, 1, chk, NULL, err, sizeof err);
	atomic_store(&g_crash, 0);
	assert_int_not_equal(rc, FLINC_OK);
	assert_non_null(strstr(err, "crash in the middle"));
	size_t before = g_ncommitted;

	char path[900];
	assert_true(newest_checkpoint(chk, path, sizeof path));
	int before_mode = g_mode;
	g_mode = after;
	rc = run_job(to, par2, chk, path, err, sizeof err);
	g_mode = before_mode;
	if (rc != FLINC_OK) fail_msg("restored run: %s", err);
	long at = atomic_load(&g_restored_at);
	size_t gm, gt, gl;
	size_t ngot = take_out(got_buf, &gm, &gt, &gl);
	if (after != before_mode) { /* keep the velocity rule's records */
		size_t k = 0;
		for (size_t i = 0; i < ngot; i++)
			if (got_buf[i][0] != 'R') memmove(got_buf[k++], got_buf[i], 64);
		ngot = k;
	}
	printf("%s -> %s (p=%d): restored at transaction %ld of %d; %zu committed before the crash, %zu in "
	       "all: %zu matches, %zu timeouts (uninterrupted: %zu, %zu)\n",
	       from, to, par2, at, NTX, before, ngot, gm, gt, wm, wt);
	assert_true(at > 0 && at < NTX);
	assert_true(before > 0);
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < nwant; i++)
		if (strcmp(got_buf[i], want_buf[i]) != 0)
			fail_msg("output %zu: [%s] vs [%s]", i, got_buf[i], want_buf[i]);
	rm_rf(chk);
}

static void crash_and_restore(const char *from, const char *to, int par2)
{
	crash_and_restore_as(from, to, par2, g_mode);
}

static void test_restore_memory(void **st)
{
	(void)st;
	crash_and_restore("hashmap", "hashmap", 1);
}
static void test_restore_rocksdb(void **st)
{
	(void)st;
	crash_and_restore("rocksdb", "rocksdb", 1);
}
/* With both rules in one flinc_cep_multi operator: both NFA states and
 * the shared pending events go through the checkpoint. */
static void test_restore_rescaled(void **st)
{
	(void)st;
	g_mode = 2;
	crash_and_restore("rocksdb", "hashmap", 2);
	g_mode = 0;
}

/* A job with one rule (flinc_cep: its partial matches in "cep-nfa")
 * restored as a job with that rule and another in one flinc_cep_multi
 * (state "cep-nfa-all"), as a user adding a rule to a running job does:
 * the open partial matches move over (cep_op.c migrate_legacy), so the
 * first rule's output is an uninterrupted run's. */
static void test_restore_added_rule(void **st)
{
	(void)st;
	crash_and_restore_as("hashmap", "hashmap", 1, 2);
	crash_and_restore_as("rocksdb", "rocksdb", 1, 2);
}

int main(void)
{
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/cep_op_test.%d", t && *t ? t : "/tmp", (int)getpid());
	mkdir(tmpdir, 0700);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_vs_reference), cmocka_unit_test(test_late_events),
		cmocka_unit_test(test_multi_patterns),       cmocka_unit_test(test_state_flat),
		cmocka_unit_test(test_restore_memory),       cmocka_unit_test(test_restore_rocksdb),
		cmocka_unit_test(test_restore_rescaled),     cmocka_unit_test(test_restore_added_rule),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rm_rf(tmpdir);
	free(g_pend);
	return rc;
}
