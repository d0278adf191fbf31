/* pacer.c - rate limiting for paced sources (datagen, files). */
#include "connectors.h"

#include <limits.h>
#include <math.h>

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
