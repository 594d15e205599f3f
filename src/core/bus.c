/* SPDX-License-Identifier: MIT */
/*
 * bus.c - per-VM port-I/O and MMIO device ranges: register, unregister,
 * dispatch, counters.
 */
#include "core/vm_impl.h"

#include <stdio.h>
#include <string.h>

int vmm__bus_init(struct vmm_bus *bus)
{
	pthread_rwlockattr_t attr;
	int ret;

	memset(bus, 0, sizeof(*bus));
	/*
	 * vCPU threads take the read lock for every exit; glibc's default
	 * (reader preference) lets a steady stream of them starve register
	 * and unregister.  No path takes this lock recursively, so writer
	 * preference is safe.
	 */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
				      PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	ret = -pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (ret)
		return ret;
	pthread_mutex_init(&bus->drain_lock, NULL);
	pthread_cond_init(&bus->drained, NULL);
	return 0;
}

void vmm__bus_fini(vmm_vm *vm, struct vmm_bus *bus)
{
	for (size_t i = 0; i < bus->n; i++)
		vmm__free(vm, bus->ranges[i]);
	vmm__free(vm, bus->ranges);
	bus->ranges = NULL;
	bus->n = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
	pthread_mutex_destroy(&bus->drain_lock);
	pthread_cond_destroy(&bus->drained);
}

