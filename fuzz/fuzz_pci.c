/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pci - PCI configuration space and BAR programming through 0xcf8/0xcfc, and the BARs.
 * The machine and the action language are in fuzz_machine_impl.c.
 *
 *   ./build-fuzz/fuzz/fuzz_pci fuzz/corpus/pci -max_total_time=60
 */
#include "fuzz_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fm_run(FM_PCI, data, size);
}
