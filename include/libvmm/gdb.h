/* SPDX-License-Identifier: MIT */
/*
 * libvmm/gdb.h - a gdb remote-serial-protocol stub per VM.
 *
 * A stub (vmm_gdb) belongs to one VM.  vmm_gdb_serve() speaks the protocol
 * on a connected stream fd (the embedder owns listening; the helpers
 * below make the socket) and drives the VM's vCPUs itself: it runs them
 * when the debugger continues or steps and stops them at a breakpoint,
 * after a step, on Ctrl-C or on an exit, in gdb's all-stop mode (one gdb
 * thread per vCPU).  Everything the debugger sends is untrusted: packets
 * are bounded, hex is checked, memory goes through vmm_vcpu_translate()
 * and the checked guest-memory accessors, errors are answered "E NN".
 * See docs/debugging.md for the protocol subset, the registers and how
 * breakpoints work on each backend.
 */
#ifndef LIBVMM_GDB_H
#define LIBVMM_GDB_H

#include <libvmm/common.h>
#include <libvmm/vcpu.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque gdb stub handle, one per VM (see vmm_gdb_create()). */
typedef struct vmm_gdb vmm_gdb;

/**
 * struct vmm_gdb_config - options of vmm_gdb_create().
 * @struct_size: sizeof(struct vmm_gdb_config) as compiled; 0 = its
 *               LIBVMM_0.1 size (growable-struct rule, docs/api.md).
 * @exit_cb:     optional: called (on the thread that ran the vCPU) for each
 *               exit of vmm_vcpu_run_loop() the stub does not consume
 *               itself (it consumes its own breakpoint and step traps and
 *               the kicks it sent).  Return 0 to let the vCPU continue, a
 *               positive value to end the debugged "process" (gdb sees
 *               "exited with code value & 0xff" and the session ends), a
 *               negative errno to stop the vCPU and report a signal.
 *               Without a callback the stub maps exits itself (see
 *               docs/debugging.md).
 * @exit_opaque: passed to @exit_cb.
 * @max_packet:  largest packet accepted and announced (PacketSize);
 *               0 = 16 KiB, clamped to 256 .. 1 MiB.
 */
struct vmm_gdb_config {
	uint32_t struct_size;
	uint32_t max_packet;
	vmm_exit_cb exit_cb;
	void *exit_opaque;
};

/**
 * vmm_gdb_create() - create a stub for @vm (whose vCPUs must already exist
 * when vmm_gdb_serve() is called).  @cfg may be NULL for defaults.
 * Returns 0, -EINVAL, -ENOMEM.  The VM must not be started
 * (vmm_vm_start()) while a stub serves it: the stub runs the vCPUs.
 */
VMM_API VMM_MUST_CHECK int vmm_gdb_create(vmm_vm *vm,
				       const struct vmm_gdb_config *cfg,
				       vmm_gdb **out);

/**
 * vmm_gdb_destroy() - remove all breakpoints the stub inserted (restoring the
 * guest's bytes), turn single-stepping off and free the stub.  NULL is a
 * no-op.
 */
VMM_API void vmm_gdb_destroy(vmm_gdb *gdb);

/** Return values of vmm_gdb_serve() (non-negative). */
enum vmm_gdb_end {
	VMM_GDB_DETACHED = 0, /**< gdb detached ("D"); the VM may run on */
	VMM_GDB_KILLED = 1,   /**< gdb killed the target ("k", vKill) */
	VMM_GDB_CLOSED = 2,   /**< the connection closed */
	VMM_GDB_EXITED = 3,   /**< the guest ended (see vmm_gdb_exit_code()) */
};

/**
 * vmm_gdb_serve() - run one debugging session on the connected stream
 * @fd (a socket or pipe; not closed by the stub).  The vCPUs stay stopped
 * until the debugger resumes them.  Returns an enum vmm_gdb_end value or
 * a negative errno (I/O error on @fd, a vCPU that failed; the message is
 * in vmm_last_error()).  Breakpoints are removed before it returns.
 */
VMM_API int vmm_gdb_serve(vmm_gdb *gdb, int fd);

/**
 * vmm_gdb_exit_code() - after VMM_GDB_EXITED: the value reported to gdb
 * (the guest's debug-exit status, or @exit_cb's return value).
 */
VMM_API int vmm_gdb_exit_code(const vmm_gdb *gdb);

/**
 * vmm_gdb_stats - what a session did (for tests and tools).
 */
struct vmm_gdb_stats {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint64_t packets;      /**< valid packets received */
	uint64_t bad_checksum; /**< packets NAKed for a bad checksum */
	uint64_t errors;       /**< commands answered with E NN */
	uint64_t stops;        /**< stop replies sent */
	uint64_t bp_hits;      /**< software breakpoint hits */
	uint64_t steps;        /**< single steps completed */
};

/**
 * vmm_gdb_get_stats() - copy the stub's counters into @st (set
 * @st->struct_size first; docs/api.md, "Growable structs").
 */
VMM_API int vmm_gdb_get_stats(const vmm_gdb *gdb, struct vmm_gdb_stats *st);

/**
 * vmm_gdb_listen_tcp() - a listening TCP socket on @host (NULL =
 * 127.0.0.1) : @port (0 = any free port; see vmm_gdb_local_port()).
 * Returns the fd (close-on-exec) or a negative errno.
 */
VMM_API int vmm_gdb_listen_tcp(const char *host, uint16_t port);

/**
 * vmm_gdb_listen_unix() - a listening unix stream socket at @path (an
 * existing socket file there is replaced).  Returns the fd or -errno;
 * -ENAMETOOLONG if @path does not fit sockaddr_un.
 */
VMM_API int vmm_gdb_listen_unix(const char *path);

/** vmm_gdb_local_port() - the TCP port a listening socket is bound to. */
VMM_API int vmm_gdb_local_port(int fd);

/**
 * vmm_gdb_accept() - wait for one connection on @listen_fd (TCP_NODELAY
 * set on TCP).  @timeout_ms < 0 waits forever.  Returns the connected fd,
 * -ETIMEDOUT, or -errno.
 */
VMM_API int vmm_gdb_accept(int listen_fd, int timeout_ms);

/**
 * vmm_vcpu_set_sw_breakpoints() is declared in <libvmm/vcpu.h>: the
 * stub turns it on so that an int3 it planted exits to it as
 * VMM_EXIT_DEBUG instead of entering the guest's #BP handler.
 */

#ifdef __cplusplus
}
#endif
#endif
