/*
 * auth.c - the cluster handshake on REQ/REP sockets (rpc.h): the server's
 * step function and its table of connections, and the client that
 * authenticates each new connection before its first request.
 *
 * A REP socket tells which connection (nng pipe) each request came on
 * (nng_msg_get_pipe), so the server keeps one fl_rpc_conn per pipe: made
 * when the pipe is added (NNG_PIPE_EV_ADD_PRE, before any message of it
 * can arrive), dropped when it is removed (NNG_PIPE_EV_REM_POST). A
 * reconnect is a new pipe and starts unauthenticated. The table is under
 * s->mu; the step runs on a copy without the lock (it may call the bind
 * callback, which takes the daemon's own locks), and the copy is written
 * back if the pipe is still there.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_base.h"
#include "rpc.h"

/* ---- the step ----------------------------------------------------------------- */

static const char *kind_name(int body_case)
{
	switch (body_case) {
	case FLINC__ENVELOPE__BODY_REGISTER: return "RegisterTaskManager";
	case FLINC__ENVELOPE__BODY_REGISTER_ACK: return "RegisterAck";
	case FLINC__ENVELOPE__BODY_HEARTBEAT: return "Heartbeat";
	case FLINC__ENVELOPE__BODY_HEARTBEAT_ACK: return "HeartbeatAck";
	case FLINC__ENVELOPE__BODY_DEPLOY: return "DeployJob";
	case FLINC__ENVELOPE__BODY_CANCEL: return "CancelJob";
	case FLINC__ENVELOPE__BODY_STATUS: return "TaskStatus";
	case FLINC__ENVELOPE__BODY_BLOB_REQUEST: return "BlobRequest";
	case FLINC__ENVELOPE__BODY_BLOB_DATA: return "BlobData";
	case FLINC__ENVELOPE__BODY_ACK: return "Ack";
	case FLINC__ENVELOPE__BODY_TRIGGER: return "TriggerCheckpoint";
	case FLINC__ENVELOPE__BODY_CHECKPOINT_COMPLETE: return "NotifyCheckpointComplete";
	case FLINC__ENVELOPE__BODY_CHECKPOINT_ACK: return "AcknowledgeCheckpoint";
	case FLINC__ENVELOPE__BODY_AUTH_HELLO: return "AuthHello";
	case FLINC__ENVELOPE__BODY_AUTH_CHALLENGE: return "AuthChallenge";
	case FLINC__ENVELOPE__BODY_AUTH_PROOF: return "AuthProof";
	case FLINC__ENVELOPE__BODY_AUTH_WELCOME: return "AuthWelcome";
	default: return "an empty or unknown message";
	}
}

static fl_rpc_step refuse(fl_rpc_auth_reply *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static fl_rpc_step refuse(fl_rpc_auth_reply *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof o->why, fmt, ap);
	va_end(ap);
	/* The whole reply, not only its ack: the server also refuses a message
	 * whose connection is already gone without an auth step before it. */
	flinc__envelope__init(&o->env);
	flinc__ack__init(&o->ack);
	o->ack.ok = false;
	o->ack.code = FLINC__ACK_CODE__ACK_AUTH;
	o->ack.error = o->why;
	o->env.body_case = FLINC__ENVELOPE__BODY_ACK;
	o->env.ack = &o->ack;
	return FL_RPC_REFUSE;
}

