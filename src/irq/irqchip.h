/* SPDX-License-Identifier: MIT */
/*
 * irqchip.h - libvmm's interrupt controllers and timers: the 8259 PIC
 * pair, the IOAPIC, one local APIC per vCPU, the 8254 PIT — the devices
 * the KVM backend gets from the in-kernel irqchip, emulated in the VMM.
 * Backend-neutral: the software CPU uses all of them; the KVM backend's
 * split irqchip uses the PIC, IOAPIC and PIT with KVM's LAPICs
 * (soft_irqchip_create_ext()).  The soft_irqchip_ prefix is historical.
 *
 * They are hypervisor-direct devices: they register their port and MMIO
 * ranges on the VM's bus like any device (PIC 0x20/0xa0 and ELCR
 * 0x4d0/0x4d1, PIT 0x40-0x43 and port 0x61, IOAPIC 0xfec00000, LAPIC
 * 0xfee00000 with the accessing vCPU taken from ctx->vcpu; a host access
 * with ctx->vcpu == NULL reaches vCPU 0's LAPIC), and never see a CPU's
 * internals.
 *
 * The software CPU talks to them only through the calls below.  Every call
 * is thread-safe (one mutex per chip); vCPU threads and device threads
 * (vmm_irq_set_line() from a UART reader) may call concurrently.  @cpu
 * arguments out of range are ignored (getters return 0 / -EINVAL).
 *
 * How the CPU uses it (summary):
 *
 *   at every block boundary:   bits = soft_irqchip_poll(chip, cpu);
 *     INIT  -> soft_irqchip_ack_init() (it also resets the LAPIC), enter
 *              wait-for-SIPI;
 *     SIPI  -> v = soft_irqchip_ack_sipi(); start at v << 12 if waiting for
 *              SIPI, else ignore v (always ack, or the bit stays set);
 *     NMI   -> if not blocked: soft_irqchip_ack_nmi(), deliver vector 2;
 *     INTR  -> if RFLAGS.IF and no interrupt shadow:
 *              v = soft_irqchip_ack(); if v >= 0 deliver vector v.
 *   HLT:      loop { bits = soft_irqchip_wait(chip, cpu, 0); if bits: leave
 *              HLT (INTR wakes only if IF=1); if kicked: return to the
 *              run loop }.
 *   MOV CR8:  soft_irqchip_set_cr8() / soft_irqchip_get_cr8().
 *   RDMSR/WRMSR 0x1b, 0x10, 0x6e0, 0x800-0x8ff: soft_irqchip_rdmsr/wrmsr;
 *              a negative return means #GP.
 *   RDTSC:    soft_irqchip_rdtsc(), or keep your own TSC and report its
 *             offset with soft_irqchip_set_tsc_offset(), so that
 *             TSC-deadline agrees with RDTSC.
 *   vmm_irq_set_line / vmm_irq_send_msi ops: soft_irqchip_set_irq / soft_irqchip_msi.
 *   vCPU state get: get_apic_base, get_lapic, get_cr8, rdmsr(0x6e0).
 *   vCPU state set: put_apic_base (not set_apic_base: no transition
 *              rules), set_lapic, set_cr8, wrmsr(0x6e0), set_tsc_offset.
 *   Fast path: instead of calling poll() at every block boundary, read
 *              soft_irqchip_pending_word()/deadline_word() and call poll()
 *              only when the first is non-zero or time reached the second.
 *
 * Time.  All timers read the struct soft_clock given at creation, never the
 * host clock directly.  Host mode: now_ns() is CLOCK_MONOTONIC (any offset);
 * soft_irqchip_wait() sleeps on a per-vCPU condition variable until the
 * earliest of: an event for the vCPU, the next timer deadline of the chip,
 * @deadline_ns, or soft_irqchip_wake().  Deterministic mode: the clock's
 * owner (the CPU) derives now_ns() from retired instructions and provides
 * advance(); soft_irqchip_wait() never sleeps: it moves guest time forward
 * once, through clock->advance(), to min(next timer deadline of the chip,
 * @deadline_ns), processes what fires there and returns the poll bits
 * (possibly 0, e.g. when the timer was another vCPU's: the CPU's scheduler
 * runs the other vCPUs and calls wait() again later).  If nothing is armed
 * and @deadline_ns is 0, it returns 0 at once: the vCPU can only be woken by
 * another vCPU or by a device thread; when every vCPU is halted that way the
 * CPU should return VMM_EXIT_HLT (or keep waiting on host time if device
 * threads exist - that is the embedder's choice, not a deterministic run).
 * soft_irqchip_next_deadline() lets a deterministic scheduler plan the same
 * jump itself.  The same guest, the same inputs and the same sequence of
 * calls give the same events at the same guest times, bit for bit.
 *
 * Clock rates: the LAPIC timer counts 1 ns per bus cycle (as KVM does),
 * before the divide configuration; the PIT counts at 1193182 Hz; the TSC is
 * now_ns * tsc_hz / 1e9 + a per-vCPU offset that WRMSR IA32_TSC sets.
 *
 * ISA routing, as on a PC: GSI 0 (ISA IRQ 0, also the PIT's channel 0) goes
 * to PIC IR0 and IOAPIC pin 2; GSIs 1 and 3-15 to PIC IRn and IOAPIC pin n;
 * GSI 2 to IOAPIC pin 2 only (PIC IR2 is the cascade); GSIs 16-23 to IOAPIC
 * pins 16-23.  IOAPIC pin 0 carries the master PIC's INTR output (virtual
 * wire through an ExtINT redirection entry).  Levels are logical (asserted
 * = 1); the IOAPIC polarity bit is stored but not applied, as in KVM.
 */
