/*
 * file_source.c - text lines from a file or a folder of files (bounded).
 *
 * Splitting. The input is the one file given, or the regular files of the
 * folder whose names do not start with '.', sorted by name (bytewise; the
 * folder is not descended into). Their bytes, in that order, form one global
 * byte range [0, total). Subtask i of p owns [total*i/p, total*(i+1)/p) and
 * reads the lines whose FIRST byte falls in its range (the rule of Hadoop and
 * Flink text splits): it starts at the first line start at or after its range
 * start and reads on past its range end to finish the line it is in. Every
 * line is read exactly once for any p. A file always starts a new line, even
 * when the previous file does not end with a newline.
 *
 * Lines. "\n" ends a line and a "\r" before it is dropped; the last line of a
 * file may lack its newline; empty lines are emitted. Reads are large
 * (1 MiB, grown for longer lines); the emitted flinc_line points into the
 * read buffer (valid during flinc_emit, as the API promises) - no copy and no
 * allocation per line.
 *
 * Checkpoints. The position is a set of "done" byte ranges in global
 * offsets: every line whose first byte is in a done range was emitted. A
 * subtask's own progress is [range start, next line start); ranges restored
 * from snapshots are kept and skipped while reading. Snapshots also carry
 * (file index, offset in file, lines emitted) of the next line for people and
 * logs. Because done ranges are global, a restore at another parallelism is
 * exact when the runtime hands a subtask the snapshots of all old subtasks
 * (union); at the same parallelism its own snapshot is enough. Snapshots of
 * an input whose total size or file count changed are refused.
 *
 * The input must not change while a job reads it: all subtasks (on any task
 * manager) must see the same files with the same sizes, so in a cluster the
 * path must be on storage every task manager sees.
 *
 * Threads: each instance belongs to its subtask's thread.
 */
#include <flinc/flinc.h>

#include "connectors.h"
#include "kafka.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define READ_BUF_SIZE (1u << 20)         /* first read buffer: 1 MiB */
#define LINE_MAX_BYTES ((size_t)1 << 30) /* longer lines fail the task */
#define SNAPSHOT_VERSION 1

/* Build-time configuration, the node's arg (from flinc_env_alloc). */
typedef struct fsrc_conf {
	double rate; /* lines/s over all subtasks, 0 = unthrottled */
	char path[]; /* NUL-terminated */
} fsrc_conf;

typedef struct fsrc_file {
	char *path;    /* malloc'ed at open */
	uint64_t size; /* as listed at open */
	uint64_t base; /* global offset of its first byte */
} fsrc_file;

typedef struct span {
	uint64_t a, b; /* [a, b) in global offsets */
} span;

/* A simple per-subtask rate limiter: rate/p records per second, checked once
 * per run() call, never more than one second of catch-up after a stall. */
typedef struct fsrc {
	const fsrc_conf *conf;
	fsrc_file *files;
	size_t nfiles;
	uint64_t total;
	uint64_t start, end; /* this subtask's range */

	/* reading position: files[cur], buf[0] is at file offset buf_off */
	size_t cur;
	int fd;       /* of files[cur] when fd_open */
	bool fd_open; /* (the local starts zeroed: fd 0 is not ours) */
	char *buf;
	size_t cap, len, pos, scan; /* scan: bytes from pos already searched for '\n' */
	uint64_t buf_off;
	bool started, finished;
	uint64_t lines; /* emitted, including those before a restore */

	/* done ranges from restored snapshots, sorted and merged */
	span *done;
	size_t ndone, done_cap, done_i;
	bool restored;
	uint64_t restored_total, restored_nfiles;

	fl_pacer pace;
} fsrc;

/* ---- small helpers ---------------------------------------------------- */

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const fsrc_file *)a)->path, ((const fsrc_file *)b)->path);
}

static int cmp_span(const void *x, const void *y)
{
	const span *a = x, *b = y;
	return a->a < b->a ? -1 : a->a > b->a ? 1 : (a->b < b->b ? -1 : a->b > b->b);
}

