/*
 * rest.c - the REST API: the route table, request checks and the mapping
 * of error codes to HTTP statuses, on the job manager's own HTTP server
 * (http_server.c: nng streams for the sockets, our parser, our threads).
 *
 * Every request is checked in this order, and the first failure answers:
 *   1. the target: a path that decodes (no %00, no malformed escape) and
 *      strict query parameters (well-formed, none given twice): 400 naming
 *      the parameter;
 *   2. forgery (any method but GET and HEAD): an Origin header, when there
 *      is one, must be this server's own origin ("http://" + Host); and the
 *      request must carry "X-Flinc-Request: 1" or a JSON body
 *      (Content-Type: application/json), which a page of another site
 *      cannot send without the browser asking us first: 403;
 *   3. the bearer token (rest.auth.token) for the same methods: 401;
 *   4. the route: 404 (no pattern matches), 405 with Allow (a pattern
 *      matches, not with this method);
 *   5. the body: JSON bodies are read into memory up to JSON_BODY_MAX,
 *      uploads are streamed to a temporary file of the blob store up to
 *      rest.max-upload-size: 413 beyond.
 *
 * Routing is one table (routes[] below) of {method, pattern, handler}: the
 * first pattern that matches the path's segments ("/jobs/:jid/vertices/:vid",
 * ":name" takes any one segment into route_args) decides; among the routes
 * with that pattern the method picks the handler.
 *
 * Handlers run on the HTTP server's worker threads (rest.server.numThreads),
 * never on nng's. They take jm.mu only to read or change the model, never
 * while loading a plugin or touching the disk, and never call a task
 * manager: calls to task managers go through their workers.
 *
 * Errors are {"errors": ["one line"]} with 400 (bad request), 401
 * (missing token), 403 (a forged or cross-origin request), 404 (unknown
 * path or id), 405 (wrong method), 408 (a request that did not arrive in
 * time), 409 (conflicting state), 413 (a body over its limit), 414/431
 * (a target or header block over its limit), 500, 501, 503 (busy or
 * shutting down) or 507 (the blob store is full).
 * The job manager's functions answer FLINC_E* codes with a message;
 * http_status() below is the one place that turns a code into a status.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fl_runtime.h"
#include "http_parse.h"
#include "http_server.h"
#include "jm.h"
#include "multipart.h"
#include "web.h"

#define JSON_BODY_MAX (1u << 20)   /* run requests and other JSON bodies */
#define UPLOAD_FRAMING (64u << 10) /* multipart framing allowed around the uploaded file */
#define REST_STOP_WAIT_MS 5000     /* shutdown waits this long for handlers in flight */
#define MAX_SEGS 8
#define MAX_PARAMS 16
#define MAX_ARGS 10000
#define JM_WATCHERS_MAX 32 /* live output streams open at once */
/* The content security policy of every answer: scripts, styles, images
 * and connections of this origin only (nothing from the internet), no
 * inline script, no plugins, no framing, forms only to us. */
#define JM_WEB_CSP                                                                                            \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	"font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* The answer a handler builds; finish() sends it. */
typedef struct resp {
	uint16_t status;
	char *body; /* malloc'ed, or NULL */
	size_t len;
	const char *ctype; /* static; NULL: JSON */
	char allow[64];    /* the Allow header of a 405; "" for none */
	bool www_auth;
	bool immutable; /* a web UI asset named after its content: cacheable */
} resp;

/* The path parameters of a route, named as in its pattern; each points
 * into req_ctx.segs (valid while the request is handled) or is NULL. */
typedef struct route_args {
	const char *jid;       /* :jid */
	const char *vid;       /* :vid */
	const char *triggerid; /* :triggerid, a savepoint or disposal request */
	const char *jarid;     /* :jarid */
	const char *tmid;      /* :tmid */
	const char *file;      /* :file, a web UI asset */
} route_args;

struct route;

/* One request as the handlers see it, from its head until it is answered
 * (malloc'ed: a body may arrive on another worker than the head). */
typedef struct req_ctx {
	jm *j;
	jm_http_req *req;
	const char *method;
	bool get;          /* GET or HEAD */
	char *path;        /* as requested (decoded), for messages */
	const char *query; /* raw, after '?', or "" */
	char *segs[MAX_SEGS];
	int nseg;
	jm_http_param params[MAX_PARAMS]; /* the query, decoded into qbuf */
	int nparams;
	char *qbuf;
	fl_strbuf body; /* a JSON body, read whole */
	const uint8_t *bdata;
	size_t blen;
	const struct route *route;
	route_args a;
	resp r;
} req_ctx;

/* ---- responses ------------------------------------------------------------ */

/* Replace the answer: status, a static content type and a malloc'ed body
 * (taken). */
static void set_body(resp *r, uint16_t status, const char *ctype, char *body)
{
	free(r->body);
	r->status = status;
	r->ctype = ctype;
	r->body = body;
	r->len = body ? strlen(body) : 0;
}

/* Answer doc (taken) as one line of JSON; a doc that is NULL or cannot be
 * encoded is a 500. */
static void set_json(resp *r, uint16_t status, json_t *doc)
{
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!s) {
		set_body(r, 500, "application/json; charset=UTF-8",
			 fl_strdup("{\"errors\":[\"Internal server error: cannot encode the answer\"]}"));
		return;
	}
	size_t n = strlen(s);
	char *b = fl_malloc(n + 2);
	memcpy(b, s, n);
	b[n] = '\n';
	b[n + 1] = 0;
	free(s);
	set_body(r, status, "application/json; charset=UTF-8", b);
}

/* Answer {"errors": [message]}; the message is made valid UTF-8 on one
 * line, whatever a client or plugin put into it. */
