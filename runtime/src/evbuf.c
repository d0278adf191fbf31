/*
 * evbuf.c - the keyed event-time buffer (flinc.h, "event-time buffer"):
 * records wait per key until the watermark passes them, then leave oldest
 * first, arrival order among equal times.
 *
 * Per key, one of two layouts:
 *
 *   list  list state <name>.list; element = the time (8 bytes,
 *         little-endian) and the record, in arrival order. An add is one
 *         append (a RocksDB merge operand: no read). A release reads the
 *         list, hands out the due records sorted and appends the rest
 *         again: cheap while few records wait, which is the common case.
 *   map   map state <name>; user key = 16 bytes, the time (sign bit
 *         flipped, big-endian: bytewise order is time order) and an
 *         arrival number (big-endian); value = the record. A release reads
 *         [(wake, 0), (upto, max)] and the key after it: a seek and the
 *         records it hands out, never those still waiting (nor the
 *         tombstones of those released before: they sort below the
 *         wake-up), at the price of a put and a delete per record.
 *
 * A key starts with the list. When a release would write more than
 * SPILL records back, they go into the map instead and the key stays
 * there until its buffer empties: records far ahead of the watermark (a
 * source split or partition far ahead of the others) cost nothing per
 * release, where rewriting them at every release made a run quadratic.
 * Only backends with an ordered map_range (RocksDB) have the map layout;
 * the memory backend's map has no order to use and its list rewrite is a
 * memcpy. A restore of a RocksDB savepoint into it moves mapped keys into
 * lists at open.
 *
 * Value state <name>.wake {wake, seq, mapped}: the time of the key's
 * wake-up timer (at or before every record waiting), the next arrival
 * number and the layout. Absent when nothing waits.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_log.h"
#include "op.h"
#include "task.h"
#include "util.h"

#define UK_LEN 16
#define SPILL 32 /* records written back beyond which a key moves to the map */

_Atomic uint64_t fl_evbuf_spills;

typedef struct wake_val {
	int64_t wake, seq, mapped;
} wake_val;

FLINC_STRUCT_TYPE(wake_type, wake_val, "flinc.evbuf.wake", FLINC_TYPE_POD,
		  FLINC_FIELD(wake_val, wake, FLINC_FIELD_I64), FLINC_FIELD(wake_val, seq, FLINC_FIELD_I64),
		  FLINC_FIELD(wake_val, mapped, FLINC_FIELD_I64));

struct flinc_evbuf {
	flinc_ctx *c;
	const flinc_type *t;
	bool pod, can_map; /* can_map: the backend has map_range */
	flinc_state *wake;
	uint32_t list_sid, map_sid; /* map_sid: when can_map */
	char name[208];
};

/* One record on its way out: its time, arrival rank and bytes (arena). */
typedef struct item {
	int64_t ts;
	uint64_t rank;
	const uint8_t *val;
	size_t len;
} item;

typedef struct gather {
	fl_op *op;
	item *v;
	size_t n, cap;
	uint64_t malformed;
	int err;
} gather;

static void enc_uk(uint8_t *uk, int64_t ts, uint64_t seq)
{
	flinc__be64(uk, (uint64_t)ts ^ 0x8000000000000000ULL);
	flinc__be64(uk + 8, seq);
}

static int64_t uk_ts(const uint8_t *uk) { return (int64_t)(flinc__rd64(uk) ^ 0x8000000000000000ULL); }

static int adopt_mapped(flinc_evbuf *b);

