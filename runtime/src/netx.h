/*
 * netx.h - the data service: channels between subtasks of different
 * processes, over TCP, with credit-based flow control.
 *
 * Each task-manager process runs one fl_netx. A producer subtask here and a
 * consumer subtask in another process each see a plain local fl_channel
 * (exchange.h); the service moves the buffers between the two:
 *
 *   producer task --fl_channel--> netx A ==TCP==> netx B --fl_channel--> consumer task
 *                 <--credits----         <=credits=       <--credits---
 *
 * Connections. One TCP connection per ordered pair of processes: process A
 * dials B the first time it opens a channel towards B, and every channel
 * from A to B shares that connection; B's credits for them flow back on the
 * same connection. (Channels from B to A use B's own connection to A.)
 * A connection stays up while both processes live, idle or not (both
 * sides send heartbeats), and serves the next jobs' channels.
 *
 * Channels are named by a 64-bit id chosen by the caller (the job manager),
 * identical on both sides, unique among the live channels received by one
 * process. Include the attempt in it, so a restarted job never meets the
 * stale data of its previous attempt. A useful convention is a job tag in
 * the high 32 bits and the channel's number within the job in the low ones,
 * so fl_netx_close_matching(nx, FL_NETX_JOB_MASK, tag << 32) releases a
 * job's channels.
 *
 * Flow control. The receiving service grants one credit per free buffer of
 * its channel; the sending service sends a buffer only against a credit.
 * A slow consumer therefore stops its producer with at most (sender's
 * buffers + receiver's buffers) in flight, and a channel without credit
 * never holds back the other channels of its connection: the receiver
 * always has a buffer for what arrives. Order per channel is kept.
 * Whether fl_netx_in runs before or after the remote fl_netx_out does not
 * matter: until it does, no credit is granted and the producer's data waits
 * in its own buffers.
 *
 * Failures. A connection that breaks (read or write error, the peer closed
 * it, a protocol violation, nothing received for peer_timeout_ms while both
 * sides send heartbeats every heartbeat_ms, or a failed connect) is
 * reported once through on_peer_lost with the peer's data address. Its
 * channels stay allocated but carry nothing more: a producer waiting for
 * credit or a consumer waiting for data is released by its task's cancel
 * (the task loop and the writer wait in bounded slices), which the owner
 * of the service triggers when told of the loss. A later fl_netx_out to
 * that peer dials a new connection.
 *
 * Threads. fl_netx_out, fl_netx_in, fl_netx_close*, fl_netx_stats_get
 * and fl_netx_addr may be called from any thread. The service runs one thread
 * of its own (credits, heartbeats, reaping broken connections, calling
 * on_peer_lost) and nng's callback threads (socket I/O); no lock or malloc
 * per record, one short critical section per buffer. See netx.c for the
 * wire format.
 */
#ifndef FL_NETX_H
#define FL_NETX_H

#include <stddef.h>
#include <stdint.h>

#include "exchange.h"

typedef struct fl_netx fl_netx;

#define FL_NETX_JOB_MASK 0xffffffff00000000ULL

/* A connection to peer (its data address, as its fl_netx_addr spelled it)
 * was lost. err is a FLINC_E* code (FLINC_EIO, FLINC_ETIMEDOUT,
 * FLINC_EPROTO), why one line for logs and the job manager; both strings
 * are valid during the call only. Called on the service's thread with no
 * lock held: it may call fl_netx_out/in/close*, never fl_netx_destroy. */
typedef void (*fl_netx_lost_fn)(void *ud, const char *peer, int err, const char *why);

/* Tunables; zero fields take the defaults. */
typedef struct fl_netx_opts {
	int64_t connect_timeout_ms; /* 5000: a dial that takes longer fails */
	int64_t heartbeat_ms;       /* 1000: an idle connection sends a PING this often */
	int64_t peer_timeout_ms;    /* 10000: silence this long = peer lost */
	/* Host put in fl_netx_addr when binding a wildcard (0.0.0.0, ::, or
	 * empty); NULL: this machine's host name. */
	const char *advertise_host;
} fl_netx_opts;

