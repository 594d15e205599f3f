/* SPDX-License-Identifier: MIT */
/*
 * libvmm/snapshot.h - pausing a VM, snapshots (save, restore, copy-on-write
 * restore, reset to a snapshot) and live pre-copy migration over a stream.
 *
 * A snapshot holds the VM configuration and memory layout, guest memory,
 * every vCPU's struct vmm_cpu_state, each device's own versioned state and
 * the interrupt controllers' state, in a backend-neutral format (see
 * docs/snapshot-format.md): a snapshot taken on one backend restores on the
 * other.  Every byte read from a file or a socket is validated; a corrupt,
 * truncated, newer or absurd snapshot is refused with a negative errno and
 * a message before any VM is created.
 *
 * Devices: the snapshot carries their state, not the devices themselves
 * (their fds and callbacks belong to the embedder).  On restore the
 * embedder attaches the same devices in struct vmm_restore_opts.attach
 * (called on the new VM before any device state is loaded); each saved
 * device is matched by type and base address, e.g. "uart" at port 0x3f8.
 * A device attached without snapshot support (a passthrough device) makes
 * saving fail with -EOPNOTSUPP naming it.
 */
#ifndef LIBVMM_SNAPSHOT_H
#define LIBVMM_SNAPSHOT_H

#include <libvmm/common.h>
#include <libvmm/vm.h>

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- pausing ---- */

/**
 * vmm_vm_pause() - stop the vCPU threads of vmm_vm_start() at an
 * instruction boundary, with any port-I/O or MMIO exit completed, and keep
 * them parked until vmm_vm_resume().  Returns when all are parked.  Pauses
 * nest.  For vCPUs the embedder runs itself it only counts: do not run them
 * while paused.  -EDEADLK on a vCPU thread.
 */
VMM_API int vmm_vm_pause(vmm_vm *vm);

/** vmm_vm_resume() - undo one vmm_vm_pause().  -EINVAL if not paused. */
VMM_API int vmm_vm_resume(vmm_vm *vm);

/* ---- saving ---- */

/* struct vmm_save_opts.flags */
/**
 * Memory layout: PACKED stores only non-zero pages back to back (smallest
 * stream); RAW stores each region whole and page-aligned in the file (zero
 * pages as holes of a sparse file when the output is seekable), which is
 * what copy-on-write restore maps.  Default: RAW for a path or a seekable
 * fd, PACKED for a pipe or socket.
 */
#define VMM_SAVE_PACKED (1u << 0)
#define VMM_SAVE_RAW (1u << 1)
/** Do not call fsync (tests, throw-away snapshots). */
#define VMM_SAVE_NO_SYNC (1u << 2)
/**
 * Compress memory with zstd: the PACKED layout (non-zero pages only) in
 * zstd frames of 64 pages each (snapshot format 2).  Restore decompresses
 * (no copy-on-write restore of such a file).  -ENOTSUP if libvmm was built
 * without zstd.
 */
#define VMM_SAVE_ZSTD (1u << 3)

struct vmm_save_opts {
	uint32_t struct_size; /**< sizeof(); 0 = 0.1 size (docs/api.md) */
	uint32_t flags;       /**< VMM_SAVE_* */
};

/**
 * vmm_snapshot_save() - write a snapshot of @vm to @path atomically: a
 * temporary file in the same directory is written, fsync()ed and renamed,
 * then the directory is fsync()ed.  A failure (ENOSPC, I/O error, crash)
 * never leaves a file at @path that looks valid; the previous file at
 * @path, if any, stays.  The VM must be paused (vmm_vm_pause()) or not
 * started; it stays as it is.  @opts may be NULL.
 *
 * Returns 0, -EBUSY if the VM runs, -EOPNOTSUPP if a device cannot save its
 * state (the message names it), -ENOTSUP if the backend cannot export the
 * interrupt controllers, or the error of the file system.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_save(vmm_vm *vm, const char *path,
					     const struct vmm_save_opts *opts);

/**
 * vmm_snapshot_save_fd() - the same to an open fd (file, pipe, socket),
 * written sequentially from its current position; a regular file is
 * truncated there first and, on failure, again (so no partial snapshot
 * stays in it).  Restoring with copy-on-write needs the snapshot at offset
 * 0 of a file.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_save_fd(vmm_vm *vm, int fd,
						const struct vmm_save_opts *opts);

/* ---- opening and restoring ---- */

