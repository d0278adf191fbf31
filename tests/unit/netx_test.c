/*
 * netx_test.c - the data service (runtime/src/netx.c): two services in one
 * process talking over 127.0.0.1.
 *
 * Producer and consumer threads play the tasks: they use the fl_channel
 * API exactly as the writer and the task loop do, and write FL_EV_RECORD
 * events whose size and bytes follow from (seed, sequence number), so the
 * consumer checks order and content of every record. Checks that fail on
 * those threads are recorded and asserted on the test's thread.
 *
 * Covered: many records on three channels over one connection, a record
 * larger than the buffer size, no head-of-line blocking with a stalled
 * consumer and the bound on what a stalled channel holds, a consumer that
 * registers late, peer loss (service destroyed, connect refused, silent
 * peer, protocol violations from a raw socket), closing a job's channels
 * while they flow and reusing the connection, argument errors, and the
 * handshake: raw peers that skip or fail it are dropped before any channel
 * frame and never reported as lost peers; services with different secrets
 * never exchange a buffer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "exchange.h"
#include "fl_runtime.h"
#include "fl_base.h"

#define MS 1000000LL

/* ---- record stream -------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

typedef struct stream_spec {
	uint32_t seed;
	uint64_t big_every; /* record i with i % big_every == big_every - 1 is big; 0: none */
	uint32_t big_size;
} stream_spec;

/* Payload size of record i: 8..72 bytes, or big. */
static uint32_t rec_size(const stream_spec *s, uint64_t i)
{
	if (s->big_every && i % s->big_every == s->big_every - 1) return s->big_size;
	return 8 + (uint32_t)(mix(s->seed ^ (i * 0x9e3779b97f4a7c15ULL)) % 65);
}

static uint8_t rec_byte(const stream_spec *s, uint64_t i, uint32_t j)
{
	return (uint8_t)(i * 31 + j * 7 + s->seed);
}

/* ---- producer -------------------------------------------------------- */

typedef struct prod {
	stream_spec spec;
	fl_channel *ch;
	fl_notify notify;
	_Atomic int cancel;
	uint64_t nrec; /* UINT64_MAX: until canceled */
	_Atomic uint64_t sent_bufs, written;
	bool canceled; /* ended by cancel rather than after nrec */
	pthread_t th;
} prod;

static fl_xbuf *prod_acquire(prod *p)
{
	for (;;) {
		uint32_t t = fl_notify_ticket(&p->notify);
		fl_xbuf *b = fl_channel_try_acquire(p->ch);
		if (b) return b;
		if (atomic_load(&p->cancel)) return NULL;
		fl_notify_wait(&p->notify, t, 50 * MS);
	}
}

static void prod_send(prod *p, fl_xbuf *b)
{
	fl_channel_send(p->ch, b);
	atomic_fetch_add(&p->sent_bufs, 1);
}

static void *prod_main(void *arg)
{
	prod *p = arg;
	fl_xbuf *cur = NULL;
	for (uint64_t i = 0; i < p->nrec; i++) {
		uint32_t sz = rec_size(&p->spec, i);
		uint32_t need = 5 + sz;
		if (cur && cur->cap - cur->len < need) {
			prod_send(p, cur);
			cur = NULL;
		}
		if (!cur && !(cur = prod_acquire(p))) {
			p->canceled = true;
			return NULL;
		}
		if (cur->cap < need) {
			/* as the writer does for an oversized record */
			uint32_t cap = cur->cap;
			while (cap < need) cap *= 2;
			cur->data = fl_realloc(cur->data, cap);
			cur->cap = cap;
		}
		uint8_t *q = cur->data + cur->len;
		q[0] = FL_EV_RECORD;
		memcpy(q + 1, &sz, 4);
		memcpy(q + 5, &i, 8);
		for (uint32_t j = 8; j < sz; j++) q[5 + j] = rec_byte(&p->spec, i, j);
		cur->len += need;
		atomic_fetch_add_explicit(&p->written, 1, memory_order_relaxed);
	}
	if (cur && cur->cap - cur->len < 1) {
		prod_send(p, cur);
		cur = NULL;
	}
	if (!cur && !(cur = prod_acquire(p))) {
		p->canceled = true;
		return NULL;
	}
	cur->data[cur->len++] = FL_EV_END;
	prod_send(p, cur);
	return NULL;
}

static void prod_start(prod *p, uint32_t seed, uint64_t nrec)
{
	p->spec.seed = seed;
	p->nrec = nrec;
	atomic_init(&p->cancel, 0);
	atomic_init(&p->sent_bufs, 0);
	atomic_init(&p->written, 0);
	assert_int_equal(pthread_create(&p->th, NULL, prod_main, p), 0);
}

/* ---- consumer -------------------------------------------------------- */

typedef struct cons {
	stream_spec spec;
	fl_channel *ch;
	fl_notify notify;
	_Atomic int cancel, paused, done;
	uint64_t expect; /* next sequence number */
	_Atomic uint64_t got_bufs;
	bool ended;
	char err[200]; /* first mismatch */
	pthread_t th;
} cons;

static bool check_buffer(cons *c, const fl_xbuf *b)
{
	const uint8_t *p = b->data, *end = b->data + b->len;
	while (p < end) {
		uint8_t ev = *p++;
		if (ev == FL_EV_END) {
			c->ended = true;
			if (p != end) snprintf(c->err, sizeof c->err, "bytes after END");
			return p == end;
		}
		uint32_t len;
		uint64_t seq;
		if (ev != FL_EV_RECORD || end - p < 4) {
			snprintf(c->err, sizeof c->err, "bad event %u before record %llu", ev,
				 (unsigned long long)c->expect);
			return false;
		}
		memcpy(&len, p, 4);
		p += 4;
		if ((size_t)(end - p) < len || len < 8) {
			snprintf(c->err, sizeof c->err, "truncated record %llu",
				 (unsigned long long)c->expect);
			return false;
		}
		memcpy(&seq, p, 8);
		if (seq != c->expect || len != rec_size(&c->spec, seq)) {
			snprintf(c->err, sizeof c->err, "record %llu (len %u) where %llu was due",
				 (unsigned long long)seq, len, (unsigned long long)c->expect);
			return false;
		}
		for (uint32_t j = 8; j < len; j++) {
			if (p[j] != rec_byte(&c->spec, seq, j)) {
				snprintf(c->err, sizeof c->err, "record %llu byte %u corrupt",
					 (unsigned long long)seq, j);
				return false;
			}
		}
		p += len;
		c->expect++;
	}
	return true;
}

