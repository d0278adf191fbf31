/*
 * registry.c - the task managers the job manager knows, and its control
 * connections to them.
 *
 * - Registration (jm_tm_register) puts a task manager into jm.tms and
 *   gives it a REQ socket dialed to its control address and a worker
 *   thread that makes the Deploy/Cancel/checkpoint calls queued for it
 *   (jm_tm_enqueue_locked), with send and receive timeouts
 *   (jobmanager.rpc.timeout), so a stuck task manager only ever stalls its
 *   own worker. The worker first authenticates the control connection
 *   (the cluster handshake, rpc.h); only then do the task manager's slots
 *   count.
 * - A task manager id belongs to the RPC connection that registered it
 *   (fl_rpc_server_bind): a registration under a live id from any other
 *   connection is refused, and heartbeats, statuses and plugin downloads
 *   are honoured only from connections bound to it. The task manager's
 *   other connections, and a new one after a reconnect, bind themselves
 *   in their handshake with the registration's session key
 *   (jm_tm_bind_check). The control address must name the host the
 *   registration came from, and is dialed at that address.
 * - A pipe callback on that socket notices a dropped connection at once
 *   (NNG_PIPE_EV_REM_POST); the monitor thread notices silence
 *   (heartbeat.timeout, refreshed by jm_tm_heartbeat). Either way the task
 *   manager is lost: its slots disappear and the scheduler fails the jobs
 *   that ran there.
 * - A lost task manager leaves the registry at once; its struct waits in
 *   the graveyard until its worker has exited (the worker closes the socket
 *   itself, or the reaper does), then the reaper joins and frees it.
 *
 * Two threads, every MONITOR_PERIOD_MS or when woken. The monitor finds
 * silent task managers, runs the scheduler's deadlines (restarts,
 * jm_sched_tick_locked) and destroys the checkpoint coordinators of
 * evicted jobs (jm_cp_reap). The reaper closes the sockets of lost task
 * managers and joins their workers: nng_close waits for the socket's
 * pipes and callbacks, and whatever that wait costs, it never holds up
 * the liveness checks and restarts of the rest of the cluster. (nng 1.5.2,
 * Debian 12's, can hang in nng_close while another thread waits in a call
 * on the same socket, as a worker may: nanomsg/nng issues 1543 and 1813.)
 *
 * Locking as in jm.h: everything here is under jm.mu, which is never held
 * across nng_close (pipe callbacks take it) or a call to a task manager.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jm.h"
#include "rpc.h"

#define MONITOR_PERIOD_MS 50
#define CLOSE_BATCH 16 /* sockets the reaper closes per round */

/* ---- task managers and their queues --------------------------------------- */

/* Free a queued call and its packed message. NULL is fine. */
static void cmd_free(jm_cmd *c)
{
	if (!c) return;
	free(c->msg);
	free(c);
}

/* Free a task manager whose worker has exited (or never started) and
 * whose socket is closed. NULL is fine. */
static void tm_free(jm_tm *tm)
{
	if (!tm) return;
	for (jm_cmd *c = tm->q_head, *n; c; c = n) {
		n = c->next;
		cmd_free(c);
	}
	pthread_cond_destroy(&tm->cv);
	fl_secret_wipe(tm->session_key, sizeof tm->session_key);
	free(tm->dial_url);
	free(tm->id);
	free(tm->host);
	free(tm->control_address);
	free(tm->data_address);
	jm_lines_free(&tm->log);
	jm_lines_free(&tm->out);
	free(tm->stdout_file);
	free(tm);
}

