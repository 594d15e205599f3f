/* SPDX-License-Identifier: MIT */
/*
 * codec.c - field-by-field little-endian encoding of the sections whose
 * content is a C struct: vCPU state, interrupt controllers, VM config,
 * device headers.  One function per struct walks the fields in the
 * documented order for both directions, so writer and reader cannot drift
 * apart; the struct's in-memory layout never reaches the file.
 */
#include "migrate/snap.h"

#include <stdio.h>
#include <string.h>

int vmm__snap_errf(char *err, size_t len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && len) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

/* One walker, two directions: @w set = encode, else decode from @r. */
struct codec {
	struct vmm_sbuf *w;
	struct vmm_sreader *r;
};

static void c8(struct codec *c, uint8_t *v)
{
	if (c->w)
		vmm__sb_u8(c->w, *v);
	else
		*v = vmm__sr_u8(c->r);
}

static void c16(struct codec *c, uint16_t *v)
{
	if (c->w)
		vmm__sb_u16(c->w, *v);
	else
		*v = vmm__sr_u16(c->r);
}

static void c32(struct codec *c, uint32_t *v)
{
	if (c->w)
		vmm__sb_u32(c->w, *v);
	else
		*v = vmm__sr_u32(c->r);
}

static void c64(struct codec *c, uint64_t *v)
{
	if (c->w)
		vmm__sb_u64(c->w, *v);
	else
		*v = vmm__sr_u64(c->r);
}

static void cbytes(struct codec *c, void *v, size_t n)
{
	if (c->w)
		vmm__sb_bytes(c->w, v, n);
	else
		vmm__sr_bytes(c->r, v, n);
}

static void c_seg(struct codec *c, struct vmm_segment *s)
{
	c64(c, &s->base);
	c32(c, &s->limit);
	c16(c, &s->selector);
	c8(c, &s->type);
	c8(c, &s->s);
	c8(c, &s->dpl);
	c8(c, &s->present);
	c8(c, &s->avl);
	c8(c, &s->l);
	c8(c, &s->db);
	c8(c, &s->g);
	c8(c, &s->unusable);
}

static void c_dt(struct codec *c, struct vmm_dtable *d)
{
	c64(c, &d->base);
	c16(c, &d->limit);
}

/* vCPU state layout v1 (docs/snapshot-format.md, "VCPU"). */
static void c_cpu(struct codec *c, struct vmm_cpu_state *st)
{
	struct vmm_msrs *m = &st->msr;
	struct vmm_fpu *f = &st->fpu;
	struct vmm_events *e = &st->events;

	c32(c, &st->mp_state);
	for (int i = 0; i < VMM_NR_GPRS; i++)
		c64(c, &st->gpr[i]);
	c64(c, &st->rip);
	c64(c, &st->rflags);
	for (int i = 0; i < VMM_NR_SREGS; i++)
		c_seg(c, &st->seg[i]);
	c_dt(c, &st->gdtr);
	c_dt(c, &st->idtr);
	c64(c, &st->cr0);
	c64(c, &st->cr2);
	c64(c, &st->cr3);
	c64(c, &st->cr4);
	c64(c, &st->cr8);
	for (int i = 0; i < 4; i++)
		c64(c, &st->dr[i]);
	c64(c, &st->dr6);
	c64(c, &st->dr7);
	c64(c, &m->efer);
	c64(c, &m->star);
	c64(c, &m->lstar);
	c64(c, &m->cstar);
	c64(c, &m->sfmask);
	c64(c, &m->kernel_gs_base);
	c64(c, &m->sysenter_cs);
	c64(c, &m->sysenter_esp);
	c64(c, &m->sysenter_eip);
	c64(c, &m->tsc);
	c64(c, &m->tsc_aux);
	c64(c, &m->tsc_deadline);
	c64(c, &m->pat);
	c64(c, &m->apic_base);
	c64(c, &m->misc_enable);
	c64(c, &m->spec_ctrl);
	c16(c, &f->fcw);
	c16(c, &f->fsw);
	c8(c, &f->ftw);
	c16(c, &f->fop);
	c64(c, &f->fip);
	c64(c, &f->fdp);
	c32(c, &f->mxcsr);
	c32(c, &f->mxcsr_mask);
	cbytes(c, f->st, sizeof(f->st));
	cbytes(c, f->xmm, sizeof(f->xmm));
	cbytes(c, f->ymmh, sizeof(f->ymmh));
	c64(c, &f->xcr0);
	c8(c, &e->exception_injected);
	c8(c, &e->exception_pending);
	c8(c, &e->exception_nr);
	c8(c, &e->exception_has_error);
	c32(c, &e->exception_error);
	c64(c, &e->exception_payload);
	c8(c, &e->interrupt_injected);
	c8(c, &e->interrupt_nr);
	c8(c, &e->interrupt_soft);
	c8(c, &e->interrupt_shadow);
	c8(c, &e->nmi_injected);
	c8(c, &e->nmi_pending);
	c8(c, &e->nmi_masked);
	c8(c, &e->smi_pending);
	cbytes(c, st->lapic, sizeof(st->lapic));
}

