/*
 * instance.c - running job instances: cancel, lost data peers, metrics,
 * teardown.
 */
#include "tm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tm_metrics_read(const fl_task *t, tm_metrics *m)
{
	fl_task_stats st;
	fl_task_stats_read(t, &st);
	m->records_in = st.records_in;
	m->records_out = st.records_out;
	m->bytes_in = st.bytes_in;
	m->bytes_out = st.bytes_out;
	m->backpressured_ms = st.backpressured_ns / 1000000;
	m->idle_ms = st.idle_ns / 1000000;
	m->watermark = st.watermark;
	m->rejected = st.rejected;
	m->dead_letters = st.dead_letters;
	m->latency = st.latency;
	m->nlag = st.nlag;
	for (uint32_t i = 0; i < st.nlag; i++) {
		m->lag[i].topic = st.lag[i].topic;
		m->lag[i].partition = st.lag[i].partition;
		m->lag[i].offset = st.lag[i].offset;
		m->lag[i].lag = st.lag[i].lag;
	}
}

static bool matches(const tm_instance *in, const char *job_id, int attempt)
{
	return (attempt < 0 || in->attempt == attempt) && strcmp(in->job_id, job_id) == 0;
}

int tm_cancel(tm_server *tm, const char *job_id, int attempt, bool stop)
{
	int n = 0;
	pthread_mutex_lock(&tm->mu);
	for (tm_instance *in = tm->instances; in; in = in->next) {
		if (!matches(in, job_id, attempt)) continue;
		if (!in->canceled)
			fl_log(FL_LOG_INFO, TM_LOG, "%s job '%s' (%s) attempt %d",
			       stop ? "stopping" : "canceling", in->job_name, in->job_id, in->attempt);
		in->canceled = true;
		if (stop)
			fl_exec_stop(in->exec);
		else
			fl_exec_cancel(in->exec);
		n++;
	}
	pthread_mutex_unlock(&tm->mu);
	return n;
}

int tm_cancel_all(tm_server *tm, const char *reason)
{
	int n = 0;
	pthread_mutex_lock(&tm->mu);
	for (tm_instance *in = tm->instances; in; in = in->next) {
		if (reason && !in->canceled && !in->fail_reason[0])
			snprintf(in->fail_reason, sizeof in->fail_reason, "%s", reason);
		else if (!reason)
			in->canceled = true;
		fl_exec_cancel(in->exec);
		n++;
	}
	pthread_mutex_unlock(&tm->mu);
	return n;
}

void tm_on_peer_lost(void *ud, const char *peer, int err, const char *why)
{
	(void)err;
	tm_server *tm = ud;
	if (!peer) return;
	pthread_mutex_lock(&tm->mu);
	for (tm_instance *in = tm->instances; in; in = in->next) {
		bool uses = false;
		for (size_t k = 0; k < in->nremote && !uses; k++)
			uses = strcmp(in->remote[k].peer, peer) == 0;
		if (!uses || in->canceled || in->fail_reason[0]) continue;
		snprintf(in->fail_reason, sizeof in->fail_reason,
			 "lost connection to task manager at %s%s%s%s", peer, why && why[0] ? " (" : "",
			 why ? why : "", why && why[0] ? ")" : "");
		fl_log(FL_LOG_WARN, TM_LOG, "job '%s' (%s) attempt %d: %s; failing its subtasks here",
		       in->job_name, in->job_id, in->attempt, in->fail_reason);
		fl_exec_cancel(in->exec);
	}
	pthread_mutex_unlock(&tm->mu);
}

void tm_instance_destroy(tm_instance *in)
{
	if (!in) return;
	/* Teardown order (exchange.h, "Ownership"): close, stop, then fini.
	 * Cancel and join every started subtask thread: from then on no task
	 * touches a channel (each gave its held buffers back on its way
	 * out). */
	if (in->exec) {
		char err[512];
		fl_exec_cancel(in->exec);
		fl_exec_wait(in->exec, NULL, err, sizeof err);
	}
	/* The data service may still signal the tasks' notifies through the
	 * remote channels until they are closed, so close them before the
	 * tasks are freed; fl_exec_destroy then frees the tasks and the
	 * local channels without touching these. */
	if (in->nremote) {
		uint64_t *ids = fl_malloc(in->nremote * sizeof(uint64_t));
		for (size_t k = 0; k < in->nremote; k++) ids[k] = in->remote[k].id;
		fl_netx_close(in->tm->netx, ids, in->nremote);
		free(ids);
	}
	fl_exec_destroy(in->exec);
	fl_restore_close(in->restore);
	if (in->plan) {
		for (uint32_t v = 0; v < fl_plan_vertices(in->plan); v++) {
			if (in->addr) {
				for (int s = 0; s < fl_plan_vertex(in->plan, v).parallelism; s++)
					free(in->addr[v][s]);
				free(in->addr[v]);
			}
			if (in->mine) free(in->mine[v]);
		}
	}
	free(in->addr);
	free(in->mine);
	fl_plan_destroy(in->plan);
	fl_env_destroy(in->env);
	fl_conf_destroy(in->conf);
	for (int i = 0; i < in->argc; i++) free(in->argv[i]);
	free(in->argv);
	fl_plugin_close(in->plugin);
	free(in->remote);
	free(in->subs);
	free(in->job_id);
	free(in->job_name);
	free(in);
}
