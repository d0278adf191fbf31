/*
 * inspect.c - the parent's side of a plugin inspection (fl_runtime.h,
 * "plugin inspection in a helper process"): start the helper, feed it the
 * request, read its answer and output under a deadline and a memory
 * watch, reap it, and turn what happened into an fl_inspection or one
 * line.
 *
 * Why a re-exec of /proc/self/exe rather than a helper program of its
 * own: the helper must export the runtime's FLINC_API symbols for the
 * plugin to bind to, and be the same build as the caller (the job ABI the
 * job manager admits is the one its task managers run). The calling
 * program is exactly that, wherever it was installed or started from;
 * a separate program would have to be found (next to the binary? on
 * PATH?) and could be another version.
 *
 * The start is fork + execve. Between the two the child makes only
 * async-signal-safe calls (the caller is multi-threaded: another thread
 * may hold malloc's or stdio's lock at the fork): everything it needs,
 * argv, envp, the limits, is prepared before the fork. A pipe with
 * O_CLOEXEC tells the parent whether execve succeeded (EOF) or why not
 * (the errno). Every descriptor the parent makes is O_CLOEXEC, so other
 * threads' children never inherit them either.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "inspect.h"

extern char **environ;

#define INSPECT_TIMEOUT_MS 10000
#define INSPECT_MEMORY (1ll << 30)
#define OUT_KEEP 4096   /* bytes of the helper's output kept for diag */
#define TICK_MS 20      /* memory samples, and the exit check without a pidfd */
#define NOFILE_LIMIT 64 /* descriptors the helper may open */
#define FSIZE_LIMIT (1 << 20)

/* Sanitizer builds map terabytes of shadow memory: an address-space limit
 * would stop the helper before main(). Their memory limit is the parent's
 * watch of the helper's resident memory instead. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif
/* What the helper's sanitizer is told on top of its parent's options: keep
 * off the fatal signals (a plugin's SIGSEGV ends the helper as SIGSEGV,
 * named as such), and report to the helper's own output, which the parent
 * reads, never to the parent's report files: what a sanitizer finds there
 * is the plugin's doing (the helper is one thread and its own code is
 * tested in process). A plugin that exits inside dlopen makes TSan "die"
 * with its exitcode; 0 keeps the plugin's own status. */
#define SAN_SIGNALS                                                                     \
	"handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigill=0:handle_sigfpe=0:" \
	"log_path=stderr"
#define TSAN_EXTRA ":exitcode=0"

/* ---- options ------------------------------------------------------------------ */

int fl_inspect_opts_read(const fl_conf *conf, fl_inspect_opts *o, char *err, size_t errcap)
{
	bool ok = true;
	const char *key = "jobmanager.plugin-inspection.timeout";
	int64_t t = fl_conf_duration_ms(conf, key, INSPECT_TIMEOUT_MS, &ok);
	if (!ok || t < 100 || t > 3600000)
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%s' is not a duration from 100ms to 1h", key,
			       fl_conf_get(conf, key));
	key = "jobmanager.plugin-inspection.memory";
	int64_t m = fl_conf_size(conf, key, INSPECT_MEMORY, &ok);
	if (!ok || m < (64ll << 20) || m > (1ll << 40))
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%s' is not a size from 64mb to 1tb", key,
			       fl_conf_get(conf, key));
	o->timeout_ms = t;
	o->memory_bytes = m;
	return FLINC_OK;
}

/* ---- starting the helper -------------------------------------------------------- */

/* What the child needs between fork and exec, all prepared before. */
typedef struct child_setup {
	int in, ans, out, status; /* the child's ends of the pipes */
	pid_t parent;
	struct {
		int resource;
		struct rlimit lim;
	} limits[6];
	int nlimits;
	char *argv[3];
	char **envp;
	long maxfd; /* for closing descriptors when close_range is missing */
} child_setup;

