/*
 * plan.h - the physical plan: the logical graph cut into chained vertices.
 *
 * A node joins its upstream's chain when it has exactly one input edge and
 * that edge moves records one-to-one: FORWARD at equal parallelism, or any
 * partitioning between two operators of parallelism 1. Each vertex runs as
 * `parallelism` subtasks (threads); only the head of a chain has inputs
 * from other vertices. Vertex ids derive from the head's operator id, so
 * they are stable across builds.
 *
 * Create, destroy, JSON and the read access host programs have are in the
 * runtime's door (fl_runtime.h); the engine reads the structs below.
 */
#ifndef FL_PLAN_H
#define FL_PLAN_H

#include "graph.h"

typedef struct fl_vertex {
	uint32_t index;
	uint32_t head;   /* node index */
	uint32_t *nodes; /* chain members in graph (topological) order, head first */
	uint32_t nnodes;
	int parallelism;
	uint64_t id;
	char *name; /* "Source: a -> Map: b" */
} fl_vertex;

struct fl_plan {
	const flinc_env *env;
	fl_vertex *v;
	uint32_t nv;
	uint32_t *node_vertex; /* node index -> vertex index */
	bool *chained;         /* per env edge: inside one chain */
};

/* Total subtasks (slots needed). Any thread. */
int fl_plan_subtasks(const fl_plan *p);

#endif
