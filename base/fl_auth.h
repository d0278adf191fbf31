/*
 * fl_auth.h - what cluster authentication is built from (docs/security.md,
 * "The cluster secret"): SHA-256 and HMAC-SHA256, random bytes, a
 * constant-time comparison, the cluster secret read from the
 * configuration, the proofs of the challenge-response every RPC, control
 * and data connection starts with, and the loopback check of the
 * no-secret mode.
 *
 * Threads: every function is thread-safe (no shared state).
 */
#ifndef FL_AUTH_H
#define FL_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) -------------------- */

#define FL_SHA256_LEN 32
#define FL_SHA256_BLOCK 64

typedef struct fl_sha256_ctx {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t buf[FL_SHA256_BLOCK];
	size_t nbuf;
} fl_sha256_ctx;

void fl_sha256_init(fl_sha256_ctx *s);
void fl_sha256_update(fl_sha256_ctx *s, const void *data, size_t n);
/* Write the digest into out; s must be initialised again before reuse. */
void fl_sha256_final(fl_sha256_ctx *s, uint8_t out[FL_SHA256_LEN]);
void fl_sha256(const void *data, size_t n, uint8_t out[FL_SHA256_LEN]);

typedef struct fl_hmac_ctx {
	fl_sha256_ctx inner, outer;
} fl_hmac_ctx;

/* A key longer than a block is hashed first, as RFC 2104 says; an empty
 * key (keylen 0) is valid. */
void fl_hmac_init(fl_hmac_ctx *h, const void *key, size_t keylen);
void fl_hmac_update(fl_hmac_ctx *h, const void *data, size_t n);
void fl_hmac_final(fl_hmac_ctx *h, uint8_t out[FL_SHA256_LEN]);
void fl_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[FL_SHA256_LEN]);

/* ---- randomness and comparison ------------------------------------------ */

/* n bytes from the kernel's random source (getrandom, waiting until it is
 * seeded). FLINC_OK, or FLINC_EIO when the kernel refuses. */
int fl_random_bytes(void *buf, size_t n);
/* Are a and b equal? The time taken does not depend on where they differ. */
bool fl_ct_equal(const void *a, const void *b, size_t n);

/* ---- the cluster secret -------------------------------------------------- */

#define FL_SECRET_KEY "security.cluster.secret"
#define FL_SECRET_MIN 16   /* bytes */
#define FL_SECRET_MAX 4096 /* bytes */

/* The secret of security.cluster.secret's value:
 *   NULL or ""   no secret: *key NULL, *len 0 (the caller then listens on
 *                loopback only);
 *   "file:PATH"  the bytes of the file PATH, less one trailing newline
 *                ("\n" or "\r\n"); the file must be a regular file that
 *                neither group nor others may read or write (chmod 600);
 *   anything     the value itself, as its bytes.
 * Either way 16 to 4096 bytes. FLINC_OK with *key malloc'ed (the caller
 * frees it, best after fl_secret_wipe), or FLINC_ECONFIG with one line in
 * err that names the key and never quotes the secret. */
int fl_secret_load(const char *value, uint8_t **key, size_t *len, char *err, size_t errcap);
/* Overwrite n bytes of key with zeros (one the compiler keeps); NULL is fine. */
void fl_secret_wipe(void *key, size_t n);

/* ---- the proofs of the challenge-response -------------------------------- */

#define FL_AUTH_NONCE 32
#define FL_AUTH_PROOF FL_SHA256_LEN

/* The roles a proof is made for: the side that dialed, the side that
 * listens, and a task manager binding a new connection to its
 * registration (keyed with the session key the job manager gave it). A
 * proof of one role never passes as another's, so an answer reflected
 * back at its sender fails. */
#define FL_AUTH_ROLE_CLIENT "client"
#define FL_AUTH_ROLE_SERVER "server"
#define FL_AUTH_ROLE_BIND "bind"

/* proof = HMAC-SHA256(key, "flinc-auth-v1" 0 role 0 purpose 0 nc ns):
 * nc is the dialer's nonce and ns the listener's, both FL_AUTH_NONCE
 * bytes; purpose names the connection ("rpc", "control", "data"), so a
 * proof made for one kind of connection never passes on another. */
void fl_auth_proof(const void *key, size_t keylen, const char *role, const char *purpose,
		   const uint8_t nc[FL_AUTH_NONCE], const uint8_t ns[FL_AUTH_NONCE],
		   uint8_t out[FL_AUTH_PROOF]);

/* ---- loopback ------------------------------------------------------------ */

/* Does host (a name or a literal address; "" counts as a wildcard) name
 * only loopback addresses: 127.0.0.0/8, ::1, ::ffff:127.x? A name is
 * resolved and every address it has must be one. */
bool fl_host_is_loopback(const char *host);

#endif
