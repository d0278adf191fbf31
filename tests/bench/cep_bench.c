/*
 * cep_bench.c - throughput of the CEP library on a velocity rule: a
 * completed transaction followed by 5 more completed ones of the same user
 * within 2 minutes, skipping past the last event of a match (the fraud
 * seed's first rule).
 *
 * Usage: cep_bench [--mode nfa|job] [--backend hashmap|rocksdb] [--users N]
 *                  [--per-ms N] [--patterns N [--separate]] [count (default 2000000)]
 *   nfa  the NFA alone: per transaction, the user's state loaded from bytes,
 *        the event fed, the state saved back (what the operator's timer does
 *        per key), one thread;
 *   job  the whole operator in a job run in this process at parallelism 1:
 *        datagen -> timestamps (50 ms out of order) -> key_by user ->
 *        flinc_cep -> a discarding sink, on the given state backend;
 *        --patterns N runs N such rules (rule i: 5 + i more), in one
 *        flinc_cep_multi operator or, with --separate, N operators.
 * Transactions: `users` users (default 100000) drawn at random, `per-ms`
 * per millisecond of event time (default 10), 80% completed. Prints
 * transactions/s, matches and timed-out partial matches.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/cep.h>

#include "cep/cep_internal.h"
#include "fl_runtime.h"
#include "util.h"

typedef struct tx {
	int64_t id;
	int64_t user;
	int64_t ts;
	int64_t completed;
} tx;
FLINC_STRUCT_TYPE(tx_type, tx, "Tx", FLINC_TYPE_POD, FLINC_FIELD(tx, id, FLINC_FIELD_I64),
		  FLINC_FIELD(tx, user, FLINC_FIELD_I64), FLINC_FIELD(tx, ts, FLINC_FIELD_I64),
		  FLINC_FIELD(tx, completed, FLINC_FIELD_I64));

typedef struct alert {
	int64_t user, first, last;
} alert;
FLINC_STRUCT_TYPE(alert_type, alert, "Alert", FLINC_TYPE_POD, FLINC_FIELD(alert, user, FLINC_FIELD_I64),
		  FLINC_FIELD(alert, first, FLINC_FIELD_I64), FLINC_FIELD(alert, last, FLINC_FIELD_I64));

static uint64_t g_users = 100000, g_per_ms = 10, g_count = 2000000;
static int g_patterns = 1;      /* job mode: how many velocity-like rules */
static bool g_separate = false; /* ... each its own operator (else one flinc_cep_multi) */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static void make_tx(uint64_t i, tx *t)
{
	uint64_t h = mix(i + 1);
	t->id = (int64_t)i;
	t->user = (int64_t)(h % g_users);
	t->ts = 1700000000000 + (int64_t)(i / g_per_ms) + (int64_t)((h >> 32) % 41) - 20;
	t->completed = (h >> 20) % 10 < 8;
}

static bool completed(const void *ev, const flinc_cep_match *pm, const void *arg)
{
	(void)pm;
	(void)arg;
	return ((const tx *)ev)->completed != 0;
}

static flinc_cep_pattern *velocity(flinc_env *e)
{
	flinc_cep_pattern *p = flinc_cep_begin(e, "first");
	flinc_cep_where(p, completed, NULL);
	flinc_cep_followed_by(p, "more");
	flinc_cep_where(p, completed, NULL);
	flinc_cep_times(p, 5);
	flinc_cep_within(p, 2 * 60 * 1000);
	return flinc_cep_skip(p, FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);
}

/* ---- nfa mode --------------------------------------------------------- */

static uint64_t g_matches, g_timeouts;
static void count_match(void *ud, const flinc_cep_match *m, int64_t ts)
{
	(void)ud;
	(void)ts;
	(void)flinc_cep_size(m);
	g_matches++;
}
static void count_timeout(void *ud, const flinc_cep_match *m, int64_t ts)
{
	(void)ud;
	(void)m;
	(void)ts;
	g_timeouts++;
}
static const void *decode_pod(void *ud, const uint8_t *b, uint32_t len)
{
	flinc_arena *a = ud;
	void *p = flinc_arena_alloc(a, len);
	memcpy(p, b, len);
	return p;
}

