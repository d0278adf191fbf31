/*
 * kafka_source.c - record values of Kafka topics as lines (docs/kafka.md).
 *
 * Splitting. Partition p of topic T belongs to subtask
 * (start(T) + p) mod parallelism, start(T) a hash of the topic name (the
 * rule of Flink's KafkaTopicPartitionAssigner): every subtask knows its
 * partitions without talking to the others, partitions of one topic spread
 * evenly, and a partition that discovery finds later has the same owner on
 * every subtask. Each subtask runs one consumer with a manual assignment
 * (no group rebalancing) and isolation.level=read_committed.
 *
 * Positions. The next offset of every owned partition is the source's
 * checkpointed operator state (with the end offset of a bounded read). At
 * restore every subtask gets the positions of all old subtasks (union) and
 * keeps those of the partitions it owns now, so a savepoint restores at
 * another parallelism with no gap and no duplicate. A partition with no
 * restored position is new: it starts at the earliest offset (after a
 * restore) or where start= says (a fresh start). The group's committed
 * offsets are written only when a checkpoint completes (the positions of
 * that checkpoint), for lag monitoring; they are never read back except by
 * start=committed on a fresh start.
 *
 * Bounded (bounded=true): the high watermarks seen when a partition is
 * first assigned are its end, kept in the checkpoint so a restart ends at
 * the same offsets; the subtask ends when every owned partition reached its
 * end. Discovery is off for a bounded read.
 *
 * Time. Each record carries its Kafka timestamp. A partition's watermark is
 * its highest timestamp - out-of-orderness - 1; the source emits the
 * minimum over its partitions that are neither done nor idle (caught up
 * with the broker, i.e. at partition EOF, and silent for `idle` ms), and
 * marks its output idle when all are. Only a caught-up partition can turn
 * idle: one whose records the consumer has not fetched yet (a slow start,
 * a backlog) would otherwise let the watermark pass them, and they would
 * all arrive late.
 *
 * Records are the message payloads, handed on as flinc_line pointing into
 * librdkafka's message (valid during flinc_emit): no copy and no allocation
 * of ours per record.
 *
 * Threads: each instance belongs to its subtask's thread; librdkafka's own
 * threads are behind its handle.
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "graph.h"
#include "kafka.h"
#include "op.h"
#include "task.h"

#define SNAPSHOT_VERSION 1
#define META_TIMEOUT_MS 10000
#define POLL_WAIT_MS 10
#define LAG_EVERY_MS 200 /* how often the partitions' lag metrics are refreshed */

typedef struct kpart {
	uint32_t topic; /* index in the address's topics */
	int32_t partition;
	int64_t next; /* next offset to read, or RD_KAFKA_OFFSET_* before the first record */
	int64_t end;  /* bounded: stop here; -1 unbounded */
	int64_t max_ts;
	int64_t last_ms; /* processing time of the last record */
	bool done, idle;
	bool at_eof; /* PARTITION_EOF since the last record: caught up */
} kpart;

/* A restored position (any subtask's). */
typedef struct kpos {
	char *topic;
	int32_t partition;
	int64_t next, end;
} kpos;

typedef struct ksrc_conf {
	const fl_kafka_addr *a;
	double rate;
} ksrc_conf;

typedef struct ksrc {
	const ksrc_conf *conf;
	rd_kafka_t *rk;
	kpart *parts; /* owned and assigned */
	size_t nparts, cap;
	kpos *restored;
	size_t nrestored, rcap;
	bool was_restored;
	bool started, idle_out, quiet;
	int64_t wm; /* last watermark emitted */
	int64_t next_discovery;
	int64_t next_lag; /* when report_lag runs next */
	/* positions of the newest snapshot, committed when it completes */
	rd_kafka_topic_partition_list_t *to_commit;
	int64_t to_commit_id;
	fl_pacer pace;
	fl_log_limit loglim;
} ksrc;

static uint32_t topic_start(const char *topic, int p)
{
	/* Java's String.hashCode, as Flink's assigner: same owners as Flink. */
	int32_t h = 0;
	for (const char *s = topic; *s; s++) h = (int32_t)((uint32_t)h * 31u + (uint8_t)*s);
	return (uint32_t)((int32_t)((uint32_t)h * 31u) & 0x7fffffff) % (uint32_t)p;
}

