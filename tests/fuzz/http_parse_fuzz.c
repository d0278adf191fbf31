/*
 * http_parse_fuzz.c - libFuzzer target for the HTTP request parser
 * (jobmanager/http_parse.h) and the percent-decoding of targets.
 *
 * Input: byte 0 picks how the rest is cut into reads (1 to 16 bytes, or
 * odd sizes), byte 1 the body limit; the rest is what a client sends
 * (requests back to back, as on a keep-alive connection). It is parsed
 * twice, whole and in pieces, and both must say exactly the same (events,
 * head fields, body bytes, error statuses): that is the parser's promise
 * of being incremental over any split. Along the way every event is held
 * to the header's contract (bytes used never more than given, body pieces
 * inside the input, limits kept), and every request target goes through
 * jm_http_pct_decode and jm_http_query_parse.
 */
#include "fuzz_util.h"
#include "http_parse.h"

#define MAX_REQUESTS 64

static void check_target(fuzz_digest *dg, const char *target)
{
	size_t n = strlen(target);
	FUZZ_CHECK(n > 0 && n <= JM_HTTP_URI_MAX && target[0] == '/');
	const char *qm = strchr(target, '?');
	size_t plen = qm ? (size_t)(qm - target) : n;
	char out[JM_HTTP_URI_MAX + 1];
	size_t olen = 0;
	int rc = jm_http_pct_decode(target, plen, false, out, &olen);
	FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2);
	if (rc == 0) {
		FUZZ_CHECK(olen <= plen && strlen(out) == olen); /* no NUL inside */
	}
	fuzz_digest_int(dg, rc);
	if (qm) {
		static char buf[2 * JM_HTTP_URI_MAX + 2];
		jm_http_param params[8];
		char err[256];
		int np = jm_http_query_parse(qm + 1, buf, sizeof buf, params, 8, err, sizeof err);
		FUZZ_CHECK(np >= -1 && np <= 8);
		for (int i = 0; i < np; i++) {
			FUZZ_CHECK(*params[i].name);
			for (int k = 0; k < i; k++) FUZZ_CHECK(strcmp(params[i].name, params[k].name) != 0);
		}
		if (np < 0) FUZZ_CHECK(strlen(err) > 0);
		fuzz_digest_int(dg, np);
	}
}

/* Parse in[0..n) handing the parser at most `step` new bytes at a time
 * (SIZE_MAX: all at once); record what it says into dg. */
static void run(const uint8_t *in, size_t n, size_t step, unsigned pattern, int64_t body_max, fuzz_digest *dg)
{
	static jm_http_parser p; /* 25 KiB: not on the stack */
	jm_http_parser_init(&p);
	size_t pos = 0, avail = 0;
	int requests = 0, turn = 0;
	for (;;) {
		if (avail == pos) {
			if (avail == n) break; /* the client sent everything */
			size_t k = step == SIZE_MAX ? n - avail : step;
			if (pattern) k = 1 + ((pattern * 31u + (unsigned)turn * 7u) % 23u);
			turn++;
			avail = avail + k > n ? n : avail + k;
		}
		size_t used = 0;
		const uint8_t *d = NULL;
		size_t dl = 0;
		jm_http_event ev = jm_http_parse(&p, in + pos, avail - pos, &used, &d, &dl);
		FUZZ_CHECK(used <= avail - pos);
		switch (ev) {
		case JM_HTTP_MORE:
			FUZZ_CHECK(used == avail - pos);
			pos += used;
			continue;
		case JM_HTTP_HEAD: {
			pos += used;
			fuzz_digest_int(dg, 1000 + (int64_t)pos);
			const char *m = jm_http_method(&p), *t = jm_http_target(&p);
			FUZZ_CHECK(*m && strlen(m) <= JM_HTTP_METHOD_MAX);
			FUZZ_CHECK(p.nfields >= 0 && p.nfields <= JM_HTTP_HEADERS_MAX);
			FUZZ_CHECK(!(p.chunked && p.content_len >= 0));
			FUZZ_CHECK(p.minor == 0 || p.minor == 1);
			FUZZ_CHECK(jm_http_parser_in_body(&p));
			fuzz_digest_str(dg, m);
			fuzz_digest_str(dg, t);
			for (int i = 0; i < p.nfields; i++) {
				const char *fn, *fv;
				jm_http_field_at(&p, i, &fn, &fv);
				FUZZ_CHECK(*fn);
				fuzz_digest_str(dg, fn);
				fuzz_digest_str(dg, fv);
			}
			fuzz_digest_int(dg, p.content_len);
			fuzz_digest_int(dg, p.chunked * 4 + p.keep_alive * 2 + p.expect_continue);
			fuzz_digest_int(dg, jm_http_parser_body_left(&p));
			check_target(dg, t);
			p.body_max = body_max;
			continue;
		}
		case JM_HTTP_BODY:
			/* The piece ends where the bytes used end (chunk-size lines
			 * before it are used too). */
			FUZZ_CHECK(dl > 0 && d >= in + pos && d + dl == in + pos + used);
			pos += used;
			fuzz_digest_add(dg, d, dl);
			continue;
		case JM_HTTP_END:
			pos += used;
			fuzz_digest_int(dg, 2000 + (int64_t)pos);
			FUZZ_CHECK(!jm_http_parser_in_body(&p));
			if (++requests == MAX_REQUESTS) return;
			jm_http_parser_reset(&p);
			continue;
		case JM_HTTP_ERROR:
			pos += used;
			FUZZ_CHECK(p.status >= 400 && p.status <= 505 && p.error && *p.error);
			fuzz_digest_int(dg, 3000 + p.status);
			fuzz_digest_str(dg, p.error);
			/* An error is final: the same again, taking nothing. */
			used = 1;
			FUZZ_CHECK(jm_http_parse(&p, in + pos, avail - pos, &used, &d, &dl) ==
					   JM_HTTP_ERROR &&
				   used == 0);
			return;
		}
	}
	fuzz_digest_int(dg, 4000 + jm_http_parser_started(&p));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2) return 0;
	unsigned cut = data[0];
	int64_t limits[4] = { 0, 16, 4096, (int64_t)1 << 40 };
	int64_t body_max = limits[data[1] & 3];
	data += 2;
	size -= 2;
	fuzz_digest whole, pieces;
	fuzz_digest_init(&whole);
	fuzz_digest_init(&pieces);
	run(data, size, SIZE_MAX, 0, body_max, &whole);
	if (cut < 128)
		run(data, size, 1 + cut % 16, 0, body_max, &pieces);
	else
		run(data, size, 0, cut, body_max, &pieces);
	FUZZ_CHECK(whole.h == pieces.h && whole.n == pieces.n);
	return 0;
}
