/*
 * rest_client.c - blocking HTTP/1.1 over plain sockets, one connection per
 * request, one deadline per request (see rest_client.h).
 *
 * Plain sockets rather than nng's HTTP client: the CLI needs exact control
 * of the deadline (connect included), the one-line error texts the CLI
 * contract fixes ("Connection refused" from errno), and an upload that
 * still reads the server's answer when the server refused the body early.
 */
#include "rest_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fl_base.h"
#include "fl_tls.h"

#define MAX_ANSWER (64u << 20) /* bytes of one answer we are ready to hold */
#define MAX_UPLOAD (1u << 30)  /* bytes of one uploaded file */

struct fl_rest {
	char *host;     /* as dialed: no brackets around an IPv6 address */
	char *port;     /* decimal */
	char *hostport; /* "HOST:PORT" or "[V6]:PORT", for Host: and messages */
	char *token;    /* NULL: no Authorization header */
	int timeout_ms;
	bool https;  /* "https://" given: TLS with tls */
	fl_tls *tls; /* borrowed (fl_rest_set_tls) */
};

/* ---- addresses ---------------------------------------------------------- */

static bool valid_port(const char *s)
{
	if (!*s || strlen(s) > 5) return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p)) return false;
	long v = strtol(s, NULL, 10);
	return v >= 1 && v <= 65535;
}

int fl_rest_create(const char *address, const char *token, fl_rest **out, char *err, size_t errcap)
{
	*out = NULL;
	const char *a = address ? address : FL_REST_DEFAULT_ADDRESS;
	bool https = false;
	if (!strncasecmp(a, "https://", 8)) {
		a += 8;
		https = true;
	} else if (!strncasecmp(a, "http://", 7)) {
		a += 7;
	}
	/* Anything from the first '/' on is a path the API does not use. */
	char *s = fl_strndup(a, strcspn(a, "/"));
	char *host = NULL, *port = NULL;
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close || close == s + 1 || (close[1] && close[1] != ':')) goto bad;
		host = fl_strndup(s + 1, (size_t)(close - s - 1));
		port = fl_strdup(close[1] == ':' ? close + 2 : "8081");
	} else {
		char *colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':')) {
			snprintf(err, errcap,
				 "job manager address '%s': write an IPv6 address as [ADDRESS]:PORT",
				 address);
			free(s);
			return FLINC_EINVAL;
		}
		host = fl_strndup(s, colon ? (size_t)(colon - s) : strlen(s));
		port = fl_strdup(colon ? colon + 1 : "8081");
	}
	if (!*host || !valid_port(port)) goto bad;
	free(s);

	fl_rest *r = fl_calloc(1, sizeof *r);
	r->host = host;
	r->port = port;
	r->hostport =
		strchr(host, ':') ? fl_asprintf("[%s]:%s", host, port) : fl_asprintf("%s:%s", host, port);
	r->token = token && *token ? fl_strdup(token) : NULL;
	r->timeout_ms = FL_REST_DEFAULT_TIMEOUT_MS;
	r->https = https;
	*out = r;
	return FLINC_OK;
bad:
	snprintf(err, errcap, "job manager address '%s' is not HOST:PORT (a port from 1 to 65535)", address);
	free(host);
	free(port);
	free(s);
	return FLINC_EINVAL;
}

void fl_rest_destroy(fl_rest *r)
{
	if (!r) return;
	free(r->host);
	free(r->port);
	free(r->hostport);
	free(r->token);
	free(r);
}

const char *fl_rest_address(const fl_rest *r) { return r->hostport; }

bool fl_rest_https(const fl_rest *r) { return r->https; }

void fl_rest_set_tls(fl_rest *r, struct fl_tls *tls)
{
	r->tls = tls;
	if (tls) r->https = true;
}

void fl_rest_set_timeout(fl_rest *r, int timeout_ms) { r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1; }

void fl_rest_resp_free(fl_rest_resp *resp)
{
	free(resp->body);
	memset(resp, 0, sizeof *resp);
}

