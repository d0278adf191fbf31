/*
 * file_sink.c - text lines into a folder, exactly-once (two-phase commit).
 *
 * Each subtask writes its records, formatted by the job's flinc_format_fn and
 * ended by '\n', to part files in the folder:
 *
 *   .part-<subtask>-<seq>.inprogress          being written
 *   .part-<subtask>-<seq>.pending-<ckpt>      closed and fsync'ed at the
 *                                             barrier of checkpoint <ckpt>
 *   part-<subtask>-<seq>                      committed: never changes again
 *
 * flush(ckpt) (pre-commit, before the barrier passes) writes out the buffer,
 * fsyncs and closes the file in progress and every file rolled since the last
 * flush, and renames them to pending-<ckpt>. commit(ckpt) (the checkpoint
 * completed) renames every pending file of checkpoints <= ckpt to its
 * committed name. At the end of a bounded input the runtime calls both with
 * FLINC_CHECKPOINT_FINAL. A new part file is opened on the first record after
 * a flush, so there are no empty parts; a part is rolled (closed, and renamed
 * at the next flush) once it passes `sink.file.rolling-size` (default 128mb).
 *
 * Sequence numbers never collide across restarts: at open a subtask scans the
 * folder for the highest seq of its index in any state and continues after it.
 *
 * Leftovers of an earlier attempt (see recover_leftovers): files in progress
 * hold records after the last barrier, which the restored sources replay, so
 * they are deleted. Pending files need the id of the restored checkpoint to
 * be told apart (<= it: commit; later: delete): flinc_ctx_restored_checkpoint.
 * A job without checkpointing (-1) leaves them in place.
 *
 * Records are formatted into the 256 KiB write buffer in place (a scratch
 * buffer only for lines longer than that): no allocation per record.
 *
 * Threads: each instance belongs to its subtask's thread. Errors fail the
 * task with the file's name and strerror.
 */
#include <flinc/flinc.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define WRITE_BUF_SIZE (256u << 10)
#define DEFAULT_ROLLING_SIZE ((uint64_t)128 << 20)
#define ROLLING_SIZE_KEY "sink.file.rolling-size"
#define NAME_MAX_LEN 96

typedef struct fsink_conf {
	flinc_format_fn fmt;
	char dir[]; /* NUL-terminated */
} fsink_conf;

typedef struct part {
	uint64_t seq;
	int64_t ckpt; /* pending-<ckpt>; unused for rolled files */
} part;

typedef struct part_list {
	part *v;
	size_t n, cap;
} part_list;

typedef struct fsink {
	const fsink_conf *conf;
	int subtask;
	int dirfd;
	bool dir_open;
	int fd; /* the part in progress, when fd_open */
	bool fd_open;
	uint64_t seq;        /* of the part in progress, else the next to use */
	uint64_t part_bytes; /* bytes in the part in progress (written + buffered) */
	uint64_t roll;       /* rolling size */
	char *buf;           /* write buffer */
	size_t blen, bcap;
	char *line; /* scratch for lines longer than the buffer */
	size_t lcap;
	part_list rolled;  /* closed since the last flush, still .inprogress */
	part_list pending; /* renamed to pending-<ckpt>, not committed yet */
	bool ledger;       /* checkpointed: record which checkpoint committed each part */
} fsink;

/* ---- names -------------------------------------------------------------- */

enum part_state { PART_NONE, PART_COMMITTED, PART_INPROGRESS, PART_PENDING };

static void name_inprogress(char *b, int subtask, uint64_t seq)
{
	snprintf(b, NAME_MAX_LEN, ".part-%d-%" PRIu64 ".inprogress", subtask, seq);
}

static void name_pending(char *b, int subtask, uint64_t seq, int64_t ckpt)
{
	snprintf(b, NAME_MAX_LEN, ".part-%d-%" PRIu64 ".pending-%" PRId64, subtask, seq, ckpt);
}

static void name_committed(char *b, int subtask, uint64_t seq)
{
	snprintf(b, NAME_MAX_LEN, "part-%d-%" PRIu64, subtask, seq);
}

/* Parse a run of decimal digits (no sign, at least one). */
static const char *parse_u64(const char *s, uint64_t *v)
{
	if (*s < '0' || *s > '9') return NULL;
	uint64_t x = 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10) return NULL;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return s;
}

