/*
 * conf_test.c - the configuration key table (base/fl_conf_keys.h): every
 * default passes its own check, the closest key of a typo, value checks at
 * their range boundaries, cluster keys refused in a job's configuration,
 * unknown keys as errors or (files) warnings with their line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fl_base.h"
#include "fl_conf_keys.h"

static void test_table_defaults_pass(void **st)
{
	(void)st;
	size_t n;
	const fl_conf_key *k = fl_conf_keys(&n);
	assert_true(n > 40);
	char err[512];
	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) assert_string_not_equal(k[i].key, k[j].key);
		assert_true(k[i].def || k[i].note);
		if (k[i].def && fl_conf_key_check(&k[i], k[i].def, err, sizeof err) != FLINC_OK)
			fail_msg("default of %s does not pass: %s", k[i].key, err);
		assert_ptr_equal(fl_conf_key_find(k[i].key), &k[i]);
	}
	assert_null(fl_conf_key_find("state.backnd"));
}

static void test_closest(void **st)
{
	(void)st;
	assert_string_equal(fl_conf_key_closest("state.backnd"), "state.backend");
	assert_string_equal(fl_conf_key_closest("State.Backend"), "state.backend");
	assert_string_equal(fl_conf_key_closest("execution.bufer-size"), "execution.buffer-size");
	assert_string_equal(fl_conf_key_closest("checkpoints.dir"), "state.checkpoints.dir");
	assert_null(fl_conf_key_closest("completely.different.thing"));
	assert_null(fl_conf_key_closest(""));
	char msg[256];
	fl_conf_unknown_msg(msg, sizeof msg, "state.backnd");
	assert_string_equal(msg, "unknown configuration key 'state.backnd' (did you mean 'state.backend'?)");
	fl_conf_unknown_msg(msg, sizeof msg, "zzz");
	assert_non_null(strstr(msg, "'zzz'"));
	assert_non_null(strstr(msg, "user."));
}

/* check(key, value) == want, and the message names the key. */
static void expect(const char *key, const char *value, int want)
{
	char err[512] = "";
	const fl_conf_key *k = fl_conf_key_find(key);
	assert_non_null(k);
	int rc = fl_conf_key_check(k, value, err, sizeof err);
	if (rc != want) fail_msg("%s=%s: %d (%s), want %d", key, value, rc, err, want);
	if (rc) assert_non_null(strstr(err, key));
}

static void test_values(void **st)
{
	(void)st;
	expect("execution.buffer-size", "1", FLINC_ECONFIG);
	expect("execution.buffer-size", "1023", FLINC_ECONFIG);
	expect("execution.buffer-size", "1kb", FLINC_OK);
	expect("execution.buffer-size", "64mb", FLINC_OK);
	expect("execution.buffer-size", "65mb", FLINC_ECONFIG);
	expect("execution.buffer-size", "lots", FLINC_ECONFIG);
	expect("execution.checkpointing.interval", "-5s", FLINC_ECONFIG);
	expect("execution.checkpointing.interval", "10 parsecs", FLINC_ECONFIG);
	expect("execution.checkpointing.interval", "0", FLINC_OK);
	expect("execution.checkpointing.interval", "2min", FLINC_OK);
	expect("execution.checkpointing.timeout", "0", FLINC_ECONFIG);
	expect("execution.checkpointing.mode", "EXACTLY_ONCE", FLINC_OK);
	expect("execution.checkpointing.mode", "exactly_once", FLINC_ECONFIG);
	expect("execution.checkpointing.mode", "SOMETIMES", FLINC_ECONFIG);
	expect("execution.checkpointing.tolerable-failed-checkpoints", "-1", FLINC_OK);
	expect("execution.checkpointing.tolerable-failed-checkpoints", "-2", FLINC_ECONFIG);
	expect("execution.checkpointing.tolerable-failed-checkpoints", "3x", FLINC_ECONFIG);
	expect("state.backend", "rocksdb", FLINC_OK);
	expect("state.backend", "rocks", FLINC_ECONFIG);
	expect("restart-strategy", "Fixed-Delay", FLINC_OK);
	expect("restart-strategy", "sometimes", FLINC_ECONFIG);
	expect("restart-strategy.exponential-delay.backoff-multiplier", "1.5", FLINC_OK);
	expect("restart-strategy.exponential-delay.backoff-multiplier", "0.5", FLINC_ECONFIG);
	expect("restart-strategy.exponential-delay.backoff-multiplier", "2x", FLINC_ECONFIG);
	expect("slot.request.wait", "yes", FLINC_OK);
	expect("slot.request.wait", "maybe", FLINC_ECONFIG);
	expect("rest.port", "0", FLINC_ECONFIG);
	expect("rest.port", "65535", FLINC_OK);
	expect("rest.bind-address", "0.0.0.0", FLINC_OK);
	expect("rest.bind-address", "tcp://x", FLINC_ECONFIG);
	expect("state.checkpoints.dir", "", FLINC_OK); /* off */
	expect("state.checkpoints.dir", "/data/chk", FLINC_OK);
	expect("state.checkpoints.dir", "/a\nb", FLINC_ECONFIG);

	char err[512];
	fl_conf_key_check(fl_conf_key_find("execution.buffer-size"), "1", err, sizeof err);
	assert_string_equal(err,
			    "execution.buffer-size: '1' is not a size from 1kb to 64mb (like 64kb, 32mb)");
	fl_conf_key_check(fl_conf_key_find("execution.checkpointing.min-pause"), "-1", err, sizeof err);
	assert_string_equal(err,
			    "execution.checkpointing.min-pause: '-1' is not a duration from 0 to 365d "
			    "(like 500ms, 10s, 2min)");
}

