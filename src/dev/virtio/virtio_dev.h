/* SPDX-License-Identifier: MIT */
/*
 * virtio_dev.h - the transport-independent virtio device: status and
 * feature negotiation, queue configuration, the device-specific config
 * space, kicks and interrupts.  Three parts plug into it:
 *
 *   a device back-end (blk.c, net.c, console.c, rng.c) fills
 *       struct vmm_virtio_dev_ops and works only on its queues
 *       (virtqueue.h) - it never sees a transport or a VM;
 *   a transport (mmio.c, pci.c) maps guest register accesses onto the
 *       vmm_virtio_* calls below and delivers interrupts
 *       (struct vmm_virtio_transport_ops);
 *   the vhost-user back-end (later) drives the same struct from vhost-user
 *       messages: features/status/vring calls map one to one, guest memory
 *       is its memory table (struct vmm_vq_mem), kicks are the kick fds
 *       (vmm_virtio_set_kick_fd()), interrupts write the call fds.
 *
 * Threading and locking: @lock protects everything here.  Transports take
 * it around register accesses (vCPU threads).  Queue work runs on the event
 * loop thread: each queue's kick eventfd is watched there, and the callback
 * calls ops->queue_notify with @lock held; I/O completions take @lock
 * themselves.  ops->reset runs with @lock held on a vCPU thread and must
 * wait (pthread_cond_wait on @cond) until in-flight requests completed.
 */
#ifndef LIBVMM_DEV_VIRTIO_DEV_H
#define LIBVMM_DEV_VIRTIO_DEV_H

#include "core/internal.h"
#include "dev/virtio/virtqueue.h"

#include <pthread.h>

/*
 * The VIRTIO constants come from the kernel's UAPI headers (linux-libc-dev):
 * feature bits VIRTIO_F_* (virtio_config.h) and VIRTIO_RING_F_* (ring
 * features, virtio_ring.h), status bits VIRTIO_CONFIG_S_*, the MSI-X
 * "no vector" VIRTIO_MSI_NO_VECTOR (virtio_pci.h), device IDs
 * VIRTIO_ID_* (virtio_ids.h).  The interrupt status bits are the same on
 * both transports (VIRTIO 1.2 4.1.4.5 and 4.2.2); the kernel names them
 * only for MMIO (VIRTIO_MMIO_INT_VRING / _CONFIG; PCI has just
 * VIRTIO_PCI_ISR_CONFIG), so both transports use the MMIO names.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

/* Ours: the queues a device may have in this library. */
#define VMM_VIRTIO_MAX_QUEUES 8

struct vmm_virtio;

/* What a device back-end provides. */
struct vmm_virtio_dev_ops {
	const char *name;         /* "blk", "net", ... */
	uint32_t device_id;       /* VIRTIO device ID */
	unsigned num_queues;
	uint8_t queue_dirs[VMM_VIRTIO_MAX_QUEUES]; /* VMM_VQ_DIR_* */
	uint64_t features;        /* device-specific bits offered */
	uint32_t config_size;
	/* copy config bytes [off, off+len) (bounds checked by the core) */
	void (*config_read)(void *be, uint32_t off, void *buf, unsigned len);
	/* optional: the driver wrote config bytes */
	void (*config_write)(void *be, uint32_t off, const void *buf,
			     unsigned len);
	/* queue @q was kicked (loop thread, lock held, DRIVER_OK set) */
	void (*queue_notify)(void *be, unsigned q);
	/* optional: DRIVER_OK was set (lock held) */
	void (*driver_ok)(void *be);
	/* optional: device reset (lock held): finish or cancel in-flight
	 * work, waiting on vd->cond; the core then clears the queues */
	void (*reset)(void *be);
	/* optional: complete every in-flight request (pushing it to the used
	 * ring as usual) and return when none is left, waiting on vd->cond
	 * (lock held; vd->frozen is set, so no new request starts).  Used
	 * before the state is saved (snapshots, migration). */
	void (*drain)(void *be);
	/* optional: guest memory is about to lose a region (after the
	 * device was frozen and drained; lock NOT held, not on the loop
	 * thread): drop host pointers kept beyond a request */
	void (*mem_change)(void *be);
	/* the queues do not run here (vhost-user front-end): the device has
	 * no state a snapshot could carry; saving refuses it */
	bool no_state;
};

/* What a transport provides. */
struct vmm_virtio_transport_ops {
	/* deliver the interrupt of queue @q (-1 = configuration change);
	 * lock held */
	void (*interrupt)(struct vmm_virtio *vd, int q);
};

struct vmm_virtio_queue {
	struct vmm_virtio *vd;
	unsigned index;
	struct vmm_vq vq;
	uint16_t size_max;
	uint16_t msix_vector;
	int kick_fd;              /* eventfd the loop watches */
	bool own_kick_fd;
	struct vmm_ev_watch *watch;
};

