/*
 * state_test.c - keyed state backends.
 *
 * The conformance suite is a list of functions taking the backend's ops; it
 * runs once per backend in `backends[]` (hashmap and rocksdb). It includes
 * the choices the contract leaves open that every backend makes alike (kind
 * checks, put_inplace on another length, key-group range checks at open).
 * Then come the memory-specific tests (pointer identity, slab and
 * large-value paths, copy-on-write snapshots: compared with the state at
 * snap_open and with a twin instance that takes none, scanned from another
 * thread while the owner mutates, their lifecycle and the epoch wrap) and
 * the RocksDB-specific ones (native checkpoints, many key groups, the
 * working folder, small buffers and a tiny put_inplace cache that force
 * flushes, compactions and evictions).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw, mkdtemp */
#endif
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_state.h"
#include "fl_base.h" /* fl_conf, for backend-specific keys */

/* ---- harness ---------------------------------------------------------- */

typedef struct sbe {
	const fl_backend_ops *ops;
	void *be;
	char dir[64];
} sbe;

/* Configuration given to backends opened by sbe_open (NULL: defaults). */
static const fl_conf *g_conf;

/* Open a fresh instance of ops owning key groups 0..127 of 128, with its
 * own temporary folder. Fails the test on error. */
static sbe *sbe_open(const fl_backend_ops *ops)
{
	sbe *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->ops = ops;
	s->be = calloc(1, ops->priv_size ? ops->priv_size : 1);
	assert_non_null(s->be);
	snprintf(s->dir, sizeof(s->dir), "/tmp/flinc-state-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	fl_backend_params p = {
		.kg_first = 0, .kg_last = 127, .max_parallelism = 128, .dir = s->dir, .conf = g_conf
	};
	char err[256] = "";
	int rc = ops->open(s->be, &p, err, sizeof(err));
	if (rc) fail_msg("open %s: %d %s", ops->name, rc, err);
	return s;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void sbe_close(sbe *s)
{
	s->ops->close(s->be);
	nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(s->be);
	free(s);
}

static uint32_t declare(sbe *s, const char *name, fl_state_kind kind)
{
	uint32_t sid = UINT32_MAX;
	assert_int_equal(s->ops->declare(s->be, name, kind, &sid), FLINC_OK);
	return sid;
}

static fl_skey K(uint16_t kg, const void *key, size_t klen, const void *ns, size_t nslen)
{
	fl_skey k = { .kg = kg,
		      .klen = (uint32_t)klen,
		      .nslen = (uint32_t)nslen,
		      .key = key,
		      .ns = ns,
		      .khash = fl_key_hash(FL_KEY_HASH_XXH3, key, klen) };
	return k;
}

/* A key made of a C string, in the empty namespace or a string one. */
static fl_skey KS(uint16_t kg, const char *key, const char *ns)
{
	return K(kg, key, strlen(key), ns, ns ? strlen(ns) : 0);
}

static void put_s(sbe *s, uint32_t sid, fl_skey k, const char *v)
{
	assert_int_equal(s->ops->put(s->be, sid, &k, v, strlen(v)), FLINC_OK);
}

/* Assert that k holds exactly v (NULL: absent). */
static void expect_val(sbe *s, uint32_t sid, fl_skey k, const void *v, size_t vlen)
{
	const void *got = NULL;
	size_t len = 12345;
	int rc = s->ops->get(s->be, sid, &k, &got, &len);
	if (!v) {
		assert_int_equal(rc, FLINC_ENOENT);
		return;
	}
	assert_int_equal(rc, FLINC_OK);
	assert_int_equal(len, vlen);
	if (vlen) assert_memory_equal(got, v, vlen);
}

static void expect_s(sbe *s, uint32_t sid, fl_skey k, const char *v)
{
	expect_val(s, sid, k, v, v ? strlen(v) : 0);
}

static void expect_map(sbe *s, uint32_t sid, fl_skey k, const char *uk, const char *v)
{
	const void *got = NULL;
	size_t len = 0;
	int rc = s->ops->map_get(s->be, sid, &k, uk, strlen(uk), &got, &len);
	if (!v) {
		assert_int_equal(rc, FLINC_ENOENT);
		return;
	}
	assert_int_equal(rc, FLINC_OK);
	assert_int_equal(len, strlen(v));
	assert_memory_equal(got, v, len);
}

static uint32_t rd_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* A small deterministic generator (xorshift64*), so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* ---- conformance: value state ---------------------------------------- */

static void c_value_basic(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	fl_skey k = KS(3, "alice", NULL);

	expect_s(s, v, k, NULL);
	assert_int_equal(ops->count(s->be, v), 0);
	put_s(s, v, k, "one");
	expect_s(s, v, k, "one");
	assert_int_equal(ops->count(s->be, v), 1);
	put_s(s, v, k, "a longer second value that will not fit where the first one was");
	expect_s(s, v, k, "a longer second value that will not fit where the first one was");
	put_s(s, v, k, "3");
	expect_s(s, v, k, "3");
	assert_int_equal(ops->count(s->be, v), 1);

	/* A zero-length value is present, not absent. */
	assert_int_equal(ops->put(s->be, v, &k, "", 0), FLINC_OK);
	expect_val(s, v, k, "", 0);

	/* An empty key in the empty namespace is a key like any other. */
	fl_skey empty = K(3, NULL, 0, NULL, 0);
	expect_s(s, v, empty, NULL);
	put_s(s, v, empty, "empty");
	expect_s(s, v, empty, "empty");
	assert_int_equal(ops->count(s->be, v), 2);

	assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
	expect_s(s, v, k, NULL);
	expect_s(s, v, empty, "empty");
	assert_int_equal(ops->count(s->be, v), 1);
	/* Removing what is absent is fine. */
	assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
	fl_skey never = KS(9, "never", "seen");
	assert_int_equal(ops->remove(s->be, v, &never), FLINC_OK);
	assert_int_equal(ops->count(s->be, v), 1);

	/* Binary keys with NUL bytes compare by all their bytes. */
	uint8_t k1[8] = { 1, 0, 0, 0, 0, 0, 0, 0 }, k2[8] = { 1, 0, 0, 0, 0, 0, 0, 1 };
	put_s(s, v, K(0, k1, 8, NULL, 0), "k1");
	put_s(s, v, K(0, k2, 8, NULL, 0), "k2");
	expect_s(s, v, K(0, k1, 8, NULL, 0), "k1");
	expect_s(s, v, K(0, k2, 8, NULL, 0), "k2");
	expect_s(s, v, K(0, k1, 7, NULL, 0), NULL);
	sbe_close(s);
}

static void c_namespaces(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/w", FL_STATE_VALUE);
	put_s(s, v, KS(1, "k", NULL), "plain");
	put_s(s, v, KS(1, "k", "w1"), "window 1");
	put_s(s, v, KS(1, "k", "w2"), "window 2");
	expect_s(s, v, KS(1, "k", NULL), "plain");
	expect_s(s, v, KS(1, "k", "w1"), "window 1");
	expect_s(s, v, KS(1, "k", "w2"), "window 2");
	expect_s(s, v, KS(1, "k", "w3"), NULL);
	/* The split between key and namespace matters: "ab"+"" != "a"+"b". */
	put_s(s, v, KS(1, "ab", NULL), "ab|");
	put_s(s, v, KS(1, "a", "b"), "a|b");
	put_s(s, v, KS(1, "", "ab"), "|ab");
	expect_s(s, v, KS(1, "ab", NULL), "ab|");
	expect_s(s, v, KS(1, "a", "b"), "a|b");
	expect_s(s, v, KS(1, "", "ab"), "|ab");
	assert_int_equal(ops->count(s->be, v), 6);
	assert_int_equal(ops->remove(s->be, v, &(fl_skey){ 0 }), FLINC_OK);
	fl_skey w1 = KS(1, "k", "w1");
	assert_int_equal(ops->remove(s->be, v, &w1), FLINC_OK);
	expect_s(s, v, KS(1, "k", "w1"), NULL);
	expect_s(s, v, KS(1, "k", "w2"), "window 2");
	expect_s(s, v, KS(1, "k", NULL), "plain");
	sbe_close(s);
}

static void c_key_groups(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	put_s(s, v, KS(1, "k", "n"), "kg1");
	put_s(s, v, KS(2, "k", "n"), "kg2");
	expect_s(s, v, KS(1, "k", "n"), "kg1");
	expect_s(s, v, KS(2, "k", "n"), "kg2");
	expect_s(s, v, KS(0, "k", "n"), NULL);
	fl_skey k1 = KS(1, "k", "n");
	assert_int_equal(ops->remove(s->be, v, &k1), FLINC_OK);
	expect_s(s, v, KS(1, "k", "n"), NULL);
	expect_s(s, v, KS(2, "k", "n"), "kg2");
	sbe_close(s);
}

static void c_states_separate(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t a = declare(s, "op/a", FL_STATE_VALUE);
	uint32_t b = declare(s, "op/b", FL_STATE_VALUE);
	assert_int_not_equal(a, b);
	put_s(s, a, KS(0, "k", NULL), "in a");
	expect_s(s, b, KS(0, "k", NULL), NULL);
	put_s(s, b, KS(0, "k", NULL), "in b");
	expect_s(s, a, KS(0, "k", NULL), "in a");
	assert_int_equal(ops->count(s->be, a), 1);
	assert_int_equal(ops->count(s->be, b), 1);
	sbe_close(s);
}

static void c_put_inplace(const fl_backend_ops *ops)
{
	if (!ops->put_inplace) skip();
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/acc", FL_STATE_VALUE);
	fl_skey k = KS(5, "auction-1", "window-0000000");
	bool created = false;

	int64_t *acc = ops->put_inplace(s->be, v, &k, 16, &created);
	assert_non_null(acc);
	assert_true(created);
	assert_int_equal(acc[0], 0);
	assert_int_equal(acc[1], 0);
	acc[0] = 41;
	acc[1] = -7;
	for (int i = 0; i < 100; i++) {
		acc = ops->put_inplace(s->be, v, &k, 16, &created);
		assert_non_null(acc);
		assert_false(created);
		acc[0]++;
	}
	int64_t want[2] = { 141, -7 };
	expect_val(s, v, k, want, sizeof(want));
	assert_int_equal(ops->count(s->be, v), 1);

	/* The entry is a plain value: put replaces it, get reads it. */
	int64_t repl[2] = { 1000, 2000 };
	assert_int_equal(ops->put(s->be, v, &k, repl, sizeof(repl)), FLINC_OK);
	acc = ops->put_inplace(s->be, v, &k, 16, &created);
	assert_false(created);
	assert_int_equal(acc[0], 1000);
	assert_int_equal(acc[1], 2000);

	/* Another key and another namespace start zeroed. */
	fl_skey k2 = KS(5, "auction-1", "window-0000001");
	int64_t *acc2 = ops->put_inplace(s->be, v, &k2, 16, &created);
	assert_true(created);
	assert_int_equal(acc2[0], 0);

	/* After remove, the entry is new again. */
	assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
	acc = ops->put_inplace(s->be, v, &k, 16, &created);
	assert_true(created);
	assert_int_equal(acc[0], 0);

	/* A length other than the stored one gives a fresh zeroed value. */
	acc[0] = 5;
	uint8_t *wide = ops->put_inplace(s->be, v, &k, 64, &created);
	assert_non_null(wide);
	assert_true(created);
	for (int i = 0; i < 64; i++) assert_int_equal(wide[i], 0);
	sbe_close(s);
}

/* ---- conformance: list state ----------------------------------------- */

static void c_list(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t l = declare(s, "op/l", FL_STATE_LIST);
	fl_skey k = KS(7, "k", "ns");
	expect_val(s, l, k, NULL, 0);
	assert_int_equal(ops->list_append(s->be, l, &k, "abc", 3), FLINC_OK);
	assert_int_equal(ops->list_append(s->be, l, &k, "", 0), FLINC_OK);
	assert_int_equal(ops->list_append(s->be, l, &k, "de", 2), FLINC_OK);
	static const uint8_t want[] = { 3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0, 2, 0, 0, 0, 'd', 'e' };
	expect_val(s, l, k, want, sizeof(want));
	assert_int_equal(ops->count(s->be, l), 1);

	/* Another namespace has its own list. */
	fl_skey k2 = KS(7, "k", "other");
	assert_int_equal(ops->list_append(s->be, l, &k2, "x", 1), FLINC_OK);
	static const uint8_t want2[] = { 1, 0, 0, 0, 'x' };
	expect_val(s, l, k2, want2, sizeof(want2));
	expect_val(s, l, k, want, sizeof(want));

	/* Many appends of growing sizes: the encoding stays exact. */
	fl_skey big = KS(8, "big", NULL);
	uint8_t buf[300];
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)(i % 300);
		memset(buf, i & 0xff, n);
		assert_int_equal(ops->list_append(s->be, l, &big, buf, n), FLINC_OK);
	}
	const void *got;
	size_t len;
	assert_int_equal(ops->get(s->be, l, &big, &got, &len), FLINC_OK);
	const uint8_t *p = got, *end = p + len;
	for (int i = 0; i < 2000; i++) {
		assert_true(end - p >= 4);
		uint32_t n = rd_le32(p);
		assert_int_equal(n, (uint32_t)(i % 300));
		p += 4;
		assert_true((size_t)(end - p) >= n);
		for (uint32_t j = 0; j < n; j++) assert_int_equal(p[j], i & 0xff);
		p += n;
	}
	assert_ptr_equal(p, end);

	/* put replaces the whole encoded list; remove clears it. */
	assert_int_equal(ops->put(s->be, l, &k, want2, sizeof(want2)), FLINC_OK);
	assert_int_equal(ops->list_append(s->be, l, &k, "yz", 2), FLINC_OK);
	static const uint8_t want3[] = { 1, 0, 0, 0, 'x', 2, 0, 0, 0, 'y', 'z' };
	expect_val(s, l, k, want3, sizeof(want3));
	assert_int_equal(ops->remove(s->be, l, &k), FLINC_OK);
	expect_val(s, l, k, NULL, 0);
	assert_int_equal(ops->list_append(s->be, l, &k, "q", 1), FLINC_OK);
	static const uint8_t want4[] = { 1, 0, 0, 0, 'q' };
	expect_val(s, l, k, want4, sizeof(want4));
	assert_int_equal(ops->count(s->be, l), 3);
	sbe_close(s);
}

/* ---- conformance: map state ------------------------------------------ */

typedef struct seen {
	int n;
	char uk[64][16];
	char val[64][64];
	int stop_at; /* return 99 on this call (1-based), 0: never */
} seen;

