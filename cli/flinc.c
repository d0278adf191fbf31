/*
 * flinc - the command-line client.
 *
 * Commands that need no cluster: `local` (run a job in this process) and
 * `info` (print a job's graph). Cluster commands talk to a job manager's
 * REST API (rest_client.h): `run`, `list`, `cancel`, `stop`, `savepoint`.
 * `config` prints the configuration a daemon would see (for scripts).
 * Exit status: 0 success, 1 the job or request failed, 2 usage error; every
 * error is one line on stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fl_conf_keys.h"
#include "fl_runtime.h"
#include "fl_store.h"
#include "fl_tls.h"
#include "rest_client.h"

#define EXIT_USAGE 2

static const char *usage_text =
	"usage: flinc [-m HOST:PORT] [--token T] COMMAND ...\n"
	"\n"
	"commands on a cluster (a job manager's REST API):\n"
	"  run [-p N] [-d] [-s SAVEPOINT] [--allow-non-restored-state] [-D key=value]... JOB.so [job args]\n"
	"        upload the plugin and start the job; without -d, follow it until it ends\n"
	"  list [-a]\n"
	"        running jobs (with -a, all jobs): id, name, state, start time\n"
	"  cancel JOBID\n"
	"        cancel a job and wait until it is CANCELED\n"
	"  stop [--savepoint-path DIR] JOBID\n"
	"        stop a job with a savepoint and print its path\n"
	"  savepoint JOBID [DIR]    trigger a savepoint and print its path\n"
	"  savepoint -d PATH        dispose of a savepoint\n"
	"\n"
	"commands without a cluster:\n"
	"  local [-p N] [-s PATH [--allow-non-restored-state]] [-D key=value]... [--config FILE] JOB.so [job args]\n"
	"        run the job in this process (a mini cluster; no daemons needed), from a\n"
	"        savepoint or checkpoint folder with -s\n"
	"  info [-p N] [-D key=value]... [--config FILE] JOB.so [job args]\n"
	"        print the job graph as JSON without running it\n"
	"  config get KEY [--config FILE] [-D key=value]...\n"
	"        print a key's effective value: its last -D, else the file's, else its default\n"
	"  config list [--config FILE] [-D key=value]...\n"
	"        every key that has a value, as 'key: value' lines sorted by key\n"
	"\n"
	"options:\n"
	"  -m HOST:PORT   the job manager's REST address (default: $FLINC_JOBMANAGER, else 127.0.0.1:8081);\n"
	"                 https://HOST:PORT for a REST API with TLS (security.ssl.rest.enabled)\n"
	"  --token T      send Authorization: Bearer T (default: $FLINC_TOKEN)\n"
	"  --cacert FILE  https: trust the CA certificates in this PEM file (security.ssl.rest.truststore)\n"
	"  --config FILE  (before a cluster command) take the address, token and TLS settings from its\n"
	"                 rest.* and security.ssl.* keys\n"
	"  -h, --help     this help; `flinc COMMAND --help` for one command\n"
	"  --version      print the version\n"
	"\n"
	"Docs: docs/cli.md.\n";

/* Cluster options of `flinc [-m HOST:PORT] [--token T]` (also accepted
 * among a cluster command's own options). */
static const char *g_address;
static const char *g_token;
static const char *g_config; /* --config FILE: rest.* defaults for the cluster commands */
static const char *g_cacert; /* --cacert FILE: the CA of an https REST API */
static fl_tls *g_tls;        /* TLS for REST, when https */

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
	const char *restore; /* local: -s PATH */
	bool allow_non_restored;
	fl_conf *conf;
	const char *plugin;
	int argc; /* job args, argv[0] = plugin path */
	char **argv;
} job_opts;

/* A warning about a configuration file (fl_conf_check). */
static void config_warning(void *ud, const char *line)
{
	fprintf(stderr, "flinc: warning: config %s: %s\n", (const char *)ud, line);
}

/* Parse [-p N] [-D k=v] [--config F] JOB.so [args]; options stop at the
 * plugin path, everything after belongs to the job. */
