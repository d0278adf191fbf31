/*
 * window.c - the window operator (flinc_window).
 *
 * Semantics follow Flink's WindowOperator with the default triggers
 * (EventTimeTrigger / ProcessingTimeTrigger):
 *
 *   - A record is assigned to its windows (tumbling, sliding, or a session
 *     [ts, ts+gap) merged with the key's sessions it intersects; like Flink,
 *     windows that only touch merge too).
 *   - Event time: a window fires when the watermark reaches its max
 *     timestamp end-1 and its state is cleared at end-1+allowed_lateness
 *     (the cleanup time). A record whose every window is past its cleanup
 *     time is late: it goes to spec.late, or is counted in
 *     op->m.late_dropped. A record for a window that already fired but is
 *     not yet cleaned up updates the window and fires it again at once (a
 *     late firing, as EventTimeTrigger does when the watermark is past).
 *   - Processing time: the timestamp is fl_op_now(); windows fire and are
 *     cleared when the clock reaches end-1. At end of input the open
 *     processing-time windows are flushed (fired), so a bounded job sees
 *     every record in some result.
 *   - Results are emitted with timestamp end-1.
 *
 * State (all in the subtask's keyed state backend, so it is checkpointed
 * with the rest; the window operator keeps nothing but scratch in memory):
 *   "acc"      value state: accumulators (REDUCE, AGGREGATE), namespace =
 *              the window, or the slice for sliced sliding windows, or the
 *              state window of a session. POD accumulators are updated in
 *              place (put_inplace) when the backend offers it: no encode or
 *              decode per record. Others go through the type's codec.
 *   "list"     list state: buffered elements (PROCESS), same namespaces.
 *   "sessions" map state, empty namespace: the key's live sessions, user
 *              key = window, value = its state window (Flink's
 *              MergingWindowSet: merging two sessions folds the state of one
 *              into the other's namespace instead of moving both).
 * A namespace is 16 bytes: start and end as big-endian 64-bit integers.
 *
 * Timers live in op->keyed->timers[domain] with the window as namespace:
 * one at end-1 (fire) and, when allowed lateness makes it later, one at the
 * cleanup time. For a non-PROCESS window the timers are registered when the
 * window's accumulator is created; afterwards state and timers stay
 * consistent (both are part of a checkpoint), so the hot path does one
 * state update per record and no timer work.
 *
 * Sliding windows whose function has `merge` (REDUCE, AGGREGATE) are sliced
 * into panes of gcd(size, slide): a record updates one slice; a window's
 * result merges its slices into a fresh accumulator. Only one timer per key
 * is pending at a time: the end of the next window with data; when it fires
 * it registers the following window if that one shares slices with it. The
 * first slide of a window's slices is removed at the window's cleanup time:
 * no later window contains them. When size/pane is large (> SLICES_MAX) a
 * window fire would read too many slices and the operator assigns records
 * to each window instead, as it does without `merge`.
 *
 * Decoded state (non-POD accumulators, PROCESS elements) lives in the
 * operator's own arena, reset after each record and after each fired timer:
 * one watermark can fire any number of windows, and the task's arena
 * (fl_op_decode) is only reset once the whole watermark is handled.
 *
 * Runs on the subtask's thread only.
 */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "op.h"

#define NS_LEN 16u
#define SLICES_MAX 256

enum { MODE_WINDOWS, MODE_SLICES, MODE_SESSIONS };

typedef struct sess {
	int64_t s, e;   /* the session window */
	int64_t ss, se; /* its state window (namespace of its state) */
	bool merged;    /* intersects the new record's window */
} sess;

typedef struct win {
	const flinc_window_spec *spec;
	const flinc_window_fn *fn;
	const flinc_type *in_t;
	const flinc_type *acc_t; /* REDUCE: the input type; AGGREGATE: acc_type */
	bool acc_pod, in_pod;
	bool event;
	int mode;
	int64_t lateness;
	int64_t pane;
	uint32_t sid_acc, sid_list, sid_sess;
	const fl_backend_ops *be_ops;
	void *be;
	fl_timers *tq;
	bool own_tq;
	int64_t wm;
	void *acc0, *acc1; /* aligned scratch for POD accumulators */
	uint8_t *buf;      /* copy of a list while merging sessions */
	size_t bufcap;
	sess *sv; /* the current key's sessions */
	uint32_t nsv, capsv;
	flinc_arena ar; /* decoded state, reset after each record/timer */
} win;

struct flinc_elements {
	fl_op *op;
	win *w;
	const uint8_t *p, *end;
};

/* ---- small helpers ------------------------------------------------------ */

static inline void be64_put(uint8_t *q, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 7; i >= 0; i--) {
		q[i] = (uint8_t)u;
		u >>= 8;
	}
}

