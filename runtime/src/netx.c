/*
 * netx.c - the data service (the contract is in fl_runtime.h, "the data
 * service").
 *
 * Wire format. A connection is a byte stream of frames, each a 16-byte
 * header, little-endian:
 *
 *   [u8 type][u8 flags][u16 reserved][u32 arg][u64 channel id]
 *
 * flags and reserved are sent as 0 and ignored on receipt.
 *
 *   HELLO  1  arg = payload length; payload [u32 magic "FLNX"][u16 version]
 *             [u16 n][32 bytes: the sender's nonce][n bytes: the sender's
 *             data address]. First frame each way; anything else first is
 *             a protocol error. Version 2 (version 1 had no nonce and no
 *             AUTH: such a peer is refused, naming both versions).
 *   AUTH   7  arg = 32; payload: the sender's proof of the cluster secret,
 *             fl_auth_proof(secret, role, "data", dialer's nonce,
 *             acceptor's nonce), role "client" from the dialer, "server"
 *             from the acceptor. The dialer sends its AUTH once it has
 *             the acceptor's HELLO; the acceptor checks it and only then
 *             sends its own; the dialer checks that before it sends
 *             anything else. Until its peer's AUTH checked out, a side
 *             takes no frame but HELLO and AUTH, and sends none either; a
 *             wrong proof, anything else, or no AUTH within
 *             connect_timeout_ms ends the connection (for an accepted one
 *             with a rate-limited log line and no on_peer_lost: nothing of
 *             it was ever trusted).
 *   OPEN   2  dialer -> acceptor: channel id will be sent on this connection.
 *   CREDIT 3  acceptor -> dialer: arg more buffers are free for channel id.
 *             reserved = the receiver's buffer-debloat target for the
 *             channel in units of 64 bytes (0xffff: 4 MiB or more, read
 *             as whole buffers); 0 = none announced (also what a peer
 *             that does not debloat sends): the sender fills its buffers
 *             only that far (exchange.h, "buffer debloating").
 *   DATA   4  dialer -> acceptor: arg payload bytes follow, the bytes of one
 *             exchange buffer as the producer wrote them (FL_EV_* events).
 *   CLOSE  5  dialer -> acceptor: the sender closed channel id.
 *   PING   6  either way, sent by an idle side every heartbeat_ms.
 *   BARRIER 8 dialer -> acceptor: arg payload bytes follow: the barrier of
 *             an unaligned checkpoint on channel id (exchange.h,
 *             "unaligned checkpoint barriers"), sent without credit ahead
 *             of the channel's queued buffers: [i64 checkpoint id]
 *             [u8 flags][u32 n][n items [u32 len][bytes]], the items
 *             being copies of the buffers still queued at the sender that
 *             precede the barrier (they follow as DATA too). Every DATA
 *             frame of the channel before it precedes the barrier;
 *             at most BARRIER_MAX bytes.
 *
 * Data goes dialer -> acceptor only; a DATA frame is sent only against a
 * CREDIT, so the acceptor always has a buffer to copy it into. The
 * handshake happens once per connection; the data path after it is the
 * same as without it.
 *
 * Threads and locks.
 *   - nx->mu guards the channel tables and the connection list; c->mu
 *     guards one connection and the channels bound to it. Order: nx->mu
 *     before c->mu; nothing else is held while taking them except the
 *     channels' notify mutexes (leaves).
 *   - The pump thread wakes on nx->notify (signalled by producers sending
 *     into an out channel and consumers releasing an in channel, since the
 *     service is the other side of both). It starts sends on idle
 *     connections, grants credit for freed buffers, sends heartbeats,
 *     notices silent peers, and reaps broken connections (then calls
 *     on_peer_lost). It reads a few atomics first and takes a
 *     connection's lock only when there is something to do there.
 *   - nng's callback threads run the I/O: one receive and at most one send
 *     outstanding per connection. The receive callback parses frames from
 *     a staging buffer, copies DATA payloads into the channel's credited
 *     buffers and, when the consumer has freed a batch meanwhile, grants
 *     it at once; the send callback returns the sent buffer to its
 *     producer and starts the next send.
 *   - Credit is granted in batches of a quarter of the channel's buffers,
 *     or at once when the sender has none left: fewer CREDIT frames and
 *     wakeups, and credit is only held back while the sender still has
 *     some.
 *   - Channel lifetime: a closed out channel with a buffer in the send in
 *     flight is freed by the send callback (zombie); closing an in channel
 *     whose buffer the parser is filling makes it drop the rest of that
 *     payload. Either way the caller's channel is never touched again
 *     once fl_netx_close returns.
 *   - Sends are built by kick(): pending control frames and credits, then
 *     round-robin one buffer per channel that has both data and credit.
 *     Small buffers (<= 8 KiB) are copied into the send scratch, many per
 *     syscall; large ones go from the channel's own memory (zero copy),
 *     at most two per send, and return to the producer when it completes.
 *     Partial writes are resumed where they stopped.
 * nng completes every aio on its own threads (never inside the call that
 * started it), so starting I/O under c->mu is safe; nng_aio_stop and
 * nng_stream_close are only called with no lock held.
 */
#include "exchange.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>

#include "fl_tls.h"
#include "inflight.h"
#include "util.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "netx framing assumes a little-endian host");

#define LOG "netx"

/* Connections refused before they authenticated: a few lines per 10 s. */
static fl_log_limit g_refused = FL_LOG_LIMIT_INIT(5, 10000);

enum {
	F_HELLO = 1,
	F_OPEN = 2,
	F_CREDIT = 3,
	F_DATA = 4,
	F_CLOSE = 5,
	F_PING = 6,
	F_AUTH = 7,
	F_BARRIER = 8
};

#define HDR 16u
#define HELLO_MAGIC 0x584e4c46u /* "FLNX" */
#define HELLO_VERSION 2u
#define ADDR_MAX 256u
#define NONCE FL_AUTH_NONCE
#define HELLO_MAX (8u + NONCE + ADDR_MAX)
#define PURPOSE "data"                 /* in the proofs: never mistaken for an RPC connection's */
#define RX_HANDSHAKE 1024u             /* receive staging until the peer authenticated */
#define UNAUTHED_MAX 256               /* accepted connections still authenticating */
#define DATA_MAX (1u << 30)            /* the writer refuses records past 1 GiB */
#define CREDIT_MAX (1u << 24)          /* more outstanding credit than this is a bug */
#define RX_STAGING (256u * 1024)       /* one receive reads up to this much (acceptor) */
#define RX_STAGING_DIALER (16u * 1024) /* the dialer only receives control frames */
#define TX_BATCH (64u * 1024)          /* bytes of small buffers copied per send */
#define SMALL_COPY (8u * 1024)         /* buffers up to this size are copied */
#define BAR_FIXED 13u                  /* a BARRIER payload without items */
#define BARRIER_MAX (256u << 20)       /* a BARRIER payload (the sender's queued buffers) */
#define PENDING_MAX 65536u             /* OPENs waiting for fl_netx_in, per connection */

/* ---- id -> pointer map (open addressing, backward-shift delete) ------- */

typedef struct idmap {
	uint64_t *keys;
	void **vals; /* NULL = empty slot */
	uint32_t cap, n;
} idmap;

static uint32_t id_slot(uint64_t k, uint32_t mask)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (uint32_t)k & mask;
}

static void *map_get(const idmap *m, uint64_t k)
{
	if (!m->cap) return NULL;
	uint32_t mask = m->cap - 1;
	for (uint32_t i = id_slot(k, mask); m->vals[i]; i = (i + 1) & mask)
		if (m->keys[i] == k) return m->vals[i];
	return NULL;
}

static void map_put(idmap *m, uint64_t k, void *v); /* k must be absent */

static void map_grow(idmap *m)
{
	idmap old = *m;
	m->cap = old.cap ? old.cap * 2 : 16;
	m->keys = fl_calloc(m->cap, sizeof(uint64_t));
	m->vals = fl_calloc(m->cap, sizeof(void *));
	m->n = 0;
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.vals[i]) map_put(m, old.keys[i], old.vals[i]);
	free(old.keys);
	free(old.vals);
}

static void map_put(idmap *m, uint64_t k, void *v)
{
	if ((m->n + 1) * 2 > m->cap) map_grow(m);
	uint32_t mask = m->cap - 1, i = id_slot(k, mask);
	while (m->vals[i]) i = (i + 1) & mask;
	m->keys[i] = k;
	m->vals[i] = v;
	m->n++;
}