/** An opened, fully validated snapshot (file mapped read-only). */
typedef struct vmm_snapshot vmm_snapshot;

/**
 * vmm_snapshot_open() - open and validate the snapshot at @path: header,
 * every section's checksum (guest memory included), sizes and cross
 * references.  Nothing is created.  On failure @errbuf (if not NULL)
 * receives the reason.  Returns 0, -EBADMSG (corrupt, truncated),
 * -ENOTSUP (newer format or unknown mandatory section), -EFBIG (sizes
 * beyond the limits), or the error of open/mmap.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_open(const char *path,
					     vmm_snapshot **out, char *errbuf,
					     size_t errlen);

/**
 * vmm_snapshot_open_fd() - the same from an fd: a regular file is used from
 * offset 0 (and may be mapped copy-on-write); a pipe or socket is read to
 * its end into an anonymous memory file first.  @fd stays the caller's.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_open_fd(int fd, vmm_snapshot **out,
						char *errbuf, size_t errlen);

/** vmm_snapshot_close() - release a snapshot (NULL is a no-op). */
VMM_API void vmm_snapshot_close(vmm_snapshot *snap);

/** What a snapshot holds, from vmm_snapshot_get_info(). */
struct vmm_snapshot_info {
	uint32_t struct_size; /**< in: sizeof() (0 = 0.2 size); out: written */
	uint32_t format_version;
	uint32_t lib_version;      /**< LIBVMM_VERSION_NUMBER of the writer */
	enum vmm_backend backend;  /**< backend it was taken on */
	uint32_t ncpus;
	uint32_t regions;
	uint32_t devices;
	bool raw_memory;           /**< every region in the RAW layout */
	bool irqchip;              /**< carries interrupt controller state */
	uint64_t ram_bytes;        /**< guest memory size */
	uint64_t stored_pages;     /**< non-zero pages stored */
	uint64_t file_bytes;
};

/** vmm_snapshot_get_info() - set @info->struct_size first. */
VMM_API int vmm_snapshot_get_info(const vmm_snapshot *snap,
			      struct vmm_snapshot_info *info);

/* struct vmm_restore_opts.flags */
/**
 * Map guest memory copy-on-write from the snapshot file (MAP_PRIVATE)
 * instead of copying it: restore costs page-table work only and pages are
 * read when touched.  Needs every region in the RAW layout; the file must
 * not change while VMs restored from it live.
 */
#define VMM_RESTORE_COW (1u << 0)
/**
 * Start dirty logging right after memory is loaded, so that
 * vmm_snapshot_reset() costs what the guest dirtied since.
 */
#define VMM_RESTORE_TRACK_DIRTY (1u << 1)
/** Restore without the saved devices' state (ignore DEVICE sections). */
#define VMM_RESTORE_SKIP_DEVICES (1u << 2)
/**
 * Ignore the saved interrupt controller state: the new VM's controllers
 * start from reset.  For guests that do not use interrupts, or to restore
 * on a backend that cannot load that state; pending interrupts and
 * PIC/IOAPIC/PIT programming are lost.  (Both built-in backends load it,
 * also from a snapshot of the other one.)
 */
#define VMM_RESTORE_DROP_IRQCHIP (1u << 3)

struct vmm_restore_opts {
	uint32_t struct_size; /**< sizeof(); 0 = 0.1 size (docs/api.md) */
	uint32_t flags;       /**< VMM_RESTORE_* */
	/**
	 * Called on the new VM after memory and vCPUs exist and before device
	 * state is loaded: attach the devices the VM had (same types and
	 * addresses).  Return 0 or a negative errno (the restore then fails).
	 */
	int (*attach)(void *opaque, vmm_vm *vm);
	void *opaque;
};