static int collect(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	seen *s = ud;
	assert_true(s->n < 64 && uklen < 16 && len < 64);
	memcpy(s->uk[s->n], uk, uklen);
	s->uk[s->n][uklen] = 0;
	memcpy(s->val[s->n], val, len);
	s->val[s->n][len] = 0;
	s->n++;
	return s->n == s->stop_at ? 99 : 0;
}

/* Index of user key uk in what map_iter reported, or -1. */
static int seen_find(const seen *s, const char *uk)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->uk[i], uk) == 0) return i;
	return -1;
}

/* Lengths of the values of one-byte user keys, for map_iter. */
typedef struct sized {
	int n;
	size_t len[256];
} sized;

static int collect_sized(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	sized *s = ud;
	(void)val;
	assert_int_equal(uklen, 1);
	s->len[*(const uint8_t *)uk] = len;
	s->n++;
	return 0;
}

static void map_put_s(sbe *s, uint32_t sid, fl_skey k, const char *uk, const char *v)
{
	assert_int_equal(s->ops->map_put(s->be, sid, &k, uk, strlen(uk), v, strlen(v)), FLINC_OK);
}

static void c_map(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t m = declare(s, "op/m", FL_STATE_MAP);
	fl_skey k = KS(4, "user", "session");
	fl_skey other = KS(4, "user", "session2");

	expect_map(s, m, k, "a", NULL);
	map_put_s(s, m, k, "a", "1");
	map_put_s(s, m, k, "b", "2");
	map_put_s(s, m, k, "c", "3");
	map_put_s(s, m, k, "", "empty user key");
	map_put_s(s, m, other, "a", "other");
	expect_map(s, m, k, "a", "1");
	expect_map(s, m, k, "b", "2");
	expect_map(s, m, k, "", "empty user key");
	expect_map(s, m, k, "zz", NULL);
	expect_map(s, m, other, "a", "other");
	expect_map(s, m, KS(5, "user", "session"), "a", NULL);
	assert_int_equal(ops->count(s->be, m), 5);

	map_put_s(s, m, k, "b", "two, longer than before");
	expect_map(s, m, k, "b", "two, longer than before");
	assert_int_equal(ops->count(s->be, m), 5);

	seen sn = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &k, collect, &sn), 0);
	assert_int_equal(sn.n, 4);
	assert_string_equal(sn.val[seen_find(&sn, "a")], "1");
	assert_string_equal(sn.val[seen_find(&sn, "b")], "two, longer than before");
	assert_string_equal(sn.val[seen_find(&sn, "c")], "3");
	assert_string_equal(sn.val[seen_find(&sn, "")], "empty user key");

	/* fn's non-zero stops the walk and comes back. */
	seen stop = { .stop_at = 2 };
	assert_int_equal(ops->map_iter(s->be, m, &k, collect, &stop), 99);
	assert_int_equal(stop.n, 2);

	/* An absent prefix iterates nothing. */
	seen none = { 0 };
	fl_skey absent = KS(4, "nobody", NULL);
	assert_int_equal(ops->map_iter(s->be, m, &absent, collect, &none), 0);
	assert_int_equal(none.n, 0);

	assert_int_equal(ops->map_remove(s->be, m, &k, "b", 1), FLINC_OK);
	assert_int_equal(ops->map_remove(s->be, m, &k, "b", 1), FLINC_OK); /* absent: OK */
	expect_map(s, m, k, "b", NULL);
	expect_map(s, m, k, "a", "1");
	seen sn2 = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &k, collect, &sn2), 0);
	assert_int_equal(sn2.n, 3);
	assert_int_equal(seen_find(&sn2, "b"), -1);
	assert_int_equal(ops->count(s->be, m), 4);

	/* Removing every user key one by one empties the prefix... */
	fl_skey one = KS(1, "solo", NULL);
	map_put_s(s, m, one, "x", "1");
	assert_int_equal(ops->map_remove(s->be, m, &one, "x", 1), FLINC_OK);
	seen sn3 = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &one, collect, &sn3), 0);
	assert_int_equal(sn3.n, 0);
	map_put_s(s, m, one, "y", "2"); /* ...and it can come back. */
	expect_map(s, m, one, "y", "2");
	expect_map(s, m, one, "x", NULL);

	/* remove() on map state drops every user key under k, and only those. */
	assert_int_equal(ops->remove(s->be, m, &k), FLINC_OK);
	expect_map(s, m, k, "a", NULL);
	expect_map(s, m, k, "c", NULL);
	expect_map(s, m, k, "", NULL);
	seen sn4 = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &k, collect, &sn4), 0);
	assert_int_equal(sn4.n, 0);
	expect_map(s, m, other, "a", "other");
	expect_map(s, m, one, "y", "2");
	assert_int_equal(ops->count(s->be, m), 2);
	assert_int_equal(ops->remove(s->be, m, &k), FLINC_OK);
	map_put_s(s, m, k, "a", "again");
	expect_map(s, m, k, "a", "again");
	sbe_close(s);
}

/* ---- conformance: scan ------------------------------------------------ */

typedef struct scan_acc {
	int n;
	int last_kg;
	int bad_order;
	int with_uk, without_uk;
	int stop_at;
	int kg_lo, kg_hi; /* seen range */
	uint64_t sum;     /* of the decoded ids, to check each entry once */
} scan_acc;

static int scan_fn(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		   uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	scan_acc *a = ud;
	if (a->n && kg < a->last_kg) a->bad_order++;
	a->last_kg = kg;
	if (kg < a->kg_lo) a->kg_lo = kg;
	if (kg > a->kg_hi) a->kg_hi = kg;
	if (uk)
		a->with_uk++;
	else
		a->without_uk++;
	/* Entries were written as key "k<id>", ns "n<id % 3>", value id as text. */
	char kb[32], vb[32];
	assert_true(klen < sizeof(kb) && vlen < sizeof(vb) && nslen == 2 && ns[0] == 'n');
	memcpy(kb, key, klen);
	kb[klen] = 0;
	memcpy(vb, val, vlen);
	vb[vlen] = 0;
	unsigned id = (unsigned)strtoul(kb + 1, NULL, 10);
	assert_int_equal(id, (unsigned)strtoul(vb, NULL, 10));
	assert_int_equal(ns[1], '0' + id % 3);
	assert_int_equal(kg, id % 128);
	if (uk) assert_true(uklen == 1 && (uk[0] == 'x' || uk[0] == 'y'));
	a->sum += id;
	a->n++;
	return a->n == a->stop_at ? 7 : 0;
}

static void c_scan(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	uint32_t m = declare(s, "op/m", FL_STATE_MAP);
	uint32_t e = declare(s, "op/empty", FL_STATE_VALUE);
	const unsigned N = 3000;
	uint64_t rng = 42, total = 0, total_10_20 = 0;
	unsigned n_10_20 = 0;
	/* Insert in a scrambled order so no key-group order comes for free. */
	for (unsigned i = 0; i < N; i++) {
		unsigned id = (unsigned)((i * 7919u) % N);
		char key[16], ns[4], val[16];
		snprintf(key, sizeof(key), "k%u", id);
		snprintf(ns, sizeof(ns), "n%u", id % 3);
		snprintf(val, sizeof(val), "%u", id);
		fl_skey k = KS((uint16_t)(id % 128), key, ns);
		put_s(s, v, k, val);
		map_put_s(s, m, k, "x", val);
		map_put_s(s, m, k, "y", val);
		total += id;
		if (id % 128 >= 10 && id % 128 <= 20) {
			n_10_20++;
			total_10_20 += id;
		}
		(void)rng_next(&rng);
	}
	scan_acc a = { .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, v, 0, 127, scan_fn, &a), 0);
	assert_int_equal(a.n, N);
	assert_int_equal(a.bad_order, 0);
	assert_int_equal(a.sum, total);
	assert_int_equal(a.with_uk, 0);
	assert_int_equal(a.kg_lo, 0);
	assert_int_equal(a.kg_hi, 127);

	scan_acc r = { .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, v, 10, 20, scan_fn, &r), 0);
	assert_int_equal(r.n, n_10_20);
	assert_int_equal(r.sum, total_10_20);
	assert_int_equal(r.bad_order, 0);
	assert_int_equal(r.kg_lo, 10);
	assert_int_equal(r.kg_hi, 20);

	scan_acc one = { .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, v, 127, 127, scan_fn, &one), 0);
	assert_true(one.n > 0);
	assert_int_equal(one.kg_lo, 127);
	assert_int_equal(one.kg_hi, 127);

	scan_acc mp = { .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, m, 0, 127, scan_fn, &mp), 0);
	assert_int_equal(mp.n, 2 * N);
	assert_int_equal(mp.with_uk, 2 * N);
	assert_int_equal(mp.bad_order, 0);
	assert_int_equal(mp.sum, 2 * total);
	assert_int_equal(ops->count(s->be, m), 2 * N);

	scan_acc st = { .stop_at = 10, .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, v, 0, 127, scan_fn, &st), 7);
	assert_int_equal(st.n, 10);

	scan_acc none = { .kg_lo = 1 << 20, .kg_hi = -1 };
	assert_int_equal(ops->scan(s->be, e, 0, 127, scan_fn, &none), 0);
	assert_int_equal(none.n, 0);
	sbe_close(s);
}

/* ---- conformance: declare and count ---------------------------------- */

static void c_declare(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t ids[20];
	char name[32];
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "op%d/state", i);
		ids[i] = declare(s, name, (fl_state_kind)(i % 3));
		assert_true(ids[i] < 20); /* small and dense */
		for (int j = 0; j < i; j++) assert_int_not_equal(ids[i], ids[j]);
	}
	/* The same name again: the same id; another kind: refused. */
	for (int i = 0; i < 20; i++) {
		uint32_t sid = UINT32_MAX;
		snprintf(name, sizeof(name), "op%d/state", i);
		assert_int_equal(ops->declare(s->be, name, (fl_state_kind)(i % 3), &sid), FLINC_OK);
		assert_int_equal(sid, ids[i]);
		assert_int_equal(ops->declare(s->be, name, (fl_state_kind)((i + 1) % 3), &sid), FLINC_EINVAL);
	}
	/* The name is copied. */
	snprintf(name, sizeof(name), "op/copied");
	uint32_t c = declare(s, name, FL_STATE_VALUE);
	memset(name, 'z', 10);
	assert_int_equal(declare(s, "op/copied", FL_STATE_VALUE), c);
	for (int i = 0; i < 20; i++) assert_int_equal(ops->count(s->be, ids[i]), 0);
	/* state_at names every state by id, and nothing past the last. */
	assert_non_null(ops->state_at);
	for (int i = 0; i < 20; i++) {
		const char *nm = NULL;
		fl_state_kind kd = FL_STATE_MAP;
		assert_int_equal(ops->state_at(s->be, ids[i], &nm, &kd), FLINC_OK);
		snprintf(name, sizeof(name), "op%d/state", i);
		assert_string_equal(nm, name);
		assert_int_equal(kd, (fl_state_kind)(i % 3));
	}
	const char *nm = NULL;
	fl_state_kind kd;
	assert_int_equal(ops->state_at(s->be, 21, &nm, &kd), FLINC_ENOENT);
	sbe_close(s);
}

/* ---- conformance: volume --------------------------------------------- */

static fl_skey key_u64(uint64_t *kb, uint64_t ns[2], uint64_t i)
{
	*kb = i * 0x9e3779b97f4a7c15ULL;
	ns[0] = i / 1000;
	ns[1] = i / 1000 + 60000;
	return K((uint16_t)(i % 128), kb, 8, ns, 16);
}

static void c_many(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/many", FL_STATE_VALUE);
	const uint64_t N = 100000;
	uint64_t kb, ns[2];
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i);
		uint64_t val = i * 3;
		assert_int_equal(ops->put(s->be, v, &k, &val, 8), FLINC_OK);
	}
	assert_int_equal(ops->count(s->be, v), N);
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i);
		uint64_t val = i * 3;
		expect_val(s, v, k, &val, 8);
	}
	/* Delete two thirds, in an order unrelated to insertion. */
	for (uint64_t j = 0; j < N; j++) {
		uint64_t i = (j * 7919) % N;
		if (i % 3 == 0) continue;
		fl_skey k = key_u64(&kb, ns, i);
		assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
	}
	assert_int_equal(ops->count(s->be, v), (N + 2) / 3);
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i);
		uint64_t val = i * 3;
		expect_val(s, v, k, i % 3 == 0 ? &val : NULL, 8);
	}
	/* Delete the rest, then fill again with other values. */
	for (uint64_t i = 0; i < N; i += 3) {
		fl_skey k = key_u64(&kb, ns, i);
		assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
	}
	assert_int_equal(ops->count(s->be, v), 0);
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i);
		expect_val(s, v, k, NULL, 0);
	}
	for (uint64_t i = 0; i < N; i += 2) {
		fl_skey k = key_u64(&kb, ns, i);
		uint64_t val = ~i;
		assert_int_equal(ops->put(s->be, v, &k, &val, 8), FLINC_OK);
	}
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i);
		uint64_t val = ~i;
		expect_val(s, v, k, i % 2 == 0 ? &val : NULL, 8);
	}
	assert_int_equal(ops->count(s->be, v), N / 2);

	/* A map state with many prefixes and user keys. */
	uint32_t m = declare(s, "op/manymap", FL_STATE_MAP);
	for (uint64_t i = 0; i < N; i++) {
		fl_skey k = key_u64(&kb, ns, i / 10);
		uint32_t uk = (uint32_t)(i % 10);
		assert_int_equal(ops->map_put(s->be, m, &k, &uk, 4, &i, 8), FLINC_OK);
	}
	assert_int_equal(ops->count(s->be, m), N);
	for (uint64_t p = 0; p < N / 10; p += 2) {
		fl_skey k = key_u64(&kb, ns, p);
		assert_int_equal(ops->remove(s->be, m, &k), FLINC_OK);
	}
	assert_int_equal(ops->count(s->be, m), N / 2);
	for (uint64_t i = 0; i < N; i += 7) {
		fl_skey k = key_u64(&kb, ns, i / 10);
		uint32_t uk = (uint32_t)(i % 10);
		const void *got;
		size_t len;
		int rc = ops->map_get(s->be, m, &k, &uk, 4, &got, &len);
		if ((i / 10) % 2 == 0) {
			assert_int_equal(rc, FLINC_ENOENT);
		} else {
			assert_int_equal(rc, FLINC_OK);
			assert_int_equal(len, 8);
			assert_memory_equal(got, &i, 8);
		}
	}
	sbe_close(s);
}

/* ---- conformance: against a reference model ------------------------- */

#define RM_KG 3
#define RM_KEYS 12
#define RM_NS 3
#define RM_UK 6
#define RM_VMAX 40
#define RM_LMAX 24

