/* plugin.c - check a job plugin's ELF headers, dlopen it and check its entry. */
#include "fl_runtime.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
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

/* ---- the ELF check ------------------------------------------------------- */

/* This process's ELF identity: what a plugin it loads must be. */
#define HOST_CLASS (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32)
#define HOST_DATA (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB)
#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#elif defined(__i386__)
#define HOST_MACHINE EM_386
#elif defined(__arm__)
#define HOST_MACHINE EM_ARM
#elif defined(__riscv)
#define HOST_MACHINE EM_RISCV
#elif defined(__powerpc64__)
#define HOST_MACHINE EM_PPC64
#elif defined(__s390x__)
#define HOST_MACHINE EM_S390
#else
#define HOST_MACHINE EM_NONE /* not checked here; dlopen still refuses */
#endif

#define PHDR_MAX 4096 /* program headers read; a real plugin has about ten */

/* A machine's name for messages ("e_machine 1234" for the rare ones). */
static const char *machine_name(unsigned m, char *buf, size_t cap)
{
	static const struct {
		unsigned m;
		const char *name;
	} names[] = {
		{ EM_X86_64, "x86-64" },    { EM_386, "x86 (i386)" },    { EM_AARCH64, "AArch64 (arm64)" },
		{ EM_ARM, "ARM (32-bit)" }, { EM_RISCV, "RISC-V" },      { EM_PPC64, "PowerPC 64" },
		{ EM_PPC, "PowerPC" },      { EM_S390, "IBM Z (s390)" }, { EM_MIPS, "MIPS" },
		{ EM_SPARCV9, "SPARC V9" }, { 258, "LoongArch" },
	};
	for (size_t i = 0; i < FL_ARRAY_LEN(names); i++)
		if (names[i].m == m) return names[i].name;
	snprintf(buf, cap, "e_machine %u", m);
	return buf;
}

/* "an executable", "an object file (.o)", ...: an ELF type that is not a
 * shared object, for messages. */
static const char *type_name(unsigned t)
{
	switch (t) {
	case ET_EXEC: return "an executable";
	case ET_REL: return "an object file (.o)";
	case ET_CORE: return "a core dump";
	default: return "an ELF file of an unknown type";
	}
}

/* *need = max(*need, off + n * size); false when that overflows. */
static bool extent(uint64_t *need, uint64_t off, uint64_t n, uint64_t size)
{
	uint64_t len, end;
	if (__builtin_mul_overflow(n, size, &len) || __builtin_add_overflow(off, len, &end)) return false;
	if (end > *need) *need = end;
	return true;
}

/* pread exactly n bytes at off (fl_pread_all); false with errno set. */
static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
	int rc = fl_pread_all(fd, buf, n, off);
	if (rc == 1)
		errno = EIO; /* the file shrank under us */
	else if (rc < 0)
		errno = -rc;
	return rc == 0;
}

/* The headers of an ELF file of this machine's class (fd at offset 0,
 * size bytes): the tables and loadable segments must lie inside it. */
static int check_tables(int fd, const char *path, uint64_t size, const ElfW(Ehdr) * eh, char *err,
			size_t errcap)
{
	if (eh->e_phnum == 0)
		return fl_errf(err, errcap, FLINC_EPLUGIN,
			       "%s: not a job plugin (an ELF file without program headers cannot be loaded)",
			       path);
	if (eh->e_phnum > PHDR_MAX)
		return fl_errf(err, errcap, FLINC_EPLUGIN,
			       "%s: not a job plugin (malformed ELF header: %u program headers)", path,
			       eh->e_phnum);
	if (eh->e_phentsize != sizeof(ElfW(Phdr)) || (eh->e_shnum && eh->e_shentsize != sizeof(ElfW(Shdr))))
		return fl_errf(
			err, errcap, FLINC_EPLUGIN,
			"%s: not a job plugin (malformed ELF header: table entries of %u and %u bytes)", path,
			eh->e_phentsize, eh->e_shentsize);
	uint64_t need = sizeof(ElfW(Ehdr));
	bool ok = extent(&need, eh->e_phoff, eh->e_phnum, sizeof(ElfW(Phdr)));
	if (ok && eh->e_shoff)
		ok = extent(&need, eh->e_shoff, eh->e_shnum ? eh->e_shnum : 1, sizeof(ElfW(Shdr)));
	/* Where the program headers are in the file, the segments they map
	 * must be too: dlopen maps them, and a page past the end of the file
	 * faults (SIGBUS) when the loader touches it. */
	if (ok && need <= size) {
		ElfW(Phdr) ph[64];
		for (unsigned i = 0; ok && i < eh->e_phnum; i += 64) {
			unsigned n = FL_MIN(64u, (unsigned)eh->e_phnum - i);
			if (!read_at(fd, ph, n * sizeof ph[0], eh->e_phoff + (uint64_t)i * sizeof ph[0]))
				return fl_errf(err, errcap, FLINC_EPLUGIN,
					       "%s: cannot read its program headers: %s", path,
					       strerror(errno));
			for (unsigned k = 0; ok && k < n; k++)
				if (ph[k].p_type == PT_LOAD || ph[k].p_type == PT_DYNAMIC ||
				    ph[k].p_type == PT_INTERP || ph[k].p_type == PT_NOTE)
					ok = extent(&need, ph[k].p_offset, 1, ph[k].p_filesz);
		}
	}
	if (!ok)
		return fl_errf(err, errcap, FLINC_EPLUGIN,
			       "%s: not a job plugin (malformed ELF header: offsets past 2^64)", path);
	if (need > size)
		return fl_errf(err, errcap, FLINC_EPLUGIN,
			       "%s: truncated (%llu bytes, the ELF header says at least %llu)", path,
			       (unsigned long long)size, (unsigned long long)need);
	return FLINC_OK;
}