/**
 * vmm_snapshot_restore_snap() - create a new VM from @snap.
 * @overrides: where the new VM may differ from the saved one: backend, log
 *             callback, allocator, CPUID filter (NULL = the saved backend,
 *             no log).  ncpus, flags and memory come from the snapshot.
 * @opts:      may be NULL (no devices attached: a snapshot with device
 *             state then fails with -ENODEV naming the device, unless
 *             VMM_RESTORE_SKIP_DEVICES).
 *
 * The VM is returned with its vCPUs created and loaded and not running:
 * vmm_vm_start() or vmm_vcpu_run() it.  On failure nothing is left.
 */
VMM_API VMM_MUST_CHECK int
vmm_snapshot_restore_snap(vmm_snapshot *snap,
			  const struct vmm_config *overrides,
			  const struct vmm_restore_opts *opts, vmm_vm **out);

/**
 * vmm_snapshot_restore() - open @path, restore it into a new VM (by copy,
 * no devices attached), close it.  Messages of a failure before the VM
 * exists go to @overrides->log.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_restore(const char *path,
						const struct vmm_config *overrides,
						vmm_vm **out);

/** vmm_snapshot_restore_fd() - the same from an fd. */
VMM_API VMM_MUST_CHECK int vmm_snapshot_restore_fd(int fd,
						   const struct vmm_config *overrides,
						   vmm_vm **out);

/**
 * vmm_snapshot_reset() - put a paused (or not started) @vm back to the state
 * in @snap: memory, vCPUs, devices, interrupt controllers.  With dirty
 * logging on (VMM_RESTORE_TRACK_DIRTY, or vmm_mem_dirty_log()) only the
 * pages written since the snapshot or the last reset are copied back, so
 * the cost follows what the guest dirtied, not its memory size; without it
 * every page is rewritten.  @vm must have the snapshot's memory layout and
 * vCPUs.  Devices are matched as on restore.  A VM a failed
 * vmm_migrate_receive_into() left poisoned is whole again after it
 * (the pages the receive wrote are in the dirty log when logging is on;
 * without it every page is rewritten).  Returns the number of pages
 * restored, or a negative errno.
 */
VMM_API VMM_MUST_CHECK int vmm_snapshot_reset(vmm_vm *vm, vmm_snapshot *snap);

/* ---- live migration (pre-copy, post-copy; docs/migration.md) ---- */

/* vmm_migrate_opts.flags (bits 0-15 belong to the stream encoding and
 * authentication: VMM_MIGRATE_ZSTD is bit 8) */
/** source: switch to post-copy when pre-copy does not converge (after
 * postcopy_after_rounds rounds); destination: accept a post-copy switch
 * (the embedder then runs the VM before all memory arrived and waits for
 * the rest with vmm_migrate_wait()) */
#define VMM_MIGRATE_POSTCOPY (1u << 16)
/** source: throttle the vCPUs (run 2 ms, then pause them a growing share
 * of the time) while a round's dirty pages exceed half of what it sent */
#define VMM_MIGRATE_AUTO_CONVERGE (1u << 17)

