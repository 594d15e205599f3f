/* SPDX-License-Identifier: MIT */
/*
 * test_vm.c - the VM core: configuration, error reporting and logging,
 * vCPU objects and their state on the null backend, names, and allocation
 * failures through every step of building a VM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/vm_impl.h"
#include "failalloc.h"

#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define SENTINEL ((vmm_vm *)(uintptr_t)0x5eed)

static void test_config_init(void **state)
{
	struct vmm_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	vmm_config_init(&cfg);
	assert_int_equal(cfg.struct_size, sizeof(cfg));
	assert_int_equal(cfg.backend, VMM_BACKEND_AUTO);
	assert_int_equal(cfg.ncpus, 1);
	assert_int_equal(cfg.flags, 0);
	assert_int_equal(cfg.ram_size, 0);
	assert_null(cfg.log);
	assert_null(cfg.log_opaque);
	assert_int_equal(cfg.log_level, VMM_LOG_WARN);
	assert_null(cfg.allocator);
	assert_null(cfg.cpuid_filter);
	assert_null(cfg.cpuid_opaque);
	vmm_config_init(NULL); /* no crash */
}

static void test_config_old_struct(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;
	vmm_vcpu *v;

	/*
	 * An old caller's struct ends before @log: what lies beyond is not
	 * theirs (garbage here) and must not be used.
	 */
	memset(&cfg, 0xa5, sizeof(cfg));
	cfg.struct_size = offsetof(struct vmm_config, log);
	cfg.backend = VMM_BACKEND_AUTO;
	cfg.ncpus = 4;
	cfg.flags = 0;
	cfg.ram_size = 1 << 20;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vm->cfg.struct_size, sizeof(cfg));
	assert_int_equal(vm->cfg.ncpus, 4);
	assert_null(vm->cfg.log);
	assert_null(vm->cfg.allocator);
	assert_null(vm->cfg.cpuid_filter);
	assert_int_equal(vm->cfg.log_level, VMM_LOG_WARN);
	assert_int_equal(vmm_mem_get_regions(vm, NULL, 0), 1);
	assert_int_equal(vmm_vcpu_create(vm, 3, &v), 0);
	assert_int_equal(vmm_vcpu_create(vm, 4, &v), -EINVAL);
	/* an error with the (garbage) log pointer not used: no crash */
	assert_int_equal(vmm_mem_remove(vm, 0x1000), -ENOENT);
	vmm_vm_destroy(vm);

	/* struct_size 0 means "current" */
	vmm_config_init(&cfg);
	cfg.struct_size = 0;
	cfg.ncpus = 2;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vm->cfg.ncpus, 2);
	vmm_vm_destroy(vm);

	/* NULL config: defaults */
	assert_int_equal(vmm__vm_create_null(NULL, &vm), 0);
	assert_int_equal(vm->cfg.ncpus, 1);
	assert_int_equal(vmm_mem_get_regions(vm, NULL, 0), 0);
	vmm_vm_destroy(vm);
}

static void test_config_ncpus(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *v;
	struct vmm_allocator half = { .alloc = NULL, .free = NULL };

	vmm_config_init(&cfg);
	cfg.ncpus = 0;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vm->cfg.ncpus, 1);
	assert_int_equal(vmm_vcpu_create(vm, 0, &v), 0);
	assert_int_equal(vmm_vcpu_create(vm, 1, &v), -EINVAL);
	vmm_vm_destroy(vm);

	cfg.ncpus = VMM_MAX_VCPUS;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_vcpu_create(vm, VMM_MAX_VCPUS - 1, &v), 0);
	assert_ptr_equal(vmm_vm_get_vcpu(vm, VMM_MAX_VCPUS - 1), v);
	assert_int_equal(vmm_vcpu_create(vm, VMM_MAX_VCPUS, &v), -EINVAL);
	vmm_vm_destroy(vm);

	/* invalid configurations leave *out alone */
	vm = SENTINEL;
	cfg.ncpus = VMM_MAX_VCPUS + 1;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	cfg.ncpus = UINT32_MAX;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	cfg.ncpus = 1;
	cfg.backend = (enum vmm_backend)9;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	cfg.backend = VMM_BACKEND_AUTO;
	cfg.ram_size = 0x1800;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	cfg.ram_size = 0;
	cfg.allocator = &half;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, SENTINEL);
	assert_int_equal(vmm__vm_create_null(NULL, NULL), -EINVAL);
	cfg.allocator = NULL;
	cfg.ncpus = VMM_MAX_VCPUS + 1;
	assert_int_equal(vmm_vm_create(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, SENTINEL);
}

