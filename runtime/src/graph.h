/*
 * graph.h - the logical job graph a plugin's build function declares.
 *
 * flinc_env owns every node, edge, tag and flinc_env_alloc block; all are
 * freed by fl_env_destroy. The graph is immutable once build returned and
 * fl_env_finish validated it; then any number of threads may read it.
 * Its functions for host programs (create, build, hash, JSON) are in the
 * runtime's door, fl_runtime.h; this header holds what the engine reads.
 */
#ifndef FL_GRAPH_H
#define FL_GRAPH_H

#include <flinc/flinc.h>

#include "fl_runtime.h"
#include "util.h"

typedef enum fl_node_kind {
	FL_NODE_SOURCE,
	FL_NODE_MAP,
	FL_NODE_FILTER,
	FL_NODE_FLAT_MAP,
	FL_NODE_PROCESS,
	FL_NODE_CO_PROCESS,
	FL_NODE_TIMESTAMPS,
	FL_NODE_WINDOW,
	FL_NODE_SINK,
} fl_node_kind;

typedef enum fl_partition {
	FL_PART_FORWARD,
	FL_PART_REBALANCE,
	FL_PART_HASH,
	FL_PART_BROADCAST,
} fl_partition;

const char *fl_node_kind_name(fl_node_kind k);
const char *fl_partition_name(fl_partition p);

struct flinc_tag {
	uint32_t id; /* index in env->tags */
	const char *name;
	const flinc_type *type;
};

typedef struct fl_edge {
	uint32_t src;      /* node index */
	int32_t tag;       /* -1: main output, else tag id */
	uint32_t dst;      /* node index */
	uint32_t input;    /* 0, or 1 for the second input of co_process */
	fl_partition part; /* as declared (FORWARD may turn into REBALANCE) */
	flinc_key_fn key;  /* HASH */
} fl_edge;

/* Hooks of the built-in connectors beyond the public fn structs (the Kafka
 * source commits offsets when a checkpoint completes; the exactly-once Kafka
 * sink keeps the records of open transactions in operator state). Set with
 * fl_source_hooks/fl_sink_hooks after flinc_source/flinc_sink; every
 * method is optional and runs on the subtask's thread with the fn's ctx and
 * local. Internal: plugins cannot reach it, so it may change freely. */
typedef struct fl_conn_hooks {
	/* Checkpoint id completed (after the sinks of the task committed). */
	void (*checkpoint_complete)(flinc_ctx *c, void *local, int64_t id);
	/* Operator state of a sink (sources use their fn's snapshot/restore):
	 * snapshot after the sink's flush of the same checkpoint; restore
	 * before open, once per old subtask's snapshot (union). */
	int (*snapshot)(flinc_ctx *c, void *local, flinc_writer *w);
	int (*restore)(flinc_ctx *c, void *local, flinc_reader *r);
	/* A sink's checkpoint `id` reached it: called just before the sink
	 * fn's flush(id), with FL_SINK_BARRIER_* flags (the file sink rolls
	 * its part in progress at a savepoint and at the end of the input). */
	void (*barrier)(flinc_ctx *c, void *local, int64_t id, unsigned flags);
} fl_conn_hooks;

enum {
	FL_SINK_BARRIER_SAVEPOINT = 1u, /* the checkpoint is a savepoint */
	FL_SINK_BARRIER_ENDED = 2u,     /* the task's input ended: no record follows */
};

typedef struct fl_node {
	uint32_t index;
	fl_node_kind kind;
	char *name;
	char *uid;      /* user-given or derived "<kind>-<index>" */
	uint64_t op_id; /* hash of uid: stable operator id */
	int parallelism;
	bool parallelism_set;    /* explicit, or forced (window_all) */
	bool keyed;              /* input arrives hash-partitioned: state/timers allowed */
	const flinc_type *out;   /* main output type (NULL for sinks) */
	const flinc_type *in[2]; /* input types */
	const void *arg;
	/* kind-specific */
	union {
		struct {
			const flinc_source_fn *fn;
			const fl_conn_hooks *hooks; /* NULL but for built-in connectors */
		} source;
		struct {
			flinc_map_fn fn;
		} map;
		struct {
			flinc_filter_fn fn;
		} filter;
		struct {
			flinc_flat_map_fn fn;
		} flat_map;
		struct {
			const flinc_process_fn *fn;
		} process; /* PROCESS, CO_PROCESS */
		struct {
			flinc_timestamp_fn fn;
			int64_t bound;
			int64_t idle_timeout;
		} timestamps;
		struct {
			flinc_window_spec spec;
			flinc_window_fn fn;
		} window;
		struct {
			const flinc_sink_fn *fn;
			const fl_conn_hooks *hooks; /* NULL but for built-in connectors */
			flinc_format_fn fmt;        /* flinc_sink_to's, for the live output (tap.h) */
		} sink;
	} u;
} fl_node;

/* A stream handle: the outputs (node, tag) it stands for and how the next
 * consumer is to be partitioned. Union makes several sources. */
typedef struct fl_stream_src {
	uint32_t node;
	int32_t tag;
} fl_stream_src;

struct flinc_stream {
	flinc_env *env;
	fl_stream_src *srcs;
	uint32_t nsrcs;
	const flinc_type *type;
	fl_partition part;
	bool part_set;
	flinc_key_fn key; /* when keyed */
	uint32_t
		node; /* node created by the call that made this stream, for set_uid/parallelism; UINT32_MAX if none */
};

typedef struct fl_arg {
	char *name;
	char *value;
	bool used;
} fl_arg;

struct flinc_env {
	char *job_name;
	const char *plugin_name;
	int default_parallelism;
	int max_parallelism;
	/* pipeline.key-hash: how keys map to key groups, for the job's life
	 * (fl_state.h; a restored job takes its snapshot's: fl_restore_adopt_key_hash) */
	fl_key_hash_kind key_hash;
	const fl_conf *conf;
	fl_arg *args;
	size_t nargs;
	fl_node **nodes;
	size_t nnodes;
	fl_edge *edges;
	size_t nedges, edges_cap;
	struct flinc_tag **tags;
	size_t ntags;
	char err[512];
	bool failed;
	fl_pool *pool; /* every allocation of the build lives here */
	/* flinc_dead_letters_to: the address (NULL: counted and logged only),
	 * and when it is a kafka:// one, its parsed form. */
	const char *dead_letters;
	const struct fl_kafka_addr *dead_letters_kafka;
};

/* Give the node that made stream s (a source's or a sink's) the hooks h,
 * which must outlive the graph (static). No-op on a failed env. */
void fl_source_hooks(flinc_stream *s, const fl_conn_hooks *h);
void fl_sink_hooks(flinc_stream *s, const fl_conn_hooks *h);

#endif
