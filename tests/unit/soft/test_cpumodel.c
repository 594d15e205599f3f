/* SPDX-License-Identifier: MIT */
/*
 * test_cpumodel.c - the software backend's CPU models: what CPUID says and
 * what the CPU does agree.  Under VMM_CPU_MAX: SMEP, SMAP (STAC/CLAC,
 * EFLAGS.AC, implicit supervisor accesses), UMIP; the TSC leaves; under
 * VMM_CPU_BASELINE the same CR4 bits and RDTSCP/TSC_AUX are refused.
 * PKU: CPUID PKU/OSPKE, CR4.PKE, RDPKRU/WRPKRU and the protection-key
 * checks of user pages (AD, WD with CR0.WP, PK in the #PF error code).
 * Random MSR indices and values from the guest give only #GP or success,
 * never a VMM stop.  Long mode with the environment of tests/diff/env.h.
 */
#include "soft_test.h"

#include <errno.h>

#define CR4_UMIP (1ull << 11)

static void create(struct tvm *t, enum vmm_cpu_model model)
{
	struct vmm_config cfg;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	cfg.cpu_model = model;
	assert_int_equal(vmm_vm_create(&cfg, &t->vm), 0);
	assert_int_equal(vmm_mem_add_ram(t->vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t->vm, 0, &t->cpu), 0);
	assert_int_equal(env_build_memory(t->vm), 0);
}

static void set_pte(struct tvm *t, uint64_t va, uint64_t pte)
{
	assert_int_equal(vmm_mem_write(t->vm, ENV_PT + (va >> 12) * 8, &pte, 8),
			 0);
}

/* every page of the environment but ENV_DATA (and the next) supervisor */
static void kernel_pages(struct tvm *t)
{
	for (uint64_t a = 0; a < ENV_STACK + 0x1000; a += 0x1000)
		if (a != ENV_DATA && a != ENV_DATA + 0x1000)
			set_pte(t, a, a | 3); /* P|W */
}

static uint64_t err_code(struct tvm *t)
{
	uint64_t err = 0;

	assert_int_equal(vmm_mem_read(t->vm, t->st.gpr[VMM_RSP], &err, 8), 0);
	return err;
}

