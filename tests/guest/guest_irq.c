// SPDX-License-Identifier: MIT
/*
 * guest_irq.c - real interrupts through every path of the interrupt
 * controllers, in the irqchip mode of env VMM_TEST_IRQCHIP (default,
 * kernel, split, none): the irq32 guest (tests/guests/irq32.S) takes PIT
 * ticks through the PIC (ExtINT via LINT0) and through the IOAPIC (edge),
 * then a level-triggered line this program drives, which needs working
 * EOIs.  It reports 'P', 'I', 'L' on port 0x602 and exits with status 0x43.
 *
 * In VMM_IRQCHIP_NONE the same guest must get the documented behaviour:
 * its PIC/PIT/IOAPIC accesses are unhandled I/O (completed as an empty bus
 * with VMM_CFG_IGNORE_UNHANDLED_IO), no interrupt ever comes, and its
 * first HLT returns VMM_EXIT_HLT; vmm_irq_set_line() gives -ENODEV.  Without
 * the flag, every PIC/ELCR/PIT port access and IOAPIC/LAPIC page access
 * the guest makes is returned to the embedder as an I/O or MMIO exit (this
 * program completes it as an empty bus and runs on); the guest still ends
 * in HLT, and the VM is never stopped.
 *
 *   guest_irq BACKEND IMAGE
 */
#include "harness.h"

#include <errno.h>
#include <string.h>

struct line_dev {
	vmm_vm *vm;
	pthread_mutex_t lock;
	char marks[8];
	unsigned nmarks;
	int raise_err;
};

static int line_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	struct line_dev *d = opaque;
	int r = 0;

	(void)size;
	(void)ctx;
	if (off == 0)
		r = vmm_irq_set_line(d->vm, 10, 1);
	else if (off == 1)
		r = vmm_irq_set_line(d->vm, 10, 0);
	pthread_mutex_lock(&d->lock);
	if (off == 2 && d->nmarks < sizeof(d->marks) - 1)
		d->marks[d->nmarks++] = *(const char *)data;
	if (r && !d->raise_err)
		d->raise_err = r;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int line_read(void *opaque, uint64_t off, void *data, unsigned size,
		     struct vmm_io_ctx *ctx)
{
	(void)opaque;
	(void)off;
	(void)ctx;
	memset(data, 0xff, size);
	return 0;
}

static bool irq_port(uint16_t p)
{
	return p == 0x20 || p == 0x21 || p == 0xa0 || p == 0xa1 ||
	       p == 0x4d0 || p == 0x4d1 || (p >= 0x40 && p <= 0x43) ||
	       p == 0x61;
}

/*
 * IRQCHIP_NONE without VMM_CFG_IGNORE_UNHANDLED_IO: the guest's interrupt
 * controller and PIT accesses come to us; returns how many, -1 on failure.
 */
static int none_unhandled(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;
	char desc[160];
	int pio = 0, mmio = 0;

	gh_create(&g, "irq-none-exits", b, 0, GH_RAM_DEFAULT);
	GH_CHECK(&g, vmm_vm_irqchip(g.vm) == VMM_IRQCHIP_NONE,
		 "asked for none, got '%s'",
		 vmm_irqchip_name(vmm_vm_irqchip(g.vm)));
	gh_load(&g, image);
	for (int n = 0; n < 10000; n++) {
		gh_run(&g, &e);
		if (e.kind == VMM_EXIT_IO && irq_port(e.io.port)) {
			if (!e.io.is_write)
				memset(e.io.data, 0xff,
				       (size_t)e.io.size * e.io.count);
			pio++;
			continue;
		}
		if (e.kind == VMM_EXIT_MMIO &&
		    ((e.mmio.gpa & ~0xfffull) == 0xfec00000ull ||
		     (e.mmio.gpa & ~0xfffull) == 0xfee00000ull)) {
			if (!e.mmio.is_write)
				memset(e.mmio.data, 0xff, e.mmio.len);
			mmio++;
			continue;
		}
		break;
	}
	gh_describe_exit(&e, desc, sizeof(desc));
	GH_CHECK(&g, e.kind == VMM_EXIT_HLT,
		 "irqchip none, no IGNORE_UNHANDLED_IO: expected HLT after "
		 "%d port and %d MMIO exits, got %s", pio, mmio, desc);
	GH_CHECK(&g, pio > 0, "irqchip none: the guest's PIC/PIT accesses "
		 "never reached the embedder");
	printf("irqchip none without IGNORE_UNHANDLED_IO: %d port exits, "
	       "%d MMIO exits, then %s\n", pio, mmio, desc);
	gh_destroy(&g);
	return pio + mmio;
}

