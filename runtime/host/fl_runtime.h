/*
 * fl_runtime.h - the runtime's door for host programs: the job manager,
 * the task manager and the `flinc` CLI.
 *
 * Host programs link the runtime whole (runtime/CMakeLists.txt) and
 * include this header, the public job API (<flinc/...>) and the floors
 * below the runtime (base, state, checkpoint); never a header of
 * runtime/src, whose structs and helpers are the engine's own
 * (docs/architecture.md, "The floors"). Everything here is declared once:
 * the runtime's internal headers include this one and add only what the
 * engine's files share among themselves.
 *
 * The handles are opaque (fl_plugin, fl_plan, fl_task, fl_exec,
 * fl_channel, fl_notify, fl_netx, fl_restore, fl_local, and the public
 * flinc_env); what a host reads of them goes through the functions below
 * or comes back in small value structs. Unless a comment says otherwise,
 * a handle is used by one thread at a time, functions return FLINC_OK or
 * a FLINC_E* code with one line in err (when given), and destroy/close
 * of NULL does nothing.
 */
#ifndef FL_RUNTIME_H
#define FL_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "fl_base.h"
#include "fl_checkpoint.h"

typedef struct fl_plugin fl_plugin;
typedef struct fl_plan fl_plan;
typedef struct fl_task fl_task;
typedef struct fl_exec fl_exec;
typedef struct fl_channel fl_channel;
typedef struct fl_notify fl_notify;
typedef struct fl_netx fl_netx;
typedef struct fl_restore fl_restore;
typedef struct fl_local fl_local;

/* checkpoint/coord.h: a host that drives a coordinator includes it. */
struct fl_coord;
struct fl_coord_ops;

/* ==== job plugins ========================================================= */

/* Check, without loading it, that the file at `path` can be a job plugin
 * for this process: a regular file, an ELF shared object (ET_DYN) of this
 * machine's class, byte order and architecture, whose program headers,
 * section headers and loadable segments all lie inside the file. A file
 * cut short would otherwise fault (SIGBUS) inside dlopen. FLINC_OK; else
 * FLINC_ENOENT (cannot open it) or FLINC_EPLUGIN with one line in err that
 * starts with `path`: "...: not a job plugin (not an ELF shared object)",
 * "...: truncated (1000 bytes, the ELF header says at least 15208)",
 * "...: wrong architecture: built for AArch64, this flinc runs on x86-64",
 * ... Reads a few kilobytes; any thread. */
int fl_plugin_check_elf(const char *path, char *err, size_t errcap);

/* Load the job plugin at `path` (a .so exporting flinc_plugin_entry) with
 * dlopen(RTLD_NOW | RTLD_LOCAL), so two jobs' symbols never mix, and check
 * its ABI version (1 .. FLINC_ABI_VERSION). The file is checked with
 * fl_plugin_check_elf first. Loading runs the plugin's constructors in
 * this process: a host that must survive a hostile plugin inspects it in
 * a helper process instead (fl_inspect_run below). *out is owned by the
 * caller (fl_plugin_close). On failure (FLINC_ENOENT, FLINC_EPLUGIN) *out
 * is NULL and err holds one line naming the file and what was wrong. Any
 * thread; a handle is used by one thread at a time. */
int fl_plugin_open(const char *path, fl_plugin **out, char *err, size_t errcap);

/* Unload the plugin. Every graph built from it must be destroyed first
 * (its functions and types live in the plugin). NULL is a no-op. */
void fl_plugin_close(fl_plugin *p);

/* The plugin's entry (name, usage, build); valid until fl_plugin_close. */
const flinc_plugin *fl_plugin_entry(const fl_plugin *p);

/* The path the plugin was loaded from (with "./" added to a bare file
 * name); valid until fl_plugin_close. */
const char *fl_plugin_path(const fl_plugin *p);

/* ==== the job graph ======================================================= */

/* An empty graph for a plugin's build. plugin_name: the job's name unless
 * the build names it (copied; NULL: "job"). conf stays owned by the caller and must
 * outlive the env. parallelism: the default for nodes (>= 1). Never fails
 * (allocation failures abort). Destroy with fl_env_destroy. */
flinc_env *fl_env_create(const char *plugin_name, const fl_conf *conf, int parallelism);

/* Free the graph and everything the build allocated in it. NULL is a
 * no-op. */
void fl_env_destroy(flinc_env *e);

/* Run a plugin's build over argv (argv[0]: the plugin's name or path),
 * then validate: every argument used, types match along edges, keyed-only
 * features on keyed streams, at least one sink. On failure returns a
 * FLINC_E* code and *msg points to a one-line reason, valid while e lives.
 * The thread that created e. */
int fl_env_build(flinc_env *e, int (*build)(flinc_env *, int, char **), int argc, char **argv,
		 const char **msg);

/* The graph as JSON (vertices with id, uid, name, parallelism, chain;
 * edges with partitioning). Returns a malloc'ed string the caller frees.
 * Any thread once built. */
char *fl_env_to_json(const flinc_env *e);

/* A hash over the graph's structure: nodes, uids, parallelism, edges.
 * Two builds that should agree (job manager and task managers) must give
 * the same value. Any thread once built. */
uint64_t fl_env_hash(const flinc_env *e);

