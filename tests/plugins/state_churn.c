/*
 * state_churn.c - a large keyed state of which a small part changes at a
 * steady rate, for the incremental checkpoint benchmark
 * (tests/bench/incremental_ckpt_bench.py; issue 4, acceptance 5).
 *
 *   state_churn.so [--keys N] [--value-bytes B] [--churn-per-sec R]
 *                  [--duration-s S]
 *
 * source
 *   load phase: every key 0..N-1 once, as fast as it can (subtask s of p
 *     takes the keys s, s+p, s+2p, ...), version 0;
 *   churn phase: R/p updates per second per subtask, each of a pseudo-random
 *     key of the subtask's own share (xorshift64*, seeded from the subtask
 *     index: the same keys in the same order on every run), versions 1, 2, ...
 *     (per subtask, so a key's versions only grow). The phase lasts S seconds
 *     (S = 0: forever); then the subtask's input ends and the job FINISHES.
 *   A record is (u64 key, u32 version, B-byte payload derived from key and
 *   version: incompressible bytes, so RocksDB's compression does not shrink
 *   the state).
 *   -> key_by key (8 bytes, big-endian)
 *   -> store (keyed process, uid "store"): puts (version, payload) into the
 *      value state "value", replacing the key's previous one; emits nothing.
 *   -> discard sink.
 *
 * With the defaults (4,000,000 keys of 256 B) the state is about 1 GB, and
 * 4,000 updates per second change about 1% of it per 10 s checkpoint
 * interval (fewer distinct keys than that, since keys repeat).
 *
 * Pacing: the source reads flinc_ctx_now once per run() call and emits as
 * many updates as the schedule allows (at most the budget); ahead of it, it
 * answers FLINC_SOURCE_IDLE and the runtime waits a little. Nothing is
 * allocated per record: the source fills one payload buffer allocated at
 * open, the store's value points into the decoded input record, and the
 * state backend encodes it with the value type.
 *
 * Checkpoints: the source's position (phase, next key, updates emitted,
 * PRNG state, churn time elapsed) is its snapshot; a restore at another
 * parallelism starts the subtask's share over (every put replaces, so the
 * state comes out the same).
 */
#include <flinc/flinc.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_BYTES_MAX 65536
#define SNAPSHOT_VERSION 1

/* ---- records ---------------------------------------------------------- */

/* One update. The payload points into the source's buffer or, after the
 * exchange, into the decoded buffer: borrowed, like every record. */
typedef struct upd {
	uint64_t key;
	uint32_t version;
	uint32_t len;
	const uint8_t *payload;
} upd;

static int upd_encode(const void *r, flinc_writer *w)
{
	const upd *x = r;
	flinc_w_array(w, 3);
	flinc_w_uint(w, x->key);
	flinc_w_uint(w, x->version);
	flinc_w_bin(w, x->payload, x->len);
	return 0;
}

static int upd_decode(flinc_reader *r, void *out, flinc_arena *a)
{
	(void)a;
	upd *x = out;
	if (flinc_r_array(r) != 3) return 1;
	x->key = flinc_r_uint(r);
	x->version = (uint32_t)flinc_r_uint(r);
	x->payload = flinc_r_bin(r, &x->len);
	return r->err;
}

static const flinc_type upd_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "state_churn.update",
	.size = sizeof(upd),
	.encode = upd_encode,
	.decode = upd_decode,
};

/* The value kept per key: version and payload (msgpack [version, bin]). */
typedef struct val {
	uint32_t version;
	uint32_t len;
	const uint8_t *payload;
} val;

static int val_encode(const void *r, flinc_writer *w)
{
	const val *x = r;
	flinc_w_array(w, 2);
	flinc_w_uint(w, x->version);
	flinc_w_bin(w, x->payload, x->len);
	return 0;
}

static int val_decode(flinc_reader *r, void *out, flinc_arena *a)
{
	(void)a;
	val *x = out;
	if (flinc_r_array(r) != 2) return 1;
	x->version = (uint32_t)flinc_r_uint(r);
	x->payload = flinc_r_bin(r, &x->len);
	return r->err;
}

static const flinc_type val_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "state_churn.value",
	.size = sizeof(val),
	.encode = val_encode,
	.decode = val_decode,
};

typedef struct opts {
	uint64_t keys;
	uint32_t value_bytes;
	double churn_per_sec; /* over all subtasks */
	int64_t duration_ms;  /* of the churn phase; 0 = forever */
} opts;

/* ---- payloads and keys ------------------------------------------------ */

