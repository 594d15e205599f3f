/* SPDX-License-Identifier: MIT */
/*
 * test_virtio_hostile - a hostile driver against libvmm's virtio devices on
 * a null-backend VM: the test plays the guest, drives the transport
 * registers through vmm_bus_access() and writes rings with vmm_mem_write().
 * Every case must leave the VMM running, set DEVICE_NEEDS_RESET where the
 * specification says the device is broken, and log why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"
#include "dev/virtio/virtio_dev.h"
#include "vtest.h"
#include "failalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BASE 0xd0000000ull
#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define BUF 0x10000

struct ctx {
	vmm_vm *vm;
	vmm_dev *dev;
	char log[8192];
	int errors;
};

static void log_cb(void *opaque, int level, const char *msg)
{
	struct ctx *c = opaque;

	if (level == VMM_LOG_ERROR)
		c->errors++;
	vt_log_append(c->log, sizeof(c->log), msg);
}

static void w32(struct ctx *c, uint64_t off, uint32_t v)
{
	vt_w32(c->vm, BASE + off, v);
}

static uint32_t r32(struct ctx *c, uint64_t off)
{
	return vt_r32(c->vm, BASE + off);
}

static void mw(struct ctx *c, uint64_t gpa, const void *p, size_t n)
{
	vt_mw(c->vm, gpa, p, n);
}

static void put_desc(struct ctx *c, unsigned table_gpa, unsigned i,
		     uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mw(c, table_gpa + 16ull * i, d, 16);
}

static void avail(struct ctx *c, uint16_t slot, uint16_t head, uint16_t idx)
{
	mw(c, AVAIL + 4 + 2ull * slot, &head, 2);
	mw(c, AVAIL + 2, &idx, 2);
}

static uint16_t used_idx(struct ctx *c)
{
	uint16_t v;
	assert_int_equal(vmm_mem_read(c->vm, USED + 2, &v, 2), 0);
	return v;
}

static void setup_vm(struct ctx *c, const struct vmm_allocator *a)
{
	struct vmm_config cfg;

	memset(c, 0, sizeof(*c));
	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = c;
	cfg.log_level = VMM_LOG_DEBUG;
	cfg.allocator = a;
	assert_int_equal(vmm__vm_create_null(&cfg, &c->vm), 0);
	assert_int_equal(vmm_mem_add_ram(c->vm, 0, RAM), 0);
}

static void attach_rng(struct ctx *c)
{
	struct vmm_virtio_config vc;

	vmm_virtio_config_init(&vc, VMM_VIRTIO_MMIO);
	vc.mmio_base = BASE;
	vc.queue_size = 8;
	assert_int_equal(vmm_virtio_rng_attach(c->vm, &vc, &c->dev), 0);
}

/* The driver's side of initialisation, queue 0 of size @qsize. */
static void driver_init(struct ctx *c, uint32_t feat_lo, uint32_t qsize,
			bool ok)
{
	static const uint8_t zero[0x1000];

	w32(c, 0x70, 0);
	/* a (re)initialising driver starts from empty rings */
	mw(c, AVAIL, zero, sizeof(zero));
	mw(c, USED, zero, sizeof(zero));
	w32(c, 0x70, 1);
	w32(c, 0x70, 3);
	w32(c, 0x24, 0);
	w32(c, 0x20, feat_lo);
	w32(c, 0x24, 1);
	w32(c, 0x20, 1); /* VERSION_1 */
	w32(c, 0x70, 0xb);
	assert_true(r32(c, 0x70) & 8);
	w32(c, 0x30, 0);
	w32(c, 0x38, qsize);
	w32(c, 0x80, DESC);
	w32(c, 0x84, 0);
	w32(c, 0x90, AVAIL);
	w32(c, 0x94, 0);
	w32(c, 0xa0, USED);
	w32(c, 0xa4, 0);
	w32(c, 0x44, 1);
	if (ok)
		w32(c, 0x70, 0xf);
}

