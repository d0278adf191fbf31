/*
 * crc32c.c - CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of snapshot files: SSE4.2's crc32 instruction on x86-64 when the
 * CPU has it, slicing-by-8 tables otherwise. Both give the same value;
 * fl_crc32c(0, "123456789", 9) == 0xE3069283.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "fl_hash.h"

static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void tab_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++) tab[t][i] = (tab[t - 1][i] >> 8) ^ tab[0][tab[t - 1][i] & 0xff];
}

uint32_t fl_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&tab_once, tab_init);
	const uint8_t *p = buf;
	uint32_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8); /* little-endian hosts only (x86-64, arm64) */
		v ^= c;
		c = tab[7][v & 0xff] ^ tab[6][(v >> 8) & 0xff] ^ tab[5][(v >> 16) & 0xff] ^
			tab[4][(v >> 24) & 0xff] ^ tab[3][(v >> 32) & 0xff] ^ tab[2][(v >> 40) & 0xff] ^
			tab[1][(v >> 48) & 0xff] ^ tab[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--) c = tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--) c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

uint32_t fl_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static int have = -1; /* every thread computes the same value */
	int h = __atomic_load_n(&have, __ATOMIC_RELAXED);
	if (h < 0) {
		__builtin_cpu_init();
		h = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		__atomic_store_n(&have, h, __ATOMIC_RELAXED);
	}
	return h ? crc32c_hw(crc, buf, len) : fl_crc32c_sw(crc, buf, len);
}
#else
uint32_t fl_crc32c(uint32_t crc, const void *buf, size_t len) { return fl_crc32c_sw(crc, buf, len); }
#endif
