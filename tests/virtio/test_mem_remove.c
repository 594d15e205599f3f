/* SPDX-License-Identifier: MIT */
/*
 * test_mem_remove - removing guest memory while virtio-blk has a request
 * in flight into it.  The request's data buffer lies in its own RAM region
 * whose page is registered with userfaultfd, so the io_uring read into it
 * blocks (deterministically in flight) until the test resolves the fault.
 * vmm_mem_remove() of that region must wait for the request (the virtio
 * memory listener drains it) and only then unmap: it may not return while
 * the kernel still holds the buffer, and a vCPU that enters the guest
 * meanwhile waits for the removal.  Exit 77 when userfaultfd cannot
 * catch kernel faults here (not root and vm.unprivileged_userfaultfd=0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "dev/virtio/virtio_dev.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BASE 0xd0000000ull
#define RAM (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define HDR 0x10000
#define DATA_GPA 0x200000ull /* its own region */
#define DATA_SIZE 0x10000u

static vmm_vm *vm;

static void w32(uint64_t off, uint32_t v)
{
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_MMIO, BASE + off, &v, 4,
					true), 0);
}

static void mw(uint64_t gpa, const void *p, size_t n)
{
	assert_int_equal(vmm_mem_write(vm, gpa, p, n), 0);
}

static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	mw(DESC + 16ull * i, d, 16);
}

