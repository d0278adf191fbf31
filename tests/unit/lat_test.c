/*
 * lat_test.c - latency histograms (base/lat.c): bucket bounds and
 * bucketing, quantiles, counters under concurrent adds; and the latency
 * marker on the exchange (runtime/src/exchange.c): in order with records,
 * to one channel, not counted as a record.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exchange.h"
#include "fl_lat.h"

static void test_bounds(void **st)
{
	(void)st;
	assert_int_equal(fl_lat_bound_ns(0), 10000);
	assert_int_equal(fl_lat_bound_ns(1), 12500);
	assert_int_equal(fl_lat_bound_ns(9), 80000);
	assert_int_equal(fl_lat_bound_ns(10), 100000);
	assert_int_equal(fl_lat_bound_ns(40), 100000000);      /* 100 ms */
	assert_int_equal(fl_lat_bound_ns(70), 100000000000LL); /* 100 s */
	assert_true(fl_lat_bound_ns(FL_LAT_NBOUNDS) == INT64_MAX);
	for (int i = 1; i < FL_LAT_NBOUNDS; i++) assert_true(fl_lat_bound_ns(i) > fl_lat_bound_ns(i - 1));
	/* Prometheus bounds: 1, 2.5, 5 x 10^k. */
	int np = 0;
	for (int i = 0; i < FL_LAT_NBOUNDS; i++)
		if (fl_lat_prom_bound(i)) {
			int64_t b = fl_lat_bound_ns(i);
			while (b % 10 == 0 && b >= 100) b /= 10;
			assert_true(b == 10 || b == 25 || b == 50 || b == 1 || b == 5);
			np++;
		}
	assert_int_equal(np, 22);
}

static void test_bucket(void **st)
{
	(void)st;
	assert_int_equal(fl_lat_bucket(-5), 0);
	assert_int_equal(fl_lat_bucket(0), 0);
	assert_int_equal(fl_lat_bucket(10000), 0);
	assert_int_equal(fl_lat_bucket(10001), 1);
	assert_int_equal(fl_lat_bucket(12500), 1);
	assert_int_equal(fl_lat_bucket(12501), 2);
	assert_int_equal(fl_lat_bucket(1000000), 20); /* 1 ms is bound 20 */
	assert_int_equal(fl_lat_bound_ns(20), 1000000);
	assert_int_equal(fl_lat_bucket(100000000000LL), 70);
	assert_int_equal(fl_lat_bucket(100000000001LL), FL_LAT_NBOUNDS);
	assert_int_equal(fl_lat_bucket(INT64_MAX), FL_LAT_NBOUNDS);
	/* Every value lands in the bucket whose bounds hold it. */
	for (int64_t v = 1; v < 200000000000LL; v = v * 3 / 2 + 7) {
		int b = fl_lat_bucket(v);
		assert_true(v <= fl_lat_bound_ns(b));
		if (b > 0) assert_true(v > fl_lat_bound_ns(b - 1));
	}
}

static void test_quantiles(void **st)
{
	(void)st;
	fl_lat_hist h;
	fl_lat_init(&h);
	fl_lat_snap s;
	fl_lat_read(&h, &s);
	assert_int_equal(s.count, 0);
	assert_true(fl_lat_quantile_ms(s.b, 0.5) == 0);
	/* 1..1000 ms uniformly, 10 per ms. */
	for (int ms = 1; ms <= 1000; ms++)
		for (int k = 0; k < 10; k++) fl_lat_add(&h, (int64_t)ms * 1000000 - k * 1000);
	fl_lat_read(&h, &s);
	assert_int_equal(s.count, 10000);
	double p50 = fl_lat_quantile_ms(s.b, 0.50), p99 = fl_lat_quantile_ms(s.b, 0.99);
	double p0 = fl_lat_quantile_ms(s.b, 0.0), p100 = fl_lat_quantile_ms(s.b, 1.0);
	assert_true(p50 > 500 * 0.8 && p50 < 500 * 1.25);
	assert_true(p99 > 990 * 0.8 && p99 < 990 * 1.25);
	assert_true(p0 <= 1.0 && p100 >= 990 && p100 <= 1000);
	assert_true(fl_lat_quantile_ms(s.b, 0.95) <= p99 && p50 <= fl_lat_quantile_ms(s.b, 0.95));
	double mean = (double)s.sum_ns / (double)s.count / 1e6;
	assert_true(mean > 500 && mean < 501);
	/* One value: every quantile inside its bucket. */
	fl_lat_init(&h);
	fl_lat_add(&h, 3500000); /* 3.5 ms: bucket (3, 4] ms */
	fl_lat_read(&h, &s);
	for (double q = 0; q <= 1.0; q += 0.25) {
		double v = fl_lat_quantile_ms(s.b, q);
		assert_true(v >= 3.0 && v <= 4.0);
	}
	/* Over 100 s: the largest bound. */
	fl_lat_add(&h, 500000000000LL);
	fl_lat_add(&h, 500000000000LL);
	fl_lat_add(&h, 500000000000LL);
	fl_lat_read(&h, &s);
	assert_true(fl_lat_quantile_ms(s.b, 0.99) == 100000.0);
}

