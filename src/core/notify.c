/* SPDX-License-Identifier: MIT */
/*
 * notify.c - ioeventfd and irqfd (see <libvmm/notify.h>): handed to the
 * backend when it has them (KVM), otherwise done here in user space:
 *
 *   ioeventfd  one bus range per (space, address, length) whose write
 *              handler signals every eventfd whose datamatch fits;
 *   irqfd      the VM's I/O thread watches the eventfd and calls
 *              vmm_irq_set_line() (a pulse) or vmm_irq_send_msi().
 *
 * Also home of the VM's I/O thread (vmm__vm_evloop()).
 */
#include "core/vm_impl.h"
#include "io/evloop.h"

#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct iofd {
	int fd;
	uint64_t datamatch;
	uint32_t flags;
	struct iofd *next;
};

struct iofd_group {
	vmm_vm *vm;
	enum vmm_space space;
	uint64_t addr;
	unsigned len;
	struct iofd *fds;
	struct iofd_group *next;
};

struct irqfd {
	vmm_vm *vm;
	int fd;
	struct vmm_irq_route route;
	bool kernel;              /* handled by the backend */
	struct vmm_ev_watch *watch;
	struct irqfd *next;
};

struct vmm_notify {
	pthread_mutex_t lock;     /* the lists */
	struct iofd_group *groups;
	struct irqfd *irqfds;
	struct vmm_evloop *loop;
	pthread_mutex_t loop_lock;
};

static struct vmm_notify *notify_of(vmm_vm *vm)
{
	struct vmm_notify *n;

	pthread_mutex_lock(&vm->dev_lock);
	n = vm->notify;
	if (!n) {
		n = vmm__alloc(vm, sizeof(*n));
		if (n) {
			pthread_mutex_init(&n->lock, NULL);
			pthread_mutex_init(&n->loop_lock, NULL);
			vm->notify = n;
		}
	}
	pthread_mutex_unlock(&vm->dev_lock);
	if (!n)
		vmm__err(vm, -ENOMEM, "out of memory for notifiers");
	return n;
}

struct vmm_evloop *vmm__vm_evloop(vmm_vm *vm)
{
	struct vmm_notify *n = notify_of(vm);
	struct vmm_evloop *l;
	int ret = 0;

	if (!n)
		return NULL;
	pthread_mutex_lock(&n->loop_lock);
	if (!n->loop)
		ret = vmm_evloop_create(vm->cfg.allocator, "vmm-io", &n->loop);
	l = n->loop;
	pthread_mutex_unlock(&n->loop_lock);
	if (ret) {
		vmm__err(vm, ret, "cannot start the VM's I/O thread: %s",
			 vmm_strerror(ret));
		return NULL;
	}
	return l;
}

/* ---- ioeventfd fallback ---- */

static int iofd_read(void *opaque, uint64_t off, void *data, unsigned size,
		     struct vmm_io_ctx *ctx)
{
	memset(data, 0xff, size);
	return 0;
}

static int iofd_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	struct iofd_group *g = opaque;
	struct vmm_notify *n = g->vm->notify;
	uint64_t v = 0;

	if (size != g->len || off)
		return 0; /* as KVM: only exact-width writes match */
	memcpy(&v, data, size);
	pthread_mutex_lock(&n->lock);
	for (struct iofd *e = g->fds; e; e = e->next) {
		if ((e->flags & VMM_IOEVENTFD_DATAMATCH) && e->datamatch != v)
			continue;
		if (eventfd_write(e->fd, 1) < 0) {
			/* counter overflow cannot happen with 1 per write */
		}
	}
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static const struct vmm_io_ops iofd_ops = {
	.read = iofd_read,
	.write = iofd_write,
};

static int check_ioeventfd(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			   unsigned len, uint64_t datamatch, uint32_t flags,
			   int fd)
{
	uint64_t end;

	if (space != VMM_SPACE_PIO && space != VMM_SPACE_MMIO)
		return vmm__err(vm, -EINVAL, "ioeventfd: bad space %d", space);
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return vmm__err(vm, -EINVAL, "ioeventfd: bad length %u", len);
	if (fd < 0 || (flags & ~VMM_IOEVENTFD_DATAMATCH))
		return vmm__err(vm, -EINVAL, "ioeventfd: bad fd or flags");
	if (__builtin_add_overflow(addr, len - 1, &end) ||
	    (space == VMM_SPACE_PIO && end > 0xffff))
		return vmm__err(vm, -EINVAL, "ioeventfd: bad address 0x%llx",
				(unsigned long long)addr);
	if ((flags & VMM_IOEVENTFD_DATAMATCH) && len < 8 &&
	    (datamatch >> (8 * len)))
		return vmm__err(vm, -EINVAL, "ioeventfd: datamatch 0x%llx wider "
				"than %u bytes", (unsigned long long)datamatch,
				len);
	return 0;
}

