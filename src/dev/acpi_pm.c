// SPDX-License-Identifier: MIT
/*
 * acpi_pm.c - the ACPI fixed-hardware registers the FADT of src/boot/acpi.c
 * describes, as one port-I/O device of VMM_ACPI_PM_SIZE bytes at
 * VMM_ACPI_PM_BASE (offsets in libvmm/boot.h):
 *
 *   +0  PM1a_STS (16 bits, write 1 to clear)   +2  PM1a_EN (16 bits)
 *   +4  PM1a_CNT (16 bits): SCI_EN (bit 0) always reads 1 (there is no SMI
 *       command port: the machine is always in ACPI mode); SLP_TYP (bits
 *       10-12) is kept; writing SLP_EN (bit 13, reads 0) with SLP_TYP = 5
 *       (\_S5 in the DSDT) powers the machine off: the run loop stops with
 *       VMM_EXIT_POWEROFF.  Other sleep types are not offered by the DSDT
 *       and are ignored.
 *   +8  PM_TMR (32 bits, read-only): 3.579545 MHz from the host's
 *       monotonic clock, wrapping at 2^32 (TMR_VAL_EXT).
 *   +12 reset register (8 bits): VMM_ACPI_RESET_VALUE -> VMM_EXIT_RESET.
 *
 * Accesses of 1, 2 or 4 bytes anywhere inside the block are served byte by
 * byte (a guest may read the timer in halves); other widths and reserved
 * bytes read 0 and ignore writes.  No SCI is raised: no event is ever
 * enabled by hardware (no power button, no timer-overflow interrupt).
 * The device never learns which backend runs the VM.
 *
 * Snapshot state (version 1): u16 sts, u16 en, u16 cnt, u32 timer value
 * at save; the timer continues from that value after a restore.
 */
#include "dev/direct.h"
#include "core/statebuf.h"

#include <libvmm/boot.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define CNT_SCI_EN 0x0001u
#define CNT_SLP_TYP_SHIFT 10
#define CNT_SLP_TYP_MASK (7u << CNT_SLP_TYP_SHIFT)
#define CNT_SLP_EN 0x2000u
#define CNT_WRITABLE (CNT_SLP_TYP_MASK | 0x0006u) /* BM_RLD, GBL_RLS */
#define STS_MASK 0x8d31u /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK */
#define EN_MASK 0x0521u  /* TMR, GBL, PWRBTN, SLPBTN, RTC */

struct acpi_pm {
	vmm_vm *vm;
	uint16_t base;
	pthread_mutex_t lock;
	uint16_t sts, en, cnt;
	int64_t timer_offset_ns; /* timer = (now + offset) * rate */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Ticks of a 3.579545 MHz clock in @ns, computed without overflow for any
 * time a process lives (split into seconds and the rest). */
static uint32_t ticks(int64_t ns)
{
	uint64_t u = (uint64_t)ns;
	uint64_t s = u / 1000000000ull, rest = u % 1000000000ull;

	return (uint32_t)(s * VMM_ACPI_PM_TIMER_HZ +
			  rest * VMM_ACPI_PM_TIMER_HZ / 1000000000ull);
}

static uint32_t timer_now(struct acpi_pm *p)
{
	return ticks(now_ns() + p->timer_offset_ns);
}

/* Set the offset so that the timer reads @value now (rounded up to the
 * first nanosecond at which it does). */
static void timer_set(struct acpi_pm *p, uint32_t value)
{
	int64_t want = (int64_t)(((uint64_t)value * 1000000000ull +
				  VMM_ACPI_PM_TIMER_HZ - 1) /
				 VMM_ACPI_PM_TIMER_HZ);

	p->timer_offset_ns = want - now_ns();
}

static uint8_t reg_byte(struct acpi_pm *p, unsigned off, uint32_t tmr)
{
	switch (off) {
	case 0: return (uint8_t)p->sts;
	case 1: return (uint8_t)(p->sts >> 8);
	case 2: return (uint8_t)p->en;
	case 3: return (uint8_t)(p->en >> 8);
	case 4: return (uint8_t)(p->cnt | CNT_SCI_EN);
	case 5: return (uint8_t)((p->cnt & ~CNT_SLP_EN) >> 8);
	case 8: case 9: case 10: case 11:
		return (uint8_t)(tmr >> (8 * (off - 8)));
	default: return 0;
	}
}

static bool bad_access(uint64_t off, unsigned size)
{
	return (size != 1 && size != 2 && size != 4) ||
	       off >= VMM_ACPI_PM_SIZE || size > VMM_ACPI_PM_SIZE - off;
}

static int pm_read(void *opaque, uint64_t off, void *data, unsigned size,
		   struct vmm_io_ctx *ctx)
{
	struct acpi_pm *p = opaque;
	uint8_t *d = data;
	uint32_t tmr;