static void map_del(idmap *m, uint64_t k)
{
	if (!m->cap) return;
	uint32_t mask = m->cap - 1, i = id_slot(k, mask);
	while (m->vals[i] && m->keys[i] != k) i = (i + 1) & mask;
	if (!m->vals[i]) return;
	/* Shift back the entries of the run that may move into the hole. */
	for (uint32_t j = (i + 1) & mask; m->vals[j]; j = (j + 1) & mask) {
		uint32_t home = id_slot(m->keys[j], mask);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->vals[i] = NULL;
	m->n--;
}

static void map_free(idmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- types ------------------------------------------------------------ */

typedef struct conn conn;

/* The sending end of a remote channel (dialed connections). */
typedef struct ochan {
	uint64_t id;
	fl_channel *ch; /* consumer side is ours: poll under conn->mu */
	conn *conn;     /* NULL once its connection was reaped */
	uint32_t idx;   /* in conn->outs */
	uint32_t credits;
	uint32_t inflight; /* its buffers in the send in flight (0..2) */
	bool zombie;       /* closed while inflight: the send callback frees it */
	/* a barrier of an unaligned checkpoint taken from ch, to send */
	bool has_bar;
	fl_prio_barrier bar;
} ochan;

/* The receiving end of a remote channel (accepted connections). A pending
 * one (ch == NULL) was announced by the sender before fl_netx_in. */
typedef struct ichan {
	uint64_t id;
	fl_channel *ch; /* producer side is ours */
	conn *conn;     /* the connection it is bound to */
	uint32_t idx;   /* in conn->ins */
	uint32_t nbufs;
	fl_xbuf **held; /* buffers taken from ch and granted as credit */
	uint32_t nheld;
	uint32_t grant;  /* credits taken, not yet sent */
	uint32_t thresh; /* grant in batches of this many (unless starved) */
	/* Credits the sender holds (sent, not yet used by a DATA): written
	 * under conn->mu, read by the pump without it. */
	_Atomic uint32_t outstanding;
	bool orphan; /* its connection or sender is gone: never rebind */
} ichan;

typedef enum { C_CONNECTING, C_UP, C_DEAD } conn_state;

struct conn {
	conn *next; /* nx->conns, under nx->mu */
	fl_netx *nx;
	pthread_mutex_t mu;
	/* state and sending are written under mu; the pump reads them
	 * without it to skip connections with nothing to do. */
	_Atomic int state;     /* conn_state */
	bool dialed;           /* we dialed: we send data; else we accepted: we receive */
	bool hello;            /* the peer's HELLO arrived */
	bool auth_sent;        /* our AUTH is queued */
	bool authed;           /* the peer's AUTH checked out: other frames flow */
	bool unauthed_counted; /* accepted and counted in nx->unauthed until authed or reaped */
	uint8_t my_nonce[NONCE], peer_nonce[NONCE];
	char remote[64];  /* an accepted connection's remote address, for refusals */
	int64_t start_ns; /* connected (or accepted): the handshake's deadline runs from here */
	/* HELLO and AUTH waiting for the next send: the only frames that go
	 * out before the peer authenticated */
	uint8_t hs[HDR + HELLO_MAX + HDR + FL_AUTH_PROOF];
	size_t hs_len;
	bool silent;             /* torn down by destroy: do not report */
	char peer[ADDR_MAX + 1]; /* peer's data address ("" until known) */
	int err;
	char why[256];

	nng_stream_dialer *dialer;
	nng_stream *s;
	nng_aio *dial_aio, *tx_aio, *rx_aio;

	idmap chans; /* id -> ochan (dialed) or ichan (accepted) bound here */
	ochan **outs;
	uint32_t nouts, outs_cap, rr;
	ichan **ins;
	uint32_t nins, ins_cap, npending;

	/* control frames waiting for the next send */
	uint8_t *ctl;
	size_t ctl_len, ctl_cap;

	/* the send in flight */
	_Atomic bool sending;
	uint8_t *txs; /* scratch: control, credits, headers, small payloads */
	size_t txs_len, txs_cap;
	/* up to two buffers sent from their own memory: [txs][b0][h1][b1] */
	uint32_t ntx;
	ochan *tx_oc[2];
	fl_xbuf *tx_b[2];
	uint8_t tx_h1[2 * HDR + BAR_FIXED]; /* b1's header, maybe behind a BARRIER */
	uint32_t tx_h1_len;
	size_t tx_total, tx_done;
	int64_t last_tx_ns, last_rx_ns;

	/* receive parser: header bytes, then a payload streamed to rx_dst */
	uint8_t *rxbuf;
	size_t rx_cap;
	uint8_t rx_hdr[HDR];
	uint32_t rx_hdr_have;
	bool rx_in_payload;
	uint8_t rx_type;
	uint32_t rx_len, rx_left;
	uint8_t *rx_dst; /* NULL: discard */
	fl_xbuf *rx_b;   /* the channel buffer being filled */
	ichan *rx_ich;
	uint8_t *rx_bar; /* a BARRIER payload being received (malloc'd) */
	uint64_t rx_bar_ch;
	uint8_t hello_buf[HELLO_MAX];
	uint8_t auth_buf[FL_AUTH_PROOF];
};

struct fl_netx {
	pthread_mutex_t mu;
	fl_notify notify; /* consumer of out channels, producer of in channels */
	_Atomic int closing;
	pthread_t pump;
	bool pump_started;

	fl_netx_lost_fn on_lost;
	void *ud;
	int64_t connect_timeout_ms, heartbeat_ns, peer_timeout_ns;
	uint8_t *key; /* the cluster secret (copy), NULL/0: none */
	size_t keylen;
	struct fl_tls *tls;   /* borrowed; NULL: no TLS */
	const char *scheme;   /* "tcp", or "tls+tcp" with TLS on for data */
	_Atomic int unauthed; /* accepted connections not authenticated yet */

	nng_stream_listener *listener;
	nng_aio *accept_aio;
	char addr[ADDR_MAX + 16];

	conn *conns;
	idmap outs, ins; /* every open channel, by direction */

	_Atomic uint64_t buffers_out, bytes_out, buffers_in, bytes_in, discarded, peers_lost;
};

/* ---- small helpers ------------------------------------------------------ */

static int map_nng(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT: return FLINC_ETIMEDOUT;
	case NNG_ENOMEM: return FLINC_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL: return FLINC_EINVAL;
	default: return FLINC_EIO;
	}
}

static void put_hdr(uint8_t *p, uint8_t type, uint32_t arg, uint64_t id)
{
	p[0] = type;
	p[1] = p[2] = p[3] = 0;
	memcpy(p + 4, &arg, 4);
	memcpy(p + 8, &id, 8);
}

/* A debloat target in a CREDIT's reserved field and back: 64-byte units
 * rounded up; 0 = not announced; 0xffff = 4 MiB or more, read as whole
 * buffers. */
#define DEBLOAT_UNIT 64u
static uint16_t target_units(uint32_t bytes)
{
	if (!bytes) return 0;
	uint32_t u = bytes / DEBLOAT_UNIT + (bytes % DEBLOAT_UNIT != 0);
	return u > 0xffffu ? 0xffffu : (uint16_t)u;
}

static uint32_t target_bytes(uint16_t units)
{
	return units == 0xffffu ? FL_TARGET_FULL : (uint32_t)units * DEBLOAT_UNIT;
}

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap) return;
	size_t n = *cap ? *cap : 256;
	while (n < need) n *= 2;
	*buf = fl_realloc(*buf, n);
	*cap = n;
}

/* Queue a control frame for the next send. c->mu held. */
static void ctl_frame(conn *c, uint8_t type, uint32_t arg, uint64_t id, const void *payload, uint32_t plen)
{
	reserve(&c->ctl, &c->ctl_cap, c->ctl_len + HDR + plen);
	put_hdr(c->ctl + c->ctl_len, type, arg, id);
	if (plen) memcpy(c->ctl + c->ctl_len + HDR, payload, plen);
	c->ctl_len += HDR + plen;
}

/* Queue a handshake frame (HELLO, AUTH). c->mu held (or c not shared yet). */
static void hs_frame(conn *c, uint8_t type, const void *payload, uint32_t plen)
{
	put_hdr(c->hs + c->hs_len, type, plen, 0);
	memcpy(c->hs + c->hs_len + HDR, payload, plen);
	c->hs_len += HDR + plen;
}

static void hs_hello(conn *c)
{
	uint8_t p[HELLO_MAX];
	uint32_t magic = HELLO_MAGIC;
	uint16_t ver = HELLO_VERSION, n = (uint16_t)strlen(c->nx->addr);
	memcpy(p, &magic, 4);
	memcpy(p + 4, &ver, 2);
	memcpy(p + 6, &n, 2);
	memcpy(p + 8, c->my_nonce, NONCE);
	memcpy(p + 8 + NONCE, c->nx->addr, n);
	hs_frame(c, F_HELLO, p, 8u + NONCE + n);
}

/* This side's proof over both nonces (dialer's first). */
static void proof_of(const conn *c, bool dialer, uint8_t out[FL_AUTH_PROOF])
{
	const uint8_t *nc = c->dialed ? c->my_nonce : c->peer_nonce;
	const uint8_t *ns = c->dialed ? c->peer_nonce : c->my_nonce;
	fl_auth_proof(c->nx->key, c->nx->keylen, dialer ? FL_AUTH_ROLE_CLIENT : FL_AUTH_ROLE_SERVER, PURPOSE,
		      nc, ns, out);
}

