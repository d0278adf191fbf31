/*
 * key_hash_test.c - the key hash (state/fl_state.h): XXH3 pinned against
 * xxHash's own sanity vectors, MurmurHash64A pinned to the values flinc
 * wrote before XXH3 (savepoints depend on them), key groups of both, and
 * the hash's name in _metadata (checkpoint/meta.c).
 */
/* mkdtemp: _GNU_SOURCE comes from the build */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_checkpoint.h"
#include "fl_state.h"

/* xxHash's test buffer (cli/xsum_sanity_check.c, XSUM_fillTestBuffer). */
static void fill_test_buffer(uint8_t *buf, size_t len)
{
	uint64_t gen = 2654435761U;
	for (size_t i = 0; i < len; i++) {
		buf[i] = (uint8_t)(gen >> 56);
		gen *= 11400714785074694797ULL;
	}
}

static void test_xxh3_vectors(void **st)
{
	(void)st;
	/* XSUM_XXH3_testdata, seed 0: every length class of XXH3 */
	static const struct {
		size_t len;
		uint64_t h;
	} v[] = {
		{ 0, 0x2D06800538D394C2ULL },    { 1, 0xC44BDFF4074EECDBULL },
		{ 6, 0x27B56A84CD2D7325ULL },    { 12, 0xA713DAF0DFBB77E7ULL },
		{ 24, 0xA3FE70BF9D3510EBULL },   { 48, 0x397DA259ECBA1F11ULL },
		{ 80, 0xBCDEFBBB2C47C90AULL },   { 195, 0xCD94217EE362EC3AULL },
		{ 403, 0xCDEB804D65C6DEA4ULL },  { 512, 0x617E49599013CB6BULL },
		{ 2048, 0xDD59E2C3A5F038E0ULL }, { 2099, 0xC6B9D9B3FC9AC765ULL },
		{ 2240, 0x6E73A90539CF2948ULL }, { 2367, 0xCB37AEB9E5D361EDULL },
	};
	static uint8_t buf[2367];
	fill_test_buffer(buf, sizeof buf);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		uint64_t h = fl_key_hash(FL_KEY_HASH_XXH3, buf, v[i].len);
		if (h != v[i].h)
			fail_msg("XXH3 of %zu bytes: %016llx, expected %016llx", v[i].len,
				 (unsigned long long)h, (unsigned long long)v[i].h);
	}
}

/* Words, their hashes and their key groups at max parallelism 128, as
 * MurmurHash64A (flinc before XXH3: every existing savepoint) and XXH3. */
static const struct {
	const char *key;
	uint64_t murmur, xxh3;
	int kg_murmur, kg_xxh3;
} words[] = {
	{ "", 0xab4c3bbe286bc621ULL, 0x2d06800538d394c2ULL, 33, 66 },
	{ "a", 0xc95bb88622c77cb3ULL, 0xe6c632b61e964e1fULL, 51, 31 },
	{ "hello", 0x513400d0da39fd55ULL, 0x9555e8555c62dcfdULL, 85, 125 },
	{ "flinc", 0x566260ef4d001412ULL, 0xf80dd5eca5edd3adULL, 18, 45 },
	{ "the", 0x6c5ca43b12e9116aULL, 0xcb1283631cf33d7dULL, 106, 125 },
	{ "wordcount key!", 0x3f4ce11bd689c107ULL, 0x65825711285c1cf4ULL, 7, 116 },
};

static void test_pinned_words(void **st)
{
	(void)st;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		const char *k = words[i].key;
		size_t n = strlen(k);
		assert_int_equal(fl_key_hash(FL_KEY_HASH_MURMUR64A, k, n), words[i].murmur);
		assert_int_equal(fl_hash64(k, n, FL_KEY_SEED), words[i].murmur); /* the old fl_key_hash */
		assert_int_equal(fl_key_hash(FL_KEY_HASH_XXH3, k, n), words[i].xxh3);
		assert_int_equal(fl_key_group(FL_KEY_HASH_MURMUR64A, k, n, 128), words[i].kg_murmur);
		assert_int_equal(fl_key_group(FL_KEY_HASH_XXH3, k, n, 128), words[i].kg_xxh3);
	}
}

/* Every key group has exactly one owner at every parallelism, and it is
 * the subtask whose range holds it: what the keyBy exchange computes
 * (fl_key_group_owner) agrees with what each subtask's backend holds and
 * restores (fl_key_group_range), whichever hash picked the group. */
