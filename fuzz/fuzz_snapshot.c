/* SPDX-License-Identifier: MIT */
/*
 * fuzz_snapshot - the snapshot parser (and, for inputs it accepts, loading
 * the memory, vCPU and device state into a null-backend VM with the
 * built-in devices) on arbitrary bytes:
 *   ./build-fuzz/fuzz/fuzz_snapshot fuzz/corpus/snapshot -max_total_time=60
 * Seeds: fuzz/corpus/snapshot (a small PACKED snapshot with every built-in
 * device; ec14d112... is a format-2 one with ZSTD memory, so the chunk
 * table, the frames' declared sizes and the decompression on restore are
 * reached).  Half of the inputs get their checksums recomputed before
 * parsing (decided by the length's low bit), so the fuzzer also reaches
 * the code behind the CRCs.
 */
#include "migrate/snap.h"

#include <stdlib.h>
#include <string.h>

#include "migrate/crc32c.h"

/* Recompute the header's and every section's checksums in place. */
static void reseal(uint8_t *b, size_t len)
{
	size_t off = SNAP_HEADER_SIZE;

	if (len < SNAP_HEADER_SIZE)
		return;
	vmm__le_put32(b + 60, vmm__crc32c(0, b, 60));
	while (len - off >= SEC_HDR_SIZE) {
		uint64_t l = vmm__le_get64(b + off + 16);

		vmm__le_put32(b + off + 28, vmm__crc32c(0, b + off, 28));
		if (l > len - off - SEC_HDR_SIZE ||
		    len - off - SEC_HDR_SIZE - l < SEC_FTR_SIZE)
			return;
		vmm__le_put32(b + off + SEC_HDR_SIZE + l,
			      vmm__crc32c(0, b + off + SEC_HDR_SIZE, l));
		off += SEC_HDR_SIZE + l + SEC_FTR_SIZE;
	}
}

static void one(const uint8_t *data, size_t size)
{
	struct snap_parsed *p = calloc(1, sizeof(*p));
	struct vmm_config cfg;
	struct vmm_uart_config uc;
	uint64_t total = 0;
	char err[256];
	vmm_vm *vm;
	vmm_dev *d;

	if (!p)
		return;
	if (vmm__snap_parse(data, size, p, err, sizeof(err)) != 0) {
		free(p);
		return;
	}
	for (uint32_t i = 0; i < p->cfg.nregions; i++)
		total += p->cfg.regions[i].size;
	vmm_config_init(&cfg);
	cfg.ncpus = p->cfg.ncpus;
	if (total <= (64u << 20) && vmm__vm_create_null(&cfg, &vm) == 0) {
		vmm_uart_config_init(&uc);
		if (vmm__snap_restore_mem(vm, p, -1) == 0 &&
		    vmm_uart_attach(vm, &uc, &d) == 0 &&
		    vmm_rtc_attach(vm, &d) == 0 &&
		    vmm_i8042_attach(vm, &d) == 0 &&
		    vmm_pci_host_attach(vm, &d) == 0 &&
		    vmm_debug_exit_attach(vm, 0xf4, 4, &d) == 0)
			(void)vmm__snap_load_state(vm, p, true, false, NULL, NULL);
		vmm_vm_destroy(vm);
	}
	vmm__snap_parsed_free(p);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	uint8_t *data = malloc(size ? size : 1);

	if (!data)
		return 0;
	memcpy(data, in, size);
	if (size & 1)
		reseal(data, size);
	one(data, size);
	free(data);
	return 0;
}
