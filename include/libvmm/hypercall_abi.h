/* SPDX-License-Identifier: MIT */
/*
 * libvmm/hypercall_abi.h - the guest-visible hypercall ABI, version 1.
 *
 * This header is shared by the host library and by guests: it depends on
 * <stdint.h> only, so a freestanding guest includes it as is.  The prose
 * specification (for guests in any language) is docs/hypercall-abi.md.
 *
 * A guest issues a call by building a call block (struct vmm_hc_block) in
 * its RAM and writing the block's 32-bit guest-physical address with a
 * 32-bit OUT to the doorbell port.  When the OUT instruction completes, the
 * host has executed the call and written result, error and the buffers'
 * used counts into the block.  No register other than the OUT operand is
 * read or written, so the same sequence works from CPL3 (with IOPL=3 or an
 * I/O permission bitmap), on every backend.  A 32-bit IN from the port
 * returns the status of the calling vCPU's last doorbell: 0 when the block
 * was processed (the outcome is in the block), or a negative errno when
 * the block could not even be read (then nothing was written).
 *
 * All fields are little endian.  Layout is fixed; offsets are in comments.
 */
#ifndef LIBVMM_HYPERCALL_ABI_H
#define LIBVMM_HYPERCALL_ABI_H

#include <stdint.h>

/** Default doorbell port (4 ports wide, 32-bit accesses only). */
#define VMM_HC_PORT_DEFAULT 0x0560u

/** struct vmm_hc_block.magic: the bytes "LHVC". */
#define VMM_HC_MAGIC 0x4356484cu
/** The ABI version this header describes. */
#define VMM_HC_VERSION 1u

#define VMM_HC_MAX_ARGS 6
#define VMM_HC_MAX_BUFS 4

/**
 * Value a guest stores in struct vmm_hc_block.error before ringing the
 * doorbell.  The host only ever writes 0 or a negative errno there, so a
 * block still holding VMM_HC_PENDING afterwards was not processed (no
 * libvmm behind the port, or the block could not be read: IN from the
 * doorbell port says why).
 */
#define VMM_HC_PENDING 1

/* Buffer directions (struct vmm_hc_desc.dir), from the host's view. */
#define VMM_HC_DIR_IN 1u    /**< guest -> host: the host reads it */
#define VMM_HC_DIR_OUT 2u   /**< host -> guest: the host writes it */
#define VMM_HC_DIR_INOUT 3u /**< both */

/* Call block flags (struct vmm_hc_block.flags). */
/** Batch only: stop at the first entry that fails; the rest get -ECANCELED. */
#define VMM_HC_F_STOP_ON_ERROR (1u << 0)
#define VMM_HC_F_ALL (VMM_HC_F_STOP_ON_ERROR)

/*
 * Call numbers.  0x0000-0x00ff are the library's; embedders register their
 * functions from VMM_HC_NR_FIRST_USER on.
 */
/**
 * VMM_HC_NR_VERSION - version and feature query.  No arguments, no buffers.
 * result = VMM_HC_VERSION; the host writes args[0] = VMM_HC_FEAT_* bits,
 * args[1] = the largest batch accepted, args[2] = the largest buffer any
 * registered function accepts, args[3] = the number of registered
 * functions, args[4] = the doorbell port.
 */
#define VMM_HC_NR_VERSION 0u
/**
 * VMM_HC_NR_BATCH - run a list of call blocks with one doorbell.
 * nargs = 1: args[0] = number of entries N.
 * nbufs = 1: bufs[0] = INOUT, gpa = the first entry, len = N * 176 (the
 * entries are consecutive struct vmm_hc_block).  Each entry gets its own
 * result/error; result of the batch block = entries executed.
 * A batch entry may not itself be a batch (-EINVAL in that entry).
 */
#define VMM_HC_NR_BATCH 1u
/**
 * VMM_HC_NR_LOOKUP - the number of a function registered by name.
 * nbufs = 1: bufs[0] = IN, the name (1..63 bytes, no NUL needed).
 * result = the call number; error -ENOENT if no function has that name.
 */
#define VMM_HC_NR_LOOKUP 2u
#define VMM_HC_NR_FIRST_USER 0x100u

/* Feature bits returned by VMM_HC_NR_VERSION in args[0]. */
#define VMM_HC_FEAT_BATCH (1u << 0)
#define VMM_HC_FEAT_LOOKUP (1u << 1)
#define VMM_HC_FEAT_STATUS_PORT (1u << 2)

/** A guest buffer: 24 bytes. */
struct vmm_hc_desc {
	uint64_t gpa;       /*  0: guest-physical address */
	uint32_t len;       /*  8: bytes the guest provides */
	uint16_t dir;       /* 12: VMM_HC_DIR_* */
	uint16_t reserved;  /* 14: must be 0 */
	uint32_t used;      /* 16: out: bytes the host wrote (OUT/INOUT) */
	uint32_t reserved2; /* 20: must be 0 */
};

/** A call block: 176 bytes, 8-byte aligned, below 4 GiB. */
struct vmm_hc_block {
	uint32_t magic;     /*  0: VMM_HC_MAGIC */
	uint16_t version;   /*  4: VMM_HC_VERSION */
	uint16_t size;      /*  6: sizeof(struct vmm_hc_block) = 176 */
	uint32_t nr;        /*  8: call number */
	uint32_t flags;     /* 12: VMM_HC_F_* */
	int64_t result;     /* 16: out: the function's result (error == 0) */
	int32_t error;      /* 24: out: 0 or a negative errno */
	uint16_t nargs;     /* 28: integer arguments used, 0..6 */
	uint16_t nbufs;     /* 30: buffer descriptors used, 0..4 */
	uint64_t args[VMM_HC_MAX_ARGS];            /* 32 */
	struct vmm_hc_desc bufs[VMM_HC_MAX_BUFS];  /* 80 */
};

/* The first 32 bytes (magic .. nbufs) keep this layout in every version. */
#define VMM_HC_HEADER_SIZE 32u
#define VMM_HC_BLOCK_SIZE 176u
#define VMM_HC_OFF_RESULT 16u
#define VMM_HC_OFF_ERROR 24u
#define VMM_HC_OFF_ARGS 32u
#define VMM_HC_OFF_BUFS 80u
#define VMM_HC_OFF_DESC_USED 16u

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct vmm_hc_desc) == 24, "hypercall ABI: desc size");
_Static_assert(sizeof(struct vmm_hc_block) == VMM_HC_BLOCK_SIZE,
	       "hypercall ABI: block size");
#endif

#endif
