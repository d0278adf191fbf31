/*
 * views.c - the documents the REST API serves, built from the model with
 * jm.mu held. Field names follow Flink's REST API so Flink tooling and
 * habits carry over; fields Flink does not have are documented in
 * docs/rest-api.md.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "fl_conf_keys.h"
#include "jm.h"

#ifndef FLINC_VERSION
#define FLINC_VERSION "0.0.0"
#endif

static json_t *ms_or_null(int64_t v) { return v > 0 ? json_integer(v) : json_integer(-1); }

/* jm.h */
void jm_vertex_id_str(uint64_t id, char out[17]) { snprintf(out, 17, "%016" PRIx64, id); }

jm_vertex *jm_vertex_find(jm_job *job, const char *vid)
{
	char buf[17];
	for (uint32_t k = 0; k < job->nv; k++) {
		jm_vertex_id_str(job->v[k].id, buf);
		if (strcmp(buf, vid) == 0) return &job->v[k];
	}
	return NULL;
}

/* Flink's aggregate of subtask states into a vertex state. */
static jm_task_state vertex_status(const jm_vertex *v)
{
	int cnt[JM_TASK_NSTATES] = { 0 };
	for (int i = 0; i < v->parallelism; i++) cnt[v->sub[i].state]++;
	for (int s = 0; s < JM_TASK_NSTATES; s++)
		if (cnt[s] == v->parallelism) return (jm_task_state)s;
	if (cnt[JM_TASK_FAILED]) return JM_TASK_FAILED;
	if (cnt[JM_TASK_CANCELING]) return JM_TASK_CANCELING;
	if (cnt[JM_TASK_CANCELED]) return JM_TASK_CANCELED;
	if (cnt[JM_TASK_RUNNING] || cnt[JM_TASK_FINISHED]) return JM_TASK_RUNNING;
	if (cnt[JM_TASK_DEPLOYING]) return JM_TASK_DEPLOYING;
	if (cnt[JM_TASK_SCHEDULED]) return JM_TASK_SCHEDULED;
	return JM_TASK_CREATED;
}

static void vertex_times(const jm_vertex *v, int64_t *start, int64_t *end)
{
	int64_t s = 0, e = 0;
	bool ended = true;
	for (int i = 0; i < v->parallelism; i++) {
		const jm_subtask *st = &v->sub[i];
		if (st->start_ms && (!s || st->start_ms < s)) s = st->start_ms;
		if (!jm_task_state_terminal(st->state))
			ended = false;
		else if (st->end_ms > e)
			e = st->end_ms;
	}
	*start = s;
	*end = ended ? e : 0;
}

static json_t *duration(int64_t start, int64_t end, int64_t now)
{
	if (start <= 0) return json_integer(-1);
	return json_integer((end > 0 ? end : now) - start);
}

static json_t *metrics_json(const jm_task_metrics *m)
{
	return json_pack(
		"{s:I, s:b, s:I, s:b, s:I, s:b, s:I, s:b, s:I, s:I, s:I, s:I, s:I}", "read-bytes",
		(json_int_t)m->bytes_in, "read-bytes-complete", 1, "write-bytes", (json_int_t)m->bytes_out,
		"write-bytes-complete", 1, "read-records", (json_int_t)m->records_in, "read-records-complete",
		1, "write-records", (json_int_t)m->records_out, "write-records-complete", 1,
		"accumulated-backpressured-time", (json_int_t)m->backpressured_ms, "accumulated-idle-time",
		(json_int_t)m->idle_ms, "accumulated-busy-time", (json_int_t)m->busy_ms, "rejected-records",
		(json_int_t)m->rejected, "dead-letters", (json_int_t)m->dead_letters);
}

static jm_task_metrics vertex_metrics(const jm_vertex *v)
{
	jm_task_metrics sum = { 0 };
	for (int i = 0; i < v->parallelism; i++) {
		const jm_task_metrics *m = &v->sub[i].m;
		sum.records_in += m->records_in;
		sum.records_out += m->records_out;
		sum.bytes_in += m->bytes_in;
		sum.bytes_out += m->bytes_out;
		sum.backpressured_ms += m->backpressured_ms;
		sum.idle_ms += m->idle_ms;
		sum.busy_ms += m->busy_ms;
		sum.rejected += m->rejected;
		sum.dead_letters += m->dead_letters;
	}
	return sum;
}

static json_t *task_counts_upper(const jm_vertex *v)
{
	int cnt[JM_TASK_NSTATES] = { 0 };
	for (int i = 0; i < v->parallelism; i++) cnt[v->sub[i].state]++;
	json_t *o = json_object();
	for (int s = 0; s < JM_TASK_NSTATES; s++)
		json_object_set_new(o, jm_task_state_name((jm_task_state)s), json_integer(cnt[s]));
	json_object_set_new(o, "RECONCILING", json_integer(0));
	json_object_set_new(o, "INITIALIZING", json_integer(0));
	return o;
}

/* The share of the last interval a running subtask was busy: neither
 * idle (waiting for input) nor back-pressured, as Flink counts it; 0
 * until two reports gave an interval. */
static double busy_ratio(const jm_subtask *st)
{
	if (st->state != JM_TASK_RUNNING || !st->sampled) return 0;
	double b = 1 - st->bp_ratio - st->idle_ratio;
	return b < 0 ? 0 : b;
}

/* flinc's live figures of a subtask or vertex, under Flink's metric names:
 * records per second over the last heartbeat interval, the shares of it
 * spent busy, idle and back-pressured (as ms per second) and the input
 * watermark. */
static void live_figures(json_t *o, double in_rate, double out_rate, double bp_ratio, double busy,
			 double idle, int64_t watermark)
{
	json_object_set_new(o, "numRecordsInPerSecond", json_real(in_rate));
	json_object_set_new(o, "numRecordsOutPerSecond", json_real(out_rate));
	json_object_set_new(o, "backPressuredTimeMsPerSecond", json_real(bp_ratio * 1000));
	json_object_set_new(o, "busyTimeMsPerSecond", json_real(busy * 1000));
	json_object_set_new(o, "idleTimeMsPerSecond", json_real(idle * 1000));
	json_object_set_new(o, "currentInputWatermark", json_integer(watermark));
}

