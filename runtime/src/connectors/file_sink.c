/*
 * file_sink.c - text lines into a folder, exactly-once (two-phase commit),
 * in part files rolled by size and time (docs/file-sink.md).
 *
 * Each subtask writes its records, formatted by the job's flinc_format_fn and
 * ended by '\n', to part files in the folder:
 *
 *   .part-<subtask>-<seq>.inprogress          being written; continues
 *                                             across checkpoints
 *   .part-<subtask>-<seq>.pending-<ckpt>      rolled: closed and fsync'ed,
 *                                             waits for checkpoint <ckpt>
 *   part-<subtask>-<seq>                      committed: never changes again
 *   .part-<subtask>-<seq>.copy-<random>       a restore's copy, until renamed
 *
 * The rolling policy (Flink's names): a part is rolled once it reaches
 * `sink.rolling-policy.file-size` (default 128mb; checked as records are
 * written), once it has been open `sink.rolling-policy.rollover-interval`
 * (default 30min), once it got no record for
 * `sink.rolling-policy.inactivity-interval` (default 30min), at a savepoint
 * and at the end of the input. The time rules are checked at each
 * checkpoint barrier: a part can only be committed when a checkpoint
 * completes, so checking between barriers would change nothing.
 *
 * flush(ckpt) (pre-commit, before the barrier passes) writes out the
 * buffer. A part that stays in progress is fdatasync'ed and its length
 * becomes the committed length the checkpoint records (the snapshot hook
 * writes {seq, length}); a part the policy rolls is fsync'ed, closed and,
 * with every part rolled by size since the last flush, renamed to
 * pending-<ckpt>. commit(ckpt) (the checkpoint completed) renames every
 * pending file of checkpoints <= ckpt to its committed name. At the end of a
 * bounded input the runtime calls both with FLINC_CHECKPOINT_FINAL (without
 * checkpointing) or takes a last checkpoint (the barrier hook says the input
 * ended). A new part file is opened on the first record after a roll, so
 * there are no empty parts.
 *
 * Restore from checkpoint r: the part r recorded in progress (seq, length)
 * is found under whichever name it has now (.inprogress; .pending-<c> or
 * committed by a checkpoint c after r, when an older checkpoint is
 * restored), its first `length` bytes are copied into a new file (what came
 * after is replayed by the sources; never truncated in place, as a stale
 * task of the failed attempt may still write in it: copy_prefix) that takes
 * its .inprogress name and is written on by the same subtask index; a part of an
 * index beyond the new parallelism is committed at once by subtask 0 (r
 * completed, so its bytes are final). Other files in progress hold records
 * after r only, so they are deleted. Pending files need the id of the
 * restored checkpoint to be told apart (<= r: commit; later: delete):
 * flinc_ctx_restored_checkpoint. A job without checkpointing (-1) leaves
 * them in place.
 *
 * Sequence numbers never collide across restarts: at open a subtask scans the
 * folder for the highest seq of its index in any state and continues after it.
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

#include "connectors.h"
#include "graph.h"
#include "fl_auth.h"
#include "util.h"

#define WRITE_BUF_SIZE (256u << 10)
#define DEFAULT_FILE_SIZE ((uint64_t)128 << 20)
#define DEFAULT_ROLLOVER_MS ((int64_t)30 * 60 * 1000)
#define DEFAULT_INACTIVITY_MS ((int64_t)30 * 60 * 1000)
#define FILE_SIZE_KEY "sink.rolling-policy.file-size"
#define OLD_FILE_SIZE_KEY "sink.file.rolling-size" /* its name before issue 20 */
#define ROLLOVER_KEY "sink.rolling-policy.rollover-interval"
#define INACTIVITY_KEY "sink.rolling-policy.inactivity-interval"
#define SNAPSHOT_VERSION 1
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

/* A part the restored checkpoint recorded in progress (restore hook). */
typedef struct resumed {
	uint64_t subtask, seq, len;
	int64_t opened; /* wall-clock ms it was opened */
} resumed;

