/* SPDX-License-Identifier: MIT */
/*
 * mguest.c - see mguest.h.  The code bytes were assembled from:
 *
 *   loop: mov %esi,%eax ; and 0x508,%eax ; shl $12,%eax ; add %ebx,%eax
 *         mov %esi,%ecx ; and $0xff8,%ecx ; add %rcx,%rax
 *         mov (%rax),%rdx ; add %rdx,%rdi ; rol $5,%rdi ; xor %rsi,%rdi
 *         mov %rdi,(%rax) ; inc %rsi
 *         mov 0x50c,%ecx ; 1: dec %ecx ; jnz 1b        (delay)
 *         test %esi,0x510 ; jnz 2f
 *         mov $0x3f8,%edx ; mov %edi,%eax ; and $0x3f,%al ; add $0x30,%al
 *         out %al,(%dx)                                 (one character)
 *   2:    cmp 0x500,%rsi ; jne loop
 *         mov %edi,%eax ; out %eax,$0xf4 ; jmp loop
 *
 * parameters: 0x500 u64 target, 0x508 u32 NPAGES-1 (a power of two minus
 * one), 0x50c u32 delay (>= 1), 0x510 u32 output mask.
 */
#include "mguest.h"

#include <errno.h>
#include <string.h>

static const uint8_t code[] = {
  0x89, 0xf0, 0x23, 0x04, 0x25, 0x08, 0x05, 0x00, 0x00, 0xc1, 0xe0, 0x0c,
  0x01, 0xd8, 0x89, 0xf1, 0x81, 0xe1, 0xf8, 0x0f, 0x00, 0x00, 0x48, 0x01,
  0xc8, 0x48, 0x8b, 0x10, 0x48, 0x01, 0xd7, 0x48, 0xc1, 0xc7, 0x05, 0x48,
  0x31, 0xf7, 0x48, 0x89, 0x38, 0x48, 0xff, 0xc6, 0x8b, 0x0c, 0x25, 0x0c,
  0x05, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xfc, 0x85, 0x34, 0x25, 0x10, 0x05,
  0x00, 0x00, 0x75, 0x0c, 0xba, 0xf8, 0x03, 0x00, 0x00, 0x89, 0xf8, 0x24,
  0x3f, 0x04, 0x30, 0xee, 0x48, 0x3b, 0x34, 0x25, 0x00, 0x05, 0x00, 0x00,
  0x75, 0xaa, 0x89, 0xf8, 0xe7, 0xf4, 0xeb, 0xa4
};

#define PML4 0x2000
#define PDPT 0x3000
#define PD 0x4000
#define GDT 0x5000
#define TSS 0x6000
#define TSS_LIMIT (104 + 8192)

static int w64(vmm_vm *vm, uint64_t gpa, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return vmm_mem_write(vm, gpa, b, 8);
}

void mg_init(struct mg *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
}

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct mg *g = opaque;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < len && g->out_len < sizeof(g->out) - 1; i++)
		g->out[g->out_len++] = (char)buf[i];
	pthread_mutex_unlock(&g->lock);
}

int mg_attach(void *opaque, vmm_vm *vm)
{
	struct mg *g = opaque;
	struct vmm_uart_config uc;
	vmm_dev *d;
	int ret;

	vmm_uart_config_init(&uc);
	uc.out_cb = uart_out;
	uc.out_opaque = g;
	if ((ret = vmm_dev_uart_attach(vm, &uc, &d)))
		return ret;
	return vmm_dev_debug_exit_attach(vm, 0xf4, 4, &d);
}

int mg_set_target(vmm_vm *vm, uint64_t target)
{
	return w64(vm, MG_PARAMS, target);
}

static int cpl3_state(vmm_vcpu *vcpu)
{
	struct vmm_cpu_state st;
	struct vmm_segment cs = { .limit = 0xffffffff, .selector = 0x23,
				  .type = 0xb, .s = 1, .dpl = 3, .present = 1,
				  .l = 1, .g = 1 };
	struct vmm_segment ds = { .limit = 0xffffffff, .selector = 0x1b,
				  .type = 0x3, .s = 1, .dpl = 3, .present = 1,
				  .db = 1, .g = 1 };
	struct vmm_segment tr = { .base = TSS, .limit = TSS_LIMIT,
				  .selector = 0x28, .type = 0xb, .present = 1 };
	struct vmm_segment ldt = { .type = 2, .unusable = 1 };
	int ret = vmm_vcpu_get_state(vcpu, &st);

	if (ret)
		return ret;
	st.cr0 = VMM_CR0_PE | VMM_CR0_MP | VMM_CR0_ET | VMM_CR0_NE |
		 VMM_CR0_WP | VMM_CR0_PG;
	st.cr3 = PML4;
	st.cr4 = VMM_CR4_PAE | VMM_CR4_OSFXSR | VMM_CR4_OSXMMEXCPT;
	st.msr.efer = VMM_EFER_LME | VMM_EFER_LMA | VMM_EFER_SCE | VMM_EFER_NXE;
	st.seg[VMM_CS] = cs;
	st.seg[VMM_SS] = st.seg[VMM_DS] = st.seg[VMM_ES] = ds;
	st.seg[VMM_FS] = st.seg[VMM_GS] = ds;
	st.seg[VMM_TR] = tr;
	st.seg[VMM_LDTR] = ldt;
	st.gdtr.base = GDT;
	st.gdtr.limit = 0x37;
	st.idtr.base = 0;
	st.idtr.limit = 0;
	st.rip = MG_CODE;
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RBX] = MG_DATA;
	st.gpr[VMM_RSI] = 0;
	st.gpr[VMM_RDI] = 0x1234567;
	st.gpr[VMM_RSP] = 0x8000;
	return vmm_vcpu_set_state(vcpu, &st);
}