static inline int64_t be64_get(const uint8_t *q)
{
	uint64_t u = 0;
	for (int i = 0; i < 8; i++) u = (u << 8) | q[i];
	return (int64_t)u;
}

static inline void ns_make(uint8_t ns[NS_LEN], int64_t s, int64_t e)
{
	be64_put(ns, s);
	be64_put(ns + 8, e);
}

static inline int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* Flink's TimeWindow.getWindowStartWithOffset, without overflow for
 * timestamps near the ends of the range. */
static inline int64_t win_start(int64_t ts, int64_t offset, int64_t size)
{
	int64_t rem = (ts % size - offset % size) % size;
	if (rem < 0) rem += size;
	return sat_add(ts, -rem);
}

static inline int64_t cleanup_time(const win *w, int64_t end)
{
	return w->event ? sat_add(end - 1, w->lateness) : end - 1;
}

/* Flink's isWindowLate: event time and cleanup time <= watermark. */
static inline bool window_late(const win *w, int64_t end)
{
	return w->event && cleanup_time(w, end) <= w->wm;
}

/* Event time and the watermark already passed the window's end-1. */
static inline bool window_fired(const win *w, int64_t end) { return w->event && end - 1 <= w->wm; }

static inline fl_skey skey_ns(const fl_op *op, const uint8_t *ns, uint32_t nslen)
{
	fl_skey k = fl_keyed_skey(op);
	k.ns = ns;
	k.nslen = nslen;
	return k;
}

static void state_fail(fl_op *op, int rc)
{
	fl_op_fail(op, FLINC_ESTATE, "window %s: state backend: %s", op->node->name, flinc_strerror(rc));
}

static void timer_add(fl_op *op, win *w, int64_t t, const uint8_t *ns)
{
	const fl_keyed *k = op->keyed;
	fl_timers_add(w->tq, t, k->kg, k->key, k->klen, ns, NS_LEN);
}

static void timer_remove(fl_op *op, win *w, int64_t t, const uint8_t *ns)
{
	const fl_keyed *k = op->keyed;
	fl_timers_remove(w->tq, t, k->kg, k->key, k->klen, ns, NS_LEN);
}

/* Register the timers of a window that just got state: the firing timer
 * unless the window fired already, and the cleanup timer when later. */
static void window_timers(fl_op *op, win *w, int64_t end, const uint8_t *ns)
{
	int64_t cl = cleanup_time(w, end);
	if (!window_fired(w, end)) timer_add(op, w, end - 1, ns);
	if (cl != end - 1) timer_add(op, w, cl, ns);
}

static void late_record(fl_op *op, win *w, const void *rec, int64_t ts)
{
	if (w->spec->late)
		fl_op_emit_side(op, w->spec->late->id, rec, ts);
	else
		op->m.late_dropped++;
}

/* Decode state bytes into a zeroed record of t from the operator's arena;
 * NULL when malformed. Raw: POD bytes stored as they are. */
static void *decode_rec(win *w, const flinc_type *t, bool raw, const void *buf, size_t len)
{
	void *rec = flinc_arena_alloc(&w->ar, t->size ? t->size : 1);
	if (!rec) return NULL;
	memset(rec, 0, t->size);
	if (raw) {
		if (len != t->size) return NULL;
		memcpy(rec, buf, len);
		return rec;
	}
	flinc_reader r;
	flinc_reader_init(&r, buf, len);
	if (t->decode(&r, rec, &w->ar) != 0 || r.err) return NULL;
	return rec;
}

/* Bytes to store for a record of type t: POD as is, else msgpack in the
 * task's encode scratch (valid until the next fl_op_encode). */
static const void *encode_rec(fl_op *op, const flinc_type *t, bool pod, const void *rec, size_t *len)
{
	if (pod) {
		*len = t->size;
		return rec;
	}
	return fl_op_encode(op, t, rec, len);
}

/* ---- accumulators ------------------------------------------------------- */

/* The accumulator at k as a private copy (arena), or NULL when absent (or
 * on error, then the task is failed). */
static void *acc_load(fl_op *op, win *w, const fl_skey *k)
{
	const void *val;
	size_t len;
	int rc = w->be_ops->get(w->be, w->sid_acc, k, &val, &len);
	if (rc == FLINC_ENOENT) return NULL;
	if (rc) {
		state_fail(op, rc);
		return NULL;
	}
	void *acc = decode_rec(w, w->acc_t, w->acc_pod, val, len);
	if (!acc) fl_op_fail(op, FLINC_ECODEC, "window %s: malformed accumulator in state", op->node->name);
	return acc;
}