void jm_lines_add(jm_lines *l, char *const *lines, size_t n)
{
	if (!n) return;
	if (!l->line) l->line = fl_calloc(JM_TM_LOG_KEEP, sizeof *l->line);
	for (size_t i = 0; i < n; i++) {
		char **slot = &l->line[l->n++ % JM_TM_LOG_KEEP];
		free(*slot);
		*slot = jm_utf8_dup(lines[i]); /* another process's bytes: made valid UTF-8 */
		size_t cut = 2 * FL_LOG_LINE_MAX;
		if (strlen(*slot) > cut) {
			while (cut > 0 && ((unsigned char)(*slot)[cut] & 0xC0) == 0x80) cut--;
			(*slot)[cut] = 0; /* at a character's start */
		}
	}
}

void jm_lines_text(const jm_lines *l, size_t max_lines, fl_strbuf *b)
{
	uint64_t n = l->n < JM_TM_LOG_KEEP ? l->n : JM_TM_LOG_KEEP;
	if (n > max_lines) n = max_lines;
	for (uint64_t k = l->n - n; k < l->n; k++) {
		const char *s = l->line[k % JM_TM_LOG_KEEP];
		fl_sb_append(b, s, strlen(s));
		fl_sb_append(b, "\n", 1);
	}
}

void jm_lines_free(jm_lines *l)
{
	if (l->line)
		for (size_t i = 0; i < JM_TM_LOG_KEEP; i++) free(l->line[i]);
	free(l->line);
	l->line = NULL;
	l->n = 0;
}

/* jm.h: the registered task manager with this id, or NULL. */
jm_tm *jm_tm_find_locked(jm *j, const char *id)
{
	for (size_t i = 0; i < j->ntms; i++)
		if (strcmp(j->tms[i]->id, id) == 0) return j->tms[i];
	return NULL;
}

/* The registered task manager whose control socket is s, or NULL. */
static jm_tm *tm_by_socket_locked(jm *j, nng_socket s)
{
	for (size_t i = 0; i < j->ntms; i++)
		if (nng_socket_id(j->tms[i]->req) == nng_socket_id(s)) return j->tms[i];
	return NULL;
}

/* jm.h: slots offered and free, over connected task managers only (a
 * task manager dialed but not connected offers nothing yet). */
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

/* jm.h: append cmd (taken) to tm's queue and wake its worker. */
void jm_tm_enqueue_locked(jm *j, jm_tm *tm, jm_cmd *cmd)
{
	(void)j;
	if (tm->stop) {
		cmd_free(cmd);
		return;
	}
	cmd->next = NULL;
	if (tm->q_tail)
		tm->q_tail->next = cmd;
	else
		tm->q_head = cmd;
	tm->q_tail = cmd;
	pthread_cond_signal(&tm->cv);
}

/* Take tm out of jm.tms (it stays allocated). */
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
 * again): out of the registry, its worker told to stop, its jobs failed.
 * It waits in the graveyard for the reaper. */
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
	/* The reaper closes its socket right away: that aborts a call in
	 * flight and keeps nng from reconnecting and resending it. */
	pthread_cond_broadcast(&j->reaper_cv);
	if (tm->connected) {
		int total, nfree, n;
		jm_slots_locked(j, &total, &nfree, &n);
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "TaskManager %s (%s) lost: %s; its %d slots are gone (%d task managers, %d slots left)",
		       tm->id, tm->host, reason, tm->slots, n, total);
	} else {
		fl_log(FL_LOG_WARN, JM_COMPONENT, "TaskManager %s (%s) dropped: %s", tm->id, tm->host,
		       reason);
	}
	jm_sched_tm_lost_locked(j, tm->id, tm->host, reason);
}

/* ---- control connections ----------------------------------------------------- */

/* nng pipe events of a task manager's control socket (nng's thread): a
 * drop loses a task manager whose connection had authenticated (the
 * worker authenticates it, worker_auth). Ignored once the job manager is
 * stopping, so shutdown fails no job. */
static void pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	jm *j = arg;
	nng_socket s = nng_pipe_socket(p);
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = j->stopping ? NULL : tm_by_socket_locked(j, s);
	if (tm && !tm->lost && ev == NNG_PIPE_EV_REM_POST) {
		fl_rpc_client_pipe_gone(&tm->client, p);
		if (tm->connected) tm_lost_locked(j, tm, "connection dropped");
	}
	pthread_mutex_unlock(&j->mu);
}

