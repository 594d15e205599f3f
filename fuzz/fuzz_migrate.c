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
 * the receiver runs on the other end on the software backend, with an
 * attach callback that gives the new VM the devices the seed source had
 * (UART, RTC, i8042, debug-exit, trapped block device, virtio-blk over
 * mmio), so device-state frames reach the devices' restore code.  The
 * receiver must fail cleanly (a negative errno) on everything but a
 * complete valid stream; a VM it returns must have its vCPU state
 * readable, and is destroyed.
 *
 * Seeds with valid framing come from a real migration: run with
 * FUZZ_MIGRATE_SEED=<file> and the target writes what vmm_migrate_send()
 * sends for a small VM with those devices into <file> and exits.
 *
 * Speed: each input that gets past the hello frame creates (and destroys)
 * a VM, which is the receiver's contract; that bounds this target at a few
 * thousand executions per second, not the 10 k of the per-VM harnesses.
 */
#include <libvmm/libvmm.h>

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
	if ((r = vmm_dev_uart_attach(vm, &uc, &d)) ||
	    (r = vmm_dev_rtc_attach(vm, &d)) ||
	    (r = vmm_dev_i8042_attach(vm, &d)) ||
	    (r = vmm_dev_debug_exit_attach(vm, 0, 0, &d)) ||
	    (r = vmm_dev_trapblk_attach(vm, &tc, &d)) ||
	    (r = vmm_virtio_blk_attach(vm, &bc, &d)))
		return r;
	return 0;
}

struct rx {
	int fd;
	int ret;
	vmm_vm *vm;
};

static void *receiver(void *p)
{
	struct rx *x = p;
	struct vmm_config ov;
	struct vmm_restore_opts ro = { sizeof(ro), 0, attach, NULL };
	struct vmm_migrate_opts mo = { .struct_size = sizeof(mo),
				       .timeout_ms = 2000 };

	vmm_config_init(&ov);
	ov.backend = VMM_BACKEND_SOFT;
	x->ret = vmm_migrate_receive(x->fd, &ov, &ro, &mo, &x->vm, NULL);
	/* unblock a writer still feeding a receiver that gave up */
	shutdown(x->fd, SHUT_RDWR);
	return NULL;
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
	x = (struct rx){ dst[1], 0, NULL };
	fwd = (struct relay){ src[1], dst[0], f };
	back = (struct relay){ dst[0], src[1], NULL };
	if (pthread_create(&tr, NULL, receiver, &x) ||
	    pthread_create(&tf, NULL, relay, &fwd) ||
	    pthread_create(&tb, NULL, relay, &back))
		abort();
	r = vmm_migrate_send(vm, src[0], NULL, NULL);
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
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rx x;
	int sv[2], big = 4 << 20;
	pthread_t t;
	char sink[4096];
	size_t off = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	x = (struct rx){ sv[1], 0, NULL };
	if (pthread_create(&t, NULL, receiver, &x))
		abort();
	while (off < size) {
		ssize_t n = send(sv[0], data + off, size - off, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* the receiver gave up and closed: fine */
		off += (size_t)n;
	}
	shutdown(sv[0], SHUT_WR);
	pthread_join(t, NULL);
	while (recv(sv[0], sink, sizeof(sink), MSG_DONTWAIT) > 0)
		;
	if (x.ret > 0)
		abort();
	if (!x.ret) {
		/* a complete stream: the VM must be whole (its vCPU state
		 * readable), then it goes (running it would run whatever the
		 * mutated memory holds, for as long as that takes) */
		struct vmm_cpu_state st;
		vmm_vcpu *c = vmm_vcpu_get(x.vm, 0);
		if (!c || vmm_vcpu_get_state(c, &st))
			abort();
		vmm_vm_destroy(x.vm);
	}
	close(sv[0]);
	close(sv[1]);
	return 0;
}