/* Sort and merge overlapping or touching spans, drop empty ones. */
static size_t spans_normalize(span *s, size_t n)
{
	size_t k = 0;
	if (n == 0) return 0;
	qsort(s, n, sizeof *s, cmp_span);
	for (size_t i = 0; i < n; i++) {
		if (s[i].b <= s[i].a) continue;
		if (k > 0 && s[i].a <= s[k - 1].b) {
			if (s[i].b > s[k - 1].b) s[k - 1].b = s[i].b;
		} else {
			s[k++] = s[i];
		}
	}
	return k;
}

static int spans_add(span **s, size_t *n, size_t *cap, uint64_t a, uint64_t b)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		span *ns = realloc(*s, nc * sizeof *ns);
		if (!ns) return FLINC_ENOMEM;
		*s = ns;
		*cap = nc;
	}
	(*s)[(*n)++] = (span){ a, b };
	return FLINC_OK;
}

static void free_files(fsrc_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) free(f[i].path);
	free(f);
}

/* List the input: one file, or the sorted visible regular files of a
 * folder. On failure writes a message to err. */
static int list_input(const char *path, fsrc_file **out, size_t *nout, char *err, size_t errcap)
{
	struct stat st;
	fsrc_file *files = NULL;
	size_t n = 0, cap = 0;
	DIR *d = NULL;

	if (stat(path, &st) != 0) {
		snprintf(err, errcap, "input %s: %s", path, strerror(errno));
		return FLINC_ENOENT;
	}
	if (S_ISREG(st.st_mode)) {
		files = calloc(1, sizeof *files);
		if (!files || !(files[0].path = strdup(path))) goto oom;
		files[0].size = (uint64_t)st.st_size;
		*out = files;
		*nout = 1;
		return FLINC_OK;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errcap, "input %s: not a regular file or a folder", path);
		return FLINC_EINVAL;
	}
	if (!(d = opendir(path))) {
		snprintf(err, errcap, "input %s: %s", path, strerror(errno));
		return FLINC_EIO;
	}
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		if (de->d_name[0] == '.') continue;
		size_t plen = strlen(path) + 1 + strlen(de->d_name) + 1;
		char *full = malloc(plen);
		if (!full) goto oom;
		snprintf(full, plen, "%s/%s", path, de->d_name);
		if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
			/* vanished, a dangling link, a subfolder: not input */
			free(full);
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			fsrc_file *nf = realloc(files, nc * sizeof *nf);
			if (!nf) {
				free(full);
				goto oom;
			}
			files = nf;
			cap = nc;
		}
		files[n].path = full;
		files[n].size = (uint64_t)st.st_size;
		files[n].base = 0;
		n++;
	}
	if (errno) {
		snprintf(err, errcap, "input %s: %s", path, strerror(errno));
		closedir(d);
		free_files(files, n);
		return FLINC_EIO;
	}
	closedir(d);
	if (n) qsort(files, n, sizeof *files, cmp_path);
	*out = files;
	*nout = n;
	return FLINC_OK;
oom:
	if (d) closedir(d);
	free_files(files, n);
	snprintf(err, errcap, "input %s: out of memory listing files", path);
	return FLINC_ENOMEM;
}

/* ---- reading ---------------------------------------------------------- */

static void close_fd(fsrc *s)
{
	if (s->fd_open) close(s->fd);
	s->fd_open = false;
	s->fd = -1;
}

/* Position the reader at global offset g, which must be a line start (or
 * total: then the input is exhausted). */
static int seek_global(flinc_ctx *c, fsrc *s, uint64_t g)
{
	size_t k = 0;
	while (k < s->nfiles && (s->files[k].size == 0 || g >= s->files[k].base + s->files[k].size)) k++;
	s->len = s->pos = s->scan = 0;
	if (k >= s->nfiles) {
		close_fd(s);
		s->cur = s->nfiles;
		return FLINC_OK;
	}
	if (k != s->cur || !s->fd_open) {
		close_fd(s);
		s->fd = open(s->files[k].path, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			flinc_ctx_fail(c, "input %s: %s", s->files[k].path, strerror(errno));
			return FLINC_EIO;
		}
		s->fd_open = true;
#ifdef POSIX_FADV_SEQUENTIAL
		posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	}
	s->cur = k;
	s->buf_off = g < s->files[k].base ? 0 : g - s->files[k].base;
	return FLINC_OK;
}