static bool owns(flinc_ctx *c, const char *topic, int32_t partition)
{
	int p = flinc_ctx_parallelism(c);
	return (int)((topic_start(topic, p) + (uint32_t)partition) % (uint32_t)p) == flinc_ctx_subtask(c);
}

static kpart *find_part(ksrc *s, uint32_t topic, int32_t partition)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (s->parts[i].topic == topic && s->parts[i].partition == partition) return &s->parts[i];
	return NULL;
}

static const kpos *find_restored(const ksrc *s, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < s->nrestored; i++)
		if (s->restored[i].partition == partition && strcmp(s->restored[i].topic, topic) == 0)
			return &s->restored[i];
	return NULL;
}

/* Partitions of each topic now; owned ones not yet assigned are added with
 * their start position and assigned (incrementally). */
static int discover(flinc_ctx *c, ksrc *s, bool first)
{
	const fl_kafka_addr *a = s->conf->a;
	rd_kafka_topic_partition_list_t *add = rd_kafka_topic_partition_list_new(8);
	int rc = FLINC_OK;
	for (size_t t = 0; t < a->ntopics; t++) {
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(s->rk, a->topics[t], NULL);
		const struct rd_kafka_metadata *md = NULL;
		rd_kafka_resp_err_t err = rd_kafka_metadata(s->rk, 0, rkt, &md, META_TIMEOUT_MS);
		rd_kafka_topic_destroy(rkt);
		if (err || md->topic_cnt != 1 || md->topics[0].err) {
			rd_kafka_resp_err_t e2 = err ? err : md->topic_cnt == 1 ? md->topics[0].err : err;
			if (md) rd_kafka_metadata_destroy(md);
			if (first && a->bounded) {
				flinc_ctx_fail(c, "input %s: topic %s: %s", a->address, a->topics[t],
					       rd_kafka_err2str(e2));
				rc = FLINC_EIO;
				goto out;
			}
			fl_log_limited(&s->loglim, FL_LOG_WARN, "kafka", "input %s: topic %s: %s (retrying)",
				       a->address, a->topics[t], rd_kafka_err2str(e2));
			continue;
		}
		for (int i = 0; i < md->topics[0].partition_cnt; i++) {
			int32_t p = md->topics[0].partitions[i].id;
			if (!owns(c, a->topics[t], p) || find_part(s, (uint32_t)t, p)) continue;
			if (s->nparts == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 16;
				s->parts = fl_realloc(s->parts, s->cap * sizeof *s->parts);
			}
			kpart *kp = &s->parts[s->nparts++];
			memset(kp, 0, sizeof *kp);
			kp->topic = (uint32_t)t;
			kp->partition = p;
			kp->end = -1;
			kp->max_ts = FLINC_WATERMARK_MIN;
			kp->last_ms = flinc_ctx_now(c);
			const kpos *r = find_restored(s, a->topics[t], p);
			if (r) {
				kp->next = r->next;
				kp->end = r->end;
			} else if (s->was_restored || !first) {
				kp->next = RD_KAFKA_OFFSET_BEGINNING; /* a partition added since */
			} else {
				switch (a->start) {
				case FL_KAFKA_EARLIEST: kp->next = RD_KAFKA_OFFSET_BEGINNING; break;
				case FL_KAFKA_LATEST: kp->next = RD_KAFKA_OFFSET_END; break;
				case FL_KAFKA_COMMITTED: kp->next = RD_KAFKA_OFFSET_STORED; break;
				case FL_KAFKA_TIMESTAMP: kp->next = a->start_ts; break;
				}
			}
			rd_kafka_topic_partition_list_add(add, a->topics[t], p)->offset = kp->next;
		}
		rd_kafka_metadata_destroy(md);
	}
	if (add->cnt == 0) goto out;
	if (first && !s->was_restored && s->conf->a->start == FL_KAFKA_TIMESTAMP) {
		rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(s->rk, add, META_TIMEOUT_MS);
		if (err) {
			flinc_ctx_fail(c, "input %s: offsets for timestamp %" PRId64 ": %s", a->address,
				       a->start_ts, rd_kafka_err2str(err));
			rc = FLINC_EIO;
			goto out;
		}
		for (int i = 0; i < add->cnt; i++) {
			/* past the last record: -1, read from the end */
			if (add->elems[i].offset < 0) add->elems[i].offset = RD_KAFKA_OFFSET_END;
			for (size_t t = 0; t < a->ntopics; t++)
				if (strcmp(a->topics[t], add->elems[i].topic) == 0)
					find_part(s, (uint32_t)t, add->elems[i].partition)->next =
						add->elems[i].offset;
		}
	}
	if (a->bounded) {
		for (int i = 0; i < add->cnt; i++) {
			kpart *kp = NULL;
			for (size_t t = 0; t < a->ntopics && !kp; t++)
				if (strcmp(a->topics[t], add->elems[i].topic) == 0)
					kp = find_part(s, (uint32_t)t, add->elems[i].partition);
			if (kp->end < 0) {
				int64_t lo = 0, hi = 0;
				rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
					s->rk, add->elems[i].topic, kp->partition, &lo, &hi, META_TIMEOUT_MS);
				if (err) {
					flinc_ctx_fail(c, "input %s: end offset of %s/%d: %s", a->address,
						       add->elems[i].topic, kp->partition,
						       rd_kafka_err2str(err));
					rc = FLINC_EIO;
					goto out;
				}
				kp->end = hi;
			}
			kp->done = kp->next >= 0 && kp->next >= kp->end;
			if (kp->end == 0) kp->done = true;
		}
	}
	rd_kafka_error_t *e = rd_kafka_incremental_assign(s->rk, add);
	if (e) {
		flinc_ctx_fail(c, "input %s: assign: %s", a->address, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		rc = FLINC_EIO;
	}
out:
	rd_kafka_topic_partition_list_destroy(add);
	return rc;
}

