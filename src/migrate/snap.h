/* SPDX-License-Identifier: MIT */
/*
 * snap.h - internals of src/migrate: the snapshot format constants (see
 * docs/snapshot-format.md), the section codecs shared by snapshots and the
 * migration stream, the output abstraction (with which tests inject short
 * writes and ENOSPC), and the parser, a pure function over a byte buffer
 * (what the fuzzer and the corruption tests drive).
 *
 * src/migrate sees the public API, core/internal.h and core/statebuf.h,
 * never a backend or vm_impl.h.
 */
#ifndef LIBVMM_MIGRATE_SNAP_H
#define LIBVMM_MIGRATE_SNAP_H

#include "core/internal.h"
#include "core/statebuf.h"

#define SNAP_MAGIC "LVMMSNAP"
/* 2: adds the ZSTD memory encoding.  The writer puts 2 in the header only
 * when a region uses it (so a file without compression stays readable by
 * a format-1 libvmm); the reader takes both. */
#define SNAP_FORMAT_VERSION 2
#define SNAP_FORMAT_ZSTD 2
#define SNAP_HEADER_SIZE 64
#define SNAP_ARCH_X86_64 1
#define SNAP_HF_RAW (1u << 0)      /* header flags: all memory RAW */

#define SEC_HDR_SIZE 32
#define SEC_FTR_SIZE 8
#define SEC_FTR_MAGIC 0x444e4553u  /* "SEND" */
#define SEC_F_MANDATORY 1u

enum snap_section {
	SEC_CONFIG = 1,
	SEC_MEMORY = 2,
	SEC_VCPU = 3,
	SEC_DEVICE = 4,
	SEC_IRQCHIP = 5,
	SEC_VCPUX = 6,     /* optional: struct vmm_cpu_xstate of one vCPU */
	SEC_END = 0xffff,
};

/* versions of each section's payload layout this libvmm reads and writes */
#define SEC_CONFIG_VERSION 1
#define SEC_MEMORY_VERSION 1
#define SEC_VCPU_VERSION 1
#define SEC_DEVICE_VERSION 1
#define SEC_IRQCHIP_VERSION 1
#define SEC_VCPUX_VERSION 1
#define SEC_VCPUX_SIZE 20
#define SEC_END_VERSION 1

#define MEM_ENC_PACKED 0
#define MEM_ENC_RAW 1
#define MEM_ENC_ZSTD 2         /* format 2: PACKED pages in zstd chunks */
#define SNAP_ZCHUNK_PAGES 64   /* stored pages per zstd chunk (the last: fewer) */
#define MEM_HDR_SIZE 48

/* limits: anything beyond is refused as absurd (-EFBIG) */
#define SNAP_MAX_MEM (1ull << 40)          /* 1 TiB of guest memory */
#define SNAP_MAX_REGIONS 64
#define SNAP_MAX_DEVICES 256
#define SNAP_MAX_SMALL (16u << 20)         /* non-memory section payload */
#define SNAP_PAGE 4096ull

static inline void vmm__le_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void vmm__le_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t vmm__le_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t vmm__le_get64(const uint8_t *p)
{
	return (uint64_t)vmm__le_get32(p) | (uint64_t)vmm__le_get32(p + 4) << 32;
}

/* ---- codecs (codec.c) ---- */

void vmm__snap_put_cpu(struct vmm_sbuf *b, unsigned index,
		       const struct vmm_cpu_state *st);
/* 0 or -EBADMSG/-ENOTSUP with @err filled */
int vmm__snap_get_cpu(const void *p, size_t len, unsigned *index,
		      struct vmm_cpu_state *st, char *err, size_t errlen);
/*
 * VCPUX payload (docs/snapshot-format.md): index, valid, pkru, pkrs.
 * Written only for a vCPU whose extended state differs from its reset
 * value, so that a snapshot or migration stream of a vCPU that never used
 * it is the same as before the section existed.
 */
bool vmm__snap_xstate_used(const struct vmm_cpu_xstate *xs);
void vmm__snap_put_xstate(struct vmm_sbuf *b, unsigned index,
			  const struct vmm_cpu_xstate *xs);
int vmm__snap_get_xstate(const void *p, size_t len, unsigned *index,
			 struct vmm_cpu_xstate *xs, char *err, size_t errlen);
void vmm__snap_put_irqchip(struct vmm_sbuf *b,
			   const struct vmm_irqchip_state *st);
int vmm__snap_get_irqchip(const void *p, size_t len,
			  struct vmm_irqchip_state *st, char *err,
			  size_t errlen);

struct snap_region {
	uint64_t gpa, size;
	uint32_t flags;             /* VMM_MEM_READONLY */
	/* from the MEMORY section */
	bool seen;
	uint32_t enc;
	uint64_t pages, nonzero;
	const uint8_t *bitmap;      /* (pages+63)/64 little-endian words */
	const uint8_t *data;        /* first stored page */
	uint64_t data_off;          /* its offset in the file */
	uint64_t *rank;             /* PACKED, ZSTD: stored pages before word i */
	/* ZSTD: chunk c is data[zoff[c] .. zoff[c+1]) */
	uint64_t nchunks;
	uint64_t *zoff;
};

struct snap_config {
	uint32_t ncpus;
	uint32_t vm_flags;
	uint32_t backend;
	uint64_t caps;
	uint32_t nregions;
	struct snap_region regions[SNAP_MAX_REGIONS];
	/* enum vmm_cpu_model the VM ran (never DEFAULT when written: the
	 * model it stands for); 0 in snapshots that predate the field */
	uint32_t cpu_model;
};

