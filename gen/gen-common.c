/*
 * gen-common.c - options, PRNG, heap, writers and output of flinc-gen's seed
 * modes (the interface and its rules are in flinc-gen.h).
 */
#include "flinc-gen.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile int fg_stop;

static void on_signal(int sig)
{
	(void)sig;
	fg_stop = 1;
}

void fg_install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- PRNG ----------------------------------------------------------------- */

void fg_rng_seed(fg_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ULL ^ fg_mix64(stream + 0x632be59bd9b4e019ULL);
	for (int i = 0; i < 4; i++) {
		x += 0x9e3779b97f4a7c15ULL;
		r->s[i] = fg_mix64(x);
	}
}

double fg_rng_normal(fg_rng *r)
{
	for (;;) {
		double u = 2.0 * fg_rng_unit(r) - 1.0, v = 2.0 * fg_rng_unit(r) - 1.0;
		double s = u * u + v * v;
		if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
	}
}

double fg_rng_exp(fg_rng *r, double mean) { return -mean * log1p(-fg_rng_unit(r)); }

unsigned fg_rng_pick(fg_rng *r, const double *w, unsigned n)
{
	double total = 0;
	for (unsigned i = 0; i < n; i++) total += w[i];
	double x = fg_rng_unit(r) * total;
	for (unsigned i = 0; i < n; i++) {
		if (x < w[i]) return i;
		x -= w[i];
	}
	for (unsigned i = n; i-- > 0;)
		if (w[i] > 0) return i;
	return 0;
}

/* ---- heap ------------------------------------------------------------------ */

static inline bool ent_less(const fg_heap_ent *a, const fg_heap_ent *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

bool fg_heap_push(fg_heap *h, int64_t t, uint32_t idx)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 256;
		fg_heap_ent *a = realloc(h->a, cap * sizeof *a);
		if (!a) return false;
		h->a = a;
		h->cap = cap;
	}
	fg_heap_ent e = { t, h->next_seq++, idx };
	size_t i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ent_less(&e, &h->a[parent])) break;
		h->a[i] = h->a[parent];
		i = parent;
	}
	h->a[i] = e;
	return true;
}

bool fg_heap_pop(fg_heap *h, fg_heap_ent *out)
{
	if (!h->n) return false;
	*out = h->a[0];
	fg_heap_ent last = h->a[--h->n];
	size_t i = 0, n = h->n;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n) break;
		if (c + 1 < n && ent_less(&h->a[c + 1], &h->a[c])) c++;
		if (!ent_less(&h->a[c], &last)) break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (n) h->a[i] = last;
	return true;
}

void fg_heap_free(fg_heap *h)
{
	free(h->a);
	memset(h, 0, sizeof *h);
}

/* ---- writers ----------------------------------------------------------------- */

static const char DIGITS2[] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

char *fg_put_u64(char *p, uint64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof tmp, *q = e;
	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		*--q = DIGITS2[d + 1];
		*--q = DIGITS2[d];
	}
	if (v >= 10) {
		unsigned d = (unsigned)v * 2;
		*--q = DIGITS2[d + 1];
		*--q = DIGITS2[d];
	} else {
		*--q = (char)('0' + v);
	}
	size_t n = (size_t)(e - q);
	memcpy(p, q, n);
	return p + n;
}

char *fg_put_i64(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return fg_put_u64(p, (uint64_t)0 - (uint64_t)v);
	}
	return fg_put_u64(p, (uint64_t)v);
}

char *fg_put_fixed(char *p, int64_t v, int dec)
{
	static const uint64_t POW10[] = { 1,      10,      100,      1000,      10000,
					  100000, 1000000, 10000000, 100000000, 1000000000 };
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	if (v < 0) *p++ = '-';
	uint64_t ip = u / POW10[dec], fp = u % POW10[dec];
	p = fg_put_u64(p, ip);
	*p++ = '.';
	for (int i = dec - 1; i >= 0; i--) {
		p[i] = (char)('0' + fp % 10);
		fp /= 10;
	}
	return p + dec;
}

