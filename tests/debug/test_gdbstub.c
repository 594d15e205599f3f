/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the gdb stub (src/debug): framing and hex parsing, the
 * command handlers against a soft-backend VM running a tiny CPL3 loop,
 * hostile packets, and whole sessions over a socketpair (breakpoint,
 * step, Ctrl-C, the guest's exit, detach).
 */
#include "debug/gdb_impl.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

/* 0x100000: inc rax; inc rbx; cmp rax, 0x1000; jne 0x100000;
 *           mov al, 42; out 0xf4, al; jmp . */
static const uint8_t guest[] = { 0x48, 0xff, 0xc0, 0x48, 0xff, 0xc3, 0x48,
				 0x3d, 0x00, 0x10, 0x00, 0x00, 0x75, 0xf2,
				 0xb0, 0x2a, 0xe6, 0xf4, 0xeb, 0xfe };
#define BASE 0x100000ull

struct fix {
	vmm_vm *vm;
	vmm_gdb *g;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	struct vmm_config cfg;
	struct vmm_boot_info bi;
	vmm_vcpu *v;
	vmm_dev *d;

	vmm_config_init(&cfg);
	cfg.backend = VMM_BACKEND_SOFT;
	cfg.ram_size = 16 << 20;
	cfg.ncpus = 2;
	assert_int_equal(vmm_vm_create(&cfg, &f->vm), 0);
	assert_int_equal(vmm_debug_exit_attach(f->vm, 0xf4, 1, &d), 0);
	assert_int_equal(vmm_image_load_flat(f->vm, guest, sizeof(guest), BASE,
				       VMM_BOOT_LONG64_USER, &bi), 0);
	assert_int_equal(vmm_vcpu_create(f->vm, 0, &v), 0);
	assert_int_equal(vmm_boot_setup_vcpu(v, &bi), 0);
	assert_int_equal(vmm_vcpu_create(f->vm, 1, &v), 0);
	assert_int_equal(vmm_boot_setup_vcpu(v, &bi), 0);
	assert_int_equal(vmm_gdb_create(f->vm, NULL, &f->g), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	vmm_gdb_destroy(f->g);
	vmm_vm_destroy(f->vm);
	free(f);
	return 0;
}

/* Run one command; return the reply as a string (static buffer). */
static const char *cmd(struct fix *f, const char *c)
{
	static char pkt[70000], out[70000];
	size_t n = strlen(c);
	int r;

	memcpy(pkt, c, n + 1);
	r = gdb_handle_packet(f->g, pkt, n);
	assert_true(r == 0 || r == 2);
	memcpy(out, f->g->out, f->g->outlen);
	out[f->g->outlen] = '\0';
	return out;
}

static void feed(struct gdb_rx *rx, const char *s, int *last)
{
	while (*s)
		*last = gdb_rx_byte(rx, (uint8_t)*s++);
}

static void test_framing(void **state)
{
	char buf[16];
	struct gdb_rx rx = { .cap = 8, .buf = buf };
	char fr[64];
	int ev;
	long n;

	(void)state;
	feed(&rx, "$g#67", &ev);
	assert_int_equal(ev, GDB_RX_PACKET);
	assert_string_equal(rx.buf, "g");
	feed(&rx, "$g#68", &ev);
	assert_int_equal(ev, GDB_RX_BADSUM);
	feed(&rx, "$g#6z", &ev);
	assert_int_equal(ev, GDB_RX_BADSUM);
	feed(&rx, "$0123456789#00", &ev); /* longer than cap: flagged */
	assert_true(ev == GDB_RX_TOOLONG || ev == GDB_RX_BADSUM);
	assert_int_equal(gdb_rx_byte(&rx, 0x03), GDB_RX_INTR);
	assert_int_equal(gdb_rx_byte(&rx, '+'), GDB_RX_ACK);
	assert_int_equal(gdb_rx_byte(&rx, '-'), GDB_RX_NAK);
	/* a '$' inside a packet restarts it */
	feed(&rx, "$xx$g#67", &ev);
	assert_int_equal(ev, GDB_RX_PACKET);
	assert_string_equal(rx.buf, "g");
	/* framing escapes # $ } * and checksums the escaped bytes */
	n = gdb_frame(fr, sizeof(fr), "a#b", 3);
	assert_int_equal(n, 8);
	assert_memory_equal(fr, "$a}\x03" "b#", 6);
	feed(&rx, "$OK#9a", &ev);
	assert_int_equal(ev, GDB_RX_PACKET);
	assert_int_equal(gdb_frame(fr, 5, "OK", 2), -ENOSPC);
	{
		char e[] = "a}\x03}]";
		assert_int_equal(gdb_unescape(e, 5), 3);
		assert_memory_equal(e, "a#}", 3);
		char bad[] = "a}";
		assert_int_equal(gdb_unescape(bad, 2), -EINVAL);
	}
}

static void test_hex(void **state)
{
	const char *s = "1fZ", *e;
	uint64_t v;
	uint8_t b[2];

	(void)state;
	assert_int_equal(gdb_parse_hex(&s, s + 3, &v), 0);
	assert_int_equal(v, 0x1f);
	assert_int_equal(*s, 'Z');
	s = "Z";
	assert_int_equal(gdb_parse_hex(&s, s + 1, &v), -EINVAL);
	s = "11112222333344445";
	e = s + strlen(s);
	assert_int_equal(gdb_parse_hex(&s, e, &v), -EINVAL);
	assert_int_equal(gdb_unhex("a0ff", 2, b), 0);
	assert_int_equal(b[0], 0xa0);
	assert_int_equal(gdb_unhex("a0fg", 2, b), -EINVAL);
}

static void test_queries(void **state)
{
	struct fix *f = *state;
	const char *r;

	r = cmd(f, "qSupported:multiprocess+;swbreak+;xmlRegisters=i386");
	assert_non_null(strstr(r, "PacketSize=4000"));
	assert_non_null(strstr(r, "qXfer:features:read+"));
	assert_non_null(strstr(r, "swbreak+"));
	assert_string_equal(cmd(f, "qfThreadInfo"), "m1,2");
	assert_string_equal(cmd(f, "qsThreadInfo"), "l");
	assert_string_equal(cmd(f, "qC"), "QC1");
	assert_string_equal(cmd(f, "qAttached"), "1");
	assert_string_equal(cmd(f, "T2"), "OK");
	assert_string_equal(cmd(f, "T3"), "E03");
	assert_string_equal(cmd(f, "Hg2"), "OK");
	assert_string_equal(cmd(f, "qC"), "QC2");
	assert_string_equal(cmd(f, "Hg9"), "E16");
	assert_string_equal(cmd(f, "Hg0"), "OK");
	assert_string_equal(cmd(f, "Hc-1"), "OK");
	assert_string_equal(cmd(f, "vCont?"), "vCont;c;C;s;S");
	assert_string_equal(cmd(f, "vMustReplyEmpty"), "");
	assert_string_equal(cmd(f, "qUnknownThing"), "");
	assert_string_equal(cmd(f, "?"), "T05thread:1;");
	/* target.xml in chunks: 'm' then the last 'l' */
	r = cmd(f, "qXfer:features:read:target.xml:0,10");
	assert_int_equal(r[0], 'm');
	assert_int_equal(strlen(r), 17);
	{
		size_t len;
		const char *xml = gdb_target_xml(&len);
		char q[64];
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,1000",
			 len - 5);
		r = cmd(f, q);
		assert_string_equal(r + 1, xml + len - 5);
		assert_int_equal(r[0], 'l');
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,10",
			 len + 1);
		assert_string_equal(cmd(f, q), "E16");
	}
	assert_string_equal(cmd(f, "qXfer:features:read:other.xml:0,10"), "E00");
}

