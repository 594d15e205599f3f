/* SPDX-License-Identifier: MIT */
/*
 * The growable-struct rule (src/core/abi.c, docs/api.md), for the helper
 * and for every public struct that carries a struct_size: 0 = the 0.1
 * size; a smaller (older) struct is accepted and the fields it lacks keep
 * their defaults; a larger (newer) one is accepted only with an all-zero
 * unknown tail, else -EINVAL.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#define TAIL 24

/* a caller's struct from a "newer libvmm": ours plus TAIL unknown bytes */
#define NEWER(type)                                                            \
	union {                                                                \
		type s;                                                        \
		unsigned char raw[sizeof(type) + TAIL];                        \
	}

static const char *last_err(vmm_vm *vm)
{
	static char buf[256];

	vmm_last_error(vm, buf, sizeof(buf));
	return buf;
}

static vmm_vm *soft_vm(void)
{
	struct vmm_config c;
	vmm_vm *vm = NULL;

	vmm_config_init(&c);
	c.backend = VMM_BACKEND_SOFT;
	c.ram_size = 1 << 20;
	assert_int_equal(vmm_vm_create(&c, &vm), 0);
	return vm;
}

struct small {
	uint32_t struct_size;
	uint32_t a;
	uint64_t b;
};

static void test_helper(void **st)
{
	struct small def = { 0, 7, 9 }, d;
	NEWER(struct small) big;
	struct small out;

	/* 0 = the 0.1 size: everything copied */
	struct small in = { 0, 1, 2 };
	d = def;
	assert_int_equal(VMM__STRUCT_IN(&d, &in), 0);
	assert_int_equal(d.struct_size, sizeof(d));
	assert_int_equal(d.a, 1);
	assert_int_equal(d.b, 2);
	/* older: only a; b keeps its default */
	in.struct_size = offsetof(struct small, b);
	d = def;
	assert_int_equal(VMM__STRUCT_IN(&d, &in), 0);
	assert_int_equal(d.a, 1);
	assert_int_equal(d.b, 9);
	/* smaller than the size field itself */
	in.struct_size = 3;
	assert_int_equal(VMM__STRUCT_IN(&d, &in), -EINVAL);
	/* newer, zero tail: fine; non-zero tail: refused, dst untouched */
	memset(&big, 0, sizeof(big));
	big.s.struct_size = sizeof(big);
	big.s.a = 5;
	d = def;
	assert_int_equal(VMM__STRUCT_IN(&d, &big), 0);
	assert_int_equal(d.a, 5);
	assert_int_equal(d.struct_size, sizeof(d));
	big.raw[sizeof(struct small) + TAIL - 1] = 1;
	d = def;
	assert_int_equal(VMM__STRUCT_IN(&d, &big), -EINVAL);
	assert_int_equal(d.a, 7);
	/* absurd sizes */
	in.struct_size = 1u << 20;
	assert_int_equal(VMM__STRUCT_IN(&d, &in), -EINVAL);

	/* out: an older caller gets only its prefix and the size written */
	struct small lib = { 0, 11, 12 };
	memset(&out, 0xee, sizeof(out));
	out.struct_size = offsetof(struct small, b);
	assert_int_equal(vmm__struct_out(&out, &lib, sizeof(lib), sizeof(lib)), 0);
	assert_int_equal(out.struct_size, offsetof(struct small, b));
	assert_int_equal(out.a, 11);
	assert_int_equal(out.b, 0xeeeeeeeeeeeeeeeeull); /* not written */
	/* a newer caller: ours, then zeros */
	memset(&big, 0xee, sizeof(big));
	big.s.struct_size = sizeof(big);
	assert_int_equal(vmm__struct_out(&big, &lib, sizeof(lib), sizeof(lib)), 0);
	assert_int_equal(big.s.struct_size, sizeof(lib));
	assert_int_equal(big.s.b, 12);
	for (size_t i = sizeof(lib); i < sizeof(big); i++)
		assert_int_equal(big.raw[i], 0);
	(void)st;
}

