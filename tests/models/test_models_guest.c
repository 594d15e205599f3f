// SPDX-License-Identifier: MIT
/*
 * test_models_guest - the device-models guest (tests/guests/models) through
 * the public API, one scenario per run:
 *
 *   test_models_guest BACKEND IMAGE SCENARIO
 *
 *   direct-console  16 KiB of console text through the UART
 *   direct-block    the trapped block device: the guest writes a pattern
 *                   and reads it back; the host checks the file
 *   blkerr-io       image fd opened read-only: the guest's write ends in
 *                   ST_ERR / E_IO, reads still work
 *   blkerr-ro       readonly medium: ST_ERR / E_RO
 *   hostile         hostile register values, each refused, device usable
 *   touch           passthrough memfd: zero exits while the guest loops over
 *                   it; host sees the guest's data; detach leaves nothing
 *   ring-console    16 KiB of console text through the passthrough ring
 *   ring-block      the block workload through the passthrough ring
 *   virtio-console  16 KiB of console text through virtio-console (split)
 *   virtio-block    the block workload through virtio-blk (split), attached
 *                   with vmm_block_attach(VMM_MODEL_SPLIT)
 *   snapshot        snapshot and migration refuse a VM with a passthrough
 *                   device up front (-EOPNOTSUPP naming it, no file, no
 *                   byte sent); with the trapped block device they work
 *
 * Exit 0 pass, 1 fail, 77 skip (backend absent, or the software backend
 * cannot run this guest).
 */
#include "../guest/harness.h"
#include "../guests/models/ptring_host.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/mman.h>
#include <errno.h>
#include <unistd.h>

#define STATUS_MODELS GH_STATUS(0x60)
#define PT_GPA 0xc0000000ull
#define MARKER_PORT 0x5f0

static enum vmm_backend backend;

static void load(struct gh_vm *g, const char *path, const char *cmdline)
{
	size_t len;
	char *img = gh_read_file(path, &len);

	GH_OK(g, vmm_image_load_multiboot(g->vm, img, len, cmdline, NULL, 0,
				    &g->info));
	GH_OK(g, vmm_boot_setup_vcpu(g->vcpu, &g->info));
	free(img);
}

/* Run to the guest's end; soft backend that cannot run it: skip. */
static void run_to_end(struct gh_vm *g)
{
	struct vmm_exit ex;
	char buf[160];

	gh_run(g, &ex);
	if (ex.kind == VMM_EXIT_INTERNAL && backend == VMM_BACKEND_SOFT) {
		printf("SKIP: the software backend cannot run this guest: %s\n",
		       gh_describe_exit(&ex, buf, sizeof(buf)));
		exit(77);
	}
	if (ex.kind != VMM_EXIT_GUEST_EXIT || ex.guest.status != STATUS_MODELS) {
		char *out = gh_output(g);
		fprintf(stderr, "guest output:\n%s\n", out);
		free(out);
		gh_fail(g, "guest ended with %s, want status %d",
			gh_describe_exit(&ex, buf, sizeof(buf)), STATUS_MODELS);
	}
}

static uint32_t pattern(uint64_t sector, uint32_t i)
{
	uint32_t x = (uint32_t)(sector * 0x9e3779b1u) ^ (i * 0x85ebca6bu);
	return x ^ (x >> 13);
}

static int temp_image(struct gh_vm *g, size_t size)
{
	char path[] = "/tmp/vmm-models-XXXXXX";
	int fd = mkstemp(path);

	GH_CHECK(g, fd >= 0, "mkstemp");
	unlink(path);
	GH_CHECK(g, ftruncate(fd, (off_t)size) == 0, "ftruncate");
	return fd;
}

static void check_image(struct gh_vm *g, int fd, uint64_t kib)
{
	uint32_t sec[128];

	for (uint64_t s = 0; s < kib * 2; s++) {
		GH_CHECK(g, pread(fd, sec, 512, (off_t)(s * 512)) == 512,
			 "pread");
		for (uint32_t i = 0; i < 128; i++)
			GH_CHECK(g, sec[i] == pattern(s, i),
				 "image sector %llu word %u: 0x%x",
				 (unsigned long long)s, i, sec[i]);
	}
}

