/*
 * http_parse.c - the HTTP/1.1 request parser (see http_parse.h).
 *
 * The head is copied byte by byte into the parser's own buffer, each line
 * without its line end and NUL-terminated, so the split of the input never
 * matters; once the empty line arrives it is checked and indexed whole.
 * Line ends are CRLF or a bare LF (RFC 9112 2.2); a CR anywhere else is
 * malformed. The body is passed through without a copy: JM_HTTP_BODY
 * points into the caller's input.
 */
#include "http_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
	S_IDLE,       /* before the request line (leading empty lines skipped) */
	S_LINE,       /* the request line */
	S_FIELDS,     /* header lines */
	S_HEAD_DONE,  /* JM_HTTP_HEAD returned; the body starts at the next call */
	S_FIXED,      /* a Content-Length body */
	S_CHUNK_SIZE, /* a chunk-size line (with extensions) */
	S_CHUNK_DATA,
	S_CHUNK_END, /* the line end after a chunk's data */
	S_TRAILER,   /* trailer lines after the last chunk */
	S_DONE,
	S_ERROR,
};

#define LINE_MAX_LEN (JM_HTTP_URI_MAX + 32) /* method, target, version */

void jm_http_parser_init(jm_http_parser *p)
{
	/* The buffer is not cleared: only bytes written since are ever read. */
	memset(p, 0, offsetof(jm_http_parser, fields));
	p->state = S_IDLE;
	p->content_len = -1;
}

void jm_http_parser_reset(jm_http_parser *p) { jm_http_parser_init(p); }

bool jm_http_parser_started(const jm_http_parser *p) { return p->started || p->state != S_IDLE; }

bool jm_http_parser_in_body(const jm_http_parser *p)
{
	return p->state >= S_HEAD_DONE && p->state <= S_TRAILER;
}

int64_t jm_http_parser_body_left(const jm_http_parser *p)
{
	switch (p->state) {
	case S_HEAD_DONE: return p->chunked ? -1 : p->content_len > 0 ? p->content_len : 0;
	case S_FIXED: return p->left;
	case S_CHUNK_SIZE:
	case S_CHUNK_DATA:
	case S_CHUNK_END:
	case S_TRAILER: return -1;
	default: return 0;
	}
}

static jm_http_event fail(jm_http_parser *p, int status, const char *why)
{
	p->state = S_ERROR;
	p->status = status;
	p->error = why;
	return JM_HTTP_ERROR;
}

/* RFC 9110 tchar. */
static bool tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
	return -1;
}

const char *jm_http_method(const jm_http_parser *p) { return p->buf; }

const char *jm_http_target(const jm_http_parser *p) { return p->buf + strlen(p->buf) + 1; }

void jm_http_field_at(const jm_http_parser *p, int i, const char **name, const char **value)
{
	*name = p->buf + p->fields[i].name;
	*value = p->buf + p->fields[i].value;
}

const char *jm_http_field_value(const jm_http_parser *p, const char *name)
{
	for (int i = 0; i < p->nfields; i++)
		if (!strcasecmp(p->buf + p->fields[i].name, name)) return p->buf + p->fields[i].value;
	return NULL;
}

/* Fields that must not appear twice: a second value would leave it open
 * which one a check looked at. */
static const char *const singletons[] = {
	"host", "content-type", "origin", "authorization", "x-flinc-request", "transfer-encoding", "expect",
};

/* Does the comma-separated list v hold token t (any case)? */
static bool list_has(const char *v, const char *t)
{
	size_t tl = strlen(t);
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',') v++;
		size_t n = strcspn(v, ",");
		size_t e = n;
		while (e > 0 && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
		if (e == tl && !strncasecmp(v, t, tl)) return true;
		v += n;
	}
	return false;
}

/* The request line "METHOD SP target SP HTTP/1.x" (in place: the spaces
 * become NULs, so method and target are strings). */
