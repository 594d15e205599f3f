// SPDX-License-Identifier: MIT
/*
 * vfio_pci.c - passthrough, VFIO-PCI form: a host PCI function bound to
 * vfio-pci given to the guest.  The guest drives the real device; libvmm
 * only sets it up and keeps what must stay the VMM's:
 *
 *   - container/group/device: VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION
 *     (type-1 IOMMU), VFIO_GROUP_GET_STATUS (viable), SET_CONTAINER,
 *     SET_IOMMU, GET_DEVICE_FD, region and irq info;
 *   - DMA: every RAM region of the VM mapped at its guest-physical address
 *     (VFIO_IOMMU_MAP_DMA), so the device's DMA lands in guest RAM only.
 *     A memory listener keeps the IOMMU in step with guest memory: before
 *     a region goes, its DMA mapping is unmapped (VFIO_IOMMU_UNMAP_DMA
 *     returns once no DMA can reach the pages; if it fails the removal is
 *     refused, the device might still write there); a refused removal maps
 *     it again; a region added later is mapped (our own BAR mappings are
 *     not: they are the device, not RAM);
 *   - config space: BARs, ROM, the command register's decode bits and the
 *     MSI/MSI-X capabilities are emulated (vfio_cfg.c); the rest goes to
 *     the device;
 *   - BARs: mmap()able ones are mapped into guest-physical space when the
 *     guest enables decoding (no exits), the others and the one holding
 *     the MSI-X table are trapped and forwarded with pread/pwrite;
 *   - interrupts: INTx, MSI and MSI-X signal eventfds (VFIO_DEVICE_SET_IRQS)
 *     that are irqfds of the VM: no trip through the VMM.
 *
 * All VFIO calls go through struct vmm__vfio_sys so the logic is tested
 * with a fake VFIO; these build machines have no VFIO device.
 */
#include "dev/vfio/vfio_cfg.h"
#include "dev/vfio/vfio_sys.h"
#include "mem/listener.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define MAX_DMA 32
#define BAR_BASE_DEFAULT 0xe0000000ull

struct vfio_dev;

struct bar_trap {
	struct vfio_dev *d;
	unsigned bar;
};

struct bar_place {
	bool active;
	bool mapped;        /* vmm_mem_add (else a bus trap) */
	uint64_t gpa;
};

struct vfio_region {
	uint64_t offset, size;
	uint32_t flags;
};

struct vfio_dev {
	vmm_vm *vm;
	struct vmm__vfio_sys sys;
	int container, group, device;
	char bdf[16];
	vmm_dev *host;
	int slot;
	pthread_mutex_t lock;
	struct vmm__vfio_cfg cfg;
	struct vfio_region bar[VFIO_CFG_NBARS];
	struct vfio_region cfgreg;
	struct bar_place place[VFIO_CFG_NBARS];
	struct bar_trap trap[VFIO_CFG_NBARS];
	uint32_t irq_count[VFIO_PCI_NUM_IRQS];
	/* DMA mappings, under dma_lock (not d->lock: BAR moves under d->lock
	 * add and remove memory, which calls the listener) */
	pthread_mutex_t dma_lock;
	uint64_t dma_iova[MAX_DMA], dma_size[MAX_DMA];
	bool dma_ro[MAX_DMA];
	int ndma;
	struct vmm_mem_listener ml;
	bool ml_on;
	/* the mapping unmapped by before_remove(), for a refused removal */
	uint64_t held_iova, held_size;
	bool held, held_ro;
	int intx_fd;
	int msi_fd;
	bool msi_routed;
	uint32_t *msix_table;   /* entries x 4 dwords, guest view */
	int *msix_fd;
	bool *msix_routed;
	bool msix_on;
};

static void vfio_destroy(void *priv);

void vmm_vfio_pci_config_init(struct vmm_vfio_pci_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->slot = -1;
	cfg->intx_gsi = -1;
}

/* ---- the real system calls ---- */

