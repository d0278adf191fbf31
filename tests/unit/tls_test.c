/*
 * tls_test.c - TLS settings and flinc's nng TLS engine (runtime/src/tls.c,
 * runtime/host/fl_tls.h), with certificates that scripts/make-test-ca.sh
 * makes in a temporary folder (openssl).
 *
 * Covered: TLS off (no fl_tls, tcp scheme); every configuration error is
 * one line naming its key (no truststore, no certificate, a file that is
 * missing or not PEM, a key of another certificate, a value that is not a
 * boolean); a REST-only client needs no certificate; a TLS stream pair
 * with certificates of the CA exchanges bytes and reports the peer
 * verified; a client with a certificate of another CA, without one, or in
 * plain text gets no byte through; the data service (netx) over TLS
 * advertises tls+tcp://, moves a buffer, and refuses a tcp:// peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <nng/nng.h>

#include "exchange.h"
#include "fl_base.h"
#include "fl_runtime.h"
#include "fl_tls.h"

static char g_dir[256];

static const char *pathof(const char *name)
{
	static char buf[8][512];
	static int k;
	char *p = buf[k++ % 8];
	snprintf(p, 512, "%s/%s", g_dir, name);
	return p;
}

static int make_ca(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "/tmp/flinc-tls-test-XXXXXX");
	if (!mkdtemp(g_dir)) return -1;
	char cmd[1024];
	snprintf(cmd, sizeof cmd,
		 "bash %s/scripts/make-test-ca.sh %s node,localhost,127.0.0.1 other,localhost,127.0.0.1 "
		 ">/dev/null 2>&1",
		 FLINC_SOURCE_DIR, g_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "tls_test: %s failed (openssl installed?)\n", cmd);
		return -1;
	}
	fl_log_set_level(FL_LOG_ERROR);
	return 0;
}

static int remove_ca(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A configuration with TLS on and the given files (NULL: key not set). */
static fl_conf *conf_with(const char *cert, const char *key, const char *ca)
{
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "security.ssl.enabled", "true");
	if (cert) fl_conf_set(c, "security.ssl.certificate", pathof(cert));
	if (key) fl_conf_set(c, "security.ssl.key", pathof(key));
	if (ca) fl_conf_set(c, "security.ssl.truststore", pathof(ca));
	return c;
}

static fl_tls *tls_of(const char *cert, const char *key, const char *ca)
{
	fl_conf *c = conf_with(cert, key, ca);
	fl_tls *t = NULL;
	char err[512];
	int rc = fl_tls_create(c, 0, &t, err, sizeof err);
	fl_conf_destroy(c);
	if (rc != FLINC_OK) fail_msg("fl_tls_create: %s", err);
	return t;
}

static void expect_error(fl_conf *c, unsigned flags, const char *needle)
{
	fl_tls *t = (fl_tls *)1;
	char err[512] = "";
	assert_int_equal(fl_tls_create(c, flags, &t, err, sizeof err), FLINC_ECONFIG);
	assert_null(t);
	if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
	assert_null(strchr(err, '\n'));
	fl_conf_destroy(c);
}

static void test_off(void **state)
{
	(void)state;
	fl_conf *c = fl_conf_create();
	fl_tls *t = (fl_tls *)1;
	char err[256];
	assert_int_equal(fl_tls_create(c, 0, &t, err, sizeof err), FLINC_OK);
	assert_null(t);
	fl_conf_set(c, "security.ssl.enabled", "false");
	assert_int_equal(fl_tls_create(c, 0, &t, err, sizeof err), FLINC_OK);
	assert_null(t);
	fl_conf_destroy(c);
	assert_false(fl_tls_on(NULL, FL_TLS_RPC));
	assert_string_equal(fl_tls_scheme(NULL, FL_TLS_DATA), "tcp");
	fl_tls_destroy(NULL);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_error(conf_with("node.pem", "node.key", NULL), 0, "security.ssl.truststore is not set");
	expect_error(conf_with(NULL, NULL, "ca.pem"), 0, "security.ssl.certificate is not set");
	expect_error(conf_with("node.pem", NULL, "ca.pem"), 0, "security.ssl.key is not set");
	expect_error(conf_with("missing.pem", "node.key", "ca.pem"), 0,
		     "security.ssl.certificate: cannot read");
	/* a file that is not PEM: the key's own name list */
	FILE *f = fopen(pathof("junk.pem"), "w");
	assert_non_null(f);
	fputs("not a certificate\n", f);
	fclose(f);
	expect_error(conf_with("node.pem", "node.key", "junk.pem"), 0, "security.ssl.truststore: ");
	expect_error(conf_with("node.pem", "other.key", "ca.pem"), 0, "is not the key of the certificate");
	expect_error(conf_with("node.key", "node.key", "ca.pem"), 0, "is not a valid certificate");
	fl_conf *c = conf_with("node.pem", "node.key", "ca.pem");
	fl_conf_set(c, "security.ssl.enabled", "maybe");
	expect_error(c, 0, "security.ssl.enabled: 'maybe' is not true or false");
	/* REST on needs its files too */
	c = fl_conf_create();
	fl_conf_set(c, "security.ssl.rest.enabled", "true");
	expect_error(c, 0, "security.ssl.truststore is not set");
}

