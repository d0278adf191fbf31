/*
 * rest.c - the REST API on nng's HTTP server.
 *
 * Two handlers take every request: "/jars/upload" (bodies up to
 * rest.upload.max-size) and a tree handler on "/" for everything else
 * (small bodies). Both accept any method and route here, so unknown paths
 * and wrong methods get JSON errors (404, 405) instead of nng's HTML pages.
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

#include "jm.h"
#include "plugin.h"

#define SMALL_BODY_MAX (16u << 20) /* run requests and other JSON bodies */
#define MAX_SEGS 8
#define MAX_ARGS 10000

typedef struct resp {
	uint16_t status;
	char *body;
	size_t len;
	const char *ctype;
	const char *allow;
	bool www_auth;
} resp;

typedef struct req_ctx {
	jm *j;
	nng_http_req *req;
	const char *method;
	bool get;           /* GET or HEAD */
	char *path;         /* as requested (decoded), for messages */
	const char *query;  /* raw, after '?', or "" */
	char *segs[MAX_SEGS];
	int nseg;
	const uint8_t *body;
	size_t blen;
} req_ctx;

/* ---- responses ------------------------------------------------------------ */

static void set_body(resp *r, uint16_t status, const char *ctype, char *body)
{
	free(r->body);
	r->status = status;
	r->ctype = ctype;
	r->body = body;
	r->len = body ? strlen(body) : 0;
}

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

static void not_found(resp *r, const req_ctx *c, const char *why)
{
	if (why) set_error(r, 404, "Not found: %.300s (%s)", c->path, why);
	else set_error(r, 404, "Not found: %.300s", c->path);
}

/* The HTTP status of a job manager error code (flinc.h). A conflict with
 * the state of a job (FLINC_ESTATE: it ended, it is not RUNNING, it still
 * uses the jar) is 409; any code a request cannot cause is 500. */
static const struct {
	int code;
	uint16_t status;
} code_status[] = {
	{FLINC_ENOENT, 404}, /* no such job, jar, vertex or request */
	{FLINC_EINVAL, 400}, /* a malformed request or an argument that cannot work */
	{FLINC_ECONFIG, 400}, /* a configuration value of the job */
	{FLINC_ERANGE, 400}, /* more parallelism or slots than allowed or available */
	{FLINC_EPLUGIN, 400}, /* the upload is no loadable job plugin */
	{FLINC_EGRAPH, 400}, /* the job's build failed or made an invalid graph */
	{FLINC_ESTATE, 409}, /* the job's state does not allow it */
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
	if (code == FLINC_ENOENT && why) not_found(r, c, why);
	else set_error(r, http_status(code), "%s", err);
}

static bool allow(resp *r, const req_ctx *c, const char *method)
{
	bool ok = !strcmp(method, "GET") ? c->get : !strcmp(c->method, method);
	if (!ok) {
		r->allow = method;
		set_error(r, 405, "Method %s is not allowed on %.300s (use %s)", c->method, c->path, method);
	}
	return ok;
}

/* ---- request parsing -------------------------------------------------------- */

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

/* ---- handlers ---------------------------------------------------------------- */

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

static void h_job_get(req_ctx *c, resp *r, const char *jid, int what, const char *vid, const char *sub)
{
	jm *j = c->j;
	pthread_mutex_lock(&j->mu);
	jm_job *job = jm_job_find_locked(j, jid);
	if (!job) {
		pthread_mutex_unlock(&j->mu);
		not_found(r, c, "no job with this id");
		return;
	}
	json_t *doc = NULL;
	jm_vertex *v = NULL;
	switch (what) {
	case 0: doc = jm_view_job_locked(j, job); break;
	case 1: doc = jm_view_exceptions_locked(j, job); break;
	case 2: doc = job->plan_json ? json_pack("{s:o}", "plan", json_loads(job->plan_json, 0, NULL)) : NULL; break;
	case 3: doc = jm_view_checkpoints_locked(j, job); break;
	default:
		v = jm_vertex_find(job, vid);
		if (!v) break;
		if (!sub) doc = jm_view_vertex_locked(j, job, v);
		else if (!strcmp(sub, "backpressure")) doc = jm_view_backpressure_locked(j, job, v);
		else {
			doc = json_array();
			for (int i = 0; i < v->parallelism; i++) {
				char id[64], val[32];
				snprintf(id, sizeof id, "%d.currentInputWatermark", i);
				snprintf(val, sizeof val, "%lld", (long long)v->sub[i].m.watermark);
				json_array_append_new(doc, json_pack("{s:s, s:s}", "id", id, "value", val));
			}
		}
		break;
	}
	pthread_mutex_unlock(&j->mu);
	if (what >= 4 && !v) {
		not_found(r, c, "no vertex with this id in the job");
		return;
	}
	set_json(r, 200, doc);
}

