/*
 * chk_internal.h - helpers shared by the files of checkpoint/ (not API).
 */
#ifndef FL_CHK_INTERNAL_H
#define FL_CHK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fl_base.h"
#include "fl_checkpoint.h" /* fl_chk_log_fn */

/* One formatted line to a fl_chk_log_fn (nothing when log is NULL). */
void fl__chk_logf(fl_chk_log_fn log, void *ud, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
