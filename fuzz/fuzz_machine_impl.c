/* SPDX-License-Identifier: MIT */
/*
 * fuzz_machine_impl.c - the generic device fuzzer's machine and its action
 * interpreter (used by fuzz_machine, fuzz_pci, fuzz_hypercall and
 * fuzz_virtio_hdr).
 *
 * The machine, built once per process on the software backend
 * (deterministic clock) through the public API only:
 *   - 16 MiB RAM, 64-bit long mode at CPL0, identity-mapped 0-1 GiB and
 *     3-4 GiB (tests/diff/env.c plus one page directory), an IDT whose
 *     handlers return (with a budget: after 256 interrupts they clear IF in
 *     the frame so an interrupt storm cannot hang the harness; #GP skips
 *     the two-byte RDMSR/WRMSR that raised it);
 *   - the interrupt controllers and PIT of the backend (PIC, IOAPIC,
 *     LAPIC), UART (COM1, irq 4), RTC, i8042, debug-exit (0xf4), PCI host,
 *     trapped block device on PIO (0x5c0) and on MMIO, hypercall device
 *     (0x560, with an "echo" function taking two integers and an IN and
 *     an OUT buffer), virtio blk/net/console/rng on virtio-mmio
 *     (0xd0000000 + 0x1000 * i, GSIs 5-8) and on virtio-pci (slots 1-4,
 *     BAR0 at 0xe0000000 + 0x10000 * i, INTx 9-12); every virtio device is
 *     driven to DRIVER_OK with queue 0 (and 1) placed in the DMA window
 *     [0x100000, 0x200000) before the snapshot, so inputs start from live
 *     queues.  A passthrough region is not attached: snapshots refuse a
 *     VM that has one, and without snapshot-reset there is no fast harness
 *     (the passthrough attach path is covered by tests/models).
 * Then a snapshot is taken (memfd, dirty logging on) and every input is
 * run from it: vmm_snapshot_reset() costs only the pages the last input
 * dirtied.
 *
 * An input is a sequence of actions.  Guest actions are compiled into x86
 * code at 0x10000 and executed by the vCPU (exactly the path a guest
 * takes: instruction -> exit or irqchip -> bus -> device); host actions
 * (interrupt lines, MSIs, vCPU state changes, host bus accesses, UART
 * input) are compiled into an OUT to the harness's control port 0x5f0,
 * which the run loop sees as an exit and answers by performing the action.
 *   op % 18:
 *    0/1  PIO write/read: port from the device table or anywhere, size 1/2/4
 *    2/3  MMIO write/read: a device window + offset, size 1/2/4/8
 *    4    DMA: up to 32 input bytes stored into the DMA window
 *    5/6  PCI configuration write/read through 0xcf8/0xcfc
 *    7    host: vmm_irq_set_line(gsi, level)
 *    8    host: vmm_irq_send_msi(addr, data)
 *    9    STI; NOP; NOP; CLI (an interrupt window)
 *    10/11 WRMSR/RDMSR of an interesting MSR (APIC, x2APIC, TSC deadline...)
 *    12   host: vCPU state change (CR8, a LAPIC register byte, IF, DR7)
 *    13   host: vmm_bus_access() (the vCPU-less path)
 *    14   host: vmm_uart_input()
 *    15   REP OUTSB/INSB between a port and the DMA window
 *    16   MOV CR8
 *    17   hypercall: a call block (or batch) built in the DMA window from
 *         the input, then the doorbell
 * A target's mode restricts and re-weights the choice.  The FM_VIRTIO mode
 * instead reads virtio requests (device, queue, a chain of 1-4 descriptors
 * whose bytes come from the input), puts them on the avail ring and kicks.
 *
 * Findings: crashes and sanitizer reports (the process dies), a
 * VMM_EXIT_INTERNAL (a guest made the VMM stop), a run that does not reach
 * the end of its program within the exit budget while the vCPU is making
 * progress (a hang is caught by libFuzzer's -timeout), and any failure of
 * the reset (the machine could not be put back).
 */
#include "fuzz_machine.h"
#include "livelock_watchdog.h"

#include <libvmm/libvmm.h>
#include "../tests/diff/env.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define CODE_BASE ENV_CODE
#define CODE_MAX 0xf000u       /* code may run up to ENV_DATA */
#define TRAMP 0x1f800ull      /* END control OUT, then jmp CODE_BASE */
#define HANDLERS 0x40000ull
#define COUNTER 0x3f000ull
#define PD_HIGH 0xc000ull
#define DMA_BASE 0x100000ull
#define DMA_SIZE 0x100000ull
#define CTRL_PORT 0x5f0
#define MAX_HOST 512
#define MAX_EXITS 200000
/* Wall time one input's vCPU may use, whatever its exits: under ASan an
 * exit costs ~67 us, so MAX_EXITS alone is ~13 s of CPU (33 s wall seen
 * on a loaded host), past libFuzzer's 10 s -timeout; a guest loop that
 * exits at every instruction is an outcome, not a finding (fuzzing.md,
 * the virtio_hdr timeout rows) */
#define INPUT_WALL_NS (1500ull * 1000 * 1000)
/*
 * Guest instructions one input's vCPU part may retire, over all its runs
 * (vmm_vcpu_set_insn_limit(): deterministic, and cheap to check).  In
 * fuzzing the corpus fills with inputs whose code runs on without exits
 * (random bytes, zeroed memory decoding as `add [rax], al`, virtio-rng
 * output written over code): without a budget each ran until the
 * livelock watchdog's third kick (~30 ms of CPU) and those inputs were
 * most of the campaign's time.  The value was chosen by measurement
 * (docs/fuzzing.md "Speed", "Instruction budget"); FUZZ_MACHINE_INSNS
 * overrides it (0: no budget) for such comparisons.  The watchdog stays
 * as the safety net for a VMM that stops retiring instructions.
 */
#define INPUT_INSNS 10000ull

#define VMMIO_BASE 0xd0000000ull
#define TRAPBLK_MMIO 0xd0010000ull
#define HOLE_MMIO 0xd8000000ull
#define BAR_BASE 0xe0000000ull
#define NVIRTIO 4

