/*
 * kafka_sink.c - formatted records as values of one Kafka topic
 * (docs/kafka.md, "Delivery guarantees" and "Exactly-once").
 *
 * delivery=none: records are produced as they come; nothing waits for the
 * broker except the end of a bounded input (and close).
 * delivery=at-least-once: the same, and at every checkpoint barrier (flush)
 * the sink waits until the broker acknowledged every record so far; a
 * delivery error fails the task. After a restart the records since the
 * restored checkpoint are written again.
 *
 * delivery=exactly-once: one transactional producer per subtask,
 * transactional.id = PREFIX-SUBTASK, one Kafka transaction per checkpoint:
 *   - Records between barriers n-1 and n form batch n. They go to the
 *     producer's open transaction as they come when no older batch still
 *     waits for its commit; otherwise they are only kept, and produced when
 *     the older transaction committed (one producer has one transaction).
 *     Every record is also appended to the batch's buffer (one
 *     length-prefixed byte buffer per batch, grown by doubling: no
 *     allocation per record).
 *   - flush(n) (the barrier): wait for the broker's acknowledgements; batch
 *     n becomes pending; the pending batches are the sink's checkpointed
 *     operator state (fl_conn_hooks.snapshot), so checkpoint n holds every
 *     record of transactions not committed yet.
 *   - commit(n) (checkpoint n completed): for each pending batch <= n, in
 *     order: produce it if not produced yet, produce a commit marker
 *     (key transactional.id, value n) to the commits topic inside the same
 *     transaction, commit the transaction. Then a new transaction takes the
 *     records kept meanwhile and goes on live.
 *   - Restore: the pending batches of the restored checkpoint come back
 *     (union over old subtasks; old subtask k goes to new subtask
 *     k mod parallelism). init_transactions fences the old producer of each
 *     transactional.id and ends what it left open (a transaction whose
 *     commit had started completes; others abort). Then the markers are read
 *     with read_committed: a batch whose marker is there was committed, the
 *     others are produced again with their marker, each in a transaction of
 *     its own, before any new record. So a process that died between
 *     "checkpoint n complete" and "sink committed n" ends with n's records in
 *     the topic exactly once.
 * Limits: the records of one checkpoint interval are held in memory and in
 * the checkpoint; read_committed consumers see records one checkpoint late.
 *
 * Threads: each instance belongs to its subtask's thread; delivery reports
 * run in rd_kafka_poll/flush, called only from that thread.
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "graph.h"
#include "kafka.h"
#include "op.h"

#define SNAPSHOT_VERSION 2
#define LINE_BUF_SIZE 4096
#define POLL_EVERY 1024
#define FLUSH_TIMEOUT_MS 120000
#define TXN_CALL_TIMEOUT_MS 60000
#define MARKER_READ_TIMEOUT_MS 120000
#define BATCH_MAX ((size_t)1 << 31) /* one operator state blob stays below 4 GiB */

typedef struct ksink_conf {
	const fl_kafka_addr *a;
	flinc_format_fn fmt;
} ksink_conf;

/* The records of one transaction: [u32 len][bytes] each, in one buffer. */
typedef struct batch {
	int64_t id;     /* checkpoint; 0 while records still come */
	uint64_t nonce; /* random, drawn when the batch becomes pending: its marker says "id nonce" */
	uint8_t *buf;
	size_t len, cap;
	uint64_t n;
	bool produced; /* its records are in the producer's open transaction */
} batch;

/* A pending batch restored from a checkpoint, with the transactional.id of
 * the subtask that wrote it; fence_only: no batch, the transactional.id is
 * only to be fenced (its old subtask had nothing pending). */
typedef struct rbatch {
	char *txid;
	batch b;
	bool fence_only;
} rbatch;

/* The test-only fault point (FLINC_TEST_FAULT, docs/kafka.md). */
typedef enum fault_kind {
	FAULT_NONE,
	FAULT_AFTER_COMPLETE, /* kafka-sink-after-complete: die when commit(n) starts */
	FAULT_BEFORE_COMMIT,  /* kafka-sink-before-commit: die with n's marker sent, not committed */
} fault_kind;

