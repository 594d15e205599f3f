/* SPDX-License-Identifier: MIT */
/*
 * pci.c - the virtio-pci transport, modern interface only (VIRTIO 1.2,
 * 4.1): a PCI function 1af4:(1040 + device id), revision 1, with vendor
 * capabilities pointing into one 64-bit memory BAR (BAR0, 32 KiB) that the
 * guest places through configuration space:
 *
 *   BAR0 + 0x0000  common configuration (struct virtio_pci_common_cfg)
 *   BAR0 + 0x1000  ISR status (read clears, lowers INTx)
 *   BAR0 + 0x2000  device-specific configuration
 *   BAR0 + 0x3000  notifications: queue q at 0x3000 + 4 * q
 *                  (notify_off_multiplier 4, queue_notify_off = q)
 *   BAR0 + 0x4000  MSI-X table (one vector per queue + one for config)
 *   BAR0 + 0x5000  MSI-X pending bit array
 *
 * The BAR is an MMIO bus range registered while memory decoding is on and
 * moved when the guest reprograms it; queue notifies are KVM ioeventfds on
 * the notify addresses when available.  MSI-X vectors go out through
 * irqfds (or vmm_irq_send_msi()); without MSI-X, INTx on the configured GSI.
 *
 * Locks: config-space callbacks come under the host bridge's lock and take
 * cfg_lock; BAR accesses take the device lock (vd->lock) only.  Moving the
 * BAR (bus register/unregister, which waits for running BAR handlers) is
 * done with cfg_lock held and vd->lock not held, so it cannot deadlock
 * against a BAR handler.
 */
#include "dev/virtio/virtio_dev.h"
#include "dev/direct.h"
#include "core/statebuf.h"

#include <linux/pci_regs.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define BAR_SIZE 0x8000ull
#define OFF_COMMON 0x0000
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define OFF_MSIX 0x4000
#define OFF_PBA 0x5000
#define NOTIFY_MULT 4
#define MAX_VEC (VMM_VIRTIO_MAX_QUEUES + 1)

#define CAP_COMMON 0x40
#define CAP_NOTIFY 0x50
#define CAP_ISR 0x64
#define CAP_DEVICE 0x74
#define CAP_MSIX 0x84

/* PCI bits: the kernel's <linux/pci_regs.h> under short names */
#define CMD_MEM PCI_COMMAND_MEMORY
#define CMD_MASTER PCI_COMMAND_MASTER
#define CMD_INTX_DISABLE PCI_COMMAND_INTX_DISABLE
#define MSIX_ENABLE PCI_MSIX_FLAGS_ENABLE
#define MSIX_MASKALL PCI_MSIX_FLAGS_MASKALL

struct msix_vec {
	uint64_t addr;
	uint32_t data;
	uint32_t ctrl;     /* bit 0: masked */
	bool pending;
	int fd;            /* irqfd eventfd or -1 */
	bool routed;
	uint64_t r_addr;   /* what the irqfd routes */
	uint32_t r_data;
};

struct virtio_pci {
	vmm_vm *vm;
	struct vmm_virtio *vd;
	void (*be_destroy)(void *be);
	vmm_dev *host;
	int slot;
	int irq;
	uint32_t flags;
	bool use_ioeventfd;
	bool ioeventfd_on;
	bool use_irqfd;

	pthread_mutex_t cfg_lock;
	uint8_t cfg[256];
	uint8_t wmask[256];
	uint64_t mapped;   /* BAR address while registered, else 0 */

	/* read by the interrupt path (vd->lock), written under cfg_lock */
	_Atomic bool msix_on, msix_masked, intx_disabled;
	int level;

	unsigned nvec;
	struct msix_vec vec[MAX_VEC];
};

void vmm__virtio_pci_destroy(void *priv);

static const uint8_t class_of[5][3] = {
	/* prog-if, subclass, class */
	[1] = { 0x00, 0x00, 0x02 }, /* net: ethernet */
	[2] = { 0x00, 0x80, 0x01 }, /* blk: other mass storage */
	[3] = { 0x00, 0x80, 0x07 }, /* console: other communication */
	[4] = { 0x00, 0x00, 0xff }, /* rng: unassigned class */
};

/* ---- interrupts ---- */

static void intx_update(struct virtio_pci *p)
{
	int level = (p->vd->isr && !p->msix_on && !p->intx_disabled) ? 1 : 0;

	if (p->irq < 0 || level == p->level)
		return;
	p->level = level;
	vmm_irq_set_line(p->vm, (uint32_t)p->irq, level);
}

/* Route vector @v's irqfd to its current address/data.  vd->lock held. */
static bool msix_route(struct virtio_pci *p, unsigned v)
{
	struct msix_vec *m = &p->vec[v];

	if (!p->use_irqfd || m->fd < 0)
		return false;
	if (m->routed && (m->r_addr != m->addr || m->r_data != m->data)) {
		vmm_irqfd_remove(p->vm, m->fd);
		m->routed = false;
	}
	if (!m->routed) {
		struct vmm_irq_route r = { .kind = VMM_IRQ_ROUTE_MSI,
					   .msi_addr = m->addr,
					   .msi_data = m->data };
		if (vmm_irqfd_add(p->vm, m->fd, &r) == 0) {
			m->routed = true;
			m->r_addr = m->addr;
			m->r_data = m->data;
		}
	}
	return m->routed;
}