/* AuthHello: a new handshake on this connection, from nothing. */
static fl_rpc_step on_hello(fl_rpc_conn *c, const fl_rpc_authcfg *cfg, const Flinc__AuthHello *h,
			    fl_rpc_auth_reply *o)
{
	c->state = FL_RPC_CONN_NEW;
	c->bound_id[0] = 0;
	c->bound_gen = 0;
	if (!h) return refuse(o, "an empty AuthHello");
	if (h->version != FL_RPC_VERSION)
		return refuse(o, "the peer speaks RPC protocol version %u, this daemon %d", h->version,
			      FL_RPC_VERSION);
	if (!h->purpose || strcmp(h->purpose, cfg->purpose) != 0)
		return refuse(o, "this is the %s socket, not one for '%.32s' connections", cfg->purpose,
			      h->purpose ? h->purpose : "");
	if (h->nonce.len != FL_AUTH_NONCE)
		return refuse(o, "an AuthHello whose nonce is not %d bytes", FL_AUTH_NONCE);
	if (fl_random_bytes(c->ns, sizeof c->ns) != FLINC_OK) return refuse(o, "no random bytes for a nonce");
	memcpy(c->nc, h->nonce.data, FL_AUTH_NONCE);
	c->state = FL_RPC_CONN_CHALLENGED;
	memcpy(o->nonce, c->ns, FL_AUTH_NONCE);
	flinc__auth_challenge__init(&o->challenge);
	o->challenge.version = FL_RPC_VERSION;
	o->challenge.nonce.data = o->nonce;
	o->challenge.nonce.len = FL_AUTH_NONCE;
	o->env.body_case = FLINC__ENVELOPE__BODY_AUTH_CHALLENGE;
	o->env.auth_challenge = &o->challenge;
	return FL_RPC_ANSWER;
}

/* AuthProof: the client's proof, then ours (and the binding, if asked). */
static fl_rpc_step on_proof(fl_rpc_conn *c, const fl_rpc_authcfg *cfg, const Flinc__AuthProof *p,
			    fl_rpc_auth_reply *o)
{
	bool challenged = c->state == FL_RPC_CONN_CHALLENGED;
	c->state = FL_RPC_CONN_NEW; /* a failed proof leaves nothing half-done */
	if (!challenged) return refuse(o, "an AuthProof without an AuthHello before it on this connection");
	uint8_t want[FL_AUTH_PROOF];
	fl_auth_proof(cfg->key, cfg->keylen, FL_AUTH_ROLE_CLIENT, cfg->purpose, c->nc, c->ns, want);
	if (!p || p->proof.len != FL_AUTH_PROOF || !fl_ct_equal(want, p->proof.data, FL_AUTH_PROOF))
		return refuse(o,
			      "authentication failed: the proof does not match this daemon's "
			      "security.cluster.secret");
	c->state = FL_RPC_CONN_AUTHED;
	if (p->bind_id && p->bind_id[0] && cfg->bind && fl_rpc_printable(p->bind_id, FL_RPC_ID_MAX)) {
		uint64_t gen = cfg->bind(cfg->bind_ud, p->bind_id, cfg->purpose, c->nc, c->ns,
					 p->bind_proof.data, p->bind_proof.len);
		if (gen) {
			snprintf(c->bound_id, sizeof c->bound_id, "%s", p->bind_id);
			c->bound_gen = gen;
		}
	}
	fl_auth_proof(cfg->key, cfg->keylen, FL_AUTH_ROLE_SERVER, cfg->purpose, c->nc, c->ns, o->proof);
	flinc__auth_welcome__init(&o->welcome);
	o->welcome.proof.data = o->proof;
	o->welcome.proof.len = FL_AUTH_PROOF;
	o->welcome.bound = c->bound_gen != 0;
	o->env.body_case = FLINC__ENVELOPE__BODY_AUTH_WELCOME;
	o->env.auth_welcome = &o->welcome;
	return FL_RPC_ANSWER;
}

fl_rpc_step fl_rpc_auth_step(fl_rpc_conn *c, const fl_rpc_authcfg *cfg, const Flinc__Envelope *req,
			     fl_rpc_auth_reply *o)
{
	flinc__envelope__init(&o->env);
	o->why[0] = 0;
	switch (req->body_case) {
	case FLINC__ENVELOPE__BODY_AUTH_HELLO: return on_hello(c, cfg, req->auth_hello, o);
	case FLINC__ENVELOPE__BODY_AUTH_PROOF: return on_proof(c, cfg, req->auth_proof, o);
	case FLINC__ENVELOPE__BODY_AUTH_CHALLENGE:
	case FLINC__ENVELOPE__BODY_AUTH_WELCOME:
		return refuse(o, "%s is the server's part of the handshake", kind_name(req->body_case));
	default:
		if (c->state == FL_RPC_CONN_AUTHED) return FL_RPC_PASS;
		return refuse(
			o,
			"authenticate first: this %s socket honours nothing before the cluster handshake "
			"(RPC protocol %d; an older flinc, or a different security.cluster.secret?)",
			cfg->purpose, FL_RPC_VERSION);
	}
}

