/*
 * kafka_addr.c - the `kafka://` address of the shipped jobs' --input and
 * --output, and the librdkafka configuration built from it (kafka.h,
 * docs/kafka.md).
 *
 * Options (query string, `&`-separated, each at most once):
 *   source: start=earliest|latest|committed|timestamp:MS (default earliest),
 *           group=G, format=raw|json, bounded=true|false,
 *           discovery=DURATION (10s; 0 off), idle=DURATION (idleness of a
 *           partition, 10s; 0 never), out-of-orderness=DURATION (0)
 *   sink:   delivery=none|at-least-once|exactly-once (at-least-once),
 *           transactional-id-prefix=P, commits-topic=T (flinc-commits),
 *           transaction-timeout=DURATION
 * A source option in a sink address (or the other way round), an unknown
 * option or a malformed value is a build error naming it.
 */
#include "kafka.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "op.h"
#include "task.h"

#define KAFKA_DEFAULT_DISCOVERY_MS 10000
#define KAFKA_DEFAULT_IDLE_MS 10000
/* The broker's default transaction.max.timeout.ms (15 min): a longer
 * transaction.timeout.ms is refused by the broker at init_transactions. */
#define KAFKA_BROKER_TXN_MAX_MS 900000

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A topic name as Kafka allows it: [A-Za-z0-9._-], 1..249 bytes. */
static bool topic_ok(const char *s, size_t n)
{
	if (n == 0 || n > 249) return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* host:port[,host:port...] with a non-empty host of visible ASCII bytes
 * and a port in 1..65535. */
static bool brokers_ok(const char *s, size_t n)
{
	size_t i = 0;
	if (n == 0) return false;
	while (i < n) {
		size_t j = i;
		while (j < n && s[j] != ',') j++;
		const char *colon = memrchr(s + i, ':', j - i);
		if (!colon || colon == s + i || colon + 1 == s + j) return false;
		for (const char *p = s + i; p < colon; p++)
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) return false;
		long port = 0;
		for (const char *p = colon + 1; p < s + j; p++) {
			if (*p < '0' || *p > '9') return false;
			port = port * 10 + (*p - '0');
			if (port > 65535) return false;
		}
		if (port == 0) return false;
		i = j + 1;
		if (j < n && i == n) return false; /* a trailing comma */
	}
	return true;
}

static bool parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0) {
		*out = true;
		return true;
	}
	if (strcmp(v, "false") == 0) {
		*out = false;
		return true;
	}
	return false;
}

static bool parse_i64(const char *v, int64_t *out)
{
	char *end;
	if (*v < '0' || *v > '9') return false;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (*end || x < 0 || errno == ERANGE) return false;
	*out = x;
	return true;
}

/* The address as messages show it: at most SHOWN bytes, then "...", so a
 * hostile address still gives a message whose reason is readable. Pieces
 * of it (topics, option names and values) are cut at PIECE bytes. */
#define SHOWN 160
#define PIECE 64

static const char *shown(flinc_env *e, const char *address)
{
	size_t n = strlen(address);
	if (n <= SHOWN) return address;
	char *s = flinc_env_alloc(e, SHOWN + 4);
	memcpy(s, address, SHOWN);
	memcpy(s + SHOWN, "...", 4);
	return s;
}

