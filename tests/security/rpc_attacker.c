/*
 * rpc_attacker.c - a hostile peer of a flinc cluster, for
 * probe_cluster_auth.py (issue 15, finding 1). It speaks the control
 * plane's protocol (protobuf Envelopes over nng REQ/REP) and the data
 * plane's framing, and tries what finding 1 found open:
 *
 *   rpc-unauth   every request the job manager takes, without the
 *                handshake (or, with --secret, after failing it with a
 *                wrong secret): a fake task manager with 64 slots, a
 *                Register under a live id, Registers whose control address
 *                is ws://, ipc://, inproc:// or another host, a Heartbeat,
 *                a TaskStatus failing a running job and a checkpoint Ack
 *                under a live id, a BlobRequest, bytes that are no
 *                Envelope; then waits to see whether the job manager dials
 *                the control address it was given (a deployment)
 *   rpc-insider  the same with the right secret (a peer of the cluster):
 *                a live id, hostile addresses, requests for another task
 *                manager's id and a forged binding must still be refused
 *   control      DeployJob (a stored plugin writing --out), CancelJob and
 *                the checkpoint messages straight to a task manager's
 *                control port, without the handshake and with a wrong one
 *   data         a task manager's data port: OPEN and DATA without AUTH, a
 *                wrong proof, a reflected proof, a version-1 HELLO
 *   replay       a handshake recorded from a legitimate session (made here
 *                with --secret, as a sniffer would have seen it) replayed
 *                on a new connection, on the RPC and on the data port
 *   flood        --count unauthenticated requests (the log must stay bounded)
 *   hit-and-run  --count connections to --rpc or --control that each send a
 *                request and close before the answer (the daemon must live)
 *
 * Every attempt prints one line, "refused: WHAT: why" or "ACCEPTED: WHAT:
 * what came back"; the last line counts them. Exit status: 0 when every
 * attempt was refused, 1 when one was accepted, 2 on a usage error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "fl_base.h"
#include "rpc.h"

typedef struct opts {
	const char *mode, *rpc, *control, *data, *secret, *tm_id, *job, *blob, *out;
	int attempt, count;
} opts;

static int g_refused, g_accepted;

static void verdict(bool refused, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verdict(bool refused, const char *what, const char *fmt, ...)
{
	char msg[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	printf("%s: %s: %s\n", refused ? "refused" : "ACCEPTED", what, msg);
	fflush(stdout);
	if (refused)
		g_refused++;
	else
		g_accepted++;
}

/* ---- sockets ---------------------------------------------------------------- */

static nng_socket req_open(const char *url)
{
	nng_socket s;
	if (nng_req0_open(&s) != 0) {
		fprintf(stderr, "rpc_attacker: cannot open a socket\n");
		exit(2);
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 3000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 3000);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, 1u << 30);
	int rc = nng_dial(s, url, NULL, 0);
	if (rc) {
		fprintf(stderr, "rpc_attacker: cannot connect to %s: %s\n", url, nng_strerror(rc));
		exit(2);
	}
	return s;
}

static int call(nng_socket s, const Flinc__Envelope *e, Flinc__Envelope **r)
{
	*r = NULL;
	int rc = fl_rpc_send(s, e);
	return rc ? rc : fl_rpc_recv(s, r);
}

static int call_bytes(nng_socket s, const void *buf, size_t n, Flinc__Envelope **r)
{
	*r = NULL;
	nng_msg *m;
	nng_msg_alloc(&m, n);
	memcpy(nng_msg_body(m), buf, n);
	int rc = nng_sendmsg(s, m, 0);
	if (rc) {
		nng_msg_free(m);
		return rc;
	}
	return fl_rpc_recv(s, r);
}

static const char *reply_text(const Flinc__Envelope *r, char *buf, size_t cap)
{
	switch (r->body_case) {
	case FLINC__ENVELOPE__BODY_ACK:
		snprintf(buf, cap, "Ack{ok:%d, code:%d, \"%s\"}", r->ack->ok, (int)r->ack->code,
			 r->ack->error);
		break;
	case FLINC__ENVELOPE__BODY_REGISTER_ACK:
		snprintf(buf, cap, "RegisterAck{ok:%d, \"%s\", session key %zu bytes}", r->register_ack->ok,
			 r->register_ack->error, r->register_ack->session_key.len);
		break;
	case FLINC__ENVELOPE__BODY_HEARTBEAT_ACK:
		snprintf(buf, cap, "HeartbeatAck{known:%d}", r->heartbeat_ack->known);
		break;
	case FLINC__ENVELOPE__BODY_BLOB_DATA:
		snprintf(buf, cap, "BlobData{found:%d, %zu bytes}", r->blob_data->found,
			 r->blob_data->data.len);
		break;
	default: snprintf(buf, cap, "message kind %d", (int)r->body_case); break;
	}
	return buf;
}

