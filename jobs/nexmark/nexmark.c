/*
 * nexmark.c - the Nexmark benchmark queries q0, q1, q2, q3, q5, q7, q8 as a
 * flinc job (definitions, formats and plans in docs/nexmark.md).
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

/* ---- the graph ------------------------------------------------------- */

static const char USAGE[] =
	"--query N [--events N] [--rate R] [--seed S] [--event-rate R] [--input FILE|kafka://B/T|datagen] "
	"[--output ADDR] [--watermark-delay MS]\n"
	"  --query N            0, 1, 2, 3, 5, 7 or 8 (docs/nexmark.md)\n"
	"  --events N           events of the built-in generator (alias --count; default 10000000)\n"
	"  --rate R             events (or input lines) per second over all subtasks; 0 = as fast as possible\n"
	"  --seed S             generator seed (default 0)\n"
	"  --event-rate R       generator events per second of event time (default --rate, or 10000)\n"
	"  --input FILE         read events in the Nexmark line format (flinc-gen nexmark) instead, from a\n"
	"                       file or a Kafka topic (kafka://B/T?bounded=true: one event per record)\n"
	"  --output ADDR        folder, - (stdout) or kafka://...; default: discard\n"
	"  --watermark-delay MS bounded out-of-orderness of event time (default 0: ordered input)";

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
	case 5:
	case 7:
	case 8: break;
	case -1: return flinc_env_fail(e, "nexmark: --query N is required (0, 1, 2, 3, 5, 7 or 8)");
	default:
		return flinc_env_fail(e, "nexmark: --query must be 0, 1, 2, 3, 5, 7 or 8, not %lld",
				      (long long)query);
	}
	if (events >= 0 && count >= 0 && events != count)
		return flinc_env_fail(e, "nexmark: --events and --count disagree");
	if (events < 0) events = count >= 0 ? count : 10000000;
	if (rate < 0) return flinc_env_fail(e, "nexmark: --rate must be >= 0");
	if (seed < 0 || event_rate < 0 || wm_delay < 0)
		return flinc_env_fail(e, "nexmark: --seed, --event-rate and --watermark-delay must be >= 0");

	char name[32];
	memcpy(name, "nexmark-q", 9);
	name[9] = (char)('0' + query);
	name[10] = '\0';
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
	if (query >= 5) ev = flinc_assign_timestamps(ev, event_ts, wm_delay, 0);

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
	}
	return flinc_sink_to(out, "sink", output, fmt);
}

FLINC_PLUGIN("nexmark", "Nexmark benchmark queries q0, q1, q2, q3, q5, q7, q8", USAGE, build);