static json_t *subtask_json(const jm_job *job, const jm_vertex *v, int i, int64_t now)
{
	const jm_subtask *st = &v->sub[i];
	json_t *o = json_pack("{s:i, s:s, s:i, s:s?, s:s?, s:o, s:o, s:o, s:o}", "subtask", i, "status",
			      jm_task_state_name(st->state), "attempt", job->attempt - 1, "taskmanager-id",
			      st->tm_id, "host", st->host, "start-time", ms_or_null(st->start_ms), "end-time",
			      ms_or_null(st->end_ms), "duration", duration(st->start_ms, st->end_ms, now),
			      "metrics", metrics_json(&st->m));
	bool run = st->state == JM_TASK_RUNNING;
	live_figures(o, run ? st->in_rate : 0, run ? st->out_rate : 0, run ? st->bp_ratio : 0,
		     run ? busy_ratio(st) : 0, run ? st->idle_ratio : 0, st->m.watermark);
	if (!st->tm_id) json_object_set_new(o, "taskmanager-id", json_string("(unassigned)"));
	if (!st->host) json_object_set_new(o, "host", json_string("(unassigned)"));
	if (st->error) json_object_set_new(o, "failure-cause", json_string(st->error));
	return o;
}

static json_t *vertex_json(const jm_job *job, const jm_vertex *v, int64_t now, bool with_subtasks)
{
	char vid[17];
	jm_vertex_id_str(v->id, vid);
	int64_t start, end;
	vertex_times(v, &start, &end);
	jm_task_metrics m = vertex_metrics(v);
	json_t *o = json_pack("{s:s, s:s, s:i, s:i, s:s, s:o, s:o, s:o, s:o, s:o}", "id", vid, "name",
			      v->name, "maxParallelism", job->max_parallelism, "parallelism", v->parallelism,
			      "status", jm_task_state_name(vertex_status(v)), "start-time", ms_or_null(start),
			      "end-time", ms_or_null(end), "duration", duration(start, end, now), "tasks",
			      task_counts_upper(v), "metrics", metrics_json(&m));
	/* The vertex: rates summed, the worst back-pressure and busy share,
	 * the least idle share, the lowest watermark of its running subtasks
	 * (Flink's UI shows the maximum busy and back-pressured time). */
	double in = 0, out = 0, bp = 0, busy = 0, idle = 1;
	bool any = false;
	int64_t wm = INT64_MAX;
	for (int i = 0; i < v->parallelism; i++) {
		const jm_subtask *st = &v->sub[i];
		if (st->state != JM_TASK_RUNNING) continue;
		in += st->in_rate;
		out += st->out_rate;
		if (st->bp_ratio > bp) bp = st->bp_ratio;
		if (busy_ratio(st) > busy) busy = busy_ratio(st);
		if (st->idle_ratio < idle) idle = st->idle_ratio;
		any = true;
		if (st->m.watermark < wm) wm = st->m.watermark;
	}
	live_figures(o, in, out, bp, busy, any ? idle : 0, wm == INT64_MAX ? INT64_MIN : wm);
	if (with_subtasks) {
		json_t *subs = json_array();
		for (int i = 0; i < v->parallelism; i++)
			json_array_append_new(subs, subtask_json(job, v, i, now));
		json_object_set_new(o, "subtasks", subs);
	}
	return o;
}

static int64_t job_duration(const jm_job *job, int64_t now)
{
	return (job->end_ms > 0 ? job->end_ms : now) - job->start_ms;
}

static int count_state(const jm_job *job, jm_task_state s)
{
	int n = 0;
	for (uint32_t k = 0; k < job->nv; k++)
		for (int i = 0; i < job->v[k].parallelism; i++) n += job->v[k].sub[i].state == s;
	return n;
}

json_t *jm_view_job_locked(jm *j, jm_job *job)
{
	(void)j;
	int64_t now = fl_now_ms();
	json_t *ts = json_object();
	for (int s = 0; s < JM_JOB_NSTATES; s++)
		json_object_set_new(ts, jm_job_state_name((jm_job_state)s), json_integer(job->ts[s]));
	json_object_set_new(ts, "INITIALIZING", json_integer(job->ts[JM_JOB_CREATED]));
	json_t *vs = json_array();
	int vcount[JM_TASK_NSTATES] = { 0 };
	for (uint32_t k = 0; k < job->nv; k++) {
		json_array_append_new(vs, vertex_json(job, &job->v[k], now, true));
		vcount[vertex_status(&job->v[k])]++;
	}
	json_t *sc = json_object();
	for (int s = 0; s < JM_TASK_NSTATES; s++)
		json_object_set_new(sc, jm_task_state_name((jm_task_state)s), json_integer(vcount[s]));
	json_t *plan = job->plan_json ? json_loads(job->plan_json, 0, NULL) : NULL;
	json_t *o = json_pack("{s:s, s:s, s:b, s:s, s:s, s:I, s:o, s:I, s:i, s:i, s:I, s:o, s:o, s:o, s:o}",
			      "jid", job->jid, "name", job->name, "isStoppable", 0, "state",
			      jm_job_state_name(job->state), "job-type", "STREAMING", "start-time",
			      (json_int_t)job->start_ms, "end-time", ms_or_null(job->end_ms), "duration",
			      (json_int_t)job_duration(job, now), "maxParallelism", job->max_parallelism,
			      "parallelism", job->parallelism, "now", (json_int_t)now, "timestamps", ts,
			      "vertices", vs, "status-counts", sc, "plan", plan ? plan : json_object());
	json_object_set_new(o, "jar-id", json_string(job->jar_id));
	json_t *args = json_array();
	for (int i = 1; i < job->nargs; i++) json_array_append_new(args, json_string(job->args[i]));
	json_object_set_new(o, "programArgs", args);
	if (job->root_exc >= 0)
		json_object_set_new(o, "failure-cause", json_string(job->exc[job->root_exc].message));
	return o;
}

json_t *jm_view_vertex_locked(jm *j, jm_job *job, jm_vertex *v)
{
	(void)j;
	int64_t now = fl_now_ms();
	json_t *o = vertex_json(job, v, now, true);
	json_object_set_new(o, "now", json_integer(now));
	return o;
}

static const char *bp_level(double r) { return r <= 0.10 ? "ok" : r <= 0.5 ? "low" : "high"; }

