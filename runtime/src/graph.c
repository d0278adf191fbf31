/*
 * graph.c - the job API's build side: flinc_env, streams, nodes and edges,
 * argument parsing, validation, JSON and structural hash.
 *
 * Every build-time allocation lives in env->pool, freed by fl_env_destroy.
 * Build functions never fail by returning NULL: after an error they record
 * it in the env (first error wins) and return a harmless stream, so plugin
 * code can chain calls and check once at the end.
 */
#include "graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fl_node_kind_name(fl_node_kind k)
{
	static const char *n[] = { "source",     "map",        "filter", "flat_map", "process",
				   "co_process", "timestamps", "window", "sink" };
	return (unsigned)k < FL_ARRAY_LEN(n) ? n[k] : "?";
}

const char *fl_partition_name(fl_partition p)
{
	static const char *n[] = { "FORWARD", "REBALANCE", "HASH", "BROADCAST" };
	return (unsigned)p < FL_ARRAY_LEN(n) ? n[p] : "?";
}

flinc_env *fl_env_create(const char *plugin_name, const fl_conf *conf, int parallelism)
{
	fl_pool *pool = fl_pool_create();
	flinc_env *e = fl_pool_alloc(pool, sizeof(*e));
	e->pool = pool;
	e->plugin_name = fl_pool_strdup(pool, plugin_name ? plugin_name : "job");
	e->job_name = (char *)e->plugin_name;
	e->conf = conf;
	e->default_parallelism = parallelism > 0 ? parallelism : 1;
	bool ok = true;
	e->max_parallelism = (int)fl_conf_i64(conf, "pipeline.max-parallelism", 128, &ok);
	if (!ok || e->max_parallelism < 1 || e->max_parallelism > 32768) {
		flinc_env_fail(e, "pipeline.max-parallelism must be a number from 1 to 32768");
		e->max_parallelism = 128;
	}
	const char *kh = fl_conf_get(conf, "pipeline.key-hash");
	e->key_hash = FL_KEY_HASH_XXH3;
	if (kh && !fl_key_hash_parse(kh, &e->key_hash))
		flinc_env_fail(e, "pipeline.key-hash must be xxh3 or murmur64a (got '%.64s')", kh);
	return e;
}

const char *fl_env_job_name(const flinc_env *e) { return e->job_name; }

void fl_env_destroy(flinc_env *e)
{
	if (!e) return;
	free(e->edges);
	for (size_t i = 0; i < e->nnodes; i++) free(e->nodes[i]->name), free(e->nodes[i]->uid);
	free(e->nodes);
	free(e->tags);
	fl_pool_destroy(e->pool);
}

FLINC_API int flinc_env_fail(flinc_env *e, const char *fmt, ...)
{
	if (!e->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->err, sizeof e->err, fmt, ap);
		va_end(ap);
		e->failed = true;
	}
	return FLINC_EGRAPH;
}

FLINC_API void flinc_env_set_name(flinc_env *e, const char *name)
{
	if (name && *name) e->job_name = fl_pool_strdup(e->pool, name);
}

FLINC_API const char *flinc_env_config(flinc_env *e, const char *key) { return fl_conf_get(e->conf, key); }

FLINC_API int flinc_env_parallelism(flinc_env *e) { return e->default_parallelism; }

FLINC_API void *flinc_env_alloc(flinc_env *e, size_t n) { return fl_pool_alloc(e->pool, n); }

/* ---- arguments ------------------------------------------------------- */

