/* SPDX-License-Identifier: MIT */
/*
 * libvmm/boot.h - loading guests: flat binaries, ELF32/ELF64, multiboot v1,
 * Linux bzImage (x86 boot protocol, 64-bit entry).
 *
 * Every loader validates its input before it writes anything: a truncated,
 * oversized or malformed image gives -ENOEXEC (bad format) or -EFAULT /
 * -E2BIG (does not fit guest RAM) and a message in vmm_last_error(), and
 * never touches memory outside guest RAM.  A loader fills struct
 * vmm_boot_info, from which vmm_boot_setup_vcpu() builds the entry state.
 */
#ifndef LIBVMM_BOOT_H
#define LIBVMM_BOOT_H

#include <libvmm/common.h>
#include <libvmm/state.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vmm_image_format {
	VMM_IMAGE_UNKNOWN = 0,
	VMM_IMAGE_FLAT,      /**< raw bytes at a load address */
	VMM_IMAGE_ELF,       /**< ELF32 or ELF64 executable */
	VMM_IMAGE_MULTIBOOT, /**< multiboot v1 (header in the first 8 KiB) */
	VMM_IMAGE_BZIMAGE,   /**< Linux x86 boot protocol >= 2.06 */
};

/** vmm_image_format_name() - "flat", "elf", "multiboot", "bzimage". */
VMM_API const char *vmm_image_format_name(enum vmm_image_format f);

/**
 * vmm_image_detect() - guess the format of @img: bzImage ("HdrS" at 0x202),
 * multiboot (magic 0x1BADB002 with valid checksum in the first 8 KiB),
 * ELF (\x7fELF), otherwise FLAT.
 */
VMM_API enum vmm_image_format vmm_image_detect(const void *img, size_t len);

/** The CPU mode a guest starts in. */
enum vmm_boot_mode {
	VMM_BOOT_REAL16 = 0,  /**< real mode, cs:ip from the info */
	VMM_BOOT_PROT32 = 1,  /**< flat 32-bit protected mode, paging off */
	VMM_BOOT_LONG64 = 2,  /**< 64-bit mode, identity-mapped page tables */
	/**
	 * 64-bit mode at CPL3: the LONG64 identity map with user-accessible
	 * pages, user code/data segments in the boot GDT and a 64-bit TSS
	 * whose I/O permission bitmap allows every port (IOPL 3 as well).
	 * For guests that run entirely at user level (sandboxed functions,
	 * test programs): nothing inside the guest is protected from the
	 * guest, and without an IDT any exception is a triple fault
	 * (VMM_EXIT_SHUTDOWN).  On nested KVM hosts that emulate CPL0 but run
	 * CPL3 natively (docs/machines.md) this is the fast way in.
	 */
	VMM_BOOT_LONG64_USER = 3,
};

/*
 * Where the loaders put their boot structures (an image that overlaps one a
 * loader writes is refused with -EEXIST):
 * the GDT at VMM_BOOT_GDT, the Linux zero page at VMM_BOOT_ZERO_PAGE, the
 * multiboot information (with memory map, module list and strings) at
 * VMM_BOOT_MBI and the ACPI tables (vmm_acpi_write()) at VMM_BOOT_ACPI,
 * both in the e820-reserved BIOS area 0xe0000 - 0xfffff as a PC firmware
 * (and QEMU) keeps its data there, the command line at VMM_BOOT_CMDLINE, and for LONG64 the
 * identity page tables (2 MiB pages, at least 4 GiB, at most 64 GiB) from
 * VMM_BOOT_PML4, and for LONG64_USER also the TSS (104 bytes, the I/O
 * bitmap and its terminating byte: VMM_BOOT_TSS_SIZE) at VMM_BOOT_TSS.  Nothing is written below VMM_BOOT_GDT (IVT, BIOS data)
 * nor in [VMM_BOOT_AREA_END, 0xe0000) or from 1 MiB, except the image
 * itself, its modules and the initrd.  REAL16 flat images get no boot structures at all.
 */
#define VMM_BOOT_GDT 0x500ull
#define VMM_BOOT_TSS 0x1000ull
#define VMM_BOOT_TSS_SIZE (104ull + 8192 + 1)
#define VMM_BOOT_ZERO_PAGE 0x7000ull
#define VMM_BOOT_MBI 0xf0000ull
#define VMM_BOOT_ACPI 0xe0000ull
#define VMM_BOOT_CMDLINE 0x10000ull
#define VMM_BOOT_PML4 0x20000ull
#define VMM_BOOT_AREA_END 0x62000ull

