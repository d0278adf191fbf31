/*
 * rpc.h - one protobuf Envelope per nng message, over REQ/REP sockets,
 * on connections that prove the cluster secret first.
 *
 *   framing      fl_rpc_send/recv/call/ack: pack and unpack Envelopes
 *   checks       fl_rpc_decode and fl_rpc_check_*_request (validate.c):
 *                bytes to an Envelope whose fields are sane for the socket
 *                it came to, without any socket (the fuzz target's door)
 *   the server   fl_rpc_server (auth.c): a REP socket that answers the
 *                handshake itself and hands over only requests that came
 *                on authenticated connections, with the connection they
 *                came on (its address, the task manager it is bound to)
 *   the client   fl_rpc_client (auth.c): a REQ socket that authenticates
 *                each new connection before its first request, and again
 *                when the server says it must
 *
 * The handshake (docs/security.md, "The cluster secret"), on every
 * connection, before anything else is honoured on it:
 *   1. client -> AuthHello{version 2, purpose, nc}; server -> AuthChallenge{ns}
 *   2. client -> AuthProof{P(client)}; the server checks it, then
 *      server -> AuthWelcome{P(server)}, which the client checks
 * with P(role) = fl_auth_proof(secret, role, purpose, nc, ns): both sides
 * prove the secret, it never crosses the wire, fresh nonces on both sides
 * make a replayed handshake fail, and the role in the proof makes a
 * reflected one fail. An empty secret (no security.cluster.secret) runs
 * the same handshake with an empty key: the daemons then listen on
 * loopback only, which is the protection.
 *
 * Threads: nng sockets are thread-safe, but a REQ socket carries one
 * request at a time here: callers serialize their calls on one socket
 * (or use one socket per thread). fl_rpc_server_recv is called by one
 * thread per server.
 */
#ifndef FL_RPC_H
#define FL_RPC_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fl_auth.h"
#include "fl_log.h"
#include "flinc.pb-c.h"

/* The protocol this build speaks: 2 authenticates every connection. */
#define FL_RPC_VERSION 2
#define FL_RPC_PURPOSE_RPC "rpc"         /* task manager -> job manager */
#define FL_RPC_PURPOSE_CONTROL "control" /* job manager -> task manager */
#define FL_RPC_ID_MAX 256                /* task manager ids */

/* ---- framing (rpc.c) ------------------------------------------------------ */

/* Pack and send. Returns 0 or an nng error (nng_strerror names it). */
int fl_rpc_send(nng_socket s, const Flinc__Envelope *env);
/* Receive and unpack; *out is freed with fl_rpc_free. NNG_EINVAL when the
 * bytes are not an Envelope. */
int fl_rpc_recv(nng_socket s, Flinc__Envelope **out);
void fl_rpc_free(Flinc__Envelope *env); /* NULL is a no-op */

/* Reply Ack{ok, error} on a REP socket. */
int fl_rpc_ack(nng_socket rep, int ok, const char *error);
/* Reply Ack{ok: false, code: ACK_AUTH, error}: the request was ignored;
 * the client must authenticate (again) on this connection. */
int fl_rpc_ack_auth(nng_socket rep, const char *error);

/* A data-plane channel id: stable for (job, attempt, edge, producer
 * subtask, consumer subtask) so both task managers compute the same. */
uint64_t fl_channel_id(const char *job_id, int attempt, unsigned edge, int producer, int consumer);

/* ---- checks (validate.c) ---------------------------------------------------- */

/* Bytes to an Envelope: FLINC_OK with *out (fl_rpc_free), or FLINC_EPROTO
 * with one line in err ("not a flinc Envelope"). No socket needed. */
int fl_rpc_decode(const void *buf, size_t len, Flinc__Envelope **out, char *err, size_t errcap);
/* Is env a request the job manager's RPC socket takes (Register,
 * Heartbeat, TaskStatus, AcknowledgeCheckpoint, BlobRequest, the
 * handshake), with the fields its handlers rely on present and in range
 * (ids printable and bounded, counts bounded)? FLINC_OK, or FLINC_EPROTO
 * with one line in err. */
int fl_rpc_check_jm_request(const Flinc__Envelope *env, char *err, size_t errcap);
/* The same for a task manager's control socket (DeployJob, CancelJob,
 * TriggerCheckpoint, NotifyCheckpointComplete, the handshake). */