int vmm_ioeventfd_add(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		      unsigned len, uint64_t datamatch, uint32_t flags, int fd)
{
	struct vmm_notify *n;
	struct iofd_group *g;
	struct iofd *e;
	int ret;

	if (!vm)
		return -EINVAL;
	if ((ret = check_ioeventfd(vm, space, addr, len, datamatch, flags, fd)))
		return ret;
	if (vm->ops->ioeventfd && (vm->caps & VMM_CAP_IOEVENTFD))
		return vm->ops->ioeventfd(vm, space, addr, len, datamatch, flags,
					  fd, true);
	if (!(n = notify_of(vm)))
		return -ENOMEM;
	e = vmm__alloc(vm, sizeof(*e));
	if (!e)
		return vmm__err(vm, -ENOMEM, "ioeventfd: out of memory");
	e->fd = fd;
	e->datamatch = datamatch;
	e->flags = flags;
	pthread_mutex_lock(&n->lock);
	for (g = n->groups; g; g = g->next)
		if (g->space == space && g->addr == addr)
			break;
	if (g && g->len != len) {
		ret = vmm__err(vm, -EEXIST, "ioeventfd: 0x%llx already has "
			       "length %u", (unsigned long long)addr, g->len);
		goto out;
	}
	if (g) {
		for (struct iofd *o = g->fds; o; o = o->next) {
			if (o->flags == flags &&
			    (!(flags & VMM_IOEVENTFD_DATAMATCH) ||
			     o->datamatch == datamatch)) {
				ret = vmm__err(vm, -EEXIST, "ioeventfd: 0x%llx "
					       "datamatch 0x%llx taken",
					       (unsigned long long)addr,
					       (unsigned long long)datamatch);
				goto out;
			}
		}
	} else {
		g = vmm__alloc(vm, sizeof(*g));
		if (!g) {
			ret = vmm__err(vm, -ENOMEM, "ioeventfd: out of memory");
			goto out;
		}
		g->vm = vm;
		g->space = space;
		g->addr = addr;
		g->len = len;
		ret = vmm_bus_register(vm, space, addr, len, &iofd_ops, g,
				       "ioeventfd");
		if (ret) {
			vmm__free(vm, g);
			goto out;
		}
		g->next = n->groups;
		n->groups = g;
	}
	e->next = g->fds;
	g->fds = e;
	e = NULL;
out:
	pthread_mutex_unlock(&n->lock);
	vmm__free(vm, e);
	return ret;
}

