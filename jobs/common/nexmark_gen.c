/*
 * nexmark_gen.c - deterministic Nexmark generator and the line format.
 *
 * See nexmark_gen.h for the contract and docs/nexmark.md for the format.
 * The generation rules (ids, hot items, proportions, sizes) follow the
 * Nexmark Java generator; the randomness does not (one splitmix64 stream per
 * event instead of one java.util.Random per generator), so streams are not
 * byte-identical to Java's, only alike in distribution.
 */
#include "nexmark_gen.h"

#include <string.h>

/* ---- randomness ------------------------------------------------------ */

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

typedef struct rng {
	uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
	r->s += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(r->s);
}

/* Uniform in [0, n) for n < 2^32 (multiply-shift; the bias is < 2^-32). */
static inline uint32_t rng_below(rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, n) for any n > 0. */
static inline uint64_t rng_below64(rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double rng_double(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* The stream of event k: independent of every other k, fixed by the seed. */
static inline void rng_for_event(rng *r, uint64_t seed, uint64_t k)
{
	r->s = mix64(k ^ mix64(seed + UINT64_C(0x6a09e667f3bcc909)));
}

/* ---- static tables --------------------------------------------------- */

static const nexmark_str US_STATES[] = {
	{ "AZ", 2 }, { "CA", 2 }, { "ID", 2 }, { "OR", 2 }, { "WA", 2 }, { "WY", 2 },
};
#define S(lit)                       \
	{                            \
		lit, sizeof(lit) - 1 \
	}
static const nexmark_str US_CITIES[] = {
	S("Phoenix"), S("Los Angeles"), S("San Francisco"), S("Boise"), S("Portland"),
	S("Bend"),    S("Redmond"),     S("Seattle"),       S("Kent"),  S("Cheyenne"),
};
static const nexmark_str FIRST_NAMES[] = {
	S("Peter"), S("Paul"),  S("Luke"),  S("John"),   S("Saul"),   S("Vicky"),
	S("Kate"),  S("Julie"), S("Sarah"), S("Deiter"), S("Walter"),
};
static const nexmark_str LAST_NAMES[] = {
	S("Shultz"), S("Abrams"), S("Spencer"), S("White"), S("Bartels"),
	S("Walton"), S("Smith"),  S("Jones"),   S("Noris"),
};
static const nexmark_str HOT_CHANNELS[] = { S("Google"), S("Facebook"), S("Baidu"), S("Apple") };
#undef S
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define NUM_CATEGORIES 5
#define HOT_AUCTION_BATCH 100 /* Java HOT_AUCTION_RATIO */
#define HOT_BIDDER_BATCH 100  /* Java HOT_BIDDER_RATIO */
#define HOT_SELLER_BATCH 100  /* Java HOT_SELLER_RATIO */
#define PERSON_ID_LEAD 10
#define AUCTION_ID_LEAD 10
#define CHANNELS_NUMBER 10000
#define HOT_CHANNELS_RATIO 2
#define MIN_STRING_LENGTH 3

/* Random lowercase text with a space about every 13th character (the
 * alphabet of Java's nextString), sliced for item names, descriptions and
 * email parts; and letters only (nextExactString) sliced for `extra`. */
#define TEXT_LEN 8192
#define TEXT_SLACK 128 /* longest slice taken from TEXT */
#define PAD_LEN 16384
#define PAD_SLACK 8192 /* longest slice taken from PAD (avg sizes <= 4096) */
static char TEXT[TEXT_LEN + TEXT_SLACK];
static char PAD[PAD_LEN + PAD_SLACK];

/* 10^(j/256), j = 0..255, and 10^n, n = 0..6, for prices. */
static double POW10_FRAC[256];
static const double POW10_INT[7] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };

/* URLs of the hot channels (built like the per-channel ones). */
#define URL_MAX 96
static char HOT_URLS[NELEM(HOT_CHANNELS)][URL_MAX];
static uint32_t HOT_URL_LENS[NELEM(HOT_CHANNELS)];

/* Byte -> URL path character: '_' for about 1 in 13, else a..z. */
static char URL_CHARS[256];

static size_t make_url(uint64_t salt, int64_t channel_id, bool with_id, char *out);

/* Runs when the program or plugin is loaded, before any thread can call in:
 * the tables are immutable afterwards. Fixed seeds: same tables everywhere. */
__attribute__((constructor)) static void nexmark_tables_init(void)
{
	rng r = { UINT64_C(0x243f6a8885a308d3) };
	for (size_t i = 0; i < sizeof TEXT; i++)
		TEXT[i] = rng_below(&r, 13) == 0 ? ' ' : (char)('a' + rng_below(&r, 26));
	for (size_t i = 0; i < sizeof PAD; i++) PAD[i] = (char)('a' + rng_below(&r, 26));
	/* Repeated multiplication by 10^(1/256): a relative error below 1e-13,
	 * and only exactly rounded multiplications, so every IEEE machine builds
	 * the same table. */
	const double step = 0x1.02501ee61ca62p+0; /* 10^(1/256) */
	POW10_FRAC[0] = 1.0;
	for (int j = 1; j < 256; j++) POW10_FRAC[j] = POW10_FRAC[j - 1] * step;
	for (int b = 0; b < 256; b++) URL_CHARS[b] = b < 20 ? '_' : (char)('a' + (b - 20) * 26 / 236);
	for (size_t i = 0; i < NELEM(HOT_CHANNELS); i++)
		HOT_URL_LENS[i] = (uint32_t)make_url(UINT64_C(0xfeed0000) + i, 0, false, HOT_URLS[i]);
}

/* ---- small helpers --------------------------------------------------- */

static inline char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Decimal digits of v into p; returns the end. */
static inline char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n) *p++ = tmp[--n];
	return p;
}

