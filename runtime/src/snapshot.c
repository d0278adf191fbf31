/* snapshot.c - a subtask's snapshot at a checkpoint, its restore, and the
 * upload thread that acknowledges snapshots off the task thread. */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../checkpoint/incremental.h"
#include "inflight.h"
#include "fl_store.h"
#include "task.h"

#define CP_LOG "checkpoint"
#define OPSTATE_MAX (256u << 20) /* one operator's state blob */

/* ---- settings ------------------------------------------------------------ */

int fl_cp_conf_read(const fl_conf *conf, fl_cp_conf *o, char *err, size_t errcap)
{
	memset(o, 0, sizeof *o);
	o->dir = fl_conf_get(conf, "state.checkpoints.dir");
	if (o->dir && !o->dir[0]) o->dir = NULL;
	o->savepoints_dir = fl_conf_get(conf, "state.savepoints.dir");
	if (o->savepoints_dir && !o->savepoints_dir[0]) o->savepoints_dir = NULL;
	/* s3://BUCKET/PATH: the code below works on its local twin (fl_store.h) */
	const char *const keys2[] = { "state.checkpoints.dir", "state.savepoints.dir" };
	const char **dirs[] = { &o->dir, &o->savepoints_dir };
	for (int i = 0; i < 2; i++) {
		if (!*dirs[i]) continue;
		char e2[512];
		const char *l = fl_remote_localize(*dirs[i], e2, sizeof e2);
		if (!l) {
			snprintf(err, errcap, "%s: %s", keys2[i], e2);
			return FLINC_ECONFIG;
		}
		*dirs[i] = l;
	}
	bool ok = true;
	const char *key = "execution.checkpointing.interval";
	o->interval_ms = fl_conf_duration_ms(conf, key, 0, &ok);
	if (ok && o->interval_ms >= 0) {
		key = "execution.checkpointing.timeout";
		o->timeout_ms = fl_conf_duration_ms(conf, key, 600000, &ok);
		ok = ok && o->timeout_ms > 0;
	}
	if (ok) {
		key = "execution.checkpointing.min-pause";
		o->min_pause_ms = fl_conf_duration_ms(conf, key, 0, &ok);
		ok = ok && o->min_pause_ms >= 0;
	}
	if (ok) {
		key = "execution.checkpointing.tolerable-failed-checkpoints";
		/* Flink's default: 0, the first failed checkpoint fails the job
		 * over (then the restart strategy decides). */
		int64_t v = fl_conf_i64(conf, key, 0, &ok);
		ok = ok && v >= -1 && v <= INT32_MAX;
		o->tolerable = (int)v;
	}
	if (ok) {
		key = "execution.checkpointing.backoff.initial";
		o->backoff_initial_ms = fl_conf_duration_ms(conf, key, 1000, &ok);
		ok = ok && o->backoff_initial_ms >= 10 && o->backoff_initial_ms <= 86400000;
	}
	if (ok) {
		key = "execution.checkpointing.backoff.max";
		o->backoff_max_ms = fl_conf_duration_ms(conf, key, 60000, &ok);
		ok = ok && o->backoff_max_ms >= 10 && o->backoff_max_ms <= 86400000;
	}
	if (ok) {
		key = "state.checkpoints.num-retained";
		int64_t v = fl_conf_i64(conf, key, 1, &ok);
		ok = ok && v >= 1 && v <= 1000;
		o->retain = (int)v;
	}
	if (!ok) {
		snprintf(err, errcap, "%s: '%s' is not valid", key, fl_conf_get(conf, key));
		return FLINC_ECONFIG;
	}
	if (o->backoff_max_ms < o->backoff_initial_ms) {
		snprintf(err, errcap,
			 "execution.checkpointing.backoff.max (%lld ms) is shorter than "
			 "execution.checkpointing.backoff.initial (%lld ms)",
			 (long long)o->backoff_max_ms, (long long)o->backoff_initial_ms);
		return FLINC_ECONFIG;
	}
	if (o->interval_ms > 0 && !o->dir) {
		snprintf(err, errcap,
			 "execution.checkpointing.interval is set but state.checkpoints.dir is not");
		return FLINC_ECONFIG;
	}
	return FLINC_OK;
}

/* ---- restore source -------------------------------------------------- */

struct fl_restore {
	char *dir;
	fl_chk_meta meta;
};

int fl_restore_open(const char *dir, fl_chk_check level, fl_restore **out, char *err, size_t errcap)
{
	*out = NULL;
	/* On S3: downloaded into the local twin first (its files, and the
	 * shared files its _metadata lists), then read as a local folder. */
	char e2[768];
	const char *local = fl_remote_localize(dir, e2, sizeof e2);
	if (!local) return fl_errf(err, errcap, FLINC_EINVAL, "%s", e2);
	dir = local;
	/* a full check reads every file; a lighter one (a task manager's)
	 * leaves the native snapshots to the subtasks that restore them */
	int rc = level == FL_CHK_CHECK_META ? fl_chk_remote_fetch_top(dir, err, errcap)
					    : fl_chk_remote_fetch(dir, err, errcap);
	if (rc) return rc;
	rc = fl_chk_validate(dir, level, err, errcap);
	if (rc) return rc;
	fl_restore *r = fl_calloc(1, sizeof *r);
	rc = fl_chk_meta_read(dir, &r->meta, err, errcap);
	if (rc) {
		free(r);
		return rc;
	}
	r->dir = fl_strdup(dir);
	*out = r;
	return FLINC_OK;
}

void fl_restore_close(fl_restore *r)
{
	if (!r) return;
	fl_chk_meta_free(&r->meta);
	free(r->dir);
	free(r);
}

int64_t fl_restore_id(const fl_restore *r) { return r->meta.checkpoint_id; }
const char *fl_restore_dir(const fl_restore *r) { return r->dir; }
const fl_chk_meta *fl_restore_meta(const fl_restore *r) { return &r->meta; }

