/* SPDX-License-Identifier: MIT */
/*
 * harness.c - see harness.h.  Uses the public API only.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* VMs alive in this test process, for the watchdog's report. */
#define GH_MAX_LIVE 8
static struct gh_vm *volatile live[GH_MAX_LIVE];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int watchdog_secs;
static int log_level = VMM_LOG_WARN;

static void wd_write(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

static void watchdog_fired(int sig)
{
	(void)sig;
	wd_write("FAIL: watchdog: the test did not finish in time "
		 "(a guest hung?)\n");
	for (int i = 0; i < GH_MAX_LIVE; i++) {
		struct gh_vm *g = live[i];
		if (!g)
			continue;
		/* Racy read of the buffer, good enough for a post-mortem. */
		wd_write("--- output of ");
		wd_write(g->name);
		wd_write(" so far:\n");
		ssize_t r = write(STDERR_FILENO, g->out, g->out_len);
		(void)r;
		wd_write("\n---\n");
	}
	_exit(1);
}

double gh_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void gh_fail(struct gh_vm *g, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: ");
	if (g && g->name)
		fprintf(stderr, "[%s] ", g->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (g && g->vm) {
		char msg[256];
		vmm_last_error(g->vm, msg, sizeof(msg));
		if (msg[0])
			fprintf(stderr, "  libvmm last error: %s\n", msg);
		char *out = gh_output(g);
		fprintf(stderr, "  guest output so far:\n%s\n", out);
		free(out);
	}
	exit(1);
}

static enum vmm_backend parse_backend(const char *s)
{
	if (!strcmp(s, "kvm"))
		return VMM_BACKEND_KVM;
	if (!strcmp(s, "soft"))
		return VMM_BACKEND_SOFT;
	if (!strcmp(s, "auto"))
		return VMM_BACKEND_AUTO;
	fprintf(stderr, "unknown backend '%s' (kvm, soft, auto)\n", s);
	exit(1);
}

static void skip(const char *why)
{
	printf("SKIP: %s\n", why);
	exit(77);
}

enum vmm_backend gh_backend(const char *name)
{
	enum vmm_backend b = parse_backend(name);

	/*
	 * Skip only when the backend is absent.  KVM: no /dev/kvm or not
	 * built in (the library's probe says -ENODEV for both).  If it
	 * exists but a VM cannot be created, the test fails.
	 */
	if (b == VMM_BACKEND_KVM &&
	    vmm_backend_available(VMM_BACKEND_KVM) == -ENODEV)
		skip("no KVM backend here (no /dev/kvm or not built in)");
	if (b == VMM_BACKEND_SOFT &&
	    vmm_backend_available(VMM_BACKEND_SOFT) == -ENODEV)
		skip("the software backend is not available in this build");
	return b;
}

enum vmm_backend gh_init(int argc, char **argv, int min_argc,
			 const char *usage)
{
	const char *name = argc > 1 ? argv[1] : getenv("VMM_TEST_BACKEND");
	const char *env;
	enum vmm_backend b;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < min_argc || !name) {
		fprintf(stderr, "usage: %s BACKEND %s\n", argv[0], usage);
		exit(1);
	}
	b = gh_backend(name);

	env = getenv("VMM_TEST_VERBOSE");
	if (env && *env)
		log_level = VMM_LOG_DEBUG;
	env = getenv("VMM_TEST_WATCHDOG");
	watchdog_secs = env ? atoi(env) : 30;
	if (watchdog_secs > 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = watchdog_fired;
		sigaction(SIGALRM, &sa, NULL);
		alarm((unsigned)watchdog_secs);
	}
	return b;
}

static void gh_log(void *opaque, int level, const char *msg)
{
	struct gh_vm *g = opaque;
	static const char *const names[] = {"error", "warn", "info", "debug"};

	fprintf(stderr, "[libvmm %s] %s: %s\n", g->name,
		level >= 0 && level <= 3 ? names[level] : "?", msg);
}

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct gh_vm *g = opaque;

	pthread_mutex_lock(&g->lock);
	if (len > GH_OUT_MAX - g->out_len) {
		len = GH_OUT_MAX - g->out_len;
		g->out_overflow = true;
	}
	memcpy(g->out + g->out_len, buf, len);
	g->out_len += len;
	pthread_mutex_unlock(&g->lock);
}

enum vmm_irqchip_mode gh_irqchip(void)
{
	const char *s = getenv("VMM_TEST_IRQCHIP");

	if (!s || !*s || !strcmp(s, "default"))
		return VMM_IRQCHIP_DEFAULT;
	if (!strcmp(s, "kernel"))
		return VMM_IRQCHIP_KERNEL;
	if (!strcmp(s, "split"))
		return VMM_IRQCHIP_SPLIT;
	if (!strcmp(s, "none"))
		return VMM_IRQCHIP_NONE;
	fprintf(stderr, "VMM_TEST_IRQCHIP=%s: want default, kernel, split "
		"or none\n", s);
	exit(1);
}

