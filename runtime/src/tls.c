/* tls.c - TLS on flinc's wires (fl_tls.h): the settings, the nng TLS
 * configurations made from them, flinc's nng TLS engine over mbed TLS,
 * and a blocking client on a socket for the CLI.
 *
 * Why an engine of our own: nng's stock engine (also mbed TLS) fails a
 * handshake without a word. A listener of an SP socket (the job
 * manager's RPC port, a task manager's control port) then never sees the
 * connection at all, so a task manager with a certificate from the wrong
 * CA would be refused in silence. This engine is the stock one's twin
 * (same versions, same defaults) plus one log line per failed handshake,
 * with the peer's address, the purpose of the port and why.
 */
#include "fl_tls.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/version.h> /* first: the others check its macros */

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <nng/supplemental/tls/engine.h>
#include <nng/supplemental/tls/tls.h>

#include <flinc/error.h>

#include "fl_auth.h"
#include "fl_base.h"
#include "fl_conf_keys.h"

#define LOG "tls"
#define PEM_MAX (1u << 20) /* a certificate chain or CA bundle larger than this is not one */

static const char *const purpose_names[FL_TLS_NPURPOSES] = { "rpc", "control", "data", "rest" };

const char *fl_tls_purpose_name(fl_tls_purpose p)
{
	return (unsigned)p < FL_TLS_NPURPOSES ? purpose_names[p] : "?";
}

/* ==== the engine ========================================================= */

/* The label (purpose and side) of the configuration nng_tls_config_alloc
 * is making on this thread: the engine's config_init is called inside that
 * call, and nng gives the engine no other way to name a configuration. */
static _Thread_local const char *g_making_label;

struct nng_tls_engine_config {
	mbedtls_ssl_config ssl;
	mbedtls_x509_crt ca;
	mbedtls_x509_crl crl;
	mbedtls_x509_crt own[2]; /* nng allows several own certificates (RSA and EC) */
	mbedtls_pk_context key[2];
	int nown;
	char *server_name;
	bool server;
	char label[24]; /* "rpc", "data", ...; "" for a configuration not made by fl_tls */
	fl_log_limit lim;
	/* The refusals logged lately, by peer host and reason: a peer that
	 * keeps retrying (a task manager with the wrong certificate redials
	 * every 100-500 ms) is one line a minute, not a flood that hides the
	 * next, different refusal. */
	pthread_mutex_t mu;
	struct recent {
		char host[64];
		uint64_t why;
		int64_t since_ms;
		unsigned repeats;
	} recent[16];
	unsigned next;
};

#define REPEAT_WINDOW_MS 60000

struct nng_tls_engine_conn {
	void *tls; /* nng's connection: the first member of nng's tls_conn is its nng_stream */
	nng_tls_engine_config *cfg;
	mbedtls_ssl_context ssl;
	uint64_t rx, tx;                /* bytes received from and handed to the transport */
	bool done;                      /* handshake complete */
	int failed;                     /* nng error of a failed handshake, reported once */
	char peer[64];                  /* the peer's address, taken at the start (a reset later hides it) */
	char local[64];                 /* ours (a server's port says which one refused) */
	char subject[160], issuer[160]; /* of the peer's certificate, seen while verifying */
};

