/*
 * deadletter.c - where rejected records go (docs/dead-letters.md).
 *
 * Every record an operator refuses (flinc_ctx_reject, flinc_json_record, a
 * key that cannot be computed, bytes that do not decode) is counted in the
 * task's metrics and becomes a dead letter: one JSON line with the reason,
 * the job, vertex, operator and subtask, the source position of the record
 * and its bytes (escaped, capped at FL_DL_RECORD_MAX, with the full size).
 * The job's dead-letter output (flinc_dead_letters_to) is a Kafka topic or
 * a file path; without one the dead letters are only counted and logged
 * at a bounded rate.
 *
 * Source positions cost the data path a few stores: a source calls
 * fl_src_at_kafka/fl_src_at_file before it emits (task->src), the task
 * clears it after each source step, and only a reject formats it. The
 * position (and the record's bytes) are known for operators chained to
 * the source (the usual parse step); further downstream a dead letter has
 * the reason and the operator but no position.
 *
 * Threads: everything here runs on the task's thread; the counters are
 * atomics read by the metrics reporters.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connectors.h"
#include "connectors/kafka.h"
#include "graph.h"
#include "op.h"
#include "task.h"

#define FL_DL_RECORD_MAX (64 * 1024) /* bytes of a rejected record kept */

typedef struct fl_dl {
	int fd;         /* file output, -1 otherwise */
	rd_kafka_t *rk; /* Kafka output */
	const char *topic;
	char *buf; /* the line being written */
	size_t cap;
	char *b64;
	bool failed; /* could not open: counted only */
} fl_dl;

/* The record and position fields of one dead letter. */
typedef struct dl_line {
	flinc_str reason, job, vertex, op, where, record;
	int64_t time, partition, offset, size;
	int32_t subtask;
	bool truncated;
} dl_line;

static fl_log_limit g_dl_log = FL_LOG_LIMIT_INIT(5, 10000);

FLINC_API int flinc_dead_letters_to(flinc_env *e, const char *address)
{
	if (e->failed) return FLINC_EGRAPH;
	if (!address || !*address) {
		e->dead_letters = NULL;
		e->dead_letters_kafka = NULL;
		return FLINC_OK;
	}
	if (strncmp(address, "kafka://", 8) == 0) {
		const fl_kafka_addr *a = fl_kafka_parse(e, address, true, "--dead-letter");
		if (!a) return FLINC_EGRAPH;
		if (a->ntopics != 1) return flinc_env_fail(e, "--dead-letter %s: name one topic", address);
		e->dead_letters_kafka = a;
	} else if (strcmp(address, "-") == 0) {
		return flinc_env_fail(e, "--dead-letter: give a file, a folder or a kafka:// topic, not '-'");
	}
	e->dead_letters = fl_pool_strdup(e->pool, address);
	return FLINC_OK;
}

void fl_src_at_kafka(flinc_ctx *c, const char *topic, int32_t partition, int64_t offset, const void *rec,
		     size_t len)
{
	fl_srcpos *s = &c->op->task->src;
	s->kind = FL_SRC_KAFKA;
	s->name = topic;
	s->partition = partition;
	s->offset = offset;
	s->rec = rec;
	s->len = len;
}

void fl_src_at_file(flinc_ctx *c, const char *path, uint64_t byte, const void *rec, size_t len)
{
	fl_srcpos *s = &c->op->task->src;
	s->kind = FL_SRC_FILE;
	s->name = path;
	s->offset = (int64_t)byte;
	s->rec = rec;
	s->len = len;
}

/* Is s[0..n) well-formed UTF-8 (no overlong forms, no surrogates)? */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		unsigned char lo = 0x80, hi = 0xbf;
		size_t len;
		if (c < 0xc2) return false;
		if (c < 0xe0) {
			len = 2;
		} else if (c < 0xf0) {
			len = 3;
			if (c == 0xe0) lo = 0xa0;
			if (c == 0xed) hi = 0x9f;
		} else if (c < 0xf5) {
			len = 4;
			if (c == 0xf0) lo = 0x90;
			if (c == 0xf4) hi = 0x8f;
		} else {
			return false;
		}
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) return false;
		for (size_t k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf) return false;
		i += len;
	}
	return true;
}

