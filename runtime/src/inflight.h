/*
 * inflight.h - the in-flight data of an unaligned checkpoint at one task.
 *
 * With execution.checkpointing.unaligned a task snapshots its state when
 * the first barrier of a checkpoint reaches it (the barriers overtake the
 * buffers queued in the channels: exchange.h, "unaligned checkpoint
 * barriers"). What was in flight then on each input channel, buffers sent
 * before the barrier but not yet processed, belongs to the checkpoint: the
 * task copies it here as it learns it (the buffers the barrier overtook,
 * and on a channel whose barrier comes later, what it processes until the
 * barrier comes), writes it beside its snapshot file as
 * chk-<n>/<vertex hex16>-<subtask>.inflight and, on restore, processes it
 * again before anything new.
 *
 * The file, little-endian:
 *   "FLINFL01" [u64 checkpoint id][u32 subtask][u32 parallelism][u32 nin]
 *   then per channel with data: [u32 channel][u64 bytes][items]
 *   items: [u32 len][len bytes of one exchange buffer, FL_EV_* events]
 *   [u32 CRC32C of everything before it]
 * Channels are numbered in the order the task's inputs were wired, which
 * is the same at the same parallelism of the job's vertices; a restore at
 * any other shape is refused (fl_inflight_load), a rescale takes a
 * savepoint, which is always aligned.
 *
 * Memory: one growable buffer per channel, kept across checkpoints; the
 * whole copy is bounded by FL_INFLIGHT_MAX (past it the task declines the
 * checkpoint).
 */
#ifndef FL_INFLIGHT_H
#define FL_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_INFLIGHT_SUFFIX ".inflight"
#define FL_INFLIGHT_MAX ((size_t)256 << 20)

typedef struct fl_inflight_chan {
	uint8_t *p;
	size_t len, cap;
} fl_inflight_chan;

typedef struct fl_inflight {
	uint32_t nin;
	fl_inflight_chan *chan;
	size_t bytes; /* over every channel */
	bool over;    /* passed FL_INFLIGHT_MAX: the checkpoint is declined */
} fl_inflight;

void fl_inflight_init(fl_inflight *f, uint32_t nin);
void fl_inflight_fini(fl_inflight *f);
/* Empty it for the next checkpoint (keeps the memory). */
void fl_inflight_clear(fl_inflight *f);
/* Add one buffer's bytes (or what was left of it) to channel ch. */
void fl_inflight_add(fl_inflight *f, uint32_t ch, const uint8_t *p, size_t n);
/* Whether p holds whole items [u32 len][bytes] and nothing else; their
 * number in *count. */
bool fl_inflight_items(const uint8_t *p, size_t len, uint32_t *count);
/* Add the items of a barrier's blob ([u32 len][bytes]...) to channel ch,
 * skipping the first `skip`; false when the blob is malformed. */
bool fl_inflight_add_items(fl_inflight *f, uint32_t ch, const uint8_t *blob, size_t len, uint32_t skip);

/* The file's bytes (malloc'd, *n long). */
uint8_t *fl_inflight_encode(const fl_inflight *f, int64_t id, int subtask, int parallelism, size_t *n);

/* Read `path` (written by fl_inflight_encode): ENOENT when there is none;
 * an error (message in err) when it is corrupt or was written for another
 * subtask, parallelism or number of channels. On success *out holds the
 * data per channel (fl_inflight_fini it). */
int fl_inflight_load(const char *path, int subtask, int parallelism, uint32_t nin, fl_inflight *out,
		     char *err, size_t errcap);

/* Walk the items of one channel: returns the next item (its length in
 * *len) at *off, advancing it; NULL at the end. */
const uint8_t *fl_inflight_next(const fl_inflight_chan *c, size_t *off, uint32_t *len);

#endif