static void test_registers(void **state)
{
	struct fix *f = *state;
	const char *r;
	char big[2048];

	r = cmd(f, "g");
	/* 16 GPRs + rip (8) + eflags, 6 segs (4) + 8 st (10) + 8 x87 (4)
	 * + 16 xmm + mxcsr + fs/gs_base + cr0 cr2 cr3 cr4 efer */
	assert_int_equal(strlen(r), 2 * (17 * 8 + 7 * 4 + 80 + 32 + 256 + 4 +
					 16 + 40));
	assert_memory_equal(r + 16 * 16, "0000100000000000", 16); /* rip */
	assert_string_equal(cmd(f, "p10"), "0000100000000000");
	assert_string_equal(cmd(f, "P0=efbeadde00000000"), "OK");
	assert_string_equal(cmd(f, "p0"), "efbeadde00000000");
	assert_string_equal(cmd(f, "p12"), "3b000000"); /* cs */
	assert_string_equal(cmd(f, "P12=10000000"), "E16"); /* cs change */
	assert_string_equal(cmd(f, "P12=3b000000"), "OK");
	assert_string_equal(cmd(f, "p40"), "E16");
	assert_string_equal(cmd(f, "p1000000000000000000"), "E16");
	assert_string_equal(cmd(f, "P0=1234"), "E16");
	assert_string_equal(cmd(f, "P0=zz00000000000000"), "E16");
	assert_string_equal(cmd(f, "P0"), "E16");
	assert_string_equal(cmd(f, "gx"), "E16");
	/* G: write back what g gave, with rbx changed */
	r = cmd(f, "g");
	snprintf(big, sizeof(big), "G%s", r);
	memcpy(big + 1 + 16, "0700000000000000", 16);
	assert_string_equal(cmd(f, big), "OK");
	assert_string_equal(cmd(f, "p1"), "0700000000000000");
	big[5] = 'x';
	assert_string_equal(cmd(f, big), "E16");
	assert_string_equal(cmd(f, "G00"), "E16"); /* partial register */
}