typedef struct rm_val {
	bool present;
	uint8_t len;
	uint8_t b[RM_VMAX];
} rm_val;

typedef struct rm_list {
	int n; /* elements; -1: absent */
	uint8_t len[RM_LMAX];
	uint8_t b[RM_LMAX][8];
} rm_list;

typedef struct rmodel {
	rm_val v[RM_KG][RM_KEYS][RM_NS];
	rm_list l[RM_KG][RM_KEYS][RM_NS];
	rm_val m[RM_KG][RM_KEYS][RM_NS][RM_UK];
} rmodel;

/* Key bytes of model key i: "k" + i in decimal, so lengths differ; ns 0 is
 * the empty namespace. */
typedef struct rm_key {
	char kb[16], nb[16], ub[8];
	fl_skey k;
	size_t uklen;
} rm_key;

static void rm_make(rm_key *r, int kg, int key, int ns, int uk)
{
	snprintf(r->kb, sizeof(r->kb), "k%d", key);
	snprintf(r->nb, sizeof(r->nb), "n%d", ns);
	/* uk 0 is the empty user key, the others differ in length too */
	memset(r->ub, 'u', sizeof(r->ub));
	r->uklen = (size_t)uk;
	r->k = K((uint16_t)(kg * 40), r->kb, strlen(r->kb), ns ? r->nb : NULL, ns ? strlen(r->nb) : 0);
}

typedef struct rm_check {
	const rmodel *m;
	int kind; /* 0 value, 1 list, 2 map */
	int n;
} rm_check;

/* Scan callback: every entry the backend has must be in the model. */
static int rm_scan(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		   uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	rm_check *c = ud;
	char kb[8] = "", nb[8] = "";
	assert_true(klen < 8 && nslen < 8 && kg % 40 == 0);
	memcpy(kb, key, klen);
	if (nslen) memcpy(nb, ns, nslen);
	int g = kg / 40, ki = atoi(kb + 1), ni = nslen ? atoi(nb + 1) : 0;
	assert_true(g < RM_KG && ki < RM_KEYS && ni < RM_NS);
	if (c->kind == 0) {
		const rm_val *mv = &c->m->v[g][ki][ni];
		assert_true(mv->present);
		assert_int_equal(vlen, mv->len);
		assert_memory_equal(val, mv->b, vlen);
	} else if (c->kind == 1) {
		const rm_list *ml = &c->m->l[g][ki][ni];
		assert_true(ml->n >= 0);
		size_t want = 0;
		for (int i = 0; i < ml->n; i++) want += 4 + ml->len[i];
		assert_int_equal(vlen, want);
	} else {
		assert_non_null(uk);
		assert_true(uklen < RM_UK);
		const rm_val *mv = &c->m->m[g][ki][ni][uklen];
		assert_true(mv->present);
		assert_int_equal(vlen, mv->len);
		assert_memory_equal(val, mv->b, vlen);
	}
	c->n++;
	return 0;
}

/* Compare the whole backend with the model: every model entry by lookup,
 * every backend entry by scan, and the counts. */
static void rm_verify(sbe *s, uint32_t sv, uint32_t sl, uint32_t sm, const rmodel *m)
{
	size_t nv = 0, nl = 0, nm = 0;
	for (int g = 0; g < RM_KG; g++)
		for (int ki = 0; ki < RM_KEYS; ki++)
			for (int ni = 0; ni < RM_NS; ni++) {
				rm_key r;
				rm_make(&r, g, ki, ni, 0);
				const rm_val *mv = &m->v[g][ki][ni];
				expect_val(s, sv, r.k, mv->present ? mv->b : NULL, mv->len);
				nv += mv->present;
				const rm_list *ml = &m->l[g][ki][ni];
				if (ml->n < 0) {
					expect_val(s, sl, r.k, NULL, 0);
				} else {
					uint8_t enc[RM_LMAX * 12];
					size_t len = 0;
					for (int i = 0; i < ml->n; i++) {
						enc[len] = ml->len[i];
						enc[len + 1] = enc[len + 2] = enc[len + 3] = 0;
						memcpy(enc + len + 4, ml->b[i], ml->len[i]);
						len += 4 + ml->len[i];
					}
					expect_val(s, sl, r.k, enc, len);
					nl++;
				}
				int in_prefix = 0;
				for (int u = 0; u < RM_UK; u++) {
					rm_make(&r, g, ki, ni, u);
					const rm_val *mm = &m->m[g][ki][ni][u];
					const void *got;
					size_t len;
					int rc = s->ops->map_get(s->be, sm, &r.k, r.ub, r.uklen, &got, &len);
					if (!mm->present) {
						assert_int_equal(rc, FLINC_ENOENT);
						continue;
					}
					assert_int_equal(rc, FLINC_OK);
					assert_int_equal(len, mm->len);
					if (len) assert_memory_equal(got, mm->b, len);
					nm++;
					in_prefix++;
				}
				seen sn = { 0 };
				assert_int_equal(s->ops->map_iter(s->be, sm, &r.k, collect, &sn), 0);
				assert_int_equal(sn.n, in_prefix);
			}
	assert_int_equal(s->ops->count(s->be, sv), nv);
	assert_int_equal(s->ops->count(s->be, sl), nl);
	assert_int_equal(s->ops->count(s->be, sm), nm);
	rm_check cv = { m, 0, 0 }, cl = { m, 1, 0 }, cm = { m, 2, 0 };
	assert_int_equal(s->ops->scan(s->be, sv, 0, 127, rm_scan, &cv), 0);
	assert_int_equal(s->ops->scan(s->be, sl, 0, 127, rm_scan, &cl), 0);
	assert_int_equal(s->ops->scan(s->be, sm, 0, 127, rm_scan, &cm), 0);
	assert_int_equal(cv.n, nv);
	assert_int_equal(cl.n, nl);
	assert_int_equal(cm.n, nm);
	/* Key group by key group, as a snapshot writer reads. */
	rm_check kv = { m, 0, 0 }, kl = { m, 1, 0 }, km = { m, 2, 0 };
	for (int g = 0; g < 128; g++) {
		assert_int_equal(s->ops->scan(s->be, sv, g, g, rm_scan, &kv), 0);
		assert_int_equal(s->ops->scan(s->be, sl, g, g, rm_scan, &kl), 0);
		assert_int_equal(s->ops->scan(s->be, sm, g, g, rm_scan, &km), 0);
	}
	assert_int_equal(kv.n, nv);
	assert_int_equal(kl.n, nl);
	assert_int_equal(km.n, nm);
}

static void c_random_model(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t sv = declare(s, "rm/v", FL_STATE_VALUE);
	uint32_t sl = declare(s, "rm/l", FL_STATE_LIST);
	uint32_t sm = declare(s, "rm/m", FL_STATE_MAP);
	rmodel *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	for (int g = 0; g < RM_KG; g++)
		for (int ki = 0; ki < RM_KEYS; ki++)
			for (int ni = 0; ni < RM_NS; ni++) m->l[g][ki][ni].n = -1;
	uint64_t rng = 0x1234567;
	for (int step = 0; step < 60000; step++) {
		uint64_t x = rng_next(&rng);
		int g = (int)(x % RM_KG), ki = (int)((x >> 8) % RM_KEYS), ni = (int)((x >> 16) % RM_NS);
		int u = (int)((x >> 24) % RM_UK), op = (int)((x >> 32) % 100);
		uint8_t len = (uint8_t)((x >> 40) % RM_VMAX);
		uint8_t buf[RM_VMAX];
		for (int i = 0; i < len; i++) buf[i] = (uint8_t)(x >> (i % 7)) + (uint8_t)i;
		rm_key r;
		rm_make(&r, g, ki, ni, u);
		rm_val *mv = &m->v[g][ki][ni];
		rm_list *ml = &m->l[g][ki][ni];
		rm_val *mm = &m->m[g][ki][ni][u];
		if (op < 20) {
			assert_int_equal(ops->put(s->be, sv, &r.k, buf, len), FLINC_OK);
			mv->present = true;
			mv->len = len;
			memcpy(mv->b, buf, len);
		} else if (op < 30 && ops->put_inplace) {
			bool created;
			uint8_t *p = ops->put_inplace(s->be, sv, &r.k, 8, &created);
			assert_non_null(p);
			assert_int_equal(created, !(mv->present && mv->len == 8));
			if (created) {
				mv->present = true;
				mv->len = 8;
				memset(mv->b, 0, 8);
			}
			for (int i = 0; i < 8; i++) assert_int_equal(p[i], mv->b[i]);
			p[step % 8]++;
			mv->b[step % 8]++;
		} else if (op < 38) {
			assert_int_equal(ops->remove(s->be, sv, &r.k), FLINC_OK);
			mv->present = false;
			mv->len = 0;
		} else if (op < 50) {
			if (ml->n == RM_LMAX) {
				assert_int_equal(ops->remove(s->be, sl, &r.k), FLINC_OK);
				ml->n = -1;
			}
			uint8_t el = len % 8;
			assert_int_equal(ops->list_append(s->be, sl, &r.k, buf, el), FLINC_OK);
			if (ml->n < 0) ml->n = 0;
			ml->len[ml->n] = el;
			memcpy(ml->b[ml->n], buf, el);
			ml->n++;
		} else if (op < 55) {
			assert_int_equal(ops->remove(s->be, sl, &r.k), FLINC_OK);
			ml->n = -1;
		} else if (op < 75) {
			assert_int_equal(ops->map_put(s->be, sm, &r.k, r.ub, r.uklen, buf, len), FLINC_OK);
			mm->present = true;
			mm->len = len;
			memcpy(mm->b, buf, len);
		} else if (op < 88) {
			assert_int_equal(ops->map_remove(s->be, sm, &r.k, r.ub, r.uklen), FLINC_OK);
			mm->present = false;
		} else if (op < 92) {
			assert_int_equal(ops->remove(s->be, sm, &r.k), FLINC_OK);
			for (int i = 0; i < RM_UK; i++) m->m[g][ki][ni][i].present = false;
		} else {
			/* reads */
			const void *got;
			size_t glen;
			int rc = ops->get(s->be, sv, &r.k, &got, &glen);
			assert_int_equal(rc, mv->present ? FLINC_OK : FLINC_ENOENT);
			if (mv->present) {
				assert_int_equal(glen, mv->len);
				if (glen) assert_memory_equal(got, mv->b, glen);
			}
			rc = ops->map_get(s->be, sm, &r.k, r.ub, r.uklen, &got, &glen);
			assert_int_equal(rc, mm->present ? FLINC_OK : FLINC_ENOENT);
		}
		if (step % 5000 == 4999) rm_verify(s, sv, sl, sm, m);
	}
	rm_verify(s, sv, sl, sm, m);
	free(m);
	sbe_close(s);
}

/* A call on a state of the wrong kind, an unknown id or an unreadable key
 * is FLINC_EINVAL (NULL for put_inplace) and creates nothing. */
static void c_kind_checks(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "v", FL_STATE_VALUE);
	uint32_t l = declare(s, "l", FL_STATE_LIST);
	uint32_t m = declare(s, "m", FL_STATE_MAP);
	fl_skey k = KS(0, "k", NULL);
	const void *got;
	size_t len;
	bool created;
	uint32_t sid;
	assert_int_equal(ops->declare(s->be, "bad", (fl_state_kind)7, &sid), FLINC_EINVAL);
	assert_int_equal(ops->declare(s->be, NULL, FL_STATE_VALUE, &sid), FLINC_EINVAL);
	assert_int_equal(ops->get(s->be, m, &k, &got, &len), FLINC_EINVAL);
	assert_int_equal(ops->put(s->be, m, &k, "x", 1), FLINC_EINVAL);
	assert_int_equal(ops->list_append(s->be, v, &k, "x", 1), FLINC_EINVAL);
	assert_int_equal(ops->list_append(s->be, m, &k, "x", 1), FLINC_EINVAL);
	assert_null(ops->put_inplace(s->be, l, &k, 8, &created));
	assert_null(ops->put_inplace(s->be, m, &k, 8, &created));
	assert_int_equal(ops->map_put(s->be, v, &k, "u", 1, "x", 1), FLINC_EINVAL);
	assert_int_equal(ops->map_get(s->be, l, &k, "u", 1, &got, &len), FLINC_EINVAL);
	assert_int_equal(ops->map_remove(s->be, v, &k, "u", 1), FLINC_EINVAL);
	assert_int_equal(ops->map_iter(s->be, v, &k, collect, NULL), FLINC_EINVAL);
	/* Unknown ids. */
	assert_int_equal(ops->get(s->be, 99, &k, &got, &len), FLINC_EINVAL);
	assert_int_equal(ops->put(s->be, 99, &k, "x", 1), FLINC_EINVAL);
	assert_int_equal(ops->remove(s->be, 99, &k), FLINC_EINVAL);
	assert_int_equal(ops->scan(s->be, 99, 0, 127, scan_fn, NULL), FLINC_EINVAL);
	assert_int_equal(ops->count(s->be, 99), 0);
	/* Bad keys: a length without bytes. */
	fl_skey bad = { .kg = 0, .klen = 3, .key = NULL };
	assert_int_equal(ops->put(s->be, v, &bad, "x", 1), FLINC_EINVAL);
	assert_int_equal(ops->get(s->be, v, NULL, &got, &len), FLINC_EINVAL);
	/* Nothing above created an entry. */
	assert_int_equal(ops->count(s->be, v) + ops->count(s->be, l) + ops->count(s->be, m), 0);
	sbe_close(s);
}

/* open refuses a key-group range that makes no sense and says why. */
static void c_open_range(const fl_backend_ops *ops)
{
	void *be = calloc(1, ops->priv_size);
	char err[128] = "";
	fl_backend_params p = { .kg_first = 10, .kg_last = 5, .max_parallelism = 128 };
	assert_int_equal(ops->open(be, &p, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "key-group"));
	ops->close(be);
	fl_backend_params q = { .kg_first = 0, .kg_last = 128, .max_parallelism = 128 };
	assert_int_equal(ops->open(be, &q, err, sizeof(err)), FLINC_EINVAL);
	ops->close(be);
	fl_backend_params ok = { .kg_first = 64, .kg_last = 127, .max_parallelism = 128 };
	assert_int_equal(ops->open(be, &ok, err, sizeof(err)), FLINC_OK);
	ops->close(be);
	ops->close(be); /* twice is harmless */
	assert_int_equal(ops->open(be, NULL, NULL, 0), FLINC_OK);
	ops->close(be);
	free(be);
}

/* ---- conformance: pointer validity ---------------------------------- */

/* Pointers from get and map_get stay valid until the next modifying call:
 * other reads, scans and counts in between leave them alone. */
