/* SPDX-License-Identifier: MIT */
/*
 * cli.c - strict command-line parsing for the example tools (cli.h).
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *prog_name = "";

void cli_set_prog(const char *prog)
{
	prog_name = prog ? prog : "";
}

const char *cli_prog(void)
{
	return prog_name;
}

int cli_error(const char *fmt, ...)
{
	va_list ap;

	if (prog_name[0])
		fprintf(stderr, "%s: ", prog_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* The leading unsigned number of @s (base 0), *end after it; -1 when @s does
 * not start with a digit or the number does not fit 64 bits. */
static int leading_u64(const char *s, uint64_t *v, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, &e, 0);
	if (errno == ERANGE)
		return -2;
	/* "0x" alone: strtoull reads "0" and leaves "x"; refuse it */
	*v = x;
	*end = e;
	return 0;
}

const char *cli_format_size(uint64_t v, char *buf, unsigned len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB",
					    "TiB", "PiB", "EiB" };
	unsigned u = 0;

	while (u < 6 && v >= 1024 && (v & 1023) == 0) {
		v >>= 10;
		u++;
	}
	snprintf(buf, len, "%" PRIu64 " %s", v, unit[u]);
	return buf;
}

int cli_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
	    uint64_t *out)
{
	const char *end;
	uint64_t v;
	int r;

	if (!s || !*s)
		return cli_error("%s: empty value (expected a number)", opt);
	r = leading_u64(s, &v, &end);
	if (r == -2)
		return cli_error("%s %s: too large (at most %" PRIu64 ")", opt,
				 s, max);
	if (r < 0 || *end)
		return cli_error("%s %s: not a number", opt, s);
	if (v < min || v > max)
		return cli_error("%s %s: out of range (%" PRIu64 "..%" PRIu64
				 ")", opt, s, min, max);
	*out = v;
	return 0;
}

int cli_uint(const char *opt, const char *s, unsigned min, unsigned max,
	     unsigned *out)
{
	uint64_t v;

	if (cli_u64(opt, s, min, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int cli_size(const char *opt, const char *s, uint64_t default_unit,
	     uint64_t min, uint64_t max, uint64_t *out)
{
	const char *end;
	char lo[32], hi[32];
	uint64_t v, mul = default_unit;
	int r;

	if (!s || !*s)
		return cli_error("%s: empty value (expected a size)", opt);
	r = leading_u64(s, &v, &end);
	if (r == -1)
		return cli_error("%s %s: not a size (e.g. 256M, 2G)", opt, s);
	if (r == -2)
		goto too_big;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; end++; break;
		case 'm': case 'M': mul = 1ull << 20; end++; break;
		case 'g': case 'G': mul = 1ull << 30; end++; break;
		case 't': case 'T': mul = 1ull << 40; end++; break;
		case 'b': case 'B': mul = 1; break;
		default:
			return cli_error("%s %s: not a size (units K, M, G, T)",
					 opt, s);
		}
		/* "B" after a number, "iB" or "B" after a unit */
		if ((mul != 1 && !strcmp(end, "iB")) || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return cli_error("%s %s: not a size (units K, M, G, T)",
					 opt, s);
	}
	if (mul && v > UINT64_MAX / mul)
		goto too_big;
	v *= mul;
	if (v < min || v > max) {
		if (v > max)
			goto too_big;
		return cli_error("%s %s: too small (at least %s)", opt, s,
				 cli_format_size(min, lo, sizeof(lo)));
	}
	*out = v;
	return 0;
too_big:
	return cli_error("%s %s: too large (at most %s)", opt, s,
			 cli_format_size(max, hi, sizeof(hi)));
}

int cli_duration_ms(const char *opt, const char *s, uint64_t min_ms,
		    uint64_t max_ms, uint64_t *out_ms)
{
	const char *p = s;
	uint64_t whole = 0, frac = 0, scale = 1000, mul;
	unsigned nfrac = 0;

	if (!s || !*s)
		return cli_error("%s: empty value (expected a duration)", opt);
	if (!isdigit((unsigned char)*p))
		goto bad;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (UINT64_MAX - 9) / 10)
			goto big;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			goto bad;
		for (; isdigit((unsigned char)*p); p++) {
			if (++nfrac > 3)
				return cli_error("%s %s: at most 3 decimal "
						 "places", opt, s);
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		for (unsigned i = nfrac; i < 3; i++)
			frac *= 10;
	}
	/* frac is in thousandths of the unit */
	if (!*p || !strcmp(p, "s"))
		mul = 1000;
	else if (!strcmp(p, "ms"))
		mul = 1;
	else if (!strcmp(p, "m") || !strcmp(p, "min"))
		mul = 60000;
	else if (!strcmp(p, "h"))
		mul = 3600000;
	else
		goto bad;
	if (whole > UINT64_MAX / mul)
		goto big;
	whole *= mul;
	frac = frac * mul / scale;
	if (whole > UINT64_MAX - frac)
		goto big;
	whole += frac;
	if (whole > max_ms)
		goto big;
	if (whole < min_ms)
		return cli_error("%s %s: too short (at least %" PRIu64 " ms)",
				 opt, s, min_ms);
	*out_ms = whole;
	return 0;
bad:
	return cli_error("%s %s: not a duration (e.g. 30, 1.5s, 500ms, 2m)",
			 opt, s);
big:
	return cli_error("%s %s: too long (at most %" PRIu64 " s)", opt, s,
			 max_ms / 1000);
}

int cli_choice(const char *opt, const char *s, const char *const *names,
	       int *out)
{
	char list[256];
	size_t n = 0;

	for (int i = 0; names[i]; i++) {
		if (s && !strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	list[0] = 0;
	for (int i = 0; names[i] && n + 2 < sizeof(list); i++) {
		int w = snprintf(list + n, sizeof(list) - n, "%s%s",
				 i ? ", " : "", names[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
	return cli_error("%s %s: unknown (one of: %s)", opt, s ? s : "", list);
}

int cli_port(const char *opt, const char *s, uint16_t *out)
{
	uint64_t v;

	if (cli_u64(opt, s, 1, 65535, &v) < 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}
