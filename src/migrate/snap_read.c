/* SPDX-License-Identifier: MIT */
/*
 * snap_read.c - reading snapshots: the validating parser (a pure function
 * over the mapped file), opening a path or an fd, restoring into a new VM
 * by copy or copy-on-write mapping, and resetting a VM to a snapshot at a
 * cost that follows the pages it dirtied.
 */
#include "migrate/snap.h"
#include "migrate/crc32c.h"
#include "migrate/pagecodec.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct vmm_snapshot {
	int fd;              /* regular file or memfd, ours */
	const uint8_t *map;
	size_t len;
	struct snap_parsed p;
};

static const char *sec_name(uint32_t type)
{
	switch (type) {
	case SEC_CONFIG: return "CONFIG";
	case SEC_MEMORY: return "MEMORY";
	case SEC_VCPU: return "VCPU";
	case SEC_DEVICE: return "DEVICE";
	case SEC_IRQCHIP: return "IRQCHIP";
	case SEC_VCPUX: return "VCPUX";
	case SEC_END: return "END";
	}
	return "unknown";
}

static unsigned sec_known_version(uint32_t type)
{
	switch (type) {
	case SEC_CONFIG: return SEC_CONFIG_VERSION;
	case SEC_MEMORY: return SEC_MEMORY_VERSION;
	case SEC_VCPU: return SEC_VCPU_VERSION;
	case SEC_DEVICE: return SEC_DEVICE_VERSION;
	case SEC_IRQCHIP: return SEC_IRQCHIP_VERSION;
	case SEC_VCPUX: return SEC_VCPUX_VERSION;
	case SEC_END: return SEC_END_VERSION;
	}
	return 0;
}

void vmm__snap_parsed_free(struct snap_parsed *p)
{
	for (uint32_t i = 0; i < SNAP_MAX_REGIONS; i++) {
		vmm__free_with(NULL, p->cfg.regions[i].rank);
		p->cfg.regions[i].rank = NULL;
		vmm__free_with(NULL, p->cfg.regions[i].zoff);
		p->cfg.regions[i].zoff = NULL;
	}
	vmm__free_with(NULL, p->cpu);
	p->cpu = NULL;
}

/*
 * The ZSTD data of region @g (@len bytes at @d): a u32 compressed size per
 * chunk of SNAP_ZCHUNK_PAGES stored pages, then the chunks.  The sizes
 * must add up to the data exactly and each chunk must be one zstd frame
 * declaring exactly its pages' bytes; decompression checks it again.
 */
static int parse_zstd(struct snap_region *g, uint32_t idx, const uint8_t *d,
		      uint64_t len, char *err, size_t el)
{
	uint64_t n = (g->nonzero + SNAP_ZCHUNK_PAGES - 1) / SNAP_ZCHUNK_PAGES;
	uint64_t off = 0;
	int ret;

	if (len < n * 4)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: %llu bytes for a table of %llu chunks",
				      idx, (unsigned long long)len,
				      (unsigned long long)n);
	g->zoff = vmm__alloc_with(NULL, (n + 1) * 8);
	if (!g->zoff)
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
	g->nchunks = n;
	g->data = d + n * 4;
	len -= n * 4;
	for (uint64_t c = 0; c < n; c++) {
		uint32_t sz = vmm__le_get32(d + c * 4);
		uint64_t pages = g->nonzero - c * SNAP_ZCHUNK_PAGES;

		if (pages > SNAP_ZCHUNK_PAGES)
			pages = SNAP_ZCHUNK_PAGES;
		if (!sz || sz > len - off)
			return vmm__snap_errf(err, el, -EBADMSG,
					      "memory region %u: zstd chunk %llu of %u bytes overruns the section",
					      idx, (unsigned long long)c, sz);
		g->zoff[c] = off;
		ret = vmm__pz_check_frame(g->data + off, sz,
					  (size_t)(pages * SNAP_PAGE), err, el);
		if (ret)
			return ret;
		off += sz;
	}
	g->zoff[n] = off;
	if (off != len)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: %llu bytes after the last zstd chunk",
				      idx, (unsigned long long)(len - off));
	return 0;
}

