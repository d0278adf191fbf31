/*
 * checkpoint_test.c - checkpoint storage (checkpoint/): snapshot files,
 * _metadata, the latest completed checkpoint with fallback, retention and
 * savepoint disposal.
 *
 * Entries are generated from an index (gen_*), so a reader can check every
 * byte of what it got and count that each entry arrived exactly once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_checkpoint.h"

/* ---- harness ------------------------------------------------------------ */

static char *tmpdir(void)
{
	char *d = strdup("/tmp/flinc-chk-test-XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void rmdir_all(char *d)
{
	char err[512];
	if (fl_rm_rf(d, err, sizeof(err))) print_error("rmtree: %s\n", err);
	free(d);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1); /* NUL-terminated: text callers use str* */
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	b[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return b;
}

static void spit(const char *path, const void *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static fl_snap_header hdr(int64_t chk, int subtask, int par, int maxp)
{
	fl_snap_header h = { 0 };
	snprintf(h.job_id, sizeof(h.job_id), "a1b2c3d4e5f60718293a4b5c6d7e8f90");
	h.checkpoint_id = chk;
	h.vertex_id = 0xfeedface12345678ull;
	h.subtask = subtask;
	h.parallelism = par;
	h.max_parallelism = maxp;
	/* Flink's ranges: [ceil(i*M/p), ceil((i+1)*M/p) - 1] */
	h.kg_first = (subtask * maxp + par - 1) / par;
	h.kg_last = ((subtask + 1) * maxp + par - 1) / par - 1;
	return h;
}

/* ---- generated entries ---------------------------------------------------- */

/* Entry `id` (global): its state, key, namespace, user key and value are
 * functions of id; the key starts with the 8 bytes of id so a reader finds
 * it again. */
static const char *gen_state(uint64_t id, fl_state_kind *kind)
{
	static const char *names[] = { "op-a/count", "op-a/list", "window/contents" };
	*kind = (fl_state_kind)(id % 3);
	return names[id % 3];
}

static uint32_t gen_key(uint64_t id, uint8_t *k)
{
	memcpy(k, &id, 8);
	uint32_t extra = (uint32_t)(id % 5);
	for (uint32_t i = 0; i < extra; i++) k[8 + i] = (i & 1) ? 0xff : 0x00;
	return 8 + extra;
}

static uint32_t gen_ns(uint64_t id, uint8_t *ns)
{
	if (id % 4 == 0) return 0;
	uint64_t w = id / 4 * 1000;
	memcpy(ns, &w, 8);
	return 8;
}

static uint32_t gen_uk(uint64_t id, uint8_t *uk)
{
	uint32_t n = (uint32_t)(id % 7);
	for (uint32_t i = 0; i < n; i++) uk[i] = (uint8_t)(id + i);
	return n;
}

static size_t gen_val(uint64_t id, uint8_t *v)
{
	size_t n = (size_t)((id * 7919) % 300);
	for (size_t i = 0; i < n; i++) v[i] = (uint8_t)(id * 31 + i);
	return n;
}

static int add_gen(fl_snap_writer *w, uint64_t id, uint16_t kg)
{
	uint8_t k[16], ns[8], uk[8], v[300];
	fl_state_kind kind;
	const char *st = gen_state(id, &kind);
	uint32_t kl = gen_key(id, k), nl = gen_ns(id, ns), ul = gen_uk(id, uk);
	size_t vl = gen_val(id, v);
	return fl_snap_add_keyed(w, st, kind, kg, k, kl, ns, nl, kind == FL_STATE_MAP ? uk : NULL, ul, v, vl);
}

/* Write a file with n generated entries (ids base..base+n-1) spread in
 * ascending order over the header's key groups; kg of id recorded in
 * kg_of (indexed by id) if not NULL. Also 3 timers per key group touched
 * and 2 operator states. */
static fl_snap_info write_gen(const char *path, const fl_snap_header *h, uint64_t base, uint64_t n,
			      uint16_t *kg_of)
{
	fl_snap_writer *w;
	char err[512];
	int rc = fl_snap_writer_open(&w, path, h, err, sizeof(err));
	if (rc) fail_msg("open: %s", err);
	uint64_t nkg = (uint64_t)(h->kg_last - h->kg_first + 1);
	for (uint64_t i = 0; i < n; i++) {
		uint16_t kg = (uint16_t)(h->kg_first + i * nkg / n);
		if (kg_of) kg_of[base + i] = kg;
		assert_int_equal(add_gen(w, base + i, kg), 0);
	}
	for (int kg = h->kg_first; kg <= h->kg_last; kg++) {
		uint8_t key[4] = { (uint8_t)kg, 0, 0xff, 1 };
		assert_int_equal(fl_snap_add_timer(w, "window", 0, -5 + kg, (uint16_t)kg, key, 4, "ns", 2),
				 0);
		assert_int_equal(
			fl_snap_add_timer(w, "window", 1, INT64_MAX - kg, (uint16_t)kg, key, 4, NULL, 0), 0);
		assert_int_equal(fl_snap_add_timer(w, "other", 0, kg, (uint16_t)kg, NULL, 0, NULL, 0), 0);
	}
	assert_int_equal(fl_snap_add_opstate(w, "source", "pos=42", 6), 0);
	assert_int_equal(fl_snap_add_opstate(w, "sink", "", 0), 0);
	fl_snap_info info;
	rc = fl_snap_writer_close(w, &info, err, sizeof(err));
	if (rc) fail_msg("close: %s", err);
	return info;
}

/* Checks each keyed entry against gen_* and counts it in seen[id - base]. */
typedef struct check_ctx {
	uint32_t *seen;
	uint64_t base, n;
	const uint16_t *kg_of;
	int kg_first, kg_last;
	uint64_t count;
	int bad;
} check_ctx;

static int check_entry(void *ud, const fl_snap_entry *e)
{
	check_ctx *c = ud;
	uint64_t id;
	if (e->klen < 8) return c->bad = 1;
	memcpy(&id, e->key, 8);
	if (id < c->base || id >= c->base + c->n) return c->bad = 2;
	uint8_t k[16], ns[8], uk[8], v[300];
	fl_state_kind kind;
	const char *st = gen_state(id, &kind);
	uint32_t kl = gen_key(id, k), nl = gen_ns(id, ns), ul = gen_uk(id, uk);
	size_t vl = gen_val(id, v);
	if (strcmp(st, e->state) || kind != e->kind || kl != e->klen || memcmp(k, e->key, kl) ||
	    nl != e->nslen || (nl && memcmp(ns, e->ns, nl)) || vl != e->vlen || (vl && memcmp(v, e->val, vl)))
		return c->bad = 3;
	if (kind == FL_STATE_MAP ? (!e->uk || e->uklen != ul || (ul && memcmp(uk, e->uk, ul)))
				 : e->uk != NULL)
		return c->bad = 4;
	if (e->kg < c->kg_first || e->kg > c->kg_last || (c->kg_of && c->kg_of[id] != e->kg))
		return c->bad = 5;
	c->seen[id - c->base]++;
	c->count++;
	return 0;
}

/* ---- CRC32C --------------------------------------------------------------- */

static void test_crc32c(void **st)
{
	(void)st;
	assert_int_equal(fl_crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(fl_crc32c_sw(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(fl_crc32c(0, "", 0), 0);
	uint8_t buf[4096 + 16];
	for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (uint8_t)rnd();
	for (size_t off = 0; off < 9; off++)
		for (size_t len = 0; len < 200; len += 7) {
			assert_int_equal(fl_crc32c(0, buf + off, len), fl_crc32c_sw(0, buf + off, len));
			/* chaining equals one pass */
			uint32_t c = fl_crc32c(0, buf + off, len / 3);
			c = fl_crc32c(c, buf + off + len / 3, len - len / 3);
			assert_int_equal(c, fl_crc32c_sw(0, buf + off, len));
		}
	assert_int_equal(fl_crc32c(0, buf, 4096), fl_crc32c_sw(0, buf, 4096));
}

/* ---- round trip of every kind --------------------------------------------- */

typedef struct rt_ctx {
	int n;
	fl_snap_entry e[16];
	uint8_t *copies[16]; /* value bytes copied (pointers die after the callback) */
	char *names[16];
} rt_ctx;

static int rt_collect(void *ud, const fl_snap_entry *e)
{
	rt_ctx *c = ud;
	if (c->n >= 16) return 99;
	c->e[c->n] = *e;
	c->copies[c->n] = malloc(e->vlen + 1);
	memcpy(c->copies[c->n], e->val ? (const void *)e->val : "", e->vlen);
	c->names[c->n] = strdup(e->state ? e->state : e->op_uid ? e->op_uid : "");
	c->e[c->n].key = c->e[c->n].ns = c->e[c->n].uk = NULL; /* compared below via lengths only */
	c->n++;
	return 0;
}

static void rt_free(rt_ctx *c)
{
	for (int i = 0; i < c->n; i++) free(c->copies[i]), free(c->names[i]);
	memset(c, 0, sizeof(*c));
}

static void test_roundtrip_kinds(void **st)
{
	(void)st;
	char *d = tmpdir(), path[512], err[512];
	snprintf(path, sizeof(path), "%s/x.snap", d);
	fl_snap_header h = hdr(7, 1, 2, 16); /* key groups 8..15 */
	size_t big = 1u << 20;
	uint8_t *mib = malloc(big);
	for (size_t i = 0; i < big; i++) mib[i] = (uint8_t)(i * 131 + 7);
	fl_snap_writer *w;
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	const uint8_t zk[3] = { 0, 0, 0 };
	/* value: empty key, empty ns, empty value */
	assert_int_equal(fl_snap_add_keyed(w, "op/v", FL_STATE_VALUE, 8, NULL, 0, NULL, 0, NULL, 0, NULL, 0),
			 0);
	/* list value with binary key and ns */
	uint8_t list[] = { 3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0 };
	assert_int_equal(fl_snap_add_keyed(w, "op/l", FL_STATE_LIST, 8, zk, 3, "\xff\x00", 2, NULL, 0, list,
					   sizeof(list)),
			 0);
	/* map entry with an empty user key, then one with a binary one */
	assert_int_equal(fl_snap_add_keyed(w, "op/m", FL_STATE_MAP, 9, "k", 1, NULL, 0, "", 0, "v0", 2), 0);
	assert_int_equal(fl_snap_add_keyed(w, "op/m", FL_STATE_MAP, 9, "k", 1, NULL, 0, zk, 3, "v1", 2), 0);
	/* a 1 MiB value (larger than the write buffer) in the last key group */
	assert_int_equal(
		fl_snap_add_keyed(w, "op/v", FL_STATE_VALUE, 15, "big", 3, NULL, 0, NULL, 0, mib, big), 0);
	assert_int_equal(fl_snap_add_timer(w, "op", 0, INT64_MIN, 8, zk, 3, NULL, 0), 0);
	assert_int_equal(fl_snap_add_timer(w, "op2", 1, 1234567890123, 15, "k", 1, "w", 1), 0);
	assert_int_equal(fl_snap_add_opstate(w, "src", mib, 300000), 0);
	assert_int_equal(fl_snap_add_opstate(w, "sink", NULL, 0), 0);
	assert_int_equal(fl_snap_add_opstate(w, "src", "second", 6), 0);
	fl_snap_info wi;
	assert_int_equal(fl_snap_writer_close(w, &wi, err, sizeof(err)), 0);
	assert_int_equal(wi.n_keyed, 5);
	assert_int_equal(wi.n_timers, 2);
	assert_int_equal(wi.n_ops, 3);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal((uint64_t)sb.st_size, wi.size);
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_not_equal(access(tmp, F_OK), 0);

	for (int mode = 0; mode < 2; mode++) {
		fl_snap_reader *r;
		assert_int_equal(fl_snap_reader_open(&r, path, (fl_snap_verify)mode, err, sizeof(err)), 0);
		const fl_snap_header *rh = fl_snap_reader_header(r);
		assert_string_equal(rh->job_id, h.job_id);
		assert_int_equal(rh->checkpoint_id, 7);
		assert_true(rh->vertex_id == h.vertex_id);
		assert_int_equal(rh->subtask, 1);
		assert_int_equal(rh->parallelism, 2);
		assert_int_equal(rh->max_parallelism, 16);
		assert_int_equal(rh->kg_first, 8);
		assert_int_equal(rh->kg_last, 15);
		fl_snap_info ri;
		fl_snap_reader_info(r, &ri);
		assert_true(ri.crc == wi.crc && ri.size == wi.size && ri.trailer_off == wi.trailer_off);

		rt_ctx c = { 0 };
		assert_int_equal(fl_snap_read_keyed(r, 0, 100, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 5);
		assert_string_equal(c.names[0], "op/v");
		assert_int_equal(c.e[0].kind, FL_STATE_VALUE);
		assert_int_equal(c.e[0].klen + c.e[0].nslen + c.e[0].vlen, 0);
		assert_int_equal(c.e[0].kg, 8);
		assert_string_equal(c.names[1], "op/l");
		assert_int_equal(c.e[1].kind, FL_STATE_LIST);
		assert_int_equal(c.e[1].klen, 3);
		assert_int_equal(c.e[1].nslen, 2);
		assert_memory_equal(c.copies[1], list, sizeof(list));
		assert_int_equal(c.e[2].kind, FL_STATE_MAP);
		assert_int_equal(c.e[2].uklen, 0);
		assert_int_equal(c.e[3].uklen, 3);
		assert_memory_equal(c.copies[3], "v1", 2);
		assert_int_equal(c.e[4].kg, 15);
		assert_int_equal(c.e[4].vlen, big);
		assert_memory_equal(c.copies[4], mib, big);
		rt_free(&c);

		/* key-group sub-ranges */
		assert_int_equal(fl_snap_read_keyed(r, 9, 14, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 2);
		rt_free(&c);
		assert_int_equal(fl_snap_read_keyed(r, 0, 7, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 0);

		/* timers: all, by operator, by key group */
		assert_int_equal(fl_snap_read_timers(r, 0, 15, NULL, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 2);
		assert_string_equal(c.names[0], "op");
		assert_true(c.e[0].ts == INT64_MIN && c.e[0].domain == 0 && c.e[0].kg == 8 &&
			    c.e[0].klen == 3);
		assert_string_equal(c.names[1], "op2");
		assert_true(c.e[1].ts == 1234567890123 && c.e[1].domain == 1 && c.e[1].nslen == 1);
		rt_free(&c);
		assert_int_equal(fl_snap_read_timers(r, 0, 15, "op2", rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 1);
		rt_free(&c);
		assert_int_equal(fl_snap_read_timers(r, 9, 14, NULL, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 0);
		assert_int_equal(fl_snap_read_timers(r, 0, 15, "nobody", rt_collect, &c, err, sizeof(err)),
				 0);
		assert_int_equal(c.n, 0);

		/* operator states */
		assert_int_equal(fl_snap_read_opstates(r, "src", rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 2);
		assert_int_equal(c.e[0].vlen, 300000);
		assert_memory_equal(c.copies[0], mib, 300000);
		assert_int_equal(c.e[1].vlen, 6);
		rt_free(&c);
		assert_int_equal(fl_snap_read_opstates(r, NULL, rt_collect, &c, err, sizeof(err)), 0);
		assert_int_equal(c.n, 3);
		assert_string_equal(c.names[1], "sink");
		assert_int_equal(c.e[1].vlen, 0);
		rt_free(&c);
		fl_snap_reader_close(r);
	}
	free(mib);
	rmdir_all(d);
}

/* ---- 100k entries, 128 key groups ------------------------------------------ */

static int stop_at_3(void *ud, const fl_snap_entry *e)
{
	(void)e;
	return ++*(int *)ud == 3 ? 42 : 0;
}

static void test_many_entries(void **st)
{
	(void)st;
	char *d = tmpdir(), path[512], err[512];
	snprintf(path, sizeof(path), "%s/%s", d, "many.snap");
	const uint64_t n = 100000;
	fl_snap_header h = hdr(1, 0, 1, 128);
	uint16_t *kg_of = calloc(n, sizeof(uint16_t));
	fl_snap_info wi = write_gen(path, &h, 0, n, kg_of);
	assert_int_equal(wi.n_keyed, n);
	for (int mode = 0; mode < 2; mode++) {
		fl_snap_reader *r;
		assert_int_equal(fl_snap_reader_open(&r, path, (fl_snap_verify)mode, err, sizeof(err)), 0);
		check_ctx c = { .seen = calloc(n, sizeof(uint32_t)), .n = n, .kg_of = kg_of, .kg_last = 127 };
		int rc = fl_snap_read_keyed(r, 0, 127, check_entry, &c, err, sizeof(err));
		if (rc) fail_msg("read: %d %s (bad %d)", rc, err, c.bad);
		assert_int_equal(c.count, n);
		for (uint64_t i = 0; i < n; i++) assert_int_equal(c.seen[i], 1);
		free(c.seen);
		int k = 0;
		assert_int_equal(fl_snap_read_keyed(r, 0, 127, stop_at_3, &k, err, sizeof(err)), 42);
		fl_snap_reader_close(r);
	}
	free(kg_of);
	rmdir_all(d);
}

/* ---- rescale: 4 files read as 3 ranges --------------------------------------- */

static void test_rescale_read(void **st)
{
	(void)st;
	char *d = tmpdir(), path[4][512], err[512];
	const int maxp = 128;
	const uint64_t per = 20000, n = 4 * per;
	uint16_t *kg_of = calloc(n, sizeof(uint16_t));
	for (int s = 0; s < 4; s++) {
		fl_snap_header h = hdr(3, s, 4, maxp);
		char name[64];
		fl_snap_file_name(name, sizeof(name), h.vertex_id, s);
		snprintf(path[s], sizeof(path[s]), "%s/%s", d, name);
		write_gen(path[s], &h, (uint64_t)s * per, per, kg_of);
	}
	uint32_t *seen = calloc(n, sizeof(uint32_t));
	for (int t = 0; t < 3; t++) {
		fl_snap_header nh = hdr(3, t, 3, maxp); /* the new subtask's range */
		uint64_t got = 0;
		for (int s = 0; s < 4; s++) {
			fl_snap_reader *r;
			assert_int_equal(
				fl_snap_reader_open(&r, path[s], FL_SNAP_VERIFY_SECTIONS, err, sizeof(err)),
				0);
			const fl_snap_header *oh = fl_snap_reader_header(r);
			if (oh->kg_last < nh.kg_first || oh->kg_first > nh.kg_last) {
				fl_snap_reader_close(r);
				continue;
			}
			check_ctx c = { .seen = seen,
					.n = n,
					.kg_of = kg_of,
					.kg_first = nh.kg_first,
					.kg_last = nh.kg_last };
			int rc = fl_snap_read_keyed(r, nh.kg_first, nh.kg_last, check_entry, &c, err,
						    sizeof(err));
			if (rc) fail_msg("read %s: %s (bad %d)", path[s], err, c.bad);
			got += c.count;
			fl_snap_reader_close(r);
		}
		assert_true(got > 0);
	}
	for (uint64_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
	free(seen);
	free(kg_of);
	rmdir_all(d);
}

/* ---- corruption and truncation ----------------------------------------------- */

static int sink_entry(void *ud, const fl_snap_entry *e)
{
	(void)ud, (void)e;
	return 0;
}

/* Open in `mode` and read everything; the first error code (0 if none). */
static int read_all(const char *path, fl_snap_verify mode, char *err, size_t cap)
{
	fl_snap_reader *r;
	int rc = fl_snap_reader_open(&r, path, mode, err, cap);
	if (rc) return rc;
	if (!(rc = fl_snap_read_keyed(r, 0, 65535, sink_entry, NULL, err, cap)) &&
	    !(rc = fl_snap_read_timers(r, 0, 65535, NULL, sink_entry, NULL, err, cap)))
		rc = fl_snap_read_opstates(r, NULL, sink_entry, NULL, err, cap);
	fl_snap_reader_close(r);
	return rc;
}

static void test_corruption(void **st)
{
	(void)st;
	char *d = tmpdir(), path[512], bad[512], err[512];
	snprintf(path, sizeof(path), "%s/good.snap", d);
	snprintf(bad, sizeof(bad), "%s/bad.snap", d);
	fl_snap_header h = hdr(5, 0, 1, 32);
	fl_snap_info info = write_gen(path, &h, 0, 3000, NULL);
	size_t len;
	uint8_t *orig = slurp(path, &len);
	assert_int_equal(len, info.size);
	assert_int_equal(read_all(path, FL_SNAP_VERIFY_FILE, err, sizeof(err)), 0);
	assert_int_equal(read_all(path, FL_SNAP_VERIFY_SECTIONS, err, sizeof(err)), 0);

	/* positions: every section boundary and its neighbours, the whole
	 * head and tail, and random ones */
	size_t pos[800];
	int np = 0;
	uint64_t marks[] = {
		0, 8, info.keyed_off, info.timers_off, info.ops_off, info.trailer_off, info.tail_off
	};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		for (int dd = -2; dd <= 2; dd++)
			if ((int64_t)marks[i] + dd >= 0 && marks[i] + (uint64_t)dd < len)
				pos[np++] = (size_t)((int64_t)marks[i] + dd);
	for (size_t i = 0; i < 40; i++) pos[np++] = i < 20 ? i : len - 1 - (i - 20);
	for (size_t i = 0; i < 28; i++) pos[np++] = len - 28 + i;
	while (np < 700) pos[np++] = (size_t)(rnd() % len);

	uint8_t *b = malloc(len);
	for (int i = 0; i < np; i++) {
		memcpy(b, orig, len);
		b[pos[i]] ^= (uint8_t)(1u << (rnd() % 8)) | 0x10;
		spit(bad, b, len);
		err[0] = 0;
		int rc = read_all(bad, FL_SNAP_VERIFY_FILE, err, sizeof(err));
		if (rc != FLINC_ECODEC)
			fail_msg("flip at %zu of %zu (file mode): rc %d: %s", pos[i], len, rc, err);
		assert_non_null(strstr(err, bad)); /* the message names the file */
		/* section mode checks every byte it reads except the file CRC,
		 * which only the whole-file check uses */
		bool in_file_crc = pos[i] >= len - 12 && pos[i] < len - 8;
		rc = read_all(bad, FL_SNAP_VERIFY_SECTIONS, err, sizeof(err));
		if (!in_file_crc && rc != FLINC_ECODEC)
			fail_msg("flip at %zu of %zu (section mode): rc %d: %s", pos[i], len, rc, err);
	}

	/* truncation at every boundary and at random points */
	size_t cuts[300];
	int nc = 0;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		cuts[nc++] = marks[i];
		if (marks[i] > 0) cuts[nc++] = marks[i] - 1;
		cuts[nc++] = marks[i] + 1;
	}
	cuts[nc++] = len - 1;
	cuts[nc++] = len - 12;
	while (nc < 250) cuts[nc++] = (size_t)(rnd() % len);
	for (int i = 0; i < nc; i++) {
		if (cuts[i] >= len) continue;
		spit(bad, orig, cuts[i]);
		for (int mode = 0; mode < 2; mode++) {
			err[0] = 0;
			int rc = read_all(bad, (fl_snap_verify)mode, err, sizeof(err));
			if (rc != FLINC_ECODEC)
				fail_msg("truncated at %zu of %zu: rc %d: %s", cuts[i], len, rc, err);
			assert_non_null(strstr(err, bad));
		}
	}
	/* appended garbage */
	memcpy(b, orig, len);
	spit(bad, b, len);
	FILE *f = fopen(bad, "ab");
	fputs("garbage", f);
	fclose(f);
	assert_int_equal(read_all(bad, FL_SNAP_VERIFY_FILE, err, sizeof(err)), FLINC_ECODEC);
	/* missing */
	unlink(bad);
	assert_int_equal(read_all(bad, FL_SNAP_VERIFY_FILE, err, sizeof(err)), FLINC_ENOENT);
	assert_non_null(strstr(err, bad));
	free(b);
	free(orig);
	rmdir_all(d);
}

/* ---- writer contract --------------------------------------------------------- */

static void test_writer_rules(void **st)
{
	(void)st;
	char *d = tmpdir(), path[512], tmp[600], err[512];
	snprintf(path, sizeof(path), "%s/w.snap", d);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fl_snap_header h = hdr(1, 0, 2, 8); /* key groups 0..3 */
	fl_snap_writer *w;

	/* descending key group */
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(access(tmp, F_OK), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 2, "k", 1, NULL, 0, NULL, 0, "v", 1), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 1, "k", 1, NULL, 0, NULL, 0, "v", 1),
			 FLINC_EINVAL);
	assert_non_null(strstr(fl_snap_writer_errmsg(w), "ascending"));
	/* sticky */
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 3, "k", 1, NULL, 0, NULL, 0, "v", 1),
			 FLINC_EINVAL);
	assert_int_equal(fl_snap_writer_close(w, NULL, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, path));
	assert_int_not_equal(access(tmp, F_OK), 0);
	assert_int_not_equal(access(path, F_OK), 0);

	/* out of range, keyed after timer, kind change */
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 4, "k", 1, NULL, 0, NULL, 0, "v", 1),
			 FLINC_EINVAL);
	fl_snap_writer_abort(w);
	assert_int_not_equal(access(tmp, F_OK), 0);
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(fl_snap_add_timer(w, "op", 0, 1, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 0, "k", 1, NULL, 0, NULL, 0, "v", 1),
			 FLINC_EINVAL);
	fl_snap_writer_abort(w);
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_VALUE, 0, "k", 1, NULL, 0, NULL, 0, "v", 1), 0);
	assert_int_equal(fl_snap_add_keyed(w, "s", FL_STATE_LIST, 0, "k", 1, NULL, 0, NULL, 0, "v", 1),
			 FLINC_EINVAL);
	fl_snap_writer_abort(w);
	fl_snap_writer_abort(NULL);

	/* bad headers */
	fl_snap_header bh = h;
	bh.kg_last = 8;
	assert_int_equal(fl_snap_writer_open(&w, path, &bh, err, sizeof(err)), FLINC_EINVAL);
	assert_null(w);
	bh = h;
	bh.subtask = 2;
	assert_int_equal(fl_snap_writer_open(&w, path, &bh, err, sizeof(err)), FLINC_EINVAL);

	/* an empty file is valid */
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	assert_int_equal(fl_snap_writer_close(w, NULL, err, sizeof(err)), 0);
	assert_int_equal(read_all(path, FL_SNAP_VERIFY_FILE, err, sizeof(err)), 0);

	/* fl_snap_scan_fn through the memory backend's scan */
	void *be = calloc(1, fl_backend_memory.priv_size);
	fl_backend_params p = { .kg_first = 0, .kg_last = 3, .max_parallelism = 8 };
	assert_int_equal(fl_backend_memory.open(be, &p, err, sizeof(err)), 0);
	uint32_t sid;
	assert_int_equal(fl_backend_memory.declare(be, "op/cnt", FL_STATE_VALUE, &sid), 0);
	for (int i = 0; i < 100; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "k%d", i);
		fl_skey k = { .kg = (uint16_t)(i % 4), .klen = (uint32_t)kl, .key = (const uint8_t *)key };
		assert_int_equal(fl_backend_memory.put(be, sid, &k, &i, sizeof(i)), 0);
	}
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), 0);
	fl_snap_scan_ctx sc = { .w = w, .state = "op/cnt", .kind = FL_STATE_VALUE };
	for (int kg = 0; kg <= 3; kg++)
		assert_int_equal(fl_backend_memory.scan(be, sid, kg, kg, fl_snap_scan_fn, &sc), 0);
	fl_snap_info info;
	assert_int_equal(fl_snap_writer_close(w, &info, err, sizeof(err)), 0);
	assert_int_equal(info.n_keyed, 100);
	fl_backend_memory.close(be);
	free(be);
	rmdir_all(d);
}

/* ---- unwritable places -------------------------------------------------------- */

static void test_unwritable(void **st)
{
	(void)st;
	char *d = tmpdir(), file[512], path[600], err[512];
	/* a path under a regular file fails even for root */
	snprintf(file, sizeof(file), "%s/plain", d);
	spit(file, "x", 1);
	snprintf(path, sizeof(path), "%s/x.snap", file);
	fl_snap_header h = hdr(1, 0, 1, 4);
	fl_snap_writer *w;
	assert_int_equal(fl_snap_writer_open(&w, path, &h, err, sizeof(err)), FLINC_EIO);
	assert_null(w);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "Not a directory"));
	fl_chk_meta m = { .checkpoint_id = 1, .max_parallelism = 4 };
	strcpy(m.job_id, "j");
	strcpy(m.backend, "hashmap");
	assert_int_equal(fl_chk_meta_write(file, &m, err, sizeof(err)), FLINC_EIO);
	assert_non_null(strstr(err, file));
	snprintf(path, sizeof(path), "%s/a/b", file);
	assert_int_equal(fl_mkdir_p(path, err, sizeof(err)), FLINC_EIO);
	/* /proc refuses new files */
	assert_int_equal(fl_snap_writer_open(&w, "/proc/flinc-test.snap", &h, err, sizeof(err)), FLINC_EIO);
	assert_non_null(strstr(err, "/proc/flinc-test.snap"));
	/* reading a folder is an error, not a crash */
	fl_snap_reader *r;
	assert_int_not_equal(fl_snap_reader_open(&r, d, FL_SNAP_VERIFY_FILE, err, sizeof(err)), 0);
	rmdir_all(d);
}

