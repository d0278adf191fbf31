/*
 * gen-iot.c - `flinc-gen iot`: readings of a fleet of sensors (temperature,
 * humidity, pressure, vibration, motion, light, sound) with injected
 * anomalies labelled isAnomaly/anomalyType (DESIGN.md "The three seed jobs";
 * docs/generators.md).
 *
 * Each sensor reports at its own interval (0.5-1.5 times the mean, +-10 %
 * jitter); a heap orders the sensors by their next reading. A reading is
 * normal, or part of an episode:
 *   RANGE_BREACH         one value outside the type's range (DESIGN.md);
 *   STATISTICAL_OUTLIER  1-3 readings 5-8 sigma off the sensor's baseline
 *                        and >= 4 running deviations off its running mean,
 *                        inside the range (a short drift away);
 *   STUCK_SENSOR         10-15 readings of the same value;
 *   SENSOR_SILENT        the reading after which the sensor is silent for
 *                        75-150 s;
 *   LOW_BATTERY          1-3 readings with batteryLevel 1-9 (then a new
 *                        battery: 100).
 * Normal readings never match a rule: values are the baseline plus uniform
 * noise within 1.73 sigma (baselines sit >= 25 % of the range inside it,
 * sigma <= 2 % of it) and < 2.5 running deviations off the running mean,
 * never equal to the previous value; gaps are <= 1.65 times the mean
 * interval (<= 30 s, so < 60 s); batteries >= 10 (replaced at 10). Motion
 * sensors report 0/1 and get only silences and low batteries.
 */
#include "flinc-gen.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WARMUP 50        /* readings of a sensor before its first episode */
#define COOLDOWN 20      /* normal readings after an episode */
#define MAX_MEAN_S 30.0  /* mean interval bound: gaps stay < 60 s */
#define DEFAULT_MEAN_S 5 /* default: --sensors / --event-rate */

enum { T_TEMP, T_HUM, T_PRES, T_VIB, T_MOTION, T_LIGHT, T_SOUND, NTYPES };
static const struct {
	const char *name, *unit;
	double lo, hi, weight;
} TYPES[NTYPES] = {
	{ "temperature", "celsius", -20, 80, 3 },
	{ "humidity", "percent", 0, 100, 2 },
	{ "pressure", "psi", 0, 1000, 1.5 },
	{ "vibration", "hz", 0, 100, 1.5 },
	{ "motion", "boolean", 0, 1, 1 },
	{ "light", "lux", 0, 1000, 1 },
	{ "sound", "db", 0, 120, 1 },
};
static const char *const LOCATIONS[] = { "warehouse_a",     "warehouse_b",     "factory_floor_1",
					 "factory_floor_2", "office_building", "server_room",
					 "loading_dock",    "cold_storage",    "parking_lot",
					 "rooftop" };
#define NLOC (sizeof LOCATIONS / sizeof LOCATIONS[0])

enum { A_NONE, A_RANGE, A_OUTLIER, A_STUCK, A_SILENT, A_LOWBAT, A_KINDS };
static const char *const ANOMALY_TYPES[] = { NULL,           "RANGE_BREACH",  "STATISTICAL_OUTLIER",
					     "STUCK_SENSOR", "SENSOR_SILENT", "LOW_BATTERY" };

typedef struct sensor {
	double next_t; /* event time of the next reading, ms */
	double base, sigma, motion_p;
	double interval_ms;
	double run_n, run_mean, run_m2; /* Welford over the in-range readings so far */
	int64_t last_v;                 /* last value, hundredths */
	uint32_t nread;
	uint16_t drain_every, drain_ctr, cooldown;
	uint8_t type, loc, battery;
	uint8_t ep, ep_left, ep_step;
	int8_t ep_dir;
} sensor;

typedef struct gen {
	fg_opts *o;
	fg_out *out;
	fg_rng rng;
	sensor *s;
	uint32_t n;
	fg_heap heap;
	double q, q_motion;
	uint64_t emitted, by_type[A_KINDS];
	fg_ts_cache tsc;
} gen;