static void msix_deliver(struct virtio_pci *p, unsigned v)
{
	struct msix_vec *m = &p->vec[v];

	if (p->use_irqfd && m->fd >= 0) {
		if (msix_route(p, v)) {
			eventfd_write(m->fd, 1);
			return;
		}
	}
	vmm_irq_send_msi(p->vm, m->addr, m->data);
}

static void pci_interrupt(struct vmm_virtio *vd, int q)
{
	struct virtio_pci *p = vd->t_priv;
	uint16_t v;

	if (!p->msix_on) {
		vd->isr |= q < 0 ? VIRTIO_MMIO_INT_CONFIG : VIRTIO_MMIO_INT_VRING;
		intx_update(p);
		return;
	}
	v = q < 0 ? vd->config_msix : vd->q[q].msix_vector;
	if (v >= p->nvec)
		return; /* VIRTIO_MSI_NO_VECTOR: no interrupt */
	if (p->msix_masked || (p->vec[v].ctrl & 1)) {
		p->vec[v].pending = true;
		return;
	}
	msix_deliver(p, v);
}

static const struct vmm_virtio_transport_ops pci_transport = {
	.interrupt = pci_interrupt,
};

/* Deliver pending vectors that are no longer masked.  vd->lock held. */
static void msix_unmask_check(struct virtio_pci *p)
{
	if (!p->msix_on || p->msix_masked)
		return;
	for (unsigned v = 0; v < p->nvec; v++) {
		if (p->vec[v].pending && !(p->vec[v].ctrl & 1)) {
			p->vec[v].pending = false;
			msix_deliver(p, v);
		}
	}
}

/* ---- BAR: common configuration ---- */

static uint64_t common_read(struct virtio_pci *p, uint64_t off, unsigned size)
{
	struct vmm_virtio *vd = p->vd;
	struct vmm_virtio_queue *q = vmm_virtio_sel(vd);

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: return vd->dev_feat_sel;
	case VIRTIO_PCI_COMMON_DF: return vmm_virtio_get_dev_features(vd);
	case VIRTIO_PCI_COMMON_GFSELECT: return vd->drv_feat_sel;
	case VIRTIO_PCI_COMMON_GF: return vmm_virtio_get_drv_features(vd);
	case VIRTIO_PCI_COMMON_MSIX: return vd->config_msix;
	case VIRTIO_PCI_COMMON_NUMQ: return vd->nq;
	case VIRTIO_PCI_COMMON_STATUS: return vd->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION: return (uint8_t)vd->config_gen;
	case VIRTIO_PCI_COMMON_Q_SELECT: return vd->queue_sel;
	case VIRTIO_PCI_COMMON_Q_SIZE: return q ? q->vq.size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX: return q ? q->msix_vector : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE: return q ? q->vq.ready : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF: return q ? q->index : 0;
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI: return q ? q->vq.desc >> (off & 4 ? 32 : 0) : 0;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_AVAILHI: return q ? q->vq.avail >> (off & 4 ? 32 : 0) : 0;
	case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI: return q ? q->vq.used >> (off & 4 ? 32 : 0) : 0;
	case VIRTIO_PCI_COMMON_Q_NDATA: return q ? q->index : 0;
	case VIRTIO_PCI_COMMON_Q_RESET: return 0;
	}
	return 0;
}

/* Width each common-config field takes (0 = not a field start). */
static unsigned common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: case VIRTIO_PCI_COMMON_DF: case VIRTIO_PCI_COMMON_GFSELECT: case VIRTIO_PCI_COMMON_GF:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX: case VIRTIO_PCI_COMMON_NUMQ: case VIRTIO_PCI_COMMON_Q_SELECT: case VIRTIO_PCI_COMMON_Q_SIZE: case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF: case VIRTIO_PCI_COMMON_Q_NDATA: case VIRTIO_PCI_COMMON_Q_RESET:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS: case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_AVAILLO: case VIRTIO_PCI_COMMON_Q_USEDLO:
		return 8;
	case VIRTIO_PCI_COMMON_Q_DESCHI: case VIRTIO_PCI_COMMON_Q_AVAILHI: case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4; /* high halves, as 32-bit accesses */
	}
	return 0;
}

