/*
 * tm.h - the task manager's insides, shared by the files of taskmanager/.
 *
 * A task manager is one process with these threads (each file owns one):
 *
 *   main      (main.c)     options, start-up, then sigwait; SIGINT/SIGTERM
 *                          run the shutdown (cancel tasks, report, exit 0)
 *   control   (control.c)  REP socket: DeployJob and CancelJob from the job
 *                          manager, one Ack each
 *   session   (session.c)  registration with the job manager (retried every
 *                          second) and heartbeats with task metrics
 *   reporter  (reporter.c) a queue of TaskStatus messages sent in order
 *   monitor   (monitor.c)  polls the subtasks' states every 20 ms, queues a
 *                          TaskStatus per change, and tears down job
 *                          instances whose subtasks all ended
 *
 * plus the subtask threads of each running job instance (runtime) and the
 * data service's own threads (fl_netx). The other files hold
 * no thread: deploy.c (DeployJob -> running subtasks, on the control
 * thread), instance.c (cancel, lost data peers, metrics, teardown),
 * blob.c (the plugin cache), jmconn.c (a REQ socket to the job manager).
 *
 * The job instances (one per deployed job id + attempt) are a list under
 * tm->mu: deploy adds, the monitor removes, cancel / peer loss / heartbeat
 * read it. An instance is destroyed only after it left the list, so any
 * thread holding tm->mu may touch the instances in it.
 *
 * Each thread that talks to the job manager has its own REQ socket
 * (tm_jm_*): nng's REQ carries one request at a time, and a slow blob
 * download must not hold back heartbeats.
 */
#ifndef FL_TM_H
#define FL_TM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>

#include "fl_runtime.h"
#include "fl_tls.h"
#include "rpc.h"

#define TM_LOG "taskmanager"

typedef struct tm_server tm_server;

/* ---- configuration (main.c) ------------------------------------------- */

typedef struct tm_config {
	fl_conf *conf;          /* everything from --config and -D (owned) */
	const char *jm_host;    /* jobmanager.rpc.address (points into conf or a literal) */
	int jm_port;            /* jobmanager.rpc.port */
	int slots;              /* taskmanager.numberOfTaskSlots */
	const char *host;       /* bound: taskmanager.bind-host, else taskmanager.host */
	char advertise[256];    /* host others reach us at: host, or this machine's name for 0.0.0.0 / :: */
	int rpc_port;           /* taskmanager.rpc.port, 0 = OS-chosen */
	int data_port;          /* taskmanager.data.port, 0 = OS-chosen */
	const char *tmp_parent; /* taskmanager.tmp.dir (the private folder goes inside) */
	int64_t heartbeat_ms;   /* heartbeat.interval */
	int64_t heartbeat_timeout_ms; /* heartbeat.timeout, until the JM says otherwise */
	struct fl_managed *managed;   /* taskmanager.memory.managed.size: held for the process's life */
} tm_config;

/* ---- a request socket to the job manager (jmconn.c) -------------------- */

typedef struct tm_jm {
	nng_socket sock;
	bool open;
	fl_rpc_client cli; /* the handshake on each new connection */
	char why[512];     /* the last call's failure, when there is more to say than its code */
} tm_jm;

/* Dial the job manager (tm->jm_url) in the background (reconnecting
 * forever); each connection authenticates with tm->secret and, once the
 * session registered, binds itself to the registration (tm->binding).
 * Replies are awaited at most recv_ms. Max reply size: max_bytes. c must
 * not move while open. */
int tm_jm_open(tm_jm *c, tm_server *tm, int32_t recv_ms, size_t max_bytes);
/* One request, one reply (*reply freed with fl_rpc_free). Returns 0 or an
 * nng error: NNG_EUNREACHABLE when no connection to the job manager came
 * up within a second, NNG_ETIMEDOUT when it did not answer, NNG_EPERM when
 * the connection did not authenticate (a different secret) or the job
 * manager does not let it speak for this task manager, NNG_EPROTO when the
 * job manager does not authenticate at all or the reply is not the
 * expected kind (then *reply may be an Ack carrying the job manager's
 * reason, or NULL). Thread: the socket's owner only. */