/* Run @code in long mode at @cpl with @cr4 added; the exit's vector. */
static int run64(struct tvm *t, unsigned cpl, uint64_t cr4, const void *code,
		 size_t len)
{
	struct vmm_exit e;

	tvm_setup(t, ENV_LONG64, cpl, code, len);
	t->st.cr4 |= cr4;
	tvm_set(t);
	e = tvm_run(t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	return env_vector_of(t->st.rip);
}

static void cpuid(struct tvm *t, uint32_t leaf, uint32_t r[4])
{
	static const uint8_t code[] = { 0x0f, 0xa2, 0xf4 }; /* cpuid; hlt */

	tvm_setup(t, ENV_LONG64, 0, code, sizeof(code));
	t->st.gpr[VMM_RAX] = leaf;
	t->st.gpr[VMM_RCX] = 0;
	tvm_set(t);
	assert_int_equal(tvm_run(t).kind, VMM_EXIT_HLT);
	r[0] = (uint32_t)t->st.gpr[VMM_RAX];
	r[1] = (uint32_t)t->st.gpr[VMM_RBX];
	r[2] = (uint32_t)t->st.gpr[VMM_RCX];
	r[3] = (uint32_t)t->st.gpr[VMM_RDX];
}

static void test_cpuid(void **state)
{
	struct tvm t;
	uint32_t r[4];

	create(&t, VMM_CPU_MAX);
	cpuid(&t, 0, r);
	assert_int_equal(r[0], 0x16);
	cpuid(&t, 7, r);
	assert_int_equal(r[1] & ((1u << 7) | (1u << 20)), (1u << 7) | (1u << 20));
	assert_int_equal(r[2] & (1u << 2), 1u << 2);
	assert_int_equal(r[2] & (1u << 31), 1u << 31); /* PKS */
	cpuid(&t, 0x15, r); /* 1 GHz: ECX * EBX / EAX */
	assert_int_equal((uint64_t)r[2] * r[1] / r[0], 1000000000ull);
	/* Linux: (ECX / 1000) * EBX in 32 bits must not overflow */
	assert_true((uint64_t)(r[2] / 1000) * r[1] <= 0xffffffffull);
	cpuid(&t, 0x16, r);
	assert_int_equal(r[0], 1000);
	cpuid(&t, 0x40000000, r);
	assert_int_equal(r[0], 0x40000010);
	assert_memory_equal(&r[1], "LibvmmSoftVM", 12);
	cpuid(&t, 0x40000010, r);
	assert_int_equal(r[0], 1000000);
	cpuid(&t, 0x80000007, r);
	assert_int_equal(r[3], 1u << 8); /* invariant TSC */
	tvm_destroy(&t);

	create(&t, VMM_CPU_BASELINE);
	cpuid(&t, 7, r);
	assert_int_equal(r[1], 1u << 1); /* TSC_ADJUST only */
	assert_int_equal(r[2] | r[3], 0);
	cpuid(&t, 0x80000001, r);
	assert_int_equal(r[3] & (1u << 27), 0); /* no RDTSCP */
	tvm_destroy(&t);
}

/* mov %rax,%cr4 with RAX = CR4 | bit; hlt */
static void test_cr4(void **state)
{
	static const uint8_t code[] = { 0x0f, 0x20, 0xe0,       /* mov cr4,rax */
					0x48, 0x09, 0xd8,       /* or rbx,rax */
					0x0f, 0x22, 0xe0,       /* mov rax,cr4 */
					0xf4 };
	static const uint64_t bits[] = { VMM_CR4_SMEP, VMM_CR4_SMAP, CR4_UMIP,
					 VMM_CR4_PKE, VMM_CR4_PKS };
	struct tvm t;

	for (unsigned m = 0; m < 2; m++) {
		create(&t, m ? VMM_CPU_MAX : VMM_CPU_BASELINE);
		kernel_pages(&t); /* SMEP: CPL0 code on supervisor pages */
		for (unsigned k = 0; k < ARRAY_SIZE(bits); k++) {
			tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
			t.st.gpr[VMM_RBX] = bits[k];
			tvm_set(&t);
			assert_int_equal(tvm_run(&t).kind, VMM_EXIT_HLT);
			if (m) {
				assert_int_equal(env_vector_of(t.st.rip), -1);
				assert_true(t.st.cr4 & bits[k]);
			} else {
				assert_int_equal(env_vector_of(t.st.rip), 13);
			}
			/* set_state refuses what the model lacks */
			assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
			t.st.cr4 |= bits[k];
			assert_int_equal(vmm_vcpu_set_state(t.cpu, &t.st),
					 m ? 0 : -EINVAL);
		}
		tvm_destroy(&t);
	}
}

static void test_umip(void **state)
{
	/* sgdt [ENV_DATA]; int3 / sidt / sldt eax / str eax / smsw eax
	 * (int3, not hlt: HLT at CPL3 is #GP itself) */
	static const uint8_t sgdt[] = { 0x0f, 0x01, 0x04, 0x25, 0x00, 0x00,
					0x02, 0x00, 0xcc };
	static const uint8_t sidt[] = { 0x0f, 0x01, 0x0c, 0x25, 0x00, 0x00,
					0x02, 0x00, 0xcc };
	static const uint8_t sldt[] = { 0x0f, 0x00, 0xc0, 0xcc };
	static const uint8_t str[] = { 0x0f, 0x00, 0xc8, 0xcc };
	static const uint8_t smsw[] = { 0x0f, 0x01, 0xe0, 0xcc };
	static const struct { const uint8_t *c; size_t n; } ins[] = {
		{ sgdt, sizeof(sgdt) }, { sidt, sizeof(sidt) },
		{ sldt, sizeof(sldt) }, { str, sizeof(str) },
		{ smsw, sizeof(smsw) },
	};
	struct tvm t;

	create(&t, VMM_CPU_MAX);
	for (unsigned k = 0; k < ARRAY_SIZE(ins); k++) {
		/* CPL3 without UMIP: allowed; with: #GP(0); CPL0: allowed */
		assert_int_equal(run64(&t, 3, 0, ins[k].c, ins[k].n), 3);
		assert_int_equal(run64(&t, 3, CR4_UMIP, ins[k].c, ins[k].n), 13);
		assert_int_equal(err_code(&t), 0);
		assert_int_equal(run64(&t, 0, CR4_UMIP, ins[k].c, ins[k].n), 3);
	}
	tvm_destroy(&t);
}

/*
 * SMAP: the kernel's pages (tables, handlers, code, stacks) made supervisor,
 * ENV_DATA left a user page.  A CPL0 read of it faults with P (not U)
 * unless STAC set EFLAGS.AC; CLAC takes it back; STAC/CLAC at CPL3 #UD.
 * SMEP: CPL0 code on a user page faults with P|I.
 */
static void test_smap_smep(void **state)
{
	static const uint8_t rd[] = { 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00,
				      0xf4 };            /* mov eax,[DATA]; hlt */
	static const uint8_t stac_rd[] = { 0x0f, 0x01, 0xcb, /* stac */
					   0x8b, 0x04, 0x25, 0x00, 0x00, 0x02,
					   0x00, 0xf4 };
	static const uint8_t stac_clac_rd[] = { 0x0f, 0x01, 0xcb, /* stac */
						0x8b, 0x04, 0x25, 0x00, 0x00,
						0x02, 0x00,
						0x0f, 0x01, 0xca, /* clac */
						0x8b, 0x04, 0x25, 0x04, 0x00,
						0x02, 0x00, 0xf4 };
	static const uint8_t stac[] = { 0x0f, 0x01, 0xcb, 0xf4 };
	static const uint8_t wr[] = { 0xc6, 0x04, 0x25, 0x08, 0x00, 0x02, 0x00,
				      0x01, 0xf4 };      /* mov byte [DATA+8],1 */
	static const uint8_t jmp[] = { 0xff, 0xe0 };    /* jmp rax */
	uint32_t marker = 0x5a5a5a5a;
	struct tvm t;

	create(&t, VMM_CPU_MAX);
	kernel_pages(&t);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA, &marker, 4), 0);
	/* without SMAP the read works */
	assert_int_equal(run64(&t, 0, 0, rd, sizeof(rd)), -1);
	assert_int_equal((uint32_t)t.st.gpr[VMM_RAX], marker);
	/* with SMAP and AC clear: #PF, error code P */
	assert_int_equal(run64(&t, 0, VMM_CR4_SMAP, rd, sizeof(rd)), 14);
	assert_int_equal(err_code(&t), 1);
	assert_int_equal(t.st.cr2, ENV_DATA);
	/* a write too: P|W */
	assert_int_equal(run64(&t, 0, VMM_CR4_SMAP, wr, sizeof(wr)), 14);
	assert_int_equal(err_code(&t), 3);
	/* STAC: allowed; the same page again after CLAC: fault (no stale
	 * translation of the AC=1 access) */
	assert_int_equal(run64(&t, 0, VMM_CR4_SMAP, stac_rd, sizeof(stac_rd)),
			 -1);
	assert_int_equal((uint32_t)t.st.gpr[VMM_RAX], marker);
	assert_true(t.st.rflags & (1u << 18));
	assert_int_equal(run64(&t, 0, VMM_CR4_SMAP, stac_clac_rd,
			       sizeof(stac_clac_rd)), 14);
	assert_int_equal(t.st.cr2, ENV_DATA + 4);
	/* STAC at CPL3: #UD; the code page must be a user page for that */
	set_pte(&t, ENV_CODE, ENV_CODE | 7);
	set_pte(&t, ENV_STACK - 0x1000, (ENV_STACK - 0x1000) | 7);
	assert_int_equal(run64(&t, 3, VMM_CR4_SMAP, stac, sizeof(stac)), 6);
	/* SMEP: CPL0 jumps to code on the user page ENV_DATA: P|I = 0x11 */
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x100, "\xf4", 1), 0);
	set_pte(&t, ENV_CODE, ENV_CODE | 3);
	tvm_setup(&t, ENV_LONG64, 0, jmp, sizeof(jmp));
	t.st.gpr[VMM_RAX] = ENV_DATA + 0x100;
	t.st.cr4 |= VMM_CR4_SMEP;
	tvm_set(&t);
	assert_int_equal(tvm_run(&t).kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(err_code(&t), 0x11);
	tvm_destroy(&t);

	/* baseline: STAC is #UD even at CPL0 */
	create(&t, VMM_CPU_BASELINE);
	assert_int_equal(run64(&t, 0, 0, stac, sizeof(stac)), 6);
	tvm_destroy(&t);
}

