/*
 * nfa.c - running a compiled CEP pattern over one key's events: the shared
 * buffer of events and nodes, the partial matches (Flink's computation
 * states), matches, timeouts and the after-match skip strategies; and the
 * key's state as bytes (save, load).
 *
 * A step follows Flink's NFA.doProcess and computeNextStates: each partial
 * match follows the PROCEED transitions whose conditions hold for the
 * event to the TAKE and IGNORE transitions that do; a TAKE adds a node
 * (event, stage, the partial match's last node), an IGNORE keeps the node.
 * Final states are matches; a stop state ends the path it was reached on.
 * With a skip strategy, matches wait until no partial match started before
 * them is left (Flink's completed matches), then prune the others.
 */
#include <string.h>

#include "cep_internal.h"

#define CEP_STATE_VERSION 1

/* ---- arena arrays --------------------------------------------------- */

static void *grow(flinc_arena *a, void *p, uint32_t n, uint32_t *cap, size_t elem)
{
	uint32_t nc = *cap ? *cap * 2 : 8;
	void *q = flinc_arena_alloc(a, (size_t)nc * elem);
	if (n) memcpy(q, p, (size_t)n * elem);
	*cap = nc;
	return q;
}

static uint32_t add_node(cep_rt *r, uint32_t ev, uint16_t stage, uint32_t parent)
{
	if (r->nnd == r->capnd) r->nd = grow(r->a, r->nd, r->nnd, &r->capnd, sizeof(cep_node));
	cep_node *n = &r->nd[r->nnd];
	n->ev = ev;
	n->stage = stage;
	n->parent = parent;
	n->mark = 0;
	return r->nnd++;
}

typedef struct pm_list {
	cep_pm *v;
	uint32_t n, cap;
} pm_list;

static void pm_push(cep_rt *r, pm_list *l, const cep_pm *pm)
{
	if (l->n == l->cap) l->v = grow(r->a, l->v, l->n, &l->cap, sizeof(cep_pm));
	l->v[l->n++] = *pm;
}

/* Stable insertion sort by start event (Flink's COMPUTATION_STATE_COMPARATOR:
 * start timestamp then id; ids grow with time here, so the id alone). */
