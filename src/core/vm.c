/* SPDX-License-Identifier: MIT */
/*
 * vm.c - VM creation and destruction, backend selection, capabilities,
 * accounting and the interrupt calls.
 */
#include "core/vm_impl.h"
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

extern const struct vmm_backend_ops vmm_null_ops;

void vmm_config_init(struct vmm_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->backend = VMM_BACKEND_AUTO;
	cfg->ncpus = 1;
	cfg->log_level = VMM_LOG_WARN;
}

const char *vmm_backend_name(enum vmm_backend b)
{
	switch (b) {
	case VMM_BACKEND_AUTO:
		return "auto";
	case VMM_BACKEND_KVM:
		return "kvm";
	case VMM_BACKEND_SOFT:
		return "soft";
	}
	return "?";
}

static const struct vmm_backend_ops *backend_ops(enum vmm_backend b)
{
	switch (b) {
#if VMM_HAVE_KVM
	case VMM_BACKEND_KVM:
		return &vmm_kvm_ops;
#endif
	case VMM_BACKEND_SOFT:
		return &vmm_soft_ops;
	default:
		return NULL;
	}
}

int vmm_backend_probe(enum vmm_backend b, char *why, size_t len)
{
	const struct vmm_backend_ops *ops;
	char tmp[128];

	if (!why || !len) {
		why = tmp;
		len = sizeof(tmp);
	}
	why[0] = 0;
	if (b == VMM_BACKEND_AUTO) {
		if (vmm_backend_probe(VMM_BACKEND_KVM, why, len) == 0)
			return 0;
		return vmm_backend_probe(VMM_BACKEND_SOFT, why, len);
	}
	ops = backend_ops(b);
	if (!ops) {
		snprintf(why, len, "backend '%s' is not built into this libvmm",
			 vmm_backend_name(b));
		return -ENODEV;
	}
	return ops->probe(why, len);
}

int vmm_backend_available(enum vmm_backend b)
{
	return vmm_backend_probe(b, NULL, 0);
}

static int copy_config(const struct vmm_config *in, struct vmm_config *c)
{
	vmm_config_init(c);
	if (!in)
		return 0;
	if (VMM__STRUCT_IN(c, in))
		return vmm__err_cfg(in, -EINVAL, "struct vmm_config: bad "
				    "struct_size %u or unknown non-zero fields "
				    "(from a newer libvmm?)", in->struct_size);
	if (!c->ncpus)
		c->ncpus = 1;
	if (c->ncpus > VMM_MAX_VCPUS)
		return vmm__err_cfg(c, -EINVAL, "ncpus %u: at most %u",
				    c->ncpus, VMM_MAX_VCPUS);
	if (c->backend > VMM_BACKEND_SOFT)
		return vmm__err_cfg(c, -EINVAL, "unknown backend %u",
				    (unsigned)c->backend);
	if (!VMM_IS_ALIGNED(c->ram_size, VMM_PAGE_SIZE))
		return vmm__err_cfg(c, -EINVAL, "ram_size %#llx is not a "
				    "multiple of the page size",
				    (unsigned long long)c->ram_size);
	if (c->kick_signal &&
	    !(c->kick_signal >= SIGRTMIN && c->kick_signal <= SIGRTMAX) &&
	    c->kick_signal != SIGUSR1 && c->kick_signal != SIGUSR2)
		return vmm__err_cfg(c, -EINVAL, "kick_signal %d: use a real-time "
				    "signal or SIGUSR1/SIGUSR2", c->kick_signal);
	if (c->allocator && (!c->allocator->alloc || !c->allocator->free))
		return vmm__err_cfg(c, -EINVAL, "allocator without alloc or "
				    "free");
	if (c->cpu_model > VMM_CPU_MAX)
		return vmm__err_cfg(c, -EINVAL, "unknown cpu_model %u",
				    c->cpu_model);
	if (c->cpuid_add_count > VMM_CPUID_ADD_MAX ||
	    (c->cpuid_add_count && !c->cpuid_add))
		return vmm__err_cfg(c, -EINVAL, "cpuid_add: %u leaves (at most "
				    "%u, and a NULL array only with 0)",
				    c->cpuid_add_count, VMM_CPUID_ADD_MAX);
	if (!c->cpuid_add_count)
		c->cpuid_add = NULL;
	if (c->irqchip > VMM_IRQCHIP_NONE)
		return vmm__err_cfg(c, -EINVAL, "unknown irqchip mode %u",
				    c->irqchip);
	/* the older flag and the mode mean the same; keep both in step */
	if (c->irqchip == VMM_IRQCHIP_NONE)
		c->flags |= VMM_CFG_NO_IRQCHIP;
	else if (c->flags & VMM_CFG_NO_IRQCHIP)
		c->irqchip = VMM_IRQCHIP_NONE;
	return 0;
}

