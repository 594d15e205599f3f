/* SPDX-License-Identifier: MIT */
/*
 * kvm_vm.c - the KVM backend's VM: probing /dev/kvm and its capabilities,
 * creating the VM with its interrupt controllers (in-kernel, split or
 * none), memslots, dirty log,
 * interrupt lines and MSIs.  Raw ioctls only.
 */
#include "cpu/kvm/kvm.h"
#include "core/cpumodel.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do {
		r = ioctl(fd, req, arg);
	} while (r < 0 && errno == EINTR && req != KVM_RUN);
	return r < 0 ? -errno : r;
}

static int kvm_probe(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int v;

	if (fd < 0) {
		int e = errno;
		snprintf(why, len, "/dev/kvm: %s", strerror(e));
		return e == ENOENT ? -ENODEV : -e;
	}
	v = ioctl(fd, KVM_GET_API_VERSION, 0);
	close(fd);
	if (v != KVM_API_VERSION) {
		snprintf(why, len, "KVM API version %d, need %d", v,
			 KVM_API_VERSION);
		return -ENODEV;
	}
	return 0;
}

static int check_ext(struct kvm_vm *k, int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

/* The kick signal: a no-op handler so the signal only interrupts KVM_RUN.
 * Installed once per process if the signal is still at its default. */
static void kick_handler(int sig)
{
	(void)sig;
}

static int setup_kick_signal(vmm_vm *vm, struct kvm_vm *k)
{
	struct sigaction sa, old;

	k->kick_signal = vm->cfg.kick_signal ? vm->cfg.kick_signal
					     : SIGRTMIN + 5;
	if (sigaction(k->kick_signal, NULL, &old) < 0)
		return vmm__err(vm, -errno, "sigaction: %s", strerror(errno));
	if (old.sa_handler == kick_handler)
		return 0;
	if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
		vmm__log(vm, VMM_LOG_WARN,
			 "signal %d has a handler; kicks rely on it returning",
			 k->kick_signal);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(k->kick_signal, &sa, NULL) < 0)
		return vmm__err(vm, -errno, "sigaction: %s", strerror(errno));
	return 0;
}

/*
 * KVM_GET_SUPPORTED_CPUID builds the whole table before it checks the
 * buffer size, so a call that fails with E2BIG costs as much as one that
 * succeeds (0.5-1 ms on the nested KVM here, the most expensive ioctl of a
 * VM's creation).  Ask once with room for KVM_MAX_CPUID_ENTRIES (256 in
 * every kernel so far), keep a copy of the size actually used.
 */
static int load_cpuid(vmm_vm *vm, struct kvm_vm *k)
{
	for (int n = 256; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = vmm__alloc(
			vm, sizeof(*c) + n * sizeof(struct kvm_cpuid_entry2));
		int r;

		if (!c)
			return vmm__err(vm, -ENOMEM, "out of memory for CPUID");
		c->nent = n;
		r = kvm_ioctl(k->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (r == 0) {
			size_t sz = sizeof(*c) +
				    c->nent * sizeof(struct kvm_cpuid_entry2);
			struct kvm_cpuid2 *fit = vmm__alloc(vm, sz);

			if (fit) {
				memcpy(fit, c, sz);
				vmm__free(vm, c);
				c = fit;
			}
			k->cpuid = c;
			return 0;
		}
		vmm__free(vm, c);
		if (r != -E2BIG)
			return vmm__err(vm, r, "KVM_GET_SUPPORTED_CPUID failed");
	}
	return vmm__err(vm, -E2BIG, "KVM_GET_SUPPORTED_CPUID: too many leaves");
}

/* bits of the baseline a host may lack without the guest noticing */
#define BASELINE_OPTIONAL_L1C ((1u << 21) | (1u << 24) | (1u << 31))

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, unsigned reg)
{
	return reg == 0 ? &e->eax : reg == 1 ? &e->ebx :
	       reg == 2 ? &e->ecx : &e->edx;
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c,
					   uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     e->index == index))
			return e;
	}
	return NULL;
}