/* Index of the last range with base <= addr, or -1. */
static long find_idx(struct vmm_bus *bus, uint64_t addr)
{
	long lo = 0, hi = (long)bus->n - 1, ans = -1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		if (bus->ranges[mid]->base <= addr) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

static struct vmm_bus *get_bus(vmm_vm *vm, enum vmm_space space)
{
	if (!vm || (space != VMM_SPACE_PIO && space != VMM_SPACE_MMIO))
		return NULL;
	return &vm->bus[space];
}

int vmm_bus_register(vmm_vm *vm, enum vmm_space space, uint64_t base,
		     uint64_t len, const struct vmm_io_ops *ops, void *opaque,
		     const char *name)
{
	struct vmm_bus *bus = get_bus(vm, space);
	struct vmm_bus_range *r;
	uint64_t last;
	long i;
	int ret = 0;

	if (!bus || !ops || (!ops->read && !ops->write))
		return vm ? vmm__err(vm, -EINVAL, "bad bus registration") :
			    -EINVAL;
	if (!len || __builtin_add_overflow(base, len - 1, &last) ||
	    (space == VMM_SPACE_PIO && last > 0xffff))
		return vmm__err(vm, -EINVAL,
				"bad %s range 0x%llx+0x%llx for %s",
				space ? "MMIO" : "PIO", (unsigned long long)base,
				(unsigned long long)len, name ? name : "?");
	r = vmm__alloc(vm, sizeof(*r));
	if (!r)
		return vmm__err(vm, -ENOMEM, "out of memory for bus range");
	r->base = base;
	r->len = len;
	r->ops = *ops;
	r->opaque = opaque;
	snprintf(r->name, sizeof(r->name), "%s", name ? name : "device");

	pthread_rwlock_wrlock(&bus->lock);
	i = find_idx(bus, base);
	if ((i >= 0 && bus->ranges[i]->base + (bus->ranges[i]->len - 1) >= base) ||
	    ((size_t)(i + 1) < bus->n && bus->ranges[i + 1]->base <= last)) {
		struct vmm_bus_range *o = (i >= 0 && bus->ranges[i]->base +
					 (bus->ranges[i]->len - 1) >= base) ?
					  bus->ranges[i] : bus->ranges[i + 1];
		ret = vmm__err(vm, -EEXIST,
			       "%s range 0x%llx-0x%llx of %s overlaps %s",
			       space ? "MMIO" : "PIO", (unsigned long long)base,
			       (unsigned long long)last, r->name, o->name);
		goto out;
	}
	if (bus->n == bus->cap) {
		size_t ncap = bus->cap ? bus->cap * 2 : 16;
		struct vmm_bus_range **nr = vmm__alloc(vm, ncap * sizeof(*nr));
		if (!nr) {
			ret = vmm__err(vm, -ENOMEM, "out of memory for bus");
			goto out;
		}
		if (bus->n)
			memcpy(nr, bus->ranges, bus->n * sizeof(*nr));
		vmm__free(vm, bus->ranges);
		bus->ranges = nr;
		bus->cap = ncap;
	}
	memmove(&bus->ranges[i + 2], &bus->ranges[i + 1],
		(bus->n - (size_t)(i + 1)) * sizeof(*bus->ranges));
	bus->ranges[i + 1] = r;
	bus->n++;
out:
	pthread_rwlock_unlock(&bus->lock);
	if (ret)
		vmm__free(vm, r);
	return ret;
}

int vmm_bus_unregister(vmm_vm *vm, enum vmm_space space, uint64_t base)
{
	struct vmm_bus *bus = get_bus(vm, space);
	struct vmm_bus_range *r = NULL;
	long i;

	if (!bus)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	i = find_idx(bus, base);
	if (i >= 0 && bus->ranges[i]->base == base) {
		r = bus->ranges[i];
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			(bus->n - (size_t)i - 1) * sizeof(*bus->ranges));
		bus->n--;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		return vmm__err(vm, -ENOENT, "no %s range starts at 0x%llx",
				space ? "MMIO" : "PIO",
				(unsigned long long)base);
	/*
	 * Wait for handlers that found the range before we removed it.  The
	 * drainer count is raised before inflight is read (both sequentially
	 * consistent), and a handler reads the count after its decrement:
	 * either the handler sees us and wakes us under the lock we hold
	 * while checking, or we see its decrement.  The handler never reads
	 * the range after the decrement, so the free below is safe.
	 */
	atomic_fetch_add(&bus->drainers, 1);
	pthread_mutex_lock(&bus->drain_lock);
	while (atomic_load(&r->inflight))
		pthread_cond_wait(&bus->drained, &bus->drain_lock);
	pthread_mutex_unlock(&bus->drain_lock);
	atomic_fetch_sub(&bus->drainers, 1);
	vmm__free(vm, r);
	return 0;
}

static int dispatch(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		    void *data, unsigned size, bool is_write,
		    struct vmm_io_ctx *ctx, bool guest);

int vmm__bus_dispatch(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		      void *data, unsigned size, bool is_write,
		      struct vmm_io_ctx *ctx)
{
	return dispatch(vm, space, addr, data, size, is_write, ctx, false);
}

int vmm__bus_dispatch_guest(vmm_vm *vm, enum vmm_space space, uint64_t addr,
			    void *data, unsigned size, bool is_write,
			    struct vmm_io_ctx *ctx)
{
	return dispatch(vm, space, addr, data, size, is_write, ctx, true);
}

static int dispatch(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		    void *data, unsigned size, bool is_write,
		    struct vmm_io_ctx *ctx, bool guest)
{
	struct vmm_bus *bus = &vm->bus[space];
	struct vmm_bus_range *r = NULL;
	uint64_t off;
	long i;
	int ret;

	if (size == 0 || size > 8)
		return -EINVAL;
	pthread_rwlock_rdlock(&bus->lock);
	i = find_idx(bus, addr);
	if (i >= 0 && addr - bus->ranges[i]->base < bus->ranges[i]->len) {
		r = bus->ranges[i];
		atomic_fetch_add(&r->inflight, 1);
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!r)
		return -ENOENT;
	off = addr - r->base;
	if (size > r->len - off) {
		/*
		 * Straddling the range's end.  From the host: refused.  From a
		 * guest (an IN EAX at the last port of a 2-port device, an
		 * 8-byte load over the end of a window) it is no reason to stop
		 * the VM: the bytes past the device are open bus and the device
		 * does not decode a partial access, so the guest reads all ones
		 * and the write goes nowhere.  Counted as an error either way.
		 */
		atomic_fetch_add(&r->errors, 1);
		ret = guest ? 0 : -EFAULT;
		if (guest && !is_write)
			memset(data, 0xff, size);
		goto out;
	}
	if (is_write) {
		ret = r->ops.write ? r->ops.write(r->opaque, off, data, size, ctx)
				   : 0;
		atomic_fetch_add(&r->writes, 1);
		atomic_fetch_add(&r->bytes_written, size);
	} else {
		if (r->ops.read) {
			ret = r->ops.read(r->opaque, off, data, size, ctx);
		} else {
			memset(data, 0xff, size);
			ret = 0;
		}
		atomic_fetch_add(&r->reads, 1);
		atomic_fetch_add(&r->bytes_read, size);
	}
	if (ret < 0)
		atomic_fetch_add(&r->errors, 1);
out:
	/* @r may be freed as soon as the decrement lands: only @bus after it */
	if (atomic_fetch_sub(&r->inflight, 1) == 1 &&
	    atomic_load(&bus->drainers)) {
		pthread_mutex_lock(&bus->drain_lock);
		pthread_cond_broadcast(&bus->drained);
		pthread_mutex_unlock(&bus->drain_lock);
	}
	return ret < 0 ? ret : 0;
}

int vmm_bus_access(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		   void *data, unsigned size, bool is_write)
{
	struct vmm_io_ctx ctx = { 0 };

	if (!get_bus(vm, space) || !data ||
	    (size != 1 && size != 2 && size != 4 && size != 8))
		return -EINVAL;
	return vmm__bus_dispatch(vm, space, addr, data, size, is_write, &ctx);
}

int vmm_bus_get_stats(vmm_vm *vm, enum vmm_space space, uint64_t addr,
		  struct vmm_bus_stats *ust, char *name, size_t name_len)
{
	struct vmm_bus_stats s = { .struct_size = sizeof(s) }, *st = &s;
	struct vmm_bus *bus = get_bus(vm, space);
	long i;
	int ret = -ENOENT;

	if (!bus || !ust)
		return -EINVAL;
	pthread_rwlock_rdlock(&bus->lock);
	i = find_idx(bus, addr);
	if (i >= 0 && addr - bus->ranges[i]->base < bus->ranges[i]->len) {
		struct vmm_bus_range *r = bus->ranges[i];
		st->reads = atomic_load(&r->reads);
		st->writes = atomic_load(&r->writes);
		st->bytes_read = atomic_load(&r->bytes_read);
		st->bytes_written = atomic_load(&r->bytes_written);
		st->errors = atomic_load(&r->errors);
		if (name && name_len)
			snprintf(name, name_len, "%s", r->name);
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	if (!ret)
		ret = vmm__struct_out(ust, &s, sizeof(s), VMM__BUS_STATS_V02);
	return ret;
}
