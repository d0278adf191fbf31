/*
 * json_fuzz.c - libFuzzer target for flinc_json_parse (issue 16, Records):
 * any bytes as one JSON record, through two field lists (the transactions
 * of the seed jobs, with nested and required fields; and one of every
 * kind). Invariants: the result is FLINC_OK or FLINC_ECODEC, a refusal
 * always says why (a NUL-terminated reason), and every string of an
 * accepted record lies inside the input or in the arena. Crashes it found
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

static void one(const flinc_field *f, size_t n, const uint8_t *data, size_t size)
{
	flinc_arena a;
	fl_arena_init(&a, 4096);
	rec r;
	memset(&r, 0, sizeof r);
	char why[128];
	memset(why, 'x', sizeof why);
	int rc = flinc_json_parse(f, n, (const char *)data, size, &r, &a, why, sizeof why);
	FUZZ_CHECK(rc == FLINC_OK || rc == FLINC_ECODEC);
	FUZZ_CHECK(memchr(why, 0, sizeof why) != NULL);
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
