/*
 * golden_jobs.c - test jobs for the golden tests of window and timer
 * semantics (run by run_golden.py).
 *
 *   golden.so --case NAME --input FILE --output DIR [--keyed-parallelism N]
 *
 * --keyed-parallelism sets the parallelism of the keyed operators (window,
 * timer process function): with `-p 1` and no such option the whole job is
 * one chain in one task; with N > 1 the keyed operators run in tasks of
 * their own behind a hash exchange (watermarks then travel in-band through
 * the exchange). The idle cases ignore it: their window is behind an
 * exchange anyway, and one window task keeps their marker protocol simple.
 *
 * Input lines are `key,timestamp_ms,value` (blank lines and lines starting
 * with '#' are skipped). Results go to DIR, late records (where the case
 * has a late tag) to DIR/late, as text lines:
 *
 *   window results   key,start,end,sum,count,wm
 *                    where sum/count are over the window's values and wm is
 *                    the watermark when the window fired ("end" for the
 *                    final watermark at end of input). With
 *                    pipeline.auto-watermark-interval=0 the watermark follows
 *                    every record, so wm pins down exactly when a window
 *                    fired, not only what it held.
 *   late records     key,timestamp,value
 *   timer firings    key,timer,time,sum=S,wm=W   (event time)
 *                    key,proc-timer,sum=S        (processing time)
 *
 * Every window function kind computes the same sum and count, so the
 * variants of a case (AGGREGATE with and without merge, with a POD or a
 * msgpack accumulator, REDUCE, PROCESS) share one expected file.
 *
 * Cases that must wait for something to happen inside the job (a
 * processing-time timer, an idle input) use a source of this plugin that
 * reads the input file itself and synchronizes through marker files in the
 * folder named by the environment variable GOLDEN_SCRATCH: a window or
 * timer function creates a marker, a source waits for it. That keeps the
 * outputs independent of how fast anything runs. (Markers need the job in
 * one process or a shared folder; golden tests run `flinc local`.)
 */
#include <flinc/flinc.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- records ----------------------------------------------------------- */

#define KEY_CAP 16

/* An input event. `count` is 1 for data (so that REDUCE, which folds
 * events into an event, can count too). */
typedef struct ev {
	char key[KEY_CAP]; /* NUL-padded */
	int64_t ts;
	int64_t value;
	int64_t count;
} ev;

static int ev_encode(const void *rec, flinc_writer *w)
{
	const ev *x = rec;
	flinc_w_array(w, 4);
	flinc_w_str(w, x->key, strnlen(x->key, KEY_CAP));
	flinc_w_int(w, x->ts);
	flinc_w_int(w, x->value);
	flinc_w_int(w, x->count);
	return 0;
}

static int ev_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	ev *x = rec;
	if (flinc_r_array(r) != 4) return 1;
	uint32_t n;
	const char *k = flinc_r_str(r, &n);
	if (n > KEY_CAP) return 1;
	memcpy(x->key, k, n);
	x->ts = flinc_r_int(r);
	x->value = flinc_r_int(r);
	x->count = flinc_r_int(r);
	return r->err;
}

static const flinc_type ev_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "golden_ev",
	.size = sizeof(ev),
	.flags = FLINC_TYPE_POD,
	.encode = ev_encode,
	.decode = ev_decode,
};

/* An output line. */
typedef struct outl {
	uint32_t len;
	char s[124];
} outl;

static int outl_encode(const void *rec, flinc_writer *w)
{
	const outl *x = rec;
	flinc_w_str(w, x->s, x->len);
	return 0;
}

static int outl_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	outl *x = rec;
	uint32_t n;
	const char *s = flinc_r_str(r, &n);
	if (n > sizeof x->s) return 1;
	memcpy(x->s, s, n);
	x->len = n;
	return r->err;
}

static const flinc_type outl_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "golden_line",
	.size = sizeof(outl),
	.flags = FLINC_TYPE_POD,
	.encode = outl_encode,
	.decode = outl_decode,
};

static void outl_printf(outl *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outl_printf(outl *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->s, sizeof o->s, fmt, ap);
	va_end(ap);
	o->len = n < 0 ? 0 : (uint32_t)n >= sizeof o->s ? (uint32_t)sizeof o->s - 1 : (uint32_t)n;
}

static size_t format_outl(const void *rec, char *buf, size_t cap)
{
	const outl *x = rec;
	if (x->len < cap) memcpy(buf, x->s, x->len);
	return x->len;
}

