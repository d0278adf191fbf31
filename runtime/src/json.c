/*
 * json.c - JSON records into structs described by flinc_field lists
 * (flinc_json_parse, flinc_json_record): one pass over the bytes, no tree,
 * no allocation except unescaped strings from the caller's arena.
 *
 * The parser is a recursive descent over the object, matching each key
 * against the field names (dotted names reach into nested objects) and
 * converting the value straight into the struct; keys it does not know
 * are skipped but still checked (strings, UTF-8, numbers, nesting), so a
 * record either is valid JSON that carries what the fields require or is
 * refused with one short reason. docs/BENCHMARKS.md compares it with
 * jansson and simdjson.
 *
 * Threads: every function here reads only its arguments; no shared state.
 */
#include <flinc/flinc.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "utf8.h"

#define KIND_MASK (~(int)FLINC_FIELD_REQUIRED)
#define PREFIX_MAX 256
#define FIELDS_MAX 256

/* A field list compiled for key lookup (cached per thread, see plan_for).
 * A key at path P (the keys of the objects it is in, "location." inside
 * "location") is the dotted name P + key, of length L: the fields named
 * that and those under it (names with a '.' at L) are its only candidates
 * (at[L]), so a key no field has is refused without a comparison and a
 * known one is compared with one name. For lists of up
 * to 64 fields with names of up to PLAN_LEN_MAX bytes; other lists go
 * through match. */
#define PLAN_LEN_MAX 63
#define PLAN_CACHE 4

/* The top-level keys of the last record parsed with a plan, in order: the
 * records of one stream nearly always repeat them, so the key at position
 * i is first compared, as bytes with its closing quote and the colon,
 * with the one seen there last time. When they are equal the key needs no
 * scan (those same bytes were checked before) and no lookup (its field is
 * remembered); when not, it is read as usual and remembered in its place.
 * Keys of up to SPEC_LEN bytes without escapes, the first SPEC_KEYS. */
#define SPEC_KEYS 32
#define SPEC_LEN 30
typedef struct spec_key {
	unsigned char bytes[SPEC_LEN + 2]; /* the key, '"', ':' */
	uint32_t mask;                     /* bit i: bytes[i] is compared */
	uint8_t len;                       /* of the key; 0: nothing remembered here */
	bool leaf;                         /* match_fast's *leaf */
	int16_t fi;                        /* match_fast's result */
} spec_key;

typedef struct json_plan {
	const flinc_field *f;
	size_t n;
	uint64_t print;                /* fingerprint of the list (fields_print) */
	bool valid;                    /* every field has a name and a known kind */
	bool fast;                     /* valid, and at applies */
	uint64_t at[PLAN_LEN_MAX + 1]; /* bit i: field i's name ends or has a '.' here */
	unsigned char head[64][16];    /* field i's name: its first 16 bytes, 0-padded */
	spec_key spec[SPEC_KEYS];      /* fast plans: the last record's top-level keys */
} json_plan;

typedef struct jp {
	const unsigned char *start, *p, *end;
	const flinc_field *f;
	size_t n;
	json_plan *plan; /* or NULL */
	char *rec;
	flinc_arena *a;
	uint8_t *seen;
	size_t hint; /* the field after the last one matched: records keep their order */
	char *why;
	size_t whycap;
	int depth;
	char prefix[PREFIX_MAX]; /* "location." while inside a nested object */
	size_t plen;
} jp;

static int fail(jp *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(jp *j, const char *fmt, ...)
{
	if (j->whycap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(j->why, j->whycap, fmt, ap);
		va_end(ap);
	}
	return FLINC_ECODEC;
}

static size_t at(const jp *j) { return (size_t)(j->p - j->start); }

static inline void ws(jp *j)
{
	if (j->p < j->end && ' ' < *j->p) return; /* the usual case: no whitespace */
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) j->p++;
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* Bytes that end the fast scan of a string: '"', '\\', controls, non-ASCII. */
static const unsigned char str_stop[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

#ifdef __SSE2__
/* The 16 bytes at p as a bit mask of those that end the fast scan of a
 * string: '"', '\\', control bytes and non-ASCII bytes (as signed bytes,
 * both of the latter are < 0x20). */
static inline unsigned str_stop16(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i stop = _mm_or_si128(
		_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))),
		_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)));
	return (unsigned)_mm_movemask_epi8(stop);
}
#endif

/* A string at j->p ('"'): its raw bytes between the quotes in *s and *len,
 * *esc when it holds escapes. Checks escapes (\u surrogates paired), UTF-8
 * and control characters. (scan_string below: its usual case inline.) */