#define NTHREADS 4
#define NADDS 200000

static void *adder(void *arg)
{
	fl_lat_hist *h = arg;
	for (int i = 0; i < NADDS; i++) fl_lat_add(h, (int64_t)(i % 1000) * 1000000);
	return NULL;
}

static void test_concurrent(void **st)
{
	(void)st;
	fl_lat_hist *h = malloc(sizeof *h);
	fl_lat_init(h);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_create(&th[i], NULL, adder, h), 0);
	/* A reader meanwhile sees counts that only grow. */
	uint64_t last = 0;
	for (int k = 0; k < 1000; k++) {
		fl_lat_snap s;
		fl_lat_read(h, &s);
		assert_true(s.count >= last);
		last = s.count;
	}
	for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
	fl_lat_snap s;
	fl_lat_read(h, &s);
	assert_int_equal(s.count, (uint64_t)NTHREADS * NADDS);
	uint64_t want_sum = 0;
	for (int i = 0; i < NADDS; i++) want_sum += (uint64_t)(i % 1000) * 1000000;
	assert_true(s.sum_ns == want_sum * NTHREADS);
	free(h);
}

/* The marker on the exchange: behind the records written before it, on one
 * channel only, not a record. */
static void test_marker_on_exchange(void **st)
{
	(void)st;
	fl_notify cons, prod;
	fl_notify_init(&cons);
	fl_notify_init(&prod);
	fl_channel *ch[3];
	for (int i = 0; i < 3; i++) ch[i] = fl_channel_create(4, 4096, &cons, &prod);
	_Atomic int cancel = 0;
	fl_writer_params p = { .part = FL_PART_REBALANCE,
			       .type = &flinc_type_i64,
			       .raw = true,
			       .timeout_ns = 1000000000,
			       .self = &prod,
			       .cancel = &cancel };
	fl_writer *w = fl_writer_create(&p, ch, 3);
	for (int64_t r = 0; r < 6; r++) assert_true(fl_writer_record(w, &r, FLINC_TS_NONE));
	assert_true(fl_writer_latency(w, 123456789, 7, 1));
	assert_true(fl_writer_flush(w));
	assert_int_equal(fl_writer_records(w), 6);
	int markers = 0;
	for (int i = 0; i < 3; i++) {
		fl_xbuf *b = fl_channel_poll(ch[i]);
		assert_non_null(b);
		const uint8_t *q = b->data, *end = b->data + b->len;
		int nrec = 0;
		while (q < end) {
			if (*q == FL_EV_RECORD) {
				uint32_t len;
				memcpy(&len, q + 1, 4);
				q += 5 + len;
				nrec++;
			} else {
				assert_int_equal(*q, FL_EV_LATENCY);
				int64_t ns;
				uint32_t v, s;
				memcpy(&ns, q + 1, 8);
				memcpy(&v, q + 9, 4);
				memcpy(&s, q + 13, 4);
				assert_true(ns == 123456789);
				assert_int_equal(v, 7);
				assert_int_equal(s, 1);
				assert_int_equal(nrec, 2); /* behind this channel's records */
				q += 17;
				markers++;
			}
		}
		assert_int_equal(nrec, 2);
		fl_channel_release(ch[i], b);
	}
	assert_int_equal(markers, 1);
	fl_writer_destroy(w);
	for (int i = 0; i < 3; i++) fl_channel_destroy(ch[i]);
	fl_notify_fini(&cons);
	fl_notify_fini(&prod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_bucket),
		cmocka_unit_test(test_quantiles),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_marker_on_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
