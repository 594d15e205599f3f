// SPDX-License-Identifier: MIT
/*
 * acpi.c - the ACPI tables a PC firmware would give the OS, built from the
 * VM's configuration by our own code (no ACPICA, no iasl): RSDP, RSDT and
 * XSDT, FADT (+ FACS), a small hand-assembled DSDT, and the MADT.  All of
 * it lives in the e820-reserved BIOS area at LAYOUT_ACPI, the RSDP first on
 * a 16-byte boundary so that an OS scanning 0xe0000 - 0xfffff finds it;
 * Linux is also told its address in boot_params.acpi_rsdp_addr.
 *
 *   RSDP  revision 2 (ACPI 2.0+), RSDT and XSDT addresses
 *   XSDT  -> FADT, MADT   (RSDT the same with 32-bit pointers)
 *   FADT  revision 6: SCI on IRQ 9, no SMI command port (ACPI mode is
 *         always on: SCI_EN reads 1), the fixed-hardware blocks of the
 *         ACPI PM device (src/dev/acpi_pm.c) at VMM_ACPI_PM_BASE:
 *         PM1a event (4 bytes), PM1a control (2), PM timer (4, 32-bit,
 *         3.579545 MHz), the reset register (1 byte, value
 *         VMM_ACPI_RESET_VALUE); no C2/C3, no GPE blocks, no fixed power or
 *         sleep buttons, 8042 and legacy devices present, no VGA.
 *   FACS  64 bytes (no waking vector: no S3)
 *   DSDT  \_S5 = Package {5, 5, 0, 0}: the SLP_TYP Linux's power-off
 *         writes; \_SB.PCI0 (PNP0A03, bus 0) with _CRS: buses 0-255, the
 *         config ports 0xcf8-0xcff, I/O 0-0xcf7 and 0xd00-0xffff, and the
 *         32-bit BAR window VMM_ACPI_PCI_MMIO_BASE .. the IOAPIC.
 *   MADT  local APIC at 0xfee00000, PCAT_COMPAT (8259s present); one
 *         enabled Processor Local APIC per vCPU (APIC ID = index); the
 *         IOAPIC (ID = ncpus, GSI 0-23) at 0xfec00000; interrupt source
 *         overrides IRQ0 -> GSI2 (the PIT) and IRQ9 -> GSI9 level/high
 *         (the SCI); LINT1 = NMI on every processor.
 */
#include "boot/boot_int.h"

#define ACPI_OEM_ID "LIBVMM"
#define ACPI_OEM_TABLE "LIBVMM  "
#define ACPI_CREATOR "LVMM"
#define HDR 36

/* Offsets inside the area (each table aligned, FACS on 64 bytes). */
#define OFF_RSDP 0x000
#define OFF_RSDT 0x040
#define OFF_XSDT 0x080
#define OFF_FACS 0x0c0
#define OFF_FADT 0x100
#define OFF_DSDT 0x240
#define OFF_MADT 0x800
#define RSDP_LEN 36
#define FACS_LEN 64
#define FADT_LEN 276
#define MADT_LAPIC_LEN 8

#define LAPIC_ADDR 0xfee00000u
#define IOAPIC_ADDR 0xfec00000u
#define IOAPIC_PINS 24

static uint8_t acpi_sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* The common header; the checksum is set by hdr_finish(). */
static void hdr(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	wr32(t, 4, len);
	t[8] = rev;
	memcpy(t + 10, ACPI_OEM_ID, 6);
	memcpy(t + 16, ACPI_OEM_TABLE, 8);
	wr32(t, 24, 1);
	memcpy(t + 28, ACPI_CREATOR, 4);
	wr32(t, 32, 1);
}

static void hdr_finish(uint8_t *t)
{
	t[9] = 0;
	t[9] = (uint8_t)-acpi_sum(t, rd32(t, 4));
}

