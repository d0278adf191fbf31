/*
 * jm.h - the job manager's model and the doors between its modules.
 *
 *   main.c          options, configuration, signals, start and shutdown
 *   rpc_server.c    the REP socket task managers talk to: RPC dispatch
 *   registry.c      the task manager registry, control connections (one
 *                   REQ socket and one worker thread per task manager),
 *                   heartbeat timeouts, the monitor and reaper threads
 *   scheduler.c     job submission, slots and placement, the job and
 *                   subtask state machines, cancel and failure
 *   checkpoints.c   checkpoint coordinators, restarts, savepoints
 *   ha.c            the job store for job manager restarts
 *   rest.c          the REST route table, request checks (forgery, token,
 *                   query values), uploads, and the mapping of error
 *                   codes to HTTP statuses
 *   http_server.c   the HTTP/1.1 server: nng streams, limits, timeouts,
 *                   its own handler threads (http_server.h)
 *   http_parse.c    the HTTP request parser, percent-decoding (pure)
 *   views.c         the JSON (and Prometheus) documents REST serves
 *   blob.c          the blob store: uploaded plugins on local disk, quota
 *   multipart.c     streaming multipart/form-data parser (pure)
 *
 * Locking: one mutex, jm.mu, guards everything below that is not marked
 * otherwise (task managers, jobs, command queues). It is held only for
 * short, non-blocking work: never across an nng call that can wait
 * (send, receive, dial with a blocking flag, close), never across disk or
 * plugin work. Functions named *_locked must be called with jm.mu held.
 * nng pipe callbacks take jm.mu; that is why nng_close is never called
 * with it held.
 *
 * Threads: the RPC thread (requests from task managers), one worker per
 * task manager (Deploy/Cancel calls to it), the monitor (heartbeat
 * timeouts, slot and cancel deadlines), the reaper (closing lost task
 * managers' sockets, joining their workers), the HTTP server's
 * handler threads (rest.server.numThreads) and its service thread, nng's
 * own threads (moving bytes, pipe callbacks: never a handler) and the main
 * thread (waits for a signal).
 *
 * Errors: functions that can fail return FLINC_OK or a FLINC_E* code
 * (flinc.h) and write a one-line reason into a caller's err buffer; none
 * of them knows HTTP. rest.c alone maps codes to HTTP statuses.
 */
#ifndef FL_JM_H
#define FL_JM_H

#include <jansson.h>
#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flinc.pb-c.h"
#include "fl_base.h"
#include "fl_store.h"
#include "fl_tls.h"
#include "rpc.h"

#define JM_COMPONENT "jobmanager"
#define JM_JID_LEN 32               /* job ids: 32 lowercase hex digits, like Flink's */
#define JM_RPC_RECV_MAX (64u << 20) /* control messages; a heartbeat of many subtasks is the largest */

/* ---- states (Flink's names) ------------------------------------------- */

typedef enum jm_job_state {
	JM_JOB_CREATED, /* waiting for slots, or deployed and not yet all running */
	JM_JOB_RUNNING, /* every subtask reported RUNNING (or already FINISHED) */
	JM_JOB_FAILING, /* a subtask failed; the others are being canceled */
	JM_JOB_FAILED,
	JM_JOB_CANCELLING, /* cancel requested; waiting for the subtasks to end */
	JM_JOB_CANCELED,
	JM_JOB_FINISHED,
	JM_JOB_RESTARTING, /* failing over: canceling, waiting the restart delay, or for slots */
	JM_JOB_NSTATES
} jm_job_state;

typedef enum jm_task_state {
	JM_TASK_CREATED,   /* no slot yet */
	JM_TASK_SCHEDULED, /* slot assigned, DeployJob queued or sent */
	JM_TASK_DEPLOYING, /* the task manager accepted the deployment */
	JM_TASK_RUNNING,
	JM_TASK_FINISHED,
	JM_TASK_CANCELING, /* CancelJob sent, the end not yet reported */
	JM_TASK_CANCELED,
	JM_TASK_FAILED,
	JM_TASK_NSTATES
} jm_task_state;

const char *jm_job_state_name(jm_job_state s);
bool jm_job_state_terminal(jm_job_state s);
const char *jm_task_state_name(jm_task_state s);
bool jm_task_state_terminal(jm_task_state s);

/* ---- jobs ---------------------------------------------------------------- */

/* Counters of one subtask as its task manager last reported them
 * (cumulative since the subtask started). */
