/* SPDX-License-Identifier: MIT */
/*
 * soft_test.h - helpers of the software backend's unit tests: a soft VM
 * (no irqchip unless asked) with RAM and the environment of
 * tests/diff/env.h, code placement, state setup, running.
 */
#ifndef TESTS_UNIT_SOFT_TEST_H
#define TESTS_UNIT_SOFT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libvmm/libvmm.h>
#include "env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct tvm {
	vmm_vm *vm;
	vmm_vcpu *cpu;
	struct vmm_cpu_state st;
};

static inline void tvm_create(struct tvm *t, uint32_t flags)
{
	struct vmm_config cfg;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.flags = VMM_CFG_NO_IRQCHIP | flags;
	assert_int_equal(vmm_vm_create(&cfg, &t->vm), 0);
	assert_int_equal(vmm_mem_add_ram(t->vm, 0, ENV_RAM), 0);
	assert_int_equal(vmm_vcpu_create(t->vm, 0, &t->cpu), 0);
	assert_int_equal(env_build_memory(t->vm), 0);
	assert_int_equal(vmm_vcpu_get_state(t->cpu, &t->st), 0);
}

static inline void tvm_destroy(struct tvm *t)
{
	vmm_vm_destroy(t->vm);
	t->vm = NULL;
}

/* Put @len bytes of code at ENV_CODE and set up @mode at @cpl. */
static inline void tvm_setup(struct tvm *t, enum env_mode mode, unsigned cpl,
			     const void *code, size_t len)
{
	assert_int_equal(vmm_vcpu_get_state(t->cpu, &t->st), 0);
	env_state(&t->st, mode, cpl);
	assert_int_equal(vmm_mem_write(t->vm, ENV_CODE, code, len), 0);
}

static inline void tvm_set(struct tvm *t)
{
	assert_int_equal(vmm_vcpu_set_state(t->cpu, &t->st), 0);
}

static inline struct vmm_exit tvm_run(struct tvm *t)
{
	struct vmm_exit e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(vmm_vcpu_run(t->cpu, &e), 0);
	assert_int_equal(vmm_vcpu_get_state(t->cpu, &t->st), 0);
	return e;
}

#endif
