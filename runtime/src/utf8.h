/*
 * utf8.h - the one check of a UTF-8 sequence the runtime's text paths share
 * (the JSON parser, the JSON field writer, the cleaning of plugin strings).
 * Private to runtime/; header-only so each user stays self-contained.
 */
#ifndef FL_UTF8_H
#define FL_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence starting s (n > 0 bytes left),
 * 0 if the first byte does not start one (Unicode 15, table 3-7: no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
static inline size_t fl_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf; /* bounds of the 2nd byte */
	size_t len;
	if (c < 0x80) return 1;
	if (c < 0xc2) return 0;
	if (c < 0xe0) {
		len = 2;
	} else if (c < 0xf0) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c < 0xf5) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi) return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf) return 0;
	return len;
}

#endif