static void test_good_and_rest_client(void **state)
{
	(void)state;
	fl_tls *t = tls_of("node.pem", "node.key", "ca.pem");
	assert_true(fl_tls_on(t, FL_TLS_RPC) && fl_tls_on(t, FL_TLS_CONTROL) && fl_tls_on(t, FL_TLS_DATA));
	assert_false(fl_tls_on(t, FL_TLS_REST));
	assert_string_equal(fl_tls_scheme(t, FL_TLS_DATA), "tls+tcp");
	assert_string_equal(fl_tls_scheme(t, FL_TLS_REST), "tcp");
	fl_tls_destroy(t);
	/* the CLI: a truststore is enough, internal keys are not its business */
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "security.ssl.rest.enabled", "true");
	fl_conf_set(c, "security.ssl.enabled", "true");
	fl_conf_set(c, "security.ssl.rest.truststore", pathof("ca.pem"));
	char err[256];
	assert_int_equal(fl_tls_create(c, FL_TLS_REST_CLIENT, &t, err, sizeof err), FLINC_OK);
	assert_non_null(t);
	assert_true(fl_tls_on(t, FL_TLS_REST));
	assert_false(fl_tls_on(t, FL_TLS_RPC));
	fl_tls_destroy(t);
	fl_conf_destroy(c);
}

/* ---- streams ---------------------------------------------------------- */

typedef struct pair {
	nng_stream_listener *l;
	nng_stream_dialer *d;
	nng_stream *srv, *cli;
	int port;
} pair;

/* Listen with server on tls+tcp://127.0.0.1:0, dial it with client (NULL:
 * plain tcp), accept. The TLS handshake itself runs at the first I/O. */
static void pair_open(pair *p, fl_tls *server, fl_tls *client)
{
	char err[256], url[64];
	memset(p, 0, sizeof *p);
	assert_int_equal(nng_stream_listener_alloc(&p->l, "tls+tcp://127.0.0.1:0"), 0);
	assert_int_equal(fl_tls_stream_listener(server, FL_TLS_DATA, p->l, err, sizeof err), FLINC_OK);
	assert_int_equal(nng_stream_listener_listen(p->l), 0);
	assert_int_equal(nng_stream_listener_get_int(p->l, NNG_OPT_TCP_BOUND_PORT, &p->port), 0);
	snprintf(url, sizeof url, "%s://127.0.0.1:%d", client ? "tls+tcp" : "tcp", p->port);
	assert_int_equal(nng_stream_dialer_alloc(&p->d, url), 0);
	if (client)
		assert_int_equal(fl_tls_stream_dialer(client, FL_TLS_DATA, p->d, err, sizeof err), FLINC_OK);
	nng_aio *acc, *dial;
	assert_int_equal(nng_aio_alloc(&acc, NULL, NULL), 0);
	assert_int_equal(nng_aio_alloc(&dial, NULL, NULL), 0);
	nng_aio_set_timeout(acc, 5000);
	nng_aio_set_timeout(dial, 5000);
	nng_stream_listener_accept(p->l, acc);
	nng_stream_dialer_dial(p->d, dial);
	nng_aio_wait(dial);
	nng_aio_wait(acc);
	assert_int_equal(nng_aio_result(dial), 0);
	assert_int_equal(nng_aio_result(acc), 0);
	p->cli = nng_aio_get_output(dial, 0);
	p->srv = nng_aio_get_output(acc, 0);
	nng_aio_free(acc);
	nng_aio_free(dial);
}

static void pair_close(pair *p)
{
	nng_stream_free(p->cli);
	nng_stream_free(p->srv);
	nng_stream_dialer_free(p->d);
	nng_stream_listener_free(p->l);
}

/* Send n bytes on s and/or receive into buf on r, 3 s at most each. The
 * receive's result (0 or an nng error) and *got. */
static int xfer(nng_stream *s, const char *msg, nng_stream *r, char *buf, size_t cap, size_t *got)
{
	nng_aio *tx = NULL, *rx;
	assert_int_equal(nng_aio_alloc(&rx, NULL, NULL), 0);
	nng_aio_set_timeout(rx, 3000);
	if (s) {
		assert_int_equal(nng_aio_alloc(&tx, NULL, NULL), 0);
		nng_aio_set_timeout(tx, 3000);
		nng_iov iov = { .iov_buf = (void *)msg, .iov_len = strlen(msg) };
		nng_aio_set_iov(tx, 1, &iov);
		nng_stream_send(s, tx);
	}
	nng_iov riov = { .iov_buf = buf, .iov_len = cap };
	nng_aio_set_iov(rx, 1, &riov);
	nng_stream_recv(r, rx);
	nng_aio_wait(rx);
	if (tx) {
		nng_aio_wait(tx);
		nng_aio_free(tx);
	}
	int rv = nng_aio_result(rx);
	*got = rv == 0 ? nng_aio_count(rx) : 0;
	nng_aio_free(rx);
	return rv;
}