static inline char *put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return put_u64(p, (uint64_t)v);
}

/* Java nextString(maxLength): 3..maxLength-1 characters of TEXT, trimmed. */
static inline nexmark_str next_string(rng *r, uint32_t max_len)
{
	uint32_t len = MIN_STRING_LENGTH + rng_below(r, max_len - MIN_STRING_LENGTH);
	const char *p = TEXT + rng_below(r, TEXT_LEN);
	while (len && p[0] == ' ') {
		p++;
		len--;
	}
	while (len && p[len - 1] == ' ') len--;
	return (nexmark_str){ p, len };
}

/* Java nextExtra: padding so that current + extra averages `avg`. */
static inline nexmark_str next_extra(rng *r, uint32_t current, uint32_t avg)
{
	if (current > avg) return (nexmark_str){ PAD, 0 };
	uint32_t desired = avg - current;
	uint32_t delta = (2 * desired + 5) / 10; /* Math.round(desired * 0.2) */
	uint32_t size = desired - delta + (delta ? rng_below(r, 2 * delta) : 0);
	if (size > PAD_SLACK) size = PAD_SLACK;
	return (nexmark_str){ PAD + rng_below(r, PAD_LEN), size };
}

/* Java: round(10^(6u) * 100) cents, u uniform in [0, 1); 100 .. 10^8. */
static inline int64_t next_price(rng *r)
{
	double x = rng_double(r) * 6.0;
	int n = (int)x;
	double f = (x - n) * 256.0;
	int j = (int)f;
	/* 10^(rest/256) by its series; rest < 1 so y < 0.009. */
	double y = (f - j) * 0.008994473019507991; /* ln(10)/256 */
	double e = 1.0 + y * (1.0 + y * (0.5 + y * (1.0 / 6 + y * (1.0 / 24 + y * (1.0 / 120)))));
	double v = POW10_INT[n] * POW10_FRAC[j] * e * 100.0;
	return (int64_t)(v + 0.5);
}

static uint32_t bit_reverse32(uint32_t v)
{
	v = ((v >> 1) & 0x55555555u) | ((v & 0x55555555u) << 1);
	v = ((v >> 2) & 0x33333333u) | ((v & 0x33333333u) << 2);
	v = ((v >> 4) & 0x0f0f0f0fu) | ((v & 0x0f0f0f0fu) << 4);
	v = ((v >> 8) & 0x00ff00ffu) | ((v & 0x00ff00ffu) << 8);
	return (v >> 16) | (v << 16);
}

/* "https://www.nexmark.com/xxx/xxx/xxx/item.htm?query=1[&channel_id=N]"
 * with path parts (3 or 4 characters, about one in 13 an underscore, like
 * Java's nextString(5, '_')) fixed by `salt`. At most URL_MAX bytes. */
