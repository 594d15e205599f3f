// SPDX-License-Identifier: MIT
/*
 * test_uart.c - the 16550A UART: the pure IIR priority logic, transmit to a
 * pipe (in order, under back-pressure) and to a callback, divisor latch,
 * loopback with modem status and overruns, FIFO trigger levels, LSR bits,
 * input from vmm_uart_input() and from in_fd, interrupt line levels,
 * hostile accesses, bad arguments and allocation failures.
 */
#include "dev_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COM1 0x3f8
#define RBR (COM1 + 0)
#define IER (COM1 + 1)
#define IIR (COM1 + 2)
#define LCR (COM1 + 3)
#define MCR (COM1 + 4)
#define LSR (COM1 + 5)
#define MSR (COM1 + 6)
#define SCR (COM1 + 7)

struct sink {
	uint8_t buf[256];
	size_t len;
	unsigned calls;
};

static void sink_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;

	for (size_t i = 0; i < len && s->len < sizeof(s->buf); i++)
		s->buf[s->len++] = buf[i];
	s->calls++;
}

static vmm_dev *attach(vmm_vm *vm, int out_fd, int in_fd, struct sink *s)
{
	struct vmm_uart_config cfg;
	vmm_dev *dev = NULL;

	vmm_uart_config_init(&cfg);
	cfg.out_fd = out_fd;
	cfg.in_fd = in_fd;
	if (s) {
		cfg.out_cb = sink_cb;
		cfg.out_opaque = s;
	}
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), 0);
	assert_non_null(dev);
	return dev;
}

static int irq_level(vmm_dev *dev)
{
	struct vmm__uart_stats st;

	assert_int_equal(vmm__uart_stats(dev, &st), 0);
	return st.irq_level;
}

/* Read exactly @len bytes from @fd within a few seconds. */
static void read_all(int fd, uint8_t *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		assert_true(poll(&pfd, 1, 5000) == 1);
		n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* ---- the pure interrupt identification ---- */

static void test_iir_pure(void **state)
{
	struct vmm__uart_irq_state s = { 0 };

	assert_int_equal(vmm__uart_iir(&s), 0x01);
	s.fcr = 0x01;
	assert_int_equal(vmm__uart_iir(&s), 0xc1);

	/* all conditions pending, nothing enabled: no interrupt */
	s = (struct vmm__uart_irq_state){ .lsr_err = 0x02, .msr_delta = 0x01,
					  .rx_count = 1, .thr_ipending = true };
	assert_int_equal(vmm__uart_iir(&s), 0x01);
	/* priorities: RLS > RDA > THRE > MS */
	s.ier = 0x0f;
	assert_int_equal(vmm__uart_iir(&s), 0x06);
	s.lsr_err = 0;
	assert_int_equal(vmm__uart_iir(&s), 0x04);
	s.rx_count = 0;
	assert_int_equal(vmm__uart_iir(&s), 0x02);
	s.thr_ipending = false;
	assert_int_equal(vmm__uart_iir(&s), 0x00);
	s.msr_delta = 0;
	assert_int_equal(vmm__uart_iir(&s), 0x01);
	/* a disabled source does not mask a lower enabled one */
	s = (struct vmm__uart_irq_state){ .ier = 0x08, .lsr_err = 0x02,
					  .rx_count = 3, .thr_ipending = true,
					  .msr_delta = 0x04 };
	assert_int_equal(vmm__uart_iir(&s), 0x00);

	/* FIFO: trigger level vs character timeout */
	static const uint8_t fcr[4] = { 0x01, 0x41, 0x81, 0xc1 };
	static const unsigned trig[4] = { 1, 4, 8, 14 };

	for (int i = 0; i < 4; i++) {
		assert_int_equal(vmm__uart_rx_trigger(fcr[i]), trig[i]);
		for (unsigned n = 1; n <= 16; n++) {
			s = (struct vmm__uart_irq_state){ .ier = 0x01,
							  .fcr = fcr[i],
							  .rx_count = n };
			assert_int_equal(vmm__uart_iir(&s),
					 n >= trig[i] ? 0xc4 : 0xcc);
		}
	}
	/* FIFOs off: any byte is "data available" */
	s = (struct vmm__uart_irq_state){ .ier = 0x01, .fcr = 0xc0,
					  .rx_count = 1 };
	assert_int_equal(vmm__uart_iir(&s), 0x04);
}

/* ---- transmit ---- */

static void test_tx_pipe_in_order(void **state)
{
	static const char msg[] = "Hello from the guest\r\n";
	uint8_t got[sizeof(msg) - 1];
	struct sink s = { 0 };
	int p[2];
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;

	assert_int_equal(pipe(p), 0);
	dev = attach(vm, p[1], -1, &s);
	for (size_t i = 0; i < sizeof(msg) - 1; i++) {
		assert_true(dt_in(vm, LSR, 1) & 0x20); /* THRE */
		dt_out(vm, RBR, 1, (uint8_t)msg[i]);
	}
	read_all(p[0], got, sizeof(got));
	assert_memory_equal(got, msg, sizeof(got));
	/* the callback saw the same bytes */
	assert_int_equal(s.len, sizeof(msg) - 1);
	assert_memory_equal(s.buf, msg, s.len);
	assert_string_equal(vmm_dev_name(dev), "uart@0x3f8");

	vmm_vm_destroy(vm);
	close(p[0]);
	close(p[1]);
}

struct drain {
	int fd;
	size_t want;
	uint8_t *buf;
};

static void *drain_slowly(void *arg)
{
	struct drain *d = arg;
	size_t got = 0;

	while (got < d->want) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) != 1)
			break;
		n = read(d->fd, d->buf + got, d->want - got > 300 ?
						300 : d->want - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		usleep(50);
	}
	d->want = got;
	return NULL;
}