/* A request that must not be honoured: refused when the answer is an Ack
 * that refuses (auth: with code ACK_AUTH), a RegisterAck that refuses,
 * or no answer at all; anything else was honoured. */
static void judge(const char *what, int rc, Flinc__Envelope *r, bool need_auth_code)
{
	char t[600];
	if (rc) {
		verdict(true, what, "no answer (%s)", nng_strerror(rc));
	} else if (r->body_case == FLINC__ENVELOPE__BODY_ACK && !r->ack->ok &&
		   (!need_auth_code || r->ack->code == FLINC__ACK_CODE__ACK_AUTH)) {
		verdict(true, what, "%s", r->ack->error);
	} else if (r->body_case == FLINC__ENVELOPE__BODY_REGISTER_ACK && !r->register_ack->ok &&
		   !need_auth_code) {
		verdict(true, what, "%s", r->register_ack->error);
	} else {
		verdict(false, what, "%s", reply_text(r, t, sizeof t));
	}
	fl_rpc_free(r);
}

/* ---- messages -------------------------------------------------------------------- */

static int send_register(nng_socket s, const char *id, const char *control, const char *data, int slots,
			 Flinc__Envelope **r)
{
	Flinc__RegisterTaskManager reg = FLINC__REGISTER_TASK_MANAGER__INIT;
	reg.tm_id = (char *)id;
	reg.control_address = (char *)control;
	reg.data_address = (char *)data;
	reg.slots = slots;
	reg.host = "attacker";
	reg.pid = getpid();
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_REGISTER;
	e.register_ = &reg;
	return call(s, &e, r);
}

static int send_heartbeat(nng_socket s, const char *id, Flinc__Envelope **r)
{
	Flinc__Heartbeat hb = FLINC__HEARTBEAT__INIT;
	hb.tm_id = (char *)id;
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT;
	e.heartbeat = &hb;
	return call(s, &e, r);
}

static int send_status(nng_socket s, const opts *o, Flinc__Envelope **r)
{
	Flinc__TaskStatus st = FLINC__TASK_STATUS__INIT;
	st.tm_id = (char *)o->tm_id;
	st.job_id = (char *)o->job;
	st.attempt = o->attempt;
	st.vertex = 0;
	st.subtask = 0;
	st.state = FLINC__TASK_STATE__FAILED;
	st.error = "failed by rpc_attacker";
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_STATUS;
	e.status = &st;
	return call(s, &e, r);
}

static int send_cp_ack(nng_socket s, const opts *o, Flinc__Envelope **r)
{
	Flinc__AcknowledgeCheckpoint a = FLINC__ACKNOWLEDGE_CHECKPOINT__INIT;
	a.tm_id = (char *)o->tm_id;
	a.job_id = (char *)o->job;
	a.attempt = o->attempt;
	a.checkpoint_id = 1;
	a.ok = false;
	a.error = "declined by rpc_attacker";
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_CHECKPOINT_ACK;
	e.checkpoint_ack = &a;
	return call(s, &e, r);
}

static int send_blob_request(nng_socket s, const char *blob, Flinc__Envelope **r)
{
	Flinc__BlobRequest b = FLINC__BLOB_REQUEST__INIT;
	b.blob_id = (char *)blob;
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_BLOB_REQUEST;
	e.blob_request = &b;
	return call(s, &e, r);
}

/* ---- a control socket of our own (the fake task manager's) ----------------------- */

typedef struct listener {
	nng_socket rep;
	char url[128];
	_Atomic int dialed, requests;
	atomic_bool stop;
	pthread_t th;
} listener;

static void listener_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)p, (void)ev;
	atomic_fetch_add(&((listener *)arg)->dialed, 1);
}

static void *listener_main(void *arg)
{
	listener *l = arg;
	while (!atomic_load(&l->stop)) {
		Flinc__Envelope *e;
		int rc = fl_rpc_recv(l->rep, &e); /* NNG_ETIMEDOUT every 200 ms */
		if (rc == NNG_ECLOSED) break;
		if (rc) continue;
		atomic_fetch_add(&l->requests, 1);
		printf("listener: received message kind %d (%s)\n", (int)e->body_case,
		       e->body_case == FLINC__ENVELOPE__BODY_DEPLOY ? "a deployment" : "not a deployment");
		fflush(stdout);
		fl_rpc_ack(l->rep, 1, NULL);
		fl_rpc_free(e);
	}
	return NULL;
}

static void listener_start(listener *l)
{
	nng_listener nl;
	int port = 0;
	if (nng_rep0_open(&l->rep) != 0 ||
	    nng_pipe_notify(l->rep, NNG_PIPE_EV_ADD_POST, listener_pipe_cb, l) != 0 ||
	    nng_listen(l->rep, "tcp://127.0.0.1:0", &nl, 0) != 0 ||
	    nng_listener_get_int(nl, NNG_OPT_TCP_BOUND_PORT, &port) != 0) {
		fprintf(stderr, "rpc_attacker: cannot listen\n");
		exit(2);
	}
	nng_socket_set_ms(l->rep, NNG_OPT_RECVTIMEO, 200);
	snprintf(l->url, sizeof l->url, "tcp://127.0.0.1:%d", port);
	pthread_create(&l->th, NULL, listener_main, l);
}

