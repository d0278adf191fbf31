/*
 * incremental_test.c - incremental checkpoints of the RocksDB backend
 * (checkpoint/incremental.c): upload of native checkpoints into shared/ and
 * a private folder, restore through materialize, garbage collection of
 * shared/, and fl_chk_validate noticing a missing shared file.
 *
 * The main test runs against the real RocksDB backend: 20000 entries, a
 * first checkpoint, 1% of the keys changed, a second checkpoint that must
 * reuse the first one's SST files, a restore that checks every value, gc
 * after the first checkpoint is removed, and a lost shared file. The others
 * use hand-made native folders (upload does not read the files) for the
 * error paths, name clashes in shared/ and copies across file systems.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_checkpoint.h"
#include "fl_state.h"
#include "incremental.h"

#define JOB_ID "incr-test-job"
#define OWNER "00000000000000ab-0"
#define REL OWNER ".native"

/* ---- harness ------------------------------------------------------------ */

static void tmpdir(char *buf, size_t cap, const char *parent)
{
	snprintf(buf, cap, "%s/flinc-incr-test-XXXXXX", parent);
	assert_non_null(mkdtemp(buf));
}

static void rmtree(const char *d)
{
	char err[512];
	if (fl_rm_rf(d, err, sizeof(err))) print_error("rmtree: %s\n", err);
}

static bool exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

static void spit(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	return b;
}

/* Lines logged by gc. */
typedef struct logbuf {
	int n;
	char text[16384];
} logbuf;

static void log_fn(void *ud, const char *line)
{
	logbuf *l = ud;
	l->n++;
	size_t len = strlen(l->text);
	snprintf(l->text + len, sizeof(l->text) - len, "%s\n", line);
}

/* Write <chkdir>/_metadata of a completed checkpoint using `shared`. */
static void write_meta(const char *chkdir, int64_t id, char **shared, size_t n_shared)
{
	fl_chk_meta m = {
		.checkpoint_id = id, .max_parallelism = 128, .shared = shared, .n_shared = n_shared
	};
	snprintf(m.job_id, sizeof(m.job_id), JOB_ID);
	snprintf(m.backend, sizeof(m.backend), "rocksdb");
	char err[512] = "";
	if (fl_chk_meta_write(chkdir, &m, err, sizeof(err))) fail_msg("meta write: %s", err);
}

static bool has_path(const fl_incr_result *r, const char *p)
{
	for (size_t i = 0; i < r->n_shared; i++)
		if (!strcmp(r->shared[i], p)) return true;
	return false;
}

/* ---- a RocksDB instance and its data ---------------------------------------- */

typedef struct rdb {
	void *be;
	char dir[600];
	uint32_t sid;
} rdb;

static const fl_backend_ops *R = &fl_backend_rocksdb;

/* Open a RocksDB instance owning key groups 0..127 of 128 in <root>/<name>. */
static rdb *rdb_open(const char *root, const char *name)
{
	rdb *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->be = calloc(1, R->priv_size);
	assert_non_null(r->be);
	snprintf(r->dir, sizeof(r->dir), "%s/%s", root, name);
	assert_int_equal(mkdir(r->dir, 0755), 0);
	fl_backend_params p = { .kg_first = 0, .kg_last = 127, .max_parallelism = 128, .dir = r->dir };
	char err[512] = "";
	if (R->open(r->be, &p, err, sizeof(err))) fail_msg("open rocksdb: %s", err);
	return r;
}

static void rdb_declare(rdb *r)
{
	assert_int_equal(R->declare(r->be, "op/v", FL_STATE_VALUE, &r->sid), FLINC_OK);
}

static void rdb_close(rdb *r)
{
	R->close(r->be);
	rmtree(r->dir);
	free(r->be);
	free(r);
}

enum { N_KEYS = 20000, VLEN = 100 };

/* Entry i: key "key-<i>", key group from the key's hash, a 100-byte value
 * that depends on i and the entry's version. */
static fl_skey key_of(int i, char *kb)
{
	int n = snprintf(kb, 32, "key-%06d", i);
	uint64_t h = fl_key_hash(FL_KEY_HASH_XXH3, kb, (size_t)n);
	return (fl_skey){
		.kg = (uint16_t)(h % 128), .klen = (uint32_t)n, .key = (const uint8_t *)kb, .khash = h
	};
}

static void value_of(int i, int version, char *v)
{
	int n = snprintf(v, VLEN, "v%d-%06d-", version, i);
	for (int j = n; j < VLEN; j++) v[j] = (char)('a' + (i * 7 + j * 13 + version) % 26);
}