static void set_error(resp *r, uint16_t status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_error(resp *r, uint16_t status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char *clean = jm_utf8_dup(msg);
	set_json(r, status, json_pack("{s:[s]}", "errors", clean));
	free(clean);
}

/* 404 naming the requested path, and why when given. */
static void not_found(resp *r, const req_ctx *c, const char *why)
{
	if (why)
		set_error(r, 404, "Not found: %.300s (%s)", c->path, why);
	else
		set_error(r, 404, "Not found: %.300s", c->path);
}

/* The HTTP status of a job manager error code (flinc.h). A conflict with
 * the state of a job (FLINC_ESTATE: it ended, it is not RUNNING, it still
 * uses the jar) is 409; any code a request cannot cause is 500. */
static const struct {
	int code;
	uint16_t status;
} code_status[] = {
	{ FLINC_ENOENT, 404 },    /* no such job, jar, vertex or request */
	{ FLINC_EINVAL, 400 },    /* a malformed request or an argument that cannot work */
	{ FLINC_ECONFIG, 400 },   /* a configuration value of the job */
	{ FLINC_ERANGE, 400 },    /* more parallelism or slots than allowed or available */
	{ FLINC_EPLUGIN, 400 },   /* the upload is no loadable job plugin */
	{ FLINC_EGRAPH, 400 },    /* the job's build failed or made an invalid graph */
	{ FLINC_ESTATE, 409 },    /* the job's state does not allow it */
	{ FLINC_ECANCELED, 503 }, /* the job manager is stopping (an inspection was ended) */
};

/* Map a FLINC_E* code (not FLINC_OK) to its HTTP status: the table above,
 * else 500. Any thread. */
static uint16_t http_status(int code)
{
	for (size_t i = 0; i < sizeof code_status / sizeof code_status[0]; i++)
		if (code_status[i].code == code) return code_status[i].status;
	return 500;
}

/* Answer a job manager function's failure: the status of code, err as the
 * message. A 404 with why names the requested path instead of err. */
static void set_failure(resp *r, const req_ctx *c, int code, const char *err, const char *why)
{
	if (code == FLINC_ENOENT && why)
		not_found(r, c, why);
	else
		set_error(r, http_status(code), "%s", err);
}

/* ---- request parsing -------------------------------------------------------- */

/* The value of query parameter key (decoded), or NULL when absent. */
static const char *query_get(const req_ctx *c, const char *key)
{
	for (int i = 0; i < c->nparams; i++)
		if (!strcmp(c->params[i].name, key)) return c->params[i].value;
	return NULL;
}

/* Split the target into decoded path segments and query parameters.
 * false with the answer in c->r: 400 for a path that does not decode (a
 * malformed escape, %00) or a bad query, 404 for a path too deep for any
 * route. */
static bool parse_target(req_ctx *c, const char *uri)
{
	const char *qm = strchr(uri, '?');
	size_t plen = qm ? (size_t)(qm - uri) : strlen(uri);
	c->query = qm ? qm + 1 : "";
	char *decoded = fl_malloc(plen + 1);
	int rc = jm_http_pct_decode(uri, plen, false, decoded, NULL);
	c->path = jm_utf8_dup(rc == 0 ? decoded : "(undecodable path)");
	free(decoded);
	if (rc != 0) {
		set_error(&c->r, 400, "Malformed path: %.300s (%s)", uri,
			  rc == -2 ? "%00 is not allowed" : "a '%' not followed by two hex digits");
		return false;
	}
	size_t i = 0;
	while (i < plen) {
		while (i < plen && uri[i] == '/') i++;
		if (i >= plen) break;
		size_t e = i;
		while (e < plen && uri[e] != '/') e++;
		if (c->nseg == MAX_SEGS) {
			not_found(&c->r, c, NULL);
			return false;
		}
		char *seg = fl_malloc(e - i + 1);
		jm_http_pct_decode(uri + i, e - i, false, seg, NULL); /* the whole path decoded above */
		c->segs[c->nseg++] = seg;
		i = e;
	}
	size_t ql = strlen(c->query);
	c->qbuf = fl_malloc(2 * ql + 2);
	char err[256];
	int n = jm_http_query_parse(c->query, c->qbuf, 2 * ql + 2, c->params, MAX_PARAMS, err, sizeof err);
	if (n < 0) {
		set_error(&c->r, 400, "Malformed query: %s", err);
		return false;
	}
	c->nparams = n;
	return true;
}

/* ---- request bodies ------------------------------------------------------- */

/* Split a command line into arguments: whitespace separates, '...' and
 * "..." quote, a backslash escapes the next character outside '...'.
 * FLINC_OK with *out malloc'ed (and each string in it; the caller frees),
 * or FLINC_EINVAL with the reason in err. */
static int tokenize(const char *s, char ***out, int *n, char *err, size_t errcap)
{
	char **v = NULL;
	int cnt = 0;
	size_t i = 0, len = strlen(s);
	while (i < len) {
		while (i < len && isspace((unsigned char)s[i])) i++;
		if (i >= len) break;
		fl_strbuf b = { 0 };
		fl_sb_append(&b, "", 0);
		char quote = 0;
		for (; i < len; i++) {
			char ch = s[i];
			if (quote) {
				if (ch == quote)
					quote = 0;
				else if (ch == '\\' && quote == '"' && i + 1 < len)
					fl_sb_append(&b, &s[++i], 1);
				else
					fl_sb_append(&b, &ch, 1);
			} else if (ch == '\'' || ch == '"') {
				quote = ch;
			} else if (ch == '\\' && i + 1 < len) {
				fl_sb_append(&b, &s[++i], 1);
			} else if (isspace((unsigned char)ch)) {
				break;
			} else {
				fl_sb_append(&b, &ch, 1);
			}
		}
		if (quote || cnt >= MAX_ARGS) {
			if (quote)
				snprintf(err, errcap, "programArgs: unterminated %c quote", quote);
			else
				snprintf(err, errcap, "programArgs: more than %d arguments", MAX_ARGS);
			fl_sb_free(&b);
			for (int k = 0; k < cnt; k++) free(v[k]);
			free(v);
			return FLINC_EINVAL;
		}
		v = fl_realloc(v, (size_t)(cnt + 1) * sizeof *v);
		v[cnt++] = b.data;
	}
	*out = v;
	*n = cnt;
	return FLINC_OK;
}

/* "an object", "a string"...: how messages name a JSON value's type. */
static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Does a mutating request carry the bearer token (rest.auth.token)? True
 * when no token is configured. The comparison takes the same time however
 * much of the token matches. */
static bool authorized(const req_ctx *c)
{
	const char *tok = c->j->o.auth_token;
	if (!tok || !*tok) return true;
	const char *h = jm_http_req_header(c->req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
	h += 7;
	while (*h == ' ') h++;
	size_t a = strlen(h), b = strlen(tok);
	/* Compare every byte, whatever matches first. */
	unsigned diff = (unsigned)(a ^ b);
	for (size_t i = 0; i < a; i++) diff |= (unsigned char)h[i] ^ (unsigned char)tok[i % b];
	return diff == 0;
}

/* GET / when the web UI was not built (no npm at build time): one line. */
static const char not_built_html[] =
	"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>flinc</title></head><body>"
	"The flinc web UI was not built (npm was missing at build time, or web.dir has no index.html); "
	"the REST API works: <a href=\"/overview\">/overview</a>.</body></html>\n";

/* ---- handlers: documents ------------------------------------------------ */

/* Every handler answers one route; a is its path parameters. They run on
 * nng's threads and fill r; errors go into r like any answer. */

/* GET /: the web UI's page, or one line saying it was not built. */
static void h_index(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	char *body;
	size_t len;
	const char *ctype;
	int rc = jm_web_read(c->j->web, "index.html", &body, &len, &ctype);
	if (rc != FLINC_OK) {
		set_body(r, 200, "text/html; charset=UTF-8", fl_strdup(not_built_html));
		return;
	}
	set_body(r, 200, ctype, body);
	r->len = len;
}

/* GET /web/:file: a built file of the web UI (web.h: one flat folder,
 * names checked, no links followed); 404 for anything else. */
static void h_web_file(req_ctx *c, resp *r, const route_args *a)
{
	char *body;
	size_t len;
	const char *ctype;
	int rc = jm_web_read(c->j->web, a->file, &body, &len, &ctype);
	if (rc != FLINC_OK) {
		not_found(r, c, c->j->web ? "not a file of the web UI" : "the web UI was not built");
		return;
	}
	set_body(r, 200, ctype, body);
	r->len = len;
	r->immutable = true; /* the names carry a hash of the content */
}

/* Answer a view of the whole model, built under jm.mu. */
static void model_view(req_ctx *c, resp *r, json_t *(*view)(jm *j))
{
	pthread_mutex_lock(&c->j->mu);
	json_t *d = view(c->j);
	pthread_mutex_unlock(&c->j->mu);
	set_json(r, 200, d);
}

/* GET /overview */
static void h_overview(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_overview_locked);
}

/* GET /config (the web UI's settings; no lock: read-only after start) */
static void h_config(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	set_json(r, 200, jm_view_dashboard_config(c->j));
}

/* GET /jobmanager/config: the effective configuration, secrets hidden */
static void h_cluster_config(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	set_json(r, 200, jm_view_cluster_config(c->j));
}

static void rest_metrics(jm *j, fl_strbuf *b);

/* GET /metrics: Prometheus text */
static void h_metrics(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	pthread_mutex_lock(&c->j->mu);
	char *text = jm_view_metrics_locked(c->j);
	pthread_mutex_unlock(&c->j->mu);
	fl_strbuf b = { .data = text, .len = text ? strlen(text) : 0, .cap = text ? strlen(text) + 1 : 0 };
	rest_metrics(c->j, &b);
	set_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data);
}

/* GET /jobs */
static void h_jobs(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_jobs_locked);
}

/* A query parameter that must be a whole number from 0 to max: def when
 * absent; false with a 400 naming it otherwise. */
static bool query_count(const req_ctx *c, resp *r, const char *key, size_t def, size_t max, size_t *out)
{
	const char *v = query_get(c, key);
	*out = def;
	if (!v) return true;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (!*v || *end || errno || !isdigit((unsigned char)v[0]) || n > max) {
		set_error(r, 400, "query parameter '%s': '%.50s' is not a number from 0 to %zu", key, v, max);
		return false;
	}
	*out = (size_t)n;
	return true;
}

/* GET /jobs/overview: Flink's list of every job; flinc adds a page of it
 * (state=running|completed, offset, limit; then "total" too). */
static void h_jobs_overview(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	const char *state = query_get(c, "state");
	int which = 0;
	if (state && !strcmp(state, "running"))
		which = 1;
	else if (state && !strcmp(state, "completed"))
		which = 2;
	else if (state && strcmp(state, "all") != 0) {
		set_error(r, 400, "query parameter 'state': '%.50s' is not running, completed or all", state);
		return;
	}
	size_t offset, limit;
	if (!query_count(c, r, "offset", 0, SIZE_MAX / 2, &offset) ||
	    !query_count(c, r, "limit", SIZE_MAX / 2, SIZE_MAX / 2, &limit))
		return;
	if (!state && !query_get(c, "offset") && !query_get(c, "limit")) {
		model_view(c, r, jm_view_jobs_overview_locked);
		return;
	}
	pthread_mutex_lock(&c->j->mu);
	json_t *d = jm_view_jobs_page_locked(c->j, which, offset, limit);
	pthread_mutex_unlock(&c->j->mu);
	set_json(r, 200, d);
}

/* GET /ui/overview: the web UI's overview page in one document (the
 * cluster, task managers, job counts by state, running jobs, throughput). */