/* The worker's first duty: authenticate the control connection, then the
 * task manager counts (its slots, the scheduler). Retries while the
 * connection is not up (the monitor gives up after heartbeat.timeout); a
 * task manager that cannot prove the secret, or does not authenticate at
 * all, is dropped. True when connected; false when told to stop. Without
 * jm.mu. */
static bool worker_auth(jm_tm *tm)
{
	jm *j = tm->jm;
	for (;;) {
		char err[512] = "";
		int rc = fl_rpc_client_auth(&tm->client, err, sizeof err);
		pthread_mutex_lock(&j->mu);
		if (tm->stop) {
			pthread_mutex_unlock(&j->mu);
			return false;
		}
		if (rc == 0) {
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
			pthread_mutex_unlock(&j->mu);
			return true;
		}
		if (rc == NNG_EPERM || rc == NNG_EPROTO) {
			char reason[600];
			snprintf(reason, sizeof reason, "its control connection did not authenticate: %s",
				 err);
			tm_lost_locked(j, tm, reason);
			pthread_mutex_unlock(&j->mu);
			return false;
		}
		/* Not up yet: a short pause (woken early by stop). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		if (!tm->stop) pthread_cond_timedwait(&tm->cv, &j->mu, &ts);
		pthread_mutex_unlock(&j->mu);
	}
}

/* Make one queued call to tm (outside jm.mu): 0 or an nng error; a reply
 * that refuses puts its reason into err. */
static int tm_call(jm_tm *tm, const jm_cmd *c, char *err, size_t errcap)
{
	Flinc__Envelope *reply = NULL;
	int rc = fl_rpc_client_call_packed(&tm->client, c->msg, c->len, &reply, err, errcap);
	if (rc == 0) {
		if (reply->body_case != FLINC__ENVELOPE__BODY_ACK)
			snprintf(err, errcap, "unexpected reply (message %d)", (int)reply->body_case);
		else if (!reply->ack->ok)
			snprintf(err, errcap, "%s",
				 reply->ack->error && *reply->ack->error ? reply->ack->error : "refused");
	}
	fl_rpc_free(reply);
	return rc;
}

/* A task manager's worker: makes the calls queued for it, one at a time,
 * outside jm.mu, and reports each to the scheduler. When told to stop it
 * closes the socket (unless the reaper did) and marks itself done. */
static void *tm_worker(void *arg)
{
	jm_tm *tm = arg;
	jm *j = tm->jm;
	bool up = worker_auth(tm);
	pthread_mutex_lock(&j->mu);
	while (up) {
		while (!tm->stop && !tm->q_head) pthread_cond_wait(&tm->cv, &j->mu);
		if (tm->stop) break;
		jm_cmd *c = tm->q_head;
		tm->q_head = c->next;
		if (!tm->q_head) tm->q_tail = NULL;
		pthread_mutex_unlock(&j->mu);

		char err[512] = "";
		int rc = tm_call(tm, c, err, sizeof err);

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

/* ---- registration and heartbeats ------------------------------------------------ */

/* A REQ socket for calls to a task manager, with the RPC timeouts and the
 * pipe callback, not yet dialed. FLINC_OK, or FLINC_EIO with err. */
static int control_socket_open(jm *j, nng_socket *s, char *err, size_t errcap)
{
	int rc = nng_req0_open(s);
	if (rc) {
		snprintf(err, errcap, "job manager cannot open a socket: %s", nng_strerror(rc));
		return FLINC_EIO;
	}
	nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, (nng_duration)j->o.rpc_timeout_ms);
	nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, (nng_duration)j->o.rpc_timeout_ms);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(*s, NNG_OPT_RECONNMAXT, 1000);
	nng_socket_set_size(*s, NNG_OPT_RECVMAXSZ, JM_RPC_RECV_MAX);
	/* Deploy and Cancel are never resent by nng: a request we gave up on
	 * must not arrive twice. */
	nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_pipe_notify(*s, NNG_PIPE_EV_REM_POST, pipe_cb, j);
	return FLINC_OK;
}

/* A task manager from its registration, owning socket s, with a fresh
 * session key; not connected until its control connection authenticated.
 * Strings it was given are copied (host and data address made printable:
 * they go into the REST API). NULL when no random bytes could be had. */
static jm_tm *tm_new(jm *j, const Flinc__RegisterTaskManager *r, nng_socket s, const char *dial_url)
{
	jm_tm *tm = fl_calloc(1, sizeof *tm);
	if (fl_random_bytes(tm->session_key, sizeof tm->session_key) != FLINC_OK) {
		free(tm);
		return NULL;
	}
	tm->jm = j;
	tm->id = fl_strdup(r->tm_id);
	tm->host = jm_utf8_dup(r->host && *r->host ? r->host : "unknown");
	tm->control_address = fl_strdup(r->control_address);
	tm->dial_url = fl_strdup(dial_url);
	tm->data_address = jm_utf8_dup(r->data_address);
	tm->pid = r->pid;
	tm->slots = r->slots;
	tm->cpu_cores = r->cpu_cores;
	tm->physical_memory = r->physical_memory;
	tm->managed_total = r->managed_memory;
	tm->registered_ms = fl_now_ms();
	tm->registered_mono = jm_mono_ms();
	tm->last_hb_ms = tm->registered_ms;
	tm->last_hb_mono = tm->registered_mono;
	tm->req = s;
	fl_rpc_client_init(&tm->client, s, j->o.secret, j->o.secret_len, FL_RPC_PURPOSE_CONTROL, tm->dial_url,
			   NULL);
	pthread_cond_init(&tm->cv, NULL);
	return tm;
}

/* Into the registry, before dialing, so the connect callback finds it,
 * with the next generation. One registered under the same id before is
 * taken over only by the connection bound to it (the same task manager
 * registering again; the old one is lost, "registered again"); from any
 * other connection the registration is refused: FLINC_EEXIST. */
static int registry_add(jm *j, jm_tm *tm, const fl_rpc_from *from, char *err, size_t errcap)
{
	pthread_mutex_lock(&j->mu);
	jm_tm *old = jm_tm_find_locked(j, tm->id);
	if (old && !(strcmp(from->bound_id, old->id) == 0 && from->bound_gen == old->gen)) {
		snprintf(
			err, errcap,
			"task manager id %s is registered already, from another connection (a task manager that "
			"reconnects proves its registration with its session key)",
			tm->id);
		pthread_mutex_unlock(&j->mu);
		return FLINC_EEXIST;
	}
	if (old) tm_lost_locked(j, old, "it registered again");
	if (j->ntms == j->tms_cap) {
		j->tms_cap = j->tms_cap ? j->tms_cap * 2 : 8;
		j->tms = fl_realloc(j->tms, j->tms_cap * sizeof(jm_tm *));
	}
	tm->gen = ++j->tm_gen;
	j->tms[j->ntms++] = tm;
	pthread_mutex_unlock(&j->mu);
	return FLINC_OK;
}

/* The dial failed before a worker existed: undo registry_add. If tm was
 * lost meanwhile (a newer registration) it is in the graveyard, and the
 * reaper frees it; else it is freed here. */
static void registry_undo(jm *j, jm_tm *tm)
{
	pthread_mutex_lock(&j->mu);
	bool in_graveyard = tm->lost;
	bool close_it = !tm->closed;
	tm->closed = true;
	if (in_graveyard)
		tm->done = true; /* no worker: the reaper frees it */
	else
		registry_remove_locked(j, tm);
	pthread_mutex_unlock(&j->mu);
	if (close_it) nng_close(tm->req);
	if (!in_graveyard) tm_free(tm);
}

/* Start tm's worker. Under jm.mu, so the reaper never sees the worker
 * done before it knows there is a worker to join. A thread that cannot
 * start leaves nothing sane to do: abort. */
static void worker_start(jm *j, jm_tm *tm)
{
	pthread_mutex_lock(&j->mu);
	tm->worker_started = true;
	if (pthread_create(&tm->worker, NULL, tm_worker, tm) != 0) {
		fl_log(FL_LOG_ERROR, JM_COMPONENT, "cannot start a thread for TaskManager %s", tm->id);
		abort();
	}
	pthread_mutex_unlock(&j->mu);
}

/* ---- addresses a task manager gives ----------------------------------------------- */

/* Split "SCHEME://HOST:PORT" (HOST may be [v6]); false when it is not
 * exactly that, with SCHEME `scheme`: tcp, or tls+tcp when the cluster
 * speaks TLS (security.ssl.enabled), never both; ws, ipc, inproc and the
 * rest never: the job manager dials these addresses on a task manager's
 * word. */
static bool split_address(const char *a, const char *scheme, char *host, size_t hostcap, int *port)
{
	const char *sep = strstr(a, "://");
	if (!sep) return false;
	if ((size_t)(sep - a) != strlen(scheme) || strncmp(a, scheme, (size_t)(sep - a)) != 0) return false;
	const char *h = sep + 3, *colon;
	size_t hl;
	if (*h == '[') {
		const char *close = strchr(h, ']');
		if (!close || close[1] != ':') return false;
		h++;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon) return false;
		hl = (size_t)(colon - h);
		if (memchr(h, ':', hl)) return false; /* a bare IPv6 address needs brackets */
	}
	if (hl == 0 || hl >= hostcap || memchr(h, '/', hl) || memchr(h, '@', hl)) return false;
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p)) return false;
	*port = atoi(p);
	if (*port < 1 || *port > 65535) return false;
	memcpy(host, h, hl);
	host[hl] = 0;
	return true;
}

