// SPDX-License-Identifier: MIT
/*
 * irqconv.c - the software irqchip's PIC pair, IOAPIC and PIT converted to
 * and from the backend-neutral struct vmm_irqchip_state, with the field
 * meanings of the KVM backend (src/cpu/kvm/kvm_irqchip.c, i.e. the
 * kernel's kvm_pic_state / kvm_ioapic_state / kvm_pit_channel_state), so
 * that a snapshot taken on one backend restores on the other.
 *
 * Both directions go through the chip's own save image (irqstate.c): get
 * saves it and translates the PIC/IOAPIC/PIT parts; set saves the current
 * image, overwrites those parts and restores it, which range-checks the
 * result and re-derives the outputs (cascade, IOAPIC pin 0, PIT timer)
 * under the chip's lock.  The local APICs are not part of struct
 * vmm_irqchip_state (they travel with the vCPU state) and are written back
 * as they were; the caller re-sends the vCPUs' TSC offsets afterwards (the
 * image stores the TSC at save time, so the restore shifts it by the few
 * microseconds between the two calls).
 *
 * What does not map one to one:
 *   - PIC: ICW3, single mode and LTIM are not in vmm_pic_state: get drops
 *     them, set keeps the chip's current values.
 *   - The per-source input levels (several devices on one GSI) are not in
 *     the neutral state, only the resulting line level (PIC last_irr, the
 *     IOAPIC irr); set attributes a high line to the GSI's own source.
 *     KVM does not restore its per-source levels either.
 *   - IOAPIC id: the 4-bit ID as KVM keeps it (register 0 bits 27:24),
 *     the soft IOAPIC keeps the register value.
 *   - IOAPIC irr: the soft IOAPIC keeps input levels only (an edge on a
 *     masked pin is not remembered), so irr = the input levels.
 *   - PIT: KVM derives the counter from the load time; the soft PIT counts
 *     ticks while its gate allows.  get reports the elapsed ticks as
 *     load_age_ns; set restarts the channel with that age.  mode 0xff
 *     (never programmed) is the soft channel's reset state.  (KVM itself
 *     reloads every count on KVM_SET_PIT2, so a restore there restarts
 *     the counters: its load age starts again from 0.)  The KVM-only
 *     HPET legacy flag and kvm-clock (VMM_IRQCHIP_CLOCK) have no soft
 *     counterpart: get never sets them, set ignores them.
 */
#include "irq/irq_impl.h"

#include <stdlib.h>

#define PIT_NS(ticks)                                                          \
	((uint64_t)(((unsigned __int128)(ticks) * 1000000000u +                \
		     SOFT_IRQCHIP_PIT_HZ - 1) / SOFT_IRQCHIP_PIT_HZ))

/* KVM's read/write byte-sequencing states */
#define RW_STATE_LSB 1
#define RW_STATE_MSB 2
#define RW_STATE_WORD0 3
#define RW_STATE_WORD1 4

static void *image(struct soft_irqchip *chip, int *size)
{
	int n = soft_irqchip_save(chip, NULL, 0);
	void *buf;

	*size = n;
	buf = vmm__alloc(chip->vm, (size_t)n);
	if (!buf)
		return NULL;
	if (soft_irqchip_save(chip, buf, (size_t)n) != n) {
		vmm__free(chip->vm, buf);
		return NULL;
	}
	return buf;
}

static void picc_out(struct vmm_pic_state *d, const struct soft_pic_state *s,
		    uint8_t elcr_mask)
{
	d->irr = s->irr;
	d->isr = s->isr;
	d->imr = s->imr;
	d->last_irr = s->lines;
	d->vector_base = s->base;
	d->priority_add = (uint8_t)((s->lowest + 1) & 7);
	d->read_isr = !!(s->flags & SOFT_PIC_READ_ISR);
	d->poll = !!(s->flags & SOFT_PIC_POLL);
	d->special_mask = !!(s->flags & SOFT_PIC_SMM);
	d->init_state = s->init_step ? (uint8_t)(s->init_step - 1) : 0;
	d->auto_eoi = !!(s->flags & SOFT_PIC_AEOI);
	d->rotate_on_auto_eoi = !!(s->flags & SOFT_PIC_ROTATE_AEOI);
	d->special_fully_nested = !!(s->flags & SOFT_PIC_SFNM);
	d->icw4_needed = !!(s->flags & SOFT_PIC_IC4);
	d->elcr = s->elcr;
	d->elcr_mask = elcr_mask;
}

