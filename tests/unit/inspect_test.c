/*
 * inspect_test.c - plugin inspection in a helper process
 * (runtime/src/inspect.c, inspect_helper.c, jobdesc.c; plugin.c's ELF
 * check):
 *
 *   - the ELF check on files cut and patched from wordcount.so (truncated,
 *     another machine, 32-bit, big-endian, an executable, tables past the
 *     end, not ELF, a FIFO, missing);
 *   - a real plugin inspected in the helper gives the same description as
 *     the same build in this process (hash, uids, vertices, edges, plan);
 *   - each hostile plugin (tests/plugins/hostile.c) gives its one line
 *     and code: constructors that abort, exit, sleep; builds that segfault,
 *     hang, eat memory, exit, write junk or forge an answer;
 *   - build errors (FLINC_EGRAPH with the plugin's usage), load-only
 *     inspections, the limits and environment the helper runs under;
 *   - no descriptor, child or zombie is left behind;
 *   - the answer decoder refuses every malformed field.
 *
 * This binary is a host program like `flinc` (it exports the job API for
 * the plugins and runs the helper when given FL_INSPECT_HELPER_ARG), so
 * it inspects with the very code the job manager uses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fl_runtime.h"
#include "inspect.h"

#ifndef FLINC_BUILD_DIR
#error "FLINC_BUILD_DIR must name the build folder"
#endif

static char g_tmp[256];

static char *plugin(const char *name) { return fl_asprintf("%s/tests/plugins/%s.so", FLINC_BUILD_DIR, name); }
static char *job(const char *name) { return fl_asprintf("%s/jobs/%s.so", FLINC_BUILD_DIR, name); }

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d)) n++;
	closedir(d);
	return n;
}

/* No child of this process is left, zombie or not. */
static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	*len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = fl_malloc(*len);
	assert_int_equal(fread(b, 1, *len, f), *len);
	fclose(f);
	return b;
}

