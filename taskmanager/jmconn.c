/* jmconn.c - a REQ socket to the job manager's RPC address whose
 * connections authenticate (fl_rpc_client) and speak for this task
 * manager once it registered (tm->binding). */
#include "tm.h"

#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

/* A connection to the job manager went away: the next one authenticates
 * again. nng's thread. */
static void jm_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	(void)ev;
	fl_rpc_client_pipe_gone(arg, p);
}

int tm_jm_open(tm_jm *c, tm_server *tm, int32_t recv_ms, size_t max_bytes)
{
	c->open = false;
	c->why[0] = 0;
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
	fl_rpc_client_init(&c->cli, c->sock, tm->secret, tm->secret_len, FL_RPC_PURPOSE_RPC, tm->jm_url,
			   &tm->binding);
	nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, jm_pipe_cb, &c->cli);
	/* Non-blocking dial: nng keeps trying in the background, so a task
	 * manager may start before its job manager. */
	nng_dialer d;
	char err[256];
	rc = nng_dialer_create(&d, c->sock, tm->jm_url);
	if (rc == 0 && fl_tls_dialer(tm->tls, FL_TLS_RPC, d, err, sizeof err) != FLINC_OK) {
		fl_log(FL_LOG_ERROR, TM_LOG, "%s", err);
		rc = NNG_ECRYPTO;
	}
	if (rc == 0) rc = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
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
	c->why[0] = 0;
	if (!c->open) return NNG_ECLOSED;
	Flinc__Envelope *r;
	int rc = fl_rpc_client_call(&c->cli, req, &r, c->why, sizeof c->why);
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

const char *tm_jm_why(const tm_jm *c, int rc)
{
	if (c->why[0]) return c->why;
	if (rc == NNG_EUNREACHABLE) return "not reachable";
	if (rc == NNG_ETIMEDOUT) return "no answer";
	return nng_strerror(rc);
}

void tm_jm_close(tm_jm *c)
{
	if (c->open) nng_close(c->sock);
	c->open = false;
}