static void common_write(struct virtio_pci *p, uint64_t off, uint64_t v,
			 unsigned size)
{
	struct vmm_virtio *vd = p->vd;
	struct vmm_virtio_queue *q = vmm_virtio_sel(vd);
	uint64_t *a;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: vd->dev_feat_sel = (uint32_t)v; return;
	case VIRTIO_PCI_COMMON_GFSELECT: vd->drv_feat_sel = (uint32_t)v; return;
	case VIRTIO_PCI_COMMON_GF: vmm_virtio_set_drv_features(vd, (uint32_t)v); return;
	case VIRTIO_PCI_COMMON_MSIX:
		vd->config_msix = v < p->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		return;
	case VIRTIO_PCI_COMMON_STATUS:
		vmm_virtio_set_status(vd, (uint8_t)v);
		intx_update(p);
		return;
	case VIRTIO_PCI_COMMON_Q_SELECT: vd->queue_sel = (uint16_t)v; return;
	case VIRTIO_PCI_COMMON_Q_SIZE: case VIRTIO_PCI_COMMON_Q_MSIX: case VIRTIO_PCI_COMMON_Q_ENABLE: case VIRTIO_PCI_COMMON_Q_DESCLO: case VIRTIO_PCI_COMMON_Q_DESCHI: case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI: case VIRTIO_PCI_COMMON_Q_USEDLO: case VIRTIO_PCI_COMMON_Q_USEDHI: case VIRTIO_PCI_COMMON_Q_RESET:
		break;
	default:
		vmm_virtio_driver_error(vd, "write to read-only common config "
					"0x%llx", (unsigned long long)off);
		return;
	}
	if (!q) {
		vmm_virtio_driver_error(vd, "queue field 0x%llx with queue_select "
					"%u (device has %u)",
					(unsigned long long)off, vd->queue_sel,
					vd->nq);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_MSIX:
		q->msix_vector = v < p->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		return;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (v == 1)
			vmm_virtio_queue_enable(vd, q, true);
		else
			vmm_virtio_driver_error(vd, "queue_enable = %llu",
						(unsigned long long)v);
		return;
	case VIRTIO_PCI_COMMON_Q_RESET:
		vmm_virtio_driver_error(vd, "queue reset not offered");
		return;
	}
	if (q->vq.ready) {
		vmm_virtio_driver_error(vd, "queue %u reconfigured while enabled",
					q->index);
		return;
	}
	if (off == VIRTIO_PCI_COMMON_Q_SIZE) {
		q->vq.size = (uint16_t)v; /* checked at enable */
		return;
	}
	a = off < VIRTIO_PCI_COMMON_Q_AVAILLO ? &q->vq.desc :
	    off < VIRTIO_PCI_COMMON_Q_USEDLO ? &q->vq.avail : &q->vq.used;
	if (size == 8)
		*a = v;
	else if (off & 4)
		*a = (*a & 0xffffffffull) | (v << 32);
	else
		*a = (*a & ~0xffffffffull) | (v & 0xffffffffull);
}

/* ---- BAR dispatch ---- */

static int bar_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct virtio_pci *p = opaque;
	struct vmm_virtio *vd = p->vd;
	uint64_t v = 0;

	memset(data, 0, size);
	pthread_mutex_lock(&vd->lock);
	if (off < OFF_ISR) {
		unsigned w = common_width(off);
		if (w && (size == w || (w == 8 && size == 4)))
			v = common_read(p, off, size);
		else
			vmm_virtio_driver_error(vd, "%u-byte read of common config "
						"0x%llx", size,
						(unsigned long long)off);
	} else if (off < OFF_DEVICE) {
		if (off == OFF_ISR) {
			v = vd->isr;
			vd->isr = 0;
			intx_update(p);
		}
	} else if (off < OFF_NOTIFY) {
		vmm_virtio_config_read(vd, (uint32_t)(off - OFF_DEVICE), data,
				       size);
		pthread_mutex_unlock(&vd->lock);
		return 0;
	} else if (off >= OFF_MSIX && off < OFF_MSIX + 16ull * p->nvec) {
		struct msix_vec *m = &p->vec[(off - OFF_MSIX) / 16];
		unsigned f = (off - OFF_MSIX) % 16;
		uint8_t raw[16];

		vmm__le_put(raw, 8, m->addr);
		vmm__le_put(raw + 8, 4, m->data);
		vmm__le_put(raw + 12, 4, m->ctrl);
		if (size <= 16 - f)
			v = vmm__le_get(raw + f, size);
	} else if (off >= OFF_PBA && off < OFF_PBA + 8) {
		uint64_t bits = 0;
		for (unsigned i = 0; i < p->nvec; i++)
			bits |= (uint64_t)p->vec[i].pending << i;
		v = bits >> (8 * (off - OFF_PBA));
	}
	pthread_mutex_unlock(&vd->lock);
	vmm__le_put(data, size, v);
	return 0;
}