static size_t make_url(uint64_t salt, int64_t channel_id, bool with_id, char *out)
{
	static const char base[] = "https://www.nexmark.com/";
	static const char tail[] = "item.htm?query=1";
	static const char cid[] = "&channel_id=";
	/* 16 random bytes: 3 for the lengths, up to 12 for the characters. */
	uint64_t h[2] = { mix64(salt ^ UINT64_C(0x5851f42d4c957f2d)),
			  mix64(salt + UINT64_C(0x14057b7ef767814f)) };
	const uint8_t *rb = (const uint8_t *)h;
	size_t ri = 3;
	char *p = put(out, base, sizeof base - 1);
	for (int part = 0; part < 3; part++) {
		uint32_t len = 3 + (rb[part] & 1);
		for (uint32_t i = 0; i < len; i++) {
			*p++ = URL_CHARS[rb[ri++]];
		}
		*p++ = '/';
	}
	p = put(p, tail, sizeof tail - 1);
	if (with_id) {
		p = put(p, cid, sizeof cid - 1);
		p = put_i64(p, channel_id);
	}
	return (size_t)(p - out);
}

/* ---- ids (Java PersonGenerator / AuctionGenerator) ------------------- */

static inline uint64_t total_prop(const nexmark_gen_cfg *c)
{
	return (uint64_t)c->person_proportion + c->auction_proportion + c->bid_proportion;
}

/* Where event k falls: its epoch (k / total proportion) and offset in it,
 * and from them the last person and auction ids (base 0) generated at or
 * before k (-1: no auction yet). One division per event. */
typedef struct evpos {
	uint64_t k;
	uint64_t offset;
	int64_t last_person, last_auction;
} evpos;

static inline evpos event_pos(const nexmark_gen_cfg *c, uint64_t k)
{
	uint64_t tp = total_prop(c);
	evpos e = { k, k % tp, 0, 0 };
	int64_t epoch = (int64_t)(k / tp);
	int64_t off = (int64_t)e.offset;
	e.last_person = epoch * c->person_proportion +
		(off >= (int64_t)c->person_proportion ? (int64_t)c->person_proportion - 1 : off);
	if (off < (int64_t)c->person_proportion)
		e.last_auction = (epoch - 1) * c->auction_proportion + c->auction_proportion - 1;
	else if (off >= (int64_t)(c->person_proportion + c->auction_proportion))
		e.last_auction = epoch * c->auction_proportion + c->auction_proportion - 1;
	else
		e.last_auction = epoch * c->auction_proportion + off - c->person_proportion;
	return e;
}

/* A random active person (base 0), possibly a few ahead of the last one. */
static inline int64_t next_person(const nexmark_gen_cfg *c, rng *r, const evpos *e)
{
	int64_t num_people = e->last_person + 1;
	int64_t active = num_people < (int64_t)c->num_active_people ? num_people : c->num_active_people;
	int64_t n = (int64_t)rng_below64(r, (uint64_t)(active + PERSON_ID_LEAD));
	return num_people - active + n;
}

/* A random auction (base 0) among those likely in flight, plus a few ahead. */
static inline int64_t next_auction(const nexmark_gen_cfg *c, rng *r, const evpos *e)
{
	int64_t max_a = e->last_auction;
	int64_t min_a = max_a - (int64_t)c->num_in_flight_auctions;
	if (min_a < 0) min_a = 0;
	return min_a + (int64_t)rng_below64(r, (uint64_t)(max_a - min_a + 1 + AUCTION_ID_LEAD));
}

/* ---- public ---------------------------------------------------------- */

void nexmark_gen_cfg_default(nexmark_gen_cfg *c)
{
	*c = (nexmark_gen_cfg){
		.seed = 0,
		.rate = NEXMARK_DEFAULT_RATE,
		.base_time_ms = NEXMARK_DEFAULT_BASE_TIME_MS,
		.person_proportion = 1,
		.auction_proportion = 3,
		.bid_proportion = 46,
		.hot_auction_ratio = 2,
		.hot_bidder_ratio = 4,
		.hot_seller_ratio = 4,
		.num_active_people = 1000,
		.num_in_flight_auctions = 100,
		.avg_person_bytes = 200,
		.avg_auction_bytes = 500,
		.avg_bid_bytes = 100,
	};
}

const char *nexmark_gen_cfg_check(const nexmark_gen_cfg *c)
{
	if (c->rate == 0 || c->rate > UINT64_C(1000000000000))
		return "rate must be between 1 and 10^12 events per second";
	if (c->person_proportion == 0 || c->auction_proportion == 0 || c->bid_proportion == 0)
		return "proportions must be at least 1";
	if (total_prop(c) > 1000000) return "proportions too large";
	if (c->hot_auction_ratio == 0 || c->hot_bidder_ratio == 0 || c->hot_seller_ratio == 0)
		return "hot ratios must be at least 1";
	if (c->num_active_people == 0 || c->num_in_flight_auctions == 0)
		return "active people and in-flight auctions must be at least 1";
	if (c->avg_person_bytes > 4096 || c->avg_auction_bytes > 4096 || c->avg_bid_bytes > 4096)
		return "average sizes must be at most 4096 bytes";
	return NULL;
}

