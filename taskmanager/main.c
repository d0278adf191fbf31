/*
 * main.c - flinc-taskmanager: options, start-up and shutdown.
 *
 *   flinc-taskmanager [--config FILE] [-D key=value]...
 *
 * Start-up order: private plugin folder, data service (netx), status
 * reporter, control socket, monitor, then the session (registration and
 * heartbeats), so that by the time the job manager knows us every socket
 * it may use is listening. The main thread then waits for SIGINT/SIGTERM:
 * it refuses new deploys, cancels every running task, waits for their
 * CANCELED reports to go out, closes everything, removes the private
 * folder and exits 0.
 */
#include "fl_managed.h"
#include "tm.h"

#include "fl_conf_keys.h"
#include "fl_store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *f)
{
	fputs("usage: flinc-taskmanager [--config FILE] [-D key=value]...\n"
	      "\n"
	      "Runs the subtasks the job manager deploys to it in taskmanager.numberOfTaskSlots slots.\n"
	      "\n"
	      "keys (default):\n"
	      "  jobmanager.rpc.address        job manager host (127.0.0.1)\n"
	      "  jobmanager.rpc.port           job manager RPC port (6123)\n"
	      "  taskmanager.numberOfTaskSlots slots offered to the job manager (1)\n"
	      "  taskmanager.host              address advertised to peers, and bound unless\n"
	      "                                taskmanager.bind-host is set (127.0.0.1)\n"
	      "  taskmanager.bind-host         address the control and data ports bind\n"
	      "                                (taskmanager.host; 0.0.0.0 = every interface)\n"
	      "  taskmanager.rpc.port          control port, 0 = chosen by the OS (0)\n"
	      "  taskmanager.data.port         data port, 0 = chosen by the OS (0)\n"
	      "  taskmanager.tmp.dir           where the private plugin cache folder goes (/tmp)\n"
	      "  heartbeat.interval            time between heartbeats (1s)\n"
	      "  heartbeat.timeout             job manager silence before tasks are canceled (50s;\n"
	      "                                the job manager's value wins once registered)\n"
	      "  security.cluster.secret       the secret every connection proves: a value, or file:PATH\n"
	      "                                (none: control and data listen on loopback only)\n"
	      "\n"
	      "SIGINT or SIGTERM cancel the running tasks and exit 0. See docs/taskmanager.md.\n",
	      f);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("flinc-taskmanager: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see flinc-taskmanager --help)\n", stderr);
	va_end(ap);
	exit(EXIT_USAGE);
}

/* A warning about the configuration file (fl_conf_check). */
static void config_warning(void *ud, const char *line)
{
	fprintf(stderr, "flinc-taskmanager: warning: config %s: %s\n", (const char *)ud, line);
}

/* --config first, then every -D over it (-D wins, whatever the order). */
static fl_conf *parse_args(int argc, char **argv)
{
	fl_conf *defs = fl_conf_create();
	const char *config_file = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "-D")) {
			if (++i >= argc) usage_error("-D needs key=value");
			if (fl_conf_set_kv(defs, argv[i]) != FLINC_OK)
				usage_error("-D '%s' is not key=value", argv[i]);
		} else if (!strncmp(a, "-D", 2)) {
			if (fl_conf_set_kv(defs, a + 2) != FLINC_OK)
				usage_error("'%s' is not -Dkey=value", a);
		} else if (!strcmp(a, "--config")) {
			if (++i >= argc) usage_error("--config needs a file");
			config_file = argv[i];
		} else if (!strncmp(a, "--config=", 9)) {
			config_file = a + 9;
		} else {
			usage_error("unknown argument '%s'", a);
		}
	}
	char msg[512];
	/* -D: an unknown key or a bad value is a usage error. */
	if (fl_conf_check(defs, 0, NULL, NULL, msg, sizeof msg) != FLINC_OK) {
		fprintf(stderr, "flinc-taskmanager: -D: %s\n", msg);
		exit(2);
	}
	if (!config_file) return defs;
	fl_conf *conf = fl_conf_create();
	/* (main calls fl_remote_init with the result: the s3.* keys) */
	if (fl_conf_load(conf, config_file, msg, sizeof msg) != FLINC_OK) {
		fprintf(stderr, "flinc-taskmanager: %s\n", msg);
		exit(EXIT_USAGE);
	}
	/* The file: unknown keys are warnings (a newer file still loads). */
	if (fl_conf_check(conf, FL_CONF_CHECK_LENIENT, config_warning, (void *)config_file, msg,
			  sizeof msg) != FLINC_OK) {
		fprintf(stderr, "flinc-taskmanager: config %s: %s\n", config_file, msg);
		exit(EXIT_USAGE);
	}
	for (size_t k = 0; k < fl_conf_count(defs); k++) {
		const char *key, *val;
		fl_conf_at(defs, k, &key, &val);
		fl_conf_set(conf, key, val);
	}
	fl_conf_destroy(defs);
	return conf;
}

