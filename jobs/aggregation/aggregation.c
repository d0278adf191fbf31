/*
 * aggregation.c - windowed aggregates over the user-events seed stream
 * (DESIGN.md "The three seed jobs", docs/aggregation.md).
 *
 *   aggregation.so --input ADDRESS [--output ADDRESS] [--late ADDRESS]
 *
 * parse (JSON user events; timestamp, userId, sessionId, eventType, page
 * required) -> event time with 10 s bounded out-of-orderness, then:
 *   user_event_counts      key (userId, eventType), 1-min tumbling, count
 *   page_counts            key page, 5-min tumbling, count
 *   session                key sessionId, 30-min session gap: start, end
 *                          (first/last event), duration, count
 *   bounce                 the sessions with one event
 *   events_per_second      all events, 10 s tumbling: count, value = count/10
 *   page_views_per_second  page_view events, 5 s tumbling: count, value = count/5
 *   conversion_rate        1-min sliding by 10 s: value = purchases / page
 *                          views (0 without page views), count = purchases
 *   active_users           distinct userIds per 1-min tumbling window
 * Records later than the watermark for the user_event_counts window go to
 * --late (the input event as parsed; default: discarded and counted); the
 * other windows drop and count their late records.
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MS 1LL
#define SEC (1000 * MS)
#define MIN (60 * SEC)

typedef struct uev {
	int64_t timestamp;
	flinc_str user_id, session_id, event_type, page;
} uev;

FLINC_STRUCT_TYPE(uev_type, uev, "aggregation.event", 0,
		  FLINC_FIELD_NAMED(uev, timestamp, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS), "timestamp"),
		  FLINC_FIELD_NAMED(uev, user_id, FLINC_REQUIRED(FLINC_FIELD_STR), "userId"),
		  FLINC_FIELD_NAMED(uev, session_id, FLINC_REQUIRED(FLINC_FIELD_STR), "sessionId"),
		  FLINC_FIELD_NAMED(uev, event_type, FLINC_REQUIRED(FLINC_FIELD_STR), "eventType"),
		  FLINC_FIELD_NAMED(uev, page, FLINC_REQUIRED(FLINC_FIELD_STR), "page"));
FLINC_JSON_FORMAT(uev_json, uev_type_fields);

/* One output record; kind says which fields are meaningful. */
enum { K_USER, K_PAGE, K_SESSION, K_BOUNCE, K_EPS, K_PVPS, K_CONV, K_ACTIVE };
static const char *const KIND_NAMES[] = {
	"user_event_counts", "events_per_second", "page_counts", "page_views_per_second",
	"session",           "conversion_rate",   "bounce",      "active_users"
};
/* indices into KIND_NAMES by enum order */
static const int KIND_NAME_OF[] = { [K_USER] = 0, [K_PAGE] = 2, [K_SESSION] = 4, [K_BOUNCE] = 6,
				    [K_EPS] = 1,  [K_PVPS] = 3, [K_CONV] = 5,    [K_ACTIVE] = 7 };

typedef struct agg_out {
	int64_t kind;
	int64_t window_start, window_end;
	flinc_str user_id, event_type, page, session_id;
	int64_t count;
	int64_t start, end; /* session: first and last event */
	double value;
} agg_out;

FLINC_STRUCT_TYPE(agg_out_type, agg_out, "aggregation.out", 0, FLINC_FIELD(agg_out, kind, FLINC_FIELD_I64),
		  FLINC_FIELD(agg_out, window_start, FLINC_FIELD_I64),
		  FLINC_FIELD(agg_out, window_end, FLINC_FIELD_I64),
		  FLINC_FIELD(agg_out, user_id, FLINC_FIELD_STR),
		  FLINC_FIELD(agg_out, event_type, FLINC_FIELD_STR),
		  FLINC_FIELD(agg_out, page, FLINC_FIELD_STR),
		  FLINC_FIELD(agg_out, session_id, FLINC_FIELD_STR),
		  FLINC_FIELD(agg_out, count, FLINC_FIELD_I64), FLINC_FIELD(agg_out, start, FLINC_FIELD_I64),
		  FLINC_FIELD(agg_out, end, FLINC_FIELD_I64), FLINC_FIELD(agg_out, value, FLINC_FIELD_F64));

/* ---- parse -------------------------------------------------------------- */

static void parse(flinc_ctx *c, const void *in)
{
	uev u;
	memset(&u, 0, sizeof u);
	if (flinc_json_record(c, uev_type_fields, sizeof uev_type_fields / sizeof uev_type_fields[0], in, &u))
		flinc_emit_ts(c, &u, u.timestamp);
}

static int64_t uev_ts(const void *rec) { return ((const uev *)rec)->timestamp; }