static const struct vmm_io_ops line_ops = { .read = line_read,
					    .write = line_write };

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 3, "BACKEND IMAGE");
	enum vmm_irqchip_mode want = gh_irqchip(), mode;
	struct line_dev d = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct gh_vm g;
	struct vmm_exit exit;
	char desc[160];
	double t0, t1;

	/* a mode that does not exist */
	{
		struct vmm_config bad;
		vmm_vm *vm = NULL;

		vmm_config_init(&bad);
		bad.backend = b;
		bad.irqchip = 7;
		if (vmm_vm_create(&bad, &vm) != -EINVAL) {
			fprintf(stderr, "FAIL: irqchip mode 7 must give -EINVAL\n");
			vmm_vm_destroy(vm);
			return 1;
		}
	}
	gh_create(&g, "irq", b,
		  want == VMM_IRQCHIP_NONE ? VMM_CFG_IGNORE_UNHANDLED_IO : 0,
		  GH_RAM_DEFAULT);
	mode = vmm_vm_irqchip(g.vm);
	GH_CHECK(&g, mode != VMM_IRQCHIP_DEFAULT &&
			     (want == VMM_IRQCHIP_DEFAULT || mode == want),
		 "asked for irqchip '%s', got '%s'", vmm_irqchip_name(want),
		 vmm_irqchip_name(mode));
	d.vm = g.vm;
	GH_OK(&g, vmm_bus_register(g.vm, VMM_SPACE_PIO, 0x600, 3, &line_ops,
				   &d, "irq-line"));
	gh_load(&g, argv[2]);
	t0 = gh_now();
	gh_run(&g, &exit);
	t1 = gh_now();
	gh_describe_exit(&exit, desc, sizeof(desc));

	if (mode == VMM_IRQCHIP_NONE) {
		GH_CHECK(&g, exit.kind == VMM_EXIT_HLT,
			 "irqchip none: expected HLT, got %s", desc);
		GH_CHECK(&g, d.nmarks == 0, "irqchip none: marks '%s'",
			 d.marks);
		GH_CHECK(&g, vmm_irq_set_line(g.vm, 10, 1) == -ENODEV,
			 "irqchip none: vmm_irq_set_line must give -ENODEV");
		GH_CHECK(&g, vmm_irq_send_msi(g.vm, 0xfee00000, 0x30) == -ENODEV,
			 "irqchip none: vmm_irq_send_msi must give -ENODEV");
	} else {
		GH_CHECK(&g, exit.kind == VMM_EXIT_GUEST_EXIT &&
				     exit.guest.value == 0x21,
			 "expected guest exit 0x21, got %s (marks '%s')", desc,
			 d.marks);
		GH_CHECK(&g, !strcmp(d.marks, "PIL"), "marks '%s', want PIL",
			 d.marks);
		GH_CHECK(&g, d.raise_err == 0, "vmm_irq_set_line: %s",
			 vmm_strerror(d.raise_err));
	}
	printf("irq32 on %s, irqchip %s: %s, marks '%s', %.1f ms\n",
	       vmm_backend_name(b), vmm_irqchip_name(mode), desc, d.marks,
	       (t1 - t0) * 1e3);
	gh_destroy(&g);
	if (mode == VMM_IRQCHIP_NONE)
		none_unhandled(b, argv[2]);
	return 0;
}
