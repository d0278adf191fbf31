/*
 * jobdesc.c - a built job as plain data (fl_job_desc, fl_runtime.h): made
 * from an env in the process that built it, written as JSON by the
 * inspection helper and read back, checked field by field, by its parent.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inspect.h"
#include "plan.h"

#include "utf8.h"
fl_job_desc *fl_job_desc_create(const flinc_env *e)
{
	fl_plan *p = fl_plan_create(e);
	fl_job_desc *d = fl_calloc(1, sizeof *d);
	d->name = fl_strdup(e->job_name ? e->job_name : "job");
	d->graph_hash = fl_env_hash(e);
	d->parallelism = e->default_parallelism;
	d->max_parallelism = e->max_parallelism;
	d->key_hash = e->key_hash;
	d->n_uids = e->nnodes;
	d->uids = fl_calloc(e->nnodes ? e->nnodes : 1, sizeof(char *));
	for (size_t k = 0; k < e->nnodes; k++) d->uids[k] = fl_strdup(e->nodes[k]->uid);
	d->n_vertices = p->nv;
	d->vertices = fl_calloc(p->nv ? p->nv : 1, sizeof *d->vertices);
	for (uint32_t k = 0; k < p->nv; k++) {
		d->vertices[k] = (fl_job_vertex){ .index = p->v[k].index,
						  .id = p->v[k].id,
						  .name = fl_strdup(p->v[k].name),
						  .parallelism = p->v[k].parallelism };
		d->subtasks += p->v[k].parallelism;
	}
	d->edges = fl_calloc(e->nedges ? e->nedges : 1, sizeof *d->edges);
	for (size_t x = 0; x < e->nedges; x++) {
		if (p->chained[x]) continue; /* inside a vertex: a direct call, no exchange */
		fl_job_edge *je = &d->edges[d->n_edges++];
		je->src = p->node_vertex[e->edges[x].src];
		je->dst = p->node_vertex[e->edges[x].dst];
		je->partitioning = fl_strdup(fl_partition_name(e->edges[x].part));
	}
	d->graph_json = fl_env_to_json(e);
	d->plan_json = fl_plan_to_json(p);
	fl_plan_destroy(p);
	return d;
}

void fl_job_desc_free(fl_job_desc *d)
{
	if (!d) return;
	free(d->name);
	for (size_t k = 0; k < d->n_uids; k++) free(d->uids[k]);
	free(d->uids);
	for (uint32_t k = 0; k < d->n_vertices; k++) free(d->vertices[k].name);
	free(d->vertices);
	for (size_t k = 0; k < d->n_edges; k++) free(d->edges[k].partitioning);
	free(d->edges);
	free(d->graph_json);
	free(d->plan_json);
	free(d);
}

/* ---- the helper's side: JSON ------------------------------------------------ */

static json_t *hex64(uint64_t v)
{
	char b[17];
	snprintf(b, sizeof b, "%016" PRIx64, v);
	return json_string(b);
}

json_t *fl_job_desc_to_json(const fl_job_desc *d)
{
	json_t *uids = json_array(), *vs = json_array(), *es = json_array();
	bool ok = true;
	for (size_t k = 0; k < d->n_uids; k++) {
		json_t *u = json_string(d->uids[k]); /* NULL: not UTF-8 */
		ok = ok && u;
		json_array_append_new(uids, u);
	}
	for (uint32_t k = 0; k < d->n_vertices; k++) {
		const fl_job_vertex *v = &d->vertices[k];
		char *name = fl_inspect_clean(v->name, FL_INSPECT_VNAME_MAX);
		json_array_append_new(vs,
				      json_pack("{s:i, s:o, s:s, s:i}", "index", (int)v->index, "id",
						hex64(v->id), "name", name, "parallelism", v->parallelism));
		free(name);
	}
	for (size_t k = 0; k < d->n_edges; k++)
		json_array_append_new(es,
				      json_pack("{s:i, s:i, s:s}", "src", (int)d->edges[k].src, "dst",
						(int)d->edges[k].dst, "partitioning",
						d->edges[k].partitioning));
	json_t *graph = json_loads(d->graph_json, 0, NULL), *plan = json_loads(d->plan_json, 0, NULL);
	char *name = fl_inspect_clean(d->name, FL_INSPECT_NAME_MAX);
	json_t *doc = json_pack("{s:s, s:o, s:i, s:i, s:s, s:o, s:o, s:o, s:o?, s:o?}", "name", name, "hash",
				hex64(d->graph_hash), "parallelism", d->parallelism, "max_parallelism",
				d->max_parallelism, "key_hash", fl_key_hash_name(d->key_hash), "uids", uids,
				"vertices", vs, "edges", es, "graph", graph, "plan", plan);
	free(name);
	if (!ok || !doc || !graph || !plan) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* ---- the parent's side: a strict reader ---------------------------------------- */

/* Why the answer is refused: "<where>: <what>" into r->why, once. */
typedef struct reader {
	char *why;
	size_t whycap;
	bool failed;
} reader;

static bool bad(reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool bad(reader *r, const char *fmt, ...)
{
	if (!r->failed) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->why, r->whycap, fmt, ap);
		va_end(ap);
		r->failed = true;
	}
	return false;
}

