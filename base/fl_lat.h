/*
 * fl_lat.h - latency histograms: fixed log-scale buckets of atomic
 * counters, plus sum and count (docs/metrics.md, "Latency").
 *
 * The buckets are fixed for every histogram of every process, so a task
 * manager sends its counts as they are and the job manager computes
 * quantiles and Prometheus buckets from them. Bucket i counts values in
 * (bound(i-1), bound(i)] (bucket 0: [0, bound(0)]); the last bucket counts
 * values over the largest bound. Bounds run from 10 us to 100 s, ten per
 * decade (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k ns), so a quantile
 * read from them is within a third of its value (closer with the linear
 * interpolation fl_lat_quantile_ms does).
 *
 * Threads: fl_lat_add from one or more threads (relaxed atomic adds, no
 * lock, no allocation); fl_lat_read from any thread at any time (the
 * snapshot is not one instant: counts added meanwhile may be half in).
 */
#ifndef FL_LAT_H
#define FL_LAT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FL_LAT_NBOUNDS 71                    /* 10 us .. 100 s */
#define FL_LAT_NBUCKETS (FL_LAT_NBOUNDS + 1) /* the last: over 100 s */

typedef struct fl_lat_hist {
	_Atomic uint64_t b[FL_LAT_NBUCKETS];
	_Atomic uint64_t sum_ns;
} fl_lat_hist;

/* A plain copy, for reading and sending. count is the sum of b. */
typedef struct fl_lat_snap {
	uint64_t b[FL_LAT_NBUCKETS];
	uint64_t sum_ns, count;
} fl_lat_snap;

void fl_lat_init(fl_lat_hist *h);
/* Fold one latency (ns; negative, from clocks apart, counts as 0). */
void fl_lat_add(fl_lat_hist *h, int64_t ns);
void fl_lat_read(const fl_lat_hist *h, fl_lat_snap *s);

/* The bucket of a value, and the upper bound of bucket i in ns
 * (INT64_MAX for the last). */
int fl_lat_bucket(int64_t ns);
int64_t fl_lat_bound_ns(int i);
/* Whether bound i is one of the Prometheus buckets (1, 2.5, 5 x 10^k). */
bool fl_lat_prom_bound(int i);

/* The q-quantile (0..1) of counts b[FL_LAT_NBUCKETS] in ms, linearly
 * interpolated inside its bucket; 0 when there is no count. */
double fl_lat_quantile_ms(const uint64_t *b, double q);

#endif
