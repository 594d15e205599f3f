/* SPDX-License-Identifier: MIT */
/*
 * memory.c - the public guest-memory calls: regions are created by src/mem
 * and then handed to the backend (KVM memslots, soft MMU); the accessors
 * forward to the checked ones in src/mem.
 */
#include "core/vm_impl.h"

#include <stdlib.h>
#include <string.h>

static bool vcpus_running(vmm_vm *vm)
{
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++)
		if (vm->vcpus[i] && atomic_load(&vm->vcpus[i]->running))
			return true;
	return false;
}

int vmm_mem_add(vmm_vm *vm, const struct vmm_mem_region *d)
{
	struct vmm_gmem_region *r;
	int ret;

	if (!vm || !d)
		return -EINVAL;
	/* one change at a time, from the listeners' first look to their
	 * last: a listener registered meanwhile sees this region either
	 * in the list or in its added() call */
	pthread_mutex_lock(&vm->mem.change_lock);
	for (struct vmm_mem_listener *l = vm->mem.listeners; l; l = l->next) {
		if (l->before_add &&
		    (ret = l->before_add(l->opaque, d->gpa, d->size)) != 0) {
			pthread_mutex_unlock(&vm->mem.change_lock);
			return ret;
		}
	}
	ret = vmm_gmem_region_new(vm, &vm->mem, d, &r);
	if (ret) {
		pthread_mutex_unlock(&vm->mem.change_lock);
		return ret;
	}
	pthread_rwlock_wrlock(&vm->mem.lock);
	ret = vmm_gmem_insert(vm, &vm->mem, r);
	if (ret == 0) {
		if (vm->mem.dirty_log)
			r->flags |= VMM_MEM_DIRTY_LOG;
		ret = vm->ops->mem_map(vm, r);
		if (ret)
			vmm_gmem_unlink(&vm->mem, r->gpa);
	}
	pthread_rwlock_unlock(&vm->mem.lock);
	if (ret) {
		pthread_mutex_unlock(&vm->mem.change_lock);
		vmm_gmem_region_free(vm, r);
		return ret;
	}
	for (struct vmm_mem_listener *l = vm->mem.listeners; l; l = l->next)
		if (l->added)
			l->added(l->opaque, d->gpa, d->size);
	pthread_mutex_unlock(&vm->mem.change_lock);
	return 0;
}

void vmm__mem_listener_add(vmm_vm *vm, struct vmm_mem_listener *l)
{
	vmm_gmem_listener_add(&vm->mem, l);
}

void vmm__mem_listener_remove(vmm_vm *vm, struct vmm_mem_listener *l)
{
	vmm_gmem_listener_remove(&vm->mem, l);
}

int vmm_mem_add_ram(vmm_vm *vm, vmm_gpa_t gpa, uint64_t size)
{
	struct vmm_mem_region d = {
		.gpa = gpa, .size = size, .source = VMM_MEM_ANON, .fd = -1,
		.name = "ram",
	};
	return vmm_mem_add(vm, &d);
}

/* tell listeners up to (not including) @stop that the removal is over */
static void listeners_after(vmm_vm *vm, struct vmm_mem_listener *stop,
			    vmm_gpa_t gpa, uint64_t size, bool removed)
{
	for (struct vmm_mem_listener *l = vm->mem.listeners; l != stop;
	     l = l->next)
		if (l->after_remove)
			l->after_remove(l->opaque, gpa, size, removed);
}

/*
 * Removal: no vCPU may be in the guest (the `changing` flag and the
 * `running` flags are a store-then-load handshake with vmm_vcpu_run(), so
 * either we see the vCPU running and refuse, or it sees us and waits);
 * every memory listener drains its in-flight users of the region or
 * refuses; only then is the region unlinked and unmapped.
 */
int vmm_mem_remove(vmm_vm *vm, vmm_gpa_t gpa)
{
	struct vmm_gmem_region *r;
	struct vmm_mem_listener *l;
	uint64_t size = 0;
	int ret = 0;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->mem.change_lock);
	atomic_store(&vm->mem.changing, true);
	if (vcpus_running(vm)) {
		ret = vmm__err(vm, -EBUSY, "cannot remove memory while vCPUs run");
		goto out;
	}
	pthread_rwlock_rdlock(&vm->mem.lock);
	r = vmm_gmem_find(&vm->mem, gpa);
	if (r && r->gpa == gpa)
		size = r->size;
	pthread_rwlock_unlock(&vm->mem.lock);
	if (!size) {
		ret = vmm__err(vm, -ENOENT, "no region starts at 0x%llx",
			       (unsigned long long)gpa);
		goto out;
	}
	for (l = vm->mem.listeners; l; l = l->next) {
		if (l->before_remove &&
		    (ret = l->before_remove(l->opaque, gpa, size)) != 0) {
			listeners_after(vm, l, gpa, size, false);
			ret = vmm__err(vm, ret, "memory at 0x%llx is still in "
				       "use by a device; not removed",
				       (unsigned long long)gpa);
			goto out;
		}
	}
	pthread_rwlock_wrlock(&vm->mem.lock);
	r = vmm_gmem_unlink(&vm->mem, gpa);
	if (r)
		vm->ops->mem_unmap(vm, r);
	pthread_rwlock_unlock(&vm->mem.lock);
	listeners_after(vm, NULL, gpa, size, true);
	if (r)
		vmm_gmem_region_free(vm, r);
