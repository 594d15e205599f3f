// SPDX-License-Identifier: MIT
/*
 * test_models_unit - device models without running a guest (the "null"
 * backend: memory, bus and devices work, vCPUs do not):
 *   - every device reports its model, sharing and migratability;
 *   - passthrough exclusivity: within a VM, across VMs, across processes,
 *     shared opt-in; argument validation; detach leaves no mapping;
 *   - the trapped block device's registers driven through the bus exactly
 *     as guest accesses are: data round trip, errors, hostile values, state
 *     save/restore in the middle of a transfer;
 *   - allocation failure at every allocation of every attach, no leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/internal.h"
#include "core/statebuf.h"
#include "failalloc.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PT_GPA 0xc0000000ull
#define BLK 0x5c0

static vmm_vm *null_vm(const struct vmm_allocator *a)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.allocator = a;
	if (vmm__vm_create_null(&cfg, &vm))
		return NULL;
	return vm;
}

static int memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static int pt_attach(vmm_vm *vm, int fd, off_t off, uint64_t size,
		     vmm_gpa_t gpa, uint32_t flags, vmm_dev **out)
{
	struct vmm_passthrough_config pc;

	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.offset = off;
	pc.size = size;
	pc.gpa = gpa;
	pc.flags = flags;
	return vmm_passthrough_attach(vm, &pc, out);
}

static int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void test_model_info(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	struct vmm_uart_config uc;
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	vmm_dev *uart, *pt, *pts;
	int fd = memfd("info", 1 << 16);

	assert_non_null(vm);
	assert_string_equal(vmm_model_name(VMM_MODEL_PASSTHROUGH), "passthrough");
	assert_string_equal(vmm_model_name(VMM_MODEL_DIRECT), "direct");
	assert_string_equal(vmm_model_name(VMM_MODEL_SPLIT), "split");
	assert_int_equal(vmm_dev_model(NULL), VMM_MODEL_DEFAULT);
	assert_int_equal(vmm_dev_get_info(NULL, &info), -EINVAL);

	vmm_uart_config_init(&uc);
	uc.out_fd = uc.in_fd = -1;
	assert_int_equal(vmm_uart_attach(vm, &uc, &uart), 0);
	assert_int_equal(vmm_dev_model(uart), VMM_MODEL_DIRECT);
	assert_int_equal(vmm_dev_get_info(uart, &info), 0);
	assert_true(info.migratable && info.shareable && info.traps &&
		    !info.exclusive);
	assert_string_equal(info.name, vmm_dev_name(uart));

	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &pt), 0);
	assert_int_equal(vmm_dev_model(pt), VMM_MODEL_PASSTHROUGH);
	assert_int_equal(vmm_dev_get_info(pt, &info), 0);
	assert_true(!info.migratable && !info.shareable && info.exclusive &&
		    !info.traps);
	/* no state callbacks: the snapshot code refuses it by name */
	assert_null(pt->save);
	assert_null(pt->restore);

	assert_int_equal(pt_attach(vm, fd, 1 << 16, 0, PT_GPA + (1 << 16),
				   VMM_PT_SHARED, &pts), -EINVAL);
	assert_int_equal(ftruncate(fd, 1 << 17), 0);
	assert_int_equal(pt_attach(vm, fd, 1 << 16, 1 << 16,
				   PT_GPA + (1 << 16), VMM_PT_SHARED, &pts), 0);
	assert_int_equal(vmm_dev_get_info(pts, &info), 0);
	assert_true(info.shareable && !info.exclusive && !info.migratable);
	vmm_vm_destroy(vm);
	close(fd);
}

