/*
 * inflight_test - the in-flight data of an unaligned checkpoint
 * (runtime/src/inflight.h): items per channel, a barrier's blob with the
 * items already processed skipped, the file round trip, and the refusals:
 * another subtask, parallelism or number of channels, a flipped byte, a
 * truncated file, a malformed blob, the size bound.
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

#include <flinc/flinc.h>

#include "inflight.h"

static char dir[] = "/tmp/flinc-inflight-XXXXXX";

static void write_file(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
}

static void items(const fl_inflight_chan *c, const char **want, size_t nwant)
{
	size_t off = 0, k = 0;
	uint32_t len;
	const uint8_t *p;
	while ((p = fl_inflight_next(c, &off, &len))) {
		assert_true(k < nwant);
		assert_int_equal(len, strlen(want[k]));
		assert_memory_equal(p, want[k], len);
		k++;
	}
	assert_int_equal(k, nwant);
}

static void round_trip(void **st)
{
	(void)st;
	fl_inflight f;
	fl_inflight_init(&f, 3);
	fl_inflight_add(&f, 0, (const uint8_t *)"first", 5);
	fl_inflight_add(&f, 2, (const uint8_t *)"x", 1);
	fl_inflight_add(&f, 0, (const uint8_t *)"", 0); /* nothing: not an item */
	/* a blob of three, the first processed already */
	uint8_t blob[3 * 4 + 3];
	uint32_t one = 1;
	for (int i = 0; i < 3; i++) {
		memcpy(blob + i * 5, &one, 4);
		blob[i * 5 + 4] = (uint8_t)('a' + i);
	}
	assert_true(fl_inflight_add_items(&f, 0, blob, sizeof blob, 1));
	assert_false(fl_inflight_add_items(&f, 1, blob, sizeof blob - 1, 0)); /* cut */
	size_t n;
	uint8_t *b = fl_inflight_encode(&f, 9, 1, 2, &n);
	char path[64];
	snprintf(path, sizeof path, "%s/s.inflight", dir);
	write_file(path, b, n);

	fl_inflight g;
	char err[512];
	assert_int_equal(fl_inflight_load(path, 1, 2, 3, &g, err, sizeof err), FLINC_OK);
	const char *c0[] = { "first", "b", "c" }, *c2[] = { "x" };
	items(&g.chan[0], c0, 3);
	items(&g.chan[1], NULL, 0);
	items(&g.chan[2], c2, 1);
	fl_inflight_fini(&g);

	/* another shape: refused with the reason */
	assert_int_equal(fl_inflight_load(path, 1, 3, 3, &g, err, sizeof err), FLINC_EINVAL);
	assert_non_null(strstr(err, "restores only at the parallelism"));
	assert_int_equal(fl_inflight_load(path, 0, 2, 3, &g, err, sizeof err), FLINC_EINVAL);
	assert_int_equal(fl_inflight_load(path, 1, 2, 4, &g, err, sizeof err), FLINC_EINVAL);
	/* a flipped byte, a cut file, none at all */
	b[n / 2] ^= 1;
	write_file(path, b, n);
	assert_int_equal(fl_inflight_load(path, 1, 2, 3, &g, err, sizeof err), FLINC_ECODEC);
	b[n / 2] ^= 1;
	write_file(path, b, n - 3);
	assert_int_equal(fl_inflight_load(path, 1, 2, 3, &g, err, sizeof err), FLINC_ECODEC);
	unlink(path);
	assert_int_equal(fl_inflight_load(path, 1, 2, 3, &g, err, sizeof err), FLINC_ENOENT);
	free(b);

	/* cleared for the next checkpoint; the bound */
	fl_inflight_clear(&f);
	assert_int_equal(f.bytes, 0);
	assert_int_equal(f.chan[0].len, 0);
	static uint8_t big[1 << 20];
	for (size_t i = 0; i < FL_INFLIGHT_MAX / sizeof big + 1; i++) fl_inflight_add(&f, 1, big, sizeof big);
	assert_true(f.over);
	assert_true(f.bytes <= FL_INFLIGHT_MAX);
	fl_inflight_fini(&f);
}

int main(void)
{
	if (!mkdtemp(dir)) return 1;
	const struct CMUnitTest tests[] = { cmocka_unit_test(round_trip) };
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(dir);
	return rc;
}