/* The child, after fork: async-signal-safe calls only. Moves the pipes to
 * 0..4 (fd 4: the exec status, close-on-exec), closes every other
 * descriptor, starts a session, dies with its parent, sets the limits,
 * restores default signal handling and execs. On failure writes errno to
 * the status pipe and exits 127. */
static void child_run(const child_setup *c) __attribute__((noreturn));
static void child_run(const child_setup *c)
{
	int st = fcntl(c->status, F_DUPFD_CLOEXEC, 10);
	int in = fcntl(c->in, F_DUPFD, 10), ans = fcntl(c->ans, F_DUPFD, 10),
	    out = fcntl(c->out, F_DUPFD, 10);
	if (st < 0) _exit(127);
	if (in < 0 || ans < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    dup2(ans, FL_INSPECT_ANSWER_FD) < 0 || dup3(st, 4, O_CLOEXEC) < 0)
		goto fail;
	st = 4;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 5u, ~0u, 0u) != 0)
#endif
		for (long fd = 5; fd < c->maxfd; fd++) close((int)fd);
	if (setsid() < 0) goto fail;
	/* The parent's thread waits for us; if the parent dies, so do we. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != c->parent) goto fail;
	for (int i = 0; i < c->nlimits; i++)
		if (setrlimit(c->limits[i].resource, &c->limits[i].lim) != 0) goto fail;
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL); /* SIGKILL and the like refuse: fine */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve("/proc/self/exe", c->argv, c->envp);
fail:;
	int e = errno;
	ssize_t w = write(st, &e, sizeof e);
	(void)w;
	_exit(127);
}

/* The helper's environment: empty but for what it needs to start as its
 * parent did (the library path, the sanitizers' options). In sanitizer
 * builds the sanitizer leaves the fatal signals alone in the helper, so a
 * plugin's SIGSEGV ends it as SIGSEGV (named as such), not as the
 * sanitizer's report and exit status. malloc'ed strings in a malloc'ed
 * array (free_env). */
static char **helper_env(void)
{
	static const char *keep[] = { "LD_LIBRARY_PATH=", "ASAN_OPTIONS=", "UBSAN_OPTIONS=",
				      "LSAN_OPTIONS=",    "TSAN_OPTIONS=", "MSAN_OPTIONS=" };
	char **env = fl_calloc(FL_ARRAY_LEN(keep) + 3, sizeof(char *));
	size_t n = 0;
	bool asan = false, tsan = false;
	for (char **e = environ; e && *e && n < FL_ARRAY_LEN(keep); e++) {
		for (size_t k = 0; k < FL_ARRAY_LEN(keep); k++) {
			if (strncmp(*e, keep[k], strlen(keep[k])) != 0) continue;
			bool own = SANITIZED && (k == 1 || k == 4); /* ASAN_OPTIONS, TSAN_OPTIONS */
			asan = asan || k == 1;
			tsan = tsan || k == 4;
			env[n++] = own ? fl_asprintf("%s:%s%s", *e, SAN_SIGNALS, k == 4 ? TSAN_EXTRA : "")
				       : fl_strdup(*e);
			break;
		}
	}
	if (SANITIZED && !asan) env[n++] = fl_strdup("ASAN_OPTIONS=" SAN_SIGNALS);
	if (SANITIZED && !tsan) env[n++] = fl_strdup("TSAN_OPTIONS=" SAN_SIGNALS TSAN_EXTRA);
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; *e; e++) free(*e);
	free(env);
}

/* A running helper and the parent's ends of its pipes. */
typedef struct helper {
	struct helper *next; /* in g_running while registered */
	bool canceled;       /* fl_inspect_shutdown killed it (under g_mu) */
	pid_t pid;
	int in;    /* request: write end (-1 once written and closed) */
	int ans;   /* answer: read end (-1 at its end) */
	int out;   /* stdout + stderr: read end (-1 at its end) */
	int pidfd; /* readable when the helper exits; -1 without pidfd_open */
} helper;

static void close_fd(int *fd)
{
	if (*fd >= 0) close(*fd);
	*fd = -1;
}

