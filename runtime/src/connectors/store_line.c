/*
 * store_line.c - JSON records for the store sinks (docs/sinks.md):
 * InfluxDB line protocol (fl_influx_line), the check of a record for
 * PostgreSQL's jsonb (fl_json_check) and COPY's text format
 * (fl_pg_copy_field).
 *
 * One recursive-descent pass over the record's bytes, no tree: keys are
 * matched against the tag list as they come (dotted paths for nested
 * objects), tags are appended to the output line and fields to a scratch
 * buffer, joined at the end. Every string is checked (escapes, UTF-8), so a
 * record is either converted whole or refused with one short reason.
 *
 * Threads: every function reads only its arguments.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_base.h"
#include "fl_hash.h"
#include "stores.h"
#include "utf8.h"

#define PATH_MAX_LEN 256
#define DEPTH_MAX 16
#define HASH_SEED 0x666c696e63ull /* "flinc" */

/* ---- the buffer ------------------------------------------------------------ */

bool fl_buf_reserve(fl_buf *b, size_t more)
{
	if (b->cap - b->len > more) return true; /* room for a NUL too */
	size_t nc = b->cap ? b->cap : 4096;
	while (nc - b->len <= more) {
		if (nc > SIZE_MAX / 2) return false;
		nc *= 2;
	}
	char *np = fl_try_realloc(b->p, nc);
	if (!np) return false;
	b->p = np;
	b->cap = nc;
	return true;
}

bool fl_buf_add(fl_buf *b, const void *p, size_t n)
{
	if (!fl_buf_reserve(b, n)) return false;
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return true;
}

