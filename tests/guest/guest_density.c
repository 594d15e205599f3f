// SPDX-License-Identifier: MIT
/*
 * guest_density.c - many VMs in one process, and what happens at the
 * limit: with the process limit set so that only N VMs fit (RLIMIT_NOFILE
 * on KVM: file descriptors; RLIMIT_AS on soft: memory), VM N+1 must fail
 * cleanly (-EMFILE / -ENOMEM with a message, nothing leaked), and the N
 * VMs created before it must all still run their guest.  After one VM is
 * destroyed, a new one fits again.
 *
 *   guest_density BACKEND N
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <dirent.h>
#include <unistd.h>

#define CODE_GPA 0x1000u
#define PORT_WORK 0x80
#define RAM (64u << 20)

/* 32-bit, CPL3: add $1, (0x200000); out %al, $0x80; jmp . */
static const uint8_t touch_code[] = {
	0x83, 0x05, 0x00, 0x00, 0x20, 0x00, 0x01,
	0xe6, 0x80,
	0xeb, 0xfe,
};

static long count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", "..", the DIR's own fd */
}

static bool fd_used(int fd)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return access(p, F_OK) == 0;
}

/* The smallest limit under which exactly @need fd numbers are free. */
static long limit_for(long need)
{
	long l = 0;

	while (need > 0) {
		if (!fd_used((int)l))
			need--;
		l++;
	}
	return l;
}

static int cpl3_state(vmm_vcpu *vcpu)
{
	struct vmm_cpu_state st;
	int ret = vmm_vcpu_get_state(vcpu, &st);

	if (ret)
		return ret;
	vmm_state_flat_protected(&st, CODE_GPA);
	for (int i = VMM_ES; i <= VMM_GS; i++) {
		st.seg[i].dpl = 3;
		st.seg[i].selector |= 3;
	}
	st.rflags = VMM_RFLAGS_FIXED | VMM_RFLAGS_IOPL;
	st.gpr[VMM_RSP] = 0x8000;
	return vmm_vcpu_set_state(vcpu, &st);
}

struct vmslot {
	vmm_vm *vm;
	vmm_vcpu *vcpu;
};

/* Run the guest once more: it increments its counter and exits. */
static int run_once(struct vmslot *s)
{
	struct vmm_exit e;
	int ret;

	if ((ret = cpl3_state(s->vcpu)) || (ret = vmm_vcpu_run(s->vcpu, &e)))
		return ret;
	return e.kind == VMM_EXIT_IO && e.io.port == PORT_WORK ? 0 : -EPROTO;
}