/* The job's name: the build's flinc_env_set_name, else the plugin name
 * given to fl_env_create. Valid while e lives. Any thread once built. */
const char *fl_env_job_name(const flinc_env *e);

/* ==== the physical plan =================================================== */

/* Cut a built graph into vertices: chains of operators that move records
 * one-to-one, each running as `parallelism` subtasks. Vertex ids derive
 * from the head operator's id, so they are stable across builds. e must
 * outlive the plan. Never fails (allocation failures abort); destroy with
 * fl_plan_destroy. The plan is immutable: any thread may read it. */
fl_plan *fl_plan_create(const flinc_env *e);

/* Free the plan. NULL is a no-op. */
void fl_plan_destroy(fl_plan *p);

/* The plan as JSON: vertices (id, name, parallelism, operators) and the
 * edges between vertices with their partitioning. Returns a malloc'ed
 * string the caller frees. */
char *fl_plan_to_json(const fl_plan *p);

/* Number of vertices; they are numbered 0 .. n-1 in topological order. */
uint32_t fl_plan_vertices(const fl_plan *p);

/* One vertex, by value. name ("Source: a -> Map: b") stays owned by the
 * plan and is valid while it lives. */
typedef struct fl_vertex_info {
	uint32_t index; /* 0 .. fl_plan_vertices() - 1 */
	uint64_t id;    /* stable id (the head operator's) */
	const char *name;
	int parallelism; /* subtasks */
} fl_vertex_info;

/* Vertex v; v must be below fl_plan_vertices(p) (else a zeroed struct
 * with name NULL). */
fl_vertex_info fl_plan_vertex(const fl_plan *p, uint32_t v);

/* The vertices at the two ends of graph edge `edge` (an index among the
 * env's edges, as fl_placement's callbacks get it): the producer's vertex
 * into *src, the consumer's into *dst. false when edge is out of range
 * (then nothing is written). */
bool fl_plan_edge_vertices(const fl_plan *p, size_t edge, uint32_t *src, uint32_t *dst);

/* ==== a built job without its plugin ====================================
 *
 * What a host needs to know of a built job to admit, schedule and
 * checkpoint it, as plain data: no function of the plugin, no pointer into
 * it. The job manager gets one from a plugin inspection (below), so it
 * never loads an uploaded plugin itself; `flinc local` makes one from the
 * env it built.
 */

/* A vertex of the plan (a chain of operators run as `parallelism`
 * subtasks), numbered in topological order. */
typedef struct fl_job_vertex {
	uint32_t index; /* 0 .. n_vertices - 1: Placement.vertex, TaskStatus.vertex */
	uint64_t id;    /* stable id (the head operator's) */
	char *name;     /* "Source: a -> Map: b" */
	int parallelism;
} fl_job_vertex;

/* Records flowing from vertex src to vertex dst (an edge of the graph
 * between two chains). */
typedef struct fl_job_edge {
	uint32_t src, dst;  /* vertex indexes */
	char *partitioning; /* "FORWARD", "REBALANCE", "HASH" or "BROADCAST" */
} fl_job_edge;

typedef struct fl_job_desc {
	char *name;                /* the job's name (flinc_env_set_name, else the plugin's) */
	uint64_t graph_hash;       /* fl_env_hash: task managers check their own build against it */
	int parallelism;           /* the default parallelism it was built with */
	int max_parallelism;       /* pipeline.max-parallelism: key groups */
	fl_key_hash_kind key_hash; /* pipeline.key-hash: how keys map to key groups */
	char **uids;               /* every operator's uid, in graph order; n_uids of them */
	size_t n_uids;
	fl_job_vertex *vertices; /* n_vertices >= 1 */
	uint32_t n_vertices;
	fl_job_edge *edges;
	size_t n_edges;
	int subtasks;     /* the sum of the vertices' parallelism */
	char *graph_json; /* fl_env_to_json's document */
	char *plan_json;  /* fl_plan_to_json's document */
} fl_job_desc;

/* The description of the built env e (fl_env_build returned FLINC_OK):
 * planned, copied, independent of e and of the plugin from here on.
 * Never fails (allocation failures abort); the caller frees it with
 * fl_job_desc_free. Any thread once e is built. */
fl_job_desc *fl_job_desc_create(const flinc_env *e);

/* Free a description. NULL is a no-op. */
void fl_job_desc_free(fl_job_desc *d);