char *fg_put_qstr(char *p, const char *s)
{
	*p++ = '"';
	size_t n = strlen(s);
	memcpy(p, s, n);
	p += n;
	*p++ = '"';
	return p;
}

char *fg_put_uuid(char *p, uint64_t hi, uint64_t lo)
{
	static const char HEX[] = "0123456789abcdef";
	char *q = p;
	for (int i = 0; i < 16; i++) *q++ = HEX[(hi >> (60 - 4 * i)) & 15];
	for (int i = 0; i < 16; i++) *q++ = HEX[(lo >> (60 - 4 * i)) & 15];
	/* 32 digits at p; spread them to 8-4-4-4-12 from the end */
	char d[32];
	memcpy(d, p, 32);
	q = p;
	memcpy(q, d, 8), q += 8, *q++ = '-';
	memcpy(q, d + 8, 4), q += 4, *q++ = '-';
	memcpy(q, d + 12, 4), q += 4, *q++ = '-';
	memcpy(q, d + 16, 4), q += 4, *q++ = '-';
	memcpy(q, d + 20, 12), q += 12;
	return q;
}

/* Days since 1970-01-01 -> civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static inline void put2(char *p, unsigned v)
{
	p[0] = DIGITS2[v * 2];
	p[1] = DIGITS2[v * 2 + 1];
}

char *fg_put_ts(char *p, int64_t ms, fg_ts_cache *c)
{
	int64_t minute = ms >= 0 ? ms / 60000 : -((-ms + 59999) / 60000);
	if (!c->valid || c->minute != minute) {
		int64_t days = minute >= 0 ? minute / 1440 : -((-minute + 1439) / 1440);
		unsigned mod = (unsigned)(minute - days * 1440);
		int y;
		unsigned mo, d;
		civil_from_days(days, &y, &mo, &d);
		char *q = c->prefix;
		unsigned yy = y < 0 ? 0 : (y > 9999 ? 9999 : (unsigned)y);
		put2(q, yy / 100), put2(q + 2, yy % 100), q[4] = '-';
		put2(q + 5, mo), q[7] = '-', put2(q + 8, d), q[10] = 'T';
		put2(q + 11, mod / 60), q[13] = ':', put2(q + 14, mod % 60), q[16] = ':';
		c->minute = minute;
		c->valid = true;
	}
	memcpy(p, c->prefix, 17);
	unsigned inmin = (unsigned)(ms - minute * 60000);
	put2(p + 17, inmin / 1000);
	p[19] = '.';
	unsigned milli = inmin % 1000;
	p[20] = (char)('0' + milli / 100);
	put2(p + 21, milli % 100);
	p[23] = 'Z';
	return p + 24;
}

bool fg_parse_time(const char *s, int64_t *ms)
{
	if (!*s) return false;
	bool digits = true;
	for (const char *q = s; *q; q++)
		if ((*q < '0' || *q > '9') && !(q == s && *q == '-')) digits = false;
	if (digits) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno || *end) return false;
		*ms = v;
		return true;
	}
	int y, mo, d, h, mi, se, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || n != 19)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 || h < 0 || mi < 0 || se < 0)
		return false;
	const char *q = s + 19;
	int milli = 0;
	if (*q == '.') {
		q++;
		int k = 0;
		while (*q >= '0' && *q <= '9') {
			if (k < 3) milli = milli * 10 + (*q - '0');
			k++, q++;
		}
		if (k == 0) return false;
		for (; k < 3; k++) milli *= 10;
	}
	if (strcmp(q, "Z") != 0) return false;
	*ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60000LL + se * 1000LL +
		milli;
	return true;
}

int64_t fg_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ----------------------------------------------------------------- */

