/*
 * anomaly.c - the IoT seed job (DESIGN.md "The three seed jobs"): sensor
 * readings keyed by sensorId, alerts as JSON lines.
 *
 *   anomaly.so --input ADDRESS [--output ADDRESS] [--rate R]
 *              [--dead-letter ADDRESS] [--stuck N]
 *
 * Input: JSON readings (flinc-gen iot) from a file or folder or kafka://;
 * timestamp, sensorId, sensorType and value are required, a line without
 * them goes to the dead letters. Event time is the reading's timestamp,
 * watermarks 10 s behind the newest reading (bounded out-of-orderness);
 * a reading older than the watermark is late: counted on the side output
 * "late" and not evaluated.
 *
 * Per sensor (keyed state "sensor", one POD struct; readings wait in list
 * state "pending" until the watermark passes them, then go through the rules
 * in event-time order, whatever order the source's splits or partitions
 * delivered them in):
 *   RANGE_BREACH         value outside its type's range (DESIGN.md); the
 *                        bound it crossed is the threshold. A breach stays
 *                        out of the running statistics.
 *   STATISTICAL_OUTLIER  |z| > 3 against the running mean and deviation of
 *                        the sensor's in-range readings before it (Welford),
 *                        once the sensor has WARMUP of them; the reading
 *                        then joins the statistics.
 *   STUCK_SENSOR         the same value --stuck times in a row (default 10):
 *                        one alert when the run reaches N.
 *   LOW_BATTERY          batteryLevel below 10 (each such reading).
 *   SENSOR_SILENT        no reading for 60 s of event time: a reading 60 s
 *                        or more after the one before it, or, while none
 *                        comes, an event-time timer at the newest reading
 *                        + 60 s. One alert per silence, at its 60th second.
 *                        The end of a bounded input proves a silence only
 *                        as far as the input went (its newest reading less
 *                        the out-of-orderness).
 * Motion sensors (values 0/1) get the battery and silence rules only.
 *
 * Alerts: alertId (16 hex digits of a hash of sensorId, alertType and the
 * event time that fired, so a replay gives the same ids), timestamp (that
 * event time: the reading's, or the silence's end), alertType, sensorId,
 * sensorType, value, threshold and zScore (null when the rule has none).
 */
#include <flinc/flinc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP 30
#define Z_LIMIT 3.0
#define SILENCE_MS 60000
#define OUT_OF_ORDER_MS 10000
#define BATTERY_LOW 10.0

typedef struct reading {
	int64_t timestamp;
	flinc_str sensor_id, sensor_type;
	double value, battery;
} reading;

FLINC_STRUCT_TYPE(reading_type, reading, "anomaly.reading", 0,
		  FLINC_FIELD_NAMED(reading, timestamp, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS),
				    "timestamp"),
		  FLINC_FIELD_NAMED(reading, sensor_id, FLINC_REQUIRED(FLINC_FIELD_STR), "sensorId"),
		  FLINC_FIELD_NAMED(reading, sensor_type, FLINC_REQUIRED(FLINC_FIELD_STR), "sensorType"),
		  FLINC_FIELD_NAMED(reading, value, FLINC_REQUIRED(FLINC_FIELD_F64), "value"),
		  FLINC_FIELD_NAMED(reading, battery, FLINC_FIELD_F64, "batteryLevel"));

typedef struct alert {
	flinc_str alert_id;
	int64_t timestamp;
	flinc_str alert_type, sensor_id, sensor_type;
	double value, threshold, z_score;
} alert;

FLINC_STRUCT_TYPE(alert_type, alert, "anomaly.alert", 0,
		  FLINC_FIELD_NAMED(alert, alert_id, FLINC_FIELD_STR, "alertId"),
		  FLINC_FIELD_NAMED(alert, timestamp, FLINC_FIELD_TIMESTAMP_MS, "timestamp"),
		  FLINC_FIELD_NAMED(alert, alert_type, FLINC_FIELD_STR, "alertType"),
		  FLINC_FIELD_NAMED(alert, sensor_id, FLINC_FIELD_STR, "sensorId"),
		  FLINC_FIELD_NAMED(alert, sensor_type, FLINC_FIELD_STR, "sensorType"),
		  FLINC_FIELD_NAMED(alert, value, FLINC_FIELD_F64, "value"),
		  FLINC_FIELD_NAMED(alert, threshold, FLINC_FIELD_F64, "threshold"),
		  FLINC_FIELD_NAMED(alert, z_score, FLINC_FIELD_F64, "zScore"));
