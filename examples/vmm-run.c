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
 * Serial (COM1) goes to stdout.  Exit status (see usage() and README):
 * odd statuses are the guest's debug-exit status ((value << 1) | 1, port
 * 0xf4, as QEMU's isa-debug-exit gives it); vmm-run's own results are even:
 * 0 the guest shut down, reset or powered off (QEMU -no-reboot), 2 bad
 * usage, 4 the guest could not be loaded, 6 the VM or a device could not
 * be created, 8 the VMM stopped on an internal or emulation error, 10 the
 * gdb connection failed, 12 the snapshot could not be saved, 124 --timeout.
 *
 * --snapshot-on-exit FILE saves the VM (memory, vCPUs, devices, interrupt
 * controllers) when it stops, for whatever reason (guest exit, --timeout);
 * --restore FILE continues such a snapshot instead of loading a kernel, on
 * any backend (--backend), with the same devices attached.
 *
 * --gdb tcp:PORT|unix:PATH|PORT waits for gdb on 127.0.0.1:PORT or on a
 * unix socket PATH before the guest runs, then lets gdb drive it ("target
 * remote :PORT" / "target remote PATH"); the exit status is the same.
 *
 * Devices for Linux guests (docs/linux.md): --disk FILE[,ro] (virtio-blk,
 * repeatable), --net tap=NAME|none (virtio-net), --rng (virtio-rng),
 * --console serial|virtio, --transport pci|mmio.
 */
#include <libvmm/libvmm.h>

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* vmm-run's own exit statuses: all even (odd ones are the guest's). */
enum {
	ST_OK = 0,
	ST_USAGE = 2,
	ST_LOAD = 4,
	ST_SETUP = 6,
	ST_INTERNAL = 8,
	ST_GDB = 10,
	ST_SNAPSHOT = 12,
	ST_TIMEOUT = 124,
};

#define MAX_DISKS 8
/* virtio-mmio windows (4 KiB each) and their ISA IRQs, --transport mmio */
#define MMIO_BASE 0xd0000000ull
static const int mmio_irqs[] = { 5, 6, 7, 10, 11, 14, 15, 9, 3, 12 };
#define MAX_VIRTIO (sizeof(mmio_irqs) / sizeof(mmio_irqs[0]))

struct disk {
	const char *path;
	bool ro;
	int fd;
};

struct opts {
	enum vmm_backend backend;
	enum vmm_cpu_model cpu_model;
	enum vmm_irqchip_mode irqchip;
	uint64_t mem;
	unsigned cpus;
	const char *kernel, *initrd, *cmdline, *format, *mode;
	uint64_t load_addr;
	bool load_addr_set;
	uint64_t timeout_ms; /* 0 = none */
	bool stats, quiet;
	const char *snapshot_out, *restore;
	const char *gdb;
	struct disk disks[MAX_DISKS];
	unsigned ndisks;
	const char *tap; /* --net tap=NAME */
	bool rng;
	bool virtio_console;
	enum vmm_virtio_transport transport;
	char mmio_args[MAX_VIRTIO * 40];
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
		"       vmm-run [options] --restore FILE\n"
		"  --backend B      auto (default), kvm or soft\n"
		"  -m, --memory N   guest RAM, e.g. 256M, 2G (default 256M; a plain\n"
		"                   number is MiB; at most the host's RAM)\n"
		"  --cpus N         number of vCPUs, 1..%u (default 1)\n"
		"  --cpu MODEL      CPU model: default, baseline (the same on\n"
		"                   both backends), host (KVM only), max\n"
		"  --irqchip M      interrupt controllers: default, kernel, split\n"
		"                   (KVM: LAPICs in the kernel, the rest libvmm's)\n"
		"                   or none\n"
		"  --kernel FILE    guest image\n"
		"  --initrd FILE    initial ramdisk (bzImage) or module (multiboot)\n"
		"  --cmdline STR    kernel command line\n"
		"  --format F       flat, elf, multiboot, bzimage (default: detect)\n"
		"  --load-addr A    flat images: load address (default 0x7c00)\n"
		"  --mode M         flat images: real16 (default), prot32, long64,\n"
		"                   long64-user (64-bit at CPL3)\n"
		"  --timeout T      stop the guest after T (seconds, or 500ms, 2m, 1h;\n"
		"                   exit status 124)\n"
		"  --disk FILE[,ro] a virtio-blk disk on a raw image (repeatable, up\n"
		"                   to %d; ro = read-only)\n"
		"  --net tap=NAME   a virtio-net card on TAP device NAME (created if\n"
		"                   absent, needs CAP_NET_ADMIN); --net none: no card\n"
		"  --rng            a virtio-rng device (host getrandom)\n"
		"  --console C      serial (default: COM1 to stdout) or virtio\n"
		"                   (virtio-console to stdout, Linux: console=hvc0)\n"
		"  --transport T    virtio transport: pci (default) or mmio (adds\n"
		"                   virtio_mmio.device= to a Linux command line)\n"
		"  --snapshot-on-exit FILE  save a snapshot when the VM stops\n"
		"  --restore FILE   continue a snapshot instead of --kernel\n"
		"  --gdb G          wait for gdb on tcp:PORT (127.0.0.1), unix:PATH\n"
		"                   (or a PATH with a /) or PORT, then let it\n"
		"                   drive the guest\n"
		"  --stats          print exit and device counters to stderr\n"
		"  --quiet          no libvmm messages on stderr\n"
		"exit status: odd = the guest's debug-exit status (port 0xf4:\n"
		"  (value << 1) | 1); 0 = the guest powered off, shut down or reset;\n"
		"  2 = bad usage; 4 = the guest could not be loaded; 6 = the VM or a\n"
		"  device could not be created; 8 = VMM internal or emulation error;\n"
		"  10 = gdb connection failed; 12 = snapshot not saved;\n"
		"  124 = --timeout\n",
		VMM_MAX_VCPUS, MAX_DISKS);
}

