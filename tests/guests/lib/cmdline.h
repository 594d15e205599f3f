/* SPDX-License-Identifier: MIT */
/*
 * cmdline.h - the multiboot command line of a 64-bit test guest as
 * space-separated "key=value" words (models, kernels, ...).
 */
#ifndef TESTS_GUESTS_CMDLINE_H
#define TESTS_GUESTS_CMDLINE_H

#include <stdint.h>

/*
 * cmdline_init() - copy the multiboot command line (boot_mb_info, when the
 * loader passed one) into the guest's own buffer (at most 255 bytes).
 * Call it once before the others; without it they see an empty line.
 */
void cmdline_init(void);

/* The whole line ("" when there is none). */
const char *cmdline_text(void);

/* The value after "@key=" (up to the next space or the end), or NULL. */
const char *cmdline_arg(const char *key);

/* @key's value as a number, decimal or 0x-hex; @def when @key is absent. */
uint64_t cmdline_num(const char *key, uint64_t def);

/* 1 if @key's value is exactly @val. */
int cmdline_is(const char *key, const char *val);

#endif
