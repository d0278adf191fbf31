/*
 * datagen.c - a source that calls the job's generator for record numbers
 * 0, 1, 2, ... < count.
 *
 * Subtask i of p produces the indices i, i+p, i+2p, ... in increasing order:
 * it zeroes a scratch record of the output type's size, calls gen(ctx, index,
 * scratch) and emits it. A generator returning false ends the subtask's
 * share. While gen runs, flinc_ctx_arg(c) returns the job's own `arg` (the
 * node's arg is this file's configuration, whose first member is that user
 * arg; fl_ctx_set_arg swaps it around the calls).
 *
 * Pacing: rate/p records per second per subtask, checked once per run() call
 * (one clock read per batch, no syscall per record); ahead of schedule the
 * source answers FLINC_SOURCE_IDLE.
 *
 * Checkpoints. The position is a set of facts "every index below n that is
 * congruent to j mod p has been emitted", kept as layers: one array
 * next[0..p-1] per parallelism p seen. A subtask's own progress is entry i of
 * the layer of its parallelism. Index k was emitted when some layer says
 * k < next[k mod p]. Restoring merges layers (per-entry maximum), so restore
 * is exact at the same parallelism with a subtask's own snapshot, and exact at
 * another parallelism when a subtask receives the snapshots of all old
 * subtasks (union); indices already emitted are skipped, never re-generated.
 *
 * Threads: each instance belongs to its subtask's thread.
 */
#include <flinc/flinc.h>

#include "connectors.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "util.h"

#define SNAPSHOT_VERSION 1

/* The node's arg. The first member is the user's arg (see fl_ctx_set_arg). */
typedef struct dg_conf {
	const void *user_arg;
	flinc_gen_fn gen;
	const flinc_type *type;
	uint64_t count;
	double rate; /* over all subtasks, 0 = unthrottled */
} dg_conf;

typedef struct dg_layer {
	uint32_t p;
	uint64_t *next; /* p entries */
} dg_layer;

typedef struct dg {
	const dg_conf *conf;
	uint32_t p, i;
	uint64_t next; /* next index of this subtask, congruent to i mod p */
	bool started, finished;
	void *scratch; /* conf->type->size bytes */
	dg_layer *layers;
	size_t nlayers;
	fl_pacer pace;
} dg;

/* The layer for parallelism p, created (all zero) when absent. */
static dg_layer *layer_for(dg *s, uint32_t p)
{
	for (size_t k = 0; k < s->nlayers; k++)
		if (s->layers[k].p == p) return &s->layers[k];
	dg_layer *nl = realloc(s->layers, (s->nlayers + 1) * sizeof *nl);
	if (!nl) return NULL;
	s->layers = nl;
	uint64_t *next = calloc(p, sizeof *next);
	if (!next) return NULL;
	nl[s->nlayers] = (dg_layer){ p, next };
	return &s->layers[s->nlayers++];
}

/* Emitted before the restore (by any earlier subtask)? */
static bool emitted_before(const dg *s, uint64_t k)
{
	for (size_t l = 0; l < s->nlayers; l++)
		if (k < s->layers[l].next[k % s->layers[l].p]) return true;
	return false;
}

static int dg_open(flinc_ctx *c, void *local)
{
	dg *s = local;
	s->conf = flinc_ctx_arg(c);
	s->p = (uint32_t)flinc_ctx_parallelism(c);
	s->i = (uint32_t)flinc_ctx_subtask(c);
	s->pace.per_sec = s->conf->rate > 0 ? s->conf->rate / s->p : 0;
	if (!(s->scratch = malloc(s->conf->type->size))) {
		flinc_ctx_fail(c, "datagen: out of memory");
		return FLINC_ENOMEM;
	}
	return FLINC_OK;
}

static int dg_start(flinc_ctx *c, dg *s)
{
	/* own layer entry: where this subtask (at this parallelism) stopped */
	dg_layer *own = layer_for(s, s->p);
	if (!own) {
		flinc_ctx_fail(c, "datagen: out of memory");
		return FLINC_ENOMEM;
	}
	s->next = own->next[s->i] > s->i ? own->next[s->i] : s->i;
	s->started = true;
	return FLINC_OK;
}

static int dg_run(flinc_ctx *c, void *local, uint32_t budget)
{
	dg *s = local;
	const dg_conf *conf = s->conf;
	int rc;

	if (s->finished) return FLINC_SOURCE_END;
	if (!s->started && (rc = dg_start(c, s))) return rc;
	int quota = fl_pacer_quota(&s->pace, budget);
	if (quota == 0) return FLINC_SOURCE_IDLE;

	/* bound the work of one call when many indices are skipped */
	uint64_t steps = (uint64_t)quota * 4 + 64;
	bool multi = s->nlayers > 1 || s->layers[0].p != s->p;
	int sent = 0;
	const void *own_arg = flinc_ctx_arg(c);
	fl_ctx_set_arg(c, conf->user_arg);
	while (sent < quota && steps--) {
		uint64_t k = s->next;
		if (k >= conf->count) {
			s->finished = true;
			break;
		}
		if (multi && emitted_before(s, k)) {
			s->next = conf->count - k > s->p ? k + s->p : conf->count;
			continue;
		}
		memset(s->scratch, 0, conf->type->size);
		if (!conf->gen(c, k, s->scratch)) {
			s->finished = true;
			break;
		}
		flinc_emit(c, s->scratch);
		s->next = conf->count - k > s->p ? k + s->p : conf->count;
		sent++;
	}
	fl_ctx_set_arg(c, own_arg);
	s->pace.sent += sent;
	return s->finished ? FLINC_SOURCE_END : FLINC_SOURCE_MORE;
}

