/*
 * nexmark.c - the Nexmark benchmark queries q0-q9, q11, q12, q14, q21 and q22
 * as a flinc job (definitions, formats and plans in docs/nexmark.md).
 *
 *   nexmark.so --query N [--events N] [--rate R] [--seed S] [--event-rate R]
 *              [--input FILE|datagen] [--output ADDR] [--watermark-delay MS]
 *
 * Source: the built-in generator (jobs/common/nexmark_gen.c) as a datagen
 * source, or a file in the Nexmark line format written by
 * `flinc-gen nexmark`, parsed by a flat_map (malformed lines are rejected and
 * counted). Output: JSON lines (field names as in the Nexmark Flink SQL
 * queries, times as epoch milliseconds) to --output, written by
 * flinc_fields_json from each query's output field list; without --output
 * the results are discarded (benchmarks).
 *
 * Keys are 8-byte big-endian ids. Every stateful operator has a uid.
 */
#include <flinc/flinc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexmark_gen.h"

#define WINDOW_MS 10000 /* q5 window, q7 and q8 tumbling windows */
#define Q5_SLIDE_MS 2000
#define Q7_PARTITIONS 256 /* keys of q7's first (partial max) stage */

/* ---- small helpers --------------------------------------------------- */

static inline void put_be64(uint8_t *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint64_t get_be64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
	return v;
}

static inline size_t key_u64(uint8_t *buf, int64_t v)
{
	put_be64(buf, (uint64_t)v);
	return 8;
}

/* The id a keyed operator is working on (8-byte key). */
static int64_t current_key(flinc_ctx *c)
{
	size_t len = 0;
	const uint8_t *k = flinc_ctx_key(c, &len);
	return k && len == 8 ? (int64_t)get_be64(k) : 0;
}

/* Start of the window of `size` ms holding ts (windows aligned to the epoch,
 * as Flink's with offset 0). */
static inline int64_t window_start(int64_t ts, int64_t size)
{
	int64_t r = ts % size;
	return ts - (r < 0 ? r + size : r);
}

/* nexmark_str fields go through FLINC_FIELD_STR: same layout as flinc_str. */
_Static_assert(sizeof(nexmark_str) == sizeof(flinc_str) &&
		       offsetof(nexmark_str, len) == offsetof(flinc_str, len),
	       "nexmark_str must match flinc_str");

#define FL_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- record types ---------------------------------------------------- */

/* nexmark_event: [kind, [fields in the order of the line format]], one
 * field table per kind (offsets into the event's union). */
#define EV(member, kind) FLINC_FIELD(nexmark_event, member, kind)
static const flinc_field person_fields[] = {
	EV(u.person.id, FLINC_FIELD_I64),        EV(u.person.name, FLINC_FIELD_STR),
	EV(u.person.email, FLINC_FIELD_STR),     EV(u.person.credit_card, FLINC_FIELD_STR),
	EV(u.person.city, FLINC_FIELD_STR),      EV(u.person.state, FLINC_FIELD_STR),
	EV(u.person.date_time, FLINC_FIELD_I64), EV(u.person.extra, FLINC_FIELD_STR),
};
static const flinc_field auction_fields[] = {
	EV(u.auction.id, FLINC_FIELD_I64),          EV(u.auction.item_name, FLINC_FIELD_STR),
	EV(u.auction.description, FLINC_FIELD_STR), EV(u.auction.initial_bid, FLINC_FIELD_I64),
	EV(u.auction.reserve, FLINC_FIELD_I64),     EV(u.auction.date_time, FLINC_FIELD_I64),
	EV(u.auction.expires, FLINC_FIELD_I64),     EV(u.auction.seller, FLINC_FIELD_I64),
	EV(u.auction.category, FLINC_FIELD_I64),    EV(u.auction.extra, FLINC_FIELD_STR),
};
static const flinc_field bid_fields[] = {
	EV(u.bid.auction, FLINC_FIELD_I64), EV(u.bid.bidder, FLINC_FIELD_I64),
	EV(u.bid.price, FLINC_FIELD_I64),   EV(u.bid.channel, FLINC_FIELD_STR),
	EV(u.bid.url, FLINC_FIELD_STR),     EV(u.bid.date_time, FLINC_FIELD_I64),
	EV(u.bid.extra, FLINC_FIELD_STR),
};
#undef EV
static const struct {
	const flinc_field *f;
	size_t n;
} event_fields[] = {
	[NEXMARK_PERSON] = { person_fields, FL_COUNT(person_fields) },
	[NEXMARK_AUCTION] = { auction_fields, FL_COUNT(auction_fields) },
	[NEXMARK_BID] = { bid_fields, FL_COUNT(bid_fields) },
};

static int event_encode(const void *rec, flinc_writer *w)
{
	const nexmark_event *e = rec;
	if ((unsigned)e->kind > NEXMARK_BID) return -1;
	flinc_w_array(w, 2);
	flinc_w_uint(w, e->kind);
	return flinc_fields_encode(event_fields[e->kind].f, event_fields[e->kind].n, rec, w);
}

static int event_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	nexmark_event *e = rec;
	if (flinc_r_array(r) != 2) return -1;
	int64_t kind = flinc_r_int(r);
	if (r->err || kind < NEXMARK_PERSON || kind > NEXMARK_BID) return -1;
	e->kind = (nexmark_kind)kind;
	return flinc_fields_decode(event_fields[kind].f, event_fields[kind].n, r, rec) ? -1 : 0;
}

static const flinc_type event_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "nexmark.Event",
	.size = sizeof(nexmark_event),
	.encode = event_encode,
	.decode = event_decode,
};

/* q1: a bid with its price in euro thousandths (0.908 * price, exact). */
typedef struct q1_bid {
	int64_t auction, bidder;
	int64_t price_milli; /* DECIMAL(23,3) as an integer count of 0.001 */
	int64_t date_time;
	nexmark_str extra;
} q1_bid;

/* Named as in the output (names are not encoded; the decimal is an int64). */
FLINC_STRUCT_TYPE(q1_type, q1_bid, "nexmark.Q1Bid", 0, FLINC_FIELD(q1_bid, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q1_bid, bidder, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q1_bid, price_milli, FLINC_FIELD_DECIMAL(3), "price"),
		  FLINC_FIELD_NAMED(q1_bid, date_time, FLINC_FIELD_I64, "dateTime"),
		  FLINC_FIELD(q1_bid, extra, FLINC_FIELD_STR));

/* q2: (auction, price). POD. */
typedef struct q2_row {
	int64_t auction, price;
} q2_row;

FLINC_STRUCT_TYPE(q2_type, q2_row, "nexmark.Q2Row", FLINC_TYPE_POD,
		  FLINC_FIELD(q2_row, auction, FLINC_FIELD_I64), FLINC_FIELD(q2_row, price, FLINC_FIELD_I64));

/* q3: a person as the join keeps it; `match` = lives in OR, ID or CA (the
 * others are kept without their strings so auctions waiting for them can be
 * dropped). */
typedef struct q3_person {
	int64_t id;
	int64_t match;
	nexmark_str name, city, state;
} q3_person;

FLINC_STRUCT_TYPE(q3_person_type, q3_person, "nexmark.Q3Person", 0,
		  FLINC_FIELD(q3_person, id, FLINC_FIELD_I64), FLINC_FIELD(q3_person, match, FLINC_FIELD_I64),
		  FLINC_FIELD(q3_person, name, FLINC_FIELD_STR),
		  FLINC_FIELD(q3_person, city, FLINC_FIELD_STR),
		  FLINC_FIELD(q3_person, state, FLINC_FIELD_STR));

/* q3: an auction of category 10 (id, seller). POD. */
typedef struct q3_auction {
	int64_t id, seller;
} q3_auction;

FLINC_STRUCT_TYPE(q3_auction_type, q3_auction, "nexmark.Q3Auction", FLINC_TYPE_POD,
		  FLINC_FIELD(q3_auction, id, FLINC_FIELD_I64),
		  FLINC_FIELD(q3_auction, seller, FLINC_FIELD_I64));

/* q3 result: (name, city, state, id). */
typedef struct q3_row {
	nexmark_str name, city, state;
	int64_t id;
} q3_row;

FLINC_STRUCT_TYPE(q3_row_type, q3_row, "nexmark.Q3Row", 0, FLINC_FIELD(q3_row, name, FLINC_FIELD_STR),
		  FLINC_FIELD(q3_row, city, FLINC_FIELD_STR), FLINC_FIELD(q3_row, state, FLINC_FIELD_STR),
		  FLINC_FIELD(q3_row, id, FLINC_FIELD_I64));

/* q5: bid count of one auction in one window. POD. */
typedef struct q5_count {
	int64_t auction, num, start, end;
} q5_count;

/* Named as in the output (names are not encoded). */
FLINC_STRUCT_TYPE(q5_type, q5_count, "nexmark.Q5Count", FLINC_TYPE_POD,
		  FLINC_FIELD(q5_count, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q5_count, num, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q5_count, start, FLINC_FIELD_I64, "starttime"),
		  FLINC_FIELD_NAMED(q5_count, end, FLINC_FIELD_I64, "endtime"));

/* q7: the bid fields the query outputs. */
typedef struct q7_bid {
	int64_t auction, bidder, price, date_time;
	nexmark_str extra;
} q7_bid;

#define Q7_BID_FIELDS(ctype, pre)                                                                          \
	FLINC_FIELD(ctype, pre auction, FLINC_FIELD_I64), FLINC_FIELD(ctype, pre bidder, FLINC_FIELD_I64), \
		FLINC_FIELD(ctype, pre price, FLINC_FIELD_I64),                                            \
		FLINC_FIELD(ctype, pre date_time, FLINC_FIELD_I64),                                        \
		FLINC_FIELD(ctype, pre extra, FLINC_FIELD_STR)