static inline uint64_t next_global(const fsrc *s)
{
	if (s->cur >= s->nfiles) return s->total;
	return s->files[s->cur].base + s->buf_off + s->pos;
}

static inline bool at_file_end(const fsrc *s) { return s->buf_off + s->pos >= s->files[s->cur].size; }

/* Next line of the current file. Returns 1 with the line, 0 when the file
 * has no more bytes, or a negative error (the task has been failed). */
static int next_line(flinc_ctx *c, fsrc *s, const char **line, size_t *n)
{
	const fsrc_file *f = &s->files[s->cur];
	for (;;) {
		char *from = s->buf + s->pos;
		size_t avail = s->len - s->pos;
		char *nl = avail > s->scan ? memchr(from + s->scan, '\n', avail - s->scan) : NULL;
		if (nl) {
			*line = from;
			*n = (size_t)(nl - from);
			s->pos += *n + 1;
			s->scan = 0;
			if (*n && from[*n - 1] == '\r') (*n)--;
			return 1;
		}
		s->scan = avail;
		uint64_t rd = s->buf_off + s->len; /* file offset of the next read */
		if (rd >= f->size) {
			if (avail == 0) return 0;
			/* the last line, without newline */
			*line = from;
			*n = avail;
			s->pos = s->len;
			s->scan = 0;
			if (from[*n - 1] == '\r') (*n)--;
			return 1;
		}
		if (s->pos > 0) { /* keep the partial line, drop what was emitted */
			memmove(s->buf, from, avail);
			s->buf_off += s->pos;
			s->len = avail;
			s->pos = 0;
		}
		if (s->len == s->cap) {
			if (s->cap >= LINE_MAX_BYTES) {
				flinc_ctx_fail(c, "input %s: a line at byte %llu is longer than %zu bytes",
					       f->path, (unsigned long long)s->buf_off, LINE_MAX_BYTES);
				return FLINC_ERANGE;
			}
			char *nb = realloc(s->buf, s->cap * 2);
			if (!nb) {
				flinc_ctx_fail(c, "input %s: out of memory for a %zu-byte line", f->path,
					       s->cap * 2);
				return FLINC_ENOMEM;
			}
			s->buf = nb;
			s->cap *= 2;
		}
		uint64_t left = f->size - (s->buf_off + s->len);
		size_t want = s->cap - s->len;
		if ((uint64_t)want > left) want = (size_t)left;
		ssize_t r = pread(s->fd, s->buf + s->len, want, (off_t)(s->buf_off + s->len));
		if (r < 0) {
			if (errno == EINTR) continue;
			flinc_ctx_fail(c, "input %s: %s", f->path, strerror(errno));
			return FLINC_EIO;
		}
		if (r == 0) {
			flinc_ctx_fail(c, "input %s: the file shrank while being read (was %llu bytes)",
				       f->path, (unsigned long long)f->size);
			return FLINC_EIO;
		}
		s->len += (size_t)r;
	}
}

/* Move to the first line start at or after the range start. */
static int align_start(flinc_ctx *c, fsrc *s)
{
	uint64_t g = s->start;
	size_t k = 0;
	while (k < s->nfiles && (s->files[k].size == 0 || g >= s->files[k].base + s->files[k].size)) k++;
	if (k >= s->nfiles || g == s->files[k].base) return seek_global(c, s, g);
	/* Mid-file: read from the byte before and drop everything through the
	 * first newline. If that byte is '\n' this drops an empty piece and
	 * leaves us at g exactly. */
	int rc = seek_global(c, s, g - 1);
	if (rc) return rc;
	const char *l;
	size_t n;
	rc = next_line(c, s, &l, &n);
	return rc < 0 ? rc : FLINC_OK;
}

/* ---- the source function ---------------------------------------------- */

