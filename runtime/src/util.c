/* util.c - allocation, arenas, hashing, clocks, logging, configuration. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- errors --------------------------------------------------------- */

FLINC_API const char *flinc_strerror(int err)
{
	switch (err) {
#define FL__ERR_CASE(name, val, msg) \
	case (val): return msg;
		FLINC_ERRORS(FL__ERR_CASE)
#undef FL__ERR_CASE
	default: return "unknown error";
	}
}

/* ---- allocation ------------------------------------------------------ */

static void oom(size_t n)
{
	fprintf(stderr, "flinc: out of memory allocating %zu bytes\n", n);
	abort();
}

void *fl_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) oom(n);
	return p;
}

void *fl_calloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p) oom(n * sz);
	return p;
}

void *fl_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q) oom(n);
	return q;
}

char *fl_strdup(const char *s) { return fl_strndup(s, strlen(s)); }

char *fl_strndup(const char *s, size_t n)
{
	char *d = fl_malloc(n + 1);
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

char *fl_asprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = fl_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

/* ---- arena ----------------------------------------------------------- */

struct fl_arena_chunk {
	struct fl_arena_chunk *next;
	size_t size;
	_Alignas(16) uint8_t data[];
};

void fl_arena_init(flinc_arena *a, size_t chunk_size)
{
	memset(a, 0, sizeof(*a));
	a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

static void *arena_grow(flinc_arena *a, size_t n)
{
	size_t sz = n > a->chunk_size ? n : a->chunk_size;
	struct fl_arena_chunk *c = fl_malloc(sizeof(*c) + sz);
	c->size = sz;
	c->next = a->chunks;
	a->chunks = c;
	a->p = c->data + n;
	a->end = c->data + sz;
	return c->data;
}

FLINC_API void *flinc_arena_alloc(flinc_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (FL_LIKELY((size_t)(a->end - a->p) >= n)) {
		void *r = a->p;
		a->p += n;
		return r;
	}
	return arena_grow(a, n);
}

FLINC_API char *flinc_arena_strndup(flinc_arena *a, const char *s, size_t n)
{
	char *d = flinc_arena_alloc(a, n + 1);
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

/* Keep the largest... simply the oldest chunk (first allocated, at the tail),
 * so a steady state that fits one chunk never mallocs. */
void fl_arena_reset(flinc_arena *a)
{
	struct fl_arena_chunk *c = a->chunks;
	if (!c) return;
	while (c->next) {
		struct fl_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	a->chunks = c;
	a->p = c->data;
	a->end = c->data + c->size;
}

void fl_arena_release(flinc_arena *a, fl_arena_mark m)
{
	if (!m.chunk) {
		fl_arena_reset(a);
		return;
	}
	while (a->chunks && a->chunks != m.chunk) {
		struct fl_arena_chunk *n = a->chunks->next;
		free(a->chunks);
		a->chunks = n;
	}
	a->p = m.p;
	a->end = m.chunk->data + m.chunk->size;
}

void fl_arena_fini(flinc_arena *a)
{
	struct fl_arena_chunk *c = a->chunks;
	while (c) {
		struct fl_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	memset(a, 0, sizeof(*a));
}

/* ---- pool ------------------------------------------------------------ */

struct fl_pool {
	void **items;
	size_t n, cap;
};

fl_pool *fl_pool_create(void) { return fl_calloc(1, sizeof(fl_pool)); }

void *fl_pool_alloc(fl_pool *p, size_t n)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->items = fl_realloc(p->items, p->cap * sizeof(void *));
	}
	void *m = fl_calloc(1, n);
	p->items[p->n++] = m;
	return m;
}

char *fl_pool_strdup(fl_pool *p, const char *s)
{
	size_t n = strlen(s);
	char *d = fl_pool_alloc(p, n + 1);
	memcpy(d, s, n);
	return d;
}

void fl_pool_destroy(fl_pool *p)
{
	if (!p) return;
	for (size_t i = 0; i < p->n; i++) free(p->items[i]);
	free(p->items);
	free(p);
}

/* ---- hashing --------------------------------------------------------- */

uint64_t fl_hash64(const void *key, size_t len, uint64_t seed)
{
	const uint64_t m = 0xc6a4a7935bd1e995ULL;
	const int r = 47;
	uint64_t h = seed ^ (len * m);
	const uint8_t *data = key;
	const uint8_t *end = data + (len / 8) * 8;
	while (data != end) {
		uint64_t k;
		memcpy(&k, data, 8);
		data += 8;
		k *= m;
		k ^= k >> r;
		k *= m;
		h ^= k;
		h *= m;
	}
	switch (len & 7) {
	case 7: h ^= (uint64_t)data[6] << 48; /* fall through */
	case 6: h ^= (uint64_t)data[5] << 40; /* fall through */
	case 5: h ^= (uint64_t)data[4] << 32; /* fall through */
	case 4: h ^= (uint64_t)data[3] << 24; /* fall through */
	case 3: h ^= (uint64_t)data[2] << 16; /* fall through */
	case 2: h ^= (uint64_t)data[1] << 8;  /* fall through */
	case 1: h ^= (uint64_t)data[0]; h *= m;
	}
	h ^= h >> r;
	h *= m;
	h ^= h >> r;
	return h;
}

void fl_key_group_range(int subtask, int parallelism, int max_parallelism, int *first, int *last)
{
	/* Inverse of fl_key_group_owner: the key groups kg with
	 * kg * p / maxp == subtask. */
	*first = (int)(((int64_t)subtask * max_parallelism + parallelism - 1) / parallelism);
	*last = (int)(((int64_t)(subtask + 1) * max_parallelism + parallelism - 1) / parallelism) - 1;
}

/* ---- time ------------------------------------------------------------ */

int64_t fl_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t fl_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- logging --------------------------------------------------------- */

static fl_log_level g_level = FL_LOG_INFO;
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;

void fl_log_set_level(fl_log_level lvl) { g_level = lvl; }

void fl_log(fl_log_level lvl, const char *component, const char *fmt, ...)
{
	static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
	if (lvl < g_level) return;
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	pthread_mutex_lock(&g_log_mu);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: %s\n", tm.tm_year + 1900, tm.tm_mon + 1,
		tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], component, msg);
	pthread_mutex_unlock(&g_log_mu);
}

/* ---- configuration --------------------------------------------------- */

struct fl_conf {
	char **keys;
	char **vals;
	size_t n, cap;
};

fl_conf *fl_conf_create(void) { return fl_calloc(1, sizeof(fl_conf)); }

void fl_conf_destroy(fl_conf *c)
{
	if (!c) return;
	for (size_t i = 0; i < c->n; i++) {
		free(c->keys[i]);
		free(c->vals[i]);
	}
	free(c->keys);
	free(c->vals);
	free(c);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s)) s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
	return s;
}