FLINC_STRUCT_TYPE(q7_bid_type, q7_bid, "nexmark.Q7Bid", 0, Q7_BID_FIELDS(q7_bid, ));

/* q7: a candidate for the window ending at `wend`: a partition's max bid
 * (edge = 0), or a bid made exactly at wend (edge = 1, see docs). */
typedef struct q7_cand {
	int64_t edge;
	int64_t wend;
	q7_bid bid;
} q7_cand;

FLINC_STRUCT_TYPE(q7_cand_type, q7_cand, "nexmark.Q7Candidate", 0,
		  FLINC_FIELD(q7_cand, edge, FLINC_FIELD_I64), FLINC_FIELD(q7_cand, wend, FLINC_FIELD_I64),
		  Q7_BID_FIELDS(q7_cand, bid.));

/* q7 stage 1 state: max price of a window in a partition, and how many bids
 * have it. POD. */
typedef struct q7_best {
	int64_t price, n;
} q7_best;

FLINC_STRUCT_TYPE(q7_best_type, q7_best, "nexmark.Q7Best", FLINC_TYPE_POD,
		  FLINC_FIELD(q7_best, price, FLINC_FIELD_I64), FLINC_FIELD(q7_best, n, FLINC_FIELD_I64));

/* q8: a new person (id, name). */
typedef struct q8_person {
	int64_t id;
	nexmark_str name;
} q8_person;

FLINC_STRUCT_TYPE(q8_person_type, q8_person, "nexmark.Q8Person", 0,
		  FLINC_FIELD(q8_person, id, FLINC_FIELD_I64), FLINC_FIELD(q8_person, name, FLINC_FIELD_STR));

/* q8 state per (person id, window): seen as a person / as a seller. */
typedef struct q8_slot {
	int64_t person, auction;
	nexmark_str name;
} q8_slot;

FLINC_STRUCT_TYPE(q8_slot_type, q8_slot, "nexmark.Q8Slot", 0, FLINC_FIELD(q8_slot, person, FLINC_FIELD_I64),
		  FLINC_FIELD(q8_slot, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q8_slot, name, FLINC_FIELD_STR));

/* q8 result: (id, name, stime). */
typedef struct q8_row {
	int64_t id;
	nexmark_str name;
	int64_t stime;
} q8_row;

FLINC_STRUCT_TYPE(q8_row_type, q8_row, "nexmark.Q8Row", 0, FLINC_FIELD(q8_row, id, FLINC_FIELD_I64),
		  FLINC_FIELD(q8_row, name, FLINC_FIELD_STR), FLINC_FIELD(q8_row, stime, FLINC_FIELD_I64));

/* ---- sources --------------------------------------------------------- */

static bool gen_event(flinc_ctx *c, uint64_t index, void *out)
{
	const nexmark_gen_cfg *cfg = flinc_ctx_arg(c);
	char *scratch = flinc_arena_alloc(flinc_ctx_arena(c), NEXMARK_SCRATCH_MAX);
	if (!scratch) return false;
	nexmark_gen_event(cfg, index, out, scratch, NEXMARK_SCRATCH_MAX);
	return true;
}

static void parse_line(flinc_ctx *c, const void *in)
{
	const flinc_line *l = in;
	nexmark_event ev;
	const char *why = NULL;
	if (nexmark_parse_line(l->s, l->len, &ev, &why) != 0) {
		flinc_ctx_reject(c, why ? why : "malformed Nexmark line");
		return;
	}
	flinc_emit(c, &ev);
}

static int64_t event_ts(const void *rec) { return nexmark_event_time(rec); }

/* ---- q0: pass-through ------------------------------------------------ */

static bool is_bid(flinc_ctx *c, const void *in)
{
	(void)c;
	return ((const nexmark_event *)in)->kind == NEXMARK_BID;
}

/* The bid's fields that Nexmark's q0 selects (not channel and url). */
static const flinc_field q0_out[] = {
	FLINC_FIELD_NAMED(nexmark_event, u.bid.auction, FLINC_FIELD_I64, "auction"),
	FLINC_FIELD_NAMED(nexmark_event, u.bid.bidder, FLINC_FIELD_I64, "bidder"),
	FLINC_FIELD_NAMED(nexmark_event, u.bid.price, FLINC_FIELD_I64, "price"),
	FLINC_FIELD_NAMED(nexmark_event, u.bid.date_time, FLINC_FIELD_I64, "dateTime"),
	FLINC_FIELD_NAMED(nexmark_event, u.bid.extra, FLINC_FIELD_STR, "extra"),
};
FLINC_JSON_FORMAT(fmt_q0, q0_out)

/* ---- q1: currency conversion ----------------------------------------- */

/* |price| above this would overflow price * 908. */
#define Q1_PRICE_MAX (INT64_MAX / 908)

static void q1_convert(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	const nexmark_bid *b = &e->u.bid;
	if (b->price > Q1_PRICE_MAX || b->price < -Q1_PRICE_MAX) {
		flinc_ctx_reject(c, "q1: price out of range");
		return;
	}
	q1_bid out = { b->auction, b->bidder, b->price * 908, b->date_time, b->extra };
	flinc_emit(c, &out);
}

FLINC_JSON_FORMAT(fmt_q1, q1_type_fields)

/* ---- q2: selection --------------------------------------------------- */

static void q2_select(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID || e->u.bid.auction % 123 != 0) return;
	q2_row out = { e->u.bid.auction, e->u.bid.price };
	flinc_emit(c, &out);
}

FLINC_JSON_FORMAT(fmt_q2, q2_type_fields)

/* ---- q3: local item suggestion (incremental join) -------------------- */

static bool str_is(nexmark_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.p, lit, n) == 0;
}

static void q3_persons(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_PERSON) return;
	const nexmark_person *p = &e->u.person;
	q3_person out = { .id = p->id };
	if (str_is(p->state, "OR") || str_is(p->state, "ID") || str_is(p->state, "CA")) {
		out.match = 1;
		out.name = p->name;
		out.city = p->city;
		out.state = p->state;
	}
	flinc_emit(c, &out);
}

static void q3_auctions(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_AUCTION || e->u.auction.category != 10) return;
	q3_auction out = { e->u.auction.id, e->u.auction.seller };
	flinc_emit(c, &out);
}

static size_t key_q3_person(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q3_person *)rec)->id);
}

static size_t key_q3_seller(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q3_auction *)rec)->seller);
}

typedef struct q3_local {
	flinc_state *person;  /* value: q3_person, once the person was seen */
	flinc_state *pending; /* list: ids of auctions that came before their seller */
} q3_local;

static int q3_open(flinc_ctx *c, void *local)
{
	q3_local *l = local;
	l->person = flinc_state_value(c, "person", &q3_person_type);
	l->pending = flinc_state_list(c, "pending", &flinc_type_i64);
	return l->person && l->pending ? FLINC_OK : FLINC_ESTATE;
}

typedef struct q3_flush {
	flinc_ctx *c;
	const q3_person *p;
} q3_flush;

static int q3_emit_pending(void *ud, const void *v)
{
	const q3_flush *f = ud;
	q3_row out = { f->p->name, f->p->city, f->p->state, *(const int64_t *)v };
	flinc_emit(f->c, &out);
	return 0;
}

/* A person: remember it; auctions that were waiting for it join now. */
static void q3_on_person(flinc_ctx *c, void *local, const void *in)
{
	q3_local *l = local;
	const q3_person *p = in;
	flinc_value_put(l->person, p);
	q3_flush f = { c, p };
	if (p->match) flinc_list_foreach(l->pending, q3_emit_pending, &f);
	flinc_state_clear(l->pending);
}

/* An auction of category 10: join with its seller, or wait for it. */
static void q3_on_auction(flinc_ctx *c, void *local, const void *in)
{
	q3_local *l = local;
	const q3_auction *a = in;
	const q3_person *p = flinc_value_get(l->person);
	if (!p) {
		flinc_list_add(l->pending, &a->id);
		return;
	}
	if (p->match) {
		q3_row out = { p->name, p->city, p->state, a->id };
		flinc_emit(c, &out);
	}
}

static const flinc_process_fn q3_join = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q3_local),
	.open = q3_open,
	.process = q3_on_person,
	.process2 = q3_on_auction,
};

FLINC_JSON_FORMAT(fmt_q3, q3_row_type_fields)

/* ---- q5: hot items --------------------------------------------------- */

static void q5_bid_auction(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind == NEXMARK_BID) flinc_emit(c, &e->u.bid.auction);
}

static size_t key_i64(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, *(const int64_t *)rec);
}

static void count_add(void *acc, const void *in)
{
	(void)in;
	++*(int64_t *)acc;
}

static void count_merge(void *acc, const void *other) { *(int64_t *)acc += *(const int64_t *)other; }

static void q5_count_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	q5_count out = { current_key(c), *(const int64_t *)acc, w->start, w->end };
	flinc_emit(c, &out);
}

static const flinc_window_fn q5_count_fn = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &flinc_type_i64,
	.add = count_add,
	.merge = count_merge,
	.emit = q5_count_emit,
};

static size_t key_q5_end(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q5_count *)rec)->end);
}

typedef struct q5_local {
	flinc_state *max; /* value: int64, the highest count of the window so far */
	flinc_state *top; /* list: q5_count of the auctions with that count */
} q5_local;

static int q5_open(flinc_ctx *c, void *local)
{
	q5_local *l = local;
	l->max = flinc_state_value(c, "max", &flinc_type_i64);
	l->top = flinc_state_list(c, "top", &q5_type);
	return l->max && l->top ? FLINC_OK : FLINC_ESTATE;
}

