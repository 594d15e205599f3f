/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - library bookkeeping allocations through the VM's injectable
 * allocator, counted per VM (vmm_vm_get_stats().host_bytes).
 */
#include "core/vm_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Each block carries its size in front, for accounting. */
struct blkhdr {
	size_t size;
	size_t pad;
};

static void *raw_alloc(const struct vmm_allocator *a, size_t size)
{
	if (a && a->alloc)
		return a->alloc(a->opaque, size);
	return calloc(1, size);
}

static void raw_free(const struct vmm_allocator *a, void *p)
{
	if (a && a->free)
		a->free(a->opaque, p);
	else
		free(p);
}

void *vmm__alloc_with(const struct vmm_allocator *a, size_t size)
{
	struct blkhdr *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = raw_alloc(a, size + sizeof(*h));
	if (!h)
		return NULL;
	/*
	 * calloc() memory is zero already, and a large block comes fresh from
	 * mmap: writing it again would make every page resident (8 MiB per
	 * soft vCPU for the block cache arena alone).  Only an embedder's
	 * allocator gives memory that needs clearing.
	 */
	if (a && a->alloc)
		memset(h, 0, size + sizeof(*h));
	else
		h->pad = 0;
	h->size = size;
	return h + 1;
}

void vmm__free_with(const struct vmm_allocator *a, void *p)
{
	if (p)
		raw_free(a, (struct blkhdr *)p - 1);
}

void *vmm__alloc(vmm_vm *vm, size_t size)
{
	/* no VM (a vhost-user back-end process): libc, no accounting */
	void *p = vmm__alloc_with(vm ? vm->cfg.allocator : NULL, size);

	if (p && vm)
		atomic_fetch_add(&vm->host_bytes, size);
	return p;
}

void vmm__free(vmm_vm *vm, void *p)
{
	if (!p)
		return;
	if (!vm) {
		vmm__free_with(NULL, p);
		return;
	}
	atomic_fetch_sub(&vm->host_bytes, ((struct blkhdr *)p - 1)->size);
	vmm__free_with(vm->cfg.allocator, p);
}

void *vmm__alloc_big(vmm_vm *vm, size_t size)
{
	const struct vmm_allocator *a = vm ? vm->cfg.allocator : NULL;
	struct blkhdr *h;

	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	if (a && a->alloc) {
		h = a->alloc(a->opaque, size + sizeof(*h));
	} else {
		h = mmap(NULL, size + sizeof(*h), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (h == MAP_FAILED)
			h = NULL;
	}
	if (!h)
		return NULL;
	h->size = size;
	h->pad = 0;
	if (vm)
		atomic_fetch_add(&vm->host_bytes, size);
	return h + 1;
}

void vmm__free_big(vmm_vm *vm, void *p)
{
	const struct vmm_allocator *a = vm ? vm->cfg.allocator : NULL;
	struct blkhdr *h;

	if (!p)
		return;
	h = (struct blkhdr *)p - 1;
	if (vm)
		atomic_fetch_sub(&vm->host_bytes, h->size);
	if (a && a->alloc)
		raw_free(a, h);
	else
		munmap(h, h->size + sizeof(*h));
}

char *vmm__strdup(vmm_vm *vm, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = vmm__alloc(vm, n);

	if (d)
		memcpy(d, s, n);
	return d;
}
