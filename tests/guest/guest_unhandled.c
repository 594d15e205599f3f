/* SPDX-License-Identifier: MIT */
/*
 * guest_unhandled - accesses that hit no device.
 *
 *   guest_unhandled BACKEND mmio MMIO_UNMAPPED_IMAGE
 *   guest_unhandled BACKEND pio OOB_IMAGE
 *
 * Without VMM_CFG_IGNORE_UNHANDLED_IO each access comes back to the
 * embedder as an MMIO (or port I/O) exit with the right address, size,
 * direction and written data; the embedder supplies the read values and the
 * guest prints exactly those.  With the flag the run loop completes them
 * like an empty bus (reads all ones) and counts them in vmm_vm_get_stats().
 */
#include "harness.h"

#include <string.h>

#define HOLE 0xd0000000ull
#define OOB_PORT 0x5550

static void next(struct gh_vm *g, struct vmm_exit *e, enum vmm_exit_kind kind)
{
	char desc[160];

	gh_run(g, e);
	GH_CHECK(g, e->kind == kind, "expected a %s exit, got %s",
		 vmm_exit_name(kind), gh_describe_exit(e, desc, sizeof(desc)));
}

static void expect_mmio(struct gh_vm *g, struct vmm_exit *e, uint64_t gpa,
			uint32_t len, bool is_write)
{
	char desc[160];

	next(g, e, VMM_EXIT_MMIO);
	GH_CHECK(g, e->mmio.gpa == gpa && e->mmio.len == len &&
			    !!e->mmio.is_write == is_write && e->mmio.data,
		 "expected mmio %s gpa 0x%llx len %u, got %s",
		 is_write ? "write" : "read", (unsigned long long)gpa, len,
		 gh_describe_exit(e, desc, sizeof(desc)));
}

static void expect_io(struct gh_vm *g, struct vmm_exit *e, uint8_t size,
		      bool is_write)
{
	char desc[160];

	next(g, e, VMM_EXIT_IO);
	GH_CHECK(g, e->io.port == OOB_PORT && e->io.size == size &&
			    !!e->io.is_write == is_write && e->io.count == 1 &&
			    e->io.data,
		 "expected io %s port 0x%x size %u, got %s",
		 is_write ? "write" : "read", OOB_PORT, size,
		 gh_describe_exit(e, desc, sizeof(desc)));
}

static void expect_end(struct gh_vm *g, struct vmm_exit *e, unsigned status)
{
	char desc[160];

	next(g, e, VMM_EXIT_GUEST_EXIT);
	GH_CHECK(g, e->guest.status == status, "expected status %u, got %s",
		 status, gh_describe_exit(e, desc, sizeof(desc)));
}

static void mmio_by_embedder(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	uint32_t v32;
	uint64_t v64;

	gh_create(&g, "mmio_unmapped", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, image);
	expect_mmio(&g, &e, HOLE, 4, true);
	memcpy(&v32, e.mmio.data, 4);
	GH_CHECK(&g, v32 == 0x12345678, "wrote 0x%x", v32);
	expect_mmio(&g, &e, HOLE, 4, false);
	v32 = 0xcafef00d;
	memcpy(e.mmio.data, &v32, 4);
	expect_mmio(&g, &e, HOLE + 0x10, 1, false);
	e.mmio.data[0] = 0x5a;
	expect_mmio(&g, &e, HOLE + 0x20, 8, true);
	memcpy(&v64, e.mmio.data, 8);
	GH_CHECK(&g, v64 == 0x1122334455667788ull, "wrote 0x%llx",
		 (unsigned long long)v64);
	expect_end(&g, &e, GH_STATUS_MMIO);
	gh_expect_output(&g, "mmio: write32 0x12345678 to 0xd0000000\n"
			     "mmio: read32 0xcafef00d\n"
			     "mmio: read8 0x5a\n"
			     "mmio: write64 done\n");
	GH_OK(&g, vmm_vm_get_stats(g.vm, &st));
	GH_CHECK(&g, st.mmio_exits == 4 && st.unhandled_io == 4,
		 "stats: %llu MMIO exits, %llu unhandled (expected 4, 4)",
		 (unsigned long long)st.mmio_exits,
		 (unsigned long long)st.unhandled_io);
	gh_destroy(&g);
}

static void mmio_ignored(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };

	gh_create(&g, "mmio_unmapped/ignore", b, VMM_CFG_IGNORE_UNHANDLED_IO,
		  GH_RAM_DEFAULT);
	gh_load(&g, image);
	expect_end(&g, &e, GH_STATUS_MMIO);
	gh_expect_output(&g, "mmio: write32 0x12345678 to 0xd0000000\n"
			     "mmio: read32 0xffffffff\n"
			     "mmio: read8 0xff\n"
			     "mmio: write64 done\n");
	GH_OK(&g, vmm_vm_get_stats(g.vm, &st));
	GH_CHECK(&g, st.unhandled_io == 4, "%llu unhandled accesses counted",
		 (unsigned long long)st.unhandled_io);
	gh_destroy(&g);
}

static void pio_by_embedder(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;

	gh_create(&g, "oob", b, 0, GH_RAM_DEFAULT);
	gh_load(&g, image);
	expect_io(&g, &e, 1, true);
	GH_CHECK(&g, e.io.data[0] == 0xa5, "wrote 0x%x", e.io.data[0]);
	expect_io(&g, &e, 1, false);
	e.io.data[0] = 0x12;
	expect_io(&g, &e, 2, false);
	e.io.data[0] = 0x56;
	e.io.data[1] = 0x34;
	expect_io(&g, &e, 4, false);
	uint32_t v = 0x789abcde;
	memcpy(e.io.data, &v, 4);
	expect_end(&g, &e, GH_STATUS_OOB);
	gh_expect_output(&g, "oob: out8 0xa5 to port 0x5550\n"
			     "oob: in8 0x12 in16 0x3456 in32 0x789abcde\n");
	gh_destroy(&g);
}

static void pio_ignored(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };

	gh_create(&g, "oob/ignore", b, VMM_CFG_IGNORE_UNHANDLED_IO,
		  GH_RAM_DEFAULT);
	gh_load(&g, image);
	expect_end(&g, &e, GH_STATUS_OOB);
	/* Same as QEMU gives (tests/guests/expected/oob.txt). */
	gh_expect_output(&g, "oob: out8 0xa5 to port 0x5550\n"
			     "oob: in8 0xff in16 0xffff in32 0xffffffff\n");
	GH_OK(&g, vmm_vm_get_stats(g.vm, &st));
	GH_CHECK(&g, st.unhandled_io == 4, "%llu unhandled accesses counted",
		 (unsigned long long)st.unhandled_io);
	gh_destroy(&g);
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 4, "mmio|pio IMAGE");

	if (!strcmp(argv[2], "mmio")) {
		mmio_by_embedder(b, argv[3]);
		mmio_ignored(b, argv[3]);
	} else if (!strcmp(argv[2], "pio")) {
		pio_by_embedder(b, argv[3]);
		pio_ignored(b, argv[3]);
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[2]);
		return 1;
	}
	printf("%s: embedder-supplied and ignored accesses OK\n", argv[2]);
	return 0;
}
