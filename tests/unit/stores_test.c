/*
 * stores_test.c - the store sinks' pure parts (runtime/src/connectors/
 * store_line.c, store_addr.c; docs/sinks.md): JSON records to InfluxDB
 * line protocol with every escape and every refusal, the time field
 * (ISO-8601 with offsets and fractions, epoch ms), the sub-millisecond
 * record hash, the jsonb check and COPY escaping of the PostgreSQL sink,
 * and both address parsers with their defaults, options and bad input
 * (each refused with one line, passwords never shown).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/stores.h"
#include "fl_base.h"
#include "fl_hash.h"
#include "graph.h"

static const char *const default_tags[] = { "alertType", "kind",   "sensorType", "eventType",
					    "sensorId",  "userId", "page" };
static const fl_influx_fmt FMT = { "alerts", default_tags, 7, "timestamp" };

/* Converts json; on success returns the line without its timestamp and
 * checks the timestamp: ms * 10^6 + hash(json) mod 10^6. */
static char *convert_ok(const fl_influx_fmt *f, const char *json, int64_t ms)
{
	fl_buf out = { 0 }, fields = { 0 };
	char why[160] = "";
	int rc = fl_influx_line(f, json, strlen(json), &out, &fields, why, sizeof why);
	if (rc) fail_msg("%s refused: %s", json, why);
	assert_true(out.len > 2 && out.p[out.len - 1] == '\n');
	out.p[out.len - 1] = 0;
	char *sp = strrchr(out.p, ' ');
	assert_non_null(sp);
	long long ns = strtoll(sp + 1, NULL, 10);
	long long want = (long long)ms * 1000000 +
		(long long)(fl_hash64(json, strlen(json), 0x666c696e63ull) % 1000000);
	if (ns != want) fail_msg("%s: timestamp %lld, want %lld", json, ns, want);
	*sp = 0;
	char *r = strdup(out.p);
	fl_buf_free(&out);
	fl_buf_free(&fields);
	return r;
}

static void convert_eq(const fl_influx_fmt *f, const char *json, int64_t ms, const char *want)
{
	char *got = convert_ok(f, json, ms);
	if (strcmp(got, want) != 0) fail_msg("%s\n got: %s\nwant: %s", json, got, want);
	free(got);
}

static void refused(const fl_influx_fmt *f, const char *json, size_t len, const char *needle)
{
	fl_buf out = { 0 }, fields = { 0 };
	fl_buf_add(&out, "keep", 4);
	char why[160] = "";
	int rc = fl_influx_line(f, json, len, &out, &fields, why, sizeof why);
	if (rc != FLINC_ECODEC) fail_msg("%.*s: rc %d, want refused", (int)len, json, rc);
	if (!strstr(why, needle)) fail_msg("%.*s: reason '%s' lacks '%s'", (int)len, json, why, needle);
	assert_int_equal(out.len, 4); /* nothing appended */
	fl_buf_free(&out);
	fl_buf_free(&fields);
}

#define T0 "\"timestamp\":\"2026-01-01T00:00:01.250Z\""
#define T0_MS 1767225601250LL

static void test_line_basic(void **st)
{
	(void)st;
	convert_eq(&FMT,
		   "{\"alertId\":\"a1\"," T0 ",\"alertType\":\"CARD_TESTING\",\"userId\":\"user1\","
		   "\"severity\":0.85,\"n\":3,\"neg\":-1.5e2,\"ok\":true,\"no\":false,\"gone\":null}",
		   T0_MS,
		   "alerts,alertType=CARD_TESTING,userId=user1 alertId=\"a1\",severity=0.85,n=3,neg=-1.5e2,"
		   "ok=true,no=false");
}

static void test_line_nested_and_arrays(void **st)
{
	(void)st;
	/* objects flatten with dots; arrays become their JSON text */
	convert_eq(
		&FMT,
		"{" T0 ",\"location\":{\"lat\":1.5,\"lon\":-2,\"deep\":{\"x\":\"y\"}},"
		"\"ids\":[\"a\",\"b\\\"c\",{\"k\":[1,2]}],\"empty\":{}}",
		T0_MS,
		"alerts location.lat=1.5,location.lon=-2,location.deep.x=\"y\",ids=\"[\\\"a\\\",\\\"b\\\\\\\"c\\\",{\\\"k\\\":[1,2]}]\"");
	/* a nested key can be a tag or the time */
	static const char *const tags[] = { "location.city" };
	fl_influx_fmt f = { "m", tags, 1, "meta.at" };
	convert_eq(&f, "{\"location\":{\"city\":\"Paris\",\"lat\":48.8},\"meta\":{\"at\":1000},\"v\":1}",
		   1000, "m,location.city=Paris location.lat=48.8,v=1");
}