/* ==== plugin inspection in a helper process ===============================
 *
 * A plugin's constructors run when it is loaded and its build function
 * when its graph is built: native code that may crash, exit, hang or eat
 * memory. fl_inspect_run does both in a short-lived helper process and
 * brings back what the caller needs (fl_inspection), or one line saying
 * why not. The helper is the calling program itself, run again through
 * /proc/self/exe with FL_INSPECT_HELPER_ARG as its first argument: it is
 * the same build as its parent (the same job ABI, the same runtime the
 * plugin binds to), it needs no separate program to install or find, and
 * it works wherever the caller was started from, installed or not. A
 * program that uses fl_inspect_run therefore starts its main() with
 *
 *     if (argc > 1 && !strcmp(argv[1], FL_INSPECT_HELPER_ARG))
 *             return fl_inspect_helper_main(argc, argv);
 *
 * The helper runs in a session of its own with an empty environment (but
 * LD_LIBRARY_PATH and the sanitizers' *SAN_OPTIONS, which it needs to
 * start as its parent did), the caller's working folder, no file
 * descriptor of its parent but a request pipe (stdin), an answer pipe
 * (fd 3) and its captured output (stdout and stderr, kept up to 4 kB),
 * and limits: RLIMIT_AS (the memory limit; in sanitizer builds, whose
 * shadow memory needs the address space, the parent kills it when its
 * resident memory passes the limit instead), RLIMIT_CPU (the timeout, in
 * CPU seconds, plus one), RLIMIT_CORE 0, RLIMIT_NOFILE 64 and RLIMIT_FSIZE
 * 1 MB. The parent kills the helper's whole process group at the timeout
 * and reaps it always: no zombie, no descriptor is left behind.
 *
 * The answer pipe carries lines of JSON: {"stage": "check" | "load" |
 * "build"} as the helper moves on, then one {"answer": {...}} (docs in
 * inspect.c). The helper is untrusted once the plugin is loaded: the
 * parent reads at most 8 MB, and checks every field of the answer
 * (types, ranges, lengths, counts, references between vertices and edges)
 * before it believes any.
 */

#define FL_INSPECT_HELPER_ARG "--flinc-inspect-helper"

/* How to inspect. Zero fields take the defaults. */
typedef struct fl_inspect_opts {
	int64_t timeout_ms;   /* wall clock for the whole inspection (10 s) */
	int64_t memory_bytes; /* the helper's memory limit (1 GiB) */
	bool build;           /* also build the graph (else: load, entry symbol, ABI) */
	const fl_conf *conf;  /* the job's configuration for the build (flinc_env_config); NULL: empty */
	int parallelism;      /* the build's default parallelism (1) */
	const char *display;  /* how messages name the plugin (NULL: its path) */
	/* The first 4 kB of the helper's own output when it failed
	 * abnormally (a signal, a timeout, no answer), on one line, for a
	 * log; "" otherwise. NULL: not wanted. */
	char *diag;
	size_t diagcap;
} fl_inspect_opts;

/* The inspection keys of conf into *o (other fields untouched):
 * jobmanager.plugin-inspection.timeout (10s; 100ms .. 1h) and
 * jobmanager.plugin-inspection.memory (1gb; 64mb .. 1tb). FLINC_ECONFIG
 * with one line naming the key. Any thread. */
int fl_inspect_opts_read(const fl_conf *conf, fl_inspect_opts *o, char *err, size_t errcap);

/* What an inspection learnt. */
typedef struct fl_inspection {
	char *plugin_name; /* the entry's name; NULL when it has none */
	char *description; /* likewise */
	char *usage;       /* likewise */
	uint32_t abi_version;
	/* Built (opts.build): the job; NULL without a build. */
	fl_job_desc *job;
	/* opts.build and the plugin's build failed (FLINC_EGRAPH, the usual
	 * refusal of bad or missing job arguments): its one-line reason; job
	 * is NULL then. fl_inspect_run returns FLINC_EGRAPH with the same
	 * line (and the usage) in err. */
	char *build_error;
	int64_t elapsed_ms; /* the helper's life, start to end */
} fl_inspection;

/* Inspect the plugin at `path` in a helper process: the ELF headers
 * (checked here first, then again in the helper), dlopen (constructors),
 * the entry symbol and ABI version, and with o->build its build function
 * over argv (argc >= 1; argv[0] the plugin's name as the job sees it) at
 * o->parallelism with o->conf, validated and planned.
 *
 * FLINC_OK: *out filled (the caller frees it with fl_inspection_free).
 * FLINC_EGRAPH: the build refused its arguments or made an invalid graph;
 * *out is still filled (the plugin loaded: name, usage, build_error) and
 * err says "DISPLAY: invalid job: REASON; usage: USAGE".
 * Else *out is NULL and err holds one line that starts with the display
 * name: FLINC_ENOENT (no such file), FLINC_EPLUGIN (not an ELF shared
 * object, truncated, wrong architecture, does not load, no entry symbol,
 * ABI version; "the plugin's constructor killed the inspection with
 * SIGSEGV", "the plugin's build() did not finish within 10 s", "...
 * exceeded the memory limit (1024 MB)", "... ended the inspection (exit
 * status 0) without an answer", "the inspection's answer is malformed:
 * ..."), FLINC_EIO (the helper could not be started: no fork, no
 * /proc/self/exe). Blocks the calling thread for the inspection (tens of
 * milliseconds; at most about the timeout); any thread, any number at
 * once. FLINC_ECANCELED after fl_inspect_shutdown. */
int fl_inspect_run(const fl_inspect_opts *o, const char *path, int argc, char **argv, fl_inspection **out,
		   char *err, size_t errcap);

/* Free an inspection. NULL is a no-op. */
void fl_inspection_free(fl_inspection *in);

/* Stop inspecting, for a program's shutdown: every helper running now is
 * killed (its fl_inspect_run returns FLINC_ECANCELED at once instead of
 * at its timeout), and every later call returns FLINC_ECANCELED without
 * starting one. Any thread (not a signal handler); idempotent. */
void fl_inspect_shutdown(void);

