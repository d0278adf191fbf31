/*
 * http_server_test.c - the job manager's HTTP server (jobmanager/http_server.h)
 * driven over loopback sockets with short timeouts: answers and keep-alive,
 * pipelining, HEAD, the parser's refusals on the wire (400, 414, 431, 505),
 * 408 for a slow head and a slow body, idle connections closed, bodies
 * streamed to a handler (fixed and chunked, 413 both ways), Expect:
 * 100-continue, an early answer with the body unread, the connection cap
 * (eviction of the longest-waiting connection, 503 when none can go),
 * 503 for a request no worker took in time, streamed answers pushed from
 * another thread, and a shutdown that does not wait for a stuck handler.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_base.h"
#include "http_server.h"

#define RT_MS 400 /* request timeout of the test servers */

/* ---- the test handler --------------------------------------------------- */

typedef struct ctl {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int blocked; /* handlers waiting in /block */
	bool release;
	int handled;
} ctl;

static ctl g_ctl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false, 0 };

static void ctl_reset(void)
{
	pthread_mutex_lock(&g_ctl.mu);
	g_ctl.blocked = 0;
	g_ctl.release = false;
	g_ctl.handled = 0;
	pthread_mutex_unlock(&g_ctl.mu);
}

static void ctl_release(void)
{
	pthread_mutex_lock(&g_ctl.mu);
	g_ctl.release = true;
	pthread_cond_broadcast(&g_ctl.cv);
	pthread_mutex_unlock(&g_ctl.mu);
}

static int ctl_blocked(void)
{
	pthread_mutex_lock(&g_ctl.mu);
	int n = g_ctl.blocked;
	pthread_mutex_unlock(&g_ctl.mu);
	return n;
}

static void answer(jm_http_req *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void answer(jm_http_req *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *b = NULL;
	int n = vasprintf(&b, fmt, ap);
	va_end(ap);
	jm_http_respond(r, status, "text/plain", b, n > 0 ? (size_t)n : 0);
}

/* A body taken by /echo: its length and a checksum. */
typedef struct echo {
	size_t n;
	uint64_t sum;
	int64_t max;
	bool refuse; /* /refuse: answer 400 after 100 000 bytes */
} echo;

static bool echo_data(jm_http_req *r, void *state, const uint8_t *p, size_t n)
{
	echo *e = state;
	for (size_t i = 0; i < n; i++) e->sum = e->sum * 31 + p[i];
	e->n += n;
	if (e->n > 100000 && e->refuse) {
		answer(r, 400, "refused at %zu", e->n);
		return false;
	}
	return true;
}

static void echo_end(jm_http_req *r, void *state, jm_http_body_end how)
{
	echo *e = state;
	if (how == JM_HTTP_BODY_COMPLETE)
		answer(r, 200, "len=%zu sum=%llu", e->n, (unsigned long long)e->sum);
	else if (how == JM_HTTP_BODY_TOO_LARGE)
		answer(r, 413, "too large");
	free(e);
}

static const jm_http_body_ops echo_ops = { echo_data, echo_end };

typedef struct streamer {
	jm_http_stream *st;
} streamer;

static void *stream_thread(void *arg)
{
	streamer *s = arg;
	const char *pieces[] = { "data: one\n\n", "data: two\n\n", "data: three\n\n" };
	for (int i = 0; i < 3; i++) {
		usleep(20000);
		assert_int_equal(jm_http_stream_send(s->st, pieces[i], strlen(pieces[i])), FLINC_OK);
	}
	jm_http_stream_end(s->st);
	free(s);
	return NULL;
}

static void on_request(jm_http_req *r, void *arg)
{
	(void)arg;
	const char *t = jm_http_req_target(r);
	pthread_mutex_lock(&g_ctl.mu);
	g_ctl.handled++;
	pthread_mutex_unlock(&g_ctl.mu);
	if (!strcmp(t, "/hello")) {
		answer(r, 200, "hello %s", jm_http_req_method(r));
	} else if (!strcmp(t, "/echo") || !strcmp(t, "/small") || !strcmp(t, "/refuse")) {
		echo *e = calloc(1, sizeof *e);
		e->max = !strcmp(t, "/small") ? 10 : 1 << 24;
		e->refuse = !strcmp(t, "/refuse");
		if (jm_http_body(r, e->max, &echo_ops, e) != FLINC_OK) {
			free(e);
			answer(r, 413, "declared too large");
		}
	} else if (!strcmp(t, "/block")) {
		pthread_mutex_lock(&g_ctl.mu);
		g_ctl.blocked++;
		pthread_cond_broadcast(&g_ctl.cv);
		while (!g_ctl.release) pthread_cond_wait(&g_ctl.cv, &g_ctl.mu);
		g_ctl.blocked--;
		pthread_mutex_unlock(&g_ctl.mu);
		answer(r, 200, "released");
	} else if (!strcmp(t, "/stream")) {
		jm_http_set_header(r, "Cache-Control", "no-store");
		streamer *s = calloc(1, sizeof *s);
		s->st = jm_http_stream_begin(r, 200, "text/event-stream");
		assert_non_null(s->st);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, stream_thread, s), 0);
		pthread_detach(th);
	} else {
		answer(r, 404, "no %s", t);
	}
}

