/*
 * main.c - flinc-jobmanager: options, configuration, start and shutdown.
 *
 * Start: configuration (file, then -D on top, then defaults for what is
 * missing), the blob folder, the RPC socket and its threads, the REST
 * server. Then the main thread waits for SIGINT/SIGTERM (blocked in every
 * thread, nng's included, and taken with sigwait) and stops in reverse:
 * REST first (no new work), then RPC (workers joined), then the blob
 * folder. A REST handler still running 5 s after the signal (stuck in a
 * plugin's code, or blocked on a file) does not hold the exit: the job
 * manager stops everything else, leaves the model that handler may still
 * read allocated, and exits; the process's end takes the thread with it.
 * Exit status: 0 after a stop, 1 when the job manager could not start (a
 * port in use, an unusable folder), 2 for bad options or configuration
 * values.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fl_conf_keys.h"
#include "fl_runtime.h"
#include "jm.h"
#include "web.h"

#ifndef FLINC_VERSION
#define FLINC_VERSION "0.0.0"
#endif

#define PROG "flinc-jobmanager"

static const char usage_text[] =
	"usage: " PROG " [--config FILE] [-D key=value]...\n"
	"\n"
	"The flinc job manager: task managers register with it over RPC, it\n"
	"schedules jobs onto their slots, stores uploaded job plugins and serves\n"
	"the REST API (and web UI). Runs until SIGINT or SIGTERM.\n"
	"\n"
	"options:\n"
	"  --config FILE     read 'key: value' lines (see deploy/flinc.conf)\n"
	"  -D key=value      set a configuration key (wins over the file)\n"
	"  -h, --help        this help\n"
	"  --version         print the version\n"
	"\n"
	"keys (default):\n"
	"  jobmanager.rpc.address (127.0.0.1)   jobmanager.rpc.port (6123)\n"
	"  jobmanager.bind-host (jobmanager.rpc.address: the address the RPC port binds)\n"
	"  jobmanager.rpc.timeout (10s)         rest.bind-address (127.0.0.1)\n"
	"  rest.port (8081)                     rest.auth.token (none)\n"
	"  rest.max-upload-size (256mb)         rest.max-connections (256)\n"
	"  rest.request-timeout (10s)           rest.idle-timeout (30s)\n"
	"  rest.server.numThreads (4)           heartbeat.interval (1s)\n"
	"  heartbeat.timeout (5s)               slot.request.wait (false)\n"
	"  slot.request.timeout (10s)           jobmanager.blob.max-size (2gb)\n"
	"  jobmanager.plugin-inspection.timeout (10s)\n"
	"  jobmanager.plugin-inspection.memory (1gb)\n"
	"  jobmanager.blob.dir (a private folder under /tmp, removed at exit)\n"
	"  jobmanager.slot-sharing (true)       jobstore.max-capacity (1000)\n"
	"  parallelism.default (1)              pipeline.max-parallelism (128)\n";

/* The one job manager of this process. Static: nng threads may still hold
 * a pointer to it in the last moments of shutdown. */
static jm g_jm;

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see " PROG " --help)\n", stderr);
	va_end(ap);
	exit(2);
}

static void config_error(const char *key, const char *value, const char *what) __attribute__((noreturn));
static void config_error(const char *key, const char *value, const char *what)
{
	fprintf(stderr, PROG ": configuration %s: '%s' is not %s\n", key, value ? value : "", what);
	exit(2);
}

static const struct {
	const char *key, *value;
} defaults[] = {
	{ "jobmanager.rpc.address", "127.0.0.1" },
	{ "jobmanager.rpc.port", "6123" },
	{ "jobmanager.rpc.timeout", "10s" },
	{ "rest.bind-address", "127.0.0.1" },
	{ "rest.port", "8081" },
	{ "rest.max-upload-size", "256mb" },
	{ "rest.max-connections", "256" },
	{ "rest.request-timeout", "10s" },
	{ "rest.idle-timeout", "30s" },
	{ "rest.server.numThreads", "4" },
	{ "jobmanager.blob.max-size", "2gb" },
	{ "heartbeat.interval", "1s" },
	{ "heartbeat.timeout", "5s" },
	{ "slot.request.timeout", "10s" },
	{ "slot.request.wait", "false" },
	{ "jobmanager.slot-sharing", "true" },
	{ "jobstore.max-capacity", "1000" },
	{ "parallelism.default", "1" },
	{ "pipeline.max-parallelism", "128" },
	{ "jobmanager.plugin-inspection.timeout", "10s" },
	{ "jobmanager.plugin-inspection.memory", "1gb" },
};

