/*
 * coord.c - the checkpoint coordinator of one job (coord.h).
 *
 * The coordinators of a process share a small pool of service threads
 * (at most SVC_THREADS; none while no coordinator has anything to do, so
 * a finished job holds no thread). A service thread takes a coordinator
 * that is due, and runs its step: everything that takes time or calls out
 * - triggers (mkdir, ops.trigger), completion (_metadata, savepoint file
 * moves, retention, ops.complete, done callbacks), failures (folder
 * removal, callbacks) and timeouts. One coordinator is stepped by one
 * thread at a time. The public functions only change state under the
 * coordinator's lock and mark it due, so they never block on disk and
 * never call the owner back.
 *
 * The checkpoint in progress (c->cur) belongs to the step: other threads
 * only record acks into it while it is P_RUNNING and move it to
 * P_COMPLETING (last ack) or P_FAILING (decline, stop); only the step
 * detaches and frees it. While P_COMPLETING nobody but the step touches
 * it, so the step reads it without the lock while it writes to disk.
 *
 * Failed checkpoints back off: after the n-th failure in a row the next
 * one is triggered no sooner than min(initial x 2^(n-1), max) after it
 * ended (savepoints excepted), across restarts of the job, until one
 * completes. Their log lines are rate limited.
 *
 * Locks: a coordinator's mu, then the service's mu (never the other way).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <flinc/error.h>

#include "coord.h"
#include "incremental.h"
#include "fl_base.h"
#include "fl_store.h"

#define LOGC "checkpoint"
#define HIST_MAX 10
#define PATH_CAP 4096
#define PATH_LIMIT 3000 /* longest jobdir/target we accept: derived paths must fit PATH_CAP */
#define MSG_CAP 1024
#define TOO_MANY_MSG "Exceeded checkpoint tolerable failure threshold"
#define SHUTDOWN_MSG "the job manager shut down"
#define NOT_RUNNING_MSG "the job is not running"
#define BACKOFF_INITIAL_MS 1000 /* execution.checkpointing.backoff.initial */
#define BACKOFF_MAX_MS 60000    /* execution.checkpointing.backoff.max */

enum { H_IN_PROGRESS, H_COMPLETED, H_FAILED };

/* One entry of the REST history (and of latest.*). Strings owned. */
typedef struct hist {
	int64_t id;
	int status;
	bool savepoint;
	int64_t trigger_ts, latest_ack_ts, failure_ts;
	uint64_t state_size, checkpointed_size;
	int64_t e2e_ms, align_ms;
	int64_t sync_ms, async_ms; /* the longest of any subtask */
	int nsub, nacked;
	char *external_path, *failure_message;
} hist;

/* One expected task's acknowledgement, copied from fl_coord_ack. */
typedef struct ack_rec {
	bool acked, ended;
	fl_chk_file file; /* path owned; NULL: the task wrote no file */
	char **shared;
	size_t n_shared;
} ack_rec;

typedef struct sp_req {
	struct sp_req *next;
	int64_t req;
	char *target;
	bool commit;
	fl_coord_done_fn done;
	void *ud;
} sp_req;

/* A done callback to deliver from the thread (failed savepoint requests). */
typedef struct note {
	struct note *next;
	fl_coord_done_fn done;
	void *ud;
	char *msg;
} note;

typedef enum { P_RUNNING, P_COMPLETING, P_FAILING } pstate;

typedef struct pending {
	int64_t id;
	int attempt;
	pstate state;
	sp_req *sp; /* savepoint request (owned); NULL for a checkpoint */
	int64_t trigger_ns;
	fl_coord_task *tasks;
	ack_rec *acks;
	size_t ntasks, nacked;
	char *fail_why;
	bool count_failure; /* counts toward tolerable failures */
	bool dir_made;      /* chk-<id>/ was created: remove it if the checkpoint fails */
	hist h;
} pending;

typedef struct stat3 {
	int64_t min, max, sum, n;
} stat3;

struct fl_coord {
	/* set at create, read-only after */
	char *job_id, *jobdir, *backend;
	char **operators;
	size_t n_operators;
	int64_t interval_ms, timeout_ms, min_pause_ms;
	int tolerable, retain, max_parallelism;
	fl_key_hash_kind key_hash;
	int64_t backoff_initial_ms, backoff_max_ms;
	fl_coord_ops ops;
	pthread_mutex_t mu;
	pthread_cond_t done_cv; /* fl_coord_destroy waits on it for `finished` */

	/* under the service's mu (svc below) */
	struct fl_coord *svc_next;
	bool svc_ready;       /* has something to do now */
	bool svc_busy;        /* a service thread is stepping it */
	int64_t svc_ready_ns; /* since when svc_ready (the longest waiting goes first) */
	int64_t svc_due_ns;   /* has something to do then (0: nothing) */

	/* under mu */
	bool quit, free_on_exit, finished, running, too_many_called;
	int attempt, consecutive;
	int fail_streak;     /* counted failures since the last completed checkpoint */
	int64_t retry_at_ns; /* backoff: no checkpoint before (0: none) */
	fl_coord_task *tasks;
	size_t ntasks;
	int64_t next_id, next_req;
	pending *cur;
	sp_req *sp_head, **sp_tail;
	note *notes_head, **notes_tail;
	enum { FINAL_NONE, FINAL_REQUESTED, FINAL_DONE } final_state;
	int64_t next_periodic_ns, last_end_ns;
	hist ring[HIST_MAX]; /* finished entries, newest first */
	size_t ring_n;
	hist latest_completed, latest_savepoint, latest_failed;
	bool has_completed, has_savepoint, has_failed;
	bool has_restored, restored_sp;
	int64_t restored_id, restored_ts;
	char *restored_path;
	int64_t n_total, n_completed, n_failed, n_restored, last_completed_id;
	stat3 st_state, st_ckpt, st_e2e;
};

/* ---- small helpers ------------------------------------------------------ */

static void lock(fl_coord *c)
{
	int e = pthread_mutex_lock(&c->mu);
	if (e) fl_log(FL_LOG_ERROR, LOGC, "coordinator lock failed: %s", strerror(e));
}

static void unlock(fl_coord *c)
{
	int e = pthread_mutex_unlock(&c->mu);
	if (e) fl_log(FL_LOG_ERROR, LOGC, "coordinator unlock failed: %s", strerror(e));
}

static void svc_mark_ready(fl_coord *c);

/* c has something to do: a service thread steps it soon. Lock held. */
static void wake(fl_coord *c) { svc_mark_ready(c); }

static void hist_free(hist *h)
{
	free(h->external_path);
	free(h->failure_message);
	memset(h, 0, sizeof(*h));
}

static void hist_dup(hist *dst, const hist *src)
{
	*dst = *src;
	dst->external_path = src->external_path ? fl_strdup(src->external_path) : NULL;
	dst->failure_message = src->failure_message ? fl_strdup(src->failure_message) : NULL;
}