/*
 * Snapshot: a msgpack map {v: 1, count, layers: [[p, [next_0 .. next_p-1]], ...]}
 * with this subtask's progress folded into the layer of its parallelism.
 */
static int dg_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	dg *s = local;
	if (s->started) {
		dg_layer *own = layer_for(s, s->p);
		if (!own) {
			flinc_ctx_fail(c, "datagen: out of memory");
			return FLINC_ENOMEM;
		}
		if (s->next > own->next[s->i]) own->next[s->i] = s->next;
	}
	flinc_w_map(w, 3);
	flinc_w_cstr(w, "v");
	flinc_w_uint(w, SNAPSHOT_VERSION);
	flinc_w_cstr(w, "count");
	flinc_w_uint(w, s->conf ? s->conf->count : 0);
	flinc_w_cstr(w, "layers");
	flinc_w_array(w, (uint32_t)s->nlayers);
	for (size_t l = 0; l < s->nlayers; l++) {
		flinc_w_array(w, 2);
		flinc_w_uint(w, s->layers[l].p);
		flinc_w_array(w, s->layers[l].p);
		for (uint32_t j = 0; j < s->layers[l].p; j++) flinc_w_uint(w, s->layers[l].next[j]);
	}
	return w->err ? FLINC_ERANGE : FLINC_OK;
}

/* May run before or after open, and once per snapshot handed to this
 * subtask: layers merge. */
static int dg_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	dg *s = local;
	uint64_t v = 0;
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
		if (kl == 1 && key[0] == 'v') {
			v = flinc_r_uint(r);
		} else if (kl == 6 && memcmp(key, "layers", 6) == 0) {
			uint32_t nl = flinc_r_array(r);
			for (uint32_t l = 0; l < nl && !r->err; l++) {
				if (flinc_r_array(r) != 2) r->err = 1;
				uint64_t p = flinc_r_uint(r);
				if (p == 0 || p > 32768 || flinc_r_array(r) != p) r->err = 1;
				if (r->err) break;
				dg_layer *L = layer_for(s, (uint32_t)p);
				if (!L) {
					flinc_ctx_fail(c, "datagen: out of memory restoring");
					return FLINC_ENOMEM;
				}
				for (uint32_t j = 0; j < p; j++) {
					uint64_t n = flinc_r_uint(r);
					if (n > L->next[j]) L->next[j] = n;
				}
			}
		} else if (flinc_r_skip(r) != 0) { /* count, or a newer field */
			r->err = 1;
		}
	}
	if (r->err || v != SNAPSHOT_VERSION) {
		flinc_ctx_fail(c, "datagen: cannot read its checkpointed position (snapshot version %llu)",
			       (unsigned long long)v);
		return FLINC_ECODEC;
	}
	s->started = false;
	s->finished = false;
	return FLINC_OK;
}

static void dg_close(flinc_ctx *c, void *local)
{
	(void)c;
	dg *s = local;
	free(s->scratch);
	for (size_t l = 0; l < s->nlayers; l++) free(s->layers[l].next);
	free(s->layers);
	s->scratch = NULL;
	s->layers = NULL;
	s->nlayers = 0;
}

static const flinc_source_fn datagen_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(dg),
	.open = dg_open,
	.run = dg_run,
	.snapshot = dg_snapshot,
	.restore = dg_restore,
	.close = dg_close,
};

FLINC_API flinc_stream *flinc_datagen(flinc_env *e, const char *name, flinc_gen_fn gen, const void *arg,
				      const flinc_type *out, uint64_t count, double rate)
{
	if (!name || !*name) name = "datagen";
	dg_conf *conf = NULL;
	if (!gen) {
		flinc_env_fail(e, "%s: generator function is NULL", name);
	} else if (!(rate >= 0) || isinf(rate)) {
		flinc_env_fail(e, "%s: rate %g is not a number of records per second >= 0", name, rate);
	} else if (!(conf = flinc_env_alloc(e, sizeof *conf))) {
		flinc_env_fail(e, "%s: out of memory", name);
	} else {
		conf->user_arg = arg;
		conf->gen = gen;
		conf->type = out;
		conf->count = count;
		conf->rate = rate;
	}
	/* after an error flinc_source returns a stream standing for nothing */
	return flinc_source(e, name, &datagen_fn, conf, out);
}