static void test_memory(void **state)
{
	struct fix *f = *state;
	char q[64];

	assert_string_equal(cmd(f, "m100000,4"), "48ffc048");
	assert_string_equal(cmd(f, "Z0,100003,1"), "OK");
	assert_string_equal(cmd(f, "Z0,100003,1"), "OK"); /* idempotent */
	/* the INT3 is in guest memory, hidden from the debugger */
	{
		uint8_t b;
		assert_int_equal(vmm_mem_read(f->vm, 0x100003, &b, 1), 0);
		assert_int_equal(b, 0xcc);
	}
	assert_string_equal(cmd(f, "m100002,3"), "c048ff");
	/* a write over the breakpoint changes the saved byte */
	assert_string_equal(cmd(f, "M100003,1:90"), "OK");
	assert_string_equal(cmd(f, "m100003,1"), "90");
	assert_string_equal(cmd(f, "z0,100003,1"), "OK");
	assert_string_equal(cmd(f, "m100003,1"), "90");
	assert_string_equal(cmd(f, "z0,100003,1"), "E02");
	assert_string_equal(cmd(f, "M100003,1:48"), "OK");
	/* X: binary with escapes: 0x23 '#' sent as }\x03 */
	assert_string_equal(cmd(f, "X200000,3:a}\x03" "b"), "OK");
	assert_string_equal(cmd(f, "m200000,3"), "612362");
	assert_string_equal(cmd(f, "X200000,2:a}\x03" "b"), "E16");
	assert_string_equal(cmd(f, "X200000,0:"), "OK");
	/* unmapped (beyond the identity map / RAM) and hostile requests */
	assert_string_equal(cmd(f, "mffffffffffff0000,4"), "E0e");
	assert_string_equal(cmd(f, "Z0,ffffffffffff0000,1"), "E0e");
	assert_string_equal(cmd(f, "m100000"), "E16");
	assert_string_equal(cmd(f, "m,4"), "E16");
	assert_string_equal(cmd(f, "m100000,4x"), "E16");
	assert_string_equal(cmd(f, "M100000,2:41"), "E16");
	assert_string_equal(cmd(f, "M100000,1:4g"), "E16");
	assert_string_equal(cmd(f, "Z5,100000,1"), ""); /* unknown type */
	assert_string_equal(cmd(f, "Z1,100000"), "E16");
	assert_string_equal(cmd(f, "Z2,100001,4"), "E16"); /* unaligned */
	assert_string_equal(cmd(f, "z3,100000,4"), "E02");
	assert_string_equal(cmd(f, "Z0,100000"), "E16");
	/* a huge length is clamped to what fits in one packet */
	snprintf(q, sizeof(q), "m100000,%x", 1 << 30);
	assert_int_equal(strlen(cmd(f, q)), 16384);
	/* reading across the end of RAM returns the readable part */
	snprintf(q, sizeof(q), "m%llx,10", (16ull << 20) - 4);
	assert_int_equal(strlen(cmd(f, q)), 8);
}

