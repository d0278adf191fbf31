/*
 * http_server.h - an HTTP/1.1 server on nng streams, with its own handler
 * threads.
 *
 * nng provides the sockets (nng_stream_listener on tcp://, so tls+tcp://
 * can follow); this module owns the HTTP layer: parsing (http_parse.h),
 * keep-alive, limits and timeouts, and a pool of worker threads on which
 * every handler runs. nng's callback threads only move bytes and parse
 * them, so a handler that takes long (a plugin's build, a slow disk) never
 * stops accepting or reading other connections, nor anything else that
 * uses nng (the job manager's RPC). No thread per connection: waiting for
 * a client is an nng aio with a timeout.
 *
 * Limits: at most max_connections open connections; when a new one
 * arrives at the cap, the connection that has waited longest for its
 * client (an idle keep-alive, a slow head or body) is closed to make room,
 * and when none waits, the new one gets 503 and is closed. The head of a
 * request must be complete within request_timeout of its first byte (of
 * the connection, for the first request), each read of a body within
 * request_timeout: else 408 and close. A keep-alive connection is closed
 * after idle_timeout without a new request. A request whose head waited
 * request_timeout for a free worker gets 503. Malformed requests get 400,
 * 414, 431, 501 or 505 from the parser, with a JSON body
 * {"errors": ["..."]}, and the connection closes.
 *
 * The contract of callbacks (libuv's): a call that takes callbacks and
 * returns an error never calls them; one that succeeds calls each of them
 * as documented, exactly once where it says so.
 */
#ifndef FL_JM_HTTP_SERVER_H
#define FL_JM_HTTP_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jm_http_server jm_http_server;
/* One request, from its head until it is answered. */
typedef struct jm_http_req jm_http_req;
/* A response sent in pieces (jm_http_stream_begin). */
typedef struct jm_http_stream jm_http_stream;

/* Called on a worker thread for every request whose head parsed. Before it
 * returns it must answer (jm_http_respond, jm_http_stream_begin) or take
 * the body (jm_http_body); a handler that does neither gets a 500. A body
 * the handler did not take is read and dropped (up to a small bound) or
 * the connection closes after the answer. */
typedef void (*jm_http_request_fn)(jm_http_req *req, void *arg);

typedef struct jm_http_config {
	const char *url;            /* "tcp://127.0.0.1:8081" (an nng stream URL) */
	int max_connections;        /* open connections (>= 1) */
	int64_t request_timeout_ms; /* a request head, each body read, each write */
	int64_t idle_timeout_ms;    /* a keep-alive connection between requests */
	int workers;                /* handler threads (>= 1) */
	jm_http_request_fn on_request;
	void *arg;             /* for on_request */
	const char *component; /* for log lines */
	/* TLS for a "tls+tcp://" url (security.ssl.rest.*; NULL: none); must
	 * outlive the server. */
	struct fl_tls *tls;
} jm_http_config;

/* Listen on cfg->url and start the workers. FLINC_OK with *out, or
 * FLINC_EINVAL (a bad URL), FLINC_EEXIST (the address is in use) or
 * FLINC_EIO with the reason in err. cfg is copied. Any thread. */
int jm_http_server_create(const jm_http_config *cfg, jm_http_server **out, char *err, size_t errcap);

/* Stop: accept nothing more, close every connection (a body being read is
 * ended for its handler with JM_HTTP_BODY_ABORTED, streams get
 * FLINC_ECANCELED), and wait up to wait_ms for handlers that are running.
 * FLINC_OK: everything stopped and s is freed. FLINC_ETIMEDOUT: some
 * handler is still running (stuck in a plugin, say); its threads are
 * detached and s stays allocated on purpose, so the handler finds valid
 * memory until the process exits, and so must whatever cfg->arg points
 * to: the caller must not free that either. NULL: FLINC_OK. Not from a
 * handler. */
int jm_http_server_destroy(jm_http_server *s, int64_t wait_ms);

/* The TCP port the server listens on (for a URL that asked for port 0). */
int jm_http_server_port(jm_http_server *s);

/* Counters for /metrics and tests. Any thread. */
typedef struct jm_http_stats {
	int connections;      /* open now */
	int busy_workers;     /* handlers running now */
	uint64_t accepted;    /* connections accepted */
	uint64_t rejected;    /* answered 503 at the connection cap */
	uint64_t evicted;     /* closed at the cap to make room */
	uint64_t timeouts;    /* closed by a request or idle timeout */
	uint64_t bad;         /* malformed requests (400, 414, 431, 501, 505) */
	uint64_t requests;    /* heads handed to the handler */
	uint64_t worker_busy; /* answered 503 after waiting for a worker */
} jm_http_stats;
void jm_http_server_stats(jm_http_server *s, jm_http_stats *out);