char *fl_rest_escape(const char *s, char *buf, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	if (!cap) return buf;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			if (n + 1 >= cap) break;
			buf[n++] = (char)ch;
		} else {
			if (n + 3 >= cap) break;
			buf[n++] = '%';
			buf[n++] = hex[ch >> 4];
			buf[n++] = hex[ch & 15];
		}
	}
	buf[n] = 0;
	return buf;
}

/* ---- one connection ------------------------------------------------------ */

static int64_t now_ms(void) { return fl_mono_ns() / 1000000; }

/* Milliseconds left before the deadline, at least 0. */
static int left_ms(int64_t deadline)
{
	int64_t l = deadline - now_ms();
	return l < 0 ? 0 : l > 1000000 ? 1000000 : (int)l;
}

/* Wait for `events` on fd until the deadline. 1 ready, 0 timed out, -1 error
 * (errno set). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int rc = poll(&p, 1, left_ms(deadline));
		if (rc > 0) return 1;
		if (rc == 0) return 0;
		if (errno != EINTR) return -1;
	}
}

static int timed_out(const fl_rest *r, char *err, size_t errcap)
{
	snprintf(err, errcap, "the job manager at %s did not answer within %.1f s", r->hostport,
		 r->timeout_ms / 1000.0);
	return FLINC_ETIMEDOUT;
}

/* Connect to the first address that takes the connection. Returns the
 * socket (non-blocking), or -1 with the error in err and *rc. */
static int dial(const fl_rest *r, int64_t deadline, int *rc, char *err, size_t errcap)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(r->host, r->port, &hints, &res);
	if (g != 0) {
		snprintf(err, errcap, "cannot reach the job manager at %s: %s", r->hostport,
			 g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		*rc = FLINC_EIO;
		return -1;
	}
	int last = ECONNREFUSED;
	bool timeout = false;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			freeaddrinfo(res);
			return fd;
		}
		if (errno == EINPROGRESS) {
			int w = wait_fd(fd, POLLOUT, deadline);
			if (w > 0) {
				int soerr = 0;
				socklen_t sl = sizeof soerr;
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) {
					freeaddrinfo(res);
					return fd;
				}
				last = soerr ? soerr : errno;
			} else if (w == 0) {
				timeout = true;
				close(fd);
				break;
			} else {
				last = errno;
			}
		} else {
			last = errno;
		}
		close(fd);
	}
	freeaddrinfo(res);
	if (timeout) {
		snprintf(err, errcap, "cannot reach the job manager at %s: no connection within %.1f s",
			 r->hostport, r->timeout_ms / 1000.0);
		*rc = FLINC_ETIMEDOUT;
	} else {
		snprintf(err, errcap, "cannot reach the job manager at %s: %s", r->hostport, strerror(last));
		*rc = FLINC_EIO;
	}
	return -1;
}

/* Send all of buf. 0 sent; 1 the peer closed its side early (it may still
 * have answered); <0 error (err set). */
static int send_all(const fl_rest *r, int fd, fl_tls_fd *tf, const char *buf, size_t n, int64_t deadline,
		    char *err, size_t errcap)
{
	if (tf) {
		char e[300];
		int rc = fl_tls_fd_send(tf, buf, n, deadline, e, sizeof e);
		if (rc == FLINC_ETIMEDOUT) return timed_out(r, err, errcap);
		if (rc < 0)
			snprintf(err, errcap, "lost the connection to the job manager at %s: %s", r->hostport,
				 e);
		return rc;
	}
	while (n) {
		ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
		if (k > 0) {
			buf += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR) continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLOUT, deadline);
			if (w > 0) continue;
			if (w == 0) return timed_out(r, err, errcap);
		}
		if (k < 0 && (errno == EPIPE || errno == ECONNRESET)) return 1;
		snprintf(err, errcap, "lost the connection to the job manager at %s: %s", r->hostport,
			 strerror(errno));
		return FLINC_EIO;
	}
	return 0;
}

/* ---- reading the answer -------------------------------------------------- */

/* Case-insensitive search for header `name` in the header block [h, end);
 * returns the value start (spaces skipped) and its length, or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *line = h;
	while (line < end) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!eol) eol = end;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t')) v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		line = eol + 2;
	}
	return NULL;
}

/* Decode a chunked body in [p, end) into out. 1 complete, 0 more bytes
 * needed, -1 malformed. */
