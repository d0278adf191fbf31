/*
 * gen_test - flinc-gen's seed modes (gen/gen-*.c): the writers, the heap and
 * the PRNG; byte-identical output for the same arguments; each injected
 * pattern present with its label; usage errors. The rules behind the labels
 * are checked record by record by tests/integration/check_seed_labels.py
 * (integration.gen_seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "flinc-gen.h"

int fg_transactions_main(int argc, char **argv);
int fg_user_events_main(int argc, char **argv);
int fg_iot_main(int argc, char **argv);
typedef int (*mode_fn)(int, char **);

static void test_writers(void **state)
{
	(void)state;
	char b[64], *e;
	fg_ts_cache c;
	memset(&c, 0, sizeof c);
	e = fg_put_ts(b, 0, &c);
	*e = 0;
	assert_string_equal(b, "1970-01-01T00:00:00.000Z");
	int64_t ms;
	assert_true(fg_parse_time("2026-01-01T23:59:59.987Z", &ms));
	e = fg_put_ts(b, ms, &c);
	*e = 0;
	assert_string_equal(b, "2026-01-01T23:59:59.987Z");
	e = fg_put_ts(b, ms + 13, &c); /* the next day: the cached minute changes */
	*e = 0;
	assert_string_equal(b, "2026-01-02T00:00:00.000Z");
	assert_true(fg_parse_time("2024-02-29T12:00:00Z", &ms));
	e = fg_put_ts(b, ms + 5, &c);
	*e = 0;
	assert_string_equal(b, "2024-02-29T12:00:00.005Z");
	assert_true(fg_parse_time("1735689600000", &ms));
	assert_int_equal(ms, 1735689600000LL);
	assert_false(fg_parse_time("2026-13-01T00:00:00Z", &ms));
	assert_false(fg_parse_time("2026-01-01 00:00:00", &ms));
	assert_false(fg_parse_time("", &ms));

	e = fg_put_fixed(b, 4567, 2);
	*e = 0;
	assert_string_equal(b, "45.67");
	e = fg_put_fixed(b, -5, 4);
	*e = 0;
	assert_string_equal(b, "-0.0005");
	e = fg_put_fixed(b, 100000, 2);
	*e = 0;
	assert_string_equal(b, "1000.00");
	e = fg_put_u64(b, 18446744073709551615ULL);
	*e = 0;
	assert_string_equal(b, "18446744073709551615");
	e = fg_put_i64(b, -42);
	*e = 0;
	assert_string_equal(b, "-42");
	e = fg_put_uuid(b, 0x0123456789abcdefULL, 0xfedcba9876543210ULL);
	*e = 0;
	assert_string_equal(b, "01234567-89ab-cdef-fedc-ba9876543210");
}

static void test_heap_and_rng(void **state)
{
	(void)state;
	fg_heap h;
	memset(&h, 0, sizeof h);
	fg_rng r;
	fg_rng_seed(&r, 5, 0);
	for (uint32_t i = 0; i < 5000; i++) assert_true(fg_heap_push(&h, (int64_t)fg_rng_below(&r, 100), i));
	fg_heap_ent prev = { INT64_MIN, 0, 0 }, e;
	size_t n = 0;
	while (fg_heap_pop(&h, &e)) {
		assert_true(e.t > prev.t || (e.t == prev.t && e.seq > prev.seq)); /* FIFO among equal times */
		prev = e;
		n++;
	}
	assert_int_equal(n, 5000);
	fg_heap_free(&h);

	fg_rng a, b;
	fg_rng_seed(&a, 42, 1);
	fg_rng_seed(&b, 42, 1);
	for (int i = 0; i < 1000; i++) assert_true(fg_rng_next(&a) == fg_rng_next(&b));
	fg_rng_seed(&b, 42, 2);
	assert_true(fg_rng_next(&a) != fg_rng_next(&b));
	for (int i = 0; i < 10000; i++) {
		assert_true(fg_rng_below(&a, 7) < 7);
		double u = fg_rng_unit(&a);
		assert_true(u >= 0 && u < 1);
		int64_t x = fg_rng_range(&a, -3, 3);
		assert_true(x >= -3 && x <= 3);
	}
}

/* Runs a mode with args (NULL-terminated) writing to a temp file; returns
 * its contents (malloc'd) and status. */
static char *run_mode(mode_fn fn, int *status, size_t *len, ...)
{
	char path[] = "/tmp/gen_test_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)"mode";
	va_list ap;
	va_start(ap, len);
	for (const char *a; (a = va_arg(ap, const char *));) argv[argc++] = (char *)a;
	va_end(ap);
	char outopt[64];
	snprintf(outopt, sizeof outopt, "--output=%s", path);
	argv[argc++] = outopt;
	argv[argc] = NULL;
	*status = fn(argc, argv);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)sz, f), (size_t)sz);
	buf[sz] = 0;
	fclose(f);
	unlink(path);
	*len = (size_t)sz;
	return buf;
}

/* memmem with the lengths known: strstr would have the sanitizers'
 * interceptor measure the whole rest of the text on every call (quadratic
 * under ASan with strict_string_checks). */
