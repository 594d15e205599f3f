/* SPDX-License-Identifier: MIT */
/*
 * test_gates.c - far CALL/JMP through call gates on the software backend,
 * with the expected values taken from the SDM (KVM emulates CPL0 on the
 * test machines, so it is no oracle here): a 32-bit gate from CPL3 to CPL0
 * with the stack switch from the TSS and two parameters copied, RET far
 * with an immediate back to CPL3; the same through a 64-bit gate in long
 * mode; and the #GP/#NP/#TS/#SS faults with their error codes for gates
 * and targets that are not allowed, not present, or whose new stack is
 * bad.  Task switches in 32-bit protected mode: CALL to a TSS and IRET
 * back (NT, back link, busy bits, saved state), JMP through a task gate,
 * a double fault through a task gate, and the faults of a busy or short
 * TSS.
 */
#include "soft_test.h"

#define IDT32 0xc800
#define GDT_LIMIT 0xff

static void wdesc(struct tvm *t, unsigned sel, uint64_t d)
{
	assert_int_equal(vmm_mem_write(t->vm, ENV_GDT + (sel & ~7u), &d, 8), 0);
}

/* code/data descriptor (base 0) */
static uint64_t seg_desc(uint32_t limit, unsigned type, unsigned dpl,
			 unsigned l, unsigned db, unsigned g, unsigned p)
{
	return (limit & 0xffffull) | ((uint64_t)type << 40) | (1ull << 44) |
	       ((uint64_t)dpl << 45) | ((uint64_t)p << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)l << 53) |
	       ((uint64_t)db << 54) | ((uint64_t)g << 55);
}

/* call gate (lower 8 bytes); type 0xc 32/64-bit, 0x4 16-bit */
static uint64_t gate(unsigned type, uint16_t tsel, uint32_t off, unsigned dpl,
		     unsigned pcount, unsigned p)
{
	return (off & 0xffff) | ((uint64_t)tsel << 16) |
	       ((uint64_t)(pcount & 0x1f) << 32) | ((uint64_t)type << 40) |
	       ((uint64_t)dpl << 45) | ((uint64_t)p << 47) |
	       ((uint64_t)(off >> 16) << 48);
}

static void w32(struct tvm *t, uint64_t gpa, uint32_t v)
{
	assert_int_equal(vmm_mem_write(t->vm, gpa, &v, 4), 0);
}

static uint32_t r32(struct tvm *t, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(t->vm, gpa, &v, 4), 0);
	return v;
}

static uint64_t r64(struct tvm *t, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(vmm_mem_read(t->vm, gpa, &v, 8), 0);
	return v;
}

/* 32-bit protected mode: an IDT of 32-bit interrupt gates to the HLTs */
static void prot32_idt(struct tvm *t)
{
	for (unsigned v = 0; v < 32; v++) {
		uint32_t h = ENV_HANDLERS + v * 16;
		uint64_t g = (h & 0xffff) | ((uint64_t)ENV_KCODE32 << 16) |
			     (0xeeull << 40) | ((uint64_t)(h >> 16) << 48);
		assert_int_equal(vmm_mem_write(t->vm, IDT32 + v * 8, &g, 8), 0);
	}
	/* 32-bit TSS view of the environment's TSS: SS0 = kernel data */
	w32(t, ENV_TSS + 8, ENV_KDATA);
}

static void setup32(struct tvm *t, unsigned cpl, const void *code, size_t len)
{
	tvm_setup(t, ENV_PROT32, cpl, code, len);
	t->st.idtr.base = IDT32;
	t->st.idtr.limit = 32 * 8 - 1;
	t->st.gdtr.limit = GDT_LIMIT;
	tvm_set(t);
}

/* Run to the HLT of an exception handler; returns the error code. */
static uint32_t run_to_fault32(struct tvm *t, int vec)
{
	struct vmm_exit e = tvm_run(t);

	if (e.kind == VMM_EXIT_INTERNAL)
		fail_msg("internal exit: %s", e.internal.msg);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t->st.rip), vec);
	/* from CPL3: the frame is on the TSS stack: error code on top */
	assert_int_equal(t->st.gpr[VMM_RSP] & 0xffffffff,
			 ENV_KSTACK - 6 * 4);
	return r32(t, ENV_KSTACK - 6 * 4);
}

