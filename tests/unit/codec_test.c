/*
 * codec_test.c - the msgpack writer and reader of flinc/codec.h, and
 * flinc_r_skip, checked against the spec's boundaries and against the
 * msgpack-c library in both directions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <msgpack.h>

#include <flinc/flinc.h>

/* ---- helpers ---------------------------------------------------------- */

/* A msgpack-c packer writing into a growing buffer. */
typedef struct mp {
	msgpack_sbuffer sb;
	msgpack_packer pk;
} mp;

static void mp_init(mp *m)
{
	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void mp_fini(mp *m) { msgpack_sbuffer_destroy(&m->sb); }

/* Unpack the single value in buf[0..len) with msgpack-c, which must use all
 * of it. The caller destroys *res. */
static void mp_unpack_all(msgpack_unpacked *res, const uint8_t *buf, size_t len)
{
	size_t off = 0;
	msgpack_unpacked_init(res);
	int rc = msgpack_unpack_next(res, (const char *)buf, len, &off);
	assert_int_equal(rc, MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, len);
}

/* A heap copy of exactly len bytes, so ASan sees any read past the end. */
static uint8_t *exact_copy(const void *p, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);
	assert_non_null(c);
	if (len) memcpy(c, p, len);
	return c;
}

static const int64_t int_values[] = {
	0,
	1,
	127,
	128,
	255,
	256,
	65535,
	65536,
	4294967295LL,
	4294967296LL,
	INT64_MAX,
	-1,
	-31,
	-32,
	-33,
	-127,
	-128,
	-129,
	-32767,
	-32768,
	-32769,
	INT32_MIN + 1LL,
	INT32_MIN,
	(int64_t)INT32_MIN - 1,
	INT64_MIN + 1,
	INT64_MIN,
};

/* Encoded size and type byte that the spec requires for v. */
static void int_form(int64_t v, size_t *len, int *type)
{
	if (v >= 0 && v < 128) {
		*len = 1, *type = (int)v;
	} else if (v >= -32 && v < 0) {
		*len = 1, *type = (int)(uint8_t)(int8_t)v;
	} else if (v > 0) {
		if (v <= UINT8_MAX)
			*len = 2, *type = 0xcc;
		else if (v <= UINT16_MAX)
			*len = 3, *type = 0xcd;
		else if (v <= UINT32_MAX)
			*len = 5, *type = 0xce;
		else
			*len = 9, *type = 0xcf;
	} else {
		if (v >= INT8_MIN)
			*len = 2, *type = 0xd0;
		else if (v >= INT16_MIN)
			*len = 3, *type = 0xd1;
		else if (v >= INT32_MIN)
			*len = 5, *type = 0xd2;
		else
			*len = 9, *type = 0xd3;
	}
}

/* ---- integers --------------------------------------------------------- */

