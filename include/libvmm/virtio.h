/* SPDX-License-Identifier: MIT */
/*
 * libvmm/virtio.h - split (para-virtual) devices: VIRTIO 1.x back-ends in
 * the VMM behind a virtio-mmio (version 2) or virtio-pci (modern) transport.
 *
 * Each device runs its queues on the VM's I/O thread (an io_uring event
 * loop, or poll() where the library was built without liburing); guest
 * kicks reach it through an eventfd (KVM ioeventfd where the backend has
 * it: no exit to user space), interrupts leave through vmm_irq_set_line() /
 * vmm_irq_send_msi() or an irqfd.  Every guest-controlled value is validated; a
 * driver that breaks a queue gets DEVICE_NEEDS_RESET and a log message, the
 * VM keeps running.
 *
 * Features offered: VIRTIO_F_VERSION_1, VIRTIO_RING_F_INDIRECT_DESC,
 * VIRTIO_RING_F_EVENT_IDX, with VMM_VIRTIO_PACKED VIRTIO_F_RING_PACKED, plus the
 * device's own.
 */
#ifndef LIBVMM_VIRTIO_H
#define LIBVMM_VIRTIO_H

#include <libvmm/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmm_virtio_transport {
	VMM_VIRTIO_MMIO = 0, /**< virtio-mmio version 2 */
	VMM_VIRTIO_PCI = 1,  /**< virtio-pci modern (1040+id), MSI-X + INTx */
};

/* Flags of struct vmm_virtio_config.flags. */
/** Never use ioeventfd: every kick is a vCPU exit to user space. */
#define VMM_VIRTIO_NO_IOEVENTFD (1u << 0)
/** Never use irqfd: interrupts are injected with vmm_irq_set_line/msi. */
#define VMM_VIRTIO_NO_IRQFD (1u << 1)
/** Do not offer VIRTIO_RING_F_EVENT_IDX. */
#define VMM_VIRTIO_NO_EVENT_IDX (1u << 2)
/** Do not offer VIRTIO_RING_F_INDIRECT_DESC. */
#define VMM_VIRTIO_NO_INDIRECT (1u << 3)
/**
 * Offer VIRTIO_F_RING_PACKED (VIRTIO 1.1+, 2.8): the driver may then run
 * every queue of the device on a packed ring (with indirect descriptors
 * and EVENT_IDX as negotiated) instead of a split one.  Opt-in for now;
 * the vhost-user back-end and front-end never offer it (split rings only).
 */
#define VMM_VIRTIO_PACKED (1u << 4)
/**
 * virtio-blk: do not merge requests.  By default the reads (or writes) of
 * adjacent sectors that the device takes from a queue in one pass go to
 * the host as one vectored operation (each request still gets its own
 * status: a failed or short merged operation is retried request by
 * request).  Other devices ignore the flag.
 */
#define VMM_VIRTIO_BLK_NO_MERGE (1u << 5)
/**
 * virtio-blk: register guest RAM with the VM's io_uring as fixed buffers
 * and read/write one-segment requests with READ_FIXED/WRITE_FIXED (the
 * kernel then does not pin the pages per request).  Opt-in because the
 * kernel pins - and so allocates - all of guest RAM while it is
 * registered (the whole memory size at once, not what the guest touched),
 * and RAM it cannot pin (e.g. a MAP_SHARED regular file) is not
 * registered: those requests, segments crossing a region and the poll()
 * event loop fall back to plain reads and writes.  Removing guest memory
 * drops the registration; the next request registers the new layout.
 */
#define VMM_VIRTIO_BLK_FIXED_BUFS (1u << 6)