/* ---- the request (valid in a handler and until it is answered) ---------- */

const char *jm_http_req_method(const jm_http_req *r);
/* The request target as sent ("/jobs/x?mode=cancel"), not decoded. */
const char *jm_http_req_target(const jm_http_req *r);
/* The value of header field name (any case), or NULL. */
const char *jm_http_req_header(const jm_http_req *r, const char *name);
/* The body's declared length; -1: none declared (chunked, or no body). */
int64_t jm_http_req_content_length(const jm_http_req *r);
/* Does the request have a body (a Content-Length > 0, or chunked)? */
bool jm_http_req_has_body(const jm_http_req *r);
/* The server's own base URL as the client addressed it ("http://" + Host),
 * for the same-origin check; "" when the request has no Host. */
const char *jm_http_req_origin(const jm_http_req *r);

/* ---- answering ------------------------------------------------------------ */

/* Add a header to the answer (before jm_http_respond/stream_begin).
 * FLINC_OK, or FLINC_EINVAL for a name or value with CR, LF or NUL, or
 * FLINC_ERANGE when the answer's headers would pass 2 KiB. */
int jm_http_set_header(jm_http_req *r, const char *name, const char *value);

/* Answer with status, a content type (copied; NULL: none) and body (taken:
 * malloc'ed, freed by the server; NULL for none). HEAD requests get the
 * headers only. Call once, from the handler callback that has the request
 * (on_request, or a body callback), before it returns. */
void jm_http_respond(jm_http_req *r, int status, const char *content_type, char *body, size_t len);

/* ---- request bodies ------------------------------------------------------- */

typedef enum jm_http_body_end {
	JM_HTTP_BODY_COMPLETE,  /* the whole body arrived: answer the request */
	JM_HTTP_BODY_TOO_LARGE, /* a chunked body passed the limit: answer (413) */
	JM_HTTP_BODY_ABORTED,   /* data() answered, or the client left, timed out or sent
				 * a malformed body, or the server closes: the request is
				 * answered or gone; do not answer it */
} jm_http_body_end;

typedef struct jm_http_body_ops {
	/* The next piece of the body (n > 0, valid during the call), in order,
	 * on a worker. Return true to go on; or answer the request and return
	 * false to stop reading. */
	bool (*data)(jm_http_req *r, void *state, const uint8_t *p, size_t n);
	/* The end: called exactly once, on a worker; frees state. */
	void (*end)(jm_http_req *r, void *state, jm_http_body_end how);
} jm_http_body_ops;

/* Take the request's body (from on_request, before it returns): its
 * pieces go to ops->data as they arrive, then ops->end. max bounds the
 * body. FLINC_OK, or FLINC_ERANGE when the declared Content-Length is
 * above max: then no callback runs and the handler answers (413). A
 * request without a body goes straight to ops->end(COMPLETE). A client
 * that sent "Expect: 100-continue" gets its 100 now. */
int jm_http_body(jm_http_req *r, int64_t max, const jm_http_body_ops *ops, void *state);

/* ---- streamed answers (for Server-Sent Events and the like) ------------- */

/* Answer with status and content type and keep the connection: the body
 * follows in pieces (chunked for HTTP/1.1, up to the close for 1.0) from
 * any thread through the handle, until jm_http_stream_end. From on_request,
 * for a request whose body was not taken (a body still coming is left
 * unread; the connection closes at the end of the stream). NULL when the
 * client is already gone or the request was answered. */
jm_http_stream *jm_http_stream_begin(jm_http_req *r, int status, const char *content_type);
/* Queue a piece (copied). FLINC_OK; FLINC_ERANGE when more than 1 MiB
 * would be waiting for a client that reads too slowly (nothing queued:
 * drop the piece, or end the stream); FLINC_ECANCELED when the client left
 * or the server is closing. Any thread. */
int jm_http_stream_send(jm_http_stream *st, const void *data, size_t len);
/* The end of the stream: what is queued is sent, then the connection
 * closes. Releases st. Exactly once per stream. Any thread. */
void jm_http_stream_end(jm_http_stream *st);

#endif
