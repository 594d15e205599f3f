/* SPDX-License-Identifier: MIT */
/*
 * libvmm/models.h - the three device models and the devices that exist
 * only to make the choice between them real.
 *
 * Every device attached to a VM has one model (docs/device-models.md):
 *
 *   VMM_MODEL_PASSTHROUGH  the guest drives a host resource directly: a
 *                          host memory region mapped into guest-physical
 *                          space, or a VFIO PCI function.  No exits on the
 *                          data path; exclusive unless opened shared; not
 *                          migratable (snapshot and migration refuse a VM
 *                          that has one, naming it).
 *   VMM_MODEL_DIRECT       hypervisor-direct: every guest access to a
 *                          register traps to the VMM, which emulates the
 *                          device (UART, RTC, the trapped block device).
 *                          Shareable (it is software) and migratable.
 *   VMM_MODEL_SPLIT        a para-virtual front-end in the guest and a
 *                          back-end in the VMM (virtio): requests are
 *                          batched in shared rings, one notification for
 *                          many.  Shareable and migratable.
 *
 * vmm_dev_get_info() answers for every device, whichever header attached it.
 */
#ifndef LIBVMM_MODELS_H
#define LIBVMM_MODELS_H

#include <libvmm/common.h>
#include <libvmm/bus.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Device models.  0 is "the device kind's default" where one is asked. */
enum vmm_dev_model {
	VMM_MODEL_DEFAULT = 0,
	VMM_MODEL_PASSTHROUGH = 1,
	VMM_MODEL_DIRECT = 2,
	VMM_MODEL_SPLIT = 3,
};

/** vmm_model_name() - "passthrough", "direct", "split" ("default" for 0). */
VMM_API const char *vmm_model_name(enum vmm_dev_model model);

/**
 * struct vmm_dev_info - what vmm_dev_get_info() reports.
 * @model:      the device's model (never VMM_MODEL_DEFAULT).
 * @shareable:  the backing resource may be used by other devices or VMs at
 *              the same time (software devices: always; passthrough: only
 *              when attached with VMM_PT_SHARED).
 * @exclusive:  the device holds its host resource exclusively: another
 *              attach of it fails with -EBUSY.
 * @migratable: snapshot and migration can carry the device (it has state
 *              save/restore); false for every passthrough device.
 * @traps:      guest accesses to the device exit to the VMM (direct: every
 *              register access; split: notifications only; passthrough:
 *              none).
 * @name:       the device's name, as vmm_dev_name().
 */
struct vmm_dev_info {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	enum vmm_dev_model model;
	bool shareable;
	bool exclusive;
	bool migratable;
	bool traps;
	char name[48];
};

/** vmm_dev_model() - @dev's model; VMM_MODEL_DEFAULT only for NULL. */
VMM_API enum vmm_dev_model vmm_dev_model(const vmm_dev *dev);

/**
 * vmm_dev_get_info() - fill @info for @dev (set @info->struct_size
 * first).  -EINVAL for NULL arguments or a bad struct_size.
 */
VMM_API int vmm_dev_get_info(const vmm_dev *dev, struct vmm_dev_info *info);

/* ---- passthrough, host-region form ---------------------------------- */

/* Flags of struct vmm_passthrough_config.flags. */
/** Allow other attaches of the same range (this VM, other VMs, other
 *  processes that also open it shared).  Default: exclusive. */
#define VMM_PT_SHARED (1u << 0)
/** Map read-only: guest writes trap as MMIO (and are refused). */
#define VMM_PT_READONLY (1u << 1)

/**
 * struct vmm_passthrough_config - a host region mapped into the guest.
 * @fd:       the resource: a memfd, shm or regular file, or any fd whose
 *            region can be mmap()ed shared.  Not taken over: libvmm opens
 *            its own description of the same file (needed for the lock
 *            below) and the caller may close @fd after attach.
 * @offset:   page-aligned offset of the region in the file.
 * @size:     page-aligned, non-zero; the file must cover it.
 * @gpa:      page-aligned guest-physical base (must not overlap RAM).
 * @flags:    VMM_PT_* above.
 * @irq_fd:   an eventfd the host side signals to interrupt the guest, or
 *            -1.  Each signal pulses GSI @irq_gsi (through KVM's irqfd, or
 *            the VM's I/O thread on backends without one).  Not duplicated:
 *            keep it open until detach.
 * @irq_gsi:  the interrupt line for @irq_fd.
 * @name:     optional label ("pt@<gpa>" when NULL).
 *
 * Exclusivity is enforced two ways: within a VM by the device list (same
 * device and inode, overlapping range), and between VMs and processes by an
 * open-file-description lock on the range (F_OFD_SETLK: a write lock when
 * exclusive, a read lock when shared), which other holders of a libvmm
 * passthrough honour.  Start from vmm_passthrough_config_init().
 */
struct vmm_passthrough_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	int fd;
	off_t offset;
	uint64_t size;
	vmm_gpa_t gpa;
	uint32_t flags;
	int irq_fd;
	uint32_t irq_gsi;
	const char *name;
};