/* After the Registers: did the job manager dial the control address it
 * was given, or deploy anything to it? */
static void listener_judge(listener *l, int wait_ms)
{
	usleep((useconds_t)wait_ms * 1000);
	/* The thread leaves at its next receive timeout; the socket is closed
	 * only then. nng 1.5.2 (Debian 12's) can hang or panic in nng_close
	 * while another thread waits in a receive on the same socket
	 * (nanomsg/nng issues 1543, 1813): this tool once aborted so. */
	atomic_store(&l->stop, true);
	pthread_join(l->th, NULL);
	nng_close(l->rep);
	int d = atomic_load(&l->dialed), q = atomic_load(&l->requests);
	if (d || q)
		verdict(false, "fake task manager's control address",
			"the job manager connected %d time(s), %d request(s)", d, q);
	else
		verdict(true, "fake task manager's control address", "never dialed in %d ms, no deployment",
			wait_ms);
}

/* ---- RPC: without (or failing) the handshake -------------------------------------- */

/* The requests finding 1 sent, on socket s. need_auth: each must be
 * refused with ACK_AUTH (the connection has not authenticated). */
static void rpc_requests(nng_socket s, const opts *o, const listener *l, bool need_auth)
{
	Flinc__Envelope *r;
	char what[256];
	int rc = send_register(s, "attacker-fake-tm", l->url, "tcp://127.0.0.1:1", 64, &r);
	judge("Register of a fake task manager with 64 slots", rc, r, need_auth);
	if (o->tm_id) {
		rc = send_register(s, o->tm_id, l->url, "tcp://127.0.0.1:1", 64, &r);
		snprintf(what, sizeof what, "Register under the live id %s", o->tm_id);
		judge(what, rc, r, need_auth);
	}
	static const char *const hostile[] = {
		"ws://127.0.0.1:8081/internal/admin",
		"ipc:///tmp/flinc-attacker.ipc",
		"inproc://flinc-attacker",
		"tcp://192.0.2.1:6124", /* TEST-NET-1: another host, never reachable */
		"tls+tcp://127.0.0.1:1",
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(hostile); i++) {
		char id[64];
		snprintf(id, sizeof id, "attacker-hostile-%zu", i);
		rc = send_register(s, id, hostile[i], "", 4, &r);
		snprintf(what, sizeof what, "Register with control address %s", hostile[i]);
		judge(what, rc, r, need_auth);
	}
	if (o->tm_id) {
		rc = send_heartbeat(s, o->tm_id, &r);
		snprintf(what, sizeof what, "Heartbeat for %s", o->tm_id);
		judge(what, rc, r, true);
		if (o->job) {
			rc = send_status(s, o, &r);
			snprintf(what, sizeof what, "TaskStatus FAILED for job %s on %s", o->job, o->tm_id);
			judge(what, rc, r, true);
			rc = send_cp_ack(s, o, &r);
			snprintf(what, sizeof what, "AcknowledgeCheckpoint (declined) for job %s on %s",
				 o->job, o->tm_id);
			judge(what, rc, r, true);
		}
	}
	if (o->blob) {
		rc = send_blob_request(s, o->blob, &r);
		snprintf(what, sizeof what, "BlobRequest for %s", o->blob);
		judge(what, rc, r, true);
	}
	rc = call_bytes(s, "\xff\xff\xff\xff garbage", 13, &r);
	judge("bytes that are not an Envelope", rc, r, need_auth);
}

/* A handshake with key on an fl_rpc_client: 0 or its error. */
static int client_auth(nng_socket s, const char *url, const char *purpose, const char *key, char *err,
		       size_t cap)
{
	fl_rpc_client c;
	fl_rpc_client_init(&c, s, (const uint8_t *)key, key ? strlen(key) : 0, purpose, url, NULL);
	return fl_rpc_client_auth(&c, err, cap);
}

static int mode_rpc_unauth(const opts *o)
{
	listener l = { 0 };
	listener_start(&l);
	nng_socket s = req_open(o->rpc);
	if (o->secret) {
		char err[512] = "";
		int rc = client_auth(s, o->rpc, FL_RPC_PURPOSE_RPC, o->secret, err, sizeof err);
		verdict(rc != 0, "handshake with a wrong secret", "%s",
			rc ? err : "the job manager accepted it");
	}
	rpc_requests(s, o, &l, true);
	nng_close(s);
	listener_judge(&l, 2000);
	return 0;
}

/* ---- RPC: a peer that knows the secret --------------------------------------------- */

/* A handshake by hand (so a binding can be forged): returns the socket's
 * welcome, or NULL. */