/* Move h (its strings too) to the front of the history. */
static void hist_push(fl_coord *c, hist *h)
{
	if (c->ring_n == HIST_MAX) hist_free(&c->ring[--c->ring_n]);
	memmove(&c->ring[1], &c->ring[0], c->ring_n * sizeof(c->ring[0]));
	c->ring[0] = *h;
	c->ring_n++;
	memset(h, 0, sizeof(*h));
}

static void stat_add(stat3 *s, int64_t v)
{
	if (!s->n || v < s->min) s->min = v;
	if (!s->n || v > s->max) s->max = v;
	s->sum += v;
	s->n++;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++) free(v[i]);
	free(v);
}

static void sp_free(sp_req *r)
{
	if (!r) return;
	free(r->target);
	free(r);
}

static void pending_free(pending *p)
{
	if (!p) return;
	for (size_t i = 0; i < p->ntasks; i++) {
		free(p->acks[i].file.path);
		free(p->acks[i].file.native);
		free_strv(p->acks[i].shared, p->acks[i].n_shared);
	}
	free(p->acks);
	free(p->tasks);
	free(p->fail_why);
	sp_free(p->sp);
	hist_free(&p->h);
	free(p);
}

/* Queue a done(ud, false, msg) for the thread. Lock held. */
static void note_fail(fl_coord *c, fl_coord_done_fn done, void *ud, const char *msg)
{
	if (!done) return;
	note *n = fl_calloc(1, sizeof(*n));
	n->done = done;
	n->ud = ud;
	n->msg = fl_strdup(msg);
	*c->notes_tail = n;
	c->notes_tail = &n->next;
	wake(c);
}

/* Fail the checkpoint in progress (if it still waits for acks). Lock held;
 * the thread does the rest (folder removal, counts, callbacks). */
static void fail_cur(fl_coord *c, const char *why, bool count)
{
	pending *p = c->cur;
	if (!p || p->state != P_RUNNING) return;
	p->state = P_FAILING;
	p->fail_why = fl_strdup(why);
	p->count_failure = count;
	wake(c);
}

/* Absolute form of path (the path itself if realpath fails); the URL of
 * a folder on S3 (its twin means nothing to other processes). */
static char *abs_path(const char *path)
{
	char buf[PATH_MAX];
	if (fl_remote_is(path)) return fl_strdup(fl_remote_url(path, buf, sizeof buf));
	if (realpath(path, buf)) return fl_strdup(buf);
	fl_log(FL_LOG_WARN, LOGC, "%s: cannot resolve the absolute path: %s", path, strerror(errno));
	return fl_strdup(path);
}

static void log_line(void *ud, const char *line)
{
	(void)ud;
	fl_log(FL_LOG_INFO, LOGC, "%s", line);
}

static int64_t mono_ns(void) { return fl_mono_ns(); }

/* ns + ms, saturating (a timeout of "forever" must not wrap). */
static int64_t add_ms(int64_t ns, int64_t ms)
{
	if (ms > (INT64_MAX - ns) / 1000000) return INT64_MAX;
	return ns + ms * 1000000;
}

/* ---- copying (savepoints across file systems) ---------------------------- */

/* Copy a file or a folder tree (no symlinks followed). */
static int copy_tree(const char *src, const char *dst, char *err, size_t errcap)
{
	struct stat st;
	if (lstat(src, &st) < 0) return fl_errf(err, errcap, FLINC_EIO, "%s: %s", src, strerror(errno));
	if (S_ISREG(st.st_mode)) return fl_copy_file(src, dst, FL_COPY_SYNC, err, errcap);
	if (!S_ISDIR(st.st_mode))
		return fl_errf(err, errcap, FLINC_EIO, "%s: neither a file nor a folder", src);
	if (mkdir(dst, 0755) < 0)
		return fl_errf(err, errcap, FLINC_EIO, "%s: cannot create folder: %s", dst, strerror(errno));
	DIR *d = opendir(src);
	if (!d) return fl_errf(err, errcap, FLINC_EIO, "%s: cannot list: %s", src, strerror(errno));
	int rc = 0;
	struct dirent *de;
	char s[PATH_CAP], t[PATH_CAP];
	errno = 0;
	while (!rc && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
		if (snprintf(s, sizeof(s), "%s/%s", src, de->d_name) >= (int)sizeof(s) ||
		    snprintf(t, sizeof(t), "%s/%s", dst, de->d_name) >= (int)sizeof(t))
			rc = fl_errf(err, errcap, FLINC_EIO, "%s/%s: path too long", src, de->d_name);
		else
			rc = copy_tree(s, t, err, errcap);
		errno = 0;
	}
	if (!rc && errno) rc = fl_errf(err, errcap, FLINC_EIO, "%s: cannot list: %s", src, strerror(errno));
	closedir(d);
	if (!rc) rc = fl_fsync_dir(dst, err, errcap);
	return rc;
}

/* Move <from>/<rel> to <to>/<rel>: rename, or copy and remove when the two
 * are on different file systems. */
static int move_entry(const char *from, const char *to, const char *rel, char *err, size_t errcap)
{
	char src[PATH_CAP], dst[PATH_CAP];
	if (snprintf(src, sizeof(src), "%s/%s", from, rel) >= (int)sizeof(src) ||
	    snprintf(dst, sizeof(dst), "%s/%s", to, rel) >= (int)sizeof(dst))
		return fl_errf(err, errcap, FLINC_EINVAL, "%s/%s: path too long", to, rel);
	char *slash = strrchr(dst, '/');
	if (strchr(rel, '/')) { /* the file sits in a subfolder: create it in the savepoint */
		*slash = 0;
		int rc = fl_mkdir_p(dst, err, errcap);
		*slash = '/';
		if (rc) return rc;
	}
	if (rename(src, dst) == 0) return 0;
	if (errno != EXDEV)
		return fl_errf(err, errcap, FLINC_EIO, "%s: cannot move to %s: %s", src, dst,
			       strerror(errno));
	int rc = copy_tree(src, dst, err, errcap);
	if (!rc) {
		char why[MSG_CAP];
		if (fl_rm_rf(src, why, sizeof(why)))
			fl_log(FL_LOG_WARN, LOGC, "copied %s to %s but cannot remove it: %s", src, dst, why);
	}
	return rc;
}

/* ---- the shared service threads ------------------------------------------- */

