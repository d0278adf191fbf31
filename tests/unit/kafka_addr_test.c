/*
 * kafka_addr_test.c - the `kafka://` address parser (runtime/src/connectors/
 * kafka_addr.c, docs/kafka.md): every source and sink option with its
 * default and its bad values, the broker list and topic names at their
 * limits, duplicated and misplaced options, the transaction timeout
 * against the checkpoint settings, and hostile input (long strings, empty
 * pieces, stray separators, control bytes): each refused with one line
 * naming the problem, none crashing.
 *
 * Each parse gets its own env (an env keeps its first error only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/kafka.h"
#include "fl_base.h"
#include "graph.h"

typedef struct parsed {
	flinc_env *e;
	fl_conf *conf;
	const fl_kafka_addr *a;
} parsed;

static parsed parse_conf(const char *address, bool sink, const char *interval, const char *timeout)
{
	parsed p;
	p.conf = fl_conf_create();
	if (interval) fl_conf_set(p.conf, "execution.checkpointing.interval", interval);
	if (timeout) fl_conf_set(p.conf, "execution.checkpointing.timeout", timeout);
	p.e = fl_env_create("job", p.conf, 1);
	assert_non_null(p.e);
	p.a = fl_kafka_parse(p.e, address, sink, "sink");
	return p;
}

static parsed parse(const char *address, bool sink) { return parse_conf(address, sink, "1s", NULL); }

static void done(parsed *p)
{
	fl_env_destroy(p->e);
	fl_conf_destroy(p->conf);
}

/* Parses; returns the address (the env stays alive until done). */
static const fl_kafka_addr *ok(parsed *p, const char *address, bool sink)
{
	*p = parse(address, sink);
	if (!p->a) fail_msg("%s refused: %s", address, p->e->err);
	assert_false(p->e->failed);
	return p->a;
}

/* Refused with one line that contains `needle`. */
static void bad(const char *address, bool sink, const char *needle)
{
	parsed p = parse(address, sink);
	if (p.a) fail_msg("%s accepted", address);
	assert_true(p.e->failed);
	if (!strstr(p.e->err, needle)) fail_msg("%s: message '%s' lacks '%s'", address, p.e->err, needle);
	assert_null(strchr(p.e->err, '\n'));
	done(&p);
}

static void test_source_defaults(void **st)
{
	(void)st;
	parsed p;
	const fl_kafka_addr *a = ok(&p, "kafka://127.0.0.1:9092/lines", false);
	assert_string_equal(a->brokers, "127.0.0.1:9092");
	assert_int_equal(a->ntopics, 1);
	assert_string_equal(a->topics[0], "lines");
	assert_int_equal(a->start, FL_KAFKA_EARLIEST);
	assert_null(a->group);
	assert_false(a->json);
	assert_false(a->bounded);
	assert_int_equal(a->discovery_ms, 10000);
	assert_int_equal(a->idle_ms, 10000);
	assert_int_equal(a->out_of_orderness, 0);
	done(&p);
}