static int picc_in(struct soft_pic_state *d, const struct vmm_pic_state *s)
{
	uint16_t keep = d->flags & (SOFT_PIC_SINGLE | SOFT_PIC_LTIM);

	if (s->init_state > 3)
		return -EINVAL;
	d->irr = s->irr;
	d->isr = s->isr;
	d->imr = s->imr;
	d->lines = s->last_irr;
	d->base = s->vector_base & 0xf8;
	d->lowest = (uint8_t)((s->priority_add + 7) & 7);
	d->init_step = s->init_state ? (uint8_t)(s->init_state + 1) : 0;
	d->elcr = s->elcr;
	d->flags = keep | (s->read_isr ? SOFT_PIC_READ_ISR : 0) |
		   (s->poll ? SOFT_PIC_POLL : 0) |
		   (s->special_mask ? SOFT_PIC_SMM : 0) |
		   (s->auto_eoi ? SOFT_PIC_AEOI : 0) |
		   (s->rotate_on_auto_eoi ? SOFT_PIC_ROTATE_AEOI : 0) |
		   (s->special_fully_nested ? SOFT_PIC_SFNM : 0) |
		   (s->icw4_needed ? SOFT_PIC_IC4 : 0);
	return 0;
}

static void pitc_out(struct vmm_pit_channel *d,
		    const struct soft_pit_chan_state *s)
{
	uint16_t f = s->flags;
	uint64_t age;

	memset(d, 0, sizeof(*d));
	d->count = s->count;
	d->latched_count = s->latch;
	if (f & SOFT_PIT_CNT_LATCHED)
		d->count_latched = s->rw != 3 ? s->rw :
				   (f & SOFT_PIT_LATCH_FLIP) ? RW_STATE_MSB :
							       RW_STATE_WORD0;
	d->status_latched = !!(f & SOFT_PIT_ST_LATCHED);
	d->status = s->status;
	d->read_state = s->rw != 3 ? s->rw :
			(f & SOFT_PIT_RFLIP) ? RW_STATE_WORD1 : RW_STATE_WORD0;
	d->write_state = s->rw != 3 ? s->rw :
			 (f & SOFT_PIT_WFLIP) ? RW_STATE_WORD1 : RW_STATE_WORD0;
	d->write_latch = s->wlsb;
	d->rw_mode = s->rw;
	d->mode = (f & (SOFT_PIT_LOADED | SOFT_PIT_NULL_COUNT)) ? s->mode : 0xff;
	d->bcd = s->bcd;
	d->gate = s->gate;
	age = PIT_NS(s->ticks) + s->run_ns;
	d->load_age_ns = age > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)age;
}

static int pitc_in(struct soft_pit_chan_state *d, const struct vmm_pit_channel *s)
{
	uint32_t mod = s->bcd ? 10000 : 65536;
	uint16_t f = 0;

	if (s->gate > 1 || s->bcd > 1)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->gate = s->gate;
	if (s->mode == 0xff) { /* never programmed: the reset state */
		d->count = 65536;
		d->rw = 3;
		return 0;
	}
	if (s->mode > 5 || s->rw_mode < 1 || s->rw_mode > 3)
		return -EINVAL;
	d->mode = s->mode;
	d->rw = s->rw_mode;
	d->bcd = s->bcd;
	d->count = s->count == 0 || s->count > mod ? mod : s->count;
	d->latch = s->latched_count;
	d->status = s->status;
	d->wlsb = s->write_latch;
	f = SOFT_PIT_LOADED;
	if (s->count_latched) {
		f |= SOFT_PIT_CNT_LATCHED;
		if (d->rw == 3 && s->count_latched == RW_STATE_MSB)
			f |= SOFT_PIT_LATCH_FLIP;
	}
	if (s->status_latched)
		f |= SOFT_PIT_ST_LATCHED;
	if (d->rw == 3 && s->read_state == RW_STATE_WORD1)
		f |= SOFT_PIT_RFLIP;
	if (d->rw == 3 && s->write_state == RW_STATE_WORD1)
		f |= SOFT_PIT_WFLIP;
	if (d->gate) {
		f |= SOFT_PIT_COUNTING;
		if (d->mode == 1 || d->mode == 5)
			f |= SOFT_PIT_TRIGGERED;
	}
	d->flags = f;
	d->ticks = 0;
	d->run_ns = s->load_age_ns > 0 ? (uint64_t)s->load_age_ns : 0;
	if (d->run_ns >> 62)
		d->run_ns = (1ull << 62) - 1;
	return 0;
}