/* Run @code at @cpl with CR0 |= @cr0, CR4 |= @cr4, ECX = @ecx, EDX = @edx;
 * the exit's vector. */
static int run_pk(struct tvm *t, unsigned cpl, uint64_t cr0, uint64_t cr4,
		  uint32_t ecx, uint32_t edx, const void *code, size_t len)
{
	tvm_setup(t, ENV_LONG64, cpl, code, len);
	t->st.cr0 = (t->st.cr0 & ~VMM_CR0_WP) | cr0; /* env sets WP */
	t->st.cr4 |= cr4;
	t->st.gpr[VMM_RCX] = ecx;
	t->st.gpr[VMM_RDX] = edx;
	tvm_set(t);
	assert_int_equal(tvm_run(t).kind, VMM_EXIT_HLT);
	return env_vector_of(t->st.rip);
}

/* "xor ecx,ecx; xor edx,edx; mov eax,@pkru; wrpkru" then @tail */
static size_t with_pkru(uint8_t *buf, uint32_t pkru, const uint8_t *tail,
			size_t n)
{
	static const uint8_t pre[] = { 0x31, 0xc9, 0x31, 0xd2, 0xb8 };
	static const uint8_t wrpkru[] = { 0x0f, 0x01, 0xef };
	size_t k = 0;

	memcpy(buf, pre, sizeof(pre));
	k += sizeof(pre);
	memcpy(buf + k, &pkru, 4);
	k += 4;
	memcpy(buf + k, wrpkru, sizeof(wrpkru));
	k += sizeof(wrpkru);
	memcpy(buf + k, tail, n);
	return k + n;
}