static void parse_job_opts(const char *cmd, int argc, char **argv, job_opts *o)
{
	o->parallelism = 0;
	o->restore = NULL;
	o->allow_non_restored = false;
	o->conf = fl_conf_create();
	bool local = !strcmp(cmd, "local");
	const char *config_file = g_config; /* `flinc --config F local ...` too */
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc %s [-p N]%s [-D key=value]... [--config FILE] JOB.so [job args]\n",
			       cmd, local ? " [-s PATH [--allow-non-restored-state]]" : "");
			if (local)
				printf("  -s PATH  start from a savepoint or a checkpoint folder (chk-<n>)\n"
				       "  --allow-non-restored-state  skip state of operators the job does not have\n"
				       "  checkpoints: -D state.checkpoints.dir=DIR -D execution.checkpointing.interval=10s\n");
			exit(0);
		} else if (local && (!strcmp(a, "-s") || !strcmp(a, "--fromSavepoint"))) {
			if (++i >= argc) usage_error("%s: -s needs a savepoint or checkpoint path", cmd);
			o->restore = argv[i];
		} else if (local && (!strcmp(a, "-n") || !strcmp(a, "--allow-non-restored-state"))) {
			o->allow_non_restored = true;
		} else if (!strcmp(a, "-p") || !strcmp(a, "--parallelism")) {
			if (++i >= argc) usage_error("%s: -p needs a number", cmd);
			char *end;
			long p = strtol(argv[i], &end, 10);
			if (*end || p < 1 || p > 32768)
				usage_error("%s: -p '%s' is not a parallelism from 1 to 32768", cmd, argv[i]);
			o->parallelism = (int)p;
		} else if (!strcmp(a, "-D")) {
			if (++i >= argc) usage_error("%s: -D needs key=value", cmd);
			if (fl_conf_set_kv(o->conf, argv[i]) != FLINC_OK)
				usage_error("%s: -D '%s' is not key=value", cmd, argv[i]);
		} else if (!strncmp(a, "-D", 2)) {
			if (fl_conf_set_kv(o->conf, a + 2) != FLINC_OK)
				usage_error("%s: '%s' is not -Dkey=value", cmd, a);
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
	char msg[512];
	/* -D: an unknown key or a bad value is a usage error, before the job
	 * is loaded (and before its output folder exists). */
	if (fl_conf_check(o->conf, 0, NULL, NULL, msg, sizeof msg) != FLINC_OK) {
		fprintf(stderr, "flinc: %s: -D: %s\n", cmd, msg);
		exit(EXIT_USAGE);
	}
	if (config_file) {
		/* The file first, then -D on top of it. */
		fl_conf *file = fl_conf_create();
		if (fl_conf_load(file, config_file, msg, sizeof msg) != FLINC_OK) {
			fprintf(stderr, "flinc: %s\n", msg);
			exit(EXIT_USAGE);
		}
		/* Unknown keys in a file are warnings: a newer file still loads. */
		if (fl_conf_check(file, FL_CONF_CHECK_LENIENT, config_warning, (void *)config_file, msg,
				  sizeof msg) != FLINC_OK) {
			fprintf(stderr, "flinc: config %s: %s\n", config_file, msg);
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
		if (!ok || o->parallelism < 1)
			usage_error("%s: parallelism.default must be a number >= 1", cmd);
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

/* `flinc info`: the graph built in a plugin inspection helper
 * (fl_inspect_run), so a plugin that crashes, exits or hangs costs one
 * line and exit 1, never this process; the keys
 * jobmanager.plugin-inspection.* of -D/--config bound it. */
static int cmd_info(int argc, char **argv)
{
	job_opts o;
	parse_job_opts("info", argc, argv, &o);
	fl_inspect_opts io = { 0 };
	char err[2048];
	if (fl_inspect_opts_read(o.conf, &io, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, "flinc: info: %s\n", err);
		exit(EXIT_USAGE);
	}
	io.build = true;
	io.conf = o.conf;
	io.parallelism = o.parallelism;
	io.display = o.plugin;
	fl_inspection *in = NULL;
	int rc = fl_inspect_run(&io, o.plugin, o.argc, o.argv, &in, err, sizeof err);
	if (rc != FLINC_OK) {
		fprintf(stderr, "flinc: %s\n", err);
		fl_inspection_free(in);
		fl_conf_destroy(o.conf);
		return 1;
	}
	/* {"name":...,"vertices":[...],"edges":[...],"plan":{...}} */
	const char *graph = in->job->graph_json;
	size_t n = strlen(graph);
	printf("%.*s,\"plan\":%s}\n", (int)(n - 1), graph, in->job->plan_json);
	fl_inspection_free(in);
	fl_conf_destroy(o.conf);
	return 0;
}

/* SIGINT/SIGTERM cancel the job cleanly from a thread of their own. */
typedef struct sig_watch {
	fl_local *job;
	sigset_t set;
} sig_watch;

static void *sig_thread(void *arg)
{
	sig_watch *w = arg;
	int sig;
	if (sigwait(&w->set, &sig) == 0 && sig != SIGUSR1) {
		fprintf(stderr, "flinc: %s: canceling the job\n", strsignal(sig));
		fl_local_cancel(w->job);
	}
	return NULL;
}

static int cmd_local(int argc, char **argv)
{
	job_opts o;
	parse_job_opts("local", argc, argv, &o);
	/* One process runs every subtask: its managed memory is divided over
	 * as many slots as the job's parallelism (docs/state.md). */
	if (!fl_conf_get(o.conf, "taskmanager.numberOfTaskSlots")) {
		char slots[16];
		snprintf(slots, sizeof slots, "%d", o.parallelism);
		fl_conf_set(o.conf, "taskmanager.numberOfTaskSlots", slots);
	}
	/* a restored job keeps its snapshot's key hash (docs/savepoints.md) */
	if (o.restore) {
		fl_remote_init(o.conf, NULL, 0); /* s3.* keys, for an s3:// PATH */
		fl_restore_adopt_key_hash(o.conf, o.restore);
	}
	fl_plugin *pl;
	flinc_env *e = load_job(&o, &pl);
	char err[1024];
	fl_local *job;
	fl_local_params lp = {
		.env = e, .conf = o.conf, .restore = o.restore, .allow_non_restored = o.allow_non_restored
	};
	if (fl_local_create(&lp, &job, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, "flinc: %s\n", err);
		fl_env_destroy(e);
		fl_plugin_close(pl);
		fl_conf_destroy(o.conf);
		return 1;
	}
	sig_watch w = { .job = job };
	sigemptyset(&w.set);
	sigaddset(&w.set, SIGINT);
	sigaddset(&w.set, SIGTERM);
	sigaddset(&w.set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &w.set, NULL);
	pthread_t st;
	pthread_create(&st, NULL, sig_thread, &w);

	const char *name = fl_env_job_name(e);
	fl_log(FL_LOG_INFO, "local", "running job '%s' (%s) at parallelism %d", name, o.plugin,
	       o.parallelism);
	fl_run_stats stats;
	int rc = fl_local_run(job, &stats, err, sizeof err);
	pthread_kill(st, SIGUSR1);
	pthread_join(st, NULL);
	if (rc == FLINC_OK) {
		fl_log(FL_LOG_INFO, "local",
		       "job '%s' FINISHED in %.3f s: %llu source records (%.0f/s), %llu sink records, %llu rejected, "
		       "%llu dead letters, %llu late dropped",
		       name, stats.seconds, (unsigned long long)stats.source_records,
		       stats.seconds > 0 ? (double)stats.source_records / stats.seconds : 0.0,
		       (unsigned long long)stats.sink_records, (unsigned long long)stats.rejected,
		       (unsigned long long)stats.dead_letters, (unsigned long long)stats.late_dropped);
		if (stats.latency.count)
			fl_log(FL_LOG_INFO, "local",
			       "job '%s' latency (markers, source to sink): p50 %.3f ms, p99 %.3f ms over %llu markers",
			       name, fl_lat_quantile_ms(stats.latency.b, 0.5),
			       fl_lat_quantile_ms(stats.latency.b, 0.99),
			       (unsigned long long)stats.latency.count);
	} else {
		fprintf(stderr, "flinc: job '%s' %s: %s\n", name,
			rc == FLINC_ECANCELED ? "CANCELED" : "FAILED", err);
	}
	fl_local_destroy(job);
	fl_env_destroy(e);
	fl_plugin_close(pl);
	fl_conf_destroy(o.conf);
	return rc == FLINC_OK ? 0 : 1;
}

/* ==== cluster commands ================================================== */

#define WATCH_INTERVAL_MS 200  /* how often `run` and `cancel` poll a job */
#define LOST_JM_GRACE_MS 15000 /* how long `run` keeps trying a vanished job manager */
#define CANCEL_WAIT_MS 30000   /* how long `cancel` waits for CANCELED */
#define SAVEPOINT_WAIT_MS 3600000

static volatile sig_atomic_t g_interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	g_interrupted = 1;
}

/* SIGINT/SIGTERM end a wait loop (not the job): no SA_RESTART, so a sleep
 * returns at once. */
static void catch_interrupts(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* -m/--token given among a command's options; true when consumed. */
static bool cluster_option(const char *cmd, int argc, char **argv, int *i)
{
	const char *a = argv[*i];
	if (!strcmp(a, "-m") || !strcmp(a, "--jobmanager")) {
		if (++*i >= argc) usage_error("%s%s%s needs HOST:PORT", cmd, *cmd ? ": " : "", a);
		g_address = argv[*i];
		return true;
	}
	if (!strcmp(a, "--token")) {
		if (++*i >= argc) usage_error("%s%s--token needs a value", cmd, *cmd ? ": " : "");
		g_token = argv[*i];
		return true;
	}
	if (!strcmp(a, "--config")) {
		if (++*i >= argc) usage_error("%s%s--config needs a file", cmd, *cmd ? ": " : "");
		g_config = argv[*i];
		return true;
	}
	if (!strcmp(a, "--cacert")) {
		if (++*i >= argc) usage_error("%s%s--cacert needs a PEM file", cmd, *cmd ? ": " : "");
		g_cacert = argv[*i];
		return true;
	}
	return false;
}

/* The REST address and token a configuration file gives a client:
 * rest.bind-address (a wildcard means this host) and rest.port, and
 * rest.auth.token. A file that does not load is a usage error. */
static void config_defaults(char *addr, size_t addrcap, char *token, size_t tokcap)
{
	addr[0] = token[0] = 0;
	if (!g_config) return;
	fl_conf *c = fl_conf_create();
	char msg[512];
	if (fl_conf_load(c, g_config, msg, sizeof msg) != FLINC_OK) {
		fl_conf_destroy(c);
		usage_error("%s", msg);
	}
	const char *host = fl_conf_get(c, "rest.bind-address");
	const char *port = fl_conf_get(c, "rest.port");
	if (host || port) {
		if (!host || !*host || !strcmp(host, "0.0.0.0")) host = "127.0.0.1";
		if (!strcmp(host, "::") || !strcmp(host, "[::]")) host = "::1";
		bool v6 = strchr(host, ':') && host[0] != '[';
		snprintf(addr, addrcap, "%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
			 port && *port ? port : "8081");
	}
	const char *tok = fl_conf_get(c, "rest.auth.token");
	if (tok) snprintf(token, tokcap, "%s", tok);
	fl_conf_destroy(c);
}

static void free_tls(void) { fl_tls_destroy(g_tls); }

/* TLS for the client r when its address is https:// or the --config file
 * turns security.ssl.rest.enabled on: the truststore of --cacert, else of
 * the file (security.ssl.rest.truststore, security.ssl.truststore), and a
 * client certificate when the file asks for one. A setting that does not
 * load is a usage error. */
static void rest_tls(fl_rest *r)
{
	if (g_tls) {
		fl_rest_set_tls(r, g_tls);
		return;
	}
	fl_conf *c = fl_conf_create();
	char msg[512];
	if (g_config && fl_conf_load(c, g_config, msg, sizeof msg) != FLINC_OK) {
		fl_conf_destroy(c);
		usage_error("%s", msg);
	}
	if (g_cacert) fl_conf_set(c, "security.ssl.rest.truststore", g_cacert);
	if (fl_rest_https(r) || g_cacert) fl_conf_set(c, "security.ssl.rest.enabled", "true");
	int rc = fl_tls_create(c, FL_TLS_REST_CLIENT, &g_tls, msg, sizeof msg);
	fl_conf_destroy(c);
	if (rc != FLINC_OK) usage_error("%s", msg);
	if (!g_tls) return;
	atexit(free_tls);
	fl_rest_set_tls(r, g_tls);
}

/* A client for the job manager of -m, else $FLINC_JOBMANAGER, else the
 * --config file's rest.* keys, else 127.0.0.1:8081 (the token likewise:
 * --token, $FLINC_TOKEN, rest.auth.token). A malformed address is a usage
 * error. */
static fl_rest *jobmanager(void)
{
	char conf_addr[300], conf_token[512];
	config_defaults(conf_addr, sizeof conf_addr, conf_token, sizeof conf_token);
	const char *addr = g_address;
	if (!addr || !*addr) addr = getenv("FLINC_JOBMANAGER");
	if (!addr || !*addr) addr = conf_addr;
	if (!*addr) addr = FL_REST_DEFAULT_ADDRESS;
	const char *token = g_token ? g_token : getenv("FLINC_TOKEN");
	if (!token && *conf_token) token = conf_token;
	fl_rest *r;
	char err[512];
	if (fl_rest_create(addr, token, &r, err, sizeof err) != FLINC_OK) usage_error("%s", err);
	rest_tls(r);
	return r;
}

/* One error line for a failed call: transport errors speak for themselves
 * ("cannot reach the job manager at ..."); a refusal gets `what` before the
 * job manager's message. */
static int fail_call(int rc, const char *what, const char *err)
{
	if (rc == FLINC_EINVAL && what)
		fprintf(stderr, "flinc: %s: %s\n", what, err);
	else
		fprintf(stderr, "flinc: %s\n", err);
	return 1;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

static long long jint(json_t *o, const char *key, long long def)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v)) return (long long)json_integer_value(v);
	if (json_is_real(v)) return (long long)json_real_value(v);
	return def;
}

static bool terminal_state(const char *s)
{
	return !strcmp(s, "FINISHED") || !strcmp(s, "FAILED") || !strcmp(s, "CANCELED");
}

/* Local wall-clock time of an epoch-ms timestamp, or "-". */
static const char *format_time(long long ms, char *buf, size_t cap)
{
	if (ms <= 0) {
		snprintf(buf, cap, "-");
		return buf;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *clock_now(char *buf, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	localtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, cap, "%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03ld", ts.tv_nsec / 1000000);
	return buf;
}

/* The first line of the job's root exception (GET /jobs/:jid/exceptions),
 * or "" when it has none. Returns a malloc'd string. */
static char *root_exception(fl_rest *r, const char *jid_esc)
{
	char path[256], err[512];
	snprintf(path, sizeof path, "/jobs/%s/exceptions", jid_esc);
	json_t *ex = NULL;
	if (fl_rest_json(r, "GET", path, NULL, &ex, NULL, err, sizeof err) != FLINC_OK) return fl_strdup("");
	const char *root = jstr(ex, "root-exception");
	if (!*root) {
		/* Flink's newer shape: exceptionHistory.entries[0] */
		json_t *e = json_array_get(
			json_object_get(json_object_get(ex, "exceptionHistory"), "entries"), 0);
		root = jstr(e, "stacktrace");
		if (!*root) root = jstr(e, "exceptionName");
	}
	if (!*root) root = jstr(json_array_get(json_object_get(ex, "all-exceptions"), 0), "exception");
	char *out = fl_strndup(root, strcspn(root, "\r\n"));
	json_decref(ex);
	return out;
}

/* Follow a job until it ends, printing its state and its vertices' status
 * whenever they change. 0 when it FINISHED, 1 otherwise. */
static int watch_job(fl_rest *r, const char *jid)
{
	char esc[200], path[256], err[512], now[32];
	fl_rest_escape(jid, esc, sizeof esc);
	snprintf(path, sizeof path, "/jobs/%s", esc);
	char state[32] = "";
	json_t *seen = json_object(); /* vertex id -> last status printed */
	int64_t last_ok = fl_mono_ns() / 1000000;
	int rc = 1;
	catch_interrupts();
	for (;;) {
		if (g_interrupted) {
			fprintf(stderr,
				"flinc: no longer following job %s; it keeps running (flinc cancel %s ends it)\n",
				jid, jid);
			break;
		}
		json_t *job = NULL;
		int status = 0;
		int c = fl_rest_json(r, "GET", path, NULL, &job, &status, err, sizeof err);
		if (c == FLINC_EIO || c == FLINC_ETIMEDOUT) {
			/* A job manager restarting or briefly overloaded: keep trying. */
			if (fl_mono_ns() / 1000000 - last_ok > LOST_JM_GRACE_MS) {
				fprintf(stderr, "flinc: lost track of job %s: %s\n", jid, err);
				break;
			}
			sleep_ms(WATCH_INTERVAL_MS);
			continue;
		}
		if (c != FLINC_OK) {
			char what[128];
			snprintf(what, sizeof what, "job %s", jid);
			fail_call(c, what, err);
			break;
		}
		last_ok = fl_mono_ns() / 1000000;
		const char *st = jstr(job, "state");
		const char *name = jstr(job, "name");
		if (!*st) {
			fprintf(stderr, "flinc: the job manager's answer to GET %s has no state\n", path);
			json_decref(job);
			break;
		}
		if (strcmp(st, state) && !terminal_state(st)) {
			printf("%s  job %s (%s) %s\n", clock_now(now, sizeof now), jid, name, st);
			snprintf(state, sizeof state, "%s", st);
		}
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(job, "vertices"), i, v)
		{
			const char *vid = jstr(v, "id"), *vst = jstr(v, "status");
			if (!*vst || !strcmp(vst, jstr(seen, vid))) continue;
			if (terminal_state(st) && !strcmp(vst, st)) continue; /* said once below */
			printf("%s    %s (parallelism %lld) %s\n", clock_now(now, sizeof now),
			       jstr(v, "name"), jint(v, "parallelism", 0), vst);
			json_object_set_new(seen, vid, json_string(vst));
		}
		if (terminal_state(st)) {
			long long dur = jint(job, "duration", -1);
			if (!strcmp(st, "FINISHED")) {
				printf("%s  job %s (%s) FINISHED", clock_now(now, sizeof now), jid, name);
				if (dur >= 0) printf(" in %.3f s", dur / 1000.0);
				printf("\n");
				rc = 0;
			} else {
				printf("%s  job %s (%s) %s\n", clock_now(now, sizeof now), jid, name, st);
				fflush(stdout);
				char *root = root_exception(r, esc);
				if (*root)
					fprintf(stderr, "flinc: job %s (%s) %s: %s\n", jid, name, st, root);
				else
					fprintf(stderr, "flinc: job %s (%s) %s\n", jid, name, st);
				free(root);
			}
			json_decref(job);
			break;
		}
		json_decref(job);
		fflush(stdout);
		sleep_ms(WATCH_INTERVAL_MS);
	}
	fflush(stdout);
	json_decref(seen);
	return rc;
}

static void run_help(void)
{
	printf("usage: flinc [-m HOST:PORT] [--token T] run [-p N] [-d] [-s SAVEPOINT] [--allow-non-restored-state]\n"
	       "                 [-D key=value]... JOB.so [job args]\n"
	       "  -p N        parallelism of the job (default: the job manager's parallelism.default)\n"
	       "  -d          detached: print the job id and return (else follow the job until it ends)\n"
	       "  -s PATH     start from a savepoint\n"
	       "  --allow-non-restored-state  skip savepoint state that maps to no operator\n"
	       "  -D k=v      configuration of this job (may repeat)\n"
	       "Job arguments are read by the task managers: give paths they can see (absolute).\n");
}

static int cmd_run(int argc, char **argv)
{
	int parallelism = 0;
	bool detached = false, allow_non_restored = false;
	const char *savepoint = NULL;
	json_t *conf = json_object();
	fl_conf *dconf = fl_conf_create(); /* the -D values, to check them */
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			run_help();
			exit(0);
		} else if (cluster_option("run", argc, argv, &i)) {
		} else if (!strcmp(a, "-p") || !strcmp(a, "--parallelism")) {
			if (++i >= argc) usage_error("run: -p needs a number");
			char *end;
			long p = strtol(argv[i], &end, 10);
			if (*end || p < 1 || p > 32768)
				usage_error("run: -p '%s' is not a parallelism from 1 to 32768", argv[i]);
			parallelism = (int)p;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--detached")) {
			detached = true;
		} else if (!strcmp(a, "-s") || !strcmp(a, "--fromSavepoint")) {
			if (++i >= argc) usage_error("run: -s needs a savepoint path");
			savepoint = argv[i];
		} else if (!strcmp(a, "-n") || !strcmp(a, "--allow-non-restored-state") ||
			   !strcmp(a, "--allowNonRestoredState")) {
			allow_non_restored = true;
		} else if (!strcmp(a, "-D") || !strncmp(a, "-D", 2)) {
			const char *kv = a[2] ? a + 2 : (++i < argc ? argv[i] : NULL);
			if (!kv) usage_error("run: -D needs key=value");
			const char *eq = strchr(kv, '=');
			if (!eq || eq == kv) usage_error("run: -D '%s' is not key=value", kv);
			char *key = fl_strndup(kv, (size_t)(eq - kv));
			json_object_set_new(conf, key, json_string(eq + 1));
			fl_conf_set(dconf, key, eq + 1);
			free(key);
		} else if (a[0] == '-' && a[1]) {
			usage_error("run: unknown option '%s'", a);
		} else {
			break;
		}
	}
	if (i >= argc) usage_error("run: missing JOB.so");
	/* The job manager checks them too; here a typo costs no upload. */
	char msg[512];
	int crc = fl_conf_check(dconf, FL_CONF_CHECK_JOB, NULL, NULL, msg, sizeof msg);
	fl_conf_destroy(dconf);
	if (crc != FLINC_OK) {
		json_decref(conf);
		fprintf(stderr, "flinc: run: -D: %s\n", msg);
		return EXIT_USAGE;
	}
	const char *plugin = argv[i];
	fl_rest *r = jobmanager();
	char err[1024], what[512];
	int rc = 1;
	json_t *up = NULL, *run = NULL, *body = NULL;

	/* 1. the plugin into the job manager's jar store */
	int c = fl_rest_upload(r, "/jars/upload", "jarfile", plugin, &up, NULL, err, sizeof err);
	if (c != FLINC_OK) {
		snprintf(what, sizeof what, "cannot upload %s", plugin);
		rc = fail_call(c, what, err);
		goto out;
	}
	const char *filename = jstr(up, "filename");
	const char *jarid = strrchr(filename, '/');
	jarid = jarid ? jarid + 1 : filename;
	if (!*jarid) {
		fprintf(stderr, "flinc: the job manager's answer to the upload of %s has no file name\n",
			plugin);
		goto out;
	}

	/* 2. run it */
	body = json_object();
	json_t *args = json_array();
	for (int k = i + 1; k < argc; k++) json_array_append_new(args, json_string(argv[k]));
	json_object_set_new(body, "programArgsList", args);
	if (parallelism) json_object_set_new(body, "parallelism", json_integer(parallelism));
	if (savepoint) json_object_set_new(body, "savepointPath", json_string(savepoint));
	json_object_set_new(body, "allowNonRestoredState", json_boolean(allow_non_restored));
	if (json_object_size(conf)) json_object_set(body, "flinkConfiguration", conf);
	char esc[512], path[600];
	snprintf(path, sizeof path, "/jars/%s/run", fl_rest_escape(jarid, esc, sizeof esc));
	c = fl_rest_json(r, "POST", path, body, &run, NULL, err, sizeof err);
	if (c != FLINC_OK) {
		snprintf(what, sizeof what, "cannot run %s", plugin);
		rc = fail_call(c, what, err);
		/* A refused run leaves nothing behind: take our upload back. */
		if (c == FLINC_EINVAL) {
			char derr[256];
			snprintf(path, sizeof path, "/jars/%s", esc);
			fl_rest_json(r, "DELETE", path, NULL, NULL, NULL, derr, sizeof derr);
		}
		goto out;
	}
	const char *jid = jstr(run, "jobid");
	if (!*jid) {
		fprintf(stderr, "flinc: the job manager's answer to running %s has no jobid\n", plugin);
		goto out;
	}
	printf("Job has been submitted with JobID %s\n", jid);
	fflush(stdout);
	rc = detached ? 0 : watch_job(r, jid);