/**
 * struct vmm_virtio_config - where and how a device is attached.
 * @transport:  VMM_VIRTIO_MMIO or VMM_VIRTIO_PCI.
 * @mmio_base:  MMIO: guest-physical base of the 4 KiB register window
 *              (page aligned, outside RAM).
 * @irq:        MMIO: the GSI of its interrupt (level); PCI: the INTx GSI
 *              used while MSI-X is off.  -1 = none (the driver polls).
 * @pci_host:   PCI: the host bridge from vmm_pci_host_attach().
 * @pci_slot:   PCI: device number 1..31, -1 = first free.
 * @queue_size: largest queue size offered (power of two, 0 = 256, <= 1024).
 * @flags:      VMM_VIRTIO_* above.
 *
 * Start from vmm_virtio_config_init().
 */
struct vmm_virtio_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size; not read when
			       *   embedded (the outer struct's counts) */
	enum vmm_virtio_transport transport;
	uint64_t mmio_base;
	int irq;
	vmm_dev *pci_host;
	int pci_slot;
	uint16_t queue_size;
	uint32_t flags;
};

/** vmm_virtio_config_init() - defaults for @transport: no IRQ, slot -1. */
VMM_API void vmm_virtio_config_init(struct vmm_virtio_config *cfg,
				    enum vmm_virtio_transport transport);

/**
 * struct vmm_virtio_blk_config - virtio-blk on a raw image file.
 * @path:     the image (its size, rounded down to 512 bytes, is the
 *            capacity).  Or @fd >= 0: an open file (dup()ed; @path unused).
 * @readonly: offer VIRTIO_BLK_F_RO, open read-only; writes fail with
 *            VIRTIO_BLK_S_IOERR.
 * @serial:   the GET_ID string (up to 20 bytes, NULL = "libvmm-blk").
 * @direct:   open with O_DIRECT (bypass the host page cache).
 * @num_queues: request queues (1..VMM_VIRTIO_BLK_MAX_QUEUES); more than one
 *            offers VIRTIO_BLK_F_MQ.  0 = one per vCPU of the VM
 *            (vmm_config.ncpus), at most VMM_VIRTIO_BLK_MAX_QUEUES.
 *
 * Requests: IN, OUT, FLUSH, GET_ID, DISCARD, WRITE_ZEROES.  Host I/O errors
 * complete the request with VIRTIO_BLK_S_IOERR and are counted
 * (vmm_virtio_get_stats().io_errors), never dropped.  DISCARD and WRITE_ZEROES
 * take one segment; a segment with unknown flags, or a DISCARD with the
 * unmap flag, completes with VIRTIO_BLK_S_UNSUPP (VIRTIO 1.2, 5.2.6.2).
 *
 * Flush semantics: a write is acknowledged once the host kernel has it
 * (in the page cache without @direct); VIRTIO_BLK_T_FLUSH completes only
 * after fsync() of the image has returned, so a write acknowledged before
 * a completed flush survives the VMM process being killed and the host
 * losing power (docs/virtio.md, "virtio-blk flush").
 */
struct vmm_virtio_blk_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	struct vmm_virtio_config virtio;
	const char *path;
	int fd;
	bool readonly;
	bool direct;
	const char *serial;
	unsigned num_queues;
};

/** Queues a virtio-blk device can have (VIRTIO_BLK_F_MQ). */
#define VMM_VIRTIO_BLK_MAX_QUEUES 8

/** vmm_virtio_blk_config_init() - defaults (fd -1, writable). */
VMM_API void vmm_virtio_blk_config_init(struct vmm_virtio_blk_config *cfg,
					enum vmm_virtio_transport transport);

/**
 * vmm_virtio_blk_attach() - attach a virtio-blk device.
 * Returns 0, -EINVAL (bad configuration), -ENOENT/-EACCES/... (the image),
 * -EEXIST (MMIO window or PCI slot taken), -ENOMEM.  Detach with
 * vmm_dev_detach(): in-flight requests are completed first.
 */
VMM_API VMM_MUST_CHECK int
vmm_virtio_blk_attach(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
		      vmm_dev **out);