static int scan_string_any(jp *j, const unsigned char **s, size_t *len, bool *esc)
{
	const unsigned char *p = j->p + 1, *end = j->end;
	*esc = false;
	for (;;) {
#ifdef __SSE2__
		/* Sixteen bytes at a time to the first byte that stops it. */
		while (end - p >= 16) {
			unsigned m = str_stop16(p);
			if (m) {
				p += __builtin_ctz(m);
				break;
			}
			p += 16;
		}
#else
		/* Eight bytes at a time while none of them is '"', '\\', a control
		 * character or non-ASCII (SWAR: each test sets a byte's top bit). */
		while (end - p >= 8) {
			uint64_t x;
			memcpy(&x, p, 8);
			const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
			uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
			uint64_t hit = ((x - ones * 0x20) | (q - ones) | (b - ones) | x) & high;
			if (hit) break;
			p += 8;
		}
#endif
		while (p < end && !str_stop[*p]) p++;
		if (p >= end) {
			j->p = p;
			return fail(j, "unterminated string at byte %zu", at(j));
		}
		unsigned char c = *p;
		if (c == '"') break;
		if (c == '\\') {
			*esc = true;
			if (p + 1 >= end) {
				j->p = p;
				return fail(j, "unterminated string at byte %zu", at(j));
			}
			unsigned char e = p[1];
			if (e == 'u') {
				unsigned u, lo;
				if (end - p < 6 || hex4(p + 2, &u)) {
					j->p = p;
					return fail(j, "bad \\u escape at byte %zu", at(j));
				}
				if (u >= 0xdc00 && u <= 0xdfff) {
					j->p = p;
					return fail(j, "unpaired surrogate at byte %zu", at(j));
				}
				if (u >= 0xd800 && u <= 0xdbff) {
					if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) ||
					    lo < 0xdc00 || lo > 0xdfff) {
						j->p = p;
						return fail(j, "unpaired surrogate at byte %zu", at(j));
					}
					p += 12;
				} else {
					p += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == 0) {
				j->p = p;
				return fail(j, "bad escape at byte %zu", at(j));
			}
			p += 2;
			continue;
		}
		if (c < 0x20) {
			j->p = p;
			return fail(j, "control character in a string at byte %zu", at(j));
		}
		size_t k = fl_utf8_len(p, (size_t)(end - p));
		if (!k) {
			j->p = p;
			return fail(j, "invalid UTF-8 at byte %zu", at(j));
		}
		p += k;
	}
	*s = j->p + 1;
	*len = (size_t)(p - (j->p + 1));
	j->p = p + 1;
	return FLINC_OK;
}

/* scan_string, inline for the usual string: ASCII without escapes or
 * control characters, its closing quote within 32 bytes. */
static inline int scan_string(jp *j, const unsigned char **s, size_t *len, bool *esc)
{
#ifdef __SSE2__
	const unsigned char *p = j->p + 1;
	for (int blk = 0; blk < 2 && j->end - p >= 16; blk++, p += 16) {
		unsigned m = str_stop16(p);
		if (!m) continue;
		p += __builtin_ctz(m);
		if (*p != '"') break;
		*s = j->p + 1;
		*len = (size_t)(p - *s);
		*esc = false;
		j->p = p + 1;
		return FLINC_OK;
	}
#endif
	return scan_string_any(j, s, len, esc);
}

/* Decode the escapes of a string scan_string accepted into out (at most
 * len bytes); returns the decoded length. */
static size_t unescape(const unsigned char *s, size_t len, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		if (s[i] != '\\') {
			out[o++] = (char)s[i++];
			continue;
		}
		unsigned char e = s[i + 1];
		i += 2;
		switch (e) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned u, lo;
			hex4(s + i, &u);
			i += 4;
			if (u >= 0xd800 && u <= 0xdbff) {
				hex4(s + i + 2, &lo);
				i += 6;
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (u < 0x80) {
				out[o++] = (char)u;
			} else if (u < 0x800) {
				out[o++] = (char)(0xc0 | u >> 6);
				out[o++] = (char)(0x80 | (u & 0x3f));
			} else if (u < 0x10000) {
				out[o++] = (char)(0xe0 | u >> 12);
				out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (u & 0x3f));
			} else {
				out[o++] = (char)(0xf0 | u >> 18);
				out[o++] = (char)(0x80 | ((u >> 12) & 0x3f));
				out[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
				out[o++] = (char)(0x80 | (u & 0x3f));
			}
			break;
		}
		default: out[o++] = (char)e; /* " \ / */
		}
	}
	return o;
}

