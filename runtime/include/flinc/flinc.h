/*
 * flinc/flinc.h - the job API.
 *
 * A job is a shared object that exports one `flinc_plugin` named
 * `flinc_plugin_entry` (see FLINC_PLUGIN below). The host loads it, checks
 * the ABI version, and calls `build` with a `flinc_env` and the job's
 * arguments; `build` declares the dataflow graph with the functions here.
 * The host may call `build` more than once (the job manager to validate and
 * show the graph, every task manager to run its tasks): it must reach the same
 * graph from the same arguments and keep no global state.
 *
 * Records are C structs described by a `flinc_type`. Inside an operator chain
 * a record travels as a pointer by direct function calls; it is encoded with
 * the type's msgpack `encode` only where it leaves the chain (exchange between
 * tasks, keyed state, sinks that need bytes). A record handed to a function is
 * borrowed: valid until that function returns. Keep anything longer in keyed
 * state or copy it into memory the function owns.
 *
 * Threads: every function a job gives is called from exactly one subtask
 * thread for a given operator instance; operator code never needs locks. The
 * `flinc_ctx` passed in belongs to that instance and that thread.
 *
 * Errors: functions returning int return FLINC_OK (0) or a negative
 * flinc_error; flinc_strerror names it.
 */
#ifndef FLINC_FLINC_H
#define FLINC_FLINC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <flinc/codec.h>
#include <flinc/error.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI of this header. A plugin built against another major ABI is
 * refused with a message naming both versions. */
#define FLINC_ABI_VERSION 1u

/* ---- time ------------------------------------------------------------ */

/* Timestamps and watermarks are milliseconds since the Unix epoch (UTC). */
#define FLINC_TS_NONE INT64_MIN       /* record without event time */
#define FLINC_WATERMARK_MIN INT64_MIN /* nothing known yet */
#define FLINC_WATERMARK_MAX INT64_MAX /* end of input */

typedef enum flinc_time_domain {
	FLINC_EVENT_TIME = 0,
	FLINC_PROCESSING_TIME = 1,
} flinc_time_domain;

/* ---- scratch memory -------------------------------------------------- */

/* A bump allocator owned by the runtime. Memory from the arena of a ctx lives
 * until the current input record (or source step, or timer) is done. */
typedef struct flinc_arena flinc_arena;
FLINC_API void *flinc_arena_alloc(flinc_arena *a, size_t n);
FLINC_API char *flinc_arena_strndup(flinc_arena *a, const char *s, size_t n);

/* ---- record types ---------------------------------------------------- */

#define FLINC_TYPE_VERSION 1u

/* POD: the struct has no pointers and its bytes are its value; the runtime
 * may memcpy it inside one process and store it as is in memory state. */
#define FLINC_TYPE_POD 0x1u

typedef struct flinc_type {
	uint32_t version; /* FLINC_TYPE_VERSION */
	const char *name;
	size_t size;    /* sizeof the struct */
	uint32_t flags; /* FLINC_TYPE_* */
	/* Write the record as msgpack. Return 0; overflow is seen in w->err and
	 * the runtime retries with a larger buffer. Required. */
	int (*encode)(const void *rec, flinc_writer *w);
	/* Fill `rec` (zeroed, `size` bytes) from msgpack. Strings may point into
	 * the reader's buffer; anything else needed comes from `a`. Return 0, or
	 * non-zero (or leave r->err set) for malformed input, which the runtime
	 * counts as a rejected record. Required. */
	int (*decode)(flinc_reader *r, void *rec, flinc_arena *a);
} flinc_type;

/* Built-in types. */
typedef struct flinc_line {
	const char *s; /* not NUL-terminated */
	uint32_t len;
} flinc_line;
typedef flinc_line flinc_str;                      /* a string field: bytes and length */
FLINC_API extern const flinc_type flinc_type_line; /* flinc_line */
FLINC_API extern const flinc_type flinc_type_i64;  /* int64_t, POD */
FLINC_API extern const flinc_type flinc_type_f64;  /* double, POD */

/* Declarative codecs for plain structs: list the fields once and get the
 * type. The encoding is a msgpack array of the fields in order; decoding
 * accepts fewer elements (missing fields stay zero) and more (skipped), so
 * a job may append fields to a struct and still read older state. Only the
 * order and kinds of the fields are encoded, never their names.
 *
 *   typedef struct bid { int64_t auction; double price; flinc_str channel; } bid;
 *   FLINC_STRUCT_TYPE(bid_type, bid, "Bid", 0,
 *                     FLINC_FIELD(bid, auction, FLINC_FIELD_I64),
 *                     FLINC_FIELD(bid, price, FLINC_FIELD_F64),
 *                     FLINC_FIELD(bid, channel, FLINC_FIELD_STR));
 *
 * Decoded strings point into the input buffer. The same lists (the type's
 * `<var>_fields`, or any other array of flinc_field over the struct: a subset,
 * another order, other names) write the record as JSON: flinc_fields_json and
 * FLINC_JSON_FORMAT below. */