static void pm_sort(cep_pm *v, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		cep_pm x = v[i];
		uint32_t j = i;
		while (j > 0 && v[j - 1].start_id > x.start_id) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/* ---- the match view ------------------------------------------------- */

static void build_path(flinc_cep_match *m)
{
	if (m->built) return;
	m->built = true;
	const cep_rt *r = m->rt;
	uint32_t n = 0;
	for (uint32_t x = m->node; x != CEP_NONE; x = r->nd[x].parent) n++;
	m->path = n ? flinc_arena_alloc(r->a, n * sizeof(uint32_t)) : NULL;
	m->n = n;
	uint32_t i = n;
	for (uint32_t x = m->node; x != CEP_NONE; x = r->nd[x].parent) m->path[--i] = x;
}

static const void *ev_rec(const cep_rt *r, uint32_t e)
{
	cep_ev *ev = &((cep_rt *)r)->ev[e];
	if (!ev->rec && r->decode) ev->rec = r->decode(r->ud, ev->bytes, ev->len);
	return ev->rec;
}

static int stage_of(const cep_rt *r, const char *name)
{
	if (!name) return -1;
	for (uint32_t i = 0; i < r->nfa->nstages; i++)
		if (!strcmp(r->nfa->names[i], name)) return (int)i;
	return -1;
}

FLINC_API size_t flinc_cep_count(const flinc_cep_match *cm, const char *name)
{
	flinc_cep_match *m = (flinc_cep_match *)cm;
	int st = stage_of(m->rt, name);
	if (st < 0) return 0;
	build_path(m);
	size_t c = 0;
	for (uint32_t i = 0; i < m->n; i++) c += m->rt->nd[m->path[i]].stage == st;
	return c;
}

FLINC_API const void *flinc_cep_event(const flinc_cep_match *cm, const char *name, size_t idx, int64_t *ts)
{
	flinc_cep_match *m = (flinc_cep_match *)cm;
	int st = stage_of(m->rt, name);
	if (st < 0) return NULL;
	build_path(m);
	for (uint32_t i = 0; i < m->n; i++) {
		const cep_node *nd = &m->rt->nd[m->path[i]];
		if (nd->stage != st) continue;
		if (idx-- == 0) {
			if (ts) *ts = m->rt->ev[nd->ev].ts;
			return ev_rec(m->rt, nd->ev);
		}
	}
	return NULL;
}

FLINC_API size_t flinc_cep_size(const flinc_cep_match *cm)
{
	flinc_cep_match *m = (flinc_cep_match *)cm;
	build_path(m);
	return m->n;
}

FLINC_API const void *flinc_cep_nth(const flinc_cep_match *cm, size_t n, const char **stage, int64_t *ts)
{
	flinc_cep_match *m = (flinc_cep_match *)cm;
	build_path(m);
	if (n >= m->n) return NULL;
	const cep_node *nd = &m->rt->nd[m->path[n]];
	if (stage) *stage = m->rt->nfa->names[nd->stage];
	if (ts) *ts = m->rt->ev[nd->ev].ts;
	return ev_rec(m->rt, nd->ev);
}

/* ---- conditions ------------------------------------------------------ */

static bool eval(const cep_cond *c, const void *ev, const flinc_cep_match *pm)
{
	switch (c->op) {
	case CEP_C_TRUE: return true;
	case CEP_C_USER: return c->fn(ev, pm, c->arg);
	case CEP_C_NOT: return !eval(c->a, ev, pm);
	case CEP_C_AND: return eval(c->a, ev, pm) && eval(c->b, ev, pm);
	case CEP_C_OR: return eval(c->a, ev, pm) || eval(c->b, ev, pm);
	}
	return false;
}

/* ---- setup ---------------------------------------------------------- */

void cep_rt_init(cep_rt *r, const cep_nfa *nfa, flinc_arena *a)
{
	cep_emit_fn om = r->on_match, ot = r->on_timeout;
	cep_decode_fn dec = r->decode;
	void *ud = r->ud;
	memset(r, 0, sizeof(*r));
	r->on_match = om;
	r->on_timeout = ot;
	r->decode = dec;
	r->ud = ud;
	r->nfa = nfa;
	r->a = a;
	r->cappm = 8;
	r->pm = flinc_arena_alloc(a, r->cappm * sizeof(cep_pm));
	r->pm[0] = (cep_pm){ .state = nfa->start, .node = CEP_NONE, .start_ts = 0, .start_id = CEP_ID_NONE };
	r->npm = 1;
	r->timer = INT64_MIN;
}

bool cep_rt_empty(const cep_rt *r) { return r->ndone == 0 && r->npm <= 1; }

static bool is_start(const cep_rt *r, const cep_pm *pm) { return r->nfa->s[pm->state].type == CEP_S_START; }

int64_t cep_rt_next_timeout(const cep_rt *r)
{
	int64_t t = INT64_MAX;
	if (r->nfa->window <= 0) return t;
	for (uint32_t i = 0; i < r->npm; i++)
		if (!is_start(r, &r->pm[i]) && r->pm[i].start_ts < INT64_MAX - r->nfa->window &&
		    r->pm[i].start_ts + r->nfa->window < t)
			t = r->pm[i].start_ts + r->nfa->window;
	return t;
}

void cep_rt_sizes(const cep_rt *r, uint32_t *events, uint32_t *nodes, uint32_t *partial)
{
	if (events) *events = r->nev;
	if (nodes) *nodes = r->nnd;
	if (partial) *partial = r->npm + r->ndone;
}

/* ---- matches and skip strategies -------------------------------------- */

static void emit(cep_rt *r, cep_emit_fn fn, uint32_t node, int64_t ts)
{
	if (!fn) return;
	flinc_cep_match m = { .rt = r, .node = node };
	fn(r->ud, &m, ts);
}

/* The event id after which partial matches are pruned, CEP_ID_NONE for
 * none; *strict: prune those starting strictly before it. */
static uint64_t pruning_id(const cep_rt *r, uint32_t node, bool *strict)
{
	const cep_nfa *n = r->nfa;
	*strict = false;
	uint64_t first = CEP_ID_NONE, last = 0, sfirst = CEP_ID_NONE, slast = CEP_ID_NONE;
	for (uint32_t x = node; x != CEP_NONE; x = r->nd[x].parent) {
		uint64_t id = r->ev[r->nd[x].ev].id;
		if (id < first || first == CEP_ID_NONE) first = id;
		if (id > last) last = id;
		if (r->nd[x].stage == n->skip_stage) {
			if (slast == CEP_ID_NONE)
				slast = id; /* walking backwards: the first seen is the last */
			sfirst = id;
		}
	}
	switch (n->skip) {
	case FLINC_CEP_SKIP_TO_NEXT: return first;
	case FLINC_CEP_SKIP_PAST_LAST_EVENT: return last;
	case FLINC_CEP_SKIP_TO_FIRST: *strict = true; return sfirst;
	case FLINC_CEP_SKIP_TO_LAST: *strict = true; return slast;
	default: return CEP_ID_NONE;
	}
}

static void prune(cep_pm *v, uint32_t *n, uint64_t id, bool strict)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < *n; i++) {
		uint64_t s = v[i].start_id;
		bool drop = s != CEP_ID_NONE && (strict ? s < id : s <= id);
		if (!drop) v[k++] = v[i];
	}
	*n = k;
}