static void h_cancel(req_ctx *c, resp *r, const char *jid)
{
	char *mode = query_get(c->query, "mode");
	if (mode && strcmp(mode, "cancel") != 0) {
		if (!strcmp(mode, "stop"))
			set_error(r, 400, "mode=stop is not supported here: stop with a savepoint is POST /jobs/:jid/stop");
		else
			set_error(r, 400, "unknown mode '%.100s': PATCH /jobs/:jid takes mode=cancel", mode);
		free(mode);
		return;
	}
	free(mode);
	char err[512];
	int rc = jm_job_cancel(c->j, jid, err, sizeof err);
	if (rc == FLINC_OK) {
		fl_log(FL_LOG_INFO, JM_COMPONENT, "cancel of job %s requested", jid);
		set_json(r, 202, json_object());
	} else {
		set_failure(r, c, rc, err, NULL);
	}
}

static void h_upload(req_ctx *c, resp *r)
{
	jm *j = c->j;
	char err[1024];
	jm_part part;
	const char *ct = nng_http_req_get_header(c->req, "Content-Type");
	int rc = jm_multipart_find(ct, c->body, c->blen, "jarfile", &part, err, sizeof err);
	if (rc != FLINC_OK) {
		set_failure(r, c, rc, err, NULL);
		return;
	}
	if (part.len == 0) {
		set_error(r, 400, "the uploaded file is empty");
		free(part.filename);
		return;
	}
	if ((int64_t)part.len > j->o.upload_max) {
		set_error(r, 400, "the uploaded file is %zu bytes, above rest.upload.max-size (%lld bytes)", part.len,
			  (long long)j->o.upload_max);
		free(part.filename);
		return;
	}
	char *id = NULL, *path = NULL;
	rc = jm_blob_store(j, part.filename, part.data, part.len, &id, &path, err, sizeof err);
	if (rc != FLINC_OK) {
		set_failure(r, c, rc, err, NULL);
		free(part.filename);
		return;
	}
	/* The client's file name, made printable: it goes into messages and the log. */
	char *shown = jm_utf8_dup(part.filename && *part.filename ? part.filename : jm_blob_display_name(id));
	fl_plugin *pl = NULL;
	char lerr[1024];
	if (fl_plugin_open(path, &pl, lerr, sizeof lerr) != FLINC_OK) {
		jm_blob_remove(j, id);
		/* Name the upload, not our blob path. */
		size_t plen = strlen(path);
		const char *rest = strncmp(lerr, path, plen) == 0 ? lerr + plen : NULL;
		if (rest) set_error(r, http_status(FLINC_EPLUGIN), "%.200s%s", shown, rest);
		else set_error(r, http_status(FLINC_EPLUGIN), "%s", lerr);
		fl_log(FL_LOG_WARN, JM_COMPONENT, "upload of %.200s refused: %s", shown, rest ? rest + 2 : lerr);
	} else {
		const flinc_plugin *e = fl_plugin_entry(pl);
		char *jobname = jm_utf8_dup(e->name ? e->name : "?");
		fl_log(FL_LOG_INFO, JM_COMPONENT, "uploaded %.200s (%zu bytes, job '%.200s') as jar %s", shown, part.len,
		       jobname, id);
		free(jobname);
		fl_plugin_close(pl);
		set_json(r, 200, json_pack("{s:s, s:s}", "filename", path, "status", "success"));
	}
	free(shown);
	free(part.filename);
	free(id);
	free(path);
}

/* Split a command line into arguments: whitespace separates, '...' and
 * "..." quote, a backslash escapes the next character outside '...'. */
