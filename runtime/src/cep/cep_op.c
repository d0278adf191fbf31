/*
 * cep_op.c - flinc_cep: the keyed CEP operator, a process function over
 * the public job API (keyed state and event-time timers), as Flink's
 * CepOperator in event time.
 *
 * Per key:
 *   cep-events   the events not yet passed by the watermark: an event-time
 *                buffer (flinc_evbuf: the encoded events by time, one
 *                wake-up timer per key, absent when none waits).
 *   cep-nfa      the key's NFA run time (nfa.c) as bytes: the shared buffer
 *                (events once, nodes) and the partial matches.
 * So a key without pending events or partial matches has no state. A
 * timer takes the events the watermark passed out of the buffer (by time,
 * then by the job's comparator, then in arrival order), feeds them to the
 * NFA, advances its time to the watermark (timeouts), stores what is left
 * and, with within, sets a timer at the earliest time a partial match times
 * out. Until 2026-12-07 the events waited in list state "cep-pending" with
 * value state "cep-wake" (and before that, a timer per event): open moves
 * a restored checkpoint's into the buffer.
 * Events at or before the watermark when they arrive are late.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph.h"
#include "../op.h"
#include "cep_internal.h"

#define CEP_MAX_PATTERNS 32

/* One operator: its patterns (flinc_cep_multi: several over one buffer of
 * pending events), each with its options; late and compare are opts[0]'s. */
typedef struct cep_def {
	flinc_process_fn fn;
	uint32_t n;
	const cep_nfa *nfa[CEP_MAX_PATTERNS];
	flinc_cep_opts o[CEP_MAX_PATTERNS];
	const flinc_type *in;
} cep_def;

/* ---- state types: raw bytes ----------------------------------------- */

typedef struct blob {
	const uint8_t *p;
	uint32_t len;
} blob;

static int blob_encode(const void *rec, flinc_writer *w)
{
	const blob *b = rec;
	flinc_w_raw(w, b->p, b->len);
	return 0;
}
static int blob_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	blob *b = rec;
	b->p = r->p;
	b->len = (uint32_t)(r->end - r->p);
	r->p = r->end;
	return 0;
}
static const flinc_type blob_type = {
	FLINC_TYPE_VERSION, "cep.nfa", sizeof(blob), 0, blob_encode, blob_decode
};

typedef struct pending {
	int64_t ts;
	const uint8_t *p;
	uint32_t len;
	const void *rec; /* decoded, while a timer sorts and feeds them */
} pending;

static int pending_encode(const void *rec, flinc_writer *w)
{
	const pending *e = rec;
	flinc_w_array(w, 2);
	flinc_w_int(w, e->ts);
	flinc_w_bin(w, e->p, e->len);
	return 0;
}
static int pending_decode(flinc_reader *r, void *rec, flinc_arena *a)
{
	(void)a;
	pending *e = rec;
	if (flinc_r_array(r) != 2) return -1;
	e->ts = flinc_r_int(r);
	e->p = flinc_r_bin(r, &e->len);
	return r->err ? -1 : 0;
}
static const flinc_type pending_type = { FLINC_TYPE_VERSION, "cep.pending", sizeof(pending), 0,
					 pending_encode,     pending_decode };

/* ---- per subtask ---------------------------------------------------- */

typedef struct cep_local {
	flinc_state *nfa;
	flinc_evbuf *events;
	uint8_t *buf; /* encoding scratch, grown when too small */
	size_t cap;
} cep_local;

typedef struct run_ctx {
	flinc_ctx *c;
	const cep_def *d;
	uint32_t i; /* the pattern being run */
} run_ctx;

static int migrate_legacy(flinc_ctx *c, cep_local *l, const cep_def *d);

/* An element of the older "cep-pending" list as an event of the buffer. */
static int64_t from_pending_list(const void *elem, void *rec)
{
	const pending *e = elem;
	blob *b = rec;
	b->p = e->p;
	b->len = e->len;
	return e->ts;
}