/* Is `host` (a literal address, or a name resolved here) the address
 * `remote` (a literal, as fl_rpc_from gives it)? */
static bool host_is(const char *host, const char *remote)
{
	struct in6_addr r6, h6;
	struct in_addr r4, h4;
	bool r_is4 = inet_pton(AF_INET, remote, &r4) == 1,
	     r_is6 = !r_is4 && inet_pton(AF_INET6, remote, &r6) == 1;
	if (!r_is4 && !r_is6) return false;
	if (inet_pton(AF_INET, host, &h4) == 1) return r_is4 && h4.s_addr == r4.s_addr;
	if (inet_pton(AF_INET6, host, &h6) == 1) return r_is6 && memcmp(&h6, &r6, sizeof h6) == 0;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0) return false;
	bool same = false;
	for (struct addrinfo *a = res; a && !same; a = a->ai_next) {
		if (a->ai_family == AF_INET && r_is4)
			same = ((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr == r4.s_addr;
		else if (a->ai_family == AF_INET6 && r_is6)
			same = memcmp(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr, &r6, sizeof r6) == 0;
	}
	freeaddrinfo(res);
	return same;
}

/* Check an address a task manager registered with (what: "control_address"
 * or "data_address"): SCHEME://HOST:PORT with an allowed scheme and HOST
 * the address the registration came from. With dial_url: the URL to dial,
 * tcp://<that address>:PORT, so a later answer of a name server cannot
 * send the job manager elsewhere. FLINC_OK or FLINC_EINVAL with err. */
static int check_address(const char *what, const char *scheme, const char *a, const char *remote,
			 char *dial_url, size_t cap, char *err, size_t errcap)
{
	char host[256];
	int port = 0;
	if (!split_address(a, scheme, host, sizeof host, &port))
		return fl_errf(
			err, errcap, FLINC_EINVAL,
			"%s '%.200s' is not %s://HOST:PORT (the only scheme a task manager may give%s)", what,
			a, scheme,
			strcmp(scheme, "tcp") ? ": security.ssl.enabled is on here"
					      : "; security.ssl.enabled is off here");
	if (!remote[0] || !host_is(host, remote))
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "%s '%.200s' is not on the host the task manager registered from (%s); set "
			       "taskmanager.host to the address the job manager sees it connect from",
			       what, a, remote[0] ? remote : "unknown");
	if (dial_url) {
		int n = strchr(remote, ':') ? snprintf(dial_url, cap, "%s://[%s]:%d", scheme, remote, port)
					    : snprintf(dial_url, cap, "%s://%s:%d", scheme, remote, port);
		if (n < 0 || (size_t)n >= cap)
			return fl_errf(err, errcap, FLINC_EINVAL, "%s is too long", what);
	}
	return FLINC_OK;
}

