// SPDX-License-Identifier: MIT
/*
 * guest_teardown.c - VMM_CFG_ASYNC_TEARDOWN: vmm_vm_destroy() returns while
 * a thread of the VM's own releases it.  Checks, for every irqchip mode the
 * backend has:
 *
 *  - each VM runs its guest; after vmm_vm_destroy() returns, the log
 *    callback is never called again (the embedder may free its context);
 *  - teardown_done is called exactly once per VM, and only after it has
 *    been called are all the VM's allocations returned to the embedder's
 *    allocator and its fds closed (fd count back to the start);
 *  - a VM without the flag still tears down synchronously (everything
 *    freed when vmm_vm_destroy() returns; teardown_done not called);
 *  - VMs created and destroyed while other VMs' reapers still run are
 *    unaffected (a second round while the first drains).
 *
 *   guest_teardown BACKEND
 */
#include <libvmm/libvmm.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CODE_GPA 0x1000u
#define PORT_WORK 0x80
#define NVMS 8

/* 32-bit, CPL3: out %al, $0x80; jmp . */
static const uint8_t out_code[] = { 0xe6, 0x80, 0xeb, 0xfe };

static atomic_long live_allocs;
static atomic_int log_after_destroy;
static atomic_bool destroyed_flag[2 * NVMS + 1];

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int done_count;
static int done_per_vm[2 * NVMS + 1];

static void *t_alloc(void *opaque, size_t size)
{
	void *p = calloc(1, size);

	(void)opaque;
	if (p)
		atomic_fetch_add(&live_allocs, 1);
	return p;
}

static void t_free(void *opaque, void *ptr)
{
	(void)opaque;
	if (ptr)
		atomic_fetch_sub(&live_allocs, 1);
	free(ptr);
}

static const struct vmm_allocator allocator = { t_alloc, t_free, NULL };

static void t_log(void *opaque, int level, const char *msg)
{
	int id = (int)(intptr_t)opaque;

	(void)level;
	(void)msg;
	if (atomic_load(&destroyed_flag[id]))
		atomic_fetch_add(&log_after_destroy, 1);
}

static void t_done(void *opaque)
{
	int id = (int)(intptr_t)opaque;

	pthread_mutex_lock(&lock);
	done_per_vm[id]++;
	done_count++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3;
}

static int fails;
#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__);                 \
			fputc('\n', stderr);                                   \
			fails++;                                               \
		}                                                              \
	} while (0)

static vmm_vm *make_vm(enum vmm_backend b, enum vmm_irqchip_mode mode,
		       bool async, int id)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.irqchip = mode;
	cfg.ram_size = 2 << 20;
	cfg.allocator = &allocator;
	cfg.log = t_log;
	cfg.log_opaque = (void *)(intptr_t)id;
	cfg.log_level = VMM_LOG_DEBUG;
	if (async) {
		cfg.flags |= VMM_CFG_ASYNC_TEARDOWN;
		cfg.teardown_done = t_done;
		cfg.teardown_opaque = (void *)(intptr_t)id;
	}
	if ((ret = vmm_vm_create(&cfg, &vm))) {
		CHECK(0, "vm %d: create: %s", id, vmm_strerror(ret));
		return NULL;
	}
	if ((ret = vmm_vcpu_create(vm, 0, &vcpu)) ||
	    (ret = vmm_mem_write(vm, CODE_GPA, out_code, sizeof(out_code))) ||
	    (ret = vmm_vcpu_get_state(vcpu, &st))) {
		CHECK(0, "vm %d: setup: %s", id, vmm_strerror(ret));
		return vm;
	}
	vmm_state_flat_protected(&st, CODE_GPA);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		st.seg[i].dpl = 3;
		st.seg[i].selector |= 3;
	}
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RSP] = 0x8000;
	ret = vmm_vcpu_set_state(vcpu, &st);
	if (!ret)
		ret = vmm_vcpu_run(vcpu, &e);
	CHECK(!ret && e.kind == VMM_EXIT_IO && e.io.port == PORT_WORK,
	      "vm %d: run: %s, exit %s", id, vmm_strerror(ret),
	      ret ? "-" : vmm_exit_name(e.kind));
	return vm;
}

