/*
 * rest_client.h - a small blocking HTTP/1.1 client for the job manager's
 * REST API (the `flinc` CLI's cluster commands).
 *
 * One request is one TCP connection (`Connection: close`): the CLI sends a
 * handful of requests per second at most, and a fresh connection per request
 * never sees a half-closed keep-alive socket. Every request has one deadline
 * covering name resolution, connect, send and the whole answer; nothing
 * blocks past it. Answers with Content-Length, chunked encoding or
 * close-delimited bodies are read; 1xx interim answers are skipped.
 *
 * Errors: functions return FLINC_OK or a negative flinc_error, and write one
 * line (without "flinc: " and without a newline) to `err`:
 *   FLINC_EIO       the job manager could not be reached or the connection
 *                   broke: "cannot reach the job manager at HOST:PORT: <why>"
 *   FLINC_ETIMEDOUT no complete answer within the deadline
 *   FLINC_EPROTO    the answer is not HTTP, or (JSON calls) not JSON
 *   FLINC_EINVAL    (JSON calls) the job manager refused the request with a
 *                   non-2xx status: err holds its message (the first of its
 *                   {"errors": [...]}), the status is in *status
 *
 * Threads: an fl_rest is used by one thread at a time; it keeps no socket
 * between calls.
 */
#ifndef FL_REST_CLIENT_H
#define FL_REST_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct fl_rest fl_rest;

#define FL_REST_DEFAULT_ADDRESS "127.0.0.1:8081"
#define FL_REST_DEFAULT_TIMEOUT_MS 30000

/* Create a client for the job manager at `address`: "HOST:PORT",
 * "HOST" (port 8081), "[V6ADDR]:PORT", each optionally prefixed with
 * "http://" or "https://" and followed by "/". `token` (may be NULL or "") is sent as
 * `Authorization: Bearer <token>` on every request. On a malformed address
 * returns FLINC_EINVAL with err set. *out is owned by the caller
 * (fl_rest_destroy). */
int fl_rest_create(const char *address, const char *token, fl_rest **out, char *err, size_t errcap);
/* "https://HOST:PORT" makes the client speak TLS, which needs the REST
 * settings of fl_rest_set_tls. */
struct fl_tls;
/* Speak TLS with these settings (security.ssl.rest.*: the truststore, and
 * a client certificate for security.ssl.rest.authentication-enabled);
 * borrowed, must outlive r. Non-NULL turns https on. */
void fl_rest_set_tls(fl_rest *r, struct fl_tls *tls);
/* Was the address given as https://, or TLS set? */
bool fl_rest_https(const fl_rest *r);
/* Free the client; NULL does nothing. */
void fl_rest_destroy(fl_rest *r);
/* "HOST:PORT" as the client dials it; valid until destroy. */
const char *fl_rest_address(const fl_rest *r);
/* Deadline of each following request, in ms (default 30 s). */
void fl_rest_set_timeout(fl_rest *r, int timeout_ms);

/* A raw answer. */
typedef struct fl_rest_resp {
	int status; /* HTTP status code */
	char *body; /* NUL-terminated (the NUL is not in len); owned */
	size_t len;
	char content_type[128]; /* "" when absent */
} fl_rest_resp;

/* Free what a response owns and zero it; safe on a zeroed response. */
void fl_rest_resp_free(fl_rest_resp *resp);

/* Send one request and read the whole answer. `path` starts with '/' and is
 * sent as is (the caller escapes it). `body` may be NULL (len 0); a body
 * is sent with `content_type`. Returns FLINC_OK when an HTTP answer arrived,
 * whatever its status; *resp is then owned by the caller
 * (fl_rest_resp_free). On error *resp is zeroed. */
int fl_rest_request(fl_rest *r, const char *method, const char *path, const char *content_type,
		    const void *body, size_t len, fl_rest_resp *resp, char *err, size_t errcap);

/* A JSON call: `body` (may be NULL; borrowed) is sent as application/json.
 * FLINC_OK for a 2xx answer: *out (when out is not NULL) is its parsed JSON
 * body (a new reference; json null when the body was empty). *status (may
 * be NULL) gets the HTTP status whenever an answer arrived. */
int fl_rest_json(fl_rest *r, const char *method, const char *path, json_t *body, json_t **out, int *status,
		 char *err, size_t errcap);

/* Upload the file at `file_path` as multipart/form-data field `field` (its
 * file name is the path's last component) with POST to `path`. Results as
 * fl_rest_json. A file that cannot be read gives FLINC_EIO with
 * "cannot read FILE: <why>". */
int fl_rest_upload(fl_rest *r, const char *path, const char *field, const char *file_path, json_t **out,
		   int *status, char *err, size_t errcap);

/* Percent-escape `s` for use as one path segment into buf (always
 * NUL-terminated, truncated to cap). Returns buf. */
char *fl_rest_escape(const char *s, char *buf, size_t cap);

#endif