/* The helper's side: read the request on stdin, inspect, answer on fd 3,
 * and _exit (no destructor of the plugin or the program runs). Call it
 * first thing in main() when argv[1] is FL_INSPECT_HELPER_ARG (above);
 * returns 2 (after one line on stderr) only when fd 3 is not open, that
 * is when someone ran the mode by hand. */
int fl_inspect_helper_main(int argc, char **argv);

/* ==== subtasks ============================================================ */

/* A subtask's life, as fl_task_get_state tells it (Flink's names). */
typedef enum fl_task_state {
	FL_TASK_CREATED,
	FL_TASK_RUNNING,
	FL_TASK_FINISHED,
	FL_TASK_FAILED,
	FL_TASK_CANCELED,
} fl_task_state;

/* The subtask's state (an atomic its thread writes). Any thread, while the
 * execution that owns the task lives. */
fl_task_state fl_task_get_state(const fl_task *t);

/* Is the task waiting for its final checkpoint (its input ended and the
 * job checkpoints)? A monitor reports such a task as ENDED. Any thread. */
bool fl_task_awaiting_final(const fl_task *t);

/* The subtask's vertex (index in the plan) and its number within the
 * vertex. Fixed at creation: any thread. */
uint32_t fl_task_vertex_index(const fl_task *t);
int fl_task_subtask(const fl_task *t);

/* Why the task failed: its message, else the name of its error code.
 * Meaningful once fl_task_get_state said FL_TASK_FAILED (the message is
 * written before the state). Valid while the task lives. Any thread. */
const char *fl_task_error(const fl_task *t);

/* A subtask's counters at one moment, cumulative since it started. */
typedef struct fl_task_stats {
	uint64_t records_in;  /* read from channels or produced by the source */
	uint64_t records_out; /* written to other subtasks */
	uint64_t bytes_in, bytes_out;
	int64_t backpressured_ns; /* time spent waiting for credit */
	int64_t idle_ns;          /* time spent waiting for input, a timer or a flush */
	int64_t watermark;        /* the task's current watermark */
	uint64_t rejected;        /* records its operators refused */
	uint64_t dead_letters;    /* of them, written to the job's dead-letter output */
	/* A Kafka source's partitions (at most FL_TASK_MAX_LAG): the next
	 * offset it reads and its lag behind the partition's high watermark
	 * (-1: not known yet). topic stays valid while the task lives. */
	uint32_t nlag;
	struct {
		const char *topic;
		int32_t partition;
		int64_t offset, lag;
	} lag[16];
	/* End-to-end latency of the latency markers that reached the task's
	 * sinks (metrics.latency.interval); has_sink false: none in its chain. */
	bool has_sink;
	fl_lat_snap latency;
} fl_task_stats;
#define FL_TASK_MAX_LAG 16

/* Read the counters into *out (relaxed atomic loads: each value is
 * consistent, the set is not a snapshot). Any thread, while the task
 * lives. */
void fl_task_stats_read(const fl_task *t, fl_task_stats *out);

/* ---- live output (tap.h): the latest records of a sink subtask --------- */

/* Turn the task's live output on or off. The first time it is turned on
 * (and only for a task with a sink) the ring is allocated; off, a sink
 * record costs one load. One thread (the task manager's) calls this and
 * fl_task_tap_drain, while the task lives. */
void fl_task_tap_enable(fl_task *t, bool on);
/* Called per record kept: its text (len bytes, not NUL-terminated; cut
 * when the record was longer). */
typedef void (*fl_tap_fn)(void *ud, const char *rec, size_t len, bool cut);
/* Hand the records kept since the last drain to fn, oldest first (at most
 * FL_TAP_MAX_DRAIN); their slots are free again. Returns how many. */
#define FL_TAP_MAX_DRAIN 32
size_t fl_task_tap_drain(fl_task *t, fl_tap_fn fn, void *ud);

/* ==== checkpoints: settings, restore, acknowledgements ================== */

/* The checkpoint keys of a job's configuration (docs/config.md). Strings
 * point into the configuration read. */
typedef struct fl_cp_conf {
	const char *dir;            /* state.checkpoints.dir; NULL: the job does not checkpoint */
	const char *savepoints_dir; /* state.savepoints.dir; NULL: savepoints need a target */
	int64_t interval_ms;        /* execution.checkpointing.interval; 0: none periodic */
	int64_t timeout_ms;         /* execution.checkpointing.timeout (10min) */
	int64_t min_pause_ms;       /* execution.checkpointing.min-pause (0) */
	int tolerable;              /* execution.checkpointing.tolerable-failed-checkpoints (0; -1: any) */
	int retain;                 /* state.checkpoints.num-retained (1) */
	int64_t backoff_initial_ms; /* execution.checkpointing.backoff.initial (1s) */
	int64_t backoff_max_ms;     /* execution.checkpointing.backoff.max (1min) */
} fl_cp_conf;

/* Read and check the checkpoint keys of conf into *out. FLINC_ECONFIG with
 * one line naming the bad key. Any thread. */
int fl_cp_conf_read(const fl_conf *conf, fl_cp_conf *out, char *err, size_t errcap);

/* Open the checkpoint or savepoint folder `dir` (a chk-<n> folder or a
 * savepoint folder) to start a job from: _metadata read and every file
 * checked at `level`. *out is owned by the caller (fl_restore_close) and
 * may be shared read-only by the tasks of an execution. FLINC_ENOENT /
 * FLINC_ECODEC with one line naming what is wrong. Any thread. */