/* Sum and count: the accumulator of the AGGREGATE functions. */
typedef struct sc {
	int64_t sum;
	int64_t count;
} sc;

static int sc_encode(const void *rec, flinc_writer *w)
{
	const sc *x = rec;
	/* a map with named fields, as state that may evolve is written */
	flinc_w_map(w, 2);
	flinc_w_cstr(w, "sum");
	flinc_w_int(w, x->sum);
	flinc_w_cstr(w, "count");
	flinc_w_int(w, x->count);
	return 0;
}

static int sc_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	sc *x = rec;
	uint32_t n = flinc_r_map(r);
	for (uint32_t i = 0; i < n && !r->err; i++) {
		uint32_t len;
		const char *k = flinc_r_str(r, &len);
		if (len == 3 && memcmp(k, "sum", 3) == 0)
			x->sum = flinc_r_int(r);
		else if (len == 5 && memcmp(k, "count", 5) == 0)
			x->count = flinc_r_int(r);
		else
			flinc_r_skip(r);
	}
	return r->err;
}

static const flinc_type sc_pod_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "golden_sc",
	.size = sizeof(sc),
	.flags = FLINC_TYPE_POD,
	.encode = sc_encode,
	.decode = sc_decode,
};

/* The same struct without the POD flag: state goes through the codec. */
static const flinc_type sc_codec_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "golden_sc_codec",
	.size = sizeof(sc),
	.encode = sc_encode,
	.decode = sc_decode,
};

/* ---- cases -------------------------------------------------------------- */

enum pipeline { P_WINDOW, P_TIMERS, P_EOI, P_IDLE, P_PROC_WINDOW };
enum fnkind { FN_AGG, FN_AGG_NOMERGE, FN_AGG_CODEC, FN_REDUCE, FN_PROCESS };
enum outfmt { FMT_WM, FMT_PROC, FMT_IDLE };

typedef struct gcase {
	const char *name;
	enum pipeline pipeline;
	enum fnkind fn;
	flinc_window_kind kind;
	flinc_time_domain domain;
	int64_t size, slide, gap, offset, lateness;
	int64_t bound;        /* max out-of-orderness */
	bool late_tag;        /* late records to DIR/late */
	int64_t idle_timeout; /* assign_timestamps idle timeout */
	int64_t wait_ms;      /* idle: how long source 0 waits for an early firing */
	enum outfmt fmt;
} gcase;

#define TUMBLING(sz) .kind = FLINC_WINDOW_TUMBLING, .size = (sz)
#define SLIDING(sz, sl) .kind = FLINC_WINDOW_SLIDING, .size = (sz), .slide = (sl)
#define SESSION(g) .kind = FLINC_WINDOW_SESSION, .gap = (g)
#define C(n, p, f) .name = (n), .pipeline = (p), .fn = (f)