struct vmm_migrate_opts {
	uint32_t struct_size;    /**< sizeof(); 0 = 0.1 size (docs/api.md) */
	uint32_t max_rounds;     /**< dirty-page rounds before stop-and-copy (0 = 30) */
	uint32_t max_downtime_ms; /**< stop when the rest fits in this (0 = 300) */
	uint32_t timeout_ms;     /**< one stalled read/write fails the migration (0 = 10000) */
	/** bandwidth cap in bytes per second (0 = none) */
	uint64_t max_bandwidth;
	/* ---- since 0.2 (read only when struct_size covers them: set
	 * struct_size = sizeof): compression and authentication ---- */
	uint32_t flags;          /**< VMM_MIGRATE_* */
	/** length of @key in bytes (16..4096) */
	uint32_t key_len;
	/**
	 * A pre-shared key (NULL = no authentication).  Both ends must have
	 * the same key: the two prove it to each other with fresh nonces
	 * before anything else is sent, and every later frame carries an
	 * HMAC-SHA256 (with its sequence number) under a session key, so a
	 * forged, replayed or reordered frame fails the migration (the
	 * source VM keeps running).  A receiver with a key refuses a source
	 * without one and vice versa (-EACCES); different keys: -EACCES with
	 * "the keys differ".  -ENOTSUP when no HMAC-SHA256 is available
	 * (the kernel's AF_ALG, else libcrypto if libvmm was built with it).
	 */
	const void *key;
	/* ---- since 0.2: convergence and post-copy ---- */
	/** with VMM_MIGRATE_POSTCOPY: dirty rounds that did not converge
	 * before the switch to post-copy (0 = 2; UINT32_MAX = never by
	 * itself, only on vmm_migrate_start_postcopy()) */
	uint32_t postcopy_after_rounds;
	/** auto-converge: first throttle, step per round, ceiling, in percent
	 * of vCPU time taken away (0 = 20, 10, 99) */
	uint32_t throttle_initial_pct;
	uint32_t throttle_step_pct;
	uint32_t throttle_max_pct;
	uint32_t reserved;       /**< 0 */
};

/**
 * vmm_migrate_opts.flags: compress batches of pages with zstd (source;
 * used when the destination's libvmm can decode them, plain pages
 * otherwise; -ENOTSUP if this libvmm was built without zstd).  A
 * receiver always accepts compressed batches when it has zstd.
 */
#define VMM_MIGRATE_ZSTD (1u << 8)

/*
 * Statistics of one migration, filled by both ends.  The receiver reports
 * what it read: rounds, pages_sent/zero_pages (pages received), bytes_sent
 * (bytes read from the stream), total_ms, and converged as the source
 * reported it in its DONE frame; last_round_pages and downtime_ms are
 * measured only by the source (0 on the receiver).
 *
 * Growable (docs/api.md, "Growable structs"): set @struct_size to sizeof()
 * (or 0, the 0.2 size) before passing it to vmm_migrate_send(),
 * vmm_migrate_receive(), vmm_migrate_wait() or vmm_migrate_resume().
 * Each call checks it at entry (-EINVAL for a bad size, nothing done)
 * and writes the struct once, when it returns: as much as struct_size
 * holds, a newer caller's tail zeroed, struct_size set to the bytes
 * written.  Nothing is written while the call runs, so another thread
 * reading the struct meanwhile sees what it held before the call.
 */
struct vmm_migrate_stats {
	uint32_t struct_size;    /**< in: sizeof() (0 = 0.2 size); out: written */
	uint32_t rounds;         /**< dirty-page rounds after the first pass */
	uint64_t pages_sent;     /**< pages with data, all rounds */
	uint64_t zero_pages;     /**< pages sent as "zero" records */
	uint64_t bytes_sent;     /**< everything written to (receiver: read from) the stream */
	uint64_t last_round_pages; /**< pages sent while paused (source only) */
	double downtime_ms;      /**< pause to the destination's acknowledgement (source only) */
	double total_ms;
	bool converged;          /**< false if stopped by max_rounds */
	/* ---- since 0.2 ---- */
	bool postcopy;           /**< switched over to post-copy */
	uint32_t throttle_pct;   /**< auto-converge throttle at the switch-over (source) */
	double dirty_rate_mib_s; /**< guest dirty rate in the last round (source) */
	double bandwidth_mib_s;  /**< link rate measured in the last round (source) */
	uint64_t postcopy_pages; /**< pages still missing at the switch-over */
	uint64_t remote_faults;  /**< post-copy: pages the guest faulted on and asked the source for */
	uint64_t local_faults;   /**< post-copy (destination): faults on pages known zero, filled locally */
	double postcopy_ms;      /**< post-copy phase: switch-over to the last page acknowledged */
	uint32_t resumes;        /**< post-copy connections resumed (vmm_migrate_resume()) */
};

