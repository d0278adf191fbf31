/*
 * flinc - the command-line client.
 *
 * This build has the commands that need no cluster: `local` (run a job in
 * this process) and `info` (print a job's graph). Exit status: 0 success,
 * 1 the job or request failed, 2 usage error; every error is one line on
 * stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor.h"
#include "graph.h"
#include "plan.h"
#include "plugin.h"
#include "util.h"

#define EXIT_USAGE 2

static const char *usage_text =
	"usage: flinc [-m HOST:PORT] [--token T] COMMAND ...\n"
	"\n"
	"commands:\n"
	"  local [-p N] [-D key=value]... [--config FILE] JOB.so [job args]\n"
	"        run the job in this process (a mini cluster; no daemons needed)\n"
	"  info [-p N] [-D key=value]... [--config FILE] JOB.so [job args]\n"
	"        print the job graph as JSON without running it\n"
	"\n"
	"options:\n"
	"  -h, --help     this help; `flinc COMMAND --help` for one command\n"
	"  --version      print the version\n"
	"\n"
	"The cluster commands (run, list, cancel, stop, savepoint) come with the job\n"
	"manager and are not in this build. Docs: docs/cli.md.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("flinc: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see flinc --help)\n", stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

typedef struct job_opts {
	int parallelism;
	fl_conf *conf;
	const char *plugin;
	int argc; /* job args, argv[0] = plugin path */
	char **argv;
} job_opts;

/* Parse [-p N] [-D k=v] [--config F] JOB.so [args]; options stop at the
 * plugin path, everything after belongs to the job. */
static void parse_job_opts(const char *cmd, int argc, char **argv, job_opts *o)
{
	o->parallelism = 0;
	o->conf = fl_conf_create();
	const char *config_file = NULL;
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc %s [-p N] [-D key=value]... [--config FILE] JOB.so [job args]\n", cmd);
			exit(0);
		} else if (!strcmp(a, "-p") || !strcmp(a, "--parallelism")) {
			if (++i >= argc) usage_error("%s: -p needs a number", cmd);
			char *end;
			long p = strtol(argv[i], &end, 10);
			if (*end || p < 1 || p > 32768) usage_error("%s: -p '%s' is not a parallelism from 1 to 32768", cmd, argv[i]);
			o->parallelism = (int)p;
		} else if (!strcmp(a, "-D")) {
			if (++i >= argc) usage_error("%s: -D needs key=value", cmd);
			if (fl_conf_set_kv(o->conf, argv[i]) != FLINC_OK) usage_error("%s: -D '%s' is not key=value", cmd, argv[i]);
		} else if (!strncmp(a, "-D", 2)) {
			if (fl_conf_set_kv(o->conf, a + 2) != FLINC_OK) usage_error("%s: '%s' is not -Dkey=value", cmd, a);
		} else if (!strcmp(a, "--config")) {
			if (++i >= argc) usage_error("%s: --config needs a file", cmd);
			config_file = argv[i];
		} else if (a[0] == '-' && a[1]) {
			usage_error("%s: unknown option '%s'", cmd, a);
		} else {
			break;
		}
	}
	if (i >= argc) usage_error("%s: missing JOB.so", cmd);
	if (config_file) {
		/* The file first, then -D on top of it. */
		fl_conf *file = fl_conf_create();
		char msg[512];
		if (fl_conf_load(file, config_file, msg, sizeof msg) != FLINC_OK) {
			fprintf(stderr, "flinc: %s\n", msg);
			exit(EXIT_USAGE);
		}
		for (size_t k = 0; k < fl_conf_count(o->conf); k++) {
			const char *key, *val;
			fl_conf_at(o->conf, k, &key, &val);
			fl_conf_set(file, key, val);
		}
		fl_conf_destroy(o->conf);
		o->conf = file;
	}
	if (!o->parallelism) {
		bool ok = true;
		o->parallelism = (int)fl_conf_i64(o->conf, "parallelism.default", 1, &ok);
		if (!ok || o->parallelism < 1) usage_error("%s: parallelism.default must be a number >= 1", cmd);
	}
	o->plugin = argv[i];
	o->argc = argc - i;
	o->argv = argv + i;
}

