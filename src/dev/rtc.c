// SPDX-License-Identifier: MIT
/*
 * rtc.c - the MC146818 CMOS real-time clock at ports 0x70 (index, bit 7 =
 * NMI disable) and 0x71 (data).
 *
 *  - Time registers (0x00, 0x02, 0x04, 0x06-0x09 and the century at 0x32)
 *    are computed from the host's UTC clock plus an offset the guest sets
 *    by writing them, encoded per register B: DM (binary/BCD) and 24/12 h
 *    (bit 7 of the hour = PM in 12 h mode).  While B.SET is 1 the clock is
 *    frozen and writes go to the frozen copy; clearing SET starts it from
 *    there.
 *  - A: UIP always reads 0; the divider/rate bits are kept.  B is kept.
 *    C reads and clears (no interrupt sources are modelled, so it reads 0).
 *    D reads 0x80 (valid RAM and time).
 *  - The memory-size bytes SeaBIOS reads (0x15/0x16 base, 0x17/0x18 and
 *    0x30/0x31 extended KiB, 0x34/0x35 64 KiB blocks 16 MiB-4 GiB,
 *    0x5b-0x5d 64 KiB blocks above 4 GiB) come from the VM's RAM layout at
 *    the time of the read, until the guest writes that byte.
 *  - Everything else is 128 bytes of scratch CMOS RAM.
 * Accesses wider than a byte are split, so `outw 0x70` sets index and data
 * at once as on real hardware.  No IRQ 8.
 */
#include "dev/direct.h"
#include "core/statebuf.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#define RTC_PORT 0x70
#define RTC_NREGS 128

#define REG_SEC 0x00
#define REG_MIN 0x02
#define REG_HOUR 0x04
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MON 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_CENTURY 0x32

#define A_UIP 0x80
#define B_SET 0x80
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define D_VRT 0x80

#define KiB 1024ull
#define MiB (1024 * KiB)

struct rtc {
	vmm_vm *vm;
	pthread_mutex_t lock;
	uint8_t index;
	bool nmi_disabled;
	uint8_t cmos[RTC_NREGS];
	uint8_t written[RTC_NREGS / 8]; /* guest wrote this byte */
	int64_t offset;                 /* guest time - host time, seconds */
	struct tm frozen;               /* the time while B.SET is 1 */
};

static void rtc_destroy(void *priv);
static int rtc_save(void *priv, struct vmm_sbuf *b);
static int rtc_restore(void *priv, uint32_t version, struct vmm_sreader *rd);

/* ---- encoding ---- */