typedef enum flinc_field_kind {
	FLINC_FIELD_I64 = 0,  /* int64_t */
	FLINC_FIELD_I32 = 1,  /* int32_t */
	FLINC_FIELD_U64 = 2,  /* uint64_t */
	FLINC_FIELD_F64 = 3,  /* double */
	FLINC_FIELD_BOOL = 4, /* bool */
	FLINC_FIELD_STR = 5,  /* flinc_str */
	/* int64_t milliseconds since the epoch (UTC). Encoded as the integer;
	 * written to JSON as an ISO-8601 string "2024-10-03T17:10:05.123Z";
	 * read from JSON as an ISO-8601 string with a zone (Z or +hh:mm) or
	 * an integer of epoch ms (flinc_json_parse). */
	FLINC_FIELD_TIMESTAMP_MS = 6,
	/* FLINC_FIELD_DECIMAL(0) .. FLINC_FIELD_DECIMAL(18), see below. */
	FLINC_FIELD_DECIMAL_0 = 0x100,
	FLINC_FIELD_DECIMAL_18 = 0x112,
} flinc_field_kind;

/* An int64_t counting units of 10^-scale (0 <= scale <= 18), as SQL's
 * DECIMAL(p, scale): encoded as the integer, so a FLINC_FIELD_I64 may become
 * a decimal without changing stored state; written to JSON as a number with
 * exactly `scale` decimals (12345 at scale 3: 12.345, -5 at scale 3: -0.005).
 * A runtime older than this header rejects the kind (FLINC_EINVAL). */
#define FLINC_FIELD_DECIMAL(scale) ((flinc_field_kind)(FLINC_FIELD_DECIMAL_0 + (scale)))

/* A flag on a field's kind: flinc_json_parse refuses a record without the
 * field ("missing field NAME"; a JSON null counts as missing). Every other
 * function ignores it: FLINC_REQUIRED(FLINC_FIELD_STR) encodes as a string.
 * A runtime older than this header rejects the flagged kind. */
#define FLINC_FIELD_REQUIRED 0x10000
#define FLINC_REQUIRED(kind) ((flinc_field_kind)((kind) | FLINC_FIELD_REQUIRED))

/* One field of a struct. The layout of this entry is part of the plugin ABI
 * (arrays of it live in the plugin and are read by the host): never change
 * it; new kinds of field are new flinc_field_kind values. */
typedef struct flinc_field {
	const char *name; /* JSON key; never NULL */
	flinc_field_kind kind;
	size_t offset; /* of the value in the struct */
} flinc_field;

/* A field named as its member is spelled (`u.bid.price` for a nested one). */
#define FLINC_FIELD(ctype, member, kind)                 \
	{                                                \
#member, (kind), offsetof(ctype, member) \
	}
/* A field with its own name (a string literal), for output whose keys are
 * not C identifiers or differ from the member's ("dateTime" for date_time). */
#define FLINC_FIELD_NAMED(ctype, member, kind, name)    \
	{                                               \
		(name), (kind), offsetof(ctype, member) \
	}

FLINC_API int flinc_fields_encode(const flinc_field *f, size_t n, const void *rec, flinc_writer *w);
FLINC_API int flinc_fields_decode(const flinc_field *f, size_t n, flinc_reader *r, void *rec);

/* Write the n fields f of the struct at rec as one JSON object into buf, like
 * snprintf: `{"name":value,...}` in the order of f, no spaces, no newline.
 * Values: integer kinds in decimal; FLINC_FIELD_BOOL true/false; F64 in the
 * shortest "%.15g".."%.17g" form that reads back as the same double, with
 * ".0" appended to an integral value (2.0, 1e+20) and null for NaN and
 * infinities; decimals as described above; strings (and the keys) quoted with
 * '"', '\\' and control characters escaped (\n, \r, \t, otherwise \u00XX),
 * valid UTF-8 copied as it is and each byte of an invalid UTF-8 sequence
 * written as \ufffd, so the output is always valid JSON in UTF-8. A
 * flinc_str with s == NULL is "", as flinc_fields_encode writes it.
 *
 * *len (if len is not NULL) gets the object's length without the NUL. When
 * it is less than cap, buf holds the whole object and a NUL; otherwise buf
 * holds the first cap - 1 bytes and a NUL (nothing when cap is 0), and a
 * buffer of *len + 1 bytes will do. No allocation; buf is the caller's and
 * only buf[0..cap) is written.
 *
 * Returns FLINC_OK; FLINC_ERANGE when the object did not fit (cap <= *len);
 * FLINC_EINVAL when a field has an unknown kind or a NULL name (the value is
 * written as null, the key as "", and the rest of the object is complete).
 * FLINC_EINVAL wins over FLINC_ERANGE.
 * Threads: any; reads only f and rec. The decimal point is '.' whatever the
 * C locale says. */
