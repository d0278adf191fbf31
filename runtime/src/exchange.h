/*
 * exchange.h - moving records between subtasks.
 *
 * A channel connects one producer subtask to one consumer subtask and
 * carries fixed-size buffers (execution.buffer-size, default 32 KiB) of
 * events: records, watermarks, idle/active status, end of input. It has a
 * fixed number of buffers (credits): the producer takes a free one, fills
 * it, and sends it; the consumer reads it and gives it back. When none is
 * free the producer waits: a slow consumer slows its producers, with memory
 * bounded by channels x buffers, and nothing is dropped. Order is kept per
 * channel. Both sides are lock-free single-producer/single-consumer rings;
 * a sleeping side is woken through its task's fl_notify.
 *
 * A writer is the producer's end of one graph edge: it picks channel(s) by
 * the edge's partitioning and encodes records into the current buffer of
 * the chosen channel (msgpack, or the raw bytes of POD types inside one
 * process). A buffer is sent when full, when the buffer timeout passes
 * (execution.buffer-timeout, default 100 ms), or when the task flushes.
 *
 * Threads: the producer side (writer, fl_channel_acquire/send) is used by
 * the producer's thread only; the consumer side (fl_channel_poll/release)
 * by the consumer's only.
 *
 * fl_channel and fl_notify are opaque to host programs: the runtime's door
 * (fl_runtime.h) declares them and the one channel read they need.
 *
 * Ownership. A channel belongs to neither of its ends: an in-process
 * channel belongs to the execution that wired it (executor.c), one end of
 * a remote channel to the data service (netx.c, until fl_netx_close). It
 * points at the notifies of both ends without owning them: sending signals
 * the consumer's, releasing the producer's. Hence the teardown order of a
 * job, the same for cancel, failure and a normal end:
 *   1. close:  cancel every task (non-blocking, any thread);
 *   2. stop:   join every task thread. A task gives back the buffers it
 *              holds before its thread ends; after the joins no task
 *              touches a channel any more;
 *   3. close the remote channels (fl_netx_close): after it returns the
 *              data service touches neither them nor the tasks' notifies;
 *   4. fini:   free the tasks (and their notifies), then the local
 *              channels. Nothing in fini touches a channel's other end.
 * A notify therefore outlives every channel that may still signal it, and
 * a channel outlives both of its ends' use of it.
 */
#ifndef FL_EXCHANGE_H
#define FL_EXCHANGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <flinc/flinc.h>

#include "graph.h"

/* ---- wakeups ---------------------------------------------------------- */

/* An event count: waiters sleep until signalled or a timeout. Signalling
 * costs one atomic add when nobody sleeps. */