json_t *jm_view_backpressure_locked(jm *j, jm_job *job, jm_vertex *v)
{
	(void)j;
	double worst = 0;
	json_t *subs = json_array();
	for (int i = 0; i < v->parallelism; i++) {
		const jm_subtask *st = &v->sub[i];
		bool run = st->state == JM_TASK_RUNNING;
		double r = run ? st->bp_ratio : 0;
		double idle = run ? st->idle_ratio : 0;
		if (r > worst) worst = r;
		json_array_append_new(subs,
				      json_pack("{s:i, s:i, s:s, s:f, s:f, s:f}", "subtask", i,
						"attempt-number", job->attempt - 1, "backpressure-level",
						bp_level(r), "ratio", r, "idleRatio", idle, "busyRatio",
						busy_ratio(st)));
	}
	return json_pack("{s:s, s:s, s:I, s:o}", "status", "ok", "backpressure-level", bp_level(worst),
			 "end-timestamp", (json_int_t)fl_now_ms(), "subtasks", subs);
}

json_t *jm_view_exceptions_locked(jm *j, jm_job *job)
{
	(void)j;
	json_t *all = json_array();
	json_t *concurrent = json_array();
	for (size_t i = 0; i < job->nexc; i++) {
		const jm_exception *e = &job->exc[i];
		json_array_append_new(all,
				      json_pack("{s:s, s:s?, s:s?, s:I, s:s?}", "exception", e->message,
						"task", e->task, "location", e->location, "timestamp",
						(json_int_t)e->ts, "taskManagerId", e->tm_id));
		if ((int)i != job->root_exc)
			json_array_append_new(concurrent,
					      json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:{}}",
							"exceptionName", e->message, "stacktrace", e->message,
							"timestamp", (json_int_t)e->ts, "taskName", e->task,
							"location", e->location, "taskManagerId", e->tm_id,
							"failureLabels"));
	}
	json_t *entries = json_array();
	json_t *o;
	if (job->root_exc >= 0) {
		const jm_exception *r = &job->exc[job->root_exc];
		json_array_append_new(entries,
				      json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:s?, s:{}, s:o}",
						"exceptionName", r->message, "stacktrace", r->message,
						"timestamp", (json_int_t)r->ts, "taskName", r->task,
						"location", r->location, "taskManagerId", r->tm_id,
						"failureLabels", "concurrentExceptions", concurrent));
		o = json_pack("{s:s, s:I}", "root-exception", r->message, "timestamp", (json_int_t)r->ts);
	} else {
		json_decref(concurrent);
		o = json_pack("{s:n, s:n}", "root-exception", "timestamp");
	}
	json_object_set_new(o, "all-exceptions", all);
	json_object_set_new(o, "truncated", json_boolean(job->nexc >= 1000));
	json_object_set_new(o, "exceptionHistory",
			    json_pack("{s:o, s:b}", "entries", entries, "truncated", 0));
	return o;
}

json_t *jm_view_checkpoints_locked(jm *j, jm_job *job)
{
	(void)j;
	if (job->coord) return fl_coord_json(job->coord);
	if (job->archived_cp) return json_incref(job->archived_cp);
	/* A job without checkpoints: Flink's shape, with nothing in it. */
	return json_pack("{s:{s:i, s:i, s:i, s:i, s:i}, s:{}, s:{s:n, s:n, s:n, s:n}, s:[]}", "counts",
			 "restored", 0, "total", 0, "in_progress", 0, "completed", 0, "failed", 0, "summary",
			 "latest", "completed", "savepoint", "failed", "restored", "history");
}

static json_t *job_overview(const jm_job *job, int64_t now)
{
	json_t *tasks = json_object();
	static const char *lower[JM_TASK_NSTATES] = { "created",  "scheduled", "deploying", "running",
						      "finished", "canceling", "canceled",  "failed" };
	json_object_set_new(tasks, "total", json_integer(job->nsubtasks));
	for (int s = 0; s < JM_TASK_NSTATES; s++)
		json_object_set_new(tasks, lower[s], json_integer(count_state(job, (jm_task_state)s)));
	json_object_set_new(tasks, "reconciling", json_integer(0));
	json_object_set_new(tasks, "initializing", json_integer(0));
	return json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:I, s:o}", "jid", job->jid, "name", job->name,
			 "state", jm_job_state_name(job->state), "start-time", (json_int_t)job->start_ms,
			 "end-time", ms_or_null(job->end_ms), "duration", (json_int_t)job_duration(job, now),
			 "last-modification", (json_int_t)job->last_mod_ms, "tasks", tasks);
}

json_t *jm_view_jobs_overview_locked(jm *j)
{
	int64_t now = fl_now_ms();
	json_t *arr = json_array();
	for (size_t i = j->njobs; i-- > 0;) json_array_append_new(arr, job_overview(j->jobs[i], now));
	return json_pack("{s:o}", "jobs", arr);
}

json_t *jm_view_jobs_locked(jm *j)
{
	json_t *arr = json_array();
	for (size_t i = j->njobs; i-- > 0;)
		json_array_append_new(arr,
				      json_pack("{s:s, s:s}", "id", j->jobs[i]->jid, "status",
						jm_job_state_name(j->jobs[i]->state)));
	return json_pack("{s:o}", "jobs", arr);
}

json_t *jm_view_overview_locked(jm *j)
{
	int total, nfree, ntms;
	jm_slots_locked(j, &total, &nfree, &ntms);
	int running = 0, finished = 0, canceled = 0, failed = 0;
	for (size_t i = 0; i < j->njobs; i++) {
		switch (j->jobs[i]->state) {
		case JM_JOB_FINISHED: finished++; break;
		case JM_JOB_CANCELED: canceled++; break;
		case JM_JOB_FAILED: failed++; break;
		default: running++; break;
		}
	}
	return json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s}", "taskmanagers", ntms, "slots-total",
			 total, "slots-available", nfree, "jobs-running", running, "jobs-finished", finished,
			 "jobs-cancelled", canceled, "jobs-failed", failed, "flink-version", FLINC_VERSION,
			 "flink-commit", "flinc");
}

static int port_of(const char *addr)
{
	const char *c = addr ? strrchr(addr, ':') : NULL;
	if (!c || !c[1]) return -1;
	char *end;
	long p = strtol(c + 1, &end, 10);
	return (*end || p < 0 || p > 65535) ? -1 : (int)p;
}