/*
 * Selectors of the boot GDT.  VMM_BOOT_SEL_CODE is the entry CS: flat
 * 32-bit code in PROT32, 64-bit code in LONG64 (Linux's __BOOT_CS);
 * VMM_BOOT_SEL_DATA is flat read/write data (__BOOT_DS) in DS/ES/FS/GS/SS.
 * VMM_BOOT_SEL_CODE64 and VMM_BOOT_SEL_CODE32 are always 64-bit and 32-bit
 * code, for guests that switch modes.
 */
#define VMM_BOOT_SEL_CODE 0x10
#define VMM_BOOT_SEL_DATA 0x18
#define VMM_BOOT_SEL_CODE64 0x20
#define VMM_BOOT_SEL_CODE32 0x28
/*
 * LONG64_USER adds DPL-3 flat data (VMM_BOOT_SEL_USER_DATA, in DS/ES/FS/GS/
 * SS) and 64-bit code (VMM_BOOT_SEL_USER_CODE64, the entry CS) — selector
 * values with RPL 3 — and the TSS descriptor (16 bytes, VMM_BOOT_SEL_TSS,
 * loaded in TR).
 */
#define VMM_BOOT_SEL_USER_DATA 0x33
#define VMM_BOOT_SEL_USER_CODE64 0x3b
#define VMM_BOOT_SEL_TSS 0x40

/** Multiboot v1: EAX at entry, and the header magic. */
#define VMM_MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002u
#define VMM_MULTIBOOT_HEADER_MAGIC 0x1badb002u

/** A module for the multiboot loader (and initrd for Linux). */
struct vmm_boot_module {
	const void *data;
	size_t len;
	const char *cmdline;
};

/**
 * struct vmm_boot_info - what a loader produced.
 * @mode:   the entry CPU mode.
 * @entry:  entry point (RIP/EIP); for REAL16, the linear address.
 * @regs:   initial general-purpose registers (e.g. RSI = boot_params for
 *          Linux, EAX/EBX = multiboot magic/info).
 * @stack:  initial stack pointer (0 = leave as in @regs).
 * @cr3:    page-table root built for LONG64 (identity map of the first
 *          4 GiB + all RAM), else 0.
 * @gdt:    where the loader put a GDT with flat code/data segments (LONG64,
 *          PROT32), else 0.
 * @load_start, @load_end: the guest-physical span the image occupies.
 */
struct vmm_boot_info {
	enum vmm_image_format format;
	enum vmm_boot_mode mode;
	uint64_t entry;
	uint64_t regs[VMM_NR_GPRS];
	uint64_t stack;
	uint64_t cr3;
	uint64_t gdt;
	uint64_t load_start, load_end;
	uint64_t boot_params; /**< bzImage: zero page address */
	uint64_t cmdline_gpa;
	uint64_t initrd_gpa, initrd_len;
};

/**
 * vmm_image_load_flat() - copy @img to guest-physical @gpa.  Entry = @gpa in
 * @mode (for REAL16 the image runs at CS = @gpa >> 4, IP = @gpa & 15).
 * The only loader that takes VMM_BOOT_LONG64_USER.
 */
VMM_API VMM_MUST_CHECK int vmm_image_load_flat(vmm_vm *vm, const void *img,
					 size_t len, vmm_gpa_t gpa,
					 enum vmm_boot_mode mode,
					 struct vmm_boot_info *info);

/**
 * vmm_image_load_elf() - load the PT_LOAD segments of an ELF32 or ELF64
 * executable at their physical addresses (p_paddr), zero-fill bss, entry
 * e_entry (ELF32: PROT32, ELF64: LONG64 with identity paging).
 */
VMM_API VMM_MUST_CHECK int vmm_image_load_elf(vmm_vm *vm, const void *img,
					size_t len, struct vmm_boot_info *info);

/**
 * vmm_image_load_multiboot() - multiboot v1: loads per the header's address
 * fields (or as ELF if bit 16 is clear), builds the info structure with
 * memory map, command line and modules, EAX = 0x2BADB002, EBX = info.
 */
VMM_API VMM_MUST_CHECK int
vmm_image_load_multiboot(vmm_vm *vm, const void *img, size_t len,
		   const char *cmdline, const struct vmm_boot_module *mods,
		   unsigned nmods, struct vmm_boot_info *info);

