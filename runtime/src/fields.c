/*
 * fields.c - the declarative struct codec behind FLINC_STRUCT_TYPE, and the
 * JSON writer over the same field lists (flinc_fields_json).
 *
 * Threads: every function here reads only its arguments; no shared state.
 */
#include <flinc/flinc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
/* The scale of a FLINC_FIELD_DECIMAL(scale) kind, or -1 for any other kind. */
static int decimal_scale(flinc_field_kind k)
{
	k = (flinc_field_kind)((int)k & ~FLINC_FIELD_REQUIRED);
	return k >= FLINC_FIELD_DECIMAL_0 && k <= FLINC_FIELD_DECIMAL_18 ? (int)(k - FLINC_FIELD_DECIMAL_0)
									 : -1;
}

/* The fields of rec as a msgpack array, in order, into w (overflow is left in
 * w->err for the caller to retry). FLINC_EINVAL for an unknown kind. */
FLINC_API int flinc_fields_encode(const flinc_field *f, size_t n, const void *rec, flinc_writer *w)
{
	const char *base = rec;
	flinc_w_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const void *p = base + f[i].offset;
		switch ((int)f[i].kind & ~FLINC_FIELD_REQUIRED) {
		case FLINC_FIELD_TIMESTAMP_MS:
		case FLINC_FIELD_I64: {
			int64_t v;
			memcpy(&v, p, 8);
			flinc_w_int(w, v);
			break;
		}
		case FLINC_FIELD_I32: {
			int32_t v;
			memcpy(&v, p, 4);
			flinc_w_int(w, v);
			break;
		}
		case FLINC_FIELD_U64: {
			uint64_t v;
			memcpy(&v, p, 8);
			flinc_w_uint(w, v);
			break;
		}
		case FLINC_FIELD_F64: {
			double v;
			memcpy(&v, p, 8);
			flinc_w_f64(w, v);
			break;
		}
		case FLINC_FIELD_BOOL: {
			bool v;
			memcpy(&v, p, sizeof v);
			flinc_w_bool(w, v);
			break;
		}
		case FLINC_FIELD_STR: {
			flinc_str v;
			memcpy(&v, p, sizeof v);
			flinc_w_str(w, v.s ? v.s : "", v.s ? v.len : 0);
			break;
		}
		default: {
			if (decimal_scale(f[i].kind) < 0) return FLINC_EINVAL;
			int64_t v;
			memcpy(&v, p, 8);
			flinc_w_int(w, v);
			break;
		}
		}
	}
	return 0;
}

/* Fill the fields of rec (zeroed by the caller) from a msgpack array: fewer
 * elements leave fields zero, more are skipped. Strings point into r's
 * buffer. FLINC_ECODEC for malformed input, FLINC_EINVAL for an unknown kind. */
