// SPDX-License-Identifier: MIT
/*
 * uart16550.c - a hypervisor-direct 16550A UART (8 byte-wide registers).
 *
 * Model:
 *  - Transmission is instantaneous from the guest's point of view: THRE and
 *    TEMT are always set.  Transmitted bytes go to out_cb (synchronously, on
 *    the vCPU thread, without the device lock held) and into a 4 KiB ring
 *    that the VM's event loop (src/io/evloop.h) writes to out_fd.  A vCPU never touches
 *    out_fd itself, so a full pipe, a blocking fd or EPIPE cannot stall it:
 *    when the ring is full the vCPU waits at most UART_TX_WAIT_MS, after
 *    which bytes are dropped (and counted) until the fd drains again.
 *  - Received bytes wait in a 4 KiB host-side buffer (filled by
 *    vmm_uart_input() and by the event loop from in_fd) and move into
 *    the 16-byte receive FIFO (1-byte holding register with FIFOs off) as
 *    the guest drains it, so host input is flow-controlled and never
 *    overruns.  Overruns (OE) happen only in loopback mode, where THR feeds
 *    the receive FIFO directly, and host input stays queued.
 *  - The character-timeout indication (IIR 0xc) is reported as soon as
 *    the FIFO holds data below the trigger level: a VMM delivers input in
 *    bursts, so "no more characters for four character times" is always
 *    true by the time the guest looks.
 *  - The interrupt line follows IIR bit 0 (level semantics), not gated by
 *    MCR.OUT2, as QEMU does.  -ENODEV from vmm_irq_set_line() (no irqchip) is
 *    ignored.
 *  - Without loopback the modem inputs read DCD, DSR and CTS asserted.
 *
 * One mutex protects all state; handlers of several vCPUs and the event
 * loop's callbacks take it.  When in_fd or out_fd is given, the UART has
 * three watches on the VM's event loop (one I/O model for every device, no
 * thread of its own): in_fd readable (disarmed while the host buffer is
 * full or after EOF), out_fd writable (armed only while the ring holds
 * bytes), and an eventfd through which vCPU threads ask the loop to re-arm
 * those two (watches are armed on the loop thread only).  At detach, the
 * detaching thread waits (a condition, bounded by UART_FLUSH_MS) until the
 * loop has written what is queued, then removes the watches.
 */
#include "dev/direct.h"
#include "core/statebuf.h"
#include "io/evloop.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define UART_NREGS 8
#define UART_FIFO_SIZE 16
#define UART_HOST_BUF 4096
#define UART_TX_BUF 4096
#define UART_TX_WAIT_MS 50
#define UART_FLUSH_MS 200

