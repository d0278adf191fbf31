/*
 * cep_internal.h - the CEP library's own declarations: the pattern as
 * built, the NFA it compiles to (Flink's NFACompiler states and
 * transitions), and the per-key run time (nfa.c) that the operator
 * (cep_op.c) loads from keyed state, feeds and stores back.
 *
 * Per key the run time holds Flink's SharedBuffer idea: every event is
 * stored once; a node is (event, stage, parent node), so a partial match
 * is one pointer to its last node and partial matches that share a prefix
 * share its nodes. Nothing is reference counted while a key is processed:
 * saving marks what the partial matches still reach and writes only that,
 * so events and nodes no partial match can use are dropped there.
 *
 * Everything at run time comes from a flinc_arena (no malloc per event).
 */
#ifndef FL_CEP_INTERNAL_H
#define FL_CEP_INTERNAL_H

#include <flinc/cep.h>

#define CEP_MAX_STAGES 64
#define CEP_MAX_STATES 1024
#define CEP_NONE UINT32_MAX
#define CEP_ID_NONE UINT64_MAX

/* ---- conditions ---- */
enum { CEP_C_TRUE, CEP_C_USER, CEP_C_NOT, CEP_C_AND, CEP_C_OR };
typedef struct cep_cond {
	uint8_t op;
	const struct cep_cond *a, *b;
	flinc_cep_cond_fn fn;
	const void *arg;
} cep_cond;

/* ---- the pattern as built ---- */
enum { CEP_CS_STRICT, CEP_CS_SKIP_NEXT, CEP_CS_SKIP_ANY, CEP_CS_NOT_NEXT, CEP_CS_NOT_FOLLOW };
enum { CEP_Q_LOOPING = 1, CEP_Q_TIMES = 2, CEP_Q_OPTIONAL = 4, CEP_Q_GREEDY = 8 };

typedef struct cep_stage {
	const char *name;
	uint8_t cs;    /* how it follows the previous stage */
	uint8_t inner; /* between the events of a loop */
	uint8_t props; /* CEP_Q_* */
	int from, to;  /* times */
	const cep_cond *cond, *until;
	struct flinc_cep_pattern *group; /* a group stage: its sub-pattern */
	int gid;                         /* stage id (index in cep_nfa.names); -1 for a group */
	int8_t fol;                      /* compiling a group: first of its loop (-1 unset) */
} cep_stage;

/* ---- the NFA ---- */
enum { CEP_T_TAKE, CEP_T_IGNORE, CEP_T_PROCEED };
enum { CEP_S_START, CEP_S_NORMAL, CEP_S_FINAL, CEP_S_STOP, CEP_S_PENDING };

typedef struct cep_trans {
	uint8_t action;
	uint16_t source, target;
	const cep_cond *cond;
} cep_trans;

typedef struct cep_state {
	int16_t stage; /* whose events it takes; -1 for the final state */
	uint8_t type;  /* CEP_S_* */
	uint16_t nt, capt;
	cep_trans *t;
} cep_state;

typedef struct cep_nfa {
	cep_state *s;
	uint32_t ns;
	uint32_t start;
	int64_t window; /* 0: none */
	uint8_t skip;   /* flinc_cep_skip_kind */
	int16_t skip_stage;
	uint32_t nstages;
	const char *const *names; /* by stage id */
	uint64_t fingerprint;     /* of the compiled graph: refuses state of another */
} cep_nfa;

struct flinc_cep_pattern {
	flinc_env *env;
	struct cep_mem *mem; /* without env: what to free */
	cep_stage st[CEP_MAX_STAGES];
	uint32_t n;
	int64_t within;
	uint8_t skip;
	const char *skip_name;
	char err[240];
	cep_nfa *nfa; /* once compiled */
};

/* Allocation for the pattern (env's or tracked). Zeroed. */
void *cep_pattern_alloc(flinc_cep_pattern *p, size_t n);
/* Compile (once; later calls return the same NFA). NULL with the reason in
 * err when the pattern is malformed. */
