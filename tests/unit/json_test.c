/* json_test - flinc_json_parse: transaction records, every field kind,
 * nested keys, escapes into the arena, required fields; and hostile
 * input: not JSON, wrong types, missing fields, deep nesting, a 900 KB
 * garbage record, invalid UTF-8, duplicate keys, huge numbers, NUL bytes,
 * records over the size limit. Each refusal must come with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <flinc/flinc.h>

#include "util.h"

typedef struct txn {
	int64_t ts;
	flinc_str id, user;
	int64_t amount; /* DECIMAL(2) */
	flinc_str currency;
	double risk;
	bool fraud;
	flinc_str status;
	double lat, lon;
	int32_t small;
	uint64_t big;
	int64_t i64;
} txn;

static const flinc_field F[] = {
	FLINC_FIELD_NAMED(txn, ts, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS), "timestamp"),
	FLINC_FIELD_NAMED(txn, id, FLINC_REQUIRED(FLINC_FIELD_STR), "transactionId"),
	FLINC_FIELD_NAMED(txn, user, FLINC_REQUIRED(FLINC_FIELD_STR), "userId"),
	FLINC_FIELD_NAMED(txn, amount, FLINC_REQUIRED(FLINC_FIELD_DECIMAL(2)), "amount"),
	FLINC_FIELD_NAMED(txn, currency, FLINC_FIELD_STR, "currency"),
	FLINC_FIELD_NAMED(txn, risk, FLINC_FIELD_F64, "riskScore"),
	FLINC_FIELD_NAMED(txn, fraud, FLINC_FIELD_BOOL, "isFraud"),
	FLINC_FIELD_NAMED(txn, status, FLINC_FIELD_STR, "status"),
	FLINC_FIELD_NAMED(txn, lat, FLINC_FIELD_F64, "location.lat"),
	FLINC_FIELD_NAMED(txn, lon, FLINC_FIELD_F64, "location.lon"),
	FLINC_FIELD_NAMED(txn, small, FLINC_FIELD_I32, "small"),
	FLINC_FIELD_NAMED(txn, big, FLINC_FIELD_U64, "big"),
	FLINC_FIELD_NAMED(txn, i64, FLINC_FIELD_I64, "i64"),
};
#define NF (sizeof F / sizeof F[0])

static const char GOOD[] =
	"{\"timestamp\":\"2024-10-03T17:10:05Z\",\"transactionId\":\"t-1\",\"userId\":\"user123\","
	"\"amount\":99.99,\"currency\":\"USD\",\"merchantCategory\":\"electronics\",\"riskScore\":0.15,"
	"\"isFraud\":false,\"status\":\"approved\",\"country\":\"US\",\"location\":{\"lat\":37.7749,"
	"\"lon\":-122.4194},\"metadata\":{\"a\":[1,2,{\"b\":null}],\"c\":\"x\"}}";

static flinc_arena arena;
static char why[200];

static int parse_n(const char *s, size_t n, txn *t)
{
	memset(t, 0, sizeof *t);
	why[0] = 0;
	return flinc_json_parse(F, NF, s, n, t, &arena, why, sizeof why);
}
static int parse(const char *s, txn *t) { return parse_n(s, strlen(s), t); }

static bool streq(flinc_str s, const char *want)
{
	return s.len == strlen(want) && !memcmp(s.s, want, s.len);
}

/* The record refused with exactly this reason. */
#define REFUSED(json, reason)                                       \
	do {                                                        \
		txn t_;                                             \
		assert_int_equal(parse((json), &t_), FLINC_ECODEC); \
		assert_string_equal(why, (reason));                 \
	} while (0)

static void test_good(void **st)
{
	(void)st;
	txn t;
	assert_int_equal(parse(GOOD, &t), FLINC_OK);
	assert_string_equal(why, "");
	assert_true(t.ts == 1727975405000LL);
	assert_true(streq(t.id, "t-1"));
	assert_true(streq(t.user, "user123"));
	assert_true(t.user.s > GOOD && t.user.s < GOOD + sizeof GOOD); /* no copy */
	assert_int_equal(t.amount, 9999);
	assert_true(streq(t.currency, "USD"));
	assert_true(t.risk == 0.15);
	assert_false(t.fraud);
	assert_true(t.lat == 37.7749 && t.lon == -122.4194);
}