static void acc_store(fl_op *op, win *w, const fl_skey *k, const void *acc)
{
	size_t len;
	const void *bytes = encode_rec(op, w->acc_t, w->acc_pod, acc, &len);
	if (!bytes) {
		fl_op_fail(op, FLINC_ECODEC, "window %s: cannot encode accumulator", op->node->name);
		return;
	}
	int rc = w->be_ops->put(w->be, w->sid_acc, k, bytes, len);
	if (rc) state_fail(op, rc);
}

/* A fresh AGGREGATE accumulator (zeroed, init) from the arena. */
static void *acc_fresh(win *w)
{
	void *acc = flinc_arena_alloc(&w->ar, w->acc_t->size ? w->acc_t->size : 1);
	if (!acc) return NULL;
	memset(acc, 0, w->acc_t->size);
	if (w->fn->init) w->fn->init(acc);
	return acc;
}

/* Fold rec into the accumulator at k; true when the entry was created. */
static bool acc_add(fl_op *op, win *w, const fl_skey *k, const void *rec)
{
	const flinc_window_fn *fn = w->fn;
	size_t sz = w->acc_t->size;
	bool created = false;

	if (w->acc_pod && w->be_ops->put_inplace) {
		/* the hot path: no copy, no codec */
		void *acc = w->be_ops->put_inplace(w->be, w->sid_acc, k, sz, &created);
		if (FL_UNLIKELY(!acc)) {
			state_fail(op, errno == EDQUOT ? FLINC_EMEMLIMIT : FLINC_ENOMEM);
			return false;
		}
		if (created) {
			if (fn->kind == FLINC_WINDOW_REDUCE) {
				memcpy(acc, rec, sz);
				return true;
			}
			if (fn->init) fn->init(acc);
		}
		fn->add(acc, rec);
		return created;
	}

	void *acc = acc_load(op, w, k);
	if (!acc) {
		created = true;
		if (fn->kind == FLINC_WINDOW_REDUCE) {
			acc_store(op, w, k, rec); /* the first element is the accumulator */
			return true;
		}
		acc = acc_fresh(w);
		if (!acc) {
			state_fail(op, FLINC_ENOMEM);
			return false;
		}
	}
	fn->add(acc, rec);
	acc_store(op, w, k, acc);
	return created;
}

static void list_add(fl_op *op, win *w, const fl_skey *k, const void *rec)
{
	size_t len;
	const void *bytes = encode_rec(op, w->in_t, w->in_pod, rec, &len);
	if (!bytes) {
		fl_op_fail(op, FLINC_ECODEC, "window %s: cannot encode element", op->node->name);
		return;
	}
	int rc = w->be_ops->list_append(w->be, w->sid_list, k, bytes, len);
	if (rc) state_fail(op, rc);
}

static uint32_t state_sid(const win *w)
{
	return w->fn->kind == FLINC_WINDOW_PROCESS ? w->sid_list : w->sid_acc;
}

static void state_clear(fl_op *op, win *w, const fl_skey *k)
{
	int rc = w->be_ops->remove(w->be, state_sid(w), k);
	if (rc) state_fail(op, rc);
}

/* ---- firing ------------------------------------------------------------- */

const void *flinc_elements_next(flinc_elements *it)
{
	while (it && it->p < it->end) {
		if (it->end - it->p < 4) break;
		uint32_t len = (uint32_t)it->p[0] | (uint32_t)it->p[1] << 8 | (uint32_t)it->p[2] << 16 |
			(uint32_t)it->p[3] << 24;
		it->p += 4;
		if ((size_t)(it->end - it->p) < len) break;
		const uint8_t *e = it->p;
		it->p += len;
		void *rec = decode_rec(it->w, it->w->in_t, it->w->in_pod, e, len);
		if (rec) return rec;
		fl_op_reject(it->op, "window: malformed element in state");
	}
	if (it) it->p = it->end;
	return NULL;
}

static void emit_result(fl_op *op, win *w, int64_t start, int64_t end, const void *acc, flinc_elements *it)
{
	flinc_time_window wnd = { start, end };
	int64_t saved = op->ctx.ts;
	op->ctx.ts = end - 1;
	w->fn->emit(&op->ctx, &wnd, acc, it);
	op->ctx.ts = saved;
}

/* Fire window [start, end) whose state is at k (per-window and sessions). */
static void fire_state(fl_op *op, win *w, int64_t start, int64_t end, const fl_skey *k)
{
	if (w->fn->kind == FLINC_WINDOW_PROCESS) {
		const void *val;
		size_t len;
		int rc = w->be_ops->get(w->be, w->sid_list, k, &val, &len);
		if (rc == FLINC_ENOENT) return;
		if (rc) {
			state_fail(op, rc);
			return;
		}
		/* The list stays valid during emit: results leave through the
		 * chain, whose operators are not keyed and so never write this
		 * backend. */
		flinc_elements it = { op, w, val, (const uint8_t *)val + len };
		emit_result(op, w, start, end, NULL, &it);
		return;
	}
	void *acc = acc_load(op, w, k);
	if (acc) emit_result(op, w, start, end, acc, NULL);
}