/* ---- the server ------------------------------------------------------------------ */

typedef struct pconn {
	uint32_t pipe;
	char addr[64];
	fl_rpc_conn c;
} pconn;

struct fl_rpc_server {
	nng_socket rep;
	fl_rpc_authcfg cfg;
	const char *component;
	pthread_mutex_t mu;
	pconn **slot; /* open addressing by pipe id, NULL = empty */
	uint32_t cap, n;
	fl_log_limit lim;
	atomic_bool stop; /* fl_rpc_server_stop */
};

static uint32_t pipe_slot(uint32_t id, uint32_t mask) { return (id * 0x9e3779b1u) & mask; }

/* s->mu held. */
static pconn *conn_find(fl_rpc_server *s, uint32_t id)
{
	if (!s->cap) return NULL;
	uint32_t mask = s->cap - 1;
	for (uint32_t i = pipe_slot(id, mask); s->slot[i]; i = (i + 1) & mask)
		if (s->slot[i]->pipe == id) return s->slot[i];
	return NULL;
}

static void conn_insert(fl_rpc_server *s, pconn *pc);

static void table_grow(fl_rpc_server *s)
{
	pconn **old = s->slot;
	uint32_t ocap = s->cap;
	s->cap = ocap ? ocap * 2 : 16;
	s->slot = fl_calloc(s->cap, sizeof(pconn *));
	s->n = 0;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i]) conn_insert(s, old[i]);
	free(old);
}

/* s->mu held; pc->pipe absent. */
static void conn_insert(fl_rpc_server *s, pconn *pc)
{
	if ((s->n + 1) * 2 > s->cap) table_grow(s);
	uint32_t mask = s->cap - 1, i = pipe_slot(pc->pipe, mask);
	while (s->slot[i]) i = (i + 1) & mask;
	s->slot[i] = pc;
	s->n++;
}

/* s->mu held: remove and return the entry of id (backward-shift delete). */
static pconn *conn_remove(fl_rpc_server *s, uint32_t id)
{
	if (!s->cap) return NULL;
	uint32_t mask = s->cap - 1, i = pipe_slot(id, mask);
	while (s->slot[i] && s->slot[i]->pipe != id) i = (i + 1) & mask;
	pconn *pc = s->slot[i];
	if (!pc) return NULL;
	for (uint32_t j = (i + 1) & mask; s->slot[j]; j = (j + 1) & mask) {
		uint32_t home = pipe_slot(s->slot[j]->pipe, mask);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slot[i] = s->slot[j];
			i = j;
		}
	}
	s->slot[i] = NULL;
	s->n--;
	return pc;
}

/* The remote address of pipe p as text, without the port ("" unknown).
 * An IPv4 address mapped into IPv6 is written as IPv4. */
static void pipe_addr(nng_pipe p, char *out, size_t cap)
{
	nng_sockaddr sa;
	out[0] = 0;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0) return;
	if (sa.s_family == NNG_AF_INET) {
		inet_ntop(AF_INET, &sa.s_in.sa_addr, out, (socklen_t)cap);
	} else if (sa.s_family == NNG_AF_INET6) {
		const uint8_t *a = sa.s_in6.sa_addr;
		static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, v4mapped, 12) == 0)
			inet_ntop(AF_INET, a + 12, out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)cap);
	}
}

