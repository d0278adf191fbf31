/*
 * gen-user-events.c - `flinc-gen user-events`: web user events in sessions
 * (DESIGN.md "The three seed jobs"; docs/generators.md).
 *
 * Sessions start as a Poisson process of event time, each for a user who is
 * not in a session and whose last session ended more than 30 min ago (31 min
 * plus an exponential pause), and follow a journey:
 *   bounce (35 %)    one page_view, nothing else;
 *   browse (50 %)    [login] page_view page_view, then 1-14 of page_view,
 *                    button_click, search, video_play, form_submission,
 *                    [logout];
 *   purchase (15 %)  [login] page_view search page_view button_click
 *                    page_view(/cart) form_submission purchase [logout].
 * So a session is a bounce exactly when it has one event, and has >= 2
 * page views otherwise. Events of a session are < 20 min apart (the
 * aggregation job's session gap is 30 min). A heap orders the active
 * sessions by their next event; the output is in event-time order.
 */
#include "flinc-gen.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_GAP_MS (31 * 60000) /* at least this between a user's sessions */
#define MAX_GAP_MS (20 * 60000)     /* at most this between events of a session */
#define AVG_EVENTS 6.5              /* mean events per session (measured 6.55), for the arrival rate */

enum { E_PV, E_CLICK, E_FORM, E_SEARCH, E_LOGIN, E_LOGOUT, E_PURCHASE, E_VIDEO, NEV };
static const char *const EVENT_NAMES[NEV] = { "page_view", "button_click", "form_submission", "search",
					      "login",     "logout",       "purchase",        "video_play" };

static const char *const LANDING[] = { "/",
				       "/home",
				       "/products",
				       "/products/electronics",
				       "/products/books",
				       "/products/clothing",
				       "/blog/streaming-101",
				       "/blog/release-notes",
				       "/deals",
				       "/about" };
static const char *const PAGES[] = {
	"/",
	"/home",
	"/products",
	"/products/electronics",
	"/products/electronics/laptops",
	"/products/electronics/phones",
	"/products/books",
	"/products/books/fiction",
	"/products/clothing",
	"/products/clothing/shoes",
	"/products/home-garden",
	"/deals",
	"/blog",
	"/blog/streaming-101",
	"/blog/release-notes",
	"/account",
	"/account/orders",
	"/help",
	"/contact",
	"/about",
};
static const char *const PRODUCTS[] = {
	"/products/electronics/laptops/lx-14", "/products/electronics/phones/p-9",
	"/products/books/fiction/the-stream",  "/products/clothing/shoes/runner-2",
	"/products/home-garden/lamp-3",        "/products/electronics/headphones/h-7"
};
static const char *const QUERIES[] = {
	"wireless headphones", "laptop", "running shoes", "gift ideas", "phone case",
	"desk lamp",           "novel",  "usb-c cable",   "backpack",   "coffee"
};
static const char *const BUTTONS[] = {
	"add_to_cart", "like", "share", "menu", "next", "subscribe", "filter"
};
static const char *const FORMS[] = { "contact", "newsletter", "profile", "feedback" };
static const char *const LOGINS[] = { "password", "google", "sso" };
static const char *const REFERRERS[] = { "https://www.google.com/",       "direct",
					 "https://twitter.com/",          "https://www.facebook.com/",
					 "https://news.ycombinator.com/", "internal" };