const cep_nfa *cep_compile(flinc_cep_pattern *p, char *err, size_t errcap);

/* ---- per key run time ---- */
typedef struct cep_ev {
	uint64_t id;
	int64_t ts;
	const void *rec;      /* decoded record, or NULL until needed */
	const uint8_t *bytes; /* its encoding (what is stored) */
	uint32_t len;
	uint32_t mark;
} cep_ev;

typedef struct cep_node {
	uint32_t ev;
	uint32_t parent; /* CEP_NONE at a match's first event */
	uint16_t stage;
	uint32_t mark;
} cep_node;

typedef struct cep_pm {
	uint32_t state;
	uint32_t node;     /* last node, CEP_NONE for the start state */
	int64_t start_ts;  /* time of the first event */
	uint64_t start_id; /* id of the first event, CEP_ID_NONE for start */
} cep_pm;

typedef struct cep_rt cep_rt;
typedef void (*cep_emit_fn)(void *ud, const flinc_cep_match *m, int64_t ts);
typedef const void *(*cep_decode_fn)(void *ud, const uint8_t *bytes, uint32_t len);

struct cep_rt {
	const cep_nfa *nfa;
	flinc_arena *a;
	cep_ev *ev;
	uint32_t nev, capev;
	cep_node *nd;
	uint32_t nnd, capnd;
	cep_pm *pm;
	uint32_t npm, cappm;
	cep_pm *done; /* completed, held back until no earlier partial match */
	uint32_t ndone, capdone;
	uint64_t next_id;
	int64_t timer; /* the timeout timer the operator last set, INT64_MIN none */
	bool changed;
	/* callbacks */
	cep_emit_fn on_match, on_timeout;
	cep_decode_fn decode;
	void *ud;
};

struct flinc_cep_match {
	const cep_rt *rt;
	uint32_t node;
	uint32_t *path; /* node indices, first to last; built on first use */
	uint32_t n;
	bool built;
};

/* Set up r over arena a with no state: only the start state. */
void cep_rt_init(cep_rt *r, const cep_nfa *nfa, flinc_arena *a);
/* Load r from bytes written by cep_rt_save (events stay encoded until a
 * condition or select reads them). FLINC_ECODEC when malformed or of
 * another pattern. */
int cep_rt_load(cep_rt *r, const cep_nfa *nfa, flinc_arena *a, const void *buf, size_t len);
/* Would cep_rt_advance(ts) on the state in buf (cep_rt_save's bytes for
 * nfa) do nothing? True when no partial match can time out by ts: the
 * pattern has no within, or the timeout timer the state records is after
 * ts (it is the earliest timeout whenever the state has any). Reads the
 * header only; false (load and advance) when unsure or malformed. */
bool cep_rt_idle_until(const cep_nfa *nfa, const void *buf, size_t len, int64_t ts);
/* Drop partial matches that timed out at `ts` (timeout callback), emit the
 * held back matches that are free to go. */
void cep_rt_advance(cep_rt *r, int64_t ts);
/* Feed one event (rec decoded, bytes its stored form copied by the
 * caller to memory that lives as long as r). */
void cep_rt_event(cep_rt *r, const void *rec, const uint8_t *bytes, uint32_t len, int64_t ts);
/* Nothing but the start state? (then the key's state can be cleared) */
bool cep_rt_empty(const cep_rt *r);
/* Earliest time a partial match times out, INT64_MAX if none. */
int64_t cep_rt_next_timeout(const cep_rt *r);
/* Write the live part of r (msgpack). Returns FLINC_OK or w->err set. */
int cep_rt_save(cep_rt *r, flinc_writer *w);
/* Live events and nodes (after a save). */
void cep_rt_sizes(const cep_rt *r, uint32_t *events, uint32_t *nodes, uint32_t *partial);

#endif