static int parse_args(flinc_env *e, int argc, char **argv)
{
	e->args = fl_pool_alloc(e->pool, sizeof(fl_arg) * (size_t)(argc > 0 ? argc : 1));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0 || !a[2])
			return flinc_env_fail(e, "unexpected argument '%s' (job arguments are --name value)",
					      a);
		const char *name = a + 2;
		const char *eq = strchr(name, '=');
		fl_arg *arg = &e->args[e->nargs++];
		if (eq) {
			char *n = fl_pool_alloc(e->pool, (size_t)(eq - name) + 1);
			memcpy(n, name, (size_t)(eq - name));
			arg->name = n;
			arg->value = fl_pool_strdup(e->pool, eq + 1);
		} else {
			arg->name = fl_pool_strdup(e->pool, name);
			if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
				arg->value = fl_pool_strdup(e->pool, argv[++i]);
			else
				arg->value = fl_pool_strdup(e->pool, "true");
		}
	}
	return FLINC_OK;
}

static fl_arg *find_arg(flinc_env *e, const char *name)
{
	fl_arg *found = NULL;
	for (size_t i = 0; i < e->nargs; i++) {
		if (strcmp(e->args[i].name, name) == 0) {
			e->args[i].used = true;
			found = &e->args[i]; /* last one wins */
		}
	}
	return found;
}

FLINC_API const char *flinc_arg(flinc_env *e, const char *name, const char *def)
{
	fl_arg *a = find_arg(e, name);
	return a ? a->value : def;
}

FLINC_API int64_t flinc_arg_i64(flinc_env *e, const char *name, int64_t def)
{
	fl_arg *a = find_arg(e, name);
	if (!a) return def;
	char *end;
	long long v = strtoll(a->value, &end, 10);
	if (end == a->value || *end) {
		flinc_env_fail(e, "argument --%s: '%s' is not an integer", name, a->value);
		return def;
	}
	return v;
}

FLINC_API double flinc_arg_f64(flinc_env *e, const char *name, double def)
{
	fl_arg *a = find_arg(e, name);
	if (!a) return def;
	char *end;
	double v = strtod(a->value, &end);
	if (end == a->value || *end) {
		flinc_env_fail(e, "argument --%s: '%s' is not a number", name, a->value);
		return def;
	}
	return v;
}

FLINC_API bool flinc_arg_flag(flinc_env *e, const char *name)
{
	fl_arg *a = find_arg(e, name);
	if (!a) return false;
	if (!strcmp(a->value, "true") || !strcmp(a->value, "1") || !strcmp(a->value, "yes")) return true;
	if (!strcmp(a->value, "false") || !strcmp(a->value, "0") || !strcmp(a->value, "no")) return false;
	flinc_env_fail(e, "argument --%s: '%s' is not true or false", name, a->value);
	return false;
}

/* ---- nodes, edges, streams ------------------------------------------ */

static fl_node *add_node(flinc_env *e, fl_node_kind kind, const char *name, const void *arg)
{
	fl_node *n = fl_pool_alloc(e->pool, sizeof(*n));
	n->index = (uint32_t)e->nnodes;
	n->kind = kind;
	n->name = fl_strdup(name && *name ? name : fl_node_kind_name(kind));
	n->uid = fl_asprintf("%s-%u", fl_node_kind_name(kind), n->index);
	n->parallelism = e->default_parallelism;
	n->arg = arg;
	e->nodes = fl_realloc(e->nodes, (e->nnodes + 1) * sizeof(fl_node *));
	e->nodes[e->nnodes++] = n;
	return n;
}

static void add_edge(flinc_env *e, const fl_stream_src *src, uint32_t dst, uint32_t input, fl_partition part,
		     flinc_key_fn key)
{
	if (e->nedges == e->edges_cap) {
		e->edges_cap = e->edges_cap ? e->edges_cap * 2 : 16;
		e->edges = fl_realloc(e->edges, e->edges_cap * sizeof(fl_edge));
	}
	fl_edge *ed = &e->edges[e->nedges++];
	ed->src = src->node;
	ed->tag = src->tag;
	ed->dst = dst;
	ed->input = input;
	ed->part = part;
	ed->key = key;
}

