/*
 * http_server.c - the HTTP/1.1 server (see http_server.h).
 *
 * One connection at a time belongs to one owner, which alone touches its
 * parser, read buffer and answer: the nng callback that completed its read
 * or write, or the worker running its task, or the thread that accepted it.
 * Ownership passes through s->mu (queueing a task, starting an aio), so
 * the owner needs no lock for those fields. The bookkeeping other threads
 * look at (which aio is pending, queued, closed, references) is under s->mu.
 *
 * A connection moves through phases:
 *   P_HEAD    waiting for a request head (rx with the head's deadline, or
 *             the idle timeout between requests)
 *   P_HANDLER its head (or a body piece) waits for or runs on a worker
 *   P_BODY    reading a body for the handler's body ops (rx with the
 *             request timeout); each piece is a task for a worker
 *   P_WRITE   sending an answer (tx with the request timeout)
 *   P_DRAIN   reading and dropping the rest of a small body the handler
 *             did not take, then the next request
 *   P_LINGER  reading and dropping anything for up to LINGER_MS before
 *             closing, so the client reads our answer rather than a reset
 *   P_STREAM  a streamed answer: pieces from any thread, a read that only
 *             watches for the client leaving
 *
 * Teardown: conn_close closes the nng stream, which ends pending aios with
 * NNG_ECLOSED; once no aio is pending, no worker holds it and no reference
 * is left, the connection goes to the dead list and the service thread
 * frees it (nng aios cannot be freed from their own callbacks). The
 * service thread also answers 503 to heads that waited too long for a
 * worker.
 */
#include "http_server.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/transport/tcp/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fl_base.h"
#include "fl_tls.h"
#include "http_parse.h"

#define RBUF_SIZE (32u << 10)             /* read buffer of a connection */
#define DRAIN_MAX (1u << 20)              /* an unread body this small is dropped and the connection kept */
#define LINGER_MS 1000                    /* reading before a close with input unread */
#define LINGER_MAX (4u << 20)             /* bytes dropped while lingering */
#define RESP_HDRS_MAX 2048                /* headers a handler adds */
#define STREAM_MAX (1u << 20)             /* bytes a stream may have waiting */
#define SVC_TICK_MS 200                   /* the service thread's check of the queue */
#define ORIGIN_MAX 300                    /* "http://" + Host */
#define REJECT_SLACK(max) ((max) / 4 + 8) /* connections closing or refused above the cap */

typedef enum phase { P_HEAD, P_HANDLER, P_BODY, P_WRITE, P_DRAIN, P_LINGER, P_STREAM } phase;
typedef enum task { T_NONE, T_HEAD, T_DATA, T_END, T_ABORT } task;

typedef struct conn conn;

struct jm_http_req {
	conn *c;
	bool head_req;  /* HEAD: headers only */
	bool answered;  /* jm_http_respond or jm_http_stream_begin called */
	bool no_answer; /* the body ended ABORTED: answers are dropped */
	bool stream;
	int status;
	char ctype[128];
	char *body;
	size_t blen;
	const jm_http_body_ops *ops; /* the body is the handler's */
	void *state;
	int64_t body_max;
	char origin[ORIGIN_MAX];
	size_t hlen;
	char hdrs[RESP_HDRS_MAX]; /* last: a new request clears what is above */
};

struct conn {
	jm_http_server *s;
	conn *prev, *next; /* s->conns */
	conn *qnext;       /* s's work queue, the late list or the dead list */
	nng_stream *st;
	nng_aio *rx, *tx;

	/* under s->mu */
	task t;
	bool rx_busy, tx_busy, queued, closed, dead;
	bool evictable; /* rx_busy waiting for the client (head, body, drain, linger) */
	int working;    /* workers (or the service thread) holding it */
	int refs;       /* stream handles, closers */
	int64_t last_io, queued_at;
	bool stream_started, stream_ended; /* P_STREAM */
	fl_strbuf sq;                      /* P_STREAM: pieces waiting */

	/* the owner's */
	phase ph;
	int64_t deadline; /* of the head being read; 0: idle between requests */
	int nreq;
	bool close_after, linger, continue_body, sent_continue;
	bool chunked_out; /* P_STREAM: set under s->mu before stream_started */
	int64_t linger_until;
	size_t dropped;
	const uint8_t *piece; /* T_DATA */
	size_t plen;
	jm_http_body_end abort_how; /* T_ABORT */
	int abort_status;
	const char *abort_msg;
	char *out_head, *out_body; /* the answer being sent (malloc'ed) */
	size_t out_head_len, out_body_len, sent;
	size_t off, len;
	jm_http_req req;
	jm_http_parser p;
	uint8_t rbuf[RBUF_SIZE];
};

struct jm_http_server {
	jm_http_config cfg;
	char *url, *component;
	nng_stream_listener *l;
	nng_aio *acc;
	bool acc_sleeping; /* acc runs a back-off sleep, not an accept */

	pthread_mutex_t mu;
	pthread_cond_t work_cv; /* workers: a task is queued, or stop */
	pthread_cond_t svc_cv;  /* the service thread: a dead connection, or stop */
	pthread_cond_t idle_cv; /* destroy: a connection was freed */
	bool closing, stop_workers, svc_stop;
	/* TLS (cfg.tls): a send completes once nng's TLS layer holds the
	 * bytes, not once they are on the wire, and closing drops what it
	 * still holds: every close after an answer lingers until the client
	 * closes (or LINGER_MS). */
	bool tls;
	conn *conns; /* every connection not yet freed */
	int nconns;  /* ... how many */
	int nopen;   /* ... of them not closed */
	conn *q_head, *q_tail;
	conn *dead;
	pthread_t *workers;
	int nworkers;
	pthread_t svc;
	jm_http_stats st;
};