/* ---- _metadata, latest, fallback, retention, savepoints ------------------------- */

/* Write a complete checkpoint (2 snapshot files) into dir; returns it. */
static void make_chk(const char *dir, int64_t id, bool savepoint, bool with_meta)
{
	char err[512], name[2][64], path[600];
	assert_int_equal(fl_mkdir_p(dir, err, sizeof(err)), 0);
	fl_chk_file files[2];
	for (int s = 0; s < 2; s++) {
		fl_snap_header h = hdr(id, s, 2, 16);
		fl_snap_file_name(name[s], sizeof(name[s]), h.vertex_id, s);
		snprintf(path, sizeof(path), "%s/%s", dir, name[s]);
		fl_snap_info info = write_gen(path, &h, (uint64_t)s * 100, 100, NULL);
		files[s] = (fl_chk_file){ .path = name[s],
					  .vertex_id = h.vertex_id,
					  .subtask = s,
					  .parallelism = 2,
					  .kg_first = h.kg_first,
					  .kg_last = h.kg_last,
					  .size = info.size,
					  .crc = info.crc };
	}
	if (!with_meta) return;
	char *ops[] = { "source", "window", "sink" };
	fl_chk_meta m = { .checkpoint_id = id,
			  .is_savepoint = savepoint,
			  .trigger_ts_ms = 1000 * id,
			  .complete_ts_ms = 1000 * id + 5,
			  .max_parallelism = 16,
			  .operators = ops,
			  .n_operators = 3,
			  .files = files,
			  .n_files = 2 };
	fl_snap_header h0 = hdr(id, 0, 2, 16);
	strcpy(m.job_id, h0.job_id);
	strcpy(m.backend, "hashmap");
	assert_int_equal(fl_chk_meta_write(dir, &m, err, sizeof(err)), 0);
}

