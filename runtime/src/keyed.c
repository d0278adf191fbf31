/*
 * keyed.c - what user functions call at run time: flinc_ctx_*, emitting,
 * keyed state handles and timers, plus the fl_op_* helpers of op.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op.h"
#include "snapshot.h"
#include "task.h"

/* ---- helpers for operators ------------------------------------------- */

flinc_arena *fl_op_arena(fl_op *op) { return &op->task->arena; }

int64_t fl_op_now(fl_op *op)
{
	(void)op;
	return fl_now_ms();
}

void fl_op_fail(fl_op *op, int err, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fl_task_fail(op->task, err, "%s '%s' (subtask %d): %s", fl_node_kind_name(op->node->kind),
		     op->node->name, op->task->subtask, msg);
}

void fl_op_reject(fl_op *op, const char *why)
{
	op->m.rejected++;
	fl_dl_reject(op, why); /* counted, logged at a bounded rate, to the dead letters */
}

const void *fl_op_encode(fl_op *op, const flinc_type *t, const void *rec, size_t *len)
{
	fl_task *task = op->task;
	if (t->flags & FLINC_TYPE_POD) {
		*len = t->size;
		return rec;
	}
	if (!task->enc) {
		task->enc_cap = 4096;
		task->enc = fl_malloc(task->enc_cap);
	}
	for (;;) {
		flinc_writer w;
		flinc_writer_init(&w, task->enc, task->enc_cap);
		t->encode(rec, &w);
		if (!w.err) {
			*len = flinc_writer_len(&w, task->enc);
			return task->enc;
		}
		if (task->enc_cap >= (1u << 30)) {
			*len = 0;
			return NULL;
		}
		task->enc_cap *= 2;
		task->enc = fl_realloc(task->enc, task->enc_cap);
	}
}

void *fl_op_decode(fl_op *op, const flinc_type *t, const void *buf, size_t len, bool raw)
{
	flinc_arena *a = fl_op_arena(op);
	void *rec = flinc_arena_alloc(a, t->size);
	if (raw) {
		if (len != t->size) {
			fl_op_reject(op, "stored value has the wrong size");
			return NULL;
		}
		memcpy(rec, buf, len);
		return rec;
	}
	memset(rec, 0, t->size);
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	if (t->decode(&r, rec, a) != 0 || r.err) {
		fl_op_reject(op, "stored value could not be decoded");
		return NULL;
	}
	return rec;
}

const fl_backend_ops *fl_op_backend(fl_op *op, void **be)
{
	*be = op->task->be;
	return op->task->be_ops;
}

static inline const fl_backend_ops *prefetcher(const fl_op *op)
{
	const fl_backend_ops *ops = op->task->be_ops;
	return ops && ops->version >= 7 && ops->prefetch ? ops : NULL;
}

void fl_op_prefetch(fl_op *op, uint32_t sid)
{
	const fl_backend_ops *ops = prefetcher(op);
	if (ops) {
		fl_skey k = fl_keyed_skey(op);
		ops->prefetch(op->task->be, sid, &k, false);
	}
}

static void prefetch_states(fl_op *op, const fl_backend_ops *ops, const fl_skey *k, bool deep)
{
	for (uint32_t i = 0; i < op->keyed->nsids; i++)
		ops->prefetch(op->task->be, op->keyed->sids[i], k, deep);
}

void fl_op_prefetch_firing(fl_op *op, fl_timers *q, int64_t upto)
{
	const fl_backend_ops *ops = prefetcher(op);
	if (!ops || !op->keyed->nsids) return;
	fl_skey cur = fl_keyed_skey(op);
	prefetch_states(op, ops, &cur, false);
	prefetch_states(op, ops, &cur, true);
	fl_timer nx;
	if (!fl_timers_peek(q, upto, &nx)) return;
	fl_skey next = { nx.kg,  nx.klen, nx.nslen,
			 nx.key, nx.ns,   fl_key_hash(op->keyed->key_hash, nx.key, nx.klen) };
	prefetch_states(op, ops, &next, false);
}

