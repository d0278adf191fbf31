/*
 * task.h - a subtask: one thread running one chain of operators.
 *
 * Lifecycle: fl_task_create (operators instantiated, outputs wired to
 * chained operators; writers and input channels are added by whoever
 * builds the job's exchange) -> fl_task_start (thread: open operators,
 * run the loop, end input, close) -> fl_task_cancel (close: non-blocking)
 * -> fl_task_join (stop) -> fl_task_destroy (fini). fl_task_cancel may be
 * called from any thread at any time, until fl_task_destroy.
 *
 * Channels: a task uses its input channels and its writers' channels only
 * on its own thread, and before that thread ends it gives back every
 * buffer it still holds. It never owns a channel: the execution (local
 * channels) or the data service (remote ones) does, and frees it only
 * after every task at either end was joined (exchange.h, "Ownership").
 * fl_task_destroy therefore touches no channel and no other task.
 * The task's notify is signalled by its channels' other ends, so the task
 * itself is freed only once no channel that names it can be used: after
 * every task of its execution was joined and its remote channels closed.
 *
 * The loop is the task's mailbox: input buffers, watermarks, processing-
 * time timers, buffer-timeout flushes and cancellation are all handled on
 * the task thread; operator code never runs anywhere else.
 */
#ifndef FL_TASK_H
#define FL_TASK_H

#include <pthread.h>
#include <stdatomic.h>

#include "exchange.h"
#include "inflight.h"
#include "op.h"
#include "plan.h"

/* fl_task_state, and what host programs read of a task, are in the
 * runtime's door (fl_runtime.h). */
const char *fl_task_state_name(fl_task_state s); /* Flink's names: RUNNING ... */

typedef struct fl_inchan {
	fl_channel *ch;
	uint32_t input;         /* head operator's input 0/1 */
	const flinc_type *type; /* records arriving on it */
	bool raw;               /* POD bytes rather than msgpack */
	int64_t wm;
	bool idle, ended;
	/* Checkpoint alignment: the barrier id this channel delivered last;
	 * while blocked (exactly-once, waiting for the other channels) the
	 * rest of the buffer that carried the barrier waits in `held`. */
	int64_t barrier;
	bool blocked;
	fl_xbuf *held;
	uint32_t pos;
	/* Unaligned checkpoints (task.c, inflight.h): ua is UA_NONE, or, while
	 * the task collects the in-flight data of t->ua_id, UA_RECORDING
	 * (snapshot taken, this channel's barrier not here yet: what it
	 * processes is copied first) or UA_DONE (its barrier came). held_seq
	 * is the ring sequence number of held; held_logged: the rest of held
	 * was copied already. */
	uint8_t ua;
	bool held_logged;
	uint32_t held_seq;
} fl_inchan;

/* Buffer debloating on the consumer side (exchange.h, "buffer
 * debloating"): every period, per input gate (head input 0/1), the bytes
 * taken from its channels over the time the task was not idle give the
 * gate's throughput (a moving average over `samples` periods); from it
 * each channel's buffer target. Task thread only. */
typedef struct fl_debloat {
	bool on;
	int64_t target_ns, period_ns;
	uint32_t floor, pct;
	uint32_t initial; /* producers' fill level until a target is announced */
	double alpha;
	int64_t last_ns, last_idle_ns;
	uint64_t bytes[2];  /* released since the gate's last sample */
	int64_t busy_ns[2]; /* busy time since the gate's last sample */
	double tput[2];     /* smoothed bytes/s, 0 = no sample yet */
} fl_debloat;

typedef enum fl_cp_mode {
	FL_CP_EXACTLY_ONCE = 0,  /* align barriers: block a channel until all delivered */
	FL_CP_AT_LEAST_ONCE = 1, /* no blocking: snapshot when the last barrier arrives */
} fl_cp_mode;

/* What the owner of a task (executor, task manager) does at checkpoint
 * points. Called on the task thread. */
typedef struct fl_cp_hooks {
	/* The task reached checkpoint `id` (sources: on trigger; others: when
	 * the barrier arrived on every input): sinks have pre-committed; take
	 * the snapshot now (synchronous part), before records behind the
	 * barrier are processed. Return 0, or an error to decline the
	 * checkpoint (the task goes on). */
	int (*snapshot)(void *ud, fl_task *t, int64_t id);
	/* Unaligned checkpoints: the in-flight data of checkpoint id, once
	 * every input delivered its barrier (optional; valid during the call). */
	void (*inflight)(void *ud, fl_task *t, int64_t id, const struct fl_inflight *f);
	void *ud;
} fl_cp_hooks;