static void test_line_escapes(void **st)
{
	(void)st;
	static const char *const tags[] = { "t k", "u" };
	fl_influx_fmt f = { "my m,x=y", tags, 2, "timestamp" };
	convert_eq(&f,
		   "{" T0
		   ",\"t k\":\"a b,c=d\",\"u\":\"\\u00e9\\ud83d\\ude00\",\"f k,=\":\"say \\\"hi\\\"\\\\ "
		   "x\\ny\\tz\\u0001\"}",
		   T0_MS,
		   "my\\ m\\,x=y,t\\ k=a\\ b\\,c\\=d,u=\xc3\xa9\xf0\x9f\x98\x80 f\\ k\\,\\=="
		   "\"say \\\"hi\\\"\\\\ x\\\\ny\\\\tz\\\\u0001\"");
	/* numbers, booleans as tags; an empty tag value is left out */
	static const char *const tags2[] = { "n", "b", "e" };
	fl_influx_fmt f2 = { "m", tags2, 3, "timestamp" };
	convert_eq(&f2, "{" T0 ",\"n\":42,\"b\":true,\"e\":\"\",\"v\":\"x\"}", T0_MS,
		   "m,n=42,b=true v=\"x\"");
}

static void test_line_time(void **st)
{
	(void)st;
	convert_eq(&FMT, "{\"timestamp\":1767225601250,\"v\":1}", T0_MS, "alerts v=1");
	convert_eq(&FMT, "{\"timestamp\":\"2026-01-01T01:00:01.25+01:00\",\"v\":1}", T0_MS, "alerts v=1");
	convert_eq(&FMT, "{\"timestamp\":\"2026-01-01 00:00:01.250999\",\"v\":1}", T0_MS, "alerts v=1");
	convert_eq(&FMT, "{\"timestamp\":\"1969-12-31T23:59:59Z\",\"v\":1}", -1000, "alerts v=1");
	int64_t ms;
	assert_int_equal(fl_iso8601_ms("2024-02-29T12:00:00-05:30", 25, &ms), FLINC_OK);
	assert_int_equal(ms, 1709227800000LL);
	assert_int_equal(fl_iso8601_ms("2024-13-01T00:00:00Z", 20, &ms), FLINC_ECODEC);
	assert_int_equal(fl_iso8601_ms("2024-01-01T00:00:00.Z", 21, &ms), FLINC_ECODEC);
	assert_int_equal(fl_iso8601_ms("2024-01-01", 10, &ms), FLINC_ECODEC);
	assert_int_equal(fl_iso8601_ms("2024-01-01T00:00:00+1", 21, &ms), FLINC_ECODEC);
}

static void test_line_hash(void **st)
{
	(void)st;
	/* Same record, same point; records that differ only in a field get
	 * different nanoseconds (so one never overwrites the other). */
	const char *a = "{" T0 ",\"alertId\":\"x1\",\"v\":1}";
	const char *b = "{" T0 ",\"alertId\":\"x2\",\"v\":1}";
	fl_buf o1 = { 0 }, o2 = { 0 }, o3 = { 0 }, fs = { 0 };
	char why[100];
	assert_int_equal(fl_influx_line(&FMT, a, strlen(a), &o1, &fs, why, sizeof why), FLINC_OK);
	assert_int_equal(fl_influx_line(&FMT, a, strlen(a), &o2, &fs, why, sizeof why), FLINC_OK);
	assert_int_equal(fl_influx_line(&FMT, b, strlen(b), &o3, &fs, why, sizeof why), FLINC_OK);
	assert_int_equal(o1.len, o2.len);
	assert_memory_equal(o1.p, o2.p, o1.len);
	o1.p[o1.len] = o3.p[o3.len] = 0; /* the buffers keep room for a NUL */
	const char *t1 = strrchr(o1.p, ' '), *t3 = strrchr(o3.p, ' ');
	assert_string_not_equal(t1, t3);
	assert_int_equal(strtoll(t1, NULL, 10) / 1000000, T0_MS);
	assert_int_equal(strtoll(t3, NULL, 10) / 1000000, T0_MS);
	/* appends: two records in one buffer */
	assert_int_equal(fl_influx_line(&FMT, b, strlen(b), &o1, &fs, why, sizeof why), FLINC_OK);
	assert_int_equal(o1.len, o2.len + o3.len);
	fl_buf_free(&o1);
	fl_buf_free(&o2);
	fl_buf_free(&o3);
	fl_buf_free(&fs);
}