int64_t nexmark_gen_time(const nexmark_gen_cfg *c, uint64_t k)
{
	uint64_t ms;
	if (k <= UINT64_MAX / 1000)
		ms = k * 1000 / c->rate;
	else
		ms = (uint64_t)((unsigned __int128)k * 1000 / c->rate);
	return c->base_time_ms + (int64_t)ms;
}

/* The kind of the event at `offset` in its epoch (k % total proportion). */
static inline nexmark_kind kind_at(const nexmark_gen_cfg *c, uint64_t offset)
{
	if (offset < c->person_proportion) return NEXMARK_PERSON;
	if (offset < (uint64_t)c->person_proportion + c->auction_proportion) return NEXMARK_AUCTION;
	return NEXMARK_BID;
}

nexmark_kind nexmark_gen_kind(const nexmark_gen_cfg *c, uint64_t k) { return kind_at(c, k % total_prop(c)); }

static void gen_person(const nexmark_gen_cfg *c, rng *r, const evpos *e, int64_t ts, nexmark_person *p,
		       char *scratch)
{
	char *s = scratch;
	p->id = e->last_person + NEXMARK_FIRST_PERSON_ID;

	const nexmark_str *fn = &FIRST_NAMES[rng_below(r, NELEM(FIRST_NAMES))];
	const nexmark_str *ln = &LAST_NAMES[rng_below(r, NELEM(LAST_NAMES))];
	p->name.p = s;
	s = put(s, fn->p, fn->len);
	*s++ = ' ';
	s = put(s, ln->p, ln->len);
	p->name.len = (uint32_t)(s - p->name.p);

	nexmark_str user = next_string(r, 7), host = next_string(r, 5);
	p->email.p = s;
	s = put(s, user.p, user.len);
	*s++ = '@';
	s = put(s, host.p, host.len);
	s = put(s, ".com", 4);
	p->email.len = (uint32_t)(s - p->email.p);

	p->credit_card.p = s;
	for (int i = 0; i < 4; i++) {
		uint32_t v = rng_below(r, 10000);
		if (i) *s++ = ' ';
		s[0] = (char)('0' + v / 1000);
		s[1] = (char)('0' + v / 100 % 10);
		s[2] = (char)('0' + v / 10 % 10);
		s[3] = (char)('0' + v % 10);
		s += 4;
	}
	p->credit_card.len = (uint32_t)(s - p->credit_card.p);

	p->city = US_CITIES[rng_below(r, NELEM(US_CITIES))];
	p->state = US_STATES[rng_below(r, NELEM(US_STATES))];
	p->date_time = ts;
	uint32_t current = 8 + p->name.len + p->email.len + p->credit_card.len + p->city.len + p->state.len;
	p->extra = next_extra(r, current, c->avg_person_bytes);
}

static void gen_auction(const nexmark_gen_cfg *c, rng *r, const evpos *e, int64_t ts, nexmark_auction *a)
{
	a->id = e->last_auction + NEXMARK_FIRST_AUCTION_ID;
	int64_t seller;
	if (rng_below(r, c->hot_seller_ratio) > 0)
		seller = (e->last_person / HOT_SELLER_BATCH) * HOT_SELLER_BATCH;
	else
		seller = next_person(c, r, e);
	a->seller = seller + NEXMARK_FIRST_PERSON_ID;
	a->category = NEXMARK_FIRST_CATEGORY_ID + rng_below(r, NUM_CATEGORIES);
	a->initial_bid = next_price(r);
	/* Auctions last on average until numInFlightAuctions more were made. */
	uint64_t events_for_auctions =
		(uint64_t)c->num_in_flight_auctions * total_prop(c) / c->auction_proportion;
	int64_t horizon = nexmark_gen_time(c, e->k + events_for_auctions) - ts;
	uint64_t span = horizon * 2 > 1 ? (uint64_t)(horizon * 2) : 1;
	a->expires = ts + 1 + (int64_t)rng_below64(r, span);
	a->item_name = next_string(r, 20);
	a->description = next_string(r, 100);
	a->reserve = a->initial_bid + next_price(r);
	a->date_time = ts;
	uint32_t current = 8 + a->item_name.len + a->description.len + 8 + 8 + 8 + 8 + 8;
	a->extra = next_extra(r, current, c->avg_auction_bytes);
}

