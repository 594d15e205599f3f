/* SPDX-License-Identifier: MIT */
/*
 * test_snap_unit - the snapshot format without a backend: VMs on the null
 * backend (memory, devices, stored vCPU state) are saved through an
 * injected writer and parsed back.  Fault injection: truncation at every
 * section boundary (and every byte of the first 4 KiB), flipped bits,
 * unknown versions and sections, absurd sizes, short writes / ENOSPC at
 * many points (no valid file left at the path, the old one kept), a
 * device without state ops, allocation failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "migrate/snap.h"
#include "migrate/crc32c.h"
#include "../common/failalloc.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- an in-memory writer that can fail ---- */

struct membuf {
	uint8_t *p;
	size_t len, cap;
	size_t fail_at; /* fail the write that would pass this many bytes */
	int fail_err;
};

static int mem_write(void *opaque, const void *buf, size_t len)
{
	struct membuf *m = opaque;

	if (m->fail_err && m->len + len > m->fail_at) {
		/* a short write first, then the error, as a full disk does */
		size_t part = m->fail_at > m->len ? m->fail_at - m->len : 0;
		memcpy(m->p + m->len, buf, part < m->cap - m->len ? part : 0);
		m->len += part;
		return m->fail_err;
	}
	if (m->len + len > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1 << 20;
		while (nc < m->len + len)
			nc *= 2;
		m->p = realloc(m->p, nc);
		assert_non_null(m->p);
		m->cap = nc;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

/* ---- the VM under test ---- */

struct tvm {
	vmm_vm *vm;
	vmm_dev *uart, *rtc, *kbd, *pci, *dbg;
};

#define RAM0 (1 << 20)
#define RAM1_GPA 0x200000
#define RAM1 (64 << 10)

static void fill_state(struct vmm_cpu_state *st, unsigned seed)
{
	uint8_t *p = (uint8_t *)st;

	for (size_t i = 0; i < sizeof(*st); i++)
		p[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 8));
	st->version = VMM_CPU_STATE_VERSION;
	st->mp_state = VMM_MP_HALTED;
	for (int i = 0; i < VMM_NR_SREGS; i++)
		memset(st->seg[i].pad, 0, sizeof(st->seg[i].pad));
	memset(st->gdtr.pad, 0, sizeof(st->gdtr.pad));
	memset(st->idtr.pad, 0, sizeof(st->idtr.pad));
	st->fpu.pad0 = 0;
}

static uint32_t cfg_read(void *opaque, uint16_t off, unsigned size)
{
	return 0xffffffff;
}

static void tvm_devices(struct tvm *t, vmm_vm *vm)
{
	struct vmm_uart_config uc;
	struct vmm_pci_ops po = { .cfg_read = cfg_read };

	vmm_uart_config_init(&uc);
	assert_int_equal(vmm_uart_attach(vm, &uc, &t->uart), 0);
	assert_int_equal(vmm_rtc_attach(vm, &t->rtc), 0);
	assert_int_equal(vmm_i8042_attach(vm, &t->kbd), 0);
	assert_int_equal(vmm_pci_host_attach(vm, &t->pci), 0);
	assert_int_equal(vmm_pci_add(t->pci, 3, &po, NULL), 3);
	assert_int_equal(vmm_debug_exit_attach(vm, 0xf4, 4, &t->dbg), 0);
}

static void tvm_create(struct tvm *t, const struct vmm_allocator *a)
{
	struct vmm_config cfg;
	struct vmm_mem_region rom = { .gpa = RAM1_GPA, .size = RAM1,
				      .source = VMM_MEM_ANON, .fd = -1,
				      .flags = VMM_MEM_READONLY };
	struct vmm_cpu_state st;
	vmm_vcpu *v;
	uint8_t b;

	memset(t, 0, sizeof(*t));
	vmm_config_init(&cfg);
	cfg.ncpus = 3;
	cfg.allocator = a;
	assert_int_equal(vmm__vm_create_null(&cfg, &t->vm), 0);
	assert_int_equal(vmm_mem_add_ram(t->vm, 0, RAM0), 0);
	assert_int_equal(vmm_mem_add(t->vm, &rom), 0);
	/* pages: some zero, some patterned, one in the ROM */
	for (int p = 0; p < RAM0 / 4096; p += 3) {
		uint8_t page[4096];
		for (int i = 0; i < 4096; i++)
			page[i] = (uint8_t)(p + i * 13);
		assert_int_equal(vmm_mem_write(t->vm, (uint64_t)p * 4096, page,
					       sizeof(page)), 0);
	}
	assert_int_equal(vmm_mem_write(t->vm, RAM1_GPA + 4096, "rom!", 4), 0);
	/* vCPUs 0 and 2 (1 is never created) */
	assert_int_equal(vmm_vcpu_create(t->vm, 0, &v), 0);
	fill_state(&st, 1);
	assert_int_equal(vmm_vcpu_set_state(v, &st), 0);
	assert_int_equal(vmm_vcpu_create(t->vm, 2, &v), 0);
	fill_state(&st, 2);
	assert_int_equal(vmm_vcpu_set_state(v, &st), 0);
	tvm_devices(t, t->vm);
	/* device state: UART registers and queued input, CMOS, i8042 queue */
	b = 0x83;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x3fb, &b, 1, true), 0);
	b = 0x05;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x3f8, &b, 1, true), 0);
	b = 0x03;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x3fb, &b, 1, true), 0);
	b = 0xc7;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x3fa, &b, 1, true), 0);
	b = 0x5a;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x3ff, &b, 1, true), 0);
	assert_int_equal(vmm_uart_input(t->uart, "hello, restored world", 21), 21);
	b = 0x40;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x70, &b, 1, true), 0);
	b = 0x99;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x71, &b, 1, true), 0);
	b = 0xaa;
	assert_int_equal(vmm_bus_access(t->vm, VMM_SPACE_PIO, 0x64, &b, 1, true), 0);
}