static int make_vm(enum vmm_backend b, struct vmslot *s, char *why,
		   size_t len)
{
	struct vmm_config cfg;
	int ret;

	why[0] = 0;
	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.irqchip = gh_irqchip();
	cfg.ram_size = RAM;
	ret = vmm_vm_create(&cfg, &s->vm);
	if (ret) {
		snprintf(why, len, "vmm_vm_create: %s", vmm_strerror(ret));
		return ret;
	}
	if ((ret = vmm_vcpu_create(s->vm, 0, &s->vcpu)) ||
	    (ret = vmm_mem_write(s->vm, CODE_GPA, touch_code,
				 sizeof(touch_code))) ||
	    (ret = run_once(s))) {
		vmm_last_error(s->vm, why, len);
		vmm_vm_destroy(s->vm);
		s->vm = NULL;
		return ret;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 3, "BACKEND N");
	int n = atoi(argv[2]), i, ret = 0, fails = 0;
	struct vmslot *vms = calloc((size_t)n + 2, sizeof(*vms));
	struct rlimit rl, old;
	long fds0 = count_fds();
	char why[256];
	uint32_t counter;

	if (n < 1 || !vms)
		return 1;
	/* room for exactly n VMs: measure one VM first */
	struct vmslot probe;
	long fd_per_vm;
	FILE *f;
	unsigned long vsz0 = 0, vsz1 = 0;

	f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lu", &vsz0) != 1)
		return 1;
	fclose(f);
	if (make_vm(b, &probe, why, sizeof(why))) {
		fprintf(stderr, "FAIL: first VM: %s\n", why);
		return 1;
	}
	fd_per_vm = count_fds() - fds0;
	f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lu", &vsz1) != 1)
		return 1;
	fclose(f);
	vms[0] = probe;
	if (b == VMM_BACKEND_KVM) {
		getrlimit(RLIMIT_NOFILE, &old);
		/* free fd numbers for n-1 more VMs, plus the /dev/kvm fd a
		 * creation holds until its VM is set up: VM n+1 runs out.
		 * (Inherited fds leave holes: count free numbers.) */
		rl.rlim_cur = (rlim_t)limit_for(fd_per_vm * (n - 1) + 1);
		rl.rlim_max = old.rlim_max;
		if (rl.rlim_cur > old.rlim_max) {
			fprintf(stderr, "hard fd limit %lu too low for %d VMs\n",
				(unsigned long)old.rlim_max, n);
			return 77;
		}
		if (setrlimit(RLIMIT_NOFILE, &rl)) {
			perror("setrlimit");
			return 1;
		}
	} else {
		unsigned long per = (vsz1 - vsz0) * (unsigned long)getpagesize();
		getrlimit(RLIMIT_AS, &old);
		rl.rlim_cur = (rlim_t)(vsz1 * (unsigned long)getpagesize() +
				       per * (unsigned long)(n - 1) + per / 2);
		rl.rlim_max = old.rlim_max;
		if (setrlimit(RLIMIT_AS, &rl)) {
			perror("setrlimit");
			return 1;
		}
	}
	for (i = 1; i <= n; i++) {
		ret = make_vm(b, &vms[i], why, sizeof(why));
		if (ret)
			break;
	}
	printf("%s: %d VMs created (%ld fds per VM); VM %d: %s (%s)\n",
	       vmm_backend_name(b), i, fd_per_vm, i + 1,
	       ret ? vmm_err_name(ret) : "created", why);
	if (!ret) {
		fprintf(stderr, "FAIL: VM %d fit although the limit was set "
			"for %d\n", n + 1, n);
		fails++;
	} else if ((ret != -EMFILE && ret != -ENFILE && ret != -ENOMEM) ||
		   !strcmp(vmm_err_name(ret), "E?")) {
		fprintf(stderr, "FAIL: VM %d failed with %s, want EMFILE or "
			"ENOMEM\n", i + 1, vmm_err_name(ret));
		fails++;
	}
	if (i < n * 9 / 10) {
		fprintf(stderr, "FAIL: only %d of %d VMs fit\n", i, n);
		fails++;
	}
	/* every VM created before the failure still runs */
	for (int j = 0; j < i; j++) {
		ret = run_once(&vms[j]);
		if (!ret)
			ret = vmm_mem_read(vms[j].vm, 0x200000, &counter,
					   sizeof(counter));
		if (ret || counter != 2) {
			fprintf(stderr, "FAIL: VM %d after the limit: %s, "
				"counter %u\n", j, vmm_strerror(ret), counter);
			fails++;
		}
	}
	/* one gone, one fits again */
	vmm_vm_destroy(vms[0].vm);
	vms[0].vm = NULL;
	ret = make_vm(b, &vms[0], why, sizeof(why));
	if (ret) {
		fprintf(stderr, "FAIL: no VM fits after destroying one: %s\n",
			why);
		fails++;
	}
	for (int j = 0; j < i; j++)
		vmm_vm_destroy(vms[j].vm);
	setrlimit(b == VMM_BACKEND_KVM ? RLIMIT_NOFILE : RLIMIT_AS, &old);
	if (count_fds() != fds0) {
		fprintf(stderr, "FAIL: %ld fds before, %ld after\n", fds0,
			count_fds());
		fails++;
	}
	free(vms);
	printf("%s\n", fails ? "FAILED" : "ok: the limit failed one VM "
					  "cleanly, the others kept running");
	return fails ? 1 : 0;
}
