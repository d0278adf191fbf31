/*
 * flinc-gen.h - what the seed-stream modes of flinc-gen share
 * (gen/gen-common.c): options, a seeded PRNG, a min-heap of timed entries,
 * JSON/number/timestamp writers into a caller's buffer, and the output
 * (file, stdout or a Kafka topic) with wall-clock pacing for live streams.
 *
 * The modes (gen/gen-transactions.c, gen/gen-user-events.c, gen/gen-iot.c)
 * each simulate a timeline in event time and write one JSON line per record
 * in event-time order. docs/generators.md is the user's description.
 *
 * Threads: everything here runs on the one thread of flinc-gen.
 * Memory: nothing here allocates per record; the output buffer, the heap's
 * array and the Kafka handle are made once (the heap grows by doubling).
 */
#ifndef FLINC_GEN_H
#define FLINC_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- PRNG: xoshiro256** seeded through splitmix64 ----------------------- */

typedef struct fg_rng {
	uint64_t s[4];
} fg_rng;

/* splitmix64's finalizer: a bijection of 64-bit values (so distinct inputs
 * give distinct outputs), used for ids and per-entity profiles. */
static inline uint64_t fg_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Seeds `r` from (seed, stream): different streams are independent. */
void fg_rng_seed(fg_rng *r, uint64_t seed, uint64_t stream);