/* Generic Address Structure (12 bytes): system I/O space. */
static void gas_io(uint8_t *p, unsigned bits, unsigned access, uint64_t port)
{
	p[0] = 1; /* system I/O */
	p[1] = (uint8_t)bits;
	p[2] = 0;
	p[3] = (uint8_t)access; /* 1 byte, 2 word, 3 dword */
	wr64(p, 4, port);
}

/* ---- AML: a tiny assembler for the few constructs the DSDT needs ---- */

struct aml {
	uint8_t *p;
	size_t len, cap;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *b, size_t n)
{
	if (a->len + n > a->cap) {
		a->overflow = true;
		return;
	}
	memcpy(a->p + a->len, b, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/*
 * A PkgLength-prefixed body: reserve the largest encoding (up to 4 bytes
 * would be possible; bodies here are < 4 KiB so 2 bytes always suffice),
 * emit the body, then encode and move the body down if shorter.
 */
static size_t aml_pkg_begin(struct aml *a)
{
	size_t at = a->len;

	aml_byte(a, 0);
	aml_byte(a, 0);
	return at;
}

static void aml_pkg_end(struct aml *a, size_t at)
{
	size_t body;

	if (a->overflow)
		return;
	body = a->len - at - 2;
	if (body + 1 < 0x40) {
		/* one-byte PkgLength: move the body down one byte */
		memmove(a->p + at + 1, a->p + at + 2, body);
		a->p[at] = (uint8_t)(body + 1);
		a->len--;
	} else if (body + 2 < 0x1000) {
		size_t l = body + 2;

		a->p[at] = (uint8_t)(0x40 | (l & 0xf));
		a->p[at + 1] = (uint8_t)(l >> 4);
	} else {
		a->overflow = true;
	}
}

/* Name(NAME, Integer) with the smallest integer encoding. */
static void aml_name_int(struct aml *a, const char *name, uint32_t v)
{
	aml_byte(a, 0x08); /* NameOp */
	aml_bytes(a, name, 4);
	if (v == 0) {
		aml_byte(a, 0x00); /* ZeroOp */
	} else if (v == 1) {
		aml_byte(a, 0x01); /* OneOp */
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a); /* BytePrefix */
		aml_byte(a, (uint8_t)v);
	} else {
		uint8_t d[4];

		aml_byte(a, 0x0c); /* DWordPrefix */
		wr32(d, 0, v);
		aml_bytes(a, d, 4);
	}
}

/* Word address space descriptor (ACPI 6.4.3.5.3), 16 bytes. */
static void res_word(uint8_t *r, uint8_t type, uint8_t tflags, uint16_t min,
		     uint16_t max)
{
	r[0] = 0x88;
	wr16(r, 1, 13);
	r[3] = type;    /* 1 I/O, 2 bus number */
	r[4] = 0x0c;    /* min and max fixed, producer */
	r[5] = tflags;
	wr16(r, 6, 0);  /* granularity */
	wr16(r, 8, min);
	wr16(r, 10, max);
	wr16(r, 12, 0); /* translation */
	wr16(r, 14, (uint16_t)(max - min + 1));
}

static void build_dsdt(struct aml *a)
{
	uint8_t crs[96];
	size_t n = 0, outer, dev, pkg, buf;
	static const uint8_t s5[] = {
		0x08, '_', 'S', '5', '_',       /* Name(_S5_, */
		0x12, 0x08, 0x04,               /* Package(4) { */
		0x0a, 0x05, 0x0a, 0x05,         /* 5, 5, */
		0x00, 0x00,                     /* 0, 0 } ) */
	};

	aml_bytes(a, s5, sizeof(s5));

	/* The host bridge's resources. */
	res_word(crs + n, 2, 0, 0, 0xff); /* bus numbers 0-255 */
	n += 16;
	/* I/O port descriptor: 0xcf8-0xcff (the configuration ports) */
	crs[n++] = 0x47;
	crs[n++] = 1; /* 16-bit decode */
	wr16(crs, n, 0xcf8);
	wr16(crs, n + 2, 0xcf8);
	n += 4;
	crs[n++] = 1;
	crs[n++] = 8;
	res_word(crs + n, 1, 3, 0, 0xcf7);
	n += 16;
	res_word(crs + n, 1, 3, 0xd00, 0xffff);
	n += 16;
	/* DWord memory descriptor: the 32-bit BAR window */
	crs[n] = 0x87;
	wr16(crs, n + 1, 23);
	crs[n + 3] = 0;    /* memory */
	crs[n + 4] = 0x0c; /* min/max fixed */
	crs[n + 5] = 0x01; /* read/write, non-cacheable */
	wr32(crs, n + 6, 0);
	wr32(crs, n + 10, (uint32_t)VMM_ACPI_PCI_MMIO_BASE);
	wr32(crs, n + 14, IOAPIC_ADDR - 1);
	wr32(crs, n + 18, 0);
	wr32(crs, n + 22, IOAPIC_ADDR - (uint32_t)VMM_ACPI_PCI_MMIO_BASE);
	n += 26;
	crs[n++] = 0x79; /* end tag */
	crs[n++] = 0;    /* checksum 0: "treat as correct" */

	/* Scope(\_SB_) { Device(PCI0) { ... } } */
	aml_byte(a, 0x10); /* ScopeOp */
	outer = aml_pkg_begin(a);
	aml_bytes(a, "\\_SB_", 5);
	aml_byte(a, 0x5b); /* ExtOpPrefix */
	aml_byte(a, 0x82); /* DeviceOp */
	dev = aml_pkg_begin(a);
	aml_bytes(a, "PCI0", 4);
	aml_name_int(a, "_HID", 0x030ad041); /* EisaId("PNP0A03") */
	aml_name_int(a, "_ADR", 0);
	aml_name_int(a, "_UID", 0);
	aml_name_int(a, "_BBN", 0);
	aml_name_int(a, "_SEG", 0);
	aml_byte(a, 0x08); /* Name(_CRS, Buffer() {...}) */
	aml_bytes(a, "_CRS", 4);
	aml_byte(a, 0x11); /* BufferOp */
	buf = aml_pkg_begin(a);
	aml_byte(a, 0x0a); /* BufferSize: BytePrefix n */
	aml_byte(a, (uint8_t)n);
	aml_bytes(a, crs, n);
	aml_pkg_end(a, buf);
	aml_pkg_end(a, dev);
	aml_pkg_end(a, outer);
	(void)pkg;
}

static void build_fadt(uint8_t *t, uint64_t base, uint16_t pm)
{
	hdr(t, "FACP", FADT_LEN, 6);
	wr32(t, 36, (uint32_t)(base + OFF_FACS));
	wr32(t, 40, (uint32_t)(base + OFF_DSDT));
	t[45] = 0;                      /* preferred PM profile: unspecified */
	wr16(t, 46, VMM_ACPI_SCI_IRQ);
	wr32(t, 48, 0);                 /* no SMI_CMD: always in ACPI mode */
	wr32(t, 56, pm + VMM_ACPI_PM1A_EVT);
	wr32(t, 64, pm + VMM_ACPI_PM1A_CNT);
	wr32(t, 76, pm + VMM_ACPI_PM_TMR);
	t[88] = 4;                      /* PM1_EVT_LEN */
	t[89] = 2;                      /* PM1_CNT_LEN */
	t[91] = 4;                      /* PM_TMR_LEN */
	wr16(t, 96, 101);               /* no C2 */
	wr16(t, 98, 1001);              /* no C3 */
	t[108] = 0x32;                  /* CMOS century register */
	wr16(t, 109, 0x0007);           /* legacy devices, 8042, no VGA */
	/* WBINVD, PROC_C1, no fixed power/sleep button, 32-bit timer,
	 * reset register supported */
	wr32(t, 112, 1u << 0 | 1u << 2 | 1u << 4 | 1u << 5 | 1u << 8 |
			     1u << 10);
	gas_io(t + 116, 8, 1, pm + VMM_ACPI_RESET);
	t[128] = VMM_ACPI_RESET_VALUE;
	t[131] = 0;                     /* FADT minor version */
	wr64(t, 132, base + OFF_FACS);
	wr64(t, 140, base + OFF_DSDT);
	gas_io(t + 148, 32, 2, pm + VMM_ACPI_PM1A_EVT);
	gas_io(t + 172, 16, 2, pm + VMM_ACPI_PM1A_CNT);
	gas_io(t + 208, 32, 3, pm + VMM_ACPI_PM_TMR);
	memcpy(t + 268, "LIBVMM  ", 8);  /* hypervisor vendor identity */
	hdr_finish(t);
}

static size_t build_madt(uint8_t *t, unsigned ncpus)
{
	size_t n = 44;

	hdr(t, "APIC", 0, 4);
	wr32(t, 36, LAPIC_ADDR);
	wr32(t, 40, 1); /* PCAT_COMPAT */
	for (unsigned i = 0; i < ncpus; i++, n += MADT_LAPIC_LEN) {
		t[n] = 0;           /* Processor Local APIC */
		t[n + 1] = MADT_LAPIC_LEN;
		t[n + 2] = (uint8_t)i; /* ACPI processor UID */
		t[n + 3] = (uint8_t)i; /* APIC ID */
		wr32(t, n + 4, 1);  /* enabled */
	}
	t[n] = 1; /* I/O APIC */
	t[n + 1] = 12;
	t[n + 2] = (uint8_t)ncpus;
	t[n + 3] = 0;
	wr32(t, n + 4, IOAPIC_ADDR);
	wr32(t, n + 8, 0);
	n += 12;
	/* ISA IRQ0 (PIT) -> GSI 2, conforming polarity/trigger */
	t[n] = 2;
	t[n + 1] = 10;
	t[n + 2] = 0;
	t[n + 3] = 0;
	wr32(t, n + 4, 2);
	wr16(t, n + 8, 0);
	n += 10;
	/* ISA IRQ9 (SCI) -> GSI 9, active high, level */
	t[n] = 2;
	t[n + 1] = 10;
	t[n + 2] = 0;
	t[n + 3] = VMM_ACPI_SCI_IRQ;
	wr32(t, n + 4, VMM_ACPI_SCI_IRQ);
	wr16(t, n + 8, 0x000d);
	n += 10;
	/* Local APIC NMI: all processors, LINT1 */
	t[n] = 4;
	t[n + 1] = 6;
	t[n + 2] = 0xff;
	wr16(t, n + 3, 0);
	t[n + 5] = 1;
	n += 6;
	wr32(t, 4, (uint32_t)n);
	hdr_finish(t);
	return n;
}

size_t boot_acpi_madt_size(unsigned ncpus)
{
	return 44 + (size_t)ncpus * MADT_LAPIC_LEN + 12 + 10 + 10 + 6;
}

int boot_acpi_build(vmm_vm *vm, unsigned ncpus, uint64_t base, uint8_t *t,
		    size_t size)
{
	struct aml a = { .p = t + OFF_DSDT + HDR,
			 .cap = OFF_MADT - OFF_DSDT - HDR };
	uint8_t *rsdp = t + OFF_RSDP, *rsdt = t + OFF_RSDT, *xsdt = t + OFF_XSDT;
	uint16_t pm = VMM_ACPI_PM_BASE;

	if (ncpus == 0 || ncpus > VMM_MAX_VCPUS)
		return vmm__err(vm, -EINVAL, "acpi: %u vCPUs (1..%u)", ncpus, VMM_MAX_VCPUS);
	if (OFF_MADT + boot_acpi_madt_size(ncpus) > size)
		return vmm__err(vm, -E2BIG,
				"acpi: tables for %u vCPUs need %zu bytes, %zu "
				"available at %#llx", ncpus,
				OFF_MADT + boot_acpi_madt_size(ncpus), size,
				(unsigned long long)base);
	memset(t, 0, size);

	/* RSDP (ACPI 2.0): checksum over the first 20 bytes and all 36 */
	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, ACPI_OEM_ID, 6);
	rsdp[15] = 2;
	wr32(rsdp, 16, (uint32_t)(base + OFF_RSDT));
	wr32(rsdp, 20, RSDP_LEN);
	wr64(rsdp, 24, base + OFF_XSDT);
	rsdp[8] = (uint8_t)-acpi_sum(rsdp, 20);
	rsdp[32] = (uint8_t)-acpi_sum(rsdp, RSDP_LEN);

	hdr(rsdt, "RSDT", HDR + 2 * 4, 1);
	wr32(rsdt, HDR, (uint32_t)(base + OFF_FADT));
	wr32(rsdt, HDR + 4, (uint32_t)(base + OFF_MADT));
	hdr_finish(rsdt);
	hdr(xsdt, "XSDT", HDR + 2 * 8, 1);
	wr64(xsdt, HDR, base + OFF_FADT);
	wr64(xsdt, HDR + 8, base + OFF_MADT);
	hdr_finish(xsdt);

	memcpy(t + OFF_FACS, "FACS", 4);
	wr32(t + OFF_FACS, 4, FACS_LEN);
	t[OFF_FACS + 32] = 2; /* version */

	build_fadt(t + OFF_FADT, base, pm);

	build_dsdt(&a);
	if (a.overflow)
		return vmm__err(vm, -E2BIG, "acpi: DSDT does not fit");
	hdr(t + OFF_DSDT, "DSDT", (uint32_t)(HDR + a.len), 2);
	hdr_finish(t + OFF_DSDT);

	build_madt(t + OFF_MADT, ncpus);
	return 0;
}

