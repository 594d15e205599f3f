// SPDX-License-Identifier: MIT
/*
 * region.c - passthrough, host-region form: a host resource (memfd, shm or
 * regular file, any mmap()able fd range) mapped straight into
 * guest-physical space.  The guest's loads and stores reach the host pages
 * without an exit; the VMM is not on the data path at all.
 *
 * The lecture's price of passthrough is enforced here:
 *   - exclusive by default: a second attach of the same range (same file,
 *     overlapping offsets) in this VM is refused from the device list, and
 *     in any other VM or process by an open-file-description lock on the
 *     range (write lock = exclusive, read lock = shared);
 *   - not migratable: the device has no state callbacks, so snapshot and
 *     migration refuse the VM and name this device;
 *   - detach leaves nothing behind: the region is removed from the VM (and
 *     so unmapped from the host), the lock released, the irqfd removed.
 */
#include "core/internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pt_region {
	vmm_vm *vm;
	int map_fd;   /* our own open file description, mapped */
	int lock_fd;  /* the description holding the range lock (may be
			 map_fd; -1 when the file type has no locks) */
	dev_t st_dev;
	ino_t st_ino;
	uint64_t offset, size;
	vmm_gpa_t gpa;
	uint32_t flags;
	int irq_fd;
	bool mapped;
	bool irq_routed;
};

static void pt_destroy(void *priv);

void vmm_passthrough_config_init(struct vmm_passthrough_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->fd = -1;
	cfg->irq_fd = -1;
}

