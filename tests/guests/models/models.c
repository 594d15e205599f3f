/* SPDX-License-Identifier: MIT */
/*
 * models.c - the device-models workload guest (64-bit, all work at CPL3).
 *
 * The same workload runs under each device model; the multiboot command
 * line says which:
 *   model=direct   console through the 16550 UART (two traps per byte),
 *                  block through the trapped block device (one trap per 4
 *                  bytes) at port "blk=" (default 0x5c0);
 *   model=ring     console and block through the passthrough ring
 *                  (ptring.h) at guest-physical "ring=": no traps at all;
 *   model=virtio   console through virtio-console at "vcon=", block
 *                  through virtio-blk at "vblk=" (virtio-mmio version 2):
 *                  a minimal polled split-ring driver, one notification
 *                  per request (4 KiB of console text, 64 KiB of block);
 *   work=console   "kib=" KiB of text;
 *   work=block     write "kib=" KiB of a pattern from sector 0 in requests
 *                  of up to 64 KiB, read it back, compare;
 *   work=touch     (ring model) "marker" out to port 0x5f0 (value 1), then
 *                  write and read back every dword of the region at "pt="
 *                  of "kib=" KiB, "passes=" times, then out 0x5f0 (value 2):
 *                  the host counts exits between the two markers;
 *   work=blkerr    (direct) a write that must fail (read-only medium or
 *                  host I/O error): passes when ST_ERR is seen;
 *   work=hostile   (direct) hostile register values: sector beyond the
 *                  end, count 0 / overflow, sector+count wrap, data access
 *                  without a command, 2-byte data access, unknown command:
 *                  each must end in ST_ERR with the right code, and the
 *                  device must still work afterwards.
 * With "mark=1" the workload is bracketed by writes of 1 and 2 to port
 * 0x5f0, so a host (bench/vmm-bench.c device-models) can count the exits
 * and time of the workload alone.  Status lines go to the UART; ends with exit value 0x60 (status 193) on
 * success, GUEST_EXIT_FAIL otherwise.
 */
#include "cmdline.h"
#include "entry64.h"
#include "guest.h"
#include "ptring.h"

#include <libvmm/models.h>

#define GUEST_EXIT_MODELS 0x60
#define MARKER_PORT 0x5f0
#define DATA_BUF ((uint32_t *)(uintptr_t)0x400000) /* 64 KiB at 4 MiB */
#define CHUNK_SECTORS 128u

static uint16_t blk_port = 0x5c0;
static volatile struct ptring_hdr *ring;
static volatile uint8_t *ring_base;

/* ---- the two transports ---- */

static void ring_putc(char c)
{
	while (ring->con_head - ring->con_tail >= PTRING_CON_SIZE)
		__asm__ volatile("pause");
	ring_base[PTRING_CON_OFF + (ring->con_head & (PTRING_CON_SIZE - 1))] =
		(uint8_t)c;
	__asm__ volatile("" ::: "memory");
	ring->con_head++;
}

static int ring_blk(uint32_t cmd, uint64_t sector, uint32_t count, void *buf)
{
	uint32_t seq = ring->blk_seq + 1;

	if (cmd == PTRING_CMD_WRITE)
		memcpy((void *)(ring_base + PTRING_BLK_OFF), buf, count * 512u);
	ring->blk_cmd = cmd;
	ring->blk_sector = sector;
	ring->blk_count = count;
	__asm__ volatile("" ::: "memory");
	ring->blk_seq = seq;
	while (ring->blk_done != seq)
		__asm__ volatile("pause");
	if (ring->blk_status != PTRING_ST_OK)
		return -1;
	if (cmd == PTRING_CMD_READ)
		memcpy(buf, (void *)(ring_base + PTRING_BLK_OFF), count * 512u);
	return 0;
}

static uint32_t blk_reg(unsigned off)
{
	return inl((uint16_t)(blk_port + off));
}

static void blk_set(unsigned off, uint32_t v)
{
	outl((uint16_t)(blk_port + off), v);
}

static void blk_setup(uint64_t sector, uint32_t count, uint32_t cmd)
{
	blk_set(VMM_TRAPBLK_SECTOR_LO, (uint32_t)sector);
	blk_set(VMM_TRAPBLK_SECTOR_HI, (uint32_t)(sector >> 32));
	blk_set(VMM_TRAPBLK_COUNT, count);
	blk_set(VMM_TRAPBLK_CMD, cmd);
}

