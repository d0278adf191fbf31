/* exchange.c - channels (SPSC buffer rings with credits) and writers. */
#include "exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "exchange framing assumes a little-endian host");

/* ---- notify ----------------------------------------------------------- */

void fl_notify_init(fl_notify *n)
{
	atomic_init(&n->seq, 0);
	atomic_init(&n->prio, 0);
	atomic_init(&n->waiters, 0);
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &a);
	pthread_condattr_destroy(&a);
}

void fl_notify_fini(fl_notify *n)
{
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
}

void fl_notify_signal(fl_notify *n)
{
	atomic_fetch_add(&n->seq, 1);
	if (atomic_load(&n->waiters) > 0) {
		pthread_mutex_lock(&n->mu);
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
	}
}

void fl_notify_wait(fl_notify *n, uint32_t ticket, int64_t timeout_ns)
{
	if (timeout_ns <= 0) return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t deadline = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + timeout_ns;
	ts.tv_sec = deadline / 1000000000;
	ts.tv_nsec = deadline % 1000000000;
	pthread_mutex_lock(&n->mu);
	atomic_fetch_add(&n->waiters, 1);
	while (atomic_load(&n->seq) == ticket) {
		if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT) break;
	}
	atomic_fetch_sub(&n->waiters, 1);
	pthread_mutex_unlock(&n->mu);
}

/* ---- SPSC ring -------------------------------------------------------- */

typedef struct ring {
	fl_xbuf **slot;
	uint32_t mask;
	_Alignas(64) _Atomic uint32_t head; /* consumer */
	_Alignas(64) _Atomic uint32_t tail; /* producer */
} ring;

static void ring_init(ring *r, uint32_t cap)
{
	uint32_t n = 1;
	while (n < cap) n <<= 1;
	r->slot = fl_calloc(n, sizeof(fl_xbuf *));
	r->mask = n - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
}

static void ring_push(ring *r, fl_xbuf *b)
{
	uint32_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	r->slot[t & r->mask] = b; /* never full: capacity >= buffers in the channel */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static fl_xbuf *ring_pop(ring *r)
{
	uint32_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h == atomic_load_explicit(&r->tail, memory_order_acquire)) return NULL;
	fl_xbuf *b = r->slot[h & r->mask];
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return b;
}

static uint32_t ring_len(ring *r) { return atomic_load(&r->tail) - atomic_load(&r->head); }

/* ---- channel ---------------------------------------------------------- */

struct fl_channel {
	ring full;  /* producer -> consumer */
	ring free_; /* consumer -> producer (credits) */
	fl_xbuf *bufs;
	uint32_t nbufs, bufsize, path_bufs;
	_Atomic uint32_t target; /* debloated fill level, 0 = whole buffers */
	fl_notify *consumer, *producer;
	/* the posted barrier of an unaligned checkpoint (exchange.h) */
	_Atomic bool prio_pending;
	pthread_mutex_t prio_mu;
	fl_prio_barrier prio;
};

fl_channel *fl_channel_create(uint32_t nbufs, uint32_t bufsize, fl_notify *consumer, fl_notify *producer)
{
	fl_channel *c = fl_calloc(1, sizeof(*c));
	c->nbufs = nbufs;
	c->bufsize = bufsize;
	c->path_bufs = nbufs;
	atomic_init(&c->target, 0);
	c->bufs = fl_calloc(nbufs, sizeof(fl_xbuf));
	ring_init(&c->full, nbufs);
	ring_init(&c->free_, nbufs);
	for (uint32_t i = 0; i < nbufs; i++) {
		c->bufs[i].cap = bufsize;
		c->bufs[i].data = fl_malloc(bufsize);
		ring_push(&c->free_, &c->bufs[i]);
	}
	c->consumer = consumer;
	c->producer = producer;
	atomic_init(&c->prio_pending, false);
	pthread_mutex_init(&c->prio_mu, NULL);
	return c;
}

void fl_channel_destroy(fl_channel *c)
{
	if (!c) return;
	for (uint32_t i = 0; i < c->nbufs; i++) free(c->bufs[i].data);
	free(c->prio.blob);
	pthread_mutex_destroy(&c->prio_mu);
	free(c->bufs);
	free(c->full.slot);
	free(c->free_.slot);
	free(c);
}