json_t *jm_view_taskmanager_locked(jm *j, jm_tm *tm)
{
	(void)j;
	int64_t now = fl_now_ms();
	return json_pack(
		"{s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:{}, s:{}, s:{s:i, s:I, s:I, s:I, s:I}, "
		"s:I, s:I, s:f, s:s}",
		"id", tm->id, "path", tm->control_address, "host", tm->host, "dataAddress", tm->data_address,
		"dataPort", port_of(tm->data_address), "jmxPort", -1, "timeSinceLastHeartbeat",
		(json_int_t)tm->last_hb_ms, "lastHeartbeatAge", (json_int_t)(now - tm->last_hb_ms),
		"registered", (json_int_t)tm->registered_ms, "slotsNumber", tm->slots, "freeSlots",
		FL_MAX(tm->slots - tm->used, 0), "totalResource", "freeResource", "hardware", "cpuCores",
		tm->cpu_cores, "physicalMemory", (json_int_t)tm->physical_memory, "freeMemory", (json_int_t)0,
		"managedMemory", (json_int_t)tm->managed_total, "managedMemoryUsed",
		(json_int_t)tm->managed_used, "pid", (json_int_t)tm->pid, "memoryRss",
		(json_int_t)tm->rss_bytes, "cpuLoad", tm->cpu_load, "stdoutFile",
		tm->stdout_file ? tm->stdout_file : "");
}

json_t *jm_view_taskmanagers_locked(jm *j)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < j->ntms; i++)
		if (j->tms[i]->connected)
			json_array_append_new(arr, jm_view_taskmanager_locked(j, j->tms[i]));
	return json_pack("{s:o}", "taskmanagers", arr);
}

/* ---- Prometheus text format ------------------------------------------------ */

static void label(fl_strbuf *b, const char *name, const char *value, bool first)
{
	fl_sb_printf(b, "%s%s=\"", first ? "" : ",", name);
	for (const char *s = value ? value : ""; *s; s++) {
		if (*s == '\\')
			fl_sb_append(b, "\\\\", 2);
		else if (*s == '"')
			fl_sb_append(b, "\\\"", 2);
		else if (*s == '\n')
			fl_sb_append(b, "\\n", 2);
		else
			fl_sb_append(b, s, 1);
	}
	fl_sb_append(b, "\"", 1);
}

/* ---- Flink's metric names (its Prometheus reporter's, flink_ -> flinc_) -- */

/* Per subtask: Flink's task scope, flinc_taskmanager_job_task_<name>. */
static const struct {
	const char *name, *help;
} task_metrics[] = {
	{ "numRecordsIn", "Records the subtask read (cumulative)." },
	{ "numRecordsOut", "Records the subtask wrote to other subtasks (cumulative)." },
	{ "numBytesIn", "Bytes the subtask read from the exchange (cumulative)." },
	{ "numBytesOut", "Bytes the subtask wrote to the exchange (cumulative)." },
	{ "numRecordsInPerSecond", "Records read per second over the last heartbeat interval." },
	{ "numRecordsOutPerSecond", "Records written per second over the last heartbeat interval." },
	{ "backPressuredTimeMsPerSecond",
	  "Milliseconds per second the subtask waited for buffers downstream." },
	{ "currentInputWatermark", "The subtask's input watermark (ms; -9223372036854775808: none yet)." },
	{ "busyTimeMsPerSecond",
	  "Milliseconds per second the subtask was busy: neither idle nor back-pressured." },
	{ "idleTimeMsPerSecond", "Milliseconds per second the subtask waited for input." },
};

static double task_metric(const jm_subtask *st, size_t i)
{
	bool run = st->state == JM_TASK_RUNNING;
	switch (i) {
	case 0: return (double)st->m.records_in;
	case 1: return (double)st->m.records_out;
	case 2: return (double)st->m.bytes_in;
	case 3: return (double)st->m.bytes_out;
	case 4: return run ? st->in_rate : 0;
	case 5: return run ? st->out_rate : 0;
	case 6: return run ? st->bp_ratio * 1000 : 0;
	case 7: return (double)st->m.watermark;
	case 8: return run ? busy_ratio(st) * 1000 : 0;
	default: return run ? st->idle_ratio * 1000 : 0;
	}
}

/* Per job: Flink's job manager job scope, flinc_jobmanager_job_<name>. */
static const struct {
	const char *name, *help, *section, *field;
} job_metrics[] = {
	{ "numRestarts", "Restarts of the job since it was submitted.", NULL, NULL },
	{ "totalNumberOfCheckpoints", "Checkpoints triggered.", "counts", "total" },
	{ "numberOfCompletedCheckpoints", "Checkpoints completed.", "counts", "completed" },
	{ "numberOfFailedCheckpoints", "Checkpoints failed.", "counts", "failed" },
	{ "numberOfInProgressCheckpoints", "Checkpoints in progress.", "counts", "in_progress" },
	{ "lastCheckpointDuration", "End-to-end duration of the last completed checkpoint (ms).", "latest",
	  "end_to_end_duration" },
	{ "lastCheckpointSize", "State size of the last completed checkpoint (bytes).", "latest",
	  "state_size" },
};

static void task_labels(fl_strbuf *b, const jm_job *job, const jm_vertex *v, int i)
{
	char idx[16];
	snprintf(idx, sizeof idx, "%d", i);
	fl_sb_append(b, "{", 1);
	label(b, "job_id", job->jid, true);
	label(b, "job_name", job->name, false);
	label(b, "task_name", v->name, false);
	label(b, "subtask_index", idx, false);
	label(b, "tm_id", v->sub[i].tm_id, false);
	fl_sb_append(b, "}", 1);
}

/* Kafka source subtasks' partitions: Flink's KafkaSourceReader names
 * (currentOffset per partition, the consumer's records-lag) and FLIP-33's
 * pendingRecords per subtask (the sum of its partitions' known lags). */