/* queue layout in the DMA window per virtio device d (mmio) / 4+d (pci) */
#define QSIZE 16u
#define QAREA(i, q) (DMA_BASE + 0x10000ull * (i) + 0x4000ull * (q))
#define QDESC(i, q) QAREA(i, q)
#define QAVAIL(i, q) (QAREA(i, q) + 0x1000)
#define QUSED(i, q) (QAREA(i, q) + 0x2000)
#define QBUF(i) (DMA_BASE + 0x80000ull + 0x8000ull * (i))

struct host_act {
	uint8_t kind;
	uint64_t a, b, c;
	uint8_t buf[16];
	unsigned len;
};

struct machine {
	vmm_vm *vm;
	vmm_vcpu *cpu;
	vmm_snapshot *snap;
	vmm_dev *uart;
	vmm_hc *hc;
	int net_peer;
	uint8_t code[CODE_MAX];
	size_t n;
	struct host_act host[MAX_HOST];
	unsigned nhost;
	uint16_t avail_idx[2 * NVIRTIO][2];
	bool direct; /* this input: bus/memory actions from the host side */
	bool dead;   /* the vCPU reached an end (reset, shutdown...) */
	bool verbose; /* FUZZ_MACHINE_VERBOSE: print each exit */
	uint64_t insns; /* INPUT_INSNS or FUZZ_MACHINE_INSNS */
	uint64_t t0;  /* the input's start (CLOCK_MONOTONIC, ns) */
};

static struct machine M;

/* The run watchdog (livelock_watchdog.h): flush() publishes the vCPU and
 * bumps the generation at every exit; the vCPU part of an input ends at
 * the third kick (a guest livelock, e.g. a #UD handler returning to the
 * faulting instruction, is an architectural outcome, not a finding). */
static struct livelock_watchdog run_wd;

/* ---- input reader --------------------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t left;
};

static uint64_t rd_n(struct rd *r, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		uint8_t b = 0;
		if (r->left) {
			b = *r->p++;
			r->left--;
		}
		v |= (uint64_t)b << (8 * i);
	}
	return v;
}
#define rd8(r) ((uint8_t)rd_n(r, 1))
#define rd16(r) ((uint16_t)rd_n(r, 2))
#define rd32(r) ((uint32_t)rd_n(r, 4))
#define rd64(r) rd_n(r, 8)

/* ---- code emission -------------------------------------------------- */

static bool room(size_t k)
{
	return M.n + k + 16 <= CODE_MAX; /* 16: the final control OUT */
}

static void emit(const void *p, size_t k)
{
	memcpy(M.code + M.n, p, k);
	M.n += k;
}

static void emit1(uint8_t b)
{
	emit(&b, 1);
}

static void emit_imm(const void *p, unsigned k)
{
	emit(p, k);
}

/* mov r64, imm64 (rax 0, rcx 1, rdx 2, rsi 6, rdi 7) */
static void mov_r64(unsigned reg, uint64_t v)
{
	uint8_t op[2] = { 0x48, (uint8_t)(0xb8 + reg) };
	emit(op, 2);
	emit_imm(&v, 8);
}

/* mov r32, imm32 (zero-extends) */
static void mov_r32(unsigned reg, uint32_t v)
{
	emit1((uint8_t)(0xb8 + reg));
	emit_imm(&v, 4);
}

static void ctrl_out(uint32_t idx)
{
	mov_r32(2, CTRL_PORT);
	mov_r32(0, idx);
	emit1(0xef); /* out dx, eax */
}

static struct host_act *host_new(uint8_t kind)
{
	struct host_act *h;

	if (M.nhost >= MAX_HOST)
		return NULL;
	h = &M.host[M.nhost++];
	memset(h, 0, sizeof(*h));
	h->kind = kind;
	return h;
}

static void host_do(const struct host_act *h);
static void flush(void);

/* Run @h now (direct inputs) or when the vCPU reaches this point. */
static void host_end(struct host_act *h)
{
	if (!h)
		return;
	if (M.direct) {
		flush();
		host_do(h);
	} else {
		ctrl_out((uint32_t)(h - M.host));
	}
}

/* ---- address tables ------------------------------------------------- */

static const uint16_t ports[] = {
	0x20,  0x21,  0xa0,  0xa1,  0x40,  0x41,  0x42,  0x43,  0x60,
	0x61,  0x64,  0x70,  0x71,  0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc,
	0x3fd, 0x3fe, 0x3ff, 0xf4,  0xcf8, 0xcf9, 0xcfc, 0xcfd, 0xcfe,
	0xcff, 0x5c0, 0x5c4, 0x5c8, 0x5cc, 0x5d0, 0x5d4, 0x5d8, 0x5dc,
	0x560, 0x561, 0x4d0, 0x4d1, 0x92,  0x80,
};

struct window {
	uint64_t base, size;
};

static const struct window windows[] = {
	{ VMMIO_BASE + 0x0000, 0x200 }, { VMMIO_BASE + 0x1000, 0x200 },
	{ VMMIO_BASE + 0x2000, 0x200 }, { VMMIO_BASE + 0x3000, 0x200 },
	{ BAR_BASE + 0x00000, 0x8000 }, { BAR_BASE + 0x10000, 0x8000 },
	{ BAR_BASE + 0x20000, 0x8000 }, { BAR_BASE + 0x30000, 0x8000 },
	{ 0xfee00000ull, 0x1000 },      { 0xfec00000ull, 0x100 },
	{ TRAPBLK_MMIO, 0x20 },         { HOLE_MMIO, 0x1000 },
	{ DMA_BASE, DMA_SIZE },
};

static const uint32_t msrs[] = {
	0x1b,  0x6e0, 0x10,  0x3a,  0x174, 0x175, 0x176, 0x277,
	0x800, 0x802, 0x803, 0x808, 0x80b, 0x80f, 0x828, 0x830,
	0x832, 0x838, 0x839, 0x83e, 0x83f, 0x179, 0x17a, 0xc0000100,
	0xc0000101, 0xc0000102, 0xc0000103, 0x40000000, 0x4b564d00, 0x0,
};