static void test_exclusive_same_vm(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	vmm_dev *a, *b;
	char path[64], msg[256];
	int fd = memfd("excl", 1 << 18), fd2;

	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &a), 0);
	/* the same fd, another gpa */
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA + (1 << 20), 0,
				   &b), -EBUSY);
	vmm_last_error(vm, msg, sizeof(msg));
	assert_non_null(strstr(msg, "already attached"));
	/* another description of the same file, overlapping range */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fd2 = open(path, O_RDWR);
	assert_true(fd2 >= 0);
	assert_int_equal(pt_attach(vm, fd2, 0x8000, 1 << 16, PT_GPA + (1 << 20),
				   VMM_PT_SHARED, &b), -EBUSY);
	/* a disjoint range of the same file is another resource */
	assert_int_equal(pt_attach(vm, fd2, 1 << 16, 1 << 16,
				   PT_GPA + (1 << 20), 0, &b), 0);
	/* after detach the range is free again */
	assert_int_equal(vmm_dev_detach(a), 0);
	assert_int_equal(pt_attach(vm, fd2, 0, 1 << 16, PT_GPA + (2 << 20), 0,
				   &a), 0);
	vmm_vm_destroy(vm);
	close(fd);
	close(fd2);
}

static void test_exclusive_two_vms(void **state)
{
	vmm_vm *vm1 = null_vm(NULL), *vm2 = null_vm(NULL);
	vmm_dev *a, *b;
	int fd = memfd("two", 1 << 16);

	assert_int_equal(pt_attach(vm1, fd, 0, 1 << 16, PT_GPA, 0, &a), 0);
	assert_int_equal(pt_attach(vm2, fd, 0, 1 << 16, PT_GPA, 0, &b), -EBUSY);
	assert_int_equal(pt_attach(vm2, fd, 0, 1 << 16, PT_GPA, VMM_PT_SHARED,
				   &b), -EBUSY);
	assert_int_equal(vmm_dev_detach(a), 0);
	assert_int_equal(pt_attach(vm2, fd, 0, 1 << 16, PT_GPA, 0, &b), 0);
	/* destroying a VM releases its lock too */
	vmm_vm_destroy(vm2);
	assert_int_equal(pt_attach(vm1, fd, 0, 1 << 16, PT_GPA, 0, &a), 0);
	vmm_vm_destroy(vm1);
	close(fd);
}

static void test_shared_optin(void **state)
{
	vmm_vm *vm1 = null_vm(NULL), *vm2 = null_vm(NULL);
	vmm_dev *a, *b, *c;
	uint32_t v = 0x12345678, r = 0;
	int fd = memfd("shared", 1 << 16);

	assert_int_equal(pt_attach(vm1, fd, 0, 1 << 16, PT_GPA, VMM_PT_SHARED,
				   &a), 0);
	assert_int_equal(pt_attach(vm2, fd, 0, 1 << 16, PT_GPA, VMM_PT_SHARED,
				   &b), 0);
	/* both see one memory */
	assert_int_equal(vmm_mem_write(vm1, PT_GPA + 64, &v, 4), 0);
	assert_int_equal(vmm_mem_read(vm2, PT_GPA + 64, &r, 4), 0);
	assert_int_equal(r, v);
	/* shared in the same VM, at another address */
	assert_int_equal(pt_attach(vm1, fd, 0, 1 << 16, PT_GPA + (1 << 20),
				   VMM_PT_SHARED, &c), 0);
	/* but an exclusive attach is refused while shared ones exist */
	assert_int_equal(vmm_dev_detach(c), 0);
	assert_int_equal(pt_attach(vm1, fd, 0, 1 << 16, PT_GPA + (1 << 20), 0,
				   &c), -EBUSY);
	vmm_vm_destroy(vm1);
	vmm_vm_destroy(vm2);
	close(fd);
}