typedef struct jm_task_metrics {
	uint64_t records_in, records_out, bytes_in, bytes_out;
	int64_t backpressured_ms;
	int64_t watermark;
	uint64_t rejected, dead_letters;
	int64_t idle_ms; /* waiting for input, timers or flushes */
	int64_t busy_ms; /* the rest of the heartbeat intervals seen: neither idle nor back-pressured */
	/* A sink subtask's latency markers (base/fl_lat.h), as last reported. */
	uint64_t lat_b[FL_LAT_NBUCKETS];
	uint64_t lat_sum_ns, lat_count;
} jm_task_metrics;

typedef struct jm_subtask {
	jm_task_state state;
	int slot;    /* index in job->slots, -1 before placement */
	char *tm_id; /* NULL before placement */
	char *host;
	int64_t start_ms; /* wall clock when it started deploying; 0 = not yet */
	int64_t end_ms;   /* wall clock when it ended; 0 = not yet */
	jm_task_metrics m;
	int64_t bp_prev_ms, bp_prev_at; /* previous sample, for the ratio */
	double bp_ratio;                /* share of the last interval back-pressured */
	int64_t idle_prev_ms;           /* previous idle sample */
	double idle_ratio;              /* share of the last interval idle */
	bool sampled;                   /* the ratios and rates cover an interval (two reports seen) */
	double in_rate, out_rate;       /* records per second over the last interval */
	char *error;                    /* FAILED: the one-line reason */
	bool ended_input;               /* reported ENDED: waiting for the final checkpoint */
	/* A Kafka source subtask's partitions, from its latest metrics. */
	struct jm_lag {
		char *topic;
		int32_t partition;
		int64_t offset, lag;
	} * lag;
	uint32_t nlag;
} jm_subtask;

typedef struct jm_vertex {
	uint32_t index; /* plan vertex index: Placement.vertex, TaskStatus.vertex */
	uint64_t id;    /* plan vertex id (shown as 16 hex digits) */
	char *name;     /* "Source: a -> Map: b" */
	int parallelism;
	bool source, sink; /* no edge into it / out of it */
	jm_subtask *sub;   /* parallelism entries */
} jm_vertex;

/* A slot a job holds on a task manager. With slot sharing (the default)
 * slot k holds subtask k of every vertex; without, one subtask. The slot
 * is given back when its last subtask ended. */
typedef struct jm_slot {
	char *tm_id;
	int live; /* subtasks in it that have not ended */
} jm_slot;

typedef struct jm_exception {
	char *message;
	char *task;     /* "vertex name (i/p)", or NULL for job-level errors */
	char *location; /* host, or NULL */
	char *tm_id;    /* or NULL */
	int64_t ts;
} jm_exception;

typedef struct jm_job {
	char jid[JM_JID_LEN + 1];
	char *name;
	jm_job_state state;
	int64_t ts[JM_JOB_NSTATES]; /* wall clock of entering each state; 0 = never */
	int64_t start_ms, end_ms, last_mod_ms;
	int attempt; /* 1 until restarts exist */

	char *jar_id; /* blob id of the plugin */
	char **args;  /* argv for the plugin's build, args[0] = file name */
	int nargs;
	int parallelism;
	int max_parallelism;
	uint64_t graph_hash;
	fl_conf *conf;   /* the job's configuration (cluster + its own) */
	char *plan_json; /* fl_plan_to_json, jid filled in */

	jm_vertex *v;
	uint32_t nv;
	int nsubtasks;

	jm_slot *slots;
	int nslots; /* slots needed (and held once placed) */
	bool placed;
	int64_t slot_timeout_ms; /* slot.request.timeout of this job */
	int64_t slot_deadline;   /* monotonic ms: fail if not placed by then */
	int64_t slot_wait_log;   /* monotonic ms: next "waits for N slots" line (0: not waiting) */
	int64_t cancel_deadline; /* monotonic ms: force the end of unconfirmed subtasks */

	jm_exception *exc;
	size_t nexc;
	int root_exc; /* index in exc, -1 = none */

	/* Checkpoints (checkpoints.c): a coordinator when the job checkpoints
	 * (state.checkpoints.dir set), else all NULL. */
	struct fl_coord *coord;
	struct jm_cp_ud *cpud; /* the coordinator callbacks' context */
	char *jobdir;          /* <state.checkpoints.dir>/<jid> */
	char *restore_path;    /* the next deployment restores from it; NULL: fresh */

	/* Restarts (restart-strategy). */
	int restart_kind;         /* JM_RESTART_* */
	int64_t restart_max;      /* fixed-delay attempts */
	int64_t restart_delay_ms; /* fixed delay, or the initial backoff */
	int64_t restart_max_delay_ms;
	double restart_multiplier;
	int64_t restarts;     /* done so far */
	int64_t restart_at;   /* monotonic ms to redeploy; 0 = none pending */
	bool restart_pending; /* RESTARTING: redeploy once every subtask ended */
	bool stopping;        /* stop with savepoint: end FINISHED after the cancel */
	struct jm *jm;        /* for the job store when the job ends */

	/* A job that ended before this job manager started (archive.c): what
	 * its checkpoints looked like at the end, served as they were. */
	json_t *archived_cp, *archived_cp_config; /* or NULL */
} jm_job;