/* register offsets */
#define UART_RBR 0 /* THR on write; DLL with DLAB */
#define UART_IER 1 /* DLM with DLAB */
#define UART_IIR 2 /* FCR on write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04
#define FCR_KEEP 0xc9 /* enable, DMA mode, trigger level */

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_PE 0x04
#define LSR_FE 0x08
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_ERRS (LSR_OE | LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct uart {
	vmm_vm *vm;
	uint16_t port;
	int irq;                /* -1 = none */
	int out_fd, in_fd;
	void (*out_cb)(void *opaque, const uint8_t *buf, size_t len);
	void *out_opaque;

	pthread_mutex_t lock;
	pthread_cond_t tx_cond; /* signalled when the tx ring drains */

	/* registers */
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	uint8_t lsr_err;        /* sticky OE/PE/FE/BI */
	uint8_t msr;            /* inputs (7:4) and deltas (3:0) */
	bool thr_ipending;
	int irq_level;
	bool irq_warned;

	/* receive FIFO */
	uint8_t rx[UART_FIFO_SIZE];
	unsigned rx_head, rx_count;

	/* host-side input */
	uint8_t in_buf[UART_HOST_BUF];
	size_t in_head, in_len;
	bool in_eof;            /* stop polling in_fd */
	bool in_blocked;        /* in_fd watch off until there is space */

	/* transmit ring for out_fd */
	uint8_t tx[UART_TX_BUF];
	size_t tx_head, tx_len;
	bool tx_stalled;        /* the last wait timed out: drop at once */
	bool out_dead;          /* out_fd failed for good */

	/* event-loop I/O */
	struct vmm_evloop *loop;
	struct vmm_ev_watch *in_watch, *out_watch, *wake_watch;
	int wake_fd;
	bool io_on;             /* the watches exist */
	bool stopping;

	struct vmm__uart_stats st;
};

static void uart_destroy(void *priv);
static int uart_save(void *priv, struct vmm_sbuf *b);
static int uart_restore(void *priv, uint32_t version, struct vmm_sreader *r);
#define UART_STATE_VERSION 1

unsigned vmm__uart_rx_trigger(uint8_t fcr)
{
	static const unsigned level[4] = { 1, 4, 8, 14 };

	return level[fcr >> 6];
}

uint8_t vmm__uart_iir(const struct vmm__uart_irq_state *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? VMM_UART_IIR_FIFO : 0;

	if ((s->ier & IER_RLSI) && (s->lsr_err & LSR_ERRS))
		return fifo | VMM_UART_IIR_RLSI;
	if ((s->ier & IER_RDI) && s->rx_count) {
		if (!fifo || s->rx_count >= vmm__uart_rx_trigger(s->fcr))
			return fifo | VMM_UART_IIR_RDI;
		return fifo | VMM_UART_IIR_TIMEOUT;
	}
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return fifo | VMM_UART_IIR_THRI;
	if ((s->ier & IER_MSI) && (s->msr_delta & 0x0f))
		return fifo | VMM_UART_IIR_MSI;
	return fifo | VMM_UART_IIR_NONE;
}

static uint8_t uart_iir(const struct uart *u)
{
	struct vmm__uart_irq_state s = {
		.ier = u->ier,
		.fcr = u->fcr,
		.lsr_err = u->lsr_err,
		.msr_delta = u->msr & 0x0f,
		.rx_count = u->rx_count,
		.thr_ipending = u->thr_ipending,
	};

	return vmm__uart_iir(&s);
}

/* Drive the interrupt line from the current state.  Lock held. */
static void uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & VMM_UART_IIR_NONE);
	int ret;

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (u->irq < 0)
		return;
	ret = vmm_irq_set_line(u->vm, (uint32_t)u->irq, level);
	if (ret < 0 && ret != -ENODEV && !u->irq_warned) {
		u->irq_warned = true;
		vmm__log(u->vm, VMM_LOG_WARN, "uart@0x%x: irq %d: %s", u->port,
			 u->irq, vmm_strerror(ret));
	}
}

static void uart_wake(struct uart *u)
{
	uint64_t one = 1;

	if (u->io_on && write(u->wake_fd, &one, sizeof(one)) < 0) {
		/* counter full: a wake-up is pending anyway */
	}
}

/* ---- receive side ---- */

static unsigned uart_rx_cap(const struct uart *u)
{
	return (u->fcr & FCR_ENABLE) ? UART_FIFO_SIZE : 1;
}

