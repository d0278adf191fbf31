/*
 * kafka_window.c - a test job: records of a Kafka topic counted in tumbling
 * event-time windows, for the idle-partition test
 * (tests/integration/kafka_idle.py, docs/kafka.md "Time").
 *
 *   kafka_window.so --input kafka://B/T?idle=... [--size MS] [--output -|DIR|kafka://B/T]
 *
 * Event time is each record's Kafka timestamp, the watermarks the source's
 * own (per partition, with its idleness): no flinc_assign_timestamps, so
 * what fires here is what the source's watermarks let through. Output: one
 * line per window, "window START END COUNT" (END exclusive), non-keyed
 * (the window operator runs at parallelism 1).
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <stdio.h>

typedef struct wcount {
	int64_t n;
} wcount;
FLINC_STRUCT_TYPE(wcount_type, wcount, "kafka_window_count", FLINC_TYPE_POD,
		  FLINC_FIELD(wcount, n, FLINC_FIELD_I64));

typedef struct wresult {
	int64_t start, end, n;
} wresult;
FLINC_STRUCT_TYPE(wresult_type, wresult, "kafka_window_result", FLINC_TYPE_POD,
		  FLINC_FIELD(wresult, start, FLINC_FIELD_I64), FLINC_FIELD(wresult, end, FLINC_FIELD_I64),
		  FLINC_FIELD(wresult, n, FLINC_FIELD_I64));

static void count_add(void *acc, const void *in)
{
	(void)in;
	((wcount *)acc)->n++;
}

static void count_merge(void *acc, const void *other) { ((wcount *)acc)->n += ((const wcount *)other)->n; }

static void count_emit(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it)
{
	(void)it;
	wresult out = { w->start, w->end, ((const wcount *)acc)->n };
	flinc_emit(c, &out);
}

static const flinc_window_fn count_fn = {
	.version = FLINC_FN_VERSION,
	.kind = FLINC_WINDOW_AGGREGATE,
	.acc_type = &wcount_type,
	.add = count_add,
	.merge = count_merge,
	.emit = count_emit,
};

static size_t format_result(const void *rec, char *buf, size_t cap)
{
	const wresult *r = rec;
	int n = snprintf(buf, cap, "window %" PRId64 " %" PRId64 " %" PRId64, r->start, r->end, r->n);
	return n < 0 ? 0 : (size_t)n;
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", "-");
	int64_t size = flinc_arg_i64(e, "size", 10000);
	if (!input) return flinc_env_fail(e, "kafka_window: --input kafka://BROKERS/TOPIC is required");
	if (size < 1) return flinc_env_fail(e, "kafka_window: --size must be >= 1 ms");
	flinc_stream *lines = flinc_set_uid(flinc_lines_from(e, "source", input, 0), "source");
	flinc_window_spec spec = { .kind = FLINC_WINDOW_TUMBLING, .domain = FLINC_EVENT_TIME, .size = size };
	flinc_stream *counts =
		flinc_set_uid(flinc_window(lines, "window", &spec, &count_fn, NULL, &wresult_type), "window");
	return flinc_sink_to(counts, "sink", output, format_result);
}

FLINC_PLUGIN("kafka_window", "Test job: records of Kafka topics counted in tumbling event-time windows",
	     "--input kafka://B/T [--size MS] [--output -|DIR|kafka://B/T]", build);
