/*
 * codec_bench.c - the record codec on the engine's hot paths: the
 * hand-written msgpack writer/reader (flinc/codec.h) and the
 * FLINC_STRUCT_TYPE field codec (runtime/src/fields.c) against msgpack-c.
 *
 * Usage: codec_bench [reps (default 7)] [records per measurement (default 2000000)]
 *
 * Records:
 *   bid         a Nexmark bid event as nexmark.so encodes it:
 *               [2, [auction, bidder, price, channel, url, dateTime, extra]]
 *               (jobs/nexmark/nexmark.c: event_encode/event_decode and the
 *               bid field table), 4096 bids from the Nexmark generator
 *   word_count  (word, count) as wordcount.so's FLINC_STRUCT_TYPE
 *               word_count_type: [word, count]; 4096 pairs, words of 2-10
 *               letters drawn Zipf-like from 5000 (as engine_vs_loop.py's
 *               text), counts spread from 1 to millions
 * Paths:
 *   record      one record encoded into a reused 4 KB scratch buffer and
 *               decoded from its bytes: keyed state (fl_op_encode and
 *               fl_op_decode in runtime/src/keyed.c)
 *   exchange    records framed into 32 KB buffers behind the exchange's
 *               header (event byte, timestamp for bids, u32 length), a full
 *               buffer starting the next one; then every buffer decoded
 *               event by event (put_record in exchange.c, process_buffer in
 *               task.c)
 * Codecs (byte-identical output, checked):
 *   flinc inline      a per-type encode/decode written with codec.h's inline
 *                     flinc_w_* / flinc_r_* calls
 *   msgpack-c inline  the same per-type code with msgpack_pack_* (inline in
 *                     msgpack-c's headers) through a write callback into the
 *                     caller's fixed buffer; decode with msgpack_unpack into a
 *                     reused zone (cleared per record), then the
 *                     msgpack_object tree walked into the struct
 *   msgpack-c inline, zone/buf  exchange path only: the zone cleared once
 *                     per 32 KB buffer instead of per record
 *   flinc fields      the field-table codec (flinc_fields_encode/decode), what
 *                     the jobs use today
 *   msgpack-c fields  the same table loop written on msgpack-c (what
 *                     fields.c would be if it moved)
 *   ..., -O2 only     record path only: the two per-type codecs without
 *                     __attribute__((flatten)) (see TWIN_ENC), to show what
 *                     inlining is worth to each
 *   msgpack-c sbuffer+next  record path only: msgpack_pack_* into a
 *                     msgpack_sbuffer cleared per record; decode with
 *                     msgpack_unpack_next and a msgpack_unpacked (msgpack-c's
 *                     documented loop; it frees and mallocs its zone on every
 *                     call)
 * Every codec is called through a function pointer, as the engine calls a
 * type's encode/decode; every decode is preceded by the memset the engine
 * does. Before timing, the bench checks that all codecs write byte-identical
 * msgpack for every record (and identical exchange buffers) and that every
 * decoder gives back the original values; it exits 1 if not. Timed decodes
 * fold the decoded values into a checksum that must match across codecs.
 *
 * Prints, per path and codec, the median over `reps` of ns per record and
 * MB/s (1e6 bytes of msgpack per second, framing headers not counted) for
 * encode and decode.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <flinc/flinc.h>

#include "exchange.h" /* FL_EV_RECORD, FL_EV_RECORD_TS */
#include "nexmark_gen.h"

#define NSAMPLES 4096
#define SCRATCH_CAP 4096     /* fl_op_encode's first scratch size */
#define XBUF_CAP (32 * 1024) /* execution.buffer-size default */
#define MAX_XBUFS 4096

/* Monotonic time in seconds. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A failed check or setup: message and exit status 1. */
static void die(const char *what)
{
	fprintf(stderr, "codec_bench: %s\n", what);
	exit(1);
}

/* ---- records ----------------------------------------------------------- */

/* wordcount.so's output record and its type, declared as the job does. */
typedef struct word_count {
	flinc_str w;
	uint64_t count;
} word_count;
FLINC_STRUCT_TYPE(word_count_type, word_count, "word_count", 0, FLINC_FIELD(word_count, w, FLINC_FIELD_STR),
		  FLINC_FIELD(word_count, count, FLINC_FIELD_U64));

/* nexmark.so's bid field table (offsets into the event's union). */
#define EV(member, kind) FLINC_FIELD(nexmark_event, member, kind)
static const flinc_field bid_fields[] = {
	EV(u.bid.auction, FLINC_FIELD_I64), EV(u.bid.bidder, FLINC_FIELD_I64),
	EV(u.bid.price, FLINC_FIELD_I64),   EV(u.bid.channel, FLINC_FIELD_STR),
	EV(u.bid.url, FLINC_FIELD_STR),     EV(u.bid.date_time, FLINC_FIELD_I64),
	EV(u.bid.extra, FLINC_FIELD_STR),
};
#undef EV
#define NBID_FIELDS (sizeof bid_fields / sizeof bid_fields[0])

/* ---- codecs ------------------------------------------------------------ */

/* Encode rec into buf (cap bytes) or into the codec's own buffer; returns
 * where the bytes are and sets *len, or NULL when they did not fit. */
typedef const uint8_t *(*enc_fn)(const void *rec, uint8_t *buf, size_t cap, size_t *len);
/* Fill rec (zeroed) from len bytes; 0 or -1. Strings point into buf. */
typedef int (*dec_fn)(const uint8_t *buf, size_t len, void *rec);

