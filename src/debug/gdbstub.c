/* SPDX-License-Identifier: MIT */
/*
 * gdbstub.c - the gdb remote-serial-protocol stub of one VM: command
 * handlers (registers, memory, breakpoints, threads, target.xml) and run
 * control (all-stop: every vCPU runs on its own worker thread while the
 * debugger waits; the first stop kicks the others).
 *
 * Breakpoints are INT3 bytes planted through the checked guest-memory
 * accessors, hidden from memory reads.  An INT3 reaches the stub as
 * VMM_EXIT_DEBUG exception 3 when the backend supports
 * vmm_vcpu_set_sw_breakpoints(); where it does not trap (the nested
 * kvm_pvm at CPL3 delivers #BP and #DB to the guest), a guest without an
 * IDT triple-faults instead, and the stub recognises a SHUTDOWN at one of
 * its breakpoints or right after a requested step as that trap
 * (docs/debugging.md).
 *
 * An INT3 that is not one of the stub's breakpoints is the guest's own:
 * it goes back to the guest as a #BP in delivery (struct vmm_events:
 * RIP at the INT3, exception_injected, nr 3), which both backends deliver
 * with the address after the INT3 in the frame.  Z1-Z4 use the backend's
 * debugger-owned hardware breakpoints (vmm_vcpu_set_hw_breakpoints()),
 * which stop as VMM_EXIT_DEBUG exception 1 with the slot in DR6.
 */
#include "debug/gdb_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* gdb's signal numbers (gdb/signals.def), not the host's */
enum { GSIG_INT = 2, GSIG_ILL = 4, GSIG_TRAP = 5, GSIG_ABRT = 6,
       GSIG_BUS = 10, GSIG_SEGV = 11, GSIG_SYS = 12, GSIG_STOP = 17 };

#define END(x) (-1 - (x))

/* ---------------------------------------------------------------- replies */

static void reply(struct vmm_gdb *g, const char *s)
{
	size_t n = strlen(s);
	if (n > g->cfg.max_packet)
		n = g->cfg.max_packet;
	memcpy(g->out, s, n);
	g->outlen = n;
}

static int reply_err(struct vmm_gdb *g, int err)
{
	char b[8];

	g->stats.errors++;
	snprintf(b, sizeof(b), "E%02x", (unsigned)(err < 0 ? -err : err) & 0xff);
	reply(g, b);
	return 0;
}

/* -------------------------------------------------------------- memory */

static struct gdb_bp *bp_find(struct vmm_gdb *g, uint64_t gva)
{
	for (unsigned i = 0; i < g->nbp; i++)
		if (g->bp[i].gva == gva)
			return &g->bp[i];
	return NULL;
}

static int translate(struct vmm_gdb *g, uint64_t gva, vmm_gpa_t *gpa)
{
	return vmm_vcpu_translate(g->cpu[g->gcpu], gva, 0, gpa);
}

/*
 * Copy @len bytes at guest-virtual @gva to or from @buf, page by page,
 * each page translated on its own.  Planted breakpoints are matched by
 * the guest-physical byte they patch, not by the address they were set
 * at: page tables change, and another virtual address may map the same
 * byte.  Reading shows the guest's bytes under them; writing a byte under
 * one makes it the new saved byte (of every breakpoint on that byte) and
 * the INT3 stays.  *@done gets the bytes copied; returns 0, or the error
 * that stopped it (all or nothing per page).
 */
static int gva_copy(struct vmm_gdb *g, uint64_t gva, uint8_t *buf, size_t len,
		    bool wr, size_t *done)
{
	*done = 0;
	while (*done < len) {
		uint64_t a = gva + *done;
		size_t chunk = 4096 - (a & 4095);
		uint8_t *p = buf + *done;
		vmm_gpa_t gpa;
		int r;

		if (chunk > len - *done)
			chunk = len - *done;
		r = translate(g, a, &gpa);
		if (r == 0 && wr) {
			/* the bytes written under breakpoints, by bp index:
			 * saved only once the write has succeeded */
			int16_t put[GDB_MAX_BPS];

			for (unsigned i = 0; i < g->nbp; i++) {
				uint64_t off = g->bp[i].gpa - gpa;
				unsigned k = 0;

				put[i] = -1;
				if (off >= chunk)
					continue;
				while (k < i && g->bp[k].gpa != g->bp[i].gpa)
					k++;
				if (k < i)
					continue; /* an alias: done as bp[k] */
				put[i] = p[off];
				p[off] = 0xcc;
			}
			r = vmm_mem_write(g->vm, gpa, p, chunk);
			for (unsigned i = 0; i < g->nbp && r == 0; i++) {
				if (put[i] < 0)
					continue;
				/* aliases (same byte) share the saved byte */
				for (unsigned j = 0; j < g->nbp; j++)
					if (g->bp[j].gpa == g->bp[i].gpa)
						g->bp[j].orig = (uint8_t)put[i];
			}
		} else if (r == 0) {
			r = vmm_mem_read(g->vm, gpa, p, chunk);
			for (unsigned i = 0; i < g->nbp && r == 0; i++) {
				uint64_t off = g->bp[i].gpa - gpa;
				if (off < chunk)
					p[off] = g->bp[i].orig;
			}
		}
		if (r < 0)
			return r;
		*done += chunk;
	}
	return 0;
}

/* Read up to @len bytes at guest-virtual @gva (the guest's bytes under
 * planted breakpoints).  Returns bytes read (> 0) or a negative errno if
 * not even the first byte is readable. */
static long mem_read(struct vmm_gdb *g, uint64_t gva, uint8_t *buf, size_t len)
{
	size_t done;
	int r = gva_copy(g, gva, buf, len, false, &done);

	if (r < 0 && !done)
		return r;
	return (long)done;
}