static int engine_random(void *arg, unsigned char *buf, size_t n)
{
	(void)arg;
	return fl_random_bytes(buf, n) == FLINC_OK ? 0 : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

static int net_send(void *tls, const unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_send(tls, buf, &n);
	if (rv == 0) return (int)n;
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int net_recv(void *tls, unsigned char *buf, size_t len)
{
	size_t n = len;
	int rv = nng_tls_engine_recv(tls, buf, &n);
	if (rv == 0) return (int)n;
	return rv == NNG_EAGAIN ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Byte-counting wrappers: a connection closed before the peer sent any
 * byte is a port probe, not a failed handshake. */
static int conn_net_send(void *arg, const unsigned char *buf, size_t len)
{
	nng_tls_engine_conn *ec = arg;
	int n = net_send(ec->tls, buf, len);
	if (n > 0) ec->tx += (uint64_t)n;
	return n;
}

static int conn_net_recv(void *arg, unsigned char *buf, size_t len)
{
	nng_tls_engine_conn *ec = arg;
	int n = net_recv(ec->tls, buf, len);
	if (n > 0) ec->rx += (uint64_t)n;
	return n;
}

static int mk_err(int rv)
{
	switch (rv) {
	case MBEDTLS_ERR_SSL_WANT_READ:
	case MBEDTLS_ERR_SSL_WANT_WRITE: return NNG_EAGAIN;
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
	case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
	case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: return NNG_EPEERAUTH;
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY: return NNG_ECONNREFUSED;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED: return NNG_ENOMEM;
	case MBEDTLS_ERR_SSL_TIMEOUT: return NNG_ETIMEDOUT;
	case MBEDTLS_ERR_SSL_CONN_EOF: return NNG_ECLOSED;
	default: return NNG_ECRYPTO;
	}
}

/* "10.0.0.7:50110" of a socket address; "" when unknown. */
static void fmt_sockaddr(const nng_sockaddr *sa, char *buf, size_t cap)
{
	buf[0] = 0;
	if (sa->s_family == NNG_AF_INET) {
		const uint8_t *a = (const uint8_t *)&sa->s_in.sa_addr;
		const uint8_t *p = (const uint8_t *)&sa->s_in.sa_port;
		snprintf(buf, cap, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3], (unsigned)(p[0] << 8 | p[1]));
	} else if (sa->s_family == NNG_AF_INET6) {
		const uint8_t *a = sa->s_in6.sa_addr;
		const uint8_t *p = (const uint8_t *)&sa->s_in6.sa_port;
		size_t n = (size_t)snprintf(buf, cap, "[");
		for (int i = 0; i < 16 && n < cap; i += 2)
			n += (size_t)snprintf(buf + n, cap - n, "%s%x", i ? ":" : "",
					      (unsigned)(a[i] << 8 | a[i + 1]));
		if (n < cap) snprintf(buf + n, cap - n, "]:%u", (unsigned)(p[0] << 8 | p[1]));
	}
}

/* The peer's address of nng's connection. nng's TLS connection (tls_conn
 * in tls_common.c, every nng 1.x) starts with its nng_stream, and the
 * pointer the engine gets is that connection: asking the stream for
 * NNG_OPT_REMADDR goes to the TCP connection under it without taking the
 * TLS connection's lock (which the caller holds). */
static void conn_peer(const nng_tls_engine_conn *ec, const char *opt, char *buf, size_t cap)
{
	buf[0] = 0;
#if NNG_MAJOR_VERSION == 1
	nng_sockaddr sa;
	if (nng_stream_get_addr((nng_stream *)ec->tls, opt, &sa) == 0) fmt_sockaddr(&sa, buf, cap);
#else
	(void)ec;
	(void)opt;
#endif
	if (!buf[0]) snprintf(buf, cap, "an unknown address");
}

static const char *alert_name(int a)
{
	switch (a) {
	case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE: return "handshake failure";
	case MBEDTLS_SSL_ALERT_MSG_BAD_CERT: return "bad certificate";
	case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT: return "unsupported certificate";
	case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED: return "certificate revoked";
	case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED: return "certificate expired";
	case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN: return "certificate unknown";
	case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA: return "unknown CA";
	case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED: return "access denied";
	case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION: return "protocol version";
	case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY: return "insufficient security";
	case 116: return "certificate required";
	default: return NULL;
	}
}

/* Why the handshake of ec failed with mbed TLS error rv, in words for a
 * log line ("its certificate ... is not signed by a CA in ..."). */
static void explain(nng_tls_engine_conn *ec, int rv, char *buf, size_t cap)
{
	const char *subj = ec->subject, *issuer = ec->issuer;
	const char *store = ec->cfg->server && !strcmp(ec->cfg->label, "rest")
		? "security.ssl.rest.truststore"
		: "security.ssl.truststore";
	uint32_t flags = mbedtls_ssl_get_verify_result(&ec->ssl);
	if (rv == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
		snprintf(buf, cap,
			 "it presented no certificate (TLS here authenticates both sides: it needs "
			 "security.ssl.certificate and security.ssl.key signed by a CA in %s)",
			 store);
		return;
	}
	if (rv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != 0 && flags != (uint32_t)-1) {
		char what[120];
		if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
			snprintf(what, sizeof what, "is not signed by a CA in %s", store);
		else if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
			snprintf(what, sizeof what, "has expired");
		else if (flags & MBEDTLS_X509_BADCERT_FUTURE)
			snprintf(what, sizeof what, "is not valid yet");
		else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
			snprintf(what, sizeof what, "is not for the name dialed (%s)",
				 ec->cfg->server_name ? ec->cfg->server_name : "?");
		else {
			char info[200];
			int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
			for (int i = 0; i < n; i++)
				if (info[i] == '\n') info[i] = i == n - 1 ? 0 : ';';
			snprintf(what, sizeof what, "was refused: %.100s", info);
		}
		/* Cut short when long: the names are the peer's. */
		if (snprintf(buf, cap, "%s certificate (%s%s%s) %s", ec->cfg->server ? "its" : "the server's",
			     subj[0] ? subj : "no subject", issuer[0] ? ", issued by " : "", issuer,
			     what) < 0)
			buf[0] = 0;
		return;
	}
	if (rv == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		int a = -1;
#if MBEDTLS_VERSION_MAJOR < 3
		if (ec->ssl.in_msg) a = ec->ssl.in_msg[1];
#endif
		const char *an = alert_name(a);
		char alert[64];
		if (an)
			snprintf(alert, sizeof alert, "TLS alert '%s'", an);
		else
			snprintf(alert, sizeof alert, "TLS alert %d", a);
		if (a == MBEDTLS_SSL_ALERT_MSG_BAD_CERT || a == MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA ||
		    a == MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN || a == MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED ||
		    a == MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT || a == MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED ||
		    a == 116)
			snprintf(buf, cap,
				 "the peer refused our certificate (%s): security.ssl.certificate must be "
				 "signed by a CA the peer trusts",
				 alert);
		else
			snprintf(buf, cap, "the peer ended the handshake (%s)", alert);
		return;
	}
	switch (rv) {
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
	case MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
	case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
		snprintf(buf, cap,
			 "it does not speak TLS (plain text? security.ssl.%senabled must be on at both ends)",
			 !strcmp(ec->cfg->label, "rest") ? "rest." : "");
		return;
	case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
	case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
		snprintf(buf, cap, "no TLS version or cipher suite in common (flinc speaks TLS 1.2)");
		return;
	default: {
		char m[160];
		mbedtls_strerror(rv, m, sizeof m);
		snprintf(buf, cap, "TLS handshake failed: %s (-0x%04x)", m, (unsigned)-rv);
	}
	}
}

/* Should the refusal of `host` for `why` be logged? Not when the same
 * was logged less than REPEAT_WINDOW_MS ago (counted instead); *repeats
 * gets how many were left out since the last line for it. */
static bool first_in_window(nng_tls_engine_config *cfg, const char *host, const char *why, unsigned *repeats)
{
	uint64_t h = fl_hash64(why, strlen(why), 0);
	int64_t now = fl_now_ms();
	*repeats = 0;
	pthread_mutex_lock(&cfg->mu);
	struct recent *slot = NULL;
	for (size_t i = 0; i < FL_ARRAY_LEN(cfg->recent); i++)
		if (cfg->recent[i].why == h && !strcmp(cfg->recent[i].host, host)) slot = &cfg->recent[i];
	bool log = true;
	if (slot && now - slot->since_ms < REPEAT_WINDOW_MS) {
		slot->repeats++;
		log = false;
	} else {
		if (!slot)
			slot = &cfg->recent[cfg->next++ % FL_ARRAY_LEN(cfg->recent)];
		else
			*repeats = slot->repeats;
		snprintf(slot->host, sizeof slot->host, "%s", host);
		slot->why = h;
		slot->since_ms = now;
		slot->repeats = 0;
	}
	pthread_mutex_unlock(&cfg->mu);
	return log;
}

/* One line for a failed handshake: once a minute per peer host and
 * reason, and at most 20 lines per 10 s per configuration. */
static void log_failure(nng_tls_engine_conn *ec, const char *why)
{
	const char *label = ec->cfg->label[0] ? ec->cfg->label : "TLS";
	char host[sizeof ec->peer];
	memcpy(host, ec->peer, sizeof host);
	char *colon = strrchr(host, ':'); /* drop the port: a redial comes from another one */
	if (colon) *colon = 0;
	unsigned repeats;
	if (!first_in_window(ec->cfg, host, why, &repeats)) return;
	char more[sizeof host + 48] = "";
	if (repeats) snprintf(more, sizeof more, " (%u more times from %s before this)", repeats, host);
	if (ec->cfg->server)
		fl_log_limited(&ec->cfg->lim, FL_LOG_WARN, LOG,
			       "refused a %s connection from %s (to %s): %s%s", label, ec->peer, ec->local,
			       why, more);
	else
		fl_log_limited(&ec->cfg->lim, FL_LOG_WARN, LOG, "%s connection to %s failed: %s%s", label,
			       ec->peer, why, more);
}

static void conn_fini(nng_tls_engine_conn *ec) { mbedtls_ssl_free(&ec->ssl); }

/* Called by mbed TLS for each certificate of the peer's chain: keep the
 * names of the peer's own (depth 0) for the log line of a refusal (mbed
 * TLS drops the certificate when it fails). The verdict is mbed TLS's. */
static int conn_verify(void *arg, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	nng_tls_engine_conn *ec = arg;
	(void)flags;
	if (depth == 0) {
		if (mbedtls_x509_dn_gets(ec->subject, sizeof ec->subject, &crt->subject) < 0)
			ec->subject[0] = 0;
		if (mbedtls_x509_dn_gets(ec->issuer, sizeof ec->issuer, &crt->issuer) < 0) ec->issuer[0] = 0;
	}
	return 0;
}

static int conn_init(nng_tls_engine_conn *ec, void *tls, nng_tls_engine_config *cfg)
{
	ec->tls = tls;
	ec->cfg = cfg;
	conn_peer(ec, NNG_OPT_REMADDR, ec->peer, sizeof ec->peer);
	if (cfg->server) conn_peer(ec, NNG_OPT_LOCADDR, ec->local, sizeof ec->local);
	mbedtls_ssl_init(&ec->ssl);
	mbedtls_ssl_set_bio(&ec->ssl, ec, conn_net_send, conn_net_recv, NULL);
	int rv = mbedtls_ssl_setup(&ec->ssl, &cfg->ssl);
	if (rv != 0) return mk_err(rv);
	mbedtls_ssl_set_verify(&ec->ssl, conn_verify, ec);
	if (cfg->server_name) mbedtls_ssl_set_hostname(&ec->ssl, cfg->server_name);
	return 0;
}

static void conn_close(nng_tls_engine_conn *ec)
{
	/* A client whose handshake got no byte back before the connection
	 * closed dialed something that is not a TLS server of ours (nng's
	 * plain tcp transport closes on our ClientHello): say so once. */
	if (!ec->done && !ec->failed && !ec->cfg->server && ec->tx > 0 && ec->rx == 0) {
		ec->failed = NNG_ECLOSED;
		log_failure(ec,
			    "the peer closed the connection without answering the TLS handshake (does it "
			    "speak TLS? security.ssl.enabled must be on at both ends)");
	}
	(void)mbedtls_ssl_close_notify(&ec->ssl);
}

static int conn_recv(nng_tls_engine_conn *ec, uint8_t *buf, size_t *szp)
{
	int rv = mbedtls_ssl_read(&ec->ssl, buf, *szp);
	if (rv < 0) return mk_err(rv);
	*szp = (size_t)rv;
	return 0;
}

static int conn_send(nng_tls_engine_conn *ec, const uint8_t *buf, size_t *szp)
{
	int rv = mbedtls_ssl_write(&ec->ssl, buf, *szp);
	if (rv < 0) return mk_err(rv);
	*szp = (size_t)rv;
	return 0;
}

static int conn_handshake(nng_tls_engine_conn *ec)
{
	if (ec->failed) return ec->failed;
	int rv = mbedtls_ssl_handshake(&ec->ssl);
	if (rv == 0) {
		ec->done = true;
		return 0;
	}
	if (rv == MBEDTLS_ERR_SSL_WANT_READ || rv == MBEDTLS_ERR_SSL_WANT_WRITE) return NNG_EAGAIN;
	ec->failed = mk_err(rv);
	/* The transport failing under us (the peer closed) before any byte
	 * came: a probe of the port, not worth a line on a server. */
	bool transport = rv == MBEDTLS_ERR_NET_RECV_FAILED || rv == MBEDTLS_ERR_NET_SEND_FAILED ||
		rv == MBEDTLS_ERR_SSL_CONN_EOF;
	if (transport && ec->rx == 0 && ec->cfg->server) return ec->failed;
	char why[400];
	if (transport)
		snprintf(why, sizeof why, "the peer closed the connection during the TLS handshake%s",
			 ec->rx == 0 ? " (does it speak TLS? security.ssl.enabled must be on at both ends)"
				     : "");
	else
		explain(ec, rv, why, sizeof why);
	log_failure(ec, why);
	return ec->failed;
}

static bool conn_verified(nng_tls_engine_conn *ec) { return mbedtls_ssl_get_verify_result(&ec->ssl) == 0; }

static void config_fini(nng_tls_engine_config *cfg)
{
	mbedtls_ssl_config_free(&cfg->ssl);
	mbedtls_x509_crt_free(&cfg->ca);
	mbedtls_x509_crl_free(&cfg->crl);
	for (int i = 0; i < cfg->nown; i++) {
		mbedtls_x509_crt_free(&cfg->own[i]);
		mbedtls_pk_free(&cfg->key[i]);
	}
	free(cfg->server_name);
	pthread_mutex_destroy(&cfg->mu);
}

static int config_init(nng_tls_engine_config *cfg, nng_tls_mode mode)
{
	cfg->server = mode == NNG_TLS_MODE_SERVER;
	snprintf(cfg->label, sizeof cfg->label, "%s", g_making_label ? g_making_label : "");
	cfg->lim = (fl_log_limit)FL_LOG_LIMIT_INIT(20, 10000);
	pthread_mutex_init(&cfg->mu, NULL);
	mbedtls_ssl_config_init(&cfg->ssl);
	mbedtls_x509_crt_init(&cfg->ca);
	mbedtls_x509_crl_init(&cfg->crl);
	int rv = mbedtls_ssl_config_defaults(&cfg->ssl,
					     cfg->server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
					     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (rv != 0) {
		config_fini(cfg);
		return NNG_ECRYPTO;
	}
	/* nng's defaults: clients verify, servers do not unless told. */
	mbedtls_ssl_conf_authmode(&cfg->ssl,
				  cfg->server ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_min_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_rng(&cfg->ssl, engine_random, NULL);
	return 0;
}

static int config_server_name(nng_tls_engine_config *cfg, const char *name)
{
	char *dup = strdup(name);
	if (!dup) return NNG_ENOMEM;
	free(cfg->server_name);
	cfg->server_name = dup;
	return 0;
}

static int config_auth_mode(nng_tls_engine_config *cfg, nng_tls_auth_mode mode)
{
	switch (mode) {
	case NNG_TLS_AUTH_MODE_NONE: mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_NONE); return 0;
	case NNG_TLS_AUTH_MODE_OPTIONAL:
		mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_OPTIONAL);
		return 0;
	case NNG_TLS_AUTH_MODE_REQUIRED:
		mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
		return 0;
	}
	return NNG_EINVAL;
}

static int config_ca_chain(nng_tls_engine_config *cfg, const char *certs, const char *crl)
{
	if (mbedtls_x509_crt_parse(&cfg->ca, (const unsigned char *)certs, strlen(certs) + 1) != 0)
		return NNG_ECRYPTO;
	if (crl && mbedtls_x509_crl_parse(&cfg->crl, (const unsigned char *)crl, strlen(crl) + 1) != 0)
		return NNG_ECRYPTO;
	mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->ca, crl ? &cfg->crl : NULL);
	return 0;
}

static int config_own_cert(nng_tls_engine_config *cfg, const char *cert, const char *key, const char *pass)
{
	if (cfg->nown >= 2) return NNG_ENOSPC;
	int i = cfg->nown;
	mbedtls_x509_crt_init(&cfg->own[i]);
	mbedtls_pk_init(&cfg->key[i]);
	int rv = mbedtls_x509_crt_parse(&cfg->own[i], (const unsigned char *)cert, strlen(cert) + 1);
#if MBEDTLS_VERSION_MAJOR < 3
	if (rv == 0)
		rv = mbedtls_pk_parse_key(&cfg->key[i], (const unsigned char *)key, strlen(key) + 1,
					  (const unsigned char *)pass, pass ? strlen(pass) : 0);
#else
	if (rv == 0)
		rv = mbedtls_pk_parse_key(&cfg->key[i], (const unsigned char *)key, strlen(key) + 1,
					  (const unsigned char *)pass, pass ? strlen(pass) : 0, engine_random,
					  NULL);
#endif
	if (rv == 0) rv = mbedtls_ssl_conf_own_cert(&cfg->ssl, &cfg->own[i], &cfg->key[i]);
	if (rv != 0) {
		mbedtls_x509_crt_free(&cfg->own[i]);
		mbedtls_pk_free(&cfg->key[i]);
		return NNG_ECRYPTO;
	}
	cfg->nown++;
	return 0;
}

static int config_version(nng_tls_engine_config *cfg, nng_tls_version lo, nng_tls_version hi)
{
	/* TLS 1.2 only, as nng's own engine on this mbed TLS. */
	if (lo > hi || hi < NNG_TLS_1_2 || lo > NNG_TLS_1_3) return NNG_ENOTSUP;
	(void)cfg;
	return 0;
}

static nng_tls_engine_config_ops g_config_ops = {
	.size = sizeof(nng_tls_engine_config),
	.init = config_init,
	.fini = config_fini,
	.server = config_server_name,
	.auth = config_auth_mode,
	.ca_chain = config_ca_chain,
	.own_cert = config_own_cert,
	.version = config_version,
};

static nng_tls_engine_conn_ops g_conn_ops = {
	.size = sizeof(nng_tls_engine_conn),
	.init = conn_init,
	.fini = conn_fini,
	.close = conn_close,
	.handshake = conn_handshake,
	.recv = conn_recv,
	.send = conn_send,
	.verified = conn_verified,
};

static const nng_tls_engine g_engine = {
	.version = NNG_TLS_ENGINE_VERSION,
	.config_ops = &g_config_ops,
	.conn_ops = &g_conn_ops,
	.name = "flinc-mbedtls",
	.description = "flinc's engine over " MBEDTLS_VERSION_STRING_FULL,
	.fips_mode = false,
};

static pthread_once_t g_engine_once = PTHREAD_ONCE_INIT;
static int g_engine_rc = -1;

static void engine_register(void)
{
	/* nng registers its own engine when it initializes (on its first
	 * call); asking for the engine's name makes that happen first, so
	 * ours replaces it rather than the other way round. */
	(void)nng_tls_engine_name();
	g_engine_rc = nng_tls_engine_register(&g_engine);
	if (g_engine_rc == 0 && strcmp(nng_tls_engine_name(), g_engine.name) != 0) g_engine_rc = NNG_ENOTSUP;
}

/* ==== settings =========================================================== */

/* The PEM texts of one side (internal or REST). */
typedef struct tls_side {
	char *cert, *key, *ca; /* NUL-terminated; NULL when not configured */
	char *cert_path, *key_path, *ca_path;
	const char *cert_key, *key_key, *ca_key; /* the configuration keys they came from */
} tls_side;

struct fl_tls {
	bool internal, rest, rest_auth, verify_host;
	char *pass; /* security.ssl.key-password; NULL: keys are not encrypted */
	tls_side in, re;
	pthread_mutex_t mu;
	nng_tls_config *cfg[FL_TLS_NPURPOSES][2]; /* [purpose][0 client, 1 server], made on first use */
};

/* Read the whole file at path (at most PEM_MAX bytes) as a string. */
static int read_pem(const char *key, const char *path, char **out, char *err, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: cannot read %s: %s", key, path,
			       strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > (off_t)PEM_MAX) {
		fclose(f);
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: %s is not a regular file of at most 1 MB",
			       key, path);
	}
	char *buf = fl_malloc((size_t)st.st_size + 1);
	size_t n = fread(buf, 1, (size_t)st.st_size, f);
	fclose(f);
	buf[n] = 0;
	if (!strstr(buf, "-----BEGIN ")) {
		free(buf);
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s: %s is not PEM (no -----BEGIN line)", key,
			       path);
	}
	*out = buf;
	return FLINC_OK;
}

