/*
 * session.c - registration with the job manager and heartbeats.
 *
 * One thread, one REQ socket:
 *   unregistered: send RegisterTaskManager every second until a
 *     RegisterAck{ok} arrives (one log line per failed attempt); the ack
 *     may set the heartbeat interval and timeout.
 *   registered: every heartbeat interval send a Heartbeat with the metrics
 *     of every subtask this process runs.
 *     HeartbeatAck{known=false}: the job manager restarted and lost us;
 *       our tasks belong to a job it will redeploy, so cancel them and
 *       register again at once.
 *     no answer for the heartbeat timeout: the job manager has declared us
 *       lost and restarts the job elsewhere; cancel our tasks (their
 *       output would duplicate the restarted job's) and register again.
 */
#include "tm.h"

#include "fl_managed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool tm_sleep(tm_server *tm, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&tm->stop_mu);
	while (!atomic_load(&tm->stopping))
		if (pthread_cond_timedwait(&tm->stop_cv, &tm->stop_mu, &ts) != 0) break;
	pthread_mutex_unlock(&tm->stop_mu);
	return !atomic_load(&tm->stopping);
}

/* One registration attempt; true when the job manager accepted us. */
static bool register_once(tm_server *tm, tm_jm *jm, int attempt_no)
{
	Flinc__RegisterTaskManager reg = FLINC__REGISTER_TASK_MANAGER__INIT;
	reg.tm_id = tm->tm_id;
	reg.control_address = tm->control_address;
	reg.data_address = tm->data_address;
	reg.slots = tm->cfg.slots;
	reg.host = tm->cfg.advertise;
	reg.pid = (int64_t)getpid();
	long cores = sysconf(_SC_NPROCESSORS_ONLN), pages = sysconf(_SC_PHYS_PAGES),
	     psz = sysconf(_SC_PAGESIZE);
	reg.cpu_cores = cores > 0 ? (int32_t)cores : 0;
	reg.physical_memory = pages > 0 && psz > 0 ? (int64_t)pages * psz : 0;
	reg.managed_memory = fl_managed_total(tm->cfg.managed);
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_REGISTER;
	env.register_ = &reg;
	Flinc__Envelope *reply;
	int rc = tm_jm_call(jm, &env, FLINC__ENVELOPE__BODY_REGISTER_ACK, &reply);
	if (rc) {
		if (reply && reply->ack)
			fl_log(FL_LOG_WARN, TM_LOG,
			       "the job manager at %s refused the registration: %s; retrying in 1 s",
			       tm->jm_url, reply->ack->error);
		else
			fl_log(FL_LOG_WARN, TM_LOG,
			       "cannot register with the job manager at %s (attempt %d): %s; retrying in 1 s",
			       tm->jm_url, attempt_no, tm_jm_why(jm, rc));
		fl_rpc_free(reply);
		return false;
	}
	Flinc__RegisterAck *ack = reply->register_ack;
	if (!ack || !ack->ok) {
		fl_log(FL_LOG_WARN, TM_LOG,
		       "the job manager at %s refused the registration: %s; retrying in 1 s", tm->jm_url,
		       ack && ack->error ? ack->error : "no reason given");
		fl_rpc_free(reply);
		return false;
	}
	if (ack->session_key.len != FL_AUTH_NONCE) {
		fl_log(FL_LOG_WARN, TM_LOG,
		       "the job manager at %s accepted the registration without a session key (RPC protocol %d "
		       "expected); retrying in 1 s",
		       tm->jm_url, FL_RPC_VERSION);
		fl_rpc_free(reply);
		return false;
	}
	/* From now on every connection to the job manager speaks for this
	 * registration: the others bind themselves with this key. */
	fl_rpc_binding_set(&tm->binding, tm->tm_id, ack->session_key.data, ack->session_key.len);
	if (ack->heartbeat_interval_ms > 0) atomic_store(&tm->hb_interval_ms, ack->heartbeat_interval_ms);
	if (ack->heartbeat_timeout_ms > 0) atomic_store(&tm->hb_timeout_ms, ack->heartbeat_timeout_ms);
	fl_log(FL_LOG_INFO, TM_LOG,
	       "registered with the job manager at %s as %s (%d slots, control %s, data %s, heartbeat %lld ms)",
	       tm->jm_url, tm->tm_id, tm->cfg.slots, tm->control_address, tm->data_address,
	       (long long)atomic_load(&tm->hb_interval_ms));
	fl_rpc_free(reply);
	return true;
}

/* The metrics of every subtask of every instance, copied out under the
 * lock (the instances may go away once it is released). */
