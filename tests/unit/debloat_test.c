/*
 * debloat_test.c - buffer debloating (exchange.h, "buffer debloating"):
 * the size computation, the threshold for announcing a new target, a
 * writer filling buffers only up to its channel's target (and its initial
 * one before any), one record larger than the target going in whole, and
 * a target set on a remote channel's receiving end reaching its sending
 * end through netx's CREDIT frames.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "exchange.h"
#include "fl_base.h"
#include "fl_runtime.h"

#define MS 1000000LL
#define SEC (1000 * MS)

static void test_size(void **st)
{
	(void)st;
	/* 50 kB/s (1000 records/s of ~50 bytes), 1 s, one channel of 8
	 * buffers: 6250 bytes a buffer */
	assert_int_equal(fl_debloat_size(50000, SEC, 1, 8, 256, 32768), 6250);
	/* two channels, remote (16 buffers on the path each) */
	assert_int_equal(fl_debloat_size(50000, SEC, 2, 16, 256, 32768), 1562);
	/* target time scales it */
	assert_int_equal(fl_debloat_size(50000, 2 * SEC, 2, 16, 256, 32768), 3125);
	/* never below the floor, never above the buffer */
	assert_int_equal(fl_debloat_size(1000, SEC, 2, 16, 256, 32768), 256);
	assert_int_equal(fl_debloat_size(1e12, SEC, 2, 16, 256, 32768), 32768);
	/* nothing measured or nonsense: the floor; infinity: the buffer */
	assert_int_equal(fl_debloat_size(0, SEC, 2, 16, 256, 32768), 256);
	assert_int_equal(fl_debloat_size(-5, SEC, 2, 16, 256, 32768), 256);
	assert_int_equal(fl_debloat_size(50000, 0, 2, 16, 256, 32768), 256);
	assert_int_equal(fl_debloat_size(1.0 / 0.0, SEC, 2, 16, 256, 32768), 32768);
	assert_int_equal(fl_debloat_size(0.0 / 0.0, SEC, 2, 16, 256, 32768), 256);
	/* zero channels or buffers count as one; a floor above the buffer is the buffer */
	assert_int_equal(fl_debloat_size(50000, SEC, 0, 0, 256, 32768), 32768);
	assert_int_equal(fl_debloat_size(50000, SEC, 0, 0, 256, 4096), 4096);
	assert_int_equal(fl_debloat_size(10, SEC, 1, 1, 8192, 4096), 4096);
}

static void test_changed(void **st)
{
	(void)st;
	/* nothing announced yet: anything is news */
	assert_true(fl_debloat_changed(0, 1000, 32768, 25));
	/* within 25%: not worth it */
	assert_false(fl_debloat_changed(1000, 1200, 32768, 25));
	assert_false(fl_debloat_changed(1000, 800, 32768, 25));
	assert_false(fl_debloat_changed(1000, 1000, 32768, 25));
	assert_true(fl_debloat_changed(1000, 1300, 32768, 25));
	assert_true(fl_debloat_changed(1000, 700, 32768, 25));
	/* FL_TARGET_FULL is the buffer size */
	assert_false(fl_debloat_changed(FL_TARGET_FULL, 32768, 32768, 25));
	assert_false(fl_debloat_changed(FL_TARGET_FULL, 30000, 32768, 25));
	assert_true(fl_debloat_changed(FL_TARGET_FULL, 1000, 32768, 25));
	/* back to whole buffers even from within the threshold */
	assert_true(fl_debloat_changed(30000, 32768, 32768, 25));
	/* 0%: every change */
	assert_true(fl_debloat_changed(1000, 1001, 32768, 0));
}

static const flinc_type u64_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "u64",
	.size = 8,
	.flags = FLINC_TYPE_POD,
};

/* Writes n records of 8 bytes (13 bytes each with the header), flushes,
 * and returns the largest and smallest (but the last) buffer it sent. */
