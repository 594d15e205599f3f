/* SPDX-License-Identifier: MIT */
/*
 * hc_impl.h - internals of src/hypercall shared with its unit tests.
 * Not part of the public API.
 */
#ifndef LIBVMM_HC_IMPL_H
#define LIBVMM_HC_IMPL_H

#include "core/internal.h"
#include <libvmm/hypercall.h>
#include <libvmm/seccomp.h>

/*
 * vmm__hc_check_bufs() - check the buffer descriptors of call block @b
 * (at @blk_gpa) against signature @sig: reserved fields zero, directions as
 * registered, lengths within the maxima, no address wrap-around, all in
 * RAM, no buffer the host writes overlapping another buffer or the block.
 * Returns 0 or the negative errno the guest gets (-EINVAL, -E2BIG,
 * -EOVERFLOW, -EFAULT).  The counts must have been checked already.
 */
int vmm__hc_check_bufs(vmm_vm *vm, const struct vmm_hc_sig *sig,
		       const struct vmm_hc_block *b, vmm_gpa_t blk_gpa);

#endif
