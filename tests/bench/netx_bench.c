/*
 * netx_bench.c - data-plane throughput over loopback: two data services in
 * one process, producer threads filling buffers as fast as credit allows,
 * consumer threads reading them (and checking a sequence number).
 *
 *   netx_bench [seconds=2] [channels ...]     (NETX_NBUFS=n: buffers per side)
 *
 * NETX_TLS=DIR: TLS on the data connections (security.ssl.enabled), with
 * DIR/node.pem, DIR/node.key and DIR/ca.pem as scripts/make-test-ca.sh
 * makes them: the cost of TLS on the exchange (docs/BENCHMARKS.md).
 *
 * Without channel counts: 32 KiB buffers with the default 8 per side on 1
 * and 4 channels, 32 per side on 1 channel, then 1 KiB buffers (the path
 * that copies and batches small buffers). With channel counts: 32 KiB runs
 * on each. Prints GB/s and buffers/s of payload the consumers received,
 * measured after a warm-up.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exchange.h"
#include "fl_base.h"
#include "fl_runtime.h"
#include "fl_tls.h"

static fl_tls *g_tls; /* NETX_TLS */

typedef struct side {
	fl_channel *ch;
	fl_notify notify;
	_Atomic int *stop;
	uint32_t bufsize;
	_Atomic uint64_t bufs, bytes; /* read by the main thread while running */
	uint64_t bad;
	pthread_t th;
} side;

static void *producer(void *arg)
{
	side *s = arg;
	uint64_t seq = 0;
	while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
		uint32_t t = fl_notify_ticket(&s->notify);
		fl_xbuf *b = fl_channel_try_acquire(s->ch);
		if (!b) {
			fl_notify_wait(&s->notify, t, 10 * 1000000LL);
			continue;
		}
		memcpy(b->data, &seq, 8);
		b->len = s->bufsize;
		fl_channel_send(s->ch, b);
		seq++;
		atomic_fetch_add_explicit(&s->bufs, 1, memory_order_relaxed);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	side *s = arg;
	uint64_t seq = 0;
	while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
		uint32_t t = fl_notify_ticket(&s->notify);
		fl_xbuf *b = fl_channel_poll(s->ch);
		if (!b) {
			fl_notify_wait(&s->notify, t, 10 * 1000000LL);
			continue;
		}
		uint64_t got;
		memcpy(&got, b->data, 8);
		s->bad += got != seq;
		seq++;
		atomic_fetch_add_explicit(&s->bufs, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->bytes, b->len, memory_order_relaxed);
		fl_channel_release(s->ch, b);
	}
	return NULL;
}

static int run(int nch, uint32_t bufsize, uint32_t nbufs, double seconds, uint64_t job)
{
	char err[256];
	fl_netx *a = NULL, *b = NULL;
	fl_netx_opts o = { .tls = g_tls };
	if (fl_netx_create("127.0.0.1:0", NULL, NULL, &o, &a, err, sizeof err) != FLINC_OK ||
	    fl_netx_create("127.0.0.1:0", NULL, NULL, &o, &b, err, sizeof err) != FLINC_OK) {
		fprintf(stderr, "netx_bench: %s\n", err);
		return 1;
	}
	_Atomic int stop = 0;
	side *p = calloc((size_t)nch, sizeof(side)), *c = calloc((size_t)nch, sizeof(side));
	for (int k = 0; k < nch; k++) {
		uint64_t id = job << 32 | (uint64_t)k;
		fl_notify_init(&p[k].notify);
		fl_notify_init(&c[k].notify);
		p[k].stop = c[k].stop = &stop;
		p[k].bufsize = c[k].bufsize = bufsize;
		if (fl_netx_in(b, id, nbufs, bufsize, &c[k].notify, &c[k].ch) != FLINC_OK ||
		    fl_netx_out(a, fl_netx_addr(b), id, nbufs, bufsize, &p[k].notify, &p[k].ch, err,
				sizeof err) != FLINC_OK) {
			fprintf(stderr, "netx_bench: cannot open channel %d\n", k);
			return 1;
		}
	}
	for (int k = 0; k < nch; k++) {
		pthread_create(&c[k].th, NULL, consumer, &c[k]);
		pthread_create(&p[k].th, NULL, producer, &p[k]);
	}
	/* warm up, then measure what the consumers received */
	struct timespec ts = { 0, 200 * 1000000L };
	nanosleep(&ts, NULL);
	uint64_t b0 = 0, n0 = 0;
	for (int k = 0; k < nch; k++) {
		b0 += atomic_load(&c[k].bytes);
		n0 += atomic_load(&c[k].bufs);
	}
	int64_t t0 = fl_mono_ns();
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	uint64_t b1 = 0, n1 = 0;
	for (int k = 0; k < nch; k++) {
		b1 += atomic_load(&c[k].bytes);
		n1 += atomic_load(&c[k].bufs);
	}
	double dt = (double)(fl_mono_ns() - t0) / 1e9;
	atomic_store(&stop, 1);
	uint64_t bad = 0;
	for (int k = 0; k < nch; k++) {
		pthread_join(p[k].th, NULL);
		pthread_join(c[k].th, NULL);
		bad += c[k].bad;
	}
	printf("%2d channel%s x %6u B buffers (%u per side): %6.2f GB/s  %10.0f buffers/s%s\n", nch,
	       nch == 1 ? " " : "s", bufsize, nbufs, (double)(b1 - b0) / dt / 1e9, (double)(n1 - n0) / dt,
	       bad ? "  OUT OF ORDER" : "");
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	for (int k = 0; k < nch; k++) {
		fl_notify_fini(&p[k].notify);
		fl_notify_fini(&c[k].notify);
	}
	free(p);
	free(c);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	fl_log_set_level(FL_LOG_ERROR);
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	if (seconds <= 0) seconds = 2.0;
	uint32_t nb = getenv("NETX_NBUFS") ? (uint32_t)atoi(getenv("NETX_NBUFS")) : 8;
	if (nb < 1) nb = 8;
	const char *dir = getenv("NETX_TLS");
	if (dir && *dir) {
		fl_conf *c = fl_conf_create();
		char path[3][4096], err[512];
		snprintf(path[0], sizeof path[0], "%s/node.pem", dir);
		snprintf(path[1], sizeof path[1], "%s/node.key", dir);
		snprintf(path[2], sizeof path[2], "%s/ca.pem", dir);
		fl_conf_set(c, "security.ssl.enabled", "true");
		fl_conf_set(c, "security.ssl.certificate", path[0]);
		fl_conf_set(c, "security.ssl.key", path[1]);
		fl_conf_set(c, "security.ssl.truststore", path[2]);
		int trc = fl_tls_create(c, 0, &g_tls, err, sizeof err);
		fl_conf_destroy(c);
		if (trc != FLINC_OK) {
			fprintf(stderr, "netx_bench: NETX_TLS: %s\n", err);
			return 2;
		}
		printf("TLS on the data connections (%s)\n", dir);
	}
	int rc = 0;
	uint64_t job = 1;
	if (argc > 2) {
		for (int i = 2; i < argc; i++) rc |= run(atoi(argv[i]), 32 * 1024, nb, seconds, job++);
		return rc;
	}
	/* the default exchange settings (8 x 32 KiB), more channels, a
	 * deeper window, and small buffers (copied and batched) */
	rc |= run(1, 32 * 1024, nb, seconds, job++);
	rc |= run(4, 32 * 1024, nb, seconds, job++);
	rc |= run(1, 32 * 1024, 32, seconds, job++);
	rc |= run(1, 1024, 64, seconds, job++);
	fl_tls_destroy(g_tls);
	return rc;
}