static int bar_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct virtio_pci *p = opaque;
	struct vmm_virtio *vd = p->vd;
	uint64_t v = vmm__le_get(data, size);

	if (off >= OFF_NOTIFY && off < OFF_MSIX) {
		uint64_t q = (off - OFF_NOTIFY) / NOTIFY_MULT;
		vmm_virtio_kick(vd, (uint32_t)(q > 0xffff ? 0xffff : q));
		return 0;
	}
	pthread_mutex_lock(&vd->lock);
	if (off < OFF_ISR) {
		unsigned w = common_width(off);
		if (w && (size == w || (w == 8 && size == 4)))
			common_write(p, off, v, size);
		else
			vmm_virtio_driver_error(vd, "%u-byte write of common "
						"config 0x%llx", size,
						(unsigned long long)off);
	} else if (off < OFF_DEVICE) {
		vmm_virtio_driver_error(vd, "write to ISR");
	} else if (off < OFF_NOTIFY) {
		vmm_virtio_config_write(vd, (uint32_t)(off - OFF_DEVICE), data,
					size);
	} else if (off >= OFF_MSIX && off < OFF_MSIX + 16ull * p->nvec &&
		   (size == 4 || size == 8) && !(off & (size - 1))) {
		struct msix_vec *m = &p->vec[(off - OFF_MSIX) / 16];
		unsigned f = (off - OFF_MSIX) % 16;
		uint8_t raw[16];

		vmm__le_put(raw, 8, m->addr);
		vmm__le_put(raw + 8, 4, m->data);
		vmm__le_put(raw + 12, 4, m->ctrl);
		vmm__le_put(raw + f, size, v);
		m->addr = vmm__le_get(raw, 8);
		m->data = (uint32_t)vmm__le_get(raw + 8, 4);
		m->ctrl = (uint32_t)vmm__le_get(raw + 12, 4) & 1;
		msix_unmask_check(p);
	} else {
		vmm_virtio_driver_error(vd, "%u-byte write to BAR offset 0x%llx",
					size, (unsigned long long)off);
	}
	pthread_mutex_unlock(&vd->lock);
	return 0;
}

static const struct vmm_io_ops bar_ops = {
	.read = bar_read,
	.write = bar_write,
};

/* ---- mapping the BAR (cfg_lock held, vd->lock not held) ---- */

static void notify_ioeventfds(struct virtio_pci *p, uint64_t base, bool on)
{
	unsigned i;

	if (on) {
		if (!p->use_ioeventfd)
			return;
		for (i = 0; i < p->vd->nq; i++)
			if (vmm_ioeventfd_add(p->vm, VMM_SPACE_MMIO,
					      base + OFF_NOTIFY + NOTIFY_MULT * i,
					      2, 0, 0, p->vd->q[i].kick_fd) < 0)
				break;
		if (i == p->vd->nq) {
			p->ioeventfd_on = true;
			return;
		}
		vmm_virtio_log(p->vd, VMM_LOG_INFO, "no ioeventfd: notifies "
			       "exit to user space");
		p->use_ioeventfd = false;
	} else {
		if (!p->ioeventfd_on)
			return;
		i = p->vd->nq;
		p->ioeventfd_on = false;
	}
	while (i--)
		vmm_ioeventfd_remove(p->vm, VMM_SPACE_MMIO,
				     base + OFF_NOTIFY + NOTIFY_MULT * i, 2, 0, 0,
				     p->vd->q[i].kick_fd);
}

static uint64_t bar_addr(struct virtio_pci *p)
{
	return (vmm__le_get(&p->cfg[0x10], 4) & ~0xfull) |
	       (vmm__le_get(&p->cfg[0x14], 4) << 32);
}

static void bar_remap(struct virtio_pci *p)
{
	uint16_t cmd = (uint16_t)vmm__le_get(&p->cfg[0x04], 2);
	uint64_t want = (cmd & CMD_MEM) ? bar_addr(p) : 0, end;

	if (want && (__builtin_add_overflow(want, BAR_SIZE, &end) ||
		     vmm_mem_is_ram(p->vm, want, 1)))
		want = 0; /* a probe value or on top of RAM: not decoded */
	if (want == p->mapped)
		return;
	if (p->mapped) {
		notify_ioeventfds(p, p->mapped, false);
		vmm_bus_unregister(p->vm, VMM_SPACE_MMIO, p->mapped);
		p->mapped = 0;
	}
	if (want) {
		if (vmm_bus_register(p->vm, VMM_SPACE_MMIO, want, BAR_SIZE,
				     &bar_ops, p, p->vd->name) == 0) {
			p->mapped = want;
			notify_ioeventfds(p, want, true);
		} else {
			vmm_virtio_driver_error(p->vd, "BAR0 at 0x%llx overlaps "
						"another device; not mapped",
						(unsigned long long)want);
		}
	}
	pthread_mutex_lock(&p->vd->lock);
	p->vd->stats.mmio_base = p->mapped;
	p->vd->stats.ioeventfd = p->ioeventfd_on;
	pthread_mutex_unlock(&p->vd->lock);
}

/* ---- configuration space ---- */

static uint32_t pci_cfg_read(void *opaque, uint16_t off, unsigned size)
{
	struct virtio_pci *p = opaque;
	uint32_t v;

	if (off >= 256 || size > 256u - off)
		return 0xffffffffu;
	pthread_mutex_lock(&p->cfg_lock);
	v = (uint32_t)vmm__le_get(&p->cfg[off], size);
	pthread_mutex_unlock(&p->cfg_lock);
	return v;
}