static Flinc__TaskMetrics **collect_metrics(tm_server *tm, size_t *n)
{
	pthread_mutex_lock(&tm->mu);
	size_t cap = 0;
	for (tm_instance *in = tm->instances; in; in = in->next) cap += in->nsubs;
	Flinc__TaskMetrics **v = cap ? fl_calloc(cap, sizeof(*v)) : NULL;
	size_t k = 0;
	for (tm_instance *in = tm->instances; in; in = in->next) {
		for (uint32_t i = 0; i < in->nsubs; i++) {
			tm_metrics m;
			tm_metrics_read(in->subs[i].task, &m);
			Flinc__TaskMetrics *tmx = fl_malloc(sizeof(*tmx));
			flinc__task_metrics__init(tmx);
			tmx->job_id = fl_strdup(in->job_id);
			tmx->attempt = in->attempt;
			tmx->vertex = in->subs[i].vertex;
			tmx->subtask = in->subs[i].subtask;
			tmx->records_in = m.records_in;
			tmx->records_out = m.records_out;
			tmx->bytes_in = m.bytes_in;
			tmx->bytes_out = m.bytes_out;
			tmx->backpressured_ms = m.backpressured_ms;
			tmx->idle_ms = m.idle_ms;
			tmx->watermark = m.watermark;
			tmx->rejected = m.rejected;
			tmx->dead_letters = m.dead_letters;
			if (m.latency.count) {
				tmx->latency_buckets = fl_malloc(sizeof m.latency.b);
				memcpy(tmx->latency_buckets, m.latency.b, sizeof m.latency.b);
				tmx->n_latency_buckets = FL_LAT_NBUCKETS;
				tmx->latency_sum_ns = m.latency.sum_ns;
			}
			if (m.nlag) {
				tmx->lag = fl_calloc(m.nlag, sizeof(*tmx->lag));
				for (uint32_t j = 0; j < m.nlag; j++) {
					Flinc__PartitionLag *pl = fl_malloc(sizeof(*pl));
					flinc__partition_lag__init(pl);
					pl->topic = fl_strdup(m.lag[j].topic);
					pl->partition = m.lag[j].partition;
					pl->offset = m.lag[j].offset;
					pl->lag = m.lag[j].lag;
					tmx->lag[tmx->n_lag++] = pl;
				}
			}
			v[k++] = tmx;
		}
	}
	pthread_mutex_unlock(&tm->mu);
	*n = k;
	return v;
}

static void free_metrics(Flinc__TaskMetrics **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i]->n_lag; j++) {
			free(v[i]->lag[j]->topic);
			free(v[i]->lag[j]);
		}
		free(v[i]->lag);
		free(v[i]->latency_buckets);
		free(v[i]->job_id);
		free(v[i]);
	}
	free(v);
}

/* ---- log lines ---------------------------------------------------------------- */

/* The job manager keeps each task manager's latest log lines (GET
 * /taskmanagers/:id/log): every heartbeat carries those written since the
 * last one it took. The session thread's own. */
#define HB_LOG_MAX 100
static uint64_t g_log_sent; /* the number of the last line the job manager took */

/* The lines after g_log_sent (at most HB_LOG_MAX) as pointers into b's
 * text; *upto: the number of the last. */
static char **split_lines(fl_strbuf *b, size_t *n);

static char **collect_log(fl_strbuf *b, uint64_t *upto, size_t *n)
{
	*upto = fl_log_recent(g_log_sent, HB_LOG_MAX, b);
	return split_lines(b, n);
}

/* b's text ('\n'-terminated lines) cut into lines in place: pointers into b. */
static char **split_lines(fl_strbuf *b, size_t *n)
{
	*n = 0;
	if (!b->len) return NULL;
	size_t cap = 0;
	for (size_t i = 0; i < b->len; i++) cap += b->data[i] == '\n';
	char **v = fl_calloc(cap ? cap : 1, sizeof *v);
	char *p = b->data, *end = b->data + b->len;
	for (char *nl; *n < cap && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		*nl = 0; /* a NUL inside a line (printed bytes) ends it early: it goes as a C string */
		v[(*n)++] = p;
	}
	return v;
}

/* ---- live output ------------------------------------------------------------ */

/* The jobs the job manager last asked to watch (HeartbeatAck.watch_jobs):
 * their sink subtasks keep records in their tap rings (runtime tap.h),
 * which each heartbeat drains. The session thread's own: only it enables
 * and drains taps. */
static char **g_watch;
static size_t g_nwatch;

static bool watched(const char *job_id)
{
	for (size_t i = 0; i < g_nwatch; i++)
		if (!strcmp(g_watch[i], job_id)) return true;
	return false;
}

typedef struct out_acc {
	ProtobufCBinaryData *recs;
	size_t n;
} out_acc;