typedef struct fsink {
	const fsink_conf *conf;
	int subtask;
	int dirfd;
	bool dir_open;
	int fd; /* the part in progress, when fd_open */
	bool fd_open;
	bool fd_fresh;         /* its name is not synced to the folder yet */
	uint64_t seq;          /* of the part in progress */
	uint64_t next_seq;     /* of the next part to open */
	uint64_t part_bytes;   /* bytes in the part in progress (written + buffered) */
	uint64_t part_flushed; /* part_bytes at the last flush */
	int64_t part_opened;   /* wall-clock ms the part was opened */
	int64_t part_active;   /* wall-clock ms of the last flush that found it grown */
	uint64_t roll;         /* file-size */
	int64_t rollover_ms, inactivity_ms;
	bool roll_at_flush; /* the barrier hook: a savepoint, or the input ended */
	char *buf;          /* write buffer */
	size_t blen, bcap;
	char *line; /* scratch for lines longer than the buffer */
	size_t lcap;
	part_list rolled;  /* closed since the last flush, still .inprogress */
	part_list pending; /* renamed to pending-<ckpt>, not committed yet */
	bool ledger;       /* checkpointed: record which checkpoint committed each part */
	resumed *res;      /* from the restored checkpoint, this subtask's to handle */
	size_t nres, rescap;
} fsink;

/* ---- names -------------------------------------------------------------- */

enum part_state { PART_NONE, PART_COMMITTED, PART_INPROGRESS, PART_PENDING, PART_COPY };

static void name_inprogress(char *b, int subtask, uint64_t seq)
{
	snprintf(b, NAME_MAX_LEN, ".part-%d-%" PRIu64 ".inprogress", subtask, seq);
}

static void name_pending(char *b, int subtask, uint64_t seq, int64_t ckpt)
{
	snprintf(b, NAME_MAX_LEN, ".part-%d-%" PRIu64 ".pending-%" PRId64, subtask, seq, ckpt);
}