/** vmm_passthrough_config_init() - fd -1, irq_fd -1, everything else 0. */
VMM_API void vmm_passthrough_config_init(struct vmm_passthrough_config *cfg);

/**
 * vmm_passthrough_attach() - map a host region into guest-physical
 * space (vmm_mem_add with VMM_MEM_FD | VMM_MEM_SHARED underneath): guest
 * loads and stores go straight to the host pages, with no exit.
 *
 * Returns 0, -EINVAL (bad arguments or alignment), -EBADF (@fd not open),
 * -EBUSY (the range is attached exclusively somewhere, or this attach is
 * exclusive and the range is attached at all), -EEXIST (@gpa overlaps
 * guest memory), -ENODEV (@irq_fd given but the VM has no interrupt
 * controller), -ENOMEM.  Nothing is left mapped or locked on failure.
 *
 * vmm_dev_detach() removes the mapping and the lock; it fails with -EBUSY
 * while vCPUs run (the mapping cannot be pulled from under a running
 * guest), and then nothing changes.
 */
VMM_API VMM_MUST_CHECK int
vmm_passthrough_attach(vmm_vm *vm, const struct vmm_passthrough_config *cfg,
			   vmm_dev **out);

/* ---- hypervisor-direct trapped block device ---------------------------- */

/*
 * Register interface of the trapped block device (offsets from the base,
 * 32-bit registers, little endian; every access is a trap):
 */
#define VMM_TRAPBLK_SECTOR_LO 0x00 /**< rw: first sector, low 32 bits */
#define VMM_TRAPBLK_SECTOR_HI 0x04 /**< rw: first sector, high 32 bits */
#define VMM_TRAPBLK_COUNT 0x08     /**< rw: sectors to transfer (1..65536) */
#define VMM_TRAPBLK_CMD 0x0c       /**< w: command; r: status */
#define VMM_TRAPBLK_DATA 0x10      /**< rw: 4 bytes of data per access */
#define VMM_TRAPBLK_CAP_LO 0x14    /**< r: capacity in sectors, low */
#define VMM_TRAPBLK_CAP_HI 0x18    /**< r: capacity in sectors, high */
#define VMM_TRAPBLK_ERROR 0x1c     /**< r: error code of the last command */
#define VMM_TRAPBLK_SPAN 0x20      /**< bytes of address space taken */

#define VMM_TRAPBLK_SECTOR_SIZE 512u
#define VMM_TRAPBLK_MAX_COUNT 65536u

/* Commands (write to VMM_TRAPBLK_CMD). */
#define VMM_TRAPBLK_CMD_READ 1
#define VMM_TRAPBLK_CMD_WRITE 2
#define VMM_TRAPBLK_CMD_FLUSH 3
#define VMM_TRAPBLK_CMD_RESET 4 /**< abort the transfer, clear the error */

/* Status bits (read VMM_TRAPBLK_CMD). */
#define VMM_TRAPBLK_ST_READY (1u << 0) /**< no transfer in progress */
#define VMM_TRAPBLK_ST_DRQ (1u << 1)   /**< DATA expects/has data */
#define VMM_TRAPBLK_ST_ERR (1u << 2)   /**< last command failed, see ERROR */
#define VMM_TRAPBLK_ST_RO (1u << 3)    /**< the medium is read-only */

/* Error codes (read VMM_TRAPBLK_ERROR). */
#define VMM_TRAPBLK_E_NONE 0
#define VMM_TRAPBLK_E_RANGE 1    /**< sector/count beyond the end, count 0
				      or > VMM_TRAPBLK_MAX_COUNT */
#define VMM_TRAPBLK_E_IO 2       /**< the host read/write failed */
#define VMM_TRAPBLK_E_RO 3       /**< write to a read-only medium */
#define VMM_TRAPBLK_E_CMD 4      /**< unknown command */
#define VMM_TRAPBLK_E_PROTO 5    /**< DATA access without DRQ, or not 4
				      bytes wide; a command during a transfer */

/**
 * struct vmm_trapblk_config - the trapped block device.
 * @space:    VMM_SPACE_PIO (default) or VMM_SPACE_MMIO.
 * @base:     port (0 = 0x5c0) or MMIO address (page aligned, required).
 * @path:     the image file (opened O_RDWR, or O_RDONLY with @readonly),
 *            or @fd >= 0: an open file (dup()ed; writes to an fd opened
 *            read-only fail in the guest with VMM_TRAPBLK_E_IO).
 * @readonly: refuse writes (VMM_TRAPBLK_E_RO).
 * Capacity is the file size rounded down to 512 bytes, read at attach.
 */
struct vmm_trapblk_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	enum vmm_space space;
	uint64_t base;
	const char *path;
	int fd;
	bool readonly;
};

/** vmm_trapblk_config_init() - PIO at 0x5c0, fd -1, writable. */
VMM_API void vmm_trapblk_config_init(struct vmm_trapblk_config *cfg);

/**
 * vmm_trapblk_attach() - attach the trapped block device.
 * Returns 0, -EINVAL, -ENOENT/-EACCES/... (opening the image), -EEXIST (the
 * range is taken), -ENOMEM.  The device is migratable (its registers and
 * the sector buffer are saved with the VM).
 */
