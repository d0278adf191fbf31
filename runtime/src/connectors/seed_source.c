/*
 * seed_source.c - `datagen:MODE[?options]`: the lines of a flinc-gen seed
 * stream (transactions, user-events, iot) generated inside the job, so a seed
 * job runs with no Kafka and no input file (`--input datagen`).
 *
 * The generator is flinc-gen's own mode code (gen/flinc-gen.h, fg_gen_ops),
 * driven one step at a time through a capture output: the same seed and
 * options give byte for byte the lines `flinc-gen MODE` writes.
 *
 * Options (the query, '&'-separated): count=N (records; 0 = endless),
 * seed=S, population-seed=S, event-rate=R and start-time=T (simulated time, as flinc-gen),
 * users=N / sensors=N, fraud-rate=F / anomaly-rate=F. The source's rate
 * (flinc_lines_from's) makes a live stream: event time = wall clock, records
 * released when their time comes, count endless unless given.
 *
 * Parallelism. A seed stream is one simulated timeline (users' sessions and
 * fraud patterns span many records), so the source runs as one subtask; the
 * job's operators after it run at their own parallelism. One core of
 * flinc-gen writes 1.5-4M records/s (docs/BENCHMARKS.md), more than a seed
 * job's subtask consumes.
 *
 * Checkpoints. The position is the number of records emitted, plus the seed
 * and the start of the timeline (a live stream's start is the wall clock of
 * the first run, kept so that a restore replays the same timeline). A restore
 * regenerates and drops that many records (no formatting saved: a few
 * seconds per 10M records), in slices of SKIP_SLICE per run() call so that
 * barriers and cancellation are never held up. A snapshot of another mode or
 * seed is refused.
 *
 * Threads: each instance belongs to its subtask's thread.
 */
#include <flinc/flinc.h>

#include "connectors.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flinc-gen.h"
#include "util.h"

#define SNAPSHOT_VERSION 1
#define SKIP_SLICE 65536u

typedef struct sg_conf {
	const fg_gen_ops *ops;
	fg_opts o;        /* start_ms of a live stream set at the first run */
	bool start_given; /* start-time=... (never replaced) */
	char mode[16];
} sg_conf;

typedef struct sg {
	const sg_conf *conf;
	fg_opts o; /* this instance's copy: the generator keeps a pointer */
	fg_out *out;
	void *g;
	bool opened, finished, restored;
	uint64_t emitted, skip;
	int64_t restored_start;
	uint64_t restored_seed;
	/* a record generated but not yet due (live streams) */
	const char *held;
	size_t held_len;
	int64_t held_ms;
} sg;

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
	char buf[32];
	if (n == 0 || n >= sizeof buf) return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	return fg_parse_u64(buf, out);
}

static bool parse_f64(const char *s, size_t n, double *out)
{
	char buf[32], *end;
	if (n == 0 || n >= sizeof buf) return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	errno = 0;
	*out = strtod(buf, &end);
	return !errno && *end == 0 && isfinite(*out);
}