static int h_open(void *o, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int h_close(void *o, int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

static int h_ioctl(void *o, int fd, unsigned long req, void *arg)
{
	int r = ioctl(fd, req, arg);
	return r < 0 ? -errno : r;
}

static ssize_t h_pread(void *o, int fd, void *buf, size_t n, off_t off)
{
	ssize_t r = pread(fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static ssize_t h_pwrite(void *o, int fd, const void *buf, size_t n, off_t off)
{
	ssize_t r = pwrite(fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static ssize_t h_readlink(void *o, const char *path, char *buf, size_t len)
{
	ssize_t r = readlink(path, buf, len);
	return r < 0 ? -errno : r;
}

static int h_eventfd(void *o)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

const struct vmm__vfio_sys vmm__vfio_sys_host = {
	.open = h_open, .close = h_close, .ioctl = h_ioctl,
	.pread = h_pread, .pwrite = h_pwrite, .readlink = h_readlink,
	.eventfd = h_eventfd,
};

/* ---- container ---- */

static int open_container(const struct vmm__vfio_sys *s, char *why,
			  size_t len, int *type)
{
	int fd = s->open(s->opaque, "/dev/vfio/vfio", O_RDWR), r;

	if (fd < 0) {
		snprintf(why, len, "/dev/vfio/vfio: %s", strerror(-fd));
		return fd == -ENOENT ? -ENOENT : -ENODEV;
	}
	r = s->ioctl(s->opaque, fd, VFIO_GET_API_VERSION, NULL);
	if (r != VFIO_API_VERSION) {
		snprintf(why, len, "VFIO API version %d, want %d", r,
			 VFIO_API_VERSION);
		s->close(s->opaque, fd);
		return -ENODEV;
	}
	if (s->ioctl(s->opaque, fd, VFIO_CHECK_EXTENSION,
		     (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU) > 0) {
		*type = VFIO_TYPE1v2_IOMMU;
	} else if (s->ioctl(s->opaque, fd, VFIO_CHECK_EXTENSION,
			    (void *)(uintptr_t)VFIO_TYPE1_IOMMU) > 0) {
		*type = VFIO_TYPE1_IOMMU;
	} else {
		snprintf(why, len, "no type-1 IOMMU support in VFIO");
		s->close(s->opaque, fd);
		return -ENODEV;
	}
	return fd;
}

int vmm__vfio_available_sys(const struct vmm__vfio_sys *s, char *why,
			    size_t len)
{
	char dummy[8];
	int type, fd;

	if (!why || !len) {
		why = dummy;
		len = sizeof(dummy);
	}
	why[0] = 0;
	fd = open_container(s, why, len, &type);
	if (fd < 0)
		return fd;
	s->close(s->opaque, fd);
	return 0;
}

int vmm_vfio_available(char *why, size_t len)
{
	return vmm__vfio_available_sys(&vmm__vfio_sys_host, why, len);
}

/* "dddd:bb:dd.f", hex, nothing else. */
static bool bdf_ok(const char *s)
{
	static const char shape[] = "xxxx:xx:xx.x";

	if (!s || strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'x') {
			if (!((s[i] >= '0' && s[i] <= '9') ||
			      (s[i] >= 'a' && s[i] <= 'f') ||
			      (s[i] >= 'A' && s[i] <= 'F')))
				return false;
		} else if (s[i] != shape[i]) {
			return false;
		}
	}
	return s[11] >= '0' && s[11] <= '7';
}

/* The group number from the iommu_group link. */
static int group_number(struct vfio_dev *d)
{
	char path[96], link[256];
	const char *base;
	ssize_t n;
	long g = 0;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group",
		 d->bdf);
	n = d->sys.readlink(d->sys.opaque, path, link, sizeof(link) - 1);
	if (n < 0)
		return vmm__err(d->vm, n == -ENOENT ? -ENOENT : (int)n,
				"vfio %s: no IOMMU group (%s): %s", d->bdf,
				path, strerror((int)-n));
	link[n] = 0;
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (!*base)
		return vmm__err(d->vm, -EINVAL, "vfio %s: bad group link %s",
				d->bdf, link);
	for (const char *p = base; *p; p++) {
		if (*p < '0' || *p > '9' || g > 1000000)
			return vmm__err(d->vm, -EINVAL,
					"vfio %s: bad group link %s", d->bdf,
					link);
		g = g * 10 + (*p - '0');
	}
	return (int)g;
}

/* ---- interrupts ---- */

static int set_irqs(struct vfio_dev *d, unsigned index, uint32_t count,
		    const int *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + (size_t)count * sizeof(int);
	struct vfio_irq_set *s = vmm__alloc(d->vm, sz);
	int r;

	if (!s)
		return vmm__err(d->vm, -ENOMEM, "vfio: out of memory");
	s->argsz = (uint32_t)sz;
	s->index = index;
	s->start = 0;
	s->count = count;
	s->flags = VFIO_IRQ_SET_ACTION_TRIGGER |
		   (count ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	if (count)
		memcpy(s->data, fds, (size_t)count * sizeof(int));
	r = d->sys.ioctl(d->sys.opaque, d->device, VFIO_DEVICE_SET_IRQS, s);
	vmm__free(d->vm, s);
	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_DEVICE_SET_IRQS "
				"index %u count %u: %s", d->bdf, index, count,
				strerror(-r));
	return 0;
}

static int route_msi(struct vfio_dev *d, int fd, bool *routed, uint64_t addr,
		     uint32_t data)
{
	struct vmm_irq_route r = {
		.kind = VMM_IRQ_ROUTE_MSI, .msi_addr = addr, .msi_data = data,
	};

	if (*routed)
		vmm_irqfd_remove(d->vm, fd);
	*routed = false;
	if (vmm_irqfd_add(d->vm, fd, &r) == 0)
		*routed = true;
	return *routed ? 0 : -EIO;
}

static void msi_update(struct vfio_dev *d)
{
	if (!d->irq_count[VFIO_PCI_MSI_IRQ_INDEX])
		return;
	if (vmm__vfio_cfg_msi_on(&d->cfg) && d->cfg.msi_addr) {
		if (d->msi_fd < 0)
			d->msi_fd = d->sys.eventfd(d->sys.opaque);
		if (d->msi_fd < 0)
			return;
		route_msi(d, d->msi_fd, &d->msi_routed, d->cfg.msi_addr,
			  d->cfg.msi_data);
		set_irqs(d, VFIO_PCI_MSI_IRQ_INDEX, 1, &d->msi_fd);
	} else if (d->msi_routed) {
		set_irqs(d, VFIO_PCI_MSI_IRQ_INDEX, 0, NULL);
		vmm_irqfd_remove(d->vm, d->msi_fd);
		d->msi_routed = false;
	}
}

static void msix_update(struct vfio_dev *d)
{
	uint32_t n = d->cfg.msix_entries;
	bool on = vmm__vfio_cfg_msix_on(&d->cfg);
	int *fds;

	if (!d->msix_table || !d->irq_count[VFIO_PCI_MSIX_IRQ_INDEX])
		return;
	if (n > d->irq_count[VFIO_PCI_MSIX_IRQ_INDEX])
		n = d->irq_count[VFIO_PCI_MSIX_IRQ_INDEX];
	if (!on) {
		if (d->msix_on)
			set_irqs(d, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
		for (uint32_t i = 0; i < n; i++)
			if (d->msix_routed[i]) {
				vmm_irqfd_remove(d->vm, d->msix_fd[i]);
				d->msix_routed[i] = false;
			}
		d->msix_on = false;
		return;
	}
	fds = vmm__alloc(d->vm, n * sizeof(int));
	if (!fds)
		return;
	for (uint32_t i = 0; i < n; i++) {
		const uint32_t *e = &d->msix_table[i * 4];
		uint64_t addr = e[0] | (uint64_t)e[1] << 32;
		bool masked = (e[3] & 1) || vmm__vfio_cfg_msix_masked(&d->cfg);

		fds[i] = -1;
		if (masked || !addr) {
			if (d->msix_routed[i]) {
				vmm_irqfd_remove(d->vm, d->msix_fd[i]);
				d->msix_routed[i] = false;
			}
			continue;
		}
		if (d->msix_fd[i] < 0)
			d->msix_fd[i] = d->sys.eventfd(d->sys.opaque);
		if (d->msix_fd[i] < 0)
			continue;
		if (route_msi(d, d->msix_fd[i], &d->msix_routed[i], addr, e[2]))
			continue;
		fds[i] = d->msix_fd[i];
	}
	set_irqs(d, VFIO_PCI_MSIX_IRQ_INDEX, n, fds);
	d->msix_on = true;
	vmm__free(d->vm, fds);
}

/* ---- BARs ---- */

static bool in_msix_table(const struct vfio_dev *d, unsigned bar, uint64_t off,
			  unsigned size)
{
	const struct vmm__vfio_cfg *c = &d->cfg;

	return d->msix_table && c->msix_table_bar == bar &&
	       off >= c->msix_table_off &&
	       off + size <= c->msix_table_off + (uint64_t)c->msix_entries * 16;
}

static int bar_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct bar_trap *t = opaque;
	struct vfio_dev *d = t->d;
	const struct vfio_region *r = &d->bar[t->bar];
	ssize_t n;

	memset(data, 0xff, size);
	pthread_mutex_lock(&d->lock);
	if (in_msix_table(d, t->bar, off, size)) {
		uint64_t o = off - d->cfg.msix_table_off;
		memcpy(data, (uint8_t *)d->msix_table + o, size);
	} else if (off + size <= r->size) {
		n = d->sys.pread(d->sys.opaque, d->device, data, size,
				 (off_t)(r->offset + off));
		if (n != (ssize_t)size)
			memset(data, 0xff, size);
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int bar_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct bar_trap *t = opaque;
	struct vfio_dev *d = t->d;
	const struct vfio_region *r = &d->bar[t->bar];

	pthread_mutex_lock(&d->lock);
	if (in_msix_table(d, t->bar, off, size)) {
		uint64_t o = off - d->cfg.msix_table_off;
		memcpy((uint8_t *)d->msix_table + o, data, size);
		if (vmm__vfio_cfg_msix_on(&d->cfg))
			msix_update(d);
	} else if (off + size <= r->size) {
		d->sys.pwrite(d->sys.opaque, d->device, data, size,
			      (off_t)(r->offset + off));
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static const struct vmm_io_ops bar_ops = { .read = bar_read, .write = bar_write };

static void bar_unplace(struct vfio_dev *d, unsigned i, bool force)
{
	struct bar_place *p = &d->place[i];

	if (!p->active)
		return;
	if (p->mapped) {
		int r = vmm_mem_remove(d->vm, p->gpa);
		if (r && !force) {
			vmm__log(d->vm, VMM_LOG_WARN,
				 "vfio %s: BAR%u stays at 0x%llx: %s", d->bdf,
				 i, (unsigned long long)p->gpa, vmm_strerror(r));
			return;
		}
	} else {
		vmm_bus_unregister(d->vm,
				   d->cfg.bar[i].io ? VMM_SPACE_PIO
						    : VMM_SPACE_MMIO,
				   p->gpa);
	}
	p->active = false;
}

static void bar_place(struct vfio_dev *d, unsigned i, uint64_t gpa)
{
	const struct vmm__vfio_bar *b = &d->cfg.bar[i];
	struct bar_place *p = &d->place[i];
	char name[48];
	int r;

	snprintf(name, sizeof(name), "vfio:%s:bar%u", d->bdf, i);
	if (!b->io && b->mmap_ok && d->bar[i].size >= b->size &&
	    !(d->msix_table && d->cfg.msix_table_bar == i)) {
		struct vmm_mem_region mr = {
			.gpa = gpa, .size = b->size, .source = VMM_MEM_FD,
			.flags = VMM_MEM_SHARED, .fd = d->device,
			.offset = (off_t)d->bar[i].offset, .name = name,
		};
		if (vmm_mem_add(d->vm, &mr) == 0) {
			*p = (struct bar_place){ true, true, gpa };
			return;
		}
	}
	r = vmm_bus_register(d->vm, b->io ? VMM_SPACE_PIO : VMM_SPACE_MMIO, gpa,
			     b->size, &bar_ops, &d->trap[i], name);
	if (r) {
		vmm__log(d->vm, VMM_LOG_WARN,
			 "vfio %s: BAR%u cannot go to 0x%llx: %s", d->bdf, i,
			 (unsigned long long)gpa, vmm_strerror(r));
		return;
	}
	*p = (struct bar_place){ true, false, gpa };
}

static void bars_update(struct vfio_dev *d)
{
	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++) {
		uint64_t a;
		bool want;

		if (!d->cfg.bar[i].size)
			continue;
		want = vmm__vfio_cfg_bar_addr(&d->cfg, i, &a);
		if (d->place[i].active && (!want || a != d->place[i].gpa))
			bar_unplace(d, i, false);
		if (want && !d->place[i].active)
			bar_place(d, i, a);
	}
}

/* ---- config space ---- */

static uint32_t vfio_cfg_read(void *opaque, uint16_t off, unsigned size)
{
	struct vfio_dev *d = opaque;
	uint32_t v = 0xffffffffu, out;

	if (off >= 256 || !size || size > 4 || (off & (size - 1)))
		return 0xffffffffu;
	pthread_mutex_lock(&d->lock);
	if (d->sys.pread(d->sys.opaque, d->device, &v, size,
			 (off_t)(d->cfgreg.offset + off)) != (ssize_t)size)
		v = 0xffffffffu;
	out = vmm__vfio_cfg_read(&d->cfg, off, size, v);
	pthread_mutex_unlock(&d->lock);
	return out;
}

static void vfio_cfg_write(void *opaque, uint16_t off, uint32_t val,
			   unsigned size)
{
	struct vfio_dev *d = opaque;
	uint32_t fwd;
	unsigned ev;
	bool forward;

	if (off >= 256 || !size || size > 4 || (off & (size - 1)))
		return;
	pthread_mutex_lock(&d->lock);
	ev = vmm__vfio_cfg_write(&d->cfg, off, size, val, &forward, &fwd);
	if (forward)
		d->sys.pwrite(d->sys.opaque, d->device, &fwd, size,
			      (off_t)(d->cfgreg.offset + off));
	if (ev & (VFIO_CFG_EV_DECODE | 0x3f))
		bars_update(d);
	if (ev & VFIO_CFG_EV_MSI)
		msi_update(d);
	if (ev & VFIO_CFG_EV_MSIX)
		msix_update(d);
	pthread_mutex_unlock(&d->lock);
}

static const struct vmm_pci_ops vfio_pci_ops = {
	.cfg_read = vfio_cfg_read,
	.cfg_write = vfio_cfg_write,
};

/* ---- setup ---- */

/* Map [@gpa, +@size) for DMA at its gpa.  dma_lock held.  0 or -errno. */
static int dma_map_one(struct vfio_dev *d, uint64_t gpa, uint64_t size,
		       bool readonly)
{
	struct vfio_iommu_type1_dma_map m;
	struct iovec iov;
	int r;

	if (d->ndma >= MAX_DMA)
		return vmm__err(d->vm, -E2BIG, "vfio %s: more than %d memory "
				"regions to map for DMA", d->bdf, MAX_DMA);
	if (vmm_mem_iovec(d->vm, gpa, size, false, &iov, 1) != 1)
		return vmm__err(d->vm, -EFAULT, "vfio %s: region at 0x%llx has "
				"no host mapping", d->bdf,
				(unsigned long long)gpa);
	memset(&m, 0, sizeof(m));
	m.argsz = sizeof(m);
	m.flags = VFIO_DMA_MAP_FLAG_READ |
		  (readonly ? 0 : VFIO_DMA_MAP_FLAG_WRITE);
	m.vaddr = (uint64_t)(uintptr_t)iov.iov_base;
	m.iova = gpa;
	m.size = size;
	r = d->sys.ioctl(d->sys.opaque, d->container, VFIO_IOMMU_MAP_DMA, &m);
	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_IOMMU_MAP_DMA of "
				"0x%llx+0x%llx: %s", d->bdf,
				(unsigned long long)m.iova,
				(unsigned long long)m.size, strerror(-r));
	d->dma_iova[d->ndma] = m.iova;
	d->dma_size[d->ndma] = m.size;
	d->dma_ro[d->ndma] = readonly;
	d->ndma++;
	return 0;
}

/* Unmap DMA entry @i and drop it from the list.  dma_lock held. */
static int dma_unmap_one(struct vfio_dev *d, int i)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = d->dma_iova[i],
		.size = d->dma_size[i],
	};
	int r = d->sys.ioctl(d->sys.opaque, d->container, VFIO_IOMMU_UNMAP_DMA,
			     &u);

	if (r < 0)
		return r;
	d->ndma--;
	d->dma_iova[i] = d->dma_iova[d->ndma];
	d->dma_size[i] = d->dma_size[d->ndma];
	d->dma_ro[i] = d->dma_ro[d->ndma];
	return 0;
}

/* ---- memory listener: the IOMMU follows guest memory ---- */

static int ml_before_remove(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct vfio_dev *d = opaque;
	int r = 0;

	pthread_mutex_lock(&d->dma_lock);
	d->held = false;
	for (int i = 0; i < d->ndma; i++) {
		if (d->dma_iova[i] != gpa)
			continue;
		d->held_iova = d->dma_iova[i];
		d->held_size = d->dma_size[i];
		d->held_ro = d->dma_ro[i];
		r = dma_unmap_one(d, i);
		if (r)
			vmm__err(d->vm, r, "vfio %s: VFIO_IOMMU_UNMAP_DMA of "
				 "0x%llx: %s; the device may still reach it",
				 d->bdf, (unsigned long long)gpa, strerror(-r));
		else
			d->held = true;
		break;
	}
	pthread_mutex_unlock(&d->dma_lock);
	return r ? -EBUSY : 0;
}

static void ml_after_remove(void *opaque, vmm_gpa_t gpa, uint64_t size,
			    bool removed)
{
	struct vfio_dev *d = opaque;

	pthread_mutex_lock(&d->dma_lock);
	if (d->held && !removed)
		dma_map_one(d, d->held_iova, d->held_size, d->held_ro);
	d->held = false;
	pthread_mutex_unlock(&d->dma_lock);
}

static void ml_added(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct vfio_dev *d = opaque;
	struct vmm_mem_info mi[MAX_DMA + 8];
	int n = vmm__mem_get_regions(d->vm, mi, MAX_DMA + 8);

	for (int i = 0; i < n && i < MAX_DMA + 8; i++) {
		if (mi[i].gpa != gpa)
			continue;
		if (mi[i].fd >= 0 && mi[i].fd == d->device)
			return; /* one of our BARs */
		pthread_mutex_lock(&d->dma_lock);
		/* the error is the VM's last error; the device cannot
		 * reach this region (IOMMU faults), nothing else breaks */
		dma_map_one(d, gpa, size, mi[i].flags & VMM_MEM_READONLY);
		pthread_mutex_unlock(&d->dma_lock);
		return;
	}
}

static int dma_map_ram(struct vfio_dev *d)
{
	struct vmm_mem_info mi[MAX_DMA];
	int n = vmm__mem_get_regions(d->vm, mi, MAX_DMA), r = 0;

	if (n < 0)
		return n;
	if (n > MAX_DMA)
		return vmm__err(d->vm, -E2BIG, "vfio %s: more than %d memory "
				"regions to map for DMA", d->bdf, MAX_DMA);
	pthread_mutex_lock(&d->dma_lock);
	for (int i = 0; i < n && !r; i++)
		r = dma_map_one(d, mi[i].gpa, mi[i].size,
				mi[i].flags & VMM_MEM_READONLY);
	pthread_mutex_unlock(&d->dma_lock);
	if (r)
		return r;
	d->ml = (struct vmm_mem_listener){
		.before_remove = ml_before_remove,
		.after_remove = ml_after_remove,
		.added = ml_added,
		.opaque = d,
	};
	vmm__mem_listener_add(d->vm, &d->ml);
	d->ml_on = true;
	return 0;
}

static int device_info(struct vfio_dev *d, struct vmm__vfio_bar bars[6],
		       uint8_t cfgbytes[256])
{
	struct vfio_device_info di = { .argsz = sizeof(di) };
	int r = d->sys.ioctl(d->sys.opaque, d->device, VFIO_DEVICE_GET_INFO, &di);

	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_DEVICE_GET_INFO: %s",
				d->bdf, strerror(-r));
	if (!(di.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    di.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return vmm__err(d->vm, -EINVAL, "vfio %s: not a PCI device "
				"(flags 0x%x, %u regions)", d->bdf, di.flags,
				di.num_regions);
	memset(bars, 0, sizeof(struct vmm__vfio_bar) * VFIO_CFG_NBARS);
	for (unsigned i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };

		if (i > VFIO_PCI_BAR5_REGION_INDEX &&
		    i != VFIO_PCI_CONFIG_REGION_INDEX)
			continue;
		r = d->sys.ioctl(d->sys.opaque, d->device,
				 VFIO_DEVICE_GET_REGION_INFO, &ri);
		if (r < 0)
			return vmm__err(d->vm, r, "vfio %s: region %u info: %s",
					d->bdf, i, strerror(-r));
		if (i == VFIO_PCI_CONFIG_REGION_INDEX) {
			d->cfgreg = (struct vfio_region){ ri.offset, ri.size,
							  ri.flags };
			continue;
		}
		d->bar[i] = (struct vfio_region){ ri.offset, ri.size, ri.flags };
	}
	if (d->cfgreg.size < 256 ||
	    d->sys.pread(d->sys.opaque, d->device, cfgbytes, 256,
			 (off_t)d->cfgreg.offset) != 256)
		return vmm__err(d->vm, -EIO, "vfio %s: cannot read config "
				"space", d->bdf);
	/* BAR types from the device's BAR registers, sizes from VFIO */
	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++) {
		uint32_t reg;

		memcpy(&reg, cfgbytes + 0x10 + 4 * i, 4);
		if (!d->bar[i].size)
			continue;
		bars[i].size = d->bar[i].size;
		bars[i].io = reg & 1;
		bars[i].mem64 = !(reg & 1) && ((reg >> 1) & 3) == 2;
		bars[i].prefetch = !(reg & 1) && (reg & 8);
		bars[i].mmap_ok = d->bar[i].flags & VFIO_REGION_INFO_FLAG_MMAP;
		if (bars[i].mem64)
			i++;
	}
	for (unsigned i = 0; i < VFIO_PCI_NUM_IRQS && i < di.num_irqs; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };

		if (d->sys.ioctl(d->sys.opaque, d->device,
				 VFIO_DEVICE_GET_IRQ_INFO, &ii) == 0 &&
		    (ii.flags & VFIO_IRQ_INFO_EVENTFD))
			d->irq_count[i] = ii.count;
	}
	return 0;
}

/* Give the BARs guest addresses inside the window (decoding stays off
 * until the guest turns it on, as after reset firmware would leave it). */
static int place_bars(struct vfio_dev *d, uint64_t base)
{
	uint64_t mem = base, io = 0xc000;

	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++) {
		const struct vmm__vfio_bar *b = &d->cfg.bar[i];

		if (!b->size)
			continue;
		if (b->io) {
			io = VMM_ALIGN_UP(io, b->size);
			if (io + b->size > 0x10000)
				return vmm__err(d->vm, -ENOSPC, "vfio %s: no I/O "
						"space for BAR%u", d->bdf, i);
			vmm__vfio_cfg_set_bar(&d->cfg, i, io);
			io += b->size;
		} else {
			mem = VMM_ALIGN_UP(mem, b->size < VMM_PAGE_SIZE
						     ? VMM_PAGE_SIZE : b->size);
			if (mem + b->size < mem)
				return vmm__err(d->vm, -ENOSPC, "vfio %s: no "
						"MMIO space for BAR%u", d->bdf,
						i);
			vmm__vfio_cfg_set_bar(&d->cfg, i, mem);
			mem += b->size;
		}
	}
	return 0;
}

static void vfio_release(struct vfio_dev *d)
{
	const struct vmm__vfio_sys *s = &d->sys;

	if (d->slot >= 0)
		vmm_pci_remove(d->host, d->slot);
	d->slot = -1;
	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++)
		bar_unplace(d, i, true);
	if (d->device >= 0) {
		if (d->intx_fd >= 0)
			set_irqs(d, VFIO_PCI_INTX_IRQ_INDEX, 0, NULL);
		if (d->msi_routed)
			set_irqs(d, VFIO_PCI_MSI_IRQ_INDEX, 0, NULL);
		if (d->msix_on)
			set_irqs(d, VFIO_PCI_MSIX_IRQ_INDEX, 0, NULL);
	}
	if (d->intx_fd >= 0) {
		vmm_irqfd_remove(d->vm, d->intx_fd);
		s->close(s->opaque, d->intx_fd);
	}
	if (d->msi_fd >= 0) {
		if (d->msi_routed)
			vmm_irqfd_remove(d->vm, d->msi_fd);
		s->close(s->opaque, d->msi_fd);
	}
	if (d->msix_fd) {
		for (unsigned i = 0; i < d->cfg.msix_entries; i++) {
			if (d->msix_routed && d->msix_routed[i])
				vmm_irqfd_remove(d->vm, d->msix_fd[i]);
			if (d->msix_fd[i] >= 0)
				s->close(s->opaque, d->msix_fd[i]);
		}
	}
	vmm__free(d->vm, d->msix_fd);
	vmm__free(d->vm, d->msix_routed);
	vmm__free(d->vm, d->msix_table);
	d->msix_fd = NULL;
	d->msix_routed = NULL;
	d->msix_table = NULL;
	if (d->ml_on)
		vmm__mem_listener_remove(d->vm, &d->ml);
	d->ml_on = false;
	for (int i = 0; i < d->ndma; i++) {
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = d->dma_iova[i],
			.size = d->dma_size[i],
		};
		s->ioctl(s->opaque, d->container, VFIO_IOMMU_UNMAP_DMA, &u);
	}
	d->ndma = 0;
	if (d->device >= 0)
		s->close(s->opaque, d->device);
	if (d->group >= 0)
		s->close(s->opaque, d->group);
	if (d->container >= 0)
		s->close(s->opaque, d->container);
	d->device = d->group = d->container = -1;
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->dma_lock);
}