	(void)ctx;
	if (bad_access(off, size)) {
		memset(data, 0, size);
		return 0;
	}
	tmr = timer_now(p);
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size; i++)
		d[i] = reg_byte(p, (unsigned)off + i, tmr);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int pm_write(void *opaque, uint64_t off, const void *data,
		    unsigned size, struct vmm_io_ctx *ctx)
{
	struct acpi_pm *p = opaque;
	const uint8_t *d = data;
	bool sleep = false, reset = false;
	unsigned typ = 0;

	if (bad_access(off, size))
		return 0;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < size; i++) {
		unsigned o = (unsigned)off + i, sh = 8 * (o & 1);
		uint16_t b = (uint16_t)(d[i] << sh);

		switch (o) {
		case 0: case 1:
			p->sts = (uint16_t)(p->sts & ~(b & STS_MASK));
			break;
		case 2: case 3:
			p->en = (uint16_t)((p->en & ~(0xffu << sh)) |
					   (b & EN_MASK));
			break;
		case 4: case 5:
			p->cnt = (uint16_t)((p->cnt & ~(0xffu << sh)) |
					    (b & CNT_WRITABLE & (0xffu << sh)));
			if (o == 5 && (b & CNT_SLP_EN)) {
				sleep = true;
				typ = (p->cnt & CNT_SLP_TYP_MASK) >>
				      CNT_SLP_TYP_SHIFT;
			}
			break;
		case VMM_ACPI_RESET:
			reset = d[i] == VMM_ACPI_RESET_VALUE;
			break;
		default:
			break;
		}
	}
	if (sleep && typ == VMM_ACPI_SLP_TYP_S5)
		p->sts |= 0x8000; /* WAK_STS, as hardware sets it */
	pthread_mutex_unlock(&p->lock);
	if (ctx && sleep && typ == VMM_ACPI_SLP_TYP_S5)
		ctx->stop = VMM_EXIT_POWEROFF;
	else if (ctx && reset)
		ctx->stop = VMM_EXIT_RESET;
	return 0;
}

static const struct vmm_io_ops pm_ops = {
	.read = pm_read,
	.write = pm_write,
};

static int pm_save(void *priv, struct vmm_sbuf *b)
{
	struct acpi_pm *p = priv;

	pthread_mutex_lock(&p->lock);
	vmm__sb_u16(b, p->sts);
	vmm__sb_u16(b, p->en);
	vmm__sb_u16(b, p->cnt);
	vmm__sb_u32(b, timer_now(p));
	pthread_mutex_unlock(&p->lock);
	return vmm__sb_error(b);
}

static int pm_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	struct acpi_pm *p = priv;
	uint16_t sts, en, cnt;
	uint32_t tmr;

	if (version != 1)
		return vmm__err(p->vm, -ENOTSUP, "acpi-pm: state version %u",
				version);
	sts = vmm__sr_u16(r);
	en = vmm__sr_u16(r);
	cnt = vmm__sr_u16(r);
	tmr = vmm__sr_u32(r);
	if (!vmm__sr_done(r) || (sts & ~STS_MASK) || (en & ~EN_MASK) ||
	    (cnt & ~CNT_WRITABLE))
		return vmm__err(p->vm, -EBADMSG,
				"acpi-pm: invalid saved state");
	pthread_mutex_lock(&p->lock);
	p->sts = sts;
	p->en = en;
	p->cnt = cnt;
	timer_set(p, tmr);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static void pm_destroy(void *priv)
{
	struct acpi_pm *p = priv;

	vmm_bus_unregister(p->vm, VMM_SPACE_PIO, p->base);
	pthread_mutex_destroy(&p->lock);
	vmm__free(p->vm, p);
}

/**
 * vmm_acpi_pm_attach() - attach the ACPI PM registers at
 * VMM_ACPI_PM_BASE (see libvmm/devices.h).
 */
int vmm_acpi_pm_attach(vmm_vm *vm, vmm_dev **out)
{
	struct acpi_pm *p;
	vmm_dev *dev;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "acpi-pm: NULL out");
	p = vmm__alloc(vm, sizeof(*p));
	if (!p)
		return vmm__err(vm, -ENOMEM, "acpi-pm: out of memory");
	memset(p, 0, sizeof(*p));
	p->vm = vm;
	p->base = VMM_ACPI_PM_BASE;
	p->timer_offset_ns = -now_ns();
	ret = pthread_mutex_init(&p->lock, NULL);
	if (ret) {
		vmm__free(vm, p);
		return vmm__err(vm, -ret, "acpi-pm: mutex: %s",
				vmm_strerror(-ret));
	}
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, p->base, VMM_ACPI_PM_SIZE,
			       &pm_ops, p, "acpi-pm");
	if (ret) {
		ret = vmm__err(vm, ret, "acpi-pm: cannot register ports "
			       "0x%x-0x%x: %s", p->base,
			       p->base + VMM_ACPI_PM_SIZE - 1,
			       vmm_strerror(ret));
		goto err;
	}
	dev = vmm__dev_new(vm, "acpi-pm", p, pm_destroy);
	if (!dev) {
		vmm_bus_unregister(vm, VMM_SPACE_PIO, p->base);
		ret = -ENOMEM;
		goto err;
	}
	vmm__dev_set_state_ops(dev, "acpi-pm", VMM_SPACE_PIO, p->base, 1,
			       pm_save, pm_restore);
	*out = dev;
	return 0;
err:
	pthread_mutex_destroy(&p->lock);
	vmm__free(vm, p);
	return ret;
}
