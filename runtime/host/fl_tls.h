/*
 * fl_tls.h - TLS on flinc's wires (security.ssl.*, docs/security.md).
 *
 * One fl_tls holds a process's TLS settings, read once from its
 * configuration: whether the internal connections (a task manager's RPC
 * to the job manager, the job manager's control connections to the task
 * managers, the data connections between task managers) and the REST API
 * use TLS, and the PEM certificate, private key and trusted CAs for each.
 * Internal connections always authenticate both sides: each presents a
 * certificate that a CA in security.ssl.truststore signed.
 *
 * The daemons hand their nng listeners and dialers (sockets and streams)
 * to fl_tls_listener/dialer..., which give them a TLS configuration made
 * once per purpose. Every TLS connection of the process goes through
 * flinc's own nng TLS engine (tls.c, over mbed TLS, registered on the
 * first fl_tls_create): it does what nng's stock engine does and, on a
 * handshake that fails, logs one line (rate limited) with the peer's
 * address and why, for example
 *
 *   tls: refused a rpc connection from 10.0.0.7:50110: its certificate
 *   (CN=tm-3) is not signed by a CA in security.ssl.truststore
 *   tls: refused a data connection from 10.0.0.7:50112: it presented no
 *   certificate (security.ssl.enabled: both sides need one)
 *   tls: refused a rest connection from 10.0.0.9:40022: it does not speak
 *   TLS (plain text?)
 *   tls: rpc connection to 10.0.0.5:6123 failed: the peer refused our
 *   certificate (TLS alert 'unknown CA') ...
 *
 * The CLI's REST client, which talks over its own sockets, has a small
 * blocking TLS client on a file descriptor (fl_tls_fd_*).
 *
 * Threads: an fl_tls is read-only after fl_tls_create apart from its
 * lazily made configurations (under its own lock): every function is
 * thread-safe. The configurations it hands to nng are held by nng as long
 * as a listener or dialer uses them.
 */
#ifndef FL_TLS_H
#define FL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nng/nng.h>

#include "fl_conf.h"

typedef struct fl_tls fl_tls;

/* What a connection is for: names it in log lines and picks the
 * settings (REST has its own, internal connections share theirs). */
typedef enum fl_tls_purpose {
	FL_TLS_RPC,     /* task manager -> job manager (jobmanager.rpc.port) */
	FL_TLS_CONTROL, /* job manager -> task manager (taskmanager.rpc.port) */
	FL_TLS_DATA,    /* task manager <-> task manager (taskmanager.data.port) */
	FL_TLS_REST,    /* clients -> job manager (rest.port) */
	FL_TLS_NPURPOSES
} fl_tls_purpose;

/* fl_tls_create flags. */
enum {
	/* A client of REST only (the CLI): a certificate and key are needed
	 * only with security.ssl.rest.authentication-enabled. */
	FL_TLS_REST_CLIENT = 1,
};

/* Read security.ssl.* from c, load and check the files they name, and
 * register flinc's TLS engine with nng. *out is NULL (and FLINC_OK) when
 * neither security.ssl.enabled nor security.ssl.rest.enabled is on.
 * Errors (FLINC_ECONFIG, one line naming the key): a file that cannot be
 * read, is not PEM, a key that does not match its certificate, a
 * certificate or truststore missing while TLS is on. A certificate that
 * expired, or that the process's own truststore does not trust, is
 * logged as a warning (its peers will refuse it) but not refused here.
 * *out is the caller's (fl_tls_destroy). Any thread. */
int fl_tls_create(const fl_conf *c, unsigned flags, fl_tls **out, char *err, size_t errcap);

/* Free t and drop its holds on the configurations (listeners and dialers
 * keep theirs). NULL does nothing. */
void fl_tls_destroy(fl_tls *t);

/* Does purpose p use TLS (t may be NULL: no)? */
bool fl_tls_on(const fl_tls *t, fl_tls_purpose p);

/* The URL scheme of purpose p: "tls+tcp" when it uses TLS, else "tcp". */
const char *fl_tls_scheme(const fl_tls *t, fl_tls_purpose p);

/* "rpc", "control", "data", "rest". */
const char *fl_tls_purpose_name(fl_tls_purpose p);

/* Give a listener or dialer created on a "tls+tcp://" URL the
 * configuration of purpose p (server side for listeners, client side for
 * dialers). Call before starting it. FLINC_OK, or FLINC_EIO with nng's
 * reason in err. With TLS off for p these do nothing. */
int fl_tls_listener(fl_tls *t, fl_tls_purpose p, nng_listener l, char *err, size_t errcap);
int fl_tls_dialer(fl_tls *t, fl_tls_purpose p, nng_dialer d, char *err, size_t errcap);
int fl_tls_stream_listener(fl_tls *t, fl_tls_purpose p, nng_stream_listener *l, char *err, size_t errcap);
int fl_tls_stream_dialer(fl_tls *t, fl_tls_purpose p, nng_stream_dialer *d, char *err, size_t errcap);

/* ---- a blocking TLS client on a socket (the CLI's REST client) ---- */

typedef struct fl_tls_fd fl_tls_fd;

/* Run a TLS handshake as a REST client on the connected socket fd (left
 * non-blocking; owned by the caller, who closes it after fl_tls_fd_free),
 * verifying the server's certificate against the REST truststore and,
 * with security.ssl.verify-hostname (default true), that it is for host.
 * Waits at most until deadline_ms (fl_mono_ns()/1e6 scale). FLINC_OK with
 * *out; FLINC_ETIMEDOUT; FLINC_EIO with one line in err ("the job
 * manager's certificate is not signed by a CA in ..."). */
int fl_tls_fd_open(fl_tls *t, int fd, const char *host, int64_t deadline_ms, fl_tls_fd **out, char *err,
		   size_t errcap);
/* Send all n bytes of buf: 0, 1 when the peer closed, <0 on error or
 * past the deadline (FLINC_ETIMEDOUT), with err. */
int fl_tls_fd_send(fl_tls_fd *f, const void *buf, size_t n, int64_t deadline_ms, char *err, size_t errcap);
/* Read up to cap bytes: the count, 0 at the end of the stream, <0 on
 * error or past the deadline (FLINC_ETIMEDOUT), with err. */
ssize_t fl_tls_fd_recv(fl_tls_fd *f, void *buf, size_t cap, int64_t deadline_ms, char *err, size_t errcap);
/* Send close_notify (best effort) and free; NULL does nothing. */
void fl_tls_fd_free(fl_tls_fd *f);

#endif