typedef struct ksink {
	const ksink_conf *conf;
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	char txid[512];
	bool eos, txn_open;
	batch cur;
	batch *pending;
	size_t npending, pcap;
	rbatch *restored;
	size_t nrestored, rcap;
	uint8_t *spare; /* a committed batch's buffer, reused */
	size_t spare_cap;
	char *line;
	size_t lcap;
	uint64_t since_poll;
	uint64_t dr_errors;
	char dr_err[256];
	fl_log_limit lim;
	fault_kind fault;
	int64_t fault_id; /* the checkpoint whose commit dies */
	bool fault_armed; /* commit_batch dies after the marker */
} ksink;

/* ---- the test-only fault point ------------------------------------------- */

/* FLINC_TEST_FAULT=kafka-sink-after-complete[:N[:SUBTASK]] or
 * kafka-sink-before-commit[:N[:SUBTASK]] (N default 1, SUBTASK default every
 * subtask). Read by tests only; anything else in the variable is ignored. */
static void fault_parse(ksink *s, int subtask)
{
	static const char *const names[] = { "kafka-sink-after-complete", "kafka-sink-before-commit" };
	int64_t id;
	int k = fl_test_fault(names, 2, subtask, &id);
	if (!k) return;
	s->fault = k == 1 ? FAULT_AFTER_COMPLETE : FAULT_BEFORE_COMMIT;
	s->fault_id = id;
}

static void fault_die(ksink *s, const char *where)
{
	fl_log(FL_LOG_WARN, "kafka",
	       "FLINC_TEST_FAULT: %s dies %s of checkpoint %" PRId64 " (test-only fault point)", s->txid,
	       where, s->fault_id);
	raise(SIGKILL); /* as kill -9: no close, no abort, nothing flushed */
}

/* ---- producing ----------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	ksink *s = opaque;
	if (!m->err) return;
	if (s->dr_errors++ == 0) snprintf(s->dr_err, sizeof s->dr_err, "%s", rd_kafka_err2str(m->err));
}

/* One value to the topic (copied by librdkafka), waiting while its queue is
 * full. */
static int produce(flinc_ctx *c, ksink *s, const void *p, size_t n)
{
	for (;;) {
		if (rd_kafka_produce(s->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, (void *)p, n, NULL,
				     0, NULL) == 0)
			break;
		rd_kafka_resp_err_t err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			flinc_ctx_fail(c, "output %s: produce: %s", s->conf->a->address,
				       rd_kafka_err2str(err));
			return FLINC_EIO;
		}
		rd_kafka_poll(s->rk, 10);
	}
	if (++s->since_poll >= POLL_EVERY) {
		s->since_poll = 0;
		rd_kafka_poll(s->rk, 0);
	}
	return FLINC_OK;
}

static int check_delivery(flinc_ctx *c, ksink *s)
{
	if (!s->dr_errors) return FLINC_OK;
	if (s->conf->a->delivery == FL_KAFKA_NONE) {
		fl_log_limited(&s->lim, FL_LOG_WARN, "kafka",
			       "output %s: %" PRIu64 " records not delivered: %s", s->conf->a->address,
			       s->dr_errors, s->dr_err);
		s->dr_errors = 0;
		return FLINC_OK;
	}
	flinc_ctx_fail(c, "output %s: %" PRIu64 " records not delivered: %s", s->conf->a->address,
		       s->dr_errors, s->dr_err);
	return FLINC_EIO;
}

/* Wait until the broker acknowledged everything produced. */
static int wait_delivered(flinc_ctx *c, ksink *s)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(s->rk, FLUSH_TIMEOUT_MS);
	if (err) {
		flinc_ctx_fail(c, "output %s: %d records still unacknowledged after %d s: %s",
			       s->conf->a->address, rd_kafka_outq_len(s->rk), FLUSH_TIMEOUT_MS / 1000,
			       rd_kafka_err2str(err));
		return FLINC_ETIMEDOUT;
	}
	return check_delivery(c, s);
}

static int batch_append(flinc_ctx *c, ksink *s, batch *b, const void *p, uint32_t n)
{
	size_t need = b->len + 4 + n;
	if (need > BATCH_MAX) {
		flinc_ctx_fail(
			c,
			"output %s: more than %zu bytes in one checkpoint interval; checkpoint more often "
			"(docs/kafka.md)",
			s->conf->a->address, BATCH_MAX);
		return FLINC_ERANGE;
	}
	if (need > b->cap) {
		if (!b->buf && s->spare) { /* a committed batch's buffer */
			b->buf = s->spare;
			b->cap = s->spare_cap;
			s->spare = NULL;
		}
		if (need > b->cap) {
			size_t nc = b->cap ? b->cap : 64 << 10;
			while (nc < need) nc *= 2;
			uint8_t *nb = fl_try_realloc(b->buf, nc);
			if (!nb) {
				flinc_ctx_fail(c, "output %s: out of memory for a %zu-byte batch",
					       s->conf->a->address, nc);
				return FLINC_ENOMEM;
			}
			b->buf = nb;
			b->cap = nc;
		}
	}
	memcpy(b->buf + b->len, &n, 4);
	memcpy(b->buf + b->len + 4, p, n);
	b->len += 4 + (size_t)n;
	b->n++;
	return FLINC_OK;
}

