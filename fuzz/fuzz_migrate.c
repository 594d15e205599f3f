/* SPDX-License-Identifier: MIT */
/*
 * fuzz_migrate - the live-migration receiver (vmm_migrate_receive) on an
 * arbitrary byte stream from the "source": framing, hello/configuration,
 * page frames, vCPU, irqchip and device state, the final handshake.
 *
 *   ./build-fuzz/fuzz/fuzz_migrate fuzz/corpus/migrate -max_total_time=60
 *
 * Each input is written into one end of a unix stream socketpair (then
 * shut down for writing, so a short stream ends in EOF, never a wait) and
 * the receiver runs on the other end on the software backend.  It
 * receives into one VM made once per process (vmm_migrate_receive_into()):
 * 1 MiB, one vCPU, the devices the seed source had (UART, RTC, i8042,
 * debug-exit, trapped block device, virtio-blk over mmio), so
 * device-state frames reach the devices' restore code; after each input
 * it goes back to its first state with vmm_snapshot_reset() (dirty
 * logging on: only what the input changed is copied back).  An input
 * whose HELLO carries another configuration (memory layout, vCPUs, CPU
 * model, irqchip) would only be refused at HELLO there, so it goes to
 * vmm_migrate_receive() instead, which creates a VM of that configuration
 * (with the same devices through the attach callback) and destroys it.
 * The receiver must fail cleanly (a negative errno) on everything but a
 * complete valid stream; a VM it returns (or the one received into) must
 * have its vCPU state readable and must not be poisoned; after a failure
 * the reset must make it whole again.
 *
 * Seeds with valid framing come from a real migration: run with
 * FUZZ_MIGRATE_SEED=<file> and the target writes what vmm_migrate_send()
 * sends for a small VM with those devices into <file> and exits.
 *
 * Seeds with zstd-compressed page batches (PAGES_ZSTD): the same with
 * FUZZ_MIGRATE_SEED_ZSTD=1.
 *
 * Two more modes, chosen by a prefix of the input:
 *   "KEY:" + stream   the receiver has a pre-shared key: the stream meets
 *                     the authentication handshake (AUTH1 parsing, the
 *                     proof check) and the refusal of unauthenticated
 *                     frames.
 *   "MUT:" + script   a real source and receiver with the same key and
 *                     zstd on, through a relay that applies the script
 *                     (5-byte entries: u32 offset into the source's
 *                     stream, u8 xor) and then fixes both CRCs of the
 *                     frame it changed, as an attacker would.  A random
 *                     stream cannot get past the MACs (nonces are
 *                     fresh), this reaches them: any change that lands
 *                     before the COMMIT frame must fail the migration at
 *                     both ends (abort otherwise: a forged stream was
 *                     accepted); one that lands only in COMMIT (after
 *                     the destination's ACK) must give exactly the
 *                     commit-unverified outcome: the source returns 0,
 *                     the destination VMM_MIGRATE_COMMIT_UNVERIFIED with
 *                     the whole VM (docs/migration.md).  The source VM
 *                     must stay whole.
 *
 * Speed: docs/fuzzing.md ("Where 10 k ... is not reached"): the VM and,
 * for "MUT:", the source VM live as long as the process; no thread is
 * started for an input that fits the socket buffers; "MUT:" runs its
 * receiver and relays on three threads made once (struct worker).
 */
#include <libvmm/libvmm.h>

#include "migrate/crc32c.h"
#include "migrate/snap.h"

#include <errno.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define RAM (1ull << 20)

static int disk_fd = -1;

static int attach(void *opaque, vmm_vm *vm)
{
	struct vmm_uart_config uc;
	struct vmm_trapblk_config tc;
	struct vmm_virtio_blk_config bc;
	vmm_dev *d;
	int r;

	(void)opaque;
	vmm_uart_config_init(&uc);
	uc.out_fd = -1;
	uc.in_fd = -1;
	vmm_trapblk_config_init(&tc);
	tc.fd = disk_fd;
	vmm_virtio_blk_config_init(&bc, VMM_VIRTIO_MMIO);
	bc.virtio.mmio_base = 0xd0000000ull;
	bc.virtio.irq = 5;
	bc.fd = disk_fd;
	if ((r = vmm_uart_attach(vm, &uc, &d)) ||
	    (r = vmm_rtc_attach(vm, &d)) ||
	    (r = vmm_i8042_attach(vm, &d)) ||
	    (r = vmm_debug_exit_attach(vm, 0, 0, &d)) ||
	    (r = vmm_trapblk_attach(vm, &tc, &d)) ||
	    (r = vmm_virtio_blk_attach(vm, &bc, &d)))
		return r;
	return 0;
}