/* Parses "MODE[?k=v&...]" into conf; false after flinc_env_fail. */
static bool parse_address(flinc_env *e, const char *address, double rate, sg_conf *conf)
{
	const char *spec = address + strlen("datagen:");
	size_t ml = strcspn(spec, "?");
	if (ml >= sizeof conf->mode) ml = sizeof conf->mode - 1;
	memcpy(conf->mode, spec, ml);
	conf->mode[ml] = 0;
	conf->ops = fg_gen_find(conf->mode);
	if (!conf->ops) {
		flinc_env_fail(e, "input %s: unknown generator '%s' (one of transactions, user-events, iot)",
			       address, conf->mode);
		return false;
	}
	const fg_mode_info *mi = conf->ops->info;
	fg_opts *o = &conf->o;
	fg_opts_defaults(mi, o);
	o->output = "datagen";
	const char *q = spec[ml] == '?' ? spec + ml + 1 : NULL;
	while (q && *q) {
		size_t pl = strcspn(q, "&");
		const char *eq = memchr(q, '=', pl);
		if (!eq) {
			flinc_env_fail(e, "input %s: option '%.*s' has no value (NAME=VALUE)", address,
				       (int)pl, q);
			return false;
		}
		size_t kl = (size_t)(eq - q), vl = pl - kl - 1;
		const char *v = eq + 1;
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(q, lit, kl) == 0)
		bool ok;
		if (KEY_IS("count")) {
			ok = parse_u64(v, vl, &o->count);
			o->count_set = true;
		} else if (KEY_IS("seed")) {
			ok = parse_u64(v, vl, &o->seed);
		} else if (KEY_IS("population-seed")) {
			ok = parse_u64(v, vl, &o->pop_seed);
			o->pop_seed_set = true;
		} else if (KEY_IS("event-rate")) {
			ok = parse_f64(v, vl, &o->event_rate) && o->event_rate > 0 && o->event_rate <= 1e8;
			o->event_rate_set = true;
		} else if (KEY_IS("start-time")) {
			char buf[40];
			ok = vl < sizeof buf;
			if (ok) {
				memcpy(buf, v, vl);
				buf[vl] = 0;
				ok = fg_parse_time(buf, &o->start_ms);
			}
			o->start_set = conf->start_given = true;
		} else if (kl == strlen(mi->pop_opt) - 2 && !memcmp(q, mi->pop_opt + 2, kl)) {
			ok = parse_u64(v, vl, &o->pop) && o->pop > 0 && o->pop <= UINT32_MAX;
			o->pop_set = true;
		} else if (mi->label_opt && kl == strlen(mi->label_opt) - 2 &&
			   !memcmp(q, mi->label_opt + 2, kl)) {
			ok = parse_f64(v, vl, &o->label_rate) && o->label_rate >= 0 && o->label_rate <= 0.5;
		} else {
			flinc_env_fail(
				e,
				"input %s: unknown option '%.*s' (count, seed, population-seed, event-rate, start-time, "
				"%s%s%s)",
				address, (int)kl, q, mi->pop_opt + 2, mi->label_opt ? ", " : "",
				mi->label_opt ? mi->label_opt + 2 : "");
			return false;
		}
#undef KEY_IS
		if (!ok) {
			flinc_env_fail(e, "input %s: bad value '%.*s' for %.*s", address, (int)vl, v, (int)kl,
				       q);
			return false;
		}
		q += pl;
		if (*q == '&') q++;
	}
	if (rate > 0) {
		if (o->start_set || o->event_rate_set) {
			flinc_env_fail(
				e,
				"input %s: a --rate makes a live stream (event time = wall clock); drop "
				"start-time and event-rate",
				address);
			return false;
		}
		o->rate = rate;
		o->event_rate = rate;
		if (!o->count_set) o->count = 0;
	}
	/* check the options against each other now, not on the task managers */
	fg_opts probe = *o;
	void *g = calloc(1, conf->ops->size);
	fg_out *out = fg_out_capture(conf->mode);
	char err[256] = "out of memory";
	int rc = g && out ? conf->ops->open(g, &probe, out, err, sizeof err) : 1;
	if (g && out && rc != 1) conf->ops->close(g);
	free(g);
	fg_out_close(out);
	if (rc) {
		flinc_env_fail(e, "input %s: %s", address, err);
		return false;
	}
	return true;
}

static int sg_open(flinc_ctx *c, void *local)
{
	sg *s = local;
	s->conf = flinc_ctx_arg(c);
	return FLINC_OK;
}

/* Sets the generator up: at the first run (after any restore). */
static int start(flinc_ctx *c, sg *s)
{
	const sg_conf *conf = s->conf;
	s->o = conf->o;
	if (s->restored) {
		if (s->restored_seed != s->o.seed) {
			flinc_ctx_fail(c,
				       "datagen:%s: the checkpoint was taken with seed %" PRIu64
				       ", this job has seed %" PRIu64 ": a different stream",
				       conf->mode, s->restored_seed, s->o.seed);
			return FLINC_EINVAL;
		}
		s->o.start_ms = s->restored_start;
		s->skip = s->emitted;
	} else if (s->o.rate > 0 && !conf->start_given) {
		s->o.start_ms = fg_wall_ms();
	}
	s->g = calloc(1, conf->ops->size);
	s->out = fg_out_capture(conf->mode);
	char err[256] = "out of memory";
	int rc = s->g && s->out ? conf->ops->open(s->g, &s->o, s->out, err, sizeof err) : 1;
	if (rc) {
		flinc_ctx_fail(c, "datagen:%s: %s", conf->mode, err);
		return rc == 1 ? FLINC_ENOMEM : FLINC_EINVAL;
	}
	s->opened = true;
	return FLINC_OK;
}

/* The next record into s->held; 0 at the end, < 0 on failure. */
static int next(flinc_ctx *c, sg *s)
{
	do {
		int r = s->conf->ops->step(s->g);
		if (r < 0) {
			flinc_ctx_fail(c, "datagen:%s: the generator failed (out of memory)", s->conf->mode);
			return FLINC_ENOMEM;
		}
		if (r == 0) return 0;
		s->held = fg_out_take(s->out, &s->held_len, &s->held_ms);
	} while (!s->held);
	return 1;
}