int fl_restore_open(const char *dir, fl_chk_check level, fl_restore **out, char *err, size_t errcap);

/* Close it; every execution restoring from it must be destroyed first.
 * NULL is a no-op. */
void fl_restore_close(fl_restore *r);

/* The checkpoint's id, its folder and its _metadata; valid while r is
 * open. Any thread. */
int64_t fl_restore_id(const fl_restore *r);
const char *fl_restore_dir(const fl_restore *r);
const fl_chk_meta *fl_restore_meta(const fl_restore *r);

/* Every operator with state in the snapshot must exist (by uid) in job d,
 * whose max parallelism must be the snapshot's, unless allow_non_restored
 * (then the rest is skipped and logged). FLINC_EINVAL with "savepoint ...
 * has state for operator 'x' which the job does not have
 * (--allow-non-restored-state skips it)". */
int fl_restore_check(const fl_restore *r, const fl_job_desc *d, bool allow_non_restored, char *err,
		     size_t errcap);

/* A job restored from the checkpoint or savepoint in dir keeps the key
 * hash it was taken with (docs/savepoints.md): when conf does not set
 * pipeline.key-hash, set it to the one dir's _metadata names (murmur64a
 * when it names none). Call before the job's graph is built from conf.
 * An unreadable dir changes nothing (the restore itself reports it); a
 * conf that sets another hash is refused by fl_restore_check. Reads the
 * disk (on S3: fetches _metadata). */
void fl_restore_adopt_key_hash(fl_conf *conf, const char *dir);

/* One task's acknowledgement (or decline, rc != 0) of checkpoint id. */
typedef struct fl_cp_ack_info {
	int attempt;
	int64_t id;
	uint32_t vertex;
	int subtask;
	bool ended; /* the task's input had ended */
	int rc;     /* 0: acknowledged; else declined, err says why */
	char err[512];
	fl_chk_file file; /* path (and native folder) relative to chk-<id>/ */
	char **shared;    /* incremental: the files under the job folder it uses */
	size_t n_shared;
	uint64_t state_size;        /* bytes of state the snapshot holds */
	uint64_t checkpointed_size; /* bytes written for it (incremental: the new ones) */
	int64_t align_ms, sync_ms, async_ms;
} fl_cp_ack_info;

/* A deep copy (strings and the shared list), owned by the caller
 * (fl_cp_ack_free). Any thread. */
fl_cp_ack_info *fl_cp_ack_dup(const fl_cp_ack_info *a);

/* Free a copy made by fl_cp_ack_dup. NULL is a no-op. */
void fl_cp_ack_free(fl_cp_ack_info *a);

/* Called on an execution's upload thread, once per task and checkpoint
 * it took; a is valid during the call only. */
typedef void (*fl_cp_ack_fn)(void *ud, const fl_cp_ack_info *a);

/* How an execution checkpoints (fl_exec_set_checkpointing). */
typedef struct fl_cp_setup {
	const char *job_id; /* copied */
	const char *jobdir; /* <state.checkpoints.dir>/<job id> (copied) */
	int attempt;
	fl_restore *restore; /* borrowed (must outlive the execution); NULL: a fresh start */
	fl_cp_ack_fn ack;
	void *ud;
} fl_cp_setup;

/* ==== checkpoints: the coordinator's side ================================ */

/* Create a checkpoint coordinator (checkpoint/coord.h) for job d: its
 * operators (uids) and max parallelism from d, its state backend from
 * state.backend of conf (the job's configuration; hashmap when unset);
 * interval, timeout, pause, tolerated failures and retention from cc.
 * job_id and jobdir (<cc->dir>/<job id>) are copied; the first checkpoint
 * gets next_id. The coordinator calls ops (copied; ud borrowed) on its own
 * thread. *out is owned by the caller (fl_coord_destroy). Errors of
 * fl_coord_create, with its message in err. Any thread. */
int fl_cp_coord_create(const fl_job_desc *d, const fl_conf *conf, const fl_cp_conf *cc, const char *job_id,
		       const char *jobdir, int64_t next_id, const struct fl_coord_ops *ops,
		       struct fl_coord **out, char *err, size_t errcap);

/* Hand a task's acknowledgement to the coordinator: a decline (a->rc)
 * fails the checkpoint with a->err; otherwise the snapshot it wrote is
 * acknowledged (strings copied by the coordinator). Any thread; returns
 * quickly (the coordinator works on its own thread). */
void fl_cp_ack_deliver(struct fl_coord *c, const fl_cp_ack_info *a);

/* ==== executing subtasks ================================================== */

/* What a finished execution counted. */
typedef struct fl_run_stats {
	double seconds;          /* wall time from start to the last task's end */
	uint64_t source_records; /* records the sources emitted */
	uint64_t sink_records;   /* records the sinks received */
	uint64_t rejected;       /* malformed records counted anywhere */
	uint64_t dead_letters;   /* rejected records written to the dead-letter output */
	uint64_t late_dropped;   /* window records dropped as too late */
	fl_lat_snap latency;     /* every sink's latency markers, merged */
} fl_run_stats;

