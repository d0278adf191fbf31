/*
 * wide_chain.c - a job of many vertices for the web UI scale test
 * (tests/integration/web_scale.py, issue 18 acceptance 2).
 *
 *   wide_chain.so [--vertices N] [--count C] [--rate R] [--output DIR|-]
 *
 * datagen -> map -> map -> ... -> sink: N vertices in all (default 200),
 * each map behind a rebalance and of another parallelism than the one
 * before it (parallelisms 2 and 1 alternate; the sink runs at the job's, 1)
 * so no two operators chain into one vertex (flinc chains a rebalance
 * between equal parallelisms of 1). Needs 2 slots.
 * C records (default 1000, 0: unbounded) of int64, R a second in all
 * (default 0: as fast as possible), pass the chain unchanged.
 */
#include <flinc/flinc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool gen(flinc_ctx *c, uint64_t index, void *out)
{
	(void)c;
	*(int64_t *)out = (int64_t)index;
	return true;
}

static void same(flinc_ctx *c, const void *in, void *out)
{
	(void)c;
	*(int64_t *)out = *(const int64_t *)in;
}

static size_t format_i64(const void *rec, char *buf, size_t cap)
{
	return (size_t)snprintf(buf, cap, "%lld", (long long)*(const int64_t *)rec);
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	long n = strtol(flinc_arg(e, "vertices", "200"), NULL, 10);
	long long count = strtoll(flinc_arg(e, "count", "1000"), NULL, 10);
	if (n < 2 || n > 10000) return flinc_env_fail(e, "wide_chain: --vertices must be 2..10000");
	if (count < 0) return flinc_env_fail(e, "wide_chain: --count must be >= 0");
	flinc_stream *s =
		flinc_datagen(e, "gen", gen, NULL, &flinc_type_i64, count == 0 ? UINT64_MAX : (uint64_t)count,
			      flinc_arg_f64(e, "rate", 0));
	s = flinc_set_parallelism(flinc_set_uid(s, "gen"), (n - 2) % 2 ? 1 : 2); /* not map-1's */
	for (long i = 1; i < n - 1; i++) {
		char name[32];
		snprintf(name, sizeof name, "map-%ld", i);
		s = flinc_set_uid(flinc_map(flinc_rebalance(s), name, same, NULL, &flinc_type_i64), name);
		s = flinc_set_parallelism(s, (n - 2 - i) % 2 ? 1 : 2); /* the last map: 2 */
	}
	return flinc_sink_to(flinc_rebalance(s), "sink", flinc_arg(e, "output", NULL), format_i64);
}

FLINC_PLUGIN("wide_chain", "A chain of --vertices unchained maps (default 200) for the UI scale test",
	     "[--vertices N] [--count C] [--rate R] [--output DIR|-]", build);
