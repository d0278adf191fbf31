/*
 * print_sink.c - lines to standard output, and the sink that discards.
 *
 * Print: each subtask formats its records into its own 64 KiB buffer of
 * complete lines and hands whole buffers to write(2) on fd 1 under one
 * process-wide lock, so lines of different subtasks never interleave
 * mid-line, whatever stdout is (pipe, file, terminal). The buffer goes out
 * when full, at flush (checkpoint barriers, end of input) and close, and when
 * it has waited 200 ms (checked at the next record); on a terminal every line
 * goes out at once. Print is at-least-once: after a restart the records since
 * the last checkpoint are printed again.
 *
 * Discard: counts the records it gets (the runtime's records-in metric shows
 * them) and drops them.
 *
 * Threads: an instance belongs to its subtask's thread; only the write of a
 * full buffer takes the lock.
 */
#include <flinc/flinc.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PRINT_BUF_SIZE (64u << 10)
#define PRINT_MAX_DELAY_NS (200 * 1000000LL)

static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct print_conf {
	flinc_format_fn fmt;
} print_conf;

typedef struct psink {
	flinc_format_fn fmt;
	bool tty;
	char *buf;
	size_t blen, bcap;
	char *line; /* lines longer than the buffer */
	size_t lcap;
	int64_t first_ns; /* when the oldest buffered line came, coarse clock */
} psink;

static int64_t coarse_ns(void)
{
	struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO: no syscall */
#else
	clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One write(2) per call where the kernel allows; the lock keeps the pieces
 * of a partial write together. */
static int write_stdout(flinc_ctx *c, const char *p, size_t n)
{
	int rc = FLINC_OK;
	pthread_mutex_lock(&stdout_lock);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			flinc_ctx_fail(c, "stdout: %s", strerror(errno));
			rc = FLINC_EIO;
			break;
		}
		p += w;
		n -= (size_t)w;
	}
	pthread_mutex_unlock(&stdout_lock);
	return rc;
}

static int print_out(flinc_ctx *c, psink *s)
{
	if (s->blen == 0) return FLINC_OK;
	int rc = write_stdout(c, s->buf, s->blen);
	s->blen = 0;
	return rc;
}

static int print_open(flinc_ctx *c, void *local)
{
	psink *s = local;
	const print_conf *conf = flinc_ctx_arg(c);
	s->fmt = conf->fmt;
	s->tty = isatty(STDOUT_FILENO) == 1;
	s->bcap = PRINT_BUF_SIZE;
	if (!(s->buf = malloc(s->bcap))) {
		flinc_ctx_fail(c, "print: out of memory");
		return FLINC_ENOMEM;
	}
	return FLINC_OK;
}

static int print_write(flinc_ctx *c, void *local, const void *rec)
{
	psink *s = local;
	int rc;
	bool was_empty = s->blen == 0;
	size_t room = s->bcap - s->blen; /* >= 1: a full buffer goes out at once */
	size_t n = s->fmt(rec, s->buf + s->blen, room);
	if (n + 1 <= room) {
		s->buf[s->blen + n] = '\n';
		s->blen += n + 1;
	} else {
		if ((rc = print_out(c, s))) return rc;
		was_empty = true;
		if (n + 1 <= s->bcap && (n = s->fmt(rec, s->buf, s->bcap)) + 1 <= s->bcap) {
			s->buf[n] = '\n';
			s->blen = n + 1;
		} else {
			/* longer than the buffer: one line, one write */
			if (n + 2 > s->lcap) {
				char *nl = realloc(s->line, n + 2);
				if (!nl) {
					flinc_ctx_fail(c, "print: out of memory for a %zu-byte line", n);
					return FLINC_ENOMEM;
				}
				s->line = nl;
				s->lcap = n + 2;
			}
			size_t m = s->fmt(rec, s->line, s->lcap - 1);
			if (m >= s->lcap - 1) {
				flinc_ctx_fail(
					c,
					"print: the format function needs more room each time it is asked");
				return FLINC_EUSER;
			}
			s->line[m] = '\n';
			return write_stdout(c, s->line, m + 1);
		}
	}
	if (s->tty || s->blen == s->bcap) return print_out(c, s);
	int64_t now = coarse_ns();
	if (was_empty)
		s->first_ns = now;
	else if (now - s->first_ns >= PRINT_MAX_DELAY_NS)
		return print_out(c, s);
	return FLINC_OK;
}

static int print_flush(flinc_ctx *c, void *local, int64_t ckpt)
{
	(void)ckpt;
	return print_out(c, local);
}

static void print_close(flinc_ctx *c, void *local)
{
	psink *s = local;
	if (s->buf) print_out(c, s);
	free(s->buf);
	free(s->line);
	s->buf = s->line = NULL;
}

static const flinc_sink_fn print_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(psink),
	.open = print_open,
	.write = print_write,
	.flush = print_flush,
	.close = print_close,
};

/* ---- discard ------------------------------------------------------------- */

typedef struct dsink {
	uint64_t records;
} dsink;

static int discard_write(flinc_ctx *c, void *local, const void *rec)
{
	(void)c;
	(void)rec;
	((dsink *)local)->records++;
	return FLINC_OK;
}

static const flinc_sink_fn discard_sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(dsink),
	.write = discard_write,
};

/* ---- builders (address.c) --------------------------------------------------- */

int fl_print_sink_to(flinc_env *e, flinc_stream *in, const char *name, flinc_format_fn fmt)
{
	print_conf *conf = flinc_env_alloc(e, sizeof *conf);
	if (!conf) return flinc_env_fail(e, "%s: out of memory", name);
	conf->fmt = fmt;
	flinc_sink(in, name, &print_sink_fn, conf);
	return FLINC_OK;
}

int fl_discard_sink_to(flinc_env *e, flinc_stream *in, const char *name)
{
	(void)e;
	flinc_sink(in, name, &discard_sink_fn, NULL);
	return FLINC_OK;
}
