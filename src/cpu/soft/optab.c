/* SPDX-License-Identifier: MIT */
/*
 * optab.c - the handler table: soft_insn.op (0x000-0x0ff one-byte, 0x1xx
 * 0F map, 0x2xx 0F38, 0x3xx 0F3A) to the function that executes it.  Each
 * exec_*.c family fills its own entries; anything left empty is #UD.  The
 * table lives in each VM (no global mutable state).
 */
#include "cpu/soft/exec.h"

void soft_build_handlers(soft_fn t[0x400])
{
	memset(t, 0, sizeof(soft_fn) * 0x400);
	soft_register_alu(t);
	soft_register_shift(t);
	soft_register_bit(t);
	soft_register_mov(t);
	soft_register_stack(t);
	soft_register_ctl(t);
	soft_register_string(t);
	soft_register_sys(t);
	soft_register_fpu(t);
	soft_register_sse(t);
	soft_register_x87(t);
	for (unsigned op = 0; op < 0x400; op++)
		if (!t[op])
			t[op] = soft_op_ud;
}