static void t_int_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(int_values) / sizeof(int_values[0]); i++) {
		int64_t v = int_values[i];
		uint8_t buf[16];
		flinc_writer w;
		flinc_writer_init(&w, buf, sizeof(buf));
		flinc_w_int(&w, v);
		assert_int_equal(w.err, 0);
		size_t len = flinc_writer_len(&w, buf), want_len;
		int want_type;
		int_form(v, &want_len, &want_type);
		assert_int_equal(len, want_len);
		assert_int_equal(buf[0], want_type);

		flinc_reader r;
		flinc_reader_init(&r, buf, len);
		assert_int_equal(flinc_r_int(&r), v);
		assert_int_equal(r.err, 0);
		assert_true(flinc_r_at_end(&r));

		/* msgpack-c writes the same bytes and reads ours back. */
		mp m;
		mp_init(&m);
		msgpack_pack_int64(&m.pk, v);
		assert_int_equal(m.sb.size, len);
		assert_memory_equal(m.sb.data, buf, len);
		mp_fini(&m);
		msgpack_unpacked res;
		mp_unpack_all(&res, buf, len);
		if (v >= 0) {
			assert_int_equal(res.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
			assert_int_equal(res.data.via.u64, (uint64_t)v);
		} else {
			assert_int_equal(res.data.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
			assert_int_equal(res.data.via.i64, v);
		}
		msgpack_unpacked_destroy(&res);
	}
}

static void t_uint_roundtrip(void **state)
{
	(void)state;
	static const uint64_t vals[] = { 0,
					 127,
					 128,
					 255,
					 256,
					 65535,
					 65536,
					 UINT32_MAX,
					 (uint64_t)UINT32_MAX + 1,
					 (uint64_t)INT64_MAX,
					 (uint64_t)INT64_MAX + 1,
					 UINT64_MAX - 1,
					 UINT64_MAX };
	static const size_t lens[] = { 1, 1, 2, 2, 3, 3, 5, 5, 9, 9, 9, 9, 9 };
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[16];
		flinc_writer w;
		flinc_writer_init(&w, buf, sizeof(buf));
		flinc_w_uint(&w, vals[i]);
		assert_int_equal(w.err, 0);
		size_t len = flinc_writer_len(&w, buf);
		assert_int_equal(len, lens[i]);
		flinc_reader r;
		flinc_reader_init(&r, buf, len);
		assert_int_equal(flinc_r_uint(&r), vals[i]);
		assert_int_equal(r.err, 0);

		mp m;
		mp_init(&m);
		msgpack_pack_uint64(&m.pk, vals[i]);
		assert_int_equal(m.sb.size, len);
		assert_memory_equal(m.sb.data, buf, len);
		mp_fini(&m);
		msgpack_unpacked res;
		mp_unpack_all(&res, buf, len);
		assert_int_equal(res.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
		assert_int_equal(res.data.via.u64, vals[i]);
		msgpack_unpacked_destroy(&res);
	}
}

/* Every integer form msgpack-c can write, minimal or not, reads back. */
static void t_int_from_msgpack_c(void **state)
{
	(void)state;
	mp m;
	mp_init(&m);
	msgpack_pack_fix_uint8(&m.pk, 200);
	msgpack_pack_fix_uint16(&m.pk, 7);
	msgpack_pack_fix_uint32(&m.pk, 4000000000u);
	msgpack_pack_fix_uint64(&m.pk, 1);
	msgpack_pack_fix_int8(&m.pk, -100);
	msgpack_pack_fix_int8(&m.pk, 100);
	msgpack_pack_fix_int16(&m.pk, -30000);
	msgpack_pack_fix_int32(&m.pk, INT32_MIN);
	msgpack_pack_fix_int64(&m.pk, 5);
	msgpack_pack_fix_int64(&m.pk, INT64_MIN);
	msgpack_pack_int8(&m.pk, -5);
	msgpack_pack_short(&m.pk, 300);
	msgpack_pack_long_long(&m.pk, -70000);
	msgpack_pack_unsigned_long_long(&m.pk, UINT64_MAX);
	static const int64_t want[] = { 200,       7, 4000000000LL, 1,  -100, 100,   -30000,
					INT32_MIN, 5, INT64_MIN,    -5, 300,  -70000 };
	flinc_reader r;
	flinc_reader_init(&r, m.sb.data, m.sb.size);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(flinc_r_int(&r), want[i]);
	assert_int_equal(flinc_r_uint(&r), UINT64_MAX);
	assert_int_equal(r.err, 0);
	assert_true(flinc_r_at_end(&r));
	mp_fini(&m);
}

/* ---- floats, bools, nil ----------------------------------------------- */

static void t_f64(void **state)
{
	(void)state;
	const double vals[] = {
		0.0,         -0.0,        1.5,      -2.25,     DBL_MAX, -DBL_MAX, DBL_MIN,
		DBL_MIN / 4, DBL_EPSILON, INFINITY, -INFINITY, NAN,     1e300,    3.141592653589793
	};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t buf[9];
		flinc_writer w;
		flinc_writer_init(&w, buf, sizeof(buf));
		flinc_w_f64(&w, vals[i]);
		assert_int_equal(w.err, 0);
		assert_int_equal(flinc_writer_len(&w, buf), 9);
		assert_int_equal(buf[0], 0xcb);
		flinc_reader r;
		flinc_reader_init(&r, buf, 9);
		double d = flinc_r_f64(&r);
		assert_int_equal(r.err, 0);
		assert_memory_equal(&d, &vals[i], sizeof(d)); /* bit exact, NaN and -0 too */

		mp m;
		mp_init(&m);
		msgpack_pack_double(&m.pk, vals[i]);
		assert_int_equal(m.sb.size, 9);
		assert_memory_equal(m.sb.data, buf, 9);
		mp_fini(&m);
		msgpack_unpacked res;
		mp_unpack_all(&res, buf, 9);
		assert_int_equal(res.data.type, MSGPACK_OBJECT_FLOAT64);
		assert_memory_equal(&res.data.via.f64, &vals[i], sizeof(double));
		msgpack_unpacked_destroy(&res);
	}
	/* A float32 and integers are accepted where a double is expected. */
	mp m;
	mp_init(&m);
	msgpack_pack_float(&m.pk, 0.375f);
	msgpack_pack_int64(&m.pk, -7);
	msgpack_pack_uint64(&m.pk, 1u << 20);
	flinc_reader r;
	flinc_reader_init(&r, m.sb.data, m.sb.size);
	assert_true(flinc_r_f64(&r) == 0.375);
	assert_true(flinc_r_f64(&r) == -7.0);
	assert_true(flinc_r_f64(&r) == 1048576.0);
	assert_int_equal(r.err, 0);
	assert_true(flinc_r_at_end(&r));
	mp_fini(&m);
	/* Not a number at all. */
	static const uint8_t str[] = { 0xa1, 'x' };
	flinc_reader_init(&r, str, sizeof(str));
	(void)flinc_r_f64(&r);
	assert_int_not_equal(r.err, 0);
}