/* Write @len bytes; a byte under a planted breakpoint becomes its new
 * saved byte and the INT3 stays. */
static int mem_write(struct vmm_gdb *g, uint64_t gva, uint8_t *buf, size_t len)
{
	size_t done;

	return gva_copy(g, gva, buf, len, true, &done);
}

static int bp_insert(struct vmm_gdb *g, uint64_t gva)
{
	static const uint8_t int3 = 0xcc;
	struct gdb_bp *b;
	vmm_gpa_t gpa;
	uint8_t orig;
	int r;

	if (bp_find(g, gva))
		return 0;
	if (g->nbp == GDB_MAX_BPS)
		return -ENOSPC;
	r = translate(g, gva, &gpa);
	if (r == 0)
		r = vmm_mem_read(g->vm, gpa, &orig, 1);
	if (r == 0)
		r = vmm_mem_write(g->vm, gpa, &int3, 1);
	if (r < 0)
		return r;
	pthread_mutex_lock(&g->bp_lock);
	b = &g->bp[g->nbp++];
	b->gva = gva;
	b->gpa = gpa;
	b->orig = orig;
	/* another address mapping the same byte: share its saved byte */
	for (unsigned i = 0; i + 1 < g->nbp; i++)
		if (g->bp[i].gpa == gpa)
			b->orig = g->bp[i].orig;
	pthread_mutex_unlock(&g->bp_lock);
	return 0;
}

static int bp_remove(struct vmm_gdb *g, uint64_t gva)
{
	struct gdb_bp *b = bp_find(g, gva);
	int r;

	if (!b)
		return -ENOENT;
	vmm_gpa_t gpa = b->gpa;
	uint8_t orig = b->orig;

	pthread_mutex_lock(&g->bp_lock);
	*b = g->bp[--g->nbp];
	pthread_mutex_unlock(&g->bp_lock);
	for (unsigned i = 0; i < g->nbp; i++)
		if (g->bp[i].gpa == gpa)
			return 0; /* still planted for an alias */
	r = vmm_mem_write(g->vm, gpa, &orig, 1);
	return r;
}

/* Load g->hw into every vCPU; on failure restore @old everywhere. */
static int hw_apply(struct vmm_gdb *g, const struct vmm_hw_bp *old)
{
	int r = 0;

	for (unsigned i = 0; i < g->ncpus && r == 0; i++)
		r = vmm_vcpu_set_hw_breakpoints(g->cpu[i], g->hw,
						VMM_HW_BP_MAX);
	if (r < 0 && old) {
		memcpy(g->hw, old, sizeof(g->hw));
		for (unsigned i = 0; i < g->ncpus; i++)
			(void)vmm_vcpu_set_hw_breakpoints(g->cpu[i], g->hw,
							  VMM_HW_BP_MAX);
	}
	return r;
}

/* Z1-Z4 type -> enum vmm_hw_bp_kind */
static const uint8_t hw_kind_of[5] = { 0, VMM_HWBP_EXEC, VMM_HWBP_WRITE,
				       VMM_HWBP_READ, VMM_HWBP_ACCESS };

static int hw_insert(struct vmm_gdb *g, unsigned type, uint64_t addr,
		     uint64_t len)
{
	struct vmm_hw_bp old[VMM_HW_BP_MAX];
	int free_slot = -1;

	if (type == 1)
		len = 1; /* the kind of Z1 is the instruction size */
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	if (addr & (len - 1))
		return -EINVAL; /* one slot covers an aligned range only */
	for (int k = VMM_HW_BP_MAX - 1; k >= 0; k--) {
		const struct vmm_hw_bp *b = &g->hw[k];
		if (b->kind == hw_kind_of[type] && b->addr == addr &&
		    b->len == len)
			return 0;
		if (b->kind == VMM_HWBP_OFF)
			free_slot = k;
	}
	if (free_slot < 0)
		return -ENOSPC;
	memcpy(old, g->hw, sizeof(old));
	g->hw[free_slot] = (struct vmm_hw_bp){ .addr = addr,
					       .kind = hw_kind_of[type],
					       .len = (uint8_t)len };
	return hw_apply(g, old);
}

static int hw_remove(struct vmm_gdb *g, unsigned type, uint64_t addr,
		     uint64_t len)
{
	struct vmm_hw_bp old[VMM_HW_BP_MAX];

	if (type == 1)
		len = 1;
	for (unsigned k = 0; k < VMM_HW_BP_MAX; k++) {
		struct vmm_hw_bp *b = &g->hw[k];
		if (b->kind != hw_kind_of[type] || b->addr != addr ||
		    b->len != len)
			continue;
		memcpy(old, g->hw, sizeof(old));
		memset(b, 0, sizeof(*b));
		return hw_apply(g, old);
	}
	return -ENOENT;
}

static void bp_remove_all(struct vmm_gdb *g)
{
	while (g->nbp)
		(void)bp_remove(g, g->bp[g->nbp - 1].gva);
	for (unsigned k = 0; k < VMM_HW_BP_MAX; k++) {
		if (g->hw[k].kind != VMM_HWBP_OFF) {
			memset(g->hw, 0, sizeof(g->hw));
			(void)hw_apply(g, NULL);
			break;
		}
	}
}

/* The debugger's hardware slot a DEBUG exit reports, or -1. */
static int hw_hit(const struct vmm_gdb *g, const struct vmm_exit *e)
{
	if (e->debug.exception != 1)
		return -1;
	for (unsigned k = 0; k < VMM_HW_BP_MAX; k++)
		if ((e->debug.dr6 & (1u << k)) &&
		    g->hw[k].kind != VMM_HWBP_OFF)
			return (int)k;
	return -1;
}