static void test_gate32_inner(void **state)
{
	static const uint8_t user[] = {
		0x68, 0x11, 0x11, 0x11, 0x11,             /* push 0x11111111 */
		0x68, 0x22, 0x22, 0x22, 0x22,             /* push 0x22222222 */
		0x9a, 0x00, 0x00, 0x00, 0x00, 0x53, 0x00, /* call 0x53:0 */
		0xe6, 0x80,                               /* out 0x80, al */
	};
	static const uint8_t kern[] = {
		0x89, 0x25, 0x00, 0x00, 0x02, 0x00, /* mov [DATA], esp */
		0x8c, 0x15, 0x04, 0x00, 0x02, 0x00, /* mov [DATA+4], ss */
		0x8c, 0x0d, 0x08, 0x00, 0x02, 0x00, /* mov [DATA+8], cs */
		0xca, 0x08, 0x00,                   /* retf 8 */
	};
	const uint32_t frame = ENV_KSTACK - 24;
	struct tvm t;
	struct vmm_exit e;

	tvm_create(&t, 0);
	prot32_idt(&t);
	wdesc(&t, 0x50, gate(0xc, ENV_KCODE32, ENV_CODE + 0x100, 3, 2, 1));
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x100, kern,
				       sizeof(kern)), 0);
	setup32(&t, 3, user, sizeof(user));
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x80);
	/* back at CPL3 after the call, parameters released */
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(user));
	assert_int_equal(t.st.seg[VMM_CS].selector, ENV_UCODE32);
	assert_int_equal(t.st.seg[VMM_SS].selector, ENV_UDATA);
	assert_int_equal(t.st.gpr[VMM_RSP], ENV_STACK);
	assert_int_equal(t.st.seg[VMM_DS].selector, ENV_UDATA);
	/* inside: CPL0 on SS0:ESP0 from the TSS */
	assert_int_equal(r32(&t, ENV_DATA), frame);
	assert_int_equal(r32(&t, ENV_DATA + 4) & 0xffff, ENV_KDATA);
	assert_int_equal(r32(&t, ENV_DATA + 8) & 0xffff, ENV_KCODE32);
	/* the new stack: EIP, CS, the parameters as the caller had them,
	 * ESP, SS */
	assert_int_equal(r32(&t, frame), ENV_CODE + 17);
	assert_int_equal(r32(&t, frame + 4), ENV_UCODE32);
	assert_int_equal(r32(&t, frame + 8), 0x22222222);
	assert_int_equal(r32(&t, frame + 12), 0x11111111);
	assert_int_equal(r32(&t, frame + 16), ENV_STACK - 8);
	assert_int_equal(r32(&t, frame + 20), ENV_UDATA);
	tvm_destroy(&t);
}

/* 0x88: 32-bit code DPL1; 0x90: gate DPL3 to it (stack from SS1:ESP1) */
#define CODE1 0x88
#define GATE1 0x93

