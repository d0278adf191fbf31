/*
 * sha256.c - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), written out
 * plainly: the cluster handshake hashes a few hundred bytes per
 * connection, so clarity wins over speed. The test vectors of FIPS 180-4
 * and RFC 4231 are in tests/unit/auth_test.c.
 */
#include <string.h>

#include "fl_auth.h"

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One 64-byte block into the state (FIPS 180-4, 6.2.2). */
static void block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64];
	for (int t = 0; t < 16; t++) w[t] = load_be32(p + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
	for (int t = 0; t < 64; t++) {
		uint32_t S1 = ror(e, 6) ^ ror(e, 11) ^ ror(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = k + S1 + ch + K[t] + w[t];
		uint32_t S0 = ror(a, 2) ^ ror(a, 13) ^ ror(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;
		k = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += k;
}

void fl_sha256_init(fl_sha256_ctx *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
					0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, iv, sizeof iv);
	s->len = 0;
	s->nbuf = 0;
}

void fl_sha256_update(fl_sha256_ctx *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	s->len += n;
	if (s->nbuf) {
		size_t k = FL_SHA256_BLOCK - s->nbuf < n ? FL_SHA256_BLOCK - s->nbuf : n;
		memcpy(s->buf + s->nbuf, p, k);
		s->nbuf += k;
		p += k;
		n -= k;
		if (s->nbuf < FL_SHA256_BLOCK) return;
		block(s->h, s->buf);
		s->nbuf = 0;
	}
	for (; n >= FL_SHA256_BLOCK; p += FL_SHA256_BLOCK, n -= FL_SHA256_BLOCK) block(s->h, p);
	memcpy(s->buf, p, n);
	s->nbuf = n;
}

void fl_sha256_final(fl_sha256_ctx *s, uint8_t out[FL_SHA256_LEN])
{
	uint64_t bits = s->len * 8;
	/* 0x80, zeros up to 56 bytes into a block, the length in bits. */
	s->buf[s->nbuf++] = 0x80;
	if (s->nbuf > 56) {
		memset(s->buf + s->nbuf, 0, FL_SHA256_BLOCK - s->nbuf);
		block(s->h, s->buf);
		s->nbuf = 0;
	}
	memset(s->buf + s->nbuf, 0, 56 - s->nbuf);
	store_be32(s->buf + 56, (uint32_t)(bits >> 32));
	store_be32(s->buf + 60, (uint32_t)bits);
	block(s->h, s->buf);
	for (int i = 0; i < 8; i++) store_be32(out + 4 * i, s->h[i]);
	memset(s, 0, sizeof *s);
}

void fl_sha256(const void *data, size_t n, uint8_t out[FL_SHA256_LEN])
{
	fl_sha256_ctx s;
	fl_sha256_init(&s);
	fl_sha256_update(&s, data, n);
	fl_sha256_final(&s, out);
}

void fl_hmac_init(fl_hmac_ctx *h, const void *key, size_t keylen)
{
	uint8_t k[FL_SHA256_BLOCK] = { 0 }, pad[FL_SHA256_BLOCK];
	if (keylen > FL_SHA256_BLOCK)
		fl_sha256(key, keylen, k);
	else if (keylen)
		memcpy(k, key, keylen);
	for (int i = 0; i < FL_SHA256_BLOCK; i++) pad[i] = k[i] ^ 0x36;
	fl_sha256_init(&h->inner);
	fl_sha256_update(&h->inner, pad, sizeof pad);
	for (int i = 0; i < FL_SHA256_BLOCK; i++) pad[i] = k[i] ^ 0x5c;
	fl_sha256_init(&h->outer);
	fl_sha256_update(&h->outer, pad, sizeof pad);
	fl_secret_wipe(k, sizeof k);
	fl_secret_wipe(pad, sizeof pad);
}

void fl_hmac_update(fl_hmac_ctx *h, const void *data, size_t n) { fl_sha256_update(&h->inner, data, n); }

void fl_hmac_final(fl_hmac_ctx *h, uint8_t out[FL_SHA256_LEN])
{
	uint8_t inner[FL_SHA256_LEN];
	fl_sha256_final(&h->inner, inner);
	fl_sha256_update(&h->outer, inner, sizeof inner);
	fl_sha256_final(&h->outer, out);
}

void fl_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n, uint8_t out[FL_SHA256_LEN])
{
	fl_hmac_ctx h;
	fl_hmac_init(&h, key, keylen);
	fl_hmac_update(&h, data, n);
	fl_hmac_final(&h, out);
}