static void kafka_lag_metrics(jm *j, fl_strbuf *b)
{
	static const char *const names[] = { "operator_KafkaSourceReader_topic_partition_currentOffset",
					     "operator_KafkaSourceReader_KafkaConsumer_records_lag",
					     "operator_pendingRecords" };
	static const char *const help[] = {
		"The next offset a Kafka source subtask reads in the partition.",
		"Records of the partition after that offset, up to its high watermark.",
		"Records the Kafka source subtask has not read yet, over its partitions."
	};
	for (size_t m = 0; m < 3; m++) {
		bool head = false;
		for (size_t i = 0; i < j->njobs; i++) {
			jm_job *job = j->jobs[i];
			if (!job->placed || jm_job_state_terminal(job->state)) continue;
			for (uint32_t k = 0; k < job->nv; k++)
				for (int s = 0; s < job->v[k].parallelism; s++) {
					const jm_subtask *st = &job->v[k].sub[s];
					if (!st->tm_id || !st->nlag) continue;
					if (!head) {
						fl_sb_printf(b, "# HELP flinc_taskmanager_job_task_%s %s\n",
							     names[m], help[m]);
						fl_sb_printf(b,
							     "# TYPE flinc_taskmanager_job_task_%s gauge\n",
							     names[m]);
						head = true;
					}
					char idx[16], part[16];
					snprintf(idx, sizeof idx, "%d", s);
					if (m == 2) {
						int64_t sum = 0;
						bool known = false;
						for (uint32_t l = 0; l < st->nlag; l++)
							if (st->lag[l].lag >= 0) {
								sum += st->lag[l].lag;
								known = true;
							}
						if (!known) continue;
						fl_sb_printf(b, "flinc_taskmanager_job_task_%s", names[m]);
						task_labels(b, job, &job->v[k], s);
						fl_sb_printf(b, " %lld\n", (long long)sum);
						continue;
					}
					for (uint32_t l = 0; l < st->nlag; l++) {
						int64_t v = m == 0 ? st->lag[l].offset : st->lag[l].lag;
						if (v < 0) continue;
						snprintf(part, sizeof part, "%d", st->lag[l].partition);
						fl_sb_printf(b, "flinc_taskmanager_job_task_%s{", names[m]);
						label(b, "job_id", job->jid, true);
						label(b, "job_name", job->name, false);
						label(b, "task_name", job->v[k].name, false);
						label(b, "subtask_index", idx, false);
						label(b, "tm_id", st->tm_id, false);
						label(b, "topic", st->lag[l].topic, false);
						label(b, "partition", part, false);
						fl_sb_printf(b, "} %lld\n", (long long)v);
					}
				}
		}
	}
}

/* Sink subtasks' latency markers as one Prometheus histogram (ms): the
 * 1, 2.5, 5 x 10^k bounds of the fixed buckets (base/fl_lat.h). */
static void latency_metrics(jm *j, fl_strbuf *b)
{
	const char *n = "flinc_taskmanager_job_task_latencyMs";
	bool head = false;
	for (size_t i = 0; i < j->njobs; i++) {
		jm_job *job = j->jobs[i];
		if (!job->placed || jm_job_state_terminal(job->state)) continue;
		for (uint32_t k = 0; k < job->nv; k++)
			for (int s = 0; s < job->v[k].parallelism; s++) {
				const jm_subtask *st = &job->v[k].sub[s];
				if (!st->tm_id || !st->m.lat_count) continue;
				if (!head) {
					fl_sb_printf(
						b,
						"# HELP %s End-to-end latency of latency markers from the "
						"sources to this sink subtask (ms, cumulative).\n",
						n);
					fl_sb_printf(b, "# TYPE %s histogram\n", n);
					head = true;
				}
				char idx[16];
				snprintf(idx, sizeof idx, "%d", s);
				uint64_t cum = 0;
				for (int q = 0; q <= FL_LAT_NBOUNDS; q++) {
					cum += st->m.lat_b[q];
					if (q < FL_LAT_NBOUNDS && !fl_lat_prom_bound(q)) continue;
					char le[32];
					if (q == FL_LAT_NBOUNDS)
						snprintf(le, sizeof le, "+Inf");
					else
						snprintf(le, sizeof le, "%g",
							 (double)fl_lat_bound_ns(q) / 1e6);
					fl_sb_printf(b, "%s_bucket{", n);
					label(b, "job_id", job->jid, true);
					label(b, "job_name", job->name, false);
					label(b, "task_name", job->v[k].name, false);
					label(b, "subtask_index", idx, false);
					label(b, "tm_id", st->tm_id, false);
					label(b, "le", le, false);
					fl_sb_printf(b, "} %" PRIu64 "\n", cum);
				}
				fl_sb_printf(b, "%s_sum", n);
				task_labels(b, job, &job->v[k], s);
				fl_sb_printf(b, " %.17g\n", (double)st->m.lat_sum_ns / 1e6);
				fl_sb_printf(b, "%s_count", n);
				task_labels(b, job, &job->v[k], s);
				fl_sb_printf(b, " %" PRIu64 "\n", st->m.lat_count);
			}
	}
}

static void flink_metrics(jm *j, fl_strbuf *b)
{
	for (size_t m = 0; m < FL_ARRAY_LEN(task_metrics); m++) {
		const char *n = task_metrics[m].name;
		fl_sb_printf(b, "# HELP flinc_taskmanager_job_task_%s %s\n", n, task_metrics[m].help);
		fl_sb_printf(b, "# TYPE flinc_taskmanager_job_task_%s gauge\n", n);
		for (size_t i = 0; i < j->njobs; i++) {
			jm_job *job = j->jobs[i];
			if (!job->placed || jm_job_state_terminal(job->state)) continue;
			for (uint32_t k = 0; k < job->nv; k++)
				for (int s = 0; s < job->v[k].parallelism; s++) {
					if (!job->v[k].sub[s].tm_id) continue;
					fl_sb_printf(b, "flinc_taskmanager_job_task_%s", n);
					task_labels(b, job, &job->v[k], s);
					fl_sb_printf(b, " %.17g\n", task_metric(&job->v[k].sub[s], m));
				}
		}
	}
	kafka_lag_metrics(j, b);
	latency_metrics(j, b);
	/* Checkpoint figures from the coordinators' documents (one each). */
	json_t **cps = fl_calloc(j->njobs + 1, sizeof *cps);
	for (size_t i = 0; i < j->njobs; i++)
		cps[i] = j->jobs[i]->coord ? fl_coord_json(j->jobs[i]->coord) : NULL;
	for (size_t m = 0; m < FL_ARRAY_LEN(job_metrics); m++) {
		const char *n = job_metrics[m].name;
		fl_sb_printf(b, "# HELP flinc_jobmanager_job_%s %s\n", n, job_metrics[m].help);
		fl_sb_printf(b, "# TYPE flinc_jobmanager_job_%s gauge\n", n);
		for (size_t i = 0; i < j->njobs; i++) {
			jm_job *job = j->jobs[i];
			json_int_t val;
			if (!job_metrics[m].section) {
				val = job->restarts;
			} else {
				json_t *sec = cps[i] ? json_object_get(cps[i], job_metrics[m].section) : NULL;
				if (sec && !strcmp(job_metrics[m].section, "latest"))
					sec = json_object_get(sec, "completed");
				json_t *f = json_object_get(sec, job_metrics[m].field);
				if (!json_is_integer(f)) continue;
				val = json_integer_value(f);
			}
			fl_sb_printf(b, "flinc_jobmanager_job_%s{", n);
			label(b, "job_id", job->jid, true);
			label(b, "job_name", job->name, false);
			fl_sb_printf(b, "} %lld\n", (long long)val);
		}
	}
	for (size_t i = 0; i < j->njobs; i++) json_decref(cps[i]);
	free(cps);
	/* Task managers: memory and CPU (Flink's Status scope, without a JVM). */
	static const char *const tm_names[] = { "flinc_taskmanager_Status_Memory_RSS",
						"flinc_taskmanager_Status_CPU_Time",
						"flinc_taskmanager_Status_CPU_Load",
						"flinc_taskmanager_Status_Flink_Memory_Managed_Used",
						"flinc_taskmanager_Status_Flink_Memory_Managed_Total" };
	static const char *const tm_help[] = {
		"Resident memory of the task manager (bytes).",
		"CPU time the task manager used, user and system (ms).",
		"CPU time per wall time over the last heartbeat interval (cores).",
		"Managed memory keyed state uses: hashmap allocations and the RocksDB block cache (bytes).",
		"Managed memory of the task manager, taskmanager.memory.managed.size (bytes)."
	};
	for (size_t m = 0; m < 5; m++) {
		fl_sb_printf(b, "# HELP %s %s\n", tm_names[m], tm_help[m]);
		fl_sb_printf(b, "# TYPE %s gauge\n", tm_names[m]);
		for (size_t i = 0; i < j->ntms; i++) {
			jm_tm *tm = j->tms[i];
			if (!tm->connected) continue;
			fl_sb_printf(b, "%s{", tm_names[m]);
			label(b, "tm_id", tm->id, true);
			double v = m == 0 ? (double)tm->rss_bytes
				: m == 1  ? (double)tm->cpu_time_ms
				: m == 2  ? tm->cpu_load
				: m == 3  ? (double)tm->managed_used
					  : (double)tm->managed_total;
			fl_sb_printf(b, "} %.17g\n", v);
		}
	}
}