/* Version of entry i after `changes` rounds of changing 1% of the keys. */
static int version_at(int i, int changes) { return changes >= 1 && i % 100 == 7 ? 2 : 1; }

static void put_all(rdb *r, int changes, bool only_changed)
{
	char kb[32], v[VLEN];
	for (int i = 0; i < N_KEYS; i++) {
		int ver = version_at(i, changes);
		if (only_changed && ver == 1) continue;
		fl_skey k = key_of(i, kb);
		value_of(i, ver, v);
		assert_int_equal(R->put(r->be, r->sid, &k, v, VLEN), FLINC_OK);
	}
}

static void check_all(rdb *r, int changes)
{
	char kb[32], v[VLEN];
	assert_int_equal(R->count(r->be, r->sid), N_KEYS);
	for (int i = 0; i < N_KEYS; i++) {
		fl_skey k = key_of(i, kb);
		const void *got;
		size_t len;
		assert_int_equal(R->get(r->be, r->sid, &k, &got, &len), FLINC_OK);
		assert_int_equal(len, VLEN);
		value_of(i, version_at(i, changes), v);
		if (memcmp(got, v, VLEN))
			fail_msg("entry %d: wrong value '%.20s...', expected '%.20s...'", i,
				 (const char *)got, v);
	}
}

/* native_checkpoint of r into <root>/<name>, uploaded as chk-<id>/REL. */
static void checkpoint(rdb *r, fl_incr_registry *reg, const char *root, const char *jobdir, int64_t id,
		       const char *name, fl_incr_result *res)
{
	char native[700], chk[700], err[512] = "";
	snprintf(native, sizeof(native), "%s/%s", root, name);
	assert_int_equal(R->native_checkpoint(r->be, native, err, sizeof(err)), FLINC_OK);
	fl_chk_dir(chk, sizeof(chk), jobdir, id);
	if (fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, res, err, sizeof(err)))
		fail_msg("upload chk-%lld: %s", (long long)id, err);
	rmtree(native);
}

/* Materialize chk-<id>/REL into <root>/<name> and restore it into a new
 * instance (the folder is removed after). */
static rdb *restore(fl_incr_registry *reg, const char *root, const char *jobdir, int64_t id, const char *name)
{
	char local[700], chk[700], err[512] = "";
	snprintf(local, sizeof(local), "%s/%s", root, name);
	fl_chk_dir(chk, sizeof(chk), jobdir, id);
	if (fl_incr_materialize(reg, jobdir, chk, REL, local, err, sizeof(err)))
		fail_msg("materialize chk-%lld: %s", (long long)id, err);
	char wname[64];
	snprintf(wname, sizeof(wname), "%s-work", name);
	rdb *r = rdb_open(root, wname);
	if (R->native_restore(r->be, local, err, sizeof(err))) fail_msg("native_restore: %s", err);
	rmtree(local);
	rdb_declare(r);
	return r;
}

/* ---- the RocksDB round trip ---------------------------------------------------- */

