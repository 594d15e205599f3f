/* SPDX-License-Identifier: MIT */
/*
 * vmm-run - a minimal VMM on libvmm's public API.
 *
 *   vmm-run [--backend auto|kvm|soft] [-m MEM] [--cpus N] --kernel FILE
 *           [--initrd FILE] [--cmdline STR] [--format flat|elf|multiboot|bzimage]
 *           [--load-addr ADDR] [--mode real16|prot32|long64|long64-user] [--timeout SEC]
 *           [--stats] [--quiet] [--snapshot-on-exit FILE] [--gdb PORT|PATH]
 *           [--irqchip default|kernel|split|none]
 *   vmm-run [--backend ...] --restore FILE [--snapshot-on-exit FILE] ...
 *
 * Serial (COM1) goes to stdout.  The exit status is the guest's debug-exit
 * status ((value << 1) | 1, port 0xf4), as QEMU's isa-debug-exit gives it;
 * 0 when the guest shuts down, resets or powers off (QEMU -no-reboot), 1 on
 * an error, 124 on --timeout.
 *
 * --snapshot-on-exit FILE saves the VM (memory, vCPUs, devices, interrupt
 * controllers) when it stops, for whatever reason (guest exit, --timeout);
 * --restore FILE continues such a snapshot instead of loading a kernel, on
 * any backend (--backend), with the same devices attached.
 *
 * --gdb PORT|PATH waits for gdb on 127.0.0.1:PORT (a number) or on a unix
 * socket PATH before the guest runs, then lets gdb drive it ("target
 * remote :PORT" / "target remote PATH"); the exit status is the same.
 */
#include <libvmm/libvmm.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct opts {
	enum vmm_backend backend;
	enum vmm_cpu_model cpu_model;
	uint64_t mem;
	unsigned cpus;
	const char *kernel, *initrd, *cmdline, *format, *mode;
	uint64_t load_addr;
	bool load_addr_set;
	int timeout;
	bool stats, quiet;
	const char *snapshot_out, *restore;
	const char *gdb;
	enum vmm_irqchip_mode irqchip;
};

struct image {
	void *data;
	size_t len;
};

#define STOP_OTHER 0x10000
#define STOP_ERROR 0x20000

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vmm-run [options] --kernel FILE\n"
		"  --backend B      auto (default), kvm or soft\n"
		"  -m, --memory N   guest RAM, e.g. 256M, 2G (default 256M)\n"
		"  --cpus N         number of vCPUs (default 1)\n"
		"  --cpu MODEL      CPU model: default, baseline (the same on\n"
		"                   both backends), host (KVM only), max\n"
		"  --kernel FILE    guest image\n"
		"  --initrd FILE    initial ramdisk (bzImage) or module (multiboot)\n"
		"  --cmdline STR    kernel command line\n"
		"  --format F       flat, elf, multiboot, bzimage (default: detect)\n"
		"  --load-addr A    flat images: load address (default 0x7c00)\n"
		"  --mode M         flat images: real16 (default), prot32, long64,\n"
		"                   long64-user (64-bit at CPL3)\n"
		"  --irqchip M      interrupt controllers: default, kernel, split\n"
		"                   (KVM: LAPICs in the kernel, the rest libvmm's)\n"
		"                   or none\n"
		"  --timeout SEC    stop the guest after SEC seconds (exit 124)\n"
		"  --snapshot-on-exit FILE  save a snapshot when the VM stops\n"
		"  --restore FILE   continue a snapshot instead of --kernel\n"
		"  --gdb PORT|PATH  wait for gdb on 127.0.0.1:PORT or a unix socket,\n"
		"                   then let it drive the guest\n"
		"  --stats          print exit and device counters to stderr\n"
		"  --quiet          no libvmm messages on stderr\n");
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'k': case 'K': return v << 10;
	case 'g': case 'G': return v << 30;
	case 'm': case 'M': case 0: return v << 20;
	}
	return 0;
}

