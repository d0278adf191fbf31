/*
 * gen-transactions.c - `flinc-gen transactions`: payment transactions of a
 * population of users, with injected fraud of the five kinds the fraud job
 * detects (DESIGN.md "The three seed jobs"; docs/generators.md).
 *
 * The timeline: normal transactions arrive as a Poisson process of event
 * time; each goes to a random user whose profile (home city, spending level,
 * usual merchant categories and payment methods) shapes it. With a small
 * probability an arrival instead starts a fraud pattern for a user: its
 * records are scheduled ahead in a heap and written when event time reaches
 * them, so the output is ordered by event time.
 *
 * Normal traffic is built so that it can never match a fraud rule (the rules
 * and the margins are in docs/generators.md, "Why normal traffic never
 * matches a rule"):
 *   - a user's normal transactions are >= 30 s apart (6 in 2 min impossible);
 *   - after a normal one >= 1000 the user is quiet for 12 min (structuring);
 *   - a user fails normally at most once per 12 min (card testing);
 *   - normal transactions stay in the home country within 0.01 degree of
 *     home, so consecutive ones are < 380 km/h apart (geo anomaly);
 *   - riskScore < 0.70 from 21:30 to 06:30 UTC (off-hours high risk);
 *   - a fraud pattern has 12 min without any other transaction of its user
 *     before and after it, so patterns and normal traffic never combine.
 */
#include "flinc-gen.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MIN_GAP_MS 30000      /* between a user's normal transactions */
#define QUIET_MS (12 * 60000) /* around patterns, after big ones and failures */
#define JITTER_E4 100         /* normal locations: home +- 0.01 degree */
#define HOME_SPREAD_E4 500    /* homes: city centre +- 0.05 degree */
/* mean records per pattern: by day (V 6.5, S 4.5, G 3, C 5 equally) and in
 * the off-hours core (0.1 each of those, 0.6 off-hours of 1) */
#define AVG_LEN_DAY 4.75
#define AVG_LEN_NIGHT 2.5

/* ---- tables ---------------------------------------------------------------- */

typedef struct city {
	const char *country, *currency;
	int32_t lat, lon; /* 1e-4 degrees */
	bool home;        /* users may live here */
} city;

static const city CITIES[] = {
	{ "US", "USD", 407128, -740060, true },
	{ "US", "USD", 340522, -1182437, true },
	{ "US", "USD", 418781, -876298, true },
	{ "US", "USD", 297604, -953698, true },
	{ "US", "USD", 377749, -1224194, true },
	{ "US", "USD", 257617, -801918, true },
	{ "CA", "CAD", 436532, -793832, true },
	{ "CA", "CAD", 492827, -1231207, true },
	{ "CA", "CAD", 455019, -735674, true },
	{ "GB", "GBP", 515074, -1278, true },
	{ "GB", "GBP", 534808, -22426, true },
	{ "GB", "GBP", 559533, -31883, true },
	{ "DE", "EUR", 525200, 134050, true },
	{ "DE", "EUR", 481351, 115820, true },
	{ "DE", "EUR", 535511, 99937, true },
	{ "FR", "EUR", 488566, 23522, true },
	{ "FR", "EUR", 457640, 48357, true },
	{ "FR", "EUR", 432965, 53698, true },
	{ "ES", "EUR", 404168, -37038, true },
	{ "ES", "EUR", 413874, 21686, true },
	{ "IT", "EUR", 419028, 124964, true },
	{ "IT", "EUR", 454642, 91900, true },
	{ "NL", "EUR", 523676, 49041, true },
	{ "NL", "EUR", 519244, 44777, true },
	{ "IE", "EUR", 533498, -62603, true },
	{ "AU", "AUD", -338688, 1512093, true },
	{ "AU", "AUD", -378136, 1449631, true },
	{ "AU", "AUD", -319505, 1158605, true },
	{ "CH", "CHF", 473769, 85417, true },
	{ "CH", "CHF", 462044, 61432, true },
	{ "SG", "SGD", 13521, 1038198, true },
	{ "NZ", "NZD", -368485, 1747633, true },
	/* abroad only: the geo anomalies' far-away places */
	{ "RU", "RUB", 557558, 376173, false },
	{ "CN", "CNY", 312304, 1214737, false },
	{ "NG", "NGN", 65244, 33792, false },
	{ "PK", "PKR", 248607, 670011, false },
	{ "BR", "BRL", -235505, -466333, false },
	{ "JP", "JPY", 356762, 1396503, false },
	{ "IN", "INR", 190760, 728777, false },
	{ "MX", "MXN", 194326, -991332, false },
	{ "ZA", "ZAR", -262041, 280473, false },
	{ "AE", "AED", 252048, 552708, false },
	{ "TR", "TRY", 410082, 289784, false },
	{ "TH", "THB", 137563, 1005018, false },
};
#define NCITIES (sizeof CITIES / sizeof CITIES[0])

