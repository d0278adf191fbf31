/*
 * stdout.c - the task manager's standard output, for GET
 * /taskmanagers/:id/stdout (Flink's "Stdout" tab).
 *
 * What a job prints (the `-` sink, a plugin's printf) goes to the task
 * manager's stdout. When that is a regular file (start-cluster.sh's
 * flinc-taskmanager-<i>.out, like Flink's .out file), every heartbeat
 * carries the lines appended since the last heartbeat the job manager took,
 * read back from the file through /proc/self/fd/1; the writers are never
 * slowed or redirected, and nothing is lost when the process dies. A
 * terminal or a pipe is not read (its bytes belong to whoever reads it).
 *
 * Threads: the session thread's own.
 */
#include "tm.h"

#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OUT_TAIL_BYTES (64 * 1024) /* of an existing file, at start */
#define OUT_HB_BYTES (32 * 1024)   /* per heartbeat */
#define OUT_HB_LINES 200           /* per heartbeat (the job manager takes no more) */

static int g_fd = -1;
static off_t g_off;     /* the next byte the job manager has not taken */
static bool g_mid_line; /* g_off may be inside a line: skip to the next */
static char g_path[PATH_MAX];

void tm_stdout_init(void)
{
	struct stat st;
	if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode)) return;
	ssize_t n = readlink("/proc/self/fd/1", g_path, sizeof g_path - 1);
	int fd = n > 0 ? open("/proc/self/fd/1", O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		g_path[0] = 0;
		return;
	}
	g_path[n] = 0;
	g_fd = fd;
	g_off = st.st_size > OUT_TAIL_BYTES ? st.st_size - OUT_TAIL_BYTES : 0;
	g_mid_line = g_off > 0;
}

const char *tm_stdout_file(void) { return g_path; }

off_t tm_stdout_collect(fl_strbuf *b)
{
	if (g_fd < 0) return 0;
	struct stat st;
	if (fstat(g_fd, &st) != 0) return g_off;
	if (st.st_size < g_off) { /* truncated (a rotated file): start again */
		g_off = 0;
		g_mid_line = false;
	}
	char buf[OUT_HB_BYTES];
	ssize_t n = pread(g_fd, buf, sizeof buf, g_off);
	if (n <= 0) return g_off;
	size_t start = 0;
	if (g_mid_line) {
		char *nl = memchr(buf, '\n', (size_t)n);
		if (!nl) { /* still inside that line: skip what there is of it */
			g_off += n;
			return g_off;
		}
		start = (size_t)(nl - buf) + 1;
	}
	/* Whole lines only, unless one line fills the buffer (then it is cut). */
	size_t end = start, lines = 0;
	for (size_t i = start; i < (size_t)n && lines < OUT_HB_LINES; i++)
		if (buf[i] == '\n') {
			end = i + 1;
			lines++;
		}
	if (end == start && (size_t)n == sizeof buf) end = (size_t)n;
	fl_sb_append(b, buf + start, end - start);
	if (end > start && buf[end - 1] != '\n') fl_sb_append(b, "\n", 1);
	return g_off + (off_t)end;
}

void tm_stdout_taken(off_t upto)
{
	if (g_fd < 0 || upto < g_off) return;
	if (upto > g_off) g_mid_line = false;
	g_off = upto;
}