static jm_http_server *start(int max_conns, int workers, int *port)
{
	jm_http_config cfg = {
		.url = "tcp://127.0.0.1:0",
		.max_connections = max_conns,
		.request_timeout_ms = RT_MS,
		.idle_timeout_ms = 2 * RT_MS,
		.workers = workers,
		.on_request = on_request,
		.component = "http-test",
	};
	jm_http_server *s = NULL;
	char err[256];
	int rc = jm_http_server_create(&cfg, &s, err, sizeof err);
	if (rc != FLINC_OK) fail_msg("create: %s", err);
	*port = jm_http_server_port(s);
	assert_true(*port > 0);
	ctl_reset();
	return s;
}

/* ---- a small client ------------------------------------------------------- */

static int64_t now_ms(void) { return fl_mono_ns() / 1000000; }

static int dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) continue;
		assert_true(k > 0);
		c += k;
		n -= (size_t)k;
	}
}

static void send_str(int fd, const char *s) { send_all(fd, s, strlen(s)); }

/* Read into b until pred says done, EOF (-> 0) or timeout_ms (-> -1). */
typedef struct rbuf {
	char d[1 << 16];
	size_t n;
	bool eof;
} rbuf;

static int read_some(int fd, rbuf *b, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);
	if (r <= 0) return -1;
	ssize_t k = recv(fd, b->d + b->n, sizeof b->d - 1 - b->n, 0);
	if (k <= 0) {
		b->eof = true;
		return 0;
	}
	b->n += (size_t)k;
	b->d[b->n] = 0;
	return 1;
}

/* One response from b (reading more as needed): status, body copied into
 * body (NUL-terminated). Consumes it from b. -1 on timeout or EOF first. */
static int response(int fd, rbuf *b, char *body, size_t cap, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		char *e = strstr(b->d, "\r\n\r\n");
		if (e) {
			int st = atoi(b->d + 9);
			size_t head = (size_t)(e - b->d) + 4;
			if (st == 100) {
				memmove(b->d, b->d + head, b->n - head + 1);
				b->n -= head;
				continue;
			}
			const char *cl = strcasestr(b->d, "Content-Length:");
			bool chunked = strcasestr(b->d, "Transfer-Encoding: chunked") &&
				strcasestr(b->d, "chunked") < e;
			if (cl && cl < e) {
				size_t len = (size_t)atol(cl + 15);
				if (b->n >= head + len) {
					size_t c = len < cap - 1 ? len : cap - 1;
					memcpy(body, b->d + head, c);
					body[c] = 0;
					memmove(b->d, b->d + head + len, b->n - head - len + 1);
					b->n -= head + len;
					return st;
				}
			} else if (chunked) {
				/* Decode what is there; complete once the 0 chunk came. */
				size_t pos = head, o = 0;
				bool done = false;
				while (pos < b->n) {
					char *eol = strstr(b->d + pos, "\r\n");
					if (!eol) break;
					size_t sz = strtoul(b->d + pos, NULL, 16);
					size_t at = (size_t)(eol - b->d) + 2;
					if (sz == 0) {
						done = b->n >= at + 2;
						break;
					}
					if (b->n < at + sz + 2) break;
					if (o + sz < cap) {
						memcpy(body + o, b->d + at, sz);
						o += sz;
					}
					pos = at + sz + 2;
				}
				if (done) {
					body[o] = 0;
					b->n = 0;
					b->d[0] = 0;
					return st;
				}
			} else if (b->eof) {
				size_t c = b->n - head < cap - 1 ? b->n - head : cap - 1;
				memcpy(body, b->d + head, c);
				body[c] = 0;
				return st;
			}
		}
		if (b->eof) return -1;
		int left = (int)(deadline - now_ms());
		if (left <= 0 || read_some(fd, b, left) < 0) return -1;
	}
}

