/* fields.c - the declarative struct codec behind FLINC_STRUCT_TYPE. */
#include <flinc/flinc.h>

#include <string.h>

FLINC_API int flinc_fields_encode(const flinc_field *f, size_t n, const void *rec, flinc_writer *w)
{
	const char *base = rec;
	flinc_w_array(w, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const void *p = base + f[i].offset;
		switch (f[i].kind) {
		case FLINC_FIELD_I64: { int64_t v; memcpy(&v, p, 8); flinc_w_int(w, v); break; }
		case FLINC_FIELD_I32: { int32_t v; memcpy(&v, p, 4); flinc_w_int(w, v); break; }
		case FLINC_FIELD_U64: { uint64_t v; memcpy(&v, p, 8); flinc_w_uint(w, v); break; }
		case FLINC_FIELD_F64: { double v; memcpy(&v, p, 8); flinc_w_f64(w, v); break; }
		case FLINC_FIELD_BOOL: { bool v; memcpy(&v, p, sizeof v); flinc_w_bool(w, v); break; }
		case FLINC_FIELD_STR: {
			flinc_str v;
			memcpy(&v, p, sizeof v);
			flinc_w_str(w, v.s ? v.s : "", v.s ? v.len : 0);
			break;
		}
		default: return FLINC_EINVAL;
		}
	}
	return 0;
}

FLINC_API int flinc_fields_decode(const flinc_field *f, size_t n, flinc_reader *r, void *rec)
{
	char *base = rec;
	uint32_t have = flinc_r_array(r);
	if (r->err) return FLINC_ECODEC;
	for (size_t i = 0; i < n && i < have; i++) {
		void *p = base + f[i].offset;
		switch (f[i].kind) {
		case FLINC_FIELD_I64: { int64_t v = flinc_r_int(r); memcpy(p, &v, 8); break; }
		case FLINC_FIELD_I32: {
			int64_t v = flinc_r_int(r);
			if (v < INT32_MIN || v > INT32_MAX) return FLINC_ECODEC;
			int32_t x = (int32_t)v;
			memcpy(p, &x, 4);
			break;
		}
		case FLINC_FIELD_U64: { uint64_t v = flinc_r_uint(r); memcpy(p, &v, 8); break; }
		case FLINC_FIELD_F64: { double v = flinc_r_f64(r); memcpy(p, &v, 8); break; }
		case FLINC_FIELD_BOOL: { bool v = flinc_r_bool(r); memcpy(p, &v, sizeof v); break; }
		case FLINC_FIELD_STR: {
			flinc_str v;
			v.s = flinc_r_str(r, &v.len);
			memcpy(p, &v, sizeof v);
			break;
		}
		default: return FLINC_EINVAL;
		}
		if (r->err) return FLINC_ECODEC;
	}
	/* Fields a newer writer appended. */
	for (uint32_t i = (uint32_t)n; i < have; i++)
		if (flinc_r_skip(r) != 0) return FLINC_ECODEC;
	return r->err ? FLINC_ECODEC : 0;
}