static uint8_t rtc_enc(const struct rtc *r, int v)
{
	if (r->cmos[REG_B] & B_DM_BINARY)
		return (uint8_t)v;
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static int rtc_dec(const struct rtc *r, uint8_t v)
{
	if (r->cmos[REG_B] & B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t rtc_enc_hour(const struct rtc *r, int hour)
{
	int h12;

	if (r->cmos[REG_B] & B_24H)
		return rtc_enc(r, hour);
	h12 = hour % 12 ? hour % 12 : 12;
	return rtc_enc(r, h12) | (hour >= 12 ? 0x80 : 0);
}

static int rtc_dec_hour(const struct rtc *r, uint8_t v)
{
	if (r->cmos[REG_B] & B_24H)
		return rtc_dec(r, v);
	return rtc_dec(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

/* ---- the clock ---- */

static time_t rtc_host_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return ts.tv_sec;
}

/* The guest's current time, broken down. */
static void rtc_now(struct rtc *r, struct tm *tm)
{
	time_t t;

	if (r->cmos[REG_B] & B_SET) {
		*tm = r->frozen;
		return;
	}
	t = rtc_host_now() + (time_t)r->offset;
	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof(*tm));
}

/* Run the clock from @tm onwards. */
static void rtc_set_time(struct rtc *r, struct tm *tm)
{
	time_t t = timegm(tm);

	if (t != (time_t)-1)
		r->offset = (int64_t)t - (int64_t)rtc_host_now();
}

static uint8_t rtc_read_time(struct rtc *r, unsigned idx)
{
	struct tm tm;
	int year;

	rtc_now(r, &tm);
	year = tm.tm_year + 1900;
	switch (idx) {
	case REG_SEC:
		return rtc_enc(r, tm.tm_sec);
	case REG_MIN:
		return rtc_enc(r, tm.tm_min);
	case REG_HOUR:
		return rtc_enc_hour(r, tm.tm_hour);
	case REG_WDAY:
		return rtc_enc(r, tm.tm_wday + 1);
	case REG_MDAY:
		return rtc_enc(r, tm.tm_mday);
	case REG_MON:
		return rtc_enc(r, tm.tm_mon + 1);
	case REG_YEAR:
		return rtc_enc(r, year % 100);
	default: /* REG_CENTURY */
		return rtc_enc(r, year / 100);
	}
}

static void rtc_write_time(struct rtc *r, unsigned idx, uint8_t v)
{
	struct tm tm;
	int year;

	rtc_now(r, &tm);
	year = tm.tm_year + 1900;
	switch (idx) {
	case REG_SEC:
		tm.tm_sec = rtc_dec(r, v);
		break;
	case REG_MIN:
		tm.tm_min = rtc_dec(r, v);
		break;
	case REG_HOUR:
		tm.tm_hour = rtc_dec_hour(r, v);
		break;
	case REG_WDAY:
		return; /* derived from the date */
	case REG_MDAY:
		tm.tm_mday = rtc_dec(r, v);
		break;
	case REG_MON:
		tm.tm_mon = rtc_dec(r, v) - 1;
		break;
	case REG_YEAR:
		tm.tm_year = year / 100 * 100 + rtc_dec(r, v) - 1900;
		break;
	default: /* REG_CENTURY */
		tm.tm_year = rtc_dec(r, v) * 100 + year % 100 - 1900;
		break;
	}
	tm.tm_isdst = 0;
	if (r->cmos[REG_B] & B_SET) {
		r->frozen = tm;
		return;
	}
	rtc_set_time(r, &tm);
}

static bool rtc_is_time(unsigned idx)
{
	return idx == REG_SEC || idx == REG_MIN || idx == REG_HOUR ||
	       (idx >= REG_WDAY && idx <= REG_YEAR) || idx == REG_CENTURY;
}

/* ---- memory size bytes ---- */

/* The value of a memory-size byte, or -1 if @idx is not one. */
static int rtc_mem_byte(struct rtc *r, unsigned idx)
{
	uint64_t below = vmm__ram_below_4g(r->vm);
	uint64_t above = vmm__ram_above_4g(r->vm);
	uint64_t v;
	unsigned shift;

	switch (idx) {
	case 0x15:
	case 0x16:
		v = below / KiB < 640 ? below / KiB : 640;
		shift = (idx - 0x15) * 8;
		break;
	case 0x17:
	case 0x18:
	case 0x30:
	case 0x31:
		v = below > MiB ? (below - MiB) / KiB : 0;
		if (v > 0xffff)
			v = 0xffff;
		shift = (idx == 0x18 || idx == 0x31) ? 8 : 0;
		break;
	case 0x34:
	case 0x35:
		v = below > 16 * MiB ? (below - 16 * MiB) / (64 * KiB) : 0;
		if (v > 0xffff)
			v = 0xffff;
		shift = (idx - 0x34) * 8;
		break;
	case 0x5b:
	case 0x5c:
	case 0x5d:
		v = above / (64 * KiB);
		if (v > 0xffffff)
			v = 0xffffff;
		shift = (idx - 0x5b) * 8;
		break;
	default:
		return -1;
	}
	return (int)((v >> shift) & 0xff);
}

static bool rtc_written(const struct rtc *r, unsigned idx)
{
	return r->written[idx / 8] & (1u << (idx % 8));
}

/* ---- registers ---- */

static uint8_t rtc_read_reg(struct rtc *r, unsigned idx)
{
	uint8_t v;
	int m;

	if (rtc_is_time(idx))
		return rtc_read_time(r, idx);
	switch (idx) {
	case REG_A:
		return r->cmos[REG_A] & ~A_UIP;
	case REG_C:
		v = r->cmos[REG_C];
		r->cmos[REG_C] = 0;
		return v;
	case REG_D:
		return D_VRT;
	default:
		break;
	}
	if (!rtc_written(r, idx)) {
		m = rtc_mem_byte(r, idx);
		if (m >= 0)
			return (uint8_t)m;
	}
	return r->cmos[idx];
}

static void rtc_write_b(struct rtc *r, uint8_t v)
{
	uint8_t old = r->cmos[REG_B];

	if ((v & B_SET) && !(old & B_SET))
		rtc_now(r, &r->frozen); /* freeze before SET takes effect */
	if (v & B_SET)
		v &= ~B_UIE;
	r->cmos[REG_B] = v;
	if (!(v & B_SET) && (old & B_SET))
		rtc_set_time(r, &r->frozen);
}

static void rtc_write_reg(struct rtc *r, unsigned idx, uint8_t v)
{
	if (rtc_is_time(idx)) {
		rtc_write_time(r, idx, v);
		return;
	}
	switch (idx) {
	case REG_A:
		r->cmos[REG_A] = v & ~A_UIP;
		return;
	case REG_B:
		rtc_write_b(r, v);
		return;
	case REG_C:
	case REG_D:
		return; /* read-only */
	default:
		r->cmos[idx] = v;
		r->written[idx / 8] |= 1u << (idx % 8);
		return;
	}
}

static int rtc_check(uint64_t off, unsigned size)
{
	if (!size || size > 8 || off >= 2 || size > 2 - off)
		return -EINVAL;
	return 0;
}

static int rtc_read(void *opaque, uint64_t off, void *data, unsigned size,
		    struct vmm_io_ctx *ctx)
{
	struct rtc *r = opaque;
	uint8_t *p = data;

	if (rtc_check(off, size))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size; i++)
		p[i] = off + i == 0 ? 0xff : rtc_read_reg(r, r->index);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int rtc_write(void *opaque, uint64_t off, const void *data,
		     unsigned size, struct vmm_io_ctx *ctx)
{
	struct rtc *r = opaque;
	const uint8_t *p = data;

	if (rtc_check(off, size))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < size; i++) {
		if (off + i == 0) {
			r->index = p[i] & 0x7f;
			r->nmi_disabled = p[i] & 0x80;
		} else {
			rtc_write_reg(r, r->index, p[i]);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static const struct vmm_io_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

/**
 * vmm_rtc_attach() - attach the CMOS RTC at 0x70/0x71.
 * @vm:  the VM.
 * @out: receives the device handle.
 *
 * Returns 0, -EINVAL, -EEXIST if the ports are taken, -ENOMEM.
 */
int vmm_rtc_attach(vmm_vm *vm, vmm_dev **out)
{
	struct rtc *r;
	vmm_dev *dev;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!out)
		return vmm__err(vm, -EINVAL, "rtc: NULL out");
	r = vmm__alloc(vm, sizeof(*r));
	if (!r)
		return vmm__err(vm, -ENOMEM, "rtc: out of memory");
	r->vm = vm;
	r->cmos[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	r->cmos[REG_B] = B_24H;
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		ret = vmm__err(vm, -ret, "rtc: mutex: %s", vmm_strerror(-ret));
		goto err_free;
	}
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, RTC_PORT, 2, &rtc_ops, r,
			       "rtc");
	if (ret) {
		ret = vmm__err(vm, ret, "rtc: cannot register ports 0x70-0x71: %s",
			       vmm_strerror(ret));
		goto err_mutex;
	}
	dev = vmm__dev_new(vm, "rtc", r, rtc_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_unregister;
	}
	vmm__dev_set_state_ops(dev, "rtc", VMM_SPACE_PIO, RTC_PORT, 1,
			       rtc_save, rtc_restore);
	*out = dev;
	return 0;

err_unregister:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, RTC_PORT);
err_mutex:
	pthread_mutex_destroy(&r->lock);
err_free:
	vmm__free(vm, r);
	return ret;
}

/*
 * Snapshot state (version 1):
 *   u8  index, NMI-disable bit
 *   128 bytes CMOS, 16 bytes "guest wrote this byte" bitmap
 *   i64 offset of the guest's clock from the host's UTC, seconds
 *   i32 x 7 the frozen time while B.SET is 1: sec min hour mday mon year wday
 * The clock keeps following host time (plus the guest's offset) across a
 * restore, as a battery-backed RTC follows real time.
 */
static int rtc_save(void *priv, struct vmm_sbuf *b)
{
	struct rtc *r = priv;

	pthread_mutex_lock(&r->lock);
	vmm__sb_u8(b, r->index);
	vmm__sb_u8(b, r->nmi_disabled);
	vmm__sb_bytes(b, r->cmos, sizeof(r->cmos));
	vmm__sb_bytes(b, r->written, sizeof(r->written));
	vmm__sb_u64(b, (uint64_t)r->offset);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_sec);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_min);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_hour);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_mday);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_mon);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_year);
	vmm__sb_u32(b, (uint32_t)r->frozen.tm_wday);
	pthread_mutex_unlock(&r->lock);
	return vmm__sb_error(b);
}