static int parse_memory(struct snap_parsed *p, const uint8_t *pl, uint64_t len,
			uint64_t pl_off, char *err, size_t el)
{
	uint32_t enc, idx, flags;
	uint64_t gpa, size, nonzero, data_off, pages, words, need, count = 0;
	struct snap_region *g;

	if (len < MEM_HDR_SIZE)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "MEMORY section of %llu bytes is too short",
				      (unsigned long long)len);
	enc = vmm__le_get32(pl);
	idx = vmm__le_get32(pl + 4);
	gpa = vmm__le_get64(pl + 8);
	size = vmm__le_get64(pl + 16);
	flags = vmm__le_get32(pl + 24);
	nonzero = vmm__le_get64(pl + 32);
	data_off = vmm__le_get64(pl + 40);
	if (idx >= p->cfg.nregions || p->cfg.regions[idx].seen)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "MEMORY section for region %u: no such region or a duplicate",
				      idx);
	g = &p->cfg.regions[idx];
	if (gpa != g->gpa || size != g->size || flags != g->flags)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "MEMORY section %u does not match the config (0x%llx+0x%llx)",
				      idx, (unsigned long long)gpa,
				      (unsigned long long)size);
	if (enc == MEM_ENC_ZSTD && p->format_version < SNAP_FORMAT_ZSTD)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: ZSTD encoding in a format %u file",
				      idx, p->format_version);
	if (enc != MEM_ENC_PACKED && enc != MEM_ENC_RAW && enc != MEM_ENC_ZSTD)
		return vmm__snap_errf(err, el, -ENOTSUP,
				      "memory region %u: encoding %u is not supported (compressed by a newer libvmm?)",
				      idx, enc);
	pages = size / SNAP_PAGE;
	words = (pages + 63) / 64;
	if (nonzero > pages)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: %llu stored pages of %llu",
				      idx, (unsigned long long)nonzero,
				      (unsigned long long)pages);
	if (enc == MEM_ENC_ZSTD) {
		if (data_off < MEM_HDR_SIZE + words * 8 || data_off > len)
			return vmm__snap_errf(err, el, -EBADMSG,
					      "memory region %u: data offset %llu",
					      idx, (unsigned long long)data_off);
		need = len - data_off; /* checked by parse_zstd() */
	} else {
		need = (enc == MEM_ENC_RAW ? pages : nonzero) * SNAP_PAGE;
	}
	if (data_off < MEM_HDR_SIZE + words * 8 || data_off > len ||
	    len - data_off != need)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: section of %llu bytes, layout needs %llu + %llu",
				      idx, (unsigned long long)len,
				      (unsigned long long)data_off,
				      (unsigned long long)need);
	if (enc == MEM_ENC_RAW && (pl_off + data_off) % SNAP_PAGE)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: RAW data not page aligned",
				      idx);
	for (uint64_t i = 0; i < words; i++) {
		uint64_t w = vmm__le_get64(pl + MEM_HDR_SIZE + i * 8);
		if (i == words - 1 && pages % 64 && (w >> (pages % 64)))
			return vmm__snap_errf(err, el, -EBADMSG,
					      "memory region %u: bitmap bits beyond the region",
					      idx);
		count += (uint64_t)__builtin_popcountll(w);
	}
	if (count != nonzero)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "memory region %u: bitmap has %llu pages, header says %llu",
				      idx, (unsigned long long)count,
				      (unsigned long long)nonzero);
	if (enc != MEM_ENC_RAW) {
		uint64_t acc = 0;

		g->rank = vmm__alloc_with(NULL, words * 8 + 8);
		if (!g->rank)
			return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
		for (uint64_t i = 0; i < words; i++) {
			g->rank[i] = acc;
			acc += (uint64_t)__builtin_popcountll(
				vmm__le_get64(pl + MEM_HDR_SIZE + i * 8));
		}
	}
	g->seen = true;
	g->enc = enc;
	g->pages = pages;
	g->nonzero = nonzero;
	g->bitmap = pl + MEM_HDR_SIZE;
	g->data = pl + data_off;
	g->data_off = pl_off + data_off;
	if (enc == MEM_ENC_ZSTD)
		return parse_zstd(g, idx, pl + data_off, len - data_off, err,
				  el);
	return 0;
}

static int parse_header(struct snap_parsed *p, const uint8_t *buf, size_t len,
			char *err, size_t el)
{
	uint32_t hsize, arch;

	if (len < SNAP_HEADER_SIZE)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "truncated: %zu bytes, the header alone needs %d",
				      len, SNAP_HEADER_SIZE);
	if (memcmp(buf, SNAP_MAGIC, 8))
		return vmm__snap_errf(err, el, -EBADMSG,
				      "not a libvmm snapshot (bad magic)");
	if (vmm__crc32c(0, buf, 60) != vmm__le_get32(buf + 60))
		return vmm__snap_errf(err, el, -EBADMSG,
				      "header checksum mismatch");
	p->format_version = vmm__le_get32(buf + 8);
	hsize = vmm__le_get32(buf + 12);
	arch = vmm__le_get32(buf + 16);
	p->lib_version = vmm__le_get32(buf + 20);
	p->hflags = vmm__le_get32(buf + 24);
	p->backend = vmm__le_get32(buf + 28);
	if (p->format_version > SNAP_FORMAT_VERSION)
		return vmm__snap_errf(err, el, -ENOTSUP,
				      "snapshot format version %u is newer than this libvmm's (%d); written by libvmm %u.%u.%u",
				      p->format_version, SNAP_FORMAT_VERSION,
				      p->lib_version >> 16,
				      (p->lib_version >> 8) & 0xff,
				      p->lib_version & 0xff);
	if (p->format_version == 0 || hsize != SNAP_HEADER_SIZE)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "bad header (version %u, size %u)",
				      p->format_version, hsize);
	if (arch != SNAP_ARCH_X86_64)
		return vmm__snap_errf(err, el, -ENOTSUP,
				      "snapshot of architecture %u, not x86-64",
				      arch);
	return 0;
}