void fl_buf_free(fl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ---- time ------------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

int fl_iso8601_ms(const char *s, size_t n, int64_t *out)
{
	unsigned y, mo, d, h, mi, sec, ms = 0;
	if (n < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return FLINC_ECODEC;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return FLINC_ECODEC;
	size_t i = 19;
	if (i < n && s[i] == '.') {
		size_t k = 0;
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++)
			if (k < 3) ms = ms * 10 + (unsigned)(s[i] - '0');
		if (k == 0) return FLINC_ECODEC;
		for (; k < 3; k++) ms *= 10;
	}
	int64_t off = 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		unsigned oh, om;
		if (n - i != 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return FLINC_ECODEC;
		off = ((int64_t)oh * 60 + om) * 60000 * (s[i] == '-' ? -1 : 1);
		i += 6;
	}
	if (i != n) return FLINC_ECODEC;
	int64_t days = days_from_civil((int64_t)y, mo, d);
	*out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + ms - off;
	return FLINC_OK;
}

/* ---- the walker -------------------------------------------------------------- */

typedef struct walk {
	const char *p, *end;
	const fl_influx_fmt *f; /* NULL: check only */
	fl_buf *out, *fields;
	char path[PATH_MAX_LEN];
	size_t plen;
	int depth;
	bool have_time;
	int64_t time_ms;
	bool no_nul; /* refuse \u0000 (jsonb) */
	bool oom;
	char *why;
	size_t whycap;
} walk;

static int fail(walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(walk *w, const char *fmt, ...)
{
	if (w->whycap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(w->why, w->whycap, fmt, ap);
		va_end(ap);
	}
	return FLINC_ECODEC;
}

static void ws(walk *w)
{
	while (w->p < w->end && (*w->p == ' ' || *w->p == '\t' || *w->p == '\n' || *w->p == '\r')) w->p++;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static bool hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexv(s[i]);
		if (h < 0) return false;
		v = v * 16 + (unsigned)h;
	}
	*out = v;
	return true;
}

static size_t put_utf8(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Scan the string at w->p (at its opening quote): its raw bytes between the
 * quotes in *s, *n; *esc when it holds escapes. Checks escapes and UTF-8. */
static int scan_string(walk *w, const char **s, size_t *n, bool *esc)
{
	const char *p = w->p + 1;
	*esc = false;
	while (p < w->end) {
		unsigned char c = (unsigned char)*p;
		if (c == '"') {
			*s = w->p + 1;
			*n = (size_t)(p - *s);
			w->p = p + 1;
			return FLINC_OK;
		}
		if (c < 0x20) return fail(w, "a control byte inside a string");
		if (c == '\\') {
			*esc = true;
			if (p + 1 >= w->end) break;
			char e = p[1];
			if (e == 'u') {
				unsigned cp;
				if (p + 6 > w->end || !hex4(p + 2, &cp)) return fail(w, "a bad \\u escape");
				if (cp == 0 && w->no_nul)
					return fail(w, "\\u0000 in a string (jsonb refuses it)");
				if (cp >= 0xd800 && cp < 0xdc00) {
					unsigned lo;
					if (p + 12 > w->end || p[6] != '\\' || p[7] != 'u' ||
					    !hex4(p + 8, &lo) || lo < 0xdc00 || lo > 0xdfff)
						return fail(w, "a lone surrogate in a \\u escape");
					p += 12;
				} else if (cp >= 0xdc00 && cp < 0xe000) {
					return fail(w, "a lone surrogate in a \\u escape");
				} else {
					p += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0) return fail(w, "a bad escape in a string");
			p += 2;
			continue;
		}
		if (c >= 0x80) {
			size_t l = fl_utf8_len((const unsigned char *)p, (size_t)(w->end - p));
			if (!l) return fail(w, "invalid UTF-8");
			p += l;
			continue;
		}
		p++;
	}
	return fail(w, "an unterminated string");
}

/* The decoded bytes of a checked string into o (room for n bytes: decoding
 * never grows). Returns the decoded length. */
static size_t unescape(const char *s, size_t n, char *o)
{
	size_t k = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] != '\\') {
			o[k++] = s[i++];
			continue;
		}
		char e = s[i + 1];
		if (e == 'u') {
			unsigned cp;
			hex4(s + i + 2, &cp);
			i += 6;
			if (cp >= 0xd800 && cp < 0xdc00) {
				unsigned lo;
				hex4(s + i + 2, &lo);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			k += put_utf8(cp, o + k);
			continue;
		}
		i += 2;
		switch (e) {
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		default: o[k++] = e; break;
		}
	}
	return k;
}

static int scan_number(walk *w, const char **s, size_t *n)
{
	const char *p = w->p;
	if (p < w->end && *p == '-') p++;
	if (p >= w->end) return fail(w, "a bad number");
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < w->end && *p >= '0' && *p <= '9') p++;
	} else {
		return fail(w, "a bad value");
	}
	if (p < w->end && *p == '.') {
		const char *q = ++p;
		while (p < w->end && *p >= '0' && *p <= '9') p++;
		if (p == q) return fail(w, "a bad number");
	}
	if (p < w->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < w->end && (*p == '+' || *p == '-')) p++;
		const char *q = p;
		while (p < w->end && *p >= '0' && *p <= '9') p++;
		if (p == q) return fail(w, "a bad number");
	}
	*s = w->p;
	*n = (size_t)(p - w->p);
	w->p = p;
	return FLINC_OK;
}

static int literal(walk *w, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(w->end - w->p) < n || memcmp(w->p, lit, n) != 0) return fail(w, "a bad value");
	w->p += n;
	return FLINC_OK;
}

/* ---- line-protocol output ---------------------------------------------------- */

#define ADD(b, s, n)                              \
	do {                                      \
		if (!fl_buf_add((b), (s), (n))) { \
			w->oom = true;            \
			return FLINC_ENOMEM;      \
		}                                 \
	} while (0)

/* A measurement, tag key or value, or field key: `special` escaped with a
 * backslash; control bytes, and a backslash at the end (the line protocol
 * cannot say it), refuse the record. */
