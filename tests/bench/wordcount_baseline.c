/*
 * wordcount_baseline - the hand-written single-threaded C loop that does
 * wordcount.so's work, as the yardstick for the engine's per-core speed.
 *
 * Same semantics as the job: split lines on non-alphanumeric bytes,
 * lowercase, count per word in a hash table, and produce a (word, count)
 * result every time a count grows (here: folded into a checksum, as the
 * engine's discard sink only counts). A good C programmer's loop: one read
 * of the file, no allocation per word, open addressing with cached hashes.
 *
 * usage: wordcount_baseline FILE
 * prints: lines, words, seconds, lines/s
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct entry {
	uint64_t hash;
	uint32_t off, len; /* word bytes in the arena */
	uint64_t count;
} entry;

static entry *tab;
static size_t cap = 1 << 16, used;
static char *arena;
static size_t arena_len, arena_cap = 1 << 20;

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a mix */
	for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h | 1; /* 0 marks an empty slot */
}

static void grow(void)
{
	size_t ncap = cap * 2;
	entry *n = calloc(ncap, sizeof(entry));
	for (size_t i = 0; i < cap; i++) {
		if (!tab[i].hash) continue;
		size_t j = tab[i].hash & (ncap - 1);
		while (n[j].hash) j = (j + 1) & (ncap - 1);
		n[j] = tab[i];
	}
	free(tab);
	tab = n;
	cap = ncap;
}

static uint64_t count_word(const char *w, size_t n)
{
	uint64_t h = hash(w, n);
	size_t j = h & (cap - 1);
	for (;;) {
		entry *e = &tab[j];
		if (!e->hash) break;
		if (e->hash == h && e->len == n && memcmp(arena + e->off, w, n) == 0) return ++e->count;
		j = (j + 1) & (cap - 1);
	}
	if (arena_len + n > arena_cap) {
		while (arena_len + n > arena_cap) arena_cap *= 2;
		arena = realloc(arena, arena_cap);
	}
	memcpy(arena + arena_len, w, n);
	tab[j] = (entry){ h, (uint32_t)arena_len, (uint32_t)n, 1 };
	arena_len += n;
	if (++used * 4 > cap * 3) grow();
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: wordcount_baseline FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	size_t size = (size_t)st.st_size;
	const char *data = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	tab = calloc(cap, sizeof(entry));
	arena = malloc(arena_cap);
	static unsigned char alnum[256];
	for (int c = 0; c < 256; c++)
		alnum[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t lines = 0, words = 0, checksum = 0;
	char word[256];
	size_t i = 0;
	while (i < size) {
		const char *nl = memchr(data + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - data) : size;
		lines++;
		size_t k = i;
		while (k < end) {
			while (k < end && !alnum[(uint8_t)data[k]]) k++;
			size_t n = 0;
			while (k < end && alnum[(uint8_t)data[k]]) {
				char c = data[k++];
				if (n < sizeof word) word[n] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
				n++;
			}
			if (n == 0 || n > sizeof word) continue;
			words++;
			checksum += count_word(word, n);
		}
		i = end + 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("lines=%llu words=%llu distinct=%zu checksum=%llu seconds=%.4f lines_per_s=%.0f\n",
	       (unsigned long long)lines, (unsigned long long)words, used, (unsigned long long)checksum, s,
	       (double)lines / s);
	return 0;
}