int vmm__snap_parse(const uint8_t *buf, size_t len, struct snap_parsed *p,
		    char *err, size_t el)
{
	uint64_t off = SNAP_HEADER_SIZE;
	unsigned sections = 0;
	bool have_config = false, end = false;
	int ret;

	memset(p, 0, sizeof(*p));
	p->file_bytes = len;
	ret = parse_header(p, buf, len, err, el);
	if (ret)
		return ret;
	p->cpu = vmm__alloc_with(NULL, sizeof(*p->cpu) * VMM_MAX_VCPUS);
	if (!p->cpu)
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");

	while (!end) {
		const uint8_t *h = buf + off, *pl;
		uint32_t type, instance;
		uint16_t ver, flags;
		uint64_t plen;

		if (len - off < SEC_HDR_SIZE) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "truncated at byte %llu: %s",
					     (unsigned long long)off,
					     off == len ? "the END section is missing" :
							  "partial section header");
			goto fail;
		}
		if (vmm__crc32c(0, h, 28) != vmm__le_get32(h + 28)) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "section header at byte %llu: checksum mismatch",
					     (unsigned long long)off);
			goto fail;
		}
		type = vmm__le_get32(h);
		ver = (uint16_t)(h[4] | h[5] << 8);
		flags = (uint16_t)(h[6] | h[7] << 8);
		instance = vmm__le_get32(h + 8);
		plen = vmm__le_get64(h + 16);
		if (vmm__le_get32(h + 12) || vmm__le_get32(h + 24)) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "section header at byte %llu: reserved fields set",
					     (unsigned long long)off);
			goto fail;
		}
		if (plen > SNAP_MAX_MEM + (64ull << 20)) {
			ret = vmm__snap_errf(err, el, -EFBIG,
					     "section %s at byte %llu declares %llu bytes: beyond any limit",
					     sec_name(type), (unsigned long long)off,
					     (unsigned long long)plen);
			goto fail;
		}
		if (plen + SEC_HDR_SIZE + SEC_FTR_SIZE > len - off) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "truncated: section %s at byte %llu declares %llu bytes, the file has %llu left",
					     sec_name(type), (unsigned long long)off,
					     (unsigned long long)plen,
					     (unsigned long long)(len - off - SEC_HDR_SIZE));
			goto fail;
		}
		pl = h + SEC_HDR_SIZE;
		if (vmm__le_get32(pl + plen + 4) != SEC_FTR_MAGIC ||
		    vmm__crc32c(0, pl, plen) != vmm__le_get32(pl + plen)) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "section %s at byte %llu: payload checksum mismatch",
					     sec_name(type), (unsigned long long)off);
			goto fail;
		}
		if (!have_config && type != SEC_CONFIG) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "the first section is %s, not CONFIG",
					     sec_name(type));
			goto fail;
		}
		if (sec_known_version(type) == 0) {
			if (flags & SEC_F_MANDATORY) {
				ret = vmm__snap_errf(err, el, -ENOTSUP,
						     "unknown mandatory section type %u at byte %llu (written by a newer libvmm?)",
						     type, (unsigned long long)off);
				goto fail;
			}
			goto next; /* optional and unknown: skip */
		}
		if (ver == 0 || ver > sec_known_version(type)) {
			ret = vmm__snap_errf(err, el, ver ? -ENOTSUP : -EBADMSG,
					     "section %s version %u, this libvmm reads %u",
					     sec_name(type), ver,
					     sec_known_version(type));
			goto fail;
		}
		if (type != SEC_MEMORY && plen > SNAP_MAX_SMALL) {
			ret = vmm__snap_errf(err, el, -EFBIG,
					     "section %s of %llu bytes is absurd",
					     sec_name(type), (unsigned long long)plen);
			goto fail;
		}
		switch (type) {
		case SEC_CONFIG:
			if (have_config) {
				ret = vmm__snap_errf(err, el, -EBADMSG,
						     "two CONFIG sections");
				goto fail;
			}
			ret = vmm__snap_get_config(pl, plen, &p->cfg, err, el);
			have_config = true;
			break;
		case SEC_MEMORY:
			ret = parse_memory(p, pl, plen, off + SEC_HDR_SIZE, err,
					   el);
			break;
		case SEC_VCPU: {
			unsigned idx;
			struct vmm_cpu_state st;

			ret = vmm__snap_get_cpu(pl, plen, &idx, &st, err, el);
			if (ret)
				break;
			if (idx >= p->cfg.ncpus || p->has_cpu[idx] ||
			    idx != instance) {
				ret = vmm__snap_errf(err, el, -EBADMSG,
						     "VCPU section %u: out of range or duplicate",
						     idx);
				break;
			}
			p->cpu[idx] = st;
			p->has_cpu[idx] = true;
			p->nvcpus++;
			break;
		}
		case SEC_VCPUX: {
			unsigned idx;
			struct vmm_cpu_xstate xs;

			ret = vmm__snap_get_xstate(pl, plen, &idx, &xs, err, el);
			if (ret)
				break;
			if (idx >= p->cfg.ncpus || p->has_xs[idx] ||
			    idx != instance) {
				ret = vmm__snap_errf(err, el, -EBADMSG,
						     "VCPUX section %u: out of range or duplicate",
						     idx);
				break;
			}
			p->xs[idx] = xs;
			p->has_xs[idx] = true;
			break;
		}
		case SEC_IRQCHIP:
			if (p->has_irqchip) {
				ret = vmm__snap_errf(err, el, -EBADMSG,
						     "two IRQCHIP sections");
				break;
			}
			ret = vmm__snap_get_irqchip(pl, plen, &p->irq, err, el);
			p->has_irqchip = ret == 0;
			break;
		case SEC_DEVICE: {
			struct snap_dev *d;

			if (p->ndevs >= SNAP_MAX_DEVICES) {
				ret = vmm__snap_errf(err, el, -EFBIG,
						     "more than %d devices",
						     SNAP_MAX_DEVICES);
				break;
			}
			d = &p->devs[p->ndevs];
			ret = vmm__snap_get_device(pl, plen, d, err, el);
			if (ret)
				break;
			for (uint32_t i = 0; i < p->ndevs; i++)
				if (!strcmp(p->devs[i].type, d->type) &&
				    p->devs[i].space == d->space &&
				    p->devs[i].base == d->base)
					ret = vmm__snap_errf(err, el, -EBADMSG,
							     "device %s saved twice",
							     d->type);
			p->ndevs++;
			break;
		}
		case SEC_END:
			if (plen != 16 || vmm__le_get32(pl) != sections ||
			    vmm__le_get64(pl + 8) != off) {
				ret = vmm__snap_errf(err, el, -EBADMSG,
						     "END section does not match the file (%u sections)",
						     sections);
				break;
			}
			end = true;
			break;
		}
		if (ret)
			goto fail;