int fl_restore_check(const fl_restore *r, const fl_job_desc *d, bool allow_non_restored, char *err,
		     size_t errcap)
{
	const char *what = r->meta.is_savepoint ? "savepoint" : "checkpoint";
	if (r->meta.max_parallelism != d->max_parallelism) {
		snprintf(
			err, errcap,
			"%s %s was taken with pipeline.max-parallelism %d, the job has %d: key groups cannot be mapped",
			what, r->dir, r->meta.max_parallelism, d->max_parallelism);
		return FLINC_EINVAL;
	}
	if (r->meta.key_hash != d->key_hash) {
		snprintf(err, errcap,
			 "%s %s was taken with key hash %s, the job has pipeline.key-hash=%s: key groups "
			 "cannot be mapped (leave pipeline.key-hash unset to keep the %s's)",
			 what, r->dir, fl_key_hash_name(r->meta.key_hash), fl_key_hash_name(d->key_hash),
			 what);
		return FLINC_EINVAL;
	}
	for (size_t i = 0; i < r->meta.n_operators; i++) {
		const char *uid = r->meta.operators[i];
		bool found = false;
		for (size_t k = 0; k < d->n_uids && !found; k++) found = strcmp(d->uids[k], uid) == 0;
		if (found) continue;
		if (!allow_non_restored) {
			snprintf(err, errcap,
				 "%s %s has state for operator '%s' which the job does not have "
				 "(--allow-non-restored-state skips it)",
				 what, r->dir, uid);
			return FLINC_EINVAL;
		}
		fl_log(FL_LOG_WARN, CP_LOG,
		       "%s %s: state of operator '%s' is not restored (no such operator)", what, r->dir, uid);
	}
	return FLINC_OK;
}

void fl_restore_adopt_key_hash(fl_conf *conf, const char *dir)
{
	if (!dir || !*dir || fl_conf_get(conf, "pipeline.key-hash")) return;
	char err[1024];
	fl_restore *r = NULL;
	if (fl_restore_open(dir, FL_CHK_CHECK_META, &r, err, sizeof err) != FLINC_OK) return;
	fl_conf_set(conf, "pipeline.key-hash", fl_key_hash_name(r->meta.key_hash));
	fl_restore_close(r);
}

/* ---- the upload thread ------------------------------------------------ */

typedef struct upload {
	struct upload *next;
	char *path; /* absolute path of the written file */
	/* a native snapshot: the local folder to upload (then removed), the
	 * registry of the subtask's instance, its owner name */
	char *native_local;
	fl_incr_registry *reg;
	struct capture *cap; /* an asynchronous snapshot to write (then path is written here) */
	/* an unaligned checkpoint's in-flight data (inflight.h), written
	 * beside the snapshot file as <path minus .snap>.inflight */
	uint8_t *inflight;
	size_t inflight_len;
	char owner[48];
	fl_cp_ack_info a;
	int64_t queued_ns;
} upload;

/* What one subtask's RocksDB instance has put into shared/. */
typedef struct regent {
	uint64_t vertex_id;
	int subtask;
	fl_incr_registry *reg;
} regent;

struct fl_cpctx {
	char *job_id, *jobdir;
	int attempt;
	fl_restore *restore;
	fl_cp_ack_fn ack;
	void *ud;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	upload *head, *tail;
	bool stop;
	regent *regs; /* under mu; each registry is used by one thread at a time */
	size_t nregs;
};

static void ack_clear(fl_cp_ack_info *a)
{
	free(a->file.path);
	free(a->file.native);
	for (size_t i = 0; i < a->n_shared; i++) free(a->shared[i]);
	free(a->shared);
	a->file.path = a->file.native = NULL;
	a->shared = NULL;
	a->n_shared = 0;
}

fl_cp_ack_info *fl_cp_ack_dup(const fl_cp_ack_info *a)
{
	fl_cp_ack_info *d = fl_malloc(sizeof *d);
	*d = *a;
	d->file.path = a->file.path ? fl_strdup(a->file.path) : NULL;
	d->file.native = a->file.native ? fl_strdup(a->file.native) : NULL;
	d->shared = a->n_shared ? fl_calloc(a->n_shared, sizeof(char *)) : NULL;
	for (size_t i = 0; i < a->n_shared; i++) d->shared[i] = fl_strdup(a->shared[i]);
	return d;
}

void fl_cp_ack_free(fl_cp_ack_info *a)
{
	if (!a) return;
	ack_clear(a);
	free(a);
}

struct capture;
static void capture_free(struct capture *cp);
static int write_async(upload *u);

static void upload_free(upload *u)
{
	capture_free(u->cap);
	if (u->native_local) fl_rm_rf(u->native_local, NULL, 0);
	free(u->native_local);
	free(u->inflight);
	free(u->path);
	ack_clear(&u->a);
	free(u);
}

/* chk-<id>/<vertex hex16>-<subtask>.inflight beside the snapshot file. */
static void inflight_path(char *buf, size_t cap, const char *snap_path)
{
	size_t n = strlen(snap_path), sl = strlen(FL_SNAP_SUFFIX);
	if (n >= sl && !strcmp(snap_path + n - sl, FL_SNAP_SUFFIX)) n -= sl;
	snprintf(buf, cap, "%.*s" FL_INFLIGHT_SUFFIX, (int)n, snap_path);
}

/* Upload thread: write (and sync) the in-flight data of an unaligned
 * checkpoint; on S3 also push it. */
static int write_inflight(upload *u)
{
	char path[PATH_MAX + 16];
	inflight_path(path, sizeof path, u->path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) return fl_errf(u->a.err, sizeof u->a.err, FLINC_EIO, "%s: %s", path, strerror(errno));
	int rc = fl_write_all(fd, u->inflight, u->inflight_len);
	if (!rc && fsync(fd) < 0) rc = FLINC_EIO;
	close(fd);
	if (rc) return fl_errf(u->a.err, sizeof u->a.err, FLINC_EIO, "%s: cannot write", path);
	if (fl_remote_is(path)) {
		rc = fl_remote_push(path, u->a.err, sizeof u->a.err);
		if (!rc) unlink(path);
	}
	u->a.checkpointed_size += u->inflight_len;
	return rc;
}

/* The registry of subtask (vertex_id, subtask), created on first use. */
static fl_incr_registry *registry(fl_cpctx *c, uint64_t vertex_id, int subtask)
{
	fl_incr_registry *r = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nregs && !r; i++)
		if (c->regs[i].vertex_id == vertex_id && c->regs[i].subtask == subtask) r = c->regs[i].reg;
	if (!r) {
		r = fl_incr_registry_create();
		if (!r) {
			pthread_mutex_unlock(&c->mu);
			return NULL;
		}
		c->regs = fl_realloc(c->regs, (c->nregs + 1) * sizeof *c->regs);
		c->regs[c->nregs++] = (regent){ vertex_id, subtask, r };
	}
	pthread_mutex_unlock(&c->mu);
	return r;
}

