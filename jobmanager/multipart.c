/*
 * multipart.c - the streaming multipart/form-data parser (see multipart.h).
 *
 * The body is read as if it began with CRLF, so the first delimiter may
 * start the body or follow a preamble. Inside a part the parser looks for
 * CRLF "--" boundary; bytes at the end of one input that could begin the
 * delimiter are held back (they are a prefix of it, so the parser keeps no
 * copy: the delimiter itself holds them) and given out as content when the
 * next input shows they were not. The boundary has no CR, so a delimiter
 * can never start inside such a prefix after its first byte.
 */
#include "multipart.h"

#include <string.h>
#include <strings.h>

enum { M_PREAMBLE, M_AFTER, M_HEAD, M_DATA, M_DONE, M_ERROR };
enum { SCAN_MORE, SCAN_DATA, SCAN_DELIM };

#define PAD_MAX 256 /* transport padding after a delimiter */

/* The value of parameter `name` in a header value like `form-data;
 * name="x"` or a Content-Type (h, hlen bytes), unquoted into out (cap
 * bytes). 1 found, 0 absent, -1 too long or holding a NUL. */
static int header_param(const char *h, size_t hlen, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	size_t i = 0;
	while (i < hlen) {
		/* The next parameter starts after a ';' (quoted strings may hold one). */
		while (i < hlen && h[i] != ';') {
			if (h[i] == '"') {
				i++;
				while (i < hlen && h[i] != '"') i += (h[i] == '\\') ? 2 : 1;
			}
			i++;
		}
		if (i >= hlen) break;
		i++;
		while (i < hlen && (h[i] == ' ' || h[i] == '\t')) i++;
		if (hlen - i <= nlen || strncasecmp(h + i, name, nlen) != 0) continue;
		size_t k = i + nlen;
		while (k < hlen && (h[k] == ' ' || h[k] == '\t')) k++;
		if (k >= hlen || h[k] != '=') continue;
		k++;
		while (k < hlen && (h[k] == ' ' || h[k] == '\t')) k++;
		size_t o = 0;
		if (k < hlen && h[k] == '"') {
			k++;
			while (k < hlen && h[k] != '"') {
				if (h[k] == '\\' && k + 1 < hlen) k++;
				if (o + 1 >= cap || h[k] == 0) return -1;
				out[o++] = h[k++];
			}
		} else {
			while (k < hlen && h[k] != ';' && h[k] != ' ' && h[k] != '\t') {
				if (o + 1 >= cap || h[k] == 0) return -1;
				out[o++] = h[k++];
			}
		}
		out[o] = 0;
		return 1;
	}
	return 0;
}

static jm_mp_event fail(jm_mp_parser *m, const char *why)
{
	m->state = M_ERROR;
	m->error = why;
	return JM_MP_ERROR;
}

int jm_mp_init(jm_mp_parser *m, const char *content_type)
{
	memset(m, 0, offsetof(jm_mp_parser, delim));
	m->state = M_PREAMBLE;
	static const char mt[] = "multipart/form-data";
	const char *ct = content_type ? content_type : "";
	size_t tl = strcspn(ct, ";");
	while (tl > 0 && (ct[tl - 1] == ' ' || ct[tl - 1] == '\t')) tl--;
	if (tl != sizeof mt - 1 || strncasecmp(ct, mt, tl) != 0) {
		fail(m, "not multipart/form-data");
		return -1;
	}
	char b[JM_MP_BOUNDARY_MAX + 1];
	int rc = header_param(ct, strlen(ct), "boundary", b, sizeof b);
	size_t bl = rc == 1 ? strlen(b) : 0;
	for (size_t i = 0; i < bl; i++)
		if ((unsigned char)b[i] < 0x20 || (unsigned char)b[i] > 0x7e) bl = 0;
	if (bl == 0) {
		fail(m, "multipart/form-data without a valid boundary");
		return -1;
	}
	memcpy(m->delim, "\r\n--", 4);
	memcpy(m->delim + 4, b, bl);
	m->dlen = bl + 4;
	m->delim[m->dlen] = 0;
	m->match = 2; /* as if the body began with CRLF */
	return 0;
}

/* Look for the delimiter: content before it (SCAN_DATA), the delimiter
 * itself (SCAN_DELIM, *used includes it), or all input used with a
 * possible delimiter start held back (SCAN_MORE). */