static int map_file(const char *path, struct image *img)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "vmm-run: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	img->len = (size_t)st.st_size;
	img->data = img->len ? mmap(NULL, img->len, PROT_READ, MAP_PRIVATE, fd, 0)
			     : NULL;
	close(fd);
	if (img->data == MAP_FAILED) {
		fprintf(stderr, "vmm-run: mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

static void log_cb(void *opaque, int level, const char *msg)
{
	static const char *const lv[] = { "error", "warn", "info", "debug" };
	(void)opaque;
	fprintf(stderr, "libvmm %s: %s\n", lv[level & 3], msg);
}

static int on_exit_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	(void)opaque;
	switch (e->kind) {
	case VMM_EXIT_GUEST_EXIT:
		return (int)e->guest.status;
	case VMM_EXIT_SHUTDOWN:
	case VMM_EXIT_RESET:
	case VMM_EXIT_POWEROFF:
		fprintf(stderr, "vmm-run: vcpu%u: %s\n", vmm_vcpu_index(vcpu),
			vmm_exit_name(e->kind));
		return STOP_OTHER;
	case VMM_EXIT_INTERRUPTED:
		return 0;
	case VMM_EXIT_HLT:
		/* no interrupt controller: nothing will wake it */
		fprintf(stderr, "vmm-run: vcpu%u halted\n", vmm_vcpu_index(vcpu));
		return STOP_OTHER;
	case VMM_EXIT_INTERNAL:
	case VMM_EXIT_FAIL_ENTRY:
		fprintf(stderr, "vmm-run: vcpu%u: %s: %s\n", vmm_vcpu_index(vcpu),
			vmm_exit_name(e->kind), e->internal.msg);
		return STOP_ERROR;
	default:
		fprintf(stderr, "vmm-run: vcpu%u: unexpected exit %s\n",
			vmm_vcpu_index(vcpu), vmm_exit_name(e->kind));
		return STOP_ERROR;
	}
}

/* Exits under gdb: the guest's end is reported to gdb as the process
 * exiting with vmm-run's status; a stopped vCPU as a signal to inspect. */
static int gdb_exit_cb(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	int r = on_exit_cb(opaque, vcpu, e);

	if (r == STOP_OTHER && e->kind != VMM_EXIT_RESET &&
	    e->kind != VMM_EXIT_POWEROFF)
		return -EFAULT; /* shutdown, halt: stop, let gdb look */
	if (r == STOP_ERROR)
		return -EIO;
	return r == STOP_OTHER ? 256 : r; /* 256: exit code 0 */
}

/* --gdb: serve one debugger connection, the debugger runs the guest. */
static int run_gdb(vmm_vm *vm, const char *spec)
{
	struct vmm_gdb_config gc = { .struct_size = sizeof(gc),
				     .exit_cb = gdb_exit_cb };
	char *end;
	unsigned long port = strtoul(spec, &end, 10);
	vmm_gdb *gdb;
	int lfd, fd, r, status = 1;

	if (*spec && !*end && port < 65536)
		lfd = vmm_gdb_listen_tcp(NULL, (uint16_t)port);
	else
		lfd = vmm_gdb_listen_unix(spec);
	if (lfd < 0) {
		fprintf(stderr, "vmm-run: --gdb %s: %s\n", spec,
			vmm_strerror(lfd));
		return 1;
	}
	fprintf(stderr, "vmm-run: waiting for gdb on %s\n", spec);
	fd = vmm_gdb_accept(lfd, -1);
	close(lfd);
	if (fd < 0) {
		fprintf(stderr, "vmm-run: accept: %s\n", vmm_strerror(fd));
		return 1;
	}
	if ((r = vmm_gdb_new(vm, &gc, &gdb)) < 0) {
		fprintf(stderr, "vmm-run: gdb stub: %s\n", vmm_strerror(r));
		close(fd);
		return 1;
	}
	r = vmm_gdb_serve(gdb, fd);
	if (r == VMM_GDB_EXITED)
		status = vmm_gdb_exit_code(gdb);
	else if (r >= 0)
		status = 0;
	else
		fprintf(stderr, "vmm-run: gdb session: %s\n", vmm_strerror(r));
	vmm_gdb_free(gdb);
	close(fd);
	return status;
}

/* The devices every vmm-run VM has; also the restore attach callback. */
static int attach_devices(void *opaque, vmm_vm *vm)
{
	struct vmm_uart_config uc = { .port = 0x3f8, .irq = 4, .out_fd = 1,
				      .in_fd = -1 };
	vmm_dev *dev;
	int ret;

	(void)opaque;
	if ((ret = vmm_dev_uart_attach(vm, &uc, &dev)) < 0 ||
	    (ret = vmm_dev_debug_exit_attach(vm, 0xf4, 4, &dev)) < 0 ||
	    (ret = vmm_dev_i8042_attach(vm, &dev)) < 0 ||
	    (ret = vmm_dev_rtc_attach(vm, &dev)) < 0 ||
	    (ret = vmm_dev_pci_host_attach(vm, &dev)) < 0)
		return ret;
	return 0;
}

static int restore(const struct opts *o, const struct vmm_config *cfg,
		   vmm_vm **vm)
{
	struct vmm_restore_opts ro = { .attach = attach_devices };
	vmm_snapshot *snap;
	char err[256];
	int ret;

	ret = vmm_snapshot_open(o->restore, &snap, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "vmm-run: %s\n", err);
		return ret;
	}
	ret = vmm_snapshot_restore_snap(snap, cfg, &ro, vm);
	vmm_snapshot_close(snap);
	if (ret < 0)
		fprintf(stderr, "vmm-run: cannot restore %s: %s\n", o->restore,
			vmm_strerror(ret));
	return ret;
}

