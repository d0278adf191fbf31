/*
 * incremental_bench.c - incremental checkpoints of the RocksDB backend:
 * what a checkpoint costs when 1% of a large state changed since the last.
 *
 * Usage: incremental_bench [--mb MB (default 1024)] [--checkpoints N (default 5)]
 *                          [--dir PARENT] [--storage PARENT] [-D key=value]...
 * Builds about MB megabytes of RocksDB state (8-byte keys over 128 key
 * groups, 100-byte incompressible values) in a fresh folder under --dir
 * (default $TMPDIR or /tmp), then takes N checkpoints into a job folder
 * under --storage (default: the same parent; another file system makes the
 * upload copy instead of link), changing 1% of the keys (random ones, new
 * values) before each but the first. Per checkpoint it prints the native
 * checkpoint's duration (memtable flush + RocksDB checkpoint, on the task
 * thread), the upload's (off the task thread), bytes put into shared/ (and
 * how many of them had to be copied), bytes reused, the total, and the
 * time of retention (keep 2) + shared-file gc. Then it restores the last
 * checkpoint (materialize + native_restore) and prints those durations.
 * -D sets a configuration key for the backend (e.g.
 * state.backend.rocksdb.write-buffer-size=16mb). Everything is removed at
 * the end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_checkpoint.h"
#include "fl_state.h"
#include "incremental.h"
#include "fl_base.h" /* fl_conf */

#define VLEN 100
#define OWNER "00000000000000be-0"
#define REL OWNER ".native"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33, x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

/* Entry i's value in version v: 100 bytes that do not compress. */
static void value_of(uint64_t i, uint64_t v, uint8_t *out)
{
	uint64_t s = mix(i * 0x9e3779b97f4a7c15ull + v);
	for (int j = 0; j < VLEN; j += 8) {
		s = mix(s + (uint64_t)j);
		memcpy(out + j, &s, (size_t)(VLEN - j < 8 ? VLEN - j : 8));
	}
}

static int put(const fl_backend_ops *ops, void *be, uint32_t sid, uint64_t i, uint64_t ver)
{
	uint8_t key[8], val[VLEN];
	for (int b = 0; b < 8; b++) key[b] = (uint8_t)(i >> (56 - 8 * b));
	uint64_t h = fl_key_hash(FL_KEY_HASH_XXH3, key, 8);
	fl_skey k = { .kg = (uint16_t)(h % 128), .klen = 8, .key = key, .khash = h };
	value_of(i, ver, val);
	return ops->put(be, sid, &k, val, VLEN);
}

static void logger(void *ud, const char *line) { (void)ud, (void)line; /* gc's lines: too many to print */ }

static int die(const char *what, const char *err)
{
	fprintf(stderr, "%s: %s\n", what, err);
	return 1;
}