static void test_kinds(void **st)
{
	(void)st;
	txn t;
	assert_int_equal(
		parse(" {\"timestamp\":1700000000123,\"transactionId\":\"a\\n\\u00e9\\ud83d\\ude00\\\"\","
		      "\"userId\":\"u\",\"amount\":-5,\"small\":-2147483648,\"big\":18446744073709551615,"
		      "\"i64\":-9223372036854775808,\"isFraud\":true,\"riskScore\":1e-3,\"status\":null} \n",
		      &t),
		FLINC_OK);
	assert_true(t.ts == 1700000000123LL);
	assert_true(streq(t.id, "a\n\xc3\xa9\xf0\x9f\x98\x80\""));
	assert_int_equal(t.amount, -500);
	assert_int_equal(t.small, INT32_MIN);
	assert_true(t.big == UINT64_MAX);
	assert_true(t.i64 == INT64_MIN);
	assert_true(t.fraud);
	assert_true(t.risk == 1e-3);
	assert_null(t.status.s);
	/* timestamps with fractions and zones, decimals with exponents */
	assert_int_equal(
		parse("{\"timestamp\":\"2024-10-03T19:10:05.5+02:00\",\"transactionId\":\"a\",\"userId\":"
		      "\"u\",\"amount\":1.5e1}",
		      &t),
		FLINC_OK);
	assert_true(t.ts == 1727975405500LL);
	assert_int_equal(t.amount, 1500);
	/* doubles beyond the fast path read as strtod does */
	assert_int_equal(parse("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":\"u\",\"amount\":0,"
			       "\"riskScore\":0.12345678901234567890123}",
			       &t),
			 FLINC_OK);
	assert_true(t.risk == 0.12345678901234567890123);
}

static void test_not_json(void **st)
{
	(void)st;
	REFUSED("", "not a JSON object");
	REFUSED("hello world", "not a JSON object");
	REFUSED("[1,2,3]", "not a JSON object");
	REFUSED("\"str\"", "not a JSON object");
	REFUSED("{\"a\":1", "unexpected end of input at byte 6");
	REFUSED("{\"a\":1}x", "unexpected data after the object at byte 7");
	REFUSED("{\"a\":tru}", "unexpected character at byte 5");
	REFUSED("{\"a\":01}", "expected ',' or '}' at byte 6");
	REFUSED("{\"a\" 1}", "expected ':' at byte 5");
	REFUSED("{a:1}", "expected a key at byte 1");
	REFUSED("{\"a\":\"\\x\"}", "bad escape at byte 6");
	REFUSED("{\"a\":\"\\udc00\"}", "unpaired surrogate at byte 6");
	REFUSED("{\"a\":\"tab\there\"}", "control character in a string at byte 9");
	REFUSED("{\"a\":[1,}", "malformed number at byte 8");
}

static void test_wrong_types(void **st)
{
	(void)st;
	REFUSED("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":\"u\",\"amount\":\"12\"}",
		"amount: expected a number");
	REFUSED("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":7,\"amount\":1}",
		"userId: expected a string");
	REFUSED("{\"timestamp\":\"yesterday\",\"transactionId\":\"a\",\"userId\":\"u\",\"amount\":1}",
		"timestamp: expected an ISO-8601 timestamp");
	REFUSED("{\"timestamp\":\"2024-02-30T00:00:00Z\"}", "timestamp: expected an ISO-8601 timestamp");
	REFUSED("{\"timestamp\":\"2024-01-01T00:00:00\"}", "timestamp: expected an ISO-8601 timestamp");
	REFUSED("{\"isFraud\":\"no\"}", "isFraud: expected true or false");
	REFUSED("{\"small\":1.5}", "small: expected an integer");
	REFUSED("{\"location\":[1,2]}", "location: expected an object");
	REFUSED("{\"amount\":1.234}", "amount: more than 2 decimals");
	REFUSED("{\"amount\":{}}", "amount: expected a number");
}