static int cep_open(flinc_ctx *c, void *lp)
{
	cep_local *l = lp;
	const cep_def *d = flinc_ctx_arg(c);
	/* "cep-nfa": one pattern's run time; "cep-nfa-all": every pattern's */
	l->nfa = flinc_state_value(c, d->n == 1 ? "cep-nfa" : "cep-nfa-all", &blob_type);
	if (!l->nfa) return FLINC_ENOMEM;
	l->events = flinc_evbuf_declare(c, "cep-events", &blob_type);
	l->cap = 4096;
	l->buf = malloc(l->cap);
	if (!l->events || !l->buf) return FLINC_ENOMEM;
	int rc = flinc_evbuf_adopt_list(l->events, "cep-pending", &pending_type, from_pending_list);
	if (rc == FLINC_OK) rc = flinc_state_drop(c, "cep-wake");
	if (rc == FLINC_OK && d->n > 1) rc = migrate_legacy(c, l, d);
	return rc;
}

static void cep_close(flinc_ctx *c, void *lp)
{
	(void)c;
	cep_local *l = lp;
	free(l->buf);
	l->buf = NULL;
}

/* Encode with fn into l->buf, growing it; NULL when it cannot. */
static const uint8_t *encode(cep_local *l, int (*fn)(void *ud, flinc_writer *w), void *ud, uint32_t *len)
{
	for (;;) {
		flinc_writer w;
		flinc_writer_init(&w, l->buf, l->cap);
		fn(ud, &w);
		if (!w.err) {
			*len = (uint32_t)flinc_writer_len(&w, l->buf);
			return l->buf;
		}
		if (l->cap >= (1u << 30)) return NULL;
		uint8_t *nb = realloc(l->buf, l->cap * 2);
		if (!nb) return NULL;
		l->buf = nb;
		l->cap *= 2;
	}
}

typedef struct enc_ev {
	const flinc_type *t;
	const void *rec;
} enc_ev;
static int enc_event(void *ud, flinc_writer *w)
{
	enc_ev *e = ud;
	return e->t->encode(e->rec, w);
}

static void cep_process(flinc_ctx *c, void *lp, const void *in)
{
	cep_local *l = lp;
	const cep_def *d = flinc_ctx_arg(c);
	int64_t ts = flinc_ctx_timestamp(c);
	if (ts == FLINC_TS_NONE) {
		flinc_ctx_reject(c, "CEP needs event time (flinc_assign_timestamps before flinc_cep)");
		return;
	}
	if (ts <= flinc_ctx_watermark(c)) {
		if (d->o[0].late)
			flinc_emit_side(c, d->o[0].late, in);
		else
			flinc_ctx_reject(c, "CEP event later than the watermark (no late side output)");
		return;
	}
	blob ev;
	if (d->in->flags & FLINC_TYPE_POD) {
		ev.p = in;
		ev.len = (uint32_t)d->in->size;
	} else {
		enc_ev e = { d->in, in };
		ev.p = encode(l, enc_event, &e, &ev.len);
		if (!ev.p) {
			flinc_ctx_reject(c, "CEP event too large to encode");
			return;
		}
	}
	int rc = flinc_evbuf_add(l->events, ts, &ev);
	if (rc != FLINC_OK) flinc_ctx_fail(c, "CEP cannot buffer an event: %s", flinc_strerror(rc));
}

/* ---- the timer: feed the NFA ---------------------------------------- */

typedef struct pend_list {
	flinc_arena *a;
	pending *v;
	uint32_t n, cap;
} pend_list;

static int collect(void *ud, int64_t ts, const void *v)
{
	pend_list *pl = ud;
	if (pl->n == pl->cap) {
		uint32_t nc = pl->cap ? pl->cap * 2 : 16;
		pending *nv = flinc_arena_alloc(pl->a, nc * sizeof(pending));
		if (pl->n) memcpy(nv, pl->v, pl->n * sizeof(pending));
		pl->v = nv;
		pl->cap = nc;
	}
	const blob *b = v;
	pl->v[pl->n++] = (pending){ .ts = ts, .p = b->p, .len = b->len };
	return 0;
}

