/*
 * state_bench.c - throughput of a keyed state backend on the access
 * pattern of Nexmark q5/q7: 8-byte keys, 16-byte namespaces (a window's
 * start and end), 8-byte POD accumulators updated in place.
 *
 * Usage: state_bench [--backend hashmap|rocksdb] [--dir PARENT] [--no-inplace]
 *                    [-D key=value]... [keys (default 1000000)] [rounds (default 3)]
 * --backend picks the backend (default hashmap); a RocksDB instance works
 * in a fresh folder under --dir (default $TMPDIR or /tmp), removed at close.
 * A backend without put_inplace (or any, with --no-inplace) is driven with
 * get + put, as the runtime does then. -D sets a configuration key for the
 * backend (e.g. state.backend.rocksdb.inplace-cache-slots=16384). Prints ops/s per phase (best of
 * `rounds`). Phases:
 *   insert            put_inplace creating each key once
 *   update seq/rand   put_inplace on existing keys, in insertion order and in
 *                     a random permutation (the rand figure is what a cold,
 *                     larger-than-cache key set costs)
 *   get seq/rand      get hits, same two orders
 *   update hot        put_inplace over a hot set of 10k keys (Nexmark's bids
 *                     concentrate on recent auctions)
 *   window churn      per key: create the next window's entry, update, and
 *                     remove the previous window's, at a steady 1M entries
 * and, for a backend with asynchronous snapshots (snap_open: the memory
 * backend's copy-on-write), in ms: snap_open, a random update of every key
 * while the snapshot is open (each entry copied on its first update), the
 * reclaim after the release, and the longest of 300 snap_open calls (one
 * of them renumbers every entry's epoch when the 8-bit counter wraps).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_state.h"
#include "fl_base.h" /* fl_conf */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bkey {
	uint64_t key;
	uint64_t ns[2];
	uint16_t kg;
	uint64_t khash; /* fl_key_hash(key), as the runtime computes it once */
} bkey;

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static fl_skey mk(const bkey *b)
{
	fl_skey k = { .kg = b->kg,
		      .klen = 8,
		      .nslen = 16,
		      .key = (const uint8_t *)&b->key,
		      .ns = (const uint8_t *)b->ns,
		      .khash = b->khash };
	return k;
}

static void report(const char *what, size_t ops, double secs)
{
	printf("%-14s %10.2f Mops/s  %6.1f ns/op\n", what, (double)ops / secs / 1e6,
	       secs * 1e9 / (double)ops);
}

/* Add 1 to the 8-byte accumulator of k: in place when the backend can,
 * else get + put (what the runtime falls back to). */
static bool no_inplace;

static void bump(const fl_backend_ops *ops, void *be, uint32_t sid, const fl_skey *k)
{
	bool created;
	if (ops->put_inplace && !no_inplace) {
		uint64_t *acc = ops->put_inplace(be, sid, k, 8, &created);
		if (!acc) exit(3);
		*acc += 1;
		return;
	}
	const void *v;
	size_t len;
	uint64_t acc = 0;
	if (ops->get(be, sid, k, &v, &len) == 0 && len == 8) memcpy(&acc, v, 8);
	acc++;
	if (ops->put(be, sid, k, &acc, 8)) exit(3);
}