static void test_missing(void **st)
{
	(void)st;
	REFUSED("{}", "missing field timestamp");
	REFUSED("{\"timestamp\":0,\"transactionId\":\"a\",\"amount\":1}", "missing field userId");
	REFUSED("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":null,\"amount\":1}",
		"missing field userId");
}

static void test_duplicates(void **st)
{
	(void)st;
	REFUSED("{\"userId\":\"a\",\"userId\":\"b\"}", "duplicate key userId");
	REFUSED("{\"location\":{\"lat\":1},\"location\":{\"lat\":2}}", "duplicate key location.lat");
	/* an escaped key is the same key */
	REFUSED("{\"userId\":\"a\",\"user\\u0049d\":\"b\"}", "duplicate key userId");
}

static void test_huge_numbers(void **st)
{
	(void)st;
	REFUSED("{\"small\":2147483648}", "small: integer out of range");
	REFUSED("{\"i64\":9223372036854775808}", "i64: integer out of range");
	REFUSED("{\"big\":-1}", "big: integer out of range");
	REFUSED("{\"big\":184467440737095516150}", "big: integer out of range");
	REFUSED("{\"riskScore\":1e400}", "riskScore: number out of range");
	REFUSED("{\"amount\":92233720368547758.08}", "amount: number out of range");
	char num[1200] = "{\"riskScore\":";
	memset(num + 13, '9', 1000);
	strcpy(num + 1013, "}");
	REFUSED(num, "riskScore: number too long");
	/* unknown keys with huge numbers are only checked */
	txn t;
	assert_int_equal(parse("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":\"u\",\"amount\":1,"
			       "\"x\":1e999999,\"y\":-123456789012345678901234567890}",
			       &t),
			 FLINC_OK);
}

static void test_nesting(void **st)
{
	(void)st;
	char deep[400];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof deep, "{\"x\":");
	for (int i = 0; i < 100; i++) deep[n++] = '[';
	for (int i = 0; i < 100; i++) deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = 0;
	REFUSED(deep, "nesting deeper than 64");
	/* 1000 nested objects under a known prefix: refused, no stack blow-up */
	static char objs[8000];
	n = 0;
	for (int i = 0; i < 1000; i++) n += (size_t)sprintf(objs + n, "{\"a\":");
	objs[n++] = '1';
	for (int i = 0; i < 1000; i++) objs[n++] = '}';
	objs[n] = 0;
	REFUSED(objs, "nesting deeper than 64");
}

static void test_utf8(void **st)
{
	(void)st;
	REFUSED("{\"userId\":\"caf\xc3\"}", "invalid UTF-8 at byte 14");
	REFUSED("{\"userId\":\"\xff\xfe\"}", "invalid UTF-8 at byte 11");
	REFUSED("{\"userId\":\"\xc0\xaf\"}", "invalid UTF-8 at byte 11");     /* overlong */
	REFUSED("{\"userId\":\"\xed\xa0\x80\"}", "invalid UTF-8 at byte 11"); /* surrogate */
	REFUSED("{\"zzz\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8 at byte 8"); /* > U+10FFFF, unknown key */
	REFUSED("{\"u\xff\":1}", "invalid UTF-8 at byte 3");                  /* in a key */
	txn t;
	assert_int_equal(
		parse("{\"timestamp\":0,\"transactionId\":\"\xe2\x82\xac\xf0\x9f\x98\x80\",\"userId\":"
		      "\"u\",\"amount\":1}",
		      &t),
		FLINC_OK);
}

static void test_nul_bytes(void **st)
{
	(void)st;
	txn t;
	static const char a[] = "{\"userId\":\"a\0b\"}";
	assert_int_equal(parse_n(a, sizeof a - 1, &t), FLINC_ECODEC);
	assert_string_equal(why, "control character in a string at byte 12");
	static const char b[] = "{\"timestamp\":0}\0";
	assert_int_equal(parse_n(b, sizeof b - 1, &t), FLINC_ECODEC);
	assert_string_equal(why, "unexpected data after the object at byte 15");
	static const char c[] = "\0{}";
	assert_int_equal(parse_n(c, sizeof c - 1, &t), FLINC_ECODEC);
	assert_string_equal(why, "not a JSON object");
	/* an escaped NUL is a valid key that names no field */
	assert_int_equal(parse("{\"timestamp\":0,\"transactionId\":\"a\",\"userId\":\"u\",\"amount\":1,"
			       "\"user\\u0000Id\":2}",
			       &t),
			 FLINC_OK);
}

