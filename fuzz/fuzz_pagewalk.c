/* SPDX-License-Identifier: MIT */
/*
 * fuzz_pagewalk - the page walker (src/mem/pagewalk.c) on arbitrary page
 * tables, paging modes and addresses.
 *
 *   ./build-fuzz/fuzz/fuzz_pagewalk -max_total_time=60
 *
 * Input: 34 bytes of control state (CR0, CR3, CR4, EFER, CPL, then
 * addresses and access kinds), the rest copied into guest RAM at 0 (the
 * page tables: any entry may point anywhere, inside RAM, past its end,
 * into the hole, at bits above MAXPHYADDR).  Every address is walked
 * without and with accessed/dirty write-back, in every access kind.
 * Checked: no crash or out-of-bounds access; a success gives a gpa in the
 * page the walk's leaf maps (page offset preserved); a fault has an error
 * code with only architectural bits (P W U RSVD I/D PK SS) and the W bit
 * of the access (a non-canonical address: error code 0, it is a #GP); a
 * walk gives the same answer with accessed/dirty write-back as without.
 */
#include <libvmm/libvmm.h>
#include "core/vm_impl.h"
#include "mem/guest_mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RAM (1u << 16)

static vmm_vm *vm;

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmm_paging p;

	if (size < 40)
		return 0;
	if (!vm) {
		struct vmm_config cfg;
		vmm_config_init(&cfg);
		cfg.backend = VMM_BACKEND_SOFT;
		cfg.flags = VMM_CFG_NO_IRQCHIP;
		if (vmm_vm_create(&cfg, &vm) || vmm_mem_add_ram(vm, 0, RAM))
			abort();
	}
	uint8_t ctl = data[0];
	memset(&p, 0, sizeof(p));
	p.maxphyaddr = 36 + (data[1] >> 5) * 2; /* 36 .. 50 */
	p.cr0 = 0x80000001ull | ((ctl & 1) ? 0x10000 : 0); /* PG PE (WP) */
	p.cr4 = ((ctl & 2) ? 0x20 : 0) | ((ctl & 4) ? 0x10 : 0) |
		((ctl & 8) ? 0x1000 : 0) | ((ctl & 16) ? 0x100000 : 0) |
		((ctl & 32) ? 0x200000 : 0) | ((ctl & 64) ? 0x400000 : 0);
	p.efer = ((ctl & 2) && (data[1] & 1) ? 0x500 : 0) |
		 ((data[1] & 2) ? 0x800 : 0);
	p.cr3 = le64(data + 2) & 0x000ffffffffff000ull;
	if (data[1] & 4)
		p.cr3 &= RAM - 1; /* mostly inside RAM */
	p.cpl = (data[1] >> 3) & 3;
	uint64_t gvas[3] = { le64(data + 10), le64(data + 18),
			     le64(data + 26) & 0xffffffffull };
	data += 34;
	size -= 34;
	if (size > RAM)
		size = RAM;
	if (vmm_gmem_fill(&vm->mem, 0, 0, RAM) ||
	    vmm_gmem_write(&vm->mem, 0, data, size))
		abort();
	for (unsigned g = 0; g < 3; g++) {
		for (unsigned acc = 0; acc < 8; acc++) {
			vmm_gpa_t gpa = 0, gpa2 = 0;
			uint32_t ec = 0, ec2 = 0;
			uint64_t ps = 0;
			int r = vmm_gmem_walk(&vm->mem, &p, gvas[g], acc, false,
					      &gpa, &ec, &ps);
			if (r == 0) {
				if (ps != 4096 && ps != (2u << 20) &&
				    ps != (4u << 20) && ps != (1u << 30))
					abort();
				if ((gpa & (ps - 1)) != (gvas[g] & (ps - 1)))
					abort();
			} else if (r == -EFAULT) {
				unsigned sh = (p.cr4 & 0x1000) ? 7 : 16; /* LA57 */
				bool noncanon = (p.efer & 0x400) &&
					(uint64_t)((int64_t)(gvas[g] << sh) >> sh) !=
						gvas[g];
				if (ec & ~0x807full) /* P W U RSVD I/D PK SS, SGX */
					abort();
				if (noncanon) { /* #GP: no error code */
					if (ec)
						abort();
				} else if (!!(ec & 2) != !!(acc & VMM_ACCESS_WRITE) &&
				    !(acc & VMM_ACCESS_EXEC))
					abort();
			} else if (r != -EIO) {
				abort();
			}
			int r2 = vmm_gmem_walk(&vm->mem, &p, gvas[g], acc, true,
					       &gpa2, &ec2, NULL);
			if (r == 0 && (r2 != 0 || gpa2 != gpa))
				abort();
			if (r == -EFAULT && (r2 != -EFAULT || ec2 != ec))
				abort();
		}
	}
	return 0;
}