const char *vmm_cpu_model_name(enum vmm_cpu_model model)
{
	switch (model) {
	case VMM_CPU_DEFAULT: return "default";
	case VMM_CPU_BASELINE: return "baseline";
	case VMM_CPU_HOST: return "host";
	case VMM_CPU_MAX: return "max";
	}
	return NULL;
}

int vmm_cpu_model_parse(const char *name, enum vmm_cpu_model *out)
{
	for (int m = VMM_CPU_DEFAULT; m <= VMM_CPU_MAX; m++) {
		if (name && out &&
		    !strcmp(name, vmm_cpu_model_name((enum vmm_cpu_model)m))) {
			*out = (enum vmm_cpu_model)m;
			return 0;
		}
	}
	return -EINVAL;
}

#define GIB (1ull << 30)

static int add_default_ram(vmm_vm *vm)
{
	uint64_t below = vm->cfg.ram_size < 3 * GIB ? vm->cfg.ram_size : 3 * GIB;
	int ret;

	ret = vmm_mem_add_ram(vm, 0, below);
	if (ret == 0 && vm->cfg.ram_size > below)
		ret = vmm_mem_add_ram(vm, 4 * GIB, vm->cfg.ram_size - below);
	return ret;
}

static void vm_free(vmm_vm *vm)
{
	const struct vmm_allocator *a = vm->cfg.allocator;

	if (vm->cfg.cpuid_add)
		vmm__free_with(a, (void *)vm->cfg.cpuid_add);
	vmm__bus_fini(vm, &vm->bus[0]);
	vmm__bus_fini(vm, &vm->bus[1]);
	pthread_mutex_destroy(&vm->dev_lock);
	pthread_mutex_destroy(&vm->err_lock);
	pthread_mutex_destroy(&vm->run_lock);
	pthread_cond_destroy(&vm->run_cond);
	vmm__free_with(a, vm);
}

