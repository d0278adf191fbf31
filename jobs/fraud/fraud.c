/*
 * fraud.c - the fraud-detection seed job (DESIGN.md "The three seed jobs"):
 * CEP over transactions keyed by userId, alerts as JSON lines.
 *
 *   fraud.so --input ADDRESS [--output ADDRESS] [--rate R] [--dead-letter ADDRESS]
 *
 * Input: JSON transactions (flinc-gen transactions) from a file or folder or
 * kafka://; timestamp, transactionId, userId, amount, status, country and
 * riskScore are required, a line without them goes to the dead letters.
 * Event time is the transaction's timestamp, watermarks 10 s behind the
 * newest (bounded out-of-orderness); late transactions go to the side
 * output "late".
 *
 * The five rules, one flinc_cep_multi operator (events buffered and sorted
 * once per user, each rule its own partial matches):
 *   VELOCITY_FRAUD       a completed transaction followed by 5 more completed
 *                        ones within 2 minutes (skip past the match)
 *   STRUCTURING_FRAUD    one >= 1000 followed by 3 of <= 100 within 10
 *                        minutes (skip past the match)
 *   GEO_ANOMALY          a transaction and the user's next one in another
 *                        country less than 5 minutes later, or farther apart
 *                        than 900 km/h allows (every neighbouring pair)
 *   CARD_TESTING         3 or more failed (failed, declined) then a
 *                        successful one (completed, approved) within 10
 *                        minutes (greedy: all the failures; skip past)
 *   OFF_HOURS_HIGH_RISK  one between 22:00 and 06:00 UTC with riskScore
 *                        >= 0.7
 * Alerts: alertId (16 hex digits of a hash of the alert type and the
 * matched transaction ids: a replay gives the same ids), timestamp (event
 * time of the last matched transaction), alertType, userId, title,
 * description, severity (0..1), transactionId (the last matched),
 * transactionIds (all matched, in order), status ACTIVE.
 */
#include <flinc/cep.h>
#include <flinc/flinc.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#define OUT_OF_ORDER_MS 10000
#define MIN 60000

typedef struct tx {
	int64_t timestamp;
	flinc_str id, user, status, country;
	double amount, risk, lat, lon;
} tx;

FLINC_STRUCT_TYPE(tx_type, tx, "fraud.tx", 0,
		  FLINC_FIELD_NAMED(tx, timestamp, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS), "timestamp"),
		  FLINC_FIELD_NAMED(tx, id, FLINC_REQUIRED(FLINC_FIELD_STR), "transactionId"),
		  FLINC_FIELD_NAMED(tx, user, FLINC_REQUIRED(FLINC_FIELD_STR), "userId"),
		  FLINC_FIELD_NAMED(tx, status, FLINC_REQUIRED(FLINC_FIELD_STR), "status"),
		  FLINC_FIELD_NAMED(tx, country, FLINC_REQUIRED(FLINC_FIELD_STR), "country"),
		  FLINC_FIELD_NAMED(tx, amount, FLINC_REQUIRED(FLINC_FIELD_F64), "amount"),
		  FLINC_FIELD_NAMED(tx, risk, FLINC_REQUIRED(FLINC_FIELD_F64), "riskScore"),
		  FLINC_FIELD_NAMED(tx, lat, FLINC_FIELD_F64, "location.lat"),
		  FLINC_FIELD_NAMED(tx, lon, FLINC_FIELD_F64, "location.lon"));

typedef struct alert {
	flinc_str alert_id;
	int64_t timestamp;
	flinc_str alert_type, user, title, description;
	double severity;
	flinc_str tx_id, status;
	flinc_str tx_ids; /* the JSON array of the matched ids, written as it is */
} alert;

FLINC_STRUCT_TYPE(alert_type, alert, "fraud.alert", 0,
		  FLINC_FIELD_NAMED(alert, alert_id, FLINC_FIELD_STR, "alertId"),
		  FLINC_FIELD_NAMED(alert, timestamp, FLINC_FIELD_TIMESTAMP_MS, "timestamp"),
		  FLINC_FIELD_NAMED(alert, alert_type, FLINC_FIELD_STR, "alertType"),
		  FLINC_FIELD_NAMED(alert, user, FLINC_FIELD_STR, "userId"),
		  FLINC_FIELD_NAMED(alert, title, FLINC_FIELD_STR, "title"),
		  FLINC_FIELD_NAMED(alert, description, FLINC_FIELD_STR, "description"),
		  FLINC_FIELD_NAMED(alert, severity, FLINC_FIELD_F64, "severity"),
		  FLINC_FIELD_NAMED(alert, tx_id, FLINC_FIELD_STR, "transactionId"),
		  FLINC_FIELD_NAMED(alert, status, FLINC_FIELD_STR, "status"),
		  FLINC_FIELD_NAMED(alert, tx_ids, FLINC_FIELD_STR, "transactionIds"));

