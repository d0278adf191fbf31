/*
 * stores.h - what the store sinks share (docs/sinks.md): the parsed
 * `influxdb://` and `postgresql://` addresses (store_addr.c), the JSON
 * record -> InfluxDB line protocol conversion and the JSON check of the
 * PostgreSQL sink (store_line.c), and the two builders flinc_sink_to
 * dispatches to (influx_sink.c, pg_sink.c). Internal to libflinc.
 *
 * Build time (the parsers) runs on the plugin's build thread; a parsed
 * address lives in the env's pool, valid as long as the graph. The
 * conversion functions read only their arguments (any thread).
 */
#ifndef FL_STORES_H
#define FL_STORES_H

#include <flinc/flinc.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- addresses ----------------------------------------------------------- */

/* influxdb://[USER[:PASS]@]HOST[:PORT]/DB[?OPTION=VALUE&...] */
typedef struct fl_influx_addr {
	const char *display; /* the address with the password masked, for messages */
	const char *host;    /* without the brackets of an IPv6 literal */
	const char *port;    /* default "8086" */
	const char *db;
	const char *user, *pass; /* NULL: none */
	const char *measurement; /* default: the sink's name */
	const char **tags;       /* keys written as tags (dotted for nested objects) */
	size_t ntags;
	const char *time_field; /* default "timestamp" */
	uint32_t batch_points;  /* POST when this many points are buffered (default 5000) */
	uint64_t batch_bytes;   /* ... or this many bytes (default 4 MiB) */
	int64_t linger_ms;      /* ... or the oldest buffered point is this old (default 1000) */
	uint32_t retries;       /* attempts of one POST after the first (default 3) */
	int64_t timeout_ms;     /* connect, send and answer, each (default 30 s) */
	bool create;            /* CREATE DATABASE at open (default true) */
	bool refused_skip;      /* refused=skip: points InfluxDB refuses (400) are counted, not fatal */
} fl_influx_addr;

/* The default tags: the low-cardinality categories and the ids of the
 * seed jobs' records (docs/sinks.md). */
#define FL_INFLUX_DEFAULT_TAGS "alertType,kind,sensorType,eventType,sensorId,userId,page"

const fl_influx_addr *fl_influx_parse(flinc_env *e, const char *address, const char *what);

typedef enum fl_pg_delivery {
	FL_PG_EXACTLY_ONCE, /* prepared transactions committed when the checkpoint completes */
	FL_PG_AT_LEAST_ONCE /* a plain transaction committed at each checkpoint barrier */
} fl_pg_delivery;

/* postgresql://[USER[:PASS]@]HOST[:PORT]/DB?table=NAME[&OPTION=VALUE...]:
 * flinc's options are taken out; what remains is a libpq URI (so every
 * libpq parameter works: sslmode, host=/unix/dir, ...). */
typedef struct fl_pg_addr {
	const char *display;  /* the address with the password masked */
	const char *conninfo; /* the libpq URI */
	const char *table;    /* as given: NAME or SCHEMA.NAME */
	const char *id_field; /* the generated id column's key (default "alertId") */
	const char *prefix;   /* of the prepared transactions' gids */
	fl_pg_delivery delivery;
	uint64_t batch_bytes; /* one COPY per this many bytes (default 1 MiB) */
	bool create;          /* CREATE TABLE IF NOT EXISTS at open (default true) */
} fl_pg_addr;

/* `what` is the sink's name: the default gid prefix is flinc:TABLE:WHAT. */
const fl_pg_addr *fl_pg_parse(flinc_env *e, const char *address, const char *what);

/* ---- record conversion ---------------------------------------------------- */

/* A growable byte buffer (grown by doubling, never shrunk: no allocation
 * per record once it reached its size). */
typedef struct fl_buf {
	char *p;
	size_t len, cap;
} fl_buf;
/* false when memory ran out (the buffer is unchanged). */
bool fl_buf_reserve(fl_buf *b, size_t more);
bool fl_buf_add(fl_buf *b, const void *p, size_t n);
void fl_buf_free(fl_buf *b);

/* How records become points. */
typedef struct fl_influx_fmt {
	const char *measurement;
	const char *const *tags;
	size_t ntags;
	const char *time_field;
} fl_influx_fmt;

/* Append the line-protocol line (ended by '\n') of the JSON object
 * json[0..len) to out, with `fields` as scratch (both owned by the caller,
 * reused across records). Timestamp in nanoseconds: the time field's epoch
 * milliseconds (an ISO-8601 string, or a number of ms) times 10^6, plus a
 * hash of the record's bytes modulo 10^6, so two different records never
 * overwrite each other while the same record written again overwrites
 * itself (docs/sinks.md). Returns FLINC_OK, FLINC_ECODEC with a short
 * reason in why (the record is refused; out is unchanged) or FLINC_ENOMEM. */
int fl_influx_line(const fl_influx_fmt *f, const char *json, size_t len, fl_buf *out, fl_buf *fields,
		   char *why, size_t whycap);

/* Check that json[0..len) is one JSON object PostgreSQL's jsonb takes
 * (valid UTF-8, no \u0000). FLINC_OK or FLINC_ECODEC with a reason. */
int fl_json_check(const char *json, size_t len, char *why, size_t whycap);

/* Append json[0..len) as one field of a COPY ... FROM STDIN text-format row
 * (backslash, tab, CR and LF as COPY escapes: JSON may have the last three
 * between its tokens).
 * false when memory ran out. */
bool fl_pg_copy_field(fl_buf *out, const char *json, size_t len);

/* ISO-8601 date-time (YYYY-MM-DDTHH:MM:SS[.fraction][Z|+HH:MM|-HH:MM], or a
 * space for the T) to epoch milliseconds. */
int fl_iso8601_ms(const char *s, size_t n, int64_t *out);

/* ---- builders (flinc_sink_to) --------------------------------------------- */

int fl_influx_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address,
		      flinc_format_fn fmt);
int fl_pg_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *address, flinc_format_fn fmt);

#endif
