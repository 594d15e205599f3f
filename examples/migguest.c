// SPDX-License-Identifier: MIT
/*
 * migguest.c - see migguest.h.  The code bytes were assembled from:
 *
 *   loop: mov %esi,%eax ; and 0x608,%eax ; shl $12,%eax ; add %ebx,%eax
 *         mov %esi,%ecx ; and $0xff8,%ecx ; add %rcx,%rax
 *         mov (%rax),%rdx ; add %rdx,%rdi ; rol $5,%rdi ; xor %rsi,%rdi
 *         mov %rdi,(%rax) ; inc %rsi
 *         mov 0x60c,%ecx ; 1: dec %ecx ; jnz 1b        (delay)
 *         test %esi,0x610 ; jnz 2f
 *         mov $0x3f8,%edx ; mov %edi,%eax ; and $0x3f,%al ; add $0x30,%al
 *         out %al,(%dx)                                 (one character)
 *   2:    cmp 0x600,%rsi ; jne loop
 *         mov %edi,%eax ; out %eax,$0xf4 ; jmp loop
 *
 * with RBX = MIGGUEST_DATA, RSI = 0, RDI = 0x1234567 at entry.
 */
#include "migguest.h"

#include <errno.h>

static const uint8_t code[] = {
	0x89, 0xf0, 0x23, 0x04, 0x25, 0x08, 0x06, 0x00, 0x00, 0xc1, 0xe0, 0x0c,
	0x01, 0xd8, 0x89, 0xf1, 0x81, 0xe1, 0xf8, 0x0f, 0x00, 0x00, 0x48, 0x01,
	0xc8, 0x48, 0x8b, 0x10, 0x48, 0x01, 0xd7, 0x48, 0xc1, 0xc7, 0x05, 0x48,
	0x31, 0xf7, 0x48, 0x89, 0x38, 0x48, 0xff, 0xc6, 0x8b, 0x0c, 0x25, 0x0c,
	0x06, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0x85, 0x34, 0x25, 0x10, 0x06,
	0x00, 0x00, 0x75, 0x0c, 0xba, 0xf8, 0x03, 0x00, 0x00, 0x89, 0xf8, 0x24,
	0x3f, 0x04, 0x30, 0xee, 0x48, 0x3b, 0x34, 0x25, 0x00, 0x06, 0x00, 0x00,
	0x75, 0xaa, 0x89, 0xf8, 0xe7, 0xf4, 0xeb, 0xa4,
};

#define ENTRY_RDI 0x1234567

static int w64(vmm_vm *vm, uint64_t gpa, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return vmm_mem_write(vm, gpa, b, 8);
}

int migguest_set_target(vmm_vm *vm, uint64_t target)
{
	return w64(vm, MIGGUEST_PARAMS, target);
}

int migguest_load(vmm_vm *vm, vmm_vcpu *vcpu, const struct migguest_params *p)
{
	struct vmm_boot_info bi;
	int ret;

	if (!p || !p->npages || p->npages > 4096 ||
	    (p->npages & (p->npages - 1)) || !p->delay)
		return -EINVAL;
	if ((ret = vmm_image_load_flat(vm, code, sizeof(code), MIGGUEST_CODE,
				 VMM_BOOT_LONG64_USER, &bi)) ||
	    (ret = w64(vm, MIGGUEST_PARAMS, p->target)) ||
	    (ret = w64(vm, MIGGUEST_PARAMS + 8,
		       (uint64_t)(p->npages - 1) | (uint64_t)p->delay << 32)) ||
	    (ret = w64(vm, MIGGUEST_PARAMS + 16, p->out_mask)))
		return ret;
	bi.regs[VMM_RBX] = MIGGUEST_DATA;
	bi.regs[VMM_RSI] = 0;
	bi.regs[VMM_RDI] = ENTRY_RDI;
	bi.stack = 0x8000; /* unused by the program */
	return vmm_boot_setup_vcpu(vcpu, &bi);
}

uint64_t migguest_hash(vmm_vm *vm, uint32_t npages)
{
	static const uint64_t prime = 0x100000001b3ull;
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t page[4096];

	for (uint32_t p = 0; p <= npages; p++) {
		uint64_t gpa = p == npages ? 0 : MIGGUEST_DATA + (uint64_t)p * 4096;

		if (vmm_mem_read(vm, gpa, page, sizeof(page)))
			return 0;
		for (size_t i = 0; i < sizeof(page); i++)
			h = (h ^ page[i]) * prime;
	}
	return h;
}
