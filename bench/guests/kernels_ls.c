/* SPDX-License-Identifier: MIT */
/*
 * kernels_ls.c - the load/store kernel of the compute-kernels guest, in a
 * file of its own since the first soft-vs-unicorn entry, which ran its
 * .text cut out of the object file; vmm-bench now calls it (like every
 * kernel) by its symbol in kernels.elf.  System V ABI: a pointer to
 * 32 KiB of writable memory in RDI, the iteration count in RSI, the
 * checksum in RAX.
 */
#include "kernels.h"

uint64_t kern_loadstore(uint64_t *a, uint64_t n)
{
	uint64_t sum = 0;

	for (uint64_t i = 0; i < KERN_LS_WORDS; i++)
		a[i] = i * 0x9e3779b97f4a7c15ull;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t j = i & (KERN_LS_WORDS - 1);
		uint64_t k = (i * 7 + 13) & (KERN_LS_WORDS - 1);
		a[j] += a[k] ^ i;
	}
	for (uint64_t i = 0; i < KERN_LS_WORDS; i++)
		sum = (sum ^ a[i]) * 0x100000001b3ull;
	return sum;
}
