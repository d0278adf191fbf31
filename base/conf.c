/* conf.c - the configuration parser of fl_conf.h. */
#include "fl_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flinc/error.h>

#include "fl_alloc.h"

struct fl_conf {
	char **keys;
	char **vals;
	int *lines; /* the file line a pair was loaded from; 0: set otherwise */
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
	free(c->lines);
	free(c);
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s)) s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
	return s;
}

/* Set key, remembering the file line it came from (0: none). */
static void set_line(fl_conf *c, const char *key, const char *value, int line)
{
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->keys[i], key) == 0) {
			free(c->vals[i]);
			c->vals[i] = fl_strdup(value);
			c->lines[i] = line;
			return;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->keys = fl_realloc(c->keys, c->cap * sizeof(char *));
		c->vals = fl_realloc(c->vals, c->cap * sizeof(char *));
		c->lines = fl_realloc(c->lines, c->cap * sizeof(int));
	}
	c->keys[c->n] = fl_strdup(key);
	c->vals[c->n] = fl_strdup(value);
	c->lines[c->n] = line;
	c->n++;
}

void fl_conf_set(fl_conf *c, const char *key, const char *value) { set_line(c, key, value, 0); }

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
		set_line(c, k, v, lineno);
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

int fl_conf_line(const fl_conf *c, size_t i) { return c && i < c->n ? c->lines[i] : 0; }

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
	while (*end && !isspace((unsigned char)*end) && n < sizeof unit - 1)
		unit[n++] = (char)tolower((unsigned char)*end++);
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
	static const char *const units[] = { "",        "ms",  "milli", "millis", "s",       "sec", "second",
					     "seconds", "min", "m",     "minute", "minutes", "h",   "hour",
					     "hours",   "d",   "day",   "days",   NULL };
	static const int64_t mult[] = { 1,       1,       1,       1,        1000,     1000,
					1000,    1000,    60000,   60000,    60000,    60000,
					3600000, 3600000, 3600000, 86400000, 86400000, 86400000 };
	return parse_unit(s, units, mult, out);
}

int fl_parse_size(const char *s, int64_t *out)
{
	static const char *const units[] = { "",    "b", "bytes", "k",   "kb", "kib", "m",   "mb",
					     "mib", "g", "gb",    "gib", "t",  "tb",  "tib", NULL };
	static const int64_t K = 1024;
	static const int64_t mult[] = { 1,
					1,
					1,
					K,
					K,
					K,
					K * K,
					K * K,
					K * K,
					K * K * K,
					K * K * K,
					K * K * K,
					K * K * K * K,
					K * K * K * K,
					K * K * K * K };
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