int fl_op_declare_state(fl_op *op, const char *name, fl_state_kind kind, uint32_t *sid)
{
	fl_task *t = op->task;
	if (!t->be) return FLINC_EINVAL;
	char full[512];
	snprintf(full, sizeof full, "%s/%s", op->node->uid, name);
	int rc = fl_task_declare_state(t, full, kind, sid);
	fl_keyed *k = op->keyed;
	if (rc == FLINC_OK && k) {
		bool known = false;
		for (uint32_t i = 0; i < k->nsids && !known; i++) known = k->sids[i] == *sid;
		if (!known && k->nsids < FL_KEYED_SIDS) k->sids[k->nsids++] = *sid;
	}
	return rc;
}

bool fl_keyed_set_from_record(fl_op *op, uint32_t input, const void *rec)
{
	fl_keyed *k = op->keyed;
	size_t n = k->keyfn[input](rec, k->key, FLINC_KEY_MAX);
	if (FL_UNLIKELY(n == 0 || n > FLINC_KEY_MAX)) {
		fl_op_reject(op, n ? "key longer than FLINC_KEY_MAX" : "empty key");
		return false;
	}
	k->klen = (uint32_t)n;
	k->khash = fl_key_hash(k->key_hash, k->key, n);
	k->kg = fl_key_group_of_hash(k->khash, op->task->plan->env->max_parallelism);
	k->ns = NULL;
	k->nslen = 0;
	return true;
}

void fl_keyed_set_key(fl_op *op, uint16_t kg, const void *key, uint32_t klen)
{
	fl_keyed *k = op->keyed;
	if (key != k->key) memcpy(k->key, key, klen);
	k->klen = klen;
	k->khash = fl_key_hash(k->key_hash, k->key, klen);
	k->kg = kg;
	k->ns = NULL;
	k->nslen = 0;
}

void fl_op_emit_side(fl_op *op, uint32_t tag, const void *rec, int64_t ts)
{
	if (FL_UNLIKELY(tag >= op->nside)) {
		fl_op_fail(op, FLINC_EINVAL, "emit to an unknown side output");
		return;
	}
	fl_output_record(&op->side[tag], rec, ts);
}

/* ---- flinc_ctx -------------------------------------------------------- */

FLINC_API void flinc_emit(flinc_ctx *c, const void *rec) { fl_op_emit(c->op, rec, c->ts); }
FLINC_API void flinc_emit_ts(flinc_ctx *c, const void *rec, int64_t ts) { fl_op_emit(c->op, rec, ts); }
FLINC_API void flinc_emit_side(flinc_ctx *c, const flinc_tag *tag, const void *rec)
{
	fl_op_emit_side(c->op, tag->id, rec, c->ts);
}
FLINC_API int64_t flinc_ctx_timestamp(const flinc_ctx *c) { return c->ts; }
FLINC_API int64_t flinc_ctx_watermark(const flinc_ctx *c) { return c->op->input_wm; }
FLINC_API int64_t flinc_ctx_now(const flinc_ctx *c) { return fl_op_now(c->op); }
FLINC_API const void *flinc_ctx_key(const flinc_ctx *c, size_t *len)
{
	fl_keyed *k = c->op->keyed;
	if (!k) {
		if (len) *len = 0;
		return NULL;
	}
	if (len) *len = k->klen;
	return k->key;
}
FLINC_API int flinc_ctx_subtask(const flinc_ctx *c) { return c->op->task->subtask; }
FLINC_API int64_t flinc_ctx_restored_checkpoint(const flinc_ctx *c)
{
	const fl_task *t = c->op->task;
	return t->cpx ? fl_cpctx_restored_id(t->cpx) : -1;
}
FLINC_API int flinc_ctx_parallelism(const flinc_ctx *c) { return c->op->task->parallelism; }
FLINC_API const void *flinc_ctx_arg(const flinc_ctx *c) { return c->arg; }
FLINC_API flinc_arena *flinc_ctx_arena(flinc_ctx *c) { return fl_op_arena(c->op); }
FLINC_API const char *flinc_ctx_config(const flinc_ctx *c, const char *key)
{
	return fl_conf_get(c->op->task->conf, key);
}
FLINC_API void flinc_ctx_reject(flinc_ctx *c, const char *why) { fl_op_reject(c->op, why); }
/* flinc_json_parse with the ctx's arena; a refused record is rejected with
 * its reason (flinc.h). */