#define ON_RECORD 1
#define ON_EXCHANGE 2

typedef struct codec {
	const char *name;
	enc_fn enc;
	dec_fn dec;
	void (*batch_done)(void); /* after each decoded exchange buffer, or NULL */
	int paths;                /* ON_RECORD | ON_EXCHANGE */
} codec;

/*
 * A per-type codec is written once as a static inline body and compiled
 * twice: `name` with __attribute__((flatten)), so every helper it calls
 * (codec.h's flinc_w_* / flinc_r_*, msgpack-c's msgpack_pack_* and its
 * write callback) is inlined into it; `name_o2` as GCC -O2 compiles it on
 * its own heuristics, which leave some of those helpers as calls (for
 * msgpack-c: msgpack_pack_int64 and a call of the write callback per value;
 * for flinc: flinc_w_uint, flinc_w_str, flinc_r_int).
 */
#define TWIN_ENC(name)                                                                                 \
	__attribute__((flatten)) static const uint8_t *name(const void *rec, uint8_t *buf, size_t cap, \
							    size_t *len)                               \
	{                                                                                              \
		return name##_body(rec, buf, cap, len);                                                \
	}                                                                                              \
	static const uint8_t *name##_o2(const void *rec, uint8_t *buf, size_t cap, size_t *len)        \
	{                                                                                              \
		return name##_body(rec, buf, cap, len);                                                \
	}
#define TWIN_DEC(name)                                                                      \
	__attribute__((flatten)) static int name(const uint8_t *buf, size_t len, void *rec) \
	{                                                                                   \
		return name##_body(buf, len, rec);                                          \
	}                                                                                   \
	static int name##_o2(const uint8_t *buf, size_t len, void *rec) { return name##_body(buf, len, rec); }

/* -- flinc inline: codec.h calls written out per type -- */

static inline const uint8_t *fi_bid_enc_body(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	const nexmark_event *e = rec;
	const nexmark_bid *b = &e->u.bid;
	flinc_writer w;
	flinc_writer_init(&w, buf, cap);
	flinc_w_array(&w, 2);
	flinc_w_uint(&w, e->kind);
	flinc_w_array(&w, 7);
	flinc_w_int(&w, b->auction);
	flinc_w_int(&w, b->bidder);
	flinc_w_int(&w, b->price);
	flinc_w_str(&w, b->channel.p, b->channel.len);
	flinc_w_str(&w, b->url.p, b->url.len);
	flinc_w_int(&w, b->date_time);
	flinc_w_str(&w, b->extra.p, b->extra.len);
	if (w.err) return NULL;
	*len = flinc_writer_len(&w, buf);
	return buf;
}
TWIN_ENC(fi_bid_enc)

static inline int fi_bid_dec_body(const uint8_t *buf, size_t len, void *rec)
{
	nexmark_event *e = rec;
	nexmark_bid *b = &e->u.bid;
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	if (flinc_r_array(&r) != 2 || flinc_r_int(&r) != NEXMARK_BID || flinc_r_array(&r) != 7) return -1;
	e->kind = NEXMARK_BID;
	b->auction = flinc_r_int(&r);
	b->bidder = flinc_r_int(&r);
	b->price = flinc_r_int(&r);
	b->channel.p = flinc_r_str(&r, &b->channel.len);
	b->url.p = flinc_r_str(&r, &b->url.len);
	b->date_time = flinc_r_int(&r);
	b->extra.p = flinc_r_str(&r, &b->extra.len);
	return r.err ? -1 : 0;
}
TWIN_DEC(fi_bid_dec)

static inline const uint8_t *fi_wc_enc_body(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	const word_count *c = rec;
	flinc_writer w;
	flinc_writer_init(&w, buf, cap);
	flinc_w_array(&w, 2);
	flinc_w_str(&w, c->w.s, c->w.len);
	flinc_w_uint(&w, c->count);
	if (w.err) return NULL;
	*len = flinc_writer_len(&w, buf);
	return buf;
}
TWIN_ENC(fi_wc_enc)

static inline int fi_wc_dec_body(const uint8_t *buf, size_t len, void *rec)
{
	word_count *c = rec;
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	if (flinc_r_array(&r) != 2) return -1;
	c->w.s = flinc_r_str(&r, &c->w.len);
	c->count = flinc_r_uint(&r);
	return r.err ? -1 : 0;
}
TWIN_DEC(fi_wc_dec)

/* -- flinc fields: the runtime's field-table codec, as the jobs call it -- */

/* nexmark.so's event_encode / event_decode for a bid */
static const uint8_t *ff_bid_enc(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	const nexmark_event *e = rec;
	flinc_writer w;
	flinc_writer_init(&w, buf, cap);
	flinc_w_array(&w, 2);
	flinc_w_uint(&w, e->kind);
	if (flinc_fields_encode(bid_fields, NBID_FIELDS, rec, &w) != 0 || w.err) return NULL;
	*len = flinc_writer_len(&w, buf);
	return buf;
}

static int ff_bid_dec(const uint8_t *buf, size_t len, void *rec)
{
	nexmark_event *e = rec;
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	if (flinc_r_array(&r) != 2) return -1;
	int64_t kind = flinc_r_int(&r);
	if (r.err || kind != NEXMARK_BID) return -1;
	e->kind = NEXMARK_BID;
	return flinc_fields_decode(bid_fields, NBID_FIELDS, &r, rec) || r.err ? -1 : 0;
}

