/* SPDX-License-Identifier: MIT */
/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of snapshot sections and
 * migration frames.  vmm__crc32c(0, buf, len) is the standard CRC-32C
 * (initial value and final xor ~0); pass a previous result to continue.
 */
#ifndef LIBVMM_MIGRATE_CRC32C_H
#define LIBVMM_MIGRATE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t len);

#endif