static inline uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* B bytes from (key, version): splitmix64 output, incompressible. */
static void fill_payload(uint64_t key, uint32_t version, uint8_t *buf, uint32_t len)
{
	uint64_t s = mix64(key * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)version << 32 | 0x5bd1e995u));
	uint32_t i = 0;
	for (; i + 8 <= len; i += 8) {
		s += 0x9E3779B97F4A7C15ULL;
		uint64_t v = mix64(s);
		memcpy(buf + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = mix64(s + 0x9E3779B97F4A7C15ULL);
		memcpy(buf + i, &v, len - i);
	}
}

static inline uint64_t xorshift64s(uint64_t *st)
{
	uint64_t x = *st;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*st = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static size_t upd_key(const void *rec, uint8_t *buf, size_t cap)
{
	(void)cap;
	uint64_t k = ((const upd *)rec)->key;
	for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(k >> (56 - 8 * i));
	return 8;
}

/* ---- source ----------------------------------------------------------- */

enum { PHASE_LOAD = 0, PHASE_CHURN = 1, PHASE_DONE = 2 };

typedef struct src_local {
	uint64_t sub, par; /* this subtask, of par */
	uint64_t share;    /* keys of this subtask: sub, sub+par, ... below N */
	uint64_t next;     /* load: next key to emit */
	uint64_t updates;  /* churn: updates emitted */
	uint64_t rng;      /* churn: xorshift64* state (never 0) */
	uint32_t phase;
	bool restored;    /* restore ran before open */
	double per_sec;   /* churn rate of this subtask */
	int64_t churn_t0; /* wall ms at which the churn phase (re)started counting */
	uint8_t *buf;     /* value_bytes, allocated at open */
} src_local;

static void churn_start(flinc_ctx *c, src_local *l, int64_t elapsed_ms)
{
	l->phase = PHASE_CHURN;
	l->churn_t0 = flinc_ctx_now(c) - elapsed_ms;
}

static int src_open(flinc_ctx *c, void *local)
{
	src_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	uint64_t sub = (uint64_t)flinc_ctx_subtask(c), par = (uint64_t)flinc_ctx_parallelism(c);
	if (!(l->buf = malloc(o->value_bytes))) {
		flinc_ctx_fail(c, "state_churn: out of memory for a %u-byte payload", o->value_bytes);
		return FLINC_ENOMEM;
	}
	if (l->restored && l->par != par) l->restored = false; /* another parallelism: start over */
	l->sub = sub;
	l->par = par;
	l->share = o->keys > sub ? (o->keys - sub + par - 1) / par : 0;
	l->per_sec = o->churn_per_sec / (double)par;
	if (!l->restored) {
		l->phase = PHASE_LOAD;
		l->next = sub;
		l->updates = 0;
		l->rng = mix64(0x243F6A8885A308D3ULL + sub) | 1;
	} else if (l->phase == PHASE_CHURN) {
		churn_start(c, l, l->churn_t0); /* restore left the elapsed ms there */
	}
	return FLINC_OK;
}

static int src_run(flinc_ctx *c, void *local, uint32_t budget)
{
	src_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	upd r = { 0, 0, o->value_bytes, l->buf };

	if (l->phase == PHASE_LOAD) {
		uint32_t k = 0;
		for (; k < budget && l->next < o->keys; k++, l->next += l->par) {
			r.key = l->next;
			fill_payload(r.key, 0, l->buf, o->value_bytes);
			flinc_emit(c, &r);
		}
		if (l->next >= o->keys) churn_start(c, l, 0);
		return FLINC_SOURCE_MORE;
	}
	if (l->phase == PHASE_DONE) return FLINC_SOURCE_END;

	int64_t elapsed = flinc_ctx_now(c) - l->churn_t0;
	bool last = false;
	if (o->duration_ms > 0 && elapsed >= o->duration_ms) {
		elapsed = o->duration_ms; /* emit what the schedule owes, then end */
		last = true;
	}
	uint64_t due = (uint64_t)(l->per_sec * (double)(elapsed < 0 ? 0 : elapsed) / 1000.0);
	uint64_t quota = due > l->updates ? due - l->updates : 0;
	if (l->share == 0) quota = 0;
	if (quota > budget) {
		quota = budget;
		last = false;
	}
	for (uint64_t k = 0; k < quota; k++) {
		/* multiply-shift instead of %: an unbiased enough index below share */
		uint64_t i = (uint64_t)(((unsigned __int128)xorshift64s(&l->rng) * l->share) >> 64);
		r.key = l->sub + i * l->par;
		r.version = (uint32_t)(++l->updates);
		fill_payload(r.key, r.version, l->buf, o->value_bytes);
		flinc_emit(c, &r);
	}
	if (last) {
		l->phase = PHASE_DONE;
		return FLINC_SOURCE_END;
	}
	return quota ? FLINC_SOURCE_MORE : FLINC_SOURCE_IDLE;
}

/* [version, parallelism, phase, next, updates, rng, churn ms elapsed] */
static int src_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	src_local *l = local;
	int64_t elapsed = l->phase == PHASE_CHURN ? flinc_ctx_now(c) - l->churn_t0 : 0;
	flinc_w_array(w, 7);
	flinc_w_uint(w, SNAPSHOT_VERSION);
	flinc_w_uint(w, l->par);
	flinc_w_uint(w, l->phase);
	flinc_w_uint(w, l->next);
	flinc_w_uint(w, l->updates);
	flinc_w_uint(w, l->rng);
	flinc_w_int(w, elapsed);
	return 0;
}