static int load(vmm_vm *vm, const struct opts *o, struct vmm_boot_info *info)
{
	struct image k = { 0 }, rd = { 0 };
	enum vmm_image_format fmt;
	int ret;

	if (map_file(o->kernel, &k) < 0)
		return -1;
	if (o->initrd && map_file(o->initrd, &rd) < 0)
		return -1;
	fmt = vmm_image_detect(k.data, k.len);
	if (o->format) {
		if (!strcmp(o->format, "flat")) fmt = VMM_IMAGE_FLAT;
		else if (!strcmp(o->format, "elf")) fmt = VMM_IMAGE_ELF;
		else if (!strcmp(o->format, "multiboot")) fmt = VMM_IMAGE_MULTIBOOT;
		else if (!strcmp(o->format, "bzimage")) fmt = VMM_IMAGE_BZIMAGE;
		else {
			fprintf(stderr, "vmm-run: unknown format %s\n", o->format);
			return -1;
		}
	}
	switch (fmt) {
	case VMM_IMAGE_BZIMAGE:
		ret = vmm_load_linux(vm, k.data, k.len, rd.data, rd.len,
				     o->cmdline ? o->cmdline : "console=ttyS0",
				     info);
		break;
	case VMM_IMAGE_MULTIBOOT: {
		struct vmm_boot_module mod = { rd.data, rd.len, o->initrd };
		ret = vmm_load_multiboot(vm, k.data, k.len, o->cmdline,
					 o->initrd ? &mod : NULL,
					 o->initrd ? 1 : 0, info);
		break;
	}
	case VMM_IMAGE_ELF:
		ret = vmm_load_elf(vm, k.data, k.len, info);
		break;
	default: {
		enum vmm_boot_mode m = VMM_BOOT_REAL16;
		if (o->mode && !strcmp(o->mode, "prot32"))
			m = VMM_BOOT_PROT32;
		else if (o->mode && !strcmp(o->mode, "long64"))
			m = VMM_BOOT_LONG64;
		else if (o->mode && !strcmp(o->mode, "long64-user"))
			m = VMM_BOOT_LONG64_USER;
		else if (o->mode && strcmp(o->mode, "real16")) {
			fprintf(stderr, "vmm-run: unknown --mode %s\n",
				o->mode);
			return -EINVAL;
		}
		ret = vmm_load_flat(vm, k.data, k.len,
				    o->load_addr_set ? o->load_addr : 0x7c00, m,
				    info);
		break;
	}
	}
	if (ret < 0) {
		char msg[256];
		vmm_last_error(vm, msg, sizeof(msg));
		fprintf(stderr, "vmm-run: loading %s as %s: %s\n", o->kernel,
			vmm_image_format_name(fmt), msg);
	}
	return ret;
}

