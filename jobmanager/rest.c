/*
 * rest.c - the REST API on nng's HTTP server.
 *
 * Two handlers take every request: "/jars/upload" (bodies up to
 * rest.upload.max-size) and a tree handler on "/" for everything else
 * (small bodies). Both accept any method and route here, so unknown paths
 * and wrong methods get JSON errors (404, 405) instead of nng's HTML pages.
 *
 * Routing is one table (routes[] below) of {method, pattern, handler}: the
 * first pattern that matches the path's segments ("/jobs/:jid/vertices/:vid",
 * ":name" takes any one segment into route_args) decides; among the routes
 * with that pattern the method picks the handler, and none gives 405 with
 * an Allow header naming theirs. A path no pattern matches is 404.
 *
 * Handlers run on nng's threads. They take jm.mu only to read or change
 * the model, never while loading a plugin or touching the disk, and never
 * call a task manager: calls to task managers go through their workers.
 *
 * Errors are {"errors": ["one line"]} with 400 (bad request), 401
 * (missing token), 404 (unknown path or id), 405 (wrong method), 409
 * (conflicting state), 500, 501 (not available yet) or 503 (shutting down).
 * The job manager's functions answer FLINC_E* codes with a message;
 * http_status() below is the one place that turns a code into a status.
 */
#include <ctype.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fl_runtime.h"
#include "jm.h"

#define SMALL_BODY_MAX (16u << 20) /* run requests and other JSON bodies */
#define MAX_SEGS 8
#define MAX_ARGS 10000

/* The answer a handler builds; http_cb sends it. */
typedef struct resp {
	uint16_t status;
	char *body; /* malloc'ed, or NULL */
	size_t len;
	const char *ctype; /* static; NULL: JSON */
	char allow[64];    /* the Allow header of a 405; "" for none */
	bool www_auth;
} resp;

/* One request as the handlers see it; lives on http_cb's stack. */
typedef struct req_ctx {
	jm *j;
	nng_http_req *req;
	const char *method;
	bool get;          /* GET or HEAD */
	char *path;        /* as requested (decoded), for messages */
	const char *query; /* raw, after '?', or "" */
	char *segs[MAX_SEGS];
	int nseg;
	const uint8_t *body;
	size_t blen;
} req_ctx;

/* The path parameters of a route, named as in its pattern; each points
 * into req_ctx.segs (valid while the request is handled) or is NULL. */
typedef struct route_args {
	const char *jid;       /* :jid */
	const char *vid;       /* :vid */
	const char *triggerid; /* :triggerid, a savepoint or disposal request */
	const char *jarid;     /* :jarid */
	const char *tmid;      /* :tmid */
} route_args;

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
	{ FLINC_ENOENT, 404 },  /* no such job, jar, vertex or request */
	{ FLINC_EINVAL, 400 },  /* a malformed request or an argument that cannot work */
	{ FLINC_ECONFIG, 400 }, /* a configuration value of the job */
	{ FLINC_ERANGE, 400 },  /* more parallelism or slots than allowed or available */
	{ FLINC_EPLUGIN, 400 }, /* the upload is no loadable job plugin */
	{ FLINC_EGRAPH, 400 },  /* the job's build failed or made an invalid graph */
	{ FLINC_ESTATE, 409 },  /* the job's state does not allow it */
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

/* The value of a hex digit, or -1. */
static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
	return -1;
}

/* Percent-decode n bytes (and '+' as space when plus); NUL bytes are
 * refused (NULL). malloc'ed. */
static char *pct_decode(const char *s, size_t n, bool plus)
{
	char *out = fl_malloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			ch = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else if (ch == '+' && plus) {
			ch = ' ';
		}
		if (ch == 0) {
			free(out);
			return NULL;
		}
		out[o++] = ch;
	}
	out[o] = 0;
	return out;
}