static void h_ui_overview(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_dashboard_locked);
}

/* GET /taskmanagers */
static void h_taskmanagers(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_taskmanagers_locked);
}

/* GET /jobmanager/log: the job manager's latest log lines (text; query
 * `lines`, at most FL_LOG_KEEP, default all it keeps), as Flink's
 * /jobmanager/log serves its log file. */
static void h_jm_log(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	size_t lines;
	if (!query_count(c, r, "lines", FL_LOG_KEEP, FL_LOG_KEEP, &lines)) return;
	fl_strbuf b = { 0 };
	fl_log_recent(0, lines, &b);
	set_body(r, 200, "text/plain; charset=utf-8", b.data);
}

/* The latest lines of one stream a connected task manager sent with its
 * heartbeats (text; query `lines`), else 404. */
static void tm_lines(req_ctx *c, resp *r, const route_args *a, bool out)
{
	size_t lines;
	if (!query_count(c, r, "lines", JM_TM_LOG_KEEP, JM_TM_LOG_KEEP, &lines)) return;
	jm *j = c->j;
	fl_strbuf b = { 0 };
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = jm_tm_find_locked(j, a->tmid);
	bool known = tm && tm->connected;
	if (known) jm_lines_text(out ? &tm->out : &tm->log, lines, &b);
	pthread_mutex_unlock(&j->mu);
	if (known)
		set_body(r, 200, "text/plain; charset=utf-8", b.data);
	else
		not_found(r, c, "no task manager with this id");
}

/* GET /taskmanagers/:tmid/log: its log lines. */
static void h_tm_log(req_ctx *c, resp *r, const route_args *a) { tm_lines(c, r, a, false); }

/* GET /taskmanagers/:tmid/stdout: what it printed, when its stdout is a
 * regular file (Flink's .out; "stdoutFile" in /taskmanagers/:tmid). */
static void h_tm_stdout(req_ctx *c, resp *r, const route_args *a) { tm_lines(c, r, a, true); }

/* GET /taskmanagers/:tmid: a connected task manager, else 404. */
static void h_taskmanager(req_ctx *c, resp *r, const route_args *a)
{
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	jm_tm *tm = jm_tm_find_locked(j, a->tmid);
	json_t *d = tm && tm->connected ? jm_view_taskmanager_locked(j, tm) : NULL;
	pthread_mutex_unlock(&j->mu);
	if (d)
		set_json(r, 200, d);
	else
		not_found(r, c, "no task manager with this id");
}

/* A view of one job (and one of its vertices when v is given), built
 * under jm.mu. */
typedef json_t *(*job_view_fn)(jm *j, jm_job *job, jm_vertex *v);

/* Answer view of job :jid (and vertex :vid when the route has one): 404
 * for an unknown job or vertex. */
static void job_view(req_ctx *c, resp *r, const route_args *a, job_view_fn view)
{
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	jm_job *job = jm_job_find_locked(j, a->jid);
	jm_vertex *v = job && a->vid ? jm_vertex_find(job, a->vid) : NULL;
	json_t *doc = job && (v || !a->vid) ? view(j, job, v) : NULL;
	pthread_mutex_unlock(&j->mu);
	if (!job)
		not_found(r, c, "no job with this id");
	else if (a->vid && !v)
		not_found(r, c, "no vertex with this id in the job");
	else
		set_json(r, 200, doc);
}

/* The job views, in job_view's shape: GET /jobs/:jid. */
static json_t *view_job(jm *j, jm_job *job, jm_vertex *v)
{
	(void)v;
	return jm_view_job_locked(j, job);
}

/* GET /jobs/:jid/exceptions: the root cause and the history. */
static json_t *view_exceptions(jm *j, jm_job *job, jm_vertex *v)
{
	(void)v;
	return jm_view_exceptions_locked(j, job);
}

/* GET /jobs/:jid/plan: {"plan": ...}; NULL (a 500) if the plan is lost. */
static json_t *view_plan(jm *j, jm_job *job, jm_vertex *v)
{
	(void)j, (void)v;
	return job->plan_json ? json_pack("{s:o}", "plan", json_loads(job->plan_json, 0, NULL)) : NULL;
}

/* GET /jobs/:jid/checkpoints: counts, latest, history. */
static json_t *view_checkpoints(jm *j, jm_job *job, jm_vertex *v)
{
	(void)v;
	return jm_view_checkpoints_locked(j, job);
}

/* GET /jobs/:jid/vertices/:vid: the vertex and its subtasks. */
static json_t *view_vertex(jm *j, jm_job *job, jm_vertex *v) { return jm_view_vertex_locked(j, job, v); }

/* GET /jobs/:jid/vertices/:vid/backpressure: levels per subtask. */
static json_t *view_backpressure(jm *j, jm_job *job, jm_vertex *v)
{
	return jm_view_backpressure_locked(j, job, v);
}

/* Flink's watermark metric list: [{"id": "<i>.currentInputWatermark",
 * "value": "<ms>"}] per subtask. */
static json_t *view_watermarks(jm *j, jm_job *job, jm_vertex *v)
{
	(void)j, (void)job;
	json_t *doc = json_array();
	for (int i = 0; i < v->parallelism; i++) {
		char id[64], val[32];
		snprintf(id, sizeof id, "%d.currentInputWatermark", i);
		snprintf(val, sizeof val, "%lld", (long long)v->sub[i].m.watermark);
		json_array_append_new(doc, json_pack("{s:s, s:s}", "id", id, "value", val));
	}
	return doc;
}

/* GET /jobs/:jid/config: the job's execution config and configuration. */
static json_t *view_job_config(jm *j, jm_job *job, jm_vertex *v)
{
	(void)v;
	return jm_view_job_config_locked(j, job);
}

static void h_job_config(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_job_config); }

/* GET /jobs/:jid/checkpoints/config: 404 when the job does not checkpoint
 * (as Flink: "Checkpointing is not enabled"). */
static void h_checkpoint_config(req_ctx *c, resp *r, const route_args *a)
{
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	jm_job *job = jm_job_find_locked(j, a->jid);
	json_t *doc = job ? jm_view_checkpoint_config_locked(j, job) : NULL;
	pthread_mutex_unlock(&j->mu);
	if (!job)
		not_found(r, c, "no job with this id");
	else if (!doc)
		not_found(r, c, "checkpointing is not enabled for this job: no state.checkpoints.dir");
	else
		set_json(r, 200, doc);
}

/* GET /jobs/:jid/vertices/:vid/subtasks/metrics?get=a,b&agg=min,max */
static void h_subtask_metrics(req_ctx *c, resp *r, const route_args *a)
{
	const char *agg = query_get(c, "agg");
	if (agg) {
		for (const char *p = agg; *p;) {
			size_t k = strcspn(p, ",");
			if (!((k == 3 &&
			       (!strncmp(p, "min", 3) || !strncmp(p, "max", 3) || !strncmp(p, "avg", 3) ||
				!strncmp(p, "sum", 3))))) {
				set_error(
					r, 400,
					"query parameter 'agg': '%.50s' is not a list of min, max, avg, sum",
					agg);
				return;
			}
			p += k + (p[k] == ',');
		}
	}
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	jm_job *job = jm_job_find_locked(j, a->jid);
	jm_vertex *v = job ? jm_vertex_find(job, a->vid) : NULL;
	json_t *doc = v ? jm_view_subtask_metrics_locked(j, job, v, query_get(c, "get"), agg) : NULL;
	pthread_mutex_unlock(&j->mu);
	if (!job)
		not_found(r, c, "no job with this id");
	else if (!v)
		not_found(r, c, "no vertex with this id in the job");
	else
		set_json(r, 200, doc);
}

/* GET /ui/jobs/:jid: the web UI's job page in one document: the job (its
 * vertices, subtasks and live figures), checkpoints, exceptions and both
 * configurations, so the page makes one request per refresh whatever the
 * number of vertices. */
static json_t *view_ui_job(jm *j, jm_job *job, jm_vertex *v)
{
	(void)v;
	json_t *cc = jm_view_checkpoint_config_locked(j, job);
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "job", jm_view_job_locked(j, job), "checkpoints",
			 jm_view_checkpoints_locked(j, job), "exceptions", jm_view_exceptions_locked(j, job),
			 "config", jm_view_job_config_locked(j, job), "checkpoint-config",
			 cc ? cc : json_null());
}

static void h_ui_job(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_ui_job); }

/* GET /jobs/:jid */
static void h_job(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_job); }

/* GET /jobs/:jid/exceptions */
static void h_job_exceptions(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_exceptions); }