/* Where subtasks run; NULL placement: everything in this process. The
 * callbacks are called on the thread of fl_exec_create, during it. */
typedef struct fl_placement {
	/* Does subtask `subtask` of vertex `vertex` run in this process? */
	bool (*here)(void *ud, uint32_t vertex, int subtask);
	/* The local end of a channel of env edge `edge` from producer subtask
	 * i (here) to consumer subtask j (elsewhere), or the reverse, with
	 * nbufs buffers of bufsize bytes; `producer` / `consumer` is the local
	 * task's notify, to signal when the other side moved. The returned
	 * channel stays owned by the placement (the data plane). NULL fails
	 * the job creation. */
	fl_channel *(*remote_out)(void *ud, size_t edge, int i, int j, fl_notify *producer, uint32_t nbufs,
				  uint32_t bufsize);
	fl_channel *(*remote_in)(void *ud, size_t edge, int i, int j, fl_notify *consumer, uint32_t nbufs,
				 uint32_t bufsize);
	/* Optional: fl_exec_create failed after handing out remote ends;
	 * close them now, before the tasks (whose notifies they signal) are
	 * freed. */
	void (*release)(void *ud);
	void *ud;
} fl_placement;

/* Plan the built env e and create its subtasks of this process (placement
 * pl, copied; NULL: all of them) with their channels; nothing runs yet. e
 * and conf are borrowed and must outlive the execution. *out is owned by
 * the caller (fl_exec_destroy). FLINC_ECONFIG for bad execution.* keys,
 * FLINC_EIO when the placement gave no channel, or a task's error; one
 * line in err; nothing is left behind. */
int fl_exec_create(const flinc_env *e, const fl_conf *conf, const fl_placement *pl, fl_exec **out, char *err,
		   size_t errcap);

/* Start every subtask thread. FLINC_ENOMEM when a thread cannot start
 * (the started ones are canceled; fl_exec_wait still joins them). */
int fl_exec_start(fl_exec *x, char *err, size_t errcap);

/* Wait for every started subtask to end, then fill *stats (may be NULL).
 * Returns FLINC_OK, FLINC_ECANCELED, or the first task failure, whose
 * message goes to err. One thread at a time (not necessarily the one
 * that started x). */
int fl_exec_wait(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap);

/* Cancel every subtask: they stop at their next step. Any thread (not a
 * signal handler), at any time before fl_exec_destroy; idempotent. */
void fl_exec_cancel(fl_exec *x);
/* Cancel for stop-with-savepoint: as fl_exec_cancel, and each subtask
 * commits the checkpoints whose completion (fl_exec_complete) came before
 * it left. Only when no other attempt of the job can run meanwhile. */
void fl_exec_stop(fl_exec *x);

/* Checkpointing, once, before start: every subtask of this process
 * snapshots into setup->jobdir at checkpoints, acknowledges through
 * setup->ack (on an upload thread the execution owns), restores from
 * setup->restore, and waits for the final checkpoint when its input
 * ended. setup is copied (restore borrowed). FLINC_EINVAL when called
 * twice or after start. */
int fl_exec_set_checkpointing(fl_exec *x, const fl_cp_setup *setup, char *err, size_t errcap);

/* Tell every subtask here: checkpoint id starts (sources and ended tasks
 * take it; the others wait for its barriers). A message to the tasks'
 * mailboxes: any thread, returns at once. */
void fl_exec_trigger(fl_exec *x, int64_t id, bool savepoint);

/* Tell every subtask here that checkpoint id completed (sinks commit), or
 * completed as the final one (they commit and finish). Any thread. */
void fl_exec_complete(fl_exec *x, int64_t id, bool final);

/* Has every subtask here ended its input (or ended altogether)? Any
 * thread. */
bool fl_exec_all_ended(fl_exec *x);

/* The subtasks of this process, *n of them; the array and the tasks stay
 * owned by x (valid until fl_exec_destroy). */
fl_task **fl_exec_tasks(fl_exec *x, uint32_t *n);

/* Free the execution: its upload thread, tasks and local channels. Tasks
 * still running are canceled and joined first, so destroy is safe at any
 * point; remote ends handed out by the placement must be closed after the
 * tasks were joined (fl_exec_wait) and before this call (exchange.h,
 * "Ownership"). Not from a task thread. NULL is a no-op. */
void fl_exec_destroy(fl_exec *x);

/* ==== channels ============================================================ */

/* Free buffers the producer of channel c could take now (released by the
 * consumer, not yet acquired): all of them back means nothing is in
 * flight. A snapshot, readable from any thread while c lives. */
uint32_t fl_channel_free_count(fl_channel *c);

