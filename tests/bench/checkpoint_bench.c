/*
 * checkpoint_bench.c - throughput of the snapshot file writer and reader.
 *
 * Usage: checkpoint_bench [--dir PARENT] [entries (default 1000000)] [value bytes (default 64)]
 * Writes one snapshot file of `entries` keyed entries (8-byte keys, 16-byte
 * namespaces, values of the given size, 128 key groups; fsync included),
 * then reads it back: whole-file check + every entry, section checks +
 * every entry, and a rescale read of a quarter of the key groups. Prints
 * MB/s of file bytes and entries/s for each phase.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_checkpoint.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int count_fn(void *ud, const fl_snap_entry *e)
{
	uint64_t *n = ud;
	*n += e->vlen ? e->val[0] != 0xff : 1; /* touch the value */
	return 0;
}

static void report(const char *phase, double secs, uint64_t bytes, uint64_t n)
{
	printf("%-28s %8.1f MB/s %12.0f entries/s  (%.3f s)\n", phase, (double)bytes / secs / 1e6,
	       (double)n / secs, secs);
}

int main(int argc, char **argv)
{
	const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int ai = 1;
	if (ai + 1 < argc && !strcmp(argv[ai], "--dir")) parent = argv[ai + 1], ai += 2;
	uint64_t n = ai < argc ? strtoull(argv[ai++], NULL, 10) : 1000000;
	size_t vlen = ai < argc ? strtoul(argv[ai++], NULL, 10) : 64;
	char dir[4096], path[4200], err[512];
	snprintf(dir, sizeof(dir), "%s/flinc-chk-bench-XXXXXX", parent);
	if (!mkdtemp(dir)) {
		perror(dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench.snap", dir);
	fl_snap_header h = { .checkpoint_id = 1,
			     .vertex_id = 1,
			     .subtask = 0,
			     .parallelism = 1,
			     .max_parallelism = 128,
			     .kg_first = 0,
			     .kg_last = 127 };
	strcpy(h.job_id, "bench");
	uint8_t *val = malloc(vlen ? vlen : 1);
	for (size_t i = 0; i < vlen; i++) val[i] = (uint8_t)i;

	double t0 = now_s();
	fl_snap_writer *w;
	if (fl_snap_writer_open(&w, path, &h, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (uint64_t i = 0; i < n; i++) {
		uint64_t key = i * 0x9e3779b97f4a7c15ull, ns[2] = { i / 1000, i / 1000 + 10 };
		if (fl_snap_add_keyed(w, "q5/counts", FL_STATE_VALUE, (uint16_t)(i * 128 / n), &key, 8, ns,
				      16, NULL, 0, val, vlen))
			break;
	}
	fl_snap_info info;
	if (fl_snap_writer_close(w, &info, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	double t1 = now_s();
	printf("%llu entries, %zu-byte values, file %.1f MB\n", (unsigned long long)n, vlen,
	       (double)info.size / 1e6);
	report("write (incl. fsync)", t1 - t0, info.size, n);

	for (int mode = 0; mode < 2; mode++) {
		t0 = now_s();
		fl_snap_reader *r;
		uint64_t got = 0;
		if (fl_snap_reader_open(&r, path, (fl_snap_verify)mode, err, sizeof(err)) ||
		    fl_snap_read_keyed(r, 0, 127, count_fn, &got, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		fl_snap_reader_close(r);
		t1 = now_s();
		report(mode == 0 ? "read, whole-file check" : "read, section checks", t1 - t0, info.size,
		       got);
	}
	t0 = now_s();
	fl_snap_reader *r;
	uint64_t got = 0;
	if (fl_snap_reader_open(&r, path, FL_SNAP_VERIFY_SECTIONS, err, sizeof(err)) ||
	    fl_snap_read_keyed(r, 32, 63, count_fn, &got, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	fl_snap_reader_close(r);
	t1 = now_s();
	report("rescale read of 1/4 kgs", t1 - t0, info.size / 4, got);
	unlink(path);
	rmdir(dir);
	free(val);
	return 0;
}