static void test_stream_mutual(void **state)
{
	(void)state;
	fl_tls *a = tls_of("node.pem", "node.key", "ca.pem"), *b = tls_of("other.pem", "other.key", "ca.pem");
	pair p;
	pair_open(&p, a, b);
	char buf[64];
	size_t got;
	assert_int_equal(xfer(p.cli, "ping", p.srv, buf, sizeof buf, &got), 0);
	assert_int_equal(got, 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(xfer(p.srv, "pong!", p.cli, buf, sizeof buf, &got), 0);
	assert_int_equal(got, 5);
	bool v = false;
	assert_int_equal(nng_stream_get_bool(p.srv, NNG_OPT_TLS_VERIFIED, &v), 0);
	assert_true(v);
	pair_close(&p);
	fl_tls_destroy(a);
	fl_tls_destroy(b);
}

/* A client that must not get a byte through: the server's read fails. */
static void refused(fl_tls *server, fl_tls *client)
{
	pair p;
	pair_open(&p, server, client);
	char buf[64];
	size_t got;
	int rv = xfer(p.cli, "secret records", p.srv, buf, sizeof buf, &got);
	assert_int_not_equal(rv, 0);
	assert_int_equal(got, 0);
	pair_close(&p);
}

static void test_stream_refusals(void **state)
{
	(void)state;
	fl_tls *good = tls_of("node.pem", "node.key", "ca.pem");
	/* a certificate of another CA (it trusts ours: it is the stranger) */
	fl_tls *rogue = tls_of("rogue.pem", "rogue.key", "ca.pem");
	refused(good, rogue);
	/* and the other way round: our client refuses a rogue server */
	refused(rogue, good);
	/* an expired certificate of the right CA */
	fl_tls *expired = tls_of("expired.pem", "expired.key", "ca.pem");
	refused(good, expired);
	/* plain text */
	refused(good, NULL);
	fl_tls_destroy(good);
	fl_tls_destroy(rogue);
	fl_tls_destroy(expired);
}

/* ---- the data service over TLS ----------------------------------------- */

static void test_netx_tls(void **state)
{
	(void)state;
	fl_tls *t = tls_of("node.pem", "node.key", "ca.pem");
	fl_netx_opts o = { .tls = t };
	fl_netx *a = NULL, *b = NULL;
	char err[256];
	assert_int_equal(fl_netx_create("127.0.0.1:0", NULL, NULL, &o, &a, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_netx_create("tls+tcp://127.0.0.1:0", NULL, NULL, &o, &b, err, sizeof err),
			 FLINC_OK);
	assert_int_equal(strncmp(fl_netx_addr(a), "tls+tcp://127.0.0.1:", 20), 0);
	fl_netx *c = NULL;
	assert_int_equal(fl_netx_create("tcp://127.0.0.1:0", NULL, NULL, &o, &c, err, sizeof err),
			 FLINC_EINVAL);
	assert_non_null(strstr(err, "tls+tcp"));

	fl_notify pn, cn;
	fl_notify_init(&pn);
	fl_notify_init(&cn);
	fl_channel *in = NULL, *out = NULL;
	char plain[64];
	snprintf(plain, sizeof plain, "tcp://%s", fl_netx_addr(b) + strlen("tls+tcp://"));
	assert_int_equal(fl_netx_out(a, plain, 7, 4, 4096, &pn, &out, err, sizeof err), FLINC_EINVAL);
	assert_non_null(strstr(err, "security.ssl.enabled"));
	assert_int_equal(fl_netx_in(b, 7, 4, 4096, &cn, &in), FLINC_OK);
	assert_int_equal(fl_netx_out(a, fl_netx_addr(b), 7, 4, 4096, &pn, &out, err, sizeof err), FLINC_OK);
	fl_xbuf *x = NULL;
	for (int i = 0; i < 500 && !(x = fl_channel_try_acquire(out)); i++) usleep(10000);
	assert_non_null(x);
	memcpy(x->data, "encrypted hello", 15);
	x->len = 15;
	fl_channel_send(out, x);
	fl_xbuf *y = NULL;
	for (int i = 0; i < 500 && !(y = fl_channel_poll(in)); i++) usleep(10000);
	assert_non_null(y);
	assert_int_equal(y->len, 15);
	assert_memory_equal(y->data, "encrypted hello", 15);
	fl_channel_release(in, y);
	uint64_t ids[1] = { 7 };
	fl_netx_close(a, ids, 1);
	fl_netx_close(b, ids, 1);
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	fl_notify_fini(&pn);
	fl_notify_fini(&cn);
	fl_tls_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_good_and_rest_client),
		cmocka_unit_test(test_stream_mutual),
		cmocka_unit_test(test_stream_refusals),
		cmocka_unit_test(test_netx_tls),
	};
	return cmocka_run_group_tests(tests, make_ca, remove_ca);
}
