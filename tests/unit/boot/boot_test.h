/* SPDX-License-Identifier: MIT */
/*
 * boot_test.h - shared helpers of the src/boot unit tests: null-backend VMs
 * with RAM, a hash of all guest RAM (to prove a refused image wrote
 * nothing), little-endian pokes and builders for synthetic images (ELF32,
 * ELF64, multiboot, bzImage).
 */
#ifndef TESTS_BOOT_TEST_H
#define TESTS_BOOT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/internal.h"
#include "failalloc.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static inline vmm_vm *bt_vm_fa(uint64_t ram, struct failalloc *fa)
{
	struct vmm_config cfg;
	vmm_vm *vm = NULL;

	vmm_config_init(&cfg);
	cfg.ram_size = ram;
	if (fa)
		cfg.allocator = &fa->a;
	assert_int_equal(vmm__vm_create_null(&cfg, &vm), 0);
	return vm;
}

static inline vmm_vm *bt_vm(uint64_t ram)
{
	return bt_vm_fa(ram, NULL);
}

/* FNV-1a over every RAM region (small test VMs only). */
static inline uint64_t bt_ram_hash(vmm_vm *vm)
{
	struct vmm_mem_info r[16];
	uint64_t h = 0xcbf29ce484222325ull;
	static uint8_t buf[1 << 16];
	int n;

	r[0].struct_size = sizeof(r[0]);
	n = vmm_mem_get_regions(vm, r, 16);

	assert_true(n >= 0 && n <= 16);
	for (int i = 0; i < n; i++) {
		for (uint64_t off = 0; off < r[i].size; off += sizeof(buf)) {
			size_t len = sizeof(buf);

			if (r[i].size - off < len)
				len = r[i].size - off;
			assert_int_equal(
				vmm_mem_read(vm, r[i].gpa + off, buf, len), 0);
			for (size_t j = 0; j < len; j += 8) {
				uint64_t w;

				memcpy(&w, buf + j, 8);
				h = (h ^ w) * 0x100000001b3ull;
			}
		}
	}
	return h;
}

/* A VM whose RAM is filled with 0xa5, so that zero writes show too. */
static inline vmm_vm *bt_vm_pattern(uint64_t ram)
{
	vmm_vm *vm = bt_vm(ram);

	assert_int_equal(vmm_mem_fill(vm, 0, 0xa5, ram), 0);
	return vm;
}

static inline bool bt_has_error(vmm_vm *vm)
{
	char msg[256];

	return vmm_last_error(vm, msg, sizeof(msg)) > 0;
}

/*
 * BT_REFUSED() - @call must return @err, leave a message and leave guest
 * RAM exactly as it was.
 */
#define BT_REFUSED(vm, err, call)                                              \
	do {                                                                   \
		uint64_t h0_ = bt_ram_hash(vm);                                \
		assert_int_equal((call), (err));                               \
		assert_true(bt_has_error(vm));                                 \
		assert_true(bt_ram_hash(vm) == h0_);                           \
	} while (0)

static inline void p8(uint8_t *b, size_t o, uint8_t v) { b[o] = v; }
static inline void p16(uint8_t *b, size_t o, uint16_t v) { memcpy(b + o, &v, 2); }
static inline void p32(uint8_t *b, size_t o, uint32_t v) { memcpy(b + o, &v, 4); }
static inline void p64(uint8_t *b, size_t o, uint64_t v) { memcpy(b + o, &v, 8); }
static inline uint16_t g16(const uint8_t *b, size_t o) { uint16_t v; memcpy(&v, b + o, 2); return v; }
static inline uint32_t g32(const uint8_t *b, size_t o) { uint32_t v; memcpy(&v, b + o, 4); return v; }
static inline uint64_t g64(const uint8_t *b, size_t o) { uint64_t v; memcpy(&v, b + o, 8); return v; }

static inline uint32_t gread32(vmm_vm *vm, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(vmm_mem_read(vm, gpa, &v, 4), 0);
	return v;
}

static inline uint64_t gread64(vmm_vm *vm, uint64_t gpa)
{
	uint64_t v;

	assert_int_equal(vmm_mem_read(vm, gpa, &v, 8), 0);
	return v;
}

/* --- ELF ------------------------------------------------------------- */

struct bt_seg {
	uint32_t type;
	uint64_t offset, vaddr, paddr, filesz, memsz;
};

#define BT_PT_LOAD 1
#define BT_EHDR32 52
#define BT_EHDR64 64
#define BT_PHDR32 32
#define BT_PHDR64 56

/*
 * bt_elf() - an ELF header with @n program headers right after it, into
 * @b (zeroed by the caller, big enough).  Returns the header size (where
 * segment data may start).
 */