static void test_gate32_faults(void **state)
{
	static const uint8_t call58[] = { 0x9a, 0, 0, 0, 0, 0x5b, 0x00 };
	static const uint8_t call60[] = { 0x9a, 0, 0, 0, 0, 0x63, 0x00 };
	static const uint8_t call70[] = { 0x9a, 0, 0, 0, 0, 0x73, 0x00 };
	static const uint8_t jmp50[] = { 0xea, 0, 0, 0, 0, 0x53, 0x00 };
	static const uint8_t call90[] = { 0x9a, 0, 0, 0, 0, GATE1, 0x00 };
	static const uint8_t callldt[] = { 0x9a, 0, 0, 0, 0, 0x9b, 0x00 };
	struct tvm t;

	tvm_create(&t, 0);
	prot32_idt(&t);
	wdesc(&t, 0x50, gate(0xc, ENV_KCODE32, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x58, gate(0xc, ENV_KCODE32, ENV_CODE + 0x100, 0, 0, 1));
	wdesc(&t, 0x60, gate(0xc, 0x68, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x68, seg_desc(0xfffff, 0xb, 0, 0, 1, 1, 0));
	wdesc(&t, 0x70, gate(0xc, ENV_KCODE32, ENV_CODE + 0x100, 3, 0, 0));
	wdesc(&t, 0x78, seg_desc(0xfffff, 0x3, 1, 0, 1, 1, 0));
	wdesc(&t, 0x80, seg_desc(0x10, 0x3, 1, 0, 1, 0, 1));
	wdesc(&t, CODE1, seg_desc(0xfffff, 0xb, 1, 0, 1, 1, 1));
	wdesc(&t, 0x90, gate(0xc, CODE1, ENV_CODE + 0x100, 3, 1, 1));
	/* an LDT descriptor is no call gate */
	wdesc(&t, 0x98, (0x2ull << 40) | (3ull << 45) | (1ull << 47) | 0xff);

	/* gate DPL 0 < CPL 3: #GP(gate) */
	setup32(&t, 3, call58, sizeof(call58));
	assert_int_equal(run_to_fault32(&t, 13), 0x58);
	/* target code segment not present: #NP(target) */
	setup32(&t, 3, call60, sizeof(call60));
	assert_int_equal(run_to_fault32(&t, 11), 0x68);
	/* gate not present: #NP(gate) */
	setup32(&t, 3, call70, sizeof(call70));
	assert_int_equal(run_to_fault32(&t, 11), 0x70);
	/* JMP through a gate cannot change privilege: #GP(target) */
	setup32(&t, 3, jmp50, sizeof(jmp50));
	assert_int_equal(run_to_fault32(&t, 13), ENV_KCODE32);
	/* a system descriptor that is not a gate: #GP(selector) */
	setup32(&t, 3, callldt, sizeof(callldt));
	assert_int_equal(run_to_fault32(&t, 13), 0x98);

	/* the stack for CPL1 from the TSS (ESP1 at 12, SS1 at 16) */
	w32(&t, ENV_TSS + 12, 0xe000);
	/* null SS1: #TS(0) */
	w32(&t, ENV_TSS + 16, 0);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 10), 0);
	/* SS1 with RPL 3: #TS(SS1) */
	w32(&t, ENV_TSS + 16, 0x7b);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 10), 0x78);
	/* SS1 = kernel data (DPL 0 != 1): #TS(SS1) */
	w32(&t, ENV_TSS + 16, ENV_KDATA | 1);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 10), ENV_KDATA);
	/* SS1 beyond the GDT limit: #TS(SS1) */
	w32(&t, ENV_TSS + 16, 0x1f9);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 10), 0x1f8);
	/* SS1 not present: #SS(SS1) */
	w32(&t, ENV_TSS + 16, 0x79);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 12), 0x78);
	/* SS1 present but ESP1 = 0x10 leaves no room for 4 + 1 dwords:
	 * #SS(SS1) */
	w32(&t, ENV_TSS + 12, 0x10);
	w32(&t, ENV_TSS + 16, 0x81);
	setup32(&t, 3, call90, sizeof(call90));
	assert_int_equal(run_to_fault32(&t, 12), 0x80);
	/* TSS too short for the CPL1 entry: #TS(TSS) */
	w32(&t, ENV_TSS + 12, 0xe000);
	w32(&t, ENV_TSS + 16, 0x81);
	setup32(&t, 3, call90, sizeof(call90));
	t.st.seg[VMM_TR].limit = 0x10;
	tvm_set(&t);
	assert_int_equal(run_to_fault32(&t, 10), 0x48);
	tvm_destroy(&t);
}

/*
 * A 16-bit call gate to 16-bit code at CPL1: 2-byte frame, SS1:SP1 from
 * the 32-bit TSS, one parameter word pair copied.  16-bit gates keep only
 * IP and SP: the caller runs below 64 KiB.
 */