/* VMM_CPU_BASELINE: -ENOTSUP if KVM lacks a bit of it, else mask. */
static int apply_baseline(vmm_vm *vm, struct kvm_cpuid2 *c)
{
	for (unsigned i = 0; i < vmm__cpuid_baseline_n; i++) {
		const struct vmm_cpuid_bits *w = &vmm__cpuid_baseline[i];
		struct kvm_cpuid_entry2 *e = find_entry(c, w->function,
							w->index);
		uint32_t need = w->bits, have = e ? *reg_of(e, w->reg) : 0;
		if (w->function == 1 && w->reg == 2)
			need &= ~BASELINE_OPTIONAL_L1C;
		if (w->function == 7 || w->function == 0x80000007)
			need = 0; /* TSC_ADJUST, invariant TSC: if there */
		if (need & ~have) {
			unsigned bit = (unsigned)__builtin_ctz(need & ~have);
			const char *name = vmm__cpuid_bit_name(w, bit);
			return vmm__err(vm, -ENOTSUP,
					"CPU model 'baseline': this host's KVM "
					"lacks %s (CPUID 0x%x.%c bit %u)",
					name ? name : "a feature", w->function,
					"abcd"[w->reg], bit);
		}
	}
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		for (unsigned r = 0; r < 4; r++)
			*reg_of(e, r) &= vmm__cpuid_baseline_mask(
				e->function, e->index, r);
		switch (e->function) {
		case 7: /* every sub-leaf is feature flags: the mask above
			 * keeps the baseline's bits of 7.0 */
			if (e->index)
				e->ebx = 0;
			e->eax = e->ecx = e->edx = 0;
			break;
		case 0x40000001: /* KVM paravirt features: none on soft */
		case 0x8000001f: /* memory encryption */
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 0x80000008: /* EBX: IBPB, WBNOINVD, ... */
			e->ebx = 0;
			break;
		}
	}
	return 0;
}


/* The CPU model (vmm_config.cpu_model) applied to KVM's supported CPUID. */
static int apply_model(vmm_vm *vm, struct kvm_vm *k)
{
	switch (vm->cfg.cpu_model) {
	case VMM_CPU_DEFAULT:
	case VMM_CPU_HOST:
	case VMM_CPU_MAX:
		return 0;
	case VMM_CPU_BASELINE:
		return apply_baseline(vm, k->cpuid);
	}
	return vmm__err(vm, -EINVAL, "unknown CPU model %u", vm->cfg.cpu_model);
}

/* MSRs carried in struct vmm_msrs (besides EFER and APIC_BASE in sregs). */
static const uint32_t wanted_msrs[] = {
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR..SFMASK */
	0xc0000102,                                     /* KERNEL_GS_BASE */
	0x174,	    0x175,	0x176,		/* SYSENTER_CS/ESP/EIP */
	0x10,				                /* TSC */
	0xc0000103,					/* TSC_AUX */
	0x6e0,						/* TSC_DEADLINE */
	0x277,						/* PAT */
	0x1a0,						/* MISC_ENABLE */
	0x48,						/* SPEC_CTRL */
};

static int load_msr_list(vmm_vm *vm, struct kvm_vm *k)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;
	int r;

	/* one call with room for 512 MSRs (KVM lists ~100-200); the size
	 * probe only when that is not enough */
	l = vmm__alloc(vm, sizeof(*l) + 512 * sizeof(uint32_t));
	if (!l)
		return vmm__err(vm, -ENOMEM, "out of memory for MSR list");
	l->nmsrs = 512;
	r = kvm_ioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, l);
	if (r == -E2BIG) {
		vmm__free(vm, l);
		r = kvm_ioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe);
		if (r < 0 && r != -E2BIG)
			return vmm__err(vm, r, "KVM_GET_MSR_INDEX_LIST failed");
		l = vmm__alloc(vm, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
		if (!l)
			return vmm__err(vm, -ENOMEM,
					"out of memory for MSR list");
		l->nmsrs = probe.nmsrs;
		r = kvm_ioctl(k->sys_fd, KVM_GET_MSR_INDEX_LIST, l);
	}
	if (r < 0) {
		vmm__free(vm, l);
		return vmm__err(vm, r, "KVM_GET_MSR_INDEX_LIST failed");
	}
	k->nmsrs = 0;
	for (size_t i = 0; i < VMM_ARRAY_SIZE(wanted_msrs); i++) {
		bool found = false;
		for (uint32_t j = 0; j < l->nmsrs; j++)
			found |= l->indices[j] == wanted_msrs[i];
		/* TSC_DEADLINE is emulated by the in-kernel LAPIC */
		if (found || wanted_msrs[i] == 0x6e0)
			k->msr_list[k->nmsrs++] = wanted_msrs[i];
		else
			vmm__log(vm, VMM_LOG_DEBUG,
				 "KVM does not save MSR 0x%x", wanted_msrs[i]);
	}
	vmm__free(vm, l);
	return 0;
}