/* 40 KiB through a 4 KiB pipe: back-pressure, nothing lost or reordered */
static void test_tx_backpressure(void **state)
{
	enum { N = 40000 };
	uint8_t *got = calloc(1, N);
	struct vmm__uart_stats st;
	struct drain d;
	pthread_t th;
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;
	int p[2];

	assert_non_null(got);
	assert_int_equal(pipe(p), 0);
	assert_true(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096);
	dev = attach(vm, p[1], -1, NULL);
	d = (struct drain){ .fd = p[0], .want = N, .buf = got };
	assert_int_equal(pthread_create(&th, NULL, drain_slowly, &d), 0);
	for (unsigned i = 0; i < N; i++)
		dt_out(vm, RBR, 1, (uint8_t)(i * 7 + i / 256));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(d.want, N);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(got[i], (uint8_t)(i * 7 + i / 256));
	assert_int_equal(vmm__uart_stats(dev, &st), 0);
	assert_int_equal(st.tx_bytes, N);
	assert_int_equal(st.tx_dropped, 0);

	vmm_vm_destroy(vm);
	close(p[0]);
	close(p[1]);
	free(got);
}

static double now_sec(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/*
 * Nobody reads: once pipe and ring are full, a vCPU waits a bounded time
 * (50 ms) once, then bytes are dropped at once until the fd drains.
 */
static void test_tx_stalled_reader_bounded(void **state)
{
	enum { N = 70000 + 8192 };
	struct vmm__uart_stats st;
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;
	double worst = 0, t;
	int p[2];

	assert_int_equal(pipe(p), 0);
	dev = attach(vm, p[1], -1, NULL);
	for (unsigned i = 0; i < N; i++) {
		t = now_sec();
		dt_out(vm, RBR, 1, 'x');
		t = now_sec() - t;
		if (t > worst)
			worst = t;
	}
	assert_true(worst < 1.0);
	assert_int_equal(vmm__uart_stats(dev, &st), 0);
	assert_true(st.tx_dropped > 0);
	assert_int_equal(st.tx_bytes, N);
	/* the reader went away: EPIPE, no SIGPIPE, detach still works */
	close(p[0]);
	dt_out(vm, RBR, 1, 'y');
	assert_int_equal(vmm_dev_detach(dev), 0);
	vmm_vm_destroy(vm);
	close(p[1]);
}

/* Threads of this process other than the VM's event loop ("vmm-io"). */
static int threads_besides_loop(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	char path[300], comm[32];
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f) ||
		    strncmp(comm, "vmm-io", 6) != 0)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * One I/O model: a UART with in_fd and out_fd runs on the VM's event
 * loop, no thread of its own (issue #13 item 4).  Two UARTs with fds add
 * no thread besides the loop, and both still move bytes both ways.
 */
static void test_io_on_event_loop(void **state)
{
	struct vmm_uart_config cfg;
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *d1, *d2 = NULL;
	int out[2], in[2], out2[2], before;
	uint8_t c;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out2), 0);
	before = threads_besides_loop();
	d1 = attach(vm, out[1], in[0], NULL);
	vmm_uart_config_init(&cfg);
	cfg.port = 0x2f8;
	cfg.out_fd = out2[1];
	assert_int_equal(vmm_uart_attach(vm, &cfg, &d2), 0);
	assert_int_equal(threads_besides_loop(), before);

	dt_out(vm, RBR, 1, 'A');
	dt_out(vm, 0x2f8, 1, 'B');
	read_all(out[0], &c, 1);
	assert_int_equal(c, 'A');
	read_all(out2[0], &c, 1);
	assert_int_equal(c, 'B');
	assert_int_equal(write(in[1], "z", 1), 1);
	for (int i = 0; i < 5000 && !(dt_in(vm, LSR, 1) & 1); i++)
		usleep(1000); /* test side: wait for the loop to deliver */
	assert_int_equal(dt_in(vm, RBR, 1), 'z');
	assert_int_equal(vmm_dev_detach(d2), 0);
	assert_int_equal(vmm_dev_detach(d1), 0);
	vmm_vm_destroy(vm);
	for (int i = 0; i < 2; i++) {
		close(out[i]);
		close(in[i]);
		close(out2[i]);
	}
}