/* Keyed by window end: keep the auctions with the highest count. */
static void q5_on_count(flinc_ctx *c, void *local, const void *in)
{
	q5_local *l = local;
	const q5_count *x = in;
	const int64_t *mx = flinc_value_get(l->max);
	if (!mx) {
		flinc_value_put(l->max, &x->num);
		flinc_list_add(l->top, x);
		/* The counts of this window all carry timestamp end - 1. */
		flinc_timer_register(c, FLINC_EVENT_TIME, x->end - 1);
		return;
	}
	int64_t max = *mx;
	if (x->num > max) {
		flinc_state_clear(l->top);
		flinc_list_add(l->top, x);
		flinc_value_put(l->max, &x->num);
	} else if (x->num == max) {
		flinc_list_add(l->top, x);
	}
}

static int emit_each(void *ud, const void *v)
{
	flinc_emit(ud, v);
	return 0;
}

static void q5_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)ts;
	(void)d;
	q5_local *l = local;
	flinc_list_foreach(l->top, emit_each, c);
	flinc_state_clear(l->top);
	flinc_state_clear(l->max);
}

static const flinc_process_fn q5_max = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q5_local),
	.open = q5_open,
	.process = q5_on_count,
	.on_timer = q5_on_timer,
};

FLINC_JSON_FORMAT(fmt_q5, q5_type_fields)

/* ---- q7: highest bid ------------------------------------------------- */

static void q7_bids(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	const nexmark_bid *b = &e->u.bid;
	q7_bid out = { b->auction, b->bidder, b->price, b->date_time, b->extra };
	flinc_emit(c, &out);
}

/* Spread bids evenly over Q7_PARTITIONS keys (by auction alone, the hot
 * auction would make one key take half the bids). */
static size_t key_q7_partition(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	const q7_bid *b = rec;
	uint64_t h = (uint64_t)b->auction * UINT64_C(0x9e3779b97f4a7c15) ^
		(uint64_t)b->bidder * UINT64_C(0xc2b2ae3d27d4eb4f) ^
		(uint64_t)b->price * UINT64_C(0x165667b19e3779f9) ^ (uint64_t)b->date_time;
	h ^= h >> 29;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	return key_u64(buf, (int64_t)((h >> 32) % Q7_PARTITIONS));
}

static size_t key_q7_wend(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q7_cand *)rec)->wend);
}

typedef struct q7p_local {
	flinc_state *best; /* map: window start (8 bytes) -> q7_best */
	flinc_state *bids; /* map: window start + tie index (12 bytes) -> q7_bid */
} q7p_local;

static int q7p_open(flinc_ctx *c, void *local)
{
	q7p_local *l = local;
	l->best = flinc_state_map(c, "best", &q7_best_type);
	l->bids = flinc_state_map(c, "bids", &q7_bid_type);
	return l->best && l->bids ? FLINC_OK : FLINC_ESTATE;
}

static inline void tie_key(uint8_t k[12], int64_t ws, int64_t i)
{
	put_be64(k, (uint64_t)ws);
	k[8] = (uint8_t)(i >> 24);
	k[9] = (uint8_t)(i >> 16);
	k[10] = (uint8_t)(i >> 8);
	k[11] = (uint8_t)i;
}

/* Stage 1, keyed by partition: per window, the bids with the highest price. */
static void q7p_on_bid(flinc_ctx *c, void *local, const void *in)
{
	q7p_local *l = local;
	const q7_bid *b = in;
	int64_t ws = window_start(b->date_time, WINDOW_MS);
	uint8_t wk[8], tk[12];

	/* A bid made exactly at a window end also joins that window's max in
	 * the SQL (BETWEEN is inclusive): hand it to stage 2 right away. */
	if (b->date_time == ws) {
		q7_cand edge = { 1, ws, *b };
		flinc_emit(c, &edge);
	}

	put_be64(wk, (uint64_t)ws);
	const q7_best *cur = flinc_mapst_get(l->best, wk, 8);
	if (!cur) {
		q7_best nb = { b->price, 1 };
		flinc_mapst_put(l->best, wk, 8, &nb);
		tie_key(tk, ws, 0);
		flinc_mapst_put(l->bids, tk, 12, b);
		flinc_timer_register(c, FLINC_EVENT_TIME, ws + WINDOW_MS - 1);
		return;
	}
	q7_best v = *cur;
	if (b->price > v.price) {
		for (int64_t i = 1; i < v.n; i++) {
			tie_key(tk, ws, i);
			flinc_mapst_remove(l->bids, tk, 12);
		}
		tie_key(tk, ws, 0);
		flinc_mapst_put(l->bids, tk, 12, b);
		q7_best nb = { b->price, 1 };
		flinc_mapst_put(l->best, wk, 8, &nb);
	} else if (b->price == v.price) {
		tie_key(tk, ws, v.n);
		flinc_mapst_put(l->bids, tk, 12, b);
		v.n++;
		flinc_mapst_put(l->best, wk, 8, &v);
	}
}

static void q7p_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q7p_local *l = local;
	int64_t ws = ts - (WINDOW_MS - 1);
	uint8_t wk[8], tk[12];
	put_be64(wk, (uint64_t)ws);
	const q7_best *cur = flinc_mapst_get(l->best, wk, 8);
	if (!cur) return;
	int64_t n = cur->n;
	for (int64_t i = 0; i < n; i++) {
		tie_key(tk, ws, i);
		const q7_bid *b = flinc_mapst_get(l->bids, tk, 12);
		if (b) {
			q7_cand out = { 0, ws + WINDOW_MS, *b };
			flinc_emit(c, &out);
		}
		flinc_mapst_remove(l->bids, tk, 12);
	}
	flinc_mapst_remove(l->best, wk, 8);
}

static const flinc_process_fn q7_partial = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q7p_local),
	.open = q7p_open,
	.process = q7p_on_bid,
	.on_timer = q7p_on_timer,
};

typedef struct q7m_local {
	flinc_state *max;   /* value: int64, highest price of the window so far */
	flinc_state *top;   /* list: q7_bid with that price */
	flinc_state *edges; /* list: q7_bid made exactly at the window end */
} q7m_local;

static int q7m_open(flinc_ctx *c, void *local)
{
	q7m_local *l = local;
	l->max = flinc_state_value(c, "max", &flinc_type_i64);
	l->top = flinc_state_list(c, "top", &q7_bid_type);
	l->edges = flinc_state_list(c, "edges", &q7_bid_type);
	return l->max && l->top && l->edges ? FLINC_OK : FLINC_ESTATE;
}

/* Stage 2, keyed by window end: the global max over the partitions. */
static void q7m_on_cand(flinc_ctx *c, void *local, const void *in)
{
	q7m_local *l = local;
	const q7_cand *x = in;
	/* Fire once the window's end itself is complete (edge bids carry it). */
	flinc_timer_register(c, FLINC_EVENT_TIME, x->wend);
	if (x->edge) {
		flinc_list_add(l->edges, &x->bid);
		return;
	}
	const int64_t *mx = flinc_value_get(l->max);
	if (!mx || x->bid.price > *mx) {
		flinc_state_clear(l->top);
		flinc_list_add(l->top, &x->bid);
		flinc_value_put(l->max, &x->bid.price);
	} else if (x->bid.price == *mx) {
		flinc_list_add(l->top, &x->bid);
	}
}

typedef struct q7_edge_ud {
	flinc_ctx *c;
	int64_t max;
} q7_edge_ud;

static int q7_emit_edge(void *ud, const void *v)
{
	const q7_edge_ud *u = ud;
	const q7_bid *b = v;
	if (b->price == u->max) flinc_emit(u->c, b);
	return 0;
}

static void q7m_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)ts;
	(void)d;
	q7m_local *l = local;
	const int64_t *mx = flinc_value_get(l->max);
	if (mx) {
		q7_edge_ud u = { c, *mx };
		flinc_list_foreach(l->top, emit_each, c);
		flinc_list_foreach(l->edges, q7_emit_edge, &u);
	}
	flinc_state_clear(l->top);
	flinc_state_clear(l->edges);
	flinc_state_clear(l->max);
}

static const flinc_process_fn q7_max = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q7m_local),
	.open = q7m_open,
	.process = q7m_on_cand,
	.on_timer = q7m_on_timer,
};

/* q7's output order puts price before bidder; q7_bid_type keeps its own
 * order, which is the encoding of the bids in q7's state. */
static const flinc_field q7_out[] = {
	FLINC_FIELD(q7_bid, auction, FLINC_FIELD_I64),
	FLINC_FIELD(q7_bid, price, FLINC_FIELD_I64),
	FLINC_FIELD(q7_bid, bidder, FLINC_FIELD_I64),
	FLINC_FIELD_NAMED(q7_bid, date_time, FLINC_FIELD_I64, "dateTime"),
	FLINC_FIELD(q7_bid, extra, FLINC_FIELD_STR),
};
FLINC_JSON_FORMAT(fmt_q7, q7_out)

/* ---- q8: monitor new users ------------------------------------------- */

static void q8_persons(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_PERSON) return;
	q8_person out = { e->u.person.id, e->u.person.name };
	flinc_emit(c, &out);
}

static void q8_sellers(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind == NEXMARK_AUCTION) flinc_emit(c, &e->u.auction.seller);
}

static size_t key_q8_person(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q8_person *)rec)->id);
}

typedef struct q8_local {
	flinc_state *win; /* map: window start (8 bytes) -> q8_slot */
} q8_local;

static int q8_open(flinc_ctx *c, void *local)
{
	q8_local *l = local;
	l->win = flinc_state_map(c, "win", &q8_slot_type);
	return l->win ? FLINC_OK : FLINC_ESTATE;
}

