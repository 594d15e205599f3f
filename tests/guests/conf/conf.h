/* SPDX-License-Identifier: MIT */
/*
 * conf.h - constants shared by conf64.S and conf.c (the system-level
 * conformance guest).
 */
#ifndef TESTS_GUESTS_CONF_H
#define TESTS_GUESTS_CONF_H

/* GDT selectors (conf64.S) */
#define SEL_KCODE64 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18
#define SEL_UCODE64 0x20
#define SEL_TSS64 0x28
#define SEL_KCODE32 0x38
#define SEL_KCODE16 0x40
#define SEL_KDATA16 0x48
#define SEL_SLOT0 0x50
#define SEL_SLOT1 0x58
#define SEL_SLOT2 0x60
#define SEL_SLOT3 0x68
#define SEL_GATE0 0x70 /* 16 bytes */
#define SEL_GATE1 0x80 /* 16 bytes */
#define SEL_TSS32A 0x90
#define SEL_TSS32B 0x98
#define SEL_UCODE32 0xa0
#define SEL_CONFORM64 0xa8
#define SEL_SLOT4 0xb0
#define SEL_GDT_END 0xd0 /* first selector past the GDT limit */

#define CONF_NO_EXC 0xffff /* conf_try(): no exception */

/* low memory (below 64 KiB, reachable from real mode) */
#define LOW16 0x6000 /* .text16: AP trampoline, real-mode tour */
#define TOUR_RES 0x5000 /* uint32_t results of mode_tour */
#define AP_RES 0x5400 /* uint32_t results of the AP */
#define AP_STACK_TOP 0x5f00

/* TOUR_RES indices */
#define TR_COMPAT_ESP 0
#define TR_COMPAT_MEM 1
#define TR_PROT_CR0 2
#define TR_PROT_EFER 3
#define TR_SS16_ESP 4
#define TR_SS16_MEM 5
#define TR_SS16_CALL 6
#define TR_SS16_CALL_ESP 7
#define TR_SS16_SUB_ESP 8
#define TR_SS16_WRAP_ESP 9
#define TR_SS16_WRAP_MEM 10
#define TR_SS32_ESP 11
#define TR_SS32_MEM 12
#define TR_TASK_EAX 13
#define TR_TASK_TR_AFTER 14
#define TR_TASK_B_TYPE_AFTER 15
#define TR_TASK_CR0_TS 16
#define TR_TASK_NT_AFTER 17
#define TR_TASK_B_TR 18
#define TR_TASK_B_LINK 19
#define TR_TASK_B_NT 20
#define TR_TASK_A_TYPE 21
#define TR_TASK_B_ESP 22
#define TR_PM16_ESP 23
#define TR_PM16_MEM 24
#define TR_REAL_ESP 25
#define TR_REAL_MEM 26
#define TR_REAL_CR0 27
#define TR_REAL_SEGW 28 /* written through DS = TOUR_RES >> 4 */
#define TR_REAL_INT_IP 29
#define TR_REAL_INT_CS 30
#define TR_REAL_INT_FLAG 31
#define TR_REAL_DE_IP 32
#define TR_REAL_DE_AX 33
#define TR_BACK_CR0 34
#define TR_BACK_EFER 35
#define TR_COUNT 36

/* AP_RES indices */
#define AP_CALL 0
#define AP_ESP 1
#define AP_SUB_ESP 2
#define AP_APICID 3
#define AP_DONE 4

#endif
