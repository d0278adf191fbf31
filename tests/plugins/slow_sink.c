/*
 * slow_sink.c - a fast source behind a deliberately slow sink, for the
 * backpressure test (tests/integration/cluster_backpressure.py).
 *
 *   slow_sink.so --count N [--payload BYTES] [--slow-records K]
 *                [--sleep-every M] [--progress DIR] [--skew PCT]
 *
 * source (as fast as it can: subtask s of p emits the indices s, s+p, ...
 *         below N, each with a payload derived from the index)
 *   -> rebalance (--skew PCT > 0: key by record, PCT% of the records
 *      on one hot key, the rest spread: a skewed keyed exchange)
 *   -> sink: its first K records each take 1 ms (nanosleep), after that it
 *      sleeps 1 ms every M records (M = 0: never); every record's payload is
 *      checked against its index.
 *
 * With --progress DIR every source subtask keeps DIR/source-<i> and every
 * sink subtask DIR/sink-<i> up to date: one fixed-width line
 * "<count> <sum of indices> <r|f>\n" ('f' once the subtask is done),
 * rewritten in place every few thousand records (every 100 or 128 while
 * the sink is slow), so a test can watch the rates from outside the cluster and
 * check at the end that nothing was lost or duplicated. A payload that
 * does not match its index fails the job.
 */
#include <flinc/flinc.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_MAX 1024

typedef struct rec {
	uint64_t idx;
	const char *payload;
	uint32_t len;
} rec;

static int rec_encode(const void *r, flinc_writer *w)
{
	const rec *x = r;
	flinc_w_array(w, 2);
	flinc_w_uint(w, x->idx);
	flinc_w_str(w, x->payload, x->len);
	return 0;
}

static int rec_decode(flinc_reader *r, void *out, flinc_arena *a)
{
	(void)a;
	rec *x = out;
	if (flinc_r_array(r) != 2) return 1;
	x->idx = flinc_r_uint(r);
	x->payload = flinc_r_str(r, &x->len);
	return r->err;
}

static const flinc_type rec_type = {
	.version = FLINC_TYPE_VERSION,
	.name = "slow_sink.rec",
	.size = sizeof(rec),
	.encode = rec_encode,
	.decode = rec_decode,
};

typedef struct opts {
	uint64_t count;
	uint32_t payload;
	uint64_t slow_records;
	uint64_t sleep_every;
	uint32_t skew;
	const char *progress;
} opts;

static uint32_t g_skew; /* --skew, for the key function (set by build) */

/* The payload of record idx: letters from a 64-bit mix of the index. */
static void fill_payload(uint64_t idx, char *buf, uint32_t len)
{
	uint64_t h = idx * 0x9E3779B97F4A7C15ULL + 0x632BE59BD9B4E019ULL;
	for (uint32_t i = 0; i < len; i++) {
		h ^= h >> 29;
		h *= 0xBF58476D1CE4E5B9ULL;
		buf[i] = (char)('a' + (h >> 59));
	}
}

/* ---- progress files -------------------------------------------------- */

static int progress_open(flinc_ctx *c, const opts *o, const char *kind)
{
	if (!o->progress) return -1;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s-%d", o->progress, kind, flinc_ctx_subtask(c));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) flinc_ctx_fail(c, "slow_sink: cannot open %s: %s", path, strerror(errno));
	return fd;
}

static void progress_write(int fd, uint64_t count, uint64_t sum, bool final)
{
	if (fd < 0) return;
	char line[64];
	int n = snprintf(line, sizeof line, "%20" PRIu64 " %20" PRIu64 " %c\n", count, sum,
			 final ? 'f' : 'r');
	if (pwrite(fd, line, (size_t)n, 0) != n) { /* the test notices a stale file */
	}
}

/* ---- source -------------------------------------------------------- */

typedef struct src_local {
	uint64_t next, step, emitted, sum;
	int fd;
	char buf[PAYLOAD_MAX];
} src_local;

static int src_open(flinc_ctx *c, void *local)
{
	src_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	l->next = (uint64_t)flinc_ctx_subtask(c);
	l->step = (uint64_t)flinc_ctx_parallelism(c);
	l->fd = progress_open(c, o, "source");
	progress_write(l->fd, 0, 0, false);
	return FLINC_OK;
}

static int src_run(flinc_ctx *c, void *local, uint32_t budget)
{
	src_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	for (uint32_t k = 0; k < budget; k++) {
		if (l->next >= o->count) {
			progress_write(l->fd, l->emitted, l->sum, true);
			return FLINC_SOURCE_END;
		}
		fill_payload(l->next, l->buf, o->payload);
		rec r = { l->next, l->buf, o->payload };
		flinc_emit(c, &r);
		l->sum += l->next;
		l->next += l->step;
		/* fine-grained while the sink is still slow (the test measures
		 * the source's rate over seconds there), coarse afterwards */
		uint64_t mask = l->emitted < 8 * o->slow_records + 65536 ? 127 : 4095;
		if ((++l->emitted & mask) == 0) progress_write(l->fd, l->emitted, l->sum, false);
	}
	return FLINC_SOURCE_MORE;
}