static uint16_t pick_port(struct rd *r)
{
	uint8_t s = rd8(r);
	uint16_t p;

	if (s & 0x80)
		p = rd16(r);
	else
		p = ports[s % (sizeof(ports) / sizeof(ports[0]))];
	if (p >= CTRL_PORT && p < CTRL_PORT + 4)
		p = CTRL_PORT + 4; /* never the harness's own port */
	return p;
}

static uint64_t pick_addr(struct rd *r, unsigned size)
{
	uint8_t s = rd8(r);
	const struct window *w =
		&windows[s % (sizeof(windows) / sizeof(windows[0]))];
	uint64_t off = rd_n(r, w->size > 0x10000 ? 3 : 2) % w->size;

	if (!(s & 0x80))
		off &= ~(uint64_t)(size - 1); /* mostly aligned */
	if (off + size > w->size)
		off = w->size - size;
	return w->base + off;
}

static unsigned pick_size(struct rd *r, bool eight)
{
	static const unsigned s[4] = { 1, 2, 4, 8 };
	unsigned k = s[rd8(r) & 3];

	return (!eight && k == 8) ? 4 : k;
}

/* ---- guest actions -------------------------------------------------- */

static bool direct_io(enum vmm_space sp, uint64_t a, unsigned size,
		      bool write, uint64_t v);
static void st_mem(uint64_t gpa, const void *p, unsigned len);

static void g_pio(uint16_t port, unsigned size, bool write, uint32_t v)
{
	if (direct_io(VMM_SPACE_PIO, port, size, write, v))
		return;
	mov_r32(2, port);
	if (write)
		mov_r32(0, v);
	if (size == 2)
		emit1(0x66);
	emit1((uint8_t)((write ? 0xee : 0xec) | (size > 1)));
}

static void g_mmio(uint64_t addr, unsigned size, bool write, uint64_t v)
{
	if (direct_io(VMM_SPACE_MMIO, addr, size, write, v))
		return;
	mov_r64(0, addr);
	if (write)
		mov_r64(1, v);
	if (size == 2)
		emit1(0x66);
	if (size == 8)
		emit1(0x48);
	emit1(write ? (size == 1 ? 0x88 : 0x89) : (size == 1 ? 0x8a : 0x8b));
	emit1(0x08); /* [rax], cl/cx/ecx/rcx */
}

static void g_pci(struct rd *r, bool write)
{
	uint8_t dev = rd8(r), reg = rd8(r);
	unsigned size = pick_size(r, false);
	uint32_t addr = 0x80000000u | (uint32_t)(dev & 0x1f) << 11 |
			(uint32_t)((dev >> 5) & 7) << 8 | (reg & 0xfc);

	if (rd8(r) == 0xff)
		addr = rd32(r); /* sometimes an arbitrary address register */
	g_pio(0xcf8, 4, true, addr);
	g_pio((uint16_t)(0xcfc + (reg & (4 - size))), size, write, rd32(r));
}

static void g_dma(struct rd *r, uint64_t addr, unsigned len)
{
	uint64_t q[4];

	for (unsigned i = 0; i < len / 8 && i < 4; i++)
		q[i] = rd64(r);
	st_mem(addr, q, len > 32 ? 32 : len);
}

static void g_hypercall(struct rd *r)
{
	uint64_t blk = DMA_BASE + 0x40000 + (rd8(r) & 0x3f) * 8ull;
	unsigned n = (rd8(r) & 3) + 1, k;
	struct vmm_hc_block b;

	/* a batch head followed by n-1 entries, or n independent blocks */
	for (k = 0; k < n; k++) {
		uint8_t f = rd8(r);
		memset(&b, 0, sizeof(b));
		b.magic = (f & 1) ? rd32(r) : VMM_HC_MAGIC;
		b.version = (f & 2) ? rd16(r) : VMM_HC_VERSION;
		b.size = (f & 4) ? rd16(r) : VMM_HC_BLOCK_SIZE;
		b.nr = (f & 8) ? rd32(r) : (uint32_t)(rd8(r) % 4 ? 0x100 : rd8(r) % 3);
		if (k == 0 && n > 1 && !(f & 0x10)) {
			b.nr = VMM_HC_NR_BATCH;
			b.nargs = 1;
			b.args[0] = n - 1 + (rd8(r) == 0xff ? rd32(r) : 0);
			b.nbufs = 1;
			b.bufs[0].gpa = blk + VMM_HC_BLOCK_SIZE;
			b.bufs[0].len = (uint32_t)(n - 1) * VMM_HC_BLOCK_SIZE;
			b.bufs[0].dir = VMM_HC_DIR_INOUT;
		} else {
			b.flags = rd8(r) & 3;
			b.nargs = rd8(r) % 8;
			b.nbufs = rd8(r) % 6;
			for (unsigned a = 0; a < VMM_HC_MAX_ARGS; a++)
				b.args[a] = rd8(r) & 1 ? rd64(r) : a;
			for (unsigned d = 0; d < VMM_HC_MAX_BUFS; d++) {
				uint8_t g = rd8(r);
				b.bufs[d].gpa = (g & 0x80) ? rd64(r) :
					DMA_BASE + 0x50000 + rd16(r);
				b.bufs[d].len = (g & 0x40) ? rd32(r) : rd8(r);
				b.bufs[d].dir = (g & 0x20) ? rd16(r) :
					(uint16_t)(1 + d % 2);
				if (g & 0x10)
					b.bufs[d].reserved = rd16(r);
			}
		}
		b.error = VMM_HC_PENDING;
		st_mem(blk + k * VMM_HC_BLOCK_SIZE, &b, VMM_HC_BLOCK_SIZE);
		if (n == 1 || (k == 0 && b.nr != VMM_HC_NR_BATCH))
			g_pio(VMM_HC_PORT_DEFAULT, 4, true,
			      (uint32_t)(blk + k * VMM_HC_BLOCK_SIZE));
	}
	if (n > 1)
		g_pio(VMM_HC_PORT_DEFAULT, 4, true, (uint32_t)blk);
	if (rd8(r) & 1)
		g_pio(VMM_HC_PORT_DEFAULT, 4, false, 0); /* status */
}

