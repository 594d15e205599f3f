// SPDX-License-Identifier: MIT
/*
 * hypercall.c - the hypercall doorbell device: reads a call block the guest
 * names by its guest-physical address, checks every part of it through the
 * guest memory layer, runs the registered host function on host copies of
 * the buffers, writes the outcome back.  Batches run many blocks for one
 * doorbell.  The ABI is in <libvmm/hypercall_abi.h>, docs/hypercall-abi.md.
 *
 * Like every device it sees the bus, guest memory and its own state only:
 * it never knows which backend runs the guest.  All state hangs off the VM
 * through the device registry.
 */
#include "hypercall/hc_impl.h"
#include "core/statebuf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Up to this many buffer bytes per call are copied through the stack. */
#define HC_STACK_BYTES 1024u
#define HC_DEFAULT_BATCH 64u
#define HC_NAME_MAX 63u

_Static_assert(offsetof(struct vmm_hc_block, result) == VMM_HC_OFF_RESULT,
	       "result offset");
_Static_assert(offsetof(struct vmm_hc_block, error) == VMM_HC_OFF_ERROR,
	       "error offset");
_Static_assert(offsetof(struct vmm_hc_block, args) == VMM_HC_OFF_ARGS,
	       "args offset");
_Static_assert(offsetof(struct vmm_hc_block, bufs) == VMM_HC_OFF_BUFS,
	       "bufs offset");
_Static_assert(offsetof(struct vmm_hc_desc, used) == VMM_HC_OFF_DESC_USED,
	       "used offset");

struct hc_fn {
	uint32_t nr;
	char name[HC_NAME_MAX + 1];
	struct vmm_hc_sig sig;
	vmm_hc_fn fn;
	void *opaque;
};

struct vmm_hc {
	vmm_vm *vm;
	vmm_dev *dev;
	uint16_t port;
	uint32_t max_batch;

	pthread_rwlock_t lock;      /* fns; held (read) while a function runs */
	struct hc_fn *fns;          /* sorted by nr */
	size_t nfns, cap;

	/* status of the last doorbell per vCPU; [VMM_MAX_VCPUS] = the host */
	_Atomic int32_t status[VMM_MAX_VCPUS + 1];

	atomic_uint_fast64_t doorbells, calls, batches, batch_entries,
		exits_saved, errors, bad_doorbells, bytes_in, bytes_out;
};

/* What one call produced, to be written back into its block. */
struct hc_out {
	int64_t result;
	int32_t error;
	bool write_args;
	uint64_t args[VMM_HC_MAX_ARGS];
	uint32_t used[VMM_HC_MAX_BUFS];
	bool write_used[VMM_HC_MAX_BUFS];
	bool stop;
	uint32_t stop_value;
};

static void hc_destroy(void *priv);

void vmm_hc_config_init(struct vmm_hc_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->port = VMM_HC_PORT_DEFAULT;
	cfg->max_batch = HC_DEFAULT_BATCH;
}

/* ---- function table ---------------------------------------------------- */

