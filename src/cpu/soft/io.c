/* SPDX-License-Identifier: MIT */
/*
 * io.c - port I/O and MMIO as exits, with KVM's contract: a device read
 * stops the instruction before it changes anything and returns
 * VMM_EXIT_IO / VMM_EXIT_MMIO with data pointing at a buffer of this vCPU;
 * the next vmm_vcpu_run() re-executes the instruction, and the read gets
 * the value the core (or embedder) put into that buffer.  An instruction
 * with several device reads replays the earlier answers in order.  Device
 * writes are queued and returned after the instruction retired.
 */
#include "cpu/soft/soft.h"

static bool replay_take(struct soft_cpu *c, uint64_t addr, unsigned len,
			bool io, uint64_t *v)
{
	struct soft_replay *r;

	if (c->replay_pos >= c->replay_n)
		return false;
	r = &c->replay[c->replay_pos++];
	c->ev |= SEV_REPLAY;
	(void)addr;
	(void)io;
	*v = 0;
	memcpy(v, r->data, len < r->len ? len : r->len);
	return true;
}

__attribute__((noreturn)) static void read_exit(struct soft_cpu *c,
						uint64_t addr, unsigned len,
						bool io)
{
	struct vmm_exit *e = &c->exit;

	if (c->replay_n >= SOFT_REPLAY_MAX) {
		memset(e, 0, sizeof(*e));
		e->kind = VMM_EXIT_INTERNAL;
		e->internal.reason = VMM_INTERNAL_EMULATION;
		snprintf(e->internal.msg, sizeof(e->internal.msg),
			 "too many device reads in one instruction");
		c->fault_vec = -2;
		soft_unwind(c);
	}
	memset(e, 0, sizeof(*e));
	memset(c->rdbuf, 0, sizeof(c->rdbuf));
	if (io) {
		e->kind = VMM_EXIT_IO;
		e->io.port = (uint16_t)addr;
		e->io.size = (uint8_t)len;
		e->io.is_write = 0;
		e->io.count = 1;
		e->io.data = c->rdbuf;
	} else {
		e->kind = VMM_EXIT_MMIO;
		e->mmio.gpa = addr;
		e->mmio.len = len;
		e->mmio.is_write = 0;
		e->mmio.data = c->rdbuf;
	}
	c->read_pending = true;
	c->replay[c->replay_n] = (struct soft_replay){ .addr = addr,
						       .len = (uint8_t)len,
						       .is_io = io };
	c->fault_vec = -2; /* unwind with an exit, instruction not retired */
	soft_unwind(c);
}

static void write_exit(struct soft_cpu *c, uint64_t addr, unsigned len,
		       bool io, uint64_t v)
{
	struct vmm_exit *e;
	uint8_t *buf;

	if (c->wq_n >= SOFT_WQ_MAX) {
		/* more device writes than we queue in one instruction */
		e = &c->exit;
		memset(e, 0, sizeof(*e));
		e->kind = VMM_EXIT_INTERNAL;
		e->internal.reason = VMM_INTERNAL_EMULATION;
		snprintf(e->internal.msg, sizeof(e->internal.msg),
			 "too many device writes in one instruction");
		c->fault_vec = -2;
		soft_unwind(c);
	}
	c->ev |= SEV_WQ;
	e = &c->wq[c->wq_n];
	buf = c->iobuf + 8 * c->wq_n;
	c->wq_n++;
	memset(e, 0, sizeof(*e));
	memcpy(buf, &v, 8);
	if (io) {
		e->kind = VMM_EXIT_IO;
		e->io.port = (uint16_t)addr;
		e->io.size = (uint8_t)len;
		e->io.is_write = 1;
		e->io.count = 1;
		e->io.data = buf;
	} else {
		e->kind = VMM_EXIT_MMIO;
		e->mmio.gpa = addr;
		e->mmio.len = len;
		e->mmio.is_write = 1;
		e->mmio.data = buf;
	}
}

uint64_t soft_mmio_read(struct soft_cpu *c, uint64_t gpa, unsigned size)
{
	uint64_t v;

	if (replay_take(c, gpa, size, false, &v))
		return v;
	read_exit(c, gpa, size, false);
}

void soft_mmio_write(struct soft_cpu *c, uint64_t gpa, unsigned size,
		     uint64_t v)
{
	write_exit(c, gpa, size, false, v);
}

void soft_io_check(struct soft_cpu *c, uint16_t port, unsigned size)
{
	const struct vmm_segment *tr = &c->st.seg[VMM_TR];
	unsigned iopl = (c->st.rflags >> 12) & 3;
	uint64_t base, off;
	uint16_t bits, mask;

	if (!c->pe || (!c->vm86 && c->cpl <= iopl))
		return;
	/* TSS I/O permission bitmap (32-bit or 64-bit TSS) */
	if (tr->unusable || !tr->present || (tr->type & 0xd) != 0x9 ||
	    tr->limit < 0x67)
		soft_gp(c, 0);
	base = tr->base;
	off = soft_ld_sys(c, base + 0x66, 2);
	off += port / 8;
	if (off + 1 > tr->limit)
		soft_gp(c, 0);
	bits = (uint16_t)soft_ld_sys(c, base + off, 2);
	mask = (uint16_t)(((1u << size) - 1) << (port & 7));
	if (bits & mask)
		soft_gp(c, 0);
}

uint64_t soft_io_in(struct soft_cpu *c, uint16_t port, unsigned size)
{
	uint64_t v;

	if (replay_take(c, port, size, true, &v))
		return v;
	read_exit(c, port, size, true);
}

void soft_io_out(struct soft_cpu *c, uint16_t port, unsigned size, uint64_t v)
{
	write_exit(c, port, size, true, v);
}