static void *cons_main(void *arg)
{
	cons *c = arg;
	while (!c->ended && !atomic_load(&c->cancel)) {
		if (atomic_load(&c->paused)) {
			usleep(1000);
			continue;
		}
		uint32_t t = fl_notify_ticket(&c->notify);
		fl_xbuf *b = fl_channel_poll(c->ch);
		if (!b) {
			fl_notify_wait(&c->notify, t, 50 * MS);
			continue;
		}
		atomic_fetch_add(&c->got_bufs, 1);
		bool ok = check_buffer(c, b);
		fl_channel_release(c->ch, b);
		if (!ok) break;
	}
	atomic_store(&c->done, 1);
	return NULL;
}

static void cons_start(cons *c, uint32_t seed)
{
	c->spec.seed = seed;
	atomic_init(&c->cancel, 0);
	atomic_init(&c->done, 0);
	atomic_init(&c->got_bufs, 0);
	assert_int_equal(pthread_create(&c->th, NULL, cons_main, c), 0);
}

/* Join with a deadline so that a hang fails the test instead of the run. */
static void join_within(pthread_t th, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec + ms * MS;
	ts.tv_sec = ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	int rc = pthread_timedjoin_np(th, NULL, &ts);
	if (rc != 0) fail_msg("thread did not finish within %lld ms", (long long)ms);
}

/* ---- peer loss recorder ---------------------------------------------- */

typedef struct lost {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int count;
	char peer[300];
	int err;
	char why[300];
	int64_t at_ns;
} lost;

static void on_lost(void *ud, const char *peer, int err, const char *why)
{
	lost *l = ud;
	pthread_mutex_lock(&l->mu);
	if (l->count++ == 0) {
		snprintf(l->peer, sizeof l->peer, "%s", peer);
		snprintf(l->why, sizeof l->why, "%s", why);
		l->err = err;
		l->at_ns = fl_mono_ns();
	}
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

static void lost_init(lost *l)
{
	memset(l, 0, sizeof(*l));
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
}

static void lost_fini(lost *l)
{
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
}

/* Wait up to ms for a report; true if one came. */
static bool lost_wait(lost *l, int64_t ms)
{
	int64_t deadline = fl_mono_ns() + ms * MS;
	pthread_mutex_lock(&l->mu);
	while (l->count == 0 && fl_mono_ns() < deadline) {
		pthread_mutex_unlock(&l->mu);
		usleep(2000);
		pthread_mutex_lock(&l->mu);
	}
	bool got = l->count > 0;
	pthread_mutex_unlock(&l->mu);
	return got;
}

/* ---- helpers ------------------------------------------------------------- */

static fl_netx *svc(lost *l, const fl_netx_opts *o)
{
	fl_netx *nx = NULL;
	char err[256] = "";
	int rc = fl_netx_create("127.0.0.1:0", l ? on_lost : NULL, l, o, &nx, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("fl_netx_create: %s", err);
	return nx;
}

static fl_channel *open_out(fl_netx *nx, const char *peer, uint64_t id, uint32_t nbufs, uint32_t bufsize,
			    fl_notify *n)
{
	fl_channel *ch = NULL;
	char err[256] = "";
	int rc = fl_netx_out(nx, peer, id, nbufs, bufsize, n, &ch, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("fl_netx_out: %s", err);
	return ch;
}

static fl_channel *open_in(fl_netx *nx, uint64_t id, uint32_t nbufs, uint32_t bufsize, fl_notify *n)
{
	fl_channel *ch = NULL;
	assert_int_equal(fl_netx_in(nx, id, nbufs, bufsize, n, &ch), FLINC_OK);
	return ch;
}

/* Wait until f(arg) holds or ms pass. */
static bool eventually(bool (*f)(void *), void *arg, int64_t ms)
{
	int64_t deadline = fl_mono_ns() + ms * MS;
	while (!f(arg)) {
		if (fl_mono_ns() > deadline) return false;
		usleep(1000);
	}
	return true;
}

/* A producer stalled: no buffer sent for 200 ms. */
static bool stalled(void *arg)
{
	prod *p = arg;
	uint64_t n = atomic_load(&p->sent_bufs);
	usleep(200000);
	return atomic_load(&p->sent_bufs) == n && n > 0;
}

static bool sent_four(void *arg) { return atomic_load(&((prod *)arg)->sent_bufs) >= 4; }

#define JOB(tag) ((uint64_t)(tag) << 32)

/* ---- tests --------------------------------------------------------------- */

/* 3 channels x 1M records of random sizes (and a few larger than the
 * buffer) over one connection, in order and intact. */
static void test_three_channels(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL), *b = svc(NULL, NULL);
	enum { N = 3 };
	const uint64_t nrec = 1000000;
	prod p[N];
	cons c[N];
	memset(p, 0, sizeof p);
	memset(c, 0, sizeof c);
	for (int k = 0; k < N; k++) {
		uint64_t id = JOB(7) | (uint64_t)k;
		fl_notify_init(&p[k].notify);
		fl_notify_init(&c[k].notify);
		stream_spec sp = { .seed = 100u + (uint32_t)k, .big_every = 333333, .big_size = 100 * 1024 };
		p[k].spec = c[k].spec = sp;
		c[k].ch = open_in(b, id, 8, 32 * 1024, &c[k].notify);
		p[k].ch = open_out(a, fl_netx_addr(b), id, 8, 32 * 1024, &p[k].notify);
	}
	for (int k = 0; k < N; k++) {
		cons_start(&c[k], 100u + (uint32_t)k);
		prod_start(&p[k], 100u + (uint32_t)k, nrec);
	}
	for (int k = 0; k < N; k++) {
		join_within(p[k].th, 90000);
		join_within(c[k].th, 30000);
		assert_string_equal(c[k].err, "");
		assert_true(c[k].ended);
		assert_int_equal(c[k].expect, nrec);
	}
	fl_netx_stats sa, sb;
	fl_netx_stats_get(a, &sa);
	fl_netx_stats_get(b, &sb);
	assert_int_equal(sa.connections, 1); /* one connection carried all three */
	assert_int_equal(sb.connections, 1);
	assert_int_equal(sa.channels_out, N);
	assert_int_equal(sb.channels_in, N);
	assert_int_equal(sa.buffers_out, sb.buffers_in);
	assert_int_equal(sa.bytes_out, sb.bytes_in);
	assert_int_equal(sb.discarded, 0);
	assert_int_equal(fl_netx_close_matching(a, FL_NETX_JOB_MASK, JOB(7)), N);
	assert_int_equal(fl_netx_close_matching(b, FL_NETX_JOB_MASK, JOB(7)), N);
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	for (int k = 0; k < N; k++) {
		fl_notify_fini(&p[k].notify);
		fl_notify_fini(&c[k].notify);
	}
}

/* Channel 0's consumer stops reading: channels 1 and 2 still finish, and
 * channel 0's producer stops after its own buffers plus the receiver's
 * (memory bounded); when the consumer resumes, everything arrives. */
static void test_no_head_of_line_blocking(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL), *b = svc(NULL, NULL);
	enum { N = 3, NB_OUT = 4, NB_IN = 3 };
	const uint64_t nrec = 200000;
	prod p[N];
	cons c[N];
	memset(p, 0, sizeof p);
	memset(c, 0, sizeof c);
	for (int k = 0; k < N; k++) {
		uint64_t id = JOB(9) | (uint64_t)k;
		fl_notify_init(&p[k].notify);
		fl_notify_init(&c[k].notify);
		p[k].ch = open_out(a, fl_netx_addr(b), id, NB_OUT, 4096, &p[k].notify);
		c[k].ch = open_in(b, id, NB_IN, 4096, &c[k].notify);
	}
	atomic_store(&c[0].paused, 1);
	for (int k = 0; k < N; k++) {
		cons_start(&c[k], 7u + (uint32_t)k);
		prod_start(&p[k], 7u + (uint32_t)k, nrec);
	}
	/* The others complete while channel 0 is stuck. */
	for (int k = 1; k < N; k++) {
		join_within(p[k].th, 60000);
		join_within(c[k].th, 30000);
		assert_string_equal(c[k].err, "");
		assert_int_equal(c[k].expect, nrec);
	}
	assert_true(eventually(stalled, &p[0], 10000));
	uint64_t sent = atomic_load(&p[0].sent_bufs);
	print_message("stalled channel: producer stopped after %llu buffers (bound %d), others done\n",
		      (unsigned long long)sent, NB_OUT + NB_IN);
	assert_true(sent <= NB_OUT + NB_IN);
	assert_true(atomic_load(&p[0].written) < nrec);
	assert_true(fl_channel_queued(c[0].ch) <= NB_IN);
	/* Resume: the rest flows, in order. */
	atomic_store(&c[0].paused, 0);
	join_within(p[0].th, 60000);
	join_within(c[0].th, 30000);
	assert_string_equal(c[0].err, "");
	assert_int_equal(c[0].expect, nrec);
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	for (int k = 0; k < N; k++) {
		fl_notify_fini(&p[k].notify);
		fl_notify_fini(&c[k].notify);
	}
}

/* The consumer registers after the producer connected and filled its
 * buffers: nothing is lost, nothing sent before it registered. */
static void test_late_registration(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL), *b = svc(NULL, NULL);
	prod p;
	cons c;
	memset(&p, 0, sizeof p);
	memset(&c, 0, sizeof c);
	fl_notify_init(&p.notify);
	fl_notify_init(&c.notify);
	const uint64_t id = 0xabcdef0123456789ULL, nrec = 100000;
	p.ch = open_out(a, fl_netx_addr(b), id, 4, 8192, &p.notify);
	prod_start(&p, 42, nrec);
	assert_true(eventually(sent_four, &p, 10000));
	assert_true(eventually(stalled, &p, 10000));
	assert_int_equal(atomic_load(&p.sent_bufs), 4); /* only its own buffers */
	fl_netx_stats sb;
	fl_netx_stats_get(b, &sb);
	assert_int_equal(sb.buffers_in, 0);
	assert_int_equal(sb.connections, 1);
	c.ch = open_in(b, id, 4, 8192, &c.notify);
	cons_start(&c, 42);
	join_within(p.th, 60000);
	join_within(c.th, 30000);
	assert_string_equal(c.err, "");
	assert_int_equal(c.expect, nrec);
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	fl_notify_fini(&p.notify);
	fl_notify_fini(&c.notify);
}

