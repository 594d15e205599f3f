/* SPDX-License-Identifier: MIT */
/*
 * raw_kvm.c - the bare-ioctl baseline for vmm-bench (see raw_kvm.h).
 */
#include "raw_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct raw_vm {
	int kvm, vm, vcpu;
	void *mem;
	size_t mem_size;
	struct kvm_run *run;
	size_t run_size;
};

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		     uint8_t dpl)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel | dpl;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->db = 1;
	s->g = 1;
}

int raw_vm_reset(struct raw_vm *r, uint32_t entry, uint32_t ecx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(r->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	flat_seg(&sregs.cs, 0x10, 0xb, 3);
	flat_seg(&sregs.ds, 0x18, 0x3, 3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.cr0 |= 1; /* PE */
	if (ioctl(r->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = entry;
	regs.rsp = 0x8000;
	regs.rcx = ecx;
	regs.rflags = 2 | (3 << 12); /* IOPL = 3 */
	return ioctl(r->vcpu, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

static int set_cpuid(struct raw_vm *r)
{
	int n = 256;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	int ret;

	if (!c)
		return -1;
	c->nent = n;
	ret = ioctl(r->kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (ret == 0)
		ret = ioctl(r->vcpu, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

struct raw_vm *raw_vm_create(size_t mem, const void *code, size_t len,
			     uint32_t entry)
{
	return raw_vm_create_flags(mem, code, len, entry,
				   RAW_VM_IRQCHIP | RAW_VM_PIT);
}

struct raw_vm *raw_vm_create_flags(size_t mem, const void *code, size_t len,
				   uint32_t entry, unsigned flags)
{
	struct raw_vm *r = calloc(1, sizeof(*r));
	struct kvm_enable_cap split = { .cap = KVM_CAP_SPLIT_IRQCHIP,
					.args = { 24 } };
	struct kvm_userspace_memory_region slot = { 0 };
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (!r)
		return NULL;
	r->kvm = r->vm = r->vcpu = -1;
	r->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (r->kvm < 0)
		goto fail;
	r->vm = ioctl(r->kvm, KVM_CREATE_VM, 0);
	if (r->vm < 0)
		goto fail;
	if (ioctl(r->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0 ||
	    ((flags & RAW_VM_IRQCHIP) &&
	     ioctl(r->vm, KVM_CREATE_IRQCHIP, 0) < 0) ||
	    ((flags & RAW_VM_PIT) && ioctl(r->vm, KVM_CREATE_PIT2, &pit) < 0) ||
	    ((flags & RAW_VM_SPLIT) && ioctl(r->vm, KVM_ENABLE_CAP, &split) < 0))
		goto fail;
	r->mem_size = mem;
	r->mem = mmap(NULL, mem, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->mem == MAP_FAILED)
		goto fail;
	memcpy((char *)r->mem + entry, code, len);
	slot.memory_size = mem;
	slot.userspace_addr = (uintptr_t)r->mem;
	if (ioctl(r->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		goto fail;
	r->vcpu = ioctl(r->vm, KVM_CREATE_VCPU, 0);
	if (r->vcpu < 0)
		goto fail;
	r->run_size = (size_t)ioctl(r->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	r->run = mmap(NULL, r->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->vcpu, 0);
	if (r->run == MAP_FAILED) {
		r->run = NULL;
		goto fail;
	}
	if (set_cpuid(r) < 0 || raw_vm_reset(r, entry, 0) < 0)
		goto fail;
	return r;
fail:
	raw_vm_destroy(r);
	return NULL;
}

long raw_vm_run_until(struct raw_vm *r, uint16_t stop_port)
{
	long exits = 0;
	volatile uint64_t sink = 0;

	for (;;) {
		if (ioctl(r->vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		exits++;
		if (r->run->exit_reason != KVM_EXIT_IO)
			return -1;
		if (r->run->io.port == stop_port)
			return exits;
		/* the minimal device: consume the byte written */
		sink += *((uint8_t *)r->run + r->run->io.data_offset);
	}
}

void raw_vm_destroy(struct raw_vm *r)
{
	if (!r)
		return;
	if (r->run)
		munmap(r->run, r->run_size);
	if (r->vcpu >= 0)
		close(r->vcpu);
	if (r->mem && r->mem != MAP_FAILED)
		munmap(r->mem, r->mem_size);
	if (r->vm >= 0)
		close(r->vm);
	if (r->kvm >= 0)
		close(r->kvm);
	free(r);
}