/* ==== the data service ====================================================
 *
 * Channels between subtasks of different processes, over TCP, with
 * credit-based flow control. Each task-manager process runs one fl_netx. A
 * producer subtask here and a consumer subtask in another process each see
 * a plain local fl_channel; the service moves the buffers between the two:
 *
 *   producer task --fl_channel--> netx A ==TCP==> netx B --fl_channel--> consumer task
 *                 <--credits----         <=credits=       <--credits---
 *
 * Connections. One TCP connection per ordered pair of processes: process A
 * dials B the first time it opens a channel towards B, and every channel
 * from A to B shares that connection; B's credits for them flow back on the
 * same connection. (Channels from B to A use B's own connection to A.)
 * A connection stays up while both processes live, idle or not (both
 * sides send heartbeats), and serves the next jobs' channels.
 *
 * Channels are named by a 64-bit id chosen by the caller (the job manager),
 * identical on both sides, unique among the live channels received by one
 * process. Include the attempt in it, so a restarted job never meets the
 * stale data of its previous attempt. A useful convention is a job tag in
 * the high 32 bits and the channel's number within the job in the low ones,
 * so fl_netx_close_matching(nx, FL_NETX_JOB_MASK, tag << 32) releases a
 * job's channels.
 *
 * Flow control. The receiving service grants one credit per free buffer of
 * its channel; the sending service sends a buffer only against a credit.
 * A slow consumer therefore stops its producer with at most (sender's
 * buffers + receiver's buffers) in flight, and a channel without credit
 * never holds back the other channels of its connection: the receiver
 * always has a buffer for what arrives. Order per channel is kept.
 * Whether fl_netx_in runs before or after the remote fl_netx_out does not
 * matter: until it does, no credit is granted and the producer's data waits
 * in its own buffers.
 *
 * Authentication. Every connection starts with a challenge-response over
 * both sides' nonces (HELLO, AUTH): each side proves the cluster secret
 * (fl_netx_opts.secret) without sending it, before any channel frame is
 * sent or taken. A peer that cannot is refused (a log line, never
 * on_peer_lost unless we dialed it).
 *
 * Failures. A connection that breaks (read or write error, the peer closed
 * it, a protocol violation, a failed authentication, nothing received for peer_timeout_ms while both
 * sides send heartbeats every heartbeat_ms, or a failed connect) is
 * reported once through on_peer_lost with the peer's data address. Its
 * channels stay allocated but carry nothing more: a producer waiting for
 * credit or a consumer waiting for data is released by its task's cancel
 * (the task loop and the writer wait in bounded slices), which the owner
 * of the service triggers when told of the loss. A later fl_netx_out to
 * that peer dials a new connection.
 *
 * Threads. fl_netx_out, fl_netx_in, fl_netx_close*, fl_netx_stats_get
 * and fl_netx_addr may be called from any thread. The service runs one
 * thread of its own (credits, heartbeats, reaping broken connections,
 * calling on_peer_lost) and nng's callback threads (socket I/O); no lock or
 * malloc per record, one short critical section per buffer. See
 * runtime/src/netx.c for the wire format.
 */

#define FL_NETX_JOB_MASK 0xffffffff00000000ULL

/* A connection to peer (its data address, as its fl_netx_addr spelled it)
 * was lost. err is a FLINC_E* code (FLINC_EIO, FLINC_ETIMEDOUT,
 * FLINC_EPROTO), why one line for logs and the job manager; both strings
 * are valid during the call only. Called on the service's thread with no
 * lock held: it may call fl_netx_out/in/close*, never fl_netx_destroy. */
typedef void (*fl_netx_lost_fn)(void *ud, const char *peer, int err, const char *why);

/* Tunables; zero fields take the defaults. */
typedef struct fl_netx_opts {
	int64_t connect_timeout_ms; /* 5000: a dial that takes longer fails */
	int64_t heartbeat_ms;       /* 1000: an idle connection sends a PING this often */
	int64_t peer_timeout_ms;    /* 10000: silence this long = peer lost */
	/* Host put in fl_netx_addr when binding a wildcard (0.0.0.0, ::, or
	 * empty); NULL: this machine's host name. */
	const char *advertise_host;
	/* The cluster secret every connection proves before any channel
	 * frame is taken (copied; NULL/0: an empty key, for loopback-only
	 * clusters). See netx.c, AUTH. */
	const uint8_t *secret;
	size_t secret_len;
	/* TLS (fl_tls.h; borrowed, must outlive the service; NULL: none).
	 * When it is on for data (security.ssl.enabled), the service listens
	 * and dials tls+tcp:// only: addresses are "tls+tcp://host:port", a
	 * bare "host:port" gets that scheme, and a tcp:// peer is refused. */
	struct fl_tls *tls;
} fl_netx_opts;

/* Bind to `bind` ("tcp://host:port" or "host:port", "tls+tcp://..." with
 * TLS; port 0 = chosen by
 * the OS), start listening and the service thread. on_lost may be NULL; ud
 * is passed to it; opts may be NULL. *out is owned by the caller
 * (fl_netx_destroy). On failure returns FLINC_EINVAL (bad address or
 * options), FLINC_EIO (cannot listen: nng's message kept in err) or
 * FLINC_ENOMEM, and nothing is left behind. Any thread. */
int fl_netx_create(const char *bind, fl_netx_lost_fn on_lost, void *ud, const fl_netx_opts *opts,
		   fl_netx **out, char *err, size_t errcap);

/* The address peers dial: "tcp://host:port" with the actual port. Valid
 * until fl_netx_destroy. Any thread. */
const char *fl_netx_addr(const fl_netx *nx);