/* A virtio request: a chain on queue q of device i, then a kick. */
static void g_virtio(struct rd *r)
{
	unsigned i = rd8(r) % (2 * NVIRTIO), q = rd8(r) & 1;
	unsigned nd = rd8(r) % 4 + 1, head;
	uint16_t *idx = &M.avail_idx[i][q];
	uint64_t buf = QBUF(i % NVIRTIO) + (i / NVIRTIO) * 0x4000;

	head = (*idx * 4u) % QSIZE;
	for (unsigned d = 0; d < nd; d++) {
		uint8_t f = rd8(r);
		uint32_t len = (f & 0x80) ? rd32(r) : (f & 0x3f) + 1u;
		uint64_t addr = (f & 0x40) ? rd64(r) : buf + d * 0x1000;
		uint16_t flags = (uint16_t)((d + 1 < nd ? 1 : 0) |
					    ((rd8(r) & 1) ? 2 : 0));
		uint16_t next = (uint16_t)((head + d + 1) % QSIZE);
		uint64_t w0 = addr, w1 = len | (uint64_t)flags << 32 |
					(uint64_t)next << 48;
		uint64_t da = QDESC(i, q) + 16ull * ((head + d) % QSIZE);

		if (rd8(r) == 0xfe)
			w1 = rd64(r); /* raw descriptor flags/next */
		uint64_t desc[2] = { w0, w1 };
		st_mem(da, desc, 16);
		/* the header/payload bytes of this descriptor */
		if (!(f & 0x40))
			g_dma(r, addr, (rd8(r) % 4 + 1) * 8);
	}
	/* virtio-blk (device 0, two queues): now and then a well-formed
	 * request header of a known type, with a discard / write-zeroes
	 * segment (sector, count, flags) in the second buffer, so the
	 * request paths past the header checks are reached */
	if (i % NVIRTIO == 0 && (rd8(r) & 3) == 0) {
		static const uint32_t types[] = { 0, 1, 4, 8, 11, 13, 11, 13 };
		uint8_t s = rd8(r);
		uint64_t hdr[2] = { types[s & 7], (s & 8) ? rd64(r) : rd8(r) };
		uint64_t seg[2];

		seg[0] = (s & 16) ? rd64(r) : rd8(r);
		seg[1] = rd32(r) | (uint64_t)((s & 32) ? rd32(r) : (s >> 6) & 1u)
					   << 32;
		st_mem(buf, hdr, 16);
		st_mem(buf + 0x1000, seg, 16);
	}
	/* avail ring: flags, idx, ring[] */
	uint16_t h16 = (uint16_t)head;
	st_mem(QAVAIL(i, q) + 4 + 2 * (*idx % QSIZE), &h16, 2);
	(*idx)++;
	st_mem(QAVAIL(i, q) + 2, idx, 2);
	/* kick: mmio QueueNotify, or the pci notify area */
	if (i < NVIRTIO)
		g_mmio(VMMIO_BASE + 0x1000ull * i + 0x50, 4, true, q);
	else
		g_mmio(BAR_BASE + 0x10000ull * (i - NVIRTIO) + 0x3000 + 4 * q,
		       2, true, q);
	if (rd8(r) & 1) /* acknowledge the interrupt */
		g_mmio(i < NVIRTIO ? VMMIO_BASE + 0x1000ull * i + 0x60 :
				     BAR_BASE + 0x10000ull * (i - NVIRTIO) + 0x1000,
		       4, i >= NVIRTIO ? false : false, 0);
}

/* ---- one action ----------------------------------------------------- */

static void action(enum fm_mode mode, struct rd *r)
{
	static const uint8_t pci_ops[] = { 5, 6, 5, 6, 2, 3, 0, 1, 4, 9 };
	static const uint8_t hc_ops[] = { 17, 17, 17, 4, 0, 1 };
	uint8_t op = rd8(r);
	struct host_act *h;
	unsigned size;

	switch (mode) {
	case FM_PCI:
		op = pci_ops[op % sizeof(pci_ops)];
		break;
	case FM_HYPERCALL:
		op = hc_ops[op % sizeof(hc_ops)];
		break;
	case FM_VIRTIO:
		if (op % 8) {
			g_virtio(r);
			return;
		}
		op = rd8(r) % 4 == 0 ? 9 : 2; /* a window or a register */
		break;
	default:
		op %= 18;
	}
	switch (op) {
	case 0:
	case 1: {
		uint16_t port = pick_port(r);
		size = pick_size(r, false);
		g_pio(port, size, op == 0, rd32(r));
		break;
	}
	case 2:
	case 3: {
		uint64_t a;
		size = pick_size(r, true);
		a = pick_addr(r, size);
		g_mmio(a, size, op == 2, rd64(r));
		break;
	}
	case 4:
		g_dma(r, DMA_BASE + (rd_n(r, 3) % DMA_SIZE & ~7ull) % (DMA_SIZE - 32),
		      (rd8(r) % 4 + 1) * 8);
		break;
	case 5:
	case 6:
		g_pci(r, op == 5);
		break;
	case 7:
		if ((h = host_new(7))) {
			h->a = rd8(r) % 24;
			h->b = rd8(r) & 1;
		}
		host_end(h);
		break;
	case 8:
		if ((h = host_new(8))) {
			h->a = 0xfee00000ull | (rd16(r) & 0xffff0ull) << 4;
			h->b = rd32(r);
		}
		host_end(h);
		break;
	case 9:
		emit((uint8_t[]){ 0xfb, 0x90, 0x90, 0x90, 0xfa }, 5);
		break;
	case 10:
	case 11: {
		uint8_t s = rd8(r);
		mov_r32(1, (s & 0x80) ? rd32(r) :
				 msrs[s % (sizeof(msrs) / sizeof(msrs[0]))]);
		if (op == 10) {
			mov_r32(0, rd32(r));
			mov_r32(2, rd32(r));
			emit((uint8_t[]){ 0x0f, 0x30 }, 2);
		} else {
			emit((uint8_t[]){ 0x0f, 0x32 }, 2);
		}
		break;
	}
	case 12:
		if ((h = host_new(12))) {
			h->a = rd8(r);
			h->b = rd16(r);
			h->c = rd32(r);
		}
		host_end(h);
		break;
	case 13:
		if ((h = host_new(13))) {
			uint8_t s = rd8(r);
			h->len = pick_size(r, true);
			h->b = s & 1;
			if (s & 2) {
				h->a = 1; /* MMIO */
				h->c = pick_addr(r, h->len);
			} else {
				h->c = pick_port(r);
				if (h->len == 8)
					h->len = 4;
			}
			uint64_t v = rd64(r);
			memcpy(h->buf, &v, 8);
		}
		host_end(h);
		break;
	case 14:
		if ((h = host_new(14))) {
			h->len = rd8(r) % 16 + 1;
			for (unsigned k = 0; k < h->len; k++)
				h->buf[k] = rd8(r);
		}
		host_end(h);
		break;
	case 15: {
		uint16_t port = pick_port(r);
		mov_r32(2, port);
		mov_r64(6, DMA_BASE + rd16(r));
		mov_r64(7, DMA_BASE + 0x20000 + rd16(r));
		mov_r64(1, rd8(r) % 64 + 1);
		emit((uint8_t[]){ 0xf3, (uint8_t)(rd8(r) & 1 ? 0x6e : 0x6c) }, 2);
		break;
	}
	case 16:
		mov_r32(0, rd8(r) & 15);
		emit((uint8_t[]){ 0x44, 0x0f, 0x22, 0xc0 }, 4);
		break;
	case 17:
		g_hypercall(r);
		break;
	}
}