/*
 * Breakpoints belong to the byte they patch, not to the address they were
 * set at (found by fuzz_gdb: a write through another mapping of a
 * planted byte overwrote the INT3, and removing the breakpoint then put
 * the old byte back over the write).  gva 0x400000-0x5fffff is made a
 * second mapping of 0-0x1fffff (PD[2] = PD[0] of the boot's 2 MiB pages).
 */
static void test_memory_alias(void **state)
{
	struct fix *f = *state;
	struct vmm_cpu_state st;
	uint64_t e, pdpt, pd;
	uint8_t b;

	assert_int_equal(vmm_vcpu_get_state(vmm_vm_get_vcpu(f->vm, 0), &st), 0);
	assert_int_equal(vmm_mem_read(f->vm, st.cr3 & ~0xfffull, &e, 8), 0);
	pdpt = e & 0x000ffffffffff000ull;
	assert_int_equal(vmm_mem_read(f->vm, pdpt, &e, 8), 0);
	pd = e & 0x000ffffffffff000ull;
	assert_int_equal(vmm_mem_read(f->vm, pd, &e, 8), 0);
	assert_true(e & 0x80); /* a 2 MiB page */
	assert_int_equal(vmm_mem_write(f->vm, pd + 16, &e, 8), 0);

	assert_string_equal(cmd(f, "m500000,4"), "48ffc048");
	assert_string_equal(cmd(f, "Z0,100003,1"), "OK");
	/* a write through the other mapping keeps the INT3, saves the byte */
	assert_string_equal(cmd(f, "M500003,1:90"), "OK");
	assert_int_equal(vmm_mem_read(f->vm, 0x100003, &b, 1), 0);
	assert_int_equal(b, 0xcc);
	assert_string_equal(cmd(f, "m100002,2"), "c090");
	assert_string_equal(cmd(f, "m500002,2"), "c090");
	/* both addresses planted: one byte, one saved value */
	assert_string_equal(cmd(f, "Z0,500003,1"), "OK");
	assert_string_equal(cmd(f, "M100003,1:91"), "OK");
	assert_string_equal(cmd(f, "m500003,1"), "91");
	assert_string_equal(cmd(f, "z0,100003,1"), "OK");
	assert_int_equal(vmm_mem_read(f->vm, 0x100003, &b, 1), 0);
	assert_int_equal(b, 0xcc); /* still planted at 0x500003 */
	assert_string_equal(cmd(f, "m100003,1"), "91");
	/* writing 0xcc itself is a byte like any other */
	assert_string_equal(cmd(f, "M100003,1:cc"), "OK");
	assert_string_equal(cmd(f, "z0,500003,1"), "OK");
	assert_int_equal(vmm_mem_read(f->vm, 0x100003, &b, 1), 0);
	assert_int_equal(b, 0xcc);
	assert_string_equal(cmd(f, "M100003,1:48"), "OK");
	assert_string_equal(cmd(f, "m500000,4"), "48ffc048");
}

/*
 * Memory listener (issue #13 item 1): memory holding a planted INT3 is
 * not removed (-EBUSY) — its saved byte would later be "restored" into
 * whatever is mapped there then; without breakpoints it goes.
 */
static void test_memory_removed(void **state)
{
	struct fix *f = *state;
	const uint64_t at = 16ull << 20;
	uint8_t b = 0x77;

	assert_int_equal(vmm_mem_add_ram(f->vm, at, 1 << 20), 0);
	assert_string_equal(cmd(f, "Z0,1000010,1"), "OK");
	assert_int_equal(vmm_mem_remove(f->vm, at), -EBUSY);
	assert_true(vmm_mem_is_ram(f->vm, at, 4096));
	/* other memory is not held */
	assert_int_equal(vmm_mem_add_ram(f->vm, at + (1 << 20), 1 << 20), 0);
	assert_int_equal(vmm_mem_remove(f->vm, at + (1 << 20)), 0);
	assert_string_equal(cmd(f, "z0,1000010,1"), "OK");
	assert_int_equal(vmm_mem_remove(f->vm, at), 0);
	/* new memory there keeps its own bytes */
	assert_int_equal(vmm_mem_add_ram(f->vm, at, 1 << 20), 0);
	assert_int_equal(vmm_mem_write(f->vm, at + 0x10, &b, 1), 0);
	assert_string_equal(cmd(f, "z0,1000010,1"), "E02");
	assert_int_equal(vmm_mem_read(f->vm, at + 0x10, &b, 1), 0);
	assert_int_equal(b, 0x77);
}