next:
		off += SEC_HDR_SIZE + plen + SEC_FTR_SIZE;
		sections++;
	}
	if (off != len) {
		ret = vmm__snap_errf(err, el, -EBADMSG,
				     "%llu bytes of garbage after the END section",
				     (unsigned long long)(len - off));
		goto fail;
	}
	for (uint32_t i = 0; i < p->cfg.nregions; i++) {
		if (!p->cfg.regions[i].seen) {
			ret = vmm__snap_errf(err, el, -EBADMSG,
					     "memory of region %u is missing", i);
			goto fail;
		}
	}
	if (!p->nvcpus) {
		ret = vmm__snap_errf(err, el, -EBADMSG, "no vCPU state");
		goto fail;
	}
	return 0;
fail:
	vmm__snap_parsed_free(p);
	return ret;
}

/* ---- opening ---- */

static int snap_map(vmm_snapshot *s, char *err, size_t el)
{
	struct stat st;
	void *m;
	int ret;

	if (fstat(s->fd, &st) < 0)
		return vmm__snap_errf(err, el, -errno, "fstat: %s",
				      strerror(errno));
	if ((uint64_t)st.st_size < SNAP_HEADER_SIZE)
		return vmm__snap_errf(err, el, -EBADMSG,
				      "truncated: %lld bytes, the header alone needs %d",
				      (long long)st.st_size, SNAP_HEADER_SIZE);
	s->len = (size_t)st.st_size;
	m = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, s->fd, 0);
	if (m == MAP_FAILED)
		return vmm__snap_errf(err, el, -errno, "mmap of the snapshot: %s",
				      strerror(errno));
	s->map = m;
	madvise(m, s->len, MADV_SEQUENTIAL);
	ret = vmm__snap_parse(s->map, s->len, &s->p, err, el);
	madvise(m, s->len, MADV_NORMAL);
	return ret;
}

void vmm_snapshot_close(vmm_snapshot *s)
{
	if (!s)
		return;
	vmm__snap_parsed_free(&s->p);
	if (s->map)
		munmap((void *)s->map, s->len);
	if (s->fd >= 0)
		close(s->fd);
	vmm__free_with(NULL, s);
}

static int snap_finish_open(vmm_snapshot *s, vmm_snapshot **out, char *err,
			    size_t el)
{
	int ret = snap_map(s, err, el);

	if (ret) {
		vmm_snapshot_close(s);
		return ret;
	}
	*out = s;
	return 0;
}

int vmm_snapshot_open(const char *path, vmm_snapshot **out, char *err,
		      size_t el)
{
	vmm_snapshot *s;
	struct stat st;
	int fd, ret;

	if (!path || !out)
		return vmm__snap_errf(err, el, -EINVAL, "NULL argument");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return vmm__snap_errf(err, el, -errno, "%s: %s", path,
				      strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return vmm__snap_errf(err, el, -EINVAL,
				      "%s: not a regular file", path);
	}
	s = vmm__alloc_with(NULL, sizeof(*s));
	if (!s) {
		close(fd);
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
	}
	s->fd = fd;
	ret = snap_finish_open(s, out, err, el);
	if (ret && err && el) {
		/* prefix the path */
		char tmp[256];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, el, "%s: %s", path, tmp);
	}
	return ret;
}

int vmm_snapshot_open_fd(int fd, vmm_snapshot **out, char *err, size_t el)
{
	vmm_snapshot *s;
	struct stat st;
	uint64_t total = 0;
	uint8_t *buf;

	if (fd < 0 || !out)
		return vmm__snap_errf(err, el, -EINVAL, "bad fd or NULL out");
	if (fstat(fd, &st) < 0)
		return vmm__snap_errf(err, el, -EBADF, "fd %d: %s", fd,
				      strerror(errno));
	s = vmm__alloc_with(NULL, sizeof(*s));
	if (!s)
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
	if (S_ISREG(st.st_mode)) {
		s->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (s->fd < 0) {
			vmm__free_with(NULL, s);
			return vmm__snap_errf(err, el, -errno, "dup: %s",
					      strerror(errno));
		}
		return snap_finish_open(s, out, err, el);
	}
	/* a stream: read it to its end into a memory file, then map that */
	s->fd = memfd_create("vmm-snapshot", MFD_CLOEXEC);
	if (s->fd < 0) {
		vmm__free_with(NULL, s);
		return vmm__snap_errf(err, el, -errno, "memfd_create: %s",
				      strerror(errno));
	}
	buf = vmm__alloc_with(NULL, 1 << 20);
	if (!buf) {
		vmm_snapshot_close(s);
		return vmm__snap_errf(err, el, -ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);
		int e = errno;

		if (n == 0)
			break;
		if (n < 0 && (e == EINTR || e == EAGAIN))
			continue;
		if (n < 0 || write(s->fd, buf, (size_t)n) != n) {
			vmm__free_with(NULL, buf);
			vmm_snapshot_close(s);
			return vmm__snap_errf(err, el, n < 0 ? -e : -EIO,
					      "reading the snapshot stream: %s",
					      strerror(n < 0 ? e : EIO));
		}
		total += (uint64_t)n;
		if (total > SNAP_MAX_MEM + (1ull << 30)) {
			vmm__free_with(NULL, buf);
			vmm_snapshot_close(s);
			return vmm__snap_errf(err, el, -EFBIG,
					      "snapshot stream beyond %llu bytes",
					      (unsigned long long)SNAP_MAX_MEM);
		}
	}
	vmm__free_with(NULL, buf);
	return snap_finish_open(s, out, err, el);
}

