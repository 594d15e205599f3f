/* SPDX-License-Identifier: MIT */
/*
 * libvmm/hypercall.h - para-virtual calls from the guest to host functions
 * the embedder registers, with typed, checked arguments and batching.
 *
 * The guest side of the ABI is in <libvmm/hypercall_abi.h> and
 * docs/hypercall-abi.md.  The embedder:
 *
 *   vmm_hc *hc;
 *   vmm_hc_attach(vm, NULL, &hc);                 // doorbell at 0x560
 *   struct vmm_hc_sig sig = { .nargs = 1, .nbufs = 1,
 *       .bufs = { { VMM_HC_DIR_IN, 4096 } } };
 *   vmm_hc_register(hc, 0x100, "log", &sig, my_log, ctx);
 *
 * Before a host function runs the library has checked, through the guest
 * memory layer, every part of the call: the block lies in RAM, magic,
 * version, size and reserved fields, the argument and buffer counts and
 * directions match the signature, each buffer lies in RAM without wrapping
 * and within the registered maximum length, and no buffer the host writes
 * overlaps another buffer of the call or the call block.  The function
 * sees host copies of the buffers (a guest changing them concurrently
 * cannot change what the function reads), never a pointer into guest RAM;
 * what it writes to OUT buffers is copied back afterwards.  Any failure is
 * reported to the guest as a negative errno in the block; a hostile guest
 * never stops or crashes the host through this interface.
 *
 * Everything lives on the VM: vmm_hc_attach() attaches a device to the VM
 * (detached with vmm_hc_detach() or vmm_vm_destroy()).
 */
#ifndef LIBVMM_HYPERCALL_H
#define LIBVMM_HYPERCALL_H

#include <libvmm/common.h>
#include <libvmm/hypercall_abi.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque handle of the hypercall device of one VM. */
typedef struct vmm_hc vmm_hc;

/** Largest batch the library accepts whatever the configuration says. */
#define VMM_HC_MAX_BATCH_LIMIT 1024u
/** Largest buffer a function may register (per buffer). */
#define VMM_HC_MAX_BUF_LIMIT (64u << 20)

/**
 * exit.guest.status of a run loop stop requested by a host function (see
 * struct vmm_hc_call.stop).  The debug-exit device's statuses are always
 * odd, so an even status tells the two apart.
 */
#define VMM_HC_STOP_STATUS 0u

/**
 * struct vmm_hc_config - options of vmm_hc_attach().
 * @struct_size: sizeof(struct vmm_hc_config) as compiled; 0 = its
 *               LIBVMM_0.1 size (growable-struct rule, docs/api.md).
 * @port:        doorbell port (0 = VMM_HC_PORT_DEFAULT); 4 ports wide.
 * @max_batch:   most entries in one batch (0 = 64, at most
 *               VMM_HC_MAX_BATCH_LIMIT); longer batches get -E2BIG.
 */
struct vmm_hc_config {
	uint32_t struct_size;
	uint16_t port;
	uint32_t max_batch;
};

/** vmm_hc_config_init() - defaults: port 0x560, batches of up to 64. */
VMM_API void vmm_hc_config_init(struct vmm_hc_config *cfg);

/**
 * vmm_hc_attach() - attach the hypercall doorbell to @vm.
 * @cfg: options (NULL = defaults).
 * @out: receives the handle used to register functions.
 *
 * Returns 0, -EINVAL (bad options), -EEXIST (the ports are taken, e.g.
 * hypercalls already enabled), -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_hc_attach(vmm_vm *vm,
					 const struct vmm_hc_config *cfg,
					 vmm_hc **out);

/**
 * vmm_hc_detach() - detach the doorbell and forget all functions.  When it
 * returns no host function of @hc runs or will run.  NULL is a no-op.
 */
VMM_API int vmm_hc_detach(vmm_hc *hc);

/**
 * struct vmm_hc_sig - the typed signature of a host function.
 * @nargs: number of 64-bit integer arguments (0..VMM_HC_MAX_ARGS).
 * @nbufs: number of guest buffers (0..VMM_HC_MAX_BUFS).
 * @bufs:  per buffer: direction (VMM_HC_DIR_*) and the largest length
 *         accepted (1..VMM_HC_MAX_BUF_LIMIT); a guest buffer longer than
 *         that is refused with -E2BIG.
 * @flags: VMM_HC_SIG_* bits.
 * The guest must pass exactly @nargs integers and @nbufs buffers, with the
 * same directions, else -EINVAL.
 */