/* Fire sliced window [start, end): merge its slices into a fresh
 * accumulator. *more: a slice of the next window (start+slide) is present.
 * Returns whether any slice was. */
static bool fire_sliced(fl_op *op, win *w, int64_t start, int64_t end, bool *more)
{
	const flinc_window_fn *fn = w->fn;
	int64_t slide = w->spec->slide, p = w->pane;
	int64_t n = w->spec->size / p;
	size_t sz = w->acc_t->size;
	void *acc = NULL;
	*more = false;
	for (int64_t i = 0; i < n; i++) {
		int64_t s = start + i * p;
		uint8_t ns[NS_LEN];
		ns_make(ns, s, s + p);
		fl_skey k = skey_ns(op, ns, NS_LEN);
		const void *val;
		size_t len;
		int rc = w->be_ops->get(w->be, w->sid_acc, &k, &val, &len);
		if (rc == FLINC_ENOENT) continue;
		if (rc) {
			state_fail(op, rc);
			return false;
		}
		if (i * p >= slide) *more = true;
		const void *part;
		if (w->acc_pod) {
			if (len != sz) goto malformed;
			memcpy(w->acc1, val, sz); /* aligned copy */
			part = w->acc1;
		} else if (!(part = decode_rec(w, w->acc_t, false, val, len))) {
			goto malformed;
		}
		if (!acc) {
			if (fn->kind == FLINC_WINDOW_REDUCE) {
				if (w->acc_pod) {
					memcpy(w->acc0, part, sz);
					acc = w->acc0;
				} else {
					acc = (void *)part;
				}
				continue;
			}
			if (w->acc_pod) {
				acc = w->acc0;
				memset(acc, 0, sz);
				if (fn->init) fn->init(acc);
			} else if (!(acc = acc_fresh(w))) {
				state_fail(op, FLINC_ENOMEM);
				return false;
			}
		}
		fn->merge(acc, part);
	}
	if (acc) emit_result(op, w, start, end, acc, NULL);
	return acc != NULL;
malformed:
	fl_op_fail(op, FLINC_ECODEC, "window %s: malformed slice accumulator in state", op->node->name);
	return false;
}

/* The first slide of a sliced window's slices: no later window uses them. */
static void drop_first_slices(fl_op *op, win *w, int64_t start)
{
	int64_t p = w->pane, n = w->spec->slide / p;
	for (int64_t i = 0; i < n; i++) {
		uint8_t ns[NS_LEN];
		ns_make(ns, start + i * p, start + (i + 1) * p);
		fl_skey k = skey_ns(op, ns, NS_LEN);
		int rc = w->be_ops->remove(w->be, w->sid_acc, &k);
		if (rc) {
			state_fail(op, rc);
			return;
		}
	}
}

/* ---- per-window assignment (tumbling; sliding without slices) ---------- */

/* Add rec to window [start, end); false when the window is late. */
static bool add_to_window(fl_op *op, win *w, const void *rec, int64_t start, int64_t end)
{
	if (window_late(w, end)) return false;
	uint8_t ns[NS_LEN];
	ns_make(ns, start, end);
	fl_skey k = skey_ns(op, ns, NS_LEN);
	bool created;
	if (w->fn->kind == FLINC_WINDOW_PROCESS) {
		list_add(op, w, &k, rec);
		created = true; /* unknown: let dedup sort it out */
	} else {
		created = acc_add(op, w, &k, rec);
	}
	if (created) window_timers(op, w, end, ns);
	if (window_fired(w, end)) fire_state(op, w, start, end, &k); /* late firing */
	return true;
}

static void process_windows(fl_op *op, win *w, const void *rec, int64_t ts)
{
	const flinc_window_spec *sp = w->spec;
	bool added = false, any = false;
	if (sp->kind == FLINC_WINDOW_TUMBLING) {
		int64_t start = win_start(ts, sp->offset, sp->size);
		any = true;
		added = add_to_window(op, w, rec, start, sat_add(start, sp->size));
	} else {
		/* Flink's order: from the latest window start down */
		int64_t last = win_start(ts, sp->offset, sp->slide);
		int64_t lo = sat_add(ts, -sp->size);
		for (int64_t s = last; s > lo; s -= sp->slide) {
			any = true;
			if (add_to_window(op, w, rec, s, sat_add(s, sp->size))) added = true;
		}
	}
	/* Like Flink: an element that no window took is reported only when it
	 * is late itself (a sliding gap with slide > size takes nothing). */
	if (!added && (any || (w->event && sat_add(ts, w->lateness) <= w->wm))) late_record(op, w, rec, ts);
}