out:
	json_decref(up);
	json_decref(run);
	json_decref(body);
	json_decref(conf);
	fl_rest_destroy(r);
	return rc;
}

/* Jobs of GET /jobs/overview sorted by start time. */
static int by_start(const void *a, const void *b)
{
	long long x = jint(*(json_t *const *)a, "start-time", 0),
		  y = jint(*(json_t *const *)b, "start-time", 0);
	return x < y ? -1 : x > y;
}

static int cmd_list(int argc, char **argv)
{
	bool all = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc [-m HOST:PORT] list [-a]\n"
			       "  lists the running jobs (-r, the default) or, with -a, all jobs the job manager knows\n");
			exit(0);
		} else if (cluster_option("list", argc, argv, &i)) {
		} else if (!strcmp(a, "-a") || !strcmp(a, "--all")) {
			all = true;
		} else if (!strcmp(a, "-r") || !strcmp(a, "--running")) {
			all = false;
		} else {
			usage_error("list: unexpected argument '%s'", a);
		}
	}
	fl_rest *r = jobmanager();
	char err[1024];
	json_t *ov = NULL;
	int c = fl_rest_json(r, "GET", "/jobs/overview", NULL, &ov, NULL, err, sizeof err);
	fl_rest_destroy(r);
	if (c != FLINC_OK) return fail_call(c, "cannot list the jobs", err);
	json_t *jobs = json_object_get(ov, "jobs");
	size_t n = json_array_size(jobs), m = 0;
	json_t **rows = fl_calloc(n ? n : 1, sizeof *rows);
	size_t wname = 4, wstate = 5;
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_array_get(jobs, i);
		if (!all && terminal_state(jstr(j, "state"))) continue;
		rows[m++] = j;
		wname = FL_MAX(wname, strlen(jstr(j, "name")));
		wstate = FL_MAX(wstate, strlen(jstr(j, "state")));
	}
	qsort(rows, m, sizeof *rows, by_start);
	if (!m) {
		printf(all ? "No jobs.\n" : "No running jobs.\n");
	} else {
		printf("%-32s  %-*s  %-*s  %s\n", "JOB ID", (int)wname, "NAME", (int)wstate, "STATE",
		       "START TIME");
		for (size_t i = 0; i < m; i++) {
			char t[64];
			printf("%-32s  %-*s  %-*s  %s\n", jstr(rows[i], "jid"), (int)wname,
			       jstr(rows[i], "name"), (int)wstate, jstr(rows[i], "state"),
			       format_time(jint(rows[i], "start-time", -1), t, sizeof t));
		}
	}
	free(rows);
	json_decref(ov);
	return 0;
}