/* GET /jobs/:jid/plan */
static void h_job_plan(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_plan); }

/* GET /jobs/:jid/checkpoints */
static void h_job_checkpoints(req_ctx *c, resp *r, const route_args *a)
{
	job_view(c, r, a, view_checkpoints);
}

/* GET /jobs/:jid/vertices/:vid */
static void h_vertex(req_ctx *c, resp *r, const route_args *a) { job_view(c, r, a, view_vertex); }

/* GET /jobs/:jid/vertices/:vid/backpressure */
static void h_vertex_backpressure(req_ctx *c, resp *r, const route_args *a)
{
	job_view(c, r, a, view_backpressure);
}

/* GET /jobs/:jid/vertices/:vid/watermarks */
static void h_vertex_watermarks(req_ctx *c, resp *r, const route_args *a)
{
	job_view(c, r, a, view_watermarks);
}

/* GET /jobs/:jid/savepoints/:triggerid: the savepoint (or stop) request of
 * that job, else 404. */
static void h_savepoint_status(req_ctx *c, resp *r, const route_args *a)
{
	json_t *d = jm_operation_view(c->j, a->jid, a->triggerid);
	if (d)
		set_json(r, 200, d);
	else
		not_found(r, c, "no savepoint request with this id for this job");
}

/* GET /savepoint-disposal/:triggerid */
static void h_dispose_status(req_ctx *c, resp *r, const route_args *a)
{
	json_t *d = jm_operation_view(c->j, NULL, a->triggerid);
	if (d)
		set_json(r, 200, d);
	else
		not_found(r, c, "no savepoint disposal with this id");
}

/* GET /jars: the uploaded plugins, newest first. */
static void h_jars(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	jm *j = c->j;
	char *addr = fl_asprintf("http://%s:%d", j->o.rest_address, j->o.rest_port);
	set_json(r, 200, json_pack("{s:s, s:o}", "address", addr, "files", jm_blob_list(j)));
	free(addr);
}

/* ---- handlers: actions ------------------------------------------------------ */

/* PATCH /jobs/:jid[?mode=cancel]: 202 {} once the cancel is asked. */
static void h_cancel(req_ctx *c, resp *r, const route_args *a)
{
	const char *mode = query_get(c, "mode");
	if (mode && strcmp(mode, "cancel") != 0) {
		if (!strcmp(mode, "stop"))
			set_error(
				r, 400,
				"mode=stop is not supported here: stop with a savepoint is POST /jobs/:jid/stop");
		else
			set_error(
				r, 400,
				"query parameter 'mode': unknown mode '%.100s' (PATCH /jobs/:jid takes mode=cancel)",
				mode);
		return;
	}
	char err[512];
	int rc = jm_job_cancel(c->j, a->jid, err, sizeof err);
	if (rc == FLINC_OK) {
		fl_log(FL_LOG_INFO, JM_COMPONENT, "cancel of job %s requested", a->jid);
		set_json(r, 202, json_object());
	} else {
		set_failure(r, c, rc, err, NULL);
	}
}

/* Keep a stored upload only if it inspects as a job plugin, in a helper
 * process (fl_inspect_run: the plugin never runs in the job manager): 200
 * with its blob path, else 400 naming the upload (not our blob path) and
 * the blob goes. The plugin is also built without arguments, as submit
 * would with none: a build that crashes, hangs or runs out of memory
 * refuses the upload; one that only refuses the missing arguments (most
 * jobs need some) does not: its arguments come with the run. */
static void upload_inspect(jm *j, resp *r, const jm_part *part, const char *id, const char *path)
{
	/* The client's file name, made printable: it goes into messages and the log. */
	char *shown =
		jm_utf8_dup(part->filename && *part->filename ? part->filename : jm_blob_display_name(id));
	fl_inspect_opts o;
	jm_inspect_opts(j, &o);
	char diag[512], lerr[1024];
	fl_conf *conf = jm_job_conf_new(j, NULL);
	o.build = true;
	o.conf = conf;
	o.parallelism = j->o.default_parallelism;
	o.display = shown;
	o.diag = diag;
	o.diagcap = sizeof diag;
	char *argv[] = { (char *)jm_blob_display_name(id), NULL };
	fl_inspection *in = NULL;
	int rc = fl_inspect_run(&o, path, 1, argv, &in, lerr, sizeof lerr);
	if (rc == FLINC_OK || rc == FLINC_EGRAPH) {
		char *jobname = jm_utf8_dup(in->job                   ? in->job->name
						    : in->plugin_name ? in->plugin_name
								      : "?");
		fl_log(FL_LOG_INFO, JM_COMPONENT,
		       "uploaded %.200s (%zu bytes, job '%.200s'%s) as jar %s (inspected in %lld ms)", shown,
		       part->len, jobname, in->job ? "" : ", needs arguments", id, (long long)in->elapsed_ms);
		free(jobname);
		set_json(r, 200, json_pack("{s:s, s:s}", "filename", path, "status", "success"));
	} else {
		static fl_log_limit lim = FL_LOG_LIMIT_INIT(20, 10000);
		jm_blob_remove(j, id);
		set_error(r, http_status(rc == FLINC_EIO ? FLINC_EIO : FLINC_EPLUGIN), "%s", lerr);
		fl_log_limited(&lim, FL_LOG_WARN, JM_COMPONENT, "upload refused: %s%s%.400s", lerr,
			       *diag ? "; its output: " : "", diag);
	}
	fl_inspection_free(in);
	fl_conf_destroy(conf);
	free(shown);
}

/* DELETE /jars/:jarid: 200 {} */
static void h_jar_delete(req_ctx *c, resp *r, const route_args *a)
{
	char err[512];
	int rc = jm_jar_delete(c->j, a->jarid, err, sizeof err);
	if (rc == FLINC_OK)
		set_json(r, 200, json_object());
	else
		set_failure(r, c, rc, err, "no such jar");
}

/* POST /jobs/:jid/savepoints {"target-directory", "cancel-job"} and
 * POST /jobs/:jid/stop {"targetDirectory", "drain"}: 202 {"request-id"}. */
static void savepoint_request(req_ctx *c, resp *r, const char *jid, bool stop)
{
	json_t *body = NULL;
	if (c->blen) {
		json_error_t je;
		body = json_loadb((const char *)c->bdata, c->blen, 0, &je);
		if (!body || !json_is_object(body)) {
			set_error(r, 400, "the body must be a JSON object%s%s", body ? "" : ": ",
				  body ? "" : je.text);
			json_decref(body);
			return;
		}
	}
	const char *key = stop ? "targetDirectory" : "target-directory";
	json_t *td = body ? json_object_get(body, key) : NULL;
	if (td && !json_is_null(td) && !json_is_string(td)) {
		set_error(r, 400, "%s must be a string, not %s", key, json_type_name(td));
		json_decref(body);
		return;
	}
	json_t *cj = body ? json_object_get(body, stop ? "drain" : "cancel-job") : NULL;
	if (cj && !json_is_null(cj) && !json_is_boolean(cj)) {
		set_error(r, 400, "%s must be a boolean, not %s", stop ? "drain" : "cancel-job",
			  json_type_name(cj));
		json_decref(body);
		return;
	}
	bool cancel = !stop && cj && json_is_true(cj);
	char reqid[JM_JID_LEN + 1], err[768];
	int rc = jm_savepoint_trigger(c->j, jid, td && json_is_string(td) ? json_string_value(td) : NULL,
				      stop || cancel, reqid, err, sizeof err);
	json_decref(body);
	if (rc == FLINC_OK)
		set_json(r, 202, json_pack("{s:s}", "request-id", reqid));
	else
		set_failure(r, c, rc, err, "no job with this id");
}

/* POST /jobs/:jid/savepoints */
static void h_savepoint(req_ctx *c, resp *r, const route_args *a) { savepoint_request(c, r, a->jid, false); }

/* POST /jobs/:jid/stop: a savepoint, then the job ends FINISHED. */
static void h_stop(req_ctx *c, resp *r, const route_args *a) { savepoint_request(c, r, a->jid, true); }

/* POST /savepoint-disposal {"savepoint-path"}: 202 {"request-id"}. */
static void h_dispose(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	json_error_t je;
	json_t *body = c->blen ? json_loadb((const char *)c->bdata, c->blen, 0, &je) : NULL;
	json_t *p = body ? json_object_get(body, "savepoint-path") : NULL;
	if (!p || !json_is_string(p) || !*json_string_value(p)) {
		set_error(r, 400, "the body must be {\"savepoint-path\": \"...\"}");
		json_decref(body);
		return;
	}
	char reqid[JM_JID_LEN + 1], err[256];
	int rc = jm_savepoint_dispose(c->j, json_string_value(p), reqid, err, sizeof err);
	json_decref(body);
	if (rc == FLINC_OK)
		set_json(r, 202, json_pack("{s:s}", "request-id", reqid));
	else
		set_failure(r, c, rc, err, NULL);
}

