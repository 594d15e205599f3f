/* SPDX-License-Identifier: MIT */
/*
 * libvmm/libvmm.h - the whole public API of libvmm.
 *
 * libvmm is an embeddable library for building virtual machine monitors:
 * one API over two backends (raw KVM and a software x86 emulator).
 * See README.md and docs/ for an overview; each header documents its calls.
 */
#ifndef LIBVMM_LIBVMM_H
#define LIBVMM_LIBVMM_H

#include <libvmm/common.h>
#include <libvmm/vm.h>
#include <libvmm/state.h>
#include <libvmm/vcpu.h>
#include <libvmm/memory.h>
#include <libvmm/bus.h>
#include <libvmm/devices.h>
#include <libvmm/boot.h>
#include <libvmm/notify.h>
#include <libvmm/virtio.h>
#include <libvmm/vhost_user.h>
#include <libvmm/hypercall.h>
#include <libvmm/seccomp.h>
#include <libvmm/models.h>
#include <libvmm/snapshot.h>
#include <libvmm/gdb.h>

#endif