/* A number at j->p, checked against JSON's grammar: its bytes, and whether
 * it has a fraction or an exponent. */
static int scan_number(jp *j, const char *name, const unsigned char **s, size_t *len, bool *frac)
{
	const unsigned char *p = j->p, *end = j->end;
	*frac = false;
	if (p < end && *p == '-') p++;
	if (p >= end || *p < '0' || *p > '9') goto bad;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9') p++;
	if (p < end && *p == '.') {
		*frac = true;
		p++;
		if (p >= end || *p < '0' || *p > '9') goto bad;
		while (p < end && *p >= '0' && *p <= '9') p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*frac = true;
		p++;
		if (p < end && (*p == '+' || *p == '-')) p++;
		if (p >= end || *p < '0' || *p > '9') goto bad;
		while (p < end && *p >= '0' && *p <= '9') p++;
	}
	*s = j->p;
	*len = (size_t)(p - j->p);
	j->p = p;
	return FLINC_OK;
bad:
	j->p = p;
	if (name) return fail(j, "%s: malformed number at byte %zu", name, at(j));
	return fail(j, "malformed number at byte %zu", at(j));
}

static int literal(jp *j, const char *lit, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return fail(j, "unexpected character at byte %zu", at(j));
	j->p += n;
	return FLINC_OK;
}

static int skip_value(jp *j);

static int skip_container(jp *j, unsigned char close)
{
	if (++j->depth > FLINC_JSON_MAX_DEPTH) return fail(j, "nesting deeper than %d", FLINC_JSON_MAX_DEPTH);
	j->p++;
	ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return FLINC_OK;
	}
	for (;;) {
		int rc;
		ws(j);
		if (close == '}') {
			const unsigned char *s;
			size_t len;
			bool esc;
			if (j->p >= j->end || *j->p != '"')
				return fail(j, "expected a key at byte %zu", at(j));
			if ((rc = scan_string(j, &s, &len, &esc))) return rc;
			ws(j);
			if (j->p >= j->end || *j->p != ':') return fail(j, "expected ':' at byte %zu", at(j));
			j->p++;
			ws(j);
		}
		if ((rc = skip_value(j))) return rc;
		ws(j);
		if (j->p >= j->end) return fail(j, "unexpected end of input at byte %zu", at(j));
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == close) {
			j->p++;
			j->depth--;
			return FLINC_OK;
		}
		return fail(j, "expected ',' or '%c' at byte %zu", close, at(j));
	}
}

/* Check and pass over any value at j->p. */
static int skip_value(jp *j)
{
	if (j->p >= j->end) return fail(j, "unexpected end of input at byte %zu", at(j));
	const unsigned char *s;
	size_t len;
	bool b;
	switch (*j->p) {
	case '{': return skip_container(j, '}');
	case '[': return skip_container(j, ']');
	case '"': return scan_string(j, &s, &len, &b);
	case 't': return literal(j, "true", 4);
	case 'f': return literal(j, "false", 5);
	case 'n': return literal(j, "null", 4);
	default: return scan_number(j, NULL, &s, &len, &b);
	}
}

/* ---- values into fields ------------------------------------------------ */

static const double pow10_exact[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
				      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/* A JSON number (checked by scan_number) as a double: exact fast path for
 * up to 15 significant digits and small exponents, strtod otherwise. */
static int number_f64(jp *j, const char *name, const unsigned char *s, size_t len, double *out)
{
	const unsigned char *p = s, *end = s + len;
	bool neg = *p == '-';
	if (neg) p++;
	uint64_t m = 0;
	int digits = 0, exp10 = 0;
	while (p < end && *p >= '0' && *p <= '9') {
		if (m || *p != '0') digits++;
		m = m * 10 + (uint64_t)(*p++ - '0');
		if (digits > 15) goto slow;
	}
	if (p < end && *p == '.') {
		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			if (m || *p != '0') digits++;
			m = m * 10 + (uint64_t)(*p++ - '0');
			exp10--;
			if (digits > 15) goto slow;
		}
	}
	if (p < end) { /* exponent */
		p++;
		bool eneg = false;
		if (*p == '+' || *p == '-') eneg = *p++ == '-';
		int e = 0;
		while (p < end) {
			e = e * 10 + (*p++ - '0');
			if (e > 400) goto slow;
		}
		exp10 += eneg ? -e : e;
	}
	if (exp10 >= -22 && exp10 <= 22) {
		double d = (double)m;
		d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
		*out = neg ? -d : d;
		return FLINC_OK;
	}
slow:;
	/* strtod needs a NUL: copy (numbers longer than 400 bytes are refused). */
	char tmp[402];
	if (len > 400) return fail(j, "%s: number too long", name);
	memcpy(tmp, s, len);
	tmp[len] = 0;
	errno = 0;
	double d = strtod(tmp, NULL);
	if (errno == ERANGE && (d > 1 || d < -1)) return fail(j, "%s: number out of range", name);
	*out = d;
	return FLINC_OK;
}