static int sg_run(flinc_ctx *c, void *local, uint32_t budget)
{
	sg *s = local;
	int rc;
	if (s->finished) return FLINC_SOURCE_END;
	if (!s->opened && (rc = start(c, s))) return rc;
	if (s->skip) {
		/* a restore: regenerate what was emitted before, in slices */
		uint32_t n = 0;
		while (s->skip && n++ < SKIP_SLICE) {
			if ((rc = next(c, s)) < 0) return rc;
			s->held = NULL;
			if (rc == 0) {
				s->finished = true;
				return FLINC_SOURCE_END;
			}
			s->skip--;
		}
		return FLINC_SOURCE_MORE;
	}
	bool live = s->o.rate > 0;
	int64_t now = live ? fg_wall_ms() : 0;
	for (uint32_t sent = 0; sent < budget; sent++) {
		if (!s->held) {
			if ((rc = next(c, s)) < 0) return rc;
			if (rc == 0) {
				s->finished = true;
				return FLINC_SOURCE_END;
			}
		}
		if (live && s->held_ms > now) return sent ? FLINC_SOURCE_MORE : FLINC_SOURCE_IDLE;
		flinc_line line = { .s = s->held, .len = (uint32_t)s->held_len };
		fl_src_at_file(c, "datagen", s->emitted, s->held, s->held_len);
		flinc_emit(c, &line);
		s->held = NULL;
		s->emitted++;
	}
	return FLINC_SOURCE_MORE;
}

/* Snapshot: a msgpack map {v, mode, seed, start, emitted}. */
static int sg_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	(void)c;
	sg *s = local;
	int64_t start_ms = s->opened ? s->o.start_ms : s->restored ? s->restored_start : s->conf->o.start_ms;
	flinc_w_map(w, 5);
	flinc_w_cstr(w, "v");
	flinc_w_uint(w, SNAPSHOT_VERSION);
	flinc_w_cstr(w, "mode");
	flinc_w_cstr(w, s->conf ? s->conf->mode : "");
	flinc_w_cstr(w, "seed");
	flinc_w_uint(w, s->opened ? s->o.seed : s->restored ? s->restored_seed : s->conf->o.seed);
	flinc_w_cstr(w, "start");
	flinc_w_int(w, start_ms);
	flinc_w_cstr(w, "emitted");
	flinc_w_uint(w, s->emitted);
	return w->err ? FLINC_ERANGE : FLINC_OK;
}

/* Called before open: conf comes from the ctx. One snapshot (the source
 * runs as one subtask). */
static int sg_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	sg *s = local;
	const sg_conf *conf = flinc_ctx_arg(c);
	uint64_t v = 0, seed = 0, emitted = 0;
	int64_t start_ms = 0;
	char mode[16] = "";
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(key, lit, kl) == 0)
		if (KEY_IS("v")) {
			v = flinc_r_uint(r);
		} else if (KEY_IS("mode")) {
			uint32_t ml;
			const char *m = flinc_r_str(r, &ml);
			if (m && ml < sizeof mode) {
				memcpy(mode, m, ml);
				mode[ml] = 0;
			}
		} else if (KEY_IS("seed")) {
			seed = flinc_r_uint(r);
		} else if (KEY_IS("start")) {
			start_ms = flinc_r_int(r);
		} else if (KEY_IS("emitted")) {
			emitted = flinc_r_uint(r);
		} else if (flinc_r_skip(r) != 0) {
			r->err = 1;
		}
#undef KEY_IS
	}
	if (r->err || v != SNAPSHOT_VERSION) {
		flinc_ctx_fail(
			c, "datagen: cannot read its checkpointed position (snapshot version %" PRIu64 ")",
			v);
		return FLINC_ECODEC;
	}
	if (strcmp(mode, conf->mode) != 0) {
		flinc_ctx_fail(c, "datagen:%s: the checkpoint is of the generator '%s'", conf->mode, mode);
		return FLINC_EINVAL;
	}
	if (s->restored && emitted <= s->emitted) return FLINC_OK; /* keep the furthest */
	s->restored = true;
	s->restored_seed = seed;
	s->restored_start = start_ms;
	s->emitted = emitted;
	return FLINC_OK;
}

static void sg_close(flinc_ctx *c, void *local)
{
	(void)c;
	sg *s = local;
	if (s->g) {
		if (s->opened) s->conf->ops->close(s->g);
		free(s->g);
	}
	fg_out_close(s->out);
	s->g = NULL;
	s->out = NULL;
}

static const flinc_source_fn seed_source_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(sg),
	.open = sg_open,
	.run = sg_run,
	.snapshot = sg_snapshot,
	.restore = sg_restore,
	.close = sg_close,
};

flinc_stream *fl_seed_lines_from(flinc_env *e, const char *name, const char *address, double rate)
{
	sg_conf *conf = flinc_env_alloc(e, sizeof *conf);
	if (!conf) {
		flinc_env_fail(e, "%s: out of memory", name);
		conf = NULL;
	} else if (!parse_address(e, address, rate, conf)) {
		conf = NULL;
	}
	flinc_stream *s = flinc_source(e, name, &seed_source_fn, conf, &flinc_type_line);
	return flinc_set_parallelism(s, 1);
}