enum { JM_RESTART_NONE = 0, JM_RESTART_FIXED = 1, JM_RESTART_EXPONENTIAL = 2 };

/* ---- task managers ------------------------------------------------------- */

typedef enum jm_cmd_kind { JM_CMD_DEPLOY, JM_CMD_CANCEL, JM_CMD_CHECKPOINT } jm_cmd_kind;

/* One call a task manager's worker makes to it. */
typedef struct jm_cmd {
	struct jm_cmd *next;
	jm_cmd_kind kind;
	char jid[JM_JID_LEN + 1];
	int attempt;
	uint8_t *msg; /* packed Envelope, owned */
	size_t len;
} jm_cmd;

/* The latest JM_TM_LOG_KEEP lines a task manager sent of one stream: line
 * k (from 0) in line[k % JM_TM_LOG_KEEP]. */
typedef struct jm_lines {
	char **line; /* NULL until the first line */
	uint64_t n;  /* lines received so far */
} jm_lines;

typedef struct jm_tm {
	struct jm *jm;
	struct jm_tm *next_dead; /* graveyard link */
	char *id, *host, *control_address, *data_address;
	char *dial_url; /* control_address with its host checked: tcp://<address it registered from>:<port> */
	/* The registration: gen tells it from an earlier one under the same
	 * id; the session key proves the task manager's other connections
	 * (AuthProof.bind_proof). An RPC connection speaks for this task
	 * manager only while it is bound to (id, gen). */
	uint64_t gen;
	uint8_t session_key[FL_AUTH_NONCE];
	int64_t pid;
	int slots;               /* offered */
	int used;                /* held by jobs */
	int cpu_cores;           /* 0: not reported */
	int64_t physical_memory; /* bytes; 0: not reported */
	bool connected;          /* the control connection is up and authenticated */
	bool lost;
	int64_t registered_ms;   /* wall clock */
	int64_t registered_mono; /* monotonic ms */
	int64_t last_hb_ms;      /* wall clock of the last heartbeat (or registration) */
	int64_t last_hb_mono;
	int64_t rss_bytes;                   /* resident memory, from the last heartbeat (0: unknown) */
	int64_t managed_used, managed_total; /* managed memory (fl_managed.h), from the last heartbeat */
	int64_t cpu_time_ms;                 /* CPU time used, from the last heartbeat */
	double cpu_load;                     /* CPU time per wall time over the last heartbeat interval */
	jm_lines log;                        /* its latest log lines (Heartbeat.log) */
	jm_lines out;                        /* its latest stdout lines (Heartbeat.stdout_lines) */
	char *stdout_file;                   /* where its stdout goes ("": not a file, not read) */

	nng_socket req;       /* REQ to the task manager's control socket */
	fl_rpc_client client; /* req, authenticating its connection */
	pthread_t worker;
	bool worker_started;
	pthread_cond_t cv; /* wakes the worker */
	jm_cmd *q_head, *q_tail;
	bool stop;   /* the worker must exit */
	bool closed; /* req closed (by the worker or the reaper) */
	bool done;   /* the worker exited */
} jm_tm;

/* ---- the job manager ------------------------------------------------------ */

typedef struct jm_options {
	char *rpc_address;
	int rpc_port;
	char *rest_address;
	int rest_port;
	char *auth_token; /* NULL: no authentication */
	uint8_t *secret;  /* security.cluster.secret; NULL: none (loopback only) */
	size_t secret_len;
	fl_tls *tls; /* security.ssl.*; NULL: no TLS anywhere */
	int64_t hb_interval_ms;
	int64_t hb_timeout_ms;
	int64_t slot_timeout_ms;
	bool slot_wait; /* wait for busy slots instead of refusing */
	int64_t rpc_timeout_ms;
	char *blob_dir; /* NULL: a private folder under /tmp */
	int default_parallelism;
	int max_parallelism;
	int64_t upload_max;              /* rest.max-upload-size (alias rest.upload.max-size) */
	int64_t blob_max;                /* jobmanager.blob.max-size: the blob store's quota */
	int rest_max_conns;              /* rest.max-connections */
	int64_t rest_request_timeout_ms; /* rest.request-timeout */
	int64_t rest_idle_timeout_ms;    /* rest.idle-timeout */
	int rest_threads;                /* rest.server.numThreads */
	char *web_dir;                   /* web.dir: the built web UI */
	int jobstore_max;
	bool slot_sharing;
	char *ha_dir;               /* high-availability.storageDir; NULL: jobs die with the job manager */
	int64_t inspect_timeout_ms; /* jobmanager.plugin-inspection.timeout */
	int64_t inspect_memory;     /* jobmanager.plugin-inspection.memory (bytes) */
} jm_options;