/* Upload thread: put a native snapshot into checkpoint storage. */
static int upload_native(fl_cpctx *c, upload *u)
{
	fl_cp_ack_info *a = &u->a;
	char chkdir[PATH_MAX];
	fl_chk_dir(chkdir, sizeof chkdir, c->jobdir, a->id);
	fl_incr_result res = { 0 };
	int rc = fl_incr_upload(u->reg, u->native_local, c->jobdir, chkdir, a->file.native, u->owner, &res,
				a->err, sizeof a->err);
	if (rc) return rc;
	a->shared = res.shared;
	a->n_shared = res.n_shared;
	res.shared = NULL;
	res.n_shared = 0;
	a->state_size = res.bytes_new + res.bytes_reused + res.bytes_private;
	a->checkpointed_size = a->file.size + res.bytes_new + res.bytes_private;
	fl_log(FL_LOG_DEBUG, CP_LOG,
	       "checkpoint %lld: %s uploaded %zu new SST files (%llu bytes), reused %zu (%llu bytes), %zu private "
	       "files (%llu bytes)",
	       (long long)a->id, u->owner, res.files_new, (unsigned long long)res.bytes_new, res.files_reused,
	       (unsigned long long)res.bytes_reused, res.files_private,
	       (unsigned long long)res.bytes_private);
	fl_incr_result_free(&res);
	return FLINC_OK;
}

/* Upload thread, checkpoints on S3: push what this snapshot wrote into
 * the local twin (its file; a native snapshot's private folder and the
 * shared files the store lacks: new ones, or ones removed since), then
 * drop the local copies the task manager no longer needs (the job
 * manager and restores read them from the store). Before the
 * acknowledgement, so _metadata never names a missing object. */
static int push_remote(fl_cpctx *c, upload *u)
{
	fl_cp_ack_info *a = &u->a;
	int rc = access(u->path, F_OK) == 0 ? fl_remote_push(u->path, a->err, sizeof a->err) : 0;
	char chkdir[PATH_MAX], p[PATH_MAX * 2];
	fl_chk_dir(chkdir, sizeof chkdir, c->jobdir, a->id);
	if (!rc && a->file.native) {
		snprintf(p, sizeof p, "%s/%s", chkdir, a->file.native);
		rc = fl_remote_push(p, a->err, sizeof a->err);
		if (!rc) fl_rm_rf(p, NULL, 0);
	}
	for (size_t i = 0; i < a->n_shared && !rc; i++) {
		snprintf(p, sizeof p, "%s/%s", c->jobdir, a->shared[i]);
		uint64_t size;
		rc = fl_remote_exists(p, &size, a->err, sizeof a->err);
		if (rc == FLINC_ENOENT) rc = fl_remote_push(p, a->err, sizeof a->err);
	}
	if (!rc) {
		unlink(u->path);
		/* The emptied chk-<k>/ of earlier checkpoints: their uploads came
		 * before this one in this thread's queue. (Not this one's: another
		 * subtask may still write into it.) */
		DIR *d = opendir(c->jobdir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			char *end;
			long long k = strncmp(de->d_name, "chk-", 4) ? -1 : strtoll(de->d_name + 4, &end, 10);
			if (k >= 0 && !*end && k < a->id) unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
		}
		if (d) closedir(d);
	}
	if (!rc && a->file.native) {
		/* SST files of this subtask that its checkpoints no longer use
		 * (compacted away: RocksDB never brings a name back) */
		snprintf(p, sizeof p, "%s/shared/%s", c->jobdir, u->owner);
		DIR *d = opendir(p);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.') continue;
			char rel[PATH_MAX];
			snprintf(rel, sizeof rel, "shared/%s/%s", u->owner, de->d_name);
			bool used = false;
			for (size_t i = 0; i < a->n_shared && !used; i++) used = !strcmp(a->shared[i], rel);
			if (!used) unlinkat(dirfd(d), de->d_name, 0);
		}
		if (d) closedir(d);
	}
	return rc;
}

static void *upload_main(void *arg)
{
	fl_cpctx *c = arg;
	pthread_setname_np(pthread_self(), "fl-upload");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->head && !c->stop) pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop) break;
		upload *u = c->head;
		c->head = u->next;
		if (!c->head) c->tail = NULL;
		pthread_mutex_unlock(&c->mu);
		if (!u->a.rc) {
			int rc = u->cap ? write_async(u)
					: fl_chk_sync_file(u->path, u->a.err, sizeof u->a.err);
			if (!rc && u->inflight) rc = write_inflight(u);
			if (!rc && u->native_local) rc = upload_native(c, u);
			if (!rc && fl_remote_is(u->path)) rc = push_remote(c, u);
			if (rc) {
				u->a.rc = rc;
				fl_log(FL_LOG_WARN, CP_LOG,
				       "checkpoint %lld: the snapshot of %s cannot be stored: %s",
				       (long long)u->a.id, u->path, u->a.err);
				ack_clear(&u->a);
			}
		}
		u->a.async_ms = (fl_mono_ns() - u->queued_ns) / 1000000;
		c->ack(c->ud, &u->a);
		upload_free(u);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int fl_cpctx_create(const fl_cp_setup *s, fl_cpctx **out, char *err, size_t errcap)
{
	fl_cpctx *c = fl_calloc(1, sizeof *c);
	c->job_id = fl_strdup(s->job_id);
	c->jobdir = fl_strdup(s->jobdir);
	c->attempt = s->attempt;
	c->restore = s->restore;
	c->ack = s->ack;
	c->ud = s->ud;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->thread, NULL, upload_main, c) != 0) {
		snprintf(err, errcap, "cannot start the checkpoint upload thread");
		pthread_mutex_destroy(&c->mu);
		pthread_cond_destroy(&c->cv);
		free(c->job_id);
		free(c->jobdir);
		free(c);
		return FLINC_ENOMEM;
	}
	*out = c;
	return FLINC_OK;
}

void fl_cpctx_destroy(fl_cpctx *c)
{
	if (!c) return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	while (c->head) {
		upload *u = c->head;
		c->head = u->next;
		upload_free(u);
	}
	for (size_t i = 0; i < c->nregs; i++) fl_incr_registry_destroy(c->regs[i].reg);
	free(c->regs);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->job_id);
	free(c->jobdir);
	free(c);
}