/* Destroying either service is noticed by the other within a second, and
 * a producer waiting for credit is released by its cancel. */
static void peer_loss(bool kill_receiver)
{
	lost la, lb;
	lost_init(&la);
	lost_init(&lb);
	fl_netx *a = svc(&la, NULL), *b = svc(&lb, NULL);
	char a_addr[300], b_addr[300];
	snprintf(a_addr, sizeof a_addr, "%s", fl_netx_addr(a));
	snprintf(b_addr, sizeof b_addr, "%s", fl_netx_addr(b));
	prod p;
	cons c;
	memset(&p, 0, sizeof p);
	memset(&c, 0, sizeof c);
	fl_notify_init(&p.notify);
	fl_notify_init(&c.notify);
	p.ch = open_out(a, b_addr, 1, 4, 4096, &p.notify);
	c.ch = open_in(b, 1, 4, 4096, &c.notify);
	cons_start(&c, 1);
	prod_start(&p, 1, UINT64_MAX);
	usleep(200000);
	assert_true(atomic_load(&c.got_bufs) > 0);
	int64_t t0;
	if (kill_receiver) {
		atomic_store(&c.cancel, 1);
		join_within(c.th, 5000);
		t0 = fl_mono_ns();
		fl_netx_destroy(b);
		b = NULL;
		assert_true(lost_wait(&la, 1000));
		assert_string_equal(la.peer, b_addr);
		assert_int_equal(la.err, FLINC_EIO);
		assert_true(la.at_ns - t0 < 1000 * MS);
		print_message("receiver destroyed: sender told after %.2f ms (%s)\n",
			      (double)(la.at_ns - t0) / 1e6, la.why);
		/* The producer now waits for credit that never comes: its
		 * cancel releases it at once. */
		assert_true(eventually(stalled, &p, 5000));
		atomic_store(&p.cancel, 1);
		join_within(p.th, 500);
		assert_true(p.canceled);
		assert_int_equal(fl_netx_close(a, (uint64_t[]){ 1 }, 1), 1);
		fl_netx_stats sa;
		fl_netx_stats_get(a, &sa);
		assert_int_equal(sa.connections, 0);
		assert_int_equal(sa.peers_lost, 1);
	} else {
		atomic_store(&p.cancel, 1);
		join_within(p.th, 5000);
		t0 = fl_mono_ns();
		fl_netx_destroy(a);
		a = NULL;
		assert_true(lost_wait(&lb, 1000));
		assert_string_equal(lb.peer, a_addr); /* the sender's data address, from HELLO */
		assert_int_equal(lb.err, FLINC_EIO);
		assert_true(lb.at_ns - t0 < 1000 * MS);
		print_message("sender destroyed: receiver told after %.2f ms (%s)\n",
			      (double)(lb.at_ns - t0) / 1e6, lb.why);
		atomic_store(&c.cancel, 1);
		join_within(c.th, 500);
	}
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	assert_int_equal(la.count + lb.count, 1); /* destroy itself reports nothing */
	lost_fini(&la);
	lost_fini(&lb);
	fl_notify_fini(&p.notify);
	fl_notify_fini(&c.notify);
}