static int scan_nop(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		    uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	(void)kg, (void)key, (void)klen, (void)ns, (void)nslen, (void)uk, (void)uklen, (void)val, (void)vlen;
	++*(int *)ud;
	return 0;
}

static void c_pointers(const fl_backend_ops *ops)
{
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	uint32_t m = declare(s, "op/m", FL_STATE_MAP);
	enum { N = 300 };
	char key[16], val[32];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		snprintf(val, sizeof(val), "value of %d", i);
		put_s(s, v, KS((uint16_t)(i % 128), key, NULL), val);
		map_put_s(s, m, KS((uint16_t)(i % 128), key, "ns"), "u", val);
	}
	/* A value held by put_inplace is one that get can hand out too. */
	bool created;
	if (ops->put_inplace) {
		fl_skey k = KS(0, "k0", NULL);
		uint8_t *p = ops->put_inplace(s->be, v, &k, 10, &created);
		assert_non_null(p);
		memcpy(p, "value of 0", 10);
	}
	const void *got[N];
	size_t len[N];
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		fl_skey k = KS((uint16_t)(i % 128), key, NULL);
		fl_skey kn = KS((uint16_t)(i % 128), key, "ns");
		if (i % 2)
			assert_int_equal(ops->get(s->be, v, &k, &got[i], &len[i]), FLINC_OK);
		else
			assert_int_equal(ops->map_get(s->be, m, &kn, "u", 1, &got[i], &len[i]), FLINC_OK);
		if (i % 50 == 0) {
			int n = 0;
			assert_int_equal(ops->scan(s->be, v, 0, 127, scan_nop, &n), 0);
			assert_int_equal(n, N);
			assert_int_equal(ops->count(s->be, m), N);
		}
	}
	for (int i = 0; i < N; i++) {
		snprintf(val, sizeof(val), "value of %d", i);
		assert_int_equal(len[i], strlen(val));
		assert_memory_equal(got[i], val, len[i]);
	}
	sbe_close(s);
}

/* ---- conformance: put_inplace pointers across states ----------------- */

/* keyed.c hands a put_inplace pointer to job code (flinc_value_mut), which
 * may use other states before it writes through it. So, beyond the
 * contract's "until the next modifying call", a put_inplace pointer must
 * survive calls on other states; both backends promise it. */
static void c_inplace_across_states(const fl_backend_ops *ops)
{
	if (!ops->put_inplace) skip();
	sbe *s = sbe_open(ops);
	enum { NS = 6, NK = 37, ROUNDS = 400 };
	uint32_t sid[NS];
	char name[32], key[16];
	for (int i = 0; i < NS; i++) {
		snprintf(name, sizeof(name), "op/acc%d", i);
		sid[i] = declare(s, name, FL_STATE_VALUE);
	}
	uint32_t other = declare(s, "op/other", FL_STATE_VALUE);
	uint64_t rounds_of[NK] = { 0 };
	bool created;
	for (int r = 0; r < ROUNDS; r++) {
		int ki = (r * 7) % NK;
		snprintf(key, sizeof(key), "k%d", ki);
		fl_skey k = KS((uint16_t)(ki % 128), key, NULL);
		uint64_t *p[NS];
		for (int i = 0; i < NS; i++) {
			p[i] = ops->put_inplace(s->be, sid[i], &k, 8, &created);
			assert_non_null(p[i]);
			/* other traffic: another key of the same state set, reads */
			char ok[16];
			snprintf(ok, sizeof(ok), "o%d", (r + i) % 50);
			fl_skey kk = KS((uint16_t)((r + i) % 128), ok, NULL);
			uint64_t x = (uint64_t)r;
			assert_int_equal(ops->put(s->be, other, &kk, &x, 8), FLINC_OK);
			if (i % 2) assert_int_equal(ops->remove(s->be, other, &kk), FLINC_OK);
			const void *got;
			size_t len;
			(void)ops->get(s->be, other, &kk, &got, &len);
		}
		if (r % 50 == 0)
			assert_int_equal(ops->count(s->be, sid[0]), (size_t)(r + 1 < NK ? r + 1 : NK));
		for (int i = 0; i < NS; i++) *p[i] += (uint64_t)(i + 1);
		rounds_of[ki]++;
	}
	for (int ki = 0; ki < NK; ki++) {
		snprintf(key, sizeof(key), "k%d", ki);
		for (int i = 0; i < NS; i++) {
			uint64_t want = rounds_of[ki] * (uint64_t)(i + 1);
			expect_val(s, sid[i], KS((uint16_t)(ki % 128), key, NULL), &want, 8);
		}
	}
	sbe_close(s);
}

/* ---- the conformance runner ------------------------------------------ */

typedef struct conf_case {
	const char *name;
	void (*fn)(const fl_backend_ops *ops);
} conf_case;

static const conf_case conformance[] = {
	{ "value_basic", c_value_basic },
	{ "namespaces", c_namespaces },
	{ "key_groups", c_key_groups },
	{ "states_separate", c_states_separate },
	{ "put_inplace", c_put_inplace },
	{ "list", c_list },
	{ "map", c_map },
	{ "scan", c_scan },
	{ "declare", c_declare },
	{ "many", c_many },
	{ "random_model", c_random_model },
	{ "kind_checks", c_kind_checks },
	{ "open_range", c_open_range },
	{ "pointers", c_pointers },
	{ "inplace_across_states", c_inplace_across_states },
};

typedef struct conf_run {
	const fl_backend_ops *ops;
	const conf_case *c;
} conf_run;

static void run_conformance(void **state)
{
	const conf_run *r = *state;
	r->c->fn(r->ops);
}

/* ---- memory backend specifics ---------------------------------------- */

static void m_find(void **state)
{
	(void)state;
	assert_ptr_equal(fl_backend_find("hashmap"), &fl_backend_memory);
	assert_ptr_equal(fl_backend_find("memory"), &fl_backend_memory);
	assert_ptr_equal(fl_backend_find("rocksdb"), &fl_backend_rocksdb);
	assert_string_equal(fl_backend_rocksdb.name, "rocksdb");
	assert_int_equal(fl_backend_rocksdb.version, FL_BACKEND_VERSION);
	assert_null(fl_backend_find("rocksdb-not-yet"));
	assert_null(fl_backend_find(""));
	assert_null(fl_backend_find(NULL));
	assert_int_equal(fl_backend_memory.version, FL_BACKEND_VERSION);
	assert_string_equal(fl_backend_memory.name, "hashmap");
}

/* prefetch is a hint: every kind of state, a present and an absent key, a
 * state id out of range, an empty table; nothing changes (ASan checks the
 * reads). A new list has room for a second element of its size: the first
 * append does not move it. */
static void m_prefetch_and_list_room(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	assert_non_null(ops->prefetch);
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "v", FL_STATE_VALUE), l = declare(s, "l", FL_STATE_LIST),
		 m = declare(s, "m", FL_STATE_MAP), empty = declare(s, "e", FL_STATE_VALUE);
	fl_skey k = K(1, "key", 3, NULL, 0), other = K(2, "nokey", 5, NULL, 0);
	assert_int_equal(ops->put(s->be, v, &k, "x", 1), FLINC_OK);
	assert_int_equal(ops->map_put(s->be, m, &k, "u", 1, "y", 1), FLINC_OK);
	char el[40];
	memset(el, 'e', sizeof el);
	assert_int_equal(ops->list_append(s->be, l, &k, el, sizeof el), FLINC_OK);
	const void *before, *after, *val;
	size_t len;
	assert_int_equal(ops->get(s->be, l, &k, &before, &len), FLINC_OK);
	for (int deep = 0; deep < 2; deep++)
		for (uint32_t sid = 0; sid < 6; sid++) {
			ops->prefetch(s->be, sid, &k, deep);
			ops->prefetch(s->be, sid, &other, deep);
		}
	(void)empty;
	assert_int_equal(ops->list_append(s->be, l, &k, el, sizeof el), FLINC_OK);
	assert_int_equal(ops->get(s->be, l, &k, &after, &len), FLINC_OK);
	assert_ptr_equal(before, after);
	assert_int_equal(len, 2 * (4 + sizeof el));
	assert_int_equal(ops->get(s->be, v, &k, &val, &len), FLINC_OK);
	assert_memory_equal(val, "x", 1);
	assert_int_equal(ops->map_get(s->be, m, &k, "u", 1, &val, &len), FLINC_OK);
	assert_memory_equal(val, "y", 1);
	assert_int_equal(ops->get(s->be, v, &other, &val, &len), FLINC_ENOENT);
	sbe_close(s);
}

/* The memory backend promises more than the contract: an entry's value does
 * not move until it is removed or grows, and it is 16-byte aligned. */
static void m_inplace_stable(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "v", FL_STATE_VALUE);
	bool created;
	void *ptrs[64];
	for (int i = 0; i < 64; i++) {
		char key[80];
		memset(key, 'a' + i % 26, sizeof(key));
		fl_skey k = K(0, key, (size_t)i + 1, NULL, 0); /* every key length 1..64 */
		ptrs[i] = ops->put_inplace(s->be, v, &k, (size_t)(8 + i), &created);
		assert_non_null(ptrs[i]);
		assert_true(created);
		assert_int_equal((uintptr_t)ptrs[i] % 16, 0);
		memset(ptrs[i], i, (size_t)(8 + i));
	}
	uint64_t kb, ns[2];
	for (uint64_t i = 0; i < 20000; i++) { /* several table doublings */
		fl_skey k = key_u64(&kb, ns, i);
		assert_non_null(ops->put_inplace(s->be, v, &k, 8, &created));
	}
	for (int i = 0; i < 64; i++) {
		char key[80];
		memset(key, 'a' + i % 26, sizeof(key));
		fl_skey k = K(0, key, (size_t)i + 1, NULL, 0);
		void *p = ops->put_inplace(s->be, v, &k, (size_t)(8 + i), &created);
		assert_ptr_equal(p, ptrs[i]);
		assert_false(created);
		for (int j = 0; j < 8 + i; j++) assert_int_equal(((uint8_t *)p)[j], i);
	}
	sbe_close(s);
}

/* Values beyond the slab classes, lists growing through them, and map
 * entries that move while linked under their prefix. */
static void m_large_values(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "v", FL_STATE_VALUE);
	uint32_t l = declare(s, "l", FL_STATE_LIST);
	uint32_t m = declare(s, "m", FL_STATE_MAP);
	static uint8_t big[100000];
	for (size_t i = 0; i < sizeof(big); i++) big[i] = (uint8_t)(i * 31);
	fl_skey k = KS(2, "key", "ns");
	size_t sizes[] = { 10, 600, 100000, 20, 5000, 0, 100000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(ops->put(s->be, v, &k, big, sizes[i]), FLINC_OK);
		expect_val(s, v, k, big, sizes[i]);
	}
	for (int i = 0; i < 200; i++) assert_int_equal(ops->list_append(s->be, l, &k, big, 997), FLINC_OK);
	const void *got;
	size_t len;
	assert_int_equal(ops->get(s->be, l, &k, &got, &len), FLINC_OK);
	assert_int_equal(len, 200 * (4 + 997));
	for (int i = 0; i < 200; i++) {
		const uint8_t *p = (const uint8_t *)got + (size_t)i * (4 + 997);
		assert_int_equal(rd_le32(p), 997);
		assert_memory_equal(p + 4, big, 997);
	}
	/* Three user keys; the middle one grows small -> large -> larger, so the
	 * list links of its neighbours must follow it. */
	map_put_s(s, m, k, "a", "A");
	map_put_s(s, m, k, "b", "B");
	map_put_s(s, m, k, "c", "C");
	size_t msizes[] = { 100, 1000, 50000, 3, 70000 };
	for (size_t i = 0; i < sizeof(msizes) / sizeof(msizes[0]); i++) {
		assert_int_equal(ops->map_put(s->be, m, &k, "b", 1, big, msizes[i]), FLINC_OK);
		sized sz = { 0 };
		assert_int_equal(ops->map_iter(s->be, m, &k, collect_sized, &sz), 0);
		assert_int_equal(sz.n, 3);
		assert_int_equal(sz.len['a'], 1);
		assert_int_equal(sz.len['b'], msizes[i]);
		assert_int_equal(sz.len['c'], 1);
		expect_map(s, m, k, "a", "A");
		expect_map(s, m, k, "c", "C");
		assert_int_equal(ops->map_get(s->be, m, &k, "b", 1, &got, &len), FLINC_OK);
		assert_int_equal(len, msizes[i]);
		assert_memory_equal(got, big, len);
	}
	/* A large key and namespace (large block for the prefix node too). */
	fl_skey lk = K(3, big, 3000, big + 5, 2000);
	assert_int_equal(ops->map_put(s->be, m, &lk, "u", 1, "v", 1), FLINC_OK);
	assert_int_equal(ops->put(s->be, v, &lk, big, 10), FLINC_OK);
	expect_val(s, v, lk, big, 10);
	/* Remove the middle, then the rest. */
	assert_int_equal(ops->map_remove(s->be, m, &k, "b", 1), FLINC_OK);
	sized sz = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &k, collect_sized, &sz), 0);
	assert_int_equal(sz.n, 2);
	assert_int_equal(ops->remove(s->be, m, &k), FLINC_OK);
	assert_int_equal(ops->count(s->be, m), 1);
	sbe_close(s); /* lk's entries are freed by close */
}

/* Window-like churn: entries created and removed in waves reuse their
 * blocks (checked under ASan for stale use, and for leaks at close). */
static void m_churn(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	sbe *s = sbe_open(ops);
	uint32_t v = declare(s, "v", FL_STATE_VALUE);
	uint32_t m = declare(s, "m", FL_STATE_MAP);
	uint64_t kb, ns[2];
	bool created;
	for (uint64_t wave = 0; wave < 20; wave++) {
		for (uint64_t i = 0; i < 5000; i++) {
			fl_skey k = key_u64(&kb, ns, wave * 5000 + i);
			uint64_t *acc = ops->put_inplace(s->be, v, &k, 8, &created);
			assert_true(created);
			*acc = i;
			assert_int_equal(ops->map_put(s->be, m, &k, &i, 1 + (size_t)(i % 7), &wave, 8),
					 FLINC_OK);
		}
		if (wave) {
			for (uint64_t i = 0; i < 5000; i++) {
				fl_skey k = key_u64(&kb, ns, (wave - 1) * 5000 + i);
				assert_int_equal(ops->remove(s->be, v, &k), FLINC_OK);
				assert_int_equal(ops->remove(s->be, m, &k), FLINC_OK);
			}
		}
		assert_int_equal(ops->count(s->be, v), 5000);
		assert_int_equal(ops->count(s->be, m), 5000);
	}
	sbe_close(s);
}

/* ---- memory backend: asynchronous snapshots ---------------------------- */