int64_t fl_cpctx_restored_id(const fl_cpctx *c) { return c && c->restore ? fl_restore_id(c->restore) : 0; }

static void enqueue(fl_cpctx *c, upload *u)
{
	u->queued_ns = fl_mono_ns();
	pthread_mutex_lock(&c->mu);
	if (c->tail)
		c->tail->next = u;
	else
		c->head = u;
	c->tail = u;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- writing ------------------------------------------------------------ */

/* An entry seen by scan, kept by reference (stable-scan backends). */
typedef struct kref {
	const uint8_t *key, *ns, *uk;
	const void *val;
	size_t vlen;
	uint32_t klen, nslen, uklen;
	uint16_t kg;
	uint16_t si; /* index in t->states */
} kref;

typedef struct kcollect {
	kref *v;
	size_t n, cap;
	uint16_t si;
	uint64_t bytes;
} kcollect;

static int collect_cb(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		      uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	kcollect *k = ud;
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 1024;
		k->v = fl_realloc(k->v, k->cap * sizeof(kref));
	}
	k->v[k->n++] = (kref){ key, ns, uk, val, vlen, klen, nslen, uklen, kg, k->si };
	k->bytes += klen + nslen + uklen + vlen;
	return 0;
}

typedef struct count_ctx {
	fl_snap_scan_ctx sc;
	uint64_t bytes;
} count_ctx;

static int write_cb(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		    uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	count_ctx *c = ud;
	c->bytes += klen + nslen + uklen + vlen;
	return fl_snap_scan_fn(&c->sc, kg, key, klen, ns, nslen, uk, uklen, val, vlen);
}

/* Where the keyed entries come from: the backend itself (on the task
 * thread) or an asynchronous snapshot of it (snap != NULL, any thread). */
typedef struct keyed_src {
	int (*scan)(void *h, uint32_t sid, int kgf, int kgl, fl_scan_fn fn, void *ud);
	void *h;
	bool stable; /* pointers passed to fn stay valid while we write */
	const fl_task_state_decl *states;
	uint32_t nstates;
} keyed_src;

/* Every keyed entry of the states, ascending by key group. */
static int write_keyed(const keyed_src *src, fl_snap_writer *w, int kgf, int kgl, uint64_t *bytes)
{
	if (src->stable) {
		/* One scan per state, then a counting sort by key group: the
		 * pointers stay valid because nothing modifies what is read. */
		kcollect k = { 0 };
		int rc = 0;
		for (uint32_t i = 0; i < src->nstates && !rc; i++) {
			k.si = (uint16_t)i;
			rc = src->scan(src->h, src->states[i].sid, kgf, kgl, collect_cb, &k);
		}
		size_t nkg = (size_t)(kgl - kgf + 1);
		size_t *start = fl_calloc(nkg + 1, sizeof(size_t));
		for (size_t j = 0; j < k.n; j++) start[k.v[j].kg - kgf + 1]++;
		for (size_t g = 1; g <= nkg; g++) start[g] += start[g - 1];
		kref **order = fl_malloc((k.n ? k.n : 1) * sizeof(kref *));
		for (size_t j = 0; j < k.n; j++) order[start[k.v[j].kg - kgf]++] = &k.v[j];
		for (size_t j = 0; j < k.n && !rc; j++) {
			const kref *e = order[j];
			const fl_task_state_decl *sd = &src->states[e->si];
			rc = fl_snap_add_keyed(w, sd->name, sd->kind, e->kg, e->key, e->klen, e->ns, e->nslen,
					       e->uk, e->uklen, e->val, e->vlen);
		}
		free(order);
		free(start);
		free(k.v);
		*bytes = k.bytes;
		return rc;
	}
	count_ctx c = { .sc.w = w };
	int rc = 0;
	for (int kg = kgf; kg <= kgl && !rc; kg++) {
		for (uint32_t i = 0; i < src->nstates && !rc; i++) {
			c.sc.state = src->states[i].name;
			c.sc.kind = src->states[i].kind;
			rc = src->scan(src->h, src->states[i].sid, kg, kg, write_cb, &c);
		}
	}
	*bytes = c.bytes;
	return rc;
}

/* ---- what a snapshot captures on the task thread ------------------------- */

/* The timers and operator states of a task, copied at the checkpoint (they
 * are small next to keyed state), and, for an asynchronous snapshot, the
 * backend snapshot and the list of states to read from it. */
typedef struct ctimer {
	uint32_t op; /* index in cap->uids */
	int domain;
	int64_t ts;
	uint16_t kg;
	uint32_t klen, nslen;
	size_t off; /* key then namespace in cap->bytes */
} ctimer;

typedef struct copstate {
	uint32_t op;
	uint8_t *data;
	size_t len;
} copstate;

typedef struct capture {
	fl_snap_header h;
	char **uids; /* operator uids of the chain */
	uint32_t nops;
	ctimer *tm;
	size_t ntm, captm;
	uint8_t *bytes;
	size_t nbytes, capbytes;
	copstate *os;
	size_t nos;
	/* asynchronous keyed state: the backend's snapshot and the states */
	const fl_backend_ops *be_ops;
	void *snap;
	fl_task_state_decl *states;
	uint32_t nstates;
} capture;

static void capture_free(capture *cp)
{
	if (!cp) return;
	if (cp->snap) cp->be_ops->snap_release(cp->snap);
	for (uint32_t j = 0; j < cp->nops; j++) free(cp->uids[j]);
	free(cp->uids);
	free(cp->tm);
	free(cp->bytes);
	for (size_t i = 0; i < cp->nos; i++) free(cp->os[i].data);
	free(cp->os);
	for (uint32_t i = 0; i < cp->nstates; i++) free(cp->states[i].name);
	free(cp->states);
	free(cp);
}

typedef struct tcap_ctx {
	capture *cp;
	uint32_t op;
	int domain;
} tcap_ctx;

