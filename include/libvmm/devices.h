/* SPDX-License-Identifier: MIT */
/*
 * libvmm/devices.h - built-in hypervisor-direct devices: every guest access
 * traps to the VMM, which emulates the device.
 */
#ifndef LIBVMM_DEVICES_H
#define LIBVMM_DEVICES_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * vmm_dev_detach() - remove a device from its VM: unregisters its ranges,
 * frees it.  Devices still attached are detached by vmm_vm_destroy().
 */
VMM_API int vmm_dev_detach(vmm_dev *dev);

/** vmm_dev_name() - the device's name, e.g. "uart@0x3f8". */
VMM_API const char *vmm_dev_name(const vmm_dev *dev);

/**
 * struct vmm_uart_config - a 16550A UART.
 * @port:   I/O base (0 = 0x3f8, COM1); the UART takes 8 ports.
 * @irq:    interrupt line (0 = 4); -1 for none.  The line is driven with
 *          level semantics from the interrupt identification logic; on a VM
 *          without irqchip the UART works polled.
 * @out_fd: transmitted bytes are written here (-1 = none).  The vCPU never
 *          writes the fd itself: a thread of the device does, from a 4 KiB
 *          ring, so a slow or blocking fd does not stall the guest.  When the
 *          ring stays full for 50 ms, bytes are dropped until it drains.
 * @in_fd:  bytes to receive are read from here (-1 = none); the library
 *          reads it from a thread of its own after poll() says it is
 *          readable, and stops at end of file.  Nobody else may read it.
 * @out_cb: optional, called with each run of transmitted bytes (in
 *          addition to @out_fd), synchronously on the vCPU thread that
 *          wrote them and without device locks held (it may call
 *          vmm_uart_input()).  Several vCPUs may call it concurrently.
 * @out_opaque: passed to @out_cb.
 *
 * Note that a zeroed struct means fd 0 for both fds: start from
 * vmm_uart_config_init().
 */
struct vmm_uart_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	uint16_t port;
	int irq;
	int out_fd;
	int in_fd;
	void (*out_cb)(void *opaque, const uint8_t *buf, size_t len);
	void *out_opaque;
};

/**
 * vmm_uart_config_init() - defaults: COM1 (0x3f8), irq 4, no fds, no
 * callback.
 * @cfg: the configuration to fill.
 */
VMM_API void vmm_uart_config_init(struct vmm_uart_config *cfg);

/**
 * vmm_uart_attach() - attach a 16550A UART.
 * @vm:  the VM.
 * @cfg: its configuration (required).
 * @out: receives the device handle (required).
 *
 * Returns 0, -EINVAL for bad arguments (NULL, ports beyond 0xffff, irq
 * outside -1..255), -EBADF for an fd that is not open in a usable mode,
 * -EEXIST if a port is taken, -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_uart_attach(vmm_vm *vm,
					       const struct vmm_uart_config *cfg,
					       vmm_dev **out);

/**
 * vmm_uart_input() - queue bytes for the guest to receive (FIFO of
 * 16 bytes plus a host-side buffer of 4 KiB).  Returns bytes accepted,
 * or -EINVAL if @uart is not a UART.  Host input never overruns: it waits
 * in the buffer until the guest has read the FIFO (and while the UART is
 * in loopback mode).
 */
VMM_API int vmm_uart_input(vmm_dev *uart, const void *buf, size_t len);

/**
 * vmm_debug_exit_attach() - QEMU's isa-debug-exit: a guest write of
 * value V to @port (0 = 0xf4), @size bytes wide (0 = 4) stops the run loop
 * with VMM_EXIT_GUEST_EXIT and status (V << 1) | 1, the exit status QEMU
 * gives the same guest.
 */
VMM_API VMM_MUST_CHECK int vmm_debug_exit_attach(vmm_vm *vm,
						     uint16_t port,
						     unsigned size,
						     vmm_dev **out);