static const gcase cases[] = {
	/* out-of-order events within the bound */
	{ C("tumbling_ooo", P_WINDOW, FN_AGG), TUMBLING(10), .bound = 5 },
	{ C("tumbling_ooo_reduce", P_WINDOW, FN_REDUCE), TUMBLING(10), .bound = 5 },
	{ C("tumbling_ooo_process", P_WINDOW, FN_PROCESS), TUMBLING(10), .bound = 5 },
	{ C("tumbling_ooo_codec", P_WINDOW, FN_AGG_CODEC), TUMBLING(10), .bound = 5 },
	/* window alignment with an offset and negative timestamps */
	{ C("tumbling_offset", P_WINDOW, FN_AGG), TUMBLING(10), .offset = 3, .bound = 5 },
	/* beyond the bound: dropped and counted, or to the late output */
	{ C("late_dropped", P_WINDOW, FN_AGG), TUMBLING(10), .bound = 2 },
	{ C("late_side", P_WINDOW, FN_AGG), TUMBLING(10), .bound = 2, .late_tag = true },
	/* allowed lateness: late firings */
	{ C("lateness", P_WINDOW, FN_AGG), TUMBLING(10), .lateness = 5, .late_tag = true },
	{ C("lateness_reduce", P_WINDOW, FN_REDUCE), TUMBLING(10), .lateness = 5, .late_tag = true },
	{ C("lateness_process", P_WINDOW, FN_PROCESS), TUMBLING(10), .lateness = 5, .late_tag = true },
	{ C("lateness_codec", P_WINDOW, FN_AGG_CODEC), TUMBLING(10), .lateness = 5, .late_tag = true },
	/* sliding overlaps: slices (merge) and per-window assignment */
	{ C("sliding", P_WINDOW, FN_AGG), SLIDING(10, 5) },
	{ C("sliding_nomerge", P_WINDOW, FN_AGG_NOMERGE), SLIDING(10, 5) },
	{ C("sliding_reduce", P_WINDOW, FN_REDUCE), SLIDING(10, 5) },
	{ C("sliding_process", P_WINDOW, FN_PROCESS), SLIDING(10, 5) },
	{ C("sliding_lateness", P_WINDOW, FN_AGG), SLIDING(15, 5), .lateness = 10, .late_tag = true },
	{ C("sliding_lateness_nomerge", P_WINDOW, FN_AGG_NOMERGE), SLIDING(15, 5), .lateness = 10,
	  .late_tag = true },
	{ C("sliding_lateness_codec", P_WINDOW, FN_AGG_CODEC), SLIDING(15, 5), .lateness = 10,
	  .late_tag = true },
	{ C("sliding_lateness_process", P_WINDOW, FN_PROCESS), SLIDING(15, 5), .lateness = 10,
	  .late_tag = true },
	/* session merging */
	{ C("session", P_WINDOW, FN_AGG), SESSION(10), .bound = 21, .late_tag = true },
	{ C("session_reduce", P_WINDOW, FN_REDUCE), SESSION(10), .bound = 21, .late_tag = true },
	{ C("session_process", P_WINDOW, FN_PROCESS), SESSION(10), .bound = 21, .late_tag = true },
	{ C("session_codec", P_WINDOW, FN_AGG_CODEC), SESSION(10), .bound = 21, .late_tag = true },
	{ C("session_lateness", P_WINDOW, FN_AGG), SESSION(10), .lateness = 20, .late_tag = true },
	{ C("session_lateness_process", P_WINDOW, FN_PROCESS), SESSION(10), .lateness = 20,
	  .late_tag = true },
	/* keyed process function with event- and processing-time timers */
	{ C("timers", P_TIMERS, FN_AGG) },
	/* end of input: open windows and pending timers */
	{ C("eoi", P_EOI, FN_AGG), TUMBLING(100), .bound = 1000 },
	/* idle inputs: with and without an idle timeout */
	{ C("idle", P_IDLE, FN_AGG), TUMBLING(10), .idle_timeout = 200, .wait_ms = 60000, .fmt = FMT_IDLE },
	{ C("idle_off", P_IDLE, FN_AGG), TUMBLING(10), .wait_ms = 1500, .fmt = FMT_IDLE },
	/* processing-time session windows, flushed at end of input */
	{ C("proc_session", P_PROC_WINDOW, FN_AGG), SESSION(3600000), .domain = FLINC_PROCESSING_TIME,
	  .fmt = FMT_PROC },
	{ C("proc_session_process", P_PROC_WINDOW, FN_PROCESS), SESSION(3600000),
	  .domain = FLINC_PROCESSING_TIME, .fmt = FMT_PROC },
};

/* ---- markers ------------------------------------------------------------ */

static void marker_path(char *buf, size_t cap, const char *name)
{
	const char *dir = getenv("GOLDEN_SCRATCH");
	snprintf(buf, cap, "%s/%s", dir && *dir ? dir : ".", name);
}

static void marker_set(const char *name)
{
	char p[4096];
	marker_path(p, sizeof p, name);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0) close(fd);
}

