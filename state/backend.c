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
	if (!name) return NULL;
	if (strcmp(name, "hashmap") == 0 || strcmp(name, "memory") == 0) return &fl_backend_memory;
	if (strcmp(name, "rocksdb") == 0) return &fl_backend_rocksdb;
	return NULL;
}

void fl_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last)
{
	/* Inverse of fl_key_group_owner: the key groups kg with
	 * kg * p / maxp == subtask. */
	*first = (int)(((int64_t)subtask * max_parallelism + parallelism - 1) / parallelism);
	*last = (int)(((int64_t)(subtask + 1) * max_parallelism + parallelism - 1) / parallelism) - 1;
}

const char *fl_key_hash_name(fl_key_hash_kind kind)
{
	return kind == FL_KEY_HASH_MURMUR64A ? "murmur64a" : "xxh3";
}

bool fl_key_hash_parse(const char *name, fl_key_hash_kind *out)
{
	if (!name) return false;
	if (strcmp(name, "xxh3") == 0) {
		*out = FL_KEY_HASH_XXH3;
		return true;
	}
	if (strcmp(name, "murmur64a") == 0) {
		*out = FL_KEY_HASH_MURMUR64A;
		return true;
	}
	return false;
}
