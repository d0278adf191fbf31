/*
 * fl_strbuf.h - a growable string buffer (REST bodies, JSON, messages).
 * Control-plane only: it grows with fl_realloc (aborts when memory runs
 * out, fl_alloc.h). Threads: one owner.
 */
#ifndef FL_STRBUF_H
#define FL_STRBUF_H

#include <stddef.h>

typedef struct fl_strbuf {
	char *data; /* NUL-terminated once anything was appended; owned */
	size_t len, cap;
} fl_strbuf;
void fl_sb_append(fl_strbuf *b, const char *s, size_t n);
void fl_sb_printf(fl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fl_sb_json_str(fl_strbuf *b, const char *s); /* quoted and escaped */
void fl_sb_free(fl_strbuf *b);

#endif
