/* Hostile job plugins for the plugin inspection tests (tests/unit/
 * inspect_test.c, tests/security/probe_plugins.py): one source, one
 * plugin per behaviour, chosen by a compile definition.
 *
 *   HOSTILE_CTOR_MARKER  its constructor writes flinc-ctor-marker.json in
 *                        the working folder (the helper clears the
 *                        environment, so no variable names the place):
 *                        pid, parent, session, limits, open descriptors
 *                        and environment of the process it runs in; it has
 *                        no entry symbol, so it is refused
 *   HOSTILE_CTOR_ABORT   its constructor calls abort()
 *   HOSTILE_CTOR_EXIT    its constructor calls _exit(0)
 *   HOSTILE_CTOR_SLEEP   its constructor never returns (sleeps)
 *   HOSTILE_BUILD_SEGV   its build() dereferences NULL
 *   HOSTILE_BUILD_HANG   its build() never returns (sleeps)
 *   HOSTILE_BUILD_OOM    its build() allocates and touches memory without
 *                        bound (and writes through the NULL it finally gets)
 *   HOSTILE_ARGS         a valid job (datagen -> sink) unless --crash says
 *                        segv, hang, oom, exit (_exit(3) in build), garbage
 *                        (junk on the answer descriptor, then a normal
 *                        build), flood (64 MB on the answer descriptor),
 *                        noise (64 MB on stderr, then a normal build) or
 *                        forge (a made-up answer with a vertex of
 *                        parallelism 100000, then _exit(0)): valid at
 *                        upload, hostile at submit
 */
#include <dirent.h>
#include <flinc/flinc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

extern char **environ;

/* NULL, hidden from the optimizer (a visible NULL store may become a trap
 * instruction: SIGILL instead of the SIGSEGV a real bug gives). */
__attribute__((unused)) static int *null_ptr(void)
{
	int *p = NULL;
	__asm__ volatile("" : "+r"(p));
	return p;
}

__attribute__((unused)) static void crash_segv(void) { *null_ptr() = 1; }

__attribute__((unused)) static void sleep_forever(void)
{
	for (;;) pause();
}

__attribute__((unused)) static void eat_memory(void)
{
	for (;;) {
		size_t n = 64u << 20;
		char *p = malloc(n);
		if (!p) p = (char *)null_ptr(); /* as a plugin that never checks would */
		memset(p, 1, n);
	}
}

#if defined(HOSTILE_CTOR_MARKER)
static void put_limit(FILE *f, const char *name, int res)
{
	struct rlimit r;
	getrlimit(res, &r);
	if (r.rlim_cur == RLIM_INFINITY)
		fprintf(f, "\"%s\":-1,", name);
	else
		fprintf(f, "\"%s\":%llu,", name, (unsigned long long)r.rlim_cur);
}

__attribute__((constructor)) static void marker(void)
{
	/* The descriptors first, before fopen adds its own. */
	int fds[256], nfd = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)) && nfd < 256) {
			int fd = atoi(de->d_name);
			if (de->d_name[0] != '.' && fd != dirfd(d)) fds[nfd++] = fd;
		}
		closedir(d);
	}
	FILE *f = fopen("flinc-ctor-marker.json.tmp", "w");
	if (!f) return;
	fprintf(f, "{\"pid\":%d,\"ppid\":%d,\"sid\":%d,\"pgid\":%d,", (int)getpid(), (int)getppid(),
		(int)getsid(0), (int)getpgid(0));
	put_limit(f, "as", RLIMIT_AS);
	put_limit(f, "cpu", RLIMIT_CPU);
	put_limit(f, "core", RLIMIT_CORE);
	put_limit(f, "nofile", RLIMIT_NOFILE);
	put_limit(f, "fsize", RLIMIT_FSIZE);
	fprintf(f, "\"fds\":[");
	for (int i = 0; i < nfd; i++) fprintf(f, "%s%d", i ? "," : "", fds[i]);
	fprintf(f, "],\"env\":[");
	for (char **e = environ; e && *e; e++) {
		size_t n = strcspn(*e, "=");
		fprintf(f, "%s\"%.*s\"", e == environ ? "" : ",", (int)n, *e);
	}
	fprintf(f, "]}\n");
	fclose(f);
	rename("flinc-ctor-marker.json.tmp", "flinc-ctor-marker.json");
}
/* No FLINC_PLUGIN: refused for the missing entry, after the constructor ran. */
int hostile_marker_unused;