static void probe_caps(vmm_vm *vm, struct kvm_vm *k)
{
	struct {
		long kvm;
		uint64_t cap;
	} map[] = {
		{ KVM_CAP_IOEVENTFD, VMM_CAP_IOEVENTFD },
		{ KVM_CAP_IRQFD, VMM_CAP_IRQFD },
		{ KVM_CAP_USER_MEMORY, VMM_CAP_DIRTY_LOG },
		{ KVM_CAP_DIRTY_LOG_RING, VMM_CAP_DIRTY_RING },
		{ KVM_CAP_SET_GUEST_DEBUG, VMM_CAP_GUEST_DEBUG },
		{ KVM_CAP_XSAVE, VMM_CAP_XSAVE },
		{ KVM_CAP_SIGNAL_MSI, VMM_CAP_MSI },
		{ KVM_CAP_IMMEDIATE_EXIT, VMM_CAP_IMMEDIATE_EXIT },
		{ KVM_CAP_READONLY_MEM, VMM_CAP_READONLY_MEM },
		{ KVM_CAP_SYNC_REGS, VMM_CAP_SYNC_REGS },
		{ KVM_CAP_X86_USER_SPACE_MSR, VMM_CAP_MSR_EXIT },
		{ KVM_CAP_COALESCED_MMIO, VMM_CAP_COALESCED_IO },
		{ KVM_CAP_TSC_CONTROL, VMM_CAP_TSC_CONTROL },
	};

	for (size_t i = 0; i < VMM_ARRAY_SIZE(map); i++) {
		if (check_ext(k, k->vm_fd, map[i].kvm))
			vm->caps |= map[i].cap;
		else
			vm->missing_caps |= map[i].cap;
	}
	k->xsave = vm->caps & VMM_CAP_XSAVE;
	k->immediate_exit = vm->caps & VMM_CAP_IMMEDIATE_EXIT;
	k->debugregs = check_ext(k, k->vm_fd, KVM_CAP_DEBUGREGS);
	k->vcpu_events = check_ext(k, k->vm_fd, KVM_CAP_VCPU_EVENTS);
	k->max_slots = check_ext(k, k->vm_fd, KVM_CAP_NR_MEMSLOTS);
	if (k->max_slots <= 0 || k->max_slots > 64)
		k->max_slots = k->max_slots <= 0 ? 32 : 64;
}

static int create_pit(vmm_vm *vm, struct kvm_vm *k)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int r;

	if (vm->cfg.flags & VMM_CFG_NO_PIT)
		return 0;
	if (!check_ext(k, k->vm_fd, KVM_CAP_PIT2)) {
		vm->missing_caps |= VMM_CAP_PIT;
		return 0;
	}
	r = kvm_ioctl(k->vm_fd, KVM_CREATE_PIT2, &pit);
	if (r < 0)
		return vmm__err(vm, r, "KVM_CREATE_PIT2 failed");
	vm->caps |= VMM_CAP_PIT;
	return 0;
}

/*
 * The interrupt controllers of the VM's mode (enum vmm_irqchip_mode).  The
 * default is SPLIT where KVM has it: creating and tearing down the
 * in-kernel PIC/IOAPIC and PIT costs several times a whole minimal VM here
 * (docs/design.md, "Interrupt controllers on KVM").
 */
static int create_irqchip(vmm_vm *vm, struct kvm_vm *k)
{
	bool has_split = check_ext(k, k->vm_fd, KVM_CAP_SPLIT_IRQCHIP);
	bool has_kernel = check_ext(k, k->vm_fd, KVM_CAP_IRQCHIP);
	enum vmm_irqchip_mode mode = vm->cfg.irqchip;
	int r;

	if (mode == VMM_IRQCHIP_NONE) {
		vm->irqchip_mode = VMM_IRQCHIP_NONE;
		return 0;
	}
	if (mode == VMM_IRQCHIP_DEFAULT)
		mode = has_split ? VMM_IRQCHIP_SPLIT :
		       has_kernel ? VMM_IRQCHIP_KERNEL : VMM_IRQCHIP_NONE;
	if (mode == VMM_IRQCHIP_SPLIT && !has_split)
		return vmm__err(vm, -ENOTSUP, "irqchip mode 'split': KVM here "
				"has no KVM_CAP_SPLIT_IRQCHIP");
	if (mode == VMM_IRQCHIP_KERNEL && !has_kernel)
		return vmm__err(vm, -ENOTSUP, "irqchip mode 'kernel': KVM here "
				"has no KVM_CAP_IRQCHIP");
	vm->irqchip_mode = mode;
	if (mode == VMM_IRQCHIP_NONE) {
		vm->missing_caps |= VMM_CAP_IRQCHIP | VMM_CAP_PIT;
		return 0;
	}
	if (mode == VMM_IRQCHIP_SPLIT) {
		r = kvm_split_create(vm);
		if (r)
			return r;
		k->irqchip = true; /* LAPICs are in the kernel */
		vm->caps |= VMM_CAP_IRQCHIP;
		if (!(vm->cfg.flags & VMM_CFG_NO_PIT))
			vm->caps |= VMM_CAP_PIT;
		return 0;
	}
	r = kvm_ioctl(k->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (r < 0)
		return vmm__err(vm, r, "KVM_CREATE_IRQCHIP failed");
	k->irqchip = true;
	vm->caps |= VMM_CAP_IRQCHIP;
	r = kvm_routing_init(vm);
	if (r < 0)
		return r;
	return create_pit(vm, k);
}

static void kvm_vm_fini(vmm_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);

	if (!k)
		return;
	kvm_split_destroy(vm);
	kvm_notify_fini(vm);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->sys_fd >= 0)
		close(k->sys_fd);
	vmm__free(vm, k->cpuid);
	pthread_mutex_destroy(&k->slot_lock);
	vmm__free(vm, k);
	vm->backend = NULL;
}

