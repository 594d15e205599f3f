/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hypercall - hypercall call blocks and batches built in guest memory, then the doorbell.
 * The machine and the action language are in fuzz_machine_impl.c.
 *
 *   ./build-fuzz/fuzz/fuzz_hypercall fuzz/corpus/hypercall -max_total_time=60
 */
#include "fuzz_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fm_run(FM_HYPERCALL, data, size);
}
