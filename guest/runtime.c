/* SPDX-License-Identifier: MIT */
/*
 * runtime.c - the guest side of libvmm's function sandbox: hypercall stubs
 * (single and batched), console print, a bump allocator, the call protocol
 * of sandbox_abi.h, the exception reporter, and the few string functions
 * gcc may emit calls to.  Freestanding: no libc.
 */
#include "sandbox_guest.h"

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper; /* KiB below 1 MiB / from 1 MiB */
};

extern uint32_t sb_boot_magic, sb_boot_info;
extern char __heap_start[];

static uint64_t heap_next, heap_end;

/* ---- hypercalls -------------------------------------------------------- */

void hc_init(struct vmm_hc_block *b, uint32_t nr)
{
	memset(b, 0, sizeof(*b));
	b->magic = VMM_HC_MAGIC;
	b->version = VMM_HC_VERSION;
	b->size = sizeof(*b);
	b->nr = nr;
}

void hc_arg(struct vmm_hc_block *b, uint64_t v)
{
	if (b->nargs < VMM_HC_MAX_ARGS)
		b->args[b->nargs++] = v;
}

void hc_buf(struct vmm_hc_block *b, const void *p, uint32_t len, uint16_t dir)
{
	if (b->nbufs < VMM_HC_MAX_BUFS) {
		struct vmm_hc_desc *d = &b->bufs[b->nbufs++];
		d->gpa = (uint64_t)(uintptr_t)p;
		d->len = len;
		d->dir = dir;
	}
}

int32_t hc_status(void)
{
	uint32_t v;

	__asm__ volatile("inl %w1, %0" : "=a"(v) : "Nd"(VMM_HC_PORT_DEFAULT));
	return (int32_t)v;
}

int32_t hc_doorbell(uint32_t gpa)
{
	__asm__ volatile("outl %0, %w1"
			 :
			 : "a"(gpa), "Nd"(VMM_HC_PORT_DEFAULT)
			 : "memory");
	return hc_status();
}

int64_t hc_ring(void *p)
{
	volatile struct vmm_hc_block *b = p;
	int32_t st;

	b->error = VMM_HC_PENDING;
	__asm__ volatile("outl %0, %w1"
			 :
			 : "a"((uint32_t)(uintptr_t)p), "Nd"(VMM_HC_PORT_DEFAULT)
			 : "memory");
	if (b->error == VMM_HC_PENDING) {
		st = hc_status();
		/* all ones: nothing behind the port */
		return st < 0 && st != -1 ? st : -SB_ENOSYS;
	}
	return b->error ? b->error : b->result;
}

int64_t hc_batch(struct vmm_hc_block *entries, uint32_t n, uint32_t flags)
{
	struct vmm_hc_block b;

	hc_init(&b, VMM_HC_NR_BATCH);
	b.flags = flags;
	hc_arg(&b, n);
	hc_buf(&b, entries, n * (uint32_t)sizeof(*entries), VMM_HC_DIR_INOUT);
	return hc_ring(&b);
}

int64_t hc_call(uint32_t nr, unsigned nargs, const uint64_t *args)
{
	struct vmm_hc_block b;

	hc_init(&b, nr);
	for (unsigned i = 0; i < nargs; i++)
		hc_arg(&b, args[i]);
	return hc_ring(&b);
}

int64_t hc_version(uint64_t *feat, uint64_t *max_batch)
{
	struct vmm_hc_block b;
	int64_t r;

	hc_init(&b, VMM_HC_NR_VERSION);
	r = hc_ring(&b);
	if (r >= 0) {
		if (feat)
			*feat = b.args[0];
		if (max_batch)
			*max_batch = b.args[1];
	}
	return r;
}

int64_t hc_lookup(const char *name)
{
	struct vmm_hc_block b;

	hc_init(&b, VMM_HC_NR_LOOKUP);
	hc_buf(&b, name, (uint32_t)strlen(name), VMM_HC_DIR_IN);
	return hc_ring(&b);
}

/* ---- console ----------------------------------------------------------- */

void sb_print(const char *s, size_t len)
{
	struct vmm_hc_block b;

	if (len > SB_PRINT_CAP)
		len = SB_PRINT_CAP;
	hc_init(&b, SB_NR_PRINT);
	hc_buf(&b, s, (uint32_t)len, VMM_HC_DIR_IN);
	(void)hc_ring(&b);
}

struct fmt_out {
	char *buf;
	size_t n, pos;
};

