/* SPDX-License-Identifier: MIT */
/*
 * guest.h - what every freestanding test guest (32- or 64-bit C) shares:
 * port I/O, the COM1 UART, a small printf, the QEMU debug-exit port, TSC.
 *
 * Conventions (QEMU's, so the same image runs under QEMU and libvmm):
 *   - output: 16550 UART at COM1 (0x3f8), polled (LSR bit 5, then THR);
 *     lines end in "\n" only.
 *   - end: a 32-bit write of a value V to port 0xf4 (isa-debug-exit, iosize
 *     4); the VMM (or QEMU) exits with status (V << 1) | 1.
 *   - exit values: GUEST_EXIT_* below; a failed self-check exits with
 *     GUEST_EXIT_FAIL, an unexpected exception with GUEST_EXIT_EXCEPTION.
 */
#ifndef TESTS_GUESTS_GUEST_H
#define TESTS_GUESTS_GUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define COM1 0x3f8
#define UART_THR 0 /* transmit holding register (DLAB = 0) */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_THRE 0x20 /* transmitter holding register empty */
#define UART_INIT_WRITES 7  /* port writes uart_init() makes (tests count) */

#define DEBUG_EXIT_PORT 0xf4

/* Exit values written to DEBUG_EXIT_PORT; QEMU status = (value << 1) | 1. */
#define GUEST_EXIT_REAL16 0x10     /* status 33 */
#define GUEST_EXIT_PROT32 0x20     /* status 65 */
#define GUEST_EXIT_LONG64 0x30     /* status 97 */
#define GUEST_EXIT_MMIO 0x40       /* status 129 */
#define GUEST_EXIT_OOB 0x50        /* status 161 */
#define GUEST_EXIT_EXCEPTION 0x7e  /* status 253 */
#define GUEST_EXIT_FAIL 0x7f       /* status 255 */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

void uart_init(void);
void uart_putc(char c);
void uart_puts(const char *s);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gvprintf(const char *fmt, va_list ap);
__attribute__((noreturn)) void guest_exit(uint32_t value);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* Multiboot v1 information (the fields the guests read). */
struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower; /* KiB below 1 MiB, if flags bit 0 */
	uint32_t mem_upper; /* KiB from 1 MiB, if flags bit 0 */
	uint32_t boot_device;
	uint32_t cmdline;   /* physical address, if flags bit 2 */
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr; /* if flags bit 6 */
};

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u

#endif
