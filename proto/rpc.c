/* rpc.c - Envelope framing over nng (rpc.h). */
#include "rpc.h"

#include <stdio.h>
#include <string.h>

#include "fl_base.h"

int fl_rpc_send(nng_socket s, const Flinc__Envelope *env)
{
	size_t n = flinc__envelope__get_packed_size(env);
	nng_msg *m;
	int rc = nng_msg_alloc(&m, n);
	if (rc) return rc;
	flinc__envelope__pack(env, nng_msg_body(m));
	rc = nng_sendmsg(s, m, 0);
	if (rc) nng_msg_free(m);
	return rc;
}

int fl_rpc_recv(nng_socket s, Flinc__Envelope **out)
{
	nng_msg *m;
	*out = NULL;
	int rc = nng_recvmsg(s, &m, 0);
	if (rc) return rc;
	*out = flinc__envelope__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	return *out ? 0 : NNG_EINVAL;
}

void fl_rpc_free(Flinc__Envelope *env)
{
	if (env) flinc__envelope__free_unpacked(env, NULL);
}

static int send_ack(nng_socket rep, int ok, Flinc__AckCode code, const char *error)
{
	Flinc__Ack ack = FLINC__ACK__INIT;
	ack.ok = ok;
	ack.error = (char *)(error ? error : "");
	ack.code = code;
	Flinc__Envelope env = FLINC__ENVELOPE__INIT;
	env.body_case = FLINC__ENVELOPE__BODY_ACK;
	env.ack = &ack;
	return fl_rpc_send(rep, &env);
}

int fl_rpc_ack(nng_socket rep, int ok, const char *error)
{
	return send_ack(rep, ok, FLINC__ACK_CODE__ACK_NONE, error);
}

int fl_rpc_ack_auth(nng_socket rep, const char *error)
{
	return send_ack(rep, 0, FLINC__ACK_CODE__ACK_AUTH, error);
}

uint64_t fl_channel_id(const char *job_id, int attempt, unsigned edge, int producer, int consumer)
{
	char buf[256];
	int n = snprintf(buf, sizeof buf, "%s/%d/%u/%d/%d", job_id, attempt, edge, producer, consumer);
	return fl_hash64(buf, (size_t)n, 0x63686e6c);
}