/**
 * vmm_migrate_send() - migrate @vm over the connected stream @fd (unix or
 * TCP socket, pipe pair): the whole memory, then rounds of dirty pages
 * while the VM runs (vCPU threads of vmm_vm_start(), or not started), then
 * pause, the last pages and all state, and a three-way handshake (DONE,
 * the destination's ACK, COMMIT).  0 means COMMIT was sent: the VM stays
 * paused here.  Destroy it only once the destination confirmed that it
 * holds the VM (its vmm_migrate_receive() returned 0, or
 * VMM_MIGRATE_COMMIT_UNVERIFIED and was resolved by running it): a COMMIT
 * lost or corrupted on the way leaves the destination with an unverified
 * VM that its embedder destroys unless told this call returned 0.  On any
 * failure (connection cut, destination error, timeout) the VM is resumed
 * exactly as it was (dirty logging restored to its previous setting) and
 * a negative errno is returned.  @opts and
 * @stats may be NULL.  @fd is made non-blocking while the call runs, and
 * a TCP socket gets TCP_NODELAY (both restored on return).
 */
VMM_API VMM_MUST_CHECK int vmm_migrate_send(vmm_vm *vm, int fd,
					    const struct vmm_migrate_opts *opts,
					    struct vmm_migrate_stats *stats);

/**
 * VMM_MIGRATE_COMMIT_UNVERIFIED - vmm_migrate_receive()'s result when it
 * sent its ACK but got no valid COMMIT: the VM is in @out, paused, and
 * the embedder decides with the source (above).  vmm_migrate_receive()
 * returns this value for nothing else (since 0.3).
 */
#define VMM_MIGRATE_COMMIT_UNVERIFIED (-EINPROGRESS)

/**
 * vmm_migrate_receive() - receive a VM from @fd: creates it from the
 * stream's configuration (with @overrides and @opts as for restore; only
 * VMM_RESTORE_SKIP_DEVICES of the flags applies), loads memory and state,
 * and returns it paused-not-started in @out once the source committed.
 * On any failure before this end sent its ACK everything received is
 * discarded.  After the ACK, a missing or invalid COMMIT (connection cut,
 * timeout, checksum or MAC failure, another frame) returns
 * VMM_MIGRATE_COMMIT_UNVERIFIED with the whole VM, paused and not
 * started, in @out (log: "commit unverified: ..."): the source may have
 * committed.  Ask the source's embedder: if its vmm_migrate_send()
 * returned 0, run this VM (the source's copy is paused and must then be
 * destroyed); otherwise the source resumed its VM: destroy this one.
 * Never run both.  Post-copy (stats->postcopy) has no such window: its
 * source returns 0 only after the destination's final FIN, so there a
 * missing COMMIT discards the VM as before.  Messages of failures
 * before the VM exists go to @overrides->log.
 */
VMM_API VMM_MUST_CHECK int
vmm_migrate_receive(int fd, const struct vmm_config *overrides,
		    const struct vmm_restore_opts *opts,
		    const struct vmm_migrate_opts *mopts, vmm_vm **out,
		    struct vmm_migrate_stats *stats);

