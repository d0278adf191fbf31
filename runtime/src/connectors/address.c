/*
 * address.c - flinc_sink_to: one --output address syntax for every job.
 *
 *   "-"            print to stdout (print_sink.c)
 *   NULL or ""     discard, counting the records (print_sink.c)
 *   "kafka://..."  a Kafka topic (kafka_sink.c, docs/kafka.md)
 *   "influxdb://..."    InfluxDB 1.x points (influx_sink.c, docs/sinks.md)
 *   "postgresql://..."  rows of a PostgreSQL table (pg_sink.c, docs/sinks.md)
 *   anything else  a folder written exactly-once (file_sink.c)
 *
 * The input side, flinc_lines_from, lives in file_source.c.
 * Build time only (the plugin's build function's thread).
 */
#include <flinc/flinc.h>

#include <string.h>

#include "connectors.h"
#include "kafka.h"
#include "stores.h"
#include "graph.h" /* flinc_stream's env: flinc.h has no accessor */

FLINC_API int flinc_sink_to(flinc_stream *in, const char *name, const char *address, flinc_format_fn fmt)
{
	if (!in) return FLINC_EINVAL;
	flinc_env *e = in->env;
	if (!name || !*name) name = "sink";
	if (e->failed) return FLINC_EGRAPH;
	size_t first = e->nnodes;
	int rc;
	if (!address || !*address)
		rc = fl_discard_sink_to(e, in, name);
	else if (!fmt)
		return flinc_env_fail(e, "%s: the format function is NULL", name);
	else if (strcmp(address, "-") == 0)
		rc = fl_print_sink_to(e, in, name, fmt);
	else if (strncmp(address, "kafka://", 8) == 0)
		rc = fl_kafka_sink_to(e, in, name, address, fmt);
	else if (strncmp(address, "influxdb://", 11) == 0)
		rc = fl_influx_sink_to(e, in, name, address, fmt);
	else if (strncmp(address, "postgresql://", 13) == 0 || strncmp(address, "postgres://", 11) == 0)
		rc = fl_pg_sink_to(e, in, name, address, fmt);
	else
		rc = fl_file_sink_to(e, in, name, address, fmt);
	/* The live output (tap.h) shows the sink's records as it writes them. */
	for (size_t i = first; rc == FLINC_OK && i < e->nnodes; i++)
		if (e->nodes[i]->kind == FL_NODE_SINK) e->nodes[i]->u.sink.fmt = fmt;
	return rc;
}