static void t_bool_nil(void **state)
{
	(void)state;
	uint8_t buf[8];
	flinc_writer w;
	flinc_writer_init(&w, buf, sizeof(buf));
	flinc_w_bool(&w, true);
	flinc_w_bool(&w, false);
	flinc_w_nil(&w);
	flinc_w_int(&w, 3);
	assert_int_equal(w.err, 0);
	static const uint8_t want[] = { 0xc3, 0xc2, 0xc0, 0x03 };
	assert_int_equal(flinc_writer_len(&w, buf), 4);
	assert_memory_equal(buf, want, 4);

	flinc_reader r;
	flinc_reader_init(&r, buf, 4);
	assert_false(flinc_r_nil(&r)); /* not nil: nothing consumed */
	assert_true(flinc_r_bool(&r));
	assert_false(flinc_r_bool(&r));
	assert_true(flinc_r_nil(&r));
	assert_false(flinc_r_nil(&r));
	assert_int_equal(flinc_r_int(&r), 3);
	assert_false(flinc_r_nil(&r)); /* at the end: not nil, no error */
	assert_int_equal(r.err, 0);
	assert_int_equal(flinc_r_peek(&r), 0xc1);

	mp m;
	mp_init(&m);
	msgpack_pack_true(&m.pk);
	msgpack_pack_false(&m.pk);
	msgpack_pack_nil(&m.pk);
	msgpack_pack_int(&m.pk, 3);
	assert_int_equal(m.sb.size, 4);
	assert_memory_equal(m.sb.data, want, 4);
	mp_fini(&m);

	/* A bool where an int is: the sticky error. */
	flinc_reader_init(&r, want + 3, 1);
	(void)flinc_r_bool(&r);
	assert_int_not_equal(r.err, 0);
}

/* ---- strings, binaries, arrays and maps ------------------------------- */

/* Header length and type byte for a str / bin / array / map of n. */
static void hdr_form(char kind, uint32_t n, size_t *len, int *type)
{
	switch (kind) {
	case 's':
		if (n <= 31)
			*len = 1, *type = 0xa0 | (int)n;
		else if (n <= 255)
			*len = 2, *type = 0xd9;
		else if (n <= 65535)
			*len = 3, *type = 0xda;
		else
			*len = 5, *type = 0xdb;
		break;
	case 'b':
		if (n <= 255)
			*len = 2, *type = 0xc4;
		else if (n <= 65535)
			*len = 3, *type = 0xc5;
		else
			*len = 5, *type = 0xc6;
		break;
	default: /* 'a' array, 'm' map */
		if (n <= 15)
			*len = 1, *type = (kind == 'a' ? 0x90 : 0x80) | (int)n;
		else if (n <= 65535)
			*len = 3, *type = kind == 'a' ? 0xdc : 0xde;
		else
			*len = 5, *type = kind == 'a' ? 0xdd : 0xdf;
		break;
	}
}

static const uint32_t blob_sizes[] = { 0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 70001 };

