/*
 * influx_sink.c - JSON records as InfluxDB 1.x points (docs/sinks.md,
 * "InfluxDB").
 *
 * Each record becomes one line of the line protocol (store_line.c); the
 * lines are buffered and sent with one HTTP/1.1 POST /write?db=DB&
 * precision=ns when `batch` points or `batch-size` bytes are buffered, when
 * the oldest buffered point is `linger` old (checked as records come), and
 * at every checkpoint barrier (flush), so a completed checkpoint has every
 * point before its barrier in InfluxDB (at-least-once). A point's time is
 * its record's event time, and the nanoseconds below the millisecond hold
 * a hash of the record: after a restart the replayed records overwrite
 * their own points instead of adding new ones, so the series end up as an
 * exactly-once run would leave them (docs/sinks.md says when not).
 *
 * The HTTP client is a plain blocking socket with timeouts (no library):
 * one keep-alive connection per subtask, reopened when the server closed
 * it. A POST that fails (no connection, a timeout, a 5xx answer) is tried
 * again `retries` times with a growing pause; then the task fails with
 * one line, and the job restarts from its last checkpoint (nothing lost).
 * A 400 answer (InfluxDB refused some points, e.g. a field whose type
 * changed; it wrote the others) fails the task too, unless refused=skip:
 * then the refused points are counted and logged at a bounded rate. Other
 * 4xx answers (authentication, unknown database) fail the task at once.
 *
 * Threads: each instance belongs to its subtask's thread.
 */
#include <flinc/flinc.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "connectors.h"
#include "fl_base.h"
#include "graph.h"
#include "stores.h"

#define LINE_BUF_SIZE 4096
#define RESP_KEEP 512 /* bytes of an answer's body kept for the message */

typedef struct isink_conf {
	const fl_influx_addr *a;
	flinc_format_fn fmt;
	fl_influx_fmt f;
	const char *write_path; /* /write?db=...&precision=ns */
	const char *auth;       /* "Authorization: Basic ...\r\n" or "" */
	const char *host_hdr;   /* HOST:PORT */
} isink_conf;

typedef struct isink {
	const isink_conf *conf;
	int fd;
	char *line;
	size_t lcap;
	fl_buf body, fields;
	uint32_t npoints;
	int64_t first_ns; /* monotonic time of the oldest buffered point */
	uint64_t refused; /* points InfluxDB refused (400) */
	fl_log_limit lim;
} isink;

/* ---- HTTP ----------------------------------------------------------------- */

static void conn_close(isink *s)
{
	if (s->fd >= 0) close(s->fd);
	s->fd = -1;
}

static int conn_open(isink *s, char *err, size_t errcap)
{
	const fl_influx_addr *a = s->conf->a;
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int g = getaddrinfo(a->host, a->port, &hints, &res);
	if (g) {
		snprintf(err, errcap, "cannot resolve %s: %s", a->host, gai_strerror(g));
		return -1;
	}
	int fd = -1, last = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
		if (errno == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int r = poll(&p, 1, (int)a->timeout_ms);
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
				break;
			last = r == 0 ? ETIMEDOUT : soerr ? soerr : errno;
		} else {
			last = errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errcap, "cannot connect to %s:%s: %s", a->host, a->port, strerror(last));
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	struct timeval tv = { .tv_sec = a->timeout_ms / 1000, .tv_usec = (a->timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->fd = fd;
	return 0;
}

static int send_all(int fd, const char *p, size_t n, char *err, size_t errcap)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR) continue;
			snprintf(err, errcap, "send: %s", errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A received answer: buf holds what was read so far. */
typedef struct reader {
	int fd;
	char buf[8192];
	size_t have, pos;
	char *err;
	size_t errcap;
} reader;

static int fill(reader *r)
{
	if (r->pos == r->have) r->pos = r->have = 0;
	if (r->have == sizeof r->buf) {
		snprintf(r->err, r->errcap, "an answer line longer than %zu bytes", sizeof r->buf);
		return -1;
	}
	for (;;) {
		ssize_t n = recv(r->fd, r->buf + r->have, sizeof r->buf - r->have, 0);
		if (n > 0) {
			r->have += (size_t)n;
			return 0;
		}
		if (n == 0) {
			snprintf(r->err, r->errcap, "the server closed the connection");
			return -1;
		}
		if (errno == EINTR) continue;
		snprintf(r->err, r->errcap, "receive: %s",
			 errno == EAGAIN || errno == EWOULDBLOCK ? "no answer within the timeout"
								 : strerror(errno));
		return -1;
	}
}

/* One line (without CRLF) into out; -1 on error. */
static int read_line(reader *r, char *out, size_t cap)
{
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->have - r->pos);
		if (nl) {
			size_t n = (size_t)(nl - (r->buf + r->pos));
			size_t k = n && r->buf[r->pos + n - 1] == '\r' ? n - 1 : n;
			if (k >= cap) k = cap - 1;
			memcpy(out, r->buf + r->pos, k);
			out[k] = 0;
			r->pos += n + 1;
			return 0;
		}
		if (r->pos) { /* move the partial line to the front */
			memmove(r->buf, r->buf + r->pos, r->have - r->pos);
			r->have -= r->pos;
			r->pos = 0;
		}
		if (fill(r)) return -1;
	}
}