static void check_console(struct gh_vm *g, const char *text, size_t len,
			  uint64_t kib)
{
	size_t want = kib * 1024;
	const char *p = strstr(text, "con 00000000 ");

	GH_CHECK(g, p, "no console text");
	GH_CHECK(g, (size_t)(text + len - p) >= want, "console text short");
	for (uint64_t l = 0; l < kib * 16; l++) {
		char head[16];
		snprintf(head, sizeof(head), "con %08llx ", (unsigned long long)l);
		GH_CHECK(g, !memcmp(p + l * 64, head, 13) && p[l * 64 + 63] == '\n',
			 "console line %llu wrong", (unsigned long long)l);
	}
}

static void direct_block(struct gh_vm *g, const char *image, int fd_mode,
			 bool readonly, const char *work)
{
	struct vmm_block_config bc;
	struct vmm_trapblk_stats st = { .struct_size = sizeof(st) };
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	char cmd[128];
	vmm_dev *dev;
	int fd = temp_image(g, 1 << 20);

	vmm_block_config_init(&bc);
	bc.model = VMM_MODEL_DIRECT;
	bc.readonly = readonly;
	if (fd_mode == O_RDONLY) {
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		bc.fd = open(p, O_RDONLY);
		GH_CHECK(g, bc.fd >= 0, "reopen read-only");
	} else {
		bc.fd = fd;
	}
	GH_OK(g, vmm_block_attach(g->vm, &bc, &dev));
	if (bc.fd != fd)
		close(bc.fd);
	GH_OK(g, vmm_dev_get_info(dev, &info));
	GH_CHECK(g, info.model == VMM_MODEL_DIRECT && info.migratable &&
			    info.shareable && info.traps,
		 "trapblk info");
	snprintf(cmd, sizeof(cmd), "model=direct work=%s kib=64", work);
	load(g, image, cmd);
	run_to_end(g);
	GH_OK(g, vmm_trapblk_get_stats(dev, &st));
	printf("trapblk: %llu register traps, %llu sectors read, %llu "
	       "written, %llu errors\n",
	       (unsigned long long)st.reg_accesses,
	       (unsigned long long)st.sectors_read,
	       (unsigned long long)st.sectors_written,
	       (unsigned long long)st.errors);
	if (!strcmp(work, "block")) {
		check_image(g, fd, 64);
		GH_CHECK(g, st.sectors_written == 128 && st.sectors_read == 128,
			 "sector counts");
		GH_CHECK(g, st.reg_accesses >= 2 * 128 * 128, "too few traps");
	} else {
		GH_CHECK(g, st.errors > 0, "no error counted");
	}
	GH_OK(g, vmm_dev_detach(dev));
	close(fd);
}