FLINC_API bool flinc_json_record(flinc_ctx *c, const flinc_field *f, size_t n, const flinc_line *in,
				 void *rec)
{
	char why[160];
	int rc = flinc_json_parse(f, n, in->s, in->len, rec, flinc_ctx_arena(c), why, sizeof why);
	if (rc == FLINC_OK) return true;
	if (rc == FLINC_EINVAL) {
		flinc_ctx_fail(c, "flinc_json_record: %s", why);
		return false;
	}
	flinc_ctx_reject(c, why);
	return false;
}

FLINC_API void flinc_ctx_fail(flinc_ctx *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fl_op_fail(c->op, FLINC_EUSER, "%s", msg);
}

/* ---- timers ----------------------------------------------------------- */

static bool need_keyed(fl_op *op, const char *what)
{
	if (FL_LIKELY(op->keyed != NULL)) return true;
	fl_op_fail(op, FLINC_EINVAL, "%s needs a keyed stream (use flinc_key_by before this operator)", what);
	return false;
}

FLINC_API void flinc_timer_register(flinc_ctx *c, flinc_time_domain d, int64_t ts)
{
	fl_op *op = c->op;
	if (!need_keyed(op, "a timer") || (unsigned)d > 1) return;
	fl_keyed *k = op->keyed;
	fl_timers_add(k->timers[d], ts, k->kg, k->key, k->klen, k->ns, k->nslen);
}

FLINC_API void flinc_timer_delete(flinc_ctx *c, flinc_time_domain d, int64_t ts)
{
	fl_op *op = c->op;
	if (!need_keyed(op, "a timer") || (unsigned)d > 1) return;
	fl_keyed *k = op->keyed;
	fl_timers_remove(k->timers[d], ts, k->kg, k->key, k->klen, k->ns, k->nslen);
}

/* ---- keyed state ------------------------------------------------------- */

struct flinc_state {
	fl_op *op;
	uint32_t sid;
	fl_state_kind kind;
	const flinc_type *t;
	bool pod;
	void (*reduce)(void *acc, const void *in);
	/* flinc_value_mut without in-place storage: the scratch value and the
	 * address it is to be written back to. */
	bool dirty;
	void *scratch;
	uint64_t khash;
	uint16_t kg;
	uint32_t klen, nslen;
	uint8_t key[FLINC_KEY_MAX];
	uint8_t ns[64];
	void *ext; /* fl_state_declare_ext: freed with the state */
};

/* Write a pending flinc_value_mut value back. */
static void writeback(flinc_state *s)
{
	s->dirty = false;
	fl_op *op = s->op;
	fl_skey k = { s->kg, s->klen, s->nslen, s->key, s->ns, s->khash };
	size_t len;
	const void *bytes = fl_op_encode(op, s->t, s->scratch, &len);
	int rc = bytes ? op->task->be_ops->put(op->task->be, s->sid, &k, bytes, len) : FLINC_ERANGE;
	if (rc != FLINC_OK) fl_op_fail(op, rc, "cannot store state: %s", flinc_strerror(rc));
}

void fl_op_flush_states(fl_op *op)
{
	for (uint32_t i = 0; i < op->nstates; i++)
		if (op->states[i]->dirty) writeback(op->states[i]);
	op->dirty_states = false;
}

static flinc_state *declare(flinc_ctx *c, const char *name, const flinc_type *t, fl_state_kind kind,
			    void (*reduce)(void *, const void *))
{
	fl_op *op = c->op;
	if (!need_keyed(op, "keyed state")) return NULL;
	if (!name || !*name || !t || t->version != FLINC_TYPE_VERSION) {
		fl_op_fail(op, FLINC_EINVAL, "state declared without a name or a valid type");
		return NULL;
	}
	uint32_t sid;
	int rc = fl_op_declare_state(op, name, kind, &sid);
	if (rc != FLINC_OK) {
		fl_op_fail(op, rc, "cannot declare state '%s': %s", name, flinc_strerror(rc));
		return NULL;
	}
	flinc_state *s = fl_calloc(1, sizeof(*s));
	s->op = op;
	s->sid = sid;
	s->kind = kind;
	s->t = t;
	s->pod = (t->flags & FLINC_TYPE_POD) != 0;
	s->reduce = reduce;
	op->states = fl_realloc(op->states, (op->nstates + 1) * sizeof(*op->states));
	op->states[op->nstates++] = s;
	return s;
}