/* pipe2 with O_CLOEXEC for each of n pairs; false (all closed) on error. */
static bool make_pipes(int (*p)[2], int n)
{
	for (int i = 0; i < n; i++) {
		if (pipe2(p[i], O_CLOEXEC) != 0) {
			int e = errno;
			for (int k = 0; k < i; k++) close(p[k][0]), close(p[k][1]);
			errno = e;
			return false;
		}
	}
	return true;
}

/* Start the helper with the limits of o. FLINC_OK with h filled, or
 * FLINC_EIO with the reason in err (nothing left behind). */
static int spawn(const fl_inspect_opts *o, helper *h, char *err, size_t errcap)
{
	int p[4][2]; /* request, answer, output, exec status */
	if (!make_pipes(p, 4))
		return fl_errf(err, errcap, FLINC_EIO, "cannot make pipes: %s", strerror(errno));
	child_setup c = {
		.in = p[0][0], .ans = p[1][1], .out = p[2][1], .status = p[3][1], .parent = getpid()
	};
	c.argv[0] = "flinc-inspect";
	c.argv[1] = FL_INSPECT_HELPER_ARG;
	c.argv[2] = NULL;
	c.envp = helper_env();
	struct rlimit nofile;
	c.maxfd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
		? (long)nofile.rlim_cur
		: 65536;
	rlim_t cpu = (rlim_t)((o->timeout_ms + 999) / 1000 + 1);
	c.limits[c.nlimits++] = (typeof(c.limits[0])){ RLIMIT_CORE, { 0, 0 } };
	c.limits[c.nlimits++] = (typeof(c.limits[0])){ RLIMIT_NOFILE, { NOFILE_LIMIT, NOFILE_LIMIT } };
	c.limits[c.nlimits++] = (typeof(c.limits[0])){ RLIMIT_CPU, { cpu, cpu + 1 } };
	c.limits[c.nlimits++] = (typeof(c.limits[0])){ RLIMIT_FSIZE, { FSIZE_LIMIT, FSIZE_LIMIT } };
	if (!SANITIZED)
		c.limits[c.nlimits++] =
			(typeof(c.limits[0])){ RLIMIT_AS,
					       { (rlim_t)o->memory_bytes, (rlim_t)o->memory_bytes } };

	/* Every signal blocked across fork: no handler of the parent may run
	 * in the child before it restores the defaults. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = fork();
	if (pid == 0) child_run(&c);
	int fork_errno = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	free_env(c.envp);
	close(p[0][0]), close(p[1][1]), close(p[2][1]), close(p[3][1]);
	if (pid < 0) {
		close(p[0][1]), close(p[1][0]), close(p[2][0]), close(p[3][0]);
		return fl_errf(err, errcap, FLINC_EIO, "cannot start the inspection helper: fork: %s",
			       strerror(fork_errno));
	}
	int child_errno = 0;
	ssize_t n;
	do n = read(p[3][0], &child_errno, sizeof child_errno);
	while (n < 0 && errno == EINTR);
	close(p[3][0]);
	if (n > 0) {
		close(p[0][1]), close(p[1][0]), close(p[2][0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
		}
		return fl_errf(err, errcap, FLINC_EIO,
			       "cannot start the inspection helper (/proc/self/exe): %s",
			       strerror(child_errno));
	}
	h->pid = pid;
	h->in = p[0][1];
	h->ans = p[1][0];
	h->out = p[2][0];
#ifdef SYS_pidfd_open
	h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by default */
#else
	h->pidfd = -1;
#endif
	fcntl(h->in, F_SETFL, O_NONBLOCK);
	fcntl(h->ans, F_SETFL, O_NONBLOCK);
	fcntl(h->out, F_SETFL, O_NONBLOCK);
	return FLINC_OK;
}

/* ---- the helpers running now (fl_inspect_shutdown) ----------------------------- */