/* An integer number (no fraction, no exponent) in [-(2^63), 2^64-1]:
 * magnitude and sign. */
static int number_int(jp *j, const char *name, const unsigned char *s, size_t len, bool frac, bool *neg,
		      uint64_t *mag)
{
	if (frac) return fail(j, "%s: expected an integer", name);
	const unsigned char *p = s, *end = s + len;
	*neg = *p == '-';
	if (*neg) p++;
	uint64_t m = 0;
	for (; p < end; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (m > (UINT64_MAX - d) / 10) return fail(j, "%s: integer out of range", name);
		m = m * 10 + d;
	}
	*mag = m;
	return FLINC_OK;
}

/* A number as an int64 count of 10^-scale. */
static int number_decimal(jp *j, const char *name, const unsigned char *s, size_t len, int scale,
			  int64_t *out)
{
	const unsigned char *p = s, *end = s + len;
	bool neg = *p == '-';
	if (neg) p++;
	/* digits and the position of the point, then the exponent moves it */
	uint64_t m = 0;
	int exp10 = 0;
	bool nonzero_lost = false;
	const uint64_t lim = (uint64_t)INT64_MAX + (neg ? 1u : 0u);
	int kept_frac = 0; /* fraction digits taken into m */
	while (p < end && *p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p++ - '0');
		if (m > (lim - d) / 10) return fail(j, "%s: number out of range", name);
		m = m * 10 + d;
	}
	if (p < end && *p == '.') {
		p++;
		while (p < end && *p >= '0' && *p <= '9') {
			unsigned d = (unsigned)(*p++ - '0');
			if (m > (lim - d) / 10) { /* no room: only zeros may go */
				if (kept_frac < scale) return fail(j, "%s: number out of range", name);
				if (d) nonzero_lost = true;
				continue;
			}
			m = m * 10 + d;
			kept_frac++;
		}
	}
	if (p < end) {
		p++;
		bool eneg = false;
		if (*p == '+' || *p == '-') eneg = *p++ == '-';
		int e = 0;
		while (p < end) {
			e = e * 10 + (*p++ - '0');
			if (e > 400) return fail(j, "%s: number out of range", name);
		}
		exp10 = eneg ? -e : e;
	}
	/* value = m * 10^(exp10 - kept_frac); want m * 10^(exp10 - kept_frac + scale) */
	int shift = exp10 - kept_frac + scale;
	if (nonzero_lost) return fail(j, "%s: more than %d decimals", name, scale);
	while (shift > 0) {
		if (m > lim / 10) return fail(j, "%s: number out of range", name);
		m *= 10;
		shift--;
	}
	while (shift < 0) {
		if (m % 10) return fail(j, "%s: more than %d decimals", name, scale);
		m /= 10;
		shift++;
	}
	*out = neg ? (int64_t)((uint64_t)0 - m) : (int64_t)m;
	return FLINC_OK;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits_n(const unsigned char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* ISO-8601 date-time (RFC 3339 profile): YYYY-MM-DD[Tt ]hh:mm:ss[.f+]
 * (Z|z|+hh:mm|-hh:mm|+hhmm|-hhmm), to ms since the epoch. A date alone
 * (YYYY-MM-DD) is its midnight UTC. -1 when malformed. */
static int iso8601_ms(const unsigned char *s, size_t n, int64_t *out)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	if (n < 10 || digits_n(s, 4, &y) || s[4] != '-' || digits_n(s + 5, 2, &mo) || s[7] != '-' ||
	    digits_n(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1]) return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return -1;
	size_t i = 10;
	int64_t off_min = 0;
	if (n > 10) {
		if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return -1;
		if (n < 19 || digits_n(s + 11, 2, &h) || s[13] != ':' || digits_n(s + 14, 2, &mi) ||
		    s[16] != ':' || digits_n(s + 17, 2, &sec))
			return -1;
		if (h > 23 || mi > 59 || sec > 60) return -1;
		i = 19;
		if (i < n && s[i] == '.') {
			i++;
			int nd = 0;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				if (nd < 3) ms = ms * 10 + (unsigned)(s[i] - '0');
				nd++;
				i++;
			}
			if (nd == 0) return -1;
			for (; nd < 3; nd++) ms *= 10;
		}
		if (i >= n) return -1; /* a zone is required: no local times */
		if (s[i] == 'Z' || s[i] == 'z') {
			i++;
		} else if (s[i] == '+' || s[i] == '-') {
			unsigned oh, om;
			int sign = s[i] == '-' ? -1 : 1;
			i++;
			if (n - i == 5 && s[i + 2] == ':' && !digits_n(s + i, 2, &oh) &&
			    !digits_n(s + i + 3, 2, &om))
				i += 5;
			else if (n - i == 4 && !digits_n(s + i, 2, &oh) && !digits_n(s + i + 2, 2, &om))
				i += 4;
			else
				return -1;
			if (oh > 23 || om > 59) return -1;
			off_min = sign * (int64_t)(oh * 60 + om);
		} else {
			return -1;
		}
		if (i != n) return -1;
	}
	int64_t days = days_from_civil(y, mo, d);
	*out = ((days * 86400 + h * 3600 + mi * 60 + sec) - off_min * 60) * 1000 + ms;
	return 0;
}