int fl_plugin_check_elf(const char *path, char *err, size_t errcap)
{
	/* O_NONBLOCK: a FIFO put where a plugin was expected must not block
	 * the open; it is refused below as not a regular file. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) return fl_errf(err, errcap, FLINC_ENOENT, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc = FLINC_OK;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: not a job plugin (not a regular file)", path);
		goto done;
	}
	uint64_t size = (uint64_t)st.st_size;
	unsigned char id[sizeof(ElfW(Ehdr))] = { 0 };
	size_t have = (size_t)FL_MIN(size, (uint64_t)sizeof id);
	if (!read_at(fd, id, have, 0)) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: cannot read it: %s", path, strerror(errno));
		goto done;
	}
	if (have < SELFMAG || memcmp(id, ELFMAG, SELFMAG) != 0) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: not a job plugin (not an ELF shared object)",
			     path);
		goto done;
	}
	if (have < EI_NIDENT + 4) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: truncated (%llu bytes, an ELF header is %zu)",
			     path, (unsigned long long)size, sizeof(ElfW(Ehdr)));
		goto done;
	}
	/* e_type and e_machine sit at the same place in both classes. */
	uint16_t type, machine;
	memcpy(&type, id + EI_NIDENT, 2);
	memcpy(&machine, id + EI_NIDENT + 2, 2);
	char b1[32], b2[32];
	if (id[EI_DATA] != HOST_DATA) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: wrong architecture: a %s ELF file, this flinc is %s", path,
			     id[EI_DATA] == ELFDATA2MSB ? "big-endian" : "little-endian or malformed",
			     HOST_DATA == ELFDATA2LSB ? "little-endian" : "big-endian");
	} else if (id[EI_CLASS] != HOST_CLASS || (HOST_MACHINE != EM_NONE && machine != HOST_MACHINE)) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: wrong architecture: built for %s (%s), this flinc runs on %s (%s)", path,
			     machine_name(machine, b1, sizeof b1),
			     id[EI_CLASS] == ELFCLASS64           ? "64-bit"
				     : id[EI_CLASS] == ELFCLASS32 ? "32-bit"
								  : "unknown class",
			     machine_name(HOST_MACHINE, b2, sizeof b2),
			     HOST_CLASS == ELFCLASS64 ? "64-bit" : "32-bit");
	} else if (type != ET_DYN) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN,
			     "%s: not a job plugin (%s, not a shared object: build it with -shared)", path,
			     type_name(type));
	} else if (size < sizeof(ElfW(Ehdr))) {
		rc = fl_errf(err, errcap, FLINC_EPLUGIN, "%s: truncated (%llu bytes, an ELF header is %zu)",
			     path, (unsigned long long)size, sizeof(ElfW(Ehdr)));
	} else {
		ElfW(Ehdr) eh;
		memcpy(&eh, id, sizeof eh);
		rc = check_tables(fd, path, size, &eh, err, errcap);
	}
done:
	close(fd);
	return rc;
}

/* ---- loading ---------------------------------------------------------------- */

int fl_plugin_open(const char *path, fl_plugin **out, char *err, size_t errcap)
{
	*out = NULL;
	int rc = fl_plugin_check_elf(path, err, errcap);
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
	/* Every version up to ours loads (the host API only grows); a newer
	 * one needs a newer flinc. */
	if (entry->abi_version < 1 || entry->abi_version > FLINC_ABI_VERSION) {
		if (entry->abi_version < 1)
			snprintf(err, errcap,
				 "%s: job ABI version %u is not a valid version: rebuild the job", path,
				 entry->abi_version);
		else
			snprintf(
				err, errcap,
				"%s: built for job ABI version %u, this flinc runs ABI version %u: rebuild the job "
				"against this flinc (or upgrade flinc)",
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
