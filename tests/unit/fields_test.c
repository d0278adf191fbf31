/* fields_test - FLINC_STRUCT_TYPE: round trips, appended fields both ways,
 * malformed input; flinc_fields_json: numbers, doubles, decimals, string
 * escaping, nested and NULL fields, too-small buffers, unknown kinds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <float.h>
#include <locale.h>
#include <math.h>

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

FLINC_STRUCT_TYPE(v1_type, v1, "v1", 0, FLINC_FIELD(v1, id, FLINC_FIELD_I64),
		  FLINC_FIELD(v1, name, FLINC_FIELD_STR));
FLINC_STRUCT_TYPE(v2_type, v2, "v2", 0, FLINC_FIELD(v2, id, FLINC_FIELD_I64),
		  FLINC_FIELD(v2, name, FLINC_FIELD_STR), FLINC_FIELD(v2, score, FLINC_FIELD_F64),
		  FLINC_FIELD(v2, small, FLINC_FIELD_I32), FLINC_FIELD(v2, big, FLINC_FIELD_U64),
		  FLINC_FIELD(v2, flag, FLINC_FIELD_BOOL));

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
	v2 a = { -42, { "alice", 5 }, 2.5, -7, UINT64_MAX, true }, b;
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
	v1 a = { 7, { "bob", 3 } };
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
	v2 a = { 9, { "carol", 5 }, 1.0, 1, 2, true };
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
	const uint8_t not_array[] = { 0x05 };
	assert_int_not_equal(dec(&v2_type, not_array, sizeof not_array, &b), 0);
	const uint8_t wrong_kind[] = { 0x92, 0x01, 0x02 }; /* name is an int */
	assert_int_not_equal(dec(&v2_type, wrong_kind, sizeof wrong_kind, &b), 0);
	const uint8_t truncated[] = { 0x92, 0x01, 0xa5, 'a', 'b' };
	assert_int_not_equal(dec(&v2_type, truncated, sizeof truncated, &b), 0);
	/* an int32 field out of range */
	const uint8_t too_big[] = { 0x94, 0x01, 0xa0, 0xcb, 0, 0, 0, 0, 0, 0, 0,
				    0,    0xcf, 0,    0,    0, 1, 0, 0, 0, 0 };
	assert_int_not_equal(dec(&v2_type, too_big, sizeof too_big, &b), 0);
	/* output buffer too small: the writer reports it, nothing overflows */
	v2 a = { 1, { "x", 1 }, 0, 0, 0, false };
	uint8_t small[4];
	flinc_writer w;
	flinc_writer_init(&w, small, sizeof small);
	v2_type.encode(&a, &w);
	assert_int_not_equal(w.err, 0);
}

/* ---- flinc_fields_json ---------------------------------------------- */

/* The JSON of rec with fields f into a static buffer; asserts FLINC_OK and
 * that the reported length is the string's. */
static const char *json(const flinc_field *f, size_t n, const void *rec)
{
	static char buf[4096];
	size_t len = 0;
	assert_int_equal(flinc_fields_json(f, n, rec, buf, sizeof buf, &len), FLINC_OK);
	assert_int_equal(len, strlen(buf));
	return buf;
}

#define JSON(fields, rec) json((fields), sizeof(fields) / sizeof((fields)[0]), (rec))

static void json_numbers(void **st)
{
	(void)st;
	v2 a = { INT64_MIN, { "n", 1 }, 0.5, INT32_MIN, UINT64_MAX, true };
	assert_string_equal(JSON(v2_type_fields, &a),
			    "{\"id\":-9223372036854775808,\"name\":\"n\",\"score\":0.5,"
			    "\"small\":-2147483648,\"big\":18446744073709551615,\"flag\":true}");
	v2 b = { INT64_MAX, { "", 0 }, 0, INT32_MAX, 0, false };
	assert_string_equal(JSON(v2_type_fields, &b),
			    "{\"id\":9223372036854775807,\"name\":\"\",\"score\":0.0,"
			    "\"small\":2147483647,\"big\":0,\"flag\":false}");
	v1 c = { -1, { "x", 1 } };
	assert_string_equal(JSON(v1_type_fields, &c), "{\"id\":-1,\"name\":\"x\"}");
	/* no fields: an empty object */
	assert_string_equal(json(v1_type_fields, 0, &c), "{}");
}

typedef struct dbl {
	double d;
} dbl;

static const flinc_field dbl_fields[] = { FLINC_FIELD(dbl, d, FLINC_FIELD_F64) };

