/*
 * snapfile.c - one subtask's snapshot file: streaming writer and reader.
 *
 * Layout (docs/savepoints.md has the full description):
 *
 *   "FLNCSNAP"                         8-byte magic
 *   header      msgpack map            {v, job, chk, vertex, subtask, par, maxp, kgf, kgl}
 *   keyed       msgpack arrays         [sid, kg, key, ns, uk|nil, value], ascending kg
 *   timers      msgpack arrays         [uid index, domain, ts, kg, key, ns]
 *   op states   msgpack arrays         [uid index, bytes]
 *   trailer     msgpack map            {states, uids, hdr, kgs (index), timers, ops, n_keyed}
 *   tail        28 bytes, little-endian: u64 trailer offset, u32 trailer length,
 *                                      u32 trailer CRC, u32 file CRC, "FLSNEND1"
 *
 * Every byte is covered by a CRC32C: the file CRC covers everything before
 * it; each section (header, each key group's bytes, timers, op states,
 * trailer) has its own, so a reader that checks sections reads only what it
 * needs. Sections tile the file with no gaps, which the reader checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/codec.h>
#include <flinc/error.h>

#include "chk_internal.h"
#include "fl_checkpoint.h"

#define MAGIC "FLNCSNAP"
#define TAIL_MAGIC "FLSNEND1"
#define TAIL_LEN 28u
#define WBUF_CAP (256u * 1024u)
#define RBUF_CAP (256u * 1024u)
#define MAX_NAMES 65535u

/* ---- shared helpers ------------------------------------------------------ */