static int put_name(walk *w, fl_buf *b, const char *s, size_t n, const char *special, const char *what)
{
	if (n == 0) return fail(w, "an empty %s", what);
	if (s[n - 1] == '\\') return fail(w, "a %s that ends with a backslash", what);
	if (!fl_buf_reserve(b, 2 * n)) {
		w->oom = true;
		return FLINC_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) return fail(w, "a control character in a %s", what);
		if (strchr(special, c)) b->p[b->len++] = '\\';
		b->p[b->len++] = (char)c;
	}
	return FLINC_OK;
}

/* A string field value: quoted, '"' and '\' escaped, control characters
 * as their JSON escapes (the line protocol has no newline in a value). */
static int put_str_value(walk *w, fl_buf *b, const char *s, size_t n)
{
	if (!fl_buf_reserve(b, 6 * n + 2)) {
		w->oom = true;
		return FLINC_ENOMEM;
	}
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			b->p[b->len++] = '\\';
			b->p[b->len++] = (char)c;
		} else if (c < 0x20) {
			const char *e = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t" : NULL;
			b->p[b->len++] = '\\';
			b->p[b->len++] = '\\';
			if (e) {
				b->p[b->len++] = *e;
			} else {
				b->len += (size_t)snprintf(b->p + b->len, 6, "u%04x", c);
			}
		} else {
			b->p[b->len++] = (char)c;
		}
	}
	b->p[b->len++] = '"';
	return FLINC_OK;
}

static bool is_tag(const walk *w)
{
	for (size_t i = 0; i < w->f->ntags; i++)
		if (strlen(w->f->tags[i]) == w->plen && memcmp(w->f->tags[i], w->path, w->plen) == 0)
			return true;
	return false;
}

static bool is_time(const walk *w)
{
	return strlen(w->f->time_field) == w->plen && memcmp(w->f->time_field, w->path, w->plen) == 0;
}

/* Start a field "key=" in the fields buffer. */
static int field_key(walk *w)
{
	if (w->fields->len) ADD(w->fields, ",", 1);
	int rc = put_name(w, w->fields, w->path, w->plen, ", =", "field key");
	if (rc) return rc;
	ADD(w->fields, "=", 1);
	return FLINC_OK;
}

static int tag(walk *w, const char *v, size_t n)
{
	if (n == 0) return FLINC_OK; /* InfluxDB refuses an empty tag value: left out */
	ADD(w->out, ",", 1);
	int rc = put_name(w, w->out, w->path, w->plen, ", =", "tag key");
	if (rc) return rc;
	ADD(w->out, "=", 1);
	return put_name(w, w->out, v, n, ", =", "tag value");
}

static int value(walk *w);

static int object(walk *w)
{
	if (++w->depth > DEPTH_MAX) return fail(w, "nested deeper than %d", DEPTH_MAX);
	w->p++; /* '{' */
	ws(w);
	if (w->p < w->end && *w->p == '}') {
		w->p++;
		w->depth--;
		return FLINC_OK;
	}
	size_t base = w->plen;
	for (;;) {
		ws(w);
		if (w->p >= w->end || *w->p != '"') return fail(w, "a key expected");
		const char *k = NULL;
		size_t kn = 0;
		bool esc = false;
		int rc = scan_string(w, &k, &kn, &esc);
		if (rc) return rc;
		if (w->f) {
			size_t need = base + (base ? 1 : 0) + kn;
			if (need >= PATH_MAX_LEN)
				return fail(w, "a key path longer than %d bytes", PATH_MAX_LEN - 1);
			w->plen = base;
			if (base) w->path[w->plen++] = '.';
			w->plen += esc ? unescape(k, kn, w->path + w->plen)
				       : (memcpy(w->path + w->plen, k, kn), kn);
		}
		ws(w);
		if (w->p >= w->end || *w->p != ':') return fail(w, "':' expected after a key");
		w->p++;
		ws(w);
		if ((rc = value(w))) return rc;
		ws(w);
		if (w->p < w->end && *w->p == ',') {
			w->p++;
			continue;
		}
		if (w->p < w->end && *w->p == '}') {
			w->p++;
			break;
		}
		return fail(w, "',' or '}' expected");
	}
	w->plen = base;
	w->depth--;
	return FLINC_OK;
}