/* n body bytes: the first into keep (up to its room), the rest dropped. */
static int read_body(reader *r, uint64_t n, char *keep, size_t keepcap, size_t *kept)
{
	while (n) {
		if (r->pos == r->have && fill(r)) return -1;
		size_t k = r->have - r->pos;
		if (k > n) k = (size_t)n;
		if (*kept + 1 < keepcap) {
			size_t c = keepcap - 1 - *kept < k ? keepcap - 1 - *kept : k;
			memcpy(keep + *kept, r->buf + r->pos, c);
			*kept += c;
			keep[*kept] = 0;
		}
		r->pos += k;
		n -= k;
	}
	return 0;
}

/* POST path with body; the status in *status and the start of the
 * answer's body in msg. -1 (with err) when the exchange failed: the
 * connection is closed then. */
static int http_post(isink *s, const char *path, const char *body, size_t len, int *status, char *msg,
		     size_t msgcap, char *err, size_t errcap)
{
	char hdr[1024];
	int hn = snprintf(hdr, sizeof hdr,
			  "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: flinc\r\n%sContent-Type: text/plain; "
			  "charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
			  path, s->conf->host_hdr, s->conf->auth, len);
	if (hn < 0 || (size_t)hn >= sizeof hdr) {
		snprintf(err, errcap, "request header too long");
		return -1;
	}
	if (s->fd < 0 && conn_open(s, err, errcap)) return -1;
	reader *r = fl_malloc(sizeof *r);
	r->fd = s->fd;
	r->have = r->pos = 0;
	r->err = err;
	r->errcap = errcap;
	char line[512];
	int rc = -1;
	if (send_all(s->fd, hdr, (size_t)hn, err, errcap) || send_all(s->fd, body, len, err, errcap))
		goto out;
	if (read_line(r, line, sizeof line)) goto out;
	int st = 0;
	if (sscanf(line, "HTTP/1.%*d %d", &st) != 1 || st < 100 || st > 599) {
		snprintf(err, errcap, "not an HTTP answer: \"%.60s\"", line);
		goto out;
	}
	int64_t clen = -1;
	bool chunked = false, keep_alive = true;
	for (;;) {
		if (read_line(r, line, sizeof line)) goto out;
		if (!line[0]) break;
		if (strncasecmp(line, "Content-Length:", 15) == 0) clen = strtoll(line + 15, NULL, 10);
		if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line + 18, "chunked"))
			chunked = true;
		if (strncasecmp(line, "Connection:", 11) == 0 && strstr(line + 11, "close"))
			keep_alive = false;
	}
	size_t kept = 0;
	msg[0] = 0;
	if (chunked) {
		for (;;) {
			if (read_line(r, line, sizeof line)) goto out;
			char *end;
			unsigned long long n = strtoull(line, &end, 16);
			if (end == line) {
				snprintf(err, errcap, "a bad chunk size in the answer");
				goto out;
			}
			if (n == 0) {
				do { /* trailers */
					if (read_line(r, line, sizeof line)) goto out;
				} while (line[0]);
				break;
			}
			if (read_body(r, n, msg, msgcap, &kept) || read_line(r, line, sizeof line)) goto out;
		}
	} else if (clen >= 0) {
		if (read_body(r, (uint64_t)clen, msg, msgcap, &kept)) goto out;
	} else if (st != 204 && st != 304 && st >= 200) {
		/* the body ends with the connection */
		keep_alive = false;
		while (read_body(r, 1, msg, msgcap, &kept) == 0) {
		}
	}
	*status = st;
	rc = 0;
	if (!keep_alive) conn_close(s);
out:
	if (rc) conn_close(s);
	free(r);
	return rc;
}