static void test_errors(void **state)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
		{ 0, "OK" },		{ -EFAULT, "EFAULT" },
		{ -EINVAL, "EINVAL" },	{ -ENOMEM, "ENOMEM" },
		{ -EEXIST, "EEXIST" },	{ -ENOENT, "ENOENT" },
		{ -ENODEV, "ENODEV" },	{ -ENOSYS, "ENOSYS" },
		{ -E2BIG, "E2BIG" },	{ -EBUSY, "EBUSY" },
		{ -ETIMEDOUT, "ETIMEDOUT" }, { -EDEADLK, "EDEADLK" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_string_equal(vmm_err_name(names[i].err), names[i].name);
		/* the sign does not matter */
		assert_string_equal(vmm_err_name(-names[i].err), names[i].name);
		assert_string_not_equal(vmm_strerror(names[i].err),
					"unknown error");
		assert_ptr_equal(vmm_strerror(names[i].err),
				 vmm_strerror(-names[i].err));
	}
	assert_string_equal(vmm_strerror(0), "success");
	assert_string_equal(vmm_strerror(-EFAULT),
			    "guest address outside guest memory");
	assert_string_equal(vmm_strerror(-EEXIST), "already exists or overlaps");
	/* unknown codes, including the extremes */
	assert_string_equal(vmm_err_name(-9999), "E?");
	assert_string_equal(vmm_strerror(-9999), "unknown error");
	assert_string_equal(vmm_err_name(INT_MIN), "E?");
	assert_string_equal(vmm_strerror(INT_MIN), "unknown error");
	assert_string_equal(vmm_err_name(INT_MAX), "E?");
	assert_string_equal(vmm_strerror(INT_MAX), "unknown error");

	assert_int_equal(vmm_version(), LIBVMM_VERSION_NUMBER);
	char v[32];
	snprintf(v, sizeof(v), "%d.%d.%d", LIBVMM_VERSION_MAJOR,
		 LIBVMM_VERSION_MINOR, LIBVMM_VERSION_PATCH);
	assert_string_equal(vmm_version_string(), v);
	assert_string_equal(LIBVMM_VERSION_STRING, v);

	/* compile-time check against the generated version.h */
#if !LIBVMM_CHECK_VERSION(0, 1, 0)
#error "headers older than 0.1.0"
#endif
#if LIBVMM_CHECK_VERSION(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR + 1, 0)
#error "LIBVMM_CHECK_VERSION accepts a later minor"
#endif
	assert_true(LIBVMM_CHECK_VERSION(LIBVMM_VERSION_MAJOR,
					 LIBVMM_VERSION_MINOR,
					 LIBVMM_VERSION_PATCH));
	assert_false(LIBVMM_CHECK_VERSION(LIBVMM_VERSION_MAJOR,
					  LIBVMM_VERSION_MINOR,
					  LIBVMM_VERSION_PATCH + 1));
	/* run-time check: same ABI (0.x: same minor), patch not newer */
	assert_true(vmm_check_version(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR,
				      LIBVMM_VERSION_PATCH));
	assert_true(vmm_check_version(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR,
				      0));
	assert_false(vmm_check_version(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR,
				       LIBVMM_VERSION_PATCH + 1));
	assert_false(vmm_check_version(LIBVMM_VERSION_MAJOR,
				       LIBVMM_VERSION_MINOR + 1, 0));
	assert_false(vmm_check_version(LIBVMM_VERSION_MAJOR + 1, 0, 0));
	if (LIBVMM_VERSION_MAJOR == 0 && LIBVMM_VERSION_MINOR > 0)
		assert_false(vmm_check_version(0, LIBVMM_VERSION_MINOR - 1, 0));
}

