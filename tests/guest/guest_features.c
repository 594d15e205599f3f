/* SPDX-License-Identifier: MIT */
/*
 * guest_features.c - backend features seen from a guest, through the public
 * API only: the CPUID filter, dirty-page logging of guest writes merged with
 * host writes, read-only memory (ROM), several vCPUs on threads, single
 * stepping, interrupt-line and MSI argument checks.  Each case runs a few
 * hand-assembled instructions of 32-bit code at CPL3 (IOPL=3) set up with
 * vmm_vcpu_set_state().
 *
 * usage: guest_features BACKEND
 */
#include "harness.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define CODE 0x1000u

static void cpl3_state(struct gh_vm *g, vmm_vcpu *vcpu, uint32_t entry,
		       uint32_t ecx)
{
	struct vmm_cpu_state st;

	GH_OK(g, vmm_vcpu_get_state(vcpu, &st));
	vmm_state_flat_protected(&st, entry);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		st.seg[i].dpl = 3;
		st.seg[i].selector |= 3;
	}
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RSP] = 0x8000;
	st.gpr[VMM_RCX] = ecx;
	st.mp_state = VMM_MP_RUNNABLE; /* application processors too */
	GH_OK(g, vmm_vcpu_set_state(vcpu, &st));
}

static void load_code(struct gh_vm *g, const uint8_t *code, size_t len)
{
	GH_OK(g, vmm_mem_write(g->vm, CODE, code, len));
	cpl3_state(g, g->vcpu, CODE, 0);
}

/* Run the raw step until an I/O exit; returns it (fails on anything else). */
static void run_to_io(struct gh_vm *g, struct vmm_exit *e, uint16_t port)
{
	char d[128];

	GH_OK(g, vmm_vcpu_run(g->vcpu, e));
	GH_CHECK(g, e->kind == VMM_EXIT_IO && e->io.port == port,
		 "expected io to 0x%x, got %s", port,
		 gh_describe_exit(e, d, sizeof(d)));
}

static uint32_t io32(const struct vmm_exit *e)
{
	uint32_t v = 0;
	memcpy(&v, e->io.data, e->io.size < 4 ? e->io.size : 4);
	return v;
}

static bool vendor_filter(void *opaque, uint32_t fn, uint32_t idx,
			  uint32_t regs[4])
{
	(void)opaque;
	(void)idx;
	if (fn == 0) {
		memcpy(&regs[1], "lvmm", 4); /* EBX */
		memcpy(&regs[3], "lib.", 4); /* EDX */
		memcpy(&regs[2], "test", 4); /* ECX */
	}
	return true;
}

static void test_cpuid_filter(enum vmm_backend b)
{
	static const uint8_t code[] = {
		0x31, 0xc0,       /* xor %eax,%eax */
		0x0f, 0xa2,       /* cpuid */
		0x89, 0xd8,       /* mov %ebx,%eax */
		0xe7, 0x80,       /* out %eax,$0x80 */
		0x89, 0xd0,       /* mov %edx,%eax */
		0xe7, 0x80,       /* out %eax,$0x80 */
		0xeb, 0xfe,
	};
	struct vmm_config cfg;
	struct gh_vm g = { .name = "cpuid" };
	struct vmm_exit e;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ram_size = 1 << 20;
	cfg.cpuid_filter = vendor_filter;
	GH_OK(&g, vmm_vm_create(&cfg, &g.vm));
	GH_OK(&g, vmm_vcpu_create(g.vm, 0, &g.vcpu));
	load_code(&g, code, sizeof(code));
	run_to_io(&g, &e, 0x80);
	GH_CHECK(&g, io32(&e) == 0x6d6d766c, "EBX 0x%x, filter not applied",
		 io32(&e));
	run_to_io(&g, &e, 0x80);
	GH_CHECK(&g, io32(&e) == 0x2e62696c, "EDX 0x%x", io32(&e));
	vmm_vm_destroy(g.vm);
	printf("cpuid filter: guest sees vendor \"lvmmlib.test\"\n");
}