/* A keyed state declared in the task's backend (snapshots write them all). */
typedef struct fl_task_state_decl {
	char *name; /* "<op uid>/<state name>" */
	fl_state_kind kind;
	uint32_t sid;
} fl_task_state_decl;

/* Where the record a source step is emitting came from (deadletter.c):
 * set by the source before it emits, cleared after each source step, read
 * only when a record is rejected. */
typedef enum fl_src_kind { FL_SRC_NONE = 0, FL_SRC_KAFKA, FL_SRC_FILE } fl_src_kind;
typedef struct fl_srcpos {
	fl_src_kind kind;
	int32_t partition; /* Kafka */
	const char *name;  /* topic, or file path */
	int64_t offset;    /* Kafka offset, or byte offset in the file */
	const void *rec;   /* the record's bytes, valid during the emit */
	size_t len;
} fl_srcpos;

/* Dead letters (deadletter.c), on the task thread: a rejected record is
 * counted, logged at a bounded rate and written to the job's dead-letter
 * output when it has one. flush makes written ones durable (checkpoints);
 * close flushes and frees (task end). */
void fl_dl_reject(fl_op *op, const char *why);
int fl_dl_flush(fl_task *t);
void fl_dl_close(fl_task *t);

typedef struct fl_task_metrics {
	_Atomic uint64_t records_in;  /* read from channels or produced by the source */
	_Atomic uint64_t records_out; /* written to writers */
	_Atomic uint64_t bytes_in, bytes_out;
	_Atomic int64_t backpressured_ns;
	_Atomic int64_t idle_ns; /* asleep in idle_wait: no input, no timer or flush due */
	_Atomic int64_t watermark;
	_Atomic uint64_t rejected;     /* records refused by the chain's operators */
	_Atomic uint64_t dead_letters; /* of them, written to the dead-letter output */
	/* A Kafka source's partitions (fl_task_lag_slot): slots [0, nlag) are
	 * set up (topic, partition) before nlag is raised (release), their
	 * values stored relaxed by the task's thread. */
	_Atomic uint32_t nlag;
	struct fl_lag_slot {
		const char *topic;
		int32_t partition;
		_Atomic int64_t offset, lag;
	} lag[16];
	/* Sinks: now - emit time of each latency marker that reached them. */
	fl_lat_hist latency;
} fl_task_metrics;

/* The lag slot of (topic, partition) of the task's Kafka source, made on
 * first use; NULL when all FL_TASK_MAX_LAG are taken. Task thread only. */
struct fl_lag_slot *fl_task_lag_slot(fl_task *t, const char *topic, int32_t partition);

struct fl_task {
	const fl_plan *plan;
	const fl_vertex *vertex;
	int subtask;
	int parallelism;
	const fl_conf *conf;

	fl_op **ops; /* chain order, ops[0] is the head */
	uint32_t nops;
	fl_op **op_of_node; /* node index -> op, NULL if not in this chain */

	fl_writer **writers;
	uint32_t nwriters;
	fl_inchan *in;
	uint32_t nin;

	const fl_backend_ops *be_ops;
	void *be;
	/* Checkpoints of be are native and incremental (a backend with
	 * native_checkpoint, state.backend.incremental not false); workdir is
	 * then the task's local folder: be's files and native snapshots on
	 * their way to checkpoint storage (removed with the task). */
	bool native;
	char *workdir;
	fl_task_state_decl *states; /* every state declared in be */
	uint32_t nstates;

	flinc_arena arena;
	uint8_t *enc; /* fl_op_encode scratch */
	size_t enc_cap;
	void *dec[2]; /* decode scratch per input */

	fl_notify notify;
	_Atomic int cancel; /* 0, or how it was asked to end: FL_TASK_CANCEL / FL_TASK_STOP */
	_Atomic int state;  /* fl_task_state */
	pthread_t thread;
	bool started;

	int64_t wm; /* combined input watermark */
	bool idle;  /* all inputs idle */
	int64_t buffer_timeout_ns;
	int64_t auto_wm_interval_ms;
	fl_debloat debloat;
	int64_t now_ms; /* cached processing time */
	/* Latency markers (metrics.latency.interval; 0: none): a source task
	 * emits one every lat_interval_ns, at lat_next_ns (monotonic); a task
	 * whose chain has a sink folds them into m.latency. */
	int64_t lat_interval_ns, lat_next_ns;
	bool has_sink;

	int err;
	char errmsg[512];
	fl_task_metrics m;
	fl_srcpos src;                /* position of the record being emitted by the source */
	struct fl_dl *dl;             /* dead-letter output, opened at the first reject */
	_Atomic(struct fl_tap *) tap; /* the live output of its sink (tap.h); NULL until enabled */