static void timer_window(fl_op *op, win *w, int64_t t, int64_t start, int64_t end, const uint8_t *ns)
{
	fl_skey k = skey_ns(op, ns, NS_LEN);
	if (t == end - 1) fire_state(op, w, start, end, &k);
	if (t == cleanup_time(w, end)) state_clear(op, w, &k);
}

/* ---- sliced sliding windows ---------------------------------------------- */

static void process_sliced(fl_op *op, win *w, const void *rec, int64_t ts)
{
	const flinc_window_spec *sp = w->spec;
	int64_t size = sp->size, slide = sp->slide;
	int64_t last = win_start(ts, sp->offset, slide);
	int64_t first = last - ((last - ts + size - 1) / slide) * slide;
	if (window_late(w, sat_add(last, size))) {
		late_record(op, w, rec, ts);
		return;
	}
	int64_t ss = win_start(ts, sp->offset, w->pane);
	uint8_t ns[NS_LEN];
	ns_make(ns, ss, ss + w->pane);
	fl_skey k = skey_ns(op, ns, NS_LEN);
	if (acc_add(op, w, &k, rec)) {
		/* a new slice: the earliest window holding it that has not
		 * fired gets the (one) pending timer of the chain */
		for (int64_t s = first; s <= last; s += slide) {
			int64_t end = sat_add(s, size);
			if (!window_fired(w, end)) {
				uint8_t wns[NS_LEN];
				ns_make(wns, s, end);
				timer_add(op, w, end - 1, wns);
				break;
			}
		}
	}
	if (w->event && w->lateness > 0) {
		/* windows that fired but are not cleaned up yet fire again */
		for (int64_t s = first; s <= last; s += slide) {
			int64_t end = sat_add(s, size);
			if (!window_fired(w, end)) break;
			if (window_late(w, end)) continue;
			uint8_t wns[NS_LEN];
			ns_make(wns, s, end);
			timer_add(op, w, cleanup_time(w, end), wns);
			bool more;
			fire_sliced(op, w, s, end, &more);
		}
	}
}

static void timer_sliced(fl_op *op, win *w, int64_t t, int64_t start, int64_t end, const uint8_t *ns)
{
	int64_t cl = cleanup_time(w, end);
	if (t == end - 1) {
		bool more;
		bool any = fire_sliced(op, w, start, end, &more);
		if (more) {
			uint8_t nns[NS_LEN];
			int64_t ns2 = start + w->spec->slide, ne2 = sat_add(end, w->spec->slide);
			ns_make(nns, ns2, ne2);
			timer_add(op, w, ne2 - 1, nns);
		}
		if (any && cl != t) timer_add(op, w, cl, ns);
	}
	if (t == cl) drop_first_slices(op, w, start);
}

/* ---- sessions ------------------------------------------------------------ */

static int sess_collect(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	win *w = ud;
	if (uklen != NS_LEN || len != NS_LEN) return FLINC_ECODEC;
	if (w->nsv == w->capsv) {
		w->capsv = w->capsv ? w->capsv * 2 : 8;
		w->sv = fl_realloc(w->sv, w->capsv * sizeof(sess));
	}
	sess *e = &w->sv[w->nsv++];
	e->s = be64_get(uk);
	e->e = be64_get((const uint8_t *)uk + 8);
	e->ss = be64_get(val);
	e->se = be64_get((const uint8_t *)val + 8);
	e->merged = false;
	return 0;
}

/* Fold the state at `from` into the state at `to`, then remove `from`. */
static void merge_state(fl_op *op, win *w, const fl_skey *to, const fl_skey *from)
{
	const void *val;
	size_t len;
	if (w->fn->kind == FLINC_WINDOW_PROCESS) {
		int rc = w->be_ops->get(w->be, w->sid_list, from, &val, &len);
		if (rc == FLINC_ENOENT) return;
		if (rc) {
			state_fail(op, rc);
			return;
		}
		/* appending invalidates `val`: copy first */
		if (len > w->bufcap) {
			w->buf = fl_realloc(w->buf, len);
			w->bufcap = len;
		}
		memcpy(w->buf, val, len);
		const uint8_t *p = w->buf, *end = w->buf + len;
		while (end - p >= 4) {
			uint32_t el = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				(uint32_t)p[3] << 24;
			p += 4;
			if ((size_t)(end - p) < el) break;
			if ((rc = w->be_ops->list_append(w->be, w->sid_list, to, p, el))) {
				state_fail(op, rc);
				return;
			}
			p += el;
		}
		state_clear(op, w, from);
		return;
	}
	void *src = acc_load(op, w, from);
	if (!src) return;
	void *dst = acc_load(op, w, to);
	if (dst)
		w->fn->merge(dst, src);
	else
		dst = src;
	acc_store(op, w, to, dst);
	state_clear(op, w, from);
}