/* Hand the guest's own INT3 (at RIP) back to it as a #BP in delivery. */
static int int3_reinject(struct vmm_gdb *g, vmm_vcpu *cpu)
{
	struct vmm_cpu_state st;
	int r = vmm_vcpu_get_state(cpu, &st);

	if (r < 0)
		return r;
	st.events.exception_injected = 1;
	st.events.exception_pending = 0;
	st.events.exception_nr = 3;
	st.events.exception_has_error = 0;
	st.events.exception_error = 0;
	r = vmm_vcpu_set_state(cpu, &st);
	if (r == 0)
		g->int3_passed++; /* only this vCPU's worker runs it */
	return r;
}

/* ---------------------------------------------------------- run control */

static void record_hw(struct vmm_gdb *g, unsigned cpu, int sig, int code,
		      bool swbreak, int err, int hw)
{
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	if (!g->have_event) {
		g->have_event = true;
		g->ev_cpu = cpu;
		g->ev_sig = sig;
		g->ev_code = code;
		g->ev_swbreak = swbreak;
		g->ev_err = err;
		g->ev_hw = hw;
	}
	pthread_mutex_unlock(&g->lock);
	(void)!write(g->evfd, &one, sizeof(one));
}

static void record(struct vmm_gdb *g, unsigned cpu, int sig, int code,
		   bool swbreak, int err)
{
	record_hw(g, cpu, sig, code, swbreak, err, -1);
}

/* Clear what a triple fault left behind so the vCPU can run on. */
static int recover(vmm_vcpu *cpu, struct vmm_cpu_state *st, uint64_t rip)
{
	st->rip = rip;
	memset(&st->events, 0, sizeof(st->events));
	st->mp_state = VMM_MP_RUNNABLE;
	st->rflags &= ~(1ull << 8); /* TF */
	return vmm_vcpu_set_state(cpu, st);
}

/* A SHUTDOWN that is really our trap (see the file comment)?  Returns 1
 * (breakpoint), 2 (step), 0 (a real shutdown), or a negative errno. */
static int shutdown_trap(struct vmm_gdb *g, struct gdb_worker *w,
			 uint64_t start_rip)
{
	vmm_vcpu *cpu = g->cpu[w->idx];
	struct vmm_cpu_state st;
	int r = vmm_vcpu_get_state(cpu, &st);

	if (r < 0)
		return r;
	if (bp_find(g, st.rip) && st.rip != start_rip)
		return recover(cpu, &st, st.rip) ?: 1;
	if (st.events.exception_nr == 3 && bp_find(g, st.rip - 1))
		return recover(cpu, &st, st.rip - 1) ?: 1;
	if (w->action == 's' && (st.rip != start_rip ||
				 st.events.exception_nr == 1))
		return recover(cpu, &st, st.rip) ?: 2;
	return 0;
}

static int default_exit_sig(const struct vmm_exit *e, int *code)
{
	switch (e->kind) {
	case VMM_EXIT_GUEST_EXIT:
		*code = (int)(e->guest.value & 0xff);
		return -1;
	case VMM_EXIT_POWEROFF:
	case VMM_EXIT_RESET:
		*code = 0;
		return -1;
	case VMM_EXIT_SHUTDOWN:
		return GSIG_SEGV;
	case VMM_EXIT_HLT:
		return GSIG_STOP;
	case VMM_EXIT_IO:
	case VMM_EXIT_MMIO:
		return GSIG_BUS;
	case VMM_EXIT_HYPERCALL:
		return GSIG_SYS;
	case VMM_EXIT_DEBUG:
		return GSIG_TRAP;
	default:
		return GSIG_ILL;
	}
}

static void *worker_main(void *arg)
{
	struct gdb_worker *w = arg;
	struct vmm_gdb *g = w->g;
	vmm_vcpu *cpu = g->cpu[w->idx];
	struct vmm_cpu_state st;
	struct vmm_exit e;
	uint64_t start_rip = 0;
	int r, code = 0, sig;

	if (vmm_vcpu_get_state(cpu, &st) == 0)
		start_rip = st.rip;
	if (w->action == 's' && (r = vmm_vcpu_set_single_step(cpu, true)) < 0) {
		record(g, w->idx, 0, 0, false, r);
		return NULL;
	}
	for (;;) {
		r = vmm_vcpu_run_loop(cpu, &e);
		if (r < 0) {
			record(g, w->idx, 0, 0, false, r);
			break;
		}
		if (e.kind == VMM_EXIT_INTERRUPTED) {
			if (atomic_load(&g->stopping))
				break; /* the main thread reports */
			continue;  /* a stale kick of an earlier stop */
		}
		if (e.kind == VMM_EXIT_DEBUG) {
			int hw = hw_hit(g, &e);
			if (e.debug.exception == 3 && bp_find(g, e.debug.pc)) {
				record(g, w->idx, GSIG_TRAP, 0, true, 0);
				break;
			}
			if (e.debug.exception == 3 && g->sw_bp_native) {
				/* the guest's own INT3: its #BP handler */
				r = int3_reinject(g, cpu);
				if (r < 0) {
					record(g, w->idx, 0, 0, false, r);
					break;
				}
				continue;
			}
			if (hw >= 0) {
				record_hw(g, w->idx, GSIG_TRAP, 0, false, 0,
					  hw);
				break;
			}
			if (w->action == 's' && e.debug.exception == 1) {
				record(g, w->idx, GSIG_TRAP, 1, false, 0);
				break;
			}
		}
		if (e.kind == VMM_EXIT_SHUTDOWN) {
			r = shutdown_trap(g, w, start_rip);
			if (r < 0) {
				record(g, w->idx, 0, 0, false, r);
				break;
			}
			if (r > 0) {
				record(g, w->idx, GSIG_TRAP, r == 2, r == 1, 0);
				break;
			}
		}
		if (g->cfg.exit_cb) {
			r = g->cfg.exit_cb(g->cfg.exit_opaque, cpu, &e);
			if (r == 0)
				continue;
			if (r > 0)
				record(g, w->idx, -1, r & 0xff, false, 0);
			else
				record(g, w->idx, GSIG_ABRT, 0, false, 0);
			break;
		}
		sig = default_exit_sig(&e, &code);
		record(g, w->idx, sig, code, false, 0);
		break;
	}
	if (w->action == 's')
		(void)vmm_vcpu_set_single_step(cpu, false);
	return NULL;
}