static void write_and_measure(fl_channel *ch, fl_writer *w, int n, uint32_t *maxlen, uint32_t *minlen)
{
	*maxlen = 0;
	*minlen = UINT32_MAX;
	for (int i = 0; i < n; i++) {
		uint64_t v = (uint64_t)i;
		assert_true(fl_writer_record(w, &v, FLINC_TS_NONE));
		fl_xbuf *b;
		while ((b = fl_channel_poll(ch))) {
			if (b->len > *maxlen) *maxlen = b->len;
			if (b->len < *minlen) *minlen = b->len;
			fl_channel_release(ch, b);
		}
	}
	assert_true(fl_writer_flush(w));
	fl_xbuf *b;
	while ((b = fl_channel_poll(ch))) fl_channel_release(ch, b);
}

static void test_writer_fills_to_target(void **st)
{
	(void)st;
	fl_notify cn, pn;
	fl_notify_init(&cn);
	fl_notify_init(&pn);
	_Atomic int cancel = 0;
	fl_channel *ch = fl_channel_create(4, 4096, &cn, &pn);
	assert_int_equal(fl_channel_target(ch), 0);
	assert_int_equal(fl_channel_bufsize(ch), 4096);
	assert_int_equal(fl_channel_path_buffers(ch), 4);
	fl_channel_set_path_buffers(ch, 8);
	assert_int_equal(fl_channel_path_buffers(ch), 8);
	fl_writer_params p = { .part = FL_PART_FORWARD,
			       .type = &u64_type,
			       .raw = true,
			       .timeout_ns = 100 * MS,
			       .self = &pn,
			       .cancel = &cancel,
			       .initial_target = 512 };
	fl_writer *w = fl_writer_create(&p, &ch, 1);
	uint32_t mx, mn;

	/* before any announcement: the initial target (512 / 13 = 39 records) */
	write_and_measure(ch, w, 1000, &mx, &mn);
	assert_int_equal(mx, 39 * 13);
	assert_int_equal(mn, 39 * 13);

	/* a target: buffers of at most that much, and not much less */
	fl_channel_set_target(ch, 256);
	write_and_measure(ch, w, 1000, &mx, &mn);
	assert_true(mx <= 256 && mx > 256 - 13);

	/* whole buffers again */
	fl_channel_set_target(ch, FL_TARGET_FULL);
	write_and_measure(ch, w, 1000, &mx, &mn);
	assert_int_equal(mx, 4096 / 13 * 13);

	/* a target above the buffer is the buffer */
	fl_channel_set_target(ch, 1u << 20);
	write_and_measure(ch, w, 1000, &mx, &mn);
	assert_int_equal(mx, 4096 / 13 * 13);
	fl_writer_destroy(w);

	/* the initial target 0: whole buffers */
	p.initial_target = 0;
	fl_channel_set_target(ch, 0);
	w = fl_writer_create(&p, &ch, 1);
	write_and_measure(ch, w, 1000, &mx, &mn);
	assert_int_equal(mx, 4096 / 13 * 13);
	fl_writer_destroy(w);
	fl_channel_destroy(ch);
	fl_notify_fini(&cn);
	fl_notify_fini(&pn);
}

/* A record larger than the target goes in whole, one per buffer. */
static int blob_encode(const void *r, flinc_writer *w)
{
	const char *s = *(const char *const *)r;
	flinc_w_str(w, s, (uint32_t)strlen(s));
	return 0;
}

static const flinc_type blob_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "blob",
	.size = sizeof(const char *),
	.encode = blob_encode,
};