/* Each fl_inspect_run registers its helper (on its own stack) while the
 * helper may live, so a program that stops can end them all. A helper is
 * killed only while registered, that is before it is reaped: its pid
 * cannot belong to anyone else then. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static helper *g_running;
static bool g_stopping;

/* Register h; a helper started as the program stops is killed at once. */
static void running_add(helper *h)
{
	pthread_mutex_lock(&g_mu);
	h->next = g_running;
	g_running = h;
	if (g_stopping) {
		h->canceled = true;
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL); /* before its setsid, the group is not yet its own */
	}
	pthread_mutex_unlock(&g_mu);
}

/* Unregister h (before it is reaped); was it canceled? */
static bool running_remove(helper *h)
{
	pthread_mutex_lock(&g_mu);
	for (helper **p = &g_running; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			break;
		}
	bool canceled = h->canceled;
	pthread_mutex_unlock(&g_mu);
	return canceled;
}

void fl_inspect_shutdown(void)
{
	pthread_mutex_lock(&g_mu);
	g_stopping = true;
	for (helper *h = g_running; h; h = h->next) {
		h->canceled = true;
		kill(-h->pid, SIGKILL);
		kill(h->pid, SIGKILL);
	}
	pthread_mutex_unlock(&g_mu);
}

static bool stopping(void)
{
	pthread_mutex_lock(&g_mu);
	bool s = g_stopping;
	pthread_mutex_unlock(&g_mu);
	return s;
}

/* ---- watching it --------------------------------------------------------------- */

/* How the helper ended, and what it said. */
typedef struct outcome {
	char *ans; /* the answer pipe, up to FL_INSPECT_ANSWER_MAX bytes (fl_try_*: its size is the helper's choice) */
	size_t nans, capans;
	char out[OUT_KEEP + 1];
	size_t nout;
	bool timed_out, over_memory, too_large, no_memory, canceled;
	int status;         /* wait status */
	int64_t peak_bytes; /* the most memory seen: sampled VmSize, else peak RSS */
	int64_t elapsed_ms;
} outcome;

/* The helper's address space and resident memory in bytes (0 when gone). */
static void sample_memory(pid_t pid, int64_t *vm, int64_t *rss)
{
	char path[64], buf[128];
	*vm = *rss = 0;
	snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return;
	buf[n] = 0;
	long long pages_vm = 0, pages_rss = 0;
	if (sscanf(buf, "%lld %lld", &pages_vm, &pages_rss) != 2) return;
	long page = sysconf(_SC_PAGESIZE);
	*vm = pages_vm * page;
	*rss = pages_rss * page;
}

/* Read what is there (non-blocking); false at the pipe's end or error. */
static bool drain(int fd, outcome *oc, bool answer)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) return errno == EAGAIN;
		if (n == 0) return false;
		if (answer) {
			if (oc->nans + (size_t)n > FL_INSPECT_ANSWER_MAX) {
				oc->too_large = true;
				return false;
			}
			if (oc->nans + (size_t)n > oc->capans) {
				size_t cap = FL_MAX(oc->capans * 2, oc->nans + (size_t)n);
				char *grown = fl_try_realloc(oc->ans, cap);
				if (!grown) {
					oc->no_memory = true;
					return false;
				}
				oc->ans = grown;
				oc->capans = cap;
			}
			memcpy(oc->ans + oc->nans, buf, (size_t)n);
			oc->nans += (size_t)n;
		} else if (oc->nout < OUT_KEEP) {
			size_t k = FL_MIN((size_t)n, OUT_KEEP - oc->nout);
			memcpy(oc->out + oc->nout, buf, k);
			oc->nout += k;
		}
	}
}

/* Has the helper exited? (It stays a zombie, so its pid and process
 * group cannot be reused before we killed the group and reaped it.) A
 * process that ignores SIGCHLD has its children reaped by the kernel:
 * ECHILD then means gone too. */
static bool exited(const helper *h)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
	return si.si_pid == h->pid;
}

/* Feed the request, collect the answer and output, enforce the deadline
 * and the memory limit, until the helper exits; then kill what is left of
 * its process group and reap it. Every descriptor of h is closed after. */