static const char KEY[] = "fuzz_migrate pre-shared key 0123";

/* The process's receiving VM, its first state and its configuration. */
static vmm_vm *dst_vm;
static vmm_snapshot *dst_base;
static struct snap_config dst_cfg;

struct rx {
	int fd;
	int ret;
	vmm_vm *vm;   /* NULL: receive into dst_vm; else the created VM */
	bool key;
	bool create;  /* vmm_migrate_receive(): a new VM */
};

static void receive(struct rx *x)
{
	struct vmm_config ov;
	struct vmm_restore_opts ro = { sizeof(ro), 0, attach, NULL };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 2000 };

	if (x->key) {
		mo.key = KEY;
		mo.key_len = sizeof(KEY) - 1;
	}
	if (!x->create) {
		x->ret = vmm_migrate_receive_into(dst_vm, x->fd, &mo, NULL);
		return;
	}
	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_SOFT;
	x->ret = vmm_migrate_receive(x->fd, &ov, &ro, &mo, &x->vm, NULL);
}

static void *receiver(void *p)
{
	struct rx *x = p;

	receive(x);
	/* unblock a writer still feeding a receiver that gave up */
	shutdown(x->fd, SHUT_RDWR);
	return NULL;
}

/* A VM like the seed source: 1 MiB, one vCPU, attach()'s devices. */
static vmm_vm *make_vm(vmm_vcpu **cpu)
{
	struct vmm_config cfg;
	vmm_vm *vm;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = RAM;
	if (vmm_vm_create(&cfg, &vm) || vmm_vcpu_create(vm, 0, cpu) ||
	    attach(NULL, vm))
		abort();
	return vm;
}

/* The receiving VM and the snapshot of its first state, once. */
static void dst_init(void)
{
	struct vmm_save_opts so = { sizeof(so), VMM_SAVE_PACKED | VMM_SAVE_NO_SYNC };
	vmm_vcpu *cpu;
	int fd;

	dst_vm = make_vm(&cpu);
	fd = memfd_create("fuzz-migrate-base", MFD_CLOEXEC);
	if (fd < 0 || vmm_snapshot_save_fd(dst_vm, fd, &so) ||
	    vmm_snapshot_open_fd(fd, &dst_base, NULL, 0) ||
	    vmm_mem_dirty_log(dst_vm, true) || vmm__snap_config(dst_vm, &dst_cfg))
		abort();
	close(fd);
}

/*
 * After an input: @ret is what vmm_migrate_receive_into() returned.  A
 * VM it accepted (0, COMMIT_UNVERIFIED) must be whole and not poisoned;
 * the reset must succeed whatever happened, and leave it not poisoned.
 */
static void dst_check_reset(int ret)
{
	struct vmm_cpu_state st;
	vmm_vcpu *c = vmm_vm_get_vcpu(dst_vm, 0);

	if (!c)
		abort();
	if ((!ret || ret == VMM_MIGRATE_COMMIT_UNVERIFIED) &&
	    (vmm_vcpu_get_state(c, &st) || vmm__vm_poison_check(dst_vm, "fuzz"))) {
		fprintf(stderr, "an accepted stream left the VM poisoned or "
			"without vCPU state (%d)\n", ret);
		abort();
	}
	if (vmm_snapshot_reset(dst_vm, dst_base) < 0 ||
	    vmm__vm_poison_check(dst_vm, "fuzz")) {
		fprintf(stderr, "reset after the input failed (%d)\n", ret);
		abort();
	}
}

/*
 * Does the stream's first frame carry a HELLO whose configuration
 * vmm_migrate_receive_into() would refuse for dst_vm (the checks of
 * rx_hello_into())?  Such inputs go to vmm_migrate_receive().
 */