#ifndef LIBVMM_SOFT_IRQCHIP_H
#define LIBVMM_SOFT_IRQCHIP_H

#include "core/internal.h"

struct soft_irqchip;

/* Fixed addresses. */
#define SOFT_IRQCHIP_IOAPIC_BASE 0xfec00000ull
#define SOFT_IRQCHIP_IOAPIC_SIZE 0x100
#define SOFT_IRQCHIP_LAPIC_BASE 0xfee00000ull
#define SOFT_IRQCHIP_LAPIC_SIZE 0x1000
#define SOFT_IRQCHIP_PIT_HZ 1193182u
#define SOFT_IRQCHIP_NGSI 24

/*
 * struct soft_clock - time as the controllers see it.  @now_ns returns
 * nanoseconds of guest time: host CLOCK_MONOTONIC by default, or in
 * deterministic mode a value derived from retired instructions, so that the
 * same guest with the same inputs gives the same run.  It must be monotonic,
 * thread-safe and must not call into the chip.
 *
 * @advance: deterministic mode only (may be NULL): move guest time forward to
 *           @ns (never backwards); called by soft_irqchip_wait() without the
 *           chip's lock held.  Without it wait() does not move time.
 * @tsc_hz:  guest TSC frequency, 0 = 1 GHz (TSC ticks = nanoseconds).
 *
 * The chip copies the struct; @opaque must outlive the chip.
 */
struct soft_clock {
	uint64_t (*now_ns)(void *opaque);
	void *opaque;
	bool deterministic;
	void (*advance)(void *opaque, uint64_t ns);
	uint64_t tsc_hz;
};

/*
 * Create the controllers for @ncpus vCPUs (1..VMM_MAX_VCPUS) and register
 * their ranges (the PIT's, incl. port 0x61, only if @with_pit; port 0x61 is
 * skipped silently if another device already has it).  vCPU 0 is the BSP;
 * LAPIC IDs equal vCPU indices.  Returns 0, -EINVAL, -ENOMEM, -EEXIST (a
 * range is taken).  On failure nothing is left registered or allocated.
 */
int soft_irqchip_create(vmm_vm *vm, unsigned ncpus, bool with_pit,
			const struct soft_clock *clock,
			struct soft_irqchip **out);
