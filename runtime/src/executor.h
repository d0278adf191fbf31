/*
 * executor.h - run a job's subtasks in this process: all of them (`flinc
 * local`, tests, benchmarks) or the ones a placement puts here (a task
 * manager). Every subtask is a thread; a channel between two subtasks of
 * this process is an in-process fl_channel, one to or from another process
 * comes from the placement's remote_out/remote_in (the data plane).
 *
 * Ownership: the execution owns its tasks and its in-process channels;
 * the placement owns the remote ends it hands out. Teardown is close
 * (fl_exec_cancel) -> stop (fl_exec_wait: every task thread joined; a
 * task gives its held buffers back before its thread ends) -> the
 * placement closes its remote ends (they signal the tasks' notifies until
 * then) -> fini (fl_exec_destroy: tasks, then local channels). See
 * exchange.h, "Ownership".
 */
#ifndef FL_EXECUTOR_H
#define FL_EXECUTOR_H

#include "graph.h"
#include "util.h"

typedef struct fl_run_stats {
	double seconds;            /* wall time from start to the last task's end */
	uint64_t source_records;   /* records the sources emitted */
	uint64_t sink_records;     /* records the sinks received */
	uint64_t rejected;         /* malformed records counted anywhere */
	uint64_t late_dropped;     /* window records dropped as too late */
} fl_run_stats;

struct fl_task;
struct fl_channel;
struct fl_notify;
struct fl_plan;

/* Where subtasks run. NULL placement: everything here. */
typedef struct fl_placement {
	/* Does subtask `subtask` of vertex `vertex` run in this process? */
	bool (*here)(void *ud, uint32_t vertex, int subtask);
	/* The local end of a channel of env edge `edge` from producer subtask
	 * i (here) to consumer subtask j (elsewhere), or the reverse. The
	 * returned channel stays owned by the placement (the data plane).
	 * NULL fails the job creation. */
	struct fl_channel *(*remote_out)(void *ud, size_t edge, int i, int j, struct fl_notify *producer,
					 uint32_t nbufs, uint32_t bufsize);
	struct fl_channel *(*remote_in)(void *ud, size_t edge, int i, int j, struct fl_notify *consumer,
					uint32_t nbufs, uint32_t bufsize);
	/* Optional: fl_exec_create failed after handing out remote ends;
	 * close them now, before the tasks (whose notifies they signal) are
	 * freed. */
	void (*release)(void *ud);
	void *ud;
} fl_placement;

typedef struct fl_exec fl_exec;

/* Plan and wire the job's subtasks of this process; nothing runs yet. On
 * error writes one line to err. */
int fl_exec_create(const flinc_env *e, const fl_conf *conf, const fl_placement *pl, fl_exec **out, char *err,
		   size_t errcap);
/* Start every subtask thread. */
int fl_exec_start(fl_exec *x, char *err, size_t errcap);
/* Wait for every subtask to end. Returns FLINC_OK, FLINC_ECANCELED, or the
 * first task failure, whose message goes to err. */
int fl_exec_wait(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap);
/* Start and wait. */
int fl_exec_run(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap);
/* Cancel every subtask (any thread; not from a signal handler). */
void fl_exec_cancel(fl_exec *x);
/* Checkpointing (snapshot.h), before start: every subtask of this process
 * snapshots into setup->jobdir at checkpoints, acknowledges through
 * setup->ack (on an upload thread), restores from setup->restore, and
 * waits for the final checkpoint when its input ended. */
struct fl_cp_setup;
int fl_exec_set_checkpointing(fl_exec *x, const struct fl_cp_setup *setup, char *err, size_t errcap);
/* Tell every subtask here: checkpoint id starts (sources and ended tasks
 * take it), completed (sinks commit), or completed as the final one. */
void fl_exec_trigger(fl_exec *x, int64_t id, bool savepoint);
void fl_exec_complete(fl_exec *x, int64_t id, bool final);
/* Every subtask here has ended its input (or ended altogether). */
bool fl_exec_all_ended(fl_exec *x);

/* The subtasks of this process (valid until destroy). */
struct fl_task **fl_exec_tasks(fl_exec *x, uint32_t *n);
const struct fl_plan *fl_exec_plan(const fl_exec *x);
/* Free the tasks and the local channels. Tasks still running are
 * canceled and joined first, so destroy is safe at any point; remote ends
 * handed out by the placement must be closed after the tasks were joined
 * (fl_exec_wait) and before this call. Not from a task thread. NULL: no-op. */
void fl_exec_destroy(fl_exec *x);

#endif
