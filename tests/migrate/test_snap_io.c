/* SPDX-License-Identifier: MIT */
/*
 * test_snap_io - snapshots taken in the middle of a device read: the
 * embedder has answered an IN, a REP INS element or an MMIO read, then the
 * VM is saved (which completes the instruction, vcpu_complete_io) and
 * restored, possibly on the other backend.  The device must see each read
 * exactly once and the guest must get the values.  Public API only;
 * standalone: exit 0 pass, 1 fail, 77 skip.
 *
 *   test_snap_io soft    soft -> soft at every read exit, and an MMIO
 *                        read-modify-write whose write exit still comes
 *                        out of the source after the save
 *   test_snap_io cross   soft -> KVM, KVM -> soft and KVM -> KVM (skips
 *                        without /dev/kvm)
 */
#include "mcheck.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM 0x80000
#define CODE 0x1000
#define MMIO 0xd0000u

/*
 * 16-bit real mode, CS = DS = ES = SS = 0:
 *   in al, 0x510 -> [0x2000]; mov eax, [0xd0010] -> [0x2004];
 *   rep insb from 0x512 (3 bytes) -> [0x3000]; out 0x511, 0x77; hlt
 */
static const uint8_t prog[] = {
	0xba, 0x10, 0x05,             /* 1000: mov dx, 0x510 */
	0xec,                         /* 1003: in al, dx */
	0xa2, 0x00, 0x20,             /* 1004: mov [0x2000], al */
	0xb8, 0x00, 0xd0,             /* 1007: mov ax, 0xd000 */
	0x8e, 0xc0,                   /* 100a: mov es, ax */
	0x26, 0x66, 0xa1, 0x10, 0x00, /* 100c: mov eax, es:[0x10] */
	0x66, 0xa3, 0x04, 0x20,       /* 1011: mov [0x2004], eax */
	0x31, 0xc0,                   /* 1015: xor ax, ax */
	0x8e, 0xc0,                   /* 1017: mov es, ax */
	0xbf, 0x00, 0x30,             /* 1019: mov di, 0x3000 */
	0xb9, 0x03, 0x00,             /* 101c: mov cx, 3 */
	0xba, 0x12, 0x05,             /* 101f: mov dx, 0x512 */
	0xf3, 0x6c,                   /* 1022: rep insb */
	0xba, 0x11, 0x05,             /* 1024: mov dx, 0x511 */
	0xb0, 0x77,                   /* 1027: mov al, 0x77 */
	0xee,                         /* 1029: out dx, al */
	0xf4,                         /* 102a: hlt */
};

/* The device: counts every read it answers; values change per read. */
struct dev {
	unsigned in510, mmio10, in512, mmio20_r, mmio20_w;
	uint32_t last_write;
};

static void log_cb(void *opaque, int level, const char *msg)
{
	fprintf(stderr, "  [libvmm %d] %s\n", level, msg);
}

static vmm_vm *create(enum vmm_backend b, vmm_vcpu **cpu, const void *code,
		      size_t len)
{
	struct vmm_config cfg;
	struct vmm_cpu_state st;
	vmm_vm *vm;

	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.flags = VMM_CFG_NO_IRQCHIP;
	cfg.log = log_cb;
	OK(NULL, vmm_vm_create(&cfg, &vm));
	OK(vm, vmm_mem_add_ram(vm, 0, RAM));
	OK(vm, vmm_vcpu_create(vm, 0, cpu));
	OK(vm, vmm_mem_write(vm, CODE, code, len));
	OK(vm, vmm_vcpu_get_state(*cpu, &st));
	for (int s = VMM_ES; s <= VMM_GS; s++) {
		st.seg[s].selector = 0;
		st.seg[s].base = 0;
		st.seg[s].limit = 0xffff;
	}
	st.rip = CODE;
	st.gpr[VMM_RSP] = 0x8000;
	st.rflags = 2;
	OK(vm, vmm_vcpu_set_state(*cpu, &st));
	return vm;
}

/* Answer a read exit; true if it was one. */
static bool answer(struct dev *d, struct vmm_exit *e)
{
	if (e->kind == VMM_EXIT_IO && !e->io.is_write) {
		for (uint32_t k = 0; k < e->io.count; k++) {
			uint8_t *p = e->io.data + k * e->io.size;
			CHECK(e->io.size == 1, "IN size %u", e->io.size);
			if (e->io.port == 0x510)
				*p = (uint8_t)(0x5a + 0x10 * d->in510++);
			else if (e->io.port == 0x512)
				*p = (uint8_t)(0x41 + d->in512++);
			else
				CHECK(0, "IN from port 0x%x", e->io.port);
		}
		return true;
	}
	if (e->kind == VMM_EXIT_MMIO && !e->mmio.is_write) {
		uint32_t v;
		CHECK(e->mmio.len == 4, "MMIO read of %u bytes", e->mmio.len);
		if (e->mmio.gpa == MMIO + 0x10)
			v = 0x11223344u + d->mmio10++;
		else if (e->mmio.gpa == MMIO + 0x20)
			v = 0x1000u + 0x100 * d->mmio20_r++;
		else
			CHECK(0, "MMIO read at 0x%llx",
			      (unsigned long long)e->mmio.gpa);
		memcpy(e->mmio.data, &v, 4);
		return true;
	}
	return false;
}