static void mbed_msg(int rv, char *buf, size_t cap)
{
	mbedtls_strerror(rv, buf, cap);
	if (!buf[0]) snprintf(buf, cap, "-0x%04x", (unsigned)-rv);
}

/* Load and check one side's files: each parses, the key matches the
 * certificate; a certificate the side's own CAs do not trust, or that
 * expired, is a warning (its peers will say why they refuse it). */
static int load_side(fl_tls *t, const fl_conf *c, tls_side *s, bool need_cert, const char *what, char *err,
		     size_t errcap)
{
	const char *cp = fl_conf_get(c, s->cert_key), *kp = fl_conf_get(c, s->key_key),
		   *ap = fl_conf_get(c, s->ca_key);
	if (cp && !*cp) cp = NULL;
	if (kp && !*kp) kp = NULL;
	if (ap && !*ap) ap = NULL;
	if (!ap)
		return fl_errf(err, errcap, FLINC_ECONFIG,
			       "%s is on but %s is not set (the PEM file of the CA certificates to trust)",
			       what, s->ca_key);
	if (need_cert && (!cp || !kp))
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s is on but %s is not set (this side's PEM %s)",
			       what, !cp ? s->cert_key : s->key_key, !cp ? "certificate" : "private key");
	if (!!cp != !!kp)
		return fl_errf(err, errcap, FLINC_ECONFIG, "%s and %s go together: set both or neither",
			       s->cert_key, s->key_key);
	int rc = read_pem(s->ca_key, ap, &s->ca, err, errcap);
	if (rc == FLINC_OK && cp) rc = read_pem(s->cert_key, cp, &s->cert, err, errcap);
	if (rc == FLINC_OK && kp) rc = read_pem(s->key_key, kp, &s->key, err, errcap);
	if (rc != FLINC_OK) return rc;
	s->ca_path = fl_strdup(ap);
	s->cert_path = cp ? fl_strdup(cp) : NULL;
	s->key_path = kp ? fl_strdup(kp) : NULL;

	char m[200];
	mbedtls_x509_crt ca, own;
	mbedtls_pk_context pk;
	mbedtls_x509_crt_init(&ca);
	mbedtls_x509_crt_init(&own);
	mbedtls_pk_init(&pk);
	int rv = mbedtls_x509_crt_parse(&ca, (const unsigned char *)s->ca, strlen(s->ca) + 1);
	if (rv != 0) {
		mbed_msg(rv, m, sizeof m);
		rc = fl_errf(err, errcap, FLINC_ECONFIG, "%s: %s holds no valid certificate: %s", s->ca_key,
			     ap, m);
		goto out;
	}
	if (s->cert) {
		rv = mbedtls_x509_crt_parse(&own, (const unsigned char *)s->cert, strlen(s->cert) + 1);
		if (rv != 0) {
			mbed_msg(rv, m, sizeof m);
			rc = fl_errf(err, errcap, FLINC_ECONFIG, "%s: %s is not a valid certificate: %s",
				     s->cert_key, cp, m);
			goto out;
		}
#if MBEDTLS_VERSION_MAJOR < 3
		rv = mbedtls_pk_parse_key(&pk, (const unsigned char *)s->key, strlen(s->key) + 1,
					  (const unsigned char *)t->pass, t->pass ? strlen(t->pass) : 0);
#else
		rv = mbedtls_pk_parse_key(&pk, (const unsigned char *)s->key, strlen(s->key) + 1,
					  (const unsigned char *)t->pass, t->pass ? strlen(t->pass) : 0,
					  engine_random, NULL);
#endif
		if (rv != 0) {
			mbed_msg(rv, m, sizeof m);
			rc = fl_errf(err, errcap, FLINC_ECONFIG, "%s: %s is not a private key%s: %s",
				     s->key_key, kp,
				     t->pass ? "" : " (an encrypted one needs security.ssl.key-password)", m);
			goto out;
		}
#if MBEDTLS_VERSION_MAJOR < 3
		rv = mbedtls_pk_check_pair(&own.pk, &pk);
#else
		rv = mbedtls_pk_check_pair(&own.pk, &pk, engine_random, NULL);
#endif
		if (rv != 0) {
			rc = fl_errf(err, errcap, FLINC_ECONFIG,
				     "%s: the key in %s is not the key of the certificate %s", s->key_key, kp,
				     cp);
			goto out;
		}
		uint32_t flags = 0;
		char subj[160] = "";
		if (mbedtls_x509_dn_gets(subj, sizeof subj, &own.subject) < 0) subj[0] = 0;
		if (mbedtls_x509_crt_verify(&own, &ca, NULL, NULL, &flags, NULL, NULL) != 0) {
			char info[200] = "";
			int n = mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
			for (int i = 0; i < n; i++)
				if (info[i] == '\n') info[i] = i == n - 1 ? 0 : ';';
			fl_log(FL_LOG_WARN, LOG,
			       "%s: the certificate %s (%s) does not pass the checks of %s (%s): peers that trust "
			       "only those CAs will refuse it",
			       s->cert_key, cp, subj, s->ca_key, info);
		}
	}
	rc = FLINC_OK;
out:
	mbedtls_x509_crt_free(&ca);
	mbedtls_x509_crt_free(&own);
	mbedtls_pk_free(&pk);
	return rc;
}