static void test_dirty_log(enum vmm_backend b)
{
	static const uint8_t code[] = {
		0xc7, 0x05, 0x00, 0x00, 0x10, 0x00, 1, 0, 0, 0, /* [0x100000]=1 */
		0xc7, 0x05, 0x00, 0x30, 0x10, 0x00, 2, 0, 0, 0, /* [0x103000]=2 */
		0xc7, 0x05, 0xfc, 0x5f, 0x10, 0x00, 3, 0, 0, 0, /* [0x105ffc]=3 */
		0xe6, 0x80,                                     /* out */
		0xeb, 0xfe,
	};
	struct gh_vm g;
	struct vmm_exit e;
	uint64_t bm[(4 << 20) / 4096 / 64];
	uint32_t v = 0xabcd;
	int n;

	gh_create(&g, "dirty", b, 0, 4 << 20);
	load_code(&g, code, sizeof(code));
	GH_OK(&g, vmm_mem_dirty_log(g.vm, true));
	/* a device-like host write must be reported too */
	GH_OK(&g, vmm_mem_write(g.vm, 0x200000, &v, sizeof(v)));
	run_to_io(&g, &e, 0x80);
	n = vmm_mem_dirty_fetch(g.vm, 0, bm, sizeof(bm) / 8);
	GH_OK(&g, n);
	GH_CHECK(&g, (bm[0x100 / 64] >> (0x100 % 64)) & 1, "page 0x100 clean");
	GH_CHECK(&g, (bm[0x103 / 64] >> (0x103 % 64)) & 1, "page 0x103 clean");
	GH_CHECK(&g, (bm[0x105 / 64] >> (0x105 % 64)) & 1, "page 0x105 clean");
	GH_CHECK(&g, (bm[0x200 / 64] >> (0x200 % 64)) & 1,
		 "host write not logged");
	GH_CHECK(&g, !((bm[0x104 / 64] >> (0x104 % 64)) & 1), "page 0x104 dirty");
	/* the code page and others were not written; allow the stack page */
	GH_CHECK(&g, n >= 4 && n <= 6, "%d dirty pages, expected 4..6", n);
	/* fetched = cleared */
	n = vmm_mem_dirty_fetch(g.vm, 0, bm, sizeof(bm) / 8);
	GH_CHECK(&g, n == 0, "%d pages still dirty after fetch", n);
	gh_destroy(&g);
	printf("dirty log: guest pages 0x100 0x103 0x105 + host page 0x200\n");
}

static void test_rom(enum vmm_backend b)
{
	static const uint8_t code[] = {
		0xa1, 0x00, 0x00, 0x20, 0x00,             /* mov 0x200000,%eax */
		0xe7, 0x80,                               /* out %eax,$0x80 */
		0xc7, 0x05, 0x00, 0x00, 0x20, 0x00,
		0x78, 0x56, 0x34, 0x12,                   /* movl $0x12345678,0x200000 */
		0xe6, 0x81,                               /* out %al,$0x81 */
		0xeb, 0xfe,
	};
	struct vmm_mem_region rom = {
		.gpa = 0x200000, .size = 4096, .source = VMM_MEM_MEMFD,
		.flags = VMM_MEM_READONLY, .fd = -1, .name = "rom",
	};
	struct gh_vm g;
	struct vmm_exit e;
	uint32_t v = 0x11223344, got = 0;
	char d[128];

	gh_create(&g, "rom", b, 0, 1 << 20);
	GH_OK(&g, vmm_mem_add(g.vm, &rom));
	GH_OK(&g, vmm_mem_write(g.vm, 0x200000, &v, sizeof(v)));
	load_code(&g, code, sizeof(code));
	run_to_io(&g, &e, 0x80);
	GH_CHECK(&g, io32(&e) == 0x11223344, "ROM read 0x%x", io32(&e));
	GH_OK(&g, vmm_vcpu_run(g.vcpu, &e));
	GH_CHECK(&g, e.kind == VMM_EXIT_MMIO && e.mmio.is_write &&
			     e.mmio.gpa == 0x200000 && e.mmio.len == 4,
		 "ROM write gave %s", gh_describe_exit(&e, d, sizeof(d)));
	memcpy(&got, e.mmio.data, 4);
	GH_CHECK(&g, got == 0x12345678, "MMIO data 0x%x", got);
	run_to_io(&g, &e, 0x81);
	GH_OK(&g, vmm_mem_read(g.vm, 0x200000, &got, 4));
	GH_CHECK(&g, got == 0x11223344, "ROM changed to 0x%x", got);
	/* the guest cannot write ROM, so iovec-for-write refuses it too */
	struct iovec iov;
	GH_CHECK(&g, vmm_mem_iovec(g.vm, 0x200000, 4, true, &iov, 1) == -EFAULT,
		 "iovec for write on ROM");
	gh_destroy(&g);
	printf("rom: reads data, guest writes become MMIO exits, ROM unchanged\n");
}

struct mp {
	atomic_uint count[2];
	atomic_uint done;
};

static int count_write(void *opaque, uint64_t off, const void *data,
		       unsigned size, struct vmm_io_ctx *ctx)
{
	struct mp *mp = opaque;
	atomic_fetch_add(&mp->count[vmm_vcpu_index(ctx->vcpu) & 1], 1);
	return 0;
}

static int mp_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	struct mp *mp = opaque;

	if (e->kind == VMM_EXIT_GUEST_EXIT)
		return atomic_fetch_add(&mp->done, 1) == 1 ? 1 : 0;
	if (e->kind == VMM_EXIT_INTERRUPTED)
		return 0;
	return -EIO;
}

