/*
 * rpc_server.c - the control plane's job manager side: the RPC dispatch.
 *
 * The RPC thread serves the REP socket on jobmanager.rpc.address:port:
 * Register, Heartbeat, TaskStatus, AcknowledgeCheckpoint and BlobRequest,
 * one at a time, each checked, handed to the module that owns it (the
 * registry, the scheduler, checkpoints, the blob store) and answered at
 * once: no request waits on another process. Calls the other way (Deploy,
 * Cancel, checkpoint messages) go through the task managers' workers in
 * registry.c.
 *
 * Nothing is honoured before its connection authenticated (the cluster
 * handshake, proto/rpc.h), and a request about a task manager only from a
 * connection bound to it (registry.c): the one that registered it, or one
 * that proved its session key.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jm.h"
#include "rpc.h"

/* Refusals of requests that passed the handshake but may not be honoured
 * (a connection speaking for a task manager it is not bound to, a
 * malformed message): one line each, at most 5 per 10 s. */
static fl_log_limit g_refusals = FL_LOG_LIMIT_INIT(5, 10000);

/* Answer a Register: ok (with the session key of the registration), or
 * the reason it was refused; either way the heartbeat settings the task
 * manager must keep. */
static void reply_register(nng_socket rep, bool ok, const char *error, const uint8_t *key, const jm *j)
{
	Flinc__RegisterAck ack = FLINC__REGISTER_ACK__INIT;
	ack.ok = ok;
	ack.error = (char *)(error ? error : "");
	ack.heartbeat_interval_ms = j->o.hb_interval_ms;
	ack.heartbeat_timeout_ms = j->o.hb_timeout_ms;
	if (ok) {
		ack.session_key.data = (uint8_t *)key;
		ack.session_key.len = FL_AUTH_NONCE;
	}
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_REGISTER_ACK;
	env.register_ack = &ack;
	fl_rpc_send(rep, &env);
}

/* Register: the registry checks the addresses against the connection and
 * the id against the live ones, binds the connection and dials back. */
static void handle_register(jm *j, const Flinc__RegisterTaskManager *r, const fl_rpc_from *from)
{
	char err[512];
	uint8_t key[FL_AUTH_NONCE];
	if (jm_tm_register(j, r, from, key, err, sizeof err) != FLINC_OK) {
		fl_log_limited(&g_refusals, FL_LOG_WARN, JM_COMPONENT,
			       "rpc: refused the registration of %s from %s: %s", r->tm_id, from->addr, err);
		reply_register(j->rep, false, err, NULL, j);
	} else {
		reply_register(j->rep, true, NULL, key, j);
	}
	fl_secret_wipe(key, sizeof key);
}

/* A request for task manager tm_id on a connection that does not speak for
 * it: ignored, and the client told to authenticate (bind) again. */
static void refuse_unbound(jm *j, const char *what, const char *tm_id, const fl_rpc_from *from)
{
	char err[512];
	snprintf(err, sizeof err, "%s for task manager %s on a connection that does not speak for it", what,
		 tm_id);
	fl_log_limited(&g_refusals, FL_LOG_WARN, JM_COMPONENT, "rpc: refused a %s from %s", err, from->addr);
	fl_rpc_ack_auth(j->rep, err);
}

/* Heartbeat: known tells a task manager the job manager forgot it (it
 * registers again). */
static void handle_heartbeat(jm *j, const Flinc__Heartbeat *hb, const fl_rpc_from *from)
{
	int known = jm_tm_heartbeat(j, hb, from);
	if (known < 0) {
		refuse_unbound(j, "Heartbeat", hb->tm_id, from);
		return;
	}
	Flinc__HeartbeatAck ack = FLINC__HEARTBEAT_ACK__INIT;
	ack.known = known == 1;
	/* The jobs whose sinks' records somebody watches (output.c); copies,
	 * as the watchers may go once jm.mu is released. */
	char *watch[64];
	pthread_mutex_lock(&j->mu);
	ack.n_watch_jobs = jm_output_watched_locked(j, watch, 64);
	for (size_t i = 0; i < ack.n_watch_jobs; i++) watch[i] = fl_strdup(watch[i]);
	pthread_mutex_unlock(&j->mu);
	ack.watch_jobs = watch;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT_ACK;
	env.heartbeat_ack = &ack;
	fl_rpc_send(j->rep, &env);
	for (size_t i = 0; i < ack.n_watch_jobs; i++) free(watch[i]);
}