static void watch(const fl_inspect_opts *o, helper *h, const char *req, size_t reqlen, outcome *oc)
{
	int64_t start = fl_mono_ns() / 1000000, deadline = start + o->timeout_ms;
	size_t off = 0;
	bool killed = false;
	for (;;) {
		struct pollfd pf[4];
		int n = 0, iin = -1, ians = -1, iout = -1;
		if (h->in >= 0) iin = n, pf[n++] = (struct pollfd){ .fd = h->in, .events = POLLOUT };
		if (h->ans >= 0) ians = n, pf[n++] = (struct pollfd){ .fd = h->ans, .events = POLLIN };
		if (h->out >= 0) iout = n, pf[n++] = (struct pollfd){ .fd = h->out, .events = POLLIN };
		if (h->pidfd >= 0) pf[n++] = (struct pollfd){ .fd = h->pidfd, .events = POLLIN };
		int64_t now = fl_mono_ns() / 1000000;
		int wait = (int)FL_MIN((int64_t)TICK_MS, FL_MAX(deadline - now, (int64_t)0));
		if (poll(pf, (nfds_t)n, killed ? TICK_MS : wait) < 0 && errno != EINTR) break;
		if (iin >= 0 && pf[iin].revents) {
			ssize_t w = write(h->in, req + off, reqlen - off);
			if (w > 0) off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == reqlen) close_fd(&h->in);
		}
		if (ians >= 0 && pf[ians].revents && !drain(h->ans, oc, true)) close_fd(&h->ans);
		if (iout >= 0 && pf[iout].revents && !drain(h->out, oc, false)) close_fd(&h->out);
		if (exited(h)) break;
		int64_t vm, rss;
		sample_memory(h->pid, &vm, &rss);
		oc->peak_bytes = FL_MAX(oc->peak_bytes, vm);
		now = fl_mono_ns() / 1000000;
		bool refused = oc->too_large || oc->no_memory;
		if (!killed && (refused || now >= deadline || (SANITIZED && rss > o->memory_bytes))) {
			oc->timed_out = !refused && now >= deadline;
			oc->over_memory = !refused && !oc->timed_out;
			kill(-h->pid, SIGKILL);
			killed = true;
		}
	}
	/* Whatever the helper started in its group goes with it. */
	kill(-h->pid, SIGKILL);
	oc->canceled = running_remove(h);
	if (h->ans >= 0) drain(h->ans, oc, true);
	if (h->out >= 0) drain(h->out, oc, false);
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	while (wait4(h->pid, &oc->status, 0, &ru) < 0) {
		if (errno != EINTR) {
			/* Reaped by the kernel (the caller ignores SIGCHLD): how
			 * it ended is lost; the answer, if any, decides. */
			oc->status = 0;
			break;
		}
	}
	oc->peak_bytes = FL_MAX(oc->peak_bytes, (int64_t)ru.ru_maxrss * 1024);
	oc->elapsed_ms = fl_mono_ns() / 1000000 - start;
	close_fd(&h->in);
	close_fd(&h->ans);
	close_fd(&h->out);
	close_fd(&h->pidfd);
}

/* ---- the verdict --------------------------------------------------------------- */

/* "the plugin's build()" etc.: who ran when the helper ended. */
static const char *culprit(const char *stage)
{
	if (!strcmp(stage, "load")) return "the plugin's constructor";
	if (!strcmp(stage, "build")) return "the plugin's build()";
	return "the inspection helper";
}

/* "10 s" or "1500 ms". */
static void duration_text(int64_t ms, char *buf, size_t cap)
{
	if (ms % 1000 == 0)
		snprintf(buf, cap, "%lld s", (long long)(ms / 1000));
	else
		snprintf(buf, cap, "%lld ms", (long long)ms);
}

/* The answer pipe's lines: the last stage named into stage (16 bytes),
 * the answer object into *answer (a new reference), or why the lines are
 * malformed. */
