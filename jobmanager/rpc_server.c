/*
 * rpc_server.c - the control plane's job manager side.
 *
 * - The RPC thread serves the REP socket on jobmanager.rpc.address:port:
 *   Register, Heartbeat, TaskStatus and BlobRequest, one at a time, each
 *   answered at once (no request waits on another process).
 * - Every registered task manager gets a REQ socket dialed to its control
 *   address and a worker thread that makes the Deploy/Cancel calls queued
 *   for it, with send and receive timeouts (jobmanager.rpc.timeout), so a
 *   stuck task manager only ever stalls its own worker.
 * - A pipe callback on that REQ socket notices a dropped connection at
 *   once (NNG_PIPE_EV_REM_POST); the monitor thread notices silence
 *   (heartbeat.timeout). Either way the task manager is lost: its slots
 *   disappear and the scheduler fails the jobs that ran there.
 *
 * A lost task manager leaves the registry at once; its struct waits in the
 * graveyard until its worker has exited (the worker closes the socket
 * itself), then the monitor joins and frees it.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jm.h"
#include "rpc.h"

#define RPC_RECV_MAX (64u << 20) /* a request is small; a heartbeat of many subtasks is the largest */
#define MONITOR_PERIOD_MS 50

static void cmd_free(jm_cmd *c)
{
	if (!c) return;
	free(c->msg);
	free(c);
}

static void tm_free(jm_tm *tm)
{
	if (!tm) return;
	for (jm_cmd *c = tm->q_head, *n; c; c = n) {
		n = c->next;
		cmd_free(c);
	}
	pthread_cond_destroy(&tm->cv);
	free(tm->id);
	free(tm->host);
	free(tm->control_address);
	free(tm->data_address);
	free(tm);
}

jm_tm *jm_tm_find_locked(jm *j, const char *id)
{
	for (size_t i = 0; i < j->ntms; i++)
		if (strcmp(j->tms[i]->id, id) == 0) return j->tms[i];
	return NULL;
}

static jm_tm *tm_by_socket_locked(jm *j, nng_socket s)
{
	for (size_t i = 0; i < j->ntms; i++)
		if (nng_socket_id(j->tms[i]->req) == nng_socket_id(s)) return j->tms[i];
	return NULL;
}

void jm_slots_locked(const jm *j, int *total, int *free_slots, int *ntms)
{
	int t = 0, f = 0, n = 0;
	for (size_t i = 0; i < j->ntms; i++) {
		const jm_tm *tm = j->tms[i];
		if (!tm->connected) continue;
		n++;
		t += tm->slots;
		f += tm->slots - tm->used > 0 ? tm->slots - tm->used : 0;
	}
	if (total) *total = t;
	if (free_slots) *free_slots = f;
	if (ntms) *ntms = n;
}

void jm_tm_enqueue_locked(jm *j, jm_tm *tm, jm_cmd *cmd)
{
	(void)j;
	if (tm->stop) {
		cmd_free(cmd);
		return;
	}
	cmd->next = NULL;
	if (tm->q_tail) tm->q_tail->next = cmd;
	else tm->q_head = cmd;
	tm->q_tail = cmd;
	pthread_cond_signal(&tm->cv);
}

static void registry_remove_locked(jm *j, jm_tm *tm)
{
	for (size_t i = 0; i < j->ntms; i++) {
		if (j->tms[i] != tm) continue;
		memmove(&j->tms[i], &j->tms[i + 1], (j->ntms - i - 1) * sizeof(jm_tm *));
		j->ntms--;
		return;
	}
}

/* The task manager is gone (connection dropped, silent, or registered
 * again): out of the registry, its worker told to stop, its jobs failed. */
static void tm_lost_locked(jm *j, jm_tm *tm, const char *reason)
{
	if (tm->lost) return;
	tm->lost = true;
	registry_remove_locked(j, tm);
	tm->stop = true;
	for (jm_cmd *c = tm->q_head, *n; c; c = n) {
		n = c->next;
		cmd_free(c);
	}
	tm->q_head = tm->q_tail = NULL;
	pthread_cond_signal(&tm->cv);
	tm->next_dead = j->graveyard;
	j->graveyard = tm;
	/* The monitor closes its socket right away: that aborts a call in
	 * flight and keeps nng from reconnecting and resending it. */
	pthread_cond_broadcast(&j->monitor_cv);
	if (tm->connected) {
		int total, nfree, n;
		jm_slots_locked(j, &total, &nfree, &n);
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "TaskManager %s (%s) lost: %s; its %d slots are gone (%d task managers, %d slots left)", tm->id,
		       tm->host, reason, tm->slots, n, total);
	} else {
		fl_log(FL_LOG_WARN, JM_COMPONENT, "TaskManager %s (%s) dropped: %s", tm->id, tm->host, reason);
	}
	jm_sched_tm_lost_locked(j, tm->id, tm->host, reason);
}

