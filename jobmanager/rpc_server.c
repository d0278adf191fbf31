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
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jm.h"
#include "rpc.h"

/* Is s 1 to max printable ASCII characters without spaces? */
static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] >= 0x7f || n >= max) return false;
	return n > 0;
}

/* Answer a Register: ok, or the reason it was refused; either way the
 * heartbeat settings the task manager must keep. */
static void reply_register(nng_socket rep, bool ok, const char *error, const jm *j)
{
	Flinc__RegisterAck ack = FLINC__REGISTER_ACK__INIT;
	ack.ok = ok;
	ack.error = (char *)(error ? error : "");
	ack.heartbeat_interval_ms = j->o.hb_interval_ms;
	ack.heartbeat_timeout_ms = j->o.hb_timeout_ms;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_REGISTER_ACK;
	env.register_ack = &ack;
	fl_rpc_send(rep, &env);
}

/* Register: check the fields a task manager must give, then the registry
 * dials it back (jm_tm_register). */
static void handle_register(jm *j, const Flinc__RegisterTaskManager *r)
{
	char err[512];
	const char *id = r->tm_id ? r->tm_id : "";
	const char *ctl = r->control_address ? r->control_address : "";
	if (!printable(id, 256)) {
		reply_register(j->rep, false,
			       "tm_id must be 1 to 256 printable ASCII characters without spaces", j);
		return;
	}
	if (!printable(ctl, 512)) {
		reply_register(j->rep, false, "control_address is missing", j);
		return;
	}
	if (r->slots < 1 || r->slots > 65536) {
		snprintf(err, sizeof err, "slots must be from 1 to 65536 (got %d)", r->slots);
		reply_register(j->rep, false, err, j);
		return;
	}
	if (jm_tm_register(j, r, err, sizeof err) != FLINC_OK)
		reply_register(j->rep, false, err, j);
	else
		reply_register(j->rep, true, NULL, j);
}

/* Heartbeat: known tells a task manager the job manager forgot it (it
 * registers again). */
static void handle_heartbeat(jm *j, const Flinc__Heartbeat *hb)
{
	Flinc__HeartbeatAck ack = FLINC__HEARTBEAT_ACK__INIT;
	ack.known = jm_tm_heartbeat(j, hb);
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT_ACK;
	env.heartbeat_ack = &ack;
	fl_rpc_send(j->rep, &env);
}

/* TaskStatus: to the scheduler; acked, or refused with its reason. */
static void handle_status(jm *j, const Flinc__TaskStatus *st)
{
	pthread_mutex_lock(&j->mu);
	const char *why = jm_sched_task_status_locked(j, st);
	char err[256];
	snprintf(err, sizeof err, "%s", why ? why : "");
	pthread_mutex_unlock(&j->mu);
	fl_rpc_ack(j->rep, why == NULL, why ? err : NULL);
}

/* AcknowledgeCheckpoint: to the job's coordinator (checkpoints.c). */
static void handle_checkpoint_ack(jm *j, const Flinc__AcknowledgeCheckpoint *a)
{
	const char *why = jm_cp_ack(j, a);
	fl_rpc_ack(j->rep, why == NULL, why);
}

/* BlobRequest: a plugin's bytes from the blob store (found = false for an
 * unknown or unreadable blob). */
static void handle_blob(jm *j, const Flinc__BlobRequest *br)
{
	Flinc__BlobData bd = FLINC__BLOB_DATA__INIT;
	bd.blob_id = br->blob_id ? br->blob_id : (char *)"";
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

/* The RPC thread: one request at a time until the REP socket closes. */
static void *rpc_thread(void *arg)
{
	jm *j = arg;
	for (;;) {
		Flinc__Envelope *req = NULL;
		int rc = fl_rpc_recv(j->rep, &req);
		if (rc == NNG_ECLOSED) break;
		if (rc == NNG_EINVAL) { /* consumed, but not an Envelope */
			fl_rpc_ack(j->rep, 0, "malformed request: not a flinc Envelope");
			continue;
		}
		if (rc) {
			if (rc != NNG_ETIMEDOUT)
				fl_log(FL_LOG_WARN, JM_COMPONENT, "rpc receive: %s", nng_strerror(rc));
			continue;
		}
		switch (req->body_case) {
		case FLINC__ENVELOPE__BODY_REGISTER: handle_register(j, req->register_); break;
		case FLINC__ENVELOPE__BODY_HEARTBEAT: handle_heartbeat(j, req->heartbeat); break;
		case FLINC__ENVELOPE__BODY_STATUS: handle_status(j, req->status); break;
		case FLINC__ENVELOPE__BODY_BLOB_REQUEST: handle_blob(j, req->blob_request); break;
		case FLINC__ENVELOPE__BODY_CHECKPOINT_ACK:
			if (req->checkpoint_ack)
				handle_checkpoint_ack(j, req->checkpoint_ack);
			else
				fl_rpc_ack(j->rep, 0, "malformed AcknowledgeCheckpoint");
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
	char *url = fl_asprintf("tcp://%s:%d", j->o.rpc_address, j->o.rpc_port);
	rc = nng_listen(j->rep, url, NULL, 0);
	if (rc) {
		if (rc == NNG_EADDRINUSE)
			snprintf(err, errcap, "jobmanager.rpc.port %d on %s is already in use", j->o.rpc_port,
				 j->o.rpc_address);
		else
			snprintf(err, errcap, "cannot listen on %s (jobmanager.rpc.address/port): %s", url,
				 nng_strerror(rc));
		free(url);
		nng_close(j->rep);
		return FLINC_EIO;
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT, "RPC listening on %s", url);
	free(url);
	j->rpc_running = true;
	if (pthread_create(&j->rpc_thread, NULL, rpc_thread, j) != 0 || jm_registry_start(j) != FLINC_OK) {
		snprintf(err, errcap, "cannot start threads");
		return FLINC_EIO;
	}
	return FLINC_OK;
}

/* jm.h: the monitor, the RPC thread, then the task managers. */
void jm_rpc_stop(jm *j)
{
	if (!j->rpc_running) return;
	/* The monitor first: from here on nothing is found lost, so closing
	 * the control sockets below fails no job (the job store keeps them). */
	jm_registry_stop(j);
	nng_close(j->rep);
	pthread_join(j->rpc_thread, NULL);
	jm_registry_fini(j); /* after the RPC thread: nothing registers any more */
	j->rpc_running = false;
}
