/*
 * auth_test.c - base/fl_auth.h: SHA-256 against the FIPS 180-4 examples,
 * HMAC-SHA256 against RFC 4231's test cases, the constant-time
 * comparison, the proofs (roles and purposes never pass as each other),
 * security.cluster.secret's two forms and every refusal, and the loopback
 * check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_base.h"
#include "fl_auth.h"

/* hex -> bytes; returns the length. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = strlen(hex) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void assert_digest(const uint8_t *got, const char *want_hex, size_t n)
{
	char hex[2 * FL_SHA256_LEN + 1];
	for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", got[i]);
	assert_string_equal(hex, want_hex);
}

/* ---- SHA-256: FIPS 180-4 (and its NIST example pages) ---------------------- */

static void sha256_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *msg, *hex;
	} v[] = {
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnop"
		  "qrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(v); i++) {
		uint8_t d[FL_SHA256_LEN];
		fl_sha256(v[i].msg, strlen(v[i].msg), d);
		assert_digest(d, v[i].hex, sizeof d);
	}
}

/* One million 'a', fed in pieces of every size from 1 to 200 bytes: the
 * buffering across block boundaries must not matter. */
static void sha256_million_a_in_pieces(void **state)
{
	(void)state;
	char *a = malloc(1000000);
	memset(a, 'a', 1000000);
	uint8_t d[FL_SHA256_LEN];
	fl_sha256(a, 1000000, d);
	assert_digest(d, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", sizeof d);
	fl_sha256_ctx s;
	fl_sha256_init(&s);
	size_t off = 0, step = 1;
	while (off < 1000000) {
		size_t k = step < 1000000 - off ? step : 1000000 - off;
		fl_sha256_update(&s, a + off, k);
		off += k;
		step = step % 200 + 1;
	}
	uint8_t d2[FL_SHA256_LEN];
	fl_sha256_final(&s, d2);
	assert_memory_equal(d, d2, sizeof d);
	free(a);
}

/* Lengths around the padding boundary (55, 56, 63, 64, 65 bytes): the
 * one-shot and the byte-by-byte digests agree. */
static void sha256_padding_boundaries(void **state)
{
	(void)state;
	uint8_t msg[130];
	for (size_t i = 0; i < sizeof msg; i++) msg[i] = (uint8_t)(i * 7 + 1);
	for (size_t n = 50; n <= sizeof msg; n++) {
		uint8_t a[FL_SHA256_LEN], b[FL_SHA256_LEN];
		fl_sha256(msg, n, a);
		fl_sha256_ctx s;
		fl_sha256_init(&s);
		for (size_t i = 0; i < n; i++) fl_sha256_update(&s, msg + i, 1);
		fl_sha256_final(&s, b);
		assert_memory_equal(a, b, sizeof a);
	}
	/* 55 and 56 'a's: one and two final blocks (known digests). */
	uint8_t d[FL_SHA256_LEN];
	char a55[56];
	memset(a55, 'a', sizeof a55);
	fl_sha256(a55, 55, d);
	assert_digest(d, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318", sizeof d);
	fl_sha256(a55, 56, d);
	assert_digest(d, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a", sizeof d);
}

/* ---- HMAC-SHA256: RFC 4231, test cases 1 to 7 ------------------------------ */

static void hmac_rfc4231(void **state)
{
	(void)state;
	static const struct {
		const char *key_hex, *data, *data_hex, *mac_hex;
		size_t truncate;
	} v[] = {
		/* 1 */ { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There", NULL,
			  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", 0 },
		/* 2: a key shorter than the output */
		{ "4a656665", "what do ya want for nothing?", NULL,
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", 0 },
		/* 3 */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
		  "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
		  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe", 0 },
		/* 4 */
		{ "0102030405060708090a0b0c0d0e0f10111213141516171819", NULL,
		  "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
		  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b", 0 },
		/* 5: truncated to 128 bits */
		{ "0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c", "Test With Truncation", NULL,
		  "a3b6167473100ee06e0c796c2955552b", 16 },
		/* 6: a key larger than a block */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "Test Using Larger Than Block-Size Key - Hash Key First", NULL,
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", 0 },
		/* 7: a key and data larger than a block */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
		  "be hashed before being used by the HMAC algorithm.",
		  NULL, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2", 0 },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(v); i++) {
		uint8_t key[200], data[200], mac[FL_SHA256_LEN];
		size_t klen = unhex(v[i].key_hex, key);
		size_t dlen = v[i].data ? strlen(v[i].data) : unhex(v[i].data_hex, data);
		const void *d = v[i].data ? (const void *)v[i].data : data;
		fl_hmac_sha256(key, klen, d, dlen, mac);
		assert_digest(mac, v[i].mac_hex, v[i].truncate ? v[i].truncate : sizeof mac);
		/* The same in two updates. */
		fl_hmac_ctx h;
		uint8_t mac2[FL_SHA256_LEN];
		fl_hmac_init(&h, key, klen);
		fl_hmac_update(&h, d, dlen / 3);
		fl_hmac_update(&h, (const uint8_t *)d + dlen / 3, dlen - dlen / 3);
		fl_hmac_final(&h, mac2);
		assert_memory_equal(mac, mac2, sizeof mac);
	}
}

/* ---- comparison, randomness, proofs ---------------------------------------- */

static void ct_equal_and_random(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	assert_int_equal(fl_random_bytes(a, sizeof a), FLINC_OK);
	memcpy(b, a, sizeof a);
	assert_true(fl_ct_equal(a, b, sizeof a));
	for (size_t i = 0; i < sizeof a; i += 7) {
		b[i] ^= 0x80;
		assert_false(fl_ct_equal(a, b, sizeof a));
		b[i] ^= 0x80;
	}
	assert_true(fl_ct_equal(a, b, 0));
	/* Two draws of 32 bytes never agree. */
	assert_int_equal(fl_random_bytes(b, sizeof b), FLINC_OK);
	assert_false(fl_ct_equal(a, b, sizeof a));
}

static void proofs_are_bound_to_role_purpose_nonces_and_key(void **state)
{
	(void)state;
	uint8_t nc[FL_AUTH_NONCE], ns[FL_AUTH_NONCE];
	memset(nc, 1, sizeof nc);
	memset(ns, 2, sizeof ns);
	const char *key = "0123456789abcdef0123";
	uint8_t c[FL_AUTH_PROOF], s[FL_AUTH_PROOF], x[FL_AUTH_PROOF];
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_CLIENT, "rpc", nc, ns, c);
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_SERVER, "rpc", nc, ns, s);
	assert_false(fl_ct_equal(c, s, sizeof c)); /* a reflected answer fails */
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_CLIENT, "control", nc, ns, x);
	assert_false(fl_ct_equal(c, x, sizeof c));
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_CLIENT, "rpc", ns, nc, x); /* nonces swapped */
	assert_false(fl_ct_equal(c, x, sizeof c));
	fl_auth_proof(key, strlen(key) - 1, FL_AUTH_ROLE_CLIENT, "rpc", nc, ns, x);
	assert_false(fl_ct_equal(c, x, sizeof c));
	fl_auth_proof(key, strlen(key), FL_AUTH_ROLE_CLIENT, "rpc", nc, ns, x); /* deterministic */
	assert_true(fl_ct_equal(c, x, sizeof c));
	/* The definition: HMAC(key, "flinc-auth-v1" 0 role 0 purpose 0 nc ns). */
	uint8_t msg[14 + 7 + 4 + 64];
	memcpy(msg, "flinc-auth-v1", 14);
	memcpy(msg + 14, "client", 7);
	memcpy(msg + 21, "rpc", 4);
	memcpy(msg + 25, nc, 32);
	memcpy(msg + 57, ns, 32);
	fl_hmac_sha256(key, strlen(key), msg, sizeof msg, x);
	assert_memory_equal(c, x, sizeof c);
}

/* ---- the secret -------------------------------------------------------------- */

static char g_dir[64];

static int dir_setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "/tmp/flinc-auth-test-XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int dir_teardown(void **state)
{
	(void)state;
	fl_rm_rf(g_dir, NULL, 0);
	return 0;
}

static char *write_file(const char *name, const char *text, size_t n, mode_t mode)
{
	char *p = fl_asprintf("%s/%s", g_dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fwrite(text, 1, n, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

static void secret_forms(void **state)
{
	(void)state;
	uint8_t *k;
	size_t n;
	char err[512];
	/* none */
	assert_int_equal(fl_secret_load(NULL, &k, &n, err, sizeof err), FLINC_OK);
	assert_null(k);
	assert_int_equal(n, 0);
	assert_int_equal(fl_secret_load("", &k, &n, err, sizeof err), FLINC_OK);
	assert_null(k);
	/* a value */
	assert_int_equal(fl_secret_load("sixteen-bytes-ok", &k, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 16);
	assert_memory_equal(k, "sixteen-bytes-ok", 16);
	free(k);
	/* a file: one trailing newline (or CRLF) is not part of it */
	char *p = write_file("s1", "0123456789abcdefXYZ\n", 20, 0600);
	char *v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 19);
	assert_memory_equal(k, "0123456789abcdefXYZ", 19);
	free(k);
	free(v);
	free(p);
	p = write_file("s2", "0123456789abcdef\r\n", 18, 0400);
	v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 16);
	free(k);
	free(v);
	free(p);
	/* binary bytes are fine */
	p = write_file("s3",
		       "\x01\x02\x00\xff"
		       "abcdefghijklmnop",
		       20, 0600);
	v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_OK);
	assert_int_equal(n, 20);
	assert_int_equal(k[2], 0);
	free(k);
	free(v);
	free(p);
}

static void secret_refusals(void **state)
{
	(void)state;
	uint8_t *k;
	size_t n;
	char err[512];
	/* too short: the message names the key and never the secret */
	assert_int_equal(fl_secret_load("short-secret", &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "security.cluster.secret"));
	assert_non_null(strstr(err, "12 bytes"));
	assert_null(strstr(err, "short-secret"));
	assert_null(k);
	/* too long */
	char *big = malloc(FL_SECRET_MAX + 2);
	memset(big, 'x', FL_SECRET_MAX + 1);
	big[FL_SECRET_MAX + 1] = 0;
	assert_int_equal(fl_secret_load(big, &k, &n, err, sizeof err), FLINC_ECONFIG);
	char *p = write_file("big", big, FL_SECRET_MAX + 1, 0600);
	char *v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "4097 bytes"));
	free(v);
	free(p);
	free(big);
	/* 'file:' without a path, a missing file, a folder */
	assert_int_equal(fl_secret_load("file:", &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "needs the path"));
	v = fl_asprintf("file:%s/none", g_dir);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "cannot open"));
	free(v);
	v = fl_asprintf("file:%s", g_dir);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "not a regular file"));
	free(v);
	/* readable by group or others: refused, with the mode and the fix */
	static const mode_t bad[] = { 0640, 0604, 0660, 0606, 0644, 0620 };
	for (size_t i = 0; i < FL_ARRAY_LEN(bad); i++) {
		p = write_file("open", "0123456789abcdef0123", 20, bad[i]);
		v = fl_asprintf("file:%s", p);
		assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
		assert_non_null(strstr(err, "group or others"));
		assert_non_null(strstr(err, "chmod 600"));
		assert_null(k);
		free(v);
		free(p);
	}
	/* a FIFO: refused at once, not waited on */
	p = fl_asprintf("%s/fifo", g_dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "not a regular file"));
	free(v);
	free(p);
	/* too short in a file (the newline is not counted) */
	p = write_file("short", "0123456789abcde\n", 16, 0600);
	v = fl_asprintf("file:%s", p);
	assert_int_equal(fl_secret_load(v, &k, &n, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "15 bytes"));
	free(v);
	free(p);
}

