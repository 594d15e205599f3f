/* SPDX-License-Identifier: MIT */
/*
 * libvmm/common.h - basic types, export macro, errors and versioning.
 *
 * Every libvmm call returns 0 (or a non-negative count) on success and a
 * negative errno on failure.  The library never prints and never uses the
 * global errno as its error channel; a human-readable message for the last
 * failure on a VM is available from vmm_last_error() and, if installed, is
 * also passed to the VM's log callback.
 */
#ifndef LIBVMM_COMMON_H
#define LIBVMM_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include <libvmm/version.h>

/*
 * VMM_API marks a public call.  It means the same in the library and in a
 * program (default visibility), so whether a function is exported never
 * depends on which header a library source includes first; the library is
 * compiled with -fvisibility=hidden and src/libvmm.map lists every call.
 */
#define VMM_API __attribute__((visibility("default")))

#define VMM_MUST_CHECK __attribute__((warn_unused_result))

/** A guest-physical address.  Never a host pointer. */
typedef uint64_t vmm_gpa_t;
/** A guest-virtual (linear) address, translated by the guest's page tables. */
typedef uint64_t vmm_gva_t;

/** Opaque VM handle.  Everything the library keeps hangs off it. */
typedef struct vmm_vm vmm_vm;
/** Opaque vCPU handle, owned by its VM. */
typedef struct vmm_vcpu vmm_vcpu;
/** Opaque handle of a device attached to a VM. */
typedef struct vmm_dev vmm_dev;

/**
 * vmm_version() - run-time library version.
 *
 * Returns LIBVMM_VERSION_NUMBER of the library actually loaded, so a program
 * can compare it with the headers it was compiled against.
 */
VMM_API unsigned vmm_version(void);

/** vmm_version_string() - "major.minor.patch" of the loaded library. */
VMM_API const char *vmm_version_string(void);

/**
 * vmm_check_version() - is the loaded library at least @major.@minor.@micro?
 *
 * The run-time twin of LIBVMM_CHECK_VERSION(): a program built against
 * newer headers than the library it runs with can refuse to start, e.g.
 * `if (!vmm_check_version(LIBVMM_VERSION_MAJOR, LIBVMM_VERSION_MINOR,
 * LIBVMM_VERSION_PATCH))`.  Returns false if the major versions differ
 * (a 0.x minor is a major for ABI purposes: 0.1 and 0.2 are incompatible).
 */
VMM_API bool vmm_check_version(unsigned major, unsigned minor, unsigned micro);

/**
 * vmm_strerror() - describe a libvmm return code.
 * @err: a return code (negative errno) from any libvmm call.
 *
 * Returns a static string; never NULL.  Unlike strerror(3) it is thread-safe
 * and describes libvmm-specific meanings where they differ.
 */
VMM_API const char *vmm_strerror(int err);

/**
 * vmm_err_name() - the symbolic name of a return code, e.g. "EFAULT".
 */
VMM_API const char *vmm_err_name(int err);

/** Log levels passed to the log callback. */
enum vmm_log_level {
	VMM_LOG_ERROR = 0,
	VMM_LOG_WARN = 1,
	VMM_LOG_INFO = 2,
	VMM_LOG_DEBUG = 3,
};

/**
 * typedef vmm_log_fn - per-VM log callback.
 * @opaque: the pointer given in the VM configuration.
 * @level:  one of enum vmm_log_level.
 * @msg:    a NUL-terminated message without trailing newline.
 *
 * Called synchronously from whichever thread produced the message (vCPU
 * threads included); it must be thread-safe and must not call back into the
 * VM that logs.
 */
typedef void (*vmm_log_fn)(void *opaque, int level, const char *msg);

/**
 * struct vmm_allocator - an injectable allocator.
 *
 * Every allocation the library makes for a VM goes through it, so tests can
 * fail the Nth allocation.  @alloc must return zeroed memory or NULL.
 * Guest RAM is not allocated through it (it is mmap()ed).
 */
struct vmm_allocator {
	void *(*alloc)(void *opaque, size_t size);
	void (*free)(void *opaque, void *ptr);
	void *opaque;
};

#ifdef __cplusplus
}
#endif
#endif