#elif defined(HOSTILE_CTOR_ABORT)
__attribute__((constructor)) static void ctor(void) { abort(); }
FLINC_PLUGIN("hostile-ctor-abort", "aborts when loaded", NULL, NULL);

#elif defined(HOSTILE_CTOR_EXIT)
__attribute__((constructor)) static void ctor(void) { _exit(0); }
FLINC_PLUGIN("hostile-ctor-exit", "exits when loaded", NULL, NULL);

#elif defined(HOSTILE_CTOR_SLEEP)
__attribute__((constructor)) static void ctor(void) { sleep_forever(); }
FLINC_PLUGIN("hostile-ctor-sleep", "never finishes loading", NULL, NULL);

#else /* the build-time ones */
__attribute__((unused)) static bool gen(flinc_ctx *c, uint64_t i, void *out)
{
	(void)c;
	*(int64_t *)out = (int64_t)i;
	return true;
}

__attribute__((unused)) static size_t fmt(const void *rec, char *buf, size_t cap)
{
	(void)rec;
	if (cap) buf[0] = 'x';
	return 1;
}

/* A valid graph: numbers to a sink that prints x. */
__attribute__((unused)) static int valid(flinc_env *e)
{
	flinc_stream *s = flinc_datagen(e, "gen", gen, NULL, &flinc_type_i64, 10, 0);
	return flinc_sink_to(s, "sink", NULL, fmt);
}

#if defined(HOSTILE_BUILD_SEGV)
static int build(flinc_env *e, int argc, char **argv)
{
	(void)e, (void)argc, (void)argv;
	crash_segv();
	return 0;
}
FLINC_PLUGIN("hostile-build-segv", "build() segfaults", NULL, build);

#elif defined(HOSTILE_BUILD_HANG)
static int build(flinc_env *e, int argc, char **argv)
{
	(void)e, (void)argc, (void)argv;
	sleep_forever();
	return 0;
}
FLINC_PLUGIN("hostile-build-hang", "build() never returns", NULL, build);

#elif defined(HOSTILE_BUILD_OOM)
static int build(flinc_env *e, int argc, char **argv)
{
	(void)e, (void)argc, (void)argv;
	eat_memory();
	return 0;
}
FLINC_PLUGIN("hostile-build-oom", "build() allocates without bound", NULL, build);

#elif defined(HOSTILE_ARGS)
static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc, (void)argv;
	const char *c = flinc_arg(e, "crash", "none");
	if (!strcmp(c, "segv")) crash_segv();
	if (!strcmp(c, "hang")) sleep_forever();
	if (!strcmp(c, "oom")) eat_memory();
	if (!strcmp(c, "exit")) _exit(3);
	if (!strcmp(c, "garbage")) {
		static const char junk[] = "\x01\x02 not json\n{\"stage\":\"done\"}\n";
		if (write(3, junk, sizeof junk - 1) < 0) return FLINC_EIO;
	}
	if (!strcmp(c, "flood") || !strcmp(c, "noise")) {
		/* 64 MB on the answer descriptor (flood) or stderr (noise). */
		static char junk[1 << 16];
		memset(junk, 'x', sizeof junk);
		for (int i = 0; i < 1024; i++)
			if (write(!strcmp(c, "flood") ? 3 : 2, junk, sizeof junk) < 0) return FLINC_EIO;
	}
	if (!strcmp(c, "forge")) {
		static const char forged[] =
			"{\"answer\":{\"ok\":true,\"plugin\":{\"name\":\"forged\",\"description\":null,\"usage\":null,"
			"\"abi\":1},\"job\":{\"name\":\"forged\",\"hash\":\"0123456789abcdef\",\"parallelism\":1,"
			"\"max_parallelism\":128,\"uids\":[\"a\"],\"vertices\":[{\"index\":0,\"id\":\"0000000000000001\","
			"\"name\":\"x\",\"parallelism\":100000}],\"edges\":[],\"graph\":{\"vertices\":[{}]},"
			"\"plan\":{\"nodes\":[{}]}}}}\n";
		if (write(3, forged, sizeof forged - 1) < 0) return FLINC_EIO;
		_exit(0);
	}
	return valid(e);
}
FLINC_PLUGIN("hostile-args", "valid unless --crash segv|hang|oom|exit|garbage|flood|noise|forge",
	     "[--crash none|segv|hang|oom|exit|garbage|flood|noise|forge]", build);
#endif
#endif
