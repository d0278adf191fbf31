/*
 * backend.c - the table of built-in keyed state backends.
 */
#include <string.h>

#include "fl_state.h"

/* The backend named by the `state.backend` config value: "hashmap" and
 * "memory" are the in-memory backend, "rocksdb" the RocksDB one. NULL for
 * NULL or an unknown name.
 * The result is a static const struct (nothing to free); any thread. */
const fl_backend_ops *fl_backend_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "hashmap") == 0 || strcmp(name, "memory") == 0)
		return &fl_backend_memory;
	if (strcmp(name, "rocksdb") == 0)
		return &fl_backend_rocksdb;
	return NULL;
}
