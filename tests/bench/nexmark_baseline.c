/*
 * nexmark_baseline.c - the hand-written single-threaded reference for the
 * Nexmark benchmark: one tight C loop per query that generates the events
 * with the job's own generator (jobs/common/nexmark_gen.c) and computes the
 * query's full result, then prints events per second. The engine's
 * `nexmark.so --query N` (with no --output) is compared against it.
 *
 *   nexmark_baseline [--query gen|0|1|2|5|7|all] [--events N] [--seed S] [--rate R]
 *
 * --rate is the event-time rate (events per second of event time; it sets
 * how many events share a window). Every result row is built and folded into
 * a checksum (the engine's discarding sink still receives every row), so no
 * work can be optimised away; nothing is printed per row.
 *
 * What each loop does (the straightforward way a good C programmer would):
 *   gen  generate only (the cost every query below includes)
 *   q0   bids pass through
 *   q1   bids with price * 0.908 as exact thousandths
 *   q2   bids with auction % 123 == 0
 *   q5   per 2 s slice a hash table auction -> count; when event time passes
 *        a window end, the window's five slices are merged into one table,
 *        the max count found and the auctions with it emitted
 *   q7   running max (and its ties) of the current 10 s window; a bid made
 *        exactly at the end of the previous window with that window's max
 *        price is also emitted (the SQL's BETWEEN is inclusive)
 * The generator's stream is ordered by event time, so event time itself is
 * the watermark; end of input fires the remaining windows.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nexmark_gen.h"

#define WINDOW_MS 10000
#define SLIDE_MS 2000
#define SLICES (WINDOW_MS / SLIDE_MS)

typedef struct result {
	uint64_t rows;
	uint64_t sum; /* checksum over every field of every row */
} result;

static inline void fold(result *r, uint64_t v)
{
	r->rows++;
	r->sum = (r->sum ^ v) * UINT64_C(0x100000001b3);
}

static inline uint64_t str_sig(nexmark_str s) { return s.len ? s.len * 131u + (unsigned char)s.p[0] : 0; }

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ---- an open-addressing table int64 -> count ------------------------- */

typedef struct ctab {
	int64_t *keys;
	int64_t *vals;
	uint32_t *used;  /* slots in use, in insertion order (for scans and reset) */
	uint32_t n, cap; /* cap: power of two */
} ctab;

#define EMPTY INT64_MIN

static void ctab_init(ctab *t, uint32_t cap)
{
	t->cap = cap;
	t->n = 0;
	t->keys = malloc(sizeof *t->keys * cap);
	t->vals = malloc(sizeof *t->vals * cap);
	t->used = malloc(sizeof *t->used * cap);
	if (!t->keys || !t->vals || !t->used) {
		fprintf(stderr, "nexmark_baseline: out of memory\n");
		exit(1);
	}
	for (uint32_t i = 0; i < cap; i++) t->keys[i] = EMPTY;
}

static void ctab_free(ctab *t)
{
	free(t->keys);
	free(t->vals);
	free(t->used);
}

static void ctab_clear(ctab *t)
{
	for (uint32_t i = 0; i < t->n; i++) t->keys[t->used[i]] = EMPTY;
	t->n = 0;
}

