/*
 * executor.h - run a whole job graph inside this process (`flinc local`,
 * tests, benchmarks): every subtask a thread, every exchange an in-process
 * channel.
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

typedef struct fl_local fl_local;

/* Plan and wire the job; nothing runs yet. On error writes one line. */
int fl_local_create(const flinc_env *e, const fl_conf *conf, fl_local **out, char *err, size_t errcap);
/* Run to the end (or failure, or fl_local_cancel from another thread or a
 * signal handler). Returns FLINC_OK, FLINC_ECANCELED, or the first task
 * failure, whose message goes to err. */
int fl_local_run(fl_local *l, fl_run_stats *stats, char *err, size_t errcap);
void fl_local_cancel(fl_local *l);
void fl_local_destroy(fl_local *l);

#endif