static int bench_nfa(void)
{
	flinc_cep_pattern *p = velocity(NULL);
	char err[256];
	const cep_nfa *nfa = cep_compile(p, err, sizeof err);
	if (!nfa) {
		fprintf(stderr, "cep_bench: %s\n", err);
		return 1;
	}
	/* Per user: its state bytes (malloc'ed once and grown, as a backend
	 * would keep them). */
	uint8_t **st = calloc(g_users, sizeof *st);
	uint32_t *len = calloc(g_users, sizeof *len), *cap = calloc(g_users, sizeof *cap);
	flinc_arena a;
	fl_arena_init(&a, 0);
	static uint8_t buf[1 << 20];
	size_t live = 0, max_len = 0;
	double t0 = now_s();
	for (uint64_t i = 0; i < g_count; i++) {
		tx t;
		make_tx(i, &t);
		uint64_t u = (uint64_t)t.user;
		cep_rt r = {
			.on_match = count_match, .on_timeout = count_timeout, .decode = decode_pod, .ud = &a
		};
		if (len[u])
			cep_rt_load(&r, nfa, &a, st[u], len[u]);
		else
			cep_rt_init(&r, nfa, &a);
		cep_rt_advance(&r, t.ts);
		cep_rt_event(&r, &t, (const uint8_t *)&t, sizeof t, t.ts);
		if (cep_rt_empty(&r)) {
			live -= len[u];
			len[u] = 0;
		} else {
			flinc_writer w;
			flinc_writer_init(&w, buf, sizeof buf);
			cep_rt_save(&r, &w);
			uint32_t n = (uint32_t)flinc_writer_len(&w, buf);
			if (n > cap[u]) {
				cap[u] = n * 2;
				st[u] = realloc(st[u], cap[u]);
			}
			memcpy(st[u], buf, n);
			live += n;
			live -= len[u];
			len[u] = n;
			if (n > max_len) max_len = n;
		}
		fl_arena_reset(&a);
	}
	double dt = now_s() - t0;
	printf("cep_bench nfa: %llu transactions, %llu users: %.0f transactions/s; %llu matches, %llu timeouts; "
	       "state %zu bytes at the end (largest key %zu)\n",
	       (unsigned long long)g_count, (unsigned long long)g_users, (double)g_count / dt,
	       (unsigned long long)g_matches, (unsigned long long)g_timeouts, live, max_len);
	for (uint64_t u = 0; u < g_users; u++) free(st[u]);
	free(st);
	free(len);
	free(cap);
	fl_arena_fini(&a);
	flinc_cep_free(p);
	return 0;
}

/* ---- job mode --------------------------------------------------------- */

static bool gen(flinc_ctx *c, uint64_t index, void *out)
{
	(void)c;
	make_tx(index, out);
	return true;
}
static int64_t ts_of(const void *rec) { return ((const tx *)rec)->ts; }
static size_t key_user(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	memcpy(buf, &((const tx *)rec)->user, 8);
	return 8;
}
static void select_fn(flinc_ctx *c, const flinc_cep_match *m)
{
	alert a;
	const tx *f = flinc_cep_nth(m, 0, NULL, NULL);
	const tx *l = flinc_cep_nth(m, flinc_cep_size(m) - 1, NULL, NULL);
	a.user = f->user;
	a.first = f->id;
	a.last = l->id;
	flinc_emit(c, &a);
}
static size_t fmt_alert(const void *rec, char *buf, size_t cap)
{
	const alert *a = rec;
	return (size_t)snprintf(buf, cap, "%lld %lld %lld", (long long)a->user, (long long)a->first,
				(long long)a->last);
}