static void test_gate16_inner(void **state)
{
	static const uint8_t user[] = {
		0x68, 0x44, 0x44, 0x33, 0x33,             /* push 0x33334444 */
		0x9a, 0x00, 0x00, 0x00, 0x00, 0x53, 0x00, /* call 0x53:0 */
		0xe6, 0x80,                               /* out 0x80, al */
	};
	/* 16-bit: mov [0x200], sp; retf 4 */
	static const uint8_t k16[] = { 0x89, 0x26, 0x00, 0x02,
				       0xca, 0x04, 0x00 };
	const uint32_t top = 0xe000, frame = top - 12, ucode = 0x8000;
	struct tvm t;
	struct vmm_exit e;
	uint16_t w[6];

	tvm_create(&t, 0);
	prot32_idt(&t);
	/* 16-bit code at CPL1 (base 0, limit 64K), its stack SS1:SP1 */
	wdesc(&t, 0x88, seg_desc(0xffff, 0xb, 1, 0, 0, 0, 1));
	wdesc(&t, 0x80, seg_desc(0xffff, 0x3, 1, 0, 0, 0, 1));
	wdesc(&t, 0x50, gate(0x4, 0x89, 0x100, 3, 2, 1));
	w32(&t, ENV_TSS + 12, top);
	w32(&t, ENV_TSS + 16, 0x81);
	assert_int_equal(vmm_mem_write(t.vm, 0x100, k16, sizeof(k16)), 0);
	assert_int_equal(vmm_mem_write(t.vm, ucode, user, sizeof(user)), 0);
	tvm_setup(&t, ENV_PROT32, 3, user, sizeof(user));
	t.st.idtr.base = IDT32;
	t.st.idtr.limit = 32 * 8 - 1;
	t.st.gdtr.limit = GDT_LIMIT;
	t.st.rip = ucode;
	t.st.gpr[VMM_RSP] = 0xfff0;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(t.st.rip, ucode + sizeof(user));
	assert_int_equal(t.st.seg[VMM_CS].selector, ENV_UCODE32);
	assert_int_equal(t.st.seg[VMM_SS].selector, ENV_UDATA);
	assert_int_equal(t.st.gpr[VMM_RSP], 0xfff0);
	/* the CPL1 code saw SP = frame; the frame holds IP, CS, the two
	 * 16-bit parameters as the caller had them, SP, SS */
	assert_int_equal(vmm_mem_read(t.vm, 0x200, w, 2), 0);
	assert_int_equal(w[0], frame);
	assert_int_equal(vmm_mem_read(t.vm, frame, w, 12), 0);
	assert_int_equal(w[0], ucode + 12);
	assert_int_equal(w[1], ENV_UCODE32);
	assert_int_equal(w[2], 0x4444);
	assert_int_equal(w[3], 0x3333);
	assert_int_equal(w[4], 0xfff0 - 4);
	assert_int_equal(w[5], ENV_UDATA);
	tvm_destroy(&t);
}

