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

struct jm_watcher {
	struct jm_watcher *next;
	char jid[JM_JID_LEN + 1];
	jm_http_stream *st;
	int64_t last_mono; /* the last piece sent */
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

void jm_output_watch_locked(jm *j, const char *jid, jm_http_stream *st)
{
	jm_watcher *w = fl_calloc(1, sizeof *w);
	snprintf(w->jid, sizeof w->jid, "%s", jid);
	w->st = st;
	w->next = j->watchers;
	j->watchers = w;
	j->nwatchers++;
	static const char hello[] = "retry: 2000\n: the records of the job's sinks follow\n\n";
	if (!send_piece(w, hello, sizeof hello - 1)) drop_locked(j, &j->watchers);
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
	if (v) snprintf(vid, sizeof vid, "%016" PRIx64, v->id);
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
	/* Quiet watchers get a comment now and then: one that left is noticed. */
	int64_t now = jm_mono_ms();
	static const char ping[] = ": ping\n\n";
	for (jm_watcher **pp = &j->watchers; *pp;) {
		if (now - (*pp)->last_mono >= PING_MS && !send_piece(*pp, ping, sizeof ping - 1))
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