int vmm_snapshot_get_info(const vmm_snapshot *s,
			  struct vmm_snapshot_info *uinfo)
{
	struct vmm_snapshot_info i, *info = &i;

	if (!s || !uinfo)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->struct_size = sizeof(*info);
	info->format_version = s->p.format_version;
	info->lib_version = s->p.lib_version;
	info->backend = (enum vmm_backend)s->p.backend;
	info->ncpus = s->p.cfg.ncpus;
	info->regions = s->p.cfg.nregions;
	info->devices = s->p.ndevs;
	info->irqchip = s->p.has_irqchip;
	info->raw_memory = true;
	for (uint32_t i = 0; i < s->p.cfg.nregions; i++) {
		const struct snap_region *g = &s->p.cfg.regions[i];
		info->ram_bytes += g->size;
		info->stored_pages += g->nonzero;
		info->raw_memory &= g->enc == MEM_ENC_RAW;
	}
	info->file_bytes = s->len;
	return vmm__struct_out(uinfo, &i, sizeof(i), VMM__SNAPSHOT_INFO_V02);
}

/* ---- restoring ---- */

static bool page_stored(const struct snap_region *g, uint64_t page)
{
	return vmm__le_get64(g->bitmap + page / 64 * 8) & (1ull << (page % 64));
}

/* Index of stored page @page among the stored pages (PACKED, ZSTD). */
static uint64_t page_index(const struct snap_region *g, uint64_t page)
{
	uint64_t w = vmm__le_get64(g->bitmap + page / 64 * 8);

	return g->rank[page / 64] +
	       (uint64_t)__builtin_popcountll(w & ((1ull << (page % 64)) - 1));
}

/* The stored data of page @page (which must be stored; not ZSTD). */
static const uint8_t *page_data(const struct snap_region *g, uint64_t page)
{
	uint64_t idx = page;

	if (g->enc == MEM_ENC_PACKED)
		idx = page_index(g, page);
	return g->data + idx * SNAP_PAGE;
}

/* The last decompressed chunk of a ZSTD region, for one restore/reset. */
struct zcache {
	vmm_vm *vm;
	struct pagecodec pz;
	uint8_t *buf;               /* SNAP_ZCHUNK_PAGES pages */
	const struct snap_region *g;
	uint64_t chunk;
};

static void zcache_free(struct zcache *z)
{
	vmm__pz_free(&z->pz);
	vmm__free_with(NULL, z->buf);
	z->buf = NULL;
	z->g = NULL;
}

/* Write @n stored pages from @page on (all stored, so their data is
 * consecutive) out of ZSTD region @g, a chunk at a time. */
static int copy_zstd(vmm_vm *vm, struct zcache *z, const struct snap_region *g,
		     uint64_t page, uint64_t n)
{
	uint64_t idx = page_index(g, page);

	while (n) {
		uint64_t c = idx / SNAP_ZCHUNK_PAGES, in = idx % SNAP_ZCHUNK_PAGES;
		uint64_t cnt = SNAP_ZCHUNK_PAGES - in;
		int ret;

		if (!z->buf &&
		    !(z->buf = vmm__alloc_with(NULL, SNAP_ZCHUNK_PAGES * SNAP_PAGE)))
			return vmm__err(vm, -ENOMEM, "restore: out of memory");
		if (z->g != g || z->chunk != c) {
			uint64_t pages = g->nonzero - c * SNAP_ZCHUNK_PAGES;
			char err[160];

			if (pages > SNAP_ZCHUNK_PAGES)
				pages = SNAP_ZCHUNK_PAGES;
			z->g = NULL;
			ret = vmm__pz_decompress(&z->pz, g->data + g->zoff[c],
						 g->zoff[c + 1] - g->zoff[c],
						 z->buf, pages * SNAP_PAGE,
						 err, sizeof(err));
			if (ret)
				return vmm__err(vm, ret,
						"restore: region 0x%llx chunk %llu: %s",
						(unsigned long long)g->gpa,
						(unsigned long long)c, err);
			z->g = g;
			z->chunk = c;
		}
		if (cnt > n)
			cnt = n;
		ret = vmm_mem_write(vm, g->gpa + page * SNAP_PAGE,
				    z->buf + in * SNAP_PAGE, cnt * SNAP_PAGE);
		if (ret)
			return ret;
		page += cnt;
		idx += cnt;
		n -= cnt;
	}
	return 0;
}

/*
 * Put pages [first, last) of region @g back into @vm: stored pages are
 * copied from the snapshot in runs, the others zeroed.  Returns 0 or a
 * negative errno.
 */
static int copy_pages(vmm_vm *vm, struct zcache *z,
		      const struct snap_region *g, uint64_t first,
		      uint64_t last, bool zero_others)
{
	for (uint64_t p = first; p < last;) {
		bool st = page_stored(g, p);
		uint64_t q = p + 1;
		int ret;

		while (q < last && page_stored(g, q) == st)
			q++;
		if (st && g->enc == MEM_ENC_ZSTD)
			ret = copy_zstd(vm, z, g, p, q - p);
		else if (st)
			ret = vmm_mem_write(vm, g->gpa + p * SNAP_PAGE,
					    page_data(g, p), (q - p) * SNAP_PAGE);
		else if (zero_others)
			ret = vmm_mem_fill(vm, g->gpa + p * SNAP_PAGE, 0,
					   (q - p) * SNAP_PAGE);
		else
			ret = 0;
		if (ret)
			return ret;
		p = q;
	}
	return 0;
}