static int conf_int(const fl_conf *c, const char *key, int def, int lo, int hi)
{
	bool ok = true;
	int64_t v = fl_conf_i64(c, key, def, &ok);
	if (!ok || v < lo || v > hi) usage_error("%s must be a number from %d to %d", key, lo, hi);
	return (int)v;
}

static int64_t conf_ms(const fl_conf *c, const char *key, int64_t def, int64_t lo)
{
	bool ok = true;
	int64_t v = fl_conf_duration_ms(c, key, def, &ok);
	if (!ok || v < lo)
		usage_error("%s must be a duration of at least %lldms (like 500ms, 10s)", key, (long long)lo);
	return v;
}

static const char *conf_str(const fl_conf *c, const char *key, const char *def)
{
	const char *v = fl_conf_get(c, key);
	if (!v) return def;
	if (!v[0]) usage_error("%s must not be empty", key);
	return v;
}

/* security.cluster.secret (fl_secret_load) into tm. Without one, the
 * control and data sockets may only listen on loopback: anyone who reaches
 * them could deploy code here or feed a job. Exit 2 with one line
 * otherwise. */
static void read_secret(tm_server *tm)
{
	char err[512];
	if (fl_secret_load(fl_conf_get(tm->cfg.conf, FL_SECRET_KEY), &tm->secret, &tm->secret_len, err,
			   sizeof err) != FLINC_OK) {
		fprintf(stderr, "flinc-taskmanager: configuration %s\n", err);
		exit(EXIT_USAGE);
	}
	char terr[512];
	if (fl_tls_create(tm->cfg.conf, 0, &tm->tls, terr, sizeof terr) != FLINC_OK) {
		fprintf(stderr, "flinc-taskmanager: configuration %s\n", terr);
		exit(EXIT_USAGE);
	}
	/* With TLS on the internal connections every peer proves itself with
	 * a certificate of the cluster's CA: that is enough to listen widely. */
	if (!tm->secret && !fl_tls_on(tm->tls, FL_TLS_CONTROL) && !fl_host_is_loopback(tm->cfg.host)) {
		fprintf(stderr,
			"flinc-taskmanager: no security.cluster.secret: refusing to listen on %s (taskmanager.bind-host or taskmanager.host), "
			"which is not a loopback address (anyone who reaches it could deploy code here); set "
			"security.cluster.secret or security.ssl.enabled (docs/security.md) or taskmanager.host: 127.0.0.1\n",
			tm->cfg.host);
		exit(EXIT_USAGE);
	}
}

static void read_config(tm_config *cfg)
{
	const fl_conf *c = cfg->conf;
	cfg->jm_host = conf_str(c, "jobmanager.rpc.address", "127.0.0.1");
	cfg->jm_port = conf_int(c, "jobmanager.rpc.port", 6123, 1, 65535);
	cfg->slots = conf_int(c, "taskmanager.numberOfTaskSlots", 1, 1, 4096);
	cfg->host = conf_str(c, "taskmanager.host", "127.0.0.1");
	const char *bind = conf_str(c, "taskmanager.bind-host", NULL);
	cfg->rpc_port = conf_int(c, "taskmanager.rpc.port", 0, 0, 65535);
	cfg->data_port = conf_int(c, "taskmanager.data.port", 0, 0, 65535);
	cfg->tmp_parent = conf_str(c, "taskmanager.tmp.dir", "/tmp");
	cfg->heartbeat_ms = conf_ms(c, "heartbeat.interval", 1000, 10);
	cfg->heartbeat_timeout_ms = conf_ms(c, "heartbeat.timeout", 50000, 100);
	for (const char *p = cfg->host; *p; p++)
		if (*p == '/' || *p == ' ')
			usage_error("taskmanager.host '%s' is not a host name or address", cfg->host);
	for (const char *p = bind ? bind : ""; *p; p++)
		if (*p == '/' || *p == ' ')
			usage_error("taskmanager.bind-host '%s' is not a host name or address", bind);
	/* taskmanager.host is what peers dial; the ports bind taskmanager.bind-host
	 * when it is set (a container's 0.0.0.0 behind its service name). A
	 * wildcard as taskmanager.host binds every interface and advertises the
	 * machine's name. */
	bool wild = !strcmp(cfg->host, "0.0.0.0") || !strcmp(cfg->host, "::") || !strcmp(cfg->host, "*");
	if (wild) {
		if (gethostname(cfg->advertise, sizeof cfg->advertise - 1) != 0 || !cfg->advertise[0])
			snprintf(cfg->advertise, sizeof cfg->advertise, "127.0.0.1");
	} else {
		snprintf(cfg->advertise, sizeof cfg->advertise, "%s", cfg->host);
	}
	cfg->host = bind ? bind : cfg->host;
	if (!strcmp(cfg->host, "*")) cfg->host = "0.0.0.0";
	for (const char *p = cfg->jm_host; *p; p++)
		if (*p == '/' || *p == ' ')
			usage_error("jobmanager.rpc.address '%s' is not a host name or address",
				    cfg->jm_host);
}