static void test_rocksdb_incremental(void **state)
{
	(void)state;
	char root[256], jobdir[300], chk1[400], chk2[400], path[1200], err[1024];
	tmpdir(root, sizeof(root), "/tmp");
	snprintf(jobdir, sizeof(jobdir), "%s/job", root);
	assert_int_equal(fl_mkdir_p(jobdir, err, sizeof(err)), 0);
	fl_chk_dir(chk1, sizeof(chk1), jobdir, 1);
	fl_chk_dir(chk2, sizeof(chk2), jobdir, 2);

	rdb *a = rdb_open(root, "a");
	rdb_declare(a);
	put_all(a, 0, false);
	fl_incr_registry *reg = fl_incr_registry_create();
	assert_non_null(reg);
	assert_int_equal(strlen(fl_incr_registry_token(reg)), FL_INCR_TOKEN_LEN);
	assert_int_equal(fl_incr_registry_count(reg), 0);

	/* checkpoint 1: everything is new */
	fl_incr_result r1, r2;
	checkpoint(a, reg, root, jobdir, 1, "native-1", &r1);
	assert_true(r1.files_new >= 1);
	assert_int_equal(r1.files_reused, 0);
	assert_int_equal(r1.bytes_reused, 0);
	assert_int_equal(r1.n_shared, r1.files_new);
	assert_true(r1.bytes_new > (uint64_t)N_KEYS * VLEN / 4);    /* compressed, but not to nothing */
	assert_true(r1.bytes_private > 0 && r1.files_private >= 3); /* CURRENT, MANIFEST, OPTIONS, SHARED */
	assert_int_equal(fl_incr_registry_count(reg), r1.n_shared);
	for (size_t i = 0; i < r1.n_shared; i++) {
		char want[200];
		snprintf(want, sizeof(want), "shared/" OWNER "/%s-", fl_incr_registry_token(reg));
		assert_int_equal(strncmp(r1.shared[i], want, strlen(want)), 0);
		snprintf(path, sizeof(path), "%s/%s", jobdir, r1.shared[i]);
		assert_true(exists(path));
	}
	/* private files: everything but the SST files, and the list */
	snprintf(path, sizeof(path), "%s/" REL "/CURRENT", chk1);
	assert_true(exists(path));
	snprintf(path, sizeof(path), "%s/" REL "/" FL_INCR_SHARED_LIST, chk1);
	char *list = slurp(path);
	assert_non_null(strstr(list, r1.shared[0]));
	assert_non_null(strstr(list, ".sst "));
	free(list);
	write_meta(chk1, 1, r1.shared, r1.n_shared);
	assert_int_equal(fl_chk_validate(chk1, FL_CHK_CHECK_FILES, err, sizeof(err)), 0);

	/* checkpoint 2 after changing 1% of the keys: the old SSTs are reused */
	put_all(a, 1, true);
	checkpoint(a, reg, root, jobdir, 2, "native-2", &r2);
	uint64_t total2 = r2.bytes_new + r2.bytes_reused;
	print_message(
		"chk-1: %zu new files, %llu bytes; chk-2: %zu new (%llu bytes), %zu reused (%llu bytes)\n",
		r1.files_new, (unsigned long long)r1.bytes_new, r2.files_new,
		(unsigned long long)r2.bytes_new, r2.files_reused, (unsigned long long)r2.bytes_reused);
	assert_true(r2.files_reused > 0);
	assert_true(r2.files_new > 0);
	assert_true(r2.bytes_reused >= r1.bytes_new / 2);
	assert_true(r2.bytes_new * 10 < total2); /* much less than the total */
	assert_int_equal(r2.n_shared, r2.files_new + r2.files_reused);
	size_t common = 0;
	for (size_t i = 0; i < r2.n_shared; i++) common += has_path(&r1, r2.shared[i]);
	assert_int_equal(common, r2.files_reused);
	write_meta(chk2, 2, r2.shared, r2.n_shared);
	assert_int_equal(fl_chk_validate(chk2, FL_CHK_CHECK_FILES, err, sizeof(err)), 0);

	/* nothing changed since: everything is reused, nothing new */
	fl_incr_result r3;
	checkpoint(a, reg, root, jobdir, 3, "native-3", &r3);
	assert_int_equal(r3.files_new, 0);
	assert_int_equal(r3.bytes_new, 0);
	assert_int_equal(r3.files_reused, r2.n_shared);
	fl_incr_result_free(&r3);
	fl_chk_dir(path, sizeof(path), jobdir, 3);
	rmtree(path); /* an aborted checkpoint: no _metadata */
	rdb_close(a);

	/* restore checkpoint 2 into a new instance: every value, the changed
	 * ones too; the seeded registry makes the next upload reuse it all */
	fl_incr_registry *reg2 = fl_incr_registry_create();
	assert_non_null(reg2);
	char tok_before[FL_INCR_TOKEN_LEN + 1];
	snprintf(tok_before, sizeof(tok_before), "%s", fl_incr_registry_token(reg2));
	rdb *b = restore(reg2, root, jobdir, 2, "local-2");
	check_all(b, 1);
	assert_int_equal(fl_incr_registry_count(reg2), r2.n_shared);
	assert_string_not_equal(fl_incr_registry_token(reg2), tok_before);
	fl_incr_result r9;
	checkpoint(b, reg2, root, jobdir, 9, "native-9", &r9);
	assert_int_equal(r9.files_new, 0);
	assert_int_equal(r9.files_reused, r2.n_shared);
	for (size_t i = 0; i < r2.n_shared; i++) assert_true(has_path(&r9, r2.shared[i]));
	fl_incr_result_free(&r9);
	fl_chk_dir(path, sizeof(path), jobdir, 9);
	rmtree(path);

	/* gc after checkpoint 1 is removed: only the files that checkpoint 2
	 * does not use go, plus strays; empty owner folders go too */
	snprintf(path, sizeof(path), "%s/shared/ffffffffffffffff-3", jobdir);
	assert_int_equal(fl_mkdir_p(path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/shared/ffffffffffffffff-3/stray.sst", jobdir);
	spit(path, "x", 1);
	snprintf(path, sizeof(path), "%s/shared/empty-owner", jobdir);
	assert_int_equal(mkdir(path, 0755), 0);
	fl_chk_dir(path, sizeof(path), jobdir, 4); /* incomplete: protects nothing */
	assert_int_equal(mkdir(path, 0755), 0);
	logbuf lb = { 0 };
	/* while checkpoint 1 is there, gc removes only the strays */
	assert_int_equal(fl_incr_gc(jobdir, log_fn, &lb, err, sizeof(err)), 0);
	assert_non_null(strstr(lb.text, "stray.sst"));
	assert_non_null(strstr(lb.text, "empty-owner"));
	for (size_t i = 0; i < r1.n_shared; i++) {
		snprintf(path, sizeof(path), "%s/%s", jobdir, r1.shared[i]);
		assert_true(exists(path));
	}
	snprintf(path, sizeof(path), "%s/shared/ffffffffffffffff-3", jobdir);
	assert_false(exists(path));
	assert_int_equal(fl_chk_retain(jobdir, 1, NULL, NULL, err, sizeof(err)), 0); /* removes chk-1 */
	assert_false(exists(chk1));
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(fl_incr_gc(jobdir, log_fn, &lb, err, sizeof(err)), 0);
	size_t gone = 0;
	for (size_t i = 0; i < r1.n_shared; i++) {
		snprintf(path, sizeof(path), "%s/%s", jobdir, r1.shared[i]);
		bool used = has_path(&r2, r1.shared[i]);
		assert_int_equal(exists(path), used);
		if (!used) {
			gone++;
			assert_non_null(strstr(lb.text, r1.shared[i]));
		}
	}
	assert_int_equal(lb.n, (int)gone + 1); /* one line per file and a summary */
	for (size_t i = 0; i < r2.n_shared; i++) {
		snprintf(path, sizeof(path), "%s/%s", jobdir, r2.shared[i]);
		assert_true(exists(path));
	}
	/* gc again: nothing left to do */
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(fl_incr_gc(jobdir, log_fn, &lb, err, sizeof(err)), 0);
	assert_int_equal(lb.n, 1);
	/* checkpoint 2 is still whole */
	assert_int_equal(fl_chk_validate(chk2, FL_CHK_CHECK_FILES, err, sizeof(err)), 0);
	rdb *c = restore(NULL, root, jobdir, 2, "local-2b");
	check_all(c, 1);
	rdb_close(c);

	/* a lost shared file: materialize names it, validate fails, and the
	 * registry that knew it puts it there again instead of reusing it */
	const char *lost = NULL;
	for (size_t i = 0; i < r2.n_shared && !lost; i++)
		if (!has_path(&r1, r2.shared[i])) lost = r2.shared[i]; /* the one new in checkpoint 2 */
	assert_non_null(lost);
	char lostpath[1200], local[700];
	snprintf(lostpath, sizeof(lostpath), "%s/%s", jobdir, lost);
	char *saved = slurp(lostpath);
	struct stat st;
	assert_int_equal(stat(lostpath, &st), 0);
	assert_int_equal(unlink(lostpath), 0);
	snprintf(local, sizeof(local), "%s/local-lost", root);
	err[0] = 0;
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk2, REL, local, err, sizeof(err)), FLINC_ENOENT);
	assert_non_null(strstr(err, lost));
	assert_null(strchr(err, '\n'));
	assert_false(exists(local)); /* nothing half-built */
	err[0] = 0;
	assert_int_not_equal(fl_chk_validate(chk2, FL_CHK_CHECK_FILES, err, sizeof(err)), 0);
	assert_non_null(strstr(err, lost));
	assert_int_equal(fl_chk_validate(chk2, FL_CHK_CHECK_META, err, sizeof(err)), 0);
	/* the fallback skips it */
	int64_t latest = -1;
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(
		fl_chk_latest(jobdir, INT64_MAX, FL_CHK_CHECK_FILES, &latest, log_fn, &lb, err, sizeof(err)),
		FLINC_ENOENT);
	assert_non_null(strstr(lb.text, lost));
	/* the wrong size is caught as well */
	spit(lostpath, saved, (size_t)st.st_size / 2);
	err[0] = 0;
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk2, REL, local, err, sizeof(err)), FLINC_ECODEC);
	assert_non_null(strstr(err, lost));
	assert_false(exists(local));
	assert_int_equal(unlink(lostpath), 0);
	free(saved);

	/* b's registry still lists the lost file as uploaded: the next upload
	 * checks and puts it into shared/ again (under b's registry's token) */
	fl_incr_result r5;
	checkpoint(b, reg2, root, jobdir, 5, "native-5", &r5);
	assert_int_equal(r5.files_new, 1);
	assert_int_equal(r5.bytes_new, (uint64_t)st.st_size);
	assert_int_equal(r5.files_reused, r2.n_shared - 1);
	assert_false(has_path(&r5, lost));
	assert_false(exists(lostpath));
	fl_chk_dir(path, sizeof(path), jobdir, 5);
	write_meta(path, 5, r5.shared, r5.n_shared);
	assert_int_equal(
		fl_chk_latest(jobdir, INT64_MAX, FL_CHK_CHECK_FILES, &latest, NULL, NULL, err, sizeof(err)),
		0);
	assert_int_equal(latest, 5);
	rdb_close(b);
	rdb *e = restore(NULL, root, jobdir, 5, "local-5");
	check_all(e, 1);
	rdb_close(e);

	fl_incr_result_free(&r1);
	fl_incr_result_free(&r2);
	fl_incr_result_free(&r5);
	fl_incr_registry_destroy(reg);
	fl_incr_registry_destroy(reg2);
	fl_incr_registry_destroy(NULL);
	rmtree(root);
}