/* Flink's processMatchesAccordingToSkipStrategy over the new partial
 * matches pms (sorted). */
static void release_matches(cep_rt *r, pm_list *potential, cep_pm *pms, uint32_t *npms, int64_t ts)
{
	for (uint32_t i = 0; i < potential->n; i++) {
		if (r->ndone == r->capdone)
			r->done = grow(r->a, r->done, r->ndone, &r->capdone, sizeof(cep_pm));
		r->done[r->ndone++] = potential->v[i];
	}
	if (!r->ndone) return;
	pm_sort(r->done, r->ndone);
	while (r->ndone) {
		uint64_t earliest = CEP_ID_NONE;
		for (uint32_t i = 0; i < *npms; i++)
			if (pms[i].start_id < earliest) earliest = pms[i].start_id;
		cep_pm m = r->done[0];
		if (!(earliest == CEP_ID_NONE || m.start_id <= earliest)) break;
		memmove(r->done, r->done + 1, (r->ndone - 1) * sizeof(cep_pm));
		r->ndone--;
		r->changed = true;
		bool strict;
		uint64_t id = pruning_id(r, m.node, &strict);
		if (id != CEP_ID_NONE) {
			prune(pms, npms, id, strict);
			prune(r->done, &r->ndone, id, strict);
		}
		emit(r, r->on_match, m.node, ts);
	}
}

/* ---- one step ------------------------------------------------------- */

typedef struct edge {
	uint8_t action;
	uint32_t source, target;
} edge;

typedef struct step {
	cep_rt *r;
	const void *rec;
	uint32_t ev; /* index of the event in r->ev, CEP_NONE until taken */
	const uint8_t *bytes;
	uint32_t len;
	int64_t ts;
	uint64_t id;
} step;

static uint32_t event_index(step *s)
{
	cep_rt *r = s->r;
	if (s->ev != CEP_NONE) return s->ev;
	if (r->nev == r->capev) r->ev = grow(r->a, r->ev, r->nev, &r->capev, sizeof(cep_ev));
	cep_ev *e = &r->ev[r->nev];
	e->id = s->id;
	e->ts = s->ts;
	e->rec = s->rec;
	e->bytes = s->bytes;
	e->len = s->len;
	e->mark = 0;
	s->ev = r->nev++;
	return s->ev;
}

/* A stack of state indices in the arena, grown as needed. */
typedef struct ustack {
	uint32_t *v;
	uint32_t n, cap;
} ustack;
static void us_push(flinc_arena *a, ustack *s, uint32_t x)
{
	if (s->n == s->cap) s->v = grow(a, s->v, s->n, &s->cap, sizeof(uint32_t));
	s->v[s->n++] = x;
}

