// SPDX-License-Identifier: MIT
/*
 * test_acpi.c - the ACPI tables (src/boot/acpi.c) parsed back as an OS
 * would: RSDP found by scanning the BIOS area, both checksums; RSDT and
 * XSDT agree; every table's checksum and length; FADT's PM blocks, flags,
 * reset register and DSDT/FACS pointers (32- and 64-bit fields agree); the
 * DSDT's AML package lengths nest exactly and \_S5 is {5, 5, 0, 0}; the
 * MADT has one enabled local APIC per vCPU, the IOAPIC, the overrides and
 * the NMI entry.  Refusals: no RAM (-EFAULT, nothing written), too many
 * vCPUs; allocation failure; the Linux loader passes the RSDP.
 */
#include "boot_test.h"

#include <libvmm/boot.h>

static uint8_t mem[0x20000]; /* 0xe0000 - 0xfffff */

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* A table at @gpa inside the BIOS area: signature, length, checksum. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t;
	uint32_t len;

	assert_true(gpa >= 0xe0000 && gpa < 0x100000 - 36);
	t = mem + (gpa - 0xe0000);
	assert_memory_equal(t, sig, 4);
	len = le32(t + 4);
	assert_true(len >= 36 && gpa + len <= 0x100000);
	assert_int_equal(sum(t, len), 0);
	return t;
}

/* PkgLength at @p: its value and how many bytes it takes. */
static size_t pkglen(const uint8_t *p, size_t *nbytes)
{
	unsigned follow = p[0] >> 6;
	size_t v;

	if (!follow) {
		*nbytes = 1;
		return p[0] & 0x3f;
	}
	v = p[0] & 0xf;
	for (unsigned i = 0; i < follow; i++)
		v |= (size_t)p[1 + i] << (4 + 8 * i);
	*nbytes = 1 + follow;
	return v;
}

static void check_dsdt(const uint8_t *d)
{
	size_t len = le32(d + 4), off = 36, n, l;
	static const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12 };

	/* Name(_S5_, Package(4) {5, 5, 0, 0}) */
	assert_memory_equal(d + off, s5, sizeof(s5));
	off += sizeof(s5);
	l = pkglen(d + off, &n);
	assert_int_equal(d[off + n], 4);                 /* NumElements */
	assert_int_equal(d[off + n + 1], 0x0a);
	assert_int_equal(d[off + n + 2], 5);             /* SLP_TYPa */
	assert_int_equal(d[off + n + 2], VMM_ACPI_SLP_TYP_S5);
	assert_int_equal(d[off + n + 3], 0x0a);
	assert_int_equal(d[off + n + 4], 5);
	off += l;
	/* Scope(\_SB_) { Device(PCI0) {...} } ends exactly at the end */
	assert_int_equal(d[off], 0x10);
	l = pkglen(d + off + 1, &n);
	assert_int_equal(off + 1 + l, len);
	assert_memory_equal(d + off + 1 + n, "\\_SB_", 5);
	off += 1 + n + 5;
	assert_int_equal(d[off], 0x5b);
	assert_int_equal(d[off + 1], 0x82);
	l = pkglen(d + off + 2, &n);
	assert_int_equal(off + 2 + l, len);
	assert_memory_equal(d + off + 2 + n, "PCI0", 4);
	/* _HID EisaId("PNP0A03") somewhere in the device */
	{
		static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0c,
					       0x41, 0xd0, 0x0a, 0x03 };
		bool found = false;

		for (size_t i = off; i + sizeof(hid) <= len; i++)
			found |= !memcmp(d + i, hid, sizeof(hid));
		assert_true(found);
	}
}

static void check_madt(const uint8_t *m, unsigned ncpus)
{
	size_t len = le32(m + 4), off = 44;
	unsigned lapics = 0, ioapics = 0, iso0 = 0, nmi = 0;

	assert_int_equal(le32(m + 36), 0xfee00000);
	assert_int_equal(le32(m + 40) & 1, 1);
	while (off < len) {
		const uint8_t *e = m + off;

		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0:
			assert_int_equal(e[1], 8);
			assert_int_equal(e[3], lapics); /* APIC ID = index */
			assert_int_equal(le32(e + 4) & 1, 1);
			lapics++;
			break;
		case 1:
			assert_int_equal(e[1], 12);
			assert_int_equal(le32(e + 4), 0xfec00000);
			assert_int_equal(le32(e + 8), 0);
			assert_true(e[2] >= ncpus); /* no clash with APIC IDs */
			ioapics++;
			break;
		case 2:
			assert_int_equal(e[1], 10);
			if (e[3] == 0) {
				assert_int_equal(le32(e + 4), 2);
				iso0++;
			}
			break;
		case 4:
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xff);
			assert_int_equal(e[5], 1);
			nmi++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(off, len);
	assert_int_equal(lapics, ncpus);
	assert_int_equal(ioapics, 1);
	assert_int_equal(iso0, 1);
	assert_int_equal(nmi, 1);
}