static bool marker_has(const char *name)
{
	char p[4096];
	marker_path(p, sizeof p, name);
	return access(p, F_OK) == 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* Parse "key,ts,value"; false for comments, blank and malformed lines. */
static bool parse_line(const char *s, size_t n, ev *out, bool *malformed)
{
	*malformed = false;
	while (n && (*s == ' ' || *s == '\t')) s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
	if (n == 0 || *s == '#') return false;
	char buf[128];
	if (n >= sizeof buf) goto bad;
	memcpy(buf, s, n);
	buf[n] = 0;
	char *c1 = strchr(buf, ',');
	char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
	if (!c1 || !c2 || c1 == buf || (size_t)(c1 - buf) > KEY_CAP) goto bad;
	memset(out, 0, sizeof *out);
	memcpy(out->key, buf, (size_t)(c1 - buf));
	char *end;
	errno = 0;
	out->ts = strtoll(c1 + 1, &end, 10);
	if (end != c2 || errno) goto bad;
	out->value = strtoll(c2 + 1, &end, 10);
	if (*end || errno) goto bad;
	out->count = 1;
	return true;
bad:
	*malformed = true;
	return false;
}

static void parse_fn(flinc_ctx *c, const void *in)
{
	const flinc_line *l = in;
	ev e;
	bool bad;
	if (parse_line(l->s, l->len, &e, &bad))
		flinc_emit(c, &e);
	else if (bad)
		flinc_ctx_fail(c, "golden: malformed input line '%.*s'", (int)l->len, l->s);
}

static int64_t ev_ts(const void *rec) { return ((const ev *)rec)->ts; }

static size_t ev_key(const void *rec, uint8_t *buf, size_t cap)
{
	const ev *x = rec;
	size_t n = strnlen(x->key, KEY_CAP);
	if (n > cap) return cap + 1;
	memcpy(buf, x->key, n);
	return n;
}

static bool is_key(const ev *x, const char *k) { return strncmp(x->key, k, KEY_CAP) == 0; }

static void late_fmt(flinc_ctx *c, const void *in, void *out)
{
	(void)c;
	const ev *x = in;
	outl_printf(out, "%.*s,%" PRId64 ",%" PRId64, (int)strnlen(x->key, KEY_CAP), x->key, x->ts, x->value);
}

static bool not_heartbeat(flinc_ctx *c, const void *in)
{
	(void)c;
	return !is_key(in, "~hb");
}

/* ---- window functions ------------------------------------------------------ */

static void emit_sc(flinc_ctx *c, const flinc_time_window *w, int64_t sum, int64_t count)
{
	const gcase *gc = flinc_ctx_arg(c);
	size_t klen;
	const char *key = flinc_ctx_key(c, &klen);
	if (klen == 2 && memcmp(key, "~s", 2) == 0) return; /* the idle cases' sentinel */
	int64_t wm = flinc_ctx_watermark(c);
	char wms[32];
	if (wm == FLINC_WATERMARK_MAX)
		snprintf(wms, sizeof wms, "end");
	else
		snprintf(wms, sizeof wms, "%" PRId64, wm);
	outl o;
	switch (gc->fmt) {
	case FMT_WM:
		outl_printf(&o, "%.*s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s", (int)klen, key,
			    w->start, w->end, sum, count, wms);
		break;
	case FMT_PROC:
		/* processing-time window bounds depend on the clock */
		outl_printf(&o, "%.*s,-,-,%" PRId64 ",%" PRId64 ",%s", (int)klen, key, sum, count, wms);
		break;
	case FMT_IDLE: {
		/* Whether the idle source was still open: it creates s1-done
		 * before it ends, and only after this window task saw the
		 * sentinel, which follows every early firing. */
		bool early = wm != FLINC_WATERMARK_MAX;
		bool open = !marker_has("s1-done");
		outl_printf(&o, "%.*s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,src1=%s", (int)klen,
			    key, w->start, w->end, sum, count, early ? "early" : "end",
			    open ? "open" : "closed");
		if (early) marker_set("fired");
		break;
	}
	}
	flinc_emit(c, &o);
}

static void sc_add(void *acc, const void *in)
{
	sc *a = acc;
	const ev *x = in;
	a->sum += x->value;
	a->count += x->count;
	if (is_key(x, "~s")) marker_set("sentinel");
}

static void sc_merge(void *acc, const void *other)
{
	sc *a = acc;
	const sc *b = other;
	a->sum += b->sum;
	a->count += b->count;
}

static void sc_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	const sc *a = acc;
	emit_sc(c, w, a->sum, a->count);
}

static void ev_reduce(void *acc, const void *in)
{
	ev *a = acc;
	const ev *x = in;
	a->value += x->value;
	a->count += x->count;
	if (is_key(x, "~s")) marker_set("sentinel");
}

static void ev_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	const ev *a = acc;
	emit_sc(c, w, a->value, a->count);
}

static void list_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)acc;
	int64_t sum = 0, count = 0;
	const ev *x;
	while ((x = flinc_elements_next(it))) {
		sum += x->value;
		count += x->count;
	}
	emit_sc(c, w, sum, count);
}

