/* SPDX-License-Identifier: MIT */
/*
 * mcheck.h - the failure macros of the snapshot and migration test
 * programs (public API only): CHECK(cond, fmt, ...) and OK(vm, call),
 * which print where and why (with the VM's last error) and exit(1).
 */
#ifndef TESTS_MIGRATE_MCHECK_H
#define TESTS_MIGRATE_MCHECK_H

#include <libvmm/libvmm.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__,         \
				__LINE__, #cond);                              \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			exit(1);                                               \
		}                                                              \
	} while (0)

#define OK(vm, call)                                                           \
	do {                                                                   \
		int rc_ = (call);                                              \
		if (rc_ < 0) {                                                 \
			char m_[320] = "";                                     \
			if (vm)                                                \
				vmm_last_error(vm, m_, sizeof(m_));            \
			fprintf(stderr, "%s:%d: FAIL: %s = %d (%s): %s\n",     \
				__FILE__, __LINE__, #call, rc_,                \
				vmm_err_name(rc_), m_);                        \
			exit(1);                                               \
		}                                                              \
	} while (0)

#endif