/*
 * External local APICs: the KVM backend's split irqchip runs the PIC pair,
 * IOAPIC and PIT of this file with KVM's in-kernel LAPICs.  The chip then
 * registers no LAPIC page, its own LAPICs stay unused, and it talks to the
 * real ones through @sink (every callback may be called with the chip's
 * lock held, from any thread: it must not call back into the chip):
 *
 * @msi:    deliver an IOAPIC interrupt (MSI address/data format as
 *          soft_irqchip_msi(); data bit 15 = level-triggered).
 * @route:  redirection entry of IOAPIC pin @pin changed: @valid with the
 *          MSI it sends (so the kernel knows which vectors need an EOI
 *          exit), or !@valid when masked / ExtINT.
 * @extint: the master PIC's INTR output is asserted: make vCPU 0 call
 *          soft_irqchip_extint_ack() when it can take an interrupt.
 * @timer:  the earliest timer deadline moved earlier: whoever sleeps until
 *          soft_irqchip_next_deadline() must recompute it.
 *
 * No timer runs by itself: call soft_irqchip_advance() at (or after) the
 * deadline.  EOIs of level-triggered vectors come back through
 * soft_irqchip_eoi().
 */
struct soft_irqchip_sink {
	int (*msi)(void *opaque, uint64_t addr, uint32_t data);
	void (*route)(void *opaque, unsigned pin, bool valid, uint64_t addr,
		      uint32_t data);
	void (*extint)(void *opaque);
	void (*timer)(void *opaque);
	void *opaque;
};

int soft_irqchip_create_ext(vmm_vm *vm, unsigned ncpus, bool with_pit,
			    const struct soft_clock *clock,
			    const struct soft_irqchip_sink *sink,
			    struct soft_irqchip **out);
/* A local APIC EOI'd level-triggered @vector: the IOAPIC's remote IRR. */
void soft_irqchip_eoi(struct soft_irqchip *chip, uint8_t vector);
/* Is the master PIC's INTR output asserted? (lock-free hint) */
bool soft_irqchip_extint_pending(struct soft_irqchip *chip);
/* INTA through the PIC pair: the vector (spurious IR7 if the request went
 * away).  Call only when soft_irqchip_extint_pending() said yes. */
int soft_irqchip_extint_ack(struct soft_irqchip *chip);
/* Fire every timer whose deadline has passed. */
void soft_irqchip_advance(struct soft_irqchip *chip);
/* Announce every route and the PIC output again (after a restore). */
void soft_irqchip_sync(struct soft_irqchip *chip);

/* Unregister the ranges and free everything.  NULL is a no-op. */
void soft_irqchip_destroy(struct soft_irqchip *chip);
/* System reset: every controller to its power-on state. */
void soft_irqchip_reset(struct soft_irqchip *chip);

/*
 * vmm_irq_set_line(): GSIs 0-15 to the PIC and IOAPIC, 16-23 to the IOAPIC (see
 * the routing above).  -EINVAL for a GSI >= 24.
 */
int soft_irqchip_set_irq(struct soft_irqchip *chip, uint32_t gsi, int level);
/*
 * vmm_irq_send_msi(): deliver per the MSI address/data format to LAPIC(s):
 * address 0xfeeXXXXX, destination ID in bits 19:12, bit 2 logical, bit 3
 * redirection hint (lowest priority); data: vector 7:0, delivery mode 10:8
 * (fixed, lowest, SMI, NMI, INIT), trigger 15.  -EINVAL for an address
 * outside 0xfee00000-0xfeefffff.
 */
int soft_irqchip_msi(struct soft_irqchip *chip, uint64_t addr, uint32_t data);

/* What the CPU of vCPU @cpu should do next (bits, several may be set). */
#define SOFT_IRQ_INTR (1u << 0)  /* a maskable interrupt is deliverable */
#define SOFT_IRQ_NMI (1u << 1)
#define SOFT_IRQ_INIT (1u << 2)  /* INIT IPI received */
#define SOFT_IRQ_SIPI (1u << 3)  /* start-up IPI; vector via _ack_sipi */
#define SOFT_IRQ_SMI (1u << 4)