typedef struct jm {
	jm_options o;
	fl_conf *conf;       /* the effective configuration (read-only after start) */
	char *blob_dir;      /* absolute path */
	bool blob_dir_owned; /* created by us: removed at exit */
	int64_t blob_used;   /* bytes stored, and reserved by uploads in progress (atomic) */

	pthread_mutex_t mu;
	pthread_cond_t monitor_cv; /* wakes the monitor at shutdown */
	pthread_cond_t reaper_cv;  /* wakes the reaper: a task manager lost, shutdown */
	bool stopping;

	jm_tm **tms; /* registered, in registration order */
	size_t ntms, tms_cap;
	jm_tm *graveyard; /* lost; their workers are still to be joined */

	jm_job **jobs; /* in submission order */
	size_t njobs, jobs_cap;

	nng_socket rep;
	fl_rpc_server *rpc; /* rep's handshake and connections */
	uint64_t tm_gen;    /* the last registration's generation */
	bool rpc_running;
	pthread_t rpc_thread, monitor_thread, reaper_thread;
	struct jm_http_server *http; /* the REST server (atomic pointer) */
	struct jm_web *web;          /* the built web UI, or NULL (read-only after start) */
	struct jm_watcher *watchers; /* live output streams (output.c) */
	size_t nwatchers;
	struct jm_operation **ops; /* asynchronous REST operations (savepoints, disposal) */
	size_t nops;
	struct jm_dead_coord *dead_coords; /* coordinators of evicted jobs, destroyed outside mu */

	int64_t start_ms;
	int ha_epoch; /* starts of a job manager on ha_dir (ha.c) */
} jm;

static inline int64_t jm_mono_ms(void) { return fl_mono_ns() / 1000000; }

/* ---- blob.c: the blob store --------------------------------------------- */

/* Create (or adopt the configured) blob folder. FLINC_OK, or FLINC_EIO
 * with the reason in err. Main thread, before the servers start. */
int jm_blob_init(jm *j, char *err, size_t errcap);
/* Remove the folder if jm_blob_init created it (jm.blob_dir, the path,
 * is freed with the model). */
void jm_blob_fini(jm *j);
/* 32 random lowercase hex digits and a NUL into out (33 bytes). */
void jm_random_hex32(char *out);
/* Is id a well-formed blob id ("<32 hex>_<name>", no '/', no "..")? */
bool jm_blob_id_valid(const char *id);
/* The path of blob id if it is valid and exists as a regular file;
 * malloc'ed, or NULL. */
char *jm_blob_path(const jm *j, const char *id);
/* The name the blob was uploaded as (after the "<hex>_" prefix). */
const char *jm_blob_display_name(const char *id);
/* Create a temporary file in the blob folder for an upload to stream into
 * (".upload-<hex>": never a blob id, removed at the next start if left).
 * FLINC_OK with *fd (open for writing) and *path (malloc'ed; the caller
 * closes, and unlinks unless it stores it), or FLINC_EIO with the reason
 * in err. Any thread. */
int jm_blob_tmp_create(jm *j, int *fd, char **path, char *err, size_t errcap);
/* Move a finished temporary file (closed) into the store as a new blob
 * named after filename (sanitized). Its bytes must have been reserved
 * (jm_blob_reserve): they now count as stored. FLINC_OK with *id_out and
 * *path_out malloc'ed (the caller frees), or FLINC_EIO with the reason in
 * err (tmp_path is then removed, the reservation stays the caller's).
 * Any thread. */
int jm_blob_store_file(jm *j, const char *tmp_path, const char *filename, char **id_out, char **path_out,
		       char *err, size_t errcap);
/* Reserve n more bytes of the quota (jobmanager.blob.max-size) for an
 * upload in progress: FLINC_OK, or FLINC_ERANGE (nothing reserved) with
 * the bytes in use in *used. Any thread. */