int vmm__snap_create_vm(const struct snap_config *c,
			const struct vmm_config *overrides, vmm_vm **out,
			char *err, size_t el)
{
	struct vmm_config cfg;
	int ret;

	vmm_config_init(&cfg);
	if (overrides) {
		if (VMM__STRUCT_IN(&cfg, overrides)) {
			snprintf(err, el, "bad struct_size or unknown non-zero "
				 "fields in the struct vmm_config overrides");
			return -EINVAL;
		}
	} else {
		cfg.backend = (enum vmm_backend)c->backend;
	}
	cfg.ncpus = c->ncpus;
	cfg.flags = c->vm_flags | VMM_CFG_NO_DEFAULT_RAM;
	cfg.ram_size = 0;
	/* the CPU model travels with the snapshot: the guest probed its
	 * features; a different model asked for is refused, not mixed */
	if (c->cpu_model) {
		uint32_t want = cfg.cpu_model ? cfg.cpu_model : VMM_CPU_MAX;
		if (cfg.cpu_model && want != c->cpu_model)
			return vmm__snap_errf(
				err, el, -EINVAL,
				"snapshot has CPU model '%s', restore asked for "
				"'%s' (leave vmm_config.cpu_model 0 to use the "
				"snapshot's)",
				vmm_cpu_model_name(
					(enum vmm_cpu_model)c->cpu_model),
				vmm_cpu_model_name((enum vmm_cpu_model)want));
		cfg.cpu_model = c->cpu_model;
	}
	ret = vmm_vm_create(&cfg, out);
	if (ret)
		return vmm__snap_errf(err, el, ret,
				      "cannot create a VM on the %s backend: %s",
				      vmm_backend_name(cfg.backend),
				      vmm_strerror(ret));
	return 0;
}

static bool dev_is(const vmm_dev *dev, const struct snap_dev *d)
{
	return dev->save && dev->state_space == d->space &&
	       dev->state_base == d->base && !strcmp(dev->state_type, d->type);
}

/* The index of @d's device in @devs, or -1.  The search starts at
 * @from and wraps: a snapshot of this VM lists its devices in the VM's
 * order, so a reset finds each one where the previous one ended. */
static int find_dev(vmm_dev **devs, int n, const struct snap_dev *d, int from)
{
	for (int j = 0; j < n; j++) {
		int i = (from + j) % n;

		if (dev_is(devs[i], d))
			return i;
	}
	return -1;
}

int vmm__snap_check_into(vmm_vm *vm, const struct snap_parsed *p,
			 char *err, size_t el)
{
	vmm_dev *devs[SNAP_MAX_DEVICES];
	bool used[SNAP_MAX_DEVICES] = { false };
	char id[64];
	int n;

	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		bool have = vmm_vm_get_vcpu(vm, i) != NULL;

		if (have && !p->has_cpu[i])
			return vmm__snap_errf(err, el, -EINVAL,
					      "the VM has vCPU %u, the stream "
					      "does not", i);
		if (!have && p->has_cpu[i] && vmm__vm_started(vm))
			return vmm__snap_errf(err, el, -EINVAL,
					      "the stream has vCPU %u, the "
					      "started VM does not", i);
	}
	if (p->has_irqchip && !(vmm_vm_caps(vm) & VMM_CAP_IRQCHIP))
		return vmm__snap_errf(err, el, -ENODEV,
				      "the stream has interrupt controller "
				      "state, the VM has no irqchip");
	n = vmm__dev_list(vm, devs, SNAP_MAX_DEVICES);
	if (n > SNAP_MAX_DEVICES)
		return vmm__snap_errf(err, el, -EFBIG, "more than %d devices",
				      SNAP_MAX_DEVICES);
	for (uint32_t i = 0; i < p->ndevs; i++) {
		const struct snap_dev *d = &p->devs[i];
		int k = -1;

		for (int j = 0; j < n && k < 0; j++)
			if (!used[j] && dev_is(devs[j], d))
				k = j;
		vmm__snap_dev_id(id, sizeof(id), d->type, d->space, d->base);
		if (k < 0)
			return vmm__snap_errf(err, el, -ENODEV,
					      "the stream has device %s, the VM "
					      "has none left of that type and "
					      "place", id);
		if (d->version > devs[k]->state_version)
			return vmm__snap_errf(err, el, -ENOTSUP,
					      "device %s: state version %u, its "
					      "driver knows %u", id, d->version,
					      devs[k]->state_version);
		used[k] = true;
	}
	for (int j = 0; j < n; j++) {
		if (used[j] || !devs[j]->save)
			continue;
		vmm__snap_dev_id(id, sizeof(id), devs[j]->state_type,
				 devs[j]->state_space, devs[j]->state_base);
		return vmm__snap_errf(err, el, -ENODEV,
				      "the VM has device %s, the stream does "
				      "not", id);
	}
	return 0;
}