static const void *decode_event(void *ud, const uint8_t *bytes, uint32_t len);

/* b before a? By time, then the job's comparator (decoding both). */
static bool before(run_ctx *rc, pending *a, pending *b)
{
	if (b->ts != a->ts) return b->ts < a->ts;
	int (*cmp)(const void *, const void *) = rc->d->o[0].compare;
	if (!cmp) return false;
	if (!a->rec) a->rec = decode_event(rc, a->p, a->len);
	if (!b->rec) b->rec = decode_event(rc, b->p, b->len);
	return a->rec && b->rec && cmp(b->rec, a->rec) < 0;
}

/* Stable merge sort: arrival order among equals. */
static void sort_pending(run_ctx *rc, pending *v, pending *tmp, uint32_t n)
{
	if (n < 2) return;
	uint32_t h = n / 2;
	sort_pending(rc, v, tmp, h);
	sort_pending(rc, v + h, tmp, n - h);
	uint32_t i = 0, j = h, k = 0;
	while (i < h && j < n) tmp[k++] = before(rc, &v[i], &v[j]) ? v[j++] : v[i++];
	while (i < h) tmp[k++] = v[i++];
	while (j < n) tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(pending));
}

static const void *decode_event(void *ud, const uint8_t *bytes, uint32_t len)
{
	run_ctx *rc = ud;
	const flinc_type *t = rc->d->in;
	flinc_arena *a = flinc_ctx_arena(rc->c);
	void *rec = flinc_arena_alloc(a, t->size);
	if (t->flags & FLINC_TYPE_POD) {
		if (len != t->size) return NULL;
		memcpy(rec, bytes, len);
		return rec;
	}
	memset(rec, 0, t->size);
	flinc_reader r;
	flinc_reader_init(&r, bytes, len);
	if (t->decode(&r, rec, a) != 0 || r.err) return NULL;
	return rec;
}

/* An event of the NFA's state, when a condition or select first reads it.
 * Stored state that does not decode (it never should: checkpoints are
 * checked) gives a zeroed record, counted as rejected, never NULL. */
static const void *decode_stored(void *ud, const uint8_t *bytes, uint32_t len)
{
	run_ctx *rc = ud;
	const void *rec = decode_event(ud, bytes, len);
	if (rec) return rec;
	flinc_ctx_reject(rc->c, "CEP stored event could not be decoded: a zeroed one is used");
	void *z = flinc_arena_alloc(flinc_ctx_arena(rc->c), rc->d->in->size);
	memset(z, 0, rc->d->in->size);
	return z;
}

static void on_match(void *ud, const flinc_cep_match *m, int64_t ts)
{
	run_ctx *rc = ud;
	int64_t saved = rc->c->ts;
	rc->c->ts = ts;
	fl_ctx_set_arg(rc->c, rc->d->o[rc->i].arg);
	rc->d->o[rc->i].select(rc->c, m);
	fl_ctx_set_arg(rc->c, rc->d);
	rc->c->ts = saved;
}

static void on_timeout(void *ud, const flinc_cep_match *m, int64_t ts)
{
	run_ctx *rc = ud;
	int64_t saved = rc->c->ts;
	rc->c->ts = ts;
	fl_ctx_set_arg(rc->c, rc->d->o[rc->i].arg);
	rc->d->o[rc->i].timeout(rc->c, m, ts);
	fl_ctx_set_arg(rc->c, rc->d);
	rc->c->ts = saved;
}

static int enc_rt(void *ud, flinc_writer *w) { return cep_rt_save(ud, w); }

/* One pattern's stored run time: bytes (len 0: none). */
typedef struct slice {
	const uint8_t *p;
	uint32_t len;
} slice;

/* Feed pattern rc->i the first `ready` pending events (sorted), advance
 * it to the watermark and set its timeout timer. `in` is its stored run
 * time (len 0: none, and then nothing happens unless events are ready);
 * *out becomes its new one (in arena memory; len 0: nothing left). Returns
 * whether it changed. */