FLINC_API int flinc_fields_decode(const flinc_field *f, size_t n, flinc_reader *r, void *rec)
{
	char *base = rec;
	uint32_t have = flinc_r_array(r);
	if (r->err) return FLINC_ECODEC;
	for (size_t i = 0; i < n && i < have; i++) {
		void *p = base + f[i].offset;
		switch ((int)f[i].kind & ~FLINC_FIELD_REQUIRED) {
		case FLINC_FIELD_TIMESTAMP_MS:
		case FLINC_FIELD_I64: {
			int64_t v = flinc_r_int(r);
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_I32: {
			int64_t v = flinc_r_int(r);
			if (v < INT32_MIN || v > INT32_MAX) return FLINC_ECODEC;
			int32_t x = (int32_t)v;
			memcpy(p, &x, 4);
			break;
		}
		case FLINC_FIELD_U64: {
			uint64_t v = flinc_r_uint(r);
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_F64: {
			double v = flinc_r_f64(r);
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_BOOL: {
			bool v = flinc_r_bool(r);
			memcpy(p, &v, sizeof v);
			break;
		}
		case FLINC_FIELD_STR: {
			flinc_str v;
			v.s = flinc_r_str(r, &v.len);
			memcpy(p, &v, sizeof v);
			break;
		}
		default: {
			if (decimal_scale(f[i].kind) < 0) return FLINC_EINVAL;
			int64_t v = flinc_r_int(r);
			memcpy(p, &v, 8);
			break;
		}
		}
		if (r->err) return FLINC_ECODEC;
	}
	/* Fields a newer writer appended. */
	for (uint32_t i = (uint32_t)n; i < have; i++)
		if (flinc_r_skip(r) != 0) return FLINC_ECODEC;
	return r->err ? FLINC_ECODEC : 0;
}

/* ---- JSON ------------------------------------------------------------ */

/* Output like snprintf's: bytes below cap are written, all are counted. */
typedef struct jout {
	char *buf;
	size_t cap, n;
} jout;

/* Copy len <= 16 bytes without a call: two overlapping loads and stores
 * per size class (the fields of a record are mostly this short). */
static inline void copy_small(char *d, const char *s, size_t len)
{
	if (len >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + len - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + len - 8, &b, 8);
	} else if (len >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + len - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + len - 4, &b, 4);
	} else if (len) {
		d[0] = s[0];
		d[len >> 1] = s[len >> 1];
		d[len - 1] = s[len - 1];
	}
}

/* Append len bytes (the part that fits below cap is copied). */
static inline void put(jout *o, const char *s, size_t len)
{
	if (o->n < o->cap) {
		size_t room = o->cap - o->n;
		if (len >= room)
			memcpy(o->buf + o->n, s, room);
		else if (len <= 16)
			copy_small(o->buf + o->n, s, len);
		else
			memcpy(o->buf + o->n, s, len);
	}
	o->n += len;
}

#define put_lit(o, lit) put((o), (lit), sizeof(lit) - 1)

/* Append one byte (cheaper than put for the punctuation). */
static inline void put_ch(jout *o, char c)
{
	if (o->n < o->cap) o->buf[o->n] = c;
	o->n++;
}

/* "00" to "99": two digits per division. */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Append the decimal digits of u, `point` of them after a '.' (0: integer),
 * with a leading '-' when neg. */
static void put_digits(jout *o, bool neg, uint64_t u, int point)
{
	char tmp[48], *p = tmp + sizeof tmp;
	if (point > 0) {
		/* At least one digit before the point: 5 at scale 3 is 0.005. */
		for (int i = 0; i < point; i++) {
			*--p = (char)('0' + u % 10);
			u /= 10;
		}
		*--p = '.';
	}
	/* Eight digits at a time in 32-bit arithmetic, then pairs. */
	while (u >= 100000000) {
		uint32_t lo = (uint32_t)(u % 100000000);
		u /= 100000000;
		for (int i = 0; i < 4; i++) {
			p -= 2;
			memcpy(p, digit_pairs + 2 * (lo % 100), 2);
			lo /= 100;
		}
	}
	uint32_t v = (uint32_t)u;
	while (v >= 100) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, digit_pairs + 2 * v, 2);
	} else {
		*--p = (char)('0' + v);
	}
	if (neg) *--p = '-';
	put(o, p, (size_t)(tmp + sizeof tmp - p));
}

/* Append an int64 as a decimal with `scale` digits after the point. */
static void put_i64(jout *o, int64_t v, int scale)
{
	/* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64. */
	put_digits(o, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v, scale);
}

/* A byte %g writes for a finite double other than the decimal point. */
static bool g_char(char c) { return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e'; }

/* Append a double in the shortest of %.15g, %.16g, %.17g that reads back as
 * v (%.17g always does), ".0" added when it reads as an integer, the decimal
 * point forced to '.' whatever the locale; null for NaN and infinities,
 * which JSON cannot express. */
static void put_f64(jout *o, double v)
{
	if (!isfinite(v)) {
		put_lit(o, "null");
		return;
	}
	char tmp[40], out[48];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v) break;
	}
	size_t n = 0;
	bool point = false; /* a point or an exponent: reads as a double */
	for (const char *p = tmp; *p;) {
		if (g_char(*p)) {
			point |= *p == 'e';
			out[n++] = *p++;
			continue;
		}
		/* The locale's decimal point, one byte or more. */
		out[n++] = '.';
		point = true;
		while (*p && !g_char(*p)) p++;
	}
	if (!point) {
		out[n++] = '.';
		out[n++] = '0';
	}
	put(o, out, n);
}

/* What put_str does with a byte: 0 copy it, 1 escape it (control
 * characters, '"' and '\\'), 2 check it starts a well-formed UTF-8 sequence. */