void fg_common_usage(FILE *f, const fg_mode_info *mi)
{
	char pop[32], lab[32];
	snprintf(pop, sizeof pop, "%s N", mi->pop_opt);
	snprintf(lab, sizeof lab, "%s F", mi->label_opt ? mi->label_opt : "");
	fprintf(f,
		"  --count N         records to write (default 1000000; with --rate default 0 = endless)\n"
		"  --rate R          live stream: about R records/s, event time = wall clock\n"
		"  --event-rate R    without --rate: R records per second of simulated event time\n"
		"                    (default %g)\n"
		"  --start-time T    without --rate: event time of the start, ISO-8601 UTC or epoch ms\n"
		"                    (default 2026-01-01T00:00:00.000Z)\n"
		"  --seed S          PRNG seed (default 1); same arguments, same bytes\n"
		"  --population-seed S  seed of the population alone (users' homes and habits,\n"
		"                    sensors): another --seed then continues the same people\n"
		"                    with new events and ids (default: --seed)\n"
		"  %-17s size of the population (default %" PRIu64 ")\n",
		mi->default_event_rate, pop, mi->default_pop);
	if (mi->label_opt)
		fprintf(f, "  %-17s fraction of records labelled, 0 to 0.5 (default %g)\n", lab,
			mi->default_label_rate);
	fprintf(f,
		"  --output O        FILE, - (stdout, default) or kafka://HOST:PORT[,HOST:PORT...]/TOPIC\n"
		"  -X KEY=VALUE      a librdkafka producer property (repeatable)\n"
		"  --help            this text\n");
}

/* flinc-gen.h */
int fg_opt_value(const char *mode, int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0) return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0') return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "flinc-gen %s: option %s needs a value\n", mode, name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

/* flinc-gen.h */
bool fg_parse_u64(const char *s, uint64_t *out)
{
	if (!*s || *s == '-' || *s == '+') return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end) return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double *out)
{
	if (!*s) return false;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || !isfinite(v)) return false;
	*out = v;
	return true;
}

void fg_opts_defaults(const fg_mode_info *mi, fg_opts *o)
{
	memset(o, 0, sizeof *o);
	o->count = 1000000;
	o->event_rate = mi->default_event_rate;
	o->seed = 1;
	o->label_rate = mi->default_label_rate;
	o->pop = mi->default_pop;
	o->output = "-";
	fg_parse_time("2026-01-01T00:00:00Z", &o->start_ms);
}

