/* SPDX-License-Identifier: MIT */
/*
 * io.c - port I/O and MMIO as exits, with KVM's contract: a device read
 * stops the instruction before it changes anything and returns
 * VMM_EXIT_IO / VMM_EXIT_MMIO with data pointing at a buffer of this vCPU;
 * the next vmm_vcpu_run() re-executes the instruction, and the read gets
 * the value the core (or embedder) put into that buffer.  An instruction
 * with several device reads replays the earlier answers in order.  Device
 * writes are queued and returned after the instruction retired.
 * soft_complete_io() finishes an answered read without running further
 * (for snapshots).
 */
#include "cpu/soft/exec.h"

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

	if (c->replay_n >= SOFT_REPLAY_MAX)
		soft_stop_internal(c, addr, "too many device reads in one "
					     "instruction");
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

	if (c->wq_n >= SOFT_WQ_MAX) /* more than we queue in one instruction */
		soft_stop_internal(c, 0, "too many device writes in one "
					  "instruction");
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

	if (unlikely(c->dr_io))
		soft_dr_io(c, port, size);
	if (replay_take(c, port, size, true, &v))
		return v;
	read_exit(c, port, size, true);
}

void soft_io_out(struct soft_cpu *c, uint16_t port, unsigned size, uint64_t v)
{
	if (unlikely(c->dr_io))
		soft_dr_io(c, port, size);
	write_exit(c, port, size, true, v);
}

/* Decode the instruction at CS:RIP (the one a read exit unwound). */
static void decode_at_rip(struct soft_cpu *c, struct soft_insn *in)
{
	uint64_t lin, gpa;
	const uint8_t *h, *h2;
	uint8_t buf[16];
	unsigned avail;
	bool end;
	int r;

	if (c->lm64) {
		lin = c->st.rip;
	} else {
		if (c->pe && c->st.rip > c->st.seg[VMM_CS].limit)
			soft_gp(c, 0);
		lin = (uint32_t)(c->segbase[VMM_CS] + c->st.rip);
	}
	h = soft_fetch_page(c, lin, &gpa);
	avail = 4096 - (unsigned)(lin & 0xfff);
	if (avail >= 15) {
		memcpy(buf, h, 15);
	} else {
		memcpy(buf, h, avail);
		r = soft_decode(buf, avail, c->csz, in, &end);
		if (r != SOFT_DEC_MORE)
			goto decoded;
		h2 = soft_fetch_page(c, (lin + avail) &
				     (c->lma ? ~0ull : 0xffffffffull), &gpa);
		memcpy(buf + avail, h2, 15 - avail);
	}
	r = soft_decode(buf, 15, c->csz, in, &end);
decoded:
	if (r == SOFT_DEC_GP || r == SOFT_DEC_MORE)
		soft_gp(c, 0);
	if (!in->fn) {
		in->fn = c->svm->handlers[in->op] ? c->svm->handlers[in->op] :
						    soft_op_ud;
		soft_specialize(in);
	}
}

/*
 * Finish the instruction whose device read (IN, INS element, MMIO read)
 * the embedder answered, without entering the next one: the state read
 * afterwards is that after the instruction, as KVM's complete_io leaves
 * it.  Its own device writes stay queued and are returned by the next
 * vmm_vcpu_run() before any guest code runs.  A further device read of the
 * same instruction (the next REP INS element, the second operand of CMPS)
 * is not issued: the run after this one issues it; the registers then
 * show the elements done.  A fault after the read (PUSH of an MMIO value
 * onto a bad stack) is delivered, and so is the single-step trap.
 */
/* after an unwind during soft_complete_io() */
static __attribute__((noinline)) int complete_unwound(struct soft_cpu *c)
{
	c->ev &= SEV_WQ;
	if (c->fault_vec == -2) {
		/* the instruction's next device read (or an internal
		 * error): not issued now, the next run meets it */
		c->delivering = -1;
		c->read_pending = false;
		c->replay_pos = 0;
		return 0;
	}
	c->replay_n = c->replay_pos = 0;
	if (soft_handle_fault(c) < 0)
		return vmm__err(c->vm, -EIO,
				"vcpu%u: triple fault completing a device read",
				c->vcpu->index);
	c->ev = 0;
	return 0;
}

/* run the instruction again with the device data, then a TF trap */
static __attribute__((noinline)) int complete_run(struct soft_cpu *c,
						  bool tf)
{
	struct soft_insn in;
	int r;

	decode_at_rip(c, &in);
	c->shadow = false;
	c->rf_keep = false;
	r = in.fn(c, &in);
	c->icount++;
	if (r == SOFT_NEXT)
		c->st.rip = (c->st.rip + in.len) & c->ipmask;
	if (!c->rf_keep)
		c->st.rflags &= ~(uint64_t)FL_RF;
	c->ev = 0; /* queued writes (wq_n) go out at the next run */
	c->replay_n = c->replay_pos = 0;
	if (tf) {
		c->st.dr6 |= 0x4000;
		soft_flags_commit(c);
		c->delivering = 1;
		soft_deliver(c, 1, false, 0, EV_EXT, c->st.rip);
		c->delivering = -1;
	}
	return 0;
}

/* faults of the completed instruction unwind to here (SOFT_SETJMP_FN) */
static SOFT_SETJMP_FN int complete_guarded(struct soft_cpu *c, bool tf)
{
	struct soft_cpu *volatile vc = c;
	int r;

	if (__builtin_setjmp(c->jb))
		r = complete_unwound(vc);
	else
		r = complete_run(c, tf);
	SOFT_NO_TAIL_CALL();
	return r;
}

int soft_complete_io(struct soft_cpu *c)
{
	bool tf;

	if (c->wq_n || (!c->read_pending && !c->replay_n))
		return 0;
	if (c->read_pending) {
		memcpy(c->replay[c->replay_n].data, c->rdbuf,
		       sizeof(c->replay[0].data));
		c->replay_n++;
		c->read_pending = false;
	}
	c->replay_pos = 0;
	c->delivering = -1;
	c->ev = 0;
	if (c->epoch != atomic_load(&c->svm->epoch)) {
		c->epoch = atomic_load(&c->svm->epoch);
		soft_tlb_flush(c);
		soft_tb_flush(c);
	}
	tf = (c->st.rflags & FL_TF) != 0;
	return complete_guarded(c, tf);
}
