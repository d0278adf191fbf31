/* inflight.c - the in-flight data of an unaligned checkpoint (inflight.h). */
#include "inflight.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <flinc/flinc.h>

#include "fl_hash.h"
#include "util.h"

#define MAGIC "FLINFL01"
#define HEAD (8u + 8u + 4u + 4u + 4u)

void fl_inflight_init(fl_inflight *f, uint32_t nin)
{
	memset(f, 0, sizeof(*f));
	f->nin = nin;
	f->chan = fl_calloc(nin ? nin : 1, sizeof(*f->chan));
}

void fl_inflight_fini(fl_inflight *f)
{
	if (!f->chan) return;
	for (uint32_t i = 0; i < f->nin; i++) free(f->chan[i].p);
	free(f->chan);
	memset(f, 0, sizeof(*f));
}

void fl_inflight_clear(fl_inflight *f)
{
	for (uint32_t i = 0; i < f->nin; i++) f->chan[i].len = 0;
	f->bytes = 0;
	f->over = false;
}

static void put(fl_inflight_chan *c, const void *p, size_t n)
{
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		while (cap < c->len + n) cap *= 2;
		c->p = fl_realloc(c->p, cap);
		c->cap = cap;
	}
	memcpy(c->p + c->len, p, n);
	c->len += n;
}

void fl_inflight_add(fl_inflight *f, uint32_t ch, const uint8_t *p, size_t n)
{
	if (ch >= f->nin || n == 0 || f->over) return;
	if (f->bytes + n + 4 > FL_INFLIGHT_MAX) {
		f->over = true;
		return;
	}
	uint32_t l = (uint32_t)n;
	put(&f->chan[ch], &l, 4);
	put(&f->chan[ch], p, n);
	f->bytes += n + 4;
}

bool fl_inflight_items(const uint8_t *p, size_t len, uint32_t *count)
{
	uint32_t k = 0;
	for (size_t off = 0; off < len; k++) {
		uint32_t l;
		if (len - off < 4) return false;
		memcpy(&l, p + off, 4);
		if (l > len - off - 4) return false;
		off += 4 + (size_t)l;
	}
	if (count) *count = k;
	return true;
}

bool fl_inflight_add_items(fl_inflight *f, uint32_t ch, const uint8_t *blob, size_t len, uint32_t skip)
{
	if (!fl_inflight_items(blob, len, NULL)) return false; /* whole, or nothing of it */
	size_t off = 0;
	for (uint32_t k = 0; off < len; k++) {
		uint32_t l;
		memcpy(&l, blob + off, 4);
		if (k >= skip) fl_inflight_add(f, ch, blob + off + 4, l);
		off += 4 + (size_t)l;
	}
	return true;
}

const uint8_t *fl_inflight_next(const fl_inflight_chan *c, size_t *off, uint32_t *len)
{
	if (*off + 4 > c->len) return NULL;
	uint32_t l;
	memcpy(&l, c->p + *off, 4);
	if (l > c->len - *off - 4) return NULL;
	const uint8_t *p = c->p + *off + 4;
	*off += 4 + (size_t)l;
	*len = l;
	return p;
}

uint8_t *fl_inflight_encode(const fl_inflight *f, int64_t id, int subtask, int parallelism, size_t *n)
{
	size_t total = HEAD + 4;
	for (uint32_t i = 0; i < f->nin; i++)
		if (f->chan[i].len) total += 12 + f->chan[i].len;
	uint8_t *b = fl_malloc(total), *q = b;
	uint32_t st = (uint32_t)subtask, par = (uint32_t)parallelism;
	memcpy(q, MAGIC, 8);
	memcpy(q + 8, &id, 8);
	memcpy(q + 16, &st, 4);
	memcpy(q + 20, &par, 4);
	memcpy(q + 24, &f->nin, 4);
	q += HEAD;
	for (uint32_t i = 0; i < f->nin; i++) {
		uint64_t l = f->chan[i].len;
		if (!l) continue;
		memcpy(q, &i, 4);
		memcpy(q + 4, &l, 8);
		memcpy(q + 12, f->chan[i].p, l);
		q += 12 + l;
	}
	uint32_t crc = fl_crc32c(0, b, (size_t)(q - b));
	memcpy(q, &crc, 4);
	*n = total;
	return b;
}

int fl_inflight_load(const char *path, int subtask, int parallelism, uint32_t nin, fl_inflight *out,
		     char *err, size_t errcap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? FLINC_ENOENT
				       : fl_errf(err, errcap, FLINC_EIO, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size < (off_t)(HEAD + 4) ||
	    (uint64_t)st.st_size > FL_INFLIGHT_MAX + 4096) {
		close(fd);
		return fl_errf(err, errcap, FLINC_ECODEC, "%s: not an in-flight data file (size %lld)", path,
			       (long long)st.st_size);
	}
	size_t n = (size_t)st.st_size;
	uint8_t *b = fl_malloc(n);
	int rc = fl_pread_all(fd, b, n, 0);
	close(fd);
	if (rc) {
		free(b);
		return fl_errf(err, errcap, FLINC_EIO, "%s: cannot read", path);
	}
	uint32_t crc, fst, fpar, fnin;
	memcpy(&crc, b + n - 4, 4);
	memcpy(&fst, b + 16, 4);
	memcpy(&fpar, b + 20, 4);
	memcpy(&fnin, b + 24, 4);
	if (memcmp(b, MAGIC, 8) || fl_crc32c(0, b, n - 4) != crc) {
		free(b);
		return fl_errf(err, errcap, FLINC_ECODEC, "%s: corrupt (bad magic or checksum)", path);
	}
	if (fst != (uint32_t)subtask || fpar != (uint32_t)parallelism || fnin != nin) {
		free(b);
		return fl_errf(
			err, errcap, FLINC_EINVAL,
			"%s: in-flight data of an unaligned checkpoint for subtask %u of %u with %u input "
			"channels; this subtask is %d of %d with %u: an unaligned checkpoint restores only at "
			"the parallelism it was taken at (rescale from a savepoint, which is aligned)",
			path, fst, fpar, fnin, subtask, parallelism, nin);
	}
	fl_inflight_init(out, nin);
	size_t off = HEAD;
	while (off < n - 4) {
		uint32_t ch;
		uint64_t l;
		if (n - 4 - off < 12) goto corrupt;
		memcpy(&ch, b + off, 4);
		memcpy(&l, b + off + 4, 8);
		off += 12;
		if (ch >= nin || l > n - 4 - off || out->chan[ch].len) goto corrupt;
		if (!fl_inflight_items(b + off, (size_t)l, NULL)) goto corrupt;
		put(&out->chan[ch], b + off, (size_t)l);
		out->bytes += (size_t)l;
		off += (size_t)l;
	}
	free(b);
	return FLINC_OK;
corrupt:
	free(b);
	fl_inflight_fini(out);
	return fl_errf(err, errcap, FLINC_ECODEC, "%s: corrupt (bad channel record)", path);
}