int fg_parse_opts(const fg_mode_info *mi, int argc, char **argv, fg_opts *o)
{
	const char *m = mi->name;
	fg_opts_defaults(mi, o);

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int r;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			mi->usage(stdout);
			return 1;
		}
		if ((r = fg_opt_value(m, argc, argv, &i, "--count", &v))) {
			if (r < 0) return 2;
			if (!fg_parse_u64(v, &o->count)) goto bad_int;
			o->count_set = true;
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--seed", &v))) {
			if (r < 0) return 2;
			if (!fg_parse_u64(v, &o->seed)) goto bad_int;
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--population-seed", &v))) {
			if (r < 0) return 2;
			if (!fg_parse_u64(v, &o->pop_seed)) goto bad_int;
			o->pop_seed_set = true;
		} else if ((r = fg_opt_value(m, argc, argv, &i, mi->pop_opt, &v))) {
			if (r < 0) return 2;
			if (!fg_parse_u64(v, &o->pop) || o->pop == 0 || o->pop > 100000000) {
				fprintf(stderr,
					"flinc-gen %s: %s needs an integer from 1 to 100000000, got '%s'\n",
					m, mi->pop_opt, v);
				return 2;
			}
			o->pop_set = true;
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--rate", &v))) {
			if (r < 0) return 2;
			if (!parse_double(v, &o->rate) || o->rate <= 0 || o->rate > 1e8) {
				fprintf(stderr,
					"flinc-gen %s: --rate needs a number of records/s above 0, got '%s'\n",
					m, v);
				return 2;
			}
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--event-rate", &v))) {
			if (r < 0) return 2;
			if (!parse_double(v, &o->event_rate) || o->event_rate <= 0 || o->event_rate > 1e8) {
				fprintf(stderr,
					"flinc-gen %s: --event-rate needs a number of records/s above 0, got '%s'\n",
					m, v);
				return 2;
			}
			o->event_rate_set = true;
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--start-time", &v))) {
			if (r < 0) return 2;
			if (!fg_parse_time(v, &o->start_ms)) {
				fprintf(stderr,
					"flinc-gen %s: --start-time needs YYYY-MM-DDTHH:MM:SS[.mmm]Z or epoch ms, got "
					"'%s'\n",
					m, v);
				return 2;
			}
			o->start_set = true;
		} else if (mi->label_opt && (r = fg_opt_value(m, argc, argv, &i, mi->label_opt, &v))) {
			if (r < 0) return 2;
			if (!parse_double(v, &o->label_rate) || o->label_rate < 0 || o->label_rate > 0.5) {
				fprintf(stderr, "flinc-gen %s: %s needs a fraction from 0 to 0.5, got '%s'\n",
					m, mi->label_opt, v);
				return 2;
			}
		} else if ((r = fg_opt_value(m, argc, argv, &i, "--output", &v)) ||
			   (r = fg_opt_value(m, argc, argv, &i, "-o", &v))) {
			if (r < 0) return 2;
			if (!*v) {
				fprintf(stderr,
					"flinc-gen %s: --output needs a file, - or a kafka:// address\n", m);
				return 2;
			}
			o->output = v;
		} else if ((r = fg_opt_value(m, argc, argv, &i, "-X", &v))) {
			if (r < 0) return 2;
			if (!strchr(v, '=') || *v == '=') {
				fprintf(stderr, "flinc-gen %s: -X needs KEY=VALUE, got '%s'\n", m, v);
				return 2;
			}
			if (o->nprops == FG_MAX_PROPS) {
				fprintf(stderr, "flinc-gen %s: at most %d -X properties\n", m, FG_MAX_PROPS);
				return 2;
			}
			o->props[o->nprops++] = v;
		} else {
			fprintf(stderr, "flinc-gen %s: unknown option '%s' (try flinc-gen %s --help)\n", m, a,
				m);
			return 2;
		}
		continue;
bad_int:
		fprintf(stderr, "flinc-gen %s: %s needs a non-negative integer, got '%s'\n", m, a, v);
		return 2;
	}
	if (o->rate > 0) {
		if (o->start_set || o->event_rate_set) {
			fprintf(stderr,
				"flinc-gen %s: --rate makes a live stream (event time = wall clock); drop "
				"--start-time/--event-rate\n",
				m);
			return 2;
		}
		o->event_rate = o->rate;
		o->start_ms = fg_wall_ms();
		if (!o->count_set) o->count = 0;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------------ */

enum { OUT_BUF = 1 << 20 };

struct fg_out {
	const char *mode;
	const char *name;
	bool live;
	/* capture (fg_out_capture): the record of the last step */
	bool capture;
	size_t held; /* its length + 1, 0 = none */
	int64_t pace_ms;
	/* file */
	FILE *f;
	char *buf;
	size_t used;
	/* kafka */
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	uint64_t produced, poll_ctr;
	volatile uint64_t failed;
	bool warned;
	char first_error[256];
};

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	fg_out *out = opaque;
	if (m->err) {
		if (!out->failed)
			snprintf(out->first_error, sizeof out->first_error, "%s", rd_kafka_err2str(m->err));
		out->failed++;
	}
}

