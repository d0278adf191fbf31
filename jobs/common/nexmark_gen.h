/*
 * nexmark_gen.h - a deterministic Nexmark event generator and the Nexmark
 * line format (docs/nexmark.md).
 *
 * Plain C, no dependency on the flinc runtime: the nexmark.so job, the
 * flinc-gen tool and the hand-written baseline benchmark all use it.
 *
 * The generator follows the Nexmark benchmark's Java generator (the one the
 * Flink nexmark repository uses): events come in blocks of 50 = 1 person,
 * 3 auctions, 46 bids; ids start at 1000; bids go mostly to "hot" auctions
 * and bidders, auctions mostly to hot sellers; strings come from the same
 * small tables; an `extra` field pads events to average sizes of 200 (person),
 * 500 (auction) and 100 (bid) bytes. Unlike the Java one, event number k is a
 * pure function of (k, config): its random numbers come from a splitmix64
 * stream seeded with (seed, k). So subtask i of p can produce the numbers
 * congruent to i mod p on its own, and a file written by flinc-gen holds the
 * same events as the job's built-in source with the same settings.
 *
 * Event time of event k (milliseconds since the epoch):
 *     base_time_ms + floor(k * 1000 / rate)
 * i.e. the events are spaced 1e6/rate microseconds apart and the time is
 * rounded down to the millisecond (Java: baseTime + (long)(k * delayUs) / 1000).
 * The stream is ordered by event time.
 *
 * Strings in a generated event point into static tables (never freed) or into
 * the caller's scratch buffer; none contains a tab, CR or LF.
 *
 * Threads: every function here is reentrant; the static tables are built once
 * when the program or plugin is loaded.
 */
#ifndef NEXMARK_GEN_H
#define NEXMARK_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A string that is not NUL-terminated. */
typedef struct nexmark_str {
	const char *p;
	uint32_t len;
} nexmark_str;

typedef enum nexmark_kind {
	NEXMARK_PERSON = 0,
	NEXMARK_AUCTION = 1,
	NEXMARK_BID = 2,
} nexmark_kind;

typedef struct nexmark_person {
	int64_t id;
	nexmark_str name;
	nexmark_str email;
	nexmark_str credit_card;
	nexmark_str city;
	nexmark_str state;
	int64_t date_time; /* epoch ms */
	nexmark_str extra;
} nexmark_person;

typedef struct nexmark_auction {
	int64_t id;
	nexmark_str item_name;
	nexmark_str description;
	int64_t initial_bid; /* cents */
	int64_t reserve;     /* cents */
	int64_t date_time;   /* epoch ms */
	int64_t expires;     /* epoch ms */
	int64_t seller;      /* person id */
	int64_t category;
	nexmark_str extra;
} nexmark_auction;

typedef struct nexmark_bid {
	int64_t auction; /* auction id */
	int64_t bidder;  /* person id */
	int64_t price;   /* cents */
	nexmark_str channel;
	nexmark_str url;
	int64_t date_time; /* epoch ms */
	nexmark_str extra;
} nexmark_bid;

typedef struct nexmark_event {
	nexmark_kind kind;
	union {
		nexmark_person person;
		nexmark_auction auction;
		nexmark_bid bid;
	} u;
} nexmark_event;

/* Event time (epoch ms) of any event. */
static inline int64_t nexmark_event_time(const nexmark_event *e)
{
	switch (e->kind) {
	case NEXMARK_PERSON: return e->u.person.date_time;
	case NEXMARK_AUCTION: return e->u.auction.date_time;
	default: return e->u.bid.date_time;
	}
}

/* ---- generator ------------------------------------------------------- */

/* 2026-01-01T00:00:00Z: the default event time of event 0. */
#define NEXMARK_DEFAULT_BASE_TIME_MS INT64_C(1767225600000)
#define NEXMARK_DEFAULT_RATE 10000u /* events per second of event time */
#define NEXMARK_FIRST_PERSON_ID 1000
#define NEXMARK_FIRST_AUCTION_ID 1000
#define NEXMARK_FIRST_CATEGORY_ID 10

/* Scratch bytes nexmark_gen_event needs at most for one event. */
#define NEXMARK_SCRATCH_MAX 128

typedef struct nexmark_gen_cfg {
	uint64_t seed;
	uint64_t rate;        /* events per second of event time (> 0) */
	int64_t base_time_ms; /* event time of event 0 */
	/* Proportions of people, auctions and bids in each block. */
	uint32_t person_proportion;  /* 1 */
	uint32_t auction_proportion; /* 3 */
	uint32_t bid_proportion;     /* 46 */
	/* 1 in N bids/auctions picks a random auction/bidder/seller; the others
	 * pick the current hot one. */
	uint32_t hot_auction_ratio;      /* 2 */
	uint32_t hot_bidder_ratio;       /* 4 */
	uint32_t hot_seller_ratio;       /* 4 */
	uint32_t num_active_people;      /* 1000 */
	uint32_t num_in_flight_auctions; /* 100 */
	/* Average sizes the `extra` field pads events to. */
	uint32_t avg_person_bytes;  /* 200 */
	uint32_t avg_auction_bytes; /* 500 */
	uint32_t avg_bid_bytes;     /* 100 */
} nexmark_gen_cfg;

/* Fill `c` with the Nexmark defaults (values in the comments above), seed 0,
 * rate NEXMARK_DEFAULT_RATE, base time NEXMARK_DEFAULT_BASE_TIME_MS. */
void nexmark_gen_cfg_default(nexmark_gen_cfg *c);

/* NULL if `c` is usable, else a one-line reason (static string). */
const char *nexmark_gen_cfg_check(const nexmark_gen_cfg *c);

/* Event time of event k (see the top of this file). */
int64_t nexmark_gen_time(const nexmark_gen_cfg *c, uint64_t k);

/* Kind of event k (a function of k alone). */
nexmark_kind nexmark_gen_kind(const nexmark_gen_cfg *c, uint64_t k);

/* Generate event k (0-based) into *out. Strings point into static tables or
 * into `scratch` (cap >= NEXMARK_SCRATCH_MAX bytes, owned by the caller; the
 * event is valid as long as scratch is). Returns 0, or -1 if cap is too
 * small. No allocation; reentrant. */
int nexmark_gen_event(const nexmark_gen_cfg *c, uint64_t k, nexmark_event *out, char *scratch, size_t cap);

/* ---- line format ----------------------------------------------------- */

/* Write `e` as one line of the documented format, without the newline, into
 * buf like snprintf: returns the length the line needs; when that is >= cap
 * the contents of buf are unspecified (call again with a larger buffer). */
size_t nexmark_format_line(const nexmark_event *e, char *buf, size_t cap);

/* Parse one line (without its newline; one trailing CR is ignored). Strings
 * point into `s`. Returns 0, or -1 with *why (static string, may be NULL) set
 * for a malformed line. */
int nexmark_parse_line(const char *s, size_t len, nexmark_event *out, const char **why);

#ifdef __cplusplus
}
#endif
#endif