/* ---- registration, heartbeats, the connections' bindings ------------------------- */

/* jm.h: addresses, socket, registry, binding, dial, worker, in that
 * order; a failed dial undoes the registry entry. */
int jm_tm_register(jm *j, const Flinc__RegisterTaskManager *r, const fl_rpc_from *from,
		   uint8_t key_out[FL_AUTH_NONCE], char *err, size_t errcap)
{
	char url[600];
	const char *scheme = fl_tls_scheme(j->o.tls, FL_TLS_CONTROL);
	int rc = check_address("control_address", scheme, r->control_address, from->addr, url, sizeof url,
			       err, errcap);
	if (rc == FLINC_OK && r->data_address[0])
		rc = check_address("data_address", scheme, r->data_address, from->addr, NULL, 0, err, errcap);
	if (rc != FLINC_OK) return rc;
	nng_socket s;
	rc = control_socket_open(j, &s, err, errcap);
	if (rc != FLINC_OK) return rc;
	jm_tm *tm = tm_new(j, r, s, url);
	if (!tm) {
		nng_close(s);
		return fl_errf(err, errcap, FLINC_EIO, "job manager has no random bytes for a session key");
	}
	memcpy(key_out, tm->session_key, FL_AUTH_NONCE);
	rc = registry_add(j, tm, from, err, errcap);
	if (rc != FLINC_OK) {
		nng_close(s);
		tm_free(tm);
		return rc;
	}
	fl_rpc_server_bind(j->rpc, from->pipe, r->tm_id, tm->gen);
	nng_dialer d;
	int nrc = nng_dialer_create(&d, s, url);
	if (!nrc && fl_tls_dialer(j->o.tls, FL_TLS_CONTROL, d, err, errcap) != FLINC_OK) {
		registry_undo(j, tm);
		return FLINC_EIO;
	}
	if (!nrc) nrc = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
	if (nrc) {
		snprintf(err, errcap, "job manager cannot dial control_address %s: %s", url,
			 nng_strerror(nrc));
		registry_undo(j, tm);
		return FLINC_EIO;
	}
	worker_start(j, tm);
	return FLINC_OK;
}