#define SVC_THREADS 2    /* at most; one slow savepoint copy does not stall every job */
#define SVC_IDLE_MS 2000 /* a service thread without any work for this long leaves */
#define STEP_ACTIONS 16  /* actions of one coordinator before the others get a turn */

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC: work for an idle thread */
	fl_coord *head;    /* every live coordinator */
	int nthreads, nidle;
} svc = { .mu = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t svc_once = PTHREAD_ONCE_INIT;

static void svc_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int e = pthread_cond_init(&svc.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (e) fl_log(FL_LOG_ERROR, LOGC, "checkpoint service: condition variable: %s", strerror(e));
}

static void *svc_main(void *arg);

/* Work arrived: wake an idle service thread, or start one (detached: it
 * leaves by itself when idle). svc.mu held. */
static void svc_kick_locked(void)
{
	static fl_log_limit lim = FL_LOG_LIMIT_INIT(1, 10000);
	if (svc.nidle > 0) {
		pthread_cond_signal(&svc.cv);
		return;
	}
	if (svc.nthreads >= SVC_THREADS) return; /* a busy one rescans when it is done */
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int e = pthread_create(&t, &a, svc_main, NULL);
	pthread_attr_destroy(&a);
	if (e == 0)
		svc.nthreads++;
	else
		fl_log_limited(&lim, FL_LOG_ERROR, LOGC,
			       "cannot start a checkpoint service thread: %s (retried at the next event)",
			       strerror(e));
}

static void svc_mark_ready(fl_coord *c)
{
	pthread_mutex_lock(&svc.mu);
	if (!c->svc_ready) {
		c->svc_ready = true;
		c->svc_ready_ns = mono_ns();
	}
	if (!c->svc_busy) svc_kick_locked();
	pthread_mutex_unlock(&svc.mu);
}

static void svc_register(fl_coord *c)
{
	pthread_once(&svc_once, svc_init);
	pthread_mutex_lock(&svc.mu);
	c->svc_next = svc.head;
	svc.head = c;
	pthread_mutex_unlock(&svc.mu);
}

static void svc_unregister(fl_coord *c)
{
	pthread_mutex_lock(&svc.mu);
	for (fl_coord **pp = &svc.head; *pp; pp = &(*pp)->svc_next) {
		if (*pp == c) {
			*pp = c->svc_next;
			break;
		}
	}
	pthread_mutex_unlock(&svc.mu);
}

int fl_coord_service_threads(void)
{
	pthread_mutex_lock(&svc.mu);
	int n = svc.nthreads;
	pthread_mutex_unlock(&svc.mu);
	return n;
}

/* ---- create / destroy ----------------------------------------------------- */

static void svc_register(fl_coord *c);

static void coord_free(fl_coord *c)
{
	free(c->job_id);
	free(c->jobdir);
	free(c->backend);
	free_strv(c->operators, c->n_operators);
	free(c->tasks);
	pending_free(c->cur);
	while (c->sp_head) {
		sp_req *r = c->sp_head;
		c->sp_head = r->next;
		sp_free(r);
	}
	while (c->notes_head) {
		note *n = c->notes_head;
		c->notes_head = n->next;
		free(n->msg);
		free(n);
	}
	for (size_t i = 0; i < c->ring_n; i++) hist_free(&c->ring[i]);
	hist_free(&c->latest_completed);
	hist_free(&c->latest_savepoint);
	hist_free(&c->latest_failed);
	free(c->restored_path);
	free(c);
}

int fl_coord_create(const fl_coord_params *p, const fl_coord_ops *ops, fl_coord **out, char *err,
		    size_t errcap)
{
	*out = NULL;
	if (!p || !ops)
		return fl_errf(err, errcap, FLINC_EINVAL, "checkpoint coordinator: no parameters or ops");
	if (!p->job_id || !*p->job_id || strlen(p->job_id) >= FL_CHK_JOBID_MAX)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator: job id missing or longer than %d",
			       FL_CHK_JOBID_MAX - 1);
	if (!p->jobdir || !*p->jobdir || strlen(p->jobdir) > PATH_LIMIT)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: checkpoint folder missing "
			       "or longer than %d",
			       p->job_id, PATH_LIMIT);
	if (p->interval_ms < 0 || p->timeout_ms <= 0 || p->min_pause_ms < 0)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: interval (%" PRId64
			       " ms) and min pause (%" PRId64 " ms) must be >= 0, timeout (%" PRId64
			       " ms) > 0",
			       p->job_id, p->interval_ms, p->min_pause_ms, p->timeout_ms);
	if (p->retain < 1)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: state.checkpoints.num-retained "
			       "must be >= 1 (got %d)",
			       p->job_id, p->retain);
	if (p->next_id < 1)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: first checkpoint id must be "
			       ">= 1 (got %" PRId64 ")",
			       p->job_id, p->next_id);
	if (p->max_parallelism < 1 || p->max_parallelism > FL_SNAP_MAX_KG)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: max parallelism %d is not in "
			       "1..%d",
			       p->job_id, p->max_parallelism, FL_SNAP_MAX_KG);
	if (!p->backend || strlen(p->backend) >= sizeof(((fl_chk_meta *)0)->backend))
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: state backend name missing "
			       "or too long",
			       p->job_id);
	if (p->n_operators && !p->operators)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: no operator list", p->job_id);
	for (size_t i = 0; i < p->n_operators; i++)
		if (!p->operators[i])
			return fl_errf(err, errcap, FLINC_EINVAL,
				       "checkpoint coordinator of job %s: operator %zu has no uid", p->job_id,
				       i);
	if (!ops->trigger || !ops->complete)
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "checkpoint coordinator of job %s: ops.trigger and ops.complete "
			       "are required",
			       p->job_id);

	fl_coord *c = fl_calloc(1, sizeof(*c));
	c->job_id = fl_strdup(p->job_id);
	c->jobdir = fl_strdup(p->jobdir);
	c->backend = fl_strdup(p->backend);
	c->operators = fl_calloc(p->n_operators ? p->n_operators : 1, sizeof(char *));
	for (size_t i = 0; i < p->n_operators; i++) c->operators[i] = fl_strdup(p->operators[i]);
	c->n_operators = p->n_operators;
	c->interval_ms = p->interval_ms;
	c->timeout_ms = p->timeout_ms;
	c->min_pause_ms = p->min_pause_ms;
	c->tolerable = p->tolerable_failures;
	c->retain = p->retain;
	c->max_parallelism = p->max_parallelism;
	c->key_hash = p->key_hash;
	c->ops = *ops;
	c->next_id = p->next_id;
	c->next_req = 1;
	c->sp_tail = &c->sp_head;
	c->notes_tail = &c->notes_head;

	c->backoff_initial_ms = p->backoff_initial_ms > 0 ? p->backoff_initial_ms : BACKOFF_INITIAL_MS;
	c->backoff_max_ms = p->backoff_max_ms > 0 ? p->backoff_max_ms : BACKOFF_MAX_MS;
	if (c->backoff_max_ms < c->backoff_initial_ms) c->backoff_max_ms = c->backoff_initial_ms;

	int e;
	bool mu_ok = false;
	if ((e = pthread_mutex_init(&c->mu, NULL))) {
		fl_errf(err, errcap, FLINC_EIO, "checkpoint coordinator of job %s: mutex: %s", p->job_id,
			strerror(e));
		goto fail;
	}
	mu_ok = true;
	if ((e = pthread_cond_init(&c->done_cv, NULL))) {
		fl_errf(err, errcap, FLINC_EIO, "checkpoint coordinator of job %s: condition variable: %s",
			p->job_id, strerror(e));
		goto fail;
	}
	svc_register(c); /* no thread yet: one is found when there is work */
	*out = c;
	return 0;