size_t fl_memory_retired(const void *be); /* state/memory.c: retired blocks awaiting reclaim */

/* One scanned entry, serialised so that entries order and compare with
 * memcmp: key group, then each part preceded by its big-endian length. */
typedef struct drec {
	uint8_t *b;
	size_t n;
} drec;

/* Entries collected by a scan. Filled from any thread: no cmocka asserts
 * in the callback, abort on out of memory. */
typedef struct dump {
	drec *r;
	size_t n, cap;
	int last_kg;    /* key group of the previous entry */
	int bad_order;  /* entries reported after one of a higher key group */
	uint64_t seq;   /* FNV-1a of the entries in the order reported */
	size_t stop_at; /* return 7 after this many entries (0: never) */
} dump;

static void dump_init(dump *d) { memset(d, 0, sizeof(*d)), d->last_kg = -1, d->seq = 1469598103934665603ULL; }

static void dump_free(dump *d)
{
	for (size_t i = 0; i < d->n; i++) free(d->r[i].b);
	free(d->r);
	dump_init(d);
}

static uint8_t *put_be32(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *put_part(uint8_t *p, const void *b, size_t n)
{
	p = put_be32(p, n);
	if (n) memcpy(p, b, n);
	return p + n;
}

static int dump_fn(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		   uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	dump *d = ud;
	if ((int)kg < d->last_kg) d->bad_order++;
	d->last_kg = kg;
	size_t n = 2 + 4 + klen + 4 + nslen + 1 + 4 + uklen + 4 + vlen;
	uint8_t *b = malloc(n), *p = b;
	if (!b) abort();
	*p++ = (uint8_t)(kg >> 8);
	*p++ = (uint8_t)kg;
	p = put_part(p, key, klen);
	p = put_part(p, ns, nslen);
	*p++ = uk != NULL;
	p = put_part(p, uk, uklen);
	p = put_part(p, val, vlen);
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 256;
		d->r = realloc(d->r, d->cap * sizeof(*d->r));
		if (!d->r) abort();
	}
	d->r[d->n++] = (drec){ b, n };
	for (size_t i = 0; i < n; i++) d->seq = (d->seq ^ b[i]) * 1099511628211ULL;
	return d->stop_at && d->n == d->stop_at ? 7 : 0;
}