static void test_garbage_and_size(void **st)
{
	(void)st;
	/* 900 KB of garbage bytes: refused at once, with a reason */
	size_t n = 900 * 1024;
	char *g = malloc(n);
	uint32_t r = 12345;
	for (size_t i = 0; i < n; i++) {
		r = r * 1103515245u + 12345u;
		g[i] = (char)(r >> 16);
	}
	txn t;
	g[0] = 'x';
	assert_int_equal(parse_n(g, n, &t), FLINC_ECODEC);
	assert_string_equal(why, "not a JSON object");
	/* a 900 KB string of garbage inside a record */
	memcpy(g, "{\"userId\":\"", 11);
	assert_int_equal(parse_n(g, n, &t), FLINC_ECODEC);
	assert_true(strncmp(why, "invalid UTF-8 at byte", 21) == 0 ||
		    strncmp(why, "control character", 17) == 0 || strncmp(why, "bad escape", 10) == 0 ||
		    strncmp(why, "unterminated", 12) == 0 || strncmp(why, "bad \\u", 6) == 0);
	free(g);
	/* over the limit: refused before reading */
	size_t big = FLINC_JSON_MAX_BYTES + 1;
	char *b = malloc(big);
	memset(b, ' ', big);
	b[0] = '{';
	b[big - 1] = '}';
	assert_int_equal(parse_n(b, big, &t), FLINC_ECODEC);
	assert_string_equal(why, "record larger than 1048576 bytes");
	/* exactly at the limit: parsed */
	assert_int_equal(parse_n(b + 1, big - 1, &t), FLINC_ECODEC); /* no '{' */
	b[1] = '{';
	assert_int_equal(parse_n(b + 1, big - 1, &t), FLINC_ECODEC);
	assert_string_equal(why, "missing field timestamp");
	free(b);
}

static void test_bad_fields(void **st)
{
	(void)st;
	txn t;
	flinc_field bad[] = { { "x", (flinc_field_kind)99, 0 } };
	assert_int_equal(flinc_json_parse(bad, 1, "{}", 2, &t, NULL, why, sizeof why), FLINC_EINVAL);
	flinc_field noname[] = { { NULL, FLINC_FIELD_I64, 0 } };
	assert_int_equal(flinc_json_parse(noname, 1, "{}", 2, &t, NULL, why, sizeof why), FLINC_EINVAL);
	/* an escaped string without an arena is refused, not crashed on */
	memset(&t, 0, sizeof t);
	assert_int_equal(flinc_json_parse(F, NF, "{\"userId\":\"a\\n\"}", 16, &t, NULL, why, sizeof why),
			 FLINC_ECODEC);
	assert_string_equal(why, "userId: escaped string and no arena");
	/* why may be absent */
	assert_int_equal(flinc_json_parse(F, NF, "x", 1, &t, NULL, NULL, 0), FLINC_ECODEC);
}

static void test_timestamp_json_out(void **st)
{
	(void)st;
	txn t = { .ts = 1727975405123LL };
	char buf[128];
	size_t len;
	assert_int_equal(flinc_fields_json(F, 1, &t, buf, sizeof buf, &len), FLINC_OK);
	assert_string_equal(buf, "{\"timestamp\":\"2024-10-03T17:10:05.123Z\"}");
	t.ts = -1;
	flinc_fields_json(F, 1, &t, buf, sizeof buf, &len);
	assert_string_equal(buf, "{\"timestamp\":\"1969-12-31T23:59:59.999Z\"}");
	/* and back */
	txn u;
	memset(&u, 0, sizeof u);
	assert_int_equal(flinc_json_parse(F, 1, buf, len, &u, NULL, why, sizeof why), FLINC_OK);
	assert_true(u.ts == -1);
	/* REQUIRED does not change the msgpack codec */
	uint8_t mb[256];
	flinc_writer w;
	flinc_writer_init(&w, mb, sizeof mb);
	t.ts = 42;
	t.amount = 7;
	assert_int_equal(flinc_fields_encode(F, NF, &t, &w), 0);
	assert_false(w.err);
}

