/* SPDX-License-Identifier: MIT */
/*
 * vhost_user_client - a libvmm VM (KVM, memfd guest RAM) whose virtio-blk
 * is an external vhost-user back-end: vmm_vhost_user_attach() on virtio-mmio,
 * then the guest driver of tests/guests/virtio writes 8 sectors, reads them
 * back, flushes, asks for the id, reads past the end (IOERR) and leaves a
 * marker at sector 0.  Also checks that anonymous guest RAM is refused.
 * Public API only.
 *
 *   vhost_user_client GUEST_IMAGE SOCKET [mmio|pci]
 * Exit 0 when the guest passed, 77 without /dev/kvm, 1 otherwise.
 */
#include <libvmm/libvmm.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_EXIT_VIRTIO 193

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= VMM_LOG_WARN)
		fprintf(stderr, "libvmm: %s\n", msg);
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static int make_vm(bool memfd, vmm_vm **vm)
{
	struct vmm_config cfg;
	struct vmm_mem_region r = { .gpa = 0, .size = 64 << 20,
				    .source = memfd ? VMM_MEM_MEMFD : VMM_MEM_ANON,
				    .name = "ram" };
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_KVM;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	cfg.log = log_cb;
	cfg.log_level = VMM_LOG_WARN;
	if ((ret = vmm_vm_create(&cfg, vm)))
		return ret;
	return vmm_mem_add(*vm, &r);
}

int main(int argc, char **argv)
{
	struct vmm_vhost_user_config vc;
	struct vmm_uart_config uc;
	struct vmm_boot_info info;
	struct vmm_virtio_stats st = { .struct_size = sizeof(st) };
	struct vmm_exit e;
	vmm_vcpu *vcpu;
	vmm_dev *dev, *blk;
	vmm_vm *vm;
	size_t len = 0;
	char *img, msg[256];
	int ret;

	bool pci = argc > 3 && !strcmp(argv[3], "pci");

	if (argc < 3) {
		fprintf(stderr, "usage: vhost_user_client GUEST_IMAGE SOCKET "
			"[mmio|pci]\n");
		return 2;
	}
	{
		char why[160];
		if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
			printf("no KVM (%s): skip\n", why);
			return 77;
		}
	}
	img = read_file(argv[1], &len);
	if (!img) {
		fprintf(stderr, "cannot read %s\n", argv[1]);
		return 1;
	}
	memset(&vc, 0, sizeof(vc));
	vc.socket_path = argv[2];
	vc.device = VMM_VHOST_USER_BLK;
	vmm_virtio_config_init(&vc.virtio, pci ? VMM_VIRTIO_PCI
					       : VMM_VIRTIO_MMIO);
	vc.virtio.mmio_base = 0xd0000000;

	/* anonymous RAM cannot be shared with the back-end: refused */
	if ((ret = make_vm(false, &vm))) {
		fprintf(stderr, "VM: %s\n", vmm_strerror(ret));
		return 1;
	}
	ret = vmm_vhost_user_attach(vm, &vc, &blk);
	if (ret != -EINVAL) {
		fprintf(stderr, "anonymous RAM: attach gave %d, want -EINVAL\n",
			ret);
		return 1;
	}
	vmm_last_error(vm, msg, sizeof(msg));
	printf("anonymous RAM refused: %s\n", msg);
	vmm_vm_destroy(vm);

	if ((ret = make_vm(true, &vm)) || (ret = vmm_vcpu_create(vm, 0, &vcpu))) {
		fprintf(stderr, "VM: %s\n", vmm_strerror(ret));
		return 1;
	}
	vmm_uart_config_init(&uc);
	uc.out_fd = 1;
	if (pci && (ret = vmm_pci_host_attach(vm, &vc.virtio.pci_host))) {
		fprintf(stderr, "PCI host: %s\n", vmm_strerror(ret));
		return 1;
	}
	if ((ret = vmm_uart_attach(vm, &uc, &dev)) ||
	    (ret = vmm_debug_exit_attach(vm, 0xf4, 4, &dev)) ||
	    (ret = vmm_vhost_user_attach(vm, &vc, &blk)) ||
	    (ret = vmm_image_load_multiboot(vm, img, len, "", NULL, 0, &info)) ||
	    (ret = vmm_boot_setup_vcpu(vcpu, &info))) {
		vmm_last_error(vm, msg, sizeof(msg));
		fprintf(stderr, "setup: %s: %s\n", vmm_strerror(ret), msg);
		return 1;
	}
	do
		ret = vmm_vcpu_run_loop(vcpu, &e);
	while (!ret && e.kind == VMM_EXIT_INTERRUPTED);
	fflush(stdout);
	if (vmm_virtio_get_stats(blk, &st) == 0)
		printf("vhost-user blk: %llu kicks, %llu interrupts, "
		       "ioeventfd %d, status 0x%x\n",
		       (unsigned long long)st.kicks,
		       (unsigned long long)st.interrupts, st.ioeventfd,
		       st.status);
	if (ret || e.kind != VMM_EXIT_GUEST_EXIT ||
	    e.guest.status != GUEST_EXIT_VIRTIO) {
		fprintf(stderr, "guest did not pass: ret %d, exit %s (status "
			"%u)\n", ret, vmm_exit_name(e.kind), e.guest.status);
		vmm_vm_destroy(vm);
		return 1;
	}
	vmm_vm_destroy(vm);
	free(img);
	printf("guest passed over vhost-user\n");
	return 0;
}