static bool is_page_view(flinc_ctx *c, const void *rec)
{
	(void)c;
	const uev *u = rec;
	return u->event_type.len == 9 && memcmp(u->event_type.s, "page_view", 9) == 0;
}

/* ---- keys --------------------------------------------------------------- */

static size_t put_key(const flinc_str *s, uint8_t *buf, size_t cap)
{
	if (s->len > cap) return cap + 1;
	memcpy(buf, s->s, s->len);
	return s->len;
}

static size_t user_type_key(const void *rec, uint8_t *buf, size_t cap)
{
	const uev *u = rec;
	size_t n = (size_t)u->user_id.len + 1 + u->event_type.len;
	if (n > cap) return cap + 1;
	memcpy(buf, u->user_id.s, u->user_id.len);
	buf[u->user_id.len] = 0;
	memcpy(buf + u->user_id.len + 1, u->event_type.s, u->event_type.len);
	return n;
}
static size_t user_key(const void *rec, uint8_t *buf, size_t cap)
{
	return put_key(&((const uev *)rec)->user_id, buf, cap);
}
static size_t page_key(const void *rec, uint8_t *buf, size_t cap)
{
	return put_key(&((const uev *)rec)->page, buf, cap);
}
static size_t session_key(const void *rec, uint8_t *buf, size_t cap)
{
	return put_key(&((const uev *)rec)->session_id, buf, cap);
}

static flinc_str ctx_key(flinc_ctx *c)
{
	size_t len = 0;
	const void *k = flinc_ctx_key(c, &len);
	flinc_str s = { k, (uint32_t)len };
	return s;
}

/* ---- accumulators ------------------------------------------------------- */

typedef struct cnt {
	int64_t n;
} cnt;
FLINC_STRUCT_TYPE(cnt_type, cnt, "aggregation.count", FLINC_TYPE_POD, FLINC_FIELD(cnt, n, FLINC_FIELD_I64));
static void cnt_add(void *acc, const void *in)
{
	(void)in;
	((cnt *)acc)->n++;
}
static void cnt_merge(void *acc, const void *other) { ((cnt *)acc)->n += ((const cnt *)other)->n; }

typedef struct sess {
	int64_t n, first, last;
} sess;
FLINC_STRUCT_TYPE(sess_type, sess, "aggregation.session", FLINC_TYPE_POD,
		  FLINC_FIELD(sess, n, FLINC_FIELD_I64), FLINC_FIELD(sess, first, FLINC_FIELD_I64),
		  FLINC_FIELD(sess, last, FLINC_FIELD_I64));
static void sess_add(void *acc, const void *in)
{
	sess *s = acc;
	int64_t t = ((const uev *)in)->timestamp;
	if (s->n == 0 || t < s->first) s->first = t;
	if (s->n == 0 || t > s->last) s->last = t;
	s->n++;
}
static void sess_merge(void *acc, const void *other)
{
	sess *s = acc;
	const sess *o = other;
	if (o->n == 0) return;
	if (s->n == 0 || o->first < s->first) s->first = o->first;
	if (s->n == 0 || o->last > s->last) s->last = o->last;
	s->n += o->n;
}

typedef struct conv {
	int64_t purchases, page_views;
} conv;
FLINC_STRUCT_TYPE(conv_type, conv, "aggregation.conversion", FLINC_TYPE_POD,
		  FLINC_FIELD(conv, purchases, FLINC_FIELD_I64),
		  FLINC_FIELD(conv, page_views, FLINC_FIELD_I64));
static void conv_add(void *acc, const void *in)
{
	conv *v = acc;
	const uev *u = in;
	if (u->event_type.len == 8 && memcmp(u->event_type.s, "purchase", 8) == 0)
		v->purchases++;
	else if (u->event_type.len == 9 && memcmp(u->event_type.s, "page_view", 9) == 0)
		v->page_views++;
}
static void conv_merge(void *acc, const void *other)
{
	conv *v = acc;
	const conv *o = other;
	v->purchases += o->purchases;
	v->page_views += o->page_views;
}

/* ---- emitters ----------------------------------------------------------- */

static void emit_user(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	flinc_str k = ctx_key(c);
	const char *sep = memchr(k.s, 0, k.len);
	if (!sep) return;
	uint32_t ul = (uint32_t)(sep - k.s);
	agg_out o = {
		.kind = K_USER, .window_start = w->start, .window_end = w->end, .count = ((const cnt *)acc)->n
	};
	o.user_id = (flinc_str){ k.s, ul };
	o.event_type = (flinc_str){ sep + 1, k.len - ul - 1 };
	flinc_emit(c, &o);
}