out:
	atomic_store(&vm->mem.changing, false);
	pthread_mutex_unlock(&vm->mem.change_lock);
	return ret;
}

int vmm__mem_get_regions(vmm_vm *vm, struct vmm_mem_info *out, int max)
{
	int n;

	if (!vm || (max && !out) || max < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&vm->mem.lock);
	n = vm->mem.n;
	for (int i = 0; i < n && i < max; i++) {
		struct vmm_gmem_region *r = vm->mem.r[i];
		out[i] = (struct vmm_mem_info){ sizeof(struct vmm_mem_info),
						r->gpa, r->size, r->flags,
						r->fd, r->offset };
	}
	pthread_rwlock_unlock(&vm->mem.lock);
	return n;
}

int vmm_mem_get_regions(vmm_vm *vm, struct vmm_mem_info *out, int max)
{
	struct vmm_mem_info *tab;
	unsigned char *dst = (unsigned char *)out;
	uint32_t stride;
	int n, got;

	if (!vm || (max && !out) || max < 0)
		return -EINVAL;
	if (!max)
		return vmm__mem_get_regions(vm, NULL, 0);
	memcpy(&stride, out, sizeof(stride));
	if (!stride)
		stride = VMM__MEM_INFO_V02;
	if (stride < sizeof(uint32_t) || stride > 65536u)
		return vmm__err(vm, -EINVAL,
				"vmm_mem_get_regions: out[0].struct_size %u "
				"is not a struct vmm_mem_info size", stride);
	tab = calloc((size_t)max, sizeof(*tab));
	if (!tab)
		return -ENOMEM;
	n = vmm__mem_get_regions(vm, tab, max);
	got = n < max ? n : max;
	for (int i = 0; i < got; i++) {
		unsigned char *e = dst + (size_t)i * stride;

		memcpy(e, &stride, sizeof(stride));
		/* cannot fail: @stride was checked above */
		(void)vmm__struct_out(e, &tab[i], sizeof(tab[i]),
				      VMM__MEM_INFO_V02);
	}
	free(tab);
	return n;
}

static int fault(vmm_vm *vm, const char *what, vmm_gpa_t gpa, size_t len)
{
	return vmm__err(vm, -EFAULT,
			"%s of %zu bytes at gpa 0x%llx is outside guest RAM",
			what, len, (unsigned long long)gpa);
}

int vmm_mem_read(vmm_vm *vm, vmm_gpa_t gpa, void *buf, size_t len)
{
	if (!vm || (!buf && len))
		return -EINVAL;
	if (vmm_gmem_read(&vm->mem, gpa, buf, len))
		return fault(vm, "read", gpa, len);
	return 0;
}

int vmm_mem_write(vmm_vm *vm, vmm_gpa_t gpa, const void *buf, size_t len)
{
	if (!vm || (!buf && len))
		return -EINVAL;
	if (vmm_gmem_write(&vm->mem, gpa, buf, len))
		return fault(vm, "write", gpa, len);
	return 0;
}

int vmm_mem_fill(vmm_vm *vm, vmm_gpa_t gpa, int byte, size_t len)
{
	if (!vm)
		return -EINVAL;
	if (vmm_gmem_fill(&vm->mem, gpa, byte, len))
		return fault(vm, "fill", gpa, len);
	return 0;
}

int vmm_mem_iovec(vmm_vm *vm, vmm_gpa_t gpa, size_t len, bool for_write,
		  struct iovec *iov, int max_iov)
{
	int ret;

	if (!vm || !iov)
		return -EINVAL;
	ret = vmm_gmem_iovec(&vm->mem, gpa, len, for_write, iov, max_iov);
	if (ret == -EFAULT)
		return fault(vm, for_write ? "writable iovec (ROM refused)" : "iovec",
			     gpa, len);
	return ret;
}