/* A character arrives at the receiver; overrun if there is no room. */
static void uart_rx_push(struct uart *u, uint8_t c)
{
	unsigned cap = uart_rx_cap(u);

	if (u->rx_count >= cap) {
		u->lsr_err |= LSR_OE;
		u->st.overruns++;
		if (!(u->fcr & FCR_ENABLE)) /* 16450: RBR is overwritten */
			u->rx[(u->rx_head + u->rx_count - 1) % UART_FIFO_SIZE] = c;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
	u->rx_count++;
	u->st.rx_bytes++;
}

static uint8_t uart_rx_pop(struct uart *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
	u->rx_count--;
	return c;
}

static void uart_rx_clear(struct uart *u)
{
	u->rx_head = 0;
	u->rx_count = 0;
}

/* Move host input into the FIFO while there is room (not in loopback). */
static void uart_rx_refill(struct uart *u)
{
	if (u->mcr & MCR_LOOP)
		return;
	while (u->in_len && u->rx_count < uart_rx_cap(u)) {
		uart_rx_push(u, u->in_buf[u->in_head]);
		u->in_head = (u->in_head + 1) % UART_HOST_BUF;
		u->in_len--;
	}
	if (u->in_blocked && u->in_len < UART_HOST_BUF) {
		u->in_blocked = false;
		uart_wake(u);
	}
}

/* Queue host bytes; returns how many fit.  Lock held. */
static size_t uart_host_input(struct uart *u, const uint8_t *p, size_t len)
{
	size_t n = 0;

	while (n < len) {
		if (u->in_len == UART_HOST_BUF) {
			uart_rx_refill(u);
			if (u->in_len == UART_HOST_BUF)
				break;
		}
		u->in_buf[(u->in_head + u->in_len) % UART_HOST_BUF] = p[n++];
		u->in_len++;
	}
	uart_rx_refill(u);
	uart_update_irq(u);
	return n;
}

/* ---- modem status ---- */

static uint8_t uart_modem_inputs(const struct uart *u)
{
	uint8_t in = 0;

	if (!(u->mcr & MCR_LOOP))
		return MSR_DCD | MSR_DSR | MSR_CTS;
	if (u->mcr & MCR_RTS)
		in |= MSR_CTS;
	if (u->mcr & MCR_DTR)
		in |= MSR_DSR;
	if (u->mcr & MCR_OUT1)
		in |= MSR_RI;
	if (u->mcr & MCR_OUT2)
		in |= MSR_DCD;
	return in;
}

/* Recompute MSR inputs and latch the deltas. */
static void uart_update_msr(struct uart *u)
{
	uint8_t old = u->msr & 0xf0, new = uart_modem_inputs(u);
	uint8_t changed = old ^ new, delta = 0;

	if (changed & MSR_CTS)
		delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(new & MSR_RI))
		delta |= MSR_TERI;
	if (changed & MSR_DCD)
		delta |= MSR_DDCD;
	u->msr = new | (u->msr & 0x0f) | delta;
}

/* ---- transmit side ---- */

static int uart_deadline(struct timespec *ts, int ms)
{
	if (clock_gettime(CLOCK_MONOTONIC, ts))
		return -errno;
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
	return 0;
}

/* Put @c into the out_fd ring, waiting a bounded time for room.  Locked. */
static void uart_tx_queue(struct uart *u, uint8_t c)
{
	struct timespec ts;

	if (u->out_fd < 0 || !u->io_on)
		return;
	if (u->out_dead) {
		u->st.tx_dropped++;
		return;
	}
	if (u->tx_len == UART_TX_BUF && !u->tx_stalled &&
	    !uart_deadline(&ts, UART_TX_WAIT_MS)) {
		while (u->tx_len == UART_TX_BUF && !u->out_dead && !u->stopping)
			if (pthread_cond_timedwait(&u->tx_cond, &u->lock, &ts))
				break;
	}
	if (u->tx_len == UART_TX_BUF || u->out_dead) {
		u->tx_stalled = true;
		u->st.tx_dropped++;
		return;
	}
	u->tx[(u->tx_head + u->tx_len) % UART_TX_BUF] = c;
	if (u->tx_len++ == 0)
		uart_wake(u);
}

/*
 * The guest wrote THR.  Returns true when the byte must also go to out_cb
 * (which the caller calls after dropping the lock).
 */
static bool uart_transmit(struct uart *u, uint8_t c)
{
	u->thr_ipending = false;
	if (u->mcr & MCR_LOOP) {
		uart_rx_push(u, c);
		u->thr_ipending = true;
		return false;
	}
	u->st.tx_bytes++;
	uart_tx_queue(u, c);
	u->thr_ipending = true; /* transmitted at once: THR empty again */
	return u->out_cb != NULL;
}

/* ---- registers ---- */

static uint8_t uart_lsr(const struct uart *u)
{
	uint8_t lsr = u->lsr_err | LSR_THRE | LSR_TEMT;

	if (u->rx_count)
		lsr |= LSR_DR;
	return lsr;
}