static void pause_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* The InfluxDB error in an answer's body ({"error":"..."}), one line. */
static void error_text(const char *body, char *out, size_t cap)
{
	const char *e = strstr(body, "\"error\":\"");
	const char *s = e ? e + 9 : body;
	size_t k = 0;
	for (; *s && k + 1 < cap && !(e && *s == '"'); s++) {
		if (e && *s == '\\' && s[1]) s++; /* a JSON escape: its character */
		out[k++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
	}
	out[k] = 0;
}

/* POST with bounded retries. 0: done (*status 2xx or 400), else the task
 * failed with a message. */
static int post_retrying(flinc_ctx *c, isink *s, const char *what, const char *path, const char *body,
			 size_t len, int *status, char *msg, size_t msgcap)
{
	const fl_influx_addr *a = s->conf->a;
	char err[256], last[300];
	last[0] = 0;
	int64_t pause = 200;
	for (uint32_t attempt = 0;; attempt++) {
		int st = 0;
		if (http_post(s, path, body, len, &st, msg, msgcap, err, sizeof err) == 0) {
			if ((st >= 200 && st < 300) || st == 400) {
				*status = st;
				return FLINC_OK;
			}
			char et[200];
			error_text(msg, et, sizeof et);
			snprintf(last, sizeof last, "HTTP %d: %s", st, et);
			if (st <
			    500) { /* authentication, unknown database, ...: trying again will not help */
				flinc_ctx_fail(c, "output %s: %s: %s", a->display, what, last);
				return FLINC_EIO;
			}
		} else {
			snprintf(last, sizeof last, "%s", err);
		}
		if (attempt >= a->retries) break;
		fl_log_limited(&s->lim, FL_LOG_WARN, "influxdb",
			       "output %s: %s failed (%s); trying again in %" PRId64 " ms", a->display, what,
			       last, pause);
		pause_ms(pause);
		pause = pause * 4 > 5000 ? 5000 : pause * 4;
	}
	flinc_ctx_fail(c, "output %s: %s failed %u times, the last: %s", a->display, what, a->retries + 1,
		       last);
	return FLINC_EIO;
}

/* ---- the sink --------------------------------------------------------------- */

static int send_batch(flinc_ctx *c, isink *s)
{
	if (!s->npoints) return FLINC_OK;
	int st = 0;
	char msg[RESP_KEEP];
	int rc = post_retrying(c, s, "POST /write", s->conf->write_path, s->body.p, s->body.len, &st, msg,
			       sizeof msg);
	if (rc) return rc;
	if (st == 400) {
		/* "partial write: ... dropped=N" or "unable to parse ...": the
		 * valid points were written */
		char et[300];
		error_text(msg, et, sizeof et);
		const char *d = strstr(msg, "dropped=");
		uint64_t n = d ? strtoull(d + 8, NULL, 10) : 0;
		if (!s->conf->a->refused_skip) {
			flinc_ctx_fail(
				c,
				"output %s: InfluxDB refused points of a batch of %u: %s (refused=skip counts "
				"them and goes on)",
				s->conf->a->display, s->npoints, et);
			return FLINC_EIO;
		}
		s->refused += n ? n : 1;
		fl_log_limited(&s->lim, FL_LOG_WARN, "influxdb",
			       "output %s: InfluxDB refused points of a batch of %u (%" PRIu64 " so far): %s",
			       s->conf->a->display, s->npoints, s->refused, et);
	}
	s->body.len = 0;
	s->npoints = 0;
	return FLINC_OK;
}

static int create_database(flinc_ctx *c, isink *s)
{
	const fl_influx_addr *a = s->conf->a;
	/* q=CREATE DATABASE "db" (idempotent in InfluxDB 1.x), percent-encoded */
	fl_buf q = { 0 };
	const char *pre = "/query?q=CREATE%20DATABASE%20%22";
	fl_buf_add(&q, pre, strlen(pre));
	for (const unsigned char *p = (const unsigned char *)a->db; *p; p++) {
		char t[8];
		int n;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '-' || *p == '.')
			n = snprintf(t, sizeof t, "%c", *p);
		else if (*p == '"' || *p == '\\')
			n = snprintf(t, sizeof t, "%%5C%%%02X", *p); /* escaped inside the identifier */
		else
			n = snprintf(t, sizeof t, "%%%02X", *p);
		fl_buf_add(&q, t, (size_t)n);
	}
	fl_buf_add(&q, "%22", 4); /* with the NUL */
	int st = 0;
	char msg[RESP_KEEP];
	int rc = post_retrying(c, s, "CREATE DATABASE", q.p, "", 0, &st, msg, sizeof msg);
	fl_buf_free(&q);
	if (rc) return rc;
	if (st != 200 || strstr(msg, "\"error\"")) {
		char et[200];
		error_text(msg, et, sizeof et);
		flinc_ctx_fail(c, "output %s: CREATE DATABASE: HTTP %d: %s", a->display, st, et);
		return FLINC_EIO;
	}
	return FLINC_OK;
}