void gh_create(struct gh_vm *g, const char *name, enum vmm_backend backend,
	       uint32_t flags, uint64_t ram)
{
	struct vmm_config cfg;
	struct vmm_uart_config ucfg;
	int rc;

	memset(g, 0, sizeof(*g));
	g->name = name;
	g->backend = backend;
	pthread_mutex_init(&g->lock, NULL);

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.flags = flags;
	cfg.irqchip = gh_irqchip();
	cfg.log = gh_log;
	cfg.log_opaque = g;
	cfg.log_level = log_level;
	rc = vmm_vm_create(&cfg, &g->vm);
	if (rc < 0)
		gh_fail(g, "vmm_vm_create(%s): %s (%s)%s",
			vmm_backend_name(backend), vmm_err_name(rc),
			vmm_strerror(rc),
			backend == VMM_BACKEND_KVM
				? " although /dev/kvm exists"
				: "");
	GH_CHECK(g, backend == VMM_BACKEND_AUTO ||
			    vmm_vm_backend(g->vm) == backend,
		 "VM runs on %s, not %s", vmm_backend_name(vmm_vm_backend(g->vm)),
		 vmm_backend_name(backend));

	pthread_mutex_lock(&live_lock);
	for (int i = 0; i < GH_MAX_LIVE; i++) {
		if (!live[i]) {
			live[i] = g;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);

	GH_OK(g, vmm_mem_add_ram(g->vm, 0, ram));
	GH_OK(g, vmm_vcpu_create(g->vm, 0, &g->vcpu));

	memset(&ucfg, 0, sizeof(ucfg));
	ucfg.port = 0x3f8;
	ucfg.irq = -1;
	ucfg.out_fd = -1;
	ucfg.in_fd = -1;
	ucfg.out_cb = uart_out;
	ucfg.out_opaque = g;
	GH_OK(g, vmm_uart_attach(g->vm, &ucfg, &g->uart));
	GH_OK(g, vmm_debug_exit_attach(g->vm, 0xf4, 4, &g->debug_exit));
}

char *gh_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;

	if (!f || fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "FAIL: cannot open %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "FAIL: cannot read %s\n", path);
		exit(1);
	}
	buf[st.st_size] = 0;
	fclose(f);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

void gh_load(struct gh_vm *g, const char *path)
{
	size_t len;
	char *img = gh_read_file(path, &len);
	enum vmm_image_format fmt = vmm_image_detect(img, len);

	switch (fmt) {
	case VMM_IMAGE_MULTIBOOT:
		GH_OK(g, vmm_image_load_multiboot(g->vm, img, len, "", NULL, 0,
					    &g->info));
		break;
	case VMM_IMAGE_FLAT:
		GH_OK(g, vmm_image_load_flat(g->vm, img, len, GH_REAL16_LOAD,
				       VMM_BOOT_REAL16, &g->info));
		break;
	default:
		gh_fail(g, "%s: unexpected image format %s", path,
			vmm_image_format_name(fmt));
	}
	GH_OK(g, vmm_boot_setup_vcpu(g->vcpu, &g->info));
	free(img);
}

void gh_run(struct gh_vm *g, struct vmm_exit *exit)
{
	/* Not cleared: a read's value may be in exit->io.data/mmio.data. */
	GH_OK(g, vmm_vcpu_run_loop(g->vcpu, exit));
}

void gh_destroy(struct gh_vm *g)
{
	pthread_mutex_lock(&live_lock);
	for (int i = 0; i < GH_MAX_LIVE; i++)
		if (live[i] == g)
			live[i] = NULL;
	pthread_mutex_unlock(&live_lock);
	vmm_vm_destroy(g->vm);
	g->vm = NULL;
	g->vcpu = NULL;
	pthread_mutex_destroy(&g->lock);
}

char *gh_output(struct gh_vm *g)
{
	char *s;

	pthread_mutex_lock(&g->lock);
	s = malloc(g->out_len + 1);
	if (s) {
		memcpy(s, g->out, g->out_len);
		s[g->out_len] = 0;
	}
	pthread_mutex_unlock(&g->lock);
	if (!s)
		abort();
	return s;
}

const char *gh_describe_exit(const struct vmm_exit *e, char *buf, size_t len)
{
	switch (e->kind) {
	case VMM_EXIT_IO:
		snprintf(buf, len, "io %s port 0x%x size %u count %u",
			 e->io.is_write ? "write" : "read", e->io.port,
			 e->io.size, e->io.count);
		break;
	case VMM_EXIT_MMIO:
		snprintf(buf, len, "mmio %s gpa 0x%llx len %u",
			 e->mmio.is_write ? "write" : "read",
			 (unsigned long long)e->mmio.gpa, e->mmio.len);
		break;
	case VMM_EXIT_GUEST_EXIT:
		snprintf(buf, len, "guest-exit value 0x%x status %u",
			 e->guest.value, e->guest.status);
		break;
	case VMM_EXIT_INTERNAL:
	case VMM_EXIT_FAIL_ENTRY:
		snprintf(buf, len, "%s reason %u code %d: %s",
			 vmm_exit_name(e->kind), e->internal.reason,
			 e->internal.code, e->internal.msg);
		break;
	default:
		snprintf(buf, len, "%s", vmm_exit_name(e->kind));
		break;
	}
	return buf;
}

static bool is_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

bool gh_match(const char *e, const char *g)
{
	while (*e) {
		if (!strncmp(e, "{n}", 3)) {
			/* One or more digits; try every split (backtrack). */
			if (!is_digit(*g))
				return false;
			const char *p = g;
			while (is_digit(*p))
				p++;
			for (; p > g; p--)
				if (gh_match(e + 3, p))
					return true;
			return false;
		}
		if (*e != *g)
			return false;
		e++;
		g++;
	}
	return *g == 0;
}

void gh_expect_output(struct gh_vm *g, const char *expected)
{
	char *got = gh_output(g);

	if (g->out_overflow || !gh_match(expected, got)) {
		fprintf(stderr,
			"FAIL: [%s] output mismatch%s\n--- expected\n%s--- got\n"
			"%s---\n",
			g->name, g->out_overflow ? " (overflowed)" : "",
			expected, got);
		free(got);
		exit(1);
	}
	free(got);
}