/* librdkafka's own log lines are dropped; its errors are reported once, on
 * one line (the run ends with the first undelivered record's reason). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk, (void)level, (void)fac, (void)buf;
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	fg_out *out = opaque;
	if (out->warned) return;
	out->warned = true;
	fprintf(stderr, "flinc-gen %s: kafka: %s: %s (retrying until message.timeout.ms)\n", out->mode,
		rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static fg_out *kafka_open(fg_out *out, const fg_opts *o, bool *usage_error)
{
	const char *spec = o->output + 8;
	const char *slash = strchr(spec, '/');
	if (!slash || slash == spec || !slash[1] || strchr(slash + 1, '/') || strchr(slash + 1, '?')) {
		fprintf(stderr,
			"flinc-gen %s: --output kafka address must be kafka://HOST:PORT[,...]/TOPIC, got '%s'\n",
			out->mode, o->output);
		*usage_error = true;
		return NULL;
	}
	char brokers[512], errstr[512];
	size_t bl = (size_t)(slash - spec);
	if (bl >= sizeof brokers) {
		fprintf(stderr, "flinc-gen %s: broker list too long\n", out->mode);
		*usage_error = true;
		return NULL;
	}
	memcpy(brokers, spec, bl);
	brokers[bl] = 0;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* acks=all + idempotence: no loss, no duplicate on a retry; murmur2 as
	 * the Java client, so a key lands where a Java producer puts it. */
	const char *defaults[][2] = {
		{ "bootstrap.servers", brokers },
		{ "enable.idempotence", "true" },
		{ "acks", "all" },
		{ "partitioner", "murmur2_random" },
		{ "linger.ms", "20" },
		{ "batch.size", "1000000" },
		{ "queue.buffering.max.messages", "1000000" },
		{ "queue.buffering.max.kbytes", "1048576" },
		{ "compression.codec", "lz4" },
		{ "message.timeout.ms", "30000" },
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
		if (rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], errstr, sizeof errstr) !=
		    RD_KAFKA_CONF_OK) {
			fprintf(stderr, "flinc-gen %s: kafka %s: %s\n", out->mode, defaults[i][0], errstr);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	for (int i = 0; i < o->nprops; i++) {
		char k[256];
		const char *eq = strchr(o->props[i], '=');
		size_t kl = (size_t)(eq - o->props[i]);
		if (kl >= sizeof k) kl = sizeof k - 1;
		memcpy(k, o->props[i], kl);
		k[kl] = 0;
		if (rd_kafka_conf_set(conf, k, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
			fprintf(stderr, "flinc-gen %s: -X %s: %s\n", out->mode, o->props[i], errstr);
			rd_kafka_conf_destroy(conf);
			*usage_error = true;
			return NULL;
		}
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_opaque(conf, out);
	out->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
	if (!out->rk) {
		fprintf(stderr, "flinc-gen %s: kafka producer: %s\n", out->mode, errstr);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	out->rkt = rd_kafka_topic_new(out->rk, slash + 1, NULL);
	if (!out->rkt) {
		fprintf(stderr, "flinc-gen %s: kafka topic %s: %s\n", out->mode, slash + 1,
			rd_kafka_err2str(rd_kafka_last_error()));
		return NULL;
	}
	out->buf = malloc(FG_REC_MAX);
	if (!out->buf) {
		fprintf(stderr, "flinc-gen %s: out of memory\n", out->mode);
		return NULL;
	}
	return out;
}

fg_out *fg_out_open(const char *mode, const fg_opts *o, bool *usage_error)
{
	*usage_error = false;
	fg_out *out = calloc(1, sizeof *out);
	if (!out) {
		fprintf(stderr, "flinc-gen %s: out of memory\n", mode);
		return NULL;
	}
	out->mode = mode;
	out->name = o->output;
	out->live = o->rate > 0;
	if (!strncmp(o->output, "kafka://", 8)) {
		if (!kafka_open(out, o, usage_error)) goto fail;
		return out;
	}
	if (!strcmp(o->output, "-")) {
		out->f = stdout;
	} else {
		out->f = fopen(o->output, "w");
		if (!out->f) {
			fprintf(stderr, "flinc-gen %s: cannot open %s: %s\n", mode, o->output,
				strerror(errno));
			goto fail;
		}
	}
	out->buf = malloc(OUT_BUF);
	if (!out->buf) {
		fprintf(stderr, "flinc-gen %s: out of memory\n", mode);
		goto fail;
	}
	return out;
fail:
	if (out->rkt) rd_kafka_topic_destroy(out->rkt);
	if (out->rk) rd_kafka_destroy(out->rk);
	if (out->f && out->f != stdout) fclose(out->f);
	free(out->buf);
	free(out);
	return NULL;
}

static bool file_flush(fg_out *out)
{
	if (out->used && fwrite(out->buf, 1, out->used, out->f) != out->used) {
		fprintf(stderr, "flinc-gen %s: writing %s: %s\n", out->mode, out->name, strerror(errno));
		out->used = 0;
		return false;
	}
	out->used = 0;
	return true;
}

fg_out *fg_out_capture(const char *mode)
{
	fg_out *out = calloc(1, sizeof *out);
	if (!out) return NULL;
	out->mode = mode;
	out->name = "datagen";
	out->capture = true;
	out->buf = malloc(FG_REC_MAX);
	if (!out->buf) {
		free(out);
		return NULL;
	}
	return out;
}

const char *fg_out_take(fg_out *out, size_t *len, int64_t *event_ms)
{
	if (!out->held) return NULL;
	*len = out->held - 1;
	*event_ms = out->pace_ms;
	out->held = 0;
	return out->buf;
}

char *fg_out_reserve(fg_out *out)
{
	if (out->rk || out->capture) return out->buf;
	if (OUT_BUF - out->used < FG_REC_MAX + 1 && !file_flush(out)) {
		/* the failure is reported by the commit that follows */
		out->failed = 1;
	}
	return out->buf + out->used;
}

bool fg_out_commit(fg_out *out, size_t len, const char *key, size_t keylen)
{
	if (out->capture) {
		/* one record per step: a second one would overwrite the first */
		if (out->held) {
			fprintf(stderr, "flinc-gen %s: two records in one step\n", out->mode);
			return false;
		}
		out->held = len + 1;
		return true;
	}
	if (!out->rk) {
		if (out->failed) return false;
		out->buf[out->used + len] = '\n';
		out->used += len + 1;
		return true;
	}
	for (;;) {
		if (rd_kafka_produce(out->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, out->buf, len, key,
				     keylen, NULL) == 0)
			break;
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "flinc-gen %s: kafka produce: %s\n", out->mode,
				rd_kafka_err2str(err));
			return false;
		}
		rd_kafka_poll(out->rk, 10);
		if (rd_kafka_fatal_error(out->rk, NULL, 0)) break;
	}
	out->produced++;
	if ((++out->poll_ctr & 1023) == 0) rd_kafka_poll(out->rk, 0);
	char fe[256];
	if (rd_kafka_fatal_error(out->rk, fe, sizeof fe)) {
		fprintf(stderr, "flinc-gen %s: kafka fatal error: %s\n", out->mode, fe);
		return false;
	}
	if (out->failed) {
		fprintf(stderr, "flinc-gen %s: kafka delivery failed: %s\n", out->mode, out->first_error);
		return false;
	}
	return true;
}

bool fg_out_pace(fg_out *out, int64_t event_ms)
{
	if (out->capture) {
		out->pace_ms = event_ms;
		return true;
	}
	if (!out->live) return true;
	int64_t now = fg_wall_ms();
	if (event_ms <= now) return true;
	if (out->rk) {
		rd_kafka_poll(out->rk, 0);
	} else {
		if (!file_flush(out)) return false;
		if (fflush(out->f) != 0) {
			fprintf(stderr, "flinc-gen %s: writing %s: %s\n", out->mode, out->name,
				strerror(errno));
			return false;
		}
	}
	while (!fg_stop && (now = fg_wall_ms()) < event_ms) {
		int64_t d = event_ms - now;
		if (out->rk) {
			rd_kafka_poll(out->rk, (int)(d > 100 ? 100 : d));
		} else {
			if (d > 100) d = 100;
			struct timespec ts = { (time_t)(d / 1000), (long)(d % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	return true;
}

int fg_out_close(fg_out *out)
{
	if (!out) return 0;
	int rc = 0;
	if (out->capture) {
		/* nothing to flush: the caller took every record */
	} else if (out->rk) {
		rd_kafka_resp_err_t err = rd_kafka_flush(out->rk, 60000);
		if (err) {
			fprintf(stderr, "flinc-gen %s: kafka flush: %s (%d records not delivered)\n",
				out->mode, rd_kafka_err2str(err), rd_kafka_outq_len(out->rk));
			rc = 1;
		} else if (out->failed) {
			fprintf(stderr,
				"flinc-gen %s: kafka: %" PRIu64 " of %" PRIu64 " records not delivered: %s\n",
				out->mode, (uint64_t)out->failed, out->produced, out->first_error);
			rc = 1;
		}
		rd_kafka_topic_destroy(out->rkt);
		rd_kafka_destroy(out->rk);
	} else {
		if (!out->failed && !file_flush(out)) rc = 1;
		if (out->failed) rc = 1;
		if (fflush(out->f) != 0 && !rc) {
			fprintf(stderr, "flinc-gen %s: writing %s: %s\n", out->mode, out->name,
				strerror(errno));
			rc = 1;
		}
		if (out->f != stdout && fclose(out->f) != 0 && !rc) {
			fprintf(stderr, "flinc-gen %s: closing %s: %s\n", out->mode, out->name,
				strerror(errno));
			rc = 1;
		}
	}
	free(out->buf);
	free(out);
	return rc;
}

bool fg_need_users(fg_opts *o, double need, const char *unit, const char *why, char *err, size_t errcap)
{
	if (need > 1e8) need = 1e8;
	if (o->pop >= need) return false;
	if (o->pop_set) {
		snprintf(err, errcap, "--users %" PRIu64 " is too few for %g %s (%s): give --users >= %.0f",
			 o->pop, o->event_rate, unit, why, ceil(need));
		return true;
	}
	o->pop = (uint64_t)ceil(need);
	return false;
}

/* ---- running a mode ---------------------------------------------------------- */

const fg_gen_ops *fg_gen_find(const char *mode)
{
	static const fg_gen_ops *const all[] = { &fg_transactions_gen, &fg_user_events_gen, &fg_iot_gen };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (!strcmp(all[i]->info->name, mode)) return all[i];
	return NULL;
}

int fg_run_mode(const fg_gen_ops *ops, int argc, char **argv)
{
	fg_opts o;
	int rc = fg_parse_opts(ops->info, argc, argv, &o);
	if (rc) return rc == 1 ? 0 : 2;
	void *g = calloc(1, ops->size);
	if (!g) {
		fprintf(stderr, "flinc-gen %s: out of memory\n", ops->info->name);
		return 1;
	}
	bool usage_error;
	fg_out *out = fg_out_open(ops->info->name, &o, &usage_error);
	if (!out) {
		free(g);
		return usage_error ? 2 : 1;
	}
	char err[256];
	rc = ops->open(g, &o, out, err, sizeof err);
	if (rc) {
		fprintf(stderr, "flinc-gen %s: %s\n", ops->info->name, err);
		fg_out_close(out);
		free(g);
		return rc;
	}
	fg_install_signals();
	int r = 1;
	while (!fg_stop && (r = ops->step(g)) > 0) {
	}
	rc = r < 0 ? 1 : 0;
	if (fg_out_close(out)) rc = 1;
	if (getenv("FLINC_GEN_STATS")) ops->stats(g, stderr);
	ops->close(g);
	free(g);
	return rc;
}