static inline size_t bt_elf(uint8_t *b, bool is64, uint64_t entry,
			    const struct bt_seg *s, int n)
{
	size_t eh = is64 ? BT_EHDR64 : BT_EHDR32;
	size_t ph = is64 ? BT_PHDR64 : BT_PHDR32;

	memcpy(b, "\x7f" "ELF", 4);
	b[4] = is64 ? 2 : 1;
	b[5] = 1;
	b[6] = 1;
	p16(b, 16, 2);
	p16(b, 18, is64 ? 62 : 3);
	p32(b, 20, 1);
	if (is64) {
		p64(b, 24, entry);
		p64(b, 32, eh);
		p16(b, 52, (uint16_t)eh);
		p16(b, 54, (uint16_t)ph);
		p16(b, 56, (uint16_t)n);
	} else {
		p32(b, 24, (uint32_t)entry);
		p32(b, 28, (uint32_t)eh);
		p16(b, 40, (uint16_t)eh);
		p16(b, 42, (uint16_t)ph);
		p16(b, 44, (uint16_t)n);
	}
	for (int i = 0; i < n; i++) {
		uint8_t *p = b + eh + (size_t)i * ph;

		p32(p, 0, s[i].type);
		if (is64) {
			p32(p, 4, 5);
			p64(p, 8, s[i].offset);
			p64(p, 16, s[i].vaddr);
			p64(p, 24, s[i].paddr);
			p64(p, 32, s[i].filesz);
			p64(p, 40, s[i].memsz);
		} else {
			p32(p, 4, (uint32_t)s[i].offset);
			p32(p, 8, (uint32_t)s[i].vaddr);
			p32(p, 12, (uint32_t)s[i].paddr);
			p32(p, 16, (uint32_t)s[i].filesz);
			p32(p, 20, (uint32_t)s[i].memsz);
		}
	}
	return eh + (size_t)n * ph;
}

/* --- multiboot ------------------------------------------------------- */

#define BT_MB_MAGIC 0x1badb002u

/* A multiboot header at @off with @flags and (if bit 16) address fields. */
static inline void bt_mb_header(uint8_t *b, size_t off, uint32_t flags,
				const uint32_t addr[5])
{
	p32(b, off, BT_MB_MAGIC);
	p32(b, off + 4, flags);
	p32(b, off + 8, (uint32_t)-(BT_MB_MAGIC + flags));
	if (addr)
		for (int i = 0; i < 5; i++)
			p32(b, off + 12 + 4 * i, addr[i]);
}

/* --- bzImage --------------------------------------------------------- */

#define BT_BZ_SETUP_SECTS 4
#define BT_BZ_SETUP ((BT_BZ_SETUP_SECTS + 1) * 512)

/*
 * bt_bzimage() - a synthetic protocol 2.15 bzImage: 4 setup sectors, a
 * header ending at 0x268, then @payload bytes of pattern (i * 7 + 1).
 * Returns the total length (BT_BZ_SETUP + @payload); @b must hold it.
 */
static inline size_t bt_bzimage(uint8_t *b, size_t payload)
{
	memset(b, 0, BT_BZ_SETUP);
	p8(b, 0x1f1, BT_BZ_SETUP_SECTS);
	p16(b, 0x1f2, 1);            /* root_flags */
	p32(b, 0x1f4, (uint32_t)(payload / 16));
	p16(b, 0x1fa, 0xfffd);        /* vid_mode as the image has it */
	p16(b, 0x1fe, 0xaa55);
	p8(b, 0x200, 0xeb);
	p8(b, 0x201, 0x66);           /* header ends at 0x268 */
	memcpy(b + 0x202, "HdrS", 4);
	p16(b, 0x206, 0x020f);
	p16(b, 0x20e, 0x1234);        /* kernel_version */
	p8(b, 0x211, 0x01);           /* LOADED_HIGH */
	p32(b, 0x214, 0x100000);
	p32(b, 0x22c, 0x7fffffff);    /* initrd_addr_max */
	p32(b, 0x230, 0x200000);      /* kernel_alignment */
	p8(b, 0x234, 1);              /* relocatable */
	p8(b, 0x235, 21);
	p16(b, 0x236, 0x1 | 0x2);     /* XLF_KERNEL_64 | CAN_BE_LOADED_ABOVE_4G */
	p32(b, 0x238, 2047);          /* cmdline_size */
	p32(b, 0x248, 0x3a4);         /* payload_offset */
	p32(b, 0x24c, 0x1000);
	p64(b, 0x258, 0x1000000);     /* pref_address */
	p32(b, 0x260, 0x200000);      /* init_size */
	for (size_t i = 0; i < payload; i++)
		b[BT_BZ_SETUP + i] = (uint8_t)(i * 7 + 1);
	return BT_BZ_SETUP + payload;
}


/*
 * bt_alloc_failure_loop() - run @load on a fresh VM of @ram bytes, failing
 * its n-th allocation for n = 0, 1, ... until the load succeeds.  Every
 * failure must return -ENOMEM, leave guest RAM untouched and leak nothing.
 * Returns the n that succeeded (how many allocations the load makes).
 */
static inline long bt_alloc_failure_loop(uint64_t ram,
					 int (*load)(vmm_vm *vm, void *arg),
					 void *arg)
{
	for (long n = 0;; n++) {
		struct failalloc fa;
		vmm_vm *vm;
		uint64_t h;
		bool failed;
		int ret;

		failalloc_init(&fa, -1);
		vm = bt_vm_fa(ram, &fa);
		h = bt_ram_hash(vm);
		fa.fail_at = fa.count + n;
		ret = load(vm, arg);
		failed = fa.failed;
		if (failed) {
			assert_int_equal(ret, -ENOMEM);
			assert_true(bt_ram_hash(vm) == h);
		} else {
			assert_int_equal(ret, 0);
		}
		vmm_vm_destroy(vm);
		assert_int_equal(fa.live, 0);
		if (!failed)
			return n;
	}
}

#endif
