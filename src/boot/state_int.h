/* SPDX-License-Identifier: MIT */
/*
 * state_int.h - state helpers shared by state_init.c and setup.c.
 */
#ifndef LIBVMM_BOOT_STATE_INT_H
#define LIBVMM_BOOT_STATE_INT_H

#include <libvmm/state.h>

/*
 * boot_state_flat_segments() - CS = LAYOUT_SEL_CODE (code32, or code64 when
 * @long_mode), data segments = LAYOUT_SEL_DATA, hidden parts matching the
 * boot GDT; TR a busy TSS at 0, LDTR unusable.
 */
void boot_state_flat_segments(struct vmm_cpu_state *st, bool long_mode);

#endif
