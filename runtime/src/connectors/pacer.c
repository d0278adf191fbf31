/* pacer.c - rate limiting for paced sources (datagen, files), and the
 * test-only fault points the transactional sinks share. */
#include "connectors.h"

#include <limits.h>
#include <math.h>
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