/* The one JOBID argument of cancel/stop/savepoint (after options). */
static const char *job_id_arg(const char *cmd, int argc, char **argv, int i)
{
	if (i >= argc) usage_error("%s: missing JOBID", cmd);
	if (i + 1 < argc) usage_error("%s: unexpected argument '%s'", cmd, argv[i + 1]);
	if (!*argv[i]) usage_error("%s: the JOBID is empty", cmd);
	return argv[i];
}

static int cmd_cancel(int argc, char **argv)
{
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc [-m HOST:PORT] [--token T] cancel JOBID\n"
			       "  cancels the job and waits (up to %d s) until it is CANCELED\n",
			       CANCEL_WAIT_MS / 1000);
			exit(0);
		} else if (cluster_option("cancel", argc, argv, &i)) {
		} else if (a[0] == '-' && a[1]) {
			usage_error("cancel: unknown option '%s'", a);
		} else {
			break;
		}
	}
	const char *jid = job_id_arg("cancel", argc, argv, i);
	fl_rest *r = jobmanager();
	char esc[200], path[256], err[1024], what[300];
	fl_rest_escape(jid, esc, sizeof esc);
	snprintf(path, sizeof path, "/jobs/%s?mode=cancel", esc);
	snprintf(what, sizeof what, "cannot cancel job %s", jid);
	int rc = 1;
	int c = fl_rest_json(r, "PATCH", path, NULL, NULL, NULL, err, sizeof err);
	if (c != FLINC_OK) {
		rc = fail_call(c, what, err);
		goto out;
	}
	/* The request is accepted; the job is CANCELED once every task ended. */
	snprintf(path, sizeof path, "/jobs/%s", esc);
	catch_interrupts();
	int64_t deadline = fl_mono_ns() / 1000000 + CANCEL_WAIT_MS;
	for (;;) {
		json_t *job = NULL;
		c = fl_rest_json(r, "GET", path, NULL, &job, NULL, err, sizeof err);
		if (c != FLINC_OK) {
			rc = fail_call(c, what, err);
			break;
		}
		const char *st = jstr(job, "state");
		if (!strcmp(st, "CANCELED")) {
			printf("Job %s has been CANCELED.\n", jid);
			json_decref(job);
			rc = 0;
			break;
		}
		if (terminal_state(st)) {
			fprintf(stderr, "flinc: job %s ended %s, not CANCELED\n", jid, st);
			json_decref(job);
			break;
		}
		json_decref(job);
		if (g_interrupted || fl_mono_ns() / 1000000 > deadline) {
			fprintf(stderr, "flinc: job %s is still %s; the job manager is canceling it\n", jid,
				st);
			break;
		}
		sleep_ms(50);
	}