void fl_op_free_states(fl_op *op)
{
	for (uint32_t i = 0; i < op->nstates; i++) {
		free(op->states[i]->scratch);
		free(op->states[i]->ext);
		free(op->states[i]);
	}
	free(op->states);
	op->states = NULL;
	op->nstates = 0;
}

flinc_state *fl_state_declare_ext(flinc_ctx *c, const char *name, const flinc_type *t, fl_state_kind kind,
				  size_t ext_size, void **ext)
{
	flinc_state *s = declare(c, name, t, kind, NULL);
	if (!s) return NULL;
	s->ext = *ext = fl_calloc(1, ext_size);
	return s;
}

FLINC_API flinc_state *flinc_state_value(flinc_ctx *c, const char *name, const flinc_type *t)
{
	return declare(c, name, t, FL_STATE_VALUE, NULL);
}
FLINC_API flinc_state *flinc_state_list(flinc_ctx *c, const char *name, const flinc_type *t)
{
	return declare(c, name, t, FL_STATE_LIST, NULL);
}
FLINC_API flinc_state *flinc_state_map(flinc_ctx *c, const char *name, const flinc_type *t)
{
	return declare(c, name, t, FL_STATE_MAP, NULL);
}
FLINC_API flinc_state *flinc_state_reducing(flinc_ctx *c, const char *name, const flinc_type *t,
					    void (*reduce)(void *acc, const void *in))
{
	if (!reduce) {
		fl_op_fail(c->op, FLINC_EINVAL, "reducing state '%s' needs a reduce function",
			   name ? name : "");
		return NULL;
	}
	return declare(c, name, t, FL_STATE_VALUE, reduce);
}

static inline const fl_backend_ops *be_of(flinc_state *s, void **be)
{
	*be = s->op->task->be;
	return s->op->task->be_ops;
}

/* Bytes from the backend as a record: POD values in place when aligned. */
static const void *as_record(flinc_state *s, const void *val, size_t len)
{
	if (s->pod && len == s->t->size && ((uintptr_t)val & 7) == 0) return val;
	return fl_op_decode(s->op, s->t, val, len, s->pod);
}

static bool kind_is(flinc_state *s, fl_state_kind k, const char *what)
{
	if (FL_UNLIKELY(s && s->dirty)) writeback(s);
	if (FL_LIKELY(s && s->kind == k)) return true;
	if (s) fl_op_fail(s->op, FLINC_EINVAL, "%s on a state of another kind", what);
	return false;
}

FLINC_API const void *flinc_value_get(flinc_state *s)
{
	if (!kind_is(s, FL_STATE_VALUE, "flinc_value_get")) return NULL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	const void *val;
	size_t len;
	if (ops->get(be, s->sid, &k, &val, &len) != FLINC_OK) return NULL;
	return as_record(s, val, len);
}

FLINC_API void *flinc_value_mut(flinc_state *s, bool *created)
{
	bool dummy;
	if (!created) created = &dummy;
	if (!kind_is(s, FL_STATE_VALUE, "flinc_value_mut")) return NULL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	if (s->pod && ops->put_inplace) {
		void *p = ops->put_inplace(be, s->sid, &k, s->t->size, created);
		if (!p) {
			int rc = errno == EDQUOT ? FLINC_EMEMLIMIT : FLINC_ENOMEM;
			fl_op_fail(s->op, rc, "cannot store state: %s", flinc_strerror(rc));
		}
		return p;
	}
	if (k.nslen > sizeof s->ns) {
		fl_op_fail(s->op, FLINC_ERANGE, "flinc_value_mut: namespace too long");
		return NULL;
	}
	if (!s->scratch) s->scratch = fl_malloc(s->t->size);
	const void *cur = flinc_value_get(s);
	*created = cur == NULL;
	if (cur)
		memcpy(s->scratch, cur, s->t->size);
	else
		memset(s->scratch, 0, s->t->size);
	s->dirty = true;
	s->khash = k.khash;
	s->kg = k.kg;
	s->klen = k.klen;
	memcpy(s->key, k.key, k.klen);
	s->nslen = k.nslen;
	if (k.nslen) memcpy(s->ns, k.ns, k.nslen);
	s->op->dirty_states = true;
	return s->scratch;
}