/* The JSON text of the value of {"d":...}. */
static const char *dbl_json(double d)
{
	dbl x = { d };
	const char *s = JSON(dbl_fields, &x);
	assert_memory_equal(s, "{\"d\":", 5);
	assert_int_equal(s[strlen(s) - 1], '}');
	static char v[64];
	snprintf(v, sizeof v, "%.*s", (int)strlen(s) - 6, s + 5);
	return v;
}

static void json_doubles(void **st)
{
	(void)st;
	/* shortest text that reads back, always with a point or an exponent */
	assert_string_equal(dbl_json(2.0), "2.0");
	assert_string_equal(dbl_json(-0.0), "-0.0");
	assert_string_equal(dbl_json(0.1), "0.1");
	assert_string_equal(dbl_json(-2.5), "-2.5");
	assert_string_equal(dbl_json(1.0 / 3), "0.3333333333333333");
	assert_string_equal(dbl_json(0.1 + 0.2), "0.30000000000000004");
	assert_string_equal(dbl_json(1e20), "1e+20");
	assert_string_equal(dbl_json(123456789012345.0), "123456789012345.0");
	assert_string_equal(dbl_json(DBL_MAX), "1.7976931348623157e+308");
	assert_string_equal(dbl_json(5e-324), "4.94065645841247e-324");
	/* JSON has no NaN or infinity */
	assert_string_equal(dbl_json(NAN), "null");
	assert_string_equal(dbl_json(INFINITY), "null");
	assert_string_equal(dbl_json(-INFINITY), "null");
	/* every finite double reads back exactly (bit patterns from an LCG) */
	uint64_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
		double d;
		memcpy(&d, &x, sizeof d);
		if (!isfinite(d)) continue;
		const char *t = dbl_json(d);
		char *end;
		double back = strtod(t, &end);
		assert_int_equal(*end, '\0');
		assert_memory_equal(&back, &d, sizeof d);
	}
}

/* Compile a locale with localedef into a temporary LOCPATH and switch
 * LC_NUMERIC to it; false (test skipped) where localedef or the locale's
 * source is missing. */
static bool use_locale(const char *dir, const char *src, const char *name)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "localedef -i %s -f UTF-8 %s/%s >/dev/null 2>&1", src, dir, name);
	if (system(cmd) != 0) return false;
	return setlocale(LC_NUMERIC, name) != NULL;
}

static char locale_dir[] = "/tmp/fields_test.XXXXXX";

/* The decimal point is '.' whatever LC_NUMERIC says (',' in de_DE, the
 * two-byte U+066B in ps_AF). */
static void json_doubles_locale(void **st)
{
	(void)st;
	assert_non_null(mkdtemp(locale_dir));
	setenv("LOCPATH", locale_dir, 1);
	bool de = use_locale(locale_dir, "de_DE", "de_DE.UTF-8");
	if (de) {
		assert_string_equal(dbl_json(2.5), "2.5");
		assert_string_equal(dbl_json(-1234.0625), "-1234.0625");
		assert_string_equal(dbl_json(1.5e-300), "1.5e-300");
	}
	bool ps = use_locale(locale_dir, "ps_AF", "ps_AF.UTF-8");
	if (ps) {
		assert_string_equal(dbl_json(2.5), "2.5");
		assert_string_equal(dbl_json(0.1 + 0.2), "0.30000000000000004");
	}
	if (!de || !ps) skip();
}

/* Back to the C locale, the compiled locales removed, even after a failure. */
static int locale_teardown(void **st)
{
	(void)st;
	setlocale(LC_NUMERIC, "C");
	unsetenv("LOCPATH");
	char rm[600];
	snprintf(rm, sizeof rm, "rm -rf '%s'", locale_dir);
	return system(rm) == 0 ? 0 : -1;
}

typedef struct money {
	int64_t a, b, c;
} money;