struct fl_notify {
	_Atomic uint32_t seq;
	/* Set when a barrier of an unaligned checkpoint was posted on one of
	 * the owner's input channels (fl_channel_post_barrier): the owner
	 * checks it between records and clears it before it looks. */
	_Atomic uint32_t prio;
	_Atomic int waiters;
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

void fl_notify_init(fl_notify *n);
void fl_notify_fini(fl_notify *n);
void fl_notify_signal(fl_notify *n);
/* Take a ticket before checking for work; then wait with it, so a signal
 * between the check and the wait is not lost. */
static inline uint32_t fl_notify_ticket(fl_notify *n) { return atomic_load(&n->seq); }
void fl_notify_wait(fl_notify *n, uint32_t ticket, int64_t timeout_ns);

/* ---- buffers and channels -------------------------------------------- */

enum {
	FL_EV_RECORD = 1,    /* [u32 len][bytes] */
	FL_EV_RECORD_TS = 2, /* [i64 ts][u32 len][bytes] */
	FL_EV_WATERMARK = 3, /* [i64] */
	FL_EV_STATUS = 4,    /* [u8 idle] */
	FL_EV_END = 5,       /* end of input */
	FL_EV_BARRIER = 6,   /* [i64 checkpoint id][u8 flags: FL_BARRIER_*] */
	/* A latency marker (metrics.latency.interval): [i64 wall-clock ns
	 * when the source emitted it][u32 source vertex][u32 source subtask].
	 * In order with the records; not a record (no count). */
	FL_EV_LATENCY = 7,
};

#define FL_BARRIER_SAVEPOINT 1u /* snapshot in the canonical format only */
#define FL_BARRIER_UNALIGNED 2u /* posted beside the ring, never in a buffer */

typedef struct fl_xbuf {
	uint32_t len;
	uint32_t cap;
	uint8_t *data;
} fl_xbuf;

/* nbufs buffers of bufsize bytes. The notifies belong to the consumer and
 * producer (tasks, or the data service) and must stay valid as long as
 * either side may still use the channel (see "Ownership" above). The
 * creator owns the channel and frees it with fl_channel_destroy once
 * neither side uses it; destroy frees every buffer, wherever it is. */
fl_channel *fl_channel_create(uint32_t nbufs, uint32_t bufsize, fl_notify *consumer, fl_notify *producer);
void fl_channel_destroy(fl_channel *c);

/* Producer: a free buffer (len 0), or NULL when none is free now. */
fl_xbuf *fl_channel_try_acquire(fl_channel *c);
void fl_channel_send(fl_channel *c, fl_xbuf *b);
/* Consumer: the next full buffer or NULL; give it back when read. */
fl_xbuf *fl_channel_poll(fl_channel *c);
void fl_channel_release(fl_channel *c, fl_xbuf *b);
/* Buffers in flight (sent, not yet released): backpressure metric. */
uint32_t fl_channel_queued(fl_channel *c);
/* fl_channel_free_count (fl_runtime.h): free buffers the producer could
 * take now; the data service polls it to decide when to grant credit. */

/* ---- unaligned checkpoint barriers ----------------------------------- */

/* A barrier of an unaligned checkpoint (execution.checkpointing.unaligned)
 * does not queue behind the buffers in flight: the producer posts it
 * beside the ring, and the consumer sees it before the next buffer it
 * polls. The buffers it overtook are the channel's in-flight data of that
 * checkpoint: the ring's buffers before `ring_seq` (sequence numbers count
 * the buffers ever sent into the ring, wrapping at 2^32), then `nblob`
 * more that are not in the ring yet, carried in `blob` as items
 * [u32 len][bytes] (a remote channel's receiving end: buffers still queued
 * at the sending task manager, which will also arrive as data). The
 * consumer copies what it had not processed of them into the snapshot and
 * processes them as usual; a restore replays the copy.
 *
 * One slot per channel: a newer barrier posted before the consumer took
 * the older replaces it (the older checkpoint cannot complete there any
 * more). Posting takes a mutex (once per checkpoint and channel); the
 * consumer's check is one atomic load per buffer. Posting happens before
 * the producer sends any buffer behind the barrier, so a consumer that
 * polled a buffer and then finds no barrier pending knows that buffer
 * precedes any barrier still to come. */
typedef struct fl_prio_barrier {
	int64_t id;
	uint8_t flags;
	uint32_t ring_seq;
	uint32_t nblob;
	uint8_t *blob; /* owned by the holder of the struct (free) */
	size_t bloblen;
} fl_prio_barrier;

/* Producer side (the writer, or the data service filling a remote
 * channel's receiving end): post barrier id; the channel takes `blob`. */
void fl_channel_post_barrier(fl_channel *c, int64_t id, uint8_t flags, uint32_t ring_seq, uint8_t *blob,
			     size_t bloblen, uint32_t nblob);
/* Consumer side: whether a barrier is posted, and take it (false: none). */
bool fl_channel_barrier_pending(fl_channel *c);
bool fl_channel_take_barrier(fl_channel *c, fl_prio_barrier *out);
/* Buffers ever sent into the ring (producer side), ever polled from it
 * (consumer side), and a buffer sent but not yet polled (consumer side:
 * read_seq <= seq < the sent count; NULL otherwise). */
uint32_t fl_channel_sent_seq(fl_channel *c);
uint32_t fl_channel_read_seq(fl_channel *c);
const fl_xbuf *fl_channel_peek(fl_channel *c, uint32_t seq);

/* ---- buffer debloating ------------------------------------------------ */

/* Buffer debloating (Flink's taskmanager.network.memory.buffer-debloat.*):
 * the consumer measures how many bytes a second it really takes from its
 * inputs and sets, per channel, how full the producer fills a buffer
 * before sending it, so that the data queued ahead of a barrier drains in
 * about the target time. The target is one atomic per channel, written by
 * the consumer (or, for a remote channel's sending end, by the data
 * service when a CREDIT brings the receiver's value) and read by the
 * writer once per buffer it takes: no lock, nothing per record. 0 = not
 * announced yet (the writer starts at its initial_target),
 * FL_TARGET_FULL = fill whole buffers. A record larger than the target
 * still goes in whole. */
#define FL_TARGET_FULL UINT32_MAX
void fl_channel_set_target(fl_channel *c, uint32_t bytes);
uint32_t fl_channel_target(fl_channel *c);
/* Buffers between the producer and the consumer of this channel (its own
 * nbufs; a remote channel's receiving end also counts the sending end's
 * buffers: the data service sets it). */
void fl_channel_set_path_buffers(fl_channel *c, uint32_t n);
uint32_t fl_channel_path_buffers(fl_channel *c);
uint32_t fl_channel_bufsize(fl_channel *c);

/* The size computation: bytes a buffer should hold so that
 * `path_buffers` buffers on each of `nchannels` channels hold what the
 * consumer takes in `target_ns` at `bytes_per_s`; within [floor, max]. */
uint32_t fl_debloat_size(double bytes_per_s, int64_t target_ns, uint32_t nchannels, uint32_t path_buffers,
			 uint32_t floor, uint32_t max);
/* Whether `want` differs from the announced `cur` (FL_TARGET_FULL = max)
 * by more than pct percent of cur: only then is a new target worth
 * announcing. Nothing announced yet (cur 0): always. */
bool fl_debloat_changed(uint32_t cur, uint32_t want, uint32_t max, uint32_t pct);

/* ---- writers ---------------------------------------------------------- */

typedef struct fl_writer fl_writer;

typedef struct fl_writer_params {
	fl_partition part;
	flinc_key_fn key;
	int max_parallelism;
	fl_key_hash_kind key_hash; /* the job's (flinc_env.key_hash) */
	const flinc_type *type;
	bool raw;            /* POD type and every channel in-process: memcpy */
	int64_t timeout_ns;  /* buffer timeout; 0 = flush after every event */
	fl_notify *self;     /* the producer task's notify (credit returns) */
	_Atomic int *cancel; /* producer's cancel flag: stop waiting for credit */
	uint32_t subtask;    /* producer index, to spread rebalance */
	/* Buffer debloating: fill a buffer only this far until the consumer
	 * announced its target (0: whole buffers). */
	uint32_t initial_target;
} fl_writer_params;

fl_writer *fl_writer_create(const fl_writer_params *p, fl_channel **ch, uint32_t nch);
void fl_writer_destroy(fl_writer *w);

/* Each returns false when the task was canceled while waiting for credit. */
bool fl_writer_record(fl_writer *w, const void *rec, int64_t ts);
bool fl_writer_watermark(fl_writer *w, int64_t wm);
bool fl_writer_status(fl_writer *w, bool idle);
bool fl_writer_end(fl_writer *w); /* flushes */
/* A checkpoint barrier to every channel, behind everything written before
 * it; flushes so it travels at once. With FL_BARRIER_UNALIGNED in flags
 * the buffers are sent and the barrier is posted beside them (see
 * "unaligned checkpoint barriers"): it never waits for credit. */
bool fl_writer_barrier(fl_writer *w, int64_t id, uint8_t flags);
/* A latency marker to one random channel (Flink's choice: markers
 * sample paths, they do not flood every one), behind everything written
 * before it. Not counted as a record; flushed only by the buffer timeout,
 * as records are, so it measures what they wait. */
bool fl_writer_latency(fl_writer *w, int64_t emit_ns, uint32_t vertex, uint32_t subtask);
/* About how many records every channel takes now without waiting for
 * credit (room in its current buffer and its free buffers, over the
 * average record size so far): a source produces no more than that in
 * one step, so that under backpressure it waits where it can still take
 * a checkpoint trigger rather than inside an emit. Producer thread. */
uint32_t fl_writer_fit(fl_writer *w);
/* Time the producer waited for availability outside the writer: counted
 * as back-pressured time. */
void fl_writer_add_blocked(fl_writer *w, int64_t ns);
/* Send every buffer whose first event is older than the timeout at now_ns;
 * returns the next deadline (INT64_MAX if nothing is pending). */
int64_t fl_writer_flush_due(fl_writer *w, int64_t now_ns);
bool fl_writer_flush(fl_writer *w);
/* Nanoseconds this writer waited for credit (back-pressured time). */
int64_t fl_writer_blocked_ns(const fl_writer *w);
uint64_t fl_writer_bytes(const fl_writer *w);
/* Records written (a broadcast record counts once). Producer thread only. */
uint64_t fl_writer_records(const fl_writer *w);
/* A rejected record (key function refused it, or it cannot be encoded)
 * is counted here. */
uint64_t fl_writer_rejected(const fl_writer *w);

#endif