static uint16_t used_idx(void)
{
	uint16_t v;

	assert_int_equal(vmm_mem_read(vm, USED + 2, &v, 2), 0);
	return v;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static atomic_int removed = -1000;

static void *remover(void *p)
{
	atomic_store(&removed, vmm_mem_remove(vm, DATA_GPA));
	return NULL;
}

static atomic_int ran = -1000;

/* vmm_vcpu_run() while a removal is under way must wait for it (on the
 * null backend it would return at once) */
static void *runner(void *p)
{
	struct vmm_exit e;

	atomic_store(&ran, vmm_vcpu_run(p, &e));
	return NULL;
}

static void test_remove_under_io(void **state)
{
	struct vmm_config cfg;
	struct vmm_virtio_blk_config bc;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	struct vmm_mem_region d = {
		.gpa = DATA_GPA, .size = DATA_SIZE, .source = VMM_MEM_ANON,
		.fd = -1, .name = "data",
	};
	char path[] = "/tmp/libvmm-memrm-XXXXXX";
	static uint8_t img[1 << 16];
	struct iovec iov;
	vmm_dev *dev;
	vmm_vcpu *vcpu;
	pthread_t t, tr;
	int fd, uffd;

	/* the image: a known pattern */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(img, 0x5a, sizeof(img));
	assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);

	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, RAM), 0);
	assert_int_equal(vmm_mem_add(vm, &d), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &vcpu), 0);

	/* catch the kernel's first touch of the data page */
	uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) {
		unlink(path);
		vmm_vm_destroy(vm);
		skip();
	}
	struct uffdio_api api = { .api = UFFD_API };
	assert_int_equal(ioctl(uffd, UFFDIO_API, &api), 0);
	assert_int_equal(vmm_mem_iovec(vm, DATA_GPA, DATA_SIZE, true, &iov, 1), 1);
	struct uffdio_register reg = {
		.range = { (uintptr_t)iov.iov_base, DATA_SIZE },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	assert_int_equal(ioctl(uffd, UFFDIO_REGISTER, &reg), 0);

	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = BASE;
	bc.virtio.queue_size = 8;
	bc.path = path;
	bc.readonly = true;
	assert_int_equal(vmm_virtio_blk_attach(vm, &bc, &dev), 0);

	/* driver init, queue 0 of 8 */
	w32(0x70, 0);
	w32(0x70, 1);
	w32(0x70, 3);
	w32(0x24, 1);
	w32(0x20, 1); /* VERSION_1 */
	w32(0x70, 0xb);
	w32(0x30, 0);
	w32(0x38, 8);
	w32(0x80, DESC);
	w32(0x90, AVAIL);
	w32(0xa0, USED);
	w32(0x44, 1);
	w32(0x70, 0xf);

	/* IN request: 4 KiB of sector 0 into the uffd-guarded data page */
	uint8_t hdr[16] = { 0 };
	mw(HDR, hdr, 16);
	put_desc(0, HDR, 16, 1, 1);
	put_desc(1, DATA_GPA, 4096, 1 | 2, 2);
	put_desc(2, HDR + 0x100, 1, 2, 0);
	uint16_t head = 0, idx = 1;
	mw(AVAIL + 4, &head, 2);
	mw(AVAIL + 2, &idx, 2);
	w32(0x50, 0);

	/* the read faults on the data page: wait for the fault */
	struct pollfd pfd = { .fd = uffd, .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct uffd_msg msg;
	assert_int_equal(read(uffd, &msg, sizeof(msg)), (ssize_t)sizeof(msg));
	assert_int_equal(msg.event, UFFD_EVENT_PAGEFAULT);
	assert_int_equal(used_idx(), 0); /* in flight */

	/* remove the region under it: must wait for the request */
	assert_int_equal(pthread_create(&t, NULL, remover, NULL), 0);
	double t0 = now_ms();
	while (now_ms() - t0 < 200 && atomic_load(&removed) == -1000)
		usleep(1000);
	assert_int_equal(atomic_load(&removed), -1000); /* still waiting */
	assert_int_equal(used_idx(), 0);
	/* a vCPU may not enter the guest meanwhile */
	assert_int_equal(pthread_create(&tr, NULL, runner, vcpu), 0);
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&ran), -1000);

	/* let the kernel finish the copy: the request completes, then the
	 * removal goes ahead */
	struct uffdio_zeropage zp = {
		.range = { msg.arg.pagefault.address & ~4095ull, 4096 },
	};
	assert_int_equal(ioctl(uffd, UFFDIO_ZEROPAGE, &zp), 0);
	pthread_join(t, NULL);
	pthread_join(tr, NULL);
	assert_int_equal(atomic_load(&removed), 0);
	assert_true(atomic_load(&ran) != -1000);
	assert_int_equal(used_idx(), 1); /* completed before the unmap */
	uint8_t status = 0xff;
	assert_int_equal(vmm_mem_read(vm, HDR + 0x100, &status, 1), 0);
	assert_int_equal(status, 0); /* VIRTIO_BLK_S_OK */
	assert_int_equal(vmm_virtio_get_stats(dev, &st), 0);
	assert_int_equal(st.mem_drains, 1);
	/* the region is gone; the device keeps working on what is left */
	assert_false(vmm_mem_is_ram(vm, DATA_GPA, 1));

	close(uffd);
	vmm_vm_destroy(vm);
	unlink(path);
	(void)state;
}

/*
 * The rings' region removed and a new one added at the same address: the
 * device keeps host pointers to its rings per memory-layout generation
 * (virtqueue.c), so it must translate again and use the new memory.  The
 * old mapping's address range gets a decoy full of 0xff, which a stale
 * pointer would read as avail->idx 0xffff (a broken queue).
 */
#define RING_GPA 0x400000ull
#define RING_SIZE 0x10000u

