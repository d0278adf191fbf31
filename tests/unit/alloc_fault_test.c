/*
 * alloc_fault_test.c - the state backends and checkpoint storage under an
 * allocator that fails.
 *
 * The allocation policy (base/fl_alloc.h, docs/architecture.md "Memory")
 * says state/ and checkpoint/ report a failed allocation as an error and
 * leave nothing half-built. Each scenario below is run once to count its
 * allocations, then again with the allocator failing at call n, for every
 * n (or a stride of them when there are many), once failing that call only
 * and once failing it and every later one. Every run must end with
 * FLINC_OK or a flinc error code (no crash, no abort), release what it
 * opened (the number of open file descriptors and the files left in its
 * folder are checked here; memory leaks by LeakSanitizer in the ASan
 * build), and at least some runs must see FLINC_ENOMEM, so the hook is
 * known to reach the code.
 *
 * _metadata is JSON written and parsed by jansson, whose allocations are
 * its own: failing them crashes jansson 2.14's parser itself, so they are
 * not failed here.
 */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_base.h"
#include "fl_checkpoint.h"
#include "fl_state.h"

static char g_root[PATH_MAX / 2];

/* Open file descriptors of this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d) return -1;
	while (readdir(d)) n++;
	closedir(d);
	return n;
}

/* Entries of a folder (0 when missing). */
static int dir_entries(const char *path)
{
	DIR *d = opendir(path);
	int n = 0;
	struct dirent *de;
	if (!d) return 0;
	while ((de = readdir(d))) n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

/* Stop at the first error; the scenario's result. */
#define TRY(expr)                        \
	do {                             \
		int rc_ = (expr);        \
		if (rc_ < 0) return rc_; \
	} while (0)

static int count_entry(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		       uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	(*(int *)ud)++;
	return 0;
}

static int count_uk(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	(*(int *)ud)++;
	return 0;
}

enum { KEYS = 64, MAXP = 16 };

static fl_skey skey(char *buf, int i)
{
	int n = snprintf(buf, 16, "key-%d", i);
	uint64_t h = fl_key_hash(FL_KEY_HASH_XXH3, buf, (size_t)n);
	return (fl_skey){ .kg = fl_key_group_of_hash(h, MAXP),
			  .klen = (uint32_t)n,
			  .key = (const uint8_t *)buf,
			  .khash = h };
}

/* The states of one instance, used as a task would, after open. */
static int use_backend(const fl_backend_ops *ops, void *be, const char *dir)
{
	uint32_t sv, sl, sm;
	TRY(ops->declare(be, "op/value", FL_STATE_VALUE, &sv));
	TRY(ops->declare(be, "op/list", FL_STATE_LIST, &sl));
	TRY(ops->declare(be, "op/map", FL_STATE_MAP, &sm));
	char kb[16], big[3000];
	memset(big, 'v', sizeof(big));
	for (int i = 0; i < KEYS; i++) {
		fl_skey k = skey(kb, i);
		TRY(ops->put(be, sv, &k, big, (size_t)(i * 37) % sizeof(big)));
		TRY(ops->list_append(be, sl, &k, "element", 7));
		TRY(ops->list_append(be, sl, &k, big, 500));
		char uk[16];
		int ukn = snprintf(uk, sizeof(uk), "uk-%d", i % 5);
		TRY(ops->map_put(be, sm, &k, uk, (size_t)ukn, big, 100));
	}
	void *snap = NULL;
	if (ops->snap_open) {
		char err[256];
		TRY(ops->snap_open(be, &snap, err, sizeof(err)));
	}
	for (int i = 0; i < KEYS; i += 3) { /* updates while a snapshot is open */
		fl_skey k = skey(kb, i);
		const void *v;
		size_t n;
		int rc = ops->get(be, sv, &k, &v, &n);
		if (rc < 0 && rc != FLINC_ENOENT) goto out_snap;
		if ((rc = ops->put(be, sv, &k, "new", 3)) || (rc = ops->remove(be, sm, &k))) goto out_snap;
		int nuk = 0;
		if ((rc = ops->map_iter(be, sm, &k, count_uk, &nuk)) < 0) goto out_snap;
	}
	if (snap) {
		int n = 0, rc = ops->snap_scan(snap, sv, 0, MAXP - 1, count_entry, &n);
		ops->snap_release(snap);
		snap = NULL;
		TRY(rc);
	}
	int n = 0;
	TRY(ops->scan(be, sl, 0, MAXP - 1, count_entry, &n));
	if (ops->native_checkpoint) {
		char path[PATH_MAX], err[256];
		snprintf(path, sizeof(path), "%s/native", dir);
		int rc = ops->native_checkpoint(be, path, err, sizeof(err));
		fl_rm_rf(path, NULL, 0);
		TRY(rc);
	}
	return FLINC_OK;
out_snap:
	if (snap) ops->snap_release(snap);
	return FLINC_ENOMEM;
}

/* Open, use and close one instance in a fresh folder. */
static int backend_scenario(const fl_backend_ops *ops)
{
	char dir[PATH_MAX - 64], err[256];
	snprintf(dir, sizeof(dir), "%s/be", g_root);
	fl_rm_rf(dir, NULL, 0);
	if (fl_mkdir_p(dir, NULL, 0)) return FLINC_EIO;
	void *be = calloc(1, ops->priv_size ? ops->priv_size : 1); /* the runtime's part: not failed */
	fl_backend_params p = { .kg_first = 0, .kg_last = MAXP - 1, .max_parallelism = MAXP, .dir = dir };
	int rc = ops->open(be, &p, err, sizeof(err));
	if (rc == FLINC_OK) {
		rc = use_backend(ops, be, dir);
		ops->close(be);
	}
	free(be);
	return rc;
}

static int count_snap(void *ud, const fl_snap_entry *e)
{
	(*(int *)ud)++;
	return 0;
}

/* Write a snapshot file with every section, read it back, write and read
 * a _metadata naming it. */
static int snapshot_scenario(void)
{
	char dir[PATH_MAX - 64], path[PATH_MAX], err[512];
	snprintf(dir, sizeof(dir), "%s/chk", g_root);
	fl_rm_rf(dir, NULL, 0);
	if (fl_mkdir_p(dir, NULL, 0)) return FLINC_EIO;
	snprintf(path, sizeof(path), "%s/0000000000000001-0.snap", dir);
	fl_snap_header h = { .checkpoint_id = 1,
			     .vertex_id = 1,
			     .subtask = 0,
			     .parallelism = 1,
			     .max_parallelism = MAXP,
			     .kg_first = 0,
			     .kg_last = MAXP - 1 };
	snprintf(h.job_id, sizeof(h.job_id), "job");
	fl_snap_writer *w;
	TRY(fl_snap_writer_open(&w, path, &h, err, sizeof(err)));
	char big[5000];
	memset(big, 'x', sizeof(big));
	int rc = 0;
	for (int kg = 0; kg < MAXP && !rc; kg++)
		for (int i = 0; i < 20 && !rc; i++) {
			char key[16], st[32];
			int kn = snprintf(key, sizeof(key), "k%d", i);
			snprintf(st, sizeof(st), "op/state-%d", i % 4);
			rc = fl_snap_add_keyed(w, st, FL_STATE_VALUE, (uint16_t)kg, key, (uint32_t)kn, NULL,
					       0, NULL, 0, big, (size_t)(i * 250));
		}
	for (int i = 0; i < 50 && !rc; i++)
		rc = fl_snap_add_timer(w, "op", i & 1, 1000 + i, (uint16_t)(i % MAXP), "k", 1, NULL, 0);
	if (!rc) rc = fl_snap_add_opstate(w, "src", big, sizeof(big));
	if (rc) {
		fl_snap_writer_abort(w);
		return rc;
	}
	fl_snap_info info;
	TRY(fl_snap_writer_close(w, &info, err, sizeof(err)));

	fl_snap_reader *r;
	TRY(fl_snap_reader_open(&r, path, FL_SNAP_VERIFY_SECTIONS, err, sizeof(err)));
	int seen = 0;
	rc = fl_snap_read_keyed(r, 2, 9, count_snap, &seen, err, sizeof(err));
	if (!rc) rc = fl_snap_read_timers(r, 0, MAXP - 1, "op", count_snap, &seen, err, sizeof(err));
	if (!rc) rc = fl_snap_read_opstates(r, "src", count_snap, &seen, err, sizeof(err));
	fl_snap_reader_close(r);
	TRY(rc);

	char fname[] = "0000000000000001-0.snap", op0[] = "op", op1[] = "src";
	fl_chk_file file = { .path = fname,
			     .vertex_id = 1,
			     .subtask = 0,
			     .parallelism = 1,
			     .kg_first = 0,
			     .kg_last = MAXP - 1,
			     .size = info.size,
			     .crc = info.crc };
	char *ops[] = { op0, op1 };
	fl_chk_meta m = { .job_id = "job",
			  .checkpoint_id = 1,
			  .max_parallelism = MAXP,
			  .backend = "hashmap",
			  .operators = ops,
			  .n_operators = 2,
			  .files = &file,
			  .n_files = 1 };
	TRY(fl_chk_meta_write(dir, &m, err, sizeof(err)));
	fl_chk_meta back;
	TRY(fl_chk_meta_read(dir, &back, err, sizeof(err)));
	fl_chk_meta_free(&back);
	return FLINC_OK;
}

typedef int (*scenario_fn)(void *arg);
static int run_memory(void *arg) { return backend_scenario(&fl_backend_memory); }
static int run_rocksdb(void *arg) { return backend_scenario(&fl_backend_rocksdb); }
static int run_snapshot(void *arg) { return snapshot_scenario(); }

/* Run fn with the allocator failing at each call (a stride of them past
 * `most` runs), sticky and not; check every outcome. */
static void fail_everywhere(scenario_fn fn, const char *what, long most)
{
	fl_alloc_fail_after(LONG_MAX, 0);
	int rc = fn(NULL);
	long total = fl_alloc_calls();
	fl_alloc_fail_after(-1, 0);
	assert_int_equal(rc, FLINC_OK);
	assert_true(total > 0);
	long stride = total > most ? (total + most - 1) / most : 1;
	int fds = open_fds(), enomem = 0, runs = 0;
	for (int sticky = 0; sticky <= 1; sticky++)
		for (long n = 0; n < total; n += stride) {
			fl_alloc_fail_after(n, sticky);
			rc = fn(NULL);
			fl_alloc_fail_after(-1, 0);
			runs++;
			if (rc < -15 || rc > 0)
				fail_msg("%s: failing call %ld%s gave %d, not a flinc error code", what, n,
					 sticky ? " onwards" : "", rc);
			enomem += rc == FLINC_ENOMEM;
			assert_int_equal(open_fds(), fds);
		}
	printf("# %s: %ld allocations; %d runs with failures, %d ended in FLINC_ENOMEM\n", what, total, runs,
	       enomem);
	assert_true(enomem > 0);
	/* And it still works once the allocator is back. */
	assert_int_equal(fn(NULL), FLINC_OK);
}

static void t_memory(void **s) { fail_everywhere(run_memory, "memory backend", 600); }
static void t_rocksdb(void **s)
{
	fail_everywhere(run_rocksdb, "rocksdb backend", 150);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/be", g_root);
	fl_rm_rf(dir, NULL, 0);
	assert_int_equal(dir_entries(g_root), 0);
}
static void t_snapshot(void **s)
{
	fail_everywhere(run_snapshot, "snapshot writer, reader and _metadata", 600);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/chk", g_root);
	/* A clean run leaves the file and _metadata, never a temporary. */
	assert_int_equal(dir_entries(dir), 2);
}

/* The hook itself: the n-th call fails, once or from then on. */
static void t_hook(void **s)
{
	fl_alloc_fail_after(2, 0);
	void *a = fl_try_malloc(8), *b = fl_try_malloc(8), *c = fl_try_malloc(8), *d = fl_try_malloc(8);
	assert_non_null(a), assert_non_null(b), assert_null(c), assert_non_null(d);
	free(a), free(b), free(d);
	fl_alloc_fail_after(1, 1);
	a = fl_try_strdup("x");
	assert_non_null(a);
	assert_null(fl_try_calloc(1, 1));
	assert_null(fl_try_strdup("y"));
	assert_int_equal(fl_alloc_calls(), 3);
	fl_alloc_fail_after(-1, 0);
	free(a);
	a = fl_try_malloc(0);
	assert_non_null(a);
	free(a);
}

static int setup(void **s)
{
	const char *t = getenv("TMPDIR");
	snprintf(g_root, sizeof(g_root), "%s/flinc-allocfault-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **s) { return fl_rm_rf(g_root, NULL, 0); }

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_hook),
		cmocka_unit_test(t_memory),
		cmocka_unit_test(t_rocksdb),
		cmocka_unit_test(t_snapshot),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