VMM_API VMM_MUST_CHECK int
vmm_trapblk_attach(vmm_vm *vm, const struct vmm_trapblk_config *cfg,
		       vmm_dev **out);

/** Counters of a trapped block device. */
struct vmm_trapblk_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t reg_accesses; /**< register traps (data port included) */
	uint64_t sectors_read, sectors_written;
	uint64_t errors;       /**< commands that ended with ST_ERR */
	uint64_t capacity;     /**< sectors */
};

/**
 * vmm_trapblk_get_stats() - set @st->struct_size first.  -EINVAL if @dev
 * is not a trapped block device or for a bad struct_size.
 */
VMM_API int vmm_trapblk_get_stats(vmm_dev *dev, struct vmm_trapblk_stats *st);

/* ---- one block device kind, three models -------------------------------- */

/**
 * struct vmm_block_config - a block device whose model the embedder picks.
 * @model: VMM_MODEL_DIRECT (or DEFAULT): the trapped block device with
 *             @trapblk (its path/fd/readonly come from the fields below);
 *         VMM_MODEL_SPLIT: virtio-blk on the MMIO transport at
 *             @mmio_base with interrupt @irq;
 *         VMM_MODEL_PASSTHROUGH: the image itself mapped at @gpa
 *             (vmm_passthrough_attach of the whole file, exclusive
 *             unless @shared): the guest reads and writes the disk as
 *             memory, with no exits.
 * @path, @fd, @readonly: the image, as for the trapped block device.
 */
struct vmm_block_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	enum vmm_dev_model model;
	const char *path;
	int fd;
	bool readonly;
	/* direct */
	enum vmm_space space;
	uint64_t base;
	/* split */
	uint64_t mmio_base;
	int irq;
	/* passthrough */
	vmm_gpa_t gpa;
	bool shared;
};

/** vmm_block_config_init() - DIRECT, PIO 0x5c0, fd -1, irq -1. */
VMM_API void vmm_block_config_init(struct vmm_block_config *cfg);

/**
 * vmm_block_attach() - attach a block device under @cfg->model.
 * Returns what the model's own attach returns; -EOPNOTSUPP for a model
 * this build cannot give (the message says why).
 */
VMM_API VMM_MUST_CHECK int vmm_block_attach(vmm_vm *vm,
						const struct vmm_block_config *cfg,
						vmm_dev **out);

/* ---- passthrough, VFIO-PCI form ------------------------------------------ */

/** Flags of struct vmm_vfio_pci_config.flags. */
/** Do not map guest RAM for DMA (a device that never does DMA). */
#define VMM_VFIO_NO_DMA (1u << 0)

/**
 * struct vmm_vfio_pci_config - a host PCI function bound to vfio-pci.
 * @bdf:      its address, "0000:01:00.0" (the IOMMU group is read from
 *            /sys/bus/pci/devices/<bdf>/iommu_group).
 * @pci_host: the VM's host bridge (vmm_pci_host_attach()).
 * @slot:     device number 1..31, -1 = first free.
 * @intx_gsi: the GSI its INTx pin raises, -1 = no INTx.
 * @bar_base: guest-physical window the BARs are placed in at attach (the
 *            guest may move them); 0 = 0xe0000000.
 * @flags:    VMM_VFIO_*.
 */
struct vmm_vfio_pci_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	const char *bdf;
	vmm_dev *pci_host;
	int slot;
	int intx_gsi;
	uint64_t bar_base;
	uint32_t flags;
};

/** vmm_vfio_pci_config_init() - slot -1, intx_gsi -1, everything else 0. */
VMM_API void vmm_vfio_pci_config_init(struct vmm_vfio_pci_config *cfg);

/**
 * vmm_vfio_available() - 0 if /dev/vfio/vfio can be opened and speaks the
 * VFIO API with the type-1 IOMMU, else a negative errno (-ENOENT: no
 * /dev/vfio/vfio) with the reason in @why (@len bytes).
 */
VMM_API int vmm_vfio_available(char *why, size_t len);

/**
 * vmm_vfio_pci_attach() - pass a VFIO PCI function through: container and
 * group set up (API version, type-1 IOMMU, group viable), guest RAM mapped
 * for DMA (VFIO_IOMMU_MAP_DMA per RAM region present at attach time), the
 * function put on @pci_host with its configuration space partly emulated
 * (BARs, command register, MSI and MSI-X capabilities; the rest read from
 * and written to the device), mmap()able BARs mapped into guest-physical
 * space when the guest enables memory decoding, other BARs trapped,
 * INTx/MSI/MSI-X through eventfds (VFIO_DEVICE_SET_IRQS) into irqfds.
 *
 * Returns 0, -EINVAL, -ENOENT (no such device or group), -ENODEV (no VFIO
 * here), -EBUSY (group not viable or in use), -ENOMEM, or the error of the
 * failing ioctl (the message names it).
 */
VMM_API VMM_MUST_CHECK int vmm_vfio_pci_attach(vmm_vm *vm,
					       const struct vmm_vfio_pci_config *cfg,
					       vmm_dev **out);

#ifdef __cplusplus
}
#endif
#endif