int mg_create(struct mg *g, enum vmm_backend backend, uint64_t ram,
	      uint64_t target, uint32_t npages, uint32_t delay,
	      uint32_t out_mask)
{
	return mg_create_flags(g, backend, 0, ram, target, npages, delay,
			       out_mask);
}

int mg_create_flags(struct mg *g, enum vmm_backend backend, uint32_t flags,
		    uint64_t ram, uint64_t target, uint32_t npages,
		    uint32_t delay, uint32_t out_mask)
{
	struct vmm_config cfg;
	uint64_t tb = TSS, tl = TSS_LIMIT;
	uint8_t iob[2] = { 104, 0 }, ff = 0xff;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.flags = flags;
	cfg.ram_size = ram;
	if ((ret = vmm_vm_create(&cfg, &g->vm)))
		return ret;
	if ((ret = vmm_vcpu_create(g->vm, 0, &g->vcpu)) ||
	    (ret = vmm_mem_write(g->vm, MG_CODE, code, sizeof(code))) ||
	    (ret = w64(g->vm, MG_PARAMS, target)) ||
	    (ret = w64(g->vm, MG_PARAMS + 8,
		       (uint64_t)(npages - 1) | (uint64_t)delay << 32)) ||
	    (ret = w64(g->vm, MG_PARAMS + 16, out_mask)) ||
	    (ret = w64(g->vm, PML4, PDPT | 7)) ||
	    (ret = w64(g->vm, PDPT, PD | 7)))
		goto fail;
	for (uint64_t i = 0; i < 512 && !ret; i++)
		ret = w64(g->vm, PD + 8 * i, (i << 21) | 0x87);
	if (ret || (ret = w64(g->vm, GDT + 0x08, 0x00af9a000000ffffull)) ||
	    (ret = w64(g->vm, GDT + 0x10, 0x00cf92000000ffffull)) ||
	    (ret = w64(g->vm, GDT + 0x18, 0x00cff2000000ffffull)) ||
	    (ret = w64(g->vm, GDT + 0x20, 0x00affa000000ffffull)) ||
	    (ret = w64(g->vm, GDT + 0x28,
		       (tl & 0xffff) | (tb & 0xffffff) << 16 | 0x89ull << 40 |
			       ((tl >> 16) & 0xf) << 48 |
			       ((tb >> 24) & 0xff) << 56)) ||
	    (ret = w64(g->vm, GDT + 0x30, tb >> 32)) ||
	    (ret = vmm_mem_write(g->vm, TSS + 102, iob, 2)) ||
	    (ret = vmm_mem_write(g->vm, TSS + TSS_LIMIT, &ff, 1)) ||
	    (ret = mg_attach(g, g->vm)) || (ret = cpl3_state(g->vcpu)))
		goto fail;
	return 0;
fail:
	vmm_vm_destroy(g->vm);
	g->vm = NULL;
	return ret;
}

uint64_t mg_hash(vmm_vm *vm, uint32_t npages)
{
	static const uint64_t prime = 0x100000001b3ull;
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t page[4096];

	for (uint32_t p = 0; p <= npages; p++) {
		uint64_t gpa = p == npages ? 0 : MG_DATA + (uint64_t)p * 4096;

		if (vmm_mem_read(vm, gpa, page, sizeof(page)))
			return 0;
		for (size_t i = 0; i < sizeof(page); i++)
			h = (h ^ page[i]) * prime;
	}
	return h;
}

int64_t mg_run_to_exit(vmm_vcpu *vcpu)
{
	struct vmm_exit e;

	for (;;) {
		int ret = vmm_vcpu_run_loop(vcpu, &e);

		if (ret)
			return ret;
		if (e.kind == VMM_EXIT_GUEST_EXIT)
			return e.guest.value;
		if (e.kind != VMM_EXIT_INTERRUPTED)
			return -EIO;
	}
}