struct logrec {
	int n, level;
	char msg[512];
	int errors, infos;
};

static void log_cb(void *opaque, int level, const char *msg)
{
	struct logrec *l = opaque;

	l->n++;
	l->level = level;
	if (level == VMM_LOG_ERROR)
		l->errors++;
	if (level == VMM_LOG_INFO)
		l->infos++;
	snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

static void test_last_error(void **state)
{
	struct vmm_config cfg;
	struct logrec l = { 0 };
	vmm_vm *vm;
	char buf[320], small[8];
	size_t n;

	vmm_config_init(&cfg);
	cfg.log = log_cb;
	cfg.log_opaque = &l;
	cfg.log_level = VMM_LOG_DEBUG;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(vmm_last_error(vm, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(l.errors, 0);

	assert_int_equal(vmm_mem_remove(vm, 0x5000), -ENOENT);
	n = vmm_last_error(vm, buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_non_null(strstr(buf, "0x5000"));
	assert_non_null(strstr(buf, "ENOENT"));
	/* the callback got the same message at VMM_LOG_ERROR */
	assert_int_equal(l.errors, 1);
	assert_int_equal(l.level, VMM_LOG_ERROR);
	assert_non_null(strstr(l.msg, "0x5000"));
	assert_memory_equal(buf, l.msg, strlen(l.msg));

	/* the next failure replaces it */
	assert_int_equal(vmm_mem_add_ram(vm, 0x123, 0x1000), -EINVAL);
	n = vmm_last_error(vm, buf, sizeof(buf));
	assert_null(strstr(buf, "0x5000"));
	assert_non_null(strstr(buf, "EINVAL"));
	assert_int_equal(l.errors, 2);
	assert_memory_equal(buf, l.msg, strlen(l.msg));

	/* truncation: NUL-terminated, full length returned */
	memset(small, 'x', sizeof(small));
	assert_int_equal(vmm_last_error(vm, small, sizeof(small)), n);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_memory_equal(small, buf, sizeof(small) - 1);
	small[0] = 'q';
	assert_int_equal(vmm_last_error(vm, small, 0), n);
	assert_int_equal(small[0], 'q');
	assert_int_equal(vmm_last_error(vm, NULL, 0), n);

	/* a successful call does not clear it */
	assert_int_equal(vmm_mem_add_ram(vm, 0, 0x1000), 0);
	assert_int_equal(vmm_last_error(vm, NULL, 0), n);
	vmm_vm_destroy(vm);

	/* log_level ERROR: errors only; no callback: nothing called */
	memset(&l, 0, sizeof(l));
	cfg.log_level = VMM_LOG_ERROR;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	vmm__log(vm, VMM_LOG_WARN, "warn %d", 1);
	vmm__log(vm, VMM_LOG_INFO, "info");
	assert_int_equal(l.n, 0);
	vmm__log(vm, VMM_LOG_ERROR, "err %d", 42);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.msg, "err 42");
	assert_int_equal(vmm__err(vm, -EIO, "disk %s", "gone"), -EIO);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.msg, "disk gone");
	vmm_last_error(vm, buf, sizeof(buf));
	assert_string_equal(buf, "disk gone (EIO)");
	vmm_vm_destroy(vm);

	cfg.log = NULL;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_mem_remove(vm, 0), -ENOENT);
	assert_true(vmm_last_error(vm, buf, sizeof(buf)) > 0);
	vmm_vm_destroy(vm);
}

struct terr {
	vmm_vm *vm;
	uint64_t gpa;
	pthread_barrier_t *bar;
	char own[320];
};

static void *terr_thread(void *p)
{
	struct terr *t = p;

	assert_int_equal(vmm_mem_remove(t->vm, t->gpa), -ENOENT);
	pthread_barrier_wait(t->bar); /* both have failed ... */
	vmm_last_error(t->vm, t->own, sizeof(t->own)); /* ... each reads its own */
	return NULL;
}

/* The last error is per thread (like errno), and a failure with no VM has
 * one too: vmm_vm_create() keeps its reason. */
static void test_thread_error(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm = SENTINEL;
	pthread_barrier_t bar;
	struct terr a = { .gpa = 0xa000 }, b = { .gpa = 0xb000 };
	pthread_t ta, tb;
	char buf[320];

	vmm_config_init(&cfg);
	cfg.ncpus = 1000;
	assert_int_equal(vmm_vm_create(&cfg, &vm), -EINVAL);
	assert_ptr_equal(vm, SENTINEL);
	vmm_last_error(NULL, buf, sizeof(buf));
	assert_non_null(strstr(buf, "ncpus 1000"));
	assert_non_null(strstr(buf, "EINVAL"));

	vmm_config_init(&cfg);
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	pthread_barrier_init(&bar, NULL, 2);
	a.vm = b.vm = vm;
	a.bar = b.bar = &bar;
	assert_int_equal(pthread_create(&ta, NULL, terr_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, terr_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&bar);
	assert_non_null(strstr(a.own, "0xa000"));
	assert_non_null(strstr(b.own, "0xb000"));
	/* this thread failed nothing on @vm: the VM's latest, from either */
	vmm_last_error(vm, buf, sizeof(buf));
	assert_true(strstr(buf, "0xa000") || strstr(buf, "0xb000"));
	/* ... and its own failure once it has one */
	assert_int_equal(vmm_mem_remove(vm, 0xc000), -ENOENT);
	vmm_last_error(vm, buf, sizeof(buf));
	assert_non_null(strstr(buf, "0xc000"));
	/* the no-VM message of this thread is still the create failure */
	vmm_last_error(NULL, buf, sizeof(buf));
	assert_non_null(strstr(buf, "ncpus 1000"));
	vmm_vm_destroy(vm);
	(void)state;
}

/* vmm_vm_create() keeps the probe's reason: with no file descriptor left,
 * opening /dev/kvm fails and the message says so. */
static void test_create_probe_reason(void **state)
{
#if VMM_HAVE_KVM
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };
		struct vmm_config cfg;
		vmm_vm *vm = NULL;
		char buf[320];
		int ret;

		vmm_config_init(&cfg);
		cfg.backend = VMM_BACKEND_KVM;
		/* an fd limit below every open fd: open() gets EMFILE */
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(3);
		ret = vmm_vm_create(&cfg, &vm);
		vmm_last_error(NULL, buf, sizeof(buf));
		if (ret >= 0 || !strstr(buf, "kvm backend") || !strstr(buf, "/dev/kvm"))
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
#endif
	(void)state;
}

/* The kick signal is configurable: bad ones are refused; on KVM the chosen
 * one gets the no-op handler (the default one is left alone) and really
 * kicks a vCPU out of a guest loop. */
#if VMM_HAVE_KVM /* -Dkvm=disabled -Dwerror: no unused helper */
static void *kick_later(void *p)
{
	usleep(50 * 1000);
	(void)vmm_vcpu_kick(p);
	return NULL;
}
#endif

static void test_kick_signal(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm = SENTINEL;
	char buf[320];
	const int bad[] = { SIGKILL, SIGSEGV, SIGINT, 9999, -1 };

	for (unsigned i = 0; i < VMM_ARRAY_SIZE(bad); i++) {
		vmm_config_init(&cfg);
		cfg.kick_signal = bad[i];
		assert_int_equal(vmm__vm_create_null(&cfg, &vm), -EINVAL);
		assert_ptr_equal(vm, SENTINEL);
		vmm_last_error(NULL, buf, sizeof(buf));
		assert_non_null(strstr(buf, "kick_signal"));
	}
#if VMM_HAVE_KVM
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction sa;
		struct vmm_cpu_state cs;
		struct vmm_exit e;
		vmm_vcpu *vcpu;
		pthread_t t;
		int ret;

		vmm_config_init(&cfg);
		cfg.backend = VMM_BACKEND_KVM;
		cfg.ram_size = 1 << 20;
		cfg.kick_signal = SIGRTMIN + 7;
		ret = vmm_vm_create(&cfg, &vm);
		if (ret == -ENODEV)
			_exit(0); /* no usable /dev/kvm: nothing to check */
		if (ret)
			_exit(2);
		if (sigaction(SIGRTMIN + 7, NULL, &sa) || sa.sa_handler == SIG_DFL)
			_exit(3);
		if (sigaction(SIGRTMIN + 5, NULL, &sa) || sa.sa_handler != SIG_DFL)
			_exit(4);
		/* jmp $ at 0:0 in real mode, kicked out after 50 ms */
		if (vmm_vcpu_create(vm, 0, &vcpu) ||
		    vmm_mem_write(vm, 0x1000, "\xeb\xfe", 2))
			_exit(5);
		vmm_state_reset(&cs, true);
		vmm_state_flat_real(&cs, 0, 0x1000, 0x800);
		if (vmm_vcpu_set_state(vcpu, &cs) ||
		    pthread_create(&t, NULL, kick_later, vcpu))
			_exit(6);
		ret = vmm_vcpu_run(vcpu, &e);
		pthread_join(t, NULL);
		if (ret || e.kind != VMM_EXIT_INTERRUPTED)
			_exit(7);
		vmm_vm_destroy(vm);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
#endif
	(void)state;
}

static void test_vcpu_create(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *v0, *v1, *x = (vmm_vcpu *)(uintptr_t)0x77;
	char buf[200];

	vmm_config_init(&cfg);
	cfg.ncpus = 2;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_null(vmm_vm_get_vcpu(vm, 0));
	assert_int_equal(vmm_vcpu_create(vm, 2, &x), -EINVAL);
	assert_ptr_equal(x, (vmm_vcpu *)(uintptr_t)0x77);
	vmm_last_error(vm, buf, sizeof(buf));
	assert_non_null(strstr(buf, "out of range"));
	assert_int_equal(vmm_vcpu_create(vm, UINT32_MAX, &x), -EINVAL);
	assert_int_equal(vmm_vcpu_create(vm, 1, &v1), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &v0), 0);
	assert_ptr_not_equal(v0, v1);
	assert_int_equal(vmm_vcpu_create(vm, 1, &x), -EEXIST);
	assert_ptr_equal(x, (vmm_vcpu *)(uintptr_t)0x77);
	assert_ptr_equal(vmm_vm_get_vcpu(vm, 0), v0);
	assert_ptr_equal(vmm_vm_get_vcpu(vm, 1), v1);
	assert_null(vmm_vm_get_vcpu(vm, VMM_MAX_VCPUS));
	assert_null(vmm_vm_get_vcpu(NULL, 0));
	assert_int_equal(vmm_vcpu_index(v1), 1);
	assert_ptr_equal(vmm_vcpu_vm(v1), vm);
	assert_int_equal(vmm_vcpu_create(vm, 0, NULL), -EINVAL);
	assert_int_equal(vmm_vcpu_create(NULL, 0, &x), -EINVAL);

	/* the null backend cannot run */
	struct vmm_exit ex;
	memset(&ex, 0, sizeof(ex));
	assert_int_equal(vmm_vcpu_run(v0, &ex), -ENOSYS);
	assert_int_equal(vmm_vcpu_run_loop(v0, &ex), -ENOSYS);
	vmm_last_error(vm, buf, sizeof(buf));
	assert_non_null(strstr(buf, "ENOSYS"));
	assert_int_equal(vmm_vcpu_set_single_step(v0, true), -ENOTSUP);
	assert_int_equal(vmm_irq_set_line(vm, 4, 1), -ENODEV);
	assert_int_equal(vmm_irq_send_msi(vm, 0xfee00000, 0x30), -ENODEV);
	assert_int_equal(vmm_irq_send_msi(vm, 0xfed00000, 0x30), -EINVAL);
	assert_int_equal(vmm_vcpu_kick(v0), 0);
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
	assert_int_equal(st.vcpus, 2);
	assert_int_equal(st.exits, 0);
	vmm_vm_destroy(vm);
}