/* wordcount.so's word_count_type, through the type as the runtime calls it */
static const uint8_t *ff_wc_enc(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	flinc_writer w;
	flinc_writer_init(&w, buf, cap);
	if (word_count_type.encode(rec, &w) != 0 || w.err) return NULL;
	*len = flinc_writer_len(&w, buf);
	return buf;
}

static int ff_wc_dec(const uint8_t *buf, size_t len, void *rec)
{
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	return word_count_type.decode(&r, rec, NULL) || r.err ? -1 : 0;
}

/* -- msgpack-c -- */

/* A write callback into the caller's fixed buffer. The error is sticky, so
 * an encode checks it once at the end, as flinc_writer does. */
typedef struct fixbuf {
	uint8_t *p, *end;
	int err;
} fixbuf;

static int fixbuf_write(void *data, const char *buf, size_t len)
{
	fixbuf *f = data;
	if (f->err || (size_t)(f->end - f->p) < len) {
		f->err = 1;
		return -1;
	}
	memcpy(f->p, buf, len);
	f->p += len;
	return 0;
}

/* The bid event and the word count with msgpack_pack_*, value for value
 * what the flinc codecs write. */
static inline void mp_pack_bid(msgpack_packer *pk, const nexmark_event *e)
{
	const nexmark_bid *b = &e->u.bid;
	msgpack_pack_array(pk, 2);
	msgpack_pack_uint32(pk, (uint32_t)e->kind);
	msgpack_pack_array(pk, 7);
	msgpack_pack_int64(pk, b->auction);
	msgpack_pack_int64(pk, b->bidder);
	msgpack_pack_int64(pk, b->price);
	msgpack_pack_str_with_body(pk, b->channel.p, b->channel.len);
	msgpack_pack_str_with_body(pk, b->url.p, b->url.len);
	msgpack_pack_int64(pk, b->date_time);
	msgpack_pack_str_with_body(pk, b->extra.p, b->extra.len);
}

static inline void mp_pack_wc(msgpack_packer *pk, const word_count *c)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_str_with_body(pk, c->w.s, c->w.len);
	msgpack_pack_uint64(pk, c->count);
}

/* msgpack-c inline: a packer on the caller's buffer per record. */
static inline const uint8_t *mi_bid_enc_body(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	fixbuf f = { buf, buf + cap, 0 };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &f, fixbuf_write);
	mp_pack_bid(&pk, rec);
	if (f.err) return NULL;
	*len = (size_t)(f.p - buf);
	return buf;
}
TWIN_ENC(mi_bid_enc)

static inline const uint8_t *mi_wc_enc_body(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	fixbuf f = { buf, buf + cap, 0 };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &f, fixbuf_write);
	mp_pack_wc(&pk, rec);
	if (f.err) return NULL;
	*len = (size_t)(f.p - buf);
	return buf;
}
TWIN_ENC(mi_wc_enc)

/* An sbuffer reused (cleared) per record; the bytes stay in it. */
static msgpack_sbuffer sbuf;

__attribute__((flatten)) static const uint8_t *msb_bid_enc(const void *rec, uint8_t *buf, size_t cap,
							   size_t *len)
{
	(void)buf;
	(void)cap;
	msgpack_sbuffer_clear(&sbuf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	mp_pack_bid(&pk, rec);
	*len = sbuf.size;
	return (const uint8_t *)sbuf.data;
}

__attribute__((flatten)) static const uint8_t *msb_wc_enc(const void *rec, uint8_t *buf, size_t cap,
							  size_t *len)
{
	(void)buf;
	(void)cap;
	msgpack_sbuffer_clear(&sbuf);
	msgpack_packer pk;
	msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
	mp_pack_wc(&pk, rec);
	*len = sbuf.size;
	return (const uint8_t *)sbuf.data;
}

/* msgpack_object tree -> struct, with the checks the flinc decoders make
 * (array sizes, kinds, integer and string types). */
static inline int mo_i64(const msgpack_object *o, int64_t *v)
{
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	return -1;
}

static inline int mo_str(const msgpack_object *o, const char **p, uint32_t *len)
{
	if (o->type != MSGPACK_OBJECT_STR) return -1;
	*p = o->via.str.ptr;
	*len = o->via.str.size;
	return 0;
}

static inline int mo_bid(const msgpack_object *o, nexmark_event *e)
{
	nexmark_bid *b = &e->u.bid;
	int64_t kind;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2) return -1;
	const msgpack_object *a = o->via.array.ptr;
	if (mo_i64(&a[0], &kind) || kind != NEXMARK_BID) return -1;
	if (a[1].type != MSGPACK_OBJECT_ARRAY || a[1].via.array.size != 7) return -1;
	const msgpack_object *f = a[1].via.array.ptr;
	e->kind = NEXMARK_BID;
	int bad = mo_i64(&f[0], &b->auction) | mo_i64(&f[1], &b->bidder) | mo_i64(&f[2], &b->price) |
		mo_str(&f[3], &b->channel.p, &b->channel.len) | mo_str(&f[4], &b->url.p, &b->url.len) |
		mo_i64(&f[5], &b->date_time) | mo_str(&f[6], &b->extra.p, &b->extra.len);
	return bad ? -1 : 0;
}