static int fsrc_open(flinc_ctx *c, void *local)
{
	fsrc *s = local;
	const fsrc_conf *conf = flinc_ctx_arg(c);
	char err[512];
	int p = flinc_ctx_parallelism(c), i = flinc_ctx_subtask(c);

	/* restore may have run before open: keep what it set */
	s->conf = conf;
	int rc = list_input(conf->path, &s->files, &s->nfiles, err, sizeof err);
	if (rc) {
		flinc_ctx_fail(c, "%s", err);
		return rc;
	}
	uint64_t base = 0;
	for (size_t k = 0; k < s->nfiles; k++) {
		s->files[k].base = base;
		base += s->files[k].size;
	}
	s->total = base;
	s->start = (uint64_t)((unsigned __int128)s->total * (unsigned)i / (unsigned)p);
	s->end = (uint64_t)((unsigned __int128)s->total * (unsigned)(i + 1) / (unsigned)p);
	s->pace.per_sec = conf->rate > 0 ? conf->rate / p : 0;
	s->cap = READ_BUF_SIZE;
	if (!(s->buf = malloc(s->cap))) {
		flinc_ctx_fail(c, "input %s: out of memory for the read buffer", conf->path);
		return FLINC_ENOMEM;
	}
	return FLINC_OK;
}

static int start_reading(flinc_ctx *c, fsrc *s)
{
	if (s->restored && (s->restored_total != s->total || s->restored_nfiles != s->nfiles)) {
		flinc_ctx_fail(
			c,
			"input %s changed since the checkpoint: %llu bytes in %llu files then, %llu bytes in "
			"%zu files now",
			s->conf->path, (unsigned long long)s->restored_total,
			(unsigned long long)s->restored_nfiles, (unsigned long long)s->total, s->nfiles);
		return FLINC_EINVAL;
	}
	s->ndone = spans_normalize(s->done, s->ndone);
	s->done_i = 0;
	s->started = true;
	return align_start(c, s);
}

static int fsrc_run(flinc_ctx *c, void *local, uint32_t budget)
{
	fsrc *s = local;
	int rc;

	if (s->finished) return FLINC_SOURCE_END;
	if (!s->started && (rc = start_reading(c, s))) return rc;
	int quota = fl_pacer_quota(&s->pace, budget);
	if (quota == 0) return FLINC_SOURCE_IDLE;

	int sent = 0;
	while (sent < quota) {
		if (s->cur >= s->nfiles) break;
		if (at_file_end(s)) {
			if ((rc = seek_global(c, s, s->files[s->cur].base + s->files[s->cur].size)))
				return rc;
			continue;
		}
		uint64_t g = next_global(s);
		if (g >= s->end) break;
		while (s->done_i < s->ndone && s->done[s->done_i].b <= g) s->done_i++;
		if (s->done_i < s->ndone && s->done[s->done_i].a <= g) {
			/* emitted before the restore: a done range ends at a line start */
			if ((rc = seek_global(c, s, s->done[s->done_i].b))) return rc;
			continue;
		}
		flinc_line line;
		size_t n;
		rc = next_line(c, s, &line.s, &n);
		if (rc < 0) return rc;
		if (rc == 0) continue; /* at_file_end handles it */
		if (n > UINT32_MAX) {
			flinc_ctx_fail(c, "input %s: a line is longer than 4 GiB", s->files[s->cur].path);
			return FLINC_ERANGE;
		}
		line.len = (uint32_t)n;
		fl_src_at_file(c, s->files[s->cur].path, s->buf_off + (uint64_t)(line.s - s->buf), line.s, n);
		flinc_emit(c, &line);
		s->lines++;
		sent++;
	}
	s->pace.sent += sent;
	if (sent < quota) {
		s->finished = true;
		close_fd(s);
		return FLINC_SOURCE_END;
	}
	return FLINC_SOURCE_MORE;
}

/*
 * Snapshot: a msgpack map
 *   v: 1, total: bytes, files: count, subtask, parallelism,
 *   file: index of the next line's file, offset: its offset there,
 *   lines: lines this split emitted,
 *   done: [a0, b0, a1, b1, ...] global byte ranges already emitted.
 */
