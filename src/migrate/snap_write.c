/* SPDX-License-Identifier: MIT */
/*
 * snap_write.c - saving snapshots: collecting the state of a paused VM,
 * writing the sections (docs/snapshot-format.md), and the two sinks, an fd
 * written sequentially and a path written atomically (temporary file in the
 * same directory, fsync, rename, fsync of the directory).
 */
#include "migrate/snap.h"
#include "migrate/crc32c.h"
#include "migrate/pagecodec.h"

#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Without coverage hooks in fuzz builds: the loop over a page's words is
 * no branch worth fuzzing, and its 64 traced compares per page were 68%
 * of fuzz_migrate's CPU time (the source's first pass and the receiver's
 * check of unwritten pages each scan the 1 MiB guest per input).
 */
#if defined(__clang__) && __clang_major__ >= 13
__attribute__((no_sanitize("coverage")))
#endif
bool vmm__page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < SNAP_PAGE / 8; i += 8) {
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] |
		       w[i + 5] | w[i + 6] | w[i + 7];
		if (acc)
			return false;
	}
	return true;
}

/* ---- collecting ---- */

void vmm__snap_state_free(vmm_vm *vm, struct snap_state *s)
{
	for (int i = 0; i < s->ndevs && i < SNAP_MAX_DEVICES; i++)
		vmm__sb_free(&s->dev_state[i]);
	vmm__free(vm, s->cpu);
	s->cpu = NULL;
}

int vmm__snap_config(vmm_vm *vm, struct snap_config *c)
{
	const struct vmm_config *cfg = vmm__vm_config(vm);
	struct vmm_mem_info mi[SNAP_MAX_REGIONS];
	int n;

	memset(c, 0, sizeof(*c));
	c->ncpus = cfg->ncpus;
	c->vm_flags = cfg->flags & (VMM_CFG_NO_IRQCHIP | VMM_CFG_NO_PIT |
				    VMM_CFG_IGNORE_UNHANDLED_IO);
	c->backend = vmm_vm_backend(vm);
	c->caps = vmm_vm_caps(vm);
	c->cpu_model = cfg->cpu_model ? cfg->cpu_model : VMM_CPU_MAX;
	n = vmm__mem_get_regions(vm, mi, SNAP_MAX_REGIONS);
	if (n < 0)
		return n;
	if (n > SNAP_MAX_REGIONS)
		return vmm__err(vm, -EFBIG, "snapshot: %d memory regions (max %d)",
				n, SNAP_MAX_REGIONS);
	c->nregions = (uint32_t)n;
	for (int i = 0; i < n; i++) {
		c->regions[i].gpa = mi[i].gpa;
		c->regions[i].size = mi[i].size;
		c->regions[i].flags = mi[i].flags & VMM_MEM_READONLY;
	}
	return 0;
}

int vmm__snap_collect(vmm_vm *vm, struct snap_state *s)
{
	int ret;

	memset(s, 0, sizeof(*s));
	ret = vmm__snap_config(vm, &s->cfg);
	if (ret)
		return ret;

	/* devices first: a device that cannot be saved fails before work */
	s->ndevs = vmm__dev_list(vm, s->devs, SNAP_MAX_DEVICES);
	if (s->ndevs > SNAP_MAX_DEVICES) {
		s->ndevs = 0;
		return vmm__err(vm, -EFBIG, "snapshot: more than %d devices",
				SNAP_MAX_DEVICES);
	}
	for (int i = 0; i < s->ndevs; i++) {
		vmm_dev *d = s->devs[i];

		vmm__sb_init(&s->dev_state[i], vm);
		if (!d->save) {
			ret = vmm__err(vm, -EOPNOTSUPP,
				       "snapshot: device %s cannot save its state",
				       vmm_dev_name(d));
			goto fail;
		}
		ret = d->save(d->priv, &s->dev_state[i]);
		if (!ret)
			ret = vmm__sb_error(&s->dev_state[i]);
		if (ret) {
			vmm__err(vm, ret, "snapshot: device %s: saving failed: %s",
				 vmm_dev_name(d), vmm_strerror(ret));
			goto fail;
		}
	}

	/* as many states as the VM has vCPUs (calloc() cleared 152 KiB of
	 * 64 states for every snapshot and migration) */
	{
		unsigned n = 0;

		for (unsigned i = 0; i < VMM_MAX_VCPUS; i++)
			n += vmm_vm_get_vcpu(vm, i) != NULL;
		s->cpu = vmm__alloc(vm, sizeof(*s->cpu) * (n ? n : 1));
	}
	if (!s->cpu) {
		ret = vmm__err(vm, -ENOMEM, "snapshot: out of memory");
		goto fail;
	}
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v = vmm_vm_get_vcpu(vm, i);

		if (!v)
			continue;
		ret = vmm__vcpu_complete_io(v);
		if (!ret)
			ret = vmm_vcpu_get_state(v, &s->cpu[s->nvcpus]);
		s->xs[s->nvcpus].struct_size = sizeof(s->xs[0]);
		if (!ret)
			ret = vmm_vcpu_get_xstate(v, &s->xs[s->nvcpus]);
		if (ret)
			goto fail;
		s->vcpu_index[s->nvcpus++] = i;
	}
	if (vmm_vm_caps(vm) & VMM_CAP_IRQCHIP) {
		ret = vmm_vm_get_irqchip(vm, &s->irq);
		if (ret)
			goto fail;
		s->has_irqchip = true;
	}
	return 0;