static flinc_stream *new_stream(flinc_env *e, uint32_t node, int32_t tag, const flinc_type *t)
{
	flinc_stream *s = fl_pool_alloc(e->pool, sizeof(*s));
	s->env = e;
	s->srcs = fl_pool_alloc(e->pool, sizeof(fl_stream_src));
	s->srcs[0].node = node;
	s->srcs[0].tag = tag;
	s->nsrcs = node == UINT32_MAX ? 0 : 1;
	s->type = t;
	s->part = FL_PART_FORWARD;
	s->node = tag < 0 ? node : UINT32_MAX;
	return s;
}

/* A stream standing for nothing, returned after an error so calls chain. */
static flinc_stream *dead_stream(flinc_env *e, const flinc_type *t)
{
	return new_stream(e, UINT32_MAX, -1, t);
}

static bool type_ok(flinc_env *e, const flinc_type *t, const char *what)
{
	if (!t) {
		flinc_env_fail(e, "%s: output type is NULL", what);
		return false;
	}
	if (t->version != FLINC_TYPE_VERSION || !t->encode || !t->decode || t->size == 0) {
		flinc_env_fail(e, "%s: type '%s' is invalid (version %u, needs size, encode and decode)",
			       what, t->name ? t->name : "?", t->version);
		return false;
	}
	return true;
}

static bool usable(flinc_stream *in, const char *what)
{
	if (!in) return false;
	if (in->env->failed) return false;
	if (in->nsrcs == 0) {
		flinc_env_fail(in->env, "%s: input stream is empty", what);
		return false;
	}
	return true;
}

/* Connect every source of `in` to node dst as input `input`. */
static void connect_input(flinc_stream *in, fl_node *dst, uint32_t input)
{
	for (uint32_t i = 0; i < in->nsrcs; i++)
		add_edge(in->env, &in->srcs[i], dst->index, input, in->part, in->key);
	dst->in[input] = in->type;
	if (in->part == FL_PART_HASH) dst->keyed = true;
}

static flinc_stream *one_input(flinc_stream *in, fl_node_kind kind, const char *name, const void *arg,
			       const flinc_type *out)
{
	flinc_env *e = in->env;
	fl_node *n = add_node(e, kind, name, arg);
	n->out = out;
	connect_input(in, n, 0);
	flinc_stream *s = new_stream(e, n->index, -1, out);
	return s;
}

FLINC_API const flinc_tag *flinc_tag_new(flinc_env *e, const char *name, const flinc_type *t)
{
	struct flinc_tag *tag = fl_pool_alloc(e->pool, sizeof(*tag));
	if (!type_ok(e, t, name ? name : "side output")) t = &flinc_type_i64;
	tag->id = (uint32_t)e->ntags;
	tag->name = fl_pool_strdup(e->pool, name ? name : "side");
	tag->type = t;
	e->tags = fl_realloc(e->tags, (e->ntags + 1) * sizeof(*e->tags));
	e->tags[e->ntags++] = tag;
	return tag;
}

FLINC_API flinc_stream *flinc_source(flinc_env *e, const char *name, const flinc_source_fn *fn,
				     const void *arg, const flinc_type *out)
{
	if (e->failed || !type_ok(e, out, name ? name : "source")) return dead_stream(e, out);
	if (!fn || fn->version != FLINC_FN_VERSION || !fn->run) {
		flinc_env_fail(e, "source %s: source function missing, without run, or of another version",
			       name ? name : "?");
		return dead_stream(e, out);
	}
	fl_node *n = add_node(e, FL_NODE_SOURCE, name, arg);
	n->u.source.fn = fn;
	n->out = out;
	return new_stream(e, n->index, -1, out);
}

void fl_source_hooks(flinc_stream *s, const fl_conn_hooks *h)
{
	if (s->env->failed || s->node == UINT32_MAX || s->env->nodes[s->node]->kind != FL_NODE_SOURCE) return;
	s->env->nodes[s->node]->u.source.hooks = h;
}