/* Index of the entry with number @nr, or -(insertion point) - 1. */
static long fn_find(const vmm_hc *hc, uint32_t nr)
{
	long lo = 0, hi = (long)hc->nfns - 1;

	while (lo <= hi) {
		long mid = (lo + hi) / 2;
		if (hc->fns[mid].nr == nr)
			return mid;
		if (hc->fns[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

static long fn_find_name(const vmm_hc *hc, const char *name, size_t len)
{
	for (size_t i = 0; i < hc->nfns; i++)
		if (strlen(hc->fns[i].name) == len &&
		    !memcmp(hc->fns[i].name, name, len))
			return (long)i;
	return -1;
}

static int check_sig(vmm_vm *vm, const struct vmm_hc_sig *sig)
{
	if (sig->nargs > VMM_HC_MAX_ARGS || sig->nbufs > VMM_HC_MAX_BUFS)
		return vmm__err(vm, -EINVAL,
				"hypercall: signature with %u args, %u buffers "
				"(at most %u, %u)", sig->nargs, sig->nbufs,
				VMM_HC_MAX_ARGS, VMM_HC_MAX_BUFS);
	if (sig->flags & ~VMM_HC_SIG_NO_BATCH)
		return vmm__err(vm, -EINVAL,
				"hypercall: unknown signature flags 0x%x",
				sig->flags);
	for (unsigned i = 0; i < sig->nbufs; i++) {
		unsigned d = sig->bufs[i].dir;
		if (d != VMM_HC_DIR_IN && d != VMM_HC_DIR_OUT &&
		    d != VMM_HC_DIR_INOUT)
			return vmm__err(vm, -EINVAL,
					"hypercall: buffer %u: bad direction %u",
					i, d);
		if (!sig->bufs[i].max_len ||
		    sig->bufs[i].max_len > VMM_HC_MAX_BUF_LIMIT)
			return vmm__err(vm, -EINVAL,
					"hypercall: buffer %u: max length %u "
					"not in 1..%u", i, sig->bufs[i].max_len,
					VMM_HC_MAX_BUF_LIMIT);
	}
	return 0;
}

int vmm_hc_register(vmm_hc *hc, uint32_t nr, const char *name,
		    const struct vmm_hc_sig *sig, vmm_hc_fn fn, void *opaque)
{
	vmm_vm *vm;
	size_t nlen;
	long i;
	int ret = 0;

	if (!hc)
		return -EINVAL;
	vm = hc->vm;
	if (!sig || !fn || !name)
		return vmm__err(vm, -EINVAL, "hypercall: NULL argument");
	if (nr < VMM_HC_NR_FIRST_USER)
		return vmm__err(vm, -EINVAL,
				"hypercall: number 0x%x is reserved (use 0x%x+)",
				nr, VMM_HC_NR_FIRST_USER);
	nlen = strlen(name);
	if (!nlen || nlen > HC_NAME_MAX)
		return vmm__err(vm, -EINVAL,
				"hypercall: name must have 1..%u characters",
				HC_NAME_MAX);
	if ((ret = check_sig(vm, sig)))
		return ret;

	pthread_rwlock_wrlock(&hc->lock);
	i = fn_find(hc, nr);
	if (i >= 0) {
		ret = vmm__err(vm, -EEXIST, "hypercall: 0x%x is taken by '%s'",
			       nr, hc->fns[i].name);
		goto out;
	}
	if (fn_find_name(hc, name, nlen) >= 0) {
		ret = vmm__err(vm, -EEXIST, "hypercall: name '%s' is taken",
			       name);
		goto out;
	}
	if (hc->nfns == hc->cap) {
		size_t ncap = hc->cap ? hc->cap * 2 : 8;
		struct hc_fn *n = vmm__alloc(vm, ncap * sizeof(*n));
		if (!n) {
			ret = vmm__err(vm, -ENOMEM,
				       "hypercall: out of memory for functions");
			goto out;
		}
		if (hc->nfns)
			memcpy(n, hc->fns, hc->nfns * sizeof(*n));
		vmm__free(vm, hc->fns);
		hc->fns = n;
		hc->cap = ncap;
	}
	i = -i - 1;
	memmove(&hc->fns[i + 1], &hc->fns[i],
		(hc->nfns - (size_t)i) * sizeof(*hc->fns));
	memset(&hc->fns[i], 0, sizeof(hc->fns[i]));
	hc->fns[i].nr = nr;
	memcpy(hc->fns[i].name, name, nlen + 1);
	hc->fns[i].sig = *sig;
	hc->fns[i].fn = fn;
	hc->fns[i].opaque = opaque;
	hc->nfns++;
out:
	pthread_rwlock_unlock(&hc->lock);
	return ret;
}

int vmm_hc_unregister(vmm_hc *hc, uint32_t nr)
{
	long i;
	int ret = 0;

	if (!hc)
		return -EINVAL;
	pthread_rwlock_wrlock(&hc->lock);
	i = fn_find(hc, nr);
	if (i < 0) {
		ret = vmm__err(hc->vm, -ENOENT,
			       "hypercall: no function 0x%x", nr);
	} else {
		memmove(&hc->fns[i], &hc->fns[i + 1],
			(hc->nfns - (size_t)i - 1) * sizeof(*hc->fns));
		hc->nfns--;
	}
	pthread_rwlock_unlock(&hc->lock);
	return ret;
}

int64_t vmm_hc_lookup(vmm_hc *hc, const char *name)
{
	int64_t ret = -ENOENT;
	long i;

	if (!hc || !name)
		return -EINVAL;
	pthread_rwlock_rdlock(&hc->lock);
	i = fn_find_name(hc, name, strlen(name));
	if (i >= 0)
		ret = hc->fns[i].nr;
	pthread_rwlock_unlock(&hc->lock);
	return ret;
}

int vmm_hc_get_stats(vmm_hc *hc, struct vmm_hc_stats *ust)
{
	struct vmm_hc_stats s = { .struct_size = sizeof(s) }, *st = &s;

	if (!hc || !ust)
		return -EINVAL;
	st->doorbells = atomic_load(&hc->doorbells);
	st->calls = atomic_load(&hc->calls);
	st->batches = atomic_load(&hc->batches);
	st->batch_entries = atomic_load(&hc->batch_entries);
	st->exits_saved = atomic_load(&hc->exits_saved);
	st->errors = atomic_load(&hc->errors);
	st->bad_doorbells = atomic_load(&hc->bad_doorbells);
	st->bytes_in = atomic_load(&hc->bytes_in);
	st->bytes_out = atomic_load(&hc->bytes_out);
	return vmm__struct_out(ust, &s, sizeof(s), VMM__HC_STATS_V02);
}

/* ---- checking a call --------------------------------------------------- */

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	if (!alen || !blen)
		return false;
	return a < b + blen && b < a + alen; /* no wrap: checked before */
}

/*
 * vmm__hc_check_bufs() - the buffer rules of one call against a signature.
 * @blk_gpa: where the call block is (OUT buffers must not overlap it).
 * Returns 0 or the negative errno the guest gets.
 */
int vmm__hc_check_bufs(vmm_vm *vm, const struct vmm_hc_sig *sig,
		       const struct vmm_hc_block *b, vmm_gpa_t blk_gpa)
{
	for (unsigned i = 0; i < b->nbufs; i++) {
		const struct vmm_hc_desc *d = &b->bufs[i];
		uint64_t end;

		if (d->reserved || d->reserved2)
			return -EINVAL;
		if (d->dir != sig->bufs[i].dir)
			return -EINVAL;
		if (d->len > sig->bufs[i].max_len)
			return -E2BIG;
		if (__builtin_add_overflow(d->gpa, (uint64_t)d->len, &end))
			return -EOVERFLOW;
		if (d->len && !vmm_mem_is_ram(vm, d->gpa, d->len))
			return -EFAULT;
	}
	for (unsigned i = 0; i < b->nbufs; i++) {
		const struct vmm_hc_desc *d = &b->bufs[i];
		if (!(d->dir & VMM_HC_DIR_OUT))
			continue;
		if (ranges_overlap(d->gpa, d->len, blk_gpa, VMM_HC_BLOCK_SIZE))
			return -EINVAL;
		for (unsigned j = 0; j < b->nbufs; j++)
			if (j != i && ranges_overlap(d->gpa, d->len,
						     b->bufs[j].gpa,
						     b->bufs[j].len))
				return -EINVAL;
	}
	return 0;
}

/* Read the block at @gpa and check its fixed part.  0 or a negative errno;
 * *@writable says whether the error may be written into the block. */
static int read_block(vmm_hc *hc, vmm_gpa_t gpa, struct vmm_hc_block *b,
		      bool *writable)
{
	*writable = false;
	if (gpa & 7)
		return -EINVAL;
	if (vmm_mem_read(hc->vm, gpa, b, VMM_HC_HEADER_SIZE))
		return -EFAULT;
	if (b->magic != VMM_HC_MAGIC)
		return -EBADMSG;
	/* From here on the guest meant this to be a block: report in it. */
	*writable = true;
	if (b->version != VMM_HC_VERSION)
		return -EPROTONOSUPPORT;
	if (b->size != VMM_HC_BLOCK_SIZE)
		return -EINVAL;
	if (vmm_mem_read(hc->vm, gpa, b, VMM_HC_BLOCK_SIZE)) {
		*writable = false; /* straddles the end of RAM */
		return -EFAULT;
	}
	if (b->flags & ~VMM_HC_F_ALL)
		return -EINVAL;
	if (b->nargs > VMM_HC_MAX_ARGS || b->nbufs > VMM_HC_MAX_BUFS)
		return -EINVAL;
	return 0;
}

static int write_back(vmm_hc *hc, vmm_gpa_t gpa, const struct hc_out *o)
{
	struct {
		int64_t result;
		int32_t error;
	} __attribute__((packed)) re = { o->result, o->error };
	int ret;

	ret = vmm_mem_write(hc->vm, gpa + VMM_HC_OFF_RESULT, &re, sizeof(re));
	if (!ret && o->write_args)
		ret = vmm_mem_write(hc->vm, gpa + VMM_HC_OFF_ARGS, o->args,
				    sizeof(o->args));
	for (unsigned i = 0; i < VMM_HC_MAX_BUFS && !ret; i++)
		if (o->write_used[i])
			ret = vmm_mem_write(hc->vm,
					    gpa + VMM_HC_OFF_BUFS +
						    i * sizeof(struct vmm_hc_desc) +
						    VMM_HC_OFF_DESC_USED,
					    &o->used[i], sizeof(o->used[i]));
	return ret;
}

static int64_t clamp_result(vmm_hc *hc, const struct hc_fn *f, int64_t r,
			    int32_t *error)
{
	if (r >= 0) {
		*error = 0;
		return r;
	}
	if (r < -4095) {
		vmm__log(hc->vm, VMM_LOG_WARN,
			 "hypercall '%s' returned %lld, not an errno: -EIO",
			 f->name, (long long)r);
		r = -EIO;
	}
	*error = (int32_t)r;
	return 0;
}

/* Run registered function @f on the checked block @b. */
static void run_fn(vmm_hc *hc, const struct hc_fn *f,
		   const struct vmm_hc_block *b, struct vmm_io_ctx *ctx,
		   bool in_batch, struct hc_out *o)
{
	uint8_t stackbuf[HC_STACK_BYTES] __attribute__((aligned(16)));
	struct vmm_hc_call call = {
		.vm = hc->vm,
		.vcpu = ctx ? ctx->vcpu : NULL,
		.nr = b->nr,
		.in_batch = in_batch,
		.nargs = b->nargs,
		.nbufs = b->nbufs,
	};
	uint64_t total = 0, in_bytes = 0, out_bytes = 0;
	uint8_t *mem = stackbuf, *p, *hostp[VMM_HC_MAX_BUFS];
	int64_t r;

	memcpy(call.args, b->args, sizeof(call.args));
	for (unsigned i = 0; i < b->nbufs; i++)
		total += VMM_ALIGN_UP((uint64_t)b->bufs[i].len, 16);
	if (total > sizeof(stackbuf)) {
		mem = vmm__alloc(hc->vm, (size_t)total);
		if (!mem) {
			o->error = -ENOMEM;
			return;
		}
	} else {
		memset(stackbuf, 0, (size_t)total);
	}
	p = mem;
	for (unsigned i = 0; i < b->nbufs; i++) {
		const struct vmm_hc_desc *d = &b->bufs[i];
		struct vmm_hc_buf *hb = &call.bufs[i];

		hb->data = hostp[i] = p;
		hb->len = d->len;
		hb->dir = d->dir;
		hb->gpa = d->gpa;
		hb->used = d->dir == VMM_HC_DIR_INOUT ? d->len : 0;
		if ((d->dir & VMM_HC_DIR_IN) && d->len) {
			if (vmm_mem_read(hc->vm, d->gpa, p, d->len)) {
				o->error = -EFAULT;
				goto out;
			}
			in_bytes += d->len;
		}
		p += VMM_ALIGN_UP((uint64_t)d->len, 16);
	}

	r = f->fn(f->opaque, &call);
	o->result = clamp_result(hc, f, r, &o->error);
	o->stop = call.stop;
	o->stop_value = call.stop_value;

	for (unsigned i = 0; i < b->nbufs; i++) {
		const struct vmm_hc_buf *hb = &call.bufs[i];
		uint32_t used = hb->used;

		if (!(b->bufs[i].dir & VMM_HC_DIR_OUT))
			continue;
		if (used > b->bufs[i].len) {
			vmm__log(hc->vm, VMM_LOG_WARN,
				 "hypercall '%s': buffer %u used %u > len %u",
				 f->name, i, used, b->bufs[i].len);
			used = b->bufs[i].len;
			if (!o->error) {
				o->error = -EIO;
				o->result = 0;
			}
		}
		if (used &&
		    vmm_mem_write(hc->vm, b->bufs[i].gpa, hostp[i], used)) {
			o->error = -EFAULT;
			o->result = 0;
			used = 0;
		}
		o->used[i] = used;
		o->write_used[i] = true;
		out_bytes += used;
	}
out:
	atomic_fetch_add_explicit(&hc->bytes_in, in_bytes,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(&hc->bytes_out, out_bytes,
				  memory_order_relaxed);
	if (mem != stackbuf)
		vmm__free(hc->vm, mem);
}

static void call_version(vmm_hc *hc, struct hc_out *o)
{
	uint32_t maxbuf = 0;

	pthread_rwlock_rdlock(&hc->lock);
	for (size_t i = 0; i < hc->nfns; i++)
		for (unsigned j = 0; j < hc->fns[i].sig.nbufs; j++)
			if (hc->fns[i].sig.bufs[j].max_len > maxbuf)
				maxbuf = hc->fns[i].sig.bufs[j].max_len;
	o->args[3] = hc->nfns;
	pthread_rwlock_unlock(&hc->lock);
	o->result = VMM_HC_VERSION;
	o->write_args = true;
	o->args[0] = VMM_HC_FEAT_BATCH | VMM_HC_FEAT_LOOKUP |
		     VMM_HC_FEAT_STATUS_PORT;
	o->args[1] = hc->max_batch;
	o->args[2] = maxbuf;
	o->args[4] = hc->port;
}

static void call_lookup(vmm_hc *hc, const struct vmm_hc_block *b,
			vmm_gpa_t gpa, struct hc_out *o)
{
	static const struct vmm_hc_sig sig = {
		.nargs = 0, .nbufs = 1,
		.bufs = { { VMM_HC_DIR_IN, HC_NAME_MAX } },
	};
	char name[HC_NAME_MAX + 1];
	long i;

	if (b->nargs != sig.nargs || b->nbufs != sig.nbufs) {
		o->error = -EINVAL;
		return;
	}
	if ((o->error = vmm__hc_check_bufs(hc->vm, &sig, b, gpa)))
		return;
	if (!b->bufs[0].len) {
		o->error = -EINVAL;
		return;
	}
	if (vmm_mem_read(hc->vm, b->bufs[0].gpa, name, b->bufs[0].len)) {
		o->error = -EFAULT;
		return;
	}
	pthread_rwlock_rdlock(&hc->lock);
	i = fn_find_name(hc, name, strnlen(name, b->bufs[0].len));
	if (i >= 0)
		o->result = hc->fns[i].nr;
	else
		o->error = -ENOENT;
	pthread_rwlock_unlock(&hc->lock);
}

/* One non-batch call whose block @b (at @gpa) has been read and checked. */
static void call_one(vmm_hc *hc, const struct vmm_hc_block *b, vmm_gpa_t gpa,
		     struct vmm_io_ctx *ctx, bool in_batch, struct hc_out *o)
{
	long i;

	atomic_fetch_add_explicit(&hc->calls, 1, memory_order_relaxed);
	if (b->nr == VMM_HC_NR_VERSION) {
		if (b->nargs || b->nbufs)
			o->error = -EINVAL;
		else
			call_version(hc, o);
		return;
	}
	if (b->nr == VMM_HC_NR_LOOKUP) {
		call_lookup(hc, b, gpa, o);
		return;
	}
	if (b->flags) { /* the only flag is for batches */
		o->error = -EINVAL;
		return;
	}
	pthread_rwlock_rdlock(&hc->lock);
	i = fn_find(hc, b->nr);
	if (i < 0) {
		o->error = -ENOSYS;
	} else if (b->nargs != hc->fns[i].sig.nargs ||
		   b->nbufs != hc->fns[i].sig.nbufs) {
		o->error = -EINVAL;
	} else if (in_batch && (hc->fns[i].sig.flags & VMM_HC_SIG_NO_BATCH)) {
		o->error = -EPERM;
	} else if (!(o->error = vmm__hc_check_bufs(hc->vm, &hc->fns[i].sig,
						    b, gpa))) {
		run_fn(hc, &hc->fns[i], b, ctx, in_batch, o);
	}
	pthread_rwlock_unlock(&hc->lock);
}

static void count_error(vmm_hc *hc, const struct hc_out *o)
{
	if (o->error)
		atomic_fetch_add_explicit(&hc->errors, 1, memory_order_relaxed);
}

static void call_batch(vmm_hc *hc, const struct vmm_hc_block *b,
		       vmm_gpa_t gpa, struct vmm_io_ctx *ctx, struct hc_out *o)
{
	const struct vmm_hc_desc *d = &b->bufs[0];
	struct vmm_hc_block e;
	uint64_t n, i, end;
	bool stop = false;

	atomic_fetch_add_explicit(&hc->batches, 1, memory_order_relaxed);
	if (b->nargs != 1 || b->nbufs != 1 || d->dir != VMM_HC_DIR_INOUT ||
	    d->reserved || d->reserved2) {
		o->error = -EINVAL;
		return;
	}
	n = b->args[0];
	if (n > hc->max_batch) {
		o->error = -E2BIG;
		return;
	}
	if ((uint64_t)d->len != n * VMM_HC_BLOCK_SIZE) {
		o->error = -EINVAL;
		return;
	}
	if (__builtin_add_overflow(d->gpa, (uint64_t)d->len, &end)) {
		o->error = -EOVERFLOW;
		return;
	}
	if (n && ((d->gpa & 7) || !vmm_mem_is_ram(hc->vm, d->gpa, d->len))) {
		o->error = (d->gpa & 7) ? -EINVAL : -EFAULT;
		return;
	}
	if (ranges_overlap(d->gpa, d->len, gpa, VMM_HC_BLOCK_SIZE)) {
		o->error = -EINVAL;
		return;
	}
	for (i = 0; i < n; i++) {
		vmm_gpa_t egpa = d->gpa + i * VMM_HC_BLOCK_SIZE;
		struct hc_out eo = { 0 };
		bool writable;

		if (stop) {
			eo.error = -ECANCELED;
			(void)write_back(hc, egpa, &eo);
			continue;
		}
		eo.error = read_block(hc, egpa, &e, &writable);
		if (!eo.error && e.nr == VMM_HC_NR_BATCH)
			eo.error = -EINVAL; /* no batch inside a batch */
		else if (!eo.error)
			call_one(hc, &e, egpa, ctx, true, &eo);
		else
			atomic_fetch_add_explicit(&hc->calls, 1,
						  memory_order_relaxed);
		count_error(hc, &eo);
		/* the entries were in RAM when checked; a failed write means
		 * the guest's memory layout changed under us: stop */
		if (write_back(hc, egpa, &eo)) {
			o->error = -EFAULT;
			break;
		}
		atomic_fetch_add_explicit(&hc->batch_entries, 1,
					  memory_order_relaxed);
		o->result++;
		if (eo.stop) {
			o->stop = true;
			o->stop_value = eo.stop_value;
			stop = true;
		}
		if (eo.error && (b->flags & VMM_HC_F_STOP_ON_ERROR))
			stop = true;
	}
	if (o->result > 1)
		atomic_fetch_add_explicit(&hc->exits_saved,
					  (uint64_t)o->result - 1,
					  memory_order_relaxed);
}

static unsigned status_slot(struct vmm_io_ctx *ctx)
{
	unsigned i;

	if (!ctx || !ctx->vcpu)
		return VMM_MAX_VCPUS;
	i = vmm_vcpu_index(ctx->vcpu);
	return i < VMM_MAX_VCPUS ? i : VMM_MAX_VCPUS;
}

/* The doorbell: the guest wrote the address of a call block. */
static int32_t doorbell(vmm_hc *hc, vmm_gpa_t gpa, struct vmm_io_ctx *ctx)
{
	struct vmm_hc_block b;
	struct hc_out o = { 0 };
	bool writable;
	int err;

	atomic_fetch_add_explicit(&hc->doorbells, 1, memory_order_relaxed);
	err = read_block(hc, gpa, &b, &writable);
	if (err && !writable) {
		atomic_fetch_add_explicit(&hc->bad_doorbells, 1,
					  memory_order_relaxed);
		return err;
	}
	if (err) {
		o.error = err;
		atomic_fetch_add_explicit(&hc->calls, 1, memory_order_relaxed);
	} else if (b.nr == VMM_HC_NR_BATCH) {
		call_batch(hc, &b, gpa, ctx, &o);
	} else {
		call_one(hc, &b, gpa, ctx, false, &o);
	}
	count_error(hc, &o);
	if (write_back(hc, gpa, &o)) {
		atomic_fetch_add_explicit(&hc->bad_doorbells, 1,
					  memory_order_relaxed);
		return -EFAULT;
	}
	if (o.stop && ctx) {
		ctx->stop = VMM_EXIT_GUEST_EXIT;
		ctx->stop_value = o.stop_value;
		ctx->stop_status = VMM_HC_STOP_STATUS;
	}
	return 0;
}

static int hc_write(void *opaque, uint64_t off, const void *data,
		    unsigned size, struct vmm_io_ctx *ctx)
{
	vmm_hc *hc = opaque;
	int32_t st;
	uint32_t v;

	if (off != 0 || size != 4) {
		atomic_fetch_add_explicit(&hc->doorbells, 1,
					  memory_order_relaxed);
		atomic_fetch_add_explicit(&hc->bad_doorbells, 1,
					  memory_order_relaxed);
		st = -EINVAL;
	} else {
		memcpy(&v, data, 4);
		st = doorbell(hc, v, ctx);
	}
	atomic_store_explicit(&hc->status[status_slot(ctx)], st,
			      memory_order_relaxed);
	return 0; /* the guest's errors never stop the VM */
}

static int hc_read(void *opaque, uint64_t off, void *data, unsigned size,
		   struct vmm_io_ctx *ctx)
{
	vmm_hc *hc = opaque;
	int32_t st = atomic_load_explicit(&hc->status[status_slot(ctx)],
					  memory_order_relaxed);
	uint32_t v = off == 0 && size == 4 ? (uint32_t)st : 0xffffffffu;

	memset(data, 0xff, size);
	memcpy(data, &v, size < 4 ? size : 4);
	return 0;
}

/*
 * Snapshot state (version 1): the status register of every vCPU slot (what
 * an IN from the doorbell returns: the guest can read it, so a snapshot,
 * migration or reset-to-snapshot must carry it).  u32 slot count
 * (VMM_MAX_VCPUS + 1, the last one the host's), then one i32 per slot.
 * The port, batch limit and registered functions are configuration: the
 * embedder enables the device and registers them again on restore.
 */
static int hc_save(void *priv, struct vmm_sbuf *b)
{
	vmm_hc *hc = priv;

	vmm__sb_u32(b, VMM_MAX_VCPUS + 1);
	for (unsigned i = 0; i <= VMM_MAX_VCPUS; i++)
		vmm__sb_u32(b, (uint32_t)atomic_load_explicit(
				       &hc->status[i], memory_order_relaxed));
	return vmm__sb_error(b);
}

static int hc_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	vmm_hc *hc = priv;
	int32_t st[VMM_MAX_VCPUS + 1];
	uint32_t n;

	n = version == 1 ? vmm__sr_u32(r) : 0;
	if (n == VMM_MAX_VCPUS + 1)
		for (unsigned i = 0; i < n; i++)
			st[i] = (int32_t)vmm__sr_u32(r);
	if (version != 1 || n != VMM_MAX_VCPUS + 1 || !vmm__sr_done(r))
		return vmm__err(hc->vm, -EBADMSG,
				"hypercall@0x%x: invalid saved state", hc->port);
	for (unsigned i = 0; i < n; i++)
		atomic_store_explicit(&hc->status[i], st[i],
				      memory_order_relaxed);
	return 0;
}

static const struct vmm_io_ops hc_ops = {
	.read = hc_read,
	.write = hc_write,
};

/* ---- lifecycle --------------------------------------------------------- */

int vmm_hc_attach(vmm_vm *vm, const struct vmm_hc_config *ucfg, vmm_hc **out)
{
	struct vmm_hc_config cfg;
	char name[32];
	vmm_hc *hc;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "hypercall: NULL out");
	vmm_hc_config_init(&cfg);
	if (ucfg && VMM__STRUCT_IN(&cfg, ucfg))
		return vmm__err(vm, -EINVAL,
				"hypercall: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_hc_config",
				ucfg->struct_size);
	if (!cfg.port)
		cfg.port = VMM_HC_PORT_DEFAULT;
	if (!cfg.max_batch)
		cfg.max_batch = HC_DEFAULT_BATCH;
	if (cfg.port > 0xfffc)
		return vmm__err(vm, -EINVAL, "hypercall: port 0x%x: the "
				"doorbell needs 4 ports", cfg.port);
	if (cfg.max_batch > VMM_HC_MAX_BATCH_LIMIT)
		return vmm__err(vm, -EINVAL,
				"hypercall: max_batch %u above %u",
				cfg.max_batch, VMM_HC_MAX_BATCH_LIMIT);

	hc = vmm__alloc(vm, sizeof(*hc));
	if (!hc)
		return vmm__err(vm, -ENOMEM, "hypercall: out of memory");
	hc->vm = vm;
	hc->port = cfg.port;
	hc->max_batch = cfg.max_batch;
	if ((ret = -pthread_rwlock_init(&hc->lock, NULL))) {
		vmm__free(vm, hc);
		return vmm__err(vm, ret, "hypercall: rwlock: %s",
				vmm_strerror(ret));
	}
	snprintf(name, sizeof(name), "hypercall@0x%x", cfg.port);
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, cfg.port, 4, &hc_ops, hc,
			       name);
	if (ret)
		goto err_lock;
	hc->dev = vmm__dev_new(vm, name, hc, hc_destroy);
	if (!hc->dev) {
		ret = -ENOMEM;
		goto err_bus;
	}
	vmm__dev_set_state_ops(hc->dev, "hypercall", VMM_SPACE_PIO, cfg.port,
			       1, hc_save, hc_restore);
	*out = hc;
	return 0;

err_bus:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, cfg.port);
err_lock:
	pthread_rwlock_destroy(&hc->lock);
	vmm__free(vm, hc);
	return ret;
}

int vmm_hc_detach(vmm_hc *hc)
{
	if (!hc)
		return 0;
	return vmm_dev_detach(hc->dev);
}

static void hc_destroy(void *priv)
{
	vmm_hc *hc = priv;
	vmm_vm *vm = hc->vm;

	/* waits for doorbells in flight */
	vmm_bus_unregister(vm, VMM_SPACE_PIO, hc->port);
	vmm__free(vm, hc->fns);
	pthread_rwlock_destroy(&hc->lock);
	vmm__free(vm, hc);
}
