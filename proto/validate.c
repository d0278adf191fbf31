/*
 * validate.c - bytes to an Envelope, and the checks of what each socket
 * takes (rpc.h, "checks"). The handlers behind them (the job manager's
 * rpc_server.c, the task manager's control.c) rely on these: every id they
 * use is printable and bounded, every count bounded, every submessage
 * they dereference present. No socket and no daemon state is needed, so
 * the fuzz target (tests/fuzz/rpc_fuzz.c) runs them on any bytes.
 */
#include <stdio.h>
#include <string.h>

#include "fl_base.h"
#include "rpc.h"

#define JOB_ID_MAX 128          /* job ids are 32 hex digits; room to spare */
#define ADDRESS_MAX 512         /* control and data addresses */
#define TEXT_MAX (64u << 10)    /* an error line, a path */
#define COUNT_MAX (1u << 20)    /* metrics, placements, shared files, config entries */
#define OUTPUT_RECORDS_MAX 1024 /* live-output records of one sink subtask in one heartbeat */
#define OUTPUT_RECORD_MAX 4096  /* bytes of one of them */

bool fl_rpc_printable(const char *s, size_t max)
{
	if (!s) return false;
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] >= 0x7f || n >= max) return false;
	return n > 0;
}

/* Is s present and at most max bytes (any content)? */
static bool bounded(const char *s, size_t max) { return s && strnlen(s, max + 1) <= max; }

int fl_rpc_decode(const void *buf, size_t len, Flinc__Envelope **out, char *err, size_t errcap)
{
	*out = flinc__envelope__unpack(NULL, len, buf);
	if (*out) return FLINC_OK;
	return fl_errf(err, errcap, FLINC_EPROTO, "malformed request: not a flinc Envelope (%zu bytes)", len);
}

static int bad(char *err, size_t errcap, const char *what)
{
	return fl_errf(err, errcap, FLINC_EPROTO, "malformed request: %s", what);
}

static bool metrics_ok(const Flinc__TaskMetrics *m) { return !m || fl_rpc_printable(m->job_id, JOB_ID_MAX); }

static int check_register(const Flinc__RegisterTaskManager *r, char *err, size_t errcap)
{
	if (!fl_rpc_printable(r->tm_id, FL_RPC_ID_MAX))
		return bad(err, errcap, "tm_id must be 1 to 256 printable ASCII characters without spaces");
	if (!fl_rpc_printable(r->control_address, ADDRESS_MAX))
		return bad(err, errcap, "control_address must be 1 to 512 printable ASCII characters");
	if (!bounded(r->data_address, ADDRESS_MAX) ||
	    (r->data_address[0] && !fl_rpc_printable(r->data_address, ADDRESS_MAX)))
		return bad(err, errcap, "data_address must be up to 512 printable ASCII characters");
	if (r->slots < 1 || r->slots > 65536)
		return fl_errf(err, errcap, FLINC_EPROTO, "slots must be from 1 to 65536 (got %d)", r->slots);
	if (!bounded(r->host, FL_RPC_ID_MAX)) return bad(err, errcap, "host is longer than 256 bytes");
	return FLINC_OK;
}

static int check_heartbeat(const Flinc__Heartbeat *hb, char *err, size_t errcap)
{
	if (!fl_rpc_printable(hb->tm_id, FL_RPC_ID_MAX))
		return bad(err, errcap, "Heartbeat without a valid tm_id");
	if (hb->n_metrics > COUNT_MAX) return bad(err, errcap, "Heartbeat with too many metrics");
	for (size_t i = 0; i < hb->n_metrics; i++)
		if (!hb->metrics[i] || !metrics_ok(hb->metrics[i]))
			return bad(err, errcap, "Heartbeat metrics without a valid job_id");
	if (hb->n_output > COUNT_MAX) return bad(err, errcap, "Heartbeat with too much sink output");
	for (size_t i = 0; i < hb->n_output; i++) {
		const Flinc__SinkOutput *o = hb->output[i];
		if (!o || !fl_rpc_printable(o->job_id, JOB_ID_MAX))
			return bad(err, errcap, "Heartbeat sink output without a valid job_id");
		if (o->n_records > OUTPUT_RECORDS_MAX)
			return bad(err, errcap, "Heartbeat sink output with too many records");
		for (size_t k = 0; k < o->n_records; k++)
			if (o->records[k].len > OUTPUT_RECORD_MAX)
				return bad(err, errcap, "Heartbeat sink output with a record over 4 KiB");
	}
	return FLINC_OK;
}

static int check_status(const Flinc__TaskStatus *st, char *err, size_t errcap)
{
	if (!fl_rpc_printable(st->tm_id, FL_RPC_ID_MAX) || !fl_rpc_printable(st->job_id, JOB_ID_MAX))
		return bad(err, errcap, "TaskStatus without a valid tm_id or job_id");
	if ((int)st->state < FLINC__TASK_STATE__CREATED || (int)st->state > FLINC__TASK_STATE__ENDED)
		return fl_errf(err, errcap, FLINC_EPROTO, "malformed request: TaskStatus with state %d",
			       (int)st->state);
	if (!bounded(st->error, TEXT_MAX)) return bad(err, errcap, "TaskStatus error longer than 64 KiB");
	if (!metrics_ok(st->metrics)) return bad(err, errcap, "TaskStatus metrics without a valid job_id");
	return FLINC_OK;
}