int jm_blob_reserve(jm *j, int64_t n, int64_t *used);
/* Give back n reserved bytes (an upload refused or abandoned). */
void jm_blob_unreserve(jm *j, int64_t n);
/* Remove a blob (its bytes leave the quota): FLINC_OK, FLINC_ENOENT (no
 * such blob) or FLINC_EIO. */
int jm_blob_remove(jm *j, const char *id);
/* Read a blob whole: FLINC_OK with *data malloc'ed (the caller frees);
 * FLINC_ENOENT, FLINC_ERANGE (more than max bytes) or FLINC_EIO. */
int jm_blob_read(const jm *j, const char *id, int64_t max, uint8_t **data, size_t *len);
/* {"files":[{id, name, uploaded, entry:[]}...]} newest first. */
json_t *jm_blob_list(const jm *j);

/* An uploaded file as rest.c's inspection sees it (the bytes are in the
 * blob store). */
typedef struct jm_part {
	const char *filename; /* as the client named it; may be "" */
	size_t len;
} jm_part;

/* ---- rpc_server.c ---------------------------------------------------------- */

/* Listen on jobmanager.rpc.address:port and start the RPC and monitor
 * threads. FLINC_OK, or FLINC_EIO with the reason in err. Main thread. */
int jm_rpc_start(jm *j, char *err, size_t errcap);
/* Stop the threads, close every socket, join every worker. Main thread,
 * after jm_rest_stop. */
void jm_rpc_stop(jm *j);

/* ---- registry.c: task managers and the monitor ----------------------------- */

/* Register a task manager that asked on connection `from` (fields checked
 * by fl_rpc_check_jm_request). Its control address must be tcp://HOST:PORT
 * with HOST the address `from` connected from (its data address too, when
 * given). An id that is registered already is taken over only from the
 * connection bound to it (the same task manager registering again: the
 * old registration is lost). The connection is bound to the new
 * registration, whose session key goes into key_out; its control socket
 * is dialed and its worker started; it counts once that connection
 * authenticated. FLINC_OK, or with the reason in err FLINC_EINVAL (an
 * address), FLINC_EEXIST (the id belongs to another connection) or
 * FLINC_EIO. RPC thread; takes jm.mu. */
int jm_tm_register(jm *j, const Flinc__RegisterTaskManager *r, const fl_rpc_from *from,
		   uint8_t key_out[FL_AUTH_NONCE], char *err, size_t errcap);
/* A heartbeat on connection `from`: refresh the task manager and take its
 * subtasks' metrics. 1 done, 0 the task manager is unknown (it must
 * register again), -1 `from` does not speak for it (nothing done). Takes
 * jm.mu. */
int jm_tm_heartbeat(jm *j, const Flinc__Heartbeat *hb, const fl_rpc_from *from);
/* May connection `from` speak for task manager tm_id? It must be bound to
 * tm_id, and to its current registration when it is registered (a
 * connection of a registration that is gone keeps speaking for it: its
 * late reports). */
bool jm_tm_speaks_for_locked(jm *j, const char *tm_id, const fl_rpc_from *from);
/* Is `from` bound to a task manager registered now? */
bool jm_tm_from_registered_locked(jm *j, const fl_rpc_from *from);
/* fl_rpc_bind_fn of the RPC socket (ud: the jm): the generation of tm id's
 * registration when proof is made with its session key, else 0. Takes
 * jm.mu. */
uint64_t jm_tm_bind_check(void *ud, const char *id, const char *purpose, const uint8_t *nc, const uint8_t *ns,
			  const uint8_t *proof, size_t prooflen);
/* The registered task manager with this id (connected or not), or NULL. */
jm_tm *jm_tm_find_locked(jm *j, const char *id);
/* Lines kept of each task manager's log and stdout (GET
 * /taskmanagers/:id/log and /stdout). */
#define JM_TM_LOG_KEEP 1000
/* Add lines another process sent (made valid UTF-8, each cut at
 * 2 * FL_LOG_LINE_MAX bytes). */
void jm_lines_add(jm_lines *l, char *const *lines, size_t n);
/* Append the latest lines (at most max_lines), oldest first, to b. */
void jm_lines_text(const jm_lines *l, size_t max_lines, struct fl_strbuf *b);
void jm_lines_free(jm_lines *l);
/* Queue a call for a task manager's worker; takes cmd (freed at once if
 * the worker is stopping). */
void jm_tm_enqueue_locked(jm *j, jm_tm *tm, jm_cmd *cmd);
/* Slots of connected task managers: offered and free. Any pointer may be
 * NULL. */
