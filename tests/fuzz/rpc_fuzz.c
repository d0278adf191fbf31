/*
 * rpc_fuzz.c - libFuzzer target for the control plane's decoders (issue
 * 15, acceptance 4): any bytes through the path a request takes on the job
 * manager's RPC socket and on a task manager's control socket, without
 * sockets or daemons:
 *
 *   fl_rpc_decode            bytes -> Envelope (protobuf-c)
 *   fl_rpc_auth_step         the handshake state machine of the connection
 *                            (new, challenged or authenticated, chosen by
 *                            the input), with a bind callback that checks
 *                            a session-key proof as the job manager does
 *   fl_rpc_check_*_request   the field checks every handler relies on
 *
 * The first byte picks the socket (even: the job manager's RPC, odd: a
 * task manager's control) and the connection's state; the rest is the
 * message. A second message may follow a 0xff 0xfe separator, run through
 * the same connection state, so the fuzzer reaches AuthProof after its
 * own AuthHello. Crashes it found are kept under tests/fuzz/corpus/rpc/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fl_base.h"
#include "rpc.h"

static const uint8_t g_secret[] = "fuzzing-cluster-secret-0123456789";
static const uint8_t g_session[FL_AUTH_NONCE] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* The job manager's bind check, against one known registration. */
static uint64_t fuzz_bind(void *ud, const char *id, const char *purpose, const uint8_t *nc, const uint8_t *ns,
			  const uint8_t *proof, size_t prooflen)
{
	(void)ud;
	if (strcmp(id, "127.0.0.1:1:tm") != 0 || prooflen != FL_AUTH_PROOF) return 0;
	uint8_t want[FL_AUTH_PROOF];
	fl_auth_proof(g_session, sizeof g_session, FL_AUTH_ROLE_BIND, purpose, nc, ns, want);
	return fl_ct_equal(want, proof, FL_AUTH_PROOF) ? 7 : 0;
}

/* One message through a connection: decode, handshake step, checks. */
static void one(fl_rpc_conn *conn, const fl_rpc_authcfg *cfg, bool jm, const uint8_t *data, size_t size)
{
	char err[256];
	Flinc__Envelope *env = NULL;
	if (fl_rpc_decode(data, size, &env, err, sizeof err) != FLINC_OK) return;
	fl_rpc_auth_reply out;
	fl_rpc_step step = fl_rpc_auth_step(conn, cfg, env, &out);
	if (step != FL_RPC_PASS) {
		/* The answer must pack (it goes on the wire). */
		size_t n = flinc__envelope__get_packed_size(&out.env);
		uint8_t buf[1024];
		if (n <= sizeof buf) flinc__envelope__pack(&out.env, buf);
	} else if (jm) {
		fl_rpc_check_jm_request(env, err, sizeof err);
	} else {
		fl_rpc_check_tm_request(env, err, sizeof err);
	}
	fl_rpc_free(env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	bool jm = (data[0] & 1) == 0;
	fl_rpc_authcfg cfg = { .key = g_secret,
			       .keylen = sizeof g_secret - 1,
			       .purpose = jm ? FL_RPC_PURPOSE_RPC : FL_RPC_PURPOSE_CONTROL,
			       .bind = jm ? fuzz_bind : NULL };
	fl_rpc_conn conn;
	memset(&conn, 0, sizeof conn);
	conn.state = (data[0] >> 1) % 3;
	memset(conn.nc, 0x11, sizeof conn.nc);
	memset(conn.ns, 0x22, sizeof conn.ns);
	data++;
	size--;
	/* Up to two messages, split at the first 0xff 0xfe. */
	size_t first = size;
	for (size_t i = 0; i + 1 < size; i++)
		if (data[i] == 0xff && data[i + 1] == 0xfe) {
			first = i;
			break;
		}
	one(&conn, &cfg, jm, data, first);
	if (first + 2 <= size) one(&conn, &cfg, jm, data + first + 2, size - first - 2);
	return 0;
}