static void test_source_options(void **st)
{
	(void)st;
	parsed p;
	const fl_kafka_addr *a =
		ok(&p,
		   "kafka://a:1,b.example:65535,[::1]:9/t2,t1,t2?start=timestamp:1700000000000&group=g-1&"
		   "format=json&bounded=true&discovery=0&idle=60s&out-of-orderness=250ms",
		   false);
	assert_string_equal(a->brokers, "a:1,b.example:65535,[::1]:9");
	assert_int_equal(a->ntopics, 2); /* sorted, distinct */
	assert_string_equal(a->topics[0], "t1");
	assert_string_equal(a->topics[1], "t2");
	assert_int_equal(a->start, FL_KAFKA_TIMESTAMP);
	assert_int_equal(a->start_ts, 1700000000000LL);
	assert_string_equal(a->group, "g-1");
	assert_true(a->json);
	assert_true(a->bounded);
	assert_int_equal(a->discovery_ms, 0);
	assert_int_equal(a->idle_ms, 60000);
	assert_int_equal(a->out_of_orderness, 250);
	done(&p);

	static const struct {
		const char *q;
		fl_kafka_start start;
	} starts[] = { { "earliest", FL_KAFKA_EARLIEST },
		       { "latest", FL_KAFKA_LATEST },
		       { "timestamp:0", FL_KAFKA_TIMESTAMP } };
	for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
		char addr[128];
		snprintf(addr, sizeof addr, "kafka://h:1/t?start=%s", starts[i].q);
		a = ok(&p, addr, false);
		assert_int_equal(a->start, starts[i].start);
		done(&p);
	}
	a = ok(&p, "kafka://h:1/t?start=committed&group=g", false);
	assert_int_equal(a->start, FL_KAFKA_COMMITTED);
	done(&p);
	a = ok(&p, "kafka://h:1/t?format=raw&bounded=false&idle=0", false);
	assert_false(a->json);
	assert_false(a->bounded);
	assert_int_equal(a->idle_ms, 0);
	done(&p);
	a = ok(&p, "kafka://h:1/t?", false); /* an empty query */
	done(&p);
	a = ok(&p, "kafka://h:1/t?start=latest&", false); /* a trailing '&' */
	assert_int_equal(a->start, FL_KAFKA_LATEST);
	done(&p);
}

static void test_source_bad_values(void **st)
{
	(void)st;
	bad("kafka://h:1/t?start=first", false, "option start: 'first' is not valid");
	bad("kafka://h:1/t?start=", false, "option start");
	bad("kafka://h:1/t?start=timestamp:", false, "option start");
	bad("kafka://h:1/t?start=timestamp:-1", false, "option start");
	bad("kafka://h:1/t?start=timestamp:12x", false, "option start");
	bad("kafka://h:1/t?start=timestamp:99999999999999999999999", false, "option start");
	bad("kafka://h:1/t?start=committed", false, "start=committed needs group=G");
	bad("kafka://h:1/t?group=", false, "option group");
	bad("kafka://h:1/t?format=xml", false, "option format");
	bad("kafka://h:1/t?bounded=yes", false, "option bounded");
	bad("kafka://h:1/t?bounded=", false, "option bounded");
	bad("kafka://h:1/t?discovery=-1s", false, "option discovery");
	bad("kafka://h:1/t?discovery=soon", false, "option discovery");
	bad("kafka://h:1/t?idle=10parsecs", false, "option idle");
	bad("kafka://h:1/t?idle=", false, "option idle");
	bad("kafka://h:1/t?out-of-orderness=-5", false, "option out-of-orderness");
	bad("kafka://h:1/t?idle=99999999999999999999999s", false, "option idle");
	bad("kafka://h:1/t?start", false, "option start"); /* no '=' */
}

