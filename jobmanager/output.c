/*
 * output.c - the live output of jobs: GET /jobs/:jid/output streams, as
 * Server-Sent Events, the records the job's sinks write.
 *
 * The path of a record: a sink subtask keeps it in its tap ring only
 * while somebody watches the job (runtime/src/tap.h); the task manager
 * sends what the rings kept with its next heartbeat; here it goes out to
 * every watcher of the job as one event per sink subtask and heartbeat:
 *
 *   event: records
 *   data: {"vertex":"<16 hex>","name":"<vertex name>","subtask":0,"attempt":1,
 *          "records":["...", ...],"cut":0}
 *
 * and, at most once a second (at a heartbeat), one event with the job's
 * state and its vertices' live figures (Flink's names), so a dashboard
 * shows rates without polling anything:
 *
 *   event: job
 *   data: {"jid":"...","name":"fraud","state":"RUNNING","now":<wall ms>,
 *          "vertices":[{"id":"<16 hex>","name":"Source: source -> parse",
 *          "parallelism":2,"source":true,"sink":false,
 *          "numRecordsInPerSecond":0.0,"numRecordsOutPerSecond":812.5,
 *          "read-records":0,"write-records":40210}, ...]}
 *
 * Which jobs are watched goes back to the task managers in every
 * HeartbeatAck, so a ring is on from about one heartbeat after the first
 * watcher came to about one after the last one left. A watcher that left
 * is noticed at the next piece sent to it (records, or a comment every
 * PING_MS); one that reads too slowly loses pieces (the HTTP server holds
 * at most 1 MiB for it), never slows anything else. Everything here runs
 * under jm.mu (the HTTP server's lock comes after it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "jm.h"

#define PING_MS 5000
/* The job's figures at most this often: a little under the heartbeat
 * interval, so a task manager's heartbeat a few ms early still sends. */
#define FIGURES_MS 900

struct jm_watcher {
	struct jm_watcher *next;
	char jid[JM_JID_LEN + 1];
	jm_http_stream *st;
	int64_t last_mono;    /* the last piece sent */
	int64_t figures_mono; /* the last "job" event sent */
};

/* Send a piece; false when the watcher left (then it must go). */
static bool send_piece(jm_watcher *w, const char *s, size_t n)
{
	int rc = jm_http_stream_send(w->st, s, n);
	if (rc == FLINC_ECANCELED) return false;
	if (rc == FLINC_OK) w->last_mono = jm_mono_ms();
	return true; /* FLINC_ERANGE: a slow reader, the piece is dropped */
}

static void drop_locked(jm *j, jm_watcher **pp)
{
	jm_watcher *w = *pp;
	*pp = w->next;
	jm_http_stream_end(w->st);
	free(w);
	j->nwatchers--;
}

/* The job's state and its vertices' live figures as one "job" event:
 * rates summed over the running subtasks, counts over all; malloc'ed. */
static char *figures_event(const jm_job *job)
{
	json_t *vs = json_array();
	for (uint32_t k = 0; k < job->nv; k++) {
		const jm_vertex *v = &job->v[k];
		double in = 0, out = 0;
		uint64_t rin = 0, rout = 0;
		for (int i = 0; i < v->parallelism; i++) {
			const jm_subtask *st = &v->sub[i];
			rin += st->m.records_in;
			rout += st->m.records_out;
			if (st->state != JM_TASK_RUNNING) continue;
			in += st->in_rate;
			out += st->out_rate;
		}
		char vid[17];
		jm_vertex_id_str(v->id, vid);
		json_array_append_new(vs,
				      json_pack("{s:s, s:s, s:i, s:b, s:b, s:f, s:f, s:I, s:I}", "id", vid,
						"name", v->name, "parallelism", v->parallelism, "source",
						v->source, "sink", v->sink, "numRecordsInPerSecond", in,
						"numRecordsOutPerSecond", out, "read-records",
						(json_int_t)rin, "write-records", (json_int_t)rout));
	}
	json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:o}", "jid", job->jid, "name", job->name, "state",
			      jm_job_state_name(job->state), "now", (json_int_t)fl_now_ms(), "vertices", vs);
	char *js = d ? json_dumps(d, JSON_COMPACT) : NULL;
	json_decref(d);
	char *ev = js ? fl_asprintf("event: job\ndata: %s\n\n", js) : NULL;
	free(js);
	return ev;
}