fail:
	if (mu_ok) pthread_mutex_destroy(&c->mu);
	coord_free(c);
	return FLINC_EIO;
}

static _Thread_local bool svc_self; /* this thread is one of the service's */

void fl_coord_destroy(fl_coord *c)
{
	if (!c) return;
	lock(c);
	c->quit = true;
	if (svc_self) {
		/* From a callback on a service thread (this coordinator's own, or
		 * another's): waiting could wait for ourselves. The service frees
		 * it once its step sees quit. */
		c->free_on_exit = true;
		wake(c);
		unlock(c);
		return;
	}
	wake(c);
	while (!c->finished) pthread_cond_wait(&c->done_cv, &c->mu);
	unlock(c);
	pthread_cond_destroy(&c->done_cv);
	pthread_mutex_destroy(&c->mu);
	coord_free(c);
}

/* ---- public calls (any thread; lock only, no disk, no callbacks) --------- */

void fl_coord_start(fl_coord *c, int attempt, const fl_coord_task *tasks, size_t ntasks)
{
	if (!c) return;
	lock(c);
	if (c->cur) {
		char why[128];
		snprintf(why, sizeof(why), "the job restarted (attempt %d)", attempt);
		fail_cur(c, why, false);
	}
	free(c->tasks);
	c->tasks = fl_calloc(ntasks ? ntasks : 1, sizeof(*tasks));
	if (!tasks) ntasks = 0;
	if (ntasks) memcpy(c->tasks, tasks, ntasks * sizeof(*tasks));
	c->ntasks = ntasks;
	c->attempt = attempt;
	c->running = true;
	c->consecutive = 0;
	c->too_many_called = false;
	c->next_periodic_ns = add_ms(mono_ns(), c->interval_ms);
	wake(c);
	unlock(c);
}

void fl_coord_stop(fl_coord *c, const char *why)
{
	if (!c) return;
	if (!why) why = "the job stopped";
	lock(c);
	c->running = false;
	c->final_state = FINAL_NONE;
	fail_cur(c, why, false);
	while (c->sp_head) {
		sp_req *r = c->sp_head;
		c->sp_head = r->next;
		note_fail(c, r->done, r->ud, why);
		sp_free(r);
	}
	c->sp_tail = &c->sp_head;
	wake(c);
	unlock(c);
}

/* Index of (vertex, subtask) among p's tasks, or -1. */
static ssize_t task_index(const pending *p, uint32_t vertex, int subtask)
{
	for (size_t i = 0; i < p->ntasks; i++)
		if (p->tasks[i].vertex == vertex && p->tasks[i].subtask == subtask) return (ssize_t)i;
	return -1;
}

void fl_coord_acknowledge(fl_coord *c, const fl_coord_ack *a)
{
	if (!c || !a) return;
	lock(c);
	pending *p = c->cur;
	ssize_t i = -1;
	if (!p || a->attempt != c->attempt || p->attempt != a->attempt || p->id != a->id ||
	    p->state != P_RUNNING) {
		fl_log(FL_LOG_DEBUG, LOGC,
		       "job %s: ignoring acknowledgement of checkpoint %" PRId64
		       " (attempt %d) by %u.%d: not in progress",
		       c->job_id, a->id, a->attempt, a->vertex, a->subtask);
		goto out;
	}
	if ((i = task_index(p, a->vertex, a->subtask)) < 0 || p->acks[i].acked) {
		fl_log(FL_LOG_DEBUG, LOGC,
		       "job %s: ignoring %s acknowledgement of checkpoint %" PRId64 " by %u.%d", c->job_id,
		       i < 0 ? "unexpected" : "duplicate", a->id, a->vertex, a->subtask);
		goto out;
	}
	if (a->file.path && !fl_relpath_ok(a->file.path)) {
		char msg[MSG_CAP];
		snprintf(msg, sizeof(msg),
			 "Checkpoint %" PRId64 ": task %u.%d acknowledged with file path '%.200s', "
			 "which is not inside the checkpoint folder",
			 a->id, a->vertex, a->subtask, a->file.path);
		fail_cur(c, msg, true);
		goto out;
	}
	ack_rec *r = &p->acks[i];
	r->acked = true;
	r->ended = a->ended;
	r->file = a->file;
	r->file.path = a->file.path ? fl_strdup(a->file.path) : NULL;
	r->file.native = a->file.path && a->file.native ? fl_strdup(a->file.native) : NULL;
	if (a->n_shared && a->shared) {
		r->shared = fl_calloc(a->n_shared, sizeof(char *));
		for (size_t k = 0; k < a->n_shared; k++)
			if (a->shared[k]) r->shared[r->n_shared++] = fl_strdup(a->shared[k]);
	}
	p->nacked++;
	hist *h = &p->h;
	h->nacked = (int)p->nacked;
	h->latest_ack_ts = fl_now_ms();
	h->e2e_ms = h->latest_ack_ts - h->trigger_ts;
	h->state_size += a->state_size;
	if (a->checkpointed_size)
		h->checkpointed_size += a->checkpointed_size;
	else if (r->file.path)
		h->checkpointed_size += r->file.size;
	if (a->align_ms > h->align_ms) h->align_ms = a->align_ms;
	if (a->sync_ms > h->sync_ms) h->sync_ms = a->sync_ms;
	if (a->async_ms > h->async_ms) h->async_ms = a->async_ms;
	if (p->nacked == p->ntasks) {
		p->state = P_COMPLETING;
		wake(c);
	}
out:
	unlock(c);
}

void fl_coord_decline(fl_coord *c, int attempt, int64_t id, uint32_t vertex, int subtask, const char *why)
{
	if (!c) return;
	lock(c);
	pending *p = c->cur;
	if (!p || attempt != c->attempt || p->attempt != attempt || p->id != id || p->state != P_RUNNING ||
	    task_index(p, vertex, subtask) < 0) {
		fl_log(FL_LOG_DEBUG, LOGC,
		       "job %s: ignoring decline of checkpoint %" PRId64 " (attempt %d) by %u.%d", c->job_id,
		       id, attempt, vertex, subtask);
	} else {
		char msg[MSG_CAP];
		snprintf(msg, sizeof(msg), "Checkpoint %" PRId64 " declined by %u.%d: %s", id, vertex,
			 subtask, why ? why : "no reason given");
		fail_cur(c, msg, true);
	}
	unlock(c);
}

void fl_coord_request_final(fl_coord *c)
{
	if (!c) return;
	lock(c);
	if (c->running && c->final_state == FINAL_NONE) {
		c->final_state = FINAL_REQUESTED;
		wake(c);
	}
	unlock(c);
}

