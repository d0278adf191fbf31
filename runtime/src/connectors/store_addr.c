/*
 * store_addr.c - the `influxdb://` and `postgresql://` output addresses
 * (docs/sinks.md):
 *
 *   influxdb://[USER[:PASS]@]HOST[:PORT]/DB[?measurement=M&tags=K,K&time=K
 *              &batch=N&batch-size=SIZE&linger=DURATION&retries=N
 *              &timeout=DURATION&create=true|false&refused=fail|skip]
 *   postgresql://[USER[:PASS]@]HOST[:PORT]/DB?table=NAME[&id=KEY
 *              &delivery=exactly-once|at-least-once&batch-size=SIZE
 *              &create=true|false&prefix=GID_PREFIX][&LIBPQ_PARAM=VALUE...]
 *
 * Values are percent-decoded. Every problem is refused at build time with
 * one line naming the address (password masked) and what is wrong.
 * Build time only (the plugin's build function's thread).
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_base.h"
#include "stores.h"

#define NAME_MAX_LEN 63    /* PostgreSQL's identifier limit */
#define GID_PREFIX_MAX 150 /* a gid is at most 199 bytes; ours add ":SUBTASK:CHECKPOINT:NONCE" */

static char *env_strndup(flinc_env *e, const char *s, size_t n)
{
	char *d = flinc_env_alloc(e, n + 1);
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into the env's pool; NULL on a bad escape or a
 * decoded control byte. */
static char *decode(flinc_env *e, const char *s, size_t n)
{
	char *d = flinc_env_alloc(e, n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n || (h = hexv(s[i + 1])) < 0 || (l = hexv(s[i + 2])) < 0) return NULL;
			c = (unsigned char)(h * 16 + l);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f) return NULL;
		d[k++] = (char)c;
	}
	d[k] = 0;
	return d;
}

/* The address with the password of USER:PASS@ and of password=... masked. */
static const char *masked(flinc_env *e, const char *address)
{
	size_t n = strlen(address);
	char *d = flinc_env_alloc(e, n + 8);
	const char *auth = strstr(address, "://");
	auth = auth ? auth + 3 : address;
	const char *slash = auth + strcspn(auth, "/?");
	const char *at = NULL;
	for (const char *p = auth; p < slash; p++)
		if (*p == '@') at = p;
	const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	size_t k = 0;
	for (const char *p = address; *p;) {
		if (colon && p == colon + 1) {
			memcpy(d + k, "***", 3);
			k += 3;
			p = at;
			continue;
		}
		d[k++] = *p++;
	}
	d[k] = 0;
	char *pw = strstr(d, "password=");
	if (pw) {
		pw += 9;
		size_t rest = strcspn(pw, "&");
		memmove(pw + 3, pw + rest, strlen(pw + rest) + 1);
		memcpy(pw, "***", 3);
	}
	return d;
}

typedef struct query_opt {
	const char *key, *val; /* decoded */
	const char *raw;       /* "key=value" as given */
	size_t rawlen;
	bool used;
} query_opt;

#define OPTS_MAX 32

/* Split the query (after '?') into options. -1 with a message on error. */
static int split_query(flinc_env *e, const char *disp, const char *what, const char *q, query_opt *o,
		       size_t *n)
{
	*n = 0;
	while (q && *q) {
		size_t len = strcspn(q, "&");
		if (len == 0) {
			q++;
			continue;
		}
		const char *eq = memchr(q, '=', len);
		if (!eq) {
			flinc_env_fail(e, "%s: output %s: option \"%.*s\" has no value (OPTION=VALUE)", what,
				       disp, (int)len, q);
			return -1;
		}
		if (*n == OPTS_MAX) {
			flinc_env_fail(e, "%s: output %s: more than %d options", what, disp, OPTS_MAX);
			return -1;
		}
		query_opt *x = &o[(*n)++];
		x->key = decode(e, q, (size_t)(eq - q));
		x->val = decode(e, eq + 1, len - (size_t)(eq + 1 - q));
		x->raw = q;
		x->rawlen = len;
		x->used = false;
		if (!x->key || !x->val || !*x->key) {
			flinc_env_fail(e, "%s: output %s: option \"%.*s\" is not percent-encoded text", what,
				       disp, (int)len, q);
			return -1;
		}
		for (size_t i = 0; i + 1 < *n; i++)
			if (strcmp(o[i].key, x->key) == 0) {
				flinc_env_fail(e, "%s: output %s: option %s given twice", what, disp, x->key);
				return -1;
			}
		q += len;
	}
	return 0;
}

static const char *take(query_opt *o, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!o[i].used && strcmp(o[i].key, key) == 0) {
			o[i].used = true;
			return o[i].val;
		}
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