/* jm.h */
bool jm_tm_speaks_for_locked(jm *j, const char *tm_id, const fl_rpc_from *from)
{
	if (!tm_id || strcmp(from->bound_id, tm_id) != 0) return false;
	jm_tm *tm = jm_tm_find_locked(j, tm_id);
	return !tm || tm->gen == from->bound_gen;
}

/* jm.h */
bool jm_tm_from_registered_locked(jm *j, const fl_rpc_from *from)
{
	jm_tm *tm = from->bound_id[0] ? jm_tm_find_locked(j, from->bound_id) : NULL;
	return tm && tm->gen == from->bound_gen;
}

/* jm.h */
uint64_t jm_tm_bind_check(void *ud, const char *id, const char *purpose, const uint8_t *nc, const uint8_t *ns,
			  const uint8_t *proof, size_t prooflen)
{
	jm *j = ud;
	uint64_t gen = 0;
	if (!proof || prooflen != FL_AUTH_PROOF) return 0;
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = jm_tm_find_locked(j, id);
	if (tm) {
		uint8_t want[FL_AUTH_PROOF];
		fl_auth_proof(tm->session_key, sizeof tm->session_key, FL_AUTH_ROLE_BIND, purpose, nc, ns,
			      want);
		if (fl_ct_equal(want, proof, FL_AUTH_PROOF)) gen = tm->gen;
	}
	pthread_mutex_unlock(&j->mu);
	return gen;
}