/* The key lookup of compiled field lists (json.c's plan: by the length of
 * a name's first part, up to 64 fields) against the generic one (a list of
 * more than 64 fields): the same fields plus unknown-named ones that no
 * record has. For a record and 100,000 random mutations of it (bytes
 * changed, dropped, doubled, keys escaped), both must give the same code,
 * the same reason and the same values; once with flat names, once with
 * names that reach into a nested object (F's location.lat/lon; a key with
 * a dot in it, "location.lon", names that field too). */

static void fast_vs_generic(const flinc_field *fl, size_t nfl)
{
	enum { NPAD = 60 };
	flinc_field slow[NF + NPAD];
	char names[NPAD][16];
	memcpy(slow, fl, nfl * sizeof *fl);
	for (int i = 0; i < NPAD; i++) {
		snprintf(names[i], sizeof names[i], "zz%02dpad", i);
		slow[nfl + i] = (flinc_field)FLINC_FIELD_NAMED(txn, i64, FLINC_FIELD_I64, names[i]);
	}
	static const char base[] =
		"{\"timestamp\":\"2024-10-03T17:10:05Z\",\"transactionId\":\"t-1\",\"userId\":\"user123\","
		"\"amount\":99.99,\"currency\":\"USD\",\"merchantCategory\":\"electronics\",\"riskScore\":0.15,"
		"\"isFraud\":false,\"status\":\"approved\",\"country\":\"US\",\"small\":-5,\"big\":7,"
		"\"user\\u0049d2\":1,\"i64\":9,\"x\":{\"userId\":[1,{\"a\":null}]},"
		"\"location\":{\"lat\":1.5,\"x\":{\"lat\":3}},\"loc\":{\"lat\":4},\"location.lon\":-2}";
	static const char alphabet[] = "{}[]\":,\\u0 .-+eE1tfn\x01\xc3\xa9";
	char buf[sizeof base * 2];
	uint32_t r = 20261207;
	int accepted = 0;
	for (int it = 0; it < 100000; it++) {
		size_t n = sizeof base - 1;
		memcpy(buf, base, n);
		int edits = it == 0 ? 0 : 1 + (int)((r >> 8) % 3);
		for (int e = 0; e < edits; e++) {
			r = r * 1103515245u + 12345u;
			size_t at = (r >> 8) % n;
			r = r * 1103515245u + 12345u;
			switch ((r >> 8) % 3) {
			case 0: buf[at] = alphabet[(r >> 12) % (sizeof alphabet - 1)]; break;
			case 1:
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
				break;
			default:
				if (n + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at);
					n++;
				}
			}
		}
		txn a, b;
		char wa[200], wb[200];
		memset(&a, 0, sizeof a);
		memset(&b, 0, sizeof b);
		int ra = flinc_json_parse(fl, nfl, buf, n, &a, &arena, wa, sizeof wa);
		int rb = flinc_json_parse(slow, nfl + NPAD, buf, n, &b, &arena, wb, sizeof wb);
		if (ra != rb || strcmp(wa, wb) != 0)
			fail_msg("record %d: %d '%s' vs %d '%s': %.*s", it, ra, wa, rb, wb, (int)n, buf);
		if (ra) continue;
		accepted++;
		assert_true(a.ts == b.ts && a.amount == b.amount && a.risk == b.risk && a.fraud == b.fraud &&
			    a.small == b.small && a.big == b.big && a.i64 == b.i64 && a.lat == b.lat &&
			    a.lon == b.lon);
		assert_true(a.id.len == b.id.len && (!a.id.len || !memcmp(a.id.s, b.id.s, a.id.len)));
		assert_true(a.user.len == b.user.len &&
			    (!a.user.len || !memcmp(a.user.s, b.user.s, a.user.len)));
		assert_true(a.status.len == b.status.len &&
			    (!a.status.len || !memcmp(a.status.s, b.status.s, a.status.len)));
		fl_arena_reset(&arena);
	}
	assert_true(accepted > 1000); /* the mutations leave many records valid */
}