static int parse_count(const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	if (*v < '0' || *v > '9') return -1;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end || x < lo || x > hi) return -1;
	*out = x;
	return 0;
}

/* A key of the record (tags, time, id): printable, at most 200 bytes. */
static bool key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 200) return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f) return false;
	return true;
}

/* HOST[:PORT] of [USER[:PASS]@]HOST[:PORT]; host and port point into the
 * env's pool. */
static int split_authority(flinc_env *e, const char *disp, const char *what, const char *s, size_t n,
			   const char **user, const char **pass, const char **host, const char **port)
{
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '@') at = s + i;
	*user = *pass = NULL;
	if (at) {
		const char *colon = memchr(s, ':', (size_t)(at - s));
		const char *uend = colon ? colon : at;
		*user = decode(e, s, (size_t)(uend - s));
		if (colon) *pass = decode(e, colon + 1, (size_t)(at - colon - 1));
		if (!*user || !**user || (colon && !*pass)) {
			flinc_env_fail(e, "%s: output %s: a bad USER[:PASSWORD]@", what, disp);
			return -1;
		}
		n -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	const char *h = s, *pe = NULL;
	size_t hn;
	if (n && *s == '[') {
		const char *close = memchr(s, ']', n);
		if (!close) {
			flinc_env_fail(e, "%s: output %s: an IPv6 address without its ']'", what, disp);
			return -1;
		}
		h = s + 1;
		hn = (size_t)(close - h);
		if (close + 1 < s + n) {
			if (close[1] != ':') {
				flinc_env_fail(e, "%s: output %s: ':' expected after ']'", what, disp);
				return -1;
			}
			pe = close + 2;
		}
	} else {
		const char *colon = memchr(s, ':', n);
		hn = colon ? (size_t)(colon - s) : n;
		if (colon) pe = colon + 1;
	}
	if (hn == 0) {
		flinc_env_fail(e, "%s: output %s: no host", what, disp);
		return -1;
	}
	for (size_t i = 0; i < hn; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == '/' || h[i] == '%') {
			flinc_env_fail(e, "%s: output %s: a bad host name", what, disp);
			return -1;
		}
	*host = env_strndup(e, h, hn);
	if (pe) {
		size_t pn = (size_t)(s + n - pe);
		uint64_t pv;
		char tmp[8];
		if (pn == 0 || pn >= sizeof tmp) goto badport;
		memcpy(tmp, pe, pn);
		tmp[pn] = 0;
		if (parse_count(tmp, 1, 65535, &pv)) goto badport;
		*port = env_strndup(e, pe, pn);
	}
	return 0;
badport:
	flinc_env_fail(e, "%s: output %s: the port is not a number in 1..65535", what, disp);
	return -1;
}

static int unknown_opts(flinc_env *e, const char *disp, const char *what, const query_opt *o, size_t n,
			const char *known)
{
	for (size_t i = 0; i < n; i++)
		if (!o[i].used) {
			flinc_env_fail(e, "%s: output %s: unknown option %s (known: %s)", what, disp,
				       o[i].key, known);
			return -1;
		}
	return 0;
}