/* Which of our names is this, and of which subtask, seq and checkpoint. */
static enum part_state parse_part_name(const char *name, uint64_t *subtask, uint64_t *seq, int64_t *ckpt)
{
	bool dot = name[0] == '.';
	const char *s = name + dot;
	uint64_t c;
	if (strncmp(s, "part-", 5) != 0) return PART_NONE;
	if (!(s = parse_u64(s + 5, subtask)) || *s != '-') return PART_NONE;
	if (!(s = parse_u64(s + 1, seq))) return PART_NONE;
	if (!dot) return *s ? PART_NONE : PART_COMMITTED;
	if (strcmp(s, ".inprogress") == 0) return PART_INPROGRESS;
	if (strncmp(s, ".pending-", 9) == 0 && (s = parse_u64(s + 9, &c)) && !*s && c <= INT64_MAX) {
		*ckpt = (int64_t)c;
		return PART_PENDING;
	}
	return PART_NONE;
}

static int list_add(part_list *l, uint64_t seq, int64_t ckpt)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		part *nv = realloc(l->v, nc * sizeof *nv);
		if (!nv) return FLINC_ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = (part){ seq, ckpt };
	return FLINC_OK;
}

/* ---- files ---------------------------------------------------------------- */

/* fl_write_all with errno set on failure, for fail_io's message. */
static int write_all(int fd, const char *p, size_t n)
{
	int e = fl_write_all(fd, p, n);
	if (e) errno = -e;
	return e;
}

static int fail_io(flinc_ctx *c, fsink *s, const char *what, const char *name)
{
	flinc_ctx_fail(c, "output %s/%s: %s: %s", s->conf->dir, name, what, strerror(errno));
	return FLINC_EIO;
}

static int sync_dir(flinc_ctx *c, fsink *s)
{
	if (fsync(s->dirfd) != 0 && errno != EINVAL) return fail_io(c, s, "fsync", ".");
	return FLINC_OK;
}

/* The commit ledger ".commits-<subtask>": one line "<seq> <ckpt>" per part
 * file committed by checkpoint <ckpt>, appended and synced before the
 * rename. A restore from checkpoint r removes the committed parts of
 * checkpoints after r (they are replayed), which happens when the newest
 * checkpoint turned out unusable and an older one is restored. */
static void name_ledger(char *b, uint64_t subtask)
{
	snprintf(b, NAME_MAX_LEN, ".commits-%" PRIu64, subtask);
}

static int ledger_add(flinc_ctx *c, fsink *s, uint64_t sub, uint64_t seq, int64_t ckpt)
{
	if (!s->ledger) return FLINC_OK;
	char name[NAME_MAX_LEN], line[64];
	name_ledger(name, sub);
	int fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) return fail_io(c, s, "open", name);
	int n = snprintf(line, sizeof line, "%" PRIu64 " %" PRId64 "\n", seq, ckpt);
	bool ok = write(fd, line, (size_t)n) == n && fdatasync(fd) == 0;
	close(fd);
	return ok ? FLINC_OK : fail_io(c, s, "append to", name);
}

/* Drop the parts of subtask `sub` committed by checkpoints after `restored`. */
static int ledger_truncate(flinc_ctx *c, fsink *s, uint64_t sub, int64_t restored)
{
	char name[NAME_MAX_LEN], tmp[NAME_MAX_LEN + 8];
	name_ledger(name, sub);
	int fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno == ENOENT ? FLINC_OK : fail_io(c, s, "open", name);
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return fail_io(c, s, "read", name);
	}
	char *keep = NULL;
	size_t klen = 0;
	FILE *k = open_memstream(&keep, &klen);
	uint64_t seq;
	int64_t ckpt;
	int rc = FLINC_OK, dropped = 0;
	while (rc == FLINC_OK && fscanf(f, "%" SCNu64 " %" SCNd64, &seq, &ckpt) == 2) {
		if (ckpt <= restored) {
			fprintf(k, "%" PRIu64 " %" PRId64 "\n", seq, ckpt);
			continue;
		}
		char pname[NAME_MAX_LEN];
		name_committed(pname, (int)sub, seq);
		if (unlinkat(s->dirfd, pname, 0) != 0 && errno != ENOENT) rc = fail_io(c, s, "remove", pname);
		dropped++;
	}
	fclose(f);
	fclose(k);
	if (rc == FLINC_OK && dropped) {
		snprintf(tmp, sizeof tmp, "%s.tmp", name);
		int t = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (t < 0 || write(t, keep, klen) != (ssize_t)klen || fdatasync(t) != 0)
			rc = fail_io(c, s, "write", tmp);
		if (t >= 0) close(t);
		if (rc == FLINC_OK && renameat(s->dirfd, tmp, s->dirfd, name) != 0)
			rc = fail_io(c, s, "rename", tmp);
		if (rc == FLINC_OK)
			fl_log(FL_LOG_WARN, "file-sink",
			       "output %s: removed %d part(s) of subtask %" PRIu64
			       " committed after checkpoint %" PRId64 " (they are written again from it)",
			       s->conf->dir, dropped, sub, restored);
	}
	free(keep);
	return rc;
}