static uint8_t uart_read_reg(struct uart *u, unsigned reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		v = uart_rx_pop(u);
		uart_rx_refill(u);
		return v;
	case UART_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR:
		v = uart_iir(u);
		if ((v & 0x0f) == VMM_UART_IIR_THRI)
			u->thr_ipending = false;
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		v = uart_lsr(u);
		u->lsr_err = 0;
		return v;
	case UART_MSR:
		v = u->msr;
		u->msr &= 0xf0;
		return v;
	default:
		return u->scr;
	}
}

static void uart_write_fcr(struct uart *u, uint8_t v)
{
	if ((v ^ u->fcr) & FCR_ENABLE)
		uart_rx_clear(u); /* toggling the FIFOs resets them */
	if (!(v & FCR_ENABLE)) {
		u->fcr = 0;
	} else {
		if (v & FCR_CLEAR_RX)
			uart_rx_clear(u);
		/* FCR_CLEAR_TX: the transmitter never holds bytes */
		u->fcr = v & FCR_KEEP;
	}
	uart_rx_refill(u);
}

/* Returns true if @v was transmitted and must go to out_cb. */
static bool uart_write_reg(struct uart *u, unsigned reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR:
		if (u->lcr & LCR_DLAB) {
			u->dll = v;
			return false;
		}
		return uart_transmit(u, v);
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
		} else {
			if ((v & IER_THRI) && !(u->ier & IER_THRI))
				u->thr_ipending = true;
			u->ier = v & 0x0f;
		}
		return false;
	case UART_IIR:
		uart_write_fcr(u, v);
		return false;
	case UART_LCR:
		u->lcr = v;
		return false;
	case UART_MCR:
		u->mcr = v & MCR_MASK;
		uart_update_msr(u);
		uart_rx_refill(u); /* leaving loopback lets host input in */
		return false;
	case UART_LSR:
	case UART_MSR:
		return false; /* read-only (factory test on real parts) */
	default:
		u->scr = v;
		return false;
	}
}

/*
 * Registers are bytes; wider accesses are split into byte accesses at
 * consecutive offsets, as an 8-bit ISA device sees them.
 */
static int uart_check(struct uart *u, uint64_t off, unsigned size)
{
	if (!size || size > 8 || off >= UART_NREGS || size > UART_NREGS - off)
		return -EINVAL;
	return 0;
}

static int uart_read(void *opaque, uint64_t off, void *data, unsigned size,
		     struct vmm_io_ctx *ctx)
{
	struct uart *u = opaque;
	uint8_t *p = data;

	if (uart_check(u, off, size))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++)
		p[i] = uart_read_reg(u, (unsigned)off + i);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

static int uart_write(void *opaque, uint64_t off, const void *data,
		      unsigned size, struct vmm_io_ctx *ctx)
{
	struct uart *u = opaque;
	const uint8_t *p = data;
	uint8_t out[8];
	size_t nout = 0;

	if (uart_check(u, off, size))
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	for (unsigned i = 0; i < size; i++)
		if (uart_write_reg(u, (unsigned)off + i, p[i]))
			out[nout++] = p[i];
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (nout)
		u->out_cb(u->out_opaque, out, nout);
	return 0;
}

static const struct vmm_io_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

/* ---- I/O on the event loop (callbacks run on the loop thread) ---- */

/* in_fd is readable: read what fits into the host buffer. */
static void uart_in_cb(void *opaque, int fd, unsigned events)
{
	struct uart *u = opaque;
	uint8_t buf[256];
	size_t room;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&u->lock);
	room = UART_HOST_BUF - u->in_len;
	pthread_mutex_unlock(&u->lock);
	if (room > sizeof(buf))
		room = sizeof(buf);
	n = room ? read(fd, buf, room) : -1;
	pthread_mutex_lock(&u->lock);
	if (n > 0)
		uart_host_input(u, buf, (size_t)n);
	else if (room && (n == 0 || (errno != EAGAIN && errno != EINTR)))
		u->in_eof = true;
	if (u->in_eof || u->in_len == UART_HOST_BUF) {
		/* the guest draining the FIFO wakes us (uart_rx_refill) */
		u->in_blocked = !u->in_eof;
		vmm_evloop_watch_arm(u->in_watch, false);
	}
	pthread_mutex_unlock(&u->lock);
}

