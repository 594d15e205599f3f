/* SPDX-License-Identifier: MIT */
/*
 * guest_mem.c - guest-physical regions: creation (anonymous, memfd, file),
 * lookup, and the checked accessors.  This file and pagewalk.c are the only
 * code in libvmm that turns a guest-physical address into a host pointer.
 */
#include "core/internal.h"
#include "mem/guest_mem.h"
#include "mem/guest_copy.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/stat.h>
#include <unistd.h>

int vmm_gmem_init(struct vmm_gmem *m)
{
	int ret;

	memset(m, 0, sizeof(*m));
	ret = pthread_mutex_init(&m->change_lock, NULL);
	if (ret)
		return -ret;
	ret = pthread_rwlock_init(&m->lock, NULL);
	if (ret) {
		pthread_mutex_destroy(&m->change_lock);
		return -ret;
	}
	ret = pthread_mutex_init(&m->code_lock, NULL);
	if (ret) {
		pthread_rwlock_destroy(&m->lock);
		pthread_mutex_destroy(&m->change_lock);
	}
	return -ret;
}

void vmm_gmem_listener_add(struct vmm_gmem *m, struct vmm_mem_listener *l)
{
	struct vmm_mem_listener **p;

	pthread_mutex_lock(&m->change_lock);
	for (p = &m->listeners; *p; p = &(*p)->next)
		;
	l->next = NULL;
	*p = l;
	pthread_mutex_unlock(&m->change_lock);
}

void vmm_gmem_listener_remove(struct vmm_gmem *m, struct vmm_mem_listener *l)
{
	pthread_mutex_lock(&m->change_lock);
	for (struct vmm_mem_listener **p = &m->listeners; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			break;
		}
	l->next = NULL;
	pthread_mutex_unlock(&m->change_lock);
}

static size_t dirty_bytes(const struct vmm_gmem_region *r)
{
	return VMM_ALIGN_UP(r->dirty_words * sizeof(uint64_t),
			    (size_t)VMM_PAGE_SIZE);
}

/*
 * What this host can give a VM as RAM the library allocates (anonymous or
 * memfd): its RAM plus swap, and no more than the address-space limit.
 * A larger guest would be killed by the host's OOM killer once it touched
 * its memory; refusing at once, before anything is allocated, is the
 * honest answer.
 */
static uint64_t host_ram_cap(void)
{
	struct sysinfo si;
	struct rlimit rl;
	uint64_t cap = UINT64_MAX;

	if (sysinfo(&si) == 0)
		cap = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (uint64_t)rl.rlim_cur < cap)
		cap = rl.rlim_cur;
	return cap;
}

static void region_free(vmm_vm *vm, struct vmm_gmem_region *r)
{
	if (r->host && r->host != MAP_FAILED)
		munmap(r->host, r->size);
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	if (r->dirty)
		munmap((void *)r->dirty, dirty_bytes(r));
	if (r->code)
		munmap((void *)r->code, dirty_bytes(r));
	vmm__free(vm, r);
}

void vmm_gmem_fini(vmm_vm *vm, struct vmm_gmem *m)
{
	for (int i = 0; i < m->n; i++)
		region_free(vm, m->r[i]);
	m->n = 0;
	pthread_rwlock_destroy(&m->lock);
	pthread_mutex_destroy(&m->change_lock);
	pthread_mutex_destroy(&m->code_lock);
}