/* ---- host actions --------------------------------------------------- */

static void host_do(const struct host_act *h)
{
	struct vmm_cpu_state st;

	switch (h->kind) {
	case 7:
		(void)vmm_irq_set_line(M.vm, (uint32_t)h->a, (int)h->b);
		break;
	case 8:
		(void)vmm_irq_send_msi(M.vm, h->a, (uint32_t)h->b);
		break;
	case 12:
		if (vmm_vcpu_get_state(M.cpu, &st))
			abort();
		switch (h->a % 4) {
		case 0:
			st.cr8 = h->b & 15;
			break;
		case 1:
			st.lapic[h->b % sizeof(st.lapic)] = (uint8_t)h->c;
			break;
		case 2:
			st.rflags ^= VMM_RFLAGS_IF;
			break;
		case 3:
			st.dr7 = h->c & 0xffff03ffu;
			st.dr[h->b & 3] = HOLE_MMIO + (h->c & 0xfff);
			break;
		}
		/* a refusal (-EINVAL) is an answer, not a finding */
		(void)vmm_vcpu_set_state(M.cpu, &st);
		break;
	case 13: {
		uint8_t buf[8];
		memcpy(buf, h->buf, 8);
		(void)vmm_bus_access(M.vm, h->a ? VMM_SPACE_MMIO : VMM_SPACE_PIO,
				     h->c, buf, h->len, h->b);
		break;
	}
	case 14:
		(void)vmm_uart_input(M.uart, h->buf, h->len);
		break;
	}
}

/* ---- the machine ---------------------------------------------------- */

static int memfd_of(size_t size)
{
	int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, (off_t)size))
		abort();
	return fd;
}

static int64_t hc_echo(void *opaque, struct vmm_hc_call *c)
{
	(void)opaque;
	if (c->nbufs == 2) {
		uint32_t k = c->bufs[0].len < c->bufs[1].len ? c->bufs[0].len :
							       c->bufs[1].len;
		memcpy(c->bufs[1].data, c->bufs[0].data, k);
		c->bufs[1].used = k;
	}
	if (c->nargs >= 2 && c->args[0] == 0x5707)
		c->stop = true; /* lets inputs reach the stop path */
	return (int64_t)(c->nargs ? c->args[0] : 0);
}

static void bus_w(enum vmm_space sp, uint64_t a, uint32_t v, unsigned size)
{
	if (vmm_bus_access(M.vm, sp, a, &v, size, true))
		abort();
}

static uint32_t bus_r(enum vmm_space sp, uint64_t a, unsigned size)
{
	uint32_t v = 0;
	if (vmm_bus_access(M.vm, sp, a, &v, size, false))
		abort();
	return v;
}

static void pci_cfg_w(unsigned slot, unsigned reg, uint32_t v)
{
	bus_w(VMM_SPACE_PIO, 0xcf8, 0x80000000u | slot << 11 | reg, 4);
	bus_w(VMM_SPACE_PIO, 0xcfc, v, 4);
}

/* Driver side of a virtio-mmio device up to DRIVER_OK, queues 0 and 1. */
static void virtio_mmio_up(unsigned i)
{
	uint64_t b = VMMIO_BASE + 0x1000ull * i;

	bus_w(VMM_SPACE_MMIO, b + 0x70, 0, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x70, 1 | 2, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x24, 1, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x20, 1, 4); /* VERSION_1 */
	bus_w(VMM_SPACE_MMIO, b + 0x24, 0, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x20, bus_r(VMM_SPACE_MMIO, b + 0x10, 4) &
				     ~(1u << 29 | 1u << 28), 4);
	bus_w(VMM_SPACE_MMIO, b + 0x70, 1 | 2 | 8, 4);
	for (unsigned q = 0; q < 2; q++) {
		bus_w(VMM_SPACE_MMIO, b + 0x30, q, 4);
		if (!bus_r(VMM_SPACE_MMIO, b + 0x34, 4))
			continue;
		bus_w(VMM_SPACE_MMIO, b + 0x38, QSIZE, 4);
		bus_w(VMM_SPACE_MMIO, b + 0x80, (uint32_t)QDESC(i, q), 4);
		bus_w(VMM_SPACE_MMIO, b + 0x90, (uint32_t)QAVAIL(i, q), 4);
		bus_w(VMM_SPACE_MMIO, b + 0xa0, (uint32_t)QUSED(i, q), 4);
		bus_w(VMM_SPACE_MMIO, b + 0x44, 1, 4);
	}
	bus_w(VMM_SPACE_MMIO, b + 0x70, 1 | 2 | 8 | 4, 4);
}

