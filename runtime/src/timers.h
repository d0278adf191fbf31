/*
 * timers.h - a timer queue for one keyed operator and one time domain.
 *
 * A timer is (time, key group, key, namespace); registering the same one
 * twice keeps one. Timers come out in time order (ties in registration
 * order is not promised). Owned by the operator's subtask thread.
 */
#ifndef FL_TIMERS_H
#define FL_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fl_timers fl_timers;

typedef struct fl_timer {
	int64_t ts;
	uint16_t kg;
	uint32_t klen, nslen;
	const uint8_t *key; /* valid until the next call on the queue */
	const uint8_t *ns;
} fl_timer;

fl_timers *fl_timers_create(void);
void fl_timers_destroy(fl_timers *t); /* NULL is a no-op */

/* Add a timer; returns true if it was new. */
bool fl_timers_add(fl_timers *t, int64_t ts, uint16_t kg, const void *key, uint32_t klen, const void *ns,
		   uint32_t nslen);
/* Remove a timer; returns true if it was there. */
bool fl_timers_remove(fl_timers *t, int64_t ts, uint16_t kg, const void *key, uint32_t klen, const void *ns,
		      uint32_t nslen);
/* Time of the earliest timer, or INT64_MAX when empty. */
int64_t fl_timers_next(const fl_timers *t);
/* Pop the earliest timer if its time is <= upto: fills *out and returns
 * true. Timers added while popping (even <= upto) are popped in turn. */
bool fl_timers_pop(fl_timers *t, int64_t upto, fl_timer *out);
/* The timer fl_timers_pop would return next (if its time is <= upto),
 * without taking it: *out as for pop, valid until the next modifying call
 * (a peek does not end the validity of what pop returned). */
bool fl_timers_peek(const fl_timers *t, int64_t upto, fl_timer *out);
size_t fl_timers_count(const fl_timers *t);
/* Every timer, any order (snapshots); non-zero from fn stops. */
int fl_timers_scan(const fl_timers *t, int (*fn)(void *ud, const fl_timer *tm), void *ud);

#endif