static int ksrc_open(flinc_ctx *c, void *local)
{
	ksrc *s = local;
	const ksrc_conf *conf = flinc_ctx_arg(c);
	const fl_kafka_addr *a = conf->a;
	char err[512];
	s->conf = conf;
	s->wm = FLINC_WATERMARK_MIN;
	s->pace.per_sec = conf->rate > 0 ? conf->rate / flinc_ctx_parallelism(c) : 0;
	s->was_restored = s->was_restored || flinc_ctx_restored_checkpoint(c) > 0;
	s->loglim.burst = 5;
	s->loglim.window_ms = 60000;
	rd_kafka_conf_t *kc = fl_kafka_conf(c, a, err, sizeof err);
	char group[300];
	snprintf(group, sizeof group, "%s", a->group ? a->group : "flinc-source");
	if (!kc || fl_kafka_set(kc, "group.id", group, err, sizeof err) ||
	    fl_kafka_set(kc, "enable.auto.commit", "false", err, sizeof err) ||
	    fl_kafka_set(kc, "enable.auto.offset.store", "false", err, sizeof err) ||
	    fl_kafka_set(kc, "enable.partition.eof", "true", err, sizeof err) ||
	    fl_kafka_set(kc, "auto.offset.reset", "earliest", err, sizeof err) ||
	    fl_kafka_set(kc, "isolation.level", "read_committed", err, sizeof err)) {
		if (kc) rd_kafka_conf_destroy(kc);
		flinc_ctx_fail(c, "input %s: %s", a->address, err);
		return FLINC_ECONFIG;
	}
	s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof err);
	if (!s->rk) {
		flinc_ctx_fail(c, "input %s: cannot create a consumer: %s", a->address, err);
		return FLINC_EIO;
	}
	rd_kafka_poll_set_consumer(s->rk);
	return FLINC_OK;
}

static bool all_done(const ksrc *s);

