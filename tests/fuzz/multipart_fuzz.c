/*
 * multipart_fuzz.c - libFuzzer target for the streaming multipart parser
 * (jobmanager/multipart.h).
 *
 * Input: byte 0 picks how the body is cut into reads; then a Content-Type
 * value up to the first newline (at most 400 bytes); the rest is the body.
 * It is parsed whole and in pieces, and both must give the same parts,
 * names, filenames and content bytes, in the same order. Every event is
 * held to the header's contract: bytes used never more than given, content
 * pieces non-empty and inside the input (or inside the parser, for bytes it
 * held back), nothing after JM_MP_DONE or JM_MP_ERROR.
 */
#include "fuzz_util.h"
#include "multipart.h"

static void run(const char *ctype, const uint8_t *in, size_t n, size_t step, unsigned pattern,
		fuzz_digest *dg)
{
	static jm_mp_parser m; /* 9 KiB: not on the stack */
	if (jm_mp_init(&m, ctype) != 0) {
		FUZZ_CHECK(m.error && *m.error);
		fuzz_digest_str(dg, m.error);
		return;
	}
	size_t pos = 0, avail = 0;
	int turn = 0;
	bool in_part = false;
	for (;;) {
		if (avail == pos) {
			if (avail == n) break;
			size_t k = step == SIZE_MAX ? n - avail : step;
			if (pattern) k = 1 + ((pattern * 13u + (unsigned)turn * 5u) % 37u);
			turn++;
			avail = avail + k > n ? n : avail + k;
		}
		size_t used = 0;
		const uint8_t *d = NULL;
		size_t dl = 0;
		jm_mp_event ev = jm_mp_parse(&m, in + pos, avail - pos, &used, &d, &dl);
		FUZZ_CHECK(used <= avail - pos);
		pos += used;
		switch (ev) {
		case JM_MP_MORE: FUZZ_CHECK(pos == avail); continue;
		case JM_MP_PART:
			FUZZ_CHECK(!in_part);
			in_part = true;
			FUZZ_CHECK(strlen(m.name) <= JM_MP_NAME_MAX && strlen(m.filename) <= JM_MP_NAME_MAX);
			fuzz_digest_int(dg, 1);
			fuzz_digest_str(dg, m.name);
			fuzz_digest_str(dg, m.has_filename ? m.filename : "(none)");
			continue;
		case JM_MP_DATA: {
			FUZZ_CHECK(in_part && dl > 0);
			bool inside_input = d >= in && d + dl <= in + n;
			bool held = d >= (const uint8_t *)m.delim &&
				d + dl <= (const uint8_t *)m.delim + sizeof m.delim;
			FUZZ_CHECK(inside_input || held);
			fuzz_digest_add(dg, d, dl);
			continue;
		}
		case JM_MP_PART_END:
			FUZZ_CHECK(in_part);
			in_part = false;
			fuzz_digest_int(dg, 2);
			continue;
		case JM_MP_DONE:
			FUZZ_CHECK(!in_part && pos == avail);
			fuzz_digest_int(dg, 3);
			/* The epilogue: everything taken, DONE again. */
			while (avail < n) {
				avail = n;
				FUZZ_CHECK(jm_mp_parse(&m, in + pos, avail - pos, &used, &d, &dl) ==
						   JM_MP_DONE &&
					   used == avail - pos);
				pos = avail;
			}
			return;
		case JM_MP_ERROR:
			FUZZ_CHECK(m.error && *m.error);
			fuzz_digest_str(dg, m.error);
			FUZZ_CHECK(jm_mp_parse(&m, in + pos, avail - pos, &used, &d, &dl) == JM_MP_ERROR &&
				   used == 0);
			return;
		}
	}
	fuzz_digest_int(dg, 4 + in_part);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1) return 0;
	unsigned cut = data[0];
	data++;
	size--;
	const uint8_t *nl = memchr(data, '\n', size < 400 ? size : 400);
	if (!nl) return 0;
	char ctype[401];
	size_t cl = (size_t)(nl - data);
	memcpy(ctype, data, cl);
	ctype[cl] = 0;
	if (strlen(ctype) != cl) return 0; /* a header value holds no NUL */
	data = nl + 1;
	size -= cl + 1;
	fuzz_digest whole, pieces;
	fuzz_digest_init(&whole);
	fuzz_digest_init(&pieces);
	run(ctype, data, size, SIZE_MAX, 0, &whole);
	if (cut < 128)
		run(ctype, data, size, 1 + cut % 16, 0, &pieces);
	else
		run(ctype, data, size, 0, cut, &pieces);
	FUZZ_CHECK(whole.h == pieces.h && whole.n == pieces.n);
	return 0;
}