/* ---- whole sessions over a socketpair ---- */

struct sess {
	struct fix *f;
	int fd[2];
	pthread_t th;
	int ret;
};

static void *serve_main(void *arg)
{
	struct sess *s = arg;
	s->ret = vmm_gdb_serve(s->f->g, s->fd[1]);
	return NULL;
}

static void send_pkt(struct sess *s, const char *p)
{
	char fr[256];
	long n = gdb_frame(fr, sizeof(fr), p, strlen(p));
	assert_true(n > 0);
	assert_int_equal(write(s->fd[0], fr, (size_t)n), n);
}

/* Read one reply packet (skipping acks), check its checksum. */
static void recv_pkt(struct sess *s, char *out, size_t cap)
{
	char buf[65536];
	struct gdb_rx rx = { .cap = sizeof(buf) - 1, .buf = buf };
	uint8_t b;
	int ev;

	do {
		assert_int_equal(read(s->fd[0], &b, 1), 1);
		ev = gdb_rx_byte(&rx, b);
		assert_int_not_equal(ev, GDB_RX_BADSUM);
	} while (ev != GDB_RX_PACKET);
	snprintf(out, cap, "%s", buf);
}

static const char *roundtrip(struct sess *s, const char *p)
{
	static char r[65536];
	send_pkt(s, p);
	recv_pkt(s, r, sizeof(r));
	return r;
}

static void test_session(void **state)
{
	struct fix *f = *state;
	struct sess s = { .f = f };
	struct vmm_gdb_stats st = { .struct_size = sizeof(st) };
	char r[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s.fd), 0);
	assert_int_equal(pthread_create(&s.th, NULL, serve_main, &s), 0);
	/* a bad checksum is NAKed */
	assert_int_equal(write(s.fd[0], "$g#00", 5), 5);
	{
		char c;
		assert_int_equal(read(s.fd[0], &c, 1), 1);
		assert_int_equal(c, '-');
	}
	assert_non_null(strstr(roundtrip(&s, "qSupported:swbreak+"),
			       "swbreak+"));
	assert_string_equal(roundtrip(&s, "QStartNoAckMode"), "OK");
	/* breakpoint, continue: vCPU 1 stays at its start until it runs */
	assert_string_equal(roundtrip(&s, "Z0,100003,1"), "OK");
	/* only thread 1 runs; thread 2 has no action and stays stopped */
	assert_string_equal(roundtrip(&s, "vCont;c:1"), "T05thread:1;swbreak:;");
	assert_string_equal(roundtrip(&s, "p10"), "0300100000000000");
	/* step over it: remove, vCont;s on thread 1 */
	assert_string_equal(roundtrip(&s, "z0,100003,1"), "OK");
	assert_string_equal(roundtrip(&s, "vCont;s:1"), "T05thread:1;");
	assert_string_equal(roundtrip(&s, "p10"), "0600100000000000");
	assert_string_equal(roundtrip(&s, "s"), "T05thread:1;");
	assert_string_equal(roundtrip(&s, "p10"), "0c00100000000000");
	/* thread 2 has its own registers */
	assert_string_equal(roundtrip(&s, "Hg2"), "OK");
	{ /* still in the loop */
		const char *p = roundtrip(&s, "p10");
		assert_string_equal(p + 2, "00100000000000");
		assert_true(strtoul((char[3]){ p[0], p[1], 0 }, NULL, 16) <
			    sizeof(guest));
	}
	assert_string_equal(roundtrip(&s, "Hg1"), "OK");
	/* an endless loop (rax never reaches 0x1000): Ctrl-C stops it */
	assert_string_equal(roundtrip(&s, "P0=0020000000000000"), "OK");
	assert_string_equal(roundtrip(&s, "Hg2"), "OK");
	assert_string_equal(roundtrip(&s, "P0=0020000000000000"), "OK");
	send_pkt(&s, "c");
	usleep(20000);
	assert_int_equal(write(s.fd[0], "\x03", 1), 1);
	recv_pkt(&s, r, sizeof(r));
	assert_int_equal(strncmp(r, "T02thread:", 10), 0);
	/* let it finish: the guest's debug-exit write ends the process */
	assert_string_equal(roundtrip(&s, "Hg1"), "OK");
	assert_string_equal(roundtrip(&s, "P0=f00f000000000000"), "OK");
	assert_string_equal(roundtrip(&s, "Hg2"), "OK");
	assert_string_equal(roundtrip(&s, "P0=f00f000000000000"), "OK");
	assert_string_equal(roundtrip(&s, "c"), "W2a");
	assert_string_equal(roundtrip(&s, "g"), "E03");
	assert_string_equal(roundtrip(&s, "?"), "W2a");
	send_pkt(&s, "k");
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(s.ret, VMM_GDB_EXITED);
	assert_int_equal(vmm_gdb_exit_code(f->g), 42);
	assert_int_equal(vmm_gdb_get_stats(f->g, &st), 0);
	assert_int_equal(st.bad_checksum, 1);
	assert_int_equal(st.bp_hits, 1);
	assert_int_equal(st.steps, 2);
	close(s.fd[0]);
	close(s.fd[1]);
}