void fl_sink_hooks(flinc_stream *s, const fl_conn_hooks *h)
{
	if (s->env->failed || s->node == UINT32_MAX || s->env->nodes[s->node]->kind != FL_NODE_SINK) return;
	s->env->nodes[s->node]->u.sink.hooks = h;
}

FLINC_API flinc_stream *flinc_set_uid(flinc_stream *s, const char *uid)
{
	flinc_env *e = s->env;
	if (e->failed) return s;
	if (s->node == UINT32_MAX) {
		flinc_env_fail(e, "set_uid '%s': the stream is not the output of one operator",
			       uid ? uid : "");
		return s;
	}
	if (!uid || !*uid || strlen(uid) > 128) {
		flinc_env_fail(e, "set_uid: a uid must have 1 to 128 characters");
		return s;
	}
	for (size_t i = 0; i < e->nnodes; i++) {
		if (i != s->node && strcmp(e->nodes[i]->uid, uid) == 0) {
			flinc_env_fail(e, "set_uid: uid '%s' is used twice", uid);
			return s;
		}
	}
	free(e->nodes[s->node]->uid);
	e->nodes[s->node]->uid = fl_strdup(uid);
	return s;
}

FLINC_API flinc_stream *flinc_set_parallelism(flinc_stream *s, int parallelism)
{
	flinc_env *e = s->env;
	if (e->failed) return s;
	if (s->node == UINT32_MAX) {
		flinc_env_fail(e, "set_parallelism: the stream is not the output of one operator");
		return s;
	}
	if (parallelism < 1 || parallelism > e->max_parallelism) {
		flinc_env_fail(e, "set_parallelism: %d is outside 1..%d (pipeline.max-parallelism)",
			       parallelism, e->max_parallelism);
		return s;
	}
	fl_node *n = e->nodes[s->node];
	if (n->parallelism_set && n->kind == FL_NODE_WINDOW && !n->keyed && parallelism != 1) {
		flinc_env_fail(e,
			       "set_parallelism: a window over a non-keyed stream runs with parallelism 1");
		return s;
	}
	n->parallelism = parallelism;
	n->parallelism_set = true;
	return s;
}

FLINC_API flinc_stream *flinc_map(flinc_stream *in, const char *name, flinc_map_fn fn, const void *arg,
				  const flinc_type *out)
{
	if (!usable(in, "map") || !type_ok(in->env, out, name ? name : "map"))
		return dead_stream(in->env, out);
	if (!fn)
		return flinc_env_fail(in->env, "map %s: function is NULL", name ? name : ""),
		       dead_stream(in->env, out);
	flinc_stream *s = one_input(in, FL_NODE_MAP, name, arg, out);
	in->env->nodes[s->node]->u.map.fn = fn;
	return s;
}

FLINC_API flinc_stream *flinc_filter(flinc_stream *in, const char *name, flinc_filter_fn fn, const void *arg)
{
	if (!usable(in, "filter")) return dead_stream(in->env, in->type);
	if (!fn)
		return flinc_env_fail(in->env, "filter %s: function is NULL", name ? name : ""),
		       dead_stream(in->env, in->type);
	flinc_stream *s = one_input(in, FL_NODE_FILTER, name, arg, in->type);
	in->env->nodes[s->node]->u.filter.fn = fn;
	return s;
}

FLINC_API flinc_stream *flinc_flat_map(flinc_stream *in, const char *name, flinc_flat_map_fn fn,
				       const void *arg, const flinc_type *out)
{
	if (!usable(in, "flat_map") || !type_ok(in->env, out, name ? name : "flat_map"))
		return dead_stream(in->env, out);
	if (!fn)
		return flinc_env_fail(in->env, "flat_map %s: function is NULL", name ? name : ""),
		       dead_stream(in->env, out);
	flinc_stream *s = one_input(in, FL_NODE_FLAT_MAP, name, arg, out);
	in->env->nodes[s->node]->u.flat_map.fn = fn;
	return s;
}

