/*
 * timers_test.c - the timer queue (runtime/src/timers.c): ordering, dedup,
 * removal, popping while adding, a million timers, scans, long keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timers.h"

static bool add_k(fl_timers *t, int64_t ts, uint64_t key, const char *ns)
{
	return fl_timers_add(t, ts, (uint16_t)(key % 128), &key, sizeof key, ns,
			     ns ? (uint32_t)strlen(ns) : 0);
}

static bool rm_k(fl_timers *t, int64_t ts, uint64_t key, const char *ns)
{
	return fl_timers_remove(t, ts, (uint16_t)(key % 128), &key, sizeof key, ns,
				ns ? (uint32_t)strlen(ns) : 0);
}

static uint64_t key_of(const fl_timer *tm)
{
	uint64_t k;
	assert_int_equal(tm->klen, sizeof k);
	memcpy(&k, tm->key, sizeof k);
	return k;
}

/* xorshift: deterministic pseudo-random times */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_empty(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	fl_timer tm;
	assert_int_equal(fl_timers_next(t), INT64_MAX);
	assert_int_equal(fl_timers_count(t), 0);
	assert_false(fl_timers_pop(t, INT64_MAX, &tm));
	assert_false(rm_k(t, 1, 1, NULL));
	fl_timers_destroy(t);
	fl_timers_destroy(NULL);
}

static void test_ordering(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	int64_t times[] = { 50, -7, 3, INT64_MAX, 3000, 0, INT64_MIN, 49, 51, 2 };
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) assert_true(add_k(t, times[i], i, "w"));
	assert_int_equal(fl_timers_count(t), 10);
	assert_int_equal(fl_timers_next(t), INT64_MIN);
	fl_timer tm;
	/* nothing above `upto` comes out */
	int64_t last = INT64_MIN;
	int n = 0;
	while (fl_timers_pop(t, 50, &tm)) {
		assert_true(tm.ts <= 50);
		assert_true(tm.ts >= last);
		assert_int_equal(times[key_of(&tm)], tm.ts);
		assert_int_equal(tm.nslen, 1);
		assert_memory_equal(tm.ns, "w", 1);
		last = tm.ts;
		n++;
	}
	assert_int_equal(n, 7);
	assert_int_equal(fl_timers_next(t), 51);
	assert_true(fl_timers_pop(t, INT64_MAX, &tm) && tm.ts == 51);
	assert_true(fl_timers_pop(t, INT64_MAX, &tm) && tm.ts == 3000);
	assert_true(fl_timers_pop(t, INT64_MAX, &tm) && tm.ts == INT64_MAX);
	assert_false(fl_timers_pop(t, INT64_MAX, &tm));
	assert_int_equal(fl_timers_count(t), 0);
	fl_timers_destroy(t);
}

static void test_dedup(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	assert_true(add_k(t, 10, 1, "a"));
	assert_false(add_k(t, 10, 1, "a"));
	assert_true(add_k(t, 10, 1, "b"));  /* other namespace */
	assert_true(add_k(t, 10, 2, "a"));  /* other key */
	assert_true(add_k(t, 11, 1, "a"));  /* other time */
	assert_true(add_k(t, 10, 1, NULL)); /* no namespace */
	assert_false(add_k(t, 10, 1, NULL));
	/* same bytes split differently between key and namespace */
	assert_true(fl_timers_add(t, 5, 0, "ab", 2, "c", 1));
	assert_true(fl_timers_add(t, 5, 0, "a", 1, "bc", 2));
	assert_false(fl_timers_add(t, 5, 0, "ab", 2, "c", 1));
	/* other key group */
	assert_true(fl_timers_add(t, 5, 1, "ab", 2, "c", 1));
	assert_int_equal(fl_timers_count(t), 8);
	fl_timer tm;
	int n = 0;
	while (fl_timers_pop(t, INT64_MAX, &tm)) n++;
	assert_int_equal(n, 8);
	/* popped timers can be added again */
	assert_true(add_k(t, 10, 1, "a"));
	assert_int_equal(fl_timers_count(t), 1);
	fl_timers_destroy(t);
}

