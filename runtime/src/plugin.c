/* plugin.c - dlopen a job plugin and check its entry. */
#include "fl_runtime.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct fl_plugin {
	void *handle;
	const flinc_plugin *entry;
	char *path;
};

/* A file that is not an ELF shared object gets a clearer message than
 * dlerror's "invalid ELF header". */
static int check_elf(const char *path, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errcap, "%s: %s", path, strerror(errno));
		return FLINC_ENOENT;
	}
	struct stat st;
	unsigned char magic[4] = { 0 };
	ssize_t n = (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) ? read(fd, magic, 4) : -1;
	close(fd);
	if (n < 0) {
		snprintf(err, errcap, "%s: not a regular file", path);
		return FLINC_EPLUGIN;
	}
	if (n != 4 ||
	    memcmp(magic,
		   "\x7f"
		   "ELF",
		   4) != 0) {
		snprintf(err, errcap, "%s: not a job plugin (not an ELF shared object)", path);
		return FLINC_EPLUGIN;
	}
	return FLINC_OK;
}

int fl_plugin_open(const char *path, fl_plugin **out, char *err, size_t errcap)
{
	*out = NULL;
	int rc = check_elf(path, err, errcap);
	if (rc) return rc;
	/* dlopen needs a slash to not search the library path. */
	char *p = strchr(path, '/') ? fl_strdup(path) : fl_asprintf("./%s", path);
	void *h = dlopen(p, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		/* dlerror repeats the path: keep only the reason. */
		const char *why = dlerror();
		size_t plen = strlen(p);
		if (why && strncmp(why, p, plen) == 0 && why[plen] == ':') why += plen + 1;
		while (why && *why == ' ') why++;
		snprintf(err, errcap, "%s: cannot load: %s", path, why ? why : "unknown error");
		free(p);
		return FLINC_EPLUGIN;
	}
	const flinc_plugin *entry = dlsym(h, FLINC_PLUGIN_SYMBOL);
	if (!entry) {
		snprintf(err, errcap,
			 "%s: not a flinc job: no '%s' symbol (declare the job with FLINC_PLUGIN)", path,
			 FLINC_PLUGIN_SYMBOL);
		goto fail;
	}
	if (entry->abi_version != FLINC_ABI_VERSION) {
		snprintf(err, errcap,
			 "%s: built for job ABI version %u, this flinc runs ABI version %u: rebuild the job",
			 path, entry->abi_version, FLINC_ABI_VERSION);
		goto fail;
	}
	if (!entry->build) {
		snprintf(err, errcap, "%s: the plugin entry has no build function", path);
		goto fail;
	}
	fl_plugin *pl = fl_calloc(1, sizeof(*pl));
	pl->handle = h;
	pl->entry = entry;
	pl->path = p;
	*out = pl;
	return FLINC_OK;
fail:
	dlclose(h);
	free(p);
	return FLINC_EPLUGIN;
}

void fl_plugin_close(fl_plugin *p)
{
	if (!p) return;
	dlclose(p->handle);
	free(p->path);
	free(p);
}

const flinc_plugin *fl_plugin_entry(const fl_plugin *p) { return p->entry; }
const char *fl_plugin_path(const fl_plugin *p) { return p->path; }
