/* SPDX-License-Identifier: MIT */
/*
 * conf_run - run the system-level conformance guest (tests/guests/conf)
 * through the public API and judge its report.
 *
 *   conf_run BACKEND IMAGE GROUPS [NCPUS [CPU-MODEL]]
 *
 * GROUPS is a comma list ("exc,seg") passed to the guest as only=GROUPS.
 * The guest prints "PASS x", "FAIL x expected .. got ..", "SKIP x (why)"
 * and "DONE pass=.. fail=.. skip=..", then writes the debug-exit port.
 *
 * When the backend is KVM and the host is the nested kvm_pvm (probed:
 * /sys/module/kvm_pvm), the guest is told host=kvm_pvm and skips, with the
 * reason printed, only the checks docs/conformance.md lists as gaps of
 * that host.  Set VMM_CONF_HOST to override the probe ("none" = no gaps).
 *
 * Exit: 1 on any FAIL line, a missing DONE line or any other end than the
 * guest's exit (shutdown, internal error, a vCPU that stopped); 77 when
 * the backend is absent or every check of the group was skipped; else 0.
 * Output: the guest's lines, then a summary.
 */
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define CONF_EXIT_OK ((0x60u << 1) | 1)
#define CONF_EXIT_FAIL ((0x7fu << 1) | 1)

struct run {
	pthread_mutex_t lock;
	char out[GH_OUT_MAX + 1];
	size_t len;
	int result;          /* stop value */
	char why[160];       /* how a vCPU ended, if not by the guest exit */
	vmm_vcpu *vcpu[2];
};

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct run *r = opaque;

	pthread_mutex_lock(&r->lock);
	if (len > GH_OUT_MAX - r->len)
		len = GH_OUT_MAX - r->len;
	memcpy(r->out + r->len, buf, len);
	r->len += len;
	pthread_mutex_unlock(&r->lock);
}

static void log_cb(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "[libvmm %d] %s\n", level, msg);
}

/* a vCPU exit the run loop hands back: the guest's end, or a failure */
static int conf_on_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	struct run *r = opaque;
	unsigned idx = vcpu == r->vcpu[0] ? 0 : 1;

	if (e->kind == VMM_EXIT_GUEST_EXIT)
		return (int)e->guest.status;
	struct vmm_cpu_state st;
	unsigned long long rip = 0, cr0 = 0;
	if (vmm_vcpu_get_state(vcpu, &st) == 0) {
		rip = st.rip;
		cr0 = st.cr0;
	}
	pthread_mutex_lock(&r->lock);
	if (e->kind == VMM_EXIT_INTERNAL || e->kind == VMM_EXIT_FAIL_ENTRY)
		snprintf(r->why, sizeof(r->why),
			 "vCPU %u: %s: %s (rip 0x%llx cr0 0x%llx)", idx,
			 vmm_exit_name(e->kind), e->internal.msg, rip, cr0);
	else
		snprintf(r->why, sizeof(r->why),
			 "vCPU %u: exit %s (rip 0x%llx cr0 0x%llx)", idx,
			 vmm_exit_name(e->kind), rip, cr0);
	pthread_mutex_unlock(&r->lock);
	return 1000 + (int)e->kind;
}

static const char *host_probe(enum vmm_backend b)
{
	const char *h = getenv("VMM_CONF_HOST");

	if (h)
		return h;
	if (b == VMM_BACKEND_KVM && access("/sys/module/kvm_pvm", F_OK) == 0)
		return "kvm_pvm";
	return "none";
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 4,
				     "conf_run BACKEND IMAGE GROUPS [NCPUS [CPU-MODEL]]");
	unsigned ncpus = argc > 4 ? (unsigned)atoi(argv[4]) : 1;
	enum vmm_cpu_model model = VMM_CPU_DEFAULT;
	struct run *r = calloc(1, sizeof(*r));
	struct vmm_config cfg;
	struct vmm_uart_config ucfg;
	struct vmm_boot_info info;
	vmm_vm *vm = NULL;
	vmm_vcpu **vcpu = NULL;
	vmm_dev *uart, *dexit;
	char cmdline[256];
	size_t len;
	char *img;
	int rc;

	if (argc > 5 && vmm_cpu_model_parse(argv[5], &model) < 0) {
		fprintf(stderr, "FAIL: unknown CPU model %s\n", argv[5]);
		free(r);
		return 1;
	}
	if (!r || ncpus < 1 || ncpus > 2) {
		fprintf(stderr, "FAIL: bad arguments\n");
		return 1;
	}
	pthread_mutex_init(&r->lock, NULL);
	vcpu = r->vcpu;
	vmm_config_init(&cfg);
	cfg.backend = b;
	cfg.ncpus = ncpus;
	cfg.cpu_model = model;
	cfg.log = log_cb;
	cfg.log_level = 1;
	rc = vmm_vm_create(&cfg, &vm);
	if (rc < 0) {
		fprintf(stderr, "FAIL: vmm_vm_create(%s): %s\n",
			vmm_backend_name(b), vmm_strerror(rc));
		return 1;
	}