static Flinc__Envelope *manual_handshake(nng_socket s, const char *key, const char *bind_id, bool forge_bind,
					 uint8_t *hello_out, size_t *hello_len, uint8_t *proof_out,
					 size_t *proof_len)
{
	uint8_t nc[FL_AUTH_NONCE], ns[FL_AUTH_NONCE], proof[FL_AUTH_PROOF], bproof[FL_AUTH_PROOF];
	fl_random_bytes(nc, sizeof nc);
	Flinc__AuthHello h = FLINC__AUTH_HELLO__INIT;
	h.version = FL_RPC_VERSION;
	h.purpose = FL_RPC_PURPOSE_RPC;
	h.nonce.data = nc;
	h.nonce.len = sizeof nc;
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_AUTH_HELLO;
	e.auth_hello = &h;
	if (hello_out) *hello_len = flinc__envelope__pack(&e, hello_out);
	Flinc__Envelope *r;
	if (call(s, &e, &r) != 0 || r->body_case != FLINC__ENVELOPE__BODY_AUTH_CHALLENGE) {
		fl_rpc_free(r);
		return NULL;
	}
	memcpy(ns, r->auth_challenge->nonce.data, sizeof ns);
	fl_rpc_free(r);
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_CLIENT, FL_RPC_PURPOSE_RPC, nc, ns, proof);
	Flinc__AuthProof p = FLINC__AUTH_PROOF__INIT;
	p.proof.data = proof;
	p.proof.len = sizeof proof;
	if (bind_id) {
		fl_random_bytes(bproof, sizeof bproof); /* no session key: a guess */
		if (!forge_bind) memset(bproof, 0, sizeof bproof);
		p.bind_id = (char *)bind_id;
		p.bind_proof.data = bproof;
		p.bind_proof.len = sizeof bproof;
	}
	e.body_case = FLINC__ENVELOPE__BODY_AUTH_PROOF;
	e.auth_proof = &p;
	if (proof_out) *proof_len = flinc__envelope__pack(&e, proof_out);
	if (call(s, &e, &r) != 0) return NULL;
	return r;
}

static int mode_rpc_insider(const opts *o)
{
	if (!o->secret) {
		fprintf(stderr, "rpc_attacker: rpc-insider needs --secret (the right one)\n");
		return 2;
	}
	listener l = { 0 };
	listener_start(&l);
	nng_socket s = req_open(o->rpc);
	char err[512] = "";
	int rc = client_auth(s, o->rpc, FL_RPC_PURPOSE_RPC, o->secret, err, sizeof err);
	if (rc) {
		fprintf(stderr, "rpc_attacker: the right secret did not authenticate: %s\n", err);
		return 2;
	}
	printf("note: authenticated with the cluster secret (a peer of the cluster)\n");
	/* Registrations: refused by the job manager's checks (not by the
	 * handshake); requests for another id: refused with ACK_AUTH. The fake
	 * task manager with a new id is skipped: with the secret it is a
	 * member of the cluster. */
	Flinc__Envelope *r;
	char what[256];
	if (o->tm_id) {
		rc = send_register(s, o->tm_id, l.url, "", 64, &r);
		snprintf(what, sizeof what, "Register under the live id %s", o->tm_id);
		judge(what, rc, r, false);
	}
	static const char *const hostile[] = {
		"ws://127.0.0.1:8081/internal/admin",
		"ipc:///tmp/flinc-attacker.ipc",
		"inproc://flinc-attacker",
		"tcp://192.0.2.1:6124",
		"tcp://127.0.0.1:1/path",
		"tcp://localhost.invalid:1",
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(hostile); i++) {
		char id[64];
		snprintf(id, sizeof id, "attacker-hostile-%zu", i);
		rc = send_register(s, id, hostile[i], "", 4, &r);
		snprintf(what, sizeof what, "Register with control address %s", hostile[i]);
		judge(what, rc, r, false);
	}
	rc = send_register(s, "attacker-bad-data", l.url, "tcp://192.0.2.1:1", 4, &r);
	judge("Register with data address tcp://192.0.2.1:1 (another host)", rc, r, false);
	if (o->tm_id) {
		rc = send_heartbeat(s, o->tm_id, &r);
		snprintf(what, sizeof what, "Heartbeat for %s from a connection not bound to it", o->tm_id);
		judge(what, rc, r, true);
		if (o->job) {
			rc = send_status(s, o, &r);
			snprintf(what, sizeof what,
				 "TaskStatus FAILED for job %s on %s from a connection not bound to it",
				 o->job, o->tm_id);
			judge(what, rc, r, true);
			rc = send_cp_ack(s, o, &r);
			snprintf(what, sizeof what,
				 "AcknowledgeCheckpoint for job %s on %s from a connection not bound to it",
				 o->job, o->tm_id);
			judge(what, rc, r, true);
		}
	}
	if (o->blob) {
		rc = send_blob_request(s, o->blob, &r);
		snprintf(what, sizeof what, "BlobRequest for %s from a connection that registered nothing",
			 o->blob);
		judge(what, rc, r, true);
	}
	nng_close(s);
	/* A forged binding: the live id with a guessed session-key proof. */
	if (o->tm_id) {
		s = req_open(o->rpc);
		Flinc__Envelope *w = manual_handshake(s, o->secret, o->tm_id, true, NULL, NULL, NULL, NULL);
		if (!w || w->body_case != FLINC__ENVELOPE__BODY_AUTH_WELCOME) {
			verdict(true, "handshake binding a live id with a forged proof", "handshake refused");
		} else {
			verdict(!w->auth_welcome->bound, "handshake binding a live id with a forged proof",
				"bound=%d", w->auth_welcome->bound);
			if (o->job) {
				rc = send_status(s, o, &r);
				judge("TaskStatus after the forged binding", rc, r, true);
			}
		}
		fl_rpc_free(w);
		nng_close(s);
	}
	listener_judge(&l, 2000);
	return 0;
}

