/* error.c - names of error codes, and the error-message helper. */
#include <stdarg.h>
#include <stdio.h>

#include "fl_base.h"

FLINC_API const char *flinc_strerror(int err)
{
	switch (err) {
#define FL__ERR_CASE(name, val, msg) \
	case (val): return msg;
		FLINC_ERRORS(FL__ERR_CASE)
#undef FL__ERR_CASE
	default: return "unknown error";
	}
}

int fl_errf(char *err, size_t errcap, int rc, const char *fmt, ...)
{
	if (err && errcap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}
