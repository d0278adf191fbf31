/*
 * flinc/cep.h - complex event processing in the job API, with the semantics
 * of Flink CEP (FlinkCEP): a pattern of named stages is compiled into an NFA
 * and run per key in event time over a keyed stream.
 *
 *   flinc_cep_pattern *p = flinc_cep_begin(e, "first");
 *   flinc_cep_where(p, is_completed, NULL);
 *   flinc_cep_followed_by(p, "more");
 *   flinc_cep_where(p, is_completed, NULL);
 *   flinc_cep_times(p, 5);
 *   flinc_cep_within(p, 2 * 60 * 1000);
 *   flinc_cep_skip(p, FLINC_CEP_SKIP_PAST_LAST_EVENT, NULL);
 *   flinc_cep_opts o = { .select = velocity_alert, .out = &alert_type };
 *   flinc_stream *alerts = flinc_cep(flinc_key_by(txs, by_user), "velocity", p, &o);
 *
 * Builder: flinc_cep_begin starts a pattern with its first stage; next,
 * followed_by, followed_by_any, not_next, not_followed_by and the *_group
 * calls (a sub-pattern as one stage) append a stage;
 * every other call changes the stage appended last (like Flink's fluent
 * Pattern API). A misuse (a quantifier on a NOT stage, until on a stage that
 * does not loop, ...) is remembered: flinc_cep fails the build with it, and
 * flinc_cep_error returns it. Stage names are unique within a pattern and
 * its groups. flinc_cep runs one pattern, flinc_cep_multi several over one
 * buffer of events. docs/cep.md has the semantics and the differences from
 * Flink.
 *
 * Memory: with an env the pattern lives as long as the job graph (freed with
 * it); flinc_cep_begin(NULL, ...) (tests, tools) needs flinc_cep_free.
 */
#ifndef FLINC_CEP_H
#define FLINC_CEP_H

#include <flinc/flinc.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct flinc_cep_pattern flinc_cep_pattern;

/* The events of a match, or of the partial match a condition is asked
 * about, grouped by stage name in the order they were matched. Borrowed:
 * valid during the callback that receives it. */
typedef struct flinc_cep_match flinc_cep_match;

/* How many events stage `name` matched (0 for an unknown name). */
FLINC_API size_t flinc_cep_count(const flinc_cep_match *m, const char *name);
/* The i-th (0-based) event stage `name` matched, or NULL when there is no
 * such event. Its event time in *ts when ts is not NULL. */
FLINC_API const void *flinc_cep_event(const flinc_cep_match *m, const char *name, size_t i, int64_t *ts);
/* All events of the match in the order they were matched: n-th or NULL;
 * its stage name in *stage when not NULL. */
FLINC_API size_t flinc_cep_size(const flinc_cep_match *m);
FLINC_API const void *flinc_cep_nth(const flinc_cep_match *m, size_t n, const char **stage, int64_t *ts);

/* A condition on an event of the stream's type. `partial` holds the events
 * already in the partial match (an iterative condition reads them; the
 * event asked about is not among them). `arg` is the one given with it. */
typedef bool (*flinc_cep_cond_fn)(const void *ev, const flinc_cep_match *partial, const void *arg);

/* Called per match: emit any records with flinc_emit (they get the time of
 * the match's last event) or flinc_emit_side. */
typedef void (*flinc_cep_select_fn)(flinc_ctx *c, const flinc_cep_match *m);
/* Called per partial match that timed out (within): `timeout` is its first
 * event's time + within, also the time of what is emitted. */
typedef void (*flinc_cep_timeout_fn)(flinc_ctx *c, const flinc_cep_match *m, int64_t timeout);

/* ---- building a pattern ---------------------------------------------- */

/* The first stage. env may be NULL (see flinc_cep_free). Never NULL. */
FLINC_API flinc_cep_pattern *flinc_cep_begin(flinc_env *e, const char *name);
/* A stage right after the previous one (strict contiguity). */
FLINC_API flinc_cep_pattern *flinc_cep_next(flinc_cep_pattern *p, const char *name);
/* After the previous one, skipping events that do not match (relaxed). */
FLINC_API flinc_cep_pattern *flinc_cep_followed_by(flinc_cep_pattern *p, const char *name);
/* After the previous one, also skipping events that match
 * (non-deterministic relaxed contiguity: every later matching event). */
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_any(flinc_cep_pattern *p, const char *name);
/* The next event must not match this stage (else the partial match ends). */
FLINC_API flinc_cep_pattern *flinc_cep_not_next(flinc_cep_pattern *p, const char *name);
/* No event matching this stage may come between the previous stage and
 * the next one. At the end of a pattern it needs within: the match is
 * emitted once within passed without such an event. */
FLINC_API flinc_cep_pattern *flinc_cep_not_followed_by(flinc_cep_pattern *p, const char *name);

/* Groups (Flink's GroupPattern): the stages of `group` (a pattern begun
 * with the same env) act as one stage, which the quantifier calls that
 * follow change: (a b){2}, (a b)+, (a b)?, consecutive, allow_combinations,
 * until. where, or_where and greedy do not apply to a group; within and
 * skip belong to the outer pattern. Stage names are unique over the
 * pattern and its groups. Without an env, free the groups after the
 * pattern that uses them. */
