/*
 * types.c - the built-in record types of flinc.h: text lines, 64-bit
 * integers and doubles.
 *
 * flinc_type_line is a msgpack str; decode points into the reader's buffer
 * (no copy), so a decoded line lives as long as that buffer (the record being
 * processed). flinc_type_i64 and flinc_type_f64 are POD: in one process the
 * runtime may memcpy them; across processes they are a msgpack int or float.
 */
#include <flinc/flinc.h>

/* ---- flinc_line ------------------------------------------------------ */

static int line_encode(const void *rec, flinc_writer *w)
{
	const flinc_line *l = rec;
	flinc_w_str(w, l->s, l->len);
	return 0;
}

static int line_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	flinc_line *l = rec;
	uint32_t n = 0;
	l->s = flinc_r_str(r, &n);
	l->len = n;
	return r->err ? FLINC_ECODEC : FLINC_OK;
}

FLINC_API const flinc_type flinc_type_line = {
	.version = FLINC_TYPE_VERSION,
	.name = "line",
	.size = sizeof(flinc_line),
	.flags = 0,
	.encode = line_encode,
	.decode = line_decode,
};

/* ---- int64_t --------------------------------------------------------- */

static int i64_encode(const void *rec, flinc_writer *w)
{
	int64_t v;
	memcpy(&v, rec, sizeof v);
	flinc_w_int(w, v);
	return 0;
}

static int i64_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	int64_t v = flinc_r_int(r);
	memcpy(rec, &v, sizeof v);
	return r->err ? FLINC_ECODEC : FLINC_OK;
}

FLINC_API const flinc_type flinc_type_i64 = {
	.version = FLINC_TYPE_VERSION,
	.name = "i64",
	.size = sizeof(int64_t),
	.flags = FLINC_TYPE_POD,
	.encode = i64_encode,
	.decode = i64_decode,
};

/* ---- double ---------------------------------------------------------- */

static int f64_encode(const void *rec, flinc_writer *w)
{
	double v;
	memcpy(&v, rec, sizeof v);
	flinc_w_f64(w, v);
	return 0;
}

/* Integers are accepted too (flinc_r_f64 converts them). */
static int f64_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	double v = flinc_r_f64(r);
	memcpy(rec, &v, sizeof v);
	return r->err ? FLINC_ECODEC : FLINC_OK;
}

FLINC_API const flinc_type flinc_type_f64 = {
	.version = FLINC_TYPE_VERSION,
	.name = "f64",
	.size = sizeof(double),
	.flags = FLINC_TYPE_POD,
	.encode = f64_encode,
	.decode = f64_decode,
};