static void pci_cfg_write(void *opaque, uint16_t off, uint32_t v,
			  unsigned size)
{
	struct virtio_pci *p = opaque;
	uint16_t ctrl, cmd;

	if (off >= 256 || size > 256u - off)
		return;
	pthread_mutex_lock(&p->cfg_lock);
	for (unsigned i = 0; i < size; i++, v >>= 8) {
		uint8_t m = p->wmask[off + i];
		p->cfg[off + i] = (uint8_t)((p->cfg[off + i] & ~m) | (v & m));
	}
	cmd = (uint16_t)vmm__le_get(&p->cfg[0x04], 2);
	ctrl = (uint16_t)vmm__le_get(&p->cfg[CAP_MSIX + 2], 2);
	pthread_mutex_lock(&p->vd->lock);
	p->intx_disabled = cmd & CMD_INTX_DISABLE;
	p->msix_on = ctrl & MSIX_ENABLE;
	p->msix_masked = ctrl & MSIX_MASKALL;
	intx_update(p);
	msix_unmask_check(p);
	pthread_mutex_unlock(&p->vd->lock);
	if (off < 0x18 && off + size > 0x04)
		bar_remap(p);
	pthread_mutex_unlock(&p->cfg_lock);
}

static void put_cap(struct virtio_pci *p, uint8_t at, uint8_t next,
		    uint8_t len, uint8_t type, uint32_t offset, uint32_t length)
{
	uint8_t *c = &p->cfg[at];

	c[0] = PCI_CAP_ID_VNDR;
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = 0;    /* BAR0 */
	vmm__le_put(c + 8, 4, offset);
	vmm__le_put(c + 12, 4, length);
}

static void pci_cfg_init(struct virtio_pci *p)
{
	uint32_t id = p->vd->ops->device_id;
	uint64_t mask = ~(BAR_SIZE - 1);

	vmm__le_put(&p->cfg[0x00], 2, 0x1af4);
	vmm__le_put(&p->cfg[0x02], 2, 0x1040 + id);
	vmm__le_put(&p->cfg[0x06], 2, 0x0010); /* capabilities list */
	p->cfg[0x08] = 1;                      /* revision: modern */
	if (id < 5)
		memcpy(&p->cfg[0x09], class_of[id], 3);
	vmm__le_put(&p->cfg[0x10], 4, 0x4);    /* 64-bit memory BAR */
	vmm__le_put(&p->cfg[0x2c], 2, 0x1af4);
	vmm__le_put(&p->cfg[0x2e], 2, 0x40 + id);
	p->cfg[0x34] = CAP_COMMON;
	p->cfg[0x3c] = p->irq >= 0 ? (uint8_t)p->irq : 0xff;
	p->cfg[0x3d] = p->irq >= 0 ? 1 : 0;    /* INTA# */

	vmm__le_put(&p->wmask[0x04], 2, CMD_MEM | CMD_MASTER | CMD_INTX_DISABLE);
	vmm__le_put(&p->wmask[0x10], 4, (uint32_t)mask & ~0xfu);
	vmm__le_put(&p->wmask[0x14], 4, 0xffffffffu);
	p->wmask[0x3c] = 0xff;

	put_cap(p, CAP_COMMON, CAP_NOTIFY, 16, VIRTIO_PCI_CAP_COMMON_CFG,
		OFF_COMMON, 0x40);
	put_cap(p, CAP_NOTIFY, CAP_ISR, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, OFF_NOTIFY,
		NOTIFY_MULT * p->vd->nq);
	vmm__le_put(&p->cfg[CAP_NOTIFY + 16], 4, NOTIFY_MULT);
	put_cap(p, CAP_ISR, CAP_DEVICE, 16, VIRTIO_PCI_CAP_ISR_CFG, OFF_ISR, 1);
	put_cap(p, CAP_DEVICE, CAP_MSIX, 16, VIRTIO_PCI_CAP_DEVICE_CFG, OFF_DEVICE,
		p->vd->ops->config_size ? p->vd->ops->config_size : 4);
	/* MSI-X: table and PBA in BAR0 */
	p->cfg[CAP_MSIX] = PCI_CAP_ID_MSIX;
	p->cfg[CAP_MSIX + 1] = 0;
	vmm__le_put(&p->cfg[CAP_MSIX + 2], 2, p->nvec - 1);
	vmm__le_put(&p->cfg[CAP_MSIX + 4], 4, OFF_MSIX);
	vmm__le_put(&p->cfg[CAP_MSIX + 8], 4, OFF_PBA);
	vmm__le_put(&p->wmask[CAP_MSIX + 2], 2, MSIX_ENABLE | MSIX_MASKALL);
}


/* ---- snapshot state, version 1 (docs/snapshot-format.md) ----
 * u32 transport (2 = pci), the virtio core state (state.c), then the PCI
 * function: u16 command, u32 BAR0 low, u32 BAR0 high, u8 interrupt line,
 * u16 MSI-X message control, u32 vector count, per vector u64 address,
 * u32 data, u32 vector control, u8 pending.  Restore maps the BAR where it
 * was (bus range and notify ioeventfds) and routes the vectors' irqfds. */
