/* SPDX-License-Identifier: MIT */
/*
 * cli.h - strict command-line argument parsing for the example tools
 * (vmm-run, vmm-bench, vmm-migrate, vhost-user-blk, sandbox).
 *
 * Every parser reads the WHOLE string: "12Mxyz", "2x", "" and " 3" are
 * refused, never half-read.  Numbers never wrap: a value that does not fit
 * is an error, not the low bits.  Each function returns 0 on success, or
 * -1 after printing one line to stderr of the form
 *
 *   PROG: OPTION VALUE: what is wrong (the limit, where there is one)
 *
 * so a caller only has to exit with its usage status.  The tool name is
 * set once with cli_set_prog(); it lives in a static of the program (these
 * helpers are for executables, never the library).
 */
#ifndef LIBVMM_EXAMPLES_CLI_H
#define LIBVMM_EXAMPLES_CLI_H

#include <stdbool.h>
#include <stdint.h>

/** cli_set_prog() - name printed before each message ("vmm-run"). */
void cli_set_prog(const char *prog);

/** cli_prog() - the name set by cli_set_prog(), "" before. */
const char *cli_prog(void);

/**
 * cli_error() - print "PROG: " + the formatted message + newline to stderr.
 * Returns -1, so a parser can "return cli_error(...)".
 */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * cli_u64() - an unsigned integer in decimal, 0x hex or 0 octal (strtoull's
 * base 0), no sign, no spaces, the whole string, within [min, max].
 * @opt is the option's name for the message ("--cpus").
 */
int cli_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
	    uint64_t *out);

/** cli_uint() - cli_u64() into an unsigned int. */
int cli_uint(const char *opt, const char *s, unsigned min, unsigned max,
	     unsigned *out);

/**
 * cli_size() - a byte count: a number followed by at most one unit of
 * K, M, G or T (binary: KiB..TiB; an optional trailing "B" or "iB" is
 * accepted: "256M", "1GiB", "4096").  With no unit the number is multiplied
 * by @default_unit (1 for bytes, 1 << 20 for "MiB by default").  The
 * result must lie in [min, max]; overflow is an error.
 */
int cli_size(const char *opt, const char *s, uint64_t default_unit,
	     uint64_t min, uint64_t max, uint64_t *out);

/**
 * cli_duration_ms() - a duration: a decimal number with an optional unit
 * "ms", "s" (the default when none is given), "m" or "h"; a fraction of
 * at most three decimal places ("1.5", "0.25s") is allowed.  In
 * milliseconds, within [min_ms, max_ms].
 */
int cli_duration_ms(const char *opt, const char *s, uint64_t min_ms,
		    uint64_t max_ms, uint64_t *out_ms);

/**
 * cli_choice() - @s must be one of the NULL-terminated @names; *out is its
 * index.  The message lists the allowed names.
 */
int cli_choice(const char *opt, const char *s, const char *const *names,
	       int *out);

/** cli_port() - a TCP port number 1..65535. */
int cli_port(const char *opt, const char *s, uint16_t *out);

/** cli_format_size() - "256 MiB", "1 GiB", "4096 bytes" into @buf. */
const char *cli_format_size(uint64_t v, char *buf, unsigned len);

#endif
