/*
 * txn_pipe.c - parse -> key_by -> process -> sink over the seed stream of
 * transactions (DESIGN.md "The three seed jobs"): the job of issue 16's
 * acceptance 1 (exactly-once through Kafka) and 5 (dead letters).
 *
 *   txn_pipe.so --input ADDRESS --output ADDRESS [--dead-letter ADDRESS] [--rate R]
 *
 * --rate R reads about R lines/s in total (0, the default: as fast as it can).
 *
 * parse (flat_map, chained to the source): each input line is a JSON
 *   transaction read with flinc_json_record; transactionId, userId, amount
 *   and timestamp are required; a line that is not such a record is
 *   rejected with its reason and goes to the dead letters.
 * -> key_by userId
 * -> count (keyed process, uid "count"): the user's running count in value
 *    state "n"; emits {transactionId, userId, amount, seq} with seq = the
 *    count including this transaction (so per user the output holds exactly
 *    seq 1..n once each when delivery is exactly-once).
 * -> sink to --output (JSON lines; kafka://, a folder, or "-").
 */
#include <flinc/flinc.h>

#include <string.h>

typedef struct txn {
	int64_t timestamp;
	flinc_str transaction_id, user_id;
	int64_t amount; /* cents */
	flinc_str currency, merchant_category, payment_method;
	double risk_score;
	bool is_fraud;
	flinc_str status, country;
	double lat, lon;
} txn;

/* The JSON keys, with the four fields the job cannot do without marked
 * required. The same list is the record's msgpack codec. */
FLINC_STRUCT_TYPE(txn_type, txn, "txn_pipe.txn", 0,
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
		  FLINC_FIELD_NAMED(txn, lon, FLINC_FIELD_F64, "location.lon"));

typedef struct out {
	flinc_str transaction_id, user_id;
	int64_t amount;
	int64_t seq;
} out;

FLINC_STRUCT_TYPE(out_type, out, "txn_pipe.out", 0,
		  FLINC_FIELD_NAMED(out, transaction_id, FLINC_FIELD_STR, "transactionId"),
		  FLINC_FIELD_NAMED(out, user_id, FLINC_FIELD_STR, "userId"),
		  FLINC_FIELD_NAMED(out, amount, FLINC_FIELD_DECIMAL(2), "amount"),
		  FLINC_FIELD_NAMED(out, seq, FLINC_FIELD_I64, "seq"));
FLINC_JSON_FORMAT(out_json, out_type_fields);

static void parse(flinc_ctx *c, const void *in)
{
	txn t;
	memset(&t, 0, sizeof t);
	if (flinc_json_record(c, txn_type_fields, sizeof txn_type_fields / sizeof txn_type_fields[0], in, &t))
		flinc_emit_ts(c, &t, t.timestamp);
}

static size_t user_key(const void *rec, uint8_t *buf, size_t cap)
{
	const txn *t = rec;
	if (t->user_id.len > cap) return cap + 1; /* rejected */
	memcpy(buf, t->user_id.s, t->user_id.len);
	return t->user_id.len;
}

typedef struct count_local {
	flinc_state *n;
} count_local;

static int count_open(flinc_ctx *c, void *local)
{
	count_local *l = local;
	l->n = flinc_state_value(c, "n", &flinc_type_i64);
	return l->n ? FLINC_OK : FLINC_ESTATE;
}

static void count_process(flinc_ctx *c, void *local, const void *in)
{
	count_local *l = local;
	const txn *t = in;
	bool created;
	int64_t *n = flinc_value_mut(l->n, &created);
	(*n)++;
	out o = { t->transaction_id, t->user_id, t->amount, *n };
	flinc_emit(c, &o);
}

static const flinc_process_fn count_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(count_local),
	.open = count_open,
	.process = count_process,
};

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "");
	const char *dead = flinc_arg(e, "dead-letter", NULL);
	double rate = flinc_arg_f64(e, "rate", 0);
	if (!input) return flinc_env_fail(e, "txn_pipe: --input ADDRESS is required");
	if (flinc_dead_letters_to(e, dead) != FLINC_OK) return FLINC_EGRAPH;
	flinc_stream *s = flinc_lines_from(e, "source", input, rate);
	s = flinc_set_uid(s, "source");
	s = flinc_flat_map(s, "parse", parse, NULL, &txn_type);
	s = flinc_key_by(s, user_key);
	s = flinc_set_uid(flinc_process(s, "count", &count_fn, NULL, &out_type), "count");
	return flinc_sink_to(s, "sink", output, out_json);
}

FLINC_PLUGIN("txn_pipe", "transactions: parse JSON -> key_by userId -> running count -> sink",
	     "--input ADDRESS --output ADDRESS [--dead-letter ADDRESS] [--rate R]", build);