/* The same through virtio-pci's common configuration in BAR0. */
static void virtio_pci_up(unsigned i, unsigned slot)
{
	uint64_t b = BAR_BASE + 0x10000ull * i;

	pci_cfg_w(slot, 0x10, (uint32_t)b | 4); /* 64-bit memory BAR */
	pci_cfg_w(slot, 0x14, 0);
	pci_cfg_w(slot, 0x04, 0x6);             /* memory + bus master */
	bus_w(VMM_SPACE_MMIO, b + 0x14, 0, 1);  /* device_status */
	bus_w(VMM_SPACE_MMIO, b + 0x14, 1 | 2, 1);
	bus_w(VMM_SPACE_MMIO, b + 0x08, 1, 4);  /* driver_feature_select */
	bus_w(VMM_SPACE_MMIO, b + 0x0c, 1, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x08, 0, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x0c, 0, 4);
	bus_w(VMM_SPACE_MMIO, b + 0x14, 1 | 2 | 8, 1);
	for (unsigned q = 0; q < 2; q++) {
		uint64_t a;
		bus_w(VMM_SPACE_MMIO, b + 0x16, q, 2); /* queue_select */
		if (!bus_r(VMM_SPACE_MMIO, b + 0x18, 2))
			continue;
		bus_w(VMM_SPACE_MMIO, b + 0x18, QSIZE, 2);
		a = QDESC(NVIRTIO + i, q);
		bus_w(VMM_SPACE_MMIO, b + 0x20, (uint32_t)a, 4);
		a = QAVAIL(NVIRTIO + i, q);
		bus_w(VMM_SPACE_MMIO, b + 0x28, (uint32_t)a, 4);
		a = QUSED(NVIRTIO + i, q);
		bus_w(VMM_SPACE_MMIO, b + 0x30, (uint32_t)a, 4);
		bus_w(VMM_SPACE_MMIO, b + 0x1c, 1, 2); /* queue_enable */
	}
	bus_w(VMM_SPACE_MMIO, b + 0x14, 1 | 2 | 8 | 4, 1);
}

static void attach_virtio(unsigned kind, enum vmm_virtio_transport t,
			  unsigned i, vmm_dev *pci)
{
	struct vmm_virtio_config vc;
	vmm_dev *d;
	int r = -1;

	vmm_virtio_config_init(&vc, t);
	if (t == VMM_VIRTIO_MMIO) {
		vc.mmio_base = VMMIO_BASE + 0x1000ull * i;
		vc.irq = 5 + (int)i;
	} else {
		vc.pci_host = pci;
		vc.pci_slot = 1 + (int)i;
		vc.irq = 9 + (int)i;
	}
	vc.queue_size = 64;
	switch (kind) {
	case 0: {
		struct vmm_virtio_blk_config c;
		vmm_virtio_blk_config_init(&c, t);
		c.virtio = vc;
		c.fd = memfd_of(64 * 1024);
		c.num_queues = 2; /* VIRTIO_BLK_F_MQ: both fuzzed queues */
		r = vmm_virtio_blk_attach(M.vm, &c, &d);
		close(c.fd);
		break;
	}
	case 1: {
		struct vmm_virtio_net_config c;
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0, sv))
			abort();
		vmm_virtio_net_config_init(&c, t);
		c.virtio = vc;
		c.tap_fd = sv[0];
		r = vmm_virtio_net_attach(M.vm, &c, &d);
		close(sv[0]);
		if (M.net_peer < 0)
			M.net_peer = sv[1];
		else
			close(sv[1]);
		break;
	}
	case 2: {
		struct vmm_virtio_console_config c;
		vmm_virtio_console_config_init(&c, t);
		c.virtio = vc;
		r = vmm_virtio_console_attach(M.vm, &c, &d);
		break;
	}
	case 3:
		r = vmm_virtio_rng_attach(M.vm, &vc, &d);
		break;
	}
	if (r) {
		char msg[200];
		vmm_last_error(M.vm, msg, sizeof(msg));
		fprintf(stderr, "fuzz_machine: virtio %u: %s\n", kind, msg);
		abort();
	}
}

static void w64(uint64_t gpa, uint64_t v)
{
	if (vmm_mem_write(M.vm, gpa, &v, 8))
		abort();
}

static void build_env(void)
{
	static const uint8_t errcode[32] = { [8] = 1, [10] = 1, [11] = 1,
					     [12] = 1, [13] = 1, [14] = 1,
					     [17] = 1, [21] = 1, [29] = 1,
					     [30] = 1 };
	if (env_build_memory(M.vm))
		abort();
	/* 3-4 GiB: devices, LAPIC, IOAPIC */
	w64(ENV_PDPT + 3 * 8, PD_HIGH | 3);
	for (uint64_t i = 0; i < 512; i++)
		w64(PD_HIGH + i * 8, (3ull << 30) + (i << 21) | 0x9b);
	for (unsigned v = 0; v < 256; v++) {
		uint8_t h[64], *p = h;
		uint64_t off = HANDLERS + 64ull * v;
		uint32_t ctr = (uint32_t)COUNTER;

		if (v < 32 && errcode[v])
			p = memcpy(p, (uint8_t[]){ 0x48, 0x83, 0xc4, 0x08 }, 4),
			p += 4;
		if (v == 13) /* skip the RDMSR/WRMSR */
			memcpy(p, (uint8_t[]){ 0x48, 0x83, 0x04, 0x24, 0x02 }, 5),
				p += 5;
		*p++ = 0xff, *p++ = 0x04, *p++ = 0x25; /* inc dword [ctr] */
		memcpy(p, &ctr, 4), p += 4;
		*p++ = 0x81, *p++ = 0x3c, *p++ = 0x25; /* cmp dword [ctr],256 */
		memcpy(p, &ctr, 4), p += 4;
		memcpy(p, (uint8_t[]){ 0x00, 0x01, 0x00, 0x00 }, 4), p += 4;
		*p++ = 0x72, *p++ = 0x09; /* jb iretq */
		memcpy(p, (uint8_t[]){ 0x48, 0x81, 0x64, 0x24, 0x10, 0xff, 0xfd,
				       0xff, 0xff }, 9), p += 9;
		*p++ = 0x48, *p++ = 0xcf; /* iretq */
		if (vmm_mem_write(M.vm, off, h, (size_t)(p - h)))
			abort();
		w64(ENV_IDT + v * 16ull,
		    (off & 0xffff) | (uint64_t)ENV_KCODE64 << 16 |
			    0x8e00ull << 32 | ((off >> 16) & 0xffff) << 48);
		w64(ENV_IDT + v * 16ull + 8, off >> 32);
	}
}