static void hs_auth(conn *c)
{
	uint8_t p[FL_AUTH_PROOF];
	proof_of(c, c->dialed, p);
	hs_frame(c, F_AUTH, p, sizeof p);
	c->auth_sent = true;
}

/* "host:port" -> "SCHEME://host:port" (scheme "tcp" or "tls+tcp"); an
 * address with a scheme must have that one. False if it does not fit or
 * has another scheme. */
static bool norm_addr(const char *in, const char *scheme, char *out, size_t cap)
{
	const char *sep = strstr(in, "://");
	if (sep && ((size_t)(sep - in) != strlen(scheme) || strncmp(in, scheme, (size_t)(sep - in)) != 0))
		return false;
	int n = sep ? snprintf(out, cap, "%s", in) : snprintf(out, cap, "%s://%s", scheme, in);
	return n > (int)strlen(scheme) + 3 && (size_t)n < cap;
}

/* Mark c broken (first failure wins) and wake the pump to reap it.
 * c->mu held. */
static void conn_fail(conn *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void conn_fail(conn *c, int err, const char *fmt, ...)
{
	if (c->state == C_DEAD) return;
	c->state = C_DEAD;
	c->err = err;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	fl_notify_signal(&c->nx->notify);
}

/* ---- channels ----------------------------------------------------------- */

static void ochan_free(ochan *oc)
{
	free(oc->bar.blob);
	fl_channel_destroy(oc->ch);
	free(oc);
}

static void ichan_free(ichan *ic)
{
	fl_channel_destroy(ic->ch);
	free(ic->held);
	free(ic);
}

static void outs_add(conn *c, ochan *oc)
{
	if (c->nouts == c->outs_cap) {
		c->outs_cap = c->outs_cap ? c->outs_cap * 2 : 8;
		c->outs = fl_realloc(c->outs, c->outs_cap * sizeof(ochan *));
	}
	oc->idx = c->nouts;
	c->outs[c->nouts++] = oc;
	map_put(&c->chans, oc->id, oc);
}

static void outs_remove(conn *c, ochan *oc)
{
	ochan *last = c->outs[--c->nouts];
	c->outs[oc->idx] = last;
	last->idx = oc->idx;
	map_del(&c->chans, oc->id);
}

static void ins_add(conn *c, ichan *ic)
{
	if (c->nins == c->ins_cap) {
		c->ins_cap = c->ins_cap ? c->ins_cap * 2 : 8;
		c->ins = fl_realloc(c->ins, c->ins_cap * sizeof(ichan *));
	}
	ic->idx = c->nins;
	c->ins[c->nins++] = ic;
	map_put(&c->chans, ic->id, ic);
	ic->conn = c;
	if (!ic->ch) c->npending++;
}

static void ins_remove(conn *c, ichan *ic)
{
	ichan *last = c->ins[--c->nins];
	c->ins[ic->idx] = last;
	last->idx = ic->idx;
	map_del(&c->chans, ic->id);
	if (!ic->ch) c->npending--;
	if (c->rx_ich == ic) {
		/* Closed while its buffer was being filled: drop the rest. */
		c->rx_ich = NULL;
		c->rx_b = NULL;
		c->rx_dst = NULL;
	}
	ic->conn = NULL;
}

/* Take the buffers the consumer freed and turn them into credit.
 * c->mu held. */
static void grant(ichan *ic)
{
	fl_xbuf *b;
	while (ic->nheld < ic->nbufs && (b = fl_channel_try_acquire(ic->ch))) {
		ic->held[ic->nheld++] = b;
		ic->grant++;
	}
}

/* Worth granting credit for ic now: a batch of buffers is free, or the
 * sender has no credit left. Lock-free reads, so the pump can ask with
 * only nx->mu held (which keeps ic alive). */
static bool wants_credit(ichan *ic)
{
	uint32_t f = fl_channel_free_count(ic->ch);
	return f && (f >= ic->thresh || atomic_load_explicit(&ic->outstanding, memory_order_relaxed) == 0);
}

/* ---- sending ------------------------------------------------------------ */

static void tx_submit(conn *c)
{
	struct {
		uint8_t *p;
		size_t n;
	} seg[4] = { { c->txs, c->txs_len } };
	unsigned ns = 1;
	if (c->ntx > 0) seg[ns].p = c->tx_b[0]->data, seg[ns++].n = c->tx_b[0]->len;
	if (c->ntx > 1) {
		seg[ns].p = c->tx_h1, seg[ns++].n = c->tx_h1_len;
		seg[ns].p = c->tx_b[1]->data, seg[ns++].n = c->tx_b[1]->len;
	}
	/* After a partial write, skip what went out already. */
	nng_iov iov[4];
	unsigned k = 0;
	size_t skip = c->tx_done;
	for (unsigned i = 0; i < ns; i++) {
		if (skip >= seg[i].n) {
			skip -= seg[i].n;
			continue;
		}
		iov[k].iov_buf = seg[i].p + skip;
		iov[k++].iov_len = seg[i].n - skip;
		skip = 0;
	}
	nng_aio_set_iov(c->tx_aio, k, iov);
	nng_stream_send(c->s, c->tx_aio);
}

/* The buffers oc's taken barrier overtook that are still in the ring,
 * as items [u32 len][bytes] at q (NULL: only count). Returns their bytes;
 * their number in *n. */
static size_t overtaken(ochan *oc, uint8_t *q, uint32_t *n)
{
	size_t bytes = 0;
	*n = 0;
	for (uint32_t s = fl_channel_read_seq(oc->ch); (int32_t)(oc->bar.ring_seq - s) > 0; s++) {
		const fl_xbuf *x = fl_channel_peek(oc->ch, s);
		if (!x) break;
		if (q) {
			memcpy(q + bytes, &x->len, 4);
			memcpy(q + bytes + 4, x->data, x->len);
		}
		bytes += 4 + (size_t)x->len;
		(*n)++;
	}
	return bytes;
}

/* oc's taken barrier is sent (or dropped). */
static void bar_done(ochan *oc)
{
	oc->has_bar = false;
	free(oc->bar.blob);
	oc->bar.blob = NULL;
}

/* The BARRIER frame of oc's taken barrier at dst (capacity checked by
 * the caller, HDR + BAR_FIXED + overtaken()). Returns its length. */
static size_t put_barrier(ochan *oc, uint8_t *dst)
{
	uint32_t nblob;
	size_t len = BAR_FIXED + overtaken(oc, dst + HDR + BAR_FIXED, &nblob);
	put_hdr(dst, F_BARRIER, (uint32_t)len, oc->id);
	memcpy(dst + HDR, &oc->bar.id, 8);
	dst[HDR + 8] = oc->bar.flags;
	memcpy(dst + HDR + 9, &nblob, 4);
	bar_done(oc);
	return HDR + len;
}

/* Start the next send if the connection is idle and has something to
 * say: control frames, credits, then one buffer per channel that has data
 * and credit, round-robin: small ones copied into the scratch until it is
 * full, and at most two large ones sent from their own memory (nng takes
 * four iovs). c->mu held. */
static void kick(conn *c)
{
	if (c->state != C_UP || c->sending) return;
	fl_netx *nx = c->nx;
	size_t cap = c->hs_len + c->ctl_len + (size_t)c->nins * HDR + TX_BATCH + HDR;
	reserve(&c->txs, &c->txs_cap, cap);
	size_t n = c->hs_len;
	if (n) memcpy(c->txs, c->hs, n);
	c->hs_len = 0;
	if (!c->authed) {
		/* Nothing but the handshake before the peer proved the secret. */
		if (n) {
			c->txs_len = c->tx_total = n;
			c->tx_done = 0;
			c->sending = true;
			c->last_tx_ns = fl_mono_ns();
			tx_submit(c);
		}
		return;
	}
	if (c->ctl_len) memcpy(c->txs + n, c->ctl, c->ctl_len);
	n += c->ctl_len;
	c->ctl_len = 0;
	for (uint32_t i = 0; i < c->nins; i++) {
		ichan *ic = c->ins[i];
		if (!ic->grant) continue;
		put_hdr(c->txs + n, F_CREDIT, ic->grant, ic->id);
		uint16_t tu = target_units(fl_channel_target(ic->ch));
		memcpy(c->txs + n + 2, &tu, 2);
		n += HDR;
		atomic_fetch_add_explicit(&ic->outstanding, ic->grant, memory_order_relaxed);
		ic->grant = 0;
	}
	/* Passes of one buffer per channel, until the scratch is full, the
	 * zero-copy slots are taken, or nothing is ready. */
	size_t end = n + TX_BATCH;
	uint32_t no = c->nouts;
	uint64_t nbuf = 0, nbytes = 0;
	bool more = no > 0;
	while (more && c->ntx < 2) {
		more = false;
		uint32_t start = c->rr;
		for (uint32_t k = 0; k < no && c->ntx < 2; k++) {
			if (c->ntx == 0 && n + HDR + SMALL_COPY > end) break;
			uint32_t idx = (start + k) % no;
			ochan *oc = c->outs[idx];
			if (!oc->has_bar && fl_channel_take_barrier(oc->ch, &oc->bar)) oc->has_bar = true;
			if (oc->has_bar) {
				/* without credit, at the end of the stream so far:
				 * behind every DATA of the channel sent before */
				if (c->ntx) continue;
				uint32_t nover;
				size_t bn = HDR + BAR_FIXED + overtaken(oc, NULL, &nover);
				if (bn - HDR > BARRIER_MAX) {
					fl_log(FL_LOG_WARN, LOG,
					       "the in-flight data of checkpoint %lld on channel %016llx is over %u "
					       "MiB: the barrier is dropped (the checkpoint will not complete)",
					       (long long)oc->bar.id, (unsigned long long)oc->id,
					       BARRIER_MAX >> 20);
					bar_done(oc);
				} else {
					reserve(&c->txs, &c->txs_cap, n + bn + TX_BATCH + HDR);
					n += put_barrier(oc, c->txs + n);
				}
				more = true;
			}
			if (!oc->credits) continue;
			fl_xbuf *b = fl_channel_poll(oc->ch);
			if (!b) continue;
			/* A barrier posted since, before b was sent, goes first
			 * (nothing of the ring precedes it any more: no items). */
			if (!oc->has_bar && fl_channel_take_barrier(oc->ch, &oc->bar)) oc->has_bar = true;
			bool bar_first = oc->has_bar &&
				(int32_t)(fl_channel_read_seq(oc->ch) - 1 - oc->bar.ring_seq) >= 0;
			oc->credits--;
			c->rr = idx + 1;
			nbuf++;
			nbytes += b->len;
			more = true;
			if (c->ntx == 1) {
				/* behind the first large one: the second slot */
				c->tx_h1_len = bar_first ? (uint32_t)put_barrier(oc, c->tx_h1) : 0;
				put_hdr(c->tx_h1 + c->tx_h1_len, F_DATA, b->len, oc->id);
				c->tx_h1_len += HDR;
				c->tx_oc[1] = oc;
				c->tx_b[1] = b;
				oc->inflight++;
				c->ntx = 2;
				break;
			}
			if (bar_first) {
				reserve(&c->txs, &c->txs_cap,
					n + 2 * HDR + BAR_FIXED + SMALL_COPY + TX_BATCH);
				n += put_barrier(oc, c->txs + n);
			}
			put_hdr(c->txs + n, F_DATA, b->len, oc->id);
			n += HDR;
			if (b->len > SMALL_COPY) {
				c->tx_oc[0] = oc;
				c->tx_b[0] = b;
				oc->inflight++;
				c->ntx = 1;
				continue;
			}
			memcpy(c->txs + n, b->data, b->len);
			n += b->len;
			fl_channel_release(oc->ch, b);
		}
	}
	if (n == 0) return;
	atomic_fetch_add_explicit(&nx->buffers_out, nbuf, memory_order_relaxed);
	atomic_fetch_add_explicit(&nx->bytes_out, nbytes, memory_order_relaxed);
	c->txs_len = n;
	c->tx_total = n;
	if (c->ntx > 0) c->tx_total += c->tx_b[0]->len;
	if (c->ntx > 1) c->tx_total += c->tx_h1_len + c->tx_b[1]->len;
	c->tx_done = 0;
	c->sending = true;
	c->last_tx_ns = fl_mono_ns();
	tx_submit(c);
}

static void tx_cb(void *arg)
{
	conn *c = arg;
	int rv = nng_aio_result(c->tx_aio);
	pthread_mutex_lock(&c->mu);
	if (rv == 0) {
		c->tx_done += nng_aio_count(c->tx_aio);
		if (c->tx_done < c->tx_total && c->state == C_UP) {
			tx_submit(c); /* a partial write: send the rest */
			pthread_mutex_unlock(&c->mu);
			return;
		}
	}
	for (uint32_t i = 0; i < c->ntx; i++) {
		ochan *oc = c->tx_oc[i];
		oc->inflight--;
		if (!oc->zombie)
			fl_channel_release(oc->ch, c->tx_b[i]);
		else if (!oc->inflight)
			ochan_free(oc);
		c->tx_oc[i] = NULL;
		c->tx_b[i] = NULL;
	}
	c->ntx = 0;
	c->sending = false;
	if (rv != 0)
		conn_fail(c, map_nng(rv), "send to %s failed: %s", c->peer, nng_strerror(rv));
	else
		kick(c);
	pthread_mutex_unlock(&c->mu);
}

/* ---- receiving ---------------------------------------------------------- */

static void rx_start(conn *c)
{
	/* Until the peer authenticated, small reads into a small buffer:
	 * connections that never authenticate cost little. */
	size_t want = !c->authed ? RX_HANDSHAKE : c->dialed ? RX_STAGING_DIALER : RX_STAGING;
	if (c->rx_cap != want) {
		free(c->rxbuf);
		c->rxbuf = fl_malloc(want);
		c->rx_cap = want;
	}
	nng_iov iov = { .iov_buf = c->rxbuf, .iov_len = c->rx_cap };
	nng_aio_set_iov(c->rx_aio, 1, &iov);
	nng_stream_recv(c->s, c->rx_aio);
}

/* Re-take c->mu behind nx->mu (lock order) for a frame that touches the
 * channel tables. The parser state is only touched by the receive
 * callback, so letting go of c->mu for a moment is safe. */
static void relock_with_nx(conn *c)
{
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_lock(&c->nx->mu);
	pthread_mutex_lock(&c->mu);
}

/* OPEN: bind id to this connection, registered or not yet. */
static void peer_open(conn *c, uint64_t id)
{
	fl_netx *nx = c->nx;
	relock_with_nx(c);
	if (c->state == C_DEAD) goto out;
	ichan *ic = map_get(&nx->ins, id);
	if (!ic) {
		if (c->npending >= PENDING_MAX) {
			conn_fail(c, FLINC_EPROTO, "%s announced more than %u unregistered channels", c->peer,
				  PENDING_MAX);
			goto out;
		}
		ic = fl_calloc(1, sizeof(*ic));
		ic->id = id;
		map_put(&nx->ins, id, ic);
		ins_add(c, ic);
	} else if (!ic->conn && !ic->orphan) {
		ins_add(c, ic);
		grant(ic);
		kick(c);
	} else {
		fl_log(FL_LOG_WARN, LOG, "channel %016llx opened by %s is already %s; ignored",
		       (unsigned long long)id, c->peer,
		       ic->orphan ? "closed by its sender" : "bound to another sender");
	}
out:
	pthread_mutex_unlock(&nx->mu);
}

/* CLOSE: the sender is done with id. */
static void peer_close(conn *c, uint64_t id)
{
	fl_netx *nx = c->nx;
	relock_with_nx(c);
	ichan *ic = c->state == C_DEAD ? NULL : map_get(&c->chans, id);
	if (ic) {
		ins_remove(c, ic);
		if (!ic->ch) {
			map_del(&nx->ins, id);
			ichan_free(ic);
		} else {
			ic->orphan = true; /* what arrived stays readable */
		}
	}
	pthread_mutex_unlock(&nx->mu);
}

static void data_begin(conn *c, uint64_t id, uint32_t len)
{
	c->rx_left = len;
	ichan *ic = map_get(&c->chans, id);
	if (!ic) {
		/* Closed here already: drop it. */
		atomic_fetch_add_explicit(&c->nx->discarded, 1, memory_order_relaxed);
		return;
	}
	if (!ic->ch || atomic_load_explicit(&ic->outstanding, memory_order_relaxed) == 0) {
		conn_fail(c, FLINC_EPROTO, "%s sent data without credit on channel %016llx", c->peer,
			  (unsigned long long)id);
		return;
	}
	atomic_fetch_sub_explicit(&ic->outstanding, 1, memory_order_relaxed);
	fl_xbuf *b = ic->held[--ic->nheld];
	if (b->cap < len) {
		/* A larger buffer than ours (an oversized record): grow for good,
		 * as the writer does. */
		uint32_t cap = b->cap ? b->cap : 1;
		while (cap < len) cap *= 2;
		b->data = fl_realloc(b->data, cap);
		b->cap = cap;
	}
	c->rx_b = b;
	c->rx_ich = ic;
	c->rx_dst = b->data;
}

static void hello_done(conn *c)
{
	uint32_t magic;
	uint16_t ver, n;
	const char *who = c->peer[0] ? c->peer : "a peer";
	memcpy(&magic, c->hello_buf, 4);
	memcpy(&ver, c->hello_buf + 4, 2);
	memcpy(&n, c->hello_buf + 6, 2);
	if (magic != HELLO_MAGIC) {
		conn_fail(c, FLINC_EPROTO, "%s is not a flinc data service", who);
		return;
	}
	if (ver != HELLO_VERSION) {
		conn_fail(
			c, FLINC_EPROTO,
			"%s speaks data protocol version %u, this process %u (version 2 authenticates every "
			"connection)",
			who, ver, HELLO_VERSION);
		return;
	}
	if (8u + NONCE + n != c->rx_len || n > ADDR_MAX) {
		conn_fail(c, FLINC_EPROTO, "%s sent a malformed HELLO", who);
		return;
	}
	memcpy(c->peer_nonce, c->hello_buf + 8, NONCE);
	if (!c->dialed) {
		/* Only a name for messages until the peer authenticated. */
		memcpy(c->peer, c->hello_buf + 8 + NONCE, n);
		c->peer[n] = 0;
	}
	c->hello = true;
	if (c->dialed) {
		hs_auth(c);
		kick(c);
	}
}

/* The peer's AUTH: check its proof. The acceptor answers with its own;
 * the dialer may send its channels from now on. */
static void auth_done(conn *c)
{
	uint8_t want[FL_AUTH_PROOF];
	proof_of(c, !c->dialed, want);
	if (!fl_ct_equal(want, c->auth_buf, sizeof want)) {
		conn_fail(
			c, FLINC_EPROTO,
			c->dialed
				? "%s could not prove security.cluster.secret (a different secret, or not a "
				  "flinc data service)"
				: "%s failed authentication (a different security.cluster.secret)",
			c->peer[0] ? c->peer : "a peer");
		return;
	}
	c->authed = true;
	if (c->unauthed_counted) {
		c->unauthed_counted = false;
		atomic_fetch_sub(&c->nx->unauthed, 1);
	}
	if (!c->dialed) hs_auth(c);
	kick(c);
}

/* A BARRIER frame is in c->rx_bar: post it on its channel, beside the
 * buffers received so far. */
static void barrier_done(conn *c)
{
	uint8_t *p = c->rx_bar;
	c->rx_bar = NULL;
	int64_t id;
	uint32_t nblob, k = 0;
	memcpy(&id, p, 8);
	uint8_t flags = p[8];
	memcpy(&nblob, p + 9, 4);
	size_t len = c->rx_len - BAR_FIXED;
	const uint8_t *items = p + BAR_FIXED;
	if (!fl_inflight_items(items, len, &k) || k != nblob || id <= 0) {
		free(p);
		conn_fail(c, FLINC_EPROTO, "%s sent a malformed barrier on channel %016llx", c->peer,
			  (unsigned long long)c->rx_bar_ch);
		return;
	}
	ichan *ic = map_get(&c->chans, c->rx_bar_ch);
	if (!ic || !ic->ch) {
		/* closed here, or its task not started: it cannot take part */
		free(p);
		return;
	}
	memmove(p, items, len);
	fl_channel_post_barrier(ic->ch, id, flags | FL_BARRIER_UNALIGNED, fl_channel_sent_seq(ic->ch),
				nblob ? p : NULL, len, nblob);
	if (!nblob) free(p);
}

static void frame_done(conn *c)
{
	c->rx_in_payload = false;
	if (c->rx_type == F_BARRIER) {
		barrier_done(c);
	} else if (c->rx_type == F_HELLO) {
		hello_done(c);
	} else if (c->rx_type == F_AUTH) {
		auth_done(c);
	} else if (c->rx_type == F_DATA && c->rx_b) {
		ichan *ic = c->rx_ich;
		c->rx_b->len = c->rx_len;
		/* counted before delivery: once the consumer has a buffer, the
		 * statistics include it (the tests compare them after the end) */
		atomic_fetch_add_explicit(&c->nx->buffers_in, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&c->nx->bytes_in, c->rx_len, memory_order_relaxed);
		fl_channel_send(ic->ch, c->rx_b);
		/* A consumer keeping up has released earlier buffers by now:
		 * grant them from here, without waiting for the pump. */
		if (wants_credit(ic)) {
			grant(ic);
			kick(c);
		}
	}
	c->rx_b = NULL;
	c->rx_ich = NULL;
	c->rx_dst = NULL;
}

/* A complete header is in c->rx_hdr. */
static void header_done(conn *c)
{
	uint8_t type = c->rx_hdr[0];
	uint32_t arg;
	uint64_t id;
	memcpy(&arg, c->rx_hdr + 4, 4);
	memcpy(&id, c->rx_hdr + 8, 8);
	c->rx_type = type;
	c->rx_len = 0;
	c->rx_left = 0;
	c->rx_dst = NULL;
	c->rx_b = NULL;
	c->rx_ich = NULL;
	const char *who = c->peer[0] ? c->peer : "a peer";
	if (!c->hello && type != F_HELLO) {
		conn_fail(c, FLINC_EPROTO, "%s did not start with HELLO (frame type %u)", who, type);
		return;
	}
	if (!c->authed && type != F_HELLO && type != F_AUTH) {
		conn_fail(c, FLINC_EPROTO, "%s sent frame type %u before authenticating", who, type);
		return;
	}
	bool to_dialer = type == F_CREDIT,
	     to_acceptor = type == F_OPEN || type == F_DATA || type == F_CLOSE || type == F_BARRIER;
	if ((c->dialed && to_acceptor) || (!c->dialed && to_dialer)) {
		conn_fail(c, FLINC_EPROTO, "%s sent frame type %u the wrong way", who, type);
		return;
	}
	switch (type) {
	case F_HELLO:
		if (c->hello || arg < 8 || arg > HELLO_MAX) {
			conn_fail(c, FLINC_EPROTO, "bad HELLO from %s", who);
			return;
		}
		c->rx_len = c->rx_left = arg;
		c->rx_dst = c->hello_buf;
		break;
	case F_AUTH:
		/* The dialer's comes first; the acceptor's only after it. */
		if (c->authed || arg != FL_AUTH_PROOF || (c->dialed && !c->auth_sent)) {
			conn_fail(c, FLINC_EPROTO, "%s sent an AUTH out of turn", who);
			return;
		}
		c->rx_len = c->rx_left = arg;
		c->rx_dst = c->auth_buf;
		break;
	case F_PING: break;
	case F_CREDIT: {
		ochan *oc = map_get(&c->chans, id);
		if (!oc) break; /* closed here */
		if (arg > CREDIT_MAX || oc->credits + arg > CREDIT_MAX) {
			conn_fail(c, FLINC_EPROTO, "%s granted %u credits on channel %016llx", who, arg,
				  (unsigned long long)id);
			return;
		}
		oc->credits += arg;
		uint16_t tu;
		memcpy(&tu, c->rx_hdr + 2, 2);
		if (tu) fl_channel_set_target(oc->ch, target_bytes(tu));
		kick(c);
		break;
	}
	case F_OPEN: peer_open(c, id); break;
	case F_CLOSE: peer_close(c, id); break;
	case F_DATA:
		if (arg > DATA_MAX) {
			conn_fail(c, FLINC_EPROTO, "%s sent a %u-byte buffer", who, arg);
			return;
		}
		c->rx_len = arg;
		data_begin(c, id, arg);
		break;
	case F_BARRIER:
		if (arg < BAR_FIXED || arg > BARRIER_MAX) {
			conn_fail(c, FLINC_EPROTO, "%s sent a %u-byte barrier", who, arg);
			return;
		}
		free(c->rx_bar);
		c->rx_bar = fl_malloc(arg);
		c->rx_bar_ch = id;
		c->rx_len = c->rx_left = arg;
		c->rx_dst = c->rx_bar;
		break;
	default: conn_fail(c, FLINC_EPROTO, "%s sent unknown frame type %u", who, type); return;
	}
	if (c->state == C_DEAD) return;
	if (c->rx_left)
		c->rx_in_payload = true;
	else
		frame_done(c);
}

/* Consume n received bytes. c->mu held (let go briefly by peer_open and
 * peer_close). */
static void parse(conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	while (p < end && c->state != C_DEAD) {
		if (!c->rx_in_payload) {
			size_t k = FL_MIN((size_t)(HDR - c->rx_hdr_have), (size_t)(end - p));
			memcpy(c->rx_hdr + c->rx_hdr_have, p, k);
			c->rx_hdr_have += (uint32_t)k;
			p += k;
			if (c->rx_hdr_have < HDR) break;
			c->rx_hdr_have = 0;
			header_done(c);
			continue;
		}
		size_t k = FL_MIN((size_t)c->rx_left, (size_t)(end - p));
		if (c->rx_dst) memcpy(c->rx_dst + (c->rx_len - c->rx_left), p, k);
		c->rx_left -= (uint32_t)k;
		p += k;
		if (!c->rx_left) frame_done(c);
	}
}

static void rx_cb(void *arg)
{
	conn *c = arg;
	int rv = nng_aio_result(c->rx_aio);
	pthread_mutex_lock(&c->mu);
	if (c->state == C_DEAD) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (rv != 0) {
		if ((rv == NNG_ECLOSED || rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET) && c->auth_sent &&
		    !c->authed)
			conn_fail(c, FLINC_EPROTO,
				  "%s refused this process's proof and closed the connection (a different "
				  "security.cluster.secret?)",
				  c->peer[0] ? c->peer : "a peer");
		else if (rv == NNG_ECLOSED || rv == NNG_ECONNSHUT || rv == NNG_ECONNRESET)
			conn_fail(c, FLINC_EIO, "connection to %s closed by the peer",
				  c->peer[0] ? c->peer : "a peer");
		else
			conn_fail(c, map_nng(rv), "receive from %s failed: %s",
				  c->peer[0] ? c->peer : "a peer", nng_strerror(rv));
		pthread_mutex_unlock(&c->mu);
		return;
	}
	c->last_rx_ns = fl_mono_ns();
	parse(c, c->rxbuf, nng_aio_count(c->rx_aio));
	if (c->state != C_DEAD) rx_start(c);
	pthread_mutex_unlock(&c->mu);
}

/* ---- connections -------------------------------------------------------- */

static void conn_free(conn *c)
{
	if (!c) return;
	if (c->dial_aio) nng_aio_free(c->dial_aio);
	if (c->tx_aio) nng_aio_free(c->tx_aio);
	if (c->rx_aio) nng_aio_free(c->rx_aio);
	if (c->s) nng_stream_free(c->s);
	if (c->dialer) nng_stream_dialer_free(c->dialer);
	map_free(&c->chans);
	free(c->outs);
	free(c->ins);
	free(c->ctl);
	free(c->txs);
	free(c->rxbuf);
	free(c->rx_bar);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static void dial_cb(void *arg);

static conn *conn_new(fl_netx *nx, bool dialed)
{
	conn *c = fl_calloc(1, sizeof(*c));
	c->nx = nx;
	c->dialed = dialed;
	pthread_mutex_init(&c->mu, NULL);
	c->state = dialed ? C_CONNECTING : C_UP;
	if ((dialed && nng_aio_alloc(&c->dial_aio, dial_cb, c) != 0) ||
	    nng_aio_alloc(&c->tx_aio, tx_cb, c) != 0 || nng_aio_alloc(&c->rx_aio, rx_cb, c) != 0) {
		conn_free(c);
		return NULL;
	}
	nng_aio_set_timeout(c->tx_aio, NNG_DURATION_INFINITE);
	nng_aio_set_timeout(c->rx_aio, NNG_DURATION_INFINITE);
	c->rx_cap = RX_HANDSHAKE;
	c->rxbuf = fl_malloc(c->rx_cap);
	c->last_rx_ns = c->last_tx_ns = c->start_ns = fl_mono_ns();
	if (fl_random_bytes(c->my_nonce, sizeof c->my_nonce) != FLINC_OK) {
		conn_free(c);
		return NULL;
	}
	hs_hello(c);
	return c;
}

/* The remote address of stream s as text ("?" unknown). */
static void stream_remote(nng_stream *s, char *out, size_t cap)
{
	nng_sockaddr sa;
	snprintf(out, cap, "?");
	if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) != 0) return;
	if (sa.s_family == NNG_AF_INET) {
		const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
		snprintf(out, cap, "%u.%u.%u.%u:%u", a[0], a[1], a[2], a[3], ntohs(sa.s_in.sa_port));
	} else if (sa.s_family == NNG_AF_INET6) {
		char h[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, sa.s_in6.sa_addr, h, sizeof h);
		snprintf(out, cap, "[%s]:%u", h, ntohs(sa.s_in6.sa_port));
	}
}

