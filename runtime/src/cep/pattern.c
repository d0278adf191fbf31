/*
 * pattern.c - the CEP pattern builder and its compiler to an NFA.
 *
 * The compiler follows Flink's NFACompiler: it walks the stages from the
 * last to the first, each becoming one or more states whose TAKE, IGNORE
 * and PROCEED transitions carry conditions built from the stage's where
 * conditions (and NOT/AND around them for ignores, greedy loops, until
 * and the NOT stages); a group's stages are compiled in place of the
 * group, once per repetition of its quantifier.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cep_internal.h"

/* ---- memory --------------------------------------------------------- */

struct cep_mem {
	struct cep_mem *next;
	_Alignas(16) unsigned char data[];
};

void *cep_pattern_alloc(flinc_cep_pattern *p, size_t n)
{
	if (p->env) return flinc_env_alloc(p->env, n);
	struct cep_mem *m = calloc(1, sizeof(*m) + n);
	if (!m) abort();
	m->next = p->mem;
	p->mem = m;
	return m->data;
}

static char *pdup(flinc_cep_pattern *p, const char *s)
{
	size_t n = strlen(s);
	char *d = cep_pattern_alloc(p, n + 1);
	memcpy(d, s, n);
	return d;
}

static void perr(flinc_cep_pattern *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(flinc_cep_pattern *p, const char *fmt, ...)
{
	if (p->err[0]) return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
}

static const cep_cond cond_true = { .op = CEP_C_TRUE };

static const cep_cond *mk(flinc_cep_pattern *p, uint8_t op, const cep_cond *a, const cep_cond *b)
{
	cep_cond *c = cep_pattern_alloc(p, sizeof(*c));
	c->op = op;
	c->a = a;
	c->b = b;
	return c;
}
static const cep_cond *c_not(flinc_cep_pattern *p, const cep_cond *a) { return mk(p, CEP_C_NOT, a, NULL); }
static const cep_cond *c_and(flinc_cep_pattern *p, const cep_cond *a, const cep_cond *b)
{
	return mk(p, CEP_C_AND, a, b);
}

/* ---- builder -------------------------------------------------------- */

static bool add_stage(flinc_cep_pattern *p, const char *name, uint8_t cs)
{
	if (!name || !*name) {
		perr(p, "a CEP stage needs a name");
		return false;
	}
	if (strchr(name, ':') || !strcmp(name, "$endState$")) {
		perr(p, "CEP stage name '%s' is reserved or contains ':'", name);
		return false;
	}
	for (uint32_t i = 0; i < p->n; i++)
		if (!strcmp(p->st[i].name, name)) {
			perr(p, "duplicate CEP stage name '%s': names must be unique", name);
			return false;
		}
	if (p->n >= CEP_MAX_STAGES) {
		perr(p, "a CEP pattern has at most %d stages", CEP_MAX_STAGES);
		return false;
	}
	cep_stage *s = &p->st[p->n++];
	memset(s, 0, sizeof(*s));
	s->name = pdup(p, name);
	s->cs = cs;
	s->inner = CEP_CS_SKIP_NEXT;
	s->from = s->to = 1;
	s->cond = NULL;
	return true;
}

FLINC_API flinc_cep_pattern *flinc_cep_begin(flinc_env *e, const char *name)
{
	flinc_cep_pattern tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.env = e;
	flinc_cep_pattern *p = cep_pattern_alloc(&tmp, sizeof(*p));
	p->env = e;
	p->mem = tmp.mem;
	add_stage(p, name, CEP_CS_SKIP_NEXT);
	return p;
}

static flinc_cep_pattern *append(flinc_cep_pattern *p, const char *name, uint8_t cs)
{
	if (!p) return NULL;
	if (p->nfa) perr(p, "CEP pattern changed after it was compiled");
	add_stage(p, name, cs);
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_next(flinc_cep_pattern *p, const char *name)
{
	return append(p, name, CEP_CS_STRICT);
}
FLINC_API flinc_cep_pattern *flinc_cep_followed_by(flinc_cep_pattern *p, const char *name)
{
	return append(p, name, CEP_CS_SKIP_NEXT);
}
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_any(flinc_cep_pattern *p, const char *name)
{
	return append(p, name, CEP_CS_SKIP_ANY);
}
FLINC_API flinc_cep_pattern *flinc_cep_not_next(flinc_cep_pattern *p, const char *name)
{
	if (p && p->n && (p->st[p->n - 1].props & CEP_Q_OPTIONAL))
		perr(p, "CEP: a NOT stage ('%s') after an optional stage is not supported (as in Flink)",
		     name ? name : "");
	return append(p, name, CEP_CS_NOT_NEXT);
}
/* A group: the stages of g act as one stage of p, which the quantifier
 * calls then change (times, one_or_more, optional, ...). */
static flinc_cep_pattern *append_group(flinc_cep_pattern *p, flinc_cep_pattern *g, uint8_t cs)
{
	if (!p) return NULL;
	if (p->nfa) perr(p, "CEP pattern changed after it was compiled");
	if (!g || g == p || g->n == 0) {
		perr(p, "CEP group: needs another pattern with at least one stage");
		return p;
	}
	if (g->env != p->env) {
		perr(p, "CEP group: begun with another env than the pattern it joins");
		return p;
	}
	if (p->n >= CEP_MAX_STAGES) {
		perr(p, "a CEP pattern has at most %d stages", CEP_MAX_STAGES);
		return p;
	}
	cep_stage *s = &p->st[p->n++];
	memset(s, 0, sizeof(*s));
	s->name = "(group)";
	s->cs = cs;
	s->inner = CEP_CS_SKIP_NEXT;
	s->from = s->to = 1;
	s->group = g;
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_begin_group(flinc_env *e, flinc_cep_pattern *group)
{
	flinc_cep_pattern tmp;
	memset(&tmp, 0, sizeof tmp);
	tmp.env = e;
	flinc_cep_pattern *p = cep_pattern_alloc(&tmp, sizeof(*p));
	p->env = e;
	p->mem = tmp.mem;
	return append_group(p, group, CEP_CS_SKIP_NEXT);
}
FLINC_API flinc_cep_pattern *flinc_cep_next_group(flinc_cep_pattern *p, flinc_cep_pattern *group)
{
	return append_group(p, group, CEP_CS_STRICT);
}
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_group(flinc_cep_pattern *p, flinc_cep_pattern *group)
{
	return append_group(p, group, CEP_CS_SKIP_NEXT);
}
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_any_group(flinc_cep_pattern *p, flinc_cep_pattern *group)
{
	return append_group(p, group, CEP_CS_SKIP_ANY);
}

FLINC_API flinc_cep_pattern *flinc_cep_not_followed_by(flinc_cep_pattern *p, const char *name)
{
	if (p && p->n && (p->st[p->n - 1].props & CEP_Q_OPTIONAL))
		perr(p, "CEP: a NOT stage ('%s') after an optional stage is not supported (as in Flink)",
		     name ? name : "");
	return append(p, name, CEP_CS_NOT_FOLLOW);
}

/* The stage being changed, or NULL (after recording why). */
static cep_stage *cur(flinc_cep_pattern *p, const char *what)
{
	if (!p) return NULL;
	if (!p->n) {
		perr(p, "CEP %s before any stage", what);
		return NULL;
	}
	if (p->nfa) perr(p, "CEP pattern changed after it was compiled");
	return &p->st[p->n - 1];
}

static bool is_not(const cep_stage *s) { return s->cs == CEP_CS_NOT_NEXT || s->cs == CEP_CS_NOT_FOLLOW; }

static const cep_cond *user(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg)
{
	cep_cond *c = cep_pattern_alloc(p, sizeof(*c));
	c->op = CEP_C_USER;
	c->fn = fn;
	c->arg = arg;
	return c;
}

/* The stage where/or_where (`what`) adds condition fn to, or NULL after
 * recording why there is none. */
static cep_stage *cond_stage(flinc_cep_pattern *p, const char *what, flinc_cep_cond_fn fn)
{
	cep_stage *s = cur(p, what);
	if (!s) return NULL;
	if (s->group) {
		perr(p, "CEP %s on a group: give conditions to the group's stages", what);
		return NULL;
	}
	if (!fn) {
		perr(p, "CEP %s on '%s' without a function", what, s->name);
		return NULL;
	}
	return s;
}

FLINC_API flinc_cep_pattern *flinc_cep_where(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg)
{
	cep_stage *s = cond_stage(p, "where", fn);
	if (!s) return p;
	const cep_cond *c = user(p, fn, arg);
	s->cond = s->cond ? c_and(p, s->cond, c) : c;
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_or_where(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg)
{
	cep_stage *s = cond_stage(p, "or_where", fn);
	if (!s) return p;
	const cep_cond *c = user(p, fn, arg);
	s->cond = s->cond ? mk(p, CEP_C_OR, s->cond, c) : c;
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_until(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg)
{
	cep_stage *s = cur(p, "until");
	if (!s) return p;
	if (!fn)
		perr(p, "CEP until on '%s' without a function", s->name);
	else if (!(s->props & CEP_Q_LOOPING))
		perr(p, "CEP until on '%s': only a looping stage (one_or_more, times_or_more) has one",
		     s->name);
	else if (s->until)
		perr(p, "CEP until on '%s': only one until condition per stage", s->name);
	else
		s->until = user(p, fn, arg);
	return p;
}

static cep_stage *quant(flinc_cep_pattern *p, const char *what)
{
	cep_stage *s = cur(p, what);
	if (!s) return NULL;
	if (is_not(s)) {
		perr(p, "CEP %s on NOT stage '%s': a NOT stage takes no quantifier", what, s->name);
		return NULL;
	}
	if (s->props & (CEP_Q_LOOPING | CEP_Q_TIMES)) {
		perr(p, "CEP %s on '%s': it already has a quantifier", what, s->name);
		return NULL;
	}
	return s;
}

FLINC_API flinc_cep_pattern *flinc_cep_times_range(flinc_cep_pattern *p, int from, int to)
{
	cep_stage *s = quant(p, "times");
	if (!s) return p;
	if (from < 0 || to < 1 || from > to || to > 512) {
		perr(p, "CEP times(%d, %d) on '%s': need 0 <= from <= to, 1 <= to <= 512", from, to, s->name);
		return p;
	}
	s->props |= CEP_Q_TIMES;
	if (from == 0) {
		s->props |= CEP_Q_OPTIONAL;
		from = 1;
	}
	s->from = from;
	s->to = to;
	return p;
}
FLINC_API flinc_cep_pattern *flinc_cep_times(flinc_cep_pattern *p, int n)
{
	if (n < 1) {
		cep_stage *s = cur(p, "times");
		if (s) perr(p, "CEP times(%d) on '%s': need at least 1", n, s->name);
		return p;
	}
	return flinc_cep_times_range(p, n, n);
}
FLINC_API flinc_cep_pattern *flinc_cep_times_or_more(flinc_cep_pattern *p, int n)
{
	cep_stage *s = quant(p, "times_or_more");
	if (!s) return p;
	if (n < 1 || n > 512) {
		perr(p, "CEP times_or_more(%d) on '%s': need 1..512", n, s->name);
		return p;
	}
	s->props |= CEP_Q_LOOPING;
	s->from = s->to = n;
	return p;
}
FLINC_API flinc_cep_pattern *flinc_cep_one_or_more(flinc_cep_pattern *p)
{
	return flinc_cep_times_or_more(p, 1);
}

FLINC_API flinc_cep_pattern *flinc_cep_optional(flinc_cep_pattern *p)
{
	cep_stage *s = cur(p, "optional");
	if (!s) return p;
	if (is_not(s))
		perr(p, "CEP optional on NOT stage '%s' is not supported", s->name);
	else
		s->props |= CEP_Q_OPTIONAL;
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_greedy(flinc_cep_pattern *p)
{
	cep_stage *s = cur(p, "greedy");
	if (!s) return p;
	if (s->group)
		perr(p, "CEP greedy on a group is not supported (as in Flink)");
	else if (is_not(s))
		perr(p, "CEP greedy on NOT stage '%s'", s->name);
	else if (s->inner == CEP_CS_SKIP_ANY)
		perr(p, "CEP greedy on '%s': not applicable with allow_combinations", s->name);
	else if (s->props & CEP_Q_GREEDY)
		perr(p, "CEP greedy on '%s' given twice", s->name);
	else
		s->props |= CEP_Q_GREEDY;
	return p;
}

static flinc_cep_pattern *inner(flinc_cep_pattern *p, const char *what, uint8_t cs)
{
	cep_stage *s = cur(p, what);
	if (!s) return p;
	if (!(s->props & (CEP_Q_LOOPING | CEP_Q_TIMES)))
		perr(p, "CEP %s on '%s': only for times, one_or_more or times_or_more", what, s->name);
	else if (s->inner != CEP_CS_SKIP_NEXT)
		perr(p, "CEP %s on '%s': its contiguity is already set", what, s->name);
	else if (cs == CEP_CS_SKIP_ANY && (s->props & CEP_Q_GREEDY))
		perr(p, "CEP allow_combinations on greedy '%s'", s->name);
	else
		s->inner = cs;
	return p;
}
FLINC_API flinc_cep_pattern *flinc_cep_consecutive(flinc_cep_pattern *p)
{
	return inner(p, "consecutive", CEP_CS_STRICT);
}
FLINC_API flinc_cep_pattern *flinc_cep_allow_combinations(flinc_cep_pattern *p)
{
	return inner(p, "allow_combinations", CEP_CS_SKIP_ANY);
}

FLINC_API flinc_cep_pattern *flinc_cep_within(flinc_cep_pattern *p, int64_t ms)
{
	if (!p) return p;
	if (ms <= 0)
		perr(p, "CEP within(%lld): must be positive", (long long)ms);
	else if (!p->within || ms < p->within)
		p->within = ms;
	return p;
}

FLINC_API flinc_cep_pattern *flinc_cep_skip(flinc_cep_pattern *p, flinc_cep_skip_kind k, const char *name)
{
	if (!p) return p;
	if ((unsigned)k > FLINC_CEP_SKIP_TO_LAST) {
		perr(p, "CEP skip: unknown strategy %d", (int)k);
		return p;
	}
	if ((k == FLINC_CEP_SKIP_TO_FIRST || k == FLINC_CEP_SKIP_TO_LAST) && (!name || !*name)) {
		perr(p, "CEP skip to first/last needs a stage name");
		return p;
	}
	p->skip = (uint8_t)k;
	p->skip_name = name ? pdup(p, name) : NULL;
	return p;
}

FLINC_API const char *flinc_cep_error(const flinc_cep_pattern *p)
{
	if (!p) return "no CEP pattern";
	return p->err[0] ? p->err : NULL;
}

FLINC_API void flinc_cep_free(flinc_cep_pattern *p)
{
	if (!p || p->env) return;
	struct cep_mem *m = p->mem;
	while (m) {
		struct cep_mem *next = m->next;
		free(m);
		m = next;
	}
}

/* ---- compiler ------------------------------------------------------- */

/* Flink's NFACompiler state: the chain being compiled (the pattern, or a
 * group's sub-pattern), the stage in it, the stage after it, the group
 * being compiled. */
typedef struct comp {
	flinc_cep_pattern *top; /* errors and memory */
	cep_nfa *nfa;
	flinc_cep_pattern *cp;
	int cur;
	const cep_stage *fol;
	cep_stage *grp;
	int32_t stop_of[CEP_MAX_STAGES]; /* by stage id */
	int32_t *orig;                   /* originalStateMap: state -> its copy, -1 */
} comp;

static uint32_t new_state(comp *c, int stage, uint8_t type)
{
	cep_nfa *n = c->nfa;
	if (n->ns >= CEP_MAX_STATES) {
		perr(c->top, "CEP pattern too large: more than %d NFA states", CEP_MAX_STATES);
		return 0;
	}
	cep_state *s = &n->s[n->ns];
	s->stage = (int16_t)stage;
	s->type = type;
	return n->ns++;
}

static void add_tr(comp *c, uint32_t src, uint8_t action, uint32_t target, const cep_cond *cond)
{
	cep_state *s = &c->nfa->s[src];
	if (s->nt == s->capt) {
		uint16_t cap = s->capt ? (uint16_t)(s->capt * 2) : 4;
		cep_trans *t = cep_pattern_alloc(c->top, cap * sizeof(*t));
		if (s->nt) memcpy(t, s->t, s->nt * sizeof(*t));
		s->t = t;
		s->capt = cap;
	}
	cep_trans *t = &s->t[s->nt++];
	t->action = action;
	t->source = (uint16_t)src;
	t->target = (uint16_t)target;
	t->cond = cond ? cond : &cond_true;
}

static cep_stage *cur_st(comp *c) { return &c->cp->st[c->cur]; }
static const cep_cond *raw_cond(const cep_stage *st) { return st->cond ? st->cond : &cond_true; }

static const cep_cond *with_until(comp *c, const cep_cond *cond, const cep_cond *until, bool is_take)
{
	if (until && cond) return c_and(c->top, c_not(c->top, until), cond);
	if (until && is_take) return c_not(c->top, until);
	return cond;
}

/* getTakeCondition: the stage's condition, and not the group's until. */
static const cep_cond *take_cond(comp *c, const cep_stage *st)
{
	const cep_cond *k = raw_cond(st);
	if (c->grp && c->grp->until) k = with_until(c, k, c->grp->until, true);
	return k;
}

static bool head_of_group(comp *c) { return c->grp && c->cur == 0; }
static bool group_first_of_loop(comp *c) { return c->grp->fol != 0; }
static void set_first_of_loop(comp *c, bool v)
{
	if (cur_st(c)->group) cur_st(c)->fol = v ? 1 : 0;
}

static const cep_cond *ignore_of(comp *c, const cep_stage *st, uint8_t cs)
{
	const cep_cond *ig = NULL;
	if (cs == CEP_CS_SKIP_NEXT) ig = c_not(c->top, raw_cond(st));
	if (cs == CEP_CS_SKIP_ANY) ig = &cond_true;
	if (c->grp && c->grp->until) ig = with_until(c, ig, c->grp->until, false);
	return ig;
}
/* getInnerIgnoreCondition / getIgnoreCondition */
static const cep_cond *inner_ignore(comp *c)
{
	const cep_stage *st = cur_st(c);
	return ignore_of(c, st, head_of_group(c) ? c->grp->inner : st->inner);
}
static const cep_cond *outer_ignore(comp *c)
{
	const cep_stage *st = cur_st(c);
	uint8_t cs = st->cs;
	if (head_of_group(c)) cs = group_first_of_loop(c) ? c->grp->cs : c->grp->inner;
	return ignore_of(c, st, cs);
}

static uint32_t stop_state(comp *c, const cep_cond *notc, int gid)
{
	if (c->stop_of[gid] >= 0) return (uint32_t)c->stop_of[gid];
	uint32_t s = new_state(c, gid, CEP_S_STOP);
	add_tr(c, s, CEP_T_TAKE, s, notc);
	c->stop_of[gid] = (int32_t)s;
	return s;
}

/* NOT_FOLLOW stages before the current one reachable through optional
 * stages of the same chain (getCurrentNotCondition). */
static int current_nots(comp *c, const cep_stage **out)
{
	int n = 0;
	int i = c->cur;
	while (i > 0) {
		const cep_stage *prev = &c->cp->st[i - 1];
		if (!((prev->props & CEP_Q_OPTIONAL) || prev->cs == CEP_CS_NOT_FOLLOW)) break;
		i--;
		if (prev->cs == CEP_CS_NOT_FOLLOW) out[n++] = prev;
	}
	return n;
}

static void add_stop_states(comp *c, uint32_t state)
{
	const cep_stage *nots[CEP_MAX_STAGES];
	int n = current_nots(c, nots);
	for (int k = 0; k < n; k++) {
		const cep_cond *nc = take_cond(c, nots[k]);
		add_tr(c, state, CEP_T_PROCEED, stop_state(c, nc, nots[k]->gid), nc);
	}
}

static void add_stop_to_looping(comp *c, uint32_t state)
{
	if (c->fol && c->fol->cs == CEP_CS_NOT_FOLLOW) {
		const cep_cond *nc = take_cond(c, c->fol);
		add_tr(c, state, CEP_T_PROCEED, stop_state(c, nc, c->fol->gid), nc);
	}
}

static uint32_t copy_without_transitive_nots(comp *c, uint32_t sink)
{
	const cep_stage *nots[CEP_MAX_STAGES];
	int n = current_nots(c, nots);
	if (n == 0 || !(cur_st(c)->props & CEP_Q_OPTIONAL)) return sink;
	uint32_t cp = new_state(c, c->nfa->s[sink].stage, c->nfa->s[sink].type);
	uint16_t nt = c->nfa->s[sink].nt;
	for (uint16_t k = 0; k < nt; k++) {
		cep_trans t = c->nfa->s[sink].t[k];
		if (t.action == CEP_T_PROCEED) {
			uint32_t target = t.target;
			bool remove = false;
			if (c->nfa->s[target].type == CEP_S_STOP) {
				for (int j = 0; j < n; j++)
					if (c->nfa->s[target].stage == nots[j]->gid) remove = true;
			} else {
				target = copy_without_transitive_nots(c, target);
			}
			if (!remove) add_tr(c, cp, t.action, target, t.cond);
		} else {
			add_tr(c, cp, t.action, t.target == t.source ? cp : t.target, t.cond);
		}
	}
	return cp;
}

static uint32_t copy_state(comp *c, uint32_t s)
{
	uint32_t cp = new_state(c, c->nfa->s[s].stage, c->nfa->s[s].type);
	uint16_t nt = c->nfa->s[s].nt;
	for (uint16_t k = 0; k < nt; k++) {
		cep_trans t = c->nfa->s[s].t[k];
		add_tr(c, cp, t.action, t.target == t.source ? cp : t.target, t.cond);
	}
	return cp;
}

static void update_with_greedy(comp *c, uint32_t s, const cep_cond *take)
{
	cep_state *st = &c->nfa->s[s];
	for (uint16_t k = 0; k < st->nt; k++)
		st->t[k].cond = c_and(c->top, st->t[k].cond, c_not(c->top, take));
}

static uint32_t middle_states(comp *c, uint32_t sink);
static uint32_t convert(comp *c, uint32_t sink);

typedef struct saved {
	flinc_cep_pattern *cp;
	int cur;
	const cep_stage *fol;
	cep_stage *grp;
} saved;
static saved enter_group(comp *c, cep_stage *g)
{
	saved sv = { c->cp, c->cur, c->fol, c->grp };
	c->grp = g;
	c->cp = g->group;
	c->cur = (int)g->group->n - 1;
	return sv;
}
static void leave_group(comp *c, saved sv)
{
	c->cp = sv.cp;
	c->cur = sv.cur;
	c->fol = sv.fol;
	c->grp = sv.grp;
}

/* createGroupPatternState */
static uint32_t group_state(comp *c, cep_stage *g, uint32_t sink, int32_t proceed, bool optional)
{
	saved sv = enter_group(c, g);
	uint32_t last = middle_states(c, sink);
	last = convert(c, last);
	if (optional) add_tr(c, last, CEP_T_PROCEED, (uint32_t)proceed, &cond_true);
	leave_group(c, sv);
	return last;
}

/* createLoopingGroupPatternState */
static uint32_t looping_group_state(comp *c, cep_stage *g, uint32_t sink)
{
	uint32_t dummy = new_state(c, -1, CEP_S_NORMAL);
	saved sv = enter_group(c, g);
	uint32_t last = middle_states(c, dummy);
	last = convert(c, last);
	add_tr(c, last, CEP_T_PROCEED, sink, &cond_true);
	add_tr(c, dummy, CEP_T_PROCEED, last, &cond_true);
	leave_group(c, sv);
	return last;
}

static uint32_t singleton(comp *c, uint32_t sink, int32_t proceed, const cep_cond *take,
			  const cep_cond *ignore, bool optional)
{
	cep_stage *s = cur_st(c);
	if (s->group) return group_state(c, s, sink, proceed, optional);
	uint32_t st = new_state(c, s->gid, CEP_S_NORMAL);
	uint32_t snk = copy_without_transitive_nots(c, sink);
	add_tr(c, st, CEP_T_TAKE, snk, take);
	if (optional && !head_of_group(c)) {
		if (s->props & CEP_Q_GREEDY) {
			const cep_cond *until = s->until;
			if (until && c->orig[proceed] >= 0)
				add_tr(c, st, CEP_T_PROCEED, (uint32_t)c->orig[proceed], until);
			add_tr(c, st, CEP_T_PROCEED, (uint32_t)proceed,
			       until ? c_not(c->top, until) : &cond_true);
		} else {
			add_tr(c, st, CEP_T_PROCEED, (uint32_t)proceed, &cond_true);
		}
	}
	if (ignore) {
		uint32_t ig;
		/* An optional stage, or the head of an optional group (which gets
		 * the group's PROCEED), skips into a state of its own without it. */
		bool own = optional ||
			(head_of_group(c) && group_first_of_loop(c) && (c->grp->props & CEP_Q_OPTIONAL));
		if (own) {
			ig = new_state(c, s->gid, CEP_S_NORMAL);
			add_tr(c, ig, CEP_T_TAKE, snk, take);
			add_tr(c, ig, CEP_T_IGNORE, ig, ignore);
			add_stop_states(c, ig);
		} else {
			ig = st;
		}
		add_tr(c, st, CEP_T_IGNORE, ig, ignore);
	}
	return st;
}

static uint32_t looping(comp *c, uint32_t sink)
{
	cep_stage *s = cur_st(c);
	if (s->group) return looping_group_state(c, s, sink);
	const cep_cond *until = s->until;
	const cep_cond *ignore = with_until(c, inner_ignore(c), until, false);
	const cep_cond *take = with_until(c, take_cond(c, s), until, true);
	uint32_t loop = new_state(c, s->gid, CEP_S_NORMAL);
	if (s->props & CEP_Q_GREEDY) {
		if (until) {
			uint32_t cp = copy_state(c, sink);
			add_tr(c, loop, CEP_T_PROCEED, cp, until);
			c->orig[sink] = (int32_t)cp;
		}
		add_tr(c, loop, CEP_T_PROCEED, sink, until ? c_not(c->top, until) : &cond_true);
		update_with_greedy(c, sink, take_cond(c, s));
	} else {
		add_tr(c, loop, CEP_T_PROCEED, sink, &cond_true);
	}
	add_tr(c, loop, CEP_T_TAKE, loop, take);
	add_stop_to_looping(c, loop);
	if (ignore) {
		uint32_t ig = new_state(c, s->gid, CEP_S_NORMAL);
		add_tr(c, ig, CEP_T_TAKE, loop, take);
		add_tr(c, ig, CEP_T_IGNORE, ig, ignore);
		add_tr(c, loop, CEP_T_IGNORE, ig, ignore);
		add_stop_to_looping(c, ig);
	}
	return loop;
}

static uint32_t times_state(comp *c, uint32_t sink, uint32_t proceed, int from, int to)
{
	cep_stage *s = cur_st(c);
	uint32_t last = sink;
	set_first_of_loop(c, false);
	const cep_cond *until = s->until;
	const cep_cond *inner_ig = with_until(c, inner_ignore(c), until, false);
	const cep_cond *take = with_until(c, take_cond(c, s), until, true);
	if ((s->props & CEP_Q_GREEDY) && from != to) {
		if (until) c->orig[sink] = (int32_t)copy_state(c, sink);
		update_with_greedy(c, sink, take);
	}
	for (int i = from; i < to; i++) {
		last = singleton(c, last, (int32_t)proceed, take, inner_ig, true);
		add_stop_to_looping(c, last);
	}
	for (int i = 0; i < from - 1; i++) {
		last = singleton(c, last, -1, take, inner_ig, false);
		add_stop_to_looping(c, last);
	}
	set_first_of_loop(c, true);
	return singleton(c, last, (int32_t)proceed, take, outer_ignore(c), (s->props & CEP_Q_OPTIONAL) != 0);
}

static uint32_t convert(comp *c, uint32_t sink)
{
	cep_stage *s = cur_st(c);
	uint32_t last;
	if (s->props & CEP_Q_LOOPING) {
		set_first_of_loop(c, false);
		uint32_t snk = copy_without_transitive_nots(c, sink);
		uint32_t loop = looping(c, snk);
		set_first_of_loop(c, true);
		last = times_state(c, loop, sink, s->from, s->to);
	} else if (s->props & CEP_Q_TIMES) {
		last = times_state(c, sink, sink, s->from, s->to);
	} else {
		last = singleton(c, sink, (int32_t)sink, take_cond(c, s), outer_ignore(c),
				 (s->props & CEP_Q_OPTIONAL) != 0);
	}
	add_stop_states(c, last);
	return last;
}

/* createMiddleStates: every stage of the chain but its first, last to
 * first. */
static uint32_t middle_states(comp *c, uint32_t sink)
{
	while (c->cur > 0) {
		const cep_stage *s = cur_st(c);
		if (s->cs == CEP_CS_NOT_FOLLOW) {
			if (c->nfa->s[sink].type == CEP_S_FINAL) {
				/* At the end: wait for within, a match unless one comes. */
				uint32_t pend = new_state(c, s->gid, CEP_S_PENDING);
				const cep_cond *nc = take_cond(c, s);
				uint32_t stop = stop_state(c, nc, s->gid);
				add_tr(c, pend, CEP_T_PROCEED, stop, nc);
				add_tr(c, pend, CEP_T_IGNORE, pend, c_not(c->top, nc));
				sink = pend;
			}
		} else if (s->cs == CEP_CS_NOT_NEXT) {
			uint32_t nn = new_state(c, s->gid, CEP_S_NORMAL);
			const cep_cond *nc = take_cond(c, s);
			uint32_t stop = stop_state(c, nc, s->gid);
			if (c->nfa->s[sink].type == CEP_S_FINAL)
				add_tr(c, nn, CEP_T_IGNORE, sink, c_not(c->top, nc));
			else
				add_tr(c, nn, CEP_T_PROCEED, sink, c_not(c->top, nc));
			add_tr(c, nn, CEP_T_PROCEED, stop, nc);
			sink = nn;
		} else {
			sink = convert(c, sink);
		}
		c->fol = s;
		c->cur--;
	}
	return sink;
}

static uint64_t fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 1099511628211ull;
	}
	return h;
}

/* Number the stages of p and its groups (depth first, in order), names
 * into names[]. */
static void number_stages(flinc_cep_pattern *top, flinc_cep_pattern *p, const char **names, uint32_t *n,
			  int depth)
{
	if (depth > 8) {
		perr(top, "CEP groups nested more than 8 deep (or a group contains itself)");
		return;
	}
	for (uint32_t i = 0; i < p->n && !top->err[0]; i++) {
		cep_stage *s = &p->st[i];
		s->fol = -1;
		if (s->group) {
			if (s->group->err[0]) perr(top, "%s", s->group->err);
			if (s->group->within || s->group->skip)
				perr(top,
				     "CEP group starting with '%s': within and skip belong to the whole pattern",
				     s->group->n ? s->group->st[0].name : "?");
			number_stages(top, s->group, names, n, depth + 1);
			s->gid = -1;
			continue;
		}
		if (*n >= CEP_MAX_STAGES) {
			perr(top, "a CEP pattern has at most %d stages", CEP_MAX_STAGES);
			return;
		}
		for (uint32_t k = 0; k < *n; k++)
			if (!strcmp(names[k], s->name))
				perr(top, "duplicate CEP stage name '%s': names must be unique", s->name);
		s->gid = (int)*n;
		names[(*n)++] = s->name;
	}
}

const cep_nfa *cep_compile(flinc_cep_pattern *p, char *err, size_t errcap)
{
	if (p->nfa) return p->nfa;
	if (!p->err[0] && p->n == 0) perr(p, "CEP pattern without stages");
	const char **names = cep_pattern_alloc(p, CEP_MAX_STAGES * sizeof(char *));
	uint32_t nnames = 0;
	if (!p->err[0]) number_stages(p, p, names, &nnames, 0);
	if (!p->err[0]) {
		const cep_stage *last = &p->st[p->n - 1];
		if (last->cs == CEP_CS_NOT_FOLLOW && !p->within)
			perr(p, "CEP not_followed_by ('%s') at the end of a pattern needs within",
			     last->name);
		if (p->skip == FLINC_CEP_SKIP_TO_FIRST || p->skip == FLINC_CEP_SKIP_TO_LAST) {
			bool found = false;
			for (uint32_t i = 0; i < nnames; i++) found |= !strcmp(names[i], p->skip_name);
			if (!found)
				perr(p, "CEP skip strategy names stage '%s', which the pattern does not have",
				     p->skip_name);
		}
	}
	if (p->err[0]) {
		snprintf(err, errcap, "%s", p->err);
		return NULL;
	}
	cep_nfa *n = cep_pattern_alloc(p, sizeof(*n));
	n->s = cep_pattern_alloc(p, CEP_MAX_STATES * sizeof(cep_state));
	comp c = { .top = p, .nfa = n, .cp = p, .cur = (int)p->n - 1 };
	c.orig = cep_pattern_alloc(p, CEP_MAX_STATES * sizeof(int32_t));
	for (int i = 0; i < CEP_MAX_STATES; i++) c.orig[i] = -1;
	for (int i = 0; i < CEP_MAX_STAGES; i++) c.stop_of[i] = -1;

	uint32_t sink = new_state(&c, -1, CEP_S_FINAL);
	sink = middle_states(&c, sink);
	uint32_t start = convert(&c, sink);
	n->s[start].type = CEP_S_START;
	n->start = start;
	n->window = p->within;
	n->skip = p->skip;
	n->skip_stage = -1;
	if (p->skip_name)
		for (uint32_t i = 0; i < nnames; i++)
			if (!strcmp(names[i], p->skip_name)) n->skip_stage = (int16_t)i;
	n->nstages = nnames;
	n->names = names;
	if (p->err[0]) {
		snprintf(err, errcap, "%s", p->err);
		return NULL;
	}
	uint64_t h = 1469598103934665603ull;
	h = fnv(h, n->ns);
	for (uint32_t i = 0; i < n->ns; i++) {
		h = fnv(h, ((uint64_t)(uint16_t)n->s[i].stage << 16) | n->s[i].type);
		for (uint16_t k = 0; k < n->s[i].nt; k++)
			h = fnv(h,
				((uint64_t)n->s[i].t[k].action << 32) |
					((uint64_t)n->s[i].t[k].target << 16) | n->s[i].t[k].source);
	}
	for (uint32_t i = 0; i < nnames; i++)
		for (const char *q = names[i]; *q; q++) h = fnv(h, (uint8_t)*q);
	n->fingerprint = h;
	p->nfa = n;
	return n;
}
