/* SPDX-License-Identifier: MIT */
/*
 * fuzz_machine - every device of one machine: guest PIO/MMIO/DMA, interrupts, MSRs, vCPU state changes, host bus accesses.
 * The machine and the action language are in fuzz_machine_impl.c.
 *
 *   ./build-fuzz/fuzz/fuzz_machine fuzz/corpus/machine -max_total_time=60
 */
#include "fuzz_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fm_run(FM_ALL, data, size);
}