static int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static void touch(struct gh_vm *g, const char *image)
{
	const size_t size = 4 << 20;
	struct vmm_passthrough_config pc;
	struct vmm_vm_stats s0 = { .struct_size = sizeof(s0) },
		s1 = { .struct_size = sizeof(s1) };
	struct vmm_mem_info regions[16];
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	struct vmm_exit ex;
	char cmd[160], name[64];
	vmm_dev *dev;
	int fd, n;

	snprintf(name, sizeof(name), "vmm-models-touch-%d", (int)getpid());
	fd = memfd_create(name, MFD_CLOEXEC);
	GH_CHECK(g, fd >= 0 && ftruncate(fd, (off_t)size) == 0, "memfd");
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = size;
	pc.gpa = PT_GPA;
	GH_OK(g, vmm_passthrough_attach(g->vm, &pc, &dev));
	GH_OK(g, vmm_dev_get_info(dev, &info));
	GH_CHECK(g, info.model == VMM_MODEL_PASSTHROUGH && !info.migratable &&
			    !info.shareable && info.exclusive && !info.traps,
		 "passthrough info");
	GH_CHECK(g, count_maps(name) == 1, "region not mapped once");

	snprintf(cmd, sizeof(cmd),
		 "model=direct work=touch pt=0x%llx kib=%zu passes=8",
		 PT_GPA, size / 1024);
	load(g, image, cmd);
	gh_run(g, &ex);
	if (ex.kind == VMM_EXIT_INTERNAL && backend == VMM_BACKEND_SOFT) {
		printf("SKIP: the software backend cannot run this guest\n");
		exit(77);
	}
	GH_CHECK(g, ex.kind == VMM_EXIT_IO && ex.io.port == MARKER_PORT,
		 "first marker missing (exit %s)", vmm_exit_name(ex.kind));
	GH_OK(g, vmm_vm_get_stats(g->vm, &s0));
	gh_run(g, &ex);
	GH_CHECK(g, ex.kind == VMM_EXIT_IO && ex.io.port == MARKER_PORT,
		 "second marker missing (exit %s)", vmm_exit_name(ex.kind));
	GH_OK(g, vmm_vm_get_stats(g->vm, &s1));
	printf("passthrough loop over %zu KiB x8: %llu exits (%llu io, %llu "
	       "mmio) including the closing marker\n",
	       size / 1024, (unsigned long long)(s1.exits - s0.exits),
	       (unsigned long long)(s1.io_exits - s0.io_exits),
	       (unsigned long long)(s1.mmio_exits - s0.mmio_exits));
	GH_CHECK(g, s1.mmio_exits == s0.mmio_exits, "MMIO exits on passthrough");
	GH_CHECK(g, s1.io_exits - s0.io_exits == 1, "stray I/O exits");
	/* exits: the marker, plus host-side interruptions KVM reports */
	GH_CHECK(g, s1.exits - s0.exits <= 2, "exits during the loop");
	run_to_end(g);

	/* the host sees what the guest wrote, through its own fd */
	{
		uint32_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		GH_CHECK(g, p != MAP_FAILED, "mmap");
		for (size_t i = 0; i < size / 4; i++)
			GH_CHECK(g, p[i] == ((uint32_t)i ^ 0x5a5a5a5au),
				 "word %zu: 0x%x", i, p[i]);
		munmap(p, size);
	}
	/* detach leaves no mapping behind */
	GH_OK(g, vmm_dev_detach(dev));
	regions[0].struct_size = sizeof(regions[0]);
	n = vmm_mem_get_regions(g->vm, regions, 16);
	for (int i = 0; i < n && i < 16; i++)
		GH_CHECK(g, regions[i].gpa + regions[i].size <= PT_GPA ||
				    regions[i].gpa >= PT_GPA + size,
			 "region left at 0x%llx",
			 (unsigned long long)regions[i].gpa);
	GH_CHECK(g, count_maps(name) == 0, "host mapping left behind");
	/* and the range can be attached again, exclusively, now with an
	 * interrupt eventfd: it is routed while attached (a second route of
	 * the same fd is refused) and unrouted by detach */
	{
		struct vmm_irq_route rt = { .kind = VMM_IRQ_ROUTE_LINE, .gsi = 10 };
		int efd = eventfd(0, EFD_CLOEXEC);
		uint64_t one = 1;

		GH_CHECK(g, efd >= 0, "eventfd");
		pc.irq_fd = efd;
		pc.irq_gsi = 10;
		GH_OK(g, vmm_passthrough_attach(g->vm, &pc, &dev));
		GH_CHECK(g, vmm_irqfd_add(g->vm, efd, &rt) == -EEXIST,
			 "irq_fd not routed");
		GH_CHECK(g, write(efd, &one, 8) == 8, "signal");
		GH_OK(g, vmm_dev_detach(dev));
		GH_OK(g, vmm_irqfd_add(g->vm, efd, &rt));
		GH_OK(g, vmm_irqfd_remove(g->vm, efd));
		close(efd);
	}
	close(fd);
}

