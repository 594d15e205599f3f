// SPDX-License-Identifier: MIT
/*
 * cmdline.c - see cmdline.h.
 */
#include "cmdline.h"
#include "entry64.h"
#include "guest.h"

static char line[256];

void cmdline_init(void)
{
	const struct multiboot_info *mb =
		(const struct multiboot_info *)(uintptr_t)boot_mb_info;
	const char *c;
	size_t i;

	line[0] = 0;
	if (boot_mb_magic != MULTIBOOT_BOOTLOADER_MAGIC ||
	    !(mb->flags & 4) /* cmdline valid */ || !mb->cmdline)
		return;
	c = (const char *)(uintptr_t)mb->cmdline;
	for (i = 0; i < sizeof(line) - 1 && c[i]; i++)
		line[i] = c[i];
	line[i] = 0;
}

const char *cmdline_text(void)
{
	return line;
}

const char *cmdline_arg(const char *key)
{
	size_t klen = 0;

	while (key[klen])
		klen++;
	for (const char *p = line; *p;) {
		while (*p == ' ')
			p++;
		if (!memcmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

uint64_t cmdline_num(const char *key, uint64_t def)
{
	const char *p = cmdline_arg(key);
	uint64_t v = 0;

	if (!p)
		return def;
	if (p[0] == '0' && p[1] == 'x') {
		for (p += 2;; p++) {
			unsigned d;
			if (*p >= '0' && *p <= '9')
				d = (unsigned)(*p - '0');
			else if (*p >= 'a' && *p <= 'f')
				d = (unsigned)(*p - 'a' + 10);
			else
				break;
			v = v * 16 + d;
		}
		return v;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t)(*p - '0');
	return v;
}

int cmdline_is(const char *key, const char *val)
{
	const char *p = cmdline_arg(key);
	size_t n = 0;

	if (!p)
		return 0;
	while (val[n]) {
		if (p[n] != val[n])
			return 0;
		n++;
	}
	return p[n] == 0 || p[n] == ' ';
}