static int produce_batch(flinc_ctx *c, ksink *s, const batch *b)
{
	for (size_t off = 0; off + 4 <= b->len;) {
		uint32_t n;
		memcpy(&n, b->buf + off, 4);
		int rc = produce(c, s, b->buf + off + 4, n);
		if (rc) return rc;
		off += 4 + (size_t)n;
	}
	return FLINC_OK;
}

static void batch_release(ksink *s, batch *b)
{
	if (b->buf && !s->spare) {
		s->spare = b->buf;
		s->spare_cap = b->cap;
	} else {
		free(b->buf);
	}
	memset(b, 0, sizeof *b);
}

/* ---- transactions ------------------------------------------------------- */

static int txn_fail(flinc_ctx *c, ksink *s, const char *what, rd_kafka_error_t *e)
{
	flinc_ctx_fail(c, "output %s: %s (transactional.id %s): %s", s->conf->a->address, what, s->txid,
		       rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
	return FLINC_EIO;
}

static int txn_begin(flinc_ctx *c, ksink *s)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(s->rk);
	if (e) return txn_fail(c, s, "begin transaction", e);
	s->txn_open = true;
	return FLINC_OK;
}

static int produce_marker(flinc_ctx *c, ksink *s, const batch *b)
{
	char val[48];
	int vn = snprintf(val, sizeof val, "%" PRId64 " %016" PRIx64, b->id, b->nonce);
	rd_kafka_resp_err_t err = rd_kafka_producev(
		s->rk, RD_KAFKA_V_TOPIC(s->conf->a->commits_topic), RD_KAFKA_V_PARTITION(0),
		RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(s->txid, strlen(s->txid)),
		RD_KAFKA_V_VALUE(val, (size_t)vn), RD_KAFKA_V_END);
	if (err) {
		flinc_ctx_fail(c, "output %s: commit marker to %s: %s", s->conf->a->address,
			       s->conf->a->commits_topic, rd_kafka_err2str(err));
		return FLINC_EIO;
	}
	return FLINC_OK;
}

/* Batch b (of checkpoint b->id) and its marker in one transaction,
 * committed. If the broker aborted the transaction meanwhile (a timeout),
 * it is written again in a new one: its records are all in b. */
