/*
 * chk_helpers.h - what the unit tests that crash and restore jobs share:
 * the newest completed checkpoint under a checkpoint folder, and removing
 * a test's folder. Static: each test includes it once (after cmocka.h).
 */
#ifndef FLINC_TEST_CHK_HELPERS_H
#define FLINC_TEST_CHK_HELPERS_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static void rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

/* The newest chk-<n> folder with a _metadata under dir/<job id>/. */
static bool newest_checkpoint(const char *dir, char *found, size_t cap)
{
	long best = -1;
	DIR *d = opendir(dir);
	if (!d) return false;
	struct dirent *je;
	while ((je = readdir(d))) {
		if (je->d_name[0] == '.') continue;
		char jdir[600];
		snprintf(jdir, sizeof jdir, "%s/%s", dir, je->d_name);
		DIR *d2 = opendir(jdir);
		if (!d2) continue;
		struct dirent *ce;
		while ((ce = readdir(d2))) {
			long n;
			if (sscanf(ce->d_name, "chk-%ld", &n) != 1) continue;
			char meta[900];
			struct stat sb;
			snprintf(meta, sizeof meta, "%s/%s/_metadata", jdir, ce->d_name);
			if (stat(meta, &sb) == 0 && n > best) {
				best = n;
				snprintf(found, cap, "%s/%s", jdir, ce->d_name);
			}
		}
		closedir(d2);
	}
	closedir(d);
	return best >= 0;
}

#endif
