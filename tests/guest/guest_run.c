/* SPDX-License-Identifier: MIT */
/*
 * guest_run - run one guest image to its end and check its whole UART
 * output and how it ended.
 *
 *   guest_run BACKEND IMAGE EXPECTED_OUTPUT_FILE END
 *
 * END is the debug-exit status the guest must end with (the same number
 * QEMU exits with for the image, see tests/guests/meson.build), or
 * "shutdown" for a guest that must triple-fault.  Any other exit (an
 * unhandled port or MMIO access, an internal error, ...) fails.
 */
#include "harness.h"

#include <string.h>

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 5,
				     "IMAGE EXPECTED_FILE STATUS|shutdown");
	const char *image = argv[2], *end = argv[4];
	char *expected = gh_read_file(argv[3], NULL);
	bool want_shutdown = !strcmp(end, "shutdown");
	unsigned want_status = want_shutdown ? 0 : (unsigned)strtoul(end, NULL, 0);
	struct gh_vm g;
	struct vmm_exit exit;
	struct vmm_vm_stats st = { .struct_size = sizeof(st) };
	char desc[160];
	const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;

	gh_create(&g, base, b, 0, GH_RAM_DEFAULT);
	gh_load(&g, image);
	double t0 = gh_now();
	gh_run(&g, &exit);
	double t1 = gh_now();

	gh_describe_exit(&exit, desc, sizeof(desc));
	if (want_shutdown)
		GH_CHECK(&g, exit.kind == VMM_EXIT_SHUTDOWN,
			 "expected a shutdown (triple fault), got %s", desc);
	else
		GH_CHECK(&g,
			 exit.kind == VMM_EXIT_GUEST_EXIT &&
				 exit.guest.status == want_status &&
				 exit.guest.value == want_status >> 1,
			 "expected guest-exit status %u, got %s", want_status,
			 desc);
	gh_expect_output(&g, expected);

	GH_OK(&g, vmm_vm_get_stats(g.vm, &st));
	char *out = gh_output(&g);
	printf("%s", out);
	printf("%s on %s: %s in %.1f ms; %llu exits (%llu port I/O, %llu "
	       "MMIO)\n",
	       base, vmm_backend_name(vmm_vm_backend(g.vm)), desc,
	       (t1 - t0) * 1e3, (unsigned long long)st.exits,
	       (unsigned long long)st.io_exits,
	       (unsigned long long)st.mmio_exits);
	GH_CHECK(&g, st.io_exits >= strlen(out), "fewer port exits (%llu) "
		 "than bytes printed (%zu)", (unsigned long long)st.io_exits,
		 strlen(out));
	free(out);
	free(expected);
	gh_destroy(&g);
	return 0;
}