static int vm_create(const struct vmm_config *cfg,
		     const struct vmm_backend_ops *ops, vmm_vm **out)
{
	struct vmm_config c;
	vmm_vm *vm;
	int ret;

	if (!out)
		return vmm__err_cfg(cfg, -EINVAL, "vmm_vm_create: NULL out");
	ret = copy_config(cfg, &c);
	if (ret)
		return ret;
	if (!ops) {
		enum vmm_backend b = c.backend;
		char why[128] = "";

		if (b == VMM_BACKEND_AUTO)
			b = vmm_backend_available(VMM_BACKEND_KVM) == 0 ?
				    VMM_BACKEND_KVM : VMM_BACKEND_SOFT;
		/* keep the probe's reason: vmm_last_error(NULL, ...) and the
		 * log callback say why the backend is not usable */
		ret = vmm_backend_probe(b, why, sizeof(why));
		if (ret)
			return vmm__err_cfg(&c, ret, "%s backend: %s",
					    vmm_backend_name(b),
					    why[0] ? why : "not available");
		ops = backend_ops(b);
		if (!ops)
			return vmm__err_cfg(&c, -ENODEV, "%s backend: not built "
					    "into this libvmm",
					    vmm_backend_name(b));
	}

	vm = vmm__alloc_with(c.allocator, sizeof(*vm));
	if (!vm)
		return vmm__err_cfg(&c, -ENOMEM, "vmm_vm_create: out of memory");
	vm->cfg = c;
	vm->cfg.cpuid_add = NULL; /* set below to the VM's own copy */
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		vm->err_serial = ((uint64_t)ts.tv_sec * 1000000000u +
				  (uint64_t)ts.tv_nsec) ^ (uintptr_t)vm;
	}
	vm->ops = ops;
	pthread_mutex_init(&vm->dev_lock, NULL);
	pthread_mutex_init(&vm->err_lock, NULL);
	pthread_mutex_init(&vm->run_lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	if ((ret = vmm_gmem_init(&vm->mem)) ||
	    (ret = vmm__bus_init(&vm->bus[0])) ||
	    (ret = vmm__bus_init(&vm->bus[1]))) {
		vm_free(vm);
		return ret;
	}
	if (c.cpuid_add) {
		size_t n = c.cpuid_add_count * sizeof(*c.cpuid_add);
		struct vmm_cpuid_leaf *copy = vmm__alloc_with(c.allocator, n);
		if (!copy) {
			vmm_gmem_fini(vm, &vm->mem);
			vm_free(vm);
			return -ENOMEM;
		}
		memcpy(copy, c.cpuid_add, n);
		vm->cfg.cpuid_add = copy;
	}
	ret = ops->vm_init(vm);
	if (ret) {
		vmm__err_forget_vm(vm);
		vmm_gmem_fini(vm, &vm->mem);
		vm_free(vm);
		return ret;
	}
	if (c.ram_size && !(c.flags & VMM_CFG_NO_DEFAULT_RAM)) {
		ret = add_default_ram(vm);
		if (ret) {
			vmm__err_forget_vm(vm);
			vmm_vm_destroy(vm);
			return ret;
		}
	}
	for (uint64_t bit = 1; bit; bit <<= 1)
		if (vm->missing_caps & bit)
			vmm__log(vm, VMM_LOG_INFO,
				 "%s backend: capability '%s' not available",
				 ops->name, vmm_cap_name(bit));
	*out = vm;
	return 0;
}

int vmm_vm_create(const struct vmm_config *cfg, vmm_vm **out)
{
	return vm_create(cfg, NULL, out);
}

int vmm__vm_create_null(const struct vmm_config *cfg, vmm_vm **out)
{
	return vm_create(cfg, &vmm_null_ops, out);
}

/* What closes fds and unmaps: the part an async teardown hands off. */
static void vm_release(vmm_vm *vm)
{
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		if (!vm->vcpus[i])
			continue;
		vm->ops->vcpu_fini(vm->vcpus[i]);
		vmm__free(vm, vm->vcpus[i]);
		vm->vcpus[i] = NULL;
	}
	/*
	 * The backend goes first, without mem_unmap per region: closing the
	 * KVM VM drops every memslot at once, where deleting them one by one
	 * costs an ioctl and an SRCU grace period each (~10 ms here, as much
	 * as creating the VM).  Guest memory is unmapped after that.
	 */
	vm->ops->vm_fini(vm);
	vmm_gmem_fini(vm, &vm->mem);
	vm_free(vm);
}

static void *reaper_main(void *arg)
{
	vmm_vm *vm = arg;
	void (*done)(void *) = vm->cfg.teardown_done;
	void *opaque = vm->cfg.teardown_opaque;

	vm_release(vm);
	if (done)
		done(opaque);
	return NULL;
}

/*
 * VMM_CFG_ASYNC_TEARDOWN: a detached thread of this VM's own does
 * vm_release().  Returns false (the caller releases synchronously) when
 * the thread cannot be started.  No signal reaches the reaper: it blocks
 * them all, as the vCPU threads' kick signal must not interrupt it.
 */