const fl_influx_addr *fl_influx_parse(flinc_env *e, const char *address, const char *what)
{
	const char *disp = masked(e, address);
	if (strncmp(address, "influxdb://", 11) != 0) {
		flinc_env_fail(e, "%s: output %s: not an influxdb:// address", what, disp);
		return NULL;
	}
	fl_influx_addr *a = flinc_env_alloc(e, sizeof *a);
	a->display = disp;
	a->port = "8086";
	const char *s = address + 11;
	size_t an = strcspn(s, "/?");
	if (s[an] != '/') {
		flinc_env_fail(e, "%s: output %s: no database (influxdb://HOST:PORT/DB)", what, disp);
		return NULL;
	}
	if (split_authority(e, disp, what, s, an, &a->user, &a->pass, &a->host, &a->port)) return NULL;
	const char *dbs = s + an + 1;
	size_t dn = strcspn(dbs, "?");
	a->db = decode(e, dbs, dn);
	if (!a->db || !*a->db || strchr(a->db, '/') || strlen(a->db) > 200) {
		flinc_env_fail(e, "%s: output %s: no database, or a bad one (influxdb://HOST:PORT/DB)", what,
			       disp);
		return NULL;
	}
	query_opt o[OPTS_MAX];
	size_t no;
	if (split_query(e, disp, what, dbs[dn] == '?' ? dbs + dn + 1 : NULL, o, &no)) return NULL;
	const char *v;
	a->measurement = (v = take(o, no, "measurement")) ? v : what;
	if (!key_ok(a->measurement) || a->measurement[strlen(a->measurement) - 1] == '\\') {
		flinc_env_fail(e, "%s: output %s: a bad measurement name", what, disp);
		return NULL;
	}
	const char *tags = (v = take(o, no, "tags")) ? v : FL_INFLUX_DEFAULT_TAGS;
	size_t cap = 1;
	for (const char *p = tags; *p; p++) cap += *p == ',';
	a->tags = flinc_env_alloc(e, cap * sizeof *a->tags);
	for (const char *p = tags; *p;) {
		size_t tn = strcspn(p, ",");
		if (tn) {
			char *t = env_strndup(e, p, tn);
			if (!key_ok(t)) {
				flinc_env_fail(e, "%s: output %s: a bad tag key \"%s\"", what, disp, t);
				return NULL;
			}
			a->tags[a->ntags++] = t;
		}
		p += tn + (p[tn] == ',');
	}
	a->time_field = (v = take(o, no, "time")) ? v : "timestamp";
	if (!key_ok(a->time_field)) {
		flinc_env_fail(e, "%s: output %s: a bad time key", what, disp);
		return NULL;
	}
	for (size_t i = 0; i < a->ntags; i++)
		if (strcmp(a->tags[i], a->time_field) == 0) {
			flinc_env_fail(e, "%s: output %s: %s is both the time and a tag", what, disp,
				       a->time_field);
			return NULL;
		}
	uint64_t x;
	a->batch_points = 5000;
	if ((v = take(o, no, "batch"))) {
		if (parse_count(v, 1, 1000000, &x)) {
			flinc_env_fail(e, "%s: output %s: batch=%s is not a number of points in 1..1000000",
				       what, disp, v);
			return NULL;
		}
		a->batch_points = (uint32_t)x;
	}
	a->batch_bytes = 4u << 20;
	if ((v = take(o, no, "batch-size"))) {
		int64_t sz;
		if (fl_parse_size(v, &sz) || sz < 1024 || sz > (256 << 20)) {
			flinc_env_fail(e, "%s: output %s: batch-size=%s is not a size in 1kb..256mb", what,
				       disp, v);
			return NULL;
		}
		a->batch_bytes = (uint64_t)sz;
	}
	a->linger_ms = 1000;
	if ((v = take(o, no, "linger"))) {
		if (fl_parse_duration_ms(v, &a->linger_ms) || a->linger_ms < 0 || a->linger_ms > 3600000) {
			flinc_env_fail(e, "%s: output %s: linger=%s is not a duration up to 1h", what, disp,
				       v);
			return NULL;
		}
	}
	a->retries = 3;
	if ((v = take(o, no, "retries"))) {
		if (parse_count(v, 0, 10, &x)) {
			flinc_env_fail(e, "%s: output %s: retries=%s is not a number in 0..10", what, disp,
				       v);
			return NULL;
		}
		a->retries = (uint32_t)x;
	}
	a->timeout_ms = 30000;
	if ((v = take(o, no, "timeout"))) {
		if (fl_parse_duration_ms(v, &a->timeout_ms) || a->timeout_ms < 100 ||
		    a->timeout_ms > 600000) {
			flinc_env_fail(e, "%s: output %s: timeout=%s is not a duration in 100ms..10min", what,
				       disp, v);
			return NULL;
		}
	}
	a->create = true;
	if ((v = take(o, no, "create")) && parse_bool(v, &a->create)) {
		flinc_env_fail(e, "%s: output %s: create=%s is not true or false", what, disp, v);
		return NULL;
	}
	if ((v = take(o, no, "refused"))) {
		if (strcmp(v, "skip") == 0) {
			a->refused_skip = true;
		} else if (strcmp(v, "fail") != 0) {
			flinc_env_fail(e, "%s: output %s: refused=%s is not fail or skip", what, disp, v);
			return NULL;
		}
	}
	if (unknown_opts(
		    e, disp, what, o, no,
		    "measurement, tags, time, batch, batch-size, linger, retries, timeout, create, refused"))
		return NULL;
	return a;
}

static bool table_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN) return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

