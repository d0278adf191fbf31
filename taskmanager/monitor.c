/*
 * monitor.c - watch the subtasks of every job instance.
 *
 * Every 20 ms: read each subtask's state (an atomic the task thread
 * writes), queue a TaskStatus for each change, and take out of the list
 * the instances whose subtasks have all ended; those are torn down outside
 * the lock (threads joined, remote channels closed, graph and plugin
 * freed).
 *
 * What is reported:
 *   created, not yet running         DEPLOYING (queued by the deploy itself)
 *   running                          RUNNING
 *   finished                         FINISHED (after RUNNING, even when the
 *                                    task ended between two polls)
 *   failed                           FAILED with the task's message
 *   canceled by the job manager      CANCELED
 *   canceled by us for a lost peer   FAILED "lost connection to task
 *                                    manager at <addr>"
 */
#include "tm.h"

#include <stdlib.h>
#include <string.h>

static int proto_state(fl_task_state s)
{
	switch (s) {
	case FL_TASK_CREATED: return FLINC__TASK_STATE__DEPLOYING;
	case FL_TASK_RUNNING: return FLINC__TASK_STATE__RUNNING;
	case FL_TASK_FINISHED: return FLINC__TASK_STATE__FINISHED;
	case FL_TASK_CANCELED: return FLINC__TASK_STATE__CANCELED;
	case FL_TASK_FAILED: return FLINC__TASK_STATE__FAILED;
	}
	return FLINC__TASK_STATE__FAILED;
}

static const char *state_name(int s)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&flinc__task_state__descriptor, s);
	return v ? v->name : "?";
}

static bool ended(int s)
{
	return s == FLINC__TASK_STATE__FINISHED || s == FLINC__TASK_STATE__CANCELED ||
		s == FLINC__TASK_STATE__FAILED;
}

/* Queue the changes of one instance; true when all its subtasks ended.
 * Called with tm->mu held. */
static bool poll_instance(tm_server *tm, tm_instance *in)
{
	bool all_ended = true;
	for (uint32_t i = 0; i < in->nsubs; i++) {
		tm_sub *s = &in->subs[i];
		int st = proto_state(fl_task_get_state(s->task));
		if (st == FLINC__TASK_STATE__RUNNING && fl_task_awaiting_final(s->task))
			st = FLINC__TASK_STATE__ENDED;
		if (!ended(st)) all_ended = false;
		if (st == s->reported) continue;
		tm_metrics m;
		tm_metrics_read(s->task, &m);
		const char *error = NULL;
		if ((st == FLINC__TASK_STATE__FINISHED || st == FLINC__TASK_STATE__ENDED) &&
		    s->reported != FLINC__TASK_STATE__RUNNING && s->reported != FLINC__TASK_STATE__ENDED)
			tm_report(tm, in, s, FLINC__TASK_STATE__RUNNING, NULL, &m);
		if (st == FLINC__TASK_STATE__FAILED) {
			error = fl_task_error(s->task);
		} else if (st == FLINC__TASK_STATE__CANCELED && !in->canceled && in->fail_reason[0]) {
			st = FLINC__TASK_STATE__FAILED;
			error = in->fail_reason;
		}
		if (st == s->reported) continue;
		const char *vname = s->vertex < fl_plan_vertices(in->plan)
			? fl_plan_vertex(in->plan, s->vertex).name
			: "?";
		if (error)
			fl_log(FL_LOG_WARN, TM_LOG, "job %s attempt %d task %u.%d (%s) %s: %s", in->job_id,
			       in->attempt, s->vertex, s->subtask, vname, state_name(st), error);
		else
			fl_log(FL_LOG_INFO, TM_LOG, "job %s attempt %d task %u.%d (%s) %s", in->job_id,
			       in->attempt, s->vertex, s->subtask, vname, state_name(st));
		tm_report(tm, in, s, st, error, &m);
		s->reported = st;
	}
	return all_ended;
}