void vmm__snap_put_cpu(struct vmm_sbuf *b, unsigned index,
		       const struct vmm_cpu_state *st)
{
	struct codec c = { .w = b };

	vmm__sb_u32(b, VMM_CPU_STATE_VERSION);
	vmm__sb_u32(b, index);
	c_cpu(&c, (struct vmm_cpu_state *)st);
}

int vmm__snap_get_cpu(const void *p, size_t len, unsigned *index,
		      struct vmm_cpu_state *st, char *err, size_t errlen)
{
	struct vmm_sreader r;
	struct codec c = { .r = &r };
	uint32_t ver;

	vmm__sr_init(&r, p, len);
	ver = vmm__sr_u32(&r);
	*index = vmm__sr_u32(&r);
	if (vmm__sr_ok(&r) && ver != VMM_CPU_STATE_VERSION)
		return vmm__snap_errf(err, errlen, -ENOTSUP,
				      "vCPU state version %u, this libvmm knows %u",
				      ver, VMM_CPU_STATE_VERSION);
	memset(st, 0, sizeof(*st));
	c_cpu(&c, st);
	if (!vmm__sr_done(&r))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "vCPU section is %zu bytes, layout v%u needs %zu",
				      len, ver, r.off);
	st->version = VMM_CPU_STATE_VERSION;
	if (*index >= VMM_MAX_VCPUS)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "vCPU index %u out of range", *index);
	if (st->mp_state > VMM_MP_SIPI_RECEIVED)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "vCPU %u: bad mp_state %u", *index,
				      st->mp_state);
	return 0;
}

bool vmm__snap_xstate_used(const struct vmm_cpu_xstate *xs)
{
	return ((xs->valid & VMM_XSTATE_PKRU) && xs->pkru) ||
	       ((xs->valid & VMM_XSTATE_PKRS) && xs->pkrs);
}

void vmm__snap_put_xstate(struct vmm_sbuf *b, unsigned index,
			  const struct vmm_cpu_xstate *xs)
{
	vmm__sb_u32(b, index);
	vmm__sb_u64(b, xs->valid);
	vmm__sb_u32(b, xs->pkru);
	vmm__sb_u32(b, xs->pkrs);
}

int vmm__snap_get_xstate(const void *p, size_t len, unsigned *index,
			 struct vmm_cpu_xstate *xs, char *err, size_t errlen)
{
	const uint8_t *b = p;

