/* SPDX-License-Identifier: MIT */
/*
 * test_system.c - the software backend as a whole: self-modifying code
 * (in the running block, in a later block, and written by the embedder
 * between runs), page faults with CR2 and error codes, a triple fault
 * ending in VMM_EXIT_SHUTDOWN, port I/O and MMIO exits completed with
 * embedder data, ROM writes, a kick from another thread stopping an
 * endless loop, single stepping, and deterministic mode giving identical
 * runs.
 */
#include "soft_test.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#define MMIO_GPA 0x3f000000u

static uint64_t mem_hash(vmm_vm *vm)
{
	static uint8_t buf[1 << 16];
	uint64_t h = 1469598103934665603ull;

	for (uint64_t a = 0; a < ENV_RAM; a += sizeof(buf)) {
		assert_int_equal(vmm_mem_read(vm, a, buf, sizeof(buf)), 0);
		for (size_t k = 0; k < sizeof(buf); k++)
			h = (h ^ buf[k]) * 1099511628211ull;
	}
	return h;
}

static void test_smc(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	/* loop twice; the first pass rewrites the immediate of "mov al" */
	static const uint8_t loop[] = {
		0x31, 0xc9,                   /* 0: xor ecx, ecx */
		0xb0, 0x11,                   /* 2: mov al, 0x11 */
		0xff, 0xc1,                   /* 4: inc ecx */
		0x83, 0xf9, 0x02,             /* 6: cmp ecx, 2 */
		0x74, 0x09,                   /* 9: je 20 */
		0xc6, 0x05, 0xf1, 0xff, 0xff, 0xff, 0x22, /* 11: mov [3], 0x22 */
		0xeb, 0xee,                   /* 18: jmp 2 */
		0xf4,                         /* 20: hlt */
	};
	/* the store changes the very next instruction of the same block */
	static const uint8_t next[] = {
		0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x33, /* mov [rip+1], 0x33 */
		0xb0, 0x11,                               /* mov al, 0x11 */
		0xf4,
	};

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, loop, sizeof(loop));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x22);
	assert_int_equal(t.st.gpr[VMM_RCX], 2);

	tvm_setup(&t, ENV_LONG64, 0, next, sizeof(next));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x33);

	/* the embedder rewrites code between runs: the cached block of the
	 * first run must not be reused */
	tvm_setup(&t, ENV_LONG64, 0, "\xb0\x44\xf4", 3);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x44);
	tvm_setup(&t, ENV_LONG64, 0, "\xb0\x55\xf4", 3);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x55);
	tvm_destroy(&t);
}

static void set_pte(struct tvm *t, uint64_t va, uint64_t pte)
{
	assert_int_equal(vmm_mem_write(t->vm, ENV_PT + (va >> 12) * 8, &pte, 8), 0);
}

static void test_page_fault(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	uint64_t err;

	tvm_create(&t, 0);
	/* read of a not-present page at CPL0: #PF, error 0, CR2 = address */
	set_pte(&t, ENV_DATA, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\x48\x8b\x04\x25\x10\x00\x02\x00", 8);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(t.st.cr2, ENV_DATA + 0x10);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, 0);
	/* the fault frame's RIP is the faulting instruction */
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP] + 8, &err, 8), 0);
	assert_int_equal(err, ENV_CODE);

	/* write at CPL3 to a present, read-only user page: P|W|U = 7 */
	set_pte(&t, ENV_DATA, ENV_DATA | 5);
	tvm_setup(&t, ENV_LONG64, 3, "\xc6\x04\x25\x08\x00\x02\x00\x01", 8);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(t.st.cr2, ENV_DATA + 8);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, 7);
	/* the handler runs at CPL0 on the TSS stack */
	assert_int_equal(t.st.seg[VMM_CS].selector, ENV_KCODE64);
	assert_true(t.st.gpr[VMM_RSP] < ENV_KSTACK &&
		    t.st.gpr[VMM_RSP] > ENV_KSTACK - 64);

	/* a supervisor page at CPL3: P|U... error = P|U (read), and the
	 * page becomes valid again after the embedder fixes the PTE */
	set_pte(&t, ENV_DATA, ENV_DATA | 3);
	tvm_setup(&t, ENV_LONG64, 3, "\x8b\x04\x25\x00\x00\x02\x00\xcc", 8);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 14);
	assert_int_equal(vmm_mem_read(t.vm, t.st.gpr[VMM_RSP], &err, 8), 0);
	assert_int_equal(err, 5);
	set_pte(&t, ENV_DATA, ENV_DATA | 7);
	tvm_setup(&t, ENV_LONG64, 3, "\x8b\x04\x25\x00\x00\x02\x00\xcc", 8);
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(env_vector_of(t.st.rip), 3);
	tvm_destroy(&t);
}