#define PK_AD(k) (1u << (2 * (k)))
#define PK_WD(k) (2u << (2 * (k)))

/*
 * PKU under VMM_CPU_MAX (SDM 4.6.2, RDPKRU/WRPKRU): CPUID.7.ECX PKU, OSPKE
 * following CR4.PKE; RDPKRU/WRPKRU #UD without CR4.PKE, #GP(0) with ECX
 * (or EDX for WRPKRU) non-zero; a PKRU round trip at CPL3.  ENV_DATA is a
 * user page with key 1 (the kernel's pages supervisor): AD1 refuses every
 * data access, supervisor or user, with P|PK (+W, +U); WD1 refuses user
 * writes, and supervisor writes only with CR0.WP; other keys and
 * supervisor pages are never checked, nor is anything without CR4.PKE.
 * A WRPKRU after a translation is cached takes effect on the next access.
 */
static void test_pku(void **state)
{
	static const uint8_t cpuid7[] = { 0x31, 0xc9, 0xb8, 0x07, 0x00, 0x00,
					  0x00, 0x0f, 0xa2, 0xf4 };
	static const uint8_t rdpkru[] = { 0x0f, 0x01, 0xee, 0xf4 };
	static const uint8_t wrpkru[] = { 0x0f, 0x01, 0xef, 0xf4 };
	static const uint8_t rd[] = { 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00,
				      0xf4 };            /* mov eax,[DATA]; hlt */
	static const uint8_t wr[] = { 0xc6, 0x04, 0x25, 0x08, 0x00, 0x02, 0x00,
				      0x01, 0xf4 };      /* mov byte [DATA+8],1 */
	/* CPL3 forms end in int3 (HLT is #GP there): vector 3 = success */
	static const uint8_t rd3[] = { 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02,
				       0x00, 0xcc };
	static const uint8_t wr3[] = { 0xc6, 0x04, 0x25, 0x08, 0x00, 0x02,
				       0x00, 0x01, 0xcc };
	static const uint8_t rt3[] = { 0x0f, 0x01, 0xee, 0xcc }; /* rdpkru */
	/* read (cached in the soft TLB), then AD1, then read again */
	static const uint8_t rd_ad_rd[] = { 0x8b, 0x04, 0x25, 0x00, 0x00, 0x02,
					    0x00,
					    0xb8, 0x04, 0x00, 0x00, 0x00,
					    0x0f, 0x01, 0xef,
					    0x8b, 0x04, 0x25, 0x04, 0x00, 0x02,
					    0x00, 0xf4 };
	const uint64_t PKE = VMM_CR4_PKE, WP = VMM_CR0_WP;
	uint8_t code[64];
	size_t n;
	struct tvm t;
	uint32_t r[4];

	create(&t, VMM_CPU_MAX);
	/* CPUID: PKU; OSPKE only while CR4.PKE is set */
	assert_int_equal(run_pk(&t, 0, 0, 0, 0, 0, cpuid7, sizeof(cpuid7)), -1);
	assert_int_equal(t.st.gpr[VMM_RCX] & (3u << 3), 1u << 3);
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, cpuid7, sizeof(cpuid7)),
			 -1);
	assert_int_equal(t.st.gpr[VMM_RCX] & (3u << 3), 3u << 3);
	/* #UD without CR4.PKE, #GP(0) for ECX/EDX non-zero */
	assert_int_equal(run_pk(&t, 0, 0, 0, 0, 0, rdpkru, sizeof(rdpkru)), 6);
	assert_int_equal(run_pk(&t, 0, 0, 0, 0, 0, wrpkru, sizeof(wrpkru)), 6);
	assert_int_equal(run_pk(&t, 0, 0, PKE, 1, 0, rdpkru, sizeof(rdpkru)),
			 13);
	assert_int_equal(err_code(&t), 0);
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 1, rdpkru, sizeof(rdpkru)),
			 -1); /* RDPKRU ignores EDX */
	assert_int_equal(run_pk(&t, 0, 0, PKE, 1, 0, wrpkru, sizeof(wrpkru)),
			 13);
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 1, wrpkru, sizeof(wrpkru)),
			 13);
	/* round trip at CPL3 (every page of the environment is a user page
	 * here); RDPKRU zeroes RDX and the upper half of RAX */
	n = with_pkru(code, 0x5555aaa8u, rt3, sizeof(rt3));
	assert_int_equal(run_pk(&t, 3, 0, PKE, 0, 0, code, n), 3);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x5555aaa8u);
	assert_int_equal(t.st.gpr[VMM_RDX], 0);
	/* CPL3 with AD1 on ENV_DATA (key 1): reads and writes fault with
	 * P|U|PK and P|W|U|PK; WD1: the read works, the write faults */
	set_pte(&t, ENV_DATA, ENV_DATA | 7 | (1ull << 59));
	n = with_pkru(code, PK_AD(1), rd3, sizeof(rd3));
	assert_int_equal(run_pk(&t, 3, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(err_code(&t), 0x25);
	assert_int_equal(t.st.cr2, ENV_DATA);
	n = with_pkru(code, PK_WD(1), rd3, sizeof(rd3));
	assert_int_equal(run_pk(&t, 3, 0, PKE, 0, 0, code, n), 3);
	n = with_pkru(code, PK_WD(1), wr3, sizeof(wr3));
	assert_int_equal(run_pk(&t, 3, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(err_code(&t), 0x27);
	/* the rights of other keys do not matter */
	n = with_pkru(code, ~(PK_AD(1) | PK_WD(1)) & ~3u, wr3, sizeof(wr3));
	assert_int_equal(run_pk(&t, 3, 0, PKE, 0, 0, code, n), 3);

	/* supervisor accesses: the kernel's pages supervisor, ENV_DATA a
	 * user page with key 1 */
	kernel_pages(&t);
	set_pte(&t, ENV_DATA, ENV_DATA | 7 | (1ull << 59));
	n = with_pkru(code, PK_AD(1), rd, sizeof(rd));
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(err_code(&t), 0x21);
	n = with_pkru(code, PK_AD(1), wr, sizeof(wr));
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(err_code(&t), 0x23);
	/* WD1: supervisor write allowed with CR0.WP = 0, #PF with WP = 1 */
	n = with_pkru(code, PK_WD(1), wr, sizeof(wr));
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, code, n), -1);
	assert_int_equal(run_pk(&t, 0, WP, PKE, 0, 0, code, n), 14);
	assert_int_equal(err_code(&t), 0x23);
	n = with_pkru(code, PK_WD(1), rd, sizeof(rd));
	assert_int_equal(run_pk(&t, 0, WP, PKE, 0, 0, code, n), -1);
	/* PKRU stays AD1 (WRPKRU at the start of the last run set WD1; set
	 * AD1 again): without CR4.PKE keys are not checked */
	n = with_pkru(code, PK_AD(1), rd, sizeof(rd));
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(run_pk(&t, 0, 0, 0, 0, 0, rd, sizeof(rd)), -1);
	/* keys of supervisor pages are not checked: ENV_DATA supervisor */
	set_pte(&t, ENV_DATA, ENV_DATA | 3 | (1ull << 59));
	assert_int_equal(run_pk(&t, 0, WP, PKE, 0, 0, code, n), -1);
	set_pte(&t, ENV_DATA, ENV_DATA | 7 | (1ull << 59));
	/* the soft TLB: a translation cached under PKRU = 0 does not
	 * survive WRPKRU (the second read, of DATA+4, faults) */
	n = with_pkru(code, 0, rd_ad_rd, sizeof(rd_ad_rd));
	assert_int_equal(run_pk(&t, 0, 0, PKE, 0, 0, code, n), 14);
	assert_int_equal(t.st.cr2, ENV_DATA + 4);
	assert_int_equal(err_code(&t), 0x21);
	/* the walker's rules in detail (large pages, 5-level, PAE):
	 * tests/unit/mem/test_pagewalk.c test_pkeys */
	tvm_destroy(&t);

	/* baseline: no PKU, RDPKRU #UD */
	create(&t, VMM_CPU_BASELINE);
	cpuid(&t, 7, r);
	assert_int_equal(r[2] & (3u << 3), 0);
	assert_int_equal(run64(&t, 0, 0, rdpkru, sizeof(rdpkru)), 6);
	tvm_destroy(&t);
}

static void test_rdtscp(void **state)
{
	static const uint8_t rdtscp[] = { 0x0f, 0x01, 0xf9, 0xf4 };
	static const uint8_t rdmsr[] = { 0x0f, 0x32, 0xf4 };
	struct tvm t;

	create(&t, VMM_CPU_BASELINE);
	assert_int_equal(run64(&t, 0, 0, rdtscp, sizeof(rdtscp)), 6);
	tvm_setup(&t, ENV_LONG64, 0, rdmsr, sizeof(rdmsr));
	t.st.gpr[VMM_RCX] = 0xc0000103; /* TSC_AUX */
	tvm_set(&t);
	tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	tvm_destroy(&t);
	create(&t, VMM_CPU_MAX);
	assert_int_equal(run64(&t, 0, 0, rdtscp, sizeof(rdtscp)), -1);
	tvm_destroy(&t);
}

/* MSRs the SDM requires for what soft advertises, and their reset values */
static void test_msrs(void **state)
{
	static const uint8_t rdmsr[] = { 0x0f, 0x32, 0xf4 };
	static const struct { uint32_t msr; uint64_t v; } want[] = {
		{ 0x179, 0 },                    /* IA32_MCG_CAP: no banks */
		{ 0x17a, 0 },                    /* IA32_MCG_STATUS */
		{ 0x1a0, 0x1801 },               /* MISC_ENABLE: fast strings */
		{ 0x277, 0x0007040600070406ull }, /* PAT */
	};
	struct tvm t;

	create(&t, VMM_CPU_MAX);
	for (unsigned k = 0; k < ARRAY_SIZE(want); k++) {
		tvm_setup(&t, ENV_LONG64, 0, rdmsr, sizeof(rdmsr));
		t.st.gpr[VMM_RCX] = want[k].msr;
		tvm_set(&t);
		tvm_run(&t);
		assert_int_equal(env_vector_of(t.st.rip), -1);
		assert_int_equal((uint32_t)t.st.gpr[VMM_RAX] |
					 t.st.gpr[VMM_RDX] << 32,
				 want[k].v);
	}
	/* not advertised: SPEC_CTRL, MTRRcap */
	for (uint32_t msr = 0x48; msr != 0; msr = msr == 0x48 ? 0xfe : 0) {
		tvm_setup(&t, ENV_LONG64, 0, rdmsr, sizeof(rdmsr));
		t.st.gpr[VMM_RCX] = msr;
		tvm_set(&t);
		tvm_run(&t);
		assert_int_equal(env_vector_of(t.st.rip), 13);
	}
	tvm_destroy(&t);
}

/* IA32_ARCH_CAPABILITIES (CPUID 7.EDX[29]): the software CPU does not
 * speculate, so it says so (RDCL_NO, MDS_NO, ITS_NO, ...); read-only;
 * absent from the baseline model (KVM hosts differ) */
static void test_arch_capabilities(void **state)
{
	static const uint8_t rdmsr[] = { 0x0f, 0x32, 0xf4 };
	static const uint8_t wrmsr[] = { 0x0f, 0x30, 0xf4 };
	uint32_t r[4];
	uint64_t v;
	struct tvm t;

	create(&t, VMM_CPU_MAX);
	cpuid(&t, 7, r);
	assert_true(r[3] & (1u << 29));
	tvm_setup(&t, ENV_LONG64, 0, rdmsr, sizeof(rdmsr));
	t.st.gpr[VMM_RCX] = 0x10a;
	tvm_set(&t);
	tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), -1);
	v = (uint32_t)t.st.gpr[VMM_RAX] | t.st.gpr[VMM_RDX] << 32;
	assert_true(v & (1ull << 0));   /* RDCL_NO: no page-table isolation */
	assert_true(v & (1ull << 4));   /* SSB_NO */
	assert_true(v & (1ull << 5));   /* MDS_NO */
	assert_true(v & (1ull << 8));   /* TAA_NO */
	assert_true(v & (1ull << 62));  /* ITS_NO */
	/* no control it does not have: IBRS_ALL, RSBA, TSX_CTRL, FB_CLEAR */
	assert_int_equal(v & ((1ull << 1) | (1ull << 2) | (1ull << 7) |
			      (1ull << 17)), 0);
	tvm_setup(&t, ENV_LONG64, 0, wrmsr, sizeof(wrmsr));
	t.st.gpr[VMM_RCX] = 0x10a;
	tvm_set(&t);
	tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	tvm_destroy(&t);

	create(&t, VMM_CPU_BASELINE);
	cpuid(&t, 7, r);
	assert_int_equal(r[3] & (1u << 29), 0);
	tvm_setup(&t, ENV_LONG64, 0, rdmsr, sizeof(rdmsr));
	t.st.gpr[VMM_RCX] = 0x10a;
	tvm_set(&t);
	tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	tvm_destroy(&t);
}

