// SPDX-License-Identifier: MIT
/*
 * kvm_split.c - VMM_IRQCHIP_SPLIT on KVM: the local APICs are KVM's
 * (KVM_CAP_SPLIT_IRQCHIP), the PIC pair, IOAPIC and PIT are libvmm's own
 * models (src/irq/, the code the software backend runs, created
 * with external LAPICs).  How the two halves meet:
 *
 *  - IOAPIC interrupts are MSIs: KVM_SIGNAL_MSI.
 *  - GSIs 0-23 are KVM's "reserved IOAPIC pins": we keep one MSI routing
 *    entry per unmasked redirection entry, so that KVM knows which vectors
 *    are level-triggered IOAPIC vectors and exits with KVM_EXIT_IOAPIC_EOI
 *    when a LAPIC EOIs one; we hand the EOI to the IOAPIC (remote IRR).
 *  - The PIC's INTR goes to vCPU 0: its run loop injects the vector with
 *    KVM_INTERRUPT when kvm_run says it can take one, else it sets
 *    request_interrupt_window and KVM exits when it can (KVM's LAPIC takes
 *    it through LINT0 as ExtINT).  A PIC interrupt raised while vCPU 0 is in
 *    KVM_RUN kicks it out (immediate_exit + signal), without the exit the
 *    embedder would see for vmm_vcpu_kick().
 *  - The PIT (and nothing else: LAPIC timers are the kernel's) needs time
 *    to pass while the vCPUs sit in KVM_RUN: a timer thread, started the
 *    first time the guest arms the PIT, sleeps until the chip's next
 *    deadline and fires it.  A VM whose guest never programs the PIT has no
 *    thread.
 */
#include "cpu/kvm/kvm.h"
#include "irq/irqchip.h"

#include <signal.h>
#include <string.h>
#include <time.h>

struct kvm_split {
	vmm_vm *vm;
	struct soft_irqchip *chip;
	pthread_mutex_t lock;       /* bsp, timer fields; after chip->lock */
	pthread_cond_t cond;
	vmm_vcpu *bsp;              /* vCPU 0 once created */
	pthread_t timer;
	bool timer_started, timer_stop, timer_poke;
	/* IOAPIC routes, under the kvm_notify lock (kvm_split_routes()) */
	struct kvm_split_route route[KVM_SPLIT_PINS];
};