static void test_detach_and_close(void **state)
{
	struct fix *f = *state;
	struct sess s = { .f = f };
	uint8_t b;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s.fd), 0);
	assert_int_equal(pthread_create(&s.th, NULL, serve_main, &s), 0);
	assert_string_equal(roundtrip(&s, "Z0,100000,1"), "OK");
	assert_string_equal(roundtrip(&s, "D"), "OK");
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(s.ret, VMM_GDB_DETACHED);
	/* breakpoints are gone from guest memory after the session */
	assert_int_equal(vmm_mem_read(f->vm, 0x100000, &b, 1), 0);
	assert_int_equal(b, 0x48);
	close(s.fd[0]);
	close(s.fd[1]);
	/* the peer going away ends a session; an oversized packet is E */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, s.fd), 0);
	assert_int_equal(pthread_create(&s.th, NULL, serve_main, &s), 0);
	{
		static char huge[40000];
		memset(huge, 'q', sizeof(huge));
		huge[0] = '$';
		memcpy(huge + sizeof(huge) - 3, "#00", 3);
		assert_int_equal(write(s.fd[0], huge, sizeof(huge)),
				 (ssize_t)sizeof(huge));
	}
	close(s.fd[0]);
	assert_int_equal(pthread_join(s.th, NULL), 0);
	assert_int_equal(s.ret, VMM_GDB_CLOSED);
	close(s.fd[1]);
}

static void test_args(void **state)
{
	struct fix *f = *state;
	vmm_gdb *g;

	(void)f;
	assert_int_equal(vmm_gdb_create(NULL, NULL, &g), -EINVAL);
	assert_int_equal(vmm_gdb_serve(NULL, 0), -EINVAL);
	assert_int_equal(vmm_gdb_serve(f->g, -1), -EINVAL);
	assert_int_equal(vmm_gdb_get_stats(NULL, NULL), -EINVAL);
	assert_int_equal(vmm_gdb_listen_unix(""), -EINVAL);
	{
		char p[200];
		memset(p, 'a', sizeof(p) - 1);
		p[sizeof(p) - 1] = 0;
		assert_int_equal(vmm_gdb_listen_unix(p), -ENAMETOOLONG);
	}
	assert_int_equal(vmm_gdb_listen_tcp("not-an-ip", 0), -EINVAL);
	{
		int l = vmm_gdb_listen_tcp(NULL, 0);
		assert_true(l >= 0);
		assert_true(vmm_gdb_local_port(l) > 0);
		assert_int_equal(vmm_gdb_accept(l, 10), -ETIMEDOUT);
		close(l);
	}
	vmm_gdb_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_hex),
		cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_alias, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_memory_removed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detach_and_close, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