static void tune_stream(nng_stream *s)
{
	/* Both are nng's defaults on most builds; failures only cost latency. */
	(void)nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true);
	(void)nng_stream_set_bool(s, NNG_OPT_TCP_KEEPALIVE, true);
}

static void dial_cb(void *arg)
{
	conn *c = arg;
	int rv = nng_aio_result(c->dial_aio);
	pthread_mutex_lock(&c->mu);
	if (rv == 0) c->s = nng_aio_get_output(c->dial_aio, 0); /* reaping frees it if we are dead */
	if (c->state == C_DEAD) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	if (rv != 0) {
		conn_fail(c, map_nng(rv), "connect to %s failed: %s", c->peer, nng_strerror(rv));
		pthread_mutex_unlock(&c->mu);
		return;
	}
	tune_stream(c->s);
	c->state = C_UP;
	c->last_rx_ns = c->last_tx_ns = c->start_ns = fl_mono_ns();
	rx_start(c);
	kick(c);
	pthread_mutex_unlock(&c->mu);
}

/* A dialed connection to url that is not broken, returned locked; NULL if
 * none. nx->mu held. */
static conn *find_dialed(fl_netx *nx, const char *url)
{
	for (conn *c = nx->conns; c; c = c->next) {
		if (!c->dialed || strcmp(c->peer, url) != 0) continue;
		pthread_mutex_lock(&c->mu);
		if (c->state != C_DEAD) return c;
		pthread_mutex_unlock(&c->mu);
	}
	return NULL;
}