void vmm__snap_put_config(struct vmm_sbuf *b, const struct snap_config *c);
int vmm__snap_get_config(const void *p, size_t len, struct snap_config *c,
			 char *err, size_t errlen);

struct snap_dev {
	char type[24];
	uint8_t space;
	uint64_t base;
	uint32_t version;
	const uint8_t *data;
	size_t len;
};

/* DEVICE payload of @dev with its saved state in @state */
void vmm__snap_put_device(struct vmm_sbuf *b, const vmm_dev *dev,
			  const struct vmm_sbuf *state);
int vmm__snap_get_device(const uint8_t *p, size_t len, struct snap_dev *d,
			 char *err, size_t errlen);

/* "uart@pio:0x3f8" */
void vmm__snap_dev_id(char *buf, size_t len, const char *type,
		      unsigned space, uint64_t base);

/* ---- the parsed snapshot ---- */

struct snap_parsed {
	uint32_t format_version, lib_version, hflags, backend;
	struct snap_config cfg;
	uint32_t nvcpus;
	struct vmm_cpu_state *cpu;  /* [cfg.ncpus], valid where has_cpu */
	bool has_cpu[VMM_MAX_VCPUS];
	struct vmm_cpu_xstate xs[VMM_MAX_VCPUS];
	bool has_xs[VMM_MAX_VCPUS];
	bool has_irqchip;
	struct vmm_irqchip_state irq;
	uint32_t ndevs;
	struct snap_dev devs[SNAP_MAX_DEVICES];
	uint64_t file_bytes;
};

/*
 * vmm__snap_parse() - validate the snapshot in @buf (@len bytes) and
 * describe it in @p (pointers into @buf).  Every checksum is verified.
 * Returns 0 or a negative errno with the reason in @err.  Free with
 * vmm__snap_parsed_free().
 */
int vmm__snap_parse(const uint8_t *buf, size_t len, struct snap_parsed *p,
		    char *err, size_t errlen);
void vmm__snap_parsed_free(struct snap_parsed *p);

/* ---- output ---- */

/*
 * struct snap_out - where a snapshot goes.  @write must write everything
 * or fail with a negative errno; @skip (optional) advances by @len bytes
 * that read back as zeros (a hole in a seekable file).
 */
struct snap_out {
	int (*write)(void *opaque, const void *buf, size_t len);
	int (*skip)(void *opaque, uint64_t len);
	void *opaque;
	uint64_t pos;               /* bytes produced so far */
};

/* Write a snapshot of paused @vm to @out.  @flags: VMM_SAVE_*. */
int vmm__snapshot_write(vmm_vm *vm, struct snap_out *out, uint32_t flags);

/* ---- helpers shared with migrate.c ---- */

/* Is the 4 KiB page at @p all zeros? */
bool vmm__page_is_zero(const uint8_t *p);

/*
 * Collect what a snapshot/migration needs from a paused VM: the config,
 * vCPU states, irqchip state and device states.  -EOPNOTSUPP naming a
 * device without state ops.
 */
struct snap_state {
	struct snap_config cfg;
	unsigned nvcpus;
	unsigned vcpu_index[VMM_MAX_VCPUS];
	struct vmm_cpu_state *cpu;      /* [nvcpus] */
	struct vmm_cpu_xstate xs[VMM_MAX_VCPUS]; /* [nvcpus] */
	bool has_irqchip;
	struct vmm_irqchip_state irq;
	int ndevs;
	vmm_dev *devs[SNAP_MAX_DEVICES];
	struct vmm_sbuf dev_state[SNAP_MAX_DEVICES];
};

int vmm__snap_collect(vmm_vm *vm, struct snap_state *s);
/* Only the configuration and memory layout. */
int vmm__snap_config(vmm_vm *vm, struct snap_config *c);
void vmm__snap_state_free(vmm_vm *vm, struct snap_state *s);

/*
 * Load vCPU, irqchip and device state into @vm (which has the memory
 * already): creates missing vCPUs when @create, then calls @attach (if
 * set), then loads device state.  Devices are matched by type, space and
 * base.
 */
int vmm__snap_load_state(vmm_vm *vm, const struct snap_parsed *p, bool create,
			 bool skip_devices, int (*attach)(void *, vmm_vm *),
			 void *opaque);

/*
 * vmm_migrate_receive_into(): can @p's vCPU, irqchip and device state be
 * loaded into @vm exactly (every vCPU of the VM in @p, those of @p the
 * VM lacks creatable; every device of @p matched by type and place to a
 * distinct device of the VM with a state version it knows, and every
 * device of the VM with state in @p)?  0, or -EINVAL/-ENODEV/-ENOTSUP
 * with the reason in @err.  Changes nothing.
 */
int vmm__snap_check_into(vmm_vm *vm, const struct snap_parsed *p,
			 char *err, size_t errlen);

/*
 * Add @p's memory regions to @vm and fill them: copied, or mapped
 * copy-on-write from @cow_fd (>= 0; RAW layout only).
 */
int vmm__snap_restore_mem(vmm_vm *vm, const struct snap_parsed *p, int cow_fd);

/* Create the VM described by @c (memory regions not added). */
int vmm__snap_create_vm(const struct snap_config *c,
			const struct vmm_config *overrides, vmm_vm **out,
			char *err, size_t errlen);

/* printf into an error buffer (may be NULL) */
int vmm__snap_errf(char *err, size_t len, int ret, const char *fmt, ...)
	VMM_PRINTF(4, 5);

#endif