/* ---- registers ---- */

static void test_divisor_latch_and_scratch(void **state)
{
	struct sink s = { 0 };
	vmm_vm *vm = dt_vm(NULL, 0);

	attach(vm, -1, -1, &s);
	assert_int_equal(dt_in(vm, LCR, 1), 0x03);
	dt_out(vm, IER, 1, 0x05);
	dt_out(vm, LCR, 1, 0x83); /* DLAB */
	assert_int_equal(dt_in(vm, RBR, 1), 0x0c); /* reset: 9600 baud */
	dt_out(vm, RBR, 1, 0x01);                  /* 115200 */
	dt_out(vm, IER, 1, 0x02);
	assert_int_equal(dt_in(vm, RBR, 1), 0x01);
	assert_int_equal(dt_in(vm, IER, 1), 0x02);
	assert_int_equal(s.len, 0); /* DLL writes do not transmit */
	dt_out(vm, LCR, 1, 0x03);
	assert_int_equal(dt_in(vm, IER, 1), 0x05); /* IER kept apart */
	dt_out(vm, IER, 1, 0xff);
	assert_int_equal(dt_in(vm, IER, 1), 0x0f); /* upper bits read 0 */
	dt_out(vm, SCR, 1, 0x5a);
	assert_int_equal(dt_in(vm, SCR, 1), 0x5a);
	/* 16-bit access = two byte accesses: DLL and DLM at once */
	dt_out(vm, LCR, 1, 0x83);
	dt_out(vm, RBR, 2, 0x0180);
	assert_int_equal(dt_in(vm, RBR, 2), 0x0180);
	vmm_vm_destroy(vm);
}

static void test_lsr_bits(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, NULL);

	assert_int_equal(dt_in(vm, LSR, 1), 0x60); /* THRE | TEMT */
	assert_int_equal(vmm_uart_input(dev, "a", 1), 1);
	assert_int_equal(dt_in(vm, LSR, 1), 0x61); /* + DR */
	assert_int_equal(dt_in(vm, RBR, 1), 'a');
	assert_int_equal(dt_in(vm, LSR, 1), 0x60);
	assert_int_equal(dt_in(vm, RBR, 1), 0); /* empty */
	/* LSR and MSR are read-only */
	dt_out(vm, LSR, 1, 0xff);
	assert_int_equal(dt_in(vm, LSR, 1), 0x60);
	dt_out(vm, MSR, 1, 0x0f);
	assert_int_equal(dt_in(vm, MSR, 1), 0xb0); /* DCD DSR CTS */
	vmm_vm_destroy(vm);
}