/* Start dialing url; the new connection is listed and returned locked.
 * nx->mu held. */
static int conn_dial(fl_netx *nx, const char *url, conn **out, char *err, size_t errcap)
{
	conn *c = conn_new(nx, true);
	if (!c) {
		snprintf(err, errcap, "data service: out of memory");
		return FLINC_ENOMEM;
	}
	snprintf(c->peer, sizeof c->peer, "%s", url);
	int rv = nng_stream_dialer_alloc(&c->dialer, url);
	if (rv != 0) {
		snprintf(err, errcap, "data peer '%s': %s", url, nng_strerror(rv));
		conn_free(c);
		return map_nng(rv) == FLINC_EIO ? FLINC_EINVAL : map_nng(rv);
	}
	if (fl_tls_stream_dialer(nx->tls, FL_TLS_DATA, c->dialer, err, errcap) != FLINC_OK) {
		conn_free(c);
		return FLINC_EIO;
	}
	(void)nng_stream_dialer_set_bool(c->dialer, NNG_OPT_TCP_NODELAY, true);
	nng_aio_set_timeout(c->dial_aio, (nng_duration)nx->connect_timeout_ms);
	c->next = nx->conns;
	nx->conns = c;
	pthread_mutex_lock(&c->mu);
	nng_stream_dialer_dial(c->dialer, c->dial_aio);
	*out = c;
	return FLINC_OK;
}