static void gen_bid(const nexmark_gen_cfg *c, rng *r, const evpos *e, int64_t ts, nexmark_bid *b,
		    char *scratch)
{
	int64_t auction, bidder;
	if (rng_below(r, c->hot_auction_ratio) > 0)
		auction = (e->last_auction / HOT_AUCTION_BATCH) * HOT_AUCTION_BATCH;
	else
		auction = next_auction(c, r, e);
	b->auction = auction + NEXMARK_FIRST_AUCTION_ID;
	/* The second person of the batch, so hot bidders are not hot sellers. */
	if (rng_below(r, c->hot_bidder_ratio) > 0)
		bidder = (e->last_person / HOT_BIDDER_BATCH) * HOT_BIDDER_BATCH + 1;
	else
		bidder = next_person(c, r, e);
	b->bidder = bidder + NEXMARK_FIRST_PERSON_ID;
	b->price = next_price(r);

	if (rng_below(r, HOT_CHANNELS_RATIO) > 0) {
		uint32_t i = rng_below(r, NELEM(HOT_CHANNELS));
		b->channel = HOT_CHANNELS[i];
		b->url = (nexmark_str){ HOT_URLS[i], HOT_URL_LENS[i] };
	} else {
		uint32_t n = rng_below(r, CHANNELS_NUMBER);
		char *s = scratch;
		b->channel.p = s;
		s = put(s, "channel-", 8);
		s = put_u64(s, n);
		b->channel.len = (uint32_t)(s - b->channel.p);
		/* Java: 9 in 10 channel URLs carry abs(Integer.reverse(n)). */
		int32_t rev = (int32_t)bit_reverse32(n);
		int64_t id = rev < 0 && rev != INT32_MIN ? -(int64_t)rev : rev;
		bool with_id = mix64(n + UINT64_C(0x1234567)) % 10 > 0;
		b->url.p = s;
		b->url.len = (uint32_t)make_url(n, id, with_id, s);
	}
	b->date_time = ts;
	b->extra = next_extra(r, 8 + 8 + 8 + 8, c->avg_bid_bytes);
}

int nexmark_gen_event(const nexmark_gen_cfg *c, uint64_t k, nexmark_event *out, char *scratch, size_t cap)
{
	if (cap < NEXMARK_SCRATCH_MAX) return -1;
	rng r;
	rng_for_event(&r, c->seed, k);
	int64_t ts = nexmark_gen_time(c, k);
	evpos e = event_pos(c, k);
	out->kind = kind_at(c, e.offset);
	switch (out->kind) {
	case NEXMARK_PERSON: gen_person(c, &r, &e, ts, &out->u.person, scratch); break;
	case NEXMARK_AUCTION: gen_auction(c, &r, &e, ts, &out->u.auction); break;
	case NEXMARK_BID: gen_bid(c, &r, &e, ts, &out->u.bid, scratch); break;
	}
	return 0;
}

/* ---- line format ----------------------------------------------------- */

/* Counts the full length and copies what fits (snprintf-like). */
typedef struct lw {
	char *p;
	size_t cap, n;
} lw;

static inline void lw_put(lw *w, const char *s, size_t len)
{
	if (w->n + len <= w->cap) memcpy(w->p + w->n, s, len);
	w->n += len;
}

static inline void lw_str(lw *w, nexmark_str s)
{
	lw_put(w, "\t", 1);
	lw_put(w, s.p, s.len);
}

static inline void lw_int(lw *w, int64_t v)
{
	char tmp[24];
	tmp[0] = '\t';
	char *e = put_i64(tmp + 1, v);
	lw_put(w, tmp, (size_t)(e - tmp));
}