int vmm__snap_load_state(vmm_vm *vm, const struct snap_parsed *p, bool create,
			 bool skip_devices, int (*attach)(void *, vmm_vm *),
			 void *opaque)
{
	vmm_dev *devs[SNAP_MAX_DEVICES];
	char id[64];
	int ret, n, from = 0;

	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *v;

		if (!p->has_cpu[i])
			continue;
		v = vmm_vm_get_vcpu(vm, i);
		if (!v && !create)
			return vmm__err(vm, -EINVAL,
					"snapshot has vCPU %u, the VM does not", i);
		if (!v && (ret = vmm_vcpu_create(vm, i, &v)))
			return ret;
		ret = vmm_vcpu_set_state(v, &p->cpu[i]);
		if (ret)
			return vmm__err(vm, ret, "restoring vCPU %u failed: %s", i,
					vmm_strerror(ret));
		/* the extended state, or its reset value when the snapshot
		 * has none (the vCPU may be reused) */
		{
			struct vmm_cpu_xstate x = {
				.struct_size = sizeof(x),
				.valid = VMM_XSTATE_PKRU | VMM_XSTATE_PKRS,
			};
			if (p->has_xs[i])
				x = p->xs[i];
			ret = vmm_vcpu_set_xstate(v, &x);
			if (ret)
				return vmm__err(vm, ret, "restoring vCPU %u: "
						"extended state: %s", i,
						vmm_strerror(ret));
		}
	}
	if (p->has_irqchip) {
		if (!(vmm_vm_caps(vm) & VMM_CAP_IRQCHIP))
			return vmm__err(vm, -ENODEV,
					"snapshot has interrupt controller state, the VM has no irqchip");
		ret = vmm_vm_set_irqchip(vm, &p->irq);
		if (ret)
			return ret;
	}
	if (attach && (ret = attach(opaque, vm)) != 0)
		return vmm__err(vm, ret < 0 ? ret : -EINVAL,
				"restore: the attach callback failed (%d)", ret);
	if (skip_devices)
		return 0;
	n = vmm__dev_list(vm, devs, SNAP_MAX_DEVICES);
	if (n > SNAP_MAX_DEVICES)
		n = SNAP_MAX_DEVICES;
	for (uint32_t i = 0; i < p->ndevs; i++) {
		const struct snap_dev *d = &p->devs[i];
		int k = find_dev(devs, n, d, from);
		vmm_dev *dev = k >= 0 ? devs[k] : NULL;
		struct vmm_sreader r;

		if (!dev) {
			vmm__snap_dev_id(id, sizeof(id), d->type, d->space,
					 d->base);
			return vmm__err(vm, -ENODEV,
					"snapshot has device %s; attach it before its state is restored",
					id);
		}
		from = k + 1;
		if (d->version > dev->state_version) {
			vmm__snap_dev_id(id, sizeof(id), d->type, d->space,
					 d->base);
			return vmm__err(vm, -ENOTSUP,
					"device %s: saved state version %u, its driver knows %u",
					id, d->version, dev->state_version);
		}
		vmm__sr_init(&r, d->data, d->len);
		ret = dev->restore(dev->priv, d->version, &r);
		if (ret) {
			vmm__snap_dev_id(id, sizeof(id), d->type, d->space,
					 d->base);
			return vmm__err(vm, ret, "device %s: restoring failed: %s",
					id, vmm_strerror(ret));
		}
	}
	return 0;
}

int vmm__snap_restore_mem(vmm_vm *vm, const struct snap_parsed *p, int cow_fd)
{
	struct zcache z = { .vm = vm };
	int ret = 0;

	for (uint32_t i = 0; i < p->cfg.nregions && !ret; i++) {
		const struct snap_region *g = &p->cfg.regions[i];
		struct vmm_mem_region d = {
			.gpa = g->gpa, .size = g->size, .flags = g->flags,
			.source = VMM_MEM_ANON, .fd = -1, .name = "snapshot",
		};

		if (cow_fd >= 0) {
			d.source = VMM_MEM_FD;
			d.fd = cow_fd;
			d.offset = (off_t)g->data_off;
		}
		ret = vmm_mem_add(vm, &d);
		if (!ret && cow_fd < 0)
			ret = copy_pages(vm, &z, g, 0, g->pages, false);
	}
	zcache_free(&z);
	return ret;
}

static void log_err(const struct vmm_config *o, const char *msg)
{
	if (o && o->log && o->log_level >= VMM_LOG_ERROR)
		o->log(o->log_opaque, VMM_LOG_ERROR, msg);
}

