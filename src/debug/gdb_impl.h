/* SPDX-License-Identifier: MIT */
/*
 * gdb_impl.h - internals of the gdb stub (src/debug): packet framing
 * (gdb_packet.c), the x86-64 register mapping (gdb_regs.c) and the
 * command handlers and run control (gdbstub.c).  Uses the public API only.
 */
#ifndef LIBVMM_GDB_IMPL_H
#define LIBVMM_GDB_IMPL_H

#include "core/internal.h"
#include "mem/listener.h"
#include <libvmm/libvmm.h>

#include <pthread.h>
#include <stdatomic.h>

/* ---- framing ($payload#cs, acks, Ctrl-C) ---- */

enum gdb_rx_ev {
	GDB_RX_NONE = 0,   /* byte consumed, nothing complete yet */
	GDB_RX_PACKET,     /* a packet with a good checksum: rx->buf/len */
	GDB_RX_BADSUM,     /* bad checksum or hex: answer '-' */
	GDB_RX_TOOLONG,    /* longer than the buffer: ack, answer E */
	GDB_RX_INTR,       /* 0x03 outside a packet */
	GDB_RX_ACK,        /* '+' */
	GDB_RX_NAK,        /* '-' */
};

struct gdb_rx {
	int state;
	uint8_t sum;       /* running checksum of the payload */
	uint8_t want;      /* checksum sent by the peer */
	bool overflow;
	size_t len, cap;
	char *buf;         /* cap + 1 bytes; NUL-terminated payload */
};

/* Feed one byte; see enum gdb_rx_ev. */
int gdb_rx_byte(struct gdb_rx *rx, uint8_t b);

/* Hex helpers: -1 on a bad digit. */
int gdb_hexval(int c);
/* Parse up to 16 hex digits at *p into *v, advance *p; -EINVAL if none
 * or more than 16. */
int gdb_parse_hex(const char **p, const char *end, uint64_t *v);
/* Decode 2*n hex chars into n bytes; -EINVAL on a bad digit. */
int gdb_unhex(const char *s, size_t n, uint8_t *out);
void gdb_tohex(char *out, const uint8_t *in, size_t n);
/* Undo the '}' escape of binary data in place; returns the new length or
 * -EINVAL for a trailing escape. */
long gdb_unescape(char *s, size_t len);
/* Frame @len bytes of payload as $..#cs with escapes into @out (@cap);
 * returns the frame length or -ENOSPC. */
long gdb_frame(char *out, size_t cap, const char *payload, size_t len);

/* ---- registers ---- */

#define GDB_NREGS 64

struct gdb_reginfo {
	const char *name;
	unsigned bits;
};

const struct gdb_reginfo *gdb_reg_info(unsigned n);
/* Bytes of register @n in the 'g' packet (0 = no such register). */
unsigned gdb_reg_size(unsigned n);
/* Read register @n of @st into @out (little endian); returns its size. */
unsigned gdb_reg_get(const struct vmm_cpu_state *st, unsigned n,
		     uint8_t *out);
/* Write register @n of @st from @in; -EINVAL if the value cannot be set
 * (a segment selector other than the current one). */
int gdb_reg_set(struct vmm_cpu_state *st, unsigned n, const uint8_t *in);
/* The target description (qXfer:features:read:target.xml). */
const char *gdb_target_xml(size_t *len);

/* ---- the stub ---- */

#define GDB_MAX_BPS 256

struct gdb_bp {
	uint64_t gva;
	vmm_gpa_t gpa;
	uint8_t orig;     /* the guest's byte under the INT3 */
};

struct gdb_worker {
	struct vmm_gdb *g;
	unsigned idx;
	char action;      /* 0 stopped, 'c' continue, 's' step */
	bool started;
	pthread_t th;
};

struct vmm_gdb {
	vmm_vm *vm;
	struct vmm_gdb_config cfg;
	unsigned ncpus;
	vmm_vcpu *cpu[VMM_MAX_VCPUS];
	unsigned gcpu;            /* Hg: registers and memory */
	int ccpu;                 /* Hc: -1 = all */
	bool sw_bp_native;        /* vmm_vcpu_set_sw_breakpoints() works */
	bool no_ack;
	bool swbreak;             /* gdb understands swbreak stop reasons */
	bool exited;
	int exit_code;
	int fd;

	struct gdb_bp bp[GDB_MAX_BPS];
	unsigned nbp;
	/* The stub keeps no host pointers into guest memory (every access
	 * is a vmm_mem_read/write copy), but a planted INT3 remembers the
	 * guest byte it replaced at a gpa: removing that memory would make
	 * the later restore write a stale byte into whatever is mapped there
	 * then.  The memory listener refuses (-EBUSY) to remove memory that
	 * holds a planted breakpoint.  bp_lock: changes of bp/nbp against
	 * the listener (which runs on the thread that changes memory). */
	pthread_mutex_t bp_lock;
	struct vmm_mem_listener ml;
	/* Z1-Z4: the debugger's hardware slots (vmm_vcpu_set_hw_breakpoints),
	 * the same on every vCPU */
	struct vmm_hw_bp hw[VMM_HW_BP_MAX];
	bool hwbreak;             /* gdb understands hwbreak stop reasons */
	uint64_t int3_passed;     /* guest INT3s handed back to the guest */

	struct gdb_rx rx;
	char *out;                /* reply payload, max_packet + 1 */
	size_t outlen;
	char *frame;              /* framed reply, 2 * max_packet + 8 */
	char last_stop[64];

	/* run control */
	struct gdb_worker w[VMM_MAX_VCPUS];
	int evfd;                 /* workers signal a stop */
	pthread_mutex_t lock;
	atomic_bool stopping;     /* the main thread kicks to stop */
	bool have_event;          /* first stop event, under lock */
	unsigned ev_cpu;
	int ev_sig;               /* gdb signal number, or -1 = exited */
	int ev_code;
	bool ev_swbreak;
	int ev_hw;                /* hardware slot hit, -1 = none */
	int ev_err;               /* a vCPU failed */

	struct vmm_gdb_stats stats;
};

/*
 * gdb_handle_packet() - run one command (payload @pkt, @len bytes,
 * NUL-terminated) and leave the reply payload in g->out/g->outlen.
 * Returns 0 (reply ready), 1 (resume requested: the reply is the stop
 * reply, produced by the run), or a negative enum vmm_gdb_end - 1 when
 * the session ends (-1 - VMM_GDB_DETACHED ...).  Used by vmm_gdb_serve(),
 * the unit tests and the fuzzer.
 */
int gdb_handle_packet(struct vmm_gdb *g, char *pkt, size_t len);

#endif