int64_t fl_coord_savepoint(fl_coord *c, const char *target, bool commit, fl_coord_done_fn done, void *ud)
{
	if (!c) return 0;
	lock(c);
	int64_t req = c->next_req++;
	if (c->quit) {
		note_fail(c, done, ud, SHUTDOWN_MSG);
	} else if (!c->running) {
		note_fail(c, done, ud, NOT_RUNNING_MSG);
	} else if (!target || !*target || strlen(target) > PATH_LIMIT) {
		note_fail(c, done, ud,
			  target && *target ? "the savepoint folder's path is too long"
					    : "no savepoint folder given (state.savepoints.dir is not set)");
	} else {
		sp_req *r = fl_calloc(1, sizeof(*r));
		r->req = req;
		r->target = fl_strdup(target);
		r->commit = commit;
		r->done = done;
		r->ud = ud;
		*c->sp_tail = r;
		c->sp_tail = &r->next;
		wake(c);
	}
	unlock(c);
	return req;
}

void fl_coord_restored(fl_coord *c, int64_t id, const char *path, bool savepoint)
{
	if (!c) return;
	lock(c);
	free(c->restored_path);
	c->restored_path = fl_strdup(path ? path : "");
	c->restored_id = id;
	c->restored_ts = fl_now_ms();
	c->restored_sp = savepoint;
	c->has_restored = true;
	c->n_restored++;
	unlock(c);
}

void fl_coord_counts_get(fl_coord *c, fl_coord_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (!c) return;
	lock(c);
	out->total = c->n_total;
	out->in_progress = c->cur ? 1 : 0;
	out->completed = c->n_completed;
	out->failed = c->n_failed;
	out->restored = c->n_restored;
	out->last_completed_id = c->last_completed_id;
	out->next_id = c->next_id;
	unlock(c);
}

/* ---- JSON ---------------------------------------------------------------- */

static json_t *hist_json(const hist *h)
{
	static const char *const names[] = { "IN_PROGRESS", "COMPLETED", "FAILED" };
	json_t *o = json_pack(
		"{s:I, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:i}", "id", (json_int_t)h->id, "status",
		names[h->status], "is_savepoint", (int)h->savepoint, "trigger_timestamp",
		(json_int_t)h->trigger_ts, "latest_ack_timestamp", (json_int_t)h->latest_ack_ts, "state_size",
		(json_int_t)h->state_size, "checkpointed_size", (json_int_t)h->checkpointed_size,
		"end_to_end_duration", (json_int_t)h->e2e_ms, "alignment_duration", (json_int_t)h->align_ms,
		"num_subtasks", h->nsub, "num_acknowledged_subtasks", h->nacked);
	if (!o) return NULL;
	/* not in Flink's checkpoint statistics (it has them per subtask) */
	json_object_set_new(o, "sync_duration", json_integer(h->sync_ms));
	json_object_set_new(o, "async_duration", json_integer(h->async_ms));
	if (h->status == H_COMPLETED)
		json_object_set_new(o, "external_path",
				    json_string(h->external_path ? h->external_path : ""));
	if (h->status == H_FAILED) {
		json_object_set_new(o, "failure_message",
				    json_string(h->failure_message ? h->failure_message : ""));
		json_object_set_new(o, "failure_timestamp", json_integer(h->failure_ts));
	}
	return o;
}

static json_t *stat_json(const stat3 *s)
{
	return json_pack("{s:I, s:I, s:I}", "min", (json_int_t)s->min, "max", (json_int_t)s->max, "avg",
			 (json_int_t)(s->n ? s->sum / s->n : 0));
}

static json_t *opt_hist(bool has, const hist *h) { return has ? hist_json(h) : json_null(); }

json_t *fl_coord_json(fl_coord *c)
{
	if (!c) return NULL;
	lock(c);
	json_t *hist_a = json_array();
	if (c->cur) json_array_append_new(hist_a, hist_json(&c->cur->h));
	for (size_t i = 0; i < c->ring_n && json_array_size(hist_a) < HIST_MAX; i++)
		json_array_append_new(hist_a, hist_json(&c->ring[i]));
	json_t *restored = c->has_restored
		? json_pack("{s:I, s:I, s:b, s:s}", "id", (json_int_t)c->restored_id, "restore_timestamp",
			    (json_int_t)c->restored_ts, "is_savepoint", (int)c->restored_sp, "external_path",
			    c->restored_path)
		: json_null();
	json_t *o = json_pack(
		"{s:{s:I, s:I, s:I, s:I, s:I}, s:{s:o, s:o, s:o}, s:{s:o, s:o, s:o, s:o}, s:o}", "counts",
		"restored", (json_int_t)c->n_restored, "total", (json_int_t)c->n_total, "in_progress",
		(json_int_t)(c->cur ? 1 : 0), "completed", (json_int_t)c->n_completed, "failed",
		(json_int_t)c->n_failed, "summary", "state_size", stat_json(&c->st_state),
		"checkpointed_size", stat_json(&c->st_ckpt), "end_to_end_duration", stat_json(&c->st_e2e),
		"latest", "completed", opt_hist(c->has_completed, &c->latest_completed), "savepoint",
		opt_hist(c->has_savepoint, &c->latest_savepoint), "failed",
		opt_hist(c->has_failed, &c->latest_failed), "restored", restored, "history", hist_a);
	unlock(c);
	return o; /* json_pack's "o" steals the references, also on failure */
}

/* ---- the thread ------------------------------------------------------------ */

typedef enum { T_NONE, T_SAVEPOINT, T_CHECKPOINT } trig_kind;

/* What to trigger now, if anything; else *due_ns = when (0: never). Lock held. */
static trig_kind due(fl_coord *c, int64_t now, int64_t *due_ns)
{
	*due_ns = 0;
	if (!c->running || c->cur) return T_NONE;
	if (c->sp_head) return T_SAVEPOINT; /* asked for: never held back */
	if (c->final_state == FINAL_REQUESTED) {
		if (now >= c->retry_at_ns) return T_CHECKPOINT;
		*due_ns = c->retry_at_ns; /* failing: back off */
		return T_NONE;
	}
	if (c->interval_ms <= 0 || c->final_state == FINAL_DONE) return T_NONE;
	int64_t at = c->next_periodic_ns,
		pause = c->last_end_ns ? add_ms(c->last_end_ns, c->min_pause_ms) : 0;
	if (pause > at) at = pause;
	if (c->retry_at_ns > at) at = c->retry_at_ns;
	if (now >= at) return T_CHECKPOINT;
	*due_ns = at;
	return T_NONE;
}

