/*
 * fl_conf.h - key/value configuration: flinc.conf files and -D overrides.
 *
 * The one parser of configuration in flinc: the daemons, the CLI and (via
 * `flinc config get`) the scripts all read settings through it.
 * Threads: a fl_conf is not locked; share it read-only once built.
 */
#ifndef FL_CONF_H
#define FL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ordered key/value pairs; later sets win. Values are copied. */
typedef struct fl_conf fl_conf;
fl_conf *fl_conf_create(void);
void fl_conf_destroy(fl_conf *c); /* NULL: nothing */
void fl_conf_set(fl_conf *c, const char *key, const char *value);
/* Parse "key=value" (as given to -D); FLINC_EINVAL without '='. */
int fl_conf_set_kv(fl_conf *c, const char *kv);
/* Load a file of "key: value" lines (# comments). On error *msg names the
 * file and line. */
int fl_conf_load(fl_conf *c, const char *path, char *msg, size_t msgcap);
const char *fl_conf_get(const fl_conf *c, const char *key);
size_t fl_conf_count(const fl_conf *c);
void fl_conf_at(const fl_conf *c, size_t i, const char **key, const char **value);
/* The line of the file pair i was loaded from (fl_conf_load), 0 when it
 * was set otherwise (-D, fl_conf_set). */
int fl_conf_line(const fl_conf *c, size_t i);
/* Typed reads; *ok set false (and default returned) on a malformed value. */
int64_t fl_conf_i64(const fl_conf *c, const char *key, int64_t def, bool *ok);
/* Durations "500ms", "10s", "2min", "1h"; bare number = ms. */
int64_t fl_conf_duration_ms(const fl_conf *c, const char *key, int64_t def, bool *ok);
/* Sizes "64kb", "32mb", "1gb"; bare number = bytes. */
int64_t fl_conf_size(const fl_conf *c, const char *key, int64_t def, bool *ok);
int fl_parse_duration_ms(const char *s, int64_t *out);
int fl_parse_size(const char *s, int64_t *out);

#endif
