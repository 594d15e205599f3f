/* SPDX-License-Identifier: MIT */
/*
 * libvmm/notify.h - eventfd doorbells and interrupts: guest writes that
 * signal an eventfd (ioeventfd) and eventfds that raise an interrupt
 * (irqfd), so a device back-end on another thread or process never needs
 * the vCPU to exit to user space.
 *
 * On KVM they are KVM_IOEVENTFD and KVM_IRQFD (MSI routes through KVM's GSI
 * routing table): the guest's write completes in the kernel and the
 * interrupt is injected by the kernel.  On a backend without them libvmm
 * does the same in user space: an ioeventfd is a bus range whose write
 * handler signals the eventfd (so the write is an exit, but the device
 * code is identical), and an irqfd is polled by the VM's I/O thread which
 * then calls vmm_irq_set_line() / vmm_irq_send_msi().  VMM_CAP_IOEVENTFD /
 * VMM_CAP_IRQFD in vmm_vm_caps() say which one you get.
 */
#ifndef LIBVMM_NOTIFY_H
#define LIBVMM_NOTIFY_H

#include <libvmm/common.h>
#include <libvmm/bus.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Flags of vmm_ioeventfd_add(). */
#define VMM_IOEVENTFD_DATAMATCH (1u << 0) /**< only when the value matches */

/**
 * vmm_ioeventfd_add() - make guest writes of @len bytes (1, 2, 4 or 8) at
 * @addr in @space signal @fd (an eventfd, counter += 1).  With
 * VMM_IOEVENTFD_DATAMATCH only writes of @datamatch do; other writes are
 * dispatched as usual.  Several eventfds may share one address with
 * different @datamatch values.  The fd is not duplicated: keep it open
 * until vmm_ioeventfd_remove().
 *
 * Returns 0, -EINVAL, -EEXIST (the same address/len/datamatch taken; in
 * user-space fallback mode also when another device owns the address),
 * -ENOMEM, or the backend's error.
 */
VMM_API VMM_MUST_CHECK int vmm_ioeventfd_add(vmm_vm *vm, enum vmm_space space,
					     uint64_t addr, unsigned len,
					     uint64_t datamatch, uint32_t flags,
					     int fd);

/** vmm_ioeventfd_remove() - undo vmm_ioeventfd_add() (same arguments). */
VMM_API int vmm_ioeventfd_remove(vmm_vm *vm, enum vmm_space space,
				 uint64_t addr, unsigned len,
				 uint64_t datamatch, uint32_t flags, int fd);

/** Where an irqfd's interrupt goes. */
struct vmm_irq_route {
	enum {
		VMM_IRQ_ROUTE_LINE = 0, /**< pulse GSI @gsi (edge) */
		VMM_IRQ_ROUTE_MSI = 1,  /**< MSI @msi_addr / @msi_data */
	} kind;
	uint32_t gsi;
	uint64_t msi_addr;
	uint32_t msi_data;
};

/**
 * vmm_irqfd_add() - each signal of eventfd @fd delivers the interrupt of
 * @route.  One route per fd; to change it remove and add again.  The fd is
 * not duplicated.  Returns 0, -EINVAL, -EEXIST (fd already routed),
 * -ENODEV (no interrupt controller), -ENOSPC (no GSI left), -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_irqfd_add(vmm_vm *vm, int fd,
					 const struct vmm_irq_route *route);

/** vmm_irqfd_remove() - stop routing @fd.  -ENOENT if it was not. */
VMM_API int vmm_irqfd_remove(vmm_vm *vm, int fd);

#ifdef __cplusplus
}
#endif
#endif