void fl_conf_set(fl_conf *c, const char *key, const char *value)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->keys[i], key) == 0) {
			free(c->vals[i]);
			c->vals[i] = fl_strdup(value);
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->keys = fl_realloc(c->keys, c->cap * sizeof(char *));
		c->vals = fl_realloc(c->vals, c->cap * sizeof(char *));
	}
	c->keys[c->n] = fl_strdup(key);
	c->vals[c->n] = fl_strdup(value);
	c->n++;
}

int fl_conf_set_kv(fl_conf *c, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv) return FLINC_EINVAL;
	char *k = fl_strndup(kv, (size_t)(eq - kv));
	char *v = fl_strdup(eq + 1);
	fl_conf_set(c, trim(k), trim(v));
	free(k);
	free(v);
	return FLINC_OK;
}

int fl_conf_load(fl_conf *c, const char *path, char *msg, size_t msgcap)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(msg, msgcap, "config %s: %s", path, strerror(errno));
		return FLINC_EIO;
	}
	char line[4096];
	int lineno = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#') continue;
		char *colon = strchr(s, ':');
		if (!colon) {
			snprintf(msg, msgcap, "config %s:%d: expected 'key: value'", path, lineno);
			fclose(f);
			return FLINC_ECONFIG;
		}
		*colon = 0;
		/* An inline comment: '#' after white space ends the value. */
		for (char *h = colon + 1; *h; h++) {
			if (*h == '#' && h > colon + 1 && isspace((unsigned char)h[-1])) {
				*h = 0;
				break;
			}
		}
		char *k = trim(s), *v = trim(colon + 1);
		if (!*k) {
			snprintf(msg, msgcap, "config %s:%d: empty key", path, lineno);
			fclose(f);
			return FLINC_ECONFIG;
		}
		fl_conf_set(c, k, v);
	}
	fclose(f);
	return FLINC_OK;
}

const char *fl_conf_get(const fl_conf *c, const char *key)
{
	if (!c) return NULL;
	for (size_t i = c->n; i-- > 0;)
		if (strcmp(c->keys[i], key) == 0) return c->vals[i];
	return NULL;
}

size_t fl_conf_count(const fl_conf *c) { return c ? c->n : 0; }

void fl_conf_at(const fl_conf *c, size_t i, const char **key, const char **value)
{
	*key = c->keys[i];
	*value = c->vals[i];
}

int64_t fl_conf_i64(const fl_conf *c, const char *key, int64_t def, bool *ok)
{
	const char *v = fl_conf_get(c, key);
	if (!v) return def;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *trim(end)) {
		if (ok) *ok = false;
		return def;
	}
	return x;
}