static void save_mem(vmm_vm *vm, struct membuf *m, uint32_t flags)
{
	struct snap_out out = { .write = mem_write, .opaque = m };

	assert_int_equal(vmm__snapshot_write(vm, &out, flags), 0);
	assert_int_equal(out.pos, m->len);
}

static int parse(const struct membuf *m, size_t len, char *err, size_t el)
{
	struct snap_parsed *p = calloc(1, sizeof(*p));
	int ret;

	assert_non_null(p);
	ret = vmm__snap_parse(m->p, len, p, err, el);
	if (ret == 0)
		vmm__snap_parsed_free(p);
	free(p);
	return ret;
}

/* Offsets of every section start in a valid snapshot. */
static int section_starts(const struct membuf *m, size_t *offs, int max)
{
	size_t off = SNAP_HEADER_SIZE;
	int n = 0;

	while (off + SEC_HDR_SIZE <= m->len && n < max) {
		offs[n++] = off;
		off += SEC_HDR_SIZE + vmm__le_get64(m->p + off + 16) +
		       SEC_FTR_SIZE;
	}
	assert_int_equal(off, m->len);
	return n;
}

/* Restore @p into a fresh null VM with the same devices. */
static void load_into_null(const uint8_t *buf, size_t len, struct tvm *t)
{
	struct snap_parsed *p = calloc(1, sizeof(*p));
	struct vmm_config cfg;
	char err[256];

	assert_int_equal(vmm__snap_parse(buf, len, p, err, sizeof(err)), 0);
	memset(t, 0, sizeof(*t));
	vmm_config_init(&cfg);
	cfg.ncpus = p->cfg.ncpus;
	assert_int_equal(vmm__vm_create_null(&cfg, &t->vm), 0);
	assert_int_equal(vmm__snap_restore_mem(t->vm, p, -1), 0);
	tvm_devices(t, t->vm);
	assert_int_equal(vmm__snap_load_state(t->vm, p, true, false, NULL, NULL), 0);
	vmm__snap_parsed_free(p);
	free(p);
}