FLINC_API int flinc_value_put(flinc_state *s, const void *v)
{
	if (!kind_is(s, FL_STATE_VALUE, "flinc_value_put")) return FLINC_EINVAL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	size_t len;
	const void *bytes = fl_op_encode(s->op, s->t, v, &len);
	if (!bytes) return FLINC_ERANGE;
	if (s->pod && ops->put_inplace) {
		bool created;
		void *p = ops->put_inplace(be, s->sid, &k, len, &created);
		if (!p) return errno == EDQUOT ? FLINC_EMEMLIMIT : FLINC_ENOMEM;
		memcpy(p, bytes, len);
		return FLINC_OK;
	}
	return ops->put(be, s->sid, &k, bytes, len);
}

FLINC_API int flinc_reducing_add(flinc_state *s, const void *v)
{
	if (!kind_is(s, FL_STATE_VALUE, "flinc_reducing_add")) return FLINC_EINVAL;
	if (!s->reduce) return flinc_value_put(s, v);
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	if (s->pod && ops->put_inplace) {
		bool created;
		void *p = ops->put_inplace(be, s->sid, &k, s->t->size, &created);
		if (!p) return errno == EDQUOT ? FLINC_EMEMLIMIT : FLINC_ENOMEM;
		if (created)
			memcpy(p, v, s->t->size);
		else
			s->reduce(p, v);
		return FLINC_OK;
	}
	const void *cur = flinc_value_get(s);
	if (!cur) return flinc_value_put(s, v);
	void *acc = flinc_arena_alloc(fl_op_arena(s->op), s->t->size);
	memcpy(acc, cur, s->t->size);
	s->reduce(acc, v);
	return flinc_value_put(s, acc);
}

FLINC_API void flinc_state_clear(flinc_state *s)
{
	if (!s) return;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	ops->remove(be, s->sid, &k);
}

FLINC_API int flinc_list_add(flinc_state *s, const void *v)
{
	if (!kind_is(s, FL_STATE_LIST, "flinc_list_add")) return FLINC_EINVAL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	size_t len;
	const void *bytes = fl_op_encode(s->op, s->t, v, &len);
	if (!bytes) return FLINC_ERANGE;
	return ops->list_append(be, s->sid, &k, bytes, len);
}

FLINC_API int flinc_list_foreach(flinc_state *s, int (*fn)(void *ud, const void *v), void *ud)
{
	if (!kind_is(s, FL_STATE_LIST, "flinc_list_foreach")) return FLINC_EINVAL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	const void *val;
	size_t len;
	if (ops->get(be, s->sid, &k, &val, &len) != FLINC_OK) return 0;
	/* Copy first: fn may touch state and invalidate the pointer. */
	uint8_t *copy = flinc_arena_alloc(fl_op_arena(s->op), len);
	memcpy(copy, val, len);
	size_t off = 0;
	const uint8_t *el;
	uint32_t n;
	while (fl_list_next(copy, len, &off, &el, &n)) {
		const void *rec = fl_op_decode(s->op, s->t, el, n, s->pod);
		if (!rec) continue;
		int rc = fn(ud, rec);
		if (rc) return rc;
	}
	return 0;
}

FLINC_API const void *flinc_mapst_get(flinc_state *s, const void *uk, size_t uklen)
{
	if (!kind_is(s, FL_STATE_MAP, "flinc_mapst_get")) return NULL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	const void *val;
	size_t len;
	if (ops->map_get(be, s->sid, &k, uk, uklen, &val, &len) != FLINC_OK) return NULL;
	return as_record(s, val, len);
}

FLINC_API int flinc_mapst_put(flinc_state *s, const void *uk, size_t uklen, const void *v)
{
	if (!kind_is(s, FL_STATE_MAP, "flinc_mapst_put")) return FLINC_EINVAL;
	if (uklen > FLINC_KEY_MAX) return FLINC_ERANGE;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	size_t len;
	const void *bytes = fl_op_encode(s->op, s->t, v, &len);
	if (!bytes) return FLINC_ERANGE;
	return ops->map_put(be, s->sid, &k, uk, uklen, bytes, len);
}

FLINC_API int flinc_mapst_remove(flinc_state *s, const void *uk, size_t uklen)
{
	if (!kind_is(s, FL_STATE_MAP, "flinc_mapst_remove")) return FLINC_EINVAL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	return ops->map_remove(be, s->sid, &k, uk, uklen);
}

typedef struct map_copy {
	uint8_t *uk;
	size_t uklen;
	uint8_t *val;
	size_t len;
} map_copy;

