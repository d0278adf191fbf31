/*
 * json_fuzz.c - libFuzzer target for flinc_json_parse (issue 16, Records):
 * any bytes as one JSON record, through two field lists (the transactions
 * of the seed jobs, with nested and required fields; and one of every
 * kind). Invariants: the result is FLINC_OK or FLINC_ECODEC, a refusal
 * always says why (a NUL-terminated reason), every string of an accepted
 * record lies inside the input or in the arena, and a second parse of the
 * same bytes (the parser now remembers this input's keys, json.c
 * "spec_key") gives the same result, reason and record. Crashes it found
 * are kept under tests/fuzz/corpus/json/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <flinc/flinc.h>

#include "fuzz_util.h"
#include "util.h" /* fl_arena_* */

typedef struct rec {
	int64_t ts, amount, i64;
	flinc_str id, user, s1;
	double lat, f;
	bool b;
	int32_t i32;
	uint64_t u64;
} rec;

static const flinc_field txn[] = {
	FLINC_FIELD_NAMED(rec, ts, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS), "timestamp"),
	FLINC_FIELD_NAMED(rec, id, FLINC_REQUIRED(FLINC_FIELD_STR), "transactionId"),
	FLINC_FIELD_NAMED(rec, user, FLINC_FIELD_STR, "userId"),
	FLINC_FIELD_NAMED(rec, amount, FLINC_FIELD_DECIMAL(2), "amount"),
	FLINC_FIELD_NAMED(rec, lat, FLINC_FIELD_F64, "location.lat"),
	FLINC_FIELD_NAMED(rec, s1, FLINC_FIELD_STR, "a.b.c"),
};
static const flinc_field kinds[] = {
	FLINC_FIELD_NAMED(rec, i64, FLINC_FIELD_I64, "i"),
	FLINC_FIELD_NAMED(rec, i32, FLINC_FIELD_I32, "j"),
	FLINC_FIELD_NAMED(rec, u64, FLINC_FIELD_U64, "u"),
	FLINC_FIELD_NAMED(rec, f, FLINC_FIELD_F64, "f"),
	FLINC_FIELD_NAMED(rec, b, FLINC_FIELD_BOOL, "b"),
	FLINC_FIELD_NAMED(rec, s1, FLINC_FIELD_STR, "s"),
	FLINC_FIELD_NAMED(rec, amount, FLINC_FIELD_DECIMAL(18), "d"),
	FLINC_FIELD_NAMED(rec, ts, FLINC_FIELD_TIMESTAMP_MS, "t"),
};

static bool inside(flinc_str s, const uint8_t *data, size_t size)
{
	if (!s.s) return true;
	if ((const uint8_t *)s.s >= data && (const uint8_t *)s.s + s.len <= data + size) return true;
	return false; /* else it must be the arena's: checked by the caller */
}

static bool str_same(flinc_str x, flinc_str y)
{
	return x.len == y.len && (!x.len || memcmp(x.s, y.s, x.len) == 0);
}

/* The same values (doubles bit for bit, strings by content). */
static bool rec_same(const rec *x, const rec *y)
{
	return x->ts == y->ts && x->amount == y->amount && x->i64 == y->i64 && str_same(x->id, y->id) &&
		str_same(x->user, y->user) && str_same(x->s1, y->s1) && memcmp(&x->lat, &y->lat, 8) == 0 &&
		memcmp(&x->f, &y->f, 8) == 0 && x->b == y->b && x->i32 == y->i32 && x->u64 == y->u64;
}

static void one(const flinc_field *f, size_t n, const uint8_t *data, size_t size)
{
	flinc_arena a;
	fl_arena_init(&a, 4096);
	rec r, r2;
	memset(&r, 0, sizeof r);
	memset(&r2, 0, sizeof r2);
	char why[128], why2[128];
	memset(why, 'x', sizeof why);
	int rc = flinc_json_parse(f, n, (const char *)data, size, &r, &a, why, sizeof why);
	int rc2 = flinc_json_parse(f, n, (const char *)data, size, &r2, &a, why2, sizeof why2);
	FUZZ_CHECK(rc == FLINC_OK || rc == FLINC_ECODEC);
	FUZZ_CHECK(memchr(why, 0, sizeof why) != NULL);
	FUZZ_CHECK(memchr(why2, 0, sizeof why2) != NULL);
	FUZZ_CHECK(rc == rc2 && strcmp(why, why2) == 0 && (rc != FLINC_OK || rec_same(&r, &r2)));
	if (rc == FLINC_ECODEC) FUZZ_CHECK(why[0] != 0);
	if (rc == FLINC_OK) {
		FUZZ_CHECK(why[0] == 0);
		flinc_str ss[] = { r.id, r.user, r.s1 };
		for (size_t i = 0; i < 3; i++) {
			if (!inside(ss[i], data, size)) {
				/* from the arena: readable for its length */
				volatile char sink = 0;
				for (uint32_t k = 0; k < ss[i].len; k++) sink ^= ss[i].s[k];
				(void)sink;
			}
		}
		/* what was accepted writes back as JSON */
		char out[512];
		size_t len;
		(void)flinc_fields_json(f, n, &r, out, sizeof out, &len);
	}
	fl_arena_fini(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(txn, sizeof txn / sizeof txn[0], data, size);
	one(kinds, sizeof kinds / sizeof kinds[0], data, size);
	return 0;
}
