/* SPDX-License-Identifier: MIT */
/*
 * fuzz_virtio_hdr - virtio requests with fuzzed descriptors and headers (blk request header, net header, console data, rng) on live queues of all eight virtio devices.
 * The machine and the action language are in fuzz_machine_impl.c.
 *
 *   ./build-fuzz/fuzz/fuzz_virtio_hdr fuzz/corpus/virtio_hdr -max_total_time=60
 */
#include "fuzz_machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fm_run(FM_VIRTIO, data, size);
}