/* Returns 0, or the device's error code. */
static int direct_blk(uint32_t cmd, uint64_t sector, uint32_t count,
		      uint32_t *buf)
{
	uint32_t n = count * 128u, st;
	uint16_t data = (uint16_t)(blk_port + VMM_TRAPBLK_DATA);

	blk_setup(sector, count,
		  cmd == PTRING_CMD_READ ? VMM_TRAPBLK_CMD_READ
					 : VMM_TRAPBLK_CMD_WRITE);
	st = blk_reg(VMM_TRAPBLK_CMD);
	if (st & VMM_TRAPBLK_ST_ERR)
		return (int)blk_reg(VMM_TRAPBLK_ERROR);
	for (uint32_t i = 0; i < n; i++) {
		if (cmd == PTRING_CMD_READ)
			buf[i] = inl(data);
		else
			outl(data, buf[i]);
	}
	st = blk_reg(VMM_TRAPBLK_CMD);
	if (st & VMM_TRAPBLK_ST_ERR)
		return (int)blk_reg(VMM_TRAPBLK_ERROR);
	return (st & VMM_TRAPBLK_ST_READY) ? 0 : 99;
}


/* ---- a minimal polled virtio-mmio (version 2) driver ---- */

#define VM_MAGIC 0x000
#define VM_VERSION 0x004
#define VM_DEVICE_ID 0x008
#define VM_DEV_FEAT 0x010
#define VM_DEV_FEAT_SEL 0x014
#define VM_DRV_FEAT 0x020
#define VM_DRV_FEAT_SEL 0x024
#define VM_QUEUE_SEL 0x030
#define VM_QUEUE_NUM_MAX 0x034
#define VM_QUEUE_NUM 0x038
#define VM_QUEUE_READY 0x044
#define VM_QUEUE_NOTIFY 0x050
#define VM_STATUS 0x070
#define VM_QUEUE_DESC 0x080
#define VM_QUEUE_DRIVER 0x090
#define VM_QUEUE_DEVICE 0x0a0
#define VQ_SIZE 8
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2

struct vdesc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct vavail { uint16_t flags, idx, ring[VQ_SIZE], used_event; };
struct vused_elem { uint32_t id, len; };
struct vused { uint16_t flags, idx; struct vused_elem ring[VQ_SIZE];
	       uint16_t avail_event; };

struct vq {
	uintptr_t base;      /* the device's register window */
	unsigned index;
	struct vdesc desc[VQ_SIZE] __attribute__((aligned(16)));
	struct vavail avail __attribute__((aligned(2)));
	struct vused used __attribute__((aligned(4)));
	uint16_t last_used;
};

static struct vq vq_blk __attribute__((aligned(4096)));
static struct vq vq_con __attribute__((aligned(4096)));
static uint8_t con_buf[4096];
static struct { uint32_t type, reserved; uint64_t sector; } blk_hdr;
static volatile uint8_t blk_status;

static uint32_t mr(uintptr_t b, unsigned off)
{
	return *(volatile uint32_t *)(b + off);
}

static void mw(uintptr_t b, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(b + off) = v;
}