static void process_session(fl_op *op, win *w, const void *rec, int64_t ts)
{
	int64_t ns_s = ts, ns_e = sat_add(ts, w->spec->gap);
	fl_skey kk = fl_keyed_skey(op);
	kk.ns = NULL;
	kk.nslen = 0;
	w->nsv = 0;
	int rc = w->be_ops->map_iter(w->be, w->sid_sess, &kk, sess_collect, w);
	if (rc) {
		state_fail(op, rc);
		return;
	}

	/* The stored sessions never intersect one another, so only those that
	 * intersect the new window merge (Flink: start <= other.end and
	 * end >= other.start, so touching windows merge). The target state
	 * window is that of the earliest merged session. */
	int64_t rs = ns_s, re = ns_e;
	int nmerged = 0;
	int target = -1;
	for (uint32_t i = 0; i < w->nsv; i++) {
		sess *e = &w->sv[i];
		if (!(e->s <= ns_e && e->e >= ns_s)) continue;
		e->merged = true;
		nmerged++;
		if (target < 0 || e->s < w->sv[target].s) target = (int)i;
		rs = FL_MIN(rs, e->s);
		re = FL_MAX(re, e->e);
	}
	if (window_late(w, re)) {
		/* only possible without a merge: a live session's cleanup is later */
		late_record(op, w, rec, ts);
		return;
	}

	uint8_t sw[NS_LEN];
	uint8_t rns[NS_LEN];
	ns_make(rns, rs, re);
	if (nmerged == 0) {
		memcpy(sw, rns, NS_LEN);
		if ((rc = w->be_ops->map_put(w->be, w->sid_sess, &kk, rns, NS_LEN, sw, NS_LEN))) {
			state_fail(op, rc);
			return;
		}
	} else {
		sess *t = &w->sv[target];
		ns_make(sw, t->ss, t->se);
		bool extends = !(nmerged == 1 && t->s == rs && t->e == re);
		if (extends) {
			fl_skey to = skey_ns(op, sw, NS_LEN);
			for (uint32_t i = 0; i < w->nsv; i++) {
				sess *e = &w->sv[i];
				if (!e->merged) continue;
				uint8_t mns[NS_LEN];
				ns_make(mns, e->s, e->e);
				/* the merged window's trigger and cleanup timers go
				 * (one timer when they are the same time) */
				int64_t cl = cleanup_time(w, e->e);
				timer_remove(op, w, e->e - 1, mns);
				if (cl != e->e - 1) timer_remove(op, w, cl, mns);
				if (nmerged == 1) {
					/* one session grows: its new window goes in
					 * first, so the key's map prefix stays (a
					 * remove-then-put would free and recreate it) */
					if ((rc = w->be_ops->map_put(w->be, w->sid_sess, &kk, rns, NS_LEN, sw,
								     NS_LEN))) {
						state_fail(op, rc);
						return;
					}
				}
				if (w->be_ops->map_remove(w->be, w->sid_sess, &kk, mns, NS_LEN)) {
					state_fail(op, FLINC_ESTATE);
					return;
				}
				if ((int)i != target) {
					uint8_t fns[NS_LEN];
					ns_make(fns, e->ss, e->se);
					fl_skey from = skey_ns(op, fns, NS_LEN);
					merge_state(op, w, &to, &from);
				}
			}
			if (nmerged > 1 &&
			    (rc = w->be_ops->map_put(w->be, w->sid_sess, &kk, rns, NS_LEN, sw, NS_LEN))) {
				state_fail(op, rc);
				return;
			}
		}
	}

	fl_skey k = skey_ns(op, sw, NS_LEN);
	if (w->fn->kind == FLINC_WINDOW_PROCESS)
		list_add(op, w, &k, rec);
	else
		acc_add(op, w, &k, rec);
	/* onElement of the (merged) window, then its cleanup timer */
	window_timers(op, w, re, rns);
	if (window_fired(w, re)) fire_state(op, w, rs, re, &k);
}