static void emit_page(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	agg_out o = {
		.kind = K_PAGE, .window_start = w->start, .window_end = w->end, .count = ((const cnt *)acc)->n
	};
	o.page = ctx_key(c);
	flinc_emit(c, &o);
}

static void emit_session(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	const sess *s = acc;
	agg_out o = { .kind = K_SESSION, .window_start = w->start, .window_end = w->end, .count = s->n };
	o.session_id = ctx_key(c);
	o.start = s->first;
	o.end = s->last;
	flinc_emit(c, &o);
	if (s->n == 1) {
		o.kind = K_BOUNCE;
		flinc_emit(c, &o);
	}
}

static void emit_rate(flinc_ctx *c, const flinc_time_window *w, const void *acc, int64_t kind)
{
	int64_t n = ((const cnt *)acc)->n;
	agg_out o = { .kind = kind, .window_start = w->start, .window_end = w->end, .count = n };
	o.value = (double)n * 1000.0 / (double)(w->end - w->start);
	flinc_emit(c, &o);
}
static void emit_eps(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	emit_rate(c, w, acc, K_EPS);
}
static void emit_pvps(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	emit_rate(c, w, acc, K_PVPS);
}

static void emit_conv(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	const conv *v = acc;
	agg_out o = { .kind = K_CONV, .window_start = w->start, .window_end = w->end, .count = v->purchases };
	o.value = v->page_views ? (double)v->purchases / (double)v->page_views : 0.0;
	flinc_emit(c, &o);
}

/* active users, stage 1: one record per (user, window) */
static void emit_user_seen(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)w;
	(void)acc;
	(void)it;
	cnt one = { 1 };
	flinc_emit(c, &one);
}
static void emit_active(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	agg_out o = { .kind = K_ACTIVE,
		      .window_start = w->start,
		      .window_end = w->end,
		      .count = ((const cnt *)acc)->n };
	flinc_emit(c, &o);
}

#define COUNT_FN(var, emitfn)                                                \
	static const flinc_window_fn var = { .version = FLINC_FN_VERSION,    \
					     .kind = FLINC_WINDOW_AGGREGATE, \
					     .acc_type = &cnt_type,          \
					     .add = cnt_add,                 \
					     .merge = cnt_merge,             \
					     .emit = emitfn }
COUNT_FN(user_fn, emit_user);
COUNT_FN(page_fn, emit_page);
COUNT_FN(eps_fn, emit_eps);
COUNT_FN(pvps_fn, emit_pvps);
COUNT_FN(seen_fn, emit_user_seen);
COUNT_FN(active_fn, emit_active);
static const flinc_window_fn session_fn = { .version = FLINC_FN_VERSION,
					    .kind = FLINC_WINDOW_AGGREGATE,
					    .acc_type = &sess_type,
					    .add = sess_add,
					    .merge = sess_merge,
					    .emit = emit_session };
static const flinc_window_fn conv_fn = { .version = FLINC_FN_VERSION,
					 .kind = FLINC_WINDOW_AGGREGATE,
					 .acc_type = &conv_type,
					 .add = conv_add,
					 .merge = conv_merge,
					 .emit = emit_conv };

/* ---- output ------------------------------------------------------------- */

static size_t put_str(char *buf, size_t cap, size_t p, const char *name, const flinc_str *s)
{
	int n = snprintf(buf + (p < cap ? p : cap), p < cap ? cap - p : 0, ",\"%s\":\"", name);
	p += n > 0 ? (size_t)n : 0;
	for (uint32_t i = 0; i < s->len; i++) {
		unsigned char ch = (unsigned char)s->s[i];
		char esc[8];
		int m;
		if (ch == '"' || ch == '\\')
			m = snprintf(esc, sizeof esc, "\\%c", ch);
		else if (ch < 0x20)
			m = snprintf(esc, sizeof esc, "\\u%04x", ch);
		else {
			esc[0] = (char)ch;
			m = 1;
		}
		for (int j = 0; j < m; j++, p++)
			if (p < cap) buf[p] = esc[j];
	}
	if (p < cap) buf[p] = '"';
	return p + 1;
}

