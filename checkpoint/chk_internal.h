/*
 * chk_internal.h - helpers shared by the files of checkpoint/ (not API).
 */
#ifndef FL_CHK_INTERNAL_H
#define FL_CHK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "fl_checkpoint.h" /* fl_chk_log_fn */

/* snprintf into err (if err && errcap); returns rc. */
int fl__chk_err(char *err, size_t errcap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* fsync the folder holding path (after a rename in it). */
int fl__chk_fsync_parent(const char *path, char *err, size_t errcap);
/* One formatted line to a fl_chk_log_fn (nothing when log is NULL). */
void fl__chk_logf(fl_chk_log_fn log, void *ud, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Write all of buf at the current position (EINTR, short writes). 0 or -errno. */
int fl__chk_write_all(int fd, const void *buf, size_t len);
/* pread exactly len bytes at off; 0, -errno, or 1 at end of file. */
int fl__chk_pread_all(int fd, void *buf, size_t len, uint64_t off);

#endif