static const flinc_window_fn fn_agg = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &sc_pod_type,
	.add = sc_add,
	.merge = sc_merge,
	.emit = sc_emit,
};
static const flinc_window_fn fn_agg_nomerge = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &sc_pod_type,
	.add = sc_add,
	.emit = sc_emit,
};
static const flinc_window_fn fn_agg_codec = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &sc_codec_type,
	.add = sc_add,
	.merge = sc_merge,
	.emit = sc_emit,
};
static const flinc_window_fn fn_reduce = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_REDUCE,
	.acc_type = &ev_type,
	.add = ev_reduce,
	.merge = ev_reduce, /* folding an event into an event is the same sum */
	.emit = ev_emit,
};
static const flinc_window_fn fn_process = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_PROCESS,
	.emit = list_emit,
};

static const flinc_window_fn *window_fn(enum fnkind k)
{
	switch (k) {
	case FN_AGG: return &fn_agg;
	case FN_AGG_NOMERGE: return &fn_agg_nomerge;
	case FN_AGG_CODEC: return &fn_agg_codec;
	case FN_REDUCE: return &fn_reduce;
	case FN_PROCESS: return &fn_process;
	}
	return NULL;
}

/* ---- process function with timers -------------------------------------------- */

/* For each event: the key's sum of values grows and an event-time timer is
 * registered at ts+10; a negative value instead deletes the key's timer at
 * time -value. Key "p" also registers a processing-time timer for now. */
typedef struct timers_local {
	flinc_state *sum;
} timers_local;

static int timers_open(flinc_ctx *c, void *local)
{
	timers_local *l = local;
	l->sum = flinc_state_value(c, "sum", &flinc_type_i64);
	return l->sum ? FLINC_OK : FLINC_ESTATE;
}

static int64_t key_sum(timers_local *l)
{
	const int64_t *s = flinc_value_get(l->sum);
	return s ? *s : 0;
}

static void timers_process(flinc_ctx *c, void *local, const void *in)
{
	timers_local *l = local;
	const ev *x = in;
	if (x->value < 0) {
		flinc_timer_delete(c, FLINC_EVENT_TIME, -x->value);
		return;
	}
	int64_t s = key_sum(l) + x->value;
	flinc_value_put(l->sum, &s);
	flinc_timer_register(c, FLINC_EVENT_TIME, x->ts + 10);
	if (is_key(x, "p")) flinc_timer_register(c, FLINC_PROCESSING_TIME, flinc_ctx_now(c));
}

static void timers_on_timer(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d)
{
	timers_local *l = local;
	size_t klen;
	const char *key = flinc_ctx_key(c, &klen);
	outl o;
	if (d == FLINC_PROCESSING_TIME) {
		outl_printf(&o, "%.*s,proc-timer,sum=%" PRId64, (int)klen, key, key_sum(l));
		flinc_emit(c, &o);
		marker_set("proc-fired");
		return;
	}
	int64_t wm = flinc_ctx_watermark(c);
	char wms[32];
	if (wm == FLINC_WATERMARK_MAX)
		snprintf(wms, sizeof wms, "end");
	else
		snprintf(wms, sizeof wms, "%" PRId64, wm);
	outl_printf(&o, "%.*s,timer,%" PRId64 ",sum=%" PRId64 ",wm=%s", (int)klen, key, ts, key_sum(l), wms);
	flinc_emit(c, &o);
}

static const flinc_process_fn timers_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(timers_local),
	.open = timers_open,
	.process = timers_process,
	.on_timer = timers_on_timer,
};

/* ---- a source that waits for markers --------------------------------------- */

typedef struct src_arg {
	const gcase *gc;
	const char *input;
} src_arg;

typedef struct src_local {
	ev *recs;
	size_t n, i;
	int phase;
	int64_t t0;
	int64_t max_ts;
} src_local;

#define SAFETY_MS 60000

static int src_open(flinc_ctx *c, void *local)
{
	src_local *l = local;
	const src_arg *a = flinc_ctx_arg(c);
	l->t0 = flinc_ctx_now(c);
	l->max_ts = INT64_MIN;
	if (flinc_ctx_subtask(c) != 0) return FLINC_OK; /* only subtask 0 has data */
	FILE *f = fopen(a->input, "r");
	if (!f) {
		flinc_ctx_fail(c, "golden: cannot open %s: %s", a->input, strerror(errno));
		return FLINC_EIO;
	}
	char line[256];
	size_t cap = 0;
	while (fgets(line, sizeof line, f)) {
		size_t n = strcspn(line, "\n");
		ev e;
		bool bad;
		if (!parse_line(line, n, &e, &bad)) {
			if (bad) {
				fclose(f);
				flinc_ctx_fail(c, "golden: malformed input line '%.*s'", (int)n, line);
				return FLINC_EINVAL;
			}
			continue;
		}
		if (l->n == cap) {
			cap = cap ? cap * 2 : 16;
			ev *nr = realloc(l->recs, cap * sizeof(ev));
			if (!nr) {
				fclose(f);
				return FLINC_ENOMEM;
			}
			l->recs = nr;
		}
		l->recs[l->n++] = e;
		if (e.ts > l->max_ts) l->max_ts = e.ts;
	}
	fclose(f);
	return FLINC_OK;
}