/* The producer's end of channel `id` towards the process whose service
 * listens at `peer` (its fl_netx_addr; "tcp://" is added when missing, and
 * on_peer_lost names the peer in that form): a channel of nbufs buffers of
 * bufsize bytes whose producer side belongs to the producer task;
 * `producer` is that task's notify, signalled when a buffer comes back,
 * and must outlive the channel. Dials the peer if no connection to it is
 * up (asynchronously: a failed connect is reported through on_peer_lost,
 * not here). The channel is owned by the service until fl_netx_close*,
 * fl_netx_destroy. Returns FLINC_EINVAL (bad arguments or peer address),
 * FLINC_EEXIST (id already open for output here) or FLINC_ENOMEM, with one
 * line in err. Any thread. */
int fl_netx_out(fl_netx *nx, const char *peer, uint64_t id, uint32_t nbufs, uint32_t bufsize,
		fl_notify *producer, fl_channel **out, char *err, size_t errcap);

/* The consumer's end of channel `id` (whichever process sends it): nbufs
 * buffers of bufsize bytes (grown when a larger buffer arrives) whose
 * consumer side belongs to the consumer task; `consumer` is that task's
 * notify, signalled when a buffer arrives. Data flows once both ends
 * exist; the buffers are granted as credits to the sender. Owned by the
 * service like fl_netx_out's. Returns FLINC_EINVAL or FLINC_EEXIST (id
 * already registered for input here). Any thread. */
int fl_netx_in(fl_netx *nx, uint64_t id, uint32_t nbufs, uint32_t bufsize, fl_notify *consumer,
	       fl_channel **out);

/* Release channels (either direction) and free them: call when their job
 * ended or was canceled, after the tasks using them were joined (so every
 * consumer saw END, or nobody cares any more). Buffers not yet delivered
 * are dropped. The sending side tells the receiving one, whose consumer
 * still reads what arrived before. Ids announced by a sender but never
 * registered here are forgotten too (not counted); unknown ids are
 * skipped. Returns how many channels opened here were closed. Any thread
 * (also on_peer_lost). */
size_t fl_netx_close(fl_netx *nx, const uint64_t *ids, size_t n);

/* Close every channel whose id satisfies (id & mask) == value, as
 * fl_netx_close does. Any thread. */
size_t fl_netx_close_matching(fl_netx *nx, uint64_t mask, uint64_t value);

/* The service's counters. */
typedef struct fl_netx_stats {
	uint64_t buffers_out, bytes_out; /* DATA frames sent, payload bytes */
	uint64_t buffers_in, bytes_in;   /* DATA frames delivered to channels */
	uint64_t discarded;              /* DATA frames for closed channels, dropped */
	uint64_t peers_lost;             /* connections reported lost */
	uint32_t connections;            /* connections now open or opening */
	uint32_t channels_out, channels_in;
} fl_netx_stats;

/* Counters since create into *st (a consistent-enough snapshot). Any
 * thread. */
void fl_netx_stats_get(fl_netx *nx, fl_netx_stats *st);

/* Close every connection (peers see the loss; on_peer_lost is not called
 * here), stop the service thread and nng's callbacks, and free every
 * channel still open. The tasks using them must have been joined.
 * fl_netx_destroy(NULL) does nothing. Not from on_peer_lost. */
void fl_netx_destroy(fl_netx *nx);

/* ==== a job in this process (`flinc local`) ===============================
 *
 * A mini cluster: every subtask of a job in this process, and, when the
 * job's configuration sets state.checkpoints.dir (or it restores), a
 * checkpoint coordinator driving them as the job manager's does in a
 * cluster: periodic checkpoints, savepoint-format restore, the final
 * checkpoint once every input ended, too many failed checkpoints cancel
 * the job. Progress is logged (component "local").
 */

typedef struct fl_local_params {
	const flinc_env *env;    /* the built job; borrowed, must outlive the fl_local */
	const fl_conf *conf;     /* its configuration; borrowed likewise */
	const char *restore;     /* a savepoint or chk-<n> folder to start from; NULL: a fresh start */
	bool allow_non_restored; /* restore: skip state of operators the job does not have */
} fl_local_params;

/* Create the job's subtasks and, when it checkpoints or restores, its
 * checkpointing (a random job id; checkpoints go to
 * <state.checkpoints.dir>/<job id>); nothing runs yet. *out is owned by
 * the caller (fl_local_destroy). On failure returns FLINC_ECONFIG,
 * FLINC_EINVAL, FLINC_ENOENT, FLINC_ECODEC or a task's error, with one line
 * in err ("cannot restore: ...", "checkpoints: ...", or the execution's
 * message), and nothing is left behind. */
int fl_local_create(const fl_local_params *p, fl_local **out, char *err, size_t errcap);

/* Run the job to its end: start the subtasks and the checkpoints, wait
 * for every subtask, stop the checkpoints (their counts are logged). Fills
 * *stats (may be NULL). Returns FLINC_OK, FLINC_ECANCELED, or the first
 * task failure, whose message goes to err. Once per fl_local; the thread
 * that created it. */
int fl_local_run(fl_local *l, fl_run_stats *stats, char *err, size_t errcap);

/* Cancel the job: fl_local_run returns FLINC_ECANCELED soon. Any thread
 * (not a signal handler), between create and destroy; idempotent. */
void fl_local_cancel(fl_local *l);

/* Free everything: subtasks, coordinator, restore. fl_local_run must have
 * returned (or never been called). NULL is a no-op. */
void fl_local_destroy(fl_local *l);

#endif