/* Binary search: index of the last region with gpa <= @gpa, or -1. */
static int find_idx(struct vmm_gmem *m, vmm_gpa_t gpa)
{
	int lo = 0, hi = m->n - 1, ans = -1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (m->r[mid]->gpa <= gpa) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

struct vmm_gmem_region *vmm_gmem_find(struct vmm_gmem *m, vmm_gpa_t gpa)
{
	int i = find_idx(m, gpa);

	if (i < 0)
		return NULL;
	if (gpa - m->r[i]->gpa >= m->r[i]->size)
		return NULL;
	return m->r[i];
}

static int map_region(vmm_vm *vm, struct vmm_gmem_region *r)
{
	int prot = PROT_READ | PROT_WRITE;
	int flags;
	struct stat st;

	switch (r->source) {
	case VMM_MEM_ANON:
		r->fd = -1;
		r->host = mmap(NULL, r->size, prot,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		break;
	case VMM_MEM_MEMFD:
		r->fd = memfd_create(r->name[0] ? r->name : "vmm-ram",
				     MFD_CLOEXEC);
		if (r->fd < 0)
			return vmm__err(vm, -errno, "memfd_create: %s",
					strerror(errno));
		r->own_fd = true;
		if (ftruncate(r->fd, (off_t)r->size) < 0)
			return vmm__err(vm, -errno, "memfd ftruncate: %s",
					strerror(errno));
		r->host = mmap(NULL, r->size, prot, MAP_SHARED, r->fd, 0);
		break;
	case VMM_MEM_FD:
		if (r->fd < 0 || fstat(r->fd, &st) < 0)
			return vmm__err(vm, -EBADF, "region %s: bad fd",
					r->name);
		if (r->offset < 0 || !VMM_IS_ALIGNED((uint64_t)r->offset,
						      VMM_PAGE_SIZE))
			return vmm__err(vm, -EINVAL,
					"region %s: offset not page aligned",
					r->name);
		if (S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size < (uint64_t)r->offset + r->size)
			return vmm__err(vm, -EINVAL,
					"region %s: file is %lld bytes, needs %llu",
					r->name, (long long)st.st_size,
					(unsigned long long)(r->offset + r->size));
		flags = (r->flags & VMM_MEM_SHARED) ? MAP_SHARED : MAP_PRIVATE;
		r->host = mmap(NULL, r->size, prot, flags, r->fd, r->offset);
		break;
	default:
		return vmm__err(vm, -EINVAL, "unknown memory source %d",
				r->source);
	}
	if (r->host == MAP_FAILED) {
		r->host = NULL;
		return vmm__err(vm, -errno, "mmap of %llu bytes: %s",
				(unsigned long long)r->size, strerror(errno));
	}
	madvise(r->host, r->size, MADV_DONTDUMP);
	return 0;
}

int vmm_gmem_region_new(vmm_vm *vm, struct vmm_gmem *m,
			const struct vmm_mem_region *d,
			struct vmm_gmem_region **out)
{
	struct vmm_gmem_region *r;
	uint64_t end;
	int ret;

	if (!d || !d->size || !VMM_IS_ALIGNED(d->gpa, VMM_PAGE_SIZE) ||
	    !VMM_IS_ALIGNED(d->size, VMM_PAGE_SIZE))
		return vmm__err(vm, -EINVAL,
				"region must be non-empty and page aligned");
	if (__builtin_add_overflow(d->gpa, d->size, &end) ||
	    end > (1ull << 52))
		return vmm__err(vm, -EINVAL,
				"region 0x%llx+0x%llx beyond the physical address space",
				(unsigned long long)d->gpa,
				(unsigned long long)d->size);
	if (d->flags & ~(VMM_MEM_READONLY | VMM_MEM_SHARED | VMM_MEM_DIRTY_LOG))
		return vmm__err(vm, -EINVAL, "unknown region flags 0x%x",
				d->flags);
	if (m->n >= VMM_GMEM_MAX_REGIONS)
		return vmm__err(vm, -ENOSPC, "too many memory regions (%d)",
				VMM_GMEM_MAX_REGIONS);
	if (d->source != VMM_MEM_FD) {
		uint64_t cap = host_ram_cap(), total = d->size;

		pthread_rwlock_rdlock(&m->lock);
		for (int i = 0; i < m->n; i++)
			if (m->r[i]->source != VMM_MEM_FD)
				total += m->r[i]->size;
		pthread_rwlock_unlock(&m->lock);
		if (total > cap)
			return vmm__err(vm, -E2BIG, "guest RAM of %llu MiB "
					"exceeds what this host can back (%llu "
					"MiB of RAM + swap, or the address-space "
					"limit)",
					(unsigned long long)(total >> 20),
					(unsigned long long)(cap >> 20));
	}
	r = vmm__alloc(vm, sizeof(*r));
	if (!r)
		return vmm__err(vm, -ENOMEM, "out of memory for region");
	r->gpa = d->gpa;
	r->size = d->size;
	r->flags = d->flags;
	r->source = d->source;
	r->fd = d->source == VMM_MEM_FD ? d->fd : -1;
	r->offset = d->source == VMM_MEM_FD ? d->offset : 0;
	snprintf(r->name, sizeof(r->name), "%s", d->name ? d->name : "ram");
	ret = map_region(vm, r);
	if (ret)
		goto fail;
	/* one bit per page, mapped like RAM: untouched pages of the bitmap
	 * cost nothing until dirty logging writes them */
	r->dirty_words = (d->size / VMM_PAGE_SIZE + 63) / 64;
	r->dirty = mmap(NULL, dirty_bytes(r), PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->dirty == MAP_FAILED) {
		r->dirty = NULL;
		ret = vmm__err(vm, -ENOMEM, "dirty bitmap: mmap: %s",
			       strerror(errno));
		goto fail;
	}
	r->code = mmap(NULL, dirty_bytes(r), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r->code == MAP_FAILED) {
		r->code = NULL;
		ret = vmm__err(vm, -ENOMEM, "code bitmap: mmap: %s",
			       strerror(errno));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	region_free(vm, r);
	return ret;
}

void vmm_gmem_region_free(vmm_vm *vm, struct vmm_gmem_region *r)
{
	region_free(vm, r);
}

int vmm_gmem_insert(vmm_vm *vm, struct vmm_gmem *m, struct vmm_gmem_region *r)
{
	int i = find_idx(m, r->gpa);
	uint64_t end = r->gpa + r->size;

	if (m->n >= VMM_GMEM_MAX_REGIONS)
		return vmm__err(vm, -ENOSPC, "too many memory regions");
	/* previous region must end at or before r; next must start after */
	if (i >= 0 && m->r[i]->gpa + m->r[i]->size > r->gpa)
		goto overlap;
	if (i + 1 < m->n && m->r[i + 1]->gpa < end)
		goto overlap;
	memmove(&m->r[i + 2], &m->r[i + 1],
		(size_t)(m->n - i - 1) * sizeof(m->r[0]));
	m->r[i + 1] = r;
	m->n++;
	atomic_fetch_add_explicit(&m->gen, 1, memory_order_release);
	return 0;
overlap:
	return vmm__err(vm, -EEXIST,
			"region 0x%llx-0x%llx overlaps an existing region",
			(unsigned long long)r->gpa, (unsigned long long)end);
}

struct vmm_gmem_region *vmm_gmem_unlink(struct vmm_gmem *m, vmm_gpa_t gpa)
{
	int i = find_idx(m, gpa);
	struct vmm_gmem_region *r;

	if (i < 0 || m->r[i]->gpa != gpa)
		return NULL;
	r = m->r[i];
	memmove(&m->r[i], &m->r[i + 1], (size_t)(m->n - i - 1) * sizeof(m->r[0]));
	m->n--;
	atomic_fetch_add_explicit(&m->gen, 1, memory_order_release);
	return r;
}

/* Is @r logging dirty pages (globally switched on or flagged at creation)? */
static bool logging(const struct vmm_gmem_region *r)
{
	return r->flags & VMM_MEM_DIRTY_LOG;
}

static void mark_dirty_locked(struct vmm_gmem_region *r, uint64_t off,
			      uint64_t len)
{
	uint64_t first = off / VMM_PAGE_SIZE;
	uint64_t last = (off + len - 1) / VMM_PAGE_SIZE;

	/* release: a fetch that takes the bit (acquire) and then copies the
	 * page sees the store the caller made before marking */
	for (uint64_t p = first; p <= last; p++)
		atomic_fetch_or_explicit(&r->dirty[p / 64], 1ull << (p % 64),
					 memory_order_release);
}

/* Pages of [@off, @off+@len) in @r that hold code: unmark them and append
 * them to the code ring.  Caller holds m->lock (read). */
static void code_written(struct vmm_gmem *m, struct vmm_gmem_region *r,
			 uint64_t off, uint64_t len)
{
	uint64_t first = off / VMM_PAGE_SIZE;
	uint64_t last = (off + len - 1) / VMM_PAGE_SIZE;

	for (uint64_t p = first; p <= last; p++) {
		uint64_t bit = 1ull << (p % 64), old;

		if (p % 64 == 0 && p + 63 <= last &&
		    !atomic_load_explicit(&r->code[p / 64],
					  memory_order_relaxed)) {
			p += 63; /* a whole word without code */
			continue;
		}
		if (!(atomic_load_explicit(&r->code[p / 64],
					   memory_order_relaxed) & bit))
			continue;
		old = atomic_fetch_and(&r->code[p / 64], ~bit);
		if (!(old & bit))
			continue;
		pthread_mutex_lock(&m->code_lock);
		{
			uint64_t h = atomic_load_explicit(
				&m->code_head, memory_order_relaxed);
			m->code_ring[h % VMM_GMEM_CODE_RING] =
				r->gpa + p * VMM_PAGE_SIZE;
			atomic_store_explicit(&m->code_head, h + 1,
					      memory_order_release);
		}
		pthread_mutex_unlock(&m->code_lock);
	}
}

void vmm_gmem_code_mark(struct vmm_gmem *m, vmm_gpa_t gpa)
{
	struct vmm_gmem_region *r;

	pthread_rwlock_rdlock(&m->lock);
	r = vmm_gmem_find(m, gpa);
	if (r) {
		uint64_t p = (gpa - r->gpa) / VMM_PAGE_SIZE;
		atomic_fetch_or(&r->code[p / 64], 1ull << (p % 64));
	}
	pthread_rwlock_unlock(&m->lock);
}

int vmm_gmem_code_take(struct vmm_gmem *m, uint64_t *seen, vmm_gpa_t *pages,
		       int max)
{
	uint64_t h = vmm_gmem_code_head(m), n;
	int ret = 0;

	if (h == *seen)
		return 0;
	pthread_mutex_lock(&m->code_lock);
	h = atomic_load_explicit(&m->code_head, memory_order_relaxed);
	n = h - *seen;
	if (n > VMM_GMEM_CODE_RING || n > (uint64_t)max) {
		ret = -1;
	} else {
		for (uint64_t k = 0; k < n; k++)
			pages[k] = m->code_ring[(*seen + k) %
						VMM_GMEM_CODE_RING];
		ret = (int)n;
	}
	*seen = h;
	pthread_mutex_unlock(&m->code_lock);
	return ret;
}

void vmm_gmem_mark_dirty(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len)
{
	pthread_rwlock_rdlock(&m->lock);
	while (len) {
		struct vmm_gmem_region *r = vmm_gmem_find(m, gpa);
		uint64_t off, n;

		if (!r)
			break;
		off = gpa - r->gpa;
		n = r->size - off < len ? r->size - off : len;
		if (logging(r))
			mark_dirty_locked(r, off, n);
		code_written(m, r, off, n);
		gpa += n;
		len -= n;
	}
	pthread_rwlock_unlock(&m->lock);
}

void *vmm_gmem_map(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len,
		   struct vmm_gmem_region **region)
{
	struct vmm_gmem_region *r;
	void *p = NULL;

	if (!len)
		return NULL;
	pthread_rwlock_rdlock(&m->lock);
	r = vmm_gmem_find(m, gpa);
	if (r && len <= r->size - (gpa - r->gpa) &&
	    !(r->flags & VMM_MEM_READONLY)) {
		p = r->host + (gpa - r->gpa);
		*region = r;
	}
	pthread_rwlock_unlock(&m->lock);
	return p;
}

void vmm_gmem_wrote(struct vmm_gmem *m, struct vmm_gmem_region *r,
		    const void *p, uint64_t len)
{
	uint64_t off = (uint64_t)((const uint8_t *)p - r->host);

	/* the store before the flag check: dirty logging switched on after
	 * the check began after the store, so the first full copy of the
	 * page has it */
	atomic_thread_fence(memory_order_seq_cst);
	if (__atomic_load_n(&r->flags, __ATOMIC_RELAXED) & VMM_MEM_DIRTY_LOG)
		mark_dirty_locked(r, off, len);
	code_written(m, r, off, len);
}

void vmm_gmem_mark_dirty_host(struct vmm_gmem *m, const struct iovec *iov,
			      unsigned n)
{
	pthread_rwlock_rdlock(&m->lock);
	for (unsigned i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base;

		if (!iov[i].iov_len)
			continue;
		for (int k = 0; k < m->n; k++) {
			struct vmm_gmem_region *r = m->r[k];
			uintptr_t h = (uintptr_t)r->host;

			if (a >= h && a - h < r->size &&
			    iov[i].iov_len <= r->size - (a - h)) {
				if (logging(r))
					mark_dirty_locked(r, a - h,
							  iov[i].iov_len);
				code_written(m, r, a - h, iov[i].iov_len);
				break;
			}
		}
	}
	pthread_rwlock_unlock(&m->lock);
}

void *vmm_gmem_host_ptr(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len,
			bool write)
{
	struct vmm_gmem_region *r;
	void *p = NULL;

	if (!len)
		return NULL;
	pthread_rwlock_rdlock(&m->lock);
	r = vmm_gmem_find(m, gpa);
	if (r && len <= r->size - (gpa - r->gpa) &&
	    !(write && (r->flags & VMM_MEM_READONLY))) {
		p = r->host + (gpa - r->gpa);
		/* no dirty mark: the caller marks after its store */
		if (write)
			code_written(m, r, gpa - r->gpa, len);
	}
	pthread_rwlock_unlock(&m->lock);
	return p;
}

/*
 * Walk [gpa, gpa+len) region by region, calling @fn on each piece.  The
 * whole range is checked first so that a failing access copies nothing.
 */
typedef void (*piece_fn)(uint8_t *host, size_t off, size_t n, void *arg);

static int for_each_piece(struct vmm_gmem *m, vmm_gpa_t gpa, size_t len,
			  bool write, bool rom_ok, piece_fn fn, void *arg)
{
	vmm_gpa_t end, a;
	size_t done;
	int ret = 0;

	if (len == 0)
		return 0;
	if (__builtin_add_overflow(gpa, (uint64_t)len, &end))
		return -EFAULT;
	pthread_rwlock_rdlock(&m->lock);
	for (a = gpa; a < end;) {
		struct vmm_gmem_region *r = vmm_gmem_find(m, a);
		if (!r || (write && !rom_ok && (r->flags & VMM_MEM_READONLY))) {
			ret = -EFAULT;
			goto out;
		}
		a = r->gpa + r->size;
		if (a == 0) /* region reaching the top of the space */
			break;
	}
	for (a = gpa, done = 0; a < end;) {
		struct vmm_gmem_region *r = vmm_gmem_find(m, a);
		uint64_t off = a - r->gpa;
		uint64_t n = r->size - off;
		if (n > end - a)
			n = end - a;
		fn(r->host + off, done, n, arg);
		if (write && logging(r))
			mark_dirty_locked(r, off, n);
		if (write)
			code_written(m, r, off, n);
		a += n;
		done += n;
	}
out:
	pthread_rwlock_unlock(&m->lock);
	return ret;
}

/* one load / store for an aligned 2/4/8-byte piece (mem/guest_copy.h) */
static void piece_read(uint8_t *host, size_t off, size_t n, void *arg)
{
	vmm__guest_load((uint8_t *)arg + off, host, n);
}

static void piece_write(uint8_t *host, size_t off, size_t n, void *arg)
{
	vmm__guest_store(host, (const uint8_t *)arg + off, n);
}

static void piece_fill(uint8_t *host, size_t off, size_t n, void *arg)
{
	memset(host, *(int *)arg, n);
}

int vmm_gmem_read(struct vmm_gmem *m, vmm_gpa_t gpa, void *buf, size_t len)
{
	return for_each_piece(m, gpa, len, false, true, piece_read, buf);
}

int vmm_gmem_write(struct vmm_gmem *m, vmm_gpa_t gpa, const void *buf,
		   size_t len)
{
	return for_each_piece(m, gpa, len, true, true, piece_write,
			      (void *)buf);
}

int vmm_gmem_fill(struct vmm_gmem *m, vmm_gpa_t gpa, int byte, size_t len)
{
	return for_each_piece(m, gpa, len, true, true, piece_fill, &byte);
}

struct iov_arg {
	struct iovec *iov;
	int max, n;
	bool overflow;
};

static void piece_iov(uint8_t *host, size_t off, size_t n, void *arg)
{
	struct iov_arg *ia = arg;

	if (ia->n > 0 && (uint8_t *)ia->iov[ia->n - 1].iov_base +
				       ia->iov[ia->n - 1].iov_len == host) {
		ia->iov[ia->n - 1].iov_len += n;
		return;
	}
	if (ia->n >= ia->max) {
		ia->overflow = true;
		return;
	}
	ia->iov[ia->n].iov_base = host;
	ia->iov[ia->n].iov_len = n;
	ia->n++;
}

int vmm_gmem_iovec(struct vmm_gmem *m, vmm_gpa_t gpa, size_t len,
		   bool for_write, struct iovec *iov, int max_iov)
{
	struct iov_arg ia = { iov, max_iov, 0, false };
	int ret;

	if (max_iov <= 0)
		return -E2BIG;
	if (len == 0)
		return 0;
	ret = for_each_piece(m, gpa, len, for_write, false, piece_iov, &ia);
	if (ret)
		return ret;
	return ia.overflow ? -E2BIG : ia.n;
}

bool vmm_gmem_is_ram(struct vmm_gmem *m, vmm_gpa_t gpa, uint64_t len)
{
	vmm_gpa_t end, a;
	bool ok = true;

	if (len == 0)
		return true;
	if (__builtin_add_overflow(gpa, len, &end))
		return false;
	pthread_rwlock_rdlock(&m->lock);
	for (a = gpa; a < end;) {
		struct vmm_gmem_region *r = vmm_gmem_find(m, a);
		if (!r) {
			ok = false;
			break;
		}
		a = r->gpa + r->size;
		if (a == 0)
			break;
	}
	pthread_rwlock_unlock(&m->lock);
	return ok;
}

/* Get and clear the VMM-side bitmap of @r, OR-ing it into @bitmap.  A
 * word read as zero is left alone (no locked exchange: a bit set right
 * after the read is taken by the next call, as it would be had it come
 * right after the exchange); most words are zero (fuzz_loaders fetches
 * 256 of them five times per input). */
void vmm_gmem_dirty_take(struct vmm_gmem_region *r, uint64_t *bitmap)
{
	for (size_t i = 0; i < r->dirty_words; i++)
		if (atomic_load_explicit(&r->dirty[i], memory_order_relaxed))
			bitmap[i] |= atomic_exchange_explicit(
				&r->dirty[i], 0, memory_order_acquire);
}