FLINC_API int flinc_fields_json(const flinc_field *f, size_t n, const void *rec, char *buf, size_t cap,
				size_t *len);

/* Define `static size_t fn(const void *rec, char *buf, size_t cap)`, a
 * flinc_format_fn for flinc_sink_to that writes each record as a JSON line
 * with the fields of `fields`, which must be an array (its length is taken
 * with sizeof), e.g. the `<var>_fields` of a FLINC_STRUCT_TYPE. */
#define FLINC_JSON_FORMAT(fn, fields)                                                                  \
	static size_t fn(const void *rec, char *buf, size_t cap)                                       \
	{                                                                                              \
		size_t len_ = 0;                                                                       \
		(void)flinc_fields_json((fields), sizeof(fields) / sizeof((fields)[0]), rec, buf, cap, \
					&len_);                                                        \
		return len_;                                                                           \
	}

/* ---- JSON records in ----------------------------------------------- */

#define FLINC_JSON_MAX_BYTES (1 << 20) /* a longer record is refused */
#define FLINC_JSON_MAX_DEPTH 64        /* deeper nesting is refused */

/* Parse one JSON object (json[0..len), need not be NUL-terminated) into the
 * struct at rec, by the n fields f: each field's name is a key, a dotted
 * name ("location.lat") a key of a nested object. Values convert to the
 * field's kind: integers (no fraction or exponent; out of range refused),
 * F64 (any number), DECIMAL(scale) (exact; more decimals than the scale
 * refused), BOOL (true/false), STR (pointing into json when it has no
 * escapes, else decoded into `a`), TIMESTAMP_MS (ISO-8601 or epoch ms).
 * null is treated as an absent key. Keys not in f are skipped (but checked);
 * fields absent from the record are left as they are in rec (zero it
 * first). The whole input must be one valid JSON object in UTF-8 with
 * nothing but white space after it.
 *
 * Returns FLINC_OK; FLINC_ECODEC for a record that is refused, with a short
 * reason in why[0..whycap) ("not a JSON object", "missing field userId",
 * "amount: expected a number", "invalid UTF-8 at byte 17", "duplicate key
 * userId", "record larger than 1048576 bytes", "nesting deeper than 64");
 * FLINC_EINVAL when f itself is bad (a field without a name, an unknown
 * kind, more than 256 fields). rec may be partly written on failure.
 * No allocation but escaped strings from `a` (NULL: such a string is
 * refused). Threads: any; reads only its arguments. */
FLINC_API int flinc_json_parse(const flinc_field *f, size_t n, const char *json, size_t len, void *rec,
			       flinc_arena *a, char *why, size_t whycap);

/* flinc_json_parse of a line inside an operator, with the ctx's arena: true
 * when rec (zeroed by the caller) holds the record; false when it was
 * refused, after flinc_ctx_reject with the reason (so it reaches the job's
 * dead letters, see flinc_dead_letters_to). The usual first step of a job
 * reading JSON lines:
 *
 *   static void parse(flinc_ctx *c, const void *in) {
 *           txn t = { 0 };
 *           if (flinc_json_record(c, txn_fields, N, in, &t)) flinc_emit(c, &t);
 *   }
 */
typedef struct flinc_ctx flinc_ctx;
FLINC_API bool flinc_json_record(flinc_ctx *c, const flinc_field *f, size_t n, const flinc_line *in,
				 void *rec);