/* jm.h: a lost task manager is unknown even while its struct waits in
 * the graveyard. */
int jm_tm_heartbeat(jm *j, const Flinc__Heartbeat *hb, const fl_rpc_from *from)
{
	int known = 0;
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = jm_tm_find_locked(j, hb->tm_id);
	if (tm && !jm_tm_speaks_for_locked(j, hb->tm_id, from)) {
		known = -1;
	} else if (tm) {
		known = 1;
		int64_t now = jm_mono_ms();
		if (hb->cpu_time_ms >= tm->cpu_time_ms && tm->last_hb_mono > 0 && now > tm->last_hb_mono &&
		    tm->cpu_time_ms > 0)
			tm->cpu_load = (double)(hb->cpu_time_ms - tm->cpu_time_ms) /
				(double)(now - tm->last_hb_mono);
		tm->cpu_time_ms = hb->cpu_time_ms;
		tm->rss_bytes = hb->rss_bytes;
		tm->managed_used = hb->managed_used;
		tm->managed_total = hb->managed_total;
		tm->last_hb_mono = now;
		tm->last_hb_ms = fl_now_ms();
		for (size_t i = 0; i < hb->n_metrics; i++) jm_sched_metrics_locked(j, tm->id, hb->metrics[i]);
		jm_lines_add(&tm->log, hb->log, hb->n_log < 200 ? hb->n_log : 200);
		jm_lines_add(&tm->out, hb->stdout_lines, hb->n_stdout_lines < 200 ? hb->n_stdout_lines : 200);
		const char *sf = hb->stdout_file ? hb->stdout_file : "";
		if (!tm->stdout_file || strcmp(tm->stdout_file, sf) != 0) {
			free(tm->stdout_file);
			tm->stdout_file = jm_utf8_dup(sf);
		}
		jm_output_heartbeat_locked(j, hb);
	}
	pthread_mutex_unlock(&j->mu);
	return known;
}

/* ---- the monitor and the reaper ---------------------------------------------------- */

/* Lose the task managers that went silent (heartbeat.timeout) or whose
 * control address never answered within it. */
static void check_liveness_locked(jm *j, int64_t now)
{
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
}

/* Close the sockets of lost task managers (outside jm.mu, which is
 * dropped and taken again): that ends their workers' calls in flight. */
static void close_lost_locked(jm *j)
{
	nng_socket to_close[CLOSE_BATCH];
	int nclose = 0;
	for (jm_tm *t = j->graveyard; t && nclose < CLOSE_BATCH; t = t->next_dead) {
		if (t->closed) continue;
		t->closed = true;
		to_close[nclose++] = t->req;
	}
	if (!nclose) return;
	pthread_mutex_unlock(&j->mu);
	for (int k = 0; k < nclose; k++) nng_close(to_close[k]);
	pthread_mutex_lock(&j->mu);
}

/* Join and free the lost task managers whose workers have exited
 * (outside jm.mu, which is dropped and taken again). */
static void reap_dead_locked(jm *j)
{
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
	if (!reap) return;
	pthread_mutex_unlock(&j->mu);
	for (jm_tm *t = reap, *n; t; t = n) {
		n = t->next_dead;
		if (t->worker_started) pthread_join(t->worker, NULL);
		tm_free(t);
	}
	pthread_mutex_lock(&j->mu);
}

/* Sleep on cv (monitor_cv or reaper_cv, both on CLOCK_MONOTONIC: main.c)
 * until the next round or until woken. */
