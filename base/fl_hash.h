/*
 * fl_hash.h - hashes whose values are part of flinc's formats.
 * Threads: pure functions.
 */
#ifndef FL_HASH_H
#define FL_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit hash of bytes (MurmurHash64A). Stable across processes and
 * versions: operator ids depend on it, and so do the key groups of jobs
 * restored from snapshots taken before XXH3 (fl_key_hash, fl_state.h). */
uint64_t fl_hash64(const void *data, size_t len, uint64_t seed);

/* Continue a CRC32C (Castagnoli) over `len` bytes: crc = fl_crc32c(0, buf,
 * len) for a whole buffer, or chain calls over consecutive pieces. Uses
 * SSE4.2 where the CPU has it, a table otherwise (same results). The
 * checksum of snapshot files and shared RocksDB files. */
uint32_t fl_crc32c(uint32_t crc, const void *buf, size_t len);
/* The table version alone (tests compare the two). */
uint32_t fl_crc32c_sw(uint32_t crc, const void *buf, size_t len);

#endif
