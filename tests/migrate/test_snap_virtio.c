/* SPDX-License-Identifier: MIT */
/*
 * test_snap_virtio - snapshots and live migration of a VM with a virtio-blk
 * device in the middle of a sequence of block writes and reads (the
 * "snaprw=N" mode of tests/guests/virtio/virtio_guest: 4 requests in
 * flight at a time).  Public API only.  Standalone; exit 0 pass, 1 fail,
 * 77 skip (no backend, or the soft backend cannot run the guest).
 *
 *   test_snap_virtio IMAGE snap-mmio|snap-pci [kvm|soft]
 *       pause mid-sequence, save to a file, destroy, restore into a new
 *       VM (the attach callback re-attaches UART, PCI host, virtio-blk on
 *       the same image), run to the end
 *   test_snap_virtio IMAGE migrate [kvm]
 *       live migration between two threads over a unix socket pair
 *   test_snap_virtio IMAGE snap-mmio-packed|snap-pci-packed|migrate-packed
 *                    [kvm|soft]
 *       the same on a packed ring (VMM_VIRTIO_PACKED, the guest told
 *       "packed"): ring positions and wrap counters are saved
 *
 * In each case the guest's output (before + after), its exit status and
 * the image file must equal those of an uninterrupted run.
 */
#include <libvmm/libvmm.h>

#include "mcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 6000 /* long enough that the source is still running when
		      * a live migration (a few hundred ms here) ends */
#define PAUSE_AT "snaprw: round 400\n"
#define IMG_SIZE (1u << 20)
#define RAM (64ull << 20)
#define PCI_SLOT 3
#define MMIO_BASE 0xd0000000ull

struct run {
	enum vmm_backend backend;
	enum vmm_virtio_transport tr;
	const char *img;
	bool packed;              /* VMM_VIRTIO_PACKED, guest "packed" */
	pthread_mutex_t lock;
	char out[1 << 16];
	size_t out_len;
	int64_t value;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void log_cb(void *opaque, int level, const char *msg)
{
	if (level <= VMM_LOG_WARN)
		fprintf(stderr, "libvmm: %s\n", msg);
}

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct run *r = opaque;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < len && r->out_len < sizeof(r->out) - 1; i++)
		r->out[r->out_len++] = (char)buf[i];
	r->out[r->out_len] = 0;
	pthread_mutex_unlock(&r->lock);
}

/* The restore attach callback too: the same devices at the same places. */
static int attach(void *opaque, vmm_vm *vm)
{
	struct run *r = opaque;
	struct vmm_uart_config uc;
	struct vmm_virtio_blk_config bc;
	vmm_dev *d, *host = NULL;
	int ret;

	vmm_uart_config_init(&uc);
	uc.out_cb = uart_out;
	uc.out_opaque = r;
	if ((ret = vmm_uart_attach(vm, &uc, &d)) ||
	    (ret = vmm_debug_exit_attach(vm, 0xf4, 4, &d)))
		return ret;
	if (r->tr == VMM_VIRTIO_PCI &&
	    (ret = vmm_pci_host_attach(vm, &host)))
		return ret;
	vmm_virtio_blk_config_init(&bc, r->tr);
	bc.path = r->img;
	bc.virtio.pci_host = host;
	bc.virtio.pci_slot = PCI_SLOT;
	bc.virtio.mmio_base = MMIO_BASE;
	bc.virtio.flags = r->packed ? VMM_VIRTIO_PACKED : 0;
	return vmm_virtio_blk_attach(vm, &bc, &d);
}

static void make_image(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0 && ftruncate(fd, IMG_SIZE) == 0, "%s", path);
	close(fd);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long n;

	CHECK(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)n + 1);
	CHECK(b && fread(b, 1, (size_t)n, f) == (size_t)n, "read %s", path);
	fclose(f);
	b[n] = 0;
	*len = (size_t)n;
	return b;
}

static vmm_vm *create(struct run *r, const char *guest)
{
	struct vmm_config cfg;
	struct vmm_boot_info info;
	vmm_vm *vm;
	vmm_vcpu *vcpu;
	size_t len;
	char *img = read_all(guest, &len), cmd[64];
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = r->backend;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	/* the soft backend cannot save an interrupt controller (yet); the
	 * guest polls, it needs none */
	if (r->backend == VMM_BACKEND_SOFT)
		cfg.flags |= VMM_CFG_NO_IRQCHIP;
	cfg.log = log_cb;
	ret = vmm_vm_create(&cfg, &vm);
	if (ret == -ENODEV || ret == -ENOENT || ret == -ENOTSUP) {
		printf("SKIP: no %s backend here: %s\n",
		       vmm_backend_name(r->backend), vmm_strerror(ret));
		exit(77);
	}
	OK(NULL, ret);
	OK(vm, vmm_mem_add_ram(vm, 0, RAM));
	OK(vm, vmm_vcpu_create(vm, 0, &vcpu));
	OK(vm, attach(r, vm));
	snprintf(cmd, sizeof(cmd), "snaprw=%u%s", ROUNDS,
		 r->packed ? " packed" : "");
	OK(vm, vmm_image_load_multiboot(vm, img, len, cmd, NULL, 0, &info));
	OK(vm, vmm_boot_setup_vcpu(vcpu, &info));
	free(img);
	return vm;
}