int main(int argc, char **argv)
{
	const char *backend = "hashmap", *parent = NULL;
	size_t n = 1000000;
	int rounds = 3, pos = 0;
	fl_conf *conf = fl_conf_create();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc)
			backend = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			parent = argv[++i];
		else if (strcmp(argv[i], "--no-inplace") == 0)
			no_inplace = true;
		else if (strcmp(argv[i], "-D") == 0 && i + 1 < argc && fl_conf_set_kv(conf, argv[i + 1]) == 0)
			i++;
		else if (argv[i][0] == '-') {
			fprintf(stderr,
				"usage: %s [--backend hashmap|rocksdb] [--dir PARENT] [--no-inplace] [-D key=value] [keys] [rounds]\n",
				argv[0]);
			return 1;
		} else if (pos++ == 0)
			n = (size_t)strtoull(argv[i], NULL, 10);
		else
			rounds = atoi(argv[i]);
	}
	const fl_backend_ops *ops = fl_backend_find(backend);
	if (!ops || n == 0 || rounds < 1) {
		fprintf(stderr, "state_bench: unknown backend '%s' or bad counts\n", backend);
		return 1;
	}
	if (!parent) parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	bkey *seq = malloc(n * sizeof(*seq));
	bkey *perm = malloc(n * sizeof(*perm));
	if (!seq || !perm) return 1;
	for (size_t i = 0; i < n; i++) {
		seq[i].key = 1000000 + i * 7;                     /* auction ids */
		seq[i].ns[0] = 1700000000000ULL + (i % 4) * 2000; /* window start, ms */
		seq[i].ns[1] = seq[i].ns[0] + 10000;
		seq[i].kg = (uint16_t)((seq[i].key * 0x9e3779b97f4a7c15ULL) >> 57); /* 0..127 */
		seq[i].khash = fl_key_hash(FL_KEY_HASH_XXH3, &seq[i].key, 8);
	}
	memcpy(perm, seq, n * sizeof(*seq));
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		bkey t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	double best[7] = { 1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9 };
	double snap_ms[4] = { 1e9, 1e9, 1e9,
			      1e9 }; /* best of rounds: open, update all, reclaim, longest open */
	uint64_t check = 0;
	size_t hot_ops = 20 * 1000 * 1000 < 20 * n ? 20 * 1000 * 1000 : 20 * n;
	for (int round = 0; round < rounds; round++) {
		void *be = calloc(1, ops->priv_size);
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/flinc-state-bench-XXXXXX", parent);
		if (!mkdtemp(dir)) {
			perror(dir);
			return 1;
		}
		fl_backend_params p = {
			.kg_first = 0, .kg_last = 127, .max_parallelism = 128, .dir = dir, .conf = conf
		};
		uint32_t sid;
		char err[256] = "";
		if (ops->open(be, &p, err, sizeof(err)) ||
		    ops->declare(be, "q5/count", FL_STATE_VALUE, &sid)) {
			fprintf(stderr, "state_bench: %s: %s\n", backend, err);
			return 1;
		}
		double t0 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			bump(ops, be, sid, &k);
		}
		double t1 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			bump(ops, be, sid, &k);
		}
		double t2 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&perm[i]);
			bump(ops, be, sid, &k);
		}
		double t3 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			const void *v;
			size_t len;
			if (ops->get(be, sid, &k, &v, &len) == 0) check += *(const uint64_t *)v;
		}
		double t4 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&perm[i]);
			const void *v;
			size_t len;
			if (ops->get(be, sid, &k, &v, &len) == 0) check += *(const uint64_t *)v;
		}
		double t5 = now_s();
		size_t hot = n < 10000 ? n : 10000;
		for (size_t i = 0; i < hot_ops; i++) {
			fl_skey k = mk(&perm[(i * 2654435761u) % hot]);
			bump(ops, be, sid, &k);
		}
		double t6 = now_s();
		/* Window churn: key i moves from window w to w + 1. */
		for (size_t i = 0; i < n; i++) {
			bkey next = seq[i];
			next.ns[0] += 100000;
			next.ns[1] += 100000;
			fl_skey k = mk(&next);
			bump(ops, be, sid, &k);
			fl_skey old = mk(&seq[i]);
			ops->remove(be, sid, &old);
		}
		double t7 = now_s();
		if (ops->count(be, sid) != n) return 2;
		if (ops->version >= 5 && ops->snap_open) {
			void *snap = NULL;
			double s0 = now_s();
			if (ops->snap_open(be, &snap, err, sizeof err)) return 3;
			double s1 = now_s();
			for (size_t i = 0; i < n; i++) {
				bkey cur = perm[i]; /* the window the churn phase moved it to */
				cur.ns[0] += 100000;
				cur.ns[1] += 100000;
				fl_skey k = mk(&cur);
				bump(ops, be, sid, &k);
			}
			double s2 = now_s();
			if (ops->count(be, sid) != n) return 2;
			ops->snap_release(snap);
			bkey first = seq[0];
			first.ns[0] += 100000;
			first.ns[1] += 100000;
			fl_skey k0 = mk(&first);
			bump(ops, be, sid, &k0); /* the owner reclaims here */
			double s3 = now_s(), longest = 0;
			for (int r = 0; r < 300; r++) {
				double a0 = now_s();
				if (ops->snap_open(be, &snap, err, sizeof err)) return 3;
				double a1 = now_s();
				if (a1 - a0 > longest) longest = a1 - a0;
				ops->snap_release(snap);
				bump(ops, be, sid, &k0);
			}
			snap_ms[0] = FL_MIN(snap_ms[0], (s1 - s0) * 1e3);
			snap_ms[1] = FL_MIN(snap_ms[1], (s2 - s1) * 1e3);
			snap_ms[2] = FL_MIN(snap_ms[2], (s3 - s2) * 1e3);
			snap_ms[3] = FL_MIN(snap_ms[3], longest * 1e3);
		}
		ops->close(be);
		rmdir(dir); /* the hashmap backend leaves it; RocksDB removed it */
		free(be);
		double d[7] = { t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6 };
		for (int i = 0; i < 7; i++)
			if (d[i] < best[i]) best[i] = d[i];
	}
	printf("%s backend, %zu keys (8 B key, 16 B namespace, 8 B value), best of %d%s\n", ops->name, n,
	       rounds, ops->put_inplace && !no_inplace ? "" : ", get + put");
	report("insert", n, best[0]);
	report("update seq", n, best[1]);
	report("update rand", n, best[2]);
	report("get seq", n, best[3]);
	report("get rand", n, best[4]);
	report("update hot", hot_ops, best[5]);
	report("window churn", n, best[6]);
	if (ops->version >= 5 && ops->snap_open)
		printf("snapshot: open %.3f ms, update of every key while open %.1f ms (%.1f ns/op), reclaim %.2f ms, "
		       "longest of 300 opens (epoch renumbering) %.2f ms\n",
		       snap_ms[0], snap_ms[1], snap_ms[1] * 1e6 / (double)n, snap_ms[2], snap_ms[3]);
	fprintf(stderr, "(checksum %llu)\n", (unsigned long long)check);
	fflush(stderr);
	free(seq);
	free(perm);
	fl_conf_destroy(conf);
	return 0;
}