static const char *kind_noun(int kind)
{
	switch (kind) {
	case FLINC_FIELD_STR: return "a string";
	case FLINC_FIELD_BOOL: return "true or false";
	case FLINC_FIELD_TIMESTAMP_MS: return "an ISO-8601 timestamp";
	default: return "a number";
	}
}

/* The value at j->p into field i. */
static int field_value(jp *j, size_t i)
{
	const flinc_field *fd = &j->f[i];
	int kind = (int)fd->kind & KIND_MASK;
	void *dst = j->rec + fd->offset;
	unsigned char c = *j->p;
	const unsigned char *s;
	size_t len;
	bool flag;
	int rc;

	if (c == 'n') { /* null: as if absent */
		if ((rc = literal(j, "null", 4))) return rc;
		return FLINC_OK;
	}
	j->seen[i] = 1;
	switch (kind) {
	case FLINC_FIELD_STR: {
		if (c != '"') break;
		if ((rc = scan_string(j, &s, &len, &flag))) return rc;
		flinc_str v = { (const char *)s, (uint32_t)len };
		if (flag) {
			if (!j->a) return fail(j, "%s: escaped string and no arena", fd->name);
			char *o = flinc_arena_alloc(j->a, len ? len : 1);
			v.s = o;
			v.len = (uint32_t)unescape(s, len, o);
		}
		memcpy(dst, &v, sizeof v);
		return FLINC_OK;
	}
	case FLINC_FIELD_BOOL: {
		bool v;
		if (c == 't') {
			if ((rc = literal(j, "true", 4))) return rc;
			v = true;
		} else if (c == 'f') {
			if ((rc = literal(j, "false", 5))) return rc;
			v = false;
		} else {
			break;
		}
		memcpy(dst, &v, sizeof v);
		return FLINC_OK;
	}
	case FLINC_FIELD_TIMESTAMP_MS: {
		int64_t v;
		if (c == '"') {
			if ((rc = scan_string(j, &s, &len, &flag))) return rc;
			if (flag || iso8601_ms(s, len, &v))
				return fail(j, "%s: expected an ISO-8601 timestamp", fd->name);
		} else if (c == '-' || (c >= '0' && c <= '9')) { /* epoch ms */
			bool neg;
			uint64_t m;
			if ((rc = scan_number(j, fd->name, &s, &len, &flag)) ||
			    (rc = number_int(j, fd->name, s, len, flag, &neg, &m)))
				return rc;
			if (m > (uint64_t)INT64_MAX) return fail(j, "%s: integer out of range", fd->name);
			v = neg ? -(int64_t)m : (int64_t)m;
		} else {
			break;
		}
		memcpy(dst, &v, 8);
		return FLINC_OK;
	}
	default: {
		if (c != '-' && (c < '0' || c > '9')) break;
		if ((rc = scan_number(j, fd->name, &s, &len, &flag))) return rc;
		if (kind == FLINC_FIELD_F64) {
			double v = 0;
			if ((rc = number_f64(j, fd->name, s, len, &v))) return rc;
			memcpy(dst, &v, 8);
			return FLINC_OK;
		}
		if (kind >= FLINC_FIELD_DECIMAL_0 && kind <= FLINC_FIELD_DECIMAL_18) {
			int64_t v = 0;
			if ((rc = number_decimal(j, fd->name, s, len, kind - FLINC_FIELD_DECIMAL_0, &v)))
				return rc;
			memcpy(dst, &v, 8);
			return FLINC_OK;
		}
		bool neg;
		uint64_t m;
		if ((rc = number_int(j, fd->name, s, len, flag, &neg, &m))) return rc;
		if (kind == FLINC_FIELD_U64) {
			if (neg && m) return fail(j, "%s: integer out of range", fd->name);
			memcpy(dst, &m, 8);
		} else if (kind == FLINC_FIELD_I64) {
			if (m > (uint64_t)INT64_MAX + neg)
				return fail(j, "%s: integer out of range", fd->name);
			int64_t v = neg ? (int64_t)((uint64_t)0 - m) : (int64_t)m;
			memcpy(dst, &v, 8);
		} else { /* I32 */
			if (m > (uint64_t)INT32_MAX + neg)
				return fail(j, "%s: integer out of range", fd->name);
			int32_t v = neg ? (int32_t)(0 - (int64_t)m) : (int32_t)m;
			memcpy(dst, &v, 4);
		}
		return FLINC_OK;
	}
	}
	return fail(j, "%s: expected %s", fd->name, kind_noun(kind));
}