/* The top-level keys of the last record are remembered in order and
 * compared first as bytes: records that repeat them, change them, or
 * differ from them only after the key must all be read as on their own. */
static void test_remembered_keys(void **st)
{
	(void)st;
	txn t;
	for (int round = 0; round < 3; round++) { /* the first one teaches, the next use it */
		assert_int_equal(parse(GOOD, &t), FLINC_OK);
		assert_true(streq(t.user, "user123") && t.amount == 9999 && t.lat == 37.7749);
	}
	/* Another order: every key read as usual, then remembered. */
	static const char swapped[] =
		"{\"userId\":\"u2\",\"amount\":1.5,\"timestamp\":7,\"transactionId\":\"t2\"}";
	for (int round = 0; round < 2; round++) {
		assert_int_equal(parse(swapped, &t), FLINC_OK);
		assert_true(streq(t.user, "u2") && t.amount == 150 && t.ts == 7 && streq(t.id, "t2"));
	}
	/* A longer key where a remembered one was, then a shorter one. */
	REFUSED("{\"userIdX\":\"u\",\"amount\":1,\"timestamp\":7,\"transactionId\":\"t\"}",
		"missing field userId");
	REFUSED("{\"user\":\"u\",\"amount\":1,\"timestamp\":7,\"transactionId\":\"t\"}",
		"missing field userId");
	/* Spaces after the colon, and an escaped spelling of a remembered key. */
	assert_int_equal(parse(swapped, &t), FLINC_OK);
	assert_int_equal(
		parse("{\"userId\":  \"u3\",\"amount\": 2,\"timestamp\":\n7,\"transactionId\":\"t3\"}", &t),
		FLINC_OK);
	assert_true(streq(t.user, "u3") && t.amount == 200);
	assert_int_equal(
		parse("{\"user\\u0049d\":\"u4\",\"amount\":1,\"timestamp\":7,\"transactionId\":\"t\"}", &t),
		FLINC_OK);
	assert_true(streq(t.user, "u4"));
	/* A duplicate found through a remembered key, twice the same reason. */
	for (int round = 0; round < 2; round++)
		REFUSED("{\"timestamp\":1,\"timestamp\":2}", "duplicate key timestamp");
	/* Input that ends right after a remembered key's colon. */
	for (int round = 0; round < 2; round++)
		REFUSED("{\"timestamp\":", "unexpected end of input at byte 13");
	/* A remembered key whose value is now of the wrong type. */
	assert_int_equal(parse(GOOD, &t), FLINC_OK);
	REFUSED("{\"timestamp\":true}", "timestamp: expected an ISO-8601 timestamp");
	/* The nested object behind a remembered key. */
	assert_int_equal(parse(GOOD, &t), FLINC_OK);
	assert_true(t.lat == 37.7749 && t.lon == -122.4194);
}

static void test_fast_vs_generic(void **st)
{
	(void)st;
	static const char base[] = "{\"timestamp\":1,\"transactionId\":\"t\",\"userId\":\"u\",\"amount\":1}";
	flinc_field flat[NF]; /* F without its dotted names */
	size_t nflat = 0;
	for (size_t i = 0; i < NF; i++)
		if (!strchr(F[i].name, '.')) flat[nflat++] = F[i];
	fast_vs_generic(flat, nflat);
	fast_vs_generic(F, NF);
	/* The same list at the same address, changed: not the old plan. */
	flinc_field mut[NF];
	memcpy(mut, flat, nflat * sizeof *flat);
	txn t;
	assert_int_equal(flinc_json_parse(mut, nflat, base, sizeof base - 1, &t, &arena, why, sizeof why),
			 FLINC_OK);
	mut[2].name = "currency2";
	assert_int_equal(flinc_json_parse(mut, nflat, base, sizeof base - 1, &t, &arena, why, sizeof why),
			 FLINC_ECODEC);
	assert_string_equal(why, "missing field currency2");
}

int main(void)
{
	fl_arena_init(&arena, 0);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_garbage_and_size),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_timestamp_json_out),
		cmocka_unit_test(test_fast_vs_generic),
		cmocka_unit_test(test_remembered_keys),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fl_arena_fini(&arena);
	return rc;
}