static bool hello_other_config(const uint8_t *d, size_t n)
{
	const uint32_t fl = VMM_CFG_NO_IRQCHIP | VMM_CFG_NO_PIT;
	struct snap_config c;
	uint32_t plen;

	if (n < 24 || (d[4] | d[5] << 8) != 1)
		return false;
	plen = (uint32_t)d[12] | (uint32_t)d[13] << 8 | (uint32_t)d[14] << 16 |
	       (uint32_t)d[15] << 24;
	if (plen < 16 || plen > n - 24 ||
	    vmm__snap_get_config(d + 24 + 16, plen - 16, &c, NULL, 0))
		return false; /* refused before any VM, either way */
	if (c.ncpus != dst_cfg.ncpus ||
	    (c.vm_flags & fl) != (dst_cfg.vm_flags & fl) ||
	    ((c.caps ^ dst_cfg.caps) & VMM_CAP_IRQCHIP) ||
	    (c.cpu_model && c.cpu_model != dst_cfg.cpu_model) ||
	    c.nregions != dst_cfg.nregions)
		return true;
	for (uint32_t i = 0; i < c.nregions; i++)
		if (c.regions[i].gpa != dst_cfg.regions[i].gpa ||
		    c.regions[i].size != dst_cfg.regions[i].size ||
		    c.regions[i].flags != dst_cfg.regions[i].flags)
			return true;
	return false;
}

struct relay {
	int from, to;
	FILE *rec;
};

static void *relay(void *p)
{
	struct relay *r = p;
	uint8_t buf[65536];
	ssize_t n;

	while ((n = read(r->from, buf, sizeof(buf))) > 0) {
		if (r->rec && fwrite(buf, 1, (size_t)n, r->rec) != (size_t)n)
			abort();
		if (send(r->to, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
	}
	shutdown(r->to, SHUT_WR);
	return NULL;
}

/* Write what a real source sends into @path (the valid-framing seed). */
static void make_seed(const char *path)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	struct relay fwd, back;
	pthread_t tr, tf, tb;
	vmm_vm *vm;
	vmm_vcpu *cpu;
	int src[2], dst[2], r;
	struct rx x;
	FILE *f;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = RAM;
	if (vmm_vm_create(&cfg, &vm) || vmm_vcpu_create(vm, 0, &cpu) ||
	    attach(NULL, vm) || vmm_mem_fill(vm, 0x1000, 0x90, 0x3000) ||
	    vmm_vcpu_get_state(cpu, &st))
		abort();
	vmm_state_flat_real(&st, 0, 0x1000, 0x800);
	if (vmm_vcpu_set_state(cpu, &st))
		abort();
	/* source <-> relay (records source -> destination) <-> receiver */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, src) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, dst) ||
	    !(f = fopen(path, "wb")))
		abort();
	x = (struct rx){ dst[1], 0, NULL, false, true };
	fwd = (struct relay){ src[1], dst[0], f };
	back = (struct relay){ dst[0], src[1], NULL };
	if (pthread_create(&tr, NULL, receiver, &x) ||
	    pthread_create(&tf, NULL, relay, &fwd) ||
	    pthread_create(&tb, NULL, relay, &back))
		abort();
	{
		struct vmm_migrate_opts mo = { .struct_size = sizeof(mo) };

		if (getenv("FUZZ_MIGRATE_SEED_ZSTD"))
			mo.flags = VMM_MIGRATE_ZSTD;
		r = vmm_migrate_send(vm, src[0], &mo, NULL);
	}
	shutdown(src[0], SHUT_RDWR);
	pthread_join(tr, NULL);
	pthread_join(tf, NULL);
	pthread_join(tb, NULL);
	fclose(f);
	if (r || x.ret) {
		fprintf(stderr, "seed migration failed: %d %d\n", r, x.ret);
		abort();
	}
	vmm_vm_destroy(x.vm);
	vmm_vm_destroy(vm);
}

/* ---- "MUT:": a real authenticated stream, changed in flight ---- */

struct mut {
	int from, to;
	const uint8_t *script;
	size_t nscript;
	bool landed;        /* a change was applied to a forwarded byte */
	bool landed_commit; /* ... to the COMMIT frame (type 10) */
};

static int rd_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* source -> destination, frame by frame: apply the script's changes that
 * fall into this frame, then make both CRCs right again */