/* ---- control ------------------------------------------------------------------------ */

static void control_requests(nng_socket s, const opts *o)
{
	char *args[] = { "wordcount.so", "--input", "/etc/hostname", "--output",
			 (char *)(o->out ? o->out : "/tmp/x") };
	Flinc__Placement pl = FLINC__PLACEMENT__INIT;
	pl.vertex = 0;
	pl.subtask = 0;
	pl.tm_id = (char *)(o->tm_id ? o->tm_id : "x");
	pl.data_address = "tcp://127.0.0.1:1";
	Flinc__Placement *pls[] = { &pl };
	Flinc__DeployJob d = FLINC__DEPLOY_JOB__INIT;
	d.job_id = "00000000000000000000000000a77ac4";
	d.attempt = 1;
	d.job_name = "attacker";
	d.blob_id = (char *)(o->blob ? o->blob : "none");
	d.args = args;
	d.n_args = FL_ARRAY_LEN(args);
	d.parallelism = 1;
	d.placements = pls;
	d.n_placements = 1;
	Flinc__Envelope e = FLINC__ENVELOPE__INIT, *r;
	int rc;
	e.body_case = FLINC__ENVELOPE__BODY_DEPLOY;
	e.deploy = &d;
	rc = call(s, &e, &r);
	judge("DeployJob of a stored plugin straight to the control port", rc, r, true);
	Flinc__CancelJob c = FLINC__CANCEL_JOB__INIT;
	c.job_id = (char *)(o->job ? o->job : d.job_id);
	c.attempt = -1;
	e.body_case = FLINC__ENVELOPE__BODY_CANCEL;
	e.cancel = &c;
	rc = call(s, &e, &r);
	judge("CancelJob of the running job", rc, r, true);
	Flinc__TriggerCheckpoint t = FLINC__TRIGGER_CHECKPOINT__INIT;
	t.job_id = c.job_id;
	t.attempt = o->attempt;
	t.checkpoint_id = 999;
	e.body_case = FLINC__ENVELOPE__BODY_TRIGGER;
	e.trigger = &t;
	rc = call(s, &e, &r);
	judge("TriggerCheckpoint", rc, r, true);
	Flinc__NotifyCheckpointComplete n = FLINC__NOTIFY_CHECKPOINT_COMPLETE__INIT;
	n.job_id = c.job_id;
	n.attempt = o->attempt;
	n.checkpoint_id = 999;
	n.final = true;
	e.body_case = FLINC__ENVELOPE__BODY_CHECKPOINT_COMPLETE;
	e.checkpoint_complete = &n;
	rc = call(s, &e, &r);
	judge("NotifyCheckpointComplete (final)", rc, r, true);
}

static int mode_control(const opts *o)
{
	nng_socket s = req_open(o->control);
	control_requests(s, o);
	nng_close(s);
	if (o->secret) {
		s = req_open(o->control);
		char err[512] = "";
		int rc = client_auth(s, o->control, FL_RPC_PURPOSE_CONTROL, o->secret, err, sizeof err);
		verdict(rc != 0, "control handshake with a wrong secret", "%s", rc ? err : "accepted");
		control_requests(s, o);
		nng_close(s);
	}
	/* An RPC handshake is no control handshake (the purpose is in the proof). */
	return 0;
}

/* ---- data ------------------------------------------------------------------------------ */

static int tcp_connect(const char *url)
{
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	const char *colon = strrchr(h, ':');
	if (!colon) exit(2);
	char host[128];
	snprintf(host, sizeof host, "%.*s", (int)(colon - h), h);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "rpc_attacker: %s: only IPv4 literals\n", url);
		exit(2);
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		fprintf(stderr, "rpc_attacker: cannot connect to %s\n", url);
		exit(2);
	}
	struct timeval tv = { .tv_sec = 8 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	return fd;
}

