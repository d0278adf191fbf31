/*
 * multipart.c - finding one field of a multipart/form-data body (RFC 7578).
 *
 * Every read is bounded by the body's length; a body that does not follow
 * the format is refused with a reason, never read past. Thread-safe.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jm.h"

#define MAX_PART_HEADERS 16384

/* Value of parameter `name` in a header like `form-data; name="x"` (or the
 * Content-Type's boundary): malloc'ed, unquoted; NULL when absent. */
static char *header_param(const char *h, size_t hlen, const char *name)
{
	size_t nlen = strlen(name);
	size_t i = 0;
	while (i < hlen) {
		/* Next parameter starts after a ';'. */
		while (i < hlen && h[i] != ';') {
			if (h[i] == '"') { /* skip quoted strings, they may hold ';' */
				i++;
				while (i < hlen && h[i] != '"') i += (h[i] == '\\') ? 2 : 1;
			}
			i++;
		}
		if (i >= hlen) break;
		i++;
		while (i < hlen && (h[i] == ' ' || h[i] == '\t')) i++;
		if (hlen - i > nlen && strncasecmp(h + i, name, nlen) == 0) {
			size_t k = i + nlen;
			while (k < hlen && (h[k] == ' ' || h[k] == '\t')) k++;
			if (k < hlen && h[k] == '=') {
				k++;
				while (k < hlen && (h[k] == ' ' || h[k] == '\t')) k++;
				fl_strbuf v = { 0 };
				if (k < hlen && h[k] == '"') {
					k++;
					while (k < hlen && h[k] != '"') {
						if (h[k] == '\\' && k + 1 < hlen) k++;
						fl_sb_append(&v, &h[k], 1);
						k++;
					}
				} else {
					while (k < hlen && h[k] != ';' && h[k] != ' ' && h[k] != '\t') {
						fl_sb_append(&v, &h[k], 1);
						k++;
					}
				}
				if (!v.data) fl_sb_append(&v, "", 0); /* allocates the empty string */
				return v.data;
			}
		}
	}
	return NULL;
}

int jm_multipart_find(const char *content_type, const uint8_t *body, size_t len, const char *field,
		      jm_part *out, char *err, size_t errcap)
{
	memset(out, 0, sizeof *out);
	static const char mt[] = "multipart/form-data";
	if (!content_type || strncasecmp(content_type, mt, sizeof mt - 1) != 0) {
		snprintf(err, errcap,
			 "expected a multipart/form-data body with a '%s' field (Content-Type is %s)", field,
			 content_type ? content_type : "missing");
		return FLINC_EINVAL;
	}
	char *boundary = header_param(content_type, strlen(content_type), "boundary");
	if (!boundary || !*boundary || strlen(boundary) > 200) {
		snprintf(err, errcap, "multipart/form-data without a valid boundary");
		free(boundary);
		return FLINC_EINVAL;
	}
	/* Delimiter: CRLF "--" boundary; the first one may start the body. */
	size_t blen = strlen(boundary);
	size_t dlen = blen + 4;
	char *delim = fl_malloc(dlen + 1);
	memcpy(delim, "\r\n--", 4);
	memcpy(delim + 4, boundary, blen);
	delim[dlen] = 0;
	free(boundary);

	int rc = FLINC_EINVAL;
	size_t pos;
	if (!body || len == 0) {
		snprintf(err, errcap, "malformed multipart body: it is empty");
		goto done;
	}
	if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
		pos = dlen - 2;
	} else {
		const uint8_t *d = memmem(body, len, delim, dlen);
		if (!d) {
			snprintf(err, errcap, "malformed multipart body: no boundary");
			goto done;
		}
		pos = (size_t)(d - body) + dlen;
	}
	for (;;) {
		/* After a delimiter: "--" ends the body, else CRLF and a part. */
		if (len - pos >= 2 && body[pos] == '-' && body[pos + 1] == '-') break;
		while (pos < len && (body[pos] == ' ' || body[pos] == '\t')) pos++;
		if (len - pos < 2 || body[pos] != '\r' || body[pos + 1] != '\n') {
			snprintf(err, errcap, "malformed multipart body: bad delimiter line");
			goto done;
		}
		pos += 2;
		size_t hwin = FL_MIN(len - pos, (size_t)MAX_PART_HEADERS);
		const uint8_t *hend = memmem(body + pos, hwin, "\r\n\r\n", 4);
		const uint8_t *hstart = body + pos;
		size_t hlen;
		if (hwin >= 2 && hstart[0] == '\r' && hstart[1] == '\n') {
			hlen = 0; /* a part without headers */
			pos += 2;
		} else if (!hend) {
			snprintf(err, errcap, "malformed multipart body: part headers not terminated");
			goto done;
		} else {
			hlen = (size_t)(hend - hstart);
			pos += hlen + 4;
		}
		const uint8_t *next = memmem(body + pos, len - pos, delim, dlen);
		if (!next) {
			snprintf(err, errcap,
				 "malformed multipart body: part not terminated by the boundary");
			goto done;
		}
		size_t dataend = (size_t)(next - body);

		/* Headers of this part: find Content-Disposition. */
		char *name = NULL, *fname = NULL;
		size_t i = 0;
		const char *h = (const char *)hstart;
		while (i < hlen) {
			size_t e = i;
			while (e < hlen && !(h[e] == '\r' && e + 1 < hlen && h[e + 1] == '\n')) e++;
			static const char cd[] = "content-disposition:";
			if (e - i > sizeof cd - 1 && strncasecmp(h + i, cd, sizeof cd - 1) == 0) {
				free(name);
				free(fname);
				name = header_param(h + i, e - i, "name");
				fname = header_param(h + i, e - i, "filename");
			}
			i = e + 2;
		}
		if (name && strcmp(name, field) == 0) {
			free(name);
			out->filename = fname;
			out->data = body + pos;
			out->len = dataend - pos;
			rc = FLINC_OK;
			goto done;
		}
		free(name);
		free(fname);
		pos = dataend + dlen;
	}
	snprintf(err, errcap, "the multipart body has no '%s' field", field);
done:
	free(delim);
	return rc;
}