	if (len != SEC_VCPUX_SIZE)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "VCPUX section is %zu bytes, layout v1 "
				      "needs %u", len, SEC_VCPUX_SIZE);
	memset(xs, 0, sizeof(*xs));
	xs->struct_size = sizeof(*xs);
	*index = vmm__le_get32(b);
	xs->valid = vmm__le_get64(b + 4);
	xs->pkru = vmm__le_get32(b + 12);
	xs->pkrs = vmm__le_get32(b + 16);
	if (*index >= VMM_MAX_VCPUS)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "VCPUX: vCPU index %u out of range",
				      *index);
	if ((xs->valid & ~VMM_XSTATE_ALL) ||
	    (!(xs->valid & VMM_XSTATE_PKRS) && xs->pkrs))
		return vmm__snap_errf(err, errlen, -ENOTSUP,
				      "vCPU %u: extended state 0x%llx this "
				      "libvmm does not know", *index,
				      (unsigned long long)xs->valid);
	return 0;
}

static void c_pic(struct codec *c, struct vmm_pic_state *p)
{
	c8(c, &p->irr);
	c8(c, &p->isr);
	c8(c, &p->imr);
	c8(c, &p->last_irr);
	c8(c, &p->vector_base);
	c8(c, &p->priority_add);
	c8(c, &p->read_isr);
	c8(c, &p->poll);
	c8(c, &p->special_mask);
	c8(c, &p->init_state);
	c8(c, &p->auto_eoi);
	c8(c, &p->rotate_on_auto_eoi);
	c8(c, &p->special_fully_nested);
	c8(c, &p->icw4_needed);
	c8(c, &p->elcr);
	c8(c, &p->elcr_mask);
}

static void c_irq(struct codec *c, struct vmm_irqchip_state *s)
{
	c32(c, &s->valid);
	for (int i = 0; i < 2; i++)
		c_pic(c, &s->pic[i]);
	c64(c, &s->ioapic.base);
	c32(c, &s->ioapic.id);
	c32(c, &s->ioapic.ioregsel);
	c32(c, &s->ioapic.irr);
	for (int i = 0; i < VMM_IOAPIC_PINS; i++)
		c64(c, &s->ioapic.redir[i]);
	c32(c, &s->pit.flags);
	for (int i = 0; i < 3; i++) {
		struct vmm_pit_channel *ch = &s->pit.ch[i];
		c32(c, &ch->count);
		c16(c, &ch->latched_count);
		c8(c, &ch->count_latched);
		c8(c, &ch->status_latched);
		c8(c, &ch->status);
		c8(c, &ch->read_state);
		c8(c, &ch->write_state);
		c8(c, &ch->write_latch);
		c8(c, &ch->rw_mode);
		c8(c, &ch->mode);
		c8(c, &ch->bcd);
		c8(c, &ch->gate);
		c64(c, (uint64_t *)&ch->load_age_ns);
	}
	c64(c, &s->clock_ns);
}

void vmm__snap_put_irqchip(struct vmm_sbuf *b,
			   const struct vmm_irqchip_state *st)
{
	struct codec c = { .w = b };

	vmm__sb_u32(b, VMM_IRQCHIP_STATE_VERSION);
	c_irq(&c, (struct vmm_irqchip_state *)st);
}

int vmm__snap_get_irqchip(const void *p, size_t len,
			  struct vmm_irqchip_state *st, char *err,
			  size_t errlen)
{
	struct vmm_sreader r;
	struct codec c = { .r = &r };
	uint32_t ver;

	vmm__sr_init(&r, p, len);
	ver = vmm__sr_u32(&r);
	if (vmm__sr_ok(&r) && ver != VMM_IRQCHIP_STATE_VERSION)
		return vmm__snap_errf(err, errlen, -ENOTSUP,
				      "irqchip state version %u, this libvmm knows %u",
				      ver, VMM_IRQCHIP_STATE_VERSION);
	memset(st, 0, sizeof(*st));
	c_irq(&c, st);
	if (!vmm__sr_done(&r))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "irqchip section has the wrong size (%zu)",
				      len);
	st->version = VMM_IRQCHIP_STATE_VERSION;
	if (st->valid & ~(VMM_IRQCHIP_PIC | VMM_IRQCHIP_IOAPIC |
			  VMM_IRQCHIP_PIT | VMM_IRQCHIP_CLOCK))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "irqchip: unknown parts 0x%x", st->valid);
	for (int i = 0; i < 3; i++)
		if ((st->pit.ch[i].mode > 5 && st->pit.ch[i].mode != 0xff) ||
		    st->pit.ch[i].rw_mode > 3 ||
		    st->pit.ch[i].count > 0x10000 ||
		    st->pit.ch[i].load_age_ns < 0)
			return vmm__snap_errf(err, errlen, -EBADMSG,
					      "irqchip: bad PIT channel %d", i);
	for (int i = 0; i < 2; i++)
		if (st->pic[i].init_state > 3)
			return vmm__snap_errf(err, errlen, -EBADMSG,
					      "irqchip: bad PIC %d state", i);
	return 0;
}