static bool conf_bool(const fl_conf *c, const char *key, bool def)
{
	int b = fl_conf_parse_bool(fl_conf_get(c, key));
	return b < 0 ? def : b == 1;
}

int fl_tls_create(const fl_conf *c, unsigned flags, fl_tls **out, char *err, size_t errcap)
{
	*out = NULL;
	static const char *const bools[] = { "security.ssl.enabled", "security.ssl.rest.enabled",
					     "security.ssl.rest.authentication-enabled",
					     "security.ssl.verify-hostname" };
	for (size_t i = 0; i < FL_ARRAY_LEN(bools); i++) {
		const char *v = fl_conf_get(c, bools[i]);
		if (v && fl_conf_parse_bool(v) < 0)
			return fl_errf(err, errcap, FLINC_ECONFIG, "%s: '%.100s' is not true or false",
				       bools[i], v);
	}
	bool internal = !(flags & FL_TLS_REST_CLIENT) && conf_bool(c, "security.ssl.enabled", false);
	bool rest = conf_bool(c, "security.ssl.rest.enabled", false);
	if (!internal && !rest) return FLINC_OK;

	pthread_once(&g_engine_once, engine_register);
	if (g_engine_rc != 0)
		return fl_errf(err, errcap, FLINC_EIO, "cannot register flinc's TLS engine with nng (%s): %s",
			       nng_tls_engine_name(), nng_strerror(g_engine_rc ? g_engine_rc : NNG_ENOTSUP));

	fl_tls *t = fl_calloc(1, sizeof *t);
	pthread_mutex_init(&t->mu, NULL);
	t->internal = internal;
	t->rest = rest;
	t->rest_auth = conf_bool(c, "security.ssl.rest.authentication-enabled", false);
	t->verify_host = conf_bool(c, "security.ssl.verify-hostname", true);
	const char *pw = fl_conf_get(c, "security.ssl.key-password");
	if (pw && *pw) t->pass = fl_strdup(pw);
	t->in = (tls_side){ .cert_key = "security.ssl.certificate",
			    .key_key = "security.ssl.key",
			    .ca_key = "security.ssl.truststore" };
	/* REST falls back to the internal files, key by key. */
	t->re.cert_key = fl_conf_get(c, "security.ssl.rest.certificate") ? "security.ssl.rest.certificate"
									 : "security.ssl.certificate";
	t->re.key_key =
		fl_conf_get(c, "security.ssl.rest.key") ? "security.ssl.rest.key" : "security.ssl.key";
	t->re.ca_key = fl_conf_get(c, "security.ssl.rest.truststore") ? "security.ssl.rest.truststore"
								      : "security.ssl.truststore";
	int rc = FLINC_OK;
	if (internal) rc = load_side(t, c, &t->in, true, "security.ssl.enabled", err, errcap);
	if (rc == FLINC_OK && rest)
		rc = load_side(t, c, &t->re, !(flags & FL_TLS_REST_CLIENT) || t->rest_auth,
			       "security.ssl.rest.enabled", err, errcap);
	if (rc != FLINC_OK) {
		fl_tls_destroy(t);
		return rc;
	}
	*out = t;
	return FLINC_OK;
}