static bool run_pattern(run_ctx *rc, cep_local *l, slice in, pending *pv, uint32_t ready, int64_t wm,
			slice *out)
{
	flinc_ctx *c = rc->c;
	const cep_def *d = rc->d;
	const uint32_t k = rc->i;
	flinc_arena *a = flinc_ctx_arena(c);
	*out = in;
	if (!in.len && !ready) return false; /* nothing pending, nothing matching */
	/* No event and no timeout due: advancing would change nothing (the
	 * timer firing is another pattern's, or the event buffer's). */
	if (!ready && cep_rt_idle_until(d->nfa[k], in.p, in.len, wm)) return false;
	cep_rt r = { .on_match = on_match,
		     .on_timeout = d->o[k].timeout ? on_timeout : NULL,
		     .decode = decode_stored,
		     .ud = rc };
	if (in.len) {
		/* the run time points into its bytes: the caller's arena copy */
		if (cep_rt_load(&r, d->nfa[k], a, (uint8_t *)in.p, in.len) != FLINC_OK) {
			flinc_ctx_reject(c,
					 "CEP state of a key could not be read (another pattern?): dropped");
			cep_rt_init(&r, d->nfa[k], a);
		}
	} else {
		cep_rt_init(&r, d->nfa[k], a);
	}
	for (uint32_t i = 0; i < ready; i++) {
		pending *p = &pv[i];
		if (!p->rec) p->rec = decode_event(rc, p->p, p->len);
		if (!p->rec) {
			if (k == 0) flinc_ctx_reject(c, "CEP buffered event could not be decoded");
			continue;
		}
		cep_rt_advance(&r, p->ts);
		cep_rt_event(&r, p->rec, p->p, p->len, p->ts);
	}
	cep_rt_advance(&r, wm);

	/* The timeout timer: at the earliest time a partial match times out
	 * (set once per value; a stale one finds nothing to do). */
	int64_t next = cep_rt_next_timeout(&r);
	if (next != INT64_MAX && wm != INT64_MAX) {
		if (next <= wm) next = wm + 1;
		if (next != r.timer) {
			flinc_timer_register(c, FLINC_EVENT_TIME, next);
			r.timer = next;
			r.changed = true;
		}
	}
	if (cep_rt_empty(&r)) {
		out->p = NULL;
		out->len = 0;
		return in.len != 0;
	}
	if (!r.changed && in.len) return false;
	uint32_t len;
	const uint8_t *enc = encode(l, enc_rt, &r, &len);
	uint8_t *copy = enc ? flinc_arena_alloc(a, len ? len : 1) : NULL;
	if (!copy) {
		flinc_ctx_fail(c, "CEP cannot store partial matches: %s", flinc_strerror(FLINC_ENOMEM));
		return false;
	}
	memcpy(copy, enc, len);
	out->p = copy;
	out->len = len;
	return true;
}

/* The stored state of a key: one pattern's run time as it is (flinc_cep),
 * or, for several patterns, an array of one bin per pattern (empty: none),
 * so a timer reads and writes one value, not one per pattern. */
typedef struct enc_all {
	const slice *s;
	uint32_t n;
} enc_all;
static int enc_slices(void *ud, flinc_writer *w)
{
	const enc_all *e = ud;
	flinc_w_array(w, e->n);
	for (uint32_t k = 0; k < e->n; k++) flinc_w_bin(w, e->s[k].p, e->s[k].len);
	return 0;
}

/* Splits a stored value (copied to the arena) into the patterns' run
 * times; false when it does not parse. */
static bool split_slices(const cep_def *d, uint8_t *p, uint32_t len, slice *in)
{
	if (d->n == 1) {
		in[0] = (slice){ p, len };
		return true;
	}
	flinc_reader r;
	flinc_reader_init(&r, p, len);
	if (flinc_r_array(&r) != d->n) return false;
	for (uint32_t k = 0; k < d->n && !r.err; k++) in[k].p = flinc_r_bin(&r, &in[k].len);
	return !r.err;
}