/* Wait (10 s at most) until @n teardown_done calls have been seen. */
static bool wait_done(int n)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (done_count < n && ok)
		ok = pthread_cond_timedwait(&cond, &lock, &ts) == 0 ||
		     done_count >= n;
	pthread_mutex_unlock(&lock);
	return ok;
}

static void round_async(enum vmm_backend b, enum vmm_irqchip_mode mode,
			int first, int n)
{
	vmm_vm *vms[NVMS];

	for (int i = 0; i < n; i++)
		vms[i] = make_vm(b, mode, true, first + i);
	for (int i = 0; i < n; i++) {
		vmm_vm_destroy(vms[i]);
		atomic_store(&destroyed_flag[first + i], true);
	}
}

static void run_mode(enum vmm_backend b, enum vmm_irqchip_mode mode)
{
	long fds0 = count_fds(), allocs0 = atomic_load(&live_allocs);
	vmm_vm *vm;

	memset(done_per_vm, 0, sizeof(done_per_vm));
	done_count = 0;
	for (int i = 0; i <= 2 * NVMS; i++)
		atomic_store(&destroyed_flag[i], false);

	/* synchronous: everything is gone when destroy returns */
	vm = make_vm(b, mode, false, 2 * NVMS);
	CHECK(atomic_load(&live_allocs) > allocs0,
	      "%s: the VM allocated nothing through the allocator",
	      vmm_irqchip_name(mode));
	vmm_vm_destroy(vm);
	CHECK(atomic_load(&live_allocs) == allocs0 && count_fds() == fds0,
	      "%s: sync destroy left %ld allocations, %ld fds",
	      vmm_irqchip_name(mode), atomic_load(&live_allocs) - allocs0,
	      count_fds() - fds0);
	CHECK(done_count == 0, "teardown_done called without the flag");

	/* two rounds of asynchronous teardowns, the second while the
	 * first may still be draining */
	round_async(b, mode, 0, NVMS);
	round_async(b, mode, NVMS, NVMS);
	CHECK(wait_done(2 * NVMS), "%s: only %d of %d teardown_done calls",
	      vmm_irqchip_name(mode), done_count, 2 * NVMS);
	for (int i = 0; i < 2 * NVMS; i++)
		CHECK(done_per_vm[i] == 1, "vm %d: teardown_done called %d times",
		      i, done_per_vm[i]);
	CHECK(done_per_vm[2 * NVMS] == 0, "sync VM got teardown_done");
	/* teardown_done is the reaper's last use of the VM, but its thread
	 * may still be exiting: the fds and allocations are already gone */
	CHECK(atomic_load(&live_allocs) == allocs0,
	      "%s: %ld allocations left after every teardown_done",
	      vmm_irqchip_name(mode), atomic_load(&live_allocs) - allocs0);
	CHECK(count_fds() == fds0, "%s: %ld fds left after every teardown_done",
	      vmm_irqchip_name(mode), count_fds() - fds0);
	CHECK(atomic_load(&log_after_destroy) == 0,
	      "%s: %d log calls after vmm_vm_destroy() returned",
	      vmm_irqchip_name(mode), atomic_load(&log_after_destroy));
	printf("%s/%s: %d async teardowns, fds and allocations back to start\n",
	       vmm_backend_name(b), vmm_irqchip_name(mode), done_count);
}

int main(int argc, char **argv)
{
	enum vmm_backend b;
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: guest_teardown kvm|soft\n");
		return 2;
	}
	b = !strcmp(argv[1], "kvm") ? VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
	/* absent (no /dev/kvm) or not built in: skip; present but
	 * unusable: fail below */
	if (b == VMM_BACKEND_KVM &&
	    vmm_backend_available(VMM_BACKEND_KVM) == -ENODEV)
		return 77;
	ret = vmm_backend_available(b);
	if (ret) {
		fprintf(stderr, "FAIL: backend %s: %s\n", argv[1],
			vmm_strerror(ret));
		return 1;
	}
	run_mode(b, VMM_IRQCHIP_NONE);
	run_mode(b, VMM_IRQCHIP_SPLIT);
	if (b == VMM_BACKEND_KVM)
		run_mode(b, VMM_IRQCHIP_KERNEL);
	return fails ? 1 : 0;
}
