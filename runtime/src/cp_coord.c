/*
 * cp_coord.c - the runtime's side of a checkpoint coordinator
 * (checkpoint/coord.h): one made for a job (its description), and the tasks'
 * acknowledgements handed to it. The job manager (one coordinator per job
 * in the cluster) and `flinc local` (local.c) wire their coordinators
 * through these, so both describe a job and an acknowledgement alike.
 */
#include <stdlib.h>

#include "../../checkpoint/coord.h"
#include "graph.h"

int fl_cp_coord_create(const fl_job_desc *d, const fl_conf *conf, const fl_cp_conf *cc, const char *job_id,
		       const char *jobdir, int64_t next_id, const fl_coord_ops *ops, fl_coord **out,
		       char *err, size_t errcap)
{
	const char *be = conf ? fl_conf_get(conf, "state.backend") : NULL;
	fl_coord_params cp = { .job_id = job_id,
			       .jobdir = jobdir,
			       .interval_ms = cc->interval_ms,
			       .timeout_ms = cc->timeout_ms,
			       .min_pause_ms = cc->min_pause_ms,
			       .tolerable_failures = cc->tolerable,
			       .retain = cc->retain,
			       .next_id = next_id,
			       .max_parallelism = d->max_parallelism,
			       .key_hash = d->key_hash,
			       .backend = be ? be : "hashmap",
			       .operators = (const char **)d->uids,
			       .n_operators = d->n_uids,
			       .backoff_initial_ms = cc->backoff_initial_ms,
			       .backoff_max_ms = cc->backoff_max_ms };
	return fl_coord_create(&cp, ops, out, err, errcap);
}

void fl_cp_ack_deliver(fl_coord *c, const fl_cp_ack_info *a)
{
	if (a->rc) {
		fl_coord_decline(c, a->attempt, a->id, a->vertex, a->subtask, a->err);
		return;
	}
	fl_coord_ack ack = { .attempt = a->attempt,
			     .id = a->id,
			     .vertex = a->vertex,
			     .subtask = a->subtask,
			     .ended = a->ended,
			     .file = a->file,
			     .shared = (const char *const *)a->shared,
			     .n_shared = a->n_shared,
			     .state_size = a->state_size,
			     .checkpointed_size = a->checkpointed_size,
			     .align_ms = a->align_ms,
			     .sync_ms = a->sync_ms,
			     .async_ms = a->async_ms };
	fl_coord_acknowledge(c, &ack);
}