static void print_stats(vmm_vm *vm)
{
	struct vmm_vm_stats st;
	struct vmm_bus_stats bs;
	char name[64];

	fprintf(stderr, "vmm-run: backend %s\n",
		vmm_backend_name(vmm_vm_backend(vm)));
	if (vmm_vm_stats(vm, &st) == 0)
		fprintf(stderr,
			"vmm-run: exits %llu (io %llu, mmio %llu, unhandled %llu), "
			"RAM %llu MiB, bookkeeping %llu KiB\n",
			(unsigned long long)st.exits,
			(unsigned long long)st.io_exits,
			(unsigned long long)st.mmio_exits,
			(unsigned long long)st.unhandled_io,
			(unsigned long long)(st.ram_bytes >> 20),
			(unsigned long long)(st.host_bytes >> 10));
	if (vmm_bus_stats(vm, VMM_SPACE_PIO, 0x3f8, &bs, name, sizeof(name)) == 0)
		fprintf(stderr, "vmm-run: %s: %llu writes, %llu reads\n", name,
			(unsigned long long)bs.writes,
			(unsigned long long)bs.reads);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, 0, 'b' },
		{ "memory", required_argument, 0, 'm' },
		{ "cpus", required_argument, 0, 'c' },
		{ "cpu", required_argument, 0, 'C' },
		{ "kernel", required_argument, 0, 'k' },
		{ "initrd", required_argument, 0, 'i' },
		{ "cmdline", required_argument, 0, 'a' },
		{ "format", required_argument, 0, 'f' },
		{ "load-addr", required_argument, 0, 'l' },
		{ "mode", required_argument, 0, 'M' },
		{ "timeout", required_argument, 0, 't' },
		{ "stats", no_argument, 0, 's' },
		{ "quiet", no_argument, 0, 'q' },
		{ "snapshot-on-exit", required_argument, 0, 'S' },
		{ "restore", required_argument, 0, 'R' },
		{ "gdb", required_argument, 0, 'G' },
		{ "irqchip", required_argument, 0, 'I' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	struct opts o = { .backend = VMM_BACKEND_AUTO, .mem = 256ull << 20,
			  .cpus = 1, .timeout = -1 };
	struct vmm_config cfg;
	struct vmm_boot_info info;
	vmm_vm *vm = NULL;
	vmm_vcpu *vcpu;
	int c, ret, status = 1;

	while ((c = getopt_long(argc, argv, "m:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "kvm")) o.backend = VMM_BACKEND_KVM;
			else if (!strcmp(optarg, "soft")) o.backend = VMM_BACKEND_SOFT;
			else if (!strcmp(optarg, "auto")) o.backend = VMM_BACKEND_AUTO;
			else { usage(stderr); return 1; }
			break;
		case 'm': o.mem = parse_size(optarg); break;
		case 'c': o.cpus = (unsigned)atoi(optarg); break;
		case 'C':
			if (vmm_cpu_model_parse(optarg, &o.cpu_model)) {
				fprintf(stderr, "vmm-run: --cpu %s: unknown CPU "
					"model (default, baseline, host, "
					"max)\n", optarg);
				return 1;
			}
			break;
		case 'k': o.kernel = optarg; break;
		case 'i': o.initrd = optarg; break;
		case 'a': o.cmdline = optarg; break;
		case 'f': o.format = optarg; break;
		case 'l': o.load_addr = strtoull(optarg, NULL, 0);
			  o.load_addr_set = true; break;
		case 'M': o.mode = optarg; break;
		case 't': o.timeout = atoi(optarg); break;
		case 's': o.stats = true; break;
		case 'q': o.quiet = true; break;
		case 'S': o.snapshot_out = optarg; break;
		case 'R': o.restore = optarg; break;
		case 'G': o.gdb = optarg; break;
		case 'I':
			if (!strcmp(optarg, "default")) o.irqchip = VMM_IRQCHIP_DEFAULT;
			else if (!strcmp(optarg, "kernel")) o.irqchip = VMM_IRQCHIP_KERNEL;
			else if (!strcmp(optarg, "split")) o.irqchip = VMM_IRQCHIP_SPLIT;
			else if (!strcmp(optarg, "none")) o.irqchip = VMM_IRQCHIP_NONE;
			else { usage(stderr); return 1; }
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	if ((!o.kernel && !o.restore) || !o.mem || !o.cpus) {
		usage(stderr);
		return 1;
	}
	vmm_config_init(&cfg);
	cfg.backend = o.backend;
	cfg.irqchip = o.irqchip;
	cfg.ncpus = o.cpus;
	cfg.cpu_model = o.cpu_model;
	cfg.ram_size = o.mem;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	if (!o.quiet) {
		cfg.log = log_cb;
		cfg.log_level = VMM_LOG_WARN;
	}
	if (o.restore) {
		setvbuf(stdout, NULL, _IONBF, 0);
		if (restore(&o, &cfg, &vm) < 0)
			return 1;
		goto run;
	}
	ret = vmm_vm_create(&cfg, &vm);
	if (ret < 0) {
		char why[160] = "";
		vmm_backend_probe(o.backend, why, sizeof(why));
		fprintf(stderr, "vmm-run: cannot create a %s VM: %s%s%s\n",
			vmm_backend_name(o.backend), vmm_strerror(ret),
			why[0] ? ": " : "", why);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if ((ret = attach_devices(NULL, vm)) < 0) {
		char msg[256];
		vmm_last_error(vm, msg, sizeof(msg));
		fprintf(stderr, "vmm-run: devices: %s\n", msg);
		goto out;
	}
	for (unsigned i = 0; i < o.cpus; i++) {
		if ((ret = vmm_vcpu_create(vm, i, &vcpu)) < 0) {
			fprintf(stderr, "vmm-run: vcpu %u: %s\n", i,
				vmm_strerror(ret));
			goto out;
		}
	}
	if (load(vm, &o, &info) < 0)
		goto out;
	if ((ret = vmm_boot_setup_vcpu(vmm_vcpu_get(vm, 0), &info)) < 0) {
		char msg[256];
		vmm_last_error(vm, msg, sizeof(msg));
		fprintf(stderr, "vmm-run: entry state: %s\n", msg);
		goto out;
	}
run:
	if (o.gdb) {
		status = run_gdb(vm, o.gdb);
		goto stopped;
	}
	if ((ret = vmm_vm_start(vm, on_exit_cb, NULL)) < 0) {
		fprintf(stderr, "vmm-run: start: %s\n", vmm_strerror(ret));
		goto out;
	}
	ret = vmm_vm_wait(vm, o.timeout >= 0 ? o.timeout * 1000 : -1);
	if (ret == -ETIMEDOUT) {
		vmm_vm_stop(vm);
		fprintf(stderr, "vmm-run: timeout after %d s\n", o.timeout);
		status = 124;
	} else if (ret < 0) {
		fprintf(stderr, "vmm-run: %s\n", vmm_strerror(ret));
		status = 1;
	} else if (ret == STOP_OTHER) {
		status = 0;
	} else if (ret == STOP_ERROR) {
		status = 1;
	} else {
		status = ret;
	}
stopped:
	if (o.stats)
		print_stats(vm);
	if (o.snapshot_out) {
		/* the vCPU threads are joined: the VM is stopped, its last I/O
		 * is completed by the save */
		ret = vmm_snapshot_save(vm, o.snapshot_out, NULL);
		if (ret < 0) {
			char msg[256];
			vmm_last_error(vm, msg, sizeof(msg));
			fprintf(stderr, "vmm-run: snapshot: %s\n", msg);
			status = 1;
		}
	}
out:
	vmm_vm_destroy(vm);
	return status;
}