static void server_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fl_rpc_server *s = arg;
	uint32_t id = (uint32_t)nng_pipe_id(p);
	if (ev == NNG_PIPE_EV_ADD_PRE) {
		pconn *pc = fl_calloc(1, sizeof *pc);
		pc->pipe = id;
		pipe_addr(p, pc->addr, sizeof pc->addr);
		pthread_mutex_lock(&s->mu);
		if (!conn_find(s, id)) {
			conn_insert(s, pc);
			pc = NULL;
		}
		pthread_mutex_unlock(&s->mu);
		free(pc);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		pthread_mutex_lock(&s->mu);
		pconn *pc = conn_remove(s, id);
		pthread_mutex_unlock(&s->mu);
		free(pc);
	}
}

int fl_rpc_server_create(nng_socket rep, const fl_rpc_authcfg *cfg, const char *component,
			 fl_rpc_server **out)
{
	fl_rpc_server *s = fl_calloc(1, sizeof *s);
	s->rep = rep;
	s->cfg = *cfg;
	s->component = component;
	s->lim = (fl_log_limit)FL_LOG_LIMIT_INIT(5, 10000);
	pthread_mutex_init(&s->mu, NULL);
	if (nng_pipe_notify(rep, NNG_PIPE_EV_ADD_PRE, server_pipe_cb, s) != 0 ||
	    nng_pipe_notify(rep, NNG_PIPE_EV_REM_POST, server_pipe_cb, s) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return FLINC_ENOMEM;
	}
	nng_socket_set_ms(rep, NNG_OPT_RECVTIMEO, FL_RPC_SERVER_POLL_MS);
	*out = s;
	return FLINC_OK;
}

void fl_rpc_server_stop(fl_rpc_server *s)
{
	if (s) atomic_store(&s->stop, true);
}

void fl_rpc_server_destroy(fl_rpc_server *s)
{
	if (!s) return;
	for (uint32_t i = 0; i < s->cap; i++) free(s->slot[i]);
	free(s->slot);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

void fl_rpc_server_bind(fl_rpc_server *s, uint32_t pipe, const char *id, uint64_t gen)
{
	pthread_mutex_lock(&s->mu);
	pconn *pc = conn_find(s, pipe);
	if (pc) {
		snprintf(pc->c.bound_id, sizeof pc->c.bound_id, "%s", id);
		pc->c.bound_gen = gen;
	}
	pthread_mutex_unlock(&s->mu);
}

int fl_rpc_server_recv(fl_rpc_server *s, Flinc__Envelope **env, fl_rpc_from *from)
{
	*env = NULL;
	for (;;) {
		if (atomic_load(&s->stop)) return NNG_ECLOSED;
		nng_msg *m;
		int rc = nng_recvmsg(s->rep, &m, 0);
		if (rc) return rc;
		uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
		char derr[160];
		Flinc__Envelope *e = NULL;
		int drc = fl_rpc_decode(nng_msg_body(m), nng_msg_len(m), &e, derr, sizeof derr);
		nng_msg_free(m);

		pthread_mutex_lock(&s->mu);
		pconn *pc = conn_find(s, pipe);
		fl_rpc_conn st = { 0 };
		char addr[64] = "";
		bool known = pc != NULL;
		if (pc) {
			st = pc->c;
			memcpy(addr, pc->addr, sizeof addr);
		}
		pthread_mutex_unlock(&s->mu);
		const char *who = addr[0] ? addr : "an unknown address";

		if (drc != FLINC_OK) {
			/* Garbage: an authenticated peer hears why; anyone else only
			 * that it must authenticate. */
			if (st.state == FL_RPC_CONN_AUTHED) {
				fl_rpc_ack(s->rep, 0, derr);
			} else {
				fl_rpc_ack_auth(s->rep, "authenticate first: not a flinc Envelope");
				fl_log_limited(&s->lim, FL_LOG_WARN, s->component,
					       "%s: refused a message from %s on a connection that has not "
					       "authenticated: %s",
					       s->cfg.purpose, who, derr);
			}
			continue;
		}
		fl_rpc_auth_reply out;
		fl_rpc_step step = known ? fl_rpc_auth_step(&st, &s->cfg, e, &out)
					 : refuse(&out, "the connection is gone");
		if (known) {
			pthread_mutex_lock(&s->mu);
			pc = conn_find(s, pipe);
			if (pc) pc->c = st;
			pthread_mutex_unlock(&s->mu);
		}
		if (step == FL_RPC_PASS) {
			from->pipe = pipe;
			memcpy(from->addr, addr, sizeof from->addr);
			memcpy(from->bound_id, st.bound_id, sizeof from->bound_id);
			from->bound_gen = st.bound_gen;
			*env = e;
			return 0;
		}
		rc = fl_rpc_send(s->rep, &out.env);
		if (step == FL_RPC_REFUSE)
			fl_log_limited(&s->lim, FL_LOG_WARN, s->component, "%s: refused %s from %s: %s",
				       s->cfg.purpose, kind_name(e->body_case), who, out.why);
		else if (e->body_case == FLINC__ENVELOPE__BODY_AUTH_PROOF)
			fl_log(FL_LOG_DEBUG, s->component, "%s: connection from %s authenticated%s%s",
			       s->cfg.purpose, who, st.bound_id[0] ? " for " : "", st.bound_id);
		fl_rpc_free(e);
		if (rc == NNG_ECLOSED) return rc;
	}
}

/* ---- the client ------------------------------------------------------------------ */

void fl_rpc_binding_init(fl_rpc_binding *b)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_init(&b->mu, NULL);
}