out:
	fl_rest_destroy(r);
	return rc;
}

/* Poll an asynchronous operation (savepoint, stop, disposal) at `path`
 * until it completes. On success *location gets operation.location (may be
 * NULL; malloc'd). */
static int wait_operation(fl_rest *r, const char *path, const char *what, char **location)
{
	char err[1024];
	*location = NULL;
	catch_interrupts();
	int64_t deadline = fl_mono_ns() / 1000000 + SAVEPOINT_WAIT_MS;
	for (;;) {
		json_t *st = NULL;
		int c = fl_rest_json(r, "GET", path, NULL, &st, NULL, err, sizeof err);
		if (c != FLINC_OK) return fail_call(c, what, err);
		const char *id = jstr(json_object_get(st, "status"), "id");
		if (!strcmp(id, "COMPLETED")) {
			json_t *op = json_object_get(st, "operation");
			json_t *cause = json_object_get(op, "failure-cause");
			if (cause && !json_is_null(cause)) {
				const char *msg = json_is_string(cause) ? json_string_value(cause)
									: jstr(cause, "stack-trace");
				if (!*msg) msg = jstr(cause, "class");
				if (!*msg) msg = jstr(cause, "message");
				fprintf(stderr, "flinc: %s: %.*s\n", what, (int)strcspn(msg, "\r\n"), msg);
				json_decref(st);
				return 1;
			}
			const char *loc = jstr(op, "location");
			*location = *loc ? fl_strdup(loc) : NULL;
			json_decref(st);
			return 0;
		}
		json_decref(st);
		if (g_interrupted) {
			fprintf(stderr, "flinc: %s: interrupted; the job manager goes on with it\n", what);
			return 1;
		}
		if (fl_mono_ns() / 1000000 > deadline) {
			fprintf(stderr, "flinc: %s: not done after %d s\n", what, SAVEPOINT_WAIT_MS / 1000);
			return 1;
		}
		sleep_ms(WATCH_INTERVAL_MS);
	}
}