static void keep_record(void *ud, const char *rec, size_t len, bool cut)
{
	out_acc *a = ud;
	(void)cut;
	ProtobufCBinaryData *b = &a->recs[a->n++];
	b->len = len;
	b->data = fl_malloc(len ? len : 1);
	memcpy(b->data, rec, len);
}

/* What the tap rings of watched jobs kept since the last heartbeat, one
 * entry per sink subtask that kept something. */
static Flinc__SinkOutput **collect_output(tm_server *tm, size_t *n)
{
	*n = 0;
	if (!g_nwatch) return NULL;
	pthread_mutex_lock(&tm->mu);
	size_t cap = 0;
	for (tm_instance *in = tm->instances; in; in = in->next)
		if (watched(in->job_id)) cap += in->nsubs;
	Flinc__SinkOutput **v = cap ? fl_calloc(cap, sizeof(*v)) : NULL;
	size_t k = 0;
	for (tm_instance *in = tm->instances; in; in = in->next) {
		if (!watched(in->job_id)) continue;
		for (uint32_t i = 0; i < in->nsubs; i++) {
			out_acc a = { fl_calloc(FL_TAP_MAX_DRAIN, sizeof(ProtobufCBinaryData)), 0 };
			fl_task_tap_drain(in->subs[i].task, keep_record, &a);
			if (!a.n) {
				free(a.recs);
				continue;
			}
			Flinc__SinkOutput *o = fl_malloc(sizeof(*o));
			flinc__sink_output__init(o);
			o->job_id = fl_strdup(in->job_id);
			o->attempt = in->attempt;
			o->vertex = in->subs[i].vertex;
			o->subtask = in->subs[i].subtask;
			o->records = a.recs;
			o->n_records = a.n;
			v[k++] = o;
		}
	}
	pthread_mutex_unlock(&tm->mu);
	*n = k;
	return v;
}

static void free_output(Flinc__SinkOutput **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < v[i]->n_records; k++) free(v[i]->records[k].data);
		free(v[i]->records);
		free(v[i]->job_id);
		free(v[i]);
	}
	free(v);
}

/* Take the job manager's list of watched jobs and turn every task's tap on
 * or off by it. */
static void apply_watch(tm_server *tm, const Flinc__HeartbeatAck *ack)
{
	for (size_t i = 0; i < g_nwatch; i++) free(g_watch[i]);
	free(g_watch);
	g_nwatch = 0;
	g_watch = ack->n_watch_jobs ? fl_calloc(ack->n_watch_jobs, sizeof(char *)) : NULL;
	for (size_t i = 0; i < ack->n_watch_jobs; i++) g_watch[g_nwatch++] = fl_strdup(ack->watch_jobs[i]);
	pthread_mutex_lock(&tm->mu);
	for (tm_instance *in = tm->instances; in; in = in->next) {
		bool on = watched(in->job_id);
		for (uint32_t i = 0; i < in->nsubs; i++) fl_task_tap_enable(in->subs[i].task, on);
	}
	pthread_mutex_unlock(&tm->mu);
}

/* This process's resident memory and CPU time (user + system), from
 * /proc/self; 0 when unreadable. */
static void process_usage(int64_t *rss, int64_t *cpu_ms)
{
	*rss = *cpu_ms = 0;
	long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		long long size, res;
		if (fscanf(f, "%lld %lld", &size, &res) == 2 && page > 0) *rss = res * page;
		fclose(f);
	}
	f = fopen("/proc/self/stat", "r");
	if (f) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[n] = 0;
		/* Fields after the command (which may hold spaces) in parentheses:
		 * state is the 3rd, utime the 14th and stime the 15th. */
		const char *p = strrchr(buf, ')');
		unsigned long long ut, st;
		if (p && hz > 0 &&
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
			*cpu_ms = (int64_t)((ut + st) * 1000 / (unsigned long long)hz);
	}
}