/* out_fd is writable: write one contiguous run of the tx ring. */
static void uart_out_cb(void *opaque, int fd, unsigned events)
{
	struct uart *u = opaque;
	size_t start, len;
	ssize_t n = 0;

	(void)events;
	pthread_mutex_lock(&u->lock);
	start = u->tx_head;
	len = u->tx_len;
	pthread_mutex_unlock(&u->lock);
	if (start + len > UART_TX_BUF)
		len = UART_TX_BUF - start;
	if (len > 512) /* <= PIPE_BUF: cannot block once POLLOUT was seen */
		len = 512;
	if (len)
		n = write(fd, u->tx + start, len);
	pthread_mutex_lock(&u->lock);
	if (n > 0) {
		u->tx_head = (u->tx_head + (size_t)n) % UART_TX_BUF;
		u->tx_len -= (size_t)n;
		u->tx_stalled = false;
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		u->out_dead = true; /* EPIPE: the loop thread blocks SIGPIPE */
		u->st.tx_dropped += u->tx_len;
		u->tx_len = 0;
	}
	if (!u->tx_len || u->out_dead)
		vmm_evloop_watch_arm(u->out_watch, false); /* uart_wake() */
	pthread_cond_broadcast(&u->tx_cond);
	pthread_mutex_unlock(&u->lock);
}

/* A vCPU thread queued output or made room for input: re-arm. */
static void uart_wake_cb(void *opaque, int fd, unsigned events)
{
	struct uart *u = opaque;
	uint64_t cnt;

	(void)events;
	if (read(fd, &cnt, sizeof(cnt)) < 0) {
		/* spurious: counter already consumed */
	}
	pthread_mutex_lock(&u->lock);
	if (u->in_watch && !u->in_eof && u->in_len < UART_HOST_BUF) {
		u->in_blocked = false;
		vmm_evloop_watch_arm(u->in_watch, true);
	}
	if (u->out_watch && u->tx_len && !u->out_dead)
		vmm_evloop_watch_arm(u->out_watch, true);
	pthread_mutex_unlock(&u->lock);
}

/*
 * Detach: give out_fd a bounded time (UART_FLUSH_MS) to take what is
 * queued — the loop writes, this thread waits on tx_cond — then remove
 * the watches; when vmm_evloop_unwatch() returns their callbacks are not
 * running and never run again.
 */
static void uart_stop_io(struct uart *u)
{
	struct timespec end;

	if (!u->io_on)
		return;
	pthread_mutex_lock(&u->lock);
	if (u->out_watch && !uart_deadline(&end, UART_FLUSH_MS))
		while (u->tx_len && !u->out_dead)
			if (pthread_cond_timedwait(&u->tx_cond, &u->lock, &end))
				break;
	u->stopping = true;
	u->io_on = false; /* no more uart_wake() */
	pthread_cond_broadcast(&u->tx_cond);
	pthread_mutex_unlock(&u->lock);
	vmm_evloop_unwatch(u->loop, u->wake_watch);
	vmm_evloop_unwatch(u->loop, u->in_watch);
	vmm_evloop_unwatch(u->loop, u->out_watch);
	u->wake_watch = u->in_watch = u->out_watch = NULL;
	if (u->wake_fd >= 0)
		close(u->wake_fd);
	u->wake_fd = -1;
}

/* ---- attach / detach ---- */