static void test_gate64(void **state)
{
	static const uint8_t user[] = {
		0xff, 0x1c, 0x25, 0x00, 0x02, 0x02, 0x00, /* call far [DATA+0x200] */
		0xe6, 0x80,                               /* out 0x80, al */
	};
	static const uint8_t kern[] = {
		0x48, 0x89, 0x24, 0x25, 0x00, 0x00, 0x02, 0x00, /* mov [DATA], rsp */
		0x8c, 0x14, 0x25, 0x08, 0x00, 0x02, 0x00,       /* mov [DATA+8], ss */
		0x48, 0xcb,                                     /* rex.w retf */
	};
	const uint64_t frame = ENV_KSTACK - 32;
	struct tvm t;
	struct vmm_exit e;
	uint8_t ptr[6] = { 0, 0, 0, 0, 0x53, 0 };
	uint64_t err;

	tvm_create(&t, 0);
	wdesc(&t, 0x50, gate(0xc, ENV_KCODE64, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x58, 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_CODE + 0x100, kern,
				       sizeof(kern)), 0);
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x200, ptr, 6), 0);
	tvm_setup(&t, ENV_LONG64, 3, user, sizeof(user));
	t.st.gdtr.limit = GDT_LIMIT;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(user));
	assert_int_equal(t.st.seg[VMM_CS].selector, ENV_UCODE64);
	assert_int_equal(t.st.seg[VMM_SS].selector, ENV_UDATA);
	assert_int_equal(t.st.gpr[VMM_RSP], ENV_STACK);
	/* inside: RSP0 from the TSS, SS = null selector with RPL 0 */
	assert_int_equal(r64(&t, ENV_DATA), frame);
	assert_int_equal(r64(&t, ENV_DATA + 8) & 0xffff, 0);
	assert_int_equal(r64(&t, frame), ENV_CODE + 7);
	assert_int_equal(r64(&t, frame + 8), ENV_UCODE64);
	assert_int_equal(r64(&t, frame + 16), ENV_STACK);
	assert_int_equal(r64(&t, frame + 24), ENV_UDATA);

	/* the gate's upper half with a non-zero type: #GP(gate) */
	wdesc(&t, 0x60, gate(0xc, ENV_KCODE64, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x68, 0x0c0000000000ull);
	ptr[4] = 0x63;
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x200, ptr, 6), 0);
	tvm_setup(&t, ENV_LONG64, 3, user, sizeof(user));
	t.st.gdtr.limit = GDT_LIMIT;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, 0x60);
	/* a 64-bit gate to 32-bit code: #GP(target) */
	wdesc(&t, 0x70, gate(0xc, ENV_KCODE32, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x78, 0);
	ptr[4] = 0x73;
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x200, ptr, 6), 0);
	tvm_setup(&t, ENV_LONG64, 3, user, sizeof(user));
	t.st.gdtr.limit = GDT_LIMIT;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, ENV_KCODE32);
	/* a 16-bit gate does not exist in IA-32e mode: #GP(gate) */
	wdesc(&t, 0x80, gate(0x4, ENV_KCODE64, ENV_CODE + 0x100, 3, 0, 1));
	wdesc(&t, 0x88, 0);
	ptr[4] = 0x83;
	assert_int_equal(vmm_mem_write(t.vm, ENV_DATA + 0x200, ptr, 6), 0);
	tvm_setup(&t, ENV_LONG64, 3, user, sizeof(user));
	t.st.gdtr.limit = GDT_LIMIT;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, 0x80);
	tvm_destroy(&t);
}

/*
 * Task switches in 32-bit protected mode.  Task 1 runs on the
 * environment's TSS (GDT 0x48); task 2's TSS is at TSS2 (GDT 0xa0), a
 * task gate to it at GDT 0xa8.
 */
#define TSS2 0xd000
#define TSS2_SEL 0xa0
#define TGATE_SEL 0xa8
#define TASK2_CODE (ENV_CODE + 0x200)
#define TASK2_STACK 0xe800

static uint64_t tss_desc(uint32_t base, uint32_t limit, unsigned type)
{
	return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)type << 40) | (1ull << 47) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(base >> 24) << 56);
}

static uint8_t desc_type(struct tvm *t, unsigned sel)
{
	uint8_t b;

	assert_int_equal(vmm_mem_read(t->vm, ENV_GDT + (sel & ~7u) + 5, &b, 1),
			 0);
	return b & 0x1f;
}

static void task_setup(struct tvm *t, const void *code1, size_t len1,
		       const void *code2, size_t len2)
{
	uint32_t tss[26];

	tvm_create(t, 0);
	prot32_idt(t);
	/* task 1 is running: its descriptor is busy */
	wdesc(t, 0x48, tss_desc(ENV_TSS, 0x68 + 8192, 0xb));
	wdesc(t, TSS2_SEL, tss_desc(TSS2, 0x67, 0x9));
	wdesc(t, TGATE_SEL, ((uint64_t)TSS2_SEL << 16) | (0x5ull << 40) |
			    (1ull << 47));
	memset(tss, 0, sizeof(tss));
	tss[8] = TASK2_CODE;        /* EIP */
	tss[9] = 0x2;               /* EFLAGS */
	tss[10] = 0xaaaa0001;       /* EAX */
	tss[11] = 0xaaaa0002;       /* ECX */
	tss[14] = TASK2_STACK;      /* ESP */
	tss[18] = ENV_KDATA;        /* ES */
	tss[19] = ENV_KCODE32;      /* CS */
	tss[20] = ENV_KDATA;        /* SS */
	tss[21] = ENV_KDATA;        /* DS */
	tss[22] = ENV_KDATA;        /* FS */
	tss[23] = ENV_KDATA;        /* GS */
	assert_int_equal(vmm_mem_write(t->vm, TSS2, tss, sizeof(tss)), 0);
	assert_int_equal(vmm_mem_write(t->vm, TASK2_CODE, code2, len2), 0);
	setup32(t, 0, code1, len1);
}