static int isink_open(flinc_ctx *c, void *local)
{
	isink *s = local;
	s->conf = flinc_ctx_arg(c);
	s->fd = -1;
	s->lim.burst = 5;
	s->lim.window_ms = 60000;
	s->lcap = LINE_BUF_SIZE;
	s->line = fl_malloc(s->lcap);
	if (s->conf->a->create) return create_database(c, s);
	return FLINC_OK;
}

static int isink_write(flinc_ctx *c, void *local, const void *rec)
{
	isink *s = local;
	size_t n = fl_conn_format(c, s->conf->fmt, rec, &s->line, &s->lcap, s->conf->a->display);
	if (n == SIZE_MAX) return FLINC_EUSER;
	char why[160];
	int rc = fl_influx_line(&s->conf->f, s->line, n, &s->body, &s->fields, why, sizeof why);
	if (rc == FLINC_ECODEC) {
		char r[200];
		snprintf(r, sizeof r, "influxdb: %s", why);
		flinc_ctx_reject(c, r);
		return FLINC_OK;
	}
	if (rc) {
		flinc_ctx_fail(c, "output %s: %s", s->conf->a->display, why);
		return rc;
	}
	int64_t now = fl_mono_ns();
	if (s->npoints++ == 0) s->first_ns = now;
	const fl_influx_addr *a = s->conf->a;
	if (s->npoints >= a->batch_points || s->body.len >= a->batch_bytes ||
	    now - s->first_ns >= a->linger_ms * 1000000)
		return send_batch(c, s);
	return FLINC_OK;
}

static int isink_flush(flinc_ctx *c, void *local, int64_t id)
{
	(void)id;
	return send_batch(c, local);
}

static void isink_close(flinc_ctx *c, void *local)
{
	(void)c;
	isink *s = local;
	if (s->line) conn_close(s); /* opened: fd is -1 or a socket (a zeroed local has fd 0) */
	free(s->line);
	fl_buf_free(&s->body);
	fl_buf_free(&s->fields);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

static const flinc_sink_fn influx_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(isink),
	.open = isink_open,
	.write = isink_write,
	.flush = isink_flush,
	.close = isink_close,
};

/* Percent-encode s (a query value) into the env's pool. */
static const char *query_enc(flinc_env *e, const char *s)
{
	size_t n = strlen(s);
	char *d = flinc_env_alloc(e, 3 * n + 1);
	size_t k = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || *p == '-' || *p == '.' || *p == '~')
			d[k++] = (char)*p;
		else
			k += (size_t)snprintf(d + k, 4, "%%%02X", *p);
	}
	d[k] = 0;
	return d;
}

static const char *basic_auth(flinc_env *e, const char *user, const char *pass)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t un = strlen(user), pn = pass ? strlen(pass) : 0, n = un + 1 + pn;
	char *raw = flinc_env_alloc(e, n + 1);
	snprintf(raw, n + 1, "%s:%s", user, pass ? pass : "");
	size_t cap = 32 + 4 * (n / 3 + 1);
	char *d = flinc_env_alloc(e, cap);
	size_t k = (size_t)snprintf(d, cap, "Authorization: Basic ");
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)raw[i] << 16;
		if (i + 1 < n) v |= (uint32_t)(unsigned char)raw[i + 1] << 8;
		if (i + 2 < n) v |= (unsigned char)raw[i + 2];
		d[k++] = b64[(v >> 18) & 63];
		d[k++] = b64[(v >> 12) & 63];
		d[k++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		d[k++] = i + 2 < n ? b64[v & 63] : '=';
	}
	memcpy(d + k, "\r\n", 3);
	return d;
}

int fl_influx_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address,
		      flinc_format_fn fmt)
{
	const fl_influx_addr *a = fl_influx_parse(e, address, name);
	if (!a) return FLINC_EGRAPH;
	isink_conf *conf = flinc_env_alloc(e, sizeof *conf);
	conf->a = a;
	conf->fmt = fmt;
	conf->f.measurement = a->measurement;
	conf->f.tags = a->tags;
	conf->f.ntags = a->ntags;
	conf->f.time_field = a->time_field;
	const char *db = query_enc(e, a->db);
	size_t pn = strlen(db) + 64;
	char *path = flinc_env_alloc(e, pn);
	snprintf(path, pn, "/write?db=%s&precision=ns", db);
	conf->write_path = path;
	conf->auth = a->user ? basic_auth(e, a->user, a->pass) : "";
	size_t hn = strlen(a->host) + strlen(a->port) + 4;
	char *hh = flinc_env_alloc(e, hn);
	snprintf(hh, hn, strchr(a->host, ':') ? "[%s]:%s" : "%s:%s", a->host, a->port);
	conf->host_hdr = hh;
	flinc_sink(in, name, &influx_sink_fn, conf);
	return e->failed ? FLINC_EGRAPH : FLINC_OK;
}