/* ---- POST /jars/:jarid/run ------------------------------------------------------ */

/* A run request's body turned into a submission; run_free releases it. */
typedef struct run_req {
	json_t *body;
	char **args; /* malloc'ed strings */
	int nargs;
	fl_conf *conf; /* flinkConfiguration, or NULL */
	jm_submit s;   /* points into the above */
} run_req;

/* Free what a run request holds; a zeroed one is fine. */
static void run_free(run_req *q)
{
	for (int i = 0; i < q->nargs; i++) free(q->args[i]);
	free(q->args);
	fl_conf_destroy(q->conf);
	json_decref(q->body);
}

/* The body as a JSON object (none is {}); false when r holds the
 * refusal. */
static bool run_body(const req_ctx *c, resp *r, run_req *q)
{
	if (c->blen == 0) {
		q->body = json_object();
		return true;
	}
	json_error_t je;
	q->body = json_loadb((const char *)c->bdata, c->blen, 0, &je);
	if (!q->body) {
		set_error(r, 400, "malformed JSON in the request body: %s (line %d, column %d)", je.text,
			  je.line, je.column);
		return false;
	}
	if (!json_is_object(q->body)) {
		set_error(r, 400, "the request body must be a JSON object, not %s", json_type_name(q->body));
		return false;
	}
	return true;
}

/* programArgsList (an array of strings) into q->args. */
static bool run_args_list(resp *r, const json_t *pl, run_req *q)
{
	if (!json_is_array(pl)) {
		set_error(r, 400, "programArgsList must be an array of strings, not %s", json_type_name(pl));
		return false;
	}
	if (json_array_size(pl) > MAX_ARGS) {
		set_error(r, 400, "programArgsList: more than %d arguments", MAX_ARGS);
		return false;
	}
	q->args = fl_calloc(json_array_size(pl) + 1, sizeof *q->args);
	size_t i;
	json_t *a;
	json_array_foreach(pl, i, a)
	{
		if (!json_is_string(a)) {
			set_error(r, 400, "programArgsList[%zu] must be a string, not %s", i,
				  json_type_name(a));
			return false;
		}
		q->args[q->nargs++] = fl_strdup(json_string_value(a));
	}
	return true;
}

/* The job's arguments: programArgs (one command line) or programArgsList,
 * not both; none is fine. */
static bool run_args(resp *r, run_req *q)
{
	json_t *pa = json_object_get(q->body, "programArgs");
	json_t *pl = json_object_get(q->body, "programArgsList");
	if (pa && !json_is_null(pa) && pl && !json_is_null(pl)) {
		set_error(r, 400, "give programArgs or programArgsList, not both");
		return false;
	}
	if (pl && !json_is_null(pl)) return run_args_list(r, pl, q);
	if (!pa || json_is_null(pa)) return true;
	if (!json_is_string(pa)) {
		set_error(r, 400, "programArgs must be a string, not %s", json_type_name(pa));
		return false;
	}
	char err[2048];
	if (tokenize(json_string_value(pa), &q->args, &q->nargs, err, sizeof err) != FLINC_OK) {
		set_error(r, 400, "%s", err);
		return false;
	}
	return true;
}

/* parallelism (1..32768; none: the job's parallelism.default). */
static bool run_parallelism(resp *r, run_req *q)
{
	json_t *par = json_object_get(q->body, "parallelism");
	if (!par || json_is_null(par)) return true;
	if (!json_is_integer(par) || json_integer_value(par) < 1 || json_integer_value(par) > 32768) {
		if (json_is_integer(par))
			set_error(r, 400, "parallelism must be an integer from 1 to 32768 (got %lld)",
				  (long long)json_integer_value(par));
		else
			set_error(r, 400, "parallelism must be an integer from 1 to 32768, not %s",
				  json_type_name(par));
		return false;
	}
	q->s.parallelism = (int)json_integer_value(par);
	return true;
}

/* savepointPath (a string; "" is none) and allowNonRestoredState. */
static bool run_savepoint(resp *r, run_req *q)
{
	json_t *sp = json_object_get(q->body, "savepointPath");
	if (sp && !json_is_null(sp)) {
		if (!json_is_string(sp)) {
			set_error(r, 400, "savepointPath must be a string, not %s", json_type_name(sp));
			return false;
		}
		if (*json_string_value(sp)) q->s.savepoint = json_string_value(sp);
	}
	json_t *anr = json_object_get(q->body, "allowNonRestoredState");
	if (anr && !json_is_null(anr) && !json_is_boolean(anr)) {
		set_error(r, 400, "allowNonRestoredState must be a boolean, not %s", json_type_name(anr));
		return false;
	}
	q->s.allow_non_restored = anr && json_is_true(anr);
	return true;
}

/* flinkConfiguration {"key": string, number or boolean} into q->conf. */
static bool run_conf(resp *r, run_req *q)
{
	json_t *fc = json_object_get(q->body, "flinkConfiguration");
	if (!fc || json_is_null(fc)) return true;
	if (!json_is_object(fc)) {
		set_error(r, 400, "flinkConfiguration must be an object of \"key\": \"value\", not %s",
			  json_type_name(fc));
		return false;
	}
	q->conf = fl_conf_create();
	const char *k;
	json_t *v;
	json_object_foreach(fc, k, v)
	{
		char num[64];
		const char *val = NULL;
		if (json_is_string(v))
			val = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), val = num;
		else if (json_is_real(v))
			snprintf(num, sizeof num, "%g", json_real_value(v)), val = num;
		else if (json_is_boolean(v))
			val = json_is_true(v) ? "true" : "false";
		if (!val || !*k) {
			set_error(r, 400,
				  "flinkConfiguration.%.100s must be a string, number or boolean, not %s", k,
				  json_type_name(v));
			return false;
		}
		fl_conf_set(q->conf, k, val);
	}
	return true;
}

/* POST /jars/:jarid/run {programArgs | programArgsList, parallelism,
 * savepointPath, allowNonRestoredState, flinkConfiguration}: 200
 * {"jobid"}. The body is checked field by field in that order, so the
 * first problem is the one named. */
static void h_run(req_ctx *c, resp *r, const route_args *a)
{
	if (!jm_blob_id_valid(a->jarid)) {
		not_found(r, c, "no such jar");
		return;
	}
	run_req q = { 0 };
	if (run_body(c, r, &q) && run_args(r, &q) && run_parallelism(r, &q) && run_savepoint(r, &q) &&
	    run_conf(r, &q)) {
		q.s.jar_id = a->jarid;
		q.s.args = q.args;
		q.s.nargs = q.nargs;
		q.s.job_conf = q.conf;
		char jid[JM_JID_LEN + 1], err[2048];
		int rc = jm_job_submit(c->j, &q.s, jid, err, sizeof err);
		if (rc == FLINC_OK)
			set_json(r, 200, json_pack("{s:s}", "jobid", jid));
		else
			set_failure(r, c, rc, err, "no such jar");
	}
	run_free(&q);
}

/* ---- routing ------------------------------------------------------------------- */

static void upload_begin(req_ctx *c);
static void output_begin(req_ctx *c);

typedef void (*route_fn)(req_ctx *c, resp *r, const route_args *a);

/* One route. Routes that share a pattern are alternatives by method. */
typedef struct route {
	const char *method;        /* "GET" takes HEAD as well */
	const char *pattern;       /* segments after '/', ":name" for a parameter; "/" is the root */
	route_fn fn;               /* called with the body read whole (up to JSON_BODY_MAX) */
	const char *use;           /* how a 405 suggests this method; NULL: its name */
	void (*begin)(req_ctx *c); /* instead of fn: takes the body as a stream and answers */
} route;

/* Every route, literal patterns before the parameters they shadow
 * ("/jobs/overview" before "/jobs/:jid"): the first pattern that matches
 * wins. */