	/* Checkpoints. */
	fl_cp_mode cp_mode;
	/* execution.checkpointing.unaligned (exactly-once only): barriers
	 * overtake the buffers in flight; the task snapshots at the first
	 * one and collects the in-flight data of ua_id (0: none) until every
	 * input delivered its barrier (ua_open: channels still to come). */
	bool unaligned;
	bool cp_defer;     /* fl_snapshot_take keeps the ack back (snapshot.h) */
	void *cp_deferred; /* ... here */
	int64_t ua_id;
	uint32_t ua_open;
	struct fl_inflight ua;
	/* In-flight data of the restored (unaligned) checkpoint, processed
	 * before anything new; replaying while it is. */
	struct fl_inflight replay;
	bool replaying;
	fl_cp_hooks cp;
	/* The execution's checkpointing (snapshot.h), NULL when the job does
	 * not checkpoint. With it, a task whose input ended does not finish:
	 * it waits (awaiting_final) for a checkpoint it takes as ended to
	 * complete with `final` (its sinks commit then), answering triggers
	 * meanwhile. */
	struct fl_cpctx *cpx;
	int64_t cp_ignored; /* newest trigger a running non-source task left to its barriers */
	bool cp_ignored_sp; /* ... was a savepoint's */
	bool cp_sp;         /* cp_id is a savepoint's */
	bool input_ended;
	bool final_done;
	_Atomic int awaiting_final;
	int64_t cp_id;              /* checkpoint being aligned, 0 when none */
	uint32_t cp_seen;           /* channels that delivered cp_id's barrier */
	int64_t cp_align_ns;        /* when its first barrier arrived */
	_Atomic int64_t cp_last_id; /* last checkpoint this task took */
	int64_t cp_taking;          /* the checkpoint being snapshotted (task thread; connectors read it) */
	_Atomic int64_t cp_last_align_ns; /* its alignment time */
	pthread_mutex_t mail_mu;          /* mailbox of control messages (not data) */
	struct fl_mail {
		int kind;
		bool savepoint;
		int64_t id;
	} mail[32];
	uint32_t nmail;
	_Atomic int mail_pending;

	/* Called on the task thread when it fails, to cancel its peers. */
	void (*on_failure)(void *ud, fl_task *t);
	void *on_failure_ud;
};

/* Instantiate the chain of vertex v as subtask `subtask`. */
int fl_task_create(const fl_plan *plan, const fl_vertex *v, int subtask, const fl_conf *conf, fl_task **out,
		   char *err, size_t errcap);
/* Wiring, before start: a writer for the non-chained edge `edge` (index in
 * env->edges) of this task's node, and an input channel of the head. */
void fl_task_add_writer(fl_task *t, size_t edge, fl_writer *w);
void fl_task_add_input(fl_task *t, fl_channel *ch, uint32_t input, const flinc_type *type, bool raw);
/* Writer parameters for an edge leaving this task (fills the common fields). */
void fl_task_writer_params(fl_task *t, size_t edge, bool local, fl_writer_params *p);

/* Checkpoints, from any thread: start checkpoint id at a source task
 * (ignored by other tasks), and tell a task that checkpoint id completed
 * (its sinks commit). Messages are handled in order on the task thread. */
void fl_task_trigger_checkpoint(fl_task *t, int64_t id, bool savepoint);
void fl_task_checkpoint_complete(fl_task *t, int64_t id);
/* Checkpoint id completed and was the final one (every task had ended):
 * commit it and finish. */
void fl_task_checkpoint_final(fl_task *t, int64_t id);

/* Declare a state "<uid>/<name>" in the task's backend and remember it
 * for snapshots (same name again: same id). Task thread. */
int fl_task_declare_state(fl_task *t, const char *name, fl_state_kind kind, uint32_t *sid);

enum { FL_TASK_CANCEL = 1, FL_TASK_STOP = 2 }; /* fl_task.cancel */

int fl_task_start(fl_task *t);
/* Ask the task to stop (any thread; returns at once). */
void fl_task_cancel(fl_task *t);
/* The same, for stop-with-savepoint: on its way out the task commits the
 * checkpoints whose completion is in its mailbox (triggers are dropped). */
void fl_task_stop(fl_task *t);
/* Wait for the task's thread to end (no-op when not started or joined).
 * Any thread but the task's own. */
void fl_task_join(fl_task *t);
/* Free the task: only after fl_task_join, and only once no channel that
 * signals its notify can be used any more (see the top of this file).
 * Touches neither channels nor other tasks. NULL: no-op. */
void fl_task_destroy(fl_task *t);

/* Fail the task from its own thread (first failure wins). */
void fl_task_fail(fl_task *t, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Mark the task's outputs idle or active (sources with idleness). */
void fl_task_set_idle(fl_task *t, bool idle);

#endif