/* One heartbeat: 1 known, 0 unknown (register again), -1 no answer. */
static int heartbeat_once(tm_server *tm, tm_jm *jm, int *last_rc)
{
	Flinc__Heartbeat hb = FLINC__HEARTBEAT__INIT;
	hb.tm_id = tm->tm_id;
	hb.time_ms = fl_now_ms();
	hb.metrics = collect_metrics(tm, &hb.n_metrics);
	hb.output = collect_output(tm, &hb.n_output);
	process_usage(&hb.rss_bytes, &hb.cpu_time_ms);
	hb.managed_used = fl_managed_used();
	hb.managed_total = fl_managed_total(tm->cfg.managed);
	fl_strbuf logbuf = { 0 };
	uint64_t log_upto;
	hb.log = collect_log(&logbuf, &log_upto, &hb.n_log);
	fl_strbuf outbuf = { 0 };
	off_t out_upto = tm_stdout_collect(&outbuf);
	hb.stdout_lines = split_lines(&outbuf, &hb.n_stdout_lines);
	hb.stdout_file = (char *)tm_stdout_file();
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	Flinc__Envelope *reply;
	int rc = tm_jm_call(jm, &env, FLINC__ENVELOPE__BODY_HEARTBEAT_ACK, &reply);
	free_metrics(hb.metrics, hb.n_metrics);
	free_output(hb.output, hb.n_output);
	free(hb.log);
	fl_sb_free(&logbuf);
	free(hb.stdout_lines);
	fl_sb_free(&outbuf);
	if (rc == 0) {
		g_log_sent = log_upto;
		tm_stdout_taken(out_upto);
	}
	*last_rc = rc;
	if (rc == NNG_EPROTO || rc == NNG_EPERM) {
		/* The job manager answered, but not with a HeartbeatAck (or does
		 * not let this connection speak for us): treat as "does not
		 * know us" so we register again. */
		if (rc == NNG_EPERM)
			fl_log(FL_LOG_WARN, TM_LOG, "the job manager refused the heartbeat: %s",
			       tm_jm_why(jm, rc));
		fl_rpc_free(reply);
		return 0;
	}
	if (rc) return -1;
	int known = reply->heartbeat_ack && reply->heartbeat_ack->known;
	if (known) apply_watch(tm, reply->heartbeat_ack);
	fl_rpc_free(reply);
	return known;
}

static void *session_main(void *arg)
{
	tm_server *tm = arg;
	tm_jm jm;
	int rc = tm_jm_open(&jm, tm, 3000, 1 << 20);
	if (rc) {
		/* The URL was checked at start-up, so this is only out of
		 * memory or similar: nothing sensible to do but say so. */
		fl_log(FL_LOG_ERROR, TM_LOG, "cannot open a socket to the job manager at %s: %s", tm->jm_url,
		       nng_strerror(rc));
		return NULL;
	}
	int attempts = 0;
	while (!atomic_load(&tm->stopping)) {
		/* Unregistered: try every second. */
		attempts++;
		int64_t t0 = fl_mono_ns();
		if (!register_once(tm, &jm, attempts)) {
			int64_t spent = (fl_mono_ns() - t0) / 1000000;
			if (!tm_sleep(tm, spent < 1000 ? 1000 - spent : 0)) break;
			continue;
		}
		attempts = 0;
		/* Registered: heartbeat until the job manager forgets us. */
		int64_t last_ok = fl_mono_ns();
		bool warned = false;
		while (tm_sleep(tm, atomic_load(&tm->hb_interval_ms))) {
			int hrc;
			int known = heartbeat_once(tm, &jm, &hrc);
			if (atomic_load(&tm->stopping)) break;
			if (known == 1) {
				if (warned)
					fl_log(FL_LOG_INFO, TM_LOG,
					       "the job manager answers heartbeats again");
				warned = false;
				last_ok = fl_mono_ns();
				continue;
			}
			if (known == 0) {
				fl_log(FL_LOG_WARN, TM_LOG,
				       "the job manager does not know this task manager (it restarted?): canceling "
				       "%d job instance(s) and registering again",
				       tm_cancel_all(tm, NULL));
				break;
			}
			int64_t silent = (fl_mono_ns() - last_ok) / 1000000;
			if (!warned)
				fl_log(FL_LOG_WARN, TM_LOG,
				       "no heartbeat answer from the job manager at %s: %s", tm->jm_url,
				       tm_jm_why(&jm, hrc));
			warned = true;
			if (silent >= atomic_load(&tm->hb_timeout_ms)) {
				fl_log(FL_LOG_WARN, TM_LOG,
				       "lost the job manager (no heartbeat answer for %lld ms): canceling %d job "
				       "instance(s) and registering again",
				       (long long)silent, tm_cancel_all(tm, NULL));
				break;
			}
		}
	}
	tm_jm_close(&jm);
	for (size_t i = 0; i < g_nwatch; i++) free(g_watch[i]);
	free(g_watch);
	g_watch = NULL;
	g_nwatch = 0;
	return NULL;
}

int tm_session_start(tm_server *tm)
{
	if (pthread_create(&tm->session_thread, NULL, session_main, tm) != 0) return FLINC_ENOMEM;
	tm->session_running = true;
	return FLINC_OK;
}

void tm_session_stop(tm_server *tm)
{
	/* tm->stopping is set and stop_cv broadcast by the caller; a call in
	 * flight ends within its receive timeout. */
	if (tm->session_running) pthread_join(tm->session_thread, NULL);
	tm->session_running = false;
}