static const route routes[] = {
	{ "GET", "/", h_index, NULL, NULL },
	{ "GET", "/web/:file", h_web_file, NULL, NULL },
	{ "GET", "/overview", h_overview, NULL, NULL },
	{ "GET", "/ui/overview", h_ui_overview, NULL, NULL },
	{ "GET", "/ui/jobs/:jid", h_ui_job, NULL, NULL },
	{ "GET", "/config", h_config, NULL, NULL },
	{ "GET", "/jobmanager/config", h_cluster_config, NULL, NULL },
	{ "GET", "/jobmanager/log", h_jm_log, NULL, NULL },
	{ "GET", "/metrics", h_metrics, NULL, NULL },
	{ "GET", "/jobs", h_jobs, NULL, NULL },
	{ "GET", "/jobs/overview", h_jobs_overview, NULL, NULL },
	{ "GET", "/jobs/:jid", h_job, NULL, NULL },
	{ "PATCH", "/jobs/:jid", h_cancel, "PATCH to cancel", NULL },
	{ "GET", "/jobs/:jid/exceptions", h_job_exceptions, NULL, NULL },
	{ "GET", "/jobs/:jid/plan", h_job_plan, NULL, NULL },
	{ "GET", "/jobs/:jid/output", NULL, NULL, output_begin },
	{ "GET", "/jobs/:jid/config", h_job_config, NULL, NULL },
	{ "GET", "/jobs/:jid/checkpoints", h_job_checkpoints, NULL, NULL },
	{ "GET", "/jobs/:jid/checkpoints/config", h_checkpoint_config, NULL, NULL },
	{ "POST", "/jobs/:jid/savepoints", h_savepoint, NULL, NULL },
	{ "POST", "/jobs/:jid/stop", h_stop, NULL, NULL },
	{ "GET", "/jobs/:jid/savepoints/:triggerid", h_savepoint_status, NULL, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid", h_vertex, NULL, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid/backpressure", h_vertex_backpressure, NULL, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid/watermarks", h_vertex_watermarks, NULL, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid/subtasks/metrics", h_subtask_metrics, NULL, NULL },
	{ "POST", "/savepoint-disposal", h_dispose, NULL, NULL },
	{ "GET", "/savepoint-disposal/:triggerid", h_dispose_status, NULL, NULL },
	{ "GET", "/taskmanagers", h_taskmanagers, NULL, NULL },
	{ "GET", "/taskmanagers/:tmid", h_taskmanager, NULL, NULL },
	{ "GET", "/taskmanagers/:tmid/log", h_tm_log, NULL, NULL },
	{ "GET", "/taskmanagers/:tmid/stdout", h_tm_stdout, NULL, NULL },
	{ "GET", "/jars", h_jars, NULL, NULL },
	{ "POST", "/jars/upload", NULL, NULL, upload_begin },
	{ "DELETE", "/jars/:jarid", h_jar_delete, NULL, NULL },
	{ "POST", "/jars/:jarid/run", h_run, NULL, NULL },
};
#define NROUTES (sizeof routes / sizeof routes[0])

/* Where parameter name (n bytes) of a pattern goes in a, or NULL for a
 * name route_args does not have (a pattern typo: it never matches). */
static const char **arg_slot(route_args *a, const char *name, size_t n)
{
	static const struct {
		const char *name;
		size_t off;
	} slots[] = {
		{ "jid", offsetof(route_args, jid) },
		{ "vid", offsetof(route_args, vid) },
		{ "triggerid", offsetof(route_args, triggerid) },
		{ "jarid", offsetof(route_args, jarid) },
		{ "tmid", offsetof(route_args, tmid) },
		{ "file", offsetof(route_args, file) },
	};
	for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
		if (strlen(slots[i].name) == n && !memcmp(slots[i].name, name, n))
			return (const char **)((char *)a + slots[i].off);
	return NULL;
}

/* Does pattern match the request's (decoded) segments exactly? On a match
 * a holds its parameters. */
static bool pattern_match(const char *pattern, const req_ctx *c, route_args *a)
{
	memset(a, 0, sizeof *a);
	int i = 0;
	for (const char *p = pattern; *p;) {
		if (*p == '/') {
			p++;
			continue;
		}
		size_t n = strcspn(p, "/");
		if (i == c->nseg) return false;
		if (*p == ':') {
			const char **slot = arg_slot(a, p + 1, n - 1);
			if (!slot) return false;
			*slot = c->segs[i];
		} else if (strlen(c->segs[i]) != n || memcmp(c->segs[i], p, n) != 0) {
			return false;
		}
		i++;
		p += n;
	}
	return i == c->nseg;
}

/* Does the request's method serve a route of this method? */
static bool method_ok(const req_ctx *c, const char *method)
{
	return !strcmp(method, "GET") ? c->get : !strcmp(c->method, method);
}

/* Append s to the string in buf (cap bytes), after sep unless buf is
 * empty; cut at the end of buf. */
static void join(char *buf, size_t cap, const char *sep, const char *s)
{
	size_t n = strlen(buf);
	snprintf(buf + n, cap - n, "%s%s", n ? sep : "", s);
}

/* 405 for a path whose routes (those with hit's pattern) take other
 * methods: Allow lists them, the message says how to use each. */
static void method_not_allowed(req_ctx *c, resp *r, const route *hit)
{
	char use[256] = "";
	r->allow[0] = 0;
	for (const route *x = hit; x < routes + NROUTES; x++) {
		if (strcmp(x->pattern, hit->pattern) != 0) continue;
		join(r->allow, sizeof r->allow, ", ", x->method);
		join(use, sizeof use, ", or ", x->use ? x->use : x->method);
	}
	set_error(r, 405, "Method %s is not allowed on %.300s (use %s)", c->method, c->path, use);
}

/* Is the media type of Content-Type value ct (parameters aside) type? */
static bool media_type_is(const char *ct, const char *type)
{
	if (!ct) return false;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
	return n == strlen(type) && !strncasecmp(ct, type, n);
}

/* Could this request come from a page of another site (cross-site
 * request forgery)? Methods other than GET and HEAD must carry a header a
 * browser sends cross-site only after asking us (a preflight we never
 * approve): "X-Flinc-Request" or a JSON Content-Type; and an Origin, when
 * the browser names one, must be ours. False with the 403 in c->r. */
static bool not_forged(req_ctx *c)
{
	if (c->get) return true;
	const char *origin = jm_http_req_header(c->req, "Origin");
	const char *own = jm_http_req_origin(c->req);
	if (origin && (!*own || strcasecmp(origin, own) != 0)) {
		set_error(
			&c->r, 403,
			"Forbidden: %s %.200s from origin '%.100s': only pages of %s may change the job manager "
			"(a cross-site request)",
			c->method, c->path, origin, *own ? own : "the job manager itself");
		return false;
	}
	const char *xf = jm_http_req_header(c->req, "X-Flinc-Request");
	if ((xf && *xf) || media_type_is(jm_http_req_header(c->req, "Content-Type"), "application/json"))
		return true;
	set_error(
		&c->r, 403,
		"Forbidden: %s %.200s needs the header 'X-Flinc-Request: 1' (or a JSON body with Content-Type: "
		"application/json), which a page of another site cannot send",
		c->method, c->path);
	return false;
}

/* The route of a checked request: NULL with the answer in c->r (401 for a
 * mutating call without the token, 404, 405). */
static const route *find_route(req_ctx *c)
{
	if (!c->get && !authorized(c)) {
		c->r.www_auth = true;
		set_error(
			&c->r, 401,
			"Unauthorized: %s %.200s needs the header 'Authorization: Bearer <token>' (rest.auth.token)",
			c->method, c->path);
		return NULL;
	}
	const route *hit = NULL;
	for (size_t i = 0; i < NROUTES && !hit; i++)
		if (pattern_match(routes[i].pattern, c, &c->a)) hit = &routes[i];
	if (!hit) {
		not_found(&c->r, c, NULL);
		return NULL;
	}
	for (const route *x = hit; x < routes + NROUTES; x++)
		if (!strcmp(x->pattern, hit->pattern) && method_ok(c, x->method)) return x;
	method_not_allowed(c, &c->r, hit);
	return NULL;
}

/* Free a request context (answered or not). */
static void ctx_free(req_ctx *c)
{
	free(c->path);
	for (int i = 0; i < c->nseg; i++) free(c->segs[i]);
	free(c->qbuf);
	fl_sb_free(&c->body);
	free(c->r.body);
	free(c);
}

static void security_headers(jm_http_req *req);

/* Send the answer in c->r. From the HTTP callback that holds the request. */
static void respond(req_ctx *c)
{
	resp *r = &c->r;
	jm_http_set_header(c->req, "Cache-Control",
			   r->immutable ? "max-age=31536000, immutable" : "no-store");
	security_headers(c->req);
	if (r->allow[0]) jm_http_set_header(c->req, "Allow", r->allow);
	if (r->www_auth) jm_http_set_header(c->req, "WWW-Authenticate", "Bearer realm=\"flinc\"");
	jm_http_respond(c->req, r->status, r->ctype ? r->ctype : "application/json; charset=UTF-8", r->body,
			r->len);
	r->body = NULL;
}