static int dechunk(const char *p, const char *end, fl_strbuf *out)
{
	out->len = 0;
	for (;;) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol) return 0;
		char *stop;
		errno = 0;
		unsigned long long size = strtoull(p, &stop, 16);
		if (stop == p || errno || (stop < eol && *stop != ';' && *stop != ' ')) return -1;
		if (size > MAX_ANSWER) return -1;
		p = eol + 2;
		if (size == 0) {
			/* Trailers until an empty line. */
			for (;;) {
				const char *t = memmem(p, (size_t)(end - p), "\r\n", 2);
				if (!t) return 0;
				if (t == p) return 1;
				p = t + 2;
			}
		}
		if ((size_t)(end - p) < size + 2) return 0;
		fl_sb_append(out, p, (size_t)size);
		if (p[size] != '\r' || p[size + 1] != '\n') return -1;
		p += size + 2;
	}
}

typedef struct answer {
	fl_strbuf raw;   /* everything read so far */
	size_t hdr_end;  /* offset of the body; 0 until the headers are in */
	size_t hdr_from; /* offset of the final (non-1xx) status line */
	int status;
	bool chunked, no_body;
	long long clen; /* -1: none */
} answer;

/* Look at what has arrived. 1 the answer is complete, 0 need more, -1
 * malformed (err set). */
static int parse_answer(const fl_rest *r, answer *a, bool head_req, bool eof, fl_rest_resp *resp, char *err,
			size_t errcap)
{
	for (;;) {
		if (!a->hdr_end) {
			const char *base = a->raw.data + a->hdr_from;
			size_t avail = a->raw.len - a->hdr_from;
			const char *e = avail ? memmem(base, avail, "\r\n\r\n", 4) : NULL;
			if (!e) {
				if (avail > 65536) goto malformed;
				return 0;
			}
			int major = 0, minor = 0, st = 0;
			if (sscanf(base, "HTTP/%d.%d %3d", &major, &minor, &st) != 3 || major != 1 ||
			    st < 100 || st > 999)
				goto malformed;
			size_t body_at = (size_t)(e - a->raw.data) + 4;
			if (st < 200) { /* 100 Continue and friends: the real answer follows */
				a->hdr_from = body_at;
				continue;
			}
			a->status = st;
			a->hdr_end = body_at;
			const char *hs = memchr(base, '\n', avail);
			hs = hs ? hs + 1 : base;
			size_t vl;
			const char *v = header(hs, e + 2, "Transfer-Encoding", &vl);
			a->chunked = v && vl >= 7 && !strncasecmp(v + vl - 7, "chunked", 7);
			a->clen = -1;
			v = header(hs, e + 2, "Content-Length", &vl);
			if (v && !a->chunked) {
				char tmp[24];
				if (vl == 0 || vl >= sizeof tmp) goto malformed;
				memcpy(tmp, v, vl);
				tmp[vl] = 0;
				char *stop;
				a->clen = strtoll(tmp, &stop, 10);
				if (*stop || a->clen < 0) goto malformed;
				if ((unsigned long long)a->clen > MAX_ANSWER) goto too_big;
			}
			v = header(hs, e + 2, "Content-Type", &vl);
			if (v) snprintf(resp->content_type, sizeof resp->content_type, "%.*s", (int)vl, v);
			a->no_body = head_req || st == 204 || st == 304;
		}
		const char *body = a->raw.data + a->hdr_end;
		size_t have = a->raw.len - a->hdr_end;
		if (a->no_body) {
			resp->body = fl_strdup("");
			resp->len = 0;
			return 1;
		}
		if (a->chunked) {
			fl_strbuf b = { 0 };
			int d = dechunk(body, body + have, &b);
			if (d < 0) {
				fl_sb_free(&b);
				goto malformed;
			}
			if (d == 0) {
				fl_sb_free(&b);
				return 0;
			}
			resp->len = b.len;
			fl_sb_append(&b, "", 1);
			resp->body = b.data;
			return 1;
		}
		if (a->clen >= 0) {
			if (have < (size_t)a->clen) return 0;
			resp->body = fl_strndup(body, (size_t)a->clen);
			resp->len = (size_t)a->clen;
			return 1;
		}
		if (!eof) return 0;
		resp->body = fl_strndup(body, have);
		resp->len = have;
		return 1;
	}
malformed:
	snprintf(err, errcap, "the answer of the job manager at %s is not HTTP/1.x", r->hostport);
	return -1;
too_big:
	snprintf(err, errcap, "the answer of the job manager at %s is larger than %u MB", r->hostport,
		 MAX_ANSWER >> 20);
	return -1;
}

