/* SPDX-License-Identifier: MIT */
/*
 * crc32c.c - CRC-32C with the SSE4.2 crc32 instruction when the CPU has it
 * (about 8 bytes per cycle), else slicing-by-8 tables.  The tables are
 * constant data; nothing here is mutable.
 */
#include "migrate/crc32c.h"

#include <string.h>

#include "migrate/crc32c_table.h"

static uint32_t crc32c_sw(uint32_t c, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		c = crc32c_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w ^= c;
		c = crc32c_tab[7][w & 0xff] ^ crc32c_tab[6][(w >> 8) & 0xff] ^
		    crc32c_tab[5][(w >> 16) & 0xff] ^
		    crc32c_tab[4][(w >> 24) & 0xff] ^
		    crc32c_tab[3][(w >> 32) & 0xff] ^
		    crc32c_tab[2][(w >> 40) & 0xff] ^
		    crc32c_tab[1][(w >> 48) & 0xff] ^ crc32c_tab[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = crc32c_tab[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_HW_CRC 1
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t c32, const uint8_t *p, size_t len)
{
	uint64_t c = c32;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;

#ifdef HAVE_HW_CRC
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_hw(c, buf, len);
#endif
	return ~crc32c_sw(c, buf, len);
}