static void test_sink_options(void **st)
{
	(void)st;
	parsed p;
	const fl_kafka_addr *a = ok(&p, "kafka://h:1/out", true);
	assert_int_equal(a->delivery, FL_KAFKA_AT_LEAST_ONCE);
	assert_string_equal(a->commits_topic, "flinc-commits");
	assert_string_equal(a->txn_prefix, "flinc-job-sink-out");
	done(&p);
	a = ok(&p, "kafka://h:1/out?delivery=none", true);
	assert_int_equal(a->delivery, FL_KAFKA_NONE);
	done(&p);
	/* exactly-once: the timeout defaults to interval + checkpoint timeout
	 * (10 min) + 1 min, capped at the broker's 15 min */
	a = ok(&p, "kafka://h:1/out?delivery=exactly-once&transactional-id-prefix=p.x_1&commits-topic=c",
	       true);
	assert_int_equal(a->delivery, FL_KAFKA_EXACTLY_ONCE);
	assert_string_equal(a->txn_prefix, "p.x_1");
	assert_string_equal(a->commits_topic, "c");
	assert_int_equal(a->txn_timeout_ms, 1000 + 600000 + 60000);
	done(&p);
	p = parse_conf("kafka://h:1/out?delivery=exactly-once", true, "4min", NULL);
	assert_non_null(p.a);
	assert_int_equal(p.a->txn_timeout_ms, 900000);
	done(&p);
	/* 10 min + 10 min does not fit in the broker's 15 min: refused */
	p = parse_conf("kafka://h:1/out?delivery=exactly-once", true, "10min", NULL);
	assert_null(p.a);
	assert_non_null(strstr(p.e->err, "transaction-timeout 900000 ms is shorter than"));
	done(&p);
	p = parse_conf("kafka://h:1/out?delivery=exactly-once&transaction-timeout=70s", true, "500ms",
		       "1min");
	assert_non_null(p.a);
	assert_int_equal(p.a->txn_timeout_ms, 70000);
	done(&p);
	/* refused: shorter than interval + checkpoint timeout */
	p = parse_conf("kafka://h:1/out?delivery=exactly-once&transaction-timeout=60s", true, "500ms",
		       "1min");
	assert_null(p.a);
	assert_non_null(strstr(p.e->err, "transaction-timeout 60000 ms is shorter than"));
	done(&p);
	/* refused: exactly-once without checkpointing */
	p = parse_conf("kafka://h:1/out?delivery=exactly-once", true, NULL, NULL);
	assert_null(p.a);
	assert_non_null(strstr(p.e->err, "set execution.checkpointing.interval"));
	done(&p);
	/* at-least-once needs no checkpointing to build */
	p = parse_conf("kafka://h:1/out", true, NULL, NULL);
	assert_non_null(p.a);
	done(&p);
}

static void test_sink_bad_values(void **st)
{
	(void)st;
	bad("kafka://h:1/out?delivery=twice", true, "option delivery");
	bad("kafka://h:1/out?delivery=", true, "option delivery");
	bad("kafka://h:1/out?transactional-id-prefix=", true, "option transactional-id-prefix");
	bad("kafka://h:1/out?transactional-id-prefix=a/b", true, "option transactional-id-prefix");
	bad("kafka://h:1/out?commits-topic=", true, "option commits-topic");
	bad("kafka://h:1/out?commits-topic=a%20b", true, "option commits-topic");
	bad("kafka://h:1/out?transaction-timeout=999ms", true, "option transaction-timeout");
	bad("kafka://h:1/out?transaction-timeout=x", true, "option transaction-timeout");
	bad("kafka://h:1/a,b", true, "a Kafka sink writes one topic");
}

static void test_misplaced_duplicated_unknown(void **st)
{
	(void)st;
	bad("kafka://h:1/t?delivery=none", false, "unknown option 'delivery' for a Kafka source");
	bad("kafka://h:1/t?start=latest", true, "unknown option 'start' for a Kafka sink");
	bad("kafka://h:1/t?colour=red", false, "unknown option 'colour'");
	bad("kafka://h:1/t?start=latest&start=earliest", false, "option 'start' given twice");
	bad("kafka://h:1/t?idle=1s&idle=1s", false, "option 'idle' given twice");
	bad("kafka://h:1/t?delivery=none&delivery=none", true, "option 'delivery' given twice");
	bad("kafka://h:1/t?&", false, "unknown option ''");
	bad("kafka://h:1/t?start=latest&&idle=1s", false, "unknown option ''");
	bad("kafka://h:1/t?=x", false, "unknown option ''");
	bad("kafka://h:1/t?START=latest", false, "unknown option 'START'");
}