/*
 * soft_irqchip_poll() - advance timers to now and report pending events for
 * @cpu.  Cheap when nothing is pending: the CPU calls it at every block
 * boundary (no lock is taken unless a timer deadline has passed; it reads
 * the clock once).  SOFT_IRQ_INTR is reported regardless of RFLAGS.IF; the
 * CPU decides whether it can take it.  INTR means: ExtINT from the PIC (via
 * LINT0 in ExtINT mode, via IOAPIC pin 0 in ExtINT mode, or directly when the
 * LAPIC is disabled in IA32_APIC_BASE), or a LAPIC IRR vector whose priority
 * class is above the PPR.
 */
unsigned soft_irqchip_poll(struct soft_irqchip *chip, unsigned cpu);

/*
 * The words poll() reads, for a CPU that wants to skip even the clock read
 * at block boundaries: poll() can only return non-zero if *pending != 0 or
 * guest time >= *deadline.  Both are updated atomically by the chip and
 * live as long as it; @cpu must be valid.
 */
const _Atomic unsigned *soft_irqchip_pending_word(struct soft_irqchip *chip,
						  unsigned cpu);
const _Atomic uint64_t *soft_irqchip_deadline_word(struct soft_irqchip *chip);

/*
 * soft_irqchip_ack() - the CPU takes the highest-priority maskable
 * interrupt (INTA cycle): returns its vector (LAPIC IRR->ISR, or the PIC's
 * vector through ExtINT, which has precedence as in KVM), or -1 if nothing
 * is deliverable any more.  As on the 8259A, if the last poll() saw INTR
 * from the PIC and the request vanished before ack() (a level line
 * dropped, a mask was set), the INTA yields the master's spurious vector
 * (base + 7) without setting an ISR bit.  (The slave's INT feeds master IR2
 * as a level here, so a vanished slave request shows up the same way.)
 */
int soft_irqchip_ack(struct soft_irqchip *chip, unsigned cpu);

/* Consume an NMI / INIT / SIPI / SMI that poll() reported. */
void soft_irqchip_ack_nmi(struct soft_irqchip *chip, unsigned cpu);
/*
 * Consume INIT.  Also resets the vCPU's LAPIC to its INIT state (SDM: all
 * registers as after power-up except the APIC ID and IA32_APIC_BASE).  A
 * SIPI received before the INIT was dropped when the INIT arrived; one
 * received after it stays pending for soft_irqchip_ack_sipi().
 */
void soft_irqchip_ack_init(struct soft_irqchip *chip, unsigned cpu);
/* Consume SIPI; returns its vector (start at vector << 12), -1 if none. */
int soft_irqchip_ack_sipi(struct soft_irqchip *chip, unsigned cpu);
void soft_irqchip_ack_smi(struct soft_irqchip *chip, unsigned cpu);

/*
 * The LAPIC TPR register, full 8 bits (TPR[7:4] is the priority class).
 * For MOV CR8 use the _cr8 pair: CR8 = TPR[7:4], MOV to CR8 sets TPR =
 * CR8 << 4 (bits 63:4 of CR8 must be 0: the CPU raises #GP itself).
 */
uint8_t soft_irqchip_get_tpr(struct soft_irqchip *chip, unsigned cpu);
void soft_irqchip_set_tpr(struct soft_irqchip *chip, unsigned cpu, uint8_t tpr);
uint64_t soft_irqchip_get_cr8(struct soft_irqchip *chip, unsigned cpu);
void soft_irqchip_set_cr8(struct soft_irqchip *chip, unsigned cpu,
			  uint64_t cr8);

/*
 * IA32_APIC_BASE (0x1b): bits 8 BSP, 10 x2APIC, 11 enable, 12-35 base.
 * set returns -EINVAL (#GP) for reserved bits or an illegal transition
 * (x2APIC without enable, x2APIC -> xAPIC without disabling first), and
 * -EEXIST / -ENOMEM if a relocated base cannot be registered on the bus.
 * Clearing the enable bit resets the LAPIC (hardware disable).
 */
uint64_t soft_irqchip_get_apic_base(struct soft_irqchip *chip, unsigned cpu);
int soft_irqchip_set_apic_base(struct soft_irqchip *chip, unsigned cpu,
			       uint64_t v);
/*
 * The same for vmm_vcpu_set_state(): no mode-transition rule applies (any
 * valid value is taken as is; x2APIC without enable is still -EINVAL).
 * Call it before soft_irqchip_set_lapic().
 */