#define PCI_STATE_VERSION 1
#define STATE_PCI 2

struct pci_saved {
	struct vmm__virtio_saved core;
	uint16_t cmd, msix_ctrl;
	uint32_t bar_lo, bar_hi;
	uint8_t intline;
	struct msix_vec vec[MAX_VEC];
};

/* cfg_lock and vd->lock held */
static void pci_put(struct virtio_pci *p, struct vmm_sbuf *b)
{
	vmm__sb_u32(b, STATE_PCI);
	vmm__virtio_save_core(p->vd, b);
	vmm__sb_u16(b, (uint16_t)vmm__le_get(&p->cfg[0x04], 2));
	vmm__sb_u32(b, (uint32_t)vmm__le_get(&p->cfg[0x10], 4));
	vmm__sb_u32(b, (uint32_t)vmm__le_get(&p->cfg[0x14], 4));
	vmm__sb_u8(b, p->cfg[0x3c]);
	vmm__sb_u16(b, (uint16_t)vmm__le_get(&p->cfg[CAP_MSIX + 2], 2));
	vmm__sb_u32(b, p->nvec);
	for (unsigned v = 0; v < p->nvec; v++) {
		vmm__sb_u64(b, p->vec[v].addr);
		vmm__sb_u32(b, p->vec[v].data);
		vmm__sb_u32(b, p->vec[v].ctrl);
		vmm__sb_u8(b, p->vec[v].pending);
	}
}

static int pci_save(void *priv, struct vmm_sbuf *b)
{
	struct virtio_pci *p = priv;

	pthread_mutex_lock(&p->cfg_lock);
	pthread_mutex_lock(&p->vd->lock);
	vmm__virtio_freeze(p->vd);
	pci_put(p, b);
	pthread_mutex_unlock(&p->vd->lock);
	pthread_mutex_unlock(&p->cfg_lock);
	return vmm__sb_error(b);
}

static void pci_state_resume(void *priv)
{
	struct virtio_pci *p = priv;

	pthread_mutex_lock(&p->vd->lock);
	vmm__virtio_thaw(p->vd);
	pthread_mutex_unlock(&p->vd->lock);
}

/*
 * cfg_lock held.  Is @r exactly what pci_save() would write now?  Then
 * @s gets the current state and the restore applies it unchecked, as
 * mmio_same() (mmio.c) says why.
 */
static bool pci_same(struct virtio_pci *p, const struct vmm_sreader *r,
		     struct pci_saved *s)
{
	struct vmm_sbuf b;
	bool same;

	vmm__sb_init(&b, p->vm);
	pthread_mutex_lock(&p->vd->lock);
	pci_put(p, &b);
	same = vmm__sb_equals_rest(&b, r);
	if (same) {
		vmm__virtio_capture_core(p->vd, &s->core);
		s->cmd = (uint16_t)vmm__le_get(&p->cfg[0x04], 2);
		s->bar_lo = (uint32_t)vmm__le_get(&p->cfg[0x10], 4);
		s->bar_hi = (uint32_t)vmm__le_get(&p->cfg[0x14], 4);
		s->intline = p->cfg[0x3c];
		s->msix_ctrl = (uint16_t)vmm__le_get(&p->cfg[CAP_MSIX + 2], 2);
		for (unsigned v = 0; v < p->nvec; v++) {
			s->vec[v].addr = p->vec[v].addr;
			s->vec[v].data = p->vec[v].data;
			s->vec[v].ctrl = p->vec[v].ctrl;
			s->vec[v].pending = p->vec[v].pending;
		}
	}
	pthread_mutex_unlock(&p->vd->lock);
	vmm__sb_free(&b);
	return same;
}

/* Writable bits only: what differs from @cur outside @wmask is invalid. */
static bool fits(const uint8_t *cur, const uint8_t *wmask, uint32_t v,
		 unsigned n)
{
	for (unsigned i = 0; i < n; i++, v >>= 8)
		if (((uint8_t)v ^ cur[i]) & ~wmask[i])
			return false;
	return true;
}

/* cfg_lock held. */
static int pci_parse(struct virtio_pci *p, struct vmm_sreader *r,
		     struct pci_saved *s, char *err, size_t errlen)
{
	uint32_t nvec;