static void src_close(flinc_ctx *c, void *local)
{
	(void)c;
	src_local *l = local;
	if (l->fd >= 0) close(l->fd);
	l->fd = -1;
}

static const flinc_source_fn source_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(src_local),
	.open = src_open,
	.run = src_run,
	.close = src_close,
};

/* ---- sink ----------------------------------------------------------- */

typedef struct sink_local {
	uint64_t count, sum;
	int fd;
	char buf[PAYLOAD_MAX];
} sink_local;

static void sleep_1ms(void)
{
	struct timespec ts = { 0, 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static int sink_open(flinc_ctx *c, void *local)
{
	sink_local *l = local;
	l->fd = progress_open(c, flinc_ctx_arg(c), "sink");
	progress_write(l->fd, 0, 0, false);
	return FLINC_OK;
}

static int sink_write(flinc_ctx *c, void *local, const void *in)
{
	sink_local *l = local;
	const opts *o = flinc_ctx_arg(c);
	const rec *r = in;
	fill_payload(r->idx, l->buf, o->payload);
	if (r->len != o->payload || memcmp(r->payload, l->buf, o->payload) != 0) {
		flinc_ctx_fail(c, "slow_sink: record %" PRIu64 " arrived with a wrong payload", r->idx);
		return FLINC_EINVAL;
	}
	l->count++;
	l->sum += r->idx;
	bool slow = l->count <= o->slow_records;
	if (slow)
		sleep_1ms();
	else if (o->sleep_every && l->count % o->sleep_every == 0)
		sleep_1ms();
	if ((slow && l->count % 100 == 0) || (l->count & 4095) == 0)
		progress_write(l->fd, l->count, l->sum, false);
	return FLINC_OK;
}

static int sink_commit(flinc_ctx *c, void *local, int64_t checkpoint_id)
{
	(void)c;
	sink_local *l = local;
	progress_write(l->fd, l->count, l->sum, checkpoint_id == FLINC_CHECKPOINT_FINAL);
	return FLINC_OK;
}

static void sink_close(flinc_ctx *c, void *local)
{
	(void)c;
	sink_local *l = local;
	if (l->fd >= 0) close(l->fd);
	l->fd = -1;
}

static const flinc_sink_fn sink_fn = {
	.version = FLINC_FN_VERSION,
	.local_size = sizeof(sink_local),
	.open = sink_open,
	.write = sink_write,
	.commit = sink_commit,
	.close = sink_close,
};

/* ---- the job ---------------------------------------------------------- */

/* --skew: a record is on the hot key when a mix of its index falls below
 * PCT of 100; otherwise its key is its index. */
static size_t skew_key(const void *r, uint8_t *buf, size_t cap)
{
	const rec *x = r;
	if (cap < 8) return 0;
	uint64_t h = x->idx * 0x9E3779B97F4A7C15ULL;
	uint64_t k = (h >> 32) % 100 < g_skew ? UINT64_MAX : x->idx;
	memcpy(buf, &k, 8);
	return 8;
}

static int build(flinc_env *e, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	opts *o = flinc_env_alloc(e, sizeof *o);
	if (!o) return flinc_env_fail(e, "slow_sink: out of memory");
	int64_t count = flinc_arg_i64(e, "count", 10000000);
	int64_t payload = flinc_arg_i64(e, "payload", 32);
	int64_t slow = flinc_arg_i64(e, "slow-records", 0);
	int64_t every = flinc_arg_i64(e, "sleep-every", 0);
	int64_t skew = flinc_arg_i64(e, "skew", 0);
	o->progress = flinc_arg(e, "progress", NULL);
	if (count < 0 || slow < 0 || every < 0)
		return flinc_env_fail(e, "slow_sink: --count, --slow-records and --sleep-every must be >= 0");
	if (skew < 0 || skew > 100) return flinc_env_fail(e, "slow_sink: --skew must be 0..100 (percent)");
	if (payload < 0 || payload > PAYLOAD_MAX)
		return flinc_env_fail(e, "slow_sink: --payload must be 0..%d bytes", PAYLOAD_MAX);
	o->count = (uint64_t)count;
	o->payload = (uint32_t)payload;
	o->slow_records = (uint64_t)slow;
	o->sleep_every = (uint64_t)every;
	o->skew = (uint32_t)skew;
	g_skew = o->skew;

	flinc_stream *s =
		flinc_set_uid(flinc_source(e, "fast-source", &source_fn, o, &rec_type), "fast-source");
	flinc_sink(o->skew ? flinc_key_by(s, skew_key) : flinc_rebalance(s), "slow-sink", &sink_fn, o);
	return FLINC_OK;
}

FLINC_PLUGIN("slow_sink", "A fast source behind a slow sink (backpressure test)",
	     "--count N [--payload BYTES] [--slow-records K] [--sleep-every M] [--progress DIR] [--skew PCT]",
	     build);