/* Trigger a checkpoint or savepoint. Lock held on entry and exit. */
static void do_trigger(fl_coord *c, trig_kind kind, int64_t now)
{
	pending *p = fl_calloc(1, sizeof(*p));
	p->id = c->next_id++;
	p->attempt = c->attempt;
	p->state = P_RUNNING;
	if (kind == T_SAVEPOINT) {
		p->sp = c->sp_head;
		c->sp_head = p->sp->next;
		if (!c->sp_head) c->sp_tail = &c->sp_head;
		p->sp->next = NULL;
	}
	p->ntasks = c->ntasks;
	p->tasks = fl_calloc(p->ntasks ? p->ntasks : 1, sizeof(*p->tasks));
	if (p->ntasks) memcpy(p->tasks, c->tasks, p->ntasks * sizeof(*p->tasks));
	p->acks = fl_calloc(p->ntasks ? p->ntasks : 1, sizeof(*p->acks));
	p->trigger_ns = now;
	p->h.id = p->id;
	p->h.status = H_IN_PROGRESS;
	p->h.savepoint = kind == T_SAVEPOINT;
	p->h.trigger_ts = fl_now_ms();
	p->h.latest_ack_ts = -1;
	p->h.nsub = (int)p->ntasks;
	c->cur = p;
	c->n_total++;
	if (c->interval_ms > 0) c->next_periodic_ns = add_ms(now, c->interval_ms);
	int64_t id = p->id, ts = p->h.trigger_ts;
	int attempt = p->attempt;
	bool sp = kind == T_SAVEPOINT;
	unlock(c);

	char dir[PATH_CAP], err[MSG_CAP];
	fl_chk_dir(dir, sizeof(dir), c->jobdir, id);
	int rc = fl_mkdir_p(dir, err, sizeof(err));

	lock(c);
	if (rc) {
		fail_cur(c, err, true);
		return;
	}
	p->dir_made = true;
	if (p->state != P_RUNNING) return;           /* stopped meanwhile: the loop fails it */
	if (p->ntasks == 0) p->state = P_COMPLETING; /* nothing to wait for */
	unlock(c);
	fl_log(FL_LOG_INFO, LOGC, "Triggering checkpoint %" PRId64 " (type=%s) @%" PRId64 " for job %s.", id,
	       sp ? "SAVEPOINT" : "CHECKPOINT", ts, c->job_id);
	c->ops.trigger(c->ops.ud, attempt, id, ts, sp);
	lock(c);
}

/* The checkpoint in progress failed: remove its folder, then detach and
 * count it (so a count seen by others means the folder is gone), then call
 * back. Lock held on entry and exit. */
static void handle_failure(fl_coord *c)
{
	pending *p = c->cur; /* P_FAILING: nobody else touches it */
	unlock(c);
	char dir[PATH_CAP], err[MSG_CAP];
	fl_chk_dir(dir, sizeof(dir), c->jobdir, p->id);
	static fl_log_limit rm_lim = FL_LOG_LIMIT_INIT(5, 10000);
	if (p->dir_made && (fl_rm_rf(dir, err, sizeof(err)) || fl_remote_remove(dir, err, sizeof(err))))
		fl_log_limited(&rm_lim, FL_LOG_WARN, LOGC,
			       "job %s: cannot remove the folder of failed checkpoint %" PRId64 ": %s",
			       c->job_id, p->id, err);
	lock(c);

	c->cur = NULL;
	c->last_end_ns = mono_ns();
	hist *h = &p->h;
	h->status = H_FAILED;
	h->failure_ts = fl_now_ms();
	h->e2e_ms = h->failure_ts - h->trigger_ts;
	h->failure_message = fl_strdup(p->fail_why);
	hist_free(&c->latest_failed);
	hist_dup(&c->latest_failed, h);
	c->has_failed = true;
	hist_push(c, h);
	c->n_failed++;
	bool call_tm = false;
	char tm_msg[MSG_CAP + 64];
	int64_t backoff_ms = 0;
	if (p->count_failure && !p->sp) {
		/* The pause before the next try grows with every failure in a
		 * row (also across restarts of the job) until one completes. */
		c->fail_streak++;
		backoff_ms = c->backoff_initial_ms;
		for (int k = 1; k < c->fail_streak && backoff_ms < c->backoff_max_ms; k++) backoff_ms *= 2;
		if (backoff_ms > c->backoff_max_ms) backoff_ms = c->backoff_max_ms;
		c->retry_at_ns = add_ms(c->last_end_ns, backoff_ms);
	}
	int streak = c->fail_streak;
	if (p->count_failure && !p->sp && c->running && c->attempt == p->attempt) {
		c->consecutive++;
		if (c->tolerable >= 0 && c->consecutive > c->tolerable && !c->too_many_called &&
		    c->ops.too_many_failures) {
			c->too_many_called = true;
			call_tm = true;
			snprintf(tm_msg, sizeof(tm_msg), TOO_MANY_MSG " (%d): %s", c->tolerable, p->fail_why);
		}
	}
	unlock(c);

	/* A failing folder fails every try the same way: rate limited, and
	 * the pause that follows is said. */
	static fl_log_limit fail_lim = FL_LOG_LIMIT_INIT(20, 10000);
	if (backoff_ms)
		fl_log_limited(&fail_lim, FL_LOG_WARN, LOGC,
			       "Checkpoint %" PRId64
			       " of job %s failed (%d in a row; the next one in %" PRId64
			       " ms at the earliest): %s",
			       p->id, c->job_id, streak, backoff_ms, p->fail_why);
	else
		fl_log_limited(&fail_lim, FL_LOG_WARN, LOGC, "Checkpoint %" PRId64 " of job %s failed: %s",
			       p->id, c->job_id, p->fail_why);
	if (p->sp && p->sp->done) p->sp->done(p->sp->ud, false, p->fail_why);
	if (call_tm) c->ops.too_many_failures(c->ops.ud, p->attempt, tm_msg);
	pending_free(p);
	lock(c);
}

/* Write a checkpoint's _metadata. Called without the lock (p is ours). */
static int write_meta(fl_coord *c, const pending *p, const char *dir, bool savepoint, int64_t complete_ts,
		      char *err, size_t errcap)
{
	fl_chk_meta m;
	memset(&m, 0, sizeof(m));
	snprintf(m.job_id, sizeof(m.job_id), "%s", c->job_id);
	snprintf(m.backend, sizeof(m.backend), "%s", c->backend);
	m.checkpoint_id = p->id;
	m.is_savepoint = savepoint;
	m.trigger_ts_ms = p->h.trigger_ts;
	m.complete_ts_ms = complete_ts;
	m.max_parallelism = c->max_parallelism;
	m.key_hash = c->key_hash;
	m.operators = c->operators;
	m.n_operators = c->n_operators;
	m.files = fl_calloc(p->ntasks ? p->ntasks : 1, sizeof(*m.files));
	size_t nsh = 0;
	for (size_t i = 0; i < p->ntasks; i++) {
		if (p->acks[i].file.path) m.files[m.n_files++] = p->acks[i].file;
		nsh += p->acks[i].n_shared;
	}
	if (!savepoint && nsh) {
		m.shared = fl_calloc(nsh, sizeof(char *));
		for (size_t i = 0; i < p->ntasks; i++)
			for (size_t k = 0; k < p->acks[i].n_shared; k++) {
				char *s = p->acks[i].shared[k];
				bool dup = false;
				for (size_t j = 0; j < m.n_shared && !dup; j++) dup = !strcmp(m.shared[j], s);
				if (!dup) m.shared[m.n_shared++] = s;
			}
	}
	int rc = fl_chk_meta_write(dir, &m, err, errcap);
	free(m.files); /* the strings are borrowed */
	free(m.shared);
	if (!rc && !savepoint && fl_remote_is(dir)) {
		/* the commit point, after every task pushed its files */
		char md[PATH_MAX + 16];
		snprintf(md, sizeof(md), "%s/" FL_CHK_METADATA, dir);
		rc = fl_remote_push(md, err, errcap);
	}
	return rc;
}

