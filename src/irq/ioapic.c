// SPDX-License-Identifier: MIT
/*
 * ioapic.c - the I/O APIC (82093AA semantics, version 0x11, 24 pins) at
 * 0xfec00000: IOREGSEL at offset 0x00, IOWIN at 0x10.  Registers: 0x00 ID
 * (bits 27:24), 0x01 version (max redirection entry 23 << 16 | 0x11), 0x02
 * arbitration ID, 0x10 + 2n / 0x11 + 2n the low / high half of redirection
 * entry n.
 *
 * An edge-triggered pin delivers on a rising input edge if unmasked (a
 * masked edge is lost).  A level-triggered pin delivers while its input is
 * asserted, unmasked and remote IRR is clear, and sets remote IRR; the
 * LAPIC's EOI of a level vector (TMR set) broadcasts to ioapic_eoi(), which
 * clears remote IRR and delivers again if the input is still asserted.
 * Pin 0's input is the master PIC's INTR: with an ExtINT entry it is the
 * virtual wire (see ioapic_extint_to()); other modes are not used there.
 */
#include "irq/irq_impl.h"

#define IOAPIC_VERSION 0x00170011u
#define RE_VECTOR 0xffull
#define RE_MODE(e) ((unsigned)((e) >> 8) & 7)
#define RE_LOGICAL (1ull << 11)
#define RE_DELIVS (1ull << 12)
#define RE_POLARITY (1ull << 13)
#define RE_REMOTE_IRR (1ull << 14)
#define RE_LEVEL (1ull << 15)
#define RE_MASK (1ull << 16)
#define RE_DEST(e) ((uint32_t)((e) >> 56))
/* writable bits: vector, mode, dest mode, polarity, trigger, mask, dest */
#define RE_WRITABLE (0xff00000000000fffull | RE_POLARITY | RE_LEVEL | RE_MASK)

void ioapic_reset(struct ioapic *io)
{
	memset(io, 0, sizeof(*io));
	for (unsigned i = 0; i < SOFT_IRQCHIP_NGSI; i++)
		io->redir[i] = RE_MASK;
}

/*
 * A redirection entry as the MSI it is on the bus: destination ID and
 * destination mode in the address, vector, delivery mode and trigger mode
 * in the data (what KVM's split irqchip expects from a user IOAPIC).
 */
static void msi_of(uint64_t e, uint64_t *addr, uint32_t *data)
{
	*addr = 0xfee00000ull | (uint64_t)(RE_DEST(e) & 0xff) << 12 |
		((e & RE_LOGICAL) ? 4u : 0u);
	*data = (uint32_t)(e & RE_VECTOR) | RE_MODE(e) << 8 |
		((e & RE_LEVEL) ? 1u << 15 : 0u);
}

static void deliver(struct soft_irqchip *chip, uint64_t e)
{
	struct apic_msg m = {
		.dest = RE_DEST(e),
		.logical = (e & RE_LOGICAL) != 0,
		.mode = (uint8_t)RE_MODE(e),
		.vector = (uint8_t)(e & RE_VECTOR),
		.level_trig = (e & RE_LEVEL) != 0,
		.assert = true,
		.src = -1,
	};

	if (m.mode == DM_EXTINT)
		return; /* virtual wire: seen by poll through the PIC */
	if (chip->ext) {
		uint64_t addr;
		uint32_t data;
		msi_of(e, &addr, &data);
		chip->sink.msi(chip->sink.opaque, addr, data);
		return;
	}
	apic_deliver(chip, &m);
}

void ioapic_route_changed(struct soft_irqchip *chip, unsigned pin)
{
	uint64_t e = chip->ioapic.redir[pin], addr;
	uint32_t data;
	bool valid = !(e & RE_MASK) && RE_MODE(e) != DM_EXTINT;

	if (!chip->ext || !chip->sink.route)
		return;
	msi_of(e, &addr, &data);
	chip->sink.route(chip->sink.opaque, pin, valid, addr, data);
}

/* Deliver a level pin if it is asserted, unmasked and not in service. */
static void service_level(struct soft_irqchip *chip, unsigned pin)
{
	struct ioapic *io = &chip->ioapic;
	uint64_t e = io->redir[pin];

	if (!(e & RE_LEVEL) || (e & (RE_MASK | RE_REMOTE_IRR)) ||
	    !(io->lines >> pin & 1) || RE_MODE(e) == DM_EXTINT)
		return;
	io->redir[pin] |= RE_REMOTE_IRR;
	deliver(chip, e);
}