static int64_t run_to_exit(vmm_vcpu *vcpu)
{
	struct vmm_exit e;

	for (;;) {
		int ret = vmm_vcpu_run_loop(vcpu, &e);

		if (ret)
			return ret;
		if (e.kind == VMM_EXIT_GUEST_EXIT)
			return e.guest.value;
		if (e.kind != VMM_EXIT_INTERRUPTED)
			return -EIO;
	}
}

static int on_exit_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	struct run *r = opaque;

	if (e->kind == VMM_EXIT_GUEST_EXIT) {
		r->value = e->guest.value;
		return 1;
	}
	return e->kind == VMM_EXIT_INTERRUPTED ? 0 : -EIO;
}

static void init_run(struct run *r, enum vmm_backend b,
		     enum vmm_virtio_transport tr, bool packed, const char *img)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->backend = b;
	r->tr = tr;
	r->img = img;
	r->packed = packed;
	r->value = -1;
}

/* Start @vm on its threads and wait until the guest is mid-sequence. */
static void start_and_wait(vmm_vm *vm, struct run *r)
{
	double t0 = now_ms();

	OK(vm, vmm_vm_start(vm, on_exit_cb, r));
	for (;;) {
		bool there;

		pthread_mutex_lock(&r->lock);
		there = strstr(r->out, PAUSE_AT) != NULL;
		pthread_mutex_unlock(&r->lock);
		if (there)
			break;
		CHECK(r->value == -1, "guest ended before the pause point:\n%s",
		      r->out);
		CHECK(now_ms() - t0 < 60000, "guest too slow:\n%s", r->out);
		usleep(200);
	}
}

static void compare(const char *what, const struct run *ref, const char *out,
		    int64_t value, const char *img_ref, const char *img)
{
	size_t la, lb;
	char *a = read_all(img_ref, &la), *b = read_all(img, &lb);

	CHECK(value == ref->value, "%s: exit value %lld, uninterrupted %lld\n%s",
	      what, (long long)value, (long long)ref->value, out);
	CHECK(strcmp(out, ref->out) == 0,
	      "%s: output differs\n--- uninterrupted:\n%s--- interrupted:\n%s",
	      what, ref->out, out);
	CHECK(la == lb && memcmp(a, b, la) == 0, "%s: image files differ", what);
	free(a);
	free(b);
}

struct rx {
	int fd, ret;
	struct run *r;
	vmm_vm *vm;
	struct vmm_migrate_stats st;
};