static void check_fadt(const uint8_t *f)
{
	const uint16_t pm = VMM_ACPI_PM_BASE;

	assert_int_equal(le32(f + 4), 276);
	assert_int_equal(f[8], 6);
	assert_int_equal(le16(f + 46), VMM_ACPI_SCI_IRQ);
	assert_int_equal(le32(f + 48), 0); /* no SMI_CMD */
	assert_int_equal(le32(f + 56), pm + VMM_ACPI_PM1A_EVT);
	assert_int_equal(le32(f + 64), pm + VMM_ACPI_PM1A_CNT);
	assert_int_equal(le32(f + 76), pm + VMM_ACPI_PM_TMR);
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(le32(f + 112) & (1u << 8), 1u << 8);   /* 32-bit */
	assert_int_equal(le32(f + 112) & (1u << 10), 1u << 10); /* reset */
	assert_int_equal(f[116], 1);                            /* I/O */
	assert_int_equal(le64(f + 120), pm + VMM_ACPI_RESET);
	assert_int_equal(f[128], VMM_ACPI_RESET_VALUE);
	/* 32- and 64-bit fields agree */
	assert_int_equal(le64(f + 132), le32(f + 36));
	assert_int_equal(le64(f + 140), le32(f + 40));
	assert_int_equal(le64(f + 148 + 4), pm + VMM_ACPI_PM1A_EVT);
	assert_int_equal(le64(f + 172 + 4), pm + VMM_ACPI_PM1A_CNT);
	assert_int_equal(le64(f + 208 + 4), pm + VMM_ACPI_PM_TMR);
	assert_int_equal(f[208 + 1], 32);
	/* FACS: no checksum, 64 bytes, 64-byte aligned */
	assert_int_equal(le32(f + 36) % 64, 0);
	assert_memory_equal(mem + (le32(f + 36) - 0xe0000), "FACS", 4);
	assert_int_equal(le32(mem + (le32(f + 36) - 0xe0000) + 4), 64);
	check_dsdt(table(le64(f + 140), "DSDT"));
}

/* What an OS does: scan the BIOS area for the RSDP on 16-byte
 * boundaries, then walk the XSDT (and check the RSDT agrees). */
static void parse(vmm_vm *vm, unsigned ncpus, uint64_t rsdp_addr)
{
	const uint8_t *rsdp = NULL, *xsdt, *rsdt;
	bool fadt = false, madt = false;

	assert_int_equal(vmm_mem_read(vm, 0xe0000, mem, sizeof(mem)), 0);
	for (size_t o = 0; o < sizeof(mem); o += 16)
		if (!memcmp(mem + o, "RSD PTR ", 8) && !sum(mem + o, 20)) {
			rsdp = mem + o;
			break;
		}
	assert_non_null(rsdp);
	assert_int_equal(0xe0000 + (uint64_t)(rsdp - mem), rsdp_addr);
	assert_int_equal(rsdp[15], 2);
	assert_int_equal(le32(rsdp + 20), 36);
	assert_int_equal(sum(rsdp, 36), 0);
	xsdt = table(le64(rsdp + 24), "XSDT");
	rsdt = table(le32(rsdp + 16), "RSDT");
	assert_int_equal((le32(xsdt + 4) - 36) / 8, (le32(rsdt + 4) - 36) / 4);
	for (uint32_t i = 0; i < (le32(xsdt + 4) - 36) / 8; i++) {
		uint64_t a = le64(xsdt + 36 + 8 * i);
		const uint8_t *t;

		assert_int_equal(a, le32(rsdt + 36 + 4 * i));
		t = mem + (a - 0xe0000);
		if (!memcmp(t, "FACP", 4)) {
			check_fadt(table(a, "FACP"));
			fadt = true;
		} else if (!memcmp(t, "APIC", 4)) {
			check_madt(table(a, "APIC"), ncpus);
			madt = true;
		} else {
			fail_msg("unexpected table %.4s", (const char *)t);
		}
	}
	assert_true(fadt && madt);
}

static void test_tables(void **state)
{
	static const unsigned counts[] = { 1, 2, 4, 64 };

	(void)state;
	for (size_t i = 0; i < VMM_ARRAY_SIZE(counts); i++) {
		vmm_vm *vm = bt_vm(16 * MIB);
		uint64_t rsdp = 0;

		assert_int_equal(vmm_acpi_write(vm, counts[i], &rsdp), 0);
		parse(vm, counts[i], rsdp);
		vmm_vm_destroy(vm);
	}
}

static void test_refused(void **state)
{
	vmm_vm *vm = bt_vm(512 * 1024); /* RAM ends below the BIOS area */
	uint64_t h = bt_ram_hash(vm), rsdp = 1;

	(void)state;
	assert_int_equal(vmm_acpi_write(vm, 1, &rsdp), -EFAULT);
	assert_int_equal(rsdp, 1);
	assert_true(bt_ram_hash(vm) == h);
	vmm_vm_destroy(vm);
	vm = bt_vm(16 * MIB);
	h = bt_ram_hash(vm);
	assert_int_equal(vmm_acpi_write(vm, VMM_MAX_VCPUS + 1, &rsdp), -EINVAL);
	assert_true(bt_ram_hash(vm) == h);
	assert_int_equal(vmm_acpi_write(NULL, 1, &rsdp), -EINVAL);
	vmm_vm_destroy(vm);
}

static int load_acpi(vmm_vm *vm, void *arg)
{
	(void)arg;
	return vmm_acpi_write(vm, 2, NULL);
}

static void test_alloc_failure(void **state)
{
	(void)state;
	assert_true(bt_alloc_failure_loop(16 * MIB, load_acpi, NULL) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_alloc_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