/* A final state reachable from `st` by PROCEED transitions that hold. */
static int64_t final_after_proceed(cep_rt *r, uint32_t st, const void *ev, const flinc_cep_match *pmv)
{
	const cep_nfa *n = r->nfa;
	uint32_t buf[32];
	ustack stack = { buf, 0, 32 };
	us_push(r->a, &stack, st);
	while (stack.n) {
		const cep_state *s = &n->s[stack.v[--stack.n]];
		for (uint16_t k = 0; k < s->nt; k++) {
			const cep_trans *t = &s->t[k];
			if (t->action != CEP_T_PROCEED || !eval(t->cond, ev, pmv)) continue;
			if (n->s[t->target].type == CEP_S_FINAL) return t->target;
			us_push(r->a, &stack, t->target);
		}
	}
	return -1;
}

/* computeNextStates: the states pm goes to with this event, into out. */
static void next_states(step *s, const cep_pm *pm, pm_list *out)
{
	cep_rt *r = s->r;
	const cep_nfa *n = r->nfa;
	flinc_cep_match pmv = { .rt = r, .node = pm->node };
	edge ebuf[32];
	edge *edges = ebuf;
	uint32_t ne = 0, ecap = 32;
	uint32_t sbuf[32];
	ustack stack = { sbuf, 0, 32 };
	us_push(r->a, &stack, pm->state);
	while (stack.n) {
		const cep_state *st = &n->s[stack.v[--stack.n]];
		for (uint16_t k = 0; k < st->nt; k++) {
			const cep_trans *t = &st->t[k];
			if (!eval(t->cond, s->rec, &pmv)) continue;
			if (t->action == CEP_T_PROCEED) {
				us_push(r->a, &stack, t->target);
			} else {
				if (ne == ecap) edges = grow(r->a, edges, ne, &ecap, sizeof(edge));
				edges[ne++] = (edge){ t->action, t->source, t->target };
			}
		}
	}
	bool start = is_start(r, pm);
	for (uint32_t i = 0; i < ne; i++) {
		if (edges[i].action == CEP_T_IGNORE) {
			if (start) continue;
			cep_pm x = *pm;
			x.state = edges[i].target;
			pm_push(r, out, &x);
			continue;
		}
		uint32_t e = event_index(s);
		uint32_t node = add_node(r, e, (uint16_t)n->s[edges[i].source].stage, pm->node);
		cep_pm x = { .state = edges[i].target, .node = node };
		if (start) {
			x.start_ts = s->ts;
			x.start_id = s->id;
		} else {
			x.start_ts = pm->start_ts;
			x.start_id = pm->start_id;
		}
		pm_push(r, out, &x);
		int64_t fin = final_after_proceed(r, edges[i].target, s->rec, &pmv);
		if (fin >= 0) {
			x.state = (uint32_t)fin;
			pm_push(r, out, &x);
		}
	}
	if (start) pm_push(r, out, pm);
}

void cep_rt_event(cep_rt *r, const void *rec, const uint8_t *bytes, uint32_t len, int64_t ts)
{
	const cep_nfa *n = r->nfa;
	step s = {
		.r = r, .rec = rec, .ev = CEP_NONE, .bytes = bytes, .len = len, .ts = ts, .id = r->next_id++
	};
	pm_list newpm = { 0 }, potential = { 0 }, res = { 0 };
	for (uint32_t i = 0; i < r->npm; i++) {
		res.n = 0;
		next_states(&s, &r->pm[i], &res);
		bool discard = false;
		uint32_t keep_from = newpm.n;
		for (uint32_t k = 0; k < res.n; k++) {
			uint8_t type = n->s[res.v[k].state].type;
			if (type == CEP_S_FINAL)
				pm_push(r, &potential, &res.v[k]);
			else if (type == CEP_S_STOP)
				discard = true;
			else
				pm_push(r, &newpm, &res.v[k]);
		}
		if (discard) {
			/* Drop the path, but never the start state. */
			uint32_t k2 = keep_from;
			for (uint32_t k = keep_from; k < newpm.n; k++)
				if (is_start(r, &newpm.v[k])) newpm.v[k2++] = newpm.v[k];
			newpm.n = k2;
		}
	}
	pm_sort(newpm.v, newpm.n);
	pm_sort(potential.v, potential.n);
	if (n->skip == FLINC_CEP_NO_SKIP) {
		for (uint32_t i = 0; i < potential.n; i++) emit(r, r->on_match, potential.v[i].node, ts);
	} else {
		release_matches(r, &potential, newpm.v, &newpm.n, ts);
	}
	r->pm = newpm.v;
	r->npm = newpm.n;
	r->cappm = newpm.cap;
	r->changed = true;
}