const fl_pg_addr *fl_pg_parse(flinc_env *e, const char *address, const char *what)
{
	const char *disp = masked(e, address);
	size_t sn = strncmp(address, "postgresql://", 13) == 0 ? 13
		: strncmp(address, "postgres://", 11) == 0     ? 11
							       : 0;
	if (!sn) {
		flinc_env_fail(e, "%s: output %s: not a postgresql:// address", what, disp);
		return NULL;
	}
	fl_pg_addr *a = flinc_env_alloc(e, sizeof *a);
	a->display = disp;
	const char *q = strchr(address, '?');
	query_opt o[OPTS_MAX];
	size_t no;
	if (split_query(e, disp, what, q ? q + 1 : NULL, o, &no)) return NULL;
	const char *v = take(o, no, "table");
	if (!v) {
		flinc_env_fail(e, "%s: output %s: no table (postgresql://HOST:PORT/DB?table=NAME)", what,
			       disp);
		return NULL;
	}
	const char *dot = strchr(v, '.');
	if (dot ? !table_part_ok(v, (size_t)(dot - v)) || !table_part_ok(dot + 1, strlen(dot + 1))
		: !table_part_ok(v, strlen(v))) {
		flinc_env_fail(
			e,
			"%s: output %s: table=%s is not NAME or SCHEMA.NAME (letters, digits, '_'; at most %d "
			"each)",
			what, disp, v, NAME_MAX_LEN);
		return NULL;
	}
	a->table = v;
	a->id_field = (v = take(o, no, "id")) ? v : "alertId";
	if (!key_ok(a->id_field)) {
		flinc_env_fail(e, "%s: output %s: a bad id key", what, disp);
		return NULL;
	}
	a->delivery = FL_PG_EXACTLY_ONCE;
	if ((v = take(o, no, "delivery"))) {
		if (strcmp(v, "exactly-once") == 0) {
			a->delivery = FL_PG_EXACTLY_ONCE;
		} else if (strcmp(v, "at-least-once") == 0) {
			a->delivery = FL_PG_AT_LEAST_ONCE;
		} else {
			flinc_env_fail(e, "%s: output %s: delivery=%s is not exactly-once or at-least-once",
				       what, disp, v);
			return NULL;
		}
	}
	a->batch_bytes = 1u << 20;
	if ((v = take(o, no, "batch-size"))) {
		int64_t sz;
		if (fl_parse_size(v, &sz) || sz < 1024 || sz > (256 << 20)) {
			flinc_env_fail(e, "%s: output %s: batch-size=%s is not a size in 1kb..256mb", what,
				       disp, v);
			return NULL;
		}
		a->batch_bytes = (uint64_t)sz;
	}
	a->create = true;
	if ((v = take(o, no, "create")) && parse_bool(v, &a->create)) {
		flinc_env_fail(e, "%s: output %s: create=%s is not true or false", what, disp, v);
		return NULL;
	}
	if ((v = take(o, no, "prefix"))) {
		a->prefix = v;
	} else {
		size_t pn = strlen("flinc:") + strlen(a->table) + 1 + strlen(what) + 1;
		char *p = flinc_env_alloc(e, pn);
		snprintf(p, pn, "flinc:%s:%s", a->table, what);
		a->prefix = p;
	}
	if (!*a->prefix || strlen(a->prefix) > GID_PREFIX_MAX) {
		flinc_env_fail(
			e, "%s: output %s: the transaction prefix \"%s\" is empty or longer than %d bytes",
			what, disp, a->prefix, GID_PREFIX_MAX);
		return NULL;
	}
	for (const char *p = a->prefix; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == '\'' || (unsigned char)*p >= 0x7f) {
			flinc_env_fail(
				e,
				"%s: output %s: the transaction prefix must be printable ASCII without quotes",
				what, disp);
			return NULL;
		}
	/* The rest is libpq's: the address up to '?' and the options not ours. */
	size_t base = q ? (size_t)(q - address) : strlen(address);
	size_t cap = base + 64;
	for (size_t i = 0; i < no; i++) cap += o[i].rawlen + 1;
	char *ci = flinc_env_alloc(e, cap);
	memcpy(ci, address, base);
	size_t k = base;
	char sep = '?';
	for (size_t i = 0; i < no; i++) {
		if (o[i].used) continue;
		ci[k++] = sep;
		sep = '&';
		memcpy(ci + k, o[i].raw, o[i].rawlen);
		k += o[i].rawlen;
	}
	if (!take(o, no, "connect_timeout"))
		k += (size_t)snprintf(ci + k, cap - k, "%cconnect_timeout=10", sep), sep = '&';
	if (!take(o, no, "application_name"))
		k += (size_t)snprintf(ci + k, cap - k, "%capplication_name=flinc", sep);
	ci[k] = 0;
	a->conninfo = ci;
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(a->conninfo, &err);
	if (!opts) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s", err ? err : "out of memory");
		msg[strcspn(msg, "\n")] = 0;
		PQfreemem(err);
		flinc_env_fail(e, "%s: output %s: %s", what, disp, msg);
		return NULL;
	}
	bool has_db = false;
	for (PQconninfoOption *p = opts; p->keyword; p++)
		if (strcmp(p->keyword, "dbname") == 0 && p->val && *p->val) has_db = true;
	PQconninfoFree(opts);
	if (!has_db) {
		flinc_env_fail(e, "%s: output %s: no database (postgresql://HOST:PORT/DB?table=NAME)", what,
			       disp);
		return NULL;
	}
	return a;
}