bool vmm_mem_is_ram(vmm_vm *vm, vmm_gpa_t gpa, uint64_t len)
{
	return vm && vmm_gmem_is_ram(&vm->mem, gpa, len);
}

int vmm_mem_dirty_log(vmm_vm *vm, bool on)
{
	int ret = 0;

	if (!vm)
		return -EINVAL;
	pthread_rwlock_wrlock(&vm->mem.lock);
	for (int i = 0; i < vm->mem.n && !ret; i++) {
		struct vmm_gmem_region *r = vm->mem.r[i];
		if (on)
			r->flags |= VMM_MEM_DIRTY_LOG;
		else
			r->flags &= ~VMM_MEM_DIRTY_LOG;
		memset((void *)r->dirty, 0, r->dirty_words * 8);
		if (vm->ops->dirty_log)
			ret = vm->ops->dirty_log(vm, r, on);
	}
	if (!ret)
		vm->mem.dirty_log = on;
	pthread_rwlock_unlock(&vm->mem.lock);
	/*
	 * A running soft vCPU takes the log up (drops its writable TLB
	 * entries) only at its next return to the executor; chained JIT
	 * blocks may write through the old entries until then, unlogged
	 * (seen: 48-64 pages of a 16 MiB guest stale at a live migration's
	 * destination in 2 of 40 runs, pass 0 having copied them in that
	 * window).  A pause waits until every vCPU thread has left guest
	 * code; they resume with the log seen.
	 */
	if (!ret && on && vmm__vm_running(vm) && !vmm__on_vcpu_thread(vm) &&
	    !vmm_vm_pause(vm))
		vmm_vm_resume(vm);
	return ret;
}

int vmm_mem_dirty_fetch(vmm_vm *vm, vmm_gpa_t gpa, uint64_t *bitmap,
			size_t words)
{
	struct vmm_gmem_region *r;
	int ret = 0, count = 0;

	if (!vm || !bitmap)
		return -EINVAL;
	pthread_rwlock_rdlock(&vm->mem.lock);
	r = vmm_gmem_find(&vm->mem, gpa);
	if (!r || r->gpa != gpa) {
		ret = vmm__err(vm, -ENOENT, "no region starts at 0x%llx",
			       (unsigned long long)gpa);
		goto out;
	}
	if (words < r->dirty_words) {
		ret = vmm__err(vm, -ENOSPC, "dirty bitmap needs %zu words",
			       r->dirty_words);
		goto out;
	}
	if (!(r->flags & VMM_MEM_DIRTY_LOG)) {
		ret = vmm__err(vm, -EINVAL, "dirty logging is off for 0x%llx",
			       (unsigned long long)gpa);
		goto out;
	}
	memset(bitmap, 0, r->dirty_words * 8);
	vmm_gmem_dirty_take(r, bitmap);
	if (vm->ops->dirty_fetch)
		ret = vm->ops->dirty_fetch(vm, r, bitmap);
	for (size_t i = 0; i < r->dirty_words && !ret; i++)
		count += __builtin_popcountll(bitmap[i]);
out:
	pthread_rwlock_unlock(&vm->mem.lock);
	return ret ? ret : count;
}

int vmm__mem_dirty_forget_host(vmm_vm *vm, vmm_gpa_t gpa, uint64_t *bitmap,
				size_t words)
{
	struct vmm_gmem_region *r;
	int ret = 0;

	pthread_rwlock_rdlock(&vm->mem.lock);
	r = vmm_gmem_find(&vm->mem, gpa);
	if (!r || r->gpa != gpa || words < r->dirty_words)
		ret = -EINVAL;
	else
		vmm_gmem_dirty_take(r, bitmap);
	pthread_rwlock_unlock(&vm->mem.lock);
	return ret;
}

void *vmm__mem_map(vmm_vm *vm, vmm_gpa_t gpa, uint64_t len, void **tok)
{
	return vmm_gmem_map(&vm->mem, gpa, len,
			    (struct vmm_gmem_region **)tok);
}

void vmm__mem_wrote(vmm_vm *vm, void *tok, const void *p, uint64_t len)
{
	vmm_gmem_wrote(&vm->mem, tok, p, len);
}

const _Atomic uint64_t *vmm__mem_gen(vmm_vm *vm)
{
	return &vm->mem.gen;
}

void vmm__mem_dirty_host(vmm_vm *vm, const struct iovec *iov, unsigned n)
{
	/* not only for dirty logging: a device may have written translated
	 * code (reported to the soft backend); one read lock for all */
	vmm_gmem_mark_dirty_host(&vm->mem, iov, n);
}