/* Send the job's figures to w if FIGURES_MS passed; false when w left. */
static bool send_figures(jm *j, jm_watcher *w, int64_t now)
{
	if (now - w->figures_mono < FIGURES_MS) return true;
	jm_job *job = jm_job_find_locked(j, w->jid);
	if (!job) return true;
	char *ev = figures_event(job);
	if (!ev) return true;
	w->figures_mono = now;
	bool alive = send_piece(w, ev, strlen(ev));
	free(ev);
	return alive;
}

void jm_output_watch_locked(jm *j, const char *jid, jm_http_stream *st)
{
	jm_watcher *w = fl_calloc(1, sizeof *w);
	snprintf(w->jid, sizeof w->jid, "%s", jid);
	w->st = st;
	w->next = j->watchers;
	j->watchers = w;
	j->nwatchers++;
	static const char hello[] = "retry: 2000\n: the records of the job's sinks follow\n\n";
	w->figures_mono = INT64_MIN / 2;
	if (!send_piece(w, hello, sizeof hello - 1) || !send_figures(j, w, jm_mono_ms()))
		drop_locked(j, &j->watchers);
}

size_t jm_output_watched_locked(jm *j, char **ids, size_t cap)
{
	size_t n = 0;
	for (jm_watcher *w = j->watchers; w; w = w->next) {
		bool seen = false;
		for (size_t i = 0; i < n && !seen; i++) seen = !strcmp(ids[i], w->jid);
		if (!seen && n < cap) ids[n++] = w->jid;
	}
	return n;
}

/* One event of a sink subtask's records; malloc'ed. */
static char *event_of(jm_job *job, const Flinc__SinkOutput *o)
{
	jm_vertex *v = o->vertex < job->nv ? &job->v[o->vertex] : NULL;
	char vid[17] = "";
	if (v) jm_vertex_id_str(v->id, vid);
	json_t *recs = json_array();
	for (size_t k = 0; k < o->n_records; k++) {
		char *s = fl_malloc(o->records[k].len + 1);
		memcpy(s, o->records[k].data, o->records[k].len);
		s[o->records[k].len] = 0;
		char *clean = jm_utf8_dup(s); /* a record's bytes are the job's: made valid UTF-8 */
		json_array_append_new(recs, json_string(clean));
		free(clean);
		free(s);
	}
	json_t *d = json_pack("{s:s, s:s, s:i, s:i, s:o}", "vertex", vid, "name", v ? v->name : "", "subtask",
			      o->subtask, "attempt", o->attempt, "records", recs);
	char *js = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	char *ev = js ? fl_asprintf("event: records\ndata: %s\n\n", js) : NULL;
	free(js);
	return ev;
}

void jm_output_heartbeat_locked(jm *j, const Flinc__Heartbeat *hb)
{
	if (!j->watchers) return;
	for (size_t i = 0; i < hb->n_output; i++) {
		const Flinc__SinkOutput *o = hb->output[i];
		jm_job *job = jm_job_find_locked(j, o->job_id);
		if (!job || o->attempt != job->attempt || !o->n_records) continue;
		char *ev = NULL;
		for (jm_watcher **pp = &j->watchers; *pp;) {
			if (strcmp((*pp)->jid, o->job_id) != 0) {
				pp = &(*pp)->next;
				continue;
			}
			if (!ev) ev = event_of(job, o);
			if (ev && !send_piece(*pp, ev, strlen(ev)))
				drop_locked(j, pp);
			else
				pp = &(*pp)->next;
		}
		free(ev);
	}
	/* The jobs' figures once a second; quiet watchers get a comment now
	 * and then: one that left is noticed. */
	int64_t now = jm_mono_ms();
	static const char ping[] = ": ping\n\n";
	for (jm_watcher **pp = &j->watchers; *pp;) {
		if (!send_figures(j, *pp, now) ||
		    (now - (*pp)->last_mono >= PING_MS && !send_piece(*pp, ping, sizeof ping - 1)))
			drop_locked(j, pp);
		else
			pp = &(*pp)->next;
	}
}

void jm_output_close_all(jm *j)
{
	pthread_mutex_lock(&j->mu);
	while (j->watchers) drop_locked(j, &j->watchers);
	pthread_mutex_unlock(&j->mu);
}