/* POST `body` to `path`, which answers 202 {"request-id"}, then wait for
 * the operation at `poll_fmt` % (request id). */
static int async_operation(fl_rest *r, const char *path, json_t *body, const char *poll_prefix,
			   const char *what, char **location)
{
	char err[1024];
	json_t *ans = NULL;
	*location = NULL;
	int c = fl_rest_json(r, "POST", path, body, &ans, NULL, err, sizeof err);
	if (c != FLINC_OK) return fail_call(c, what, err);
	const char *trig = jstr(ans, "request-id");
	if (!*trig) {
		fprintf(stderr, "flinc: %s: the job manager's answer has no request-id\n", what);
		json_decref(ans);
		return 1;
	}
	char esc[200], poll[512];
	snprintf(poll, sizeof poll, "%s/%s", poll_prefix, fl_rest_escape(trig, esc, sizeof esc));
	json_decref(ans);
	return wait_operation(r, poll, what, location);
}

static int cmd_stop(int argc, char **argv)
{
	const char *dir = NULL;
	bool drain = false;
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc [-m HOST:PORT] [--token T] stop [--savepoint-path DIR] [--drain] JOBID\n"
			       "  stops the job with a savepoint and prints the savepoint's path\n");
			exit(0);
		} else if (cluster_option("stop", argc, argv, &i)) {
		} else if (!strcmp(a, "--savepoint-path") || !strcmp(a, "-p")) {
			if (++i >= argc) usage_error("stop: %s needs a folder", a);
			dir = argv[i];
		} else if (!strcmp(a, "--drain") || !strcmp(a, "-d")) {
			drain = true;
		} else if (a[0] == '-' && a[1]) {
			usage_error("stop: unknown option '%s'", a);
		} else {
			break;
		}
	}
	const char *jid = job_id_arg("stop", argc, argv, i);
	fl_rest *r = jobmanager();
	char esc[200], path[256], prefix[256], what[300];
	fl_rest_escape(jid, esc, sizeof esc);
	snprintf(path, sizeof path, "/jobs/%s/stop", esc);
	snprintf(prefix, sizeof prefix, "/jobs/%s/savepoints", esc);
	snprintf(what, sizeof what, "cannot stop job %s", jid);
	json_t *body = json_object();
	if (dir) json_object_set_new(body, "targetDirectory", json_string(dir));
	json_object_set_new(body, "drain", json_boolean(drain));
	char *loc;
	int rc = async_operation(r, path, body, prefix, what, &loc);
	if (rc == 0) printf("Savepoint completed. Path: %s\n", loc ? loc : "(not given)");
	free(loc);
	json_decref(body);
	fl_rest_destroy(r);
	return rc;
}