struct vmm_hc_sig {
	uint8_t nargs;
	uint8_t nbufs;
	struct {
		uint16_t dir;
		uint32_t max_len;
	} bufs[VMM_HC_MAX_BUFS];
	uint32_t flags;
};

/** The function may not be called from inside a batch (-EPERM there). */
#define VMM_HC_SIG_NO_BATCH (1u << 0)

/**
 * struct vmm_hc_buf - one checked guest buffer, as a host function sees it.
 * @data: host copy of the buffer (IN/INOUT: filled from the guest; OUT:
 *        zeroed), @len bytes, valid only during the call.
 * @used: OUT/INOUT: bytes of @data to copy back to the guest (0..@len);
 *        the library sets it to 0 for OUT and to @len for INOUT before the
 *        call.  The guest sees it in its descriptor's used field.
 * @gpa:  where the buffer is in the guest (for messages only).
 */
struct vmm_hc_buf {
	void *data;
	uint32_t len;
	uint32_t used;
	uint16_t dir;
	vmm_gpa_t gpa;
};

/**
 * struct vmm_hc_call - one checked call, given to the host function.
 * @vcpu: the vCPU that rang the doorbell (NULL when the host called
 *        vmm_bus_access() on the doorbell port).
 * @in_batch: the call is an entry of a batch.
 * @stop, @stop_value: set @stop to make vmm_vcpu_run_loop() return after
 *        this doorbell completes (after the rest of a batch is cancelled):
 *        the exit is VMM_EXIT_GUEST_EXIT with guest.value = @stop_value and
 *        guest.status = VMM_HC_STOP_STATUS.  The call's result is written
 *        to the guest first, so the guest resumes after the doorbell.
 */
struct vmm_hc_call {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	uint32_t nr;
	bool in_batch;
	unsigned nargs;
	uint64_t args[VMM_HC_MAX_ARGS];
	unsigned nbufs;
	struct vmm_hc_buf bufs[VMM_HC_MAX_BUFS];
	bool stop;
	uint32_t stop_value;
};

/**
 * typedef vmm_hc_fn - a host function.  Returns its result (>= 0), which
 * the guest reads in the block's result field, or a negative errno
 * (-1 .. -4095), which the guest reads in the error field.  Runs on the
 * vCPU thread; may run concurrently on several vCPUs; must not register or
 * unregister functions of the same @hc.
 */
typedef int64_t (*vmm_hc_fn)(void *opaque, struct vmm_hc_call *call);

/**
 * vmm_hc_register() - make @fn callable as number @nr.
 * @nr:   VMM_HC_NR_FIRST_USER or above.
 * @name: 1..63 characters, unique on @hc (copied); the guest can find the
 *        number with VMM_HC_NR_LOOKUP.
 * @sig:  the signature (copied).
 *
 * Returns 0, -EINVAL (reserved number, bad name or signature), -EEXIST
 * (number or name taken), -ENOMEM.  Safe while vCPUs run.
 */
VMM_API VMM_MUST_CHECK int vmm_hc_register(vmm_hc *hc, uint32_t nr,
					   const char *name,
					   const struct vmm_hc_sig *sig,
					   vmm_hc_fn fn, void *opaque);

/**
 * vmm_hc_unregister() - remove function @nr; when it returns the function
 * is not running and will not be called again.  -ENOENT if none.
 */
VMM_API int vmm_hc_unregister(vmm_hc *hc, uint32_t nr);

/** vmm_hc_lookup() - the number registered as @name, or -ENOENT. */
VMM_API int64_t vmm_hc_lookup(vmm_hc *hc, const char *name);

/** Counters of one VM's hypercall device. */
struct vmm_hc_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t doorbells;     /**< doorbell writes (= exits taken) */
	uint64_t calls;         /**< calls executed, batch entries included */
	uint64_t batches;       /**< batch calls */
	uint64_t batch_entries; /**< entries executed inside batches */
	uint64_t exits_saved;   /**< calls that needed no exit of their own */
	uint64_t errors;        /**< calls that returned an error to the guest */
	uint64_t bad_doorbells; /**< doorbells whose block could not be used */
	uint64_t bytes_in;      /**< buffer bytes copied from the guest */
	uint64_t bytes_out;     /**< buffer bytes copied to the guest */
};

/**
 * vmm_hc_get_stats() - read the counters (they are never reset); set
 * @st->struct_size first.
 */
VMM_API int vmm_hc_get_stats(vmm_hc *hc, struct vmm_hc_stats *st);

#ifdef __cplusplus
}
#endif
#endif