static bool process_fn_ok(flinc_env *e, const flinc_process_fn *fn, const char *name, bool two)
{
	if (!fn || fn->version != FLINC_FN_VERSION || !fn->process || (two && !fn->process2)) {
		flinc_env_fail(e, "%s: process function missing, of another version, or without process%s",
			       name ? name : "process", two ? "/process2" : "");
		return false;
	}
	return true;
}

FLINC_API flinc_stream *flinc_process(flinc_stream *in, const char *name, const flinc_process_fn *fn,
				      const void *arg, const flinc_type *out)
{
	if (!usable(in, "process") || !type_ok(in->env, out, name ? name : "process") ||
	    !process_fn_ok(in->env, fn, name, false))
		return dead_stream(in->env, out);
	flinc_stream *s = one_input(in, FL_NODE_PROCESS, name, arg, out);
	in->env->nodes[s->node]->u.process.fn = fn;
	return s;
}

FLINC_API flinc_stream *flinc_co_process(flinc_stream *a, flinc_stream *b, const char *name,
					 const flinc_process_fn *fn, const void *arg, const flinc_type *out)
{
	flinc_env *e = a->env;
	if (!usable(a, "co_process") || !usable(b, "co_process") ||
	    !type_ok(e, out, name ? name : "co_process") || !process_fn_ok(e, fn, name, true))
		return dead_stream(e, out);
	if ((a->part == FL_PART_HASH) != (b->part == FL_PART_HASH)) {
		flinc_env_fail(e, "co_process %s: either both inputs are keyed or neither", name ? name : "");
		return dead_stream(e, out);
	}
	fl_node *n = add_node(e, FL_NODE_CO_PROCESS, name, arg);
	n->out = out;
	n->u.process.fn = fn;
	connect_input(a, n, 0);
	connect_input(b, n, 1);
	return new_stream(e, n->index, -1, out);
}

FLINC_API flinc_stream *flinc_assign_timestamps(flinc_stream *in, flinc_timestamp_fn ts,
						int64_t max_out_of_orderness, int64_t idle_timeout)
{
	if (!usable(in, "assign_timestamps")) return dead_stream(in->env, in->type);
	if (!ts || max_out_of_orderness < 0 || idle_timeout < 0) {
		flinc_env_fail(in->env, "assign_timestamps: needs a timestamp function and bounds >= 0");
		return dead_stream(in->env, in->type);
	}
	flinc_stream *s = one_input(in, FL_NODE_TIMESTAMPS, "timestamps", NULL, in->type);
	fl_node *n = in->env->nodes[s->node];
	n->u.timestamps.fn = ts;
	n->u.timestamps.bound = max_out_of_orderness;
	n->u.timestamps.idle_timeout = idle_timeout;
	return s;
}

static flinc_stream *repartition(flinc_stream *in, fl_partition p, flinc_key_fn key)
{
	flinc_env *e = in->env;
	flinc_stream *s = fl_pool_alloc(e->pool, sizeof(*s));
	*s = *in;
	s->part = p;
	s->part_set = true;
	s->key = key;
	s->node = UINT32_MAX;
	return s;
}

FLINC_API flinc_stream *flinc_key_by(flinc_stream *in, flinc_key_fn key)
{
	if (!usable(in, "key_by")) return dead_stream(in->env, in->type);
	if (!key)
		return flinc_env_fail(in->env, "key_by: key function is NULL"),
		       dead_stream(in->env, in->type);
	return repartition(in, FL_PART_HASH, key);
}

FLINC_API flinc_stream *flinc_rebalance(flinc_stream *in)
{
	if (!usable(in, "rebalance")) return dead_stream(in->env, in->type);
	return repartition(in, FL_PART_REBALANCE, NULL);
}

