/*
 * archive.c - an ended job as a JSON document, and back (the job result
 * store of ha.c).
 *
 * A job that ended keeps what the REST API shows of it: its name, state
 * and times, arguments and configuration, its graph with every subtask's
 * last state, host and counters, its exceptions, and its checkpoint
 * statistics and configuration as they were at the end. A job manager
 * started again on the same high-availability.storageDir loads these, so
 * that GET /jobs/:jid of a job that finished before the restart still
 * answers, and never runs that job a second time.
 *
 * The document (version 1):
 *   { "version": 1, "jid", "name", "state", "ts": {STATE: ms},
 *     "start", "end", "last_mod", "attempt", "restarts", "jar_id",
 *     "args": [...], "parallelism", "max_parallelism", "plan": {...},
 *     "conf": {key: value} (secrets as ******),
 *     "vertices": [{ "id": "16 hex", "name", "parallelism", "source",
 *                    "sink", "subtasks": [{ "state", "tm_id", "host",
 *                    "start", "end", "error", "m": [counters], "lat": [...] }] }],
 *     "exceptions": [{ "message", "task", "location", "tm_id", "ts" }],
 *     "root_exc", "checkpoints": {...}, "checkpoint_config": {...} }
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jm.h"

enum { ARCHIVE_VERSION = 1 };

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

/* The counters of a subtask kept in a result, as an array in this order
 * (each an 8-byte integer). */
static const size_t metric_off[] = {
	offsetof(jm_task_metrics, records_in),       offsetof(jm_task_metrics, records_out),
	offsetof(jm_task_metrics, bytes_in),         offsetof(jm_task_metrics, bytes_out),
	offsetof(jm_task_metrics, backpressured_ms), offsetof(jm_task_metrics, watermark),
	offsetof(jm_task_metrics, rejected),         offsetof(jm_task_metrics, dead_letters),
	offsetof(jm_task_metrics, idle_ms),          offsetof(jm_task_metrics, busy_ms),
};
#define NMETRICS (sizeof metric_off / sizeof metric_off[0])

static json_t *metrics_out(const jm_task_metrics *m)
{
	json_t *a = json_array();
	for (size_t i = 0; i < NMETRICS; i++) {
		int64_t v;
		memcpy(&v, (const char *)m + metric_off[i], sizeof v);
		json_array_append_new(a, json_integer((json_int_t)v));
	}
	return a;
}

static void metrics_in(json_t *a, jm_task_metrics *m)
{
	for (size_t i = 0; i < NMETRICS && i < json_array_size(a); i++) {
		int64_t v = json_integer_value(json_array_get(a, i));
		memcpy((char *)m + metric_off[i], &v, sizeof v);
	}
}

static json_t *latency_out(const jm_task_metrics *m)
{
	if (!m->lat_count) return json_null();
	json_t *b = json_array();
	for (int i = 0; i < FL_LAT_NBUCKETS; i++)
		json_array_append_new(b, json_integer((json_int_t)m->lat_b[i]));
	return json_pack("{s:o, s:I, s:I}", "b", b, "sum_ns", (json_int_t)m->lat_sum_ns, "count",
			 (json_int_t)m->lat_count);
}

static void latency_in(json_t *o, jm_task_metrics *m)
{
	json_t *b = json_object_get(o, "b");
	if (!json_is_array(b) || json_array_size(b) != FL_LAT_NBUCKETS) return;
	for (int i = 0; i < FL_LAT_NBUCKETS; i++)
		m->lat_b[i] = (uint64_t)json_integer_value(json_array_get(b, (size_t)i));
	m->lat_sum_ns = (uint64_t)json_integer_value(json_object_get(o, "sum_ns"));
	m->lat_count = (uint64_t)json_integer_value(json_object_get(o, "count"));
}