static void test_peer_lost_receiver(void **st)
{
	(void)st;
	peer_loss(true);
}

static void test_peer_lost_sender(void **st)
{
	(void)st;
	peer_loss(false);
}

/* Nothing listens: the failed connect is reported; a later out dials
 * again. */
static void test_connect_refused(void **st)
{
	(void)st;
	lost l;
	lost_init(&l);
	fl_netx *a = svc(&l, NULL), *b = svc(NULL, NULL);
	/* A port that was just free: bind b, note it, destroy it. */
	char dead[300];
	snprintf(dead, sizeof dead, "%s", fl_netx_addr(b));
	fl_netx_destroy(b);
	fl_notify n;
	fl_notify_init(&n);
	open_out(a, dead, 5, 2, 1024, &n);
	assert_true(lost_wait(&l, 2000));
	assert_string_equal(l.peer, dead);
	assert_int_equal(l.err, FLINC_EIO);
	assert_non_null(strstr(l.why, "connect"));
	fl_netx_destroy(a);
	fl_notify_fini(&n);
	lost_fini(&l);
}

/* Destroying the service while a dial is still pending (an address that
 * drops SYNs, or fails at once here) returns at once. */
static void test_destroy_while_connecting(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL);
	fl_notify n;
	fl_notify_init(&n);
	open_out(a, "tcp://10.255.255.1:9", 1, 2, 1024, &n);
	usleep(20000);
	int64_t t0 = fl_mono_ns();
	fl_netx_destroy(a);
	assert_true(fl_mono_ns() - t0 < 1000 * MS);
	fl_notify_fini(&n);
}

/* ---- raw peers ------------------------------------------------------------ */

static int raw_connect(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	assert_non_null(colon);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

static void raw_frame(int fd, uint8_t type, uint32_t arg, uint64_t id, const void *payload, size_t n)
{
	uint8_t h[16] = { type };
	memcpy(h + 4, &arg, 4);
	memcpy(h + 8, &id, 8);
	assert_int_equal(write(fd, h, 16), 16);
	if (n) assert_int_equal(write(fd, payload, n), (ssize_t)n);
}

/* HELLO of the given version: version 2 carries the nonce. */
static void raw_hello_v(int fd, uint16_t ver, const uint8_t nonce[32], const char *me)
{
	uint8_t p[400];
	uint32_t magic = 0x584e4c46u;
	uint16_t n = (uint16_t)strlen(me);
	size_t k = ver >= 2 ? 32 : 0;
	memcpy(p, &magic, 4);
	memcpy(p + 4, &ver, 2);
	memcpy(p + 6, &n, 2);
	if (k) memcpy(p + 8, nonce, k);
	memcpy(p + 8 + k, me, n);
	raw_frame(fd, 1, (uint32_t)(8 + k + n), 0, p, 8 + k + n);
}

static void read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		ssize_t k = read(fd, p, n > 4096 ? 4096 : n); /* small reads: a slow peer */
		if (k <= 0) fail_msg("raw peer: read returned %zd", k);
		p += k;
		n -= (size_t)k;
	}
}

/* Read one frame of the expected type; its payload into buf (cap bytes). */
static uint32_t read_frame(int fd, uint8_t type, uint8_t *buf, size_t cap)
{
	uint8_t h[16];
	uint32_t arg;
	read_full(fd, h, 16);
	assert_int_equal(h[0], type);
	memcpy(&arg, h + 4, 4);
	if (type == 1 || type == 7) {
		assert_true(arg <= cap);
		read_full(fd, buf, arg);
	}
	return arg;
}

/* The key the raw peers prove (the services under test use none unless
 * a test gives one). */
static const uint8_t *g_key;
static size_t g_keylen;

/* A raw peer that dialed a service: HELLO both ways, our AUTH (as the
 * dialer), its AUTH checked. Returns with the connection authenticated. */
static void raw_auth_dial(int fd, const char *me)
{
	uint8_t nc[32], ns[32], buf[400], proof[32];
	fl_random_bytes(nc, sizeof nc);
	raw_hello_v(fd, 2, nc, me);
	read_frame(fd, 1, buf, sizeof buf);
	memcpy(ns, buf + 8, 32);
	fl_auth_proof(g_key, g_keylen, FL_AUTH_ROLE_CLIENT, "data", nc, ns, proof);
	raw_frame(fd, 7, 32, 0, proof, 32);
	assert_int_equal(read_frame(fd, 7, buf, sizeof buf), 32);
	fl_auth_proof(g_key, g_keylen, FL_AUTH_ROLE_SERVER, "data", nc, ns, proof);
	assert_memory_equal(buf, proof, 32);
}

/* A raw peer a service dialed: its HELLO (returned in hello), ours, its
 * AUTH checked, ours. */
static void raw_auth_accept(int fd, const char *me, uint8_t *hello, size_t cap)
{
	uint8_t nc[32], ns[32], buf[64], proof[32];
	uint32_t n = read_frame(fd, 1, hello, cap);
	assert_true(n >= 40);
	memcpy(nc, hello + 8, 32);
	fl_random_bytes(ns, sizeof ns);
	raw_hello_v(fd, 2, ns, me);
	assert_int_equal(read_frame(fd, 7, buf, sizeof buf), 32);
	fl_auth_proof(g_key, g_keylen, FL_AUTH_ROLE_CLIENT, "data", nc, ns, proof);
	assert_memory_equal(buf, proof, 32);
	fl_auth_proof(g_key, g_keylen, FL_AUTH_ROLE_SERVER, "data", nc, ns, proof);
	raw_frame(fd, 7, 32, 0, proof, 32);
}