/* Snapshot @vm into a memory file and restore it on @to. */
static vmm_vm *save_restore(vmm_vm *vm, enum vmm_backend to, vmm_vcpu **cpu,
			    struct vmm_cpu_state *saved)
{
	struct vmm_save_opts so = { .flags = VMM_SAVE_NO_SYNC };
	struct vmm_config ov;
	vmm_vm *nvm;
	int fd = memfd_create("snap-io", 0);

	CHECK(fd >= 0, "memfd_create");
	OK(vm, vmm_snapshot_save_fd(vm, fd, &so));
	OK(vm, vmm_vcpu_get_state(vmm_vm_get_vcpu(vm, 0), saved));
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
	vmm_config_init(&ov);
	ov.backend = to;
	ov.log = log_cb;
	OK(NULL, vmm_snapshot_restore_fd(fd, &ov, &nvm));
	close(fd);
	*cpu = vmm_vm_get_vcpu(nvm, 0);
	CHECK(*cpu, "restored VM has no vCPU 0");
	return nvm;
}

/*
 * Run prog on @from; at the @at-th read exit (1-based) answer it, save,
 * restore on @to and finish there.  Returns the number of read exits
 * seen before the end (to know how many snapshot points there are).
 */
static unsigned run_prog(enum vmm_backend from, enum vmm_backend to,
			 unsigned at)
{
	struct dev d = { 0 };
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vcpu *cpu;
	vmm_vm *vm = create(from, &cpu, prog, sizeof(prog));
	unsigned reads = 0;
	uint8_t b[3];
	uint32_t w;

	for (;;) {
		memset(&e, 0, sizeof(e));
		OK(vm, vmm_vcpu_run(cpu, &e));
		if (answer(&d, &e)) {
			reads++;
			if (reads == at) {
				uint64_t rip0;
				OK(vm, vmm_vcpu_get_state(cpu, &st));
				rip0 = st.rip;
				vmm_vm *nvm = save_restore(vm, to, &cpu, &st);
				/* the saved state is after the instruction,
				 * or (REP INS) after the element */
				if (rip0 == 0x1022) {
					CHECK(st.rip == 0x1024 ||
						      (st.rip == 0x1022 &&
						       (st.gpr[VMM_RCX] & 0xffff) <
							       3),
					      "rep insb: rip 0x%llx cx %llu",
					      (unsigned long long)st.rip,
					      (unsigned long long)st.gpr[VMM_RCX]);
				} else if (rip0 == 0x1003 || rip0 == 0x100c) {
					CHECK(st.rip == rip0 + (rip0 == 0x1003 ?
								1 : 5),
					      "saved rip 0x%llx after exit at 0x%llx",
					      (unsigned long long)st.rip,
					      (unsigned long long)rip0);
				} else if (from == VMM_BACKEND_SOFT) {
					CHECK(0, "soft read exit at rip 0x%llx",
					      (unsigned long long)rip0);
				}
				vmm_vm_destroy(vm);
				vm = nvm;
			}
			continue;
		}
		if (e.kind == VMM_EXIT_IO && e.io.is_write &&
		    e.io.port == 0x511)
			break;
		CHECK(0, "unexpected exit %s", vmm_exit_name(e.kind));
	}
	CHECK(e.io.data[0] == 0x77, "end marker 0x%x", e.io.data[0]);
	CHECK(d.in510 == 1 && d.mmio10 == 1 && d.in512 == 3,
	      "%s -> %s at read %u: device reads: port 0x510 %u, MMIO %u, port 0x512 %u (1, 1, 3 expected)",
	      vmm_backend_name(from), vmm_backend_name(to), at, d.in510,
	      d.mmio10, d.in512);
	OK(vm, vmm_mem_read(vm, 0x2000, b, 1));
	CHECK(b[0] == 0x5a, "IN value 0x%x", b[0]);
	OK(vm, vmm_mem_read(vm, 0x2004, &w, 4));
	CHECK(w == 0x11223344u, "MMIO value 0x%x", w);
	OK(vm, vmm_mem_read(vm, 0x3000, b, 3));
	CHECK(b[0] == 0x41 && b[1] == 0x42 && b[2] == 0x43,
	      "INS values %02x %02x %02x", b[0], b[1], b[2]);
	OK(vm, vmm_vcpu_get_state(cpu, &st));
	CHECK((st.gpr[VMM_RCX] & 0xffff) == 0 &&
		      (st.gpr[VMM_RDI] & 0xffff) == 0x3003,
	      "after rep insb: cx %llu di 0x%llx",
	      (unsigned long long)st.gpr[VMM_RCX],
	      (unsigned long long)st.gpr[VMM_RDI]);
	vmm_vm_destroy(vm);
	return reads;
}