static void cep_on_timer(flinc_ctx *c, void *lp, int64_t t, flinc_time_domain dom)
{
	cep_local *l = lp;
	const cep_def *d = flinc_ctx_arg(c);
	if (dom != FLINC_EVENT_TIME) return;
	flinc_arena *a = flinc_ctx_arena(c);
	int64_t wm = flinc_ctx_watermark(c);
	if (wm < t) wm = t;

	/* The events the watermark passed: by time (and arrival), then by
	 * the job's comparator among equal times. */
	run_ctx rc = { c, d, 0 };
	pend_list pl = { .a = a };
	if (flinc_evbuf_release(l->events, wm, collect, &pl) < 0) return;
	uint32_t ready = pl.n;
	if (ready > 1 && d->o[0].compare) {
		pending *tmp = flinc_arena_alloc(a, ready * sizeof(pending));
		sort_pending(&rc, pl.v, tmp, ready);
	}

	slice in[CEP_MAX_PATTERNS] = { { 0 } }, out[CEP_MAX_PATTERNS];
	const blob *b = flinc_value_get(l->nfa);
	if (!b && !ready) return; /* nothing pending, nothing matching */
	if (b) {
		uint8_t *copy = flinc_arena_alloc(a, b->len ? b->len : 1);
		memcpy(copy, b->p, b->len);
		if (!split_slices(d, copy, b->len, in)) {
			flinc_ctx_reject(c,
					 "CEP state of a key could not be read (another pattern?): dropped");
			memset(in, 0, sizeof in);
		}
	}
	bool changed = false, any = false;
	for (uint32_t k = 0; k < d->n; k++) {
		rc.i = k;
		changed |= run_pattern(&rc, l, in[k], pl.v, ready, wm, &out[k]);
		any |= out[k].len != 0;
	}
	if (!any) {
		if (b) flinc_state_clear(l->nfa);
	} else if (changed || !b) {
		blob nb;
		if (d->n == 1) {
			nb.p = out[0].p;
			nb.len = out[0].len;
		} else {
			enc_all ea = { out, d->n };
			nb.p = encode(l, enc_slices, &ea, &nb.len);
		}
		int rc2 = nb.p ? flinc_value_put(l->nfa, &nb) : FLINC_ERANGE;
		if (rc2 != FLINC_OK)
			flinc_ctx_fail(c, "CEP cannot store partial matches: %s", flinc_strerror(rc2));
	}
}

/* ---- state written before the patterns were stored together ---------- */

/* Until 2026-12-06 flinc_cep_multi kept one value per pattern: "cep-nfa"
 * (pattern 0) and "cep-nfa.<i>". A restore of such a checkpoint or
 * savepoint declares those states; open moves their entries into
 * "cep-nfa-all" once (then they are empty and no longer snapshotted as
 * data), so no partial match is lost across the upgrade. */
static int migrate_legacy(flinc_ctx *c, cep_local *l, const cep_def *d)
{
	fl_op *op = c->op;
	void *be;
	const fl_backend_ops *bo = fl_op_backend(op, &be);
	uint32_t sid_all;
	bool declared = false;
	int rc = FLINC_OK;
	slice sl[CEP_MAX_PATTERNS];
	for (uint32_t i = 0; i < d->n && !rc; i++) {
		char name[64];
		snprintf(name, sizeof name, i ? "cep-nfa.%u" : "cep-nfa", i);
		/* the backend's own list: a native (RocksDB) restore brings its
		 * states without declaring them in the task */
		uint32_t sid;
		if (!fl_op_find_state(op, name, &sid, NULL)) continue;
		fl_state_ents ents = { 0 };
		rc = fl_op_state_entries(op, sid, true, &ents);
		if (!rc && ents.n && !declared) {
			rc = fl_op_declare_state(op, "cep-nfa-all", FL_STATE_VALUE, &sid_all);
			declared = true;
		}
		for (size_t e = 0; e < ents.n && !rc; e++) {
			fl_state_ent *le = &ents.v[e];
			fl_skey k = {
				le->kg,  le->klen, le->nslen,
				le->key, le->ns,   fl_key_hash(op->keyed->key_hash, le->key, le->klen)
			};
			const void *cur;
			size_t curlen;
			uint8_t *copy = NULL;
			memset(sl, 0, sizeof sl);
			if (bo->get(be, sid_all, &k, &cur, &curlen) == FLINC_OK) {
				copy = malloc(curlen + 1);
				if (!copy) {
					rc = FLINC_ENOMEM;
					break;
				}
				memcpy(copy, cur, curlen);
				if (!split_slices(d, copy, (uint32_t)curlen, sl)) memset(sl, 0, sizeof sl);
			}
			sl[i] = (slice){ le->val, le->vlen };
			enc_all ea = { sl, d->n };
			uint32_t len;
			const uint8_t *enc = encode(l, enc_slices, &ea, &len);
			rc = enc ? bo->put(be, sid_all, &k, enc, len) : FLINC_ENOMEM;
			if (!rc) rc = bo->remove(be, sid, &k);
			free(copy);
		}
		fl_state_ents_free(&ents);
	}
	if (rc)
		flinc_ctx_fail(c, "CEP cannot move the partial matches of an older checkpoint: %s",
			       flinc_strerror(rc));
	return rc;
}

