/* SPDX-License-Identifier: MIT */
/*
 * exec.h - what the exec_*.c instruction families share beyond soft.h:
 * atomic host access for LOCK, and each family's table registration.
 */
#ifndef LIBVMM_SOFT_EXEC_H
#define LIBVMM_SOFT_EXEC_H

#include "cpu/soft/soft.h"

/*
 * soft_atomic_ptr() - host pointer for an atomic read-modify-write of
 * @size bytes at seg:off, after the permission checks a write does; NULL
 * when the operand is not plain RAM inside one page (MMIO, ROM, a page
 * with translated code, crossing a page): the caller then emulates it
 * without host atomics.
 */
void *soft_atomic_ptr(struct soft_cpu *c, unsigned seg, uint64_t off,
		      unsigned size);

static inline bool soft_cas(void *p, unsigned size, uint64_t *old,
			    uint64_t nv)
{
	switch (size) {
	case 1: {
		uint8_t o = (uint8_t)*old;
		bool ok = __atomic_compare_exchange_n((uint8_t *)p, &o,
			(uint8_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 2: {
		uint16_t o = (uint16_t)*old;
		bool ok = __atomic_compare_exchange_n((uint16_t *)p, &o,
			(uint16_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	case 4: {
		uint32_t o = (uint32_t)*old;
		bool ok = __atomic_compare_exchange_n((uint32_t *)p, &o,
			(uint32_t)nv, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		*old = o;
		return ok;
	}
	default:
		return __atomic_compare_exchange_n((uint64_t *)p, old, nv,
			false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
}

int soft_op_ff_incdec(struct soft_cpu *c, const struct soft_insn *i);
/* choose a faster handler for common forms after decoding */
void soft_specialize(struct soft_insn *in);

void soft_register_alu(soft_fn *t);
void soft_register_shift(soft_fn *t);
void soft_register_bit(soft_fn *t);
void soft_register_mov(soft_fn *t);
void soft_register_stack(soft_fn *t);
void soft_register_ctl(soft_fn *t);
void soft_register_string(soft_fn *t);
void soft_register_sys(soft_fn *t);
void soft_register_fpu(soft_fn *t);
void soft_register_sse(soft_fn *t);
void soft_register_x87(soft_fn *t);

#endif
