/*
 * state_bench.c - throughput of the in-memory state backend on the access
 * pattern of Nexmark q5/q7: 8-byte keys, 16-byte namespaces (a window's
 * start and end), 8-byte POD accumulators updated in place.
 *
 * Usage: state_bench [keys (default 1000000)] [rounds (default 3)]
 * Prints ops/s per phase (best of `rounds`). Phases:
 *   insert            put_inplace creating each key once
 *   update seq/rand   put_inplace on existing keys, in insertion order and in
 *                     a random permutation (the rand figure is what a cold,
 *                     larger-than-cache key set costs)
 *   get seq/rand      get hits, same two orders
 *   update hot        put_inplace over a hot set of 10k keys (Nexmark's bids
 *                     concentrate on recent auctions)
 *   window churn      per key: create the next window's entry, update, and
 *                     remove the previous window's, at a steady 1M entries
 */
#ifndef _GNU_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#include "fl_state.h"

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
	fl_skey k = {.kg = b->kg, .klen = 8, .nslen = 16, .key = (const uint8_t *)&b->key,
		     .ns = (const uint8_t *)b->ns, .khash = b->khash};
	return k;
}

static void report(const char *what, size_t ops, double secs)
{
	printf("%-14s %10.2f Mops/s  %6.1f ns/op\n", what, (double)ops / secs / 1e6, secs * 1e9 / (double)ops);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	const fl_backend_ops *ops = &fl_backend_memory;
	bkey *seq = malloc(n * sizeof(*seq));
	bkey *perm = malloc(n * sizeof(*perm));
	if (!seq || !perm)
		return 1;
	for (size_t i = 0; i < n; i++) {
		seq[i].key = 1000000 + i * 7; /* auction ids */
		seq[i].ns[0] = 1700000000000ULL + (i % 4) * 2000; /* window start, ms */
		seq[i].ns[1] = seq[i].ns[0] + 10000;
		seq[i].kg = (uint16_t)((seq[i].key * 0x9e3779b97f4a7c15ULL) >> 57); /* 0..127 */
		seq[i].khash = fl_key_hash(&seq[i].key, 8);
	}
	memcpy(perm, seq, n * sizeof(*seq));
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		bkey t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	double best[7] = {1e9, 1e9, 1e9, 1e9, 1e9, 1e9, 1e9};
	uint64_t check = 0;
	size_t hot_ops = 20 * 1000 * 1000 < 20 * n ? 20 * 1000 * 1000 : 20 * n;
	for (int round = 0; round < rounds; round++) {
		void *be = calloc(1, ops->priv_size);
		fl_backend_params p = {.kg_first = 0, .kg_last = 127, .max_parallelism = 128};
		uint32_t sid;
		bool created;
		if (ops->open(be, &p, NULL, 0) || ops->declare(be, "q5/count", FL_STATE_VALUE, &sid))
			return 1;
		double t0 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			uint64_t *acc = ops->put_inplace(be, sid, &k, 8, &created);
			*acc += 1;
		}
		double t1 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			uint64_t *acc = ops->put_inplace(be, sid, &k, 8, &created);
			*acc += 1;
		}
		double t2 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&perm[i]);
			uint64_t *acc = ops->put_inplace(be, sid, &k, 8, &created);
			*acc += 1;
		}
		double t3 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&seq[i]);
			const void *v;
			size_t len;
			if (ops->get(be, sid, &k, &v, &len) == 0)
				check += *(const uint64_t *)v;
		}
		double t4 = now_s();
		for (size_t i = 0; i < n; i++) {
			fl_skey k = mk(&perm[i]);
			const void *v;
			size_t len;
			if (ops->get(be, sid, &k, &v, &len) == 0)
				check += *(const uint64_t *)v;
		}
		double t5 = now_s();
		size_t hot = n < 10000 ? n : 10000;
		for (size_t i = 0; i < hot_ops; i++) {
			fl_skey k = mk(&perm[(i * 2654435761u) % hot]);
			uint64_t *acc = ops->put_inplace(be, sid, &k, 8, &created);
			*acc += 1;
		}
		double t6 = now_s();
		/* Window churn: key i moves from window w to w + 1. */
		for (size_t i = 0; i < n; i++) {
			bkey next = seq[i];
			next.ns[0] += 100000;
			next.ns[1] += 100000;
			fl_skey k = mk(&next);
			uint64_t *acc = ops->put_inplace(be, sid, &k, 8, &created);
			*acc += 1;
			fl_skey old = mk(&seq[i]);
			ops->remove(be, sid, &old);
		}
		double t7 = now_s();
		if (ops->count(be, sid) != n)
			return 2;
		ops->close(be);
		free(be);
		double d[7] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6};
		for (int i = 0; i < 7; i++)
			if (d[i] < best[i])
				best[i] = d[i];
	}
	printf("hashmap backend, %zu keys (8 B key, 16 B namespace, 8 B value), best of %d\n", n, rounds);
	report("insert", n, best[0]);
	report("update seq", n, best[1]);
	report("update rand", n, best[2]);
	report("get seq", n, best[3]);
	report("get rand", n, best[4]);
	report("update hot", hot_ops, best[5]);
	report("window churn", n, best[6]);
	fprintf(stderr, "(checksum %llu)\n", (unsigned long long)check);
	free(seq);
	free(perm);
	return 0;
}
