/* SPDX-License-Identifier: MIT */
/*
 * kvm_notify.c - the KVM backend's ioeventfd and irqfd ops: KVM_IOEVENTFD
 * (PIO or MMIO, with datamatch and length) and KVM_IRQFD.  An irqfd for an
 * MSI needs a GSI whose routing entry is that MSI: KVM_SET_GSI_ROUTING
 * replaces the whole table, so we keep KVM's default entries (GSI 0-15 to
 * both PICs and the IOAPIC, 16-23 to the IOAPIC) and append one MSI entry
 * per routed eventfd from GSI 24 up.
 */
#include "cpu/kvm/kvm.h"

#include <string.h>

#define FIRST_MSI_GSI 24
#define MAX_MSI_ROUTES 1000

struct msi_route {
	int fd;
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};

struct kvm_notify {
	pthread_mutex_t lock;
	struct msi_route routes[MAX_MSI_ROUTES];
	unsigned n;
};

static struct kvm_notify *knotify(vmm_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_notify *n;

	pthread_mutex_lock(&k->slot_lock);
	n = k->notify;
	if (!n) {
		n = vmm__alloc(vm, sizeof(*n));
		if (n) {
			pthread_mutex_init(&n->lock, NULL);
			k->notify = n;
		}
	}
	pthread_mutex_unlock(&k->slot_lock);
	return n;
}

void kvm_notify_fini(vmm_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);

	if (!k || !k->notify)
		return;
	pthread_mutex_destroy(&k->notify->lock);
	vmm__free(vm, k->notify);
	k->notify = NULL;
}

int kvm_ioeventfd(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		  unsigned len, uint64_t datamatch, uint32_t flags, int fd,
		  bool assign)
{
	struct kvm_ioeventfd e = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
	};
	int r;

	if (flags & VMM_IOEVENTFD_DATAMATCH)
		e.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
	if (space == VMM_SPACE_PIO)
		e.flags |= KVM_IOEVENTFD_FLAG_PIO;
	if (!assign)
		e.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
	r = kvm_ioctl(kvm_of(vm)->vm_fd, KVM_IOEVENTFD, &e);
	if (r < 0)
		return vmm__err(vm, r, "KVM_IOEVENTFD %s %s 0x%llx len %u: %s",
				assign ? "assign" : "deassign",
				space == VMM_SPACE_PIO ? "pio" : "mmio",
				(unsigned long long)addr, len, vmm_strerror(r));
	return 0;
}

/* Rebuild KVM's routing table: defaults + our MSI routes.  Lock held. */
static int set_routing(vmm_vm *vm, struct kvm_notify *n)
{
	unsigned max = 16 * 2 + 8 + n->n, i = 0;
	struct kvm_split_route *split = kvm_split_routes(vm);
	struct kvm_irq_routing *t;
	int r;

	t = vmm__alloc(vm, sizeof(*t) + max * sizeof(t->entries[0]));
	if (!t)
		return vmm__err(vm, -ENOMEM, "out of memory for GSI routing");
	for (uint32_t gsi = 0; split && gsi < KVM_SPLIT_PINS; gsi++) {
		/* split irqchip: our IOAPIC's entries as MSIs (for the EOI
		 * exits; KVM refuses irqchip routes then) */
		if (!split[gsi].valid)
			continue;
		t->entries[i].gsi = gsi;
		t->entries[i].type = KVM_IRQ_ROUTING_MSI;
		t->entries[i].u.msi.address_lo = (uint32_t)split[gsi].addr;
		t->entries[i].u.msi.address_hi =
			(uint32_t)(split[gsi].addr >> 32);
		t->entries[i].u.msi.data = split[gsi].data;
		i++;
	}
	for (uint32_t gsi = 0; !split && gsi < 24; gsi++) {
		if (gsi < 16) {
			t->entries[i].gsi = gsi;
			t->entries[i].type = KVM_IRQ_ROUTING_IRQCHIP;
			t->entries[i].u.irqchip.irqchip =
				gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
					: KVM_IRQCHIP_PIC_SLAVE;
			t->entries[i].u.irqchip.pin = gsi % 8;
			i++;
		}
		t->entries[i].gsi = gsi;
		t->entries[i].type = KVM_IRQ_ROUTING_IRQCHIP;
		t->entries[i].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		/* as on a PC (and in the software backend's irqchip): the
		 * timer's ISA IRQ 0 is wired to IOAPIC pin 2 */
		t->entries[i].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		i++;
	}
	for (unsigned j = 0; j < n->n; j++, i++) {
		t->entries[i].gsi = n->routes[j].gsi;
		t->entries[i].type = KVM_IRQ_ROUTING_MSI;
		t->entries[i].u.msi.address_lo = (uint32_t)n->routes[j].addr;
		t->entries[i].u.msi.address_hi =
			(uint32_t)(n->routes[j].addr >> 32);
		t->entries[i].u.msi.data = n->routes[j].data;
	}
	t->nr = i;
	r = kvm_ioctl(kvm_of(vm)->vm_fd, KVM_SET_GSI_ROUTING, t);
	vmm__free(vm, t);
	if (r < 0)
		return vmm__err(vm, r, "KVM_SET_GSI_ROUTING: %s",
				vmm_strerror(r));
	return 0;
}