FLINC_API flinc_evbuf *flinc_evbuf_declare(flinc_ctx *c, const char *name, const flinc_type *t)
{
	if (!c || !name || !*name || strlen(name) > 200 || !t || t->version != FLINC_TYPE_VERSION) {
		if (c)
			fl_op_fail(c->op, FLINC_EINVAL,
				   "flinc_evbuf_declare: a name (at most 200 bytes) and a type");
		return NULL;
	}
	fl_op *op = c->op;
	char sname[220];
	snprintf(sname, sizeof sname, "%s.wake", name);
	flinc_evbuf *b;
	flinc_state *wake =
		fl_state_declare_ext(c, sname, &wake_type, FL_STATE_VALUE, sizeof *b, (void **)&b);
	if (!wake) return NULL;
	void *be;
	b->c = c;
	b->t = t;
	b->pod = (t->flags & FLINC_TYPE_POD) != 0;
	b->can_map = fl_op_backend(op, &be)->map_range != NULL;
	b->wake = wake;
	snprintf(b->name, sizeof b->name, "%s", name);
	snprintf(sname, sizeof sname, "%s.list", name);
	int rc = fl_op_declare_state(op, sname, FL_STATE_LIST, &b->list_sid);
	if (rc == FLINC_OK)
		rc = b->can_map ? fl_op_declare_state(op, name, FL_STATE_MAP, &b->map_sid) : adopt_mapped(b);
	if (rc != FLINC_OK) {
		fl_op_fail(op, rc, "cannot declare the event-time buffer '%s': %s", name, flinc_strerror(rc));
		return NULL;
	}
	return b;
}

/* Buffer encoded record bytes with time ts for the current key. */
static int add_bytes(flinc_evbuf *b, int64_t ts, const uint8_t *bytes, size_t len)
{
	fl_op *op = b->c->op;
	fl_op_prefetch(op, b->list_sid); /* its miss overlaps the wake's */
	bool created;
	wake_val *w = flinc_value_mut(b->wake, &created);
	if (!w) return FLINC_ENOMEM; /* the task is failed */
	bool arm = created || ts < w->wake;
	if (arm) w->wake = ts;
	uint64_t seq = (uint64_t)w->seq++;
	bool mapped = w->mapped != 0 && b->can_map;
	w = NULL; /* valid until the next modifying call */
	void *be;
	const fl_backend_ops *ops = fl_op_backend(op, &be);
	fl_skey k = fl_keyed_skey(op);
	int rc;
	if (mapped) {
		uint8_t uk[UK_LEN];
		enc_uk(uk, ts, seq);
		rc = ops->map_put(be, b->map_sid, &k, uk, sizeof uk, bytes, len);
	} else {
		/* [ts][record]: a small one on the stack, else the arena */
		uint8_t stackbuf[256];
		uint8_t *el =
			len + 8 <= sizeof stackbuf ? stackbuf : flinc_arena_alloc(fl_op_arena(op), len + 8);
		if (!el) return FLINC_ENOMEM;
		memcpy(el, &ts, 8);
		memcpy(el + 8, bytes, len);
		rc = ops->list_append(be, b->list_sid, &k, el, len + 8);
	}
	if (rc != FLINC_OK) return rc;
	if (arm) flinc_timer_register(b->c, FLINC_EVENT_TIME, ts);
	return FLINC_OK;
}

FLINC_API int flinc_evbuf_add(flinc_evbuf *b, int64_t ts, const void *rec)
{
	if (!b || !rec) return FLINC_EINVAL;
	size_t len;
	const uint8_t *bytes = fl_op_encode(b->c->op, b->t, rec, &len);
	if (!bytes) return FLINC_ERANGE;
	return add_bytes(b, ts, bytes, len);
}

static int grow(gather *g)
{
	if (g->n < g->cap) return 0;
	size_t nc = g->cap ? g->cap * 2 : 16;
	item *nv = flinc_arena_alloc(fl_op_arena(g->op), nc * sizeof *nv);
	if (!nv) return g->err = FLINC_ENOMEM;
	if (g->n) memcpy(nv, g->v, g->n * sizeof *nv);
	g->v = nv;
	g->cap = nc;
	return 0;
}

/* map_range: keys come in order, all in [lo, hi]. */
static int take_ranged(void *ud, const void *uk, size_t uklen, const void *val, size_t len)
{
	gather *g = ud;
	if (uklen != UK_LEN) {
		g->malformed++;
		return 0;
	}
	if (grow(g)) return g->err;
	uint8_t *copy = flinc_arena_alloc(fl_op_arena(g->op), len ? len : 1);
	if (!copy) return g->err = FLINC_ENOMEM;
	if (len) memcpy(copy, val, len);
	g->v[g->n++] = (item){ uk_ts(uk), flinc__rd64((const uint8_t *)uk + 8), copy, len };
	return 0;
}