fl_xbuf *fl_channel_try_acquire(fl_channel *c)
{
	fl_xbuf *b = ring_pop(&c->free_);
	if (b) b->len = 0;
	return b;
}

void fl_channel_send(fl_channel *c, fl_xbuf *b)
{
	ring_push(&c->full, b);
	fl_notify_signal(c->consumer);
}

fl_xbuf *fl_channel_poll(fl_channel *c) { return ring_pop(&c->full); }

void fl_channel_release(fl_channel *c, fl_xbuf *b)
{
	ring_push(&c->free_, b);
	fl_notify_signal(c->producer);
}

uint32_t fl_channel_queued(fl_channel *c) { return ring_len(&c->full); }

void fl_channel_post_barrier(fl_channel *c, int64_t id, uint8_t flags, uint32_t ring_seq, uint8_t *blob,
			     size_t bloblen, uint32_t nblob)
{
	pthread_mutex_lock(&c->prio_mu);
	free(c->prio.blob); /* an older one the consumer never took */
	c->prio = (fl_prio_barrier){ id, flags, ring_seq, nblob, blob, bloblen };
	atomic_store_explicit(&c->prio_pending, true, memory_order_release);
	pthread_mutex_unlock(&c->prio_mu);
	atomic_store_explicit(&c->consumer->prio, 1, memory_order_release);
	fl_notify_signal(c->consumer);
}

bool fl_channel_barrier_pending(fl_channel *c)
{
	return atomic_load_explicit(&c->prio_pending, memory_order_acquire);
}

bool fl_channel_take_barrier(fl_channel *c, fl_prio_barrier *out)
{
	if (!fl_channel_barrier_pending(c)) return false;
	pthread_mutex_lock(&c->prio_mu);
	bool got = atomic_load_explicit(&c->prio_pending, memory_order_relaxed);
	if (got) {
		*out = c->prio;
		c->prio.blob = NULL;
		atomic_store_explicit(&c->prio_pending, false, memory_order_relaxed);
	}
	pthread_mutex_unlock(&c->prio_mu);
	return got;
}

uint32_t fl_channel_sent_seq(fl_channel *c)
{
	return atomic_load_explicit(&c->full.tail, memory_order_relaxed);
}
uint32_t fl_channel_read_seq(fl_channel *c)
{
	return atomic_load_explicit(&c->full.head, memory_order_relaxed);
}

const fl_xbuf *fl_channel_peek(fl_channel *c, uint32_t seq)
{
	uint32_t h = atomic_load_explicit(&c->full.head, memory_order_relaxed);
	uint32_t t = atomic_load_explicit(&c->full.tail, memory_order_acquire);
	if ((uint32_t)(seq - h) >= (uint32_t)(t - h)) return NULL;
	return c->full.slot[seq & c->full.mask];
}

uint32_t fl_channel_free_count(fl_channel *c)
{
	/* Head first: read from a third thread, tail - head never goes
	 * negative that way. */
	uint32_t h = atomic_load(&c->free_.head);
	return atomic_load(&c->free_.tail) - h;
}

void fl_channel_set_target(fl_channel *c, uint32_t bytes)
{
	atomic_store_explicit(&c->target, bytes, memory_order_relaxed);
}

uint32_t fl_channel_target(fl_channel *c) { return atomic_load_explicit(&c->target, memory_order_relaxed); }
void fl_channel_set_path_buffers(fl_channel *c, uint32_t n) { c->path_bufs = n ? n : c->nbufs; }
uint32_t fl_channel_path_buffers(fl_channel *c) { return c->path_bufs; }
uint32_t fl_channel_bufsize(fl_channel *c) { return c->bufsize; }

uint32_t fl_debloat_size(double bytes_per_s, int64_t target_ns, uint32_t nchannels, uint32_t path_buffers,
			 uint32_t floor, uint32_t max)
{
	if (floor > max) floor = max;
	if (!(bytes_per_s > 0) || target_ns <= 0) return floor; /* nothing taken: the least */
	double total = bytes_per_s * ((double)target_ns / 1e9);
	double per = total / (double)(nchannels ? nchannels : 1) / (double)(path_buffers ? path_buffers : 1);
	if (!(per < (double)max)) return max; /* also NaN and inf */
	if (per < (double)floor) return floor;
	return (uint32_t)per;
}