static int write_out(flinc_ctx *c, fsink *s)
{
	if (s->blen == 0) return FLINC_OK;
	if (write_all(s->fd, s->buf, s->blen) != 0) {
		char name[NAME_MAX_LEN];
		name_inprogress(name, s->subtask, s->seq);
		return fail_io(c, s, "write", name);
	}
	s->blen = 0;
	return FLINC_OK;
}

static int open_part(flinc_ctx *c, fsink *s)
{
	char name[NAME_MAX_LEN];
	name_inprogress(name, s->subtask, s->seq);
	s->fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (s->fd < 0) return fail_io(c, s, "open", name);
	s->fd_open = true;
	s->part_bytes = 0;
	return FLINC_OK;
}

/* Write out, fsync and close the part in progress; it joins `rolled`. */
static int close_part(flinc_ctx *c, fsink *s)
{
	char name[NAME_MAX_LEN];
	int rc = write_out(c, s);
	if (rc) return rc;
	name_inprogress(name, s->subtask, s->seq);
	if (fsync(s->fd) != 0) return fail_io(c, s, "fsync", name);
	s->fd_open = false;
	if (close(s->fd) != 0) return fail_io(c, s, "close", name);
	s->fd = -1;
	if (list_add(&s->rolled, s->seq, 0)) {
		flinc_ctx_fail(c, "output %s: out of memory", s->conf->dir);
		return FLINC_ENOMEM;
	}
	s->seq++;
	return FLINC_OK;
}

/* Deal with what an earlier attempt of this subtask left. `restored` is the
 * id of the checkpoint the job restarted from (0: a fresh start), or -1 when
 * unknown: then pending files stay where they are. Subtask 0 also handles
 * the indices >= parallelism (the job ran wider before). */
static int recover_leftovers(flinc_ctx *c, fsink *s, int64_t restored, uint64_t *max_seq, bool *any)
{
	int p = flinc_ctx_parallelism(c);
	DIR *d = fdopendir(dup(s->dirfd));
	if (!d) return fail_io(c, s, "list", ".");
	struct dirent *de;
	int rc = FLINC_OK;
	while (rc == FLINC_OK && (errno = 0, de = readdir(d))) {
		uint64_t sub, seq;
		int64_t ckpt = 0;
		enum part_state st = parse_part_name(de->d_name, &sub, &seq, &ckpt);
		if (st == PART_NONE) continue;
		bool mine = sub == (uint64_t)s->subtask;
		if (mine) {
			if (!*any || seq > *max_seq) *max_seq = seq;
			*any = true;
		}
		if (!(mine || (s->subtask == 0 && sub >= (uint64_t)p))) continue;
		if (st == PART_INPROGRESS) {
			if (unlinkat(s->dirfd, de->d_name, 0) != 0 && errno != ENOENT)
				rc = fail_io(c, s, "remove", de->d_name);
		} else if (st == PART_PENDING && restored >= 0) {
			if (ckpt <= restored) {
				char to[NAME_MAX_LEN];
				name_committed(to, (int)sub, seq);
				rc = ledger_add(c, s, sub, seq, ckpt);
				if (rc == FLINC_OK && renameat(s->dirfd, de->d_name, s->dirfd, to) != 0 &&
				    errno != ENOENT)
					rc = fail_io(c, s, "commit", de->d_name);
			} else if (unlinkat(s->dirfd, de->d_name, 0) != 0 && errno != ENOENT) {
				rc = fail_io(c, s, "remove", de->d_name);
			}
		}
	}
	if (rc == FLINC_OK && errno) rc = fail_io(c, s, "list", ".");
	closedir(d);
	/* Ledgers of this subtask's indices: this one, and for subtask 0 the
	 * ones beyond the parallelism. */
	if (rc == FLINC_OK && restored >= 0 && (d = fdopendir(dup(s->dirfd)))) {
		rewinddir(d); /* the dup shares the offset the listing above moved */
		while (rc == FLINC_OK && (de = readdir(d))) {
			uint64_t sub;
			if (strncmp(de->d_name, ".commits-", 9) != 0 ||
			    sscanf(de->d_name + 9, "%" SCNu64, &sub) != 1)
				continue;
			if (sub == (uint64_t)s->subtask || (s->subtask == 0 && sub >= (uint64_t)p))
				rc = ledger_truncate(c, s, sub, restored);
		}
		closedir(d);
	}
	return rc == FLINC_OK ? sync_dir(c, s) : rc;
}

