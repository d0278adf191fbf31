/* json_bench.h - the record json_bench.c parses with each library. */
#ifndef JSON_BENCH_H
#define JSON_BENCH_H

#include <flinc/flinc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct txn {
	int64_t timestamp; /* epoch ms */
	flinc_str transaction_id, user_id;
	int64_t amount; /* cents: DECIMAL(2) */
	flinc_str currency, merchant_category, payment_method;
	double risk_score;
	bool is_fraud;
	flinc_str status, country;
	double lat, lon;
} txn;

/* ISO-8601 to epoch ms, shared by the jansson and simdjson paths (the
 * flinc parser has its own). */
int bench_iso8601(const char *s, size_t n, int64_t *out);

/* simdjson On-Demand over one line; buf has at least 64 readable bytes
 * past len (simdjson's padding). 0 on success. */
int bench_simdjson_parse(const char *buf, size_t len, txn *t);

#ifdef __cplusplus
}
#endif
#endif
