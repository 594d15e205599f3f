/* SPDX-License-Identifier: MIT */
/* How tests/migrate/data/snap-v1.lvs was made, with the format-1 writer of
 * commit bb241dc (before snapshot format 2): not built; kept so the file
 * can be understood.  test_migrate_wire "v1" restores it and checks what
 * this program put in it. */
#include <libvmm/libvmm.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv)
{
	struct vmm_config cfg; vmm_vm *vm; vmm_vcpu *v; struct vmm_cpu_state st;
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_PACKED | VMM_SAVE_NO_SYNC };
	uint8_t page[4096];
	vmm_config_init(&cfg); cfg.backend = VMM_BACKEND_SOFT; cfg.ram_size = 1 << 20;
	if (vmm_vm_create(&cfg, &vm) || vmm_vcpu_create(vm, 0, &v)) return 1;
	for (int p = 0; p < 8; p++) {
		for (int i = 0; i < 4096; i++) page[i] = (uint8_t)(i * 7 + p * 13 + (i >> 9));
		if (vmm_mem_write(vm, 0x10000 + p * 0x3000, page, 4096)) return 1;
	}
	if (vmm_vcpu_get_state(v, &st)) return 1;
	vmm_state_flat_protected(&st, 0x10000);
	st.gpr[0] = 0x1122334455667788ull; st.gpr[3] = 0xfeedull;
	if (vmm_vcpu_set_state(v, &st)) return 1;
	int r = vmm_snapshot_save(vm, argv[1], &so);
	printf("save %d\n", r);
	return r != 0;
}