static void timer_session(fl_op *op, win *w, int64_t t, int64_t start, int64_t end, const uint8_t *ns)
{
	fl_skey kk = fl_keyed_skey(op);
	kk.ns = NULL;
	kk.nslen = 0;
	const void *val;
	size_t len;
	int rc = w->be_ops->map_get(w->be, w->sid_sess, &kk, ns, NS_LEN, &val, &len);
	if (rc == FLINC_ENOENT) return; /* merged away meanwhile */
	if (rc || len != NS_LEN) {
		state_fail(op, rc ? rc : FLINC_ECODEC);
		return;
	}
	uint8_t sw[NS_LEN];
	memcpy(sw, val, NS_LEN);
	fl_skey k = skey_ns(op, sw, NS_LEN);
	if (t == end - 1) fire_state(op, w, start, end, &k);
	if (t == cleanup_time(w, end)) {
		state_clear(op, w, &k);
		if ((rc = w->be_ops->map_remove(w->be, w->sid_sess, &kk, ns, NS_LEN))) state_fail(op, rc);
	}
}

/* ---- operator ------------------------------------------------------------ */

static void fire_due(fl_op *op, win *w, int64_t upto)
{
	fl_timer t;
	uint8_t ns[NS_LEN];
	while (fl_timers_pop(w->tq, upto, &t)) {
		if (FL_UNLIKELY(t.nslen != NS_LEN || t.klen > FLINC_KEY_MAX))
			continue; /* not a window timer */
		memcpy(ns, t.ns, NS_LEN);
		/* copies the key: t.key dies at the next queue call */
		fl_keyed_set_key(op, t.kg, t.key, t.klen);
		fl_keyed_set_ns(op, ns, NS_LEN);
		fl_op_prefetch_firing(op, w->tq, upto);
		int64_t start = be64_get(ns), end = be64_get(ns + 8);
		switch (w->mode) {
		case MODE_WINDOWS: timer_window(op, w, t.ts, start, end, ns); break;
		case MODE_SLICES: timer_sliced(op, w, t.ts, start, end, ns); break;
		default: timer_session(op, w, t.ts, start, end, ns); break;
		}
		fl_keyed_set_ns(op, NULL, 0);
		fl_arena_reset(&w->ar);
	}
}

static int64_t gcd64(int64_t a, int64_t b)
{
	while (b) {
		int64_t r = a % b;
		a = b;
		b = r;
	}
	return a;
}

static int win_open(fl_op *op)
{
	win *w = op->priv;
	const fl_node *n = op->node;
	const flinc_window_spec *sp = &n->u.window.spec;
	const flinc_window_fn *fn = &n->u.window.fn;
	const char *name = n->name ? n->name : "window";
	w->spec = sp;
	w->fn = fn;
	w->wm = INT64_MIN;
	fl_arena_init(&w->ar, 16384);

#define BAD(...)                                           \
	do {                                               \
		fl_op_fail(op, FLINC_EINVAL, __VA_ARGS__); \
		return FLINC_EINVAL;                       \
	} while (0)
	if (!op->keyed) BAD("window %s: needs a keyed operator", name);
	if (fn->version < 1 || !fn->emit) BAD("window %s: window function without emit", name);
	if (fn->kind > FLINC_WINDOW_PROCESS)
		BAD("window %s: unknown window function kind %d", name, (int)fn->kind);
	if (fn->kind != FLINC_WINDOW_PROCESS && !fn->add) BAD("window %s: REDUCE/AGGREGATE need add", name);
	if (fn->kind == FLINC_WINDOW_AGGREGATE && !fn->acc_type)
		BAD("window %s: AGGREGATE needs acc_type", name);
	if (sp->domain != FLINC_EVENT_TIME && sp->domain != FLINC_PROCESSING_TIME)
		BAD("window %s: unknown time domain", name);
	if (sp->allowed_lateness < 0) BAD("window %s: negative allowed lateness", name);
	switch (sp->kind) {
	case FLINC_WINDOW_TUMBLING:
		if (sp->size <= 0) BAD("window %s: size must be > 0", name);
		break;
	case FLINC_WINDOW_SLIDING:
		if (sp->size <= 0 || sp->slide <= 0) BAD("window %s: size and slide must be > 0", name);
		break;
	case FLINC_WINDOW_SESSION:
		if (sp->gap <= 0) BAD("window %s: gap must be > 0", name);
		if (fn->kind != FLINC_WINDOW_PROCESS && !fn->merge)
			BAD("window %s: session windows need a merge function", name);
		break;
	default: BAD("window %s: unknown window kind %d", name, (int)sp->kind);
	}
#undef BAD

	w->event = sp->domain == FLINC_EVENT_TIME;
	w->lateness = w->event ? sp->allowed_lateness : 0;
	w->in_t = n->in[0];
	w->in_pod = (w->in_t->flags & FLINC_TYPE_POD) != 0;
	w->acc_t = fn->kind == FLINC_WINDOW_REDUCE ? w->in_t : fn->acc_type;
	if (fn->kind == FLINC_WINDOW_PROCESS) w->acc_t = NULL;
	w->acc_pod = w->acc_t && (w->acc_t->flags & FLINC_TYPE_POD);

	w->mode = MODE_WINDOWS;
	if (sp->kind == FLINC_WINDOW_SESSION) {
		w->mode = MODE_SESSIONS;
	} else if (sp->kind == FLINC_WINDOW_SLIDING && sp->slide < sp->size && fn->merge &&
		   fn->kind != FLINC_WINDOW_PROCESS) {
		w->pane = gcd64(sp->size, sp->slide);
		if (sp->size / w->pane <= SLICES_MAX) w->mode = MODE_SLICES;
	}

	w->be_ops = fl_op_backend(op, &w->be);
	int rc;
	if (fn->kind == FLINC_WINDOW_PROCESS)
		rc = fl_op_declare_state(op, "list", FL_STATE_LIST, &w->sid_list);
	else
		rc = fl_op_declare_state(op, "acc", FL_STATE_VALUE, &w->sid_acc);
	if (!rc && w->mode == MODE_SESSIONS)
		rc = fl_op_declare_state(op, "sessions", FL_STATE_MAP, &w->sid_sess);
	if (rc) {
		fl_op_fail(op, rc, "window %s: cannot declare state: %s", name, flinc_strerror(rc));
		return rc;
	}

	int d = w->event ? FLINC_EVENT_TIME : FLINC_PROCESSING_TIME;
	if (!op->keyed->timers[d]) {
		op->keyed->timers[d] = fl_timers_create();
		w->own_tq = true;
	}
	w->tq = op->keyed->timers[d];

	if (w->acc_t) {
		w->acc0 = fl_calloc(1, w->acc_t->size + 1);
		w->acc1 = fl_calloc(1, w->acc_t->size + 1);
	}
	return 0;
}