static void test_loopback(void **state)
{
	struct sink s = { 0 };
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, &s);

	dt_out(vm, MCR, 1, 0x10); /* loop, all outputs off */
	assert_int_equal(dt_in(vm, MCR, 1), 0x10);
	/* inputs follow outputs: everything dropped, deltas latched */
	assert_int_equal(dt_in(vm, MSR, 1), 0x0b);
	assert_int_equal(dt_in(vm, MSR, 1), 0x00);
	dt_out(vm, MCR, 1, 0x1f);
	assert_int_equal(dt_in(vm, MSR, 1), 0xfb);
	dt_out(vm, MCR, 1, 0x1b); /* OUT1 -> RI falls: TERI */
	assert_int_equal(dt_in(vm, MSR, 1), 0xb4);
	dt_out(vm, MCR, 1, 0xff);
	assert_int_equal(dt_in(vm, MCR, 1), 0x1f);

	/* THR feeds RBR, nothing leaves the UART */
	dt_out(vm, RBR, 1, 'L');
	assert_int_equal(dt_in(vm, LSR, 1) & 0x61, 0x61);
	assert_int_equal(dt_in(vm, RBR, 1), 'L');
	assert_int_equal(s.len, 0);

	/* overrun without FIFO: OE, the newer byte wins */
	dt_out(vm, RBR, 1, '1');
	dt_out(vm, RBR, 1, '2');
	assert_int_equal(dt_in(vm, LSR, 1), 0x63);
	assert_int_equal(dt_in(vm, LSR, 1), 0x61); /* OE cleared by read */
	assert_int_equal(dt_in(vm, RBR, 1), '2');

	/* overrun with FIFO: the 17th byte is lost */
	dt_out(vm, IIR, 1, 0x07);
	for (int i = 0; i < 17; i++)
		dt_out(vm, RBR, 1, 'a' + i);
	assert_int_equal(dt_in(vm, LSR, 1), 0x63);
	for (int i = 0; i < 16; i++)
		assert_int_equal(dt_in(vm, RBR, 1), 'a' + i);
	assert_int_equal(dt_in(vm, LSR, 1), 0x60);

	/* host input waits while in loopback, arrives after */
	assert_int_equal(vmm_uart_input(dev, "h", 1), 1);
	assert_int_equal(dt_in(vm, LSR, 1) & 1, 0);
	dt_out(vm, MCR, 1, 0x0b);
	assert_int_equal(dt_in(vm, RBR, 1), 'h');
	dt_out(vm, RBR, 1, 'o');
	assert_int_equal(s.len, 1);
	assert_int_equal(s.buf[0], 'o');
	vmm_vm_destroy(vm);
}

static void test_fifo_trigger_and_reset(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, NULL);

	/* FIFOs off: one holding register, IIR without FIFO bits */
	assert_int_equal(dt_in(vm, IIR, 1), 0x01);
	dt_out(vm, IER, 1, 0x01);
	assert_int_equal(vmm_uart_input(dev, "xyz", 3), 3);
	assert_int_equal(dt_in(vm, IIR, 1), 0x04);
	assert_int_equal(dt_in(vm, RBR, 1), 'x');
	assert_int_equal(dt_in(vm, RBR, 1), 'y');
	assert_int_equal(dt_in(vm, RBR, 1), 'z');
	assert_int_equal(dt_in(vm, IIR, 1), 0x01);

	/* FIFO on, trigger 4 */
	dt_out(vm, IIR, 1, 0x41);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc1);
	assert_int_equal(vmm_uart_input(dev, "123", 3), 3);
	assert_int_equal(dt_in(vm, IIR, 1), 0xcc); /* timeout: below 4 */
	assert_int_equal(vmm_uart_input(dev, "4", 1), 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc4); /* at trigger */
	assert_int_equal(dt_in(vm, RBR, 1), '1');
	assert_int_equal(dt_in(vm, IIR, 1), 0xcc);
	/* trigger 14 */
	dt_out(vm, IIR, 1, 0xc1);
	assert_int_equal(vmm_uart_input(dev, "abcdefghijkl", 12), 12);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc4); /* 3 + 12 = 15 */
	/* RX reset empties the FIFO; it refills from host input */
	dt_out(vm, IIR, 1, 0xc3);
	assert_int_equal(dt_in(vm, LSR, 1) & 1, 0);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc1);
	assert_int_equal(vmm_uart_input(dev, "Z", 1), 1);
	assert_int_equal(dt_in(vm, RBR, 1), 'Z');
	/* turning FIFOs off clears them and the IIR FIFO bits */
	assert_int_equal(vmm_uart_input(dev, "qq", 2), 2);
	dt_out(vm, IIR, 1, 0x00);
	assert_int_equal(dt_in(vm, IIR, 1), 0x01);
	assert_int_equal(dt_in(vm, LSR, 1), 0x60);
	/* FCR bits other than enable are ignored while it is 0 */
	dt_out(vm, IIR, 1, 0xc0);
	assert_int_equal(dt_in(vm, IIR, 1), 0x01);
	vmm_vm_destroy(vm);
}