static int uart_check_fd(vmm_vm *vm, int fd, int want, const char *what)
{
	int fl;

	if (fd == -1)
		return 0;
	if (fd < 0)
		return vmm__err(vm, -EBADF, "uart: bad %s %d", what, fd);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return vmm__err(vm, -EBADF, "uart: %s %d is not open", what,
				fd);
	fl &= O_ACCMODE;
	if (fl != O_RDWR && fl != want)
		return vmm__err(vm, -EBADF, "uart: %s %d has the wrong mode",
				what, fd);
	return 0;
}

static int uart_check_cfg(vmm_vm *vm, const struct vmm_uart_config *cfg)
{
	uint32_t port = cfg->port ? cfg->port : 0x3f8;
	int ret;

	if (port + UART_NREGS > 0x10000)
		return vmm__err(vm, -EINVAL, "uart: port 0x%x out of range",
				port);
	if (cfg->irq < -1 || cfg->irq > 255)
		return vmm__err(vm, -EINVAL, "uart: bad irq %d", cfg->irq);
	ret = uart_check_fd(vm, cfg->out_fd, O_WRONLY, "out_fd");
	if (!ret)
		ret = uart_check_fd(vm, cfg->in_fd, O_RDONLY, "in_fd");
	return ret;
}

static void uart_reset(struct uart *u)
{
	u->lcr = 0x03;          /* 8N1 */
	u->dll = 0x0c;          /* 9600 baud */
	u->mcr = MCR_OUT2;
	u->msr = uart_modem_inputs(u);
	u->irq_level = 0;
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC. */
static int uart_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (ret)
		return -ret;
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	return -ret;
}

static int uart_start_io(struct uart *u)
{
	int ret;

	u->loop = vmm__vm_evloop(u->vm);
	if (!u->loop)
		return -ENOMEM; /* the VM's error names the cause */
	u->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (u->wake_fd < 0)
		return -errno;
	u->io_on = true;
	ret = vmm_evloop_watch(u->loop, u->wake_fd, uart_wake_cb, u, true,
			       &u->wake_watch);
	if (!ret && u->in_fd >= 0)
		ret = vmm_evloop_watch(u->loop, u->in_fd, uart_in_cb, u, true,
				       &u->in_watch);
	if (!ret && u->out_fd >= 0)
		ret = vmm_evloop_watch_events(u->loop, u->out_fd, POLLOUT,
					      uart_out_cb, u, false,
					      &u->out_watch);
	if (ret)
		uart_stop_io(u);
	return ret;
}

/**
 * vmm_uart_config_init() - fill @cfg with COM1 defaults and no fds.
 * @cfg: the configuration to initialise.
 */
void vmm_uart_config_init(struct vmm_uart_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->struct_size = sizeof(*cfg);
	cfg->port = 0x3f8;
	cfg->irq = 4;
	cfg->out_fd = -1;
	cfg->in_fd = -1;
}

/**
 * vmm_uart_attach() - attach a 16550A UART (see devices.h).
 * @vm:  the VM.
 * @cfg: port, irq, fds and callback.
 * @out: receives the device handle.
 *
 * Returns 0, -EINVAL for bad arguments, -EBADF for an unusable fd, -EEXIST
 * if the ports are taken, -ENOMEM, or the error of eventfd or of starting
 * the VM's event loop (when an fd is given).
 */