static int cmd_savepoint(int argc, char **argv)
{
	const char *dispose = NULL;
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			printf("usage: flinc [-m HOST:PORT] [--token T] savepoint JOBID [DIR]\n"
			       "       flinc [-m HOST:PORT] [--token T] savepoint -d PATH\n"
			       "  triggers a savepoint of a running job and prints its path, or disposes of one\n");
			exit(0);
		} else if (cluster_option("savepoint", argc, argv, &i)) {
		} else if (!strcmp(a, "-d") || !strcmp(a, "--dispose")) {
			if (++i >= argc) usage_error("savepoint: -d needs a savepoint path");
			dispose = argv[i];
		} else if (a[0] == '-' && a[1]) {
			usage_error("savepoint: unknown option '%s'", a);
		} else {
			break;
		}
	}
	fl_rest *r = jobmanager();
	json_t *body = json_object();
	char *loc = NULL;
	int rc;
	if (dispose) {
		if (i < argc) usage_error("savepoint: unexpected argument '%s' after -d PATH", argv[i]);
		char what[600];
		snprintf(what, sizeof what, "cannot dispose of savepoint %s", dispose);
		json_object_set_new(body, "savepoint-path", json_string(dispose));
		rc = async_operation(r, "/savepoint-disposal", body, "/savepoint-disposal", what, &loc);
		if (rc == 0) printf("Savepoint '%s' disposed.\n", dispose);
	} else {
		if (i >= argc) usage_error("savepoint: missing JOBID");
		if (i + 2 < argc) usage_error("savepoint: unexpected argument '%s'", argv[i + 2]);
		const char *jid = argv[i];
		const char *dir = i + 1 < argc ? argv[i + 1] : NULL;
		char esc[200], path[256], what[300];
		fl_rest_escape(jid, esc, sizeof esc);
		snprintf(path, sizeof path, "/jobs/%s/savepoints", esc);
		snprintf(what, sizeof what, "cannot take a savepoint of job %s", jid);
		if (dir) json_object_set_new(body, "target-directory", json_string(dir));
		json_object_set_new(body, "cancel-job", json_false());
		rc = async_operation(r, path, body, path, what, &loc);
		if (rc == 0) printf("Savepoint completed. Path: %s\n", loc ? loc : "(not given)");
	}
	free(loc);
	json_decref(body);
	fl_rest_destroy(r);
	return rc;
}

/* ---- flinc config ------------------------------------------------------
 *
 * `flinc config get KEY` and `flinc config list` read the configuration the
 * way the daemons and `flinc local` do (fl_conf_load for the file, -D on
 * top), so scripts such as deploy/start-cluster.sh never parse flinc.conf
 * themselves. Exit status: 0 a value printed, 1 the key is not set and has
 * no default, 2 a usage error or a file that does not load. */