/* nng pipe events of a task manager's control socket (nng's thread). */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	jm *j = arg;
	nng_socket s = nng_pipe_socket(p);
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = j->stopping ? NULL : tm_by_socket_locked(j, s);
	if (tm && !tm->lost) {
		if (ev == NNG_PIPE_EV_ADD_POST && !tm->connected) {
			tm->connected = true;
			tm->last_hb_mono = jm_mono_ms();
			tm->last_hb_ms = fl_now_ms();
			int total, nfree, n;
			jm_slots_locked(j, &total, &nfree, &n);
			fl_log(FL_LOG_INFO, JM_COMPONENT,
			       "TaskManager %s registered: host %s, %d slots, control %s, data %s (%d task managers, %d "
			       "slots)",
			       tm->id, tm->host, tm->slots, tm->control_address,
			       *tm->data_address ? tm->data_address : "-", n, total);
			jm_sched_try_locked(j);
		} else if (ev == NNG_PIPE_EV_REM_POST && tm->connected) {
			tm_lost_locked(j, tm, "connection dropped");
		}
	}
	pthread_mutex_unlock(&j->mu);
}

/* A task manager's worker: makes the calls queued for it, one at a time,
 * outside jm.mu. */
static void *tm_worker(void *arg)
{
	jm_tm *tm = arg;
	jm *j = tm->jm;
	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!tm->stop && !tm->q_head) pthread_cond_wait(&tm->cv, &j->mu);
		if (tm->stop) break;
		jm_cmd *c = tm->q_head;
		tm->q_head = c->next;
		if (!tm->q_head) tm->q_tail = NULL;
		pthread_mutex_unlock(&j->mu);

		char err[512] = "";
		Flinc__Envelope *reply = NULL;
		nng_msg *m = NULL;
		int rc = nng_msg_alloc(&m, c->len);
		if (rc == 0) {
			memcpy(nng_msg_body(m), c->msg, c->len);
			rc = nng_sendmsg(tm->req, m, 0);
			if (rc) nng_msg_free(m);
		}
		if (rc == 0) rc = fl_rpc_recv(tm->req, &reply);
		if (rc == 0) {
			if (reply->body_case != FLINC__ENVELOPE__BODY_ACK) {
				snprintf(err, sizeof err, "unexpected reply (message %d)", (int)reply->body_case);
			} else if (!reply->ack->ok) {
				snprintf(err, sizeof err, "%s",
					 reply->ack->error && *reply->ack->error ? reply->ack->error : "refused");
			}
		}
		fl_rpc_free(reply);

		pthread_mutex_lock(&j->mu);
		if (!tm->stop) jm_sched_cmd_done_locked(j, tm, c, rc, err[0] ? err : NULL);
		cmd_free(c);
	}
	bool close_it = !tm->closed;
	tm->closed = true;
	pthread_mutex_unlock(&j->mu);
	if (close_it) nng_close(tm->req); /* outside jm.mu: it waits for pipe callbacks */
	pthread_mutex_lock(&j->mu);
	tm->done = true;
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static bool printable(const char *s, size_t max)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] >= 0x7f || n >= max) return false;
	return n > 0;
}

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