/* Merge the partitions' watermarks; emit when it rose; idle status. */
static void watermarks(flinc_ctx *c, ksrc *s, int64_t now)
{
	const fl_kafka_addr *a = s->conf->a;
	int64_t wm = INT64_MAX;
	bool any_active = false;
	for (size_t i = 0; i < s->nparts; i++) {
		kpart *kp = &s->parts[i];
		if (kp->done) continue;
		if (!kp->idle && kp->at_eof && a->idle_ms > 0 && now - kp->last_ms >= a->idle_ms)
			kp->idle = true;
		if (kp->idle) continue;
		any_active = true;
		int64_t pw = kp->max_ts == FLINC_WATERMARK_MIN ? FLINC_WATERMARK_MIN
							       : kp->max_ts - a->out_of_orderness - 1;
		if (pw < wm) wm = pw;
	}
	fl_op *op = c->op;
	if (!any_active) {
		/* Every partition at its bounded end: the end of input follows, which
		 * is not idleness. Marked idle, the task would let downstream tasks
		 * go idle too; one of them that then fires on its own end of input
		 * sends results (and MAX) while its peers, still marked idle, have
		 * results of the same windows to send: the next stage would fire
		 * those windows on partial input (vs-flink --source kafka saw q5's
		 * top auctions wrong in about half of the runs at p=2). */
		if (all_done(s)) return;
		if (!s->idle_out && s->nparts > 0) {
			s->idle_out = true;
			fl_task_set_idle(op->task, true);
		}
		return;
	}
	if (s->idle_out) {
		s->idle_out = false;
		fl_task_set_idle(op->task, false);
	}
	if (wm != INT64_MAX && wm > s->wm) {
		s->wm = wm;
		fl_op_forward_watermark(op, wm);
	}
}

static bool all_done(const ksrc *s)
{
	for (size_t i = 0; i < s->nparts; i++)
		if (!s->parts[i].done) return false;
	return true;
}

static kpart *part_of(ksrc *s, const rd_kafka_message_t *m)
{
	const char *topic = rd_kafka_topic_name(m->rkt);
	const fl_kafka_addr *a = s->conf->a;
	for (size_t t = 0; t < a->ntopics; t++)
		if (strcmp(a->topics[t], topic) == 0) return find_part(s, (uint32_t)t, m->partition);
	return NULL;
}

/* The lag metrics of the owned partitions (fl_task_stats): the next offset
 * to read and how far it is behind the partition's high watermark as the
 * consumer last saw it (librdkafka's cached value: no request is made).
 * With read_committed, the high watermark counts transaction markers and
 * aborted records, so a caught-up partition may show a small lag. */
static void report_lag(flinc_ctx *c, ksrc *s)
{
	const fl_kafka_addr *a = s->conf->a;
	for (size_t i = 0; i < s->nparts; i++) {
		kpart *kp = &s->parts[i];
		struct fl_lag_slot *sl = fl_task_lag_slot(c->op->task, a->topics[kp->topic], kp->partition);
		if (!sl) return;
		int64_t lo, hi;
		int64_t lag = -1;
		if (kp->next >= 0 &&
		    rd_kafka_get_watermark_offsets(s->rk, a->topics[kp->topic], kp->partition, &lo, &hi) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR &&
		    hi >= 0)
			lag = hi > kp->next ? hi - kp->next : 0;
		atomic_store_explicit(&sl->offset, kp->next, memory_order_relaxed);
		atomic_store_explicit(&sl->lag, lag, memory_order_relaxed);
	}
}