static int64_t now_ms(void) { return fl_mono_ns() / 1000000; }

static fl_log_limit lim_reject = FL_LOG_LIMIT_INIT(3, 10000);
static fl_log_limit lim_busy = FL_LOG_LIMIT_INIT(3, 10000);
static fl_log_limit lim_accept = FL_LOG_LIMIT_INIT(3, 10000);
static fl_log_limit lim_bug = FL_LOG_LIMIT_INIT(3, 10000);

static void conn_input(conn *c);
static void read_more(conn *c);
static void send_more(conn *c);
static void answer_error(conn *c, int status, const char *msg);

/* ---- bookkeeping (s->mu) ---------------------------------------------- */

/* A closed connection nobody uses any more goes to the service thread. */
static void reap_check_locked(conn *c)
{
	jm_http_server *s = c->s;
	if (!c->closed || c->dead || c->rx_busy || c->tx_busy || c->queued || c->working || c->refs) return;
	c->dead = true;
	c->qnext = s->dead;
	s->dead = c;
	pthread_cond_signal(&s->svc_cv);
}

/* Close c's stream (pending aios end with NNG_ECLOSED); c is freed once
 * nothing uses it. Any thread that holds c (an owner, or a reference). */
static void conn_close(conn *c)
{
	jm_http_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	bool was = c->closed;
	if (!was) {
		c->closed = true;
		s->nopen--;
	}
	c->refs++;
	pthread_mutex_unlock(&s->mu);
	if (!was) nng_stream_close(c->st);
	pthread_mutex_lock(&s->mu);
	c->refs--;
	reap_check_locked(c);
	pthread_mutex_unlock(&s->mu);
}

/* Hand c to the workers with task t (the caller gives up ownership). A new
 * request while the server closes is not started: c closes instead. */