static int src_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	src_local *l = local;
	if (flinc_r_array(r) != 7 || flinc_r_uint(r) != SNAPSHOT_VERSION) {
		flinc_ctx_fail(c, "state_churn: unknown source snapshot format");
		return FLINC_ECODEC;
	}
	l->par = flinc_r_uint(r);
	l->phase = (uint32_t)flinc_r_uint(r);
	l->next = flinc_r_uint(r);
	l->updates = flinc_r_uint(r);
	l->rng = flinc_r_uint(r);
	l->churn_t0 = flinc_r_int(r); /* the elapsed ms, until open turns it into a start time */
	if (r->err || l->phase > PHASE_DONE || l->rng == 0) {
		flinc_ctx_fail(c, "state_churn: malformed source snapshot");
		return FLINC_ECODEC;
	}
	l->restored = true;
	return FLINC_OK;
}

static void src_close(flinc_ctx *c, void *local)
{
	(void)c;
	src_local *l = local;
	free(l->buf);
	l->buf = NULL;
}

static const flinc_source_fn source_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(src_local),
	.open = src_open,
	.run = src_run,
	.snapshot = src_snapshot,
	.restore = src_restore,
	.close = src_close,
};

/* ---- store ------------------------------------------------------------ */

typedef struct store_local {
	flinc_state *value;
} store_local;

static int store_open(flinc_ctx *c, void *local)
{
	store_local *l = local;
	l->value = flinc_state_value(c, "value", &val_type);
	return l->value ? FLINC_OK : FLINC_ESTATE;
}

static void store_process(flinc_ctx *c, void *local, const void *in)
{
	store_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	const upd *x = in;
	if (x->len != o->value_bytes) {
		flinc_ctx_fail(c, "state_churn: key %" PRIu64 " arrived with a %u-byte payload, expected %u",
			       x->key, x->len, o->value_bytes);
		return;
	}
	val v = { x->version, x->len, x->payload };
	int rc = flinc_value_put(l->value, &v);
	if (rc != FLINC_OK)
		flinc_ctx_fail(c, "state_churn: put of key %" PRIu64 ": %s", x->key, flinc_strerror(rc));
}

static const flinc_process_fn store_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(store_local),
	.open = store_open,
	.process = store_process,
};

/* ---- the job ---------------------------------------------------------- */

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	opts *o = flinc_env_alloc(e, sizeof *o);
	if (!o) return flinc_env_fail(e, "state_churn: out of memory");
	int64_t keys = flinc_arg_i64(e, "keys", 4000000);
	int64_t vbytes = flinc_arg_i64(e, "value-bytes", 256);
	double churn = flinc_arg_f64(e, "churn-per-sec", 4000);
	double duration = flinc_arg_f64(e, "duration-s", 60);
	if (keys < 1) return flinc_env_fail(e, "state_churn: --keys must be >= 1");
	if (vbytes < 1 || vbytes > VALUE_BYTES_MAX)
		return flinc_env_fail(e, "state_churn: --value-bytes must be 1..%d", VALUE_BYTES_MAX);
	if (!(churn >= 0 && churn <= 1e9))
		return flinc_env_fail(e, "state_churn: --churn-per-sec must be 0..1e9 updates per second");
	if (!(duration >= 0 && duration <= 1e9))
		return flinc_env_fail(e, "state_churn: --duration-s must be >= 0 seconds (0 = forever)");
	o->keys = (uint64_t)keys;
	o->value_bytes = (uint32_t)vbytes;
	o->churn_per_sec = churn;
	o->duration_ms = (int64_t)(duration * 1000.0);
	if (duration > 0 && o->duration_ms == 0) o->duration_ms = 1;

	flinc_stream *s =
		flinc_set_uid(flinc_source(e, "churn-source", &source_fn, o, &upd_type), "churn-source");
	flinc_stream *st = flinc_set_uid(
		flinc_process(flinc_key_by(s, upd_key), "store", &store_fn, o, &flinc_type_i64), "store");
	return flinc_sink_to(st, "discard", NULL, NULL);
}

FLINC_PLUGIN("state_churn", "Loads N keys of B bytes into keyed state, then updates R random keys per second",
	     "[--keys N] [--value-bytes B] [--churn-per-sec R] [--duration-s S]", build);