struct vmm_virtio {
	vmm_vm *vm;               /* NULL outside a VM (vhost-user) */
	vmm_log_fn log;           /* used when @vm is NULL */
	void *log_opaque;
	char name[40];
	const struct vmm_virtio_dev_ops *ops;
	void *be;
	const struct vmm_virtio_transport_ops *t;
	void *t_priv;
	struct vmm_evloop *loop;
	struct vmm_vq_mem mem;

	pthread_mutex_t lock;
	pthread_cond_t cond;

	uint8_t status;
	uint8_t isr;
	/* quiesced for a snapshot: no kick is processed and no request is
	 * started until vmm__virtio_thaw() (vmm_virtio_running() is false) */
	bool frozen;
	uint32_t config_gen;
	uint64_t host_features, guest_features;
	uint32_t dev_feat_sel, drv_feat_sel;
	uint16_t queue_sel;
	uint16_t config_msix;
	unsigned nq;
	struct vmm_virtio_queue q[VMM_VIRTIO_MAX_QUEUES];

	struct vmm_virtio_stats stats;

	/* memory listener (in a VM): freeze + drain before guest memory is
	 * removed, so no request in flight holds a pointer into it */
	struct vmm_mem_listener mem_listener;
	bool mem_was_frozen;
};

/*
 * vmm_virtio_init() - set up @vd for back-end @ops/@be on @loop with guest
 * memory @mem (copied): creates and watches one kick eventfd per queue.
 * @flags: VMM_VIRTIO_NO_EVENT_IDX / NO_INDIRECT / PACKED.  @queue_max:
 * largest queue size offered.
 * Returns 0 or -errno (nothing left allocated).
 */
int vmm_virtio_init(struct vmm_virtio *vd, vmm_vm *vm,
		    const struct vmm_virtio_dev_ops *ops, void *be,
		    struct vmm_evloop *loop, const struct vmm_vq_mem *mem,
		    uint32_t flags, uint16_t queue_max);
/* vmm_virtio_fini() - reset (draining in-flight work), unwatch, close. */
void vmm_virtio_fini(struct vmm_virtio *vd);

/* vmm_vq_mem_vm() - guest memory of @vm as a struct vmm_vq_mem. */
void vmm_vq_mem_vm(struct vmm_vq_mem *mem, vmm_vm *vm);

/* ---- register semantics shared by the transports (lock held) ---- */
uint32_t vmm_virtio_get_dev_features(struct vmm_virtio *vd);  /* by sel */
void vmm_virtio_set_drv_features(struct vmm_virtio *vd, uint32_t v);
uint32_t vmm_virtio_get_drv_features(struct vmm_virtio *vd);
void vmm_virtio_set_status(struct vmm_virtio *vd, uint8_t v);
/* the selected queue, or NULL if queue_sel is out of range */
struct vmm_virtio_queue *vmm_virtio_sel(struct vmm_virtio *vd);
/* enable (validates the layout; NEEDS_RESET on failure) or disable */
void vmm_virtio_queue_enable(struct vmm_virtio *vd,
			     struct vmm_virtio_queue *q, bool on);
/* config space: out-of-range parts read as 0 / are dropped and logged */
void vmm_virtio_config_read(struct vmm_virtio *vd, uint32_t off, void *buf,
			    unsigned len);
void vmm_virtio_config_write(struct vmm_virtio *vd, uint32_t off,
			     const void *buf, unsigned len);
/* the driver's queue notification (any thread, no lock needed) */
void vmm_virtio_kick(struct vmm_virtio *vd, uint32_t q);

/* ---- for back-ends (lock held) ---- */
/* interrupt the driver for queue @q if the suppression rules allow */
void vmm_virtio_notify_queue(struct vmm_virtio *vd, unsigned q);
/* queue @q broke (vq->err says how): NEEDS_RESET, config interrupt, log */
void vmm_virtio_queue_error(struct vmm_virtio *vd, unsigned q);
/* the configuration changed: generation++, config interrupt */
void vmm_virtio_config_changed(struct vmm_virtio *vd);
/* a driver protocol violation that does not break the device: log it */
void vmm_virtio_driver_error(struct vmm_virtio *vd, const char *fmt, ...)
	VMM_PRINTF(2, 3);
void vmm_virtio_log(struct vmm_virtio *vd, int level, const char *fmt, ...)
	VMM_PRINTF(3, 4);

