/* SPDX-License-Identifier: MIT */
/*
 * kernels.h - what the compute-kernels guest (kernels.c) and vmm-bench's
 * soft-vs-tcg / soft-vs-unicorn entries (bench/soft_kernels.c) share.
 *
 * Command line (multiboot): "kernel=NAME n=N [hpet=1]".  The guest writes
 * to the debug console port KERN_MARK_PORT (QEMU's -debugcon, 0xe9):
 *   KERN_MARK_BEGIN  just before the timed kernel starts,
 *   KERN_MARK_END    just after it returns,
 *   then one line "sum=<16 hex digits>\n" (the kernel's checksum, the same
 *   on every machine for the same NAME and N); with hpet=1 the line goes
 *   on with " hpet=<16 hex> fs=<16 hex>": HPET main-counter ticks between
 *   the markers and the counter period in femtoseconds,
 * and exits through isa-debug-exit (port 0xf4) with KERN_EXIT_OK, or
 * KERN_EXIT_BADARG for an unknown kernel or an N out of range.
 *
 * vmm-bench soft-vs-unicorn-* calls the guests' kernel functions (and
 * their untimed setup) by their ELF symbols under Unicorn, so every such
 * function is called in the guest through KERN_CALL: a pointer the
 * compiler cannot see through, so the function keeps the standard calling
 * convention (64-bit System V; 32-bit cdecl, the guests are built without
 * -mregparm), is never inlined nor specialised (no .constprop/.isra clone
 * is called instead) and the bytes at the symbol are the ones the guest
 * runs.  The addresses below are what both sides pass as arguments.
 */
#ifndef BENCH_GUESTS_KERNELS_H
#define BENCH_GUESTS_KERNELS_H

#include <stdint.h>

#define KERN_MARK_PORT 0xe9
#define KERN_MARK_BEGIN 'B'
#define KERN_MARK_END 'E'
#define KERN_EXIT_OK 0x31     /* QEMU status 99 */
#define KERN_EXIT_BADARG 0x32 /* QEMU status 101 */

/* Guest RAM the image needs (work buffers from 4 MiB, < 2 MiB). */
#define KERN_RAM_MIB 16
/* Work buffers of both guests (below KERN_RAM_MIB). */
#define KERN_BUF0 0x400000u
/* kernels.c: the crc32/memcpy buffers, the chase list's nodes */
#define KERN_BUF_SIZE (256u << 10)
#define KERN_CHASE_NODES (1u << 15)
/* Largest N. */
#define KERN_N_MAX (1ull << 40)

/* The load/store kernel's array: 4096 words (32 KiB). */
#define KERN_LS_WORDS 4096u
uint64_t kern_loadstore(uint64_t *a, uint64_t n);

/* Call @f(...) through an opaque pointer (see above). */
#define KERN_CALL(f, ...)                                                  \
	({                                                                 \
		__typeof__(&(f)) kern_fp_ = (f);                           \
		__asm__("" : "+r"(kern_fp_));                              \
		kern_fp_(__VA_ARGS__);                                     \
	})

#endif
