/*
 * multipart.h - a streaming multipart/form-data parser (RFC 7578, 2046).
 *
 * Pure: no I/O, no globals, no allocation; incremental over any split of
 * the body, a delimiter cut across two reads included. Part data is passed
 * through without a copy: JM_MP_DATA points into the caller's input (or,
 * for bytes held back because they might have begun a delimiter that then
 * did not follow, into the parser itself).
 *
 * Use: jm_mp_init with the request's Content-Type, then jm_mp_parse with
 * the body's bytes as they arrive: JM_MP_PART (name and filename of the
 * next part), JM_MP_DATA pieces of its content, JM_MP_PART_END, and
 * JM_MP_DONE after the closing delimiter (the epilogue is ignored). A body
 * that ends before JM_MP_DONE is truncated. One thread at a time.
 */
#ifndef FL_JM_MULTIPART_H
#define FL_JM_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JM_MP_BOUNDARY_MAX 200   /* RFC 2046 says 70; senders stay far below */
#define JM_MP_PART_HEAD_MAX 8192 /* the header lines of one part */
#define JM_MP_NAME_MAX 255       /* a part's name and filename */

typedef enum jm_mp_event {
	JM_MP_MORE,     /* every byte given was used: call again with more */
	JM_MP_PART,     /* a part begins: name, filename, has_filename */
	JM_MP_DATA,     /* *data and *dlen: the next piece of the part's content */
	JM_MP_PART_END, /* the part's content is complete */
	JM_MP_DONE,     /* the closing delimiter arrived; the rest is ignored */
	JM_MP_ERROR,    /* error says why */
} jm_mp_event;

typedef struct jm_mp_parser {
	/* out */
	const char *error;                 /* JM_MP_ERROR: one line (static) */
	char name[JM_MP_NAME_MAX + 1];     /* JM_MP_PART: Content-Disposition name ("" if none) */
	char filename[JM_MP_NAME_MAX + 1]; /* JM_MP_PART: its filename, if has_filename */
	bool has_filename;

	/* private */
	int state;
	int sub;      /* position inside the line after a delimiter */
	size_t match; /* bytes of delim matched at the end of earlier input */
	size_t dlen;
	char delim[4 + JM_MP_BOUNDARY_MAX + 1]; /* CRLF "--" boundary */
	size_t hlen;
	char head[JM_MP_PART_HEAD_MAX + 1];
} jm_mp_parser;

/* Set m up for a body of this Content-Type. 0, or -1 with m->error set:
 * not multipart/form-data, or no usable boundary. */
int jm_mp_init(jm_mp_parser *m, const char *content_type);

/* Parse from in (n bytes, n may be 0): one event, and in *used how many
 * bytes it took (give the rest again, after whatever arrives next).
 * JM_MP_DATA sets *data and *dlen. After JM_MP_ERROR or JM_MP_DONE every
 * call returns the same (JM_MP_DONE takes all input). */
jm_mp_event jm_mp_parse(jm_mp_parser *m, const uint8_t *in, size_t n, size_t *used, const uint8_t **data,
			size_t *dlen);

#endif