static void accept_cb(void *arg)
{
	fl_netx *nx = arg;
	int rv = nng_aio_result(nx->accept_aio);
	if (atomic_load(&nx->closing) || rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		if (rv == 0) nng_stream_free(nng_aio_get_output(nx->accept_aio, 0));
		return;
	}
	if (rv != 0) {
		/* Out of descriptors and the like: say so, breathe, go on. */
		fl_log(FL_LOG_WARN, LOG, "accept on %s failed: %s", nx->addr, nng_strerror(rv));
		usleep(10000);
		nng_stream_listener_accept(nx->listener, nx->accept_aio);
		return;
	}
	nng_stream *s = nng_aio_get_output(nx->accept_aio, 0);
	char remote[64];
	stream_remote(s, remote, sizeof remote);
	conn *c = NULL;
	if (atomic_load(&nx->unauthed) >= UNAUTHED_MAX)
		fl_log_limited(&g_refused, FL_LOG_WARN, LOG,
			       "refused a data connection from %s: %d connections are still authenticating",
			       remote, UNAUTHED_MAX);
	else
		c = conn_new(nx, false);
	if (!c) {
		nng_stream_free(s);
	} else {
		tune_stream(s);
		c->s = s;
		snprintf(c->remote, sizeof c->remote, "%s", remote);
		c->unauthed_counted = true;
		atomic_fetch_add(&nx->unauthed, 1);
		pthread_mutex_lock(&nx->mu);
		c->next = nx->conns;
		nx->conns = c;
		pthread_mutex_lock(&c->mu);
		rx_start(c);
		kick(c);
		pthread_mutex_unlock(&c->mu);
		pthread_mutex_unlock(&nx->mu);
	}
	nng_stream_listener_accept(nx->listener, nx->accept_aio);
}

/* Tear down a broken connection that already left nx->conns: stop its I/O,
 * detach its channels, report it, free it. No lock held. */