static bool parse_lines(const outcome *oc, char *stage, json_t **answer, char *why, size_t whycap)
{
	*answer = NULL;
	const char *p = oc->ans ? oc->ans : "", *end = p + oc->nans;
	for (int no = 1; p < end; no++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) return snprintf(why, whycap, "line %d has no end", no), false;
		json_error_t je;
		json_t *line = json_loadb(p, (size_t)(nl - p), 0, &je);
		const char *s = json_string_value(json_object_get(line, "stage"));
		json_t *a = json_object_get(line, "answer");
		bool ok = line && json_object_size(line) == 1 && !*answer && (s || a);
		if (ok && s) {
			if (strcmp(s, "check") && strcmp(s, "load") && strcmp(s, "build"))
				ok = false;
			else
				snprintf(stage, 16, "%s", s);
		} else if (ok) {
			*answer = json_incref(a);
		}
		json_decref(line);
		if (!ok) {
			json_decref(*answer);
			*answer = NULL;
			return snprintf(why, whycap, "line %d is neither a stage nor the one answer", no),
			       false;
		}
		p = nl + 1;
	}
	return true;
}

/* What happened, as fl_inspect_run returns it. */
static int verdict(const fl_inspect_opts *o, const char *display, const outcome *oc, fl_inspection **out,
		   char *err, size_t errcap)
{
	char stage[16] = "start", why[512] = "", d[32];
	json_t *answer = NULL;
	bool lines_ok = parse_lines(oc, stage, &answer, why, sizeof why);
	bool clean_exit = WIFEXITED(oc->status) && WEXITSTATUS(oc->status) == 0;
	int rc;
	const char *who = culprit(stage);
	/* Past three quarters of the address space limit and dead: the limit
	 * did it (the allocation that failed may have ended in abort() or a
	 * NULL access). Sanitizer builds have no such limit (and a huge
	 * address space): there only the parent's kill says so. */
	bool memory = oc->over_memory ||
		(!SANITIZED && !clean_exit && !oc->timed_out && oc->peak_bytes >= o->memory_bytes / 4 * 3);
	if (oc->canceled) {
		rc = fl_errf(err, errcap, FLINC_ECANCELED,
			     "%s: the inspection was canceled: the program is stopping", display);
	} else if (oc->no_memory) {
		rc = fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory for the inspection's answer",
			     display);
	} else if (oc->too_large) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: the inspection's answer is larger than %u bytes", display,
			     FL_INSPECT_ANSWER_MAX);
	} else if (oc->timed_out) {
		duration_text(o->timeout_ms, d, sizeof d);
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: %s did not finish within %s (jobmanager.plugin-inspection.timeout)",
			     display, who, d);
	} else if (memory) {
		rc = fl_errf(
			err, errcap, FLINC_EPLUGIN,
			"%s: %s exceeded the memory limit (%lld MB, jobmanager.plugin-inspection.memory)",
			display, who, (long long)(o->memory_bytes >> 20));
	} else if (WIFSIGNALED(oc->status)) {
		int sig = WTERMSIG(oc->status);
		const char *name = sigabbrev_np(sig);
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: %s killed the inspection with SIG%s", display,
			     who, name ? name : "?");
	} else if (clean_exit && !lines_ok) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: the inspection's answer is malformed: %s",
			     display, why);
	} else if (!clean_exit || !answer) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: %s ended the inspection (exit status %d) without an answer", display, who,
			     WIFEXITED(oc->status) ? WEXITSTATUS(oc->status) : -1);
	} else {
		rc = fl_inspect_decode(answer, o->build, out, why, sizeof why);
		if (rc == FLINC_EPROTO)
			rc = fl_errf(err, errcap, FLINC_EPLUGIN,
				     "%s: the inspection's answer is malformed: %s", display, why);
		else if (rc == FLINC_EGRAPH)
			fl_errf(err, errcap, rc, "%s: invalid job: %s%s%s", display, why,
				(*out)->usage ? "; usage: " : "", (*out)->usage ? (*out)->usage : "");
		else if (rc != FLINC_OK)
			fl_errf(err, errcap, rc, "%s: %s", display, why);
	}
	json_decref(answer);
	return rc;
}