static int timer_capture_cb(void *ud, const fl_timer *tm)
{
	tcap_ctx *x = ud;
	capture *cp = x->cp;
	if (cp->ntm == cp->captm) {
		cp->captm = cp->captm ? cp->captm * 2 : 256;
		cp->tm = fl_realloc(cp->tm, cp->captm * sizeof *cp->tm);
	}
	size_t need = (size_t)tm->klen + tm->nslen;
	if (cp->nbytes + need > cp->capbytes) {
		while (cp->nbytes + need > cp->capbytes)
			cp->capbytes = cp->capbytes ? cp->capbytes * 2 : 4096;
		cp->bytes = fl_realloc(cp->bytes, cp->capbytes);
	}
	cp->tm[cp->ntm++] = (ctimer){ x->op, x->domain, tm->ts, tm->kg, tm->klen, tm->nslen, cp->nbytes };
	if (tm->klen) memcpy(cp->bytes + cp->nbytes, tm->key, tm->klen);
	if (tm->nslen) memcpy(cp->bytes + cp->nbytes + tm->klen, tm->ns, tm->nslen);
	cp->nbytes += need;
	return 0;
}

/* An operator's state blob (a source's position), into a buffer of its own. */
static int capture_opstate(fl_op *op, copstate *out)
{
	size_t cap = 4096;
	for (;;) {
		uint8_t *buf = fl_malloc(cap);
		flinc_writer fw;
		flinc_writer_init(&fw, buf, cap);
		int rc = op->ops->snapshot_state(op, &fw);
		if ((rc == FLINC_ENOMEM || fw.err) && cap < OPSTATE_MAX) {
			free(buf);
			cap *= 4;
			continue;
		}
		if (!rc && fw.err) rc = FLINC_ENOMEM;
		if (rc) {
			free(buf);
			return rc;
		}
		out->data = buf;
		out->len = (size_t)(fw.p - buf);
		return FLINC_OK;
	}
}

/* Task thread: copy the task's timers and operator states. */
static int capture_task(fl_task *t, capture *cp, char *err, size_t errcap)
{
	cp->nops = t->nops;
	cp->uids = fl_calloc(t->nops ? t->nops : 1, sizeof(char *));
	for (uint32_t j = 0; j < t->nops; j++) cp->uids[j] = fl_strdup(t->ops[j]->node->uid);
	for (uint32_t j = 0; j < t->nops; j++) {
		fl_op *op = t->ops[j];
		if (!op->keyed) continue;
		for (int d = 0; d < 2; d++) {
			if (!op->keyed->timers[d]) continue;
			tcap_ctx x = { cp, j, d };
			fl_timers_scan(op->keyed->timers[d], timer_capture_cb, &x);
		}
	}
	cp->os = fl_calloc(t->nops ? t->nops : 1, sizeof(copstate));
	for (uint32_t j = 0; j < t->nops; j++) {
		if (!t->ops[j]->ops->snapshot_state) continue;
		int rc = capture_opstate(t->ops[j], &cp->os[cp->nos]);
		if (rc) {
			snprintf(err, errcap, "operator '%s' could not snapshot its state: %s", cp->uids[j],
				 flinc_strerror(rc));
			return rc;
		}
		cp->os[cp->nos++].op = j;
	}
	return FLINC_OK;
}

/* Write the snapshot file `path`: keyed entries from src (NULL: none),
 * then the captured timers and operator states. Any thread. */
static int write_snap(const char *path, const capture *cp, const keyed_src *src, bool sync, fl_cp_ack_info *a)
{
	fl_snap_writer *w = NULL;
	int rc = fl_snap_writer_open(&w, path, &cp->h, a->err, sizeof a->err);
	if (rc) return rc;
	if (!sync) fl_snap_writer_defer_sync(w);
	if (src) rc = write_keyed(src, w, cp->h.kg_first, cp->h.kg_last, &a->state_size);
	for (size_t i = 0; i < cp->ntm && !rc; i++) {
		const ctimer *tm = &cp->tm[i];
		const uint8_t *key = cp->bytes + tm->off;
		rc = fl_snap_add_timer(w, cp->uids[tm->op], tm->domain, tm->ts, tm->kg, key, tm->klen,
				       key + tm->klen, tm->nslen);
	}
	for (size_t i = 0; i < cp->nos && !rc; i++)
		rc = fl_snap_add_opstate(w, cp->uids[cp->os[i].op], cp->os[i].data, cp->os[i].len);
	if (rc) {
		snprintf(a->err, sizeof a->err, "%s",
			 fl_snap_writer_errmsg(w)[0] ? fl_snap_writer_errmsg(w) : flinc_strerror(rc));
		fl_snap_writer_abort(w);
		return rc;
	}
	fl_snap_info info;
	rc = fl_snap_writer_close(w, &info, a->err, sizeof a->err);
	if (rc) return rc;
	char name[64];
	fl_snap_file_name(name, sizeof name, cp->h.vertex_id, cp->h.subtask);
	a->file.path = fl_strdup(name);
	a->file.vertex_id = cp->h.vertex_id;
	a->file.subtask = cp->h.subtask;
	a->file.parallelism = cp->h.parallelism;
	a->file.kg_first = cp->h.kg_first;
	a->file.kg_last = cp->h.kg_last;
	a->file.size = info.size;
	a->file.crc = info.crc;
	return FLINC_OK;
}

/* Upload thread: write an asynchronous snapshot's file (synced), then let
 * the backend reclaim what the snapshot kept. */
static int write_async(upload *u)
{
	capture *cp = u->cap;
	keyed_src src = { .scan = cp->be_ops->snap_scan,
			  .h = cp->snap,
			  .stable = true,
			  .states = cp->states,
			  .nstates = cp->nstates };
	int rc = write_snap(u->path, cp, &src, true, &u->a);
	capture_free(cp);
	u->cap = NULL;
	return rc;
}

/* The native part of a checkpoint: the backend's checkpoint of every state
 * into the task's local folder (the synchronous part: a flush and hard
 * links), uploaded later by upload_native. */
static int take_native(fl_cpctx *c, fl_task *t, int64_t id, upload *u)
{
	fl_cp_ack_info *a = &u->a;
	snprintf(u->owner, sizeof u->owner, "%016llx-%d", (unsigned long long)t->vertex->id, t->subtask);
	u->reg = registry(c, t->vertex->id, t->subtask);
	if (!u->reg) {
		snprintf(a->err, sizeof a->err, "out of memory");
		return FLINC_ENOMEM;
	}
	u->native_local = fl_asprintf("%s/native-%lld", t->workdir, (long long)id);
	fl_rm_rf(u->native_local, NULL, 0); /* a leftover of an earlier attempt at this id */
	int rc = t->be_ops->native_checkpoint(t->be, u->native_local, a->err, sizeof a->err);
	if (rc) return rc;
	a->file.native = fl_asprintf("%s.native", u->owner);
	return FLINC_OK;
}

