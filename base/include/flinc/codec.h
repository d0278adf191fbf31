/*
 * flinc/codec.h - msgpack writer and reader used by record types, state and
 * checkpoint files (the ground floor, base/, owns it; the job API re-exports it).
 *
 * Records cross a process boundary, enter keyed state and reach savepoints as
 * msgpack (https://msgpack.org/ spec). These inline helpers encode straight
 * into the caller's buffer and decode straight from it: no allocation, no
 * callbacks. Both sides are bounds-checked; overflow or malformed input sets
 * a sticky error flag instead of touching memory out of range, so a type's
 * encode/decode can write its fields without checking each call and test
 * `w->err` / `r->err` once at the end.
 *
 * Ownership: a writer never owns its buffer. Strings and binaries returned by
 * the reader point into the reader's buffer and stay valid as long as that
 * buffer does (for records: while the record is being processed).
 * Threads: plain values, no shared state.
 */
#ifndef FLINC_CODEC_H
#define FLINC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef FLINC_API
#define FLINC_API __attribute__((visibility("default")))
#endif

typedef struct flinc_writer {
	uint8_t *p;   /* next byte to write */
	uint8_t *end; /* one past the last writable byte */
	int err;      /* non-zero once a write did not fit */
} flinc_writer;

typedef struct flinc_reader {
	const uint8_t *p;
	const uint8_t *end;
	int err; /* non-zero once input was short or of the wrong kind */
} flinc_reader;

static inline void flinc_writer_init(flinc_writer *w, void *buf, size_t cap)
{
	w->p = (uint8_t *)buf;
	w->end = (uint8_t *)buf + cap;
	w->err = 0;
}

static inline void flinc_reader_init(flinc_reader *r, const void *buf, size_t len)
{
	r->p = (const uint8_t *)buf;
	r->end = (const uint8_t *)buf + len;
	r->err = 0;
}

/* ---- writer ---------------------------------------------------------- */

static inline uint8_t *flinc__wreserve(flinc_writer *w, size_t n)
{
	if (w->err || (size_t)(w->end - w->p) < n) {
		w->err = 1;
		return NULL;
	}
	uint8_t *q = w->p;
	w->p += n;
	return q;
}

static inline void flinc__be16(uint8_t *q, uint16_t v)
{
	q[0] = (uint8_t)(v >> 8);
	q[1] = (uint8_t)v;
}
static inline void flinc__be32(uint8_t *q, uint32_t v)
{
	q[0] = (uint8_t)(v >> 24);
	q[1] = (uint8_t)(v >> 16);
	q[2] = (uint8_t)(v >> 8);
	q[3] = (uint8_t)v;
}
static inline void flinc__be64(uint8_t *q, uint64_t v)
{
	flinc__be32(q, (uint32_t)(v >> 32));
	flinc__be32(q + 4, (uint32_t)v);
}

static inline void flinc_w_nil(flinc_writer *w)
{
	uint8_t *q = flinc__wreserve(w, 1);
	if (q) q[0] = 0xc0;
}

static inline void flinc_w_bool(flinc_writer *w, bool v)
{
	uint8_t *q = flinc__wreserve(w, 1);
	if (q) q[0] = v ? 0xc3 : 0xc2;
}

static inline void flinc_w_uint(flinc_writer *w, uint64_t v)
{
	uint8_t *q;
	if (v < 128) {
		if ((q = flinc__wreserve(w, 1))) q[0] = (uint8_t)v;
	} else if (v <= UINT8_MAX) {
		if ((q = flinc__wreserve(w, 2))) {
			q[0] = 0xcc;
			q[1] = (uint8_t)v;
		}
	} else if (v <= UINT16_MAX) {
		if ((q = flinc__wreserve(w, 3))) {
			q[0] = 0xcd;
			flinc__be16(q + 1, (uint16_t)v);
		}
	} else if (v <= UINT32_MAX) {
		if ((q = flinc__wreserve(w, 5))) {
			q[0] = 0xce;
			flinc__be32(q + 1, (uint32_t)v);
		}
	} else {
		if ((q = flinc__wreserve(w, 9))) {
			q[0] = 0xcf;
			flinc__be64(q + 1, v);
		}
	}
}

static inline void flinc_w_int(flinc_writer *w, int64_t v)
{
	uint8_t *q;
	if (v >= 0) {
		flinc_w_uint(w, (uint64_t)v);
	} else if (v >= -32) {
		if ((q = flinc__wreserve(w, 1))) q[0] = (uint8_t)(int8_t)v;
	} else if (v >= INT8_MIN) {
		if ((q = flinc__wreserve(w, 2))) {
			q[0] = 0xd0;
			q[1] = (uint8_t)(int8_t)v;
		}
	} else if (v >= INT16_MIN) {
		if ((q = flinc__wreserve(w, 3))) {
			q[0] = 0xd1;
			flinc__be16(q + 1, (uint16_t)(int16_t)v);
		}
	} else if (v >= INT32_MIN) {
		if ((q = flinc__wreserve(w, 5))) {
			q[0] = 0xd2;
			flinc__be32(q + 1, (uint32_t)(int32_t)v);
		}
	} else {
		if ((q = flinc__wreserve(w, 9))) {
			q[0] = 0xd3;
			flinc__be64(q + 1, (uint64_t)v);
		}
	}
}