typedef struct warns {
	int n;
	char last[600];
} warns;

static void on_warn(void *ud, const char *line)
{
	warns *w = ud;
	w->n++;
	snprintf(w->last, sizeof w->last, "%s", line);
}

static void test_check_conf(void **st)
{
	(void)st;
	char err[512];
	fl_conf *c = fl_conf_create();
	fl_conf_set(c, "state.backend", "rocksdb");
	fl_conf_set(c, "user.threshold", "anything at all");
	assert_int_equal(fl_conf_check(c, FL_CONF_CHECK_JOB, NULL, NULL, err, sizeof err), FLINC_OK);
	fl_conf_set(c, "rest.port", "9000");
	assert_int_equal(fl_conf_check(c, 0, NULL, NULL, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_conf_check(c, FL_CONF_CHECK_JOB, NULL, NULL, err, sizeof err), FLINC_ECONFIG);
	assert_non_null(strstr(err, "rest.port is a cluster setting"));
	fl_conf_destroy(c);

	c = fl_conf_create();
	fl_conf_set(c, "state.backnd", "rocksdb");
	warns w = { 0 };
	assert_int_equal(fl_conf_check(c, 0, on_warn, &w, err, sizeof err), FLINC_ECONFIG);
	assert_string_equal(err, "unknown configuration key 'state.backnd' (did you mean 'state.backend'?)");
	assert_int_equal(w.n, 0);
	assert_int_equal(fl_conf_check(c, FL_CONF_CHECK_LENIENT, on_warn, &w, err, sizeof err), FLINC_OK);
	assert_int_equal(w.n, 1);
	fl_conf_destroy(c);

	/* from a file: warnings and errors name the line */
	char path[] = "/tmp/flinc-conf-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	const char *text = "# a comment\nstate.backend: rocksdb\nstate.backnd: hashmap\nfuture.key: 1\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	c = fl_conf_create();
	assert_int_equal(fl_conf_load(c, path, err, sizeof err), FLINC_OK);
	w.n = 0;
	assert_int_equal(fl_conf_check(c, FL_CONF_CHECK_LENIENT, on_warn, &w, err, sizeof err), FLINC_OK);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.last,
			    "line 4: unknown configuration key 'future.key' (see docs/config.md; a job's own "
			    "keys go under 'user.')");
	fl_conf_set(c, "state.backend", "oracle"); /* -D over the file: no line */
	assert_int_equal(fl_conf_check(c, FL_CONF_CHECK_LENIENT, NULL, NULL, err, sizeof err), FLINC_ECONFIG);
	assert_string_equal(err, "state.backend: 'oracle' is not one of hashmap, memory, rocksdb");
	fl_conf_destroy(c);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_defaults_pass),
		cmocka_unit_test(test_closest),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_check_conf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