static int ksrc_run(flinc_ctx *c, void *local, uint32_t budget)
{
	ksrc *s = local;
	const fl_kafka_addr *a = s->conf->a;
	int64_t now = flinc_ctx_now(c);
	if (!s->started) {
		int rc = discover(c, s, true);
		if (rc) return rc;
		s->started = true;
		s->next_discovery = now + a->discovery_ms;
	} else if (!a->bounded && a->discovery_ms > 0 && now >= s->next_discovery) {
		int rc = discover(c, s, false);
		if (rc) return rc;
		s->next_discovery = now + a->discovery_ms;
	}
	if (a->bounded && all_done(s)) return FLINC_SOURCE_END;
	int quota = fl_pacer_quota(&s->pace, budget);
	if (quota == 0) return FLINC_SOURCE_IDLE;

	int sent = 0;
	while (sent < quota) {
		rd_kafka_message_t *m =
			rd_kafka_consumer_poll(s->rk, s->quiet && sent == 0 ? POLL_WAIT_MS : 0);
		if (!m) break;
		kpart *kp = m->rkt ? part_of(s, m) : NULL;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (kp) {
				kp->at_eof = true;
				if (m->offset > kp->next) kp->next = m->offset;
				if (kp->end >= 0 && kp->next >= kp->end) kp->done = true;
			}
			rd_kafka_message_destroy(m);
			continue;
		}
		if (m->err) {
			bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
				m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
			if (fatal) {
				flinc_ctx_fail(c, "input %s: %s", a->address, rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				return FLINC_EIO;
			}
			fl_log_limited(&s->loglim, FL_LOG_WARN, "kafka", "input %s: %s", a->address,
				       rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			break;
		}
		if (!kp || kp->done) { /* not ours (any more), or past a bounded end */
			rd_kafka_message_destroy(m);
			continue;
		}
		if (kp->end >= 0 && m->offset >= kp->end) {
			kp->done = true;
			kp->next = kp->end;
			rd_kafka_message_destroy(m);
			continue;
		}
		flinc_line line = { (const char *)m->payload, (uint32_t)m->len };
		if (!m->payload) line.s = "";
		rd_kafka_timestamp_type_t tt;
		int64_t ts = rd_kafka_message_timestamp(m, &tt);
		kp->next = m->offset + 1;
		kp->last_ms = now;
		kp->idle = false;
		kp->at_eof = false;
		if (ts >= 0 && ts > kp->max_ts) kp->max_ts = ts;
		if (kp->end >= 0 && kp->next >= kp->end) kp->done = true;
		fl_src_at_kafka(c, rd_kafka_topic_name(m->rkt), m->partition, m->offset, line.s, line.len);
		flinc_emit_ts(c, &line, ts >= 0 ? ts : FLINC_TS_NONE);
		rd_kafka_message_destroy(m);
		sent++;
	}
	s->pace.sent += sent;
	s->quiet = sent == 0;
	watermarks(c, s, now);
	if (now >= s->next_lag) {
		report_lag(c, s);
		s->next_lag = now + LAG_EVERY_MS;
	}
	if (a->bounded && all_done(s)) return FLINC_SOURCE_END;
	return sent == 0 ? FLINC_SOURCE_IDLE : FLINC_SOURCE_MORE;
}

/*
 * Snapshot: a msgpack map
 *   v: 1, subtask, parallelism,
 *   parts: [[topic, partition, next, end], ...] of the partitions it owns
 *          (next < 0: nothing read yet, the start rule applies; end -1:
 *          unbounded),
 * plus restored positions of partitions it owns but has not assigned yet.
 */
static int ksrc_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	ksrc *s = local;
	const fl_kafka_addr *a = s->conf ? s->conf->a : ((const ksrc_conf *)flinc_ctx_arg(c))->a;
	size_t extra = 0;
	for (size_t i = 0; i < s->nrestored; i++) {
		const kpos *r = &s->restored[i];
		bool assigned = false;
		for (size_t t = 0; t < a->ntopics && !assigned; t++)
			assigned = strcmp(a->topics[t], r->topic) == 0 &&
				find_part(s, (uint32_t)t, r->partition);
		extra += !assigned && owns(c, r->topic, r->partition);
	}
	fl_conn_snapshot_head(c, w, SNAPSHOT_VERSION, 1);
	flinc_w_cstr(w, "parts");
	flinc_w_array(w, (uint32_t)(s->nparts + extra));
	if (s->to_commit) rd_kafka_topic_partition_list_destroy(s->to_commit);
	s->to_commit = rd_kafka_topic_partition_list_new((int)(s->nparts ? s->nparts : 1));
	for (size_t i = 0; i < s->nparts; i++) {
		const kpart *kp = &s->parts[i];
		flinc_w_array(w, 4);
		flinc_w_cstr(w, a->topics[kp->topic]);
		flinc_w_int(w, kp->partition);
		flinc_w_int(w, kp->next);
		flinc_w_int(w, kp->end);
		if (kp->next >= 0)
			rd_kafka_topic_partition_list_add(s->to_commit, a->topics[kp->topic], kp->partition)
				->offset = kp->next;
	}
	for (size_t i = 0; i < s->nrestored; i++) {
		const kpos *r = &s->restored[i];
		bool assigned = false;
		for (size_t t = 0; t < a->ntopics && !assigned; t++)
			assigned = strcmp(a->topics[t], r->topic) == 0 &&
				find_part(s, (uint32_t)t, r->partition);
		if (assigned || !owns(c, r->topic, r->partition)) continue;
		flinc_w_array(w, 4);
		flinc_w_cstr(w, r->topic);
		flinc_w_int(w, r->partition);
		flinc_w_int(w, r->next);
		flinc_w_int(w, r->end);
	}
	s->to_commit_id = c->op->task->cp_taking;
	return w->err ? FLINC_ERANGE : FLINC_OK;
}