void fl_snapshot_take(fl_cpctx *c, fl_task *t, int64_t id, bool savepoint)
{
	int64_t t0 = fl_mono_ns();
	const flinc_env *e = t->plan->env;
	upload *u = fl_calloc(1, sizeof *u);
	fl_cp_ack_info *a = &u->a;
	a->attempt = c->attempt;
	a->id = id;
	a->vertex = t->vertex->index;
	a->subtask = t->subtask;
	a->ended = t->input_ended;
	a->align_ms = t->input_ended || t->ops[0]->node->kind == FL_NODE_SOURCE
		? 0
		: atomic_load(&t->cp_last_align_ns) / 1000000;

	char name[64], dir[PATH_MAX], path[PATH_MAX + 64];
	fl_snap_file_name(name, sizeof name, t->vertex->id, t->subtask);
	fl_chk_dir(dir, sizeof dir, c->jobdir, id);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	u->path = fl_strdup(path);
	/* on S3 the job manager made chk-<id>/ in its own twin, not here */
	if (fl_remote_is(dir)) fl_mkdir_p(dir, NULL, 0);
	capture *cp = fl_calloc(1, sizeof *cp);
	cp->h = (fl_snap_header){ .checkpoint_id = id,
				  .vertex_id = t->vertex->id,
				  .subtask = t->subtask,
				  .parallelism = t->parallelism,
				  .max_parallelism = e->max_parallelism };
	snprintf(cp->h.job_id, sizeof cp->h.job_id, "%s", c->job_id);
	fl_key_group_range(t->subtask, t->parallelism, e->max_parallelism, &cp->h.kg_first, &cp->h.kg_last);

	/* Keyed state: native (RocksDB checkpoints), an asynchronous snapshot
	 * written by the upload thread (copy-on-write backends), or written
	 * here, on the task thread. Savepoints are canonical. */
	bool native = t->be && t->native && !savepoint;
	int rc = native ? take_native(c, t, id, u) : FLINC_OK;
	if (!rc) rc = capture_task(t, cp, a->err, sizeof a->err);
	bool async = false;
	if (!rc && t->be && !native && t->be_ops->version >= 5 && t->be_ops->snap_open) {
		char e2[256] = "";
		int src = t->be_ops->snap_open(t->be, &cp->snap, e2, sizeof e2);
		if (src == FLINC_OK) {
			async = true;
			cp->be_ops = t->be_ops;
			cp->nstates = t->nstates;
			cp->states = fl_calloc(t->nstates ? t->nstates : 1, sizeof *cp->states);
			for (uint32_t i = 0; i < t->nstates; i++) {
				cp->states[i] = t->states[i];
				cp->states[i].name = fl_strdup(t->states[i].name);
			}
		} else {
			/* the previous snapshot is still being written: this one
			 * is written here, synchronously */
			fl_log(FL_LOG_DEBUG, CP_LOG,
			       "%s (%d/%d) checkpoint %lld: no asynchronous snapshot (%s)", t->vertex->name,
			       t->subtask + 1, t->parallelism, (long long)id, e2);
		}
	}
	if (!rc && async) {
		u->cap = cp;
		cp = NULL;
	} else if (!rc) {
		keyed_src src = { .scan = t->be ? t->be_ops->scan : NULL,
				  .h = t->be,
				  .stable = t->be && t->be_ops->version >= 3 &&
					  (t->be_ops->flags & FL_BACKEND_STABLE_SCAN),
				  .states = t->states,
				  .nstates = t->nstates };
		rc = write_snap(path, cp, t->be && !native ? &src : NULL, false, a);
	}
	capture_free(cp);
	a->rc = rc;
	if (rc) ack_clear(a);
	a->sync_ms = (fl_mono_ns() - t0) / 1000000;
	if (rc)
		fl_log(FL_LOG_WARN, CP_LOG, "%s (%d/%d) declines checkpoint %lld: %s", t->vertex->name,
		       t->subtask + 1, t->parallelism, (long long)id, a->err);
	if (t->cp_defer && !rc) {
		/* unaligned: acknowledged once the in-flight data is known */
		t->cp_deferred = u;
		return;
	}
	enqueue(c, u);
}

void fl_snapshot_inflight(fl_cpctx *c, fl_task *t, int64_t id, uint8_t *data, size_t len)
{
	upload *u = t->cp_deferred;
	if (!u || u->a.id != id) {
		free(data);
		return;
	}
	t->cp_deferred = NULL;
	if (len) {
		u->inflight = data;
		u->inflight_len = len;
	} else {
		free(data);
	}
	enqueue(c, u);
}

void fl_snapshot_decline(fl_cpctx *c, fl_task *t, int64_t id, const char *why)
{
	upload *u = t->cp_deferred;
	if (!u || u->a.id != id) return;
	t->cp_deferred = NULL;
	fl_log(FL_LOG_WARN, CP_LOG, "%s (%d/%d) declines checkpoint %lld: %s", t->vertex->name,
	       t->subtask + 1, t->parallelism, (long long)id, why);
	u->a.rc = FLINC_ECANCELED;
	snprintf(u->a.err, sizeof u->a.err, "%s", why);
	ack_clear(&u->a);
	capture_free(u->cap);
	u->cap = NULL;
	enqueue(c, u);
}

void fl_snapshot_drop(fl_task *t)
{
	upload *u = t->cp_deferred;
	t->cp_deferred = NULL;
	if (u) upload_free(u);
}