static int tokenize(const char *s, char ***out, int *n, char *err, size_t errcap)
{
	char **v = NULL;
	int cnt = 0;
	size_t i = 0, len = strlen(s);
	while (i < len) {
		while (i < len && isspace((unsigned char)s[i])) i++;
		if (i >= len) break;
		fl_strbuf b = {0};
		fl_sb_append(&b, "", 0);
		char quote = 0;
		for (; i < len; i++) {
			char ch = s[i];
			if (quote) {
				if (ch == quote) quote = 0;
				else if (ch == '\\' && quote == '"' && i + 1 < len) fl_sb_append(&b, &s[++i], 1);
				else fl_sb_append(&b, &ch, 1);
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
			if (quote) snprintf(err, errcap, "programArgs: unterminated %c quote", quote);
			else snprintf(err, errcap, "programArgs: more than %d arguments", MAX_ARGS);
			fl_sb_free(&b);
			for (int k = 0; k < cnt; k++) free(v[k]);
			free(v);
			return -1;
		}
		v = fl_realloc(v, (size_t)(cnt + 1) * sizeof *v);
		v[cnt++] = b.data;
	}
	*out = v;
	*n = cnt;
	return 0;
}

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

/* POST /jobs/:jid/savepoints {"target-directory", "cancel-job"} and
 * POST /jobs/:jid/stop {"targetDirectory", "drain"}: 202 {"request-id"}. */
static void h_savepoint(req_ctx *c, resp *r, const char *jid, bool stop)
{
	json_t *body = NULL;
	if (c->blen) {
		json_error_t je;
		body = json_loadb((const char *)c->body, c->blen, 0, &je);
		if (!body || !json_is_object(body)) {
			set_error(r, 400, "the body must be a JSON object%s%s", body ? "" : ": ", body ? "" : je.text);
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
		set_error(r, 400, "%s must be a boolean, not %s", stop ? "drain" : "cancel-job", json_type_name(cj));
		json_decref(body);
		return;
	}
	bool cancel = !stop && cj && json_is_true(cj);
	char reqid[JM_JID_LEN + 1], err[768];
	int rc = jm_savepoint_trigger(c->j, jid, td && json_is_string(td) ? json_string_value(td) : NULL,
				      stop || cancel, reqid, err, sizeof err);
	json_decref(body);
	if (rc == FLINC_OK) set_json(r, 202, json_pack("{s:s}", "request-id", reqid));
	else set_failure(r, c, rc, err, "no job with this id");
}

/* POST /savepoint-disposal {"savepoint-path"}: 202 {"request-id"}. */
static void h_dispose(req_ctx *c, resp *r)
{
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
	if (rc == FLINC_OK) set_json(r, 202, json_pack("{s:s}", "request-id", reqid));
	else set_failure(r, c, rc, err, NULL);
}


static void h_run(req_ctx *c, resp *r, const char *jar_id)
{
	jm *j = c->j;
	char err[2048];
	json_t *body = NULL;
	char **args = NULL;
	int nargs = 0;
	fl_conf *jconf = NULL;
	jm_submit s = {0};

	if (!jm_blob_id_valid(jar_id)) {
		not_found(r, c, "no such jar");
		return;
	}
	if (c->blen > 0) {
		json_error_t je;
		body = json_loadb((const char *)c->body, c->blen, 0, &je);
		if (!body) {
			set_error(r, 400, "malformed JSON in the request body: %s (line %d, column %d)", je.text, je.line,
				  je.column);
			return;
		}
		if (!json_is_object(body)) {
			set_error(r, 400, "the request body must be a JSON object, not %s", json_type_name(body));
			goto done;
		}
	} else {
		body = json_object();
	}
	json_t *pa = json_object_get(body, "programArgs");
	json_t *pl = json_object_get(body, "programArgsList");
	if (pa && !json_is_null(pa) && pl && !json_is_null(pl)) {
		set_error(r, 400, "give programArgs or programArgsList, not both");
		goto done;
	}
	if (pl && !json_is_null(pl)) {
		if (!json_is_array(pl)) {
			set_error(r, 400, "programArgsList must be an array of strings, not %s", json_type_name(pl));
			goto done;
		}
		if (json_array_size(pl) > MAX_ARGS) {
			set_error(r, 400, "programArgsList: more than %d arguments", MAX_ARGS);
			goto done;
		}
		args = fl_calloc(json_array_size(pl) + 1, sizeof *args);
		size_t i;
		json_t *a;
		json_array_foreach(pl, i, a)
		{
			if (!json_is_string(a)) {
				set_error(r, 400, "programArgsList[%zu] must be a string, not %s", i, json_type_name(a));
				goto done;
			}
			args[nargs++] = fl_strdup(json_string_value(a));
		}
	} else if (pa && !json_is_null(pa)) {
		if (!json_is_string(pa)) {
			set_error(r, 400, "programArgs must be a string, not %s", json_type_name(pa));
			goto done;
		}
		if (tokenize(json_string_value(pa), &args, &nargs, err, sizeof err) != 0) {
			set_error(r, 400, "%s", err);
			goto done;
		}
	}
	json_t *par = json_object_get(body, "parallelism");
	int parallelism = 0;
	if (par && !json_is_null(par)) {
		if (!json_is_integer(par) || json_integer_value(par) < 1 || json_integer_value(par) > 32768) {
			if (json_is_integer(par))
				set_error(r, 400, "parallelism must be an integer from 1 to 32768 (got %lld)",
					  (long long)json_integer_value(par));
			else
				set_error(r, 400, "parallelism must be an integer from 1 to 32768, not %s",
					  json_type_name(par));
			goto done;
		}
		parallelism = (int)json_integer_value(par);
	}
	json_t *sp = json_object_get(body, "savepointPath");
	if (sp && !json_is_null(sp)) {
		if (!json_is_string(sp)) {
			set_error(r, 400, "savepointPath must be a string, not %s", json_type_name(sp));
			goto done;
		}
		if (*json_string_value(sp)) s.savepoint = json_string_value(sp);
	}
	json_t *anr = json_object_get(body, "allowNonRestoredState");
	if (anr && !json_is_null(anr) && !json_is_boolean(anr)) {
		set_error(r, 400, "allowNonRestoredState must be a boolean, not %s", json_type_name(anr));
		goto done;
	}
	s.allow_non_restored = anr && json_is_true(anr);
	json_t *fc = json_object_get(body, "flinkConfiguration");
	if (fc && !json_is_null(fc)) {
		if (!json_is_object(fc)) {
			set_error(r, 400, "flinkConfiguration must be an object of \"key\": \"value\", not %s",
				  json_type_name(fc));
			goto done;
		}
		jconf = fl_conf_create();
		const char *k;
		json_t *v;
		json_object_foreach(fc, k, v)
		{
			char num[64];
			const char *val = NULL;
			if (json_is_string(v)) val = json_string_value(v);
			else if (json_is_integer(v)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), val = num;
			else if (json_is_real(v)) snprintf(num, sizeof num, "%g", json_real_value(v)), val = num;
			else if (json_is_boolean(v)) val = json_is_true(v) ? "true" : "false";
			if (!val || !*k) {
				set_error(r, 400, "flinkConfiguration.%.100s must be a string, number or boolean, not %s", k,
					  json_type_name(v));
				goto done;
			}
			fl_conf_set(jconf, k, val);
		}
	}
	s.jar_id = jar_id;
	s.args = args;
	s.nargs = nargs;
	s.parallelism = parallelism;
	s.job_conf = jconf;
	char jid[JM_JID_LEN + 1];
	int rc = jm_job_submit(j, &s, jid, err, sizeof err);
	if (rc == FLINC_OK) set_json(r, 200, json_pack("{s:s}", "jobid", jid));
	else set_failure(r, c, rc, err, "no such jar");
done:
	for (int i = 0; i < nargs; i++) free(args[i]);
	free(args);
	fl_conf_destroy(jconf);
	json_decref(body);
}

static void h_jar_delete(req_ctx *c, resp *r, const char *jar_id)
{
	char err[512];
	int rc = jm_jar_delete(c->j, jar_id, err, sizeof err);
	if (rc == FLINC_OK) set_json(r, 200, json_object());
	else set_failure(r, c, rc, err, "no such jar");
}

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

static void route(req_ctx *c, resp *r)
{
	jm *j = c->j;
	int n = c->nseg;
	char **s = c->segs;
	if (!c->get && !authorized(c)) {
		r->www_auth = true;
		set_error(r, 401,
			  "Unauthorized: %s %.200s needs the header 'Authorization: Bearer <token>' (rest.auth.token)",
			  c->method, c->path);
		return;
	}
#define SEG(i, lit) (n > (i) && !strcmp(s[i], lit))
	if (n == 0) {
		if (allow(r, c, "GET")) set_body(r, 200, "text/html; charset=UTF-8", fl_strdup(index_html));
		return;
	}
	if (n == 1 && SEG(0, "overview")) {
		if (!allow(r, c, "GET")) return;
		pthread_mutex_lock(&j->mu);
		json_t *d = jm_view_overview_locked(j);
		pthread_mutex_unlock(&j->mu);
		set_json(r, 200, d);
		return;
	}
	if (n == 1 && SEG(0, "config")) {
		if (allow(r, c, "GET")) set_json(r, 200, jm_view_dashboard_config(j));
		return;
	}
	if (n == 2 && SEG(0, "jobmanager") && SEG(1, "config")) {
		if (allow(r, c, "GET")) set_json(r, 200, jm_view_cluster_config(j));
		return;
	}
	if (n == 1 && SEG(0, "metrics")) {
		if (!allow(r, c, "GET")) return;
		pthread_mutex_lock(&j->mu);
		char *text = jm_view_metrics_locked(j);
		pthread_mutex_unlock(&j->mu);
		set_body(r, 200, "text/plain; version=0.0.4; charset=utf-8", text);
		return;
	}
	if (SEG(0, "jobs")) {
		if (n == 1) {
			if (!allow(r, c, "GET")) return;
			pthread_mutex_lock(&j->mu);
			json_t *d = jm_view_jobs_locked(j);
			pthread_mutex_unlock(&j->mu);
			set_json(r, 200, d);
			return;
		}
		if (n == 2 && SEG(1, "overview")) {
			if (!allow(r, c, "GET")) return;
			pthread_mutex_lock(&j->mu);
			json_t *d = jm_view_jobs_overview_locked(j);
			pthread_mutex_unlock(&j->mu);
			set_json(r, 200, d);
			return;
		}
		const char *jid = s[1];
		if (n == 2) {
			if (!strcmp(c->method, "PATCH")) h_cancel(c, r, jid);
			else if (c->get) h_job_get(c, r, jid, 0, NULL, NULL);
			else {
				r->allow = "GET, PATCH";
				set_error(r, 405, "Method %s is not allowed on %.300s (use GET, or PATCH to cancel)",
					  c->method, c->path);
			}
			return;
		}
		if (n == 3 && (SEG(2, "exceptions") || SEG(2, "plan") || SEG(2, "checkpoints"))) {
			if (allow(r, c, "GET")) h_job_get(c, r, jid, SEG(2, "exceptions") ? 1 : SEG(2, "plan") ? 2 : 3, NULL, NULL);
			return;
		}
		if (n == 3 && (SEG(2, "savepoints") || SEG(2, "stop"))) {
			if (allow(r, c, "POST")) h_savepoint(c, r, jid, SEG(2, "stop"));
			return;
		}
		if (n == 4 && SEG(2, "savepoints")) {
			if (!allow(r, c, "GET")) return;
			json_t *d = jm_operation_view(j, jid, s[3]);
			if (d) set_json(r, 200, d);
			else not_found(r, c, "no savepoint request with this id for this job");
			return;
		}
		if (n == 4 && SEG(2, "vertices")) {
			if (allow(r, c, "GET")) h_job_get(c, r, jid, 4, s[3], NULL);
			return;
		}
		if (n == 5 && SEG(2, "vertices") && (SEG(4, "backpressure") || SEG(4, "watermarks"))) {
			if (allow(r, c, "GET")) h_job_get(c, r, jid, 4, s[3], s[4]);
			return;
		}
	}
	if (SEG(0, "savepoint-disposal")) {
		if (n == 1) {
			if (allow(r, c, "POST")) h_dispose(c, r);
			return;
		}
		if (n == 2) {
			if (!allow(r, c, "GET")) return;
			json_t *d = jm_operation_view(j, NULL, s[1]);
			if (d) set_json(r, 200, d);
			else not_found(r, c, "no savepoint disposal with this id");
			return;
		}
	}
	if (SEG(0, "taskmanagers") && n <= 2) {
		if (!allow(r, c, "GET")) return;
		pthread_mutex_lock(&j->mu);
		json_t *d = NULL;
		if (n == 1) {
			d = jm_view_taskmanagers_locked(j);
		} else {
			jm_tm *tm = jm_tm_find_locked(j, s[1]);
			if (tm && tm->connected) d = jm_view_taskmanager_locked(j, tm);
		}
		pthread_mutex_unlock(&j->mu);
		if (d) set_json(r, 200, d);
		else not_found(r, c, "no task manager with this id");
		return;
	}
	if (SEG(0, "jars")) {
		if (n == 1) {
			if (!allow(r, c, "GET")) return;
			char *addr = fl_asprintf("http://%s:%d", j->o.rest_address, j->o.rest_port);
			set_json(r, 200, json_pack("{s:s, s:o}", "address", addr, "files", jm_blob_list(j)));
			free(addr);
			return;
		}
		if (n == 2 && SEG(1, "upload")) {
			if (allow(r, c, "POST")) h_upload(c, r);
			return;
		}
		if (n == 2) {
			if (allow(r, c, "DELETE")) h_jar_delete(c, r, s[1]);
			return;
		}
		if (n == 3 && SEG(2, "run")) {
			if (allow(r, c, "POST")) h_run(c, r, s[1]);
			return;
		}
	}
#undef SEG
	not_found(r, c, NULL);
}

static void http_cb(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *h = nng_aio_get_input(aio, 1);
	jm *j = nng_http_handler_get_data(h);
	resp r = {.status = 500};
	req_ctx c = {.j = j, .req = req};

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
			route(&c, &r);
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
	if (r.allow) nng_http_res_set_header(res, "Allow", r.allow);
	if (r.www_auth) nng_http_res_set_header(res, "WWW-Authenticate", "Bearer realm=\"flinc\"");
	if (r.body) nng_http_res_copy_data(res, r.body, r.len);
	free(r.body);
	__atomic_sub_fetch(&j->rest_inflight, 1, __ATOMIC_SEQ_CST);
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

static int add_handler(jm *j, const char *path, bool tree, size_t maxbody)
{
	nng_http_handler *h;
	int rc = nng_http_handler_alloc(&h, path, http_cb);
	if (rc) return rc;
	if ((rc = nng_http_handler_set_method(h, NULL)) || (tree && (rc = nng_http_handler_set_tree(h))) ||
	    (rc = nng_http_handler_collect_body(h, true, maxbody)) || (rc = nng_http_handler_set_data(h, j, NULL)) ||
	    (rc = nng_http_server_add_handler(j->http, h))) {
		nng_http_handler_free(h);
		return rc;
	}
	return 0;
}

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
	if ((rc = add_handler(j, "/jars/upload", false, upload_max)) || (rc = add_handler(j, "/", true, SMALL_BODY_MAX))) {
		snprintf(err, errcap, "cannot set up the REST handlers: %s", nng_strerror(rc));
		goto fail;
	}
	/* What nng answers by itself: malformed HTTP, or a body past the limit. */
	nng_http_server_set_error_page(j->http, 400,
				       "{\"errors\":[\"Bad Request: malformed HTTP, or a body larger than allowed "
				       "(rest.upload.max-size for uploads)\"]}\n");
	rc = nng_http_server_start(j->http);
	if (rc) {
		if (rc == NNG_EADDRINUSE)
			snprintf(err, errcap, "rest.port %d on %s is already in use", j->o.rest_port, j->o.rest_address);
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

void jm_rest_stop(jm *j)
{
	if (!j->http) return;
	__atomic_store_n(&j->rest_closing, true, __ATOMIC_SEQ_CST);
	nng_http_server_stop(j->http);
	/* Let handlers already running finish before the model goes away. */
	for (int i = 0; i < 1000 && __atomic_load_n(&j->rest_inflight, __ATOMIC_SEQ_CST) > 0; i++) usleep(5000);
	nng_http_server_release(j->http);
	j->http = NULL;
}