/* Snapshots equal except the header's timestamp and checksum. */
static void assert_same_snapshot(const struct membuf *a, const struct membuf *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->p, b->p, 32);
	assert_memory_equal(a->p + 40, b->p + 40, 20);
	assert_memory_equal(a->p + 64, b->p + 64, a->len - 64);
}

static void test_roundtrip(void **state)
{
	for (int layout = 0; layout < 2; layout++) {
		uint32_t flags = layout ? VMM_SAVE_PACKED : VMM_SAVE_RAW;
		struct membuf m1 = { 0 }, m2 = { 0 };
		struct tvm t, t2;
		uint8_t b;

		tvm_create(&t, NULL);
		save_mem(t.vm, &m1, flags);
		load_into_null(m1.p, m1.len, &t2);
		/* the restored VM saves to the same bytes */
		save_mem(t2.vm, &m2, flags);
		assert_same_snapshot(&m1, &m2);
		/* and behaves the same: UART scratch and queued input */
		assert_int_equal(vmm_bus_access(t2.vm, VMM_SPACE_PIO, 0x3ff, &b, 1, false), 0);
		assert_int_equal(b, 0x5a);
		assert_int_equal(vmm_bus_access(t2.vm, VMM_SPACE_PIO, 0x3f8, &b, 1, false), 0);
		assert_int_equal(b, 'h');
		assert_int_equal(vmm_bus_access(t2.vm, VMM_SPACE_PIO, 0x64, &b, 1, false), 0);
		assert_true(b & 1); /* i8042 output buffer full: 0x55 waits */
		assert_int_equal(vmm_bus_access(t2.vm, VMM_SPACE_PIO, 0x60, &b, 1, false), 0);
		assert_int_equal(b, 0x55);
		vmm_vm_destroy(t.vm);
		vmm_vm_destroy(t2.vm);
		free(m1.p);
		free(m2.p);
	}
}

static void test_crc32c(void **state)
{
	/* the standard check value of CRC-32C */
	assert_int_equal(vmm__crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(vmm__crc32c(vmm__crc32c(0, "1234", 4), "56789", 5),
			 0xe3069283);
}

static void test_truncation(void **state)
{
	struct membuf m = { 0 };
	struct tvm t;
	size_t offs[64];
	char err[256];
	int n;

	tvm_create(&t, NULL);
	save_mem(t.vm, &m, 0);
	n = section_starts(&m, offs, 64);
	assert_true(n >= 10);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), 0);
	for (int i = 0; i < n; i++) {
		size_t cuts[] = { offs[i], offs[i] + 1, offs[i] + SEC_HDR_SIZE,
				  offs[i] + SEC_HDR_SIZE + 1, offs[i] - 1 };
		for (size_t k = 0; k < 5; k++) {
			int r = parse(&m, cuts[k], err, sizeof(err));
			if (r != -EBADMSG)
				fail_msg("cut at %zu: %d %s", cuts[k], r, err);
		}
	}
	for (size_t len = 0; len < 4096; len++)
		assert_int_equal(parse(&m, len, err, sizeof(err)), -EBADMSG);
	assert_int_equal(parse(&m, m.len - 1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "truncated"));
	vmm_vm_destroy(t.vm);
	free(m.p);
}

static void test_bitflips(void **state)
{
	struct membuf m = { 0 };
	struct tvm t;
	char err[256];
	int bad = 0;

	tvm_create(&t, NULL);
	save_mem(t.vm, &m, VMM_SAVE_PACKED);
	for (size_t pos = 0; pos < m.len; pos += 1 + pos / 256) {
		int r;

		m.p[pos] ^= (uint8_t)(1u << (pos % 8));
		r = parse(&m, m.len, err, sizeof(err));
		m.p[pos] ^= (uint8_t)(1u << (pos % 8));
		if (r == 0)
			fail_msg("flipped bit at byte %zu went unnoticed", pos);
		bad++;
	}
	assert_true(bad > 1000);
	vmm_vm_destroy(t.vm);
	free(m.p);
}