static uint64_t mono_now(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sink_msi(void *opaque, uint64_t addr, uint32_t data)
{
	struct kvm_split *s = opaque;
	struct kvm_msi msi = { .address_lo = (uint32_t)addr,
			       .address_hi = (uint32_t)(addr >> 32),
			       .data = data };
	int r = kvm_ioctl(kvm_of(s->vm)->vm_fd, KVM_SIGNAL_MSI, &msi);

	if (r < 0)
		vmm__log(s->vm, VMM_LOG_WARN, "split irqchip: KVM_SIGNAL_MSI: %s",
			 vmm_strerror(r));
	return r < 0 ? r : 0;
}

static void sink_route(void *opaque, unsigned pin, bool valid, uint64_t addr,
		       uint32_t data)
{
	struct kvm_split *s = opaque;

	kvm_split_set_route(s->vm, pin, (struct kvm_split_route){
		.valid = valid, .addr = addr, .data = data });
}

/* Kick vCPU 0 out of KVM_RUN so that it injects the PIC's vector. */
static void sink_extint(void *opaque)
{
	struct kvm_split *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (s->bsp) {
		struct kvm_vcpu_priv *p = kvcpu_of(s->bsp);
		__atomic_store_n(&p->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		if (atomic_load(&s->bsp->running))
			pthread_kill(s->bsp->run_thread,
				     kvm_of(s->vm)->kick_signal);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *timer_main(void *arg)
{
	struct kvm_split *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->timer_stop) {
		uint64_t d = soft_irqchip_next_deadline(s->chip);

		if (s->timer_poke) {
			s->timer_poke = false;
		} else if (d == UINT64_MAX) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		} else if (d > mono_now(NULL)) {
			struct timespec ts = { .tv_sec = (time_t)(d / 1000000000u),
					       .tv_nsec = (long)(d % 1000000000u) };
			pthread_cond_timedwait(&s->cond, &s->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&s->lock);
		soft_irqchip_advance(s->chip);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* The earliest deadline moved earlier: start or wake the timer thread. */
static void sink_timer(void *opaque)
{
	struct kvm_split *s = opaque;
	sigset_t all, old;

	pthread_mutex_lock(&s->lock);
	if (!s->timer_started && !s->timer_stop) {
		/* the thread must not take the vCPU kick signal */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (pthread_create(&s->timer, NULL, timer_main, s) == 0)
			s->timer_started = true;
		else
			vmm__log(s->vm, VMM_LOG_ERROR,
				 "split irqchip: cannot start the PIT timer "
				 "thread; PIT interrupts will be late");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	s->timer_poke = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int kvm_split_create(vmm_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP,
				      .args = { KVM_SPLIT_PINS } };
	struct soft_clock clock = { .now_ns = mono_now };
	struct soft_irqchip_sink sink = {
		.msi = sink_msi, .route = sink_route, .extint = sink_extint,
		.timer = sink_timer,
	};
	struct kvm_split *s;
	pthread_condattr_t ca;
	int r;

	r = kvm_ioctl(k->vm_fd, KVM_ENABLE_CAP, &cap);
	if (r < 0)
		return vmm__err(vm, -ENOTSUP,
				"irqchip mode 'split': KVM_ENABLE_CAP "
				"(KVM_CAP_SPLIT_IRQCHIP) failed: %s",
				vmm_strerror(r));
	s = vmm__alloc(vm, sizeof(*s));
	if (!s)
		return vmm__err(vm, -ENOMEM, "out of memory for split irqchip");
	s->vm = vm;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	sink.opaque = s;
	k->split = s;
	r = soft_irqchip_create_ext(vm, vm->cfg.ncpus,
				    !(vm->cfg.flags & VMM_CFG_NO_PIT), &clock,
				    &sink, &s->chip);
	if (r) {
		kvm_split_destroy(vm);
		return r;
	}
	return 0;
}

void kvm_split_destroy(vmm_vm *vm)
{
	struct kvm_vm *k = kvm_of(vm);
	struct kvm_split *s = k->split;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->timer_stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->timer_started)
		pthread_join(s->timer, NULL);
	soft_irqchip_destroy(s->chip);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	k->split = NULL;
	vmm__free(vm, s);
}

void kvm_split_vcpu(vmm_vm *vm, vmm_vcpu *vcpu, bool add)
{
	struct kvm_split *s = kvm_of(vm)->split;

	if (!s || vcpu->index != 0)
		return;
	pthread_mutex_lock(&s->lock);
	s->bsp = add ? vcpu : NULL;
	pthread_mutex_unlock(&s->lock);
}

struct kvm_split_route *kvm_split_routes(vmm_vm *vm)
{
	struct kvm_split *s = kvm_of(vm)->split;

	return s ? s->route : NULL;
}

/*
 * Before KVM_RUN on vCPU 0: inject the PIC's vector if KVM can take it,
 * else ask for an exit when it can.
 */
void kvm_split_pre_run(vmm_vcpu *vcpu)
{
	struct kvm_split *s = kvm_of(vcpu->vm)->split;
	struct kvm_vcpu_priv *p = kvcpu_of(vcpu);
	struct kvm_run *run = p->run;

	if (!soft_irqchip_extint_pending(s->chip)) {
		run->request_interrupt_window = 0;
		return;
	}
	if (run->ready_for_interrupt_injection) {
		struct kvm_interrupt irq = {
			.irq = (uint32_t)soft_irqchip_extint_ack(s->chip)
		};
		int r;

		kvm_state_forget(p);
		r = kvm_ioctl(p->fd, KVM_INTERRUPT, &irq);
		if (r < 0)
			vmm__log(vcpu->vm, VMM_LOG_WARN,
				 "split irqchip: KVM_INTERRUPT %u: %s", irq.irq,
				 vmm_strerror(r));
		run->request_interrupt_window =
			soft_irqchip_extint_pending(s->chip);
	} else {
		run->request_interrupt_window = 1;
	}
}

/* An exit the split irqchip handles itself: true = run again. */
bool kvm_split_exit(vmm_vcpu *vcpu)
{
	struct kvm_split *s = kvm_of(vcpu->vm)->split;
	struct kvm_run *run = kvcpu_of(vcpu)->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IOAPIC_EOI:
		soft_irqchip_eoi(s->chip, run->eoi.vector);
		return true;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;
	}
	return false;
}

int kvm_split_irq_line(vmm_vm *vm, uint32_t gsi, int level)
{
	return soft_irqchip_set_irq(kvm_of(vm)->split->chip, gsi, level);
}

int kvm_split_get(vmm_vm *vm, struct vmm_irqchip_state *st)
{
	return soft_irqchip_get_vmm(kvm_of(vm)->split->chip, st);
}

int kvm_split_set(vmm_vm *vm, const struct vmm_irqchip_state *st)
{
	struct kvm_split *s = kvm_of(vm)->split;
	int r = soft_irqchip_set_vmm(s->chip, st);

	if (r == 0)
		soft_irqchip_sync(s->chip);
	return r;
}