int soft_irqchip_get_vmm(struct soft_irqchip *chip,
			 struct vmm_irqchip_state *st)
{
	struct soft_irqchip_state *img;
	int size;

	img = image(chip, &size);
	if (!img)
		return vmm__err(chip->vm, -ENOMEM,
				"out of memory for the irqchip state");
	for (int i = 0; i < 2; i++)
		picc_out(&st->pic[i], &img->pic[i], chip->pic[i].elcr_mask);
	st->ioapic.base = SOFT_IRQCHIP_IOAPIC_BASE;
	st->ioapic.id = img->ioapic.id >> 24 & 0xf;
	st->ioapic.ioregsel = img->ioapic.regsel;
	st->ioapic.irr = img->ioapic.lines;
	for (int i = 0; i < VMM_IOAPIC_PINS; i++)
		st->ioapic.redir[i] = img->ioapic.redir[i];
	st->valid = VMM_IRQCHIP_PIC | VMM_IRQCHIP_IOAPIC;
	if (img->with_pit) {
		st->pit.flags = 0;
		for (int i = 0; i < 3; i++)
			pitc_out(&st->pit.ch[i], &img->pit.ch[i]);
		st->valid |= VMM_IRQCHIP_PIT;
	}
	vmm__free(chip->vm, img);
	return 0;
}

int soft_irqchip_set_vmm(struct soft_irqchip *chip,
			 const struct vmm_irqchip_state *st)
{
	struct soft_irqchip_state *img;
	int size, ret = 0;

	if ((st->valid & VMM_IRQCHIP_PIT) && !chip->with_pit)
		return vmm__err(chip->vm, -ENODEV,
				"state has a PIT but this VM has none");
	if ((st->valid & VMM_IRQCHIP_IOAPIC) && st->ioapic.base &&
	    st->ioapic.base != SOFT_IRQCHIP_IOAPIC_BASE)
		return vmm__err(chip->vm, -EINVAL,
				"IOAPIC at 0x%llx: the soft IOAPIC cannot move",
				(unsigned long long)st->ioapic.base);
	img = image(chip, &size);
	if (!img)
		return vmm__err(chip->vm, -ENOMEM,
				"out of memory for the irqchip state");
	if (st->valid & VMM_IRQCHIP_PIC) {
		for (int i = 0; i < 2 && !ret; i++)
			ret = picc_in(&img->pic[i], &st->pic[i]);
		if (ret) {
			ret = vmm__err(chip->vm, ret, "bad PIC state");
			goto out;
		}
		for (int i = 0; i < 16; i++) {
			bool high = img->pic[i >> 3].lines >> (i & 7) & 1;
			/* IR2 of the master is the cascade, not a GSI */
			img->pic_src[i] = high && i != 2 ? SRC_GSI : 0;
		}
	}
	if (st->valid & VMM_IRQCHIP_IOAPIC) {
		img->ioapic.id = (st->ioapic.id & 0xf) << 24;
		img->ioapic.regsel = st->ioapic.ioregsel;
		img->ioapic.lines = st->ioapic.irr & ((1u << SOFT_IRQCHIP_NGSI) - 1);
		for (int i = 0; i < SOFT_IRQCHIP_NGSI; i++)
			img->ioapic.redir[i] = st->ioapic.redir[i];
		for (int i = 0; i < SOFT_IRQCHIP_NGSI; i++) {
			bool high = img->ioapic.lines >> i & 1;
			uint8_t src = SRC_GSI;
			if (i == 2) /* GSI 0 also drives pin 2 */
				src = (img->pic[0].lines & 1) ? SRC_GSI0 : SRC_GSI;
			/* pin 0 carries the PIC's INTR, derived on restore */
			img->ioapic_src[i] = high && i != 0 ? src : 0;
		}
	}
	if (st->valid & VMM_IRQCHIP_PIT) {
		for (int i = 0; i < 3 && !ret; i++)
			ret = pitc_in(&img->pit.ch[i], &st->pit.ch[i]);
		if (ret) {
			ret = vmm__err(chip->vm, ret, "bad PIT state");
			goto out;
		}
	}
	ret = soft_irqchip_restore(chip, img, (size_t)size);
out:
	vmm__free(chip->vm, img);
	return ret;
}
