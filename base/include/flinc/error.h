/*
 * flinc/error.h - the error codes every layer of flinc returns.
 *
 * One X-macro lists them with their names and messages; the enum and
 * flinc_strerror are generated from it. Functions returning int return
 * FLINC_OK (0) or a negative flinc_error. Part of the public job API
 * (flinc.h includes it) and of the ground floor (base/), so the state
 * backends, checkpoint storage and the engine share one set.
 */
#ifndef FLINC_ERROR_H
#define FLINC_ERROR_H

#ifndef FLINC_API
#define FLINC_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define FLINC_ERRORS(X)                         \
	X(OK, 0, "ok")                          \
	X(ENOMEM, -1, "out of memory")          \
	X(EINVAL, -2, "invalid argument")       \
	X(EIO, -3, "i/o error")                 \
	X(ENOENT, -4, "not found")              \
	X(EEXIST, -5, "already exists")         \
	X(EPLUGIN, -6, "bad plugin")            \
	X(EGRAPH, -7, "invalid job graph")      \
	X(ECODEC, -8, "malformed encoded data") \
	X(ESTATE, -9, "state backend failure")  \
	X(ECANCELED, -10, "canceled")           \
	X(ETIMEDOUT, -11, "timed out")          \
	X(ERANGE, -12, "value out of range")    \
	X(EPROTO, -13, "protocol error")        \
	X(EUSER, -14, "job function failed")    \
	X(ECONFIG, -15, "bad configuration")    \
	X(EMEMLIMIT, -16, "managed memory exhausted (taskmanager.memory.managed.size)")

typedef enum flinc_error {
#define FLINC__ERR_ENUM(name, val, msg) FLINC_##name = (val),
	FLINC_ERRORS(FLINC__ERR_ENUM)
#undef FLINC__ERR_ENUM
} flinc_error;

/* Name of an error code; never NULL. */
FLINC_API const char *flinc_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
