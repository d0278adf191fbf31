/*
 * fl_base.h - the ground floor of flinc: what every other room may use.
 *
 * base/ depends on libc and Debian libraries only; state/, checkpoint/,
 * runtime/, the daemons and the CLI build on it. Each part has its own
 * header; this one includes them all and adds a few macros.
 *
 *   <flinc/error.h>  error codes (public: the job API re-exports them)
 *   <flinc/codec.h>  msgpack writer and reader (public, likewise)
 *   fl_alloc.h       allocation, with a fail-after-N hook for tests
 *   fl_log.h         log lines to stderr, rate-limited lines
 *   fl_conf.h        key/value configuration, durations and sizes
 *   fl_time.h        wall and monotonic clocks
 *   fl_lat.h         latency histograms (fixed log-scale buckets)
 *   fl_hash.h        MurmurHash64A and CRC32C
 *   fl_strbuf.h      growable string buffer, JSON string escaping
 *   fl_fs.h          local files: mkdir -p, rm -rf, copy, fsync, write-all
 *   fl_auth.h        SHA-256, HMAC, random bytes, the cluster secret, handshake proofs
 */
#ifndef FL_BASE_H
#define FL_BASE_H

#include <flinc/codec.h>
#include <flinc/error.h>

#include "fl_alloc.h"
#include "fl_auth.h"
#include "fl_conf.h"
#include "fl_fs.h"
#include "fl_hash.h"
#include "fl_lat.h"
#include "fl_log.h"
#include "fl_strbuf.h"
#include "fl_time.h"

#define FL_EXPORT __attribute__((visibility("default")))

#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FL_LIKELY(x) __builtin_expect(!!(x), 1)
#define FL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Format a one-line message into err (when err && errcap) and return rc:
 * `return fl_errf(err, errcap, FLINC_EIO, "%s: ...", path, ...);`. */
int fl_errf(char *err, size_t errcap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