static void t_str_bin(void **state)
{
	(void)state;
	size_t maxn = 70001;
	uint8_t *payload = malloc(maxn);
	uint8_t *buf = malloc(maxn + 16);
	assert_non_null(payload);
	assert_non_null(buf);
	for (size_t i = 0; i < maxn; i++) payload[i] = (uint8_t)('a' + i % 26);
	for (int kind = 0; kind < 2; kind++) {
		char k = kind ? 'b' : 's';
		for (size_t i = 0; i < sizeof(blob_sizes) / sizeof(blob_sizes[0]); i++) {
			uint32_t n = blob_sizes[i];
			flinc_writer w;
			flinc_writer_init(&w, buf, maxn + 16);
			if (k == 's')
				flinc_w_str(&w, (const char *)payload, n);
			else
				flinc_w_bin(&w, payload, n);
			assert_int_equal(w.err, 0);
			size_t hl;
			int type;
			hdr_form(k, n, &hl, &type);
			size_t len = flinc_writer_len(&w, buf);
			assert_int_equal(len, hl + n);
			assert_int_equal(buf[0], type);

			flinc_reader r;
			flinc_reader_init(&r, buf, len);
			uint32_t got = 12345;
			const void *p =
				k == 's' ? (const void *)flinc_r_str(&r, &got) : flinc_r_bin(&r, &got);
			assert_int_equal(r.err, 0);
			assert_int_equal(got, n);
			assert_ptr_equal(p, buf + hl); /* points into the buffer */
			assert_true(flinc_r_at_end(&r));

			mp m;
			mp_init(&m);
			if (k == 's') {
				msgpack_pack_str(&m.pk, n);
				msgpack_pack_str_body(&m.pk, payload, n);
			} else {
				msgpack_pack_bin(&m.pk, n);
				msgpack_pack_bin_body(&m.pk, payload, n);
			}
			assert_int_equal(m.sb.size, len);
			assert_memory_equal(m.sb.data, buf, len);
			mp_fini(&m);
			msgpack_unpacked res;
			mp_unpack_all(&res, buf, len);
			if (k == 's') {
				assert_int_equal(res.data.type, MSGPACK_OBJECT_STR);
				assert_int_equal(res.data.via.str.size, n);
				if (n) assert_memory_equal(res.data.via.str.ptr, payload, n);
			} else {
				assert_int_equal(res.data.type, MSGPACK_OBJECT_BIN);
				assert_int_equal(res.data.via.bin.size, n);
				if (n) assert_memory_equal(res.data.via.bin.ptr, payload, n);
			}
			msgpack_unpacked_destroy(&res);
		}
	}
	/* cstr, and NULL as the empty string. */
	flinc_writer w;
	flinc_writer_init(&w, buf, 16);
	flinc_w_cstr(&w, "hey");
	flinc_w_cstr(&w, NULL);
	assert_int_equal(w.err, 0);
	static const uint8_t want[] = { 0xa3, 'h', 'e', 'y', 0xa0 };
	assert_int_equal(flinc_writer_len(&w, buf), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	/* A str is not a bin and the other way round. */
	flinc_reader r;
	uint32_t n;
	flinc_reader_init(&r, want, sizeof(want));
	assert_null(flinc_r_bin(&r, &n));
	assert_int_not_equal(r.err, 0);
	assert_int_equal(n, 0);
	static const uint8_t bin[] = { 0xc4, 0x01, 'x' };
	flinc_reader_init(&r, bin, sizeof(bin));
	(void)flinc_r_str(&r, &n);
	assert_int_not_equal(r.err, 0);
	free(payload);
	free(buf);
}

static const uint32_t container_sizes[] = { 0, 1, 15, 16, 255, 256, 65535, 65536, 70001 };

static void t_array_map(void **state)
{
	(void)state;
	size_t cap = 2 * 70001 + 16;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	for (int kind = 0; kind < 2; kind++) {
		char k = kind ? 'm' : 'a';
		for (size_t i = 0; i < sizeof(container_sizes) / sizeof(container_sizes[0]); i++) {
			uint32_t n = container_sizes[i];
			flinc_writer w;
			flinc_writer_init(&w, buf, cap);
			if (k == 'a') {
				flinc_w_array(&w, n);
				for (uint32_t j = 0; j < n; j++)
					flinc_w_int(&w, (int64_t)(j % 64) - 32); /* fixints: 1 byte */
			} else {
				flinc_w_map(&w, n);
				for (uint32_t j = 0; j < n; j++) {
					flinc_w_uint(&w, j % 128); /* keys repeat: msgpack allows it */
					flinc_w_nil(&w);
				}
			}
			assert_int_equal(w.err, 0);
			size_t hl;
			int type;
			hdr_form(k, n, &hl, &type);
			size_t len = flinc_writer_len(&w, buf);
			assert_int_equal(len, hl + (size_t)n * (k == 'a' ? 1 : 2));
			assert_int_equal(buf[0], type);

			flinc_reader r;
			flinc_reader_init(&r, buf, len);
			assert_int_equal(k == 'a' ? flinc_r_array(&r) : flinc_r_map(&r), n);
			for (uint32_t j = 0; j < n; j++) {
				if (k == 'a') {
					assert_int_equal(flinc_r_int(&r), (int64_t)(j % 64) - 32);
				} else {
					assert_int_equal(flinc_r_uint(&r), j % 128);
					assert_true(flinc_r_nil(&r));
				}
			}
			assert_int_equal(r.err, 0);
			assert_true(flinc_r_at_end(&r));

			/* skip jumps over the whole container at once. */
			flinc_reader_init(&r, buf, len);
			assert_int_equal(flinc_r_skip(&r), 0);
			assert_true(flinc_r_at_end(&r));

			mp m;
			mp_init(&m);
			if (k == 'a')
				msgpack_pack_array(&m.pk, n);
			else
				msgpack_pack_map(&m.pk, n);
			assert_int_equal(m.sb.size, hl);
			assert_memory_equal(m.sb.data, buf, hl);
			mp_fini(&m);
			msgpack_unpacked res;
			mp_unpack_all(&res, buf, len);
			if (k == 'a') {
				assert_int_equal(res.data.type, MSGPACK_OBJECT_ARRAY);
				assert_int_equal(res.data.via.array.size, n);
				if (n > 3) assert_int_equal(res.data.via.array.ptr[3].via.i64, -29);
			} else {
				assert_int_equal(res.data.type, MSGPACK_OBJECT_MAP);
				assert_int_equal(res.data.via.map.size, n);
				if (n > 3) {
					assert_int_equal(res.data.via.map.ptr[3].key.via.u64, 3);
					assert_int_equal(res.data.via.map.ptr[3].val.type,
							 MSGPACK_OBJECT_NIL);
				}
			}
			msgpack_unpacked_destroy(&res);
		}
	}
	/* An array is not a map. */
	static const uint8_t arr[] = { 0x91, 0x01 };
	flinc_reader r;
	flinc_reader_init(&r, arr, sizeof(arr));
	(void)flinc_r_map(&r);
	assert_int_not_equal(r.err, 0);
	free(buf);
}

/* ---- overflow and truncation ------------------------------------------ */

/* One sample of each writer call; each writes its value into w. */
typedef void (*write_fn)(flinc_writer *w);
static void wr_int(flinc_writer *w) { flinc_w_int(w, INT64_MIN); }
static void wr_uint(flinc_writer *w) { flinc_w_uint(w, 70000); }
static void wr_neg(flinc_writer *w) { flinc_w_int(w, -200); }
static void wr_f64(flinc_writer *w) { flinc_w_f64(w, 2.5); }
static void wr_str(flinc_writer *w) { flinc_w_str(w, "0123456789012345678901234567890123456789", 40); }
static void wr_str16(flinc_writer *w)
{
	static char s[300];
	memset(s, 'q', sizeof(s));
	flinc_w_str(w, s, sizeof(s));
}
static void wr_bin(flinc_writer *w) { flinc_w_bin(w, "\x00\x01\x02", 3); }
static void wr_arr(flinc_writer *w)
{
	flinc_w_array(w, 20);
	for (int i = 0; i < 20; i++) flinc_w_int(w, i * 1000);
}
static void wr_map(flinc_writer *w)
{
	flinc_w_map(w, 2);
	flinc_w_cstr(w, "a");
	flinc_w_bool(w, true);
	flinc_w_cstr(w, "b");
	flinc_w_array(w, 1);
	flinc_w_nil(w);
}
static void wr_raw(flinc_writer *w) { flinc_w_raw(w, "\x92\x01\x02", 3); }

static const write_fn writers[] = { wr_int,   wr_uint, wr_neg, wr_f64, wr_str,
				    wr_str16, wr_bin,  wr_arr, wr_map, wr_raw };

static void t_writer_overflow(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
		uint8_t full[512];
		flinc_writer w;
		flinc_writer_init(&w, full, sizeof(full));
		writers[i](&w);
		assert_int_equal(w.err, 0);
		size_t need = flinc_writer_len(&w, full);
		for (size_t cap = 0; cap <= need; cap++) {
			/* Exactly cap bytes on the heap (ASan), and a guarded copy. */
			uint8_t *exact = malloc(cap ? cap : 1);
			uint8_t guarded[512 + 32];
			memset(guarded, 0xee, sizeof(guarded));
			flinc_writer_init(&w, exact, cap);
			writers[i](&w);
			flinc_writer we;
			flinc_writer_init(&we, guarded, cap);
			writers[i](&we);
			if (cap < need) {
				assert_int_not_equal(w.err, 0);
				assert_int_not_equal(we.err, 0);
				assert_true(we.p <= we.end);
			} else {
				assert_int_equal(w.err, 0);
				assert_memory_equal(exact, full, need);
			}
			for (size_t j = cap; j < sizeof(guarded); j++) assert_int_equal(guarded[j], 0xee);
			free(exact);
		}
	}
	/* The error is sticky: a later write that would fit is refused too. */
	uint8_t buf[4];
	flinc_writer w;
	flinc_writer_init(&w, buf, sizeof(buf));
	flinc_w_f64(&w, 1.0);
	assert_int_not_equal(w.err, 0);
	flinc_w_nil(&w);
	assert_int_not_equal(w.err, 0);
	assert_int_equal(flinc_writer_len(&w, buf), 0);
}

