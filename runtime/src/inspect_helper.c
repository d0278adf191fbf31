/*
 * inspect_helper.c - the helper's side of a plugin inspection
 * (fl_runtime.h, "plugin inspection in a helper process"): read the
 * request from stdin, check the file, load the plugin, build its graph,
 * answer on fd 3 (inspect.h) and _exit.
 *
 * This code runs in the process the parent spawned for one plugin, under
 * its limits, and only until the plugin is loaded is it in charge: the
 * plugin's constructors and build function run here with every right of
 * the process. So nothing here is trusted by the parent, and the helper
 * needs no care beyond answering truthfully when the plugin lets it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph.h"
#include "inspect.h"

/* The request: {"v": 1, "path", "display", "build", "parallelism",
 * "argv": [string], "conf": [[key, value]]}. */
typedef struct request {
	const char *path, *display;
	bool build;
	int parallelism;
	int argc;
	char **argv; /* points into doc */
	fl_conf *conf;
	json_t *doc;
} request;

/* Write a line (s and '\n') to the answer pipe; a failure is left to the
 * parent, which then has no answer. */
static void send_line(const char *s)
{
	size_t n = strlen(s);
	char *buf = fl_malloc(n + 1);
	memcpy(buf, s, n);
	buf[n] = '\n';
	fl_write_all(FL_INSPECT_ANSWER_FD, buf, n + 1);
	free(buf);
}

/* Tell the parent what runs next, so a crash or a hang is named. */
static void stage(const char *name)
{
	char b[64];
	snprintf(b, sizeof b, "{\"stage\":\"%s\"}", name);
	send_line(b);
}

/* Answer (taken) and end the process at once: no destructor of the
 * plugin, of the program or of a sanitizer (a plugin's leak is not ours)
 * runs. */
static void answer(json_t *a) __attribute__((noreturn));
static void answer(json_t *a)
{
	json_t *doc = json_pack("{s:o}", "answer", a);
	char *s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (s) send_line(s);
	_exit(s ? 0 : 1);
}

/* The reason of a refusal, without the "<path>: " that the runtime's
 * messages start with (the parent names the plugin its own way). */
static void refuse(const request *q, int code, const char *msg) __attribute__((noreturn));
static void refuse(const request *q, int code, const char *msg)
{
	size_t n = q && q->path ? strlen(q->path) : 0;
	if (n && !strncmp(msg, q->path, n) && msg[n] == ':' && msg[n + 1] == ' ') msg += n + 2;
	char *reason = fl_inspect_clean(msg, FL_INSPECT_TEXT_MAX);
	answer(json_pack("{s:b, s:i, s:s}", "ok", 0, "code", code, "reason", *reason ? reason : "refused"));
}

/* stdin whole, up to FL_INSPECT_REQUEST_MAX bytes, parsed. */
static json_t *read_request(void)
{
	fl_strbuf b = { 0 };
	char chunk[65536];
	for (;;) {
		ssize_t n = read(0, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 || b.len + (size_t)n > FL_INSPECT_REQUEST_MAX) {
			fl_sb_free(&b);
			return NULL;
		}
		if (n == 0) break;
		fl_sb_append(&b, chunk, (size_t)n);
	}
	json_t *doc = b.data ? json_loadb(b.data, b.len, 0, NULL) : NULL;
	fl_sb_free(&b);
	return doc;
}

/* The request's fields into q; false when one is missing or mistyped
 * (the parent wrote it: a bug, not a plugin's doing). */