static int kvm_vm_init(vmm_vm *vm)
{
	struct kvm_vm *k = vmm__alloc(vm, sizeof(*k));
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;
	int r;

	if (!k)
		return vmm__err(vm, -ENOMEM, "out of memory for KVM VM");
	k->sys_fd = k->vm_fd = -1;
	pthread_mutex_init(&k->slot_lock, NULL);
	vm->backend = k;
	k->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->sys_fd < 0) {
		r = vmm__err(vm, -errno, "/dev/kvm: %s", strerror(errno));
		goto fail;
	}
	r = kvm_ioctl(k->sys_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION) {
		r = vmm__err(vm, -ENODEV, "KVM API version %d", r);
		goto fail;
	}
	k->run_size = kvm_ioctl(k->sys_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (k->run_size < (int)sizeof(struct kvm_run)) {
		r = vmm__err(vm, -ENODEV, "bad KVM_GET_VCPU_MMAP_SIZE");
		goto fail;
	}
	k->vm_fd = kvm_ioctl(k->sys_fd, KVM_CREATE_VM, (void *)0);
	if (k->vm_fd < 0) {
		r = vmm__err(vm, k->vm_fd, "KVM_CREATE_VM failed");
		goto fail;
	}
	probe_caps(vm, k);
	r = kvm_ioctl(k->vm_fd, KVM_SET_TSS_ADDR, (void *)KVM_TSS_ADDR);
	if (r < 0) {
		vmm__err(vm, r, "KVM_SET_TSS_ADDR failed");
		goto fail;
	}
	if (check_ext(k, k->vm_fd, KVM_CAP_SET_IDENTITY_MAP_ADDR)) {
		r = kvm_ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);
		if (r < 0) {
			vmm__err(vm, r, "KVM_SET_IDENTITY_MAP_ADDR failed");
			goto fail;
		}
	}
	if ((r = create_irqchip(vm, k)) || (r = load_cpuid(vm, k)) ||
	    (r = apply_model(vm, k)) || (r = load_msr_list(vm, k)) || (r = setup_kick_signal(vm, k)))
		goto fail;
	/* /dev/kvm is needed only for the probes above: one fd per VM less */
	close(k->sys_fd);
	k->sys_fd = -1;
	return 0;
fail:
	kvm_vm_fini(vm);
	return r;
}

static int set_slot(vmm_vm *vm, struct vmm_gmem_region *r, uint64_t size)
{
	struct kvm_userspace_memory_region m = {
		.slot = r->slot,
		.guest_phys_addr = r->gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)r->host,
	};

	if (r->flags & VMM_MEM_READONLY)
		m.flags |= KVM_MEM_READONLY;
	if (r->flags & VMM_MEM_DIRTY_LOG)
		m.flags |= KVM_MEM_LOG_DIRTY_PAGES;
	return kvm_ioctl(kvm_of(vm)->vm_fd, KVM_SET_USER_MEMORY_REGION, &m);
}