static int ksrc_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	ksrc *s = local;
	uint64_t v = 0;
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
		if (kl == 1 && key[0] == 'v') {
			v = flinc_r_uint(r);
		} else if (kl == 5 && memcmp(key, "parts", 5) == 0) {
			uint32_t n = flinc_r_array(r);
			for (uint32_t i = 0; i < n && !r->err; i++) {
				if (flinc_r_array(r) != 4) r->err = 1;
				uint32_t tl;
				const char *t = flinc_r_str(r, &tl);
				int64_t p = flinc_r_int(r), next = flinc_r_int(r), end = flinc_r_int(r);
				if (r->err) break;
				if (s->nrestored == s->rcap) {
					s->rcap = s->rcap ? s->rcap * 2 : 16;
					s->restored = fl_realloc(s->restored, s->rcap * sizeof *s->restored);
				}
				kpos *kp = &s->restored[s->nrestored++];
				kp->topic = fl_malloc(tl + 1);
				memcpy(kp->topic, t, tl);
				kp->topic[tl] = 0;
				kp->partition = (int32_t)p;
				kp->next = next;
				kp->end = end;
			}
		} else if (flinc_r_skip(r) != 0) {
			r->err = 1;
		}
	}
	if (r->err || v != SNAPSHOT_VERSION) {
		flinc_ctx_fail(c,
			       "kafka source: cannot read its checkpointed offsets (snapshot version %llu)",
			       (unsigned long long)v);
		return FLINC_ECODEC;
	}
	s->was_restored = true;
	return FLINC_OK;
}

/* The checkpoint of the newest snapshot completed: commit its offsets to
 * the group (asynchronously; only lag monitoring reads them). */
static void ksrc_complete(flinc_ctx *c, void *local, int64_t id)
{
	ksrc *s = local;
	if (!s->rk || !s->to_commit || !s->conf->a->group || s->to_commit->cnt == 0 || s->to_commit_id > id)
		return;
	rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, s->to_commit, 1);
	if (err)
		fl_log_limited(&s->loglim, FL_LOG_WARN, "kafka", "input %s: committing offsets: %s",
			       s->conf->a->address, rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(s->to_commit);
	s->to_commit = NULL;
	(void)c;
}

static void ksrc_close(flinc_ctx *c, void *local)
{
	(void)c;
	ksrc *s = local;
	if (s->rk) {
		rd_kafka_consumer_close(s->rk);
		rd_kafka_destroy(s->rk);
		s->rk = NULL;
	}
	if (s->to_commit) rd_kafka_topic_partition_list_destroy(s->to_commit);
	s->to_commit = NULL;
	for (size_t i = 0; i < s->nrestored; i++) free(s->restored[i].topic);
	free(s->restored);
	free(s->parts);
	s->restored = NULL;
	s->parts = NULL;
	s->nrestored = s->nparts = s->cap = s->rcap = 0;
}

static const flinc_source_fn kafka_source_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(ksrc),
	.open = ksrc_open,
	.run = ksrc_run,
	.snapshot = ksrc_snapshot,
	.restore = ksrc_restore,
	.close = ksrc_close,
};

static const fl_conn_hooks kafka_source_hooks = {
	.checkpoint_complete = ksrc_complete,
};

flinc_stream *fl_kafka_lines_from(flinc_env *e, const char *name, const char *address, double rate)
{
	const fl_kafka_addr *a = fl_kafka_parse(e, address, false, name);
	ksrc_conf *conf = flinc_env_alloc(e, sizeof *conf);
	conf->a = a;
	conf->rate = rate;
	flinc_stream *s = flinc_source(e, name, &kafka_source_fn, conf, &flinc_type_line);
	fl_source_hooks(s, &kafka_source_hooks);
	return s;
}