static void src_special(flinc_ctx *c, const char *key, int64_t ts)
{
	ev e;
	memset(&e, 0, sizeof e);
	snprintf(e.key, sizeof e.key, "%s", key);
	e.ts = ts;
	flinc_emit(c, &e);
}

/* P_TIMERS: emit everything, then wait until the processing-time timer
 * fired (the runtime does not fire pending processing-time timers at end
 * of input, as Flink does not). */
static int src_run_timers(flinc_ctx *c, src_local *l, uint32_t budget)
{
	if (l->phase == 0) {
		while (l->i < l->n && budget--) flinc_emit(c, &l->recs[l->i++]);
		if (l->i < l->n) return FLINC_SOURCE_MORE;
		l->phase = 1;
		l->t0 = flinc_ctx_now(c);
	}
	if (marker_has("proc-fired") || flinc_ctx_now(c) - l->t0 > SAFETY_MS) return FLINC_SOURCE_END;
	return FLINC_SOURCE_IDLE;
}

/* P_IDLE, subtask 0: the data, then heartbeats (filtered out right after
 * the timestamps, they keep this input from going idle itself) while
 * waiting for an early firing (up to wait_ms), then the sentinel, then
 * until subtask 1 ended and a window fired after that. */
static int src_run_idle0(flinc_ctx *c, src_local *l, const gcase *gc, uint32_t budget)
{
	int64_t now = flinc_ctx_now(c);
	switch (l->phase) {
	case 0:
		while (l->i < l->n && budget--) flinc_emit(c, &l->recs[l->i++]);
		if (l->i < l->n) return FLINC_SOURCE_MORE;
		l->phase = 1;
		l->t0 = now;
		return FLINC_SOURCE_IDLE;
	case 1:
		src_special(c, "~hb", 0);
		if (marker_has("fired") || now - l->t0 > gc->wait_ms) {
			src_special(c, "~s", l->max_ts);
			l->phase = 2;
			l->t0 = now;
		}
		return FLINC_SOURCE_IDLE;
	case 2:
		src_special(c, "~hb", 0);
		if (marker_has("s1-done")) {
			l->phase = 3;
			l->t0 = now;
		} else if (now - l->t0 > SAFETY_MS) {
			return FLINC_SOURCE_END;
		}
		return FLINC_SOURCE_IDLE;
	default:
		src_special(c, "~hb", 0);
		if (marker_has("fired") || now - l->t0 > SAFETY_MS) return FLINC_SOURCE_END;
		return FLINC_SOURCE_IDLE;
	}
}

/* P_IDLE, subtask 1: nothing until the window task saw the sentinel. */
static int src_run_idle1(flinc_ctx *c, src_local *l)
{
	if (marker_has("sentinel") || flinc_ctx_now(c) - l->t0 > 2 * SAFETY_MS) {
		marker_set("s1-done");
		return FLINC_SOURCE_END;
	}
	return FLINC_SOURCE_IDLE;
}

static int src_run(flinc_ctx *c, void *local, uint32_t budget)
{
	src_local *l = local;
	const src_arg *a = flinc_ctx_arg(c);
	if (a->gc->pipeline == P_TIMERS) return src_run_timers(c, l, budget);
	if (flinc_ctx_subtask(c) == 0) return src_run_idle0(c, l, a->gc, budget);
	return src_run_idle1(c, l);
}

static void src_close(flinc_ctx *c, void *local)
{
	(void)c;
	src_local *l = local;
	free(l->recs);
	l->recs = NULL;
}

static const flinc_source_fn marker_source = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(src_local),
	.open = src_open,
	.run = src_run,
	.close = src_close,
};

/* ---- the job -------------------------------------------------------------- */