static void test_state(void **state)
{
	vmm_vm *vm;
	vmm_vcpu *v0, *v1;
	struct vmm_cpu_state st, st2, orig;

	struct vmm_config cfg;
	vmm_config_init(&cfg);
	cfg.ncpus = 2;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	assert_int_equal(vmm_vcpu_create(vm, 0, &v0), 0);
	assert_int_equal(vmm_vcpu_create(vm, 1, &v1), 0);

	/* the architectural reset state */
	memset(&st, 0xcc, sizeof(st));
	assert_int_equal(vmm_vcpu_get_state(v0, &st), 0);
	assert_int_equal(st.version, VMM_CPU_STATE_VERSION);
	assert_int_equal(st.cr0, 0x60000010);
	assert_int_equal(st.rip, 0xfff0);
	assert_int_equal(st.rflags, 2);
	assert_int_equal(st.seg[VMM_CS].selector, 0xf000);
	assert_int_equal(st.seg[VMM_CS].base, 0xffff0000);
	assert_int_equal(st.mp_state, VMM_MP_RUNNABLE);
	assert_int_equal(st.msr.apic_base & 0xfffff000, 0xfee00000);
	assert_true(st.msr.apic_base & (1u << 8)); /* BSP */
	assert_int_equal(vmm_vcpu_get_state(v1, &st2), 0);
	assert_int_equal(st2.mp_state, VMM_MP_INIT_RECEIVED);
	assert_false(st2.msr.apic_base & (1u << 8));
	orig = st;

	/* round trip of a state touching every part */
	for (int i = 0; i < VMM_NR_GPRS; i++)
		st.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1);
	st.rip = 0xffffffff81000000ull;
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IF | VMM_RFLAGS_ZF;
	st.seg[VMM_CS] = (struct vmm_segment){ .base = 0, .limit = 0xffffffff,
		.selector = 0x10, .type = 0xb, .s = 1, .present = 1, .l = 1,
		.g = 1 };
	st.seg[VMM_FS].base = 0x7f0000001000ull;
	st.gdtr = (struct vmm_dtable){ .base = 0x1000, .limit = 0x27 };
	st.cr0 = 0x80050033;
	st.cr3 = 0x1234000;
	st.cr4 = 0x3406a0;
	st.cr2 = 0xdeadbeef;
	st.dr7 = 0x400;
	st.msr.efer = 0xd01;
	st.msr.lstar = 0xffffffff81a00000ull;
	st.msr.tsc = 123456789;
	st.fpu.mxcsr = 0x1f80;
	st.fpu.xmm[7][3] = 0x42;
	st.fpu.ymmh[15][15] = 0x99;
	st.events.exception_pending = 1;
	st.events.exception_nr = 14;
	st.events.exception_payload = 0xdead000;
	st.lapic[0x20 + 3] = 0x5;
	st.lapic[1023] = 0xee;
	st.mp_state = VMM_MP_HALTED;
	assert_int_equal(vmm_vcpu_set_state(v0, &st), 0);
	memset(&st2, 0, sizeof(st2));
	assert_int_equal(vmm_vcpu_get_state(v0, &st2), 0);
	assert_memory_equal(&st, &st2, sizeof(st));
	/* the other vCPU is unaffected */
	assert_int_equal(vmm_vcpu_get_state(v1, &st2), 0);
	assert_int_equal(st2.rip, orig.rip);

	/* a wrong version or mp_state is refused and changes nothing */
	struct vmm_cpu_state bad = orig;
	bad.version = VMM_CPU_STATE_VERSION + 1;
	assert_int_equal(vmm_vcpu_set_state(v0, &bad), -EINVAL);
	bad.version = 0;
	assert_int_equal(vmm_vcpu_set_state(v0, &bad), -EINVAL);
	bad.version = VMM_CPU_STATE_VERSION;
	bad.mp_state = 17;
	assert_int_equal(vmm_vcpu_set_state(v0, &bad), -EINVAL);
	assert_int_equal(vmm_vcpu_get_state(v0, &st2), 0);
	assert_memory_equal(&st, &st2, sizeof(st));
	char buf[200];
	vmm_last_error(vm, buf, sizeof(buf));
	assert_non_null(strstr(buf, "mp_state"));

	assert_int_equal(vmm_vcpu_get_state(NULL, &st2), -EINVAL);
	assert_int_equal(vmm_vcpu_get_state(v0, NULL), -EINVAL);
	assert_int_equal(vmm_vcpu_set_state(v0, NULL), -EINVAL);
	vmm_vm_destroy(vm);
}