static const struct {
	const char *code, *currency;
	double weight;
} COUNTRIES[] = {
	{ "US", "USD", 30 }, { "GB", "GBP", 8 }, { "DE", "EUR", 8 }, { "FR", "EUR", 6 },
	{ "IN", "INR", 10 }, { "BR", "BRL", 6 }, { "CA", "CAD", 5 }, { "JP", "JPY", 5 },
	{ "AU", "AUD", 4 },  { "ES", "EUR", 4 }, { "MX", "MXN", 4 }, { "NL", "EUR", 3 },
};
#define NCOUNTRIES (sizeof COUNTRIES / sizeof COUNTRIES[0])
static const char *const AGENTS[] = {
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
	"Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
	"Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
	"Version/17.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile "
	"Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 "
	"Safari/537.36 Edg/124.0",
	"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
	"Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0 Mobile "
	"Safari/537.36",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

enum { J_BOUNCE, J_BROWSE, J_PURCHASE };

typedef struct session {
	double next_t;
	uint64_t sid;
	uint32_t user;
	uint32_t next_free;
	uint8_t plan[24];
	uint8_t len, step, journey;
	const char *page; /* the current page */
} session;

typedef struct gen {
	fg_opts *o;
	fg_out *out;
	fg_rng rng;
	int64_t *next_ok; /* per user: earliest start of the next session */
	uint32_t nusers;
	session *pool;
	uint32_t pool_n, pool_cap, free_head;
	fg_heap active;
	uint64_t emitted, reserved, sessions, bounces, idkey;
	fg_ts_cache tsc;
	double mean_ms, t_next_d; /* the timeline: next session start */
	int64_t t_next;
} gen;

#define NO_FREE UINT32_MAX

static void user_profile(const gen *g, uint32_t u, unsigned *country, unsigned *agent)
{
	uint64_t h = fg_mix64(fg_pop_seed(g->o) * 0x9e3779b97f4a7c15ULL ^ fg_mix64(u + 0x55e5));
	double w = 0, total = 0;
	for (unsigned i = 0; i < NCOUNTRIES; i++) total += COUNTRIES[i].weight;
	double x = (double)(h >> 11) * 0x1.0p-53 * total;
	*country = NCOUNTRIES - 1;
	for (unsigned i = 0; i < NCOUNTRIES; i++) {
		w += COUNTRIES[i].weight;
		if (x < w) {
			*country = i;
			break;
		}
	}
	*agent = (unsigned)(fg_mix64(h) % N(AGENTS));
}

static unsigned make_plan(gen *g, uint8_t *plan, unsigned *journey)
{
	double x = fg_rng_unit(&g->rng);
	unsigned n = 0;
	if (x < 0.35) {
		*journey = J_BOUNCE;
		plan[n++] = E_PV;
		return n;
	}
	if (x < 0.85) {
		*journey = J_BROWSE;
		bool login = fg_rng_unit(&g->rng) < 0.25;
		if (login) plan[n++] = E_LOGIN;
		plan[n++] = E_PV;
		plan[n++] = E_PV;
		static const double W[NEV] = { 45, 20, 8, 15, 0, 0, 0, 12 };
		unsigned extra = 1 + fg_rng_below(&g->rng, 14);
		for (unsigned i = 0; i < extra; i++) plan[n++] = (uint8_t)fg_rng_pick(&g->rng, W, NEV);
		if (login && fg_rng_unit(&g->rng) < 0.5) plan[n++] = E_LOGOUT;
		return n;
	}
	*journey = J_PURCHASE;
	bool login = fg_rng_unit(&g->rng) < 0.7;
	if (login) plan[n++] = E_LOGIN;
	static const uint8_t FLOW[] = { E_PV, E_SEARCH, E_PV, E_CLICK, E_PV, E_FORM, E_PURCHASE };
	for (unsigned i = 0; i < N(FLOW); i++) plan[n++] = FLOW[i];
	if (login && fg_rng_unit(&g->rng) < 0.5) plan[n++] = E_LOGOUT;
	return n;
}

static session *pool_get(gen *g, uint32_t *idx)
{
	if (g->free_head != NO_FREE) {
		*idx = g->free_head;
		g->free_head = g->pool[*idx].next_free;
		return &g->pool[*idx];
	}
	if (g->pool_n == g->pool_cap) {
		uint32_t cap = g->pool_cap ? g->pool_cap * 2 : 1024;
		session *p = realloc(g->pool, cap * sizeof *p);
		if (!p) return NULL;
		g->pool = p;
		g->pool_cap = cap;
	}
	*idx = g->pool_n++;
	return &g->pool[*idx];
}

/* Starts a session at `now` if a free user is found and (with --count) it
 * fits; false only when out of memory. */
static bool start_session(gen *g, int64_t now)
{
	uint32_t u = 0;
	int tries;
	for (tries = 0; tries < 64; tries++) {
		u = fg_rng_below(&g->rng, g->nusers);
		if (g->next_ok[u] <= now) break;
	}
	if (tries == 64) return true;
	uint8_t plan[24];
	unsigned journey, len = make_plan(g, plan, &journey);
	if (g->o->count && g->reserved + len > g->o->count) return true;
	uint32_t idx;
	session *s = pool_get(g, &idx);
	if (!s) return false;
	memcpy(s->plan, plan, len);
	s->len = (uint8_t)len;
	s->step = 0;
	s->journey = (uint8_t)journey;
	s->user = u;
	s->sid = g->sessions++;
	s->next_t = (double)now;
	s->page = NULL;
	g->next_ok[u] = INT64_MAX; /* in a session */
	g->reserved += len;
	if (journey == J_BOUNCE) g->bounces++;
	return fg_heap_push(&g->active, now, idx);
}

static int64_t lognormal_ms(gen *g, double median_ms, double sigma, int64_t lo, int64_t hi)
{
	int64_t v = (int64_t)(median_ms * exp(sigma * fg_rng_normal(&g->rng)));
	return v < lo ? lo : v > hi ? hi : v;
}

static char *put_user(char *p, uint32_t u)
{
	p = FG_LIT(p, "user");
	char d[12];
	char *e = fg_put_u64(d, u);
	for (size_t n = (size_t)(e - d); n < 6; n++) *p++ = '0';
	memcpy(p, d, (size_t)(e - d));
	return p + (e - d);
}

/* Writes the session's next event; false if the output failed. */
static bool emit_event(gen *g, uint32_t idx, int64_t ts)
{
	session *s = &g->pool[idx];
	unsigned ev = s->plan[s->step];
	unsigned country, agent;
	user_profile(g, s->user, &country, &agent);
	int64_t dur;
	const char *page;
	fg_rng *r = &g->rng;

	if (!fg_out_pace(g->out, ts)) return false;
	char *buf = fg_out_reserve(g->out), *p = buf;
	char meta[512], *m = meta;
	switch (ev) {
	case E_PV:
		if (!s->page) {
			page = LANDING[fg_rng_below(r, N(LANDING))];
		} else if (s->journey == J_PURCHASE) {
			/* home, the product found by the search, then the cart */
			page = s->step <= 1
				? "/home"
				: (s->plan[s->step - 1] == E_CLICK ? "/cart"
								   : PRODUCTS[fg_rng_below(r, N(PRODUCTS))]);
		} else {
			page = PAGES[fg_rng_below(r, N(PAGES))];
		}
		dur = lognormal_ms(g, 15000, 1.0, 500, 600000);
		m = FG_LIT(m, "{\"referrer\":");
		m = fg_put_qstr(m, s->page ? "internal" : REFERRERS[fg_rng_below(r, N(REFERRERS))]);
		m = FG_LIT(m, ",\"loadTimeMs\":");
		m = fg_put_i64(m, lognormal_ms(g, 600, 0.6, 50, 15000));
		*m++ = '}';
		break;
	case E_CLICK:
		page = s->page ? s->page : "/";
		dur = fg_rng_range(r, 100, 2000);
		m = FG_LIT(m, "{\"buttonId\":");
		m = fg_put_qstr(
			m, s->journey == J_PURCHASE ? "add_to_cart" : BUTTONS[fg_rng_below(r, N(BUTTONS))]);
		*m++ = '}';
		break;
	case E_SEARCH:
		page = "/search";
		dur = fg_rng_range(r, 500, 6000);
		m = FG_LIT(m, "{\"query\":");
		m = fg_put_qstr(m, QUERIES[fg_rng_below(r, N(QUERIES))]);
		m = FG_LIT(m, ",\"results\":");
		m = fg_put_i64(m, fg_rng_range(r, 0, 240));
		*m++ = '}';
		break;
	case E_FORM:
		page = s->journey == J_PURCHASE ? "/checkout" : "/contact";
		dur = lognormal_ms(g, 30000, 0.7, 3000, 600000);
		m = FG_LIT(m, "{\"formId\":");
		m = fg_put_qstr(m, s->journey == J_PURCHASE ? "checkout" : FORMS[fg_rng_below(r, N(FORMS))]);
		*m++ = '}';
		break;
	case E_LOGIN:
		page = "/login";
		dur = fg_rng_range(r, 1500, 20000);
		m = FG_LIT(m, "{\"method\":");
		m = fg_put_qstr(m, LOGINS[fg_rng_below(r, N(LOGINS))]);
		*m++ = '}';
		break;
	case E_LOGOUT:
		page = s->page ? s->page : "/";
		dur = fg_rng_range(r, 100, 1000);
		m = FG_LIT(m, "{\"reason\":\"user\"}");
		break;
	case E_PURCHASE: {
		page = "/checkout/confirm";
		dur = fg_rng_range(r, 1000, 8000);
		int64_t items = fg_rng_range(r, 1, 5);
		int64_t cents = items * lognormal_ms(g, 3500, 0.8, 199, 500000);
		m = FG_LIT(m, "{\"orderId\":\"o-");
		uint64_t oid = fg_mix64((s->sid ^ 0x04de5ULL) * 0x9e3779b97f4a7c15ULL + g->idkey);
		static const char HEX[] = "0123456789abcdef";
		for (int i = 0; i < 12; i++) *m++ = HEX[(oid >> (44 - 4 * i)) & 15];
		m = FG_LIT(m, "\",\"amount\":");
		m = fg_put_fixed(m, cents, 2);
		m = FG_LIT(m, ",\"currency\":");
		m = fg_put_qstr(m, COUNTRIES[country].currency);
		m = FG_LIT(m, ",\"items\":");
		m = fg_put_i64(m, items);
		*m++ = '}';
		break;
	}
	default: { /* video_play */
		unsigned v = fg_rng_below(r, 50);
		static char vpages[50][16];
		if (!vpages[v][0]) snprintf(vpages[v], sizeof vpages[v], "/videos/v%03u", v);
		page = vpages[v];
		dur = lognormal_ms(g, 90000, 1.0, 2000, 900000);
		m = FG_LIT(m, "{\"videoId\":\"v");
		m = fg_put_u64(m, v);
		m = FG_LIT(m, "\",\"watchedSec\":");
		m = fg_put_i64(m, dur / 1000);
		*m++ = '}';
		break;
	}
	}
	s->page = page;

	p = FG_LIT(p, "{\"timestamp\":\"");
	p = fg_put_ts(p, ts, &g->tsc);
	p = FG_LIT(p, "\",\"userId\":\"");
	char *key = p;
	p = put_user(p, s->user);
	size_t keylen = (size_t)(p - key);
	p = FG_LIT(p, "\",\"sessionId\":\"");
	p = fg_put_uuid(p, fg_mix64(s->sid + g->idkey), fg_mix64(s->sid ^ (g->idkey * 17 + 3)));
	p = FG_LIT(p, "\",\"eventType\":");
	p = fg_put_qstr(p, EVENT_NAMES[ev]);
	p = FG_LIT(p, ",\"page\":");
	p = fg_put_qstr(p, page);
	p = FG_LIT(p, ",\"country\":");
	p = fg_put_qstr(p, COUNTRIES[country].code);
	p = FG_LIT(p, ",\"userAgent\":");
	p = fg_put_qstr(p, AGENTS[agent]);
	p = FG_LIT(p, ",\"duration\":");
	p = fg_put_i64(p, dur);
	p = FG_LIT(p, ",\"metadata\":");
	memcpy(p, meta, (size_t)(m - meta));
	p += m - meta;
	*p++ = '}';
	char keybuf[24];
	memcpy(keybuf, key, keylen);
	if (!fg_out_commit(g->out, (size_t)(p - buf), keybuf, keylen)) return false;
	g->emitted++;

	/* next event, or the end of the session */
	if (++s->step < s->len) {
		double gap = (double)dur + fg_rng_exp(r, 3000);
		if (gap > MAX_GAP_MS) gap = MAX_GAP_MS;
		s->next_t += gap;
		return fg_heap_push(&g->active, (int64_t)s->next_t, idx);
	}
	g->next_ok[s->user] = ts + SESSION_GAP_MS + (int64_t)fg_rng_exp(r, 3600000);
	s->next_free = g->free_head;
	g->free_head = idx;
	return true;
}

static void usage(FILE *f);
static const fg_mode_info INFO = {
	"user-events", "--users", NULL, 100000, 0, 100, usage,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flinc-gen user-events [options]\n"
		"Web user events as JSON lines, in sessions (journeys of page_view, button_click,\n"
		"form_submission, search, login, logout, purchase, video_play; 35 %% bounces);\n"
		"a user's sessions are more than 30 min apart (docs/generators.md).\n");
	fg_common_usage(f, &INFO);
}