/* The service sending to a slow raw receiver with a small socket buffer:
 * its writes come back partial, and the byte stream must still be exact
 * (HELLO, OPEN, then DATA frames carrying the producer's buffers). */
static void test_slow_reader(void **st)
{
	(void)st;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int small = 4096;
	setsockopt(l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(l, 1), 0);
	socklen_t sl = sizeof sa;
	getsockname(l, (struct sockaddr *)&sa, &sl);
	char peer[64];
	snprintf(peer, sizeof peer, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));

	fl_netx *a = svc(NULL, NULL);
	prod p;
	cons c;
	memset(&p, 0, sizeof p);
	memset(&c, 0, sizeof c);
	fl_notify_init(&p.notify);
	p.spec.big_every = 97;
	p.spec.big_size = 200 * 1024;
	c.spec = p.spec;
	c.spec.seed = p.spec.seed = 77;
	p.ch = open_out(a, peer, 3, 4, 64 * 1024, &p.notify);
	prod_start(&p, 77, 3000);
	int fd = accept(l, NULL, NULL);
	assert_true(fd >= 0);
	uint8_t h[16];
	uint32_t arg;
	uint8_t hello[400];
	raw_auth_accept(fd, peer, hello, sizeof hello);
	assert_int_equal(memcmp(hello + 8 + 32, fl_netx_addr(a), strlen(fl_netx_addr(a))), 0);
	read_full(fd, h, 16);
	assert_int_equal(h[0], 2);            /* OPEN 3 */
	raw_frame(fd, 3, 100000, 3, NULL, 0); /* plenty of credit */
	fl_xbuf b = { 0 };
	while (!c.ended && !c.err[0]) {
		read_full(fd, h, 16);
		uint64_t id;
		memcpy(&arg, h + 4, 4);
		memcpy(&id, h + 8, 8);
		if (h[0] == 6) continue; /* PING */
		assert_int_equal(h[0], 4);
		assert_int_equal(id, 3);
		if (arg > b.cap) {
			b.data = realloc(b.data, arg);
			b.cap = arg;
		}
		read_full(fd, b.data, arg);
		b.len = arg;
		check_buffer(&c, &b);
	}
	assert_string_equal(c.err, "");
	assert_int_equal(c.expect, 3000);
	join_within(p.th, 10000);
	free(b.data);
	close(fd);
	close(l);
	fl_netx_destroy(a);
	fl_notify_fini(&p.notify);
}

/* A peer that authenticates and then says nothing: lost after
 * peer_timeout_ms; it meanwhile receives the service's heartbeats. */
static void test_silent_peer(void **st)
{
	(void)st;
	lost l;
	lost_init(&l);
	fl_netx_opts o = { .heartbeat_ms = 50, .peer_timeout_ms = 300 };
	fl_netx *b = svc(&l, &o);
	int fd = raw_connect(fl_netx_addr(b));
	int64_t t0 = fl_mono_ns();
	raw_auth_dial(fd, "tcp://silent.example:1");
	assert_true(lost_wait(&l, 2000));
	assert_string_equal(l.peer, "tcp://silent.example:1");
	assert_int_equal(l.err, FLINC_ETIMEDOUT);
	assert_true(l.at_ns - t0 >= 250 * MS);
	assert_true(l.at_ns - t0 < 1000 * MS);
	/* After the handshake it got heartbeats, then EOF once it gave up. */
	size_t total = 0;
	uint8_t buf[4096];
	ssize_t got;
	while ((got = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t i = 0; i < got; i++)
			if ((total + (size_t)i) % 16 == 0) assert_int_equal(buf[i], 6); /* PING */
		total += (size_t)got;
	}
	assert_true(total >= 2 * 16);
	assert_int_equal(total % 16, 0); /* nothing but PINGs */
	close(fd);
	fl_netx_destroy(b);
	lost_fini(&l);
}

/* Wait until the service has no connection left (ms at most). */
static void wait_no_connections(fl_netx *nx, int64_t ms)
{
	fl_netx_stats s;
	for (int64_t t = 0; t < ms; t += 5) {
		fl_netx_stats_get(nx, &s);
		if (s.connections == 0) return;
		usleep(5000);
	}
	fail_msg("the service still has %u connection(s)", s.connections);
}

/* Read until EOF (the service dropped us); fails after 3 s. */
static void drain_to_eof(int fd)
{
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	char buf[512];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0) {
	}
	assert_int_equal(n, 0);
}

/* Peers that do not authenticate are dropped before any channel frame is
 * taken, and never reported as lost peers (their HELLO could name any
 * real peer): OPEN and DATA without AUTH, a wrong proof, an old version,
 * an AUTH before HELLO, nothing at all within connect_timeout_ms. */
