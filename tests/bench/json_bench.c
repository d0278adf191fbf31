/*
 * json_bench - transaction JSON lines (the seed stream's shape, DESIGN.md
 * "The three seed jobs") parsed into a struct by: flinc_json_parse (the
 * runtime's single-pass parser), jansson (json_loadb, a tree per record)
 * and, when built with it, simdjson's On-Demand API (through a C++ shim,
 * each line copied into a padded buffer as a Kafka payload would have to
 * be, and also in place). Prints MB/s and records/s per parser, the best
 * of 3 runs. docs/BENCHMARKS.md has the figures.
 *
 *   build/bench/json_bench [RECORDS [PARSER]]   (PARSER: a prefix of its name, e.g. flinc)
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_bench.h"

static const flinc_field txn_fields[] = {
	FLINC_FIELD_NAMED(txn, timestamp, FLINC_REQUIRED(FLINC_FIELD_TIMESTAMP_MS), "timestamp"),
	FLINC_FIELD_NAMED(txn, transaction_id, FLINC_REQUIRED(FLINC_FIELD_STR), "transactionId"),
	FLINC_FIELD_NAMED(txn, user_id, FLINC_REQUIRED(FLINC_FIELD_STR), "userId"),
	FLINC_FIELD_NAMED(txn, amount, FLINC_REQUIRED(FLINC_FIELD_DECIMAL(2)), "amount"),
	FLINC_FIELD_NAMED(txn, currency, FLINC_FIELD_STR, "currency"),
	FLINC_FIELD_NAMED(txn, merchant_category, FLINC_FIELD_STR, "merchantCategory"),
	FLINC_FIELD_NAMED(txn, payment_method, FLINC_FIELD_STR, "paymentMethod"),
	FLINC_FIELD_NAMED(txn, risk_score, FLINC_FIELD_F64, "riskScore"),
	FLINC_FIELD_NAMED(txn, is_fraud, FLINC_FIELD_BOOL, "isFraud"),
	FLINC_FIELD_NAMED(txn, status, FLINC_FIELD_STR, "status"),
	FLINC_FIELD_NAMED(txn, country, FLINC_FIELD_STR, "country"),
	FLINC_FIELD_NAMED(txn, lat, FLINC_FIELD_F64, "location.lat"),
	FLINC_FIELD_NAMED(txn, lon, FLINC_FIELD_F64, "location.lon"),
};
#define NFIELDS (sizeof txn_fields / sizeof txn_fields[0])

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int dig(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* "YYYY-MM-DDThh:mm:ss[.sss]Z" only, without sscanf: enough for the bench,
 * and as cheap as the flinc parser's own. */
int bench_iso8601(const char *s, size_t n, int64_t *out)
{
	if (n < 20) return -1;
	int y = dig(s, 4), mo = dig(s + 5, 2), d = dig(s + 8, 2), h = dig(s + 11, 2), mi = dig(s + 14, 2),
	    sec = dig(s + 17, 2), ms = 0;
	if (y < 0 || mo < 1 || d < 1 || h < 0 || mi < 0 || sec < 0) return -1;
	if (s[19] == '.' && n >= 24) ms = dig(s + 20, 3);
	*out = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec) * 1000) +
		ms;
	return 0;
}

static const char *cats[] = { "electronics", "grocery", "travel", "restaurants", "fuel", "clothing" };
static const char *pays[] = { "credit_card", "debit_card", "paypal", "apple_pay" };
static const char *stats[] = { "completed", "approved", "failed", "declined" };
static const char *ctry[] = { "US", "GB", "DE", "FR", "NG", "RU", "CN", "BR" };

/* N lines into one buffer (with padding after), offsets in *off. */
static char *make_lines(size_t n, size_t **off, size_t *total)
{
	size_t cap = n * 400 + 64;
	char *buf = malloc(cap);
	*off = malloc((n + 1) * sizeof(size_t));
	size_t pos = 0;
	uint64_t r = 88172645463325252ull;
	for (size_t i = 0; i < n; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		(*off)[i] = pos;
		int sec = (int)(i % 86400);
		pos += (size_t)snprintf(
			buf + pos, cap - pos,
			"{\"timestamp\":\"2024-10-03T%02d:%02d:%02dZ\",\"transactionId\":\"%08llx-%04x-4%03x-a%03x-%012llx\","
			"\"userId\":\"user%llu\",\"amount\":%llu.%02llu,\"currency\":\"USD\",\"merchantCategory\":\"%s\","
			"\"paymentMethod\":\"%s\",\"riskScore\":0.%03llu,\"isFraud\":%s,\"status\":\"%s\",\"country\":\"%s\","
			"\"location\":{\"lat\":%d.%04llu,\"lon\":-%d.%04llu}}",
			sec / 3600, sec / 60 % 60, sec % 60, (unsigned long long)(r >> 32),
			(unsigned)(r & 0xffff), (unsigned)(r >> 16 & 0xfff), (unsigned)(r >> 28 & 0xfff),
			(unsigned long long)(r & 0xffffffffffffull), (unsigned long long)(r % 5000),
			(unsigned long long)(r >> 8) % 2000, (unsigned long long)(r >> 20) % 100, cats[r % 6],
			pays[(r >> 3) % 4], (unsigned long long)(r >> 24) % 1000,
			r % 50 == 0 ? "true" : "false", stats[(r >> 5) % 4], ctry[(r >> 9) % 8],
			(int)(r % 80), (unsigned long long)(r >> 12) % 10000, (int)(r >> 40) % 170,
			(unsigned long long)(r >> 14) % 10000);
		buf[pos++] = '\n';
	}
	(*off)[n] = pos;
	memset(buf + pos, 0, 64);
	*total = pos;
	return buf;
}

