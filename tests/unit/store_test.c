/*
 * store_test.c - base/fl_store.h: the same conformance cases against the
 * POSIX store and, when FLINC_TEST_S3_ENDPOINT is set (by
 * tests/integration/s3_store.py, which starts s3proxy), against S3; the
 * S3 pieces on their own (URLs, encoding, list answers, error mapping);
 * S3 failures (wrong secret, no bucket, nobody listening) as one-line
 * errors; the mirror's path mapping, push, pull and remove.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_auth.h"
#include "fl_base.h"
#include "fl_checkpoint.h"
#include "fl_fs.h"
#include "fl_store.h"

static char tmpdir[1024];

static int dir_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "%s/flinc-store-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int dir_teardown(void **state)
{
	(void)state;
	fl_rm_rf(tmpdir, NULL, 0);
	return 0;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(fl_write_all(fd, data, len), 0);
	close(fd);
}

static size_t read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

static bool one_line(const char *s) { return s[0] && !strchr(s, '\n'); }

/* The S3 settings of the test server, or NULL. */
static fl_conf *s3_conf(const char *secret)
{
	const char *ep = getenv("FLINC_TEST_S3_ENDPOINT");
	if (!ep) return NULL;
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "s3.endpoint", ep);
	fl_conf_set(c, "s3.access-key", getenv("FLINC_TEST_S3_ACCESS_KEY"));
	fl_conf_set(c, "s3.secret-key", secret ? secret : getenv("FLINC_TEST_S3_SECRET_KEY"));
	fl_conf_set(c, "s3.path-style-access", "true");
	return c;
}

/* ---- conformance: every store behaves the same -------------------------- */