/* TaskStatus: to the scheduler; acked, or refused with its reason. */
static void handle_status(jm *j, const Flinc__TaskStatus *st, const fl_rpc_from *from)
{
	pthread_mutex_lock(&j->mu);
	if (!jm_tm_speaks_for_locked(j, st->tm_id, from)) {
		pthread_mutex_unlock(&j->mu);
		refuse_unbound(j, "TaskStatus", st->tm_id, from);
		return;
	}
	const char *why = jm_sched_task_status_locked(j, st);
	char err[256];
	snprintf(err, sizeof err, "%s", why ? why : "");
	pthread_mutex_unlock(&j->mu);
	fl_rpc_ack(j->rep, why == NULL, why ? err : NULL);
}

/* AcknowledgeCheckpoint: to the job's coordinator (checkpoints.c). */
static void handle_checkpoint_ack(jm *j, const Flinc__AcknowledgeCheckpoint *a, const fl_rpc_from *from)
{
	pthread_mutex_lock(&j->mu);
	bool ok = jm_tm_speaks_for_locked(j, a->tm_id, from);
	pthread_mutex_unlock(&j->mu);
	if (!ok) {
		refuse_unbound(j, "AcknowledgeCheckpoint", a->tm_id, from);
		return;
	}
	const char *why = jm_cp_ack(j, a);
	fl_rpc_ack(j->rep, why == NULL, why);
}

/* BlobRequest: a plugin's bytes from the blob store (found = false for an
 * unknown or unreadable blob), for registered task managers only. */
static void handle_blob(jm *j, const Flinc__BlobRequest *br, const fl_rpc_from *from)
{
	pthread_mutex_lock(&j->mu);
	bool ok = jm_tm_from_registered_locked(j, from);
	pthread_mutex_unlock(&j->mu);
	if (!ok) {
		fl_log_limited(
			&g_refusals, FL_LOG_WARN, JM_COMPONENT,
			"rpc: refused a BlobRequest from %s: the connection speaks for no registered task "
			"manager",
			from->addr);
		fl_rpc_ack_auth(j->rep,
				"BlobRequest on a connection that speaks for no registered task manager");
		return;
	}
	Flinc__BlobData bd = FLINC__BLOB_DATA__INIT;
	bd.blob_id = br->blob_id;
	uint8_t *data = NULL;
	size_t len = 0;
	if (jm_blob_read(j, bd.blob_id, j->o.upload_max, &data, &len) == FLINC_OK) {
		bd.found = true;
		bd.data.data = data;
		bd.data.len = len;
	} else {
		fl_log(FL_LOG_WARN, JM_COMPONENT, "blob request for unknown blob '%.200s'", bd.blob_id);
	}
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_BLOB_DATA;
	env.blob_data = &bd;
	int rc = fl_rpc_send(j->rep, &env);
	if (rc) fl_log(FL_LOG_WARN, JM_COMPONENT, "sending blob %s: %s", bd.blob_id, nng_strerror(rc));
	free(data);
}

/* The RPC thread: one request at a time until the REP socket closes. The
 * server (fl_rpc_server_recv) answers the handshake and refuses anything
 * on a connection that has not authenticated; what it hands over is
 * checked (fl_rpc_check_jm_request) before any handler sees it. */
static void *rpc_thread(void *arg)
{
	jm *j = arg;
	for (;;) {
		Flinc__Envelope *req = NULL;
		fl_rpc_from from;
		int rc = fl_rpc_server_recv(j->rpc, &req, &from);
		if (rc == NNG_ECLOSED) break;
		if (rc) {
			if (rc != NNG_ETIMEDOUT)
				fl_log(FL_LOG_WARN, JM_COMPONENT, "rpc receive: %s", nng_strerror(rc));
			continue;
		}
		char err[256];
		if (fl_rpc_check_jm_request(req, err, sizeof err) != FLINC_OK) {
			fl_log_limited(&g_refusals, FL_LOG_WARN, JM_COMPONENT,
				       "rpc: refused a request from %s: %s", from.addr, err);
			fl_rpc_ack(j->rep, 0, err);
			fl_rpc_free(req);
			continue;
		}
		switch (req->body_case) {
		case FLINC__ENVELOPE__BODY_REGISTER: handle_register(j, req->register_, &from); break;
		case FLINC__ENVELOPE__BODY_HEARTBEAT: handle_heartbeat(j, req->heartbeat, &from); break;
		case FLINC__ENVELOPE__BODY_STATUS: handle_status(j, req->status, &from); break;
		case FLINC__ENVELOPE__BODY_BLOB_REQUEST: handle_blob(j, req->blob_request, &from); break;
		case FLINC__ENVELOPE__BODY_CHECKPOINT_ACK:
			handle_checkpoint_ack(j, req->checkpoint_ack, &from);
			break;
		default: fl_rpc_ack(j->rep, 0, "unexpected request for the job manager"); break;
		}
		fl_rpc_free(req);
	}
	return NULL;
}