static int by_time(const void *a, const void *b)
{
	const item *x = a, *y = b;
	if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Map layout: take the due records out of the map. */
static int release_mapped(flinc_evbuf *b, const wake_val *w, int64_t upto, gather *g, bool *has_next,
			  int64_t *next)
{
	fl_op *op = b->c->op;
	void *be;
	const fl_backend_ops *ops = fl_op_backend(op, &be);
	fl_skey k = fl_keyed_skey(op);
	uint8_t lo[UK_LEN], hi[UK_LEN], after[UK_LEN]; /* after: the least key above hi */
	enc_uk(lo, w->wake, 0);
	enc_uk(hi, upto, UINT64_MAX);
	size_t nextlen = 0;
	int rc = ops->map_range(be, b->map_sid, &k, lo, UK_LEN, hi, UK_LEN, take_ranged, g, after,
				sizeof after, &nextlen);
	if (!rc) rc = g->err;
	if (nextlen && nextlen != UK_LEN) g->malformed++;
	for (size_t i = 0; i < g->n && !rc; i++) {
		uint8_t uk[UK_LEN];
		enc_uk(uk, g->v[i].ts, g->v[i].rank);
		rc = ops->map_remove(be, b->map_sid, &k, uk, UK_LEN);
	}
	*has_next = nextlen == UK_LEN;
	if (*has_next) *next = uk_ts(after);
	return rc;
}

/* List layout: read the list, hand out what is due, write the rest back,
 * into the map when it is long (w->mapped and w->seq then change). */
static int release_list(flinc_evbuf *b, wake_val *w, int64_t upto, gather *g, bool *has_next, int64_t *next)
{
	fl_op *op = b->c->op;
	void *be;
	const fl_backend_ops *ops = fl_op_backend(op, &be);
	fl_skey k = fl_keyed_skey(op);
	const void *val;
	size_t len;
	int rc = ops->get(be, b->list_sid, &k, &val, &len);
	if (rc == FLINC_ENOENT) return FLINC_OK;
	if (rc) return rc;
	/* a copy: the list changes below */
	uint8_t *copy = flinc_arena_alloc(fl_op_arena(op), len ? len : 1);
	if (!copy) return FLINC_ENOMEM;
	memcpy(copy, val, len);
	size_t nstay = 0, off = 0;
	uint64_t rank = 0;
	const uint8_t *el;
	uint32_t n;
	bool whole = true;
	for (; fl_list_next(copy, len, &off, &el, &n); rank++) {
		if (n < 8) { /* no room for the time */
			whole = false;
			break;
		}
		int64_t ts;
		memcpy(&ts, el, 8);
		if (ts <= upto) {
			if (grow(g)) return g->err;
			g->v[g->n++] = (item){ ts, rank, el + 8, n - 8 };
		} else {
			if (!*has_next || ts < *next) *next = ts;
			*has_next = true;
			nstay++;
		}
	}
	if (!whole || off != len) g->malformed++;
	if (!g->n) return FLINC_OK;
	rc = ops->remove(be, b->list_sid, &k);
	bool to_map = b->can_map && nstay > SPILL;
	for (off = 0; nstay && !rc && fl_list_next(copy, len, &off, &el, &n) && n >= 8;) {
		int64_t ts;
		memcpy(&ts, el, 8);
		if (ts <= upto) continue;
		if (to_map) {
			uint8_t uk[UK_LEN];
			enc_uk(uk, ts, (uint64_t)w->seq++);
			rc = ops->map_put(be, b->map_sid, &k, uk, UK_LEN, el + 8, n - 8);
		} else {
			rc = ops->list_append(be, b->list_sid, &k, el, n);
		}
		nstay--;
	}
	if (to_map) {
		w->mapped = 1;
		atomic_fetch_add_explicit(&fl_evbuf_spills, 1, memory_order_relaxed);
	}
	return rc;
}

FLINC_API int64_t flinc_evbuf_release(flinc_evbuf *b, int64_t upto,
				      int (*fn)(void *ud, int64_t ts, const void *rec), void *ud)
{
	if (!b || !fn) return FLINC_EINVAL;
	fl_op *op = b->c->op;
	const wake_val *cur = flinc_value_get(b->wake);
	if (!cur || cur->wake > upto) return 0;
	wake_val w = *cur;
	gather g = { .op = op };
	bool has_next = false, mapped = w.mapped && b->can_map;
	int64_t next = 0;
	int rc = mapped ? release_mapped(b, &w, upto, &g, &has_next, &next)
			: release_list(b, &w, upto, &g, &has_next, &next);
	if (g.malformed) fl_op_reject(op, "event-time buffer: a malformed entry");
	if (!rc) {
		if (has_next) {
			w.wake = next;
			rc = flinc_value_put(b->wake, &w);
			if (!rc) flinc_timer_register(b->c, FLINC_EVENT_TIME, next);
		} else {
			flinc_state_clear(b->wake); /* empty: the key starts over with a list */
		}
	}
	if (rc) {
		fl_op_fail(op, rc, "event-time buffer '%s': %s", b->name, flinc_strerror(rc));
		return rc;
	}
	/* A list is in arrival order, mostly time order already: qsort (and
	 * its buffer) only when it is not. */
	if (!mapped)
		for (size_t i = 1; i < g.n; i++)
			if (by_time(&g.v[i - 1], &g.v[i]) > 0) {
				qsort(g.v, g.n, sizeof *g.v, by_time);
				break;
			}
	for (size_t i = 0; i < g.n; i++) {
		const void *rec = fl_op_decode(op, b->t, g.v[i].val, g.v[i].len, b->pod);
		if (!rec) continue; /* counted as rejected */
		if (fn(ud, g.v[i].ts, rec)) break;
	}
	return (int64_t)g.n;
}

/* ---- older layouts and the other layout ------------------------------- */

/* By key (key group, then bytes), then user key. */
static int by_key_uk(const void *a, const void *b)
{
	const fl_state_ent *x = a, *y = b;
	if (x->kg != y->kg) return x->kg < y->kg ? -1 : 1;
	if (x->klen != y->klen) return x->klen < y->klen ? -1 : 1;
	int c = memcmp(x->key, y->key, x->klen);
	if (c) return c;
	size_t n = x->uklen < y->uklen ? x->uklen : y->uklen;
	c = memcmp(x->uk, y->uk, n);
	return c ? c : (x->uklen > y->uklen) - (x->uklen < y->uklen);
}

static bool same_key(const fl_state_ent *x, const fl_state_ent *y)
{
	return x->kg == y->kg && x->klen == y->klen && memcmp(x->key, y->key, x->klen) == 0 &&
		x->nslen == y->nslen && memcmp(x->ns, y->ns, x->nslen) == 0;
}

/* Every entry of state sid (with its value when `values`), by key then
 * user key, with the current key set to the entry's: fn(ud, e, first)
 * (first: the key's first entry), the states it changed stored and the
 * arena reset after each; the key's entries of sid removed after its last.
 * At open, to move or drop what an older layout left; FLINC_OK or the
 * first error. */
static int walk_old(fl_op *op, uint32_t sid, bool values,
		    int (*fn)(void *ud, const fl_state_ent *e, bool first), void *ud, size_t *keys)
{
	void *be;
	const fl_backend_ops *bo = fl_op_backend(op, &be);
	fl_state_ents s = { 0 };
	int rc = fl_op_state_entries(op, sid, values, &s);
	if (!rc && s.n > 1) qsort(s.v, s.n, sizeof *s.v, by_key_uk);
	size_t nkeys = 0;
	for (size_t i = 0; i < s.n && !rc; i++) {
		fl_state_ent *e = &s.v[i];
		bool first = i == 0 || !same_key(e, e - 1);
		nkeys += first;
		fl_keyed_set_key(op, e->kg, e->key, e->klen);
		fl_keyed_set_ns(op, e->ns, e->nslen);
		if (fn) rc = fn(ud, e, first);
		fl_op_flush_states(op); /* no record ends here to do it */
		fl_arena_reset(fl_op_arena(op));
		if (!rc && (i + 1 == s.n || !same_key(e, e + 1))) {
			fl_skey k = fl_keyed_skey(op);
			rc = bo->remove(be, sid, &k);
		}
	}
	fl_state_ents_free(&s);
	if (keys) *keys = nkeys;
	return rc;
}

typedef struct move_ud {
	flinc_evbuf *b;
	uint64_t moved;
	/* adopt_list */
	const flinc_type *lt;
	int64_t (*convert)(const void *elem, void *rec);
	void *rec;
} move_ud;

/* A map-layout entry into the key's list (in order: walk_old sorts). */
static int move_mapped(void *ud, const fl_state_ent *e, bool first)
{
	move_ud *m = ud;
	if (first) { /* the key's records go to its list from now on */
		bool created;
		wake_val *w = flinc_value_mut(m->b->wake, &created);
		if (w) w->mapped = 0;
		if (w && created) w->wake = INT64_MAX; /* the first add arms */
	}
	if (e->uklen != UK_LEN) return FLINC_OK;
	m->moved++;
	return add_bytes(m->b, uk_ts(e->uk), e->val, e->vlen);
}

/* The memory backend restoring a RocksDB savepoint: keys in the map
 * layout move into lists, every key at open. */
static int adopt_mapped(flinc_evbuf *b)
{
	fl_op *op = b->c->op;
	uint32_t osid;
	fl_state_kind kind;
	if (!fl_op_find_state(op, b->name, &osid, &kind) || kind != FL_STATE_MAP) return FLINC_OK;
	move_ud m = { .b = b };
	int rc = walk_old(op, osid, true, move_mapped, &m, NULL);
	if (rc) return rc;
	if (m.moved)
		fl_log(FL_LOG_INFO, "task",
		       "%s: moved %llu buffered records of '%s' from the map layout into lists",
		       op->node->name, (unsigned long long)m.moved, b->name);
	return FLINC_OK;
}

FLINC_API int flinc_state_drop(flinc_ctx *c, const char *name)
{
	if (!c || !name) return FLINC_EINVAL;
	fl_op *op = c->op;
	uint32_t sid;
	if (!op->keyed || !fl_op_find_state(op, name, &sid, NULL)) return FLINC_OK;
	int rc = walk_old(op, sid, false, NULL, NULL, NULL);
	if (rc) fl_op_fail(op, rc, "cannot drop the older state '%s': %s", name, flinc_strerror(rc));
	return rc;
}

/* An older list's elements, each converted, into the buffer. */
static int move_listed(void *ud, const fl_state_ent *e, bool first)
{
	(void)first;
	move_ud *m = ud;
	fl_op *op = m->b->c->op;
	bool raw = (m->lt->flags & FLINC_TYPE_POD) != 0;
	size_t off = 0;
	const uint8_t *el;
	uint32_t n;
	int rc = FLINC_OK;
	while (!rc && fl_list_next(e->val, e->vlen, &off, &el, &n)) {
		const void *elem = fl_op_decode(op, m->lt, el, n, raw);
		if (!elem) continue; /* counted as rejected */
		memset(m->rec, 0, m->b->t->size);
		int64_t ts = m->convert(elem, m->rec);
		rc = flinc_evbuf_add(m->b, ts, m->rec);
		m->moved++;
	}
	return rc;
}

FLINC_API int flinc_evbuf_adopt_list(flinc_evbuf *b, const char *list_name, const flinc_type *lt,
				     int64_t (*convert)(const void *elem, void *rec))
{
	if (!b || !list_name || !lt || !convert) return FLINC_EINVAL;
	fl_op *op = b->c->op;
	uint32_t sid;
	fl_state_kind kind;
	if (!fl_op_find_state(op, list_name, &sid, &kind)) return FLINC_OK;
	if (kind != FL_STATE_LIST) {
		fl_op_fail(op, FLINC_ESTATE, "state '%s' of an older version is not a list", list_name);
		return FLINC_ESTATE;
	}
	move_ud m = { .b = b, .lt = lt, .convert = convert, .rec = fl_malloc(b->t->size) };
	size_t keys = 0;
	int rc = walk_old(op, sid, true, move_listed, &m, &keys);
	free(m.rec);
	if (rc) {
		fl_op_fail(op, rc, "cannot move the buffered records of an older version ('%s'): %s",
			   list_name, flinc_strerror(rc));
		return rc;
	}
	if (m.moved)
		fl_log(FL_LOG_INFO, "task",
		       "%s: moved %llu buffered records of %zu keys from '%s' (an older layout)",
		       op->node->name, (unsigned long long)m.moved, keys, list_name);
	return FLINC_OK;
}
