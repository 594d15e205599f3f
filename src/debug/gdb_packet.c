/* SPDX-License-Identifier: MIT */
/*
 * gdb_packet.c - gdb remote protocol framing: "$payload#cs" with a modulo
 * 256 checksum, '+'/'-' acknowledgements, Ctrl-C (0x03) between packets,
 * '}' escapes (byte ^ 0x20) for '$', '#', '}' and '*', and checked hex.
 * Nothing here trusts the peer: the receive buffer is bounded and every
 * digit is checked.
 */
#include "debug/gdb_impl.h"

#include <errno.h>
#include <string.h>

enum { RX_IDLE, RX_DATA, RX_SUM1, RX_SUM2 };

int gdb_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gdb_rx_byte(struct gdb_rx *rx, uint8_t b)
{
	int v;

	switch (rx->state) {
	case RX_IDLE:
		if (b == '$') {
			rx->state = RX_DATA;
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = false;
			return GDB_RX_NONE;
		}
		if (b == 0x03)
			return GDB_RX_INTR;
		if (b == '+')
			return GDB_RX_ACK;
		if (b == '-')
			return GDB_RX_NAK;
		return GDB_RX_NONE; /* noise between packets */
	case RX_DATA:
		if (b == '#') {
			rx->state = RX_SUM1;
			return GDB_RX_NONE;
		}
		if (b == '$') { /* a new packet restarts (lost '#') */
			rx->len = 0;
			rx->sum = 0;
			rx->overflow = false;
			return GDB_RX_NONE;
		}
		rx->sum = (uint8_t)(rx->sum + b);
		if (rx->len < rx->cap)
			rx->buf[rx->len++] = (char)b;
		else
			rx->overflow = true;
		return GDB_RX_NONE;
	case RX_SUM1:
		v = gdb_hexval(b);
		if (v < 0) {
			rx->state = RX_IDLE;
			return GDB_RX_BADSUM;
		}
		rx->want = (uint8_t)(v << 4);
		rx->state = RX_SUM2;
		return GDB_RX_NONE;
	default:
		rx->state = RX_IDLE;
		v = gdb_hexval(b);
		if (v < 0 || (uint8_t)(rx->want | v) != rx->sum)
			return GDB_RX_BADSUM;
		rx->buf[rx->len] = '\0';
		return rx->overflow ? GDB_RX_TOOLONG : GDB_RX_PACKET;
	}
}

int gdb_parse_hex(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0, d;

	while (s < end && (d = gdb_hexval((unsigned char)*s)) >= 0) {
		if (++n > 16)
			return -EINVAL;
		x = (x << 4) | (uint64_t)d;
		s++;
	}
	if (!n)
		return -EINVAL;
	*v = x;
	*p = s;
	return 0;
}

int gdb_unhex(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = gdb_hexval((unsigned char)s[2 * i]);
		int lo = hi < 0 ? -1 : gdb_hexval((unsigned char)s[2 * i + 1]);
		if (lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void gdb_tohex(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}

long gdb_unescape(char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '}') {
			if (++i == len)
				return -EINVAL;
			s[o++] = (char)(s[i] ^ 0x20);
		} else {
			s[o++] = s[i];
		}
	}
	return (long)o;
}

long gdb_frame(char *out, size_t cap, const char *payload, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t sum = 0;
	size_t o = 0;

	if (cap < 4)
		return -ENOSPC;
	out[o++] = '$';
	for (size_t i = 0; i < len; i++) {
		char c = payload[i];
		bool esc = c == '$' || c == '#' || c == '}' || c == '*';
		if (o + (esc ? 2 : 1) + 3 > cap)
			return -ENOSPC;
		if (esc) {
			out[o++] = '}';
			sum = (uint8_t)(sum + '}');
			c = (char)(c ^ 0x20);
		}
		out[o++] = c;
		sum = (uint8_t)(sum + (uint8_t)c);
	}
	out[o++] = '#';
	out[o++] = digits[sum >> 4];
	out[o++] = digits[sum & 15];
	return (long)o;
}
