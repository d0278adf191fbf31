/*
 * control.c - the task manager's control socket (REP), which the job
 * manager dials to send DeployJob, CancelJob, TriggerCheckpoint and
 * NotifyCheckpointComplete. Every request gets one
 * Ack: ok, or a one-line error. Anything else (bytes that are not an
 * Envelope, a message kind that does not belong here) gets Ack{error} too;
 * the socket keeps serving.
 *
 * Nothing is honoured before its connection authenticated: the socket is
 * an fl_rpc_server (proto/rpc.h) that answers the cluster handshake and
 * refuses every other message on a connection that has not proven
 * security.cluster.secret (Ack{code: ACK_AUTH}, a rate-limited log line).
 */
#include "tm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/rep.h>

static void on_deploy(tm_server *tm, const Flinc__DeployJob *d)
{
	char err[1024] = "";
	if (atomic_load(&tm->stopping)) {
		fl_rpc_ack(tm->rep, 0, "the task manager is shutting down");
		return;
	}
	int rc = tm_deploy(tm, d, err, sizeof err);
	if (rc == FLINC_OK)
		fl_rpc_ack(tm->rep, 1, NULL);
	else
		fl_rpc_ack(tm->rep, 0, err[0] ? err : flinc_strerror(rc));
}

static void on_cancel(tm_server *tm, const Flinc__CancelJob *c)
{
	if (!c->job_id || !c->job_id[0]) {
		fl_rpc_ack(tm->rep, 0, "cancel: missing job id");
		return;
	}
	int n = tm_cancel(tm, c->job_id, c->attempt, c->stop);
	if (n == 0)
		fl_log(FL_LOG_INFO, TM_LOG, "cancel of job %s attempt %d: nothing of it runs here", c->job_id,
		       c->attempt);
	/* Canceling what is not (or no longer) here is a success: the
	 * result the job manager wants holds. */
	fl_rpc_ack(tm->rep, 1, NULL);
}

/* Checkpoint messages go to the instance of that job and attempt; one of
 * another attempt (or gone) is answered ok and dropped: fencing. */
static void on_checkpoint(tm_server *tm, const char *job_id, int attempt, int64_t id, int kind, bool flag)
{
	if (!job_id) {
		fl_rpc_ack(tm->rep, 0, "checkpoint message without a job id");
		return;
	}
	pthread_mutex_lock(&tm->mu);
	for (tm_instance *in = tm->instances; in; in = in->next) {
		if (in->attempt != attempt || strcmp(in->job_id, job_id) != 0 || !in->checkpointing) continue;
		if (kind == 0)
			fl_exec_trigger(in->exec, id, flag); /* flag: a savepoint */
		else
			fl_exec_complete(in->exec, id, flag); /* flag: the final checkpoint */
	}
	pthread_mutex_unlock(&tm->mu);
	fl_rpc_ack(tm->rep, 1, NULL);
}

static void *control_main(void *arg)
{
	tm_server *tm = arg;
	static fl_log_limit lim = FL_LOG_LIMIT_INIT(5, 10000);
	for (;;) {
		Flinc__Envelope *env;
		fl_rpc_from from;
		int rc = fl_rpc_server_recv(tm->ctl, &env, &from);
		if (rc == NNG_ECLOSED) break;
		if (rc) {
			if (atomic_load(&tm->stopping)) break;
			continue; /* timeouts and transient errors */
		}
		char err[256];
		if (fl_rpc_check_tm_request(env, err, sizeof err) != FLINC_OK) {
			fl_log_limited(&lim, FL_LOG_WARN, TM_LOG, "control: refused a request from %s: %s",
				       from.addr, err);
			fl_rpc_ack(tm->rep, 0, err);
			fl_rpc_free(env);
			continue;
		}
		switch (env->body_case) {
		case FLINC__ENVELOPE__BODY_DEPLOY:
			if (env->deploy)
				on_deploy(tm, env->deploy);
			else
				fl_rpc_ack(tm->rep, 0, "malformed DeployJob");
			break;
		case FLINC__ENVELOPE__BODY_CANCEL:
			if (env->cancel)
				on_cancel(tm, env->cancel);
			else
				fl_rpc_ack(tm->rep, 0, "malformed CancelJob");
			break;
		case FLINC__ENVELOPE__BODY_TRIGGER:
			if (env->trigger)
				on_checkpoint(tm, env->trigger->job_id, env->trigger->attempt,
					      env->trigger->checkpoint_id, 0, env->trigger->savepoint);
			else
				fl_rpc_ack(tm->rep, 0, "malformed TriggerCheckpoint");
			break;
		case FLINC__ENVELOPE__BODY_CHECKPOINT_COMPLETE:
			if (env->checkpoint_complete)
				on_checkpoint(tm, env->checkpoint_complete->job_id,
					      env->checkpoint_complete->attempt,
					      env->checkpoint_complete->checkpoint_id, 1,
					      env->checkpoint_complete->final);
			else
				fl_rpc_ack(tm->rep, 0, "malformed NotifyCheckpointComplete");
			break;
		default: {
			char msg[128];
			snprintf(msg, sizeof msg, "a task manager does not handle message kind %d",
				 (int)env->body_case);
			fl_rpc_ack(tm->rep, 0, msg);
			break;
		}
		}
		fl_rpc_free(env);
	}
	return NULL;
}

