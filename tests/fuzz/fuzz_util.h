/*
 * fuzz_util.h - what the fuzz targets share: a running digest of what a
 * parser said, so that one input fed whole and fed in pieces can be
 * compared (a parser that is incremental over any split must say the same
 * both ways), and FUZZ_CHECK, which aborts (a crash for libFuzzer and for
 * the replay test) when an invariant breaks.
 */
#ifndef FL_FUZZ_UTIL_H
#define FL_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                             \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                     \
		}                                                                                    \
	} while (0)

/* FNV-1a over everything added. */
typedef struct fuzz_digest {
	uint64_t h;
	uint64_t n;
} fuzz_digest;

static inline void fuzz_digest_init(fuzz_digest *d)
{
	d->h = 1469598103934665603ull;
	d->n = 0;
}

static inline void fuzz_digest_add(fuzz_digest *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		d->h ^= b[i];
		d->h *= 1099511628211ull;
	}
	d->n += n;
}

static inline void fuzz_digest_int(fuzz_digest *d, int64_t v) { fuzz_digest_add(d, &v, sizeof v); }

static inline void fuzz_digest_str(fuzz_digest *d, const char *s) { fuzz_digest_add(d, s, strlen(s) + 1); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