static void test_remove(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	for (uint64_t i = 0; i < 100; i++) assert_true(add_k(t, (int64_t)i, i, "ns"));
	/* remove the top, the bottom and every third */
	assert_true(rm_k(t, 0, 0, "ns"));
	assert_false(rm_k(t, 0, 0, "ns"));
	assert_true(rm_k(t, 99, 99, "ns"));
	for (uint64_t i = 3; i < 99; i += 3) assert_true(rm_k(t, (int64_t)i, i, "ns"));
	assert_false(rm_k(t, 5, 5, "other"));
	assert_false(rm_k(t, 6, 5, "ns"));
	assert_int_equal(fl_timers_next(t), 1);
	size_t expect = fl_timers_count(t);
	assert_int_equal(expect, 100 - 2 - 32);
	/* removing and adding back: the stale heap entry must not resurface */
	assert_true(rm_k(t, 1, 1, "ns"));
	assert_int_equal(fl_timers_next(t), 2);
	assert_true(add_k(t, 1, 1, "ns"));
	assert_int_equal(fl_timers_next(t), 1);
	fl_timer tm;
	size_t n = 0;
	int64_t last = INT64_MIN;
	while (fl_timers_pop(t, INT64_MAX, &tm)) {
		assert_true(tm.ts > last); /* no duplicate comes out */
		assert_true(tm.ts % 3 != 0);
		assert_int_equal(key_of(&tm), (uint64_t)tm.ts);
		last = tm.ts;
		n++;
	}
	assert_int_equal(n, expect);
	fl_timers_destroy(t);
}

/* Heavy remove traffic: the lazily removed heap entries are compacted. */
static void test_remove_churn(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	for (int round = 0; round < 50; round++) {
		for (uint64_t i = 0; i < 2000; i++) assert_true(add_k(t, 1000000 + (int64_t)i, i, "s"));
		for (uint64_t i = 0; i < 2000; i++) assert_true(rm_k(t, 1000000 + (int64_t)i, i, "s"));
		assert_int_equal(fl_timers_count(t), 0);
		assert_int_equal(fl_timers_next(t), INT64_MAX);
	}
	assert_true(add_k(t, 7, 7, "s"));
	fl_timer tm;
	assert_true(fl_timers_pop(t, 7, &tm));
	assert_int_equal(key_of(&tm), 7);
	assert_false(fl_timers_pop(t, INT64_MAX, &tm));
	fl_timers_destroy(t);
}

/* Timers added while popping (even at or before `upto`) come out in turn. */
static void test_pop_while_adding(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	add_k(t, 10, 1, "x");
	add_k(t, 100, 2, "x");
	fl_timer tm;
	int64_t seen[16];
	int n = 0;
	while (fl_timers_pop(t, 50, &tm)) {
		seen[n++] = tm.ts;
		uint64_t k = key_of(&tm);
		/* a chain: each timer below 40 adds the next one 10 later, and one
		 * in the past */
		if (k == 1 && tm.ts < 40) assert_true(add_k(t, tm.ts + 10, k, "x"));
		if (tm.ts == 20) assert_true(add_k(t, 5, 99, "x"));
		assert_true(n < 16);
	}
	int64_t expect[] = { 10, 20, 5, 30, 40 };
	assert_int_equal(n, 5);
	for (int i = 0; i < n; i++) assert_int_equal(seen[i], expect[i]);
	assert_int_equal(fl_timers_next(t), 100);
	assert_int_equal(fl_timers_count(t), 1);
	fl_timers_destroy(t);
}

/* The popped key stays readable until the next call on the queue. */
static void test_pop_pointer(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	char big[300];
	for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
	assert_true(fl_timers_add(t, 1, 3, big, 256, big + 256, 44));
	assert_true(fl_timers_add(t, 2, 3, "k", 1, NULL, 0));
	fl_timer tm;
	assert_true(fl_timers_pop(t, 1, &tm));
	assert_int_equal(tm.kg, 3);
	assert_int_equal(tm.klen, 256);
	assert_int_equal(tm.nslen, 44);
	assert_memory_equal(tm.key, big, 256);
	assert_memory_equal(tm.ns, big + 256, 44);
	assert_true(fl_timers_pop(t, 2, &tm));
	assert_int_equal(tm.klen, 1);
	assert_int_equal(tm.nslen, 0);
	assert_memory_equal(tm.key, "k", 1);
	/* a long key reusing a slot that had a long key */
	assert_true(fl_timers_add(t, 3, 0, big + 1, 256, big, 40));
	assert_true(fl_timers_pop(t, 3, &tm));
	assert_memory_equal(tm.key, big + 1, 256);
	assert_memory_equal(tm.ns, big, 40);
	fl_timers_destroy(t);
}

/* peek: what pop returns next, within upto, without taking it; the timer
 * pop returned stays readable after a peek. */
static void test_peek(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	fl_timer tm, nx;
	assert_false(fl_timers_peek(t, INT64_MAX, &nx));
	assert_true(fl_timers_add(t, 20, 2, "b", 1, NULL, 0));
	assert_true(fl_timers_add(t, 10, 1, "a", 1, "ns", 2));
	assert_false(fl_timers_peek(t, 9, &nx));
	assert_true(fl_timers_peek(t, 10, &nx));
	assert_int_equal(nx.ts, 10);
	assert_int_equal(nx.kg, 1);
	assert_memory_equal(nx.key, "a", 1);
	assert_memory_equal(nx.ns, "ns", 2);
	assert_int_equal(fl_timers_count(t), 2);
	assert_true(fl_timers_pop(t, 100, &tm));
	assert_true(fl_timers_peek(t, 100, &nx));
	assert_int_equal(nx.ts, 20);
	assert_memory_equal(nx.key, "b", 1);
	assert_int_equal(tm.ts, 10); /* still what pop gave */
	assert_memory_equal(tm.key, "a", 1);
	assert_true(fl_timers_pop(t, 100, &tm));
	assert_int_equal(tm.ts, 20);
	assert_false(fl_timers_peek(t, INT64_MAX, &nx));
	fl_timers_destroy(t);
}