static void handle_register(jm *j, const Flinc__RegisterTaskManager *r)
{
	char err[512];
	const char *id = r->tm_id ? r->tm_id : "";
	const char *ctl = r->control_address ? r->control_address : "";
	if (!printable(id, 256)) {
		reply_register(j->rep, false, "tm_id must be 1 to 256 printable ASCII characters without spaces", j);
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
	nng_socket s;
	int rc = nng_req0_open(&s);
	if (rc) {
		snprintf(err, sizeof err, "job manager cannot open a socket: %s", nng_strerror(rc));
		reply_register(j->rep, false, err, j);
		return;
	}
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, (nng_duration)j->o.rpc_timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)j->o.rpc_timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, RPC_RECV_MAX);
	nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_cb, j);
	nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_cb, j);

	jm_tm *tm = fl_calloc(1, sizeof *tm);
	tm->jm = j;
	tm->id = fl_strdup(id);
	tm->host = jm_utf8_dup(r->host && *r->host ? r->host : "unknown");
	tm->control_address = fl_strdup(ctl);
	tm->data_address = jm_utf8_dup(r->data_address);
	tm->pid = r->pid;
	tm->slots = r->slots;
	tm->cpu_cores = r->cpu_cores;
	tm->physical_memory = r->physical_memory;
	tm->registered_ms = fl_now_ms();
	tm->registered_mono = jm_mono_ms();
	tm->last_hb_ms = tm->registered_ms;
	tm->last_hb_mono = tm->registered_mono;
	tm->req = s;
	pthread_cond_init(&tm->cv, NULL);

	/* In the registry before dialing, so the connect callback finds it. */
	pthread_mutex_lock(&j->mu);
	jm_tm *old = jm_tm_find_locked(j, id);
	if (old) tm_lost_locked(j, old, "it registered again");
	if (j->ntms == j->tms_cap) {
		j->tms_cap = j->tms_cap ? j->tms_cap * 2 : 8;
		j->tms = fl_realloc(j->tms, j->tms_cap * sizeof(jm_tm *));
	}
	j->tms[j->ntms++] = tm;
	pthread_mutex_unlock(&j->mu);

	rc = nng_dial(s, ctl, NULL, NNG_FLAG_NONBLOCK);
	if (rc) {
		snprintf(err, sizeof err, "job manager cannot dial control_address %s: %s", ctl, nng_strerror(rc));
		fl_log(FL_LOG_WARN, JM_COMPONENT, "TaskManager %s refused: %s", id, err);
		pthread_mutex_lock(&j->mu);
		bool in_graveyard = tm->lost;
		bool close_it = !tm->closed;
		tm->closed = true;
		if (in_graveyard) tm->done = true; /* no worker: the monitor frees it */
		else registry_remove_locked(j, tm);
		pthread_mutex_unlock(&j->mu);
		if (close_it) nng_close(s);
		if (!in_graveyard) tm_free(tm);
		reply_register(j->rep, false, err, j);
		return;
	}
	/* Under jm.mu, so the monitor never sees the worker done before it
	 * knows there is a worker to join. */
	pthread_mutex_lock(&j->mu);
	tm->worker_started = true;
	if (pthread_create(&tm->worker, NULL, tm_worker, tm) != 0) {
		fl_log(FL_LOG_ERROR, JM_COMPONENT, "cannot start a thread for TaskManager %s", id);
		abort();
	}
	pthread_mutex_unlock(&j->mu);
	reply_register(j->rep, true, NULL, j);
}

static void handle_heartbeat(jm *j, const Flinc__Heartbeat *hb)
{
	bool known = false;
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = hb->tm_id ? jm_tm_find_locked(j, hb->tm_id) : NULL;
	if (tm && !tm->lost) {
		known = true;
		tm->last_hb_mono = jm_mono_ms();
		tm->last_hb_ms = fl_now_ms();
		for (size_t i = 0; i < hb->n_metrics; i++) jm_sched_metrics_locked(j, tm->id, hb->metrics[i]);
	}
	pthread_mutex_unlock(&j->mu);
	Flinc__HeartbeatAck ack = FLINC__HEARTBEAT_ACK__INIT;
	ack.known = known;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT_ACK;
	env.heartbeat_ack = &ack;
	fl_rpc_send(j->rep, &env);
}

static void handle_status(jm *j, const Flinc__TaskStatus *st)
{
	pthread_mutex_lock(&j->mu);
	const char *why = jm_sched_task_status_locked(j, st);
	char err[256];
	snprintf(err, sizeof err, "%s", why ? why : "");
	pthread_mutex_unlock(&j->mu);
	fl_rpc_ack(j->rep, why == NULL, why ? err : NULL);
}

static void handle_checkpoint_ack(jm *j, const Flinc__AcknowledgeCheckpoint *a)
{
	const char *why = jm_cp_ack(j, a);
	fl_rpc_ack(j->rep, why == NULL, why);
}

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
			if (rc != NNG_ETIMEDOUT) fl_log(FL_LOG_WARN, JM_COMPONENT, "rpc receive: %s", nng_strerror(rc));
			continue;
		}
		switch (req->body_case) {
		case FLINC__ENVELOPE__BODY_REGISTER: handle_register(j, req->register_); break;
		case FLINC__ENVELOPE__BODY_HEARTBEAT: handle_heartbeat(j, req->heartbeat); break;
		case FLINC__ENVELOPE__BODY_STATUS: handle_status(j, req->status); break;
		case FLINC__ENVELOPE__BODY_BLOB_REQUEST: handle_blob(j, req->blob_request); break;
		case FLINC__ENVELOPE__BODY_CHECKPOINT_ACK:
			if (req->checkpoint_ack) handle_checkpoint_ack(j, req->checkpoint_ack);
			else fl_rpc_ack(j->rep, 0, "malformed AcknowledgeCheckpoint");
			break;
		default: fl_rpc_ack(j->rep, 0, "unexpected request for the job manager"); break;
		}
		fl_rpc_free(req);
	}
	return NULL;
}