/* Run the route's handler on the body read so far, answer, free c. */
static void run_route(req_ctx *c)
{
	c->bdata = (const uint8_t *)c->body.data;
	c->blen = c->body.len;
	c->route->fn(c, &c->r, &c->a);
	respond(c);
	ctx_free(c);
}

/* ---- bodies read whole (JSON) ------------------------------------------- */

static void set_body_too_large(req_ctx *c)
{
	set_error(&c->r, 413, "the request body is larger than %u bytes", JSON_BODY_MAX);
}

static bool collect_data(jm_http_req *req, void *state, const uint8_t *p, size_t n)
{
	req_ctx *c = state;
	if (c->body.len + n > JSON_BODY_MAX) { /* chunked: the length was not known before */
		set_body_too_large(c);
		respond(c);
		return false;
	}
	fl_sb_append(&c->body, (const char *)p, n);
	return true;
}

static void collect_end(jm_http_req *req, void *state, jm_http_body_end how)
{
	req_ctx *c = state;
	if (how == JM_HTTP_BODY_COMPLETE) {
		run_route(c);
		return;
	}
	if (how == JM_HTTP_BODY_TOO_LARGE) {
		set_body_too_large(c);
		respond(c);
	}
	ctx_free(c);
}

static const jm_http_body_ops collect_ops = { collect_data, collect_end };

/* ---- POST /jars/upload: streamed to a file of the blob store ------------------- */

/* An upload in progress: the multipart parser and the temporary file the
 * 'jarfile' part goes to (every byte of it reserved in the blob store's
 * quota). */
typedef struct upload {
	jm *j;
	req_ctx *c; /* until the request is answered */
	jm_mp_parser mp;
	int fd;    /* -1 until the 'jarfile' part begins */
	char *tmp; /* its path, until it is stored or removed */
	int64_t size;
	bool in_jar, got_jar, done;
	char filename[JM_MP_NAME_MAX + 1];
} upload;

/* Refuse the upload with status and message: answers, returns false (the
 * server then ends the body: upload_end cleans up). */