/* ---- the door ------------------------------------------------------------------- */

/* The request for the helper (inspect_helper.c), malloc'ed. */
static char *request_doc(const fl_inspect_opts *o, const char *path, const char *display, int argc,
			 char **argv)
{
	json_t *av = json_array(), *conf = json_array();
	for (int i = 0; i < argc; i++) json_array_append_new(av, json_string(argv[i] ? argv[i] : ""));
	for (size_t i = 0; o->conf && i < fl_conf_count(o->conf); i++) {
		const char *k, *v;
		fl_conf_at(o->conf, i, &k, &v);
		json_array_append_new(conf, json_pack("[s, s]", k, v));
	}
	json_t *doc =
		json_pack("{s:i, s:s, s:s, s:b, s:i, s:o, s:o}", "v", 1, "path", path, "display", display,
			  "build", o->build, "parallelism", o->parallelism, "argv", av, "conf", conf);
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return s;
}

/* err = "display: rest of a runtime message about path". */
static int renamed(int rc, const char *msg, const char *path, const char *display, char *err, size_t errcap)
{
	size_t n = strlen(path);
	if (!strncmp(msg, path, n) && msg[n] == ':') msg += n + 1;
	while (*msg == ' ') msg++;
	return fl_errf(err, errcap, rc, "%s: %s", display, msg);
}

int fl_inspect_run(const fl_inspect_opts *opts, const char *path, int argc, char **argv, fl_inspection **out,
		   char *err, size_t errcap)
{
	*out = NULL;
	fl_inspect_opts o = *opts;
	if (o.timeout_ms <= 0) o.timeout_ms = INSPECT_TIMEOUT_MS;
	if (o.memory_bytes <= 0) o.memory_bytes = INSPECT_MEMORY;
	if (o.parallelism < 1) o.parallelism = 1;
	if (o.diag && o.diagcap) o.diag[0] = 0;
	const char *display = o.display && *o.display ? o.display : path;
	char e2[1024];
	if (stopping())
		return fl_errf(err, errcap, FLINC_ECANCELED, "%s: not inspected: the program is stopping",
			       display);
	/* The cheap refusals here, without a process: not a file, not ELF,
	 * truncated, another machine's. The helper checks again. */
	int rc = fl_plugin_check_elf(path, e2, sizeof e2);
	if (rc != FLINC_OK) return renamed(rc, e2, path, display, err, errcap);
	if (argc < 1 || !argv)
		return fl_errf(err, errcap, FLINC_EINVAL, "%s: no argv[0] for the build", display);
	char *req = request_doc(&o, path, display, argc, argv);
	if (!req)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "%s: the job's arguments or configuration are not UTF-8", display);

	/* A helper that dies before reading its request makes our write fail
	 * with EPIPE and raise SIGPIPE at this thread: keep it blocked here,
	 * and take a pending one back before unblocking. */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	helper h = { .pid = -1, .in = -1, .ans = -1, .out = -1, .pidfd = -1 };
	rc = spawn(&o, &h, err, errcap);
	if (rc == FLINC_OK) {
		outcome oc;
		memset(&oc, 0, sizeof oc);
		running_add(&h);
		watch(&o, &h, req, strlen(req), &oc);
		rc = verdict(&o, display, &oc, out, err, errcap);
		if (*out) (*out)->elapsed_ms = oc.elapsed_ms;
		if (o.diag && o.diagcap && rc != FLINC_OK && rc != FLINC_EGRAPH && oc.nout) {
			oc.out[oc.nout] = 0;
			char *c = fl_inspect_clean(oc.out, OUT_KEEP);
			snprintf(o.diag, o.diagcap, "%s", c);
			free(c);
		}
		free(oc.ans);
	}
	if (!sigismember(&old, SIGPIPE)) {
		struct timespec zero = { 0, 0 };
		while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE) {
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	free(req);
	return rc;
}
