/*
 * http_parse.h - an HTTP/1.1 request parser and the percent-decoding of
 * request targets (RFC 9110, 9112, 3986).
 *
 * Pure: no I/O, no globals, no allocation. The parser is incremental over
 * any split of its input (one byte at a time works as well as a whole
 * request) and bounded: a request line longer than JM_HTTP_URI_MAX is a
 * 414, a header block over JM_HTTP_HEAD_MAX or with more than
 * JM_HTTP_HEADERS_MAX fields a 431, a body over the caller's limit a 413,
 * another HTTP version a 505, a transfer coding other than chunked a 501,
 * anything malformed a 400. Chunked request bodies are accepted and
 * de-chunked; a body with both Content-Length and Transfer-Encoding is
 * refused (request smuggling), as are duplicated singleton fields (Host,
 * Content-Length with two values, Content-Type, Origin, Authorization,
 * X-Flinc-Request).
 *
 * Use: jm_http_parser_init, then call jm_http_parse with the bytes received
 * until it returns JM_HTTP_HEAD; read the head with the accessors, set
 * body_max, and go on calling it for JM_HTTP_BODY pieces until JM_HTTP_END.
 * jm_http_parser_reset readies it for the next request of a keep-alive
 * connection. A parser belongs to one thread at a time.
 */
#ifndef FL_JM_HTTP_PARSE_H
#define FL_JM_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JM_HTTP_URI_MAX 8192       /* request target: longer is 414 */
#define JM_HTTP_HEAD_MAX 16384     /* header block after the request line: larger is 431 */
#define JM_HTTP_HEADERS_MAX 64     /* header fields: more is 431 */
#define JM_HTTP_METHOD_MAX 16      /* a longer method is no method we know: 400 */
#define JM_HTTP_CHUNK_EXT_MAX 4096 /* bytes of one chunk-size line */

typedef enum jm_http_event {
	JM_HTTP_MORE,  /* every byte given was used: call again with more */
	JM_HTTP_HEAD,  /* the head is complete: accessors valid; set body_max */
	JM_HTTP_BODY,  /* *data and *dlen: the next piece of the body (points into the input) */
	JM_HTTP_END,   /* the request is complete; reset before the next one */
	JM_HTTP_ERROR, /* status and error say why; the connection must close */
} jm_http_event;

/* One header field: offsets into the parser's buffer. */
typedef struct jm_http_field {
	uint16_t name, value;
} jm_http_field;

/* The parser. Fields marked "out" are valid from JM_HTTP_HEAD until the
 * next reset; the others are private. */
typedef struct jm_http_parser {
	/* in: the largest body the request may have (set after JM_HTTP_HEAD;
	 * 0 after a reset: any body is a 413). */
	int64_t body_max;

	/* out */
	int status;          /* JM_HTTP_ERROR: the HTTP status to answer */
	const char *error;   /* JM_HTTP_ERROR: one line (static) */
	int minor;           /* HTTP/1.<minor> */
	int64_t content_len; /* -1: none given */
	bool chunked;        /* Transfer-Encoding: chunked */
	bool keep_alive;     /* the client keeps the connection (version and Connection) */
	bool expect_continue;
	int nfields;

	/* private */
	int state;
	bool started;     /* a byte of this request arrived */
	size_t line_len;  /* bytes of the current line (CR/LF excluded) */
	size_t head_len;  /* header block bytes so far (with line ends) */
	size_t used;      /* bytes of buf in use */
	size_t line_at;   /* where the current line starts in buf */
	bool saw_sp;      /* the request line has a space in its first bytes */
	bool cr;          /* the last byte was a CR */
	int64_t left;     /* body: bytes of the current chunk or of the fixed body */
	int64_t received; /* body bytes so far */
	uint64_t chunk;   /* chunk-size being read */
	int chunk_digits;
	jm_http_field fields[JM_HTTP_HEADERS_MAX];
	char buf[JM_HTTP_URI_MAX + 32 + 1 + JM_HTTP_HEAD_MAX + 1];
} jm_http_parser;

/* Ready p for a connection's first request. */
void jm_http_parser_init(jm_http_parser *p);
/* Ready p for the next request (after JM_HTTP_END). */
void jm_http_parser_reset(jm_http_parser *p);

/* Parse from in (n bytes, n may be 0): returns one event and in *used how
 * many bytes of in it took (the caller gives the rest again, after any
 * more it received). JM_HTTP_BODY sets *data (pointing into in) and
 * *dlen. After JM_HTTP_ERROR every call returns it again. */
jm_http_event jm_http_parse(jm_http_parser *p, const uint8_t *in, size_t n, size_t *used,
			    const uint8_t **data, size_t *dlen);

/* Has any byte of the current request arrived (JM_HTTP_MORE with a
 * request begun, or a later state)? */
bool jm_http_parser_started(const jm_http_parser *p);
/* Is the parser between JM_HTTP_HEAD and JM_HTTP_END (the body unread)? */
bool jm_http_parser_in_body(const jm_http_parser *p);
/* Body bytes still to come: the rest of a Content-Length body, -1 for a
 * chunked one (unknown), 0 when none. Valid after JM_HTTP_HEAD. */
int64_t jm_http_parser_body_left(const jm_http_parser *p);

/* The head (after JM_HTTP_HEAD): NUL-terminated, valid until the reset. */
const char *jm_http_method(const jm_http_parser *p);
const char *jm_http_target(const jm_http_parser *p);
/* The value of field name (any case), OWS trimmed, or NULL. */
const char *jm_http_field_value(const jm_http_parser *p, const char *name);
/* Field i (0 <= i < nfields): its name and value. */
void jm_http_field_at(const jm_http_parser *p, int i, const char **name, const char **value);

/* The reason phrase of a status ("Not Found"); "Unknown" for others. */
const char *jm_http_reason(int status);

/* ---- percent-decoding ------------------------------------------------ */

/* Decode n bytes of s into out (room for n + 1 bytes; NUL-terminated,
 * *outlen without it): "%XX" is a byte, '+' a space when plus. Returns 0,
 * or -1 for a '%' not followed by two hex digits, -2 for an encoded NUL
 * (%00), which no path or value of ours may hold. */
int jm_http_pct_decode(const char *s, size_t n, bool plus, char *out, size_t *outlen);

/* One query parameter, decoded. */
typedef struct jm_http_param {
	const char *name, *value; /* into the caller's buffer */
} jm_http_param;

/* Split a query string (after '?', not decoded) into parameters decoded
 * into buf (cap >= 2 * strlen(q) + 2 bytes). "a" and "a=" both give the
 * value "". Returns the number of parameters (at most max), or -1 with a
 * one-line reason in err naming the parameter: a malformed escape, %00, a
 * parameter given twice, an empty name, more than max parameters. */
int jm_http_query_parse(const char *q, char *buf, size_t cap, jm_http_param *params, int max, char *err,
			size_t errcap);

#endif