static inline void flinc_w_f64(flinc_writer *w, double v)
{
	uint8_t *q = flinc__wreserve(w, 9);
	if (q) {
		uint64_t bits;
		memcpy(&bits, &v, 8);
		q[0] = 0xcb;
		flinc__be64(q + 1, bits);
	}
}

static inline void flinc__w_hdr(flinc_writer *w, uint32_t n, uint8_t fix, uint32_t fixmax, uint8_t m8,
				uint8_t m16, uint8_t m32)
{
	uint8_t *q;
	if (fixmax && n <= fixmax) { /* fixmax 0: no fix form (bin) */
		if ((q = flinc__wreserve(w, 1))) q[0] = (uint8_t)(fix | n);
	} else if (m8 && n <= UINT8_MAX) {
		if ((q = flinc__wreserve(w, 2))) {
			q[0] = m8;
			q[1] = (uint8_t)n;
		}
	} else if (n <= UINT16_MAX) {
		if ((q = flinc__wreserve(w, 3))) {
			q[0] = m16;
			flinc__be16(q + 1, (uint16_t)n);
		}
	} else {
		if ((q = flinc__wreserve(w, 5))) {
			q[0] = m32;
			flinc__be32(q + 1, n);
		}
	}
}

static inline void flinc_w_str(flinc_writer *w, const char *s, size_t len)
{
	flinc__w_hdr(w, (uint32_t)len, 0xa0, 31, 0xd9, 0xda, 0xdb);
	uint8_t *q = flinc__wreserve(w, len);
	if (q && len) memcpy(q, s, len);
}

static inline void flinc_w_cstr(flinc_writer *w, const char *s)
{
	flinc_w_str(w, s ? s : "", s ? strlen(s) : 0);
}

static inline void flinc_w_bin(flinc_writer *w, const void *b, size_t len)
{
	flinc__w_hdr(w, (uint32_t)len, 0, 0, 0xc4, 0xc5, 0xc6);
	/* bin has no fix form: a zero-length bin must still use bin8 */
	uint8_t *q = flinc__wreserve(w, len);
	if (q && len) memcpy(q, b, len);
}

/* The header of a bin of `len` bytes alone, for writers that stream the
 * bytes themselves (checkpoint files write large values this way). */
static inline void flinc_w_bin_header(flinc_writer *w, uint32_t len)
{
	flinc__w_hdr(w, len, 0, 0, 0xc4, 0xc5, 0xc6);
}

static inline void flinc_w_array(flinc_writer *w, uint32_t n) { flinc__w_hdr(w, n, 0x90, 15, 0, 0xdc, 0xdd); }
static inline void flinc_w_map(flinc_writer *w, uint32_t n) { flinc__w_hdr(w, n, 0x80, 15, 0, 0xde, 0xdf); }

/* Raw bytes, already msgpack-encoded by someone else. */
static inline void flinc_w_raw(flinc_writer *w, const void *b, size_t len)
{
	uint8_t *q = flinc__wreserve(w, len);
	if (q && len) memcpy(q, b, len);
}

static inline size_t flinc_writer_len(const flinc_writer *w, const void *start)
{
	return (size_t)(w->p - (const uint8_t *)start);
}

/* ---- reader ---------------------------------------------------------- */

static inline const uint8_t *flinc__rtake(flinc_reader *r, size_t n)
{
	if (r->err || (size_t)(r->end - r->p) < n) {
		r->err = 1;
		return NULL;
	}
	const uint8_t *q = r->p;
	r->p += n;
	return q;
}

static inline uint16_t flinc__rd16(const uint8_t *q) { return (uint16_t)((q[0] << 8) | q[1]); }
static inline uint32_t flinc__rd32(const uint8_t *q)
{
	return ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
}
static inline uint64_t flinc__rd64(const uint8_t *q)
{
	return ((uint64_t)flinc__rd32(q) << 32) | flinc__rd32(q + 4);
}

/* Length of a msgpack str/bin/array/map whose type byte is q[0] and whose
 * `width` (1, 2 or 4) big-endian length bytes follow it: for readers that
 * scan headers in their own buffers (the snapshot file reader). */
static inline uint32_t flinc_mp_len_field(const uint8_t *q, int width)
{
	return width == 1 ? q[1] : width == 2 ? flinc__rd16(q + 1) : flinc__rd32(q + 1);
}