static void test_iir_priorities_and_irq_level(void **state)
{
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, NULL);

	assert_int_equal(irq_level(dev), 0);
	/* enabling THRI with THR empty interrupts at once */
	dt_out(vm, IER, 1, 0x02);
	assert_int_equal(irq_level(dev), 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0x02);
	assert_int_equal(irq_level(dev), 0); /* IIR read acknowledged it */
	assert_int_equal(dt_in(vm, IIR, 1), 0x01);
	dt_out(vm, RBR, 1, 'x'); /* transmitted: THR empty again */
	assert_int_equal(irq_level(dev), 1);
	dt_out(vm, IER, 1, 0x00);
	assert_int_equal(irq_level(dev), 0); /* disabled source: line low */

	/* make all four sources pend in loopback with FIFO */
	dt_out(vm, IIR, 1, 0x07);
	dt_out(vm, MCR, 1, 0x10);
	for (int i = 0; i < 17; i++)
		dt_out(vm, RBR, 1, i); /* overrun + data + THRE */
	dt_out(vm, IER, 1, 0x0f);
	assert_int_equal(irq_level(dev), 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc6);
	(void)dt_in(vm, LSR, 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc4);
	for (int i = 0; i < 16; i++)
		(void)dt_in(vm, RBR, 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc2);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc0); /* modem status */
	assert_int_equal(irq_level(dev), 1);
	(void)dt_in(vm, MSR, 1);
	assert_int_equal(dt_in(vm, IIR, 1), 0xc1);
	assert_int_equal(irq_level(dev), 0);
	vmm_vm_destroy(vm);
}

/* ---- receive ---- */

static void test_input_buffer(void **state)
{
	enum { N = 5000 };
	uint8_t *in = malloc(N);
	struct vmm__uart_stats st;
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, NULL);
	int n;

	assert_non_null(in);
	for (int i = 0; i < N; i++)
		in[i] = (uint8_t)(i ^ (i >> 8));
	dt_out(vm, IIR, 1, 0x01);
	n = vmm_uart_input(dev, in, N);
	assert_int_equal(n, 4096 + 16);
	assert_int_equal(vmm__uart_stats(dev, &st), 0);
	assert_int_equal(st.host_queued, 4096);
	for (int i = 0; i < n; i++) {
		assert_int_equal(dt_in(vm, LSR, 1) & 1, 1);
		assert_int_equal(dt_in(vm, RBR, 1), in[i]);
	}
	assert_int_equal(dt_in(vm, LSR, 1) & 1, 0);
	assert_int_equal(vmm_uart_input(dev, in, 0), 0);
	assert_int_equal(vmm_uart_input(dev, NULL, 1), -EINVAL);
	assert_int_equal(vmm_uart_input(NULL, in, 1), -EINVAL);
	vmm_vm_destroy(vm);
	free(in);
}

/* Wait until the guest sees data (the I/O thread delivers it). */
static bool wait_dr(vmm_vm *vm)
{
	for (int i = 0; i < 2000; i++) {
		if (dt_in(vm, LSR, 1) & 1)
			return true;
		usleep(1000);
	}
	return false;
}

static void test_input_fd(void **state)
{
	static const char msg[] = "typed on the host";
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev;
	int p[2];

	assert_int_equal(pipe(p), 0);
	dev = attach(vm, -1, p[0], NULL);
	dt_out(vm, IIR, 1, 0x01);
	assert_int_equal(write(p[1], msg, sizeof(msg) - 1), sizeof(msg) - 1);
	for (size_t i = 0; i < sizeof(msg) - 1; i++) {
		assert_true(wait_dr(vm));
		assert_int_equal(dt_in(vm, RBR, 1), (uint8_t)msg[i]);
	}
	/* more than the host buffer: the thread waits for room */
	enum { N = 9000 };
	uint8_t *big = malloc(N);

	assert_non_null(big);
	for (int i = 0; i < N; i++)
		big[i] = (uint8_t)(i * 13);
	assert_int_equal(write(p[1], big, N), N);
	for (int i = 0; i < N; i++) {
		assert_true(wait_dr(vm));
		assert_int_equal(dt_in(vm, RBR, 1), big[i]);
	}
	/* EOF stops reading; detach joins the thread */
	close(p[1]);
	usleep(10000);
	assert_int_equal(dt_in(vm, LSR, 1) & 1, 0);
	assert_int_equal(vmm_dev_detach(dev), 0);
	vmm_vm_destroy(vm);
	close(p[0]);
	free(big);
}

/* ---- hostile and bad input ---- */