static void stop_reply(struct vmm_gdb *g)
{
	if (g->ev_sig < 0) {
		snprintf(g->last_stop, sizeof(g->last_stop), "W%02x",
			 (unsigned)g->ev_code & 0xff);
		g->exited = true;
		g->exit_code = g->ev_code;
	} else if (g->ev_hw >= 0 && g->ev_sig == GSIG_TRAP &&
		   g->hw[g->ev_hw].kind != VMM_HWBP_EXEC) {
		static const char *const why[] = {
			[VMM_HWBP_WRITE] = "watch", [VMM_HWBP_READ] = "rwatch",
			[VMM_HWBP_ACCESS] = "awatch" };
		const struct vmm_hw_bp *b = &g->hw[g->ev_hw];
		snprintf(g->last_stop, sizeof(g->last_stop),
			 "T%02xthread:%x;%s:%llx;", (unsigned)g->ev_sig,
			 g->ev_cpu + 1, why[b->kind],
			 (unsigned long long)b->addr);
	} else {
		snprintf(g->last_stop, sizeof(g->last_stop),
			 "T%02xthread:%x;%s", (unsigned)g->ev_sig,
			 g->ev_cpu + 1,
			 g->ev_swbreak && g->swbreak ? "swbreak:;" :
			 g->ev_hw >= 0 && g->hwbreak ? "hwbreak:;" : "");
	}
	g->gcpu = g->ev_cpu;
	reply(g, g->last_stop);
	g->stats.stops++;
}

/*
 * Resume the vCPUs with the actions in g->w[].action until the first stop;
 * then stop them all and build the stop reply.  Ctrl-C from the debugger
 * (read from g->fd while they run; g->fd < 0 in tests: no polling) stops
 * them with SIGINT.  Returns 0 or a negative errno.
 */