static int map_file(const char *what, const char *path, struct image *img)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	img->data = NULL;
	img->len = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "vmm-run: %s %s: %s\n", what, path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "vmm-run: %s %s: not a regular file\n", what,
			path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		fprintf(stderr, "vmm-run: %s %s: empty file\n", what, path);
		close(fd);
		return -1;
	}
	img->len = (size_t)st.st_size;
	img->data = mmap(NULL, img->len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (img->data == MAP_FAILED) {
		fprintf(stderr, "vmm-run: %s %s: %s\n", what, path,
			strerror(errno));
		img->data = NULL;
		return -1;
	}
	return 0;
}

static void unmap_file(struct image *img)
{
	if (img->data)
		munmap(img->data, img->len);
}

/* Errors of set-up calls are printed once, by vmm-run with the call's
 * context (vmm_last_error, or the last message kept here when there is no
 * VM to ask); from the start of the run on, everything the library logs is
 * printed. */
struct logctx {
	bool running;
	char last_error[256];
};

static void log_cb(void *opaque, int level, const char *msg)
{
	static const char *const lv[] = { "error", "warn", "info", "debug" };
	struct logctx *lc = opaque;

	if (level == VMM_LOG_ERROR && !lc->running) {
		snprintf(lc->last_error, sizeof(lc->last_error), "%s", msg);
		return;
	}
	fprintf(stderr, "libvmm %s: %s\n", lv[level & 3], msg);
}

/* RIP, its translation and up to 15 instruction bytes, for an internal
 * error or an emulation failure. */