static int64_t get_int(const fl_conf *c, const char *key, int64_t lo, int64_t hi)
{
	bool ok = true;
	int64_t v = fl_conf_i64(c, key, 0, &ok);
	if (!ok || v < lo || v > hi) {
		char what[128];
		snprintf(what, sizeof what, "a number from %lld to %lld", (long long)lo, (long long)hi);
		config_error(key, fl_conf_get(c, key), what);
	}
	return v;
}

static int64_t get_duration(const fl_conf *c, const char *key)
{
	bool ok = true;
	int64_t v = fl_conf_duration_ms(c, key, 0, &ok);
	if (!ok || v <= 0)
		config_error(key, fl_conf_get(c, key), "a positive duration (like 500ms, 10s, 2min)");
	return v;
}

static bool get_bool(const fl_conf *c, const char *key)
{
	const char *v = fl_conf_get(c, key);
	if (v && (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes"))) return true;
	if (v && (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no"))) return false;
	config_error(key, v, "true or false");
}

static char *get_str(const fl_conf *c, const char *key)
{
	const char *v = fl_conf_get(c, key);
	return v && *v ? fl_strdup(v) : NULL;
}

/* A warning about the configuration file (fl_conf_check). */
static void config_warning(void *ud, const char *line)
{
	fprintf(stderr, PROG ": warning: config %s: %s\n", (const char *)ud, line);
}

static fl_conf *load_config(int argc, char **argv)
{
	fl_conf *cli = fl_conf_create();
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (!strcmp(a, "--version")) {
			printf(PROG " %s\n", FLINC_VERSION);
			exit(0);
		} else if (!strcmp(a, "--config") || !strcmp(a, "-c")) {
			if (++i >= argc) usage_error("--config needs a file");
			file = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			file = a + 9;
		} else if (!strcmp(a, "-D")) {
			if (++i >= argc) usage_error("-D needs key=value");
			if (fl_conf_set_kv(cli, argv[i]) != FLINC_OK)
				usage_error("-D '%s' is not key=value", argv[i]);
		} else if (!strncmp(a, "-D", 2)) {
			if (fl_conf_set_kv(cli, a + 2) != FLINC_OK) usage_error("'%s' is not -Dkey=value", a);
		} else {
			usage_error("unknown argument '%s'", a);
		}
	}
	char msg[1024];
	/* -D: an unknown key or a bad value is a usage error. */
	if (fl_conf_check(cli, 0, NULL, NULL, msg, sizeof msg) != FLINC_OK) {
		fprintf(stderr, PROG ": -D: %s\n", msg);
		exit(2);
	}
	fl_conf *conf = fl_conf_create();
	if (file) {
		if (fl_conf_load(conf, file, msg, sizeof msg) != FLINC_OK) {
			fprintf(stderr, PROG ": %s\n", msg);
			exit(2);
		}
		/* The file: unknown keys are warnings (a newer file still loads). */
		if (fl_conf_check(conf, FL_CONF_CHECK_LENIENT, config_warning, (void *)file, msg,
				  sizeof msg) != FLINC_OK) {
			fprintf(stderr, PROG ": config %s: %s\n", file, msg);
			exit(2);
		}
	}
	for (size_t k = 0; k < fl_conf_count(cli); k++) {
		const char *key, *val;
		fl_conf_at(cli, k, &key, &val);
		fl_conf_set(conf, key, val);
	}
	fl_conf_destroy(cli);
	/* rest.upload.max-size was this key's name before DESIGN named it. */
	const char *old = fl_conf_get(conf, "rest.upload.max-size");
	if (old) {
		if (fl_conf_get(conf, "rest.max-upload-size")) {
			fl_log(FL_LOG_WARN, JM_COMPONENT,
			       "rest.upload.max-size is a deprecated name of rest.max-upload-size, which is set too: "
			       "it is ignored");
		} else {
			fl_log(FL_LOG_WARN, JM_COMPONENT,
			       "rest.upload.max-size is deprecated: write rest.max-upload-size (taking %s from it)",
			       old);
			char *v = fl_strdup(old);
			fl_conf_set(conf, "rest.max-upload-size", v);
			free(v);
		}
	}
	for (size_t k = 0; k < FL_ARRAY_LEN(defaults); k++)
		if (!fl_conf_get(conf, defaults[k].key))
			fl_conf_set(conf, defaults[k].key, defaults[k].value);
	return conf;
}

/* security.cluster.secret (fl_secret_load). Without one, the RPC socket
 * may only listen on loopback: anyone who can reach it could join the
 * cluster. Exit 2 with one line otherwise. */
static void read_secret(jm_options *o, const fl_conf *c)
{
	char err[512];
	if (fl_secret_load(fl_conf_get(c, FL_SECRET_KEY), &o->secret, &o->secret_len, err, sizeof err) !=
	    FLINC_OK) {
		fprintf(stderr, PROG ": configuration %s\n", err);
		exit(2);
	}
	/* With TLS on the internal connections every peer proves itself with
	 * a certificate of the cluster's CA: that is enough to listen widely. */
	if (!o->secret && !fl_tls_on(o->tls, FL_TLS_RPC) && !fl_host_is_loopback(o->rpc_address)) {
		fprintf(stderr,
			PROG
			": no security.cluster.secret: refusing to listen for task managers on %s, which is not "
			"a loopback address (anyone who reaches it could join the cluster); set "
			"security.cluster.secret or security.ssl.enabled (docs/security.md) or jobmanager.rpc.address: 127.0.0.1 "
			"(jobmanager.bind-host, when set, is the address that listens)\n",
			o->rpc_address);
		exit(2);
	}
}

static void read_options(jm *j)
{
	const fl_conf *c = j->conf;
	jm_options *o = &j->o;
	/* Task managers dial jobmanager.rpc.address; the socket binds
	 * jobmanager.bind-host when it is set (0.0.0.0 in a container behind
	 * its service name), else that same address. */
	o->rpc_address = get_str(c, "jobmanager.bind-host");
	if (!o->rpc_address) o->rpc_address = get_str(c, "jobmanager.rpc.address");
	o->rest_address = get_str(c, "rest.bind-address");
	if (!o->rpc_address) config_error("jobmanager.rpc.address", "", "an address");
	if (!o->rest_address) config_error("rest.bind-address", "", "an address");
	o->rpc_port = (int)get_int(c, "jobmanager.rpc.port", 1, 65535);
	o->rest_port = (int)get_int(c, "rest.port", 1, 65535);
	o->auth_token = get_str(c, "rest.auth.token");
	o->hb_interval_ms = get_duration(c, "heartbeat.interval");
	o->hb_timeout_ms = get_duration(c, "heartbeat.timeout");
	if (o->hb_timeout_ms <= o->hb_interval_ms) {
		fprintf(stderr,
			PROG
			": configuration heartbeat.timeout (%lld ms) must be longer than heartbeat.interval "
			"(%lld ms)\n",
			(long long)o->hb_timeout_ms, (long long)o->hb_interval_ms);
		exit(2);
	}
	o->slot_timeout_ms = get_duration(c, "slot.request.timeout");
	o->slot_wait = get_bool(c, "slot.request.wait");
	o->rpc_timeout_ms = get_duration(c, "jobmanager.rpc.timeout");
	o->blob_dir = get_str(c, "jobmanager.blob.dir");
	o->default_parallelism = (int)get_int(c, "parallelism.default", 1, 32768);
	o->max_parallelism = (int)get_int(c, "pipeline.max-parallelism", 1, 32768);
	bool ok = true;
	o->upload_max = fl_conf_size(c, "rest.max-upload-size", 0, &ok);
	if (!ok || o->upload_max < 1 || o->upload_max > ((int64_t)4 << 30))
		config_error("rest.max-upload-size", fl_conf_get(c, "rest.max-upload-size"),
			     "a size from 1 byte to 4gb");
	o->blob_max = fl_conf_size(c, "jobmanager.blob.max-size", 0, &ok);
	if (!ok || o->blob_max < 1)
		config_error("jobmanager.blob.max-size", fl_conf_get(c, "jobmanager.blob.max-size"),
			     "a size of at least 1 byte (like 2gb)");
	o->rest_max_conns = (int)get_int(c, "rest.max-connections", 1, 65536);
	o->rest_request_timeout_ms = get_duration(c, "rest.request-timeout");
	o->rest_idle_timeout_ms = get_duration(c, "rest.idle-timeout");
	o->rest_threads = (int)get_int(c, "rest.server.numThreads", 1, 256);
	o->web_dir = get_str(c, "web.dir"); /* NULL: the build's, else the installed one (rest.c) */
	o->jobstore_max = (int)get_int(c, "jobstore.max-capacity", 1, 1000000);
	o->slot_sharing = get_bool(c, "jobmanager.slot-sharing");
	o->ha_dir = get_str(c, "high-availability.storageDir");
	if (o->ha_dir && !*o->ha_dir) {
		free(o->ha_dir);
		o->ha_dir = NULL;
	}
	char err[768];
	/* s3://BUCKET/PATH folders (fl_store.h): their s3.* settings, and the
	 * job store worked on in its local twin */
	fl_remote_init(c, err, sizeof err);
	if (o->ha_dir && fl_store_is_s3(o->ha_dir)) {
		const char *l = fl_remote_localize(o->ha_dir, err, sizeof err);
		if (!l) {
			fprintf(stderr, PROG ": high-availability.storageDir: %s\n", err);
			exit(2);
		}
		free(o->ha_dir);
		o->ha_dir = fl_strdup(l);
	}
	fl_inspect_opts io = { 0 };
	if (fl_inspect_opts_read(c, &io, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, PROG ": configuration %s\n", err);
		exit(2);
	}
	o->inspect_timeout_ms = io.timeout_ms;
	o->inspect_memory = io.memory_bytes;
	/* Plugins must outlive the job manager with the jobs that use them. */
	if (o->ha_dir && !o->blob_dir) o->blob_dir = fl_asprintf("%s/blobs", o->ha_dir);
	if (fl_tls_create(c, 0, &o->tls, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, PROG ": configuration %s\n", err);
		exit(2);
	}
	read_secret(o, c);
}

static void free_model(jm *j)
{
	jm_cp_reap(j);
	for (size_t i = 0; i < j->njobs; i++) jm_job_free(j->jobs[i]);
	free(j->jobs);
	free(j->tms);
	jm_options *o = &j->o;
	free(o->rpc_address);
	free(o->rest_address);
	free(o->web_dir);
	jm_web_close(j->web);
	free(o->auth_token);
	fl_secret_wipe(o->secret, o->secret_len);
	free(o->secret);
	fl_tls_destroy(o->tls);
	free(o->blob_dir);
	free(o->ha_dir);
	free(j->blob_dir);
	fl_conf_destroy(j->conf);
}

int main(int argc, char **argv)
{
	/* The plugin inspection helper (fl_inspect_run) is this program run
	 * again: it does nothing of a job manager's. */
	if (argc > 1 && !strcmp(argv[1], FL_INSPECT_HELPER_ARG)) return fl_inspect_helper_main(argc, argv);
	jm *j = &g_jm;
	j->conf = load_config(argc, argv);
	read_options(j);

	/* Every thread (nng's too, created by the first socket) inherits this
	 * mask; the main thread takes the signals with sigwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->monitor_cv, &ca);
	pthread_cond_init(&j->reaper_cv, &ca);
	pthread_condattr_destroy(&ca);
	j->start_ms = fl_now_ms();

	if (!j->o.secret && !fl_tls_on(j->o.tls, FL_TLS_RPC))
		fl_log(FL_LOG_INFO, JM_COMPONENT, "no security.cluster.secret: listening on loopback only");
	if (!j->o.secret && j->o.auth_token)
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "rest.auth.token is set but security.cluster.secret is not: any local process can join the "
		       "cluster over RPC and see what is deployed (docs/security.md)");

	char err[1024];
	if (jm_ha_init(j, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": high-availability.storageDir: %s\n", err);
		free_model(j);
		return 1;
	}
	if (jm_blob_init(j, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		free_model(j);
		return 1;
	}
	if (jm_rpc_start(j, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		jm_blob_fini(j);
		free_model(j);
		return 1;
	}
	jm_ha_recover(j);
	if (jm_rest_start(j, err, sizeof err) != 0) {
		fprintf(stderr, PROG ": %s\n", err);
		jm_rpc_stop(j);
		jm_blob_fini(j);
		free_model(j);
		return 1;
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT,
	       "flinc job manager %s started: blob store %s, heartbeat interval %lld ms, timeout %lld ms, slot request "
	       "timeout %lld ms, slot sharing %s%s%s",
	       FLINC_VERSION, j->blob_dir, (long long)j->o.hb_interval_ms, (long long)j->o.hb_timeout_ms,
	       (long long)j->o.slot_timeout_ms, j->o.slot_sharing ? "on" : "off",
	       j->o.auth_token ? ", REST token required for changes" : "",
	       j->o.secret ? ", cluster secret required on every RPC, control and data connection" : "");

	int sig = 0;
	while (sigwait(&set, &sig) != 0) {
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT, "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");

	/* A request waiting for a plugin inspection ends now, not at the
	 * inspection's timeout: REST stops without waiting for it. */
	fl_inspect_shutdown();
	bool rest_clean = jm_rest_stop(j);
	jm_rpc_stop(j);
	jm_blob_fini(j);
	/* A stuck REST handler may still read the model: then it stays. */
	if (rest_clean) free_model(j);
	fl_log(FL_LOG_INFO, JM_COMPONENT, "stopped");
	return 0;
}