static inline int mo_wc(const msgpack_object *o, word_count *c)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 2) return -1;
	const msgpack_object *a = o->via.array.ptr;
	if (mo_str(&a[0], &c->w.s, &c->w.len) || a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER) return -1;
	c->count = a[1].via.u64;
	return 0;
}

/* One zone for the whole run, its first chunk large enough for a 32 KB
 * buffer's objects, so clearing it never frees or mallocs. msgpack_unpack
 * leaves strings pointing into the input (no copy). */
static msgpack_zone zone;

static inline int mp_unpack(const uint8_t *buf, size_t len, msgpack_object *o)
{
	size_t off = 0;
	return msgpack_unpack((const char *)buf, len, &off, &zone, o) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

/* The zone is cleared before each record: a record's objects are garbage
 * once it is decoded, as the task's arena is reset after each record. */
static inline int mi_bid_dec_body(const uint8_t *buf, size_t len, void *rec)
{
	msgpack_object o;
	msgpack_zone_clear(&zone);
	return mp_unpack(buf, len, &o) ? -1 : mo_bid(&o, rec);
}
TWIN_DEC(mi_bid_dec)

static inline int mi_wc_dec_body(const uint8_t *buf, size_t len, void *rec)
{
	msgpack_object o;
	msgpack_zone_clear(&zone);
	return mp_unpack(buf, len, &o) ? -1 : mo_wc(&o, rec);
}
TWIN_DEC(mi_wc_dec)

/* The same without the clear: on the exchange path the zone is cleared
 * once per 32 KB buffer instead (batch_done). */
__attribute__((flatten)) static int mib_bid_dec(const uint8_t *buf, size_t len, void *rec)
{
	msgpack_object o;
	return mp_unpack(buf, len, &o) ? -1 : mo_bid(&o, rec);
}

__attribute__((flatten)) static int mib_wc_dec(const uint8_t *buf, size_t len, void *rec)
{
	msgpack_object o;
	return mp_unpack(buf, len, &o) ? -1 : mo_wc(&o, rec);
}

/* batch_done of the zone/buf codecs. */
static void zone_clear(void) { msgpack_zone_clear(&zone); }

/* msgpack-c's documented loop: msgpack_unpack_next with one msgpack_unpacked
 * kept across calls (it frees and mallocs its zone on every call). */
static msgpack_unpacked upk;

static int mn_bid_dec(const uint8_t *buf, size_t len, void *rec)
{
	size_t off = 0;
	if (msgpack_unpack_next(&upk, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
		return -1;
	return mo_bid(&upk.data, rec);
}

static int mn_wc_dec(const uint8_t *buf, size_t len, void *rec)
{
	size_t off = 0;
	if (msgpack_unpack_next(&upk, (const char *)buf, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
		return -1;
	return mo_wc(&upk.data, rec);
}

/* -- msgpack-c fields: fields.c's loop written on msgpack-c, what the field
 * codec would be if it moved. A separate, non-inlined function at -O2, as
 * flinc_fields_encode/decode are to their callers. -- */

__attribute__((noinline)) static int mf_encode(const flinc_field *f, size_t n, const void *rec, fixbuf *out)
{
	const char *base = rec;
	msgpack_packer pk;
	msgpack_packer_init(&pk, out, fixbuf_write);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		const void *p = base + f[i].offset;
		switch (f[i].kind) {
		case FLINC_FIELD_I64: {
			int64_t v;
			memcpy(&v, p, 8);
			msgpack_pack_int64(&pk, v);
			break;
		}
		case FLINC_FIELD_I32: {
			int32_t v;
			memcpy(&v, p, 4);
			msgpack_pack_int32(&pk, v);
			break;
		}
		case FLINC_FIELD_U64: {
			uint64_t v;
			memcpy(&v, p, 8);
			msgpack_pack_uint64(&pk, v);
			break;
		}
		case FLINC_FIELD_F64: {
			double v;
			memcpy(&v, p, 8);
			msgpack_pack_double(&pk, v);
			break;
		}
		case FLINC_FIELD_BOOL: {
			bool v;
			memcpy(&v, p, sizeof v);
			if (v)
				msgpack_pack_true(&pk);
			else
				msgpack_pack_false(&pk);
			break;
		}
		case FLINC_FIELD_STR: {
			flinc_str v;
			memcpy(&v, p, sizeof v);
			msgpack_pack_str_with_body(&pk, v.s ? v.s : "", v.s ? v.len : 0);
			break;
		}
		default: return FLINC_EINVAL;
		}
	}
	return 0;
}

/* Fill rec from the array object o; fewer elements leave fields zero, more
 * are ignored (the tree already holds them). */
__attribute__((noinline)) static int mf_decode(const flinc_field *f, size_t n, const msgpack_object *o,
					       void *rec)
{
	char *base = rec;
	if (o->type != MSGPACK_OBJECT_ARRAY) return FLINC_ECODEC;
	size_t have = o->via.array.size;
	const msgpack_object *a = o->via.array.ptr;
	for (size_t i = 0; i < n && i < have; i++) {
		void *p = base + f[i].offset;
		switch (f[i].kind) {
		case FLINC_FIELD_I64: {
			int64_t v;
			if (mo_i64(&a[i], &v)) return FLINC_ECODEC;
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_I32: {
			int64_t v;
			if (mo_i64(&a[i], &v) || v < INT32_MIN || v > INT32_MAX) return FLINC_ECODEC;
			int32_t x = (int32_t)v;
			memcpy(p, &x, 4);
			break;
		}
		case FLINC_FIELD_U64: {
			int64_t v;
			if (mo_i64(&a[i], &v)) return FLINC_ECODEC;
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_F64: {
			double v;
			if (a[i].type == MSGPACK_OBJECT_FLOAT64 || a[i].type == MSGPACK_OBJECT_FLOAT32) {
				v = a[i].via.f64;
			} else {
				int64_t x;
				if (mo_i64(&a[i], &x)) return FLINC_ECODEC;
				v = (double)x;
			}
			memcpy(p, &v, 8);
			break;
		}
		case FLINC_FIELD_BOOL: {
			if (a[i].type != MSGPACK_OBJECT_BOOLEAN) return FLINC_ECODEC;
			bool v = a[i].via.boolean;
			memcpy(p, &v, sizeof v);
			break;
		}
		case FLINC_FIELD_STR: {
			flinc_str v;
			if (mo_str(&a[i], &v.s, &v.len)) return FLINC_ECODEC;
			memcpy(p, &v, sizeof v);
			break;
		}
		default: return FLINC_EINVAL;
		}
	}
	return 0;
}

/* The bid event's [kind, fields] and the word count through mf_encode /
 * mf_decode, as ff_* go through fields.c. */
static const uint8_t *mf_bid_enc(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	const nexmark_event *e = rec;
	fixbuf f = { buf, buf + cap, 0 };
	msgpack_packer pk;
	msgpack_packer_init(&pk, &f, fixbuf_write);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_uint32(&pk, (uint32_t)e->kind);
	if (mf_encode(bid_fields, NBID_FIELDS, rec, &f) != 0 || f.err) return NULL;
	*len = (size_t)(f.p - buf);
	return buf;
}

static int mf_bid_dec(const uint8_t *buf, size_t len, void *rec)
{
	nexmark_event *e = rec;
	msgpack_object o;
	int64_t kind;
	msgpack_zone_clear(&zone);
	if (mp_unpack(buf, len, &o) || o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != 2) return -1;
	if (mo_i64(&o.via.array.ptr[0], &kind) || kind != NEXMARK_BID) return -1;
	e->kind = NEXMARK_BID;
	return mf_decode(bid_fields, NBID_FIELDS, &o.via.array.ptr[1], rec) ? -1 : 0;
}

static const uint8_t *mf_wc_enc(const void *rec, uint8_t *buf, size_t cap, size_t *len)
{
	fixbuf f = { buf, buf + cap, 0 };
	if (mf_encode(word_count_type_fields, 2, rec, &f) != 0 || f.err) return NULL;
	*len = (size_t)(f.p - buf);
	return buf;
}

static int mf_wc_dec(const uint8_t *buf, size_t len, void *rec)
{
	msgpack_object o;
	msgpack_zone_clear(&zone);
	if (mp_unpack(buf, len, &o)) return -1;
	return mf_decode(word_count_type_fields, 2, &o, rec) ? -1 : 0;
}

#define NCODECS 8

static const codec bid_codecs[NCODECS] = {
	{ "flinc inline", fi_bid_enc, fi_bid_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c inline", mi_bid_enc, mi_bid_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c inline, zone/buf", mi_bid_enc, mib_bid_dec, zone_clear, ON_EXCHANGE },
	{ "flinc fields", ff_bid_enc, ff_bid_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c fields", mf_bid_enc, mf_bid_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "flinc inline, -O2 only", fi_bid_enc_o2, fi_bid_dec_o2, NULL, ON_RECORD },
	{ "msgpack-c inline, -O2 only", mi_bid_enc_o2, mi_bid_dec_o2, NULL, ON_RECORD },
	{ "msgpack-c sbuffer+next", msb_bid_enc, mn_bid_dec, NULL, ON_RECORD },
};

static const codec wc_codecs[NCODECS] = {
	{ "flinc inline", fi_wc_enc, fi_wc_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c inline", mi_wc_enc, mi_wc_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c inline, zone/buf", mi_wc_enc, mib_wc_dec, zone_clear, ON_EXCHANGE },
	{ "flinc fields", ff_wc_enc, ff_wc_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "msgpack-c fields", mf_wc_enc, mf_wc_dec, NULL, ON_RECORD | ON_EXCHANGE },
	{ "flinc inline, -O2 only", fi_wc_enc_o2, fi_wc_dec_o2, NULL, ON_RECORD },
	{ "msgpack-c inline, -O2 only", mi_wc_enc_o2, mi_wc_dec_o2, NULL, ON_RECORD },
	{ "msgpack-c sbuffer+next", msb_wc_enc, mn_wc_dec, NULL, ON_RECORD },
};

/* ---- samples ----------------------------------------------------------- */

static nexmark_event bids[NSAMPLES];
static char bid_scratch[NSAMPLES][NEXMARK_SCRATCH_MAX];
static word_count wcs[NSAMPLES];

static uint64_t rng_state = 88172645463325252ULL;

/* xorshift64: the word samples' random numbers. */
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* The first NSAMPLES bids of the default Nexmark stream (seed 0). */
static void make_bids(void)
{
	nexmark_gen_cfg cfg;
	nexmark_gen_cfg_default(&cfg);
	size_t n = 0;
	for (uint64_t k = 0; n < NSAMPLES; k++) {
		if (nexmark_gen_kind(&cfg, k) != NEXMARK_BID) continue;
		if (nexmark_gen_event(&cfg, k, &bids[n], bid_scratch[n], NEXMARK_SCRATCH_MAX) != 0)
			die("nexmark_gen_event failed");
		n++;
	}
}

/* Words as engine_vs_loop.py writes them: 5000 words of 2-10 letters, drawn
 * with weight 1/(rank+1). A count is where a word's count would be at a
 * random point of a 14M-word input (2M lines of 4-12 words). */
static char vocab[5000][11];
static uint8_t vocab_len[5000];

static void make_words(void)
{
	const size_t nv = 5000;
	double cum[5000], total = 0;
	for (size_t i = 0; i < nv; i++) {
		vocab_len[i] = (uint8_t)(2 + rng() % 9);
		for (size_t j = 0; j < vocab_len[i]; j++) vocab[i][j] = (char)('a' + rng() % 26);
		total += 1.0 / (double)(i + 1);
		cum[i] = total;
	}
	for (size_t n = 0; n < NSAMPLES; n++) {
		double x = (double)(rng() >> 11) / 9007199254740992.0 * total;
		size_t lo = 0, hi = nv - 1;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cum[mid] < x)
				lo = mid + 1;
			else
				hi = mid;
		}
		double share = (1.0 / (double)(lo + 1)) / total;
		double u = (double)(rng() >> 11) / 9007199254740992.0;
		wcs[n].w.s = vocab[lo];
		wcs[n].w.len = vocab_len[lo];
		wcs[n].count = 1 + (uint64_t)(u * 14e6 * share);
	}
}

/* Same values, same string bytes. */
static int bid_equal(const void *x, const void *y)
{
	const nexmark_bid *a = &((const nexmark_event *)x)->u.bid, *b = &((const nexmark_event *)y)->u.bid;
	return ((const nexmark_event *)x)->kind == ((const nexmark_event *)y)->kind &&
		a->auction == b->auction && a->bidder == b->bidder && a->price == b->price &&
		a->date_time == b->date_time && a->channel.len == b->channel.len &&
		!memcmp(a->channel.p, b->channel.p, a->channel.len) && a->url.len == b->url.len &&
		!memcmp(a->url.p, b->url.p, a->url.len) && a->extra.len == b->extra.len &&
		!memcmp(a->extra.p, b->extra.p, a->extra.len);
}

static int wc_equal(const void *x, const void *y)
{
	const word_count *a = x, *b = y;
	return a->count == b->count && a->w.len == b->w.len && !memcmp(a->w.s, b->w.s, a->w.len);
}

/* What a decode loop folds into its checksum: every value, and one byte of
 * each string (so the strings are really located). */
static uint64_t bid_sum(const void *rec)
{
	const nexmark_bid *b = &((const nexmark_event *)rec)->u.bid;
	return (uint64_t)(b->auction + b->bidder + b->price + b->date_time) + b->channel.len + b->url.len +
		b->extra.len + (uint8_t)b->url.p[b->url.len - 1] +
		(b->extra.len ? (uint8_t)b->extra.p[0] : 0);
}

static uint64_t wc_sum(const void *rec)
{
	const word_count *c = rec;
	return c->count + c->w.len + (uint8_t)c->w.s[0];
}

typedef struct rtype {
	const char *name;
	const void *samples;
	size_t size; /* sizeof one record */
	size_t hdr;  /* exchange header: 13 with a timestamp, 5 without */
	const codec *codecs;
	int (*equal)(const void *a, const void *b);
	uint64_t (*sum)(const void *rec);
} rtype;

static const void *sample(const rtype *t, size_t i) { return (const char *)t->samples + i * t->size; }

/* ---- the two paths ----------------------------------------------------- */

static uint8_t scratch[SCRATCH_CAP];
static volatile uint64_t sink;

/* Encoded samples, back to back, for the record-path decode. */
static uint8_t blob[NSAMPLES * 256];
static uint32_t blob_off[NSAMPLES], blob_len[NSAMPLES];
static size_t blob_bytes;

/* Exchange buffers as the writer sends them. */
typedef struct xbufs {
	uint8_t *data[MAX_XBUFS];
	uint32_t len[MAX_XBUFS];
	size_t n;
	size_t records, payload;
} xbufs;

static double record_encode(const rtype *t, const codec *c, size_t total, size_t *bytes)
{
	size_t b = 0;
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t done = 0; done < total; done += NSAMPLES) {
		for (size_t i = 0; i < NSAMPLES; i++) {
			size_t len;
			const uint8_t *p = c->enc(sample(t, i), scratch, sizeof scratch, &len);
			b += len;
			s += p[len - 1];
		}
	}
	double dt = now_s() - t0;
	sink += s;
	*bytes = b;
	return dt;
}

static double record_decode(const rtype *t, const codec *c, size_t total, uint64_t *sum)
{
	_Alignas(16) uint8_t rec[512];
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t done = 0; done < total; done += NSAMPLES) {
		for (size_t i = 0; i < NSAMPLES; i++) {
			memset(rec, 0, t->size);
			if (c->dec(blob + blob_off[i], blob_len[i], rec) != 0) die("decode failed");
			s += t->sum(rec);
		}
	}
	double dt = now_s() - t0;
	*sum = s;
	return dt;
}

/* Hand a full buffer on: with `keep`, a copy is kept there. */
static void send_buf(const uint8_t *xb, size_t len, xbufs *keep, uint64_t *s)
{
	if (keep) {
		if (keep->n == MAX_XBUFS || !(keep->data[keep->n] = malloc(len))) die("too many buffers");
		memcpy(keep->data[keep->n], xb, len);
		keep->len[keep->n++] = (uint32_t)len;
	}
	*s += xb[len - 1];
}

/* Frame `total` records into 32 KB buffers as put_record does: reserve the
 * header plus 16 bytes, encode behind the header into what is left, and on
 * overflow send the buffer and retry in an empty one. */
static double exchange_encode(const rtype *t, const codec *c, size_t total, xbufs *keep)
{
	static uint8_t xb[XBUF_CAP];
	size_t len = 0, payload = 0;
	uint64_t s = 0;
	int64_t ts = NEXMARK_DEFAULT_BASE_TIME_MS;
	double t0 = now_s();
	for (size_t k = 0; k < total; k++) {
		const void *rec = sample(t, k & (NSAMPLES - 1));
		for (;;) {
			if (XBUF_CAP - len < t->hdr + 16) {
				send_buf(xb, len, keep, &s);
				len = 0;
			}
			size_t plen;
			uint8_t *q = xb + len;
			if (!c->enc(rec, q + t->hdr, XBUF_CAP - len - t->hdr, &plen)) {
				/* did not fit behind other events: send, retry */
				if (!len) die("record larger than a buffer");
				send_buf(xb, len, keep, &s);
				len = 0;
				continue;
			}
			uint32_t l32 = (uint32_t)plen;
			if (t->hdr == 13) {
				q[0] = FL_EV_RECORD_TS;
				memcpy(q + 1, &ts, 8);
				memcpy(q + 9, &l32, 4);
			} else {
				q[0] = FL_EV_RECORD;
				memcpy(q + 1, &l32, 4);
			}
			len += t->hdr + plen;
			payload += plen;
			break;
		}
	}
	if (keep && len) send_buf(xb, len, keep, &s);
	double dt = now_s() - t0;
	if (keep) {
		keep->records = total;
		keep->payload = payload;
	}
	sink += s;
	return dt;
}

/* Decode every event of every buffer, as process_buffer does, `passes`
 * times over the set. */
static double exchange_decode(const rtype *t, const codec *c, const xbufs *x, size_t passes, uint64_t *sum)
{
	_Alignas(16) uint8_t rec[512];
	uint64_t s = 0;
	double t0 = now_s();
	for (size_t pass = 0; pass < passes; pass++) {
		for (size_t i = 0; i < x->n; i++) {
			const uint8_t *p = x->data[i], *end = p + x->len[i];
			while (p < end) {
				uint8_t ev = *p++;
				int64_t ts = FLINC_TS_NONE;
				uint32_t len;
				if (ev == FL_EV_RECORD_TS) {
					memcpy(&ts, p, 8);
					p += 8;
				} else if (ev != FL_EV_RECORD) {
					die("bad event byte");
				}
				memcpy(&len, p, 4);
				p += 4;
				memset(rec, 0, t->size);
				if (c->dec(p, len, rec) != 0) die("decode failed");
				p += len;
				s += t->sum(rec) + (uint64_t)ts;
			}
			if (c->batch_done) c->batch_done();
		}
	}
	double dt = now_s() - t0;
	*sum = s;
	return dt;
}

static void xbufs_free(xbufs *x)
{
	for (size_t i = 0; i < x->n; i++) free(x->data[i]);
	x->n = 0;
}

/* ---- checks ------------------------------------------------------------ */

/* Every encoder writes the same bytes for every sample and every decoder
 * gives the sample back; exits 1 if not. Fills the blob (from codec 0). */
static void check(const rtype *t)
{
	static uint8_t ref[SCRATCH_CAP], out[SCRATCH_CAP];
	_Alignas(16) uint8_t rec[512];
	blob_bytes = 0;
	for (size_t i = 0; i < NSAMPLES; i++) {
		size_t rlen, len;
		const uint8_t *p = t->codecs[0].enc(sample(t, i), ref, sizeof ref, &rlen);
		if (!p) die("encode failed");
		memmove(ref, p, rlen);
		for (size_t k = 1; k < NCODECS; k++) {
			p = t->codecs[k].enc(sample(t, i), out, sizeof out, &len);
			if (!p || len != rlen || memcmp(p, ref, len) != 0) {
				fprintf(stderr, "codec_bench: %s #%zu: %s and %s write different msgpack\n",
					t->name, i, t->codecs[0].name, t->codecs[k].name);
				exit(1);
			}
		}
		if (blob_bytes + rlen > sizeof blob) die("blob too small");
		memcpy(blob + blob_bytes, ref, rlen);
		blob_off[i] = (uint32_t)blob_bytes;
		blob_len[i] = (uint32_t)rlen;
		blob_bytes += rlen;
		for (size_t k = 0; k < NCODECS; k++) {
			memset(rec, 0, t->size);
			if (t->codecs[k].dec(ref, rlen, rec) != 0 || !t->equal(rec, sample(t, i))) {
				fprintf(stderr, "codec_bench: %s #%zu: %s does not decode to the original\n",
					t->name, i, t->codecs[k].name);
				exit(1);
			}
			if (t->codecs[k].batch_done) t->codecs[k].batch_done();
		}
	}
}

/* Frames NSAMPLES*8 records with every exchange codec; the buffers must be
 * identical. Leaves codec 0's buffers in *x. */
static void check_exchange(const rtype *t, xbufs *x)
{
	static xbufs y;
	exchange_encode(t, &t->codecs[0], NSAMPLES * 8, x);
	for (size_t k = 1; k < NCODECS; k++) {
		if (!(t->codecs[k].paths & ON_EXCHANGE)) continue;
		exchange_encode(t, &t->codecs[k], NSAMPLES * 8, &y);
		int same = y.n == x->n;
		for (size_t i = 0; same && i < x->n; i++)
			same = y.len[i] == x->len[i] && !memcmp(y.data[i], x->data[i], x->len[i]);
		xbufs_free(&y);
		if (!same) {
			fprintf(stderr, "codec_bench: %s: %s and %s frame different exchange buffers\n",
				t->name, t->codecs[0].name, t->codecs[k].name);
			exit(1);
		}
	}
}

/* ---- main -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPS 101

int main(int argc, char **argv)
{
	size_t reps = argc > 1 ? strtoul(argv[1], NULL, 10) : 7;
	size_t total = argc > 2 ? strtoul(argv[2], NULL, 10) : 2000000;
	if (reps < 1 || reps > MAX_REPS || total < NSAMPLES) {
		fprintf(stderr, "usage: codec_bench [reps 1..%d] [records >= %d]\n", MAX_REPS, NSAMPLES);
		return 2;
	}
	total = (total + NSAMPLES - 1) / NSAMPLES * NSAMPLES;

	msgpack_sbuffer_init(&sbuf);
	msgpack_unpacked_init(&upk);
	if (!msgpack_zone_init(&zone, 1 << 20)) die("msgpack_zone_init failed");
	make_bids();
	make_words();

	const rtype types[] = {
		{ "bid", bids, sizeof(nexmark_event), 13, bid_codecs, bid_equal, bid_sum },
		{ "word_count", wcs, sizeof(word_count), 5, wc_codecs, wc_equal, wc_sum },
	};
	/* all checks before any figure is printed */
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		static xbufs x;
		check(&types[ti]);
		check_exchange(&types[ti], &x);
		xbufs_free(&x);
	}
	printf("codec_bench: %zu reps, %zu records per measurement, median ns/record and MB/s (1e6 bytes of msgpack)\n",
	       reps, total);
	printf("%-10s %-9s %-26s %9s %9s %9s %9s\n", "record", "path", "codec", "enc ns", "enc MB/s",
	       "dec ns", "dec MB/s");
	for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
		const rtype *t = &types[ti];
		static xbufs x;
		/* again, for the blob and the framed buffers this type's decode
		 * loops read */
		check(t);
		check_exchange(t, &x);
		double avg = (double)blob_bytes / NSAMPLES;
		/* enough passes over the framed set to decode about `total` records */
		size_t xpasses = (total + x.records - 1) / x.records;

		static double enc[2][NCODECS][MAX_REPS], dec[2][NCODECS][MAX_REPS];
		uint64_t ref_sum[2] = { 0, 0 };
		int have_sum[2] = { 0, 0 };
		for (size_t r = 0; r < reps; r++) {
			/* codecs interleaved within a rep, so load on the machine
			 * hits them alike */
			for (size_t k = 0; k < NCODECS; k++) {
				const codec *c = &t->codecs[k];
				uint64_t s;
				if (c->paths & ON_RECORD) {
					size_t bytes;
					enc[0][k][r] =
						record_encode(t, c, total, &bytes) * 1e9 / (double)total;
					dec[0][k][r] = record_decode(t, c, total, &s) * 1e9 / (double)total;
					if (!have_sum[0]++)
						ref_sum[0] = s;
					else if (s != ref_sum[0])
						die("decoded checksums differ");
				}
				if (c->paths & ON_EXCHANGE) {
					enc[1][k][r] =
						exchange_encode(t, c, total, NULL) * 1e9 / (double)total;
					dec[1][k][r] = exchange_decode(t, c, &x, xpasses, &s) * 1e9 /
						(double)(xpasses * x.records);
					if (!have_sum[1]++)
						ref_sum[1] = s;
					else if (s != ref_sum[1])
						die("decoded checksums differ");
				}
			}
		}
		for (int path = 0; path < 2; path++) {
			for (size_t k = 0; k < NCODECS; k++) {
				const codec *c = &t->codecs[k];
				if (!(c->paths & (path ? ON_EXCHANGE : ON_RECORD))) continue;
				double e = median(enc[path][k], reps), d = median(dec[path][k], reps);
				/* MB/s from the average msgpack size of a record */
				printf("%-10s %-9s %-26s %9.1f %9.0f %9.1f %9.0f\n", t->name,
				       path ? "exchange" : "record", c->name, e, avg / e * 1e3, d,
				       avg / d * 1e3);
			}
		}
		printf("%-10s %.1f bytes of msgpack per record on average; %zu records per 32 KB buffer\n",
		       t->name, avg, x.records / x.n);
		xbufs_free(&x);
	}
	msgpack_sbuffer_destroy(&sbuf);
	msgpack_unpacked_destroy(&upk);
	msgpack_zone_destroy(&zone);
	return 0;
}