static void report_rip(vmm_vcpu *vcpu)
{
	struct vmm_cpu_state st;
	const struct vmm_segment *cs;
	uint8_t insn[15];
	vmm_gpa_t gpa;
	uint64_t pc;
	int n = 0;

	if (vmm_vcpu_get_state(vcpu, &st) < 0)
		return;
	cs = &st.seg[VMM_CS];
	pc = st.rip;
	if (!(st.msr.efer & VMM_EFER_LMA) || !cs->l)
		pc = cs->base + st.rip;
	fprintf(stderr, "vmm-run: vcpu%u: RIP %#" PRIx64 " (CS %#x base %#"
		PRIx64 ")", vmm_vcpu_index(vcpu), st.rip, cs->selector,
		cs->base);
	if (vmm_vcpu_translate(vcpu, pc, 0, &gpa) == 0) {
		for (n = 0; n < 15; n++)
			if (!vmm_mem_is_ram(vmm_vcpu_vm(vcpu),
					    gpa + (unsigned)n, 1) ||
			    vmm_mem_read(vmm_vcpu_vm(vcpu), gpa + (unsigned)n,
					 &insn[n], 1) < 0)
				break;
		fprintf(stderr, " gpa %#" PRIx64 ", bytes", gpa);
		for (int i = 0; i < n; i++)
			fprintf(stderr, " %02x", insn[i]);
		if (!n)
			fprintf(stderr, " (not in RAM)");
	} else {
		fprintf(stderr, " (not mapped)");
	}
	fputc('\n', stderr);
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
		fprintf(stderr, "vmm-run: vcpu%u: %s: %s (reason %u, code %d, "
			"data %#" PRIx64 " %#" PRIx64 " %#" PRIx64 " %#" PRIx64
			")\n", vmm_vcpu_index(vcpu), vmm_exit_name(e->kind),
			e->internal.msg, e->internal.reason, e->internal.code,
			e->internal.data[0], e->internal.data[1],
			e->internal.data[2], e->internal.data[3]);
		report_rip(vcpu);
		return STOP_ERROR;
	default:
		fprintf(stderr, "vmm-run: vcpu%u: unexpected exit %s\n",
			vmm_vcpu_index(vcpu), vmm_exit_name(e->kind));
		report_rip(vcpu);
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

/* --gdb tcp:PORT | unix:PATH | PORT, checked before anything is created. */
static int parse_gdb(const char *spec, uint16_t *port, const char **path)
{
	*path = NULL;
	if (!strncmp(spec, "tcp:", 4)) {
		const char *p = spec + 4;
		unsigned long v = 0;

		for (; *p >= '0' && *p <= '9' && v <= 65535; p++)
			v = v * 10 + (unsigned long)(*p - '0');
		if (p == spec + 4 || *p || v < 1 || v > 65535)
			return cli_error("--gdb %s: port must be 1..65535",
					 spec);
		*port = (uint16_t)v;
		return 0;
	}
	if (!strncmp(spec, "unix:", 5)) {
		if (!spec[5])
			return cli_error("--gdb %s: empty socket path", spec);
		*path = spec + 5;
		return 0;
	}
	if (spec[0] >= '0' && spec[0] <= '9' && !strchr(spec, '/'))
		return cli_port("--gdb", spec, port);
	if (strchr(spec, '/')) { /* a path is unambiguous: a unix socket */
		*path = spec;
		return 0;
	}
	return cli_error("--gdb %s: expected tcp:PORT, unix:PATH or a port "
			 "number", spec);
}

/* --gdb: serve one debugger connection, the debugger runs the guest. */
static int run_gdb(vmm_vm *vm, const char *spec)
{
	struct vmm_gdb_config gc = { .struct_size = sizeof(gc),
				     .exit_cb = gdb_exit_cb };
	const char *path;
	uint16_t port = 0;
	vmm_gdb *gdb;
	int lfd, fd, r, status = ST_GDB;

	if (parse_gdb(spec, &port, &path) < 0)
		return ST_USAGE;
	lfd = path ? vmm_gdb_listen_unix(path)
		   : vmm_gdb_listen_tcp(NULL, port);
	if (lfd < 0) {
		fprintf(stderr, "vmm-run: --gdb %s: %s\n", spec,
			vmm_strerror(lfd));
		return ST_GDB;
	}
	fprintf(stderr, "vmm-run: waiting for gdb on %s\n", spec);
	fd = vmm_gdb_accept(lfd, -1);
	close(lfd);
	if (fd < 0) {
		fprintf(stderr, "vmm-run: accept: %s\n", vmm_strerror(fd));
		return ST_GDB;
	}
	if ((r = vmm_gdb_create(vm, &gc, &gdb)) < 0) {
		fprintf(stderr, "vmm-run: gdb stub: %s\n", vmm_strerror(r));
		close(fd);
		return ST_GDB;
	}
	r = vmm_gdb_serve(gdb, fd);
	if (r == VMM_GDB_EXITED)
		status = vmm_gdb_exit_code(gdb);
	else if (r >= 0)
		status = ST_OK;
	else
		fprintf(stderr, "vmm-run: gdb session: %s\n", vmm_strerror(r));
	vmm_gdb_destroy(gdb);
	close(fd);
	return status;
}

static void virtio_cfg(const struct opts *o, vmm_dev *pci, unsigned n,
		       struct vmm_virtio_config *vc)
{
	vmm_virtio_config_init(vc, o->transport);
	if (o->transport == VMM_VIRTIO_PCI) {
		vc->pci_host = pci;
		vc->irq = mmio_irqs[n % MAX_VIRTIO];
	} else {
		vc->mmio_base = MMIO_BASE + 0x1000ull * n;
		vc->irq = mmio_irqs[n];
	}
}

static void dev_error(vmm_vm *vm, const char *what, const char *arg, int ret)
{
	char msg[256] = "";

	vmm_last_error(vm, msg, sizeof(msg));
	fprintf(stderr, "vmm-run: %s%s%s: %s\n", what,
		arg && what[strlen(what) - 1] != '=' ? " " : "",
		arg ? arg : "", msg[0] ? msg : vmm_strerror(ret));
}

/* The devices every vmm-run VM has, then the ones the options ask for;
 * also the restore attach callback. */
static int attach_devices(void *opaque, vmm_vm *vm)
{
	const struct opts *o = opaque;
	struct vmm_uart_config uc = { .port = 0x3f8, .irq = 4, .out_fd = 1,
				      .in_fd = -1 };
	vmm_dev *dev, *pci;
	unsigned n = 0;
	int ret;

	if ((ret = vmm_uart_attach(vm, &uc, &dev)) < 0 ||
	    (ret = vmm_debug_exit_attach(vm, 0xf4, 4, &dev)) < 0 ||
	    (ret = vmm_i8042_attach(vm, &dev)) < 0 ||
	    (ret = vmm_rtc_attach(vm, &dev)) < 0 ||
	    (ret = vmm_acpi_pm_attach(vm, &dev)) < 0 ||
	    (ret = vmm_pci_host_attach(vm, &pci)) < 0) {
		dev_error(vm, "devices", NULL, ret);
		return ret;
	}
	for (unsigned i = 0; i < o->ndisks; i++, n++) {
		struct vmm_virtio_blk_config bc;

		vmm_virtio_blk_config_init(&bc, o->transport);
		virtio_cfg(o, pci, n, &bc.virtio);
		bc.fd = o->disks[i].fd;
		bc.path = o->disks[i].path;
		bc.readonly = o->disks[i].ro;
		if ((ret = vmm_virtio_blk_attach(vm, &bc, &dev)) < 0) {
			dev_error(vm, "--disk", o->disks[i].path, ret);
			return ret;
		}
	}
	if (o->tap) {
		struct vmm_virtio_net_config nc;

		vmm_virtio_net_config_init(&nc, o->transport);
		virtio_cfg(o, pci, n++, &nc.virtio);
		nc.ifname = o->tap;
		if ((ret = vmm_virtio_net_attach(vm, &nc, &dev)) < 0) {
			dev_error(vm, "--net tap=", o->tap, ret);
			return ret;
		}
	}
	if (o->rng) {
		struct vmm_virtio_config rc;

		virtio_cfg(o, pci, n++, &rc);
		if ((ret = vmm_virtio_rng_attach(vm, &rc, &dev)) < 0) {
			dev_error(vm, "--rng", NULL, ret);
			return ret;
		}
	}
	if (o->virtio_console) {
		struct vmm_virtio_console_config cc;

		vmm_virtio_console_config_init(&cc, o->transport);
		virtio_cfg(o, pci, n++, &cc.virtio);
		cc.out_fd = 1;
		cc.in_fd = -1;
		if ((ret = vmm_virtio_console_attach(vm, &cc, &dev)) < 0) {
			dev_error(vm, "--console virtio", NULL, ret);
			return ret;
		}
	}
	return 0;
}

static int restore(const struct opts *o, const struct vmm_config *cfg,
		   vmm_vm **vm)
{
	struct vmm_restore_opts ro = { .attach = attach_devices,
				       .opaque = (void *)o };
	vmm_snapshot *snap;
	char err[256];
	int ret;

	ret = vmm_snapshot_open(o->restore, &snap, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "vmm-run: --restore %s: %s\n", o->restore, err);
		return ret;
	}
	ret = vmm_snapshot_restore_snap(snap, cfg, &ro, vm);
	vmm_snapshot_close(snap);
	if (ret < 0)
		fprintf(stderr, "vmm-run: cannot restore %s: %s\n", o->restore,
			vmm_strerror(ret));
	return ret;
}