/* Turn the acknowledged chk-<id>/ into a savepoint folder. *path = its
 * absolute path. On failure the partial savepoint folder is removed. */
static int write_savepoint(fl_coord *c, const pending *p, const char *chkdir, int64_t complete_ts,
			   char **path, char *err, size_t errcap)
{
	for (size_t i = 0; i < p->ntasks; i++)
		if (p->acks[i].n_shared || p->acks[i].file.native)
			return fl_errf(err, errcap, FLINC_EINVAL,
				       "savepoints must be self-contained and canonical, but "
				       "task %u.%d wrote a native checkpoint (%zu shared files)",
				       p->tasks[i].vertex, p->tasks[i].subtask, p->acks[i].n_shared);
	char spdir[PATH_CAP];
	fl_savepoint_dir(spdir, sizeof(spdir), p->sp->target, c->job_id);
	/* the tasks' files, when they pushed them to S3 */
	int rc = fl_remote_is(chkdir) ? fl_remote_pull(chkdir, NULL, err, errcap) : 0;
	if (rc == FLINC_ENOENT) rc = 0; /* no task wrote anything */
	if (!rc) rc = fl_mkdir_p(spdir, err, errcap);
	if (rc) return rc;
	for (size_t i = 0; i < p->ntasks && !rc; i++)
		if (p->acks[i].file.path) rc = move_entry(chkdir, spdir, p->acks[i].file.path, err, errcap);
	if (!rc) rc = write_meta(c, p, spdir, true, complete_ts, err, errcap);
	/* on S3: the files first, _metadata (the commit point) last */
	if (!rc && fl_remote_is(spdir)) {
		char md[PATH_CAP + 16], hidden[PATH_CAP + 16];
		snprintf(md, sizeof(md), "%s/" FL_CHK_METADATA, spdir);
		snprintf(hidden, sizeof(hidden), "%s/" FL_CHK_METADATA ".tmp", spdir);
		rc = rename(md, hidden) ? fl_errf(err, errcap, FLINC_EIO, "%s: %s", md, strerror(errno)) : 0;
		if (!rc) rc = fl_remote_push(spdir, err, errcap); /* skips *.tmp */
		if (!rename(hidden, md) && !rc) rc = fl_remote_push(md, err, errcap);
	}
	if (rc) {
		char why[MSG_CAP];
		fl_remote_remove(spdir, NULL, 0);
		if (fl_rm_rf(spdir, why, sizeof(why)))
			fl_log(FL_LOG_WARN, LOGC, "job %s: cannot remove the partial savepoint %s: %s",
			       c->job_id, spdir, why);
		return rc;
	}
	char why[MSG_CAP];
	if (fl_rm_rf(chkdir, why, sizeof(why)) || fl_remote_remove(chkdir, why, sizeof(why)))
		fl_log(FL_LOG_WARN, LOGC,
		       "job %s: savepoint %" PRId64 " written, but its staging folder stays: %s", c->job_id,
		       p->id, why);
	*path = abs_path(spdir);
	return 0;
}

/* Every task acknowledged: write it, then tell the owner. Lock held on
 * entry and exit. */
static void handle_complete(fl_coord *c)
{
	pending *p = c->cur;
	bool final = true;
	for (size_t i = 0; i < p->ntasks; i++) final = final && p->acks[i].ended;
	unlock(c);

	char dir[PATH_CAP], err[MSG_CAP];
	char *path = NULL;
	fl_chk_dir(dir, sizeof(dir), c->jobdir, p->id);
	int64_t complete_ts = fl_now_ms();
	int rc;
	if (p->sp) {
		rc = write_savepoint(c, p, dir, complete_ts, &path, err, sizeof(err));
	} else {
		rc = write_meta(c, p, dir, false, complete_ts, err, sizeof(err));
		if (!rc) {
			path = abs_path(dir);
			char why[MSG_CAP];
			int64_t *before = NULL;
			size_t nbefore = 0;
			if (fl_remote_is(c->jobdir) &&
			    fl_chk_list(c->jobdir, &before, &nbefore, why, sizeof(why)))
				nbefore = 0;
			if (fl_chk_retain(c->jobdir, c->retain, log_line, NULL, why, sizeof(why)) ||
			    fl_chk_remote_retained(c->jobdir, before, nbefore, why, sizeof(why)))
				fl_log(FL_LOG_WARN, LOGC,
				       "job %s: retention after checkpoint %" PRId64 " failed: %s", c->job_id,
				       p->id, why);
			/* no checkpoint is being written while c->cur is p: the
			 * files of shared/ that no retained one lists can go */
			else if (fl_incr_gc(c->jobdir, NULL, NULL, why, sizeof(why)) ||
				 fl_chk_remote_gc(c->jobdir, NULL, NULL, why, sizeof(why)))
				fl_log(FL_LOG_WARN, LOGC,
				       "job %s: removing unused shared files after checkpoint %" PRId64
				       " failed: %s",
				       c->job_id, p->id, why);
			free(before);
		}
	}

	lock(c);
	if (rc) {
		p->state = P_RUNNING; /* so fail_cur takes it */
		fail_cur(c, err, true);
		return;
	}
	c->cur = NULL;
	c->last_end_ns = mono_ns();
	hist *h = &p->h;
	h->status = H_COMPLETED;
	h->e2e_ms = complete_ts - h->trigger_ts;
	h->external_path = path;
	path = NULL;
	c->n_completed++;
	stat_add(&c->st_state, (int64_t)h->state_size);
	stat_add(&c->st_ckpt, (int64_t)h->checkpointed_size);
	stat_add(&c->st_e2e, h->e2e_ms);
	if (p->sp) {
		hist_free(&c->latest_savepoint);
		hist_dup(&c->latest_savepoint, h);
		c->has_savepoint = true;
	} else {
		hist_free(&c->latest_completed);
		hist_dup(&c->latest_completed, h);
		c->has_completed = true;
		c->last_completed_id = p->id;
		c->consecutive = 0;
		c->fail_streak = 0;
		c->retry_at_ns = 0;
	}
	/* Fencing: if the attempt ended while we wrote, its tasks are gone. */
	bool call_complete = (!p->sp || p->sp->commit) && c->running && c->attempt == p->attempt;
	if (call_complete && final && c->final_state != FINAL_NONE) c->final_state = FINAL_DONE;
	int64_t bytes = (int64_t)h->checkpointed_size, full = (int64_t)h->state_size, ms = h->e2e_ms;
	int64_t align = h->align_ms, sync = h->sync_ms, async = h->async_ms;
	char *ext = fl_strdup(h->external_path);
	hist_push(c, h);
	unlock(c);

	if (p->sp)
		fl_log(FL_LOG_INFO, LOGC, "Savepoint %" PRId64 " of job %s written to %s.", p->id, c->job_id,
		       ext);
	else
		fl_log(FL_LOG_INFO, LOGC,
		       "Completed checkpoint %" PRId64 " for job %s (%" PRId64 " bytes, %" PRId64
		       " ms; state %" PRId64 " bytes; longest alignment %" PRId64
		       " ms, synchronous part %" PRId64 " ms, asynchronous part %" PRId64 " ms).",
		       p->id, c->job_id, bytes, ms, full, align, sync, async);
	if (call_complete)
		c->ops.complete(c->ops.ud, p->attempt, p->id, final);
	else if (!p->sp || p->sp->commit)
		fl_log(FL_LOG_INFO, LOGC,
		       "job %s: attempt %d ended; not notifying completion of checkpoint %" PRId64, c->job_id,
		       p->attempt, p->id);
	if (p->sp && p->sp->done) p->sp->done(p->sp->ud, true, ext);
	free(ext);
	pending_free(p);
	lock(c);
}

