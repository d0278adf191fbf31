/*
 * op.h - operator instances inside a subtask.
 *
 * A subtask (task.h) runs a chain of operators: a tree rooted at the head,
 * each node of the logical graph instantiated once. Records pass between
 * chained operators as pointers by direct calls (fl_op_emit calls the next
 * operator's process). Outputs that leave the chain go to exchange writers.
 *
 * Every function here runs on the subtask's thread.
 *
 * Keyed operators: the runtime sets the current key (and key group) before
 * process and before each timer; state and timers are scoped to it. The
 * current namespace is empty except where an operator (windows) sets it.
 */
#ifndef FL_OP_H
#define FL_OP_H

#include <flinc/flinc.h>

#include "../../state/fl_state.h"
#include "graph.h"
#include "timers.h"
#include "util.h"

typedef struct fl_op fl_op;
typedef struct fl_writer fl_writer;

/* Where an output goes: chained operators and exchange writers. */
typedef struct fl_target {
	fl_op *op; /* chained: op->ops->process(op, input, ...) */
	uint32_t input;
	fl_writer *writer; /* or to another task through the exchange */
} fl_target;

typedef struct fl_output {
	fl_target *t;
	uint32_t n;
} fl_output;

#define FL_OP_VERSION 1u

typedef struct fl_op_ops {
	uint32_t version;
	size_t priv_size; /* zeroed, at op->priv */
	/* Declare state, set up. Error: the task fails with op->task's message. */
	int (*open)(fl_op *op);
	/* One record of input `input` (0 or 1), with its event time or
	 * FLINC_TS_NONE. For keyed operators the key is already set. */
	void (*process)(fl_op *op, uint32_t input, const void *rec, int64_t ts);
	/* The input watermark advanced to wm: fire event-time timers <= wm,
	 * then forward with fl_op_forward_watermark. Optional: default
	 * forwards. */
	void (*watermark)(fl_op *op, int64_t wm);
	/* Processing time reached `now`: fire due processing-time timers.
	 * Optional. */
	void (*proc_time)(fl_op *op, int64_t now);
	/* Earliest pending processing-time timer, INT64_MAX if none. Optional. */
	int64_t (*next_proc_time)(fl_op *op);
	/* Sources only: emit at most budget records; FLINC_SOURCE_* or < 0. */
	int (*run)(fl_op *op, uint32_t budget);
	/* All inputs ended and the final watermark passed. Optional. */
	void (*end_input)(fl_op *op);
	/* Release resources. Optional. Also called after a failed open. */
	void (*close)(fl_op *op);
	/* Operator (non-keyed) state for checkpoints, e.g. a source's read
	 * position. Optional. snapshot writes it (FLINC_ENOMEM or w->err set
	 * when it did not fit: called again with a larger writer); restore is
	 * called before open, once per snapshot of this operator (every old
	 * subtask's: union). */
	int (*snapshot_state)(fl_op *op, flinc_writer *w);
	int (*restore_state)(fl_op *op, flinc_reader *r);
	/* Checkpoint id completed, after the task's sinks committed it.
	 * Optional. */
	void (*checkpoint_complete)(fl_op *op, int64_t id);
} fl_op_ops;

struct flinc_ctx {
	fl_op *op;
	int64_t ts;      /* timestamp of the record/timer being handled */
	const void *arg; /* what flinc_ctx_arg returns: node->arg by default */
};

/* Connectors that wrap a user function (datagen) point flinc_ctx_arg at the
 * user's own arg around the call. */
static inline void fl_ctx_set_arg(flinc_ctx *c, const void *arg) { c->arg = arg; }

/* Per-operator keyed context. */
#define FL_KEYED_SIDS 8u
typedef struct fl_keyed {
	flinc_key_fn keyfn[2];     /* per input */
	uint16_t kg;               /* current key group */
	uint64_t khash;            /* fl_key_hash of the current key */
	fl_key_hash_kind key_hash; /* the job's (flinc_env.key_hash) */
	uint32_t klen;
	uint8_t key[FLINC_KEY_MAX]; /* current key */
	const uint8_t *ns;          /* current namespace (NULL/0 = none) */
	uint32_t nslen;
	fl_timers *timers[2]; /* by flinc_time_domain */
	/* the operator's states (the first FL_KEYED_SIDS), for prefetching */
	uint32_t sids[FL_KEYED_SIDS];
	uint32_t nsids;
} fl_keyed;