typedef struct category {
	const char *name;
	double median, sigma; /* amount, USD-like units: lognormal */
	int risk;             /* added to the risk score, hundredths */
} category;

enum {
	C_GROCERY,
	C_GAS,
	C_RESTAURANT,
	C_RETAIL,
	C_ONLINE,
	C_ATM,
	C_HOTEL,
	C_AIRLINE,
	C_PHARMACY,
	C_ELECTRONICS
};
static const category CATS[] = {
	{ "grocery", 45, 0.5, 0 },      { "gas_station", 40, 0.35, 2 }, { "restaurant", 35, 0.55, 1 },
	{ "retail", 60, 0.7, 2 },       { "online", 50, 0.8, 10 },      { "atm", 100, 0.6, 6 },
	{ "hotel", 220, 0.5, 4 },       { "airline", 420, 0.45, 5 },    { "pharmacy", 25, 0.5, 0 },
	{ "electronics", 180, 0.8, 8 },
};
#define NCATS (sizeof CATS / sizeof CATS[0])
static const double CAT_W[NCATS] = { 20, 12, 18, 14, 16, 6, 3, 2, 6, 3 };

enum { M_CREDIT, M_DEBIT, M_WALLET, M_BANK };
static const char *const METHODS[] = { "credit_card", "debit_card", "digital_wallet", "bank_transfer" };
static const int METHOD_RISK[] = { 3, 0, 2, 1 };
static const double METHOD_W[] = { 45, 35, 15, 5 };

enum { S_COMPLETED, S_APPROVED, S_FAILED, S_DECLINED };
static const char *const STATUSES[] = { "completed", "approved", "failed", "declined" };

enum { F_NONE, F_VELOCITY, F_STRUCTURING, F_GEO, F_CARD_TESTING, F_OFF_HOURS, F_KINDS };
static const char *const FRAUD_TYPES[] = { NULL,          "VELOCITY_FRAUD", "STRUCTURING_FRAUD",
					   "GEO_ANOMALY", "CARD_TESTING",   "OFF_HOURS_HIGH_RISK" };

/* ---- state ----------------------------------------------------------------- */

typedef struct tx_user {
	int64_t next_ok;   /* earliest event time of the next normal transaction */
	int64_t last_ts;   /* event time of the user's latest (or last scheduled) record */
	int64_t last_fail; /* latest normal failure */
	int32_t lat, lon;  /* home, 1e-4 degrees */
	uint16_t spend;    /* spending level, percent of the category median */
	uint8_t city;
	uint8_t ncats, cats[4];
	uint8_t nmeth, meth[3];
} tx_user;

typedef struct tx_rec {
	int64_t ts;
	uint32_t user;
	int32_t lat, lon;
	int64_t cents;
	uint8_t city; /* country of the transaction */
	uint8_t cat, meth, status, fraud, risk;
	uint32_t next_free;
} tx_rec;