static int fsrc_snapshot(flinc_ctx *c, void *local, flinc_writer *w)
{
	fsrc *s = local;
	uint64_t pos = s->started ? next_global(s) : s->start;
	uint64_t file = s->cur, offset = s->cur < s->nfiles ? s->buf_off + s->pos : 0;
	if (!s->started) {
		file = 0;
		offset = 0;
	}

	/* own progress plus every restored range */
	size_t n = 0;
	for (size_t k = 0; k < s->ndone; k++) n += s->done[k].b > s->done[k].a;
	bool own = pos > s->start;

	flinc_w_map(w, 9);
	flinc_w_cstr(w, "v");
	flinc_w_uint(w, SNAPSHOT_VERSION);
	flinc_w_cstr(w, "total");
	flinc_w_uint(w, s->total);
	flinc_w_cstr(w, "files");
	flinc_w_uint(w, s->nfiles);
	flinc_w_cstr(w, "subtask");
	flinc_w_uint(w, (uint64_t)flinc_ctx_subtask(c));
	flinc_w_cstr(w, "parallelism");
	flinc_w_uint(w, (uint64_t)flinc_ctx_parallelism(c));
	flinc_w_cstr(w, "file");
	flinc_w_uint(w, file);
	flinc_w_cstr(w, "offset");
	flinc_w_uint(w, offset);
	flinc_w_cstr(w, "lines");
	flinc_w_uint(w, s->lines);
	flinc_w_cstr(w, "done");
	flinc_w_array(w, (uint32_t)(2 * (n + (own ? 1 : 0))));
	if (own) {
		flinc_w_uint(w, s->start);
		flinc_w_uint(w, pos);
	}
	for (size_t k = 0; k < s->ndone; k++) {
		if (s->done[k].b <= s->done[k].a) continue;
		flinc_w_uint(w, s->done[k].a);
		flinc_w_uint(w, s->done[k].b);
	}
	return w->err ? FLINC_ERANGE : FLINC_OK;
}

/* May be called before or after open, and more than once (the snapshots of
 * several old subtasks after a rescale): done ranges accumulate. */
static int fsrc_restore(flinc_ctx *c, void *local, flinc_reader *r)
{
	fsrc *s = local;
	uint64_t total = 0, nfiles = 0, lines = 0, v = 0;
	int64_t subtask = -1, par = -1;
	uint32_t nkeys = flinc_r_map(r);
	for (uint32_t k = 0; k < nkeys && !r->err; k++) {
		uint32_t kl;
		const char *key = flinc_r_str(r, &kl);
#define KEY_IS(lit) (kl == sizeof(lit) - 1 && memcmp(key, lit, kl) == 0)
		if (KEY_IS("v")) {
			v = flinc_r_uint(r);
		} else if (KEY_IS("total")) {
			total = flinc_r_uint(r);
		} else if (KEY_IS("files")) {
			nfiles = flinc_r_uint(r);
		} else if (KEY_IS("subtask")) {
			subtask = flinc_r_int(r);
		} else if (KEY_IS("parallelism")) {
			par = flinc_r_int(r);
		} else if (KEY_IS("lines")) {
			lines = flinc_r_uint(r);
		} else if (KEY_IS("done")) {
			uint32_t m = flinc_r_array(r);
			if (m % 2) r->err = 1;
			for (uint32_t j = 0; j + 1 < m && !r->err; j += 2) {
				uint64_t a = flinc_r_uint(r), b = flinc_r_uint(r);
				if (spans_add(&s->done, &s->ndone, &s->done_cap, a, b)) {
					flinc_ctx_fail(c, "file source: out of memory restoring");
					return FLINC_ENOMEM;
				}
			}
		} else if (flinc_r_skip(r) != 0) { /* file, offset, or a newer field */
			r->err = 1;
		}
#undef KEY_IS
	}
	if (r->err || v != SNAPSHOT_VERSION) {
		flinc_ctx_fail(c,
			       "file source: cannot read its checkpointed position (snapshot version %llu)",
			       (unsigned long long)v);
		return FLINC_ECODEC;
	}
	if (s->restored && (total != s->restored_total || nfiles != s->restored_nfiles)) {
		flinc_ctx_fail(c, "file source: restored positions disagree about the input's size");
		return FLINC_ECODEC;
	}
	/* merge now: repeated restores of unions must not multiply the list */
	s->ndone = spans_normalize(s->done, s->ndone);
	s->restored = true;
	s->restored_total = total;
	s->restored_nfiles = nfiles;
	if (subtask == flinc_ctx_subtask(c) && par == flinc_ctx_parallelism(c)) s->lines = lines;
	s->started = false;
	s->finished = false;
	return FLINC_OK;
}