static void test_exclusive_process(void **state)
{
	char path[] = "/tmp/vmm-models-pt-XXXXXX";
	int fd = mkstemp(path), go[2], done[2], status;
	vmm_vm *vm;
	vmm_dev *d;
	pid_t pid;
	char c;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 16), 0);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	if (pid == 0) {
		vmm_vm *cvm = null_vm(NULL);
		int cfd = open(path, O_RDWR);
		int ret = cvm && cfd >= 0 ?
			pt_attach(cvm, cfd, 0, 1 << 16, PT_GPA, 0, &d) : -1;
		c = ret == 0 ? 'y' : 'n';
		if (write(go[1], &c, 1) != 1 || read(done[0], &c, 1) != 1)
			_exit(2);
		vmm_vm_destroy(cvm);
		_exit(ret == 0 ? 0 : 1);
	}
	/* the parent's VM exists only after the fork (nothing to leak there) */
	vm = null_vm(NULL);
	assert_non_null(vm);
	assert_int_equal(read(go[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &d), -EBUSY);
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, VMM_PT_SHARED,
				   &d), -EBUSY);
	assert_int_equal(write(done[1], "x", 1), 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &d), 0);
	vmm_vm_destroy(vm);
	unlink(path);
	close(fd);
	close(go[0]); close(go[1]); close(done[0]); close(done[1]);
}

static void test_detach_no_mapping(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	struct vmm_mem_info mi[8];
	vmm_dev *d;
	char name[64];
	int fd, n;

	snprintf(name, sizeof(name), "vmm-models-detach-%d", (int)getpid());
	fd = memfd(name, 1 << 20);
	assert_int_equal(vmm_mem_add_ram(vm, 0, 1 << 20), 0);
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 20, PT_GPA, 0, &d), 0);
	assert_int_equal(count_maps(name), 1);
	mi[0].struct_size = sizeof(mi[0]);
	n = vmm_mem_get_regions(vm, mi, 8);
	assert_int_equal(n, 2);
	assert_int_equal(mi[1].gpa, PT_GPA);
	assert_true(vmm_mem_is_ram(vm, PT_GPA, 1 << 20));
	assert_int_equal(vmm_dev_detach(d), 0);
	mi[0].struct_size = sizeof(mi[0]);
	assert_int_equal(vmm_mem_get_regions(vm, mi, 8), 1);
	assert_false(vmm_mem_is_ram(vm, PT_GPA, 4096));
	assert_int_equal(count_maps(name), 0);
	/* a detached handle is gone: a second detach is refused */
	vmm_vm_destroy(vm);
	close(fd);
}

static void test_pt_args(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	struct vmm_passthrough_config pc;
	char path[] = "/tmp/vmm-models-ro-XXXXXX";
	vmm_dev *d;
	int fd = memfd("args", 1 << 16), ro;

	assert_int_equal(vmm_passthrough_attach(vm, NULL, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, -1, 0, 4096, PT_GPA, 0, &d), -EBADF);
	assert_int_equal(pt_attach(vm, fd, 0, 0, PT_GPA, 0, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 0, 100, PT_GPA, 0, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 10, 4096, PT_GPA, 0, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 0, 4096, PT_GPA + 1, 0, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 0, 4096, ~0xfffull, 0, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 0, 4096, PT_GPA, 0x100, &d), -EINVAL);
	assert_int_equal(pt_attach(vm, fd, 0, 1 << 20, PT_GPA, 0, &d), -EINVAL);
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = 4096;
	pc.gpa = PT_GPA;
	assert_int_equal(vmm_passthrough_attach(vm, &pc, NULL), -EINVAL);
	/* an interrupt eventfd needs an interrupt controller */
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = 4096;
	pc.gpa = PT_GPA;
	pc.irq_fd = 0;
	if (!(vmm_vm_caps(vm) & VMM_CAP_IRQCHIP))
		assert_int_equal(vmm_passthrough_attach(vm, &pc, &d), -ENODEV);
	/* overlapping RAM */
	assert_int_equal(vmm_mem_add_ram(vm, 0, 1 << 20), 0);
	assert_int_equal(pt_attach(vm, fd, 0, 4096, 0x1000, 0, &d), -EEXIST);
	/* nothing left behind by the failures: the range is still free */
	assert_int_equal(pt_attach(vm, fd, 0, 4096, PT_GPA, 0, &d), 0);
	assert_int_equal(vmm_dev_detach(d), 0);
	/* a read-only fd: only read-only attaches (shared: no write lock) */
	ro = mkstemp(path);
	assert_true(ro >= 0);
	assert_int_equal(ftruncate(ro, 4096), 0);
	close(ro);
	ro = open(path, O_RDONLY);
	assert_int_equal(pt_attach(vm, ro, 0, 4096, PT_GPA, 0, &d), -EBADF);
	assert_int_equal(pt_attach(vm, ro, 0, 4096, PT_GPA,
				   VMM_PT_READONLY | VMM_PT_SHARED, &d), 0);
	assert_int_equal(vmm_dev_detach(d), 0);
	unlink(path);
	close(ro);
	vmm_vm_destroy(vm);
	close(fd);
}