/* The alert as a JSON line: every field through flinc_fields_json except
 * transactionIds, whose array (ids are the generator's hex UUIDs, checked
 * when the array is built) goes in as it is. snprintf's contract. */
static size_t alert_json(const void *rec, char *buf, size_t cap)
{
	const alert *a = rec;
	size_t n = 0;
	const size_t nf = sizeof alert_type_fields / sizeof alert_type_fields[0] - 1;
	flinc_fields_json(alert_type_fields, nf, rec, buf, cap, &n);
	static const char key[] = ",\"transactionIds\":";
	size_t need = n - 1 + (sizeof key - 1) + a->tx_ids.len + 1;
	if (need >= cap) return need;
	char *p = buf + n - 1; /* over the closing brace */
	memcpy(p, key, sizeof key - 1);
	p += sizeof key - 1;
	memcpy(p, a->tx_ids.s, a->tx_ids.len);
	p += a->tx_ids.len;
	*p++ = '}';
	*p = 0;
	return need;
}

/* ---- parse ---------------------------------------------------------------- */

static void parse(flinc_ctx *c, const void *in)
{
	tx t;
	memset(&t, 0, sizeof t);
	if (flinc_json_record(c, tx_type_fields, sizeof tx_type_fields / sizeof tx_type_fields[0], in, &t))
		flinc_emit_ts(c, &t, t.timestamp);
}

static int64_t tx_ts(const void *rec) { return ((const tx *)rec)->timestamp; }

static size_t by_user(const void *rec, uint8_t *buf, size_t cap)
{
	const tx *t = rec;
	if (t->user.len > cap) return cap + 1;
	memcpy(buf, t->user.s, t->user.len);
	return t->user.len;
}

/* Events with equal timestamps: by transaction id, so the order does not
 * depend on which channel delivered them first. */
static int by_id(const void *a, const void *b)
{
	const flinc_str *x = &((const tx *)a)->id, *y = &((const tx *)b)->id;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* ---- conditions --------------------------------------------------------------- */

static bool eq(flinc_str s, const char *lit) { return s.len == strlen(lit) && memcmp(s.s, lit, s.len) == 0; }

static bool completed(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	return eq(((const tx *)ev)->status, "completed");
}

static bool succeeded(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	const tx *t = ev;
	return eq(t->status, "completed") || eq(t->status, "approved");
}

static bool failed(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	const tx *t = ev;
	return eq(t->status, "failed") || eq(t->status, "declined");
}

static bool big(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	return ((const tx *)ev)->amount >= 1000;
}

static bool small(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	return ((const tx *)ev)->amount <= 100;
}

static bool off_hours_risky(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)m, (void)arg;
	const tx *t = ev;
	int64_t h = (t->timestamp / 3600000) % 24;
	if (h < 0) h += 24;
	return (h >= 22 || h < 6) && t->risk >= 0.7 - 1e-9;
}

static double km_between(const tx *a, const tx *b)
{
	const double r = 6371.0, d2r = 3.14159265358979323846 / 180.0;
	double dlat = (b->lat - a->lat) * d2r, dlon = (b->lon - a->lon) * d2r;
	double h = sin(dlat / 2) * sin(dlat / 2) +
		cos(a->lat * d2r) * cos(b->lat * d2r) * sin(dlon / 2) * sin(dlon / 2);
	return 2 * r * asin(sqrt(h < 1 ? h : 1));
}

/* The user's previous transaction and this one: another country less than
 * 5 minutes later, or faster than 900 km/h between them. */
static bool far_from_previous(const void *ev, const flinc_cep_match *m, const void *arg)
{
	(void)arg;
	const tx *b = ev, *a = flinc_cep_event(m, "a", 0, NULL);
	if (!a) return false;
	int64_t dt = b->timestamp - a->timestamp;
	bool same =
		a->country.len == b->country.len && memcmp(a->country.s, b->country.s, a->country.len) == 0;
	if (!same && dt < 5 * MIN) return true;
	if (dt > 0) {
		/* Along a meridian, then a parallel, is never shorter than the
		 * great circle (nor than what km_between gives for any input), so
		 * R (|dlat| + |dlon|) bounds the distance from above: when even
		 * that is slower than 900 km/h, skip the trigonometry (nearly
		 * always: a user's next transaction is rarely far). */
		const double d2r = 3.14159265358979323846 / 180.0;
		double bound = 6371.0 * (fabs(b->lat - a->lat) + fabs(b->lon - a->lon)) * d2r;
		if (bound * (1 + 1e-9) < 900.0 * ((double)dt / 3600000.0)) return false;
	}
	double km = km_between(a, b);
	if (dt <= 0) return km > 0;
	return km / ((double)dt / 3600000.0) > 900;
}