/* Parse "<number><unit>" with units from a table; returns -1 on error. */
static int parse_unit(const char *s, const char *const *units, const int64_t *mult, int64_t *out)
{
	while (isspace((unsigned char)*s)) s++;
	char *end;
	errno = 0;
	double x = strtod(s, &end);
	if (errno || end == s || x < 0) return FLINC_EINVAL;
	while (isspace((unsigned char)*end)) end++;
	char unit[16];
	size_t n = 0;
	while (*end && !isspace((unsigned char)*end) && n < sizeof unit - 1) unit[n++] = (char)tolower((unsigned char)*end++);
	unit[n] = 0;
	while (isspace((unsigned char)*end)) end++;
	if (*end) return FLINC_EINVAL;
	for (size_t i = 0; units[i]; i++) {
		if (strcmp(unit, units[i]) == 0) {
			*out = (int64_t)(x * (double)mult[i]);
			return FLINC_OK;
		}
	}
	return FLINC_EINVAL;
}

int fl_parse_duration_ms(const char *s, int64_t *out)
{
	static const char *const units[] = {"", "ms", "milli", "millis", "s", "sec", "second", "seconds",
					    "min", "m", "minute", "minutes", "h", "hour", "hours", "d", "day",
					    "days", NULL};
	static const int64_t mult[] = {1, 1, 1, 1, 1000, 1000, 1000, 1000, 60000, 60000, 60000, 60000,
				       3600000, 3600000, 3600000, 86400000, 86400000, 86400000};
	return parse_unit(s, units, mult, out);
}

int fl_parse_size(const char *s, int64_t *out)
{
	static const char *const units[] = {"", "b", "bytes", "k", "kb", "kib", "m", "mb", "mib", "g", "gb",
					    "gib", "t", "tb", "tib", NULL};
	static const int64_t K = 1024;
	static const int64_t mult[] = {1, 1, 1, K, K, K, K * K, K * K, K * K, K * K * K, K * K * K, K * K * K,
				       K * K * K * K, K * K * K * K, K * K * K * K};
	return parse_unit(s, units, mult, out);
}

int64_t fl_conf_duration_ms(const fl_conf *c, const char *key, int64_t def, bool *ok)
{
	const char *v = fl_conf_get(c, key);
	int64_t x;
	if (!v) return def;
	if (fl_parse_duration_ms(v, &x) != FLINC_OK) {
		if (ok) *ok = false;
		return def;
	}
	return x;
}

int64_t fl_conf_size(const fl_conf *c, const char *key, int64_t def, bool *ok)
{
	const char *v = fl_conf_get(c, key);
	int64_t x;
	if (!v) return def;
	if (fl_parse_size(v, &x) != FLINC_OK) {
		if (ok) *ok = false;
		return def;
	}
	return x;
}

/* ---- string buffer --------------------------------------------------- */

void fl_sb_append(fl_strbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1) cap *= 2;
		b->data = fl_realloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
}

void fl_sb_printf(fl_strbuf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < (int)sizeof tmp) {
		fl_sb_append(b, tmp, (size_t)n);
		return;
	}
	char *big = fl_malloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	fl_sb_append(b, big, (size_t)n);
	free(big);
}

void fl_sb_json_str(fl_strbuf *b, const char *s)
{
	fl_sb_append(b, "\"", 1);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		switch (ch) {
		case '"': fl_sb_append(b, "\\\"", 2); break;
		case '\\': fl_sb_append(b, "\\\\", 2); break;
		case '\n': fl_sb_append(b, "\\n", 2); break;
		case '\r': fl_sb_append(b, "\\r", 2); break;
		case '\t': fl_sb_append(b, "\\t", 2); break;
		default:
			if (ch < 0x20) fl_sb_printf(b, "\\u%04x", ch);
			else fl_sb_append(b, (const char *)&ch, 1);
		}
	}
	fl_sb_append(b, "\"", 1);
}

void fl_sb_free(fl_strbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- local files ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int fl_rm_rf(const char *path)
{
	struct stat st;
	if (!path || (lstat(path, &st) < 0 && errno == ENOENT)) return 0;
	return nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int fl_mkdir_p(const char *path)
{
	char *p = fl_strdup(path);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s) continue;
		char c = *s;
		*s = 0;
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			rc = errno;
			break;
		}
		*s = c;
		if (!c) break;
	}
	struct stat st;
	if (!rc && stat(p, &st) != 0) rc = errno;
	else if (!rc && !S_ISDIR(st.st_mode)) rc = ENOTDIR;
	free(p);
	return rc;
}

char *fl_mkdtemp_in(const char *parent, const char *prefix)
{
	char *p = fl_asprintf("%s/%sXXXXXX", parent, prefix);
	if (!mkdtemp(p)) {
		int e = errno;
		free(p);
		errno = e;
		return NULL;
	}
	return p;
}

const char *fl_local_base(const fl_conf *conf)
{
	const char *base = conf ? fl_conf_get(conf, "state.backend.rocksdb.localdir") : NULL;
	if (!base || !*base) base = getenv("TMPDIR");
	if (!base || !*base) base = "/tmp";
	return base;
}

char *fl_local_tmpdir(const fl_conf *conf, const char *prefix)
{
	const char *base = fl_local_base(conf);
	int e = fl_mkdir_p(base);
	if (e) {
		errno = e;
		return NULL;
	}
	return fl_mkdtemp_in(base, prefix);
}