static void setup(enum fm_mode mode)
{
	struct vmm_config cfg;
	struct vmm_uart_config uc;
	struct vmm_trapblk_config tc;
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_RAW | VMM_SAVE_NO_SYNC };
	struct vmm_hc_sig sig = { .nargs = 2, .nbufs = 2,
				  .bufs = { { VMM_HC_DIR_IN, 4096 },
					    { VMM_HC_DIR_OUT, 4096 } } };
	struct vmm_cpu_state st;
	vmm_dev *d, *pci;
	char why[200];
	int fd;

	M.net_peer = -1;
	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_DETERMINISTIC;
	cfg.ram_size = ENV_RAM;
	if (vmm_vm_create(&cfg, &M.vm) || vmm_vcpu_create(M.vm, 0, &M.cpu))
		abort();
	vmm_uart_config_init(&uc);
	uc.out_fd = -1;
	uc.in_fd = -1;
	if (vmm_uart_attach(M.vm, &uc, &M.uart) ||
	    vmm_rtc_attach(M.vm, &d) || vmm_i8042_attach(M.vm, &d) ||
	    vmm_debug_exit_attach(M.vm, 0, 0, &d) ||
	    vmm_pci_host_attach(M.vm, &pci))
		abort();
	vmm_trapblk_config_init(&tc);
	tc.fd = memfd_of(64 * 1024);
	if (vmm_trapblk_attach(M.vm, &tc, &d))
		abort();
	tc.space = VMM_SPACE_MMIO;
	tc.base = TRAPBLK_MMIO;
	if (vmm_trapblk_attach(M.vm, &tc, &d))
		abort();
	close(tc.fd);
	if (vmm_hc_attach(M.vm, NULL, &M.hc) ||
	    vmm_hc_register(M.hc, 0x100, "echo", &sig, hc_echo, NULL))
		abort();
	/* the per-class targets leave out what they cannot reach: every
	 * virtio device costs its state restore on each reset */
	for (unsigned i = 0; i < NVIRTIO; i++) {
		if (mode == FM_ALL || mode == FM_VIRTIO)
			attach_virtio(i, VMM_VIRTIO_MMIO, i, NULL);
		if (mode != FM_HYPERCALL)
			attach_virtio(i, VMM_VIRTIO_PCI, i, pci);
	}
	build_env();
	{
		uint8_t t[] = { 0xba, 0xf0, 0x05, 0x00, 0x00, /* mov edx, 0x5f0 */
				0xb8, 0xff, 0xff, 0xff, 0xff, /* mov eax, -1 */
				0xef,                         /* out dx, eax */
				0xe9, 0, 0, 0, 0 };           /* jmp CODE_BASE */
		int32_t rel = (int32_t)(CODE_BASE - (TRAMP + sizeof(t)));
		memcpy(t + 12, &rel, 4);
		if (vmm_mem_write(M.vm, TRAMP, t, sizeof(t)))
			abort();
	}
	for (unsigned i = 0; i < NVIRTIO; i++) {
		if (mode == FM_ALL || mode == FM_VIRTIO)
			virtio_mmio_up(i);
		if (mode != FM_HYPERCALL)
			virtio_pci_up(i, 1 + i);
	}
	if (vmm_vcpu_get_state(M.cpu, &st))
		abort();
	env_state(&st, ENV_LONG64, 0);
	if (vmm_vcpu_set_state(M.cpu, &st) || vmm_mem_dirty_log(M.vm, true))
		abort();
	fd = memfd_of(0);
	if (vmm_snapshot_save_fd(M.vm, fd, &so)) {
		vmm_last_error(M.vm, why, sizeof(why));
		fprintf(stderr, "fuzz_machine: snapshot: %s\n", why);
		abort();
	}
	if (vmm_snapshot_open_fd(fd, &M.snap, why, sizeof(why))) {
		fprintf(stderr, "fuzz_machine: open: %s\n", why);
		abort();
	}
	close(fd);
	if (vmm_snapshot_reset(M.vm, M.snap) < 0)
		abort();
}


/* Guest-side I/O of a direct input: from the host, unless the host
 * access did not complete (irqchip, LAPIC, unhandled: the vCPU does it). */
static bool direct_io(enum vmm_space sp, uint64_t a, unsigned size,
		      bool write, uint64_t v)
{
	uint64_t buf = v;
	int r;

	if (!M.direct)
		return false;
	flush();
	r = vmm_bus_access(M.vm, sp, a, &buf, size, write);
	/* nothing there (-ENOENT), or refused from the host (-EFAULT over a
	 * range's end, a handler's error): the vCPU repeats it, where a
	 * handler's failure shows as VMM_EXIT_INTERNAL */
	return r == 0;
}

/* Memory stores: host writes (direct) or guest MOVs. */
static void st_mem(uint64_t gpa, const void *p, unsigned len)
{
	const uint8_t *b = p;
	unsigned i = 0;

	if (M.direct) {
		flush();
		if (vmm_mem_write(M.vm, gpa, p, len))
			abort();
		return;
	}
	mov_r64(0, gpa);
	for (; i + 8 <= len; i += 8) {
		uint64_t q;
		uint32_t d = i;
		memcpy(&q, b + i, 8);
		mov_r64(1, q);
		emit((uint8_t[]){ 0x48, 0x89, 0x88 }, 3); /* mov [rax+d32], rcx */
		emit(&d, 4);
	}
	for (; i < len; i++) {
		uint32_t d = i;
		emit((uint8_t[]){ 0xc6, 0x80 }, 2); /* mov byte [rax+d32], imm8 */
		emit(&d, 4);
		emit1(b[i]);
	}
}