static void kick(struct ctx *c)
{
	w32(c, 0x50, 0);
	vmm__virtio_sync(c->dev);
}

static bool needs_reset(struct ctx *c)
{
	return r32(c, 0x70) & VIRTIO_CONFIG_S_NEEDS_RESET;
}

static void teardown(struct ctx *c)
{
	vmm_vm_destroy(c->vm);
}

/* A good request works and the counters move. */
static void test_rng_ok(void **state)
{
	struct ctx c;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 64, VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 1);
	kick(&c);
	assert_int_equal(used_idx(&c), 1);
	assert_false(needs_reset(&c));
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.bytes_in, 64);
	teardown(&c);
}

/* Run one broken chain; expect NEEDS_RESET and @msg in the log. */
static void expect_broken(struct ctx *c, const char *msg)
{
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };

	kick(c);
	if (!needs_reset(c) || !strstr(c->log, msg))
		fprintf(stderr, "log:\n%s", c->log);
	assert_true(needs_reset(c));
	assert_non_null(strstr(c->log, msg));
	assert_int_equal(vmm_virtio_get_stats(c->dev, &st), 0);
	assert_int_equal(st.queue_errors, 1);
	/* further kicks are ignored, the VM is fine */
	kick(c);
	assert_int_equal(vmm_virtio_get_stats(c->dev, &st), 0);
	assert_int_equal(st.queue_errors, 1);
	/* a reset brings the device back */
	driver_init(c, 0, 8, true);
	assert_false(needs_reset(c));
	put_desc(c, DESC, 0, BUF, 16, VRING_DESC_F_WRITE, 0);
	avail(c, 0, 0, 1);
	kick(c);
	assert_int_equal(used_idx(c), 1);
}

static void test_loop(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 8, 3, 1);
	put_desc(&c, DESC, 1, BUF, 8, 3, 0);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "loops");
	teardown(&c);
}

static void test_out_of_range(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, 0x7fff0000, 64, VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "not in guest memory");
	teardown(&c);
}

static void test_giant_length(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 0xffffffffu, VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "longer than");
	teardown(&c);
}

static void test_wrap(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, 0xffffffffffffff00ull, 0x1000,
		 VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "wraps");
	teardown(&c);
}

static void test_index_jump(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 100);
	expect_broken(&c, "jumped");
	teardown(&c);
}

static void test_head_out_of_range(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	avail(&c, 0, 9, 1);
	expect_broken(&c, "names descriptor 9");
	teardown(&c);
}

static void test_next_out_of_range(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 8, 3, 200);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "next index 200");
	teardown(&c);
}

static void test_wrong_direction(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, true);
	put_desc(&c, DESC, 0, BUF, 8, 0, 0); /* device-readable on rng */
	avail(&c, 0, 0, 1);
	expect_broken(&c, "device-readable descriptor");
	teardown(&c);
}

static void test_nested_indirect(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 1u << VIRTIO_RING_F_INDIRECT_DESC, 8, true);
	put_desc(&c, DESC, 0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	put_desc(&c, 0x4000, 0, 0x5000, 16, VRING_DESC_F_INDIRECT, 0);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "nested indirect");
	teardown(&c);
}

static void test_indirect_ok_and_unnegotiated(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 1u << VIRTIO_RING_F_INDIRECT_DESC, 8, true);
	put_desc(&c, DESC, 0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	put_desc(&c, 0x4000, 0, BUF, 16, 3, 1);
	put_desc(&c, 0x4000, 1, BUF + 16, 16, 2, 0);
	avail(&c, 0, 0, 1);
	kick(&c);
	assert_int_equal(used_idx(&c), 1);
	assert_false(needs_reset(&c));
	/* the same without the feature */
	driver_init(&c, 0, 8, true);
	avail(&c, 0, 0, 1);
	expect_broken(&c, "without VIRTIO_RING_F_INDIRECT_DESC");
	teardown(&c);
}