static int array(walk *w)
{
	if (++w->depth > DEPTH_MAX) return fail(w, "nested deeper than %d", DEPTH_MAX);
	const fl_influx_fmt *f = w->f;
	w->f = NULL; /* elements: checked, not converted */
	w->p++;
	ws(w);
	int rc = FLINC_OK;
	if (w->p < w->end && *w->p == ']') {
		w->p++;
	} else {
		for (;;) {
			ws(w);
			if ((rc = value(w))) break;
			ws(w);
			if (w->p < w->end && *w->p == ',') {
				w->p++;
				continue;
			}
			if (w->p < w->end && *w->p == ']') {
				w->p++;
				break;
			}
			rc = fail(w, "',' or ']' expected");
			break;
		}
	}
	w->f = f;
	w->depth--;
	return rc;
}

static int value(walk *w)
{
	if (w->p >= w->end) return fail(w, "a value expected");
	const char *start = w->p;
	char c = *w->p;
	int rc;
	if (c == '{') {
		if (w->f && w->plen && (is_tag(w) || is_time(w)))
			return fail(w, "%.*s is an object", (int)w->plen, w->path);
		return object(w);
	}
	if (c == '[') {
		if ((rc = array(w))) return rc;
		if (!w->f) return FLINC_OK;
		if (is_time(w)) return fail(w, "the time field %s is an array", w->f->time_field);
		/* an array: its JSON text as a string field */
		if ((rc = field_key(w))) return rc;
		return put_str_value(w, w->fields, start, (size_t)(w->p - start));
	}
	if (c == '"') {
		const char *s = NULL;
		size_t n = 0;
		bool esc = false;
		if ((rc = scan_string(w, &s, &n, &esc))) return rc;
		if (!w->f) return FLINC_OK;
		char small[256];
		char *d = NULL;
		if (esc) {
			d = n <= sizeof small ? small : fl_try_malloc(n);
			if (!d) {
				w->oom = true;
				return FLINC_ENOMEM;
			}
			n = unescape(s, n, d);
			s = d;
		}
		if (is_time(w)) {
			rc = fl_iso8601_ms(s, n, &w->time_ms);
			if (rc) rc = fail(w, "the time field %s is not an ISO-8601 time", w->f->time_field);
			w->have_time = rc == FLINC_OK;
		} else if (is_tag(w)) {
			rc = tag(w, s, n);
		} else if (!(rc = field_key(w))) {
			rc = put_str_value(w, w->fields, s, n);
		}
		if (d && d != small) free(d);
		return rc;
	}
	if (c == 't' || c == 'f' || c == 'n') {
		const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
		if ((rc = literal(w, lit))) return rc;
		if (!w->f || c == 'n') return FLINC_OK; /* null: no value */
		if (is_time(w)) return fail(w, "the time field %s is a boolean", w->f->time_field);
		if (is_tag(w)) return tag(w, lit, strlen(lit));
		if ((rc = field_key(w))) return rc;
		ADD(w->fields, lit, strlen(lit));
		return FLINC_OK;
	}
	const char *s = NULL;
	size_t n = 0;
	if ((rc = scan_number(w, &s, &n))) return rc;
	if (!w->f) return FLINC_OK;
	char tmp[64];
	bool fits = n < sizeof tmp;
	if (fits) {
		memcpy(tmp, s, n);
		tmp[n] = 0;
	}
	if (is_time(w)) {
		/* epoch milliseconds */
		errno = 0;
		char *e;
		double v = fits ? strtod(tmp, &e) : NAN;
		if (!fits || errno || !(v > -9.2e12 && v < 9.2e12))
			return fail(w, "the time field %s is out of range", w->f->time_field);
		w->time_ms = (int64_t)floor(v);
		w->have_time = true;
		return FLINC_OK;
	}
	if (is_tag(w)) return tag(w, s, n);
	if (!fits || memchr(s, 'e', n) || memchr(s, 'E', n)) {
		double v = fits ? strtod(tmp, NULL) : strtod(s, NULL); /* s is followed by a non-digit */
		if (!isfinite(v)) return fail(w, "%.*s: a number out of range", (int)w->plen, w->path);
	}
	if ((rc = field_key(w))) return rc;
	ADD(w->fields, s, n); /* a JSON number is an InfluxDB float as it stands */
	return FLINC_OK;
}

