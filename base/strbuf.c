/* strbuf.c - fl_strbuf. */
#include "fl_strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_alloc.h"

void fl_sb_append(fl_strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) cap *= 2;
		b->data = fl_realloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void fl_sb_printf(fl_strbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof tmp) {
		fl_sb_append(b, tmp, (size_t)n);
		return;
	}
	char *big = fl_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	fl_sb_append(b, big, (size_t)n);
	free(big);
}

void fl_sb_json_str(fl_strbuf *b, const char *s)
{
	fl_sb_append(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '"': fl_sb_append(b, "\\\"", 2); break;
		case '\\': fl_sb_append(b, "\\\\", 2); break;
		case '\n': fl_sb_append(b, "\\n", 2); break;
		case '\r': fl_sb_append(b, "\\r", 2); break;
		case '\t': fl_sb_append(b, "\\t", 2); break;
		default:
			if (ch < 0x20)
				fl_sb_printf(b, "\\u%04x", ch);
			else
				fl_sb_append(b, (const char *)&ch, 1);
		}
	}
	fl_sb_append(b, "\"", 1);
}

void fl_sb_free(fl_strbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