static void test_line_refused(void **st)
{
	(void)st;
#define R(json, needle) refused(&FMT, json, strlen(json), needle)
	R("", "not a JSON object");
	R("[1,2]", "not a JSON object");
	R("{\"v\":1}", "no time field timestamp");
	R("{\"timestamp\":\"yesterday\",\"v\":1}", "not an ISO-8601 time");
	R("{\"timestamp\":true,\"v\":1}", "boolean");
	R("{\"timestamp\":[1],\"v\":1}", "array");
	R("{\"timestamp\":{\"a\":1},\"v\":1}", "object");
	R("{\"timestamp\":1e300,\"v\":1}", "out of range");
	R("{" T0 "}", "no field");
	R("{" T0 ",\"userId\":\"u\"}", "no field");
	R("{" T0 ",\"userId\":\"a\\nb\",\"v\":1}", "control character in a tag value");
	R("{" T0 ",\"userId\":\"ends\\\\\",\"v\":1}", "ends with a backslash");
	R("{" T0 ",\"a\\tb\":1}", "control character in a field key");
	R("{" T0 ",\"\":1}", "empty field key");
	R("{" T0 ",\"v\":1e999}", "out of range");
	R("{" T0 ",\"v\":01}", "',' or '}' expected");
	R("{" T0 ",\"v\":-}", "bad value");
	R("{" T0 ",\"v\":1.}", "bad number");
	R("{" T0 ",\"v\":tru}", "bad value");
	R("{" T0 ",\"v\":\"\\ud800\"}", "lone surrogate");
	R("{" T0 ",\"v\":\"\\x\"}", "bad escape");
	R("{" T0 ",\"v\":\"\xc3\x28\"}", "invalid UTF-8");
	R("{" T0 ",\"v\":\"raw\ttab\"}", "control byte");
	R("{" T0 ",\"v\":\"open}", "unterminated");
	R("{" T0 ",\"v\":1} x", "bytes after");
	R("{" T0 ",\"v\":1", "',' or '}' expected");
	R("{" T0 " \"v\":1}", "',' or '}' expected");
	R("{" T0 ",\"v\" 1}", "':' expected");
	R("{" T0 ",\"v\":[1,]}", "bad value");
	R("{" T0
	  ",\"v\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
	  "{\"a\":{\"a\":{\"a\":1}}}}}}}}}}}}}}}}}}",
	  "nested deeper");
#undef R
	/* a NUL byte inside is just a bad byte */
	refused(&FMT, "{\"v\":\0}", 7, "bad value");
	/* a key path too long */
	char big[600];
	int n = snprintf(big, sizeof big, "{" T0 ",\"");
	memset(big + n, 'k', 300);
	snprintf(big + n + 300, sizeof big - (size_t)n - 300, "\":1}");
	refused(&FMT, big, strlen(big), "key path longer");
}

static void test_long_strings(void **st)
{
	(void)st;
	/* strings longer than the small stack buffer, with escapes */
	size_t n = 5000;
	char *json = malloc(n + 100);
	int k = snprintf(json, n + 100, "{" T0 ",\"v\":\"");
	for (size_t i = 0; i < 1000; i++) memcpy(json + k + 5 * i, "ab\\n ", 5);
	snprintf(json + k + 5000, 100, "\"}");
	char *got = convert_ok(&FMT, json, T0_MS);
	assert_int_equal(strlen(got), strlen("alerts v=\"\"") + 1000 * 6);
	free(got);
	free(json);
}

static void test_json_check_and_copy(void **st)
{
	(void)st;
	char why[100];
	const char *ok = "{\"a\":\"x\\\\y\",\"b\":[1,{\"c\":null}]}";
	assert_int_equal(fl_json_check(ok, strlen(ok), why, sizeof why), FLINC_OK);
	const char *nul = "{\"a\":\"x\\u0000\"}";
	assert_int_equal(fl_json_check(nul, strlen(nul), why, sizeof why), FLINC_ECODEC);
	assert_non_null(strstr(why, "jsonb"));
	const char *bad = "{\"a\":1,}";
	assert_int_equal(fl_json_check(bad, strlen(bad), why, sizeof why), FLINC_ECODEC);
	/* the line protocol takes \u0000 (only jsonb refuses it) */
	const char *nul2 = "{" T0 ",\"a\":\"x\\u0000\"}";
	char *got = convert_ok(&FMT, nul2, T0_MS);
	assert_string_equal(got, "alerts a=\"x\\\\u0000\"");
	free(got);

	fl_buf b = { 0 };
	const char *rec = "{\"a\":\t\"x\\\\y\\n\"}\r\n";
	assert_true(fl_pg_copy_field(&b, rec, strlen(rec)));
	fl_buf_add(&b, "", 1);
	assert_string_equal(b.p, "{\"a\":\\t\"x\\\\\\\\y\\\\n\"}\\r\\n");
	fl_buf_free(&b);
}