static int top(walk *w)
{
	ws(w);
	if (w->p >= w->end || *w->p != '{') return fail(w, "not a JSON object");
	int rc = object(w);
	if (rc) return rc;
	ws(w);
	if (w->p != w->end) return fail(w, "bytes after the JSON object");
	return FLINC_OK;
}

int fl_influx_line(const fl_influx_fmt *f, const char *json, size_t len, fl_buf *out, fl_buf *fields,
		   char *why, size_t whycap)
{
	walk w;
	memset(&w, 0, sizeof w);
	w.p = json;
	w.end = json + len;
	w.f = f;
	w.out = out;
	w.fields = fields;
	w.why = why;
	w.whycap = whycap;
	size_t mark = out->len;
	fields->len = 0;
	int rc = put_name(&w, out, f->measurement, strlen(f->measurement), ", ", "measurement");
	if (!rc) rc = top(&w);
	if (!rc && !w.have_time) rc = fail(&w, "no time field %s", f->time_field);
	if (!rc && !fields->len) rc = fail(&w, "no field besides the tags and the time (InfluxDB needs one)");
	if (!rc && w.time_ms > INT64_MAX / 1000000 - 1) rc = fail(&w, "a time beyond the year 2262");
	if (!rc && w.time_ms < INT64_MIN / 1000000 + 1) rc = fail(&w, "a time before the year 1677");
	if (!rc) {
		int64_t ns = w.time_ms * 1000000 + (int64_t)(fl_hash64(json, len, HASH_SEED) % 1000000);
		char ts[32];
		int tn = snprintf(ts, sizeof ts, " %lld\n", (long long)ns);
		if (!fl_buf_reserve(out, fields->len + (size_t)tn + 1)) {
			rc = FLINC_ENOMEM;
		} else {
			out->p[out->len++] = ' ';
			memcpy(out->p + out->len, fields->p, fields->len);
			out->len += fields->len;
			memcpy(out->p + out->len, ts, (size_t)tn);
			out->len += (size_t)tn;
		}
	}
	if (rc == FLINC_ENOMEM || w.oom) {
		snprintf(why, whycap, "out of memory");
		rc = FLINC_ENOMEM;
	}
	if (rc) out->len = mark;
	return rc;
}

int fl_json_check(const char *json, size_t len, char *why, size_t whycap)
{
	walk w;
	memset(&w, 0, sizeof w);
	w.p = json;
	w.end = json + len;
	w.no_nul = true;
	w.why = why;
	w.whycap = whycap;
	return top(&w);
}

bool fl_pg_copy_field(fl_buf *out, const char *json, size_t len)
{
	if (!fl_buf_reserve(out, 2 * len)) return false;
	for (size_t i = 0; i < len; i++) {
		char c = json[i];
		/* JSON may have tabs and line breaks between its tokens */
		char e = c == '\\' ? '\\' : c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : 0;
		if (e) {
			out->p[out->len++] = '\\';
			out->p[out->len++] = e;
		} else {
			out->p[out->len++] = c;
		}
	}
	return true;
}