static size_t base64(const unsigned char *in, size_t n, char *out)
{
	static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = tb[v >> 18];
		out[o++] = tb[(v >> 12) & 63];
		out[o++] = tb[(v >> 6) & 63];
		out[o++] = tb[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = tb[v >> 18];
		out[o++] = tb[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tb[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	return o;
}

/* Open the job's dead-letter output for this task (first reject). */
static fl_dl *dl_open(fl_op *op)
{
	fl_task *t = op->task;
	const flinc_env *e = t->plan->env;
	fl_dl *dl = fl_calloc(1, sizeof(*dl));
	dl->fd = -1;
	dl->cap = FL_DL_RECORD_MAX * 6 + 4096;
	dl->buf = fl_malloc(dl->cap);
	dl->b64 = fl_malloc(FL_DL_RECORD_MAX / 3 * 4 + 8);
	t->dl = dl;
	if (!e->dead_letters) return dl;
	if (e->dead_letters_kafka) {
		const fl_kafka_addr *a = e->dead_letters_kafka;
		char err[512];
		rd_kafka_conf_t *kc = fl_kafka_conf(&op->ctx, a, err, sizeof err);
		if (kc && fl_kafka_set(kc, "enable.idempotence", "true", err, sizeof err)) {
			rd_kafka_conf_destroy(kc);
			kc = NULL;
		}
		if (kc) {
			dl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
			if (!dl->rk) rd_kafka_conf_destroy(kc);
		}
		if (!dl->rk) {
			fl_op_fail(op, FLINC_EIO, "dead letters %s: %s", a->address, err);
			dl->failed = true;
			return dl;
		}
		dl->topic = a->topics[0];
		return dl;
	}
	/* A folder (existing, or named with a trailing '/'): one file per
	 * subtask; else one file all subtasks append whole lines to. */
	const char *path = e->dead_letters;
	char file[4096];
	struct stat st;
	size_t pl = strlen(path);
	if ((stat(path, &st) == 0 && S_ISDIR(st.st_mode)) || (pl && path[pl - 1] == '/')) {
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			fl_op_fail(op, FLINC_EIO, "dead letters %s: %s", path, strerror(errno));
			dl->failed = true;
			return dl;
		}
		snprintf(file, sizeof file, "%s%sdead-letters-%u-%d.jsonl", path,
			 path[pl - 1] == '/' ? "" : "/", t->vertex->index, t->subtask);
	} else {
		snprintf(file, sizeof file, "%s", path);
	}
	dl->fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (dl->fd < 0) {
		fl_op_fail(op, FLINC_EIO, "dead letters %s: %s", file, strerror(errno));
		dl->failed = true;
	}
	return dl;
}

static bool write_all(int fd, const char *p, size_t n)
{
	/* One write() per line: O_APPEND keeps lines of several writers whole. */
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Format the dead letter of the current record into dl->buf; its length. */
static size_t format(fl_op *op, fl_dl *dl, const char *why)
{
	fl_task *t = op->task;
	const fl_srcpos *src = &t->src;
	dl_line d;
	memset(&d, 0, sizeof d);
	d.reason.s = why ? why : "malformed";
	d.reason.len = (uint32_t)strlen(d.reason.s);
	const char *job = t->plan->env->job_name ? t->plan->env->job_name : "";
	d.job = (flinc_str){ job, (uint32_t)strlen(job) };
	d.vertex = (flinc_str){ t->vertex->name, (uint32_t)strlen(t->vertex->name) };
	d.op = (flinc_str){ op->node->name, (uint32_t)strlen(op->node->name) };
	d.subtask = t->subtask;
	d.time = fl_now_ms();

	flinc_field f[16];
	size_t n = 0;
#define ADD(member, kind, name) f[n++] = (flinc_field)FLINC_FIELD_NAMED(dl_line, member, kind, name)
	ADD(reason, FLINC_FIELD_STR, "reason");
	ADD(job, FLINC_FIELD_STR, "job");
	ADD(vertex, FLINC_FIELD_STR, "vertex");
	ADD(op, FLINC_FIELD_STR, "operator");
	ADD(subtask, FLINC_FIELD_I32, "subtask");
	ADD(time, FLINC_FIELD_I64, "time");
	if (src->kind == FL_SRC_KAFKA) {
		d.where = (flinc_str){ src->name, (uint32_t)strlen(src->name) };
		d.partition = src->partition;
		d.offset = src->offset;
		ADD(where, FLINC_FIELD_STR, "topic");
		ADD(partition, FLINC_FIELD_I64, "partition");
		ADD(offset, FLINC_FIELD_I64, "offset");
	} else if (src->kind == FL_SRC_FILE) {
		d.where = (flinc_str){ src->name, (uint32_t)strlen(src->name) };
		d.offset = src->offset;
		ADD(where, FLINC_FIELD_STR, "file");
		ADD(offset, FLINC_FIELD_I64, "byte");
	}
	if (src->kind != FL_SRC_NONE && src->rec) {
		size_t keep = src->len;
		d.size = (int64_t)src->len;
		if (keep > FL_DL_RECORD_MAX) {
			keep = FL_DL_RECORD_MAX;
			d.truncated = true;
			/* cut at a character boundary */
			const unsigned char *u = src->rec;
			size_t back = 0;
			while (back < 3 && keep > 0 && (u[keep] & 0xc0) == 0x80) keep--, back++;
		}
		ADD(size, FLINC_FIELD_I64, "size");
		ADD(truncated, FLINC_FIELD_BOOL, "truncated");
		if (utf8_ok(src->rec, keep)) {
			d.record = (flinc_str){ src->rec, (uint32_t)keep };
			ADD(record, FLINC_FIELD_STR, "record");
		} else {
			d.record = (flinc_str){ dl->b64, (uint32_t)base64(src->rec, keep, dl->b64) };
			ADD(record, FLINC_FIELD_STR, "recordBase64");
		}
	}
#undef ADD
	size_t len = 0;
	(void)flinc_fields_json(f, n, &d, dl->buf, dl->cap - 1, &len);
	if (len >= dl->cap - 1) { /* a very long reason or name: grow once */
		dl->cap = len + 2;
		dl->buf = fl_realloc(dl->buf, dl->cap);
		(void)flinc_fields_json(f, n, &d, dl->buf, dl->cap - 1, &len);
	}
	dl->buf[len++] = '\n';
	return len;
}

void fl_dl_reject(fl_op *op, const char *why)
{
	fl_task *t = op->task;
	const flinc_env *e = t->plan->env;
	const fl_srcpos *src = &t->src;
	atomic_fetch_add_explicit(&t->m.rejected, 1, memory_order_relaxed);

	char pos[300] = "";
	if (src->kind == FL_SRC_KAFKA)
		snprintf(pos, sizeof pos, " at %s/%d@%lld", src->name, (int)src->partition,
			 (long long)src->offset);
	else if (src->kind == FL_SRC_FILE)
		snprintf(pos, sizeof pos, " at %s byte %lld", src->name, (long long)src->offset);
	fl_log_limited(&g_dl_log, FL_LOG_WARN, "task", "%s '%s' (subtask %d) rejected a record%s: %s%s",
		       fl_node_kind_name(op->node->kind), op->node->name, t->subtask, pos,
		       why ? why : "malformed", e->dead_letters ? " (sent to the dead letters)" : "");
	if (!e->dead_letters) return;

	fl_dl *dl = t->dl ? t->dl : dl_open(op);
	if (dl->failed) return;
	size_t len = format(op, dl, why);
	if (dl->fd >= 0) {
		if (!write_all(dl->fd, dl->buf, len)) {
			fl_op_fail(op, FLINC_EIO, "dead letters %s: %s", e->dead_letters, strerror(errno));
			dl->failed = true;
			return;
		}
	} else if (dl->rk) {
		rd_kafka_resp_err_t err;
		for (int tries = 0;; tries++) {
			err = rd_kafka_producev(dl->rk, RD_KAFKA_V_TOPIC(dl->topic),
						RD_KAFKA_V_VALUE(dl->buf, len - 1),
						RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 100) break;
			rd_kafka_poll(dl->rk, 100); /* the queue drains: wait a little */
		}
		rd_kafka_poll(dl->rk, 0);
		if (err) {
			fl_op_fail(op, FLINC_EIO, "dead letters %s: %s", e->dead_letters,
				   rd_kafka_err2str(err));
			dl->failed = true;
			return;
		}
	}
	atomic_fetch_add_explicit(&t->m.dead_letters, 1, memory_order_relaxed);
}

int fl_dl_flush(fl_task *t)
{
	fl_dl *dl = t->dl;
	if (!dl || !dl->rk) return FLINC_OK;
	rd_kafka_resp_err_t err = rd_kafka_flush(dl->rk, 30000);
	if (err) {
		fl_task_fail(t, FLINC_EIO, "dead letters %s: flush: %s", t->plan->env->dead_letters,
			     rd_kafka_err2str(err));
		return FLINC_EIO;
	}
	return FLINC_OK;
}

void fl_dl_close(fl_task *t)
{
	fl_dl *dl = t->dl;
	if (!dl) return;
	if (dl->rk) {
		if (rd_kafka_flush(dl->rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			fl_log(FL_LOG_WARN, "task", "%s (%d/%d): dead letters %s: not every one delivered",
			       t->vertex->name, t->subtask + 1, t->parallelism, t->plan->env->dead_letters);
		rd_kafka_destroy(dl->rk);
	}
	if (dl->fd >= 0) close(dl->fd);
	free(dl->buf);
	free(dl->b64);
	free(dl);
	t->dl = NULL;
}