static void reap(fl_netx *nx, conn *c)
{
	/* The dial first: its callback may still hand us a stream. */
	if (c->dial_aio) nng_aio_stop(c->dial_aio);
	pthread_mutex_lock(&c->mu);
	nng_stream *s = c->s;
	pthread_mutex_unlock(&c->mu);
	if (s) nng_stream_close(s);
	nng_aio_stop(c->tx_aio);
	nng_aio_stop(c->rx_aio);
	/* No callback runs any more; the send in flight was finished by its
	 * callback (buffer returned, or zombie freed). */
	pthread_mutex_lock(&nx->mu);
	pthread_mutex_lock(&c->mu);
	for (uint32_t i = 0; i < c->nouts; i++) c->outs[i]->conn = NULL;
	c->nouts = 0;
	while (c->nins) {
		ichan *ic = c->ins[c->nins - 1];
		ins_remove(c, ic);
		if (!ic->ch) {
			map_del(&nx->ins, ic->id);
			ichan_free(ic);
		} else {
			ic->orphan = true;
		}
	}
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&nx->mu);
	/* An accepted connection that never authenticated was never trusted:
	 * its HELLO may name any peer, so it is refused, not a lost peer. */
	bool report = !c->silent && c->peer[0] && (c->dialed || c->authed);
	if (report) {
		atomic_fetch_add(&nx->peers_lost, 1);
		fl_log(FL_LOG_WARN, LOG, "data peer lost: %s", c->why);
		if (nx->on_lost) nx->on_lost(nx->ud, c->peer, c->err, c->why);
	} else if (!c->silent && !c->dialed && !c->authed) {
		fl_log_limited(&g_refused, FL_LOG_WARN, LOG, "refused a data connection from %s: %s",
			       c->remote[0] ? c->remote : "an unknown address", c->why);
	}
	if (c->unauthed_counted) atomic_fetch_sub(&nx->unauthed, 1);
	conn_free(c);
}

/* ---- the pump ----------------------------------------------------------- */

/* Heartbeat duties of one connection. c->mu held. */
static void heartbeat(fl_netx *nx, conn *c, int64_t now)
{
	if (!c->authed && now - c->start_ns >= nx->connect_timeout_ms * 1000000LL) {
		conn_fail(c, FLINC_ETIMEDOUT, "%s did not authenticate within %lld ms",
			  c->peer[0] ? c->peer : "a peer", (long long)nx->connect_timeout_ms);
		return;
	}
	if (now - c->last_rx_ns >= nx->peer_timeout_ns) {
		conn_fail(c, FLINC_ETIMEDOUT, "nothing heard from %s for %lld ms",
			  c->peer[0] ? c->peer : "a peer", (long long)((now - c->last_rx_ns) / 1000000));
		return;
	}
	if (!c->sending && c->authed && now - c->last_tx_ns >= nx->heartbeat_ns)
		ctl_frame(c, F_PING, 0, 0, NULL, 0);
}

/* The service thread. Woken by every producer send into an out channel
 * and every consumer release of an in channel, it only takes a
 * connection's lock when there is something to do there: an idle sender
 * with data to pick up, a batch of credit to grant, or a heartbeat tick.
 * (c->ins and c->nouts only change under nx->mu, which the pump holds.) */
static void *pump_main(void *arg)
{
	fl_netx *nx = arg;
	pthread_setname_np(pthread_self(), "fl-netx");
	int64_t slice = FL_MIN(nx->heartbeat_ns / 2, 100 * 1000000LL);
	int64_t next_tick = 0;
	while (!atomic_load(&nx->closing)) {
		uint32_t ticket = fl_notify_ticket(&nx->notify);
		int64_t now = fl_mono_ns();
		bool tick = now >= next_tick;
		if (tick) next_tick = now + slice;
		conn *dead = NULL;
		pthread_mutex_lock(&nx->mu);
		for (conn **pp = &nx->conns; *pp;) {
			conn *c = *pp;
			int st = atomic_load(&c->state);
			if (st == C_UP) {
				bool need = tick;
				if (c->dialed) need |= c->nouts && !atomic_load(&c->sending);
				for (uint32_t i = 0; i < c->nins && !need; i++)
					need = c->ins[i]->ch && wants_credit(c->ins[i]);
				if (need) {
					pthread_mutex_lock(&c->mu);
					if (c->state == C_UP) {
						for (uint32_t i = 0; i < c->nins; i++)
							if (c->ins[i]->ch) grant(c->ins[i]);
						if (tick) heartbeat(nx, c, now);
						kick(c);
					}
					st = c->state;
					pthread_mutex_unlock(&c->mu);
				}
			}
			if (st == C_DEAD) {
				*pp = c->next;
				c->next = dead;
				dead = c;
			} else {
				pp = &c->next;
			}
		}
		pthread_mutex_unlock(&nx->mu);
		while (dead) {
			conn *c = dead;
			dead = c->next;
			reap(nx, c);
		}
		fl_notify_wait(&nx->notify, ticket, next_tick - fl_mono_ns());
	}
	return NULL;
}

/* ---- API ---------------------------------------------------------------- */

int fl_netx_create(const char *bind, fl_netx_lost_fn on_lost, void *ud, const fl_netx_opts *opts,
		   fl_netx **out, char *err, size_t errcap)
{
	char url[ADDR_MAX + 16];
	fl_netx_opts o = opts ? *opts : (fl_netx_opts){ 0 };
	const char *scheme = fl_tls_scheme(o.tls, FL_TLS_DATA);
	if (!bind || !norm_addr(bind, scheme, url, sizeof url)) {
		snprintf(err, errcap, "data service: bad bind address '%s' (%s:// only)",
			 bind ? bind : "(null)", scheme);
		return FLINC_EINVAL;
	}
	if (o.connect_timeout_ms < 0 || o.heartbeat_ms < 0 || o.peer_timeout_ms < 0) {
		snprintf(err, errcap, "data service: negative timeout");
		return FLINC_EINVAL;
	}
	if (o.secret_len > FL_SECRET_MAX || (o.secret_len && !o.secret)) {
		snprintf(err, errcap, "data service: bad secret");
		return FLINC_EINVAL;
	}
	fl_netx *nx = fl_calloc(1, sizeof(*nx));
	pthread_mutex_init(&nx->mu, NULL);
	if (o.secret_len) {
		nx->key = fl_malloc(o.secret_len);
		memcpy(nx->key, o.secret, o.secret_len);
		nx->keylen = o.secret_len;
	}
	fl_notify_init(&nx->notify);
	nx->on_lost = on_lost;
	nx->ud = ud;
	nx->tls = o.tls;
	nx->scheme = scheme;
	nx->connect_timeout_ms = o.connect_timeout_ms ? o.connect_timeout_ms : 5000;
	nx->heartbeat_ns = (o.heartbeat_ms ? o.heartbeat_ms : 1000) * 1000000LL;
	nx->peer_timeout_ns = (o.peer_timeout_ms ? o.peer_timeout_ms : 10000) * 1000000LL;
	if (nx->peer_timeout_ns <= nx->heartbeat_ns) {
		snprintf(err, errcap, "data service: peer timeout must exceed the heartbeat interval");
		goto fail_einval;
	}
	nng_url *u = NULL;
	int rv = nng_url_parse(&u, url);
	if (rv != 0 || strcmp(u->u_scheme, scheme) != 0) {
		snprintf(err, errcap, "data service: bad bind address '%s'%s%s", bind, rv ? ": " : "",
			 rv                              ? nng_strerror(rv)
				 : strcmp(scheme, "tcp") ? " (tls+tcp only)"
							 : " (tcp only)");
		if (u) nng_url_free(u);
		goto fail_einval;
	}
	char host[ADDR_MAX], me[ADDR_MAX];
	const char *h = u->u_hostname;
	if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0 || strcmp(h, "*") == 0) {
		me[0] = 0;
		if (!o.advertise_host && gethostname(me, sizeof me) == 0) me[sizeof me - 1] = 0;
		h = o.advertise_host ? o.advertise_host : me[0] ? me : "localhost";
	}
	snprintf(host, sizeof host, "%s", h);
	nng_url_free(u);
	if ((rv = nng_stream_listener_alloc(&nx->listener, url)) != 0) {
		snprintf(err, errcap, "data service: bad bind address '%s': %s", bind, nng_strerror(rv));
		goto fail_einval;
	}
	if (fl_tls_stream_listener(nx->tls, FL_TLS_DATA, nx->listener, err, errcap) != FLINC_OK) {
		fl_netx_destroy(nx);
		return FLINC_EIO;
	}
	(void)nng_stream_listener_set_bool(nx->listener, NNG_OPT_TCP_NODELAY, true);
	int port = 0;
	if ((rv = nng_stream_listener_listen(nx->listener)) != 0 ||
	    (rv = nng_stream_listener_get_int(nx->listener, NNG_OPT_TCP_BOUND_PORT, &port)) != 0) {
		snprintf(err, errcap, "data service: cannot listen on %s: %s", url, nng_strerror(rv));
		fl_netx_destroy(nx);
		return FLINC_EIO;
	}
	int n = strchr(host, ':') ? snprintf(nx->addr, sizeof nx->addr, "%s://[%s]:%d", scheme, host, port)
				  : snprintf(nx->addr, sizeof nx->addr, "%s://%s:%d", scheme, host, port);
	if (n < 0 || (size_t)n >= ADDR_MAX) {
		snprintf(err, errcap, "data service: host name '%s' too long", host);
		goto fail_einval;
	}
	if ((rv = nng_aio_alloc(&nx->accept_aio, accept_cb, nx)) != 0) {
		snprintf(err, errcap, "data service: %s", nng_strerror(rv));
		fl_netx_destroy(nx);
		return FLINC_ENOMEM;
	}
	if (pthread_create(&nx->pump, NULL, pump_main, nx) != 0) {
		snprintf(err, errcap, "data service: cannot start its thread");
		fl_netx_destroy(nx);
		return FLINC_ENOMEM;
	}
	nx->pump_started = true;
	nng_stream_listener_accept(nx->listener, nx->accept_aio);
	*out = nx;
	return FLINC_OK;