/* Wait for EOF (true) within timeout_ms, dropping what arrives. */
static bool closed_within(int fd, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	rbuf *b = calloc(1, sizeof *b);
	bool eof = false;
	while (!eof) {
		int left = (int)(deadline - now_ms());
		if (left <= 0) break;
		int r = read_some(fd, b, left);
		if (r < 0) break;
		if (r == 0) eof = true;
		b->n = 0;
	}
	free(b);
	return eof;
}

static int one_request(int port, const char *req, char *body, size_t cap)
{
	int fd = dial(port);
	send_str(fd, req);
	rbuf *b = calloc(1, sizeof *b);
	int st = response(fd, b, body, cap, 5000);
	free(b);
	close(fd);
	return st;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_keepalive_pipelining_head(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 2, &port);
	int fd = dial(port);
	rbuf *b = calloc(1, sizeof *b);
	char body[256];
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(response(fd, b, body, sizeof body, 2000), 200);
	assert_string_equal(body, "hello GET");
	/* Two more in one write, the second HEAD: answered in order. */
	send_str(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(response(fd, b, body, sizeof body, 2000), 404);
	assert_string_equal(body, "no /nope");
	/* HEAD: Content-Length of the GET, no body: read the head only. */
	int64_t deadline = now_ms() + 2000;
	while (!strstr(b->d, "\r\n\r\n") && now_ms() < deadline) read_some(fd, b, 100);
	assert_non_null(strstr(b->d, "HTTP/1.1 200"));
	assert_non_null(strstr(b->d, "Content-Length: 10\r\n"));
	assert_string_equal(strstr(b->d, "\r\n\r\n"), "\r\n\r\n");
	/* Keep-alive until the idle timeout, then closed. */
	assert_true(closed_within(fd, 6 * RT_MS));
	free(b);
	close(fd);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_refusals_on_the_wire(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 2, &port);
	char body[512];
	char *big = malloc(20000);
	snprintf(big, 20000, "GET /%08990d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
	assert_int_equal(one_request(port, big, body, sizeof body), 414);
	assert_non_null(strstr(body, "{\"errors\":[\"the request target is too long\"]}"));
	int n = snprintf(big, 20000, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
	memset(big + n, 'b', 17000);
	strcpy(big + n + 17000, "\r\n\r\n");
	assert_int_equal(one_request(port, big, body, sizeof body), 431);
	assert_int_equal(one_request(port, "GET /hello HTTP/3.0\r\nHost: x\r\n\r\n", body, sizeof body), 505);
	assert_int_equal(one_request(port, "GET /hello HTTP/1.1\r\n\r\n", body, sizeof body), 400);
	assert_int_equal(one_request(port, "\x16\x03\x01 not http\r\n\r\n", body, sizeof body), 400);
	assert_int_equal(
		one_request(port,
			    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
			    "chunked\r\n\r\n",
			    body, sizeof body),
		400);
	free(big);
	jm_http_stats st;
	jm_http_server_stats(s, &st);
	assert_int_equal(st.bad, 6);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_timeouts(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 2, &port);
	char body[256];
	rbuf *b = calloc(1, sizeof *b);
	/* A head that never ends: 408 within the request timeout, then closed. */
	int fd = dial(port);
	send_str(fd, "GET /hello HTTP/1.1\r\nHo");
	int64_t t0 = now_ms();
	assert_int_equal(response(fd, b, body, sizeof body, 5000), 408);
	assert_true(now_ms() - t0 < RT_MS + 300);
	assert_true(closed_within(fd, 3000));
	close(fd);
	/* A body that stops: 408 too, and the handler saw the abort. */
	memset(b, 0, sizeof *b);
	fd = dial(port);
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhello");
	t0 = now_ms();
	assert_int_equal(response(fd, b, body, sizeof body, 5000), 408);
	assert_true(now_ms() - t0 < RT_MS + 300);
	close(fd);
	/* A connection that sends nothing is closed, without an answer. */
	memset(b, 0, sizeof *b);
	fd = dial(port);
	t0 = now_ms();
	assert_true(closed_within(fd, 3000));
	assert_true(now_ms() - t0 < RT_MS + 300);
	close(fd);
	free(b);
	jm_http_stats st;
	jm_http_server_stats(s, &st);
	assert_true(st.timeouts >= 3);
	assert_int_equal(st.connections, 0);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_bodies(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 2, &port);
	char body[256];
	rbuf *b = calloc(1, sizeof *b);
	int fd = dial(port);
	/* 300 000 bytes in odd pieces: one read buffer cannot hold them. */
	size_t n = 300000;
	uint8_t *data = malloc(n);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		data[i] = (uint8_t)(i * 7 + (i >> 9));
		sum = sum * 31 + data[i];
	}
	char head[128], want[128];
	snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
	send_str(fd, head);
	for (size_t i = 0; i < n; i += 7777) send_all(fd, data + i, n - i < 7777 ? n - i : 7777);
	snprintf(want, sizeof want, "len=%zu sum=%llu", n, (unsigned long long)sum);
	assert_int_equal(response(fd, b, body, sizeof body, 5000), 200);
	assert_string_equal(body, want);
	/* The same chunked, on the same connection. */
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t i = 0; i < n; i += 5000) {
		size_t k = n - i < 5000 ? n - i : 5000;
		char sz[32];
		snprintf(sz, sizeof sz, "%zx;ext=1\r\n", k);
		send_str(fd, sz);
		send_all(fd, data + i, k);
		send_str(fd, "\r\n");
	}
	send_str(fd, "0\r\nX-Trailer: y\r\n\r\n");
	assert_int_equal(response(fd, b, body, sizeof body, 5000), 200);
	assert_string_equal(body, want);
	/* Expect: 100-continue: the 100 first, then the answer. */
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	int64_t deadline = now_ms() + 2000;
	while (!strstr(b->d, "100 Continue") && now_ms() < deadline) read_some(fd, b, 100);
	assert_non_null(strstr(b->d, "HTTP/1.1 100 Continue\r\n\r\n"));
	send_str(fd, "abcd");
	assert_int_equal(response(fd, b, body, sizeof body, 2000), 200);
	assert_string_equal(body, "len=4 sum=2987074");
	close(fd);
	free(data);

	/* 413: a declared length over the limit (the handler answers), and a
	 * chunked body that grows past it (the server tells the handler). */
	assert_int_equal(
		one_request(port, "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n01234567890",
			    body, sizeof body),
		413);
	assert_string_equal(body, "declared too large");
	assert_int_equal(one_request(port,
				     "POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				     "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
				     body, sizeof body),
			 413);
	assert_string_equal(body, "too large");

	/* An early answer with a small body unread: dropped, connection kept. */
	memset(b, 0, sizeof *b);
	fd = dial(port);
	send_str(fd, "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n");
	char *junk = calloc(1, 5000);
	memset(junk, 'j', 5000);
	send_all(fd, junk, 5000);
	free(junk);
	assert_int_equal(response(fd, b, body, sizeof body, 2000), 200);
	send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(response(fd, b, body, sizeof body, 2000), 200);
	assert_string_equal(body, "hello GET");
	close(fd);
	/* A handler that refuses in the middle: its answer arrives. */
	memset(b, 0, sizeof *b);
	fd = dial(port);
	send_str(fd, "POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n");
	uint8_t *big = calloc(1, 200000);
	send_all(fd, big, 200000);
	free(big);
	assert_int_equal(response(fd, b, body, sizeof body, 3000), 400);
	assert_non_null(strstr(body, "refused at"));
	close(fd);
	free(b);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_busy_workers(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 1, &port);
	int blocker = dial(port);
	send_str(blocker, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
	int64_t deadline = now_ms() + 2000;
	while (ctl_blocked() < 1 && now_ms() < deadline) usleep(5000);
	assert_int_equal(ctl_blocked(), 1);
	/* The only worker is stuck: reading and accepting go on, and a
	 * request that waited a whole request timeout for it gets 503. */
	char body[256];
	int64_t t0 = now_ms();
	assert_int_equal(one_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body), 503);
	assert_true(now_ms() - t0 >= RT_MS - 50 && now_ms() - t0 < RT_MS + 1000);
	assert_non_null(strstr(body, "busy"));
	ctl_release();
	rbuf *b = calloc(1, sizeof *b);
	assert_int_equal(response(blocker, b, body, sizeof body, 2000), 200);
	assert_string_equal(body, "released");
	free(b);
	close(blocker);
	assert_int_equal(one_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body), 200);
	jm_http_stats st;
	jm_http_server_stats(s, &st);
	assert_int_equal(st.worker_busy, 1);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_connection_cap(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(4, 4, &port);
	/* Four idle connections fill the cap; a fifth pushes out the one that
	 * waited longest and is served. */
	int idle[4];
	for (int i = 0; i < 4; i++) {
		idle[i] = dial(port);
		usleep(20000);
	}
	send_str(idle[3], "GET /hel"); /* a slow head is a candidate too, but newer */
	usleep(50000);
	char body[256];
	assert_int_equal(one_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body), 200);
	assert_true(closed_within(idle[0], 1000));
	jm_http_stats st;
	jm_http_server_stats(s, &st);
	assert_true(st.evicted >= 1);
	assert_true(st.connections <= 4);
	for (int i = 0; i < 4; i++) close(idle[i]);
	usleep(100000);

	/* Four connections with a handler each: none can go, a fifth gets 503. */
	int busy[4];
	for (int i = 0; i < 4; i++) {
		busy[i] = dial(port);
		send_str(busy[i], "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
	}
	int64_t deadline = now_ms() + 2000;
	while (ctl_blocked() < 4 && now_ms() < deadline) usleep(5000);
	assert_int_equal(ctl_blocked(), 4);
	assert_int_equal(one_request(port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body), 503);
	assert_non_null(strstr(body, "too many connections"));
	ctl_release();
	rbuf *b = calloc(1, sizeof *b);
	for (int i = 0; i < 4; i++) {
		memset(b, 0, sizeof *b);
		assert_int_equal(response(busy[i], b, body, sizeof body, 2000), 200);
		close(busy[i]);
	}
	free(b);
	jm_http_server_stats(s, &st);
	assert_true(st.rejected >= 1);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static void test_stream(void **state)
{
	(void)state;
	int port;
	jm_http_server *s = start(16, 2, &port);
	char body[512];
	assert_int_equal(one_request(port, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", body, sizeof body),
			 200);
	assert_string_equal(body, "data: one\n\ndata: two\n\ndata: three\n\n");
	/* HTTP/1.0: no chunks, the end is the close. */
	assert_int_equal(one_request(port, "GET /stream HTTP/1.0\r\n\r\n", body, sizeof body), 200);
	assert_string_equal(body, "data: one\n\ndata: two\n\ndata: three\n\n");
	usleep(100000);
	assert_int_equal(jm_http_server_destroy(s, 2000), FLINC_OK);
}

static jm_http_server *g_stuck; /* left allocated by the stuck destroy */

static void test_stuck_handler_shutdown(void **state)
{
	(void)state;
	int port;
	g_stuck = start(16, 2, &port);
	int fd = dial(port);
	send_str(fd, "GET /block HTTP/1.1\r\nHost: x\r\n\r\n");
	int64_t deadline = now_ms() + 2000;
	while (ctl_blocked() < 1 && now_ms() < deadline) usleep(5000);
	assert_int_equal(ctl_blocked(), 1);
	int64_t t0 = now_ms();
	assert_int_equal(jm_http_server_destroy(g_stuck, 300), FLINC_ETIMEDOUT);
	assert_true(now_ms() - t0 < 1500);
	/* The client was cut off; the handler, let go, finds valid memory. */
	assert_true(closed_within(fd, 1000));
	close(fd);
	ctl_release();
	deadline = now_ms() + 2000;
	while (ctl_blocked() > 0 && now_ms() < deadline) usleep(5000);
	assert_int_equal(ctl_blocked(), 0);
	usleep(50000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keepalive_pipelining_head),
		cmocka_unit_test(test_refusals_on_the_wire),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_busy_workers),
		cmocka_unit_test(test_connection_cap),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_stuck_handler_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