static void test_triple_fault(void **state)
{
	struct tvm t;
	struct vmm_exit e;

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\x0f\x0b", 2);
	t.st.idtr.limit = 0;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_SHUTDOWN);
	/* also in real mode with an IVT that is too short */
	tvm_setup(&t, ENV_REAL, 0, "\x31\xc0\xf7\xf0", 4);
	t.st.idtr.limit = 0;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_SHUTDOWN);
	tvm_destroy(&t);
}

static void test_io(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	static const uint8_t code[] = {
		0x66, 0xba, 0x34, 0x12, /* mov dx, 0x1234 */
		0xec,                   /* in al, dx */
		0xe6, 0x80,             /* out 0x80, al */
		0xed,                   /* in eax, dx */
		0x48, 0xbf, 0x00, 0x00, 0x02, 0x00, 0, 0, 0, 0, /* mov rdi, DATA */
		0xb9, 0x02, 0x00, 0x00, 0x00, /* mov ecx, 2 */
		0xf3, 0x6c,             /* rep insb */
		0xf4,
	};
	uint8_t got[2];

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 3, code, sizeof(code));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x1234);
	assert_int_equal(e.io.size, 1);
	assert_false(e.io.is_write);
	assert_int_equal(e.io.count, 1);
	/* nothing retired yet */
	assert_int_equal(t.st.rip, ENV_CODE + 4);
	e.io.data[0] = 0x5a;
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.port, 0x80);
	assert_true(e.io.is_write);
	assert_int_equal(e.io.data[0], 0x5a);
	/* the OUT has retired when its exit is seen */
	assert_int_equal(t.st.rip, ENV_CODE + 7);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0x5a);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(e.io.size, 4);
	memcpy(e.io.data, "\x01\x02\x03\x04", 4);
	e = tvm_run(&t);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x04030201);
	/* rep insb: one exit per element */
	assert_int_equal(e.kind, VMM_EXIT_IO);
	e.io.data[0] = 0xaa;
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_IO);
	assert_int_equal(t.st.gpr[VMM_RCX], 1);
	e.io.data[0] = 0xbb;
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(vmm_mem_read(t.vm, ENV_DATA, got, 2), 0);
	assert_int_equal(got[0], 0xaa);
	assert_int_equal(got[1], 0xbb);
	assert_int_equal(t.st.gpr[VMM_RCX], 0);
	/* HLT at CPL3 is #GP */
	assert_int_equal(env_vector_of(t.st.rip), 13);
	tvm_destroy(&t);
}

static void test_mmio(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	uint32_t v;
	static const uint8_t code[] = {
		0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x3f, /* mov eax, [MMIO] */
		0x83, 0xc0, 0x01,                         /* add eax, 1 */
		0x89, 0x04, 0x25, 0x10, 0x00, 0x00, 0x3f, /* mov [MMIO+16], eax */
		0x03, 0x04, 0x25, 0x08, 0x00, 0x00, 0x3f, /* add eax, [MMIO+8] */
		0xf4,
	};

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, code, sizeof(code));
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_MMIO);
	assert_int_equal(e.mmio.gpa, MMIO_GPA);
	assert_int_equal(e.mmio.len, 4);
	assert_false(e.mmio.is_write);
	assert_int_equal(t.st.rip, ENV_CODE);
	v = 0x41424344;
	memcpy(e.mmio.data, &v, 4);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_MMIO);
	assert_true(e.mmio.is_write);
	assert_int_equal(e.mmio.gpa, MMIO_GPA + 16);
	memcpy(&v, e.mmio.data, 4);
	assert_int_equal(v, 0x41424345);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_MMIO);
	assert_int_equal(e.mmio.gpa, MMIO_GPA + 8);
	/* flags and RAX untouched until the read completes */
	assert_int_equal(t.st.gpr[VMM_RAX], 0x41424345);
	v = 0x10;
	memcpy(e.mmio.data, &v, 4);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX], 0x41424355);
	tvm_destroy(&t);
}