static void run_all(enum vmm_backend from, enum vmm_backend to)
{
	unsigned n = run_prog(from, from, 0);

	CHECK(n >= 3, "%u read exits", n);
	for (unsigned at = 1; at <= n; at++)
		run_prog(from, to, at);
	printf("ok: %s -> %s: snapshot at each of %u read exits, every device read once\n",
	       vmm_backend_name(from), vmm_backend_name(to), n);
}

/*
 * add es:[0x20], al on MMIO: a read exit, then a write exit.  Saving at
 * the read completes the instruction: the saved state is after it and the
 * source's next run returns the write (read value + AL) before running on.
 */
static void rmw(enum vmm_backend from, enum vmm_backend to)
{
	static const uint8_t code[] = {
		0xb8, 0x00, 0xd0,       /* 1000: mov ax, 0xd000 */
		0x8e, 0xc0,             /* 1003: mov es, ax */
		0x66, 0xb8, 0x05, 0, 0, 0, /* 1005: mov eax, 5 */
		0x66, 0x26, 0x01, 0x06, 0x20, 0x00, /* 100b: add es:[0x20], eax */
		0xf4,                   /* 1011: hlt */
	};
	struct dev d = { 0 };
	struct vmm_cpu_state st;
	struct vmm_exit e;
	vmm_vcpu *cpu, *ncpu;
	vmm_vm *vm = create(from, &cpu, code, sizeof(code)), *nvm;
	uint32_t v;

	OK(vm, vmm_vcpu_run(cpu, &e));
	CHECK(e.kind == VMM_EXIT_MMIO && !e.mmio.is_write &&
		      e.mmio.gpa == MMIO + 0x20,
	      "exit %s", vmm_exit_name(e.kind));
	CHECK(answer(&d, &e), "read");
	nvm = save_restore(vm, to, &ncpu, &st);
	CHECK(st.rip == 0x1011, "rip 0x%llx after save",
	      (unsigned long long)st.rip);
	OK(nvm, vmm_vcpu_get_state(ncpu, &st));
	CHECK(st.rip == 0x1011, "restored rip 0x%llx",
	      (unsigned long long)st.rip);
	/* the source: the instruction's write, then HLT */
	memset(&e, 0, sizeof(e));
	OK(vm, vmm_vcpu_run(cpu, &e));
	CHECK(e.kind == VMM_EXIT_MMIO && e.mmio.is_write &&
		      e.mmio.gpa == MMIO + 0x20 && e.mmio.len == 4,
	      "exit %s after save", vmm_exit_name(e.kind));
	memcpy(&v, e.mmio.data, 4);
	CHECK(v == 0x1005, "written 0x%x", v);
	OK(vm, vmm_vcpu_run(cpu, &e));
	CHECK(e.kind == VMM_EXIT_HLT, "exit %s", vmm_exit_name(e.kind));
	/* the restored VM goes on after the instruction: no second read */
	OK(nvm, vmm_vcpu_run(ncpu, &e));
	CHECK(e.kind == VMM_EXIT_HLT, "restored: exit %s",
	      vmm_exit_name(e.kind));
	CHECK(d.mmio20_r == 1, "%u reads", d.mmio20_r);
	vmm_vm_destroy(nvm);
	vmm_vm_destroy(vm);
	printf("ok: %s -> %s: MMIO read-modify-write completed by the save, "
	       "write still delivered\n", vmm_backend_name(from),
	       vmm_backend_name(to));
}

int main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "soft";

	if (!strcmp(t, "soft")) {
		run_all(VMM_BACKEND_SOFT, VMM_BACKEND_SOFT);
		rmw(VMM_BACKEND_SOFT, VMM_BACKEND_SOFT);
		return 0;
	}
	if (!strcmp(t, "cross")) {
		char why[160];
		if (vmm_backend_probe(VMM_BACKEND_KVM, why, sizeof(why))) {
			printf("SKIP: no KVM: %s\n", why);
			return 77;
		}
		run_all(VMM_BACKEND_KVM, VMM_BACKEND_KVM);
		run_all(VMM_BACKEND_SOFT, VMM_BACKEND_KVM);
		run_all(VMM_BACKEND_KVM, VMM_BACKEND_SOFT);
		rmw(VMM_BACKEND_KVM, VMM_BACKEND_KVM);
		rmw(VMM_BACKEND_KVM, VMM_BACKEND_SOFT);
		return 0;
	}
	fprintf(stderr, "usage: test_snap_io soft|cross\n");
	return 2;
}
