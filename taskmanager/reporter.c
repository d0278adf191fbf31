/*
 * reporter.c - TaskStatus and AcknowledgeCheckpoint messages to the job
 * manager, in order.
 *
 * The monitor and the deploy path queue statuses (tm_report never blocks);
 * one thread sends them on its own REQ socket. A message the job manager
 * did not answer (down, restarting) is retried every 200 ms until it is
 * answered or the task manager stops, so the job manager sees every
 * transition of every subtask in order. A reply of any kind (even an Ack
 * that refuses it) counts as delivered, except a refusal of the connection
 * itself (NNG_EPERM: it does not speak for this task manager yet, as
 * after a reconnect before the session registered again): that is retried
 * too.
 */
#include "tm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct status_msg {
	struct status_msg *next;
	fl_cp_ack_info *ack; /* an AcknowledgeCheckpoint rather than a TaskStatus */
	char *job_id;
	int attempt;
	uint32_t vertex;
	int subtask;
	int state;
	char *error;
	tm_metrics m;
} status_msg;

struct tm_reporter {
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* queue not empty, or stop */
	pthread_cond_t empty; /* queue drained */
	status_msg *head, *tail;
	bool sending; /* the head is being sent */
	bool stop;
	pthread_t thread;
	tm_jm jm;
	char last_refusal[512]; /* job/attempt/reason of the last refused status */
};

static void status_free(status_msg *s)
{
	fl_cp_ack_free(s->ack);
	free(s->job_id);
	free(s->error);
	free(s);
}

