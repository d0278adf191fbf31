/*
 * web_test.c - the web UI's static files (jobmanager/web.c): which names
 * are served, and that nothing outside the built folder is reachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <flinc/error.h>

#include "web.h"

static char dir[] = "/tmp/flinc-web-test-XXXXXX";

static void put(const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir)) return -1;
	put("index.html", "<!DOCTYPE html><div id=\"app\"></div>");
	put("app-ABC123.js", "console.log(1)");
	put("notes.txt", "not served");
	char p[512];
	snprintf(p, sizeof p, "%s/evil.js", dir);
	if (symlink("/etc/passwd", p) != 0) return -1;
	snprintf(p, sizeof p, "%s/sub.css", dir);
	if (mkdir(p, 0700) != 0) return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void names(void **state)
{
	(void)state;
	assert_true(jm_web_name_ok("index.html"));
	assert_true(jm_web_name_ok("app-ABC123.js"));
	assert_true(jm_web_name_ok("app-X.css.map"));
	const char *bad[] = { "",        ".",       "..",    "../index.html", "%2e%2e",       ".hidden.js",
			      "a/b.js",  "a\\b.js", "x..js", "notes.txt",     "index.html\n", "a b.js",
			      "app.exe", NULL };
	for (int i = 0; bad[i]; i++) assert_false(jm_web_name_ok(bad[i]));
	assert_false(jm_web_name_ok(NULL));
	char longname[200];
	memset(longname, 'a', sizeof longname);
	strcpy(longname + sizeof longname - 4, ".js");
	assert_false(jm_web_name_ok(longname));
}

static void reads(void **state)
{
	(void)state;
	char why[256];
	jm_web *w = jm_web_open(dir, why, sizeof why);
	assert_non_null(w);
	char *body;
	size_t len;
	const char *ct;
	assert_int_equal(jm_web_read(w, "app-ABC123.js", &body, &len, &ct), FLINC_OK);
	assert_int_equal(len, strlen("console.log(1)"));
	assert_string_equal(body, "console.log(1)");
	assert_non_null(strstr(ct, "javascript"));
	free(body);
	/* a link out of the folder, a folder, an unknown type, traversal, absent */
	const char *refused[] = {
		"evil.js", "sub.css", "notes.txt", "../etc/passwd", "..", "nothere.js", NULL
	};
	for (int i = 0; refused[i]; i++)
		assert_int_equal(jm_web_read(w, refused[i], &body, &len, &ct), FLINC_ENOENT);
	jm_web_close(w);
	assert_int_equal(jm_web_read(NULL, "index.html", &body, &len, &ct), FLINC_ENOENT);
}

static void not_built(void **state)
{
	(void)state;
	char why[256];
	assert_null(jm_web_open("/nonexistent/flinc-web", why, sizeof why));
	assert_non_null(strstr(why, "/nonexistent/flinc-web"));
	assert_null(jm_web_open("/tmp", why, sizeof why)); /* no index.html */
	assert_non_null(strstr(why, "index.html"));
	assert_null(jm_web_open(NULL, why, sizeof why));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(reads),
		cmocka_unit_test(not_built),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