static void test_bad_queue_sizes(void **state)
{
	static const uint32_t sizes[] = { 6, 0, 16, 0x10000 };
	struct ctx c;

	for (unsigned i = 0; i < 4; i++) {
		setup_vm(&c, NULL);
		attach_rng(&c);
		driver_init(&c, 0, sizes[i], false);
		assert_true(needs_reset(&c));
		assert_int_equal(r32(&c, 0x44), 0); /* not enabled */
		assert_true(c.errors > 0);
		teardown(&c);
	}
}

static void test_notify_before_driver_ok(void **state)
{
	struct ctx c;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };

	setup_vm(&c, NULL);
	attach_rng(&c);
	driver_init(&c, 0, 8, false);
	put_desc(&c, DESC, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	avail(&c, 0, 0, 1);
	kick(&c);
	assert_int_equal(used_idx(&c), 0);
	assert_non_null(strstr(c.log, "before DRIVER_OK"));
	/* notify of a queue that does not exist */
	w32(&c, 0x50, 7);
	assert_non_null(strstr(c.log, "notify of queue 7"));
	/* DRIVER_OK now: the pending buffer is processed */
	w32(&c, 0x70, 0xf);
	vmm__virtio_sync(c.dev);
	assert_int_equal(used_idx(&c), 1);
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.queue_errors, 0);
	teardown(&c);
}

static void test_config_out_of_bounds(void **state)
{
	struct ctx c;
	uint64_t v8 = ~0ull;
	uint32_t v;

	setup_vm(&c, NULL);
	attach_rng(&c); /* no config space at all */
	driver_init(&c, 0, 8, true);
	v = 0x12345678;
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, BASE + 0x100, &v,
					4, true), 0);
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, BASE + 0xff8, &v8,
					8, true), 0);
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, BASE + 0xff8, &v8,
					8, false), 0);
	assert_int_equal(v8, 0);
	/* beyond the window: refused by the bus, not the device's problem */
	assert_true(vmm_bus_access(c.vm, VMM_SPACE_MMIO, BASE + 0xffe, &v, 4,
				   true) < 0);
	/* narrow access to a control register: logged, ignored */
	uint8_t b = 0xff;
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, BASE + 0x70, &b,
					1, true), 0);
	assert_non_null(strstr(c.log, "beyond 0 bytes"));
	assert_non_null(strstr(c.log, "1-byte write"));
	assert_false(needs_reset(&c));
	assert_int_equal(r32(&c, 0x70), 0xf);
	teardown(&c);
}

static void test_features(void **state)
{
	struct ctx c;

	setup_vm(&c, NULL);
	attach_rng(&c);
	w32(&c, 0x70, 3);
	/* a feature the device did not offer */
	w32(&c, 0x24, 0);
	w32(&c, 0x20, 1u << 3);
	w32(&c, 0x24, 1);
	w32(&c, 0x20, 1);
	w32(&c, 0x70, 0xb);
	assert_false(r32(&c, 0x70) & 8);
	/* legacy: no VERSION_1 */
	w32(&c, 0x70, 0);
	w32(&c, 0x70, 3);
	w32(&c, 0x70, 0xb);
	assert_false(r32(&c, 0x70) & 8);
	/* DRIVER_OK without FEATURES_OK */
	w32(&c, 0x70, 0x7);
	assert_false(r32(&c, 0x70) & 4);
	assert_non_null(strstr(c.log, "legacy driver"));
	teardown(&c);
}

/* blk: read-only writes and host I/O errors are IOERR and counted. */
static void blk_request(struct ctx *c, uint32_t type, uint64_t sector,
			uint32_t len, uint16_t idx)
{
	uint8_t hdr[16] = { 0 };

	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	mw(c, BUF, hdr, 16);
	put_desc(c, DESC, 0, BUF, 16, 1, 1);
	put_desc(c, DESC, 1, BUF + 0x1000, len, 1 | (type ? 0 : 2), 2);
	put_desc(c, DESC, 2, BUF + 0x100, 1, 2, 0);
	avail(c, (uint16_t)(idx - 1), 0, idx);
	kick(c);
	/* vmm__virtio_sync() is a barrier: the request is complete now */
	assert_int_equal(used_idx(c), idx);
}