static void test_record_larger_than_target(void **st)
{
	(void)st;
	fl_notify cn, pn;
	fl_notify_init(&cn);
	fl_notify_init(&pn);
	_Atomic int cancel = 0;
	fl_channel *ch = fl_channel_create(4, 4096, &cn, &pn);
	fl_writer_params p = { .part = FL_PART_FORWARD,
			       .type = &blob_type,
			       .timeout_ns = 100 * MS,
			       .self = &pn,
			       .cancel = &cancel };
	fl_writer *w = fl_writer_create(&p, &ch, 1);
	fl_channel_set_target(ch, 256);
	char big[1001];
	memset(big, 'x', 1000);
	big[1000] = 0;
	const char *rec = big;
	for (int i = 0; i < 10; i++) {
		assert_true(fl_writer_record(w, &rec, FLINC_TS_NONE));
		fl_xbuf *b;
		while ((b = fl_channel_poll(ch))) {
			/* [u8 ev][u32 len][msgpack str8/16 header][1000 bytes] */
			assert_true(b->len >= 1005 && b->len < 1020);
			fl_channel_release(ch, b);
		}
	}
	assert_true(fl_writer_flush(w));
	fl_xbuf *b = fl_channel_poll(ch);
	assert_non_null(b);
	assert_true(b->len >= 1005 && b->len < 1020);
	fl_channel_release(ch, b);
	fl_writer_destroy(w);
	fl_channel_destroy(ch);
	fl_notify_fini(&cn);
	fl_notify_fini(&pn);
}

/* Remote: the receiving end's target reaches the sending end with the
 * credits (rounded up to 64 bytes), and FL_TARGET_FULL too. */
static bool target_is(fl_channel *ch, uint32_t want, int64_t ms)
{
	int64_t deadline = fl_mono_ns() + ms * MS;
	while (fl_channel_target(ch) != want) {
		if (fl_mono_ns() > deadline) return false;
		usleep(1000);
	}
	return true;
}

/* One buffer through: sent on out, taken and given back on in. */
static void one_buffer(fl_channel *out, fl_channel *in)
{
	fl_xbuf *b = NULL;
	int64_t deadline = fl_mono_ns() + 10 * SEC;
	while (!(b = fl_channel_try_acquire(out))) {
		assert_true(fl_mono_ns() < deadline);
		usleep(1000);
	}
	b->data[0] = FL_EV_STATUS;
	b->data[1] = 0;
	b->len = 2;
	fl_channel_send(out, b);
	while (!(b = fl_channel_poll(in))) {
		assert_true(fl_mono_ns() < deadline);
		usleep(1000);
	}
	assert_int_equal(b->len, 2);
	fl_channel_release(in, b);
}

static void test_remote_target(void **st)
{
	(void)st;
	fl_netx *a = NULL, *b = NULL;
	char err[256] = "";
	assert_int_equal(fl_netx_create("127.0.0.1:0", NULL, NULL, NULL, &a, err, sizeof err), FLINC_OK);
	assert_int_equal(fl_netx_create("127.0.0.1:0", NULL, NULL, NULL, &b, err, sizeof err), FLINC_OK);
	fl_notify pn, cn;
	fl_notify_init(&pn);
	fl_notify_init(&cn);
	const uint64_t id = 0x1234;
	fl_channel *in = NULL, *out = NULL;
	assert_int_equal(fl_netx_in(b, id, 4, 8192, &cn, &in), FLINC_OK);
	/* the sending end's buffers count too */
	assert_int_equal(fl_channel_path_buffers(in), 8);
	fl_channel_set_target(in, 1000); /* 16 units of 64 bytes: 1024 */
	assert_int_equal(fl_netx_out(a, fl_netx_addr(b), id, 4, 8192, &pn, &out, err, sizeof err), FLINC_OK);
	assert_true(target_is(out, 1024, 10000));
	fl_channel_set_target(in, FL_TARGET_FULL);
	for (int i = 0; i < 8 && fl_channel_target(out) != FL_TARGET_FULL; i++) one_buffer(out, in);
	assert_true(target_is(out, FL_TARGET_FULL, 10000));
	fl_channel_set_target(in, 256);
	for (int i = 0; i < 8 && fl_channel_target(out) != 256; i++) one_buffer(out, in);
	assert_true(target_is(out, 256, 10000));
	fl_netx_destroy(a);
	fl_netx_destroy(b);
	fl_notify_fini(&pn);
	fl_notify_fini(&cn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_changed),
		cmocka_unit_test(test_writer_fills_to_target),
		cmocka_unit_test(test_record_larger_than_target),
		cmocka_unit_test(test_remote_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