typedef int (*parse_fn)(const char *s, size_t len, txn *t, void *scratch);

static int p_flinc(const char *s, size_t len, txn *t, void *scratch)
{
	char why[128];
	memset(t, 0, sizeof *t);
	return flinc_json_parse(txn_fields, NFIELDS, s, len, t, scratch, why, sizeof why);
}

static int jstr(json_t *o, const char *k, flinc_str *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_string(v)) return -1;
	out->s = json_string_value(v);
	out->len = (uint32_t)json_string_length(v);
	return 0;
}

static int p_jansson(const char *s, size_t len, txn *t, void *scratch)
{
	(void)scratch;
	/* The previous record's tree lives until now: its strings were read. */
	static json_t *prev;
	json_decref(prev);
	prev = NULL;
	json_error_t e;
	json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &e);
	if (!o) return -1;
	int rc = -1;
	json_t *ts = json_object_get(o, "timestamp"), *a = json_object_get(o, "amount"),
	       *loc = json_object_get(o, "location");
	if (!json_is_string(ts) ||
	    bench_iso8601(json_string_value(ts), json_string_length(ts), &t->timestamp))
		goto out;
	if (jstr(o, "transactionId", &t->transaction_id) || jstr(o, "userId", &t->user_id)) goto out;
	if (!json_is_number(a)) goto out;
	double amount = json_number_value(a);
	t->amount = (int64_t)(amount * 100 + (amount >= 0 ? 0.5 : -0.5));
	if (jstr(o, "currency", &t->currency) || jstr(o, "merchantCategory", &t->merchant_category) ||
	    jstr(o, "paymentMethod", &t->payment_method) || jstr(o, "status", &t->status) ||
	    jstr(o, "country", &t->country))
		goto out;
	t->risk_score = json_number_value(json_object_get(o, "riskScore"));
	t->is_fraud = json_is_true(json_object_get(o, "isFraud"));
	if (!json_is_object(loc)) goto out;
	t->lat = json_number_value(json_object_get(loc, "lat"));
	t->lon = json_number_value(json_object_get(loc, "lon"));
	rc = 0;
out:
	prev = o; /* strings die with the tree, at the next call */
	return rc;
}

#ifdef HAVE_SIMDJSON
static int p_simd_copy(const char *s, size_t len, txn *t, void *scratch)
{
	/* a Kafka payload has no padding after it: copy into a padded buffer */
	char *pad = scratch;
	if (len > 1 << 20) return -1;
	memcpy(pad, s, len);
	memset(pad + len, 0, 64);
	return bench_simdjson_parse(pad, len, t);
}
static int p_simd_inplace(const char *s, size_t len, txn *t, void *scratch)
{
	(void)scratch;
	return bench_simdjson_parse(s, len, t); /* the next lines are the padding */
}
#endif

/* Parse every line reps times; returns the best seconds, checksum in *sum. */
static double run(parse_fn fn, void *scratch, const char *buf, const size_t *off, size_t n, double *sum,
		  flinc_arena *arena)
{
	double best = 1e30;
	for (int rep = 0; rep < 3; rep++) {
		double s = 0, t0 = now_s();
		for (size_t i = 0; i < n; i++) {
			txn t;
			size_t len = off[i + 1] - off[i] - 1;
			if (fn(buf + off[i], len, &t, scratch) != 0) {
				fprintf(stderr, "json_bench: line %zu refused\n", i);
				exit(1);
			}
			s += (double)t.amount + t.lat + t.lon + t.risk_score +
				(double)(t.timestamp % 100000000) + t.user_id.len + t.transaction_id.len +
				t.currency.len + t.merchant_category.len + t.payment_method.len +
				t.status.len + t.country.len + (t.is_fraud ? 1 : 0) +
				(unsigned char)t.status.s[0] + (unsigned char)t.user_id.s[t.user_id.len - 1];
			(void)arena;
		}
		double dt = now_s() - t0;
		if (dt < best) best = dt;
		*sum = s;
	}
	return best;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 500000;
	size_t *off, total;
	char *buf = make_lines(n, &off, &total);
	printf("json_bench: %zu transaction lines, %.1f MB, %.0f bytes per line\n", n, (double)total / 1e6,
	       (double)total / (double)n);
	printf("line 0: %.*s\n", (int)(off[1] - 1), buf);
	struct {
		const char *name;
		parse_fn fn;
	} p[] = {
		{ "flinc_json_parse", p_flinc },
		{ "jansson json_loadb", p_jansson },
#ifdef HAVE_SIMDJSON
		{ "simdjson ondemand (copy+pad)", p_simd_copy },
		{ "simdjson ondemand (in place)", p_simd_inplace },
#endif
	};
	void *scratch = malloc((1 << 20) + 64);
	double first = 0;
	bool have_first = false;
	for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
		if (argc > 2 && strncmp(p[i].name, argv[2], strlen(argv[2])) != 0) continue;
		double sum;
		double dt = run(p[i].fn, scratch, buf, off, n, &sum, NULL);
		if (have_first && sum != first) {
			fprintf(stderr, "json_bench: %s read other values (checksum %.1f, not %.1f)\n",
				p[i].name, sum, first);
			return 1;
		}
		first = sum;
		have_first = true;
		printf("%-30s %8.1f MB/s %10.0f records/s  (checksum %.1f)\n", p[i].name,
		       (double)total / dt / 1e6, (double)n / dt, sum);
	}
	free(scratch);
	free(buf);
	free(off);
	return 0;
}