static void test_metadata(void **st)
{
	(void)st;
	char *d = tmpdir(), dir[512], err[512];
	snprintf(dir, sizeof(dir), "%s/chk-12", d);
	make_chk(dir, 12, false, true);
	fl_chk_meta m;
	assert_int_equal(fl_chk_meta_read(dir, &m, err, sizeof(err)), 0);
	assert_int_equal(m.checkpoint_id, 12);
	assert_false(m.is_savepoint);
	assert_int_equal(m.trigger_ts_ms, 12000);
	assert_int_equal(m.complete_ts_ms, 12005);
	assert_int_equal(m.max_parallelism, 16);
	assert_string_equal(m.backend, "hashmap");
	assert_int_equal(m.n_operators, 3);
	assert_string_equal(m.operators[1], "window");
	assert_int_equal(m.n_files, 2);
	assert_int_equal(m.files[1].subtask, 1);
	assert_int_equal(m.files[1].kg_first, 8);
	assert_int_equal(m.files[1].kg_last, 15);
	assert_true(m.files[0].vertex_id == 0xfeedface12345678ull);
	assert_int_equal(m.n_shared, 0);
	for (int lvl = 0; lvl <= 2; lvl++)
		assert_int_equal(fl_chk_validate(dir, (fl_chk_check)lvl, err, sizeof(err)), 0);

	/* unsafe paths are refused on write */
	char *absp = "/etc/passwd", *up = "../x.snap", *sh = "shared/1.sst";
	fl_chk_file f = m.files[0];
	fl_chk_meta bad = m;
	bad.n_files = 1;
	bad.files = &f;
	f.path = absp;
	assert_int_equal(fl_chk_meta_write(d, &bad, err, sizeof(err)), FLINC_EINVAL);
	f.path = up;
	assert_int_equal(fl_chk_meta_write(d, &bad, err, sizeof(err)), FLINC_EINVAL);
	f.path = m.files[0].path;
	bad.is_savepoint = true;
	bad.shared = &sh;
	bad.n_shared = 1;
	assert_int_equal(fl_chk_meta_write(d, &bad, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "self-contained"));
	fl_chk_meta_free(&m);
	fl_chk_meta_free(NULL);

	/* a hand-edited _metadata with an absolute path is refused on read */
	char mp[600];
	snprintf(mp, sizeof(mp), "%s/_metadata", dir);
	size_t len;
	char *text = (char *)slurp(mp, &len);
	char *p = strstr(text, "\"path\": \"");
	assert_non_null(p);
	p[9] = '/';
	spit(mp, text, len);
	assert_int_equal(fl_chk_meta_read(dir, &m, err, sizeof(err)), FLINC_ECODEC);
	assert_non_null(strstr(err, "_metadata"));
	/* truncated JSON */
	spit(mp, text, len / 2);
	assert_int_equal(fl_chk_validate(dir, FL_CHK_CHECK_META, err, sizeof(err)), FLINC_ECODEC);
	free(text);
	/* missing: not complete */
	unlink(mp);
	assert_int_equal(fl_chk_validate(dir, FL_CHK_CHECK_META, err, sizeof(err)), FLINC_ENOENT);
	rmdir_all(d);
}