static void ring(struct gh_vm *g, const char *image, bool block)
{
	struct vmm_passthrough_config pc;
	struct ptring_server srv;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	char cmd[160];
	vmm_dev *dev;
	int fd = memfd_create("vmm-models-ring", MFD_CLOEXEC);
	int img = block ? temp_image(g, 1 << 20) : -1;

	GH_CHECK(g, fd >= 0 && ftruncate(fd, PTRING_MAP_SIZE) == 0, "memfd");
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = PTRING_MAP_SIZE;
	pc.gpa = PT_GPA;
	GH_OK(g, vmm_passthrough_attach(g->vm, &pc, &dev));
	GH_CHECK(g, ptring_server_start(&srv, fd, img, 64 << 10) == 0,
		 "ring server");
	snprintf(cmd, sizeof(cmd), "model=ring ring=0x%llx work=%s kib=%s",
		 PT_GPA, block ? "block" : "console", block ? "256" : "16");
	load(g, image, cmd);
	run_to_end(g);
	ptring_server_stop(&srv);
	GH_OK(g, vmm_vm_get_stats(g->vm, &st));
	printf("ring %s: %llu requests, %llu console bytes, %llu exits in "
	       "all (%llu io)\n", block ? "block" : "console",
	       (unsigned long long)srv.requests,
	       (unsigned long long)srv.con_bytes,
	       (unsigned long long)st.exits, (unsigned long long)st.io_exits);
	GH_CHECK(g, srv.bad_requests == 0, "bad requests");
	if (block) {
		check_image(g, img, 256);
		GH_CHECK(g, srv.requests == 8, "requests: %llu",
			 (unsigned long long)srv.requests);
		close(img);
	} else {
		GH_CHECK(g, srv.con_bytes == 16 * 1024, "console bytes %llu",
			 (unsigned long long)srv.con_bytes);
		check_console(g, srv.con, srv.con_len, 16);
	}
	/* the status lines go to the UART; the data path adds no exits:
	 * fewer exits than one per 64 bytes of data */
	GH_CHECK(g, st.exits < (block ? 512 : 16) * 1024 / 64,
		 "too many exits for a passthrough ring");
	ptring_server_free(&srv);
	GH_OK(g, vmm_dev_detach(dev));
	close(fd);
}

static void split(struct gh_vm *g, const char *image, bool block)
{
	struct vmm_virtio_console_config cc;
	struct vmm_block_config bc;
	struct vmm_virtio_stats vs = { .struct_size = sizeof(vs) };
	struct vmm_dev_info info = { .struct_size = sizeof(info) };
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	char cmd[160];
	vmm_dev *dev;
	int fd = temp_image(g, block ? 1 << 20 : 0);

	if (block) {
		vmm_block_config_init(&bc);
		bc.model = VMM_MODEL_SPLIT;
		bc.mmio_base = 0xd0000000;
		bc.fd = fd;
		GH_OK(g, vmm_block_attach(g->vm, &bc, &dev));
		snprintf(cmd, sizeof(cmd),
			 "model=virtio vblk=0xd0000000 work=block kib=256");
	} else {
		vmm_virtio_console_config_init(&cc, VMM_VIRTIO_MMIO);
		cc.virtio.mmio_base = 0xd0001000;
		cc.out_fd = fd;
		cc.in_fd = -1;
		GH_OK(g, vmm_virtio_console_attach(g->vm, &cc, &dev));
		snprintf(cmd, sizeof(cmd),
			 "model=virtio vcon=0xd0001000 work=console kib=16");
	}
	GH_OK(g, vmm_dev_get_info(dev, &info));
	GH_CHECK(g, info.model == VMM_MODEL_SPLIT && info.migratable &&
			    info.shareable, "virtio device info");
	load(g, image, cmd);
	run_to_end(g);
	GH_OK(g, vmm_vm_get_stats(g->vm, &st));
	GH_OK(g, vmm_virtio_get_stats(dev, &vs));
	printf("split %s: %llu kicks, %llu requests, %llu exits in all, "
	       "ioeventfd %d\n", block ? "block" : "console",
	       (unsigned long long)vs.kicks, (unsigned long long)vs.requests,
	       (unsigned long long)st.exits, vs.ioeventfd);
	GH_OK(g, vmm_dev_detach(dev));
	if (block) {
		check_image(g, fd, 256);
		GH_CHECK(g, vs.requests == 8, "requests");
	} else {
		size_t len = 0;
		char *text, p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		text = gh_read_file(p, &len);
		GH_CHECK(g, len == 16 * 1024, "console bytes %zu", len);
		check_console(g, text, len, 16);
		free(text);
	}
	close(fd);
}