static void put(struct fmt_out *o, char c)
{
	if (o->pos + 1 < o->n)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_num(struct fmt_out *o, uint64_t v, unsigned base, bool neg,
		    int width, char pad)
{
	char tmp[24];
	int i = 0;

	do {
		unsigned d = (unsigned)(v % base);
		tmp[i++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
		v /= base;
	} while (v);
	if (neg)
		tmp[i++] = '-';
	while (width-- > i)
		put(o, pad);
	while (i--)
		put(o, tmp[i]);
}

int sb_vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct fmt_out o = { buf, n, 0 };

	for (; *fmt; fmt++) {
		int width = 0, lng = 0;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			lng = 1;
			fmt++;
		}
		switch (*fmt) {
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
			put_num(&o, v < 0 ? -(uint64_t)v : (uint64_t)v, 10,
				v < 0, width, pad);
			break;
		}
		case 'u':
			put_num(&o, lng ? va_arg(ap, uint64_t) :
					  va_arg(ap, unsigned), 10, false,
				width, pad);
			break;
		case 'x':
			put_num(&o, lng ? va_arg(ap, uint64_t) :
					  va_arg(ap, unsigned), 16, false,
				width, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			put_num(&o, (uint64_t)(uintptr_t)va_arg(ap, void *), 16,
				false, width, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			if (!s)
				s = "(null)";
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			put(&o, '?');
			if (!*fmt)
				fmt--;
			break;
		}
	}
	if (n)
		buf[o.pos < n ? o.pos : n - 1] = 0;
	return (int)o.pos;
}

int sb_snprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = sb_vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}

void sb_printf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = sb_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sb_print(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* ---- memory ------------------------------------------------------------ */

void *sb_alloc(size_t n)
{
	uint64_t p = (heap_next + 15) & ~15ull;

	if (n > heap_end || p > heap_end - n)
		return NULL;
	heap_next = p + n;
	return (void *)(uintptr_t)p; /* zero: RAM is pristine every call */
}

size_t sb_heap_left(void)
{
	return heap_end > heap_next ? heap_end - heap_next : 0;
}

uint64_t sb_ram_end(void)
{
	return heap_end;
}

static void heap_init(void)
{
	const struct multiboot_info *mbi =
		(const struct multiboot_info *)(uintptr_t)sb_boot_info;

	heap_next = (uint64_t)(uintptr_t)__heap_start;
	heap_end = heap_next;
	if (sb_boot_magic == 0x2badb002u && mbi && (mbi->flags & 1))
		heap_end = 0x100000ull + (uint64_t)mbi->mem_upper * 1024;
}

/* ---- the call protocol ------------------------------------------------- */

void sb_return(int64_t status, const void *out, size_t len)
{
	struct vmm_hc_block b;

	for (;;) {
		hc_init(&b, SB_NR_RETURN);
		hc_arg(&b, (uint64_t)status);
		hc_buf(&b, out, (uint32_t)(len > SB_OUTPUT_CAP ? SB_OUTPUT_CAP
							       : len),
		       VMM_HC_DIR_IN);
		(void)hc_ring(&b);
		/* the host resets instead of resuming; if it resumes anyway,
		 * or the output was refused, report that */
		status = -SB_EPROTONOSUPPORT;
		out = NULL;
		len = 0;
	}
}

void sb_runtime_main(void);

void sb_runtime_main(void)
{
	struct vmm_hc_block b;
	const void *out = NULL;
	size_t out_len = 0;
	uint8_t *in;
	int64_t len, st;

	heap_init();
	in = sb_alloc(SB_INPUT_CAP);
	if (!in)
		sb_return(-SB_ENOMEM, NULL, 0);

	/* the host saves the pristine state while this call is stopped */
	hc_init(&b, SB_NR_READY);
	st = hc_ring(&b);
	if (st < 0)
		sb_return(st, NULL, 0);

	hc_init(&b, SB_NR_INPUT);
	hc_buf(&b, in, SB_INPUT_CAP, VMM_HC_DIR_OUT);
	len = hc_ring(&b);
	if (len < 0)
		sb_return(len, NULL, 0);
	st = sandbox_call(in, (size_t)len, &out, &out_len);
	sb_return(st, out, out_len);
}

/* ---- exceptions (CPL0) ------------------------------------------------- */

struct fault_frame {
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

void sb_fault(struct fault_frame *f);

void sb_fault(struct fault_frame *f)
{
	static struct vmm_hc_block b;
	uint64_t cr2;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	for (;;) {
		hc_init(&b, SB_NR_FAULT);
		hc_arg(&b, f->vector);
		hc_arg(&b, f->error);
		hc_arg(&b, f->rip);
		hc_arg(&b, cr2);
		(void)hc_ring(&b);
		__asm__ volatile("hlt");
	}
}

/* ---- what gcc may call ------------------------------------------------- */

void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;

	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;

	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}