void cep_rt_advance(cep_rt *r, int64_t ts)
{
	const cep_nfa *n = r->nfa;
	pm_list potential = { 0 };
	uint32_t k = 0;
	bool any = false;
	for (uint32_t i = 0; i < r->npm; i++) {
		cep_pm *pm = &r->pm[i];
		bool out = !is_start(r, pm) && n->window > 0 && pm->start_ts <= INT64_MAX - n->window &&
			ts >= pm->start_ts + n->window;
		if (!out) {
			r->pm[k++] = *pm;
			continue;
		}
		any = true;
		if (n->s[pm->state].type == CEP_S_PENDING) {
			pm_push(r, &potential, pm);
			continue;
		}
		emit(r, r->on_timeout, pm->node, pm->start_ts + n->window);
	}
	r->npm = k;
	if (any) r->changed = true;
	if (potential.n || r->ndone) release_matches(r, &potential, r->pm, &r->npm, ts);
}

/* ---- state as bytes ------------------------------------------------- */

static void mark_node(cep_rt *r, uint32_t x)
{
	while (x != CEP_NONE && !r->nd[x].mark) {
		r->nd[x].mark = 1;
		r->ev[r->nd[x].ev].mark = 1;
		x = r->nd[x].parent;
	}
}

int cep_rt_save(cep_rt *r, flinc_writer *w)
{
	/* Mark what the partial and held matches reach, renumber it. */
	for (uint32_t i = 0; i < r->nnd; i++) r->nd[i].mark = 0;
	for (uint32_t i = 0; i < r->nev; i++) r->ev[i].mark = 0;
	for (uint32_t i = 0; i < r->npm; i++) mark_node(r, r->pm[i].node);
	for (uint32_t i = 0; i < r->ndone; i++) mark_node(r, r->done[i].node);
	uint32_t ne = 0, nn = 0;
	for (uint32_t i = 0; i < r->nev; i++)
		if (r->ev[i].mark) r->ev[i].mark = ++ne; /* new index + 1 */
	for (uint32_t i = 0; i < r->nnd; i++)
		if (r->nd[i].mark) r->nd[i].mark = ++nn;
	flinc_w_array(w, 7);
	flinc_w_uint(w, CEP_STATE_VERSION);
	flinc_w_uint(w, r->nfa->fingerprint);
	flinc_w_uint(w, r->next_id);
	flinc_w_int(w, r->timer);
	flinc_w_array(w, ne * 3);
	for (uint32_t i = 0; i < r->nev; i++) {
		if (!r->ev[i].mark) continue;
		flinc_w_uint(w, r->ev[i].id);
		flinc_w_int(w, r->ev[i].ts);
		flinc_w_bin(w, r->ev[i].bytes, r->ev[i].len);
	}
	flinc_w_array(w, nn * 3);
	for (uint32_t i = 0; i < r->nnd; i++) {
		if (!r->nd[i].mark) continue;
		const cep_node *d = &r->nd[i];
		flinc_w_uint(w, r->ev[d->ev].mark - 1);
		flinc_w_uint(w, d->stage);
		flinc_w_int(w, d->parent == CEP_NONE ? -1 : (int64_t)r->nd[d->parent].mark - 1);
	}
	flinc_w_array(w, (r->npm + r->ndone) * 5);
	for (uint32_t i = 0; i < r->npm + r->ndone; i++) {
		const cep_pm *pm = i < r->npm ? &r->pm[i] : &r->done[i - r->npm];
		flinc_w_uint(w, pm->state);
		flinc_w_int(w, pm->node == CEP_NONE ? -1 : (int64_t)r->nd[pm->node].mark - 1);
		flinc_w_int(w, pm->start_ts);
		flinc_w_uint(w, pm->start_id);
		flinc_w_bool(w, i >= r->npm);
	}
	return w->err ? FLINC_ERANGE : FLINC_OK;
}