static char *write_file(const char *name, const void *data, size_t len)
{
	char *p = fl_asprintf("%s/%s", g_tmp, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return p;
}

/* fl_plugin_check_elf on path: rc, and the message contains want. */
static void expect_elf(const char *path, int rc, const char *want)
{
	char err[512] = "";
	int got = fl_plugin_check_elf(path, err, sizeof err);
	if (got != rc || (want && !strstr(err, want)))
		fail_msg("%s: rc %d (want %d), '%s' (want '%s')", path, got, rc, err, want);
	if (want) assert_non_null(strstr(err, path)); /* the file is named */
}

static void test_elf_check(void **state)
{
	(void)state;
	char *wc = job("wordcount");
	size_t len;
	uint8_t *b = slurp(wc, &len);
	expect_elf(wc, FLINC_OK, NULL);

	char *p = write_file("text.so", "hello\n", 6);
	expect_elf(p, FLINC_EPLUGIN, "not a job plugin (not an ELF shared object)");
	free(p);
	p = write_file("empty.so", "", 0);
	expect_elf(p, FLINC_EPLUGIN, "not an ELF shared object");
	free(p);
	p = write_file("magic.so", b, 20);
	expect_elf(p, FLINC_EPLUGIN, "truncated (20 bytes, an ELF header is 64)");
	free(p);
	p = write_file("trunc.so", b, 1000);
	expect_elf(p, FLINC_EPLUGIN, "truncated (1000 bytes, the ELF header says at least ");
	free(p);
	p = write_file("almost.so", b, len - 1);
	expect_elf(p, FLINC_EPLUGIN, "truncated");
	free(p);

	uint8_t *m = fl_malloc(len);
	memcpy(m, b, len);
	uint16_t v = EM_AARCH64;
	memcpy(m + 18, &v, 2);
	p = write_file("arm.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "wrong architecture: built for AArch64");
	free(p);
	memcpy(m, b, len);
	m[EI_CLASS] = ELFCLASS32;
	p = write_file("class32.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "(32-bit), this flinc runs on");
	free(p);
	memcpy(m, b, len);
	m[EI_DATA] = ELFDATA2MSB;
	p = write_file("be.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "wrong architecture: a big-endian ELF file");
	free(p);
	memcpy(m, b, len);
	v = ET_EXEC;
	memcpy(m + 16, &v, 2);
	p = write_file("exec.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "an executable, not a shared object");
	free(p);
	memcpy(m, b, len);
	uint64_t off = UINT64_MAX - 8; /* e_phoff: the table's end wraps */
	memcpy(m + 32, &off, 8);
	p = write_file("wrap.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "malformed ELF header");
	free(p);
	memcpy(m, b, len);
	off = (uint64_t)len + 4096; /* e_shoff past the end */
	memcpy(m + 40, &off, 8);
	p = write_file("shoff.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "truncated");
	free(p);
	memcpy(m, b, len);
	v = 0; /* e_phnum */
	memcpy(m + 56, &v, 2);
	p = write_file("nophdr.so", m, len);
	expect_elf(p, FLINC_EPLUGIN, "without program headers");
	free(p);

	p = fl_asprintf("%s/fifo.so", g_tmp);
	assert_int_equal(mkfifo(p, 0600), 0);
	expect_elf(p, FLINC_EPLUGIN, "not a regular file"); /* and does not block */
	free(p);
	p = fl_asprintf("%s/missing.so", g_tmp);
	expect_elf(p, FLINC_ENOENT, "No such file");
	free(p);
	free(m);
	free(b);
	free(wc);
}

/* Inspect path with argv (argc) and the given limits; rc must be want and
 * the message contain msg. Returns the inspection (may be NULL). */
static fl_inspection *inspect(const char *path, bool build, int argc, char **argv, int64_t timeout_ms,
			      int64_t memory, int want, const char *msg)
{
	fl_inspect_opts o = {
		.timeout_ms = timeout_ms, .memory_bytes = memory, .build = build, .display = "the.so"
	};
	fl_inspection *in = NULL;
	char err[2048] = "";
	int64_t t0 = fl_mono_ns();
	int rc = fl_inspect_run(&o, path, argc, argv, &in, err, sizeof err);
	int64_t ms = (fl_mono_ns() - t0) / 1000000;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	print_message("    %s %s -> %d in %lld ms: %s\n", base, argc > 2 ? argv[2] : "", rc, (long long)ms,
		      err);
	if (rc != want || (msg && !strstr(err, msg)))
		fail_msg("%s: rc %d (want %d), '%s' (want '%s')", path, rc, want, err, msg ? msg : "");
	if (rc != FLINC_OK && rc != FLINC_EGRAPH) assert_null(in);
	if (msg) assert_int_equal(strncmp(err, "the.so: ", 8), 0);
	assert_true(!strchr(err, '\n'));
	if (timeout_ms) assert_true(ms < timeout_ms + 3000);
	return in;
}

/* The same build in this process: the helper must describe the job as
 * fl_job_desc_create does here. */
static void test_same_as_in_process(void **state)
{
	(void)state;
	char *wc = job("wordcount");
	char *in_path = write_file("in.txt", "a b a\n", 6);
	char *argv[] = { "wordcount.so", "--input", in_path, "--output", g_tmp, NULL };
	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "pipeline.max-parallelism", "64");
	fl_inspect_opts o = { .build = true, .conf = conf, .parallelism = 3 };
	fl_inspection *in = NULL;
	char err[1024];
	assert_int_equal(fl_inspect_run(&o, wc, 5, argv, &in, err, sizeof err), FLINC_OK);
	assert_non_null(in->job);
	assert_string_equal(in->plugin_name, "wordcount");
	assert_int_equal(in->abi_version, FLINC_ABI_VERSION);
	assert_true(in->elapsed_ms >= 0);

	fl_plugin *pl;
	assert_int_equal(fl_plugin_open(wc, &pl, err, sizeof err), FLINC_OK);
	flinc_env *e = fl_env_create(fl_plugin_entry(pl)->name, conf, 3);
	const char *msg;
	assert_int_equal(fl_env_build(e, fl_plugin_entry(pl)->build, 5, argv, &msg), FLINC_OK);
	fl_job_desc *d = fl_job_desc_create(e);
	const fl_job_desc *h = in->job;
	assert_string_equal(h->name, d->name);
	assert_true(h->graph_hash == d->graph_hash);
	assert_int_equal(h->parallelism, 3);
	assert_int_equal(h->max_parallelism, 64);
	assert_int_equal(h->n_uids, d->n_uids);
	for (size_t k = 0; k < d->n_uids; k++) assert_string_equal(h->uids[k], d->uids[k]);
	assert_int_equal(h->n_vertices, d->n_vertices);
	assert_true(d->n_vertices >= 2);
	for (uint32_t k = 0; k < d->n_vertices; k++) {
		assert_int_equal(h->vertices[k].index, k);
		assert_true(h->vertices[k].id == d->vertices[k].id);
		assert_string_equal(h->vertices[k].name, d->vertices[k].name);
		assert_int_equal(h->vertices[k].parallelism, d->vertices[k].parallelism);
	}
	assert_int_equal(h->n_edges, d->n_edges);
	assert_true(d->n_edges >= 1);
	for (size_t k = 0; k < d->n_edges; k++) {
		assert_int_equal(h->edges[k].src, d->edges[k].src);
		assert_int_equal(h->edges[k].dst, d->edges[k].dst);
		assert_string_equal(h->edges[k].partitioning, d->edges[k].partitioning);
	}
	assert_int_equal(h->subtasks, d->subtasks);
	assert_string_equal(h->plan_json, d->plan_json);
	assert_string_equal(h->graph_json, d->graph_json);
	fl_job_desc_free(d);
	fl_env_destroy(e);
	fl_plugin_close(pl);
	fl_inspection_free(in);
	fl_conf_destroy(conf);
	free(in_path);
	free(wc);
}

static void test_refusals(void **state)
{
	(void)state;
	int fds = count_fds();
	char *p, *argv[] = { "x", "--case", "fail", NULL };

	p = plugin("bad_graph");
	fl_inspection *in = inspect(p, true, 3, argv, 0, 0, FLINC_EGRAPH,
				    "the.so: invalid job: the job refuses to build");
	assert_non_null(in);
	assert_null(in->job);
	assert_non_null(strstr(in->build_error, "refuses to build"));
	assert_string_equal(in->usage, "--case nosink|nokey|fail");
	fl_inspection_free(in);
	in = inspect(p, false, 1, argv, 0, 0, FLINC_OK, NULL); /* loads: fine without a build */
	assert_string_equal(in->plugin_name, "bad_graph");
	assert_null(in->job);
	fl_inspection_free(in);
	free(p);

	p = plugin("bad_abi");
	inspect(p, false, 1, argv, 0, 0, FLINC_EPLUGIN,
		"built for job ABI version 999, this flinc runs ABI version 1");
	free(p);
	p = plugin("bad_noentry");
	inspect(p, false, 1, argv, 0, 0, FLINC_EPLUGIN, "no 'flinc_plugin_entry' symbol");
	free(p);
	p = fl_asprintf("%s/nope.so", g_tmp);
	inspect(p, true, 1, argv, 0, 0, FLINC_ENOENT, "No such file");
	free(p);
	size_t len;
	char *wc = job("wordcount");
	uint8_t *b = slurp(wc, &len);
	p = write_file("cut.so", b, 1000);
	inspect(p, true, 1, argv, 0, 0, FLINC_EPLUGIN,
		"the.so: truncated (1000 bytes, the ELF header says at least");
	free(p);
	free(b);
	free(wc);
	assert_int_equal(count_fds(), fds);
	assert_no_children();
}

static void test_hostile(void **state)
{
	(void)state;
	int fds = count_fds();
	char *argv[] = { "x", "--crash", "none", NULL };
	const int64_t T = 800, M = 256ll << 20;
	static const struct {
		const char *plugin, *crash;
		int64_t timeout;
		const char *msg;
	} cases[] = {
		{ "hostile_ctor_abort", NULL, 0,
		  "the plugin's constructor killed the inspection with SIGABRT" },
		{ "hostile_ctor_exit", NULL, 0,
		  "the plugin's constructor ended the inspection (exit status 0) without an answer" },
		{ "hostile_ctor_sleep", NULL, 800, "the plugin's constructor did not finish within 800 ms" },
		{ "hostile_build_segv", NULL, 0, "the plugin's build() killed the inspection with SIGSEGV" },
		{ "hostile_build_hang", NULL, 800, "the plugin's build() did not finish within 800 ms" },
		{ "hostile_build_oom", NULL, 0, "the plugin's build() exceeded the memory limit (256 MB" },
		{ "hostile_args", "segv", 0, "the plugin's build() killed the inspection with SIGSEGV" },
		{ "hostile_args", "hang", 800, "the plugin's build() did not finish within 800 ms" },
		{ "hostile_args", "oom", 0, "exceeded the memory limit" },
		{ "hostile_args", "exit", 0,
		  "the plugin's build() ended the inspection (exit status 3) without an answer" },
		{ "hostile_args", "garbage", 0,
		  "the inspection's answer is malformed: line 4 is neither a stage nor the one answer" },
		{ "hostile_args", "forge", 0, "the inspection's answer is malformed: parallelism is 100000" },
		{ "hostile_args", "flood", 0, "the inspection's answer is larger than 8388608 bytes" },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(cases); i++) {
		char *p = plugin(cases[i].plugin);
		argv[2] = (char *)(cases[i].crash ? cases[i].crash : "none");
		inspect(p, true, cases[i].crash ? 3 : 1, argv, cases[i].timeout ? cases[i].timeout : 5000, M,
			FLINC_EPLUGIN, cases[i].msg);
		free(p);
	}
	/* Valid at upload: loads and builds without the crash. */
	char *p = plugin("hostile_args");
	fl_inspection *in = inspect(p, true, 1, argv, T * 10, M, FLINC_OK, NULL);
	assert_string_equal(in->job->name, "hostile-args");
	fl_inspection_free(in);
	/* 64 MB of output is read and dropped; the answer still counts. */
	argv[2] = "noise";
	in = inspect(p, true, 3, argv, T * 10, M, FLINC_OK, NULL);
	assert_string_equal(in->job->name, "hostile-args");
	fl_inspection_free(in);
	free(p);
	assert_int_equal(count_fds(), fds);
	assert_no_children();
}

/* The marker plugin's constructor reports where it ran: a child of ours,
 * a session of its own, the limits, fds 0-3 only, an empty environment
 * (here: no LD_LIBRARY_PATH or *SAN_OPTIONS set by the test either). */
static void test_helper_conditions(void **state)
{
	(void)state;
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(g_tmp), 0); /* the helper writes its marker in our working folder */
	char *p = plugin("hostile_ctor_marker");
	char *argv[] = { "x", NULL };
	inspect(p, false, 1, argv, 3000, 512ll << 20, FLINC_EPLUGIN, "no 'flinc_plugin_entry' symbol");
	free(p);
	assert_int_equal(chdir(cwd), 0);
	char *mpath = fl_asprintf("%s/flinc-ctor-marker.json", g_tmp);
	json_error_t je;
	json_t *m = json_load_file(mpath, 0, &je);
	if (!m) fail_msg("%s: %s", mpath, je.text);
	json_int_t pid = json_integer_value(json_object_get(m, "pid"));
	assert_true(pid > 0 && pid != getpid());
	assert_int_equal(json_integer_value(json_object_get(m, "ppid")), getpid());
	assert_int_equal(json_integer_value(json_object_get(m, "sid")), pid);
	assert_int_equal(json_integer_value(json_object_get(m, "pgid")), pid);
	assert_int_equal(json_integer_value(json_object_get(m, "core")), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "nofile")), 64);
	assert_int_equal(json_integer_value(json_object_get(m, "cpu")), 4); /* 3 s + 1 */
	assert_int_equal(json_integer_value(json_object_get(m, "fsize")), 1 << 20);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	assert_int_equal(json_integer_value(json_object_get(m, "as")), -1);
#else
	assert_int_equal(json_integer_value(json_object_get(m, "as")), 512ll << 20);
#endif
	json_t *fds = json_object_get(m, "fds");
	assert_int_equal(json_array_size(fds), 4);
	for (int i = 0; i < 4; i++) assert_int_equal(json_integer_value(json_array_get(fds, (size_t)i)), i);
	json_t *env = json_object_get(m, "env");
	size_t i;
	json_t *v;
	json_array_foreach(env, i, v)
	{
		const char *n = json_string_value(v);
		if (strcmp(n, "LD_LIBRARY_PATH") && !strstr(n, "SAN_OPTIONS"))
			fail_msg("the helper sees %s", n);
	}
	json_decref(m);
	unlink(mpath);
	free(mpath);
	assert_no_children();
}

/* ---- the decoder --------------------------------------------------------------------- */

static const char *valid_answer =
	"{\"ok\":true,\"plugin\":{\"name\":\"j\",\"description\":null,\"usage\":\"--x\",\"abi\":1},"
	"\"job\":{\"name\":\"j\",\"hash\":\"00000000000000ff\",\"parallelism\":2,\"max_parallelism\":128,"
	"\"uids\":[\"a\",\"b\"],\"vertices\":[{\"index\":0,\"id\":\"0000000000000001\",\"name\":\"Source: a\","
	"\"parallelism\":2},{\"index\":1,\"id\":\"0000000000000002\",\"name\":\"Sink: b\",\"parallelism\":1}],"
	"\"edges\":[{\"src\":0,\"dst\":1,\"partitioning\":\"REBALANCE\"}],"
	"\"graph\":{\"vertices\":[{},{}],\"edges\":[]},\"plan\":{\"nodes\":[{},{}]}}}";

/* valid_answer with `from` replaced by `to` must be refused, saying why. */
static void expect_malformed(const char *from, const char *to, const char *why_part)
{
	const char *at = strstr(valid_answer, from);
	if (!at) fail_msg("'%s' is not in the answer", from);
	char *doc = fl_asprintf("%.*s%s%s", (int)(at - valid_answer), valid_answer, to, at + strlen(from));
	json_t *a = json_loads(doc, JSON_ALLOW_NUL, NULL);
	if (!a) fail_msg("test answer does not parse: %s", doc);
	fl_inspection *in = NULL;
	char why[512] = "";
	int rc = fl_inspect_decode(a, true, &in, why, sizeof why);
	if (rc != FLINC_EPROTO || !strstr(why, why_part))
		fail_msg("%s -> %s: rc %d, '%s' (want '%s')", from, to, rc, why, why_part);
	assert_null(in);
	json_decref(a);
	free(doc);
}

static void test_decode(void **state)
{
	(void)state;
	json_t *a = json_loads(valid_answer, 0, NULL);
	fl_inspection *in = NULL;
	char why[512];
	assert_int_equal(fl_inspect_decode(a, true, &in, why, sizeof why), FLINC_OK);
	assert_int_equal(in->job->n_vertices, 2);
	assert_int_equal(in->job->subtasks, 3);
	assert_true(in->job->graph_hash == 0xff);
	assert_string_equal(in->usage, "--x");
	assert_null(in->description);
	fl_inspection_free(in);
	/* A job where none was asked for. */
	assert_int_equal(fl_inspect_decode(a, false, &in, why, sizeof why), FLINC_EPROTO);
	json_decref(a);

	expect_malformed("\"ok\":true", "\"ok\":1", "ok is not a boolean");
	expect_malformed("\"abi\":1", "\"abi\":2", "abi is 2");
	expect_malformed("\"abi\":1", "\"abi\":\"1\"", "abi is not an integer");
	expect_malformed("\"name\":\"j\",\"hash\"", "\"name\":\"\",\"hash\"", "name is empty");
	expect_malformed("\"name\":\"j\",\"hash\"", "\"name\":\"a\\u0000b\",\"hash\"", "holds a NUL");
	expect_malformed("\"00000000000000ff\"", "\"00000000000000FF\"", "hash is not 16 hex digits");
	expect_malformed("\"00000000000000ff\"", "\"0ff\"", "hash is not 16 hex digits");
	expect_malformed("\"max_parallelism\":128", "\"max_parallelism\":40000", "max_parallelism is 40000");
	expect_malformed("\"parallelism\":2,\"max", "\"parallelism\":0,\"max", "parallelism is 0");
	expect_malformed("[\"a\",\"b\"]", "[]", "uids is not an array of 1..");
	expect_malformed("[\"a\",\"b\"]", "[\"a\",\"a\"]", "two operators have one uid");
	expect_malformed("[\"a\",\"b\"]", "[\"a\",7]", "uids[1] is not a string");
	expect_malformed("\"index\":1", "\"index\":5", "index is 5, not in 1..1");
	expect_malformed("\"0000000000000002\"", "\"0000000000000001\"", "vertices 0 and 1 have one id");
	expect_malformed("\"parallelism\":1}", "\"parallelism\":100000}", "parallelism is 100000");
	expect_malformed("\"parallelism\":1}", "\"parallelism\":-1}", "parallelism is -1");
	expect_malformed("\"name\":\"Sink: b\"", "\"name\":null", "name is not a string");
	expect_malformed("\"dst\":1", "\"dst\":2", "dst is 2, not in 0..1");
	expect_malformed("\"dst\":1", "\"dst\":0", "joins vertex 0 to itself");
	expect_malformed("\"REBALANCE\"", "\"SHUFFLE\"", "unknown partitioning");
	expect_malformed("\"plan\":{\"nodes\":[{},{}]}", "\"plan\":{\"nodes\":[{}]}",
			 "plan is not an object with 2 nodes");
	expect_malformed("\"graph\":{\"vertices\":[{},{}],\"edges\":[]}", "\"graph\":[1]",
			 "graph is not an object");
	expect_malformed(",\"job\":{", ",\"build_error\":\"x\",\"job\":{",
			 "exactly one of job and build_error");
	expect_malformed("\"abi\":1}", "\"abi\":1,\"description\":7}", "description is not a string");

	/* The helper's own refusal, and a build error. */
	a = json_loads("{\"ok\":false,\"code\":-6,\"reason\":\"no\\nsymbol\"}", 0, NULL);
	assert_int_equal(fl_inspect_decode(a, true, &in, why, sizeof why), FLINC_EPLUGIN);
	assert_string_equal(why, "no symbol");
	json_decref(a);
	a = json_loads("{\"ok\":false,\"code\":-99,\"reason\":\"x\"}", 0, NULL);
	assert_int_equal(fl_inspect_decode(a, true, &in, why, sizeof why), FLINC_EPROTO);
	json_decref(a);
	a = json_loads(
		"{\"ok\":true,\"plugin\":{\"name\":null,\"description\":null,\"usage\":null,\"abi\":1},"
		"\"build_error\":\"missing --input\"}",
		0, NULL);
	assert_int_equal(fl_inspect_decode(a, true, &in, why, sizeof why), FLINC_EGRAPH);
	assert_string_equal(why, "missing --input");
	assert_string_equal(in->build_error, "missing --input");
	assert_null(in->plugin_name);
	fl_inspection_free(in);
	json_decref(a);
}

static void test_clean(void **state)
{
	(void)state;
	char *c = fl_inspect_clean("a\nb\t\xff\xc3\xa9\xe2\x82", 100);
	assert_string_equal(c, "a b ?\xc3\xa9??");
	free(c);
	c = fl_inspect_clean("abcdef", 3);
	assert_string_equal(c, "abc");
	free(c);
	c = fl_inspect_clean(NULL, 3);
	assert_string_equal(c, "");
	free(c);
}

static void test_opts(void **state)
{
	(void)state;
	fl_conf *c = fl_conf_create();
	fl_inspect_opts o = { 0 };
	char err[256];
	assert_int_equal(fl_inspect_opts_read(c, &o, err, sizeof err), FLINC_OK);
	assert_int_equal(o.timeout_ms, 10000);
	assert_int_equal(o.memory_bytes, 1ll << 30);
	fl_conf_set(c, "jobmanager.plugin-inspection.timeout", "20ms");
	assert_int_equal(fl_inspect_opts_read(c, &o, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "jobmanager.plugin-inspection.timeout"));
	fl_conf_set(c, "jobmanager.plugin-inspection.timeout", "2s");
	fl_conf_set(c, "jobmanager.plugin-inspection.memory", "1mb");
	assert_int_equal(fl_inspect_opts_read(c, &o, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "jobmanager.plugin-inspection.memory"));
	fl_conf_set(c, "jobmanager.plugin-inspection.memory", "512mb");
	assert_int_equal(fl_inspect_opts_read(c, &o, err, sizeof err), FLINC_OK);
	assert_int_equal(o.timeout_ms, 2000);
	assert_int_equal(o.memory_bytes, 512ll << 20);
	fl_conf_destroy(c);
}

/* A hanging inspection in another thread. */
typedef struct hang_run {
	int rc;
	int64_t ms;
	char err[512];
} hang_run;

static void *hang_thread(void *arg)
{
	hang_run *h = arg;
	char *p = plugin("hostile_build_hang");
	char *argv[] = { "x", NULL };
	fl_inspect_opts o = { .timeout_ms = 20000, .build = true };
	fl_inspection *in = NULL;
	int64_t t0 = fl_mono_ns();
	h->rc = fl_inspect_run(&o, p, 1, argv, &in, h->err, sizeof h->err);
	h->ms = (fl_mono_ns() - t0) / 1000000;
	fl_inspection_free(in);
	free(p);
	return NULL;
}

/* Last (it stops inspections for good): fl_inspect_shutdown ends a
 * running inspection at once and refuses new ones. */
static void test_shutdown(void **state)
{
	(void)state;
	int fds = count_fds();
	hang_run h = { 0 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, hang_thread, &h), 0);
	usleep(300 * 1000);
	fl_inspect_shutdown();
	pthread_join(t, NULL);
	print_message("    running: %d in %lld ms: %s\n", h.rc, (long long)h.ms, h.err);
	assert_int_equal(h.rc, FLINC_ECANCELED);
	assert_true(h.ms < 5000);
	assert_non_null(strstr(h.err, "canceled: the program is stopping"));
	hang_run later = { 0 };
	hang_thread(&later);
	assert_int_equal(later.rc, FLINC_ECANCELED);
	assert_true(later.ms < 100);
	assert_non_null(strstr(later.err, "not inspected: the program is stopping"));
	assert_int_equal(count_fds(), fds);
	assert_no_children();
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], FL_INSPECT_HELPER_ARG)) return fl_inspect_helper_main(argc, argv);
	snprintf(g_tmp, sizeof g_tmp, "/tmp/flinc-inspect-test-XXXXXX");
	if (!mkdtemp(g_tmp)) return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_check),
		cmocka_unit_test(test_same_as_in_process),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_helper_conditions),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_clean),
		cmocka_unit_test(test_opts),
		cmocka_unit_test(test_shutdown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char *rm = fl_asprintf("rm -rf %s", g_tmp);
	if (system(rm) != 0) rc = rc ? rc : 1;
	free(rm);
	return rc;
}