int vmm_uart_attach(vmm_vm *vm, const struct vmm_uart_config *ucfg,
			vmm_dev **out)
{
	const struct vmm_uart_config *cfg = ucfg;
	struct vmm_uart_config c;
	struct uart *u;
	vmm_dev *dev;
	char name[32];
	int ret;

	if (!vm)
		return -EINVAL;
	if (!cfg || !out)
		return vmm__err(vm, -EINVAL, "uart: NULL %s",
				cfg ? "out" : "config");
	vmm_uart_config_init(&c);
	if (VMM__STRUCT_IN_V(&c, ucfg, VMM__UART_CONFIG_V02))
		return vmm__err(vm, -EINVAL,
				"uart: bad struct_size %u or unknown non-zero "
				"fields in struct vmm_uart_config",
				ucfg->struct_size);
	cfg = &c;
	ret = uart_check_cfg(vm, cfg);
	if (ret)
		return ret;

	u = vmm__alloc(vm, sizeof(*u));
	if (!u)
		return vmm__err(vm, -ENOMEM, "uart: out of memory");
	u->vm = vm;
	u->port = cfg->port ? cfg->port : 0x3f8;
	u->irq = cfg->irq == 0 ? 4 : cfg->irq;
	u->out_fd = cfg->out_fd;
	u->in_fd = cfg->in_fd;
	u->out_cb = cfg->out_cb;
	u->out_opaque = cfg->out_opaque;
	u->wake_fd = -1;
	uart_reset(u);
	snprintf(name, sizeof(name), "uart@0x%x", u->port);

	ret = pthread_mutex_init(&u->lock, NULL);
	if (ret) {
		ret = vmm__err(vm, -ret, "uart: mutex: %s", vmm_strerror(-ret));
		goto err_free;
	}
	ret = uart_cond_init(&u->tx_cond);
	if (ret) {
		ret = vmm__err(vm, ret, "uart: condvar: %s", vmm_strerror(ret));
		goto err_mutex;
	}
	ret = vmm_bus_register(vm, VMM_SPACE_PIO, u->port, UART_NREGS,
			       &uart_ops, u, name);
	if (ret) {
		ret = vmm__err(vm, ret, "uart: cannot register ports 0x%x-0x%x: %s",
			       u->port, u->port + UART_NREGS - 1,
			       vmm_strerror(ret));
		goto err_cond;
	}
	if (u->in_fd >= 0 || u->out_fd >= 0) {
		ret = uart_start_io(u);
		if (ret) {
			ret = vmm__err(vm, ret, "uart: event-loop I/O: %s",
				       vmm_strerror(ret));
			goto err_unregister;
		}
	}
	dev = vmm__dev_new(vm, name, u, uart_destroy);
	if (!dev) {
		ret = -ENOMEM;
		goto err_thread;
	}
	vmm__dev_set_state_ops(dev, "uart", VMM_SPACE_PIO, u->port,
			       UART_STATE_VERSION, uart_save, uart_restore);
	*out = dev;
	return 0;

err_thread:
	uart_stop_io(u);
err_unregister:
	vmm_bus_unregister(vm, VMM_SPACE_PIO, u->port);
err_cond:
	pthread_cond_destroy(&u->tx_cond);
err_mutex:
	pthread_mutex_destroy(&u->lock);
err_free:
	vmm__free(vm, u);
	return ret;
}

/* ---- snapshot state (version 1) ----
 *
 *   u8  IER FCR LCR MCR SCR DLL DLM LSR-errors MSR THR-int-pending irq-level
 *   u8  receive FIFO count n (<= 16, <= 1 with FIFOs off), n bytes oldest first
 *   u32 host input not yet in the FIFO m (<= 4096), m bytes
 *
 * Bytes the guest transmitted are the embedder's once written (out_cb or
 * the ring to out_fd) and are not part of the state.
 */
static int uart_save(void *priv, struct vmm_sbuf *b)
{
	struct uart *u = priv;

	pthread_mutex_lock(&u->lock);
	vmm__sb_u8(b, u->ier);
	vmm__sb_u8(b, u->fcr);
	vmm__sb_u8(b, u->lcr);
	vmm__sb_u8(b, u->mcr);
	vmm__sb_u8(b, u->scr);
	vmm__sb_u8(b, u->dll);
	vmm__sb_u8(b, u->dlm);
	vmm__sb_u8(b, u->lsr_err);
	vmm__sb_u8(b, u->msr);
	vmm__sb_u8(b, u->thr_ipending);
	vmm__sb_u8(b, (uint8_t)u->irq_level);
	vmm__sb_u8(b, (uint8_t)u->rx_count);
	for (unsigned i = 0; i < u->rx_count; i++)
		vmm__sb_u8(b, u->rx[(u->rx_head + i) % UART_FIFO_SIZE]);
	vmm__sb_u32(b, (uint32_t)u->in_len);
	for (size_t i = 0; i < u->in_len; i++)
		vmm__sb_u8(b, u->in_buf[(u->in_head + i) % UART_HOST_BUF]);
	pthread_mutex_unlock(&u->lock);
	return vmm__sb_error(b);
}