/* `flinc config --help`. */
static void config_usage(FILE *out)
{
	fputs("usage: flinc config get KEY [--config FILE] [-D key=value]...\n"
	      "       flinc config list [--config FILE] [-D key=value]...\n"
	      "  get   prints KEY's effective value: its last -D, else the file's, else its documented\n"
	      "        default; exit 1 when it has none of them\n"
	      "  list  prints every key that has a value (set or defaulted) as 'key: value', sorted\n"
	      "The file is read as the daemons read it ('#' after white space starts a comment).\n",
	      out);
}

/* The effective configuration: the file (when given), then the -D values
 * in `flags` on top. A file that does not load is one line and exit 2, as
 * for `flinc local --config`. The caller destroys the result. */
static fl_conf *config_effective(const char *file, const fl_conf *flags)
{
	fl_conf *c = fl_conf_create();
	char msg[512];
	if (file && fl_conf_load(c, file, msg, sizeof msg) != FLINC_OK) {
		fprintf(stderr, "flinc: %s\n", msg);
		fl_conf_destroy(c);
		exit(EXIT_USAGE);
	}
	for (size_t i = 0; i < fl_conf_count(flags); i++) {
		const char *k, *v;
		fl_conf_at(flags, i, &k, &v);
		fl_conf_set(c, k, v);
	}
	return c;
}

/* `config get`: the value on stdout, or one line on stderr and 1. */
static int config_get(const fl_conf *c, const char *key)
{
	const char *v = fl_conf_get(c, key);
	const fl_conf_key *d = fl_conf_key_find(key); /* its documented default */
	if (!v && d) v = d->def;
	if (v) {
		printf("%s\n", v);
		return 0;
	}
	if (d)
		fprintf(stderr, "flinc: config: %s is not set and has no fixed default (without it: %s)\n",
			key, d->note);
	else if (fl_conf_key_closest(key))
		fprintf(stderr,
			"flinc: config: %s is not set, and it is not a key flinc knows (did you mean '%s'?)\n",
			key, fl_conf_key_closest(key));
	else
		fprintf(stderr,
			"flinc: config: %s is not set, and it is not a key flinc knows (see docs/config.md)\n",
			key);
	return 1;
}

/* qsort order of key strings (config list). */
static int by_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* `config list`: every key set in c, and every documented default c does
 * not override, as "key: value" lines sorted by key. */
static int config_list(const fl_conf *c)
{
	size_t nk;
	const fl_conf_key *known = fl_conf_keys(&nk);
	size_t n = fl_conf_count(c), cap = n + nk, m = 0;
	const char **keys = fl_calloc(cap, sizeof *keys);
	for (size_t i = 0; i < n; i++) {
		const char *v;
		fl_conf_at(c, i, &keys[m++], &v);
	}
	for (size_t i = 0; i < nk; i++)
		if (known[i].def && !fl_conf_get(c, known[i].key)) keys[m++] = known[i].key;
	qsort(keys, m, sizeof *keys, by_key);
	for (size_t i = 0; i < m; i++) {
		const char *v = fl_conf_get(c, keys[i]);
		printf("%s: %s\n", keys[i], v ? v : fl_conf_key_find(keys[i])->def);
	}
	free(keys);
	return 0;
}

/* flinc config {get KEY | list} [--config FILE] [-D key=value]...: options
 * may come before or after KEY; `flinc --config FILE config ...` too. */
static int cmd_config(int argc, char **argv)
{
	if (argc >= 1 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
		config_usage(stdout);
		return 0;
	}
	if (argc < 1) usage_error("config: missing 'get KEY' or 'list'");
	const char *sub = argv[0];
	bool get = !strcmp(sub, "get");
	if (!get && strcmp(sub, "list")) usage_error("config: unknown subcommand '%s' (get or list)", sub);
	const char *file = g_config; /* `flinc --config F config ...` too */
	const char *key = NULL;
	fl_conf *flags = fl_conf_create();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			config_usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--config")) {
			if (++i >= argc) usage_error("config: --config needs a file");
			file = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			file = a + 9;
		} else if (!strcmp(a, "-D")) {
			if (++i >= argc) usage_error("config: -D needs key=value");
			if (fl_conf_set_kv(flags, argv[i]) != FLINC_OK)
				usage_error("config: -D '%s' is not key=value", argv[i]);
		} else if (!strncmp(a, "-D", 2)) {
			if (fl_conf_set_kv(flags, a + 2) != FLINC_OK)
				usage_error("config: '%s' is not -Dkey=value", a);
		} else if (a[0] == '-' && a[1]) {
			usage_error("config: unknown option '%s'", a);
		} else if (get && !key) {
			if (!*a) usage_error("config get: the KEY is empty");
			key = a;
		} else {
			usage_error("config %s: unexpected argument '%s'", sub, a);
		}
	}
	if (get && !key) usage_error("config get: missing KEY");
	if (file && !*file) usage_error("config: --config needs a file");
	fl_conf *c = config_effective(file, flags);
	fl_conf_destroy(flags);
	int rc = get ? config_get(c, key) : config_list(c);
	fl_conf_destroy(c);
	return rc;
}

int main(int argc, char **argv)
{
	/* The plugin inspection helper of `info` (fl_inspect_run) is this
	 * program run again. */
	if (argc > 1 && !strcmp(argv[1], FL_INSPECT_HELPER_ARG)) return fl_inspect_helper_main(argc, argv);
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
			printf("flinc %s (job ABI %u)\n", FLINC_VERSION, FLINC_ABI_VERSION);
			return 0;
		} else if (cluster_option("", argc, argv, &i)) {
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
	if (!strcmp(cmd, "run")) return cmd_run(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "list")) return cmd_list(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "cancel")) return cmd_cancel(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "stop")) return cmd_stop(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "savepoint")) return cmd_savepoint(argc - i - 1, argv + i + 1);
	if (!strcmp(cmd, "config")) return cmd_config(argc - i - 1, argv + i + 1);
	usage_error("unknown command '%s'", cmd);
}