static void test_unauthenticated_peers(void **st)
{
	(void)st;
	lost l;
	lost_init(&l);
	fl_netx_opts o = { .connect_timeout_ms = 300 };
	fl_netx *b = svc(&l, &o);
	fl_notify n;
	fl_notify_init(&n);
	fl_channel *ch = open_in(b, 5, 2, 64, &n); /* a consumer waiting for channel 5 */
	uint8_t nonce[32] = { 1 }, buf[400], proof[32] = { 0 };

	/* OPEN and DATA right after HELLO */
	int fd = raw_connect(fl_netx_addr(b));
	raw_hello_v(fd, 2, nonce, "tcp://victim:1");
	raw_frame(fd, 2, 0, 5, NULL, 0);
	raw_frame(fd, 4, 3, 5, "abc", 3);
	drain_to_eof(fd);
	close(fd);
	/* a wrong proof */
	fd = raw_connect(fl_netx_addr(b));
	raw_hello_v(fd, 2, nonce, "tcp://victim:1");
	read_frame(fd, 1, buf, sizeof buf);
	raw_frame(fd, 7, 32, 0, proof, 32);
	raw_frame(fd, 2, 0, 5, NULL, 0);
	drain_to_eof(fd);
	close(fd);
	/* the server's proof reflected back as ours: still wrong (roles) */
	fd = raw_connect(fl_netx_addr(b));
	raw_hello_v(fd, 2, nonce, "tcp://victim:1");
	read_frame(fd, 1, buf, sizeof buf);
	fl_auth_proof(g_key, g_keylen, FL_AUTH_ROLE_SERVER, "data", nonce, buf + 8, proof);
	raw_frame(fd, 7, 32, 0, proof, 32);
	drain_to_eof(fd);
	close(fd);
	/* version 1 */
	fd = raw_connect(fl_netx_addr(b));
	raw_hello_v(fd, 1, NULL, "tcp://old:1");
	drain_to_eof(fd);
	close(fd);
	/* AUTH before HELLO */
	fd = raw_connect(fl_netx_addr(b));
	raw_frame(fd, 7, 32, 0, proof, 32);
	drain_to_eof(fd);
	close(fd);
	/* silence: dropped after connect_timeout_ms */
	fd = raw_connect(fl_netx_addr(b));
	int64_t t0 = fl_mono_ns();
	drain_to_eof(fd);
	assert_true(fl_mono_ns() - t0 >= 250 * MS);
	close(fd);

	wait_no_connections(b, 2000);
	assert_int_equal(l.count, 0); /* none of them was a peer */
	fl_netx_stats s;
	fl_netx_stats_get(b, &s);
	assert_int_equal(s.buffers_in, 0);
	assert_int_equal(s.peers_lost, 0);
	assert_null(fl_channel_poll(ch));
	/* the real peer of channel 5 still gets through */
	fd = raw_connect(fl_netx_addr(b));
	raw_auth_dial(fd, "tcp://real:1");
	raw_frame(fd, 2, 0, 5, NULL, 0);
	assert_true(read_frame(fd, 3, NULL, 0) > 0); /* CREDIT */
	close(fd);
	fl_netx_destroy(b);
	fl_notify_fini(&n);
	lost_fini(&l);
}

/* A listener that cannot prove the secret (it answers with the dialer's
 * own proof, reflected): the service reports it lost and never sends it
 * a channel frame. */
static void test_fake_acceptor(void **st)
{
	(void)st;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(l, 1), 0);
	socklen_t sl = sizeof sa;
	getsockname(l, (struct sockaddr *)&sa, &sl);
	char peer[64];
	snprintf(peer, sizeof peer, "tcp://127.0.0.1:%u", ntohs(sa.sin_port));
	lost lo;
	lost_init(&lo);
	fl_netx *a = svc(&lo, NULL);
	fl_notify n;
	fl_notify_init(&n);
	open_out(a, peer, 3, 2, 1024, &n);
	int fd = accept(l, NULL, NULL);
	assert_true(fd >= 0);
	uint8_t hello[400], ns[32] = { 7 }, proof[32];
	read_frame(fd, 1, hello, sizeof hello);
	raw_hello_v(fd, 2, ns, peer);
	assert_int_equal(read_frame(fd, 7, proof, sizeof proof), 32);
	raw_frame(fd, 7, 32, 0, proof, 32); /* its own proof back */
	assert_true(lost_wait(&lo, 3000));
	assert_string_equal(lo.peer, peer);
	assert_non_null(strstr(lo.why, "could not prove security.cluster.secret"));
	uint8_t buf[64];
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(read(fd, buf, sizeof buf), 0); /* EOF: no OPEN, nothing */
	close(fd);
	close(l);
	fl_netx_destroy(a);
	fl_notify_fini(&n);
	lost_fini(&lo);
}

/* Two services with the same secret exchange data; with different ones
 * the acceptor refuses the dialer's proof (and never shows its own), the
 * dialer reports the peer lost, and no buffer crosses. */
static void test_secrets(void **st)
{
	(void)st;
	static const char k1[] = "correct horse battery staple", k2[] = "correct horse battery stapler";
	fl_netx_opts o1 = { .secret = (const uint8_t *)k1, .secret_len = sizeof k1 - 1 };
	fl_netx_opts o2 = { .secret = (const uint8_t *)k2, .secret_len = sizeof k2 - 1 };
	lost la, lb;
	lost_init(&la);
	lost_init(&lb);
	fl_netx *a = svc(&la, &o1), *b = svc(&lb, &o1), *c = svc(&lb, &o2);
	prod p;
	cons q;
	memset(&p, 0, sizeof p);
	memset(&q, 0, sizeof q);
	fl_notify_init(&p.notify);
	fl_notify_init(&q.notify);
	q.ch = open_in(b, 9, 4, 4096, &q.notify);
	p.ch = open_out(a, fl_netx_addr(b), 9, 4, 4096, &p.notify);
	cons_start(&q, 9);
	prod_start(&p, 9, 20000);
	join_within(p.th, 30000);
	join_within(q.th, 30000);
	assert_string_equal(q.err, "");
	assert_int_equal(q.expect, 20000);

	/* a dials c, whose secret differs */
	fl_notify n;
	fl_notify_init(&n);
	open_out(a, fl_netx_addr(c), 10, 2, 1024, &n);
	assert_true(lost_wait(&la, 3000));
	assert_non_null(strstr(la.why, "refused this process's proof"));
	fl_netx_stats sc;
	fl_netx_stats_get(c, &sc);
	assert_int_equal(sc.buffers_in, 0);
	assert_int_equal(lb.count, 0); /* the acceptor reported nothing */
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	fl_netx_destroy(c);
	fl_notify_fini(&n);
	fl_notify_fini(&p.notify);
	fl_notify_fini(&q.notify);
	lost_fini(&la);
	lost_fini(&lb);
}

/* Frames that break the protocol end the connection; one that never said
 * HELLO is dropped without a report (it had no channels). */
static void test_protocol_errors(void **st)
{
	(void)st;
	lost l;
	lost_init(&l);
	fl_netx *b = svc(&l, NULL);
	/* DATA without credit */
	int fd = raw_connect(fl_netx_addr(b));
	raw_auth_dial(fd, "tcp://rogue:2");
	raw_frame(fd, 2, 0, 77, NULL, 0);  /* OPEN 77 */
	raw_frame(fd, 4, 3, 77, "abc", 3); /* DATA 77 without credit */
	assert_true(lost_wait(&l, 2000));
	assert_int_equal(l.err, FLINC_EPROTO);
	assert_string_equal(l.peer, "tcp://rogue:2");
	assert_non_null(strstr(l.why, "without credit"));
	close(fd);
	/* garbage instead of HELLO */
	fd = raw_connect(fl_netx_addr(b));
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	char buf[512];
	while (read(fd, buf, sizeof buf) > 0) {
	}
	close(fd);
	fl_netx_stats s;
	for (int i = 0; i < 200; i++) {
		fl_netx_stats_get(b, &s);
		if (s.connections == 0) break;
		usleep(5000);
	}
	assert_int_equal(s.connections, 0);
	assert_int_equal(l.count, 1);
	/* the pending channel 77 went with its connection */
	fl_notify n;
	fl_notify_init(&n);
	fl_channel *ch = open_in(b, 77, 2, 64, &n);
	assert_non_null(ch);
	fl_netx_destroy(b);
	fl_notify_fini(&n);
	lost_fini(&l);
}