static void enqueue(tm_reporter *r, status_msg *s)
{
	pthread_mutex_lock(&r->mu);
	if (r->tail)
		r->tail->next = s;
	else
		r->head = s;
	r->tail = s;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void tm_report(tm_server *tm, const tm_instance *in, const tm_sub *sub, int state, const char *error,
	       const tm_metrics *m)
{
	tm_reporter *r = tm->reporter;
	status_msg *s = fl_calloc(1, sizeof(*s));
	s->job_id = fl_strdup(in->job_id);
	s->attempt = in->attempt;
	s->vertex = sub->vertex;
	s->subtask = sub->subtask;
	s->state = state;
	s->error = fl_strdup(error ? error : "");
	if (m) s->m = *m;
	enqueue(r, s);
}

void tm_report_ack(tm_server *tm, const char *job_id, const fl_cp_ack_info *a)
{
	status_msg *s = fl_calloc(1, sizeof(*s));
	s->job_id = fl_strdup(job_id);
	s->ack = fl_cp_ack_dup(a);
	enqueue(tm->reporter, s);
}

static int send_ack(tm_server *tm, tm_reporter *r, const status_msg *s)
{
	const fl_cp_ack_info *a = s->ack;
	Flinc__AcknowledgeCheckpoint m = FLINC__ACKNOWLEDGE_CHECKPOINT__INIT;
	m.tm_id = tm->tm_id;
	m.job_id = s->job_id;
	m.attempt = a->attempt;
	m.checkpoint_id = a->id;
	m.vertex = a->vertex;
	m.subtask = a->subtask;
	m.ok = a->rc == 0;
	m.error = (char *)a->err;
	m.ended = a->ended;
	m.path = a->file.path ? a->file.path : (char *)"";
	m.vertex_id = a->file.vertex_id;
	m.parallelism = a->file.parallelism;
	m.kg_first = a->file.kg_first;
	m.kg_last = a->file.kg_last;
	m.size = a->file.size;
	m.crc = a->file.crc;
	m.state_size = a->state_size;
	m.checkpointed_size = a->checkpointed_size;
	m.native = a->file.native ? a->file.native : (char *)"";
	m.shared = a->shared;
	m.n_shared = a->n_shared;
	m.align_ms = a->align_ms;
	m.sync_ms = a->sync_ms;
	m.async_ms = a->async_ms;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_CHECKPOINT_ACK;
	env.checkpoint_ack = &m;
	Flinc__Envelope *reply;
	int rc = tm_jm_call(&r->jm, &env, FLINC__ENVELOPE__BODY_ACK, &reply);
	fl_rpc_free(reply);
	return rc == 0 || rc == NNG_EPROTO ? 0 : rc;
}

static int send_one(tm_server *tm, tm_reporter *r, const status_msg *s)
{
	if (s->ack) return send_ack(tm, r, s);
	Flinc__TaskMetrics met = FLINC__TASK_METRICS__INIT;
	met.job_id = s->job_id;
	met.attempt = s->attempt;
	met.vertex = s->vertex;
	met.subtask = s->subtask;
	met.records_in = s->m.records_in;
	met.records_out = s->m.records_out;
	met.bytes_in = s->m.bytes_in;
	met.bytes_out = s->m.bytes_out;
	met.backpressured_ms = s->m.backpressured_ms;
	met.idle_ms = s->m.idle_ms;
	met.watermark = s->m.watermark;
	met.rejected = s->m.rejected;
	met.dead_letters = s->m.dead_letters;
	if (s->m.latency.count) {
		met.n_latency_buckets = FL_LAT_NBUCKETS;
		met.latency_buckets = (uint64_t *)s->m.latency.b;
		met.latency_sum_ns = s->m.latency.sum_ns;
	}
	Flinc__TaskStatus st = FLINC__TASK_STATUS__INIT;
	st.tm_id = tm->tm_id;
	st.job_id = s->job_id;
	st.attempt = s->attempt;
	st.vertex = s->vertex;
	st.subtask = s->subtask;
	st.state = (Flinc__TaskState)s->state;
	st.error = s->error;
	st.metrics = &met;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_STATUS;
	env.status = &st;
	Flinc__Envelope *reply;
	int rc = tm_jm_call(&r->jm, &env, FLINC__ENVELOPE__BODY_ACK, &reply);
	if (rc == 0 && reply->ack && !reply->ack->ok) {
		/* Once per job and reason: after a job manager restart every
		 * late status of an old job is refused alike. */
		char key[sizeof r->last_refusal];
		snprintf(key, sizeof key, "%s/%d/%s", s->job_id, s->attempt, reply->ack->error);
		if (strcmp(key, r->last_refusal) != 0)
			fl_log(FL_LOG_WARN, TM_LOG,
			       "the job manager refused the status of job %s attempt %d task %u.%d: %s",
			       s->job_id, s->attempt, s->vertex, s->subtask, reply->ack->error);
		snprintf(r->last_refusal, sizeof r->last_refusal, "%s", key);
	}
	fl_rpc_free(reply);
	/* Any reply means the job manager has seen it. */
	return rc == 0 || rc == NNG_EPROTO ? 0 : rc;
}

static void *reporter_main(void *arg)
{
	tm_server *tm = arg;
	tm_reporter *r = tm->reporter;
	bool warned = false;
	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->head && !r->stop) pthread_cond_wait(&r->cv, &r->mu);
		if (!r->head) break; /* stop with nothing left */
		status_msg *s = r->head;
		r->sending = true;
		pthread_mutex_unlock(&r->mu);
		int rc = send_one(tm, r, s);
		pthread_mutex_lock(&r->mu);
		r->sending = false;
		if (rc == 0) {
			warned = false;
			r->head = s->next;
			if (!r->head) {
				r->tail = NULL;
				pthread_cond_broadcast(&r->empty);
			}
			status_free(s);
			continue;
		}
		if (r->stop) break;
		if (!warned)
			fl_log(FL_LOG_WARN, TM_LOG,
			       "cannot report task status to the job manager: %s; retrying",
			       tm_jm_why(&r->jm, rc));
		warned = true;
		/* Retry after a pause (woken early by stop). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		if (r->stop) break;
	}
	pthread_cond_broadcast(&r->empty);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int tm_reporter_start(tm_server *tm)
{
	tm_reporter *r = fl_calloc(1, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_cond_init(&r->empty, NULL);
	int rc = tm_jm_open(&r->jm, tm, 3000, 1 << 20);
	if (rc) {
		fl_log(FL_LOG_ERROR, TM_LOG, "cannot open a socket to the job manager at %s: %s", tm->jm_url,
		       nng_strerror(rc));
		free(r);
		return FLINC_EIO;
	}
	tm->reporter = r;
	if (pthread_create(&r->thread, NULL, reporter_main, tm) != 0) {
		tm_jm_close(&r->jm);
		free(r);
		tm->reporter = NULL;
		return FLINC_ENOMEM;
	}
	return FLINC_OK;
}

void tm_reporter_stop(tm_server *tm, int64_t flush_ms)
{
	tm_reporter *r = tm->reporter;
	if (!r) return;
	/* Give the queue flush_ms to drain, then stop whatever is left. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += flush_ms / 1000;
	ts.tv_nsec += (flush_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&r->mu);
	while (r->head) {
		if (pthread_cond_timedwait(&r->empty, &r->mu, &ts) != 0) break;
	}
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	/* Closing the socket ends a call in flight at once. */
	nng_close(r->jm.sock);
	pthread_join(r->thread, NULL);
	size_t dropped = 0;
	for (status_msg *s = r->head, *n; s; s = n) {
		n = s->next;
		status_free(s);
		dropped++;
	}
	if (dropped) fl_log(FL_LOG_WARN, TM_LOG, "%zu task status report(s) not delivered", dropped);
	pthread_cond_destroy(&r->cv);
	pthread_cond_destroy(&r->empty);
	pthread_mutex_destroy(&r->mu);
	free(r);
	tm->reporter = NULL;
}