/* ---- trapped block device through the bus ---- */

static uint32_t rd(vmm_vm *vm, unsigned off)
{
	uint32_t v = 0;
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, BLK + off, &v, 4,
					false), 0);
	return v;
}

static void wr(vmm_vm *vm, unsigned off, uint32_t v)
{
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, BLK + off, &v, 4,
					true), 0);
}

static void cmd(vmm_vm *vm, uint64_t sector, uint32_t count, uint32_t c)
{
	wr(vm, VMM_TRAPBLK_SECTOR_LO, (uint32_t)sector);
	wr(vm, VMM_TRAPBLK_SECTOR_HI, (uint32_t)(sector >> 32));
	wr(vm, VMM_TRAPBLK_COUNT, count);
	wr(vm, VMM_TRAPBLK_CMD, c);
}

static int image(size_t size, int mode)
{
	char path[] = "/tmp/vmm-models-blk-XXXXXX";
	int fd = mkstemp(path), fd2;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	fd2 = open(path, mode);
	unlink(path);
	close(fd);
	assert_true(fd2 >= 0);
	return fd2;
}

static vmm_dev *blk_attach(vmm_vm *vm, int fd, bool ro)
{
	struct vmm_trapblk_config tc;
	vmm_dev *d;

	vmm_trapblk_config_init(&tc);
	tc.fd = fd;
	tc.readonly = ro;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), 0);
	return d;
}

static void test_trapblk_roundtrip(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	int fd = image(64 * 512, O_RDWR);
	vmm_dev *d = blk_attach(vm, fd, false);
	struct vmm_trapblk_stats st = { .struct_size = sizeof(st) };
	uint32_t buf[256];

	assert_int_equal(rd(vm, VMM_TRAPBLK_CAP_LO), 64);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CAP_HI), 0);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	cmd(vm, 10, 2, VMM_TRAPBLK_CMD_WRITE);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_DRQ);
	for (uint32_t i = 0; i < 256; i++)
		wr(vm, VMM_TRAPBLK_DATA, i * 7 + 1);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	assert_int_equal(pread(fd, buf, 1024, 10 * 512), 1024);
	for (uint32_t i = 0; i < 256; i++)
		assert_int_equal(buf[i], i * 7 + 1);
	cmd(vm, 11, 1, VMM_TRAPBLK_CMD_READ);
	for (uint32_t i = 0; i < 128; i++)
		assert_int_equal(rd(vm, VMM_TRAPBLK_DATA), (128 + i) * 7 + 1);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	cmd(vm, 0, 1, VMM_TRAPBLK_CMD_FLUSH);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	assert_int_equal(vmm_trapblk_get_stats(d, &st), 0);
	assert_int_equal(st.sectors_written, 2);
	assert_int_equal(st.sectors_read, 1);
	assert_int_equal(vmm_trapblk_get_stats(NULL, &st), -EINVAL);
	vmm_vm_destroy(vm);
	close(fd);
}

static void expect_err(vmm_vm *vm, uint32_t code)
{
	uint32_t st = rd(vm, VMM_TRAPBLK_CMD);
	assert_true(st & VMM_TRAPBLK_ST_ERR);
	assert_true(st & VMM_TRAPBLK_ST_READY);
	assert_int_equal(rd(vm, VMM_TRAPBLK_ERROR), code);
}