#define FLINC_STRUCT_TYPE(var, ctype, tname, tflags, ...)                                                   \
	static const flinc_field var##_fields[] = { __VA_ARGS__ };                                          \
	static int var##_encode(const void *rec, flinc_writer *w)                                           \
	{                                                                                                   \
		return flinc_fields_encode(var##_fields, sizeof var##_fields / sizeof var##_fields[0], rec, \
					   w);                                                              \
	}                                                                                                   \
	static int var##_decode(flinc_reader *r, void *rec, flinc_arena *a)                                 \
	{                                                                                                   \
		(void)a;                                                                                    \
		return flinc_fields_decode(var##_fields, sizeof var##_fields / sizeof var##_fields[0], r,   \
					   rec);                                                            \
	}                                                                                                   \
	static const flinc_type var = { FLINC_TYPE_VERSION, (tname),      sizeof(ctype),                    \
					(tflags),           var##_encode, var##_decode }

/* ---- keys ------------------------------------------------------------ */

#define FLINC_KEY_MAX 256

/* Write the key of `rec` into buf (cap = FLINC_KEY_MAX bytes) and return its
 * length. Equal keys must give equal bytes; the bytes are hashed to a key
 * group. A length of 0 or above cap rejects the record. */
typedef size_t (*flinc_key_fn)(const void *rec, uint8_t *buf, size_t cap);

/* Event time of a record, for flinc_assign_timestamps. */
typedef int64_t (*flinc_timestamp_fn)(const void *rec);

/* ---- runtime context ------------------------------------------------- */

typedef struct flinc_ctx flinc_ctx;
typedef struct flinc_tag flinc_tag;

/* Emit to the operator's main output with the current record's timestamp
 * (for a timer: the timer's time; for a window result: window end - 1). The
 * record is copied or consumed before the call returns. */
FLINC_API void flinc_emit(flinc_ctx *c, const void *rec);
FLINC_API void flinc_emit_ts(flinc_ctx *c, const void *rec, int64_t ts);
/* Emit to a side output declared with flinc_tag_new. */
FLINC_API void flinc_emit_side(flinc_ctx *c, const flinc_tag *tag, const void *rec);

FLINC_API int64_t flinc_ctx_timestamp(const flinc_ctx *c); /* current record's event time */
FLINC_API int64_t flinc_ctx_watermark(const flinc_ctx *c); /* current input watermark */
FLINC_API int64_t flinc_ctx_now(const flinc_ctx *c);       /* processing time, ms */
/* Key of the current record or timer in a keyed operator; NULL otherwise. */
FLINC_API const void *flinc_ctx_key(const flinc_ctx *c, size_t *len);
FLINC_API int flinc_ctx_subtask(const flinc_ctx *c);     /* 0-based index */
FLINC_API int flinc_ctx_parallelism(const flinc_ctx *c); /* of this operator */
FLINC_API const void *flinc_ctx_arg(const flinc_ctx *c); /* `arg` given at build */
FLINC_API flinc_arena *flinc_ctx_arena(flinc_ctx *c);
FLINC_API const char *flinc_ctx_config(const flinc_ctx *c, const char *key); /* -D key=value */
/* The id of the checkpoint or savepoint this run restored from: 0 for a
 * fresh start of a checkpointed job, -1 when the job does not checkpoint.
 * Two-phase-commit sinks commit what they pre-committed up to it and
 * discard the rest. */
FLINC_API int64_t flinc_ctx_restored_checkpoint(const flinc_ctx *c);
/* Count a malformed input as rejected (visible in metrics and the log, first
 * few with `why`); processing goes on. */
FLINC_API void flinc_ctx_reject(flinc_ctx *c, const char *why);
/* Fail the task (and so the job, or trigger a restart) with a message. */
FLINC_API void flinc_ctx_fail(flinc_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- timers (keyed operators; scoped to the current key) -------------- */

/* Timers are deduplicated per (key, time, domain). An event-time timer fires
 * once the watermark reaches `ts`; a processing-time timer once the clock
 * does. Both are part of checkpoints. */
FLINC_API void flinc_timer_register(flinc_ctx *c, flinc_time_domain d, int64_t ts);
FLINC_API void flinc_timer_delete(flinc_ctx *c, flinc_time_domain d, int64_t ts);

/* ---- keyed state (scoped to the current key) ------------------------- */

typedef struct flinc_state flinc_state;

/* Declare in `open`. Names are unique per operator and identify the state in
 * savepoints. Values are of type `t` (encoded with it when the backend needs
 * bytes; POD values are stored as they are in the memory backend). */
FLINC_API flinc_state *flinc_state_value(flinc_ctx *c, const char *name, const flinc_type *t);
FLINC_API flinc_state *flinc_state_list(flinc_ctx *c, const char *name, const flinc_type *t);
FLINC_API flinc_state *flinc_state_map(flinc_ctx *c, const char *name, const flinc_type *t);
/* A value state whose adds are folded with `reduce(acc, in)`. */
FLINC_API flinc_state *flinc_state_reducing(flinc_ctx *c, const char *name, const flinc_type *t,
					    void (*reduce)(void *acc, const void *in));

/* Value (and reducing) state. get returns NULL when absent; the pointer is
 * valid until the next call on any state of this operator. */
FLINC_API const void *flinc_value_get(flinc_state *s);
FLINC_API int flinc_value_put(flinc_state *s, const void *v);
FLINC_API int flinc_reducing_add(flinc_state *s, const void *v);
/* Read-modify-write in one lookup: a writable value for the current key,
 * the stored one or, when absent, a zeroed new one (*created = true).
 * Changes are stored when the current record (or timer) is done, or at the
 * next call on this state, whichever comes first; the pointer is valid
 * until then. POD values in the memory backend are updated in place. */
FLINC_API void *flinc_value_mut(flinc_state *s, bool *created);
/* Remove the current key's entry (any kind of state). */
FLINC_API void flinc_state_clear(flinc_state *s);

/* List state. foreach calls fn for each element in insertion order; fn
 * returns 0 to go on, non-zero to stop (returned by foreach). */
FLINC_API int flinc_list_add(flinc_state *s, const void *v);
FLINC_API int flinc_list_foreach(flinc_state *s, int (*fn)(void *ud, const void *v), void *ud);

/* Map state: user keys are bytes (at most FLINC_KEY_MAX). */
FLINC_API const void *flinc_mapst_get(flinc_state *s, const void *uk, size_t uklen);
FLINC_API int flinc_mapst_put(flinc_state *s, const void *uk, size_t uklen, const void *v);
FLINC_API int flinc_mapst_remove(flinc_state *s, const void *uk, size_t uklen);
FLINC_API int flinc_mapst_foreach(flinc_state *s,
				  int (*fn)(void *ud, const void *uk, size_t uklen, const void *v), void *ud);

/* ---- event-time buffer (keyed) ----------------------------------------
 *
 * Records wait per key until the watermark passes their time, then come
 * out oldest first (arrival order among equal times): how CEP and the seed
 * jobs see each key's events in event-time order, whatever order the
 * input delivered them in. One event-time timer per key wakes it, at or
 * before its oldest record; a record registers one only when it is older
 * than the key's wake-up.
 *
 * State, all absent for a key with nothing waiting: value state
 * "<name>.wake" (the wake-up time, an arrival counter, the layout) and the
 * records, in list state "<name>.list" (arrival order; a release writes
 * back what stays) or, with RocksDB once more than 32 would be written
 * back, in map state `name` sorted by (time, arrival): a release then
 * reads only what it hands out, so records far ahead of the watermark
 * cost nothing while they wait. docs/job-api.md "Event-time buffer". */
typedef struct flinc_evbuf flinc_evbuf;
/* Declare in `open` (like a state). NULL (and the task failed) on error. */
FLINC_API flinc_evbuf *flinc_evbuf_declare(flinc_ctx *c, const char *name, const flinc_type *t);
/* Buffer `rec` with time ts for the current key. FLINC_OK or an error. */
FLINC_API int flinc_evbuf_add(flinc_evbuf *b, int64_t ts, const void *rec);
/* In on_timer (event time), upto: the watermark (or the timer's time if
 * later). When the key's wake-up is due, fn gets each of its records with
 * time <= upto, oldest first, and they leave the buffer; the wake-up moves
 * to the oldest record left. fn may use state, timers and emit; records
 * it adds to this buffer wait for a later call. A non-zero from fn stops
 * the calls (the records are gone all the same). Returns how many records
 * left the buffer, or a negative FLINC_E* (the task is failed). */
FLINC_API int64_t flinc_evbuf_release(flinc_evbuf *b, int64_t upto,
				      int (*fn)(void *ud, int64_t ts, const void *rec), void *ud);
/* For a job whose older version buffered in a list state: in `open`, after
 * declare, moves every key's elements of list state `list_name` (elements
 * of type lt; convert writes an element's record into `rec`, zeroed, of
 * the buffer's type, and returns its time) into b, with a timer at each
 * key's oldest, and removes the list. A no-op when no such state was
 * restored. FLINC_OK or an error (the task is failed). */
FLINC_API int flinc_evbuf_adopt_list(flinc_evbuf *b, const char *list_name, const flinc_type *lt,
				     int64_t (*convert)(const void *elem, void *rec));
/* In `open`: remove every entry of state `name` (any kind) that an older
 * version of the job declared and this one does not use any more, so that
 * restored state does not linger in every later checkpoint. A no-op when
 * there is none. FLINC_OK or an error (the task is failed). */
FLINC_API int flinc_state_drop(flinc_ctx *c, const char *name);

/* ---- user functions -------------------------------------------------- */

#define FLINC_FN_VERSION 1u

typedef bool (*flinc_filter_fn)(flinc_ctx *c, const void *in);
/* `out` is zeroed scratch of the output type's size; it is emitted after. */
typedef void (*flinc_map_fn)(flinc_ctx *c, const void *in, void *out);
/* Emits any number of records with flinc_emit. */
typedef void (*flinc_flat_map_fn)(flinc_ctx *c, const void *in);

/* A process function (keyed when its input is keyed: then it may use state
 * and timers). For flinc_co_process, process2 handles the second input. Every
 * field but `version` and `process` is optional. `local` is `local_size`
 * zeroed bytes private to the subtask. */
typedef struct flinc_process_fn {
	uint32_t version; /* FLINC_FN_VERSION */
	size_t local_size;
	int (*open)(flinc_ctx *c, void *local);
	void (*process)(flinc_ctx *c, void *local, const void *in);
	void (*process2)(flinc_ctx *c, void *local, const void *in);
	void (*on_timer)(flinc_ctx *c, void *local, int64_t ts, flinc_time_domain d);
	/* All input ended; called after the final watermark fired timers. */
	void (*end_input)(flinc_ctx *c, void *local);
	void (*close)(flinc_ctx *c, void *local);
} flinc_process_fn;

/* Source. `run` emits at most `budget` records and returns one of the
 * FLINC_SOURCE_* codes or a negative error. Each subtask reads its own split
 * (flinc_ctx_subtask / flinc_ctx_parallelism). `snapshot` writes the read
 * position and `restore` reads it back (checkpoints). */
enum {
	FLINC_SOURCE_MORE = 0, /* call again */
	FLINC_SOURCE_IDLE = 1, /* nothing available right now */
	FLINC_SOURCE_END = 2,  /* this split is exhausted */
};
typedef struct flinc_source_fn {
	uint32_t version; /* FLINC_FN_VERSION */
	size_t local_size;
	int (*open)(flinc_ctx *c, void *local);
	int (*run)(flinc_ctx *c, void *local, uint32_t budget);
	int (*snapshot)(flinc_ctx *c, void *local, flinc_writer *w);
	int (*restore)(flinc_ctx *c, void *local, flinc_reader *r);
	void (*close)(flinc_ctx *c, void *local);
} flinc_source_fn;

/* Sink. `write` gets each record. `flush` makes what was written durable
 * before a checkpoint barrier passes (pre-commit); `commit` publishes what
 * checkpoint `id` covered once that checkpoint completed. At the end of a
 * bounded input the runtime calls flush then commit with
 * FLINC_CHECKPOINT_FINAL. */
#define FLINC_CHECKPOINT_FINAL INT64_MAX
typedef struct flinc_sink_fn {
	uint32_t version; /* FLINC_FN_VERSION */
	size_t local_size;
	int (*open)(flinc_ctx *c, void *local);
	int (*write)(flinc_ctx *c, void *local, const void *rec);
	int (*flush)(flinc_ctx *c, void *local, int64_t checkpoint_id);
	int (*commit)(flinc_ctx *c, void *local, int64_t checkpoint_id);
	void (*close)(flinc_ctx *c, void *local);
} flinc_sink_fn;

/* Format a record as one output line (without the newline) into buf, like
 * snprintf: return the length the full line needs; the runtime calls again
 * with a larger buffer when that is cap or more. */
typedef size_t (*flinc_format_fn)(const void *rec, char *buf, size_t cap);

/* Datagen: fill `out` (zeroed) with record number `index` (0-based, global
 * over all subtasks; subtask i of p produces the indices congruent to i mod
 * p). Strings may come from the ctx arena. Return false to stop early. */
typedef bool (*flinc_gen_fn)(flinc_ctx *c, uint64_t index, void *out);

/* ---- windows --------------------------------------------------------- */

typedef enum flinc_window_kind {
	FLINC_WINDOW_TUMBLING = 0,
	FLINC_WINDOW_SLIDING = 1,
	FLINC_WINDOW_SESSION = 2,
} flinc_window_kind;

typedef struct flinc_window_spec {
	flinc_window_kind kind;
	flinc_time_domain domain;
	int64_t size;             /* tumbling, sliding */
	int64_t slide;            /* sliding */
	int64_t gap;              /* session */
	int64_t offset;           /* window alignment offset, like Flink's */
	int64_t allowed_lateness; /* event time: late firings until end-1+lateness */
	const flinc_tag *late;    /* records later than that go here (input type), else dropped and counted */
} flinc_window_spec;

/* A time window (Flink's TimeWindow). */
typedef struct flinc_time_window {
	int64_t start; /* inclusive */
	int64_t end;   /* exclusive; the window's max timestamp is end - 1 */
} flinc_time_window;

typedef enum flinc_window_fn_kind {
	FLINC_WINDOW_REDUCE = 0,    /* acc is of the input type; add(acc, in) folds */
	FLINC_WINDOW_AGGREGATE = 1, /* acc of acc_type; init, add, merge */
	FLINC_WINDOW_PROCESS = 2,   /* all elements buffered; process iterates them */
} flinc_window_fn_kind;

typedef struct flinc_elements flinc_elements;
/* Next buffered element of a PROCESS window, or NULL at the end. */
FLINC_API const void *flinc_elements_next(flinc_elements *it);

typedef struct flinc_window_fn {
	uint32_t version; /* FLINC_FN_VERSION */
	flinc_window_fn_kind kind;
	const flinc_type *acc_type; /* AGGREGATE: accumulator type; REDUCE: the input type */
	void (*init)(void *acc);    /* AGGREGATE: set up a zeroed accumulator (optional) */
	void (*add)(void *acc, const void *in);
	/* Fold `other` into `acc`. Needed by session windows, and lets sliding
	 * windows share per-slice accumulators (without it every record is added
	 * to each window it belongs to). */
	void (*merge)(void *acc, const void *other);
	/* REDUCE/AGGREGATE: emit the result for the current key (flinc_ctx_key)
	 * and window. PROCESS: `acc` is NULL and `it` iterates the elements. */
	void (*emit)(flinc_ctx *c, const flinc_time_window *w, const void *acc, flinc_elements *it);
} flinc_window_fn;

/* ---- building the graph ---------------------------------------------- */

typedef struct flinc_env flinc_env;
typedef struct flinc_stream flinc_stream;

/* Job arguments, given as `--name value` or `--name=value` (a bare `--name`
 * is "true"). Each argument a job reads is marked used; any unused one fails
 * the build with "unknown argument". */
FLINC_API const char *flinc_arg(flinc_env *e, const char *name, const char *def);
FLINC_API int64_t flinc_arg_i64(flinc_env *e, const char *name, int64_t def);
FLINC_API double flinc_arg_f64(flinc_env *e, const char *name, double def);
FLINC_API bool flinc_arg_flag(flinc_env *e, const char *name);
/* A configuration value (-D key=value or the config file), or NULL. */
FLINC_API const char *flinc_env_config(flinc_env *e, const char *key);
FLINC_API int flinc_env_parallelism(flinc_env *e);
/* Record a build error; the first one is reported. Returns FLINC_EGRAPH. */
FLINC_API int flinc_env_fail(flinc_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Set the job's name (default: the plugin's). */
FLINC_API void flinc_env_set_name(flinc_env *e, const char *name);

/* A side-output tag of records of type t. */
FLINC_API const flinc_tag *flinc_tag_new(flinc_env *e, const char *name, const flinc_type *t);

/* Sources. */
FLINC_API flinc_stream *flinc_source(flinc_env *e, const char *name, const flinc_source_fn *fn,
				     const void *arg, const flinc_type *out);
/* `count` records (UINT64_MAX: unbounded) at `rate` per second in total
 * over all subtasks (0: as fast as possible). */
FLINC_API flinc_stream *flinc_datagen(flinc_env *e, const char *name, flinc_gen_fn gen, const void *arg,
				      const flinc_type *out, uint64_t count, double rate);
/* Text lines of a file, or of every file in a folder (bounded). Subtasks
 * split the input by files and byte ranges. `rate` lines/s in total, 0 = max. */
FLINC_API flinc_stream *flinc_file_source(flinc_env *e, const char *name, const char *path, double rate);

/* Attributes. uid names the operator stably across job versions (state in
 * savepoints maps by it); without one it derives from the graph position. */
FLINC_API flinc_stream *flinc_set_uid(flinc_stream *s, const char *uid);
FLINC_API flinc_stream *flinc_set_parallelism(flinc_stream *s, int parallelism);

/* Transformations. `arg` is handed to the functions via flinc_ctx_arg and
 * must outlive the job (static data, or from flinc_env_alloc). */
FLINC_API void *flinc_env_alloc(flinc_env *e, size_t n); /* zeroed; freed with the graph */
FLINC_API flinc_stream *flinc_map(flinc_stream *in, const char *name, flinc_map_fn fn, const void *arg,
				  const flinc_type *out);
FLINC_API flinc_stream *flinc_filter(flinc_stream *in, const char *name, flinc_filter_fn fn, const void *arg);
FLINC_API flinc_stream *flinc_flat_map(flinc_stream *in, const char *name, flinc_flat_map_fn fn,
				       const void *arg, const flinc_type *out);
FLINC_API flinc_stream *flinc_process(flinc_stream *in, const char *name, const flinc_process_fn *fn,
				      const void *arg, const flinc_type *out);
/* Event time from `ts`, watermarks = max seen - max_out_of_orderness - 1.
 * An input silent for idle_timeout ms (0: never) is marked idle so it does
 * not hold back downstream watermarks. */
FLINC_API flinc_stream *flinc_assign_timestamps(flinc_stream *in, flinc_timestamp_fn ts,
						int64_t max_out_of_orderness, int64_t idle_timeout);

/* Partitioning. */
FLINC_API flinc_stream *flinc_key_by(flinc_stream *in, flinc_key_fn key);
FLINC_API flinc_stream *flinc_rebalance(flinc_stream *in);
FLINC_API flinc_stream *flinc_broadcast(flinc_stream *in);

/* Several streams of the same type as one. */
FLINC_API flinc_stream *flinc_union(flinc_stream *a, flinc_stream *b);
/* Two inputs, one function (process for a, process2 for b); keyed when both
 * are keyed (their keys must be comparable bytes). */
FLINC_API flinc_stream *flinc_co_process(flinc_stream *a, flinc_stream *b, const char *name,
					 const flinc_process_fn *fn, const void *arg, const flinc_type *out);
/* Windows over a keyed stream; over a non-keyed one, one window for all
 * records (parallelism 1). */
FLINC_API flinc_stream *flinc_window(flinc_stream *in, const char *name, const flinc_window_spec *spec,
				     const flinc_window_fn *fn, const void *arg, const flinc_type *out);
/* The records an operator emitted to `tag`. */
FLINC_API flinc_stream *flinc_side_output(flinc_stream *of, const flinc_tag *tag);

/* Sinks. flinc_sink returns a stream without records, only to give the sink
 * a uid or a parallelism. */
FLINC_API flinc_stream *flinc_sink(flinc_stream *in, const char *name, const flinc_sink_fn *fn,
				   const void *arg);
/* One address for every shipped job's --output: "-" stdout, "" or NULL
 * discard (counted), "kafka://..." (docs/kafka.md), "influxdb://..." and
 * "postgresql://..." (docs/sinks.md), else a folder written exactly-once
 * (committed files never start with a dot).
 * The sink's uid is `name` when no other operator has that uid.
 * Returns FLINC_OK or records the error in the env. */
FLINC_API int flinc_sink_to(flinc_stream *in, const char *name, const char *address, flinc_format_fn fmt);
/* Where rejected records go (flinc_ctx_reject, flinc_json_record, records
 * whose key or bytes are bad): the job's --dead-letter address, a
 * "kafka://BROKERS/TOPIC" or a file path (a folder, existing or ending in
 * '/', gets one file per subtask). Each dead letter is one JSON line with
 * the reason, job, vertex, operator, subtask, the source position (topic,
 * partition, offset; or file and byte) and the record (escaped, capped at
 * 64 KiB, with its full size). NULL or "" keeps the default: rejected
 * records are counted (metrics "rejected-records") and logged at a bounded
 * rate. docs/dead-letters.md. Returns FLINC_OK or records the error in the
 * env (an address that does not parse). */
FLINC_API int flinc_dead_letters_to(flinc_env *e, const char *address);

/* Text lines from an --input address: a file or folder path,
 * "kafka://BROKERS/TOPIC[?options]" (docs/kafka.md), or
 * "datagen:MODE[?options]": a seed stream (transactions, user-events, iot)
 * generated inside the job exactly as `flinc-gen MODE` writes it, as one
 * source subtask (docs/generators.md). `rate` lines/s in total, 0 = max; for
 * datagen a rate makes a live stream (event time = wall clock). */
FLINC_API flinc_stream *flinc_lines_from(flinc_env *e, const char *name, const char *address, double rate);
/* A shipped job's --input: "datagen" becomes "datagen:MODE?count=N&seed=S"
 * from the job's --count and --seed arguments (read only then); any other
 * address is returned as it is. NULL stays NULL. */
FLINC_API const char *flinc_input_address(flinc_env *e, const char *input, const char *mode);

/* ---- the plugin entry ------------------------------------------------ */

typedef struct flinc_plugin {
	uint32_t abi_version; /* FLINC_ABI_VERSION */
	uint32_t reserved;
	const char *name;
	const char *description;
	const char *usage; /* the job's arguments, shown by `flinc info --help` */
	/* Declare the graph. argv[0] is the plugin name. Return 0, or an error
	 * (after flinc_env_fail) for bad arguments or an invalid graph. */
	int (*build)(flinc_env *e, int argc, char **argv);
} flinc_plugin;

#define FLINC_PLUGIN_SYMBOL "flinc_plugin_entry"
#define FLINC_PLUGIN(name_, desc_, usage_, build_)                                            \
	FLINC_API const flinc_plugin flinc_plugin_entry = { .abi_version = FLINC_ABI_VERSION, \
							    .name = (name_),                  \
							    .description = (desc_),           \
							    .usage = (usage_),                \
							    .build = (build_) }

#ifdef __cplusplus
}
#endif
#endif