int tm_jm_call(tm_jm *c, const Flinc__Envelope *req, Flinc__Envelope__BodyCase want, Flinc__Envelope **reply);
/* One line on why the last call failed with rc. */
const char *tm_jm_why(const tm_jm *c, int rc);
void tm_jm_close(tm_jm *c);

/* ---- job instances (instance.c, deploy.c, monitor.c) ------------------ */

typedef struct tm_metrics {
	uint64_t records_in, records_out, bytes_in, bytes_out;
	int64_t backpressured_ms, watermark;
	uint64_t rejected, dead_letters;
	int64_t idle_ms;
	uint32_t nlag; /* a Kafka source's partitions; topic valid while the task lives */
	struct {
		const char *topic;
		int32_t partition;
		int64_t offset, lag;
	} lag[FL_TASK_MAX_LAG];
	fl_lat_snap latency; /* count 0: not a sink, or no marker yet */
} tm_metrics;

typedef struct tm_sub {
	uint32_t vertex;
	int subtask;
	fl_task *task;
	int reported; /* Flinc__TaskState last queued, -1 none */
} tm_sub;

typedef struct tm_remote {
	uint64_t id;      /* fl_channel_id: how netx names it */
	const char *peer; /* data address, points into the instance's placement table */
	bool out;
	fl_channel *ch; /* the local end (out: the producer writes into it) */
	uint32_t nbufs;
} tm_remote;

typedef struct tm_instance tm_instance;
struct tm_instance {
	tm_instance *next;
	tm_server *tm;
	char *job_id;
	int attempt;
	char *job_name;
	uint64_t graph_hash;

	fl_conf *conf; /* the job's configuration from DeployJob */
	int argc;
	char **argv; /* owned copies */
	fl_plugin *plugin;
	flinc_env *env;
	fl_plan *plan; /* our own plan of env, to map edges to vertices */
	char ***addr;  /* [vertex][subtask] -> data address (owned) */
	bool **mine;   /* [vertex][subtask] -> runs here */
	fl_exec *exec;

	tm_remote *remote; /* data-plane channels of this instance */
	size_t nremote;
	char chan_err[768]; /* why netx refused a channel, for the deploy's error */

	tm_sub *subs; /* the subtasks of this process */
	uint32_t nsubs;

	/* Checkpointing (DeployJob.checkpoint_dir set): the subtasks snapshot
	 * and acknowledge through the reporter; restore: where they started
	 * from (owned, closed at destroy, after the execution). */
	bool checkpointing;
	fl_restore *restore;

	/* Set under tm->mu. canceled: the job manager (or shutdown) asked;
	 * fail_reason: why we canceled it ourselves (a lost peer), reported as
	 * FAILED. */
	bool canceled;
	char fail_reason[256];
	int64_t t_start_ns;
	/* When every subtask ended: out channels may still hold buffers the
	 * data service has not sent (waiting for credit); the instance is torn
	 * down once they drained, or at this deadline. 0: not ended yet. */
	int64_t drain_deadline_ns;
};

/* Build and start the subtasks a DeployJob places here. On success the
 * instance is in tm's list and running; on failure nothing is left and err
 * holds one line. Thread: control. */
int tm_deploy(tm_server *tm, const Flinc__DeployJob *d, char *err, size_t errcap);
/* Cancel the instances of job_id (attempt < 0: all attempts); returns how
 * many. stop: the job stops after a savepoint, so the tasks commit the
 * completions they were sent before they leave (fl_exec_stop). Any thread. */
int tm_cancel(tm_server *tm, const char *job_id, int attempt, bool stop);
/* Cancel everything (shutdown, job manager lost). reason NULL: report
 * CANCELED; else report the tasks that end canceled as FAILED with it. */
int tm_cancel_all(tm_server *tm, const char *reason);
/* Free an instance that is not (or no longer) in the list: joins its
 * threads first. Thread: monitor or control. */