typedef struct scan_ud {
	uint8_t *seen;
	size_t n;
	int stop_after;
} scan_ud;

static int scan_fn(void *ud, const fl_timer *tm)
{
	scan_ud *u = ud;
	uint64_t k = key_of(tm);
	assert_true(k < 1000);
	assert_int_equal(tm->ts, (int64_t)k * 2);
	assert_int_equal(tm->kg, (uint16_t)(k % 128));
	assert_int_equal(u->seen[k], 0);
	u->seen[k] = 1;
	u->n++;
	if (u->stop_after && (int)u->n == u->stop_after) return 42;
	return 0;
}

static void test_scan(void **st)
{
	(void)st;
	fl_timers *t = fl_timers_create();
	for (uint64_t i = 0; i < 1000; i++) add_k(t, (int64_t)i * 2, i, "ns");
	for (uint64_t i = 0; i < 1000; i += 2) rm_k(t, (int64_t)i * 2, i, "ns");
	fl_timer tm;
	for (int i = 0; i < 100; i++) assert_true(fl_timers_pop(t, INT64_MAX, &tm)); /* odd 1..199 */
	uint8_t seen[1000] = { 0 };
	scan_ud u = { seen, 0, 0 };
	assert_int_equal(fl_timers_scan(t, scan_fn, &u), 0);
	assert_int_equal(u.n, 400);
	for (int i = 0; i < 1000; i++) assert_int_equal(seen[i], i % 2 == 1 && i >= 200);
	/* a non-zero return stops the scan and is returned */
	memset(seen, 0, sizeof seen);
	scan_ud u2 = { seen, 0, 10 };
	assert_int_equal(fl_timers_scan(t, scan_fn, &u2), 42);
	assert_int_equal(u2.n, 10);
	fl_timers_destroy(t);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* A million timers in random order (with duplicates and removals), popped
 * back in order, in steps like advancing watermarks. */
static void test_million(void **st)
{
	(void)st;
	const size_t N = 1000000;
	fl_timers *t = fl_timers_create();
	int64_t *ts = malloc(N * sizeof *ts);
	assert_non_null(ts);
	for (size_t i = 0; i < N; i++) {
		ts[i] = (int64_t)(rnd() % 10000000);
		assert_true(add_k(t, ts[i], i, "0123456789abcdef"));
	}
	for (size_t i = 0; i < N; i += 10) assert_false(add_k(t, ts[i], i, "0123456789abcdef"));
	assert_int_equal(fl_timers_count(t), N);
	/* remove every 7th */
	size_t kept = 0;
	for (size_t i = 0; i < N; i++) {
		if (i % 7 == 0)
			assert_true(rm_k(t, ts[i], i, "0123456789abcdef"));
		else
			ts[kept++] = ts[i];
	}
	assert_int_equal(fl_timers_count(t), kept);
	qsort(ts, kept, sizeof *ts, cmp_i64);
	fl_timer tm;
	size_t n = 0;
	for (int64_t wm = 0; wm <= 10000000; wm += 250000) {
		while (fl_timers_pop(t, wm, &tm)) {
			assert_true(n < kept);
			if (tm.ts != ts[n])
				fail_msg("pop %zu: got %lld, want %lld", n, (long long)tm.ts,
					 (long long)ts[n]);
			n++;
		}
		assert_true(fl_timers_next(t) > wm);
	}
	assert_int_equal(n, kept);
	assert_int_equal(fl_timers_count(t), 0);
	/* slots are reused: a second round works the same */
	for (size_t i = 0; i < 1000; i++) assert_true(add_k(t, (int64_t)(1000 - i), i, "x"));
	for (int64_t want = 1; want <= 1000; want++) {
		assert_true(fl_timers_pop(t, INT64_MAX, &tm));
		assert_int_equal(tm.ts, want);
	}
	free(ts);
	fl_timers_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),        cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_dedup),        cmocka_unit_test(test_remove),
		cmocka_unit_test(test_remove_churn), cmocka_unit_test(test_pop_while_adding),
		cmocka_unit_test(test_pop_pointer),  cmocka_unit_test(test_scan),
		cmocka_unit_test(test_peek),         cmocka_unit_test(test_million),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