static void test_trapblk_hostile(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	int fd = image(64 * 512, O_RDWR);
	uint16_t w = 0;

	blk_attach(vm, fd, false);
	cmd(vm, 64, 1, VMM_TRAPBLK_CMD_READ);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, 63, 2, VMM_TRAPBLK_CMD_WRITE);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, 0, 0, VMM_TRAPBLK_CMD_READ);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, 0, 0xffffffffu, VMM_TRAPBLK_CMD_READ);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, ~0ull, 2, VMM_TRAPBLK_CMD_READ);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, ~0ull - 1, 3, VMM_TRAPBLK_CMD_WRITE);
	expect_err(vm, VMM_TRAPBLK_E_RANGE);
	cmd(vm, 0, 1, 0xdead);
	expect_err(vm, VMM_TRAPBLK_E_CMD);
	(void)rd(vm, VMM_TRAPBLK_DATA);
	expect_err(vm, VMM_TRAPBLK_E_PROTO);
	wr(vm, VMM_TRAPBLK_DATA, 1);
	expect_err(vm, VMM_TRAPBLK_E_PROTO);
	cmd(vm, 0, 1, VMM_TRAPBLK_CMD_WRITE);
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, BLK + VMM_TRAPBLK_DATA,
					&w, 2, true), 0);
	expect_err(vm, VMM_TRAPBLK_E_PROTO);
	cmd(vm, 0, 2, VMM_TRAPBLK_CMD_READ);
	wr(vm, VMM_TRAPBLK_CMD, VMM_TRAPBLK_CMD_READ);
	expect_err(vm, VMM_TRAPBLK_E_PROTO);
	/* misaligned and odd-sized register accesses are ignored */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, BLK + 1, &w, 2,
					false), 0);
	assert_int_equal(w, 0xffff);
	/* reset clears the error; the device works */
	wr(vm, VMM_TRAPBLK_CMD, VMM_TRAPBLK_CMD_RESET);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	cmd(vm, 63, 1, VMM_TRAPBLK_CMD_READ);
	for (int i = 0; i < 128; i++)
		assert_int_equal(rd(vm, VMM_TRAPBLK_DATA), 0);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	vmm_vm_destroy(vm);
	close(fd);
}

static void test_trapblk_errors(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	int fd = image(8 * 512, O_RDONLY);
	vmm_dev *d = blk_attach(vm, fd, false);

	/* the host fd cannot write: E_IO at the end of the first sector */
	cmd(vm, 0, 1, VMM_TRAPBLK_CMD_WRITE);
	for (int i = 0; i < 128; i++)
		wr(vm, VMM_TRAPBLK_DATA, 1);
	expect_err(vm, VMM_TRAPBLK_E_IO);
	assert_int_equal(vmm_dev_detach(d), 0);
	/* read-only medium: refused up front */
	d = blk_attach(vm, fd, true);
	assert_true(rd(vm, VMM_TRAPBLK_CMD) & VMM_TRAPBLK_ST_RO);
	cmd(vm, 0, 1, VMM_TRAPBLK_CMD_WRITE);
	expect_err(vm, VMM_TRAPBLK_E_RO);
	cmd(vm, 0, 1, VMM_TRAPBLK_CMD_READ);
	assert_int_equal(rd(vm, VMM_TRAPBLK_CMD) & VMM_TRAPBLK_ST_ERR, 0);
	vmm_vm_destroy(vm);
	close(fd);
}

static void test_trapblk_args(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	struct vmm_trapblk_config tc;
	vmm_dev *d;
	int fd = image(4096, O_RDWR);

	vmm_trapblk_config_init(&tc);
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EINVAL);
	tc.fd = fd;
	tc.base = 0xfff0;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EINVAL);
	tc.base = 0x5c1;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EINVAL);
	tc.space = VMM_SPACE_MMIO;
	tc.base = 0xd0000010;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EINVAL);
	tc.base = 0xd0000000;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), 0);
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EEXIST);
	tc.space = 7;
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -EINVAL);
	tc.space = VMM_SPACE_PIO;
	tc.base = 0x5c0;
	tc.fd = -1;
	tc.path = "/nonexistent/vmm-image";
	assert_int_equal(vmm_trapblk_attach(vm, &tc, &d), -ENOENT);
	vmm_vm_destroy(vm);
	close(fd);
}