/* Bind to `bind` ("tcp://host:port" or "host:port"; port 0 = chosen by
 * the OS), start listening and the service thread. on_lost may be NULL; ud
 * is passed to it; opts may be NULL. On failure returns FLINC_EINVAL (bad
 * address or options), FLINC_EIO (cannot listen: nng's message kept in
 * err) or FLINC_ENOMEM, and nothing is left behind. Any thread. */
int fl_netx_create(const char *bind, fl_netx_lost_fn on_lost, void *ud, const fl_netx_opts *opts, fl_netx **out,
		   char *err, size_t errcap);

/* The address peers dial: "tcp://host:port" with the actual port. Valid
 * until fl_netx_destroy. Any thread. */
const char *fl_netx_addr(const fl_netx *nx);

/* The producer's end of channel `id` towards the process whose service
 * listens at `peer` (its fl_netx_addr; "tcp://" is added when missing, and
 * on_peer_lost names the peer in that form): a channel of nbufs buffers of
 * bufsize bytes whose producer side (fl_channel_try_acquire/send, or a
 * writer) belongs to the producer task; `producer` is that task's notify,
 * signalled when a buffer comes back, and must outlive the channel. Dials
 * the peer if no connection to it is up (asynchronously: a failed connect
 * is reported through on_peer_lost, not here). The channel is owned by the
 * service until fl_netx_close*, fl_netx_destroy. Returns FLINC_EINVAL (bad
 * arguments or peer address), FLINC_EEXIST (id already open for output
 * here) or FLINC_ENOMEM, with one line in err. Any thread. */
int fl_netx_out(fl_netx *nx, const char *peer, uint64_t id, uint32_t nbufs, uint32_t bufsize, fl_notify *producer,
		fl_channel **out, char *err, size_t errcap);

/* The consumer's end of channel `id` (whichever process sends it): nbufs
 * buffers of bufsize bytes (grown when a larger buffer arrives) whose
 * consumer side (fl_channel_poll/release) belongs to the consumer task;
 * `consumer` is that task's notify, signalled when a buffer arrives. Data
 * flows once both ends exist; the buffers are granted as credits to the
 * sender. Owned by the service like fl_netx_out's. Returns FLINC_EINVAL or
 * FLINC_EEXIST (id already registered for input here). Any thread. */
int fl_netx_in(fl_netx *nx, uint64_t id, uint32_t nbufs, uint32_t bufsize, fl_notify *consumer, fl_channel **out);

/* Release channels (either direction) and free them: call when their job
 * ended or was canceled, after the tasks using them were joined (so every
 * consumer saw END, or nobody cares any more). Buffers not yet delivered
 * are dropped. The sending side tells the receiving one, whose consumer
 * still reads what arrived before. Ids announced by a sender but never
 * registered here are forgotten too (not counted); unknown ids are
 * skipped. Returns how many channels opened here were closed. Any thread
 * (also on_peer_lost). */
size_t fl_netx_close(fl_netx *nx, const uint64_t *ids, size_t n);
/* Close every channel whose id satisfies (id & mask) == value. */
size_t fl_netx_close_matching(fl_netx *nx, uint64_t mask, uint64_t value);

typedef struct fl_netx_stats {
	uint64_t buffers_out, bytes_out; /* DATA frames sent, payload bytes */
	uint64_t buffers_in, bytes_in;   /* DATA frames delivered to channels */
	uint64_t discarded;              /* DATA frames for closed channels, dropped */
	uint64_t peers_lost;             /* connections reported lost */
	uint32_t connections;            /* connections now open or opening */
	uint32_t channels_out, channels_in;
} fl_netx_stats;

/* Counters since create (a consistent-enough snapshot). Any thread. */
void fl_netx_stats_get(fl_netx *nx, fl_netx_stats *st);

/* Close every connection (peers see the loss; on_peer_lost is not called
 * here), stop the service thread and nng's callbacks, and free every
 * channel still open. The tasks using them must have been joined.
 * fl_netx_destroy(NULL) does nothing. Not from on_peer_lost. */
void fl_netx_destroy(fl_netx *nx);

#endif