static jm_http_event request_line(jm_http_parser *p)
{
	char *m = p->buf;
	char *sp1 = strchr(m, ' ');
	if (!sp1 || sp1 == m) return fail(p, 400, "malformed request line");
	for (char *c = m; c < sp1; c++)
		if (!tchar((unsigned char)*c)) return fail(p, 400, "malformed request line: bad method");
	char *t = sp1 + 1;
	char *sp2 = strchr(t, ' ');
	if (!sp2 || sp2 == t) return fail(p, 400, "malformed request line");
	char *v = sp2 + 1;
	if (strchr(v, ' ')) return fail(p, 400, "malformed request line");
	if ((size_t)(sp2 - t) > JM_HTTP_URI_MAX) return fail(p, 414, "the request target is too long");
	for (char *c = t; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return fail(p, 400, "malformed request target");
	if (*t != '/') return fail(p, 400, "the request target must be a path starting with '/'");
	if (strncmp(v, "HTTP/", 5) != 0 || strlen(v) != 8 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return fail(p, 400, "malformed request line: bad HTTP version");
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return fail(p, 505, "HTTP version not supported (HTTP/1.0 and HTTP/1.1 are)");
	p->minor = v[7] - '0';
	/* The head's layout becomes "method\0target\0version\0fields...". */
	*sp1 = 0;
	*sp2 = 0;
	return JM_HTTP_MORE;
}

/* One header line at p->buf + at (NUL-terminated): index it. */
static jm_http_event field_line(jm_http_parser *p, size_t at)
{
	char *l = p->buf + at;
	if (*l == ' ' || *l == '\t') return fail(p, 400, "malformed header: obsolete line folding");
	char *colon = strchr(l, ':');
	if (!colon || colon == l) return fail(p, 400, "malformed header line");
	for (char *c = l; c < colon; c++)
		if (!tchar((unsigned char)*c)) return fail(p, 400, "malformed header name");
	if (p->nfields == JM_HTTP_HEADERS_MAX) return fail(p, 431, "too many header fields");
	*colon = 0;
	char *v = colon + 1;
	while (*v == ' ' || *v == '\t') v++;
	char *e = v + strlen(v);
	while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
	*e = 0;
	for (size_t i = 0; i < sizeof singletons / sizeof singletons[0]; i++)
		if (!strcasecmp(l, singletons[i]) && jm_http_field_value(p, l))
			return fail(p, 400, "a header field that may appear once appears twice");
	p->fields[p->nfields].name = (uint16_t)at;
	p->fields[p->nfields].value = (uint16_t)(v - p->buf);
	p->nfields++;
	return JM_HTTP_MORE;
}

/* The head is complete: the fields that decide how the body is read. */
static jm_http_event head_done(jm_http_parser *p)
{
	if (p->minor == 1 && !jm_http_field_value(p, "host"))
		return fail(p, 400, "an HTTP/1.1 request needs a Host header");
	int64_t cl = -1;
	for (int i = 0; i < p->nfields; i++) {
		const char *n, *v;
		jm_http_field_at(p, i, &n, &v);
		if (strcasecmp(n, "content-length") != 0) continue;
		if (!*v || strlen(v) > 18 || v[strspn(v, "0123456789")])
			return fail(p, 400, "malformed Content-Length");
		int64_t x = 0;
		for (const char *c = v; *c; c++) x = x * 10 + (*c - '0');
		if (cl >= 0 && x != cl) return fail(p, 400, "conflicting Content-Length headers");
		cl = x;
	}
	const char *te = jm_http_field_value(p, "transfer-encoding");
	if (te) {
		if (strcasecmp(te, "chunked") != 0)
			return fail(p, 501, "Transfer-Encoding other than chunked is not supported");
		if (cl >= 0) return fail(p, 400, "both Content-Length and Transfer-Encoding given");
		if (p->minor == 0) return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
		p->chunked = true;
	}
	p->content_len = cl;
	const char *conn = jm_http_field_value(p, "connection");
	p->keep_alive =
		p->minor == 1 ? !(conn && list_has(conn, "close")) : (conn && list_has(conn, "keep-alive"));
	const char *ex = jm_http_field_value(p, "expect");
	if (ex) {
		if (strcasecmp(ex, "100-continue") != 0) return fail(p, 417, "unsupported Expect");
		p->expect_continue = p->minor == 1;
	}
	p->state = S_HEAD_DONE;
	return JM_HTTP_HEAD;
}

/* The end of a head line (at p->line_at, line_len bytes, now
 * NUL-terminated). */
static jm_http_event line_end(jm_http_parser *p)
{
	if (p->state == S_LINE) {
		jm_http_event ev = request_line(p);
		if (ev != JM_HTTP_MORE) return ev;
		p->state = S_FIELDS;
	} else if (p->line_len == 0) {
		return head_done(p);
	} else {
		jm_http_event ev = field_line(p, p->line_at);
		if (ev != JM_HTTP_MORE) return ev;
	}
	p->line_at = p->used;
	p->line_len = 0;
	return JM_HTTP_MORE;
}

/* Lines (the head's, chunk sizes, trailers) end in CRLF or a bare LF; a
 * CR must be followed by LF. One byte of a line: LB_CR (a CR, skipped),
 * LB_END (the line's LF), LB_BAD (a CR not followed by LF) or LB_CHAR. */
typedef enum line_byte { LB_CHAR, LB_CR, LB_END, LB_BAD } line_byte;

static line_byte line_byte_of(jm_http_parser *p, unsigned char c)
{
	if (p->cr && c != '\n') return LB_BAD;
	p->cr = c == '\r';
	if (c == '\r') return LB_CR;
	return c == '\n' ? LB_END : LB_CHAR;
}

/* Head bytes: copy into buf until the empty line. */
static jm_http_event parse_head(jm_http_parser *p, const uint8_t *in, size_t n, size_t *used)
{
	size_t i = 0;
	for (; i < n; i++) {
		unsigned char c = in[i];
		if (p->state == S_IDLE) {
			/* Empty lines before a request are skipped (RFC 9112 2.2). */
			if (c == '\r' || c == '\n') {
				p->started = true;
				continue;
			}
			p->state = S_LINE;
			p->used = p->line_at = p->line_len = 0;
		}
		p->started = true;
		if (p->state == S_FIELDS && ++p->head_len > JM_HTTP_HEAD_MAX) {
			*used = i + 1;
			return fail(p, 431, "the request header fields are too large");
		}
		line_byte lb = line_byte_of(p, c);
		if (lb == LB_BAD) {
			*used = i + 1;
			return fail(p, 400, "malformed request: a CR not followed by LF");
		}
		if (lb == LB_CR) continue;
		if (lb == LB_END) {
			p->buf[p->used++] = 0;
			jm_http_event ev = line_end(p);
			if (ev != JM_HTTP_MORE) {
				*used = i + 1;
				return ev;
			}
			continue;
		}
		if (p->state == S_LINE) {
			if (c == ' ') p->saw_sp = true;
			if (c < 0x20 || c >= 0x7f) {
				*used = i + 1;
				return fail(p, 400, "malformed request line");
			}
			if (!p->saw_sp && p->line_len >= JM_HTTP_METHOD_MAX) {
				*used = i + 1;
				return fail(p, 400, "malformed request line: no method");
			}
			if (p->line_len >= LINE_MAX_LEN) {
				*used = i + 1;
				return fail(p, 414, "the request target is too long");
			}
		} else if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*used = i + 1;
			return fail(p, 400, "malformed header: a control character");
		}
		p->buf[p->used++] = (char)c;
		p->line_len++;
	}
	*used = i;
	return JM_HTTP_MORE;
}

/* The first call after JM_HTTP_HEAD: how the body is framed. */
static jm_http_event body_start(jm_http_parser *p)
{
	if (p->chunked) {
		p->state = S_CHUNK_SIZE;
		p->chunk = 0;
		p->chunk_digits = 0;
		p->line_len = 0;
		return JM_HTTP_MORE;
	}
	if (p->content_len > 0) {
		if (p->content_len > p->body_max) return fail(p, 413, "the request body is too large");
		p->left = p->content_len;
		p->state = S_FIXED;
		return JM_HTTP_MORE;
	}
	p->state = S_DONE;
	return JM_HTTP_END;
}

/* A chunk-size line: hex digits, then extensions (skipped) to the line end. */
static jm_http_event chunk_size(jm_http_parser *p, const uint8_t *in, size_t n, size_t *used)
{
	size_t i = 0;
	for (; i < n; i++) {
		unsigned char c = in[i];
		if (++p->line_len > JM_HTTP_CHUNK_EXT_MAX) {
			*used = i + 1;
			return fail(p, 400, "malformed chunked body: chunk-size line too long");
		}
		line_byte lb = line_byte_of(p, c);
		if (lb == LB_BAD) {
			*used = i + 1;
			return fail(p, 400, "malformed chunked body: a CR not followed by LF");
		}
		if (lb == LB_CR) continue;
		if (lb == LB_END) {
			*used = i + 1;
			if (p->chunk_digits == 0)
				return fail(p, 400, "malformed chunked body: no chunk size");
			p->line_len = 0;
			if (p->chunk == 0) {
				p->state = S_TRAILER;
				return JM_HTTP_MORE;
			}
			if ((int64_t)p->chunk > p->body_max - p->received)
				return fail(p, 413, "the request body is too large");
			p->left = (int64_t)p->chunk;
			p->state = S_CHUNK_DATA;
			return JM_HTTP_MORE;
		}
		int h = hexval(c);
		if (h >= 0 && p->chunk_digits >= 0) {
			if (++p->chunk_digits > 15) {
				*used = i + 1;
				return fail(p, 400, "malformed chunked body: chunk size too large");
			}
			p->chunk = p->chunk * 16 + (uint64_t)h;
			continue;
		}
		if (p->chunk_digits == 0 || (c < 0x20 && c != '\t') || c == 0x7f) {
			*used = i + 1;
			return fail(p, 400, "malformed chunked body: bad chunk size");
		}
		/* ';' extensions or whitespace before them: the digits are over. */
		if (p->chunk_digits > 0) p->chunk_digits = -p->chunk_digits;
	}
	*used = i;
	return JM_HTTP_MORE;
}

/* Trailer lines after the last chunk, discarded, up to the empty line. */
static jm_http_event trailer(jm_http_parser *p, const uint8_t *in, size_t n, size_t *used)
{
	size_t i = 0;
	for (; i < n; i++) {
		unsigned char c = in[i];
		if (++p->head_len > JM_HTTP_HEAD_MAX) {
			*used = i + 1;
			return fail(p, 431, "the request trailer fields are too large");
		}
		line_byte lb = line_byte_of(p, c);
		if (lb == LB_BAD) {
			*used = i + 1;
			return fail(p, 400, "malformed chunked body: a CR not followed by LF");
		}
		if (lb == LB_CR) continue;
		if (lb == LB_END) {
			if (p->line_len == 0) {
				*used = i + 1;
				p->state = S_DONE;
				return JM_HTTP_END;
			}
			p->line_len = 0;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*used = i + 1;
			return fail(p, 400, "malformed trailer: a control character");
		}
		p->line_len++;
	}
	*used = i;
	return JM_HTTP_MORE;
}

jm_http_event jm_http_parse(jm_http_parser *p, const uint8_t *in, size_t n, size_t *used,
			    const uint8_t **data, size_t *dlen)
{
	*used = 0;
	*data = NULL;
	*dlen = 0;
	for (;;) {
		size_t u = 0;
		jm_http_event ev;
		switch (p->state) {
		case S_ERROR: return JM_HTTP_ERROR;
		case S_DONE: return JM_HTTP_END;
		case S_IDLE:
		case S_LINE:
		case S_FIELDS:
			ev = parse_head(p, in, n, &u);
			*used += u;
			return ev;
		case S_HEAD_DONE:
			ev = body_start(p);
			if (ev != JM_HTTP_MORE) return ev;
			continue;
		case S_FIXED:
		case S_CHUNK_DATA: {
			if (n == 0) return JM_HTTP_MORE;
			size_t take = (uint64_t)p->left < n ? (size_t)p->left : n;
			*used += take;
			*data = in;
			*dlen = take;
			p->left -= (int64_t)take;
			p->received += (int64_t)take;
			if (p->left == 0) p->state = p->state == S_FIXED ? S_DONE : S_CHUNK_END;
			return JM_HTTP_BODY;
		}
		case S_CHUNK_END:
			if (n == 0) return JM_HTTP_MORE;
			if (in[0] == '\r' && !p->cr) {
				p->cr = true;
				u = 1;
			} else if (in[0] == '\n') {
				p->cr = false;
				p->state = S_CHUNK_SIZE;
				p->chunk = 0;
				p->chunk_digits = 0;
				p->line_len = 0;
				u = 1;
			} else {
				*used += 1;
				return fail(p, 400, "malformed chunked body: no line end after a chunk");
			}
			break;
		case S_CHUNK_SIZE:
			ev = chunk_size(p, in, n, &u);
			if (ev != JM_HTTP_MORE || u == n) {
				*used += u;
				return ev;
			}
			break;
		case S_TRAILER:
			ev = trailer(p, in, n, &u);
			*used += u;
			return ev;
		default: return fail(p, 500, "parser state lost");
		}
		in += u;
		n -= u;
		*used += u;
	}
}

const char *jm_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

/* ---- percent-decoding ------------------------------------------------ */

int jm_http_pct_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%') {
			if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 ||
			    hexval((unsigned char)s[i + 2]) < 0) {
				out[o] = 0;
				return -1;
			}
			ch = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == 0) {
			out[o] = 0;
			return -2;
		}
		out[o++] = ch;
	}
	out[o] = 0;
	if (outlen) *outlen = o;
	return 0;
}