/* The field named prefix + key (*leaf), or a field under prefix + key + "."
 * (a nested object to enter): its index, or -1. */
static long match(jp *j, const char *k, size_t klen, bool *leaf)
{
	size_t n = j->n, pl = j->plen;
	long container = -1;
	for (size_t c = 0; c < n; c++) {
		size_t i = j->hint + c;
		if (i >= n) i -= n;
		const char *name = j->f[i].name;
		if (pl && strncmp(name, j->prefix, pl) != 0) continue;
		name += pl;
		/* k holds no NUL, so this stops at the end of a shorter name */
		size_t m = 0;
		while (m < klen && name[m] == k[m]) m++;
		if (m < klen) continue;
		if (name[klen] == 0) {
			*leaf = true;
			j->hint = i + 1 < n ? i + 1 : 0;
			return (long)i;
		}
		if (name[klen] == '.' && container < 0) container = (long)i;
	}
	*leaf = false;
	return container;
}

/* Does the name of field i (klen bytes long) equal k? avail: bytes that
 * may be read at k (at least klen). */
static inline bool name_eq(const jp *j, int i, const char *k, size_t klen, size_t avail)
{
#ifdef __SSE2__
	if (avail >= 16) { /* the first 16 bytes in one compare */
		__m128i a = _mm_loadu_si128((const __m128i *)(const void *)k);
		__m128i b = _mm_loadu_si128((const __m128i *)(const void *)j->plan->head[i]);
		unsigned eq = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b));
		unsigned want = klen >= 16 ? 0xffffu : (1u << klen) - 1;
		if ((eq & want) != want) return false;
		return klen <= 16 || memcmp(j->f[i].name + 16, k + 16, klen - 16) == 0;
	}
#endif
	(void)avail;
	return memcmp(j->f[i].name, k, klen) == 0;
}

/* Is field i's name, from the start, the current path and then k? */
static inline bool path_eq(const jp *j, int i, const char *k, size_t klen, size_t avail)
{
	if (!j->plen) return name_eq(j, i, k, klen, avail);
	const char *name = j->f[i].name;
	return memcmp(name, j->prefix, j->plen) == 0 && memcmp(name + j->plen, k, klen) == 0;
}

/* match for a compiled list: the field named path + k (*leaf), else one
 * under path + k + "." (a nested object to enter), else -1. */
static long match_fast(jp *j, const char *k, size_t klen, size_t avail, bool *leaf)
{
	*leaf = false;
	size_t l = j->plen + klen;
	if (l > PLAN_LEN_MAX) return -1; /* no name is that long */
	long container = -1;
	for (uint64_t bits = j->plan->at[l]; bits; bits &= bits - 1) {
		int i = __builtin_ctzll(bits);
		if (!path_eq(j, i, k, klen, avail)) continue;
		if (j->f[i].name[l] == 0) {
			*leaf = true;
			return i;
		}
		if (container < 0) container = i; /* name[l] is '.' */
	}
	return container;
}

/* Do the n readable bytes at p start with sk's key, '"' and ':'? */
static inline bool spec_eq(const unsigned char *p, size_t n, const spec_key *sk)
{
#ifdef __SSE2__
	if (n >= 32) { /* both halves in two compares (sk->bytes is 32 bytes) */
		__m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)p);
		__m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)sk->bytes);
		__m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
		__m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)(sk->bytes + 16));
		uint32_t eq = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a0, b0)) |
			(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a1, b1)) << 16;
		return (eq & sk->mask) == sk->mask;
	}
