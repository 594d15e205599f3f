/* SPDX-License-Identifier: MIT */
/*
 * sandbox_abi.h - the function-sandbox protocol between the guest runtime
 * (guest/runtime.c) and a host that runs it (examples/sandbox_rt.c), built
 * on the hypercall ABI (<libvmm/hypercall_abi.h>).  Plain C, <stdint.h>
 * only: included by both sides.
 *
 * Life of a sandbox guest:
 *   boot (multiboot, CPL0 stub, drop to CPL3), heap and input area set up,
 *   SB_NR_READY                -> the host stops the vCPU, saves the
 *                                 pristine state (vCPU + memory);
 *   per call, from that state:
 *   SB_NR_INPUT(out buf)       -> the host copies the call's input;
 *   the guest's sandbox_call() runs (it may SB_NR_PRINT, or call the
 *   embedder's own functions);
 *   SB_NR_RETURN(status, buf)  -> the host takes the output and stops the
 *                                 vCPU; it resets to the pristine state
 *                                 before the next call.
 *   An exception in the guest rings SB_NR_FAULT from CPL0 and stops.
 */
#ifndef SANDBOX_ABI_H
#define SANDBOX_ABI_H

#include <stdint.h>

#define SB_NR_READY 0x100u  /* no args; stops with SB_STOP_READY */
#define SB_NR_INPUT 0x101u  /* buf0 OUT (<= SB_INPUT_CAP): result = length */
#define SB_NR_RETURN 0x102u /* arg0 status; buf0 IN (<= SB_OUTPUT_CAP) */
#define SB_NR_PRINT 0x103u  /* buf0 IN text (<= SB_PRINT_CAP) */
#define SB_NR_FAULT 0x104u  /* args: vector, error code, rip, cr2 */

/* exit.guest.value of the stops (exit.guest.status = VMM_HC_STOP_STATUS) */
#define SB_STOP_READY 1u
#define SB_STOP_RETURN 2u
#define SB_STOP_FAULT 3u

#define SB_INPUT_CAP (1u << 20)
#define SB_OUTPUT_CAP (1u << 20)
#define SB_PRINT_CAP 1024u

#endif