static void side_free(tls_side *s)
{
	free(s->cert);
	free(s->key);
	free(s->ca);
	free(s->cert_path);
	free(s->key_path);
	free(s->ca_path);
}

void fl_tls_destroy(fl_tls *t)
{
	if (!t) return;
	for (int p = 0; p < FL_TLS_NPURPOSES; p++)
		for (int s = 0; s < 2; s++)
			if (t->cfg[p][s]) nng_tls_config_free(t->cfg[p][s]);
	side_free(&t->in);
	side_free(&t->re);
	if (t->pass) fl_secret_wipe(t->pass, strlen(t->pass));
	free(t->pass);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

bool fl_tls_on(const fl_tls *t, fl_tls_purpose p)
{
	if (!t || (unsigned)p >= FL_TLS_NPURPOSES) return false;
	return p == FL_TLS_REST ? t->rest : t->internal;
}

const char *fl_tls_scheme(const fl_tls *t, fl_tls_purpose p) { return fl_tls_on(t, p) ? "tls+tcp" : "tcp"; }

/* The configuration of purpose p and side (server or client), made on
 * first use: internal ones require the peer's certificate both ways;
 * REST servers require it with security.ssl.rest.authentication-enabled;
 * clients never check the server's name on internal connections (the
 * cluster's CA is the proof: hosts move, names do not matter). */
static int config_of(fl_tls *t, fl_tls_purpose p, bool server, nng_tls_config **out, char *err, size_t errcap)
{
	pthread_mutex_lock(&t->mu);
	nng_tls_config *cfg = t->cfg[p][server];
	if (cfg) {
		pthread_mutex_unlock(&t->mu);
		*out = cfg;
		return FLINC_OK;
	}
	const tls_side *s = p == FL_TLS_REST ? &t->re : &t->in;
	g_making_label = purpose_names[p];
	int rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	g_making_label = NULL;
	bool require = p != FL_TLS_REST || !server || t->rest_auth;
	if (rv == 0) rv = nng_tls_config_ca_chain(cfg, s->ca, NULL);
	if (rv == 0 && s->cert) rv = nng_tls_config_own_cert(cfg, s->cert, s->key, t->pass);
	if (rv == 0)
		rv = nng_tls_config_auth_mode(cfg,
					      require ? NNG_TLS_AUTH_MODE_REQUIRED : NNG_TLS_AUTH_MODE_NONE);
	if (rv != 0) {
		if (cfg) nng_tls_config_free(cfg);
		pthread_mutex_unlock(&t->mu);
		return fl_errf(err, errcap, FLINC_EIO, "TLS configuration for %s: %s", purpose_names[p],
			       nng_strerror(rv));
	}
	t->cfg[p][server] = cfg;
	pthread_mutex_unlock(&t->mu);
	*out = cfg;
	return FLINC_OK;
}

int fl_tls_listener(fl_tls *t, fl_tls_purpose p, nng_listener l, char *err, size_t errcap)
{
	if (!fl_tls_on(t, p)) return FLINC_OK;
	nng_tls_config *cfg;
	int rc = config_of(t, p, true, &cfg, err, errcap);
	if (rc != FLINC_OK) return rc;
	int rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	if (rv)
		return fl_errf(err, errcap, FLINC_EIO, "TLS on the %s listener: %s", purpose_names[p],
			       nng_strerror(rv));
	return FLINC_OK;
}

int fl_tls_dialer(fl_tls *t, fl_tls_purpose p, nng_dialer d, char *err, size_t errcap)
{
	if (!fl_tls_on(t, p)) return FLINC_OK;
	nng_tls_config *cfg;
	int rc = config_of(t, p, false, &cfg, err, errcap);
	if (rc != FLINC_OK) return rc;
	int rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	if (rv)
		return fl_errf(err, errcap, FLINC_EIO, "TLS on the %s dialer: %s", purpose_names[p],
			       nng_strerror(rv));
	return FLINC_OK;
}

int fl_tls_stream_listener(fl_tls *t, fl_tls_purpose p, nng_stream_listener *l, char *err, size_t errcap)
{
	if (!fl_tls_on(t, p)) return FLINC_OK;
	nng_tls_config *cfg;
	int rc = config_of(t, p, true, &cfg, err, errcap);
	if (rc != FLINC_OK) return rc;
	int rv = nng_stream_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
	if (rv)
		return fl_errf(err, errcap, FLINC_EIO, "TLS on the %s listener: %s", purpose_names[p],
			       nng_strerror(rv));
	return FLINC_OK;
}

int fl_tls_stream_dialer(fl_tls *t, fl_tls_purpose p, nng_stream_dialer *d, char *err, size_t errcap)
{
	if (!fl_tls_on(t, p)) return FLINC_OK;
	nng_tls_config *cfg;
	int rc = config_of(t, p, false, &cfg, err, errcap);
	if (rc != FLINC_OK) return rc;
	int rv = nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
	if (rv)
		return fl_errf(err, errcap, FLINC_EIO, "TLS on the %s dialer: %s", purpose_names[p],
			       nng_strerror(rv));
	return FLINC_OK;
}

/* ==== a blocking client on a socket ====================================== */

struct fl_tls_fd {
	int fd;
	uint64_t rx; /* bytes received: a server that answered speaks TLS */
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	mbedtls_x509_crt ca, own;
	mbedtls_pk_context key;
};

static int fd_send(void *arg, const unsigned char *buf, size_t len)
{
	fl_tls_fd *f = arg;
	ssize_t n = send(f->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0) return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_WRITE;
	return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
						     : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int fd_recv(void *arg, unsigned char *buf, size_t len)
{
	fl_tls_fd *f = arg;
	ssize_t n = recv(f->fd, buf, len, 0);
	if (n > 0) f->rx += (uint64_t)n;
	if (n >= 0) return (int)n; /* 0: the peer closed (mbed TLS reports MBEDTLS_ERR_SSL_CONN_EOF) */
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return MBEDTLS_ERR_SSL_WANT_READ;
	return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Wait for fd to be ready for what mbed TLS asked (rv). 1 ready, 0 past
 * the deadline, -1 error. */
static int fd_wait(int fd, int rv, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - fl_mono_ns() / 1000000;
		if (left <= 0) return 0;
		struct pollfd p = { .fd = fd, .events = rv == MBEDTLS_ERR_SSL_WANT_WRITE ? POLLOUT : POLLIN };
		int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (n > 0) return 1;
		if (n < 0 && errno != EINTR) return -1;
	}
}

int fl_tls_fd_open(fl_tls *t, int fd, const char *host, int64_t deadline_ms, fl_tls_fd **out, char *err,
		   size_t errcap)
{
	*out = NULL;
	if (!fl_tls_on(t, FL_TLS_REST))
		return fl_errf(err, errcap, FLINC_EINVAL, "TLS for REST is off (security.ssl.rest.enabled)");
	fl_tls_fd *f = fl_calloc(1, sizeof *f);
	f->fd = fd;
	mbedtls_ssl_config_init(&f->conf);
	mbedtls_ssl_init(&f->ssl);
	mbedtls_x509_crt_init(&f->ca);
	mbedtls_x509_crt_init(&f->own);
	mbedtls_pk_init(&f->key);
	const tls_side *s = &t->re;
	int rc = FLINC_EIO, rv;
	char m[200];
	if ((rv = mbedtls_ssl_config_defaults(&f->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
					      MBEDTLS_SSL_PRESET_DEFAULT)) != 0 ||
	    (rv = mbedtls_x509_crt_parse(&f->ca, (const unsigned char *)s->ca, strlen(s->ca) + 1)) != 0)
		goto mbed_fail;
	mbedtls_ssl_conf_min_version(&f->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_authmode(&f->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&f->conf, &f->ca, NULL);
	mbedtls_ssl_conf_rng(&f->conf, engine_random, NULL);
	if (s->cert) {
		if ((rv = mbedtls_x509_crt_parse(&f->own, (const unsigned char *)s->cert,
						 strlen(s->cert) + 1)) != 0)
			goto mbed_fail;
#if MBEDTLS_VERSION_MAJOR < 3
		rv = mbedtls_pk_parse_key(&f->key, (const unsigned char *)s->key, strlen(s->key) + 1,
					  (const unsigned char *)t->pass, t->pass ? strlen(t->pass) : 0);
#else
		rv = mbedtls_pk_parse_key(&f->key, (const unsigned char *)s->key, strlen(s->key) + 1,
					  (const unsigned char *)t->pass, t->pass ? strlen(t->pass) : 0,
					  engine_random, NULL);
#endif
		if (rv != 0 || (rv = mbedtls_ssl_conf_own_cert(&f->conf, &f->own, &f->key)) != 0)
			goto mbed_fail;
	}
	if ((rv = mbedtls_ssl_setup(&f->ssl, &f->conf)) != 0) goto mbed_fail;
	if (t->verify_host && host && (rv = mbedtls_ssl_set_hostname(&f->ssl, host)) != 0) goto mbed_fail;
	mbedtls_ssl_set_bio(&f->ssl, f, fd_send, fd_recv, NULL);
	while ((rv = mbedtls_ssl_handshake(&f->ssl)) != 0) {
		if (rv != MBEDTLS_ERR_SSL_WANT_READ && rv != MBEDTLS_ERR_SSL_WANT_WRITE) break;
		int w = fd_wait(fd, rv, deadline_ms);
		if (w == 0) {
			rc = fl_errf(err, errcap, FLINC_ETIMEDOUT, "no TLS handshake within the deadline");
			goto fail;
		}
		if (w < 0) {
			rc = fl_errf(err, errcap, FLINC_EIO, "TLS handshake: %s", strerror(errno));
			goto fail;
		}
	}
	if (rv == 0) {
		*out = f;
		return FLINC_OK;
	}
	uint32_t flags = mbedtls_ssl_get_verify_result(&f->ssl);
	if (rv == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && flags != (uint32_t)-1) {
		if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
			rc = fl_errf(err, errcap, FLINC_EIO,
				     "the job manager's certificate is not signed by a CA in %s (%s)",
				     s->ca_key, s->ca_path);
		else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
			rc = fl_errf(
				err, errcap, FLINC_EIO,
				"the job manager's certificate is not for '%s' (security.ssl.verify-hostname: "
				"false turns this check off)",
				host ? host : "");
		else if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
			rc = fl_errf(err, errcap, FLINC_EIO, "the job manager's certificate has expired");
		else {
			mbedtls_x509_crt_verify_info(m, sizeof m, "", flags);
			m[strcspn(m, "\n")] = 0;
			rc = fl_errf(err, errcap, FLINC_EIO, "the job manager's certificate was refused: %s",
				     m);
		}
		goto fail;
	}
	bool eof = rv == MBEDTLS_ERR_SSL_CONN_EOF || rv == MBEDTLS_ERR_NET_CONN_RESET;
	if (eof && f->rx > 0) {
		/* It answered in TLS, then hung up: it did not like us. */
		rc = fl_errf(
			err, errcap, FLINC_EIO, "the job manager ended the TLS handshake%s",
			s->cert ? " (it may not trust security.ssl.certificate)"
				: " (it may want a client certificate: security.ssl.certificate and "
				  "security.ssl.key with security.ssl.rest.authentication-enabled, in --config)");
		goto fail;
	}
	if (rv == MBEDTLS_ERR_SSL_INVALID_RECORD || rv == MBEDTLS_ERR_SSL_BAD_HS_SERVER_HELLO || eof) {
		rc = fl_errf(
			err, errcap, FLINC_EIO,
			"it does not speak TLS on this port (is security.ssl.rest.enabled on at the job manager? "
			"else use http://)");
		goto fail;
	}
	if (rv == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
		rc = fl_errf(
			err, errcap, FLINC_EIO, "the job manager refused the TLS handshake%s",
			s->cert ? " (it may not trust security.ssl.certificate)"
				: " (it may want a client certificate: security.ssl.certificate and security.ssl.key)");
		goto fail;
	}
mbed_fail:
	mbed_msg(rv, m, sizeof m);
	rc = fl_errf(err, errcap, FLINC_EIO, "TLS: %s", m);
fail:
	fl_tls_fd_free(f);
	return rc;
}

int fl_tls_fd_send(fl_tls_fd *f, const void *buf, size_t n, int64_t deadline_ms, char *err, size_t errcap)
{
	const unsigned char *p = buf;
	while (n > 0) {
		int rv = mbedtls_ssl_write(&f->ssl, p, n);
		if (rv > 0) {
			p += rv;
			n -= (size_t)rv;
			continue;
		}
		if (rv == MBEDTLS_ERR_SSL_WANT_READ || rv == MBEDTLS_ERR_SSL_WANT_WRITE) {
			int w = fd_wait(f->fd, rv, deadline_ms);
			if (w == 0) return fl_errf(err, errcap, FLINC_ETIMEDOUT, "send timed out");
			if (w < 0) return fl_errf(err, errcap, FLINC_EIO, "send: %s", strerror(errno));
			continue;
		}
		if (rv == MBEDTLS_ERR_NET_CONN_RESET) return 1;
		char m[160];
		mbed_msg(rv, m, sizeof m);
		return fl_errf(err, errcap, FLINC_EIO, "TLS send: %s", m);
	}
	return 0;
}

ssize_t fl_tls_fd_recv(fl_tls_fd *f, void *buf, size_t cap, int64_t deadline_ms, char *err, size_t errcap)
{
	for (;;) {
		int rv = mbedtls_ssl_read(&f->ssl, buf, cap);
		if (rv >= 0) return rv;
		if (rv == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rv == MBEDTLS_ERR_SSL_CONN_EOF) return 0;
		if (rv == MBEDTLS_ERR_SSL_WANT_READ || rv == MBEDTLS_ERR_SSL_WANT_WRITE) {
			int w = fd_wait(f->fd, rv, deadline_ms);
			if (w == 0) return fl_errf(err, errcap, FLINC_ETIMEDOUT, "read timed out");
			if (w < 0) return fl_errf(err, errcap, FLINC_EIO, "read: %s", strerror(errno));
			continue;
		}
		char m[160];
		mbed_msg(rv, m, sizeof m);
		return fl_errf(err, errcap, FLINC_EIO, "TLS read: %s", m);
	}
}

void fl_tls_fd_free(fl_tls_fd *f)
{
	if (!f) return;
	(void)mbedtls_ssl_close_notify(&f->ssl);
	mbedtls_ssl_free(&f->ssl);
	mbedtls_ssl_config_free(&f->conf);
	mbedtls_x509_crt_free(&f->ca);
	mbedtls_x509_crt_free(&f->own);
	mbedtls_pk_free(&f->key);
	free(f);
}