static inline bool flinc_r_at_end(const flinc_reader *r) { return r->p >= r->end; }

/* Peek the next type byte; 0xc1 (never used by msgpack) at end of input. */
static inline uint8_t flinc_r_peek(const flinc_reader *r) { return r->p < r->end ? r->p[0] : 0xc1; }

static inline bool flinc_r_nil(flinc_reader *r)
{
	if (flinc_r_peek(r) == 0xc0) {
		r->p++;
		return true;
	}
	return false;
}

static inline int64_t flinc_r_int(flinc_reader *r)
{
	const uint8_t *q = flinc__rtake(r, 1);
	if (!q) return 0;
	uint8_t t = q[0];
	if (t < 0x80) return t;
	if (t >= 0xe0) return (int8_t)t;
	switch (t) {
	case 0xcc: return (q = flinc__rtake(r, 1)) ? q[0] : 0;
	case 0xcd: return (q = flinc__rtake(r, 2)) ? flinc__rd16(q) : 0;
	case 0xce: return (q = flinc__rtake(r, 4)) ? flinc__rd32(q) : 0;
	case 0xcf: return (q = flinc__rtake(r, 8)) ? (int64_t)flinc__rd64(q) : 0;
	case 0xd0: return (q = flinc__rtake(r, 1)) ? (int8_t)q[0] : 0;
	case 0xd1: return (q = flinc__rtake(r, 2)) ? (int16_t)flinc__rd16(q) : 0;
	case 0xd2: return (q = flinc__rtake(r, 4)) ? (int32_t)flinc__rd32(q) : 0;
	case 0xd3: return (q = flinc__rtake(r, 8)) ? (int64_t)flinc__rd64(q) : 0;
	default: r->err = 1; return 0;
	}
}

static inline uint64_t flinc_r_uint(flinc_reader *r) { return (uint64_t)flinc_r_int(r); }

static inline double flinc_r_f64(flinc_reader *r)
{
	uint8_t t = flinc_r_peek(r);
	const uint8_t *q;
	if (t == 0xcb) {
		r->p++;
		if (!(q = flinc__rtake(r, 8))) return 0;
		uint64_t bits = flinc__rd64(q);
		double d;
		memcpy(&d, &bits, 8);
		return d;
	}
	if (t == 0xca) {
		r->p++;
		if (!(q = flinc__rtake(r, 4))) return 0;
		uint32_t bits = flinc__rd32(q);
		float f;
		memcpy(&f, &bits, 4);
		return f;
	}
	return (double)flinc_r_int(r); /* integers are accepted where a double is expected */
}

static inline bool flinc_r_bool(flinc_reader *r)
{
	const uint8_t *q = flinc__rtake(r, 1);
	if (!q) return false;
	if (q[0] == 0xc3) return true;
	if (q[0] != 0xc2) r->err = 1;
	return false;
}

static inline uint32_t flinc__r_len(flinc_reader *r, uint8_t fixlo, uint8_t fixmask, uint8_t m8, uint8_t m16,
				    uint8_t m32)
{
	const uint8_t *q = flinc__rtake(r, 1);
	if (!q) return 0;
	uint8_t t = q[0];
	if (fixmask && (t & (uint8_t)~fixmask) == fixlo) return t & fixmask;
	if (m8 && t == m8) return (q = flinc__rtake(r, 1)) ? q[0] : 0;
	if (t == m16) return (q = flinc__rtake(r, 2)) ? flinc__rd16(q) : 0;
	if (t == m32) return (q = flinc__rtake(r, 4)) ? flinc__rd32(q) : 0;
	r->err = 1;
	return 0;
}

/* A string: returns a pointer into the buffer (not NUL-terminated). */
static inline const char *flinc_r_str(flinc_reader *r, uint32_t *len)
{
	uint32_t n = flinc__r_len(r, 0xa0, 0x1f, 0xd9, 0xda, 0xdb);
	const uint8_t *q = flinc__rtake(r, n);
	*len = q ? n : 0;
	return q ? (const char *)q : "";
}

static inline const void *flinc_r_bin(flinc_reader *r, uint32_t *len)
{
	uint32_t n = flinc__r_len(r, 0, 0, 0xc4, 0xc5, 0xc6);
	const uint8_t *q = flinc__rtake(r, n);
	*len = q ? n : 0;
	return q;
}

static inline uint32_t flinc_r_array(flinc_reader *r) { return flinc__r_len(r, 0x90, 0x0f, 0, 0xdc, 0xdd); }
static inline uint32_t flinc_r_map(flinc_reader *r) { return flinc__r_len(r, 0x80, 0x0f, 0, 0xde, 0xdf); }

/* Skip one complete value of any kind (used for fields a newer writer added). */
FLINC_API int flinc_r_skip(flinc_reader *r);

#endif