/* Barriers of unaligned checkpoints (BARRIER frames): one posted on a
 * sending channel whose buffers wait for credit overtakes them, carrying
 * copies; at the receiver the buffers it already had plus the copies are
 * exactly those sent before it, and all still arrive as data. */
static void test_barriers(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL), *b = svc(NULL, NULL);
	fl_notify pn, cn;
	fl_notify_init(&pn);
	fl_notify_init(&cn);
	fl_channel *out = open_out(a, fl_netx_addr(b), 41, 4, 1024, &pn);
	fl_channel *in = open_in(b, 41, 4, 1024, &cn);
	/* 8 buffers: 4 go over on credit, 4 wait in the sending ring */
	for (uint32_t i = 0; i < 8; i++) {
		fl_xbuf *x = NULL;
		for (int k = 0; k < 2000 && !(x = fl_channel_try_acquire(out)); k++) usleep(1000);
		assert_non_null(x);
		memset(x->data, 'a' + (int)i, 100);
		x->len = 100;
		fl_channel_send(out, x);
	}
	for (int k = 0; k < 2000 && fl_channel_queued(in) < 4; k++) usleep(1000);
	assert_int_equal(fl_channel_queued(in), 4);
	fl_channel_post_barrier(out, 7, FL_BARRIER_UNALIGNED, fl_channel_sent_seq(out), NULL, 0, 0);
	for (int k = 0; k < 2000 && !fl_channel_barrier_pending(in); k++) usleep(1000);
	fl_prio_barrier bar;
	assert_true(fl_channel_take_barrier(in, &bar));
	assert_int_equal(bar.id, 7);
	assert_true(bar.flags & FL_BARRIER_UNALIGNED);
	assert_int_equal(bar.ring_seq, 4); /* the 4 received before it */
	assert_int_equal(bar.nblob, 4);    /* and copies of the 4 still queued */
	assert_int_equal(bar.bloblen, 4 * (4 + 100));
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t l;
		memcpy(&l, bar.blob + i * 104, 4);
		assert_int_equal(l, 100);
		assert_int_equal(bar.blob[i * 104 + 4], 'a' + 4 + (int)i);
	}
	free(bar.blob);
	/* the ring's first 4 are peekable; then all 8 arrive in order */
	assert_int_equal(fl_channel_peek(in, fl_channel_read_seq(in))->data[0], 'a');
	for (uint32_t i = 0; i < 8; i++) {
		fl_xbuf *x = NULL;
		for (int k = 0; k < 2000 && !(x = fl_channel_poll(in)); k++) usleep(1000);
		assert_non_null(x);
		assert_int_equal(x->data[0], 'a' + (int)i);
		fl_channel_release(in, x);
	}
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	fl_notify_fini(&pn);
	fl_notify_fini(&cn);
}

/* A peer's malformed BARRIER frames end its connection. */
static void test_bad_barriers(void **st)
{
	(void)st;
	lost l;
	lost_init(&l);
	fl_netx *b = svc(&l, NULL);
	fl_notify n;
	fl_notify_init(&n);
	fl_channel *ch = open_in(b, 43, 2, 64, &n);
	/* n says 2 items, one follows */
	uint8_t p[13 + 4 + 3];
	int64_t id = 3;
	uint32_t two = 2, three = 3;
	memcpy(p, &id, 8);
	p[8] = 0;
	memcpy(p + 9, &two, 4);
	memcpy(p + 13, &three, 4);
	memcpy(p + 17, "xyz", 3);
	int fd = raw_connect(fl_netx_addr(b));
	raw_auth_dial(fd, "tcp://rogue:3");
	raw_frame(fd, 2, 0, 43, NULL, 0);
	raw_frame(fd, 8, sizeof p, 43, p, sizeof p);
	assert_true(lost_wait(&l, 2000));
	assert_int_equal(l.err, FLINC_EPROTO);
	assert_non_null(strstr(l.why, "malformed barrier"));
	close(fd);
	/* a huge one is refused by its header */
	pthread_mutex_lock(&l.mu);
	l.count = 0;
	pthread_mutex_unlock(&l.mu);
	fd = raw_connect(fl_netx_addr(b));
	raw_auth_dial(fd, "tcp://rogue:4");
	raw_frame(fd, 8, 0xffffffffu, 43, NULL, 0);
	assert_true(lost_wait(&l, 2000));
	assert_non_null(strstr(l.why, "4294967295-byte barrier"));
	close(fd);
	assert_false(fl_channel_barrier_pending(ch));
	fl_netx_destroy(b);
	fl_notify_fini(&n);
	lost_fini(&l);
}

/* Close a job's channels while they flow (buffers in flight), then use
 * the same connection for a new job. */