/* obj.key as a string of 1..max bytes without NUL: a copy into *out
 * (malloc'ed; NULL for null when nullable). */
static bool get_str(reader *r, const json_t *obj, const char *key, size_t max, bool nullable, char **out)
{
	*out = NULL;
	const json_t *v = json_object_get(obj, key);
	if (nullable && (!v || json_is_null(v))) return true;
	if (!json_is_string(v)) return bad(r, "%s is not a string", key);
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	if (n == 0 || n > max || strlen(s) != n)
		return bad(r, "%s is empty, longer than %zu bytes or holds a NUL", key, max);
	*out = fl_strdup(s);
	return true;
}

/* obj.key as an integer in [lo, hi]. */
static bool get_int(reader *r, const json_t *obj, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v)) return bad(r, "%s is not an integer", key);
	*out = json_integer_value(v);
	if (*out < lo || *out > hi)
		return bad(r, "%s is %lld, not in %lld..%lld", key, (long long)*out, (long long)lo,
			   (long long)hi);
	return true;
}

/* obj.key as 16 lowercase hex digits. */
static bool get_hex64(reader *r, const json_t *obj, const char *key, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	const char *s = json_string_value(v);
	if (!s || json_string_length(v) != 16 || strspn(s, "0123456789abcdef") != 16)
		return bad(r, "%s is not 16 hex digits", key);
	*out = strtoull(s, NULL, 16);
	return true;
}

/* obj.key as an array of 1..max entries. */
static const json_t *get_array(reader *r, const json_t *obj, const char *key, size_t min, size_t max)
{
	const json_t *a = json_object_get(obj, key);
	if (!json_is_array(a) || json_array_size(a) < min || json_array_size(a) > max) {
		bad(r, "%s is not an array of %zu..%zu entries", key, min, max);
		return NULL;
	}
	return a;
}

/* A JSON document the parent keeps: an object whose array `key` has n
 * entries, re-written compact (so what is kept is what was checked). */