static void test_trapblk_state(void **state)
{
	vmm_vm *vm = null_vm(NULL), *vm2 = null_vm(NULL);
	int fd = image(16 * 512, O_RDWR);
	vmm_dev *a = blk_attach(vm, fd, false), *b = blk_attach(vm2, fd, false);
	struct vmm_sbuf sb;
	struct vmm_sreader sr;
	uint32_t sec[128];

	for (int i = 0; i < 128; i++)
		sec[i] = 0xabc00000u + (uint32_t)i;
	assert_int_equal(pwrite(fd, sec, 512, 3 * 512), 512);
	cmd(vm, 3, 1, VMM_TRAPBLK_CMD_READ);
	for (int i = 0; i < 40; i++)
		assert_int_equal(rd(vm, VMM_TRAPBLK_DATA), sec[i]);
	assert_non_null(a->save);
	assert_string_equal(a->state_type, "trapblk");
	vmm__sb_init(&sb, vm);
	assert_int_equal(a->save(a->priv, &sb), 0);
	/* a corrupted copy is refused and changes nothing */
	{
		uint8_t *bad = malloc(sb.len);
		memcpy(bad, sb.p, sb.len);
		bad[8 + 4 + 4 + 1] = 9; /* xfer_cmd */
		vmm__sr_init(&sr, bad, sb.len);
		assert_int_equal(b->restore(b->priv, 1, &sr), -EINVAL);
		vmm__sr_init(&sr, bad, 10);
		assert_int_equal(b->restore(b->priv, 1, &sr), -EINVAL);
		free(bad);
		assert_int_equal(rd(vm2, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	}
	vmm__sr_init(&sr, sb.p, sb.len);
	assert_int_equal(b->restore(b->priv, 1, &sr), 0);
	/* the transfer continues where it was, on the other VM */
	for (int i = 40; i < 128; i++)
		assert_int_equal(rd(vm2, VMM_TRAPBLK_DATA), sec[i]);
	assert_int_equal(rd(vm2, VMM_TRAPBLK_CMD), VMM_TRAPBLK_ST_READY);
	vmm__sb_free(&sb);
	vmm_vm_destroy(vm);
	vmm_vm_destroy(vm2);
	close(fd);
}

/* ---- allocation failure at every allocation of every attach ---- */

enum { ATT_PT, ATT_PT_SHARED, ATT_BLK, ATT_BLOCK_DIRECT, ATT_BLOCK_PT };

static void failalloc_attach(int which)
{
	int fd = memfd("fa", 1 << 16);
	int img = image(1 << 16, O_RDWR);
	bool ok = false;

	for (long n = 0; n < 200 && !ok; n++) {
		struct failalloc fa;
		vmm_vm *vm;
		vmm_dev *d = NULL;
		int ret;

		failalloc_init(&fa, -1);
		vm = null_vm(&fa.a);
		assert_non_null(vm);
		fa.fail_at = fa.count + n;
		switch (which) {
		case ATT_PT:
			ret = pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &d);
			break;
		case ATT_PT_SHARED:
			ret = pt_attach(vm, fd, 0, 1 << 16, PT_GPA,
					VMM_PT_SHARED, &d);
			break;
		case ATT_BLK: {
			struct vmm_trapblk_config tc;
			vmm_trapblk_config_init(&tc);
			tc.fd = img;
			ret = vmm_trapblk_attach(vm, &tc, &d);
			break;
		}
		default: {
			struct vmm_block_config bc;
			vmm_block_config_init(&bc);
			bc.fd = which == ATT_BLOCK_PT ? fd : img;
			bc.model = which == ATT_BLOCK_PT ? VMM_MODEL_PASSTHROUGH
							 : VMM_MODEL_DIRECT;
			bc.gpa = PT_GPA;
			ret = vmm_block_attach(vm, &bc, &d);
			break;
		}
		}
		if (fa.failed) {
			assert_int_equal(ret, -ENOMEM);
			assert_null(d);
		} else {
			assert_int_equal(ret, 0);
			ok = true;
		}
		/* after a failure the range is neither mapped nor locked */
		if (!ok && which != ATT_BLK && which != ATT_BLOCK_DIRECT)
			assert_false(vmm_mem_is_ram(vm, PT_GPA, 4096));
		fa.fail_at = -1;
		if (ok)
			assert_int_equal(vmm_dev_detach(d), 0);
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
	}
	assert_true(ok);
	/* nothing stayed locked: an exclusive attach works */
	{
		vmm_vm *vm = null_vm(NULL);
		vmm_dev *d;
		assert_int_equal(pt_attach(vm, fd, 0, 1 << 16, PT_GPA, 0, &d), 0);
		vmm_vm_destroy(vm);
	}
	close(fd);
	close(img);
}

static void test_failalloc_pt(void **s) { failalloc_attach(ATT_PT); }
static void test_failalloc_pt_shared(void **s) { failalloc_attach(ATT_PT_SHARED); }
static void test_failalloc_trapblk(void **s) { failalloc_attach(ATT_BLK); }
static void test_failalloc_block_direct(void **s) { failalloc_attach(ATT_BLOCK_DIRECT); }
static void test_failalloc_block_pt(void **s) { failalloc_attach(ATT_BLOCK_PT); }

static void test_block_models(void **state)
{
	vmm_vm *vm = null_vm(NULL);
	struct vmm_block_config bc;
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	vmm_dev *d;
	int img = image(1 << 16, O_RDWR);
	uint32_t v = 0xfeedf00d, r = 0;

	vmm_block_config_init(&bc);
	bc.fd = img;
	bc.model = VMM_MODEL_PASSTHROUGH;
	bc.gpa = PT_GPA;
	assert_int_equal(vmm_block_attach(vm, &bc, &d), 0);
	assert_int_equal(vmm_dev_get_info(d, &info), 0);
	assert_int_equal(info.model, VMM_MODEL_PASSTHROUGH);
	/* the disk is memory: a guest store lands in the image */
	assert_int_equal(vmm_mem_write(vm, PT_GPA + 512, &v, 4), 0);
	assert_int_equal(pread(img, &r, 4, 512), 4);
	assert_int_equal(r, v);
	/* a direct attach of the same image is allowed (it does not map) */
	bc.model = VMM_MODEL_DIRECT;
	assert_int_equal(vmm_block_attach(vm, &bc, &d), 0);
	assert_int_equal(vmm_dev_model(d), VMM_MODEL_DIRECT);
	bc.model = VMM_MODEL_PASSTHROUGH;
	bc.gpa = PT_GPA + (1 << 20);
	assert_int_equal(vmm_block_attach(vm, &bc, &d), -EBUSY);
	bc.model = 9;
	assert_int_equal(vmm_block_attach(vm, &bc, &d), -EINVAL);
	vmm_vm_destroy(vm);
	close(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_info),
		cmocka_unit_test(test_exclusive_same_vm),
		cmocka_unit_test(test_exclusive_two_vms),
		cmocka_unit_test(test_shared_optin),
		cmocka_unit_test(test_exclusive_process),
		cmocka_unit_test(test_detach_no_mapping),
		cmocka_unit_test(test_pt_args),
		cmocka_unit_test(test_trapblk_roundtrip),
		cmocka_unit_test(test_trapblk_hostile),
		cmocka_unit_test(test_trapblk_errors),
		cmocka_unit_test(test_trapblk_args),
		cmocka_unit_test(test_trapblk_state),
		cmocka_unit_test(test_block_models),
		cmocka_unit_test(test_failalloc_pt),
		cmocka_unit_test(test_failalloc_pt_shared),
		cmocka_unit_test(test_failalloc_trapblk),
		cmocka_unit_test(test_failalloc_block_direct),
		cmocka_unit_test(test_failalloc_block_pt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