static bool upload_refuse(upload *u, uint16_t status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool upload_refuse(upload *u, uint16_t status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	set_error(&u->c->r, status, "%s", msg);
	respond(u->c);
	fl_log(FL_LOG_WARN, JM_COMPONENT, "upload refused: %s", msg);
	return false;
}

/* One piece of the 'jarfile' part: quota, size, disk. */
static bool upload_write(upload *u, const uint8_t *d, size_t n)
{
	jm *j = u->j;
	if (u->size + (int64_t)n > j->o.upload_max)
		return upload_refuse(u, 413,
				     "the uploaded file is larger than rest.max-upload-size (%lld bytes)",
				     (long long)j->o.upload_max);
	int64_t used = 0;
	if (jm_blob_reserve(j, (int64_t)n, &used) != FLINC_OK)
		return upload_refuse(u, 507,
				     "the blob store is full: this upload would take it past "
				     "jobmanager.blob.max-size (%lld bytes, %lld in use); delete jars first",
				     (long long)j->o.blob_max, (long long)used);
	u->size += (int64_t)n;
	int rc = fl_write_all(u->fd, d, n);
	if (rc != 0)
		return upload_refuse(u, rc == -ENOSPC || rc == -EDQUOT ? 507 : 500,
				     "cannot store the upload: %s", strerror(-rc));
	return true;
}

static bool upload_data(jm_http_req *req, void *state, const uint8_t *p, size_t n)
{
	upload *u = state;
	char err[512];
	for (;;) {
		size_t used;
		const uint8_t *d;
		size_t dl;
		jm_mp_event ev = jm_mp_parse(&u->mp, p, n, &used, &d, &dl);
		p += used;
		n -= used;
		switch (ev) {
		case JM_MP_MORE:
		case JM_MP_DONE: u->done = ev == JM_MP_DONE || u->done; return true;
		case JM_MP_ERROR: return upload_refuse(u, 400, "%s", u->mp.error);
		case JM_MP_PART:
			if (strcmp(u->mp.name, "jarfile") != 0) break;
			if (u->got_jar)
				return upload_refuse(u, 400,
						     "the multipart body has more than one 'jarfile' field");
			if (jm_blob_tmp_create(u->j, &u->fd, &u->tmp, err, sizeof err) != FLINC_OK)
				return upload_refuse(u, 500, "%s", err);
			u->in_jar = true;
			snprintf(u->filename, sizeof u->filename, "%s",
				 u->mp.has_filename ? u->mp.filename : "");
			break;
		case JM_MP_DATA:
			if (u->in_jar && !upload_write(u, d, dl)) return false;
			break;
		case JM_MP_PART_END:
			if (u->in_jar) u->got_jar = true;
			u->in_jar = false;
			break;
		}
	}
}

/* The body is in: store the file and inspect it (upload_inspect), or say
 * what was wrong with the body. */
static void upload_store(upload *u)
{
	jm *j = u->j;
	resp *r = &u->c->r;
	if (!u->done) {
		set_error(r, 400, "malformed multipart body: it ends before its closing boundary%s",
			  u->got_jar || u->in_jar ? "" : " (no 'jarfile' field)");
		return;
	}
	if (!u->got_jar) {
		set_error(r, 400, "the multipart body has no 'jarfile' field");
		return;
	}
	if (u->size == 0) {
		set_error(r, 400, "the uploaded file is empty");
		return;
	}
	char err[1024], *id = NULL, *path = NULL;
	int fd = u->fd;
	u->fd = -1;
	int rc = close(fd) == 0 ? FLINC_OK : FLINC_EIO;
	if (rc != FLINC_OK)
		snprintf(err, sizeof err, "cannot store the upload: %s", strerror(errno));
	else
		rc = jm_blob_store_file(j, u->tmp, u->filename, &id, &path, err, sizeof err);
	if (rc != FLINC_OK) {
		set_failure(r, u->c, rc, err, NULL);
		return;
	}
	/* The file and its share of the quota are the blob store's now. */
	free(u->tmp);
	u->tmp = NULL;
	jm_part part = { .filename = u->filename, .len = (size_t)u->size };
	u->size = 0;
	upload_inspect(j, r, &part, id, path);
	free(id);
	free(path);
}

static void upload_end(jm_http_req *req, void *state, jm_http_body_end how)
{
	upload *u = state;
	if (how == JM_HTTP_BODY_COMPLETE) {
		upload_store(u);
		respond(u->c);
	} else if (how == JM_HTTP_BODY_TOO_LARGE) {
		set_error(&u->c->r, 413, "the upload is larger than rest.max-upload-size (%lld bytes)",
			  (long long)u->j->o.upload_max);
		respond(u->c);
	}
	/* A refused, abandoned or failed upload leaves nothing behind. */
	if (u->fd >= 0) close(u->fd);
	if (u->tmp) unlink(u->tmp);
	free(u->tmp);
	if (u->size) jm_blob_unreserve(u->j, u->size);
	ctx_free(u->c);
	free(u);
}

static const jm_http_body_ops upload_ops = { upload_data, upload_end };

/* POST /jars/upload (multipart, field 'jarfile'): the file is streamed to a
 * temporary file of the blob store, moved into the store, then inspected. */
static void upload_begin(req_ctx *c)
{
	upload *u = fl_calloc(1, sizeof *u);
	u->j = c->j;
	u->c = c;
	u->fd = -1;
	const char *ct = jm_http_req_header(c->req, "Content-Type");
	if (jm_mp_init(&u->mp, ct) != 0) {
		if (!media_type_is(ct, "multipart/form-data"))
			set_error(
				&c->r, 400,
				"expected a multipart/form-data body with a 'jarfile' field (Content-Type is %.200s)",
				ct ? ct : "missing");
		else
			set_error(&c->r, 400, "%s", u->mp.error);
		free(u);
		respond(c);
		ctx_free(c);
		return;
	}
	int64_t max = c->j->o.upload_max + UPLOAD_FRAMING;
	if (jm_http_body(c->req, max, &upload_ops, u) != FLINC_OK) {
		set_error(&c->r, 413, "the upload is %lld bytes, above rest.max-upload-size (%lld bytes)",
			  (long long)jm_http_req_content_length(c->req), (long long)c->j->o.upload_max);
		free(u);
		respond(c);
		ctx_free(c);
	}
}

/* ---- GET /jobs/:jid/output: the live output (Server-Sent Events) ---------- */

/* The security headers of every answer (respond() and streams). */
static void security_headers(jm_http_req *req)
{
	/* The page loads only its own files and talks only to this server; no
	 * framing, no referrer. */
	jm_http_set_header(req, "Content-Security-Policy", JM_WEB_CSP);
	jm_http_set_header(req, "X-Frame-Options", "DENY");
	jm_http_set_header(req, "Referrer-Policy", "no-referrer");
}

/* Keep the request open and stream the job's sink records to it
 * (output.c); 404 for an unknown job, 503 past JM_WATCHERS_MAX. */
static void output_begin(req_ctx *c)
{
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	bool known = jm_job_find_locked(j, c->a.jid) != NULL;
	bool full = j->nwatchers >= JM_WATCHERS_MAX;
	pthread_mutex_unlock(&j->mu);
	if (!known || full || strcmp(c->method, "GET") != 0) {
		if (!known)
			not_found(&c->r, c, "no job with this id");
		else if (full)
			set_error(&c->r, 503, "%d live output streams are open already: close one",
				  JM_WATCHERS_MAX);
		else
			set_body(&c->r, 200, "text/event-stream; charset=utf-8", NULL);
		respond(c);
		ctx_free(c);
		return;
	}
	jm_http_set_header(c->req, "Cache-Control", "no-store");
	security_headers(c->req);
	jm_http_stream *st = jm_http_stream_begin(c->req, 200, "text/event-stream; charset=utf-8");
	if (st) {
		pthread_mutex_lock(&j->mu);
		jm_output_watch_locked(j, c->a.jid, st);
		pthread_mutex_unlock(&j->mu);
	}
	ctx_free(c);
}

/* The HTTP server's callback for every request (a worker thread): check,
 * route, then run the handler or take the body it needs. */
static void on_request(jm_http_req *req, void *arg)
{
	jm *j = arg;
	req_ctx *c = fl_calloc(1, sizeof *c);
	c->j = j;
	c->req = req;
	c->r.status = 500;
	c->method = jm_http_req_method(req);
	c->get = !strcmp(c->method, "GET") || !strcmp(c->method, "HEAD");
	if (!parse_target(c, jm_http_req_target(req)) || !not_forged(c) || !(c->route = find_route(c))) {
		respond(c);
		ctx_free(c);
		return;
	}
	if (c->route->begin) {
		c->route->begin(c);
		return;
	}
	if (!jm_http_req_has_body(req)) {
		run_route(c);
		return;
	}
	if (jm_http_body(req, JSON_BODY_MAX, &collect_ops, c) != FLINC_OK) {
		set_body_too_large(c);
		respond(c);
		ctx_free(c);
	}
}

/* Prometheus lines of the HTTP server's counters, appended to b. */
static void rest_metrics(jm *j, fl_strbuf *b)
{
	jm_http_server *s = __atomic_load_n(&j->http, __ATOMIC_ACQUIRE);
	if (!s) return;
	jm_http_stats st;
	jm_http_server_stats(s, &st);
	fl_sb_printf(
		b,
		"# HELP flinc_rest_connections Open REST connections (at most rest.max-connections).\n"
		"# TYPE flinc_rest_connections gauge\nflinc_rest_connections %d\n"
		"# HELP flinc_rest_busy_workers REST handler threads running a request.\n"
		"# TYPE flinc_rest_busy_workers gauge\nflinc_rest_busy_workers %d\n"
		"# HELP flinc_rest_connections_accepted_total REST connections accepted.\n"
		"# TYPE flinc_rest_connections_accepted_total counter\nflinc_rest_connections_accepted_total %llu\n"
		"# HELP flinc_rest_connections_rejected_total Connections answered 503 at the connection cap.\n"
		"# TYPE flinc_rest_connections_rejected_total counter\nflinc_rest_connections_rejected_total %llu\n"
		"# HELP flinc_rest_connections_evicted_total Idle or slow connections closed at the cap for new ones.\n"
		"# TYPE flinc_rest_connections_evicted_total counter\nflinc_rest_connections_evicted_total %llu\n"
		"# HELP flinc_rest_timeouts_total Connections closed by rest.request-timeout or rest.idle-timeout.\n"
		"# TYPE flinc_rest_timeouts_total counter\nflinc_rest_timeouts_total %llu\n"
		"# HELP flinc_rest_bad_requests_total Malformed requests (400, 414, 431, 501, 505).\n"
		"# TYPE flinc_rest_bad_requests_total counter\nflinc_rest_bad_requests_total %llu\n"
		"# HELP flinc_rest_requests_total REST requests handed to a handler.\n"
		"# TYPE flinc_rest_requests_total counter\nflinc_rest_requests_total %llu\n"
		"# HELP flinc_rest_busy_total Requests answered 503 after waiting for a handler thread.\n"
		"# TYPE flinc_rest_busy_total counter\nflinc_rest_busy_total %llu\n",
		st.connections, st.busy_workers, (unsigned long long)st.accepted,
		(unsigned long long)st.rejected, (unsigned long long)st.evicted,
		(unsigned long long)st.timeouts, (unsigned long long)st.bad, (unsigned long long)st.requests,
		(unsigned long long)st.worker_busy);
}

/* jm.h */
int jm_rest_start(jm *j, char *err, size_t errcap)
{
	/* web.dir, else the folder this build wrote, else the installed one. */
	char why[512], why2[256] = "";
	j->web = jm_web_open(j->o.web_dir ? j->o.web_dir : FLINC_WEB_DIR, why, 256);
	if (!j->web && !j->o.web_dir) {
		j->web = jm_web_open(FLINC_WEB_INSTALL_DIR, why2, sizeof why2);
		size_t n = strlen(why);
		snprintf(why + n, sizeof why - n, "; %s", why2);
	}
	if (j->web)
		fl_log(FL_LOG_INFO, JM_COMPONENT, "web UI from %s", jm_web_dir(j->web));
	else
		fl_log(FL_LOG_WARN, JM_COMPONENT, "web UI not built (%s): GET / says so; the REST API works",
		       why);
	bool v6 = strchr(j->o.rest_address, ':') != NULL;
	char *url = fl_asprintf(v6 ? "%s://[%s]:%d" : "%s://%s:%d", fl_tls_scheme(j->o.tls, FL_TLS_REST),
				j->o.rest_address, j->o.rest_port);
	jm_http_config cfg = {
		.url = url,
		.max_connections = j->o.rest_max_conns,
		.request_timeout_ms = j->o.rest_request_timeout_ms,
		.idle_timeout_ms = j->o.rest_idle_timeout_ms,
		.workers = j->o.rest_threads,
		.on_request = on_request,
		.arg = j,
		.component = JM_COMPONENT,
		.tls = j->o.tls,
	};
	jm_http_server *s = NULL;
	char e[512];
	int rc = jm_http_server_create(&cfg, &s, e, sizeof e);
	free(url);
	if (rc == FLINC_EEXIST) {
		snprintf(err, errcap, "rest.port %d on %s is already in use", j->o.rest_port,
			 j->o.rest_address);
		return FLINC_EIO;
	}
	if (rc == FLINC_EINVAL) {
		snprintf(err, errcap, "rest.bind-address '%s' is not a valid address: %s", j->o.rest_address,
			 e);
		return FLINC_ECONFIG;
	}
	if (rc != FLINC_OK) {
		snprintf(err, errcap, "REST server (rest.bind-address/rest.port): %s", e);
		return FLINC_EIO;
	}
	__atomic_store_n(&j->http, s, __ATOMIC_RELEASE);
	fl_log(FL_LOG_INFO, JM_COMPONENT,
	       "REST API at %s://%s%s%s:%d (%d handler threads, at most %d connections, request timeout %lld ms, "
	       "idle timeout %lld ms, uploads up to %lld bytes)",
	       fl_tls_on(j->o.tls, FL_TLS_REST) ? "https" : "http", v6 ? "[" : "", j->o.rest_address,
	       v6 ? "]" : "", j->o.rest_port, j->o.rest_threads, j->o.rest_max_conns,
	       (long long)j->o.rest_request_timeout_ms, (long long)j->o.rest_idle_timeout_ms,
	       (long long)j->o.upload_max);
	return FLINC_OK;
}

/* jm.h: close every connection and wait (up to REST_STOP_WAIT_MS) for the
 * handlers in flight. */
bool jm_rest_stop(jm *j)
{
	jm_http_server *s = __atomic_load_n(&j->http, __ATOMIC_ACQUIRE);
	if (!s) return true;
	jm_output_close_all(j); /* a stream holds its connection open */
	if (jm_http_server_destroy(s, REST_STOP_WAIT_MS) != FLINC_OK) {
		fl_log(FL_LOG_WARN, JM_COMPONENT,
		       "a REST request is still being handled after %d ms (stuck in a plugin's code or on a file?): "
		       "stopping without it",
		       REST_STOP_WAIT_MS);
		return false;
	}
	__atomic_store_n(&j->http, NULL, __ATOMIC_RELEASE);
	return true;
}