int fl_rpc_check_tm_request(const Flinc__Envelope *env, char *err, size_t errcap);
/* Is s 1 to max printable ASCII characters without spaces? */
bool fl_rpc_printable(const char *s, size_t max);

/* ---- the handshake, server side, without sockets (auth.c) ------------------ */

/* A task manager's new connection proves it belongs to registration `id`:
 * return that registration's generation (> 0) when proof equals
 * fl_auth_proof(its session key, FL_AUTH_ROLE_BIND, purpose, nc, ns),
 * else 0. Called on the server's receiving thread, without its locks. */
typedef uint64_t (*fl_rpc_bind_fn)(void *ud, const char *id, const char *purpose, const uint8_t *nc,
				   const uint8_t *ns, const uint8_t *proof, size_t prooflen);

/* What a server authenticates with. key/keylen: the cluster secret (may
 * be empty); purpose: FL_RPC_PURPOSE_*; bind: NULL for sockets whose
 * connections speak for nobody (a task manager's control socket). */
typedef struct fl_rpc_authcfg {
	const uint8_t *key;
	size_t keylen;
	const char *purpose;
	fl_rpc_bind_fn bind;
	void *bind_ud;
} fl_rpc_authcfg;

enum { FL_RPC_CONN_NEW = 0, FL_RPC_CONN_CHALLENGED = 1, FL_RPC_CONN_AUTHED = 2 };

/* One connection's handshake state, server side. Zeroed = new. */
typedef struct fl_rpc_conn {
	int state; /* FL_RPC_CONN_* */
	uint8_t nc[FL_AUTH_NONCE], ns[FL_AUTH_NONCE];
	char bound_id[FL_RPC_ID_MAX + 1]; /* "" none */
	uint64_t bound_gen;
} fl_rpc_conn;

/* The answer fl_rpc_auth_step prepares: env points into this struct. */
typedef struct fl_rpc_auth_reply {
	Flinc__Envelope env;
	Flinc__Ack ack;
	Flinc__AuthChallenge challenge;
	Flinc__AuthWelcome welcome;
	uint8_t nonce[FL_AUTH_NONCE], proof[FL_AUTH_PROOF];
	char why[256]; /* ANSWER: "", REFUSE: the reason, for the log and the Ack */
} fl_rpc_auth_reply;

typedef enum fl_rpc_step {
	FL_RPC_PASS,   /* a request on an authenticated connection: the caller handles it */
	FL_RPC_ANSWER, /* a handshake message: send out->env */
	FL_RPC_REFUSE, /* not honoured (not authenticated, a failed proof, a bad hello): send out->env */
} fl_rpc_step;

/* One request through a connection's handshake state: answers the
 * handshake's messages (conn updated), lets requests of an authenticated
 * connection pass, refuses the rest with Ack{code: ACK_AUTH}. Pure but
 * for fl_random_bytes and cfg->bind; the fuzz target drives it. */
fl_rpc_step fl_rpc_auth_step(fl_rpc_conn *conn, const fl_rpc_authcfg *cfg, const Flinc__Envelope *req,
			     fl_rpc_auth_reply *out);

/* ---- the server (auth.c) ------------------------------------------------------ */

typedef struct fl_rpc_server fl_rpc_server;

/* Where a request came from. */
typedef struct fl_rpc_from {
	uint32_t pipe;                    /* the connection (nng pipe id) */
	char addr[64];                    /* its remote address, without the port ("" unknown) */
	char bound_id[FL_RPC_ID_MAX + 1]; /* the task manager it speaks for, "" none */
	uint64_t bound_gen;               /* and that registration's generation */
} fl_rpc_from;

/* Serve the handshake on REP socket rep (opened, not yet listening: pipe
 * notifications and a receive timeout of FL_RPC_SERVER_POLL_MS are
 * installed here). cfg's strings and key must outlive the server;
 * component names the log lines. FLINC_OK or FLINC_ENOMEM.
 *
 * Shutdown: fl_rpc_server_stop, join the thread in fl_rpc_server_recv (it
 * returns NNG_ECLOSED within FL_RPC_SERVER_POLL_MS), then nng_close the
 * socket and fl_rpc_server_destroy. The socket is never closed under a
 * thread waiting in it: nng 1.5.2 (Debian 12's) can hang or abort in
 * nng_close while another thread waits in a receive on the same socket
 * (nanomsg/nng issues 1543, 1813). */
