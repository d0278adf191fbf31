/*
 * flinc-kafka-mock - a mock Kafka cluster on 127.0.0.1 for demos and quick
 * tests: librdkafka's built-in mock cluster (rdkafka_mock.h) behind a small
 * command line.
 *
 *   flinc-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...
 *
 * Prints `bootstrap.servers=HOST:PORT,...` as its first line (flushed), so a
 * script can read the line and start producers and consumers (flinc, kcat)
 * against it over TCP; then it runs until SIGINT or SIGTERM and exits 0.
 * Usage errors print one line on stderr and exit 2; a cluster that cannot be
 * created, 1.
 *
 * The mock keeps everything in memory and accepts transactions, but does not
 * hide aborted records from read_committed consumers (librdkafka 2.0.2): the
 * exactly-once tests run against a real broker (tests/peers/kafka/).
 *
 * flinc-kafka-mock does not link the flinc runtime.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_BROKERS 32
#define MAX_PARTITIONS 10000
#define MAX_TOPICS 256

typedef struct topic_arg {
	char name[250];
	int partitions;
} topic_arg;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flinc-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n"
		"\n"
		"Starts librdkafka's mock Kafka cluster on 127.0.0.1, prints\n"
		"bootstrap.servers=HOST:PORT,... on its first line and runs until it gets\n"
		"SIGINT or SIGTERM.\n"
		"\n"
		"  --brokers N               brokers in the cluster, 1..%d (default 1)\n"
		"  --topic NAME:PARTITIONS   create a topic (repeatable; other topics are\n"
		"                            created on first use)\n"
		"  --help                    this text\n",
		MAX_BROKERS);
}

/* A decimal integer in [lo, hi], the whole string. */
static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) return -1;
	*out = (int)v;
	return 0;
}

/* NAME:PARTITIONS, NAME as Kafka allows: [A-Za-z0-9._-], 1..249 bytes. */
static int parse_topic(const char *s, topic_arg *t)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) >= sizeof t->name) return -1;
	for (const char *p = s; p < colon; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			return -1;
	memcpy(t->name, s, (size_t)(colon - s));
	t->name[colon - s] = 0;
	return parse_int(colon + 1, 1, MAX_PARTITIONS, &t->partitions);
}

int main(int argc, char **argv)
{
	int brokers = 1, ntopics = 0;
	static topic_arg topics[MAX_TOPICS];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		size_t alen = strcspn(a, "=");
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		bool is_brokers = alen == 9 && strncmp(a, "--brokers", 9) == 0;
		bool is_topic = alen == 7 && strncmp(a, "--topic", 7) == 0;
		if (!is_brokers && !is_topic) {
			fprintf(stderr, "flinc-kafka-mock: unknown option '%s' (try --help)\n", a);
			return 2;
		}
		if (a[alen] == '=') {
			val = a + alen + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "flinc-kafka-mock: %s needs a value\n", a);
			return 2;
		}
		if (is_brokers && parse_int(val, 1, MAX_BROKERS, &brokers) != 0) {
			fprintf(stderr, "flinc-kafka-mock: --brokers needs a number from 1 to %d, got '%s'\n",
				MAX_BROKERS, val);
			return 2;
		}
		if (is_topic) {
			if (ntopics == MAX_TOPICS) {
				fprintf(stderr, "flinc-kafka-mock: at most %d --topic options\n", MAX_TOPICS);
				return 2;
			}
			if (parse_topic(val, &topics[ntopics]) != 0) {
				fprintf(stderr,
					"flinc-kafka-mock: --topic needs NAME:PARTITIONS (NAME of [A-Za-z0-9._-], "
					"1..%d partitions), got '%s'\n",
					MAX_PARTITIONS, val);
				return 2;
			}
			for (int k = 0; k < ntopics; k++)
				if (strcmp(topics[k].name, topics[ntopics].name) == 0) {
					fprintf(stderr, "flinc-kafka-mock: topic '%s' given twice\n",
						topics[k].name);
					return 2;
				}
			ntopics++;
		}
	}

	/* Block the stop signals before any thread starts, so librdkafka's
	 * threads inherit the mask and sigwait below receives them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);

	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	/* The handle only owns the cluster: it never connects anywhere. */
	if (rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "flinc-kafka-mock: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "flinc-kafka-mock: cannot create the librdkafka handle: %s\n", err);
		return 1;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
	if (!mc) {
		fprintf(stderr, "flinc-kafka-mock: cannot create a mock cluster of %d brokers\n", brokers);
		rd_kafka_destroy(rk);
		return 1;
	}
	int rc = 0;
	for (int k = 0; k < ntopics; k++) {
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topics[k].name, topics[k].partitions,
								   brokers < 3 ? brokers : 3);
		if (e) {
			fprintf(stderr, "flinc-kafka-mock: cannot create topic %s: %s\n", topics[k].name,
				rd_kafka_err2str(e));
			rc = 1;
			goto out;
		}
	}
	printf("bootstrap.servers=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
	fflush(stdout);

	int sig = 0;
	while (sigwait(&stop, &sig) != 0) {
	}
	fprintf(stderr, "flinc-kafka-mock: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return rc;
}