static void snapshot_rules(struct gh_vm *g, const char *image)
{
	struct vmm_passthrough_config pc;
	struct vmm_block_config bc;
	char path[64], msg[256];
	vmm_dev *pt, *blk;
	int fd = memfd_create("vmm-models-snap", MFD_CLOEXEC), sv[2];
	int img = temp_image(g, 1 << 20), can_save;
	char b;

	load(g, image, "model=direct work=console kib=1");
	vmm_block_config_init(&bc);
	bc.fd = img;
	GH_OK(g, vmm_block_attach(g->vm, &bc, &blk));
	snprintf(path, sizeof(path), "/tmp/vmm-models-snap-%d", (int)getpid());
	can_save = vmm_snapshot_save(g->vm, path, NULL);
	if (can_save) {
		/* some backends cannot snapshot at all yet (soft: irqchip);
		 * the refusal below must still name the device */
		vmm_last_error(g->vm, msg, sizeof(msg));
		printf("note: this backend cannot snapshot: %s\n", msg);
		GH_CHECK(g, backend == VMM_BACKEND_SOFT, "snapshot failed");
	}
	unlink(path);

	GH_CHECK(g, fd >= 0 && ftruncate(fd, 1 << 20) == 0, "memfd");
	vmm_passthrough_config_init(&pc);
	pc.fd = fd;
	pc.size = 1 << 20;
	pc.gpa = PT_GPA;
	GH_OK(g, vmm_passthrough_attach(g->vm, &pc, &pt));
	GH_CHECK(g, vmm_snapshot_save(g->vm, path, NULL) == -EOPNOTSUPP,
		 "snapshot with passthrough not refused");
	vmm_last_error(g->vm, msg, sizeof(msg));
	printf("snapshot refused: %s\n", msg);
	GH_CHECK(g, strstr(msg, vmm_dev_name(pt)), "message does not name it");
	GH_CHECK(g, access(path, F_OK) != 0, "a snapshot file was left");
	GH_CHECK(g, socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	GH_CHECK(g, vmm_migrate_send(g->vm, sv[0], NULL, NULL) == -EOPNOTSUPP,
		 "migration with passthrough not refused");
	vmm_last_error(g->vm, msg, sizeof(msg));
	printf("migration refused: %s\n", msg);
	GH_CHECK(g, strstr(msg, vmm_dev_name(pt)), "message does not name it");
	GH_CHECK(g, recv(sv[1], &b, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN,
		 "migration sent bytes before refusing");
	/* without it, both work again */
	GH_OK(g, vmm_dev_detach(pt));
	if (!can_save)
		GH_OK(g, vmm_snapshot_save(g->vm, path, NULL));
	unlink(path);
	close(sv[0]);
	close(sv[1]);
	close(fd);
	close(img);
}

int main(int argc, char **argv)
{
	struct gh_vm g;
	const char *image, *sc;

	if (argc > 1 && !strcmp(argv[1], "soft") &&
	    vmm_backend_available(VMM_BACKEND_SOFT) != 0) {
		printf("SKIP: the software backend is not available\n");
		return 77;
	}
	backend = gh_init(argc, argv, 4, "IMAGE SCENARIO");
	image = argv[2];
	sc = argv[3];
	gh_create(&g, sc, backend, 0, GH_RAM_DEFAULT);

	if (!strcmp(sc, "direct-console")) {
		char *out;
		load(&g, image, "model=direct work=console kib=16");
		run_to_end(&g);
		out = gh_output(&g);
		check_console(&g, out, strlen(out), 16);
		free(out);
	} else if (!strcmp(sc, "direct-block")) {
		direct_block(&g, image, O_RDWR, false, "block");
	} else if (!strcmp(sc, "blkerr-io")) {
		direct_block(&g, image, O_RDONLY, false, "blkerr");
	} else if (!strcmp(sc, "blkerr-ro")) {
		direct_block(&g, image, O_RDWR, true, "blkerr");
	} else if (!strcmp(sc, "hostile")) {
		direct_block(&g, image, O_RDWR, false, "hostile");
	} else if (!strcmp(sc, "touch")) {
		touch(&g, image);
	} else if (!strcmp(sc, "ring-console")) {
		ring(&g, image, false);
	} else if (!strcmp(sc, "ring-block")) {
		ring(&g, image, true);
	} else if (!strcmp(sc, "virtio-console")) {
		split(&g, image, false);
	} else if (!strcmp(sc, "virtio-block")) {
		split(&g, image, true);
	} else if (!strcmp(sc, "snapshot")) {
		snapshot_rules(&g, image);
	} else {
		gh_fail(&g, "unknown scenario %s", sc);
	}
	gh_destroy(&g);
	printf("PASS %s\n", sc);
	return 0;
}