static void init_sensors(gen *g, double mean_ms)
{
	double w[NTYPES];
	for (int i = 0; i < NTYPES; i++) w[i] = TYPES[i].weight;
	fg_rng r;
	fg_rng_seed(&r, fg_pop_seed(g->o), 11);
	for (uint32_t i = 0; i < g->n; i++) {
		sensor *s = &g->s[i];
		memset(s, 0, sizeof *s);
		s->type = (uint8_t)fg_rng_pick(&r, w, NTYPES);
		s->loc = (uint8_t)fg_rng_below(&r, NLOC);
		double range = TYPES[s->type].hi - TYPES[s->type].lo;
		s->base = TYPES[s->type].lo + range * (0.25 + 0.5 * fg_rng_unit(&r));
		s->sigma = range * (0.005 + 0.015 * fg_rng_unit(&r));
		s->motion_p = 0.05 + 0.35 * fg_rng_unit(&r);
		s->interval_ms = mean_ms * (0.5 + fg_rng_unit(&r));
		s->next_t = (double)g->o->start_ms + s->interval_ms * fg_rng_unit(&r);
		s->battery = (uint8_t)fg_rng_range(&r, 20, 100);
		s->drain_every = (uint16_t)fg_rng_range(&r, 100, 1000);
		s->last_v = INT64_MIN;
	}
}

static char *put_sensor(char *p, uint32_t i)
{
	p = FG_LIT(p, "sensor");
	char d[12];
	char *e = fg_put_u64(d, i);
	for (size_t n = (size_t)(e - d); n < 5; n++) *p++ = '0';
	memcpy(p, d, (size_t)(e - d));
	return p + (e - d);
}

/* A normal value: baseline + uniform noise of standard deviation sigma
 * (so within 1.73 sigma, and a running deviation estimate settles fast:
 * a normal reading stays far from |z| = 3), never the last value. */
static int64_t normal_value(gen *g, sensor *s)
{
	if (s->type == T_MOTION) return fg_rng_unit(&g->rng) < s->motion_p ? 100 : 0;
	/* A guarantee on top: a value 2.5 running deviations or more off the
	 * running mean (the running deviation can come out low, e.g. after a
	 * stuck run) is drawn again, then replaced by the running mean. */
	double run_sd = s->run_n >= 10 ? sqrt(s->run_m2 / (s->run_n - 1)) : 0;
	int64_t v = 0;
	double z = 0;
	for (int tries = 0;; tries++) {
		z = (2 * fg_rng_unit(&g->rng) - 1) * 1.7320508075688772;
		v = llround((s->base + s->sigma * z) * 100);
		if (run_sd == 0 || fabs((double)v / 100 - s->run_mean) < 2.5 * run_sd) break;
		if (tries == 8) {
			v = llround(s->run_mean * 100);
			break;
		}
	}
	if (v == s->last_v) v += z > 0 ? -1 : 1;
	return v;
}

/* Records a stream needs to finish an episode of `kind` that starts now. */
static uint64_t episode_need(gen *g, const sensor *s, unsigned kind)
{
	double span_ms = kind == A_SILENT ? 150000 + s->interval_ms : 16 * s->interval_ms * 1.1;
	return (uint64_t)(span_ms * g->o->event_rate / 1000.0 * 1.3) + g->n;
}

static void maybe_start_episode(gen *g, sensor *s)
{
	if (s->nread < WARMUP || s->cooldown) return;
	bool motion = s->type == T_MOTION;
	if (fg_rng_unit(&g->rng) >= (motion ? g->q_motion : g->q)) return;
	static const double W[A_KINDS] = { 0, 1, 1, 1, 1, 1 };
	static const double WM[A_KINDS] = { 0, 0, 0, 0, 1, 1 };
	unsigned kind = fg_rng_pick(&g->rng, motion ? WM : W, A_KINDS);
	if (g->o->count && g->emitted + episode_need(g, s, kind) > g->o->count) return;
	s->ep = (uint8_t)kind;
	s->ep_step = 0;
	s->ep_dir = fg_rng_unit(&g->rng) < 0.5 ? -1 : 1;
	switch (kind) {
	case A_OUTLIER: s->ep_left = (uint8_t)fg_rng_range(&g->rng, 1, 3); break;
	case A_STUCK: s->ep_left = (uint8_t)fg_rng_range(&g->rng, 10, 15); break;
	case A_LOWBAT: s->ep_left = (uint8_t)fg_rng_range(&g->rng, 1, 3); break;
	default: s->ep_left = 1; break;
	}
}

