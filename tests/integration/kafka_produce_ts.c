/*
 * kafka_produce_ts.c - a test tool: records with the Kafka timestamps the
 * test chooses (kcat cannot set them), for tests/integration/kafka_idle.py.
 *
 *   kafka_produce_ts BOOTSTRAP TOPIC < LINES
 *
 * Each input line is "PARTITION TIMESTAMP_MS VALUE" (VALUE to the end of
 * the line, may be empty); every record is acknowledged (acks=all) before
 * the tool exits 0. Any error: one line on stderr, exit 1.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

static int failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err && failed++ == 0)
		fprintf(stderr, "kafka_produce_ts: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: kafka_produce_ts BOOTSTRAP TOPIC < 'PARTITION TS VALUE' lines\n");
		return 2;
	}
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err, sizeof err) ||
	    rd_kafka_conf_set(conf, "acks", "all", err, sizeof err) ||
	    rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err)) {
		fprintf(stderr, "kafka_produce_ts: %s\n", err);
		return 1;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "kafka_produce_ts: %s\n", err);
		return 1;
	}
	char line[65536];
	long n = 0;
	while (fgets(line, sizeof line, stdin)) {
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n') line[--len] = 0;
		char *end;
		long part = strtol(line, &end, 10);
		if (*end != ' ') goto bad;
		int64_t ts = strtoll(end + 1, &end, 10);
		if (*end != ' ' && *end != 0) goto bad;
		const char *val = *end ? end + 1 : "";
		for (;;) {
			rd_kafka_resp_err_t e = rd_kafka_producev(
				rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION((int32_t)part),
				RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_VALUE((void *)val, strlen(val)),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (!e) break;
			if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
				fprintf(stderr, "kafka_produce_ts: produce: %s\n", rd_kafka_err2str(e));
				rd_kafka_destroy(rk);
				return 1;
			}
			rd_kafka_poll(rk, 10);
		}
		n++;
		rd_kafka_poll(rk, 0);
		continue;
bad:
		fprintf(stderr, "kafka_produce_ts: line %ld: expected 'PARTITION TS VALUE'\n", n + 1);
		rd_kafka_destroy(rk);
		return 1;
	}
	rd_kafka_resp_err_t e = rd_kafka_flush(rk, 60000);
	if (e) fprintf(stderr, "kafka_produce_ts: flush: %s\n", rd_kafka_err2str(e));
	rd_kafka_destroy(rk);
	return e || failed ? 1 : 0;
}