/**
 * vmm_image_load_linux() - Linux x86 boot protocol (>= 2.06, 64-bit entry): the
 * protected-mode kernel at 1 MiB (or its pref_address if relocatable and
 * needed), boot_params (zero page) with an e820 map of the VM's RAM, the
 * command line, the initrd below initrd_addr_max; RSI = boot_params,
 * identity page tables, entry = load address + 0x200.  Also writes the
 * ACPI tables (vmm_acpi_write() for the VM's configured vCPU count) and
 * puts the RSDP into boot_params.acpi_rsdp_addr; attach
 * vmm_acpi_pm_attach() for the power-off, reset and PM timer they
 * describe.
 */
VMM_API VMM_MUST_CHECK int vmm_image_load_linux(vmm_vm *vm, const void *kernel,
					  size_t klen, const void *initrd,
					  size_t ilen, const char *cmdline,
					  struct vmm_boot_info *info);

/*
 * ACPI (vmm_acpi_write(), docs/linux.md): the fixed-hardware registers the
 * FADT describes are those of the ACPI PM device, vmm_acpi_pm_attach(),
 * in I/O space from VMM_ACPI_PM_BASE: PM1a event block (status + enable,
 * 4 bytes), PM1a control (2 bytes), the PM timer (4 bytes) and the reset
 * register (1 byte; writing VMM_ACPI_RESET_VALUE resets).  The SCI is ISA
 * IRQ VMM_ACPI_SCI_IRQ.  The DSDT's PCI host bridge offers the 32-bit
 * window from VMM_ACPI_PCI_MMIO_BASE up to the IOAPIC for BARs.
 */
#define VMM_ACPI_PM_BASE 0x600
#define VMM_ACPI_PM1A_EVT 0x0
#define VMM_ACPI_PM1A_CNT 0x4
#define VMM_ACPI_PM_TMR 0x8
#define VMM_ACPI_RESET 0xc
#define VMM_ACPI_PM_SIZE 0x10
#define VMM_ACPI_RESET_VALUE 0x0e
#define VMM_ACPI_SCI_IRQ 9
#define VMM_ACPI_PCI_MMIO_BASE 0xe0000000ull
/** The PM timer's rate in Hz (ACPI: 3.579545 MHz). */
#define VMM_ACPI_PM_TIMER_HZ 3579545u
/** The SLP_TYP of S5 in the DSDT's \_S5 package. */
#define VMM_ACPI_SLP_TYP_S5 5

/**
 * vmm_acpi_write() - write ACPI tables (RSDP, RSDT, XSDT, FADT, FACS, DSDT
 * with \_S5 and a PCI host bridge, MADT with one local APIC per vCPU, the
 * IOAPIC, IRQ0->GSI2 and SCI overrides, LINT1 NMI) for @ncpus vCPUs (0 =
 * the VM's configured count) at VMM_BOOT_ACPI; *@rsdp (may be NULL) gets
 * the RSDP's address.  vmm_image_load_linux() calls it and passes the RSDP in
 * boot_params; other guests find it by the usual scan of 0xe0000-0xfffff.
 * Returns 0, -EINVAL (@ncpus above VMM_MAX_VCPUS), -EFAULT (no RAM at
 * VMM_BOOT_ACPI), -ENOMEM.
 */
VMM_API VMM_MUST_CHECK int vmm_acpi_write(vmm_vm *vm, unsigned ncpus,
					  uint64_t *rsdp);

/**
 * vmm_boot_setup_vcpu() - set @vcpu's state to enter the loaded guest as
 * @info describes (mode, segments, GDT, paging, registers).  The vCPU's
 * other state is reset first, except the local APIC registers, APIC_BASE
 * and the TSC, which are kept.  -EINVAL for an unknown mode, a REAL16 entry
 * at or above 1 MiB, a PROT32 entry above 4 GiB or LONG64 without @cr3.
 */
VMM_API VMM_MUST_CHECK int vmm_boot_setup_vcpu(vmm_vcpu *vcpu,
					       const struct vmm_boot_info *info);

/**
 * vmm_boot_build_state() - the same, into a state struct (no vCPU needed):
 * @st is filled completely, starting from vmm_state_reset(@st, true).
 */
VMM_API void vmm_boot_build_state(const struct vmm_boot_info *info,
				  struct vmm_cpu_state *st);

#ifdef __cplusplus
}
#endif
#endif
