/*
 * kafka.h - what the Kafka source (kafka_source.c) and sink (kafka_sink.c)
 * share: the parsed `kafka://` address and the librdkafka configuration
 * both build from it. Internal to libflinc; see docs/kafka.md.
 *
 *   kafka://HOST:PORT[,HOST:PORT...]/TOPIC[,TOPIC...][?OPTION=VALUE&...]
 *
 * Build time (fl_kafka_parse) runs on the plugin's build thread; the
 * address lives in the env's pool, so it is valid as long as the graph.
 */
#ifndef FL_KAFKA_H
#define FL_KAFKA_H

#include <flinc/flinc.h>

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum fl_kafka_start {
	FL_KAFKA_EARLIEST,
	FL_KAFKA_LATEST,
	FL_KAFKA_COMMITTED,
	FL_KAFKA_TIMESTAMP,
} fl_kafka_start;

typedef enum fl_kafka_delivery {
	FL_KAFKA_NONE,
	FL_KAFKA_AT_LEAST_ONCE,
	FL_KAFKA_EXACTLY_ONCE,
} fl_kafka_delivery;

typedef struct fl_kafka_addr {
	const char *address; /* as given, for messages */
	const char *brokers; /* "host:port,..." */
	const char **topics; /* sorted, distinct */
	size_t ntopics;
	/* source */
	fl_kafka_start start;
	int64_t start_ts;  /* FL_KAFKA_TIMESTAMP: ms since the epoch */
	const char *group; /* NULL: none given (offsets not committed) */
	bool json;         /* format=json: values are JSON documents (handed on as lines) */
	bool bounded;
	int64_t discovery_ms;     /* partition discovery interval, 0: off */
	int64_t idle_ms;          /* a partition silent this long is idle, 0: never */
	int64_t out_of_orderness; /* watermark = max timestamp - this - 1 */
	/* sink */
	fl_kafka_delivery delivery;
	const char *txn_prefix;    /* transactional.id = prefix + "-" + subtask */
	const char *commits_topic; /* exactly-once commit markers */
	int64_t txn_timeout_ms;
} fl_kafka_addr;

/* Parse `address` for a source (sink false) or a sink. On error record one
 * line in the env (flinc_env_fail) and return NULL. `what` names the
 * operator in messages. */
const fl_kafka_addr *fl_kafka_parse(flinc_env *e, const char *address, bool sink, const char *what);

/* A librdkafka configuration with bootstrap.servers, quiet logging, and
 * every `kafka.<property>` of the job's configuration (-D) applied. NULL
 * with a message in err on a property librdkafka refuses. Any thread. */
rd_kafka_conf_t *fl_kafka_conf(const flinc_ctx *c, const fl_kafka_addr *a, char *err, size_t errcap);
/* rd_kafka_conf_set with the property named in err on failure. */
int fl_kafka_set(rd_kafka_conf_t *conf, const char *key, const char *val, char *err, size_t errcap);

/* Builders (from flinc_lines_from and flinc_sink_to). */
flinc_stream *fl_kafka_lines_from(flinc_env *e, const char *name, const char *address, double rate);
int fl_kafka_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address,
		     flinc_format_fn fmt);

#endif