json_t *jm_archive_job_locked(jm *j, jm_job *job)
{
	json_t *ts = json_object();
	for (int s = 0; s < JM_JOB_NSTATES; s++)
		if (job->ts[s])
			json_object_set_new(ts, jm_job_state_name((jm_job_state)s), json_integer(job->ts[s]));
	json_t *args = json_array();
	for (int i = 0; i < job->nargs; i++) json_array_append_new(args, json_string(job->args[i]));
	json_t *conf = jm_conf_json(job->conf, true);
	json_t *vs = json_array();
	for (uint32_t k = 0; k < job->nv; k++) {
		const jm_vertex *v = &job->v[k];
		json_t *subs = json_array();
		for (int i = 0; i < v->parallelism; i++) {
			const jm_subtask *st = &v->sub[i];
			json_array_append_new(
				subs,
				json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o, s:o}", "state",
					  jm_task_state_name(st->state), "tm_id", str_or_null(st->tm_id),
					  "host", str_or_null(st->host), "start", (json_int_t)st->start_ms,
					  "end", (json_int_t)st->end_ms, "error", str_or_null(st->error), "m",
					  metrics_out(&st->m), "lat", latency_out(&st->m)));
		}
		char vid[17];
		jm_vertex_id_str(v->id, vid);
		json_array_append_new(vs,
				      json_pack("{s:s, s:s, s:i, s:b, s:b, s:o}", "id", vid, "name", v->name,
						"parallelism", v->parallelism, "source", v->source, "sink",
						v->sink, "subtasks", subs));
	}
	json_t *exc = json_array();
	for (size_t i = 0; i < job->nexc; i++) {
		const jm_exception *e = &job->exc[i];
		json_array_append_new(exc,
				      json_pack("{s:s, s:o, s:o, s:o, s:I}", "message", e->message, "task",
						str_or_null(e->task), "location", str_or_null(e->location),
						"tm_id", str_or_null(e->tm_id), "ts", (json_int_t)e->ts));
	}
	json_t *plan = job->plan_json ? json_loads(job->plan_json, 0, NULL) : NULL;
	json_t *cp = jm_view_checkpoints_locked(j, job);
	json_t *cpc = jm_view_checkpoint_config_locked(j, job);
	json_t *doc = json_pack(
		"{s:i, s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:i, s:I, s:s?, s:o, s:i, s:i, s:o, "
		"s:o, s:o, s:o, s:i, s:o, s:o}",
		"version", ARCHIVE_VERSION, "jid", job->jid, "name", job->name, "state",
		jm_job_state_name(job->state), "ts", ts, "start", (json_int_t)job->start_ms, "end",
		(json_int_t)job->end_ms, "last_mod", (json_int_t)job->last_mod_ms, "attempt", job->attempt,
		"restarts", (json_int_t)job->restarts, "jar_id", job->jar_id, "args", args, "parallelism",
		job->parallelism, "max_parallelism", job->max_parallelism, "plan", plan ? plan : json_null(),
		"conf", conf, "vertices", vs, "exceptions", exc, "root_exc", job->root_exc, "checkpoints",
		cp ? cp : json_null(), "checkpoint_config", cpc ? cpc : json_null());
	return doc;
}

static int state_by_name(const char *name, bool task)
{
	int n = task ? JM_TASK_NSTATES : JM_JOB_NSTATES;
	for (int s = 0; name && s < n; s++)
		if (!strcmp(name,
			    task ? jm_task_state_name((jm_task_state)s) : jm_job_state_name((jm_job_state)s)))
			return s;
	return -1;
}

static char *dup_opt(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? jm_utf8_dup(s) : NULL;
}

/* One vertex; false when it is malformed. */
static bool vertex_in(json_t *o, jm_vertex *v, uint32_t index, int max_parallelism)
{
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *name = json_string_value(json_object_get(o, "name"));
	json_t *subs = json_object_get(o, "subtasks");
	json_int_t p = json_integer_value(json_object_get(o, "parallelism"));
	if (!id || strlen(id) != 16 || !name || !json_is_array(subs) || p < 1 || p > max_parallelism ||
	    json_array_size(subs) != (size_t)p)
		return false;
	char *end;
	v->id = strtoull(id, &end, 16);
	if (*end) return false;
	v->index = index;
	v->name = jm_utf8_dup(name);
	v->parallelism = (int)p;
	v->source = json_is_true(json_object_get(o, "source"));
	v->sink = json_is_true(json_object_get(o, "sink"));
	v->sub = fl_calloc((size_t)p, sizeof *v->sub);
	for (int i = 0; i < v->parallelism; i++) {
		json_t *so = json_array_get(subs, (size_t)i);
		jm_subtask *st = &v->sub[i];
		int s = state_by_name(json_string_value(json_object_get(so, "state")), true);
		if (s < 0) return false;
		st->state = (jm_task_state)s;
		st->slot = -1;
		st->tm_id = dup_opt(so, "tm_id");
		st->host = dup_opt(so, "host");
		st->error = dup_opt(so, "error");
		st->start_ms = json_integer_value(json_object_get(so, "start"));
		st->end_ms = json_integer_value(json_object_get(so, "end"));
		metrics_in(json_object_get(so, "m"), &st->m);
		latency_in(json_object_get(so, "lat"), &st->m);
	}
	return true;
}