static void enqueue(conn *c, task t)
{
	jm_http_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	if (t == T_HEAD && (s->closing || c->closed)) {
		pthread_mutex_unlock(&s->mu);
		conn_close(c);
		return;
	}
	if (t == T_HEAD) s->st.requests++;
	c->ph = P_HANDLER;
	c->t = t;
	c->queued = true;
	c->queued_at = now_ms();
	c->qnext = NULL;
	if (s->q_tail)
		s->q_tail->qnext = c;
	else
		s->q_head = c;
	s->q_tail = c;
	pthread_cond_signal(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- the answer on the wire ----------------------------------------------- */

/* Send what is left of out_head and out_body (the caller set tx_busy). */
static void send_more(conn *c)
{
	nng_iov iov[2];
	unsigned k = 0;
	if (c->sent < c->out_head_len) {
		iov[k].iov_buf = c->out_head + c->sent;
		iov[k].iov_len = c->out_head_len - c->sent;
		k++;
		if (c->out_body_len) {
			iov[k].iov_buf = c->out_body;
			iov[k].iov_len = c->out_body_len;
			k++;
		}
	} else {
		size_t b = c->sent - c->out_head_len;
		iov[k].iov_buf = c->out_body + b;
		iov[k].iov_len = c->out_body_len - b;
		k++;
	}
	nng_aio_set_iov(c->tx, k, iov);
	nng_aio_set_timeout(c->tx, (nng_duration)c->s->cfg.request_timeout_ms);
	nng_stream_send(c->st, c->tx);
}

/* Start sending out_head/out_body; false when c is closed (then it is
 * closing: the caller lets go). Owner. */
static bool send_start(conn *c)
{
	jm_http_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	bool ok = !c->closed;
	if (ok) c->tx_busy = true;
	pthread_mutex_unlock(&s->mu);
	if (!ok) {
		conn_close(c);
		return false;
	}
	c->sent = 0;
	send_more(c);
	return true;
}

static void out_free(conn *c)
{
	free(c->out_head);
	free(c->out_body);
	c->out_head = c->out_body = NULL;
	c->out_head_len = c->out_body_len = c->sent = 0;
}

/* Decide whether the connection stays open after this answer: set
 * close_after and linger. */
static void decide_close(conn *c)
{
	jm_http_parser *p = &c->p;
	bool close = !p->keep_alive || p->status != 0;
	bool linger = p->status != 0;
	if (jm_http_parser_in_body(p)) {
		int64_t left = jm_http_parser_body_left(p);
		if (left != 0) {
			if (p->expect_continue && !c->sent_continue) {
				/* It waits for our 100 to send the body, which it will
				 * not get (it may send it anyway after a while). */
				close = linger = true;
			} else if (left < 0 || left > (int64_t)DRAIN_MAX) {
				close = linger = true;
			} else {
				p->body_max = INT64_MAX; /* dropped, then the next request */
			}
		}
	}
	c->close_after = close;
	c->linger = close && (linger || c->s->tls);
}

/* Send the handler's answer in c->req. Owner. */
static void send_answer(conn *c)
{
	jm_http_req *r = &c->req;
	decide_close(c);
	fl_strbuf h = { 0 };
	fl_sb_printf(&h, "HTTP/1.1 %d %s\r\n", r->status, jm_http_reason(r->status));
	if (r->ctype[0]) fl_sb_printf(&h, "Content-Type: %s\r\n", r->ctype);
	fl_sb_printf(&h, "Content-Length: %zu\r\nX-Content-Type-Options: nosniff\r\n", r->blen);
	if (c->close_after)
		fl_sb_printf(&h, "Connection: close\r\n");
	else if (c->p.minor == 0)
		fl_sb_printf(&h, "Connection: keep-alive\r\n");
	if (r->hlen) fl_sb_append(&h, r->hdrs, r->hlen);
	fl_sb_append(&h, "\r\n", 2);
	out_free(c);
	c->out_head = h.data;
	c->out_head_len = h.len;
	if (r->head_req) {
		free(r->body);
	} else {
		c->out_body = r->body;
		c->out_body_len = r->blen;
	}
	r->body = NULL;
	r->blen = 0;
	c->ph = P_WRITE;
	send_start(c);
}

/* Answer status with {"errors": [msg]} and close (after lingering). For
 * requests the handler never saw and failures of the server's own. Owner. */
static void answer_error(conn *c, int status, const char *msg)
{
	fl_strbuf b = { 0 };
	fl_sb_append(&b, "{\"errors\":[", 11);
	fl_sb_json_str(&b, msg);
	fl_sb_append(&b, "]}\n", 3);
	fl_strbuf h = { 0 };
	fl_sb_printf(
		&h,
		"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
		status, jm_http_reason(status), b.len);
	out_free(c);
	c->out_head = h.data;
	c->out_head_len = h.len;
	c->out_body = b.data;
	c->out_body_len = b.len;
	c->close_after = true;
	c->linger = true;
	c->continue_body = false;
	c->ph = P_WRITE;
	send_start(c);
}

/* The current request is done (answered, its body read): the next one. */
static void request_done(conn *c)
{
	free(c->req.body);
	memset(&c->req, 0, offsetof(jm_http_req, hdrs));
	jm_http_parser_reset(&c->p);
	c->sent_continue = false;
	c->nreq++;
	c->deadline = 0;
	c->ph = P_HEAD;
}

/* The answer is out: what next. Owner (the tx callback). */
static void after_send(conn *c)
{
	if (c->continue_body) { /* "100 Continue" went out: now the body */
		c->continue_body = false;
		c->ph = P_BODY;
		conn_input(c);
		return;
	}
	if (c->close_after) {
		if (!c->linger) {
			conn_close(c);
			return;
		}
		c->ph = P_LINGER;
		c->linger_until = now_ms() + LINGER_MS;
		c->dropped = 0;
		c->off = c->len = 0;
		read_more(c);
		return;
	}
	if (jm_http_parser_in_body(&c->p)) {
		c->ph = P_DRAIN;
	} else {
		request_done(c);
	}
	conn_input(c);
}

static void tx_cb(void *arg)
{
	conn *c = arg;
	jm_http_server *s = c->s;
	int rv = nng_aio_result(c->tx);
	size_t n = nng_aio_count(c->tx);
	/* tx_busy stays set until the answer's buffers are settled: a stream
	 * piece queued meanwhile must not start a send of its own. */
	if (rv == 0) {
		c->sent += n;
		if (c->sent < c->out_head_len + c->out_body_len) {
			pthread_mutex_lock(&s->mu);
			bool closed = c->closed;
			if (closed) c->tx_busy = false;
			pthread_mutex_unlock(&s->mu);
			if (closed)
				conn_close(c);
			else
				send_more(c);
			return;
		}
		out_free(c);
	}
	pthread_mutex_lock(&s->mu);
	c->tx_busy = false;
	bool closed = c->closed;
	bool more = false, end = false;
	if (rv == 0 && !closed && c->ph == P_STREAM) {
		/* A stream: the next pieces, or the end. */
		more = c->sq.len > 0;
		end = !more && c->stream_ended;
		if (more) {
			c->out_body = c->sq.data;
			c->out_body_len = c->sq.len;
			memset(&c->sq, 0, sizeof c->sq);
			c->tx_busy = true;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (rv != 0 || closed || end) {
		conn_close(c);
	} else if (more) {
		send_more(c);
	} else if (c->ph != P_STREAM) {
		after_send(c);
	}
}

/* ---- reading ---------------------------------------------------------------- */

/* Read more of what the phase waits for, with its timeout. Owner; every
 * byte received so far has been used. */
static void read_more(conn *c)
{
	jm_http_server *s = c->s;
	int64_t now = now_ms();
	nng_duration to;
	switch (c->ph) {
	case P_HEAD:
		/* A pipelined head begun in the last read: its clock runs. */
		if (!c->deadline && jm_http_parser_started(&c->p))
			c->deadline = now + s->cfg.request_timeout_ms;
		if (c->deadline) {
			int64_t left = c->deadline - now;
			to = (nng_duration)(left > 0 ? left : 1);
		} else {
			to = (nng_duration)s->cfg.idle_timeout_ms;
		}
		break;
	case P_LINGER: {
		int64_t left = c->linger_until - now;
		to = (nng_duration)(left > 0 ? left : 1);
		break;
	}
	case P_STREAM: to = NNG_DURATION_INFINITE; break;
	default: to = (nng_duration)s->cfg.request_timeout_ms; break;
	}
	c->off = c->len = 0;
	bool evictable = c->ph == P_HEAD || c->ph == P_BODY || c->ph == P_DRAIN || c->ph == P_LINGER;
	pthread_mutex_lock(&s->mu);
	bool ok = !c->closed;
	if (ok) {
		c->rx_busy = true;
		c->evictable = evictable;
	}
	pthread_mutex_unlock(&s->mu);
	if (!ok) {
		conn_close(c);
		return;
	}
	nng_iov iov = { .iov_buf = c->rbuf, .iov_len = RBUF_SIZE };
	nng_aio_set_iov(c->rx, 1, &iov);
	nng_aio_set_timeout(c->rx, to);
	nng_stream_recv(c->st, c->rx);
}

/* A read failed (rv), timed out or found the connection closed. Owner. */
static void rx_failed(conn *c, int rv)
{
	jm_http_server *s = c->s;
	bool timeout = rv == NNG_ETIMEDOUT;
	if (timeout) {
		pthread_mutex_lock(&s->mu);
		s->st.timeouts++;
		pthread_mutex_unlock(&s->mu);
	}
	switch (c->ph) {
	case P_HEAD:
		if (timeout && jm_http_parser_started(&c->p))
			answer_error(c, 408, "the request was not complete within rest.request-timeout");
		else
			conn_close(c);
		return;
	case P_BODY:
		c->abort_how = JM_HTTP_BODY_ABORTED;
		c->abort_status = timeout ? 408 : 0;
		c->abort_msg = "the request body did not arrive within rest.request-timeout";
		enqueue(c, T_ABORT);
		return;
	default: conn_close(c); return;
	}
}

static void rx_cb(void *arg)
{
	conn *c = arg;
	jm_http_server *s = c->s;
	int rv = nng_aio_result(c->rx);
	size_t n = nng_aio_count(c->rx);
	int64_t now = now_ms();
	pthread_mutex_lock(&s->mu);
	c->rx_busy = false;
	bool closed = c->closed;
	if (rv == 0 && n > 0) c->last_io = now;
	pthread_mutex_unlock(&s->mu);
	if (rv != 0 || closed || n == 0) {
		rx_failed(c, rv ? rv : NNG_ECLOSED);
		return;
	}
	c->len = n;
	switch (c->ph) {
	case P_LINGER:
		c->dropped += n;
		if (c->dropped > LINGER_MAX || now >= c->linger_until)
			conn_close(c);
		else
			read_more(c);
		return;
	case P_STREAM: /* the client has nothing to say while it gets a stream */ read_more(c); return;
	case P_HEAD:
		if (!c->deadline) c->deadline = now + s->cfg.request_timeout_ms;
		break;
	default: break;
	}
	conn_input(c);
}

/* Parse what was received and act on it. Owner. */
static void conn_input(conn *c)
{
	jm_http_server *s = c->s;
	for (;;) {
		size_t used;
		const uint8_t *d;
		size_t dl;
		jm_http_event ev = jm_http_parse(&c->p, c->rbuf + c->off, c->len - c->off, &used, &d, &dl);
		c->off += used;
		switch (ev) {
		case JM_HTTP_MORE: read_more(c); return;
		case JM_HTTP_HEAD: {
			jm_http_req *r = &c->req;
			r->c = c;
			r->head_req = !strcmp(jm_http_method(&c->p), "HEAD");
			const char *host = jm_http_field_value(&c->p, "host");
			if (host && strlen(host) + 8 <= sizeof r->origin)
				snprintf(r->origin, sizeof r->origin, "http://%s", host);
			else
				r->origin[0] = 0;
			enqueue(c, T_HEAD);
			return;
		}
		case JM_HTTP_BODY:
			if (c->ph == P_DRAIN) continue;
			c->piece = d;
			c->plen = dl;
			enqueue(c, T_DATA);
			return;
		case JM_HTTP_END:
			if (c->ph == P_DRAIN) {
				request_done(c);
				continue;
			}
			enqueue(c, T_END);
			return;
		case JM_HTTP_ERROR:
			if (c->ph == P_BODY) {
				c->abort_how =
					c->p.status == 413 ? JM_HTTP_BODY_TOO_LARGE : JM_HTTP_BODY_ABORTED;
				c->abort_status = c->p.status;
				c->abort_msg = c->p.error;
				enqueue(c, T_ABORT);
			} else if (c->ph == P_DRAIN) {
				conn_close(c);
			} else {
				pthread_mutex_lock(&s->mu);
				s->st.bad++;
				pthread_mutex_unlock(&s->mu);
				answer_error(c, c->p.status, c->p.error);
			}
			return;
		}
	}
}

/* ---- workers -------------------------------------------------------------- */

/* The handler's body ops end; afterwards answers are dropped when how is
 * ABORTED. */
static void end_body(conn *c, jm_http_body_end how)
{
	jm_http_req *r = &c->req;
	const jm_http_body_ops *ops = r->ops;
	r->ops = NULL;
	if (how == JM_HTTP_BODY_ABORTED) r->no_answer = true;
	if (ops) ops->end(r, r->state, how);
	r->no_answer = false;
}

/* After a handler callback returned: send its answer, start its stream or
 * read the body it took. Owner. */
static void after_handler(conn *c, bool from_head)
{
	jm_http_server *s = c->s;
	jm_http_req *r = &c->req;
	if (r->stream) {
		jm_http_parser *p = &c->p;
		bool unread = jm_http_parser_in_body(p) && jm_http_parser_body_left(p) != 0;
		fl_strbuf h = { 0 };
		fl_sb_printf(&h, "HTTP/1.1 %d %s\r\n", r->status, jm_http_reason(r->status));
		if (r->ctype[0]) fl_sb_printf(&h, "Content-Type: %s\r\n", r->ctype);
		fl_sb_printf(&h, "X-Content-Type-Options: nosniff\r\n%s",
			     c->chunked_out ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
		if (r->hlen) fl_sb_append(&h, r->hdrs, r->hlen);
		fl_sb_append(&h, "\r\n", 2);
		out_free(c);
		c->out_head = h.data;
		c->out_head_len = h.len;
		c->ph = P_STREAM;
		pthread_mutex_lock(&s->mu);
		bool ok = !c->closed;
		if (ok) {
			c->tx_busy = true;
			c->stream_started = true;
		}
		pthread_mutex_unlock(&s->mu);
		if (!ok) {
			conn_close(c);
			return;
		}
		send_more(c);
		/* Watch for the client leaving, unless its body is still coming. */
		if (!unread) read_more(c);
		return;
	}
	if (r->answered) {
		send_answer(c);
		return;
	}
	if (from_head && r->ops) {
		c->p.body_max = r->body_max;
		if (c->p.expect_continue && jm_http_parser_body_left(&c->p) != 0) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			out_free(c);
			c->out_head = fl_strdup(cont);
			c->out_head_len = sizeof cont - 1;
			c->continue_body = true;
			c->sent_continue = true;
			c->ph = P_WRITE;
			send_start(c);
			return;
		}
		c->ph = P_BODY;
		conn_input(c);
		return;
	}
	fl_log_limited(&lim_bug, FL_LOG_ERROR, s->component, "a REST handler did not answer %s %.200s",
		       jm_http_method(&c->p), jm_http_target(&c->p));
	if (r->ops) end_body(c, JM_HTTP_BODY_ABORTED);
	answer_error(c, 500, "Internal server error: the request was not answered");
}

static void run_task(conn *c, task t)
{
	jm_http_server *s = c->s;
	jm_http_req *r = &c->req;
	switch (t) {
	case T_HEAD:
		s->cfg.on_request(r, s->cfg.arg);
		after_handler(c, true);
		return;
	case T_DATA:
		if (r->ops->data(r, r->state, c->piece, c->plen) && !r->answered) {
			c->ph = P_BODY;
			conn_input(c);
			return;
		}
		end_body(c, JM_HTTP_BODY_ABORTED);
		after_handler(c, false);
		return;
	case T_END:
		end_body(c, JM_HTTP_BODY_COMPLETE);
		after_handler(c, false);
		return;
	case T_ABORT:
		end_body(c, c->abort_how);
		if (c->abort_how == JM_HTTP_BODY_TOO_LARGE)
			after_handler(c, false);
		else if (c->abort_status)
			answer_error(c, c->abort_status, c->abort_msg);
		else
			conn_close(c);
		return;
	case T_NONE: return;
	}
}

static void *worker_main(void *arg)
{
	jm_http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->q_head && !s->stop_workers) pthread_cond_wait(&s->work_cv, &s->mu);
		conn *c = s->q_head;
		if (!c) break;
		s->q_head = c->qnext;
		if (!s->q_head) s->q_tail = NULL;
		c->queued = false;
		c->working++;
		s->st.busy_workers++;
		task t = c->t;
		c->t = T_NONE;
		bool skip = t == T_HEAD && (s->closing || c->closed);
		pthread_mutex_unlock(&s->mu);
		if (skip)
			conn_close(c);
		else
			run_task(c, t);
		pthread_mutex_lock(&s->mu);
		c->working--;
		s->st.busy_workers--;
		reap_check_locked(c);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- the service thread: freeing, and heads nobody took --------------------- */

static void conn_free(conn *c)
{
	nng_aio_free(c->rx);
	nng_aio_free(c->tx);
	nng_stream_free(c->st);
	out_free(c);
	free(c->req.body);
	fl_sb_free(&c->sq);
	free(c);
}

static void *svc_main(void *arg)
{
	jm_http_server *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (s->dead) {
			conn *c = s->dead;
			s->dead = c->qnext;
			if (c->prev)
				c->prev->next = c->next;
			else
				s->conns = c->next;
			if (c->next) c->next->prev = c->prev;
			pthread_mutex_unlock(&s->mu);
			conn_free(c);
			pthread_mutex_lock(&s->mu);
			s->nconns--;
			pthread_cond_broadcast(&s->idle_cv);
		}
		if (s->svc_stop) break;
		/* Heads that waited a whole request timeout for a worker get 503. */
		int64_t now = now_ms();
		conn *late = NULL;
		conn *prev = NULL;
		for (conn *c = s->q_head; c;) {
			conn *next = c->qnext;
			if (c->t == T_HEAD && now - c->queued_at >= s->cfg.request_timeout_ms) {
				if (prev)
					prev->qnext = next;
				else
					s->q_head = next;
				if (s->q_tail == c) s->q_tail = prev;
				c->queued = false;
				c->working++;
				c->t = T_NONE;
				c->qnext = late;
				late = c;
				s->st.worker_busy++;
			} else {
				prev = c;
			}
			c = next;
		}
		if (late) {
			int busy = s->st.busy_workers;
			pthread_mutex_unlock(&s->mu);
			fl_log_limited(
				&lim_busy, FL_LOG_WARN, s->component,
				"REST requests waited %lld ms for a handler thread (all %d busy): answered 503",
				(long long)s->cfg.request_timeout_ms, busy);
			while (late) {
				conn *c = late;
				late = c->qnext;
				answer_error(
					c, 503,
					"the job manager is busy: every REST handler thread is taken; try again");
				pthread_mutex_lock(&s->mu);
				c->working--;
				reap_check_locked(c);
				pthread_mutex_unlock(&s->mu);
			}
			pthread_mutex_lock(&s->mu);
			continue;
		}
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SVC_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&s->svc_cv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* ---- accepting ------------------------------------------------------------------ */

/* The connection that has waited longest for its client and holds nothing
 * of a handler's: closed at the cap to make room. */
static conn *pick_victim_locked(jm_http_server *s)
{
	conn *best = NULL;
	for (conn *c = s->conns; c; c = c->next) {
		if (c->closed || !c->rx_busy || !c->evictable || c->tx_busy || c->queued || c->working)
			continue;
		if (!best || c->last_io < best->last_io) best = c;
	}
	return best;
}

static void new_conn(jm_http_server *s, nng_stream *st)
{
	conn *c = fl_calloc(1, sizeof *c);
	c->s = s;
	c->st = st;
	jm_http_parser_init(&c->p);
	if (nng_aio_alloc(&c->rx, rx_cb, c) != 0 || nng_aio_alloc(&c->tx, tx_cb, c) != 0) {
		nng_aio_free(c->rx);
		free(c);
		nng_stream_free(st);
		return;
	}
	int64_t now = now_ms();
	c->last_io = now;
	c->deadline = now + s->cfg.request_timeout_ms;

	pthread_mutex_lock(&s->mu);
	int max = s->cfg.max_connections;
	conn *victim = s->nopen >= max ? pick_victim_locked(s) : NULL;
	bool reject = s->nopen >= max && !victim;
	if (reject && s->nconns >= max + REJECT_SLACK(max)) {
		/* Too many refusals in flight already: not even an answer. */
		s->st.rejected++;
		pthread_mutex_unlock(&s->mu);
		nng_aio_free(c->rx);
		nng_aio_free(c->tx);
		free(c);
		nng_stream_free(st);
		return;
	}
	c->next = s->conns;
	if (s->conns) s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	s->nopen++;
	s->st.accepted++;
	if (victim) {
		victim->refs++;
		s->st.evicted++;
	}
	if (reject) s->st.rejected++;
	pthread_mutex_unlock(&s->mu);

	if (victim) {
		conn_close(victim);
		pthread_mutex_lock(&s->mu);
		victim->refs--;
		reap_check_locked(victim);
		pthread_mutex_unlock(&s->mu);
	}
	if (reject) {
		fl_log_limited(
			&lim_reject, FL_LOG_WARN, s->component,
			"REST connection limit reached (rest.max-connections %d, every connection busy): "
			"answered 503",
			max);
		char msg[160];
		snprintf(msg, sizeof msg,
			 "too many connections to the job manager (rest.max-connections is %d); try again",
			 max);
		answer_error(c, 503, msg);
		return;
	}
	read_more(c);
}

static void accept_cb(void *arg)
{
	jm_http_server *s = arg;
	int rv = nng_aio_result(s->acc);
	pthread_mutex_lock(&s->mu);
	bool closing = s->closing;
	bool slept = s->acc_sleeping;
	s->acc_sleeping = false;
	pthread_mutex_unlock(&s->mu);
	if (closing || rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		if (rv == 0 && !slept) nng_stream_free(nng_aio_get_output(s->acc, 0));
		return;
	}
	if (rv == 0 && !slept) {
		new_conn(s, nng_aio_get_output(s->acc, 0));
	} else if (rv != 0) {
		/* Out of descriptors, say: try again in a moment, not at once. */
		fl_log_limited(&lim_accept, FL_LOG_WARN, s->component, "REST accept failed: %s",
			       nng_strerror(rv));
		pthread_mutex_lock(&s->mu);
		s->acc_sleeping = true;
		pthread_mutex_unlock(&s->mu);
		nng_sleep_aio(100, s->acc);
		return;
	}
	nng_stream_listener_accept(s->l, s->acc);
}

/* ---- the server ----------------------------------------------------------------- */

/* Free what jm_http_server_create made: the listener (closed), the accept
 * aio, the worker table, the locks. No thread may use s any more. */
static void server_free(jm_http_server *s)
{
	nng_aio_free(s->acc);
	if (s->l) nng_stream_listener_free(s->l);
	free(s->workers);
	pthread_cond_destroy(&s->work_cv);
	pthread_cond_destroy(&s->svc_cv);
	pthread_cond_destroy(&s->idle_cv);
	pthread_mutex_destroy(&s->mu);
	free(s->url);
	free(s->component);
	free(s);
}

int jm_http_server_create(const jm_http_config *cfg, jm_http_server **out, char *err, size_t errcap)
{
	*out = NULL;
	jm_http_server *s = fl_calloc(1, sizeof *s);
	s->cfg = *cfg;
	s->url = fl_strdup(cfg->url);
	s->component = fl_strdup(cfg->component ? cfg->component : "http");
	s->cfg.url = s->url;
	s->cfg.component = s->component;
	if (s->cfg.max_connections < 1) s->cfg.max_connections = 1;
	if (s->cfg.workers < 1) s->cfg.workers = 1;
	if (s->cfg.request_timeout_ms < 1) s->cfg.request_timeout_ms = 1;
	if (s->cfg.idle_timeout_ms < 1) s->cfg.idle_timeout_ms = 1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->work_cv, &ca);
	pthread_cond_init(&s->svc_cv, &ca);
	pthread_cond_init(&s->idle_cv, &ca);
	pthread_condattr_destroy(&ca);

	int frc = FLINC_EIO;
	int rv = nng_stream_listener_alloc(&s->l, s->url);
	if (rv) {
		snprintf(err, errcap, "%s is not a valid address: %s", s->url, nng_strerror(rv));
		frc = FLINC_EINVAL;
		goto fail;
	}
	if (fl_tls_stream_listener(s->cfg.tls, FL_TLS_REST, s->l, err, errcap) != FLINC_OK) goto fail;
	s->tls = fl_tls_on(s->cfg.tls, FL_TLS_REST);
	rv = nng_stream_listener_listen(s->l);
	if (rv) {
		snprintf(err, errcap, "cannot listen on %s: %s", s->url, nng_strerror(rv));
		frc = rv == NNG_EADDRINUSE ? FLINC_EEXIST : FLINC_EIO;
		goto fail;
	}
	if ((rv = nng_aio_alloc(&s->acc, accept_cb, s)) != 0) {
		snprintf(err, errcap, "cannot start the HTTP server: %s", nng_strerror(rv));
		goto fail;
	}
	s->workers = fl_calloc((size_t)s->cfg.workers, sizeof *s->workers);
	for (; s->nworkers < s->cfg.workers; s->nworkers++) {
		if (pthread_create(&s->workers[s->nworkers], NULL, worker_main, s) != 0) {
			snprintf(err, errcap, "cannot start the HTTP handler threads: %s", strerror(errno));
			goto fail_threads;
		}
	}
	if (pthread_create(&s->svc, NULL, svc_main, s) != 0) {
		snprintf(err, errcap, "cannot start the HTTP service thread: %s", strerror(errno));
		goto fail_threads;
	}
	nng_stream_listener_accept(s->l, s->acc);
	*out = s;
	return FLINC_OK;

fail_threads:
	pthread_mutex_lock(&s->mu);
	s->stop_workers = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
fail:
	if (s->l) nng_stream_listener_close(s->l);
	server_free(s);
	return frc;
}

int jm_http_server_port(jm_http_server *s)
{
	int port = 0;
	if (nng_stream_listener_get_int(s->l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) return 0;
	return port;
}

static struct timespec deadline_ts(int64_t deadline_ms)
{
	/* deadline_ms is on the monotonic clock. */
	struct timespec ts;
	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
	return ts;
}

int jm_http_server_destroy(jm_http_server *s, int64_t wait_ms)
{
	if (!s) return FLINC_OK;
	int64_t deadline = now_ms() + (wait_ms > 0 ? wait_ms : 0);
	pthread_mutex_lock(&s->mu);
	s->closing = true;
	pthread_mutex_unlock(&s->mu);
	nng_stream_listener_close(s->l);
	nng_aio_stop(s->acc);

	/* Close every connection: reads and writes end, bodies are aborted. */
	pthread_mutex_lock(&s->mu);
	int n = 0;
	conn **all = fl_calloc((size_t)s->nconns + 1, sizeof *all);
	for (conn *c = s->conns; c; c = c->next) {
		if (c->dead) continue; /* the service thread frees it */
		c->refs++;
		all[n++] = c;
	}
	pthread_mutex_unlock(&s->mu);
	for (int i = 0; i < n; i++) conn_close(all[i]);
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < n; i++) {
		all[i]->refs--;
		reap_check_locked(all[i]);
	}
	free(all);

	/* Wait for them to go: workers run the aborts meanwhile. */
	while (s->nconns > 0 && now_ms() < deadline) {
		struct timespec ts = deadline_ts(deadline);
		pthread_cond_timedwait(&s->idle_cv, &s->mu, &ts);
	}
	bool clean = s->nconns == 0;
	int stuck_conns = s->nconns;
	s->stop_workers = true;
	pthread_cond_broadcast(&s->work_cv);
	pthread_mutex_unlock(&s->mu);

	int stuck = 0;
	for (int i = 0; i < s->nworkers; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t left = deadline - now_ms();
		if (left < 50) left = 50; /* idle workers exit at once; give them a moment */
		ts.tv_sec += left / 1000;
		ts.tv_nsec += (left % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(s->workers[i], NULL, &ts) != 0) {
			pthread_detach(s->workers[i]);
			stuck++;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->svc_stop = true;
	pthread_cond_signal(&s->svc_cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->svc, NULL);

	if (!clean || stuck) {
		fl_log(FL_LOG_WARN, s->component,
		       "%d REST handler thread(s) still busy after %lld ms (%d connection(s) open): leaving them to "
		       "the process's exit",
		       stuck, (long long)wait_ms, stuck_conns);
		return FLINC_ETIMEDOUT;
	}
	server_free(s);
	return FLINC_OK;
}

void jm_http_server_stats(jm_http_server *s, jm_http_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->st;
	out->connections = s->nopen;
	pthread_mutex_unlock(&s->mu);
}

/* ---- the request ------------------------------------------------------------- */

const char *jm_http_req_method(const jm_http_req *r) { return jm_http_method(&r->c->p); }
const char *jm_http_req_target(const jm_http_req *r) { return jm_http_target(&r->c->p); }
const char *jm_http_req_header(const jm_http_req *r, const char *name)
{
	return jm_http_field_value(&r->c->p, name);
}
int64_t jm_http_req_content_length(const jm_http_req *r) { return r->c->p.content_len; }
bool jm_http_req_has_body(const jm_http_req *r) { return r->c->p.chunked || r->c->p.content_len > 0; }
const char *jm_http_req_origin(const jm_http_req *r) { return r->origin; }

int jm_http_set_header(jm_http_req *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return FLINC_EINVAL;
	size_t need = strlen(name) + strlen(value) + 4;
	if (r->hlen + need >= sizeof r->hdrs) return FLINC_ERANGE;
	r->hlen += (size_t)snprintf(r->hdrs + r->hlen, sizeof r->hdrs - r->hlen, "%s: %s\r\n", name, value);
	return FLINC_OK;
}

void jm_http_respond(jm_http_req *r, int status, const char *content_type, char *body, size_t len)
{
	if (r->answered || r->no_answer) {
		if (!r->no_answer)
			fl_log_limited(&lim_bug, FL_LOG_ERROR, r->c->s->component,
				       "a REST handler answered %s %.200s twice", jm_http_req_method(r),
				       jm_http_req_target(r));
		free(body);
		return;
	}
	r->answered = true;
	r->status = status;
	snprintf(r->ctype, sizeof r->ctype, "%s", content_type ? content_type : "");
	r->body = body;
	r->blen = body ? len : 0;
}

int jm_http_body(jm_http_req *r, int64_t max, const jm_http_body_ops *ops, void *state)
{
	if (r->answered || r->ops) return FLINC_EINVAL;
	if (!r->c->p.chunked && r->c->p.content_len > max) return FLINC_ERANGE;
	r->ops = ops;
	r->state = state;
	r->body_max = max;
	return FLINC_OK;
}

/* ---- streams ------------------------------------------------------------------ */

jm_http_stream *jm_http_stream_begin(jm_http_req *r, int status, const char *content_type)
{
	conn *c = r->c;
	if (r->answered || r->ops) return NULL;
	pthread_mutex_lock(&c->s->mu);
	bool ok = !c->closed;
	if (ok) {
		c->refs++;
		c->chunked_out = c->p.minor == 1;
	}
	pthread_mutex_unlock(&c->s->mu);
	if (!ok) return NULL;
	r->answered = true;
	r->stream = true;
	r->status = status;
	snprintf(r->ctype, sizeof r->ctype, "%s", content_type ? content_type : "");
	return (jm_http_stream *)c;
}

int jm_http_stream_send(jm_http_stream *st, const void *data, size_t len)
{
	conn *c = (conn *)st;
	jm_http_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	if (c->closed || c->stream_ended) {
		pthread_mutex_unlock(&s->mu);
		return FLINC_ECANCELED;
	}
	if (c->sq.len + len + 32 > STREAM_MAX) {
		pthread_mutex_unlock(&s->mu);
		return FLINC_ERANGE;
	}
	if (len == 0) { /* an empty chunk would end the body */
		pthread_mutex_unlock(&s->mu);
		return FLINC_OK;
	}
	if (c->chunked_out) fl_sb_printf(&c->sq, "%zx\r\n", len);
	fl_sb_append(&c->sq, data, len);
	if (c->chunked_out) fl_sb_append(&c->sq, "\r\n", 2);
	bool kick = c->stream_started && !c->tx_busy;
	if (kick) {
		c->out_body = c->sq.data;
		c->out_body_len = c->sq.len;
		memset(&c->sq, 0, sizeof c->sq);
		c->tx_busy = true;
	}
	pthread_mutex_unlock(&s->mu);
	if (kick) {
		c->sent = 0;
		send_more(c);
	}
	return FLINC_OK;
}

void jm_http_stream_end(jm_http_stream *st)
{
	conn *c = (conn *)st;
	jm_http_server *s = c->s;
	pthread_mutex_lock(&s->mu);
	if (!c->stream_ended) {
		c->stream_ended = true;
		if (!c->closed && c->chunked_out) fl_sb_append(&c->sq, "0\r\n\r\n", 5);
	}
	bool idle = c->stream_started && !c->tx_busy && !c->closed;
	bool kick = idle && c->sq.len > 0;
	if (kick) {
		c->out_body = c->sq.data;
		c->out_body_len = c->sq.len;
		memset(&c->sq, 0, sizeof c->sq);
		c->tx_busy = true;
	}
	pthread_mutex_unlock(&s->mu);
	/* Our reference keeps c alive through these. */
	if (kick) {
		c->sent = 0;
		send_more(c);
	} else if (idle) {
		conn_close(c);
	}
	pthread_mutex_lock(&s->mu);
	c->refs--;
	reap_check_locked(c);
	pthread_mutex_unlock(&s->mu);
}