/* Bring the device at @base up with queue @qi; 0 or -1. */
static int virtio_setup(uintptr_t base, uint32_t want_id, struct vq *q,
			unsigned qi)
{
	uint64_t a;

	if (mr(base, VM_MAGIC) != 0x74726976 || mr(base, VM_VERSION) != 2 ||
	    mr(base, VM_DEVICE_ID) != want_id)
		return -1;
	mw(base, VM_STATUS, 0);
	mw(base, VM_STATUS, 1);       /* ACKNOWLEDGE */
	mw(base, VM_STATUS, 1 | 2);   /* DRIVER */
	mw(base, VM_DEV_FEAT_SEL, 1);
	if (!(mr(base, VM_DEV_FEAT) & 1))
		return -1;            /* no VIRTIO_F_VERSION_1 */
	mw(base, VM_DRV_FEAT_SEL, 0);
	mw(base, VM_DRV_FEAT, 0);
	mw(base, VM_DRV_FEAT_SEL, 1);
	mw(base, VM_DRV_FEAT, 1);     /* VERSION_1 only */
	mw(base, VM_STATUS, 1 | 2 | 8);
	if (!(mr(base, VM_STATUS) & 8))
		return -1;
	memset(q, 0, sizeof(*q));
	q->base = base;
	q->index = qi;
	mw(base, VM_QUEUE_SEL, qi);
	if (mr(base, VM_QUEUE_NUM_MAX) < VQ_SIZE)
		return -1;
	mw(base, VM_QUEUE_NUM, VQ_SIZE);
	a = (uintptr_t)q->desc;
	mw(base, VM_QUEUE_DESC, (uint32_t)a);
	mw(base, VM_QUEUE_DESC + 4, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->avail;
	mw(base, VM_QUEUE_DRIVER, (uint32_t)a);
	mw(base, VM_QUEUE_DRIVER + 4, (uint32_t)(a >> 32));
	a = (uintptr_t)&q->used;
	mw(base, VM_QUEUE_DEVICE, (uint32_t)a);
	mw(base, VM_QUEUE_DEVICE + 4, (uint32_t)(a >> 32));
	mw(base, VM_QUEUE_READY, 1);
	mw(base, VM_STATUS, 1 | 2 | 8 | 4); /* DRIVER_OK */
	return 0;
}

/* Post the chain starting at descriptor 0, notify, poll for it. */
static int vq_submit(struct vq *q)
{
	q->avail.ring[q->avail.idx % VQ_SIZE] = 0;
	__asm__ volatile("mfence" ::: "memory");
	q->avail.idx++;
	__asm__ volatile("mfence" ::: "memory");
	mw(q->base, VM_QUEUE_NOTIFY, q->index);
	while (*(volatile uint16_t *)&q->used.idx == q->last_used)
		__asm__ volatile("pause");
	q->last_used++;
	return 0;
}

static int virtio_blk(uint32_t cmd, uint64_t sector, uint32_t count,
		      void *buf)
{
	struct vq *q = &vq_blk;

	blk_hdr.type = cmd == PTRING_CMD_READ ? 0 : 1;
	blk_hdr.sector = sector;
	blk_status = 0xff;
	q->desc[0] = (struct vdesc){ (uintptr_t)&blk_hdr, 16, VRING_DESC_F_NEXT, 1 };
	q->desc[1] = (struct vdesc){ (uintptr_t)buf, count * 512u,
				     (uint16_t)(VRING_DESC_F_NEXT |
				     (cmd == PTRING_CMD_READ ? VRING_DESC_F_WRITE : 0)), 2 };
	q->desc[2] = (struct vdesc){ (uintptr_t)&blk_status, 1,
				     VRING_DESC_F_WRITE, 0 };
	vq_submit(q);
	return blk_status == 0 ? 0 : 100 + blk_status;
}

static unsigned con_fill;

static void virtio_con_flush(void)
{
	struct vq *q = &vq_con;

	if (!con_fill)
		return;
	q->desc[0] = (struct vdesc){ (uintptr_t)con_buf, con_fill, 0, 0 };
	vq_submit(q);
	con_fill = 0;
}

static void virtio_putc(char c)
{
	con_buf[con_fill++] = (uint8_t)c;
	if (con_fill == sizeof(con_buf))
		virtio_con_flush();
}

/* ---- workloads ---- */

static int use_ring, use_virtio;

static void out_char(char c)
{
	if (use_ring)
		ring_putc(c);
	else if (use_virtio)
		virtio_putc(c);
	else
		uart_putc(c);
}

static int work_console(uint64_t kib)
{
	/* 64-byte lines: "con NNNNNNNN " + 50 letters + "\n" */
	uint64_t lines = kib * 16;

	for (uint64_t l = 0; l < lines; l++) {
		char line[64];
		uint32_t v = (uint32_t)l;

		memcpy(line, "con ", 4);
		for (int i = 11; i >= 4; i--) {
			line[i] = "0123456789abcdef"[v & 15];
			v >>= 4;
		}
		line[12] = ' ';
		for (int i = 13; i < 63; i++)
			line[i] = (char)('a' + (l + (uint64_t)i) % 26);
		line[63] = '\n';
		for (int i = 0; i < 64; i++)
			out_char(line[i]);
	}
	return 0;
}

static uint32_t pattern(uint64_t sector, uint32_t i)
{
	uint32_t x = (uint32_t)(sector * 0x9e3779b1u) ^ (i * 0x85ebca6bu);
	return x ^ (x >> 13);
}

static int blk(uint32_t cmd, uint64_t sector, uint32_t count, uint32_t *buf)
{
	if (use_ring)
		return ring_blk(cmd, sector, count, buf);
	if (use_virtio)
		return virtio_blk(cmd, sector, count, buf);
	return direct_blk(cmd, sector, count, buf);
}

static int work_block(uint64_t kib)
{
	uint64_t sectors = kib * 2;
	int err;

	for (uint64_t s = 0; s < sectors; s += CHUNK_SECTORS) {
		uint32_t n = sectors - s < CHUNK_SECTORS ? (uint32_t)(sectors - s)
							 : CHUNK_SECTORS;
		for (uint32_t i = 0; i < n * 128; i++)
			DATA_BUF[i] = pattern(s + i / 128, i % 128);
		if ((err = blk(PTRING_CMD_WRITE, s, n, DATA_BUF))) {
			gprintf("models: write at sector %lu failed (%d)\n", s,
				err);
			return -1;
		}
	}
	for (uint64_t s = 0; s < sectors; s += CHUNK_SECTORS) {
		uint32_t n = sectors - s < CHUNK_SECTORS ? (uint32_t)(sectors - s)
							 : CHUNK_SECTORS;
		memset(DATA_BUF, 0, n * 512);
		if ((err = blk(PTRING_CMD_READ, s, n, DATA_BUF))) {
			gprintf("models: read at sector %lu failed (%d)\n", s,
				err);
			return -1;
		}
		for (uint32_t i = 0; i < n * 128; i++)
			if (DATA_BUF[i] != pattern(s + i / 128, i % 128)) {
				gprintf("models: mismatch at sector %lu\n",
					s + i / 128);
				return -1;
			}
	}
	return 0;
}

static int work_touch(uint64_t base, uint64_t kib, uint64_t passes)
{
	volatile uint32_t *p = (volatile uint32_t *)(uintptr_t)base;
	uint64_t n = kib * 256;
	uint32_t sum = 0;

	outb(MARKER_PORT, 1);
	for (uint64_t pass = 0; pass < passes; pass++) {
		for (uint64_t i = 0; i < n; i++)
			p[i] = (uint32_t)(i * 2654435761u) + (uint32_t)pass;
		for (uint64_t i = 0; i < n; i++)
			sum += p[i];
	}
	outb(MARKER_PORT, 2);
	/* leave a final, checkable pattern: dword i = i ^ 0x5a5a5a5a */
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint32_t)i ^ 0x5a5a5a5au;
	gprintf("models: touched %lu KiB %lu times (sum %x)\n", kib, passes,
		sum);
	return 0;
}

