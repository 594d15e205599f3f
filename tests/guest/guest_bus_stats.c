/* SPDX-License-Identifier: MIT */
/*
 * guest_bus_stats - the bus counters (vmm_bus_get_stats) agree with what the
 * guest did: the UART range at 0x3f8 counts one write per byte printed plus
 * the guest's 7 initialisation writes and at least one LSR read per byte;
 * the debug-exit port counts one 4-byte write; the VM's port-exit count is
 * exactly the sum (these guests touch no other port).
 *
 *   guest_bus_stats BACKEND IMAGE...
 */
#include "harness.h"

#include <errno.h>
#include <string.h>

static void check_image(enum vmm_backend b, const char *image)
{
	struct gh_vm g;
	struct vmm_exit e;
	struct vmm_bus_stats uart = { .struct_size = sizeof(uart) },
		uart_lsr = { .struct_size = sizeof(uart_lsr) },
		dbg = { .struct_size = sizeof(dbg) };
	struct vmm_vm_stats vs = { .struct_size = sizeof(vs) };
	char name[64] = "", desc[160];
	const char *base = strrchr(image, '/') ? strrchr(image, '/') + 1 : image;

	gh_create(&g, base, b, 0, GH_RAM_DEFAULT);
	gh_load(&g, image);
	gh_run(&g, &e);
	GH_CHECK(&g, e.kind == VMM_EXIT_GUEST_EXIT, "got %s",
		 gh_describe_exit(&e, desc, sizeof(desc)));
	char *out = gh_output(&g);
	uint64_t n = strlen(out);
	free(out);

	GH_OK(&g, vmm_bus_get_stats(g.vm, VMM_SPACE_PIO, 0x3f8, &uart, name,
				sizeof(name)));
	GH_OK(&g, vmm_bus_get_stats(g.vm, VMM_SPACE_PIO, 0x3fd, &uart_lsr, NULL,
				0));
	GH_OK(&g, vmm_bus_get_stats(g.vm, VMM_SPACE_PIO, 0xf4, &dbg, NULL, 0));
	GH_OK(&g, vmm_vm_get_stats(g.vm, &vs));
	printf("%s: %llu bytes printed; %s: %llu writes (%llu bytes), %llu "
	       "reads; debug-exit: %llu writes (%llu bytes); %llu port "
	       "exits\n",
	       base, (unsigned long long)n, name,
	       (unsigned long long)uart.writes,
	       (unsigned long long)uart.bytes_written,
	       (unsigned long long)uart.reads, (unsigned long long)dbg.writes,
	       (unsigned long long)dbg.bytes_written,
	       (unsigned long long)vs.io_exits);

	GH_CHECK(&g, name[0] != 0, "the UART range has no name");
	GH_CHECK(&g, uart.writes == n + GH_UART_INIT_WRITES,
		 "UART writes %llu, expected %llu",
		 (unsigned long long)uart.writes,
		 (unsigned long long)(n + GH_UART_INIT_WRITES));
	GH_CHECK(&g, uart.bytes_written == uart.writes,
		 "UART bytes written %llu != writes",
		 (unsigned long long)uart.bytes_written);
	GH_CHECK(&g, uart.reads >= n && uart.bytes_read == uart.reads,
		 "UART reads %llu (%llu bytes) for %llu bytes printed",
		 (unsigned long long)uart.reads,
		 (unsigned long long)uart.bytes_read, (unsigned long long)n);
	GH_CHECK(&g, uart.errors == 0, "UART errors %llu",
		 (unsigned long long)uart.errors);
	GH_CHECK(&g, !memcmp(&uart, &uart_lsr, sizeof(uart)),
		 "0x3fd is not counted in the same range as 0x3f8");
	GH_CHECK(&g, dbg.writes == 1 && dbg.bytes_written == 4 &&
			     dbg.reads == 0,
		 "debug-exit: %llu writes, %llu bytes",
		 (unsigned long long)dbg.writes,
		 (unsigned long long)dbg.bytes_written);
	GH_CHECK(&g, vs.io_exits == uart.writes + uart.reads + dbg.writes,
		 "%llu port exits, devices counted %llu",
		 (unsigned long long)vs.io_exits,
		 (unsigned long long)(uart.writes + uart.reads + dbg.writes));
	GH_CHECK(&g, vmm_bus_get_stats(g.vm, VMM_SPACE_PIO, 0x5550, &uart, NULL,
				   0) == -ENOENT,
		 "stats for a port nobody registered");
	gh_destroy(&g);
}

int main(int argc, char **argv)
{
	enum vmm_backend b = gh_init(argc, argv, 3, "IMAGE...");

	for (int i = 2; i < argc; i++)
		check_image(b, argv[i]);
	return 0;
}