/* ---- addresses -------------------------------------------------------------- */

typedef struct env {
	fl_conf *conf;
	flinc_env *e;
} env;

static env mk(void)
{
	env v;
	v.conf = fl_conf_create();
	v.e = fl_env_create("job", v.conf, 1);
	assert_non_null(v.e);
	return v;
}

static void rm(env *v)
{
	fl_env_destroy(v->e);
	fl_conf_destroy(v->conf);
}

static void influx_bad(const char *address, const char *needle)
{
	env v = mk();
	if (fl_influx_parse(v.e, address, "sink")) fail_msg("%s accepted", address);
	if (!strstr(v.e->err, needle)) fail_msg("%s: message '%s' lacks '%s'", address, v.e->err, needle);
	assert_null(strchr(v.e->err, '\n'));
	assert_null(strstr(v.e->err, "s3cret"));
	rm(&v);
}

static void pg_bad(const char *address, const char *needle)
{
	env v = mk();
	if (fl_pg_parse(v.e, address, "sink")) fail_msg("%s accepted", address);
	if (!strstr(v.e->err, needle)) fail_msg("%s: message '%s' lacks '%s'", address, v.e->err, needle);
	assert_null(strchr(v.e->err, '\n'));
	assert_null(strstr(v.e->err, "s3cret"));
	rm(&v);
}

static void test_influx_addr(void **st)
{
	(void)st;
	env v = mk();
	const fl_influx_addr *a = fl_influx_parse(v.e, "influxdb://127.0.0.1/metrics", "alerts");
	assert_non_null(a);
	assert_string_equal(a->host, "127.0.0.1");
	assert_string_equal(a->port, "8086");
	assert_string_equal(a->db, "metrics");
	assert_null(a->user);
	assert_string_equal(a->measurement, "alerts");
	assert_int_equal(a->ntags, 7);
	assert_string_equal(a->tags[0], "alertType");
	assert_string_equal(a->tags[6], "page");
	assert_string_equal(a->time_field, "timestamp");
	assert_int_equal(a->batch_points, 5000);
	assert_int_equal(a->batch_bytes, 4u << 20);
	assert_int_equal(a->linger_ms, 1000);
	assert_int_equal(a->retries, 3);
	assert_int_equal(a->timeout_ms, 30000);
	assert_true(a->create);
	assert_false(a->refused_skip);
	a = fl_influx_parse(
		v.e,
		"influxdb://bob:s3cret%21@[::1]:9999/my%20db?measurement=m%2Cx&tags=a,,b.c&time=at&"
		"batch=10&batch-size=64kb&linger=250ms&retries=0&timeout=2s&create=false&refused=skip",
		"alerts");
	assert_non_null(a);
	assert_string_equal(a->host, "::1");
	assert_string_equal(a->port, "9999");
	assert_string_equal(a->db, "my db");
	assert_string_equal(a->user, "bob");
	assert_string_equal(a->pass, "s3cret!");
	assert_null(strstr(a->display, "s3cret"));
	assert_non_null(strstr(a->display, "bob:***@"));
	assert_string_equal(a->measurement, "m,x");
	assert_int_equal(a->ntags, 2);
	assert_string_equal(a->tags[1], "b.c");
	assert_string_equal(a->time_field, "at");
	assert_int_equal(a->batch_points, 10);
	assert_int_equal(a->batch_bytes, 64 << 10);
	assert_int_equal(a->linger_ms, 250);
	assert_int_equal(a->retries, 0);
	assert_int_equal(a->timeout_ms, 2000);
	assert_false(a->create);
	assert_true(a->refused_skip);
	a = fl_influx_parse(v.e, "influxdb://h:1/d?tags=", "s");
	assert_non_null(a);
	assert_int_equal(a->ntags, 0);
	rm(&v);

	influx_bad("influxdb://host:8086", "no database");
	influx_bad("influxdb://host:8086/", "no database");
	influx_bad("influxdb:///db", "no host");
	influx_bad("influxdb://host:0/db", "port");
	influx_bad("influxdb://host:65536/db", "port");
	influx_bad("influxdb://host:x/db", "port");
	influx_bad("influxdb://[::1/db", "']'");
	influx_bad("influxdb://u:s3cret@h/db?batch=0", "batch=0");
	influx_bad("influxdb://u:s3cret@h/db?bogus=1", "unknown option bogus");
	influx_bad("influxdb://h/db?batch=5&batch=6", "given twice");
	influx_bad("influxdb://h/db?linger=soon", "linger");
	influx_bad("influxdb://h/db?timeout=1ms", "timeout");
	influx_bad("influxdb://h/db?create=yes", "create");
	influx_bad("influxdb://h/db?batch-size=1", "batch-size");
	influx_bad("influxdb://h/db?retries=11", "retries");
	influx_bad("influxdb://h/db?refused=ignore", "refused=ignore");
	influx_bad("influxdb://h/db?tags=timestamp", "both the time and a tag");
	influx_bad("influxdb://h/db?measurement=a%0Ab", "percent-encoded");
	influx_bad("influxdb://h/db?measurement=a%zz", "percent-encoded");
	influx_bad("influxdb://h/db?measurement", "no value");
	influx_bad("influxdb://h/a%2Fb", "bad one");
	influx_bad("influxdb://:s3cret@h/db", "USER");
}