/* Read back what a writer sample wrote, by type, as a decoder would. */
static void read_sample(size_t which, flinc_reader *r)
{
	uint32_t n;
	switch (which) {
	case 0:
	case 1:
	case 2: (void)flinc_r_int(r); break;
	case 3: (void)flinc_r_f64(r); break;
	case 4:
	case 5: (void)flinc_r_str(r, &n); break;
	case 6: (void)flinc_r_bin(r, &n); break;
	case 7:
		n = flinc_r_array(r);
		for (uint32_t i = 0; i < n && !r->err; i++) (void)flinc_r_int(r);
		break;
	case 8:
		(void)flinc_r_map(r);
		(void)flinc_r_str(r, &n);
		(void)flinc_r_bool(r);
		(void)flinc_r_str(r, &n);
		(void)flinc_r_array(r);
		if (!flinc_r_nil(r)) /* nil is an optional read: the decoder insists */
			r->err = 1;
		if (!flinc_r_at_end(r)) r->err = 1;
		break;
	default:
		(void)flinc_r_array(r);
		(void)flinc_r_int(r);
		(void)flinc_r_int(r);
		break;
	}
}

static void t_reader_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
		uint8_t full[512];
		flinc_writer w;
		flinc_writer_init(&w, full, sizeof(full));
		writers[i](&w);
		size_t len = flinc_writer_len(&w, full);
		for (size_t cut = 0; cut <= len; cut++) {
			uint8_t *p = exact_copy(full, cut);
			flinc_reader r;
			flinc_reader_init(&r, p, cut);
			read_sample(i, &r);
			if (cut < len)
				assert_int_not_equal(r.err, 0);
			else
				assert_int_equal(r.err, 0);
			assert_true(r.p <= r.end);
			flinc_reader_init(&r, p, cut);
			int rc = flinc_r_skip(&r);
			if (cut < len) {
				assert_int_equal(rc, FLINC_ECODEC);
				assert_int_not_equal(r.err, 0);
			} else {
				assert_int_equal(rc, 0);
				assert_true(flinc_r_at_end(&r));
			}
			free(p);
		}
	}
}