fail:
	vmm__snap_state_free(vm, s);
	return ret;
}

/* ---- writing sections ---- */

struct wctx {
	vmm_vm *vm;
	bool zstd;         /* memory in the ZSTD encoding (format 2) */
	struct snap_out *out;
	uint32_t crc;      /* running CRC of the current payload */
	uint64_t left;     /* payload bytes still to come */
	unsigned sections;
};

static int out_write(struct wctx *w, const void *p, size_t n)
{
	int ret;

	if (!n)
		return 0;
	ret = w->out->write(w->out->opaque, p, n);
	if (ret)
		return ret;
	w->out->pos += n;
	return 0;
}

static int sec_begin(struct wctx *w, uint32_t type, uint16_t version,
		     uint32_t instance, uint64_t len)
{
	uint8_t h[SEC_HDR_SIZE];
	struct vmm_sbuf b;
	int ret;

	vmm__sb_init(&b, NULL);
	memset(h, 0, sizeof(h));
	b.p = h;
	b.cap = sizeof(h);
	vmm__sb_u32(&b, type);
	vmm__sb_u16(&b, version);
	vmm__sb_u16(&b, SEC_F_MANDATORY);
	vmm__sb_u32(&b, instance);
	vmm__sb_u32(&b, 0);
	vmm__sb_u64(&b, len);
	vmm__sb_u32(&b, 0);
	vmm__sb_u32(&b, vmm__crc32c(0, h, 28));
	ret = out_write(w, h, sizeof(h));
	w->crc = 0;
	w->left = len;
	return ret;
}

static int sec_data(struct wctx *w, const void *p, size_t n)
{
	if (n > w->left)
		return vmm__err(w->vm, -EOVERFLOW, "snapshot: section overrun");
	w->crc = vmm__crc32c(w->crc, p, n);
	w->left -= n;
	return out_write(w, p, n);
}

static int sec_end(struct wctx *w)
{
	uint8_t f[SEC_FTR_SIZE];

	if (w->left)
		return vmm__err(w->vm, -EOVERFLOW, "snapshot: section underrun");
	vmm__le_put32(f, w->crc);
	vmm__le_put32(f + 4, SEC_FTR_MAGIC);
	w->sections++;
	return out_write(w, f, sizeof(f));
}

static int sec_blob(struct wctx *w, uint32_t type, uint16_t version,
		    uint32_t instance, const struct vmm_sbuf *b)
{
	int ret = vmm__sb_error(b);

	if (ret)
		return vmm__err(w->vm, ret, "snapshot: encoding failed");
	if ((ret = sec_begin(w, type, version, instance, b->len)) ||
	    (ret = sec_data(w, b->p, b->len)) || (ret = sec_end(w)))
		return ret;
	return 0;
}

static int write_header(struct wctx *w, uint32_t hflags, uint32_t backend)
{
	uint8_t h[SNAP_HEADER_SIZE];
	struct vmm_sbuf b;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	vmm__sb_init(&b, NULL);
	memset(h, 0, sizeof(h));
	b.p = h;
	b.cap = sizeof(h);
	vmm__sb_bytes(&b, SNAP_MAGIC, 8);
	/* the lowest version that describes the file: 1 unless compressed */
	vmm__sb_u32(&b, w->zstd ? SNAP_FORMAT_ZSTD : 1);
	vmm__sb_u32(&b, SNAP_HEADER_SIZE);
	vmm__sb_u32(&b, SNAP_ARCH_X86_64);
	vmm__sb_u32(&b, vmm_version());
	vmm__sb_u32(&b, hflags);
	vmm__sb_u32(&b, backend);
	vmm__sb_u64(&b, (uint64_t)ts.tv_sec * 1000000000ull +
				(uint64_t)ts.tv_nsec);
	b.len = 60;
	vmm__sb_u32(&b, vmm__crc32c(0, h, 60));
	return out_write(w, h, sizeof(h));
}