FLINC_JSON_FORMAT(alert_json, alert_type_fields);

/* What the job keeps per sensor. The type's name and its last value (for
 * the silence alert) live here too: the timer fires without a reading. */
typedef struct sensor {
	int64_t count; /* in-range readings in the statistics */
	double mean, m2;
	double last_value;
	int64_t run;       /* readings in a row equal to last_value */
	int64_t last_ts;   /* event time of the newest reading; 0: none yet */
	int64_t timer;     /* the silence timer set, 0: none */
	int64_t type;      /* index in types[], -1: not one of them */
	int64_t silent_at; /* event time of the last SENSOR_SILENT alert */
} sensor;

FLINC_STRUCT_TYPE(sensor_state_type, sensor, "anomaly.sensor", FLINC_TYPE_POD,
		  FLINC_FIELD(sensor, count, FLINC_FIELD_I64), FLINC_FIELD(sensor, mean, FLINC_FIELD_F64),
		  FLINC_FIELD(sensor, m2, FLINC_FIELD_F64), FLINC_FIELD(sensor, last_value, FLINC_FIELD_F64),
		  FLINC_FIELD(sensor, run, FLINC_FIELD_I64), FLINC_FIELD(sensor, last_ts, FLINC_FIELD_I64),
		  FLINC_FIELD(sensor, timer, FLINC_FIELD_I64), FLINC_FIELD(sensor, type, FLINC_FIELD_I64),
		  FLINC_FIELD(sensor, silent_at, FLINC_FIELD_I64));

/* sensorType values (docs/generators.md), their ranges (DESIGN.md; motion
 * has none: hi < lo) */
static const struct range {
	const char *type;
	double lo, hi;
} types[] = {
	{ "temperature", -20, 80 }, { "humidity", 0, 100 }, { "pressure", 0, 1000 }, { "vibration", 0, 100 },
	{ "light", 0, 1000 },       { "sound", 0, 120 },    { "motion", 1, 0 },
};

static int64_t type_index(flinc_str t)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strlen(types[i].type) == t.len && memcmp(types[i].type, t.s, t.len) == 0)
			return (int64_t)i;
	return -1;
}

/* ---- parse ---------------------------------------------------------------- */

static void parse(flinc_ctx *c, const void *in)
{
	reading r;
	memset(&r, 0, sizeof r);
	r.battery = 100;
	if (flinc_json_record(c, reading_type_fields,
			      sizeof reading_type_fields / sizeof reading_type_fields[0], in, &r))
		flinc_emit_ts(c, &r, r.timestamp);
}

static int64_t reading_ts(const void *rec) { return ((const reading *)rec)->timestamp; }

static size_t sensor_key(const void *rec, uint8_t *buf, size_t cap)
{
	const reading *r = rec;
	if (r->sensor_id.len > cap) return cap + 1; /* rejected */
	memcpy(buf, r->sensor_id.s, r->sensor_id.len);
	return r->sensor_id.len;
}

/* ---- detect --------------------------------------------------------------- */

/* A reading waiting for the watermark (the key is its sensorId). */
typedef struct pending {
	int64_t ts, type;
	double value, battery;
} pending;

FLINC_STRUCT_TYPE(pending_type, pending, "anomaly.pending", FLINC_TYPE_POD,
		  FLINC_FIELD(pending, ts, FLINC_FIELD_I64), FLINC_FIELD(pending, type, FLINC_FIELD_I64),
		  FLINC_FIELD(pending, value, FLINC_FIELD_F64),
		  FLINC_FIELD(pending, battery, FLINC_FIELD_F64));

typedef struct detect_conf {
	int64_t stuck; /* STUCK_SENSOR after this many equal values */
	const flinc_tag *late;
} detect_conf;

typedef struct detect_local {
	flinc_state *st;
	flinc_evbuf *wait;
	const detect_conf *conf;
	int64_t max_ts; /* newest event time this subtask read */
	flinc_ctx *c;   /* during a release */
	sensor *s;
} detect_local;