static const char *const format_names[] = { "flat", "elf", "multiboot",
					    "bzimage", NULL };
static const enum vmm_image_format format_vals[] = {
	VMM_IMAGE_FLAT, VMM_IMAGE_ELF, VMM_IMAGE_MULTIBOOT, VMM_IMAGE_BZIMAGE
};
static const char *const mode_names[] = { "real16", "prot32", "long64",
					  "long64-user", NULL };
static const enum vmm_boot_mode mode_vals[] = {
	VMM_BOOT_REAL16, VMM_BOOT_PROT32, VMM_BOOT_LONG64, VMM_BOOT_LONG64_USER
};

static int load(vmm_vm *vm, const struct opts *o, struct vmm_boot_info *info,
		const struct image *kimg, const struct image *rdimg)
{
	struct image k = *kimg, rd = *rdimg;
	enum vmm_image_format fmt;
	char cmdline[4096];
	int ret = -EINVAL, i;

	fmt = vmm_image_detect(k.data, k.len);
	if (o->format && cli_choice("--format", o->format, format_names,
				    &i) == 0)
		fmt = format_vals[i];
	switch (fmt) {
	case VMM_IMAGE_BZIMAGE: {
		int w = snprintf(cmdline, sizeof(cmdline), "%s%s",
				 o->cmdline ? o->cmdline :
				 o->virtio_console ? "console=hvc0"
						   : "console=ttyS0",
				 o->mmio_args);
		if (w < 0 || (size_t)w >= sizeof(cmdline)) {
			fprintf(stderr, "vmm-run: --cmdline: too long\n");
			ret = -E2BIG;
			goto out;
		}
		ret = vmm_image_load_linux(vm, k.data, k.len, rd.data, rd.len,
				     cmdline, info);
		break;
	}
	case VMM_IMAGE_MULTIBOOT: {
		struct vmm_boot_module mod = { rd.data, rd.len, o->initrd };
		ret = vmm_image_load_multiboot(vm, k.data, k.len, o->cmdline,
					 o->initrd ? &mod : NULL,
					 o->initrd ? 1 : 0, info);
		break;
	}
	case VMM_IMAGE_ELF:
		ret = vmm_image_load_elf(vm, k.data, k.len, info);
		break;
	default: {
		enum vmm_boot_mode m = VMM_BOOT_REAL16;
		if (o->mode && cli_choice("--mode", o->mode, mode_names,
					  &i) == 0)
			m = mode_vals[i];
		ret = vmm_image_load_flat(vm, k.data, k.len,
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
out:
	return ret;
}

static void print_stats(vmm_vm *vm)
{
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	struct vmm_bus_stats bs = { .struct_size = sizeof(bs) };
	char name[64];

	fprintf(stderr, "vmm-run: backend %s\n",
		vmm_backend_name(vmm_vm_backend(vm)));
	if (vmm_vm_get_stats(vm, &st) == 0)
		fprintf(stderr,
			"vmm-run: exits %llu (io %llu, mmio %llu, unhandled %llu), "
			"RAM %llu MiB, bookkeeping %llu KiB\n",
			(unsigned long long)st.exits,
			(unsigned long long)st.io_exits,
			(unsigned long long)st.mmio_exits,
			(unsigned long long)st.unhandled_io,
			(unsigned long long)(st.ram_bytes >> 20),
			(unsigned long long)(st.host_bytes >> 10));
	/* per vCPU: instructions retired (soft) and exits by kind */
	for (unsigned i = 0; i < VMM_MAX_VCPUS && vmm_vm_get_vcpu(vm, i); i++) {
		struct vmm_vcpu_stats vs = { .struct_size = sizeof(vs) };

		if (vmm_vcpu_get_stats(vmm_vm_get_vcpu(vm, i), &vs) < 0)
			continue;
		fprintf(stderr, "vmm-run: vcpu%u: insns %llu, exits %llu", i,
			(unsigned long long)vs.insns_retired,
			(unsigned long long)vs.exits);
		for (unsigned k = 1; k < VMM_EXIT__COUNT &&
				     k < VMM_VCPU_STATS_EXIT_KINDS; k++)
			if (vs.exits_by_kind[k])
				fprintf(stderr, " %s %llu", vmm_exit_name(k),
					(unsigned long long)vs.exits_by_kind[k]);
		fputc('\n', stderr);
		if (vs.valid & VMM_VCPU_STAT_BLOCKS)
			fprintf(stderr,
				"vmm-run: vcpu%u: blocks translated %llu, "
				"invalidated %llu, block-cache flushes %llu\n",
				i, (unsigned long long)vs.blocks_translated,
				(unsigned long long)vs.blocks_invalidated,
				(unsigned long long)vs.block_cache_flushes);
		if (vs.valid & VMM_VCPU_STAT_JIT)
			fprintf(stderr, "vmm-run: vcpu%u: blocks compiled "
				"(JIT) %llu, jit fallbacks %llu\n", i,
				(unsigned long long)vs.blocks_compiled,
				(unsigned long long)vs.jit_fallbacks);
		if (vs.valid & VMM_VCPU_STAT_HALT)
			fprintf(stderr, "vmm-run: vcpu%u: halted %llu times, "
				"%.3f s; spin loops yielded %llu times\n", i,
				(unsigned long long)vs.halts,
				(double)vs.halt_ns / 1e9,
				(unsigned long long)vs.pause_yields);
		if (vs.valid & VMM_VCPU_STAT_TLB)
			fprintf(stderr, "vmm-run: vcpu%u: TLB hits %llu, "
				"misses %llu\n", i,
				(unsigned long long)vs.tlb_hits,
				(unsigned long long)vs.tlb_misses);
	}
	if (vmm_bus_get_stats(vm, VMM_SPACE_PIO, 0x3f8, &bs, name, sizeof(name)) == 0)
		fprintf(stderr, "vmm-run: %s: %llu writes, %llu reads\n", name,
			(unsigned long long)bs.writes,
			(unsigned long long)bs.reads);
}

/* --disk FILE[,ro]: opened here (never created), so that a missing file, a
 * directory or an image smaller than one sector is refused before the VM
 * exists. */
static int parse_disk(struct opts *o, char *arg)
{
	struct disk *d;
	char *comma = strrchr(arg, ',');
	struct stat st;

	if (o->ndisks == MAX_DISKS)
		return cli_error("--disk %s: too many disks (at most %d)", arg,
				 MAX_DISKS);
	d = &o->disks[o->ndisks];
	d->ro = false;
	if (comma && !strcmp(comma, ",ro")) {
		*comma = 0;
		d->ro = true;
	} else if (comma && !strcmp(comma, ",rw")) {
		*comma = 0;
	} else if (comma && !strchr(comma, '/')) {
		return cli_error("--disk %s: unknown option \"%s\" (ro or rw)",
				 arg, comma + 1);
	}
	if (!arg[0])
		return cli_error("--disk: empty file name");
	d->path = arg;
	d->fd = open(arg, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (d->fd < 0)
		return cli_error("--disk %s: %s", arg, strerror(errno));
	if (fstat(d->fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		close(d->fd);
		return cli_error("--disk %s: not a regular file or block "
				 "device", arg);
	}
	if (S_ISREG(st.st_mode) && st.st_size < 512) {
		close(d->fd);
		return cli_error("--disk %s: too small (%lld bytes; at least "
				 "one 512-byte sector)", arg,
				 (long long)st.st_size);
	}
	o->ndisks++;
	return 0;
}

static uint64_t host_ram(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || psz <= 0)
		return 1ull << 40;
	return (uint64_t)pages * (uint64_t)psz;
}

static void close_disks(struct opts *o)
{
	for (unsigned i = 0; i < o->ndisks; i++)
		close(o->disks[i].fd);
	o->ndisks = 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, 0, 'b' },
		{ "memory", required_argument, 0, 'm' },
		{ "cpus", required_argument, 0, 'c' },
		{ "cpu", required_argument, 0, 'P' },
		{ "irqchip", required_argument, 0, 'I' },
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
		{ "disk", required_argument, 0, 'd' },
		{ "net", required_argument, 0, 'n' },
		{ "rng", no_argument, 0, 'r' },
		{ "console", required_argument, 0, 'C' },
		{ "transport", required_argument, 0, 'T' },
		{ "help", no_argument, 0, 'h' },
		{ 0 },
	};
	static const char *const backends[] = { "auto", "kvm", "soft", NULL };
	static const enum vmm_backend backend_vals[] = {
		VMM_BACKEND_AUTO, VMM_BACKEND_KVM, VMM_BACKEND_SOFT
	};
	static const char *const consoles[] = { "serial", "virtio", NULL };
	static const char *const irqchips[] = { "default", "kernel", "split",
						  "none", NULL };
	static const enum vmm_irqchip_mode irqchip_vals[] = {
		VMM_IRQCHIP_DEFAULT, VMM_IRQCHIP_KERNEL, VMM_IRQCHIP_SPLIT,
		VMM_IRQCHIP_NONE
	};
	static const char *const transports[] = { "pci", "mmio", NULL };
	uint64_t ram_max = host_ram();
	int c, i;
	uint16_t port;
	const char *path;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":m:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (cli_choice("--backend", optarg, backends, &i) < 0)
				return -1;
			o->backend = backend_vals[i];
			break;
		case 'm':
			if (cli_size("--memory", optarg, 1ull << 20, 1ull << 20,
				     ram_max, &o->mem) < 0)
				return -1;
			if (o->mem & 4095)
				return cli_error("--memory %s: not a multiple "
						 "of 4 KiB", optarg);
			break;
		case 'c':
			if (cli_uint("--cpus", optarg, 1, VMM_MAX_VCPUS,
				     &o->cpus) < 0)
				return -1;
			break;
		case 'P':
			if (vmm_cpu_model_parse(optarg, &o->cpu_model))
				return cli_error("--cpu %s: unknown CPU model "
						 "(one of: default, baseline, "
						 "host, max)", optarg);
			break;
		case 'I':
			if (cli_choice("--irqchip", optarg, irqchips, &i) < 0)
				return -1;
			o->irqchip = irqchip_vals[i];
			break;
		case 'k': o->kernel = optarg; break;
		case 'i': o->initrd = optarg; break;
		case 'a': o->cmdline = optarg; break;
		case 'f':
			if (cli_choice("--format", optarg, format_names,
				       &i) < 0)
				return -1;
			o->format = optarg;
			break;
		case 'l':
			if (cli_u64("--load-addr", optarg, 0, 0xffffffffull,
				    &o->load_addr) < 0)
				return -1;
			o->load_addr_set = true;
			break;
		case 'M':
			if (cli_choice("--mode", optarg, mode_names, &i) < 0)
				return -1;
			o->mode = optarg;
			break;
		case 't':
			/* at most a year: vmm_vm_wait takes an int of ms */
			if (cli_duration_ms("--timeout", optarg, 1,
					    366ull * 24 * 3600 * 1000 > INT32_MAX
						    ? INT32_MAX
						    : 366ull * 24 * 3600 * 1000,
					    &o->timeout_ms) < 0)
				return -1;
			break;
		case 's': o->stats = true; break;
		case 'q': o->quiet = true; break;
		case 'S': o->snapshot_out = optarg; break;
		case 'R': o->restore = optarg; break;
		case 'G':
			if (parse_gdb(optarg, &port, &path) < 0)
				return -1;
			o->gdb = optarg;
			break;
		case 'd':
			if (parse_disk(o, optarg) < 0)
				return -1;
			break;
		case 'n':
			if (!strcmp(optarg, "none")) {
				o->tap = NULL;
			} else if (!strncmp(optarg, "tap=", 4) && optarg[4]) {
				if (strlen(optarg + 4) >= 16)
					return cli_error("--net %s: interface "
							 "name longer than 15 "
							 "characters", optarg);
				o->tap = optarg + 4;
			} else {
				return cli_error("--net %s: expected tap=NAME "
						 "or none", optarg);
			}
			break;
		case 'r': o->rng = true; break;
		case 'C':
			if (cli_choice("--console", optarg, consoles, &i) < 0)
				return -1;
			o->virtio_console = i == 1;
			break;
		case 'T':
			if (cli_choice("--transport", optarg, transports,
				       &i) < 0)
				return -1;
			o->transport = i ? VMM_VIRTIO_MMIO : VMM_VIRTIO_PCI;
			break;
		case 'h':
			usage(stdout);
			exit(ST_OK);
		case ':':
			return cli_error("%s: needs an argument",
					 argv[optind - 1]);
		default:
			return cli_error("%s: unknown option (see --help)",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_error("%s: unexpected argument (options start with "
				 "--; see --help)", argv[optind]);
	if (!o->kernel && !o->restore)
		return cli_error("--kernel FILE or --restore FILE is needed "
				 "(see --help)");
	if (o->kernel && o->restore)
		return cli_error("--kernel and --restore exclude each other");
	if (o->load_addr_set && o->format && strcmp(o->format, "flat"))
		return cli_error("--load-addr is for --format flat only");
	if (o->transport == VMM_VIRTIO_MMIO) {
		size_t len = 0;
		unsigned n = o->ndisks + !!o->tap + o->rng + o->virtio_console;

		for (unsigned k = 0; k < n; k++)
			len += (size_t)snprintf(o->mmio_args + len,
						sizeof(o->mmio_args) - len,
						" virtio_mmio.device=4K@%#llx:%d",
						MMIO_BASE + 0x1000ull * k,
						mmio_irqs[k]);
	}
	if (o->ndisks + !!o->tap + o->rng + o->virtio_console > MAX_VIRTIO)
		return cli_error("too many virtio devices (at most %zu)",
				 MAX_VIRTIO);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .backend = VMM_BACKEND_AUTO, .mem = 256ull << 20,
			  .cpus = 1, .transport = VMM_VIRTIO_PCI };
	struct vmm_config cfg;
	struct vmm_boot_info info;
	struct image kimg = { 0 }, rdimg = { 0 };
	vmm_vm *vm = NULL;
	vmm_vcpu *vcpu;
	int ret, status = ST_SETUP;
	struct logctx logctx = { .running = false };

	cli_set_prog("vmm-run");
	if (parse_args(argc, argv, &o) < 0) {
		close_disks(&o);
		return ST_USAGE;
	}
	/* the guest's files are read before anything is created */
	if (o.kernel && (map_file("--kernel", o.kernel, &kimg) < 0 ||
			 (o.initrd && map_file("--initrd", o.initrd,
					       &rdimg) < 0))) {
		unmap_file(&kimg);
		close_disks(&o);
		return ST_LOAD;
	}
	vmm_config_init(&cfg);
	cfg.backend = o.backend;
	cfg.ncpus = o.cpus;
	cfg.cpu_model = o.cpu_model;
	cfg.irqchip = o.irqchip;
	cfg.ram_size = o.mem;
	cfg.flags = VMM_CFG_IGNORE_UNHANDLED_IO;
	if (!o.quiet) {
		cfg.log = log_cb;
		cfg.log_opaque = &logctx;
		cfg.log_level = VMM_LOG_WARN;
	}
	if (o.restore) {
		setvbuf(stdout, NULL, _IONBF, 0);
		if (restore(&o, &cfg, &vm) < 0) {
			close_disks(&o);
			return ST_LOAD;
		}
		goto run;
	}
	ret = vmm_vm_create(&cfg, &vm);
	if (ret < 0) {
		char why[160] = "";

		/* the library's reason; else what the backend probe says */
		if (!vmm_last_error(NULL, why, sizeof(why)))
			vmm_backend_probe(o.backend, why, sizeof(why));
		fprintf(stderr, "vmm-run: cannot create a %s VM: %s%s%s\n",
			vmm_backend_name(o.backend), vmm_strerror(ret),
			why[0] ? ": " : "", why);
		close_disks(&o);
		unmap_file(&kimg);
		unmap_file(&rdimg);
		return ST_SETUP;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	if ((ret = attach_devices(&o, vm)) < 0)
		goto out;
	for (unsigned i = 0; i < o.cpus; i++) {
		if ((ret = vmm_vcpu_create(vm, i, &vcpu)) < 0) {
			fprintf(stderr, "vmm-run: --cpus %u: vcpu %u: %s\n",
				o.cpus, i, vmm_strerror(ret));
			goto out;
		}
	}
	if (load(vm, &o, &info, &kimg, &rdimg) < 0) {
		status = ST_LOAD;
		goto out;
	}
	if ((ret = vmm_boot_setup_vcpu(vmm_vm_get_vcpu(vm, 0), &info)) < 0) {
		char msg[256];
		vmm_last_error(vm, msg, sizeof(msg));
		fprintf(stderr, "vmm-run: entry state: %s\n", msg);
		status = ST_LOAD;
		goto out;
	}
run:
	logctx.running = true;
	if (o.gdb) {
		status = run_gdb(vm, o.gdb);
		goto stopped;
	}
	if ((ret = vmm_vm_start(vm, on_exit_cb, NULL)) < 0) {
		fprintf(stderr, "vmm-run: start: %s\n", vmm_strerror(ret));
		status = ST_SETUP;
		goto out;
	}
	ret = vmm_vm_wait(vm, o.timeout_ms ? (int)o.timeout_ms : -1);
	if (ret == -ETIMEDOUT) {
		vmm_vm_stop(vm);
		fprintf(stderr, "vmm-run: timeout after %.3f s\n",
			(double)o.timeout_ms / 1000);
		/* where each vCPU was: the first thing to know about a hang */
		for (unsigned i = 0; i < o.cpus; i++)
			if (vmm_vm_get_vcpu(vm, i))
				report_rip(vmm_vm_get_vcpu(vm, i));
		status = ST_TIMEOUT;
	} else if (ret < 0) {
		fprintf(stderr, "vmm-run: %s\n", vmm_strerror(ret));
		status = ST_INTERNAL;
	} else if (ret == STOP_OTHER) {
		status = ST_OK;
	} else if (ret == STOP_ERROR) {
		status = ST_INTERNAL;
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
			status = ST_SNAPSHOT;
		}
	}
out:
	vmm_vm_destroy(vm);
	close_disks(&o);
	unmap_file(&kimg);
	unmap_file(&rdimg);
	return status;
}
