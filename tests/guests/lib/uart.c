/* SPDX-License-Identifier: MIT */
/*
 * uart.c - polled COM1 output, a small printf and the debug-exit port.
 * Freestanding; builds for -m32 and -m64 and runs at any CPL with IOPL=3.
 */
#include "guest.h"

void uart_init(void)
{
	outb(COM1 + UART_IER, 0x00);  /* no interrupts */
	outb(COM1 + UART_LCR, 0x80);  /* DLAB on */
	outb(COM1 + 0, 0x01);         /* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03);  /* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0xc7);  /* FIFOs on and cleared */
	outb(COM1 + UART_MCR, 0x0b);  /* DTR, RTS, OUT2 */
}

void uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & UART_LSR_THRE))
		;
	outb(COM1 + UART_THR, (uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

/*
 * Unsigned to text in @base (10 or 16).  64-bit values avoid the division
 * helpers of libgcc (32-bit guests link without it): decimal by repeated
 * subtraction of powers of ten, hex by shifts.
 */
static int fmt_unsigned(char *buf, uint64_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	int n = 0;

	if (base == 16) {
		do {
			tmp[n++] = digits[v & 15];
			v >>= 4;
		} while (v);
	} else if (v <= 0xffffffffu) {
		uint32_t w = (uint32_t)v;
		do {
			tmp[n++] = digits[w % 10];
			w /= 10;
		} while (w);
	} else {
		/* No 64-bit division: subtract powers of ten. */
		static const uint64_t pow10[20] = {
			10000000000000000000ull, 1000000000000000000ull,
			100000000000000000ull, 10000000000000000ull,
			1000000000000000ull, 100000000000000ull,
			10000000000000ull, 1000000000000ull, 100000000000ull,
			10000000000ull, 1000000000ull, 100000000ull,
			10000000ull, 1000000ull, 100000ull, 10000ull, 1000ull,
			100ull, 10ull, 1ull,
		};
		int started = 0;
		for (int i = 0; i < 20; i++) {
			unsigned d = 0;
			while (v >= pow10[i]) {
				v -= pow10[i];
				d++;
			}
			if (d || started) {
				buf[n++] = digits[d];
				started = 1;
			}
		}
		return n; /* v > 0xffffffff, so at least one digit */
	}
	for (int i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

void gvprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			uart_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, lng = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		if (*fmt == 'z') {
			lng = sizeof(size_t) == 8 ? 2 : 0;
			fmt++;
		}
		char buf[24];
		const char *s = buf;
		int n = 0, neg = 0;
		uint64_t v;
		switch (*fmt) {
		case 's':
			s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (s[n])
				n++;
			break;
		case 'c':
			buf[0] = (char)va_arg(ap, int);
			n = 1;
			break;
		case 'd': {
			int64_t sv = lng >= 2 ? va_arg(ap, long long)
				   : lng ? va_arg(ap, long) : va_arg(ap, int);
			neg = sv < 0;
			v = neg ? -(uint64_t)sv : (uint64_t)sv;
			n = fmt_unsigned(buf, v, 10);
			break;
		}
		case 'u':
		case 'x':
			v = lng >= 2 ? va_arg(ap, unsigned long long)
			    : lng ? va_arg(ap, unsigned long)
				  : va_arg(ap, unsigned int);
			n = fmt_unsigned(buf, v, *fmt == 'x' ? 16 : 10);
			break;
		case 'p':
			uart_puts("0x");
			n = fmt_unsigned(buf, (uintptr_t)va_arg(ap, void *), 16);
			break;
		case '%':
			buf[0] = '%';
			n = 1;
			break;
		case '\0':
			return;
		default:
			buf[0] = '%';
			buf[1] = *fmt;
			n = 2;
			break;
		}
		if (neg) {
			if (pad == '0')
				uart_putc('-');
			width--;
		}
		for (int i = n; i < width; i++)
			uart_putc(pad);
		if (neg && pad != '0')
			uart_putc('-');
		for (int i = 0; i < n; i++)
			uart_putc(s[i]);
	}
}

void gprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gvprintf(fmt, ap);
	va_end(ap);
}

void guest_exit(uint32_t value)
{
	outl(DEBUG_EXIT_PORT, value);
	/* Only reached if nothing handles the port: spin (HLT would #GP at
	 * CPL3). */
	for (;;)
		__asm__ volatile("pause");
}