static bool parse_request(json_t *doc, request *q)
{
	memset(q, 0, sizeof *q);
	q->doc = doc;
	q->path = json_string_value(json_object_get(doc, "path"));
	q->display = json_string_value(json_object_get(doc, "display"));
	q->build = json_is_true(json_object_get(doc, "build"));
	q->parallelism = (int)json_integer_value(json_object_get(doc, "parallelism"));
	json_t *argv = json_object_get(doc, "argv"), *conf = json_object_get(doc, "conf");
	if (json_integer_value(json_object_get(doc, "v")) != 1 || !q->path || !q->display ||
	    q->parallelism < 1 || !json_is_array(argv) || json_array_size(argv) < 1 ||
	    json_array_size(argv) > INT32_MAX / 2 || !json_is_array(conf))
		return false;
	q->argc = (int)json_array_size(argv);
	q->argv = fl_calloc((size_t)q->argc + 1, sizeof(char *));
	for (int i = 0; i < q->argc; i++)
		if (!(q->argv[i] = (char *)json_string_value(json_array_get(argv, (size_t)i)))) return false;
	q->conf = fl_conf_create();
	size_t i;
	json_t *kv;
	json_array_foreach(conf, i, kv)
	{
		const char *k = json_string_value(json_array_get(kv, 0)),
			   *v = json_string_value(json_array_get(kv, 1));
		if (!k || !v) return false;
		fl_conf_set(q->conf, k, v);
	}
	return true;
}

/* A string of the plugin's entry, bounded and made printable, or null. */
static json_t *entry_str(const char *s, size_t max)
{
	if (!s || !*s) return json_null();
	char *c = fl_inspect_clean(s, max);
	json_t *v = json_string(c);
	free(c);
	return v ? v : json_null();
}

int fl_inspect_helper_main(int argc, char **argv)
{
	(void)argc;
	if (fcntl(FL_INSPECT_ANSWER_FD, F_GETFD) < 0) {
		fprintf(stderr,
			"%s %s: this is the internal mode of flinc's plugin inspection, not for use by hand\n",
			argv[0], FL_INSPECT_HELPER_ARG);
		return 2;
	}
	request q;
	json_t *doc = read_request();
	if (!doc || !parse_request(doc, &q))
		refuse(NULL, FLINC_EPROTO, "the inspection request is malformed");

	stage("check");
	char err[1024];
	int rc = fl_plugin_check_elf(q.path, err, sizeof err);
	if (rc != FLINC_OK) refuse(&q, rc, err);

	stage("load");
	fl_plugin *pl = NULL;
	rc = fl_plugin_open(q.path, &pl, err, sizeof err);
	if (rc != FLINC_OK) refuse(&q, rc, err);
	const flinc_plugin *e = fl_plugin_entry(pl);
	json_t *plugin = json_pack("{s:o, s:o, s:o, s:i}", "name", entry_str(e->name, FL_INSPECT_NAME_MAX),
				   "description", entry_str(e->description, FL_INSPECT_TEXT_MAX), "usage",
				   entry_str(e->usage, FL_INSPECT_TEXT_MAX), "abi", (int)e->abi_version);
	if (!q.build) answer(json_pack("{s:b, s:o}", "ok", 1, "plugin", plugin));

	stage("build");
	flinc_env *env = fl_env_create(e->name && *e->name ? e->name : q.display, q.conf, q.parallelism);
	const char *msg = NULL;
	if (fl_env_build(env, e->build, q.argc, q.argv, &msg) != FLINC_OK) {
		char *m = fl_inspect_clean(msg && *msg ? msg : "build failed", FL_INSPECT_TEXT_MAX);
		answer(json_pack("{s:b, s:o, s:s}", "ok", 1, "plugin", plugin, "build_error", m));
	}
	fl_job_desc *d = fl_job_desc_create(env);
	if (d->n_vertices == 0)
		answer(json_pack("{s:b, s:o, s:s}", "ok", 1, "plugin", plugin, "build_error",
				 "the job graph has no vertices"));
	json_t *job = fl_job_desc_to_json(d);
	if (!job) refuse(&q, FLINC_EPLUGIN, "an operator's uid or name is not valid UTF-8");
	answer(json_pack("{s:b, s:o, s:o}", "ok", 1, "plugin", plugin, "job", job));
}