/* Read until the answer is complete, the deadline passes or the peer closes. */
static int read_answer(const fl_rest *r, int fd, fl_tls_fd *tf, bool head_req, int64_t deadline,
		       fl_rest_resp *resp, char *err, size_t errcap)
{
	answer a = { .clen = -1 };
	char buf[16384];
	int rc;
	for (;;) {
		ssize_t k;
		if (tf) {
			char e[300];
			k = fl_tls_fd_recv(tf, buf, sizeof buf, deadline, e, sizeof e);
			if (k == FLINC_ETIMEDOUT) {
				rc = timed_out(r, err, errcap);
				goto out;
			}
			if (k < 0) {
				snprintf(err, errcap, "lost the connection to the job manager at %s: %s",
					 r->hostport, e);
				rc = FLINC_EIO;
				goto out;
			}
		} else {
			k = recv(fd, buf, sizeof buf, 0);
		}
		if (k > 0) {
			if (a.raw.len + (size_t)k > MAX_ANSWER + 65536u) {
				snprintf(err, errcap,
					 "the answer of the job manager at %s is larger than %u MB",
					 r->hostport, MAX_ANSWER >> 20);
				rc = FLINC_EPROTO;
				goto out;
			}
			fl_sb_append(&a.raw, buf, (size_t)k);
			int p = parse_answer(r, &a, head_req, false, resp, err, errcap);
			if (p < 0) {
				rc = FLINC_EPROTO;
				goto out;
			}
			if (p > 0) break;
			continue;
		}
		if (k == 0) {
			if (!a.raw.len) {
				snprintf(err, errcap,
					 "the job manager at %s closed the connection without answering%s",
					 r->hostport,
					 tf ? "" : " (does it speak https? then use -m https://HOST:PORT)");
				rc = FLINC_EIO;
				goto out;
			}
			int p = parse_answer(r, &a, head_req, true, resp, err, errcap);
			if (p < 0) {
				rc = FLINC_EPROTO;
				goto out;
			}
			if (p == 0) {
				snprintf(
					err, errcap,
					"the job manager at %s closed the connection in the middle of its answer",
					r->hostport);
				rc = FLINC_EIO;
				goto out;
			}
			break;
		}
		if (errno == EINTR) continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int w = wait_fd(fd, POLLIN, deadline);
			if (w > 0) continue;
			if (w == 0) {
				rc = timed_out(r, err, errcap);
				goto out;
			}
		}
		snprintf(err, errcap, "lost the connection to the job manager at %s: %s", r->hostport,
			 strerror(errno));
		rc = FLINC_EIO;
		goto out;
	}
	resp->status = a.status;
	rc = FLINC_OK;
out:
	fl_sb_free(&a.raw);
	return rc;
}