static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0, nl = strlen(needle), total = strlen(hay);
	for (const char *p = hay; (p = memmem(p, total - (size_t)(p - hay), needle, nl)); n++) p += nl;
	return n;
}

static size_t lines(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) n += s[i] == '\n';
	return n;
}

static void test_determinism(void **state)
{
	(void)state;
	mode_fn fns[] = { fg_transactions_main, fg_user_events_main, fg_iot_main };
	for (int m = 0; m < 3; m++) {
		int st1, st2, st3;
		size_t l1, l2, l3;
		char *a = run_mode(fns[m], &st1, &l1, "--count", "20000", "--seed", "9", NULL);
		char *b = run_mode(fns[m], &st2, &l2, "--count", "20000", "--seed", "9", NULL);
		char *c = run_mode(fns[m], &st3, &l3, "--count", "20000", "--seed", "10", NULL);
		assert_int_equal(st1, 0);
		assert_int_equal(st2, 0);
		assert_int_equal(st3, 0);
		assert_int_equal(lines(a, l1), 20000);
		assert_int_equal(lines(c, l3), 20000);
		assert_true(l1 == l2 && memcmp(a, b, l1) == 0); /* same args, same bytes */
		assert_true(l1 != l3 || memcmp(a, c, l1) != 0); /* another seed, another stream */
		free(a);
		free(b);
		free(c);
	}
}

static void test_patterns_present(void **state)
{
	(void)state;
	int st;
	size_t len;
	/* 05:00-06:10 UTC: off-hours first, then day */
	char *t = run_mode(fg_transactions_main, &st, &len, "--count", "40000", "--event-rate", "10",
			   "--start-time", "2026-01-01T05:00:00Z", "--fraud-rate", "0.05", NULL);
	assert_int_equal(st, 0);
	size_t fraud = 0;
	const char *types[] = { "VELOCITY_FRAUD", "STRUCTURING_FRAUD", "GEO_ANOMALY", "CARD_TESTING",
				"OFF_HOURS_HIGH_RISK" };
	for (int i = 0; i < 5; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"fraudType\":\"%s\"", types[i]);
		size_t n = count_of(t, needle);
		assert_true(n > 50);
		fraud += n;
	}
	assert_int_equal(count_of(t, "\"isFraud\":true"), fraud);
	assert_int_equal(count_of(t, "\"isFraud\":false,\"fraudType\":null"), 40000 - fraud);
	assert_true(fraud > 40000 * 0.03 && fraud < 40000 * 0.07); /* --fraud-rate 0.05, about */
	free(t);

	char *io = run_mode(fg_iot_main, &st, &len, "--count", "100000", "--anomaly-rate", "0.05", NULL);
	assert_int_equal(st, 0);
	const char *anoms[] = { "RANGE_BREACH", "STATISTICAL_OUTLIER", "STUCK_SENSOR", "SENSOR_SILENT",
				"LOW_BATTERY" };
	for (int i = 0; i < 5; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"anomalyType\":\"%s\"", anoms[i]);
		assert_true(count_of(io, needle) > 20);
	}
	assert_true(count_of(io, "\"deviceStatus\":\"low_battery\"") == count_of(io, "\"LOW_BATTERY\""));
	free(io);

	char *ue = run_mode(fg_user_events_main, &st, &len, "--count", "50000", NULL);
	assert_int_equal(st, 0);
	const char *evs[] = { "page_view", "button_click", "form_submission", "search",
			      "login",     "logout",       "purchase",        "video_play" };
	for (int i = 0; i < 8; i++) {
		char needle[64];
		snprintf(needle, sizeof needle, "\"eventType\":\"%s\"", evs[i]);
		assert_true(count_of(ue, needle) > 100);
	}
	free(ue);
}

static void test_usage_errors(void **state)
{
	(void)state;
	char *bad[][4] = {
		{ "m", "--count", "x", NULL },  { "m", "--rate", "0", NULL },
		{ "m", "--bogus", NULL, NULL }, { "m", "--start-time", "yesterday", NULL },
		{ "m", "--seed", NULL, NULL },  { "m", "--output", "kafka://nohost", NULL },
		{ "m", "-X", "novalue", NULL }, { "m", "--users", "0", NULL },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int argc = 0;
		while (bad[i][argc]) argc++;
		assert_int_equal(fg_transactions_main(argc, bad[i]), 2);
	}
	char *few[] = { "m", "--users", "10", "--event-rate", "100", NULL };
	assert_int_equal(fg_transactions_main(5, few), 2);
	char *rate_frac[] = { "m", "--anomaly-rate", "0.9", NULL };
	assert_int_equal(fg_iot_main(3, rate_frac), 2);
	char *live_start[] = { "m", "--rate", "10", "--start-time", "0", NULL };
	assert_int_equal(fg_user_events_main(5, live_start), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers),      cmocka_unit_test(test_heap_and_rng),
		cmocka_unit_test(test_determinism),  cmocka_unit_test(test_patterns_present),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