bool fl_debloat_changed(uint32_t cur, uint32_t want, uint32_t max, uint32_t pct)
{
	if (cur == 0) return true;
	uint32_t c = cur > max ? max : cur;
	if (want == c) return false;
	uint64_t diff = want > c ? (uint64_t)(want - c) : (uint64_t)(c - want);
	/* reaching either end always counts, or a last small step is never taken */
	if (want == max) return true;
	return diff * 100 > (uint64_t)c * pct;
}

/* ---- writer ----------------------------------------------------------- */

typedef struct wchan {
	fl_channel *ch;
	fl_xbuf *cur;
	uint32_t lim;     /* send cur once it holds this much (debloated <= cap) */
	int64_t first_ns; /* when the first event went into cur */
} wchan;

struct fl_writer {
	fl_writer_params p;
	wchan *c;
	uint32_t n;
	uint32_t rr;
	bool idle;
	int64_t wm;
	int64_t blocked_ns;
	uint64_t bytes, rejected, records;
	int64_t oldest_ns; /* min first_ns over channels with a current buffer */
	uint64_t rnd;      /* xorshift state: the channel of a latency marker */
};

fl_writer *fl_writer_create(const fl_writer_params *p, fl_channel **ch, uint32_t nch)
{
	fl_writer *w = fl_calloc(1, sizeof(*w));
	w->p = *p;
	w->n = nch;
	w->c = fl_calloc(nch, sizeof(wchan));
	for (uint32_t i = 0; i < nch; i++) w->c[i].ch = ch[i];
	w->rr = p->subtask % (nch ? nch : 1);
	w->wm = FLINC_WATERMARK_MIN;
	w->oldest_ns = INT64_MAX;
	w->rnd = 0x9e3779b97f4a7c15ull ^ ((uint64_t)p->subtask << 32) ^ (uint64_t)fl_mono_ns();
	return w;
}

void fl_writer_destroy(fl_writer *w)
{
	if (!w) return;
	free(w->c);
	free(w);
}

/* Wait for a free buffer on channel i; false when canceled. */
static bool acquire(fl_writer *w, wchan *c)
{
	fl_xbuf *b = fl_channel_try_acquire(c->ch);
	if (FL_LIKELY(b != NULL)) {
		c->cur = b;
		return true;
	}
	int64_t t0 = fl_mono_ns();
	for (;;) {
		uint32_t ticket = fl_notify_ticket(w->p.self);
		if ((b = fl_channel_try_acquire(c->ch))) break;
		if (atomic_load(w->p.cancel)) return false;
		fl_notify_wait(w->p.self, ticket, 50 * 1000000LL);
	}
	w->blocked_ns += fl_mono_ns() - t0;
	c->cur = b;
	return true;
}

static void send_cur(fl_writer *w, wchan *c)
{
	w->bytes += c->cur->len;
	fl_channel_send(c->ch, c->cur);
	c->cur = NULL;
}

/* Room for n bytes in channel c's current buffer; false when canceled. */
static bool room(fl_writer *w, wchan *c, size_t n)
{
	if (c->cur && (uint64_t)c->cur->len + n <= c->lim) return true;
	if (c->cur && c->cur->len) send_cur(w, c);
	if (!c->cur) {
		if (!acquire(w, c)) return false;
		uint32_t tgt = fl_channel_target(c->ch);
		if (!tgt) tgt = w->p.initial_target;
		c->lim = tgt && tgt < c->cur->cap ? tgt : c->cur->cap;
		c->first_ns = w->p.timeout_ns > 0 ? fl_mono_ns() : 0;
		if (c->first_ns < w->oldest_ns) w->oldest_ns = c->first_ns;
	}
	if (c->cur->cap < n) {
		/* One event larger than a buffer: grow this buffer for good. */
		uint32_t cap = c->cur->cap;
		while (cap < n) cap *= 2;
		c->cur->data = fl_realloc(c->cur->data, cap);
		c->cur->cap = cap;
	}
	if (c->lim < n) c->lim = (uint32_t)n; /* an empty buffer takes one event whole */
	return true;
}