/*
 * The ZSTD data of a region whose stored pages are marked in @bm: the
 * chunk-size table, then the chunks.  The length of a section comes
 * before its data, so the chunks are compressed twice: once for their
 * sizes (nothing kept but the table), once to write them (zstd is
 * deterministic and the VM is paused; a size that changes is -EIO).
 * Twice the CPU, one chunk of memory, any output (a pipe too).
 */
struct zwrite {
	struct pagecodec pz;
	uint8_t *raw, *out;
	size_t cap;
	uint32_t *sizes;
	uint64_t n;
};

/* compress chunk @c (the stored pages from @*p on) into z->out */
static int64_t zchunk(struct zwrite *z, const uint8_t *host, const uint64_t *bm,
		      uint64_t pages, uint64_t *p)
{
	size_t k = 0;

	for (; *p < pages && k < SNAP_ZCHUNK_PAGES; (*p)++)
		if (bm[*p / 64] & (1ull << (*p % 64)))
			memcpy(z->raw + SNAP_PAGE * k++, host + *p * SNAP_PAGE,
			       SNAP_PAGE);
	return vmm__pz_compress(&z->pz, PZ_LEVEL_SNAPSHOT, z->raw,
				k * SNAP_PAGE, z->out, z->cap);
}

static int zsizes(vmm_vm *vm, struct zwrite *z, const uint8_t *host,
		  const uint64_t *bm, uint64_t pages, uint64_t nonzero,
		  uint64_t *total)
{
	uint64_t p = 0;

	z->n = (nonzero + SNAP_ZCHUNK_PAGES - 1) / SNAP_ZCHUNK_PAGES;
	z->cap = vmm__pz_bound(SNAP_ZCHUNK_PAGES * SNAP_PAGE);
	z->raw = vmm__alloc(vm, SNAP_ZCHUNK_PAGES * SNAP_PAGE);
	z->out = vmm__alloc(vm, z->cap);
	z->sizes = vmm__alloc(vm, z->n * 4 + 4);
	if (!z->raw || !z->out || !z->sizes)
		return -ENOMEM;
	*total = z->n * 4;
	for (uint64_t c = 0; c < z->n; c++) {
		int64_t r = zchunk(z, host, bm, pages, &p);

		if (r < 0)
			return (int)r;
		z->sizes[c] = (uint32_t)r;
		*total += (uint64_t)r;
	}
	return 0;
}

static void zwrite_free(vmm_vm *vm, struct zwrite *z)
{
	vmm__pz_free(&z->pz);
	vmm__free(vm, z->raw);
	vmm__free(vm, z->out);
	vmm__free(vm, z->sizes);
}

/*
 * One MEMORY section for region @g: header, bitmap of non-zero pages,
 * padding, then the pages (all of them, page-aligned in the file, for RAW;
 * the non-zero ones for PACKED).  The VM is paused, so memory is stable
 * between the scan and the copy.
 */