static void test_key_group_assignment(void **st)
{
	(void)st;
	const int maxps[] = { 1, 7, 128, 32768 };
	for (size_t m = 0; m < sizeof maxps / sizeof maxps[0]; m++) {
		int maxp = maxps[m];
		for (int p = 1; p <= (maxp < 9 ? maxp : 9); p++) {
			int next = 0;
			for (int s = 0; s < p; s++) {
				int f, l;
				fl_key_group_range(s, p, maxp, &f, &l);
				assert_int_equal(f, next);
				for (int kg = f; kg <= l; kg++)
					assert_int_equal(fl_key_group_owner(kg, maxp, p), s);
				next = l + 1;
			}
			assert_int_equal(next, maxp);
		}
	}
	/* 100k keys: both hashes spread them over the 128 groups */
	int cnt[2][128] = { { 0 } };
	for (uint32_t i = 0; i < 100000; i++) {
		char k[16];
		int n = snprintf(k, sizeof k, "w%u", i);
		cnt[0][fl_key_group(FL_KEY_HASH_XXH3, k, (size_t)n, 128)]++;
		cnt[1][fl_key_group(FL_KEY_HASH_MURMUR64A, k, (size_t)n, 128)]++;
	}
	for (int h = 0; h < 2; h++)
		for (int kg = 0; kg < 128; kg++)
			if (cnt[h][kg] < 600 || cnt[h][kg] > 960) /* mean 781 */
				fail_msg("hash %d: key group %d has %d of 100000 keys", h, kg, cnt[h][kg]);
}

static void test_names(void **st)
{
	(void)st;
	fl_key_hash_kind k = FL_KEY_HASH_MURMUR64A;
	assert_true(fl_key_hash_parse("xxh3", &k));
	assert_int_equal(k, FL_KEY_HASH_XXH3);
	assert_true(fl_key_hash_parse("murmur64a", &k));
	assert_int_equal(k, FL_KEY_HASH_MURMUR64A);
	assert_false(fl_key_hash_parse("XXH3", &k));
	assert_false(fl_key_hash_parse("murmur", &k));
	assert_false(fl_key_hash_parse("", &k));
	assert_false(fl_key_hash_parse(NULL, &k));
	assert_string_equal(fl_key_hash_name(FL_KEY_HASH_XXH3), "xxh3");
	assert_string_equal(fl_key_hash_name(FL_KEY_HASH_MURMUR64A), "murmur64a");
}

static void write_text(const char *dir, const char *text)
{
	char path[600];
	snprintf(path, sizeof path, "%s/_metadata", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* _metadata names the hash; a file without the name is MurmurHash64A's. */
static void test_metadata_names_the_hash(void **st)
{
	(void)st;
	char dir[] = "/tmp/flinc-keyhash-XXXXXX", err[512];
	assert_non_null(mkdtemp(dir));
	char *ops[] = { "counter" };
	fl_chk_meta m = { .checkpoint_id = 3, .max_parallelism = 128, .operators = ops, .n_operators = 1 };
	strcpy(m.job_id, "a1b2c3d4e5f60718293a4b5c6d7e8f90");
	strcpy(m.backend, "hashmap");
	for (int kind = 0; kind < 2; kind++) {
		m.key_hash = kind ? FL_KEY_HASH_MURMUR64A : FL_KEY_HASH_XXH3;
		assert_int_equal(fl_chk_meta_write(dir, &m, err, sizeof err), 0);
		fl_chk_meta r;
		memset(&r, 0, sizeof r);
		assert_int_equal(fl_chk_meta_read(dir, &r, err, sizeof err), 0);
		assert_int_equal(r.key_hash, m.key_hash);
		fl_chk_meta_free(&r);
	}
	const char *head =
		"{\"format\": 1, \"job_id\": \"a1b2c3d4e5f60718293a4b5c6d7e8f90\", \"checkpoint_id\": 3, "
		"\"is_savepoint\": true, \"trigger_ts_ms\": 1, \"complete_ts_ms\": 2, "
		"\"max_parallelism\": 128, \"backend\": \"hashmap\", \"operators\": [\"counter\"], "
		"\"files\": [], \"shared\": []";
	char text[1024];
	/* written by flinc before XXH3: no key_hash */
	snprintf(text, sizeof text, "%s}", head);
	write_text(dir, text);
	fl_chk_meta r;
	memset(&r, 0, sizeof r);
	assert_int_equal(fl_chk_meta_read(dir, &r, err, sizeof err), 0);
	assert_int_equal(r.key_hash, FL_KEY_HASH_MURMUR64A);
	fl_chk_meta_free(&r);
	/* a hash this flinc does not know, or not a string: refused, by name */
	const char *bad[] = { ", \"key_hash\": \"xxh128\"}", ", \"key_hash\": 1}", ", \"key_hash\": null}" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(text, sizeof text, "%s%s", head, bad[i]);
		write_text(dir, text);
		memset(&r, 0, sizeof r);
		assert_int_equal(fl_chk_meta_read(dir, &r, err, sizeof err), FLINC_ECODEC);
		assert_non_null(strstr(err, "key_hash"));
		fl_chk_meta_free(&r);
	}
	char path[600];
	snprintf(path, sizeof path, "%s/_metadata", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xxh3_vectors),
		cmocka_unit_test(test_pinned_words),
		cmocka_unit_test(test_key_group_assignment),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_metadata_names_the_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