size_t nexmark_format_line(const nexmark_event *e, char *buf, size_t cap)
{
	lw w = { buf, cap, 0 };
	switch (e->kind) {
	case NEXMARK_PERSON: {
		const nexmark_person *p = &e->u.person;
		lw_put(&w, "P", 1);
		lw_int(&w, p->id);
		lw_str(&w, p->name);
		lw_str(&w, p->email);
		lw_str(&w, p->credit_card);
		lw_str(&w, p->city);
		lw_str(&w, p->state);
		lw_int(&w, p->date_time);
		lw_str(&w, p->extra);
		break;
	}
	case NEXMARK_AUCTION: {
		const nexmark_auction *a = &e->u.auction;
		lw_put(&w, "A", 1);
		lw_int(&w, a->id);
		lw_str(&w, a->item_name);
		lw_str(&w, a->description);
		lw_int(&w, a->initial_bid);
		lw_int(&w, a->reserve);
		lw_int(&w, a->date_time);
		lw_int(&w, a->expires);
		lw_int(&w, a->seller);
		lw_int(&w, a->category);
		lw_str(&w, a->extra);
		break;
	}
	case NEXMARK_BID: {
		const nexmark_bid *b = &e->u.bid;
		lw_put(&w, "B", 1);
		lw_int(&w, b->auction);
		lw_int(&w, b->bidder);
		lw_int(&w, b->price);
		lw_str(&w, b->channel);
		lw_str(&w, b->url);
		lw_int(&w, b->date_time);
		lw_str(&w, b->extra);
		break;
	}
	}
	if (w.n < cap) buf[w.n] = '\0';
	return w.n;
}

/* Field splitter over one line. */
typedef struct fields {
	const char *p, *end;
	bool done;
} fields;

static bool next_field(fields *f, nexmark_str *out)
{
	if (f->done) return false;
	const char *tab = memchr(f->p, '\t', (size_t)(f->end - f->p));
	const char *fe = tab ? tab : f->end;
	out->p = f->p;
	out->len = (uint32_t)(fe - f->p);
	if (tab)
		f->p = tab + 1;
	else
		f->done = true;
	return true;
}

/* A decimal int64: optional '-', 1..19 digits, no overflow. */
static bool parse_i64(nexmark_str s, int64_t *out)
{
	const char *p = s.p, *e = s.p + s.len;
	bool neg = false;
	if (p < e && *p == '-') {
		neg = true;
		p++;
	}
	if (p == e || e - p > 19) return false;
	uint64_t v = 0;
	for (; p < e; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (d > 9) return false;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + neg) return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

#define NEED_STR(dst)                                                            \
	do {                                                                     \
		if (!next_field(&f, &(dst))) return fail(why, "too few fields"); \
	} while (0)
#define NEED_INT(dst, name)                                                          \
	do {                                                                         \
		nexmark_str t_;                                                      \
		if (!next_field(&f, &t_)) return fail(why, "too few fields");        \
		if (!parse_i64(t_, &(dst))) return fail(why, "bad number in " name); \
	} while (0)

static int fail(const char **why, const char *msg)
{
	if (why) *why = msg;
	return -1;
}

int nexmark_parse_line(const char *s, size_t len, nexmark_event *out, const char **why)
{
	if (len && s[len - 1] == '\r') len--;
	if (len < 2 || s[1] != '\t') return fail(why, "line does not start with P, A or B and a tab");
	fields f = { s + 2, s + len, false };
	nexmark_str extra;
	switch (s[0]) {
	case 'P': {
		nexmark_person *p = &out->u.person;
		out->kind = NEXMARK_PERSON;
		NEED_INT(p->id, "id");
		NEED_STR(p->name);
		NEED_STR(p->email);
		NEED_STR(p->credit_card);
		NEED_STR(p->city);
		NEED_STR(p->state);
		NEED_INT(p->date_time, "dateTime");
		NEED_STR(extra);
		p->extra = extra;
		break;
	}
	case 'A': {
		nexmark_auction *a = &out->u.auction;
		out->kind = NEXMARK_AUCTION;
		NEED_INT(a->id, "id");
		NEED_STR(a->item_name);
		NEED_STR(a->description);
		NEED_INT(a->initial_bid, "initialBid");
		NEED_INT(a->reserve, "reserve");
		NEED_INT(a->date_time, "dateTime");
		NEED_INT(a->expires, "expires");
		NEED_INT(a->seller, "seller");
		NEED_INT(a->category, "category");
		NEED_STR(extra);
		a->extra = extra;
		break;
	}
	case 'B': {
		nexmark_bid *b = &out->u.bid;
		out->kind = NEXMARK_BID;
		NEED_INT(b->auction, "auction");
		NEED_INT(b->bidder, "bidder");
		NEED_INT(b->price, "price");
		NEED_STR(b->channel);
		NEED_STR(b->url);
		NEED_INT(b->date_time, "dateTime");
		NEED_STR(extra);
		b->extra = extra;
		break;
	}
	default: return fail(why, "line does not start with P, A or B and a tab");
	}
	if (!f.done) return fail(why, "too many fields");
	return 0;
}