static int rtc_restore(void *priv, uint32_t version, struct vmm_sreader *rd)
{
	struct rtc *r = priv;
	uint8_t index, nmi, cmos[RTC_NREGS], written[RTC_NREGS / 8];
	int64_t offset;
	int32_t f[7];
	struct tm tm;

	if (version != 1)
		return vmm__err(r->vm, -ENOTSUP, "rtc: state version %u",
				version);
	index = vmm__sr_u8(rd);
	nmi = vmm__sr_u8(rd);
	vmm__sr_bytes(rd, cmos, sizeof(cmos));
	vmm__sr_bytes(rd, written, sizeof(written));
	offset = (int64_t)vmm__sr_u64(rd);
	for (int i = 0; i < 7; i++)
		f[i] = (int32_t)vmm__sr_u32(rd);
	/* times: within +-10^6 years; the frozen fields within their ranges */
	if (!vmm__sr_done(rd) || index >= RTC_NREGS || nmi > 1 ||
	    offset > 31556952000000ll || offset < -31556952000000ll ||
	    f[0] < 0 || f[0] > 60 || f[1] < 0 || f[1] > 59 || f[2] < 0 ||
	    f[2] > 23 || f[3] < 0 || f[3] > 31 || f[4] < 0 || f[4] > 11 ||
	    f[5] < -1900 || f[5] > 100000 || f[6] < 0 || f[6] > 6)
		return vmm__err(r->vm, -EBADMSG, "rtc: invalid saved state");
	memset(&tm, 0, sizeof(tm));
	tm.tm_sec = f[0];
	tm.tm_min = f[1];
	tm.tm_hour = f[2];
	tm.tm_mday = f[3];
	tm.tm_mon = f[4];
	tm.tm_year = f[5];
	tm.tm_wday = f[6];
	pthread_mutex_lock(&r->lock);
	r->index = index;
	r->nmi_disabled = nmi;
	memcpy(r->cmos, cmos, sizeof(cmos));
	memcpy(r->written, written, sizeof(written));
	r->offset = offset;
	r->frozen = tm;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void rtc_destroy(void *priv)
{
	struct rtc *r = priv;

	vmm_bus_unregister(r->vm, VMM_SPACE_PIO, RTC_PORT);
	pthread_mutex_destroy(&r->lock);
	vmm__free(r->vm, r);
}