static void json_decimals(void **st)
{
	(void)st;
	static const flinc_field f3[] = {
		FLINC_FIELD(money, a, FLINC_FIELD_DECIMAL(3)),
		FLINC_FIELD(money, b, FLINC_FIELD_DECIMAL(0)),
		FLINC_FIELD(money, c, FLINC_FIELD_DECIMAL(18)),
	};
	money m = { 280572, 42, 1 };
	assert_string_equal(JSON(f3, &m), "{\"a\":280.572,\"b\":42,\"c\":0.000000000000000001}");
	m = (money){ -5, -42, INT64_MAX };
	assert_string_equal(JSON(f3, &m), "{\"a\":-0.005,\"b\":-42,\"c\":9.223372036854775807}");
	m = (money){ 0, 0, INT64_MIN };
	assert_string_equal(JSON(f3, &m), "{\"a\":0.000,\"b\":0,\"c\":-9.223372036854775808}");
	m = (money){ INT64_MIN, INT64_MIN, -1000000000000000000 };
	assert_string_equal(
		JSON(f3, &m),
		"{\"a\":-9223372036854775.808,\"b\":-9223372036854775808,\"c\":-1.000000000000000000}");

	/* Encoded as the integer: the same bytes as FLINC_FIELD_I64, and back. */
	static const flinc_field i3[] = {
		FLINC_FIELD(money, a, FLINC_FIELD_I64),
		FLINC_FIELD(money, b, FLINC_FIELD_I64),
		FLINC_FIELD(money, c, FLINC_FIELD_I64),
	};
	uint8_t bd[64], bi[64];
	flinc_writer w;
	flinc_writer_init(&w, bd, sizeof bd);
	assert_int_equal(flinc_fields_encode(f3, 3, &m, &w), 0);
	size_t nd = flinc_writer_len(&w, bd);
	flinc_writer_init(&w, bi, sizeof bi);
	assert_int_equal(flinc_fields_encode(i3, 3, &m, &w), 0);
	assert_int_equal(flinc_writer_len(&w, bi), nd);
	assert_memory_equal(bd, bi, nd);
	money back = { 0 };
	flinc_reader r;
	flinc_reader_init(&r, bd, nd);
	assert_int_equal(flinc_fields_decode(f3, 3, &r, &back), 0);
	assert_memory_equal(&back, &m, sizeof m);
}

typedef struct text {
	flinc_str s;
} text;

static const flinc_field text_fields[] = { FLINC_FIELD(text, s, FLINC_FIELD_STR) };

/* {"s":<the escaped string>} of len bytes at p. */
static const char *str_json(const char *p, size_t len)
{
	text t = { { p, (uint32_t)len } };
	return JSON(text_fields, &t);
}

#define STR_JSON(lit) str_json((lit), sizeof(lit) - 1)

static void json_escaping(void **st)
{
	(void)st;
	assert_string_equal(STR_JSON("plain text"), "{\"s\":\"plain text\"}");
	assert_string_equal(STR_JSON("q\"b\\s/"), "{\"s\":\"q\\\"b\\\\s/\"}");
	assert_string_equal(STR_JSON("\n\r\t"), "{\"s\":\"\\n\\r\\t\"}");
	/* other control characters as \u00XX (lowercase), NUL included; DEL
	 * needs no escape */
	assert_string_equal(STR_JSON("\x01\b\f\x1f\x7f"), "{\"s\":\"\\u0001\\u0008\\u000c\\u001f\x7f\"}");
	assert_string_equal(STR_JSON("a\0b"), "{\"s\":\"a\\u0000b\"}");
	/* valid UTF-8 (2, 3 and 4 bytes, the edges of the ranges) as it is */
	assert_string_equal(STR_JSON("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"),
			    "{\"s\":\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"}");
	assert_string_equal(
		STR_JSON("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf"),
		"{\"s\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"}");
	/* invalid UTF-8: each byte of a bad sequence is \ufffd */
	assert_string_equal(STR_JSON("a\xff"
				     "b"),
			    "{\"s\":\"a\\ufffdb\"}");
	assert_string_equal(STR_JSON("\x80"), "{\"s\":\"\\ufffd\"}");            /* lone continuation */
	assert_string_equal(STR_JSON("\xc0\xaf"), "{\"s\":\"\\ufffd\\ufffd\"}"); /* overlong '/' */
	assert_string_equal(STR_JSON("\xe0\x9f\xbf"), "{\"s\":\"\\ufffd\\ufffd\\ufffd\"}"); /* overlong */
	assert_string_equal(STR_JSON("\xed\xa0\x80"), "{\"s\":\"\\ufffd\\ufffd\\ufffd\"}"); /* surrogate */
	assert_string_equal(STR_JSON("\xf4\x90\x80\x80"),
			    "{\"s\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}"); /* > U+10FFFF */
	assert_string_equal(STR_JSON("\xf5\x80"), "{\"s\":\"\\ufffd\\ufffd\"}");
	assert_string_equal(STR_JSON("x\xe4\xb8"), "{\"s\":\"x\\ufffd\\ufffd\"}"); /* cut at the end */
	assert_string_equal(STR_JSON("\xe4\xb8"
				     "x"),
			    "{\"s\":\"\\ufffd\\ufffdx\"}"); /* cut before ASCII */
	/* only the string's len bytes count */
	assert_string_equal(str_json("abcdef", 3), "{\"s\":\"abc\"}");
	/* a NULL string is "" (what the codec makes of it) */
	assert_string_equal(str_json(NULL, 0), "{\"s\":\"\"}");
	assert_string_equal(str_json(NULL, 5), "{\"s\":\"\"}");
}

