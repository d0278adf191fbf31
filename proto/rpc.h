/*
 * rpc.h - one protobuf Envelope per nng message, over REQ/REP sockets.
 *
 * Threads: nng sockets are thread-safe, but a REQ socket carries one
 * request at a time here: callers serialize their calls on one socket
 * (or use one socket per thread).
 */
#ifndef FL_RPC_H
#define FL_RPC_H

#include <nng/nng.h>

#include "flinc.pb-c.h"

/* Pack and send. Returns 0 or an nng error (nng_strerror names it). */
int fl_rpc_send(nng_socket s, const Flinc__Envelope *env);
/* Receive and unpack; *out is freed with fl_rpc_free. NNG_EINVAL when the
 * bytes are not an Envelope. */
int fl_rpc_recv(nng_socket s, Flinc__Envelope **out);
/* Send a request on a REQ socket and wait for its reply (the socket's
 * NNG_OPT_RECVTIMEO bounds the wait). */
int fl_rpc_call(nng_socket req, const Flinc__Envelope *request, Flinc__Envelope **reply);
void fl_rpc_free(Flinc__Envelope *env); /* NULL is a no-op */

/* Reply Ack{ok, error} on a REP socket. */
int fl_rpc_ack(nng_socket rep, int ok, const char *error);

/* A data-plane channel id: stable for (job, attempt, edge, producer
 * subtask, consumer subtask) so both task managers compute the same. */
uint64_t fl_channel_id(const char *job_id, int attempt, unsigned edge, int producer, int consumer);

#endif