/* The header cep_rt_save writes: false when it is not nfa's. */
static bool read_header(flinc_reader *rd, const cep_nfa *nfa, uint64_t *next_id, int64_t *timer)
{
	if (flinc_r_array(rd) != 7 || flinc_r_uint(rd) != CEP_STATE_VERSION) return false;
	if (flinc_r_uint(rd) != nfa->fingerprint) return false;
	*next_id = flinc_r_uint(rd);
	*timer = flinc_r_int(rd);
	return !rd->err;
}

bool cep_rt_idle_until(const cep_nfa *nfa, const void *buf, size_t len, int64_t ts)
{
	if (nfa->window <= 0) return true; /* nothing times out */
	flinc_reader rd;
	flinc_reader_init(&rd, buf, len);
	uint64_t next_id;
	int64_t timer;
	/* A save sets the timer to the earliest timeout when there is one;
	 * with none it keeps an older (earlier) time: a load, harmless. */
	return read_header(&rd, nfa, &next_id, &timer) && timer != INT64_MIN && timer > ts;
}

int cep_rt_load(cep_rt *r, const cep_nfa *nfa, flinc_arena *a, const void *buf, size_t len)
{
	cep_rt_init(r, nfa, a);
	flinc_reader rd;
	flinc_reader_init(&rd, buf, len);
	if (!read_header(&rd, nfa, &r->next_id, &r->timer)) goto bad;
	/* Every element takes at least a byte: a count above what is left is
	 * malformed (and must not size an allocation). */
	uint32_t ne = flinc_r_array(&rd);
	if (rd.err || ne % 3 || ne > (size_t)(rd.end - rd.p)) goto bad;
	ne /= 3;
	r->nev = r->capev = ne;
	r->ev = flinc_arena_alloc(a, (ne ? ne : 1) * sizeof(cep_ev));
	for (uint32_t i = 0; i < ne; i++) {
		cep_ev *e = &r->ev[i];
		e->id = flinc_r_uint(&rd);
		e->ts = flinc_r_int(&rd);
		e->bytes = flinc_r_bin(&rd, &e->len);
		e->rec = NULL;
		e->mark = 0;
	}
	uint32_t nn = flinc_r_array(&rd);
	if (rd.err || nn % 3 || nn > (size_t)(rd.end - rd.p)) goto bad;
	nn /= 3;
	r->nnd = r->capnd = nn;
	r->nd = flinc_arena_alloc(a, (nn ? nn : 1) * sizeof(cep_node));
	for (uint32_t i = 0; i < nn; i++) {
		cep_node *d = &r->nd[i];
		uint64_t ev = flinc_r_uint(&rd), st = flinc_r_uint(&rd);
		int64_t parent = flinc_r_int(&rd);
		if (ev >= ne || st >= nfa->nstages || parent >= (int64_t)i || parent < -1) goto bad;
		d->ev = (uint32_t)ev;
		d->stage = (uint16_t)st;
		d->parent = parent < 0 ? CEP_NONE : (uint32_t)parent;
		d->mark = 0;
	}
	uint32_t np = flinc_r_array(&rd);
	if (rd.err || np % 5 || np > (size_t)(rd.end - rd.p)) goto bad;
	np /= 5;
	r->npm = 0;
	r->cappm = np + 1;
	r->pm = flinc_arena_alloc(a, r->cappm * sizeof(cep_pm));
	r->capdone = np + 1;
	r->done = flinc_arena_alloc(a, r->capdone * sizeof(cep_pm));
	for (uint32_t i = 0; i < np; i++) {
		cep_pm pm;
		uint64_t st = flinc_r_uint(&rd);
		int64_t node = flinc_r_int(&rd);
		pm.start_ts = flinc_r_int(&rd);
		pm.start_id = flinc_r_uint(&rd);
		bool done = flinc_r_bool(&rd);
		if (st >= nfa->ns || node >= (int64_t)nn || node < -1) goto bad;
		pm.state = (uint32_t)st;
		pm.node = node < 0 ? CEP_NONE : (uint32_t)node;
		if (done)
			r->done[r->ndone++] = pm;
		else
			r->pm[r->npm++] = pm;
	}
	if (rd.err) goto bad;
	/* Nodes were written parents first: a parent index is below its child. */
	return FLINC_OK;
bad:
	cep_rt_init(r, nfa, a);
	return FLINC_ECODEC;
}