int soft_irqchip_put_apic_base(struct soft_irqchip *chip, unsigned cpu,
			       uint64_t v);
/*
 * MSRs owned by the chip: 0x1b APIC_BASE, 0x10 IA32_TSC (the chip keeps the
 * per-vCPU TSC offset), 0x6e0 TSC_DEADLINE (reads 0 and ignores writes
 * unless the LVT timer is in TSC-deadline mode, as KVM), and x2APIC
 * registers 0x800-0x8ff (only in x2APIC mode).  Returns 0, -EINVAL for #GP
 * (unknown register, write to a read-only one, x2APIC MSR in xAPIC mode,
 * non-zero EOI write), -ENOENT for an MSR the chip does not own.
 */
int soft_irqchip_rdmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t *v);
int soft_irqchip_wrmsr(struct soft_irqchip *chip, unsigned cpu, uint32_t msr,
		       uint64_t v);
/* The guest TSC of @cpu now (RDTSC), consistent with TSC-deadline. */
uint64_t soft_irqchip_rdtsc(struct soft_irqchip *chip, unsigned cpu);
/*
 * For a CPU that keeps its own TSC: tell the chip that guest TSC(@cpu) =
 * now_ns() * tsc_hz / 1e9 + @offset, whenever @offset changes (vCPU
 * creation, WRMSR IA32_TSC, set_state), so TSC-deadline matches RDTSC.
 */
void soft_irqchip_set_tsc_offset(struct soft_irqchip *chip, unsigned cpu,
				 int64_t offset);

/*
 * soft_irqchip_wait() - a halted CPU sleeps until an event for @cpu is
 * pending, until guest time @deadline_ns (0 = none), or until
 * soft_irqchip_wake() (the vCPU was kicked).  In deterministic mode it does
 * not sleep: it advances guest time to the next timer event instead (see
 * "Time" above).  Returns the poll() bits (0 = woken, deadline reached or
 * nothing to advance to).  A wake() while the vCPU is not waiting is not
 * lost: the next wait() returns at once (and consumes it).
 */
unsigned soft_irqchip_wait(struct soft_irqchip *chip, unsigned cpu,
			   uint64_t deadline_ns);
void soft_irqchip_wake(struct soft_irqchip *chip, unsigned cpu);
/* Earliest armed timer deadline of the chip (guest ns), UINT64_MAX if none. */
uint64_t soft_irqchip_next_deadline(struct soft_irqchip *chip);

/*
 * The local APIC register page, for vmm_cpu_state.lapic (1 KiB), laid out
 * as the architectural APIC page and KVM's kvm_lapic_state: the register at
 * offset N of the MMIO page is the 32-bit word at offset N of the array (ID
 * at 0x20 as ID << 24, TPR 0x80, PPR 0xa0, ISR 0x100-0x170, TMR
 * 0x180-0x1f0, IRR 0x200-0x270, ICR 0x300/0x310, LVTs 0x2f0 and
 * 0x320-0x370, TMICT 0x380, TMCCT 0x390 = current count at the time of the
 * get, TDCR 0x3e0).  set_lapic restarts a one-shot/periodic timer from
 * TMCCT when 0 < TMCCT <= TMICT (so a get/set round trip keeps the
 * remaining time), from TMICT for a periodic timer with TMCCT 0, and leaves
 * an expired one-shot timer (TMCCT 0) stopped.  Vectors 0-15 in IRR/ISR
 * are dropped.  IA32_APIC_BASE and TSC_DEADLINE are not in the page: set
 * IA32_APIC_BASE before the page (it selects the xAPIC / x2APIC format) and
 * TSC_DEADLINE after it (it is ignored unless the LVT timer is in
 * TSC-deadline mode).
 */
void soft_irqchip_get_lapic(struct soft_irqchip *chip, unsigned cpu,
			    uint8_t regs[1024]);
int soft_irqchip_set_lapic(struct soft_irqchip *chip, unsigned cpu,
			   const uint8_t regs[1024]);