static int drec_cmp(const void *a, const void *b)
{
	const drec *x = a, *y = b;
	int c = memcmp(x->b, y->b, x->n < y->n ? x->n : y->n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

static void dump_sort(dump *d)
{
	if (d->n) qsort(d->r, d->n, sizeof(*d->r), drec_cmp);
}

/* Both sorted. */
static void dump_expect_eq(const dump *a, const dump *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		if (a->r[i].n != b->r[i].n || memcmp(a->r[i].b, b->r[i].b, a->r[i].n))
			fail_msg("entry %zu of %zu differs", i, a->n);
	}
}

/* A sorted dump of live state sid. */
static void live_dump(sbe *s, uint32_t sid, dump *d)
{
	dump_init(d);
	assert_int_equal(s->ops->scan(s->be, sid, 0, 127, dump_fn, d), 0);
	assert_int_equal(d->bad_order, 0);
	dump_sort(d);
}

/* A sorted dump of state sid in snapshot snap. */
static void snap_dump(const fl_backend_ops *ops, void *snap, uint32_t sid, dump *d)
{
	dump_init(d);
	assert_int_equal(ops->snap_scan(snap, sid, 0, 127, dump_fn, d), 0);
	assert_int_equal(d->bad_order, 0);
	dump_sort(d);
}

/* The parts of a dumped entry. */
typedef struct dparts {
	uint16_t kg;
	const uint8_t *key, *ns, *uk, *val;
	uint32_t klen, nslen, uklen, vlen;
	bool has_uk;
	size_t prefix_len; /* bytes of the serialisation up to the user-key flag */
} dparts;

static uint32_t get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static dparts dparse(const drec *r)
{
	dparts x;
	const uint8_t *p = r->b;
	x.kg = (uint16_t)((p[0] << 8) | p[1]);
	p += 2;
	x.klen = get_be32(p), x.key = p + 4, p += 4 + x.klen;
	x.nslen = get_be32(p), x.ns = p + 4, p += 4 + x.nslen;
	x.prefix_len = (size_t)(p - r->b);
	x.has_uk = *p++;
	x.uklen = get_be32(p), x.uk = p + 4, p += 4 + x.uklen;
	x.vlen = get_be32(p), x.val = p + 4;
	return x;
}

/* map_iter callback: the (user key, value) pairs, serialised as in a dump. */
static int iter_dump_fn(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	return dump_fn(ud, 0, NULL, 0, NULL, 0, uk, (uint32_t)uklen, val, len);
}

/* Every entry of a sorted live dump of sid is found by get / map_get, and
 * for a map state map_iter of each prefix reports exactly its entries (the
 * prefix lists are linked right). */
static void check_lookups(sbe *s, uint32_t sid, const dump *d)
{
	for (size_t i = 0; i < d->n;) {
		dparts x = dparse(&d->r[i]);
		fl_skey k = K(x.kg, x.key, x.klen, x.ns, x.nslen);
		const void *got;
		size_t len;
		if (!x.has_uk) {
			assert_int_equal(s->ops->get(s->be, sid, &k, &got, &len), FLINC_OK);
			assert_int_equal(len, x.vlen);
			if (len) assert_memory_equal(got, x.val, len);
			i++;
			continue;
		}
		dump want, it;
		dump_init(&want);
		dump_init(&it);
		size_t j = i;
		for (;
		     j < d->n && d->r[j].n >= x.prefix_len && memcmp(d->r[j].b, d->r[i].b, x.prefix_len) == 0;
		     j++) {
			dparts y = dparse(&d->r[j]);
			assert_int_equal(s->ops->map_get(s->be, sid, &k, y.uk, y.uklen, &got, &len),
					 FLINC_OK);
			assert_int_equal(len, y.vlen);
			if (len) assert_memory_equal(got, y.val, len);
			iter_dump_fn(&want, y.uk, y.uklen, y.val, y.vlen);
		}
		assert_int_equal(s->ops->map_iter(s->be, sid, &k, iter_dump_fn, &it), 0);
		dump_sort(&want);
		dump_sort(&it);
		dump_expect_eq(&it, &want);
		dump_free(&want);
		dump_free(&it);
		i = j;
	}
}

/* Two memory instances driven alike: [0] takes snapshots, [1] is the
 * reference its live state must keep matching. */
typedef struct twin {
	sbe *s[2];
} twin;

static void tw_open(twin *t)
{
	t->s[0] = sbe_open(&fl_backend_memory);
	t->s[1] = sbe_open(&fl_backend_memory);
}

static void tw_close(twin *t)
{
	sbe_close(t->s[0]);
	sbe_close(t->s[1]);
}

static uint32_t tw_declare(twin *t, const char *name, fl_state_kind kind)
{
	uint32_t a = declare(t->s[0], name, kind);
	assert_int_equal(declare(t->s[1], name, kind), a);
	return a;
}

/* Test key i: 8..16 bytes starting with i, namespaces of 0, 8 or 16 bytes,
 * key group i % 128. */
typedef struct tkey {
	uint8_t kb[16], nb[16];
	fl_skey k;
} tkey;

static const fl_skey *tk(tkey *t, uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ULL + 1;
	memcpy(t->kb, &i, 8);
	memcpy(t->kb + 8, &x, 8);
	memcpy(t->nb, &x, 8);
	memcpy(t->nb + 8, &i, 8);
	size_t nslen = (size_t)(i % 3) * 8;
	t->k = K((uint16_t)(i % 128), t->kb, 8 + (size_t)(i % 9), nslen ? t->nb : NULL, nslen);
	return &t->k;
}

/* len bytes of a pattern picked by seed (len <= sizeof(g_vbuf)). */
static uint8_t g_vbuf[200000];
static const uint8_t *tv(uint64_t seed, size_t len)
{
	for (size_t j = 0; j < len; j++) g_vbuf[j] = (uint8_t)(seed * 131 + j * 7 + (seed >> 8));
	return g_vbuf;
}

static void tw_put(twin *t, uint32_t sid, uint64_t i, uint64_t seed, size_t len)
{
	tkey a;
	const uint8_t *v = tv(seed, len);
	for (int w = 0; w < 2; w++)
		assert_int_equal(t->s[w]->ops->put(t->s[w]->be, sid, tk(&a, i), v, len), FLINC_OK);
}

/* put_inplace of len bytes on both, then the same change to both; returns
 * the snapshotting instance's pointer. */
static uint8_t *tw_inplace(twin *t, uint32_t sid, uint64_t i, size_t len, uint64_t x, bool *created)
{
	tkey a;
	uint8_t *p[2];
	bool c[2];
	for (int w = 0; w < 2; w++) {
		p[w] = t->s[w]->ops->put_inplace(t->s[w]->be, sid, tk(&a, i), len, &c[w]);
		assert_non_null(p[w]);
	}
	assert_int_equal(c[0], c[1]);
	if (len) assert_memory_equal(p[0], p[1], len);
	for (int w = 0; len && w < 2; w++) p[w][x % len] += (uint8_t)(x | 1);
	if (created) *created = c[0];
	return p[0];
}

static void tw_remove(twin *t, uint32_t sid, uint64_t i)
{
	tkey a;
	for (int w = 0; w < 2; w++)
		assert_int_equal(t->s[w]->ops->remove(t->s[w]->be, sid, tk(&a, i)), FLINC_OK);
}

static void tw_append(twin *t, uint32_t sid, uint64_t i, uint64_t seed, size_t len)
{
	tkey a;
	const uint8_t *v = tv(seed, len);
	for (int w = 0; w < 2; w++)
		assert_int_equal(t->s[w]->ops->list_append(t->s[w]->be, sid, tk(&a, i), v, len), FLINC_OK);
}

/* User key u of a map test key: 1..8 bytes. */
static void tw_mput(twin *t, uint32_t sid, uint64_t i, uint64_t u, uint64_t seed, size_t len)
{
	tkey a;
	const uint8_t *v = tv(seed, len);
	for (int w = 0; w < 2; w++)
		assert_int_equal(t->s[w]->ops->map_put(t->s[w]->be, sid, tk(&a, i), &u, 1 + u % 8, v, len),
				 FLINC_OK);
}

static void tw_mremove(twin *t, uint32_t sid, uint64_t i, uint64_t u)
{
	tkey a;
	for (int w = 0; w < 2; w++)
		assert_int_equal(t->s[w]->ops->map_remove(t->s[w]->be, sid, tk(&a, i), &u, 1 + u % 8),
				 FLINC_OK);
}

/* The live states of both instances are equal and readable by lookup. */
static void tw_verify(twin *t, const uint32_t *sids, int n)
{
	for (int i = 0; i < n; i++) {
		dump a, b;
		live_dump(t->s[0], sids[i], &a);
		live_dump(t->s[1], sids[i], &b);
		dump_expect_eq(&a, &b);
		assert_int_equal(t->s[0]->ops->count(t->s[0]->be, sids[i]), a.n);
		check_lookups(t->s[0], sids[i], &a);
		dump_free(&a);
		dump_free(&b);
	}
}

/* Value sizes: slab classes, the slab limit and large blocks. */
static size_t vsize(uint64_t i)
{
	static const size_t sz[] = { 8, 8, 24, 40, 0, 200, 480, 600, 3000, 8 };
	return sz[i % 10];
}

/* A snapshot is exactly the state at snap_open after every kind of
 * modification, and the live state is right too. */
static void m_snap_model(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	twin t;
	tw_open(&t);
	uint32_t sid[4];
	sid[0] = tw_declare(&t, "v", FL_STATE_VALUE);
	sid[1] = tw_declare(&t, "l", FL_STATE_LIST);
	sid[2] = tw_declare(&t, "m", FL_STATE_MAP);
	uint32_t v = sid[0], l = sid[1], m = sid[2];
	enum { NV = 2000, NL = 500, NP = 300, NU = 5 };
	for (uint64_t i = 0; i < NV; i++) tw_put(&t, v, i, i, vsize(i));
	for (uint64_t i = 0; i < NL; i++)
		for (uint64_t e = 0; e <= i % 4; e++) tw_append(&t, l, i, i + e, (size_t)(e * 5 + i % 3));
	for (uint64_t i = 0; i < NP; i++)
		for (uint64_t u = 0; u < NU; u++) tw_mput(&t, m, i, u, i * 10 + u, vsize(i + u));
	sbe *a = t.s[0];
	tkey tk1;
	const void *old_p;
	size_t old_len;
	uint8_t old_copy[8];
	assert_int_equal(ops->get(a->be, v, tk(&tk1, 1), &old_p, &old_len), FLINC_OK);
	assert_int_equal(old_len, 8);
	memcpy(old_copy, old_p, 8);

	dump model[3];
	for (int i = 0; i < 3; i++) live_dump(a, sid[i], &model[i]);
	void *snap = NULL;
	char err[256] = "";
	assert_int_equal(ops->snap_open(a->be, &snap, err, sizeof(err)), FLINC_OK);
	assert_non_null(snap);
	assert_int_equal(fl_memory_retired(a->be), 0);

	/* A state declared after snap_open is not in the snapshot. */
	sid[3] = tw_declare(&t, "x", FL_STATE_VALUE);
	tw_put(&t, sid[3], 5, 5, 10);
	dump d;
	dump_init(&d);
	assert_int_equal(ops->snap_scan(snap, sid[3], 0, 127, dump_fn, &d), FLINC_EINVAL);
	assert_int_equal(ops->snap_scan(snap, 99, 0, 127, dump_fn, &d), FLINC_EINVAL);

	/* put_inplace on an old entry returns a copy that keeps the value;
	 * then the copy is updated in place; the old block is untouched. */
	bool created;
	uint8_t *p1 = tw_inplace(&t, v, 1, 8, 3, &created);
	assert_false(created);
	assert_ptr_not_equal(p1, old_p);
	assert_ptr_equal(tw_inplace(&t, v, 1, 8, 4, &created), p1);
	assert_false(created);
	assert_memory_equal(old_p, old_copy, 8);
	assert_int_equal(fl_memory_retired(a->be), 1);

	/* Values: same size, other sizes (slab <-> large), put_inplace on
	 * old entries (same and other lengths) and on new ones, removes. */
	for (uint64_t i = 0; i < NV; i += 7) tw_put(&t, v, i, i + 1000, vsize(i));
	for (uint64_t i = 1; i < NV; i += 11) tw_put(&t, v, i, i + 2000, vsize(i + 3));
	for (uint64_t i = 0; i < NV; i += 5) tw_inplace(&t, v, i, 8, i, NULL);
	for (uint64_t i = 2; i < NV; i += 13) tw_inplace(&t, v, i, 16, i, NULL);
	for (uint64_t i = 0; i < 200; i++) {
		uint8_t *p = tw_inplace(&t, v, 100000 + i, 8, i, &created);
		assert_true(created);
		assert_ptr_equal(tw_inplace(&t, v, 100000 + i, 8, i + 1, &created), p);
		assert_false(created);
	}
	for (uint64_t i = 3; i < NV; i += 3) tw_remove(&t, v, i);
	/* A large old value grows (no realloc of the shared block), then the
	 * copy grows again (realloc of a block of the new epoch). */
	tw_put(&t, v, 8, 8, 100000);
	tw_put(&t, v, 8, 9, 200000);

	/* Lists: appends that fit the slack, that grow, to large; removes. */
	for (uint64_t i = 0; i < NL; i += 2) tw_append(&t, l, i, i + 7, (size_t)(i % 5));
	for (uint64_t i = 1; i < NL; i += 10) tw_append(&t, l, i, i + 8, 700);
	for (uint64_t i = 4; i < NL; i += 9) tw_remove(&t, l, i);

	/* Maps: same size, larger, new user keys under old prefixes, removes
	 * in the middle of a prefix's list, whole prefixes (old entries only
	 * and mixed), every user key one by one (the prefix node goes), and a
	 * prefix that comes back. */
	for (uint64_t i = 0; i < NP; i++) {
		tw_mput(&t, m, i, 0, i + 3000, vsize(i));
		if (i % 2) tw_mput(&t, m, i, 1, i + 4000, 700 + i);
		tw_mput(&t, m, i, 9, i + 5000, 12);
		tw_mremove(&t, m, i, 2);
	}
	for (uint64_t i = 0; i < NP; i += 10) tw_remove(&t, m, i); /* mixed: uk 9 is new */
	for (uint64_t i = 2; i < NP; i += 10)
		for (uint64_t u = 0; u < 10; u++) tw_mremove(&t, m, i, u);
	for (uint64_t i = 0; i < NP; i += 20) tw_mput(&t, m, i, 3, i, 30);

	/* Grow the tables a lot, then shrink them below the size at open. */
	for (uint64_t i = 0; i < 30000; i++) {
		tw_put(&t, v, 200000 + i, i, 8 + i % 30);
		if (i % 6 == 0) tw_mput(&t, m, 200000 + i, i % 4, i, 8);
	}
	assert_true(fl_memory_retired(a->be) > 0);
	for (uint64_t i = 0; i < 30000; i++) {
		tw_remove(&t, v, 200000 + i);
		if (i % 12 == 0) tw_remove(&t, m, 200000 + i);
	}
	for (uint64_t i = 0; i < NV; i++)
		if (i % 4) tw_remove(&t, v, i);
	for (uint64_t i = 0; i < NP; i++)
		if (i % 3) tw_remove(&t, m, i);

	/* The snapshot: whole, key group by key group, stopped early. */
	for (int i = 0; i < 3; i++) {
		snap_dump(ops, snap, sid[i], &d);
		dump_expect_eq(&d, &model[i]);
		dump_free(&d);
		dump_init(&d);
		for (int g = 0; g < 128; g++) {
			d.last_kg = -1;
			assert_int_equal(ops->snap_scan(snap, sid[i], g, g, dump_fn, &d), 0);
			assert_true(d.last_kg == -1 || d.last_kg == g);
		}
		dump_sort(&d);
		dump_expect_eq(&d, &model[i]);
		dump_free(&d);
		d.stop_at = 3;
		assert_int_equal(ops->snap_scan(snap, sid[i], -5, 1000, dump_fn, &d), 7);
		assert_int_equal(d.n, 3);
		dump_free(&d);
	}
	assert_memory_equal(old_p, old_copy, 8);
	tw_verify(&t, sid, 4);

	/* Released: the next modifying call frees what the snapshot kept. */
	ops->snap_release(snap);
	assert_true(fl_memory_retired(a->be) > 0);
	tw_put(&t, sid[3], 6, 6, 10);
	assert_int_equal(fl_memory_retired(a->be), 0);
	tw_verify(&t, sid, 4);
	for (int i = 0; i < 3; i++) dump_free(&model[i]);
	tw_close(&t);
}

/* ---- concurrent snapshot scan ---- */

typedef struct reader {
	const fl_backend_ops *ops;
	void *snap;
	uint32_t sid[3];
	int passes;
	dump first[3];   /* pass 0, whole states */
	int mismatches;  /* later passes that differ from pass 0 */
	int errors;      /* non-zero snap_scan results, order violations */
	atomic_int go;   /* set by the owner once it is mutating */
	atomic_int done; /* set after the last pass and snap_release */
} reader;

static void *reader_main(void *arg)
{
	reader *r = arg;
	while (!atomic_load_explicit(&r->go, memory_order_acquire)) sched_yield();
	for (int pass = 0; pass < r->passes; pass++) {
		for (int i = 0; i < 3; i++) {
			dump d;
			dump_init(&d);
			if (pass % 2 == 0) {
				if (r->ops->snap_scan(r->snap, r->sid[i], 0, 127, dump_fn, &d)) r->errors++;
			} else {
				/* key group by key group, as a snapshot writer reads;
				 * same order as a whole scan */
				for (int g = 0; g < 128; g++)
					if (r->ops->snap_scan(r->snap, r->sid[i], g, g, dump_fn, &d))
						r->errors++;
			}
			r->errors += d.bad_order;
			if (pass == 0) {
				r->first[i] = d;
				continue;
			}
			if (d.n != r->first[i].n || d.seq != r->first[i].seq) r->mismatches++;
			dump_free(&d);
		}
	}
	r->ops->snap_release(r->snap); /* from this thread: the owner reclaims */
	atomic_store_explicit(&r->done, 1, memory_order_release);
	return NULL;
}

/* One random modification of the twin: every kind, over keys of which some
 * are old (in the snapshot) and some new. */
static void tw_random_op(twin *t, const uint32_t *sid, uint64_t *rng, uint64_t nkeys)
{
	uint64_t x = rng_next(rng);
	uint64_t i = (x >> 8) % nkeys, u = (x >> 40) % 6;
	size_t len = (size_t)((x >> 48) % 64);
	switch ((x >> 4) % 11) {
	case 0: tw_put(t, sid[0], i, x, len); break;
	case 1: tw_put(t, sid[0], i, x, (x >> 30) % 16 == 0 ? 700 : 8); break;
	case 2: tw_inplace(t, sid[0], i, 8, x, NULL); break;
	case 3: tw_remove(t, sid[0], i); break;
	case 4: tw_append(t, sid[1], i % (nkeys / 4), x, len % 24); break;
	case 5: tw_remove(t, sid[1], i % (nkeys / 4)); break;
	case 6:
	case 7: tw_mput(t, sid[2], i % (nkeys / 4), u, x, len); break;
	case 8: tw_mremove(t, sid[2], i % (nkeys / 4), u); break;
	case 9: tw_remove(t, sid[2], i % (nkeys / 4)); break;
	default: tw_inplace(t, sid[0], nkeys + (x >> 20) % 2000, 8, x, NULL); break;
	}
}

/* snap_scan on another thread while the owner mutates heavily: every pass
 * reads exactly the state at snap_open. */
static void m_snap_concurrent(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	twin t;
	tw_open(&t);
	uint32_t sid[3];
	sid[0] = tw_declare(&t, "v", FL_STATE_VALUE);
	sid[1] = tw_declare(&t, "l", FL_STATE_LIST);
	sid[2] = tw_declare(&t, "m", FL_STATE_MAP);
	enum { NK = 40000 };
	for (uint64_t i = 0; i < NK; i++) {
		tw_put(&t, sid[0], i, i, 8 + i % 57);
		if (i % 4 == 0) tw_append(&t, sid[1], i / 4, i, i % 20);
		if (i % 4 == 1)
			for (uint64_t u = 0; u < 4; u++)
				tw_mput(&t, sid[2], i / 4, u, i + u, 4 + (i + u) % 40);
	}
	dump model[3];
	for (int i = 0; i < 3; i++) live_dump(t.s[0], sid[i], &model[i]);

	static reader r;
	memset(&r, 0, sizeof(r));
	atomic_init(&r.go, 0);
	atomic_init(&r.done, 0);
	r.ops = ops;
	r.passes = 6;
	memcpy(r.sid, sid, sizeof(sid));
	char err[256] = "";
	assert_int_equal(ops->snap_open(t.s[0]->be, &r.snap, err, sizeof(err)), FLINC_OK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	uint64_t rng = 0xfeedbeef;
	size_t ops_during = 0;
	for (; ops_during < 2000; ops_during++) tw_random_op(&t, sid, &rng, NK);
	atomic_store_explicit(&r.go, 1, memory_order_release);
	while (!atomic_load_explicit(&r.done, memory_order_acquire)) {
		tw_random_op(&t, sid, &rng, NK);
		ops_during++;
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	/* The next modifying call reclaims what the released snapshot kept. */
	tw_random_op(&t, sid, &rng, NK);
	tw_put(&t, sid[0], 1, 1, 8);
	assert_int_equal(fl_memory_retired(t.s[0]->be), 0);
	print_message("concurrent snapshot: %d scan passes while the owner made %zu modifications\n",
		      r.passes, ops_during);

	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 0);
	for (int i = 0; i < 3; i++) {
		dump_sort(&r.first[i]);
		dump_expect_eq(&r.first[i], &model[i]);
		dump_free(&r.first[i]);
		dump_free(&model[i]);
	}
	tw_verify(&t, sid, 3);
	tw_close(&t);
}

/* Release from another thread. */
static void *release_main(void *arg)
{
	fl_backend_memory.snap_release(arg);
	return NULL;
}

/* One snapshot at a time, release and open again, release from another
 * thread then reclaim on the owner's next modifying call (not on a read),
 * and close with a released snapshot not yet reclaimed (ASan: no leak). */
static void m_snap_lifecycle(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	assert_null(fl_backend_rocksdb.snap_open);
	assert_null(fl_backend_rocksdb.snap_scan);
	assert_null(fl_backend_rocksdb.snap_release);
	ops->snap_release(NULL);
	twin t;
	tw_open(&t);
	uint32_t sid[1];
	sid[0] = tw_declare(&t, "v", FL_STATE_VALUE);
	void *be = t.s[0]->be;
	char err[256] = "";
	void *s1 = NULL, *s2 = (void *)1;

	/* Empty states: an empty snapshot. */
	assert_int_equal(ops->snap_open(be, &s1, err, sizeof(err)), FLINC_OK);
	dump d;
	snap_dump(ops, s1, sid[0], &d);
	assert_int_equal(d.n, 0);
	ops->snap_release(s1);

	for (uint64_t i = 0; i < 100; i++) tw_put(&t, sid[0], i, i, i % 2 ? 8 : 5000);
	assert_int_equal(ops->snap_open(be, &s1, err, sizeof(err)), FLINC_OK); /* reclaims the first */
	assert_int_equal(ops->snap_open(be, &s2, err, sizeof(err)), FLINC_EEXIST);
	assert_null(s2);
	assert_true(err[0] != 0);
	tw_put(&t, sid[0], 1, 77, 8);
	ops->snap_release(s1);
	assert_int_equal(ops->snap_open(be, &s2, err, sizeof(err)), FLINC_OK);
	assert_int_equal(fl_memory_retired(be), 0);

	/* Released from another thread; reads do not reclaim, a modification
	 * does. */
	for (uint64_t i = 0; i < 100; i += 2) tw_put(&t, sid[0], i, i + 1, 16);
	assert_int_equal(fl_memory_retired(be), 50);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, release_main, s2), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	const void *got;
	size_t len;
	tkey a;
	assert_int_equal(ops->get(be, sid[0], tk(&a, 3), &got, &len), FLINC_OK);
	assert_int_equal(fl_memory_retired(be), 50);
	tw_remove(&t, sid[0], 99);
	assert_int_equal(fl_memory_retired(be), 0);
	tw_verify(&t, sid, 1);

	/* Blocks freed by the reclaim are reused (memory does not grow over
	 * checkpoints): the same modifications under many snapshots. */
	for (int round = 0; round < 50; round++) {
		assert_int_equal(ops->snap_open(be, &s1, err, sizeof(err)), FLINC_OK);
		for (uint64_t i = 0; i < 100; i++)
			tw_put(&t, sid[0], i, i + (uint64_t)round, i % 2 ? 8 : 5000);
		ops->snap_release(s1);
	}
	tw_verify(&t, sid, 1);

	/* Close with a released snapshot not reclaimed yet, holding retired
	 * large blocks: close frees them. */
	assert_int_equal(ops->snap_open(be, &s1, err, sizeof(err)), FLINC_OK);
	for (uint64_t i = 0; i < 100; i += 2) tw_put(&t, sid[0], i, i + 5, 6000);
	tw_remove(&t, sid[0], 1);
	assert_int_equal(fl_memory_retired(be), 51);
	ops->snap_release(s1);
	tw_close(&t);
}

/* More than 256 snapshots (the 8-bit epoch wraps) with modifications in
 * between, some keys left alone for more than 256 of them: every snapshot
 * still sees exactly its state. */
static void m_snap_epoch_wrap(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_memory;
	twin t;
	tw_open(&t);
	uint32_t sid[3];
	sid[0] = tw_declare(&t, "v", FL_STATE_VALUE);
	sid[1] = tw_declare(&t, "l", FL_STATE_LIST);
	sid[2] = tw_declare(&t, "m", FL_STATE_MAP);
	enum { NK = 300, ROUNDS = 600 };
	for (uint64_t j = 0; j < NK; j++) {
		tw_put(&t, sid[0], j, j, 8);
		tw_append(&t, sid[1], j, j, 3);
		tw_mput(&t, sid[2], j, 0, j, 8);
	}
	char err[256] = "";
	for (uint64_t r = 0; r < ROUNDS; r++) {
		dump model[3];
		for (int i = 0; i < 3; i++) live_dump(t.s[0], sid[i], &model[i]);
		void *snap;
		assert_int_equal(ops->snap_open(t.s[0]->be, &snap, err, sizeof(err)), FLINC_OK);
		/* Key j changes every j + 1 snapshots: key 255 after exactly
		 * 256, keys above after longer. */
		for (uint64_t j = 0; j < NK; j++) {
			if (r % (j + 1)) continue;
			tw_inplace(&t, sid[0], j, 8, r, NULL);
			if (j % 2) tw_append(&t, sid[1], j, r, 2);
			tw_mput(&t, sid[2], j, r % 3, r, 8);
		}
		for (int i = 0; i < 3; i++) {
			dump d;
			snap_dump(ops, snap, sid[i], &d);
			dump_expect_eq(&d, &model[i]);
			dump_free(&d);
			dump_free(&model[i]);
		}
		ops->snap_release(snap);
		/* and some changes with no snapshot open */
		tw_put(&t, sid[0], r % NK, r, 8);
		if (r % 50 == 49) tw_verify(&t, sid, 3);
	}
	tw_verify(&t, sid, 3);
	tw_close(&t);
}

/* ---- RocksDB backend specifics --------------------------------------- */

static bool path_exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* Entries in folder p (without . and ..); -1 if it cannot be read. */
static int dir_entries(const char *p)
{
	DIR *d = opendir(p);
	if (!d) return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
	closedir(d);
	return n;
}

/* Whether folder p holds a file whose name ends with suffix. */
static bool dir_has_suffix(const char *p, const char *suffix)
{
	DIR *d = opendir(p);
	if (!d) return false;
	bool found = false;
	struct dirent *de;
	while ((de = readdir(d)) && !found) {
		size_t n = strlen(de->d_name), m = strlen(suffix);
		found = n >= m && strcmp(de->d_name + n - m, suffix) == 0;
	}
	closedir(d);
	return found;
}

static void rm_tree(const char *p) { nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A scratch folder for a test; remove with rm_tree. */
static void scratch_dir(char *buf, size_t cap)
{
	snprintf(buf, cap, "/tmp/flinc-rocks-test-XXXXXX");
	assert_non_null(mkdtemp(buf));
}

/* The checkpoint test's data: entry i has key "k<i>" in key group i % 128
 * and namespace "n<i % 3>". */
enum { CK_N = 6000, CK_ACC = 2500 };

static fl_skey ck_key(char *kb, char *nb, int i)
{
	snprintf(kb, 16, "k%d", i);
	snprintf(nb, 8, "n%d", i % 3);
	return KS((uint16_t)(i % 128), kb, nb);
}

/* State ids of the checkpoint test, whatever order they were declared in. */
typedef struct ck_ids {
	uint32_t v, l, m, acc;
} ck_ids;

/* Check that s holds exactly what r_checkpoint_restore wrote before its
 * checkpoint, with `live` the value written through the live pointer. */
static void ck_verify(sbe *s, const ck_ids *id, uint64_t live)
{
	const fl_backend_ops *ops = s->ops;
	char kb[16], nb[8], want[64];
	for (int i = 0; i < CK_N; i++) {
		fl_skey k = ck_key(kb, nb, i);
		snprintf(want, sizeof(want), "v%d", i);
		expect_s(s, id->v, k, want);
		uint8_t enc[64];
		size_t n = 0;
		for (int j = 0; j < 2; j++) {
			char el[16];
			int len = snprintf(el, sizeof(el), "%c%d", j ? 'b' : 'a', i);
			enc[n] = (uint8_t)len;
			enc[n + 1] = enc[n + 2] = enc[n + 3] = 0;
			memcpy(enc + n + 4, el, (size_t)len);
			n += 4 + (size_t)len;
		}
		expect_val(s, id->l, k, enc, n);
		snprintf(want, sizeof(want), "x%d", i);
		expect_map(s, id->m, k, "x", want);
		snprintf(want, sizeof(want), "y%d", i);
		expect_map(s, id->m, k, "y", want);
		if (i < CK_ACC) {
			uint64_t a = (uint64_t)i * 7;
			expect_val(s, id->acc, k, &a, 8);
		}
	}
	expect_val(s, id->acc, KS(5, "live", NULL), &live, 8);
	assert_int_equal(ops->count(s->be, id->v), CK_N);
	assert_int_equal(ops->count(s->be, id->l), CK_N);
	assert_int_equal(ops->count(s->be, id->m), 2 * CK_N);
	assert_int_equal(ops->count(s->be, id->acc), CK_ACC + 1);
	int n = 0;
	assert_int_equal(ops->scan(s->be, id->m, 0, 127, scan_nop, &n), 0);
	assert_int_equal(n, 2 * CK_N);
}

/* Reopening from a native checkpoint restores every entry of every state,
 * including put_inplace values still in the write-back cache and one
 * written through a live pointer after a scan; the checkpoint is a point
 * in time that outlives its instance and survives being restored twice. */
static void r_checkpoint_restore(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	char root[64], chk[96];
	scratch_dir(root, sizeof(root));
	snprintf(chk, sizeof(chk), "%s/chk-1", root);

	sbe *a = sbe_open(ops);
	ck_ids ia = { .v = declare(a, "op/v", FL_STATE_VALUE),
		      .l = declare(a, "op/l", FL_STATE_LIST),
		      .m = declare(a, "op/m", FL_STATE_MAP),
		      .acc = declare(a, "op/acc", FL_STATE_VALUE) };
	char kb[16], nb[8], buf[32];
	bool created;
	for (int i = 0; i < CK_N; i++) {
		fl_skey k = ck_key(kb, nb, i);
		snprintf(buf, sizeof(buf), "v%d", i);
		put_s(a, ia.v, k, buf);
		snprintf(buf, sizeof(buf), "a%d", i);
		assert_int_equal(ops->list_append(a->be, ia.l, &k, buf, strlen(buf)), FLINC_OK);
		snprintf(buf, sizeof(buf), "b%d", i);
		assert_int_equal(ops->list_append(a->be, ia.l, &k, buf, strlen(buf)), FLINC_OK);
		snprintf(buf, sizeof(buf), "x%d", i);
		map_put_s(a, ia.m, k, "x", buf);
		snprintf(buf, sizeof(buf), "y%d", i);
		map_put_s(a, ia.m, k, "y", buf);
		if (i < CK_ACC) {
			uint64_t *acc = ops->put_inplace(a->be, ia.acc, &k, 8, &created);
			assert_non_null(acc);
			assert_true(created);
			*acc = (uint64_t)i * 7;
		}
	}
	/* A pointer from put_inplace stays writable across non-modifying calls
	 * (count and scan write the cache back but keep that entry dirty). */
	fl_skey live = KS(5, "live", NULL);
	uint64_t *lp = ops->put_inplace(a->be, ia.acc, &live, 8, &created);
	assert_non_null(lp);
	*lp = 42;
	assert_int_equal(ops->count(a->be, ia.acc), CK_ACC + 1);
	*lp = 43;
	assert_int_equal(ops->native_checkpoint(a->be, chk, NULL, 0), FLINC_OK);
	assert_true(path_exists(chk));
	char cur[128];
	snprintf(cur, sizeof(cur), "%s/CURRENT", chk);
	assert_true(path_exists(cur));
	assert_true(dir_has_suffix(chk, ".sst"));
	/* A second checkpoint into the same folder is refused. */
	char err[256] = "";
	assert_int_equal(ops->native_checkpoint(a->be, chk, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "exists"));

	/* The instance moves on: none of this is in the checkpoint. */
	for (int i = 0; i < CK_N; i += 2) {
		fl_skey k = ck_key(kb, nb, i);
		put_s(a, ia.v, k, "changed");
		assert_int_equal(ops->list_append(a->be, ia.l, &k, "c", 1), FLINC_OK);
		assert_int_equal(ops->remove(a->be, ia.m, &k), FLINC_OK);
		assert_int_equal(ops->remove(a->be, ia.acc, &k), FLINC_OK);
	}
	char chk2[96];
	snprintf(chk2, sizeof(chk2), "%s/chk-2", root);
	assert_int_equal(ops->native_checkpoint(a->be, chk2, NULL, 0), FLINC_OK);
	sbe_close(a);

	/* Restore into a fresh instance; declare in another order, plus a new
	 * state; a known name with another kind is refused. */
	sbe *b = sbe_open(ops);
	assert_int_equal(ops->native_restore(b->be, chk, err, sizeof(err)), FLINC_OK);
	ck_ids ib;
	ib.m = declare(b, "op/m", FL_STATE_MAP);
	ib.acc = declare(b, "op/acc", FL_STATE_VALUE);
	uint32_t fresh = declare(b, "op/new", FL_STATE_VALUE);
	ib.l = declare(b, "op/l", FL_STATE_LIST);
	ib.v = declare(b, "op/v", FL_STATE_VALUE);
	uint32_t sid;
	assert_int_equal(ops->declare(b->be, "op/v", FL_STATE_LIST, &sid), FLINC_EINVAL);
	assert_int_equal(ops->count(b->be, fresh), 0);
	ck_verify(b, &ib, 43);
	/* The restored instance is a normal one: write, then check. */
	put_s(b, ib.v, KS(1, "after", NULL), "restore");
	expect_s(b, ib.v, KS(1, "after", NULL), "restore");
	assert_int_equal(ops->list_append(b->be, ib.l, &live, "z", 1), FLINC_OK);
	sbe_close(b);

	/* The checkpoint is untouched by that instance's writes and close. */
	sbe *c = sbe_open(ops);
	assert_int_equal(ops->native_restore(c->be, chk, err, sizeof(err)), FLINC_OK);
	ck_ids ic = { .v = declare(c, "op/v", FL_STATE_VALUE),
		      .l = declare(c, "op/l", FL_STATE_LIST),
		      .m = declare(c, "op/m", FL_STATE_MAP),
		      .acc = declare(c, "op/acc", FL_STATE_VALUE) };
	ck_verify(c, &ic, 43);
	sbe_close(c);

	/* The second checkpoint has the later changes. */
	sbe *d = sbe_open(ops);
	assert_int_equal(ops->native_restore(d->be, chk2, err, sizeof(err)), FLINC_OK);
	ck_ids id = { .v = declare(d, "op/v", FL_STATE_VALUE),
		      .l = declare(d, "op/l", FL_STATE_LIST),
		      .m = declare(d, "op/m", FL_STATE_MAP),
		      .acc = declare(d, "op/acc", FL_STATE_VALUE) };
	assert_int_equal(ops->count(d->be, id.v), CK_N);
	assert_int_equal(ops->count(d->be, id.m), CK_N); /* every other prefix removed */
	assert_int_equal(ops->count(d->be, id.acc), CK_ACC / 2 + 1);
	expect_s(d, id.v, ck_key(kb, nb, 0), "changed");
	expect_s(d, id.v, ck_key(kb, nb, 1), "v1");
	expect_map(d, id.m, ck_key(kb, nb, 2), "x", NULL);
	expect_map(d, id.m, ck_key(kb, nb, 3), "x", "x3");
	sbe_close(d);
	rm_tree(root);
}

/* native_restore refuses what it cannot do and leaves the instance as it
 * was; the memory backend has no native checkpoints. */
static void r_restore_errors(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	assert_null(fl_backend_memory.native_checkpoint);
	assert_null(fl_backend_memory.native_restore);
	char root[64], path[128], err[256];
	scratch_dir(root, sizeof(root));

	sbe *s = sbe_open(ops);
	snprintf(path, sizeof(path), "%s/missing", root);
	err[0] = 0;
	assert_int_equal(ops->native_restore(s->be, path, err, sizeof(err)), FLINC_EIO);
	assert_non_null(strstr(err, path));
	/* A folder that is not a checkpoint. */
	snprintf(path, sizeof(path), "%s/empty", root);
	assert_int_equal(mkdir(path, 0755), 0);
	err[0] = 0;
	assert_int_equal(ops->native_restore(s->be, path, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "CURRENT"));
	assert_int_equal(ops->native_restore(s->be, NULL, NULL, 0), FLINC_EINVAL);
	/* Still a working, empty instance. */
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	assert_int_equal(ops->count(s->be, v), 0);
	put_s(s, v, KS(0, "k", NULL), "x");
	/* A checkpoint of it, then restoring after a declare is refused. */
	snprintf(path, sizeof(path), "%s/chk", root);
	assert_int_equal(ops->native_checkpoint(s->be, path, err, sizeof(err)), FLINC_OK);
	err[0] = 0;
	assert_int_equal(ops->native_restore(s->be, path, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "declared"));
	expect_s(s, v, KS(0, "k", NULL), "x");
	/* Checkpoints need a folder whose parent exists. */
	snprintf(path, sizeof(path), "%s/no/such/parent", root);
	err[0] = 0;
	assert_int_not_equal(ops->native_checkpoint(s->be, path, err, sizeof(err)), FLINC_OK);
	assert_true(err[0] != 0);
	sbe_close(s);

	/* A folder of foreign column families is no state checkpoint. */
	sbe *t = sbe_open(ops);
	snprintf(path, sizeof(path), "%s/chk", root);
	assert_int_equal(ops->native_restore(t->be, path, err, sizeof(err)), FLINC_OK);
	assert_int_equal(ops->count(t->be, declare(t, "op/v", FL_STATE_VALUE)), 1);
	sbe_close(t);
	rm_tree(root);
}

/* Open ops on key groups [first, last] of maxp in a fresh folder. */
static sbe *sbe_open_range(const fl_backend_ops *ops, int first, int last, int maxp)
{
	sbe *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->ops = ops;
	s->be = calloc(1, ops->priv_size);
	snprintf(s->dir, sizeof(s->dir), "/tmp/flinc-state-test-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	fl_backend_params p = { .kg_first = first, .kg_last = last, .max_parallelism = maxp, .dir = s->dir };
	char err[256] = "";
	if (ops->open(s->be, &p, err, sizeof(err))) fail_msg("open: %s", err);
	return s;
}

typedef struct kg_check {
	int n, last_kg, bad_order;
	uint64_t idsum;
	int per_kg[32768];
} kg_check;

static int kg_scan(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		   uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	kg_check *c = ud;
	(void)ns, (void)nslen, (void)uk, (void)uklen, (void)key;
	if (c->n && kg < c->last_kg) c->bad_order++;
	c->last_kg = kg;
	uint32_t id;
	assert_int_equal(vlen, 6);
	memcpy(&id, val, 4);
	uint16_t vkg;
	memcpy(&vkg, (const uint8_t *)val + 4, 2);
	assert_int_equal(vkg, kg);
	assert_int_equal(klen, id % 300);
	c->idsum += id;
	c->per_kg[kg]++;
	c->n++;
	return 0;
}

/* With 32768 key groups, keys of lengths 0..299 (one- and two-byte length
 * prefixes) and namespaces, scan visits key groups in ascending order and a
 * range scan sees exactly its key groups, both across the byte boundaries
 * of the big-endian key group (255|256) and at the ends. */
static void r_many_groups(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	sbe *s = sbe_open_range(ops, 0, 32767, 32768);
	uint32_t v = declare(s, "op/v", FL_STATE_VALUE);
	uint32_t m = declare(s, "op/m", FL_STATE_MAP);
	enum { M = 40000 };
	static kg_check want;
	memset(&want, 0, sizeof(want));
	static uint8_t kb[300];
	for (size_t i = 0; i < sizeof(kb); i++)
		kb[i] = (uint8_t)(0xff - i); /* 0xff bytes test the prefix successor */
	uint64_t rng = 99;
	for (uint32_t id = 0; id < M; id++) {
		uint16_t kg;
		if (id < 8)
			kg = (uint16_t)((const int[]){ 0, 1, 255, 256, 257, 32766, 32767, 511 }[id]);
		else
			kg = (uint16_t)(rng_next(&rng) % 32768);
		uint8_t val[6];
		memcpy(val, &id, 4);
		memcpy(val + 4, &kg, 2);
		/* Distinct (key, ns) per id: the namespace carries the id. */
		fl_skey k = K(kg, kb, id % 300, &id, 4);
		assert_int_equal(ops->put(s->be, v, &k, val, 6), FLINC_OK);
		assert_int_equal(ops->map_put(s->be, m, &k, "\xff", 1, val, 6), FLINC_OK);
		want.per_kg[kg]++;
		want.idsum += id;
	}
	static kg_check got;
	memset(&got, 0, sizeof(got));
	assert_int_equal(ops->scan(s->be, v, 0, 32767, kg_scan, &got), 0);
	assert_int_equal(got.n, M);
	assert_int_equal(got.bad_order, 0);
	assert_int_equal(got.idsum, want.idsum);
	assert_memory_equal(got.per_kg, want.per_kg, sizeof(got.per_kg));
	memset(&got, 0, sizeof(got));
	assert_int_equal(ops->scan(s->be, m, 0, 32767, kg_scan, &got), 0);
	assert_int_equal(got.n, M);
	assert_int_equal(got.bad_order, 0);

	const int ranges[][2] = { { 255, 256 }, { 0, 0 },        { 32767, 32767 },
				  { 256, 511 }, { 1000, 20000 }, { 32766, 40000 } };
	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		memset(&got, 0, sizeof(got));
		assert_int_equal(ops->scan(s->be, v, ranges[r][0], ranges[r][1], kg_scan, &got), 0);
		int expect = 0;
		for (int g = ranges[r][0]; g <= ranges[r][1] && g < 32768; g++) expect += want.per_kg[g];
		assert_int_equal(got.n, expect);
		assert_int_equal(got.bad_order, 0);
		for (int g = 0; g < 32768; g++)
			if (g < ranges[r][0] || g > ranges[r][1]) assert_int_equal(got.per_kg[g], 0);
	}
	/* map_iter stays inside its prefix even when the key ends in 0xff. */
	uint32_t id0 = 0;
	fl_skey k0 = K(0, kb, 0, &id0, 4);
	seen sn = { 0 };
	assert_int_equal(ops->map_iter(s->be, m, &k0, collect, &sn), 0);
	assert_int_equal(sn.n, 1);
	sbe_close(s);
}

/* The working folder: created when missing, the database removed at close
 * and the folder too unless something else is in it; made under
 * state.backend.rocksdb.localdir when none is given; a clear error when it
 * cannot be made; malformed config keys are named. */
static void r_workdir(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	char root[64], path[256], err[256];
	scratch_dir(root, sizeof(root));
	void *be = calloc(1, ops->priv_size);
	uint32_t sid;

	/* A nested folder that does not exist yet. */
	snprintf(path, sizeof(path), "%s/a/b/work", root);
	fl_backend_params p = { .kg_first = 0, .kg_last = 127, .max_parallelism = 128, .dir = path };
	assert_int_equal(ops->open(be, &p, err, sizeof(err)), FLINC_OK);
	assert_int_equal(dir_entries(path), 1); /* the database folder */
	assert_int_equal(ops->declare(be, "op/v", FL_STATE_VALUE, &sid), FLINC_OK);
	fl_skey k = KS(0, "k", NULL);
	assert_int_equal(ops->put(be, sid, &k, "v", 1), FLINC_OK);
	ops->close(be);
	assert_false(path_exists(path));
	snprintf(path, sizeof(path), "%s/a/b", root);
	assert_true(path_exists(path)); /* only the working folder goes */

	/* A folder with something else in it keeps that. */
	char shared[100], keep[200];
	snprintf(shared, sizeof(shared), "%s/shared", root);
	assert_int_equal(mkdir(shared, 0755), 0);
	snprintf(keep, sizeof(keep), "%s/keep.txt", shared);
	FILE *f = fopen(keep, "w");
	assert_non_null(f);
	fclose(f);
	p.dir = shared;
	assert_int_equal(ops->open(be, &p, err, sizeof(err)), FLINC_OK);
	assert_int_equal(dir_entries(shared), 2);
	ops->close(be);
	assert_int_equal(dir_entries(shared), 1);
	assert_true(path_exists(keep));

	/* No folder given: one is made under the configured local dir. */
	fl_conf *conf = fl_conf_create();
	snprintf(path, sizeof(path), "%s/local", root);
	fl_conf_set(conf, "state.backend.rocksdb.localdir", path);
	fl_backend_params q = { .kg_first = 0, .kg_last = 127, .max_parallelism = 128, .conf = conf };
	assert_int_equal(ops->open(be, &q, err, sizeof(err)), FLINC_OK);
	assert_int_equal(dir_entries(path), 1);
	ops->close(be);
	assert_int_equal(dir_entries(path), 0);

	/* A folder that cannot be made: the error names it. */
	snprintf(path, sizeof(path), "%s/under-a-file", keep);
	p.dir = path;
	err[0] = 0;
	assert_int_equal(ops->open(be, &p, err, sizeof(err)), FLINC_EIO);
	assert_non_null(strstr(err, path));
	ops->close(be);

	/* Malformed sizes are refused by name. */
	fl_conf_set(conf, "state.backend.rocksdb.block-cache-size", "lots");
	err[0] = 0;
	assert_int_equal(ops->open(be, &q, err, sizeof(err)), FLINC_ECONFIG);
	assert_non_null(strstr(err, "block-cache-size"));
	ops->close(be);
	fl_conf_set(conf, "state.backend.rocksdb.block-cache-size", "8mb");
	fl_conf_set(conf, "state.backend.rocksdb.inplace-cache-slots", "0");
	assert_int_equal(ops->open(be, &q, err, sizeof(err)), FLINC_ECONFIG);
	assert_non_null(strstr(err, "inplace-cache-slots"));
	ops->close(be);
	fl_conf_set(conf, "state.backend.rocksdb.inplace-cache-slots", "3");
	fl_conf_set(conf, "state.backend.rocksdb.write-buffer-size", "1mb");
	assert_int_equal(ops->open(be, &q, err, sizeof(err)), FLINC_OK);
	ops->close(be);
	snprintf(path, sizeof(path), "%s/local", root);
	assert_int_equal(dir_entries(path), 0);
	fl_conf_destroy(conf);
	free(be);
	rm_tree(root);
}

/* The conformance cases again with a 64 KiB write buffer (many flushes,
 * compactions merging list operands in SST files) and a put_inplace cache
 * of one set of 4 slots or of two sets (evictions on most calls). */
static void r_small_buffers(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "state.backend.rocksdb.write-buffer-size", "64kb");
	fl_conf_set(conf, "state.backend.rocksdb.block-cache-size", "1mb");
	const char *slots[] = { "1", "8" };
	for (int i = 0; i < 2; i++) {
		fl_conf_set(conf, "state.backend.rocksdb.inplace-cache-slots", slots[i]);
		g_conf = conf;
		c_value_basic(ops);
		c_put_inplace(ops);
		c_list(ops);
		c_map(ops);
		c_pointers(ops);
		c_inplace_across_states(ops);
		c_random_model(ops);
		if (i == 0) c_many(ops);
		g_conf = NULL;
	}
	fl_conf_destroy(conf);
}

static int count_uk(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	(void)uk, (void)uklen, (void)val, (void)len;
	++*(int *)ud;
	return 0;
}

/* Map entries cached in the write-back table (a table of 2 sets, so most
 * calls evict): gets see puts and removes, absences included; a map_get
 * pointer outlives evictions by later map_gets; a native checkpoint holds
 * what was only cached; after map_iter (the state goes write-through) and
 * a clear by prefix everything is still exact. */
static void r_map_cache(void **state)
{
	(void)state;
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "state.backend.rocksdb.inplace-cache-slots", "8");
	g_conf = conf;
	char root[64], chk[96], err[256] = "";
	scratch_dir(root, sizeof(root));
	snprintf(chk, sizeof(chk), "%s/chk-1", root);
	sbe *a = sbe_open(ops);
	uint32_t m = declare(a, "op/m", FL_STATE_MAP), m2 = declare(a, "op/m2", FL_STATE_MAP);
	char uk[16], v[32];
	fl_skey k = KS(3, "key", NULL), k2 = KS(4, "other", "ns");
	enum { N = 200 };
	for (int i = 0; i < N; i++) {
		snprintf(uk, sizeof(uk), "u%d", i);
		expect_map(a, m, k, uk, NULL); /* caches the absence */
		snprintf(v, sizeof(v), "v%d", i);
		map_put_s(a, m, k, uk, v);
		map_put_s(a, m2, k2, uk, v);
	}
	for (int i = 0; i < N; i += 3) {
		snprintf(uk, sizeof(uk), "u%d", i);
		assert_int_equal(ops->map_remove(a->be, m, &k, uk, strlen(uk)), FLINC_OK);
	}
	assert_int_equal(ops->map_remove(a->be, m, &k, "never", 5), FLINC_OK);
	/* Overwrite some, then read all back twice (hits and misses). */
	for (int i = 1; i < N; i += 7) {
		snprintf(uk, sizeof(uk), "u%d", i);
		snprintf(v, sizeof(v), "w%d", i);
		map_put_s(a, m, k, uk, v);
	}
	int n_live = 0;
	for (int i = 0; i < N; i++) n_live += !(i % 3 == 0 && i % 7 != 1);
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < N; i++) {
			snprintf(uk, sizeof(uk), "u%d", i);
			snprintf(v, sizeof(v), "%c%d", i % 7 == 1 ? 'w' : 'v', i);
			expect_map(a, m, k, uk, i % 3 == 0 && i % 7 != 1 ? NULL : v);
		}
	/* A pointer from map_get stays valid across other map_gets. */
	const void *p0 = NULL;
	size_t l0 = 0;
	assert_int_equal(ops->map_get(a->be, m, &k, "u2", 2, &p0, &l0), FLINC_OK);
	for (int i = 0; i < N; i++) {
		snprintf(uk, sizeof(uk), "u%d", i);
		const void *pv;
		size_t lv;
		(void)ops->map_get(a->be, m2, &k2, uk, strlen(uk), &pv, &lv);
	}
	assert_int_equal(l0, 2);
	assert_memory_equal(p0, "v2", 2);
	assert_int_equal(ops->count(a->be, m), n_live);
	assert_int_equal(ops->native_checkpoint(a->be, chk, err, sizeof(err)), FLINC_OK);

	/* map_iter sees the cached writes; then the state is write-through. */
	assert_int_equal(ops->map_remove(a->be, m2, &k2, "u5", 2), FLINC_OK);
	map_put_s(a, m2, k2, "extra", "e");
	int nuk = 0;
	assert_int_equal(ops->map_iter(a->be, m2, &k2, count_uk, &nuk), 0);
	assert_int_equal(nuk, N);
	assert_int_equal(ops->remove(a->be, m, &k), FLINC_OK);
	assert_int_equal(ops->count(a->be, m), 0);
	expect_map(a, m, k, "u1", NULL);
	map_put_s(a, m, k, "u1", "again");
	expect_map(a, m, k, "u1", "again");
	assert_int_equal(ops->count(a->be, m2), N);
	expect_map(a, m2, k2, "u5", NULL);
	expect_map(a, m2, k2, "extra", "e");
	sbe_close(a);

	sbe *b = sbe_open(ops);
	assert_int_equal(ops->native_restore(b->be, chk, err, sizeof(err)), FLINC_OK);
	m = declare(b, "op/m", FL_STATE_MAP);
	m2 = declare(b, "op/m2", FL_STATE_MAP);
	assert_int_equal(ops->count(b->be, m), n_live);
	assert_int_equal(ops->count(b->be, m2), N);
	for (int i = 0; i < N; i++) {
		snprintf(uk, sizeof(uk), "u%d", i);
		snprintf(v, sizeof(v), "%c%d", i % 7 == 1 ? 'w' : 'v', i);
		expect_map(b, m, k, uk, i % 3 == 0 && i % 7 != 1 ? NULL : v);
		snprintf(v, sizeof(v), "v%d", i);
		expect_map(b, m2, k2, uk, v);
	}
	sbe_close(b);
	rm_tree(root);
	g_conf = NULL;
	fl_conf_destroy(conf);
}