static int snapshot_restore_snap_impl(vmm_snapshot *s,
			      const struct vmm_config *overrides,
			      const struct vmm_restore_opts *opts, vmm_vm **out)
{
	const struct snap_parsed *p;
	uint32_t flags = opts ? opts->flags : 0;
	char err[256];
	vmm_vm *vm;
	int ret;

	if (!s || !out)
		return -EINVAL;
	p = &s->p;
	if (flags & VMM_RESTORE_COW) {
		for (uint32_t i = 0; i < p->cfg.nregions; i++) {
			if (p->cfg.regions[i].enc != MEM_ENC_RAW) {
				snprintf(err, sizeof(err),
					 "copy-on-write restore needs the RAW memory layout; region %u is %s",
					 i, p->cfg.regions[i].enc == MEM_ENC_ZSTD ?
					 "ZSTD" : "PACKED");
				log_err(overrides, err);
				return -EINVAL;
			}
		}
	}
	ret = vmm__snap_create_vm(&p->cfg, overrides, &vm, err, sizeof(err));
	if (ret) {
		log_err(overrides, err);
		return ret;
	}
	ret = vmm__snap_restore_mem(vm, p, (flags & VMM_RESTORE_COW) ? s->fd : -1);
	if (!ret && (flags & VMM_RESTORE_TRACK_DIRTY))
		ret = vmm_mem_dirty_log(vm, true);
	if (!ret && (flags & VMM_RESTORE_DROP_IRQCHIP)) {
		/* load from a copy without the IRQCHIP part */
		struct snap_parsed *q = vmm__alloc(vm, sizeof(*q));

		if (!q) {
			ret = -ENOMEM;
		} else {
			*q = *p;
			q->has_irqchip = false;
			ret = vmm__snap_load_state(vm, q, true,
						   flags & VMM_RESTORE_SKIP_DEVICES,
						   opts ? opts->attach : NULL,
						   opts ? opts->opaque : NULL);
			vmm__free(vm, q);
		}
	} else if (!ret)
		ret = vmm__snap_load_state(vm, p, true,
					   flags & VMM_RESTORE_SKIP_DEVICES,
					   opts ? opts->attach : NULL,
					   opts ? opts->opaque : NULL);
	if (ret) {
		vmm_vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

int vmm_snapshot_restore_snap(vmm_snapshot *s,
			      const struct vmm_config *overrides,
			      const struct vmm_restore_opts *opts, vmm_vm **out)
{
	struct vmm_restore_opts opts_c = {0};

	if (opts) {
		if (VMM__STRUCT_IN(&opts_c, opts))
			return -EINVAL;
		opts = &opts_c;
	}
	return snapshot_restore_snap_impl(s, overrides, opts, out);
}

static int restore_opened(int ret, vmm_snapshot *s, const char *err,
			  const struct vmm_config *o, vmm_vm **out)
{
	if (ret) {
		log_err(o, err);
		return ret;
	}
	ret = vmm_snapshot_restore_snap(s, o, NULL, out);
	vmm_snapshot_close(s);
	return ret;
}

int vmm_snapshot_restore(const char *path, const struct vmm_config *o,
			 vmm_vm **out)
{
	vmm_snapshot *s = NULL;
	char err[256] = "";

	int ret = vmm_snapshot_open(path, &s, err, sizeof(err));

	return restore_opened(ret, s, err, o, out);
}

int vmm_snapshot_restore_fd(int fd, const struct vmm_config *o, vmm_vm **out)
{
	vmm_snapshot *s = NULL;
	char err[256] = "";

	int ret = vmm_snapshot_open_fd(fd, &s, err, sizeof(err));

	return restore_opened(ret, s, err, o, out);
}

/* ---- reset ---- */

int vmm_snapshot_reset(vmm_vm *vm, vmm_snapshot *s)
{
	struct vmm_mem_info mi[SNAP_MAX_REGIONS];
	const struct snap_parsed *p;
	uint64_t *bm = NULL, restored = 0;
	size_t bm_words = 0;
	struct zcache z = { .vm = vm };
	bool logging;
	int n, ret = 0;

	if (!vm || !s)
		return -EINVAL;
	p = &s->p;
	if (vmm__vm_running(vm))
		return vmm__err(vm, -EBUSY,
				"reset: the VM is running; vmm_vm_pause() it first");
	n = vmm__mem_get_regions(vm, mi, SNAP_MAX_REGIONS);
	if (n < 0)
		return n;
	if ((uint32_t)n != p->cfg.nregions)
		return vmm__err(vm, -EINVAL,
				"reset: the VM has %d memory regions, the snapshot %u",
				n, p->cfg.nregions);
	for (int i = 0; i < n; i++) {
		const struct snap_region *g = &p->cfg.regions[i];
		if (mi[i].gpa != g->gpa || mi[i].size != g->size)
			return vmm__err(vm, -EINVAL,
					"reset: region %d is 0x%llx+0x%llx, the snapshot's 0x%llx+0x%llx",
					i, (unsigned long long)mi[i].gpa,
					(unsigned long long)mi[i].size,
					(unsigned long long)g->gpa,
					(unsigned long long)g->size);
		if ((g->pages + 63) / 64 > bm_words)
			bm_words = (g->pages + 63) / 64;
	}
	logging = vmm__mem_dirty_logging(vm);
	if (logging) {
		bm = vmm__alloc(vm, bm_words * 8 + 8);
		if (!bm)
			return vmm__err(vm, -ENOMEM, "reset: out of memory");
	}
	for (int i = 0; i < n && !ret; i++) {
		const struct snap_region *g = &p->cfg.regions[i];

		if (!logging) {
			ret = copy_pages(vm, &z, g, 0, g->pages, true);
			restored += g->pages;
			continue;
		}
		ret = vmm_mem_dirty_fetch(vm, g->gpa, bm, bm_words);
		if (ret < 0)
			break;
		ret = 0;
		for (uint64_t w = 0; w < (g->pages + 63) / 64 && !ret; w++) {
			uint64_t bits = bm[w];

			while (bits && !ret) {
				unsigned b = (unsigned)__builtin_ctzll(bits);
				unsigned e = b;

				while (e < 64 && (bits & (1ull << e)))
					e++;
				ret = copy_pages(vm, &z, g, w * 64 + b,
						 w * 64 + e < g->pages ?
							 w * 64 + e : g->pages,
						 true);
				restored += e - b;
				bits &= e == 64 ? 0 : ~((1ull << e) - 1);
			}
		}
		/* forget our own writes: they restore the snapshot's content.
		 * Only the VMM-side bits: no vCPU ran since the fetch above, so
		 * the backend's log (KVM_GET_DIRTY_LOG) has nothing new. */
		if (!ret)
			ret = vmm__mem_dirty_forget_host(vm, g->gpa, bm,
							 bm_words);
	}
	vmm__free(vm, bm);
	zcache_free(&z);
	if (ret < 0)
		return ret;
	ret = vmm__snap_load_state(vm, p, false, false, NULL, NULL);
	if (ret)
		return ret;
	/* memory, vCPUs, irqchip and devices are the snapshot's again: a
	 * VM a failed vmm_migrate_receive_into() poisoned is whole */
	vmm__vm_set_poison(vm, NULL);
	return restored > INT_MAX ? INT_MAX : (int)restored;
}