	if (vmm__sr_u32(r) != STATE_PCI) {
		snprintf(err, errlen, "%s", vmm__sr_ok(r) ? "not the state of a "
			 "virtio-pci device" : "state truncated");
		return -EINVAL;
	}
	if (vmm__virtio_parse_core(p->vd, r, p->nvec, &s->core, err, errlen))
		return -EINVAL;
	s->cmd = vmm__sr_u16(r);
	s->bar_lo = vmm__sr_u32(r);
	s->bar_hi = vmm__sr_u32(r);
	s->intline = vmm__sr_u8(r);
	s->msix_ctrl = vmm__sr_u16(r);
	nvec = vmm__sr_u32(r);
	if (vmm__sr_ok(r) && nvec != p->nvec) {
		snprintf(err, errlen, "saved with %u MSI-X vectors, this device "
			 "has %u", nvec, p->nvec);
		return -EINVAL;
	}
	for (unsigned v = 0; v < p->nvec; v++) {
		struct msix_vec *m = &s->vec[v];
		uint8_t pend;

		m->addr = vmm__sr_u64(r);
		m->data = vmm__sr_u32(r);
		m->ctrl = vmm__sr_u32(r);
		pend = vmm__sr_u8(r);
		if (vmm__sr_ok(r) && ((m->ctrl & ~1u) || pend > 1)) {
			snprintf(err, errlen, "MSI-X vector %u: control 0x%x, "
				 "pending %u", v, m->ctrl, pend);
			return -EINVAL;
		}
		m->pending = pend;
	}
	if (!vmm__sr_ok(r)) {
		snprintf(err, errlen, "state truncated");
		return -EINVAL;
	}
	if (!vmm__sr_done(r)) {
		snprintf(err, errlen, "%zu bytes after the state", vmm__sr_left(r));
		return -EINVAL;
	}
	if (!fits(&p->cfg[0x04], &p->wmask[0x04], s->cmd, 2) ||
	    !fits(&p->cfg[0x10], &p->wmask[0x10], s->bar_lo, 4) ||
	    !fits(&p->cfg[CAP_MSIX + 2], &p->wmask[CAP_MSIX + 2], s->msix_ctrl,
		  2)) {
		snprintf(err, errlen, "configuration space: command 0x%x, BAR0 "
			 "0x%x, MSI-X control 0x%x set bits the device does not "
			 "have", s->cmd, s->bar_lo, s->msix_ctrl);
		return -EINVAL;
	}
	return 0;
}

static int pci_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	struct virtio_pci *p = priv;
	struct vmm_virtio *vd = p->vd;
	struct pci_saved *s;
	char err[200] = "";
	uint64_t want;
	int ret;

	if (version != PCI_STATE_VERSION)
		return vmm__err(p->vm, -ENOTSUP, "%s: state version %u", vd->name,
				version);
	s = vmm__alloc(p->vm, sizeof(*s));
	if (!s)
		return vmm__err(p->vm, -ENOMEM, "%s: out of memory", vd->name);
	pthread_mutex_lock(&p->cfg_lock);
	if (pci_same(p, r, s))
		ret = 0; /* the device's own state: applied unchecked */
	else
		ret = pci_parse(p, r, s, err, sizeof(err));
	if (ret) {
		pthread_mutex_unlock(&p->cfg_lock);
		vmm__free(p->vm, s);
		return vmm__err(p->vm, ret, "%s: invalid saved state: %s",
				vd->name, err);
	}
	pthread_mutex_lock(&vd->lock);
	vmm__virtio_freeze(vd);
	vmm__virtio_apply_core(vd, &s->core);
	for (unsigned v = 0; v < p->nvec; v++) {
		p->vec[v].addr = s->vec[v].addr;
		p->vec[v].data = s->vec[v].data;
		p->vec[v].ctrl = s->vec[v].ctrl;
		p->vec[v].pending = s->vec[v].pending;
	}
	vmm__le_put(&p->cfg[0x04], 2, s->cmd);
	vmm__le_put(&p->cfg[0x10], 4, s->bar_lo);
	vmm__le_put(&p->cfg[0x14], 4, s->bar_hi);
	p->cfg[0x3c] = s->intline;
	vmm__le_put(&p->cfg[CAP_MSIX + 2], 2, s->msix_ctrl);
	p->intx_disabled = s->cmd & CMD_INTX_DISABLE;
	p->msix_on = s->msix_ctrl & MSIX_ENABLE;
	p->msix_masked = s->msix_ctrl & MSIX_MASKALL;
	intx_update(p);
	pthread_mutex_unlock(&vd->lock);

	/* the BAR where the driver put it: bus range, notify ioeventfds */
	bar_remap(p);
	want = (s->cmd & CMD_MEM) ? bar_addr(p) : 0;

	pthread_mutex_lock(&vd->lock);
	if (p->msix_on)
		for (unsigned v = 0; v < p->nvec; v++)
			if (p->vec[v].addr)
				msix_route(p, v);
	msix_unmask_check(p);
	vmm__virtio_thaw(vd);
	pthread_mutex_unlock(&vd->lock);
	pthread_mutex_unlock(&p->cfg_lock);
	vmm__free(p->vm, s);
	if (want && p->mapped != want && !vmm_mem_is_ram(p->vm, want, 1) &&
	    want + BAR_SIZE > want)
		return vmm__err(p->vm, -EBUSY, "%s: BAR0 at 0x%llx cannot be "
				"mapped (another device there?)", vd->name,
				(unsigned long long)want);
	return 0;
}