/* A restore's copy of a part (copy_prefix), renamed once complete. */
static void name_copy(char *b, int subtask, uint64_t seq, uint64_t rnd)
{
	snprintf(b, NAME_MAX_LEN, ".part-%d-%" PRIu64 ".copy-%016" PRIx64, subtask, seq, rnd);
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
	if (strncmp(s, ".copy-", 6) == 0) return PART_COPY;
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

/* Is part <sub, seq> one the restored checkpoint recorded in progress?
 * Those are resume_part's: taken back, or committed again, under their
 * name, whatever checkpoint committed them before. */
static bool resumed_part(const fsink *s, uint64_t sub, uint64_t seq)
{
	for (size_t k = 0; k < s->nres; k++)
		if (s->res[k].subtask == sub && s->res[k].seq == seq) return true;
	return false;
}

/* Drop the parts of subtask `sub` committed by checkpoints after `restored`
 * (but not the resumed ones). */
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
	int rc = FLINC_OK, dropped = 0, removed = 0;
	while (rc == FLINC_OK && fscanf(f, "%" SCNu64 " %" SCNd64, &seq, &ckpt) == 2) {
		if (ckpt <= restored) {
			fprintf(k, "%" PRIu64 " %" PRId64 "\n", seq, ckpt);
			continue;
		}
		dropped++; /* gone, or taken back by resume_part */
		if (resumed_part(s, sub, seq)) continue;
		char pname[NAME_MAX_LEN];
		name_committed(pname, (int)sub, seq);
		if (unlinkat(s->dirfd, pname, 0) == 0)
			removed++;
		else if (errno != ENOENT)
			rc = fail_io(c, s, "remove", pname);
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
		if (rc == FLINC_OK && removed)
			fl_log(FL_LOG_WARN, "file-sink",
			       "output %s: removed %d part(s) of subtask %" PRIu64
			       " committed after checkpoint %" PRId64 " (they are written again from it)",
			       s->conf->dir, removed, sub, restored);
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
	char name[NAME_MAX_LEN], done[NAME_MAX_LEN];
	struct stat st;
	s->seq = s->next_seq++;
	name_inprogress(name, s->subtask, s->seq);
	/* Never a name in use: a sequence number taken twice would replace a
	 * committed part at its commit. Cheap: once per part. */
	name_committed(done, s->subtask, s->seq);
	if (fstatat(s->dirfd, done, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return fail_io(c, s, "new part: its committed name is taken", done);
	}
	s->fd = openat(s->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (s->fd < 0) return fail_io(c, s, "open", name);
	s->fd_open = true;
	s->fd_fresh = true;
	s->part_bytes = s->part_flushed = 0;
	s->part_opened = s->part_active = fl_now_ms();
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
	return FLINC_OK;
}

/* The name part <sub, seq> has in the folder now, in any state: FLINC_OK
 * with it in `found`, or FLINC_ENOENT. */
static int find_part(flinc_ctx *c, fsink *s, uint64_t sub, uint64_t seq, char *found)
{
	DIR *d = fdopendir(dup(s->dirfd));
	if (!d) return fail_io(c, s, "list", ".");
	rewinddir(d); /* the dup shares the offset of earlier listings */
	struct dirent *de;
	int rc = FLINC_ENOENT;
	while (rc == FLINC_ENOENT && (de = readdir(d))) {
		uint64_t su, sq;
		int64_t ck = 0;
		enum part_state st = parse_part_name(de->d_name, &su, &sq, &ck);
		size_t n = strlen(de->d_name);
		if (st != PART_NONE && st != PART_COPY && su == sub && sq == seq && n < NAME_MAX_LEN) {
			memcpy(found, de->d_name, n + 1);
			rc = FLINC_OK;
		}
	}
	closedir(d);
	return rc;
}

/* Copy the first r->len bytes of `found` (part r) into a new file, synced, and give it
 * the name `to` (replacing a file of that name). FLINC_OK with the new
 * file open for writing at its end in *fd_out (or closed when fd_out is
 * NULL).
 *
 * Never the old file itself: a task of the failed attempt may still hold
 * it open and write on (a task manager cut off from the job manager runs
 * its tasks until its own heartbeat.timeout; a paused process, longer).
 * Truncating that file in place and writing on in it mixed that task's
 * bytes with ours. The copy is a new inode: what a stale task writes now
 * goes to a file no name points to, and is lost, as it must be. */
static int copy_prefix(flinc_ctx *c, fsink *s, const resumed *r, const char *found, const char *to,
		       int64_t restored, int *fd_out)
{
	uint64_t rnd = 0, len = r->len;
	char tmp[NAME_MAX_LEN];
	if (fl_random_bytes(&rnd, sizeof rnd) != 0)
		rnd = fl_mono_ns() ^ ((uint64_t)getpid() << 40); /* unique enough: O_EXCL checks */
	name_copy(tmp, (int)r->subtask, r->seq, rnd);
	int in = openat(s->dirfd, found, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (in < 0) return fail_io(c, s, "open", found);
	struct stat st;
	if (fstat(in, &st) != 0) {
		close(in);
		return fail_io(c, s, "stat", found);
	}
	if ((uint64_t)st.st_size < len) {
		close(in);
		flinc_ctx_fail(c,
			       "output %s/%s: holds %lld bytes, fewer than the %" PRIu64
			       " checkpoint %" PRId64 " recorded: the output cannot be restored exactly-once",
			       s->conf->dir, found, (long long)st.st_size, len, restored);
		return FLINC_EIO;
	}
	int out = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (out < 0) {
		close(in);
		return fail_io(c, s, "create", tmp);
	}
	char err[256];
	int rc = fl_copy_prefix(in, out, len, err, sizeof err);
	close(in);
	if (rc) {
		flinc_ctx_fail(c, "output %s/%s: %s", s->conf->dir, tmp, err);
	} else if (fdatasync(out) != 0) {
		rc = fail_io(c, s, "fdatasync", tmp);
	} else if (renameat(s->dirfd, tmp, s->dirfd, to) != 0) {
		rc = fail_io(c, s, "rename", tmp);
	}
	if (rc) {
		close(out);
		(void)unlinkat(s->dirfd, tmp, 0);
		return rc;
	}
	if ((uint64_t)st.st_size > len)
		fl_log(FL_LOG_INFO, "file-sink",
		       "output %s: %s continues from the %" PRIu64 " bytes of checkpoint %" PRId64
		       " (copied; the %lld bytes after them are written again)",
		       s->conf->dir, to, len, restored, (long long)st.st_size - (long long)len);
	if (fd_out) {
		*fd_out = out;
		return FLINC_OK;
	}
	return close(out) == 0 ? FLINC_OK : fail_io(c, s, "close", to);
}

/* Bring back part r->seq of index r->subtask as the restored checkpoint
 * recorded it: its first r->len bytes, copied (copy_prefix), named
 * .inprogress again. Then this subtask writes on in it (its own index), or
 * commits it (an index beyond the parallelism, handled by subtask 0). */
static int resume_part(flinc_ctx *c, fsink *s, const resumed *r, int64_t restored)
{
	char name[NAME_MAX_LEN], found[NAME_MAX_LEN];
	name_inprogress(name, (int)r->subtask, r->seq);
	int rc = find_part(c, s, r->subtask, r->seq, found);
	if (rc == FLINC_ENOENT) {
		flinc_ctx_fail(c,
			       "output %s/%s: checkpoint %" PRId64 " recorded this part file in progress "
			       "(%" PRIu64
			       " bytes) but it is gone: the output cannot be restored exactly-once",
			       s->conf->dir, name, restored, r->len);
		return FLINC_EIO;
	}
	if (rc) return rc;
	bool mine = r->subtask == (uint64_t)s->subtask;
	char to[NAME_MAX_LEN];
	if (mine) {
		memcpy(to, name, sizeof to);
	} else {
		/* an index the job no longer has: r completed, so the bytes are final */
		name_committed(to, (int)r->subtask, r->seq);
		if ((rc = ledger_add(c, s, r->subtask, r->seq, restored))) return rc;
	}
	int fd = -1;
	if ((rc = copy_prefix(c, s, r, found, to, restored, mine ? &fd : NULL))) return rc;
	if (strcmp(found, to) != 0) {
		/* rolled (or even committed) by a checkpoint after the restored
		 * one, or a part in progress now committed: its bytes are in the
		 * copy */
		if (unlinkat(s->dirfd, found, 0) != 0 && errno != ENOENT) {
			if (fd >= 0) close(fd);
			return fail_io(c, s, "remove", found);
		}
		if (mine)
			fl_log(FL_LOG_WARN, "file-sink",
			       "output %s: %s, written after checkpoint %" PRId64
			       ", is in progress again as %s",
			       s->conf->dir, found, restored, name);
	}
	if (!mine) return FLINC_OK;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return fail_io(c, s, "seek", name);
	}
	s->fd = fd;
	s->fd_open = true;
	s->fd_fresh = true;
	s->seq = r->seq;
	s->part_bytes = s->part_flushed = r->len;
	s->part_opened = r->opened;
	s->part_active = fl_now_ms();
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
	rewinddir(d); /* the dup shares the offset of earlier listings (find_part) */
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
		if (st == PART_INPROGRESS || st == PART_COPY) {
			/* a copy: left by a restore that died before its rename */
			if (st == PART_INPROGRESS && mine && s->fd_open && seq == s->seq)
				continue; /* resumed */
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

/* A duration key of the rolling policy: FLINC_OK with *ms set (left alone
 * when the key is not set), or FLINC_ECONFIG. */
static int conf_duration(flinc_ctx *c, const char *key, int64_t *ms)
{
	const char *v = flinc_ctx_config(c, key);
	if (!v) return FLINC_OK;
	if (fl_parse_duration_ms(v, ms) != FLINC_OK || *ms < 0) {
		flinc_ctx_fail(c, "%s: '%s' is not a duration (like 30min)", key, v);
		return FLINC_ECONFIG;
	}
	return FLINC_OK;
}

static int read_policy(flinc_ctx *c, fsink *s)
{
	s->roll = DEFAULT_FILE_SIZE;
	s->rollover_ms = DEFAULT_ROLLOVER_MS;
	s->inactivity_ms = DEFAULT_INACTIVITY_MS;
	const char *key = FILE_SIZE_KEY;
	const char *rs = flinc_ctx_config(c, key);
	if (!rs && (rs = flinc_ctx_config(c, OLD_FILE_SIZE_KEY))) {
		key = OLD_FILE_SIZE_KEY;
		if (s->subtask == 0)
			fl_log(FL_LOG_WARN, "file-sink", "%s is deprecated: write %s (taking %s from it)",
			       OLD_FILE_SIZE_KEY, FILE_SIZE_KEY, rs);
	}
	if (rs) {
		int64_t v;
		if (fl_parse_size(rs, &v) != FLINC_OK || v <= 0) {
			flinc_ctx_fail(c, "%s: '%s' is not a size (like 64mb)", key, rs);
			return FLINC_ECONFIG;
		}
		s->roll = (uint64_t)v;
	}
	int rc = conf_duration(c, ROLLOVER_KEY, &s->rollover_ms);
	return rc ? rc : conf_duration(c, INACTIVITY_KEY, &s->inactivity_ms);
}

static int fsink_open(flinc_ctx *c, void *local)
{
	fsink *s = local;
	s->conf = flinc_ctx_arg(c);
	s->subtask = flinc_ctx_subtask(c);
	int rc = read_policy(c, s);
	if (rc) return rc;
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
	int64_t restored = flinc_ctx_restored_checkpoint(c);
	/* Parts the restored checkpoint recorded in progress first: they may
	 * carry names (pending, committed) the cleanup below would remove. */
	s->ledger = restored >= 0;
	for (size_t k = 0; k < s->nres; k++)
		if ((rc = resume_part(c, s, &s->res[k], restored))) return rc;
	uint64_t max_seq = 0;
	bool any = false;
	/* Pending files of checkpoints <= the restored one commit, later
	 * ones go; without checkpointing (-1) they are left alone. */
	rc = recover_leftovers(c, s, restored, &max_seq, &any);
	if (rc) return rc;
	s->fd_fresh = false; /* recover_leftovers synced the folder */
	s->next_seq = any ? max_seq + 1 : 0;
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

/* Does the rolling policy roll the part in progress at this barrier? */
static bool roll_due(fsink *s, int64_t ckpt)
{
	bool forced = s->roll_at_flush || ckpt == FLINC_CHECKPOINT_FINAL;
	s->roll_at_flush = false;
	if (!s->fd_open) return false;
	int64_t now = fl_now_ms();
	if (s->part_bytes != s->part_flushed) {
		s->part_active = now;
		s->part_flushed = s->part_bytes;
	}
	return forced || now - s->part_opened >= s->rollover_ms || now - s->part_active >= s->inactivity_ms;
}

static int fsink_flush(flinc_ctx *c, void *local, int64_t ckpt)
{
	fsink *s = local;
	int rc;
	bool sync = false;
	if (roll_due(s, ckpt)) {
		if ((rc = close_part(c, s))) return rc;
	} else if (s->fd_open) {
		/* stays in progress: its length now is what the checkpoint
		 * records (snapshot), so those bytes must be on disk */
		char name[NAME_MAX_LEN];
		if ((rc = write_out(c, s))) return rc;
		name_inprogress(name, s->subtask, s->seq);
		if (fdatasync(s->fd) != 0) return fail_io(c, s, "fdatasync", name);
		sync = s->fd_fresh; /* and its name too */
		s->fd_fresh = false;
	}
	for (size_t k = 0; k < s->rolled.n; k++) {
		char from[NAME_MAX_LEN], to[NAME_MAX_LEN];
		name_inprogress(from, s->subtask, s->rolled.v[k].seq);
		name_pending(to, s->subtask, s->rolled.v[k].seq, ckpt);
		if (renameat(s->dirfd, from, s->dirfd, to) != 0) return fail_io(c, s, "rename", from);
		if (list_add(&s->pending, s->rolled.v[k].seq, ckpt)) {
			flinc_ctx_fail(c, "output %s: out of memory", s->conf->dir);
			return FLINC_ENOMEM;
		}
		sync = true;
	}
	s->rolled.n = 0;
	/* the pending names must survive a crash: the commit after a restore
	 * looks for them */
	return sync ? sync_dir(c, s) : FLINC_OK;
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
	free(s->res);
	s->buf = s->line = NULL;
	s->rolled = (part_list){ 0 };
	s->pending = (part_list){ 0 };
	s->res = NULL;
	s->nres = s->rescap = 0;
}

/* ---- operator state (fl_conn_hooks) ---------------------------------------- */

/* A savepoint or the end of the input rolls the part in progress at this
 * barrier: a savepoint may be restored any number of times, so it must not
 * point into a file that a run from it writes on; and at the end of the
 * input everything is committed. */
static void fsink_barrier(flinc_ctx *c, void *local, int64_t id, unsigned flags)
{
	(void)c;
	(void)id;
	fsink *s = local;
	if (flags & (FL_SINK_BARRIER_SAVEPOINT | FL_SINK_BARRIER_ENDED)) s->roll_at_flush = true;
}

/* After flush(id): the part still in progress and its length, all of it on
 * disk (flush fdatasync'ed it). */
static int fsink_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	fsink *s = local;
	fl_conn_snapshot_head(c, w, SNAPSHOT_VERSION, 4);
	flinc_w_cstr(w, "open");
	flinc_w_bool(w, s->fd_open);
	flinc_w_cstr(w, "seq");
	flinc_w_uint(w, s->fd_open ? s->seq : 0);
	flinc_w_cstr(w, "length");
	flinc_w_uint(w, s->fd_open ? s->part_bytes : 0);
	flinc_w_cstr(w, "opened");
	flinc_w_int(w, s->fd_open ? s->part_opened : 0);
	return w->err ? FLINC_ENOMEM : FLINC_OK;
}

/* Before open, once per old subtask's snapshot: keep the part in progress
 * of this subtask's index (and, for subtask 0, of indices beyond the
 * parallelism) for fsink_open. */
static int fsink_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	fsink *s = local;
	uint64_t v = 0, sub = 0, seq = 0, len = 0;
	int64_t opened = 0;
	bool open = false, have_sub = false;
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(key, lit, kl) == 0)
		if (KEY_IS("v")) {
			v = flinc_r_uint(r);
		} else if (KEY_IS("subtask")) {
			sub = flinc_r_uint(r);
			have_sub = true;
		} else if (KEY_IS("open")) {
			open = flinc_r_bool(r);
		} else if (KEY_IS("seq")) {
			seq = flinc_r_uint(r);
		} else if (KEY_IS("length")) {
			len = flinc_r_uint(r);
		} else if (KEY_IS("opened")) {
			opened = flinc_r_int(r);
		} else if (flinc_r_skip(r) != 0) {
			r->err = 1;
		}
#undef KEY_IS
	}
	if (r->err || v < 1 || v > SNAPSHOT_VERSION || !have_sub || sub > INT32_MAX) {
		flinc_ctx_fail(
			c, "file sink: cannot read its checkpointed part in progress (snapshot version %llu)",
			(unsigned long long)v);
		return FLINC_ECODEC;
	}
	int me = flinc_ctx_subtask(c), p = flinc_ctx_parallelism(c);
	if (!open || !(sub == (uint64_t)me || (me == 0 && sub >= (uint64_t)p))) return FLINC_OK;
	if (s->nres == s->rescap) {
		size_t nc = s->rescap ? s->rescap * 2 : 4;
		resumed *nv = realloc(s->res, nc * sizeof *nv);
		if (!nv) {
			flinc_ctx_fail(c, "file sink: out of memory");
			return FLINC_ENOMEM;
		}
		s->res = nv;
		s->rescap = nc;
	}
	s->res[s->nres++] = (resumed){ sub, seq, len, opened };
	return FLINC_OK;
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

static const fl_conn_hooks file_sink_hooks = {
	.snapshot = fsink_snapshot,
	.restore = fsink_restore,
	.barrier = fsink_barrier,
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
	fl_sink_hooks(flinc_sink(in, name, &file_sink_fn, conf), &file_sink_hooks);
	return FLINC_OK;
}