static inline bool vmm_virtio_running(const struct vmm_virtio *vd)
{
	return (vd->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(vd->status & VIRTIO_CONFIG_S_NEEDS_RESET) && !vd->frozen;
}

/*
 * The transports (mmio.c, pci.c): attach @vd (initialised) to @vm as
 * configured and create the device handle.  On success the handle owns
 * @vd and @be: detaching calls the transport's teardown, then
 * vmm_virtio_fini(), then @be_destroy(@be).
 */
int vmm__virtio_mmio_attach(vmm_vm *vm, struct vmm_virtio *vd,
			    const struct vmm_virtio_config *cfg,
			    void (*be_destroy)(void *be), vmm_dev **out);
int vmm__virtio_pci_attach(vmm_vm *vm, struct vmm_virtio *vd,
			   const struct vmm_virtio_config *cfg,
			   void (*be_destroy)(void *be), vmm_dev **out);

/*
 * vmm__virtio_attach() - common attach of the four devices: validate @cfg,
 * get the VM's loop, init a struct vmm_virtio (allocated) for @ops/@be and
 * hand it to the transport.  On failure @be_destroy(@be) has been called.
 */
int vmm__virtio_attach(vmm_vm *vm, const struct vmm_virtio_config *cfg,
		       const struct vmm_virtio_dev_ops *ops, void *be,
		       void (*be_destroy)(void *be), vmm_dev **out,
		       struct vmm_virtio **vd_out);

/*
 * struct vmm__virtio_be - a device back-end made without a transport (the
 * vhost-user back-end drives it): its ops, its state, how to free it, and
 * where it keeps its struct vmm_virtio pointer (set it before
 * vmm_virtio_init(): the back-end's callbacks use it).
 */
struct vmm__virtio_be {
	const struct vmm_virtio_dev_ops *ops;
	void *be;
	void (*destroy)(void *be);
	struct vmm_virtio **vd_slot;
	uint16_t queue_max;
};

/*
 * The back-end constructors behind vmm_virtio_*_attach().  @vm may be NULL
 * (no VM: libc allocation, errors only returned).  0 or -errno.
 */
int vmm__virtio_blk_new(vmm_vm *vm, const struct vmm_virtio_blk_config *cfg,
			struct vmm__virtio_be *out);
int vmm__virtio_rng_new(vmm_vm *vm, const struct vmm_virtio_config *cfg,
			struct vmm__virtio_be *out);

/*
 * Snapshot state of the transport-independent part (state.c; layout in
 * docs/snapshot-format.md, "virtio devices").  vmm__virtio_freeze()
 * stops queue processing and drains in-flight requests (lock held: it
 * waits on vd->cond), so that the used rings in guest memory are complete
 * before memory is saved; vmm__virtio_thaw() undoes it (lock held) and
 * looks at the rings again.  vmm__virtio_save_core() writes the state of
 * a frozen device.  vmm__virtio_parse_core() reads and validates saved
 * state into @s without changing @vd (status, features against what @vd
 * offers, queue sizes against the maximum, ring layout in guest memory,
 * indices, vectors below @nvec); vmm__virtio_apply_core() then loads it
 * (lock held, device frozen).  Errors: -EINVAL with @err filled.
 */
struct vmm__virtio_saved_queue {
	uint16_t size, msix_vector;
	uint8_t flags;            /* VMM__VQS_* */
	uint64_t desc, avail, used;
	uint16_t last_avail, used_idx, signalled_used;
};
#define VMM__VQS_READY 1
#define VMM__VQS_BROKEN 2
#define VMM__VQS_SIGNALLED 4
/* packed rings: the wrap counters of last_avail, used_idx, signalled_used */
#define VMM__VQS_AVAIL_WRAP 8
#define VMM__VQS_USED_WRAP 16
#define VMM__VQS_SIGNALLED_WRAP 32

struct vmm__virtio_saved {
	uint64_t guest_features;
	uint8_t status, isr;
	uint16_t queue_sel, config_msix;
	uint32_t config_gen, dev_feat_sel, drv_feat_sel;
	struct vmm__virtio_saved_queue q[VMM_VIRTIO_MAX_QUEUES];
};

void vmm__virtio_freeze(struct vmm_virtio *vd);
void vmm__virtio_thaw(struct vmm_virtio *vd);
void vmm__virtio_save_core(struct vmm_virtio *vd, struct vmm_sbuf *b);
int vmm__virtio_parse_core(struct vmm_virtio *vd, struct vmm_sreader *r,
			   unsigned nvec, struct vmm__virtio_saved *s,
			   char *err, size_t errlen);
void vmm__virtio_apply_core(struct vmm_virtio *vd,
			    const struct vmm__virtio_saved *s);
/*
 * vmm__virtio_capture_core() - @vd's current state as parse_core would
 * read it from save_core's output (lock held).  The transports' restore
 * uses it instead of parse_core when the saved state is byte for byte
 * what the device would save now (a snapshot reset of a device the last
 * input did not change): the state is the device's own, reached through
 * checked transitions, so it needs no validation (the ring layout checks
 * against guest memory were most of a reset's cost), and it is still
 * applied as parse_core's would be (queues reset and set, line driven,
 * queues with buffers kicked).
 */
void vmm__virtio_capture_core(const struct vmm_virtio *vd,
			      struct vmm__virtio_saved *s);

/* vmm__virtio_of() - the struct vmm_virtio behind a device handle. */
struct vmm_virtio *vmm__virtio_of(vmm_dev *dev);

/*
 * vmm__virtio_sync() - wait until the loop has handled every kick and
 * completion pending now (tests): a loop barrier, the device's drain op,
 * repeated while a kick eventfd is still unread.  Not on the loop thread.
 */
void vmm__virtio_sync(vmm_dev *dev);

#endif