static bool after_event(fl_writer *w, wchan *c)
{
	if (w->p.timeout_ns == 0) send_cur(w, c);
	return true;
}

static bool put_fixed(fl_writer *w, wchan *c, uint8_t ev, const void *payload, size_t n)
{
	if (!room(w, c, 1 + n)) return false;
	uint8_t *q = c->cur->data + c->cur->len;
	q[0] = ev;
	if (n) memcpy(q + 1, payload, n);
	c->cur->len += (uint32_t)(1 + n);
	return after_event(w, c);
}

/* Encode one record into channel c. */
static bool put_record(fl_writer *w, wchan *c, const void *rec, int64_t ts)
{
	size_t hdr = ts == FLINC_TS_NONE ? 5 : 13;
	const flinc_type *t = w->p.type;
	size_t want = w->p.raw ? hdr + t->size : hdr + 16;
	for (;;) {
		if (!room(w, c, want)) return false;
		uint8_t *q = c->cur->data + c->cur->len;
		uint8_t *payload = q + hdr;
		size_t len;
		if (w->p.raw) {
			memcpy(payload, rec, t->size);
			len = t->size;
		} else {
			flinc_writer fw;
			flinc_writer_init(&fw, payload, c->cur->cap - c->cur->len - hdr);
			if (t->encode(rec, &fw) != 0 && !fw.err) {
				w->rejected++;
				return true;
			}
			if (fw.err) {
				if (c->cur->len) {
					/* Did not fit behind other events: retry in
					 * an empty buffer. */
					send_cur(w, c);
				} else if (c->cur->cap >= (1u << 30)) {
					w->rejected++; /* 1 GiB: not a record */
					return true;
				} else {
					want = (size_t)c->cur->cap * 2; /* grow */
				}
				continue;
			}
			len = flinc_writer_len(&fw, payload);
		}
		uint32_t l32 = (uint32_t)len;
		if (ts == FLINC_TS_NONE) {
			q[0] = FL_EV_RECORD;
			memcpy(q + 1, &l32, 4);
		} else {
			q[0] = FL_EV_RECORD_TS;
			memcpy(q + 1, &ts, 8);
			memcpy(q + 9, &l32, 4);
		}
		c->cur->len += (uint32_t)(hdr + len);
		return after_event(w, c);
	}
}

static bool set_active(fl_writer *w)
{
	w->idle = false;
	uint8_t v = 0;
	for (uint32_t i = 0; i < w->n; i++)
		if (!put_fixed(w, &w->c[i], FL_EV_STATUS, &v, 1)) return false;
	return true;
}

bool fl_writer_record(fl_writer *w, const void *rec, int64_t ts)
{
	if (FL_UNLIKELY(w->idle) && !set_active(w)) return false;
	w->records++;
	uint32_t i;
	switch (w->p.part) {
	case FL_PART_FORWARD: i = 0; break;
	case FL_PART_REBALANCE:
		i = w->rr;
		if (++w->rr == w->n) w->rr = 0;
		break;
	case FL_PART_HASH: {
		uint8_t key[FLINC_KEY_MAX];
		size_t klen = w->p.key(rec, key, sizeof key);
		if (klen == 0 || klen > sizeof key) {
			w->rejected++;
			return true;
		}
		int kg = fl_key_group(w->p.key_hash, key, klen, w->p.max_parallelism);
		i = (uint32_t)fl_key_group_owner(kg, w->p.max_parallelism, (int)w->n);
		break;
	}
	case FL_PART_BROADCAST:
	default:
		for (uint32_t k = 0; k < w->n; k++)
			if (!put_record(w, &w->c[k], rec, ts)) return false;
		return true;
	}
	return put_record(w, &w->c[i], rec, ts);
}

bool fl_writer_watermark(fl_writer *w, int64_t wm)
{
	if (wm <= w->wm) return true;
	w->wm = wm;
	for (uint32_t i = 0; i < w->n; i++)
		if (!put_fixed(w, &w->c[i], FL_EV_WATERMARK, &wm, 8)) return false;
	return true;
}

bool fl_writer_status(fl_writer *w, bool idle)
{
	if (idle == w->idle) return true;
	if (!idle) return set_active(w);
	w->idle = true;
	uint8_t v = 1;
	for (uint32_t i = 0; i < w->n; i++)
		if (!put_fixed(w, &w->c[i], FL_EV_STATUS, &v, 1)) return false;
	/* An idle producer must not sit on buffered records. */
	return fl_writer_flush(w);
}

