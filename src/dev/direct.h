/* SPDX-License-Identifier: MIT */
/*
 * direct.h - internals shared by the hypervisor-direct devices in src/dev
 * (uart16550.c, debug_exit.c, i8042.c, rtc.c, pci_host.c): little-endian
 * access helpers, the UART's pure interrupt computation, and the hooks other
 * devices and unit tests use.  Not part of the public API.
 */
#ifndef LIBVMM_DEV_DIRECT_H
#define LIBVMM_DEV_DIRECT_H

#include "core/internal.h"

/* Read @size (1..8) little-endian bytes at @data. */
static inline uint64_t vmm__le_get(const void *data, unsigned size)
{
	const uint8_t *p = data;
	uint64_t v = 0;

	while (size--)
		v = (v << 8) | p[size];
	return v;
}

/* Store the low @size (1..8) bytes of @v at @data, little endian. */
static inline void vmm__le_put(void *data, unsigned size, uint64_t v)
{
	uint8_t *p = data;

	for (unsigned i = 0; i < size; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* The all-ones value of an access of @size bytes. */
static inline uint64_t vmm__ones(unsigned size)
{
	return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

/*
 * The inputs of the 16550's interrupt identification logic.  Kept apart
 * from the device so the priority rules are a pure function that unit tests
 * check exhaustively.
 */
struct vmm__uart_irq_state {
	uint8_t ier;          /* interrupt enable register (low 4 bits) */
	uint8_t fcr;          /* FIFO control as last written (bit 0 = FIFO) */
	uint8_t lsr_err;      /* sticky LSR error bits: OE, PE, FE, BI */
	uint8_t msr_delta;    /* sticky MSR delta bits 0-3 */
	unsigned rx_count;    /* bytes in the receive FIFO / holding reg */
	bool thr_ipending;    /* THR-empty interrupt not yet acknowledged */
};

/* IIR interrupt identification codes (bits 3:0). */
#define VMM_UART_IIR_NONE 0x01
#define VMM_UART_IIR_MSI 0x00
#define VMM_UART_IIR_THRI 0x02
#define VMM_UART_IIR_RDI 0x04
#define VMM_UART_IIR_RLSI 0x06
#define VMM_UART_IIR_TIMEOUT 0x0c
#define VMM_UART_IIR_FIFO 0xc0

/*
 * vmm__uart_iir() - the IIR value for @s: the highest-priority enabled
 * pending condition (line status > received data / character timeout >
 * THR empty > modem status), with bits 7:6 set when the FIFOs are on.
 * The interrupt line is asserted exactly when bit 0 is clear.
 */
uint8_t vmm__uart_iir(const struct vmm__uart_irq_state *s);

/* vmm__uart_rx_trigger() - receive trigger level (1/4/8/14) of an FCR. */
unsigned vmm__uart_rx_trigger(uint8_t fcr);

/* Counters of a UART, for tests and statistics. */
struct vmm__uart_stats {
	uint64_t tx_bytes;      /* bytes the guest transmitted (not loopback) */
	uint64_t tx_dropped;    /* bytes out_fd could not take in time */
	uint64_t rx_bytes;      /* bytes moved into the receive FIFO */
	uint64_t overruns;      /* receive overruns (loopback) */
	int irq_level;          /* level last driven on the line (0/1) */
	size_t host_queued;     /* host input not yet in the FIFO */
};

/* vmm__uart_stats() - snapshot of @dev's counters; -EINVAL if no UART. */
int vmm__uart_stats(vmm_dev *dev, struct vmm__uart_stats *st);

/*
 * vmm__i8042_set_pit_hook() - wire port 0x61 to a PIT: @out2 returns the
 * level of PIT channel 2's output (bit 5 of port 0x61), @gate2 is told the
 * gate of channel 2 (bit 0) when the guest writes the port.  Either may be
 * NULL.  -EINVAL if @dev is not an i8042.
 */
int vmm__i8042_set_pit_hook(vmm_dev *dev, int (*out2)(void *opaque),
			    void (*gate2)(void *opaque, int level),
			    void *opaque);

#endif