static bool get_doc(reader *r, const json_t *obj, const char *key, const char *akey, size_t n, char **out)
{
	const json_t *v = json_object_get(obj, key);
	const json_t *a = json_object_get(v, akey);
	if (!json_is_object(v) || !json_is_array(a) || json_array_size(a) != n)
		return bad(r, "%s is not an object with %zu %s", key, n, akey);
	*out = json_dumps(v, JSON_COMPACT);
	if (!*out) return bad(r, "%s cannot be written back", key);
	return true;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool read_vertices(reader *r, const json_t *job, fl_job_desc *d)
{
	const json_t *vs = get_array(r, job, "vertices", 1, d->n_uids);
	if (!vs) return false;
	d->vertices = fl_calloc(json_array_size(vs), sizeof *d->vertices);
	for (size_t k = 0; k < json_array_size(vs); k++) {
		const json_t *v = json_array_get(vs, k);
		fl_job_vertex *jv = &d->vertices[d->n_vertices];
		int64_t index, par;
		if (!json_is_object(v)) return bad(r, "vertices[%zu] is not an object", k);
		if (!get_int(r, v, "index", (int64_t)k, (int64_t)k, &index) ||
		    !get_int(r, v, "parallelism", 1, 32768, &par) || !get_hex64(r, v, "id", &jv->id) ||
		    !get_str(r, v, "name", FL_INSPECT_VNAME_MAX, false, &jv->name))
			return false;
		d->n_vertices++;
		jv->index = (uint32_t)index;
		jv->parallelism = (int)par;
		d->subtasks += jv->parallelism;
		if (d->subtasks > FL_INSPECT_SUBTASKS_MAX)
			return bad(r, "more than %d subtasks", FL_INSPECT_SUBTASKS_MAX);
		for (size_t i = 0; i < k; i++)
			if (d->vertices[i].id == jv->id)
				return bad(r, "vertices %zu and %zu have one id", i, k);
	}
	return true;
}

static bool read_edges(reader *r, const json_t *job, fl_job_desc *d)
{
	static const char *parts[] = { "FORWARD", "REBALANCE", "HASH", "BROADCAST" };
	const json_t *es = get_array(r, job, "edges", 0, FL_INSPECT_EDGES_MAX);
	if (!es) return false;
	d->edges = fl_calloc(json_array_size(es) ? json_array_size(es) : 1, sizeof *d->edges);
	for (size_t k = 0; k < json_array_size(es); k++) {
		const json_t *e = json_array_get(es, k);
		fl_job_edge *je = &d->edges[d->n_edges];
		int64_t src, dst;
		if (!json_is_object(e)) return bad(r, "edges[%zu] is not an object", k);
		if (!get_int(r, e, "src", 0, (int64_t)d->n_vertices - 1, &src) ||
		    !get_int(r, e, "dst", 0, (int64_t)d->n_vertices - 1, &dst) ||
		    !get_str(r, e, "partitioning", 16, false, &je->partitioning))
			return false;
		d->n_edges++;
		if (src == dst) return bad(r, "edges[%zu] joins vertex %lld to itself", k, (long long)src);
		je->src = (uint32_t)src;
		je->dst = (uint32_t)dst;
		bool known = false;
		for (size_t i = 0; i < FL_ARRAY_LEN(parts) && !known; i++)
			known = !strcmp(je->partitioning, parts[i]);
		if (!known) return bad(r, "edges[%zu] has an unknown partitioning", k);
	}
	return true;
}

static bool read_job(reader *r, const json_t *job, fl_job_desc *d)
{
	int64_t par, maxp;
	if (!json_is_object(job)) return bad(r, "job is not an object");
	if (!get_str(r, job, "name", FL_INSPECT_NAME_MAX, false, &d->name) ||
	    !get_hex64(r, job, "hash", &d->graph_hash) ||
	    !get_int(r, job, "max_parallelism", 1, 32768, &maxp) ||
	    !get_int(r, job, "parallelism", 1, 32768, &par))
		return false;
	d->parallelism = (int)par;
	d->max_parallelism = (int)maxp;
	const json_t *kh = json_object_get(job, "key_hash");
	if (kh && !(json_is_string(kh) && fl_key_hash_parse(json_string_value(kh), &d->key_hash)))
		return bad(r, "key_hash is not xxh3 or murmur64a");
	const json_t *uids = get_array(r, job, "uids", 1, FL_INSPECT_NODES_MAX);
	if (!uids) return false;
	d->uids = fl_calloc(json_array_size(uids), sizeof(char *));
	for (size_t k = 0; k < json_array_size(uids); k++) {
		const json_t *u = json_array_get(uids, k);
		const char *s = json_string_value(u);
		if (!s || !*s || json_string_length(u) > FL_INSPECT_NAME_MAX ||
		    strlen(s) != json_string_length(u))
			return bad(r, "uids[%zu] is not a string of 1..%d bytes", k, FL_INSPECT_NAME_MAX);
		d->uids[d->n_uids++] = fl_strdup(s);
	}
	/* Unique, as the graph makes them (state is filed under them). */
	char **sorted = fl_calloc(d->n_uids, sizeof(char *));
	memcpy(sorted, d->uids, d->n_uids * sizeof(char *));
	qsort(sorted, d->n_uids, sizeof(char *), cmp_str);
	size_t dup = 0;
	for (size_t k = 1; k < d->n_uids && !dup; k++)
		if (!strcmp(sorted[k - 1], sorted[k])) dup = k;
	free(sorted);
	if (dup) return bad(r, "two operators have one uid");
	return read_vertices(r, job, d) && read_edges(r, job, d) &&
		get_doc(r, job, "graph", "vertices", d->n_uids, &d->graph_json) &&
		get_doc(r, job, "plan", "nodes", d->n_vertices, &d->plan_json);
}

static bool read_plugin(reader *r, const json_t *pl, fl_inspection *in)
{
	int64_t abi;
	if (!json_is_object(pl)) return bad(r, "plugin is not an object");
	return get_str(r, pl, "name", FL_INSPECT_NAME_MAX, true, &in->plugin_name) &&
		get_str(r, pl, "description", FL_INSPECT_TEXT_MAX, true, &in->description) &&
		get_str(r, pl, "usage", FL_INSPECT_TEXT_MAX, true, &in->usage) &&
		get_int(r, pl, "abi", 1, FLINC_ABI_VERSION, &abi) && (in->abi_version = (uint32_t)abi, true);
}

int fl_inspect_decode(const json_t *answer, bool want_build, fl_inspection **out, char *why, size_t whycap)
{
	*out = NULL;
	reader r = { .why = why, .whycap = whycap };
	if (!json_is_object(answer)) return bad(&r, "the answer is not an object"), FLINC_EPROTO;
	const json_t *ok = json_object_get(answer, "ok");
	if (!json_is_boolean(ok)) return bad(&r, "ok is not a boolean"), FLINC_EPROTO;
	if (!json_is_true(ok)) {
		int64_t code;
		char *reason = NULL;
		if (!get_int(&r, answer, "code", FLINC_ECONFIG, -1, &code) ||
		    !get_str(&r, answer, "reason", FL_INSPECT_TEXT_MAX, false, &reason))
			return FLINC_EPROTO;
		char *clean = fl_inspect_clean(reason, FL_INSPECT_TEXT_MAX);
		snprintf(why, whycap, "%s", clean);
		free(clean);
		free(reason);
		/* The helper's refusals are about the file: the plugin's fault. */
		return code == FLINC_ENOENT ? FLINC_ENOENT : FLINC_EPLUGIN;
	}
	fl_inspection *in = fl_calloc(1, sizeof *in);
	const json_t *job = json_object_get(answer, "job");
	const json_t *berr = json_object_get(answer, "build_error");
	int rc = FLINC_OK;
	if (!read_plugin(&r, json_object_get(answer, "plugin"), in)) {
		rc = FLINC_EPROTO;
	} else if (!want_build) {
		if (job || berr) rc = (bad(&r, "a job or build_error without a build"), FLINC_EPROTO);
	} else if (!job == !berr) {
		rc = (bad(&r, "a build needs exactly one of job and build_error"), FLINC_EPROTO);
	} else if (berr) {
		char *msg = NULL;
		if (!get_str(&r, answer, "build_error", FL_INSPECT_TEXT_MAX, false, &msg)) {
			rc = FLINC_EPROTO;
		} else {
			in->build_error = fl_inspect_clean(msg, FL_INSPECT_TEXT_MAX);
			free(msg);
			rc = FLINC_EGRAPH;
		}
	} else {
		in->job = fl_calloc(1, sizeof *in->job);
		if (!read_job(&r, job, in->job)) rc = FLINC_EPROTO;
	}
	if (rc == FLINC_EPROTO) {
		fl_inspection_free(in);
		return rc;
	}
	if (rc == FLINC_EGRAPH) snprintf(why, whycap, "%s", in->build_error);
	*out = in;
	return rc;
}

void fl_inspection_free(fl_inspection *in)
{
	if (!in) return;
	free(in->plugin_name);
	free(in->description);
	free(in->usage);
	free(in->build_error);
	fl_job_desc_free(in->job);
	free(in);
}

/* ---- strings from a plugin ------------------------------------------------------- */

char *fl_inspect_clean(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max) : 0;
	char *out = fl_malloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const unsigned char *c = (const unsigned char *)s + i;
		size_t len = fl_utf8_len(c, n - i);
		if (len == 0) {
			out[o++] = '?';
			i++;
		} else if (len == 1 && (c[0] < 0x20 || c[0] == 0x7f)) {
			out[o++] = ' ';
			i++;
		} else {
			memcpy(out + o, c, len);
			o += len;
			i += len;
		}
	}
	out[o] = 0;
	return out;
}
