/* SPDX-License-Identifier: MIT */
/*
 * probe.c - a sandbox guest that misbehaves on request, for test_sandbox:
 *   "count:X"  tries to remember: bumps a static counter, keeps X in a
 *              static buffer and in heap memory, and reports what it
 *              found from earlier calls (a pristine reset means: counter
 *              1, nothing remembered, the same heap address every time);
 *   "loop"     spins forever (the time limit must stop it);
 *   "bomb"     allocates and touches memory until the allocator gives up,
 *              then writes beyond the end of RAM (the memory limit);
 *   "oom"      allocates until NULL and fails cleanly with -ENOMEM;
 *   "fault"    executes ud2 (an exception);
 *   "echo:X"   returns X.
 */
#include "sandbox_guest.h"

static int counter;
static char last[64];
static char out[256];

static bool starts(const uint8_t *in, size_t len, const char *p)
{
	size_t n = strlen(p);
	return len >= n && !memcmp(in, p, n);
}

int64_t sandbox_call(const uint8_t *in, size_t len, const void **o,
		     size_t *olen)
{
	if (starts(in, len, "count:")) {
		char *heap = sb_alloc(4096);
		unsigned junk = 0;
		size_t n = len - 6 < sizeof(last) - 1 ? len - 6 : sizeof(last) - 1;

		if (!heap)
			return -SB_ENOMEM;
		for (unsigned i = 0; i < 4096; i++)
			junk += heap[i] != 0;
		counter++;
		*olen = (size_t)sb_snprintf(out, sizeof(out),
			"counter=%d last='%s' heap=%p junk=%u", counter, last,
			heap, junk);
		memcpy(last, in + 6, n);
		last[n] = 0;
		memset(heap, 0xab, 4096);
		*o = out;
		return 0;
	}
	if (starts(in, len, "loop")) {
		for (volatile unsigned long i = 0;; i++)
			;
	}
	if (starts(in, len, "bomb")) {
		char *p;
		while ((p = sb_alloc(1 << 20)))
			memset(p, 1, 1 << 20);
		*(volatile char *)(uintptr_t)(sb_ram_end() + 4096) = 1;
		return 0;
	}
	if (starts(in, len, "oom")) {
		while (sb_alloc(1 << 20))
			;
		return -SB_ENOMEM;
	}
	if (starts(in, len, "fault"))
		__asm__ volatile("ud2");
	if (starts(in, len, "echo:")) {
		*o = in + 5;
		*olen = len - 5;
		return 0;
	}
	return -SB_EINVAL;
}