static uint8_t blk_status(struct ctx *c)
{
	uint8_t s;
	assert_int_equal(vmm_mem_read(c->vm, BUF + 0x100, &s, 1), 0);
	return s;
}

static void test_blk_errors(void **state)
{
	struct ctx c;
	struct vmm_virtio_blk_config bc;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	char path[] = "/tmp/libvmm-hostile-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	/* read-only device */
	setup_vm(&c, NULL);
	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = BASE;
	bc.virtio.queue_size = 8;
	bc.path = path;
	bc.readonly = true;
	assert_int_equal(vmm_virtio_blk_attach(c.vm, &bc, &c.dev), 0);
	driver_init(&c, 0, 8, true);
	blk_request(&c, 0, 0, 512, 1);
	assert_int_equal(blk_status(&c), 0);
	blk_request(&c, 1, 0, 512, 2);
	assert_int_equal(blk_status(&c), 1);
	blk_request(&c, 0, 2047, 1024, 3); /* past the end */
	assert_int_equal(blk_status(&c), 1);
	blk_request(&c, 0, ~0ull / 2, 512, 4); /* sector overflow */
	assert_int_equal(blk_status(&c), 1);
	blk_request(&c, 77, 0, 512, 5); /* unknown type */
	assert_int_equal(blk_status(&c), 2);
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.io_errors, 3);
	assert_int_equal(st.queue_errors, 0);
	teardown(&c);

	/* host I/O errors: a write-only fd cannot be read */
	setup_vm(&c, NULL);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	bc.path = NULL;
	bc.fd = fd;
	bc.readonly = false;
	assert_int_equal(vmm_virtio_blk_attach(c.vm, &bc, &c.dev), 0);
	close(fd);
	driver_init(&c, 0, 8, true);
	blk_request(&c, 0, 0, 512, 1);
	assert_int_equal(blk_status(&c), 1);
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.io_errors, 1);
	assert_non_null(strstr(c.log, "read of 512 bytes"));
	teardown(&c);
	unlink(path);
}

/* PCI: BAR placement through config space, notify, bad accesses. */
static void pcicfg_w(struct ctx *c, unsigned slot, unsigned reg, uint32_t v)
{
	uint32_t a = 0x80000000u | (slot << 11) | reg;
	assert_int_equal(vmm_bus_access(c->vm, VMM_SPACE_PIO, 0xcf8, &a, 4, true), 0);
	assert_int_equal(vmm_bus_access(c->vm, VMM_SPACE_PIO, 0xcfc, &v, 4, true), 0);
}

static uint32_t pcicfg_r(struct ctx *c, unsigned slot, unsigned reg)
{
	uint32_t a = 0x80000000u | (slot << 11) | reg, v;
	assert_int_equal(vmm_bus_access(c->vm, VMM_SPACE_PIO, 0xcf8, &a, 4, true), 0);
	assert_int_equal(vmm_bus_access(c->vm, VMM_SPACE_PIO, 0xcfc, &v, 4, false), 0);
	return v;
}

