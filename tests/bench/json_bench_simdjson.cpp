// json_bench_simdjson.cpp - the simdjson On-Demand side of json_bench: the
// shim a C program would call, extracting the transaction's fields.
#include <simdjson.h>

#include "json_bench.h"

using namespace simdjson;

static thread_local ondemand::parser parser;

static int str(ondemand::object &o, const char *k, flinc_str *out)
{
	std::string_view v;
	if (o[k].get_string().get(v)) return -1;
	out->s = v.data(); // points into the parser's string buffer
	out->len = (uint32_t)v.size();
	return 0;
}

extern "C" int bench_simdjson_parse(const char *buf, size_t len, txn *t)
{
	ondemand::document doc;
	if (parser.iterate(buf, len, len + SIMDJSON_PADDING).get(doc)) return -1;
	ondemand::object o;
	if (doc.get_object().get(o)) return -1;
	std::string_view ts;
	if (o["timestamp"].get_string().get(ts) || bench_iso8601(ts.data(), ts.size(), &t->timestamp)) return -1;
	if (str(o, "transactionId", &t->transaction_id) || str(o, "userId", &t->user_id)) return -1;
	double amount;
	if (o["amount"].get_double().get(amount)) return -1;
	t->amount = (int64_t)(amount * 100 + (amount >= 0 ? 0.5 : -0.5));
	if (str(o, "currency", &t->currency) || str(o, "merchantCategory", &t->merchant_category) ||
	    str(o, "paymentMethod", &t->payment_method))
		return -1;
	if (o["riskScore"].get_double().get(t->risk_score)) return -1;
	if (o["isFraud"].get_bool().get(t->is_fraud)) return -1;
	if (str(o, "status", &t->status) || str(o, "country", &t->country)) return -1;
	ondemand::object loc;
	if (o["location"].get_object().get(loc)) return -1;
	if (loc["lat"].get_double().get(t->lat) || loc["lon"].get_double().get(t->lon)) return -1;
	return 0;
}