static void q8_on_person(flinc_ctx *c, void *local, const void *in)
{
	q8_local *l = local;
	const q8_person *p = in;
	int64_t ws = window_start(flinc_ctx_timestamp(c), WINDOW_MS);
	uint8_t wk[8];
	put_be64(wk, (uint64_t)ws);
	const q8_slot *cur = flinc_mapst_get(l->win, wk, 8);
	q8_slot s = { 0 };
	if (cur)
		s.auction = cur->auction;
	else
		flinc_timer_register(c, FLINC_EVENT_TIME, ws + WINDOW_MS - 1);
	s.person = 1;
	s.name = p->name;
	flinc_mapst_put(l->win, wk, 8, &s);
}

static void q8_on_seller(flinc_ctx *c, void *local, const void *in)
{
	(void)in;
	q8_local *l = local;
	int64_t ws = window_start(flinc_ctx_timestamp(c), WINDOW_MS);
	uint8_t wk[8];
	put_be64(wk, (uint64_t)ws);
	const q8_slot *cur = flinc_mapst_get(l->win, wk, 8);
	if (cur && cur->auction) return;
	q8_slot s = { 0 };
	if (cur) {
		/* Copy the name out of state memory before writing state. */
		s.person = cur->person;
		s.name.len = cur->name.len;
		s.name.p = flinc_arena_strndup(flinc_ctx_arena(c), cur->name.p, cur->name.len);
	} else {
		flinc_timer_register(c, FLINC_EVENT_TIME, ws + WINDOW_MS - 1);
	}
	s.auction = 1;
	flinc_mapst_put(l->win, wk, 8, &s);
}

static void q8_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q8_local *l = local;
	int64_t ws = ts - (WINDOW_MS - 1);
	uint8_t wk[8];
	put_be64(wk, (uint64_t)ws);
	const q8_slot *s = flinc_mapst_get(l->win, wk, 8);
	if (s && s->person && s->auction) {
		q8_row out = { current_key(c), s->name, ws };
		flinc_emit(c, &out);
	}
	flinc_mapst_remove(l->win, wk, 8);
}

static const flinc_process_fn q8_join = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q8_local),
	.open = q8_open,
	.process = q8_on_person,
	.process2 = q8_on_seller,
	.on_timer = q8_on_timer,
};

FLINC_JSON_FORMAT(fmt_q8, q8_row_type_fields)

/* ---- closed auctions: the join of q4, q6 and q9 ------------------------ */

/* q4, q6 and q9 join each auction with its bids made between its dateTime
 * and its expiry (both included), like the SQL's regular join with
 * `B.dateTime BETWEEN A.dateTime AND A.expires`. Keyed by auction id, the
 * auction's state lives until an event-time timer at `expires` closes it;
 * then no more bid can join (the input is ordered up to the watermark
 * delay), and the result carries the timestamp `expires`. A bid may reach the
 * operator before its auction (other subtask, same millisecond): it waits in
 * `early` unless the watermark is already at its dateTime (then an auction it
 * could join, dateTime <= the bid's, would have come). */

/* q4 and q6: what the auction's close needs, POD. */
typedef struct q4_auction {
	int64_t id, seller, category, date_time, expires;
} q4_auction;

FLINC_STRUCT_TYPE(q4_auction_type, q4_auction, "nexmark.Q4Auction", FLINC_TYPE_POD,
		  FLINC_FIELD(q4_auction, id, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_auction, seller, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_auction, category, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_auction, date_time, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_auction, expires, FLINC_FIELD_I64));

/* q4 and q6: a bid (auction, price, dateTime), POD. */
typedef struct q4_bid {
	int64_t auction, price, date_time;
} q4_bid;

FLINC_STRUCT_TYPE(q4_bid_type, q4_bid, "nexmark.Q4Bid", FLINC_TYPE_POD,
		  FLINC_FIELD(q4_bid, auction, FLINC_FIELD_I64), FLINC_FIELD(q4_bid, price, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_bid, date_time, FLINC_FIELD_I64));

/* A closed auction with bids: its highest price (`final`), POD. */
typedef struct q4_closed {
	int64_t id, seller, category, expires, final;
} q4_closed;

FLINC_STRUCT_TYPE(q4_closed_type, q4_closed, "nexmark.Q4Closed", FLINC_TYPE_POD,
		  FLINC_FIELD(q4_closed, id, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_closed, seller, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_closed, category, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_closed, expires, FLINC_FIELD_I64),
		  FLINC_FIELD(q4_closed, final, FLINC_FIELD_I64));

static void q4_auctions(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_AUCTION) return;
	const nexmark_auction *a = &e->u.auction;
	q4_auction out = { a->id, a->seller, a->category, a->date_time, a->expires };
	flinc_emit(c, &out);
}

static void q4_bids(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	q4_bid out = { e->u.bid.auction, e->u.bid.price, e->u.bid.date_time };
	flinc_emit(c, &out);
}

static size_t key_q4_auction(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q4_auction *)rec)->id);
}

static size_t key_q4_bid(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q4_bid *)rec)->auction);
}

typedef struct q4c_local {
	flinc_state *auction; /* value: q4_auction until it closes */
	flinc_state *best;    /* value: int64, highest price of a joining bid */
	flinc_state *early;   /* list: q4_bid that came before the auction */
} q4c_local;

static int q4c_open(flinc_ctx *c, void *local)
{
	q4c_local *l = local;
	l->auction = flinc_state_value(c, "auction", &q4_auction_type);
	l->best = flinc_state_value(c, "best", &flinc_type_i64);
	l->early = flinc_state_list(c, "early", &q4_bid_type);
	return l->auction && l->best && l->early ? FLINC_OK : FLINC_ESTATE;
}

static void q4c_fold(q4c_local *l, int64_t price)
{
	bool created = false;
	int64_t *best = flinc_value_mut(l->best, &created);
	if (best && (created || price > *best)) *best = price;
}

static void q4c_on_bid(flinc_ctx *c, void *local, const void *in)
{
	q4c_local *l = local;
	const q4_bid *b = in;
	const q4_auction *a = flinc_value_get(l->auction);
	if (a) {
		if (b->date_time >= a->date_time && b->date_time <= a->expires) q4c_fold(l, b->price);
		return;
	}
	if (b->date_time <= flinc_ctx_watermark(c)) return; /* closed or never joins */
	flinc_list_add(l->early, b);
	flinc_timer_register(c, FLINC_EVENT_TIME, b->date_time); /* drops it if no auction came */
}

typedef struct q4_early_ud {
	int64_t from, to, best;
	bool any;
} q4_early_ud;

static int q4_early_fold(void *ud, const void *v)
{
	q4_early_ud *u = ud;
	const q4_bid *b = v;
	if (b->date_time >= u->from && b->date_time <= u->to && (!u->any || b->price > u->best)) {
		u->best = b->price;
		u->any = true;
	}
	return 0;
}

static void q4c_on_auction(flinc_ctx *c, void *local, const void *in)
{
	q4c_local *l = local;
	const q4_auction *a = in;
	flinc_value_put(l->auction, a);
	flinc_timer_register(c, FLINC_EVENT_TIME, a->expires);
	q4_early_ud u = { a->date_time, a->expires, 0, false };
	flinc_list_foreach(l->early, q4_early_fold, &u);
	flinc_state_clear(l->early);
	if (u.any) q4c_fold(l, u.best);
}

/* An early bid's timer at ts and no auction: the early bids made at or
 * before ts can no longer join one (an auction still to come has a dateTime
 * after the watermark, which is at ts); the later ones wait on. */
typedef struct early_keep {
	const flinc_type *t;
	size_t size, n, cap;
	char *buf;
	int64_t ts;
	size_t ts_off;
	flinc_arena *a;
	bool oom;
} early_keep;

static int early_keep_one(void *ud, const void *v)
{
	early_keep *k = ud;
	int64_t dt;
	memcpy(&dt, (const char *)v + k->ts_off, sizeof dt);
	if (dt <= k->ts) return 0;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 8;
		char *nb = flinc_arena_alloc(k->a, cap * k->size);
		if (!nb) {
			k->oom = true;
			return 1;
		}
		if (k->n) memcpy(nb, k->buf, k->n * k->size);
		k->buf = nb;
		k->cap = cap;
	}
	memcpy(k->buf + k->n * k->size, v, k->size);
	k->n++;
	return 0;
}

/* Keeps the elements of list `early` (of type t, dateTime at ts_off) made
 * after ts. Strings of kept elements are copied into the arena first. */
static void drop_early(flinc_ctx *c, flinc_state *early, const flinc_type *t, size_t ts_off, int64_t ts,
		       void (*own)(flinc_ctx *c, void *elem))
{
	early_keep k = { .t = t, .size = t->size, .ts = ts, .ts_off = ts_off, .a = flinc_ctx_arena(c) };
	flinc_list_foreach(early, early_keep_one, &k);
	if (k.oom) {
		flinc_ctx_fail(c, "nexmark: out of memory");
		return;
	}
	if (own)
		for (size_t i = 0; i < k.n; i++) own(c, k.buf + i * k.size);
	flinc_state_clear(early);
	for (size_t i = 0; i < k.n; i++) flinc_list_add(early, k.buf + i * k.size);
}

static void q4_drop_early(flinc_ctx *c, flinc_state *early, int64_t ts)
{
	drop_early(c, early, &q4_bid_type, offsetof(q4_bid, date_time), ts, NULL);
}

static void q4c_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q4c_local *l = local;
	const q4_auction *ap = flinc_value_get(l->auction);
	if (!ap) {
		q4_drop_early(c, l->early, ts);
		return;
	}
	if (ts != ap->expires) return; /* an early bid's timer; the auction took them */
	q4_auction a = *ap;
	const int64_t *best = flinc_value_get(l->best);
	if (best) {
		q4_closed out = { a.id, a.seller, a.category, a.expires, *best };
		flinc_emit(c, &out);
	}
	flinc_state_clear(l->auction);
	flinc_state_clear(l->best);
}