FLINC_API flinc_stream *flinc_broadcast(flinc_stream *in)
{
	if (!usable(in, "broadcast")) return dead_stream(in->env, in->type);
	return repartition(in, FL_PART_BROADCAST, NULL);
}

FLINC_API flinc_stream *flinc_union(flinc_stream *a, flinc_stream *b)
{
	flinc_env *e = a->env;
	if (!usable(a, "union") || !usable(b, "union")) return dead_stream(e, a->type);
	if (a->type != b->type) {
		flinc_env_fail(e, "union: streams of different types (%s, %s)", a->type->name, b->type->name);
		return dead_stream(e, a->type);
	}
	if (a->part != b->part || a->key != b->key) {
		flinc_env_fail(e, "union: partition both streams the same way after the union, not before");
		return dead_stream(e, a->type);
	}
	flinc_stream *s = fl_pool_alloc(e->pool, sizeof(*s));
	*s = *a;
	s->srcs = fl_pool_alloc(e->pool, sizeof(fl_stream_src) * (a->nsrcs + b->nsrcs));
	memcpy(s->srcs, a->srcs, sizeof(fl_stream_src) * a->nsrcs);
	memcpy(s->srcs + a->nsrcs, b->srcs, sizeof(fl_stream_src) * b->nsrcs);
	s->nsrcs = a->nsrcs + b->nsrcs;
	s->node = UINT32_MAX;
	return s;
}

/* A constant key for windows over non-keyed streams. */
static size_t all_key(const void *rec, uint8_t *buf, size_t cap)
{
	(void)rec;
	(void)cap;
	buf[0] = 0;
	return 1;
}

FLINC_API flinc_stream *flinc_window(flinc_stream *in, const char *name, const flinc_window_spec *spec,
				     const flinc_window_fn *fn, const void *arg, const flinc_type *out)
{
	flinc_env *e = in->env;
	const char *nm = name ? name : "window";
	if (!usable(in, "window") || !type_ok(e, out, nm)) return dead_stream(e, out);
	if (!spec || !fn || fn->version != FLINC_FN_VERSION || !fn->emit) {
		flinc_env_fail(e, "window %s: needs a spec and a window function with emit", nm);
		return dead_stream(e, out);
	}
	switch (spec->kind) {
	case FLINC_WINDOW_TUMBLING:
		if (spec->size <= 0)
			return flinc_env_fail(e, "window %s: size must be > 0", nm), dead_stream(e, out);
		break;
	case FLINC_WINDOW_SLIDING:
		if (spec->size <= 0 || spec->slide <= 0)
			return flinc_env_fail(e, "window %s: size and slide must be > 0", nm),
			       dead_stream(e, out);
		break;
	case FLINC_WINDOW_SESSION:
		if (spec->gap <= 0)
			return flinc_env_fail(e, "window %s: gap must be > 0", nm), dead_stream(e, out);
		if (fn->kind != FLINC_WINDOW_PROCESS && !fn->merge)
			return flinc_env_fail(e, "window %s: session windows need a merge function", nm),
			       dead_stream(e, out);
		break;
	default:
		return flinc_env_fail(e, "window %s: unknown window kind %d", nm, (int)spec->kind),
		       dead_stream(e, out);
	}
	if (spec->allowed_lateness < 0)
		return flinc_env_fail(e, "window %s: allowed lateness must be >= 0", nm), dead_stream(e, out);
	if (fn->kind == FLINC_WINDOW_AGGREGATE && (!fn->acc_type || !fn->add))
		return flinc_env_fail(e, "window %s: an aggregate needs acc_type and add", nm),
		       dead_stream(e, out);
	if (fn->kind == FLINC_WINDOW_REDUCE && !fn->add)
		return flinc_env_fail(e, "window %s: a reduce needs add", nm), dead_stream(e, out);
	if (spec->late && spec->late->type != in->type)
		return flinc_env_fail(e, "window %s: the late side output must have the input's type", nm),
		       dead_stream(e, out);
	bool keyed = in->part == FL_PART_HASH;
	if (!keyed) in = repartition(in, FL_PART_HASH, all_key);
	flinc_stream *s = one_input(in, FL_NODE_WINDOW, name, arg, out);
	fl_node *n = e->nodes[s->node];
	n->u.window.spec = *spec;
	n->u.window.fn = *fn;
	if (fn->kind == FLINC_WINDOW_REDUCE) n->u.window.fn.acc_type = in->type;
	if (!keyed) {
		n->parallelism = 1;
		n->parallelism_set = true;
	}
	return s;
}