int fl_snapshot_restore_inflight(fl_cpctx *c, fl_task *t, fl_inflight *out, char *err, size_t errcap)
{
	if (!c || !c->restore || fl_restore_meta(c->restore)->is_savepoint) return FLINC_ENOENT;
	char name[64], snap[PATH_MAX + 64], path[PATH_MAX + 80];
	fl_snap_file_name(name, sizeof name, t->vertex->id, t->subtask);
	snprintf(snap, sizeof snap, "%s/%s", fl_restore_dir(c->restore), name);
	inflight_path(path, sizeof path, snap);
	int rc = fl_inflight_load(path, t->subtask, t->parallelism, t->nin, out, err, errcap);
	if (rc != FLINC_ENOENT) return rc;
	/* None of its own: at another parallelism, an in-flight file of any
	 * subtask of this vertex would be lost; refuse. */
	const fl_chk_meta *m = fl_restore_meta(c->restore);
	for (size_t i = 0; i < m->n_files; i++) {
		const fl_chk_file *f = &m->files[i];
		if (f->vertex_id != t->vertex->id || f->parallelism == t->parallelism) continue;
		snprintf(snap, sizeof snap, "%s/%s", fl_restore_dir(c->restore), f->path);
		inflight_path(path, sizeof path, snap);
		if (access(path, F_OK) == 0)
			return fl_errf(
				err, errcap, FLINC_EINVAL,
				"checkpoint %lld is unaligned and holds in-flight records of '%s' taken at "
				"parallelism %d; it restores only at that parallelism (rescale from a "
				"savepoint, which is aligned)",
				(long long)m->checkpoint_id, t->vertex->name, f->parallelism);
	}
	return FLINC_ENOENT;
}

/* ---- restore -------------------------------------------------------------- */

/* The operator of t whose uid is `uid` (exactly, or as the prefix of a
 * state name "<uid>/<name>" when slash is true). */
static fl_op *op_by_uid(fl_task *t, const char *s, bool slash)
{
	for (uint32_t j = 0; j < t->nops; j++) {
		const char *uid = t->ops[j]->node->uid;
		size_t n = strlen(uid);
		if (strncmp(s, uid, n) == 0 && (slash ? s[n] == '/' : s[n] == '\0')) return t->ops[j];
	}
	return NULL;
}

typedef struct rctx {
	fl_task *t;
	const char *file;
	uint64_t entries, timers, opstates;
	char *err;
	size_t errcap;
} rctx;

#define RESTORE_SKIP 1 /* restore_state: not a state of this task's operators */

/* The task's id of restored state `state` ("<op uid>/<name>"), declared
 * now: FLINC_OK, RESTORE_SKIP for another vertex's (or a dropped
 * operator's) state, or an error with r->err written. */
static int restore_state(rctx *r, const char *state, fl_state_kind kind, uint32_t *sid)
{
	fl_op *op = op_by_uid(r->t, state, true);
	if (!op || !op->keyed) return RESTORE_SKIP;
	int rc = fl_task_declare_state(r->t, state, kind, sid);
	if (rc)
		snprintf(r->err, r->errcap, "%s: state '%s' cannot be declared: %s", r->file, state,
			 flinc_strerror(rc));
	return rc;
}

/* Put one restored entry into the task's backend. */
static int restore_entry(rctx *r, uint32_t sid, const char *state, fl_state_kind kind, uint16_t kg,
			 const uint8_t *key, uint32_t klen, const uint8_t *ns, uint32_t nslen,
			 const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	fl_task *t = r->t;
	fl_skey k = { kg, klen, nslen, key, ns, fl_key_hash(t->plan->env->key_hash, key, klen) };
	int rc = kind == FL_STATE_MAP ? t->be_ops->map_put(t->be, sid, &k, uk, uklen, val, vlen)
				      : t->be_ops->put(t->be, sid, &k, val, vlen);
	if (rc) {
		snprintf(r->err, r->errcap, "%s: cannot restore an entry of state '%s': %s", r->file, state,
			 flinc_strerror(rc));
		return rc;
	}
	r->entries++;
	return 0;
}

static int keyed_cb(void *ud, const fl_snap_entry *e)
{
	rctx *r = ud;
	uint32_t sid;
	int rc = restore_state(r, e->state, e->kind, &sid);
	if (rc) return rc == RESTORE_SKIP ? 0 : rc;
	return restore_entry(r, sid, e->state, e->kind, e->kg, e->key, e->klen, e->ns, e->nslen, e->uk,
			     e->uklen, e->val, e->vlen);
}

static int timer_restore_cb(void *ud, const fl_snap_entry *e)
{
	rctx *r = ud;
	fl_op *op = op_by_uid(r->t, e->op_uid, false);
	if (!op || !op->keyed || e->domain < 0 || e->domain > 1 || !op->keyed->timers[e->domain]) return 0;
	fl_timers_add(op->keyed->timers[e->domain], e->ts, e->kg, e->key, e->klen, e->ns, e->nslen);
	r->timers++;
	return 0;
}

static int opstate_cb(void *ud, const fl_snap_entry *e)
{
	rctx *r = ud;
	fl_op *op = op_by_uid(r->t, e->op_uid, false);
	if (!op || !op->ops->restore_state) return 0;
	flinc_reader fr;
	flinc_reader_init(&fr, e->val, e->vlen);
	int rc = op->ops->restore_state(op, &fr);
	if (rc || r->t->err) {
		snprintf(r->err, r->errcap, "%s: operator '%s' could not restore its state: %s", r->file,
			 e->op_uid, r->t->err ? r->t->errmsg : flinc_strerror(rc));
		return rc ? rc : r->t->err;
	}
	r->opstates++;
	return 0;
}

/* The job folder of a checkpoint folder: its parent (shared paths are
 * relative to it). */
static void parent_dir(char *buf, size_t cap, const char *dir)
{
	snprintf(buf, cap, "%s", dir);
	size_t n = strlen(buf);
	while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
	char *s = strrchr(buf, '/');
	if (!s)
		snprintf(buf, cap, ".");
	else if (s == buf)
		buf[1] = 0;
	else
		*s = 0;
}

/* Copy the entries of key groups [kgf, kgl] of every state of the chain from
 * instance (ops, be) into the task's backend. */
typedef struct copy_ctx {
	rctx *r;
	const char *state;
	fl_state_kind kind;
	uint32_t sid;
} copy_ctx;

static int copy_cb(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		   uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	copy_ctx *cc = ud;
	return restore_entry(cc->r, cc->sid, cc->state, cc->kind, kg, key, klen, ns, nslen, uk, uklen, val,
			     vlen);
}

/* Restore the keyed state of a native snapshot (file f of the restore).
 * The same backend and key groups: the task's instance becomes a copy of
 * it (links, no entry is read). Otherwise (another parallelism or
 * backend) the snapshot opens as a temporary instance of its backend and
 * the task's key groups are copied out of it entry by entry. */