static void test_hostile_access(void **state)
{
	struct vmm_io_ctx ctx;
	uint8_t b[8];
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = attach(vm, -1, -1, NULL);

	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, COM1, b, 3, false),
			 -EINVAL);
	/* 8 bytes at the base: eight byte-register accesses */
	dt_out(vm, SCR, 1, 0x77);
	memset(b, 0, sizeof(b));
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, COM1, b, 8, false),
			 0);
	assert_int_equal(b[5], 0x60);
	assert_int_equal(b[7], 0x77);
	/* straddling the end */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, SCR, b, 2, false),
			 -EFAULT);
	/* 3 bytes through the dispatcher: split, ok */
	assert_int_equal(dt_out_ctx(vm, SCR - 2, 3, 0x112233, &ctx), 0);
	assert_int_equal(dt_in(vm, SCR, 1), 0x11);
	assert_int_equal(dt_in(vm, LSR, 1), 0x60);
	/* nothing behind the UART */
	assert_int_equal(vmm_bus_access(vm, VMM_SPACE_PIO, COM1 + 8, b, 1,
					false), -ENOENT);
	(void)dev;
	vmm_vm_destroy(vm);
}

static void test_bad_args(void **state)
{
	struct vmm_uart_config cfg;
	vmm_vm *vm = dt_vm(NULL, 0);
	vmm_dev *dev = NULL, *d2 = NULL;
	int p[2];

	vmm_uart_config_init(&cfg);
	assert_int_equal(cfg.port, 0x3f8);
	assert_int_equal(cfg.irq, 4);
	assert_int_equal(cfg.in_fd, -1);
	assert_int_equal(cfg.out_fd, -1);
	vmm_uart_config_init(NULL);

	assert_int_equal(vmm_uart_attach(NULL, &cfg, &dev), -EINVAL);
	assert_int_equal(vmm_uart_attach(vm, NULL, &dev), -EINVAL);
	assert_int_equal(vmm_uart_attach(vm, &cfg, NULL), -EINVAL);
	cfg.port = 0xfffc;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EINVAL);
	cfg.port = 0x2f8;
	cfg.irq = -2;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EINVAL);
	cfg.irq = 3;
	cfg.out_fd = 1000;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EBADF);
	assert_int_equal(pipe(p), 0);
	cfg.out_fd = p[0]; /* read end for output */
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EBADF);
	cfg.out_fd = -1;
	cfg.in_fd = p[1]; /* write end for input */
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EBADF);
	cfg.in_fd = -7;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), -EBADF);
	assert_null(dev);
	assert_false(dt_port_used(vm, 0x2f8));

	cfg.in_fd = -1;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &dev), 0);
	assert_string_equal(vmm_dev_name(dev), "uart@0x2f8");
	assert_int_equal(vmm_uart_attach(vm, &cfg, &d2), -EEXIST);
	assert_null(d2);
	/* overlapping ports from another base */
	cfg.port = 0x2fc;
	assert_int_equal(vmm_uart_attach(vm, &cfg, &d2), -EEXIST);
	/* detach frees the ports */
	assert_int_equal(vmm_dev_detach(dev), 0);
	assert_false(dt_port_used(vm, 0x2f8));
	assert_int_equal(vmm_uart_attach(vm, &cfg, &d2), 0);
	vmm_vm_destroy(vm);
	close(p[0]);
	close(p[1]);
}

static int attach_fa(vmm_vm *vm, vmm_dev **out, void *arg)
{
	int *p = arg;
	struct vmm_uart_config cfg;

	vmm_uart_config_init(&cfg);
	cfg.out_fd = p[1];
	cfg.in_fd = p[0];
	return vmm_uart_attach(vm, &cfg, out);
}

static void test_alloc_failures(void **state)
{
	int p[2];
	long n;

	assert_int_equal(pipe(p), 0);
	n = dt_failalloc(attach_fa, p, COM1);
	assert_true(n >= 2); /* state, bus range, device handle at least */
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_iir_pure),
		cmocka_unit_test(test_tx_pipe_in_order),
		cmocka_unit_test(test_tx_backpressure),
		cmocka_unit_test(test_tx_stalled_reader_bounded),
		cmocka_unit_test(test_io_on_event_loop),
		cmocka_unit_test(test_divisor_latch_and_scratch),
		cmocka_unit_test(test_lsr_bits),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_fifo_trigger_and_reset),
		cmocka_unit_test(test_iir_priorities_and_irq_level),
		cmocka_unit_test(test_input_buffer),
		cmocka_unit_test(test_input_fd),
		cmocka_unit_test(test_hostile_access),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