void jm_slots_locked(const jm *j, int *total, int *free_slots, int *ntms);
/* Start the monitor thread (heartbeat timeouts, jm_sched_tick_locked) and
 * the reaper (the lost task managers' sockets and workers). FLINC_OK or
 * FLINC_EIO. */
int jm_registry_start(jm *j);
/* Set jm.stopping (pipe events are ignored from here on, so shutdown
 * loses no task manager and fails no job) and join the monitor and the
 * reaper. */
void jm_registry_stop(jm *j);
/* After jm_registry_stop and the RPC thread: stop every worker, close
 * every control socket, free every task manager. Without jm.mu. */
void jm_registry_fini(jm *j);

/* ---- scheduler.c -------------------------------------------------------- */

typedef struct jm_submit {
	const char *jar_id;
	char **args; /* program arguments (without argv[0]) */
	int nargs;
	int parallelism;       /* 0: parallelism.default */
	fl_conf *job_conf;     /* per-job overrides, may be NULL; stays the caller's */
	const char *savepoint; /* savepointPath, NULL: none */
	bool allow_non_restored;
	const char *recover_jid; /* ha.c: the job again under its id, waiting for slots */
} jm_submit;

/* Build the job's graph from the stored plugin in an inspection helper
 * process and admit it: FLINC_OK with the job id in jid_out (JM_JID_LEN +
 * 1 bytes), else the reason in err and FLINC_ENOENT (no such jar),
 * FLINC_ECONFIG (a setting of the job), FLINC_ERANGE (parallelism above
 * the limit, not enough slots), FLINC_EPLUGIN (the plugin does not load,
 * crashed, hung or ran out of memory in the helper), FLINC_EGRAPH (its
 * build failed), FLINC_EINVAL (the savepoint does not fit), FLINC_EIO (no
 * helper could start) or FLINC_EEXIST (job id taken). s stays the
 * caller's. Call without jm.mu (blocks for the inspection: milliseconds,
 * at most jobmanager.plugin-inspection.timeout). */
int jm_job_submit(jm *j, const jm_submit *s, char *jid_out, char *err, size_t errcap);
/* A job's configuration: the cluster's (without rest.auth.token), then
 * own (may be NULL) on top. The caller destroys it. Any thread. */
fl_conf *jm_job_conf_new(const jm *j, const fl_conf *own);
/* The job manager's plugin inspection options (timeout, memory limit;
 * other fields zero) into *o. Any thread. */
struct fl_inspect_opts;
void jm_inspect_opts(const jm *j, struct fl_inspect_opts *o);
/* Cancel a job: FLINC_OK (asked, or already ending), FLINC_ENOENT or
 * FLINC_ESTATE (it ended), with the reason in err. Takes jm.mu. */
int jm_job_cancel(jm *j, const char *jid, char *err, size_t errcap);
/* Remove an uploaded plugin: FLINC_OK, FLINC_ENOENT, FLINC_ESTATE (a job
 * that has not ended uses it) or FLINC_EIO, with the reason in err. Takes
 * jm.mu. */
int jm_jar_delete(jm *j, const char *jar_id, char *err, size_t errcap);
jm_job *jm_job_find_locked(jm *j, const char *jid);
/* Add a job (created, or an ended one from the job store) to the job list,
 * which owns it from then on. */
void jm_job_append_locked(jm *j, jm_job *job);
/* jm_job_find_locked, or NULL with FLINC_ENOENT's message in err. */
jm_job *jm_job_get_locked(jm *j, const char *jid, char *err, size_t errcap);
void jm_job_free(jm_job *job);
/* Place waiting jobs on free slots. */
void jm_sched_try_locked(jm *j);
/* A packed command for a task manager's worker queue. */
jm_cmd *jm_cmd_new(jm_cmd_kind kind, const jm_job *job, const Flinc__Envelope *env);
/* Fail the job's attempt with msg (restart by the strategy, or FAILED). */
void jm_sched_fail_job_locked(jm *j, jm_job *job, const char *msg);
/* Stop with savepoint, after the savepoint: cancel the subtasks, then FINISHED. */
void jm_sched_stop_job_locked(jm *j, jm_job *job);
/* Deadlines: slot requests, unconfirmed cancellations. */
void jm_sched_tick_locked(jm *j, int64_t now_mono);
/* A task manager is gone: fail every job with a live subtask there. */
void jm_sched_tm_lost_locked(jm *j, const char *tm_id, const char *host, const char *reason);
/* A TaskStatus report; returns NULL or a reason to refuse it. */
const char *jm_sched_task_status_locked(jm *j, const Flinc__TaskStatus *st);
/* Metrics of one subtask from a heartbeat. */
void jm_sched_metrics_locked(jm *j, const char *tm_id, const Flinc__TaskMetrics *m);
/* A worker finished a call: rc is 0 or an nng error; err the reason when
 * the task manager refused. */