static bool emit_reading(gen *g, uint32_t idx, int64_t ts)
{
	sensor *s = &g->s[idx];
	if (!s->ep) maybe_start_episode(g, s);
	unsigned kind = s->ep;
	int64_t v;
	uint8_t battery = s->battery;
	double gap = s->interval_ms * (0.9 + 0.2 * fg_rng_unit(&g->rng));
	double range = TYPES[s->type].hi - TYPES[s->type].lo;
	switch (kind) {
	case A_RANGE: {
		double over = range * (0.05 + 0.45 * fg_rng_unit(&g->rng));
		double x = s->ep_dir > 0 || fg_rng_unit(&g->rng) < 0.6 ? TYPES[s->type].hi + over
								       : TYPES[s->type].lo - over;
		v = llround(x * 100);
		break;
	}
	case A_OUTLIER: {
		/* 5-8 sigma off the baseline, and >= 4 running deviations off the
		 * running mean (what a detector sees, after earlier outliers
		 * widened it) */
		double k = 5 + s->ep_step + fg_rng_unit(&g->rng);
		double run_sd = s->run_n > 1 ? sqrt(s->run_m2 / (s->run_n - 1)) : s->sigma;
		double dev = fmax(k * s->sigma, (4 + s->ep_step + fg_rng_unit(&g->rng)) * run_sd);
		double x = s->run_mean + s->ep_dir * dev, lo = TYPES[s->type].lo + 0.01 * range,
		       hi = TYPES[s->type].hi - 0.01 * range;
		v = llround((x < lo ? lo : x > hi ? hi : x) * 100);
		break;
	}
	case A_STUCK: v = s->ep_step == 0 ? normal_value(g, s) : s->last_v; break;
	case A_SILENT:
		v = normal_value(g, s);
		gap = 75000 + 75000 * fg_rng_unit(&g->rng);
		break;
	case A_LOWBAT:
		v = normal_value(g, s);
		battery = (uint8_t)(9 - 3 * s->ep_step - fg_rng_below(&g->rng, 3));
		break;
	default: v = normal_value(g, s); break;
	}

	if (!fg_out_pace(g->out, ts)) return false;
	char *buf = fg_out_reserve(g->out), *p = buf;
	p = FG_LIT(p, "{\"timestamp\":\"");
	p = fg_put_ts(p, ts, &g->tsc);
	p = FG_LIT(p, "\",\"sensorId\":\"");
	char *key = p;
	p = put_sensor(p, idx);
	size_t keylen = (size_t)(p - key);
	p = FG_LIT(p, "\",\"sensorType\":");
	p = fg_put_qstr(p, TYPES[s->type].name);
	p = FG_LIT(p, ",\"value\":");
	p = s->type == T_MOTION ? fg_put_i64(p, v / 100) : fg_put_fixed(p, v, 2);
	p = FG_LIT(p, ",\"unit\":");
	p = fg_put_qstr(p, TYPES[s->type].unit);
	p = FG_LIT(p, ",\"location\":");
	p = fg_put_qstr(p, LOCATIONS[s->loc]);
	if (kind) {
		p = FG_LIT(p, ",\"isAnomaly\":true,\"anomalyType\":");
		p = fg_put_qstr(p, ANOMALY_TYPES[kind]);
	} else {
		p = FG_LIT(p, ",\"isAnomaly\":false,\"anomalyType\":null");
	}
	p = FG_LIT(p, ",\"batteryLevel\":");
	p = fg_put_u64(p, battery);
	p = kind == A_LOWBAT ? FG_LIT(p, ",\"deviceStatus\":\"low_battery\"}")
			     : FG_LIT(p, ",\"deviceStatus\":\"active\"}");
	char keybuf[24];
	memcpy(keybuf, key, keylen);
	if (!fg_out_commit(g->out, (size_t)(p - buf), keybuf, keylen)) return false;
	g->emitted++;
	g->by_type[kind]++;

	/* the sensor after this reading */
	s->nread++;
	if (kind != A_RANGE) {
		double x = (double)v / 100, d = x - s->run_mean;
		s->run_n += 1;
		s->run_mean += d / s->run_n;
		s->run_m2 += d * (x - s->run_mean);
	}
	if (kind != A_RANGE && kind != A_OUTLIER)
		s->last_v = v;
	else
		s->last_v = INT64_MIN; /* the next normal value may equal the one before */
	if (kind) {
		s->ep_step++;
		if (--s->ep_left == 0) {
			if (kind == A_LOWBAT) s->battery = 100;
			if (kind == A_STUCK) s->last_v = v; /* the next normal one differs */
			s->ep = A_NONE;
			s->cooldown = COOLDOWN;
		}
	} else if (s->cooldown) {
		s->cooldown--;
	}
	if (++s->drain_ctr >= s->drain_every) {
		s->drain_ctr = 0;
		s->battery = s->battery <= 10 ? 100 : (uint8_t)(s->battery - 1);
	}
	s->next_t += gap;
	return true;
}