static inline uint32_t slot_of(const ctab *t, int64_t k)
{
	return (uint32_t)(((uint64_t)k * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (t->cap - 1);
}

static void ctab_grow(ctab *t)
{
	ctab old = *t;
	ctab_init(t, old.cap * 2);
	for (uint32_t i = 0; i < old.n; i++) {
		uint32_t s = old.used[i];
		uint32_t j = slot_of(t, old.keys[s]);
		while (t->keys[j] != EMPTY) j = (j + 1) & (t->cap - 1);
		t->keys[j] = old.keys[s];
		t->vals[j] = old.vals[s];
		t->used[t->n++] = j;
	}
	ctab_free(&old);
}

static inline void ctab_add(ctab *t, int64_t k, int64_t v)
{
	uint32_t j = slot_of(t, k);
	while (t->keys[j] != EMPTY) {
		if (t->keys[j] == k) {
			t->vals[j] += v;
			return;
		}
		j = (j + 1) & (t->cap - 1);
	}
	if ((t->n + 1) * 2 > t->cap) {
		ctab_grow(t);
		ctab_add(t, k, v);
		return;
	}
	t->keys[j] = k;
	t->vals[j] = v;
	t->used[t->n++] = j;
}

/* ---- the queries ----------------------------------------------------- */

typedef struct run {
	const nexmark_gen_cfg *cfg;
	uint64_t events;
} run;

#define FOR_EACH_EVENT(R, EV)               \
	char scratch_[NEXMARK_SCRATCH_MAX]; \
	nexmark_event EV;                   \
	for (uint64_t k_ = 0;               \
	     k_ < (R)->events && nexmark_gen_event((R)->cfg, k_, &EV, scratch_, sizeof scratch_) == 0; k_++)

static result q_gen(const run *r)
{
	result res = { 0, 0 };
	FOR_EACH_EVENT(r, e) { fold(&res, (uint64_t)nexmark_event_time(&e) + e.kind); }
	return res;
}

static result q0(const run *r)
{
	result res = { 0, 0 };
	FOR_EACH_EVENT(r, e)
	{
		if (e.kind != NEXMARK_BID) continue;
		const nexmark_bid *b = &e.u.bid;
		fold(&res,
		     (uint64_t)b->auction ^ (uint64_t)b->bidder << 20 ^ (uint64_t)b->price << 7 ^
			     (uint64_t)b->date_time ^ str_sig(b->extra));
	}
	return res;
}

static result q1(const run *r)
{
	result res = { 0, 0 };
	FOR_EACH_EVENT(r, e)
	{
		if (e.kind != NEXMARK_BID) continue;
		const nexmark_bid *b = &e.u.bid;
		int64_t milli = b->price * 908; /* 0.908 * price in thousandths */
		fold(&res,
		     (uint64_t)b->auction ^ (uint64_t)b->bidder << 20 ^ (uint64_t)milli << 7 ^
			     (uint64_t)b->date_time ^ str_sig(b->extra));
	}
	return res;
}

static result q2(const run *r)
{
	result res = { 0, 0 };
	FOR_EACH_EVENT(r, e)
	{
		if (e.kind == NEXMARK_BID && e.u.bid.auction % 123 == 0)
			fold(&res, (uint64_t)e.u.bid.auction << 32 ^ (uint64_t)e.u.bid.price);
	}
	return res;
}

/* q5: slices[x % SLICES] holds the counts of slice x (time [x*2s, x*2s+2s)). */
typedef struct q5_state {
	ctab slices[SLICES];
	int64_t slice_id[SLICES];
	ctab merged;
	int64_t cur; /* newest slice seen; INT64_MIN before the first bid */
} q5_state;

/* Fire the window made of slices e-5 .. e-1 (it ends at e * 2 s). */
static void q5_fire(q5_state *s, int64_t e, result *res)
{
	ctab *m = &s->merged;
	ctab_clear(m);
	for (int64_t x = e - SLICES; x < e; x++) {
		int i = (int)(((x % SLICES) + SLICES) % SLICES);
		if (s->slice_id[i] != x) continue;
		ctab *t = &s->slices[i];
		for (uint32_t j = 0; j < t->n; j++) ctab_add(m, t->keys[t->used[j]], t->vals[t->used[j]]);
	}
	if (!m->n) return;
	int64_t max = 0;
	for (uint32_t j = 0; j < m->n; j++)
		if (m->vals[m->used[j]] > max) max = m->vals[m->used[j]];
	int64_t end = e * SLIDE_MS;
	for (uint32_t j = 0; j < m->n; j++)
		if (m->vals[m->used[j]] == max)
			fold(res,
			     (uint64_t)m->keys[m->used[j]] << 24 ^ (uint64_t)max << 8 ^
				     (uint64_t)(end - WINDOW_MS) ^ (uint64_t)end);
}

/* Event time moved into slice `to`: fire every window ending by then and
 * recycle the slice that none of the later windows needs. */
static void q5_advance(q5_state *s, int64_t to, result *res)
{
	bool first = s->cur == INT64_MIN;
	for (int64_t e = first ? to : s->cur + 1; e <= to; e++) {
		/* Across a gap, the windows between the last SLICES after the old
		 * slice and the SLICES slots to recycle before the new one are empty. */
		if (!first && e > s->cur + SLICES && e < to - SLICES) e = to - SLICES;
		if (!first) q5_fire(s, e, res);
		int i = (int)(((e % SLICES) + SLICES) % SLICES);
		ctab_clear(&s->slices[i]);
		s->slice_id[i] = e;
	}
	s->cur = to;
}

static result q5(const run *r)
{
	result res = { 0, 0 };
	q5_state s;
	for (int i = 0; i < SLICES; i++) {
		ctab_init(&s.slices[i], 1024);
		s.slice_id[i] = INT64_MIN;
	}
	ctab_init(&s.merged, 1024);
	s.cur = INT64_MIN;
	FOR_EACH_EVENT(r, e)
	{
		if (e.kind != NEXMARK_BID) continue;
		int64_t ts = e.u.bid.date_time;
		int64_t x = ts >= 0 ? ts / SLIDE_MS : -((-ts + SLIDE_MS - 1) / SLIDE_MS);
		if (x != s.cur) q5_advance(&s, x, &res);
		ctab_add(&s.slices[((x % SLICES) + SLICES) % SLICES], e.u.bid.auction, 1);
	}
	if (s.cur != INT64_MIN) /* end of input: the windows holding the last slices */
		for (int64_t end = s.cur + 1; end <= s.cur + SLICES; end++) q5_fire(&s, end, &res);
	for (int i = 0; i < SLICES; i++) ctab_free(&s.slices[i]);
	ctab_free(&s.merged);
	return res;
}

/* q7 */
typedef struct q7_row {
	int64_t auction, price, bidder, date_time;
	nexmark_str extra;
} q7_row;

static inline void q7_emit(result *res, const q7_row *b)
{
	fold(res,
	     (uint64_t)b->auction ^ (uint64_t)b->price << 9 ^ (uint64_t)b->bidder << 30 ^
		     (uint64_t)b->date_time ^ str_sig(b->extra));
}

static result q7(const run *r)
{
	result res = { 0, 0 };
	size_t cap = 16, n = 0; /* ties of the current window's max */
	q7_row *top = malloc(cap * sizeof *top);
	if (!top) return res;
	int64_t ws = INT64_MIN, max = 0;            /* current window */
	int64_t prev_end = INT64_MIN, prev_max = 0; /* the window before it */
	FOR_EACH_EVENT(r, e)
	{
		if (e.kind != NEXMARK_BID) continue;
		const nexmark_bid *b = &e.u.bid;
		int64_t w = b->date_time - ((b->date_time % WINDOW_MS) + WINDOW_MS) % WINDOW_MS;
		if (w != ws) {
			for (size_t i = 0; i < n; i++) /* the window is complete */
				q7_emit(&res, &top[i]);
			prev_end = ws == INT64_MIN ? INT64_MIN : ws + WINDOW_MS;
			prev_max = max;
			ws = w;
			n = 0;
		}
		q7_row row = { b->auction, b->price, b->bidder, b->date_time, b->extra };
		if (b->date_time == prev_end && b->price == prev_max) q7_emit(&res, &row);
		if (n == 0 || b->price > max) {
			max = b->price;
			top[0] = row;
			n = 1;
		} else if (b->price == max) {
			if (n == cap) {
				q7_row *t = realloc(top, 2 * cap * sizeof *top);
				if (!t) break;
				top = t;
				cap *= 2;
			}
			top[n++] = row;
		}
	}
	for (size_t i = 0; i < n; i++) q7_emit(&res, &top[i]);
	free(top);
	return res;
}

/* ---- main ------------------------------------------------------------ */

static const struct {
	const char *name;
	result (*fn)(const run *);
} QUERIES[] = { { "gen", q_gen }, { "0", q0 }, { "1", q1 }, { "2", q2 }, { "5", q5 }, { "7", q7 } };
#define NQ (sizeof QUERIES / sizeof QUERIES[0])

static void usage(FILE *f)
{
	fprintf(f,
		"usage: nexmark_baseline [--query gen|0|1|2|5|7|all] [--events N] [--seed S] [--rate R]\n"
		"  --events N  events to generate (default 10000000)\n"
		"  --seed S    generator seed (default 0)\n"
		"  --rate R    events per second of event time (default 10000)\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-') return false;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end) return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	const char *query = "all";
	uint64_t events = 10000000, seed = 0, rate = NEXMARK_DEFAULT_RATE;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--query") && v) {
			query = v;
		} else if (!strcmp(a, "--events") && parse_u64(v, &events)) {
		} else if (!strcmp(a, "--seed") && parse_u64(v, &seed)) {
		} else if (!strcmp(a, "--rate") && parse_u64(v, &rate)) {
		} else {
			fprintf(stderr, "nexmark_baseline: bad argument '%s' (try --help)\n", a);
			return 2;
		}
		i++;
	}
	nexmark_gen_cfg cfg;
	nexmark_gen_cfg_default(&cfg);
	cfg.seed = seed;
	cfg.rate = rate;
	const char *bad = nexmark_gen_cfg_check(&cfg);
	if (bad) {
		fprintf(stderr, "nexmark_baseline: %s\n", bad);
		return 2;
	}
	run r = { &cfg, events };
	bool any = false;
	for (size_t i = 0; i < NQ; i++) {
		if (strcmp(query, "all") != 0 && strcmp(query, QUERIES[i].name) != 0) continue;
		any = true;
		double t0 = now_s();
		result res = QUERIES[i].fn(&r);
		double dt = now_s() - t0;
		printf("%s%-3s events=%llu time=%.3fs rate=%.0f events/s rows=%llu checksum=%016llx\n",
		       strcmp(QUERIES[i].name, "gen") ? "q" : "", QUERIES[i].name, (unsigned long long)events,
		       dt, dt > 0 ? (double)events / dt : 0.0, (unsigned long long)res.rows,
		       (unsigned long long)res.sum);
		fflush(stdout);
	}
	if (!any) {
		fprintf(stderr, "nexmark_baseline: unknown query '%s' (gen, 0, 1, 2, 5, 7 or all)\n", query);
		return 2;
	}
	return 0;
}
