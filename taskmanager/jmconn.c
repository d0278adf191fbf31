/* jmconn.c - a REQ socket to the job manager's RPC address. */
#include "tm.h"

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

int tm_jm_open(tm_jm *c, const char *url, int32_t recv_ms, size_t max_bytes)
{
	c->open = false;
	int rc = nng_req0_open(&c->sock);
	if (rc) return rc;
	nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO, recv_ms);
	/* With no connection up, a send waits for one this long: the job
	 * manager is then unreachable. */
	nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO, 1000);
	nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, max_bytes);
	/* A restarted job manager is found again within a second. */
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 500);
	/* We retry ourselves; nng's own resend would duplicate a request that
	 * we already gave up on. */
	nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	/* Non-blocking dial: nng keeps trying in the background, so a task
	 * manager may start before its job manager. */
	rc = nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rc) {
		nng_close(c->sock);
		return rc;
	}
	c->open = true;
	return 0;
}

int tm_jm_call(tm_jm *c, const Flinc__Envelope *req, Flinc__Envelope__BodyCase want, Flinc__Envelope **reply)
{
	*reply = NULL;
	if (!c->open) return NNG_ECLOSED;
	Flinc__Envelope *r;
	int rc = fl_rpc_send(c->sock, req);
	if (rc == NNG_ETIMEDOUT) return NNG_EUNREACHABLE;
	if (rc) return rc;
	rc = fl_rpc_recv(c->sock, &r);
	if (rc) return rc;
	if (r->body_case != want) {
		/* An Ack in place of the expected reply carries the job
		 * manager's reason: hand it over. */
		if (r->body_case == FLINC__ENVELOPE__BODY_ACK && r->ack)
			*reply = r;
		else
			fl_rpc_free(r);
		return NNG_EPROTO;
	}
	*reply = r;
	return 0;
}

void tm_jm_close(tm_jm *c)
{
	if (c->open) nng_close(c->sock);
	c->open = false;
}
