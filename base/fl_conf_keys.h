/*
 * fl_conf_keys.h - the table of every configuration key flinc reads.
 *
 * One line per key (conf_keys.c): its type, allowed range or values, its
 * documented default and its scope. The daemons, the CLI and the job
 * manager's submit step check configuration against it, so a typo or a
 * value out of range is one clear line before anything runs:
 *
 *   unknown configuration key 'state.backnd' (did you mean 'state.backend'?)
 *   execution.buffer-size: '1' is not a size from 1kb to 64mb (like 32kb)
 *
 * Rules (docs/config.md): an unknown key is an error for -D and for a
 * job's REST flinkConfiguration, a warning in a configuration file (so a
 * newer file still loads). Keys under "user." are the job's own (read with
 * flinc_env_config / flinc_ctx_config) and never checked. A cluster key
 * (scope FL_CK_CLUSTER) cannot be set by a job.
 *
 * A new key: add its line to the table in conf_keys.c, and to
 * docs/config.md; the code that reads it keeps reading it with fl_conf_*.
 *
 * Threads: the table is constant; every function is thread-safe.
 */
#ifndef FL_CONF_KEYS_H
#define FL_CONF_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_conf.h"

typedef enum fl_ck_type {
	FL_CK_INT,      /* whole number in [min, max] */
	FL_CK_NUMBER,   /* decimal number in [min, max] */
	FL_CK_BOOL,     /* true/false (also 1/0, yes/no) */
	FL_CK_DURATION, /* "500ms", "10s", "2min" (bare number: ms), in [min, max] ms */
	FL_CK_SIZE,     /* "64kb", "32mb" (bare number: bytes), in [min, max] bytes */
	FL_CK_ENUM,     /* one of `values` ("a|b|c"), case-insensitive */
	FL_CK_STRING,   /* any text */
	FL_CK_PATH,     /* a file or folder path (empty: none), no control characters */
	FL_CK_ADDRESS,  /* a host name or IP address: no '/', no white space */
} fl_ck_type;

typedef enum fl_ck_scope {
	FL_CK_JOB,     /* a job may set it (-D of run/local, flinkConfiguration) */
	FL_CK_CLUSTER, /* the daemons' own setting; refused in a job's configuration */
} fl_ck_scope;

typedef struct fl_conf_key {
	const char *key;
	fl_ck_type type;
	fl_ck_scope scope;
	int64_t min, max;   /* INT, DURATION (ms), SIZE (bytes); NUMBER too */
	const char *values; /* ENUM: "a|b|c" */
	const char *def;    /* documented default; NULL: none */
	const char *note;   /* without a default: what the programs do without the key */
} fl_conf_key;

/* The prefix of the keys a job keeps for itself (never checked). */
#define FL_CONF_USER_PREFIX "user."
/* The prefix of the Kafka client's own properties: "kafka.PROPERTY" goes to
 * librdkafka as PROPERTY (docs/kafka.md), which checks it when a Kafka
 * source or sink is built; not checked here. */
#define FL_CONF_KAFKA_PREFIX "kafka."

/* Is key in a family this table leaves to its owner (user., kafka.)? */
bool fl_conf_key_delegated(const char *key);

/* The table entry of key, or NULL for a key flinc does not know. */
const fl_conf_key *fl_conf_key_find(const char *key);
/* Every entry, in the table's order (grouped by room). */
const fl_conf_key *fl_conf_keys(size_t *n);
/* The known key closest to key by edit distance, or NULL when none is
 * close enough to be a likely typo. */
const char *fl_conf_key_closest(const char *key);

/* Check one value against its entry: FLINC_OK, or FLINC_ECONFIG with
 * "KEY: 'VALUE' is not ..." in err. */
int fl_conf_key_check(const fl_conf_key *k, const char *value, char *err, size_t errcap);

/* Write "unknown configuration key 'K' (did you mean 'C'?)" (or "... (see
 * docs/config.md)" when no key is close) into buf. */
void fl_conf_unknown_msg(char *buf, size_t cap, const char *key);

/* fl_conf_check flags. */
enum {
	FL_CONF_CHECK_JOB = 1,     /* a job's own settings: a cluster key is an error */
	FL_CONF_CHECK_LENIENT = 2, /* a file: an unknown key is a warning, not an error */
};
/* Called once per warning with one line (no newline); for a key loaded
 * from a file, the line starts with "line N: ". */
typedef void (*fl_conf_warn_fn)(void *ud, const char *line);

/* Check every key of c in order: its name (unknown: an error naming the
 * closest known key, or with FL_CONF_CHECK_LENIENT a warning through warn),
 * its scope (FL_CONF_CHECK_JOB) and its value. Keys under "user." pass.
 * FLINC_OK, or FLINC_ECONFIG with the first problem in err (one line, the
 * key named; "line N: " first for a key from a file). warn may be NULL. */
int fl_conf_check(const fl_conf *c, unsigned flags, fl_conf_warn_fn warn, void *ud, char *err, size_t errcap);

/* A boolean value as the table reads it: 1 true, 0 false, -1 neither. */
int fl_conf_parse_bool(const char *v);

#endif