#endif
	size_t want = (size_t)sk->len + 2;
	return n >= want && memcmp(p, sk->bytes, want) == 0;
}

/* Remember the key at sk's position: its len bytes at s (as scanned, so
 * checked), when `plain` (no escape, a key, the colon right after its
 * quote) and short enough; else forget what was there. */
static inline void spec_remember(spec_key *sk, const unsigned char *s, size_t len, bool plain, long fi,
				 bool leaf)
{
	if (!plain || len == 0 || len > SPEC_LEN) {
		sk->len = 0;
		return;
	}
	memcpy(sk->bytes, s, len); /* bytes past len + 2 are never compared (mask) */
	sk->bytes[len] = '"';
	sk->bytes[len + 1] = ':';
	sk->mask = len + 2 >= 32 ? 0xffffffffu : (1u << (len + 2)) - 1;
	sk->len = (uint8_t)len;
	sk->fi = (int16_t)fi;
	sk->leaf = leaf;
}

static int parse_object(jp *j)
{
	if (++j->depth > FLINC_JSON_MAX_DEPTH) return fail(j, "nesting deeper than %d", FLINC_JSON_MAX_DEPTH);
	j->p++; /* '{' */
	ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		j->depth--;
		return FLINC_OK;
	}
	/* sk: the remembered key at this key's position, or NULL */
	spec_key *sk = j->plan && j->depth == 1 ? j->plan->spec : NULL;
	spec_key *const sk_end = sk ? sk + SPEC_KEYS : NULL;
	for (;; sk = sk && sk + 1 < sk_end ? sk + 1 : NULL) {
		int rc;
		const unsigned char *s;
		size_t len;
		bool esc = false;
		ws(j);
		if (j->p >= j->end || *j->p != '"') return fail(j, "expected a key at byte %zu", at(j));
		const char *k;
		char kbuf[PREFIX_MAX];
		bool leaf = false;
		long fi;
		if (sk && sk->len && spec_eq(j->p + 1, (size_t)(j->end - j->p) - 1, sk)) {
			k = (const char *)j->p + 1;
			len = sk->len;
			j->p += 1 + len + 2; /* '"', the key, '"', ':' */
			ws(j);
			if (j->p >= j->end) return fail(j, "unexpected end of input at byte %zu", at(j));
			fi = sk->fi;
			leaf = sk->leaf;
		} else {
			if ((rc = scan_string(j, &s, &len, &esc))) return rc;
			k = (const char *)s;
			size_t avail = (size_t)(j->end - s); /* readable at k */
			if (esc) {                           /* rare: compare the decoded key */
				if (len >= sizeof kbuf) {
					k = NULL;
				} else {
					len = unescape(s, len, kbuf);
					k = kbuf;
					avail = sizeof kbuf;
				}
				if (k && memchr(k, 0, len)) k = NULL; /* \u0000: matches no field name */
			}
			if (len == 0) k = NULL; /* (a raw NUL is a control character: refused) */
			bool colon_next = j->p < j->end && j->p[0] == ':';
			if (j->end - j->p >= 2 && j->p[0] == ':' && j->p[1] > ' ') { /* "key":value */
				j->p++;
			} else {
				ws(j);
				if (j->p >= j->end || *j->p != ':')
					return fail(j, "expected ':' at byte %zu", at(j));
				j->p++;
				ws(j);
				if (j->p >= j->end)
					return fail(j, "unexpected end of input at byte %zu", at(j));
			}
			fi = !k           ? -1
				: j->plan ? match_fast(j, k, len, avail, &leaf)
					  : match(j, k, len, &leaf);
			if (sk) spec_remember(sk, s, len, !esc && k && colon_next, fi, leaf);
		}
		if (fi >= 0 && leaf) {
			if (j->seen[fi]) return fail(j, "duplicate key %s", j->f[fi].name);
			if ((rc = field_value(j, (size_t)fi))) return rc;
		} else if (fi >= 0) {
			if (*j->p == '{') {
				size_t saved = j->plen;
				if (saved + len + 1 >= PREFIX_MAX) return fail(j, "key too long");
				memcpy(j->prefix + saved, k, len);
				j->prefix[saved + len] = '.';
				j->plen = saved + len + 1;
				rc = parse_object(j);
				j->plen = saved;
				if (rc) return rc;
			} else if (*j->p == 'n') {
				if ((rc = literal(j, "null", 4))) return rc;
			} else {
				return fail(j, "%.*s%.*s: expected an object", (int)j->plen, j->prefix,
					    (int)len, k);
			}
		} else if ((rc = skip_value(j))) {
			return rc;
		}
		ws(j);
		if (j->p >= j->end) return fail(j, "unexpected end of input at byte %zu", at(j));
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p == '}') {
			j->p++;
			j->depth--;
			return FLINC_OK;
		}
		return fail(j, "expected ',' or '}' at byte %zu", at(j));
	}
}