/**
 * vmm_i8042_attach() - enough of the i8042 keyboard controller at ports
 * 0x60/0x64 for the reset command (0xfe to port 0x64 -> VMM_EXIT_RESET),
 * plus the port-0x61 system control bits guests poke.  Also reset: an
 * output-port write (command 0xd1) with bit 0 clear.  Self-test (0xaa)
 * answers 0x55; the command byte (0x20/0x60) is kept.  Port 0x61 is not
 * taken when another device already has it.  Polled, no IRQ 1.
 */
VMM_API VMM_MUST_CHECK int vmm_i8042_attach(vmm_vm *vm, vmm_dev **out);

/**
 * vmm_rtc_attach() - MC146818 CMOS RTC at 0x70/0x71: the host's UTC
 * time in BCD or binary per register B, 24/12 h, status registers, and the
 * CMOS memory size bytes (0x15/0x16, 0x17/0x18, 0x30/0x31, 0x34/0x35,
 * 0x5b-0x5d) from the VM's RAM layout as it is when the guest reads them;
 * the rest of the 128 bytes is CMOS RAM.  Bit 7 of the index port (NMI
 * disable) is masked off the index.  No IRQ 8.
 */
VMM_API VMM_MUST_CHECK int vmm_rtc_attach(vmm_vm *vm, vmm_dev **out);

/**
 * vmm_acpi_pm_attach() - the ACPI fixed-hardware registers that the
 * tables of vmm_acpi_write() describe, at VMM_ACPI_PM_BASE (libvmm/boot.h):
 * PM1a status/enable, PM1a control (SLP_EN with SLP_TYP 5 = S5 stops the
 * VM with VMM_EXIT_POWEROFF), the 32-bit PM timer at 3.579545 MHz (host
 * monotonic time) and the reset register (VMM_ACPI_RESET_VALUE ->
 * VMM_EXIT_RESET).  Returns 0, -EEXIST (ports taken), -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_acpi_pm_attach(vmm_vm *vm, vmm_dev **out);

/**
 * vmm_pci_host_attach() - a PCI host bridge (configuration mechanism #1
 * at 0xcf8/0xcfc) with the bridge itself at 00:00.0.  Devices are added
 * with vmm_pci_add().  At most one per VM (-EEXIST).  Partial-width
 * accesses to 0xcf8 are not config accesses, except the byte at 0xcf9: the
 * PIIX reset control register (bit 2 -> VMM_EXIT_RESET).  Config reads of
 * absent functions give all ones.
 */
VMM_API VMM_MUST_CHECK int vmm_pci_host_attach(vmm_vm *vm, vmm_dev **out);

/**
 * struct vmm_pci_ops - a PCI function's configuration space (all 256 bytes
 * of it, the identity fields included).
 * @cfg_read:  required; returns @size (1, 2 or 4) bytes at @offset (< 256);
 *             an access never crosses a dword boundary.  Extra high bits
 *             are masked off.
 * @cfg_write: optional (NULL = writes are dropped); same rules.
 *
 * The host bridge calls them one at a time under its own lock, so they
 * must not call vmm_pci_add()/vmm_pci_remove() on the same host.
 */
struct vmm_pci_ops {
	uint32_t (*cfg_read)(void *opaque, uint16_t offset, unsigned size);
	void (*cfg_write)(void *opaque, uint16_t offset, uint32_t value,
			  unsigned size);
};

/**
 * vmm_pci_add() - put a function at bus 0, device @slot (1..31, or -1 for
 * the first free one), function 0.  @ops is copied.  Returns the slot,
 * -EINVAL, -EEXIST (slot taken) or -ENOSPC (bus full).
 */
VMM_API int vmm_pci_add(vmm_dev *host, int slot, const struct vmm_pci_ops *ops,
			void *opaque);

/**
 * vmm_pci_remove() - take the function at @slot off the bus.  When it
 * returns no callback of that function runs.  -ENOENT if the slot is empty.
 */
VMM_API int vmm_pci_remove(vmm_dev *host, int slot);

#ifdef __cplusplus
}
#endif
#endif