int boot_acpi_check_ram(vmm_vm *vm)
{
	if (!vmm_mem_is_ram(vm, LAYOUT_ACPI, LAYOUT_ACPI_SIZE))
		return vmm__err(vm, -EFAULT,
				"acpi: no guest RAM for the tables at [%#llx, "
				"%#llx)", (unsigned long long)LAYOUT_ACPI,
				(unsigned long long)(LAYOUT_ACPI +
						     LAYOUT_ACPI_SIZE));
	return 0;
}

/**
 * vmm_acpi_write() - write the ACPI tables for @ncpus vCPUs (0 = as many
 * as the VM was configured with) at VMM_BOOT_ACPI; the RSDP address goes
 * to *@rsdp (may be NULL).  See acpi.c's header for what the tables hold
 * and docs/linux.md.  Returns 0, -EINVAL, -EFAULT (no RAM there), -ENOMEM.
 */
int vmm_acpi_write(vmm_vm *vm, unsigned ncpus, uint64_t *rsdp)
{
	uint8_t *t;
	int ret;

	if (!vm)
		return -EINVAL;
	if (!ncpus)
		ncpus = vmm__vm_config(vm)->ncpus ? vmm__vm_config(vm)->ncpus : 1;
	ret = boot_acpi_check_ram(vm);
	if (ret < 0)
		return ret;
	t = vmm__alloc(vm, LAYOUT_ACPI_SIZE);
	if (!t)
		return vmm__err(vm, -ENOMEM, "acpi: out of memory");
	ret = boot_acpi_build(vm, ncpus, LAYOUT_ACPI, t, LAYOUT_ACPI_SIZE);
	if (ret == 0) {
		ret = vmm_mem_write(vm, LAYOUT_ACPI, t, LAYOUT_ACPI_SIZE);
		if (ret < 0)
			ret = vmm__err(vm, ret, "acpi: writing guest memory "
				       "failed");
	}
	vmm__free(vm, t);
	if (ret == 0 && rsdp)
		*rsdp = LAYOUT_ACPI + OFF_RSDP;
	return ret;
}