static void t_reader_malformed(void **state)
{
	(void)state;
	flinc_reader r;
	uint32_t n;
	static const uint8_t c1[] = { 0xc1 };
	flinc_reader_init(&r, c1, 1);
	(void)flinc_r_int(&r);
	assert_int_not_equal(r.err, 0);
	flinc_reader_init(&r, c1, 1);
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	assert_int_not_equal(r.err, 0);
	/* Reading past the end of an empty input. */
	flinc_reader_init(&r, c1, 0);
	(void)flinc_r_int(&r);
	assert_int_not_equal(r.err, 0);
	flinc_reader_init(&r, c1, 0);
	(void)flinc_r_array(&r);
	assert_int_not_equal(r.err, 0);
	/* A str header claiming more than there is. */
	static const uint8_t longstr[] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
	flinc_reader_init(&r, longstr, sizeof(longstr));
	const char *s = flinc_r_str(&r, &n);
	assert_int_not_equal(r.err, 0);
	assert_int_equal(n, 0);
	assert_non_null(s);
	/* Once set, the error stays and reads return zero values. */
	static const uint8_t ok[] = { 0x05 };
	flinc_reader_init(&r, ok, 1);
	r.err = 1;
	assert_int_equal(flinc_r_int(&r), 0);
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	assert_int_not_equal(r.err, 0);
	/* Wrong kinds. */
	static const uint8_t mapv[] = { 0x81, 0x01, 0x02 };
	flinc_reader_init(&r, mapv, sizeof(mapv));
	(void)flinc_r_int(&r);
	assert_int_not_equal(r.err, 0);
	flinc_reader_init(&r, mapv, sizeof(mapv));
	(void)flinc_r_array(&r);
	assert_int_not_equal(r.err, 0);
	flinc_reader_init(&r, mapv, sizeof(mapv));
	(void)flinc_r_str(&r, &n);
	assert_int_not_equal(r.err, 0);
}

/* ---- skip ------------------------------------------------------------- */

