/*
 * chk_helpers.h - what the unit tests that run, crash and restore jobs in
 * their own process share: a run of a job (fl_local), the newest completed
 * checkpoint under a checkpoint folder, and removing a test's folder.
 * Static: each test includes it once, after cmocka.h and fl_runtime.h.
 */
#ifndef FLINC_TEST_CHK_HELPERS_H
#define FLINC_TEST_CHK_HELPERS_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Build the job with `build` and run it in this process: backend, no
 * automatic watermarks, checkpoints every 30 ms into chkdir when given,
 * restored from `restore` when given. The run's result (err says why not
 * FLINC_OK) and its figures in *st. */
static int run_local(const char *name, int (*build)(flinc_env *, int, char **), const char *backend, int par,
		     const char *chkdir, const char *restore, fl_run_stats *st, char *err, size_t cap)
{
	memset(st, 0, sizeof *st);
	fl_conf *conf = fl_conf_create();
	fl_conf_set(conf, "state.backend", backend);
	fl_conf_set(conf, "pipeline.auto-watermark-interval", "0");
	if (chkdir) {
		fl_conf_set(conf, "state.checkpoints.dir", chkdir);
		fl_conf_set(conf, "execution.checkpointing.interval", "30ms");
	}
	flinc_env *e = fl_env_create(name, conf, par);
	const char *msg = NULL;
	char *argv[] = { (char *)name, NULL };
	int rc = fl_env_build(e, build, 1, argv, &msg);
	if (rc != FLINC_OK) fail_msg("build: %s", msg ? msg : "?");
	fl_local_params lp = { .env = e, .conf = conf, .restore = restore };
	fl_local *job = NULL;
	rc = fl_local_create(&lp, &job, err, cap);
	if (rc == FLINC_OK) rc = fl_local_run(job, st, err, cap);
	fl_local_destroy(job);
	fl_env_destroy(e);
	fl_conf_destroy(conf);
	return rc;
}

#endif