static int ue_open(void *gp, fg_opts *o, fg_out *out, char *err, size_t errcap)
{
	gen *g = gp;
	/* a session plus the pause after it takes a user ~40 min: keep twice the
	 * users that many sessions need */
	if (fg_need_users(o, o->event_rate * 800.0, "events/s", "a user's sessions are > 30 min apart", err,
			  errcap))
		return 2;
	g->o = o;
	g->out = out;
	g->nusers = (uint32_t)o->pop;
	g->free_head = NO_FREE;
	g->idkey = fg_mix64(o->seed * 0x9e3779b97f4a7c15ULL + 0x5e55);
	g->next_ok = malloc(sizeof *g->next_ok * g->nusers);
	if (!g->next_ok) {
		snprintf(err, errcap, "out of memory for %u users", g->nusers);
		return 1;
	}
	for (uint32_t i = 0; i < g->nusers; i++) g->next_ok[i] = INT64_MIN / 4;
	fg_rng_seed(&g->rng, o->seed, 21);
	g->mean_ms = 1000.0 * AVG_EVENTS / o->event_rate;
	g->t_next_d = (double)o->start_ms;
	g->t_next = o->start_ms;
	return 0;
}

static int ue_step(void *gp)
{
	gen *g = gp;
	const fg_opts *o = g->o;
	for (;;) {
		if (o->count && g->emitted >= o->count) return 0;
		const fg_heap_ent *top = fg_heap_top(&g->active);
		bool drain = o->count && g->reserved >= o->count;
		if (top && (drain || top->t <= g->t_next)) {
			fg_heap_ent e;
			fg_heap_pop(&g->active, &e);
			return emit_event(g, e.idx, e.t) ? 1 : -1;
		}
		if (drain) return 0;
		int64_t now = g->t_next;
		g->t_next_d += fg_rng_exp(&g->rng, g->mean_ms);
		g->t_next = (int64_t)g->t_next_d;
		if (!start_session(g, now)) {
			fprintf(stderr, "flinc-gen user-events: out of memory\n");
			return -1;
		}
	}
}

static uint64_t ue_emitted(const void *g) { return ((const gen *)g)->emitted; }

static void ue_stats(const void *gp, FILE *f)
{
	const gen *g = gp;
	fprintf(f, "flinc-gen user-events: %" PRIu64 " events, %" PRIu64 " sessions, %" PRIu64 " bounces\n",
		g->emitted, g->sessions, g->bounces);
}

static void ue_close(void *gp)
{
	gen *g = gp;
	fg_heap_free(&g->active);
	free(g->pool);
	free(g->next_ok);
}

const fg_gen_ops fg_user_events_gen = {
	.info = &INFO,
	.size = sizeof(gen),
	.open = ue_open,
	.step = ue_step,
	.emitted = ue_emitted,
	.stats = ue_stats,
	.close = ue_close,
};

int fg_user_events_main(int argc, char **argv) { return fg_run_mode(&fg_user_events_gen, argc, argv); }