static void test_pci_bar(void **state)
{
	struct ctx c;
	struct vmm_virtio_config vc;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	struct vmm_bus_stats bs = { .struct_size = sizeof(bs) };
	vmm_dev *host;
	uint64_t bar = 0xe0000000ull;
	uint8_t s;

	setup_vm(&c, NULL);
	assert_int_equal(vmm_pci_host_attach(c.vm, &host), 0);
	vmm_virtio_config_init(&vc, VMM_VIRTIO_PCI);
	vc.pci_host = host;
	vc.pci_slot = 3;
	assert_int_equal(vmm_virtio_rng_attach(c.vm, &vc, &c.dev), 0);
	assert_int_equal(pcicfg_r(&c, 3, 0), 0x10441af4);
	/* BAR sizing */
	pcicfg_w(&c, 3, 0x10, 0xffffffff);
	assert_int_equal(pcicfg_r(&c, 3, 0x10), 0xffff8004);
	pcicfg_w(&c, 3, 0x10, (uint32_t)bar);
	pcicfg_w(&c, 3, 0x14, 0);
	assert_int_not_equal(vmm_bus_get_stats(c.vm, VMM_SPACE_MMIO, bar, &bs, NULL, 0), 0);
	pcicfg_w(&c, 3, 0x04, 6); /* memory on */
	assert_int_equal(vmm_bus_get_stats(c.vm, VMM_SPACE_MMIO, bar, &bs, NULL, 0), 0);
	/* a BAR on top of RAM is not decoded */
	pcicfg_w(&c, 3, 0x10, 0x10000);
	assert_int_not_equal(vmm_bus_get_stats(c.vm, VMM_SPACE_MMIO, 0x10000, &bs, NULL, 0), 0);
	pcicfg_w(&c, 3, 0x10, (uint32_t)bar);
	/* status through common config */
	s = 0xff;
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, bar + 0x14, &s, 1,
					false), 0);
	assert_int_equal(s, 0);
	/* device config beyond its size, ISR write, junk in notify area */
	uint32_t v = 1;
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, bar + 0x2ffc, &v, 4, true), 0);
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, bar + 0x1000, &v, 4, true), 0);
	assert_int_equal(vmm_bus_access(c.vm, VMM_SPACE_MMIO, bar + 0x3ffc, &v, 4, true), 0);
	vmm__virtio_sync(c.dev);
	assert_non_null(strstr(c.log, "notify of queue"));
	assert_int_equal(vmm_virtio_get_stats(c.dev, &st), 0);
	assert_int_equal(st.queue_errors, 0);
	assert_int_equal(st.mmio_base, bar);
	/* detach removes the BAR */
	assert_int_equal(vmm_dev_detach(c.dev), 0);
	assert_int_not_equal(vmm_bus_get_stats(c.vm, VMM_SPACE_MMIO, bar, &bs, NULL, 0), 0);
	teardown(&c);
}

/* Every allocation of an attach may fail: clean error, no leak. */
static void test_failalloc(void **state)
{
	for (int kind = 0; kind < 2; kind++) {
		for (long n = 0;; n++) {
			struct failalloc fa;
			struct ctx c;
			struct vmm_virtio_config vc;
			int ret;

			failalloc_init(&fa, -1);
			setup_vm(&c, &fa.a);
			fa.fail_at = fa.count + n;
			vmm_virtio_config_init(&vc, VMM_VIRTIO_MMIO);
			vc.mmio_base = BASE;
			if (kind == 0) {
				ret = vmm_virtio_rng_attach(c.vm, &vc, &c.dev);
			} else {
				struct vmm_virtio_console_config cc;
				vmm_virtio_console_config_init(&cc, VMM_VIRTIO_MMIO);
				cc.virtio = vc;
				cc.in_fd = 0;
				cc.out_fd = 1;
				ret = vmm_virtio_console_attach(c.vm, &cc, &c.dev);
			}
			bool failed = fa.failed;
			if (failed)
				assert_true(ret < 0);
			else
				assert_int_equal(ret, 0);
			teardown(&c);
			assert_int_equal(fa.live, 0);
			if (!failed)
				break;
			assert_true(n < 100);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_ok),
		cmocka_unit_test(test_loop),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_giant_length),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_index_jump),
		cmocka_unit_test(test_head_out_of_range),
		cmocka_unit_test(test_next_out_of_range),
		cmocka_unit_test(test_wrong_direction),
		cmocka_unit_test(test_nested_indirect),
		cmocka_unit_test(test_indirect_ok_and_unnegotiated),
		cmocka_unit_test(test_bad_queue_sizes),
		cmocka_unit_test(test_notify_before_driver_ok),
		cmocka_unit_test(test_config_out_of_bounds),
		cmocka_unit_test(test_features),
		cmocka_unit_test(test_blk_errors),
		cmocka_unit_test(test_pci_bar),
		cmocka_unit_test(test_failalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