static void conformance(fl_store *s)
{
	char err[512] = "";
	uint8_t big[300000];
	for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 131 + (i >> 9));
	char local[PATH_MAX], back[PATH_MAX];
	snprintf(local, sizeof local, "%s/big.bin", tmpdir);
	snprintf(back, sizeof back, "%s/back.bin", tmpdir);
	write_file(local, big, sizeof big);

	assert_int_equal(fl_store_put_buf(s, "a/b/c.txt", "hello", 5, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "a/b/c.txt", "hello!", 6, err, sizeof err),
			 FLINC_OK); /* replaces */
	assert_int_equal(fl_store_put_file(s, "a/big.bin", local, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "a/_metadata", "{}", 2, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "ab/x", "", 0, err, sizeof err), FLINC_OK); /* not under a/ */

	uint64_t size = 0;
	assert_int_equal(fl_store_exists(s, "a/big.bin", &size, err, sizeof err), FLINC_OK);
	assert_int_equal(size, sizeof big);
	assert_int_equal(fl_store_exists(s, "a/b/c.txt", &size, err, sizeof err), FLINC_OK);
	assert_int_equal(size, 6);
	assert_int_equal(fl_store_exists(s, "a/nope", &size, err, sizeof err), FLINC_ENOENT);

	void *buf;
	size_t len;
	assert_int_equal(fl_store_get_buf(s, "a/b/c.txt", 100, &buf, &len, err, sizeof err), FLINC_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "hello!", 6);
	free(buf);
	assert_int_equal(fl_store_get_buf(s, "ab/x", 100, &buf, &len, err, sizeof err), FLINC_OK);
	assert_int_equal(len, 0);
	free(buf);
	assert_int_equal(fl_store_get_buf(s, "a/big.bin", 1000, &buf, &len, err, sizeof err), FLINC_ERANGE);
	assert_true(one_line(err));
	assert_int_equal(fl_store_get_buf(s, "a/missing", 100, &buf, &len, err, sizeof err), FLINC_ENOENT);
	assert_true(one_line(err));
	assert_null(buf);

	assert_int_equal(fl_store_get_file(s, "a/big.bin", back, err, sizeof err), FLINC_OK);
	static char got[sizeof big + 10];
	assert_int_equal(read_file(back, got, sizeof got), sizeof big);
	assert_memory_equal(got, big, sizeof big);
	unlink(back);
	assert_int_equal(fl_store_get_file(s, "a/missing", back, err, sizeof err), FLINC_ENOENT);
	assert_int_equal(access(back, F_OK), -1); /* whole or absent */

	fl_store_obj *o;
	size_t n;
	assert_int_equal(fl_store_list(s, "a", &o, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 3);
	assert_string_equal(o[0].key, "a/_metadata");
	assert_string_equal(o[1].key, "a/b/c.txt");
	assert_int_equal(o[1].size, 6);
	assert_string_equal(o[2].key, "a/big.bin");
	assert_int_equal(o[2].size, sizeof big);
	fl_store_objs_free(o, n);
	assert_int_equal(fl_store_list(s, "a/b/c.txt", &o, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 1);
	assert_string_equal(o[0].key, "a/b/c.txt");
	fl_store_objs_free(o, n);
	assert_int_equal(fl_store_list(s, "zzz", &o, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 0);
	fl_store_objs_free(o, n);

	assert_int_equal(fl_store_put_buf(s, "../x", "", 0, err, sizeof err), FLINC_EINVAL);
	assert_true(one_line(err));
	assert_int_equal(fl_store_put_buf(s, "a//x", "", 0, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_store_list(s, "/a", &o, &n, err, sizeof err), FLINC_EINVAL);

	size_t del = 0;
	assert_int_equal(fl_store_delete_prefix(s, "a", &del, err, sizeof err), FLINC_OK);
	assert_int_equal(del, 3);
	assert_int_equal(fl_store_exists(s, "a/big.bin", &size, err, sizeof err), FLINC_ENOENT);
	assert_int_equal(fl_store_exists(s, "ab/x", &size, err, sizeof err), FLINC_OK); /* untouched */
	assert_int_equal(fl_store_delete_prefix(s, "", &del, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_list(s, "", &o, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 0);
	fl_store_objs_free(o, n);
}

static void posix_conformance(void **state)
{
	(void)state;
	char root[PATH_MAX + 8], err[256];
	snprintf(root, sizeof root, "%s/store", tmpdir);
	fl_store *s;
	assert_int_equal(fl_store_open(root, NULL, &s, err, sizeof err), FLINC_OK);
	assert_string_equal(fl_store_root(s), root);
	conformance(s);
	fl_store_close(s);
	fl_store_close(NULL);
}

static void s3_conformance(void **state)
{
	(void)state;
	fl_conf *c = s3_conf(NULL);
	if (!c) {
		print_message(
			"FLINC_TEST_S3_ENDPOINT not set: S3 cases run in tests/integration/s3_store.py\n");
		skip();
	}
	uint8_t r[4];
	fl_random_bytes(r, sizeof r);
	char root[256], err[512];
	snprintf(root, sizeof root, "s3://%s/unit-%02x%02x%02x%02x", getenv("FLINC_TEST_S3_BUCKET"), r[0],
		 r[1], r[2], r[3]);
	fl_store *s;
	assert_int_equal(fl_store_open(root, c, &s, err, sizeof err), FLINC_OK);
	conformance(s);
	fl_store_close(s);
	/* at the bucket's root too */
	snprintf(root, sizeof root, "s3://%s", getenv("FLINC_TEST_S3_BUCKET"));
	assert_int_equal(fl_store_open(root, c, &s, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "rootkey/x", "1", 1, err, sizeof err), FLINC_OK);
	fl_store_obj *o;
	size_t n;
	assert_int_equal(fl_store_list(s, "rootkey", &o, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 1);
	assert_string_equal(o[0].key, "rootkey/x");
	fl_store_objs_free(o, n);
	assert_int_equal(fl_store_delete_prefix(s, "rootkey", NULL, err, sizeof err), FLINC_OK);
	fl_store_close(s);
	fl_conf_destroy(c);
}

/* Wrong secret, missing bucket, nobody listening: one line each, the
 * right code, never a crash. */
static void s3_errors(void **state)
{
	(void)state;
	fl_conf *c = s3_conf("wrong-secret");
	if (!c) skip();
	char root[256], err[512] = "";
	snprintf(root, sizeof root, "s3://%s/x", getenv("FLINC_TEST_S3_BUCKET"));
	fl_store *s;
	assert_int_equal(fl_store_open(root, c, &s, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "k", "v", 1, err, sizeof err), FLINC_EIO);
	print_message("wrong secret: %s\n", err);
	assert_true(one_line(err));
	assert_non_null(strstr(err, "HTTP 403"));
	assert_non_null(strstr(err, "s3.secret-key"));
	fl_store_close(s);
	fl_conf_destroy(c);

	c = s3_conf(NULL);
	assert_int_equal(fl_store_open("s3://no-such-bucket-here/x", c, &s, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "k", "v", 1, err, sizeof err), FLINC_EIO);
	print_message("no bucket: %s\n", err);
	assert_true(one_line(err));
	assert_non_null(strstr(err, "NoSuchBucket"));
	fl_store_close(s);
	fl_conf_destroy(c);
}

static void s3_unreachable(void **state)
{
	(void)state;
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "s3.endpoint", "http://127.0.0.1:1");
	fl_conf_set(c, "s3.access-key", "a");
	fl_conf_set(c, "s3.secret-key", "b");
	fl_conf_set(c, "s3.path-style-access", "true");
	fl_store *s;
	char err[512] = "";
	assert_int_equal(fl_store_open("s3://bucket/p", c, &s, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_store_put_buf(s, "k", "v", 1, err, sizeof err), FLINC_EIO);
	print_message("unreachable: %s\n", err);
	assert_true(one_line(err));
	assert_non_null(strstr(err, "s3://bucket/p/k: PUT: cannot reach http://127.0.0.1:1"));
	fl_store_obj *o;
	size_t n;
	assert_int_equal(fl_store_list(s, "", &o, &n, err, sizeof err), FLINC_EIO);
	assert_null(o);
	fl_store_close(s);
	fl_conf_destroy(c);
}

/* ---- S3 pieces ----------------------------------------------------------- */

static void s3_config_errors(void **state)
{
	(void)state;
	char *saved_a = getenv("AWS_ACCESS_KEY_ID") ? strdup(getenv("AWS_ACCESS_KEY_ID")) : NULL;
	unsetenv("AWS_ACCESS_KEY_ID");
	fl_store *s;
	char err[512];
	fl_conf *c = fl_conf_create();
	assert_int_equal(fl_store_open("s3://bucket/p", c, &s, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "s3.access-key"));
	fl_conf_set(c, "s3.access-key", "a");
	fl_conf_set(c, "s3.secret-key", "b");
	fl_conf_set(c, "s3.endpoint", "ftp://x");
	assert_int_equal(fl_store_open("s3://bucket/p", c, &s, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "s3.endpoint"));
	fl_conf_set(c, "s3.endpoint", "http://h:1");
	fl_conf_set(c, "s3.path-style-access", "maybe");
	assert_int_equal(fl_store_open("s3://bucket/p", c, &s, err, sizeof err), FLINC_ECONFIG);
	fl_conf_set(c, "s3.path-style-access", "false");
	assert_int_equal(fl_store_open("s3://Bad_Bucket/p", c, &s, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_store_open("s3://bucket/p", c, &s, err, sizeof err), FLINC_OK);
	fl_store_close(s);
	fl_conf_destroy(c);
	if (saved_a) setenv("AWS_ACCESS_KEY_ID", saved_a, 1);
	free(saved_a);
}

static void s3_urls(void **state)
{
	(void)state;
	char b[64], p[256], err[256];
	assert_int_equal(
		fl_s3_parse_url("s3://my-bucket/chk/dir/", b, sizeof b, p, sizeof p, err, sizeof err), 0);
	assert_string_equal(b, "my-bucket");
	assert_string_equal(p, "chk/dir");
	assert_int_equal(fl_s3_parse_url("s3://my.bucket", b, sizeof b, p, sizeof p, err, sizeof err), 0);
	assert_string_equal(p, "");
	assert_int_equal(fl_s3_parse_url("s3://ab/x", b, sizeof b, p, sizeof p, err, sizeof err),
			 FLINC_EINVAL);
	assert_int_equal(fl_s3_parse_url("s3://UPPER/x", b, sizeof b, p, sizeof p, err, sizeof err),
			 FLINC_EINVAL);
	assert_int_equal(fl_s3_parse_url("s3://bucket/a/../b", b, sizeof b, p, sizeof p, err, sizeof err),
			 FLINC_EINVAL);
	assert_true(one_line(err));
	assert_int_equal(fl_s3_parse_url("/tmp/x", b, sizeof b, p, sizeof p, err, sizeof err), FLINC_EINVAL);
	assert_true(fl_store_is_s3("s3://b"));
	assert_false(fl_store_is_s3("/s3://b"));
	assert_true(fl_store_key_ok("a/b.c"));
	assert_false(fl_store_key_ok("a/"));
	assert_false(fl_store_key_ok("a/./b"));
	assert_false(fl_store_key_ok("a\nb"));

	char out[128];
	fl_s3_encode("chk-1/a b+c=d~e_f.g", true, out, sizeof out);
	assert_string_equal(out, "chk-1/a%20b%2Bc%3Dd~e_f.g");
	fl_s3_encode("a/b", false, out, sizeof out);
	assert_string_equal(out, "a%2Fb");
}

static void s3_list_answers(void **state)
{
	(void)state;
	const char *xml =
		"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Name>b</Name><IsTruncated>true</IsTruncated><NextContinuationToken>tok+/=</NextContinuationToken>"
		"<Contents><Key>p/a&amp;b</Key><Size>12</Size></Contents>"
		"<Contents><Key>p/c</Key><LastModified>x</LastModified><Size>0</Size></Contents></ListBucketResult>";
	fl_store_obj *o = NULL;
	size_t n = 0, cap = 0;
	bool trunc = false;
	char tok[64];
	assert_int_equal(fl_s3_parse_list(xml, strlen(xml), &o, &n, &cap, &trunc, tok, sizeof tok), 0);
	assert_true(trunc);
	assert_string_equal(tok, "tok+/=");
	assert_int_equal(n, 2);
	assert_string_equal(o[0].key, "p/a&b");
	assert_int_equal(o[0].size, 12);
	assert_int_equal(o[1].size, 0);
	fl_store_objs_free(o, n);
	o = NULL;
	n = cap = 0;
	const char *bad =
		"<ListBucketResult><Contents><Key>k</Key><Size>x1</Size></Contents></ListBucketResult>";
	assert_int_equal(fl_s3_parse_list(bad, strlen(bad), &o, &n, &cap, &trunc, tok, sizeof tok),
			 FLINC_ECODEC);
	fl_store_objs_free(o, n);
	o = NULL;
	n = cap = 0;
	assert_int_equal(fl_s3_parse_list("<html/>", 7, &o, &n, &cap, &trunc, tok, sizeof tok), FLINC_ECODEC);
	const char *notoken = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
	assert_int_equal(fl_s3_parse_list(notoken, strlen(notoken), &o, &n, &cap, &trunc, tok, sizeof tok),
			 FLINC_ECODEC);
}

static void s3_error_mapping(void **state)
{
	(void)state;
	char err[512];
	const char *nokey =
		"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>";
	assert_int_equal(fl_s3_error(404, nokey, strlen(nokey), "s3://b/k: GET", err, sizeof err),
			 FLINC_ENOENT);
	assert_string_equal(err, "s3://b/k: GET: HTTP 404 NoSuchKey: The specified key does not exist.");
	const char *nob = "<Error><Code>NoSuchBucket</Code><Message>no\nbucket</Message></Error>";
	assert_int_equal(fl_s3_error(404, nob, strlen(nob), "s3://b/k: PUT", err, sizeof err), FLINC_EIO);
	assert_true(one_line(err));
	assert_non_null(strstr(err, "create the bucket"));
	assert_int_equal(fl_s3_error(403, NULL, 0, "s3://b/k: PUT", err, sizeof err), FLINC_EIO);
	assert_string_equal(err, "s3://b/k: PUT: HTTP 403 (check s3.access-key and s3.secret-key)");
	assert_int_equal(fl_s3_error(503, "<Error><Code>SlowDown</Code></Error>", 35, "w", err, sizeof err),
			 FLINC_EIO);
	assert_string_equal(err, "w: HTTP 503 SlowDown");
	assert_int_equal(fl_s3_error(500, "<html>oops", 10, "w", err, sizeof err), FLINC_EIO);
	assert_string_equal(err, "w: HTTP 500");
}

/* ---- the mirror ------------------------------------------------------------ */

static void mirror_mapping(void **state)
{
	(void)state;
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "state.backend.rocksdb.localdir", tmpdir);
	fl_conf_set(c, "s3.endpoint", "http://127.0.0.1:1");
	fl_conf_set(c, "s3.access-key", "a");
	fl_conf_set(c, "s3.secret-key", "b");
	fl_conf_set(c, "s3.path-style-access", "true");
	char err[512] = "";
	assert_int_equal(fl_remote_init(c, err, sizeof err), FLINC_OK);
	assert_string_equal(fl_remote_localize("/data/chk", err, sizeof err), "/data/chk");
	assert_false(fl_remote_is("/data/chk"));
	const char *t = fl_remote_localize("s3://bucket/chk/", err, sizeof err);
	assert_non_null(t);
	assert_ptr_equal(t, fl_remote_localize("s3://bucket/chk", err, sizeof err)); /* interned */
	assert_true(strncmp(t, tmpdir, strlen(tmpdir)) == 0);
	assert_true(fl_remote_is(t));
	struct stat st;
	assert_int_equal(stat(t, &st), 0); /* made, like a local folder */
	char url[512], sub[PATH_MAX];
	assert_string_equal(fl_remote_url(t, url, sizeof url), "s3://bucket/chk");
	snprintf(sub, sizeof sub, "%s/job/chk-3/_metadata", t);
	assert_string_equal(fl_remote_url(sub, url, sizeof url), "s3://bucket/chk/job/chk-3/_metadata");
	assert_string_equal(fl_remote_url("/x/y", url, sizeof url), "/x/y");
	assert_null(fl_remote_localize("s3://x/y", err, sizeof err)); /* bucket name too short */
	assert_true(one_line(err));
	/* a local path: nothing to push, pull or remove */
	assert_int_equal(fl_remote_push("/nonexistent/x", err, sizeof err), FLINC_OK);
	assert_int_equal(fl_remote_pull("/nonexistent/x", NULL, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_remote_remove("/nonexistent/x", err, sizeof err), FLINC_OK);
	/* a twin with the store unreachable: one line */
	snprintf(sub, sizeof sub, "%s/f", t);
	write_file(sub, "x", 1);
	assert_int_equal(fl_remote_push(sub, err, sizeof err), FLINC_EIO);
	print_message("push, unreachable: %s\n", err);
	assert_true(one_line(err));
	assert_int_equal(fl_remote_pull(t, NULL, err, sizeof err), FLINC_EIO);
	fl_remote_shutdown();
	assert_int_equal(stat(t, &st), -1); /* the mirror root is gone */
	fl_conf_destroy(c);
}

static void mirror_s3(void **state)
{
	(void)state;
	fl_conf *c = s3_conf(NULL);
	if (!c) skip();
	fl_conf_set(c, "state.backend.rocksdb.localdir", tmpdir);
	char err[512] = "", url[256];
	assert_int_equal(fl_remote_init(c, err, sizeof err), FLINC_OK);
	uint8_t r[4];
	fl_random_bytes(r, sizeof r);
	snprintf(url, sizeof url, "s3://%s/mirror-%02x%02x%02x%02x", getenv("FLINC_TEST_S3_BUCKET"), r[0],
		 r[1], r[2], r[3]);
	const char *t = fl_remote_localize(url, err, sizeof err);
	assert_non_null(t);
	char p[PATH_MAX], q[PATH_MAX];
	snprintf(p, sizeof p, "%s/chk-1", t);
	assert_int_equal(fl_mkdir_p(p, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/chk-1/a.snap", t);
	write_file(p, "aaaa", 4);
	snprintf(p, sizeof p, "%s/chk-1/a.snap.tmp", t);
	write_file(p, "partial", 7); /* never uploaded */
	snprintf(p, sizeof p, "%s/chk-1/_metadata", t);
	write_file(p, "{}", 2);
	snprintf(p, sizeof p, "%s/chk-1", t);
	assert_int_equal(fl_remote_push(p, err, sizeof err), FLINC_OK);
	uint64_t size;
	snprintf(q, sizeof q, "%s/chk-1/a.snap", t);
	assert_int_equal(fl_remote_exists(q, &size, err, sizeof err), FLINC_OK);
	assert_int_equal(size, 4);
	char **paths;
	size_t n;
	assert_int_equal(fl_remote_list(t, &paths, NULL, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 2);
	snprintf(p, sizeof p, "%s/chk-1/_metadata", t);
	assert_string_equal(paths[0], p);
	assert_string_equal(paths[1], q);
	for (size_t i = 0; i < n; i++) free(paths[i]);
	free(paths);
	/* local copies gone; a pull brings them back */
	fl_rm_rf(t, NULL, 0);
	size_t got = 0;
	assert_int_equal(fl_remote_pull(t, &got, err, sizeof err), FLINC_OK);
	assert_int_equal(got, 2);
	char buf[16];
	assert_int_equal(read_file(q, buf, sizeof buf), 4);
	assert_int_equal(fl_remote_pull(t, &got, err, sizeof err), FLINC_OK);
	assert_int_equal(got, 0); /* same sizes: kept */
	assert_int_equal(fl_remote_remove(t, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_remote_exists(q, &size, err, sizeof err), FLINC_ENOENT);
	assert_int_equal(fl_remote_pull(t, &got, err, sizeof err), FLINC_ENOENT);
	assert_true(one_line(err));
	fl_remote_shutdown();
	fl_conf_destroy(c);
}

/* checkpoint/remote.c: nothing to do for local folders; on S3 a checkpoint
 * comes down with the shared files its _metadata lists, retention and
 * shared-file collection reach the bucket. */
static void chk_remote_local_noop(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(fl_chk_remote_fetch("/nonexistent/chk-1", err, sizeof err), FLINC_OK);
	assert_int_equal(fl_chk_remote_fetch_job("/nonexistent", NULL, NULL, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_chk_remote_gc("/nonexistent", NULL, NULL, err, sizeof err), FLINC_OK);
	int64_t ids[] = { 1 };
	assert_int_equal(fl_chk_remote_retained("/nonexistent", ids, 1, err, sizeof err), FLINC_OK);
}

static void chk_remote_s3(void **state)
{
	(void)state;
	fl_conf *c = s3_conf(NULL);
	if (!c) skip();
	fl_conf_set(c, "state.backend.rocksdb.localdir", tmpdir);
	char err[512] = "", url[256], p[PATH_MAX + 64];
	assert_int_equal(fl_remote_init(c, err, sizeof err), FLINC_OK);
	snprintf(url, sizeof url, "s3://%s/chkr/job", getenv("FLINC_TEST_S3_BUCKET"));
	const char *jobdir = fl_remote_localize(url, err, sizeof err);
	assert_non_null(jobdir);
	/* two shared files, one listed by chk-1's _metadata */
	snprintf(p, sizeof p, "%s/shared/o", jobdir);
	assert_int_equal(fl_mkdir_p(p, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/shared/o/a.sst", jobdir);
	write_file(p, "AAAA", 4);
	assert_int_equal(fl_remote_push(p, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/shared/o/b.sst", jobdir);
	write_file(p, "BB", 2);
	assert_int_equal(fl_remote_push(p, err, sizeof err), 0);
	char dir[PATH_MAX];
	fl_chk_dir(dir, sizeof dir, jobdir, 1);
	assert_int_equal(fl_mkdir_p(dir, err, sizeof err), 0);
	fl_chk_meta m;
	memset(&m, 0, sizeof m);
	snprintf(m.job_id, sizeof m.job_id, "job");
	snprintf(m.backend, sizeof m.backend, "rocksdb");
	m.checkpoint_id = 1;
	m.max_parallelism = 128;
	char *sh[] = { "shared/o/a.sst" };
	m.shared = sh;
	m.n_shared = 1;
	assert_int_equal(fl_chk_meta_write(dir, &m, err, sizeof err), 0);
	assert_int_equal(fl_remote_push(dir, err, sizeof err), 0);
	/* an incomplete chk-2 in the bucket too */
	fl_chk_dir(dir, sizeof dir, jobdir, 2);
	assert_int_equal(fl_mkdir_p(dir, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/x.snap", dir);
	write_file(p, "x", 1);
	assert_int_equal(fl_remote_push(p, err, sizeof err), 0);

	/* a fresh twin, as a restarted job manager has */
	fl_rm_rf(jobdir, NULL, 0);
	assert_int_equal(fl_chk_remote_fetch_job(jobdir, NULL, NULL, err, sizeof err), 0);
	int64_t *ids;
	size_t n;
	assert_int_equal(fl_chk_list(jobdir, &ids, &n, err, sizeof err), 0);
	assert_int_equal(n, 2); /* chk-1 and the incomplete chk-2 */
	snprintf(p, sizeof p, "%s/shared/o/a.sst", jobdir);
	struct stat st;
	assert_int_equal(stat(p, &st), 0); /* listed: fetched */
	snprintf(p, sizeof p, "%s/shared/o/b.sst", jobdir);
	assert_int_equal(stat(p, &st), -1); /* not listed: not fetched */

	/* retention removed chk-2 here: the bucket follows */
	fl_chk_dir(dir, sizeof dir, jobdir, 2);
	fl_rm_rf(dir, NULL, 0);
	assert_int_equal(fl_chk_remote_retained(jobdir, ids, n, err, sizeof err), 0);
	free(ids);
	uint64_t size;
	snprintf(p, sizeof p, "%s/x.snap", dir);
	assert_int_equal(fl_remote_exists(p, &size, err, sizeof err), FLINC_ENOENT);
	/* collection: b.sst goes, a.sst stays */
	assert_int_equal(fl_chk_remote_gc(jobdir, NULL, NULL, err, sizeof err), 0);
	snprintf(p, sizeof p, "%s/shared/o/b.sst", jobdir);
	assert_int_equal(fl_remote_exists(p, &size, err, sizeof err), FLINC_ENOENT);
	snprintf(p, sizeof p, "%s/shared/o/a.sst", jobdir);
	assert_int_equal(fl_remote_exists(p, &size, err, sizeof err), FLINC_OK);
	assert_int_equal(size, 4);
	/* a checkpoint without _metadata in the bucket is no checkpoint */
	fl_chk_dir(dir, sizeof dir, jobdir, 7);
	assert_int_equal(fl_chk_remote_fetch(dir, err, sizeof err), FLINC_ENOENT);
	assert_true(one_line(err));
	assert_int_equal(fl_remote_remove(jobdir, err, sizeof err), 0);
	fl_remote_shutdown();
	fl_conf_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(posix_conformance, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(s3_conformance, dir_setup, dir_teardown),
		cmocka_unit_test(s3_errors),
		cmocka_unit_test(s3_unreachable),
		cmocka_unit_test(s3_config_errors),
		cmocka_unit_test(s3_urls),
		cmocka_unit_test(s3_list_answers),
		cmocka_unit_test(s3_error_mapping),
		cmocka_unit_test_setup_teardown(mirror_mapping, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(mirror_s3, dir_setup, dir_teardown),
		cmocka_unit_test(chk_remote_local_noop),
		cmocka_unit_test_setup_teardown(chk_remote_s3, dir_setup, dir_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