typedef struct gen {
	fg_opts *o;
	fg_out *out;
	fg_rng rng;
	tx_user *users;
	uint32_t nusers;
	tx_rec *pool;
	uint32_t pool_n, pool_cap, free_head;
	fg_heap pending;
	uint64_t emitted, reserved, idkey;
	uint64_t by_type[F_KINDS], patterns[F_KINDS];
	fg_ts_cache tsc;
	/* the timeline: next arrival, pattern probabilities by time of day */
	double q_day, q_night, mean_ms, t_next_d;
	int64_t t_next;
} gen;

#define NO_FREE UINT32_MAX

/* ---- helpers ---------------------------------------------------------------- */

static double dist_km(int32_t lat1, int32_t lon1, int32_t lat2, int32_t lon2)
{
	const double d2r = M_PI / 180.0 / 1e4;
	double p1 = lat1 * d2r, p2 = lat2 * d2r, dp = (lat2 - lat1) * d2r, dl = (lon2 - lon1) * d2r;
	double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
	return 6371.0 * 2 * atan2(sqrt(a), sqrt(1 - a));
}

/* Risk scores must stay below 0.70 here (off-hours with a 30-min margin). */
static bool in_risk_cap_window(int64_t ts)
{
	int64_t m = fg_ms_of_day(ts) / 60000;
	return m >= 21 * 60 + 30 || m < 6 * 60 + 30;
}

/* Off-hours patterns start here (22:00-06:00 with a 30-min margin). */
static bool in_off_hours_core(int64_t ts)
{
	int64_t m = fg_ms_of_day(ts) / 60000;
	return m >= 22 * 60 + 30 || m < 5 * 60 + 30;
}

static int64_t draw_amount(gen *g, const tx_user *u, unsigned cat)
{
	double a = CATS[cat].median * u->spend / 100.0 * exp(CATS[cat].sigma * fg_rng_normal(&g->rng));
	int64_t cents = (int64_t)llround(a * 100);
	if (cat == C_ATM) cents = (cents + 1000) / 2000 * 2000;
	if (cents < 100) cents = cat == C_ATM ? 2000 : 100;
	if (cents > 999999) cents = 999999;
	return cents;
}

static int risk_of(gen *g, const tx_user *u, unsigned cat, unsigned meth, int64_t cents, int64_t ts)
{
	double typical = CATS[cat].median * u->spend;
	double ratio = (double)cents / typical;
	double r = 5 + CATS[cat].risk + METHOD_RISK[meth] + 4 * fg_rng_normal(&g->rng);
	if (ratio > 1) r += 12 * log2(ratio);
	int risk = (int)lround(r);
	if (risk < 1) risk = 1;
	if (risk > 95) risk = 95;
	if (risk >= 70 && in_risk_cap_window(ts)) risk = 69;
	return risk;
}

static unsigned user_cat(gen *g, const tx_user *u)
{
	return u->cats[fg_rng_unit(&g->rng) < 0.5 ? 0 : fg_rng_below(&g->rng, u->ncats)];
}

static unsigned user_meth(gen *g, const tx_user *u, unsigned cat)
{
	if (cat == C_ATM) return M_DEBIT;
	return u->meth[fg_rng_below(&g->rng, u->nmeth)];
}