static void fsrc_close(flinc_ctx *c, void *local)
{
	(void)c;
	fsrc *s = local;
	close_fd(s);
	free_files(s->files, s->nfiles);
	free(s->buf);
	free(s->done);
	s->files = NULL;
	s->nfiles = 0;
	s->buf = NULL;
	s->done = NULL;
	s->ndone = s->done_cap = 0;
}

static const flinc_source_fn file_source_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(fsrc),
	.open = fsrc_open,
	.run = fsrc_run,
	.snapshot = fsrc_snapshot,
	.restore = fsrc_restore,
	.close = fsrc_close,
};

/* ---- builders ---------------------------------------------------------- */

/* A stream that stands for nothing after an error was recorded in e. */
static flinc_stream *failed_stream(flinc_env *e, const char *name)
{
	return flinc_source(e, name, &file_source_fn, NULL, &flinc_type_line);
}

FLINC_API flinc_stream *flinc_file_source(flinc_env *e, const char *name, const char *path, double rate)
{
	if (!name || !*name) name = "file source";
	if (!path || !*path) {
		flinc_env_fail(e, "%s: no input path given", name);
		return failed_stream(e, name);
	}
	if (!(rate >= 0) || isinf(rate)) {
		flinc_env_fail(e, "%s: rate %g is not a number of lines per second >= 0", name, rate);
		return failed_stream(e, name);
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		flinc_env_fail(e, "input %s: %s", path, strerror(errno));
		return failed_stream(e, name);
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		flinc_env_fail(e, "input %s: not a regular file or a folder", path);
		return failed_stream(e, name);
	}
	size_t plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/') plen--; /* "dir/" lists as "dir/x", not "dir//x" */
	fsrc_conf *conf = flinc_env_alloc(e, sizeof *conf + plen + 1);
	if (!conf) {
		flinc_env_fail(e, "%s: out of memory", name);
		return failed_stream(e, name);
	}
	conf->rate = rate;
	memcpy(conf->path, path, plen);
	conf->path[plen] = 0;
	return flinc_source(e, name, &file_source_fn, conf, &flinc_type_line);
}

FLINC_API flinc_stream *flinc_lines_from(flinc_env *e, const char *name, const char *address, double rate)
{
	if (!name || !*name) name = "source";
	if (!address || !*address) {
		flinc_env_fail(e, "no input given (--input PATH)");
		return failed_stream(e, name);
	}
	if (strncmp(address, "kafka://", 8) == 0) {
		if (!(rate >= 0) || isinf(rate)) {
			flinc_env_fail(e, "%s: rate %g is not a number of lines per second >= 0", name, rate);
			return failed_stream(e, name);
		}
		return fl_kafka_lines_from(e, name, address, rate);
	}
	if (strncmp(address, "datagen:", 8) == 0) {
		if (!(rate >= 0) || isinf(rate)) {
			flinc_env_fail(e, "%s: rate %g is not a number of lines per second >= 0", name, rate);
			return failed_stream(e, name);
		}
		return fl_seed_lines_from(e, name, address, rate);
	}
	if (strcmp(address, "datagen") == 0) {
		flinc_env_fail(e,
			       "input %s: this job has no built-in generator; give a file or folder path "
			       "(or datagen:transactions, datagen:user-events, datagen:iot)",
			       address);
		return failed_stream(e, name);
	}
	return flinc_file_source(e, name, address, rate);
}

FLINC_API const char *flinc_input_address(flinc_env *e, const char *input, const char *mode)
{
	if (!input || strcmp(input, "datagen") != 0) return input;
	const char *count = flinc_arg(e, "count", NULL), *seed = flinc_arg(e, "seed", NULL);
	size_t cap = strlen(mode) + (count ? strlen(count) : 0) + (seed ? strlen(seed) : 0) + 32;
	char *a = flinc_env_alloc(e, cap);
	if (!a) {
		flinc_env_fail(e, "input datagen: out of memory");
		return input;
	}
	snprintf(a, cap, "datagen:%s%s%s%s%s%s", mode, count || seed ? "?" : "", count ? "count=" : "",
		 count ? count : "", count && seed ? "&" : "", seed ? "seed=" : "");
	if (seed) strcat(a, seed);
	return a;
}