/* A struct inside a struct is listed field by field; keys are the member
 * spelling or a name of one's own, escaped like values. */
typedef struct inner {
	flinc_str label;
	double weight;
} inner;

typedef struct outer {
	int64_t id;
	inner in;
	bool ok;
} outer;

/* The strings are scanned eight bytes at a time: every byte that needs an
 * escape or a UTF-8 check, at every offset of a 40-byte string (so in each
 * lane of each word and in the byte-wise tail), against the escapes
 * written out by hand. */
static void json_escaping_offsets(void **st)
{
	(void)st;
	static const struct {
		const char *in;
		const char *out;
	} special[] = {
		{ "\"", "\\\"" },
		{ "\\", "\\\\" },
		{ "\n", "\\n" },
		{ "\x01", "\\u0001" },
		{ "\x1f", "\\u001f" },
		{ "\xff", "\\ufffd" },
		{ "\xc3\xa9", "\xc3\xa9" },
		{ "\x7f", "\x7f" },
		{ " ", " " },
		{ "!", "!" },
		{ "#", "#" },
		{ "[", "[" },
		{ "]", "]" },
	};
	for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
		size_t sl = strlen(special[k].in);
		for (size_t at = 0; at + sl <= 40; at++) {
			char in[48], want[96];
			memset(in, 'a', 40);
			memcpy(in + at, special[k].in, sl);
			int n = snprintf(want, sizeof want, "{\"s\":\"%.*s%s%.*s\"}", (int)at, in,
					 special[k].out, (int)(40 - at - sl), in + at + sl);
			assert_true(n > 0 && (size_t)n < sizeof want);
			assert_string_equal(str_json(in, 40), want);
		}
	}
}

/* Integers of every length, two digits at a time. */
static void json_digits(void **st)
{
	(void)st;
	int64_t v = 0;
	for (int d = 1; d <= 19; d++) {
		v = v * 10 + d % 10; /* 1, 12, 123, ... */
		char want[64];
		snprintf(want, sizeof want, "{\"id\":%lld,\"name\":\"\"}", (long long)v);
		v1 a = { v, { "", 0 } };
		assert_string_equal(JSON(v1_type_fields, &a), want);
		snprintf(want, sizeof want, "{\"id\":%lld,\"name\":\"\"}", (long long)-v);
		v1 b = { -v, { "", 0 } };
		assert_string_equal(JSON(v1_type_fields, &b), want);
	}
	static const int64_t edge[] = { 9,
					10,
					99,
					100,
					999,
					1000,
					100000,
					99999999,
					100000000,
					100000001,
					1000000007,
					1767225600000,
					10000000000000000,
					1000000000000000000 };
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
		char want[64];
		snprintf(want, sizeof want, "{\"id\":%lld,\"name\":\"\"}", (long long)edge[i]);
		v1 a = { edge[i], { "", 0 } };
		assert_string_equal(JSON(v1_type_fields, &a), want);
	}
}

static void json_nested_and_named(void **st)
{
	(void)st;
	static const flinc_field f[] = {
		FLINC_FIELD(outer, id, FLINC_FIELD_I64),
		FLINC_FIELD(outer, in.label, FLINC_FIELD_STR),
		FLINC_FIELD_NAMED(outer, in.weight, FLINC_FIELD_F64, "weight"),
		FLINC_FIELD_NAMED(outer, ok, FLINC_FIELD_BOOL, "is \"ok\"\n\xc3\xa9\xff"),
	};
	outer o = { 7, { { "tag", 3 }, 1.25 }, true };
	assert_string_equal(
		JSON(f, &o),
		"{\"id\":7,\"in.label\":\"tag\",\"weight\":1.25,\"is \\\"ok\\\"\\n\xc3\xa9\\ufffd\":true}");
	/* a subset in another order */
	static const flinc_field g[] = {
		FLINC_FIELD(outer, ok, FLINC_FIELD_BOOL),
		FLINC_FIELD(outer, id, FLINC_FIELD_I64),
	};
	assert_string_equal(JSON(g, &o), "{\"ok\":true,\"id\":7}");
}

/* snprintf's contract at every capacity: the length is always the whole
 * object's, the buffer a NUL-terminated prefix, nothing written at or past
 * cap. */