static int work_blkerr(void)
{
	int err;

	for (uint32_t i = 0; i < 128; i++)
		DATA_BUF[i] = i;
	err = direct_blk(PTRING_CMD_WRITE, 0, 1, DATA_BUF);
	gprintf("models: write to the medium: error %d\n", err);
	if (err != VMM_TRAPBLK_E_RO && err != VMM_TRAPBLK_E_IO)
		return -1;
	/* reads still work */
	err = direct_blk(PTRING_CMD_READ, 0, 1, DATA_BUF);
	gprintf("models: read after the failed write: error %d\n", err);
	return err ? -1 : 0;
}

struct hostile_case {
	const char *what;
	uint64_t sector;
	uint32_t count;
	uint32_t cmd;
	uint32_t want;
};

static int work_hostile(void)
{
	uint64_t cap = blk_reg(VMM_TRAPBLK_CAP_LO) |
		       ((uint64_t)blk_reg(VMM_TRAPBLK_CAP_HI) << 32);
	const struct hostile_case cases[] = {
		{ "sector beyond end", cap, 1, VMM_TRAPBLK_CMD_READ,
		  VMM_TRAPBLK_E_RANGE },
		{ "last sector + 1 too many", cap - 1, 2, VMM_TRAPBLK_CMD_READ,
		  VMM_TRAPBLK_E_RANGE },
		{ "count 0", 0, 0, VMM_TRAPBLK_CMD_READ, VMM_TRAPBLK_E_RANGE },
		{ "count 0xffffffff", 0, 0xffffffffu, VMM_TRAPBLK_CMD_WRITE,
		  VMM_TRAPBLK_E_RANGE },
		{ "sector+count wraps", ~0ull, 2, VMM_TRAPBLK_CMD_READ,
		  VMM_TRAPBLK_E_RANGE },
		{ "huge sector", 1ull << 62, 1, VMM_TRAPBLK_CMD_WRITE,
		  VMM_TRAPBLK_E_RANGE },
		{ "unknown command", 0, 1, 0x77, VMM_TRAPBLK_E_CMD },
	};
	int bad = 0;
	uint32_t st;

	gprintf("models: capacity %lu sectors\n", cap);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct hostile_case *c = &cases[i];
		uint32_t e;

		blk_setup(c->sector, c->count, c->cmd);
		st = blk_reg(VMM_TRAPBLK_CMD);
		e = blk_reg(VMM_TRAPBLK_ERROR);
		gprintf("models: %s: status 0x%x error %u\n", c->what, st, e);
		if (!(st & VMM_TRAPBLK_ST_ERR) || e != c->want ||
		    !(st & VMM_TRAPBLK_ST_READY))
			bad++;
	}
	/* data access without a command */
	(void)inl((uint16_t)(blk_port + VMM_TRAPBLK_DATA));
	st = blk_reg(VMM_TRAPBLK_CMD);
	gprintf("models: data without command: status 0x%x error %u\n", st,
		blk_reg(VMM_TRAPBLK_ERROR));
	if (!(st & VMM_TRAPBLK_ST_ERR) ||
	    blk_reg(VMM_TRAPBLK_ERROR) != VMM_TRAPBLK_E_PROTO)
		bad++;
	/* a 2-byte data access in the middle of a read aborts it */
	blk_setup(0, 1, VMM_TRAPBLK_CMD_READ);
	(void)inw((uint16_t)(blk_port + VMM_TRAPBLK_DATA));
	st = blk_reg(VMM_TRAPBLK_CMD);
	gprintf("models: 2-byte data access: status 0x%x error %u\n", st,
		blk_reg(VMM_TRAPBLK_ERROR));
	if (!(st & VMM_TRAPBLK_ST_ERR) || !(st & VMM_TRAPBLK_ST_READY) ||
	    blk_reg(VMM_TRAPBLK_ERROR) != VMM_TRAPBLK_E_PROTO)
		bad++;
	/* a command in the middle of a transfer */
	blk_setup(0, 2, VMM_TRAPBLK_CMD_READ);
	blk_set(VMM_TRAPBLK_CMD, VMM_TRAPBLK_CMD_WRITE);
	st = blk_reg(VMM_TRAPBLK_CMD);
	gprintf("models: command during transfer: status 0x%x error %u\n", st,
		blk_reg(VMM_TRAPBLK_ERROR));
	if (!(st & VMM_TRAPBLK_ST_ERR) ||
	    blk_reg(VMM_TRAPBLK_ERROR) != VMM_TRAPBLK_E_PROTO)
		bad++;
	/* and the device still works */
	for (uint32_t i = 0; i < 256; i++)
		DATA_BUF[i] = pattern(cap - 2 + i / 128, i % 128);
	if (direct_blk(PTRING_CMD_WRITE, cap - 2, 2, DATA_BUF) ||
	    direct_blk(PTRING_CMD_READ, cap - 2, 2, DATA_BUF + 256) ||
	    memcmp(DATA_BUF, DATA_BUF + 256, 1024))
		bad++;
	gprintf("models: hostile values: %d wrong answers\n", bad);
	return bad ? -1 : 0;
}

