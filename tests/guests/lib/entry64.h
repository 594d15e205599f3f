/* SPDX-License-Identifier: MIT */
/*
 * entry64.h - the interface between entry64.S (CPL0 boot stub) and the
 * 64-bit guests' C code, which runs at CPL3 with IOPL=3.
 *
 * A 64-bit guest defines guest_main(); its return value is written to the
 * debug-exit port.
 */
#ifndef TESTS_GUESTS_ENTRY64_H
#define TESTS_GUESTS_ENTRY64_H

/*
 * Services of the CPL0 stub for CPL3 code: the invalid opcode SERVICE_CALL
 * (ud2 followed by "sv") with RAX = SYS_* traps to the stub's #UD handler,
 * which returns the value in RAX and resumes after it.
 */
#define SERVICE_CALL_BYTES 0x76730b0f /* 0f 0b 's' 'v', little endian */
#define SERVICE_CALL_LEN 4
#define SYS_NOP 0
#define SYS_READ_CR0 1
#define SYS_READ_CR4 2
#define SYS_READ_EFER 3
#define SYS_READ_CR3 4

#ifndef __ASSEMBLER__
#include <stdint.h>

extern uint32_t boot_mb_magic;  /* EAX at entry (0x2badb002) */
extern uint32_t boot_mb_info;   /* EBX at entry: multiboot info address */
extern uint64_t boot_tsc_entry; /* TSC at the 32-bit entry */
extern uint64_t boot_tsc_long;  /* TSC after the switch to long mode */
extern uint64_t boot_tsc_user;  /* TSC at the first CPL3 instruction */

int guest_main(void);

static inline uint64_t service_call(uint64_t nr)
{
	uint64_t ret = nr;
	__asm__ volatile("ud2; .ascii \"sv\"" : "+a"(ret) : : "memory");
	return ret;
}

/* Exception frame, as isr_common pushes it (lowest address first). */
struct exc_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
#endif

#endif