int main(void)
{
	static const struct {
		const char *name;
		const fl_backend_ops *ops;
	} backends[] = {
		{ "hashmap", &fl_backend_memory },
		{ "rocksdb", &fl_backend_rocksdb },
	};
	enum {
		NB = sizeof(backends) / sizeof(backends[0]),
		NC = sizeof(conformance) / sizeof(conformance[0])
	};
	static conf_run runs[NB * NC];
	static char names[NB * NC][64];
	struct CMUnitTest tests[NB * NC];
	for (size_t b = 0; b < NB; b++)
		for (size_t c = 0; c < NC; c++) {
			size_t i = b * NC + c;
			runs[i] = (conf_run){ backends[b].ops, &conformance[c] };
			snprintf(names[i], sizeof(names[i]), "%s/%s", backends[b].name, conformance[c].name);
			tests[i] = (struct CMUnitTest){ names[i], run_conformance, NULL, NULL, &runs[i] };
		}
	int failed = _cmocka_run_group_tests("state_conformance", tests, NB * NC, NULL, NULL);

	const struct CMUnitTest memory_tests[] = {
		cmocka_unit_test(m_find),
		cmocka_unit_test(m_inplace_stable),
		cmocka_unit_test(m_prefetch_and_list_room),
		cmocka_unit_test(m_large_values),
		cmocka_unit_test(m_churn),
		cmocka_unit_test(m_snap_model),
		cmocka_unit_test(m_snap_concurrent),
		cmocka_unit_test(m_snap_lifecycle),
		cmocka_unit_test(m_snap_epoch_wrap),
	};
	failed += cmocka_run_group_tests_name("state_memory", memory_tests, NULL, NULL);

	const struct CMUnitTest rocksdb_tests[] = {
		cmocka_unit_test(r_checkpoint_restore), cmocka_unit_test(r_restore_errors),
		cmocka_unit_test(r_many_groups),        cmocka_unit_test(r_workdir),
		cmocka_unit_test(r_small_buffers),      cmocka_unit_test(r_map_cache),
	};
	failed += cmocka_run_group_tests_name("state_rocksdb", rocksdb_tests, NULL, NULL);
	return failed ? 1 : 0;
}