static void le32(uint8_t *q, uint32_t v)
{
	for (int i = 0; i < 4; i++) q[i] = (uint8_t)(v >> (8 * i));
}
static void le64(uint8_t *q, uint64_t v)
{
	for (int i = 0; i < 8; i++) q[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t rle32(const uint8_t *q)
{
	return (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
}
static uint64_t rle64(const uint8_t *q) { return (uint64_t)rle32(q) | ((uint64_t)rle32(q + 4) << 32); }

void fl_snap_file_name(char *buf, size_t cap, uint64_t vertex_id, int subtask)
{
	snprintf(buf, cap, "%016llx-%d" FL_SNAP_SUFFIX, (unsigned long long)vertex_id, subtask);
}

static int header_check(const fl_snap_header *h)
{
	if (h->max_parallelism < 1 || h->max_parallelism > FL_SNAP_MAX_KG || h->kg_first < 0 ||
	    h->kg_last < h->kg_first || h->kg_last >= h->max_parallelism || h->subtask < 0 ||
	    h->parallelism < 1 || h->subtask >= h->parallelism || h->checkpoint_id < 0 ||
	    !memchr(h->job_id, 0, sizeof(h->job_id)))
		return FLINC_EINVAL;
	return 0;
}

/* ---- writer ------------------------------------------------------------- */

typedef struct kg_sec {
	uint64_t off, len, count;
	uint32_t crc;
} kg_sec;

typedef struct name_ent {
	char *name;
	int kind;
} name_ent;

typedef struct name_tab {
	name_ent *v;
	uint32_t n, cap, last;
} name_tab;

struct fl_snap_writer {
	int fd;
	char *path, *tmp;
	fl_snap_header h;
	uint8_t *buf;
	size_t blen, crc_mark; /* bytes buffered; bytes of buf already in the CRCs */
	uint64_t off;          /* logical offset of buf[blen] */
	uint32_t crc_file, crc_sec;
	int section; /* 0 keyed, 1 timers, 2 op states, 3 closed */
	int cur_kg;  /* -1 before the first keyed entry */
	kg_sec *kgs; /* indexed by kg - kg_first */
	kg_sec hdr, keyed, timers, ops;
	name_tab states, uids;
	bool defer_sync; /* close skips the fsyncs (fl_chk_sync_file later) */
	int err;
	char errmsg[512];
};

static int wfail(fl_snap_writer *w, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int wfail(fl_snap_writer *w, int rc, const char *fmt, ...)
{
	if (w->err) return w->err;
	int n = snprintf(w->errmsg, sizeof(w->errmsg), "%s: ", w->path);
	if (n < 0 || (size_t)n >= sizeof(w->errmsg)) n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->errmsg + n, sizeof(w->errmsg) - (size_t)n, fmt, ap);
	va_end(ap);
	w->err = rc;
	return rc;
}

/* Fold buffered bytes not yet checksummed into both CRCs. */
static void crc_sync(fl_snap_writer *w)
{
	if (w->blen > w->crc_mark) {
		w->crc_file = fl_crc32c(w->crc_file, w->buf + w->crc_mark, w->blen - w->crc_mark);
		w->crc_sec = fl_crc32c(w->crc_sec, w->buf + w->crc_mark, w->blen - w->crc_mark);
		w->crc_mark = w->blen;
	}
}

static int wflush(fl_snap_writer *w)
{
	crc_sync(w);
	if (w->blen) {
		int e = fl_write_all(w->fd, w->buf, w->blen);
		if (e) return wfail(w, FLINC_EIO, "write failed: %s", strerror(-e));
	}
	w->blen = w->crc_mark = 0;
	return 0;
}

static int wput(fl_snap_writer *w, const void *p, size_t n)
{
	if (n <= WBUF_CAP - w->blen) {
		if (n) memcpy(w->buf + w->blen, p, n);
		w->blen += n;
		w->off += n;
		return 0;
	}
	int rc = wflush(w);
	if (rc) return rc;
	if (n < WBUF_CAP) {
		memcpy(w->buf, p, n);
		w->blen = n;
		w->off += n;
		return 0;
	}
	/* large value: straight to the file */
	w->crc_file = fl_crc32c(w->crc_file, p, n);
	w->crc_sec = fl_crc32c(w->crc_sec, p, n);
	int e = fl_write_all(w->fd, p, n);
	if (e) return wfail(w, FLINC_EIO, "write failed: %s", strerror(-e));
	w->off += n;
	return 0;
}

/* A msgpack bin header then the bytes. */
static int wbin(fl_snap_writer *w, const void *p, size_t n)
{
	uint8_t hb[8];
	flinc_writer mw;
	flinc_writer_init(&mw, hb, sizeof(hb));
	flinc_w_bin_header(&mw, (uint32_t)n);
	int rc = wput(w, hb, flinc_writer_len(&mw, hb));
	return rc ? rc : wput(w, p, n);
}

/* Start a new section at the current offset. */
static void sec_begin(fl_snap_writer *w, kg_sec *s)
{
	crc_sync(w);
	s->off = w->off;
	s->count = 0;
	w->crc_sec = 0;
}

static void sec_end(fl_snap_writer *w, kg_sec *s)
{
	crc_sync(w);
	s->len = w->off - s->off;
	s->crc = w->crc_sec;
}

static int name_find(fl_snap_writer *w, name_tab *t, const char *name, int kind, uint32_t *idx)
{
	if (t->n && strcmp(t->v[t->last].name, name) == 0) {
		if (t->v[t->last].kind != kind) goto kind_differs;
		*idx = t->last;
		return 0;
	}
	for (uint32_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0) {
			if (t->v[i].kind != kind) {
				t->last = i;
				goto kind_differs;
			}
			*idx = t->last = i;
			return 0;
		}
	if (t->n == MAX_NAMES)
		return wfail(w, FLINC_ERANGE, "more than %u distinct state or operator names", MAX_NAMES);
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 16;
		name_ent *v = fl_try_realloc(t->v, cap * sizeof(*v));
		if (!v) return wfail(w, FLINC_ENOMEM, "out of memory");
		t->v = v;
		t->cap = cap;
	}
	char *s = fl_try_strdup(name);
	if (!s) return wfail(w, FLINC_ENOMEM, "out of memory");
	t->v[t->n].name = s;
	t->v[t->n].kind = kind;
	*idx = t->last = t->n++;
	return 0;
kind_differs:
	return wfail(w, FLINC_EINVAL, "state '%s' added with kind %d after kind %d", name, kind,
		     t->v[t->last].kind);
}

static void names_free(name_tab *t)
{
	for (uint32_t i = 0; i < t->n; i++) free(t->v[i].name);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void writer_free(fl_snap_writer *w)
{
	if (w->fd >= 0) close(w->fd);
	free(w->path);
	free(w->tmp);
	free(w->buf);
	free(w->kgs);
	names_free(&w->states);
	names_free(&w->uids);
	free(w);
}

int fl_snap_writer_open(fl_snap_writer **out, const char *path, const fl_snap_header *h, char *err,
			size_t errcap)
{
	*out = NULL;
	if (!path || !h || header_check(h))
		return fl_errf(err, errcap, FLINC_EINVAL,
			       "%s: invalid snapshot header (subtask %d of %d, "
			       "key groups %d..%d of %d)",
			       path ? path : "(null)", h ? h->subtask : -1, h ? h->parallelism : -1,
			       h ? h->kg_first : -1, h ? h->kg_last : -1, h ? h->max_parallelism : -1);
	fl_snap_writer *w = fl_try_calloc(1, sizeof(*w));
	if (!w) return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", path);
	w->fd = -1;
	w->h = *h;
	w->h.version = FL_SNAP_VERSION;
	w->cur_kg = -1;
	size_t nkg = (size_t)(h->kg_last - h->kg_first + 1);
	w->path = fl_try_strdup(path);
	w->tmp = fl_try_malloc(strlen(path) + 5);
	w->buf = fl_try_malloc(WBUF_CAP);
	w->kgs = fl_try_calloc(nkg, sizeof(*w->kgs));
	if (!w->path || !w->tmp || !w->buf || !w->kgs) {
		writer_free(w);
		return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", path);
	}
	sprintf(w->tmp, "%s.tmp", path);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int rc = fl_errf(err, errcap, FLINC_EIO, "%s: cannot create: %s", w->tmp, strerror(errno));
		writer_free(w);
		return rc;
	}

	/* magic (in the file CRC, in no section) and header */
	memcpy(w->buf, MAGIC, 8);
	w->blen = 8;
	w->off = 8;
	sec_begin(w, &w->hdr);
	uint8_t hb[512];
	flinc_writer mw;
	flinc_writer_init(&mw, hb, sizeof(hb));
	flinc_w_map(&mw, 9);
	flinc_w_cstr(&mw, "v"), flinc_w_uint(&mw, FL_SNAP_VERSION);
	flinc_w_cstr(&mw, "job"), flinc_w_cstr(&mw, w->h.job_id);
	flinc_w_cstr(&mw, "chk"), flinc_w_int(&mw, h->checkpoint_id);
	flinc_w_cstr(&mw, "vertex"), flinc_w_uint(&mw, h->vertex_id);
	flinc_w_cstr(&mw, "subtask"), flinc_w_int(&mw, h->subtask);
	flinc_w_cstr(&mw, "par"), flinc_w_int(&mw, h->parallelism);
	flinc_w_cstr(&mw, "maxp"), flinc_w_int(&mw, h->max_parallelism);
	flinc_w_cstr(&mw, "kgf"), flinc_w_int(&mw, h->kg_first);
	flinc_w_cstr(&mw, "kgl"), flinc_w_int(&mw, h->kg_last);
	wput(w, hb, flinc_writer_len(&mw, hb)); /* fits: the buffer is empty */
	sec_end(w, &w->hdr);
	sec_begin(w, &w->keyed);
	*out = w;
	return 0;
}

const char *fl_snap_writer_errmsg(const fl_snap_writer *w) { return w ? w->errmsg : ""; }

static void end_kg(fl_snap_writer *w)
{
	if (w->cur_kg >= 0) sec_end(w, &w->kgs[w->cur_kg - w->h.kg_first]);
}

/* Move to section s (only forward). */
static int to_section(fl_snap_writer *w, int s, const char *what)
{
	if (w->section == s) return 0;
	if (w->section > s)
		return wfail(w, FLINC_EINVAL,
			     "%s added after a later section (order: keyed entries, timers, "
			     "operator states)",
			     what);
	if (w->section == 0) {
		end_kg(w);
		sec_end(w, &w->keyed);
		w->section = 1;
		sec_begin(w, &w->timers);
	}
	if (w->section == 1 && s >= 2) {
		sec_end(w, &w->timers);
		w->section = 2;
		sec_begin(w, &w->ops);
	}
	return 0;
}

int fl_snap_add_keyed(fl_snap_writer *w, const char *state, fl_state_kind kind, uint16_t kg, const void *key,
		      uint32_t klen, const void *ns, uint32_t nslen, const void *uk, uint32_t uklen,
		      const void *val, size_t vlen)
{
	if (w->err) return w->err;
	if (!state || (unsigned)kind > FL_STATE_MAP)
		return wfail(w, FLINC_EINVAL, "keyed entry without a state name or with kind %d", (int)kind);
	if (vlen > UINT32_MAX)
		return wfail(w, FLINC_ERANGE, "value of state '%s' is %zu bytes (at most 4 GiB - 1)", state,
			     vlen);
	if (w->section != 0) return to_section(w, 0, "keyed entry");
	if (kg < w->h.kg_first || kg > w->h.kg_last)
		return wfail(w, FLINC_EINVAL, "key group %u outside this subtask's range %d..%d", kg,
			     w->h.kg_first, w->h.kg_last);
	if ((int)kg < w->cur_kg)
		return wfail(w, FLINC_EINVAL,
			     "key group %u added after key group %d: keyed entries must come "
			     "in ascending key-group order",
			     kg, w->cur_kg);
	uint32_t sid;
	int rc = name_find(w, &w->states, state, (int)kind, &sid);
	if (rc) return rc;
	if ((int)kg != w->cur_kg) {
		end_kg(w);
		w->cur_kg = kg;
		sec_begin(w, &w->kgs[kg - w->h.kg_first]);
	}
	uint8_t hb[32];
	flinc_writer mw;
	flinc_writer_init(&mw, hb, sizeof(hb));
	flinc_w_array(&mw, 6);
	flinc_w_uint(&mw, sid);
	flinc_w_uint(&mw, kg);
	if ((rc = wput(w, hb, flinc_writer_len(&mw, hb))) || (rc = wbin(w, key, klen)) ||
	    (rc = wbin(w, ns, nslen)))
		return rc;
	if (kind == FL_STATE_MAP || uk) {
		if ((rc = wbin(w, uk, uklen))) return rc;
	} else {
		hb[0] = 0xc0;
		if ((rc = wput(w, hb, 1))) return rc;
	}
	if ((rc = wbin(w, val, vlen))) return rc;
	w->kgs[kg - w->h.kg_first].count++;
	w->keyed.count++;
	return 0;
}

int fl_snap_scan_fn(void *ud, uint16_t kg, const uint8_t *key, uint32_t klen, const uint8_t *ns,
		    uint32_t nslen, const uint8_t *uk, uint32_t uklen, const void *val, size_t vlen)
{
	fl_snap_scan_ctx *c = ud;
	return fl_snap_add_keyed(c->w, c->state, c->kind, kg, key, klen, ns, nslen, uk, uklen, val, vlen);
}

int fl_snap_add_timer(fl_snap_writer *w, const char *op_uid, int domain, int64_t ts, uint16_t kg,
		      const void *key, uint32_t klen, const void *ns, uint32_t nslen)
{
	if (w->err) return w->err;
	if (!op_uid || (domain != 0 && domain != 1))
		return wfail(w, FLINC_EINVAL, "timer without an operator uid or with domain %d", domain);
	int rc = to_section(w, 1, "timer");
	if (rc) return rc;
	if (kg < w->h.kg_first || kg > w->h.kg_last)
		return wfail(w, FLINC_EINVAL, "timer in key group %u outside this subtask's range %d..%d", kg,
			     w->h.kg_first, w->h.kg_last);
	uint32_t uid;
	if ((rc = name_find(w, &w->uids, op_uid, 0, &uid))) return rc;
	uint8_t hb[40];
	flinc_writer mw;
	flinc_writer_init(&mw, hb, sizeof(hb));
	flinc_w_array(&mw, 6);
	flinc_w_uint(&mw, uid);
	flinc_w_uint(&mw, (uint64_t)domain);
	flinc_w_int(&mw, ts);
	flinc_w_uint(&mw, kg);
	if ((rc = wput(w, hb, flinc_writer_len(&mw, hb))) || (rc = wbin(w, key, klen)) ||
	    (rc = wbin(w, ns, nslen)))
		return rc;
	w->timers.count++;
	return 0;
}

int fl_snap_add_opstate(fl_snap_writer *w, const char *op_uid, const void *data, size_t len)
{
	if (w->err) return w->err;
	if (!op_uid) return wfail(w, FLINC_EINVAL, "operator state without an operator uid");
	if (len > UINT32_MAX)
		return wfail(w, FLINC_ERANGE, "operator state of '%s' is %zu bytes (at most 4 GiB - 1)",
			     op_uid, len);
	int rc = to_section(w, 2, "operator state");
	if (rc) return rc;
	uint32_t uid;
	if ((rc = name_find(w, &w->uids, op_uid, 0, &uid))) return rc;
	uint8_t hb[16];
	flinc_writer mw;
	flinc_writer_init(&mw, hb, sizeof(hb));
	flinc_w_array(&mw, 2);
	flinc_w_uint(&mw, uid);
	if ((rc = wput(w, hb, flinc_writer_len(&mw, hb))) || (rc = wbin(w, data, len))) return rc;
	w->ops.count++;
	return 0;
}

static void w_sec(flinc_writer *mw, const kg_sec *s)
{
	flinc_w_array(mw, 4);
	flinc_w_uint(mw, s->off);
	flinc_w_uint(mw, s->len);
	flinc_w_uint(mw, s->count);
	flinc_w_uint(mw, s->crc);
}

/* Encode the trailer into a malloc'ed buffer. */
static uint8_t *trailer_encode(fl_snap_writer *w, size_t *len)
{
	size_t nkg = (size_t)(w->h.kg_last - w->h.kg_first + 1), used = 0;
	size_t cap = 512 + nkg * 48;
	for (uint32_t i = 0; i < w->states.n; i++) cap += strlen(w->states.v[i].name) + 8;
	for (uint32_t i = 0; i < w->uids.n; i++) cap += strlen(w->uids.v[i].name) + 8;
	for (size_t i = 0; i < nkg; i++) used += w->kgs[i].count > 0;
	uint8_t *b = fl_try_malloc(cap);
	if (!b) return NULL;
	flinc_writer mw;
	flinc_writer_init(&mw, b, cap);
	flinc_w_map(&mw, 7);
	flinc_w_cstr(&mw, "states");
	flinc_w_array(&mw, w->states.n);
	for (uint32_t i = 0; i < w->states.n; i++) {
		flinc_w_array(&mw, 2);
		flinc_w_cstr(&mw, w->states.v[i].name);
		flinc_w_uint(&mw, (uint64_t)w->states.v[i].kind);
	}
	flinc_w_cstr(&mw, "uids");
	flinc_w_array(&mw, w->uids.n);
	for (uint32_t i = 0; i < w->uids.n; i++) flinc_w_cstr(&mw, w->uids.v[i].name);
	flinc_w_cstr(&mw, "hdr");
	w_sec(&mw, &w->hdr);
	flinc_w_cstr(&mw, "keyed");
	w_sec(&mw, &w->keyed);
	flinc_w_cstr(&mw, "kgs");
	flinc_w_array(&mw, (uint32_t)used);
	for (size_t i = 0; i < nkg; i++) {
		const kg_sec *s = &w->kgs[i];
		if (!s->count) continue;
		flinc_w_array(&mw, 5);
		flinc_w_uint(&mw, (uint64_t)w->h.kg_first + i);
		flinc_w_uint(&mw, s->off);
		flinc_w_uint(&mw, s->len);
		flinc_w_uint(&mw, s->count);
		flinc_w_uint(&mw, s->crc);
	}
	flinc_w_cstr(&mw, "timers");
	w_sec(&mw, &w->timers);
	flinc_w_cstr(&mw, "ops");
	w_sec(&mw, &w->ops);
	if (mw.err) { /* cannot happen: cap is an upper bound */
		free(b);
		return NULL;
	}
	*len = flinc_writer_len(&mw, b);
	return b;
}

void fl_snap_writer_defer_sync(fl_snap_writer *w)
{
	if (w) w->defer_sync = true;
}

int fl_chk_sync_file(const char *path, char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fl_errf(err, errcap, errno == ENOENT ? FLINC_ENOENT : FLINC_EIO, "%s: cannot open: %s",
			       path, strerror(errno));
	int rc = 0;
	if (fsync(fd) < 0)
		rc = fl_errf(err, errcap, FLINC_EIO, "%s: fsync failed: %s", path, strerror(errno));
	close(fd);
	return rc ? rc : fl_fsync_parent(path, err, errcap);
}

int fl_snap_writer_close(fl_snap_writer *w, fl_snap_info *info, char *err, size_t errcap)
{
	if (!w) return fl_errf(err, errcap, FLINC_EINVAL, "(null): no snapshot writer");
	int rc = to_section(w, 2, "trailer");
	uint8_t *tb = NULL;
	size_t tlen = 0;
	if (!rc && !w->err) {
		sec_end(w, &w->ops);
		w->section = 3;
		tb = trailer_encode(w, &tlen);
		if (!tb) rc = wfail(w, FLINC_ENOMEM, "out of memory for the trailer");
	}
	uint64_t trailer_off = w->off;
	if (!w->err) wput(w, tb, tlen);
	uint8_t tail[TAIL_LEN];
	if (!w->err) {
		le64(tail, trailer_off);
		le32(tail + 8, (uint32_t)tlen);
		le32(tail + 12, fl_crc32c(0, tb, tlen));
		wput(w, tail, 16);
		crc_sync(w);
		le32(tail + 16, w->crc_file);
		memcpy(tail + 20, TAIL_MAGIC, 8);
		/* not through wput: these 12 bytes are outside the file CRC */
		if (WBUF_CAP - w->blen < 12) wflush(w);
		if (!w->err) {
			memcpy(w->buf + w->blen, tail + 16, 12);
			w->blen += 12;
			w->crc_mark = w->blen;
			w->off += 12;
			wflush(w);
		}
	}
	free(tb);
	if (!w->err && !w->defer_sync && fsync(w->fd) < 0)
		wfail(w, FLINC_EIO, "fsync failed: %s", strerror(errno));
	if (!w->err) {
		int fd = w->fd;
		w->fd = -1;
		if (close(fd) < 0) wfail(w, FLINC_EIO, "close failed: %s", strerror(errno));
	}
	if (!w->err && rename(w->tmp, w->path) < 0)
		wfail(w, FLINC_EIO, "cannot rename %s into place: %s", w->tmp, strerror(errno));
	if (!w->err && !w->defer_sync) {
		char e2[512];
		if (fl_fsync_parent(w->path, e2, sizeof(e2))) wfail(w, FLINC_EIO, "%s", e2);
	}
	rc = w->err;
	if (rc) {
		fl_errf(err, errcap, rc, "%s", w->errmsg);
		if (w->fd >= 0) {
			close(w->fd);
			w->fd = -1;
		}
		unlink(w->tmp);
	} else if (info) {
		memset(info, 0, sizeof(*info));
		info->size = w->off;
		info->crc = w->crc_file;
		info->header_off = w->hdr.off;
		info->keyed_off = w->keyed.off;
		info->timers_off = w->timers.off;
		info->ops_off = w->ops.off;
		info->trailer_off = trailer_off;
		info->tail_off = w->off - TAIL_LEN;
		info->n_keyed = w->keyed.count;
		info->n_timers = w->timers.count;
		info->n_ops = w->ops.count;
	}
	writer_free(w);
	return rc;
}

void fl_snap_writer_abort(fl_snap_writer *w)
{
	if (!w) return;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	unlink(w->tmp);
	writer_free(w);
}

/* ---- reader ------------------------------------------------------------- */

typedef struct rkg {
	uint32_t kg;
	kg_sec s;
} rkg;

struct fl_snap_reader {
	int fd;
	char *path;
	uint64_t size;
	fl_snap_verify verify;
	fl_snap_header h;
	fl_snap_info info;
	char **states;
	int *kinds;
	uint32_t n_states;
	char **uids;
	uint32_t n_uids;
	rkg *kgs;
	uint32_t n_kgs;
	kg_sec hdr, keyed, timers, ops;
	/* read buffer: buf[bpos..blen) holds file bytes from boff + bpos */
	uint8_t *buf;
	size_t cap, bpos, blen;
	uint64_t boff, rend; /* rend: end of the region being read */
};

static int rerr(const fl_snap_reader *r, char *err, size_t errcap, int rc, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int rerr(const fl_snap_reader *r, char *err, size_t errcap, int rc, const char *fmt, ...)
{
	if (err && errcap) {
		int n = snprintf(err, errcap, "%s: ", r->path);
		if (n < 0 || (size_t)n >= errcap) return rc;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err + n, errcap - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Read from [off, off+len) next (keeps buffered bytes when contiguous). */
static void reg_begin(fl_snap_reader *r, uint64_t off, uint64_t len)
{
	if (off != r->boff + r->bpos || off < r->boff) {
		r->boff = off;
		r->bpos = r->blen = 0;
	}
	r->rend = off + len;
}

static uint64_t reg_pos(const fl_snap_reader *r) { return r->boff + r->bpos; }

/* Make n bytes available at buf + bpos; ECODEC if the region is shorter. */
static int reg_ensure(fl_snap_reader *r, size_t n, char *err, size_t errcap)
{
	uint64_t pos = reg_pos(r);
	if (n > r->rend - pos)
		return rerr(r, err, errcap, FLINC_ECODEC,
			    "corrupt: an entry at offset %llu runs past the end of "
			    "its section (%llu)",
			    (unsigned long long)pos, (unsigned long long)r->rend);
	if (r->bpos + n <= r->blen) return 0;
	if (r->bpos) {
		memmove(r->buf, r->buf + r->bpos, r->blen - r->bpos);
		r->blen -= r->bpos;
		r->boff += r->bpos;
		r->bpos = 0;
	}
	if (n > r->cap) {
		uint8_t *b = fl_try_realloc(r->buf, n);
		if (!b)
			return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory for an entry of %zu bytes",
				    n);
		r->buf = b;
		r->cap = n;
	}
	uint64_t fend = r->size - TAIL_LEN;
	size_t want = r->cap - r->blen;
	if (want > fend - (r->boff + r->blen)) want = (size_t)(fend - (r->boff + r->blen));
	while (r->blen < n) {
		ssize_t got = pread(r->fd, r->buf + r->blen, want, (off_t)(r->boff + r->blen));
		if (got < 0 && errno == EINTR) continue;
		if (got < 0) return rerr(r, err, errcap, FLINC_EIO, "read failed: %s", strerror(errno));
		if (got == 0)
			return rerr(r, err, errcap, FLINC_ECODEC,
				    "truncated: file ended at %llu while reading",
				    (unsigned long long)(r->boff + r->blen));
		r->blen += (size_t)got;
		want -= (size_t)got;
	}
	return 0;
}

/* Length of the msgpack value at the read position, made available whole. */
static int mp_span(fl_snap_reader *r, size_t *span, char *err, size_t errcap)
{
	uint64_t need = 1, off = 0;
	int rc;
	while (need) {
		if ((rc = reg_ensure(r, (size_t)off + 1, err, errcap))) return rc;
		const uint8_t *q = r->buf + r->bpos + off;
		uint8_t t = q[0];
		uint64_t hdr = 1, body = 0, kids = 0;
		if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
		} else if ((t & 0xe0) == 0xa0)
			body = t & 0x1f;
		else if ((t & 0xf0) == 0x90)
			kids = t & 0x0f;
		else if ((t & 0xf0) == 0x80)
			kids = 2u * (t & 0x0f);
		else {
			uint64_t lb = 0; /* bytes of a length field */
			switch (t) {
			case 0xcc:
			case 0xd0: body = 1; break;
			case 0xcd:
			case 0xd1: body = 2; break;
			case 0xce:
			case 0xd2:
			case 0xca: body = 4; break;
			case 0xcf:
			case 0xd3:
			case 0xcb: body = 8; break;
			case 0xc4:
			case 0xd9: lb = 1; break;
			case 0xc5:
			case 0xda:
			case 0xdc:
			case 0xde: lb = 2; break;
			case 0xc6:
			case 0xdb:
			case 0xdd:
			case 0xdf: lb = 4; break;
			default:
				return rerr(r, err, errcap, FLINC_ECODEC,
					    "corrupt: unexpected byte 0x%02x at offset %llu", t,
					    (unsigned long long)(reg_pos(r) + off));
			}
			if (lb) {
				if ((rc = reg_ensure(r, (size_t)(off + 1 + lb), err, errcap))) return rc;
				q = r->buf + r->bpos + off;
				uint64_t n = flinc_mp_len_field(q, (int)lb);
				hdr += lb;
				if (t == 0xdc || t == 0xdd)
					kids = n;
				else if (t == 0xde || t == 0xdf)
					kids = 2 * n;
				else
					body = n;
			}
		}
		off += hdr + body;
		need = need - 1 + kids;
		if (off > r->rend - reg_pos(r))
			return rerr(r, err, errcap, FLINC_ECODEC,
				    "corrupt: an entry at offset %llu runs past the end "
				    "of its section",
				    (unsigned long long)reg_pos(r));
	}
	if ((rc = reg_ensure(r, (size_t)off, err, errcap))) return rc;
	*span = (size_t)off;
	return 0;
}

static void sec_read(flinc_reader *mr, kg_sec *s)
{
	if (flinc_r_array(mr) != 4) {
		mr->err = 1;
		return;
	}
	s->off = flinc_r_uint(mr);
	s->len = flinc_r_uint(mr);
	s->count = flinc_r_uint(mr);
	s->crc = (uint32_t)flinc_r_uint(mr);
}

static bool key_is(const char *k, uint32_t kl, const char *s) { return kl == strlen(s) && !memcmp(k, s, kl); }

static char *dupn(const char *s, uint32_t n)
{
	char *d = fl_try_malloc((size_t)n + 1);
	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static int trailer_parse(fl_snap_reader *r, const uint8_t *b, size_t len, char *err, size_t errcap)
{
	flinc_reader mr;
	flinc_reader_init(&mr, b, len);
	uint32_t nf = flinc_r_map(&mr);
	bool seen_hdr = false, seen_keyed = false, seen_t = false, seen_o = false;
	for (uint32_t f = 0; f < nf && !mr.err; f++) {
		uint32_t kl;
		const char *k = flinc_r_str(&mr, &kl);
		if (key_is(k, kl, "states")) {
			uint32_t n = flinc_r_array(&mr);
			if (mr.err || n > MAX_NAMES || r->states) break;
			r->states = fl_try_calloc(n ? n : 1, sizeof(char *));
			r->kinds = fl_try_calloc(n ? n : 1, sizeof(int));
			if (!r->states || !r->kinds)
				return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
			for (uint32_t i = 0; i < n && !mr.err; i++) {
				if (flinc_r_array(&mr) != 2) {
					mr.err = 1;
					break;
				}
				uint32_t sl;
				const char *s = flinc_r_str(&mr, &sl);
				int64_t kind = flinc_r_int(&mr);
				if (mr.err || kind < 0 || kind > FL_STATE_MAP || memchr(s, 0, sl))
					mr.err = 1;
				else if (!(r->states[i] = dupn(s, sl)))
					return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
				r->kinds[i] = (int)kind;
				r->n_states = i + 1;
			}
		} else if (key_is(k, kl, "uids")) {
			uint32_t n = flinc_r_array(&mr);
			if (mr.err || n > MAX_NAMES || r->uids) break;
			if (!(r->uids = fl_try_calloc(n ? n : 1, sizeof(char *))))
				return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
			for (uint32_t i = 0; i < n && !mr.err; i++) {
				uint32_t sl;
				const char *s = flinc_r_str(&mr, &sl);
				if (mr.err || memchr(s, 0, sl))
					mr.err = 1;
				else if (!(r->uids[i] = dupn(s, sl)))
					return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
				r->n_uids = i + 1;
			}
		} else if (key_is(k, kl, "hdr")) {
			sec_read(&mr, &r->hdr), seen_hdr = true;
		} else if (key_is(k, kl, "keyed")) {
			sec_read(&mr, &r->keyed), seen_keyed = true;
		} else if (key_is(k, kl, "timers")) {
			sec_read(&mr, &r->timers), seen_t = true;
		} else if (key_is(k, kl, "ops")) {
			sec_read(&mr, &r->ops), seen_o = true;
		} else if (key_is(k, kl, "kgs")) {
			uint32_t n = flinc_r_array(&mr);
			if (mr.err || n > FL_SNAP_MAX_KG || r->kgs) break;
			if (!(r->kgs = fl_try_calloc(n ? n : 1, sizeof(rkg))))
				return rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
			for (uint32_t i = 0; i < n && !mr.err; i++) {
				if (flinc_r_array(&mr) != 5) {
					mr.err = 1;
					break;
				}
				r->kgs[i].kg = (uint32_t)flinc_r_uint(&mr);
				r->kgs[i].s.off = flinc_r_uint(&mr);
				r->kgs[i].s.len = flinc_r_uint(&mr);
				r->kgs[i].s.count = flinc_r_uint(&mr);
				r->kgs[i].s.crc = (uint32_t)flinc_r_uint(&mr);
			}
			r->n_kgs = n;
		} else if (flinc_r_skip(&mr)) {
			mr.err = 1;
		}
	}
	if (mr.err || !seen_hdr || !seen_keyed || !seen_t || !seen_o || !r->states || !r->uids || !r->kgs)
		return rerr(r, err, errcap, FLINC_ECODEC, "corrupt: malformed trailer");
	return 0;
}

static int header_parse(fl_snap_reader *r, const uint8_t *b, size_t len, char *err, size_t errcap)
{
	flinc_reader mr;
	flinc_reader_init(&mr, b, len);
	uint32_t nf = flinc_r_map(&mr);
	fl_snap_header *h = &r->h;
	unsigned seen = 0;
	for (uint32_t f = 0; f < nf && !mr.err; f++) {
		uint32_t kl;
		const char *k = flinc_r_str(&mr, &kl);
		if (key_is(k, kl, "v"))
			h->version = (uint32_t)flinc_r_uint(&mr), seen |= 1;
		else if (key_is(k, kl, "job")) {
			uint32_t sl;
			const char *s = flinc_r_str(&mr, &sl);
			if (sl >= sizeof(h->job_id) || memchr(s, 0, sl))
				mr.err = 1;
			else
				memcpy(h->job_id, s, sl), h->job_id[sl] = 0, seen |= 2;
		} else if (key_is(k, kl, "chk"))
			h->checkpoint_id = flinc_r_int(&mr), seen |= 4;
		else if (key_is(k, kl, "vertex"))
			h->vertex_id = flinc_r_uint(&mr), seen |= 8;
		else if (key_is(k, kl, "subtask"))
			h->subtask = (int)flinc_r_int(&mr), seen |= 16;
		else if (key_is(k, kl, "par"))
			h->parallelism = (int)flinc_r_int(&mr), seen |= 32;
		else if (key_is(k, kl, "maxp"))
			h->max_parallelism = (int)flinc_r_int(&mr), seen |= 64;
		else if (key_is(k, kl, "kgf"))
			h->kg_first = (int)flinc_r_int(&mr), seen |= 128;
		else if (key_is(k, kl, "kgl"))
			h->kg_last = (int)flinc_r_int(&mr), seen |= 256;
		else if (flinc_r_skip(&mr))
			mr.err = 1;
	}
	if (mr.err || seen != 511 || mr.p != mr.end)
		return rerr(r, err, errcap, FLINC_ECODEC, "corrupt: malformed header");
	if (h->version != FL_SNAP_VERSION)
		return rerr(r, err, errcap, FLINC_ECODEC,
			    "snapshot format version %u, this build reads version %u", h->version,
			    FL_SNAP_VERSION);
	if (header_check(h)) return rerr(r, err, errcap, FLINC_ECODEC, "corrupt: inconsistent header");
	return 0;
}

/* Sections tile the file: magic, header, key groups (ascending, inside the
 * header's range), timers, op states, trailer. */
static int layout_check(fl_snap_reader *r, uint64_t trailer_off, char *err, size_t errcap)
{
	bool ok = r->hdr.off == 8 && r->keyed.off == r->hdr.off + r->hdr.len &&
		r->timers.off == r->keyed.off + r->keyed.len && r->ops.off == r->timers.off + r->timers.len &&
		trailer_off == r->ops.off + r->ops.len;
	uint64_t at = r->keyed.off, n = 0;
	int64_t prev = -1;
	for (uint32_t i = 0; ok && i < r->n_kgs; i++) {
		const rkg *k = &r->kgs[i];
		ok = k->s.off == at && (int64_t)k->kg > prev && k->s.count > 0 && k->s.len > 0;
		prev = k->kg;
		at += k->s.len;
		n += k->s.count;
	}
	ok = ok && at == r->timers.off && n == r->keyed.count;
	if (!ok) return rerr(r, err, errcap, FLINC_ECODEC, "corrupt: sections do not tile the file");
	return 0;
}

const fl_snap_header *fl_snap_reader_header(const fl_snap_reader *r) { return &r->h; }
void fl_snap_reader_info(const fl_snap_reader *r, fl_snap_info *info) { *info = r->info; }

void fl_snap_reader_close(fl_snap_reader *r)
{
	if (!r) return;
	if (r->fd >= 0) close(r->fd);
	for (uint32_t i = 0; i < r->n_states; i++) free(r->states[i]);
	for (uint32_t i = 0; i < r->n_uids; i++) free(r->uids[i]);
	free(r->states);
	free(r->kinds);
	free(r->uids);
	free(r->kgs);
	free(r->buf);
	free(r->path);
	free(r);
}

/* CRC of [off, off+len) by sequential reads through the buffer. */
static int crc_range(fl_snap_reader *r, uint64_t off, uint64_t len, uint32_t *crc, char *err, size_t errcap)
{
	uint32_t c = 0;
	while (len) {
		size_t n = len < r->cap ? (size_t)len : r->cap;
		int e = fl_pread_all(r->fd, r->buf, n, off);
		if (e < 0) return rerr(r, err, errcap, FLINC_EIO, "read failed: %s", strerror(-e));
		if (e > 0) return rerr(r, err, errcap, FLINC_ECODEC, "truncated while checking");
		c = fl_crc32c(c, r->buf, n);
		off += n;
		len -= n;
	}
	r->bpos = r->blen = 0; /* the buffer no longer holds the region */
	r->boff = 0;
	*crc = c;
	return 0;
}

int fl_snap_reader_open(fl_snap_reader **out, const char *path, fl_snap_verify verify, char *err,
			size_t errcap)
{
	*out = NULL;
	/* A link is refused and a FIFO or device never blocks the reader. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return fl_errf(err, errcap,
			       e == ENOENT          ? FLINC_ENOENT
				       : e == ELOOP ? FLINC_EINVAL
						    : FLINC_EIO,
			       "%s: cannot open: %s", path,
			       e == ELOOP ? "a symbolic link (refused)" : strerror(e));
	}
	return fl_snap_reader_openfd(out, fd, path, verify, err, errcap);
}

int fl_snap_reader_openfd(fl_snap_reader **out, int fd, const char *path, fl_snap_verify verify, char *err,
			  size_t errcap)
{
	*out = NULL;
	fl_snap_reader *r = fl_try_calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", path);
	}
	r->fd = fd;
	r->verify = verify;
	r->cap = RBUF_CAP;
	r->path = fl_try_strdup(path);
	r->buf = fl_try_malloc(r->cap);
	uint8_t *tb = NULL;
	int rc;
	if (!r->path || !r->buf) {
		rc = fl_errf(err, errcap, FLINC_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	struct stat st;
	if (fstat(r->fd, &st) < 0) {
		rc = rerr(r, err, errcap, FLINC_EIO, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = rerr(r, err, errcap, FLINC_EINVAL, "not a regular file (refused)");
		goto fail;
	}
	int fl = fcntl(r->fd, F_GETFL);
	if (fl >= 0) fcntl(r->fd, F_SETFL, fl & ~O_NONBLOCK);
	r->size = (uint64_t)st.st_size;
	uint8_t magic[8], tail[TAIL_LEN];
	if (r->size < 8 + TAIL_LEN) {
		rc = rerr(r, err, errcap, FLINC_ECODEC, "truncated or not a snapshot file (%llu bytes)",
			  (unsigned long long)r->size);
		goto fail;
	}
	int e;
	if ((e = fl_pread_all(r->fd, magic, 8, 0)) ||
	    (e = fl_pread_all(r->fd, tail, TAIL_LEN, r->size - TAIL_LEN))) {
		rc = e < 0 ? rerr(r, err, errcap, FLINC_EIO, "read failed: %s", strerror(-e))
			   : rerr(r, err, errcap, FLINC_ECODEC, "truncated while reading");
		goto fail;
	}
	if (memcmp(magic, MAGIC, 8)) {
		rc = rerr(r, err, errcap, FLINC_ECODEC, "not a snapshot file (bad magic)");
		goto fail;
	}
	if (memcmp(tail + 20, TAIL_MAGIC, 8)) {
		rc = rerr(r, err, errcap, FLINC_ECODEC, "truncated or corrupt: no end marker (size %llu)",
			  (unsigned long long)r->size);
		goto fail;
	}
	uint64_t toff = rle64(tail);
	uint32_t tlen = rle32(tail + 8), tcrc = rle32(tail + 12), fcrc = rle32(tail + 16);
	if (toff < 8 || toff > r->size || (uint64_t)tlen != r->size - TAIL_LEN - toff) {
		rc = rerr(r, err, errcap, FLINC_ECODEC,
			  "truncated or corrupt: trailer at %llu+%u does not end "
			  "where the file does (%llu)",
			  (unsigned long long)toff, tlen, (unsigned long long)r->size);
		goto fail;
	}
	if (!(tb = fl_try_malloc(tlen ? tlen : 1))) {
		rc = rerr(r, err, errcap, FLINC_ENOMEM, "out of memory");
		goto fail;
	}
	if ((e = fl_pread_all(r->fd, tb, tlen, toff))) {
		rc = e < 0 ? rerr(r, err, errcap, FLINC_EIO, "read failed: %s", strerror(-e))
			   : rerr(r, err, errcap, FLINC_ECODEC, "truncated while reading");
		goto fail;
	}
	uint32_t c = fl_crc32c(0, tb, tlen);
	if (c != tcrc) {
		rc = rerr(r, err, errcap, FLINC_ECODEC,
			  "corrupt: trailer checksum mismatch (stored %08x, "
			  "computed %08x)",
			  tcrc, c);
		goto fail;
	}
	if ((rc = trailer_parse(r, tb, tlen, err, errcap)) || (rc = layout_check(r, toff, err, errcap)))
		goto fail;
	free(tb);
	tb = NULL;
	if (r->hdr.len > 65536) {
		rc = rerr(r, err, errcap, FLINC_ECODEC, "corrupt: header of %llu bytes",
			  (unsigned long long)r->hdr.len);
		goto fail;
	}
	uint8_t hb[65536];
	if ((e = fl_pread_all(r->fd, hb, (size_t)r->hdr.len, r->hdr.off))) {
		rc = rerr(r, err, errcap, e < 0 ? FLINC_EIO : FLINC_ECODEC, "cannot read header: %s",
			  e < 0 ? strerror(-e) : "truncated");
		goto fail;
	}
	if ((c = fl_crc32c(0, hb, (size_t)r->hdr.len)) != r->hdr.crc) {
		rc = rerr(r, err, errcap, FLINC_ECODEC,
			  "corrupt: header checksum mismatch (stored %08x, "
			  "computed %08x)",
			  r->hdr.crc, c);
		goto fail;
	}
	if ((rc = header_parse(r, hb, (size_t)r->hdr.len, err, errcap))) goto fail;
	if (r->n_kgs && ((int)r->kgs[0].kg < r->h.kg_first || (int)r->kgs[r->n_kgs - 1].kg > r->h.kg_last)) {
		rc = rerr(r, err, errcap, FLINC_ECODEC,
			  "corrupt: key-group index outside the header's range");
		goto fail;
	}
	if (verify == FL_SNAP_VERIFY_FILE) {
		uint32_t fc = 0;
		if ((rc = crc_range(r, 0, r->size - 12, &fc, err, errcap))) goto fail;
		if (fc != fcrc) {
			rc = rerr(r, err, errcap, FLINC_ECODEC,
				  "corrupt: file checksum mismatch (stored %08x, "
				  "computed %08x)",
				  fcrc, fc);
			goto fail;
		}
	}
	r->info.size = r->size;
	r->info.crc = fcrc;
	r->info.header_off = r->hdr.off;
	r->info.keyed_off = r->keyed.off;
	r->info.timers_off = r->timers.off;
	r->info.ops_off = r->ops.off;
	r->info.trailer_off = toff;
	r->info.tail_off = r->size - TAIL_LEN;
	r->info.n_keyed = r->keyed.count;
	r->info.n_timers = r->timers.count;
	r->info.n_ops = r->ops.count;
	*out = r;
	return 0;
fail:
	free(tb);
	fl_snap_reader_close(r);
	return rc;
}

/* Read the entries of one section [s.off, s.off+s.len): parse each with
 * `one`, then check the count and (in section mode) the CRC. */
typedef int (*entry_parse_fn)(fl_snap_reader *r, flinc_reader *mr, void *ctx, char *err, size_t errcap);

static int read_section(fl_snap_reader *r, const kg_sec *s, const char *what, entry_parse_fn one, void *ctx,
			char *err, size_t errcap)
{
	reg_begin(r, s->off, s->len);
	uint32_t crc = 0;
	uint64_t n = 0;
	int rc;
	while (reg_pos(r) < r->rend) {
		size_t span = 0;
		if ((rc = mp_span(r, &span, err, errcap))) return rc;
		const uint8_t *p = r->buf + r->bpos;
		if (r->verify == FL_SNAP_VERIFY_SECTIONS) crc = fl_crc32c(crc, p, span);
		flinc_reader mr;
		flinc_reader_init(&mr, p, span);
		uint64_t at = reg_pos(r);
		r->bpos += span; /* before the callback: p stays valid, the buffer is not refilled */
		if ((rc = one(r, &mr, ctx, err, errcap)) != 0) {
			if (rc == FLINC_ECODEC && err && !err[0])
				rerr(r, err, errcap, rc, "corrupt: malformed %s at offset %llu", what,
				     (unsigned long long)at);
			return rc;
		}
		n++;
	}
	if (n != s->count)
		return rerr(r, err, errcap, FLINC_ECODEC,
			    "corrupt: %s section holds %llu entries, trailer says %llu", what,
			    (unsigned long long)n, (unsigned long long)s->count);
	if (r->verify == FL_SNAP_VERIFY_SECTIONS && crc != s->crc)
		return rerr(r, err, errcap, FLINC_ECODEC,
			    "corrupt: %s checksum mismatch at offset %llu (stored "
			    "%08x, computed %08x)",
			    what, (unsigned long long)s->off, s->crc, crc);
	return 0;
}

typedef struct rctx {
	fl_snap_entry_fn fn;
	void *ud;
	int kg_first, kg_last;
	uint32_t kg; /* keyed: the key group being read */
	int64_t uid; /* -1: every operator */
	bool stop;
} rctx;

static int keyed_one(fl_snap_reader *r, flinc_reader *mr, void *vctx, char *err, size_t errcap)
{
	rctx *c = vctx;
	fl_snap_entry e = { 0 };
	if (flinc_r_array(mr) != 6) return FLINC_ECODEC;
	uint64_t sid = flinc_r_uint(mr);
	e.kg = (uint16_t)flinc_r_uint(mr);
	e.key = flinc_r_bin(mr, &e.klen);
	e.ns = flinc_r_bin(mr, &e.nslen);
	if (!flinc_r_nil(mr)) e.uk = flinc_r_bin(mr, &e.uklen);
	uint32_t vl;
	e.val = flinc_r_bin(mr, &vl);
	e.vlen = vl;
	if (mr->err || mr->p != mr->end || sid >= r->n_states || e.kg != c->kg) return FLINC_ECODEC;
	e.state = r->states[sid];
	e.kind = (fl_state_kind)r->kinds[sid];
	int rc = c->fn(c->ud, &e);
	if (rc) c->stop = true;
	return rc;
}

int fl_snap_read_keyed(fl_snap_reader *r, int kg_first, int kg_last, fl_snap_entry_fn fn, void *ud, char *err,
		       size_t errcap)
{
	if (err && errcap) err[0] = 0;
	rctx c = { .fn = fn, .ud = ud };
	/* binary search for the first index entry >= kg_first */
	uint32_t lo = 0, hi = r->n_kgs;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if ((int)r->kgs[mid].kg < kg_first)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (uint32_t i = lo; i < r->n_kgs && (int)r->kgs[i].kg <= kg_last; i++) {
		c.kg = r->kgs[i].kg;
		char what[32];
		snprintf(what, sizeof(what), "key group %u", c.kg);
		int rc = read_section(r, &r->kgs[i].s, what, keyed_one, &c, err, errcap);
		if (rc) return rc;
	}
	return 0;
}

static int timer_one(fl_snap_reader *r, flinc_reader *mr, void *vctx, char *err, size_t errcap)
{
	rctx *c = vctx;
	fl_snap_entry e = { 0 };
	if (flinc_r_array(mr) != 6) return FLINC_ECODEC;
	uint64_t uid = flinc_r_uint(mr);
	e.domain = (int)flinc_r_uint(mr);
	e.ts = flinc_r_int(mr);
	uint64_t kg = flinc_r_uint(mr);
	e.key = flinc_r_bin(mr, &e.klen);
	e.ns = flinc_r_bin(mr, &e.nslen);
	if (mr->err || mr->p != mr->end || uid >= r->n_uids || kg > UINT16_MAX ||
	    (e.domain != 0 && e.domain != 1))
		return FLINC_ECODEC;
	e.kg = (uint16_t)kg;
	if ((int)kg < c->kg_first || (int)kg > c->kg_last || (c->uid >= 0 && (int64_t)uid != c->uid))
		return 0;
	e.op_uid = r->uids[uid];
	int rc = c->fn(c->ud, &e);
	if (rc) c->stop = true;
	return rc;
}

static int64_t uid_index(const fl_snap_reader *r, const char *op_uid)
{
	if (!op_uid) return -1;
	for (uint32_t i = 0; i < r->n_uids; i++)
		if (strcmp(r->uids[i], op_uid) == 0) return i;
	return -2; /* absent: nothing matches */
}

int fl_snap_read_timers(fl_snap_reader *r, int kg_first, int kg_last, const char *op_uid, fl_snap_entry_fn fn,
			void *ud, char *err, size_t errcap)
{
	if (err && errcap) err[0] = 0;
	rctx c = {
		.fn = fn, .ud = ud, .kg_first = kg_first, .kg_last = kg_last, .uid = uid_index(r, op_uid)
	};
	if (c.uid == -2) return 0;
	return read_section(r, &r->timers, "timer", timer_one, &c, err, errcap);
}

static int op_one(fl_snap_reader *r, flinc_reader *mr, void *vctx, char *err, size_t errcap)
{
	rctx *c = vctx;
	fl_snap_entry e = { 0 };
	if (flinc_r_array(mr) != 2) return FLINC_ECODEC;
	uint64_t uid = flinc_r_uint(mr);
	uint32_t vl;
	e.val = flinc_r_bin(mr, &vl);
	e.vlen = vl;
	if (mr->err || mr->p != mr->end || uid >= r->n_uids) return FLINC_ECODEC;
	if (c->uid >= 0 && (int64_t)uid != c->uid) return 0;
	e.op_uid = r->uids[uid];
	int rc = c->fn(c->ud, &e);
	if (rc) c->stop = true;
	return rc;
}

int fl_snap_read_opstates(fl_snap_reader *r, const char *op_uid, fl_snap_entry_fn fn, void *ud, char *err,
			  size_t errcap)
{
	if (err && errcap) err[0] = 0;
	rctx c = { .fn = fn, .ud = ud, .uid = uid_index(r, op_uid) };
	if (c.uid == -2) return 0;
	return read_section(r, &r->ops, "operator state", op_one, &c, err, errcap);
}