/* ---- the sink function ------------------------------------------------------ */

static int fsink_open(flinc_ctx *c, void *local)
{
	fsink *s = local;
	s->conf = flinc_ctx_arg(c);
	s->subtask = flinc_ctx_subtask(c);
	s->roll = DEFAULT_ROLLING_SIZE;
	const char *rs = flinc_ctx_config(c, ROLLING_SIZE_KEY);
	if (rs) {
		int64_t v;
		if (fl_parse_size(rs, &v) != FLINC_OK || v <= 0) {
			flinc_ctx_fail(c, "%s: '%s' is not a size (like 64mb)", ROLLING_SIZE_KEY, rs);
			return FLINC_ECONFIG;
		}
		s->roll = (uint64_t)v;
	}
	/* made here (the builder only checked it could be) */
	char merr[512];
	if (fl_mkdir_p(s->conf->dir, merr, sizeof merr) != FLINC_OK) {
		flinc_ctx_fail(c, "output %s", merr);
		return FLINC_EIO;
	}
	s->dirfd = open(s->conf->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		flinc_ctx_fail(c, "output %s: %s", s->conf->dir, strerror(errno));
		return FLINC_EIO;
	}
	s->dir_open = true;
	uint64_t max_seq = 0;
	bool any = false;
	/* Pending files of checkpoints <= the restored one commit, later
	 * ones go; without checkpointing (-1) they are left alone. */
	s->ledger = flinc_ctx_restored_checkpoint(c) >= 0;
	int rc = recover_leftovers(c, s, flinc_ctx_restored_checkpoint(c), &max_seq, &any);
	if (rc) return rc;
	s->seq = any ? max_seq + 1 : 0;
	s->bcap = WRITE_BUF_SIZE;
	if (!(s->buf = malloc(s->bcap))) {
		flinc_ctx_fail(c, "output %s: out of memory", s->conf->dir);
		return FLINC_ENOMEM;
	}
	return FLINC_OK;
}

/* Write the line in s->line (n bytes plus its '\n') straight to the file. */
static int write_long_line(flinc_ctx *c, fsink *s, size_t n)
{
	if (write_all(s->fd, s->line, n + 1) != 0) {
		char name[NAME_MAX_LEN];
		name_inprogress(name, s->subtask, s->seq);
		return fail_io(c, s, "write", name);
	}
	return FLINC_OK;
}

static int fsink_write(flinc_ctx *c, void *local, const void *rec)
{
	fsink *s = local;
	flinc_format_fn fmt = s->conf->fmt;
	int rc;

	if (!s->fd_open && (rc = open_part(c, s))) return rc;
	/* Format straight into the buffer (s->blen < s->bcap always holds). */
	size_t room = s->bcap - s->blen;
	size_t n = fmt(rec, s->buf + s->blen, room);
	if (n + 1 <= room) {
		s->buf[s->blen + n] = '\n';
		s->blen += n + 1;
	} else {
		if ((rc = write_out(c, s))) return rc;
		if (n + 1 <= s->bcap && (n = fmt(rec, s->buf, s->bcap)) + 1 <= s->bcap) {
			s->buf[n] = '\n';
			s->blen = n + 1;
		} else {
			/* longer than the whole buffer: format into scratch */
			if (n + 2 > s->lcap) {
				char *nl = realloc(s->line, n + 2);
				if (!nl) {
					flinc_ctx_fail(c, "output %s: out of memory for a %zu-byte line",
						       s->conf->dir, n);
					return FLINC_ENOMEM;
				}
				s->line = nl;
				s->lcap = n + 2;
			}
			size_t m = fmt(rec, s->line, s->lcap - 1);
			if (m >= s->lcap - 1) {
				flinc_ctx_fail(
					c,
					"output %s: the format function needs more room each time it is asked",
					s->conf->dir);
				return FLINC_EUSER;
			}
			n = m;
			s->line[n] = '\n';
			if ((rc = write_long_line(c, s, n))) return rc;
		}
	}
	if (s->blen == s->bcap && (rc = write_out(c, s))) return rc;
	s->part_bytes += n + 1;
	if (s->part_bytes >= s->roll) return close_part(c, s);
	return FLINC_OK;
}