int vmm__virtio_pci_attach(vmm_vm *vm, struct vmm_virtio *vd,
			   const struct vmm_virtio_config *cfg,
			   void (*be_destroy)(void *be), vmm_dev **out)
{
	static const struct vmm_pci_ops ops = {
		.cfg_read = pci_cfg_read,
		.cfg_write = pci_cfg_write,
	};
	struct virtio_pci *p;
	vmm_dev *dev;
	int ret;

	if (!cfg->pci_host || cfg->irq < -1 || cfg->irq > 255) {
		ret = vmm__err(vm, -EINVAL, "%s: no PCI host or bad irq %d",
			       vd->name, cfg->irq);
		goto err_vd;
	}
	p = vmm__alloc(vm, sizeof(*p));
	if (!p) {
		ret = vmm__err(vm, -ENOMEM, "%s: out of memory", vd->name);
		goto err_vd;
	}
	p->vm = vm;
	p->vd = vd;
	p->be_destroy = be_destroy;
	p->host = cfg->pci_host;
	p->irq = cfg->irq;
	p->flags = cfg->flags;
	p->nvec = vd->nq + 1;
	p->use_ioeventfd = !(cfg->flags & VMM_VIRTIO_NO_IOEVENTFD) &&
			   (vmm_vm_caps(vm) & VMM_CAP_IOEVENTFD);
	p->use_irqfd = !(cfg->flags & VMM_VIRTIO_NO_IRQFD) &&
		       (vmm_vm_caps(vm) & VMM_CAP_IRQFD);
	for (unsigned i = 0; i < MAX_VEC; i++) {
		p->vec[i].ctrl = 1; /* masked at reset */
		p->vec[i].fd = -1;
	}
	if (p->use_irqfd) {
		for (unsigned i = 0; i < p->nvec; i++) {
			p->vec[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
			if (p->vec[i].fd < 0) {
				ret = vmm__err(vm, -errno, "%s: eventfd: %s",
					       vd->name, strerror(errno));
				goto err_p;
			}
		}
	}
	pthread_mutex_init(&p->cfg_lock, NULL);
	vd->t = &pci_transport;
	vd->t_priv = p;
	vd->stats.irqfd = p->use_irqfd;
	pci_cfg_init(p);
	ret = vmm_pci_add(cfg->pci_host, cfg->pci_slot, &ops, p);
	if (ret < 0)
		goto err_lock;
	p->slot = ret;
	snprintf(vd->name, sizeof(vd->name), "virtio-%s@pci:%02x",
		 vd->ops->name, p->slot);
	dev = vmm__dev_new(vm, vd->name, p, vmm__virtio_pci_destroy);
	if (!dev) {
		ret = -ENOMEM;
		vmm_pci_remove(cfg->pci_host, p->slot);
		goto err_lock;
	}
	/* device model (models.h): a split device, shareable, migratable */
	vmm__dev_set_model(dev, VMM_MODEL_SPLIT, 0);
	if (!vd->ops->no_state) {
		char type[24];

		/* identified by its slot: attach it to the same one again */
		snprintf(type, sizeof(type), "virtio-%s-pci", vd->ops->name);
		if (vmm__dev_set_state_ops(dev, type, VMM_DEV_SPACE_NONE,
					   (uint64_t)p->slot, PCI_STATE_VERSION,
					   pci_save, pci_restore) == 0)
			dev->state_resume = pci_state_resume;
	}
	*out = dev;
	return 0;

err_lock:
	pthread_mutex_destroy(&p->cfg_lock);
err_p:
	for (unsigned i = 0; i < MAX_VEC; i++)
		if (p->vec[i].fd >= 0)
			close(p->vec[i].fd);
	vmm__free(vm, p);
err_vd:
	vmm_virtio_fini(vd);
	be_destroy(vd->be);
	vmm__free(vm, vd);
	return ret;
}

void vmm__virtio_pci_destroy(void *priv)
{
	struct virtio_pci *p = priv;
	struct vmm_virtio *vd = p->vd;
	vmm_vm *vm = p->vm;

	vmm_pci_remove(p->host, p->slot);
	if (p->mapped) {
		notify_ioeventfds(p, p->mapped, false);
		vmm_bus_unregister(vm, VMM_SPACE_MMIO, p->mapped);
	}
	vmm_virtio_fini(vd);
	for (unsigned i = 0; i < MAX_VEC; i++) {
		if (p->vec[i].routed)
			vmm_irqfd_remove(vm, p->vec[i].fd);
		if (p->vec[i].fd >= 0)
			close(p->vec[i].fd);
	}
	if (p->irq >= 0 && p->level)
		vmm_irq_set_line(vm, (uint32_t)p->irq, 0);
	pthread_mutex_destroy(&p->cfg_lock);
	p->be_destroy(vd->be);
	vmm__free(vm, vd);
	vmm__free(vm, p);
}

struct vmm_virtio *vmm__virtio_pci_of(vmm_dev *dev)
{
	if (!dev || dev->destroy != vmm__virtio_pci_destroy)
		return NULL;
	return ((struct virtio_pci *)dev->priv)->vd;
}