/* FNV-1a over the parts of an alert that identify it. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static flinc_str type_name(int64_t t)
{
	const char *n = t >= 0 && t < (int64_t)(sizeof types / sizeof types[0]) ? types[t].type : "";
	return (flinc_str){ n, strlen(n) };
}

static void emit_alert(flinc_ctx *c, const char *kind, int64_t type, int64_t ts, double value,
		       double threshold, double z)
{
	size_t klen;
	const char *key = flinc_ctx_key(c, &klen);
	uint64_t h = fnv(0xcbf29ce484222325ULL, key, klen);
	h = fnv(h, kind, strlen(kind));
	h = fnv(h, &ts, sizeof ts);
	char *id = flinc_arena_alloc(flinc_ctx_arena(c), 17);
	snprintf(id, 17, "%016llx", (unsigned long long)h);
	alert a = {
		.alert_id = { id, 16 },
		.timestamp = ts,
		.alert_type = { kind, strlen(kind) },
		.sensor_id = { key, klen },
		.sensor_type = type_name(type),
		.value = value,
		.threshold = threshold,
		.z_score = z,
	};
	flinc_emit_ts(c, &a, ts);
}

/* Until 2026-12-07 readings waited in list state "pending" and the key's
 * wake-up time was value state "wake": a restore of such a checkpoint or
 * savepoint moves them into the buffer. */
static int64_t from_pending_list(const void *elem, void *rec)
{
	memcpy(rec, elem, sizeof(pending));
	return ((const pending *)elem)->ts;
}

static int detect_open(flinc_ctx *c, void *local)
{
	detect_local *l = local;
	l->conf = flinc_ctx_arg(c);
	l->st = flinc_state_value(c, "sensor", &sensor_state_type);
	l->wait = flinc_evbuf_declare(c, "readings", &pending_type);
	if (!l->st || !l->wait) return FLINC_ESTATE;
	int rc = flinc_evbuf_adopt_list(l->wait, "pending", &pending_type, from_pending_list);
	return rc == FLINC_OK ? flinc_state_drop(c, "wake") : rc;
}

static void silent(flinc_ctx *c, sensor *s, int64_t at)
{
	if (s->silent_at == at) return; /* said already (by the timer) */
	s->silent_at = at;
	emit_alert(c, "SENSOR_SILENT", s->type, at, s->last_value, SILENCE_MS / 1000.0, NAN);
}

/* The rules over one reading of the current sensor, in event-time order. */
static void evaluate(flinc_ctx *c, detect_local *l, sensor *s, const pending *r)
{
	const double none = NAN;
	int64_t ts = r->ts;
	double v = r->value;
	/* a gap of SILENCE_MS or more before this reading: the sensor was
	 * silent (the timer says so when no reading follows) */
	if (s->last_ts && ts - s->last_ts >= SILENCE_MS) silent(c, s, s->last_ts + SILENCE_MS);
	s->type = r->type;
	if (r->battery < BATTERY_LOW) emit_alert(c, "LOW_BATTERY", r->type, ts, v, BATTERY_LOW, none);
	const struct range *rg =
		r->type >= 0 && types[r->type].lo <= types[r->type].hi ? &types[r->type] : NULL;
	if (rg) { /* not motion (nor an unknown type): the value rules */
		if (v < rg->lo || v > rg->hi) {
			emit_alert(c, "RANGE_BREACH", r->type, ts, v, v < rg->lo ? rg->lo : rg->hi, none);
		} else {
			if (s->count >= WARMUP) {
				double sd = sqrt(s->m2 / (double)(s->count - 1));
				double z = sd > 0 ? (v - s->mean) / sd : 0;
				if (fabs(z) > Z_LIMIT)
					emit_alert(c, "STATISTICAL_OUTLIER", r->type, ts, v, none, z);
			}
			s->count++;
			double d = v - s->mean;
			s->mean += d / (double)s->count;
			s->m2 += d * (v - s->mean);
		}
		if (s->run > 0 && v == s->last_value) {
			if (++s->run == l->conf->stuck)
				emit_alert(c, "STUCK_SENSOR", r->type, ts, v, (double)l->conf->stuck, none);
		} else {
			s->run = 1;
		}
	}
	s->last_value = v;
	if (ts > s->last_ts) s->last_ts = ts;
}