static void put_frame(uint8_t *buf, size_t *n, uint8_t type, uint32_t arg, uint64_t id, const void *p,
		      size_t plen)
{
	uint8_t *h = buf + *n;
	memset(h, 0, 16);
	h[0] = type;
	memcpy(h + 4, &arg, 4);
	memcpy(h + 8, &id, 8);
	if (plen) memcpy(h + 16, p, plen);
	*n += 16 + plen;
}

static size_t hello_frame(uint8_t *buf, uint16_t ver, const uint8_t *nonce, const char *me)
{
	uint8_t p[400];
	uint32_t magic = 0x584e4c46u;
	uint16_t n = (uint16_t)strlen(me);
	size_t k = ver >= 2 ? FL_AUTH_NONCE : 0, len = 0;
	memcpy(p, &magic, 4);
	memcpy(p + 4, &ver, 2);
	memcpy(p + 6, &n, 2);
	if (k) memcpy(p + 8, nonce, k);
	memcpy(p + 8 + k, me, n);
	put_frame(buf, &len, 1, (uint32_t)(8 + k + n), 0, p, 8 + k + n);
	return len;
}

/* Read what the task manager sends until it closes the connection: the
 * frame types in order into types (at most cap), their count returned;
 * -1 when it did not close within the receive timeout. *ns: the nonce of
 * its HELLO. */