static int commit_batch(flinc_ctx *c, ksink *s, batch *b)
{
	for (int attempt = 0;; attempt++) {
		int rc;
		if (!b->produced) {
			if (!s->txn_open && (rc = txn_begin(c, s))) return rc;
			if ((rc = produce_batch(c, s, b))) return rc;
			b->produced = true;
		}
		if ((rc = produce_marker(c, s, b))) return rc;
		if (s->fault_armed) { /* the marker is on the broker, the commit never comes */
			rd_kafka_flush(s->rk, 10000);
			fault_die(s, "before the commit");
		}
		rd_kafka_error_t *e = rd_kafka_commit_transaction(s->rk, TXN_CALL_TIMEOUT_MS);
		if (!e) break;
		if (!rd_kafka_error_txn_requires_abort(e) || attempt > 0)
			return txn_fail(c, s, "commit transaction", e);
		fl_log(FL_LOG_WARN, "kafka",
		       "output %s: transaction of checkpoint %" PRId64 " (%s) failed: %s; writing it again",
		       s->conf->a->address, b->id, s->txid, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		s->txn_open = false;
		b->produced = false;
		if ((e = rd_kafka_abort_transaction(s->rk, TXN_CALL_TIMEOUT_MS)))
			return txn_fail(c, s, "abort transaction", e);
		s->dr_errors = 0; /* the aborted records' reports */
	}
	s->txn_open = false;
	if (s->dr_errors) return check_delivery(c, s);
	return FLINC_OK;
}

/* ---- recovery ------------------------------------------------------------ */

/* The restored batches of one transactional id: s->restored[first ..
 * first + n), oldest first (fence-only entries sort first). */
typedef struct marker {
	const char *txid;
	size_t first, n;
	size_t committed; /* how many of them (oldest first) were committed */
} marker;

/* Parse a marker value "ID NONCE" (a version-1 marker is "ID": nonce 0). */
static bool marker_value(const rd_kafka_message_t *m, int64_t *id, uint64_t *nonce)
{
	char v[48];
	if (!m->payload || m->len == 0 || m->len >= sizeof v) return false;
	memcpy(v, m->payload, m->len);
	v[m->len] = 0;
	char *end;
	*id = strtoll(v, &end, 10);
	*nonce = 0;
	if (*end == ' ') *nonce = strtoull(end + 1, &end, 16);
	return *end == 0;
}

/* Which restored batches were committed: the markers of the commits topic
 * are read with read_committed. A batch was committed when its own marker
 * (its checkpoint and nonce) is there; the batches of one transactional id
 * commit in order, so every older batch of that id was committed too (that
 * keeps working when compaction left only the newest marker of a key).
 *
 * Read to the high watermark, not to the first end of partition: a
 * read_committed consumer's end is the last stable offset, which an open
 * transaction holds back (a sibling subtask that died between its marker
 * and its commit, not fenced yet). A committed marker of ours behind it
 * would be missed and its batch written twice; so the read waits until the
 * open transactions before the high watermark ended. */
static int read_markers(flinc_ctx *c, ksink *s, marker *mk, size_t nmk)
{
	const fl_kafka_addr *a = s->conf->a;
	char err[512];
	int rc = FLINC_OK;
	rd_kafka_conf_t *kc = fl_kafka_conf(c, a, err, sizeof err);
	if (!kc || fl_kafka_set(kc, "group.id", "flinc-commit-markers", err, sizeof err) ||
	    fl_kafka_set(kc, "enable.auto.commit", "false", err, sizeof err) ||
	    fl_kafka_set(kc, "enable.partition.eof", "true", err, sizeof err) ||
	    fl_kafka_set(kc, "isolation.level", "read_committed", err, sizeof err)) {
		if (kc) rd_kafka_conf_destroy(kc);
		flinc_ctx_fail(c, "output %s: %s", a->address, err);
		return FLINC_ECONFIG;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
	if (!rk) {
		flinc_ctx_fail(c, "output %s: cannot create the marker reader: %s", a->address, err);
		return FLINC_EIO;
	}
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, a->commits_topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	rd_kafka_topic_destroy(rkt);
	bool exists = !merr && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0;
	if (md) rd_kafka_metadata_destroy(md);
	if (merr) {
		flinc_ctx_fail(c, "output %s: metadata of %s: %s", a->address, a->commits_topic,
			       rd_kafka_err2str(merr));
		rc = FLINC_EIO;
		goto out;
	}
	if (!exists) goto out;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, a->commits_topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	int64_t deadline = fl_mono_ns() + (int64_t)MARKER_READ_TIMEOUT_MS * 1000000;
	int64_t target = -1; /* the high watermark seen at the first end */
	bool said = false;
	for (;;) {
		if (fl_mono_ns() > deadline) {
			flinc_ctx_fail(
				c,
				"output %s: the commit markers in %s could not be read to their end in %d s (a "
				"transaction left open by another producer?)",
				a->address, a->commits_topic, MARKER_READ_TIMEOUT_MS / 1000);
			rc = FLINC_ETIMEDOUT;
			break;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m) continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			int64_t lo = 0, hi = 0;
			if (target < 0 &&
			    rd_kafka_get_watermark_offsets(rk, a->commits_topic, 0, &lo, &hi) == 0)
				target = hi;
			bool end = target >= 0 && m->offset >= target;
			if (!end && !said) {
				said = true;
				fl_log(FL_LOG_INFO, "kafka",
				       "output %s: an open transaction in %s holds its stable end at %" PRId64
				       " below %" PRId64 "; waiting for it to end",
				       a->address, a->commits_topic, m->offset, target);
			}
			rd_kafka_message_destroy(m);
			if (end) break;
			continue;
		}
		if (m->err) {
			fl_log_limited(&s->lim, FL_LOG_WARN, "kafka", "output %s: reading %s: %s", a->address,
				       a->commits_topic, rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		int64_t id;
		uint64_t nonce;
		if (m->key && marker_value(m, &id, &nonce)) {
			for (size_t i = 0; i < nmk; i++) {
				if (m->key_len != strlen(mk[i].txid) ||
				    memcmp(m->key, mk[i].txid, m->key_len) != 0)
					continue;
				for (size_t j = 0; j < mk[i].n; j++) {
					const rbatch *r = &s->restored[mk[i].first + j];
					if (!r->fence_only && r->b.id == id && r->b.nonce == nonce &&
					    j + 1 > mk[i].committed)
						mk[i].committed = j + 1;
				}
			}
		}
		rd_kafka_message_destroy(m);
	}
out:
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

static rd_kafka_t *new_producer(flinc_ctx *c, ksink *s, const char *txid, char *err, size_t errcap)
{
	const fl_kafka_addr *a = s->conf->a;
	rd_kafka_conf_t *kc = fl_kafka_conf(c, a, err, errcap);
	if (!kc) return NULL;
	char tmo[32], mto[32];
	if (a->delivery != FL_KAFKA_NONE && fl_kafka_set(kc, "acks", "all", err, errcap)) goto fail;
	if (fl_kafka_set(kc, "linger.ms", "5", err, errcap)) goto fail;
	if (txid) {
		snprintf(tmo, sizeof tmo, "%" PRId64, a->txn_timeout_ms);
		snprintf(mto, sizeof mto, "%" PRId64,
			 a->txn_timeout_ms < 300000 ? a->txn_timeout_ms : 300000);
		if (fl_kafka_set(kc, "transactional.id", txid, err, errcap) ||
		    fl_kafka_set(kc, "transaction.timeout.ms", tmo, err, errcap) ||
		    fl_kafka_set(kc, "message.timeout.ms", mto, err, errcap))
			goto fail;
	}
	rd_kafka_conf_set_dr_msg_cb(kc, on_delivery);
	rd_kafka_conf_set_opaque(kc, s);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, errcap);
	if (!rk) return NULL;
	if (txid) {
		rd_kafka_error_t *e = rd_kafka_init_transactions(rk, TXN_CALL_TIMEOUT_MS);
		if (e) {
			snprintf(err, errcap, "init transactions (transactional.id %s): %s", txid,
				 rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			rd_kafka_destroy(rk);
			return NULL;
		}
	}
	return rk;
fail:
	rd_kafka_conf_destroy(kc);
	return NULL;
}

static int cmp_rbatch(const void *x, const void *y)
{
	const rbatch *a = x, *b = y;
	int k = strcmp(a->txid, b->txid);
	if (k) return k;
	if (a->fence_only != b->fence_only) return a->fence_only ? -1 : 1;
	return a->b.id < b->b.id ? -1 : a->b.id > b->b.id;
}

/* Fence the producers of every restored transactional id (ending what the
 * dead instances left open), read the markers, and write again the batches
 * whose commit did not happen. */
static int recover(flinc_ctx *c, ksink *s)
{
	if (!s->nrestored) return FLINC_OK;
	qsort(s->restored, s->nrestored, sizeof *s->restored, cmp_rbatch);
	size_t nids = 0, nbatches = 0;
	marker *mk = fl_calloc(s->nrestored, sizeof *mk);
	rd_kafka_t **rks = fl_calloc(s->nrestored, sizeof *rks);
	char err[512];
	int rc = FLINC_OK;
	for (size_t i = 0; i < s->nrestored; i++) {
		nbatches += !s->restored[i].fence_only;
		if (nids && strcmp(mk[nids - 1].txid, s->restored[i].txid) == 0) {
			mk[nids - 1].n++;
			continue;
		}
		mk[nids].txid = s->restored[i].txid;
		mk[nids].first = i;
		mk[nids].n = 1;
		if (strcmp(mk[nids].txid, s->txid) == 0) {
			rks[nids] = s->rk; /* our own producer is initialised already */
		} else if (!(rks[nids] = new_producer(c, s, mk[nids].txid, err, sizeof err))) {
			flinc_ctx_fail(c, "output %s: %s", s->conf->a->address, err);
			rc = FLINC_EIO;
			goto out;
		}
		nids++;
	}
	if (nbatches && (rc = read_markers(c, s, mk, nids))) goto out;
	rd_kafka_t *own = s->rk;
	char own_txid[sizeof s->txid];
	memcpy(own_txid, s->txid, sizeof own_txid);
	for (size_t k = 0; k < nids && !rc; k++) {
		for (size_t j = 0; j < mk[k].n && !rc; j++) {
			rbatch *r = &s->restored[mk[k].first + j];
			if (r->fence_only) continue;
			if (j < mk[k].committed) {
				fl_log(FL_LOG_INFO, "kafka",
				       "output %s: checkpoint %" PRId64 " of %s was committed (%" PRIu64
				       " records)",
				       s->conf->a->address, r->b.id, r->txid, r->b.n);
				continue;
			}
			fl_log(FL_LOG_INFO, "kafka",
			       "output %s: writing again checkpoint %" PRId64 " of %s (%" PRIu64
			       " records): its commit did not happen",
			       s->conf->a->address, r->b.id, r->txid, r->b.n);
			s->rk = rks[k];
			snprintf(s->txid, sizeof s->txid, "%s", r->txid);
			rd_kafka_topic_t *rkt = s->rkt;
			if (s->rk != own) s->rkt = rd_kafka_topic_new(s->rk, s->conf->a->topics[0], NULL);
			r->b.produced = false;
			s->txn_open = false;
			rc = commit_batch(c, s, &r->b);
			if (s->rk != own) rd_kafka_topic_destroy(s->rkt);
			s->rkt = rkt;
			s->rk = own;
			memcpy(s->txid, own_txid, sizeof s->txid);
		}
	}
out:
	for (size_t i = 0; i < nids; i++)
		if (rks[i] && rks[i] != s->rk) rd_kafka_destroy(rks[i]);
	free(rks);
	free(mk);
	for (size_t i = 0; i < s->nrestored; i++) {
		free(s->restored[i].txid);
		free(s->restored[i].b.buf);
	}
	free(s->restored);
	s->restored = NULL;
	s->nrestored = s->rcap = 0;
	return rc;
}

/* ---- the sink function --------------------------------------------------- */

static int ksink_open(flinc_ctx *c, void *local)
{
	ksink *s = local;
	const ksink_conf *conf = flinc_ctx_arg(c);
	const fl_kafka_addr *a = conf->a;
	char err[512];
	s->conf = conf;
	s->eos = a->delivery == FL_KAFKA_EXACTLY_ONCE;
	s->lim.burst = 5;
	s->lim.window_ms = 60000;
	snprintf(s->txid, sizeof s->txid, "%s-%d", a->txn_prefix, flinc_ctx_subtask(c));
	if (s->eos) fault_parse(s, flinc_ctx_subtask(c));
	s->lcap = LINE_BUF_SIZE;
	s->line = fl_malloc(s->lcap);
	if (!(s->rk = new_producer(c, s, s->eos ? s->txid : NULL, err, sizeof err))) {
		flinc_ctx_fail(c, "output %s: %s", a->address, err);
		return FLINC_EIO;
	}
	s->rkt = rd_kafka_topic_new(s->rk, a->topics[0], NULL);
	if (!s->eos) return FLINC_OK;
	int rc = recover(c, s);
	if (rc) return rc;
	if ((rc = txn_begin(c, s))) return rc;
	s->cur.produced = true; /* records go live */
	return FLINC_OK;
}

static int ksink_write(flinc_ctx *c, void *local, const void *rec)
{
	ksink *s = local;
	size_t n = fl_conn_format(c, s->conf->fmt, rec, &s->line, &s->lcap, s->conf->a->address);
	if (n == SIZE_MAX) return FLINC_EUSER;
	if (n > UINT32_MAX) return FLINC_ERANGE;
	int rc;
	if (s->eos && (rc = batch_append(c, s, &s->cur, s->line, (uint32_t)n))) return rc;
	if (s->eos && !s->cur.produced) return FLINC_OK; /* kept until the older transaction committed */
	if ((rc = produce(c, s, s->line, n))) return rc;
	if (s->dr_errors) return check_delivery(c, s);
	return FLINC_OK;
}

static int ksink_flush(flinc_ctx *c, void *local, int64_t id)
{
	ksink *s = local;
	if (!s->rk) return FLINC_OK;
	if (!s->eos) {
		if (s->conf->a->delivery == FL_KAFKA_NONE && id != FLINC_CHECKPOINT_FINAL) {
			rd_kafka_poll(s->rk, 0);
			return check_delivery(c, s);
		}
		return wait_delivered(c, s);
	}
	int rc;
	if (s->cur.produced && (rc = wait_delivered(c, s))) return rc;
	if (s->npending == s->pcap) {
		s->pcap = s->pcap ? s->pcap * 2 : 4;
		s->pending = fl_realloc(s->pending, s->pcap * sizeof *s->pending);
	}
	s->cur.id = id;
	if (fl_random_bytes(&s->cur.nonce, sizeof s->cur.nonce) != FLINC_OK)
		s->cur.nonce = (uint64_t)fl_mono_ns() ^ ((uint64_t)id << 32); /* distinct enough */
	s->pending[s->npending++] = s->cur;
	memset(&s->cur, 0, sizeof s->cur);
	return FLINC_OK;
}

static int ksink_commit(flinc_ctx *c, void *local, int64_t id)
{
	ksink *s = local;
	if (!s->eos || !s->rk) return FLINC_OK;
	size_t done = 0;
	int rc = FLINC_OK;
	if (s->fault == FAULT_AFTER_COMPLETE)
		for (size_t i = 0; i < s->npending && s->pending[i].id <= id; i++)
			if (s->pending[i].id == s->fault_id) fault_die(s, "before the commit");
	while (done < s->npending && s->pending[done].id <= id) {
		s->fault_armed = s->fault == FAULT_BEFORE_COMMIT && s->pending[done].id == s->fault_id;
		if ((rc = commit_batch(c, s, &s->pending[done]))) return rc;
		batch_release(s, &s->pending[done]);
		done++;
	}
	if (done) {
		memmove(s->pending, s->pending + done, (s->npending - done) * sizeof *s->pending);
		s->npending -= done;
	}
	if (s->npending == 0 && !s->txn_open && id != FLINC_CHECKPOINT_FINAL) {
		/* A new transaction: the records kept meanwhile, then live. */
		if ((rc = txn_begin(c, s))) return rc;
		if ((rc = produce_batch(c, s, &s->cur))) return rc;
		s->cur.produced = true;
	}
	return FLINC_OK;
}

/*
 * Operator state (exactly-once): a msgpack map
 *   v: 2, subtask, parallelism, txid: the transactional.id,
 *   batches: [[checkpoint, records, bin of [u32 len][bytes]..., nonce], ...]
 * the batches flushed and not committed yet, oldest first (version 1 had
 * no nonce: its markers are "ID", read as nonce 0).
 */
static int ksink_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	ksink *s = local;
	fl_conn_snapshot_head(c, w, SNAPSHOT_VERSION, 2);
	flinc_w_cstr(w, "txid");
	flinc_w_cstr(w, s->txid);
	flinc_w_cstr(w, "batches");
	flinc_w_array(w, (uint32_t)s->npending);
	for (size_t i = 0; i < s->npending; i++) {
		flinc_w_array(w, 4);
		flinc_w_int(w, s->pending[i].id);
		flinc_w_uint(w, s->pending[i].n);
		flinc_w_bin(w, s->pending[i].buf, s->pending[i].len);
		flinc_w_uint(w, s->pending[i].nonce);
	}
	return w->err ? FLINC_ENOMEM : FLINC_OK;
}

static int ksink_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	ksink *s = local;
	uint64_t v = 0, subtask = 0;
	const char *txid = NULL;
	uint32_t txlen = 0;
	const uint8_t *bstart = NULL;
	uint32_t nbatches = 0;
	uint32_t nkeys = flinc_r_map(r);
	flinc_reader batches;
	memset(&batches, 0, sizeof batches);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(key, lit, kl) == 0)
		if (KEY_IS("v")) {
			v = flinc_r_uint(r);
		} else if (KEY_IS("subtask")) {
			subtask = flinc_r_uint(r);
		} else if (KEY_IS("txid")) {
			txid = flinc_r_str(r, &txlen);
		} else if (KEY_IS("batches")) {
			bstart = r->p;
			nbatches = flinc_r_array(r);
			batches = *r;
			for (uint32_t i = 0; i < nbatches && !r->err; i++) flinc_r_skip(r);
		} else if (flinc_r_skip(r) != 0) {
			r->err = 1;
		}
#undef KEY_IS
	}
	if (r->err || v < 1 || v > SNAPSHOT_VERSION || !txid || !bstart) {
		flinc_ctx_fail(
			c, "kafka sink: cannot read its checkpointed transactions (snapshot version %llu)",
			(unsigned long long)v);
		return FLINC_ECODEC;
	}
	/* Old subtask k's transactions go to new subtask k mod parallelism. */
	if ((int)(subtask % (uint64_t)flinc_ctx_parallelism(c)) != flinc_ctx_subtask(c)) return FLINC_OK;
	/* Even with nothing pending the transactional id is fenced at open:
	 * what its dead instance left open would hold back read_committed
	 * consumers until the transaction timeout (after a scale-down nobody
	 * else uses that id). */
	for (uint32_t i = 0; i <= nbatches && !batches.err; i++) {
		bool fence_only = i == nbatches;
		int64_t id = 0;
		uint64_t n = 0, nonce = 0;
		uint32_t len = 0;
		const void *bin = NULL;
		if (fence_only) {
			if (nbatches) break;
		} else {
			uint32_t nf = flinc_r_array(&batches);
			if (nf != (v == 1 ? 3u : 4u)) batches.err = 1;
			id = flinc_r_int(&batches);
			n = flinc_r_uint(&batches);
			bin = flinc_r_bin(&batches, &len);
			if (v > 1) nonce = flinc_r_uint(&batches);
			if (batches.err) break;
		}
		if (s->nrestored == s->rcap) {
			s->rcap = s->rcap ? s->rcap * 2 : 4;
			s->restored = fl_realloc(s->restored, s->rcap * sizeof *s->restored);
		}
		rbatch *rb = &s->restored[s->nrestored];
		memset(rb, 0, sizeof *rb);
		rb->txid = fl_malloc(txlen + 1);
		memcpy(rb->txid, txid, txlen);
		rb->txid[txlen] = 0;
		rb->fence_only = fence_only;
		rb->b.id = id;
		rb->b.nonce = nonce;
		rb->b.n = n;
		rb->b.len = rb->b.cap = len;
		if (len) {
			rb->b.buf = fl_try_malloc(len);
			if (!rb->b.buf) {
				free(rb->txid);
				flinc_ctx_fail(c, "kafka sink: out of memory restoring a %u-byte batch", len);
				return FLINC_ENOMEM;
			}
			memcpy(rb->b.buf, bin, len);
		}
		s->nrestored++;
	}
	if (batches.err) {
		flinc_ctx_fail(c, "kafka sink: a checkpointed transaction is malformed");
		return FLINC_ECODEC;
	}
	return FLINC_OK;
}