static void json_too_small(void **st)
{
	(void)st;
	v2 a = { -42, { "al\"ice\n", 7 }, 2.5, -7, 99, true };
	char full[256];
	size_t want = 0;
	assert_int_equal(flinc_fields_json(v2_type_fields, 6, &a, full, sizeof full, &want), FLINC_OK);
	assert_int_equal(want, strlen(full));
	for (size_t cap = 0; cap <= want + 1; cap++) {
		char buf[256];
		memset(buf, '#', sizeof buf);
		size_t len = 12345;
		int rc = flinc_fields_json(v2_type_fields, 6, &a, buf, cap, &len);
		assert_int_equal(len, want);
		assert_int_equal(rc, cap > want ? FLINC_OK : FLINC_ERANGE);
		if (cap) {
			size_t got = cap > want ? want : cap - 1;
			assert_memory_equal(buf, full, got);
			assert_int_equal(buf[got], '\0');
		}
		for (size_t i = cap; i < sizeof buf; i++) assert_int_equal(buf[i], '#');
	}
	/* no buffer at all: just the length; len may be NULL */
	size_t len = 0;
	assert_int_equal(flinc_fields_json(v2_type_fields, 6, &a, NULL, 0, &len), FLINC_ERANGE);
	assert_int_equal(len, want);
	char tiny[4];
	assert_int_equal(flinc_fields_json(v2_type_fields, 6, &a, tiny, sizeof tiny, NULL), FLINC_ERANGE);
	assert_string_equal(tiny, "{\"i");
}

/* A kind this runtime does not know (a plugin from a newer header) or a
 * NULL name: FLINC_EINVAL, the rest of the object still complete; the codec
 * refuses the kind. */
static void json_unknown_kind(void **st)
{
	(void)st;
	static const flinc_field f[] = {
		{ "id", FLINC_FIELD_I64, offsetof(v1, id) },
		{ "what", (flinc_field_kind)99, offsetof(v1, name) },
		{ NULL, FLINC_FIELD_STR, offsetof(v1, name) },
		{ "dec19", (flinc_field_kind)(FLINC_FIELD_DECIMAL_18 + 1), offsetof(v1, id) },
	};
	v1 a = { 5, { "x", 1 } };
	char buf[128];
	size_t len = 0;
	assert_int_equal(flinc_fields_json(f, 4, &a, buf, sizeof buf, &len), FLINC_EINVAL);
	assert_string_equal(buf, "{\"id\":5,\"what\":null,\"\":\"x\",\"dec19\":null}");
	assert_int_equal(len, strlen(buf));
	/* EINVAL wins over ERANGE */
	assert_int_equal(flinc_fields_json(f, 4, &a, buf, 3, &len), FLINC_EINVAL);
	uint8_t enc_buf[64];
	flinc_writer w;
	flinc_writer_init(&w, enc_buf, sizeof enc_buf);
	assert_int_equal(flinc_fields_encode(f + 1, 1, &a, &w), FLINC_EINVAL);
	flinc_writer_init(&w, enc_buf, sizeof enc_buf);
	assert_int_equal(flinc_fields_encode(f + 3, 1, &a, &w), FLINC_EINVAL);
}

/* FLINC_JSON_FORMAT makes a flinc_format_fn: snprintf-like length. */
FLINC_JSON_FORMAT(fmt_v1, v1_type_fields)

static void json_format_fn(void **st)
{
	(void)st;
	v1 a = { 12, { "ab", 2 } };
	char buf[64];
	assert_int_equal(fmt_v1(&a, buf, sizeof buf), strlen("{\"id\":12,\"name\":\"ab\"}"));
	assert_string_equal(buf, "{\"id\":12,\"name\":\"ab\"}");
	assert_int_equal(fmt_v1(&a, buf, 5), strlen("{\"id\":12,\"name\":\"ab\"}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(older_writer),
		cmocka_unit_test(newer_writer),
		cmocka_unit_test(malformed),
		cmocka_unit_test(json_numbers),
		cmocka_unit_test(json_doubles),
		cmocka_unit_test_teardown(json_doubles_locale, locale_teardown),
		cmocka_unit_test(json_decimals),
		cmocka_unit_test(json_escaping),
		cmocka_unit_test(json_escaping_offsets),
		cmocka_unit_test(json_digits),
		cmocka_unit_test(json_nested_and_named),
		cmocka_unit_test(json_too_small),
		cmocka_unit_test(json_unknown_kind),
		cmocka_unit_test(json_format_fn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