/* Recompute the header and section checksums after an edit. */
static void reseal(struct membuf *m)
{
	size_t off = SNAP_HEADER_SIZE;

	vmm__le_put32(m->p + 60, vmm__crc32c(0, m->p, 60));
	while (off + SEC_HDR_SIZE <= m->len) {
		uint64_t len = vmm__le_get64(m->p + off + 16);

		vmm__le_put32(m->p + off + 28, vmm__crc32c(0, m->p + off, 28));
		if (len > m->len - off - SEC_HDR_SIZE - SEC_FTR_SIZE)
			break;
		vmm__le_put32(m->p + off + SEC_HDR_SIZE + len,
			      vmm__crc32c(0, m->p + off + SEC_HDR_SIZE, len));
		off += SEC_HDR_SIZE + len + SEC_FTR_SIZE;
	}
}

static void test_versions_and_sizes(void **state)
{
	struct membuf m = { 0 };
	struct tvm t;
	size_t offs[64], cfg, mem;
	char err[256];
	uint8_t *orig;
	int n;

	tvm_create(&t, NULL);
	save_mem(t.vm, &m, VMM_SAVE_PACKED);
	orig = malloc(m.len);
	memcpy(orig, m.p, m.len);
	n = section_starts(&m, offs, 64);
	cfg = offs[0];
	mem = offs[1];
	(void)n;

	/* a newer format */
	vmm__le_put32(m.p + 8, SNAP_FORMAT_VERSION + 1);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "newer"));
	memcpy(m.p, orig, m.len);

	/* a newer section version */
	m.p[cfg + 4] = 9;
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -ENOTSUP);
	memcpy(m.p, orig, m.len);

	/* an unknown mandatory section type (in place of a VCPU section) */
	vmm__le_put32(m.p + offs[3], 0x77);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -ENOTSUP);
	assert_non_null(strstr(err, "mandatory"));
	/* ... optional: skipped; but then the vCPU is missing or the END
	 * count still matches, the file parses */
	m.p[offs[3] + 6] = 0;
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), 0);
	memcpy(m.p, orig, m.len);

	/* unknown memory encoding (compression of a newer libvmm) */
	vmm__le_put32(m.p + mem + SEC_HDR_SIZE, 7);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -ENOTSUP);
	memcpy(m.p, orig, m.len);

	/* the ZSTD encoding (format 2) in a format-1 file */
	assert_int_equal(vmm__le_get32(m.p + 8), 1);
	vmm__le_put32(m.p + mem + SEC_HDR_SIZE, MEM_ENC_ZSTD);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "format 1"));
	memcpy(m.p, orig, m.len);

	/* absurd: a region of 2 TiB in the config */
	vmm__le_put64(m.p + cfg + SEC_HDR_SIZE + 24 + 8, 2ull << 40);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EFBIG);
	memcpy(m.p, orig, m.len);

	/* absurd: a section length of 2^62 */
	vmm__le_put64(m.p + mem + 16, 1ull << 62);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EFBIG);
	memcpy(m.p, orig, m.len);

	/* memory beyond the file: the section claims more than is there */
	vmm__le_put64(m.p + mem + 16, vmm__le_get64(m.p + mem + 16) + 4096);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EBADMSG);
	memcpy(m.p, orig, m.len);

	/* stored page count that does not match the bitmap */
	vmm__le_put64(m.p + mem + SEC_HDR_SIZE + 32,
		      vmm__le_get64(m.p + mem + SEC_HDR_SIZE + 32) + 1);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EBADMSG);
	memcpy(m.p, orig, m.len);

	/* 1000 vCPUs */
	vmm__le_put32(m.p + cfg + SEC_HDR_SIZE, 1000);
	reseal(&m);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EFBIG);
	memcpy(m.p, orig, m.len);

	/* garbage after END */
	assert_int_equal(mem_write(&m, "x", 1), 0);
	assert_int_equal(parse(&m, m.len, err, sizeof(err)), -EBADMSG);
	vmm_vm_destroy(t.vm);
	free(orig);
	free(m.p);
}

