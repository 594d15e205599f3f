/* SPDX-License-Identifier: MIT */
/*
 * mguest.c - see mguest.h.
 */
#include "mguest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mg_init(struct mg *g)
{
	memset(g, 0, sizeof(*g));
	pthread_mutex_init(&g->lock, NULL);
}

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct mg *g = opaque;

	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < len && g->out_len < sizeof(g->out) - 1; i++)
		g->out[g->out_len++] = (char)buf[i];
	pthread_mutex_unlock(&g->lock);
}

/* The source VM's irqchip mode: env VMM_TEST_IRQCHIP (the destination of
 * a restore takes the library default, so kernel here tests a cross-mode
 * restore). */
enum vmm_irqchip_mode mg_irqchip(void)
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
	fprintf(stderr, "VMM_TEST_IRQCHIP=%s?\n", s);
	exit(1);
}

int mg_attach(void *opaque, vmm_vm *vm)
{
	struct mg *g = opaque;
	struct vmm_uart_config uc;
	vmm_dev *d;
	int ret;

	vmm_uart_config_init(&uc);
	uc.out_cb = uart_out;
	uc.out_opaque = g;
	if ((ret = vmm_uart_attach(vm, &uc, &d)))
		return ret;
	return vmm_debug_exit_attach(vm, 0xf4, 4, &d);
}

int mg_create(struct mg *g, enum vmm_backend backend, uint64_t ram,
	      uint64_t target, uint32_t npages, uint32_t delay,
	      uint32_t out_mask)
{
	return mg_create_flags(g, backend, 0, ram, target, npages, delay,
			       out_mask);
}

void (*mg_log_hook)(void *opaque, int level, const char *msg);

static void mg_log_stderr(void *opaque, int level, const char *msg)
{
	(void)opaque;
	fprintf(stderr, "  [libvmm %d] %s\n", level, msg);
}

int mg_create_flags(struct mg *g, enum vmm_backend backend, uint32_t flags,
		    uint64_t ram, uint64_t target, uint32_t npages,
		    uint32_t delay, uint32_t out_mask)
{
	struct migguest_params p = { target, npages, delay, out_mask };
	struct vmm_config cfg;
	int ret;

	vmm_config_init(&cfg);
	cfg.backend = backend;
	cfg.flags = flags;
	cfg.ram_size = ram;
	if (getenv("VMM_TEST_VERBOSE")) { /* the library's log on stderr */
		cfg.log = mg_log_stderr;
		cfg.log_level = VMM_LOG_DEBUG;
	}
	if (mg_log_hook) { /* a test reads the log */
		cfg.log = mg_log_hook;
		cfg.log_level = VMM_LOG_INFO;
	}
	cfg.irqchip = mg_irqchip();
	if ((ret = vmm_vm_create(&cfg, &g->vm)))
		return ret;
	if ((ret = vmm_vcpu_create(g->vm, 0, &g->vcpu)) ||
	    (ret = migguest_load(g->vm, g->vcpu, &p)) ||
	    (ret = mg_attach(g, g->vm))) {
		vmm_vm_destroy(g->vm);
		g->vm = NULL;
	}
	return ret;
}

int mg_stop_on_exit(void *opaque, vmm_vcpu *vcpu, struct vmm_exit *e)
{
	int64_t *value = opaque;

	(void)vcpu;
	if (e->kind == VMM_EXIT_GUEST_EXIT) {
		*value = e->guest.value;
		return 1;
	}
	return e->kind == VMM_EXIT_INTERRUPTED ? 0 : -EIO;
}

int64_t mg_run_to_exit(vmm_vcpu *vcpu)
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