static int fsink_flush(flinc_ctx *c, void *local, int64_t ckpt)
{
	fsink *s = local;
	int rc;
	if (s->fd_open && (rc = close_part(c, s))) return rc;
	if (s->rolled.n == 0) return FLINC_OK;
	for (size_t k = 0; k < s->rolled.n; k++) {
		char from[NAME_MAX_LEN], to[NAME_MAX_LEN];
		name_inprogress(from, s->subtask, s->rolled.v[k].seq);
		name_pending(to, s->subtask, s->rolled.v[k].seq, ckpt);
		if (renameat(s->dirfd, from, s->dirfd, to) != 0) return fail_io(c, s, "rename", from);
		if (list_add(&s->pending, s->rolled.v[k].seq, ckpt)) {
			flinc_ctx_fail(c, "output %s: out of memory", s->conf->dir);
			return FLINC_ENOMEM;
		}
	}
	s->rolled.n = 0;
	/* the pending names must survive a crash: the commit after a restore
	 * looks for them */
	return sync_dir(c, s);
}

static int fsink_commit(flinc_ctx *c, void *local, int64_t ckpt)
{
	fsink *s = local;
	size_t kept = 0;
	bool renamed = false;
	for (size_t k = 0; k < s->pending.n; k++) {
		part pt = s->pending.v[k];
		if (pt.ckpt > ckpt) {
			s->pending.v[kept++] = pt;
			continue;
		}
		char from[NAME_MAX_LEN], to[NAME_MAX_LEN];
		name_pending(from, s->subtask, pt.seq, pt.ckpt);
		name_committed(to, s->subtask, pt.seq);
		int lrc = ledger_add(c, s, (uint64_t)s->subtask, pt.seq, pt.ckpt);
		if (lrc) return lrc;
		if (renameat(s->dirfd, from, s->dirfd, to) != 0) {
			/* committed already (a repeated commit) is fine */
			struct stat st;
			if (!(errno == ENOENT && fstatat(s->dirfd, to, &st, 0) == 0)) {
				/* keep the rest for a retry */
				for (size_t j = k; j < s->pending.n; j++)
					s->pending.v[kept++] = s->pending.v[j];
				s->pending.n = kept;
				return fail_io(c, s, "commit", from);
			}
		}
		renamed = true;
	}
	s->pending.n = kept;
	return renamed ? sync_dir(c, s) : FLINC_OK;
}

/* Files in progress and pending stay for the next attempt to sort out. */
static void fsink_close(flinc_ctx *c, void *local)
{
	(void)c;
	fsink *s = local;
	if (s->fd_open) close(s->fd);
	if (s->dir_open) close(s->dirfd);
	s->fd_open = s->dir_open = false;
	free(s->buf);
	free(s->line);
	free(s->rolled.v);
	free(s->pending.v);
	s->buf = s->line = NULL;
	s->rolled = (part_list){ 0 };
	s->pending = (part_list){ 0 };
}

static const flinc_sink_fn file_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(fsink),
	.open = fsink_open,
	.write = fsink_write,
	.flush = fsink_flush,
	.commit = fsink_commit,
	.close = fsink_close,
};

/* Build a folder sink on `in` (address.c). Checks the folder could be made
 * (a bad path is a build error) but makes it only when the job runs;
 * returns FLINC_OK or the error recorded in e. */
int fl_file_sink_to(flinc_env *e, flinc_stream *in, const char *name, const char *dir, flinc_format_fn fmt)
{
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/') n--;
	fsink_conf *conf = flinc_env_alloc(e, sizeof *conf + n + 1);
	if (!conf) return flinc_env_fail(e, "%s: out of memory", name);
	memcpy(conf->dir, dir, n);
	conf->dir[n] = 0;
	conf->fmt = fmt;
	/* Checked now so a bad path is a build error; made when a subtask
	 * opens, so a job that is refused (or never runs) leaves no folder. */
	char merr[512];
	if (fl_mkdir_p_possible(conf->dir, merr, sizeof merr) != FLINC_OK)
		return flinc_env_fail(e, "output %s", merr);
	flinc_sink(in, name, &file_sink_fn, conf);
	return FLINC_OK;
}