static void *mut_relay(void *p)
{
	struct mut *m = p;
	/* one relay runs at a time (one input at a time); not __thread: a
	 * 1 MiB thread-local block is cleared by the loader for every thread
	 * the process starts (the receiver's, the devices' I/O threads),
	 * 11% of this target's time */
	static uint8_t buf[24 + (1 << 19) + 64], orig[sizeof(buf)];
	uint64_t pos = 0;

	for (;;) {
		uint32_t plen;
		size_t flen;
		bool changed = false;

		if (rd_full(m->from, buf, 24))
			break;
		plen = get32(buf + 12);
		flen = 24 + (size_t)plen + ((buf[6] & 1) ? 32 : 0);
		if (flen > sizeof(buf) || rd_full(m->from, buf + 24, flen - 24))
			break;
		memcpy(orig, buf, flen);
		for (size_t i = 0; i + 5 <= m->nscript; i += 5) {
			uint32_t off = get32(m->script + i);
			uint8_t x = m->script[i + 4];

			if (off >= pos && off - pos < flen && x) {
				buf[off - pos] ^= x;
				changed = true;
			}
		}
		if (changed) {
			if (plen <= flen - 24)
				put32(buf + 16, vmm__crc32c(0, buf + 24, plen));
			put32(buf + 20, vmm__crc32c(0, buf, 20));
			/* a change of a CRC field is undone by the fix */
			if (memcmp(buf, orig, flen)) {
				if ((orig[4] | orig[5] << 8) == 10)
					m->landed_commit = true;
				else
					m->landed = true;
			}
		}
		pos += flen;
		if (send(m->to, buf, flen, MSG_NOSIGNAL) != (ssize_t)flen)
			break;
		/* a changed length field: the receiver would wait for bytes
		 * that never come until its timeout; end the stream now */
		if (get32(buf + 12) != plen)
			break;
	}
	shutdown(m->to, SHUT_WR);
	shutdown(m->from, SHUT_RD);
	return NULL;
}

/*
 * Threads that live as long as the process and run one job at a time:
 * "MUT:" needs the receiver and the two relay directions beside the
 * source on the fuzzer's thread, for every input; creating and joining
 * three threads per input (clone, stack mappings, exit) was ~8% of the
 * target's time.  worker_start() hands a job over, worker_wait() waits
 * for its end (the same happens-before as pthread_create/join).
 */
struct worker {
	pthread_t t;
	pthread_mutex_t lk;
	pthread_cond_t cv;
	void *(*fn)(void *);
	void *arg;
	bool busy, up;
};

static void *worker_main(void *p)
{
	struct worker *w = p;

	pthread_mutex_lock(&w->lk);
	for (;;) {
		while (!w->busy)
			pthread_cond_wait(&w->cv, &w->lk);
		pthread_mutex_unlock(&w->lk);
		w->fn(w->arg);
		pthread_mutex_lock(&w->lk);
		w->busy = false;
		pthread_cond_broadcast(&w->cv);
	}
	return NULL;
}

static void worker_start(struct worker *w, void *(*fn)(void *), void *arg)
{
	if (!w->up) {
		if (pthread_mutex_init(&w->lk, NULL) ||
		    pthread_cond_init(&w->cv, NULL) ||
		    pthread_create(&w->t, NULL, worker_main, w))
			abort();
		w->up = true;
	}
	pthread_mutex_lock(&w->lk);
	w->fn = fn;
	w->arg = arg;
	w->busy = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->lk);
}

static void worker_wait(struct worker *w)
{
	pthread_mutex_lock(&w->lk);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->lk);
	pthread_mutex_unlock(&w->lk);
}

static struct worker mut_rx, mut_fwd, mut_back;

/* the "MUT:" source VM, made once per process (a migration that fails
 * leaves it as it was; one that commits leaves it paused: resumed here) */
static vmm_vm *src_vm;
static vmm_vcpu *src_cpu;

static void src_init(void)
{
	struct vmm_cpu_state st;

	src_vm = make_vm(&src_cpu);
	if (vmm_mem_fill(src_vm, 0x1000, 0x90, 0x3000) ||
	    vmm_mem_fill(src_vm, 0x8000, 0x41, 0x100) ||
	    vmm_vcpu_get_state(src_cpu, &st))
		abort();
	vmm_state_flat_real(&st, 0, 0x1000, 0x800);
	if (vmm_vcpu_set_state(src_cpu, &st))
		abort();
}