static void deliver_notes(fl_coord *c)
{
	note *n = c->notes_head;
	c->notes_head = NULL;
	c->notes_tail = &c->notes_head;
	unlock(c);
	while (n) {
		note *next = n->next;
		n->done(n->ud, false, n->msg);
		free(n->msg);
		free(n);
		n = next;
	}
	lock(c);
}

/* Shutting down: abandon the checkpoint in progress (its folder stays for
 * retention), fail every savepoint request (also those a callback makes
 * meanwhile). Lock held on entry, released on return. */
static void shut_down(fl_coord *c)
{
	pending *p = c->cur;
	c->cur = NULL;
	if (p && p->sp) {
		note_fail(c, p->sp->done, p->sp->ud, SHUTDOWN_MSG);
		p->sp->done = NULL;
	}
	for (;;) {
		while (c->sp_head) {
			sp_req *r = c->sp_head;
			c->sp_head = r->next;
			note_fail(c, r->done, r->ud, SHUTDOWN_MSG);
			sp_free(r);
		}
		c->sp_tail = &c->sp_head;
		if (!c->notes_head) break;
		deliver_notes(c);
	}
	unlock(c);
	pending_free(p);
}

/* Run what c has to do now: at most STEP_ACTIONS actions, then it waits
 * for its next due time (or is marked ready again). On a service thread,
 * without the service's lock. */
static void coord_step(fl_coord *c)
{
	lock(c);
	int64_t wait_until = 0;
	bool again = false, done = false;
	for (int n = 0;; n++) {
		if (n == STEP_ACTIONS) { /* others get their turn */
			again = true;
			break;
		}
		if (c->notes_head) {
			deliver_notes(c);
			continue;
		}
		if (c->quit) {
			done = true;
			break;
		}
		pending *p = c->cur;
		if (p && p->state == P_FAILING) {
			handle_failure(c);
			continue;
		}
		if (p && p->state == P_COMPLETING) {
			handle_complete(c);
			continue;
		}
		int64_t now = mono_ns();
		wait_until = 0;
		if (p) {
			int64_t deadline = add_ms(p->trigger_ns, c->timeout_ms);
			if (now >= deadline) {
				char why[128];
				snprintf(why, sizeof(why),
					 "Checkpoint %" PRId64 " expired before completing.", p->id);
				fail_cur(c, why, true);
				continue;
			}
			wait_until = deadline;
		} else {
			trig_kind k = due(c, now, &wait_until);
			if (k != T_NONE) {
				do_trigger(c, k, now);
				continue;
			}
		}
		break;
	}
	if (done) {
		bool free_self = c->free_on_exit;
		shut_down(c); /* returns with the lock released */
		svc_unregister(c);
		if (free_self) {
			pthread_cond_destroy(&c->done_cv);
			pthread_mutex_destroy(&c->mu);
			coord_free(c);
		} else {
			lock(c);
			c->finished = true;
			pthread_cond_broadcast(&c->done_cv); /* fl_coord_destroy frees it */
			unlock(c);
		}
		return;
	}
	unlock(c);
	pthread_mutex_lock(&svc.mu);
	c->svc_busy = false;
	c->svc_due_ns = wait_until;
	if (again && !c->svc_ready) {
		c->svc_ready = true;
		c->svc_ready_ns = mono_ns();
	}
	pthread_mutex_unlock(&svc.mu);
}

/* A service thread: step the coordinator that waited longest, or sleep
 * until the next one is due; leave after SVC_IDLE_MS without any work. */
static void *svc_main(void *arg)
{
	(void)arg;
	svc_self = true;
	pthread_mutex_lock(&svc.mu);
	int64_t idle_since = mono_ns();
	for (;;) {
		int64_t now = mono_ns(), next = 0, best_when = 0;
		fl_coord *pick = NULL;
		for (fl_coord *c = svc.head; c; c = c->svc_next) {
			if (c->svc_busy) continue;
			int64_t when = c->svc_ready
				? c->svc_ready_ns
				: (c->svc_due_ns && c->svc_due_ns <= now ? c->svc_due_ns : 0);
			if (when && (!pick || when < best_when)) {
				pick = c;
				best_when = when;
			}
			if (!c->svc_ready && c->svc_due_ns > now && (!next || c->svc_due_ns < next))
				next = c->svc_due_ns;
		}
		if (pick) {
			pick->svc_busy = true;
			pick->svc_ready = false;
			pick->svc_due_ns = 0;
			pthread_mutex_unlock(&svc.mu);
			coord_step(pick);
			pthread_mutex_lock(&svc.mu);
			idle_since = mono_ns();
			continue;
		}
		int64_t idle_end = add_ms(idle_since, SVC_IDLE_MS);
		if (!next && now >= idle_end) break;
		int64_t until = next && next < idle_end ? next : idle_end;
		struct timespec ts = { .tv_sec = (time_t)(until / 1000000000),
				       .tv_nsec = (long)(until % 1000000000) };
		svc.nidle++;
		int e = pthread_cond_timedwait(&svc.cv, &svc.mu, &ts);
		svc.nidle--;
		if (e && e != ETIMEDOUT)
			fl_log(FL_LOG_ERROR, LOGC, "checkpoint service wait failed: %s", strerror(e));
	}
	svc.nthreads--;
	pthread_mutex_unlock(&svc.mu);
	return NULL;
}