char *jm_view_metrics_locked(jm *j)
{
	fl_strbuf b = { 0 };
	int total, nfree, ntms;
	jm_slots_locked(j, &total, &nfree, &ntms);
	fl_sb_printf(&b, "# HELP flinc_taskmanagers Task managers registered with the job manager.\n");
	fl_sb_printf(&b, "# TYPE flinc_taskmanagers gauge\nflinc_taskmanagers %d\n", ntms);
	/* Flink's job manager scope: the same figures under its names. */
	fl_sb_printf(&b, "# HELP flinc_jobmanager_numRegisteredTaskManagers Task managers registered.\n");
	fl_sb_printf(&b, "# TYPE flinc_jobmanager_numRegisteredTaskManagers gauge\n");
	fl_sb_printf(&b, "flinc_jobmanager_numRegisteredTaskManagers %d\n", ntms);
	fl_sb_printf(&b, "# HELP flinc_jobmanager_taskSlotsTotal Task slots offered by the task managers.\n");
	fl_sb_printf(&b, "# TYPE flinc_jobmanager_taskSlotsTotal gauge\nflinc_jobmanager_taskSlotsTotal %d\n",
		     total);
	fl_sb_printf(&b, "# HELP flinc_jobmanager_taskSlotsAvailable Task slots not held by a job.\n");
	fl_sb_printf(&b, "# TYPE flinc_jobmanager_taskSlotsAvailable gauge\n");
	fl_sb_printf(&b, "flinc_jobmanager_taskSlotsAvailable %d\n", nfree);
	fl_sb_printf(&b, "# HELP flinc_slots_available Task slots not held by a job.\n");
	fl_sb_printf(&b, "# TYPE flinc_slots_available gauge\nflinc_slots_available %d\n", nfree);
	int cnt[JM_JOB_NSTATES] = { 0 };
	for (size_t i = 0; i < j->njobs; i++) cnt[j->jobs[i]->state]++;
	fl_sb_printf(&b,
		     "# HELP flinc_jobs Jobs known to the job manager, by state.\n# TYPE flinc_jobs gauge\n");
	for (int s = 0; s < JM_JOB_NSTATES; s++)
		fl_sb_printf(&b, "flinc_jobs{state=\"%s\"} %d\n", jm_job_state_name((jm_job_state)s), cnt[s]);

	static const struct {
		const char *name, *help;
	} counters[] = {
		{ "flinc_vertex_records_in_total", "Records the vertex's subtasks read." },
		{ "flinc_vertex_records_out_total", "Records the vertex's subtasks wrote." },
		{ "flinc_vertex_bytes_in_total", "Bytes the vertex's subtasks read from the exchange." },
		{ "flinc_vertex_bytes_out_total", "Bytes the vertex's subtasks wrote to the exchange." },
		{ "flinc_vertex_backpressured_seconds_total",
		  "Seconds the vertex's subtasks were back-pressured." },
		{ "flinc_vertex_rejected_records_total", "Records the vertex's operators refused." },
		{ "flinc_vertex_dead_letters_total",
		  "Refused records written to the job's dead-letter output." },
	};
	for (size_t c = 0; c < FL_ARRAY_LEN(counters); c++) {
		fl_sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", counters[c].name, counters[c].help,
			     counters[c].name);
		for (size_t i = 0; i < j->njobs; i++) {
			jm_job *job = j->jobs[i];
			if (!job->placed) continue;
			for (uint32_t k = 0; k < job->nv; k++) {
				jm_task_metrics m = vertex_metrics(&job->v[k]);
				uint64_t val = c == 0 ? m.records_in
					: c == 1      ? m.records_out
					: c == 2      ? m.bytes_in
					: c == 3      ? m.bytes_out
					: c == 5      ? m.rejected
					: c == 6
					? m.dead_letters
					: (uint64_t)(m.backpressured_ms > 0 ? m.backpressured_ms : 0);
				char vid[17];
				jm_vertex_id_str(job->v[k].id, vid);
				fl_sb_printf(&b, "%s{", counters[c].name);
				label(&b, "job_id", job->jid, true);
				label(&b, "job_name", job->name, false);
				label(&b, "vertex_id", vid, false);
				label(&b, "vertex_name", job->v[k].name, false);
				if (c == 4)
					fl_sb_printf(&b, "} %.3f\n", (double)val / 1000); /* ms to seconds */
				else
					fl_sb_printf(&b, "} %" PRIu64 "\n", val);
			}
		}
	}
	flink_metrics(j, &b);
	return b.data;
}

/* ---- configuration ------------------------------------------------------------ */