/* CALL to a TSS, IRET (NT=1) back along the link */
static void test_task_call_iret(void **state)
{
	static const uint8_t task1[] = {
		0xb8, 0x11, 0x11, 0x11, 0x11,             /* mov eax, 0x11111111 */
		0x9a, 0x00, 0x00, 0x00, 0x00, TSS2_SEL, 0x00, /* call TSS2:0 */
		0xf4,                                     /* hlt */
	};
	static const uint8_t task2[] = {
		0xa3, 0x00, 0x00, 0x02, 0x00,       /* mov [DATA], eax */
		0x9c,                               /* pushfd */
		0x5b,                               /* pop ebx */
		0x89, 0x1d, 0x04, 0x00, 0x02, 0x00, /* mov [DATA+4], ebx */
		0x0f, 0x00, 0xc8,                   /* str eax */
		0xa3, 0x08, 0x00, 0x02, 0x00,       /* mov [DATA+8], eax */
		0xcf,                               /* iret */
	};
	struct tvm t;
	struct vmm_exit e;

	task_setup(&t, task1, sizeof(task1), task2, sizeof(task2));
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	/* back in task 1 after the CALL, its registers from its TSS */
	assert_int_equal(t.st.rip, ENV_CODE + sizeof(task1));
	assert_int_equal(t.st.gpr[VMM_RAX], 0x11111111);
	assert_int_equal(t.st.seg[VMM_TR].selector, 0x48);
	assert_int_equal(t.st.seg[VMM_CS].selector, ENV_KCODE32);
	assert_int_equal(t.st.gpr[VMM_RSP], ENV_STACK);
	assert_false(t.st.rflags & 0x4000);
	assert_true(t.st.cr0 & VMM_CR0_TS);
	/* task 2 ran with its own registers, NT set, TR = TSS2 */
	assert_int_equal(r32(&t, ENV_DATA), 0xaaaa0001);
	assert_int_equal(r32(&t, ENV_DATA + 4) & 0x4000, 0x4000);
	assert_int_equal(r32(&t, ENV_DATA + 8) & 0xffff, TSS2_SEL);
	/* the link, the saved EIPs, the busy bits */
	assert_int_equal(r32(&t, TSS2) & 0xffff, 0x48);
	assert_int_equal(r32(&t, ENV_TSS + 0x20), ENV_CODE + 12);
	assert_int_equal(r32(&t, TSS2 + 0x20), TASK2_CODE + sizeof(task2));
	assert_int_equal(desc_type(&t, TSS2_SEL), 0x9);
	assert_int_equal(desc_type(&t, 0x48), 0xb);
	tvm_destroy(&t);
}

/* JMP through a task gate: no link, no NT, the old TSS not busy */
static void test_task_jmp_gate(void **state)
{
	static const uint8_t task1[] = {
		0xea, 0x00, 0x00, 0x00, 0x00, TGATE_SEL, 0x00, /* jmp gate:0 */
	};
	static const uint8_t task2[] = {
		0x9c,                               /* pushfd */
		0x5b,                               /* pop ebx */
		0xf4,                               /* hlt */
	};
	struct tvm t;
	struct vmm_exit e;

	task_setup(&t, task1, sizeof(task1), task2, sizeof(task2));
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, TASK2_CODE + sizeof(task2));
	assert_int_equal(t.st.seg[VMM_TR].selector, TSS2_SEL);
	assert_int_equal(t.st.seg[VMM_TR].type, 0xb);
	assert_int_equal(t.st.gpr[VMM_RAX], 0xaaaa0001);
	assert_int_equal(t.st.gpr[VMM_RCX], 0xaaaa0002);
	assert_int_equal(t.st.gpr[VMM_RSP], TASK2_STACK);
	assert_int_equal(t.st.gpr[VMM_RBX] & 0x4000, 0);
	assert_int_equal(r32(&t, TSS2) & 0xffff, 0);
	assert_int_equal(r32(&t, ENV_TSS + 0x20), ENV_CODE + sizeof(task1));
	assert_int_equal(desc_type(&t, 0x48), 0x9);
	assert_int_equal(desc_type(&t, TSS2_SEL), 0xb);
	tvm_destroy(&t);
}