static void mutate_run(const uint8_t *script, size_t n)
{
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 2000,
				       .flags = VMM_MIGRATE_ZSTD,
				       .key = KEY, .key_len = sizeof(KEY) - 1 };
	struct vmm_cpu_state st;
	struct relay back;
	struct mut fwd;
	vmm_vm *vm;
	vmm_vcpu *cpu;
	int src[2], dst[2], r;
	struct rx x;

	if (!src_vm)
		src_init();
	vm = src_vm;
	cpu = src_cpu;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, src) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, dst))
		abort();
	x = (struct rx){ dst[1], 0, NULL, true, false };
	fwd = (struct mut){ src[1], dst[0], script, n, false, false };
	back = (struct relay){ dst[0], src[1], NULL };
	worker_start(&mut_rx, receiver, &x);
	worker_start(&mut_fwd, mut_relay, &fwd);
	worker_start(&mut_back, relay, &back);
	r = vmm_migrate_send(vm, src[0], &mo, NULL);
	if (r == 0)
		vmm_vm_resume(vm); /* committed: paused, for the next input */
	shutdown(src[0], SHUT_RDWR);
	worker_wait(&mut_rx);
	worker_wait(&mut_fwd);
	worker_wait(&mut_back);
	if (r == -ENOTSUP && x.ret == -ENOTSUP)
		goto out; /* no HMAC here: nothing to check */
	/* a change that landed before COMMIT must fail both ends; the
	 * source keeps a whole VM either way */
	if (fwd.landed && (x.ret == 0 || x.ret == VMM_MIGRATE_COMMIT_UNVERIFIED ||
			   r == 0)) {
		fprintf(stderr, "a changed authenticated stream was accepted (%d, %d)\n",
			r, x.ret);
		abort();
	}
	/* one only in COMMIT: the source committed, the destination keeps
	 * the paused VM unverified */
	if (!fwd.landed && fwd.landed_commit) {
		if (r != 0 || x.ret != VMM_MIGRATE_COMMIT_UNVERIFIED) {
			fprintf(stderr, "a changed COMMIT: not the commit-unverified outcome (%d, %d)\n",
				r, x.ret);
			abort();
		}
	}
	if (!fwd.landed && !fwd.landed_commit && (r || x.ret)) {
		fprintf(stderr, "an unchanged stream failed (%d, %d)\n", r, x.ret);
		abort();
	}
	if (vmm_vcpu_get_state(cpu, &st))
		abort();
out:
	/* whole when accepted (COMMIT_UNVERIFIED), first state again */
	dst_check_reset(x.ret);
	for (int i = 0; i < 2; i++) {
		close(src[i]);
		close(dst[i]);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed = getenv("FUZZ_MIGRATE_SEED");

	(void)argc;
	(void)argv;
	disk_fd = memfd_create("fuzz-migrate-disk", MFD_CLOEXEC);
	if (disk_fd < 0 || ftruncate(disk_fd, 64 * 1024))
		abort();
	if (seed) {
		make_seed(seed);
		exit(0);
	}
	dst_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rx x;
	int sv[2], big = 4 << 20;
	pthread_t t;
	char sink[4096];
	size_t off = 0;
	bool key = false, threaded = false;

	if (size >= 4 && !memcmp(data, "MUT:", 4)) {
		mutate_run(data + 4, size - 4);
		return 0;
	}
	if (size >= 4 && !memcmp(data, "KEY:", 4)) {
		key = true;
		data += 4;
		size -= 4;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	x = (struct rx){ sv[1], 0, NULL, key,
			 !key && hello_other_config(data, size) };
	/* the whole input into the socket if it fits: then the receiver
	 * runs on this thread (it reads to EOF, never waits) */
	while (off < size) {
		ssize_t n = send(sv[0], data + off, size - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < size) {
		threaded = true;
		if (pthread_create(&t, NULL, receiver, &x))
			abort();
		while (off < size) {
			ssize_t n = send(sv[0], data + off, size - off,
					 MSG_NOSIGNAL);
			if (n <= 0)
				break; /* the receiver gave up and closed: fine */
			off += (size_t)n;
		}
	}
	shutdown(sv[0], SHUT_WR);
	if (threaded)
		pthread_join(t, NULL);
	else
		receive(&x);
	while (recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (x.ret > 0 || (x.ret && x.ret != VMM_MIGRATE_COMMIT_UNVERIFIED && x.vm))
		abort();
	if (!x.create) {
		dst_check_reset(x.ret);
	} else if (!x.ret || x.ret == VMM_MIGRATE_COMMIT_UNVERIFIED) {
		/* VMM_MIGRATE_COMMIT_UNVERIFIED: DONE was valid, COMMIT
		 * missing or bad; the VM is handed over whole as well: its
		 * vCPU state readable, then it goes (running it would run
		 * whatever the mutated memory holds, for as long as that
		 * takes) */
		struct vmm_cpu_state st;
		vmm_vcpu *c = vmm_vm_get_vcpu(x.vm, 0);
		if (!c || vmm_vcpu_get_state(c, &st))
			abort();
		vmm_vm_destroy(x.vm);
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