static int write_memory(struct wctx *w, unsigned idx,
			const struct snap_region *g, bool raw)
{
	static const uint8_t zero_page[SNAP_PAGE];
	uint64_t pages = g->size / SNAP_PAGE, words = (pages + 63) / 64;
	uint64_t nonzero = 0, data_off, len, payload_start;
	uint64_t *bm = NULL;
	struct zwrite z = { .n = 0 };
	uint8_t hdr[MEM_HDR_SIZE];
	struct vmm_sbuf b;
	struct iovec iov;
	const uint8_t *host;
	int ret;

	ret = vmm_mem_iovec(w->vm, g->gpa, g->size, false, &iov, 1);
	if (ret != 1)
		return vmm__err(w->vm, ret < 0 ? ret : -EIO,
				"snapshot: cannot access region 0x%llx",
				(unsigned long long)g->gpa);
	host = iov.iov_base;
	bm = vmm__alloc(w->vm, words * 8 + 8);
	if (!bm)
		return vmm__err(w->vm, -ENOMEM, "snapshot: out of memory");
	for (uint64_t p = 0; p < pages; p++) {
		if (!vmm__page_is_zero(host + p * SNAP_PAGE)) {
			bm[p / 64] |= 1ull << (p % 64);
			nonzero++;
		}
	}
	payload_start = w->out->pos + SEC_HDR_SIZE;
	data_off = MEM_HDR_SIZE + words * 8;
	if (raw)
		data_off = VMM_ALIGN_UP(payload_start + data_off, SNAP_PAGE) -
			   payload_start;
	len = data_off + (raw ? pages : nonzero) * SNAP_PAGE;
	if (w->zstd) {
		uint64_t zlen;

		if ((ret = zsizes(w->vm, &z, host, bm, pages, nonzero, &zlen))) {
			vmm__err(w->vm, ret, "snapshot: zstd failed");
			goto out;
		}
		len = data_off + zlen;
	}

	vmm__sb_init(&b, NULL);
	b.p = hdr;
	b.cap = sizeof(hdr);
	vmm__sb_u32(&b, w->zstd ? MEM_ENC_ZSTD :
			raw ? MEM_ENC_RAW : MEM_ENC_PACKED);
	vmm__sb_u32(&b, idx);
	vmm__sb_u64(&b, g->gpa);
	vmm__sb_u64(&b, g->size);
	vmm__sb_u32(&b, g->flags);
	vmm__sb_u32(&b, 0);
	vmm__sb_u64(&b, nonzero);
	vmm__sb_u64(&b, data_off);
	if ((ret = sec_begin(w, SEC_MEMORY, SEC_MEMORY_VERSION, idx, len)) ||
	    (ret = sec_data(w, hdr, sizeof(hdr))))
		goto out;
	for (uint64_t i = 0; i < words && !ret; i++) {
		uint8_t le[8];
		vmm__le_put64(le, bm[i]);
		ret = sec_data(w, le, 8);
	}
	if (!ret && data_off > MEM_HDR_SIZE + words * 8)
		ret = sec_data(w, zero_page, data_off - MEM_HDR_SIZE - words * 8);
	if (w->zstd) {
		uint64_t p = 0;

		for (uint64_t c = 0; c < z.n && !ret; c++) {
			uint8_t le[4];

			vmm__le_put32(le, z.sizes[c]);
			ret = sec_data(w, le, 4);
		}
		for (uint64_t c = 0; c < z.n && !ret; c++) {
			int64_t r = zchunk(&z, host, bm, pages, &p);

			if (r != (int64_t)z.sizes[c])
				ret = vmm__err(w->vm, r < 0 ? (int)r : -EIO,
					       "snapshot: zstd chunk %llu changed size",
					       (unsigned long long)c);
			else
				ret = sec_data(w, z.out, (size_t)r);
		}
		if (!ret)
			ret = sec_end(w);
		goto out;
	}
	/* pages, in runs of equal kind */
	for (uint64_t p = 0; p < pages && !ret;) {
		bool nz = bm[p / 64] & (1ull << (p % 64));
		uint64_t q = p + 1;

		while (q < pages && q - p < 256 &&
		       !!(bm[q / 64] & (1ull << (q % 64))) == nz)
			q++;
		if (nz) {
			ret = sec_data(w, host + p * SNAP_PAGE,
				       (q - p) * SNAP_PAGE);
		} else if (raw) {
			for (uint64_t z = p; z < q; z++)
				w->crc = vmm__crc32c(w->crc, zero_page,
						     SNAP_PAGE);
			w->left -= (q - p) * SNAP_PAGE;
			if (w->out->skip) {
				ret = w->out->skip(w->out->opaque,
						   (q - p) * SNAP_PAGE);
				if (!ret)
					w->out->pos += (q - p) * SNAP_PAGE;
			} else {
				for (uint64_t z = p; z < q && !ret; z++)
					ret = out_write(w, zero_page, SNAP_PAGE);
			}
		}
		p = q;
	}
	if (!ret)
		ret = sec_end(w);
out:
	zwrite_free(w->vm, &z);
	vmm__free(w->vm, bm);
	return ret;
}