json_t *jm_view_dashboard_config(jm *j)
{
	(void)j;
	return json_pack("{s:i, s:s, s:i, s:s, s:s, s:{s:b, s:b, s:b, s:b}}", "refresh-interval", 3000,
			 "timezone-name", "UTC", "timezone-offset", 0, "flink-version", FLINC_VERSION,
			 "flink-revision", "flinc", "features", "web-submit", 1, "web-cancel", 1,
			 "web-rescale", 0, "web-history", 0);
}

/* jm.h */
bool jm_conf_key_secret(const char *k)
{
	return !strcmp(k, "rest.auth.token") || !strcmp(k, FL_SECRET_KEY) || !strcmp(k, "s3.secret-key");
}

/* jm.h */
json_t *jm_conf_json(const fl_conf *c, bool redact)
{
	json_t *o = json_object();
	for (size_t i = 0; c && i < fl_conf_count(c); i++) {
		const char *k, *v;
		fl_conf_at(c, i, &k, &v);
		json_object_set_new(o, k, json_string(redact && jm_conf_key_secret(k) ? "******" : v));
	}
	return o;
}

json_t *jm_view_cluster_config(jm *j)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < fl_conf_count(j->conf); i++) {
		const char *k, *v;
		fl_conf_at(j->conf, i, &k, &v);
		if (jm_conf_key_secret(k)) v = "******";
		json_array_append_new(arr, json_pack("{s:s, s:s}", "key", k, "value", v));
	}
	return arr;
}

/* ---- strings from other processes ----------------------------------------- */

char *jm_utf8_dup(const char *s)
{
	if (!s) return fl_strdup("");
	size_t n = strlen(s);
	char *out = fl_malloc(n + 1);
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t len = c < 0x80      ? 1
			: (c >> 5) == 0x6  ? 2
			: (c >> 4) == 0xe  ? 3
			: (c >> 3) == 0x1e ? 4
					   : 0;
		bool ok = len > 0 && i + len <= n;
		for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
		/* overlong forms, surrogates and values past U+10FFFF are refused too */
		if (ok && len == 2) ok = c >= 0xc2;
		if (ok && len == 3) {
			unsigned v = ((c & 0x0f) << 12) | ((p[i + 1] & 0x3fu) << 6) | (p[i + 2] & 0x3fu);
			ok = v >= 0x800 && (v < 0xd800 || v > 0xdfff);
		}
		if (ok && len == 4) {
			unsigned v = ((c & 0x07) << 18) | ((p[i + 1] & 0x3fu) << 12) |
				((p[i + 2] & 0x3fu) << 6) | (p[i + 3] & 0x3fu);
			ok = v >= 0x10000 && v <= 0x10ffff;
		}
		if (ok && len == 1 && c < 0x20 && c != '\t') ok = false; /* one line, no control characters */
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, len);
		o += len;
		i += len;
	}
	out[o] = 0;
	return out;
}

/* ---- what the web UI needs (and Flink's paths it reads) ----------------- */

static const char *restart_text(const jm_job *job, char *buf, size_t cap)
{
	switch (job->restart_kind) {
	case JM_RESTART_FIXED:
		snprintf(buf, cap, "Restart with fixed delay (%lld ms). #%lld restart attempts.",
			 (long long)job->restart_delay_ms, (long long)job->restart_max);
		break;
	case JM_RESTART_EXPONENTIAL:
		snprintf(buf, cap,
			 "Restart with exponential delay: initial %lld ms, max %lld ms, multiplier %g.",
			 (long long)job->restart_delay_ms, (long long)job->restart_max_delay_ms,
			 job->restart_multiplier);
		break;
	default: snprintf(buf, cap, "Restart deactivated."); break;
	}
	return buf;
}

json_t *jm_view_job_config_locked(jm *j, jm_job *job)
{
	(void)j;
	json_t *user = jm_conf_json(job->conf, true);
	char rs[256];
	return json_pack("{s:s, s:s, s:{s:s, s:s, s:i, s:b, s:o}}", "jid", job->jid, "name", job->name,
			 "execution-config", "execution-mode", "PIPELINED", "restart-strategy",
			 restart_text(job, rs, sizeof rs), "job-parallelism", job->parallelism,
			 "object-reuse-mode", 0, "user-config", user);
}

/* A duration key of the job in ms (def when unset or bad). */
static int64_t conf_ms(const fl_conf *c, const char *key, int64_t def)
{
	bool ok = true;
	int64_t v = fl_conf_duration_ms(c, key, def, &ok);
	return ok ? v : def;
}

static const char *conf_str(const fl_conf *c, const char *key, const char *def)
{
	const char *v = c ? fl_conf_get(c, key) : NULL;
	return v && *v ? v : def;
}

json_t *jm_view_checkpoint_config_locked(jm *j, jm_job *job)
{
	(void)j;
	if (!job->coord) return job->archived_cp_config ? json_incref(job->archived_cp_config) : NULL;
	const fl_conf *c = job->conf;
	bool ok = true;
	int64_t tolerable = fl_conf_i64(c, "execution.checkpointing.tolerable-failed-checkpoints", 0, &ok);
	int64_t retained = fl_conf_i64(c, "state.checkpoints.num-retained", 1, &ok);
	const char *mode = conf_str(c, "execution.checkpointing.mode", "EXACTLY_ONCE");
	const char *backend = conf_str(c, "state.backend", "hashmap");
	bool rocks = !strcmp(backend, "rocksdb");
	const char *incr = conf_str(c, "state.backend.incremental", "true");
	/* as the tasks read it: exactly-once only */
	bool unaligned = fl_conf_parse_bool(conf_str(c, "execution.checkpointing.unaligned", "false")) == 1 &&
		strcmp(mode, "AT_LEAST_ONCE") != 0;
	char url[4096]; /* a folder on S3 as its URL, not this process's twin */
	return json_pack("{s:s, s:I, s:I, s:I, s:i, s:{s:b, s:b}, s:s, s:s, s:b, s:I, s:b, s:s, s:I, s:b}",
			 "mode", !strcmp(mode, "AT_LEAST_ONCE") ? "at_least_once" : "exactly_once",
			 "interval", (json_int_t)conf_ms(c, "execution.checkpointing.interval", 0), "timeout",
			 (json_int_t)conf_ms(c, "execution.checkpointing.timeout", 600000), "min_pause",
			 (json_int_t)conf_ms(c, "execution.checkpointing.min-pause", 0), "max_concurrent", 1,
			 "externalization", "enabled", 1, "delete_on_cancellation", 0, "state_backend",
			 rocks ? "EmbeddedRocksDBStateBackend" : "HashMapStateBackend", "checkpoint_storage",
			 "FileSystemCheckpointStorage", "unaligned_checkpoints", unaligned,
			 "tolerable_failed_checkpoints", (json_int_t)tolerable,
			 "checkpoints_after_tasks_finish", 1, "checkpoints_dir",
			 job->jobdir ? fl_remote_url(job->jobdir, url, sizeof url) : "", "num_retained",
			 (json_int_t)retained, "incremental", rocks && !strcmp(incr, "true"));
}