static void test_pg_addr(void **st)
{
	(void)st;
	env v = mk();
	const fl_pg_addr *a = fl_pg_parse(v.e, "postgresql://127.0.0.1:5432/shop?table=alerts", "sink");
	assert_non_null(a);
	assert_string_equal(a->table, "alerts");
	assert_string_equal(a->id_field, "alertId");
	assert_int_equal(a->delivery, FL_PG_EXACTLY_ONCE);
	assert_int_equal(a->batch_bytes, 1u << 20);
	assert_true(a->create);
	assert_string_equal(a->prefix, "flinc:alerts:sink");
	assert_string_equal(a->conninfo,
			    "postgresql://127.0.0.1:5432/shop?connect_timeout=10&application_name=flinc");
	a = fl_pg_parse(v.e,
			"postgres://al:s3cret@db.local/shop?sslmode=disable&table=s.t_1&id=transactionId&"
			"delivery=at-least-once&batch-size=64kb&create=false&prefix=p1&connect_timeout=3",
			"sink");
	assert_non_null(a);
	assert_string_equal(a->table, "s.t_1");
	assert_string_equal(a->id_field, "transactionId");
	assert_int_equal(a->delivery, FL_PG_AT_LEAST_ONCE);
	assert_int_equal(a->batch_bytes, 64 << 10);
	assert_false(a->create);
	assert_string_equal(a->prefix, "p1");
	assert_string_equal(a->conninfo,
			    "postgres://al:s3cret@db.local/shop?sslmode=disable&connect_timeout=3&"
			    "application_name=flinc");
	assert_null(strstr(a->display, "s3cret"));
	a = fl_pg_parse(v.e, "postgresql://h/d?table=t&password=s3cret", "sink");
	assert_non_null(a);
	assert_null(strstr(a->display, "s3cret"));
	rm(&v);

	pg_bad("postgresql://h/db", "no table");
	pg_bad("postgresql://h/db?table=", "table=");
	pg_bad("postgresql://h/db?table=a;drop", "table=");
	pg_bad("postgresql://h/db?table=a.b.c", "table=");
	pg_bad("postgresql://h/db?table=a.", "table=");
	pg_bad("postgresql://u:s3cret@h/db?table=t&delivery=maybe", "delivery=maybe");
	pg_bad("postgresql://u:s3cret@h/db?table=t&batch-size=1", "batch-size");
	pg_bad("postgresql://h/db?table=t&create=1", "create");
	pg_bad("postgresql://h/db?table=t&prefix=it's", "printable ASCII");
	pg_bad("postgresql://u:s3cret@h/db?table=t&nosuchparam=1", "nosuchparam");
	pg_bad("postgresql://u:s3cret@h?table=t", "no database");
	pg_bad("postgresql://h/db?table=t&table=u", "given twice");
	pg_bad("mysql://h/db?table=t", "not a postgresql");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_basic),   cmocka_unit_test(test_line_nested_and_arrays),
		cmocka_unit_test(test_line_escapes), cmocka_unit_test(test_line_time),
		cmocka_unit_test(test_line_hash),    cmocka_unit_test(test_line_refused),
		cmocka_unit_test(test_long_strings), cmocka_unit_test(test_json_check_and_copy),
		cmocka_unit_test(test_influx_addr),  cmocka_unit_test(test_pg_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
