/* Plugins whose graphs are invalid, chosen by --case:
 *   nosink  a source with no sink
 *   nokey   keyed state used in a non-keyed stream (fails at run time)
 *   fail    the build function reports an error itself */
#include <flinc/flinc.h>
#include <string.h>

static bool gen(flinc_ctx *c, uint64_t i, void *out)
{
	(void)c;
	*(int64_t *)out = (int64_t)i;
	return true;
}

static int open_state(flinc_ctx *c, void *local)
{
	(void)local;
	return flinc_state_value(c, "x", &flinc_type_i64) ? 0 : FLINC_EINVAL;
}

static void proc(flinc_ctx *c, void *local, const void *in)
{
	(void)local;
	flinc_emit(c, in);
}

static const flinc_process_fn stateful = { .version = FLINC_FN_VERSION, .open = open_state, .process = proc };

static size_t fmt(const void *rec, char *buf, size_t cap)
{
	(void)rec;
	if (cap) buf[0] = 'x';
	return 1;
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc, (void)argv;
	const char *c = flinc_arg(e, "case", "nosink");
	flinc_stream *s = flinc_datagen(e, "gen", gen, NULL, &flinc_type_i64, 10, 0);
	if (!strcmp(c, "nosink")) return 0;
	if (!strcmp(c, "nokey")) {
		s = flinc_process(s, "stateful", &stateful, NULL, &flinc_type_i64);
		return flinc_sink_to(s, "sink", NULL, fmt);
	}
	return flinc_env_fail(e, "the job refuses to build (case %s)", c);
}

FLINC_PLUGIN("bad_graph", "invalid graphs for tests", "--case nosink|nokey|fail", build);