int vmm__snapshot_write(vmm_vm *vm, struct snap_out *out, uint32_t flags)
{
	struct snap_state *s;
	struct wctx w = { .vm = vm, .out = out,
			  .zstd = (flags & VMM_SAVE_ZSTD) != 0 };
	struct vmm_sbuf b;
	bool raw = !w.zstd &&
		   ((flags & VMM_SAVE_RAW) || !(flags & VMM_SAVE_PACKED));
	uint64_t before_end;
	int ret;

	if (vmm__vm_running(vm))
		return vmm__err(vm, -EBUSY,
				"snapshot: the VM is running; vmm_vm_pause() it first");
	if ((ret = vmm__vm_poison_check(vm, "snapshot")))
		return ret;
	if (w.zstd && (flags & VMM_SAVE_RAW))
		return vmm__err(vm, -EINVAL,
				"snapshot: VMM_SAVE_ZSTD and VMM_SAVE_RAW exclude each other");
	if (w.zstd && !vmm__pz_available())
		return vmm__err(vm, -ENOTSUP,
				"snapshot: VMM_SAVE_ZSTD, and libvmm was built without zstd");
	s = vmm__alloc(vm, sizeof(*s));
	if (!s)
		return vmm__err(vm, -ENOMEM, "snapshot: out of memory");
	/* devices are quiesced (in-flight requests drained into guest
	 * memory) by their save(), before memory is written below; they run
	 * again once the snapshot is complete or failed */
	ret = vmm__snap_collect(vm, s);
	if (ret) {
		vmm__dev_state_resume_all(vm);
		vmm__free(vm, s);
		return ret;
	}
	vmm__sb_init(&b, vm);
	if ((ret = write_header(&w, raw ? SNAP_HF_RAW : 0, s->cfg.backend)))
		goto out;
	vmm__snap_put_config(&b, &s->cfg);
	if ((ret = sec_blob(&w, SEC_CONFIG, SEC_CONFIG_VERSION, 0, &b)))
		goto out;
	for (uint32_t i = 0; i < s->cfg.nregions && !ret; i++)
		ret = write_memory(&w, i, &s->cfg.regions[i], raw);
	for (unsigned i = 0; i < s->nvcpus && !ret; i++) {
		b.len = 0;
		vmm__snap_put_cpu(&b, s->vcpu_index[i], &s->cpu[i]);
		ret = sec_blob(&w, SEC_VCPU, SEC_VCPU_VERSION, s->vcpu_index[i],
			       &b);
		if (!ret && vmm__snap_xstate_used(&s->xs[i])) {
			b.len = 0;
			vmm__snap_put_xstate(&b, s->vcpu_index[i], &s->xs[i]);
			ret = sec_blob(&w, SEC_VCPUX, SEC_VCPUX_VERSION,
				       s->vcpu_index[i], &b);
		}
	}
	if (!ret && s->has_irqchip) {
		b.len = 0;
		vmm__snap_put_irqchip(&b, &s->irq);
		ret = sec_blob(&w, SEC_IRQCHIP, SEC_IRQCHIP_VERSION, 0, &b);
	}
	for (int i = 0; i < s->ndevs && !ret; i++) {
		b.len = 0;
		vmm__snap_put_device(&b, s->devs[i], &s->dev_state[i]);
		ret = sec_blob(&w, SEC_DEVICE, SEC_DEVICE_VERSION, (uint32_t)i,
			       &b);
	}
	if (ret)
		goto out;
	before_end = out->pos;
	b.len = 0;
	vmm__sb_u32(&b, w.sections);
	vmm__sb_u32(&b, 0);
	vmm__sb_u64(&b, before_end);
	ret = sec_blob(&w, SEC_END, SEC_END_VERSION, 0, &b);
out:
	if (ret && ret != -ENOMEM)
		vmm__err(vm, ret, "snapshot: writing failed at byte %llu: %s",
			 (unsigned long long)out->pos, vmm_strerror(ret));
	vmm__sb_free(&b);
	vmm__snap_state_free(vm, s);
	vmm__free(vm, s);
	vmm__dev_state_resume_all(vm);
	return ret;
}

/* ---- sinks ---- */

struct fd_sink {
	int fd;
	bool seekable;
};

