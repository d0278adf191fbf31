/* fields_test - FLINC_STRUCT_TYPE: round trips, appended fields both ways,
 * malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

typedef struct v1 {
	int64_t id;
	flinc_str name;
} v1;

typedef struct v2 {
	int64_t id;
	flinc_str name;
	double score;
	int32_t small;
	uint64_t big;
	bool flag;
} v2;

FLINC_STRUCT_TYPE(v1_type, v1, "v1", 0, FLINC_FIELD(v1, id, FLINC_FIELD_I64), FLINC_FIELD(v1, name, FLINC_FIELD_STR));
FLINC_STRUCT_TYPE(v2_type, v2, "v2", 0, FLINC_FIELD(v2, id, FLINC_FIELD_I64), FLINC_FIELD(v2, name, FLINC_FIELD_STR),
		  FLINC_FIELD(v2, score, FLINC_FIELD_F64), FLINC_FIELD(v2, small, FLINC_FIELD_I32),
		  FLINC_FIELD(v2, big, FLINC_FIELD_U64), FLINC_FIELD(v2, flag, FLINC_FIELD_BOOL));

static size_t enc(const flinc_type *t, const void *rec, uint8_t *buf, size_t cap)
{
	flinc_writer w;
	flinc_writer_init(&w, buf, cap);
	assert_int_equal(t->encode(rec, &w), 0);
	assert_int_equal(w.err, 0);
	return flinc_writer_len(&w, buf);
}

static int dec(const flinc_type *t, const uint8_t *buf, size_t len, void *rec)
{
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	memset(rec, 0, t->size);
	return t->decode(&r, rec, NULL);
}

static void round_trip(void **st)
{
	(void)st;
	v2 a = {-42, {"alice", 5}, 2.5, -7, UINT64_MAX, true}, b;
	uint8_t buf[256];
	size_t n = enc(&v2_type, &a, buf, sizeof buf);
	assert_int_equal(dec(&v2_type, buf, n, &b), 0);
	assert_int_equal(b.id, -42);
	assert_int_equal(b.name.len, 5);
	assert_memory_equal(b.name.s, "alice", 5);
	assert_true(b.score == 2.5);
	assert_int_equal(b.small, -7);
	assert_true(b.big == UINT64_MAX);
	assert_true(b.flag);
}

/* Old state (v1) read by a job that appended fields (v2): new fields zero. */
static void older_writer(void **st)
{
	(void)st;
	v1 a = {7, {"bob", 3}};
	v2 b;
	uint8_t buf[64];
	size_t n = enc(&v1_type, &a, buf, sizeof buf);
	assert_int_equal(dec(&v2_type, buf, n, &b), 0);
	assert_int_equal(b.id, 7);
	assert_memory_equal(b.name.s, "bob", 3);
	assert_true(b.score == 0 && b.small == 0 && b.big == 0 && !b.flag);
}

/* Newer writer (v2) read by v1: the appended fields are skipped. */
static void newer_writer(void **st)
{
	(void)st;
	v2 a = {9, {"carol", 5}, 1.0, 1, 2, true};
	v1 b;
	uint8_t buf[128];
	size_t n = enc(&v2_type, &a, buf, sizeof buf);
	assert_int_equal(dec(&v1_type, buf, n, &b), 0);
	assert_int_equal(b.id, 9);
	assert_memory_equal(b.name.s, "carol", 5);
}

static void malformed(void **st)
{
	(void)st;
	v2 b;
	const uint8_t not_array[] = {0x05};
	assert_int_not_equal(dec(&v2_type, not_array, sizeof not_array, &b), 0);
	const uint8_t wrong_kind[] = {0x92, 0x01, 0x02}; /* name is an int */
	assert_int_not_equal(dec(&v2_type, wrong_kind, sizeof wrong_kind, &b), 0);
	const uint8_t truncated[] = {0x92, 0x01, 0xa5, 'a', 'b'};
	assert_int_not_equal(dec(&v2_type, truncated, sizeof truncated, &b), 0);
	/* an int32 field out of range */
	const uint8_t too_big[] = {0x94, 0x01, 0xa0, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0};
	assert_int_not_equal(dec(&v2_type, too_big, sizeof too_big, &b), 0);
	/* output buffer too small: the writer reports it, nothing overflows */
	v2 a = {1, {"x", 1}, 0, 0, 0, false};
	uint8_t small[4];
	flinc_writer w;
	flinc_writer_init(&w, small, sizeof small);
	v2_type.encode(&a, &w);
	assert_int_not_equal(w.err, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(older_writer),
		cmocka_unit_test(newer_writer),
		cmocka_unit_test(malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