static const flinc_process_fn q4_close = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q4c_local),
	.open = q4c_open,
	.process = q4c_on_bid,
	.process2 = q4c_on_auction,
	.on_timer = q4c_on_timer,
};

/* The closed auctions of q4 and q6 (the inner query Q of both). */
static flinc_stream *closed_auctions(flinc_stream *ev)
{
	flinc_stream *bids = flinc_flat_map(ev, "bids", q4_bids, NULL, &q4_bid_type);
	flinc_stream *auctions = flinc_flat_map(ev, "auctions", q4_auctions, NULL, &q4_auction_type);
	flinc_stream *closed =
		flinc_co_process(flinc_key_by(bids, key_q4_bid), flinc_key_by(auctions, key_q4_auction),
				 "auction-close", &q4_close, NULL, &q4_closed_type);
	return flinc_set_uid(closed, "auction-close");
}

/* ---- q4: average price for a category ------------------------------- */

/* q4 result: the average closing price of a category over the auctions
 * closed up to dateTime (AVG of a BIGINT is a BIGINT in Flink SQL: the
 * quotient rounded toward zero). POD. */
typedef struct q4_row {
	int64_t category, avg, date_time;
} q4_row;

FLINC_STRUCT_TYPE(q4_row_type, q4_row, "nexmark.Q4Row", FLINC_TYPE_POD,
		  FLINC_FIELD(q4_row, category, FLINC_FIELD_I64), FLINC_FIELD(q4_row, avg, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q4_row, date_time, FLINC_FIELD_I64, "dateTime"));

/* Sum and count of closing prices. POD. */
typedef struct q4_sum {
	int64_t sum, n;
} q4_sum;

FLINC_STRUCT_TYPE(q4_sum_type, q4_sum, "nexmark.Q4Sum", FLINC_TYPE_POD,
		  FLINC_FIELD(q4_sum, sum, FLINC_FIELD_I64), FLINC_FIELD(q4_sum, n, FLINC_FIELD_I64));

static size_t key_q4_category(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q4_closed *)rec)->category);
}

typedef struct q4a_local {
	flinc_state *sum;     /* value: q4_sum of the closed auctions folded in */
	flinc_state *pending; /* map: closing time (8 bytes) -> q4_sum of the auctions closing then */
} q4a_local;

static int q4a_open(flinc_ctx *c, void *local)
{
	q4a_local *l = local;
	l->sum = flinc_state_value(c, "sum", &q4_sum_type);
	l->pending = flinc_state_map(c, "pending", &q4_sum_type);
	return l->sum && l->pending ? FLINC_OK : FLINC_ESTATE;
}

/* Results come in before the watermark passes their closing time: keep
 * them by closing time until it does, so that the average emitted for time
 * T covers exactly the auctions closed at or before T. */
static void q4a_on_closed(flinc_ctx *c, void *local, const void *in)
{
	q4a_local *l = local;
	const q4_closed *x = in;
	uint8_t k[8];
	put_be64(k, (uint64_t)x->expires);
	const q4_sum *cur = flinc_mapst_get(l->pending, k, 8);
	q4_sum v = { x->final, 1 };
	if (cur) {
		v.sum += cur->sum;
		v.n += cur->n;
	} else {
		flinc_timer_register(c, FLINC_EVENT_TIME, x->expires);
	}
	flinc_mapst_put(l->pending, k, 8, &v);
}

static void q4a_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q4a_local *l = local;
	uint8_t k[8];
	put_be64(k, (uint64_t)ts);
	const q4_sum *p = flinc_mapst_get(l->pending, k, 8);
	if (!p) return;
	q4_sum add = *p;
	flinc_mapst_remove(l->pending, k, 8);
	bool created = false;
	q4_sum *s = flinc_value_mut(l->sum, &created);
	if (!s) return;
	s->sum += add.sum;
	s->n += add.n;
	q4_row out = { current_key(c), s->sum / s->n, ts };
	flinc_emit(c, &out);
}

static const flinc_process_fn q4_avg = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q4a_local),
	.open = q4a_open,
	.process = q4a_on_closed,
	.on_timer = q4a_on_timer,
};

FLINC_JSON_FORMAT(fmt_q4, q4_row_type_fields)

/* ---- q6: average selling price by seller ------------------------------ */

/* AVG(final) OVER (PARTITION BY seller ORDER BY closing time ROWS BETWEEN
 * 10 PRECEDING AND CURRENT ROW): one row per closed auction, the average of
 * its price and the seller's 10 closed before it (auctions closing at the
 * same millisecond ordered by id). */
#define Q6_ROWS 11

typedef struct q6_row {
	int64_t seller, avg, date_time;
} q6_row;

FLINC_STRUCT_TYPE(q6_row_type, q6_row, "nexmark.Q6Row", FLINC_TYPE_POD,
		  FLINC_FIELD(q6_row, seller, FLINC_FIELD_I64), FLINC_FIELD(q6_row, avg, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q6_row, date_time, FLINC_FIELD_I64, "dateTime"));

/* The seller's last Q6_ROWS closing prices, a ring. POD. */
typedef struct q6_hist {
	int64_t n, pos;
	int64_t v[Q6_ROWS];
} q6_hist;

FLINC_STRUCT_TYPE(q6_hist_type, q6_hist, "nexmark.Q6History", FLINC_TYPE_POD,
		  FLINC_FIELD(q6_hist, n, FLINC_FIELD_I64), FLINC_FIELD(q6_hist, pos, FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[0], FLINC_FIELD_I64), FLINC_FIELD(q6_hist, v[1], FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[2], FLINC_FIELD_I64), FLINC_FIELD(q6_hist, v[3], FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[4], FLINC_FIELD_I64), FLINC_FIELD(q6_hist, v[5], FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[6], FLINC_FIELD_I64), FLINC_FIELD(q6_hist, v[7], FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[8], FLINC_FIELD_I64), FLINC_FIELD(q6_hist, v[9], FLINC_FIELD_I64),
		  FLINC_FIELD(q6_hist, v[10], FLINC_FIELD_I64));

static size_t key_q6_seller(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q4_closed *)rec)->seller);
}

typedef struct q6_local {
	flinc_state *hist;    /* value: q6_hist */
	flinc_state *pending; /* map: expires + auction id (16 bytes) -> q4_closed not yet ordered in */
} q6_local;

static int q6_open(flinc_ctx *c, void *local)
{
	q6_local *l = local;
	l->hist = flinc_state_value(c, "history", &q6_hist_type);
	l->pending = flinc_state_map(c, "pending", &q4_closed_type);
	return l->hist && l->pending ? FLINC_OK : FLINC_ESTATE;
}

/* Wait until every auction of the seller closing at this time is in. */
static void q6_on_closed(flinc_ctx *c, void *local, const void *in)
{
	q6_local *l = local;
	const q4_closed *x = in;
	uint8_t k[16];
	put_be64(k, (uint64_t)x->expires);
	put_be64(k + 8, (uint64_t)x->id);
	flinc_mapst_put(l->pending, k, sizeof k, x);
	flinc_timer_register(c, FLINC_EVENT_TIME, x->expires);
}

typedef struct q6_collect {
	int64_t ts;
	size_t n, cap;
	q4_closed *due; /* NULL on the counting pass */
} q6_collect;

static int q6_collect_one(void *ud, const void *uk, size_t uklen, const void *v)
{
	(void)uk;
	(void)uklen;
	q6_collect *u = ud;
	const q4_closed *x = v;
	if (x->expires > u->ts) return 0;
	if (u->due && u->n < u->cap) u->due[u->n] = *x;
	u->n++;
	return 0;
}

static void q6_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q6_local *l = local;
	q6_collect u = { ts, 0, 0, NULL };
	flinc_mapst_foreach(l->pending, q6_collect_one, &u);
	if (u.n == 0) return;
	u.cap = u.n;
	u.n = 0;
	u.due = flinc_arena_alloc(flinc_ctx_arena(c), u.cap * sizeof *u.due);
	if (!u.due) {
		flinc_ctx_fail(c, "q6: out of memory");
		return;
	}
	flinc_mapst_foreach(l->pending, q6_collect_one, &u);
	if (u.n > u.cap) u.n = u.cap;
	/* in (expires, id) order: ties at one millisecond by auction id */
	for (size_t i = 1; i < u.n; i++) {
		q4_closed x = u.due[i];
		size_t j = i;
		for (; j > 0 &&
		     (u.due[j - 1].expires > x.expires ||
		      (u.due[j - 1].expires == x.expires && u.due[j - 1].id > x.id));
		     j--)
			u.due[j] = u.due[j - 1];
		u.due[j] = x;
	}
	for (size_t i = 0; i < u.n; i++) {
		uint8_t k[16];
		put_be64(k, (uint64_t)u.due[i].expires);
		put_be64(k + 8, (uint64_t)u.due[i].id);
		flinc_mapst_remove(l->pending, k, sizeof k);
	}
	bool created = false;
	q6_hist *h = flinc_value_mut(l->hist, &created);
	if (!h) return;
	for (size_t i = 0; i < u.n; i++) {
		h->v[h->pos] = u.due[i].final;
		h->pos = (h->pos + 1) % Q6_ROWS;
		if (h->n < Q6_ROWS) h->n++;
		int64_t sum = 0;
		for (int64_t k = 0; k < h->n; k++) sum += h->v[k];
		q6_row out = { u.due[i].seller, sum / h->n, u.due[i].expires };
		flinc_emit(c, &out);
	}
}

static const flinc_process_fn q6_avg = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q6_local),
	.open = q6_open,
	.process = q6_on_closed,
	.on_timer = q6_on_timer,
};

FLINC_JSON_FORMAT(fmt_q6, q6_row_type_fields)

/* ---- q9: winning bids ----------------------------------------------- */

