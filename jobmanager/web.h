/*
 * web.h - the web UI's built files, served by the job manager.
 *
 * The UI (jobmanager/web/, TypeScript) is built by npm into one flat
 * folder: index.html and assets named after their content hash. The job
 * manager serves index.html at "/" and the other files at "/web/<name>",
 * from that folder only: a name is one path segment of letters, digits,
 * '.', '-' and '_', not starting with '.', with a known extension; the
 * file is opened relative to the folder without following links and must
 * be a regular file of at most JM_WEB_FILE_MAX bytes. Anything else
 * (traversal as "..", "%2e%2e" or "%252e%252e", a link, a folder) is
 * FLINC_ENOENT. Without a built folder (npm was missing at build time)
 * jm_web_open gives NULL and "/" says the UI was not built.
 */
#ifndef FL_JM_WEB_H
#define FL_JM_WEB_H

#include <stdbool.h>
#include <stddef.h>

#define JM_WEB_FILE_MAX (16u << 20)

typedef struct jm_web jm_web;

/* Open the built folder dir: NULL when it has no index.html (or dir is
 * NULL), with the reason in why. */
jm_web *jm_web_open(const char *dir, char *why, size_t whycap);
void jm_web_close(jm_web *w);
/* The folder (for log lines). */
const char *jm_web_dir(const jm_web *w);

/* Is name a file name the web route may serve (see above)? */
bool jm_web_name_ok(const char *name);

/* Read file name of the folder: FLINC_OK with *body (malloc'ed, the
 * caller frees), *len and *ctype (static); FLINC_ENOENT for a refused or
 * absent name; FLINC_EIO for a read error. Any thread. */
int jm_web_read(const jm_web *w, const char *name, char **body, size_t *len, const char **ctype);

#endif