/* Pack one of everything with msgpack-c, nested, ext types included. */
static void pack_everything(msgpack_packer *pk, int depth)
{
	static const char body[70000];
	msgpack_pack_map(pk, 3);
	msgpack_pack_str_with_body(pk, "scalars", 7);
	msgpack_pack_array(pk, 22);
	msgpack_pack_nil(pk);
	msgpack_pack_true(pk);
	msgpack_pack_false(pk);
	msgpack_pack_int64(pk, 5);
	msgpack_pack_int64(pk, -5);
	msgpack_pack_int64(pk, 200);
	msgpack_pack_int64(pk, -200);
	msgpack_pack_int64(pk, 60000);
	msgpack_pack_int64(pk, -60000);
	msgpack_pack_int64(pk, 4000000000LL);
	msgpack_pack_int64(pk, -4000000000LL);
	msgpack_pack_uint64(pk, UINT64_MAX);
	msgpack_pack_float(pk, 1.5f);
	msgpack_pack_double(pk, 2.5);
	msgpack_pack_str_with_body(pk, body, 40);    /* str8 */
	msgpack_pack_str_with_body(pk, body, 300);   /* str16 */
	msgpack_pack_str_with_body(pk, body, 70000); /* str32 */
	msgpack_pack_bin_with_body(pk, body, 0);     /* bin8 */
	msgpack_pack_bin_with_body(pk, body, 1000);  /* bin16 */
	msgpack_pack_bin_with_body(pk, body, 66000); /* bin32 */
	msgpack_pack_str_with_body(pk, body, 0);     /* fixstr */
	msgpack_pack_array(pk, 0);
	msgpack_pack_str_with_body(pk, "ext", 3);
	static const size_t ext_sizes[] = { 1, 2, 4, 8, 16, 0, 3, 17, 255, 256, 65535, 65536 };
	msgpack_pack_array(pk, sizeof(ext_sizes) / sizeof(ext_sizes[0]));
	for (size_t i = 0; i < sizeof(ext_sizes) / sizeof(ext_sizes[0]); i++)
		msgpack_pack_ext_with_body(pk, body, ext_sizes[i], (int8_t)(i - 3));
	msgpack_pack_str_with_body(pk, "nested", 6);
	if (depth > 0) {
		msgpack_pack_array(pk, 2);
		pack_everything(pk, depth - 1);
		msgpack_pack_map(pk, 0);
	} else {
		msgpack_pack_nil(pk);
	}
}

