/* SPDX-License-Identifier: MIT */
/*
 * sandbox_guest.h - the guest-side runtime of libvmm's function sandbox:
 * what C code compiled into a sandbox guest image can use.  The code runs
 * at CPL3 in 64-bit mode, single-threaded, identity-mapped (a pointer is a
 * guest-physical address), without libc.
 *
 * An image defines exactly one function:
 *
 *   int64_t sandbox_call(const uint8_t *in, size_t in_len,
 *                        const void **out, size_t *out_len);
 *
 * It gets the call's input, may set *out / *out_len to its output (memory
 * from sb_alloc() or static), and returns a status >= 0 or a negative
 * errno (SB_E*).  Every call starts from the same pristine memory and CPU
 * state: nothing survives from one call to the next.
 */
#ifndef SANDBOX_GUEST_H
#define SANDBOX_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvmm/hypercall_abi.h>
#include "sandbox_abi.h"

/* Linux errno values, as the host returns them (negated). */
#define SB_EPERM 1
#define SB_ENOENT 2
#define SB_EIO 5
#define SB_E2BIG 7
#define SB_ENOMEM 12
#define SB_EFAULT 14
#define SB_EINVAL 22
#define SB_ENOSYS 38
#define SB_EBADMSG 74
#define SB_EOVERFLOW 75
#define SB_EPROTONOSUPPORT 93
#define SB_ECANCELED 125

int64_t sandbox_call(const uint8_t *in, size_t in_len, const void **out,
		     size_t *out_len);

/* ---- hypercalls ---- */

/* hc_init() - a block for call @nr with no arguments and no buffers. */
void hc_init(struct vmm_hc_block *b, uint32_t nr);
/* hc_arg() / hc_buf() - append an integer argument / a buffer. */
void hc_arg(struct vmm_hc_block *b, uint64_t v);
void hc_buf(struct vmm_hc_block *b, const void *p, uint32_t len,
	    uint16_t dir);
/*
 * hc_ring() - ring the doorbell for the block at @b (any address the host
 * can read: the guest is identity mapped).  Returns the block's error if
 * non-zero, else its result; if the host did not process the block, the
 * doorbell status (negative errno), or -SB_ENOSYS with no host at all.
 */
int64_t hc_ring(void *b);
/*
 * hc_doorbell() - write @gpa to the doorbell as is, touching no memory, and
 * return hc_status() (for probing the host with odd addresses).
 */
int32_t hc_doorbell(uint32_t gpa);
/* hc_status() - IN from the doorbell: status of this vCPU's last doorbell. */
int32_t hc_status(void);
/*
 * hc_batch() - run @n blocks at @entries (consecutive) with one doorbell.
 * Returns the number of entries run, or a negative errno for the batch
 * itself; each entry has its own result/error.
 */
int64_t hc_batch(struct vmm_hc_block *entries, uint32_t n, uint32_t flags);
/* hc_call0..2(nr, ...) - integer-only calls. */
int64_t hc_call(uint32_t nr, unsigned nargs, const uint64_t *args);
/* hc_version() - the host's ABI version (>= 1), features in *@feat. */
int64_t hc_version(uint64_t *feat, uint64_t *max_batch);
/* hc_lookup() - the number of the host function called @name. */
int64_t hc_lookup(const char *name);

/* ---- console, memory, exit ---- */

/* sb_print() / sb_printf() - one line to the host console (one exit). */
void sb_print(const char *s, size_t len);
void sb_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* sb_snprintf() - %d %u %ld %lu %x %lx %p %s %c %%, with 0-pad widths. */
int sb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int sb_snprintf(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * sb_alloc() - bump allocation, 16-byte aligned, zeroed (fresh per call),
 * NULL when the guest RAM (the sandbox's memory limit) is exhausted.
 * There is no free: everything goes away when the call ends.
 */
void *sb_alloc(size_t n);
/* sb_heap_left() - bytes sb_alloc() can still hand out. */
size_t sb_heap_left(void);
/* sb_ram_end() - the first address above guest RAM. */
uint64_t sb_ram_end(void);

/* sb_return() - end the call now with @status and output @out. */
__attribute__((noreturn)) void sb_return(int64_t status, const void *out,
					 size_t len);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