static int vfio_pre_detach(void *priv)
{
	struct vfio_dev *d = priv;

	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++) {
		if (d->place[i].active && d->place[i].mapped) {
			int r = vmm_mem_remove(d->vm, d->place[i].gpa);
			if (r)
				return r;
			d->place[i].active = false;
		}
	}
	return 0;
}

static void vfio_destroy(void *priv)
{
	struct vfio_dev *d = priv;

	vfio_release(d);
	vmm__free(d->vm, d);
}

static int setup(struct vfio_dev *d, const struct vmm_vfio_pci_config *cfg)
{
	const struct vmm__vfio_sys *s = &d->sys;
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vmm__vfio_bar bars[VFIO_CFG_NBARS];
	uint8_t cfgbytes[256];
	char path[32], why[128];
	int type, g, r;

	g = group_number(d);
	if (g < 0)
		return g;
	d->container = open_container(s, why, sizeof(why), &type);
	if (d->container < 0)
		return vmm__err(d->vm, d->container, "vfio %s: %s", d->bdf, why);
	snprintf(path, sizeof(path), "/dev/vfio/%d", g);
	d->group = s->open(s->opaque, path, O_RDWR);
	if (d->group < 0)
		return vmm__err(d->vm, d->group == -ENOENT ? -ENOENT : d->group,
				"vfio %s: %s: %s", d->bdf, path,
				strerror(-d->group));
	r = s->ioctl(s->opaque, d->group, VFIO_GROUP_GET_STATUS, &gs);
	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_GROUP_GET_STATUS: %s",
				d->bdf, strerror(-r));
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return vmm__err(d->vm, -EBUSY, "vfio %s: group %d is not "
				"viable (bind every device in it to vfio-pci)",
				d->bdf, g);
	r = s->ioctl(s->opaque, d->group, VFIO_GROUP_SET_CONTAINER,
		     &d->container);
	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_GROUP_SET_CONTAINER: %s",
				d->bdf, strerror(-r));
	r = s->ioctl(s->opaque, d->container, VFIO_SET_IOMMU,
		     (void *)(uintptr_t)type);
	if (r < 0)
		return vmm__err(d->vm, r, "vfio %s: VFIO_SET_IOMMU: %s", d->bdf,
				strerror(-r));
	d->device = s->ioctl(s->opaque, d->group, VFIO_GROUP_GET_DEVICE_FD,
			     d->bdf);
	if (d->device < 0)
		return vmm__err(d->vm, d->device == -EBUSY ? -EBUSY : d->device,
				"vfio %s: VFIO_GROUP_GET_DEVICE_FD: %s", d->bdf,
				strerror(-d->device));
	if ((r = device_info(d, bars, cfgbytes)))
		return r;
	if (vmm__vfio_cfg_init(&d->cfg, cfgbytes, bars))
		return vmm__err(d->vm, -EINVAL, "vfio %s: the device's BARs or "
				"MSI-X table make no sense", d->bdf);
	if (d->cfg.msix_off) {
		uint32_t n = d->cfg.msix_entries;
		d->msix_fd = vmm__alloc(d->vm, (size_t)n * sizeof(int));
		if (!d->msix_fd)
			return vmm__err(d->vm, -ENOMEM, "vfio: out of memory");
		for (uint32_t i = 0; i < n; i++)
			d->msix_fd[i] = -1;
		d->msix_table = vmm__alloc(d->vm, (size_t)n * 16);
		d->msix_routed = vmm__alloc(d->vm, (size_t)n * sizeof(bool));
		if (!d->msix_table || !d->msix_routed)
			return vmm__err(d->vm, -ENOMEM, "vfio: out of memory");
		for (uint32_t i = 0; i < n; i++)
			d->msix_table[i * 4 + 3] = 1; /* masked at reset */
	}
	if (!(cfg->flags & VMM_VFIO_NO_DMA) && (r = dma_map_ram(d)))
		return r;
	if ((r = place_bars(d, cfg->bar_base ? cfg->bar_base
					     : BAR_BASE_DEFAULT)))
		return r;
	if (cfg->intx_gsi >= 0 && d->irq_count[VFIO_PCI_INTX_IRQ_INDEX]) {
		struct vmm_irq_route rt = {
			.kind = VMM_IRQ_ROUTE_LINE,
			.gsi = (uint32_t)cfg->intx_gsi,
		};
		int fd = s->eventfd(s->opaque);
		if (fd < 0)
			return vmm__err(d->vm, fd, "vfio: eventfd: %s",
					strerror(-fd));
		if ((r = vmm_irqfd_add(d->vm, fd, &rt))) {
			s->close(s->opaque, fd);
			return r;
		}
		d->intx_fd = fd;
		if ((r = set_irqs(d, VFIO_PCI_INTX_IRQ_INDEX, 1, &fd)))
			return r;
	}
	return 0;
}