static bool release_async(vmm_vm *vm)
{
	pthread_attr_t attr;
	sigset_t all, old;
	pthread_t t;
	bool ok;

	if (pthread_attr_init(&attr))
		return false;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 << 10);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ok = pthread_create(&t, &attr, reaper_main, vm) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return ok;
}

void vmm_vm_destroy(vmm_vm *vm)
{
	if (!vm)
		return;
	/* post-copy: end the destination's fault service first */
	if (vm->mig_fini)
		vm->mig_fini(vm->mig);
	vm->mig_fini = NULL;
	vm->mig = NULL;
	vmm_vm_stop(vm);
	vmm__dev_detach_all(vm);
	vmm__notify_fini(vm);
	if (vm->cfg.flags & VMM_CFG_ASYNC_TEARDOWN) {
		void (*done)(void *) = vm->cfg.teardown_done;
		void *opaque = vm->cfg.teardown_opaque;

		/* after the return the embedder may free its log context */
		vm->cfg.log = NULL;
		if (release_async(vm))
			return;
		vm_release(vm);
		if (done)
			done(opaque);
		return;
	}
	vm_release(vm);
}

void vmm__vm_set_migrate(vmm_vm *vm, void *state, void (*fini)(void *))
{
	pthread_mutex_lock(&vm->run_lock);
	vm->mig = state;
	vm->mig_fini = state ? fini : NULL;
	pthread_mutex_unlock(&vm->run_lock);
}

void *vmm__vm_migrate(vmm_vm *vm)
{
	void *p;

	pthread_mutex_lock(&vm->run_lock);
	p = vm->mig;
	pthread_mutex_unlock(&vm->run_lock);
	return p;
}

void vmm__vm_set_sender(vmm_vm *vm, void *sender)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->mig_sender = sender;
	pthread_mutex_unlock(&vm->run_lock);
}

int vmm__vm_with_sender(vmm_vm *vm, int (*fn)(void *sender, void *arg),
			void *arg)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&vm->run_lock);
	if (vm->mig_sender)
		ret = fn(vm->mig_sender, arg);
	pthread_mutex_unlock(&vm->run_lock);
	return ret;
}

void vmm__vm_set_resume_block(vmm_vm *vm, const char *why)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->resume_block = why;
	pthread_mutex_unlock(&vm->run_lock);
}

void vmm__vm_set_poison(vmm_vm *vm, const char *why)
{
	pthread_mutex_lock(&vm->run_lock);
	vm->poison_why = why;
	atomic_store(&vm->poisoned, why != NULL);
	pthread_mutex_unlock(&vm->run_lock);
}

