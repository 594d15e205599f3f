/* SPDX-License-Identifier: MIT */
/*
 * fuzz_machine.h - the whole-machine harness shared by fuzz_machine,
 * fuzz_pci, fuzz_hypercall and fuzz_virtio_hdr (fuzz_machine_impl.c).
 *
 * One software-backend VM per process with every device attached; each
 * input is turned into a sequence of guest actions and replayed from the
 * same snapshot (vmm_snapshot_reset), see fuzz_machine_impl.c.
 */
#ifndef FUZZ_MACHINE_H
#define FUZZ_MACHINE_H

#include <stddef.h>
#include <stdint.h>

/* Which actions a target draws from (fm_run's @mode). */
enum fm_mode {
	FM_ALL,       /* every action */
	FM_PCI,       /* PCI configuration space, BAR programming, BARs */
	FM_HYPERCALL, /* hypercall blocks and batches in guest memory */
	FM_VIRTIO,    /* virtio requests with fuzzed headers on live queues */
};

/* Run one input; aborts (a finding) on anything a guest must not cause. */
int fm_run(enum fm_mode mode, const uint8_t *data, size_t size);

#endif