static int fd_write(void *opaque, const void *buf, size_t len)
{
	struct fd_sink *f = opaque;
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(f->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { f->fd, POLLOUT, 0 };
				poll(&pfd, 1, 1000);
				continue;
			}
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fd_skip(void *opaque, uint64_t len)
{
	struct fd_sink *f = opaque;

	if (lseek(f->fd, (off_t)len, SEEK_CUR) < 0)
		return -errno;
	return 0;
}

static int save_fd(vmm_vm *vm, int fd, uint32_t flags, bool *regular)
{
	struct fd_sink sink = { .fd = fd };
	struct snap_out out = { .write = fd_write, .opaque = &sink };
	struct stat st;
	off_t start = -1;
	int ret;

	if (fstat(fd, &st) < 0)
		return vmm__err(vm, -EBADF, "snapshot: bad fd %d", fd);
	*regular = S_ISREG(st.st_mode);
	if (*regular) {
		start = lseek(fd, 0, SEEK_CUR);
		if (start < 0 || ftruncate(fd, start) < 0)
			return vmm__err(vm, -errno, "snapshot: cannot truncate fd %d: %s",
					fd, strerror(errno));
		sink.seekable = true;
		out.skip = fd_skip;
	} else if (!(flags & (VMM_SAVE_RAW | VMM_SAVE_PACKED))) {
		flags |= VMM_SAVE_PACKED;
	}
	ret = vmm__snapshot_write(vm, &out, flags);
	if (ret && *regular) {
		/* leave nothing that could be mistaken for a snapshot */
		if (ftruncate(fd, start) == 0)
			lseek(fd, start, SEEK_SET);
	}
	return ret;
}

static int snapshot_save_fd_impl(vmm_vm *vm, int fd, const struct vmm_save_opts *opts)
{
	uint32_t flags = opts ? opts->flags : 0;
	bool regular;
	int ret;

	if (!vm)
		return -EINVAL;
	if (fd < 0)
		return vmm__err(vm, -EBADF, "snapshot: bad fd %d", fd);
	ret = save_fd(vm, fd, flags, &regular);
	if (!ret && regular && !(flags & VMM_SAVE_NO_SYNC) && fsync(fd) < 0)
		ret = vmm__err(vm, -errno, "snapshot: fsync: %s", strerror(errno));
	return ret;
}

int vmm_snapshot_save_fd(vmm_vm *vm, int fd, const struct vmm_save_opts *opts)
{
	struct vmm_save_opts opts_c = {0};

	if (opts) {
		if (VMM__STRUCT_IN(&opts_c, opts))
			return !vm ? -EINVAL :
			       vmm__err(vm, -EINVAL, "snapshot: bad struct_size or "
					"unknown fields in struct vmm_save_opts");
		opts = &opts_c;
	}
	return snapshot_save_fd_impl(vm, fd, opts);
}

static int snapshot_save_impl(vmm_vm *vm, const char *path,
		      const struct vmm_save_opts *opts)
{
	uint32_t flags = opts ? opts->flags : 0;
	char *tmp = NULL, *dircopy = NULL;
	int fd = -1, dfd, ret;
	bool regular;
	size_t n;

	if (!vm)
		return -EINVAL;
	if (!path || !*path)
		return vmm__err(vm, -EINVAL, "snapshot: empty path");
	n = strlen(path) + 16;
	tmp = vmm__alloc(vm, n);
	dircopy = vmm__alloc(vm, n);
	if (!tmp || !dircopy) {
		ret = vmm__err(vm, -ENOMEM, "snapshot: out of memory");
		goto out;
	}
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = vmm__err(vm, -errno, "snapshot: cannot create %s: %s", tmp,
			       strerror(errno));
		goto out;
	}
	ret = save_fd(vm, fd, flags, &regular);
	if (!ret && !(flags & VMM_SAVE_NO_SYNC) && fsync(fd) < 0)
		ret = vmm__err(vm, -errno, "snapshot: fsync %s: %s", tmp,
			       strerror(errno));
	if (close(fd) < 0 && !ret)
		ret = vmm__err(vm, -errno, "snapshot: close %s: %s", tmp,
			       strerror(errno));
	fd = -1;
	if (!ret && rename(tmp, path) < 0)
		ret = vmm__err(vm, -errno, "snapshot: rename to %s: %s", path,
			       strerror(errno));
	if (ret) {
		unlink(tmp);
		goto out;
	}
	if (!(flags & VMM_SAVE_NO_SYNC)) {
		snprintf(dircopy, n, "%s", path);
		dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			if (fsync(dfd) < 0)
				ret = vmm__err(vm, -errno,
					       "snapshot: fsync of the directory: %s",
					       strerror(errno));
			close(dfd);
		}
	}
out:
	vmm__free(vm, tmp);
	vmm__free(vm, dircopy);
	return ret;
}

int vmm_snapshot_save(vmm_vm *vm, const char *path,
		      const struct vmm_save_opts *opts)
{
	struct vmm_save_opts opts_c = {0};

	if (opts) {
		if (VMM__STRUCT_IN(&opts_c, opts))
			return !vm ? -EINVAL :
			       vmm__err(vm, -EINVAL, "snapshot: bad struct_size or "
					"unknown fields in struct vmm_save_opts");
		opts = &opts_c;
	}
	return snapshot_save_impl(vm, path, opts);
}