static void t_skip_everything(void **state)
{
	(void)state;
	mp m;
	mp_init(&m);
	pack_everything(&m.pk, 3);
	size_t doc_len = m.sb.size;
	msgpack_pack_int64(&m.pk, 42); /* sentinel */
	msgpack_pack_array(&m.pk, 3);
	msgpack_pack_fix_int8(&m.pk, 1);
	msgpack_pack_ext_with_body(&m.pk, "abcd", 4, 9);
	msgpack_pack_str_with_body(&m.pk, "end", 3);

	/* msgpack-c agrees the document is one value. */
	msgpack_unpacked res;
	mp_unpack_all(&res, (const uint8_t *)m.sb.data, doc_len);
	msgpack_unpacked_destroy(&res);

	uint8_t *p = exact_copy(m.sb.data, m.sb.size);
	flinc_reader r;
	flinc_reader_init(&r, p, m.sb.size);
	assert_int_equal(flinc_r_skip(&r), 0);
	assert_ptr_equal(r.p, p + doc_len);
	assert_int_equal(flinc_r_int(&r), 42);
	assert_int_equal(flinc_r_array(&r), 3);
	assert_int_equal(flinc_r_skip(&r), 0);
	assert_int_equal(flinc_r_skip(&r), 0); /* fixext4 */
	uint32_t n;
	const char *s = flinc_r_str(&r, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(s, "end", 3);
	assert_true(flinc_r_at_end(&r));
	assert_int_equal(r.err, 0);

	/* Skipping the map's fields one by one ends in the same place. */
	flinc_reader_init(&r, p, m.sb.size);
	uint32_t fields = flinc_r_map(&r);
	assert_int_equal(fields, 3);
	for (uint32_t i = 0; i < 2 * fields; i++) assert_int_equal(flinc_r_skip(&r), 0);
	assert_ptr_equal(r.p, p + doc_len);

	/* Every strict prefix of the document fails. */
	for (size_t cut = 0; cut < doc_len; cut += (cut < 600 ? 1 : 997)) {
		uint8_t *q = exact_copy(p, cut);
		flinc_reader_init(&r, q, cut);
		assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
		assert_int_not_equal(r.err, 0);
		free(q);
	}
	free(p);
	mp_fini(&m);
}

/* Nesting: 64 levels are fine, 65 are refused, empty containers count. */
static void t_skip_depth(void **state)
{
	(void)state;
	uint8_t buf[256];
	for (int depth = 1; depth <= 70; depth++) {
		for (int variant = 0; variant < 3; variant++) {
			flinc_writer w;
			flinc_writer_init(&w, buf, sizeof(buf));
			for (int i = 0; i < depth - 1; i++) {
				if (variant == 1 && i % 2)
					flinc_w_map(&w, 1), flinc_w_nil(&w); /* key nil, value nested */
				else
					flinc_w_array(&w, 1);
			}
			if (variant == 2)
				flinc_w_map(&w, 0);
			else
				flinc_w_array(&w, 0);
			flinc_w_int(&w, 7); /* after the value */
			assert_int_equal(w.err, 0);
			size_t len = flinc_writer_len(&w, buf);
			flinc_reader r;
			flinc_reader_init(&r, buf, len);
			int rc = flinc_r_skip(&r);
			if (depth <= 64) {
				assert_int_equal(rc, 0);
				assert_int_equal(flinc_r_int(&r), 7);
				assert_true(flinc_r_at_end(&r));
			} else {
				assert_int_equal(rc, FLINC_ECODEC);
				assert_int_not_equal(r.err, 0);
			}
		}
	}
	/* Counts larger than the input are refused at once. */
	static const uint8_t huge_arr[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02 };
	static const uint8_t huge_map[] = { 0xdf, 0x80, 0x00, 0x00, 0x00, 0x01, 0x02 };
	flinc_reader r;
	flinc_reader_init(&r, huge_arr, sizeof(huge_arr));
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	flinc_reader_init(&r, huge_map, sizeof(huge_map));
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	static const uint8_t huge_ext[] = { 0xc9, 0xff, 0xff, 0xff, 0xff, 0x01 };
	flinc_reader_init(&r, huge_ext, sizeof(huge_ext));
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	/* 0xc1 inside a container. */
	static const uint8_t bad_inner[] = { 0x93, 0x01, 0xc1, 0x02 };
	flinc_reader_init(&r, bad_inner, sizeof(bad_inner));
	assert_int_equal(flinc_r_skip(&r), FLINC_ECODEC);
	assert_int_not_equal(r.err, 0);
}

/* Random bytes: skip either succeeds exactly where msgpack-c's parser ends
 * the first value, or fails where msgpack-c finds the input incomplete or
 * invalid. 32-bit length forms are turned into 16-bit ones so msgpack-c
 * never tries to allocate gigabytes for a claimed count. */
static void t_skip_random(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int agreed_ok = 0, agreed_bad = 0;
	for (int iter = 0; iter < 30000; iter++) {
		uint8_t buf[64];
		size_t len = 1 + (size_t)(iter % 64);
		for (size_t i = 0; i < len; i++) {
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			uint8_t b = (uint8_t)((x * 0x2545f4914f6cdd1dULL) >> 56);
			/* Bias towards small containers and scalars so values end. */
			if (i && (b & 0xe0) == 0x80 && (x & 1)) b = (uint8_t)(x >> 8) & 0x7f;
			if (b == 0xc6 || b == 0xc9 || b == 0xdb || b == 0xdd || b == 0xdf) b ^= 1;
			buf[i] = b;
		}
		uint8_t *p = exact_copy(buf, len);
		msgpack_unpacked res;
		msgpack_unpacked_init(&res);
		size_t off = 0;
		int mrc = msgpack_unpack_next(&res, (const char *)p, len, &off);
		msgpack_unpacked_destroy(&res);
		flinc_reader r;
		flinc_reader_init(&r, p, len);
		int rc = flinc_r_skip(&r);
		assert_true(r.p <= r.end);
		if (mrc == MSGPACK_UNPACK_SUCCESS) {
			assert_int_equal(rc, 0);
			assert_int_equal((size_t)(r.p - p), off);
			agreed_ok++;
		} else {
			assert_int_equal(rc, FLINC_ECODEC);
			agreed_bad++;
		}
		free(p);
	}
	/* Both outcomes must have been exercised for the check to mean much. */
	assert_true(agreed_ok > 1000);
	assert_true(agreed_bad > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_int_roundtrip),      cmocka_unit_test(t_uint_roundtrip),
		cmocka_unit_test(t_int_from_msgpack_c), cmocka_unit_test(t_f64),
		cmocka_unit_test(t_bool_nil),           cmocka_unit_test(t_str_bin),
		cmocka_unit_test(t_array_map),          cmocka_unit_test(t_writer_overflow),
		cmocka_unit_test(t_reader_truncated),   cmocka_unit_test(t_reader_malformed),
		cmocka_unit_test(t_skip_everything),    cmocka_unit_test(t_skip_depth),
		cmocka_unit_test(t_skip_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