/* jm.h: listen, then the RPC thread and the registry's monitor. */
int jm_rpc_start(jm *j, char *err, size_t errcap)
{
	int rc = nng_rep0_open(&j->rep);
	if (rc) {
		snprintf(err, errcap, "cannot open the RPC socket: %s", nng_strerror(rc));
		return FLINC_EIO;
	}
	nng_socket_set_size(j->rep, NNG_OPT_RECVMAXSZ, JM_RPC_RECV_MAX);
	fl_rpc_authcfg auth = { .key = j->o.secret,
				.keylen = j->o.secret_len,
				.purpose = FL_RPC_PURPOSE_RPC,
				.bind = jm_tm_bind_check,
				.bind_ud = j };
	if (fl_rpc_server_create(j->rep, &auth, JM_COMPONENT, &j->rpc) != FLINC_OK) {
		snprintf(err, errcap, "cannot watch the RPC socket's connections");
		nng_close(j->rep);
		return FLINC_EIO;
	}
	char *url = fl_asprintf(strchr(j->o.rpc_address, ':') ? "%s://[%s]:%d" : "%s://%s:%d",
				fl_tls_scheme(j->o.tls, FL_TLS_RPC), j->o.rpc_address, j->o.rpc_port);
	nng_listener l;
	rc = nng_listener_create(&l, j->rep, url);
	if (rc == 0 && fl_tls_listener(j->o.tls, FL_TLS_RPC, l, err, errcap) != FLINC_OK) {
		free(url);
		nng_close(j->rep);
		fl_rpc_server_destroy(j->rpc);
		j->rpc = NULL;
		return FLINC_EIO;
	}
	if (rc == 0) rc = nng_listener_start(l, 0);
	if (rc) {
		if (rc == NNG_EADDRINUSE)
			snprintf(err, errcap, "jobmanager.rpc.port %d on %s is already in use", j->o.rpc_port,
				 j->o.rpc_address);
		else
			snprintf(err, errcap, "cannot listen on %s (jobmanager.rpc.address/port): %s", url,
				 nng_strerror(rc));
		free(url);
		nng_close(j->rep);
		fl_rpc_server_destroy(j->rpc);
		j->rpc = NULL;
		return FLINC_EIO;
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT,
	       "RPC listening on %s (RPC protocol %d: every connection authenticates%s)", url, FL_RPC_VERSION,
	       fl_tls_on(j->o.tls, FL_TLS_RPC)
		       ? "; TLS, a certificate of security.ssl.truststore's CAs required"
		       : "");
	free(url);
	j->rpc_running = true;
	if (pthread_create(&j->rpc_thread, NULL, rpc_thread, j) != 0 || jm_registry_start(j) != FLINC_OK) {
		snprintf(err, errcap, "cannot start threads");
		return FLINC_EIO;
	}
	return FLINC_OK;
}

/* jm.h: the monitor and the reaper, the RPC thread, then the task managers. */
void jm_rpc_stop(jm *j)
{
	if (!j->rpc_running) return;
	/* The monitor first: from here on nothing is found lost, so closing
	 * the control sockets below fails no job (the job store keeps them). */
	jm_registry_stop(j);
	/* The RPC thread leaves its receive within FL_RPC_SERVER_POLL_MS; the
	 * socket is closed after it has (rpc.h: never under a waiting thread). */
	fl_rpc_server_stop(j->rpc);
	pthread_join(j->rpc_thread, NULL);
	nng_close(j->rep);
	fl_rpc_server_destroy(j->rpc); /* the socket is closed: no pipe callback runs any more */
	j->rpc = NULL;
	jm_registry_fini(j); /* after the RPC thread: nothing registers any more */
	j->rpc_running = false;
}