static void usage(FILE *f);
static const fg_mode_info INFO = {
	"iot", "--sensors", "--anomaly-rate", 1000, 0.02, 200, usage,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flinc-gen iot [options]\n"
		"IoT sensor readings as JSON lines, with injected anomalies labelled isAnomaly/anomalyType\n"
		"(RANGE_BREACH, STATISTICAL_OUTLIER, STUCK_SENSOR, SENSOR_SILENT, LOW_BATTERY);\n"
		"normal readings never match an anomaly rule (docs/generators.md).\n");
	fg_common_usage(f, &INFO);
}

static int iot_open(void *gp, fg_opts *o, fg_out *out, char *err, size_t errcap)
{
	gen *g = gp;
	/* every sensor reports about every pop/rate seconds; keep that <= 30 s */
	double mean_s = (double)o->pop / o->event_rate;
	if (mean_s > MAX_MEAN_S) {
		if (o->pop_set) {
			snprintf(err, errcap,
				 "%" PRIu64
				 " sensors at %g records/s report every %.0f s; silences start at 60 s: give "
				 "--sensors <= %.0f",
				 o->pop, o->event_rate, mean_s, floor(o->event_rate * MAX_MEAN_S));
			return 2;
		}
		o->pop = (uint64_t)fmax(1, floor(o->event_rate * DEFAULT_MEAN_S));
		mean_s = (double)o->pop / o->event_rate;
	}
	g->o = o;
	g->out = out;
	g->n = (uint32_t)o->pop;
	g->s = malloc(sizeof *g->s * g->n);
	if (!g->s) {
		snprintf(err, errcap, "out of memory for %u sensors", g->n);
		return 1;
	}
	init_sensors(g, mean_s * 1000);
	fg_rng_seed(&g->rng, o->seed, 12);
	/* episode probability per reading so that about label_rate of the
	 * readings are labelled: mean episode length 3.7 (motion 1.5) */
	/* (the COOLDOWN readings after each episode cannot start one: they
	 * count against the normal readings) */
	g->q = o->label_rate / (3.7 * (1 - o->label_rate) - COOLDOWN * o->label_rate);
	g->q_motion = o->label_rate / (1.5 * (1 - o->label_rate) - COOLDOWN * o->label_rate);
	if (g->q_motion <= 0 || g->q_motion > 1) g->q_motion = 1;
	if (g->q <= 0 || g->q > 1) g->q = 1;
	for (uint32_t i = 0; i < g->n; i++) {
		if (!fg_heap_push(&g->heap, (int64_t)g->s[i].next_t, i)) {
			snprintf(err, errcap, "out of memory");
			return 1;
		}
	}
	return 0;
}

static int iot_step(void *gp)
{
	gen *g = gp;
	if (g->o->count && g->emitted >= g->o->count) return 0;
	fg_heap_ent e;
	fg_heap_pop(&g->heap, &e);
	if (!emit_reading(g, e.idx, e.t)) return -1;
	fg_heap_push(&g->heap, (int64_t)g->s[e.idx].next_t, e.idx); /* cannot grow: one out, one in */
	return 1;
}

static uint64_t iot_emitted(const void *g) { return ((const gen *)g)->emitted; }

static void iot_stats(const void *gp, FILE *f)
{
	const gen *g = gp;
	fprintf(f,
		"flinc-gen iot: %" PRIu64 " readings, anomalies: range %" PRIu64 " outlier %" PRIu64
		" stuck %" PRIu64 " silent %" PRIu64 " low_battery %" PRIu64 "\n",
		g->emitted, g->by_type[1], g->by_type[2], g->by_type[3], g->by_type[4], g->by_type[5]);
}

static void iot_close(void *gp)
{
	gen *g = gp;
	fg_heap_free(&g->heap);
	free(g->s);
}

const fg_gen_ops fg_iot_gen = {
	.info = &INFO,
	.size = sizeof(gen),
	.open = iot_open,
	.step = iot_step,
	.emitted = iot_emitted,
	.stats = iot_stats,
	.close = iot_close,
};

int fg_iot_main(int argc, char **argv) { return fg_run_mode(&fg_iot_gen, argc, argv); }