void tm_instance_destroy(tm_instance *in);
/* Read a subtask's metrics (any thread; atomics). */
void tm_metrics_read(const fl_task *t, tm_metrics *m);
/* netx callback: a data peer was lost; fail the instances talking to it.
 * Thread: the data service's. */
void tm_on_peer_lost(void *ud, const char *peer, int err, const char *why);

/* The cached plugin file for blob_id (downloaded on first use). Writes
 * the path into path. Thread: control. */
int tm_blob_fetch(tm_server *tm, const char *blob_id, char *path, size_t pathcap, char *err, size_t errcap);
/* Remove the private folder and everything in it. */
void tm_tmpdir_remove(const char *dir);

/* ---- status reports (reporter.c) -------------------------------------- */

/* Queue a TaskStatus (copied). Any thread. */
void tm_report(tm_server *tm, const tm_instance *in, const tm_sub *s, int state, const char *error,
	       const tm_metrics *m);
/* Queue an AcknowledgeCheckpoint (copied), in order with the statuses.
 * Any thread. */
void tm_report_ack(tm_server *tm, const char *job_id, const fl_cp_ack_info *a);
int tm_reporter_start(tm_server *tm);
/* Wait until the queue is empty or deadline_ms passed, then stop. */
void tm_reporter_stop(tm_server *tm, int64_t flush_ms);

/* ---- threads ---------------------------------------------------------- */

int tm_control_start(tm_server *tm, char *err, size_t errcap);
void tm_control_stop(tm_server *tm);
int tm_session_start(tm_server *tm);
void tm_session_stop(tm_server *tm);
int tm_monitor_start(tm_server *tm);
void tm_monitor_stop(tm_server *tm);
/* stdout.c: the task manager's stdout when it is a regular file, read back
 * for the job manager (GET /taskmanagers/:id/stdout). init once at start;
 * collect appends the lines not yet taken to b and returns the offset after
 * them, which taken() records once the job manager took the heartbeat.
 * The session thread's own. */
void tm_stdout_init(void);
const char *tm_stdout_file(void); /* "" when stdout is not a regular file */
off_t tm_stdout_collect(struct fl_strbuf *b);
void tm_stdout_taken(off_t upto);

/* Wait until no instance is left or ms passed; true when none is left. */
bool tm_wait_idle(tm_server *tm, int64_t ms);

/* ---- the process ------------------------------------------------------ */

typedef struct tm_reporter tm_reporter;

struct tm_server {
	tm_config cfg;
	char tm_id[300];
	char jm_url[300];
	char control_address[300];
	char data_address[300];
	char tmp_dir[4096]; /* private plugin cache, removed at exit */

	fl_netx *netx;

	/* security.cluster.secret (NULL: none, loopback only); the
	 * registration's id and session key, which the RPC connections prove
	 * (set by the session thread, read by every tm_jm). */
	uint8_t *secret;
	size_t secret_len;
	fl_rpc_binding binding;
	/* security.ssl.* (NULL: no TLS): RPC, control and data connections
	 * use it when security.ssl.enabled is on. */
	fl_tls *tls;

	/* stop: set once at shutdown; threads sleeping in tm_sleep wake up. */
	_Atomic bool stopping;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;

	pthread_mutex_t mu;     /* the instance list */
	pthread_cond_t idle_cv; /* signalled when an instance leaves the list */
	tm_instance *instances;

	/* control */
	nng_socket rep;
	fl_rpc_server *ctl; /* rep's handshake */
	pthread_t control_thread;
	bool control_running;
	tm_jm blob_jm; /* control thread's socket to the JM (blobs) */

	/* session */
	pthread_t session_thread;
	bool session_running;
	_Atomic int64_t hb_interval_ms, hb_timeout_ms;

	/* monitor */
	pthread_t monitor_thread;
	bool monitor_running;

	tm_reporter *reporter;
};

/* Sleep ms, or less when the task manager stops. Returns !stopping. */
bool tm_sleep(tm_server *tm, int64_t ms);

#endif