/* The per-subtask metrics of GET .../subtasks/metrics, by Flink's ids. */
static const char *const sub_metric_ids[] = {
	"numRecordsIn",
	"numRecordsOut",
	"numBytesIn",
	"numBytesOut",
	"numRecordsInPerSecond",
	"numRecordsOutPerSecond",
	"backPressuredTimeMsPerSecond",
	"accumulatedBackPressuredTimeMs",
	"currentInputWatermark",
	"busyTimeMsPerSecond",
	"idleTimeMsPerSecond",
	"accumulatedBusyTimeMs",
	"accumulatedIdleTimeMs",
	/* Sinks' latency markers (ms; 0: not a sink or no marker yet), the
	 * quantiles Flink's latency histogram names p50, p95, p99. */
	"latencyMs_p50",
	"latencyMs_p95",
	"latencyMs_p99",
	"latencyMs_mean",
	"latencyMs_count",
};
#define N_SUB_METRICS (sizeof sub_metric_ids / sizeof sub_metric_ids[0])

static double sub_metric(const jm_subtask *st, size_t id)
{
	bool run = st->state == JM_TASK_RUNNING;
	switch (id) {
	case 0: return (double)st->m.records_in;
	case 1: return (double)st->m.records_out;
	case 2: return (double)st->m.bytes_in;
	case 3: return (double)st->m.bytes_out;
	case 4: return run ? st->in_rate : 0;
	case 5: return run ? st->out_rate : 0;
	case 6: return run ? st->bp_ratio * 1000 : 0;
	case 7: return (double)st->m.backpressured_ms;
	case 8: return (double)st->m.watermark;
	case 9: return run ? busy_ratio(st) * 1000 : 0;
	case 10: return run ? st->idle_ratio * 1000 : 0;
	case 11: return (double)st->m.busy_ms;
	case 12: return (double)st->m.idle_ms;
	case 13: return fl_lat_quantile_ms(st->m.lat_b, 0.50);
	case 14: return fl_lat_quantile_ms(st->m.lat_b, 0.95);
	case 15: return fl_lat_quantile_ms(st->m.lat_b, 0.99);
	case 16: return st->m.lat_count ? (double)st->m.lat_sum_ns / 1e6 / (double)st->m.lat_count : 0;
	default: return (double)st->m.lat_count;
	}
}

json_t *jm_view_subtask_metrics_locked(jm *j, jm_job *job, jm_vertex *v, const char *get, const char *agg)
{
	(void)j, (void)job;
	json_t *arr = json_array();
	for (size_t id = 0; id < N_SUB_METRICS; id++) {
		const char *name = sub_metric_ids[id];
		if (!get) {
			json_array_append_new(arr, json_pack("{s:s}", "id", name));
			continue;
		}
		/* get is a comma-separated list; unknown ids are left out, as Flink does. */
		size_t n = strlen(name);
		bool want = false;
		for (const char *p = get; *p;) {
			size_t k = strcspn(p, ",");
			if (k == n && !memcmp(p, name, n)) want = true;
			p += k + (p[k] == ',');
		}
		if (!want) continue;
		double mn = 0, mx = 0, sum = 0;
		for (int i = 0; i < v->parallelism; i++) {
			double x = sub_metric(&v->sub[i], id);
			if (i == 0 || x < mn) mn = x;
			if (i == 0 || x > mx) mx = x;
			sum += x;
		}
		json_t *o = json_pack("{s:s}", "id", name);
		static const char *const aggs[] = { "min", "max", "avg", "sum" };
		double vals[] = { mn, mx, v->parallelism ? sum / v->parallelism : 0, sum };
		for (int a = 0; a < 4; a++)
			if (!agg || strstr(agg, aggs[a])) json_object_set_new(o, aggs[a], json_real(vals[a]));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *jm_view_jobs_page_locked(jm *j, int which, size_t offset, size_t limit)
{
	int64_t now = fl_now_ms();
	json_t *arr = json_array();
	size_t total = 0;
	for (size_t i = j->njobs; i-- > 0;) {
		bool ended = jm_job_state_terminal(j->jobs[i]->state);
		if ((which == 1 && ended) || (which == 2 && !ended)) continue;
		if (total >= offset && total - offset < limit)
			json_array_append_new(arr, job_overview(j->jobs[i], now));
		total++;
	}
	return json_pack("{s:o, s:I}", "jobs", arr, "total", (json_int_t)total);
}

/* Field key of doc (a new reference), doc released. */
static json_t *take_field(json_t *doc, const char *key)
{
	json_t *v = json_incref(json_object_get(doc, key));
	json_decref(doc);
	return v ? v : json_null();
}

json_t *jm_view_dashboard_locked(jm *j)
{
	json_t *o = jm_view_overview_locked(j);
	int states[JM_JOB_NSTATES] = { 0 };
	double in = 0, out = 0;
	for (size_t i = 0; i < j->njobs; i++) {
		jm_job *job = j->jobs[i];
		states[job->state]++;
		for (uint32_t k = 0; k < job->nv; k++)
			for (int s = 0; s < job->v[k].parallelism; s++) {
				const jm_subtask *st = &job->v[k].sub[s];
				if (st->state != JM_TASK_RUNNING) continue;
				if (job->v[k].source) in += st->out_rate;
				if (job->v[k].sink) out += st->in_rate;
			}
	}
	json_t *bystate = json_object();
	for (int s = 0; s < JM_JOB_NSTATES; s++)
		json_object_set_new(bystate, jm_job_state_name((jm_job_state)s), json_integer(states[s]));
	json_object_set_new(o, "jobs-by-state", bystate);
	json_object_set_new(o, "sourceRecordsPerSecond", json_real(in));
	json_object_set_new(o, "sinkRecordsPerSecond", json_real(out));
	json_object_set_new(o, "now", json_integer(fl_now_ms()));
	json_object_set_new(o, "taskmanagers-list",
			    take_field(jm_view_taskmanagers_locked(j), "taskmanagers"));
	json_object_set_new(o, "jobs", take_field(jm_view_jobs_page_locked(j, 1, 0, 50), "jobs"));
	return o;
}