/**
 * struct vmm_virtio_net_config - virtio-net on a TAP device.
 * @tap_fd: an open TAP fd (IFF_TAP | IFF_NO_PI; dup()ed) - or any fd
 *          carrying one bare Ethernet frame per read/write, such as a
 *          datagram socket (no offloads then) - or -1 to open
 *          @ifname (created if needed, needs CAP_NET_ADMIN; opened with
 *          IFF_VNET_HDR).  With IFF_VNET_HDR the device sets the tap's
 *          vnet header size to 12 and offers the offloads
 *          VIRTIO_NET_F_CSUM, GUEST_CSUM, HOST_TSO4/6 and GUEST_TSO4/6
 *          (TUNSETOFFLOAD follows what the driver accepts); without it no
 *          offload is offered.  VIRTIO_NET_F_MRG_RXBUF is always offered.
 *          Transmitted headers are checked against the negotiated
 *          offloads and the frame; a frame with a lying header is dropped
 *          and counted in driver_errors (docs/virtio.md, "virtio-net").
 * @mac:    the MAC address offered (VIRTIO_NET_F_MAC); all zero = a
 *          locally administered one derived from the interface.
 * @mtu:    offered with VIRTIO_NET_F_MTU when non-zero.
 */
struct vmm_virtio_net_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	struct vmm_virtio_config virtio;
	int tap_fd;
	const char *ifname;
	uint8_t mac[6];
	uint16_t mtu;
};

VMM_API void vmm_virtio_net_config_init(struct vmm_virtio_net_config *cfg,
					enum vmm_virtio_transport transport);
VMM_API VMM_MUST_CHECK int
vmm_virtio_net_attach(vmm_vm *vm, const struct vmm_virtio_net_config *cfg,
		      vmm_dev **out);

/**
 * struct vmm_virtio_console_config - virtio-console, one port.
 * @out_fd: what the guest transmits is written here (-1 = discarded).
 * @in_fd:  read when readable, given to the guest (-1 = no input).
 * Both are dup()ed.
 */
struct vmm_virtio_console_config {
	uint32_t struct_size; /**< sizeof(); 0 = 0.2 size (docs/api.md) */
	struct vmm_virtio_config virtio;
	int out_fd;
	int in_fd;
};

VMM_API void
vmm_virtio_console_config_init(struct vmm_virtio_console_config *cfg,
			       enum vmm_virtio_transport transport);
VMM_API VMM_MUST_CHECK int
vmm_virtio_console_attach(vmm_vm *vm,
			  const struct vmm_virtio_console_config *cfg,
			  vmm_dev **out);

/** vmm_virtio_rng_attach() - virtio-rng fed by getrandom(2). */
VMM_API VMM_MUST_CHECK int
vmm_virtio_rng_attach(vmm_vm *vm, const struct vmm_virtio_config *cfg,
		      vmm_dev **out);

/** Counters of a virtio device. */
struct vmm_virtio_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint32_t device_id;    /**< 1 net, 2 blk, 3 console, 4 rng */
	uint8_t status;        /**< device status register */
	uint64_t features;     /**< negotiated features */
	uint64_t kicks;        /**< queue notifications received */
	uint64_t interrupts;   /**< interrupts sent */
	uint64_t requests;     /**< chains completed */
	uint64_t bytes_in;     /**< bytes written into guest buffers */
	uint64_t bytes_out;    /**< bytes read from guest buffers */
	uint64_t io_errors;    /**< host I/O errors reported to the guest */
	uint64_t queue_errors; /**< broken queues (NEEDS_RESET) */
	uint64_t driver_errors; /**< other protocol violations logged */
	bool ioeventfd;        /**< kicks arrive without user-space exits */
	bool irqfd;            /**< interrupts leave through irqfds */
	uint64_t mmio_base;    /**< current register window / BAR (0 = none) */
	uint64_t mem_drains;   /**< in-flight requests drained because guest
				    memory was removed (vmm_mem_remove) */
};

/** vmm_virtio_get_stats() - -EINVAL if @dev is not a virtio device. */
VMM_API int vmm_virtio_get_stats(vmm_dev *dev, struct vmm_virtio_stats *st);

#ifdef __cplusplus
}
#endif
#endif
