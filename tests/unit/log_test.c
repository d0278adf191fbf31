/*
 * log_test.c - the lines a process keeps for the REST API's logs
 * (base/log.c, fl_log_recent): in order and numbered, only those after a
 * number, at most max_lines (the newest), the oldest dropped past
 * FL_LOG_KEEP, long lines cut at FL_LOG_LINE_MAX - 1 bytes and never
 * inside a UTF-8 character.
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

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++) n += *s == '\n';
	return n;
}

static void test_recent_in_order(void **st)
{
	(void)st;
	fl_strbuf b = { 0 };
	uint64_t before = fl_log_recent(0, FL_LOG_KEEP, &b);
	fl_sb_free(&b);
	fl_log(FL_LOG_INFO, "logtest", "first %d", 1);
	fl_log(FL_LOG_WARN, "logtest", "second %d", 2);
	fl_log(FL_LOG_DEBUG, "logtest", "below the level: not written, not kept");
	fl_strbuf c = { 0 };
	uint64_t last = fl_log_recent(before, 100, &c);
	assert_int_equal(last, before + 2);
	assert_int_equal(count_lines(c.data), 2);
	assert_non_null(strstr(c.data, "INFO  logtest: first 1\n"));
	assert_non_null(strstr(c.data, "WARN  logtest: second 2\n"));
	assert_true(strstr(c.data, "first") < strstr(c.data, "second"));
	fl_sb_free(&c);
	/* Nothing new: nothing appended, the same number back. */
	fl_strbuf d = { 0 };
	assert_int_equal(fl_log_recent(last, 100, &d), last);
	assert_int_equal(d.len, 0);
	/* max_lines: the newest. */
	assert_int_equal(fl_log_recent(before, 1, &d), last);
	assert_int_equal(count_lines(d.data), 1);
	assert_non_null(strstr(d.data, "second 2"));
	fl_sb_free(&d);
}

static void test_keeps_the_latest(void **st)
{
	(void)st;
	for (int i = 0; i < FL_LOG_KEEP + 50; i++) fl_log(FL_LOG_INFO, "logtest", "line %d", i);
	fl_strbuf b = { 0 };
	uint64_t last = fl_log_recent(0, SIZE_MAX, &b);
	assert_int_equal(count_lines(b.data), FL_LOG_KEEP);
	assert_null(strstr(b.data, "line 49\n"));
	assert_non_null(strstr(b.data, "line 50\n"));
	char want[32];
	snprintf(want, sizeof want, "line %d\n", FL_LOG_KEEP + 49);
	assert_non_null(strstr(b.data, want));
	assert_true(b.len >= strlen(want) && !strcmp(b.data + b.len - strlen(want), want));
	fl_sb_free(&b);
	/* Asking from a line no longer kept gives what is kept. */
	fl_strbuf c = { 0 };
	assert_int_equal(fl_log_recent(3, SIZE_MAX, &c), last);
	assert_int_equal(count_lines(c.data), FL_LOG_KEEP);
	fl_sb_free(&c);
}

static void test_long_lines_cut_whole_characters(void **st)
{
	(void)st;
	char msg[1200];
	size_t n = 0;
	while (n + 2 < sizeof msg - 1) {
		msg[n++] = (char)0xC3; /* é, two bytes */
		msg[n++] = (char)0xA9;
	}
	msg[n] = 0;
	for (int shift = 0; shift < 2; shift++) {
		fl_strbuf before = { 0 };
		uint64_t from = fl_log_recent(0, 0, &before);
		fl_sb_free(&before);
		fl_log(FL_LOG_ERROR, shift ? "logtest-x" : "logtest", "%s", msg);
		fl_strbuf b = { 0 };
		fl_log_recent(from, 1, &b);
		assert_int_equal(count_lines(b.data), 1);
		assert_true(b.len - 1 <= FL_LOG_LINE_MAX - 1);
		assert_true(b.len - 1 >= FL_LOG_LINE_MAX - 4);
		/* ends with a whole é */
		assert_int_equal((unsigned char)b.data[b.len - 2], 0xA9);
		assert_int_equal((unsigned char)b.data[b.len - 3], 0xC3);
		fl_sb_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recent_in_order),
		cmocka_unit_test(test_keeps_the_latest),
		cmocka_unit_test(test_long_lines_cut_whole_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