static int scan(jm_mp_parser *m, const uint8_t *in, size_t n, size_t *used, const uint8_t **data,
		size_t *dlen)
{
	if (m->match > 0) {
		size_t k = 0;
		while (k < n && m->match + k < m->dlen && in[k] == (uint8_t)m->delim[m->match + k]) k++;
		if (m->match + k == m->dlen) {
			*used = k;
			m->match = 0;
			return SCAN_DELIM;
		}
		if (k == n) {
			*used = n;
			m->match += n;
			return SCAN_MORE;
		}
		/* Not the delimiter: the bytes held back were content. */
		*data = (const uint8_t *)m->delim;
		*dlen = m->match;
		*used = 0;
		m->match = 0;
		return SCAN_DATA;
	}
	size_t i = 0;
	while (i < n) {
		const uint8_t *cr = memchr(in + i, '\r', n - i);
		if (!cr) break;
		size_t c = (size_t)(cr - in);
		size_t avail = n - c, cmp = avail < m->dlen ? avail : m->dlen;
		if (memcmp(in + c, m->delim, cmp) == 0) {
			if (c > 0) {
				*data = in;
				*dlen = c;
				*used = c;
				return SCAN_DATA;
			}
			if (cmp == m->dlen) {
				*used = m->dlen;
				return SCAN_DELIM;
			}
			*used = n;
			m->match = n;
			return SCAN_MORE;
		}
		i = c + 1;
	}
	*used = n;
	if (n == 0) return SCAN_MORE;
	*data = in;
	*dlen = n;
	return SCAN_DATA;
}

/* The part's header lines are in m->head: find its name and filename. */
static jm_mp_event part_head(jm_mp_parser *m)
{
	m->name[0] = m->filename[0] = 0;
	m->has_filename = false;
	static const char cd[] = "content-disposition:";
	const char *h = m->head;
	size_t i = 0;
	while (i < m->hlen) {
		size_t e = i;
		while (e < m->hlen && !(h[e] == '\r' && e + 1 < m->hlen && h[e + 1] == '\n')) e++;
		if (e - i > sizeof cd - 1 && strncasecmp(h + i, cd, sizeof cd - 1) == 0) {
			if (header_param(h + i, e - i, "name", m->name, sizeof m->name) < 0)
				return fail(
					m,
					"malformed multipart body: a part's name is too long or malformed");
			int rc = header_param(h + i, e - i, "filename", m->filename, sizeof m->filename);
			if (rc < 0)
				return fail(
					m,
					"malformed multipart body: a part's filename is too long or malformed");
			m->has_filename = rc == 1;
		}
		i = e + 2;
	}
	m->state = M_DATA;
	return JM_MP_PART;
}

jm_mp_event jm_mp_parse(jm_mp_parser *m, const uint8_t *in, size_t n, size_t *used, const uint8_t **data,
			size_t *dlen)
{
	*used = 0;
	*data = NULL;
	*dlen = 0;
	for (;;) {
		size_t u = 0;
		int sc;
		switch (m->state) {
		case M_ERROR: return JM_MP_ERROR;
		case M_DONE:
			*used += n; /* the epilogue */
			return JM_MP_DONE;
		case M_PREAMBLE:
			sc = scan(m, in, n, &u, data, dlen);
			*data = NULL, *dlen = 0; /* the preamble is not content */
			if (sc == SCAN_DELIM) {
				m->state = M_AFTER;
				m->sub = 0;
				m->hlen = 0;
			} else if (sc == SCAN_MORE) {
				*used += u;
				return JM_MP_MORE;
			}
			break;
		case M_DATA:
			sc = scan(m, in, n, &u, data, dlen);
			*used += u;
			if (sc == SCAN_DATA) return JM_MP_DATA;
			if (sc == SCAN_MORE) return JM_MP_MORE;
			m->state = M_AFTER;
			m->sub = 0;
			m->hlen = 0;
			return JM_MP_PART_END;
		case M_AFTER: {
			/* "--" ends the body; else padding and CRLF start a part. */
			if (n == 0) return JM_MP_MORE;
			unsigned char c = in[0];
			u = 1;
			if (m->sub == 0 && c == '-') {
				m->sub = 1;
			} else if (m->sub == 1) {
				if (c != '-') {
					*used += 1;
					return fail(m, "malformed multipart body: bad delimiter line");
				}
				m->state = M_DONE;
			} else if ((m->sub == 0 || m->sub == 3) && (c == ' ' || c == '\t')) {
				m->sub = 3;
				if (++m->hlen > PAD_MAX) {
					*used += 1;
					return fail(m, "malformed multipart body: bad delimiter line");
				}
			} else if ((m->sub == 0 || m->sub == 3) && c == '\r') {
				m->sub = 4;
			} else if (m->sub == 4 && c == '\n') {
				m->state = M_HEAD;
				m->hlen = 0;
			} else {
				*used += 1;
				return fail(m, "malformed multipart body: bad delimiter line");
			}
			break;
		}
		case M_HEAD: {
			/* Up to the empty line: CRLF at once (no headers) or CRLFCRLF. */
			size_t i = 0;
			bool done = false;
			while (i < n && !done) {
				if (m->hlen >= JM_MP_PART_HEAD_MAX) {
					*used += i;
					return fail(m, "malformed multipart body: part headers too large");
				}
				m->head[m->hlen++] = (char)in[i++];
				if (m->hlen == 2 && !memcmp(m->head, "\r\n", 2))
					done = true;
				else if (m->hlen >= 4 && !memcmp(m->head + m->hlen - 4, "\r\n\r\n", 4))
					done = true;
			}
			*used += i;
			if (!done) return JM_MP_MORE;
			m->head[m->hlen] = 0;
			return part_head(m);
		}
		default: return fail(m, "multipart parser state lost");
		}
		in += u;
		n -= u;
		*used += u;
	}
}
