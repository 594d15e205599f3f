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
 * Status lines go to the UART; ends with exit value 0x60 (status 193) on
 * success, GUEST_EXIT_FAIL otherwise.
 */
#include "entry64.h"
#include "guest.h"
#include "ptring.h"

#include <libvmm/models.h>

#define GUEST_EXIT_MODELS 0x60
#define MARKER_PORT 0x5f0
#define DATA_BUF ((uint32_t *)(uintptr_t)0x400000) /* 64 KiB at 4 MiB */
#define CHUNK_SECTORS 128u

static char cmdline[256];
static uint16_t blk_port = 0x5c0;
static volatile struct ptring_hdr *ring;
static volatile uint8_t *ring_base;

/* ---- command line ---- */

static const char *arg(const char *key)
{
	size_t klen = 0;

	while (key[klen])
		klen++;
	for (const char *p = cmdline; *p;) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

static uint64_t arg_num(const char *key, uint64_t def)
{
	const char *p = arg(key);
	uint64_t v = 0;

	if (!p)
		return def;
	if (p[0] == '0' && p[1] == 'x') {
		for (p += 2;; p++) {
			unsigned d;
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned)(*p - 'a' + 10);
			else
				break;
			v = v * 16 + d;
		}
		return v;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return v;
}

static int arg_is(const char *key, const char *val)
{
	const char *p = arg(key);
	size_t n = 0;

	if (!p)
		return 0;
	while (val[n])
		n++;
	return !memcmp(p, val, n) && (p[n] == ' ' || p[n] == 0);
}

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

/* ---- workloads ---- */

static int use_ring;

static void out_char(char c)
{
	if (use_ring)
		ring_putc(c);
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
	return use_ring ? ring_blk(cmd, sector, count, buf)
			: direct_blk(cmd, sector, count, buf);
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
	const struct multiboot_info *mb =
		(const struct multiboot_info *)(uintptr_t)boot_mb_info;
	uint64_t kib, t0, t1;
	int ret = -1;

	uart_init();
	if (boot_mb_magic == MULTIBOOT_BOOTLOADER_MAGIC && (mb->flags & 4)) {
		const char *c = (const char *)(uintptr_t)mb->cmdline;
		size_t i;
		for (i = 0; i < sizeof(cmdline) - 1 && c[i]; i++)
			cmdline[i] = c[i];
		cmdline[i] = 0;
	}
	kib = arg_num("kib", 16);
	blk_port = (uint16_t)arg_num("blk", 0x5c0);
	use_ring = arg_is("model", "ring");
	if (use_ring) {
		ring_base = (volatile uint8_t *)(uintptr_t)arg_num("ring", 0);
		ring = (volatile struct ptring_hdr *)ring_base;
		if (!ring_base || ring->magic != PTRING_MAGIC) {
			gprintf("models: no passthrough ring\n");
			return GUEST_EXIT_FAIL;
		}
	}
	gprintf("models: start %s\n", cmdline);
	t0 = rdtsc();
	if (arg_is("work", "console"))
		ret = work_console(kib);
	else if (arg_is("work", "block"))
		ret = work_block(kib);
	else if (arg_is("work", "touch"))
		ret = work_touch(arg_num("pt", 0), kib, arg_num("passes", 1));
	else if (arg_is("work", "blkerr"))
		ret = work_blkerr();
	else if (arg_is("work", "hostile"))
		ret = work_hostile();
	t1 = rdtsc();
	if (use_ring) {
		/* let the host drain the console ring before the summary */
		while (ring->con_tail != ring->con_head)
			__asm__ volatile("pause");
	}
	gprintf("models: %s cycles %lu\n", ret ? "FAIL" : "done", t1 - t0);
	return ret ? GUEST_EXIT_FAIL : GUEST_EXIT_MODELS;
}