/* A fingerprint of a field list: its names (by address), kinds and
 * offsets. A plan is reused only for the same list at the same address
 * with the same fingerprint (a plugin unloaded and another loaded where it
 * was gets a new plan). */
static uint64_t fields_print(const flinc_field *f, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
	for (size_t i = 0; i < n; i++) {
		h = (h ^ (uint64_t)(uintptr_t)f[i].name) * 0x100000001b3ull;
		h = (h ^ ((uint64_t)f[i].kind << 32 | (uint64_t)f[i].offset)) * 0x100000001b3ull;
	}
	return h;
}

/* Check a field list: FLINC_OK, or the code and why for the first
 * fault (j may be NULL: no why). */
static int fields_check(jp *j, const flinc_field *f, size_t n)
{
	if (n > FIELDS_MAX) return j ? fail(j, "more than %d fields", FIELDS_MAX) : FLINC_ECODEC;
	for (size_t i = 0; i < n; i++) {
		int kind = (int)f[i].kind & KIND_MASK;
		bool dec = kind >= FLINC_FIELD_DECIMAL_0 && kind <= FLINC_FIELD_DECIMAL_18;
		if (!f[i].name || !f[i].name[0] || (!dec && kind > FLINC_FIELD_TIMESTAMP_MS)) {
			if (j) fail(j, "field %zu: no name or an unknown kind", i);
			return FLINC_EINVAL;
		}
	}
	return FLINC_OK;
}

/* The plan of a list (checked when made), from this thread's cache (PLAN_CACHE lists,
 * replaced in turn) or made now. */
static json_plan *plan_for(const flinc_field *f, size_t n)
{
	uint64_t print = fields_print(f, n);
	static __thread json_plan cache[PLAN_CACHE];
	static __thread unsigned next;
	for (unsigned c = 0; c < PLAN_CACHE; c++)
		if (cache[c].f == f && cache[c].n == n && cache[c].print == print) return &cache[c];
	json_plan *p = &cache[next++ % PLAN_CACHE];
	memset(p, 0, sizeof *p);
	p->f = f;
	p->n = n;
	p->print = print;
	p->valid = fields_check(NULL, f, n) == FLINC_OK;
	p->fast = p->valid && n <= 64;
	for (size_t i = 0; i < n && p->fast; i++) {
		const char *name = f[i].name;
		size_t all = strlen(name);
		if (all > PLAN_LEN_MAX) {
			p->fast = false;
			break;
		}
		p->at[all] |= 1ull << i;
		for (size_t c = 0; c < all; c++)
			if (name[c] == '.') p->at[c] |= 1ull << i;
		memcpy(p->head[i], name, all < 16 ? all : 16);
	}
	return p;
}

FLINC_API int flinc_json_parse(const flinc_field *f, size_t n, const char *json, size_t len, void *rec,
			       flinc_arena *a, char *why, size_t whycap)
{
	uint8_t seen[FIELDS_MAX];
	jp j;
	j.start = j.p = (const unsigned char *)json;
	j.end = j.p + len;
	j.f = f;
	j.n = n;
	j.rec = rec;
	j.a = a;
	j.seen = seen;
	j.hint = 0;
	j.why = why;
	j.whycap = whycap;
	j.depth = 0;
	j.plen = 0;
	j.plan = NULL;
	if (whycap) why[0] = 0;
	json_plan *plan = plan_for(f, n);
	if (!plan->valid) return fields_check(&j, f, n);
	if (plan->fast) j.plan = plan;
	if (len > FLINC_JSON_MAX_BYTES) return fail(&j, "record larger than %d bytes", FLINC_JSON_MAX_BYTES);
	memset(seen, 0, n);
	ws(&j);
	if (j.p >= j.end || *j.p != '{') return fail(&j, "not a JSON object");
	int rc = parse_object(&j);
	if (rc) return rc;
	ws(&j);
	if (j.p != j.end) return fail(&j, "unexpected data after the object at byte %zu", at(&j));
	for (size_t i = 0; i < n; i++)
		if ((f[i].kind & FLINC_FIELD_REQUIRED) && !seen[i])
			return fail(&j, "missing field %s", f[i].name);
	return FLINC_OK;
}