static void loopback(void **state)
{
	(void)state;
	assert_true(fl_host_is_loopback("127.0.0.1"));
	assert_true(fl_host_is_loopback("127.1.2.3"));
	assert_true(fl_host_is_loopback("::1"));
	assert_true(fl_host_is_loopback("[::1]"));
	assert_true(fl_host_is_loopback("::ffff:127.0.0.1"));
	assert_false(fl_host_is_loopback("0.0.0.0"));
	assert_false(fl_host_is_loopback("::"));
	assert_false(fl_host_is_loopback("*"));
	assert_false(fl_host_is_loopback(""));
	assert_false(fl_host_is_loopback(NULL));
	assert_false(fl_host_is_loopback("10.1.2.3"));
	assert_false(fl_host_is_loopback("192.0.2.1"));
	assert_false(fl_host_is_loopback("::ffff:10.0.0.1"));
	assert_false(fl_host_is_loopback("no-such-host.invalid"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sha256_vectors),
		cmocka_unit_test(sha256_million_a_in_pieces),
		cmocka_unit_test(sha256_padding_boundaries),
		cmocka_unit_test(hmac_rfc4231),
		cmocka_unit_test(ct_equal_and_random),
		cmocka_unit_test(proofs_are_bound_to_role_purpose_nonces_and_key),
		cmocka_unit_test_setup_teardown(secret_forms, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(secret_refusals, dir_setup, dir_teardown),
		cmocka_unit_test(loopback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
