/*
 * passthrough.c - text lines from an --input address to an --output address
 * unchanged, for the Kafka connector benchmarks
 * (tests/bench/kafka_source_bench.py, docs/BENCHMARKS.md).
 *
 *   passthrough.so --input FILE|kafka://B/T [--output DIR|-|kafka://B/T]
 *
 * source -> sink, nothing between (the sink is chained to the source): with
 * no --output the records are discarded and only counted, so the run
 * measures the source alone; with a file input and a kafka:// output it
 * measures the sink.
 */
#include <flinc/flinc.h>

#include <string.h>

static size_t format_line(const void *rec, char *buf, size_t cap)
{
	const flinc_line *l = rec;
	size_t n = l->len < cap ? l->len : cap;
	memcpy(buf, l->s, n);
	return l->len; /* larger than cap: the sink asks again with more room */
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const char *input = flinc_arg(e, "input", NULL);
	const char *output = flinc_arg(e, "output", NULL);
	if (!input)
		return flinc_env_fail(e, "passthrough: --input FILE or kafka://BROKERS/TOPIC is required");
	flinc_stream *lines = flinc_set_uid(flinc_lines_from(e, "source", input, 0), "source");
	return flinc_sink_to(lines, "sink", output, format_line);
}

FLINC_PLUGIN("passthrough", "Text lines from --input to --output unchanged (no --output: discarded)",
	     "--input PATH|kafka://B/T [--output DIR|-|kafka://B/T]", build);