/* The value of a query parameter, decoded (malloc'ed), or NULL. */
static char *query_get(const char *q, const char *key)
{
	size_t kl = strlen(key);
	while (q && *q) {
		const char *amp = strchr(q, '&');
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		const char *eq = memchr(q, '=', n);
		size_t klen = eq ? (size_t)(eq - q) : n;
		if (klen == kl && memcmp(q, key, kl) == 0)
			return eq ? pct_decode(eq + 1, n - klen - 1, true) : fl_strdup("");
		q = amp ? amp + 1 : NULL;
	}
	return NULL;
}

/* Split the URI into decoded path segments; false for a path that cannot
 * be any route (too deep, NUL bytes). */
static bool parse_uri(req_ctx *c, const char *uri)
{
	const char *qm = strchr(uri, '?');
	size_t plen = qm ? (size_t)(qm - uri) : strlen(uri);
	c->query = qm ? qm + 1 : "";
	char *decoded = pct_decode(uri, plen, false);
	c->path = jm_utf8_dup(decoded ? decoded : "(undecodable path)");
	free(decoded);
	if (!decoded) return false;
	size_t i = 0;
	while (i < plen) {
		while (i < plen && uri[i] == '/') i++;
		if (i >= plen) break;
		size_t e = i;
		while (e < plen && uri[e] != '/') e++;
		if (c->nseg == MAX_SEGS) return false;
		char *seg = pct_decode(uri + i, e - i, false);
		if (!seg) return false;
		c->segs[c->nseg++] = seg;
		i = e;
	}
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
	const char *h = nng_http_req_get_header(c->req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
	h += 7;
	while (*h == ' ') h++;
	size_t a = strlen(h), b = strlen(tok);
	/* Compare every byte, whatever matches first. */
	unsigned diff = (unsigned)(a ^ b);
	for (size_t i = 0; i < a; i++) diff |= (unsigned char)h[i] ^ (unsigned char)tok[i % b];
	return diff == 0;
}

/* GET / until the web UI is built: where the API is. */
static const char index_html[] =
	"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>flinc job manager</title></head>\n"
	"<body style=\"font-family:sans-serif;max-width:50em;margin:2em auto\">\n"
	"<h1>flinc job manager</h1>\n"
	"<p>The web UI is not built yet. The REST API (JSON, Flink's field names):</p>\n<ul>\n"
	"<li><a href=\"/overview\">/overview</a> &mdash; task managers, slots, job counts</li>\n"
	"<li><a href=\"/jobs/overview\">/jobs/overview</a> &mdash; jobs with their state</li>\n"
	"<li><a href=\"/taskmanagers\">/taskmanagers</a> &mdash; task managers, slots, heartbeats</li>\n"
	"<li><a href=\"/jars\">/jars</a> &mdash; uploaded job plugins</li>\n"
	"<li><a href=\"/config\">/config</a> and <a href=\"/jobmanager/config\">/jobmanager/config</a></li>\n"
	"<li><a href=\"/metrics\">/metrics</a> &mdash; Prometheus metrics</li>\n"
	"</ul>\n<p>Per job: <code>/jobs/:jid</code>, <code>/jobs/:jid/exceptions</code>, "
	"<code>/jobs/:jid/vertices/:vid</code>; submit with <code>flinc run</code>.</p>\n"
	"</body></html>\n";

/* ---- handlers: documents ------------------------------------------------ */

/* Every handler answers one route; a is its path parameters. They run on
 * nng's threads and fill r; errors go into r like any answer. */

/* GET /: a page that lists the API until the web UI is built. */
static void h_index(req_ctx *c, resp *r, const route_args *a)
{
	(void)c, (void)a;
	set_body(r, 200, "text/html; charset=UTF-8", fl_strdup(index_html));
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

/* GET /metrics: Prometheus text */
static void h_metrics(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	pthread_mutex_lock(&c->j->mu);
	char *text = jm_view_metrics_locked(c->j);
	pthread_mutex_unlock(&c->j->mu);
	set_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

/* GET /jobs */
static void h_jobs(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_jobs_locked);
}

/* GET /jobs/overview */
static void h_jobs_overview(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_jobs_overview_locked);
}

/* GET /taskmanagers */
static void h_taskmanagers(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	model_view(c, r, jm_view_taskmanagers_locked);
}

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
	char *mode = query_get(c->query, "mode");
	if (mode && strcmp(mode, "cancel") != 0) {
		if (!strcmp(mode, "stop"))
			set_error(
				r, 400,
				"mode=stop is not supported here: stop with a savepoint is POST /jobs/:jid/stop");
		else
			set_error(r, 400, "unknown mode '%.100s': PATCH /jobs/:jid takes mode=cancel", mode);
		free(mode);
		return;
	}
	free(mode);
	char err[512];
	int rc = jm_job_cancel(c->j, a->jid, err, sizeof err);
	if (rc == FLINC_OK) {
		fl_log(FL_LOG_INFO, JM_COMPONENT, "cancel of job %s requested", a->jid);
		set_json(r, 202, json_object());
	} else {
		set_failure(r, c, rc, err, NULL);
	}
}