static int check_cp_ack(const Flinc__AcknowledgeCheckpoint *a, char *err, size_t errcap)
{
	if (!fl_rpc_printable(a->tm_id, FL_RPC_ID_MAX) || !fl_rpc_printable(a->job_id, JOB_ID_MAX))
		return bad(err, errcap, "AcknowledgeCheckpoint without a valid tm_id or job_id");
	if (!bounded(a->error, TEXT_MAX) || !bounded(a->path, TEXT_MAX) || !bounded(a->native, TEXT_MAX))
		return bad(err, errcap, "AcknowledgeCheckpoint with a field longer than 64 KiB");
	if (a->n_shared > COUNT_MAX)
		return bad(err, errcap, "AcknowledgeCheckpoint with too many shared files");
	for (size_t i = 0; i < a->n_shared; i++)
		if (!bounded(a->shared[i], TEXT_MAX))
			return bad(err, errcap, "AcknowledgeCheckpoint with a malformed shared file");
	return FLINC_OK;
}

int fl_rpc_check_jm_request(const Flinc__Envelope *env, char *err, size_t errcap)
{
	switch (env->body_case) {
	case FLINC__ENVELOPE__BODY_REGISTER:
		return env->register_ ? check_register(env->register_, err, errcap)
				      : bad(err, errcap, "empty RegisterTaskManager");
	case FLINC__ENVELOPE__BODY_HEARTBEAT:
		return env->heartbeat ? check_heartbeat(env->heartbeat, err, errcap)
				      : bad(err, errcap, "empty Heartbeat");
	case FLINC__ENVELOPE__BODY_STATUS:
		return env->status ? check_status(env->status, err, errcap)
				   : bad(err, errcap, "empty TaskStatus");
	case FLINC__ENVELOPE__BODY_CHECKPOINT_ACK:
		return env->checkpoint_ack ? check_cp_ack(env->checkpoint_ack, err, errcap)
					   : bad(err, errcap, "empty AcknowledgeCheckpoint");
	case FLINC__ENVELOPE__BODY_BLOB_REQUEST:
		if (!env->blob_request || !fl_rpc_printable(env->blob_request->blob_id, FL_RPC_ID_MAX))
			return bad(err, errcap, "BlobRequest without a valid blob_id");
		return FLINC_OK;
	default:
		return fl_errf(err, errcap, FLINC_EPROTO,
			       "unexpected request for the job manager (message kind %d)",
			       (int)env->body_case);
	}
}

static int check_deploy(const Flinc__DeployJob *d, char *err, size_t errcap)
{
	if (!fl_rpc_printable(d->job_id, JOB_ID_MAX)) return bad(err, errcap, "DeployJob: invalid job id");
	if (d->attempt < 0 || d->parallelism < 1 || d->parallelism > 32768)
		return fl_errf(err, errcap, FLINC_EPROTO,
			       "malformed request: DeployJob: invalid attempt (%d) or parallelism (%d)",
			       d->attempt, d->parallelism);
	if (d->n_args < 1 || !d->args || d->n_args > 4096)
		return bad(err, errcap, "DeployJob: missing job arguments (args[0] is the plugin name)");
	for (size_t i = 0; i < d->n_args; i++)
		if (!bounded(d->args[i], TEXT_MAX))
			return bad(err, errcap, "DeployJob: malformed job arguments");
	if (!fl_rpc_printable(d->blob_id, FL_RPC_ID_MAX))
		return bad(err, errcap, "DeployJob: missing blob id");
	if (!bounded(d->job_name, TEXT_MAX) || !bounded(d->checkpoint_dir, TEXT_MAX) ||
	    !bounded(d->restore_path, TEXT_MAX))
		return bad(err, errcap, "DeployJob: a field longer than 64 KiB");
	if (d->n_config > COUNT_MAX || d->n_placements > COUNT_MAX)
		return bad(err, errcap, "DeployJob: too many configuration entries or placements");
	for (size_t i = 0; i < d->n_config; i++)
		if (!d->config[i] || !bounded(d->config[i]->key, TEXT_MAX) ||
		    !bounded(d->config[i]->value, TEXT_MAX))
			return bad(err, errcap, "DeployJob: a malformed configuration entry");
	for (size_t i = 0; i < d->n_placements; i++)
		if (!d->placements[i] || !bounded(d->placements[i]->tm_id, FL_RPC_ID_MAX) ||
		    !bounded(d->placements[i]->data_address, ADDRESS_MAX))
			return fl_errf(err, errcap, FLINC_EPROTO,
				       "malformed request: DeployJob: malformed placement %zu", i);
	return FLINC_OK;
}

int fl_rpc_check_tm_request(const Flinc__Envelope *env, char *err, size_t errcap)
{
	switch (env->body_case) {
	case FLINC__ENVELOPE__BODY_DEPLOY:
		return env->deploy ? check_deploy(env->deploy, err, errcap)
				   : bad(err, errcap, "empty DeployJob");
	case FLINC__ENVELOPE__BODY_CANCEL:
		if (!env->cancel || !fl_rpc_printable(env->cancel->job_id, JOB_ID_MAX))
			return bad(err, errcap, "CancelJob: missing job id");
		return FLINC_OK;
	case FLINC__ENVELOPE__BODY_TRIGGER:
		if (!env->trigger || !fl_rpc_printable(env->trigger->job_id, JOB_ID_MAX))
			return bad(err, errcap, "TriggerCheckpoint without a job id");
		return FLINC_OK;
	case FLINC__ENVELOPE__BODY_CHECKPOINT_COMPLETE:
		if (!env->checkpoint_complete ||
		    !fl_rpc_printable(env->checkpoint_complete->job_id, JOB_ID_MAX))
			return bad(err, errcap, "NotifyCheckpointComplete without a job id");
		return FLINC_OK;
	default:
		return fl_errf(err, errcap, FLINC_EPROTO, "a task manager does not handle message kind %d",
			       (int)env->body_case);
	}
}