const fl_kafka_addr *fl_kafka_parse(flinc_env *e, const char *address_in, bool sink, const char *what)
{
	const char *io = sink ? "output" : "input";
	const char *address = shown(e, address_in);
	if (strncmp(address_in, "kafka://", 8) != 0) {
		flinc_env_fail(e, "%s %s: not a kafka:// address", io, address);
		return NULL;
	}
	fl_kafka_addr *a = flinc_env_alloc(e, sizeof *a);
	char *copy = fl_pool_strdup(e->pool, address_in + 8);
	a->address = fl_pool_strdup(e->pool, address);
	a->start = FL_KAFKA_EARLIEST;
	a->discovery_ms = KAFKA_DEFAULT_DISCOVERY_MS;
	a->idle_ms = KAFKA_DEFAULT_IDLE_MS;
	a->delivery = FL_KAFKA_AT_LEAST_ONCE;
	a->commits_topic = "flinc-commits";

	char *query = strchr(copy, '?');
	if (query) *query++ = 0;
	char *slash = strchr(copy, '/');
	if (!slash || !brokers_ok(copy, (size_t)(slash - copy))) {
		flinc_env_fail(e, "%s %s: expected kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...]", io,
			       address);
		return NULL;
	}
	*slash = 0;
	a->brokers = copy;
	char *topics = slash + 1;
	size_t n = 1;
	for (char *p = topics; *p; p++) n += *p == ',';
	a->topics = flinc_env_alloc(e, n * sizeof *a->topics);
	for (char *tok = topics;;) {
		char *comma = strchr(tok, ',');
		size_t len = comma ? (size_t)(comma - tok) : strlen(tok);
		if (!topic_ok(tok, len)) {
			flinc_env_fail(
				e,
				"%s %s: '%.*s%s' is not a topic name ([A-Za-z0-9._-], 1 to 249 characters)",
				io, address, (int)(len < PIECE ? len : PIECE), tok, len > PIECE ? "..." : "");
			return NULL;
		}
		tok[len] = 0;
		a->topics[a->ntopics++] = tok;
		if (!comma) break;
		tok = comma + 1;
	}
	qsort(a->topics, a->ntopics, sizeof *a->topics, cmp_str);
	size_t k = 0;
	for (size_t i = 0; i < a->ntopics; i++)
		if (k == 0 || strcmp(a->topics[k - 1], a->topics[i]) != 0) a->topics[k++] = a->topics[i];
	a->ntopics = k;
	if (sink && a->ntopics != 1) {
		flinc_env_fail(e, "output %s: a Kafka sink writes one topic", address);
		return NULL;
	}

	bool txn_timeout_set = false;
	uint32_t seen = 0;
	for (char *opt = query; opt && *opt;) {
		char *amp = strchr(opt, '&');
		if (amp) *amp = 0;
		char *eq = strchr(opt, '=');
		const char *key = opt, *val = eq ? eq + 1 : "";
		if (eq) *eq = 0;
		static const char *const src_keys[] = { "start",     "group", "format",          "bounded",
							"discovery", "idle",  "out-of-orderness" };
		static const char *const sink_keys[] = { "delivery", "transactional-id-prefix",
							 "commits-topic", "transaction-timeout" };
		const char *const *keys = sink ? sink_keys : src_keys;
		size_t nkeys = sink ? 4 : 7, idx = nkeys;
		for (size_t i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i]) == 0) idx = i;
		if (idx == nkeys) {
			flinc_env_fail(e, "%s %s: unknown option '%.64s' for a Kafka %s (docs/kafka.md)", io,
				       address, key, sink ? "sink" : "source");
			return NULL;
		}
		if (seen & (1u << idx)) {
			flinc_env_fail(e, "%s %s: option '%s' given twice", io, address, key);
			return NULL;
		}
		seen |= 1u << idx;
		bool ok = true;
		int64_t ms = 0;
		if (!sink) {
			switch (idx) {
			case 0:
				if (strcmp(val, "earliest") == 0)
					a->start = FL_KAFKA_EARLIEST;
				else if (strcmp(val, "latest") == 0)
					a->start = FL_KAFKA_LATEST;
				else if (strcmp(val, "committed") == 0)
					a->start = FL_KAFKA_COMMITTED;
				else if (strncmp(val, "timestamp:", 10) == 0 &&
					 parse_i64(val + 10, &a->start_ts))
					a->start = FL_KAFKA_TIMESTAMP;
				else
					ok = false;
				break;
			case 1: ok = *val != 0, a->group = val; break;
			case 2:
				ok = strcmp(val, "raw") == 0 || strcmp(val, "json") == 0;
				a->json = strcmp(val, "json") == 0;
				break;
			case 3: ok = parse_bool(val, &a->bounded); break;
			default:
				ok = fl_parse_duration_ms(val, &ms) == 0 && ms >= 0;
				if (idx == 4) a->discovery_ms = ms;
				if (idx == 5) a->idle_ms = ms;
				if (idx == 6) a->out_of_orderness = ms;
				break;
			}
		} else {
			switch (idx) {
			case 0:
				if (strcmp(val, "none") == 0)
					a->delivery = FL_KAFKA_NONE;
				else if (strcmp(val, "at-least-once") == 0)
					a->delivery = FL_KAFKA_AT_LEAST_ONCE;
				else if (strcmp(val, "exactly-once") == 0)
					a->delivery = FL_KAFKA_EXACTLY_ONCE;
				else
					ok = false;
				break;
			case 1: ok = topic_ok(val, strlen(val)), a->txn_prefix = val; break;
			case 2: ok = topic_ok(val, strlen(val)), a->commits_topic = val; break;
			default:
				ok = fl_parse_duration_ms(val, &a->txn_timeout_ms) == 0 &&
					a->txn_timeout_ms >= 1000;
				txn_timeout_set = true;
				break;
			}
		}
		if (!ok) {
			flinc_env_fail(e, "%s %s: option %s: '%.64s%s' is not valid (docs/kafka.md)", io,
				       address, key, val, strlen(val) > PIECE ? "..." : "");
			return NULL;
		}
		opt = amp ? amp + 1 : NULL;
	}
	if (!sink && a->start == FL_KAFKA_COMMITTED && !a->group) {
		flinc_env_fail(e, "input %s: start=committed needs group=G", address);
		return NULL;
	}
	if (!sink) return a;

	if (!a->txn_prefix) {
		/* Stable across restarts and savepoint restores of this job, and
		 * apart from other jobs and sinks: job, sink and topic. */
		char buf[512];
		snprintf(buf, sizeof buf, "flinc-%s-%s-%s", e->job_name, what, a->topics[0]);
		for (char *p = buf; *p; p++)
			if (!topic_ok(p, 1)) *p = '_';
		a->txn_prefix = fl_pool_strdup(e->pool, buf);
	}
	if (a->delivery == FL_KAFKA_EXACTLY_ONCE) {
		const fl_conf *conf = e->conf;
		bool ok1 = true, ok2 = true;
		int64_t interval =
			conf ? fl_conf_duration_ms(conf, "execution.checkpointing.interval", 0, &ok1) : 0;
		int64_t cto = conf
			? fl_conf_duration_ms(conf, "execution.checkpointing.timeout", 600000, &ok2)
			: 600000;
		if (!ok1 || !ok2) return a; /* the checkpoint settings report their own error */
		if (interval <= 0) {
			flinc_env_fail(
				e,
				"output %s: delivery=exactly-once commits a transaction per checkpoint: set "
				"execution.checkpointing.interval (and state.checkpoints.dir)",
				address);
			return NULL;
		}
		/* A transaction is open from the commit of checkpoint n-1 until
		 * checkpoint n completed: an interval and a checkpoint. */
		int64_t need = interval + cto;
		if (!txn_timeout_set)
			a->txn_timeout_ms = need + 60000 < KAFKA_BROKER_TXN_MAX_MS ? need + 60000
										   : KAFKA_BROKER_TXN_MAX_MS;
		if (a->txn_timeout_ms < need) {
			flinc_env_fail(
				e,
				"output %s: transaction-timeout %lld ms is shorter than "
				"execution.checkpointing.interval + execution.checkpointing.timeout = %lld ms, "
				"so the broker could abort a transaction before its checkpoint completes: raise "
				"transaction-timeout (the broker allows up to transaction.max.timeout.ms, 15 min "
				"by default) or lower the checkpoint timeout",
				address, (long long)a->txn_timeout_ms, (long long)need);
			return NULL;
		}
	}
	return a;
}

int fl_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errcap)
{
	char e2[256];
	if (rd_kafka_conf_set(conf, key, val, e2, sizeof e2) == RD_KAFKA_CONF_OK) return FLINC_OK;
	snprintf(err, errcap, "kafka property %s=%s: %s", key, val, e2);
	return FLINC_ECONFIG;
}

rd_kafka_conf_t *fl_kafka_conf(const flinc_ctx *c, const fl_kafka_addr *a, char *err, size_t errcap)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const fl_conf *jc = c->op->task->conf;
	if (fl_kafka_set(conf, "bootstrap.servers", a->brokers, err, errcap) ||
	    fl_kafka_set(conf, "log_level", "4", err, errcap) ||
	    fl_kafka_set(conf, "client.id", "flinc", err, errcap))
		goto fail;
	for (size_t i = 0, n = jc ? fl_conf_count(jc) : 0; i < n; i++) {
		const char *k, *v;
		fl_conf_at(jc, i, &k, &v);
		if (strncmp(k, "kafka.", 6) == 0 && fl_kafka_set(conf, k + 6, v, err, errcap)) goto fail;
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}