/* The 'jarfile' part of an upload, checked for size; false when r holds
 * the refusal. part->filename is malloc'ed on success (the caller frees). */
static bool upload_part(req_ctx *c, resp *r, jm_part *part)
{
	char err[1024];
	const char *ct = nng_http_req_get_header(c->req, "Content-Type");
	int rc = jm_multipart_find(ct, c->body, c->blen, "jarfile", part, err, sizeof err);
	if (rc != FLINC_OK) {
		set_failure(r, c, rc, err, NULL);
		return false;
	}
	if (part->len == 0)
		set_error(r, 400, "the uploaded file is empty");
	else if ((int64_t)part->len > c->j->o.upload_max)
		set_error(r, 400, "the uploaded file is %zu bytes, above rest.upload.max-size (%lld bytes)",
			  part->len, (long long)c->j->o.upload_max);
	else
		return true;
	free(part->filename);
	return false;
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

/* POST /jars/upload (multipart, field 'jarfile'): store, then inspect. */
static void h_upload(req_ctx *c, resp *r, const route_args *a)
{
	(void)a;
	jm_part part;
	if (!upload_part(c, r, &part)) return;
	char err[1024], *id = NULL, *path = NULL;
	int rc = jm_blob_store(c->j, part.filename, part.data, part.len, &id, &path, err, sizeof err);
	if (rc != FLINC_OK)
		set_failure(r, c, rc, err, NULL);
	else
		upload_inspect(c->j, r, &part, id, path);
	free(part.filename);
	free(id);
	free(path);
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
		body = json_loadb((const char *)c->body, c->blen, 0, &je);
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
	json_t *body = c->blen ? json_loadb((const char *)c->body, c->blen, 0, &je) : NULL;
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
	q->body = json_loadb((const char *)c->body, c->blen, 0, &je);
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

typedef void (*route_fn)(req_ctx *c, resp *r, const route_args *a);

/* One route. Routes that share a pattern are alternatives by method. */
typedef struct route {
	const char *method;  /* "GET" takes HEAD as well */
	const char *pattern; /* segments after '/', ":name" for a parameter; "/" is the root */
	route_fn fn;
	const char *use; /* how a 405 suggests this method; NULL: its name */
} route;

/* Every route, literal patterns before the parameters they shadow
 * ("/jobs/overview" before "/jobs/:jid"): the first pattern that matches
 * wins. */
static const route routes[] = {
	{ "GET", "/", h_index, NULL },
	{ "GET", "/overview", h_overview, NULL },
	{ "GET", "/config", h_config, NULL },
	{ "GET", "/jobmanager/config", h_cluster_config, NULL },
	{ "GET", "/metrics", h_metrics, NULL },
	{ "GET", "/jobs", h_jobs, NULL },
	{ "GET", "/jobs/overview", h_jobs_overview, NULL },
	{ "GET", "/jobs/:jid", h_job, NULL },
	{ "PATCH", "/jobs/:jid", h_cancel, "PATCH to cancel" },
	{ "GET", "/jobs/:jid/exceptions", h_job_exceptions, NULL },
	{ "GET", "/jobs/:jid/plan", h_job_plan, NULL },
	{ "GET", "/jobs/:jid/checkpoints", h_job_checkpoints, NULL },
	{ "POST", "/jobs/:jid/savepoints", h_savepoint, NULL },
	{ "POST", "/jobs/:jid/stop", h_stop, NULL },
	{ "GET", "/jobs/:jid/savepoints/:triggerid", h_savepoint_status, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid", h_vertex, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid/backpressure", h_vertex_backpressure, NULL },
	{ "GET", "/jobs/:jid/vertices/:vid/watermarks", h_vertex_watermarks, NULL },
	{ "POST", "/savepoint-disposal", h_dispose, NULL },
	{ "GET", "/savepoint-disposal/:triggerid", h_dispose_status, NULL },
	{ "GET", "/taskmanagers", h_taskmanagers, NULL },
	{ "GET", "/taskmanagers/:tmid", h_taskmanager, NULL },
	{ "GET", "/jars", h_jars, NULL },
	{ "POST", "/jars/upload", h_upload, NULL },
	{ "DELETE", "/jars/:jarid", h_jar_delete, NULL },
	{ "POST", "/jars/:jarid/run", h_run, NULL },
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

/* Answer a parsed request: 401 for a mutating call without the token,
 * else the route its path and method name (404, 405 when none). */
static void route_request(req_ctx *c, resp *r)
{
	if (!c->get && !authorized(c)) {
		r->www_auth = true;
		set_error(
			r, 401,
			"Unauthorized: %s %.200s needs the header 'Authorization: Bearer <token>' (rest.auth.token)",
			c->method, c->path);
		return;
	}
	route_args a;
	const route *hit = NULL;
	for (size_t i = 0; i < NROUTES && !hit; i++)
		if (pattern_match(routes[i].pattern, c, &a)) hit = &routes[i];
	if (!hit) {
		not_found(r, c, NULL);
		return;
	}
	for (const route *x = hit; x < routes + NROUTES; x++) {
		if (!strcmp(x->pattern, hit->pattern) && method_ok(c, x->method)) {
			x->fn(c, r, &a);
			return;
		}
	}
	method_not_allowed(c, r, hit);
}

/* nng's callback for every request (its threads): parse, route, send the
 * answer. Counts itself in rest_inflight so that jm_rest_stop can wait for
 * it; after jm_rest_stop began every request gets 503. */
static void http_cb(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	jm *j = nng_http_handler_get_data(h);
	resp r = { .status = 500 };
	req_ctx c = { .j = j, .req = req };

	__atomic_add_fetch(&j->rest_inflight, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&j->rest_closing, __ATOMIC_SEQ_CST)) {
		set_error(&r, 503, "the job manager is shutting down");
	} else {
		c.method = nng_http_req_get_method(req);
		c.get = !strcmp(c.method, "GET") || !strcmp(c.method, "HEAD");
		void *data;
		size_t len;
		nng_http_req_get_data(req, &data, &len);
		c.body = data;
		c.blen = data ? len : 0;
		if (!parse_uri(&c, nng_http_req_get_uri(req))) {
			set_error(&r, c.nseg == MAX_SEGS ? 404 : 400, "%s: %.300s",
				  c.nseg == MAX_SEGS ? "Not found" : "Malformed path", c.path ? c.path : "?");
		} else {
			route_request(&c, &r);
		}
	}
	free(c.path);
	for (int i = 0; i < c.nseg; i++) free(c.segs[i]);

	nng_http_res *res;
	if (nng_http_res_alloc(&res) != 0) {
		free(r.body);
		__atomic_sub_fetch(&j->rest_inflight, 1, __ATOMIC_SEQ_CST);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_http_res_set_status(res, r.status);
	nng_http_res_set_header(res, "Content-Type", r.ctype ? r.ctype : "application/json; charset=UTF-8");
	nng_http_res_set_header(res, "Cache-Control", "no-store");
	if (r.allow[0]) nng_http_res_set_header(res, "Allow", r.allow);
	if (r.www_auth) nng_http_res_set_header(res, "WWW-Authenticate", "Bearer realm=\"flinc\"");
	if (r.body) nng_http_res_copy_data(res, r.body, r.len);
	free(r.body);
	__atomic_sub_fetch(&j->rest_inflight, 1, __ATOMIC_SEQ_CST);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* Register http_cb for path (tree: and everything under it) with any
 * method and bodies up to maxbody. 0 or an nng error. */
static int add_handler(jm *j, const char *path, bool tree, size_t maxbody)
{
	nng_http_handler *h;
	int rc = nng_http_handler_alloc(&h, path, http_cb);
	if (rc) return rc;
	if ((rc = nng_http_handler_set_method(h, NULL)) || (tree && (rc = nng_http_handler_set_tree(h))) ||
	    (rc = nng_http_handler_collect_body(h, true, maxbody)) ||
	    (rc = nng_http_handler_set_data(h, j, NULL)) || (rc = nng_http_server_add_handler(j->http, h))) {
		nng_http_handler_free(h);
		return rc;
	}
	return 0;
}

/* jm.h. Two handlers (uploads with their own body limit, and the rest),
 * and nng's own 400 page as JSON. */
int jm_rest_start(jm *j, char *err, size_t errcap)
{
	bool v6 = strchr(j->o.rest_address, ':') != NULL;
	char *url = fl_asprintf(v6 ? "http://[%s]:%d" : "http://%s:%d", j->o.rest_address, j->o.rest_port);
	nng_url *u = NULL;
	int rc = nng_url_parse(&u, url);
	if (rc) {
		snprintf(err, errcap, "rest.bind-address '%s' is not a valid address: %s", j->o.rest_address,
			 nng_strerror(rc));
		free(url);
		return FLINC_ECONFIG;
	}
	rc = nng_http_server_hold(&j->http, u);
	nng_url_free(u);
	if (rc) {
		snprintf(err, errcap, "cannot create the REST server on %s: %s", url, nng_strerror(rc));
		free(url);
		return FLINC_EIO;
	}
	size_t upload_max = (size_t)j->o.upload_max + (1u << 20); /* the file plus multipart framing */
	if ((rc = add_handler(j, "/jars/upload", false, upload_max)) ||
	    (rc = add_handler(j, "/", true, SMALL_BODY_MAX))) {
		snprintf(err, errcap, "cannot set up the REST handlers: %s", nng_strerror(rc));
		goto fail;
	}
	/* What nng answers by itself: malformed HTTP, or a body past the limit. */
	nng_http_server_set_error_page(
		j->http, 400,
		"{\"errors\":[\"Bad Request: malformed HTTP, or a body larger than allowed "
		"(rest.upload.max-size for uploads)\"]}\n");
	rc = nng_http_server_start(j->http);
	if (rc) {
		if (rc == NNG_EADDRINUSE)
			snprintf(err, errcap, "rest.port %d on %s is already in use", j->o.rest_port,
				 j->o.rest_address);
		else
			snprintf(err, errcap, "cannot listen on %s (rest.bind-address/rest.port): %s", url,
				 nng_strerror(rc));
		goto fail;
	}
	fl_log(FL_LOG_INFO, JM_COMPONENT, "REST API at %s", url);
	free(url);
	return FLINC_OK;
fail:
	nng_http_server_release(j->http);
	j->http = NULL;
	free(url);
	return FLINC_EIO;
}

/* Stop the HTTP server and wait (up to 5 s) for handlers in flight. Main
 * thread, before the model is freed. */
void jm_rest_stop(jm *j)
{
	if (!j->http) return;
	__atomic_store_n(&j->rest_closing, true, __ATOMIC_SEQ_CST);
	nng_http_server_stop(j->http);
	/* Let handlers already running finish before the model goes away. */
	for (int i = 0; i < 1000 && __atomic_load_n(&j->rest_inflight, __ATOMIC_SEQ_CST) > 0; i++)
		usleep(5000);
	nng_http_server_release(j->http);
	j->http = NULL;
}