static void finding(const char *what, const struct vmm_exit *e);

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Run the code emitted so far: it ends with a jump to the trampoline (the
 * END control OUT and a jump back to CODE_BASE, where the next batch of
 * code will be). */
static void flush(void)
{
	struct vmm_exit e;
	unsigned exits = 0, kicks = 0;
	int32_t rel;

	if (!M.n)
		return;
	/* to the trampoline, which stays put while the next batch replaces
	 * this code: the vCPU waits there on its jump back to CODE_BASE */
	rel = (int32_t)(TRAMP - (CODE_BASE + M.n + 5));
	emit1(0xe9);
	emit(&rel, 4);
	if (M.dead) {
		M.n = 0;
		return;
	}
	if (vmm_mem_write(M.vm, CODE_BASE, M.code, M.n))
		abort();
	if (M.verbose) {
		fprintf(stderr, "run %zu bytes of code:", M.n);
		for (size_t i = 0; i < M.n; i++)
			fprintf(stderr, " %02x", M.code[i]);
		fprintf(stderr, "\n");
	}
	M.n = 0;
	atomic_fetch_add(&run_wd.gen, 1);
	atomic_store(&run_wd.cpu, M.cpu);
	for (;;) {
		if (++exits > MAX_EXITS ||
		    mono_ns() - M.t0 > INPUT_WALL_NS) {
			M.dead = true; /* the input's budget: see INPUT_WALL_NS */
			break;
		}
		/* the run loop dispatches to the bus as an embedder's would;
		 * what no device takes comes back here */
		if (vmm_vcpu_run_loop(M.cpu, &e))
			finding("vmm_vcpu_run_loop failed", NULL);
		atomic_fetch_add(&run_wd.gen, 1);
		if (e.kind == VMM_EXIT_INTERRUPTED && ++kicks >= 3) {
			M.dead = true; /* a guest livelock: see run_wd */
			break;
		}
		if (e.kind == VMM_EXIT_INSN_LIMIT) {
			M.dead = true; /* the input's budget: INPUT_INSNS */
			break;
		}
		if (M.verbose)
			fprintf(stderr, "exit %s io %x mmio %llx\n",
				vmm_exit_name(e.kind), e.io.port,
				(unsigned long long)e.mmio.gpa);
		if (e.kind == VMM_EXIT_IO) {
			uint32_t v;
			if (e.io.port == CTRL_PORT && e.io.is_write &&
			    e.io.size == 4 && e.io.count == 1) {
				memcpy(&v, e.io.data, 4);
				if (v == 0xffffffffu)
					break;
				if (v < M.nhost)
					host_do(&M.host[v]);
				continue;
			}
			if (!e.io.is_write)
				memset(e.io.data, 0xff,
				       (size_t)e.io.size * e.io.count);
			continue;
		}
		if (e.kind == VMM_EXIT_MMIO) {
			if (!e.mmio.is_write)
				memset(e.mmio.data, 0xff, e.mmio.len);
			continue;
		}
		if (e.kind == VMM_EXIT_INTERNAL &&
		    e.internal.reason == VMM_INTERNAL_EMULATION &&
		    strstr(e.internal.msg, " not emulated")) {
			/* an instruction a real CPU runs and the software
			 * backend does not implement (the list in
			 * docs/soft-backend.md "Known gaps": SSE forms with
			 * an MMX operand, ...): the documented stop, as fuzz_sysseq accepts it;
			 * the vCPU runs no more in this input */
			M.dead = true;
			break;
		}
		if (e.kind == VMM_EXIT_INTERNAL || e.kind == VMM_EXIT_FAIL_ENTRY) {
			struct vmm_cpu_state st;
			if (M.verbose && !vmm_vcpu_get_state(M.cpu, &st))
				fprintf(stderr, "rip 0x%llx rsp 0x%llx\n",
					(unsigned long long)st.rip,
					(unsigned long long)st.gpr[VMM_RSP]);
			finding("VMM stop caused by the guest", &e);
		}
		if (e.kind == VMM_EXIT_DEBUG || e.kind == VMM_EXIT_INTERRUPTED)
			continue;
		/* guest exit, reset, shutdown, poweroff, hypercall stop:
		 * architectural ends; the vCPU runs no more in this input */
		M.dead = true;
		break;
	}
	atomic_store(&run_wd.cpu, NULL);
}

static void finding(const char *what, const struct vmm_exit *e)
{
	char msg[200];

	vmm_last_error(M.vm, msg, sizeof(msg));
	fprintf(stderr, "fuzz_machine: %s: %s (%s)\n", what,
		e ? e->internal.msg : "", msg);
	abort();
}

int fm_run(enum fm_mode mode, const uint8_t *data, size_t size)
{
	struct rd r = { data, size };

	if (!M.vm) {
		const char *ni = getenv("FUZZ_MACHINE_INSNS");
		M.verbose = getenv("FUZZ_MACHINE_VERBOSE") != NULL;
		M.insns = ni ? strtoull(ni, NULL, 0) : INPUT_INSNS;
		setup(mode);
		livelock_watchdog_start(&run_wd);
	}
	if (vmm_snapshot_reset(M.vm, M.snap) < 0)
		finding("reset failed", NULL);
	M.n = 0;
	M.nhost = 0;
	M.dead = false;
	M.t0 = mono_ns();
	/* the whole input's budget (replaces what the last one left) */
	if (vmm_vcpu_set_insn_limit(M.cpu, M.insns))
		finding("vmm_vcpu_set_insn_limit failed", NULL);
	memset(M.avail_idx, 0, sizeof(M.avail_idx));
	/* byte 0: 3 in 4 inputs drive the bus and memory from the host side
	 * (fast); the rest run every action on the vCPU */
	M.direct = (rd8(&r) & 3) != 0;
	while (r.left && M.nhost < MAX_HOST) {
		if (!room(4096))
			flush();
		action(mode, &r);
	}
	flush();
	return 0;
}