typedef struct logbuf {
	char text[8192];
	int lines;
} logbuf;

static void logcat(void *ud, const char *line)
{
	logbuf *l = ud;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof(l->text) - n, "%s\n", line);
	l->lines++;
}

static void test_latest_fallback(void **st)
{
	(void)st;
	char *d = tmpdir(), dir[600], err[1024];
	for (int64_t id = 1; id <= 3; id++) {
		fl_chk_dir(dir, sizeof(dir), d, id);
		make_chk(dir, id, false, true);
	}
	fl_chk_dir(dir, sizeof(dir), d, 4);
	make_chk(dir, 4, false, false); /* in progress / crashed: no _metadata */
	int64_t id = -1;
	logbuf lb = { 0 };
	assert_int_equal(fl_chk_latest(d, INT64_MAX, FL_CHK_CHECK_FULL, &id, logcat, &lb, err, sizeof(err)),
			 0);
	assert_int_equal(id, 3);
	assert_non_null(strstr(lb.text, "chk-4 has no _metadata"));

	/* corrupt a byte in chk-3's first file: full check falls back to 2 */
	char path[800], name[64];
	fl_snap_file_name(name, sizeof(name), 0xfeedface12345678ull, 0);
	fl_chk_dir(dir, sizeof(dir), d, 3);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t len;
	uint8_t *b = slurp(path, &len);
	b[len / 2] ^= 0x40;
	spit(path, b, len);
	free(b);
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(fl_chk_latest(d, INT64_MAX, FL_CHK_CHECK_FULL, &id, logcat, &lb, err, sizeof(err)),
			 0);
	assert_int_equal(id, 2);
	assert_non_null(strstr(lb.text, "chk-3 is unusable"));
	assert_non_null(strstr(lb.text, "checksum mismatch"));
	assert_non_null(strstr(lb.text, "falling back"));
	print_message("fallback log:\n%s", lb.text);

	/* a missing file in chk-2 is seen by the cheap file check */
	fl_chk_dir(dir, sizeof(dir), d, 2);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	memset(&lb, 0, sizeof(lb));
	assert_int_equal(fl_chk_latest(d, 3, FL_CHK_CHECK_FILES, &id, logcat, &lb, err, sizeof(err)), 0);
	assert_int_equal(id, 1);
	assert_non_null(strstr(lb.text, "chk-2 is unusable"));
	assert_non_null(strstr(lb.text, "No such file"));
	/* the "previous completed" helper: below 1 there is nothing */
	assert_int_equal(fl_chk_latest(d, 1, FL_CHK_CHECK_FILES, &id, NULL, NULL, err, sizeof(err)),
			 FLINC_ENOENT);
	assert_non_null(strstr(err, "no completed checkpoint"));
	/* no job folder */
	snprintf(path, sizeof(path), "%s/nope", d);
	assert_int_equal(fl_chk_latest(path, INT64_MAX, FL_CHK_CHECK_META, &id, NULL, NULL, err, sizeof(err)),
			 FLINC_ENOENT);
	rmdir_all(d);
}