void jm_sched_cmd_done_locked(jm *j, jm_tm *tm, const jm_cmd *c, int rc, const char *err);

/* ---- views.c: documents REST serves (call with jm.mu held) ------------ */

json_t *jm_view_overview_locked(jm *j);
json_t *jm_view_jobs_locked(jm *j);
json_t *jm_view_jobs_overview_locked(jm *j);
json_t *jm_view_job_locked(jm *j, jm_job *job);
json_t *jm_view_vertex_locked(jm *j, jm_job *job, jm_vertex *v);
json_t *jm_view_backpressure_locked(jm *j, jm_job *job, jm_vertex *v);
json_t *jm_view_exceptions_locked(jm *j, jm_job *job);
json_t *jm_view_checkpoints_locked(jm *j, jm_job *job);
json_t *jm_view_taskmanagers_locked(jm *j);
json_t *jm_view_taskmanager_locked(jm *j, jm_tm *tm);
/* GET /jobs/:jid/config (Flink's execution-config; secrets hidden). */
json_t *jm_view_job_config_locked(jm *j, jm_job *job);
/* GET /jobs/:jid/checkpoints/config; NULL when the job does not checkpoint. */
json_t *jm_view_checkpoint_config_locked(jm *j, jm_job *job);
/* GET /jobs/:jid/vertices/:vid/subtasks/metrics: the ids (get NULL), else
 * min/max/avg/sum (agg: a comma list of those, NULL: all) of the ids in
 * get (a comma list; unknown ids left out). */
json_t *jm_view_subtask_metrics_locked(jm *j, jm_job *job, jm_vertex *v, const char *get, const char *agg);
/* Jobs newest first, which: 0 all, 1 not ended, 2 ended; a page of them
 * and "total". */
json_t *jm_view_jobs_page_locked(jm *j, int which, size_t offset, size_t limit);
/* GET /jobs/dashboard... the web UI's overview in one document. */
json_t *jm_view_dashboard_locked(jm *j);
/* The Prometheus text exposition; malloc'ed. */
char *jm_view_metrics_locked(jm *j);

/* ---- job store for job manager restarts (ha.c) -------------------------- */

int jm_ha_init(jm *j, char *err, size_t errcap); /* folders, epoch; FLINC_OK or FLINC_EIO */
void jm_ha_store_job(jm *j, const char *jid, const jm_submit *s);
void jm_ha_remove_job(jm *j, const char *jid);
/* The job ended: its result goes into the store (results/<jid>.json),
 * then its record goes (so a restart never runs it again). j->mu held. */
void jm_ha_job_ended_locked(jm *j, jm_job *job);
void jm_ha_forget_result(jm *j, const char *jid); /* evicted: its result goes too */
/* Load the stored results (the newest jobstore.max-capacity of them) as
 * ended jobs, then resubmit the stored jobs that have none (without
 * jm.mu). */
void jm_ha_recover(jm *j);

/* archive.c: an ended job as a document (j->mu held), and a document back
 * as an ended job (NULL with err when malformed). */
json_t *jm_archive_job_locked(jm *j, jm_job *job);
jm_job *jm_archive_load(json_t *doc, char *err, size_t errcap);

/* ---- checkpoints, restarts, savepoints (checkpoints.c) ---------------- */

struct fl_job_desc;
/* At submission, before the job is published (no lock needed): read the
 * checkpoint and restart settings, check a savepoint to start from against
 * the job's description d (from its inspection), create the coordinator.
 * FLINC_OK, or with the reason in err FLINC_ECONFIG (a setting) or
 * FLINC_EINVAL (the savepoint). */
int jm_cp_job_init(jm *j, jm_job *job, const struct fl_job_desc *d, const jm_submit *s, char *err,
		   size_t errcap);
/* At submission, before anything else (no lock; may create
 * state.checkpoints.dir): the job's own configuration keys (known, not the
 * cluster's, in range), its state.savepoints.dir and savepointPath inside
 * the allowed folders (savepoints, and checkpoints for reading; unless
 * state.savepoints.allow-any-dir), and a checkpoint folder the job manager
 * can create and write. FLINC_OK, or FLINC_ECONFIG / FLINC_EINVAL with
 * one line in err naming the key or path. */
int jm_cp_submit_check(jm *j, const jm_submit *s, char *err, size_t errcap);
/* Free the job's checkpoint parts (coordinator destroyed: not with jm.mu
 * held unless jm_cp_job_retire_locked ran first). */