static void test_short_writes(void **state)
{
	struct membuf full = { 0 };
	struct tvm t;

	tvm_create(&t, NULL);
	save_mem(t.vm, &full, VMM_SAVE_PACKED);
	for (size_t at = 0; at < full.len; at += 1 + at / 8) {
		struct membuf m = { .fail_at = at, .fail_err = -ENOSPC };
		struct snap_out out = { .write = mem_write, .opaque = &m };
		char err[256];

		m.cap = full.len + 4096;
		m.p = malloc(m.cap);
		assert_int_equal(vmm__snapshot_write(t.vm, &out, VMM_SAVE_PACKED),
				 -ENOSPC);
		/* what was written never parses */
		assert_int_not_equal(parse(&m, m.len, err, sizeof(err)), 0);
		free(m.p);
	}
	vmm_vm_destroy(t.vm);
	free(full.p);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_path_atomic(void **state)
{
	char dir[] = "/tmp/vmm-snapunit-XXXXXX", path[128], err[256];
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	struct rlimit old, lim;
	vmm_snapshot *s;
	struct vmm_snapshot_info info = { .struct_size = sizeof(info) };
	struct tvm t, big;
	int pfd[2];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.snap", dir);
	tvm_create(&t, NULL);
	assert_int_equal(vmm_snapshot_save(t.vm, path, NULL), 0);
	assert_int_equal(vmm_snapshot_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(vmm_snapshot_get_info(s, &info), 0);
	assert_true(info.raw_memory);
	assert_int_equal(info.ncpus, 3);
	assert_int_equal(info.devices, 5);
	vmm_snapshot_close(s);

	/* a bigger VM to the same path with the file size limited: the
	 * write fails half way (EFBIG, as a full disk fails with ENOSPC) */
	tvm_create(&big, NULL);
	assert_int_equal(vmm_mem_add_ram(big.vm, 1ull << 30, 8 << 20), 0);
	assert_int_equal(vmm_mem_fill(big.vm, 1ull << 30, 0x11, 8 << 20), 0);
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 2 << 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_true(vmm_snapshot_save(big.vm, path, &so) < 0);
	setrlimit(RLIMIT_FSIZE, &old);
	/* the old snapshot is still there, intact, and nothing else */
	assert_int_equal(count_files(dir), 1);
	assert_int_equal(vmm_snapshot_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(vmm_snapshot_get_info(s, &info), 0);
	assert_int_equal(info.regions, 2);
	vmm_snapshot_close(s);

	/* to a pipe whose reader went away: EPIPE, no crash */
	assert_int_equal(pipe(pfd), 0);
	close(pfd[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(vmm_snapshot_save_fd(t.vm, pfd[1], NULL), -EPIPE);
	close(pfd[1]);

	/* an fd of a regular file: failed saves leave it empty */
	{
		char p2[160];
		int fd;
		struct stat st;

		snprintf(p2, sizeof(p2), "%s/fd.snap", dir);
		fd = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0600);
		assert_true(fd >= 0);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		assert_true(vmm_snapshot_save_fd(big.vm, fd, &so) < 0);
		setrlimit(RLIMIT_FSIZE, &old);
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 0);
		assert_int_equal(vmm_snapshot_save_fd(big.vm, fd, &so), 0);
		close(fd);
		assert_int_equal(vmm_snapshot_open(p2, &s, err, sizeof(err)), 0);
		vmm_snapshot_close(s);
		unlink(p2);
	}
	unlink(path);
	rmdir(dir);
	vmm_vm_destroy(t.vm);
	vmm_vm_destroy(big.vm);
}

static void noop_destroy(void *priv)
{
}

static void test_unsupported_device(void **state)
{
	struct membuf m = { 0 };
	struct snap_out out = { .write = mem_write, .opaque = &m };
	struct tvm t;
	char msg[256];
	vmm_dev *d;

	tvm_create(&t, NULL);
	d = vmm__dev_new(t.vm, "passthrough@01:00.0", NULL, noop_destroy);
	assert_non_null(d);
	assert_int_equal(vmm__snapshot_write(t.vm, &out, 0), -EOPNOTSUPP);
	vmm_last_error(t.vm, msg, sizeof(msg));
	assert_non_null(strstr(msg, "passthrough@01:00.0"));
	assert_int_equal(m.len, 0); /* refused before writing anything */
	vmm_vm_destroy(t.vm);
	free(m.p);
}

static void test_device_mismatch(void **state)
{
	struct membuf m = { 0 };
	struct snap_parsed *p = calloc(1, sizeof(*p));
	struct vmm_config cfg;
	struct tvm t;
	vmm_vm *vm;
	vmm_dev *d;
	char err[256];

	tvm_create(&t, NULL);
	save_mem(t.vm, &m, 0);
	assert_int_equal(vmm__snap_parse(m.p, m.len, p, err, sizeof(err)), 0);
	vmm_config_init(&cfg);
	cfg.ncpus = 3;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	/* a UART at another port: the saved one at 0x3f8 is missing */
	{
		struct vmm_uart_config uc;
		vmm_uart_config_init(&uc);
		uc.port = 0x2f8;
		assert_int_equal(vmm_uart_attach(vm, &uc, &d), 0);
	}
	assert_int_equal(vmm__snap_load_state(vm, p, true, false, NULL, NULL),
			 -ENODEV);
	vmm_last_error(vm, err, sizeof(err));
	assert_non_null(strstr(err, "uart@pio:0x3f8"));
	vmm_vm_destroy(vm);
	vmm__snap_parsed_free(p);
	free(p);
	vmm_vm_destroy(t.vm);
	free(m.p);
}

static void test_alloc_failures(void **state)
{
	/* fail every allocation of a save in turn: an error, never a crash
	 * or a leak */
	for (long n = 0;; n++) {
		struct failalloc fa;
		struct membuf m = { 0 };
		struct snap_out out = { .write = mem_write, .opaque = &m };
		struct tvm t;
		int ret;

		failalloc_init(&fa, -1);
		tvm_create(&t, &fa.a);
		fa.fail_at = fa.count + n;
		ret = vmm__snapshot_write(t.vm, &out, 0);
		vmm_vm_destroy(t.vm);
		assert_int_equal(fa.live, 0);
		free(m.p);
		if (!fa.failed) {
			assert_int_equal(ret, 0);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
	}
}

static void test_reset_null(void **state)
{
	/* reset without dirty logging rewrites everything: memory returns to
	 * the snapshot's content */
	char dir[] = "/tmp/vmm-snapunit-XXXXXX", path[128], err[256];
	vmm_snapshot *s;
	struct tvm t;
	uint8_t a[16], b[16];
	int n;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/r.snap", dir);
	tvm_create(&t, NULL);
	assert_int_equal(vmm_mem_read(t.vm, 4096 * 3, a, sizeof(a)), 0);
	assert_int_equal(vmm_snapshot_save(t.vm, path, NULL), 0);
	assert_int_equal(vmm_snapshot_open(path, &s, err, sizeof(err)), 0);
	assert_int_equal(vmm_mem_fill(t.vm, 4096 * 3, 0xee, 4096 * 4), 0);
	n = vmm_snapshot_reset(t.vm, s);
	assert_int_equal(n, (RAM0 + RAM1) / 4096);
	assert_int_equal(vmm_mem_read(t.vm, 4096 * 3, b, sizeof(b)), 0);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(vmm_mem_read(t.vm, 4096 * 4, b, sizeof(b)), 0);
	assert_int_equal(b[0], 0); /* page 4 was zero */
	/* with dirty logging: only what was written since */
	assert_int_equal(vmm_mem_dirty_log(t.vm, true), 0);
	assert_int_equal(vmm_mem_fill(t.vm, 4096 * 7, 0xee, 4096 * 2), 0);
	n = vmm_snapshot_reset(t.vm, s);
	assert_int_equal(n, 2);
	assert_int_equal(vmm_mem_read(t.vm, 4096 * 7, b, 1), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(vmm_snapshot_reset(t.vm, s), 0);
	vmm_snapshot_close(s);
	unlink(path);
	rmdir(dir);
	vmm_vm_destroy(t.vm);
}

/*
 * The CPU model in the CONFIG section: written and read back, absent in an
 * older section (model 0), an unknown one refused; a restore takes the
 * saved model and refuses another one with a message naming both.
 */
static void test_cpu_model(void **state)
{
	struct snap_config c, back;
	struct vmm_sbuf b;
	struct vmm_config over;
	char err[256];
	vmm_vm *vm = NULL;

	memset(&c, 0, sizeof(c));
	c.ncpus = 1;
	c.backend = VMM_BACKEND_SOFT;
	c.cpu_model = VMM_CPU_BASELINE;
	vmm__sb_init(&b, NULL);
	vmm__snap_put_config(&b, &c);
	assert_int_equal(vmm__sb_error(&b), 0);
	assert_int_equal(vmm__snap_get_config(b.p, b.len, &back, err,
					      sizeof(err)), 0);
	assert_int_equal(back.cpu_model, VMM_CPU_BASELINE);
	/* an older section: no model */
	assert_int_equal(vmm__snap_get_config(b.p, b.len - 4, &back, err,
					      sizeof(err)), 0);
	assert_int_equal(back.cpu_model, 0);
	/* unknown model */
	vmm__le_put32(b.p + b.len - 4, 9);
	assert_int_equal(vmm__snap_get_config(b.p, b.len, &back, err,
					      sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "CPU model"));
	vmm__sb_free(&b);

	/* restore: the saved model, or a refusal */
	assert_int_equal(vmm__snap_create_vm(&c, NULL, &vm, err, sizeof(err)),
			 0);
	assert_int_equal(vmm__vm_config(vm)->cpu_model, VMM_CPU_BASELINE);
	vmm_vm_destroy(vm);
	vm = NULL;
	vmm_config_init(&over);
	over.backend = VMM_BACKEND_SOFT;
	over.cpu_model = VMM_CPU_MAX;
	assert_int_equal(vmm__snap_create_vm(&c, &over, &vm, err, sizeof(err)),
			 -EINVAL);
	assert_null(vm);
	assert_non_null(strstr(err, "'baseline'"));
	assert_non_null(strstr(err, "'max'"));
	/* a model the backend cannot run: -ENOTSUP */
	c.cpu_model = VMM_CPU_HOST;
	assert_int_equal(vmm__snap_create_vm(&c, NULL, &vm, err, sizeof(err)),
			 -ENOTSUP);
	assert_null(vm);
}

/* ---- memory changes during a live migration (memory listener) ---- */

struct mig_run {
	vmm_vm *vm;
	int fd;
	int ret;
	uint64_t got; /* bytes the reader saw (atomic) */
	bool done;    /* the sender returned (atomic) */
};

static void *mig_send_main(void *arg)
{
	struct mig_run *m = arg;
	struct vmm_migrate_opts o = { .struct_size = sizeof(o),
				      .timeout_ms = 300,
				      .max_bandwidth = 4u << 20 };

	m->ret = vmm_migrate_send(m->vm, m->fd, &o, NULL);
	__atomic_store_n(&m->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* A receiver that answers the HELLO with READY (a frame of the migration
 * stream: magic "LVMF", type 2, sequence 0, no payload; src/migrate) and
 * then only reads. */
static void *mig_read_main(void *arg)
{
	struct mig_run *m = arg;
	uint8_t buf[65536], h[24] = { 0 };
	bool ready = false;
	ssize_t n;

	while ((n = read(m->fd, buf, sizeof(buf))) > 0) {
		__atomic_add_fetch(&m->got, (uint64_t)n, __ATOMIC_RELAXED);
		if (ready)
			continue;
		ready = true;
		vmm__le_put32(h, 0x464d564cu);
		h[4] = 2;
		vmm__le_put32(h + 16, vmm__crc32c(0, buf, 0));
		vmm__le_put32(h + 20, vmm__crc32c(0, h, 20));
		if (write(m->fd, h, sizeof(h)) != (ssize_t)sizeof(h))
			break;
	}
	return NULL;
}

/*
 * While a live migration sends the VM, memory is neither removed (the
 * sender reads it through host pointers) nor added (it would never
 * arrive): -EBUSY with a message; afterwards both work again.
 */
static void test_migrate_memory_busy(void **state)
{
	struct mig_run snd = { 0 }, rd = { 0 };
	struct vmm_config cfg;
	pthread_t ts, tr;
	char msg[256];
	vmm_vm *vm;
	int sv[2];

	(void)state;
	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, 4u << 20), 0);
	assert_int_equal(vmm_mem_fill(vm, 0, 0x5a, 4u << 20), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 64u << 20, 1u << 20), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	snd = (struct mig_run){ .vm = vm, .fd = sv[0] };
	rd = (struct mig_run){ .fd = sv[1] };
	assert_int_equal(pthread_create(&tr, NULL, mig_read_main, &rd), 0);
	assert_int_equal(pthread_create(&ts, NULL, mig_send_main, &snd), 0);
	/* pass 0 under way (4 MiB of pages at 4 MiB/s: about a second) */
	while (__atomic_load_n(&rd.got, __ATOMIC_RELAXED) < (256u << 10) &&
	       !__atomic_load_n(&snd.done, __ATOMIC_ACQUIRE))
		usleep(1000);
	if (__atomic_load_n(&snd.done, __ATOMIC_ACQUIRE)) {
		vmm_last_error(vm, msg, sizeof(msg));
		fail_msg("the migration ended early: %d %s", snd.ret, msg);
	}
	assert_int_equal(vmm_mem_remove(vm, 64u << 20), -EBUSY);
	assert_true(vmm_mem_is_ram(vm, 64u << 20, 4096));
	assert_int_equal(vmm_mem_add_ram(vm, 128u << 20, 1u << 20), -EBUSY);
	vmm_last_error(vm, msg, sizeof(msg));
	assert_non_null(strstr(msg, "live migration"));
	assert_false(vmm_mem_is_ram(vm, 128u << 20, 4096));
	assert_true(__atomic_load_n(&rd.got, __ATOMIC_RELAXED) < (4u << 20));
	/* the migration ends (nobody acknowledges: it fails) */
	assert_int_equal(pthread_join(ts, NULL), 0);
	assert_true(snd.ret < 0);
	close(sv[0]);
	assert_int_equal(pthread_join(tr, NULL), 0);
	close(sv[1]);
	assert_int_equal(vmm_mem_add_ram(vm, 128u << 20, 1u << 20), 0);
	assert_int_equal(vmm_mem_remove(vm, 128u << 20), 0);
	assert_int_equal(vmm_mem_remove(vm, 64u << 20), 0);
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_bitflips),
		cmocka_unit_test(test_versions_and_sizes),
		cmocka_unit_test(test_short_writes),
		cmocka_unit_test(test_path_atomic),
		cmocka_unit_test(test_unsupported_device),
		cmocka_unit_test(test_device_mismatch),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_reset_null),
		cmocka_unit_test(test_cpu_model),
		cmocka_unit_test(test_migrate_memory_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