/* ---- hand-made native folders ------------------------------------------------- */

/* Make folder dir holding files "name=content" (NULL-terminated list). */
static void make_native(const char *dir, ...)
{
	assert_int_equal(mkdir(dir, 0755), 0);
	va_list ap;
	va_start(ap, dir);
	for (const char *f; (f = va_arg(ap, const char *));) {
		const char *eq = strchr(f, '=');
		assert_non_null(eq);
		char path[1024];
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(eq - f), f);
		spit(path, eq + 1, strlen(eq + 1));
	}
	va_end(ap);
}

static void expect_file(const char *path, const char *content)
{
	char *got = slurp(path);
	assert_string_equal(got, content);
	free(got);
}

/* Arguments and folders that upload and materialize refuse, leaving
 * nothing behind. */
static void test_errors(void **state)
{
	(void)state;
	char root[256], jobdir[300], chk[400], native[400], path[1200], err[1024];
	tmpdir(root, sizeof(root), "/tmp");
	snprintf(jobdir, sizeof(jobdir), "%s/job", root);
	fl_chk_dir(chk, sizeof(chk), jobdir, 1);
	snprintf(native, sizeof(native), "%s/native", root);
	make_native(native, "000010.sst=sst-ten", "CURRENT=MANIFEST-000005\n", "MANIFEST-000005=manifest",
		    NULL);
	fl_incr_registry *reg = fl_incr_registry_create();
	fl_incr_result res;

	const char *bad_owners[] = { "a/b", ".x", "", "a b", NULL };
	for (int i = 0; i < 5; i++) {
		err[0] = 0;
		memset(&res, 0xff, sizeof(res));
		assert_int_equal(
			fl_incr_upload(reg, native, jobdir, chk, REL, bad_owners[i], &res, err, sizeof(err)),
			FLINC_EINVAL);
		assert_true(err[0] != 0);
		assert_null(res.shared);
		assert_int_equal(res.n_shared, 0);
	}
	const char *bad_rels[] = { "../x", "/abs", "a//b", "", "a/./b", "x/..", "a b", NULL };
	for (int i = 0; i < 8; i++)
		assert_int_equal(
			fl_incr_upload(reg, native, jobdir, chk, bad_rels[i], OWNER, &res, err, sizeof(err)),
			FLINC_EINVAL);
	assert_int_equal(fl_incr_upload(NULL, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)),
			 FLINC_EINVAL);
	assert_int_equal(fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, NULL, err, sizeof(err)),
			 FLINC_EINVAL);
	assert_false(exists(jobdir));
	snprintf(path, sizeof(path), "%s/missing", root);
	err[0] = 0;
	assert_int_equal(fl_incr_upload(reg, path, jobdir, chk, REL, OWNER, &res, err, sizeof(err)),
			 FLINC_ENOENT);
	assert_non_null(strstr(err, path));

	/* odd native folders: a hidden file, a folder, a file named SHARED */
	const char *odd[] = { ".hidden", "sub", FL_INCR_SHARED_LIST };
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", native, odd[i]);
		if (i == 1)
			assert_int_equal(mkdir(path, 0755), 0);
		else
			spit(path, "x", 1);
		err[0] = 0;
		assert_int_equal(fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)),
				 FLINC_EINVAL);
		assert_non_null(strstr(err, odd[i]));
		assert_int_equal(i == 1 ? rmdir(path) : unlink(path), 0);
		snprintf(path, sizeof(path), "%s/" REL, chk);
		assert_false(exists(path));
	}
	assert_int_equal(fl_incr_registry_count(reg), 0);

	/* a good one; the same private folder again is refused */
	assert_int_equal(fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)), 0);
	assert_int_equal(res.files_new, 1);
	assert_int_equal(res.bytes_new, strlen("sst-ten"));
	assert_int_equal(res.bytes_copied, 0); /* one file system: linked */
	assert_int_equal(res.files_private, 3);
	snprintf(path, sizeof(path), "%s/" REL "/MANIFEST-000005", chk);
	expect_file(path, "manifest");
	snprintf(path, sizeof(path), "%s/" REL "/" FL_INCR_SHARED_LIST, chk);
	char want[400];
	snprintf(want, sizeof(want), "shared/" OWNER "/%s-000010.sst 000010.sst 7 %08x\n",
		 fl_incr_registry_token(reg), fl_crc32c(0, "sst-ten", 7));
	expect_file(path, want);
	assert_int_equal(res.bytes_private, strlen("manifest") + strlen("MANIFEST-000005\n") + strlen(want));
	/* verify: sizes, and with crc every byte */
	assert_int_equal(fl_incr_verify(jobdir, chk, REL, true, err, sizeof(err)), 0);
	char shp[1300];
	snprintf(shp, sizeof(shp), "%s/%s", jobdir, res.shared[0]);
	spit(shp, "sst-TEN", 7); /* same size, other bytes (the native folder's link too) */
	assert_int_equal(fl_incr_verify(jobdir, chk, REL, false, err, sizeof(err)), 0);
	err[0] = 0;
	assert_int_equal(fl_incr_verify(jobdir, chk, REL, true, err, sizeof(err)), FLINC_ECODEC);
	assert_non_null(strstr(err, "checksum"));
	assert_non_null(strstr(err, shp));
	spit(shp, "sst-ten", 7);
	assert_int_equal(fl_incr_verify(jobdir, chk, REL, true, err, sizeof(err)), 0);
	fl_incr_result_free(&res);
	fl_incr_result_free(NULL);
	err[0] = 0;
	assert_int_equal(fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)),
			 FLINC_EEXIST);
	assert_non_null(strstr(err, REL));

	/* materialize: the target folder must be new, its parent must exist */
	snprintf(path, sizeof(path), "%s/local", root);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, REL, path, err, sizeof(err)), FLINC_EEXIST);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/no/local", root);
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, REL, path, err, sizeof(err)), FLINC_ENOENT);
	snprintf(path, sizeof(path), "%s/local", root);
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, "other.native", path, err, sizeof(err)),
			 FLINC_ENOENT);
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, "../x", path, err, sizeof(err)),
			 FLINC_EINVAL);
	assert_false(exists(path));
	/* a good one: the SST is a hard link, the rest copies */
	fl_incr_registry *reg2 = fl_incr_registry_create();
	assert_int_equal(fl_incr_materialize(reg2, jobdir, chk, REL, path, err, sizeof(err)), 0);
	assert_int_equal(fl_incr_registry_count(reg2), 1);
	char p2[1300];
	snprintf(p2, sizeof(p2), "%s/000010.sst", path);
	expect_file(p2, "sst-ten");
	struct stat st;
	assert_int_equal(stat(p2, &st), 0);
	assert_int_equal(st.st_nlink, 3); /* native, shared, local */
	snprintf(p2, sizeof(p2), "%s/CURRENT", path);
	expect_file(p2, "MANIFEST-000005\n");
	snprintf(p2, sizeof(p2), "%s/" FL_INCR_SHARED_LIST, path);
	assert_false(exists(p2));
	rmtree(path);

	/* corrupt SHARED lists: refused, nothing left, the registry unchanged */
	char listp[1300], tok[FL_INCR_TOKEN_LEN + 1];
	snprintf(listp, sizeof(listp), "%s/" REL "/" FL_INCR_SHARED_LIST, chk);
	snprintf(tok, sizeof(tok), "%s", fl_incr_registry_token(reg2));
	char good[400];
	snprintf(good, sizeof(good), "shared/" OWNER "/%s-000010.sst 000010.sst 7\n",
		 fl_incr_registry_token(reg));
	char twice[800];
	snprintf(twice, sizeof(twice), "%s%s", good, good);
	const char *bad_lists[] = {
		"shared/x/y.sst y.sst\n",         "../etc/passwd y.sst 1\n",
		"shared/x/y.sst .y 1\n",          "shared/x/y.sst y.sst 12x\n",
		"other/y.sst y.sst 1\n",          "shared/x/y.sst y.sst -1\n",
		"shared/x/y.sst y.sst 1 extra\n", twice,
		"shared/x/y.sst y.sst 1", /* truncated */
	};
	for (size_t i = 0; i < sizeof(bad_lists) / sizeof(bad_lists[0]); i++) {
		spit(listp, bad_lists[i], strlen(bad_lists[i]));
		err[0] = 0;
		int rc = fl_incr_materialize(reg2, jobdir, chk, REL, path, err, sizeof(err));
		if (rc != FLINC_ECODEC) fail_msg("list %zu: rc %d (%s)", i, rc, err);
		assert_non_null(strstr(err, listp));
		assert_false(exists(path));
		assert_int_equal(fl_incr_registry_count(reg2), 1);
		assert_string_equal(fl_incr_registry_token(reg2), tok);
	}
	/* a private file that is listed as shared too */
	spit(listp, good, strlen(good));
	snprintf(p2, sizeof(p2), "%s/" REL "/000010.sst", chk);
	spit(p2, "sst-ten", 7);
	err[0] = 0;
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, REL, path, err, sizeof(err)), FLINC_ECODEC);
	assert_non_null(strstr(err, "000010.sst"));
	assert_false(exists(path));
	assert_int_equal(unlink(p2), 0);
	/* an empty list is fine (a state without SST files) */
	spit(listp, "", 0);
	assert_int_equal(fl_incr_materialize(reg2, jobdir, chk, REL, path, err, sizeof(err)), 0);
	assert_int_equal(fl_incr_registry_count(reg2), 0);
	rmtree(path);

	fl_incr_registry_reset(reg);
	assert_int_equal(fl_incr_registry_count(reg), 0);
	fl_incr_registry_destroy(reg);
	fl_incr_registry_destroy(reg2);
	rmtree(root);
}