/* The auction with its highest bid (ties: earliest dateTime, then lowest
 * bidder, then extra in byte order, so the answer does not depend on the
 * order bids arrive in). */
typedef struct q9_auction {
	int64_t id;
	nexmark_str item_name, description;
	int64_t initial_bid, reserve, date_time, expires, seller, category;
	nexmark_str extra;
} q9_auction;

FLINC_STRUCT_TYPE(q9_auction_type, q9_auction, "nexmark.Q9Auction", 0,
		  FLINC_FIELD(q9_auction, id, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q9_auction, item_name, FLINC_FIELD_STR, "itemName"),
		  FLINC_FIELD(q9_auction, description, FLINC_FIELD_STR),
		  FLINC_FIELD_NAMED(q9_auction, initial_bid, FLINC_FIELD_I64, "initialBid"),
		  FLINC_FIELD(q9_auction, reserve, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q9_auction, date_time, FLINC_FIELD_I64, "dateTime"),
		  FLINC_FIELD(q9_auction, expires, FLINC_FIELD_I64),
		  FLINC_FIELD(q9_auction, seller, FLINC_FIELD_I64),
		  FLINC_FIELD(q9_auction, category, FLINC_FIELD_I64),
		  FLINC_FIELD(q9_auction, extra, FLINC_FIELD_STR));

/* q9 result: the auction's columns, then the bid's. */
typedef struct q9_row {
	q9_auction a;
	q7_bid b;
} q9_row;

static const flinc_field q9_out[] = {
	FLINC_FIELD_NAMED(q9_row, a.id, FLINC_FIELD_I64, "id"),
	FLINC_FIELD_NAMED(q9_row, a.item_name, FLINC_FIELD_STR, "itemName"),
	FLINC_FIELD_NAMED(q9_row, a.description, FLINC_FIELD_STR, "description"),
	FLINC_FIELD_NAMED(q9_row, a.initial_bid, FLINC_FIELD_I64, "initialBid"),
	FLINC_FIELD_NAMED(q9_row, a.reserve, FLINC_FIELD_I64, "reserve"),
	FLINC_FIELD_NAMED(q9_row, a.date_time, FLINC_FIELD_I64, "dateTime"),
	FLINC_FIELD_NAMED(q9_row, a.expires, FLINC_FIELD_I64, "expires"),
	FLINC_FIELD_NAMED(q9_row, a.seller, FLINC_FIELD_I64, "seller"),
	FLINC_FIELD_NAMED(q9_row, a.category, FLINC_FIELD_I64, "category"),
	FLINC_FIELD_NAMED(q9_row, a.extra, FLINC_FIELD_STR, "extra"),
	FLINC_FIELD_NAMED(q9_row, b.auction, FLINC_FIELD_I64, "auction"),
	FLINC_FIELD_NAMED(q9_row, b.bidder, FLINC_FIELD_I64, "bidder"),
	FLINC_FIELD_NAMED(q9_row, b.price, FLINC_FIELD_I64, "price"),
	FLINC_FIELD_NAMED(q9_row, b.date_time, FLINC_FIELD_I64, "bid_dateTime"),
	FLINC_FIELD_NAMED(q9_row, b.extra, FLINC_FIELD_STR, "bid_extra"),
};

static int q9_row_encode(const void *rec, flinc_writer *w)
{
	return flinc_fields_encode(q9_out, FL_COUNT(q9_out), rec, w);
}

static int q9_row_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	return flinc_fields_decode(q9_out, FL_COUNT(q9_out), r, rec);
}

static const flinc_type q9_row_type = {
	FLINC_TYPE_VERSION, "nexmark.Q9Row", sizeof(q9_row), 0, q9_row_encode, q9_row_decode,
};

static void q9_auctions(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_AUCTION) return;
	const nexmark_auction *a = &e->u.auction;
	q9_auction out = { a->id,        a->item_name, a->description, a->initial_bid, a->reserve,
			   a->date_time, a->expires,   a->seller,      a->category,    a->extra };
	flinc_emit(c, &out);
}

static size_t key_q9_auction(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q9_auction *)rec)->id);
}

static size_t key_q7_auction(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	return key_u64(buf, ((const q7_bid *)rec)->auction);
}

static int str_cmp(nexmark_str a, nexmark_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int r = n ? memcmp(a.p, b.p, n) : 0;
	return r ? r : (a.len > b.len) - (a.len < b.len);
}

/* Does x win over y (price desc, dateTime asc, bidder asc, extra asc)? */
static bool q9_beats(const q7_bid *x, const q7_bid *y)
{
	if (x->price != y->price) return x->price > y->price;
	if (x->date_time != y->date_time) return x->date_time < y->date_time;
	if (x->bidder != y->bidder) return x->bidder < y->bidder;
	return str_cmp(x->extra, y->extra) < 0;
}

typedef struct q9_local {
	flinc_state *auction; /* value: q9_auction until it closes */
	flinc_state *best;    /* value: q7_bid, the winning bid so far */
	flinc_state *early;   /* list: q7_bid that came before the auction */
} q9_local;

static int q9_open(flinc_ctx *c, void *local)
{
	q9_local *l = local;
	l->auction = flinc_state_value(c, "auction", &q9_auction_type);
	l->best = flinc_state_value(c, "best", &q7_bid_type);
	l->early = flinc_state_list(c, "early", &q7_bid_type);
	return l->auction && l->best && l->early ? FLINC_OK : FLINC_ESTATE;
}

static void q9_fold(q9_local *l, const q7_bid *b)
{
	const q7_bid *cur = flinc_value_get(l->best);
	if (!cur || q9_beats(b, cur)) flinc_value_put(l->best, b);
}

static void q9_on_bid(flinc_ctx *c, void *local, const void *in)
{
	q9_local *l = local;
	const q7_bid *b = in;
	const q9_auction *a = flinc_value_get(l->auction);
	if (a) {
		if (b->date_time >= a->date_time && b->date_time <= a->expires) q9_fold(l, b);
		return;
	}
	if (b->date_time <= flinc_ctx_watermark(c)) return;
	flinc_list_add(l->early, b);
	flinc_timer_register(c, FLINC_EVENT_TIME, b->date_time);
}

typedef struct q9_early_ud {
	flinc_ctx *c;
	int64_t from, to;
	q7_bid best;
	bool any;
} q9_early_ud;

static int q9_early_fold(void *ud, const void *v)
{
	q9_early_ud *u = ud;
	const q7_bid *b = v;
	if (b->date_time < u->from || b->date_time > u->to) return 0;
	if (u->any && !q9_beats(b, &u->best)) return 0;
	u->best = *b;
	u->best.extra.p = flinc_arena_strndup(flinc_ctx_arena(u->c), b->extra.p, b->extra.len);
	u->any = true;
	return 0;
}

static void q9_on_auction(flinc_ctx *c, void *local, const void *in)
{
	q9_local *l = local;
	const q9_auction *a = in;
	flinc_value_put(l->auction, a);
	flinc_timer_register(c, FLINC_EVENT_TIME, a->expires);
	q9_early_ud u = { .c = c, .from = a->date_time, .to = a->expires };
	flinc_list_foreach(l->early, q9_early_fold, &u);
	flinc_state_clear(l->early);
	if (u.any) q9_fold(l, &u.best);
}

static nexmark_str arena_str(flinc_ctx *c, nexmark_str s)
{
	nexmark_str out = { flinc_arena_strndup(flinc_ctx_arena(c), s.p, s.len), s.len };
	return out;
}

/* Copy an early bid's extra out of state memory (drop_early). */
static void q9_own_extra(flinc_ctx *c, void *elem)
{
	q7_bid *b = elem;
	b->extra.p = flinc_arena_strndup(flinc_ctx_arena(c), b->extra.p, b->extra.len);
}

static void q9_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	(void)d;
	q9_local *l = local;
	const q9_auction *ap = flinc_value_get(l->auction);
	if (!ap) {
		drop_early(c, l->early, &q7_bid_type, offsetof(q7_bid, date_time), ts, q9_own_extra);
		return;
	}
	if (ts != ap->expires) return;
	/* copy the strings out of state memory before the next state call */
	q9_row out = { .a = *ap };
	out.a.item_name = arena_str(c, ap->item_name);
	out.a.description = arena_str(c, ap->description);
	out.a.extra = arena_str(c, ap->extra);
	const q7_bid *b = flinc_value_get(l->best);
	if (b) {
		out.b = *b;
		flinc_emit(c, &out);
	}
	flinc_state_clear(l->auction);
	flinc_state_clear(l->best);
}

static const flinc_process_fn q9_winning = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(q9_local),
	.open = q9_open,
	.process = q9_on_bid,
	.process2 = q9_on_auction,
	.on_timer = q9_on_timer,
};

FLINC_JSON_FORMAT(fmt_q9, q9_out)

/* ---- q11 and q12: bids per bidder in session and processing-time windows */

typedef struct q11_row {
	int64_t bidder, bid_count, start, end;
} q11_row;

FLINC_STRUCT_TYPE(q11_row_type, q11_row, "nexmark.Q11Row", FLINC_TYPE_POD,
		  FLINC_FIELD(q11_row, bidder, FLINC_FIELD_I64),
		  FLINC_FIELD(q11_row, bid_count, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q11_row, start, FLINC_FIELD_I64, "starttime"),
		  FLINC_FIELD_NAMED(q11_row, end, FLINC_FIELD_I64, "endtime"));

static void bid_bidder(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind == NEXMARK_BID) flinc_emit(c, &e->u.bid.bidder);
}

static void q11_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	q11_row out = { current_key(c), *(const int64_t *)acc, w->start, w->end };
	flinc_emit(c, &out);
}

static const flinc_window_fn bidder_count_fn = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &flinc_type_i64,
	.add = count_add,
	.merge = count_merge,
	.emit = q11_emit,
};

