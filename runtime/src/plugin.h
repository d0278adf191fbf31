/*
 * plugin.h - loading job plugins (.so files exporting flinc_plugin_entry).
 *
 * Each fl_plugin_open dlopens the file privately (RTLD_LOCAL) so two jobs'
 * symbols never mix; fl_plugin_close unloads it. Not thread-safe per handle;
 * different handles may be used from different threads.
 */
#ifndef FL_PLUGIN_H
#define FL_PLUGIN_H

#include <flinc/flinc.h>

typedef struct fl_plugin fl_plugin;

/* Load `path`, find the entry symbol and check its ABI version. On failure
 * returns an error and writes one line (naming the file and what was wrong)
 * into err. */
int fl_plugin_open(const char *path, fl_plugin **out, char *err, size_t errcap);
void fl_plugin_close(fl_plugin *p); /* NULL is a no-op */
const flinc_plugin *fl_plugin_entry(const fl_plugin *p);
const char *fl_plugin_path(const fl_plugin *p);

#endif