/* Rule i: a completed transaction followed by 5 + i more within 2 min. */
static flinc_cep_pattern *rule(flinc_env *e, int i)
{
	flinc_cep_pattern *p = flinc_cep_begin(e, "first");
	flinc_cep_where(p, completed, NULL);
	flinc_cep_followed_by(p, "more");
	flinc_cep_where(p, completed, NULL);
	flinc_cep_times(p, 5 + i);
	flinc_cep_within(p, 2 * 60 * 1000);
	return flinc_cep_skip(p, FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	flinc_stream *s = flinc_datagen(e, "txs", gen, NULL, &tx_type, g_count, 0);
	s = flinc_assign_timestamps(s, ts_of, 50, 0);
	flinc_cep_opts o[16];
	flinc_cep_pattern *p[16];
	for (int i = 0; i < g_patterns; i++) {
		o[i] = (flinc_cep_opts){ .select = select_fn, .out = &alert_type };
		p[i] = rule(e, i);
	}
	flinc_stream *m;
	if (g_separate) {
		m = flinc_cep(flinc_key_by(s, key_user), "rule0", p[0], &o[0]);
		for (int i = 1; i < g_patterns; i++)
			m = flinc_union(m, flinc_cep(flinc_key_by(s, key_user), "rule", p[i], &o[i]));
	} else {
		m = flinc_cep_multi(flinc_key_by(s, key_user), "rules", (size_t)g_patterns, p, o);
	}
	return flinc_sink_to(m, "alerts", "", fmt_alert);
}

static int bench_job(const char *backend)
{
	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "state.backend", backend);
	flinc_env *e = fl_env_create("cep_bench", conf, 1);
	const char *msg = NULL;
	char *argv[] = { "cep_bench", NULL };
	if (fl_env_build(e, build, 1, argv, &msg) != FLINC_OK) {
		fprintf(stderr, "cep_bench: %s\n", msg ? msg : "build failed");
		return 1;
	}
	fl_local_params lp = { .env = e, .conf = conf };
	fl_local *job = NULL;
	char err[512];
	fl_run_stats stats;
	memset(&stats, 0, sizeof stats);
	double t0 = now_s();
	int rc = fl_local_create(&lp, &job, err, sizeof err);
	if (rc == FLINC_OK) rc = fl_local_run(job, &stats, err, sizeof err);
	double dt = now_s() - t0;
	if (rc != FLINC_OK)
		fprintf(stderr, "cep_bench: %s\n", err);
	else
		printf("cep_bench job (%s, p=1, %d rule%s%s): %llu transactions, %llu users: %.0f transactions/s "
		       "(%.2f s)\n",
		       backend, g_patterns, g_patterns > 1 ? "s" : "",
		       g_patterns > 1 ? (g_separate ? " in separate operators" : " in one operator") : "",
		       (unsigned long long)g_count, (unsigned long long)g_users, (double)g_count / dt, dt);
	fl_local_destroy(job);
	fl_env_destroy(e);
	fl_conf_destroy(conf);
	return rc == FLINC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode = "nfa", *backend = "hashmap";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mode") && i + 1 < argc)
			mode = argv[++i];
		else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
			backend = argv[++i];
		else if (!strcmp(argv[i], "--users") && i + 1 < argc)
			g_users = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--patterns") && i + 1 < argc)
			g_patterns = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--separate"))
			g_separate = true;
		else if (!strcmp(argv[i], "--per-ms") && i + 1 < argc)
			g_per_ms = strtoull(argv[++i], NULL, 10);
		else if (argv[i][0] != '-')
			g_count = strtoull(argv[i], NULL, 10);
		else {
			fprintf(stderr,
				"usage: cep_bench [--mode nfa|job] [--backend hashmap|rocksdb] [--users N] "
				"[--per-ms N] [count]\n");
			return 2;
		}
	}
	if (!g_users || !g_per_ms || g_patterns < 1 || g_patterns > 16) return 2;
	if (!strcmp(mode, "nfa")) return bench_nfa();
	if (!strcmp(mode, "job")) return bench_job(backend);
	fprintf(stderr, "cep_bench: unknown mode '%s'\n", mode);
	return 2;
}