int guest_main(void)
{
	uint64_t kib, t0, t1;
	int ret = -1, mark;

	uart_init();
	cmdline_init();
	kib = cmdline_num("kib", 16);
	blk_port = (uint16_t)cmdline_num("blk", 0x5c0);
	use_ring = cmdline_is("model", "ring");
	if (use_ring) {
		ring_base = (volatile uint8_t *)(uintptr_t)cmdline_num("ring", 0);
		ring = (volatile struct ptring_hdr *)ring_base;
		if (!ring_base || ring->magic != PTRING_MAGIC) {
			gprintf("models: no passthrough ring\n");
			return GUEST_EXIT_FAIL;
		}
	}
	use_virtio = cmdline_is("model", "virtio");
	if (use_virtio) {
		uintptr_t b = (uintptr_t)cmdline_num("vblk", 0);
		uintptr_t c = (uintptr_t)cmdline_num("vcon", 0);
		if ((b && virtio_setup(b, 2, &vq_blk, 0)) ||
		    (c && virtio_setup(c, 3, &vq_con, 1))) {
			gprintf("models: virtio device setup failed\n");
			return GUEST_EXIT_FAIL;
		}
	}
	gprintf("models: start %s\n", cmdline_text());
	mark = cmdline_num("mark", 0) != 0;
	if (mark)
		outb(MARKER_PORT, 1);
	t0 = rdtsc();
	if (cmdline_is("work", "console"))
		ret = work_console(kib);
	else if (cmdline_is("work", "block"))
		ret = work_block(kib);
	else if (cmdline_is("work", "touch"))
		ret = work_touch(cmdline_num("pt", 0), kib, cmdline_num("passes", 1));
	else if (cmdline_is("work", "blkerr"))
		ret = work_blkerr();
	else if (cmdline_is("work", "hostile"))
		ret = work_hostile();
	if (use_virtio)
		virtio_con_flush();
	if (use_ring) {
		/* the console is done when the host has drained the ring */
		while (ring->con_tail != ring->con_head)
			__asm__ volatile("pause");
	}
	t1 = rdtsc();
	if (mark)
		outb(MARKER_PORT, 2);
	gprintf("models: %s cycles %lu\n", ret ? "FAIL" : "done", t1 - t0);
	return ret ? GUEST_EXIT_FAIL : GUEST_EXIT_MODELS;
}