int main(int argc, char **argv)
{
	const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", *storage = NULL;
	uint64_t mb = 1024;
	int nchk = 5;
	fl_conf *conf = fl_conf_create();
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mb") && i + 1 < argc)
			mb = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--checkpoints") && i + 1 < argc)
			nchk = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			parent = argv[++i];
		else if (!strcmp(argv[i], "--storage") && i + 1 < argc)
			storage = argv[++i];
		else if (!strcmp(argv[i], "-D") && i + 1 < argc && fl_conf_set_kv(conf, argv[i + 1]) == 0)
			i++;
		else {
			fprintf(stderr,
				"usage: %s [--mb MB] [--checkpoints N] [--dir PARENT] [--storage PARENT] "
				"[-D key=value]...\n",
				argv[0]);
			return 2;
		}
	}
	if (!mb || nchk < 1) {
		fprintf(stderr, "--mb and --checkpoints must be at least 1\n");
		return 2;
	}
	if (!storage) storage = parent;
	char root[4096], jobdir[4096], work[4200], native[4200], chk[4200], local[4200], err[1024];
	snprintf(root, sizeof(root), "%s/flinc-incr-bench-XXXXXX", parent);
	snprintf(jobdir, sizeof(jobdir), "%s/flinc-incr-bench-job-XXXXXX", storage);
	if (!mkdtemp(root) || !mkdtemp(jobdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(work, sizeof(work), "%s/work", root);
	mkdir(work, 0755);

	/* raw bytes per entry: the value, the 8-byte key, ~20 of RocksDB's own */
	uint64_t n = mb * 1048576 / (VLEN + 28);
	const fl_backend_ops *ops = &fl_backend_rocksdb;
	void *be = calloc(1, ops->priv_size);
	fl_backend_params p = {
		.kg_first = 0, .kg_last = 127, .max_parallelism = 128, .dir = work, .conf = conf
	};
	uint32_t sid;
	if (ops->open(be, &p, err, sizeof(err))) return die("open", err);
	if (ops->declare(be, "bench/v", FL_STATE_VALUE, &sid)) return die("declare", "failed");
	printf("state: %llu entries of %d-byte values (~%llu MB), 128 key groups; checkpoint storage %s\n",
	       (unsigned long long)n, VLEN, (unsigned long long)mb, jobdir);
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i++)
		if (put(ops, be, sid, i, 0)) return die("put", "failed");
	printf("load: %.2f s (%.0f entries/s)\n\n", now_s() - t0, (double)n / (now_s() - t0));

	printf("%4s %11s %10s %11s %11s %11s %11s %12s %9s\n", "chk", "native(ms)", "upload(ms)", "new MB",
	       "copied MB", "reused MB", "total MB", "files n/r", "gc(ms)");
	fl_incr_registry *reg = fl_incr_registry_create();
	uint64_t rng = 0x2545f4914f6cdd1dull, ver = 0;
	for (int c = 1; c <= nchk; c++) {
		if (c > 1) { /* change 1% of the keys */
			ver++;
			for (uint64_t j = 0; j < n / 100; j++) {
				rng = mix(rng + j);
				if (put(ops, be, sid, rng % n, ver)) return die("put", "failed");
			}
		}
		snprintf(native, sizeof(native), "%s/native-%d", root, c);
		fl_chk_dir(chk, sizeof(chk), jobdir, c);
		double a = now_s();
		if (ops->native_checkpoint(be, native, err, sizeof(err)))
			return die("native_checkpoint", err);
		double b = now_s();
		fl_incr_result res;
		if (fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)))
			return die("upload", err);
		double u = now_s();
		fl_chk_meta m = { .checkpoint_id = c,
				  .max_parallelism = 128,
				  .shared = res.shared,
				  .n_shared = res.n_shared };
		snprintf(m.job_id, sizeof(m.job_id), "incr-bench");
		snprintf(m.backend, sizeof(m.backend), "rocksdb");
		if (fl_chk_meta_write(chk, &m, err, sizeof(err))) return die("metadata", err);
		fl_rm_rf(native, NULL, 0);
		double g = now_s();
		if (fl_chk_retain(jobdir, 2, logger, NULL, err, sizeof(err)) ||
		    fl_incr_gc(jobdir, logger, NULL, err, sizeof(err)))
			return die("retention/gc", err);
		double ge = now_s();
		char files[32];
		snprintf(files, sizeof(files), "%zu/%zu", res.files_new, res.files_reused);
		printf("%4d %11.1f %10.1f %11.1f %11.1f %11.1f %11.1f %12s %9.1f\n", c, (b - a) * 1e3,
		       (u - b) * 1e3, res.bytes_new / 1048576.0, res.bytes_copied / 1048576.0,
		       res.bytes_reused / 1048576.0,
		       (res.bytes_new + res.bytes_reused + res.bytes_private) / 1048576.0, files,
		       (ge - g) * 1e3);
		fl_incr_result_free(&res);
	}
	ops->close(be);
	free(be);

	/* restore the last checkpoint */
	snprintf(local, sizeof(local), "%s/local", root);
	fl_chk_dir(chk, sizeof(chk), jobdir, nchk);
	double a = now_s();
	if (fl_incr_materialize(reg, jobdir, chk, REL, local, err, sizeof(err)))
		return die("materialize", err);
	double b = now_s();
	be = calloc(1, ops->priv_size);
	if (ops->open(be, &p, err, sizeof(err)) || ops->native_restore(be, local, err, sizeof(err)))
		return die("restore", err);
	double r = now_s();
	printf("\nrestore chk-%d: materialize %.1f ms, native_restore %.1f ms\n", nchk, (b - a) * 1e3,
	       (r - b) * 1e3);
	ops->close(be);
	free(be);
	fl_incr_registry_destroy(reg);
	fl_rm_rf(jobdir, NULL, 0);
	fl_rm_rf(root, NULL, 0);
	fl_conf_destroy(conf);
	return 0;
}