static void ksink_close(flinc_ctx *c, void *local)
{
	(void)c;
	ksink *s = local;
	if (s->rk) {
		if (s->eos && s->txn_open) {
			/* canceled or failed: leave nothing open that holds back
			 * read_committed consumers until the timeout */
			rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
			rd_kafka_error_t *e = rd_kafka_abort_transaction(s->rk, 5000);
			if (e) rd_kafka_error_destroy(e);
		} else if (!s->eos) {
			rd_kafka_flush(s->rk, 5000);
		}
		if (s->rkt) rd_kafka_topic_destroy(s->rkt);
		rd_kafka_destroy(s->rk);
		s->rk = NULL;
		s->rkt = NULL;
	}
	for (size_t i = 0; i < s->npending; i++) free(s->pending[i].buf);
	for (size_t i = 0; i < s->nrestored; i++) {
		free(s->restored[i].txid);
		free(s->restored[i].b.buf);
	}
	free(s->pending);
	free(s->restored);
	free(s->cur.buf);
	free(s->spare);
	free(s->line);
	memset(s, 0, sizeof *s);
}

static const flinc_sink_fn kafka_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(ksink),
	.open = ksink_open,
	.write = ksink_write,
	.flush = ksink_flush,
	.commit = ksink_commit,
	.close = ksink_close,
};

static const fl_conn_hooks kafka_sink_eos_hooks = {
	.snapshot = ksink_snapshot,
	.restore = ksink_restore,
};

int fl_kafka_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address,
		     flinc_format_fn fmt)
{
	const fl_kafka_addr *a = fl_kafka_parse(e, address, true, name);
	if (!a) return FLINC_EGRAPH;
	ksink_conf *conf = flinc_env_alloc(e, sizeof *conf);
	conf->a = a;
	conf->fmt = fmt;
	flinc_stream *s = flinc_sink(in, name, &kafka_sink_fn, conf);
	if (a->delivery == FL_KAFKA_EXACTLY_ONCE) fl_sink_hooks(s, &kafka_sink_eos_hooks);
	return e->failed ? FLINC_EGRAPH : FLINC_OK;
}