static void win_process(fl_op *op, uint32_t input, const void *rec, int64_t ts)
{
	win *w = op->priv;
	(void)input;
	if (w->event) {
		if (FL_UNLIKELY(ts == FLINC_TS_NONE)) {
			fl_op_fail(op, FLINC_EINVAL,
				   "window %s: record without event time (assign timestamps with "
				   "flinc_assign_timestamps, or use processing time)",
				   op->node->name);
			return;
		}
	} else {
		ts = fl_op_now(op);
	}
	switch (w->mode) {
	case MODE_WINDOWS: process_windows(op, w, rec, ts); break;
	case MODE_SLICES: process_sliced(op, w, rec, ts); break;
	default: process_session(op, w, rec, ts); break;
	}
	fl_arena_reset(&w->ar);
}

static void win_watermark(fl_op *op, int64_t wm)
{
	win *w = op->priv;
	if (wm > w->wm) {
		/* like Flink's timer service: the new watermark is current while
		 * its timers fire */
		w->wm = wm;
		if (w->event) fire_due(op, w, wm);
	}
	fl_op_forward_watermark(op, wm);
}

static void win_proc_time(fl_op *op, int64_t now)
{
	win *w = op->priv;
	if (!w->event) fire_due(op, w, now);
}

static int64_t win_next_proc_time(fl_op *op)
{
	win *w = op->priv;
	return w->event || !w->tq ? INT64_MAX : fl_timers_next(w->tq);
}

static void win_end_input(fl_op *op)
{
	win *w = op->priv;
	/* flush open processing-time windows: the clock will not get there
	 * while the job still runs */
	if (!w->event) fire_due(op, w, INT64_MAX);
}

static void win_close(fl_op *op)
{
	win *w = op->priv;
	if (!w) return;
	if (w->own_tq) {
		int d = w->event ? FLINC_EVENT_TIME : FLINC_PROCESSING_TIME;
		if (op->keyed && op->keyed->timers[d] == w->tq) op->keyed->timers[d] = NULL;
		fl_timers_destroy(w->tq);
		w->own_tq = false;
	}
	w->tq = NULL;
	free(w->acc0);
	free(w->acc1);
	free(w->buf);
	free(w->sv);
	w->acc0 = w->acc1 = NULL;
	w->buf = NULL;
	w->sv = NULL;
	if (w->ar.chunk_size) fl_arena_fini(&w->ar);
	memset(&w->ar, 0, sizeof(w->ar));
}

const fl_op_ops fl_op_window_ops = {
	.version = FL_OP_VERSION,
	.priv_size = sizeof(win),
	.open = win_open,
	.process = win_process,
	.watermark = win_watermark,
	.proc_time = win_proc_time,
	.next_proc_time = win_next_proc_time,
	.end_input = win_end_input,
	.close = win_close,
};