/* PIT channel 2 gate/output for port 0x61 (speaker / TSC calibration). */
void soft_irqchip_pit_set_gate2(struct soft_irqchip *chip, bool gate);
bool soft_irqchip_pit_out2(struct soft_irqchip *chip);

/*
 * Save / restore of the whole chip: a versioned, plain-data, little-endian
 * image, stable across builds (fixed-width fields, explicit padding, no
 * pointers).  Timers are stored relative to the clock at save time
 * (remaining ns), so an image restores onto another clock base, process or
 * host.  Layout, version 1:
 *
 *   struct soft_irqchip_state                 (header + PIC, IOAPIC, PIT)
 *   struct soft_lapic_state lapic[ncpus]      (directly after it)
 *
 * Total size SOFT_IRQCHIP_STATE_SIZE(ncpus).  Restore checks the magic,
 * version, size, vCPU count and every field's range (the image is
 * untrusted input) and changes nothing if any check fails (-EINVAL).
 */
#define SOFT_IRQCHIP_STATE_MAGIC 0x51524953u /* "SIRQ" */
#define SOFT_IRQCHIP_STATE_VERSION 1u

/* Flags of struct soft_pic_state.flags. */
#define SOFT_PIC_IC4 (1u << 0)         /* ICW1: ICW4 expected */
#define SOFT_PIC_SINGLE (1u << 1)      /* ICW1: single, no cascade */
#define SOFT_PIC_LTIM (1u << 2)        /* ICW1: level mode for all */
#define SOFT_PIC_AEOI (1u << 3)        /* ICW4: automatic EOI */
#define SOFT_PIC_SFNM (1u << 4)        /* ICW4: special fully nested */
#define SOFT_PIC_ROTATE_AEOI (1u << 5) /* OCW2: rotate in AEOI mode */
#define SOFT_PIC_SMM (1u << 6)         /* OCW3: special mask mode */
#define SOFT_PIC_READ_ISR (1u << 7)    /* OCW3: command port reads ISR */
#define SOFT_PIC_POLL (1u << 8)        /* OCW3: next read is a poll */

struct soft_pic_state {
	uint8_t irr, imr, isr, elcr;
	uint8_t lines;      /* input levels */
	uint8_t base;       /* ICW2 vector base (bits 7:3) */
	uint8_t icw3;
	uint8_t init_step;  /* 0 = operational, 2/3/4 = next ICW expected */
	uint8_t lowest;     /* IR with the lowest priority (0-7) */
	uint8_t pad0;
	uint16_t flags;     /* SOFT_PIC_* */
	uint32_t pad1;
};

struct soft_ioapic_state {
	uint32_t id;        /* IOAPIC ID register value */
	uint32_t regsel;    /* IOREGSEL */
	uint32_t lines;     /* input levels of pins 0-23 (pin 0 = PIC INTR) */
	uint32_t pad;
	uint64_t redir[SOFT_IRQCHIP_NGSI]; /* incl. remote IRR (bit 14) */
};

/* Flags of struct soft_pit_chan_state.flags. */
#define SOFT_PIT_LOADED (1u << 0)       /* a count was written */
#define SOFT_PIT_COUNTING (1u << 1)     /* counting element running */
#define SOFT_PIT_TRIGGERED (1u << 2)    /* modes 1/5: gate edge seen */
#define SOFT_PIT_WFLIP (1u << 3)        /* lsb written, msb expected */
#define SOFT_PIT_RFLIP (1u << 4)        /* lsb read, msb next */
#define SOFT_PIT_CNT_LATCHED (1u << 5)
#define SOFT_PIT_ST_LATCHED (1u << 6)
#define SOFT_PIT_NULL_COUNT (1u << 7)
#define SOFT_PIT_LATCH_FLIP (1u << 8)   /* latched lsb read, msb next */