/* A new open file description of the file behind @fd, mode @mode. */
static int reopen(int fd, int mode)
{
	char path[40];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, mode | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
			   uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Refuse a conflicting attach of the same range in this VM. */
static int check_vm_conflict(vmm_vm *vm, const struct pt_region *n)
{
	vmm_dev **list;
	int count, ret = 0;

	count = vmm__dev_list(vm, NULL, 0);
	if (count <= 0)
		return 0;
	list = vmm__alloc(vm, sizeof(*list) * (size_t)count);
	if (!list)
		return vmm__err(vm, -ENOMEM, "passthrough: out of memory");
	{
		int now = vmm__dev_list(vm, list, count);
		if (now < count)
			count = now; /* a device went away meanwhile */
	}
	for (int i = 0; i < count && !ret; i++) {
		const struct pt_region *o;

		if (list[i]->destroy != pt_destroy)
			continue;
		o = list[i]->priv;
		if (o->st_dev != n->st_dev || o->st_ino != n->st_ino ||
		    !ranges_overlap(o->offset, o->size, n->offset, n->size))
			continue;
		if (!(o->flags & VMM_PT_SHARED) || !(n->flags & VMM_PT_SHARED))
			ret = vmm__err(vm, -EBUSY,
				       "passthrough: range [0x%llx, +0x%llx) "
				       "of this file is already attached %s as "
				       "%s",
				       (unsigned long long)n->offset,
				       (unsigned long long)n->size,
				       (o->flags & VMM_PT_SHARED) ? "shared"
								  : "exclusively",
				       list[i]->name);
	}
	vmm__free(vm, list);
	return ret;
}

/* Take the range lock on a new description; -EBUSY when held elsewhere. */
static int take_lock(vmm_vm *vm, struct pt_region *p, int user_fd)
{
	bool exclusive = !(p->flags & VMM_PT_SHARED);
	struct flock fl = {
		.l_type = exclusive ? F_WRLCK : F_RDLCK,
		.l_whence = SEEK_SET,
		.l_start = (off_t)p->offset,
		.l_len = (off_t)p->size,
	};
	int fd = p->map_fd;

	if (exclusive && (p->flags & VMM_PT_READONLY)) {
		/* a write lock needs a description open for writing */
		fd = reopen(user_fd, O_RDWR);
		if (fd < 0)
			return vmm__err(vm, -EACCES,
					"passthrough: an exclusive read-only "
					"attach needs write access to lock the "
					"range (%s); attach with VMM_PT_SHARED",
					strerror(-fd));
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
		p->lock_fd = fd;
		return 0;
	}
	int err = errno;
	if (fd != p->map_fd)
		close(fd);
	if (err == EAGAIN || err == EACCES)
		return vmm__err(vm, -EBUSY,
				"passthrough: range [0x%llx, +0x%llx) is "
				"attached %s by another VM or process",
				(unsigned long long)p->offset,
				(unsigned long long)p->size,
				exclusive ? "at all" : "exclusively");
	/* a file type without record locks: only the per-VM check holds */
	vmm__log(vm, VMM_LOG_WARN,
		 "passthrough: no range lock on this file (%s): exclusivity "
		 "is enforced within this VM only", strerror(err));
	p->lock_fd = -1;
	return 0;
}

static int pt_pre_detach(void *priv)
{
	struct pt_region *p = priv;
	int ret;

	if (!p->mapped)
		return 0;
	ret = vmm_mem_remove(p->vm, p->gpa);
	if (ret)
		return ret;
	p->mapped = false;
	return 0;
}

static void pt_release(struct pt_region *p)
{
	if (p->irq_routed)
		vmm_irqfd_remove(p->vm, p->irq_fd);
	p->irq_routed = false;
	if (p->mapped)
		vmm_mem_remove(p->vm, p->gpa);
	p->mapped = false;
	if (p->lock_fd >= 0 && p->lock_fd != p->map_fd)
		close(p->lock_fd);
	if (p->map_fd >= 0)
		close(p->map_fd); /* also drops a lock held on it */
	p->lock_fd = p->map_fd = -1;
}

static void pt_destroy(void *priv)
{
	struct pt_region *p = priv;

	pt_release(p);
	vmm__free(p->vm, p);
}

static int check_config(vmm_vm *vm, const struct vmm_passthrough_config *c)
{
	if (c->fd < 0)
		return vmm__err(vm, -EBADF, "passthrough: no fd");
	if (c->flags & ~(VMM_PT_SHARED | VMM_PT_READONLY))
		return vmm__err(vm, -EINVAL, "passthrough: unknown flags 0x%x",
				c->flags);
	if (!c->size || !VMM_IS_ALIGNED(c->size, VMM_PAGE_SIZE) ||
	    !VMM_IS_ALIGNED(c->gpa, VMM_PAGE_SIZE) || c->offset < 0 ||
	    !VMM_IS_ALIGNED((uint64_t)c->offset, VMM_PAGE_SIZE))
		return vmm__err(vm, -EINVAL,
				"passthrough: gpa, offset and size must be "
				"page aligned and size non-zero");
	if (c->gpa + c->size < c->gpa ||
	    (uint64_t)c->offset + c->size < (uint64_t)c->offset ||
	    (uint64_t)c->offset + c->size > (uint64_t)INT64_MAX)
		return vmm__err(vm, -EINVAL, "passthrough: range wraps");
	return 0;
}

int vmm_passthrough_attach(vmm_vm *vm,
			       const struct vmm_passthrough_config *ucfg,
			       vmm_dev **out)
{
	const struct vmm_passthrough_config *cfg = ucfg;
	struct vmm_passthrough_config c;
	struct vmm_mem_region mr;
	struct pt_region *p;
	struct stat st, st2;
	char name[48];
	vmm_dev *dev;
	int ret, fl, mode;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "passthrough: NULL argument");
	vmm_passthrough_config_init(&c);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__PASSTHROUGH_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"passthrough: bad struct_size %u or unknown "
				"non-zero fields in struct vmm_passthrough_config",
				ucfg->struct_size);
	cfg = &c;
	if ((ret = check_config(vm, cfg)))
		return ret;
	if (fstat(cfg->fd, &st) < 0 || (fl = fcntl(cfg->fd, F_GETFL)) < 0)
		return vmm__err(vm, -EBADF, "passthrough: fd %d is not open",
				cfg->fd);
	if ((fl & O_ACCMODE) == O_WRONLY)
		return vmm__err(vm, -EBADF,
				"passthrough: fd %d is write-only", cfg->fd);
	if ((fl & O_ACCMODE) == O_RDONLY && !(cfg->flags & VMM_PT_READONLY))
		return vmm__err(vm, -EBADF,
				"passthrough: fd %d is read-only; attach with "
				"VMM_PT_READONLY", cfg->fd);
	if (S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < (uint64_t)cfg->offset + cfg->size)
		return vmm__err(vm, -EINVAL,
				"passthrough: the file has %lld bytes, the "
				"range needs %llu",
				(long long)st.st_size,
				(unsigned long long)(cfg->offset + cfg->size));
	if (cfg->irq_fd >= 0 && !(vmm_vm_caps(vm) & VMM_CAP_IRQCHIP))
		return vmm__err(vm, -ENODEV,
				"passthrough: irq_fd needs an interrupt "
				"controller");

	p = vmm__alloc(vm, sizeof(*p));
	if (!p)
		return vmm__err(vm, -ENOMEM, "passthrough: out of memory");
	p->vm = vm;
	p->map_fd = p->lock_fd = -1;
	p->st_dev = st.st_dev;
	p->st_ino = st.st_ino;
	p->offset = (uint64_t)cfg->offset;
	p->size = cfg->size;
	p->gpa = cfg->gpa;
	p->flags = cfg->flags;
	p->irq_fd = cfg->irq_fd;
	if (cfg->name)
		snprintf(name, sizeof(name), "%s", cfg->name);
	else
		snprintf(name, sizeof(name), "pt@0x%llx",
			 (unsigned long long)cfg->gpa);

	if ((ret = check_vm_conflict(vm, p)))
		goto fail;

	/* our own description: the caller's may be shared with other VMs */
	mode = (cfg->flags & VMM_PT_READONLY) ? O_RDONLY : O_RDWR;
	p->map_fd = reopen(cfg->fd, mode);
	if (p->map_fd < 0) {
		/* no /proc: the caller's description, locks then per-VM only */
		p->map_fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 0);
		if (p->map_fd < 0) {
			ret = vmm__err(vm, -errno, "passthrough: dup: %s",
				       strerror(errno));
			goto fail;
		}
	}
	if (fstat(p->map_fd, &st2) < 0 || st2.st_dev != st.st_dev ||
	    st2.st_ino != st.st_ino) {
		ret = vmm__err(vm, -EBADF,
			       "passthrough: fd %d cannot be reopened as the "
			       "same file", cfg->fd);
		goto fail;
	}
	if ((ret = take_lock(vm, p, cfg->fd)))
		goto fail;

	memset(&mr, 0, sizeof(mr));
	mr.gpa = cfg->gpa;
	mr.size = cfg->size;
	mr.source = VMM_MEM_FD;
	/*
	 * Read-only: a private mapping (the memory layer maps ROM writable for
	 * the host, which a read-only description cannot give shared); the
	 * guest cannot write it, so it keeps seeing the file's pages.
	 */
	mr.flags = (cfg->flags & VMM_PT_READONLY) ? VMM_MEM_READONLY
						  : VMM_MEM_SHARED;
	mr.fd = p->map_fd;
	mr.offset = cfg->offset;
	mr.name = name;
	if ((ret = vmm_mem_add(vm, &mr))) {
		ret = vmm__err(vm, ret, "passthrough %s: cannot map at 0x%llx: %s",
			       name, (unsigned long long)cfg->gpa,
			       vmm_strerror(ret));
		goto fail;
	}
	p->mapped = true;

	if (cfg->irq_fd >= 0) {
		struct vmm_irq_route route = {
			.kind = VMM_IRQ_ROUTE_LINE, .gsi = cfg->irq_gsi,
		};
		if ((ret = vmm_irqfd_add(vm, cfg->irq_fd, &route)))
			goto fail;
		p->irq_routed = true;
	}

	dev = vmm__dev_new(vm, name, p, pt_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto fail;
	}
	vmm__dev_set_model(dev, VMM_MODEL_PASSTHROUGH,
			   ((cfg->flags & VMM_PT_SHARED) ? VMM__DEVF_SHARED
							 : VMM__DEVF_EXCLUSIVE) |
			   ((cfg->flags & VMM_PT_READONLY) ? 0
							   : VMM__DEVF_NO_TRAP));
	dev->pre_detach = pt_pre_detach;
	*out = dev;
	return 0;

fail:
	pt_release(p);
	vmm__free(vm, p);
	return ret;
}