static void test_retention(void **st)
{
	(void)st;
	char *d = tmpdir(), dir[600], err[512];
	for (int64_t id = 0; id <= 6; id++) {
		fl_chk_dir(dir, sizeof(dir), d, id);
		make_chk(dir, id, false, id >= 1 && id <= 5);
	}
	char shared[600];
	snprintf(shared, sizeof(shared), "%s/shared", d);
	assert_int_equal(fl_mkdir_p(shared, err, sizeof(err)), 0);
	assert_int_equal(fl_chk_retain(d, 0, NULL, NULL, err, sizeof(err)), FLINC_EINVAL);
	logbuf lb = { 0 };
	assert_int_equal(fl_chk_retain(d, 2, logcat, &lb, err, sizeof(err)), 0);
	int64_t *ids;
	size_t n;
	assert_int_equal(fl_chk_list(d, &ids, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 4);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 6); /* newer than the newest complete: may be in progress */
	free(ids);
	assert_int_equal(lb.lines, 4);
	assert_non_null(strstr(lb.text, "incomplete checkpoint"));
	assert_int_equal(access(shared, F_OK), 0);
	/* idempotent */
	assert_int_equal(fl_chk_retain(d, 2, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(fl_chk_list(d, &ids, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	free(ids);
	rmdir_all(d);
}

static void test_savepoints(void **st)
{
	(void)st;
	char *d = tmpdir(), sp[600], moved[700], err[1024], path[800];
	fl_savepoint_dir(sp, sizeof(sp), d, "a1b2c3d4e5f6");
	assert_non_null(strstr(sp, "/savepoint-a1b2c3-"));
	assert_int_equal(strlen(strrchr(sp, '-') + 1), 12);
	char sp2[600];
	fl_savepoint_dir(sp2, sizeof(sp2), d, "a1b2c3d4e5f6");
	assert_string_not_equal(sp, sp2);
	make_chk(sp, 9, true, true);

	/* relocatable: move it and it still validates in full */
	snprintf(moved, sizeof(moved), "%s/moved-sp", d);
	assert_int_equal(rename(sp, moved), 0);
	assert_int_equal(fl_chk_validate(moved, FL_CHK_CHECK_FULL, err, sizeof(err)), 0);

	/* dispose refuses a checkpoint and a plain folder, touching nothing */
	char chk[700];
	snprintf(chk, sizeof(chk), "%s/job/chk-1", d);
	make_chk(chk, 1, false, true);
	assert_int_equal(fl_savepoint_dispose(chk, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "not a savepoint"));
	assert_int_equal(fl_chk_validate(chk, FL_CHK_CHECK_FULL, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/job", d);
	assert_int_equal(fl_savepoint_dispose(path, err, sizeof(err)), FLINC_EINVAL);
	assert_int_equal(access(chk, F_OK), 0);
	assert_int_equal(fl_savepoint_dispose("/", err, sizeof(err)), FLINC_EINVAL);

	/* a savepoint with a stranger file inside: ours removed, folder kept */
	snprintf(path, sizeof(path), "%s/notes.txt", moved);
	spit(path, "keep me", 7);
	assert_int_equal(fl_savepoint_dispose(moved, err, sizeof(err)), FLINC_EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/_metadata", moved);
	assert_int_not_equal(access(path, F_OK), 0);

	/* a clean one goes entirely (leftover temporaries too) */
	make_chk(sp2, 10, true, true);
	snprintf(path, sizeof(path), "%s/x.snap.tmp", sp2);
	spit(path, "t", 1);
	assert_int_equal(fl_savepoint_dispose(sp2, err, sizeof(err)), 0);
	assert_int_not_equal(access(sp2, F_OK), 0);
	rmdir_all(d);
}

/* Replace every occurrence of from by to in the file at path. */
static void edit_file(const char *path, const char *from, const char *to)
{
	size_t len;
	uint8_t *b = slurp(path, &len);
	char *text = calloc(1, len * 2 + strlen(to) * 8 + 1), *o = text;
	assert_non_null(text);
	for (size_t i = 0; i < len;) {
		if (i + strlen(from) <= len && !memcmp(b + i, from, strlen(from))) {
			o += sprintf(o, "%s", to);
			i += strlen(from);
		} else {
			*o++ = (char)b[i++];
		}
	}
	spit(path, text, (size_t)(o - text));
	free(text);
	free(b);
}

/* Savepoint folders that try to lead disposal and restore outside:
 * symbolic links are refused or removed as links, never followed; a
 * _metadata that is a FIFO is refused at once; errors never quote a
 * file's contents. */
static void test_files_stay_inside(void **st)
{
	(void)st;
	char *d = tmpdir(), sp[600], out[600], path[1000], canary[700], link[700], err[1024], name[64];
	alarm(20); /* a blocked open fails the test instead of hanging it */
	snprintf(out, sizeof(out), "%s/outside", d);
	assert_int_equal(mkdir(out, 0755), 0);
	fl_snap_header h = hdr(3, 0, 2, 16);
	fl_snap_file_name(name, sizeof(name), h.vertex_id, 0);

	/* 1. a listed file behind a symlinked folder: refused, canary kept */
	snprintf(sp, sizeof(sp), "%s/sp-linkdir", d);
	make_chk(sp, 3, true, true);
	snprintf(path, sizeof(path), "%s/_metadata", sp);
	char from[100], to[120];
	snprintf(from, sizeof(from), "\"%s\"", name);
	snprintf(to, sizeof(to), "\"sub/%s\"", name);
	edit_file(path, from, to);
	snprintf(link, sizeof(link), "%s/sub", sp);
	assert_int_equal(symlink(out, link), 0);
	snprintf(canary, sizeof(canary), "%s/%s", out, name);
	spit(canary, "canary", 6);
	assert_int_equal(fl_savepoint_dispose(sp, err, sizeof(err)), FLINC_EINVAL);
	if (!strstr(err, "symbolic link")) fail_msg("%s", err);
	assert_int_equal(access(canary, F_OK), 0);
	assert_int_not_equal(fl_chk_validate(sp, FL_CHK_CHECK_FULL, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "symbolic link"));

	/* 2. a listed file that is itself a link: the link goes, the file stays */
	snprintf(sp, sizeof(sp), "%s/sp-linkfile", d);
	make_chk(sp, 3, true, true);
	snprintf(path, sizeof(path), "%s/%s", sp, name);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(canary, path), 0);
	assert_int_equal(fl_chk_validate(sp, FL_CHK_CHECK_FULL, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(fl_savepoint_dispose(sp, err, sizeof(err)), 0);
	assert_int_not_equal(access(sp, F_OK), 0);
	assert_int_equal(access(canary, F_OK), 0);

	/* 3. the savepoint folder itself a link: refused, with or without a
	 * trailing slash, and nothing removed */
	snprintf(sp, sizeof(sp), "%s/sp-real", d);
	make_chk(sp, 3, true, true);
	snprintf(link, sizeof(link), "%s/sp-link", d);
	assert_int_equal(symlink(sp, link), 0);
	assert_int_equal(fl_chk_validate(link, FL_CHK_CHECK_META, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "symbolic link"));
	snprintf(path, sizeof(path), "%s/", link);
	assert_int_equal(fl_chk_validate(path, FL_CHK_CHECK_META, err, sizeof(err)), FLINC_EINVAL);
	assert_int_equal(fl_savepoint_dispose(path, err, sizeof(err)), FLINC_EINVAL);
	assert_int_equal(fl_chk_validate(sp, FL_CHK_CHECK_FULL, err, sizeof(err)), 0);

	/* 4. _metadata a FIFO (nobody writes it): refused at once */
	snprintf(sp, sizeof(sp), "%s/sp-fifo", d);
	assert_int_equal(mkdir(sp, 0755), 0);
	snprintf(path, sizeof(path), "%s/_metadata", sp);
	assert_int_equal(mkfifo(path, 0644), 0);
	int64_t t0 = fl_mono_ns();
	assert_int_equal(fl_chk_validate(sp, FL_CHK_CHECK_FULL, err, sizeof(err)), FLINC_EINVAL);
	assert_non_null(strstr(err, "FIFO"));
	assert_int_equal(fl_savepoint_dispose(sp, err, sizeof(err)), FLINC_EINVAL);
	fl_chk_meta m;
	assert_int_equal(fl_chk_meta_read(sp, &m, err, sizeof(err)), FLINC_EINVAL);
	assert_true(fl_mono_ns() - t0 < 2000000000ll);
	assert_int_equal(access(path, F_OK), 0);
	/* a snapshot path that is a FIFO: the reader refuses it too */
	fl_snap_reader *r;
	assert_int_equal(fl_snap_reader_open(&r, path, FL_SNAP_VERIFY_FILE, err, sizeof(err)), FLINC_EINVAL);

	/* 5. a _metadata that is some other file: where it is wrong, not what it says */
	snprintf(sp, sizeof(sp), "%s/sp-passwd", d);
	assert_int_equal(mkdir(sp, 0755), 0);
	snprintf(path, sizeof(path), "%s/_metadata", sp);
	spit(path, "rootsecret:x:0:0:root:/root:/bin/bash\n", 38);
	assert_int_equal(fl_chk_validate(sp, FL_CHK_CHECK_META, err, sizeof(err)), FLINC_ECODEC);
	assert_null(strstr(err, "rootsecret"));
	assert_non_null(strstr(err, "not valid JSON"));
	alarm(0);
	rmdir_all(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),          cmocka_unit_test(test_roundtrip_kinds),
		cmocka_unit_test(test_many_entries),    cmocka_unit_test(test_rescale_read),
		cmocka_unit_test(test_corruption),      cmocka_unit_test(test_writer_rules),
		cmocka_unit_test(test_unwritable),      cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_latest_fallback), cmocka_unit_test(test_retention),
		cmocka_unit_test(test_savepoints),      cmocka_unit_test(test_files_stay_inside),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