fail_einval:
	fl_netx_destroy(nx);
	return FLINC_EINVAL;
}

const char *fl_netx_addr(const fl_netx *nx) { return nx->addr; }

int fl_netx_out(fl_netx *nx, const char *peer, uint64_t id, uint32_t nbufs, uint32_t bufsize,
		fl_notify *producer, fl_channel **out, char *err, size_t errcap)
{
	char url[ADDR_MAX + 1];
	if (!peer || !norm_addr(peer, nx->scheme, url, sizeof url)) {
		snprintf(err, errcap, "data peer '%s': bad address (%s:// only%s)", peer ? peer : "(null)",
			 nx->scheme,
			 nx->tls && strcmp(nx->scheme, "tcp") ? ": security.ssl.enabled is on" : "");
		return FLINC_EINVAL;
	}
	if (!nbufs || !bufsize || !producer) {
		snprintf(err, errcap, "channel %016llx: needs buffers and a producer notify",
			 (unsigned long long)id);
		return FLINC_EINVAL;
	}
	pthread_mutex_lock(&nx->mu);
	if (map_get(&nx->outs, id)) {
		pthread_mutex_unlock(&nx->mu);
		snprintf(err, errcap, "channel %016llx is already open for output", (unsigned long long)id);
		return FLINC_EEXIST;
	}
	conn *c = find_dialed(nx, url);
	if (!c) {
		int rc = conn_dial(nx, url, &c, err, errcap);
		if (rc != FLINC_OK) {
			pthread_mutex_unlock(&nx->mu);
			return rc;
		}
	}
	ochan *oc = fl_calloc(1, sizeof(*oc));
	oc->id = id;
	oc->ch = fl_channel_create(nbufs, bufsize, &nx->notify, producer);
	oc->conn = c;
	map_put(&nx->outs, id, oc);
	outs_add(c, oc);
	ctl_frame(c, F_OPEN, 0, id, NULL, 0);
	kick(c);
	pthread_mutex_unlock(&c->mu);
	pthread_mutex_unlock(&nx->mu);
	*out = oc->ch;
	return FLINC_OK;
}

int fl_netx_in(fl_netx *nx, uint64_t id, uint32_t nbufs, uint32_t bufsize, fl_notify *consumer,
	       fl_channel **out)
{
	if (!nbufs || !bufsize || !consumer) return FLINC_EINVAL;
	pthread_mutex_lock(&nx->mu);
	ichan *ic = map_get(&nx->ins, id);
	if (ic && ic->ch) {
		pthread_mutex_unlock(&nx->mu);
		return FLINC_EEXIST;
	}
	if (!ic) {
		ic = fl_calloc(1, sizeof(*ic));
		ic->id = id;
		map_put(&nx->ins, id, ic);
	}
	fl_channel *ch = fl_channel_create(nbufs, bufsize, consumer, &nx->notify);
	/* The sending end's buffers (as many, same configuration) queue
	 * ahead of ours: debloating sizes for both. */
	fl_channel_set_path_buffers(ch, 2 * nbufs);
	ic->nbufs = nbufs;
	ic->thresh = nbufs / 4 ? nbufs / 4 : 1;
	ic->held = fl_calloc(nbufs, sizeof(fl_xbuf *));
	conn *c = ic->conn;
	if (c) {
		/* Its sender announced it already: credit it now. */
		pthread_mutex_lock(&c->mu);
		ic->ch = ch;
		c->npending--;
		if (c->state == C_UP) {
			grant(ic);
			kick(c);
		}
		pthread_mutex_unlock(&c->mu);
	} else {
		ic->ch = ch;
	}
	pthread_mutex_unlock(&nx->mu);
	*out = ch;
	return FLINC_OK;
}

/* nx->mu held. */
static void close_out(fl_netx *nx, ochan *oc)
{
	map_del(&nx->outs, oc->id);
	conn *c = oc->conn;
	if (c) {
		pthread_mutex_lock(&c->mu);
		outs_remove(c, oc);
		oc->conn = NULL;
		if (c->state != C_DEAD) {
			ctl_frame(c, F_CLOSE, 0, oc->id, NULL, 0);
			kick(c);
		}
		bool later = oc->inflight > 0;
		if (later) oc->zombie = true; /* the send callback frees it */
		pthread_mutex_unlock(&c->mu);
		if (later) return;
	}
	ochan_free(oc);
}

/* nx->mu held. */
static void close_in(fl_netx *nx, ichan *ic)
{
	map_del(&nx->ins, ic->id);
	conn *c = ic->conn;
	if (c) {
		pthread_mutex_lock(&c->mu);
		ins_remove(c, ic);
		pthread_mutex_unlock(&c->mu);
	}
	ichan_free(ic);
}

size_t fl_netx_close(fl_netx *nx, const uint64_t *ids, size_t n)
{
	size_t closed = 0;
	pthread_mutex_lock(&nx->mu);
	for (size_t i = 0; i < n; i++) {
		ochan *oc = map_get(&nx->outs, ids[i]);
		if (oc) {
			close_out(nx, oc);
			closed++;
		}
		ichan *ic = map_get(&nx->ins, ids[i]);
		if (ic) {
			closed += ic->ch != NULL; /* a pending one goes silently */
			close_in(nx, ic);
		}
	}
	pthread_mutex_unlock(&nx->mu);
	return closed;
}

size_t fl_netx_close_matching(fl_netx *nx, uint64_t mask, uint64_t value)
{
	size_t closed = 0;
	pthread_mutex_lock(&nx->mu);
	/* Collect first: closing edits the tables being walked. */
	uint64_t *ids = fl_malloc((size_t)(nx->outs.n + nx->ins.n + 1) * sizeof(uint64_t));
	size_t n = 0;
	for (uint32_t i = 0; i < nx->outs.cap; i++)
		if (nx->outs.vals[i] && (nx->outs.keys[i] & mask) == value) ids[n++] = nx->outs.keys[i];
	for (uint32_t i = 0; i < nx->ins.cap; i++)
		if (nx->ins.vals[i] && (nx->ins.keys[i] & mask) == value) ids[n++] = nx->ins.keys[i];
	pthread_mutex_unlock(&nx->mu);
	closed = fl_netx_close(nx, ids, n);
	free(ids);
	return closed;
}

void fl_netx_stats_get(fl_netx *nx, fl_netx_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->buffers_out = atomic_load(&nx->buffers_out);
	st->bytes_out = atomic_load(&nx->bytes_out);
	st->buffers_in = atomic_load(&nx->buffers_in);
	st->bytes_in = atomic_load(&nx->bytes_in);
	st->discarded = atomic_load(&nx->discarded);
	st->peers_lost = atomic_load(&nx->peers_lost);
	pthread_mutex_lock(&nx->mu);
	for (conn *c = nx->conns; c; c = c->next) st->connections++;
	st->channels_out = nx->outs.n;
	for (uint32_t i = 0; i < nx->ins.cap; i++)
		if (nx->ins.vals[i] && ((ichan *)nx->ins.vals[i])->ch) st->channels_in++;
	pthread_mutex_unlock(&nx->mu);
}

void fl_netx_destroy(fl_netx *nx)
{
	if (!nx) return;
	atomic_store(&nx->closing, 1);
	if (nx->pump_started) {
		fl_notify_signal(&nx->notify);
		pthread_join(nx->pump, NULL);
	}
	if (nx->listener) nng_stream_listener_close(nx->listener);
	if (nx->accept_aio) nng_aio_stop(nx->accept_aio);
	/* No new connection can appear now; tear down the ones there are. */
	pthread_mutex_lock(&nx->mu);
	conn *list = nx->conns;
	nx->conns = NULL;
	for (conn *c = list; c; c = c->next) {
		pthread_mutex_lock(&c->mu);
		c->state = C_DEAD;
		c->silent = true;
		pthread_mutex_unlock(&c->mu);
	}
	pthread_mutex_unlock(&nx->mu);
	while (list) {
		conn *c = list;
		list = c->next;
		reap(nx, c);
	}
	for (uint32_t i = 0; i < nx->outs.cap; i++)
		if (nx->outs.vals[i]) ochan_free(nx->outs.vals[i]);
	for (uint32_t i = 0; i < nx->ins.cap; i++)
		if (nx->ins.vals[i]) ichan_free(nx->ins.vals[i]);
	map_free(&nx->outs);
	map_free(&nx->ins);
	if (nx->accept_aio) nng_aio_free(nx->accept_aio);
	if (nx->listener) nng_stream_listener_free(nx->listener);
	fl_notify_fini(&nx->notify);
	pthread_mutex_destroy(&nx->mu);
	fl_secret_wipe(nx->key, nx->keylen);
	free(nx->key);
	free(nx);
}