/* ---- alerts ------------------------------------------------------------------- */

typedef struct rule {
	const char *type, *title;
	double severity;
} rule;

static const rule rules[] = {
	{ "VELOCITY_FRAUD", "High transaction velocity", 0.8 },
	{ "STRUCTURING_FRAUD", "Possible structuring", 0.75 },
	{ "GEO_ANOMALY", "Impossible travel", 0.9 },
	{ "CARD_TESTING", "Card testing", 0.85 },
	{ "OFF_HOURS_HIGH_RISK", "High-risk transaction off hours", 0.6 },
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static flinc_str arena_str(flinc_ctx *c, const char *s, size_t n)
{
	char *p = flinc_arena_alloc(flinc_ctx_arena(c), n + 1);
	if (!p) return (flinc_str){ "", 0 };
	memcpy(p, s, n);
	p[n] = 0;
	return (flinc_str){ p, n };
}

static bool id_ok(flinc_str id)
{
	for (size_t i = 0; i < id.len; i++) {
		char ch = id.s[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      ch == '-' || ch == '_'))
			return false;
	}
	return id.len > 0;
}

/* One alert for match m of rule r; `what` describes it. */
static void emit_alert(flinc_ctx *c, const rule *r, const flinc_cep_match *m, const char *what)
{
	size_t n = flinc_cep_size(m);
	if (!n) return;
	const tx *first = flinc_cep_nth(m, 0, NULL, NULL), *last = flinc_cep_nth(m, n - 1, NULL, NULL);
	uint64_t h = fnv(0xcbf29ce484222325ULL, r->type, strlen(r->type));
	size_t cap = 2, len = 0;
	for (size_t i = 0; i < n; i++) cap += ((const tx *)flinc_cep_nth(m, i, NULL, NULL))->id.len + 3;
	char *ids = flinc_arena_alloc(flinc_ctx_arena(c), cap + 1);
	if (!ids) return;
	ids[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		const tx *t = flinc_cep_nth(m, i, NULL, NULL);
		if (!id_ok(t->id)) {
			flinc_ctx_reject(
				c,
				"fraud: a transactionId with characters other than letters, digits, - and _");
			return;
		}
		h = fnv(h, t->id.s, t->id.len);
		h = fnv(h, "", 1);
		if (i) ids[len++] = ',';
		ids[len++] = '"';
		memcpy(ids + len, t->id.s, t->id.len);
		len += t->id.len;
		ids[len++] = '"';
	}
	ids[len++] = ']';
	char idbuf[17];
	snprintf(idbuf, sizeof idbuf, "%016llx", (unsigned long long)h);
	alert a = {
		.alert_id = arena_str(c, idbuf, 16),
		.timestamp = last->timestamp,
		.alert_type = { r->type, strlen(r->type) },
		.user = first->user,
		.title = { r->title, strlen(r->title) },
		.description = arena_str(c, what, strlen(what)),
		.severity = r->severity,
		.tx_id = last->id,
		.status = { "ACTIVE", 6 },
		.tx_ids = { ids, len },
	};
	flinc_emit_ts(c, &a, last->timestamp);
}

static void velocity(flinc_ctx *c, const flinc_cep_match *m)
{
	char d[160];
	const tx *first = flinc_cep_event(m, "first", 0, NULL);
	const tx *last = flinc_cep_event(m, "more", flinc_cep_count(m, "more") - 1, NULL);
	snprintf(d, sizeof d, "%zu completed transactions within %.0f s", flinc_cep_size(m),
		 (double)(last->timestamp - first->timestamp) / 1000.0);
	emit_alert(c, &rules[0], m, d);
}

static void structuring(flinc_ctx *c, const flinc_cep_match *m)
{
	char d[160];
	const tx *b = flinc_cep_event(m, "big", 0, NULL);
	snprintf(d, sizeof d, "a transaction of %.2f followed by %zu of at most 100 within 10 minutes",
		 b->amount, flinc_cep_count(m, "small"));
	emit_alert(c, &rules[1], m, d);
}