static size_t format_out(const void *rec, char *buf, size_t cap)
{
	const agg_out *o = rec;
	size_t p = 0;
	int n = snprintf(buf, cap, "{\"kind\":\"%s\",\"windowStart\":%" PRId64 ",\"windowEnd\":%" PRId64,
			 KIND_NAMES[KIND_NAME_OF[o->kind]], o->window_start, o->window_end);
	p = n > 0 ? (size_t)n : 0;
	if (o->kind == K_USER) {
		p = put_str(buf, cap, p, "userId", &o->user_id);
		p = put_str(buf, cap, p, "eventType", &o->event_type);
	} else if (o->kind == K_PAGE) {
		p = put_str(buf, cap, p, "page", &o->page);
	} else if (o->kind == K_SESSION || o->kind == K_BOUNCE) {
		p = put_str(buf, cap, p, "sessionId", &o->session_id);
	}
	char tail[160];
	if (o->kind == K_SESSION || o->kind == K_BOUNCE)
		n = snprintf(tail, sizeof tail,
			     ",\"start\":%" PRId64 ",\"end\":%" PRId64 ",\"duration\":%" PRId64
			     ",\"count\":%" PRId64 "}",
			     o->start, o->end, o->end - o->start, o->count);
	else if (o->kind == K_EPS || o->kind == K_PVPS || o->kind == K_CONV)
		n = snprintf(tail, sizeof tail, ",\"count\":%" PRId64 ",\"value\":%.6g}", o->count, o->value);
	else
		n = snprintf(tail, sizeof tail, ",\"count\":%" PRId64 "}", o->count);
	for (int j = 0; j < n; j++, p++)
		if (p < cap) buf[p] = tail[j];
	return p; /* > cap: the sink retries with a bigger buffer or refuses */
}

/* ---- the job ------------------------------------------------------------ */

static flinc_stream *win(flinc_stream *in, const char *name, flinc_window_kind kind, int64_t size,
			 int64_t slide, const flinc_window_fn *fn, const flinc_tag *late,
			 const flinc_type *out)
{
	flinc_window_spec sp = { .kind = kind, .domain = FLINC_EVENT_TIME, .late = late };
	if (kind == FLINC_WINDOW_SESSION)
		sp.gap = size;
	else
		sp.size = size;
	sp.slide = slide;
	return flinc_set_uid(flinc_window(in, name, &sp, fn, NULL, out), name);
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	const char *late_to = flinc_arg(e, "late", "");
	double rate = flinc_arg_f64(e, "rate", 0);
	if (!input) return flinc_env_fail(e, "aggregation: --input ADDRESS is required");
	if (rate < 0) return flinc_env_fail(e, "aggregation: --rate must be >= 0 events per second");

	flinc_stream *s = flinc_set_uid(
		flinc_lines_from(e, "source", flinc_input_address(e, input, "user-events"), rate), "source");
	s = flinc_set_uid(flinc_flat_map(s, "parse", parse, NULL, &uev_type), "parse");
	s = flinc_assign_timestamps(s, uev_ts, 10 * SEC, 0);
	const flinc_tag *late = flinc_tag_new(e, "late", &uev_type);

	flinc_stream *user = win(flinc_key_by(s, user_type_key), "user_event_counts", FLINC_WINDOW_TUMBLING,
				 MIN, 0, &user_fn, late, &agg_out_type);
	flinc_stream *page = win(flinc_key_by(s, page_key), "page_counts", FLINC_WINDOW_TUMBLING, 5 * MIN, 0,
				 &page_fn, NULL, &agg_out_type);
	flinc_stream *sessions = win(flinc_key_by(s, session_key), "session", FLINC_WINDOW_SESSION, 30 * MIN,
				     0, &session_fn, NULL, &agg_out_type);
	flinc_stream *eps =
		win(s, "events_per_second", FLINC_WINDOW_TUMBLING, 10 * SEC, 0, &eps_fn, NULL, &agg_out_type);
	flinc_stream *pv = flinc_filter(s, "page_views", is_page_view, NULL);
	flinc_stream *pvps = win(pv, "page_views_per_second", FLINC_WINDOW_TUMBLING, 5 * SEC, 0, &pvps_fn,
				 NULL, &agg_out_type);
	flinc_stream *cr =
		win(s, "conversion_rate", FLINC_WINDOW_SLIDING, MIN, 10 * SEC, &conv_fn, NULL, &agg_out_type);
	flinc_stream *seen = win(flinc_key_by(s, user_key), "active_users_seen", FLINC_WINDOW_TUMBLING, MIN,
				 0, &seen_fn, NULL, &cnt_type);
	flinc_stream *active =
		win(seen, "active_users", FLINC_WINDOW_TUMBLING, MIN, 0, &active_fn, NULL, &agg_out_type);

	flinc_stream *all = flinc_union(flinc_union(flinc_union(user, page), flinc_union(sessions, eps)),
					flinc_union(flinc_union(pvps, cr), active));
	int rc = flinc_sink_to(all, "sink", output, format_out);
	if (rc != FLINC_OK) return rc;
	return flinc_sink_to(flinc_side_output(user, late), "late", late_to, uev_json);
}

FLINC_PLUGIN(
	"aggregation", "user events: windowed counts, sessions, rates, active users, bounces",
	"--input ADDRESS|datagen [--count N] [--seed S] [--output ADDRESS] [--late ADDRESS] [--rate EVENTS_PER_S]",
	build);