#define CFG_KNOWN_FLAGS                                                        \
	(VMM_CFG_NO_IRQCHIP | VMM_CFG_NO_PIT | VMM_CFG_IGNORE_UNHANDLED_IO |   \
	 VMM_CFG_NO_DEFAULT_RAM)

void vmm__snap_put_config(struct vmm_sbuf *b, const struct snap_config *c)
{
	vmm__sb_u32(b, c->ncpus);
	vmm__sb_u32(b, c->vm_flags);
	vmm__sb_u32(b, c->backend);
	vmm__sb_u32(b, c->nregions);
	vmm__sb_u64(b, c->caps);
	for (uint32_t i = 0; i < c->nregions; i++) {
		vmm__sb_u64(b, c->regions[i].gpa);
		vmm__sb_u64(b, c->regions[i].size);
		vmm__sb_u32(b, c->regions[i].flags);
		vmm__sb_u32(b, 0);
	}
	vmm__sb_u32(b, c->cpu_model);
}

int vmm__snap_get_config(const void *p, size_t len, struct snap_config *c,
			 char *err, size_t errlen)
{
	struct vmm_sreader r;
	uint64_t total = 0, prev_end = 0;

	memset(c, 0, sizeof(*c));
	vmm__sr_init(&r, p, len);
	c->ncpus = vmm__sr_u32(&r);
	c->vm_flags = vmm__sr_u32(&r);
	c->backend = vmm__sr_u32(&r);
	c->nregions = vmm__sr_u32(&r);
	c->caps = vmm__sr_u64(&r);
	if (!vmm__sr_ok(&r))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "config section too short (%zu bytes)", len);
	if (c->ncpus < 1 || c->ncpus > VMM_MAX_VCPUS)
		return vmm__snap_errf(err, errlen, -EFBIG,
				      "config: %u vCPUs (1..%d)", c->ncpus,
				      VMM_MAX_VCPUS);
	if (c->nregions > SNAP_MAX_REGIONS)
		return vmm__snap_errf(err, errlen, -EFBIG,
				      "config: %u memory regions (max %d)",
				      c->nregions, SNAP_MAX_REGIONS);
	if (c->vm_flags & ~CFG_KNOWN_FLAGS)
		return vmm__snap_errf(err, errlen, -ENOTSUP,
				      "config: unknown VM flags 0x%x",
				      c->vm_flags & ~CFG_KNOWN_FLAGS);
	/* 0 (AUTO) marks a VM of no real backend, e.g. a unit test's */
	if (c->backend > VMM_BACKEND_SOFT)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "config: unknown backend %u", c->backend);
	for (uint32_t i = 0; i < c->nregions; i++) {
		struct snap_region *g = &c->regions[i];
		uint64_t end;

		g->gpa = vmm__sr_u64(&r);
		g->size = vmm__sr_u64(&r);
		g->flags = vmm__sr_u32(&r);
		(void)vmm__sr_u32(&r);
		if (!vmm__sr_ok(&r))
			break;
		if (!g->size || g->gpa % SNAP_PAGE || g->size % SNAP_PAGE ||
		    __builtin_add_overflow(g->gpa, g->size, &end) ||
		    end > (1ull << 52) || (i && g->gpa < prev_end) ||
		    (g->flags & ~VMM_MEM_READONLY))
			return vmm__snap_errf(err, errlen, -EBADMSG,
					      "config: bad memory region %u (0x%llx+0x%llx flags 0x%x)",
					      i, (unsigned long long)g->gpa,
					      (unsigned long long)g->size,
					      g->flags);
		prev_end = end;
		total += g->size;
		if (total > SNAP_MAX_MEM)
			return vmm__snap_errf(err, errlen, -EFBIG,
					      "config: %llu+ bytes of guest memory, limit %llu",
					      (unsigned long long)total,
					      (unsigned long long)SNAP_MAX_MEM);
	}
	/* the CPU model came later: absent in older snapshots */
	if (vmm__sr_ok(&r) && vmm__sr_left(&r) == 4) {
		c->cpu_model = vmm__sr_u32(&r);
		if (c->cpu_model > VMM_CPU_MAX)
			return vmm__snap_errf(err, errlen, -EBADMSG,
					      "config: unknown CPU model %u",
					      c->cpu_model);
	}
	if (!vmm__sr_done(&r))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "config section size %zu does not match %u regions",
				      len, c->nregions);
	return 0;
}