static void test_ring_region_replaced(void **state)
{
	struct vmm_config cfg;
	struct vmm_virtio_blk_config bc;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	struct vmm_mem_region d = {
		.gpa = RING_GPA, .size = RING_SIZE, .source = VMM_MEM_ANON,
		.fd = -1, .name = "rings",
	};
	char path[] = "/tmp/libvmm-memrm-XXXXXX";
	static uint8_t img[1 << 16];
	uint8_t hdr[16] = { 0 }, status;
	struct iovec old;
	vmm_dev *dev;
	uint16_t head = 0, idx, v;
	void *decoy = NULL;
	struct vmm_virtio *vd;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(img, 0x5a, sizeof(img));
	assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
	close(fd);
	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_add_ram(vm, 0, RAM), 0);
	assert_int_equal(vmm_mem_add(vm, &d), 0);
	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = BASE;
	bc.virtio.queue_size = 8;
	bc.path = path;
	bc.readonly = true;
	assert_int_equal(vmm_virtio_blk_attach(vm, &bc, &dev), 0);
	vd = vmm__virtio_of(dev);
	assert_non_null(vd);
	w32(0x70, 0);
	w32(0x70, 1);
	w32(0x70, 3);
	w32(0x24, 1);
	w32(0x20, 1);
	w32(0x70, 0xb);
	w32(0x30, 0);
	w32(0x38, 8);
	w32(0x80, RING_GPA + DESC);
	w32(0x84, 0);
	w32(0x90, RING_GPA + AVAIL);
	w32(0x94, 0);
	w32(0xa0, RING_GPA + USED);
	w32(0xa4, 0);
	w32(0x44, 1);
	w32(0x70, 0xf);
	mw(HDR, hdr, 16);
	for (int round = 1; round <= 2; round++) {
		uint8_t dd[16];
		uint64_t a;
		uint32_t l;
		uint16_t f, nx;
		static const struct { uint64_t a; uint32_t l; uint16_t f, n; }
		ch[3] = { { HDR, 16, 1, 1 }, { HDR + 0x1000, 512, 3, 2 },
			  { HDR + 0x100, 1, 2, 0 } };

		for (int i = 0; i < 3; i++) {
			a = ch[i].a, l = ch[i].l, f = ch[i].f, nx = ch[i].n;
			memcpy(dd, &a, 8);
			memcpy(dd + 8, &l, 4);
			memcpy(dd + 12, &f, 2);
			memcpy(dd + 14, &nx, 2);
			mw(RING_GPA + DESC + 16ull * i, dd, 16);
		}
		status = 0xff;
		mw(HDR + 0x100, &status, 1);
		idx = (uint16_t)round;
		mw(RING_GPA + AVAIL + 4 + 2u * (round - 1), &head, 2);
		mw(RING_GPA + AVAIL + 2, &idx, 2);
		w32(0x50, 0);
		vmm__virtio_sync(dev);
		assert_int_equal(vmm_mem_read(vm, RING_GPA + USED + 2, &v, 2), 0);
		assert_int_equal(v, round);
		assert_int_equal(vmm_mem_read(vm, HDR + 0x100, &status, 1), 0);
		assert_int_equal(status, 0);
		if (round == 2)
			break;
		/* replace the rings' region; the old range becomes a decoy.
		 * The device stays frozen across it (as a pause would keep
		 * it): a kick handled while the rings are not in memory at
		 * all would break the queue, whatever the cache does. */
		assert_int_equal(vmm_mem_iovec(vm, RING_GPA, RING_SIZE, false,
					       &old, 1), 1);
		pthread_mutex_lock(&vd->lock);
		vmm__virtio_freeze(vd);
		pthread_mutex_unlock(&vd->lock);
		assert_int_equal(vmm_mem_remove(vm, RING_GPA), 0);
		decoy = mmap(old.iov_base, RING_SIZE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);
		assert_true(decoy == old.iov_base);
		memset(decoy, 0xff, RING_SIZE);
		assert_int_equal(vmm_mem_add(vm, &d), 0);
		/* the driver's view in the new memory: one chain made
		 * available and used */
		v = 1;
		mw(RING_GPA + USED + 2, &v, 2);
		mw(RING_GPA + AVAIL + 2, &v, 2);
		pthread_mutex_lock(&vd->lock);
		vmm__virtio_thaw(vd);
		pthread_mutex_unlock(&vd->lock);
	}
	assert_int_equal(vmm_virtio_get_stats(dev, &st), 0);
	assert_int_equal(st.queue_errors, 0);
	assert_int_equal(st.requests, 2);
	vmm_vm_destroy(vm);
	munmap(decoy, RING_SIZE);
	unlink(path);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_under_io),
		cmocka_unit_test(test_ring_region_replaced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