FLINC_API flinc_stream *flinc_side_output(flinc_stream *of, const flinc_tag *tag)
{
	flinc_env *e = of->env;
	if (!tag) return flinc_env_fail(e, "side_output: tag is NULL"), dead_stream(e, NULL);
	if (e->failed) return dead_stream(e, tag->type);
	if (of->node == UINT32_MAX)
		return flinc_env_fail(e, "side_output %s: the stream is not the output of one operator",
				      tag->name),
		       dead_stream(e, tag->type);
	flinc_stream *s = new_stream(e, of->node, (int32_t)tag->id, tag->type);
	return s;
}

FLINC_API flinc_stream *flinc_sink(flinc_stream *in, const char *name, const flinc_sink_fn *fn,
				   const void *arg)
{
	if (!usable(in, "sink")) return dead_stream(in->env, NULL);
	if (!fn || fn->version != FLINC_FN_VERSION || !fn->write) {
		flinc_env_fail(in->env,
			       "sink %s: sink function missing, of another version, or without write",
			       name ? name : "");
		return dead_stream(in->env, NULL);
	}
	flinc_stream *s = one_input(in, FL_NODE_SINK, name, arg, NULL);
	in->env->nodes[s->node]->u.sink.fn = fn;
	return s;
}

/* ---- validation ------------------------------------------------------ */

static int validate(flinc_env *e)
{
	for (size_t i = 0; i < e->nargs; i++)
		if (!e->args[i].used) return flinc_env_fail(e, "unknown argument --%s", e->args[i].name);
	bool has_sink = false;
	for (size_t i = 0; i < e->nnodes; i++) {
		fl_node *n = e->nodes[i];
		if (n->kind == FL_NODE_SINK) has_sink = true;
		n->op_id = fl_hash64(n->uid, strlen(n->uid), 0x666c696e63ULL);
		if (n->kind != FL_NODE_SOURCE) {
			bool has_input = false;
			for (size_t k = 0; k < e->nedges; k++) has_input |= e->edges[k].dst == n->index;
			if (!has_input)
				return flinc_env_fail(e, "%s '%s' has no input", fl_node_kind_name(n->kind),
						      n->name);
		}
		if (n->kind == FL_NODE_WINDOW && !n->keyed)
			return flinc_env_fail(e, "window '%s' needs a keyed input", n->name);
	}
	if (e->nnodes == 0) return flinc_env_fail(e, "the job declares no operators");
	if (!has_sink) return flinc_env_fail(e, "the job has no sink: nothing would be written");
	for (size_t k = 0; k < e->nedges; k++) {
		fl_edge *ed = &e->edges[k];
		fl_node *src = e->nodes[ed->src], *dst = e->nodes[ed->dst];
		if (ed->tag < 0 && !src->out)
			return flinc_env_fail(e, "'%s' has no output to feed '%s'", src->name, dst->name);
		/* A forward edge between different parallelisms becomes rebalance,
		 * as in Flink when the partitioning was not chosen explicitly. */
		if (ed->part == FL_PART_FORWARD && src->parallelism != dst->parallelism)
			ed->part = FL_PART_REBALANCE;
	}
	/* Keyed nodes must have all inputs hash-partitioned. */
	for (size_t i = 0; i < e->nnodes; i++) {
		fl_node *n = e->nodes[i];
		if (!n->keyed) continue;
		for (size_t k = 0; k < e->nedges; k++)
			if (e->edges[k].dst == n->index && e->edges[k].part != FL_PART_HASH)
				return flinc_env_fail(e, "'%s' mixes keyed and non-keyed inputs", n->name);
	}
	return FLINC_OK;
}