int fl_rest_request(fl_rest *r, const char *method, const char *path, const char *content_type,
		    const void *body, size_t len, fl_rest_resp *resp, char *err, size_t errcap)
{
	memset(resp, 0, sizeof *resp);
	int64_t deadline = now_ms() + r->timeout_ms;
	int rc;
	int fd = dial(r, deadline, &rc, err, errcap);
	if (fd < 0) return rc;
	fl_tls_fd *tf = NULL;
	if (r->https) {
		char e[400];
		if (!r->tls)
			rc = fl_errf(e, sizeof e, FLINC_EINVAL,
				     "https needs the CA that signed its certificate (--cacert FILE, or "
				     "security.ssl.rest.truststore in --config)");
		else
			rc = fl_tls_fd_open(r->tls, fd, r->host, deadline, &tf, e, sizeof e);
		if (rc != FLINC_OK) {
			close(fd);
			snprintf(err, errcap, "cannot reach the job manager at https://%s: %s", r->hostport,
				 e);
			return rc == FLINC_EINVAL ? FLINC_EIO : rc;
		}
	}

	fl_strbuf req = { 0 };
	fl_sb_printf(&req,
		     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: flinc/" FLINC_VERSION
		     "\r\nAccept: application/json\r\nConnection: close\r\n",
		     method, path, r->hostport);
	if (r->token) fl_sb_printf(&req, "Authorization: Bearer %s\r\n", r->token);
	/* The job manager refuses changes without it: a web page of another
	 * site cannot send this header (docs/security.md). */
	fl_sb_printf(&req, "X-Flinc-Request: 1\r\n");
	bool wants_len =
		body || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
	if (body && content_type) fl_sb_printf(&req, "Content-Type: %s\r\n", content_type);
	if (wants_len) fl_sb_printf(&req, "Content-Length: %zu\r\n", len);
	fl_sb_append(&req, "\r\n", 2);
	/* One buffer for head and body: small bodies go out in one segment. */
	if (body && len) fl_sb_append(&req, body, len);

	int s = send_all(r, fd, tf, req.data, req.len, deadline, err, errcap);
	fl_sb_free(&req);
	if (s < 0) {
		fl_tls_fd_free(tf);
		close(fd);
		return s;
	}
	/* s == 1: the server closed early (say, it refused the body): its answer,
	 * if any, is still in our receive buffer. */
	rc = read_answer(r, fd, tf, !strcmp(method, "HEAD"), deadline, resp, err, errcap);
	fl_tls_fd_free(tf);
	close(fd);
	if (rc != FLINC_OK && s == 1 && rc == FLINC_EIO)
		snprintf(err, errcap,
			 "the job manager at %s closed the connection while the request was sent",
			 r->hostport);
	return rc;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Append the first line of s (at most 400 bytes) to b. */
static void first_line(fl_strbuf *b, const char *s)
{
	size_t n = strcspn(s, "\r\n");
	fl_sb_append(b, s, n > 400 ? 400 : n);
}

/* The job manager's message for a refused request: its {"errors": [...]}
 * (first lines, joined), else the start of the body, else the status. */
static void refusal(const fl_rest_resp *resp, json_t *j, char *err, size_t errcap)
{
	fl_strbuf b = { 0 };
	json_t *errors = j ? json_object_get(j, "errors") : NULL;
	if (json_is_array(errors)) {
		size_t i;
		json_t *e;
		json_array_foreach(errors, i, e)
		{
			if (!json_is_string(e) || !*json_string_value(e)) continue;
			if (b.len) fl_sb_append(&b, "; ", 2);
			first_line(&b, json_string_value(e));
		}
	}
	if (!b.len && j && json_is_string(json_object_get(j, "error")))
		first_line(&b, json_string_value(json_object_get(j, "error")));
	if (!b.len) {
		fl_sb_printf(&b, "HTTP %d", resp->status);
		const char *s = resp->body ? resp->body : "";
		while (*s == ' ' || *s == '\r' || *s == '\n') s++;
		if (*s && !j) {
			fl_sb_append(&b, ": ", 2);
			first_line(&b, s);
		}
	}
	fl_sb_append(&b, "", 1);
	snprintf(err, errcap, "%s", b.data);
	fl_sb_free(&b);
}

/* Turn a raw answer into the result of a JSON call. */
static int json_result(fl_rest *r, const char *method, const char *path, fl_rest_resp *resp, json_t **out,
		       int *status, char *err, size_t errcap)
{
	if (status) *status = resp->status;
	json_t *j = NULL;
	json_error_t je;
	const char *s = resp->body;
	while (*s == ' ' || *s == '\r' || *s == '\n' || *s == '\t') s++;
	if (*s) j = json_loadb(resp->body, resp->len, JSON_DECODE_ANY, &je);
	if (resp->status < 200 || resp->status > 299) {
		refusal(resp, j, err, errcap);
		json_decref(j);
		return FLINC_EINVAL;
	}
	if (*s && !j) {
		snprintf(err, errcap, "the answer of the job manager at %s to %s %s is not JSON: %s",
			 r->hostport, method, path, je.text);
		return FLINC_EPROTO;
	}
	if (out)
		*out = j ? j : json_null();
	else
		json_decref(j);
	return FLINC_OK;
}

int fl_rest_json(fl_rest *r, const char *method, const char *path, json_t *body, json_t **out, int *status,
		 char *err, size_t errcap)
{
	if (out) *out = NULL;
	if (status) *status = 0;
	char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body && !b) {
		snprintf(err, errcap, "cannot encode the request body as JSON");
		return FLINC_ENOMEM;
	}
	fl_rest_resp resp;
	int rc = fl_rest_request(r, method, path, "application/json", b, b ? strlen(b) : 0, &resp, err,
				 errcap);
	free(b);
	if (rc != FLINC_OK) return rc;
	rc = json_result(r, method, path, &resp, out, status, err, errcap);
	fl_rest_resp_free(&resp);
	return rc;
}