void jm_cp_job_free(jm_job *job);
/* Eviction under jm.mu: hand the coordinator to the monitor, which
 * destroys it outside the lock (jm_cp_reap). */
void jm_cp_job_retire_locked(jm *j, jm_job *job);
void jm_cp_reap(jm *j); /* call without jm.mu */

/* Job state hooks, with jm.mu: every subtask runs (start checkpointing);
 * the attempt ends (stop it); every subtask ended its input (final). */
void jm_cp_started_locked(jm *j, jm_job *job);
void jm_cp_stopped_locked(jm_job *job, const char *why);
void jm_cp_all_ended_locked(jm_job *job);
/* May the failed job restart (restart strategy, attempts left)? Then the
 * delay before the redeployment in *delay_ms. */
bool jm_restart_allowed_locked(jm_job *job, int64_t *delay_ms);
/* Prepare the next attempt: pick the latest completed checkpoint (falling
 * back past unusable ones, logged), attempt + 1, subtasks reset. */
void jm_restart_prepare_locked(jm *j, jm_job *job);

/* AcknowledgeCheckpoint from a task manager (RPC thread, takes jm.mu). */
const char *jm_cp_ack(jm *j, const Flinc__AcknowledgeCheckpoint *a);

/* REST: trigger a savepoint (stop: then stop the job). FLINC_OK with the
 * request id in reqid (33 bytes), or with the reason in err FLINC_ENOENT
 * (no such job), FLINC_ECONFIG (no checkpoints, no folder) or FLINC_ESTATE
 * (not RUNNING). Takes jm.mu. */
int jm_savepoint_trigger(jm *j, const char *jid, const char *target, bool stop, char *reqid, char *err,
			 size_t errcap);
/* REST: dispose of a savepoint (done at once; polled like the others).
 * FLINC_OK with the request id in reqid: the outcome is the operation's;
 * FLINC_EINVAL with err for a path outside state.savepoints.dir (unless
 * state.savepoints.allow-any-dir), decided by name before anything is
 * opened. */
int jm_savepoint_dispose(jm *j, const char *path, char *reqid, char *err, size_t errcap);
/* The operation's document {"status":{"id"}, "operation":{...}}; NULL if
 * unknown (jid NULL: a disposal). */
json_t *jm_operation_view(jm *j, const char *jid, const char *reqid);
json_t *jm_view_dashboard_config(jm *j);
json_t *jm_view_cluster_config(jm *j);
/* A copy of s that is valid UTF-8 on one line (bad bytes and control
 * characters become '?'): for every string another process or a plugin
 * gave us before it goes into JSON. NULL gives "". malloc'ed. */
char *jm_utf8_dup(const char *s);
/* The vertex of a job by its id as shown ("%016llx"), or NULL. */
jm_vertex *jm_vertex_find(jm_job *job, const char *vid);
/* A vertex id as shown: 16 hex digits. */
void jm_vertex_id_str(uint64_t id, char out[17]);
/* A configuration key whose value is a secret: shown (and archived) as ******. */
bool jm_conf_key_secret(const char *k);
/* A configuration as a JSON object of strings; redact: secrets as ******. */
json_t *jm_conf_json(const fl_conf *c, bool redact);

/* ---- output.c: live output of the sinks (Server-Sent Events) ------------ */

typedef struct jm_watcher jm_watcher;
struct jm_http_stream;
/* Stream the live output of job jid to st (begun, text/event-stream) until
 * the client leaves or jm_output_close_all. */
void jm_output_watch_locked(jm *j, const char *jid, struct jm_http_stream *st);
/* The ids of the watched jobs (pointers valid under jm.mu), at most cap. */
size_t jm_output_watched_locked(jm *j, char **ids, size_t cap);
/* A heartbeat's sink output to the watchers of its jobs; pings. */
void jm_output_heartbeat_locked(jm *j, const Flinc__Heartbeat *hb);
/* End every stream (before the HTTP server stops). Takes jm.mu. */
void jm_output_close_all(jm *j);

/* ---- rest.c -------------------------------------------------------------- */

/* Start the HTTP server: FLINC_OK, or FLINC_ECONFIG/FLINC_EIO with the
 * reason in err. Main thread. */
int jm_rest_start(jm *j, char *err, size_t errcap);
/* Stop it: no new requests, every connection closed, handlers in flight
 * waited for (5 s at most). False when one is still running (stuck in a
 * plugin, say): it may still use the model, so the caller must not free
 * it. Main thread. */
bool jm_rest_stop(jm *j);

#endif