static void test_names(void **state)
{
	static const char *const caps[] = {
		"irqchip", "pit", "ioeventfd", "irqfd", "dirty-log",
		"dirty-ring", "guest-debug", "xsave", "msi", "immediate-exit",
		"readonly-mem", "sync-regs", "msr-exit", "coalesced-io",
		"deterministic", "tsc-control",
	};
	vmm_vm *vm;

	vmm_vm_destroy(NULL);
	assert_string_equal(vmm_backend_name(VMM_BACKEND_AUTO), "auto");
	assert_string_equal(vmm_backend_name(VMM_BACKEND_KVM), "kvm");
	assert_string_equal(vmm_backend_name(VMM_BACKEND_SOFT), "soft");
	assert_string_equal(vmm_backend_name((enum vmm_backend)3), "?");
	assert_string_equal(vmm_backend_name((enum vmm_backend)-1), "?");

	for (unsigned i = 0; i < 16; i++)
		assert_string_equal(vmm_cap_name(1ull << i), caps[i]);
	assert_string_equal(vmm_cap_name(VMM_CAP_IOEVENTFD), "ioeventfd");
	assert_string_equal(vmm_cap_name(VMM_CAP_TSC_CONTROL), "tsc-control");
	assert_string_equal(vmm_cap_name(0), "?");
	assert_string_equal(vmm_cap_name(VMM_CAP_PIT | VMM_CAP_MSI), "?");
	assert_string_equal(vmm_cap_name(VMM_CAP_INSN_LIMIT), "insn-limit");
	assert_string_equal(vmm_cap_name(1ull << 17), "?");
	assert_string_equal(vmm_cap_name(1ull << 63), "?");

	assert_string_equal(vmm_exit_name(VMM_EXIT_IO), "io");
	assert_string_equal(vmm_exit_name(VMM_EXIT_GUEST_EXIT), "guest-exit");
	assert_string_equal(vmm_exit_name(VMM_EXIT_INSN_LIMIT), "insn-limit");
	assert_string_equal(vmm_exit_name(VMM_EXIT__COUNT), "?");
	assert_string_equal(vmm_exit_name((enum vmm_exit_kind)-1), "?");

	/* null-backend VM: memory capabilities, nothing missing */
	assert_int_equal(vmm__vm_create_null(NULL, &vm), 0);
	assert_int_equal(vmm_vm_caps(vm),
			 VMM_CAP_READONLY_MEM | VMM_CAP_DIRTY_LOG);
	assert_int_equal(vmm_vm_missing_caps(vm), 0);
	vmm_vm_destroy(vm);
	assert_int_equal(vmm_vm_caps(NULL), 0);
	assert_int_equal(vmm_vm_backend(NULL), VMM_BACKEND_AUTO);

	/* probing an unavailable backend explains why */
	char why[128] = "";
	int ret = vmm_backend_probe(VMM_BACKEND_SOFT, why, sizeof(why));
	if (ret) {
		assert_int_equal(ret, -ENODEV);
		assert_true(strlen(why) > 0);
		assert_int_equal(vmm_backend_available(VMM_BACKEND_SOFT), ret);
	}
}