FLINC_JSON_FORMAT(fmt_q11, q11_row_type_fields)

/* ---- q14: calculation ------------------------------------------------- */

typedef struct q14_row {
	int64_t auction, bidder, price_milli;
	nexmark_str time_type;
	int64_t date_time;
	nexmark_str extra;
	int64_t c_counts;
} q14_row;

FLINC_STRUCT_TYPE(q14_type, q14_row, "nexmark.Q14Row", 0, FLINC_FIELD(q14_row, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q14_row, bidder, FLINC_FIELD_I64),
		  FLINC_FIELD_NAMED(q14_row, price_milli, FLINC_FIELD_DECIMAL(3), "price"),
		  FLINC_FIELD_NAMED(q14_row, time_type, FLINC_FIELD_STR, "bidTimeType"),
		  FLINC_FIELD_NAMED(q14_row, date_time, FLINC_FIELD_I64, "dateTime"),
		  FLINC_FIELD(q14_row, extra, FLINC_FIELD_STR),
		  FLINC_FIELD(q14_row, c_counts, FLINC_FIELD_I64));

static void q14_calc(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	const nexmark_bid *b = &e->u.bid;
	if (b->price > Q1_PRICE_MAX || b->price < -Q1_PRICE_MAX) {
		flinc_ctx_reject(c, "q14: price out of range");
		return;
	}
	int64_t milli = b->price * 908; /* 0.908 * price, thousandths */
	if (milli <= INT64_C(1000000000) || milli >= INT64_C(50000000000)) return;
	int64_t ms_of_day = b->date_time % 86400000;
	if (ms_of_day < 0) ms_of_day += 86400000;
	int hour = (int)(ms_of_day / 3600000); /* HOUR() of the UTC timestamp */
	static const nexmark_str day = { "dayTime", 7 }, night = { "nightTime", 9 },
				 other = { "otherTime", 9 };
	q14_row out = { b->auction, b->bidder, milli, other, b->date_time, b->extra, 0 };
	if (hour >= 8 && hour <= 18)
		out.time_type = day;
	else if (hour <= 6 || hour >= 20)
		out.time_type = night;
	for (uint32_t i = 0; i < b->extra.len; i++) out.c_counts += b->extra.p[i] == 'c';
	flinc_emit(c, &out);
}

FLINC_JSON_FORMAT(fmt_q14, q14_type_fields)

/* ---- q21: add channel id ---------------------------------------------- */

typedef struct q21_row {
	int64_t auction, bidder, price;
	nexmark_str channel, channel_id;
} q21_row;

FLINC_STRUCT_TYPE(q21_type, q21_row, "nexmark.Q21Row", 0, FLINC_FIELD(q21_row, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q21_row, bidder, FLINC_FIELD_I64), FLINC_FIELD(q21_row, price, FLINC_FIELD_I64),
		  FLINC_FIELD(q21_row, channel, FLINC_FIELD_STR),
		  FLINC_FIELD(q21_row, channel_id, FLINC_FIELD_STR));

static bool str_ieq(nexmark_str s, const char *lower)
{
	size_t n = strlen(lower);
	if (s.len != n) return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s.p[i];
		if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
		if (ch != lower[i]) return false;
	}
	return true;
}

/* REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2): the value of the first
 * channel_id parameter at the start or after a '&'. */
static bool url_channel_id(nexmark_str url, nexmark_str *out)
{
	static const char k[] = "channel_id=";
	const size_t kn = sizeof k - 1;
	for (uint32_t i = 0; i + kn <= url.len; i++) {
		if ((i == 0 || url.p[i - 1] == '&') && memcmp(url.p + i, k, kn) == 0) {
			uint32_t s = (uint32_t)(i + kn), e = s;
			while (e < url.len && url.p[e] != '&') e++;
			out->p = url.p + s;
			out->len = e - s;
			return true;
		}
	}
	return false;
}

static void q21_channel(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	const nexmark_bid *b = &e->u.bid;
	static const struct {
		const char *name;
		nexmark_str id;
	} hot[] = { { "apple", { "0", 1 } },
		    { "google", { "1", 1 } },
		    { "facebook", { "2", 1 } },
		    { "baidu", { "3", 1 } } };
	q21_row out = { b->auction, b->bidder, b->price, b->channel, { NULL, 0 } };
	for (size_t i = 0; i < FL_COUNT(hot); i++) {
		if (str_ieq(b->channel, hot[i].name)) {
			out.channel_id = hot[i].id;
			flinc_emit(c, &out);
			return;
		}
	}
	if (url_channel_id(b->url, &out.channel_id)) flinc_emit(c, &out);
}

FLINC_JSON_FORMAT(fmt_q21, q21_type_fields)

/* ---- q22: get URL directories ----------------------------------------- */

typedef struct q22_row {
	int64_t auction, bidder, price;
	nexmark_str channel, dir1, dir2, dir3;
} q22_row;

FLINC_STRUCT_TYPE(q22_type, q22_row, "nexmark.Q22Row", 0, FLINC_FIELD(q22_row, auction, FLINC_FIELD_I64),
		  FLINC_FIELD(q22_row, bidder, FLINC_FIELD_I64), FLINC_FIELD(q22_row, price, FLINC_FIELD_I64),
		  FLINC_FIELD(q22_row, channel, FLINC_FIELD_STR), FLINC_FIELD(q22_row, dir1, FLINC_FIELD_STR),
		  FLINC_FIELD(q22_row, dir2, FLINC_FIELD_STR), FLINC_FIELD(q22_row, dir3, FLINC_FIELD_STR));

static void q22_dirs(flinc_ctx *c, const void *in)
{
	const nexmark_event *e = in;
	if (e->kind != NEXMARK_BID) return;
	const nexmark_bid *b = &e->u.bid;
	/* SPLIT_INDEX(url, '/', 3..5): the 4th to 6th '/'-separated parts; a
	 * URL with fewer parts has NULLs, which the job writes as no row */
	nexmark_str part[6];
	uint32_t n = 0, s = 0;
	for (uint32_t i = 0; i <= b->url.len && n < 6; i++) {
		if (i == b->url.len || b->url.p[i] == '/') {
			part[n].p = b->url.p + s;
			part[n].len = i - s;
			n++;
			s = i + 1;
		}
	}
	if (n < 6) {
		flinc_ctx_reject(c, "q22: url has fewer than 6 '/'-separated parts");
		return;
	}
	q22_row out = { b->auction, b->bidder, b->price, b->channel, part[3], part[4], part[5] };
	flinc_emit(c, &out);
}

FLINC_JSON_FORMAT(fmt_q22, q22_type_fields)

/* ---- the checksum sink (--output checksum) ----------------------------- */

/* Nexmark-harness mode: records are formatted as the file sink would write
 * them and folded into an order-independent checksum (count, and sum of a
 * 64-bit hash of each line mod 2^64), printed per subtask at the end:
 *   NEXMARK-CHECKSUM subtask=I rows=N sum=HEX
 * The Flink peer computes the same hash (tests/bench/flink .../Checksum.java). */

static inline uint64_t ck_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* 8 bytes at a time, little-endian words, the tail zero-padded. */
static uint64_t line_hash(const char *s, size_t n)
{
	uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)n * UINT64_C(0xc2b2ae3d27d4eb4f));
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = 0;
		memcpy(&w, s + i, 8); /* x86-64 and aarch64 Linux: little-endian */
		h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 32;
	}
	if (i < n) {
		uint64_t w = 0;
		for (size_t k = 0; i + k < n; k++) w |= (uint64_t)(uint8_t)s[i + k] << (8 * k);
		h = (h ^ w) * UINT64_C(0xff51afd7ed558ccd);
		h ^= h >> 32;
	}
	return ck_mix(h);
}

typedef struct ck_arg {
	flinc_format_fn fmt;
} ck_arg;

typedef struct ck_local {
	uint64_t rows, sum;
	char *buf;
	size_t cap;
	char small[4096];
} ck_local;

static int ck_open(flinc_ctx *c, void *local)
{
	(void)c;
	ck_local *l = local;
	l->buf = l->small;
	l->cap = sizeof l->small;
	return FLINC_OK;
}

static int ck_write(flinc_ctx *c, void *local, const void *rec)
{
	ck_local *l = local;
	const ck_arg *a = flinc_ctx_arg(c);
	size_t n = a->fmt(rec, l->buf, l->cap);
	if (n >= l->cap) {
		size_t cap = n + 1 > 2 * l->cap ? n + 1 : 2 * l->cap;
		char *nb = malloc(cap);
		if (!nb) return FLINC_ENOMEM;
		if (l->buf != l->small) free(l->buf);
		l->buf = nb;
		l->cap = cap;
		n = a->fmt(rec, l->buf, l->cap);
	}
	l->rows++;
	l->sum += line_hash(l->buf, n);
	return FLINC_OK;
}

static int ck_commit(flinc_ctx *c, void *local, int64_t id)
{
	ck_local *l = local;
	if (id == FLINC_CHECKPOINT_FINAL)
		fprintf(stderr, "NEXMARK-CHECKSUM subtask=%d rows=%llu sum=%016llx\n", flinc_ctx_subtask(c),
			(unsigned long long)l->rows, (unsigned long long)l->sum);
	return FLINC_OK;
}

static void ck_close(flinc_ctx *c, void *local)
{
	(void)c;
	ck_local *l = local;
	if (l->buf != l->small) free(l->buf);
	l->buf = NULL;
}

static const flinc_sink_fn checksum_sink = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(ck_local),
	.open = ck_open,
	.write = ck_write,
	.commit = ck_commit,
	.close = ck_close,
};

/* ---- the graph ------------------------------------------------------- */