void fl_rpc_binding_set(fl_rpc_binding *b, const char *id, const uint8_t *key, size_t keylen)
{
	pthread_mutex_lock(&b->mu);
	b->set = id && key && keylen == sizeof b->key;
	if (b->set) {
		snprintf(b->id, sizeof b->id, "%s", id);
		memcpy(b->key, key, sizeof b->key);
	}
	pthread_mutex_unlock(&b->mu);
}

void fl_rpc_binding_fini(fl_rpc_binding *b)
{
	fl_secret_wipe(b->key, sizeof b->key);
	pthread_mutex_destroy(&b->mu);
}

void fl_rpc_client_init(fl_rpc_client *c, nng_socket sock, const uint8_t *key, size_t keylen,
			const char *purpose, const char *peer, fl_rpc_binding *binding)
{
	c->sock = sock;
	c->key = key;
	c->keylen = keylen;
	c->purpose = purpose;
	c->peer = peer;
	c->binding = binding;
	atomic_init(&c->authed, 0);
}

void fl_rpc_client_pipe_gone(fl_rpc_client *c, nng_pipe p)
{
	uint32_t id = (uint32_t)nng_pipe_id(p);
	atomic_compare_exchange_strong(&c->authed, &id, 0);
}

/* Send bytes on the REQ socket. A send that times out found no connection
 * to send on: NNG_EUNREACHABLE. */
static int send_packed(nng_socket s, const void *buf, size_t len)
{
	nng_msg *m;
	int rc = nng_msg_alloc(&m, len);
	if (rc) return rc;
	memcpy(nng_msg_body(m), buf, len);
	rc = nng_sendmsg(s, m, 0);
	if (rc) nng_msg_free(m);
	return rc == NNG_ETIMEDOUT ? NNG_EUNREACHABLE : rc;
}

static int send_env(nng_socket s, const Flinc__Envelope *env)
{
	int rc = fl_rpc_send(s, env);
	return rc == NNG_ETIMEDOUT ? NNG_EUNREACHABLE : rc;
}

/* The reply and the pipe it came on. NNG_EPROTO: not an Envelope. */
static int recv_reply(nng_socket s, Flinc__Envelope **out, uint32_t *pipe)
{
	nng_msg *m;
	*out = NULL;
	int rc = nng_recvmsg(s, &m, 0);
	if (rc) return rc;
	*pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(m));
	*out = flinc__envelope__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	return *out ? 0 : NNG_EPROTO;
}