/* A name taken in shared/ is never written over: the registry takes a new
 * token. A known name with another size is uploaded again. */
static void test_name_clash(void **state)
{
	(void)state;
	char root[256], jobdir[300], chk[400], native[400], path[1200], err[1024];
	tmpdir(root, sizeof(root), "/tmp");
	snprintf(jobdir, sizeof(jobdir), "%s/job", root);
	snprintf(native, sizeof(native), "%s/native", root);
	make_native(native, "000010.sst=aaaa", "000011.sst=bbbbbbbb", "CURRENT=x\n", NULL);
	fl_incr_registry *reg = fl_incr_registry_create();
	char tok[FL_INCR_TOKEN_LEN + 1];
	snprintf(tok, sizeof(tok), "%s", fl_incr_registry_token(reg));
	snprintf(path, sizeof(path), "%s/shared/" OWNER, jobdir);
	assert_int_equal(fl_mkdir_p(path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/shared/" OWNER "/%s-000010.sst", jobdir, tok);
	spit(path, "zzzz", 4);

	fl_incr_result res;
	fl_chk_dir(chk, sizeof(chk), jobdir, 1);
	if (fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)))
		fail_msg("upload: %s", err);
	expect_file(path, "zzzz");
	assert_string_not_equal(fl_incr_registry_token(reg), tok);
	assert_int_equal(res.files_new, 2);
	assert_int_equal(res.n_shared, 2);
	char want[400];
	snprintf(want, sizeof(want), "shared/" OWNER "/%s-000010.sst", fl_incr_registry_token(reg));
	assert_string_equal(res.shared[0], want);
	write_meta(chk, 1, res.shared, res.n_shared);
	char first10[400];
	snprintf(first10, sizeof(first10), "%s", res.shared[0]);
	fl_incr_result_free(&res);

	/* the same name with another size: uploaded again, the old one kept */
	snprintf(path, sizeof(path), "%s/000010.sst", native);
	assert_int_equal(unlink(path), 0); /* a hard link: do not write through it */
	spit(path, "cccccc", 6);
	fl_chk_dir(chk, sizeof(chk), jobdir, 2);
	assert_int_equal(fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)), 0);
	assert_int_equal(res.files_new, 1);
	assert_int_equal(res.files_reused, 1);
	assert_int_equal(res.bytes_new, 6);
	assert_string_not_equal(res.shared[0], first10);
	snprintf(path, sizeof(path), "%s/%s", jobdir, first10);
	expect_file(path, "aaaa");
	snprintf(path, sizeof(path), "%s/%s", jobdir, res.shared[0]);
	expect_file(path, "cccccc");
	write_meta(chk, 2, res.shared, res.n_shared);

	/* gc keeps all three files both checkpoints use, drops the planted one */
	logbuf lb = { 0 };
	assert_int_equal(fl_incr_gc(jobdir, log_fn, &lb, err, sizeof(err)), 0);
	assert_int_equal(lb.n, 2);
	assert_non_null(strstr(lb.text, tok));
	snprintf(path, sizeof(path), "%s/%s", jobdir, first10);
	assert_true(exists(path));
	/* a corrupt _metadata protects nothing */
	fl_chk_dir(path, sizeof(path), jobdir, 1);
	strcat(path, "/_metadata");
	spit(path, "{", 1);
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(fl_incr_gc(jobdir, log_fn, &lb, err, sizeof(err)), 0);
	assert_int_equal(lb.n, 2);
	assert_non_null(strstr(lb.text, first10));
	fl_incr_result_free(&res);
	fl_incr_registry_destroy(reg);

	/* no shared/ at all: nothing to do */
	snprintf(path, sizeof(path), "%s/shared", jobdir);
	rmtree(path);
	assert_int_equal(fl_incr_gc(jobdir, NULL, NULL, err, sizeof(err)), 0);
	rmtree(root);
}