FLINC_API flinc_cep_pattern *flinc_cep_begin_group(flinc_env *e, flinc_cep_pattern *group);
FLINC_API flinc_cep_pattern *flinc_cep_next_group(flinc_cep_pattern *p, flinc_cep_pattern *group);
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_group(flinc_cep_pattern *p, flinc_cep_pattern *group);
FLINC_API flinc_cep_pattern *flinc_cep_followed_by_any_group(flinc_cep_pattern *p, flinc_cep_pattern *group);

/* Conditions of the current stage: where ANDs a condition with what the
 * stage has, or_where ORs it; a stage without one matches every event.
 * until ends a looping stage (one_or_more, times_or_more) at the first
 * event that satisfies it (that event is not taken). */
FLINC_API flinc_cep_pattern *flinc_cep_where(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg);
FLINC_API flinc_cep_pattern *flinc_cep_or_where(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg);
FLINC_API flinc_cep_pattern *flinc_cep_until(flinc_cep_pattern *p, flinc_cep_cond_fn fn, const void *arg);

/* Quantifiers of the current stage. times_range(0, m) is an optional
 * times_range(1, m). Loops skip non-matching events between their events
 * (relaxed) unless consecutive (strict) or allow_combinations
 * (non-deterministic relaxed). greedy makes a loop take as many events as
 * it can before the next stage may take them. */
FLINC_API flinc_cep_pattern *flinc_cep_times(flinc_cep_pattern *p, int n);
FLINC_API flinc_cep_pattern *flinc_cep_times_range(flinc_cep_pattern *p, int from, int to);
FLINC_API flinc_cep_pattern *flinc_cep_one_or_more(flinc_cep_pattern *p);
FLINC_API flinc_cep_pattern *flinc_cep_times_or_more(flinc_cep_pattern *p, int n);
FLINC_API flinc_cep_pattern *flinc_cep_optional(flinc_cep_pattern *p);
FLINC_API flinc_cep_pattern *flinc_cep_greedy(flinc_cep_pattern *p);
FLINC_API flinc_cep_pattern *flinc_cep_consecutive(flinc_cep_pattern *p);
FLINC_API flinc_cep_pattern *flinc_cep_allow_combinations(flinc_cep_pattern *p);

/* The whole pattern must match within `ms` milliseconds of event time from
 * its first event: a partial match whose first event is `ms` or more older
 * than the current time is dropped (and given to the timeout function).
 * One per pattern; the smallest wins when called again. */
FLINC_API flinc_cep_pattern *flinc_cep_within(flinc_cep_pattern *p, int64_t ms);

/* What is done with other partial matches once a match is emitted. */
typedef enum flinc_cep_skip_kind {
	FLINC_CEP_NO_SKIP = 0,              /* keep them all: every match */
	FLINC_CEP_SKIP_TO_NEXT = 1,         /* drop those starting with the match's first event */
	FLINC_CEP_SKIP_PAST_LAST_EVENT = 2, /* drop those starting before its last event */
	FLINC_CEP_SKIP_TO_FIRST = 3,        /* drop those starting before the first event of stage `name` */
	FLINC_CEP_SKIP_TO_LAST = 4,         /* drop those starting before the last event of stage `name` */
} flinc_cep_skip_kind;
FLINC_API flinc_cep_pattern *flinc_cep_skip(flinc_cep_pattern *p, flinc_cep_skip_kind k, const char *name);

/* The first misuse recorded while building, or NULL. */
FLINC_API const char *flinc_cep_error(const flinc_cep_pattern *p);
/* Free a pattern begun without an env (a no-op for one with an env). */
FLINC_API void flinc_cep_free(flinc_cep_pattern *p);

/* ---- the operator ---------------------------------------------------- */

typedef struct flinc_cep_opts {
	flinc_cep_select_fn select;   /* required */
	const flinc_type *out;        /* type of what select emits; required */
	flinc_cep_timeout_fn timeout; /* timed-out partial matches (optional) */
	/* Events at or before the watermark when they arrive go here (the
	 * input type); without it they are dropped and counted as rejected. */
	const flinc_tag *late;
	const void *arg; /* flinc_ctx_arg in select and timeout */
	/* Order of events with equal timestamps (Flink's EventComparator):
	 * < 0 when a comes first. Without it they go in arrival order, which
	 * is only fixed when the events of a key come through one channel
	 * (the upstream of flinc_key_by has parallelism 1, or ordered them). */
	int (*compare)(const void *a, const void *b);
} flinc_cep_opts;

/* Run pattern p over the keyed stream `in` in event time (the stream
 * needs timestamps and watermarks, flinc_assign_timestamps): events are
 * kept in keyed state until the watermark passes them, then fed to the
 * NFA in timestamp order (then o->compare, then arrival order). Partial
 * matches live in keyed state, so they are in checkpoints and follow
 * their key groups when the job is rescaled. The pattern is compiled
 * here; a pattern error fails the build. */
FLINC_API flinc_stream *flinc_cep(flinc_stream *in, const char *name, const flinc_cep_pattern *p,
				  const flinc_cep_opts *o);

/* Several patterns over one keyed stream in one operator (not in Flink,
 * where each pattern is an operator of its own): the events are buffered,
 * sorted and timed once for all of them; each pattern keeps its own partial
 * matches and calls its own select and timeout (o[i], with its own arg).
 * Every o[i].out must be the same type (one output stream); late and
 * compare are o[0]'s. At most 32 patterns. Matches are those of n separate
 * flinc_cep operators on the same stream. */
FLINC_API flinc_stream *flinc_cep_multi(flinc_stream *in, const char *name, size_t n,
					flinc_cep_pattern *const *p, const flinc_cep_opts *o);

#ifdef __cplusplus
}
#endif
#endif