struct soft_pit_chan_state {
	uint32_t count;     /* reload value, 1..65536 (1..10000 in BCD) */
	uint8_t mode;       /* 0-5 */
	uint8_t rw;         /* 1 lsb, 2 msb, 3 lsb then msb */
	uint8_t bcd;
	uint8_t gate;
	uint16_t flags;     /* SOFT_PIT_* */
	uint8_t wlsb;       /* lsb written while WFLIP */
	uint8_t status;     /* latched status byte */
	uint16_t latch;     /* latched count */
	uint16_t pad0;
	uint32_t pad1;
	uint64_t ticks;     /* counts elapsed before the current run */
	uint64_t run_ns;    /* ns since the current run started (COUNTING) */
};

struct soft_pit_state {
	struct soft_pit_chan_state ch[3];
	uint8_t port61;     /* bits 0-3 as written */
	uint8_t refresh;    /* bit 4 toggle */
	uint8_t pad[6];
};

/* Flags of struct soft_lapic_state.flags. */
#define SOFT_LAPIC_NMI (1u << 0)
#define SOFT_LAPIC_INIT (1u << 1)
#define SOFT_LAPIC_SIPI (1u << 2)
#define SOFT_LAPIC_SMI (1u << 3)

struct soft_lapic_state {
	uint8_t regs[1024];     /* as soft_irqchip_get_lapic() */
	uint64_t apic_base;     /* IA32_APIC_BASE */
	uint64_t timer_ns;      /* remaining ns to the next timer expiry,
				   UINT64_MAX if not armed */
	uint64_t tsc_deadline;  /* IA32_TSC_DEADLINE */
	uint64_t tsc;           /* guest TSC at save time; restore continues
				   counting from it */
	uint32_t esr_pending;   /* errors not yet latched into ESR */
	uint32_t flags;         /* SOFT_LAPIC_* pending events */
	uint8_t sipi_vector;
	uint8_t pad[7];
};

struct soft_irqchip_state {
	uint32_t magic;         /* SOFT_IRQCHIP_STATE_MAGIC */
	uint32_t version;       /* SOFT_IRQCHIP_STATE_VERSION */
	uint32_t size;          /* SOFT_IRQCHIP_STATE_SIZE(ncpus) */
	uint32_t ncpus;
	uint32_t with_pit;
	uint32_t pad;
	struct soft_pic_state pic[2];    /* master, slave */
	struct soft_ioapic_state ioapic;
	struct soft_pit_state pit;
	uint8_t pic_src[16];    /* per PIC input: sources asserting it */
	uint8_t ioapic_src[SOFT_IRQCHIP_NGSI];
	/* struct soft_lapic_state lapic[ncpus] follows */
};

#define SOFT_IRQCHIP_STATE_SIZE(ncpus)                                         \
	(sizeof(struct soft_irqchip_state) +                                   \
	 (size_t)(ncpus) * sizeof(struct soft_lapic_state))

/*
 * soft_irqchip_save() - write the image into @buf.  Returns its size, or
 * -ENOSPC (nothing written) if @len is too small; @buf may be NULL with
 * @len 0 to ask for the size.
 */
int soft_irqchip_save(struct soft_irqchip *chip, void *buf, size_t len);
/* soft_irqchip_restore() - load an image from save().  0 or -EINVAL. */
int soft_irqchip_restore(struct soft_irqchip *chip, const void *buf,
			 size_t len);

/*
 * The PIC pair, IOAPIC and PIT as the backend-neutral struct
 * vmm_irqchip_state (field meanings as the KVM backend's; see irqconv.c
 * for what does not map one to one).  get fills pic, ioapic, pit and
 * valid (VMM_IRQCHIP_PIC | _IOAPIC, | _PIT with a PIT); set loads the
 * parts flagged in @st->valid (VMM_IRQCHIP_CLOCK and the HPET-legacy flag
 * are ignored) and leaves the local APICs as they were, except that their
 * TSC offsets may drift by the time the call takes: call
 * soft_irqchip_set_tsc_offset() for every vCPU afterwards.  Returns 0,
 * -ENOMEM, -ENODEV (a PIT for a chip without one), -EINVAL (a value out of
 * range; nothing changed).
 */
int soft_irqchip_get_vmm(struct soft_irqchip *chip,
			 struct vmm_irqchip_state *st);
int soft_irqchip_set_vmm(struct soft_irqchip *chip,
			 const struct vmm_irqchip_state *st);

#endif