/* ---- building ------------------------------------------------------- */

FLINC_API flinc_stream *flinc_cep_multi(flinc_stream *in, const char *name, size_t n,
					flinc_cep_pattern *const *p, const flinc_cep_opts *o)
{
	if (!in) return NULL;
	flinc_env *e = in->env;
	const char *nm = name ? name : "cep";
	cep_def *d = flinc_env_alloc(e, sizeof(*d));
	const flinc_type *out = o && n && o[0].out ? o[0].out : in->type;
	char err[300] = "";
	if (!p || !o || n == 0 || n > CEP_MAX_PATTERNS)
		flinc_env_fail(e, "cep %s: needs 1 to %d patterns, each with its options", nm,
			       CEP_MAX_PATTERNS);
	else if (in->part != FL_PART_HASH)
		flinc_env_fail(e, "cep %s: needs a keyed stream (flinc_key_by before flinc_cep)", nm);
	else if (!in->type)
		flinc_env_fail(e, "cep %s: input stream without a type", nm);
	else
		for (size_t i = 0; i < n; i++) {
			if (!p[i]) {
				flinc_env_fail(e, "cep %s: no pattern %zu", nm, i);
				break;
			}
			if (!o[i].select || !o[i].out) {
				flinc_env_fail(
					e, "cep %s: pattern %zu needs a select function and its output type",
					nm, i);
				break;
			}
			if (o[i].out != out) {
				flinc_env_fail(
					e,
					"cep %s: pattern %zu emits another type than pattern 0 (one output stream)",
					nm, i);
				break;
			}
			if (!(d->nfa[i] = cep_compile((flinc_cep_pattern *)p[i], err, sizeof err))) {
				if (n > 1)
					flinc_env_fail(e, "cep %s: pattern %zu: %s", nm, i, err);
				else
					flinc_env_fail(e, "cep %s: %s", nm, err);
				break;
			}
			d->o[i] = o[i];
		}
	d->n = (uint32_t)(n <= CEP_MAX_PATTERNS ? n : 0);
	d->in = in->type;
	d->fn.version = FLINC_FN_VERSION;
	d->fn.local_size = sizeof(cep_local);
	d->fn.open = cep_open;
	d->fn.process = cep_process;
	d->fn.on_timer = cep_on_timer;
	d->fn.close = cep_close;
	return flinc_process(in, nm, &d->fn, d, out);
}

FLINC_API flinc_stream *flinc_cep(flinc_stream *in, const char *name, const flinc_cep_pattern *p,
				  const flinc_cep_opts *o)
{
	flinc_cep_pattern *pp = (flinc_cep_pattern *)p;
	if (in && p && o) return flinc_cep_multi(in, name, 1, &pp, o);
	if (in) flinc_env_fail(in->env, "cep %s: needs a pattern and options", name ? name : "cep");
	return in ? flinc_cep_multi(in, name, 0, NULL, NULL) : NULL;
}