/* An ended instance whose subtasks all finished may still have buffers in
 * its outgoing remote channels that the data service sends as the remote
 * consumers grant credit: closing now would drop them (and the consumers'
 * end of input with them). Wait, without blocking the monitor, until every
 * out channel has all its buffers back, or the deadline passes, or the
 * instance was canceled or lost a peer (then nothing more will be read). */
#define DRAIN_TIMEOUT_NS (60 * 1000000000LL)

static bool drained(tm_instance *in)
{
	if (in->canceled || in->fail_reason[0]) return true;
	for (uint32_t i = 0; i < in->nsubs; i++)
		if (in->subs[i].reported != FLINC__TASK_STATE__FINISHED) return true; /* failed: no point */
	int64_t now = fl_mono_ns();
	if (!in->drain_deadline_ns) in->drain_deadline_ns = now + DRAIN_TIMEOUT_NS;
	for (size_t k = 0; k < in->nremote; k++) {
		tm_remote *r = &in->remote[k];
		if (!r->out || !r->ch || fl_channel_free_count(r->ch) >= r->nbufs) continue;
		if (now < in->drain_deadline_ns) return false;
		fl_log(FL_LOG_WARN, TM_LOG,
		       "job %s attempt %d: data to %s not delivered after %lld s; closing anyway", in->job_id,
		       in->attempt, r->peer, (long long)(DRAIN_TIMEOUT_NS / 1000000000LL));
		return true;
	}
	return true;
}

static void *monitor_main(void *arg)
{
	tm_server *tm = arg;
	for (;;) {
		tm_instance *done = NULL;
		pthread_mutex_lock(&tm->mu);
		for (tm_instance **pp = &tm->instances; *pp;) {
			tm_instance *in = *pp;
			if (poll_instance(tm, in) && drained(in)) {
				*pp = in->next;
				in->next = done;
				done = in;
			} else {
				pp = &in->next;
			}
		}
		bool stop = atomic_load(&tm->stopping) && !tm->instances;
		pthread_mutex_unlock(&tm->mu);
		for (tm_instance *in = done, *next; in; in = next) {
			next = in->next;
			/* Outcome of the whole instance, for the log. */
			int finished = 0, failed = 0, canceled = 0;
			for (uint32_t i = 0; i < in->nsubs; i++) {
				int st = in->subs[i].reported;
				finished += st == FLINC__TASK_STATE__FINISHED;
				failed += st == FLINC__TASK_STATE__FAILED;
				canceled += st == FLINC__TASK_STATE__CANCELED;
			}
			fl_log(FL_LOG_INFO, TM_LOG,
			       "job '%s' (%s) attempt %d ended here after %.1f s: %d finished, %d canceled, %d failed",
			       in->job_name, in->job_id, in->attempt,
			       (double)(fl_mono_ns() - in->t_start_ns) / 1e9, finished, canceled, failed);
			tm_instance_destroy(in);
		}
		if (done) {
			pthread_mutex_lock(&tm->mu);
			pthread_cond_broadcast(&tm->idle_cv);
			pthread_mutex_unlock(&tm->mu);
		}
		if (stop) break;
		/* A plain sleep: at shutdown we keep polling until every
		 * instance is gone (tm_monitor_stop waits for that). */
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 20 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int tm_monitor_start(tm_server *tm)
{
	if (pthread_create(&tm->monitor_thread, NULL, monitor_main, tm) != 0) return FLINC_ENOMEM;
	tm->monitor_running = true;
	return FLINC_OK;
}

void tm_monitor_stop(tm_server *tm)
{
	/* Returns once tm->stopping is set and no instance is left. */
	if (tm->monitor_running) pthread_join(tm->monitor_thread, NULL);
	tm->monitor_running = false;
}

bool tm_wait_idle(tm_server *tm, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
	pthread_mutex_lock(&tm->mu);
	while (tm->instances)
		if (pthread_cond_timedwait(&tm->idle_cv, &tm->mu, &ts) != 0) break;
	bool idle = !tm->instances;
	pthread_mutex_unlock(&tm->mu);
	return idle;
}
