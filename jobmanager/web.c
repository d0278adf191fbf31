/* web.c - the web UI's built files (web.h). */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/error.h>

#include "fl_base.h"

struct jm_web {
	int dirfd;
	char *dir;
};

/* Content types by extension; a name with another is refused. */
static const struct {
	const char *ext, *ctype;
} types[] = {
	{ ".html", "text/html; charset=UTF-8" },
	{ ".js", "text/javascript; charset=UTF-8" },
	{ ".css", "text/css; charset=UTF-8" },
	{ ".map", "application/json; charset=UTF-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".woff2", "font/woff2" },
};

static const char *ctype_of(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && !strcmp(name + n - e, types[i].ext)) return types[i].ctype;
	}
	return NULL;
}

bool jm_web_name_ok(const char *name)
{
	if (!name || !*name || name[0] == '.' || strlen(name) > 128) return false;
	for (const char *p = name; *p; p++) {
		char ch = *p;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			ch == '.' || ch == '-' || ch == '_';
		if (!ok) return false;
	}
	return strstr(name, "..") == NULL && ctype_of(name) != NULL;
}

jm_web *jm_web_open(const char *dir, char *why, size_t whycap)
{
	if (!dir || !*dir) {
		snprintf(why, whycap, "no web.dir");
		return NULL;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whycap, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstatat(fd, "index.html", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whycap, "%s has no index.html", dir);
		close(fd);
		return NULL;
	}
	jm_web *w = fl_calloc(1, sizeof *w);
	w->dirfd = fd;
	w->dir = fl_strdup(dir);
	return w;
}

void jm_web_close(jm_web *w)
{
	if (!w) return;
	close(w->dirfd);
	free(w->dir);
	free(w);
}

const char *jm_web_dir(const jm_web *w) { return w->dir; }

int jm_web_read(const jm_web *w, const char *name, char **body, size_t *len, const char **ctype)
{
	if (!w || !jm_web_name_ok(name)) return FLINC_ENOENT;
	int fd = openat(w->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) return errno == ENOENT || errno == ELOOP ? FLINC_ENOENT : FLINC_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > JM_WEB_FILE_MAX) {
		close(fd);
		return FLINC_ENOENT;
	}
	size_t n = (size_t)st.st_size, got = 0;
	char *b = fl_malloc(n + 1);
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR) continue;
		if (r <= 0) break;
		got += (size_t)r;
	}
	close(fd);
	if (got != n) {
		free(b);
		return FLINC_EIO;
	}
	b[n] = 0;
	*body = b;
	*len = n;
	*ctype = ctype_of(name);
	return FLINC_OK;
}