static int nop_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	return 0;
}

static const struct vmm_io_ops nop_ops = { NULL, nop_write };

/* All the steps an embedder takes, each of which allocates. */
static int build_all(struct failalloc *fa, vmm_vm **out, vmm_dev **dev)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *v;
	int ret;

	vmm_config_init(&cfg);
	cfg.allocator = &fa->a;
	cfg.ncpus = 2;
	cfg.ram_size = 16 << 20;
	ret = vmm__vm_create_null(&cfg, &vm);
	if (ret)
		return ret;
	*out = vm;
	if ((ret = vmm_vcpu_create(vm, 0, &v)) ||
	    (ret = vmm_vcpu_create(vm, 1, &v)))
		return ret;
	/* enough ranges to make the bus array grow past its first size */
	for (int i = 0; i < 20; i++) {
		ret = vmm_bus_register(vm, VMM_SPACE_MMIO,
				       0xd0000000 + i * 0x1000, 0x1000,
				       &nop_ops, NULL, "nop");
		if (ret)
			return ret;
	}
	ret = vmm_debug_exit_attach(vm, 0xf4, 4, dev);
	if (ret)
		return ret;
	return vmm_mem_add_ram(vm, 1ull << 32, 1 << 20);
}

static void test_failalloc(void **state)
{
	struct failalloc fa;
	bool done = false;
	long n;

	for (n = 0; n < 2000 && !done; n++) {
		vmm_vm *vm = NULL;
		vmm_dev *dev = NULL;
		int ret;

		failalloc_init(&fa, n);
		ret = build_all(&fa, &vm, &dev);
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(fa.failed);
		} else {
			struct vmm_vm_stats st = {
				.struct_size = sizeof(st)
			};
			uint32_t d = 7;

			/* the result is fully usable */
			assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
			assert_int_equal(st.vcpus, 2);
			assert_int_equal(st.devices, 1);
			assert_int_equal(st.ram_bytes, (16 << 20) + (1 << 20));
			assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, 0xf4,
							&d, 4, false), 0);
			assert_int_equal(d, 0xffffffff);
			done = !fa.failed;
		}
		if (vm) {
			/* failures left the VM consistent */
			struct vmm_vm_stats st = {
				.struct_size = sizeof(st)
			};
			assert_int_equal(vmm_vm_get_stats(vm, &st), 0);
			assert_true(st.devices <= 1);
		}
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
	}
	assert_true(done);
	assert_true(n > 10);
}