bool fl_writer_end(fl_writer *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (!put_fixed(w, &w->c[i], FL_EV_END, NULL, 0)) return false;
	return fl_writer_flush(w);
}

bool fl_writer_barrier(fl_writer *w, int64_t id, uint8_t flags)
{
	if (flags & FL_BARRIER_UNALIGNED) {
		/* Everything written before it goes into the ring (no credit
		 * needed: the current buffers are ours), then the barrier
		 * beside it. */
		fl_writer_flush(w);
		for (uint32_t i = 0; i < w->n; i++) {
			fl_channel *ch = w->c[i].ch;
			fl_channel_post_barrier(ch, id, flags, fl_channel_sent_seq(ch), NULL, 0, 0);
		}
		return true;
	}
	uint8_t ev[9];
	memcpy(ev, &id, 8);
	ev[8] = flags;
	for (uint32_t i = 0; i < w->n; i++)
		if (!put_fixed(w, &w->c[i], FL_EV_BARRIER, ev, 9)) return false;
	return fl_writer_flush(w);
}

bool fl_writer_latency(fl_writer *w, int64_t emit_ns, uint32_t vertex, uint32_t subtask)
{
	if (!w->n) return true;
	uint8_t ev[16];
	memcpy(ev, &emit_ns, 8);
	memcpy(ev + 8, &vertex, 4);
	memcpy(ev + 12, &subtask, 4);
	uint32_t i = 0;
	if (w->p.part != FL_PART_FORWARD && w->n > 1) {
		w->rnd ^= w->rnd << 13;
		w->rnd ^= w->rnd >> 7;
		w->rnd ^= w->rnd << 17;
		i = (uint32_t)(w->rnd % w->n);
	}
	return put_fixed(w, &w->c[i], FL_EV_LATENCY, ev, 16);
}

bool fl_writer_flush(fl_writer *w)
{
	for (uint32_t i = 0; i < w->n; i++)
		if (w->c[i].cur && w->c[i].cur->len) send_cur(w, &w->c[i]);
	w->oldest_ns = INT64_MAX;
	return true;
}

int64_t fl_writer_flush_due(fl_writer *w, int64_t now_ns)
{
	if (w->oldest_ns == INT64_MAX) return INT64_MAX;
	if (now_ns - w->oldest_ns < w->p.timeout_ns) return w->oldest_ns + w->p.timeout_ns;
	int64_t oldest = INT64_MAX;
	for (uint32_t i = 0; i < w->n; i++) {
		wchan *c = &w->c[i];
		if (!c->cur || !c->cur->len) continue;
		if (now_ns - c->first_ns >= w->p.timeout_ns)
			send_cur(w, c);
		else if (c->first_ns < oldest)
			oldest = c->first_ns;
	}
	w->oldest_ns = oldest;
	return oldest == INT64_MAX ? INT64_MAX : oldest + w->p.timeout_ns;
}

uint32_t fl_writer_fit(fl_writer *w)
{
	uint64_t avg = w->records ? w->bytes / w->records + 1 : 64;
	if (avg < 8) avg = 8;
	uint64_t least = UINT64_MAX;
	for (uint32_t i = 0; i < w->n && least; i++) {
		const wchan *c = &w->c[i];
		uint64_t room = c->cur && c->cur->len < c->lim ? c->lim - c->cur->len : 0;
		room += (uint64_t)fl_channel_free_count(c->ch) * fl_channel_bufsize(c->ch);
		if (room < least) least = room;
	}
	if (least == UINT64_MAX) return UINT32_MAX;
	uint64_t n = least / avg;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

void fl_writer_add_blocked(fl_writer *w, int64_t ns) { w->blocked_ns += ns; }

int64_t fl_writer_blocked_ns(const fl_writer *w) { return w->blocked_ns; }
uint64_t fl_writer_bytes(const fl_writer *w) { return w->bytes; }
uint64_t fl_writer_records(const fl_writer *w) { return w->records; }
uint64_t fl_writer_rejected(const fl_writer *w) { return w->rejected; }