static inline uint64_t fg_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t fg_rng_next(fg_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = fg_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = fg_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, n) (n > 0), Lemire's multiply-shift (bias < 2^-32). */
static inline uint32_t fg_rng_below(fg_rng *r, uint32_t n)
{
	return (uint32_t)(((fg_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform integer in [lo, hi] (lo <= hi). */
static inline int64_t fg_rng_range(fg_rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(fg_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Uniform in [0, 1). */
static inline double fg_rng_unit(fg_rng *r) { return (double)(fg_rng_next(r) >> 11) * 0x1.0p-53; }

/* Standard normal (Marsaglia's polar method; one value per call). */
double fg_rng_normal(fg_rng *r);

/* Exponential with the given mean. */
double fg_rng_exp(fg_rng *r, double mean);

/* Index drawn from weights w[0..n) (not all zero). */
unsigned fg_rng_pick(fg_rng *r, const double *w, unsigned n);

/* ---- min-heap of (time, seq) -> index ----------------------------------- */

typedef struct fg_heap_ent {
	int64_t t;    /* event time, ms */
	uint64_t seq; /* insertion order: equal times pop first-in first-out */
	uint32_t idx; /* the caller's entity */
} fg_heap_ent;

typedef struct fg_heap {
	fg_heap_ent *a;
	size_t n, cap;
	uint64_t next_seq;
} fg_heap;

/* Pushes (t, idx); returns false if memory ran out (heap unchanged). */
bool fg_heap_push(fg_heap *h, int64_t t, uint32_t idx);
/* Removes the smallest entry into *out; false when empty. */
bool fg_heap_pop(fg_heap *h, fg_heap_ent *out);
static inline const fg_heap_ent *fg_heap_top(const fg_heap *h) { return h->n ? &h->a[0] : NULL; }
void fg_heap_free(fg_heap *h);

/* ---- writers: each appends to p and returns the new end ------------------ */

char *fg_put_u64(char *p, uint64_t v);
char *fg_put_i64(char *p, int64_t v);
/* v / 10^dec with exactly `dec` decimals (dec 1..9), e.g. (4567, 2) -> 45.67 */
char *fg_put_fixed(char *p, int64_t v, int dec);
/* `s` between quotes (the generators' strings need no escaping) */
char *fg_put_qstr(char *p, const char *s);
/* 32 hex digits from two 64-bit values in the 8-4-4-4-12 form of a UUID */
char *fg_put_uuid(char *p, uint64_t hi, uint64_t lo);
static inline char *fg_put_lit(char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) p[i] = s[i];
	return p + n;
}
#define FG_LIT(p, s) fg_put_lit((p), (s), sizeof(s) - 1)

/* Timestamps: "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 bytes) of ms since the epoch,
 * UTC. The cache keeps the formatted minute, so most records only format
 * seconds and milliseconds. Zero-initialise it. */
typedef struct fg_ts_cache {
	int64_t minute; /* ms / 60000 of `prefix`, or INT64_MIN before use */
	char prefix[17];
	bool valid;
} fg_ts_cache;
char *fg_put_ts(char *p, int64_t ms, fg_ts_cache *c);
/* Milliseconds since midnight UTC. */
static inline int64_t fg_ms_of_day(int64_t ms)
{
	int64_t d = ms % 86400000;
	return d < 0 ? d + 86400000 : d;
}
/* Parses "YYYY-MM-DDTHH:MM:SS[.mmm]Z" or integer ms since the epoch. */
bool fg_parse_time(const char *s, int64_t *ms);
/* Wall clock, ms since the epoch. */
int64_t fg_wall_ms(void);

/* ---- options ------------------------------------------------------------- */

/* If argv[*i] is option `name` (`--name value` or `--name=value`), set *val
 * to its value (consuming the next argument when needed) and return 1; 0 if
 * it is another option; -1 (after a message naming `mode`) if the value is
 * missing. */
int fg_opt_value(const char *mode, int argc, char **argv, int *i, const char *name, const char **val);
/* A decimal unsigned integer, nothing else (no sign, no trailing bytes). */
bool fg_parse_u64(const char *s, uint64_t *out);

#define FG_MAX_PROPS 32

typedef struct fg_mode_info {
	const char *name;          /* "transactions" */
	const char *pop_opt;       /* "--users" or "--sensors" */
	const char *label_opt;     /* "--fraud-rate", "--anomaly-rate" or NULL */
	uint64_t default_pop;      /* users or sensors */
	double default_label_rate; /* fraction of records labelled */
	double default_event_rate; /* records per second of simulated time */
	void (*usage)(FILE *f);    /* the mode's --help */
} fg_mode_info;

typedef struct fg_opts {
	uint64_t count;    /* records to write; 0 = endless */
	double rate;       /* --rate: live records/s (0 = simulated time) */
	double event_rate; /* records per second of event time */
	int64_t start_ms;  /* event time of the start */
	uint64_t seed;
	uint64_t pop_seed; /* --population-seed: the population's profiles (default: seed) */
	bool pop_seed_set;
	double label_rate; /* --fraud-rate / --anomaly-rate */
	uint64_t pop;      /* --users / --sensors */
	bool pop_set, count_set, event_rate_set, start_set;
	const char *output;              /* "-", a file, or kafka://HOST:PORT[,...]/TOPIC */
	const char *props[FG_MAX_PROPS]; /* -X key=value for the producer */
	int nprops;
} fg_opts;

/* At least `need` users (capped at 1e8) for the event rate: raises a
 * default --users, refuses a given one that is too small (one line in err,
 * naming `unit` and `why`; returns true). */
bool fg_need_users(fg_opts *o, double need, const char *unit, const char *why, char *err, size_t errcap);

/* The seed of the population's profiles: --population-seed, else --seed. */
static inline uint64_t fg_pop_seed(const fg_opts *o) { return o->pop_seed_set ? o->pop_seed : o->seed; }

/* The options every seed mode takes (docs/generators.md):
 *   --count N  --rate R  --event-rate R  --start-time T  --seed S
 *   --output O  -X key=value  POP N  LABEL F  --help
 * Returns 0 (parsed), 1 (--help printed: exit 0) or 2 (one line on stderr:
 * exit 2). */
int fg_parse_opts(const fg_mode_info *mi, int argc, char **argv, fg_opts *o);

/* Prints the common options' help lines (for the modes' usage functions). */
void fg_common_usage(FILE *f, const fg_mode_info *mi);

/* ---- output -------------------------------------------------------------- */

#define FG_REC_MAX 4096 /* the longest record a mode may write */

typedef struct fg_out fg_out;

/* Opens the output of `o` (a file, stdout or a Kafka producer). NULL after
 * one line on stderr (the caller exits 1, or 2 for a malformed address:
 * *usage_error tells). */
fg_out *fg_out_open(const char *mode, const fg_opts *o, bool *usage_error);

/* Space for one record of at most FG_REC_MAX bytes (no newline). Valid until
 * the next fg_out_commit. */
char *fg_out_reserve(fg_out *out);

/* Ends the record written at fg_out_reserve's pointer: `len` bytes, keyed by
 * key[0..keylen) (the Kafka message key; ignored for files). Returns false
 * after one line on stderr if the output failed. */
bool fg_out_commit(fg_out *out, size_t len, const char *key, size_t keylen);

/* Live streams: waits until the wall clock reaches `event_ms`, flushing what
 * is buffered first. Returns false if the output failed. */
bool fg_out_pace(fg_out *out, int64_t event_ms);

/* Flushes, waits for Kafka deliveries and closes. Returns 0, or 1 after one
 * line on stderr. NULL gives 0. Prints a summary line to stderr when
 * `verbose`. */
int fg_out_close(fg_out *out);

/* A capture output keeps the one record a generator step commits in memory
 * for the caller to take (the runtime's datagen: source, which paces by
 * itself): fg_out_pace only notes the time. NULL if memory ran out. */
fg_out *fg_out_capture(const char *mode);

/* The record committed to a capture output since the last call, or NULL;
 * *len its length, *event_ms the time its step paced to. Clears it. */
const char *fg_out_take(fg_out *out, size_t *len, int64_t *event_ms);

/* ---- a mode as a generator object ----------------------------------------- */

/* flinc-gen's loop (fg_run_mode) and the runtime's datagen: source
 * (runtime/src/connectors/seed_source.c) drive a mode through these. A step
 * writes at most one record to the output. */
typedef struct fg_gen_ops {
	const fg_mode_info *info;
	size_t size; /* the mode's state: size zeroed bytes */
	/* Checks the options against each other (may adjust o->pop) and sets the
	 * generator up on `out`; o must outlive g. 0, or 2 (bad options) / 1
	 * (out of memory) with one line in err. */
	int (*open)(void *g, fg_opts *o, fg_out *out, char *err, size_t errcap);
	/* One step: 1 more, 0 the --count is reached, -1 the output failed or
	 * memory ran out (a line on stderr). */
	int (*step)(void *g);
	/* Records written so far. */
	uint64_t (*emitted)(const void *g);
	/* FLINC_GEN_STATS: one summary line. */
	void (*stats)(const void *g, FILE *f);
	void (*close)(void *g);
} fg_gen_ops;

extern const fg_gen_ops fg_transactions_gen;
extern const fg_gen_ops fg_user_events_gen;
extern const fg_gen_ops fg_iot_gen;

/* The generator of a mode by name ("transactions", "user-events", "iot"),
 * or NULL. */
const fg_gen_ops *fg_gen_find(const char *mode);

/* flinc-gen MODE ...: parse, open the output, run the steps until the count,
 * a signal or a failure. The exit status: 0, 1 (failed) or 2 (usage). */
int fg_run_mode(const fg_gen_ops *ops, int argc, char **argv);

/* Sets the options every mode starts from (fg_parse_opts' defaults). */
void fg_opts_defaults(const fg_mode_info *mi, fg_opts *o);

/* Stop flag set by SIGINT/SIGTERM (endless and live runs end cleanly). */
extern volatile int fg_stop;
void fg_install_signals(void);

#endif