static int read_until_eof(int fd, uint8_t *types, int cap, uint8_t *ns)
{
	uint8_t buf[65536];
	size_t have = 0;
	int nt = 0;
	for (;;) {
		ssize_t k = read(fd, buf + have, sizeof buf - have);
		if (k == 0) break;
		if (k < 0) return -1;
		have += (size_t)k;
		size_t off = 0;
		while (have - off >= 16) {
			uint32_t arg;
			memcpy(&arg, buf + off + 4, 4);
			size_t plen = buf[off] == 1 || buf[off] == 4 || buf[off] == 7 ? arg : 0;
			if (have - off < 16 + plen) break;
			if (buf[off] == 1 && ns && plen >= 8 + FL_AUTH_NONCE)
				memcpy(ns, buf + off + 24, FL_AUTH_NONCE);
			if (nt < cap) types[nt] = buf[off];
			nt++;
			off += 16 + plen;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	return nt;
}

/* Send bytes; then the task manager must close the connection having sent
 * nothing but its own HELLO. */
static void data_attempt(const opts *o, const char *what, const uint8_t *bytes, size_t n)
{
	int fd = tcp_connect(o->data);
	if (write(fd, bytes, n) != (ssize_t)n) {
		verdict(true, what, "the connection was closed while sending");
		close(fd);
		return;
	}
	uint8_t types[64];
	int nt = read_until_eof(fd, types, 64, NULL);
	close(fd);
	if (nt < 0) {
		verdict(false, what, "the connection is still open after 8 s");
		return;
	}
	for (int i = 0; i < nt && i < 64; i++)
		if (types[i] != 1) {
			verdict(false, what, "the task manager sent frame type %u (not only its HELLO)",
				types[i]);
			return;
		}
	verdict(true, what, "connection closed; the task manager sent nothing but its HELLO");
}

static int mode_data(const opts *o)
{
	uint8_t buf[2048], nonce[FL_AUTH_NONCE] = { 0x42 }, zero[FL_AUTH_PROOF] = { 0 };
	size_t n = hello_frame(buf, 2, nonce, "tcp://127.0.0.1:9");
	put_frame(buf, &n, 2, 0, 0x1234, NULL, 0);
	put_frame(buf, &n, 4, 5, 0x1234, "hello", 5);
	data_attempt(o, "OPEN and DATA on the data port without AUTH", buf, n);
	n = hello_frame(buf, 2, nonce, "tcp://127.0.0.1:9");
	put_frame(buf, &n, 7, FL_AUTH_PROOF, 0, zero, sizeof zero);
	put_frame(buf, &n, 2, 0, 0x1234, NULL, 0);
	data_attempt(o, "a wrong AUTH proof on the data port", buf, n);
	n = hello_frame(buf, 1, NULL, "tcp://127.0.0.1:9");
	put_frame(buf, &n, 2, 0, 0x1234, NULL, 0);
	data_attempt(o, "a version-1 HELLO (no authentication) on the data port", buf, n);
	n = 0;
	put_frame(buf, &n, 2, 0, 0x1234, NULL, 0);
	data_attempt(o, "OPEN without HELLO on the data port", buf, n);
	/* The task manager's own proof reflected back: read its HELLO first. */
	int fd = tcp_connect(o->data);
	n = hello_frame(buf, 2, nonce, "tcp://127.0.0.1:9");
	if (write(fd, buf, n) == (ssize_t)n) {
		uint8_t h[16 + 400];
		ssize_t k = read(fd, h, sizeof h); /* its HELLO (one small frame) */
		if (k >= 16 + 8 + FL_AUTH_NONCE) {
			uint8_t proof[FL_AUTH_PROOF];
			/* the server-role proof it would give (with the right
			 * key when --secret has it): a reflection */
			const char *key = o->secret ? o->secret : "";
			fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_SERVER, "data", nonce, h + 24, proof);
			n = 0;
			put_frame(buf, &n, 7, FL_AUTH_PROOF, 0, proof, sizeof proof);
			put_frame(buf, &n, 2, 0, 0x1234, NULL, 0);
			ssize_t w = write(fd, buf, n);
			(void)w;
			uint8_t types[8];
			int nt = read_until_eof(fd, types, 8, NULL);
			verdict(nt == 0, "a server-role proof (reflected) as the dialer's AUTH",
				nt == 0 ? "connection closed, nothing sent" : "the task manager answered");
		}
	}
	close(fd);
	return 0;
}

/* ---- replay ------------------------------------------------------------------------------ */

static int mode_replay(const opts *o)
{
	if (!o->secret) {
		fprintf(stderr, "rpc_attacker: replay needs --secret (to record a legitimate handshake)\n");
		return 2;
	}
	if (o->rpc) {
		uint8_t hello[256], proof[512];
		size_t hl = 0, pl = 0;
		nng_socket s = req_open(o->rpc);
		Flinc__Envelope *w = manual_handshake(s, o->secret, NULL, false, hello, &hl, proof, &pl);
		if (!w || w->body_case != FLINC__ENVELOPE__BODY_AUTH_WELCOME) {
			fprintf(stderr, "rpc_attacker: the recorded handshake itself failed\n");
			return 2;
		}
		fl_rpc_free(w);
		nng_close(s);
		printf("note: recorded a legitimate RPC handshake (AuthHello %zu bytes, AuthProof %zu bytes)\n",
		       hl, pl);
		s = req_open(o->rpc);
		Flinc__Envelope *r;
		int rc = call_bytes(s, hello, hl, &r);
		if (rc == 0 && r->body_case == FLINC__ENVELOPE__BODY_AUTH_CHALLENGE) {
			fl_rpc_free(r);
			rc = call_bytes(s, proof, pl, &r);
			judge("the recorded AuthProof replayed on a new connection", rc, r, true);
		} else {
			judge("the recorded AuthHello replayed", rc, r, true);
		}
		listener l = { 0 };
		listener_start(&l);
		rc = send_register(s, "attacker-replayed", l.url, "", 64, &r);
		judge("Register after the replayed handshake", rc, r, true);
		nng_close(s);
		listener_judge(&l, 1000);
	}
	if (o->data) {
		/* Record a dialer's HELLO and AUTH from a real handshake... */
		uint8_t nc[FL_AUTH_NONCE], rec[2048], types[8];
		fl_random_bytes(nc, sizeof nc);
		size_t n = hello_frame(rec, 2, nc, "tcp://127.0.0.1:9");
		int fd = tcp_connect(o->data);
		if (write(fd, rec, n) != (ssize_t)n) return 2;
		uint8_t h[16 + 400];
		ssize_t k = read(fd, h, sizeof h);
		if (k < 16 + 8 + FL_AUTH_NONCE) return 2;
		uint8_t proof[FL_AUTH_PROOF];
		fl_auth_proof(o->secret, strlen(o->secret), FL_AUTH_ROLE_CLIENT, "data", nc, h + 24, proof);
		size_t auth_at = n;
		put_frame(rec, &n, 7, FL_AUTH_PROOF, 0, proof, sizeof proof);
		if (write(fd, rec + auth_at, n - auth_at) != (ssize_t)(n - auth_at)) return 2;
		k = read(fd, h, sizeof h);
		close(fd);
		if (k < 16 || h[0] != 7) {
			fprintf(stderr, "rpc_attacker: the recorded data handshake itself failed\n");
			return 2;
		}
		printf("note: recorded a legitimate data handshake (%zu bytes)\n", n);
		/* ...and replay them, with an OPEN behind. */
		put_frame(rec, &n, 2, 0, 0x1234, NULL, 0);
		fd = tcp_connect(o->data);
		ssize_t w = write(fd, rec, n);
		(void)w;
		int nt = read_until_eof(fd, types, 8, NULL);
		close(fd);
		bool only_hello = nt >= 0;
		for (int i = 0; i < nt && i < 8; i++)
			if (types[i] != 1) only_hello = false;
		verdict(only_hello, "a recorded data handshake replayed on a new connection",
			only_hello ? "connection closed; nothing but the task manager's HELLO"
				   : "the task manager answered");
	}
	return 0;
}

/* ---- flood --------------------------------------------------------------------------------- */

static int mode_flood(const opts *o)
{
	nng_socket s = req_open(o->rpc);
	int refused = 0, other = 0;
	for (int i = 0; i < o->count; i++) {
		Flinc__Envelope *r;
		int rc = i % 2 ? send_heartbeat(s, o->tm_id ? o->tm_id : "x", &r)
			       : call_bytes(s, "garbage", 7, &r);
		if (rc == 0 && r->body_case == FLINC__ENVELOPE__BODY_ACK && !r->ack->ok &&
		    r->ack->code == FLINC__ACK_CODE__ACK_AUTH)
			refused++;
		else
			other++;
		fl_rpc_free(r);
	}
	nng_close(s);
	verdict(other == 0, "flood of unauthenticated requests", "%d of %d refused with ACK_AUTH", refused,
		o->count);
	return 0;
}

/* --count connections that each send a request and close at once, without
 * waiting for the answer: the server may take the message after its
 * connection is gone (a daemon once crashed answering such a one). Raw TCP
 * speaking nng's SP framing (an 8-byte header naming REQ, then a 64-bit
 * length, a request id and the Envelope), so the attacker controls when
 * the connection closes. */
static int mode_hit_and_run(const opts *o)
{
	const char *url = o->rpc ? o->rpc : o->control;
	Flinc__Heartbeat hb = FLINC__HEARTBEAT__INIT;
	hb.tm_id = (char *)(o->tm_id ? o->tm_id : "x");
	Flinc__Envelope e = FLINC__ENVELOPE__INIT;
	e.body_case = FLINC__ENVELOPE__BODY_HEARTBEAT;
	e.heartbeat = &hb;
	uint8_t msg[256];
	size_t n = flinc__envelope__pack(&e, msg + 12);
	uint64_t len = n + 4;
	for (int i = 0; i < 8; i++) msg[i] = (uint8_t)(len >> (56 - 8 * i));
	const uint8_t hdr[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 }; /* REQ v0 = protocol 0x30 */
	int sent = 0;
	for (int i = 0; i < o->count; i++) {
		uint32_t id = 0x80000000u | (uint32_t)(i + 1);
		msg[8] = (uint8_t)(id >> 24), msg[9] = (uint8_t)(id >> 16), msg[10] = (uint8_t)(id >> 8),
		msg[11] = (uint8_t)id;
		int fd = tcp_connect(url);
		/* header and request in one write, then FIN: the server reads the
		 * request and the end of the connection together */
		uint8_t out[8 + sizeof msg];
		memcpy(out, hdr, sizeof hdr);
		memcpy(out + sizeof hdr, msg, 12 + n);
		if (write(fd, out, sizeof hdr + 12 + n) == (ssize_t)(sizeof hdr + 12 + n)) sent++;
		close(fd);
	}
	verdict(true, "hit-and-run requests",
		"%d of %d sent, each connection closed at once (the probe checks the "
		"daemon lives)",
		sent, o->count);
	return 0;
}

/* ---- main ------------------------------------------------------------------------------------ */

static void usage(void)
{
	fputs("usage: rpc_attacker MODE [--rpc URL] [--control URL] [--data URL] [--secret S] [--tm-id ID]\n"
	      "                    [--job JID] [--attempt N] [--blob BLOB] [--out DIR] [--count N]\n"
	      "modes: rpc-unauth rpc-insider control data replay flood hit-and-run (see the top of rpc_attacker.c)\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	opts o = { .attempt = 1, .count = 1000 };
	if (argc < 2) usage();
	o.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc) usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--rpc"))
			o.rpc = v;
		else if (!strcmp(a, "--control"))
			o.control = v;
		else if (!strcmp(a, "--data"))
			o.data = v;
		else if (!strcmp(a, "--secret"))
			o.secret = v;
		else if (!strcmp(a, "--tm-id"))
			o.tm_id = v;
		else if (!strcmp(a, "--job"))
			o.job = v;
		else if (!strcmp(a, "--attempt"))
			o.attempt = atoi(v);
		else if (!strcmp(a, "--blob"))
			o.blob = v;
		else if (!strcmp(a, "--out"))
			o.out = v;
		else if (!strcmp(a, "--count"))
			o.count = atoi(v);
		else
			usage();
	}
	int rc;
	if (!strcmp(o.mode, "rpc-unauth") && o.rpc)
		rc = mode_rpc_unauth(&o);
	else if (!strcmp(o.mode, "rpc-insider") && o.rpc)
		rc = mode_rpc_insider(&o);
	else if (!strcmp(o.mode, "control") && o.control)
		rc = mode_control(&o);
	else if (!strcmp(o.mode, "data") && o.data)
		rc = mode_data(&o);
	else if (!strcmp(o.mode, "replay") && (o.rpc || o.data))
		rc = mode_replay(&o);
	else if (!strcmp(o.mode, "flood") && o.rpc)
		rc = mode_flood(&o);
	else if (!strcmp(o.mode, "hit-and-run") && (o.rpc || o.control))
		rc = mode_hit_and_run(&o);
	else
		usage();
	if (rc) return rc;
	printf("%d refused, %d accepted\n", g_refused, g_accepted);
	return g_accepted ? 1 : 0;
}