static void *rx_thread(void *arg)
{
	struct rx *x = arg;
	struct vmm_restore_opts ro = { .attach = attach, .opaque = x->r };
	struct vmm_config ov;

	vmm_config_init(&ov);
	ov.backend = x->r->backend;
	ov.log = log_cb;
	x->st.struct_size = sizeof(x->st);
	x->ret = vmm_migrate_receive(x->fd, &ov, &ro, NULL, &x->vm, &x->st);
	return NULL;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/vmm-snapvirtio-XXXXXX", ref_img[96], img[96],
	     snap[96], out[1 << 17];
	enum vmm_virtio_transport tr;
	enum vmm_backend b = VMM_BACKEND_KVM;
	struct run *ref = calloc(1, sizeof(*ref)), *src = calloc(1, sizeof(*src)),
		   *dst = calloc(1, sizeof(*dst));
	const char *mode;
	char why[160];
	bool packed;
	vmm_vm *vm;
	double t0;

	if (argc < 3) {
		fprintf(stderr, "usage: test_snap_virtio IMAGE snap-mmio|snap-pci|migrate [kvm|soft]\n");
		return 2;
	}
	mode = argv[2];
	if (argc > 3 && !strcmp(argv[3], "soft"))
		b = VMM_BACKEND_SOFT;
	if (b == VMM_BACKEND_KVM &&
	    vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
		printf("SKIP: no KVM: %s\n", why);
		return 77;
	}
	tr = !strncmp(mode, "snap-mmio", 9) ? VMM_VIRTIO_MMIO : VMM_VIRTIO_PCI;
	packed = strstr(mode, "-packed") != NULL;
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(ref_img, sizeof(ref_img), "%s/ref.img", dir);
	snprintf(img, sizeof(img), "%s/run.img", dir);
	snprintf(snap, sizeof(snap), "%s/vm.snap", dir);

	/* the uninterrupted run */
	make_image(ref_img);
	init_run(ref, b, tr, packed, ref_img);
	vm = create(ref, argv[1]);
	t0 = now_ms();
	ref->value = run_to_exit(vmm_vm_get_vcpu(vm, 0));
	if (b == VMM_BACKEND_SOFT && ref->value < 0) {
		printf("SKIP: the soft backend cannot run the guest: %s\n",
		       vmm_strerror((int)ref->value));
		vmm_vm_destroy(vm);
		goto skip;
	}
	vmm_vm_destroy(vm);
	CHECK(ref->value == 0x60 && strstr(ref->out, "rounds done"),
	      "reference run failed (%lld):\n%s", (long long)ref->value,
	      ref->out);
	printf("uninterrupted run: %.1f ms\n", now_ms() - t0);

	make_image(img);
	init_run(src, b, tr, packed, img);
	init_run(dst, b, tr, packed, img);
	vm = create(src, argv[1]);
	start_and_wait(vm, src);

	if (!strncmp(mode, "snap-", 5)) {
		struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
		struct vmm_restore_opts ro = { .attach = attach, .opaque = dst };
		struct vmm_snapshot_info si = { .struct_size = sizeof(si) };
		struct vmm_config ov;
		vmm_snapshot *s;
		char err[256] = "";
		struct stat sb;
		double ts, tr_;

		OK(vm, vmm_vm_pause(vm));
		ts = now_ms();
		OK(vm, vmm_snapshot_save(vm, snap, &so));
		ts = now_ms() - ts;
		pthread_mutex_lock(&src->lock);
		snprintf(out, sizeof(out), "%s", src->out);
		pthread_mutex_unlock(&src->lock);
		vmm_vm_destroy(vm);
		CHECK(src->value == -1, "guest ended before the snapshot");

		tr_ = now_ms();
		CHECK(vmm_snapshot_open(snap, &s, err, sizeof(err)) == 0, "%s",
		      err);
		OK(NULL, vmm_snapshot_get_info(s, &si));
		vmm_config_init(&ov);
		ov.backend = b;
		ov.log = log_cb;
		OK(NULL, vmm_snapshot_restore_snap(s, &ov, &ro, &vm));
		tr_ = now_ms() - tr_;
		CHECK(stat(snap, &sb) == 0, "stat");
		printf("%s: snapshot %llu bytes in the file (%llu on disk), %u "
		       "devices, %llu pages stored; save %.2f ms, open+restore "
		       "%.2f ms\n",
		       mode, (unsigned long long)si.file_bytes,
		       (unsigned long long)sb.st_blocks * 512, si.devices,
		       (unsigned long long)si.stored_pages, ts, tr_);
		vmm_snapshot_close(s);
	} else {
		struct vmm_migrate_opts mo = { .max_downtime_ms = 10 };
		struct vmm_migrate_stats st = { .struct_size = sizeof(st) };
		struct rx x = { .r = dst };
		pthread_t t;
		int sv[2], ret;

		CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
		x.fd = sv[1];
		pthread_create(&t, NULL, rx_thread, &x);
		ret = vmm_migrate_send(vm, sv[0], &mo, &st);
		pthread_join(t, NULL);
		OK(vm, ret);
		OK(NULL, x.ret);
		printf("migrate: %u rounds, %llu pages, %llu bytes, last round "
		       "%llu pages, downtime %.2f ms, total %.1f ms\n",
		       st.rounds, (unsigned long long)st.pages_sent,
		       (unsigned long long)st.bytes_sent,
		       (unsigned long long)st.last_round_pages, st.downtime_ms,
		       st.total_ms);
		CHECK(src->value == -1, "source finished before migrating");
		pthread_mutex_lock(&src->lock);
		snprintf(out, sizeof(out), "%s", src->out);
		pthread_mutex_unlock(&src->lock);
		vmm_vm_destroy(vm);
		vm = x.vm;
		close(sv[0]);
		close(sv[1]);
	}
	dst->value = run_to_exit(vmm_vm_get_vcpu(vm, 0));
	vmm_vm_destroy(vm);
	strncat(out, dst->out, sizeof(out) - strlen(out) - 1);
	compare(mode, ref, out, dst->value, ref_img, img);
	printf("%s: guest continued exactly (%zu output bytes before, %zu after)\n",
	       mode, strlen(out) - strlen(dst->out), strlen(dst->out));
	unlink(snap);
	unlink(img);
	unlink(ref_img);
	rmdir(dir);
	free(ref);
	free(src);
	free(dst);
	return 0;
skip:
	unlink(ref_img);
	rmdir(dir);
	free(ref);
	free(src);
	free(dst);
	return 77;
}
