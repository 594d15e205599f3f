// SPDX-License-Identifier: MIT
/*
 * test_devices_off.c - the -Ddevices option: the core devices (PCI host,
 * ACPI PM, debug-exit) attach in every configuration; the add-on models
 * attach with -Ddevices, and without it every attach call returns -ENOTSUP,
 * clears *out and leaves a message naming the option in vmm_last_error.
 */
#include "dev_test.h"
#include "config.h"

#include <libvmm/devices.h>
#include <libvmm/models.h>
#include <libvmm/vhost_user.h>
#include <libvmm/virtio.h>

static void core_devices_attach(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *d = NULL;

	(void)state;
	assert_int_equal(vmm_pci_host_attach(vm, &d), 0);
	assert_non_null(d);
	assert_int_equal(vmm_acpi_pm_attach(vm, &d), 0);
	assert_non_null(d);
	assert_int_equal(vmm_debug_exit_attach(vm, 0, 0, &d), 0);
	assert_non_null(d);
	vmm_vm_destroy(vm);
}

/* -ENOTSUP, *out cleared, the option named in the VM's last error */
static void off_ok(vmm_vm *vm, int ret, vmm_dev *d, const char *what)
{
	char msg[256];

	assert_int_equal(ret, -ENOTSUP);
	assert_null(d);
	vmm_last_error(vm, msg, sizeof(msg));
	assert_non_null(strstr(msg, what));
	assert_non_null(strstr(msg, "-Ddevices=disabled"));
}

/* the call first, then *out (argument evaluation order is unspecified) */
#define OFF(call, what) do {						\
		int r_;							\
		d = junk;						\
		r_ = (call);						\
		off_ok(vm, r_, d, what);				\
	} while (0)

static void addon_devices(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *junk = (vmm_dev *)&junk, *d;
	struct vmm_uart_config uc;
	struct vmm_virtio_blk_config bc;
	struct vmm_virtio_net_config nc;
	struct vmm_virtio_console_config cc;
	struct vmm_virtio_config rc;
	struct vmm_vhost_user_config vc;
	struct vmm_trapblk_config tc;
	struct vmm_passthrough_config pc;
	struct vmm_vfio_pci_config fc;
	char why[128] = "";

	(void)state;
	vmm_uart_config_init(&uc);
	if (VMM_HAVE_DEVICES) {
		/* built: the legacy models attach like any device */
		d = NULL;
		assert_int_equal(vmm_uart_attach(vm, &uc, &d), 0);
		assert_string_equal(vmm_dev_name(d), "uart@0x3f8");
		d = NULL;
		assert_int_equal(vmm_rtc_attach(vm, &d), 0);
		assert_string_equal(vmm_dev_name(d), "rtc");
		d = NULL;
		assert_int_equal(vmm_i8042_attach(vm, &d), 0);
		assert_non_null(d);
		vmm_vm_destroy(vm);
		return;
	}
	OFF(vmm_uart_attach(vm, &uc, &d), "uart");
	assert_int_equal(vmm_uart_input(NULL, "x", 1), -ENOTSUP);
	OFF(vmm_i8042_attach(vm, &d), "i8042");
	OFF(vmm_rtc_attach(vm, &d), "rtc");
	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	OFF(vmm_virtio_blk_attach(vm, &bc, &d), "virtio-blk");
	vmm_virtio_net_config_init(&nc, VMM_VIRTIO_MMIO);
	OFF(vmm_virtio_net_attach(vm, &nc, &d), "virtio-net");
	vmm_virtio_console_config_init(&cc, VMM_VIRTIO_MMIO);
	OFF(vmm_virtio_console_attach(vm, &cc, &d), "virtio-console");
	vmm_virtio_config_init(&rc, VMM_VIRTIO_MMIO);
	OFF(vmm_virtio_rng_attach(vm, &rc, &d), "virtio-rng");
	assert_int_equal(vmm_virtio_get_stats(NULL, NULL), -ENOTSUP);
	memset(&vc, 0, sizeof(vc));
	OFF(vmm_vhost_user_attach(vm, &vc, &d), "vhost-user");
	vmm_trapblk_config_init(&tc);
	OFF(vmm_trapblk_attach(vm, &tc, &d), "trapblk");
	assert_int_equal(vmm_trapblk_get_stats(NULL, NULL), -ENOTSUP);
	vmm_passthrough_config_init(&pc);
	OFF(vmm_passthrough_attach(vm, &pc, &d), "passthrough");
	vmm_vfio_pci_config_init(&fc);
	OFF(vmm_vfio_pci_attach(vm, &fc, &d), "vfio-pci");
	assert_int_equal(vmm_vfio_available(why, sizeof(why)), -ENOTSUP);
	assert_non_null(strstr(why, "-Ddevices=disabled"));
	/* NULL VM: the same answer, nothing to log to */
	assert_int_equal(vmm_rtc_attach(NULL, NULL), -ENOTSUP);
	vmm_vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(core_devices_attach),
		cmocka_unit_test(addon_devices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