#define OK(call)                                                               \
	do {                                                                   \
		rc = (call);                                                   \
		if (rc < 0) {                                                  \
			char e_[256] = "";                                     \
			vmm_last_error(vm, e_, sizeof(e_));                    \
			fprintf(stderr, "FAIL: %s: %s (%s)\n", #call,          \
				vmm_strerror(rc), e_);                         \
			return 1;                                              \
		}                                                              \
	} while (0)
	OK(vmm_mem_add_ram(vm, 0, GH_RAM_DEFAULT));
	for (unsigned i = 0; i < ncpus; i++)
		OK(vmm_vcpu_create(vm, i, &vcpu[i]));
	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.port = 0x3f8;
	ucfg.irq = -1;
	ucfg.out_fd = -1;
	ucfg.in_fd = -1;
	ucfg.out_cb = uart_out;
	ucfg.out_opaque = r;
	OK(vmm_uart_attach(vm, &ucfg, &uart));
	OK(vmm_debug_exit_attach(vm, 0xf4, 4, &dexit));

	snprintf(cmdline, sizeof(cmdline), "only=%s host=%s", argv[3],
		 host_probe(b));
	img = gh_read_file(argv[2], &len);
	OK(vmm_image_load_multiboot(vm, img, len, cmdline, NULL, 0, &info));
	free(img);
	OK(vmm_boot_setup_vcpu(vcpu[0], &info));

	double t0 = gh_now();
	OK(vmm_vm_start(vm, conf_on_exit, r));
	const char *tmo = getenv("VMM_CONF_TIMEOUT_MS");
	r->result = vmm_vm_wait(vm, tmo ? atoi(tmo) : 25000);
	double secs = gh_now() - t0;
	vmm_vm_stop(vm);
	if (r->result == -ETIMEDOUT) {
		/* where each vCPU was */
		for (unsigned i = 0; i < ncpus; i++) {
			struct vmm_cpu_state st;
			if (vmm_vcpu_get_state(vcpu[i], &st) < 0)
				continue;
			printf("vCPU %u hung: rip 0x%llx cs 0x%x cr0 0x%llx "
			       "rflags 0x%llx rsp 0x%llx\n", i,
			       (unsigned long long)st.rip,
			       st.seg[VMM_CS].selector,
			       (unsigned long long)st.cr0,
			       (unsigned long long)st.rflags,
			       (unsigned long long)st.gpr[VMM_RSP]);
		}
		snprintf(r->why, sizeof(r->why), "timed out");
	}

	/* judge the report */
	unsigned pass = 0, fail = 0, skip = 0;
	bool done = false;
	pthread_mutex_lock(&r->lock);
	r->out[r->len] = 0;
	fputs(r->out, stdout);
	for (char *l = r->out; *l;) {
		char *nl = strchr(l, '\n');
		if (!strncmp(l, "PASS ", 5))
			pass++;
		else if (!strncmp(l, "FAIL ", 5))
			fail++;
		else if (!strncmp(l, "SKIP ", 5))
			skip++;
		else if (!strncmp(l, "DONE ", 5))
			done = true;
		if (!nl)
			break;
		l = nl + 1;
	}
	pthread_mutex_unlock(&r->lock);
	printf("conf_run %s %s: %u pass, %u fail, %u skip in %.2f s\n",
	       vmm_backend_name(b), argv[3], pass, fail, skip, secs);
	vmm_vm_destroy(vm);
	int status;
	if (r->result != (int)CONF_EXIT_OK && r->result != (int)CONF_EXIT_FAIL) {
		printf("FAIL: the guest did not finish: %s (stop value %d)\n",
		       r->why[0] ? r->why : "?", r->result);
		status = 1;
	} else if (!done || fail || r->result != (int)CONF_EXIT_OK) {
		status = 1;
	} else if (!pass && skip) {
		status = 77;
	} else {
		status = pass ? 0 : 1;
	}
	pthread_mutex_destroy(&r->lock);
	free(r);
	return status;
}