/*
 * Random MSR indices and values, read and written at CPL0: every one ends
 * in success or #GP, the run never fails and never stops the VM.
 */
static void test_msr_random(void **state)
{
	static const uint8_t code[] = { 0x0f, 0x32, 0x0f, 0x30, 0xf4 };
	static const uint8_t wr[] = { 0x0f, 0x30, 0xf4 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct tvm t;
	unsigned gp = 0, ok = 0;

	create(&t, VMM_CPU_MAX);
	for (unsigned k = 0; k < 3000; k++) {
		struct vmm_exit e;
		uint32_t msr;
		int v;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		switch (k % 3) {
		case 0: msr = (uint32_t)(seed >> 32); break;
		case 1: msr = (uint32_t)(seed >> 40) & 0xfff; break;
		default: msr = 0xc0000000u + ((uint32_t)(seed >> 40) & 0x1ff);
		}
		tvm_setup(&t, ENV_LONG64, 0, k & 1 ? wr : code,
			  k & 1 ? sizeof(wr) : sizeof(code));
		t.st.gpr[VMM_RCX] = msr;
		t.st.gpr[VMM_RAX] = (uint32_t)(seed >> 7);
		t.st.gpr[VMM_RDX] = (uint32_t)(seed >> 19);
		tvm_set(&t);
		memset(&e, 0, sizeof(e));
		assert_int_equal(vmm_vcpu_run(t.cpu, &e), 0);
		assert_int_not_equal(e.kind, VMM_EXIT_INTERNAL);
		assert_int_equal(vmm_vcpu_get_state(t.cpu, &t.st), 0);
		v = e.kind == VMM_EXIT_HLT ? env_vector_of(t.st.rip) : -2;
		if (v == 13)
			gp++;
		else if (v == -1)
			ok++;
	}
	printf("random MSRs: %u #GP, %u completed, %u other (mode changes)\n",
	       gp, ok, 3000 - gp - ok);
	assert_true(gp > 1000);
	tvm_destroy(&t);
}

/*
 * IA32_TSC_ADJUST (SDM 17.17.3): a write moves the TSC by the difference;
 * a WRMSR to the TSC moves TSC_ADJUST by the same amount.  Deterministic
 * mode: the TSC counts instructions, so the values are exact.
 */
static void test_tsc_adjust(void **state)
{
	static const uint8_t code[] = {
		0xb9, 0x3b, 0x00, 0x00, 0x00, /* mov ecx, 0x3b */
		0x31, 0xd2,                   /* xor edx, edx */
		0xb8, 0x00, 0x10, 0x00, 0x00, /* mov eax, 0x1000 */
		0x0f, 0x30,                   /* wrmsr: TSC_ADJUST = 0x1000 */
		0x0f, 0x31,                   /* rdtsc */
		0x48, 0x89, 0xc6,             /* mov rsi, rax */
		0xb9, 0x10, 0x00, 0x00, 0x00, /* mov ecx, 0x10 */
		0x31, 0xd2,                   /* xor edx, edx */
		0xb8, 0x00, 0x00, 0x10, 0x00, /* mov eax, 0x100000 */
		0x0f, 0x30,                   /* wrmsr: TSC = 0x100000 */
		0xb9, 0x3b, 0x00, 0x00, 0x00, /* mov ecx, 0x3b */
		0x0f, 0x32,                   /* rdmsr TSC_ADJUST */
		0xf4,
	};
	struct vmm_config cfg;
	struct tvm t;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP | VMM_CFG_DETERMINISTIC;
	assert_int_equal(vmm_vm_create(&cfg, &t.vm), 0);
	assert_int_equal(vmm_mem_add_ram(t.vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t.vm, 0, &t.cpu), 0);
	assert_int_equal(env_build_memory(t.vm), 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	t.st.msr.tsc = 0;
	tvm_set(&t);
	assert_int_equal(tvm_run(&t).kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), -1);
	/* 4 instructions retired before RDTSC, plus the adjustment */
	assert_true(t.st.gpr[VMM_RSI] >= 0x1000 && t.st.gpr[VMM_RSI] < 0x1010);
	/* the TSC went from a few ticks after RSI to 0x100000:
	 * TSC_ADJUST moved by the same amount */
	{
		uint64_t adj = (uint32_t)t.st.gpr[VMM_RAX];
		uint64_t before = 0x1000 + 0x100000 - adj;
		assert_true(before > t.st.gpr[VMM_RSI] &&
			    before <= t.st.gpr[VMM_RSI] + 8);
	}
	tvm_destroy(&t);
}

static void test_models_refused(void **state)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.cpu_model = VMM_CPU_HOST;
	assert_int_equal(vmm_vm_create(&cfg, &vm), -ENOTSUP);
	assert_null(vm);
	cfg.cpu_model = 4;
	assert_int_equal(vmm_vm_create(&cfg, &vm), -EINVAL);
	/* a config from before cpu_model existed gets the default */
	cfg.cpu_model = 77;
	cfg.struct_size = offsetof(struct vmm_config, cpu_model);
	assert_int_equal(vmm_vm_create(&cfg, &vm), 0);
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpuid),
		cmocka_unit_test(test_cr4),
		cmocka_unit_test(test_umip),
		cmocka_unit_test(test_smap_smep),
		cmocka_unit_test(test_pku),
		cmocka_unit_test(test_rdtscp),
		cmocka_unit_test(test_msrs),
		cmocka_unit_test(test_arch_capabilities),
		cmocka_unit_test(test_msr_random),
		cmocka_unit_test(test_tsc_adjust),
		cmocka_unit_test(test_models_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