static void test_brokers_and_topics(void **st)
{
	(void)st;
	bad("file:///tmp/x", false, "not a kafka:// address");
	bad("KAFKA://h:1/t", false, "not a kafka:// address");
	bad("kafka://", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1", false, "expected kafka://HOST:PORT");
	bad("kafka:///t", false, "expected kafka://HOST:PORT");
	bad("kafka://h/t", false, "expected kafka://HOST:PORT");
	bad("kafka://:1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:0/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:65536/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:99999999999999999999999/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:-1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1x/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1,/t", false, "expected kafka://HOST:PORT");
	bad("kafka://,h:1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1,,g:2/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h st:1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h\t:1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h\x01:1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1?x=1/t", false, "expected kafka://HOST:PORT");
	bad("kafka://h:1/", false, "'' is not a topic name");
	bad("kafka://h:1/?start=latest", false, "'' is not a topic name");
	bad("kafka://h:1/a,", false, "'' is not a topic name");
	bad("kafka://h:1/,a", false, "'' is not a topic name");
	bad("kafka://h:1/a,,b", false, "'' is not a topic name");
	bad("kafka://h:1/a b", false, "'a b' is not a topic name");
	bad("kafka://h:1/a/b", false, "'a/b' is not a topic name");
	bad("kafka://h:1/\xc3\xa9t\xc3\xa9", false, "is not a topic name");

	parsed p;
	const fl_kafka_addr *a = ok(&p, "kafka://h:1/a,a,a", false); /* duplicates collapse */
	assert_int_equal(a->ntopics, 1);
	done(&p);
}

static void test_long_strings(void **st)
{
	(void)st;
	/* topic names: 249 bytes allowed, 250 refused */
	static char addr[200000];
	char t[300];
	memset(t, 'x', 249);
	t[249] = 0;
	snprintf(addr, sizeof addr, "kafka://h:1/%s", t);
	parsed p;
	const fl_kafka_addr *a = ok(&p, addr, false);
	assert_int_equal(strlen(a->topics[0]), 249);
	done(&p);
	/* a sink topic of 249 bytes: the derived prefix is cut, still valid */
	a = ok(&p, addr, true);
	assert_true(strlen(a->txn_prefix) < 512);
	done(&p);
	strcat(addr, "x");
	bad(addr, false, "is not a topic name");

	/* a 60000-byte value, a 60000-byte option name, 60000 brokers bytes,
	 * 20000 topics */
	char *big = malloc(60001);
	memset(big, 'g', 60000);
	big[60000] = 0;
	snprintf(addr, sizeof addr, "kafka://h:1/t?group=%s", big);
	a = ok(&p, addr, false);
	assert_int_equal(strlen(a->group), 60000);
	done(&p);
	snprintf(addr, sizeof addr, "kafka://h:1/t?%s=1", big);
	bad(addr, false, "unknown option");
	snprintf(addr, sizeof addr, "kafka://h:1/t?start=%s", big);
	bad(addr, false, "option start");
	snprintf(addr, sizeof addr, "kafka://h:1/t?transactional-id-prefix=%s", big);
	bad(addr, true, "option transactional-id-prefix");
	snprintf(addr, sizeof addr, "kafka://%s:1/t", big);
	a = ok(&p, addr, false);
	done(&p);
	snprintf(addr, sizeof addr, "kafka://h:%s/t", big);
	bad(addr, false, "expected kafka://HOST:PORT");
	size_t n = strlen(strcpy(addr, "kafka://h:1/"));
	for (int i = 0; i < 20000; i++) n += (size_t)sprintf(addr + n, "%s%d", i ? "," : "", i % 3000);
	a = ok(&p, addr, false);
	assert_int_equal(a->ntopics, 3000);
	done(&p);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_defaults),
		cmocka_unit_test(test_source_options),
		cmocka_unit_test(test_source_bad_values),
		cmocka_unit_test(test_sink_options),
		cmocka_unit_test(test_sink_bad_values),
		cmocka_unit_test(test_misplaced_duplicated_unknown),
		cmocka_unit_test(test_brokers_and_topics),
		cmocka_unit_test(test_long_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