static void geo(flinc_ctx *c, const flinc_cep_match *m)
{
	char d[200];
	const tx *a = flinc_cep_event(m, "a", 0, NULL), *b = flinc_cep_event(m, "b", 0, NULL);
	double km = km_between(a, b), s = (double)(b->timestamp - a->timestamp) / 1000.0;
	snprintf(d, sizeof d, "%.*s then %.*s %.0f s later, %.0f km apart (%.0f km/h)", (int)a->country.len,
		 a->country.s, (int)b->country.len, b->country.s, s, km,
		 s > 0 ? km / (s / 3600.0) : INFINITY);
	emit_alert(c, &rules[2], m, d);
}

static void card_testing(flinc_ctx *c, const flinc_cep_match *m)
{
	char d[160];
	snprintf(d, sizeof d, "%zu failed transactions then a successful one within 10 minutes",
		 flinc_cep_count(m, "fail"));
	emit_alert(c, &rules[3], m, d);
}

static void off_hours(flinc_ctx *c, const flinc_cep_match *m)
{
	char d[160];
	const tx *t = flinc_cep_event(m, "tx", 0, NULL);
	int64_t s = t->timestamp / 1000;
	snprintf(d, sizeof d, "risk score %.2f at %02d:%02d UTC", t->risk, (int)((s / 3600) % 24),
		 (int)((s / 60) % 60));
	emit_alert(c, &rules[4], m, d);
}

/* ---- the job ---------------------------------------------------------------- */

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	const char *dead = flinc_arg(e, "dead-letter", NULL);
	double rate = flinc_arg_f64(e, "rate", 0);
	if (!input)
		return flinc_env_fail(
			e, "fraud: --input ADDRESS is required (a file, folder, kafka:// or datagen)");
	if (flinc_dead_letters_to(e, dead) != FLINC_OK) return FLINC_EGRAPH;
	flinc_env_set_name(e, "fraud");

	flinc_cep_pattern *p[5];
	p[0] = flinc_cep_begin(e, "first");
	flinc_cep_where(p[0], completed, NULL);
	flinc_cep_followed_by(p[0], "more");
	flinc_cep_where(p[0], completed, NULL);
	flinc_cep_times(p[0], 5);
	flinc_cep_within(p[0], 2 * MIN);
	flinc_cep_skip(p[0], FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);

	p[1] = flinc_cep_begin(e, "big");
	flinc_cep_where(p[1], big, NULL);
	flinc_cep_followed_by(p[1], "small");
	flinc_cep_where(p[1], small, NULL);
	flinc_cep_times(p[1], 3);
	flinc_cep_within(p[1], 10 * MIN);
	flinc_cep_skip(p[1], FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);

	p[2] = flinc_cep_begin(e, "a");
	flinc_cep_next(p[2], "b");
	flinc_cep_where(p[2], far_from_previous, NULL);

	p[3] = flinc_cep_begin(e, "fail");
	flinc_cep_where(p[3], failed, NULL);
	flinc_cep_times_or_more(p[3], 3);
	flinc_cep_greedy(p[3]);
	flinc_cep_followed_by(p[3], "ok");
	flinc_cep_where(p[3], succeeded, NULL);
	flinc_cep_within(p[3], 10 * MIN);
	flinc_cep_skip(p[3], FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);

	p[4] = flinc_cep_begin(e, "tx");
	flinc_cep_where(p[4], off_hours_risky, NULL);

	for (int i = 0; i < 5; i++)
		if (flinc_cep_error(p[i]))
			return flinc_env_fail(e, "fraud: pattern %s: %s", rules[i].type,
					      flinc_cep_error(p[i]));

	const flinc_tag *late = flinc_tag_new(e, "late", &tx_type);
	flinc_cep_select_fn sel[5] = { velocity, structuring, geo, card_testing, off_hours };
	flinc_cep_opts o[5];
	for (int i = 0; i < 5; i++)
		o[i] = (flinc_cep_opts){
			.select = sel[i], .out = &alert_type, .late = late, .compare = by_id
		};

	flinc_stream *s = flinc_set_uid(
		flinc_lines_from(e, "source", flinc_input_address(e, input, "transactions"), rate), "source");
	s = flinc_set_uid(flinc_flat_map(s, "parse", parse, NULL, &tx_type), "parse");
	s = flinc_assign_timestamps(s, tx_ts, OUT_OF_ORDER_MS, 0);
	flinc_stream *alerts = flinc_cep_multi(flinc_key_by(s, by_user), "rules", 5, p, o);
	alerts = flinc_set_uid(alerts, "rules");
	return flinc_sink_to(alerts, "alerts", output, alert_json);
}

FLINC_PLUGIN(
	"fraud", "fraud detection: velocity, structuring, impossible travel, card testing, off-hours risk",
	"--input ADDRESS|datagen [--count N] [--seed S] [--output ADDRESS] [--rate R] [--dead-letter ADDRESS]",
	build);
