/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the gdb stub's framing and command handlers on
 * arbitrary debugger input, against a small soft-backend VM (registers,
 * memory, software and hardware breakpoints Z0-Z4, target.xml).  Resume
 * commands are parsed but not run (run control needs threads and a live
 * guest).  Seeds: fuzz/corpus/gdb (framed packet streams).
 *   ./build-fuzz/fuzz/fuzz_gdb fuzz/corpus/gdb -max_total_time=60
 */
#include "debug/gdb_impl.h"

#include <stdlib.h>
#include <string.h>

static vmm_vm *vm;
static vmm_gdb *gdb;

static void init(void)
{
	static const uint8_t loop[] = { 0x48, 0xff, 0xc0, 0xeb, 0xfb };
	struct vmm_config cfg;
	struct vmm_boot_info bi;
	vmm_vcpu *v;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = 4 << 20;
	cfg.ncpus = 2;
	if (vmm_vm_create(&cfg, &vm) < 0 ||
	    vmm_image_load_flat(vm, loop, sizeof(loop), 0x100000,
			  VMM_BOOT_LONG64_USER, &bi) < 0 ||
	    vmm_vcpu_create(vm, 0, &v) < 0 || vmm_boot_setup_vcpu(v, &bi) < 0 ||
	    vmm_vcpu_create(vm, 1, &v) < 0 ||
	    vmm_gdb_create(vm, &(struct vmm_gdb_config){ .max_packet = 4096 },
			&gdb) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!gdb)
		init();
	gdb->rx.state = 0;
	gdb->exited = false;
	for (size_t i = 0; i < size; i++) {
		int ev = gdb_rx_byte(&gdb->rx, data[i]);
		if (ev == GDB_RX_PACKET) {
			int r = gdb_handle_packet(gdb, gdb->rx.buf,
						  gdb->rx.len);
			if (r >= 0 && gdb->outlen > gdb->cfg.max_packet)
				abort();
			if (r == 0 && gdb_frame(gdb->frame,
						2 * gdb->cfg.max_packet + 8,
						gdb->out, gdb->outlen) < 0)
				abort();
		}
	}
	/* the hardware slots hold at most VMM_HW_BP_MAX valid entries, and
	 * each is removable with the z packet of its kind */
	for (unsigned k = 0; k < VMM_HW_BP_MAX; k++) {
		static const char type[] = { 0, '1', '2', '3', '4' };
		const struct vmm_hw_bp *b = &gdb->hw[k];
		char cmd[48];
		int n;

		if (b->kind == VMM_HWBP_OFF)
			continue;
		if (b->kind > VMM_HWBP_ACCESS || !b->len || b->len > 8 ||
		    (b->len & (b->len - 1)) || (b->addr & (b->len - 1)))
			abort();
		n = snprintf(cmd, sizeof(cmd), "z%c,%llx,%u", type[b->kind],
			     (unsigned long long)b->addr, b->len);
		if (gdb_handle_packet(gdb, cmd, (size_t)n) != 0 ||
		    b->kind != VMM_HWBP_OFF)
			abort();
	}
	/* the breakpoints must be removable, and once all are gone every
	 * patched byte holds its saved value again (aliases - two addresses
	 * of one byte - share it; while one is planted the INT3 stays) */
	{
		static struct gdb_bp saved[GDB_MAX_BPS];
		unsigned n = gdb->nbp;

		memcpy(saved, gdb->bp, n * sizeof(saved[0]));
		while (gdb->nbp) {
			struct gdb_bp b = gdb->bp[gdb->nbp - 1];
			char cmd[48];
			int len = snprintf(cmd, sizeof(cmd), "z0,%llx,1",
					   (unsigned long long)b.gva);
			unsigned before = gdb->nbp;

			if (gdb_handle_packet(gdb, cmd, (size_t)len) != 0 ||
			    gdb->nbp != before - 1)
				abort();
		}
		for (unsigned k = 0; k < n; k++) {
			uint8_t byte;

			if (vmm_mem_read(vm, saved[k].gpa, &byte, 1) < 0 ||
			    byte != saved[k].orig)
				abort();
		}
	}
	return 0;
}
