/*
 * util.h - small shared pieces of the runtime: arenas, a pool of owned
 * allocations, hashing, clocks, logging and key/value configuration.
 * Internal to libflinc (fl_ names); daemons and tools may use them.
 */
#ifndef FL_UTIL_H
#define FL_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/flinc.h>

#define FL_EXPORT __attribute__((visibility("default")))

#define FL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define FL_LIKELY(x) __builtin_expect(!!(x), 1)
#define FL_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- allocation ------------------------------------------------------ */

/* malloc/calloc/realloc that abort with a message when memory runs out:
 * the runtime treats OOM as fatal rather than carry half-built objects. */
void *fl_malloc(size_t n);
void *fl_calloc(size_t n, size_t sz);
void *fl_realloc(void *p, size_t n);
char *fl_strdup(const char *s);
char *fl_strndup(const char *s, size_t n);
char *fl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Bump allocator in chunks. Reset keeps the first chunk (steady state does
 * not call malloc). flinc_arena is this type. */
struct flinc_arena {
	uint8_t *p, *end;
	struct fl_arena_chunk *chunks; /* newest first */
	size_t chunk_size;
};
void fl_arena_init(flinc_arena *a, size_t chunk_size);
void fl_arena_reset(flinc_arena *a);
/* Free everything allocated since a mark (nested scopes, e.g. one timer
 * inside a longer step). */
typedef struct fl_arena_mark {
	struct fl_arena_chunk *chunk;
	uint8_t *p;
} fl_arena_mark;
static inline fl_arena_mark fl_arena_get_mark(const flinc_arena *a)
{
	fl_arena_mark m = {a->chunks, a->p};
	return m;
}
void fl_arena_release(flinc_arena *a, fl_arena_mark m);
void fl_arena_fini(flinc_arena *a);

/* A list of allocations freed together (used for build-time objects). */
typedef struct fl_pool fl_pool;
fl_pool *fl_pool_create(void);
void *fl_pool_alloc(fl_pool *p, size_t n); /* zeroed */
char *fl_pool_strdup(fl_pool *p, const char *s);
void fl_pool_destroy(fl_pool *p);

/* ---- hashing --------------------------------------------------------- */

/* 64-bit hash of bytes (MurmurHash64A). Stable across processes and
 * versions: key groups and operator ids depend on it. */
uint64_t fl_hash64(const void *data, size_t len, uint64_t seed);

/* Key group of a key: its hash (fl_key_hash in fl_state.h: this hash and
 * seed) mod max parallelism. */
static inline uint16_t fl_key_group_of_hash(uint64_t khash, int max_parallelism)
{
	return (uint16_t)(khash % (uint64_t)max_parallelism);
}
static inline uint16_t fl_key_group(const void *key, size_t len, int max_parallelism)
{
	return fl_key_group_of_hash(fl_hash64(key, len, 0x5bd1e995u), max_parallelism);
}
/* Subtask owning a key group (Flink's formula): contiguous ranges. */
static inline int fl_key_group_owner(int kg, int max_parallelism, int parallelism)
{
	return (int)((int64_t)kg * parallelism / max_parallelism);
}
/* First and last key group of a subtask. */
void fl_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last);

/* ---- time ------------------------------------------------------------ */

int64_t fl_now_ms(void);  /* wall clock, ms since epoch */
int64_t fl_mono_ns(void); /* monotonic */

/* ---- logging --------------------------------------------------------- */

typedef enum { FL_LOG_DEBUG, FL_LOG_INFO, FL_LOG_WARN, FL_LOG_ERROR } fl_log_level;
/* Thread-safe; one line to stderr with time, level and a component name. */
void fl_log(fl_log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fl_log_set_level(fl_log_level lvl);

/* ---- configuration --------------------------------------------------- */

/* Ordered key/value pairs; later sets win. Values are copied. */
typedef struct fl_conf fl_conf;
fl_conf *fl_conf_create(void);
void fl_conf_destroy(fl_conf *c);
void fl_conf_set(fl_conf *c, const char *key, const char *value);
/* Parse "key=value" (as given to -D); FLINC_EINVAL without '='. */
int fl_conf_set_kv(fl_conf *c, const char *kv);
/* Load a file of "key: value" lines (# comments). On error *msg names the
 * file and line. */
int fl_conf_load(fl_conf *c, const char *path, char *msg, size_t msgcap);
const char *fl_conf_get(const fl_conf *c, const char *key);
size_t fl_conf_count(const fl_conf *c);
void fl_conf_at(const fl_conf *c, size_t i, const char **key, const char **value);
/* Typed reads; *ok set false (and default returned) on a malformed value. */
int64_t fl_conf_i64(const fl_conf *c, const char *key, int64_t def, bool *ok);
/* Durations "500ms", "10s", "2min", "1h"; bare number = ms. */
int64_t fl_conf_duration_ms(const fl_conf *c, const char *key, int64_t def, bool *ok);
/* Sizes "64kb", "32mb", "1gb"; bare number = bytes. */
int64_t fl_conf_size(const fl_conf *c, const char *key, int64_t def, bool *ok);
int fl_parse_duration_ms(const char *s, int64_t *out);
int fl_parse_size(const char *s, int64_t *out);

/* ---- growable byte buffer ------------------------------------------- */

typedef struct fl_strbuf {
	char *data;
	size_t len, cap;
} fl_strbuf;
void fl_sb_append(fl_strbuf *b, const char *s, size_t n);
void fl_sb_printf(fl_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fl_sb_json_str(fl_strbuf *b, const char *s); /* quoted and escaped */
void fl_sb_free(fl_strbuf *b);

/* ---- local files ---------------------------------------------------------- */

/* Remove path and everything under it (symlinks are not followed); a
 * missing path is fine. 0 or -1 with errno. */
int fl_rm_rf(const char *path);
/* mkdir -p: 0, or an errno (ENOTDIR when path exists as something else). */
int fl_mkdir_p(const char *path);
/* A new private folder "<parent>/<prefix>XXXXXX" (parent must exist):
 * malloc'ed path, or NULL with errno. */
char *fl_mkdtemp_in(const char *parent, const char *prefix);
/* Where local working folders go: the config's
 * state.backend.rocksdb.localdir, else $TMPDIR, else /tmp. */
const char *fl_local_base(const fl_conf *conf);
/* fl_mkdtemp_in(fl_local_base(conf), prefix), the base created if missing. */
char *fl_local_tmpdir(const fl_conf *conf, const char *prefix);

#endif