int vmm__vfio_pci_attach_sys(vmm_vm *vm, const struct vmm_vfio_pci_config *ucfg,
			     const struct vmm__vfio_sys *sys, vmm_dev **out)
{
	const struct vmm_vfio_pci_config *cfg = ucfg;
	struct vmm_vfio_pci_config c;
	struct vfio_dev *d;
	char name[48];
	vmm_dev *dev;
	int r;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out || !sys)
		return vmm__err(vm, -EINVAL, "vfio: NULL argument");
	vmm_vfio_pci_config_init(&c);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__VFIO_PCI_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"vfio: bad struct_size %u or unknown non-zero "
				"fields in struct vmm_vfio_pci_config",
				ucfg->struct_size);
	cfg = &c;
	if (!bdf_ok(cfg->bdf))
		return vmm__err(vm, -EINVAL, "vfio: bad PCI address \"%s\" "
				"(want dddd:bb:dd.f)",
				cfg->bdf ? cfg->bdf : "(null)");
	if (!cfg->pci_host)
		return vmm__err(vm, -EINVAL, "vfio: no PCI host bridge");
	if (cfg->slot != -1 && (cfg->slot < 1 || cfg->slot > 31))
		return vmm__err(vm, -EINVAL, "vfio: bad slot %d", cfg->slot);
	if (cfg->intx_gsi < -1 || cfg->intx_gsi > 255)
		return vmm__err(vm, -EINVAL, "vfio: bad INTx GSI %d",
				cfg->intx_gsi);
	if (cfg->flags & ~VMM_VFIO_NO_DMA)
		return vmm__err(vm, -EINVAL, "vfio: unknown flags 0x%x",
				cfg->flags);
	if (!VMM_IS_ALIGNED(cfg->bar_base, VMM_PAGE_SIZE))
		return vmm__err(vm, -EINVAL, "vfio: BAR window not aligned");

	d = vmm__alloc(vm, sizeof(*d));
	if (!d)
		return vmm__err(vm, -ENOMEM, "vfio: out of memory");
	d->vm = vm;
	d->sys = *sys;
	d->container = d->group = d->device = -1;
	d->intx_fd = d->msi_fd = -1;
	d->slot = -1;
	d->host = cfg->pci_host;
	snprintf(d->bdf, sizeof(d->bdf), "%s", cfg->bdf);
	for (unsigned i = 0; i < VFIO_CFG_NBARS; i++)
		d->trap[i] = (struct bar_trap){ d, i };
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->dma_lock, NULL);

	if ((r = setup(d, cfg)))
		goto fail;
	r = vmm_pci_add(cfg->pci_host, cfg->slot, &vfio_pci_ops, d);
	if (r < 0) {
		r = vmm__err(vm, r, "vfio %s: cannot add to the PCI bus: %s",
			     d->bdf, vmm_strerror(r));
		goto fail;
	}
	d->slot = r;
	snprintf(name, sizeof(name), "vfio:%s", d->bdf);
	dev = vmm__dev_new(vm, name, d, vfio_destroy);
	if (!dev) {
		r = -ENOMEM;
		goto fail;
	}
	vmm__dev_set_model(dev, VMM_MODEL_PASSTHROUGH,
			   VMM__DEVF_EXCLUSIVE | VMM__DEVF_NO_TRAP);
	dev->pre_detach = vfio_pre_detach;
	*out = dev;
	return 0;

fail:
	vfio_release(d);
	vmm__free(vm, d);
	return r;
}

int vmm_vfio_pci_attach(vmm_vm *vm, const struct vmm_vfio_pci_config *cfg,
			vmm_dev **out)
{
	return vmm__vfio_pci_attach_sys(vm, cfg, &vmm__vfio_sys_host, out);
}

const struct vmm__vfio_cfg *vmm__vfio_dev_cfg(vmm_dev *dev)
{
	if (!dev || dev->destroy != vfio_destroy)
		return NULL;
	return &((struct vfio_dev *)dev->priv)->cfg;
}

int vmm__vfio_dev_slot(vmm_dev *dev)
{
	if (!dev || dev->destroy != vfio_destroy)
		return -EINVAL;
	return ((struct vfio_dev *)dev->priv)->slot;
}
