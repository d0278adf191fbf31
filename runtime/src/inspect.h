/*
 * inspect.h - the plugin inspection's wire format, shared by the helper
 * (inspect_helper.c, which writes it) and its parent (inspect.c, which
 * reads it). Private to runtime/; the unit tests feed the decoder hostile
 * answers through it.
 *
 * The answer pipe (the helper's fd 3) carries lines of JSON:
 *
 *   {"stage": "check"}      before the ELF headers are read
 *   {"stage": "load"}       before dlopen (the plugin's constructors)
 *   {"stage": "build"}      before the plugin's build function
 *   {"answer": ANSWER}      the outcome, last
 *
 * ANSWER is one of
 *   {"ok": false, "code": FLINC_E*, "reason": "one line"}
 *       the file is no loadable plugin (reason without the file's name)
 *   {"ok": true, "plugin": PLUGIN}
 *       loaded; no build asked for
 *   {"ok": true, "plugin": PLUGIN, "build_error": "one line"}
 *       loaded; its build refused the arguments or made an invalid graph
 *   {"ok": true, "plugin": PLUGIN, "job": JOB}
 *       loaded and built
 * PLUGIN = {"name", "description", "usage": string or null, "abi": int}
 * JOB    = {"name": string, "hash": "16 hex digits", "parallelism": int,
 *           "max_parallelism": int, "uids": [string],
 *           "vertices": [{"index", "id": "16 hex", "name", "parallelism"}],
 *           "edges": [{"src", "dst", "partitioning"}],
 *           "graph": fl_env_to_json's object, "plan": fl_plan_to_json's}
 *
 * Everything after the helper loaded the plugin may have been written by
 * the plugin instead: the parent believes nothing it did not check.
 */
#ifndef FL_INSPECT_H
#define FL_INSPECT_H

#include <jansson.h>

#include "fl_runtime.h"

#define FL_INSPECT_ANSWER_FD 3
#define FL_INSPECT_ANSWER_MAX (8u << 20)   /* bytes the parent reads from the answer pipe */
#define FL_INSPECT_REQUEST_MAX (64u << 20) /* bytes the helper reads from its request */
#define FL_INSPECT_NAME_MAX 1024           /* job, plugin and operator names, uids */
#define FL_INSPECT_TEXT_MAX 4096           /* description, usage, reasons */
#define FL_INSPECT_VNAME_MAX 65536         /* a vertex's name (its whole chain) */
#define FL_INSPECT_NODES_MAX 100000        /* operators of one job */
#define FL_INSPECT_EDGES_MAX 1000000
#define FL_INSPECT_SUBTASKS_MAX (1 << 24)

/* The job description as the JOB object above (the helper's side). NULL
 * when a string of it is not valid UTF-8 (a uid the job manager could not
 * carry); the caller answers an error then. */
json_t *fl_job_desc_to_json(const fl_job_desc *d);

/* Check and decode an ANSWER object (the parent's side). want_build: the
 * request asked for a build (then a plugin that loaded must come with job
 * or build_error). Returns
 *   FLINC_OK       *out filled (a job when built)
 *   FLINC_EGRAPH   *out filled with build_error, job NULL
 *   FLINC_ENOENT, FLINC_EPLUGIN  the helper's refusal: reason in why
 *   FLINC_EPROTO   the answer is malformed: what is wrong in why
 * why (one line, no file name) is written for every code but FLINC_OK.
 * *out is the caller's (fl_inspection_free). Any thread. */
int fl_inspect_decode(const json_t *answer, bool want_build, fl_inspection **out, char *why, size_t whycap);

/* A copy of s with at most max bytes on one line: invalid UTF-8 and
 * control characters become '?' and ' '. malloc'ed (fl_malloc). */
char *fl_inspect_clean(const char *s, size_t max);

#endif