static void init_users(gen *g)
{
	unsigned homes[NCITIES], nh = 0;
	for (unsigned i = 0; i < NCITIES; i++)
		if (CITIES[i].home) homes[nh++] = i;
	fg_rng r;
	fg_rng_seed(&r, fg_pop_seed(g->o), 1);
	for (uint32_t i = 0; i < g->nusers; i++) {
		tx_user *u = &g->users[i];
		u->city = (uint8_t)homes[fg_rng_below(&r, nh)];
		u->lat = CITIES[u->city].lat + (int32_t)fg_rng_range(&r, -HOME_SPREAD_E4, HOME_SPREAD_E4);
		u->lon = CITIES[u->city].lon + (int32_t)fg_rng_range(&r, -HOME_SPREAD_E4, HOME_SPREAD_E4);
		double s = 100 * exp(0.45 * fg_rng_normal(&r));
		u->spend = (uint16_t)(s < 30 ? 30 : s > 400 ? 400 : s);
		u->ncats = (uint8_t)(2 + fg_rng_below(&r, 3));
		for (unsigned k = 0; k < u->ncats; k++) {
			unsigned c;
			bool dup;
			do {
				c = fg_rng_pick(&r, CAT_W, NCATS);
				dup = false;
				for (unsigned j = 0; j < k; j++) dup |= u->cats[j] == c;
			} while (dup);
			u->cats[k] = (uint8_t)c;
		}
		u->nmeth = (uint8_t)(1 + fg_rng_below(&r, 3));
		for (unsigned k = 0; k < u->nmeth; k++) {
			unsigned m;
			bool dup;
			do {
				m = fg_rng_pick(&r, METHOD_W, 4);
				dup = false;
				for (unsigned j = 0; j < k; j++) dup |= u->meth[j] == m;
			} while (dup);
			u->meth[k] = (uint8_t)m;
		}
		u->next_ok = INT64_MIN / 4;
		u->last_ts = INT64_MIN / 4;
		u->last_fail = INT64_MIN / 4;
	}
}

/* ---- output ------------------------------------------------------------------ */

static char *put_user(char *p, uint32_t u)
{
	p = FG_LIT(p, "user");
	char d[12];
	char *e = fg_put_u64(d, u);
	for (size_t n = (size_t)(e - d); n < 6; n++) *p++ = '0';
	memcpy(p, d, (size_t)(e - d));
	return p + (e - d);
}

static bool emit(gen *g, const tx_rec *r)
{
	if (!fg_out_pace(g->out, r->ts)) return false;
	char *buf = fg_out_reserve(g->out), *p = buf;
	uint64_t k = g->emitted;
	p = FG_LIT(p, "{\"timestamp\":\"");
	p = fg_put_ts(p, r->ts, &g->tsc);
	p = FG_LIT(p, "\",\"transactionId\":\"");
	p = fg_put_uuid(p, fg_mix64(k + g->idkey), fg_mix64(k ^ (g->idkey * 31 + 7)));
	p = FG_LIT(p, "\",\"userId\":\"");
	char *key = p;
	p = put_user(p, r->user);
	size_t keylen = (size_t)(p - key);
	p = FG_LIT(p, "\",\"amount\":");
	p = fg_put_fixed(p, r->cents, 2);
	p = FG_LIT(p, ",\"currency\":");
	p = fg_put_qstr(p, CITIES[g->users[r->user].city].currency);
	p = FG_LIT(p, ",\"merchantCategory\":");
	p = fg_put_qstr(p, CATS[r->cat].name);
	p = FG_LIT(p, ",\"paymentMethod\":");
	p = fg_put_qstr(p, METHODS[r->meth]);
	p = FG_LIT(p, ",\"riskScore\":");
	p = fg_put_fixed(p, r->risk, 2);
	if (r->fraud) {
		p = FG_LIT(p, ",\"isFraud\":true,\"fraudType\":");
		p = fg_put_qstr(p, FRAUD_TYPES[r->fraud]);
	} else {
		p = FG_LIT(p, ",\"isFraud\":false,\"fraudType\":null");
	}
	p = FG_LIT(p, ",\"status\":");
	p = fg_put_qstr(p, STATUSES[r->status]);
	p = FG_LIT(p, ",\"country\":");
	p = fg_put_qstr(p, CITIES[r->city].country);
	p = FG_LIT(p, ",\"location\":{\"lat\":");
	p = fg_put_fixed(p, r->lat, 4);
	p = FG_LIT(p, ",\"lon\":");
	p = fg_put_fixed(p, r->lon, 4);
	p = FG_LIT(p, "}}");
	/* the key was written into the record; copy it before commit reuses the buffer */
	char keybuf[24];
	memcpy(keybuf, key, keylen);
	if (!fg_out_commit(g->out, (size_t)(p - buf), keybuf, keylen)) return false;
	g->emitted++;
	g->by_type[r->fraud]++;
	return true;
}