typedef struct map_collect {
	flinc_arena *a;
	map_copy *items;
	size_t n, cap;
} map_collect;

static int collect(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	map_collect *mc = ud;
	if (mc->n == mc->cap) {
		size_t cap = mc->cap ? mc->cap * 2 : 16;
		map_copy *items = flinc_arena_alloc(mc->a, cap * sizeof(map_copy));
		if (mc->n) memcpy(items, mc->items, mc->n * sizeof(map_copy));
		mc->items = items;
		mc->cap = cap;
	}
	map_copy *it = &mc->items[mc->n++];
	it->uk = flinc_arena_alloc(mc->a, uklen ? uklen : 1);
	memcpy(it->uk, uk, uklen);
	it->uklen = uklen;
	it->val = flinc_arena_alloc(mc->a, len ? len : 1);
	memcpy(it->val, val, len);
	it->len = len;
	return 0;
}

FLINC_API int flinc_mapst_foreach(flinc_state *s,
				  int (*fn)(void *ud, const void *uk, size_t uklen, const void *v), void *ud)
{
	if (!kind_is(s, FL_STATE_MAP, "flinc_mapst_foreach")) return FLINC_EINVAL;
	void *be;
	const fl_backend_ops *ops = be_of(s, &be);
	fl_skey k = fl_keyed_skey(s->op);
	/* Collect first so that fn may modify the map while iterating. */
	map_collect mc = { .a = fl_op_arena(s->op) };
	int rc = ops->map_iter(be, s->sid, &k, collect, &mc);
	if (rc) return rc;
	for (size_t i = 0; i < mc.n; i++) {
		const void *rec = fl_op_decode(s->op, s->t, mc.items[i].val, mc.items[i].len, s->pod);
		if (!rec) continue;
		rc = fn(ud, mc.items[i].uk, mc.items[i].uklen, rec);
		if (rc) return rc;
	}
	return 0;
}

/* ---- state of older job versions ---------------------------------------- */

bool fl_op_find_state(fl_op *op, const char *name, uint32_t *sid, fl_state_kind *kind)
{
	void *be;
	const fl_backend_ops *bo = fl_op_backend(op, &be);
	if (!bo || !bo->state_at) return false;
	char full[512];
	snprintf(full, sizeof full, "%s/%s", op->node->uid, name);
	const char *nm;
	fl_state_kind k;
	for (uint32_t i = 0; bo->state_at(be, i, &nm, &k) == FLINC_OK; i++)
		if (!strcmp(nm, full)) {
			*sid = i;
			if (kind) *kind = k;
			return true;
		}
	return false;
}

typedef struct ents_ud {
	fl_state_ents *out;
	bool values;
	int err;
} ents_ud;

static int ent_collect(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		       uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	ents_ud *u = ud;
	fl_state_ents *s = u->out;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256;
		fl_state_ent *nv = realloc(s->v, nc * sizeof *nv);
		if (!nv) return u->err = FLINC_ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	if (!uk) uklen = 0;
	size_t keep = u->values ? vlen : 0;
	uint8_t *mem = malloc((size_t)klen + nslen + uklen + keep + 1);
	if (!mem) return u->err = FLINC_ENOMEM;
	memcpy(mem, key, klen);
	if (nslen) memcpy(mem + klen, ns, nslen);
	if (uklen) memcpy(mem + klen + nslen, uk, uklen);
	if (keep) memcpy(mem + klen + nslen + uklen, val, keep);
	s->v[s->n++] = (fl_state_ent){ kg,
				       klen,
				       nslen,
				       uklen,
				       (uint32_t)keep,
				       mem,
				       mem + klen,
				       mem + klen + nslen,
				       mem + klen + nslen + uklen };
	return 0;
}

int fl_op_state_entries(fl_op *op, uint32_t sid, bool values, fl_state_ents *out)
{
	void *be;
	const fl_backend_ops *bo = fl_op_backend(op, &be);
	ents_ud u = { out, values, 0 };
	int rc = bo->scan(be, sid, 0, UINT16_MAX, ent_collect, &u);
	return u.err ? u.err : rc;
}

void fl_state_ents_free(fl_state_ents *e)
{
	for (size_t i = 0; i < e->n; i++) free(e->v[i].key);
	free(e->v);
	memset(e, 0, sizeof *e);
}