static flinc_stream *keyed_par(flinc_stream *s, int64_t par)
{
	return par > 0 ? flinc_set_parallelism(s, (int)par) : s;
}

static flinc_stream *window_of(flinc_env *e, flinc_stream *keyed, const gcase *gc, const flinc_tag *late,
			       int64_t par)
{
	flinc_window_spec spec = {
		.kind = gc->kind,
		.domain = gc->domain,
		.size = gc->size,
		.slide = gc->slide,
		.gap = gc->gap,
		.offset = gc->offset,
		.allowed_lateness = gc->lateness,
		.late = late,
	};
	(void)e;
	return keyed_par(
		flinc_set_uid(flinc_window(keyed, "window", &spec, window_fn(gc->fn), gc, &outl_type),
			      "window"),
		par);
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *name = flinc_arg(e, "case", NULL);
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	int64_t par = flinc_arg_i64(e, "keyed-parallelism", 0);
	if (!name || !input) return flinc_env_fail(e, "golden: --case NAME and --input FILE are required");
	const gcase *gc = NULL;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (strcmp(cases[i].name, name) == 0) gc = &cases[i];
	if (!gc) return flinc_env_fail(e, "golden: unknown case '%s'", name);
	if (par < 0 || par > 64) return flinc_env_fail(e, "golden: --keyed-parallelism must be 1..64");
	if (gc->pipeline == P_IDLE) par = 0;
	flinc_env_set_name(e, name);

	flinc_stream *evs;
	if (gc->pipeline == P_TIMERS || gc->pipeline == P_IDLE) {
		src_arg *a = flinc_env_alloc(e, sizeof *a);
		size_t n = strlen(input) + 1;
		char *in = flinc_env_alloc(e, n);
		memcpy(in, input, n);
		a->gc = gc;
		a->input = in;
		evs = flinc_set_uid(flinc_source(e, "source", &marker_source, a, &ev_type), "source");
		if (gc->pipeline == P_IDLE) flinc_set_parallelism(evs, 2);
	} else {
		flinc_stream *lines = flinc_set_uid(flinc_lines_from(e, "source", input, 0), "source");
		evs = flinc_set_uid(flinc_flat_map(lines, "parse", parse_fn, NULL, &ev_type), "parse");
	}

	flinc_stream *keyed;
	if (gc->pipeline == P_PROC_WINDOW) {
		keyed = flinc_key_by(evs, ev_key);
	} else {
		flinc_stream *ts = flinc_set_uid(
			flinc_assign_timestamps(evs, ev_ts, gc->bound, gc->idle_timeout), "timestamps");
		if (gc->pipeline == P_IDLE) {
			/* one timestamps instance per source subtask: idleness is per input */
			flinc_set_parallelism(ts, 2);
			ts = flinc_set_parallelism(
				flinc_set_uid(flinc_filter(ts, "no-heartbeats", not_heartbeat, NULL),
					      "no-heartbeats"),
				2);
		}
		keyed = flinc_key_by(ts, ev_key);
	}

	flinc_stream *out;
	const flinc_tag *late = NULL;
	switch (gc->pipeline) {
	case P_TIMERS:
		out = keyed_par(
			flinc_set_uid(flinc_process(keyed, "timers", &timers_fn, NULL, &outl_type), "timers"),
			par);
		break;
	case P_EOI:
		out = flinc_union(
			window_of(e, keyed, gc, NULL, par),
			keyed_par(flinc_set_uid(flinc_process(keyed, "timers", &timers_fn, NULL, &outl_type),
						"timers"),
				  par));
		break;
	default:
		if (gc->late_tag) late = flinc_tag_new(e, "late", &ev_type);
		out = window_of(e, keyed, gc, late, par);
		break;
	}
	int rc = flinc_sink_to(out, "sink", output, format_outl);
	if (rc == FLINC_OK && late) {
		size_t n = strlen(output) + 8;
		char *ldir = flinc_env_alloc(e, n);
		snprintf(ldir, n, "%s/late", output);
		flinc_stream *l =
			flinc_map(flinc_side_output(out, late), "late-format", late_fmt, NULL, &outl_type);
		rc = flinc_sink_to(flinc_set_uid(l, "late-format"), "late-sink", ldir, format_outl);
	}
	return rc;
}

FLINC_PLUGIN("golden", "Golden test jobs for window and timer semantics",
	     "--case NAME --input FILE [--output DIR|-] [--keyed-parallelism N]", build);
