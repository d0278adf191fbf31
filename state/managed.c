/*
 * managed.c - the process's managed memory (fl_managed.h).
 *
 * One account per process, made by the first backend that opens and freed
 * when the last one closes: a mutex guards the reference count and the
 * lazy RocksDB cache; the charge counter is an atomic.
 */
#include "fl_managed.h"

#include <flinc/error.h>
#include <rocksdb/c.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MB ((int64_t)1 << 20)
#define AUTO_FRACTION 0.4      /* of the machine's (or cgroup's) memory */
#define WRITE_BUFFER_RATIO 0.5 /* Flink's state.backend.rocksdb.memory.write-buffer-ratio */

struct fl_managed {
	int refs;
	int64_t total;
	int slots;
	bool rocksdb;
	double wb_ratio;
	rocksdb_cache_t *cache;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static fl_managed *g_m;
static _Atomic int64_t g_used;
static _Atomic int64_t g_limit;

/* The memory this process may count on: the machine's, or the cgroup's
 * limit when that is smaller. */
static int64_t machine_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
	int64_t mem = pages > 0 && psz > 0 ? (int64_t)pages * psz : 4096 * MB;
	FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
	if (f) {
		long long lim;
		if (fscanf(f, "%lld", &lim) == 1 && lim > 0 && lim < mem) mem = lim;
		fclose(f);
	}
	return mem;
}

fl_managed *fl_managed_acquire(const fl_conf *conf, char *err, size_t errcap)
{
	pthread_mutex_lock(&g_mu);
	if (g_m) {
		g_m->refs++;
		pthread_mutex_unlock(&g_mu);
		return g_m;
	}
	bool ok = true;
	int64_t total = fl_conf_size(conf, "taskmanager.memory.managed.size", 0, &ok);
	if (!ok || total < 0) {
		snprintf(err, errcap, "taskmanager.memory.managed.size: not a size: '%s'",
			 fl_conf_get(conf, "taskmanager.memory.managed.size"));
		goto bad;
	}
	if (total == 0) total = (int64_t)((double)machine_memory() * AUTO_FRACTION);
	if (total < 16 * MB) {
		snprintf(err, errcap,
			 "taskmanager.memory.managed.size: %lld bytes is too small (at least 16mb)",
			 (long long)total);
		goto bad;
	}
	int64_t slots = fl_conf_i64(conf, "taskmanager.numberOfTaskSlots", 1, &ok);
	if (!ok || slots < 1) slots = 1;
	const char *mr = fl_conf_get(conf, "state.backend.rocksdb.memory.managed");
	const char *rs = fl_conf_get(conf, "state.backend.rocksdb.memory.write-buffer-ratio");
	double ratio = WRITE_BUFFER_RATIO;
	if (rs) {
		char *end;
		ratio = strtod(rs, &end);
		if (*end || !(ratio > 0 && ratio < 1)) {
			snprintf(
				err, errcap,
				"state.backend.rocksdb.memory.write-buffer-ratio: not a number between 0 and 1: '%s'",
				rs);
			goto bad;
		}
	}
	fl_managed *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errcap, "managed memory: out of memory");
		goto bad;
	}
	m->refs = 1;
	m->total = total;
	m->slots = (int)slots;
	m->rocksdb = !mr || strcmp(mr, "false") != 0;
	m->wb_ratio = ratio;
	atomic_store(&g_limit, total);
	g_m = m;
	pthread_mutex_unlock(&g_mu);
	return m;
bad:
	pthread_mutex_unlock(&g_mu);
	return NULL;
}

void fl_managed_release(fl_managed *m)
{
	if (!m) return;
	pthread_mutex_lock(&g_mu);
	if (--m->refs == 0) {
		if (m->cache) rocksdb_cache_destroy(m->cache);
		free(m);
		g_m = NULL;
		atomic_store(&g_limit, 0);
	}
	pthread_mutex_unlock(&g_mu);
}

int64_t fl_managed_total(const fl_managed *m) { return m->total; }
int fl_managed_slots(const fl_managed *m) { return m->slots; }
int64_t fl_managed_slot_share(const fl_managed *m) { return m->total / m->slots; }

bool fl_managed_charge(fl_managed *m, int64_t bytes)
{
	int64_t cur = atomic_load_explicit(&g_used, memory_order_relaxed);
	do {
		if (cur + bytes > m->total) return false;
	} while (!atomic_compare_exchange_weak_explicit(&g_used, &cur, cur + bytes, memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void fl_managed_uncharge(fl_managed *m, int64_t bytes)
{
	(void)m;
	atomic_fetch_sub_explicit(&g_used, bytes, memory_order_relaxed);
}

int64_t fl_managed_used(void)
{
	int64_t used = atomic_load_explicit(&g_used, memory_order_relaxed);
	pthread_mutex_lock(&g_mu);
	if (g_m && g_m->cache) used += (int64_t)rocksdb_cache_get_usage(g_m->cache);
	pthread_mutex_unlock(&g_mu);
	return used;
}

int64_t fl_managed_limit(void) { return atomic_load(&g_limit); }

bool fl_managed_rocksdb(const fl_managed *m) { return m->rocksdb; }

void *fl_managed_rocksdb_cache(fl_managed *m)
{
	if (!m->rocksdb) return NULL;
	pthread_mutex_lock(&g_mu);
	if (!m->cache) {
		size_t cap = (size_t)((double)m->total * (1 - m->wb_ratio));
		m->cache = rocksdb_cache_create_lru(cap);
	}
	rocksdb_cache_t *c = m->cache;
	pthread_mutex_unlock(&g_mu);
	return c;
}

int64_t fl_managed_rocksdb_write_buffers(const fl_managed *m)
{
	return (int64_t)((double)fl_managed_slot_share(m) * m->wb_ratio);
}
