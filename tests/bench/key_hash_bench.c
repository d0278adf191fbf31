/*
 * key_hash_bench.c - the cost of the key hash (state/fl_state.h): key
 * groups of words (as wordcount keys them: 1-14 bytes) and of 8-byte
 * keys, with XXH3 (new jobs) and MurmurHash64A (jobs restored from
 * snapshots taken before XXH3), through fl_key_group as the keyBy
 * exchange and keyed operators call it. Three key sets: "words", random
 * words of 1-14 letters (lengths unpredictable); "zipf", words drawn from
 * a 5,000-word vocabulary of 2-10 letters with Zipf weights, as
 * tests/bench/engine_vs_loop.py's wordcount input (frequent words repeat,
 * so their lengths are predictable); "8-byte", random 8-byte keys.
 *
 * Usage: key_hash_bench [keys] [rounds]   (default 1000000 keys, 20 rounds)
 * Prints one line per (keys, hash): ns per key and million keys per second,
 * the best of the rounds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_state.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

typedef struct {
	uint32_t off;
	uint8_t len;
} key;

static volatile uint64_t sink;

static double run(const uint8_t *bytes, const key *keys, size_t n, fl_key_hash_kind kind, int rounds)
{
	double best = 1e30;
	for (int r = 0; r < rounds; r++) {
		uint64_t acc = 0;
		double t0 = now_s();
		for (size_t i = 0; i < n; i++)
			acc += fl_key_group(kind, bytes + keys[i].off, keys[i].len, 128);
		double t = now_s() - t0;
		sink += acc;
		if (t < best) best = t;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	if (n < 1 || n > 100000000 || rounds < 1) {
		fprintf(stderr, "usage: key_hash_bench [keys 1..1e8] [rounds >= 1]\n");
		return 2;
	}
	uint8_t *bytes = malloc(n * 16 + 5000 * 10);
	key *words = malloc(n * sizeof *words), *u64s = malloc(n * sizeof *u64s),
	    *zipf = malloc(n * sizeof *zipf);
	double *cdf = malloc(5000 * sizeof *cdf);
	if (!bytes || !words || !u64s || !zipf || !cdf) {
		fprintf(stderr, "key_hash_bench: out of memory\n");
		return 1;
	}
	/* words: 1-14 lower-case letters, mostly short (English-like: mean ~5) */
	uint32_t off = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next();
		int len = 1 + (int)(r % 5) + (int)((r >> 8) % 4) +
			((r >> 16) % 8 == 0 ? (int)((r >> 20) % 6) : 0);
		words[i] = (key){ off, (uint8_t)len };
		for (int c = 0; c < len; c++) bytes[off++] = (uint8_t)('a' + (next() % 26));
	}
	uint32_t off8 = off;
	for (size_t i = 0; i < n; i++) {
		uint64_t v = next();
		memcpy(bytes + off8 + 8 * i, &v, 8);
		u64s[i] = (key){ (uint32_t)(off8 + 8 * i), 8 };
	}
	/* the vocabulary after the 8-byte keys; cdf of weights 1/(i+1) */
	uint32_t voff = off8 + (uint32_t)(8 * n);
	key vocab[5000];
	double sum = 0;
	for (int i = 0; i < 5000; i++) {
		int len = 2 + (int)(next() % 9);
		vocab[i] = (key){ voff, (uint8_t)len };
		for (int c = 0; c < len; c++) bytes[voff++] = (uint8_t)('a' + (next() % 26));
		sum += 1.0 / (i + 1);
		cdf[i] = sum;
	}
	for (size_t i = 0; i < n; i++) {
		double u = (double)(next() >> 11) / 9007199254740992.0 * sum;
		int lo = 0, hi = 4999;
		while (lo < hi) {
			int mid = (lo + hi) / 2;
			if (cdf[mid] < u)
				lo = mid + 1;
			else
				hi = mid;
		}
		zipf[i] = vocab[lo];
	}
	static const struct {
		const char *name;
		fl_key_hash_kind kind;
	} hs[] = { { "murmur64a", FL_KEY_HASH_MURMUR64A }, { "xxh3", FL_KEY_HASH_XXH3 } };
	const key *sets[] = { words, zipf, u64s };
	const char *names[] = { "words", "zipf", "8-byte" };
	for (int w = 0; w < 3; w++)
		for (int h = 0; h < 2; h++) {
			double t = run(bytes, sets[w], n, hs[h].kind, rounds);
			printf("%-9s %-10s %8.2f ns/key %8.1f M keys/s\n", names[w], hs[h].name,
			       t * 1e9 / (double)n, (double)n / t / 1e6);
		}
	free(bytes);
	free(words);
	free(u64s);
	free(zipf);
	free(cdf);
	return 0;
}