static void round_wait_locked(jm *j, pthread_cond_t *cv)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += MONITOR_PERIOD_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, &j->mu, &ts);
}

/* The monitor thread: liveness, the scheduler's deadlines, the evicted
 * jobs' coordinators, every MONITOR_PERIOD_MS until jm.stopping. */
static void *monitor_thread(void *arg)
{
	jm *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		int64_t now = jm_mono_ms();
		check_liveness_locked(j, now);
		jm_sched_tick_locked(j, now);
		if (j->dead_coords) {
			pthread_mutex_unlock(&j->mu);
			jm_cp_reap(j);
			pthread_mutex_lock(&j->mu);
		}
		round_wait_locked(j, &j->monitor_cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* The reaper thread: the lost task managers' sockets closed, their workers
 * joined and freed, every MONITOR_PERIOD_MS or when one is lost, until
 * jm.stopping (jm_registry_fini takes what is left). */
static void *reaper_thread(void *arg)
{
	jm *j = arg;
	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		close_lost_locked(j);
		reap_dead_locked(j);
		round_wait_locked(j, &j->reaper_cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* Set jm.stopping, wake both threads and join the monitor, and the reaper
 * when it runs. */
static void stop_threads(jm *j, bool reaper)
{
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_broadcast(&j->monitor_cv);
	pthread_cond_broadcast(&j->reaper_cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->monitor_thread, NULL);
	if (reaper) pthread_join(j->reaper_thread, NULL);
}

/* jm.h: the monitor and reaper threads. */
int jm_registry_start(jm *j)
{
	if (pthread_create(&j->monitor_thread, NULL, monitor_thread, j) != 0) return FLINC_EIO;
	if (pthread_create(&j->reaper_thread, NULL, reaper_thread, j) != 0) {
		stop_threads(j, false);
		return FLINC_EIO;
	}
	return FLINC_OK;
}

/* jm.h: stopping set, the monitor and the reaper joined. Main thread. */
void jm_registry_stop(jm *j) { stop_threads(j, true); }

/* Every task manager, registered or lost, taken out of the registry and
 * told to stop (workers signaled); close_it[i] says whether its socket is
 * still ours to close. Both arrays malloc'ed, *n long. */
static jm_tm **take_all_locked(jm *j, bool **close_it, size_t *n)
{
	size_t cnt = j->ntms, k = 0;
	for (jm_tm *t = j->graveyard; t; t = t->next_dead) cnt++;
	jm_tm **all = fl_calloc(cnt ? cnt : 1, sizeof(jm_tm *));
	for (size_t i = 0; i < j->ntms; i++) all[k++] = j->tms[i];
	for (jm_tm *t = j->graveyard; t; t = t->next_dead) all[k++] = t;
	j->ntms = 0;
	j->graveyard = NULL;
	*close_it = fl_calloc(cnt ? cnt : 1, sizeof(bool));
	for (size_t i = 0; i < cnt; i++) {
		all[i]->stop = true;
		(*close_it)[i] = !all[i]->closed;
		all[i]->closed = true;
		pthread_cond_signal(&all[i]->cv);
	}
	*n = cnt;
	return all;
}

/* jm.h: every worker stopped and joined, every task manager freed. */
void jm_registry_fini(jm *j)
{
	bool *close_it;
	size_t n;
	pthread_mutex_lock(&j->mu);
	jm_tm **all = take_all_locked(j, &close_it, &n);
	pthread_mutex_unlock(&j->mu);
	/* Closing the sockets aborts calls in flight, so the joins are short. */
	for (size_t i = 0; i < n; i++)
		if (close_it[i]) nng_close(all[i]->req);
	free(close_it);
	for (size_t i = 0; i < n; i++) {
		if (all[i]->worker_started) pthread_join(all[i]->worker, NULL);
		tm_free(all[i]);
	}
	free(all);
}