static int uart_restore(void *priv, uint32_t version, struct vmm_sreader *r)
{
	struct uart *u = priv;
	uint8_t reg[11], rx[UART_FIFO_SIZE];
	unsigned rx_count;
	uint32_t in_len;
	const uint8_t *inp;

	if (version != UART_STATE_VERSION)
		return vmm__err(u->vm, -ENOTSUP, "uart@0x%x: state version %u",
				u->port, version);
	vmm__sr_bytes(r, reg, sizeof(reg));
	rx_count = vmm__sr_u8(r);
	if (rx_count > UART_FIFO_SIZE ||
	    (!(reg[1] & FCR_ENABLE) && rx_count > 1))
		goto bad;
	vmm__sr_bytes(r, rx, rx_count);
	in_len = vmm__sr_u32(r);
	if (in_len > UART_HOST_BUF)
		goto bad;
	inp = vmm__sr_take(r, in_len);
	if (!vmm__sr_done(r) || reg[0] & ~0x0f || reg[1] & ~FCR_KEEP ||
	    reg[3] & ~MCR_MASK || reg[7] & ~LSR_ERRS || reg[9] > 1 ||
	    reg[10] > 1)
		goto bad;

	pthread_mutex_lock(&u->lock);
	u->ier = reg[0];
	u->fcr = reg[1];
	u->lcr = reg[2];
	u->mcr = reg[3];
	u->scr = reg[4];
	u->dll = reg[5];
	u->dlm = reg[6];
	u->lsr_err = reg[7];
	u->msr = reg[8];
	u->thr_ipending = reg[9];
	/* the interrupt controller's state carries the line level */
	u->irq_level = reg[10];
	u->rx_head = 0;
	u->rx_count = rx_count;
	memcpy(u->rx, rx, rx_count);
	u->in_head = 0;
	u->in_len = in_len;
	if (in_len)
		memcpy(u->in_buf, inp, in_len);
	pthread_mutex_unlock(&u->lock);
	return 0;
bad:
	return vmm__err(u->vm, -EBADMSG, "uart@0x%x: invalid saved state",
			u->port);
}

static void uart_destroy(void *priv)
{
	struct uart *u = priv;
	vmm_vm *vm = u->vm;

	vmm_bus_unregister(vm, VMM_SPACE_PIO, u->port);
	uart_stop_io(u);
	pthread_cond_destroy(&u->tx_cond);
	pthread_mutex_destroy(&u->lock);
	vmm__free(vm, u);
}

static struct uart *uart_of(vmm_dev *dev)
{
	if (!dev || dev->destroy != uart_destroy || !dev->priv)
		return NULL;
	return dev->priv;
}

/**
 * vmm_uart_input() - queue bytes for the guest to receive.
 * @uart: a UART from vmm_uart_attach().
 * @buf:  the bytes.
 * @len:  how many.
 *
 * Returns the number of bytes accepted (less than @len when the FIFO and
 * the 4 KiB host buffer are full), or -EINVAL.
 */
int vmm_uart_input(vmm_dev *uart, const void *buf, size_t len)
{
	struct uart *u = uart_of(uart);
	size_t n;

	if (!u || (!buf && len))
		return -EINVAL;
	if (len > INT32_MAX)
		len = INT32_MAX;
	pthread_mutex_lock(&u->lock);
	n = uart_host_input(u, buf, len);
	pthread_mutex_unlock(&u->lock);
	return (int)n;
}

int vmm__uart_stats(vmm_dev *dev, struct vmm__uart_stats *st)
{
	struct uart *u = uart_of(dev);

	if (!u || !st)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	*st = u->st;
	st->irq_level = u->irq_level;
	st->host_queued = u->in_len;
	pthread_mutex_unlock(&u->lock);
	return 0;
}
