/* SPDX-License-Identifier: MIT */
/*
 * batch.h - guest layout of difftest's batched mode (difftest --batch N),
 * shared by the C side and the guest harness (batch.S).
 *
 * The host writes up to BATCH_MAX input blocks (initial registers, RFLAGS,
 * an FXSAVE image with MXCSR, x87 and XMM state, the scratch window and
 * where the code is), the code of every sequence, and starts the harness at
 * CPL3 in 64-bit mode.  For each sequence the harness copies the scratch
 * window into ENV_DATA, fills the stack window, loads the state, jumps to
 * the code (a far jump into the 32-bit code segment for --mode 32), and the
 * sequence ends with a jump back to BH_AFTER; an exception goes to a
 * per-vector stub and a common CPL0 handler (bh_exc) that records vector,
 * error code and frame RIP and IRETs to the same point with the registers
 * of the fault.  There the harness stores one output record (registers,
 * RFLAGS, the exception, FXSAVE, hashes of the scratch and stack windows)
 * and goes on with the next sequence; after the last it writes to
 * STOP_PORT (one exit per batch).
 */
#ifndef TESTS_DIFF_BATCH_H
#define TESTS_DIFF_BATCH_H

/* fixed addresses (below ENV_CODE/ENV_DATA of env.h are its tables) */
#define BH_CTL      0x40000   /* control block, below */
#define BH_CODE     0x41000   /* the harness itself (batch.S) */
#define BH_STACK    0x50000   /* top of the harness' own stack */
#define BH_SEQCODE  0x100000  /* sequences' code, packed */
#define BH_SEQCODE_END 0xf00000
#define BH_OUT      0x1000000 /* output records */
#define BH_IN       0x2000000 /* input blocks */
#define BH_RAM      0x6000000
#define BATCH_MAX   8192

/* control block */
#define C_COUNT  0x00
#define C_IDX    0x08
#define C_INP    0x10
#define C_OUTP   0x18
#define C_EXCVEC 0x20
#define C_EXCERR 0x28
#define C_EXCRIP 0x30
#define C_JMP    0x38
#define C_FAR    0x40   /* m16:32 far pointer for 32-bit sequences */
#define C_SAVE   0x80   /* 16 GPRs, then RFLAGS */

/* scratch window inside ENV_DATA that generated sequences can address:
 * base ENV_DATA+0x400 with disp -0x100..0x1ff (+ index*8, + operand),
 * strings from +0x780 to +0xe80, XLAT up to +0x4ff */
#define WIN_LO   0x200
#define WIN_SIZE 0xe00
/* the stack window: RSP starts at ENV_STACK and only PUSH/POP move it
 * (at most 64 records of 8 bytes each way), ENTER's frame adds 512 below;
 * the host fills ENV_STACK +- 0x800 with 0x5a per batch (as the single
 * run does per case) and checks the bytes outside the window afterwards */
#define STK_LO   (0x30000 - 0x480)
#define STK_SIZE 0x6c0
#define STK_FILL_LO (0x30000 - 0x800)
#define STK_FILL_SIZE 0x1000

/* input block */
#define I_REGS   0x000  /* 16 GPRs */
#define I_FLAGS  0x080
#define I_JMP    0x088  /* near jump target (code, or bh_far32) */
#define I_FAR    0x090  /* far pointer of 32-bit code */
#define I_FX     0x100  /* FXSAVE image, 512 bytes */
#define I_WIN    0x300  /* WIN_SIZE bytes */
#define I_STRIDE 0x1100

/* output record */
#define O_REGS   0x000  /* 16 GPRs */
#define O_FLAGS  0x080
#define O_EXCVEC 0x088  /* ~0 when the sequence ended normally */
#define O_EXCERR 0x090
#define O_EXCRIP 0x098
#define O_HDATA  0x0a0
#define O_HSTACK 0x0a8
#define O_DONE   0x0b0  /* index | BH_MAGIC */
#define O_FX     0x100
#define O_STRIDE 0x300
#define BH_MAGIC 0x5eed000000000000

#endif