/* Checkpoint storage on another file system (tmpfs at /dev/shm, when it
 * is one): link(2) fails with EXDEV, so files are copied both ways. */
static void test_cross_fs(void **state)
{
	(void)state;
	struct stat a, b;
	if (stat("/tmp", &a) < 0 || stat("/dev/shm", &b) < 0 || a.st_dev == b.st_dev ||
	    access("/dev/shm", W_OK)) {
		print_message("no second file system at /dev/shm: skipped\n");
		skip();
	}
	char root[256], store[256], jobdir[300], chk[400], native[400], path[1200], err[1024];
	tmpdir(root, sizeof(root), "/tmp");
	tmpdir(store, sizeof(store), "/dev/shm");
	snprintf(jobdir, sizeof(jobdir), "%s/job", store);
	snprintf(native, sizeof(native), "%s/native", root);
	char big[300000];
	for (size_t i = 0; i < sizeof(big) - 1; i++) big[i] = (char)('a' + i * 7 % 26);
	big[sizeof(big) - 1] = 0;
	make_native(native, "000010.sst=small", "CURRENT=x\n", NULL);
	snprintf(path, sizeof(path), "%s/000011.sst", native);
	spit(path, big, strlen(big));
	fl_incr_registry *reg = fl_incr_registry_create();
	fl_incr_result res;
	fl_chk_dir(chk, sizeof(chk), jobdir, 1);
	if (fl_incr_upload(reg, native, jobdir, chk, REL, OWNER, &res, err, sizeof(err)))
		fail_msg("upload: %s", err);
	assert_int_equal(res.files_new, 2);
	assert_int_equal(res.bytes_new, 5 + strlen(big));
	assert_int_equal(res.bytes_copied, res.bytes_new);
	snprintf(path, sizeof(path), "%s/%s", jobdir, res.shared[1]);
	expect_file(path, big);
	write_meta(chk, 1, res.shared, res.n_shared);
	assert_int_equal(fl_chk_validate(chk, FL_CHK_CHECK_FILES, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/local", root);
	assert_int_equal(fl_incr_materialize(NULL, jobdir, chk, REL, path, err, sizeof(err)), 0);
	char p2[1300];
	snprintf(p2, sizeof(p2), "%s/000011.sst", path);
	expect_file(p2, big);
	snprintf(p2, sizeof(p2), "%s/000010.sst", path);
	expect_file(p2, "small");
	fl_incr_result_free(&res);
	fl_incr_registry_destroy(reg);
	rmtree(store);
	rmtree(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rocksdb_incremental),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_name_clash),
		cmocka_unit_test(test_cross_fs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