int vmm_ioeventfd_remove(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			 unsigned len, uint64_t datamatch, uint32_t flags,
			 int fd)
{
	struct vmm_notify *n;
	struct iofd_group **gp, *g = NULL;
	struct iofd *found = NULL;
	bool empty = false;

	if (!vm)
		return -EINVAL;
	if (vm->ops->ioeventfd && (vm->caps & VMM_CAP_IOEVENTFD))
		return vm->ops->ioeventfd(vm, space, addr, len, datamatch, flags,
					  fd, false);
	n = vm->notify;
	if (!n)
		return -ENOENT;
	pthread_mutex_lock(&n->lock);
	for (gp = &n->groups; *gp; gp = &(*gp)->next) {
		if ((*gp)->space == space && (*gp)->addr == addr &&
		    (*gp)->len == len) {
			g = *gp;
			break;
		}
	}
	if (g) {
		for (struct iofd **ep = &g->fds; *ep; ep = &(*ep)->next) {
			struct iofd *e = *ep;
			if (e->fd == fd && e->flags == flags &&
			    (!(flags & VMM_IOEVENTFD_DATAMATCH) ||
			     e->datamatch == datamatch)) {
				*ep = e->next;
				found = e;
				break;
			}
		}
		if (found && !g->fds) {
			*gp = g->next;
			empty = true;
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (!found)
		return -ENOENT;
	vmm__free(vm, found);
	if (empty) {
		vmm_bus_unregister(vm, space, addr);
		vmm__free(vm, g);
	}
	return 0;
}

/* ---- irqfd fallback ---- */

static void irqfd_cb(void *opaque, int fd, unsigned events)
{
	struct irqfd *q = opaque;
	eventfd_t v;

	if (eventfd_read(fd, &v) < 0)
		return;
	if (q->route.kind == VMM_IRQ_ROUTE_MSI) {
		vmm_irq_send_msi(q->vm, q->route.msi_addr, q->route.msi_data);
	} else {
		vmm_irq_set_line(q->vm, q->route.gsi, 1);
		vmm_irq_set_line(q->vm, q->route.gsi, 0);
	}
}

int vmm_irqfd_add(vmm_vm *vm, int fd, const struct vmm_irq_route *route)
{
	struct vmm_notify *n;
	struct irqfd *q;
	int ret = 0;

	if (!vm)
		return -EINVAL;
	if (fd < 0 || !route ||
	    (route->kind != VMM_IRQ_ROUTE_LINE &&
	     route->kind != VMM_IRQ_ROUTE_MSI))
		return vmm__err(vm, -EINVAL, "irqfd: bad fd or route");
	if (route->kind == VMM_IRQ_ROUTE_MSI &&
	    ((route->msi_addr & 0xfff00000ull) != 0xfee00000ull ||
	     (route->msi_addr >> 32)))
		return vmm__err(vm, -EINVAL, "irqfd: MSI address 0x%llx",
				(unsigned long long)route->msi_addr);
	if (!(n = notify_of(vm)))
		return -ENOMEM;
	q = vmm__alloc(vm, sizeof(*q));
	if (!q)
		return vmm__err(vm, -ENOMEM, "irqfd: out of memory");
	q->vm = vm;
	q->fd = fd;
	q->route = *route;
	pthread_mutex_lock(&n->lock);
	for (struct irqfd *o = n->irqfds; o; o = o->next)
		if (o->fd == fd)
			ret = -EEXIST;
	pthread_mutex_unlock(&n->lock);
	if (ret) {
		vmm__free(vm, q);
		return vmm__err(vm, ret, "irqfd: fd %d already routed", fd);
	}
	if (vm->ops->irqfd && (vm->caps & VMM_CAP_IRQFD)) {
		ret = vm->ops->irqfd(vm, fd, route, true);
		q->kernel = true;
	} else {
		struct vmm_evloop *l = vmm__vm_evloop(vm);
		ret = l ? vmm_evloop_watch(l, fd, irqfd_cb, q, true, &q->watch)
			: -ENOMEM;
	}
	if (ret) {
		vmm__free(vm, q);
		return ret;
	}
	pthread_mutex_lock(&n->lock);
	q->next = n->irqfds;
	n->irqfds = q;
	pthread_mutex_unlock(&n->lock);
	return 0;
}

static void irqfd_drop(vmm_vm *vm, struct irqfd *q)
{
	if (q->kernel)
		vm->ops->irqfd(vm, q->fd, &q->route, false);
	else
		vmm_evloop_unwatch(vm->notify->loop, q->watch);
	vmm__free(vm, q);
}

int vmm_irqfd_remove(vmm_vm *vm, int fd)
{
	struct vmm_notify *n;
	struct irqfd *q = NULL;

	if (!vm)
		return -EINVAL;
	n = vm->notify;
	if (!n)
		return -ENOENT;
	pthread_mutex_lock(&n->lock);
	for (struct irqfd **pp = &n->irqfds; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			q = *pp;
			*pp = q->next;
			break;
		}
	}
	pthread_mutex_unlock(&n->lock);
	if (!q)
		return -ENOENT;
	irqfd_drop(vm, q);
	return 0;
}

void vmm__notify_fini(vmm_vm *vm)
{
	struct vmm_notify *n = vm->notify;

	if (!n)
		return;
	while (n->irqfds) {
		struct irqfd *q = n->irqfds;
		n->irqfds = q->next;
		irqfd_drop(vm, q);
	}
	while (n->groups) {
		struct iofd_group *g = n->groups;
		n->groups = g->next;
		while (g->fds) {
			struct iofd *e = g->fds;
			g->fds = e->next;
			vmm__free(vm, e);
		}
		vmm_bus_unregister(vm, g->space, g->addr);
		vmm__free(vm, g);
	}
	vmm_evloop_destroy(n->loop);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->loop_lock);
	vm->notify = NULL;
	vmm__free(vm, n);
}
