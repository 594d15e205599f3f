// SPDX-License-Identifier: MIT
/*
 * detect.c - guessing an image's format, and the formats' names.
 */
#include "boot/boot_int.h"

#define BZ_MAGIC_OFF 0x202

/**
 * vmm_image_format_name() - a format's name.
 * @f: the format.
 *
 * Returns "flat", "elf", "multiboot", "bzimage", or "unknown" for
 * VMM_IMAGE_UNKNOWN and values out of range; never NULL.
 */
const char *vmm_image_format_name(enum vmm_image_format f)
{
	switch (f) {
	case VMM_IMAGE_FLAT:
		return "flat";
	case VMM_IMAGE_ELF:
		return "elf";
	case VMM_IMAGE_MULTIBOOT:
		return "multiboot";
	case VMM_IMAGE_BZIMAGE:
		return "bzimage";
	case VMM_IMAGE_UNKNOWN:
		break;
	}
	return "unknown";
}

/**
 * vmm_image_detect() - guess the format of an image.
 * @img: the image bytes.
 * @len: their number.
 *
 * Checks, in this order: bzImage ("HdrS" at 0x202), multiboot (a header with
 * a valid checksum in the first 8 KiB; checked before ELF because multiboot
 * kernels are often ELF files), ELF ("\x7fELF"), and otherwise flat.  Only
 * the magic numbers are checked; the loader validates the rest.  Returns
 * VMM_IMAGE_UNKNOWN for an empty or NULL image.
 */
enum vmm_image_format vmm_image_detect(const void *img, size_t len)
{
	const uint8_t *p = img;

	if (!img || len == 0)
		return VMM_IMAGE_UNKNOWN;
	if (len >= BZ_MAGIC_OFF + 4 && !memcmp(p + BZ_MAGIC_OFF, "HdrS", 4))
		return VMM_IMAGE_BZIMAGE;
	if (boot_multiboot_find(p, len) >= 0)
		return VMM_IMAGE_MULTIBOOT;
	if (len >= 4 && !memcmp(p, "\x7f" "ELF", 4))
		return VMM_IMAGE_ELF;
	return VMM_IMAGE_FLAT;
}
