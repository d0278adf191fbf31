/*
 * codec.c - the out-of-line part of the msgpack reader (flinc/codec.h).
 */
#include <flinc/flinc.h>

/* Deepest nesting of arrays and maps flinc_r_skip accepts. A record or a
 * state value is a handful of levels deep; anything near this is hostile or
 * corrupt input. */
#define SKIP_MAX_DEPTH 64

/* Payload bytes after the type byte (and after the length field, for
 * str/bin/ext) of every fixed-size msgpack format; -1 marks formats handled
 * separately (containers, variable lengths) or invalid (0xc1). Indexed by
 * type byte - 0xc0. */
static const signed char fixed_payload[32] = {
	/* c0 nil */ 0,
	/* c1 never used */ -1,
	/* c2 false */ 0,
	/* c3 true */ 0,
	/* c4..c6 bin */ -1,
	-1,
	-1,
	/* c7..c9 ext */ -1,
	-1,
	-1,
	/* ca f32 */ 4,
	/* cb f64 */ 8,
	/* cc..cf uint */ 1,
	2,
	4,
	8,
	/* d0..d3 int */ 1,
	2,
	4,
	8,
	/* d4..d8 fixext: type byte + 1, 2, 4, 8, 16 */ 2,
	3,
	5,
	9,
	17,
	/* d9..db str */ -1,
	-1,
	-1,
	/* dc dd array */ -1,
	-1,
	/* de df map */ -1,
	-1,
};

/* Read a big-endian length of n (1, 2 or 4) bytes; sets r->err when short. */
static uint32_t read_len(flinc_reader *r, unsigned n)
{
	const uint8_t *q = flinc__rtake(r, n);
	if (!q) return 0;
	switch (n) {
	case 1: return q[0];
	case 2: return flinc__rd16(q);
	default: return flinc__rd32(q);
	}
}

/* Skip one complete msgpack value of any kind, nested arrays and maps
 * included, without recursion: a stack counts the values still to skip at
 * each open container level. Returns 0 with r->p after the value, or
 * FLINC_ECODEC with r->err set for short input, the unused type byte 0xc1,
 * or nesting deeper than SKIP_MAX_DEPTH (r->p is then unspecified). An
 * error already set on r fails at once. Threads: r's owner only. */
FLINC_API int flinc_r_skip(flinc_reader *r)
{
	uint64_t left[SKIP_MAX_DEPTH + 1];
	int depth = 0;
	left[0] = 1;
	if (r->err) return FLINC_ECODEC;
	while (depth >= 0) {
		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		const uint8_t *q = flinc__rtake(r, 1);
		if (!q) return FLINC_ECODEC;
		uint8_t t = q[0];
		uint64_t items = 0; /* values inside a container that starts here */
		bool container = false;
		size_t skip = 0; /* payload bytes to jump over */
		if (t <= 0x7f || t >= 0xe0) {
			continue; /* fixint */
		} else if (t <= 0x8f) {
			items = 2u * (uint64_t)(t & 0x0f);
			container = true;
		} else if (t <= 0x9f) {
			items = t & 0x0f;
			container = true;
		} else if (t <= 0xbf) {
			skip = t & 0x1f;
		} else {
			switch (t) {
			case 0xc4:
			case 0xc5:
			case 0xc6: /* bin 8/16/32 */ skip = read_len(r, 1u << (t - 0xc4)); break;
			case 0xc7:
			case 0xc8:
			case 0xc9: /* ext 8/16/32: length, type, data */
				skip = (size_t)read_len(r, 1u << (t - 0xc7)) + 1;
				break;
			case 0xd9:
			case 0xda:
			case 0xdb: /* str 8/16/32 */ skip = read_len(r, 1u << (t - 0xd9)); break;
			case 0xdc:
			case 0xdd: /* array 16/32 */
				items = read_len(r, t == 0xdc ? 2 : 4);
				container = true;
				break;
			case 0xde:
			case 0xdf: /* map 16/32 */
				items = 2u * (uint64_t)read_len(r, t == 0xde ? 2 : 4);
				container = true;
				break;
			default:
				if (fixed_payload[t - 0xc0] < 0) {
					r->err = 1; /* 0xc1 */
					return FLINC_ECODEC;
				}
				skip = (size_t)fixed_payload[t - 0xc0];
				break;
			}
		}
		if (skip && !flinc__rtake(r, skip)) return FLINC_ECODEC;
		if (r->err) return FLINC_ECODEC;
		if (container) {
			/* Every value takes at least one byte: a count beyond the
			 * input left is malformed, and failing now saves the loop.
			 * Empty containers count towards the depth too. */
			if (items > (uint64_t)(r->end - r->p) || depth + 1 > SKIP_MAX_DEPTH) {
				r->err = 1;
				return FLINC_ECODEC;
			}
			left[++depth] = items;
		}
	}
	return 0;
}
