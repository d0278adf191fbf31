/* plan.c - chaining logical nodes into vertices. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

static const char *kind_label(fl_node_kind k)
{
	switch (k) {
	case FL_NODE_SOURCE: return "Source";
	case FL_NODE_SINK: return "Sink";
	case FL_NODE_WINDOW: return "Window";
	case FL_NODE_TIMESTAMPS: return "Timestamps/Watermarks";
	case FL_NODE_MAP: return "Map";
	case FL_NODE_FILTER: return "Filter";
	case FL_NODE_FLAT_MAP: return "FlatMap";
	case FL_NODE_PROCESS: return "Process";
	case FL_NODE_CO_PROCESS: return "CoProcess";
	}
	return "?";
}

fl_plan *fl_plan_create(const flinc_env *e)
{
	fl_plan *p = fl_calloc(1, sizeof(*p));
	p->env = e;
	p->node_vertex = fl_calloc(e->nnodes, sizeof(uint32_t));
	p->chained = fl_calloc(e->nedges ? e->nedges : 1, sizeof(bool));
	p->v = fl_calloc(e->nnodes, sizeof(fl_vertex));
	for (uint32_t i = 0; i < e->nnodes; i++) {
		const fl_node *n = e->nodes[i];
		int nin = 0;
		size_t in_edge = 0;
		for (size_t k = 0; k < e->nedges; k++)
			if (e->edges[k].dst == i) nin++, in_edge = k;
		bool chain = false;
		if (nin == 1) {
			const fl_edge *ed = &e->edges[in_edge];
			const fl_node *src = e->nodes[ed->src];
			if (ed->part == FL_PART_FORWARD && src->parallelism == n->parallelism) chain = true;
			if (src->parallelism == 1 && n->parallelism == 1) chain = true;
		}
		fl_vertex *v;
		if (chain) {
			const fl_edge *ed = &e->edges[in_edge];
			p->chained[in_edge] = true;
			v = &p->v[p->node_vertex[ed->src]];
		} else {
			v = &p->v[p->nv];
			v->index = p->nv++;
			v->head = i;
			v->parallelism = n->parallelism;
			v->id = n->op_id;
		}
		v->nodes = fl_realloc(v->nodes, (v->nnodes + 1) * sizeof(uint32_t));
		v->nodes[v->nnodes++] = i;
		p->node_vertex[i] = v->index;
	}
	for (uint32_t k = 0; k < p->nv; k++) {
		fl_vertex *v = &p->v[k];
		fl_strbuf b = { 0 };
		for (uint32_t j = 0; j < v->nnodes; j++) {
			const fl_node *n = e->nodes[v->nodes[j]];
			fl_sb_printf(&b, "%s%s: %s", j ? " -> " : "", kind_label(n->kind), n->name);
		}
		v->name = b.data;
	}
	return p;
}

void fl_plan_destroy(fl_plan *p)
{
	if (!p) return;
	for (uint32_t k = 0; k < p->nv; k++) {
		free(p->v[k].nodes);
		free(p->v[k].name);
	}
	free(p->v);
	free(p->node_vertex);
	free(p->chained);
	free(p);
}

uint32_t fl_plan_vertices(const fl_plan *p) { return p->nv; }

fl_vertex_info fl_plan_vertex(const fl_plan *p, uint32_t v)
{
	fl_vertex_info vi = { 0 };
	if (v >= p->nv) return vi;
	vi.index = p->v[v].index;
	vi.id = p->v[v].id;
	vi.name = p->v[v].name;
	vi.parallelism = p->v[v].parallelism;
	return vi;
}

bool fl_plan_edge_vertices(const fl_plan *p, size_t edge, uint32_t *src, uint32_t *dst)
{
	if (edge >= p->env->nedges) return false;
	*src = p->node_vertex[p->env->edges[edge].src];
	*dst = p->node_vertex[p->env->edges[edge].dst];
	return true;
}

int fl_plan_subtasks(const fl_plan *p)
{
	int n = 0;
	for (uint32_t k = 0; k < p->nv; k++) n += p->v[k].parallelism;
	return n;
}

char *fl_plan_to_json(const fl_plan *p)
{
	const flinc_env *e = p->env;
	fl_strbuf b = { 0 };
	fl_sb_append(&b, "{\"jid\":null,\"name\":", 19);
	fl_sb_json_str(&b, e->job_name);
	fl_sb_append(&b, ",\"nodes\":[", 10);
	for (uint32_t k = 0; k < p->nv; k++) {
		const fl_vertex *v = &p->v[k];
		fl_sb_printf(&b, "%s{\"id\":\"%016llx\",\"parallelism\":%d,\"description\":", k ? "," : "",
			     (unsigned long long)v->id, v->parallelism);
		fl_sb_json_str(&b, v->name);
		fl_sb_append(&b, ",\"operators\":[", 14);
		for (uint32_t j = 0; j < v->nnodes; j++) {
			const fl_node *n = e->nodes[v->nodes[j]];
			fl_sb_printf(&b, "%s{\"id\":\"%016llx\",\"uid\":", j ? "," : "",
				     (unsigned long long)n->op_id);
			fl_sb_json_str(&b, n->uid);
			fl_sb_append(&b, ",\"name\":", 8);
			fl_sb_json_str(&b, n->name);
			fl_sb_printf(&b, ",\"kind\":\"%s\"}", fl_node_kind_name(n->kind));
		}
		fl_sb_append(&b, "],\"inputs\":[", 12);
		int ni = 0;
		for (size_t x = 0; x < e->nedges; x++) {
			const fl_edge *ed = &e->edges[x];
			if (ed->dst != v->head || p->chained[x]) continue;
			fl_sb_printf(&b, "%s{\"id\":\"%016llx\",\"ship_strategy\":\"%s\",\"input\":%u}",
				     ni++ ? "," : "", (unsigned long long)p->v[p->node_vertex[ed->src]].id,
				     fl_partition_name(ed->part), ed->input);
		}
		fl_sb_append(&b, "]}", 2);
	}
	fl_sb_append(&b, "]}", 2);
	return b.data;
}