int tm_control_start(tm_server *tm, char *err, size_t errcap)
{
	int rc = nng_rep0_open(&tm->rep);
	if (rc) {
		snprintf(err, errcap, "cannot open the control socket: %s", nng_strerror(rc));
		return FLINC_EIO;
	}
	/* Deploys carry every placement and the job's configuration. */
	nng_socket_set_size(tm->rep, NNG_OPT_RECVMAXSZ, 64u << 20);
	nng_socket_set_ms(tm->rep, NNG_OPT_SENDTIMEO, 5000);
	fl_rpc_authcfg auth = { .key = tm->secret,
				.keylen = tm->secret_len,
				.purpose = FL_RPC_PURPOSE_CONTROL };
	if (fl_rpc_server_create(tm->rep, &auth, TM_LOG, &tm->ctl) != FLINC_OK) {
		snprintf(err, errcap, "cannot watch the control socket's connections");
		nng_close(tm->rep);
		return FLINC_EIO;
	}
	char url[400];
	const char *scheme = fl_tls_scheme(tm->tls, FL_TLS_CONTROL);
	snprintf(url, sizeof url, strchr(tm->cfg.host, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme,
		 tm->cfg.host, tm->cfg.rpc_port);
	nng_listener l;
	rc = nng_listener_create(&l, tm->rep, url);
	if (rc == 0 && fl_tls_listener(tm->tls, FL_TLS_CONTROL, l, err, errcap) != FLINC_OK) {
		nng_close(tm->rep);
		fl_rpc_server_destroy(tm->ctl);
		tm->ctl = NULL;
		return FLINC_EIO;
	}
	if (rc == 0) rc = nng_listener_start(l, 0);
	if (rc) {
		snprintf(err, errcap, "cannot listen on %s (taskmanager.host, taskmanager.rpc.port): %s", url,
			 nng_strerror(rc));
		nng_close(tm->rep);
		fl_rpc_server_destroy(tm->ctl);
		tm->ctl = NULL;
		return FLINC_EIO;
	}
	int port = tm->cfg.rpc_port;
	if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) port = tm->cfg.rpc_port;
	snprintf(tm->control_address, sizeof tm->control_address,
		 strchr(tm->cfg.advertise, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme, tm->cfg.advertise,
		 port);

	/* The control thread's own socket to the job manager, for blobs:
	 * plugins can be large and slow to arrive. */
	rc = tm_jm_open(&tm->blob_jm, tm, 60000, 1u << 30);
	if (rc) {
		snprintf(err, errcap, "cannot open a socket to the job manager at %s: %s", tm->jm_url,
			 nng_strerror(rc));
		nng_close(tm->rep);
		fl_rpc_server_destroy(tm->ctl);
		tm->ctl = NULL;
		return FLINC_EIO;
	}
	if (pthread_create(&tm->control_thread, NULL, control_main, tm) != 0) {
		snprintf(err, errcap, "cannot start the control thread");
		tm_jm_close(&tm->blob_jm);
		nng_close(tm->rep);
		fl_rpc_server_destroy(tm->ctl);
		tm->ctl = NULL;
		return FLINC_ENOMEM;
	}
	tm->control_running = true;
	return FLINC_OK;
}

void tm_control_stop(tm_server *tm)
{
	if (!tm->control_running) return;
	/* The thread leaves its receive within FL_RPC_SERVER_POLL_MS, and the
	 * control socket is closed after it has (rpc.h: never under a waiting
	 * thread). A deploy in progress stops at its blob download, whose
	 * socket is closed here, or finishes; its Ack then goes nowhere. */
	fl_rpc_server_stop(tm->ctl);
	nng_close(tm->blob_jm.sock);
	pthread_join(tm->control_thread, NULL);
	nng_close(tm->rep);
	fl_rpc_server_destroy(tm->ctl);
	tm->ctl = NULL;
	tm->blob_jm.open = false;
	tm->control_running = false;
}