static int kvm_mem_map(vmm_vm *vm, struct vmm_gmem_region *r)
{
	struct kvm_vm *k = kvm_of(vm);
	int slot = -1, ret;

	if ((r->flags & VMM_MEM_READONLY) && !(vm->caps & VMM_CAP_READONLY_MEM))
		return vmm__err(vm, -ENOTSUP, "KVM here has no read-only memory");
	pthread_mutex_lock(&k->slot_lock);
	for (int i = 0; i < k->max_slots; i++) {
		if (!(vm->mem.slots_used & (1ull << i))) {
			slot = i;
			break;
		}
	}
	if (slot < 0) {
		pthread_mutex_unlock(&k->slot_lock);
		return vmm__err(vm, -ENOSPC, "no free KVM memslot (max %d)",
				k->max_slots);
	}
	r->slot = (uint32_t)slot;
	ret = set_slot(vm, r, r->size);
	if (ret == 0)
		vm->mem.slots_used |= 1ull << slot;
	pthread_mutex_unlock(&k->slot_lock);
	if (ret)
		return vmm__err(vm, ret, "KVM_SET_USER_MEMORY_REGION 0x%llx+0x%llx failed",
				(unsigned long long)r->gpa,
				(unsigned long long)r->size);
	return 0;
}

static void kvm_mem_unmap(vmm_vm *vm, struct vmm_gmem_region *r)
{
	struct kvm_vm *k = kvm_of(vm);

	pthread_mutex_lock(&k->slot_lock);
	if (vm->mem.slots_used & (1ull << r->slot)) {
		set_slot(vm, r, 0);
		vm->mem.slots_used &= ~(1ull << r->slot);
	}
	pthread_mutex_unlock(&k->slot_lock);
}

static int kvm_dirty_log(vmm_vm *vm, struct vmm_gmem_region *r, bool on)
{
	int ret = set_slot(vm, r, r->size);

	if (ret)
		return vmm__err(vm, ret, "cannot %s dirty logging on slot %u",
				on ? "start" : "stop", r->slot);
	return 0;
}

static int kvm_dirty_fetch(vmm_vm *vm, struct vmm_gmem_region *r,
			   uint64_t *bitmap)
{
	uint64_t *tmp = vmm__alloc(vm, r->dirty_words * 8);
	struct kvm_dirty_log log = { .slot = r->slot };
	int ret;

	if (!tmp)
		return vmm__err(vm, -ENOMEM, "out of memory for dirty log");
	log.dirty_bitmap = tmp;
	ret = kvm_ioctl(kvm_of(vm)->vm_fd, KVM_GET_DIRTY_LOG, &log);
	if (ret == 0)
		for (size_t i = 0; i < r->dirty_words; i++)
			bitmap[i] |= tmp[i];
	else
		vmm__err(vm, ret, "KVM_GET_DIRTY_LOG failed");
	vmm__free(vm, tmp);
	return ret;
}

static int kvm_irq_line(vmm_vm *vm, uint32_t gsi, int level)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	int r;

	if (!k->irqchip)
		return -ENODEV;
	if (gsi >= 24)
		return vmm__err(vm, -EINVAL, "GSI %u out of range", gsi);
	if (k->split)
		return kvm_split_irq_line(vm, gsi, level);
	r = kvm_ioctl(k->vm_fd, KVM_IRQ_LINE, &l);
	return r < 0 ? vmm__err(vm, r, "KVM_IRQ_LINE %u failed", gsi) : 0;
}

static int kvm_msi(vmm_vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_msi msi = { .address_lo = (uint32_t)addr,
			       .address_hi = (uint32_t)(addr >> 32),
			       .data = data };
	int r;

	if (!k->irqchip || !(vm->caps & VMM_CAP_MSI))
		return -ENODEV;
	r = kvm_ioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi);
	/* 0 means the interrupt was blocked by the guest (masked), not lost */
	return r < 0 ? vmm__err(vm, r, "KVM_SIGNAL_MSI failed") : 0;
}

const struct vmm_backend_ops vmm_kvm_ops = {
	.name = "kvm",
	.kind = VMM_BACKEND_KVM,
	.probe = kvm_probe,
	.vm_init = kvm_vm_init,
	.vm_fini = kvm_vm_fini,
	.mem_map = kvm_mem_map,
	.mem_unmap = kvm_mem_unmap,
	.dirty_log = kvm_dirty_log,
	.dirty_fetch = kvm_dirty_fetch,
	.vcpu_init = kvm_vcpu_init,
	.vcpu_fini = kvm_vcpu_fini,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_kick = kvm_vcpu_kick,
	.get_state = kvm_get_state,
	.set_state = kvm_set_state,
	.single_step = kvm_single_step,
	.sw_breakpoints = kvm_sw_breakpoints,
	.hw_breakpoints = kvm_hw_breakpoints,
	.irq_line = kvm_irq_line,
	.msi = kvm_msi,
	.get_irqchip = kvm_get_irqchip,
	.set_irqchip = kvm_set_irqchip,
	.vcpu_complete_io = kvm_vcpu_complete_io,
	.ioeventfd = kvm_ioeventfd,
	.irqfd = kvm_irqfd,
};
