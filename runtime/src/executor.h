/*
 * executor.h - run a job's subtasks in this process: all of them (`flinc
 * local`, tests, benchmarks) or the ones a placement puts here (a task
 * manager). Every subtask is a thread; a channel between two subtasks of
 * this process is an in-process fl_channel, one to or from another process
 * comes from the placement's remote_out/remote_in (the data plane).
 *
 * The execution's interface is in the runtime's door (fl_runtime.h,
 * "executing subtasks"); here are the extras for the engine and its tests.
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

/* fl_exec_start, then fl_exec_wait. */
int fl_exec_run(fl_exec *x, fl_run_stats *stats, char *err, size_t errcap);
/* The plan the execution made of its env (valid until destroy). Any
 * thread. */
const fl_plan *fl_exec_plan(const fl_exec *x);

#endif