int vmm__vm_poison_check(vmm_vm *vm, const char *op)
{
	const char *why;

	if (!atomic_load_explicit(&vm->poisoned, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&vm->run_lock);
	why = vm->poison_why;
	pthread_mutex_unlock(&vm->run_lock);
	if (!why)
		return 0;
	return vmm__err(vm, -ENOTRECOVERABLE,
			"%s: the VM's state is unusable (%s); reset it from a "
			"snapshot (vmm_snapshot_reset()) or destroy it", op, why);
}

enum vmm_backend vmm_vm_backend(const vmm_vm *vm)
{
	return vm ? vm->ops->kind : VMM_BACKEND_AUTO;
}

enum vmm_irqchip_mode vmm_vm_irqchip(const vmm_vm *vm)
{
	return vm ? vm->irqchip_mode : VMM_IRQCHIP_NONE;
}

const char *vmm_irqchip_name(enum vmm_irqchip_mode mode)
{
	switch (mode) {
	case VMM_IRQCHIP_DEFAULT: return "default";
	case VMM_IRQCHIP_KERNEL: return "kernel";
	case VMM_IRQCHIP_SPLIT: return "split";
	case VMM_IRQCHIP_NONE: return "none";
	}
	return "?";
}

uint64_t vmm_vm_caps(const vmm_vm *vm)
{
	return vm ? vm->caps : 0;
}

uint64_t vmm_vm_missing_caps(const vmm_vm *vm)
{
	return vm ? vm->missing_caps : 0;
}

const char *vmm_cap_name(uint64_t cap)
{
	static const char *const names[] = {
		"irqchip",	 "pit",		  "ioeventfd",	  "irqfd",
		"dirty-log",	 "dirty-ring",	  "guest-debug",  "xsave",
		"msi",		 "immediate-exit", "readonly-mem", "sync-regs",
		"msr-exit",	 "coalesced-io",  "deterministic", "tsc-control",
		"insn-limit",
	};
	for (unsigned i = 0; i < VMM_ARRAY_SIZE(names); i++)
		if (cap == 1ull << i)
			return names[i];
	return "?";
}

int vmm_vm_get_stats(vmm_vm *vm, struct vmm_vm_stats *ust)
{
	struct vmm_vm_stats s, *st = &s;

	if (!vm || !ust)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->struct_size = sizeof(*st);
	st->exits = atomic_load(&vm->exits);
	st->io_exits = atomic_load(&vm->io_exits);
	st->mmio_exits = atomic_load(&vm->mmio_exits);
	st->unhandled_io = atomic_load(&vm->unhandled_io);
	st->host_bytes = atomic_load(&vm->host_bytes);
	pthread_rwlock_rdlock(&vm->mem.lock);
	for (int i = 0; i < vm->mem.n; i++)
		st->ram_bytes += vm->mem.r[i]->size;
	pthread_rwlock_unlock(&vm->mem.lock);
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++)
		st->vcpus += vm->vcpus[i] != NULL;
	pthread_mutex_lock(&vm->dev_lock);
	for (struct vmm_dev *d = vm->devices; d; d = d->next)
		st->devices++;
	pthread_mutex_unlock(&vm->dev_lock);
	return vmm__struct_out(ust, &s, sizeof(s), VMM__VM_STATS_V02);
}

int vmm_irq_set_line(vmm_vm *vm, uint32_t gsi, int level)
{
	if (!vm)
		return -EINVAL;
	if (!vm->ops->irq_line)
		return -ENODEV;
	return vm->ops->irq_line(vm, gsi, level ? 1 : 0);
}

int vmm_irq_send_msi(vmm_vm *vm, uint64_t addr, uint32_t data)
{
	if (!vm)
		return -EINVAL;
	if ((addr & 0xfff00000ull) != 0xfee00000ull || (addr >> 32))
		return vmm__err(vm, -EINVAL, "MSI address 0x%llx not in 0xfeexxxxx",
				(unsigned long long)addr);
	if (!vm->ops->msi)
		return -ENODEV;
	return vm->ops->msi(vm, addr, data);
}

uint64_t vmm__ram_below_4g(vmm_vm *vm)
{
	uint64_t n = 0;

	pthread_rwlock_rdlock(&vm->mem.lock);
	for (int i = 0; i < vm->mem.n; i++) {
		struct vmm_gmem_region *r = vm->mem.r[i];
		if (r->flags & VMM_MEM_READONLY) /* ROM is not RAM */
			continue;
		if (r->gpa < 4 * GIB)
			n += (r->gpa + r->size > 4 * GIB ? 4 * GIB - r->gpa
							 : r->size);
	}
	pthread_rwlock_unlock(&vm->mem.lock);
	return n;
}

uint64_t vmm__ram_above_4g(vmm_vm *vm)
{
	uint64_t n = 0;

	pthread_rwlock_rdlock(&vm->mem.lock);
	for (int i = 0; i < vm->mem.n; i++) {
		struct vmm_gmem_region *r = vm->mem.r[i];
		if (r->flags & VMM_MEM_READONLY)
			continue;
		if (r->gpa + r->size > 4 * GIB)
			n += r->gpa >= 4 * GIB ? r->size
					       : r->gpa + r->size - 4 * GIB;
	}
	pthread_rwlock_unlock(&vm->mem.lock);
	return n;
}