int kvm_routing_init(vmm_vm *vm)
{
	struct kvm_notify none;

	memset(&none, 0, sizeof(none));
	return set_routing(vm, &none);
}

void kvm_split_set_route(vmm_vm *vm, unsigned pin, struct kvm_split_route r)
{
	struct kvm_split_route *routes = kvm_split_routes(vm);
	struct kvm_notify *n = knotify(vm);

	if (!routes || pin >= KVM_SPLIT_PINS)
		return;
	if (!n) {
		vmm__log(vm, VMM_LOG_ERROR,
			 "split irqchip: out of memory for routes");
		return;
	}
	pthread_mutex_lock(&n->lock);
	/* a restore announces every pin again: reload KVM's table (an SRCU
	 * grace period, ~4 us here) only for a real change */
	if (routes[pin].valid != r.valid ||
	    (r.valid && (routes[pin].addr != r.addr ||
			 routes[pin].data != r.data))) {
		routes[pin] = r;
		set_routing(vm, n);
	}
	pthread_mutex_unlock(&n->lock);
}

static int irqfd_ioctl(vmm_vm *vm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd f = {
		.fd = (uint32_t)fd,
		.gsi = gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	int r = kvm_ioctl(kvm_of(vm)->vm_fd, KVM_IRQFD, &f);

	if (r < 0)
		return vmm__err(vm, r, "KVM_IRQFD %s fd %d gsi %u: %s",
				assign ? "assign" : "deassign", fd, gsi,
				vmm_strerror(r));
	return 0;
}

int kvm_irqfd(vmm_vm *vm, int fd, const struct vmm_irq_route *route,
	      bool assign)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_notify *n;
	int r;

	if (!k->irqchip)
		return vmm__err(vm, -ENODEV, "irqfd needs an irqchip");
	if (route->kind == VMM_IRQ_ROUTE_LINE) {
		/* split irqchip: GSIs 0-23 are MSI routes that mirror our
		 * IOAPIC's redirection entries (kvm_split.c), so the eventfd
		 * delivers what an edge on that IOAPIC pin would (the PIC
		 * does not see it) */
		if (route->gsi >= 24)
			return vmm__err(vm, -EINVAL, "irqfd: GSI %u", route->gsi);
		return irqfd_ioctl(vm, fd, route->gsi, assign);
	}
	n = knotify(vm);
	if (!n)
		return vmm__err(vm, -ENOMEM, "out of memory for MSI routes");
	pthread_mutex_lock(&n->lock);
	if (assign) {
		uint32_t gsi = FIRST_MSI_GSI;
		bool taken;

		if (n->n == MAX_MSI_ROUTES) {
			r = vmm__err(vm, -ENOSPC, "no MSI route left");
			goto out;
		}
		do { /* lowest free GSI */
			taken = false;
			for (unsigned j = 0; j < n->n; j++)
				if (n->routes[j].gsi == gsi) {
					taken = true;
					gsi++;
				}
		} while (taken);
		n->routes[n->n] = (struct msi_route){ fd, gsi, route->msi_addr,
						      route->msi_data };
		n->n++;
		r = set_routing(vm, n);
		if (!r)
			r = irqfd_ioctl(vm, fd, gsi, true);
		if (r) {
			n->n--;
			set_routing(vm, n);
		}
	} else {
		unsigned j;

		for (j = 0; j < n->n && n->routes[j].fd != fd; j++)
			;
		if (j == n->n) {
			r = -ENOENT;
			goto out;
		}
		r = irqfd_ioctl(vm, fd, n->routes[j].gsi, false);
		n->routes[j] = n->routes[--n->n];
		set_routing(vm, n);
	}
out:
	pthread_mutex_unlock(&n->lock);
	return r;
}
