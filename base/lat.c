/* lat.c - fl_lat_hist: fixed log-scale latency buckets. */
#include "fl_lat.h"

#include <string.h>

/* Per decade, in tenths of the decade's base (1, 1.25, ... 8). */
static const int64_t step_x100[10] = { 100, 125, 150, 200, 250, 300, 400, 500, 600, 800 };

int64_t fl_lat_bound_ns(int i)
{
	if (i < 0) return 0;
	if (i >= FL_LAT_NBOUNDS) return INT64_MAX;
	int64_t base = 10000; /* 10 us */
	for (int d = 0; d < i / 10; d++) base *= 10;
	return base * step_x100[i % 10] / 100;
}

bool fl_lat_prom_bound(int i)
{
	if (i < 0 || i >= FL_LAT_NBOUNDS) return false;
	int k = i % 10;
	return k == 0 || k == 4 || k == 7;
}

int fl_lat_bucket(int64_t ns)
{
	if (ns <= 10000) return 0;
	if (ns > fl_lat_bound_ns(FL_LAT_NBOUNDS - 1)) return FL_LAT_NBOUNDS;
	/* Smallest i with ns <= bound(i): bounds are increasing. */
	int lo = 1, hi = FL_LAT_NBOUNDS - 1;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (ns <= fl_lat_bound_ns(mid))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

void fl_lat_init(fl_lat_hist *h)
{
	for (int i = 0; i < FL_LAT_NBUCKETS; i++) atomic_init(&h->b[i], 0);
	atomic_init(&h->sum_ns, 0);
}

void fl_lat_add(fl_lat_hist *h, int64_t ns)
{
	if (ns < 0) ns = 0;
	atomic_fetch_add_explicit(&h->b[fl_lat_bucket(ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)ns, memory_order_relaxed);
}

void fl_lat_read(const fl_lat_hist *h, fl_lat_snap *s)
{
	s->count = 0;
	for (int i = 0; i < FL_LAT_NBUCKETS; i++) {
		s->b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		s->count += s->b[i];
	}
	s->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

double fl_lat_quantile_ms(const uint64_t *b, double q)
{
	uint64_t count = 0;
	for (int i = 0; i < FL_LAT_NBUCKETS; i++) count += b[i];
	if (!count) return 0;
	if (q < 0) q = 0;
	if (q > 1) q = 1;
	double rank = q * (double)count, cum = 0;
	for (int i = 0; i < FL_LAT_NBUCKETS; i++) {
		if (!b[i]) continue;
		if (cum + (double)b[i] >= rank) {
			if (i == FL_LAT_NBOUNDS) return (double)fl_lat_bound_ns(FL_LAT_NBOUNDS - 1) / 1e6;
			double lo = (double)fl_lat_bound_ns(i - 1), hi = (double)fl_lat_bound_ns(i);
			double f = ((rank - cum) / (double)b[i]);
			return (lo + (hi - lo) * f) / 1e6;
		}
		cum += (double)b[i];
	}
	return (double)fl_lat_bound_ns(FL_LAT_NBOUNDS - 1) / 1e6;
}