static void test_close_while_flowing(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL), *b = svc(NULL, NULL);
	enum { N = 3 };
	prod p[N];
	cons c[N];
	memset(p, 0, sizeof p);
	memset(c, 0, sizeof c);
	for (int k = 0; k < N; k++) {
		uint64_t id = JOB(1) | (uint64_t)k;
		fl_notify_init(&p[k].notify);
		fl_notify_init(&c[k].notify);
		p[k].ch = open_out(a, fl_netx_addr(b), id, 4, 32 * 1024, &p[k].notify);
		c[k].ch = open_in(b, id, 4, 32 * 1024, &c[k].notify);
		cons_start(&c[k], 3);
		prod_start(&p[k], 3, UINT64_MAX);
	}
	usleep(300000);
	for (int k = 0; k < N; k++) {
		atomic_store(&p[k].cancel, 1);
		join_within(p[k].th, 2000);
	}
	/* sender first: its CLOSE reaches the receiver behind the data */
	assert_int_equal(fl_netx_close_matching(a, FL_NETX_JOB_MASK, JOB(1)), N);
	for (int k = 0; k < N; k++) {
		atomic_store(&c[k].cancel, 1);
		join_within(c[k].th, 2000);
		assert_string_equal(c[k].err, "");
		assert_true(c[k].expect > 0);
	}
	assert_int_equal(fl_netx_close_matching(b, FL_NETX_JOB_MASK, JOB(1)), N);
	fl_netx_stats sa, sb;
	fl_netx_stats_get(a, &sa);
	fl_netx_stats_get(b, &sb);
	assert_int_equal(sa.channels_out, 0);
	assert_int_equal(sb.channels_in, 0);
	assert_int_equal(sa.connections, 1);
	/* job 2 on the same connection */
	uint64_t id = JOB(2) | 5;
	cons c2;
	prod p2;
	memset(&c2, 0, sizeof c2);
	memset(&p2, 0, sizeof p2);
	fl_notify_init(&p2.notify);
	fl_notify_init(&c2.notify);
	c2.ch = open_in(b, id, 4, 4096, &c2.notify);
	p2.ch = open_out(a, fl_netx_addr(b), id, 4, 4096, &p2.notify);
	cons_start(&c2, 11);
	prod_start(&p2, 11, 20000);
	join_within(p2.th, 30000);
	join_within(c2.th, 30000);
	assert_string_equal(c2.err, "");
	assert_int_equal(c2.expect, 20000);
	fl_netx_stats_get(a, &sa);
	assert_int_equal(sa.connections, 1);
	/* close the receiver first this time, then the sender */
	assert_int_equal(fl_netx_close(b, &id, 1), 1);
	assert_int_equal(fl_netx_close(a, &id, 1), 1);
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	for (int k = 0; k < N; k++) {
		fl_notify_fini(&p[k].notify);
		fl_notify_fini(&c[k].notify);
	}
	fl_notify_fini(&p2.notify);
	fl_notify_fini(&c2.notify);
}

/* A process sending to itself goes through its own listener. */
static void test_self_loop(void **st)
{
	(void)st;
	fl_netx *a = svc(NULL, NULL);
	prod p;
	cons c;
	memset(&p, 0, sizeof p);
	memset(&c, 0, sizeof c);
	fl_notify_init(&p.notify);
	fl_notify_init(&c.notify);
	p.ch = open_out(a, fl_netx_addr(a), 9, 2, 512, &p.notify);
	c.ch = open_in(a, 9, 2, 512, &c.notify);
	cons_start(&c, 5);
	prod_start(&p, 5, 10000);
	join_within(p.th, 30000);
	join_within(c.th, 30000);
	assert_string_equal(c.err, "");
	assert_int_equal(c.expect, 10000);
	fl_netx_destroy(a);
	fl_notify_fini(&p.notify);
	fl_notify_fini(&c.notify);
}

static void test_arguments(void **st)
{
	(void)st;
	fl_netx_destroy(NULL);
	fl_netx *nx = NULL;
	char err[256];
	assert_int_equal(fl_netx_create("ipc:///tmp/x", NULL, NULL, NULL, &nx, err, sizeof err),
			 FLINC_EINVAL);
	assert_int_equal(fl_netx_create("tcp://127.0.0.1:notaport", NULL, NULL, NULL, &nx, err, sizeof err),
			 FLINC_EINVAL);
	fl_netx_opts bad = { .heartbeat_ms = 1000, .peer_timeout_ms = 500 };
	assert_int_equal(fl_netx_create("127.0.0.1:0", NULL, NULL, &bad, &nx, err, sizeof err), FLINC_EINVAL);
	/* a port in use */
	fl_netx *a = svc(NULL, NULL);
	assert_int_equal(fl_netx_create(fl_netx_addr(a), NULL, NULL, NULL, &nx, err, sizeof err), FLINC_EIO);
	assert_non_null(strstr(err, "listen"));
	/* wildcard bind advertises the given host */
	fl_netx_opts adv = { .advertise_host = "tm-7.example" };
	assert_int_equal(fl_netx_create("tcp://0.0.0.0:0", NULL, NULL, &adv, &nx, err, sizeof err), FLINC_OK);
	assert_int_equal(strncmp(fl_netx_addr(nx), "tcp://tm-7.example:", 19), 0);
	fl_netx_destroy(nx);

	fl_notify n;
	fl_notify_init(&n);
	fl_channel *ch = NULL;
	assert_int_equal(fl_netx_out(a, fl_netx_addr(a), 1, 0, 1024, &n, &ch, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_netx_out(a, fl_netx_addr(a), 1, 2, 0, &n, &ch, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_netx_out(a, "", 1, 2, 1024, &n, &ch, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_netx_out(a, "tcp://", 1, 2, 1024, &n, &ch, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_netx_out(a, fl_netx_addr(a), 1, 2, 1024, &n, &ch, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_netx_out(a, fl_netx_addr(a), 1, 2, 1024, &n, &ch, err, sizeof err), FLINC_EEXIST);
	assert_int_equal(fl_netx_in(a, 2, 0, 1024, &n, &ch), FLINC_EINVAL);
	assert_int_equal(fl_netx_in(a, 2, 2, 1024, &n, &ch), FLINC_OK);
	assert_int_equal(fl_netx_in(a, 2, 2, 1024, &n, &ch), FLINC_EEXIST);
	assert_int_equal(fl_netx_close(a, (uint64_t[]){ 1, 2, 3 }, 3), 2);
	assert_int_equal(fl_netx_close(a, (uint64_t[]){ 1, 2, 3 }, 3), 0);
	fl_netx_destroy(a);
	fl_notify_fini(&n);
}

int main(void)
{
	fl_log_set_level(FL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arguments),
		cmocka_unit_test(test_self_loop),
		cmocka_unit_test(test_three_channels),
		cmocka_unit_test(test_no_head_of_line_blocking),
		cmocka_unit_test(test_late_registration),
		cmocka_unit_test(test_peer_lost_receiver),
		cmocka_unit_test(test_peer_lost_sender),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_destroy_while_connecting),
		cmocka_unit_test(test_slow_reader),
		cmocka_unit_test(test_silent_peer),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_unauthenticated_peers),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_fake_acceptor),
		cmocka_unit_test(test_close_while_flowing),
		cmocka_unit_test(test_barriers),
		cmocka_unit_test(test_bad_barriers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