/**
 * vmm_migrate_receive_into() - receive a pre-copy migration from @fd into
 * @vm, a VM the embedder created and configured (QEMU's -incoming model:
 * its memory, devices and backends are the embedder's), paused or not
 * started.  @vm must match the stream: the same vCPU count, irqchip/PIT
 * presence and CPU model, the same memory regions (address, size,
 * read-only flag; the backend may differ), and the same devices with
 * state (type and place, e.g. "uart" at port 0x3f8, each matched once,
 * none extra); its vCPUs are those of the stream (missing ones are
 * created unless the VM was started).  Once HELLO is accepted the VM's
 * memory is cleared (pages not zero are zeroed; this reads all of it,
 * before the source's first pass, not in the downtime).  On success
 * memory, vCPUs, interrupt controllers and devices hold the source's
 * state; the VM is left as it was (paused or
 * not started): resume or run it.  @opts and @stats as for
 * vmm_migrate_receive() (only pre-copy: VMM_MIGRATE_POSTCOPY in
 * @opts->flags is refused with -ENOTSUP; the source then stays
 * pre-copy).  Messages go to the VM's log and vmm_last_error().
 *
 * A VM whose post-copy migration completed is taken like any other: a
 * finished source (its vmm_migrate_send() returned 0: paused for good)
 * or a finished destination (vmm_migrate_wait() returned 0).  At the
 * first change to @vm that migration's leftovers are released: a
 * destination's (a later vmm_migrate_resume() of it says -EINVAL), a
 * source's block on vmm_vm_resume() (its state is being replaced, so
 * the VM may run again once this call succeeded).  One still under way,
 * or broken and waiting for vmm_migrate_resume() / vmm_migrate_cancel(),
 * is refused with -EBUSY.  Do not call vmm_migrate_wait() or
 * vmm_migrate_resume() on @vm meanwhile.
 *
 * Returns 0; -EBUSY if @vm runs or migrates; a configuration that does
 * not match (-EINVAL, -ENODEV, -ENOTSUP) is refused, with an ERROR frame
 * to the source, before the VM is changed when HELLO shows it (vCPU
 * count, irqchip, CPU model, memory layout), and after the memory was
 * written but before any vCPU or device state when only DONE shows it
 * (vCPUs, devices).  Any failure after the first change (memory cleared
 * or a page written, a refused device, a corrupt or cut stream, a failed
 * state load) leaves @vm
 * *poisoned*: its memory and state are partly the stream's, and
 * vmm_vcpu_run(), vmm_vm_start(), the last vmm_vm_resume(),
 * vmm_snapshot_save*() and vmm_migrate_send() fail with
 * -ENOTRECOVERABLE until vmm_snapshot_reset() or another
 * vmm_migrate_receive_into() succeeds on it; vmm_vm_destroy() always
 * works.  VMM_MIGRATE_COMMIT_UNVERIFIED (the ACK went out, no valid
 * COMMIT came): the whole state is loaded, not poisoned, the VM paused
 * or not started as before; resolve it with the source as for
 * vmm_migrate_receive().  Since 0.2.
 */
VMM_API VMM_MUST_CHECK int
vmm_migrate_receive_into(vmm_vm *vm, int fd,
			 const struct vmm_migrate_opts *opts,
			 struct vmm_migrate_stats *stats);

/*
 * Post-copy (docs/migration.md "Post-copy").  The source asks for it with
 * VMM_MIGRATE_POSTCOPY; the switch happens only if the destination also
 * passed VMM_MIGRATE_POSTCOPY and userfaultfd works there.  Then:
 *
 * - vmm_migrate_send() returns 0 once every page reached the destination
 *   (its VM stays paused: destroy it).  If the connection breaks after the
 *   switch-over it returns the error and the VM stays paused and cannot be
 *   resumed (vmm_vm_resume() says -EBUSY): the destination may have run
 *   it.  Continue with vmm_migrate_resume() on a new connection.
 * - vmm_migrate_receive() returns the VM as soon as its state is loaded
 *   (not started); the missing pages arrive in the background on a thread
 *   of the VM, and a guest (or device, or host) access to one blocks until
 *   it arrived.  @fd stays in use until vmm_migrate_wait() returns 0 or
 *   the VM is destroyed: do not close it before.
 */

/**
 * vmm_migrate_postcopy_available() - can this process receive a post-copy
 * migration into a VM on @backend (KVM needs a userfaultfd that handles
 * kernel-mode faults; the soft backend makes do with user-mode-only)?
 * Returns 0, or -ENOTSUP with the reason in @why (@len bytes, may be NULL).
 */