typedef struct fl_op_metrics {
	uint64_t records_in;
	uint64_t records_out;
	uint64_t rejected;     /* malformed input (flinc_ctx_reject, decode) */
	uint64_t late_dropped; /* windows: too late and no late tag */
} fl_op_metrics;

struct fl_op {
	const fl_op_ops *ops;
	void *priv;
	const fl_node *node;
	fl_task *task;
	uint32_t chain_pos; /* 0 = head */
	fl_output out;      /* main output */
	fl_output *side;    /* indexed by tag id (env->ntags entries) */
	uint32_t nside;
	fl_keyed *keyed;   /* NULL unless node->keyed */
	void *user_local;  /* process/source/sink fn local_size bytes */
	int64_t watermark; /* last watermark forwarded */
	int64_t input_wm;  /* last watermark received (flinc_ctx_watermark) */
	flinc_ctx ctx;
	fl_op_metrics m;
	struct flinc_state **states; /* declared by user functions (keyed.c) */
	uint32_t nstates;
	bool dirty_states; /* a flinc_value_mut value waits to be stored */
};

/* Operator kinds (op_basic.c, window.c, connectors). */
extern const fl_op_ops fl_op_source_ops;
extern const fl_op_ops fl_op_map_ops;
extern const fl_op_ops fl_op_filter_ops;
extern const fl_op_ops fl_op_flat_map_ops;
extern const fl_op_ops fl_op_process_ops; /* PROCESS and CO_PROCESS */
extern const fl_op_ops fl_op_timestamps_ops;
extern const fl_op_ops fl_op_window_ops;
extern const fl_op_ops fl_op_sink_ops;
extern const fl_op_ops fl_op_sink_state_ops; /* a sink whose hooks keep operator state */
const fl_op_ops *fl_op_ops_for(const fl_node *n);

/* ---- emitting ------------------------------------------------------- */

bool fl_keyed_set_from_record(fl_op *op, uint32_t input, const void *rec);
void fl_op_flush_states(fl_op *op);
bool fl_writer_record(fl_writer *w, const void *rec, int64_t ts); /* exchange.h */

/* Hand a record to an operator: set its key when keyed, process, store
 * pending state. Inline: this is the chain's hot path. */
static inline void fl_op_push(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	op->m.records_in++;
	if (op->keyed && !fl_keyed_set_from_record(op, input, rec)) return;
	op->ctx.ts = ts;
	op->ops->process(op, input, rec, ts);
	if (__builtin_expect(op->dirty_states, 0)) fl_op_flush_states(op);
}

static inline void fl_output_record(fl_output *o, const void *rec, int64_t ts)
{
	for (uint32_t i = 0; i < o->n; i++) {
		fl_target *tg = &o->t[i];
		if (tg->op)
			fl_op_push(tg->op, tg->input, rec, ts);
		else
			fl_writer_record(tg->writer, rec, ts);
	}
}
void fl_output_watermark(fl_output *o, int64_t wm);

static inline void fl_op_emit(fl_op *op, const void *rec, int64_t ts)
{
	op->m.records_out++;
	fl_output_record(&op->out, rec, ts);
}
void fl_op_emit_side(fl_op *op, uint32_t tag, const void *rec, int64_t ts);
/* Record op's new watermark and pass it on (main and side outputs). */
void fl_op_forward_watermark(fl_op *op, int64_t wm);

/* ---- keyed context -------------------------------------------------- */

/* fl_keyed_set_from_record (declared above): compute and set the current
 * key from a record of `input`; false (and the record counted as rejected)
 * when the key function refused it. */