static int count_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *exit)
{
	(*(int *)opaque)++;
	return 1;
}

static void test_threads(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm;
	vmm_vcpu *v;
	int calls = 0;

	vmm_config_init(&cfg);
	cfg.ncpus = 3;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(vmm_vcpu_create(vm, i, &v), 0);
	/* every vCPU thread fails at once: the VM stops with that error */
	assert_int_equal(vmm_vm_start(vm, count_cb, &calls), 0);
	assert_int_equal(vmm_vm_start(vm, count_cb, &calls), -EBUSY);
	assert_int_equal(vmm_vm_wait(vm, 5000), -ENOSYS);
	assert_int_equal(calls, 0); /* failures are not exits */
	/* after the wait, stop is a no-op and the VM can start again */
	assert_int_equal(vmm_vm_stop(vm), 0);
	assert_int_equal(vmm_vm_wait(vm, 0), -EINVAL); /* not started */
	assert_int_equal(vmm_vm_start(vm, count_cb, &calls), 0);
	assert_int_equal(vmm_vm_stop(vm), 0);
	assert_int_equal(vmm_vm_stop(vm), 0);
	assert_int_equal(vmm_vm_start(vm, NULL, NULL), -EINVAL);
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_init),
		cmocka_unit_test(test_config_old_struct),
		cmocka_unit_test(test_config_ncpus),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_last_error),
		cmocka_unit_test(test_thread_error),
		cmocka_unit_test(test_create_probe_reason),
		cmocka_unit_test(test_kick_signal),
		cmocka_unit_test(test_vcpu_create),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_failalloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