void ioapic_set_pin(struct soft_irqchip *chip, unsigned pin, bool level)
{
	struct ioapic *io = &chip->ioapic;
	uint32_t m = 1u << pin;
	bool rising = level && !(io->lines & m);
	uint64_t e = io->redir[pin];

	if (level)
		io->lines |= m;
	else
		io->lines &= ~m;
	if (e & RE_LEVEL)
		service_level(chip, pin);
	else if (rising && !(e & RE_MASK) && pin != 0)
		deliver(chip, e);
}

void ioapic_eoi(struct soft_irqchip *chip, uint8_t vector)
{
	struct ioapic *io = &chip->ioapic;

	for (unsigned pin = 0; pin < SOFT_IRQCHIP_NGSI; pin++) {
		uint64_t e = io->redir[pin];
		if ((e & RE_VECTOR) != vector || !(e & RE_LEVEL) ||
		    !(e & RE_REMOTE_IRR))
			continue;
		io->redir[pin] &= ~RE_REMOTE_IRR;
		service_level(chip, pin);
	}
}

/* Does pin 0 (PIC INTR, ExtINT entry) target vCPU @cpu? */
bool ioapic_extint_to(struct soft_irqchip *chip, unsigned cpu)
{
	uint64_t e = chip->ioapic.redir[0];

	if ((e & RE_MASK) || RE_MODE(e) != DM_EXTINT)
		return false;
	return lapic_match(&chip->lapic[cpu], RE_DEST(e),
			   (e & RE_LOGICAL) != 0, false);
}

static uint32_t reg_read(struct ioapic *io)
{
	unsigned r = io->regsel & 0xff;

	switch (r) {
	case 0x00: return io->id & 0x0f000000u;
	case 0x01: return IOAPIC_VERSION;
	case 0x02: return io->id & 0x0f000000u;
	default:
		if (r >= 0x10 && r < 0x10 + 2 * SOFT_IRQCHIP_NGSI) {
			uint64_t e = io->redir[(r - 0x10) / 2];
			return (r & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
		}
		return 0;
	}
}

static void reg_write(struct soft_irqchip *chip, uint32_t v)
{
	struct ioapic *io = &chip->ioapic;
	unsigned r = io->regsel & 0xff;
	unsigned pin;
	uint64_t old, e;

	if (r == 0x00) {
		io->id = v & 0x0f000000u;
		return;
	}
	if (r < 0x10 || r >= 0x10 + 2 * SOFT_IRQCHIP_NGSI)
		return; /* version, arbitration and reserved: read-only */
	pin = (r - 0x10) / 2;
	old = io->redir[pin];
	if (r & 1)
		e = (old & 0xffffffffull) | (uint64_t)v << 32;
	else
		e = (old & ~0xffffffffull) | v;
	e = (e & RE_WRITABLE) | (old & RE_REMOTE_IRR);
	if (!(e & RE_LEVEL))
		e &= ~RE_REMOTE_IRR;
	io->redir[pin] = e;
	if ((old ^ e) & ~RE_REMOTE_IRR)
		ioapic_route_changed(chip, pin);
	service_level(chip, pin);
	if (pin == 0)
		chip_pic_changed(chip);
}

/*
 * MMIO: 32-bit accesses to IOREGSEL and IOWIN.  Narrower reads return the
 * bytes of the register; other writes are ignored, except byte writes to
 * IOREGSEL which some guests use.  Everything else reads 0.
 */
static int ioapic_read(void *opaque, uint64_t off, void *data, unsigned size,
		       struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	unsigned reg = (unsigned)(off & ~0xfull), byte = (unsigned)(off & 0xf);
	uint64_t v = 0;

	pthread_mutex_lock(&chip->lock);
	if (byte < 4) {
		if (reg == 0x00)
			v = chip->ioapic.regsel;
		else if (reg == 0x10)
			v = reg_read(&chip->ioapic);
		v >>= 8 * byte;
		if (byte + size > 4)
			v &= (1ull << (8 * (4 - byte))) - 1;
	}
	pthread_mutex_unlock(&chip->lock);
	irq_put_le(data, size, v);
	return 0;
}

static int ioapic_write(void *opaque, uint64_t off, const void *data,
			unsigned size, struct vmm_io_ctx *ctx)
{
	struct soft_irqchip *chip = opaque;
	uint32_t v = (uint32_t)irq_get_le(data, size > 4 ? 4 : size);

	pthread_mutex_lock(&chip->lock);
	if (off == 0x00 && (size == 4 || size == 1 || size == 8))
		chip->ioapic.regsel = v & 0xff;
	else if (off == 0x10 && (size == 4 || size == 8))
		reg_write(chip, v);
	chip_update(chip);
	pthread_mutex_unlock(&chip->lock);
	return 0;
}

const struct vmm_io_ops ioapic_ops = { .read = ioapic_read,
				       .write = ioapic_write };
