// SPDX-License-Identifier: MIT
/*
 * raw-start - the baseline of vmm-bench's process-start: the minimal
 * raw-KVM program that does what `vmm-run --format flat` does with the tiny
 * guest (bench/startup.c): open /dev/kvm, create a VM with a 16 MiB
 * memslot and one vCPU (no irqchip), load the guest at 0x7c00 in real mode,
 * run to its OUT to port 0xf4 and exit with QEMU's debug-exit status
 * ((value << 1) | 1).  No library: this is what a VM costs a process.
 *
 *   raw-start [--cpuid] [IMAGE]     (default: the built-in 5-byte guest)
 *
 * --cpuid: also give the vCPU KVM's supported CPUID (KVM_GET_SUPPORTED_CPUID
 * + KVM_SET_CPUID2), as any VMM that runs more than this guest must; the
 * second baseline of process-start (on the nested KVM here the host CPUID
 * exits make that ~1 ms of CPU).
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MEM (16u << 20)

int main(int argc, char **argv)
{
	static const uint8_t guest[] = { 0xb0, 0x10, 0xe6, 0xf4, 0xf4 };
	struct kvm_userspace_memory_region slot = { .memory_size = MEM };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0x7c00, .rflags = 2 };
	struct kvm_run *run;
	int kvm, vm, vcpu, size;
	uint8_t *mem;

	bool cpuid = argc > 1 && !strcmp(argv[1], "--cpuid");

	if (cpuid) {
		argc--;
		argv++;
	}
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0 || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0 ||
	    ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
		return perror("raw-start: VM"), 1;
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return perror("raw-start: mmap"), 1;
	if (argc > 1) {
		int fd = open(argv[1], O_RDONLY);
		if (fd < 0 || read(fd, mem + 0x7c00, 0x8000) <= 0)
			return perror("raw-start: image"), 1;
		close(fd);
	} else {
		memcpy(mem + 0x7c00, guest, sizeof(guest));
	}
	slot.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ||
	    (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0 ||
	    (size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <= 0)
		return perror("raw-start: vCPU"), 1;
	if (cpuid) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 *
					      sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return 1;
		c->nent = 256;
		if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c) < 0 ||
		    ioctl(vcpu, KVM_SET_CPUID2, c) < 0)
			return perror("raw-start: CPUID"), 1;
		free(c);
	}
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return perror("raw-start: run"), 1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return perror("raw-start: state"), 1;
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			return perror("raw-start: KVM_RUN"), 1;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0xf4)
			return ((*((uint8_t *)run + run->io.data_offset)) << 1) | 1;
		if (run->exit_reason != KVM_EXIT_IO)
			return 1;
	}
}