/* A reading waits in the sensor's event-time buffer until the watermark
 * passes it, so each sensor's readings are evaluated in event-time order,
 * whatever order the source's splits or partitions delivered them in (the
 * buffer keeps one wake-up timer per sensor). */
static void detect(flinc_ctx *c, void *local, const void *in)
{
	detect_local *l = local;
	const reading *r = in;
	if (r->timestamp <= flinc_ctx_watermark(c)) {
		flinc_emit_side(c, l->conf->late, r);
		return;
	}
	if (r->timestamp > l->max_ts) l->max_ts = r->timestamp;
	pending p = { r->timestamp, type_index(r->sensor_type), r->value, r->battery };
	int rc = flinc_evbuf_add(l->wait, r->timestamp, &p);
	if (rc != FLINC_OK) flinc_ctx_fail(c, "anomaly: cannot buffer a reading: %s", flinc_strerror(rc));
}

static int evaluate_one(void *ud, int64_t ts, const void *rec)
{
	(void)ts;
	detect_local *l = ud;
	evaluate(l->c, l, l->s, rec);
	return 0;
}

static void on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	detect_local *l = local;
	if (d != FLINC_EVENT_TIME) return;
	bool created;
	sensor *s = flinc_value_mut(l->st, &created);
	if (!s) return;
	/* the readings the watermark passed, oldest first */
	int64_t wm = flinc_ctx_watermark(c);
	int64_t before = s->last_ts;
	l->c = c;
	l->s = s;
	if (flinc_evbuf_release(l->wait, wm > ts ? wm : ts, evaluate_one, l) < 0) return;
	if (s->last_ts > before) { /* the silence timer follows the newest reading */
		if (s->timer) flinc_timer_delete(c, FLINC_EVENT_TIME, s->timer);
		s->timer = s->last_ts + SILENCE_MS;
		flinc_timer_register(c, FLINC_EVENT_TIME, s->timer);
	}
	if (created || s->timer != ts || s->last_ts + SILENCE_MS != ts) return;
	s->timer = 0;
	/* At the end of a bounded input the watermark jumps to the end: a
	 * silence counts only if the input went on for it (newest reading of
	 * this subtask, less the out-of-orderness). */
	if (wm == FLINC_WATERMARK_MAX && ts > l->max_ts - OUT_OF_ORDER_MS) return;
	silent(c, s, ts);
}

static const flinc_process_fn detect_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(detect_local),
	.open = detect_open,
	.process = detect,
	.on_timer = on_timer,
};

/* ---- the job ---------------------------------------------------------------- */

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	const char *dead = flinc_arg(e, "dead-letter", NULL);
	double rate = flinc_arg_f64(e, "rate", 0);
	int64_t stuck = flinc_arg_i64(e, "stuck", 10);
	if (!input)
		return flinc_env_fail(
			e, "anomaly: --input ADDRESS is required (a file, folder, kafka:// or datagen)");
	if (stuck < 2 || stuck > 1000000) return flinc_env_fail(e, "anomaly: --stuck must be 2..1000000");
	if (flinc_dead_letters_to(e, dead) != FLINC_OK) return FLINC_EGRAPH;
	detect_conf *conf = flinc_env_alloc(e, sizeof *conf);
	conf->stuck = stuck;
	conf->late = flinc_tag_new(e, "late", &reading_type);
	flinc_env_set_name(e, "anomaly");

	flinc_stream *s = flinc_set_uid(
		flinc_lines_from(e, "source", flinc_input_address(e, input, "iot"), rate), "source");
	s = flinc_set_uid(flinc_flat_map(s, "parse", parse, NULL, &reading_type), "parse");
	s = flinc_assign_timestamps(s, reading_ts, OUT_OF_ORDER_MS, 0);
	s = flinc_key_by(s, sensor_key);
	flinc_stream *alerts =
		flinc_set_uid(flinc_process(s, "detect", &detect_fn, conf, &alert_type), "detect");
	return flinc_sink_to(alerts, "alerts", output, alert_json);
}

FLINC_PLUGIN(
	"anomaly", "IoT sensor anomalies: range breaches, outliers, stuck and silent sensors, low batteries",
	"--input ADDRESS|datagen [--count N] [--seed S] [--output ADDRESS] [--rate R] [--dead-letter ADDRESS] [--stuck N]",
	build);