/* The private plugin folder: <taskmanager.tmp.dir>/flinc-tm-XXXXXX, 0700.
 * Always a fresh one, even under a configured folder: blob ids are only
 * meaningful to the job manager that handed them out. */
static int make_tmp_dir(tm_server *tm)
{
	const char *parent = tm->cfg.tmp_parent;
	if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
		fl_log(FL_LOG_ERROR, TM_LOG, "cannot create taskmanager.tmp.dir %s: %s", parent,
		       strerror(errno));
		return FLINC_EIO;
	}
	int n = snprintf(tm->tmp_dir, sizeof tm->tmp_dir, "%s/flinc-tm-XXXXXX", parent);
	if (n < 0 || (size_t)n >= sizeof tm->tmp_dir || !mkdtemp(tm->tmp_dir)) {
		fl_log(FL_LOG_ERROR, TM_LOG, "cannot create a folder in taskmanager.tmp.dir %s: %s", parent,
		       strerror(errno));
		tm->tmp_dir[0] = 0;
		return FLINC_EIO;
	}
	chmod(tm->tmp_dir, 0700);
	return FLINC_OK;
}

static void make_tm_id(tm_server *tm)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = (uint32_t)fl_hash64(&tm, sizeof &tm, (uint64_t)fl_mono_ns());
	snprintf(tm->tm_id, sizeof tm->tm_id, "%s:%d:%08x", tm->cfg.advertise, (int)getpid(), r);
}

static void stop_all(tm_server *tm)
{
	pthread_mutex_lock(&tm->stop_mu);
	atomic_store(&tm->stopping, true);
	pthread_cond_broadcast(&tm->stop_cv);
	pthread_mutex_unlock(&tm->stop_mu);
}