/* Set the current key directly (timers). */
void fl_keyed_set_key(fl_op *op, uint16_t kg, const void *key, uint32_t klen);
static inline void fl_keyed_set_ns(fl_op *op, const void *ns, uint32_t nslen)
{
	op->keyed->ns = (const uint8_t *)ns;
	op->keyed->nslen = nslen;
}
static inline fl_skey fl_keyed_skey(const fl_op *op)
{
	fl_skey k = { op->keyed->kg,  op->keyed->klen, op->keyed->nslen,
		      op->keyed->key, op->keyed->ns,   op->keyed->khash };
	return k;
}

/* The subtask's state backend: ops and instance. */
const fl_backend_ops *fl_op_backend(fl_op *op, void **be);
/* A hint that the current key's entry of state sid is read soon
 * (fl_backend_ops.prefetch): lookups in several states of one key then
 * wait for memory together. Nothing when the backend has none. (A timer
 * firing needs none of these: fl_op_prefetch_firing covered every state.) */
void fl_op_prefetch(fl_op *op, uint32_t sid);
/* In a loop that fires the due timers of queue q (up to upto), after the
 * current key (and namespace) is set and before the timer runs: start
 * loading its entries in every state of the operator (the slots, fetched
 * while the previous timer ran, are in cache by now, or load side by side
 * here) and the slots of the next due timer's key and namespace, which
 * then arrive while this one runs. A firing then waits for memory about
 * once instead of once per state lookup. */
void fl_op_prefetch_firing(fl_op *op, fl_timers *q, int64_t upto);
/* Declare a state named "<uid>/<name>" in the subtask's backend. */
int fl_op_declare_state(fl_op *op, const char *name, fl_state_kind kind, uint32_t *sid);

/* A state declared as flinc_state_* does, with `ext_size` zeroed bytes
 * (*ext) owned by it and freed with it: for runtime structures built on a
 * state (the event-time buffer). */
flinc_state *fl_state_declare_ext(flinc_ctx *c, const char *name, const flinc_type *t, fl_state_kind kind,
				  size_t ext_size, void **ext);
/* State an older version of a job left (restored, natively or not, but
 * not declared by this one): its id and kind in the backend, if there is
 * a state "<uid>/<name>". */
bool fl_op_find_state(fl_op *op, const char *name, uint32_t *sid, fl_state_kind *kind);
/* An entry of a state, copied out of the backend. */
typedef struct fl_state_ent {
	uint16_t kg;
	uint32_t klen, nslen, uklen, vlen;
	uint8_t *key, *ns, *uk, *val; /* one malloc, at key */
} fl_state_ent;
typedef struct fl_state_ents {
	fl_state_ent *v;
	size_t n, cap;
} fl_state_ents;
/* Append every entry of state sid (every key group of the instance) to
 * *out, with the values when `values`; FLINC_OK or an error. */
int fl_op_state_entries(fl_op *op, uint32_t sid, bool values, fl_state_ents *out);
void fl_state_ents_free(fl_state_ents *e);
/* Keys whose event-time buffer moved from the list to the map layout
 * (evbuf.c), in this process: for tests. */
extern _Atomic uint64_t fl_evbuf_spills;

/* ---- misc ----------------------------------------------------------- */

/* Free the flinc_state handles user functions declared (at destroy). */
void fl_op_free_states(fl_op *op);
/* fl_op_flush_states (declared above) stores pending flinc_value_mut
 * values, after each record and timer. */

/* The arena reset after each record, timer or source step. */
flinc_arena *fl_op_arena(fl_op *op);
/* Fail the subtask with a message (first failure wins). */
void fl_op_fail(fl_op *op, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Count a rejected input; logs the first few with the reason. */
void fl_op_reject(fl_op *op, const char *why);
/* Current processing time as seen by the task (ms). */
int64_t fl_op_now(fl_op *op);

/* Encode `rec` of type t into scratch owned by the task (grown as needed);
 * returns a pointer valid until the next fl_op_encode call on this task. */
const void *fl_op_encode(fl_op *op, const flinc_type *t, const void *rec, size_t *len);
/* Decode bytes (msgpack, or raw for POD when raw is true) into a zeroed
 * record of t->size from the op arena. NULL (and counted) when malformed. */
void *fl_op_decode(fl_op *op, const flinc_type *t, const void *buf, size_t len, bool raw);

#endif
