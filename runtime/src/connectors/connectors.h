/*
 * connectors.h - what the built-in connectors share: source pacing and the
 * sink builders flinc_sink_to dispatches to. Internal to libflinc.
 */
#ifndef FL_CONNECTORS_H
#define FL_CONNECTORS_H

#include <flinc/flinc.h>

#include <stdint.h>

/* Paces a source subtask to per_sec records per second (0: unthrottled).
 * Owned by one subtask thread; zero-initialise, then set per_sec. */
typedef struct fl_pacer {
	double per_sec;
	int64_t t0;  /* monotonic ns of the first call */
	double sent; /* records sent since t0 (fractional after catch-up caps) */
} fl_pacer;

/* How many records this call may emit, at most budget: per_sec since the
 * first call, with at most one second of catch-up after a stall. Reads the
 * clock once. Add what was emitted to p->sent. */
int fl_pacer_quota(fl_pacer *p, uint32_t budget);

/* Sources: the position of the record about to be emitted, for dead
 * letters (deadletter.c). A few stores; `topic`, `path` and `rec` must stay
 * valid until the emit returns. */
void fl_src_at_kafka(flinc_ctx *c, const char *topic, int32_t partition, int64_t offset, const void *rec,
		     size_t len);
void fl_src_at_file(flinc_ctx *c, const char *path, uint64_t byte, const void *rec, size_t len);

/* Sink builders (file_sink.c, print_sink.c); each returns FLINC_OK or the
 * error recorded in the env. */
int fl_file_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *dir, flinc_format_fn fmt);
int fl_print_sink_to(flinc_env *e, flinc_stream *in, const char *name, flinc_format_fn fmt);
int fl_discard_sink_to(flinc_env *e, flinc_stream *in, const char *name);

/* Test-only fault points: FLINC_TEST_FAULT=NAME[:N[:SUBTASK]] with NAME one
 * of names[0..n). Returns the index of NAME + 1 and *id = N (default 1),
 * or 0 when the variable is unset, names another point, is malformed, or
 * names another subtask (SUBTASK default: every subtask). */
int fl_test_fault(const char *const *names, int n, int subtask, int64_t *id);

/* Connectors' operator state is a msgpack map that starts with v (the
 * format version), subtask and parallelism: this writes the map's header
 * for those three plus `more` entries, which the caller writes next. */
void fl_conn_snapshot_head(flinc_ctx *c, flinc_writer *w, uint64_t version, uint32_t more);

/* A sink's record as text: fmt(rec) into *line, whose capacity *cap grows
 * to what the format function asks for. Returns the length, or SIZE_MAX
 * after failing the task (output `display`) when the format function gives
 * two lengths for one record. */
size_t fl_conn_format(flinc_ctx *c, flinc_format_fn fmt, const void *rec, char **line, size_t *cap,
		      const char *display);

/* flinc_lines_from's "datagen:MODE[?options]" (seed_source.c). */
flinc_stream *fl_seed_lines_from(flinc_env *e, const char *name, const char *address, double rate);

#endif