int main(int argc, char **argv)
{
	static tm_server tms; /* lives until exit; threads may outlive main's frame only via _exit */
	tm_server *tm = &tms;
	tm->cfg.conf = parse_args(argc, argv);
	read_config(&tm->cfg);
	{
		/* The process's managed memory, from the task manager's own
		 * configuration (jobs' backends share it): made now so that a bad
		 * size stops the start, and so jobs cannot resize it. */
		char merr[300] = "";
		tm->cfg.managed = fl_managed_acquire(tm->cfg.conf, merr, sizeof merr);
		if (!tm->cfg.managed) {
			fprintf(stderr, "flinc-taskmanager: %s\n", merr);
			exit(2);
		}
	}
	fl_remote_init(tm->cfg.conf, NULL, 0); /* the s3.* keys: checkpoints on S3 (fl_store.h) */
	read_secret(tm);
	fl_rpc_binding_init(&tm->binding);
	atomic_init(&tm->stopping, false);
	atomic_init(&tm->hb_interval_ms, tm->cfg.heartbeat_ms);
	atomic_init(&tm->hb_timeout_ms, tm->cfg.heartbeat_timeout_ms);
	pthread_mutex_init(&tm->stop_mu, NULL);
	pthread_cond_init(&tm->stop_cv, NULL);
	pthread_mutex_init(&tm->mu, NULL);
	pthread_cond_init(&tm->idle_cv, NULL);
	snprintf(tm->jm_url, sizeof tm->jm_url, strchr(tm->cfg.jm_host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
		 fl_tls_scheme(tm->tls, FL_TLS_RPC), tm->cfg.jm_host, tm->cfg.jm_port);
	make_tm_id(tm);

	/* Every thread created from here on inherits this mask; only the
	 * main thread takes the signals, with sigwait. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (!tm->secret && !fl_tls_on(tm->tls, FL_TLS_CONTROL))
		fl_log(FL_LOG_INFO, TM_LOG, "no security.cluster.secret: listening on loopback only");
	if (fl_tls_on(tm->tls, FL_TLS_CONTROL))
		fl_log(FL_LOG_INFO, TM_LOG,
		       "TLS on the RPC, control and data connections (security.ssl.enabled): every peer presents a "
		       "certificate of security.ssl.truststore's CAs");
	char err[1024] = "";
	int rc = make_tmp_dir(tm);
	if (rc) return 1;

	char data_url[400];
	snprintf(data_url, sizeof data_url, strchr(tm->cfg.host, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
		 fl_tls_scheme(tm->tls, FL_TLS_DATA), tm->cfg.host, tm->cfg.data_port);
	fl_netx_opts nopts = { .advertise_host = tm->cfg.advertise,
			       .secret = tm->secret,
			       .secret_len = tm->secret_len,
			       .tls = tm->tls };
	rc = fl_netx_create(data_url, tm_on_peer_lost, tm, &nopts, &tm->netx, err, sizeof err);
	if (rc) {
		fl_log(FL_LOG_ERROR, TM_LOG,
		       "cannot start the data service on %s (taskmanager.host, taskmanager.data.port): %s",
		       data_url, err);
		goto fail;
	}
	snprintf(tm->data_address, sizeof tm->data_address, "%s", fl_netx_addr(tm->netx));

	if (tm_reporter_start(tm) != FLINC_OK) goto fail;
	if (tm_control_start(tm, err, sizeof err) != FLINC_OK) {
		fl_log(FL_LOG_ERROR, TM_LOG, "%s", err);
		goto fail;
	}
	tm_stdout_init();
	if (tm_monitor_start(tm) != FLINC_OK || tm_session_start(tm) != FLINC_OK) {
		fl_log(FL_LOG_ERROR, TM_LOG, "cannot start a thread");
		goto fail;
	}
	fl_log(FL_LOG_INFO, TM_LOG,
	       "task manager %s started: %d slot(s), control %s, data %s, job manager %s, plugins in %s",
	       tm->tm_id, tm->cfg.slots, tm->control_address, tm->data_address, tm->jm_url, tm->tmp_dir);

	int sig = 0;
	while (sigwait(&sigs, &sig) != 0) {
	}
	fl_log(FL_LOG_INFO, TM_LOG, "%s: shutting down", strsignal(sig));

	/* New deploys are refused from here on (see tm_deploy). */
	stop_all(tm);
	/* Reported FAILED with the reason: the job manager did not ask for
	 * this, and its restart strategy decides what happens next. */
	char why[128];
	snprintf(why, sizeof why, "the task manager shut down (%.60s)", strsignal(sig));
	int n = tm_cancel_all(tm, why);
	if (n) fl_log(FL_LOG_INFO, TM_LOG, "canceling %d job instance(s)", n);
	if (!tm_wait_idle(tm, 10000)) {
		/* A task stuck in user code: its thread cannot be joined, so
		 * freeing anything could crash it. Leave without cleanup. */
		fl_log(FL_LOG_ERROR, TM_LOG,
		       "some tasks did not stop within 10 s; exiting without waiting for them");
		tm_reporter_stop(tm, 2000);
		tm_tmpdir_remove(tm->tmp_dir);
		_exit(0);
	}
	tm_monitor_stop(tm);
	tm_reporter_stop(tm, 3000);
	tm_session_stop(tm);
	tm_control_stop(tm);
	fl_netx_destroy(tm->netx);
	tm_tmpdir_remove(tm->tmp_dir);
	fl_conf_destroy(tm->cfg.conf);
	fl_rpc_binding_fini(&tm->binding);
	fl_secret_wipe(tm->secret, tm->secret_len);
	free(tm->secret);
	fl_tls_destroy(tm->tls);
	fl_log(FL_LOG_INFO, TM_LOG, "task manager %s stopped", tm->tm_id);
	return 0;

fail:
	stop_all(tm);
	tm_session_stop(tm);
	tm_monitor_stop(tm);
	tm_control_stop(tm);
	tm_reporter_stop(tm, 0);
	fl_netx_destroy(tm->netx);
	tm_tmpdir_remove(tm->tmp_dir);
	fl_conf_destroy(tm->cfg.conf);
	fl_rpc_binding_fini(&tm->binding);
	free(tm->secret);
	fl_tls_destroy(tm->tls);
	return 1;
}