static const unsigned char byte_class[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* 0x50 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

/* The first i' >= i with byte_class[u[i']] != 0, or len: eight bytes per
 * step while none of them is a control byte, '"', '\\' or >= 0x80 (the
 * classic "has a byte less than n" and "has a zero byte" tests). */
static inline size_t plain_run(const unsigned char *u, size_t i, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	for (; i + 8 <= len; i += 8) {
		uint64_t x;
		memcpy(&x, u + i, 8);
		uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
		uint64_t hit = ((x - ones * 0x20) | (q - ones) | (b - ones) | x) & highs;
		if (hit) break;
	}
	while (i < len && !byte_class[u[i]]) i++;
	return i;
}

/* Append s[0..len) as a quoted JSON string (escapes in flinc.h at
 * flinc_fields_json). Plain runs are copied in one piece. */
static void put_str(jout *o, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0, i = 0;

	put_ch(o, '"');
	for (;;) {
		i = plain_run(u, i, len);
		if (i == len) break;
		unsigned char ch = u[i];
		size_t k;
		if (byte_class[ch] == 2 && (k = fl_utf8_len(u + i, len - i)) > 0) {
			i += k;
			continue;
		}
		put(o, s + run, i - run);
		char esc[6] = { '\\', (char)ch, '0', '0', 0, 0 };
		size_t n = 2;
		switch (ch) {
		case '"':
		case '\\': break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			if (ch >= 0x80) {
				memcpy(esc + 2, "fffd", 4);
			} else {
				esc[4] = hex[ch >> 4];
				esc[5] = hex[ch & 15];
			}
			n = 6;
		}
		put(o, esc, n);
		run = ++i;
	}
	put(o, s + run, len - run);
	put_ch(o, '"');
}

/* Append ms since the epoch as "YYYY-MM-DDThh:mm:ss.sssZ" (proleptic
 * Gregorian; years outside 0..9999 as far as the digits go). */
static void put_iso8601(jout *o, int64_t ms)
{
	int64_t sec = ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1; /* floor */
	int msec = (int)(ms - sec * 1000);
	int64_t days = sec >= 0 ? sec / 86400 : -((-(sec + 1)) / 86400) - 1;
	int sod = (int)(sec - days * 86400);
	/* civil_from_days (H. Hinnant) */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	char tmp[64];
	int n = snprintf(tmp, sizeof tmp, "\"%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ\"", (long long)y, m, d,
			 sod / 3600, sod / 60 % 60, sod % 60, msec);
	put(o, tmp, (size_t)n);
}

/* Append "name": for a NUL-terminated key. Keys are nearly always plain
 * identifiers, copied as they are; the rare key with something to escape
 * goes to put_str. */
static void put_key(jout *o, const char *name)
{
	size_t n = strlen(name);
	if (plain_run((const unsigned char *)name, 0, n) < n) {
		put_str(o, name, n);
	} else {
		put_ch(o, '"');
		put(o, name, n);
		put_ch(o, '"');
	}
	put_ch(o, ':');
}

/* A record as one JSON object, snprintf-like (contract in flinc.h). */
FLINC_API int flinc_fields_json(const flinc_field *f, size_t n, const void *rec, char *buf, size_t cap,
				size_t *len)
{
	const char *base = rec;
	jout o = { buf, cap, 0 };
	int rc = FLINC_OK;

	put_ch(&o, '{');
	for (size_t i = 0; i < n; i++) {
		const void *p = base + f[i].offset;
		if (i) put_ch(&o, ',');
		if (f[i].name) {
			put_key(&o, f[i].name);
		} else {
			put_lit(&o, "\"\":");
			rc = FLINC_EINVAL;
		}
		switch ((int)f[i].kind & ~FLINC_FIELD_REQUIRED) {
		case FLINC_FIELD_I64: {
			int64_t v;
			memcpy(&v, p, 8);
			put_i64(&o, v, 0);
			break;
		}
		case FLINC_FIELD_I32: {
			int32_t v;
			memcpy(&v, p, 4);
			put_i64(&o, v, 0);
			break;
		}
		case FLINC_FIELD_U64: {
			uint64_t v;
			memcpy(&v, p, 8);
			put_digits(&o, false, v, 0);
			break;
		}
		case FLINC_FIELD_F64: {
			double v;
			memcpy(&v, p, 8);
			put_f64(&o, v);
			break;
		}
		case FLINC_FIELD_TIMESTAMP_MS: {
			int64_t v;
			memcpy(&v, p, 8);
			put_iso8601(&o, v);
			break;
		}
		case FLINC_FIELD_BOOL: {
			bool v;
			memcpy(&v, p, sizeof v);
			if (v)
				put_lit(&o, "true");
			else
				put_lit(&o, "false");
			break;
		}
		case FLINC_FIELD_STR: {
			flinc_str v;
			memcpy(&v, p, sizeof v);
			/* NULL is "", as the codec writes it: the output must not
			 * depend on whether the record crossed an exchange. */
			put_str(&o, v.s ? v.s : "", v.s ? v.len : 0);
			break;
		}
		default: {
			int scale = decimal_scale(f[i].kind);
			if (scale < 0) {
				put_lit(&o, "null");
				rc = FLINC_EINVAL;
				break;
			}
			int64_t v;
			memcpy(&v, p, 8);
			put_i64(&o, v, scale);
			break;
		}
		}
	}
	put_ch(&o, '}');

	if (len) *len = o.n;
	if (cap) buf[o.n < cap ? o.n : cap - 1] = '\0';
	if (rc == FLINC_OK && o.n >= cap) rc = FLINC_ERANGE;
	return rc;
}