VMM_API int vmm_migrate_postcopy_available(enum vmm_backend backend,
					   char *why, size_t len);

/**
 * vmm_migrate_wait() - on a post-copy destination VM: wait up to
 * @timeout_ms (-1: forever) for the background transfer.  Returns 0 when
 * every page arrived (the connection fd is then free; a later call returns
 * 0 too, as does one on a VM that never was in post-copy), -ETIMEDOUT, or
 * the negative errno that broke the connection (-EPIPE, -ECONNRESET,
 * -ETIMEDOUT of the stream...): the VM keeps running, vCPUs that touch a
 * missing page wait for vmm_migrate_resume().  @stats (may be NULL) gets
 * the destination's statistics so far.
 */
VMM_API VMM_MUST_CHECK int vmm_migrate_wait(vmm_vm *vm, int timeout_ms,
					    struct vmm_migrate_stats *stats);

/**
 * vmm_migrate_resume() - continue a post-copy migration whose connection
 * broke, over the new connected stream @fd.  Call it on both ends: with
 * the source's paused VM (it blocks like vmm_migrate_send() until every
 * page still missing at the destination was delivered) and with the
 * destination's VM (it hands @fd to the background transfer after the
 * handshake and returns; vmm_migrate_wait() tells the end).  The
 * destination tells the source which pages it still lacks; the source
 * keeps all of them until then.  -EINVAL on a VM in no interrupted
 * post-copy; other errors as vmm_migrate_send().
 */
VMM_API VMM_MUST_CHECK int vmm_migrate_resume(vmm_vm *vm, int fd,
					      const struct vmm_migrate_opts *opts,
					      struct vmm_migrate_stats *stats);

/**
 * vmm_migrate_start_postcopy() - switch the vmm_migrate_send() running on
 * @vm (in another thread) to post-copy now, whatever its rounds and
 * thresholds say (QEMU's migrate-start-postcopy).  The sender switches
 * over at its next page: the pages it has not sent yet (the rest of the
 * first pass, the rest of the round) join the missing set with those
 * dirtied since they were sent.  Whether the destination takes post-copy
 * is known only from its reply to the source's HELLO: a call before that
 * reply (right after vmm_migrate_send() started, or during the
 * authentication handshake) blocks until it arrived, or until the send
 * failed (bounded by the send's timeout_ms per stalled read).
 *
 * Returns 0 when the request is recorded and the destination takes
 * post-copy: the switch happens (vmm_migrate_send() reports it in
 * stats->postcopy) unless the migration fails.  -EINVAL when no
 * vmm_migrate_send() runs on @vm (also when it ended before the request
 * could be recorded) or it was started without VMM_MIGRATE_POSTCOPY;
 * -ENOTSUP when its destination does not take post-copy (the migration
 * goes on as pre-copy); -EALREADY once its stop-and-copy or switch-over
 * began; -ECANCELED when the send failed before the destination replied
 * (its own return value says why); -EDEADLK when called before the
 * reply on the thread that runs vmm_migrate_send() (from the VM's log
 * callback), which cannot wait for itself.  Thread-safe; since 0.3.
 */
VMM_API VMM_MUST_CHECK int vmm_migrate_start_postcopy(vmm_vm *vm);

/**
 * vmm_migrate_cancel() - on a post-copy source VM whose migration broke:
 * the embedder states that the destination never ran the VM (its
 * vmm_migrate_receive() failed or its process died before that call
 * returned) - the one case where the source may run again.  Lifts the
 * block so that vmm_vm_resume() continues the VM here.  Calling it when
 * the destination did run the VM makes two diverging copies: the
 * embedder's responsibility.  -EINVAL on a VM without such a migration
 * or whose migration completed.
 */
VMM_API VMM_MUST_CHECK int vmm_migrate_cancel(vmm_vm *vm);

#ifdef __cplusplus
}
#endif
#endif