static int resume(struct vmm_gdb *g)
{
	unsigned running = 0;
	bool intr = false;
	int ret = 0;

	if (g->exited)
		return -ESRCH;
	pthread_mutex_lock(&g->lock);
	g->have_event = false;
	pthread_mutex_unlock(&g->lock);
	atomic_store(&g->stopping, false);
	for (unsigned i = 0; i < g->ncpus; i++) {
		struct gdb_worker *w = &g->w[i];
		w->started = false;
		if (!w->action)
			continue;
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			ret = -EAGAIN;
			break;
		}
		w->started = true;
		running++;
	}
	while (ret == 0 && running) {
		struct pollfd p[2] = { { .fd = g->evfd, .events = POLLIN },
				       { .fd = g->fd, .events = POLLIN } };
		uint64_t n;

		if (poll(p, g->fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (p[0].revents & POLLIN) {
			(void)!read(g->evfd, &n, sizeof(n));
			break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t b;
			ssize_t k = read(g->fd, &b, 1);
			if (k <= 0 || b == 0x03) {
				intr = true;
				break;
			}
		}
	}
	atomic_store(&g->stopping, true);
	for (unsigned i = 0; i < g->ncpus; i++)
		if (g->w[i].started)
			(void)vmm_vcpu_kick(g->cpu[i]);
	for (unsigned i = 0; i < g->ncpus; i++)
		if (g->w[i].started)
			pthread_join(g->w[i].th, NULL);
	{ /* drain the wake-ups of workers that stopped after the first */
		uint64_t n;
		int fl = fcntl(g->evfd, F_GETFL);
		(void)fcntl(g->evfd, F_SETFL, fl | O_NONBLOCK);
		(void)!read(g->evfd, &n, sizeof(n));
		(void)fcntl(g->evfd, F_SETFL, fl);
	}
	if (ret < 0)
		return ret;
	if (!g->have_event) {
		g->have_event = true;
		g->ev_cpu = g->gcpu;
		g->ev_sig = intr ? GSIG_INT : GSIG_TRAP;
		g->ev_swbreak = false;
		g->ev_err = 0;
		g->ev_hw = -1;
	}
	if (g->ev_err)
		return g->ev_err;
	if (g->ev_sig == GSIG_TRAP && g->ev_swbreak)
		g->stats.bp_hits++;
	if (g->ev_sig == GSIG_TRAP && g->ev_code == 1)
		g->stats.steps++;
	stop_reply(g);
	return 0;
}

/* ------------------------------------------------------------ commands */

/* A thread id: "-1" (all), "0" (any) or hex vCPU index + 1. */
static int parse_tid(struct vmm_gdb *g, const char *p, const char *end,
		     int *cpu)
{
	uint64_t v;

	if (end - p == 2 && p[0] == '-' && p[1] == '1') {
		*cpu = -1;
		return 0;
	}
	if (gdb_parse_hex(&p, end, &v) < 0 || p != end)
		return -EINVAL;
	if (v == 0) {
		*cpu = -2; /* any */
		return 0;
	}
	if (v > g->ncpus)
		return -ESRCH;
	*cpu = (int)v - 1;
	return 0;
}

/* "ADDR,LEN" */
static int parse_addr_len(const char **p, const char *end, uint64_t *addr,
			  uint64_t *len)
{
	if (gdb_parse_hex(p, end, addr) < 0 || *p == end || **p != ',')
		return -EINVAL;
	(*p)++;
	return gdb_parse_hex(p, end, len);
}

static int cmd_read_regs(struct vmm_gdb *g)
{
	struct vmm_cpu_state st;
	uint8_t v[16];
	size_t o = 0;
	int r = vmm_vcpu_get_state(g->cpu[g->gcpu], &st);

	if (r < 0)
		return reply_err(g, r);
	for (unsigned n = 0; n < GDB_NREGS; n++) {
		unsigned s = gdb_reg_get(&st, n, v);
		if (o + 2 * s > g->cfg.max_packet)
			return reply_err(g, -ENOSPC);
		gdb_tohex(g->out + o, v, s);
		o += 2 * s;
	}
	g->outlen = o;
	return 0;
}

static int cmd_write_regs(struct vmm_gdb *g, const char *p, size_t len)
{
	struct vmm_cpu_state st;
	uint8_t v[16];
	size_t o = 0;
	int r = vmm_vcpu_get_state(g->cpu[g->gcpu], &st);

	if (r < 0)
		return reply_err(g, r);
	/* gdb may send fewer registers than it knows: set those it sent */
	for (unsigned n = 0; n < GDB_NREGS && o < len; n++) {
		unsigned s = gdb_reg_size(n);
		if (len - o < 2 * s || gdb_unhex(p + o, s, v) < 0)
			return reply_err(g, -EINVAL);
		if ((r = gdb_reg_set(&st, n, v)) < 0)
			return reply_err(g, r);
		o += 2 * s;
	}
	if (o != len)
		return reply_err(g, -EINVAL);
	r = vmm_vcpu_set_state(g->cpu[g->gcpu], &st);
	if (r < 0)
		return reply_err(g, r);
	reply(g, "OK");
	return 0;
}

static int cmd_reg(struct vmm_gdb *g, const char *p, const char *end,
		   bool write)
{
	struct vmm_cpu_state st;
	uint64_t n;
	uint8_t v[16];
	unsigned s;
	int r;

	if (gdb_parse_hex(&p, end, &n) < 0 || !(s = gdb_reg_size((unsigned)(n > GDB_NREGS ? GDB_NREGS : n))))
		return reply_err(g, -EINVAL);
	if (write && (p == end || *p++ != '='))
		return reply_err(g, -EINVAL);
	if (!write && p != end)
		return reply_err(g, -EINVAL);
	r = vmm_vcpu_get_state(g->cpu[g->gcpu], &st);
	if (r < 0)
		return reply_err(g, r);
	if (!write) {
		gdb_reg_get(&st, (unsigned)n, v);
		gdb_tohex(g->out, v, s);
		g->outlen = 2 * s;
		return 0;
	}
	if ((size_t)(end - p) != 2 * s || gdb_unhex(p, s, v) < 0)
		return reply_err(g, -EINVAL);
	if ((r = gdb_reg_set(&st, (unsigned)n, v)) < 0 ||
	    (r = vmm_vcpu_set_state(g->cpu[g->gcpu], &st)) < 0)
		return reply_err(g, r);
	reply(g, "OK");
	return 0;
}

static int cmd_read_mem(struct vmm_gdb *g, const char *p, const char *end)
{
	uint64_t addr, len;
	long n;

	if (parse_addr_len(&p, end, &addr, &len) < 0 || p != end)
		return reply_err(g, -EINVAL);
	if (len > g->cfg.max_packet / 2)
		len = g->cfg.max_packet / 2;
	/* the upper half of g->out holds the bytes, hex goes below */
	n = mem_read(g, addr, (uint8_t *)g->out + len, (size_t)len);
	if (n < 0)
		return reply_err(g, (int)n);
	memmove(g->out + g->cfg.max_packet - n, g->out + len, (size_t)n);
	gdb_tohex(g->out, (uint8_t *)g->out + g->cfg.max_packet - n,
		  (size_t)n);
	g->outlen = 2 * (size_t)n;
	return 0;
}

static int cmd_write_mem(struct vmm_gdb *g, char *p, char *end, bool binary)
{
	const char *q = p;
	uint64_t addr, len;
	long n;
	int r;

	if (parse_addr_len(&q, end, &addr, &len) < 0 || q == end || *q != ':')
		return reply_err(g, -EINVAL);
	p = (char *)q + 1;
	if (binary) {
		n = gdb_unescape(p, (size_t)(end - p));
		if (n < 0 || (uint64_t)n != len)
			return reply_err(g, -EINVAL);
	} else {
		if ((uint64_t)(end - p) != 2 * len ||
		    gdb_unhex(p, (size_t)len, (uint8_t *)p) < 0)
			return reply_err(g, -EINVAL);
	}
	if (len && (r = mem_write(g, addr, (uint8_t *)p, (size_t)len)) < 0)
		return reply_err(g, r);
	reply(g, "OK");
	return 0;
}

static int cmd_break(struct vmm_gdb *g, const char *p, const char *end,
		     bool insert)
{
	uint64_t addr, kind;
	int r;

	unsigned type;

	if (p == end || *p < '0' || *p > '4')
		return 0; /* unknown type: empty reply = not supported */
	type = (unsigned)(*p++ - '0');
	if (p == end || *p++ != ',' ||
	    parse_addr_len(&p, end, &addr, &kind) < 0)
		return reply_err(g, -EINVAL);
	/* ";cond" lists after kind are not supported: ignore nothing silently */
	if (p != end)
		return reply_err(g, -EINVAL);
	if (type)
		r = insert ? hw_insert(g, type, addr, kind) :
			     hw_remove(g, type, addr, kind);
	else
		r = insert ? bp_insert(g, addr) : bp_remove(g, addr);
	if (r < 0)
		return reply_err(g, r);
	reply(g, "OK");
	return 0;
}

static int cmd_xfer(struct vmm_gdb *g, const char *p, const char *end)
{
	static const char pre[] = "features:read:target.xml:";
	uint64_t off, len;
	size_t xlen;
	const char *xml = gdb_target_xml(&xlen);

	if ((size_t)(end - p) < sizeof(pre) - 1 ||
	    memcmp(p, pre, sizeof(pre) - 1) != 0) {
		reply(g, "E00");
		g->stats.errors++;
		return 0;
	}
	p += sizeof(pre) - 1;
	if (parse_addr_len(&p, end, &off, &len) < 0 || p != end)
		return reply_err(g, -EINVAL);
	if (off > xlen)
		return reply_err(g, -EINVAL);
	if (len > g->cfg.max_packet - 1)
		len = g->cfg.max_packet - 1;
	if (len > xlen - off)
		len = xlen - off;
	g->out[0] = off + len < xlen ? 'm' : 'l';
	memcpy(g->out + 1, xml + off, (size_t)len);
	g->outlen = 1 + (size_t)len;
	return 0;
}

/* Set every worker's action from a default and the Hc thread. */
static void set_actions(struct vmm_gdb *g, char act, int cpu)
{
	for (unsigned i = 0; i < g->ncpus; i++)
		g->w[i].action = 0;
	if (act == 'c' && cpu < 0) {
		for (unsigned i = 0; i < g->ncpus; i++)
			g->w[i].action = 'c';
		return;
	}
	if (cpu < 0)
		cpu = (int)g->gcpu;
	g->w[cpu].action = act;
}

/* vCont;ACTION[:TID];... (C/S signals are ignored: no signal injection) */
static int cmd_vcont(struct vmm_gdb *g, const char *p, const char *end)
{
	char act[VMM_MAX_VCPUS] = { 0 };
	bool any = false;

	while (p < end) {
		char a;
		int cpu = -1;
		const char *q;

		if (*p++ != ';' || p == end)
			return reply_err(g, -EINVAL);
		a = *p++;
		if (a == 'C' || a == 'S') { /* signal: skip its number */
			uint64_t sig;
			if (gdb_parse_hex(&p, end, &sig) < 0)
				return reply_err(g, -EINVAL);
			a = (char)(a - 'A' + 'a');
		}
		if (a != 'c' && a != 's')
			return reply_err(g, -EINVAL);
		if (p < end && *p == ':') {
			q = ++p;
			while (p < end && *p != ';')
				p++;
			if (parse_tid(g, q, p, &cpu) < 0)
				return reply_err(g, -EINVAL);
			if (cpu == -2)
				cpu = (int)g->gcpu;
		}
		/* the leftmost action that applies to a thread wins */
		for (unsigned i = 0; i < g->ncpus; i++)
			if (!act[i] && (cpu < 0 || (unsigned)cpu == i))
				act[i] = a;
		any = true;
	}
	if (!any)
		return reply_err(g, -EINVAL);
	/* all-stop: a step runs only the stepping vCPU(s) */
	bool step = false;
	for (unsigned i = 0; i < g->ncpus; i++)
		step |= act[i] == 's';
	for (unsigned i = 0; i < g->ncpus; i++)
		g->w[i].action = step && act[i] != 's' ? 0 : act[i];
	return 1;
}

static int cmd_resume_addr(struct vmm_gdb *g, const char *p, const char *end,
			   char act)
{
	if (p != end) { /* optional new RIP */
		struct vmm_cpu_state st;
		uint64_t addr;
		int r;

		if (gdb_parse_hex(&p, end, &addr) < 0 || p != end)
			return reply_err(g, -EINVAL);
		if ((r = vmm_vcpu_get_state(g->cpu[g->gcpu], &st)) < 0)
			return reply_err(g, r);
		st.rip = addr;
		if ((r = vmm_vcpu_set_state(g->cpu[g->gcpu], &st)) < 0)
			return reply_err(g, r);
	}
	set_actions(g, act, act == 'c' ? g->ccpu : g->ccpu < 0 ? (int)g->gcpu : g->ccpu);
	return 1;
}

static bool prefix(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);
	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

static int cmd_query(struct vmm_gdb *g, const char *p, const char *end)
{
	char b[128];

	if (prefix(p, end, "qSupported")) {
		g->swbreak = g->hwbreak = false;
		for (const char *q = p; q < end; q++) {
			if (prefix(q, end, "swbreak+"))
				g->swbreak = true;
			if (prefix(q, end, "hwbreak+"))
				g->hwbreak = true;
		}
		snprintf(b, sizeof(b), "PacketSize=%x;qXfer:features:read+;"
			 "QStartNoAckMode+;vContSupported+%s%s",
			 g->cfg.max_packet, g->swbreak ? ";swbreak+" : "",
			 g->hwbreak ? ";hwbreak+" : "");
		reply(g, b);
	} else if (prefix(p, end, "qXfer:")) {
		return cmd_xfer(g, p + 6, end);
	} else if (prefix(p, end, "qAttached")) {
		reply(g, "1");
	} else if (prefix(p, end, "qC") && end - p == 2) {
		snprintf(b, sizeof(b), "QC%x", g->gcpu + 1);
		reply(g, b);
	} else if (prefix(p, end, "qfThreadInfo")) {
		size_t o = 0;
		g->out[o++] = 'm';
		for (unsigned i = 0; i < g->ncpus; i++) {
			int k = snprintf(g->out + o, g->cfg.max_packet - o,
					 "%s%x", i ? "," : "", i + 1);
			if (k < 0 || (size_t)k >= g->cfg.max_packet - o)
				return reply_err(g, -ENOSPC);
			o += (size_t)k;
		}
		g->outlen = o;
	} else if (prefix(p, end, "qsThreadInfo")) {
		reply(g, "l");
	} else if (prefix(p, end, "qSymbol::")) {
		reply(g, "OK");
	} else if (prefix(p, end, "QStartNoAckMode")) {
		reply(g, "OK");
		return 2; /* switch after the reply is acked */
	} else {
		g->outlen = 0; /* unsupported: empty reply */
	}
	return 0;
}

int gdb_handle_packet(struct vmm_gdb *g, char *pkt, size_t len)
{
	char *end = pkt + len;
	int cpu, r;

	g->outlen = 0;
	g->stats.packets++;
	if (!len)
		return 0;
	if (g->exited && strchr("gGpPmMXcsZz", pkt[0]))
		return reply_err(g, -ESRCH);
	switch (pkt[0]) {
	case '?':
		reply(g, g->last_stop);
		return 0;
	case 'g':
		return len == 1 ? cmd_read_regs(g) : reply_err(g, -EINVAL);
	case 'G':
		return cmd_write_regs(g, pkt + 1, len - 1);
	case 'p':
		return cmd_reg(g, pkt + 1, end, false);
	case 'P':
		return cmd_reg(g, pkt + 1, end, true);
	case 'm':
		return cmd_read_mem(g, pkt + 1, end);
	case 'M':
		return cmd_write_mem(g, pkt + 1, end, false);
	case 'X':
		return cmd_write_mem(g, pkt + 1, end, true);
	case 'Z':
	case 'z':
		return cmd_break(g, pkt + 1, end, pkt[0] == 'Z');
	case 'c':
		return cmd_resume_addr(g, pkt + 1, end, 'c');
	case 's':
		return cmd_resume_addr(g, pkt + 1, end, 's');
	case 'H':
		if (len < 2 || (pkt[1] != 'g' && pkt[1] != 'c') ||
		    parse_tid(g, pkt + 2, end, &cpu) < 0)
			return reply_err(g, -EINVAL);
		if (pkt[1] == 'g')
			g->gcpu = cpu >= 0 ? (unsigned)cpu : 0;
		else
			g->ccpu = cpu >= 0 ? cpu : -1;
		reply(g, "OK");
		return 0;
	case 'T':
		if (parse_tid(g, pkt + 1, end, &cpu) < 0 || cpu < 0)
			return reply_err(g, -ESRCH);
		reply(g, "OK");
		return 0;
	case 'D':
		reply(g, "OK");
		return END(VMM_GDB_DETACHED);
	case 'k':
		return END(VMM_GDB_KILLED);
	case 'v':
		if (prefix(pkt, end, "vCont?")) {
			reply(g, "vCont;c;C;s;S");
			return 0;
		}
		if (prefix(pkt, end, "vCont;"))
			return cmd_vcont(g, pkt + 5, end);
		if (prefix(pkt, end, "vKill")) {
			reply(g, "OK");
			return END(VMM_GDB_KILLED);
		}
		return 0; /* vMustReplyEmpty and others: empty */
	case 'q':
	case 'Q':
		r = cmd_query(g, pkt, end);
		return r == 2 ? 2 : r;
	default:
		return 0;
	}
}

/* -------------------------------------------------------------- session */

static int send_all(int fd, const char *b, size_t n)
{
	while (n) {
		ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == ENOTSOCK)
			k = write(fd, b, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int send_reply(struct vmm_gdb *g)
{
	long n = gdb_frame(g->frame, 2 * g->cfg.max_packet + 8, g->out,
			   g->outlen);
	if (n < 0)
		return (int)n;
	return send_all(g->fd, g->frame, (size_t)n);
}

/* Memory listener: no removal of memory under a planted INT3. */
static int gdb_before_remove(void *opaque, vmm_gpa_t gpa, uint64_t size)
{
	struct vmm_gdb *g = opaque;
	uint64_t hit = 0;
	bool busy = false;

	pthread_mutex_lock(&g->bp_lock);
	for (unsigned i = 0; i < g->nbp && !busy; i++) {
		if (g->bp[i].gpa - gpa < size) {
			busy = true;
			hit = g->bp[i].gva;
		}
	}
	pthread_mutex_unlock(&g->bp_lock);
	if (!busy)
		return 0;
	return vmm__err(g->vm, -EBUSY, "gdb: a software breakpoint (at 0x%llx)"
			" is planted in the memory at 0x%llx",
			(unsigned long long)hit, (unsigned long long)gpa);
}

int vmm_gdb_create(vmm_vm *vm, const struct vmm_gdb_config *cfg, vmm_gdb **out)
{
	struct vmm_gdb *g;

	if (!vm || !out)
		return -EINVAL;
	g = vmm__alloc(vm, sizeof(*g));
	if (!g)
		return -ENOMEM;
	if (cfg && VMM__STRUCT_IN(&g->cfg, cfg)) {
		vmm__free(vm, g);
		return vmm__err(vm, -EINVAL, "gdb: bad struct_size or unknown "
				"non-zero fields in struct vmm_gdb_config");
	}
	if (!g->cfg.max_packet)
		g->cfg.max_packet = 16384;
	if (g->cfg.max_packet < 256)
		g->cfg.max_packet = 256;
	if (g->cfg.max_packet > (1u << 20))
		g->cfg.max_packet = 1u << 20;
	g->vm = vm;
	g->fd = -1;
	g->evfd = eventfd(0, EFD_CLOEXEC);
	g->rx.cap = g->cfg.max_packet;
	g->rx.buf = vmm__alloc(vm, g->rx.cap + 1);
	g->out = vmm__alloc(vm, g->cfg.max_packet + 1);
	g->frame = vmm__alloc(vm, 2 * (size_t)g->cfg.max_packet + 8);
	if (g->evfd < 0 || !g->rx.buf || !g->out || !g->frame ||
	    pthread_mutex_init(&g->lock, NULL) != 0) {
		int err = g->evfd < 0 ? -errno : -ENOMEM;
		if (g->evfd >= 0)
			close(g->evfd);
		vmm__free(vm, g->rx.buf);
		vmm__free(vm, g->out);
		vmm__free(vm, g->frame);
		vmm__free(vm, g);
		return err;
	}
	for (unsigned i = 0; i < VMM_MAX_VCPUS; i++) {
		vmm_vcpu *c = vmm_vm_get_vcpu(vm, i);
		if (!c)
			break;
		g->cpu[g->ncpus] = c;
		g->w[g->ncpus].g = g;
		g->w[g->ncpus].idx = g->ncpus;
		g->ncpus++;
	}
	g->ccpu = -1;
	snprintf(g->last_stop, sizeof(g->last_stop), "T%02xthread:1;",
		 GSIG_TRAP);
	pthread_mutex_init(&g->bp_lock, NULL); /* default attributes: 0 */
	g->ml = (struct vmm_mem_listener){ .before_remove = gdb_before_remove,
					   .opaque = g };
	vmm__mem_listener_add(vm, &g->ml);
	*out = g;
	return 0;
}

void vmm_gdb_destroy(vmm_gdb *g)
{
	if (!g)
		return;
	bp_remove_all(g);
	for (unsigned i = 0; i < g->ncpus; i++) {
		if (g->sw_bp_native)
			(void)vmm_vcpu_set_sw_breakpoints(g->cpu[i], false);
		(void)vmm_vcpu_set_single_step(g->cpu[i], false);
	}
	vmm__mem_listener_remove(g->vm, &g->ml);
	close(g->evfd);
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->bp_lock);
	vmm__free(g->vm, g->rx.buf);
	vmm__free(g->vm, g->out);
	vmm__free(g->vm, g->frame);
	vmm__free(g->vm, g);
}

int vmm_gdb_exit_code(const vmm_gdb *g)
{
	return g ? g->exit_code : 0;
}

int vmm_gdb_get_stats(const vmm_gdb *g, struct vmm_gdb_stats *st)
{
	struct vmm_gdb_stats s;

	if (!g || !st)
		return -EINVAL;
	s = g->stats;
	s.struct_size = sizeof(s);
	return vmm__struct_out(st, &s, sizeof(s), VMM__GDB_STATS_V02);
}

int vmm_gdb_serve(vmm_gdb *g, int fd)
{
	char in[4096];
	int ret = VMM_GDB_CLOSED;
	bool noack;

	if (!g || fd < 0)
		return -EINVAL;
	if (!g->ncpus)
		return -ENODEV;
	g->fd = fd;
	g->no_ack = false;
	g->rx.state = 0;
	g->sw_bp_native = true;
	for (unsigned i = 0; i < g->ncpus; i++)
		if (vmm_vcpu_set_sw_breakpoints(g->cpu[i], true) < 0)
			g->sw_bp_native = false;
	for (;;) {
		ssize_t n = read(fd, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			int ev = gdb_rx_byte(&g->rx, (uint8_t)in[i]), r;

			if (ev == GDB_RX_BADSUM) {
				g->stats.bad_checksum++;
				if (!g->no_ack && (r = send_all(fd, "-", 1)) < 0)
					goto out_err;
				continue;
			}
			if (ev == GDB_RX_INTR) { /* stopped already */
				reply(g, g->last_stop);
				if ((r = send_reply(g)) < 0)
					goto out_err;
				continue;
			}
			if (ev != GDB_RX_PACKET && ev != GDB_RX_TOOLONG)
				continue;
			if (!g->no_ack && (r = send_all(fd, "+", 1)) < 0)
				goto out_err;
			if (ev == GDB_RX_TOOLONG) {
				g->stats.packets++;
				r = reply_err(g, -E2BIG);
			} else {
				r = gdb_handle_packet(g, g->rx.buf, g->rx.len);
			}
			if (r == 1) {
				r = resume(g);
				if (r < 0) {
					ret = r;
					goto out;
				}
			}
			if (r < 0) { /* END(): the session ends */
				if (r == END(VMM_GDB_DETACHED) ||
				    g->outlen)
					(void)send_reply(g);
				ret = -1 - r;
				goto out;
			}
			noack = r == 2;
			if ((r = send_reply(g)) < 0)
				goto out_err;
			if (noack)
				g->no_ack = true;
			continue;
out_err:
			ret = r;
			goto out;
		}
	}
out:
	if (ret == -EPIPE || ret == -ECONNRESET) /* the debugger went away */
		ret = VMM_GDB_CLOSED;
	if ((ret == VMM_GDB_CLOSED || ret == VMM_GDB_KILLED) && g->exited)
		ret = VMM_GDB_EXITED;
	bp_remove_all(g);
	g->fd = -1;
	return ret;
}

/* ------------------------------------------------------------- sockets */

int vmm_gdb_listen_tcp(const char *host, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int one = 1, fd;

	if (inet_pton(AF_INET, host ? host : "127.0.0.1", &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int vmm_gdb_listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int vmm_gdb_local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &l) < 0)
		return -errno;
	if (sa.sin_family != AF_INET)
		return -EINVAL;
	return ntohs(sa.sin_port);
}

int vmm_gdb_accept(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int one = 1, fd, r;

	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