int jm_http_query_parse(const char *q, char *buf, size_t cap, jm_http_param *params, int max, char *err,
			size_t errcap)
{
	size_t qlen = strlen(q);
	if (cap < 2 * qlen + 2) {
		snprintf(err, errcap, "the query string is too long");
		return -1;
	}
	int np = 0;
	size_t bo = 0;
	const char *s = q;
	while (*s) {
		size_t n = strcspn(s, "&");
		if (n == 0) { /* "a&&b", a trailing '&': nothing between */
			s++;
			continue;
		}
		const char *eq = memchr(s, '=', n);
		size_t klen = eq ? (size_t)(eq - s) : n;
		char *name = buf + bo;
		size_t got;
		int rc = jm_http_pct_decode(s, klen, true, name, &got);
		if (rc != 0) {
			snprintf(err, errcap, "query parameter '%.*s': %s", (int)(klen > 64 ? 64 : klen), s,
				 rc == -2 ? "%00 is not allowed" : "malformed percent-encoding");
			return -1;
		}
		if (got == 0) {
			snprintf(err, errcap, "a query parameter without a name ('%.*s')",
				 (int)(n > 64 ? 64 : n), s);
			return -1;
		}
		bo += got + 1;
		char *value = buf + bo;
		if (eq) {
			rc = jm_http_pct_decode(eq + 1, n - klen - 1, true, value, &got);
			if (rc != 0) {
				snprintf(err, errcap, "query parameter '%.64s': %s", name,
					 rc == -2 ? "%00 is not allowed in its value"
						  : "malformed percent-encoding in its value");
				return -1;
			}
		} else {
			value[0] = 0;
			got = 0;
		}
		bo += got + 1;
		for (int k = 0; k < np; k++) {
			if (!strcmp(params[k].name, name)) {
				snprintf(err, errcap, "query parameter '%.64s' is given more than once",
					 name);
				return -1;
			}
		}
		if (np == max) {
			snprintf(err, errcap, "more than %d query parameters", max);
			return -1;
		}
		params[np].name = name;
		params[np].value = value;
		np++;
		s += n;
		if (*s == '&') s++;
	}
	return np;
}
