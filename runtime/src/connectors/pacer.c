/* pacer.c - what connectors share: rate limiting for paced sources
 * (datagen, files), the test-only fault points of the transactional sinks,
 * the head of their operator state, and formatting a record into a line. */
#include "connectors.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../util.h"

int fl_pacer_quota(fl_pacer *p, uint32_t budget)
{
	if (budget > INT_MAX) budget = INT_MAX;
	if (p->per_sec <= 0) return (int)budget;
	int64_t now = fl_mono_ns();
	if (p->t0 == 0) {
		p->t0 = now;
		p->sent = 0;
	}
	double allowed = (double)(now - p->t0) / 1e9 * p->per_sec + 1.0;
	double slack = p->per_sec > 1.0 ? p->per_sec : 1.0;
	if (allowed - p->sent > slack) p->sent = allowed - slack;
	double q = floor(allowed - p->sent);
	if (q <= 0) return 0;
	return q >= (double)budget ? (int)budget : (int)q;
}

int fl_test_fault(const char *const *names, int n, int subtask, int64_t *id)
{
	const char *v = getenv("FLINC_TEST_FAULT");
	if (!v) return 0;
	for (int k = 0; k < n; k++) {
		size_t l = strlen(names[k]);
		if (strncmp(v, names[k], l) != 0) continue;
		const char *rest = v + l;
		long long n1 = 1, st = -1;
		if (*rest == ':') {
			char *end;
			n1 = strtoll(rest + 1, &end, 10);
			if (*end == ':') st = strtoll(end + 1, &end, 10);
			if (*end || n1 < 1) return 0;
		} else if (*rest) {
			continue;
		}
		if (st >= 0 && st != subtask) return 0;
		*id = n1;
		return k + 1;
	}
	return 0;
}

void fl_conn_snapshot_head(flinc_ctx *c, flinc_writer *w, uint64_t version, uint32_t more)
{
	flinc_w_map(w, 3 + more);
	flinc_w_cstr(w, "v");
	flinc_w_uint(w, version);
	flinc_w_cstr(w, "subtask");
	flinc_w_uint(w, (uint64_t)flinc_ctx_subtask(c));
	flinc_w_cstr(w, "parallelism");
	flinc_w_uint(w, (uint64_t)flinc_ctx_parallelism(c));
}

size_t fl_conn_format(flinc_ctx *c, flinc_format_fn fmt, const void *rec, char **line, size_t *cap,
		      const char *display)
{
	size_t n = fmt(rec, *line, *cap);
	if (n < *cap) return n;
	size_t nc = *cap;
	while (nc <= n) nc *= 2;
	*line = fl_realloc(*line, nc);
	*cap = nc;
	n = fmt(rec, *line, *cap);
	if (n < *cap) return n;
	flinc_ctx_fail(c, "output %s: the format function gave two lengths for one record", display);
	return SIZE_MAX;
}