/* Load the plugin and build its graph; on failure print and exit 1. */
static flinc_env *load_job(job_opts *o, fl_plugin **pl)
{
	char err[1024];
	if (fl_plugin_open(o->plugin, pl, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, "flinc: %s\n", err);
		exit(1);
	}
	const flinc_plugin *entry = fl_plugin_entry(*pl);
	flinc_env *e = fl_env_create(entry->name ? entry->name : o->plugin, o->conf, o->parallelism);
	const char *msg;
	if (fl_env_build(e, entry->build, o->argc, o->argv, &msg) != FLINC_OK) {
		fprintf(stderr, "flinc: %s: invalid job: %s\n", o->plugin, msg);
		if (entry->usage) fprintf(stderr, "flinc: job usage: %s\n", entry->usage);
		exit(1);
	}
	return e;
}

static int cmd_info(int argc, char **argv)
{
	job_opts o;
	parse_job_opts("info", argc, argv, &o);
	fl_plugin *pl;
	flinc_env *e = load_job(&o, &pl);
	char *graph = fl_env_to_json(e);
	fl_plan *plan = fl_plan_create(e);
	char *pj = fl_plan_to_json(plan);
	/* {"name":...,"vertices":[...],"edges":[...],"plan":{...}} */
	graph[strlen(graph) - 1] = 0;
	printf("%s,\"plan\":%s}\n", graph, pj);
	free(pj);
	free(graph);
	fl_plan_destroy(plan);
	fl_env_destroy(e);
	fl_plugin_close(pl);
	fl_conf_destroy(o.conf);
	return 0;
}

/* SIGINT/SIGTERM cancel the job cleanly from a thread of their own. */
typedef struct sig_watch {
	fl_exec *job;
	sigset_t set;
} sig_watch;

static void *sig_thread(void *arg)
{
	sig_watch *w = arg;
	int sig;
	if (sigwait(&w->set, &sig) == 0 && sig != SIGUSR1) {
		fprintf(stderr, "flinc: %s: canceling the job\n", strsignal(sig));
		fl_exec_cancel(w->job);
	}
	return NULL;
}

static int cmd_local(int argc, char **argv)
{
	job_opts o;
	parse_job_opts("local", argc, argv, &o);
	fl_plugin *pl;
	flinc_env *e = load_job(&o, &pl);
	char err[1024];
	fl_exec *job;
	if (fl_exec_create(e, o.conf, NULL, &job, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, "flinc: %s\n", err);
		return 1;
	}
	sig_watch w = {.job = job};
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGINT);
	sigaddset(&w.set, SIGTERM);
	sigaddset(&w.set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &w.set, NULL);
	pthread_t st;
	pthread_create(&st, NULL, sig_thread, &w);

	fl_log(FL_LOG_INFO, "local", "running job '%s' (%s) at parallelism %d", e->job_name, o.plugin, o.parallelism);
	fl_run_stats stats;
	int rc = fl_exec_run(job, &stats, err, sizeof err);
	pthread_kill(st, SIGUSR1);
	pthread_join(st, NULL);
	if (rc == FLINC_OK) {
		fl_log(FL_LOG_INFO, "local",
		       "job '%s' FINISHED in %.3f s: %llu source records (%.0f/s), %llu sink records, %llu rejected, "
		       "%llu late dropped",
		       e->job_name, stats.seconds, (unsigned long long)stats.source_records,
		       stats.seconds > 0 ? (double)stats.source_records / stats.seconds : 0.0,
		       (unsigned long long)stats.sink_records, (unsigned long long)stats.rejected,
		       (unsigned long long)stats.late_dropped);
	} else {
		fprintf(stderr, "flinc: job '%s' %s: %s\n", e->job_name, rc == FLINC_ECANCELED ? "CANCELED" : "FAILED", err);
	}
	fl_exec_destroy(job);
	fl_env_destroy(e);
	fl_plugin_close(pl);
	fl_conf_destroy(o.conf);
	return rc == FLINC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("flinc %s (job ABI %u)\n", FLINC_VERSION, FLINC_ABI_VERSION);
			return 0;
		} else if (!strcmp(a, "-m") || !strcmp(a, "--token")) {
			if (++i >= argc) usage_error("%s needs a value", a);
		} else if (a[0] == '-') {
			usage_error("unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];
	if (!strcmp(cmd, "local")) return cmd_local(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "info")) return cmd_info(argc - i - 1, argv + i + 1);
	usage_error("unknown command '%s'", cmd);
}