static void test_rom(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	struct vmm_mem_region rom = {
		.gpa = 0x2000000, .size = 4096, .source = VMM_MEM_ANON,
		.flags = VMM_MEM_READONLY, .fd = -1, .name = "rom",
	};
	uint8_t b = 0;

	tvm_create(&t, 0);
	assert_int_equal(vmm_mem_add(t.vm, &rom), 0);
	/* mov byte [0x2000000], 7; mov al, [0x2000000]; hlt */
	tvm_setup(&t, ENV_LONG64, 0,
		  "\xc6\x04\x25\x00\x00\x00\x02\x07\x8a\x04\x25\x00\x00\x00\x02\xf4",
		  16);
	t.st.gpr[VMM_RAX] = 0x99;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_MMIO);
	assert_true(e.mmio.is_write);
	assert_int_equal(e.mmio.gpa, 0x2000000);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	assert_int_equal(t.st.gpr[VMM_RAX] & 0xff, 0);
	assert_int_equal(vmm_mem_read(t.vm, 0x2000000, &b, 1), 0);
	assert_int_equal(b, 0);
	tvm_destroy(&t);
}

static void *kicker(void *arg)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	vmm_vcpu_kick(arg);
	return NULL;
}

static void test_kick(void **state)
{
	struct tvm t;
	struct vmm_exit e;
	pthread_t th;

	tvm_create(&t, 0);
	/* an endless loop at CPL3 counting in RCX */
	tvm_setup(&t, ENV_LONG64, 3, "\x48\xff\xc1\xeb\xfb", 5);
	tvm_set(&t);
	assert_int_equal(pthread_create(&th, NULL, kicker, t.cpu), 0);
	e = tvm_run(&t);
	pthread_join(th, NULL);
	assert_int_equal(e.kind, VMM_EXIT_INTERRUPTED);
	assert_true(t.st.gpr[VMM_RCX] > 1000);
	/* a kick while not running is not lost */
	assert_int_equal(vmm_vcpu_kick(t.cpu), 0);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_INTERRUPTED);
	tvm_destroy(&t);
}

static void test_single_step(void **state)
{
	struct tvm t;
	struct vmm_exit e;

	tvm_create(&t, 0);
	tvm_setup(&t, ENV_LONG64, 0, "\x90\x48\xff\xc0\xeb\x00\xf4", 7);
	tvm_set(&t);
	assert_int_equal(vmm_vcpu_set_single_step(t.cpu, true), 0);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_DEBUG);
	assert_int_equal(e.debug.pc, ENV_CODE + 1);
	e = tvm_run(&t);
	assert_int_equal(e.debug.pc, ENV_CODE + 4);
	assert_int_equal(t.st.gpr[VMM_RAX], 1);
	e = tvm_run(&t);
	assert_int_equal(e.debug.pc, ENV_CODE + 6);
	assert_int_equal(vmm_vcpu_set_single_step(t.cpu, false), 0);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	tvm_destroy(&t);
}

/* A guest whose result depends on the TSC. */
static const uint8_t det_code[] = {
	0xb9, 0x10, 0x27, 0x00, 0x00,       /* mov ecx, 10000 */
	0x0f, 0x31,                         /* 1: rdtsc */
	0x48, 0x31, 0xc3,                   /* xor rbx, rax */
	0x48, 0x69, 0xdb, 0x95, 0x00, 0x00, 0x00, /* imul rbx, rbx, 149 */
	0x48, 0x89, 0x1c, 0xcd, 0x00, 0x00, 0x02, 0x00, /* mov [rcx*8+DATA], rbx ... */
	0xe2, 0xea,                         /* loop 1b */
	0xf4,
};

static void det_run(struct vmm_cpu_state *out, uint64_t *hash, uint64_t flags)
{
	struct tvm t;
	struct vmm_exit e;

	tvm_create(&t, flags);
	if (flags & VMM_CFG_DETERMINISTIC)
		assert_true(vmm_vm_caps(t.vm) & VMM_CAP_DETERMINISTIC);
	tvm_setup(&t, ENV_LONG64, 0, det_code, sizeof(det_code));
	t.st.msr.tsc = 12345;
	tvm_set(&t);
	e = tvm_run(&t);
	assert_int_equal(e.kind, VMM_EXIT_HLT);
	*out = t.st;
	*hash = mem_hash(t.vm);
	tvm_destroy(&t);
}

static void test_deterministic(void **state)
{
	struct vmm_cpu_state a, b, c;
	uint64_t ha, hb, hc;

	det_run(&a, &ha, VMM_CFG_DETERMINISTIC);
	det_run(&b, &hb, VMM_CFG_DETERMINISTIC);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(ha, hb);
	/* host time: the TSC-dependent result differs */
	det_run(&c, &hc, 0);
	assert_true(c.gpr[VMM_RBX] != a.gpr[VMM_RBX] || hc != ha);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_smc),
		cmocka_unit_test(test_page_fault),
		cmocka_unit_test(test_triple_fault),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_mmio),
		cmocka_unit_test(test_rom),
		cmocka_unit_test(test_kick),
		cmocka_unit_test(test_single_step),
		cmocka_unit_test(test_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
