/* SPDX-License-Identifier: MIT */
/*
 * ptring.h - the passthrough ring: a protocol between the models guest and
 * a host thread, in a host memory region (memfd) that the VMM maps into the
 * guest with vmm_passthrough_attach().  Neither side traps: the guest
 * writes the shared memory and polls it, the host thread polls it and does
 * the I/O.  Shared by tests/guests/models/models.c (guest), the tests in
 * tests/models/ and bench/vmm-bench.c (host).  Both sides are x86-64, so
 * plain volatile accesses are ordered (TSO); the host side uses atomics.
 *
 * Layout (PTRING_SIZE bytes at the guest-physical base the guest is given
 * with "ring=" on its command line):
 *   0x00000  struct ptring_hdr
 *   0x01000  console bytes, a ring of PTRING_CON_SIZE
 *   0x11000  block data buffer, PTRING_BLK_SIZE (one request's worth)
 */
#ifndef TESTS_GUESTS_MODELS_PTRING_H
#define TESTS_GUESTS_MODELS_PTRING_H

#include <stdint.h>

#define PTRING_MAGIC 0x676e6972u /* "ring" */
#define PTRING_CON_OFF 0x1000u
#define PTRING_CON_SIZE 0x10000u /* power of two */
#define PTRING_BLK_OFF 0x11000u
#define PTRING_BLK_SIZE 0x10000u /* 128 sectors */
#define PTRING_SIZE 0x21000u
#define PTRING_MAP_SIZE 0x40000u /* page-rounded mapping, 256 KiB */

#define PTRING_CMD_READ 1
#define PTRING_CMD_WRITE 2
#define PTRING_ST_OK 0
#define PTRING_ST_ERR 1

struct ptring_hdr {
	uint32_t magic;        /* host writes PTRING_MAGIC when it serves */
	uint32_t stop;         /* host: the guest finished, stop serving */
	uint32_t con_head;     /* guest: console bytes produced (mod 2^32) */
	uint32_t con_tail;     /* host: console bytes consumed */
	uint32_t blk_seq;      /* guest: request number, bumped last */
	uint32_t blk_done;     /* host: = blk_seq when it is complete */
	uint32_t blk_cmd;      /* PTRING_CMD_* */
	uint32_t blk_count;    /* sectors, 1..PTRING_BLK_SIZE/512 */
	uint64_t blk_sector;
	uint32_t blk_status;   /* PTRING_ST_* */
	uint32_t pad;
};

#endif
