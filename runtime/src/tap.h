/*
 * tap.h - the latest records a sink subtask wrote, for the web UI's live
 * output.
 *
 * A task with a sink operator gets a tap when its task manager first
 * enables it (somebody watches the job): a ring of FL_TAP_SLOTS fixed
 * slots of FL_TAP_SLOT_BYTES, one writer (the task thread, in the sink's
 * process) and one reader (the task manager's heartbeat). While the tap is
 * off, or the task has none, a sink record costs one atomic load and a
 * branch. While it is on, a record is formatted once, straight into the
 * next free slot (the sink's format function for sinks made by
 * flinc_sink_to, the bytes of a text line, else the type's name), and
 * only while a slot is free: a full ring (the reader is behind) skips the
 * record, so the tap never waits and never slows the job; at most
 * FL_TAP_SLOTS records per subtask per report. Longer records are cut.
 */
#ifndef FL_TAP_H
#define FL_TAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FL_TAP_SLOTS 32
#define FL_TAP_SLOT_BYTES 512

typedef struct fl_tap_slot {
	uint32_t len; /* bytes in buf */
	bool cut;     /* the record was longer */
	char buf[FL_TAP_SLOT_BYTES];
} fl_tap_slot;

typedef struct fl_tap {
	_Atomic bool on;
	_Atomic uint32_t head; /* next slot to write (the task thread) */
	_Atomic uint32_t tail; /* next slot to read (the reader) */
	fl_tap_slot slot[FL_TAP_SLOTS];
} fl_tap;

struct fl_op;
/* The sink's process: keep rec if the tap is on and a slot is free. */
void fl_tap_sink_record(struct fl_op *op, const void *rec);

#endif