static void test_vmm_config(void **st)
{
	NEWER(struct vmm_config) c;
	vmm_vm *vm = NULL;

	memset(&c, 0, sizeof(c));
	vmm_config_init(&c.s);
	c.s.backend = VMM_BACKEND_SOFT;
	c.s.ram_size = 1 << 20;
	c.s.struct_size = sizeof(c);
	assert_int_equal(vmm_vm_create(&c.s, &vm), 0);
	vmm_vm_destroy(vm);
	vm = NULL;
	c.raw[sizeof(c.s) + 3] = 0x40;
	assert_int_equal(vmm_vm_create(&c.s, &vm), -EINVAL);
	assert_null(vm);
	/* older: a struct that ends before ram_size; the garbage there
	 * (not page-aligned, would be -EINVAL) is not read */
	memset(&c, 0, sizeof(c));
	vmm_config_init(&c.s);
	c.s.backend = VMM_BACKEND_SOFT;
	c.s.ram_size = 12345;
	c.s.struct_size = offsetof(struct vmm_config, ram_size);
	assert_int_equal(vmm_vm_create(&c.s, &vm), 0);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_gdb_config(void **st)
{
	NEWER(struct vmm_gdb_config) c;
	vmm_vm *vm;
	vmm_gdb *g = NULL;

	if (!VMM_HAVE_GDB) { /* -Dgdb=disabled: the call is -ENOTSUP */
		vm = soft_vm();
		assert_int_equal(vmm_gdb_create(vm, NULL, &g), -ENOTSUP);
		assert_null(g);
		vmm_vm_destroy(vm);
		skip();
	}
	vm = soft_vm();

	memset(&c, 0, sizeof(c));
	c.s.struct_size = sizeof(c);
	assert_int_equal(vmm_gdb_create(vm, &c.s, &g), 0);
	vmm_gdb_destroy(g);
	g = NULL;
	c.raw[sizeof(c.s)] = 1;
	assert_int_equal(vmm_gdb_create(vm, &c.s, &g), -EINVAL);
	assert_null(g);
	/* older: only struct_size and max_packet */
	memset(&c, 0, sizeof(c));
	c.s.struct_size = offsetof(struct vmm_gdb_config, exit_cb);
	c.s.exit_cb = (vmm_exit_cb)1; /* garbage beyond the old size */
	assert_int_equal(vmm_gdb_create(vm, &c.s, &g), 0);
	vmm_gdb_destroy(g);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_hc_config(void **st)
{
	NEWER(struct vmm_hc_config) c;
	vmm_vm *vm = soft_vm();
	vmm_hc *hc = NULL;

	memset(&c, 0, sizeof(c));
	vmm_hc_config_init(&c.s);
	c.s.struct_size = sizeof(c);
	c.raw[sizeof(c.s) + TAIL - 1] = 2;
	assert_int_equal(vmm_hc_attach(vm, &c.s, &hc), -EINVAL);
	assert_null(hc);
	assert_non_null(strstr(last_err(vm), "vmm_hc_config"));
	c.raw[sizeof(c.s) + TAIL - 1] = 0;
	assert_int_equal(vmm_hc_attach(vm, &c.s, &hc), 0);
	assert_int_equal(vmm_hc_detach(hc), 0);
	/* older: max_batch missing -> the default (a bad value there is
	 * not read) */
	hc = NULL;
	memset(&c, 0, sizeof(c));
	c.s.struct_size = offsetof(struct vmm_hc_config, max_batch);
	c.s.max_batch = 0xffffffffu;
	assert_int_equal(vmm_hc_attach(vm, &c.s, &hc), 0);
	assert_int_equal(vmm_hc_detach(hc), 0);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_save_opts(void **st)
{
	NEWER(struct vmm_save_opts) o;
	vmm_vm *vm = soft_vm();
	int p[2];

	assert_int_equal(pipe(p), 0);
	memset(&o, 0, sizeof(o));
	o.s.struct_size = sizeof(o);
	o.raw[sizeof(o.s) + 1] = 1;
	assert_int_equal(vmm_snapshot_save_fd(vm, p[1], &o.s), -EINVAL);
	assert_int_equal(vmm_snapshot_save(vm, "/nonexistent/x", &o.s), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_save_opts"));
	/* older than the flags field: flags (an unknown bit) not read */
	o.raw[sizeof(o.s) + 1] = 0;
	o.s.struct_size = offsetof(struct vmm_save_opts, flags);
	o.s.flags = 0x80000000u;
	int fd = open("/dev/null", O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(vmm_snapshot_save_fd(vm, fd, &o.s), 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_restore_and_migrate_opts(void **st)
{
	NEWER(struct vmm_restore_opts) r;
	NEWER(struct vmm_migrate_opts) m;
	vmm_vm *vm = soft_vm(), *out = NULL;
	vmm_vcpu *vcpu;
	int p[2];

	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);

	assert_int_equal(pipe(p), 0);
	memset(&r, 0, sizeof(r));
	memset(&m, 0, sizeof(m));
	r.s.struct_size = sizeof(r);
	m.s.struct_size = sizeof(m);
	r.raw[sizeof(r.s)] = 9;
	/* refused before a byte is read from the stream */
	assert_int_equal(vmm_migrate_receive(p[0], NULL, &r.s, &m.s, &out, NULL),
			 -EINVAL);
	r.raw[sizeof(r.s)] = 0;
	m.raw[sizeof(m.s) + 7] = 9;
	assert_int_equal(vmm_migrate_receive(p[0], NULL, &r.s, &m.s, &out, NULL),
			 -EINVAL);
	assert_int_equal(vmm_migrate_send(vm, p[1], &m.s, NULL), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_migrate_opts"));
	assert_null(out);

	/* a snapshot, restored with a newer restore_opts */
	char path[] = "/tmp/test_growable.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(vmm_snapshot_save_fd(vm, fd, NULL), 0);
	vmm_snapshot *snap = NULL;
	char err[128];
	assert_int_equal(vmm_snapshot_open(path, &snap, err, sizeof(err)), 0);
	r.raw[sizeof(r.s) + 2] = 1;
	assert_int_equal(vmm_snapshot_restore_snap(snap, NULL, &r.s, &out), -EINVAL);
	assert_null(out);
	r.raw[sizeof(r.s) + 2] = 0;
	assert_int_equal(vmm_snapshot_restore_snap(snap, NULL, &r.s, &out), 0);
	vmm_vm_destroy(out);
	vmm_snapshot_close(snap);
	unlink(path);
	close(fd);
	close(p[0]);
	close(p[1]);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_vcpu_stats(void **st)
{
	NEWER(struct vmm_vcpu_stats) s;
	vmm_vm *vm = soft_vm();
	vmm_vcpu *vcpu;

	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	memset(&s, 0xee, sizeof(s));
	s.s.struct_size = sizeof(s);
	assert_int_equal(vmm_vcpu_get_stats(vcpu, &s.s), 0);
	assert_int_equal(s.s.struct_size, sizeof(s.s));
	for (size_t i = sizeof(s.s); i < sizeof(s); i++)
		assert_int_equal(s.raw[i], 0);
	vmm_vm_destroy(vm);
	(void)st;
}

/* struct vmm_cpu_xstate, in (set) and out (get) */
static void test_cpu_xstate(void **st)
{
	NEWER(struct vmm_cpu_xstate) x;
	struct vmm_config c;
	vmm_vm *vm = NULL;
	vmm_vcpu *vcpu;

	vmm_config_init(&c);
	c.backend = VMM_BACKEND_SOFT;
	c.cpu_model = VMM_CPU_MAX; /* has PKU */
	c.ram_size = 1 << 20;
	assert_int_equal(vmm_vm_create(&c, &vm), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	/* newer, zero tail: accepted; get zeroes the tail */
	memset(&x, 0, sizeof(x));
	x.s.struct_size = sizeof(x);
	x.s.valid = VMM_XSTATE_PKRU;
	x.s.pkru = 0x0c;
	assert_int_equal(vmm_vcpu_set_xstate(vcpu, &x.s), 0);
	memset(&x, 0xee, sizeof(x));
	x.s.struct_size = sizeof(x);
	assert_int_equal(vmm_vcpu_get_xstate(vcpu, &x.s), 0);
	assert_int_equal(x.s.struct_size, sizeof(x.s));
	assert_int_equal(x.s.pkru, 0x0c);
	for (size_t i = sizeof(x.s); i < sizeof(x); i++)
		assert_int_equal(x.raw[i], 0);
	/* newer, non-zero tail: refused */
	memset(&x, 0, sizeof(x));
	x.s.struct_size = sizeof(x);
	x.raw[sizeof(x.s) + 3] = 1;
	assert_int_equal(vmm_vcpu_set_xstate(vcpu, &x.s), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_cpu_xstate"));
	/* older (up to @valid): PKRU keeps its default, 0 */
	memset(&x, 0, sizeof(x));
	x.s.struct_size = offsetof(struct vmm_cpu_xstate, pkru);
	x.s.valid = VMM_XSTATE_PKRU;
	x.s.pkru = 0x30; /* beyond the older struct: not read */
	assert_int_equal(vmm_vcpu_set_xstate(vcpu, &x.s), 0);
	memset(&x, 0, sizeof(x));
	x.s.struct_size = sizeof(x.s);
	assert_int_equal(vmm_vcpu_get_xstate(vcpu, &x.s), 0);
	assert_int_equal(x.s.pkru, 0);
	/* older (up to @pkru, before PKS): PKRS keeps its default, 0 */
	memset(&x, 0, sizeof(x));
	x.s.struct_size = offsetof(struct vmm_cpu_xstate, pkrs);
	x.s.valid = VMM_XSTATE_PKRS;
	x.s.pkrs = 0x30; /* beyond the older struct: not read */
	assert_int_equal(vmm_vcpu_set_xstate(vcpu, &x.s), 0);
	memset(&x, 0, sizeof(x));
	x.s.struct_size = sizeof(x.s);
	assert_int_equal(vmm_vcpu_get_xstate(vcpu, &x.s), 0);
	assert_true(x.s.valid & VMM_XSTATE_PKRS); /* "max" has PKS */
	assert_int_equal(x.s.pkrs, 0);
	vmm_vm_destroy(vm);
	(void)st;
}

/* a 64 KiB scratch file, open read-write */
static int scratch_fd(void)
{
	char path[] = "/tmp/test_growable_img.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 65536), 0);
	return fd;
}

/*
 * A caller-filled struct newer than ours: -EINVAL naming the struct with
 * a non-zero unknown byte, accepted with the tail zero.  @attach returns
 * the entry point's result and destroys what it made.
 */
#define CHECK_NEWER(vm, c, name, attach)                                       \
	do {                                                                   \
		(c).s.struct_size = sizeof(c);                                 \
		(c).raw[sizeof((c).s) + TAIL - 1] = 1;                         \
		assert_int_equal((attach), -EINVAL);                           \
		assert_non_null(strstr(last_err(vm), name));                   \
		(c).raw[sizeof((c).s) + TAIL - 1] = 0;                         \
		assert_int_equal((attach), 0);                                 \
	} while (0)

static int uart_try(vmm_vm *vm, const struct vmm_uart_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_uart_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static void test_uart_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_uart_config) c;
	vmm_vm *vm = soft_vm();

	memset(&c, 0, sizeof(c));
	vmm_uart_config_init(&c.s);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	CHECK_NEWER(vm, c, "vmm_uart_config", uart_try(vm, &c.s));
	/* older, ending before @irq: a bad irq there is not read */
	memset(&c, 0, sizeof(c));
	vmm_uart_config_init(&c.s);
	c.s.struct_size = offsetof(struct vmm_uart_config, irq);
	c.s.irq = 999;
	assert_int_equal(uart_try(vm, &c.s), 0);
	c.s.struct_size = sizeof(c.s);
	assert_int_equal(uart_try(vm, &c.s), -EINVAL);
	/* 0 = the 0.2 size: a zeroed struct with fds set works as before */
	memset(&c, 0, sizeof(c));
	c.s.out_fd = -1;
	c.s.in_fd = -1;
	assert_int_equal(uart_try(vm, &c.s), 0);
	vmm_vm_destroy(vm);
	(void)st;
}

static int trapblk_try(vmm_vm *vm, const struct vmm_trapblk_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_trapblk_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static void test_trapblk_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_trapblk_config) c;
	vmm_vm *vm = soft_vm();
	int fd = scratch_fd();

	memset(&c, 0, sizeof(c));
	vmm_trapblk_config_init(&c.s);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.fd = fd;
	CHECK_NEWER(vm, c, "vmm_trapblk_config", trapblk_try(vm, &c.s));
	/* older, ending before @readonly; 0 = the 0.2 size */
	c.s.struct_size = offsetof(struct vmm_trapblk_config, readonly);
	assert_int_equal(trapblk_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_equal(trapblk_try(vm, &c.s), 0);
	/* older, ending before @fd: fd -1 and no path */
	c.s.struct_size = offsetof(struct vmm_trapblk_config, fd);
	assert_int_equal(trapblk_try(vm, &c.s), -EINVAL);
	close(fd);
	vmm_vm_destroy(vm);
	(void)st;
}

static int block_try(vmm_vm *vm, const struct vmm_block_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_block_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static void test_block_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_block_config) c;
	vmm_vm *vm = soft_vm();
	int fd = scratch_fd();

	memset(&c, 0, sizeof(c));
	vmm_block_config_init(&c.s);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.fd = fd;
	CHECK_NEWER(vm, c, "vmm_block_config", block_try(vm, &c.s));
	/* older, ending before @space: a misaligned port there is not read */
	c.s.base = 3;
	c.s.struct_size = offsetof(struct vmm_block_config, space);
	assert_int_equal(block_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_equal(block_try(vm, &c.s), -EINVAL);
	close(fd);
	vmm_vm_destroy(vm);
	(void)st;
}

static int pt_try(vmm_vm *vm, const struct vmm_passthrough_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_passthrough_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static void test_passthrough_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_passthrough_config) c;
	vmm_vm *vm = soft_vm();
	int fd = scratch_fd();

	memset(&c, 0, sizeof(c));
	vmm_passthrough_config_init(&c.s);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.fd = fd;
	c.s.size = 4096;
	c.s.gpa = 0x200000;
	CHECK_NEWER(vm, c, "vmm_passthrough_config", pt_try(vm, &c.s));
	/* older, ending before @flags: an unknown flag there is not read */
	c.s.flags = 0x80000000u;
	c.s.struct_size = offsetof(struct vmm_passthrough_config, flags);
	assert_int_equal(pt_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_equal(pt_try(vm, &c.s), -EINVAL);
	close(fd);
	vmm_vm_destroy(vm);
	(void)st;
}

/* no host bridge: a struct that was read fails on that, after the check */
static void test_vfio_pci_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_vfio_pci_config) c;
	vmm_vm *vm = soft_vm();
	vmm_dev *d = NULL;

	memset(&c, 0, sizeof(c));
	vmm_vfio_pci_config_init(&c.s);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.bdf = "0000:01:00.0";
	c.s.struct_size = sizeof(c);
	c.raw[sizeof(c.s) + TAIL - 1] = 1;
	assert_int_equal(vmm_vfio_pci_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_vfio_pci_config"));
	c.raw[sizeof(c.s) + TAIL - 1] = 0;
	assert_int_equal(vmm_vfio_pci_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no PCI host bridge"));
	/* older, ending before @pci_host: the bogus host there is not read */
	c.s.pci_host = (vmm_dev *)&c;
	c.s.struct_size = offsetof(struct vmm_vfio_pci_config, pci_host);
	assert_int_equal(vmm_vfio_pci_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no PCI host bridge"));
	/* 0 = the 0.2 size: @bdf read */
	c.s.bdf = "nonsense";
	c.s.pci_host = NULL;
	c.s.struct_size = 0;
	assert_int_equal(vmm_vfio_pci_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "bad PCI address"));
	assert_null(d);
	vmm_vm_destroy(vm);
	(void)st;
}

#define VIRTIO_BASE 0xd0000000ull

static int rng_try(vmm_vm *vm, const struct vmm_virtio_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_virtio_rng_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static int console_try(vmm_vm *vm, const struct vmm_virtio_console_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_virtio_console_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static int vblk_try(vmm_vm *vm, const struct vmm_virtio_blk_config *c)
{
	vmm_dev *d = NULL;
	int ret = vmm_virtio_blk_attach(vm, c, &d);

	if (!ret)
		vmm_dev_detach(d);
	return ret;
}

static void test_virtio_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_virtio_config) c;
	vmm_vm *vm = soft_vm();

	memset(&c, 0, sizeof(c));
	vmm_virtio_config_init(&c.s, VMM_VIRTIO_MMIO);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.mmio_base = VIRTIO_BASE;
	CHECK_NEWER(vm, c, "vmm_virtio_config", rng_try(vm, &c.s));
	/* older, ending before @queue_size: a bad size there is not read */
	c.s.queue_size = 3;
	c.s.struct_size = offsetof(struct vmm_virtio_config, queue_size);
	assert_int_equal(rng_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_not_equal(rng_try(vm, &c.s), 0);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_virtio_console_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_virtio_console_config) c;
	vmm_vm *vm = soft_vm();

	memset(&c, 0, sizeof(c));
	vmm_virtio_console_config_init(&c.s, VMM_VIRTIO_MMIO);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.virtio.mmio_base = VIRTIO_BASE;
	/* the embedded struct's size is not read */
	c.s.virtio.struct_size = 0x7fffffffu;
	CHECK_NEWER(vm, c, "vmm_virtio_console_config", console_try(vm, &c.s));
	/* older, ending before @out_fd: a closed fd there is not read */
	c.s.out_fd = 9999;
	c.s.struct_size = offsetof(struct vmm_virtio_console_config, out_fd);
	assert_int_equal(console_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_not_equal(console_try(vm, &c.s), 0);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_virtio_blk_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_virtio_blk_config) c;
	vmm_vm *vm = soft_vm();
	int fd = scratch_fd();

	memset(&c, 0, sizeof(c));
	vmm_virtio_blk_config_init(&c.s, VMM_VIRTIO_MMIO);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.virtio.mmio_base = VIRTIO_BASE;
	c.s.fd = fd;
	CHECK_NEWER(vm, c, "vmm_virtio_blk_config", vblk_try(vm, &c.s));
	/* older, ending before @num_queues: too many queues not read */
	c.s.num_queues = 1000;
	c.s.struct_size = offsetof(struct vmm_virtio_blk_config, num_queues);
	assert_int_equal(vblk_try(vm, &c.s), 0);
	c.s.struct_size = 0;
	assert_int_equal(vblk_try(vm, &c.s), -EINVAL);
	close(fd);
	vmm_vm_destroy(vm);
	(void)st;
}

/* no tap in a unit test: "no tap" proves the struct was accepted */
static void test_virtio_net_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_virtio_net_config) c;
	vmm_vm *vm = soft_vm();
	vmm_dev *d = NULL;

	memset(&c, 0, sizeof(c));
	vmm_virtio_net_config_init(&c.s, VMM_VIRTIO_MMIO);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	c.s.struct_size = sizeof(c);
	c.raw[sizeof(c.s) + TAIL - 1] = 1;
	assert_int_equal(vmm_virtio_net_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_virtio_net_config"));
	c.raw[sizeof(c.s) + TAIL - 1] = 0;
	assert_int_equal(vmm_virtio_net_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no tap"));
	/* older, ending before @tap_fd: the fd there is not read */
	c.s.tap_fd = 0;
	c.s.struct_size = offsetof(struct vmm_virtio_net_config, tap_fd);
	assert_int_equal(vmm_virtio_net_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no tap"));
	assert_null(d);
	vmm_vm_destroy(vm);
	(void)st;
}

/* soft VM RAM is not shareable: the front-end stops after the checks */
static void test_vhost_user_config(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_vhost_user_config) c;
	vmm_vm *vm = soft_vm();
	vmm_dev *d = NULL;

	memset(&c, 0, sizeof(c));
	c.s.struct_size = sizeof(c);
	c.s.device = VMM_VHOST_USER_RNG;
	c.raw[sizeof(c.s) + TAIL - 1] = 1;
	assert_int_equal(vmm_vhost_user_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_vhost_user_config"));
	c.raw[sizeof(c.s) + TAIL - 1] = 0;
	assert_int_equal(vmm_vhost_user_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no socket path"));
	/* older, ending before @socket_path: the path there is not read */
	c.s.socket_path = "/nonexistent/sock";
	c.s.struct_size = offsetof(struct vmm_vhost_user_config, socket_path);
	assert_int_equal(vmm_vhost_user_attach(vm, &c.s, &d), -EINVAL);
	assert_non_null(strstr(last_err(vm), "no socket path"));
	/* 0 = the 0.2 size: the path is read (and fails further on) */
	c.s.struct_size = 0;
	assert_int_not_equal(vmm_vhost_user_attach(vm, &c.s, &d), 0);
	assert_null(strstr(last_err(vm), "no socket path"));
	assert_null(d);
	vmm_vm_destroy(vm);
	(void)st;
}

static void log_keep(void *opaque, int level, const char *msg)
{
	snprintf(opaque, 256, "%s", msg);
	(void)level;
}

static void test_vhost_user_server_config(void **st)
{
	NEWER(struct vmm_vhost_user_server_config) c;
	char dir[] = "/tmp/test_growable_vu.XXXXXX", sock[64], msg[256] = "";
	vmm_vhost_user_server *srv = NULL;

	memset(&c, 0, sizeof(c));
	vmm_vhost_user_server_config_init(&c.s, VMM_VHOST_USER_RNG);
	assert_int_equal(c.s.struct_size, sizeof(c.s));
	if (!VMM_HAVE_VU_SERVER) { /* -Dvhost_user_server=disabled */
		assert_int_equal(vmm_vhost_user_server_create(&c.s, &srv),
				 -ENOTSUP);
		(void)st;
		return;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s", dir);
	c.s.socket_path = sock;
	c.s.log = log_keep;
	c.s.log_opaque = msg;
	c.s.struct_size = sizeof(c);
	c.raw[sizeof(c.s) + TAIL - 1] = 1;
	assert_int_equal(vmm_vhost_user_server_create(&c.s, &srv), -EINVAL);
	assert_non_null(strstr(msg, "vmm_vhost_user_server_config"));
	assert_null(srv);
	c.raw[sizeof(c.s) + TAIL - 1] = 0;
	assert_int_equal(vmm_vhost_user_server_create(&c.s, &srv), 0);
	vmm_vhost_user_server_destroy(srv);
	srv = NULL;
	unlink(sock);
	/* older, ending before @max_sessions: the bogus log is not read */
	c.s.log = (vmm_log_fn)(uintptr_t)1;
	c.s.struct_size = offsetof(struct vmm_vhost_user_server_config,
				   max_sessions);
	assert_int_equal(vmm_vhost_user_server_create(&c.s, &srv), 0);
	vmm_vhost_user_server_destroy(srv);
	unlink(sock);
	rmdir(dir);
	(void)st;
}

/*
 * A library-filled struct: a newer caller gets ours and a zeroed tail, an
 * older one (ending before @last) only its prefix, 0 = the 0.2 size.
 */
#define CHECK_OUT(c, type, last, call)                                         \
	do {                                                                   \
		memset(&(c), 0xee, sizeof(c));                                 \
		(c).s.struct_size = sizeof(c);                                 \
		assert_int_equal((call), 0);                                   \
		assert_int_equal((c).s.struct_size, sizeof((c).s));            \
		for (size_t i_ = sizeof((c).s); i_ < sizeof(c); i_++)          \
			assert_int_equal((c).raw[i_], 0);                      \
		memset(&(c), 0xee, sizeof(c));                                 \
		(c).s.struct_size = offsetof(type, last);                      \
		assert_int_equal((call), 0);                                   \
		assert_int_equal((c).s.struct_size, offsetof(type, last));     \
		for (size_t i_ = offsetof(type, last); i_ < sizeof(c); i_++)   \
			assert_int_equal((c).raw[i_], 0xee);                   \
		memset(&(c), 0xee, sizeof(c));                                 \
		(c).s.struct_size = 0;                                         \
		assert_int_equal((call), 0);                                   \
		assert_int_equal((c).s.struct_size, sizeof((c).s));            \
		assert_int_equal((c).raw[sizeof((c).s)], 0xee);                \
		(c).s.struct_size = 2;                                         \
		assert_int_equal((call), -EINVAL);                             \
	} while (0)

static void test_vhost_user_server_stats(void **st)
{
	NEWER(struct vmm_vhost_user_server_stats) ss;
	struct vmm_vhost_user_server_config c;
	char dir[] = "/tmp/test_growable_vus.XXXXXX", sock[64];
	vmm_vhost_user_server *srv = NULL;

	ss.s.struct_size = sizeof(ss.s);
	assert_int_equal(vmm_vhost_user_server_get_stats(NULL, &ss.s),
			 -EINVAL);
	if (!VMM_HAVE_VU_SERVER) { /* -Dvhost_user_server=disabled */
		(void)st;
		return;
	}
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s", dir);
	vmm_vhost_user_server_config_init(&c, VMM_VHOST_USER_RNG);
	c.socket_path = sock;
	assert_int_equal(vmm_vhost_user_server_create(&c, &srv), 0);
	CHECK_OUT(ss, struct vmm_vhost_user_server_stats, requests,
		  vmm_vhost_user_server_get_stats(srv, &ss.s));
	assert_int_equal(ss.s.connections, 0);
	ss.s.struct_size = 65537;
	assert_int_equal(vmm_vhost_user_server_get_stats(srv, &ss.s),
			 -EINVAL);
	vmm_vhost_user_server_destroy(srv);
	unlink(sock);
	rmdir(dir);
	(void)st;
}

/* struct vmm_mem_info arrays: out[0].struct_size is the stride */
static void test_mem_info_array(void **st)
{
	const size_t full = sizeof(struct vmm_mem_info);
	const size_t old = offsetof(struct vmm_mem_info, offset);
	unsigned char buf[3 * (sizeof(struct vmm_mem_info) + TAIL)];
	struct vmm_mem_info e;
	vmm_vm *vm = soft_vm();
	uint32_t sz;

	assert_int_equal(vmm_mem_add_ram(vm, 0x200000, 0x10000), 0);
	/* newer: stride sizeof + TAIL, every tail zeroed */
	memset(buf, 0xee, sizeof(buf));
	sz = (uint32_t)(full + TAIL);
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 2), 2);
	for (size_t i = 0; i < 2; i++) {
		memcpy(&e, buf + i * (full + TAIL), full);
		assert_int_equal(e.struct_size, full);
		assert_int_equal(e.gpa, i ? 0x200000 : 0);
		for (size_t j = full; j < full + TAIL; j++)
			assert_int_equal(buf[i * (full + TAIL) + j], 0);
	}
	assert_int_equal(buf[2 * (full + TAIL)], 0xee);
	/* older, ending before @offset: not written, stride is its size */
	memset(buf, 0xee, sizeof(buf));
	sz = (uint32_t)old;
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 2), 2);
	for (size_t i = 0; i < 2; i++) {
		memset(&e, 0, sizeof(e));
		memcpy(&e, buf + i * old, old);
		assert_int_equal(e.struct_size, old);
		assert_int_equal(e.gpa, i ? 0x200000 : 0);
		assert_int_equal(e.size, i ? 0x10000 : 1 << 20);
	}
	for (size_t j = 2 * old; j < sizeof(buf); j++)
		assert_int_equal(buf[j], 0xee);
	/* 0: the 0.2 size */
	memset(buf, 0xee, sizeof(buf));
	sz = 0;
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 2), 2);
	memcpy(&e, buf + full, full);
	assert_int_equal(e.struct_size, full);
	assert_int_equal(e.gpa, 0x200000);
	assert_int_equal(buf[2 * full], 0xee);
	/* a short array: only the first, the total still returned */
	memset(buf, 0xee, sizeof(buf));
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 1), 2);
	assert_int_equal(buf[full], 0xee);
	/* bad sizes: -EINVAL, nothing written */
	memset(buf, 0xee, sizeof(buf));
	sz = 2;
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 2), -EINVAL);
	assert_non_null(strstr(last_err(vm), "struct_size"));
	sz = 65537;
	memcpy(buf, &sz, sizeof(sz));
	assert_int_equal(vmm_mem_get_regions(vm, (void *)buf, 2), -EINVAL);
	assert_int_equal(buf[4], 0xee);
	/* no array: just the count */
	assert_int_equal(vmm_mem_get_regions(vm, NULL, 0), 2);
	vmm_vm_destroy(vm);
	(void)st;
}

/* struct vmm_migrate_stats: checked at entry, written once at the end */
static void test_migrate_stats(void **st)
{
	NEWER(struct vmm_migrate_stats) ms;
	vmm_vm *vm = soft_vm();
	vmm_vm *out = NULL;
	int sv[2];

	/* a VM never in post-copy: wait() writes zero statistics */
	CHECK_OUT(ms, struct vmm_migrate_stats, resumes,
		  vmm_migrate_wait(vm, 0, &ms.s));
	assert_int_equal(ms.s.pages_sent, 0);
	ms.s.struct_size = 65537;
	assert_int_equal(vmm_migrate_wait(vm, 0, &ms.s), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_migrate_stats"));
	/* a bad size is refused before anything is sent or read */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ms.s.struct_size = 3;
	assert_int_equal(vmm_migrate_send(vm, sv[0], NULL, &ms.s), -EINVAL);
	assert_non_null(strstr(last_err(vm), "vmm_migrate_stats"));
	assert_int_equal(ms.s.struct_size, 3);
	assert_int_equal(vmm_migrate_receive(sv[1], NULL, NULL, NULL, &out,
					     &ms.s), -EINVAL);
	assert_null(out);
	assert_int_equal(vmm_migrate_resume(vm, sv[0], NULL, &ms.s), -EINVAL);
	/* a failed send still writes the statistics: the peer is gone */
	close(sv[1]);
	memset(&ms, 0xee, sizeof(ms));
	ms.s.struct_size = offsetof(struct vmm_migrate_stats, postcopy);
	assert_true(vmm_migrate_send(vm, sv[0], NULL, &ms.s) < 0);
	assert_int_equal(ms.s.struct_size,
			 offsetof(struct vmm_migrate_stats, postcopy));
	assert_int_not_equal(ms.s.rounds, 0xeeeeeeeeu); /* written */
	assert_int_equal(ms.raw[offsetof(struct vmm_migrate_stats, postcopy)],
			 0xee);
	close(sv[0]);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_out_structs(void **st)
{
	if (!VMM_HAVE_DEVICES) /* -Ddevices=disabled: no device models */
		skip();
	NEWER(struct vmm_hc_stats) hs;
	NEWER(struct vmm_gdb_stats) gs;
	NEWER(struct vmm_trapblk_stats) ts;
	NEWER(struct vmm_dev_info) di;
	NEWER(struct vmm_snapshot_info) si;
	struct vmm_trapblk_config tc;
	vmm_vm *vm = soft_vm();
	vmm_hc *hc = NULL;
	vmm_dev *d = NULL;
	int fd = scratch_fd();

	assert_int_equal(vmm_hc_attach(vm, NULL, &hc), 0);
	CHECK_OUT(hs, struct vmm_hc_stats, bytes_out,
		  vmm_hc_get_stats(hc, &hs.s));
	assert_int_equal(vmm_hc_detach(hc), 0);

	if (VMM_HAVE_GDB) {
		vmm_gdb *g = NULL;

		assert_int_equal(vmm_gdb_create(vm, NULL, &g), 0);
		CHECK_OUT(gs, struct vmm_gdb_stats, steps,
			  vmm_gdb_get_stats(g, &gs.s));
		vmm_gdb_destroy(g);
	}

	vmm_trapblk_config_init(&tc);
	tc.fd = fd;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), 0);
	CHECK_OUT(ts, struct vmm_trapblk_stats, capacity,
		  vmm_trapblk_get_stats(d, &ts.s));
	assert_int_equal(ts.s.capacity, 65536 / 512);
	CHECK_OUT(di, struct vmm_dev_info, name,
		  vmm_dev_get_info(d, &di.s));
	assert_non_null(strstr(di.s.name, "trapblk"));
	vmm_dev_detach(d);

	char path[] = "/tmp/test_growable_snap.XXXXXX";
	int sfd = mkstemp(path);
	vmm_snapshot *snap = NULL;
	char err[128];

	vmm_vcpu *vcpu;

	assert_true(sfd >= 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);
	assert_int_equal(vmm_snapshot_save_fd(vm, sfd, NULL), 0);
	assert_int_equal(vmm_snapshot_open(path, &snap, err, sizeof(err)), 0);
	CHECK_OUT(si, struct vmm_snapshot_info, file_bytes,
		  vmm_snapshot_get_info(snap, &si.s));
	assert_true(si.s.file_bytes > 0);
	vmm_snapshot_close(snap);
	unlink(path);
	close(sfd);
	close(fd);

	NEWER(struct vmm_vm_stats) vs;
	NEWER(struct vmm_bus_stats) bs;
	NEWER(struct vmm_virtio_stats) ios;
	struct vmm_uart_config uc;
	struct vmm_virtio_config vc;

	CHECK_OUT(vs, struct vmm_vm_stats, devices,
		  vmm_vm_get_stats(vm, &vs.s));
	assert_int_equal(vs.s.vcpus, 1);
	vmm_uart_config_init(&uc);
	assert_int_equal(vmm_uart_attach(vm, &uc, &d), 0);
	CHECK_OUT(bs, struct vmm_bus_stats, errors,
		  vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x3f8, &bs.s, NULL, 0));
	vmm_dev_detach(d);
	vmm_virtio_config_init(&vc, VMM_VIRTIO_MMIO);
	vc.mmio_base = 0xd0000000ull;
	assert_int_equal(vmm_virtio_rng_attach(vm, &vc, &d), 0);
	CHECK_OUT(ios, struct vmm_virtio_stats, mem_drains,
		  vmm_virtio_get_stats(d, &ios.s));
	assert_int_equal(ios.s.device_id, 4);
	vmm_dev_detach(d);
	vmm_vm_destroy(vm);
	(void)st;
}

static void test_exit_size(void **st)
{
	struct vmm_exit e;

	assert_int_equal(sizeof(e), VMM_EXIT_SIZE);
	assert_true(sizeof(e.internal) + offsetof(struct vmm_exit, internal) <=
		    VMM_EXIT_SIZE);
	(void)st;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_helper),
		cmocka_unit_test(test_vhost_user_server_stats),
		cmocka_unit_test(test_mem_info_array),
		cmocka_unit_test(test_migrate_stats),
		cmocka_unit_test(test_vmm_config),
		cmocka_unit_test(test_gdb_config),
		cmocka_unit_test(test_hc_config),
		cmocka_unit_test(test_save_opts),
		cmocka_unit_test(test_restore_and_migrate_opts),
		cmocka_unit_test(test_vcpu_stats),
		cmocka_unit_test(test_cpu_xstate),
		cmocka_unit_test(test_uart_config),
		cmocka_unit_test(test_trapblk_config),
		cmocka_unit_test(test_block_config),
		cmocka_unit_test(test_passthrough_config),
		cmocka_unit_test(test_vfio_pci_config),
		cmocka_unit_test(test_virtio_config),
		cmocka_unit_test(test_virtio_console_config),
		cmocka_unit_test(test_virtio_blk_config),
		cmocka_unit_test(test_virtio_net_config),
		cmocka_unit_test(test_vhost_user_config),
		cmocka_unit_test(test_vhost_user_server_config),
		cmocka_unit_test(test_out_structs),
		cmocka_unit_test(test_exit_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