/* ---- normal traffic ------------------------------------------------------------- */

/* One normal transaction at `now` for a user free to make one; false when
 * no free user was found (the arrival is dropped). */
static bool make_normal(gen *g, int64_t now, tx_rec *r)
{
	uint32_t ui = 0;
	int tries;
	for (tries = 0; tries < 64; tries++) {
		ui = fg_rng_below(&g->rng, g->nusers);
		if (g->users[ui].next_ok <= now) break;
	}
	if (tries == 64) return false;
	tx_user *u = &g->users[ui];
	unsigned cat = user_cat(g, u), meth = user_meth(g, u, cat);
	r->ts = now;
	r->user = ui;
	r->cat = (uint8_t)cat;
	r->meth = (uint8_t)meth;
	r->cents = draw_amount(g, u, cat);
	r->city = u->city;
	r->lat = u->lat + (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
	r->lon = u->lon + (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
	double s = fg_rng_unit(&g->rng);
	if (s < 0.02 && now - u->last_fail >= QUIET_MS) {
		r->status = s < 0.007 ? S_FAILED : S_DECLINED;
		u->last_fail = now;
	} else {
		r->status = fg_rng_unit(&g->rng) < 0.87 ? S_COMPLETED : S_APPROVED;
	}
	r->risk = (uint8_t)risk_of(g, u, cat, meth, r->cents, now);
	r->fraud = F_NONE;
	u->last_ts = now;
	u->next_ok = now + (r->cents >= 100000 ? QUIET_MS : MIN_GAP_MS);
	return true;
}

/* ---- fraud patterns --------------------------------------------------------------- */

static tx_rec *pool_get(gen *g, uint32_t *idx)
{
	if (g->free_head != NO_FREE) {
		*idx = g->free_head;
		g->free_head = g->pool[*idx].next_free;
		return &g->pool[*idx];
	}
	if (g->pool_n == g->pool_cap) {
		uint32_t cap = g->pool_cap ? g->pool_cap * 2 : 1024;
		tx_rec *p = realloc(g->pool, cap * sizeof *p);
		if (!p) return NULL;
		g->pool = p;
		g->pool_cap = cap;
	}
	*idx = g->pool_n++;
	return &g->pool[*idx];
}

static bool schedule(gen *g, const tx_rec *r)
{
	uint32_t idx;
	tx_rec *slot = pool_get(g, &idx);
	if (!slot) return false;
	*slot = *r;
	if (!fg_heap_push(&g->pending, r->ts, idx)) return false;
	g->reserved++;
	return true;
}

/* A record of a pattern for user u at ts, at home unless changed after. */
static tx_rec pattern_rec(gen *g, uint32_t ui, int64_t ts, unsigned fraud, unsigned cat, int64_t cents,
			  unsigned status)
{
	tx_user *u = &g->users[ui];
	tx_rec r;
	memset(&r, 0, sizeof r);
	r.ts = ts;
	r.user = ui;
	r.cat = (uint8_t)cat;
	r.meth = (uint8_t)user_meth(g, u, cat);
	r.cents = cents;
	r.city = u->city;
	r.lat = u->lat;
	r.lon = u->lon;
	r.status = (uint8_t)status;
	r.fraud = (uint8_t)fraud;
	int risk = risk_of(g, u, cat, r.meth, cents, ts) + 15;
	if (risk > 95) risk = 95;
	if (risk >= 70 && in_risk_cap_window(ts)) risk = 69;
	r.risk = (uint8_t)risk;
	return r;
}

/* Pattern lengths decided before scheduling, so a --count run can refuse a
 * pattern that would not fit and end with whole patterns only. */
static unsigned pattern_len(gen *g, unsigned type, unsigned *extra)
{
	switch (type) {
	case F_VELOCITY: *extra = fg_rng_below(&g->rng, 2); return 6 + *extra;
	case F_STRUCTURING: *extra = 3 + fg_rng_below(&g->rng, 2); return 1 + *extra;
	case F_GEO: *extra = 0; return 3;
	case F_CARD_TESTING: *extra = 3 + fg_rng_below(&g->rng, 3); return 1 + *extra;
	default: *extra = 0; return 1;
	}
}

static int geo_away_city(gen *g, const tx_user *u)
{
	unsigned cand[NCITIES], n = 0;
	if (fg_rng_unit(&g->rng) < 0.3) {
		/* same country, far away: only the 900 km/h rule catches it */
		for (unsigned i = 0; i < NCITIES; i++)
			if (!strcmp(CITIES[i].country, CITIES[u->city].country) &&
			    dist_km(u->lat, u->lon, CITIES[i].lat, CITIES[i].lon) >= 400)
				cand[n++] = i;
	}
	if (!n)
		for (unsigned i = 0; i < NCITIES; i++)
			if (strcmp(CITIES[i].country, CITIES[u->city].country) != 0) cand[n++] = i;
	return (int)cand[fg_rng_below(&g->rng, n)];
}

/* Starts a fraud pattern at or after `now`; false only when out of memory. */
static bool start_pattern(gen *g, int64_t now)
{
	uint32_t ui = 0;
	int tries;
	for (tries = 0; tries < 64; tries++) {
		ui = fg_rng_below(&g->rng, g->nusers);
		if (g->users[ui].next_ok <= now) break;
	}
	if (tries == 64) return true;
	tx_user *u = &g->users[ui];
	int64_t t0 = now + 1000 + (int64_t)fg_rng_below(&g->rng, 60000);
	if (t0 < u->last_ts + QUIET_MS) t0 = u->last_ts + QUIET_MS + (int64_t)fg_rng_below(&g->rng, 60000);

	static const double DAY_W[F_KINDS] = { 0, 1, 1, 1, 1, 0 };
	static const double NIGHT_W[F_KINDS] = { 0, 0.1, 0.1, 0.1, 0.1, 0.6 };
	unsigned type = fg_rng_pick(&g->rng, in_off_hours_core(t0) ? NIGHT_W : DAY_W, F_KINDS);
	unsigned extra;
	unsigned len = pattern_len(g, type, &extra);
	if (g->o->count && g->reserved + len > g->o->count) return true;

	int64_t t = t0;
	tx_rec r;
	switch (type) {
	case F_VELOCITY: {
		/* 6-7 completed ones 6-16 s apart (< 100 s in all), one place */
		unsigned cat = fg_rng_unit(&g->rng) < 0.5 ? C_ONLINE : C_ELECTRONICS;
		for (unsigned i = 0; i < len; i++) {
			if (i) t += fg_rng_range(&g->rng, 6000, 16000);
			r = pattern_rec(g, ui, t, type, cat, fg_rng_range(&g->rng, 10100, 99900),
					S_COMPLETED);
			if (!schedule(g, &r)) return false;
		}
		break;
	}
	case F_STRUCTURING: {
		/* one of 1000-4999.99, then 3-4 of 9-99.99, 40-130 s apart (< 520 s) */
		unsigned cat = fg_rng_unit(&g->rng) < 0.5 ? C_ATM : C_ONLINE;
		int64_t big = cat == C_ATM ? fg_rng_range(&g->rng, 50, 249) * 2000
					   : fg_rng_range(&g->rng, 100000, 499999);
		r = pattern_rec(g, ui, t, type, cat, big, S_COMPLETED);
		if (!schedule(g, &r)) return false;
		for (unsigned i = 0; i < extra; i++) {
			t += fg_rng_range(&g->rng, 40000, 130000);
			r = pattern_rec(g, ui, t, type, C_ONLINE, fg_rng_range(&g->rng, 900, 9999),
					S_COMPLETED);
			if (!schedule(g, &r)) return false;
		}
		break;
	}
	case F_GEO: {
		/* home, far away 60-120 s later, home again 60-120 s later (< 240 s) */
		unsigned cat = user_cat(g, u);
		int away = geo_away_city(g, u);
		r = pattern_rec(g, ui, t, type, cat, draw_amount(g, u, cat), S_COMPLETED);
		r.lat += (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
		r.lon += (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
		if (!schedule(g, &r)) return false;
		t += fg_rng_range(&g->rng, 60000, 120000);
		unsigned acat = fg_rng_unit(&g->rng) < 0.5 ? C_ONLINE : C_ELECTRONICS;
		r = pattern_rec(g, ui, t, type, acat, draw_amount(g, u, acat), S_COMPLETED);
		r.city = (uint8_t)away;
		r.lat = CITIES[away].lat + (int32_t)fg_rng_range(&g->rng, -300, 300);
		r.lon = CITIES[away].lon + (int32_t)fg_rng_range(&g->rng, -300, 300);
		if (!schedule(g, &r)) return false;
		t += fg_rng_range(&g->rng, 60000, 120000);
		cat = user_cat(g, u);
		r = pattern_rec(g, ui, t, type, cat, draw_amount(g, u, cat), S_COMPLETED);
		r.lat += (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
		r.lon += (int32_t)fg_rng_range(&g->rng, -JITTER_E4, JITTER_E4);
		if (!schedule(g, &r)) return false;
		break;
	}
	case F_CARD_TESTING: {
		/* 3-5 small failed/declined ones, then a success; 30-90 s apart (< 540 s) */
		for (unsigned i = 0; i < extra; i++) {
			if (i) t += fg_rng_range(&g->rng, 30000, 90000);
			unsigned st = fg_rng_unit(&g->rng) < 0.5 ? S_FAILED : S_DECLINED;
			r = pattern_rec(g, ui, t, type, C_ONLINE, fg_rng_range(&g->rng, 50, 999), st);
			if (!schedule(g, &r)) return false;
		}
		t += fg_rng_range(&g->rng, 30000, 90000);
		unsigned cat = fg_rng_unit(&g->rng) < 0.5 ? C_ONLINE : C_ELECTRONICS;
		r = pattern_rec(g, ui, t, type, cat, fg_rng_range(&g->rng, 2000, 50000), S_COMPLETED);
		if (!schedule(g, &r)) return false;
		break;
	}
	default: {
		/* one at night (22:30-05:30) with risk 0.70-0.98, 3-10 times the usual */
		unsigned cat = fg_rng_unit(&g->rng) < 0.6 ? C_ONLINE : C_ELECTRONICS;
		int64_t cents = (int64_t)(CATS[cat].median * u->spend * (3 + 7 * fg_rng_unit(&g->rng)));
		if (cents > 99999) cents = 99999; /* under 1000: never the start of structuring */
		r = pattern_rec(g, ui, t, type, cat, cents,
				fg_rng_unit(&g->rng) < 0.7 ? S_COMPLETED : S_APPROVED);
		r.risk = (uint8_t)fg_rng_range(&g->rng, 70, 98);
		if (!schedule(g, &r)) return false;
		break;
	}
	}
	u->last_ts = t;
	u->next_ok = t + QUIET_MS;
	g->patterns[type]++;
	return true;
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(FILE *f);
static const fg_mode_info INFO = {
	"transactions", "--users", "--fraud-rate", 20000, 0.02, 100, usage,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flinc-gen transactions [options]\n"
		"Payment transactions as JSON lines, with injected fraud labelled isFraud/fraudType\n"
		"(VELOCITY_FRAUD, STRUCTURING_FRAUD, GEO_ANOMALY, CARD_TESTING, OFF_HOURS_HIGH_RISK);\n"
		"normal traffic never matches a fraud rule (docs/generators.md).\n");
	fg_common_usage(f, &INFO);
}

static int tx_open(void *gp, fg_opts *o, fg_out *out, char *err, size_t errcap)
{
	gen *g = gp;
	/* a user's normal transactions are >= 30 s apart: keep the mean gap per
	 * user >= 120 s so a free user is found at once */
	if (fg_need_users(o, o->event_rate * 120.0, "records/s", "a user's transactions are >= 30 s apart",
			  err, errcap))
		return 2;
	g->o = o;
	g->out = out;
	g->nusers = (uint32_t)o->pop;
	g->free_head = NO_FREE;
	g->idkey = fg_mix64(o->seed * 0x9e3779b97f4a7c15ULL + 0x7478);
	g->users = malloc(sizeof *g->users * g->nusers);
	if (!g->users) {
		snprintf(err, errcap, "out of memory for %u users", g->nusers);
		return 1;
	}
	init_users(g);
	fg_rng_seed(&g->rng, o->seed, 2);
	/* an arrival starts a pattern with probability q, so that patterns'
	 * records are about label_rate of all */
	g->q_day = o->label_rate / (AVG_LEN_DAY * (1 - o->label_rate));
	g->q_night = o->label_rate / (AVG_LEN_NIGHT * (1 - o->label_rate));
	g->mean_ms = 1000.0 / o->event_rate;
	g->t_next_d = (double)o->start_ms;
	g->t_next = o->start_ms;
	return 0;
}

static int tx_step(void *gp)
{
	gen *g = gp;
	const fg_opts *o = g->o;
	tx_rec r;
	for (;;) {
		if (o->count && g->emitted >= o->count) return 0;
		const fg_heap_ent *top = fg_heap_top(&g->pending);
		bool drain = o->count && g->reserved >= o->count;
		if (top && (drain || top->t <= g->t_next)) {
			fg_heap_ent e;
			fg_heap_pop(&g->pending, &e);
			r = g->pool[e.idx];
			g->pool[e.idx].next_free = g->free_head;
			g->free_head = e.idx;
			return emit(g, &r) ? 1 : -1;
		}
		if (drain) return 0;
		int64_t now = g->t_next;
		g->t_next_d += fg_rng_exp(&g->rng, g->mean_ms);
		g->t_next = (int64_t)g->t_next_d;
		double q = in_off_hours_core(now) ? g->q_night : g->q_day;
		if (q > 0 && fg_rng_unit(&g->rng) < q) {
			if (!start_pattern(g, now)) {
				fprintf(stderr, "flinc-gen transactions: out of memory\n");
				return -1;
			}
		} else if (make_normal(g, now, &r)) {
			g->reserved++;
			return emit(g, &r) ? 1 : -1;
		}
	}
}

static uint64_t tx_emitted(const void *g) { return ((const gen *)g)->emitted; }

static void tx_stats(const void *gp, FILE *f)
{
	const gen *g = gp;
	fprintf(f,
		"flinc-gen transactions: %" PRIu64 " records, fraud records: velocity %" PRIu64
		" structuring %" PRIu64 " geo %" PRIu64 " card_testing %" PRIu64 " off_hours %" PRIu64 "\n",
		g->emitted, g->by_type[1], g->by_type[2], g->by_type[3], g->by_type[4], g->by_type[5]);
}

static void tx_close(void *gp)
{
	gen *g = gp;
	fg_heap_free(&g->pending);
	free(g->pool);
	free(g->users);
}

const fg_gen_ops fg_transactions_gen = {
	.info = &INFO,
	.size = sizeof(gen),
	.open = tx_open,
	.step = tx_step,
	.emitted = tx_emitted,
	.stats = tx_stats,
	.close = tx_close,
};

int fg_transactions_main(int argc, char **argv) { return fg_run_mode(&fg_transactions_gen, argc, argv); }