static const char USAGE[] =
	"--query N [--events N] [--rate R] [--seed S] [--event-rate R] [--input FILE|kafka://B/T|datagen] "
	"[--output ADDR] [--watermark-delay MS]\n"
	"  --query N            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 21 or 22 (docs/nexmark.md)\n"
	"  --events N           events of the built-in generator (alias --count; default 10000000)\n"
	"  --rate R             events (or input lines) per second over all subtasks; 0 = as fast as possible\n"
	"  --seed S             generator seed (default 0)\n"
	"  --event-rate R       generator events per second of event time (default --rate, or 10000)\n"
	"  --input FILE         read events in the Nexmark line format (flinc-gen nexmark) instead, from a\n"
	"                       file or a Kafka topic (kafka://B/T?bounded=true: one event per record)\n"
	"  --output ADDR        folder, - (stdout) or kafka://...; default: discard\n"
	"  --watermark-delay MS bounded out-of-orderness of event time (default 0: ordered input)";

#define QUERY_LIST "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 21, 22"

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	int64_t query = flinc_arg_i64(e, "query", -1);
	int64_t events = flinc_arg_i64(e, "events", -1);
	int64_t count = flinc_arg_i64(e, "count", -1);
	double rate = flinc_arg_f64(e, "rate", 0);
	int64_t seed = flinc_arg_i64(e, "seed", 0);
	int64_t event_rate = flinc_arg_i64(e, "event-rate", 0);
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", NULL);
	int64_t wm_delay = flinc_arg_i64(e, "watermark-delay", 0);

	switch (query) {
	case 0:
	case 1:
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
	case 7:
	case 8:
	case 9:
	case 11:
	case 12:
	case 14:
	case 21:
	case 22: break;
	case -1: return flinc_env_fail(e, "nexmark: --query N is required (" QUERY_LIST ")");
	default:
		return flinc_env_fail(e, "nexmark: --query must be one of " QUERY_LIST ", not %lld",
				      (long long)query);
	}
	if (events >= 0 && count >= 0 && events != count)
		return flinc_env_fail(e, "nexmark: --events and --count disagree");
	if (events < 0) events = count >= 0 ? count : 10000000;
	if (rate < 0) return flinc_env_fail(e, "nexmark: --rate must be >= 0");
	if (seed < 0 || event_rate < 0 || wm_delay < 0)
		return flinc_env_fail(e, "nexmark: --seed, --event-rate and --watermark-delay must be >= 0");

	char name[32];
	snprintf(name, sizeof name, "nexmark-q%d", (int)query);
	flinc_env_set_name(e, name);

	flinc_stream *ev;
	if (!input || !strcmp(input, "datagen")) {
		nexmark_gen_cfg *cfg = flinc_env_alloc(e, sizeof *cfg);
		if (!cfg) return flinc_env_fail(e, "nexmark: out of memory");
		nexmark_gen_cfg_default(cfg);
		cfg->seed = (uint64_t)seed;
		cfg->rate = event_rate > 0 ? (uint64_t)event_rate
			: rate >= 1        ? (uint64_t)rate
					   : NEXMARK_DEFAULT_RATE;
		const char *bad = nexmark_gen_cfg_check(cfg);
		if (bad) return flinc_env_fail(e, "nexmark: %s", bad);
		ev = flinc_set_uid(
			flinc_datagen(e, "source", gen_event, cfg, &event_type, (uint64_t)events, rate),
			"source");
	} else {
		flinc_stream *lines = flinc_set_uid(flinc_lines_from(e, "source", input, rate), "source");
		ev = flinc_flat_map(lines, "parse", parse_line, NULL, &event_type);
	}
	if (query >= 4 && query != 12 && query != 14 && query < 21)
		ev = flinc_assign_timestamps(ev, event_ts, wm_delay, 0);

	flinc_stream *out = NULL;
	flinc_format_fn fmt = NULL;
	switch (query) {
	case 0:
		out = flinc_filter(ev, "bids", is_bid, NULL);
		fmt = fmt_q0;
		break;
	case 1:
		out = flinc_flat_map(ev, "to-euro", q1_convert, NULL, &q1_type);
		fmt = fmt_q1;
		break;
	case 2:
		out = flinc_flat_map(ev, "auction-mod-123", q2_select, NULL, &q2_type);
		fmt = fmt_q2;
		break;
	case 3: {
		flinc_stream *persons = flinc_flat_map(ev, "persons", q3_persons, NULL, &q3_person_type);
		flinc_stream *auctions =
			flinc_flat_map(ev, "auctions-cat-10", q3_auctions, NULL, &q3_auction_type);
		out = flinc_co_process(flinc_key_by(persons, key_q3_person),
				       flinc_key_by(auctions, key_q3_seller), "q3-join", &q3_join, NULL,
				       &q3_row_type);
		flinc_set_uid(out, "q3-join");
		fmt = fmt_q3;
		break;
	}
	case 5: {
		static const flinc_window_spec hop = {
			.kind = FLINC_WINDOW_SLIDING,
			.domain = FLINC_EVENT_TIME,
			.size = WINDOW_MS,
			.slide = Q5_SLIDE_MS,
		};
		flinc_stream *auctions =
			flinc_flat_map(ev, "bid-auction", q5_bid_auction, NULL, &flinc_type_i64);
		flinc_stream *counts = flinc_window(flinc_key_by(auctions, key_i64), "q5-count", &hop,
						    &q5_count_fn, NULL, &q5_type);
		flinc_set_uid(counts, "q5-count");
		out = flinc_process(flinc_key_by(counts, key_q5_end), "q5-max", &q5_max, NULL, &q5_type);
		flinc_set_uid(out, "q5-max");
		fmt = fmt_q5;
		break;
	}
	case 7: {
		flinc_stream *bids = flinc_flat_map(ev, "bids", q7_bids, NULL, &q7_bid_type);
		flinc_stream *cands = flinc_process(flinc_key_by(bids, key_q7_partition), "q7-partial-max",
						    &q7_partial, NULL, &q7_cand_type);
		flinc_set_uid(cands, "q7-partial-max");
		out = flinc_process(flinc_key_by(cands, key_q7_wend), "q7-max", &q7_max, NULL, &q7_bid_type);
		flinc_set_uid(out, "q7-max");
		fmt = fmt_q7;
		break;
	}
	case 8: {
		flinc_stream *persons = flinc_flat_map(ev, "persons", q8_persons, NULL, &q8_person_type);
		flinc_stream *sellers = flinc_flat_map(ev, "sellers", q8_sellers, NULL, &flinc_type_i64);
		out = flinc_co_process(flinc_key_by(persons, key_q8_person), flinc_key_by(sellers, key_i64),
				       "q8-join", &q8_join, NULL, &q8_row_type);
		flinc_set_uid(out, "q8-join");
		fmt = fmt_q8;
		break;
	}
	case 4: {
		flinc_stream *closed = closed_auctions(ev);
		out = flinc_process(flinc_key_by(closed, key_q4_category), "q4-avg", &q4_avg, NULL,
				    &q4_row_type);
		flinc_set_uid(out, "q4-avg");
		fmt = fmt_q4;
		break;
	}
	case 6: {
		flinc_stream *closed = closed_auctions(ev);
		out = flinc_process(flinc_key_by(closed, key_q6_seller), "q6-avg", &q6_avg, NULL,
				    &q6_row_type);
		flinc_set_uid(out, "q6-avg");
		fmt = fmt_q6;
		break;
	}
	case 9: {
		flinc_stream *bids = flinc_flat_map(ev, "bids", q7_bids, NULL, &q7_bid_type);
		flinc_stream *auctions = flinc_flat_map(ev, "auctions", q9_auctions, NULL, &q9_auction_type);
		out = flinc_co_process(flinc_key_by(bids, key_q7_auction),
				       flinc_key_by(auctions, key_q9_auction), "q9-winning", &q9_winning,
				       NULL, &q9_row_type);
		flinc_set_uid(out, "q9-winning");
		fmt = fmt_q9;
		break;
	}
	case 11:
	case 12: {
		static const flinc_window_spec session = {
			.kind = FLINC_WINDOW_SESSION,
			.domain = FLINC_EVENT_TIME,
			.gap = WINDOW_MS,
		};
		static const flinc_window_spec proc_tumble = {
			.kind = FLINC_WINDOW_TUMBLING,
			.domain = FLINC_PROCESSING_TIME,
			.size = WINDOW_MS,
		};
		flinc_stream *bidders = flinc_flat_map(ev, "bid-bidder", bid_bidder, NULL, &flinc_type_i64);
		const char *uid = query == 11 ? "q11-sessions" : "q12-proctime";
		out = flinc_window(flinc_key_by(bidders, key_i64), uid, query == 11 ? &session : &proc_tumble,
				   &bidder_count_fn, NULL, &q11_row_type);
		flinc_set_uid(out, uid);
		fmt = fmt_q11;
		break;
	}
	case 14:
		out = flinc_flat_map(ev, "calculation", q14_calc, NULL, &q14_type);
		fmt = fmt_q14;
		break;
	case 21:
		out = flinc_flat_map(ev, "channel-id", q21_channel, NULL, &q21_type);
		fmt = fmt_q21;
		break;
	case 22:
		out = flinc_flat_map(ev, "url-dirs", q22_dirs, NULL, &q22_type);
		fmt = fmt_q22;
		break;
	}
	if (output && !strcmp(output, "checksum")) {
		ck_arg *ck = flinc_env_alloc(e, sizeof *ck);
		if (!ck) return flinc_env_fail(e, "nexmark: out of memory");
		ck->fmt = fmt;
		flinc_set_uid(flinc_sink(out, "sink", &checksum_sink, ck), "sink");
		return FLINC_OK;
	}
	return flinc_sink_to(out, "sink", output, fmt);
}

FLINC_PLUGIN("nexmark", "Nexmark benchmark queries q0-q9, q11, q12, q14, q21, q22", USAGE, build);