void vmm__snap_dev_id(char *buf, size_t len, const char *type,
		      unsigned space, uint64_t base)
{
	snprintf(buf, len, "%s@%s:0x%llx", type,
		 space == VMM_SPACE_PIO ? "pio" :
		 space == VMM_SPACE_MMIO ? "mmio" : "none",
		 (unsigned long long)base);
}

void vmm__snap_put_device(struct vmm_sbuf *b, const vmm_dev *dev,
			  const struct vmm_sbuf *state)
{
	size_t tl = strlen(dev->state_type);

	vmm__sb_u8(b, dev->state_space);
	vmm__sb_u8(b, (uint8_t)tl);
	vmm__sb_u16(b, 0);
	vmm__sb_u32(b, dev->state_version);
	vmm__sb_u64(b, dev->state_base);
	vmm__sb_bytes(b, dev->state_type, tl);
	vmm__sb_zeros(b, VMM_ALIGN_UP(tl, (size_t)8) - tl);
	vmm__sb_bytes(b, state->p, state->len);
}

int vmm__snap_get_device(const uint8_t *p, size_t len, struct snap_dev *d,
			 char *err, size_t errlen)
{
	struct vmm_sreader r;
	size_t tl;

	memset(d, 0, sizeof(*d));
	vmm__sr_init(&r, p, len);
	d->space = vmm__sr_u8(&r);
	tl = vmm__sr_u8(&r);
	(void)vmm__sr_u16(&r);
	d->version = vmm__sr_u32(&r);
	d->base = vmm__sr_u64(&r);
	if (!vmm__sr_ok(&r) || tl == 0 || tl >= sizeof(d->type) ||
	    (d->space != VMM_SPACE_PIO && d->space != VMM_SPACE_MMIO &&
	     d->space != VMM_DEV_SPACE_NONE) || d->version == 0)
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "device section: bad header");
	vmm__sr_bytes(&r, d->type, tl);
	(void)vmm__sr_take(&r, VMM_ALIGN_UP(tl, (size_t)8) - tl);
	if (!vmm__sr_ok(&r))
		return vmm__snap_errf(err, errlen, -EBADMSG,
				      "device section: truncated id");
	for (size_t i = 0; i < tl; i++)
		if (d->type[i] < 0x21 || d->type[i] > 0x7e)
			return vmm__snap_errf(err, errlen, -EBADMSG,
					      "device section: bad type name");
	d->data = p + r.off;
	d->len = len - r.off;
	return 0;
}