jm_job *jm_archive_load(json_t *doc, char *err, size_t errcap)
{
	const char *jid = json_string_value(json_object_get(doc, "jid"));
	const char *name = json_string_value(json_object_get(doc, "name"));
	int state = state_by_name(json_string_value(json_object_get(doc, "state")), false);
	json_t *vs = json_object_get(doc, "vertices");
	json_t *exc = json_object_get(doc, "exceptions");
	json_t *args = json_object_get(doc, "args");
	json_t *conf = json_object_get(doc, "conf");
	json_int_t maxp = json_integer_value(json_object_get(doc, "max_parallelism"));
	if (json_integer_value(json_object_get(doc, "version")) != ARCHIVE_VERSION) {
		snprintf(err, errcap, "not a job result of version %d", ARCHIVE_VERSION);
		return NULL;
	}
	if (!jid || strlen(jid) != JM_JID_LEN || strspn(jid, "0123456789abcdef") != JM_JID_LEN || !name ||
	    state < 0 || !jm_job_state_terminal((jm_job_state)state) || !json_is_array(vs) ||
	    json_array_size(vs) > 100000 || !json_is_array(exc) || !json_is_array(args) ||
	    !json_is_object(conf) || maxp < 1 || maxp > 32768) {
		snprintf(err, errcap, "fields missing or out of range");
		return NULL;
	}
	jm_job *job = fl_calloc(1, sizeof *job);
	memcpy(job->jid, jid, JM_JID_LEN + 1);
	job->name = jm_utf8_dup(name);
	job->state = (jm_job_state)state;
	json_t *ts = json_object_get(doc, "ts");
	for (int s = 0; s < JM_JOB_NSTATES; s++)
		job->ts[s] = json_integer_value(json_object_get(ts, jm_job_state_name((jm_job_state)s)));
	job->start_ms = json_integer_value(json_object_get(doc, "start"));
	job->end_ms = json_integer_value(json_object_get(doc, "end"));
	job->last_mod_ms = json_integer_value(json_object_get(doc, "last_mod"));
	job->attempt = (int)json_integer_value(json_object_get(doc, "attempt"));
	job->restarts = json_integer_value(json_object_get(doc, "restarts"));
	job->jar_id = dup_opt(doc, "jar_id");
	job->nargs = (int)json_array_size(args);
	job->args = fl_calloc((size_t)job->nargs + 1, sizeof(char *));
	for (int i = 0; i < job->nargs; i++) {
		const char *a = json_string_value(json_array_get(args, (size_t)i));
		job->args[i] = jm_utf8_dup(a ? a : "");
	}
	job->parallelism = (int)json_integer_value(json_object_get(doc, "parallelism"));
	job->max_parallelism = (int)maxp;
	json_t *plan = json_object_get(doc, "plan");
	if (json_is_object(plan)) job->plan_json = json_dumps(plan, JSON_COMPACT);
	job->conf = fl_conf_create();
	const char *k;
	json_t *v;
	json_object_foreach(conf, k, v)
	{
		if (json_is_string(v)) fl_conf_set(job->conf, k, json_string_value(v));
	}
	job->nv = (uint32_t)json_array_size(vs);
	job->v = fl_calloc(job->nv ? job->nv : 1, sizeof *job->v);
	for (uint32_t i = 0; i < job->nv; i++) {
		if (!vertex_in(json_array_get(vs, i), &job->v[i], i, job->max_parallelism)) {
			snprintf(err, errcap, "vertex %u is malformed", i);
			jm_job_free(job);
			return NULL;
		}
		job->nsubtasks += job->v[i].parallelism;
	}
	job->root_exc = -1;
	size_t nexc = json_array_size(exc);
	if (nexc > 1000) nexc = 1000;
	job->exc = fl_calloc(nexc ? nexc : 1, sizeof *job->exc);
	for (size_t i = 0; i < nexc; i++) {
		json_t *e = json_array_get(exc, i);
		const char *msg = json_string_value(json_object_get(e, "message"));
		if (!msg) continue;
		jm_exception *x = &job->exc[job->nexc++];
		x->message = jm_utf8_dup(msg);
		x->task = dup_opt(e, "task");
		x->location = dup_opt(e, "location");
		x->tm_id = dup_opt(e, "tm_id");
		x->ts = json_integer_value(json_object_get(e, "ts"));
	}
	json_int_t root = json_integer_value(json_object_get(doc, "root_exc"));
	if (root >= 0 && (size_t)root < job->nexc) job->root_exc = (int)root;
	json_t *cp = json_object_get(doc, "checkpoints");
	json_t *cpc = json_object_get(doc, "checkpoint_config");
	job->archived_cp = json_is_object(cp) ? json_incref(cp) : NULL;
	job->archived_cp_config = json_is_object(cpc) ? json_incref(cpc) : NULL;
	return job;
}