static bool is_auth_refusal(const Flinc__Envelope *r)
{
	return r->body_case == FLINC__ENVELOPE__BODY_ACK && r->ack && !r->ack->ok &&
		r->ack->code == FLINC__ACK_CODE__ACK_AUTH;
}

static const char *ack_error(const Flinc__Envelope *r)
{
	return r->body_case == FLINC__ENVELOPE__BODY_ACK && r->ack && r->ack->error && r->ack->error[0]
		? r->ack->error
		: "no reason given";
}

/* One line into err; returns rc. */
static int fail(int rc, char *err, size_t errcap, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(int rc, char *err, size_t errcap, const char *fmt, ...)
{
	if (!err || !errcap) return rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errcap, fmt, ap);
	va_end(ap);
	return rc;
}

/* One handshake: 0 (the pipe in *pipe), 1 (the connection changed half
 * way: try again), or an error. */
static int handshake(fl_rpc_client *c, uint32_t *pipe, char *err, size_t errcap)
{
	uint8_t nc[FL_AUTH_NONCE];
	if (fl_random_bytes(nc, sizeof nc) != FLINC_OK)
		return fail(NNG_EINTERNAL, err, errcap, "no random bytes for a nonce");
	Flinc__AuthHello hello = FLINC__AUTH_HELLO__INIT;
	hello.version = FL_RPC_VERSION;
	hello.purpose = (char *)c->purpose;
	hello.nonce.data = nc;
	hello.nonce.len = sizeof nc;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_AUTH_HELLO;
	env.auth_hello = &hello;
	Flinc__Envelope *r = NULL;
	uint32_t p1 = 0, p2 = 0;
	int rc = send_env(c->sock, &env);
	if (rc == 0) rc = recv_reply(c->sock, &r, &p1);
	if (rc) return fail(rc, err, errcap, "handshake with %s: %s", c->peer, nng_strerror(rc));
	if (r->body_case != FLINC__ENVELOPE__BODY_AUTH_CHALLENGE || !r->auth_challenge) {
		rc = fail(NNG_EPROTO, err, errcap,
			  is_auth_refusal(r) ? "%s refused the handshake: %s"
					     : "%s does not authenticate connections (an older flinc, or not "
					       "flinc?): %s",
			  c->peer, ack_error(r));
		fl_rpc_free(r);
		return rc;
	}
	const Flinc__AuthChallenge *ch = r->auth_challenge;
	if (ch->version != FL_RPC_VERSION || ch->nonce.len != FL_AUTH_NONCE) {
		rc = fail(NNG_EPROTO, err, errcap, "%s speaks RPC protocol version %u, this process %d",
			  c->peer, ch->version, FL_RPC_VERSION);
		fl_rpc_free(r);
		return rc;
	}
	uint8_t ns[FL_AUTH_NONCE], proof[FL_AUTH_PROOF], bproof[FL_AUTH_PROOF];
	memcpy(ns, ch->nonce.data, sizeof ns);
	fl_rpc_free(r);

	Flinc__AuthProof ap = FLINC__AUTH_PROOF__INIT;
	fl_auth_proof(c->key, c->keylen, FL_AUTH_ROLE_CLIENT, c->purpose, nc, ns, proof);
	ap.proof.data = proof;
	ap.proof.len = sizeof proof;
	char bind_id[FL_RPC_ID_MAX + 1] = "";
	if (c->binding) {
		pthread_mutex_lock(&c->binding->mu);
		if (c->binding->set) {
			snprintf(bind_id, sizeof bind_id, "%s", c->binding->id);
			fl_auth_proof(c->binding->key, sizeof c->binding->key, FL_AUTH_ROLE_BIND, c->purpose,
				      nc, ns, bproof);
			ap.bind_id = bind_id;
			ap.bind_proof.data = bproof;
			ap.bind_proof.len = sizeof bproof;
		}
		pthread_mutex_unlock(&c->binding->mu);
	}
	env.body_case = FLINC__ENVELOPE__BODY_AUTH_PROOF;
	env.auth_proof = &ap;
	rc = send_env(c->sock, &env);
	if (rc == 0) rc = recv_reply(c->sock, &r, &p2);
	if (rc) return fail(rc, err, errcap, "handshake with %s: %s", c->peer, nng_strerror(rc));
	if (is_auth_refusal(r) && p2 != p1) {
		fl_rpc_free(r); /* a reconnect between the two steps */
		return 1;
	}
	if (r->body_case != FLINC__ENVELOPE__BODY_AUTH_WELCOME || !r->auth_welcome) {
		rc = fail(is_auth_refusal(r) ? NNG_EPERM : NNG_EPROTO, err, errcap,
			  "%s refused our proof: %s", c->peer, ack_error(r));
		fl_rpc_free(r);
		return rc;
	}
	uint8_t want[FL_AUTH_PROOF];
	fl_auth_proof(c->key, c->keylen, FL_AUTH_ROLE_SERVER, c->purpose, nc, ns, want);
	bool ok = r->auth_welcome->proof.len == FL_AUTH_PROOF &&
		fl_ct_equal(want, r->auth_welcome->proof.data, FL_AUTH_PROOF);
	fl_rpc_free(r);
	if (!ok) {
		/* Whoever answers there does not know the secret: drop the
		 * connection, nothing is sent on it. */
		nng_pipe p = NNG_PIPE_INITIALIZER;
		p.id = p2;
		nng_pipe_close(p);
		return fail(
			NNG_EPERM, err, errcap,
			"%s could not prove security.cluster.secret (a different secret, or not a flinc daemon); "
			"connection closed",
			c->peer);
	}
	*pipe = p2;
	return 0;
}