static void test_two_vcpus(enum vmm_backend b)
{
	static const uint8_t code[] = {
		0xe6, 0x80, 0xe2, 0xfc, /* 1: out %al,$0x80; loop 1b */
		0xe7, 0xf4, 0xeb, 0xfe, /* out %eax,$0xf4; jmp . */
	};
	static const struct vmm_io_ops ops = { .write = count_write };
	struct vmm_config cfg;
	struct gh_vm g = { .name = "smp" };
	struct mp mp = { 0 };
	vmm_vcpu *v[2];
	vmm_dev *dev;
	int r;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ncpus = 2;
	cfg.ram_size = 1 << 20;
	GH_OK(&g, vmm_vm_create(&cfg, &g.vm));
	GH_OK(&g, vmm_bus_register(g.vm, VMM_SPACE_PIO, 0x80, 1, &ops, &mp,
				   "counter"));
	GH_OK(&g, vmm_debug_exit_attach(g.vm, 0xf4, 4, &dev));
	GH_OK(&g, vmm_mem_write(g.vm, CODE, code, sizeof(code)));
	for (int i = 0; i < 2; i++) {
		GH_OK(&g, vmm_vcpu_create(g.vm, (unsigned)i, &v[i]));
		cpl3_state(&g, v[i], CODE, 1000u * (unsigned)(i + 1));
	}
	GH_OK(&g, vmm_vm_start(g.vm, mp_exit, &mp));
	r = vmm_vm_wait(g.vm, 20000);
	GH_CHECK(&g, r == 1, "vmm_vm_wait returned %d", r);
	GH_CHECK(&g, mp.count[0] == 1000 && mp.count[1] == 2000,
		 "counts %u %u", mp.count[0], mp.count[1]);
	GH_CHECK(&g, vmm_vm_start(g.vm, mp_exit, &mp) == 0, "restart");
	GH_OK(&g, vmm_vm_stop(g.vm));
	vmm_vm_destroy(g.vm);
	printf("two vCPUs on threads: 1000 and 2000 exits counted per vCPU\n");
}

static void test_single_step(enum vmm_backend b)
{
	static const uint8_t code[] = { 0x90, 0x90, 0x90, 0xe6, 0x80, 0xeb, 0xfe };
	struct gh_vm g;
	struct vmm_exit e;
	uint64_t last = 0;
	int steps = 0, r;

	gh_create(&g, "step", b, 0, 1 << 20);
	load_code(&g, code, sizeof(code));
	r = vmm_vcpu_set_single_step(g.vcpu, true);
	if (r == -ENOTSUP) {
		printf("single step: not supported by this backend\n");
		gh_destroy(&g);
		return;
	}
	GH_OK(&g, r);
	for (;;) {
		GH_OK(&g, vmm_vcpu_run(g.vcpu, &e));
		if (e.kind != VMM_EXIT_DEBUG)
			break;
		GH_CHECK(&g, e.debug.pc > last, "pc went 0x%llx -> 0x%llx",
			 (unsigned long long)last, (unsigned long long)e.debug.pc);
		last = e.debug.pc;
		GH_CHECK(&g, ++steps < 100, "too many steps");
	}
	GH_CHECK(&g, e.kind == VMM_EXIT_IO && e.io.port == 0x80,
		 "ended with %s", vmm_exit_name(e.kind));
	GH_CHECK(&g, steps >= 3, "only %d debug exits", steps);
	GH_OK(&g, vmm_vcpu_set_single_step(g.vcpu, false));
	gh_destroy(&g);
	printf("single step: %d debug exits before the port write\n", steps);
}

static void test_irq_args(enum vmm_backend b)
{
	struct gh_vm g;

	gh_create(&g, "irq", b, 0, 1 << 20);
	if (vmm_vm_caps(g.vm) & VMM_CAP_IRQCHIP) {
		GH_OK(&g, vmm_irq_set_line(g.vm, 4, 1));
		GH_OK(&g, vmm_irq_set_line(g.vm, 4, 0));
		GH_CHECK(&g, vmm_irq_set_line(g.vm, 1000, 1) == -EINVAL, "gsi 1000");
		GH_OK(&g, vmm_irq_send_msi(g.vm, 0xfee00000, 0x30));
	}
	GH_CHECK(&g, vmm_irq_send_msi(g.vm, 0x12345000, 0x30) == -EINVAL,
		 "bad MSI address accepted");
	gh_destroy(&g);
	printf("irq: line and MSI arguments checked\n");
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 2, "guest_features BACKEND");

	test_cpuid_filter(b);
	test_dirty_log(b);
	test_rom(b);
	test_two_vcpus(b);
	test_single_step(b);
	test_irq_args(b);
	return 0;
}