/*
 * The classic double-fault task: INT 0x30 is beyond the IDT limit (#GP),
 * the #GP gate is not present (#NP while delivering #GP: #DF), and the
 * #DF gate is a task gate: task 2 starts with the error code 0 on its
 * stack and task 1 linked.
 */
static void test_task_double_fault(void **state)
{
	static const uint8_t task1[] = { 0xcd, 0x30 }; /* int 0x30 */
	static const uint8_t task2[] = {
		0x58,                               /* pop eax */
		0xf4,                               /* hlt */
	};
	struct tvm t;
	struct vmm_exit e;
	uint64_t g;

	task_setup(&t, task1, sizeof(task1), task2, sizeof(task2));
	g = ((uint64_t)TSS2_SEL << 16) | (0x5ull << 40) | (1ull << 47);
	assert_int_equal(vmm_mem_write(t.vm, IDT32 + 8 * 8, &g, 8), 0);
	assert_int_equal(vmm_mem_read(t.vm, IDT32 + 13 * 8, &g, 8), 0);
	g &= ~(1ull << 47);
	assert_int_equal(vmm_mem_write(t.vm, IDT32 + 13 * 8, &g, 8), 0);
	t.st.gpr[VMM_RAX] = 0x5555;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.rip, TASK2_CODE + sizeof(task2));
	assert_int_equal(t.st.seg[VMM_TR].selector, TSS2_SEL);
	assert_int_equal(t.st.gpr[VMM_RAX], 0);          /* error code */
	assert_int_equal(t.st.gpr[VMM_RSP], TASK2_STACK);
	assert_int_equal(t.st.rflags & 0x4000, 0x4000);  /* nested */
	assert_int_equal(r32(&t, TSS2) & 0xffff, 0x48);
	/* task 1 saved at the faulting instruction */
	assert_int_equal(r32(&t, ENV_TSS + 0x20), ENV_CODE);
	assert_int_equal(r32(&t, ENV_TSS + 0x28), 0x5555);
	assert_int_equal(desc_type(&t, 0x48), 0xb);
	assert_int_equal(desc_type(&t, TSS2_SEL), 0xb);
	tvm_destroy(&t);
}

/* CALL to a busy TSS: #GP(sel); a TSS below 0x67 bytes: #TS(sel) */
static void test_task_faults(void **state)
{
	static const uint8_t busy[] = { 0x9a, 0, 0, 0, 0, 0x48, 0x00 };
	static const uint8_t small[] = { 0x9a, 0, 0, 0, 0, TSS2_SEL, 0x00 };
	struct tvm t;
	struct vmm_exit e;

	task_setup(&t, busy, sizeof(busy), "\xf4", 1);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 13);
	assert_int_equal(r32(&t, t.st.gpr[VMM_RSP]), 0x48);
	tvm_destroy(&t);

	task_setup(&t, small, sizeof(small), "\xf4", 1);
	wdesc(&t, TSS2_SEL, tss_desc(TSS2, 0x60, 0x9));
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 10);
	assert_int_equal(r32(&t, t.st.gpr[VMM_RSP]), TSS2_SEL);
	assert_int_equal(t.st.seg[VMM_TR].selector, 0x48);
	assert_int_equal(desc_type(&t, TSS2_SEL), 0x9);
	tvm_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate32_inner),
		cmocka_unit_test(test_gate32_faults),
		cmocka_unit_test(test_gate16_inner),
		cmocka_unit_test(test_gate64),
		cmocka_unit_test(test_task_call_iret),
		cmocka_unit_test(test_task_jmp_gate),
		cmocka_unit_test(test_task_double_fault),
		cmocka_unit_test(test_task_faults),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