static void *monitor_thread(void *arg)
{
	jm *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		int64_t now = jm_mono_ms();
		for (size_t i = 0; i < j->ntms;) {
			jm_tm *tm = j->tms[i];
			char reason[256];
			if (tm->connected && now - tm->last_hb_mono > j->o.hb_timeout_ms) {
				snprintf(reason, sizeof reason, "heartbeat timed out after %lld ms",
					 (long long)(now - tm->last_hb_mono));
				tm_lost_locked(j, tm, reason); /* removes it: same i again */
				continue;
			}
			if (!tm->connected && now - tm->registered_mono > j->o.hb_timeout_ms) {
				snprintf(reason, sizeof reason,
					 "its control address %s could not be reached within %lld ms",
					 tm->control_address, (long long)j->o.hb_timeout_ms);
				tm_lost_locked(j, tm, reason);
				continue;
			}
			i++;
		}
		jm_sched_tick_locked(j, now);

		/* Close the sockets of lost task managers (outside jm.mu). */
		nng_socket to_close[16];
		int nclose = 0;
		for (jm_tm *t = j->graveyard; t && nclose < 16; t = t->next_dead) {
			if (t->closed) continue;
			t->closed = true;
			to_close[nclose++] = t->req;
		}
		if (nclose) {
			pthread_mutex_unlock(&j->mu);
			for (int k = 0; k < nclose; k++) nng_close(to_close[k]);
			pthread_mutex_lock(&j->mu);
		}

		/* Free the task managers whose workers have exited. */
		jm_tm *reap = NULL;
		for (jm_tm **pp = &j->graveyard; *pp;) {
			if ((*pp)->done) {
				jm_tm *t = *pp;
				*pp = t->next_dead;
				t->next_dead = reap;
				reap = t;
			} else {
				pp = &(*pp)->next_dead;
			}
		}
		if (reap) {
			pthread_mutex_unlock(&j->mu);
			for (jm_tm *t = reap, *n; t; t = n) {
				n = t->next_dead;
				if (t->worker_started) pthread_join(t->worker, NULL);
				tm_free(t);
			}
			pthread_mutex_lock(&j->mu);
		}
		if (j->dead_coords) {
			pthread_mutex_unlock(&j->mu);
			jm_cp_reap(j);
			pthread_mutex_lock(&j->mu);
		}

		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += MONITOR_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&j->monitor_cv, &j->mu, &ts);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int jm_rpc_start(jm *j, char *err, size_t errcap)
{
	int rc = nng_rep0_open(&j->rep);
	if (rc) {
		snprintf(err, errcap, "cannot open the RPC socket: %s", nng_strerror(rc));
		return FLINC_EIO;
	}
	nng_socket_set_size(j->rep, NNG_OPT_RECVMAXSZ, RPC_RECV_MAX);
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
	if (pthread_create(&j->rpc_thread, NULL, rpc_thread, j) != 0 ||
	    pthread_create(&j->monitor_thread, NULL, monitor_thread, j) != 0) {
		snprintf(err, errcap, "cannot start threads");
		return FLINC_EIO;
	}
	return FLINC_OK;
}

void jm_rpc_stop(jm *j)
{
	if (!j->rpc_running) return;
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_broadcast(&j->monitor_cv);
	pthread_mutex_unlock(&j->mu);
	nng_close(j->rep);
	pthread_join(j->rpc_thread, NULL);
	pthread_join(j->monitor_thread, NULL);

	/* Stop every worker; closing the sockets aborts calls in flight. */
	pthread_mutex_lock(&j->mu);
	size_t n = j->ntms;
	for (jm_tm *t = j->graveyard; t; t = t->next_dead) n++;
	jm_tm **all = fl_calloc(n ? n : 1, sizeof(jm_tm *));
	size_t k = 0;
	for (size_t i = 0; i < j->ntms; i++) all[k++] = j->tms[i];
	for (jm_tm *t = j->graveyard; t; t = t->next_dead) all[k++] = t;
	j->ntms = 0;
	j->graveyard = NULL;
	bool *close_it = fl_calloc(n ? n : 1, sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		all[i]->stop = true;
		close_it[i] = !all[i]->closed;
		all[i]->closed = true;
		pthread_cond_signal(&all[i]->cv);
	}
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < n; i++)
		if (close_it[i]) nng_close(all[i]->req);
	free(close_it);
	for (size_t i = 0; i < n; i++) {
		if (all[i]->worker_started) pthread_join(all[i]->worker, NULL);
		tm_free(all[i]);
	}
	free(all);
	j->rpc_running = false;
}