/* Read a whole file into memory. */
static int slurp(const char *path, fl_strbuf *out, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
		return FLINC_EIO;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
		close(fd);
		return FLINC_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errcap, "cannot read %s: %s", path,
			 S_ISDIR(st.st_mode) ? "Is a directory" : "not a regular file");
		close(fd);
		return FLINC_EIO;
	}
	if ((unsigned long long)st.st_size > MAX_UPLOAD) {
		snprintf(err, errcap, "cannot upload %s: larger than %u MB", path, MAX_UPLOAD >> 20);
		close(fd);
		return FLINC_EINVAL;
	}
	char buf[65536];
	for (;;) {
		ssize_t k = read(fd, buf, sizeof buf);
		if (k > 0) {
			fl_sb_append(out, buf, (size_t)k);
			continue;
		}
		if (k == 0) break;
		if (errno == EINTR) continue;
		snprintf(err, errcap, "cannot read %s: %s", path, strerror(errno));
		close(fd);
		return FLINC_EIO;
	}
	close(fd);
	return FLINC_OK;
}

int fl_rest_upload(fl_rest *r, const char *path, const char *field, const char *file_path, json_t **out,
		   int *status, char *err, size_t errcap)
{
	if (out) *out = NULL;
	if (status) *status = 0;
	fl_strbuf data = { 0 };
	int rc = slurp(file_path, &data, err, errcap);
	if (rc != FLINC_OK) {
		fl_sb_free(&data);
		return rc;
	}
	const char *base = strrchr(file_path, '/');
	base = base ? base + 1 : file_path;
	/* The file name goes into a quoted header parameter: keep it plain. */
	char name[256];
	size_t n = 0;
	for (const char *p = base; *p && n + 1 < sizeof name; p++)
		name[n++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
	name[n] = 0;

	/* A boundary that does not occur in the file. */
	char boundary[64];
	unsigned long long seed = (unsigned long long)fl_mono_ns() ^ ((unsigned long long)getpid() << 32);
	do {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		snprintf(boundary, sizeof boundary, "----flinc-%016llx", seed);
	} while (data.len && memmem(data.data, data.len, boundary, strlen(boundary)));

	fl_strbuf body = { 0 };
	fl_sb_printf(&body,
		     "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
		     "Content-Type: application/octet-stream\r\n\r\n",
		     boundary, field, name);
	if (data.len) fl_sb_append(&body, data.data, data.len);
	fl_sb_printf(&body, "\r\n--%s--\r\n", boundary);
	fl_sb_free(&data);

	char ctype[128];
	snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
	fl_rest_resp resp;
	rc = fl_rest_request(r, "POST", path, ctype, body.data, body.len, &resp, err, errcap);
	fl_sb_free(&body);
	if (rc != FLINC_OK) return rc;
	rc = json_result(r, "POST", path, &resp, out, status, err, errcap);
	fl_rest_resp_free(&resp);
	return rc;
}