#define FL_RPC_SERVER_POLL_MS 200
int fl_rpc_server_create(nng_socket rep, const fl_rpc_authcfg *cfg, const char *component,
			 fl_rpc_server **out);
/* The next request that may be honoured: the handshake is answered here,
 * a request on a connection that has not authenticated is refused
 * (Ack{code: ACK_AUTH}, one rate-limited log line) and one that is not an
 * Envelope too. 0 with *env (fl_rpc_free) and *from; the reply then goes
 * out with fl_rpc_send on the REP socket. Else an nng error (NNG_ECLOSED
 * once the socket closed or fl_rpc_server_stop was called; NNG_ETIMEDOUT
 * when nothing came for FL_RPC_SERVER_POLL_MS). One thread. */
int fl_rpc_server_recv(fl_rpc_server *s, Flinc__Envelope **env, fl_rpc_from *from);
/* Bind connection `pipe` to registration (id, gen): its later requests
 * carry them in fl_rpc_from. Any thread. */
void fl_rpc_server_bind(fl_rpc_server *s, uint32_t pipe, const char *id, uint64_t gen);
/* Make fl_rpc_server_recv return NNG_ECLOSED (at once, or at its next
 * receive timeout). Any thread. */
void fl_rpc_server_stop(fl_rpc_server *s);
/* After the socket closed (no callback runs any more). NULL is fine. */
void fl_rpc_server_destroy(fl_rpc_server *s);

/* ---- the client (auth.c) ------------------------------------------------------- */

/* What a task manager's connections to the job manager prove besides the
 * secret: its id and the session key of its registration. Shared by its
 * client sockets, set by the session thread. */
typedef struct fl_rpc_binding {
	pthread_mutex_t mu;
	bool set;
	char id[FL_RPC_ID_MAX + 1];
	uint8_t key[FL_AUTH_NONCE];
} fl_rpc_binding;

void fl_rpc_binding_init(fl_rpc_binding *b);
void fl_rpc_binding_set(fl_rpc_binding *b, const char *id, const uint8_t *key, size_t keylen);
void fl_rpc_binding_fini(fl_rpc_binding *b);

/* A REQ socket whose connections authenticate. The socket, key, purpose,
 * peer and binding stay the caller's and must outlive it. */
typedef struct fl_rpc_client {
	nng_socket sock;
	const uint8_t *key;
	size_t keylen;
	const char *purpose;
	const char *peer;        /* the URL dialed, for messages */
	fl_rpc_binding *binding; /* NULL: none */
	_Atomic uint32_t authed; /* the pipe the last handshake proved; 0 none */
} fl_rpc_client;

void fl_rpc_client_init(fl_rpc_client *c, nng_socket sock, const uint8_t *key, size_t keylen,
			const char *purpose, const char *peer, fl_rpc_binding *binding);
/* Authenticate the socket's connection now unless it is already. 0, or an
 * nng error with one line in err: NNG_ETIMEDOUT and the like (no
 * connection, no answer), NNG_EPERM (a proof failed: the server refused
 * ours, or could not give its own, which also closes that connection),
 * NNG_EPROTO (the server does not authenticate: an older flinc, or not
 * flinc). Thread: the socket's owner. */
int fl_rpc_client_auth(fl_rpc_client *c, char *err, size_t errcap);
/* One request (an Envelope, or one already packed) and its reply, on an
 * authenticated connection: authenticates first when the connection is
 * new, and once more when the server answers ACK_AUTH (a reconnect made a
 * new connection, or the binding changed). 0 with *reply (fl_rpc_free),
 * or an error as fl_rpc_client_auth's (NNG_EPERM also when the server
 * still refuses after that). Thread: the socket's owner. */
int fl_rpc_client_call(fl_rpc_client *c, const Flinc__Envelope *req, Flinc__Envelope **reply, char *err,
		       size_t errcap);
int fl_rpc_client_call_packed(fl_rpc_client *c, const void *req, size_t len, Flinc__Envelope **reply,
			      char *err, size_t errcap);
/* Connection p went away: forget that it authenticated. From a pipe
 * callback (NNG_PIPE_EV_REM_POST) of c's socket. */
void fl_rpc_client_pipe_gone(fl_rpc_client *c, nng_pipe p);

#endif