int fl_rpc_client_auth(fl_rpc_client *c, char *err, size_t errcap)
{
	if (atomic_load(&c->authed)) return 0;
	for (int attempt = 0; attempt < 3; attempt++) {
		uint32_t p = 0;
		int rc = handshake(c, &p, err, errcap);
		if (rc == 0) {
			atomic_store(&c->authed, p);
			return 0;
		}
		if (rc != 1) return rc;
	}
	return fail(NNG_ECONNRESET, err, errcap, "handshake with %s: the connection kept changing", c->peer);
}

int fl_rpc_client_call_packed(fl_rpc_client *c, const void *req, size_t len, Flinc__Envelope **reply,
			      char *err, size_t errcap)
{
	*reply = NULL;
	if (err && errcap) err[0] = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc = fl_rpc_client_auth(c, err, errcap);
		if (rc) return rc;
		rc = send_packed(c->sock, req, len);
		Flinc__Envelope *r = NULL;
		uint32_t p = 0;
		if (rc == 0) rc = recv_reply(c->sock, &r, &p);
		if (rc) return rc;
		if (!is_auth_refusal(r)) {
			*reply = r;
			return 0;
		}
		/* The server does not count this connection as authenticated
		 * (a reconnect made a new one, or our binding changed): once
		 * more, from the handshake. */
		atomic_store(&c->authed, 0);
		fail(NNG_EPERM, err, errcap, "%s: %s", c->peer, ack_error(r));
		fl_rpc_free(r);
	}
	return NNG_EPERM;
}

int fl_rpc_client_call(fl_rpc_client *c, const Flinc__Envelope *req, Flinc__Envelope **reply, char *err,
		       size_t errcap)
{
	size_t n = flinc__envelope__get_packed_size(req);
	uint8_t stackbuf[512];
	uint8_t *buf = n <= sizeof stackbuf ? stackbuf : fl_malloc(n);
	flinc__envelope__pack(req, buf);
	int rc = fl_rpc_client_call_packed(c, buf, n, reply, err, errcap);
	if (buf != stackbuf) free(buf);
	return rc;
}