static int restore_native(fl_cpctx *c, fl_task *t, const fl_chk_file *f, int kgf, int kgl, bool *whole,
			  rctx *r)
{
	const fl_chk_meta *m = fl_restore_meta(c->restore);
	char jobdir[PATH_MAX], local[PATH_MAX];
	parent_dir(jobdir, sizeof jobdir, fl_restore_dir(c->restore));
	const fl_backend_ops *src = fl_backend_find(m->backend);
	if (!src || !src->native_restore || src->version < 4 || !src->state_at) {
		snprintf(r->err, r->errcap,
			 "%s/%s: a native snapshot of backend '%s', which cannot restore it",
			 fl_restore_dir(c->restore), f->native, m->backend);
		return FLINC_EINVAL;
	}
	char *scratch = fl_local_tmpdir(t->conf, "flinc-restore-");
	if (!scratch) {
		snprintf(r->err, r->errcap, "cannot create a local folder to restore into: %s",
			 strerror(errno));
		return FLINC_EIO;
	}
	snprintf(local, sizeof local, "%s/native", scratch);
	bool same = src == t->be_ops && f->kg_first == kgf && f->kg_last == kgl && t->nstates == 0 && !*whole;
	fl_incr_registry *reg = same ? registry(c, t->vertex->id, t->subtask) : NULL;
	/* on S3: this native snapshot and its SST files, now (fl_restore_open
	 * fetched the .snap files only) */
	int rc = fl_chk_remote_fetch_native(fl_restore_dir(c->restore), f->native, r->err, r->errcap);
	if (!rc)
		rc = fl_incr_materialize(reg, jobdir, fl_restore_dir(c->restore), f->native, local, r->err,
					 r->errcap);
	if (!rc && same) {
		char e2[512] = "";
		rc = t->be_ops->native_restore(t->be, local, e2, sizeof e2);
		if (rc)
			snprintf(r->err, r->errcap, "%s/%s: %s", fl_restore_dir(c->restore), f->native, e2);
		else
			*whole = true;
		/* the states are there: the task knows them as operators declare */
	} else if (!rc) {
		void *tmp = fl_calloc(1, src->priv_size ? src->priv_size : 1);
		char dir2[PATH_MAX], e2[512] = "";
		snprintf(dir2, sizeof dir2, "%s/instance", scratch);
		fl_backend_params bp = { .kg_first = f->kg_first,
					 .kg_last = f->kg_last,
					 .max_parallelism = m->max_parallelism,
					 .dir = dir2,
					 .conf = t->conf };
		rc = src->open(tmp, &bp, e2, sizeof e2);
		if (!rc) {
			rc = src->native_restore(tmp, local, e2, sizeof e2);
			const char *name;
			fl_state_kind kind;
			for (uint32_t sid = 0; !rc && src->state_at(tmp, sid, &name, &kind) == FLINC_OK;
			     sid++) {
				copy_ctx cc = { .r = r, .state = name, .kind = kind };
				rc = restore_state(r, name, kind, &cc.sid);
				if (rc == RESTORE_SKIP) {
					rc = 0;
					continue;
				}
				if (rc) break;
				rc = src->scan(tmp, sid, FL_MAX(kgf, f->kg_first), FL_MIN(kgl, f->kg_last),
					       copy_cb, &cc);
			}
			if (rc && e2[0])
				snprintf(r->err, r->errcap, "%s/%s: %s", fl_restore_dir(c->restore),
					 f->native, e2);
			src->close(tmp);
		} else {
			snprintf(r->err, r->errcap, "%s/%s: %s", fl_restore_dir(c->restore), f->native, e2);
		}
		free(tmp);
	}
	fl_rm_rf(scratch, NULL, 0);
	free(scratch);
	return rc;
}

int fl_snapshot_restore(fl_cpctx *c, fl_task *t, char *err, size_t errcap)
{
	if (!c || !c->restore) return FLINC_OK;
	int64_t t0 = fl_mono_ns();
	const fl_chk_meta *m = fl_restore_meta(c->restore);
	const flinc_env *e = t->plan->env;
	int kgf, kgl;
	fl_key_group_range(t->subtask, t->parallelism, e->max_parallelism, &kgf, &kgl);
	bool keyed = t->be != NULL, opstates = false;
	for (uint32_t j = 0; j < t->nops; j++) opstates |= t->ops[j]->ops->restore_state != NULL;
	rctx r = { .t = t, .err = err, .errcap = errcap };
	int rc = 0;
	bool whole = false; /* the task's instance was restored natively */
	const char *how = "";
	for (size_t i = 0; i < m->n_files && !rc; i++) {
		const fl_chk_file *f = &m->files[i];
		bool overlap = keyed && f->kg_first <= kgl && f->kg_last >= kgf;
		if (!overlap && !opstates) continue;
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", fl_restore_dir(c->restore), f->path);
		r.file = path;
		fl_snap_reader *rd = NULL;
		rc = fl_snap_reader_open(&rd, path, FL_SNAP_VERIFY_SECTIONS, err, errcap);
		if (rc) break;
		if (overlap && f->native) {
			rc = restore_native(c, t, f, kgf, kgl, &whole, &r);
			how = whole ? " (native)" : " (native, copied)";
			if (!rc)
				rc = fl_snap_read_timers(rd, kgf, kgl, NULL, timer_restore_cb, &r, err,
							 errcap);
		} else if (overlap) {
			rc = fl_snap_read_keyed(rd, kgf, kgl, keyed_cb, &r, err, errcap);
			if (!rc)
				rc = fl_snap_read_timers(rd, kgf, kgl, NULL, timer_restore_cb, &r, err,
							 errcap);
		}
		if (!rc && opstates) rc = fl_snap_read_opstates(rd, NULL, opstate_cb, &r, err, errcap);
		fl_snap_reader_close(rd);
	}
	if (rc) return rc;
	fl_log(FL_LOG_INFO, CP_LOG,
	       "%s (%d/%d) restored %s%llu state entries, %llu timers, %llu operator states from %s %lld%s in %lld ms",
	       t->vertex->name, t->subtask + 1, t->parallelism, whole ? "its state files, " : "",
	       (unsigned long long)r.entries, (unsigned long long)r.timers, (unsigned long long)r.opstates,
	       m->is_savepoint ? "savepoint" : "checkpoint", (long long)m->checkpoint_id, how,
	       (long long)((fl_mono_ns() - t0) / 1000000));
	return FLINC_OK;
}