int fl_env_build(flinc_env *e, int (*build)(flinc_env *, int, char **), int argc, char **argv,
		 const char **msg)
{
	int rc = parse_args(e, argc, argv);
	if (rc == FLINC_OK && !e->failed) {
		rc = build(e, argc, argv);
		if (rc != FLINC_OK && !e->failed)
			flinc_env_fail(e, "the job's build function failed: %s", flinc_strerror(rc));
	}
	if (!e->failed) validate(e);
	if (e->failed) {
		*msg = e->err;
		return FLINC_EGRAPH;
	}
	*msg = NULL;
	return FLINC_OK;
}

/* ---- JSON and hash ---------------------------------------------------- */

char *fl_env_to_json(const flinc_env *e)
{
	fl_strbuf b = { 0 };
	fl_sb_append(&b, "{\"name\":", 8);
	fl_sb_json_str(&b, e->job_name);
	fl_sb_printf(&b, ",\"max-parallelism\":%d,\"vertices\":[", e->max_parallelism);
	for (size_t i = 0; i < e->nnodes; i++) {
		const fl_node *n = e->nodes[i];
		fl_sb_printf(&b, "%s{\"id\":\"%016llx\",\"uid\":", i ? "," : "",
			     (unsigned long long)n->op_id);
		fl_sb_json_str(&b, n->uid);
		fl_sb_append(&b, ",\"name\":", 8);
		fl_sb_json_str(&b, n->name);
		fl_sb_printf(&b, ",\"kind\":\"%s\",\"parallelism\":%d,\"keyed\":%s",
			     fl_node_kind_name(n->kind), n->parallelism, n->keyed ? "true" : "false");
		if (n->out) {
			fl_sb_append(&b, ",\"type\":", 8);
			fl_sb_json_str(&b, n->out->name ? n->out->name : "?");
		}
		fl_sb_append(&b, "}", 1);
	}
	fl_sb_append(&b, "],\"edges\":[", 11);
	for (size_t k = 0; k < e->nedges; k++) {
		const fl_edge *ed = &e->edges[k];
		fl_sb_printf(
			&b,
			"%s{\"source\":\"%016llx\",\"target\":\"%016llx\",\"input\":%u,\"partitioning\":\"%s\"",
			k ? "," : "", (unsigned long long)e->nodes[ed->src]->op_id,
			(unsigned long long)e->nodes[ed->dst]->op_id, ed->input, fl_partition_name(ed->part));
		if (ed->tag >= 0) {
			fl_sb_append(&b, ",\"side_output\":", 15);
			fl_sb_json_str(&b, e->tags[ed->tag]->name);
		}
		fl_sb_append(&b, "}", 1);
	}
	fl_sb_append(&b, "]}", 2);
	return b.data;
}

uint64_t fl_env_hash(const flinc_env *e)
{
	fl_strbuf b = { 0 };
	for (size_t i = 0; i < e->nnodes; i++) {
		const fl_node *n = e->nodes[i];
		fl_sb_printf(&b, "n%s|%d|%d|%d;", n->uid, (int)n->kind, n->parallelism, n->keyed);
	}
	for (size_t k = 0; k < e->nedges; k++) {
		const fl_edge *ed = &e->edges[k];
		fl_sb_printf(&b, "e%u>%u:%d:%u:%d;", ed->src, ed->dst, ed->tag, ed->input, (int)ed->part);
	}
	uint64_t h = fl_hash64(b.data ? b.data : "", b.len, 1);
	fl_sb_free(&b);
	return h;
}
